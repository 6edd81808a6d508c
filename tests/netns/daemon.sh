#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon itself, in the host namespace of the harness: systemd
# notifications, a workload created while it runs (enforced from its first
# packet), a workload that moves from a web to an app interface (its
# perimeter follows, an open connection included), live status counters,
# 2,000 interfaces during a forced rtnetlink overrun, a broken reload,
# tampering (refused while the table is owned, repaired when it is not),
# SIGKILL and restart under traffic, control-socket permissions and abuse,
# and logged drops. ZTSEG_BUILD=build-asan runs the sanitizer build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (notify listener, JSON)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"

zt_init
# ZT_KEEP_LOGS=DIR keeps the daemon's logs and notifications for a post-mortem.
if [[ -n ${ZT_KEEP_LOGS:-} ]]; then
	trap 'mkdir -p "$ZT_KEEP_LOGS"; cp "$ZT_TMP"/daemon.*.log "$ZT_TMP"/notify.log "$ZT_KEEP_LOGS"/ 2>/dev/null; zt_cleanup' EXIT
fi
zt_up
zt_serve

# Slow builds (sanitizers) get more time to start; the checks themselves do not.
start_timeout=${ZT_DAEMON_START_TIMEOUT:-30}

# The socket directory must be reachable by an unprivileged caller.
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
NOTIFY=$ZT_TMP/run/notify.sock
pol=$(zt_policy live)

# ---- helpers ---------------------------------------------------------------

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }

# js EXPR: a Python expression over the status document j, printed.
js() {
	ctl status --json | python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

# quiet COMMAND...: its status only.
quiet() { "$@" >/dev/null 2>&1; }
table_exists() { quiet zt_nft list table inet ztseg; }

# js_is VALUE EXPR: does the expression print VALUE?
js_is() { [ "$(js "$2")" = "$1" ]; }

# wait_until SECONDS COMMAND...: poll every 20 ms; status 1 on timeout.
wait_until() {
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.02
	done
}

# The systemd side: a datagram socket that records every notification.
zt_bg host "$ZT_TMP/notify.out" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
	while True:
		msg = s.recv(65536).decode(errors="replace")
		f.write(msg.replace("\n", "|") + "\n")
' "$NOTIFY" "$ZT_TMP/notify.log"
NPID=$ZT_BG_PID
wait_until 5 test -S "$NOTIFY" || zt_die "the notify listener did not start"

DPID= DLOG= DN=0
D_ARGS=(--config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" --socket-group nogroup
	--log-level info "${ZT_APPLY_ARGS[@]}")

ready_or_dead() { grep -q '^ztsegd: ready' "$DLOG" || ! kill -0 "$DPID" 2>/dev/null; }

# daemon_start [ARGS...]: ztsegd in the host namespace as systemd would run
# it (NOTIFY_SOCKET, a 1 s watchdog for its own pid); waits for "ready".
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" env NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=1000000 \
		bash -c 'export WATCHDOG_PID=$$; exec "$@"' _ "$ZT_D" "${D_ARGS[@]}" "$@"
	DPID=$ZT_BG_PID
	wait_until "$start_timeout" ready_or_dead || true
	grep -q '^ztsegd: ready' "$DLOG" || {
		sed 's/^/#   /' "$DLOG"
		zt_die "ztsegd did not get ready"
	}
}

# daemon_stop: SIGTERM; the exit status (sanitizer reports make it non-zero).
daemon_stop() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	DPID=
	return $rc
}

# probe NODE PROTO DST PORT [TIMEOUT-MS]: one zt-probe result word.
probe() {
	echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-1000}" | awk '{ print $2 }'
}

# A workload of our own: a namespace behind one veth named IF, with /32 and
# /128 addresses; the host's route to it is added last (it is what makes
# the workload reachable).
workload_add() { # NAME IF V4 V6
	local w h
	zt_node "$1" "$2" "$3" "$4" -
	zt_ns_add "$1"
	w=$(zt_ns "$1") h=$(zt_ns host)
	ip -n "$h" link add "$2" type veth peer name eth0 netns "$w"
	ip -n "$w" -batch - <<-EOF
		addr add $3/32 dev eth0
		addr add $4/128 dev eth0 nodad
		link set eth0 up
		route add $ZT_GW_V4/32 dev eth0
		route add default via $ZT_GW_V4 dev eth0
		route add $ZT_GW_V6/128 dev eth0
		route add default via $ZT_GW_V6 dev eth0
	EOF
	ip -n "$h" -batch - <<-EOF
		addr add $ZT_GW_V4/32 dev $2
		addr add $ZT_GW_V6/128 dev $2 nodad
		link set $2 up
	EOF
}

