#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bridged workloads at layer 2 (issue 14), with forged frames (scapy):
# spoofing from a bridge port (another workload's IP source, UDP and TCP, ARP reply and
# gratuitous ARP for another's IPv4, unsolicited NA for another's IPv6, a
# foreign source MAC, a rogue DHCP offer and RA) is dropped and counted,
# and legitimate ARP and ND between allowed peers still work; frames that
# are not untagged ARP/IPv4/IPv6 (802.1Q VLAN 0 and 5, 802.1ad, PPPoE
# discovery, LLC/SNAP) from one segment's port to another's are dropped
# and counted; unknown-unicast flooding reaches only the zone a flow
# allows. Each attack is checked at the victim (nothing arrives) and in
# table bridge ztseg's counter.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
zt_serve host "${ZT_NODES[@]}" 2>/dev/null || true

mac() { zt_mac "$1" eth0; }
W1=$(mac w1) W2=$(mac w2) A1=$(mac a1) D1=$(mac d1)

# rx NODE NAME MATCH...: count frames arriving on NODE's eth0 (netdev ingress, before anything else).
l2() { zt_l2_counter "$1"; }

probe() { # NODE PROTO DST PORT: one probe's result
	echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 800 | awk '{ print $2 }'
}

# Control, before ztseg: the victims' counters do see such frames (the test can fail).
rx_add w2 control_ip "ip saddr ${ZT_V4[a1]} udp dport 9999"
rx_add w2 control_tcp "ip saddr ${ZT_V4[a1]} tcp dport 9999"
rx_add a1 control_vlan "ether saddr $W1 ether type != { arp, ip, ip6 }"
zt_forge w1 eth0 "$W2" 2 "IP(src='${ZT_V4[a1]}', dst='${ZT_V4[w2]}')/UDP(sport=1234, dport=9999)" >/dev/null
zt_forge w1 eth0 "$A1" 2 "Ether(src='$W1', dst='$A1')/Dot1Q(vlan=0)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/UDP(sport=1, dport=9998)" >/dev/null
zt_forge w1 eth0 "$W2" 2 "IP(src='${ZT_V4[a1]}', dst='${ZT_V4[w2]}')/TCP(sport=1234, dport=9999, flags='S')" >/dev/null
sleep 0.2
zt_check "control without ztseg: a spoofed source reaches w2 ($(rx w2 control_ip))" [ "$(rx w2 control_ip)" -ge 2 ]
zt_check "control without ztseg: a spoofed TCP source reaches w2 ($(rx w2 control_tcp))" [ "$(rx w2 control_tcp)" -ge 2 ]
zt_check "control without ztseg: a VLAN 0 frame reaches a1 ($(rx a1 control_vlan))" [ "$(rx a1 control_vlan)" -ge 2 ]
zt_apply "$pol" >/dev/null 2>&1 || zt_die "ztsegd --oneshot failed to apply the bridged policy"

# Legitimate traffic first: every port binds its MAC, ARP and ND resolve.
zt_check "w1 -> w2 ICMP (same segment) before the attacks" [ "$(probe w1 icmp "${ZT_V4[w2]}" 0)" = ok ]
zt_check "w1 -> a1 tcp/80 (web -> app) before the attacks" [ "$(probe w1 tcp "${ZT_V4[a1]}" 80)" = ok ]
zt_check "a1 -> d1 tcp/5432 (app -> db.primary)" [ "$(probe a1 tcp "${ZT_V4[d1]}" 5432)" = ok ]
zt_check "w1 -> w2 ICMPv6" [ "$(probe w1 icmp "${ZT_V6[w2]}" 0)" = ok ]

# attack NAME COUNT VICTIM RXMATCH EXPR: w1 sends COUNT frames; the victim
# must see none of them and l2_spoof must grow by at least COUNT.
attack() {
	local name=$1 count=$2 victim=$3 match=$4 expr=$5 s0 s1 got
	rx_add "$victim" "$name" "$match"
	s0=$(l2 l2_spoof)
	zt_forge w1 eth0 "${6:-ff:ff:ff:ff:ff:ff}" "$count" "$expr" >/dev/null
	sleep 0.2
	s1=$(l2 l2_spoof)
	got=$(rx "$victim" "$name")
	zt_check "$name: dropped ($got of $count reached $victim)" [ "$got" -eq 0 ]
	zt_check "$name: counted in l2_spoof (+$((s1 - s0)))" [ $((s1 - s0)) -ge "$count" ]
}

attack ip-source 5 w2 "ip saddr ${ZT_V4[a1]} udp dport 9999" \
	"IP(src='${ZT_V4[a1]}', dst='${ZT_V4[w2]}')/UDP(sport=1234, dport=9999)" "$W2"
attack ip6-source 5 w2 "ip6 saddr ${ZT_V6[a1]} udp dport 9999" \
	"IPv6(src='${ZT_V6[a1]}', dst='${ZT_V6[w2]}')/UDP(sport=1234, dport=9999)" "$W2"
