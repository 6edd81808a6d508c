#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Flood limits with real traffic, v4 and v6 (threats.flood, threats.except):
# a source over per-source is banned within one burst and dropped while
# banned; the ban expires on time; except prefixes are never limited or
# banned; connections: caps concurrent connections; two addresses of one
# /64 share a limit; a world source is limited, not banned; a full meter
# and a full ban set drop and count instead of passing; a spoofed flood
# from many sources keeps the sets bounded and the daemon answering;
# ztsegctl bans / unban, the journal records, status counters; a reload
# that keeps the limit keeps its bans, one that removes it removes them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"
getent group nogroup >/dev/null || zt_skip "no group nogroup for the unprivileged unban"

zt_init
zt_up
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
WEB=${ZT_V4[web1]} WEB6=${ZT_V6[web1]} DB=${ZT_V4[db1]} DB6=${ZT_V6[db1]}
ON=${ZT_V4[onprem]} ON6=${ZT_V6[onprem]}
# A second address of onprem's /64 (shares its IPv6 limit) and more sources.
ON6B=2001:db8:ffff::11 ON2=203.0.113.11 ON3=203.0.113.12 ON4=203.0.113.13
for a in "$ON2/24" "$ON3/24" "$ON4/24"; do zt_x onprem ip addr add "$a" dev eth0; done
zt_x onprem ip addr add "$ON6B/64" dev eth0 nodad
INET=${ZT_V4[internet]} INET6=${ZT_V6[internet]} OTHER=${ZT_V4[other]} OTHER6=${ZT_V6[other]}

# policy DIR [BAN [MAX-SOURCES [MAX-BANS]]]: web limited per source (and banned), db by connections.
policy() {
	zt_policy_write "$1" <<-EOF
	version: 1
	hub:
	  default: drop
	  boundaries:
	    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
	    internet: { interfaces: ["uplink0"], addresses: [192.0.2.0/26, "2001:db8:ee::/64"] }
	  flows:
	    - { from: [onprem, internet, world], to: [web, db], ports: [tcp/80, tcp/5432] }
	threats:
	  except: [192.0.2.8/29, "2001:db8:ee::/64"]
	  flood:
	    - { to: web, per-source: 5/second, burst: 10, ban: ${2:-8s}, max-sources: ${3:-1000}, max-bans: ${4:-1000} }
	    - { to: db, connections: 3, ban: 30s }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/27, "2001:db8:0:1::/64"] }
	  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
	EOF
	"$ZT_CTL" check --config "$1" >/dev/null || zt_die "policy $1 is invalid"
}
POL=$ZT_TMP/pol
policy "$POL"
zt_serve web1 db1

# burst NODE SRC DST N: N TCP connections to port 80 at once; prints how many got through.
burst() {
	local i
	for ((i = 0; i < $4; i++)); do echo "$i tcp $2 $3 80"; done |
		zt_x "$1" "$ZT_PROBE" batch -w 800 | awk '$2 == "ok" { n++ } END { print n + 0 }'
}
probe() { # NODE SRC DST PORT
	echo "1 tcp $2 $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 700 | awk '{ print $2 }'
}
allowed() { [[ $(probe "$@") == ok ]]; }
banned_in() { # SET ADDR: the address is an element of the ban set (no grep -q on a pipe: SIGPIPE)
	local out
	out=$(zt_nft list map inet ztseg "$1" 2>/dev/null) || return 1
	grep -q "$2 " <<<"$out"
}
# ban_set 4|6 ZONE: the ban set of the limit to ZONE, as the policy compiles.
ban_set() {
	"$ZT_CTL" show --config "$POL" | sed -nE "s/.*add @(ban$1_[0-9a-f]+) .*threats.flood to $2 .*/\\1/p" | sort -u
}

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
ctl_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
nelems() { zt_nft list set inet ztseg "$1" 2>/dev/null | grep -o 'expires' | wc -l; }
DPID= DLOG= DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--socket-group nogroup --log-level info "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
}
daemon_stop() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=; }

daemon_start
B4=$(ban_set 4 web) B6=$(ban_set 6 web)

# ---- per-source: banned within one burst, v4 and v6 -----------------------------
n=$(burst onprem "$ON" "$WEB" 30)
zt_check "v4: a source over per-source got at most one burst through ($n of 30, burst 10)" [ "$n" -le 11 ]
zt_check "v4: ... and at least most of the burst ($n)" [ "$n" -ge 8 ]
zt_check "v4: the source is in the ban set" banned_in "$B4" "$ON"
zt_check "v4: while banned its new connections are dropped" ! allowed onprem "$ON" "$WEB" 80
zt_check "v4: the ban is towards web only (db still answers)" allowed onprem "$ON" "$DB" 5432
live=$(ctl explain --live "$ON" iface:vweb1,"$WEB" tcp/80 || true)
zt_check "explain --live says the source is banned (deny, by the ban)" \
	grep -qzE "^deny.*by: flood ban of $ON to web \(per-source, [0-9]+s left; threats.flood ztseg.yaml:[0-9]+\).*without the ban: allow" <<<"$live"