# ---- start: READY, STATUS, the watchdog --------------------------------------

t0=$(zt_now_ms)
daemon_start
echo "# ztsegd ready after $(($(zt_now_ms) - t0)) ms"
zt_check "notify: READY=1" grep -q 'READY=1' "$ZT_TMP/notify.log"
zt_check "notify: STATUS= with counts" grep -q 'STATUS=running: generation 1, 4 segments' "$ZT_TMP/notify.log"
wait_until 3 grep -q 'WATCHDOG=1' "$ZT_TMP/notify.log"
zt_check "notify: WATCHDOG=1 while the loop turns" grep -q 'WATCHDOG=1' "$ZT_TMP/notify.log"
zt_check "status: running" [ "$(js 'j["daemon"]["state"]')" = running ]
web_ifs='[s["interfaces"] for s in j["segments"] if s["name"] == "web"][0]'
zt_check "status: web's interfaces are the live vweb*" js_is "['vweb1', 'vweb2']" "$web_ifs"
zt_check "status: 198.51.100.2/32 routed to web via vweb1" \
	[ "$(js '[r["interface"] for s in j["segments"] if s["name"] == "web" for r in s["routed_addresses"] if r["address"] == "198.51.100.2/32"]')" = "['vweb1']" ]
zt_check "status: the socket is 0660" [ "$(stat -c %a "$SOCK")" = 660 ]
zt_check "state: last-known-good saved, mode 0600" [ "$(stat -c %a "$ZT_TMP/state/last-known-good")" = 600 ]

# ---- a new workload is enforced from its first packet ----------------------

workload_add web9 vweb9 198.51.100.9 2001:db8:0:1::9
zt_serve web9
h=$(zt_ns host)
for fam in 4 6; do
	if [[ $fam == 4 ]]; then ip -n "$h" route add 198.51.100.9/32 dev vweb9
	else ip -n "$h" -6 route add 2001:db8:0:1::9/128 dev vweb9; fi
	t_route=$(zt_now_ms)
	# Right away, at once: web to db denied, web-to-app allowed (timed to its end).
	echo "2 tcp - $(zt_addr db1 "$fam") 5432" | zt_x web9 "$ZT_PROBE" batch -w 1000 >"$ZT_TMP/new.$fam" &
	dpid=$!
	ok=$(probe web9 tcp "$(zt_addr app1 "$fam")" 8080)
	t_ok=$(($(zt_now_ms) - t_route))
	wait $dpid
	in=$(probe internet tcp "$(zt_addr web9 "$fam")" 80)
	zt_check "new workload IPv$fam: web9 -> app1 tcp/8080 passed within 100 ms of its route ($ok after $t_ok ms)" \
		[ "$ok" = ok -a "$t_ok" -lt 100 ]
	zt_check "new workload IPv$fam: web9 -> db1 tcp/5432 denied from the first packet" \
		grep -q '^2 timeout' "$ZT_TMP/new.$fam"
	zt_check "new workload IPv$fam: internet -> web9 tcp/80 (public-web) passes ($in)" [ "$in" = ok ]
done
wait_until 2 js_is "['vweb1', 'vweb2', 'vweb9']" "$web_ifs" || true
zt_check "status: vweb9 joined web" js_is "['vweb1', 'vweb2', 'vweb9']" "$web_ifs"
zt_check "log: vweb9 joined web" grep -q 'segment web: interface vweb9 joined' "$DLOG"

# A segment's address routed out through an interface of no segment escapes scope: members.
ip -n "$h" route add 198.51.100.40/32 dev other0
misrouted='any("route to 198.51.100.40/32 leaves through other0" in w for w in j["warnings"])'
wait_until 2 js_is True "$misrouted" || true
zt_check "status: warns about web's address routed out through other0" js_is True "$misrouted"
ip -n "$h" route del 198.51.100.40/32 dev other0

# ---- a workload moves from web to app --------------------------------------

