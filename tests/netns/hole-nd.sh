#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 10, hole 4: neighbour discovery and MLD are link-local: never
# forwarded between segments, accepted to and from the host only as what
# they are.
#
#   a ── va1 ──┐
#              ├── host (protect-host: true)
#   b ── vb1 ──┘
#
# Segments a and b, no flow between them. Workload a sends b (b's global
# address: the host would route it) router and neighbour solicitations,
# neighbour advertisements, MLD queries, reports and dones with an
# arbitrary payload (forged with scapy): none may reach b (counted in b's
# own namespace), and explain must deny them. Without ztseg's table they
# do arrive (the control at the end). The legitimate side: ping between
# the host and a after both neighbour caches are flushed (ND to and from
# the host), DAD of a new address on a completes, and DAD of a duplicate of
# the host's own address is detected (the host answers the solicitation
# from ::). A neighbour solicitation or MLD report to the host that is not
# what ND/MLD looks like (hop limit 64, a global source for MLD) is judged
# like any other packet to the host: no flow allows it, so it does not get
# past ztseg's input chain; the real thing (hop limit 255; MLD with hop
# limit 1 from a link-local source) does.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_need_py
zt_init

#       name  interface  IPv4           IPv6
zt_node a     va1        198.51.100.10  2001:db8:a::10  a
zt_node b     vb1        198.51.100.20  2001:db8:b::20  b
zt_ns_add host
zt_forwarding host
for n in a b; do
	zt_ns_add "$n"
	zt_node_link host "$n" "$n"
done
VA1_MAC=$(zt_mac host va1)
[[ -n $VA1_MAC ]] || zt_die "no MAC address on va1"
A6=${ZT_V6[a]} B6=${ZT_V6[b]}

pol=$ZT_TMP/policy
mkdir -m 0755 "$pol"
cat >"$pol/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  scope: members
  rpf: strict
  protect-host: true
  flows:
    - { name: a-ping-host, from: a, to: host, ports: [icmpv6/echo-request, icmp/echo-request] }
    - { name: host-ping-a, from: host, to: a, ports: [icmpv6/echo-request, icmp/echo-request] }
segments:
  a:
    interfaces: ["va1"]
    addresses: [198.51.100.10/32, "2001:db8:a::/64"]
  b:
    interfaces: ["vb1"]
    addresses: [198.51.100.20/32, "2001:db8:b::/64"]
EOF
chmod 0644 "$pol/ztseg.yaml"
zt_apply "$pol" || zt_die "ztsegd --oneshot failed"

count=3
pad="Raw(b'covert channel between segments ' * 4)"
# "NAME NFT-TYPE EXPLAIN-TYPE SCAPY-LAYERS": what a forges to b.
forged=(
	"rs nd-router-solicit nd-router-solicit IPv6(src='$A6', dst='$B6', hlim=255)/ICMPv6ND_RS()/$pad"
	"ns nd-neighbor-solicit nd-neighbor-solicit IPv6(src='$A6', dst='$B6', hlim=255)/ICMPv6ND_NS(tgt='$B6')/$pad"
	"na nd-neighbor-advert nd-neighbor-advert IPv6(src='$A6', dst='$B6', hlim=255)/ICMPv6ND_NA(tgt='$A6', R=0, S=1, O=1)/$pad"
	"mldq mld-listener-query mld-listener-query IPv6(src='$A6', dst='$B6', hlim=64)/ICMPv6MLQuery()/$pad"
	"mldr mld-listener-report mld-listener-report IPv6(src='$A6', dst='$B6', hlim=64)/ICMPv6MLReport(mladdr='ff02::1:3')/$pad"
	"mldd mld-listener-done mld-listener-done IPv6(src='$A6', dst='$B6', hlim=64)/ICMPv6MLDone(mladdr='ff02::1:3')/$pad"
	"mld2 mld2-listener-report mld2-listener-report IPv6(src='$A6', dst='$B6', hlim=64)/ICMPv6MLReport2()/$pad"
)
for f in "${forged[@]}"; do
	read -r name type _ <<<"$f"
	zt_obs_add b prerouting "f_$name" ip6 saddr "$A6" icmpv6 type "$type"
done

# send_forged: every kind once more; OUT gets "NAME ARRIVED" lines.
send_forged() {
	local f name type xtype expr n0
	for f in "${forged[@]}"; do
		read -r name type xtype expr <<<"$f"
		n0=$(zt_obs b "f_$name")
		zt_forge a eth0 "$VA1_MAC" "$count" "$expr" >/dev/null
		sleep 0.2
		echo "$name $xtype $(($(zt_obs b "f_$name") - n0))"
	done
}

# allows FROM TO PROTO/TYPE: explain (offline) allows it.
allows() { "$ZT_CTL" explain --config "$pol" "$@" >/dev/null 2>&1; }
while read -r name xtype got; do
	zt_check "a -> b (forwarded) $xtype with a payload: did not reach b ($got of $count)" [ "$got" -eq 0 ]
	zt_check "explain denies a -> b $xtype" ! allows "iface:va1,$A6" "iface:vb1,$B6" "icmpv6/$xtype"
done < <(send_forged)

# ---- the host: ND works, DAD works, look-alikes are judged -----------------------