zt_check "explain --live: towards db (no ban there) it still allows" ctl explain --live "$ON" iface:vdb1,"$DB" tcp/5432
zt_check "ztsegctl bans lists source, zone, reason" bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -qE '^$ON +web +per-source'"
T0=$(zt_now_ms)
bj=$(ctl bans --json)
REM=$(js "[b['remaining_ms'] for b in j['bans'] if b['source'] == '$ON'][0]" <<<"$bj")
pk=$(js "[b['packets'] for b in j['bans'] if b['source'] == '$ON'][0]" <<<"$bj")
zt_check "ztsegctl bans counts the packets dropped ($pk)" [ "$pk" -ge 10 ]
zt_check "the ban is in the journal with the limit that tripped" zt_wait_for 3000 grep -q "flood ban: $ON to web for 8s: over its per-source limit (per-source 5/second burst 10" "$DLOG"
st=$(ctl status --json)
zt_check "status --json counts bans" [ "$(js 'j["bans"]["banned"]' <<<"$st")" -ge 1 ]
zt_check "status --json has the flood drop reasons" [ "$(js '[r["packets"] for r in j["drops"]["reasons"] if r["name"] == "flood-banned"][0]' <<<"$st")" -ge 1 ]
zt_check "status (text) shows flood drops" bash -c "'$ZT_CTL' --socket '$SOCK' status | grep -q flood-banned"

# ---- expiry on time ---------------------------------------------------------------
# The kernel's set stops listing an element once it has expired: time that
# (a TCP probe's own timeout would blur it), then connect.
zt_check "v4: still banned while time is left" banned_in "$B4" "$ON"
zt_wait_for 10000 eval '! banned_in "$B4" "$ON"'
dt=$(($(zt_now_ms) - T0))
zt_check "v4: the ban expired on time (gone ${dt} ms after bans said ${REM} ms were left)" \
	[ "$dt" -le $((REM + 1500)) -a "$dt" -ge $((REM - 700)) ]
zt_check "v4: after the expiry the source connects again" zt_wait_for 3000 allowed onprem "$ON" "$WEB" 80
zt_check "the expiry is in the journal" zt_wait_for 3000 grep -q "flood ban of $ON expired" "$DLOG"

# v6: two addresses of one /64 share one limit
n1=$(burst onprem "$ON6" "$WEB6" 8)
n2=$(burst onprem "$ON6B" "$WEB6" 12)
zt_check "v6: two addresses of one /64 share a limit ($n1 + $n2 of 20 passed)" [ $((n1 + n2)) -le 11 ]
zt_check "v6: the /64 is banned" banned_in "$B6" "2001:db8:ffff::"
zt_check "v6: banned /64: the first address is dropped too" ! allowed onprem "$ON6" "$WEB6" 80


# ---- except, world, connections ---------------------------------------------------
n=$(burst internet "$INET" "$WEB" 30)
zt_check "except: a source in threats.except is never limited ($n of 30)" [ "$n" -eq 30 ]
zt_check "except: ... nor banned" ! banned_in "$B4" "$INET"
n=$(burst internet "$INET6" "$WEB6" 30)
zt_check "except: v6 too ($n of 30)" [ "$n" -eq 30 ]
lim0=$(zt_counter flood_limited)
n=$(burst other "$OTHER" "$WEB" 30)
zt_check "world: a spoofable source is limited ($n of 30)" [ "$n" -le 11 ]
zt_check "world: ... and not banned" ! banned_in "$B4" "$OTHER"
zt_check "world: what was over the limit is counted (flood_limited)" [ "$(zt_counter flood_limited)" -gt "$lim0" ]
n=$(burst other "$OTHER6" "$WEB6" 30)
zt_check "world: v6 limited ($n of 30), not banned" [ "$n" -le 11 ]
sleep 2.2
zt_check "world: allowed again once the bucket refills (never banned)" allowed other "$OTHER" "$WEB" 80

