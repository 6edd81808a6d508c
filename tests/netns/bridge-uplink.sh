#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Ports of a bridge with member ports whose names match no segment (issue
# 14, Build 4): a Proxmox vmbr0's uplink eth0 and the LAN behind it. They
# are not members (the kernel classifies ports by pattern from the first
# frame; a name no pattern matches is never a member), so by SPEC's scope
# they are judged by address like any other non-member interface:
#   - between two such ports (no member on either side) traffic is out of
#     scope with `scope: members` and keeps working (the uplink); with
#     `scope: all` it is judged (world → world: hub.default);
#   - to a member port: a new connection needs a flow for its zone
#     (world here), replies of allowed ones pass;
#   - it can never pose as a member: a segment's source address, an ARP
#     or NA claim of a segment's address, tagged or non-IP frames to a member
#     port — dropped and counted.
# Controls without ztseg show the same frames arrive.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

# two LAN hosts behind ports no pattern names (eth9: the uplink, eth8)
zt_node lan  eth9 198.51.100.40 2001:db8:1::28 world
zt_node lan2 eth8 198.51.100.41 2001:db8:1::29 world
ZT_BRIDGED+=(lan lan2)
zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
zt_serve host w1 a1 d1 lan lan2 2>/dev/null || true

mac() { zt_mac "$1" eth0; }
LAN=$(mac lan) D1=$(mac d1) W1=$(mac w1)
l2() { zt_l2_counter "$1"; }
probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 800 | awk '{ print $2 }'; }
spoofed() { zt_nft list counter inet ztseg spoofs 2>/dev/null | sed -nE 's/.*packets ([0-9]+).*/\1/p'; }

rx_add d1 as_app "ip saddr ${ZT_V4[a1]} tcp dport 5432"
rx_add d1 arp_claim "arp saddr ip ${ZT_V4[a1]} arp saddr ether $LAN"
rx_add d1 na_claim "icmpv6 type nd-neighbor-advert ether saddr $LAN @th,64,128 0x20010db8000100000000000000000011"
rx_add d1 tagged "ether saddr $LAN ether type != { arp, ip, ip6 }"
# attacks from the LAN port: a1's address to d1 (app -> db.primary is a
# flow), an ARP reply claiming a1's address, a VLAN 0 frame
attacks() {
	zt_forge lan eth0 "$D1" 5 "IP(src='${ZT_V4[a1]}', dst='${ZT_V4[d1]}')/TCP(sport=40000, dport=5432, flags='S')" >/dev/null
	zt_forge lan eth0 "$D1" 5 "ARP(op=2, hwsrc='$LAN', psrc='${ZT_V4[a1]}', hwdst='$D1', pdst='${ZT_V4[d1]}')" >/dev/null
	zt_forge lan eth0 "$D1" 5 "IPv6(src='${ZT_V6[lan]}', dst='${ZT_V6[d1]}', hlim=255)/ICMPv6ND_NA(tgt='${ZT_V6[a1]}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$LAN')" >/dev/null
	zt_forge lan eth0 "$D1" 5 "Ether(src='$LAN', dst='$D1')/Dot1Q(vlan=0)/IP(src='${ZT_V4[lan]}', dst='${ZT_V4[d1]}')/UDP(sport=1, dport=9998)" >/dev/null
	sleep 0.2
}

# ---- controls, before ztseg -----------------------------------------------------
attacks
zt_check "control without ztseg: a1's address from the LAN port reaches d1 ($(rx d1 as_app))" [ "$(rx d1 as_app)" -ge 5 ]
zt_check "control without ztseg: the ARP claim reaches d1 ($(rx d1 arp_claim))" [ "$(rx d1 arp_claim)" -ge 5 ]
zt_check "control without ztseg: the NA claiming a1's IPv6 reaches d1 ($(rx d1 na_claim))" [ "$(rx d1 na_claim)" -ge 5 ]
zt_check "control without ztseg: the VLAN 0 frame reaches d1 ($(rx d1 tagged))" [ "$(rx d1 tagged)" -ge 5 ]
zt_check "control without ztseg: lan -> w1 tcp/80 passes" [ "$(probe lan tcp "${ZT_V4[w1]}" 80)" = ok ]

zt_apply "$pol" >/dev/null 2>&1 || zt_die "ztsegd --oneshot failed to apply the bridged policy"
zt_check "explain: a port no pattern names is judged by address (world)" \
	sh -c "'$ZT_CTL' explain --config '$pol' iface:eth9,${ZT_V4[lan]} ${ZT_V4[w1]} tcp/80 | grep -q 'world'"

