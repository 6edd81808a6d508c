#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench-moves: ztsegd's event → enforcement latency for a moved address
# while the host has connections open (so it must delete the moved
# address's conntrack entries), without and then with ZB_CT_ENTRIES
# (100,000) unrelated conntrack entries in another namespace: the kernel's
# conntrack hash is shared by every namespace, and ctnetlink finds a
# namespace's entries only by walking all of it. The junk entries are
# unreplied UDP flows a throwaway namespace sends into a veth pair of its own
# (203.0.113.0/24 on a veth pair of its own, never leaving it), kept for 10 minutes by that
# namespace's own UDP timeout. Root only; about a minute.
#
# Every other move leaves web with a connection of the moved address open
# (closed, in TIME_WAIT) that it must delete. With the index on, link
# events too: an encrypting link (wg*) comes and goes. Each measurement runs with ztsegd's connection index on and off
# (--conntrack-index), in alternating blocks of ZB_MOVES/2 moves.
#
# Knobs: ZB_CT_ENTRIES (100000), ZB_MOVES (200 per measurement and index setting).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${ZB_CT_ENTRIES:-100000}
MOVES=${ZB_MOVES:-200}
zt_need_py
zb_init
zt_up
pol=$(zt_policy moves)
zt_serve app1

dlog=$ZT_TMP/daemon.log
DPID=
# dstart yes|no: ztsegd with the connection index on or off (--conntrack-index), ready.
dstart() {
	: >"$dlog"
	zt_bg host "$dlog" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$ZT_TMP/ctl.sock" \
		--log-level debug --conntrack-index "$1" "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	for ((i = 0; i < 600; i++)); do
		grep -qs '^ztsegd: ready' "$dlog" && break
		sleep 0.05
	done
	grep -q '^ztsegd: ready' "$dlog" || zt_die "ztsegd did not get ready: $(tail -3 "$dlog")"
}
dstop() { kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; }

# The move rig (as bench/run.sh's): mv behind vweb8 and vapp8, its address on lo.
zt_ns_add mv
h=$(zt_ns host) w=$(zt_ns mv)
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
zt_serve mv
# Connections open on the host: a stream web1 -> app1 (allowed), so every move without
# the index walks (the table stays when ztsegd stops: the stream lives on).
dstart no
zt_bg web1 "$ZT_TMP/stream" "$ZT_PROBE" stream -i 50 - "$(zt_addr app1 4)" 8080
sleep 1
dstop

measure() { # LABEL YES|NO: MOVES/2 moves into lat-LABEL-YES|NO, with a daemon of its own
	local i from v dev f=$ZT_TMP/lat-$1-$2
	dstart "$2"
	for ((i = 0; i < MOVES / 2; i++)); do
		if ((i % 2)); then dev=vweb8; else dev=vapp8; fi
		# Leaving web: a connection of its own first (internet -> mv tcp/80, public-web), which
		# the move must delete (closed, it stays in conntrack in TIME_WAIT).
		((i % 2)) || echo "1 tcp - 198.51.100.5 80" | zt_x internet "$ZT_PROBE" batch -w 500 >/dev/null
		from=$(wc -l <"$dlog")
		ip -n "$h" route replace 198.51.100.5/32 dev "$dev"
		v=$(zb_wait_latency "$dlog" "$from") && echo "$v" >>"$f"
	done
	# Another kind of event, with the index on: an encrypting link (wg*, a veth trusted as
	# one: ZT_APPLY_ARGS) comes and goes, its enc_if element added and deleted.
	if [[ $2 == yes ]]; then
		for ((i = 0; i < MOVES / 2; i++)); do
			from=$(wc -l <"$dlog")
			if ((i % 2)); then ip -n "$h" link del wg-zb0; else ip -n "$h" link add wg-zb0 type veth peer name xzb0; fi
			v=$(zb_wait_latency "$dlog" "$from") && echo "$v" >>"$ZT_TMP/link-$1"
		done
	fi
	echo $(($(walked) + $(cat "$f.walks" 2>/dev/null || echo 0))) >"$f.walks"
	echo $(($(indexed) + $(cat "$f.indexed" 2>/dev/null || echo 0))) >"$f.indexed"
	echo $(($(cuts) + $(cat "$f.cut" 2>/dev/null || echo 0))) >"$f.cut"
	dstop
}
# measure2 LABEL: index on and off, two blocks each, alternating (side by side in one run).
measure2() {
	: >"$ZT_TMP/lat-$1-yes"
	: >"$ZT_TMP/lat-$1-no"
	: >"$ZT_TMP/link-$1"
	measure "$1" yes
	measure "$1" no
	measure "$1" no
	measure "$1" yes
}
pct() { # FILE P: the P-th percentile, ms
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
		i = int((NR - 1) * p / 100 + 0.5) + 1; printf "%.2f", v[i] / 1000 }'
}
walked() { grep -c 'conntrack table walked' "$dlog" || true; }
indexed() { grep -c 'connection index: conntrack not walked' "$dlog" || true; }
cuts() { grep -cE 'connections? of 1 moved prefix forgotten' "$dlog" || true; }