# TCP too: bs_<rest> accepts TCP from the segment's prefix itself (one rule, no lookup), the rest as UDP
attack ip-source-tcp 5 w2 "ip saddr ${ZT_V4[a1]} tcp dport 9999" \
	"IP(src='${ZT_V4[a1]}', dst='${ZT_V4[w2]}')/TCP(sport=1234, dport=9999, flags='S')" "$W2"
attack ip6-source-tcp 5 w2 "ip6 saddr ${ZT_V6[a1]} tcp dport 9999" \
	"IPv6(src='${ZT_V6[a1]}', dst='${ZT_V6[w2]}')/TCP(sport=1234, dport=9999, flags='S')" "$W2"
attack arp-reply 5 w2 "arp operation reply arp saddr ip ${ZT_V4[a1]}" \
	"ARP(op=2, hwsrc='$W1', psrc='${ZT_V4[a1]}', hwdst='$W2', pdst='${ZT_V4[w2]}')" "$W2"
attack arp-gratuitous 5 w2 "arp operation request arp saddr ip ${ZT_V4[a1]}" \
	"ARP(op=1, hwsrc='$W1', psrc='${ZT_V4[a1]}', hwdst='00:00:00:00:00:00', pdst='${ZT_V4[a1]}')"
attack arp-sender-mac 5 w2 "arp saddr ether $A1" \
	"ARP(op=2, hwsrc='$A1', psrc='${ZT_V4[w1]}', hwdst='$W2', pdst='${ZT_V4[w2]}')" "$W2"
attack unsolicited-na 5 w2 "icmpv6 type nd-neighbor-advert @th,64,128 0x20010db8000000010000000000000011" \
	"IPv6(src='${ZT_V6[w1]}', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='${ZT_V6[a1]}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$W1')" \
	33:33:00:00:00:01
attack foreign-mac 5 w2 "ether saddr 02:00:00:00:66:66" \
	"Ether(src='02:00:00:00:66:66', dst='$W2')/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[w2]}')/UDP(sport=1, dport=9999)"
attack foreign-mac-of-a1 5 w2 "ether saddr $A1" \
	"Ether(src='$A1', dst='$W2')/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[w2]}')/UDP(sport=1, dport=9999)"
attack dhcp-offer 5 w2 "udp sport 67" \
	"IP(src='${ZT_V4[w1]}', dst='255.255.255.255')/UDP(sport=67, dport=68)/BOOTP(op=2, yiaddr='${ZT_V4[w2]}')/DHCP(options=[('message-type', 'offer'), 'end'])"
attack dhcpv6-advertise 5 w2 "udp sport 547" \
	"IPv6(src='fe80::1', dst='ff02::1:2')/UDP(sport=547, dport=546)/Raw(b'\\x02\\x00\\x00\\x01')" 33:33:00:01:00:02
attack router-advert 5 w2 "icmpv6 type nd-router-advert" \
	"IPv6(src='fe80::1', dst='ff02::1', hlim=255)/ICMPv6ND_RA()" 33:33:00:00:00:01

# The victims' caches hold no lie.
zt_check "w2's neighbour entry for a1's IPv4 is not w1's MAC" \
	sh -c "! nsenter --net=/run/netns/$(zt_ns w2) ip neigh show ${ZT_V4[a1]} | grep -qi '$W1'"
zt_check "w2 has no default router from the rogue RA" \
	sh -c "! nsenter --net=/run/netns/$(zt_ns w2) ip -6 route show default | grep -q fe80::1"

# Legitimate ARP and ND between allowed peers, from empty caches.
for n in w1 w2 a1; do zt_x "$n" ip neigh flush dev eth0; done
zt_check "after the attacks: w1 -> w2 ICMP (ARP anew)" [ "$(probe w1 icmp "${ZT_V4[w2]}" 0)" = ok ]
zt_check "after the attacks: w1 -> w2 ICMPv6 (ND anew)" [ "$(probe w1 icmp "${ZT_V6[w2]}" 0)" = ok ]
zt_check "after the attacks: w1 -> a1 tcp/80 (ARP anew)" [ "$(probe w1 tcp "${ZT_V4[a1]}" 80)" = ok ]
zt_check "after the attacks: w1 -> a1 ICMPv6 (ND anew)" [ "$(probe w1 icmp "${ZT_V6[a1]}" 0)" = ok ]
zt_check "w2 learnt w1's real MAC" sh -c "nsenter --net=/run/netns/$(zt_ns w2) ip neigh show ${ZT_V4[w1]} | grep -qi '$W1'"

