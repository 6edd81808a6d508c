#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bridged workloads (issue 14): the data path between two ports of one
# bridge (web vnet0 -> app veth-app1, one /24), side by side:
#   (a') the same bridge with br_netfilter and conntrack only
#        (inet forward: ct state established,related accept);
#   (c)  ztseg: table bridge ztseg + inet ztseg, a flow web -> app.
# iperf3 TCP throughput and zb-tool crr (connect, one byte each way, close)
# in alternating rounds, medians and the ratio (c)/(a'). Then hot-plugged
# ports: LXC-like veths join the bridge of (c) while a policy is loaded;
# each one's first frame is spoofed and must be dropped and counted; the
# time from `ip link set master br0` to that count is measured.
# `make bench-bridge`; written into bench/RESULTS.md as section "bridge".
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ZT_ROOT/tests/netns/bridge-lib.sh"

ZB_ROUNDS=${ZB_ROUNDS:-7}
ZB_SECONDS=${ZB_SECONDS:-2}
ZB_HOTPLUG=${ZB_HOTPLUG:-50}
PORT=7000

zb_init
zt_need_py
ZB_OUT=$ZT_TMP/out.md
: >"$ZB_OUT"

# side NAME: NAME-host with br0, NAME-cli on vnet0 (web), NAME-srv on veth-app1 (app).
side() {
	local p=$1 h
	zt_ns_add "$p-host"
	h=$(zt_ns "$p-host")
	ip -n "$h" link add br0 type bridge
	ip -n "$h" link set br0 up
	ip -n "$h" addr add 198.51.100.1/24 dev br0
	for r in cli:vnet0:198.51.100.10 srv:veth-app1:198.51.100.17; do
		IFS=: read -r role ifn addr <<<"$r"
		zt_ns_add "$p-$role"
		ip -n "$h" link add "$ifn" type veth peer name eth0 netns "$(zt_ns "$p-$role")"
		ip -n "$h" link set "$ifn" master br0 up
		ip -n "$(zt_ns "$p-$role")" addr add "$addr/24" dev eth0
		ip -n "$(zt_ns "$p-$role")" link set eth0 up
	done
	zt_x "$p-cli" sh -c 'echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range; echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse'
	zt_bg "$p-srv" "$ZT_TMP/$p-iperf.log" iperf3 -s -p 5201
	zt_bg "$p-srv" "$ZT_TMP/$p-serve.log" "$ZB_TOOL" serve "$PORT"
}

side a
side c
zt_x a-host nft -f - <<-'EOF'
	table inet base {
		chain forward { type filter hook forward priority filter; ct state established,related accept; }
	}
EOF
pol=$ZT_TMP/policy
mkdir -p "$pol"
cat >"$pol/ztseg.yaml" <<-EOF
	version: 1
	hub:
	  flows:
	    - { from: web, to: app, ports: [tcp/5201, tcp/$PORT] }
	segments:
	  web: { interfaces: ["vnet*"], addresses: [198.51.100.8/29] }
	  app: { interfaces: ["veth-app*"], addresses: [198.51.100.16/29] }
EOF
chmod 0755 "$pol"
chmod 0644 "$pol/ztseg.yaml"
zt_x c-host "$ZT_D" --oneshot --config "$pol" --state-dir "$ZT_TMP/state" >/dev/null 2>&1 ||
	zt_die "ztsegd --oneshot failed"
zt_x c-host nft list table bridge ztseg >/dev/null || zt_die "no table bridge ztseg"
sleep 1

for ((r = 1; r <= ZB_ROUNDS; r++)); do
	order=(a c)
	((r % 2)) || order=(c a)
	for p in "${order[@]}"; do
		zt_x "$p-cli" iperf3 -c 198.51.100.17 -p 5201 -t "$ZB_SECONDS" -O 1 -J 2>/dev/null |
			jq '.end.sum_received.bits_per_second' >>"$ZT_TMP/$p.tput"
		zt_x "$p-cli" "$ZB_TOOL" crr -t "$ZB_SECONDS" 198.51.100.17 "$PORT" | awk '{ print $2 }' >>"$ZT_TMP/$p.crr"
	done
	zb_log "round $r of $ZB_ROUNDS"