total0=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo "?")
zb_log "moves: $MOVES moves, the machine's conntrack as it is ($total0 entries)"
measure2 idle
zb_log "moves: $N unrelated conntrack entries in a throwaway namespace"
zt_ns_add junk
j=$(zt_ns junk)
zt_x junk sh -c 'echo 600 >/proc/sys/net/netfilter/nf_conntrack_udp_timeout' 2>/dev/null || true
ip -n "$j" link add j0 type veth peer name j1
ip -n "$j" link set j0 arp off up
ip -n "$j" link set j1 up
ip -n "$j" addr add 203.0.113.254/24 dev j0
zt_x junk nft -f - <<-'EOF2'
	table inet junk { chain o { type filter hook output priority 0; ct state new counter; }; }
EOF2
zt_x junk "$ZT_PY" - "$N" <<-'EOF2'
	import socket, sys
	n = int(sys.argv[1])
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind(("203.0.113.254", 4000))
	for i in range(n):
	    s.sendto(b"x", ("203.0.113.%d" % (1 + i // 50000), 1024 + i % 50000))
EOF2
have=$(zt_x junk cat /proc/sys/net/netfilter/nf_conntrack_count)
total=$(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo "?")
zb_log "moves: the junk namespace holds $have entries (the root namespace: $total)"
measure2 junk

printf '| conntrack | index | moves | that cut a connection | walks | from the index | event → enforcement p50 ms | p99 ms | max ms |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
row() { # LABEL WHAT YES|NO
	local f=$ZT_TMP/lat-$1-$3
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$3" "$(wc -l <"$f")" "$(cat "$f.cut")" "$(cat "$f.walks")" \
		"$(cat "$f.indexed")" "$(pct "$f" 50)" "$(pct "$f" 99)" "$(pct "$f" 100)"
}
row idle "this machine as it is (root namespace: $total0 entries)" yes
row idle "this machine as it is" no
row junk "+ $have unrelated entries in another namespace" yes
row junk "+ $have unrelated entries in another namespace" no
echo
printf '| conntrack | a wg* link comes or goes (enc_if element) | event → enforcement p50 ms | p99 ms | max ms |\n'
printf '|---|---|---|---|---|\n'
for l in "idle:this machine as it is" "junk:+ $have unrelated entries in another namespace"; do
	printf '| %s | %s | %s | %s | %s |\n' "${l#*:}" "$(wc -l <"$ZT_TMP/link-${l%%:*}")" "$(pct "$ZT_TMP/link-${l%%:*}" 50)" \
		"$(pct "$ZT_TMP/link-${l%%:*}" 99)" "$(pct "$ZT_TMP/link-${l%%:*}" 100)"
done