# Ping both ways with empty neighbour caches: the host and a must resolve
# each other through ND on va1.
zt_x host ip -6 neigh flush dev va1
zt_x a ip -6 neigh flush dev eth0
res=$(zt_x a "$ZT_PROBE" ping -c 5 -i 100 -w 1000 - "$ZT_GW_V6")
zt_check "ND: a pings the host after both neighbour caches were flushed ($res)" grep -q 'received 5 ' <<<"$res"
zt_x host ip -6 neigh flush dev va1
zt_x a ip -6 neigh flush dev eth0
res=$(zt_x host "$ZT_PROBE" ping -c 5 -i 100 -w 1000 - "$A6")
zt_check "ND: the host pings a after both neighbour caches were flushed ($res)" grep -q 'received 5 ' <<<"$res"
zt_check "ND: the host's neighbour entry for a on va1 was resolved" \
	grep -qE 'lladdr .* (REACHABLE|STALE|DELAY|PROBE)' <<<"$(zt_x host ip -6 neigh show "$A6" dev va1)"

# DAD on a (accept_dad on its eth0 only): a new address completes, and a
# duplicate of the host's own address on va1 is detected.
zt_x a sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/accept_dad'
addr_state() { zt_x a ip -6 addr show dev eth0 to "$1/128"; }
tentative_gone() { local s; s=$(addr_state "$1"); [[ -n $s && $s != *tentative* ]]; }
dadfailed() { [[ $(addr_state "$1") == *dadfailed* ]]; }
zt_x a ip -6 addr add 2001:db8:a::99/128 dev eth0
zt_check "DAD: a's new address 2001:db8:a::99 becomes usable (not tentative)" \
	zt_wait_for 5000 tentative_gone 2001:db8:a::99
zt_x a ip -6 addr add "$ZT_GW_V6/128" dev eth0
zt_check "DAD: a's duplicate of the host's $ZT_GW_V6 is detected (dadfailed)" \
	zt_wait_for 5000 dadfailed "$ZT_GW_V6"
zt_x a ip -6 addr del "$ZT_GW_V6/128" dev eth0 || true
zt_x a ip -6 addr del 2001:db8:a::99/128 dev eth0 || true
zt_x a sh -c 'echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad'

# Look-alikes to the host, counted after ztseg's input chain. Each kind is
# told apart from the kernel's own ND by its payload length.
A_LL=$(zt_x a ip -6 addr show dev eth0 scope link | sed -nE 's/.*inet6 (fe80::[0-9a-f:]+)\/64.*/\1/p' | head -1)
[[ -n $A_LL ]] || zt_die "a has no link-local address"
zt_obs_add host input ns64 ip6 saddr "$A6" icmpv6 type nd-neighbor-solicit ip6 hoplimit 64 ip6 length 152
zt_obs_add host input ns255 ip6 saddr "$A6" icmpv6 type nd-neighbor-solicit ip6 hoplimit 255 ip6 length 152
zt_obs_add host input mld64 ip6 saddr "$A6" icmpv6 type mld-listener-report
zt_obs_add host input mld1 ip6 saddr "$A_LL" icmpv6 type mld-listener-report
lookalike() { # NAME DST-MAC EXPR: COUNT of them; prints how many got past ztseg
	local n0
	n0=$(zt_obs host "$1")
	zt_forge a eth0 "$2" "$count" "$3" >/dev/null
	sleep 0.2
	echo $(($(zt_obs host "$1") - n0))
}
ns="ICMPv6ND_NS(tgt='$ZT_GW_V6')/$pad"
# dropped: what ztseg counted as dropped so far (by the default verdict, or
# as a packet conntrack cannot track: an NS starts no connection).
dropped() {
	local c n sum=0
	for c in drops invalid untracked; do
		n=$(zt_counter "$c" || true)
		sum=$((sum + ${n:-0}))
	done
	echo "$sum"
}
d0=$(dropped)
got=$(lookalike ns64 "$VA1_MAC" "IPv6(src='$A6', dst='$ZT_GW_V6', hlim=64)/$ns")
d1=$(dropped)
zt_check "host: a neighbour solicitation with hop limit 64 is not accepted as ND ($got of $count got past ztseg)" \
	[ "$got" -eq 0 ]
zt_check "host: ... ztseg dropped and counted it (drops + invalid + untracked +$((d1 - d0)))" \
	[ $((d1 - d0)) -ge "$count" ]
got=$(lookalike ns255 "$VA1_MAC" "IPv6(src='$A6', dst='$ZT_GW_V6', hlim=255)/$ns")
zt_check "host: the same solicitation with hop limit 255 is accepted ($got of $count)" [ "$got" -eq "$count" ]
got=$(lookalike mld64 "$VA1_MAC" \
	"IPv6(src='$A6', dst='$ZT_GW_V6', hlim=64)/ICMPv6MLReport(mladdr='ff02::1')/$pad")
zt_check "host: an MLD report with hop limit 64 from a global source is not accepted as MLD ($got of $count)" \
	[ "$got" -eq 0 ]
got=$(lookalike mld1 33:33:00:00:00:01 \
	"IPv6(src='$A_LL', dst='ff02::1', hlim=1)/IPv6ExtHdrHopByHop(options=RouterAlert())/ICMPv6MLReport(mladdr='ff02::1')")
zt_check "host: an MLD report with hop limit 1 from a's link-local address is accepted ($got of $count)" \
	[ "$got" -eq "$count" ]

# The control: without ztseg's table the forged packets reach b.
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || zt_nft delete table inet ztseg
while read -r name xtype got; do
	zt_check "control without ztseg: a -> b $xtype arrives ($got of $count)" [ "$got" -eq "$count" ]
done < <(send_forged)

zt_finish
