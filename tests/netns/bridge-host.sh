#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The host's own addresses on a bridge (issue 14, Build 3): no port — a
# member (a1) nor one no pattern names (the LAN behind an uplink, eth9) —
# may answer ARP or send an NA for an address the host has on the bridge
# (the workloads' gateway, and its link-local address): such frames are
# dropped and counted in l2_spoof. The addresses come from apply's own
# dump (--oneshot) and from ztsegd per RTM_NEWADDR/DELADDR: an address
# added to br0 while the daemon runs is protected, and freed when it goes.
# Legitimate ARP and ND to and from the host keep working. Controls
# without ztseg show each forged frame arrives.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_node lan eth9 198.51.100.40 2001:db8:1::28 world
ZT_BRIDGED+=(lan)
zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
zt_serve host w1 a1 lan 2>/dev/null || true
H=$(zt_ns host)

mac() { zt_mac "$1" eth0; }
LAN=$(mac lan) W1=$(mac w1) A1=$(mac a1)
# br0's link-local address (the gateway of SLAAC workloads)
zt_wait_for 5000 sh -c "ip -n $H -6 -o addr show dev br0 scope link | grep -q inet6" ||
	zt_die "br0 has no link-local address"
HLL=$(ip -n "$H" -6 -o addr show dev br0 scope link | awk '{ sub("/.*", "", $4); print $4; exit }')
hex6() { python3 -c "import ipaddress, sys; print('0x' + ipaddress.IPv6Address(sys.argv[1]).packed.hex())" "$1"; }
# an IPv6 address as nft lists an element of hownna (typeof @th,64,128: a decimal integer)
dec6() { python3 -c "import ipaddress, sys; print(int(ipaddress.IPv6Address(sys.argv[1])))" "$1"; }
# has SET TEXT: SET's listing holds TEXT (no grep -q in a pipe: pipefail and SIGPIPE)
has() {
	local l
	l=$(ip netns exec "$H" nft list set bridge ztseg "$1" 2>/dev/null || ip netns exec "$H" nft list map bridge ztseg "$1")
	[[ $l == *"$2"* ]]
}
l2() { zt_l2_counter "$1"; }
probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 800 | awk '{ print $2 }'; }

# what w1 receives: claims of the host's addresses by the LAN port and by a1
rx_add w1 lan_arp "arp saddr ip $ZT_HOST_V4 arp saddr ether $LAN"
rx_add w1 lan_na "icmpv6 type nd-neighbor-advert ether saddr $LAN @th,64,128 $(hex6 "$ZT_HOST_V6")"
rx_add w1 a1_arp "arp saddr ip $ZT_HOST_V4 arp saddr ether $A1"
rx_add w1 a1_na_ll "icmpv6 type nd-neighbor-advert ether saddr $A1 @th,64,128 $(hex6 "$HLL")"
rx_add w1 lan_arp2 "arp saddr ip 198.51.100.2 arp saddr ether $LAN"
rx_add w1 lan_na2 "icmpv6 type nd-neighbor-advert ether saddr $LAN @th,64,128 $(hex6 2001:db8:1::2)"
arp_claim() { # NODE MAC ADDRESS
	zt_forge "$1" eth0 "$W1" 5 "ARP(op=2, hwsrc='$2', psrc='$3', hwdst='$W1', pdst='${ZT_V4[w1]}')" >/dev/null
}
na_claim() { # NODE MAC SOURCE TARGET
	zt_forge "$1" eth0 "$W1" 5 "IPv6(src='$3', dst='${ZT_V6[w1]}', hlim=255)/ICMPv6ND_NA(tgt='$4', R=1, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$2')" >/dev/null
}
attacks() {
	arp_claim lan "$LAN" "$ZT_HOST_V4"
	na_claim lan "$LAN" "${ZT_V6[lan]}" "$ZT_HOST_V6"
	arp_claim a1 "$A1" "$ZT_HOST_V4"
	na_claim a1 "$A1" "${ZT_V6[a1]}" "$HLL"
	sleep 0.2
}
claims2() {
	arp_claim lan "$LAN" 198.51.100.2
	na_claim lan "$LAN" "${ZT_V6[lan]}" 2001:db8:1::2
	sleep 0.2
}
# legit HOW: ARP and ND between the host and w1 from empty caches, both ways
legit() {
	ip -n "$H" neigh flush dev br0
	zt_x w1 ip neigh flush dev eth0
	zt_check "$1: host -> w1 ICMP (the host resolves w1)" [ "$(probe host icmp "${ZT_V4[w1]}" 0)" = ok ]
	zt_check "$1: host -> w1 ICMPv6 (the host solicits w1)" [ "$(probe host icmpv6 "${ZT_V6[w1]}" 0)" = ok ]
	ip -n "$H" neigh flush dev br0
	zt_x w1 ip neigh flush dev eth0
	zt_check "$1: w1 -> host tcp/22 (w1 resolves its gateway)" [ "$(probe w1 tcp "$ZT_HOST_V4" 22)" = ok ]
	zt_check "$1: w1 -> host tcp/22 over IPv6 (w1 solicits its gateway)" [ "$(probe w1 tcp "$ZT_HOST_V6" 22)" = ok ]
}

