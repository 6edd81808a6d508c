#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Observe mode and ztsegctl suggest with real TCP, UDP and ICMP, IPv4 and
# IPv6, the daemon in the harness's host namespace. web and app observe,
# db enforces: what the policy would deny between web, app, onprem and
# world passes as would-deny (status, the log and explain say so, with the
# deciding lines); anything with db is denied; spoofed packets still drop;
# a port scan passes but yields no suggestion; suggest's flows, appended to
# the policy in enforce mode, pass check and let the same probes through;
# switching to enforce denies the probes and stops an open would-deny
# connection within 1 s.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"

zt_init
zt_up
ZT_EXTRA_TCP=(25 3306 8443 9000 9001 9002)
zt_serve web1 web2 app1 db1 onprem other

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
POL=$ZT_TMP/pol

# policy MODE: web and app in MODE (observe, or enforce: no mode line), db enforcing, a jit template.
# hub.flows comes last, so that flows appended to the file extend it.
policy() {
	local m=
	[[ $1 == observe ]] && m="mode: observe, "
	mkdir -p "$POL"
	cat >"$POL/ztseg.yaml" <<-EOF
	version: 1
	segments:
	  web: { ${m}interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
	  app: { ${m}interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }
	  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/26, "2001:db8:0:3::/64"] }
	jit:    # a template (no grant): the compiled form that classifies the pair again
	  - { name: t, from: onprem, to: [web, db], ports: [tcp/22], max: 1h }
	hub:
	  default: drop
	  boundaries:
	    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
	    internet: { interfaces: ["uplink0"], addresses: [0.0.0.0/0, "::/0"] }
	  flows:
	    - { name: web-app, from: web, to: app, ports: [tcp/8080] }
	EOF
	chmod 0755 "$POL"
	chmod 0644 "$POL/ztseg.yaml"
}
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
DLOG=$ZT_TMP/daemon.log
policy observe
"$ZT_CTL" check --config "$POL" >/dev/null 2>&1 || zt_die "the observe policy is invalid"
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level info \
	"${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }

# What the policy denies between web, app, onprem and world (the would-deny probes).
cat >"$ZT_TMP/wd" <<EOF
1 web1 app1 4 tcp 9100
2 web1 app1 6 tcp 9100
3 web1 app1 4 tcp 9000
4 web1 app1 4 tcp 9001
5 web1 app1 6 tcp 9002
6 app1 web2 4 udp 5353
7 app1 web2 6 udp 5353
8 onprem web1 4 tcp 443
9 onprem web1 6 tcp 443
10 web1 app1 4 icmp 0
11 web1 app1 6 icmp 0
12 other web1 4 tcp 80
13 other web1 6 tcp 80
EOF
# Any of db: it enforces.
cat >"$ZT_TMP/db" <<EOF
20 web1 db1 4 tcp 5432
21 web1 db1 6 tcp 5432
22 db1 web1 4 tcp 80
23 app1 db1 6 udp 53
24 onprem db1 4 tcp 5432
25 db1 app1 4 icmp 0
EOF
echo "30 web1 app1 4 tcp 8080" >"$ZT_TMP/flow"

# results CASES OUT: probe, then "ID RESULT" per line.
results() { zt_probe_cases "$1" "$2" 1500; }
expect() { # FILE RESULT LABEL: every probe of FILE had RESULT
	local id res ms
	while read -r id res ms; do
		zt_check "$3: probe $id ($(awk -v id="$id" '$1 == id { print $2 "->" $3 " v" $4 " " $5 "/" $6 }' \
			"$ZT_TMP/wd" "$ZT_TMP/db" "$ZT_TMP/flow")) $res" [ "$res" = "$2" ]
	done <"$1"
}