# connections: 3 concurrent to db; the 4th is over, banned (SRC DST V: v4 and v6)
conns() {
	local i pids=()
	for i in 1 2 3; do
		zt_bg onprem "$ZT_TMP/cs$3-$i" "$ZT_PROBE" stream -i 100 "$1" "$2" 5432
		pids+=("$ZT_BG_PID")
	done
	zt_wait_for 3000 bash -c "grep -q '^echo' '$ZT_TMP/cs$3-1' && grep -q '^echo' '$ZT_TMP/cs$3-2' && grep -q '^echo' '$ZT_TMP/cs$3-3'"
	zt_check "connections (v$3): three concurrent connections pass" bash -c "grep -q '^echo' '$ZT_TMP/cs$3-3'"
	zt_check "connections (v$3): a fourth is refused" ! allowed onprem "$1" "$2" 5432
	zt_check "connections (v$3): the source is banned (reason connections)" \
		bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -qE '^$4 +db +connections'"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
}
conns "$ON3" "$DB" 4 "$ON3"
conns "$ON6B" "$DB6" 6 "2001:db8:ffff::/64"

# ---- unban ------------------------------------------------------------------------
# (ON3's closing streams are still over db's connection cap: unban ON2, banned by rate.)
burst onprem "$ON2" "$WEB" 30 >/dev/null
zt_check "unban: the source is banned" banned_in "$B4" "$ON2"
sleep 1	# its meter refills (5/s): what is tested is the ban
zt_check "unban needs privilege (nobody is refused)" ! ctl_nobody unban "$ON2"
zt_check "unban lifts the ban" ctl unban "$ON2"
zt_check "after unban the source connects" allowed onprem "$ON2" "$WEB" 80
zt_check "unban is logged with the caller" grep -q "flood ban of $ON2 lifted (1) by uid 0" "$DLOG"
zt_check "unban of an address that is not banned fails" ! ctl unban 203.0.113.99

# ---- reloads: the same limit keeps its bans, a removed limit takes them ------------
burst onprem "$ON4" "$WEB" 30 >/dev/null
policy "$POL" 60s
ctl reload >/dev/null
B4b=$(ban_set 4 web)
zt_check "a reload that changes the limit (ban 8s -> 60s) drops its old bans" ! banned_in "$B4b" "$ON4"
burst onprem "$ON4" "$WEB" 30 >/dev/null
zt_check "(banned under the new limit)" banned_in "$B4b" "$ON4"
sed -i 's/^  default: drop/  default: drop\n  # a comment: the same meaning/' "$POL/ztseg.yaml"
ctl reload >/dev/null
zt_check "a reload that keeps the limit's meaning keeps its bans" banned_in "$B4b" "$ON4"
zt_check "... and its drops" ! allowed onprem "$ON4" "$WEB" 80
daemon_stop
daemon_start
zt_check "a daemon restart keeps the bans" banned_in "$B4b" "$ON4"
sleep 1.5
zt_check "... and knows them (no second journal record for the same ban)" ! grep -q "flood ban: $ON4" "$DLOG"
zt_check "... and lists them" bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -q '^$ON4 '"
sed -i '/to: web, per-source/d' "$POL/ztseg.yaml"
ctl reload >/dev/null
zt_check "a reload that removes the limit removes its bans" ! zt_nft list map inet ztseg "$B4b" 2>/dev/null
zt_check "... and the source connects again" allowed onprem "$ON4" "$WEB" 80

# ---- full sets fail closed --------------------------------------------------------
policy "$POL" 60s 2 1
ctl reload >/dev/null
B4=$(ban_set 4 web)
full0=$(zt_counter flood_full)
allowed onprem "$ON" "$WEB" 80 || true
allowed onprem "$ON2" "$WEB" 80 || true
zt_check "full meter: a third source is dropped, not passed" ! allowed onprem "$ON3" "$WEB" 80
zt_check "full meter: and counted (flood_full)" [ "$(zt_counter flood_full)" -gt "$full0" ]
# v6: three /64s of onprem (the host routes its /48 back there)
zt_x host ip -6 route add 2001:db8:ffff::/48 via "$ON6" dev "${ZT_IF[onprem]}"
for a in 2001:db8:ffff:1::10 2001:db8:ffff:2::10; do zt_x onprem ip addr add "$a/64" dev eth0 nodad; done
full0=$(zt_counter flood_full)
allowed onprem "$ON6" "$WEB6" 80 || true
allowed onprem 2001:db8:ffff:1::10 "$WEB6" 80 || true
zt_check "full meter (v6): a third /64 is dropped, not passed" ! allowed onprem 2001:db8:ffff:2::10 "$WEB6" 80
zt_check "full meter (v6): and counted" [ "$(zt_counter flood_full)" -gt "$full0" ]
policy "$POL" 60s 100 1
ctl reload >/dev/null
B4=$(ban_set 4 web)
burst onprem "$ON" "$WEB" 30 >/dev/null
zt_check "the first source over the limit fills the ban set (max-bans 1)" banned_in "$B4" "$ON"
full0=$(zt_counter flood_full)
n=$(burst onprem "$ON2" "$WEB" 30)
zt_check "full ban set: the second source over the limit is still held to one burst ($n of 30)" [ "$n" -le 11 ]
zt_check "full ban set: it could not be banned" ! banned_in "$B4" "$ON2"
zt_check "full ban set: what it sent over the limit was dropped and counted (flood_full)" [ "$(zt_counter flood_full)" -ge $((full0 + 15)) ]
burst onprem "$ON6" "$WEB6" 30 >/dev/null
B6=$(ban_set 6 web)
zt_check "full ban set (v6): the first /64 over the limit fills it" banned_in "$B6" "2001:db8:ffff::"
full0=$(zt_counter flood_full)
n=$(burst onprem 2001:db8:ffff:1::10 "$WEB6" 30)
zt_check "full ban set (v6): a second /64 is held to one burst ($n of 30), not banned, counted" \
	[ "$n" -le 11 -a "$(zt_counter flood_full)" -ge $((full0 + 15)) ]