# ---- scope: members — the uplink keeps working ----------------------------------
for v in 4 6; do
	if [[ $v == 4 ]]; then a=${ZT_V4[lan2]} w=${ZT_V4[w1]} d=${ZT_V4[d1]}; else a=${ZT_V6[lan2]} w=${ZT_V6[w1]} d=${ZT_V6[d1]}; fi
	zt_check "scope members, IPv$v: lan -> lan2 tcp/80 (no member on either side) passes" [ "$(probe lan tcp "$a" 80)" = ok ]
	zt_check "scope members, IPv$v: lan -> lan2 udp/53 passes" [ "$(probe lan udp "$a" 53)" = ok ]
	zt_check "scope members, IPv$v: lan -> w1 tcp/80 (world -> web, no flow) denied" [ "$(probe lan tcp "$w" 80)" = timeout ]
	zt_check "scope members, IPv$v: lan -> d1 tcp/5432 (world is not the internet boundary) denied" \
		[ "$(probe lan tcp "$d" 5432)" = timeout ]
	zt_check "scope members, IPv$v: w1 -> lan tcp/80 (web -> world, no flow) denied" \
		[ "$(probe w1 tcp "$( [[ $v == 4 ]] && echo "${ZT_V4[lan]}" || echo "${ZT_V6[lan]}")" 80)" = timeout ]
done
zt_check "scope members: lan -> host tcp/22 (protect-host, world has no flow) denied" \
	[ "$(probe lan tcp "$ZT_HOST_V4" 22)" = timeout ]

# ---- posing as a member ----------------------------------------------------------
r1=$(rx d1 as_app) r2=$(rx d1 arp_claim) r3=$(rx d1 tagged) r4=$(rx d1 na_claim) s0=$(spoofed) l0=$(l2 l2_spoof) f0=$(l2 l2_frame)
attacks
zt_check "from the LAN port, a1's source address to d1: none arrives ($(($(rx d1 as_app) - r1)))" [ "$(rx d1 as_app)" -eq "$r1" ]
zt_check "  ... dropped as spoofed in inet ztseg (+$(($(spoofed) - ${s0:-0})))" [ $(($(spoofed) - ${s0:-0})) -ge 5 ]
zt_check "from the LAN port, an ARP reply claiming a1's address: none arrives" [ "$(rx d1 arp_claim)" -eq "$r2" ]
zt_check "from the LAN port, an unsolicited NA claiming a1's IPv6: none arrives" [ "$(rx d1 na_claim)" -eq "$r4" ]
zt_check "  ... both counted in l2_spoof (+$(($(l2 l2_spoof) - ${l0:-0})))" [ $(($(l2 l2_spoof) - ${l0:-0})) -ge 10 ]
zt_check "from the LAN port, a VLAN 0 frame to d1: none arrives" [ "$(rx d1 tagged)" -eq "$r3" ]
zt_check "  ... counted in l2_frame (+$(($(l2 l2_frame) - ${f0:-0})))" [ $(($(l2 l2_frame) - ${f0:-0})) -ge 5 ]
zt_check "the members themselves still work: a1 -> d1 tcp/5432" [ "$(probe a1 tcp "${ZT_V4[d1]}" 5432)" = ok ]
zt_check "ARP between the LAN ports still works (lan -> lan2 after flushing lan's cache)" \
	sh -c "ip -n $(zt_ns lan) neigh flush dev eth0; echo '1 icmp - ${ZT_V4[lan2]} 0' | nsenter --net=/run/netns/$(zt_ns lan) '$ZT_PROBE' batch -w 800 | grep -q ' ok'"

# ---- a flow for world opens a member to the LAN, and no more ---------------------
sed -i 's/^    - { from: db, to: internet, ports: \[tcp\/443\] }/&\n    - { from: world, to: web, ports: [tcp\/80] }/' "$pol/ztseg.yaml"
zt_apply "$pol" >/dev/null 2>&1 || zt_die "the policy with world -> web did not apply"
zt_check "world -> web tcp/80: lan -> w1 tcp/80 passes" [ "$(probe lan tcp "${ZT_V4[w1]}" 80)" = ok ]
zt_check "world -> web tcp/80: lan -> a1 tcp/80 still denied" [ "$(probe lan tcp "${ZT_V4[a1]}" 80)" = timeout ]

# ---- scope: all — everything forwarded is judged, the LAN ports too ---------------
sed -i 's/^  default: drop/  default: drop\n  scope: all/' "$pol/ztseg.yaml"
zt_apply "$pol" >/dev/null 2>&1 || zt_die "the policy with scope: all did not apply"
zt_check "scope all: lan -> lan2 tcp/80 (world -> world, no flow) denied" [ "$(probe lan tcp "${ZT_V4[lan2]}" 80)" = timeout ]
zt_check "scope all: lan -> w1 tcp/80 (world -> web flow) passes" [ "$(probe lan tcp "${ZT_V4[w1]}" 80)" = ok ]
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || true
zt_finish
