#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bridged workloads with ztsegd running (issue 14): ports that join the
# bridge while the daemon runs — LXC-like named veths and libvirt-like
# vnetN taps (tun) — are enforced from their first frame (classification
# is by pattern in table bridge ztseg, not by an event the daemon must win
# a race against); a port renamed into another segment's pattern is that
# segment's at once. Then br_netfilter switched off in the namespace:
# detected, reported in status, and bridged member traffic is dropped (fail
# closed) until it is switched on again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
zt_serve host "${ZT_NODES[@]}" 2>/dev/null || true

l2() { zt_l2_counter "$1"; }
probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-800}" | awk '{ print $2 }'; }

zt_check "status has no bridge-port warning for enforced segments" \
	sh -c "! '$ZT_CTL' --socket '$SOCK' status 2>&1 | grep -q 'is a port of bridge'"
W2=$(zt_mac w2 eth0)
rx_add w2 spoofed "ip saddr ${ZT_V4[w1]} udp dport 9999"

# ---- LXC-like veths, 20 of them, each spoofing with its very first frame ----
n_hot=20 first_dropped=0
spoof_above() { (($(l2 l2_spoof) > $1)); }
for i in $(seq 1 $n_hot); do
	ns=$(zt_ns "h$i")
	zt_ns_add "h$i"
	ip -n "$(zt_ns host)" link add "veth-app$((100 + i))" type veth peer name eth0 netns "$ns"
	ip -n "$ns" link set eth0 up
	s0=$(l2 l2_spoof)
	ip -n "$(zt_ns host)" link set "veth-app$((100 + i))" master br0 up
	# a port forwards once the link is up (no STP); before that the bridge drops everything itself
	zt_wait_for 5000 sh -c "bridge -n $(zt_ns host) link show dev veth-app$((100 + i)) | grep -q 'state forwarding'" || true
	# a frame of the new port (app): web's source address (w2 must not see it)
	zt_forge "h$i" eth0 "$W2" 1 "IP(src='${ZT_V4[w1]}', dst='${ZT_V4[w2]}')/UDP(sport=1, dport=9999)" >/dev/null
	# counted once the kernel has handled it (softirq: late on a loaded machine); nothing
	# else sends from these ports, so only this frame can move the counter
	zt_wait_for 3000 spoof_above "$s0" && first_dropped=$((first_dropped + 1))
done
zt_check "$first_dropped of $n_hot new LXC-like ports: the first frame (spoofed) dropped and counted" \
	[ "$first_dropped" -eq "$n_hot" ]
zt_check "none of the spoofed first frames reached w2 ($(rx w2 spoofed))" [ "$(rx w2 spoofed)" -eq 0 ]
# The last one as a workload of app: its flows, and no more.
ns=$(zt_ns "h$n_hot")
ip -n "$ns" addr add 198.51.100.18/24 dev eth0
ip -n "$ns" route add default via "$ZT_HOST_V4"
zt_check "new port veth-app$((100 + n_hot)) (app) -> d1 tcp/5432: allowed" [ "$(probe "h$n_hot" tcp "${ZT_V4[d1]}" 5432)" = ok ]
zt_check "new port veth-app$((100 + n_hot)) (app) -> w1 tcp/80: denied" [ "$(probe "h$n_hot" tcp "${ZT_V4[w1]}" 80)" = timeout ]