# ---- frames that are not untagged ARP, IPv4 or IPv6 --------------------------
# From w1 (web) to a1 (app): whatever arrives at a1 from w1's MAC that is not
# ARP/IPv4/IPv6 is counted there.
rx_add a1 nonip "ether saddr $W1 ether type != { arp, ip, ip6 }"
rx_add a1 nonip_ip "ether saddr $W1 udp dport 9998"
frames=(
	"Ether(src='$W1', dst='$A1')/Dot1Q(vlan=0)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/UDP(sport=1, dport=9998)"
	"Ether(src='$W1', dst='$A1')/Dot1Q(vlan=5)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/UDP(sport=1, dport=9998)"
	"Ether(src='$W1', dst='$A1')/Dot1Q(vlan=0)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/TCP(sport=1, dport=9998, flags='S')"
	"Ether(src='$W1', dst='$A1')/Dot1Q(vlan=0)/IPv6(src='${ZT_V6[w1]}', dst='${ZT_V6[a1]}')/TCP(sport=1, dport=9998, flags='S')"
	"Ether(src='$W1', dst='$A1', type=0x88a8)/Dot1AD(vlan=5)/Dot1Q(vlan=6)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/UDP(sport=1, dport=9998)"
	"Ether(src='$W1', dst='$A1')/PPPoED()"
	"Ether(src='$W1', dst='$A1')/LLC(dsap=0xaa, ssap=0xaa, ctrl=3)/SNAP(OUI=0, code=0x0800)/IP(src='${ZT_V4[w1]}', dst='${ZT_V4[a1]}')/UDP(sport=1, dport=9998)"
	"Ether(src='$W1', dst='01:80:c2:00:00:00')/LLC(dsap=0x42, ssap=0x42, ctrl=3)/Raw(b'\\x00' * 35)"
)
# (the TCP ones: the IPv4/IPv6 TCP rules of mtype test the ether type too)
names=(vlan0 vlan5 vlan0-tcp vlan0-tcp6 qinq pppoe-discovery llc-snap stp-bpdu)
for i in "${!frames[@]}"; do
	f0=$(l2 l2_frame) r0=$(rx a1 nonip)
	zt_forge w1 eth0 "$A1" 5 "${frames[$i]}" >/dev/null
	sleep 0.2
	f1=$(l2 l2_frame) r1=$(rx a1 nonip)
	zt_check "${names[$i]}: nothing reaches a1 ($((r1 - r0)) frames)" [ $((r1 - r0)) -eq 0 ]
	zt_check "${names[$i]}: counted in l2_frame (+$((f1 - f0)))" [ $((f1 - f0)) -ge 5 ]
done
zt_check "no tagged or encapsulated UDP reached a1's stack" [ "$(rx a1 nonip_ip)" -eq 0 ]
# The same TCP in VLAN 0 to the host (br0's MAC): delivered up, never forwarded, so only
# bridge prerouting can drop it (bs_<rest>'s TCP rules test the ether type, then mtype).
BR0=$(zt_mac host br0)
for v in 4 6; do
	if [[ $v == 4 ]]; then ipl="IP(src='${ZT_V4[w1]}', dst='198.51.100.1')"; else ipl="IPv6(src='${ZT_V6[w1]}', dst='${ZT_V6[a1]}')"; fi
	f0=$(l2 l2_frame)
	zt_forge w1 eth0 "$BR0" 5 "Ether(src='$W1', dst='$BR0')/Dot1Q(vlan=0)/$ipl/TCP(sport=1, dport=9998, flags='S')" >/dev/null
	sleep 0.2
	f1=$(l2 l2_frame)
	zt_check "vlan0-tcp$v to the host: dropped in bridge prerouting, counted in l2_frame (+$((f1 - f0)))" [ $((f1 - f0)) -ge 5 ]
done

# ---- unknown-unicast flooding --------------------------------------------------
# a1 (app) sends to d1's address with a MAC the bridge does not know: the
# frame is flooded to w1, w2 (web) and d1 (db). app -> db.primary tcp/5432
# is a flow, app -> web is none: only d1 may see it. d1 (db) then floods
# udp/9997 to a1's address: db -> app and db -> web are no flows: nobody.
for n in w1 w2 d1 a1; do rx_add "$n" flood_tcp "tcp dport 5432 ether daddr 02:00:00:00:99:99"; done
for n in w1 w2 d1 a1; do rx_add "$n" flood_udp "udp dport 9997 ether daddr 02:00:00:00:99:98"; done
zt_forge a1 eth0 02:00:00:00:99:99 3 \
	"IP(src='${ZT_V4[a1]}', dst='${ZT_V4[d1]}')/TCP(sport=40123, dport=5432, flags='S')" >/dev/null
zt_forge d1 eth0 02:00:00:00:99:98 3 \
	"IP(src='${ZT_V4[d1]}', dst='${ZT_V4[a1]}')/UDP(sport=40124, dport=9997)" >/dev/null
sleep 0.3
zt_check "flood app -> db.primary tcp/5432: d1 (the flow's zone) gets it ($(rx d1 flood_tcp))" [ "$(rx d1 flood_tcp)" -ge 1 ]
zt_check "flood app -> db.primary tcp/5432: w1 (web, no flow) does not ($(rx w1 flood_tcp))" [ "$(rx w1 flood_tcp)" -eq 0 ]
zt_check "flood app -> db.primary tcp/5432: w2 (web, no flow) does not ($(rx w2 flood_tcp))" [ "$(rx w2 flood_tcp)" -eq 0 ]
for n in w1 w2 a1; do
	zt_check "flood db -> udp/9997 (no flow): $n does not get it ($(rx "$n" flood_udp))" [ "$(rx "$n" flood_udp)" -eq 0 ]
done
zt_finish
