#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The connection index (daemon/ztsegd-ctindex.c) with real packets: a
# workload moves from web to app with a TCP connection open, and ztsegd
# finds that connection in the index it keeps from conntrack events (no
# walk of the conntrack table) and cuts it. Then events are made to be
# lost: ztsegd is stopped (SIGSTOP) with a 4 KiB event buffer while
# thousands of connections open, and the connection that must be cut is
# opened while no event reaches the daemon; after the move it must still be
# cut (the index is not trusted: the table is walked), and the walk rebuilds
# the index, which the next move uses again. --conntrack-index no walks.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_need_py
zt_init
zt_up
zt_serve
pol=$(zt_policy live)
h=$(zt_ns host)
SOCK=$ZT_TMP/ctl.sock
DPID= DLOG= DN=0 SPID=

daemon_start() { # [ARGS...]
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--log-level debug "${ZT_APPLY_ARGS[@]}" "$@"
	DPID=$ZT_BG_PID
	zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || {
		sed 's/^/#   /' "$DLOG"
		zt_die "ztsegd did not get ready"
	}
}
# daemon_stop: SIGTERM; a clean exit, no sanitizer report (ZTSEG_BUILD=build-asan).
daemon_stop() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	DPID=
	zt_check "daemon $DN: exits 0 (got $rc), no sanitizer report" \
		eval '[ "$rc" -eq 0 ] && ! grep -qE "Sanitizer|runtime error" "$DLOG"'
}
probe() { # NODE PROTO DST PORT [TIMEOUT-MS]
	echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-1000}" | awk '{ print $2 }'
}

# mv1: 198.51.100.5 (web.front) on its loopback, eth0 to vweb8 and eth1 to vapp8
# (as daemon.sh's): a move switches the host's /32 route and mv1's default route.
zt_node mv1 vweb8 198.51.100.5 2001:db8:0:1::5 -
zt_ns_add mv1
w=$(zt_ns mv1)
ip -n "$h" link add vweb8 type veth peer name eth0 netns "$w"
ip -n "$h" link add vapp8 type veth peer name eth1 netns "$w"
ip -n "$w" addr add 198.51.100.5/32 dev lo
ip -n "$w" link set eth0 up
ip -n "$w" link set eth1 up
ip -n "$w" route add default via "$ZT_GW_V4" dev eth0 onlink src 198.51.100.5
ip -n "$h" addr add "$ZT_GW_V4/32" dev vweb8
ip -n "$h" addr add "$ZT_GW_V4/32" dev vapp8
ip -n "$h" link set vweb8 up
ip -n "$h" link set vapp8 up
ip -n "$h" route add 198.51.100.5/32 dev vweb8
zt_serve mv1
mv=198.51.100.5

move_to() { # web|app
	local dev=vweb8 up=eth0
	[[ $1 == web ]] || { dev=vapp8; up=eth1; }
	ip -n "$h" route replace "$mv/32" dev "$dev"
	ip -n "$w" route replace default via "$ZT_GW_V4" dev "$up" onlink src "$mv"
}
# The latency line of the first move after line FROM of the log.
move_line() { tail -n +"$(($1 + 1))" "$DLOG" | grep -m1 'event to enforcement:.*prefix' || true; }
stream_start() { # LABEL NODE PORT
	zt_bg "$2" "$ZT_TMP/stream-$1" "$ZT_PROBE" stream -i 50 - "$mv" "$3"
	SPID=$ZT_BG_PID
}
# stream_cut LABEL T-MOVE: stop the stream; did it echo before the move and stop within 1 s?
stream_cut() {
	local last before
	sleep 1.2
	kill -TERM "$SPID" 2>/dev/null || true
	wait "$SPID" || true
	last=$(awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$ZT_TMP/stream-$1")
	before=$(awk -v t="$2" '$1 == "echo" && $3 < t' "$ZT_TMP/stream-$1" | wc -l)
	zt_check "$1: the open connection echoed before the move ($before lines)" [ "$before" -ge 5 ]
	zt_check "$1: the open connection stopped within 1 s of the move ($((last - $2)) ms after)" \
		[ "$last" -lt $(($2 + 1000)) ]
}
# moved LABEL TO: a move with the stream open; sets n0 (the log's line before it).
moved() {
	sleep 0.6
	n0=$(wc -l <"$DLOG")
	move_to "$2"
	stream_cut "$1" "$(zt_now_ms)"
}

# ---- the index finds the connection -----------------------------------------

daemon_start
zt_check "start: the connection index is on" grep -q 'connection index on' "$DLOG"
zt_check "before the move: internet -> mv1 tcp/80 passes (public-web)" [ "$(probe internet tcp $mv 80)" = ok ]
stream_start index internet 80
moved index app
l=$(move_line "$n0")
zt_check "index: the move's connections came from the index, no walk ($l)" \
	grep -q 'connection index: conntrack not walked' <<<"$l"
zt_check "index: the connection of the moved prefix forgotten" \
	grep -qE '^ztsegd: [1-9][0-9]* connections? of 1 moved prefix forgotten' <(tail -n +"$((n0 + 1))" "$DLOG")
zt_check "after the move: internet -> mv1 tcp/80 denied (app is not public)" \
	[ "$(probe internet tcp $mv 80 500)" = timeout ]
zt_check "after the move: web2 -> mv1 tcp/8080 passes (web-to-app)" [ "$(probe web2 tcp $mv 8080)" = ok ]

# Back to web with web2 -> mv1 tcp/8080 open (web-to-app; web to web.front is denied).
stream_start back web2 8080
moved back web
zt_check "back: from the index again" grep -q 'connection index: conntrack not walked' <<<"$(move_line "$n0")"
zt_check "back: web2 -> mv1 tcp/8080 denied (web to web.front)" [ "$(probe web2 tcp $mv 8080 500)" = timeout ]
daemon_stop

# ---- events lost: the move walks, and still cuts -------------------------------

daemon_start --conntrack-rcvbuf 4096
zt_check "small buffer: the connection index is on" grep -q 'connection index on' "$DLOG"
kill -STOP "$DPID"
# Thousands of new connections in the host's namespace while nobody reads
# (loopback UDP, each its own conntrack entry): the 4 KiB buffer overflows.
zt_x host "$ZT_PY" -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    s.sendto(b"x", ("127.0.0.1", 20000 + i))
'
# The connection to cut opens now: its NEW event cannot reach the daemon.
stream_start lost internet 80
sleep 0.6
kill -CONT "$DPID"
zt_wait_for 5000 grep -q 'conntrack events lost' "$DLOG" || true
zt_check "lost: the daemon saw conntrack events lost" grep -q 'conntrack events lost' "$DLOG"
moved lost app
l=$(move_line "$n0")
zt_check "lost: the move walked the conntrack table ($l)" grep -q 'conntrack table walked' <<<"$l"
zt_check "lost: internet -> mv1 tcp/80 denied after the move" [ "$(probe internet tcp $mv 80 500)" = timeout ]
# The walk rebuilt the index: the next move, with nothing lost since, uses it.
stream_start rebuilt web2 8080
moved rebuilt web
zt_check "rebuilt: the next move uses the index again" \
	grep -q 'connection index: conntrack not walked' <<<"$(move_line "$n0")"
daemon_stop

# ---- --conntrack-index no: every move walks -------------------------------------

daemon_start --conntrack-index no
zt_check "index off: not started" ! grep -q 'connection index on' "$DLOG"
stream_start off internet 80
moved off app
zt_check "index off: the move walked" grep -q 'conntrack table walked' <<<"$(move_line "$n0")"
daemon_stop
move_to web

zt_finish