done
ta=$(zb_median "$ZT_TMP/a.tput") tc=$(zb_median "$ZT_TMP/c.tput")
ca=$(zb_median "$ZT_TMP/a.crr") cc=$(zb_median "$ZT_TMP/c.crr")

# Hot-plugged ports of (c): first frame spoofed (must be dropped), then time to the first allowed connection.
dropped=0
: >"$ZT_TMP/hot.ms"
for ((i = 1; i <= ZB_HOTPLUG; i++)); do
	n="hp$i" ifn="veth-app$((200 + i))"
	zt_ns_add "$n"
	ip -n "$(zt_ns c-host)" link add "$ifn" type veth peer name eth0 netns "$(zt_ns "$n")"
	ip -n "$(zt_ns "$n")" addr add "198.51.100.$((100 + i))/24" dev eth0
	ip -n "$(zt_ns "$n")" link set eth0 up
	s0=$(zt_x c-host nft list counter bridge ztseg l2_spoof | sed -nE 's/.*packets ([0-9]+).*/\1/p')
	t0=$(date +%s%N)
	ip -n "$(zt_ns c-host)" link set "$ifn" master br0 up
	until bridge -n "$(zt_ns c-host)" link show dev "$ifn" | grep -q 'state forwarding'; do sleep 0.001; done
	zt_x "$n" "$ZT_PY" "$ZT_ROOT/tests/netns/zt-forge.py" eth0 ff:ff:ff:ff:ff:ff 1 \
		"IP(src='198.51.100.10', dst='198.51.100.17')/UDP(sport=1, dport=9)" >/dev/null
	s1=$(zt_x c-host nft list counter bridge ztseg l2_spoof | sed -nE 's/.*packets ([0-9]+).*/\1/p')
	((s1 > s0)) && dropped=$((dropped + 1))
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) >>"$ZT_TMP/hot.ms"
done
read -r hp50 < <(sort -n "$ZT_TMP/hot.ms" | awk '{ v[NR] = $1 } END { print v[int(NR * 0.5 + 0.5)] }')
read -r hp99 < <(sort -n "$ZT_TMP/hot.ms" | awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); print v[i] }')

zb_out "## Bridged workloads (bench/bridge.sh, issue 14)"
zb_out ""
zb_out "$(date -u +%F), 2 CPUs shared with other work."
zb_out ""
zb_out "Between two ports of one bridge (web vnet0 → app veth-app1, one /24), $ZB_ROUNDS alternating"
zb_out "rounds of ${ZB_SECONDS} s; (a′) the same bridge with br_netfilter and conntrack only"
zb_out "(\`ct state established,related accept\`), (c) ztseg (table bridge ztseg + inet ztseg,"
zb_out "a flow web → app). Medians (min–max). The machine was shared with other jobs: only"
zb_out "the ratio, measured side by side, means anything."
zb_out ""
zb_out "| metric | (a′) | (c) | (c)/(a′) |"
zb_out "|---|---|---|---|"
zb_out "| TCP throughput (Gbit/s) | $(zb_cell "$ZT_TMP/a.tput" 1e9 2) | $(zb_cell "$ZT_TMP/c.tput" 1e9 2) | $(zb_ratio "$tc" "$ta") |"
zb_out "| new connections (1/s) | $(zb_cell "$ZT_TMP/a.crr" 1 0) | $(zb_cell "$ZT_TMP/c.crr" 1 0) | $(zb_ratio "$cc" "$ca") |"
zb_out ""
zb_out "Hot-plugged ports: $ZB_HOTPLUG LXC-like veths joined the bridge of (c) with the policy"
zb_out "loaded; the first frame each sent (a spoofed source) was dropped and counted for"
zb_out "$dropped of $ZB_HOTPLUG. Enforcement needs no daemon action (ports are classified by"
zb_out "pattern in table bridge ztseg), so event → enforced is 0: a port is enforced before"
zb_out "it forwards. From \`ip link set master br0\` to the first frame counted (including"
zb_out "starting the frame forger, ~0.2 s of python): p50 $((hp50 / 1000)) ms, p99 $((hp99 / 1000)) ms."
cat "$ZB_OUT"
zb_section "$ZT_ROOT/bench/RESULTS.md" bridge "$ZB_OUT"