# ---- a libvirt-like tap (tun is built in): frames written by "the VM" -------
ip -n "$(zt_ns host)" tuntap add dev vnet9 mode tap
ip -n "$(zt_ns host)" link set vnet9 master br0 up
A1=$(zt_mac a1 eth0)
rx_add a1 tap_dns "ip saddr 198.51.100.12 udp dport 53"
rx_add a1 tap_other "ip saddr 198.51.100.12 udp dport 9999"
rx_add a1 tap_spoof "ip saddr ${ZT_V4[d1]} udp dport 53"
s0=$(l2 l2_spoof)
# shellcheck disable=SC2016
zt_x host "$ZT_PY" - "$A1" "${ZT_V4[a1]}" "${ZT_V4[d1]}" <<-'EOF'
	import fcntl, os, struct, sys, time
	from scapy.all import Ether, IP, UDP
	amac, a1, d1 = sys.argv[1:4]
	fd = os.open("/dev/net/tun", os.O_RDWR)
	fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", b"vnet9", 0x0002 | 0x1000))  # TUNSETIFF, IFF_TAP | IFF_NO_PI
	import subprocess
	for _ in range(100):  # carrier is up now: wait for the port to forward (the bridge drops before that)
	    if b"state forwarding" in subprocess.run(["bridge", "link", "show", "dev", "vnet9"], capture_output=True).stdout:
	        break
	    time.sleep(0.02)
	vm = "02:00:00:00:09:09"
	for src, dport in ((d1, 53), ("198.51.100.12", 53), ("198.51.100.12", 9999)):  # spoofed first
	    f = Ether(src=vm, dst=amac) / IP(src=src, dst=a1) / UDP(sport=5353, dport=dport)
	    for _ in range(3):
	        os.write(fd, bytes(f))
	time.sleep(0.3)
EOF
s1=$(l2 l2_spoof)
zt_check "tap vnet9 (web): a foreign source is dropped and counted (+$((s1 - s0)))" [ $((s1 - s0)) -ge 3 ]
zt_check "tap vnet9: nothing spoofed reached a1 ($(rx a1 tap_spoof))" [ "$(rx a1 tap_spoof)" -eq 0 ]
zt_check "tap vnet9 (web) -> a1 udp/53: a web -> app flow, delivered ($(rx a1 tap_dns))" [ "$(rx a1 tap_dns)" -ge 3 ]
zt_check "tap vnet9 (web) -> a1 udp/9999: no flow, not delivered ($(rx a1 tap_other))" [ "$(rx a1 tap_other)" -eq 0 ]

# ---- status: each port's classification and binding -----------------------------
ctl status --json >"$ZT_TMP/status.json"
ctl status >"$ZT_TMP/status.txt"
bp() { # PORT EXPR [ARG]: EXPR about status' bridge_ports entry of PORT (p; the argument a)
	python3 -c "import json, sys; j = json.load(open(sys.argv[1])); p = [x for x in j['bridge_ports'] if x['port'] == sys.argv[2]]; p = p[0] if p else {}; a = sys.argv[3]; print($2)" "$ZT_TMP/status.json" "$1" "${3:-}"
}

W1=$(zt_mac w1 eth0)
zt_check "status: vnet0 is web's member port on br0 ($(bp vnet0 'p.get("classification"), p.get("segment"), p.get("bridge")'))" \
	[ "$(bp vnet0 'p["classification"], p["segment"], p["bridge"]')" = "member web br0" ]
zt_check "status: vnet0 bound w1's MAC $W1 ($(bp vnet0 'p.get("mac"), p.get("bound_seconds"), p.get("binding_expires_seconds")'))" \
	[ "$(bp vnet0 'p["mac"] == a and 0 <= p["bound_seconds"] < 600 and 1200 < p["binding_expires_seconds"] <= 1800' "$W1")" = True ]
zt_check "status: vnet0 holds web's addresses" \
	[ "$(bp vnet0 'p["addresses"]')" = "['198.51.100.8/29', '2001:db8:1::8/125']" ]
zt_check "status: tap vnet9 bound the VM's MAC 02:00:00:00:09:09, not a spoofed one" \
	[ "$(bp vnet9 'p["segment"], p["mac"]')" = "web 02:00:00:00:09:09" ]
zt_check "status: veth-app120 is app's (index $(bp veth-app120 'p.get("index")'))" \
	[ "$(bp veth-app120 'p["segment"], p["index"] > 0')" = "app True" ]
zt_check "status (text): the BRIDGE PORT table shows vnet9 with its MAC" \
	grep -qE '^vnet9 +br0 +web +02:00:00:00:09:09 ' "$ZT_TMP/status.txt"