# ---- observe: would-deny passes, a pair with db is denied --------------------------
results "$ZT_TMP/wd" "$ZT_TMP/r-wd"
expect "$ZT_TMP/r-wd" ok "observe passes what enforce would deny"
results "$ZT_TMP/db" "$ZT_TMP/r-db"
expect "$ZT_TMP/r-db" timeout "an observe-enforce pair is denied"
results "$ZT_TMP/flow" "$ZT_TMP/r-flow"
expect "$ZT_TMP/r-flow" ok "a flow allows as before"

# A port scan from web2 to app1: closed ports, nothing completes.
: >"$ZT_TMP/scan"
for p in $(seq 20000 20039); do echo "$((p - 19000)) web2 app1 4 tcp $p" >>"$ZT_TMP/scan"; done
for p in $(seq 20000 20009); do echo "$((p - 18000)) web2 app1 6 udp $p" >>"$ZT_TMP/scan"; done
results "$ZT_TMP/scan" "$ZT_TMP/r-scan"
zt_check "the TCP scan reaches app1 in observe mode (its resets come back)" \
	[ "$(awk '$1 < 2000 && $2 == "refused"' "$ZT_TMP/r-scan" | wc -l)" -eq 40 ]

# ---- status, the log, explain: would-deny with the deciding lines -------------------
DLINE=$(grep -n 'default: drop' "$POL/ztseg.yaml" | cut -d: -f1)
MLINE=$(grep -n '^  web:' "$POL/ztseg.yaml" | cut -d: -f1)
ctl status --json >"$ZT_TMP/status.json"
pair() { # FROM TO: "packets policy mode" of the pair in status
	js "' '.join(str(p[k]) for p in j['observe']['would_deny'] if p['from'] == '$1' and p['to'] == '$2' for k in ('packets', 'policy', 'mode'))" \
		<"$ZT_TMP/status.json"
}
for pr in "web app" "app web" "onprem web" "world web"; do
	read -r pk pol mode <<<"$(pair $pr)" || true
	zt_check "status: ${pr/ / -> } counted as would-deny (${pk:-0} packets)" [ "${pk:-0}" -gt 0 ]
	zt_check "status: ${pr/ / -> } names hub.default ztseg.yaml:$DLINE ($pol)" [ "$pol" = "ztseg.yaml:$DLINE" ]
done
read -r pk pol mode <<<"$(pair web app)" || true
zt_check "status: web -> app names web's mode line ztseg.yaml:$MLINE ($mode)" [ "$mode" = "ztseg.yaml:$MLINE" ]
zt_check "status: no would-deny pair with db" [ -z "$(pair web db)$(pair db web)$(pair app db)" ]
zt_check "status --json: web observes, db enforces" [ "$(js "' '.join(s['name'] + '=' + s['mode'] for s in j['segments'])" \
	<"$ZT_TMP/status.json")" = "web=observe app=observe db=enforce" ]
ctl status >"$ZT_TMP/status.txt"
zt_check "status: the text shows the would-deny table" grep -qE '^web +app +[0-9]+ +[0-9]+ +ztseg.yaml:'"$DLINE"' ' "$ZT_TMP/status.txt"
zt_check "status: the text lists the observing segments" grep -q 'segments observing: web app' "$ZT_TMP/status.txt"
wdlog() { grep -E "would-deny $1 .*: web -> app, default verdict drop \\(hub.default, ztseg.yaml:$DLINE\\); passed: observe mode \\(ztseg.yaml:$MLINE\\)" "$DLOG" >/dev/null; }
zt_check "log: a would-deny tcp line with the deciding lines" zt_wait_for 3000 wdlog tcp
zt_check "log: a would-deny icmp line" wdlog icmp
zt_check "log: no would-deny line involves db" ! grep -qE 'would-deny.*(-> db|db ->)' "$DLOG"
out=$("$ZT_CTL" explain --config "$POL" "$(zt_endpoint web1 4)" "$(zt_endpoint app1 4)" tcp/9100) && rc=0 || rc=$?
zt_check "explain: would-deny, exit 0 (it passes)" [ "$(head -1 <<<"$out") $rc" = "would-deny 0" ]
zt_check "explain: the mode line names both segments" grep -q "^mode: observe: would deny, passes (segment 'web' observes ztseg.yaml:$MLINE:" <<<"$out"
out=$("$ZT_CTL" explain --config "$POL" "$(zt_endpoint web1 6)" "$(zt_endpoint db1 6)" tcp/5432) && rc=0 || rc=$?
zt_check "explain: web -> db is deny (db enforces), exit 1" [ "$(head -1 <<<"$out") $rc" = "deny 1" ]
zt_check "explain: and says db enforces" grep -q "segment 'db' enforces" <<<"$out"
out=$(ctl explain --live "${ZT_V6[web1]}" "iface:vapp1,${ZT_V6[app1]}" tcp/9100) && rc=0 || rc=$?
zt_check "explain --live: would-deny, exit 0" [ "$(head -1 <<<"$out") $rc" = "would-deny 0" ]