zt_check "full ban set (v6): ... not banned" ! banned_in "$B6" "2001:db8:ffff:1::"

# ---- a spoofed flood from many sources -------------------------------------------
policy "$POL" 60s 500 500
ctl reload >/dev/null
full0=$(zt_counter flood_full)
# Sources from 3000 different /64s behind other0 (world): the host routes them there, so rpf passes.
zt_x host ip -6 route add 2001:db8:e100::/40 dev "${ZT_IF[other]}"
for ((i = 0; i < 3000; i++)); do printf '%d spoof 2001:db8:e100:%x::1 %s 80\n' "$i" "$i" "$WEB6"; done >"$ZT_TMP/spoof.txt"
zt_x other "$ZT_PROBE" batch -c 2 <"$ZT_TMP/spoof.txt" >/dev/null 2>&1 || true
MS=$(zt_nft list table inet ztseg | sed -nE 's/.*set (fms6_[0-9a-f]+) .*/\1/p' | sort -u)
ne=$(nelems "$MS")
zt_check "spoofed flood: the spoofable sources' meter stays bounded ($ne of max 500)" [ "$ne" -le 500 ]
zt_check "spoofed flood: what did not fit was dropped and counted" [ "$(zt_counter flood_full)" -gt "$full0" ]
zt_check "spoofed flood: nothing spoofed was banned" \
	[ "$(ctl bans --json | js 'len([b for b in j["bans"] if b["source"].startswith("2001:db8:e1")])')" -eq 0 ]
zt_check "spoofed flood: the daemon still answers" ctl status >/dev/null
zt_check "spoofed flood: a workload source still connects (its own meter)" allowed web2 "${ZT_V4[web2]}" "$WEB" 80