# mv1 has 198.51.100.5 (web.front) on its loopback and two uplinks, eth0 to
# vweb8 and eth1 to vapp8; moving it switches the host's /32 route and its
# default route together.
zt_node mv1 vweb8 198.51.100.5 2001:db8:0:1::5 -
zt_ns_add mv1
w=$(zt_ns mv1)
ip -n "$h" link add vweb8 type veth peer name eth0 netns "$w"
ip -n "$h" link add vapp8 type veth peer name eth1 netns "$w"
ip -n "$w" -batch - <<-EOF
	addr add 198.51.100.5/32 dev lo
	link set eth0 up
	link set eth1 up
	route add default via $ZT_GW_V4 dev eth0 onlink src 198.51.100.5
EOF
ip -n "$h" -batch - <<-EOF
	addr add $ZT_GW_V4/32 dev vweb8
	addr add $ZT_GW_V4/32 dev vapp8
	link set vweb8 up
	link set vapp8 up
	route add 198.51.100.5/32 dev vweb8
EOF
zt_serve mv1
mv=198.51.100.5

zt_check "before the move: internet -> mv1 tcp/80 passes (public-web)" [ "$(probe internet tcp $mv 80)" = ok ]
zt_check "before the move: mv1 -> db1 tcp/5432 denied (web may not)" [ "$(probe mv1 tcp "$(zt_addr db1 4)" 5432 500)" = timeout ]
zt_check "before the move: web2 -> mv1 tcp/8080 denied (web to web.front)" [ "$(probe web2 tcp $mv 8080 500)" = timeout ]
flow_packets() { js "[f[\"packets\"] for f in j[\"flows\"] if f[\"name\"] == \"$1\"][0]"; }
pw0=$(flow_packets public-web)

# A connection open across the move.
zt_bg internet "$ZT_TMP/stream-mv" "$ZT_PROBE" stream -i 50 - $mv 80
spid=$ZT_BG_PID
sleep 0.6
pw1=$(flow_packets public-web)
zt_check "status: public-web's packet counter rises with traffic ($pw0 -> $pw1)" [ "$pw1" -gt "$pw0" ]