# ---- anti-spoofing stays: a boundary's address from a web interface ------------------
received() { awk -v src="$2" '$1 == "udp" && $2 == src' "$ZT_TMP/recv-$1" | wc -l; }
for sp in "4 203.0.113.50" "6 2001:db8:ffff::50" "4 198.51.100.140"; do
	read -r fam src <<<"$sp"
	before=$(zt_counter spoofs)
	res=$(echo "1 spoof $src $(zt_addr app1 "$fam") 5353" | zt_x web1 "$ZT_PROBE" batch -c 5)
	[[ $res == "1 sent "* ]] || zt_die "web1 could not send from $src: $res"
	sleep 0.3
	zt_check "spoofed $src from web1 to app1 (both observe): not received" [ "$(received app1 "$src")" -eq 0 ]
	zt_check "spoofed $src: spoofs counter +5" [ $(($(zt_counter spoofs) - before)) -ge 5 ]
done

# ---- suggest ------------------------------------------------------------------------
sleep 2.5	# one scan of conntrack at least
ctl suggest >"$ZT_TMP/suggest.yaml" || zt_die "suggest failed"
sed 's/^/#   /' "$ZT_TMP/suggest.yaml"
flows() { grep -E '^ *- \{' "$ZT_TMP/suggest.yaml"; }
zt_check "suggest: web -> app with the range collapsed and icmp, icmpv6" \
	grep -qxF '    - { from: web, to: app, ports: [tcp/9000-9002, tcp/9100, icmp/8, icmpv6/128] }' "$ZT_TMP/suggest.yaml"
zt_check "suggest: app -> web udp/5353" grep -qxF '    - { from: app, to: web, ports: [udp/5353] }' "$ZT_TMP/suggest.yaml"
zt_check "suggest: onprem -> web tcp/443" grep -qxF '    - { from: onprem, to: web, ports: [tcp/443] }' "$ZT_TMP/suggest.yaml"
zt_check "suggest: counts as comments" grep -qE '^    # web -> app: [0-9]+ connections \(tcp/9000-9002: 3, tcp/9100: 2, icmp/8: 1, icmpv6/128: 1\)' "$ZT_TMP/suggest.yaml"
zt_check "suggest: no flow from world, only the sources seen" ! grep -qE '^ *- \{ from: world' "$ZT_TMP/suggest.yaml"
zt_check "suggest: world's sources as exact addresses" grep -q '192.0.2.70/32", "2001:db8:e1::70/128"' "$ZT_TMP/suggest.yaml"
zt_check "suggest: the port scan yields no suggestion" ! grep -qE '200[0-9][0-9]' "$ZT_TMP/suggest.yaml"
zt_check "suggest: exactly three flows" [ "$(flows | wc -l)" -eq 3 ]
ctl suggest --segment app >"$ZT_TMP/suggest-app.yaml"
zt_check "suggest --segment app leaves out onprem -> web" ! grep -q 'from: onprem' "$ZT_TMP/suggest-app.yaml"
zt_check "suggest --segment app keeps app's pairs" [ "$(grep -cE '^ *- \{' "$ZT_TMP/suggest-app.yaml")" -eq 2 ]
zt_check "suggest --since 1h keeps them" [ "$(ctl suggest --since 1h | grep -cE '^ *- \{')" -eq 3 ]
zt_check "suggest: an unknown segment is refused" ! ctl suggest --segment nosuch
cp "$POL/ztseg.yaml" "$ZT_TMP/observe.yaml"
zt_check "suggest wrote no policy" cmp -s "$POL/ztseg.yaml" "$ZT_TMP/observe.yaml"