# ---- per-flow limits (flow:) ------------------------------------------------------
# policy_flow DIR [BAN-SCOPE [MAX-SOURCES [HTTP-PORTS]]]: two flows from onprem to web;
# only web-http is limited (its connections per source), web-pg is not.
policy_flow() {
	zt_policy_write "$1" <<-EOF
	version: 1
	hub:
	  default: drop
	  boundaries:
	    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
	  flows:
	    - { name: web-http, from: onprem, to: web, ports: [${4:-tcp/80}] }
	    - { name: web-pg, from: onprem, to: web, ports: [tcp/5432] }
	threats:
	  flood:
	    - { flow: web-http, to: web, per-source: 5/second, burst: 10, ban: 60s, ban-scope: ${2:-zone}, max-sources: ${3:-1000} }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/27, "2001:db8:0:1::/64"] }
	  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
	EOF
	"$ZT_CTL" check --config "$1" >/dev/null || zt_die "policy $1 is invalid"
}
# flow_ban_set 4|6: the flow limit's ban set, as the policy compiles.
flow_ban_set() {
	"$ZT_CTL" show --config "$POL" | sed -nE "s/.*add @(ban$1_[0-9a-f]+) .*threats.flood flow web-http .*/\\1/p" | sort -u
}
# flow_case V SRC DST BANNED-AS: a source over web-http's rate, then its web-pg connection.
flow_case() {
	local n
	n=$(burst onprem "$2" "$3" 30)
	zt_check "flow (v$1): a source over the flow's per-source got at most one burst through ($n of 30)" [ "$n" -le 11 -a "$n" -ge 8 ]
	zt_check "flow (v$1): it is in the flow limit's ban set" banned_in "$(flow_ban_set "$1")" "$4"
	zt_check "flow (v$1): while banned, the flow's new connections are dropped" ! allowed onprem "$2" "$3" 80
	zt_check "flow (v$1): the same source's other flow to the same zone is unaffected" allowed onprem "$2" "$3" 5432
}
policy_flow "$POL"
ctl reload >/dev/null
ON5=203.0.113.14
zt_x onprem ip addr add "$ON5/24" dev eth0
zt_check "flow: web-pg admits the source" allowed onprem "$ON5" "$WEB" 5432
zt_check "flow: web-http admits the source" allowed onprem "$ON5" "$WEB" 80
bans0=$(zt_counter flood_bans)
flow_case 4 "$ON5" "$WEB" "$ON5"
flow_case 6 "$ON6" "$WEB6" "2001:db8:ffff::"
zt_check "flow: the bans are counted (flood_bans)" [ "$(zt_counter flood_bans)" -ge $((bans0 + 2)) ]
zt_check "flow: ztsegctl bans names the flow" bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -qE '^$ON5 +flow web-http to web +per-source'"
live=$(ctl explain --live "$ON5" iface:vweb1,"$WEB" tcp/80 || true)
zt_check "flow: explain --live says the flow's connection is banned" grep -qz "by: flood ban of $ON5 to flow web-http to web (per-source" <<<"$live"
zt_check "flow: explain --live: the other flow still allows" ctl explain --live "$ON5" iface:vweb1,"$WEB" tcp/5432
zt_check "flow: the ban is in the journal" zt_wait_for 3000 grep -q "flood ban: $ON5 to flow web-http to web for 60s" "$DLOG"
# a reload that keeps the flow's meaning keeps the bans; one that changes the flow drops them
FB4=$(flow_ban_set 4)
sed -i 's/^  default: drop/  default: drop\n  # a comment: the same meaning/' "$POL/ztseg.yaml"
ctl reload >/dev/null
zt_check "flow: a reload that keeps the flow's meaning keeps its bans" banned_in "$FB4" "$ON5"
zt_check "flow: ... and its drops" ! allowed onprem "$ON5" "$WEB" 80
policy_flow "$POL" zone 1000 "tcp/80, tcp/8080"
ctl reload >/dev/null
zt_check "flow: a reload that changes the flow (another port) drops its bans" \
	bash -c "! '$ZT_CTL' --socket '$SOCK' bans | grep -q '^$ON5 '"
zt_check "flow: ... the source connects on the flow again" allowed onprem "$ON5" "$WEB" 80
# ban-scope: all: a ban by the flow's limit shuts every flow of the source
policy_flow "$POL" all
ctl reload >/dev/null
ON7=203.0.113.15
zt_x onprem ip addr add "$ON7/24" dev eth0
for v in 4 6; do
	if [[ $v == 4 ]]; then src=$ON7 dst=$WEB; else src=2001:db8:ffff::11 dst=$WEB6; fi
	n=$(burst onprem "$src" "$dst" 30)
	zt_check "flow, ban-scope all (v$v): one burst through ($n of 30)" [ "$n" -le 11 ]
	zt_check "flow, ban-scope all (v$v): the source's other flow is dropped too" ! allowed onprem "$src" "$dst" 5432
done
# a full meter fails closed on the flow, and only there
policy_flow "$POL" zone 1
ctl reload >/dev/null
full0=$(zt_counter flood_full)
zt_check "flow, max-sources 1: the first source fills the meter" allowed onprem "$ON" "$WEB" 80
zt_check "flow, max-sources 1: a second source is dropped on the flow, not passed" ! allowed onprem "$ON2" "$WEB" 80
zt_check "flow, max-sources 1: and counted (flood_full)" [ "$(zt_counter flood_full)" -gt "$full0" ]
zt_check "flow, max-sources 1: the second source's other flow passes" allowed onprem "$ON2" "$WEB" 5432
allowed onprem 2001:db8:ffff:1::10 "$WEB6" 80 || true
zt_check "flow, max-sources 1 (v6): a second /64 is dropped on the flow" ! allowed onprem "$ON6" "$WEB6" 80
zt_check "flow, max-sources 1 (v6): ... and passes on the other flow" allowed onprem "$ON6" "$WEB6" 5432

zt_check "the daemon never saw its own bans as tampering" ! grep -qE "tampering:|restoring it" "$ZT_TMP"/daemon.*.log
daemon_stop
zt_check "the daemon logs no sanitizer report (an ASan build)" ! grep -q "Sanitizer\|runtime error" "$ZT_TMP"/daemon.*.log
zt_finish