ip -n "$h" route replace $mv/32 dev vapp8
ip -n "$w" route replace default via $ZT_GW_V4 dev eth1 onlink src $mv
t_move=$(zt_now_ms)
sleep 1.2
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" || true
last=$(awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$ZT_TMP/stream-mv")
before=$(awk -v t="$t_move" '$1 == "echo" && $3 < t' "$ZT_TMP/stream-mv" | wc -l)
zt_check "move: the open connection echoed before ($before lines)" [ "$before" -ge 5 ]
zt_check "move: the open connection stopped within 1 s ($((last - t_move)) ms after)" [ "$last" -lt $((t_move + 1000)) ]
zt_check "after the move: internet -> mv1 tcp/80 denied (app is not public)" [ "$(probe internet tcp $mv 80 500)" = timeout ]
zt_check "after the move: mv1 -> db1 tcp/5432 passes (app-to-db)" [ "$(probe mv1 tcp "$(zt_addr db1 4)" 5432)" = ok ]
zt_check "after the move: web2 -> mv1 tcp/8080 passes (web-to-app)" [ "$(probe web2 tcp $mv 8080)" = ok ]
routed_in() { js "\"$mv/32\" in [r[\"address\"] for s in j[\"segments\"] if s[\"name\"] == \"$1\" for r in s[\"routed_addresses\"]]"; }
zt_check "status: $mv/32 routed to app now" [ "$(routed_in app)" = True ]
zt_check "status: $mv/32 no longer routed to web" [ "$(routed_in web)" = False ]
zt_check "log: connections of the moved address forgotten" grep -qE 'connections? of 1 moved prefix forgotten' "$DLOG"
# Events update the membership by what they change; a reload (the same
# policy) computes it in full: it must find nothing the updates missed.
n0=$(wc -l <"$DLOG")
lkg_ino=$(stat -c %i "$ZT_TMP/state/last-known-good")
zt_check "reload after the events: ztsegctl reload exits 0" quiet ctl reload
zt_check "reload of the same files: the last-known-good is not written again" \
	[ "$(stat -c %i "$ZT_TMP/state/last-known-good")" = "$lkg_ino" ]
zt_check "reload after the events: reloaded" grep -q 'reloaded: generation' <(tail -n +"$((n0 + 1))" "$DLOG")
zt_check "reload after the events: the full membership equals the updated one" \
	[ -z "$(tail -n +"$((n0 + 1))" "$DLOG" | grep -E 'interface [^ ]+ (joined|left)$|routed to it$')" ]

# ---- logged drops and spoofs -------------------------------------------------

probe internet tcp "$(zt_addr db1 4)" 5432 300 >/dev/null
echo "1 spoof $(zt_addr app1 4) $(zt_addr db1 4) 53" | zt_x web1 "$ZT_PROBE" batch -c 2 >/dev/null
wait_until 3 grep -q '^ztsegd: spoof udp 198.51.100.130' "$DLOG" || true
zt_check "log: the drop with zones and policy line" \
	grep -qE '^ztsegd: deny tcp 192\.0\.2\.10:[0-9]+ -> 198\.51\.100\.66:5432 in uplink0 out vdb1: internet -> db\.primary, default verdict drop \(hub\.default, ztseg\.yaml:[0-9]+\)' "$DLOG"
zt_check "log: the spoofed packet with its zone and policy line" \
	grep -qE '^ztsegd: spoof udp 198\.51\.100\.130:[0-9]+ -> 198\.51\.100\.66:53 in vweb1: .*\(.*yaml:[0-9]+\)' "$DLOG"
zt_check "status: drops and spoofs counted" \
	[ "$(js 'j["drops"]["reasons"][0]["packets"] > 0 and j["events"]["spoofed"] > 0')" = True ]

# ---- explain --live ---------------------------------------------------------

out=$(ctl explain --live "$mv" "$(zt_addr db1 4)" tcp/5432) && rc=0 || rc=$?
n=$(grep -c "^from: app (routed via vapp8)" <<<"$out" || true)
zt_check "explain --live: the moved workload is app by its route (exit $rc, $(sed -n 2p <<<"$out"))" \
	[ $rc -eq 0 -a "$n" -eq 1 ]

# ---- 2,000 interfaces during an overrun ---------------------------------------

daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM (see $DLOG)"
daemon_start --rcvbuf 4096
kill -STOP "$DPID"
# dummy links where the kernel has them, veth pairs (the peer not a member) otherwise.
kind="type dummy"
ip -n "$h" link add vci999 type dummy 2>/dev/null && ip -n "$h" link del vci999 || kind="type veth peer name xci\$i"
for ((i = 1000; i < 3000; i++)); do eval "echo link add vci$i $kind"; done | ip -n "$h" -batch -
sleep 3
kill -CONT "$DPID"
ci_count='[len(s["interfaces"]) for s in j["segments"] if s["name"] == "ci"][0]'
t0=$(zt_now_ms)
wait_until 20 js_is 2002 "$ci_count" || true
zt_check "overrun: ci's membership converged to 2,002 interfaces ($(js "$ci_count") after $(($(zt_now_ms) - t0)) ms)" \
	js_is 2002 "$ci_count"
zt_check "overrun: status counts the overrun and the resync" \
	[ "$(js 'j["events"]["rtnetlink_overruns"] >= 1 and j["events"]["resyncs"] >= 1')" = True ]
for ((i = 1000; i < 3000; i++)); do echo "link del vci$i"; done | ip -n "$h" -batch -

# ---- a broken reload changes nothing ------------------------------------------

daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM (see $DLOG)"
daemon_start
gen=$(js 'j["policy"]["generation"]')
cp "$pol/ztseg.yaml" "$ZT_TMP/ztseg.yaml.good"
sed -i 's/^  rpf: strict/  rpf: strikt/' "$pol/ztseg.yaml"
zt_nft list table inet ztseg >"$ZT_TMP/before.nft"
err=$(ctl reload 2>&1) && rc=0 || rc=$?
zt_nft list table inet ztseg >"$ZT_TMP/after.nft"
zt_check "broken reload: ztsegctl reload exits 1 ($rc)" [ $rc -eq 1 ]
zt_check "broken reload: the error names file:line:col ($(head -1 <<<"$err"))" \
	grep -qE "^$pol/ztseg\.yaml:[0-9]+:[0-9]+: " <<<"$err"
zt_check "broken reload: rules and counters unchanged" cmp -s "$ZT_TMP/before.nft" "$ZT_TMP/after.nft"
zt_check "broken reload: generation $gen stays, last error set" \
	[ "$(js 'str(j["policy"]["generation"]) + " " + str(j["policy"]["last_error"] is not None)')" = "$gen True" ]
zt_check "notify: RELOADING=1 with MONOTONIC_USEC" grep -q 'RELOADING=1|MONOTONIC_USEC=' "$ZT_TMP/notify.log"
kill -HUP "$DPID"
wait_until 3 grep -q 'reload requested by SIGHUP' "$DLOG" || true
sleep 0.3
zt_check "SIGHUP with the broken policy: refused and logged" grep -q 'reload refused' "$DLOG"
cp "$ZT_TMP/ztseg.yaml.good" "$pol/ztseg.yaml"
zt_check "good reload: ztsegctl reload exits 0" quiet ctl reload

# ---- last-known-good: a broken policy at start --------------------------------

daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM (see $DLOG)"
sed -i 's/^  rpf: strict/  rpf: strikt/' "$pol/ztseg.yaml"
daemon_start
zt_check "broken policy at start: degraded, running the last-known-good one" \
	[ "$(js 'j["daemon"]["state"] + " " + str(len(j["policy"]["errors"]) > 0)')" = "degraded True" ]
zt_check "degraded: the last-known-good rules enforce (app1 -> db1 tcp/5432)" \
	[ "$(probe app1 tcp "$(zt_addr db1 4)" 5432)" = ok ]
zt_check "notify: STATUS= says degraded" grep -q 'STATUS=degraded' "$ZT_TMP/notify.log"
cp "$ZT_TMP/ztseg.yaml.good" "$pol/ztseg.yaml"
ctl reload >/dev/null
zt_check "after a good reload: running again" [ "$(js 'j["daemon"]["state"]')" = running ]

# ---- tampering -----------------------------------------------------------------

zt_check "owned table: nft delete table is refused" ! quiet zt_nft delete table inet ztseg
zt_check "owned table: nft add rule is refused" ! quiet zt_nft add rule inet ztseg forward accept
zt_nft flush ruleset 2>/dev/null || true
zt_check "owned table: nft flush ruleset leaves it" table_exists

# As on a kernel without persist (before 6.9): nobody owns the table, the
# daemon repairs what others do to it.
daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM (see $DLOG)"
daemon_start --no-owner
log_count() { grep -c "$1" "$DLOG" || true; }
more_than() { [ "$(log_count "$1")" -gt "$2" ]; }
tamper() { # WHAT COMMAND...
	local what=$1 n r t
	shift
	n=$(log_count 'tampering: table inet ztseg .* by nft\[[0-9]*\]')
	r=$(log_count 'restored table')
	"$@" >/dev/null 2>&1 || true
	t=$(zt_now_ms)
	wait_until 1 more_than 'restored table' "$r" || true
	t=$(($(zt_now_ms) - t))
	zt_check "unowned table: $what is logged as tampering with the process" \
		more_than 'tampering: table inet ztseg .* by nft\[[0-9]*\]' "$n"
	zt_check "unowned table: $what repaired within a second ($t ms)" more_than 'restored table' "$r"
}
# grep reads all of nft's output (-q would stop at the match, and under pipefail nft's
# SIGPIPE would then make a present rule look absent)
foreign_rule() { zt_nft list chain inet ztseg forward | grep -x $'\t\taccept' >/dev/null; }
tamper "nft delete table" zt_nft delete table inet ztseg
tamper "nft add rule" zt_nft add rule inet ztseg forward accept
zt_check "unowned table: the foreign rule is gone" ! foreign_rule
tamper "nft flush ruleset" zt_nft flush ruleset
zt_check "status: tamper and repairs counted" \
	[ "$(js 'j["events"]["tamper"] >= 3 and j["events"]["repairs"] >= 3')" = True ]
zt_check "after the repairs: app1 -> db1 tcp/5432 passes, web9 -> db1 denied" \
	[ "$(probe app1 tcp "$(zt_addr db1 4)" 5432)/$(probe web9 tcp "$(zt_addr db1 4)" 5432 300)" = ok/timeout ]

# ---- SIGKILL: the rules stay, a restart adopts them without a gap -----------

daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM (see $DLOG)"
daemon_start
zt_bg app1 "$ZT_TMP/stream-kill" "$ZT_PROBE" stream -i 20 - "$(zt_addr db1 4)" 5432
spid=$ZT_BG_PID
sleep 0.5
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
zt_check "SIGKILL: the table stays" table_exists
zt_check "SIGKILL: the rules still deny (web9 -> db1 tcp/5432)" [ "$(probe web9 tcp "$(zt_addr db1 4)" 5432 300)" = timeout ]
daemon_start
sleep 0.5
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" || true
gap=$(sed -nE 's/.*maxgap ([0-9]+).*/\1/p' "$ZT_TMP/stream-kill" | tail -1)
zt_check "restart: the table adopted, not replaced" grep -q 'adopted, changed' "$DLOG"
bad=$(grep -cE '^(reset|closed|error)' "$ZT_TMP/stream-kill" || true)
zt_check "restart: the stream ran through the kill and the restart (longest gap ${gap:-?} ms)" \
	[ "${gap:-99999}" -lt 200 -a "$bad" -eq 0 ]

# ---- who may do what on the control socket ---------------------------------------

nobody=(setpriv --reuid nobody --regid nogroup --clear-groups)
zt_check "nobody (group nogroup) reads status" quiet "${nobody[@]}" "$ZT_CTL" --socket "$SOCK" status
out=$("${nobody[@]}" "$ZT_CTL" --socket "$SOCK" reload 2>&1) && rc=0 || rc=$?
n=$(grep -c 'permission denied' <<<"$out" || true)
zt_check "nobody may not reload (exit $rc: $out)" [ $rc -eq 1 -a "$n" -ge 1 ]

# ---- abuse: a 10 MiB request, random bytes, 100 clients at once -----------------

python3 - "$SOCK" >"$ZT_TMP/abuse.out" 2>&1 <<-'EOF' || zt_not_ok "abuse client failed: $(cat "$ZT_TMP/abuse.out")"
	import os, socket, struct, sys, time
	path = sys.argv[1]
	def conn():
	    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	    s.settimeout(10)
	    s.connect(path)
	    return s
	def reply(s):
	    data = b""
	    try:
	        while True:
	            b = s.recv(65536)
	            if not b:
	                break
	            data += b
	    except (ConnectionResetError, socket.timeout):
	        pass
	    return data
	# 10 MiB: the header announces it, the body follows as far as the daemon lets it.
	s = conn()
	s.sendall(struct.pack(">I", 10 << 20))
	try:
	    s.sendall(os.urandom(1 << 20) * 10)
	except (BrokenPipeError, ConnectionResetError):
	    pass
	print("big:", reply(s)[4:200].decode(errors="replace"))
	# Random bytes.
	s = conn()
	try:
	    s.sendall(os.urandom(65536))
	except (BrokenPipeError, ConnectionResetError):
	    pass
	print("random:", reply(s)[4:200].decode(errors="replace"))
	# 100 clients connected at once, sending nothing.
	idle = []
	for i in range(100):
	    idle.append(conn())
	time.sleep(0.5)
	for s in idle:
	    s.close()
	print("idle: done")
	EOF
zt_check "abuse: the 10 MiB request refused on its header" grep -q '^big: .*request too large' "$ZT_TMP/abuse.out"
zt_check "abuse: random bytes answered or dropped" grep -q '^random:' "$ZT_TMP/abuse.out"
pids=()
t0=$(zt_now_ms)
for ((i = 0; i < 100; i++)); do
	ctl status --json >"$ZT_TMP/many.$i" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
echo "# 100 concurrent status calls in $(($(zt_now_ms) - t0)) ms, $fails refused"
answered=$(grep -l '"daemon"' "$ZT_TMP"/many.* | wc -l || true)
refused=$(grep -l 'too many clients' "$ZT_TMP"/many.* | wc -l || true)
zt_check "abuse: 100 concurrent status calls: $answered answered, $refused refused as too many, $fails failed" \
	[ $((answered + refused)) -eq 100 -a "$refused" -eq "$fails" ]
zt_check "abuse: the daemon still answers and enforces" \
	[ "$(js 'j["daemon"]["state"]')/$(probe app1 tcp "$(zt_addr db1 4)" 5432)" = running/ok ]

daemon_stop && rc=0 || rc=$?
zt_check "SIGTERM: clean exit (status $rc)" [ $rc -eq 0 ]
zt_check "SIGTERM: the table stays (fail closed)" table_exists
zt_check "notify: STOPPING=1" grep -q 'STOPPING=1' "$ZT_TMP/notify.log"
zt_check "no sanitizer reports" ! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ZT_TMP"/daemon.*.log

kill -TERM "$NPID" 2>/dev/null || true
wait "$NPID" 2>/dev/null || true
zt_finish