zt_check "the kernel's own MAC bindings (dynamic set pmac) are not taken for tampering" \
	sh -c "! grep -qE 'tampering|restoring it' '$DLOG'"

# ---- a port renamed into another segment's pattern -----------------------------
# h1's port veth-app101 becomes vnet101 (web): web's address is then its own,
# app's is foreign.
ip -n "$(zt_ns host)" link set veth-app101 down
ip -n "$(zt_ns host)" link set veth-app101 name vnet101
ip -n "$(zt_ns host)" link set vnet101 up
ns=$(zt_ns h1)
ip -n "$ns" addr add 198.51.100.13/24 dev eth0
ip -n "$ns" route add default via "$ZT_HOST_V4"
zt_check "renamed to vnet101 (web): -> a1 tcp/80 allowed (web -> app)" [ "$(probe h1 tcp "${ZT_V4[a1]}" 80 1500)" = ok ]
zt_check "renamed to vnet101 (web): -> d1 tcp/5432 denied (app's right is gone)" [ "$(probe h1 tcp "${ZT_V4[d1]}" 5432)" = timeout ]

# ---- br_netfilter off ------------------------------------------------------------
zt_check "with br_netfilter on: w1 -> a1 tcp/80 allowed" [ "$(probe w1 tcp "${ZT_V4[a1]}" 80)" = ok ]
zt_check "with br_netfilter on: w1 -> a1 tcp/25 denied" [ "$(probe w1 tcp "${ZT_V4[a1]}" 25)" = timeout ]
zt_x host sh -c 'echo 0 >/proc/sys/net/bridge/bridge-nf-call-iptables'
zt_check "the switch is per network namespace: the root namespace's is unchanged" \
	[ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables)" = 1 ]
zt_check "ztsegd notices br_netfilter off within 3 s" zt_wait_for 3000 grep -q "br_netfilter was switched off" "$DLOG"
zt_wait_for 3000 sh -c "nsenter --net=/run/netns/$(zt_ns host) nft list chain bridge ztseg forward | grep -q l2_nobrnf" || true
zt_check "status warns that br_netfilter is off" sh -c "'$ZT_CTL' --socket '$SOCK' status 2>&1 | grep -q 'br_netfilter is off'"
n0=$(l2 l2_nobrnf)
zt_check "br_netfilter off: w1 -> a1 tcp/25 (no flow) does not pass unjudged" [ "$(probe w1 tcp "${ZT_V4[a1]}" 25)" = timeout ]
zt_check "br_netfilter off: w1 -> a1 tcp/80 dropped too (fail closed)" [ "$(probe w1 tcp "${ZT_V4[a1]}" 80)" = timeout ]
zt_check "br_netfilter off: the drops are counted in l2_nobrnf" [ "$(l2 l2_nobrnf)" -gt "${n0:-0}" ]
zt_x host sh -c 'echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables'
zt_check "ztsegd notices br_netfilter on again" zt_wait_for 3000 grep -q "br_netfilter was switched on" "$DLOG"
zt_wait_for 3000 sh -c "! nsenter --net=/run/netns/$(zt_ns host) nft list chain bridge ztseg forward | grep -q l2_nobrnf" || true
zt_check "br_netfilter on again: w1 -> a1 tcp/80 allowed" [ "$(probe w1 tcp "${ZT_V4[a1]}" 80)" = ok ]
zt_check "br_netfilter on again: w1 -> a1 tcp/25 denied" [ "$(probe w1 tcp "${ZT_V4[a1]}" 25)" = timeout ]
kill -TERM "$DPID"
drc=0
wait "$DPID" || drc=$?
zt_check "ztsegd stops with status 0 (sanitizer reports would make it non-zero)" [ "$drc" -eq 0 ]
[[ $drc -eq 0 ]] || sed 's/^/#   /' "$DLOG" | tail -30
zt_finish