# ---- controls, before ztseg ---------------------------------------------------------
attacks
claims2
for c in lan_arp lan_na a1_arp a1_na_ll lan_arp2 lan_na2; do
	zt_check "control without ztseg: $c reaches w1 ($(rx w1 "$c"))" [ "$(rx w1 "$c")" -ge 5 ]
done
legit "control without ztseg"

# ---- --oneshot: the sets from apply's own address dump ------------------------------
zt_apply "$pol" >/dev/null 2>&1 || zt_die "ztsegd --oneshot failed to apply the bridged policy"
zt_log "oneshot: $(ip netns exec "$H" nft list set bridge ztseg hown4 | tr -s '\t\n' '  ') $(ip netns exec "$H" nft list set bridge ztseg hownna | tr -s '\t\n' '  ')"
zt_check "oneshot: hown4 holds the host's address on br0" has hown4 "$ZT_HOST_V4"
zt_check "oneshot: hownna holds br0's global IPv6" has hownna "$(dec6 "$ZT_HOST_V6")"
zt_check "oneshot: hownna holds br0's link-local IPv6" has hownna "$(dec6 "$HLL")"
# the exact-name twins of the port maps (issue 14: per-frame cost), from the same apply
zt_log "oneshot: $(ip netns exec "$H" nft list map bridge ztseg port_srcx | tr -s '\t\n' '  ')"
zt_check "oneshot: port_srcx holds member port vnet0 by name" has port_srcx '"vnet0" : goto bs_'
zt_check "oneshot: port_dstx holds member port veth-db1 by name" has port_dstx '"veth-db1" : jump bd_'
zt_check "oneshot: the twins hold no port no pattern names (eth9)" bash -c "! ip netns exec $H nft list map bridge ztseg port_srcx | grep -q eth9"
declare -A before
for c in lan_arp lan_na a1_arp a1_na_ll; do before[$c]=$(rx w1 "$c"); done
l0=$(l2 l2_spoof)
attacks
zt_check "oneshot: the LAN port's ARP reply claiming the gateway: none arrives" [ "$(rx w1 lan_arp)" -eq "${before[lan_arp]}" ]
zt_check "oneshot: the LAN port's NA claiming the gateway's IPv6: none arrives" [ "$(rx w1 lan_na)" -eq "${before[lan_na]}" ]
zt_check "oneshot: a1's ARP reply claiming the gateway: none arrives" [ "$(rx w1 a1_arp)" -eq "${before[a1_arp]}" ]
zt_check "oneshot: a1's NA claiming br0's link-local address: none arrives" [ "$(rx w1 a1_na_ll)" -eq "${before[a1_na_ll]}" ]
zt_check "oneshot: all 20 counted in l2_spoof (+$(($(l2 l2_spoof) - ${l0:-0})))" [ $(($(l2 l2_spoof) - ${l0:-0})) -ge 20 ]
legit "oneshot"
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || true