# ---- switch to enforce: an open would-deny connection stops within 1 s -------------
zt_bg web1 "$ZT_TMP/stream" "$ZT_PROBE" stream -i 50 - "${ZT_V4[app1]}" 9100
SPID=$ZT_BG_PID
zt_wait_for 3000 grep -q '^echo' "$ZT_TMP/stream" || zt_die "the would-deny stream did not start"
policy enforce
ctl reload >/dev/null || zt_die "reload to enforce failed"
t0=$(zt_now_ms)
sleep 1.5
kill -TERM "$SPID" 2>/dev/null || true
wait "$SPID" 2>/dev/null || true
last=$(awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$ZT_TMP/stream")
zt_check "enforce: the open would-deny stream stopped within 1 s of the reload ($((last - t0)) ms)" \
	[ "$last" -le $((t0 + 1000)) ]
results "$ZT_TMP/wd" "$ZT_TMP/r-wd2"
expect "$ZT_TMP/r-wd2" timeout "enforce denies the same probes"
ctl status --json >"$ZT_TMP/status2.json"
zt_check "enforce: status shows no observing" [ "$(js "j['observe']['observing']" <"$ZT_TMP/status2.json")" = False ]

# ---- the suggested flows, appended: check passes, the same probes pass in enforce ------
cat "$ZT_TMP/suggest.yaml" >>"$POL/ztseg.yaml"
zt_check "check passes with the suggested flows appended" "$ZT_CTL" check --config "$POL"
ctl reload >/dev/null || zt_die "reload with the suggested flows failed"
results "$ZT_TMP/wd" "$ZT_TMP/r-wd3"
grep -vE '^1[23] ' "$ZT_TMP/r-wd3" >"$ZT_TMP/r-wd3-seg"
expect "$ZT_TMP/r-wd3-seg" ok "enforce with the suggested flows allows the probe"
grep -E '^1[23] ' "$ZT_TMP/r-wd3" >"$ZT_TMP/r-wd3-world"
expect "$ZT_TMP/r-wd3-world" timeout "world (no flow suggested) stays denied"
results "$ZT_TMP/db" "$ZT_TMP/r-db3"
expect "$ZT_TMP/r-db3" timeout "db stays denied"
results "$ZT_TMP/scan" "$ZT_TMP/r-scan3"
zt_check "the scanned ports stay denied" [ "$(awk '$2 != "timeout"' "$ZT_TMP/r-scan3" | wc -l)" -eq 0 ]

# The kernel adds the would-deny set's elements itself: that is no tampering.
ctl status --json >"$ZT_TMP/status3.json"
zt_check "no tampering seen (the packets fill wd_ themselves)" \
	[ "$(js "j['events']['tamper']" <"$ZT_TMP/status3.json") $(grep -cE 'tampering|restoring it' "$DLOG" || true)" = "0 0" ]

kill -TERM "$DPID"
wait "$DPID" || true
# With ZTSEG_BUILD=build-asan the daemon's leaks and UB land in its log.
zt_check "the daemon stopped clean (no sanitizer report)" ! grep -qE 'Sanitizer|runtime error' "$DLOG"
zt_finish