# ---- ztsegd: the sets follow the addresses of br0 -------------------------------------
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level debug
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
for c in lan_arp lan_na a1_arp a1_na_ll; do before[$c]=$(rx w1 "$c"); done
l0=$(l2 l2_spoof)
attacks
zt_check "daemon: no claim of the host's addresses arrives" \
	[ "$(rx w1 lan_arp)" -eq "${before[lan_arp]}" ] && [ "$(rx w1 lan_na)" -eq "${before[lan_na]}" ] &&
	[ "$(rx w1 a1_arp)" -eq "${before[a1_arp]}" ] && [ "$(rx w1 a1_na_ll)" -eq "${before[a1_na_ll]}" ]
zt_check "daemon: counted in l2_spoof (+$(($(l2 l2_spoof) - ${l0:-0})))" [ $(($(l2 l2_spoof) - ${l0:-0})) -ge 20 ]
from=$(wc -l <"$DLOG")
ip -n "$H" addr add 198.51.100.2/24 dev br0
ip -n "$H" addr add 2001:db8:1::2/64 dev br0 nodad
zt_check "daemon: a new address of br0 is in hown4 (RTM_NEWADDR)" zt_wait_for 3000 has hown4 198.51.100.2
zt_check "daemon: a new IPv6 address of br0 is in hownna" zt_wait_for 3000 has hownna "$(dec6 2001:db8:1::2)"
lat=$(tail -n +"$((from + 1))" "$DLOG" | grep -m1 'event to enforcement:.* [12] host address\(es\)\? on bridges' || true)
zt_log "daemon: the address's event: ${lat:-no latency line}"
zt_check "daemon: the address's event to enforcement is timed (host addresses on bridges)" [ -n "$lat" ]
a2=$(rx w1 lan_arp2) n2=$(rx w1 lan_na2) l0=$(l2 l2_spoof)
claims2
zt_check "daemon: the LAN port's claims of the new addresses: none arrives" \
	[ "$(rx w1 lan_arp2)" -eq "$a2" ] && [ "$(rx w1 lan_na2)" -eq "$n2" ]
zt_check "  ... counted in l2_spoof (+$(($(l2 l2_spoof) - ${l0:-0})))" [ $(($(l2 l2_spoof) - ${l0:-0})) -ge 10 ]
ip -n "$H" addr del 198.51.100.2/24 dev br0
ip -n "$H" addr del 2001:db8:1::2/64 dev br0
hasnt() { ! has "$@"; }
zt_check "daemon: a removed address leaves hown4 (RTM_DELADDR)" zt_wait_for 3000 hasnt hown4 "198.51.100.2 "
zt_check "daemon: a removed IPv6 address leaves hownna" zt_wait_for 3000 hasnt hownna "$(dec6 2001:db8:1::2)"
a2=$(rx w1 lan_arp2) n2=$(rx w1 lan_na2)
claims2
zt_check "daemon: once the host no longer has them, the same frames arrive again" \
	[ "$(rx w1 lan_arp2)" -ge $((a2 + 5)) ] && [ "$(rx w1 lan_na2)" -ge $((n2 + 5)) ]
zt_check "daemon: the gateway is still protected" has hown4 "$ZT_HOST_V4"
legit "daemon"
ip -n "$H" link add veth-app9 type veth peer name eth0x
ip -n "$H" link set veth-app9 master br0 up
zt_check "daemon: a new member port is in port_srcx by name (link event)" zt_wait_for 3000 has port_srcx '"veth-app9" : goto bs_'
ip -n "$H" link del veth-app9
zt_check "daemon: and gone with its link" zt_wait_for 3000 hasnt port_srcx '"veth-app9"'
zt_log "daemon: $(grep -c tampering "$DLOG") lines on tampering"
zt_check "daemon: its own updates of hown4/hownna are not taken for tampering" bash -c "! grep -q tampering '$DLOG'"
zt_check "daemon: it logged the updates" grep -q 'host addresses on bridges' "$DLOG"
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || true
zt_finish
