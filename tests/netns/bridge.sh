#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bridged workloads (issue 14): four workloads in three segments on ports
# of one bridge and one /24 (two of different segments on the same subnet),
# a routed workload and an uplink boundary. ztsegd --oneshot applies the
# policy; real TCP, UDP, ICMP and ICMPv6 between every pair (and the host),
# over IPv4 and IPv6, must be what `ztsegctl explain` says; a port
# unreachable sent from a bridge port passes the speaker check (its
# interface is the bridge: only the port's mark bits say whose it is).
# Then the same with the mark mask moved to other bits, and with fwmark
# routing of another tool (kube-proxy's 0x4000) that must behave as
# without ztseg.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

timeout_ms=1000
max_shown=${ZT_MATRIX_SHOW:-40}

zt_init
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
"$ZT_CTL" check --config "$pol" >/dev/null || zt_die "the bridged policy does not pass check"

tcp=$(zt_ports tcp "$pol" | paste -sd,)
udp=$(zt_ports udp "$pol" | paste -sd,)
for n in host "${ZT_NODES[@]}"; do
	: >"$ZT_TMP/recv-$n"
	zt_x "$n" "$ZT_SERVE" -t "$tcp" -u "$udp" -r "$ZT_TMP/recv-$n" -d "$ZT_TMP/serve-$n.pid"
done

cases=$ZT_TMP/cases
gen_cases() {
	local id=0 s d fam p
	for s in host "${ZT_NODES[@]}"; do
		for d in host "${ZT_NODES[@]}"; do
			[[ $s != "$d" ]] || continue
			for fam in 4 6; do
				for p in ${tcp//,/ }; do echo "$((++id)) $s $d $fam tcp $p"; done
				for p in ${udp//,/ }; do echo "$((++id)) $s $d $fam udp $p"; done
				echo "$((++id)) $s $d $fam icmp 0"
			done
		done
	done
}
gen_cases >"$cases"

for n in "${ZT_NODES[@]}"; do
	for fam in 4 6; do
		out=$("$ZT_CTL" explain --config "$pol" "$(zt_endpoint "$n" "$fam")" host tcp/1 2>&1) || true
		zone=$(sed -nE 's/^from: ([^ ]+).*/\1/p' <<<"$out")
		zt_check "topology: $n (IPv$fam) explains as ${ZT_ZONE[$n]}" [ "$zone" = "${ZT_ZONE[$n]}" ]
	done
done

matrix() { zt_bridge_matrix "$@"; }

zt_apply "$pol" || zt_die "ztsegd --oneshot failed to apply the bridged policy"
zt_check "table bridge ztseg is there" sh -c "nsenter --net=/run/netns/$(zt_ns host) nft list table bridge ztseg >/dev/null"
matrix bridged

# Pairs the matrix must contain: two segments on one bridge and one subnet.
zt_check "web and app share br0 and 198.51.100.0/24" [ "${ZT_V4[w1]%.*}" = "${ZT_V4[a1]%.*}" ]

# ---- ICMP errors from a bridge port -----------------------------------------
# a1's server stops: its kernel answers web -> app udp/53 with a port
# unreachable, sent from a port of br0. The speaker check must let it
# through to w1 (ECONNREFUSED: the probe says refused, not timeout).
zt_x a1 sh -c "kill \$(cat '$ZT_TMP/serve-a1.pid')"
sleep 0.2
for fam in 4 6; do
	dst=${ZT_V4[a1]}
	[[ $fam == 4 ]] || dst=${ZT_V6[a1]}
	res=$(echo "1 udp - $dst 53" | zt_x w1 "$ZT_PROBE" batch -w 1000 | awk '{ print $2 }')
	zt_check "IPv$fam a1's port unreachable (a bridge port of app) reaches w1 (got $res)" [ "$res" = refused ]
done
zt_x a1 "$ZT_SERVE" -t "$tcp" -u "$udp" -r "$ZT_TMP/recv-a1" -d "$ZT_TMP/serve-a1.pid"

# ---- marks: another mask, and another tool's fwmark routing ----------------
# kube-proxy-style routing on 0x4000: a rule sends marked packets to table
# 100, which blackholes the uplink's network. An iptables-like mangle
# table marks w1's packets to the uplink with 0x4000 (prerouting, before
# routing). Without ztseg's bits in the way, they are unroutable; a packet
# not so marked is routed normally. ztseg owns 0x00ff0000 in this run.
pol2=$ZT_TMP/policy-mask
zt_bridge_policy "$pol2" 0x00ff0000
zt_apply "$pol2" || zt_die "ztsegd --oneshot failed with mark-mask 0x00ff0000"
zt_check "mark-mask 0x00ff0000: the port bits are in it" \
	sh -c "nsenter --net=/run/netns/$(zt_ns host) nft list chain bridge ztseg bs_0004 | grep -q '| 0x00100000'"
pol=$pol2
matrix bridged-mask-0x00ff0000
zt_x host ip rule add fwmark 0x4000/0x4000 table 100 priority 100
zt_x host ip route add blackhole 203.0.113.0/24 table 100
zt_x host nft -f - <<-'EOF'
	table ip zt_mangle {
		chain pre { type filter hook prerouting priority mangle; ip saddr 198.51.100.10 ip daddr 203.0.113.10 meta mark set meta mark | 0x4000; }
	}
EOF
# w1 -> internet tcp/443 is not allowed by the policy anyway; db -> internet is:
# mark d1's packets instead, and check the mark sends them into table 100.
zt_x host nft flush chain ip zt_mangle pre
zt_x host nft add rule ip zt_mangle pre ip saddr 198.51.100.25 ip daddr 203.0.113.10 meta mark set meta mark '|' 0x4000
res=$(echo "1 tcp - 203.0.113.10 443" | zt_x d1 "$ZT_PROBE" batch -w 800 | awk '{ print $2 }')
zt_check "fwmark 0x4000 routing still applies to a bridged port's packet (got $res)" [ "$res" != ok ]
zt_x host nft flush chain ip zt_mangle pre
res=$(echo "1 tcp - 203.0.113.10 443" | zt_x d1 "$ZT_PROBE" batch -w 800 | awk '{ print $2 }')
zt_check "without the 0x4000 mark the same connection passes (got $res)" [ "$res" = ok ]
# The bits outside ztseg's mask survive the bridge: a mark set before ztseg's bridge hook is still there after.
zt_x host nft add table bridge zt_pre
zt_x host nft add chain bridge zt_pre c '{ type filter hook prerouting priority -400; }'
zt_x host nft add rule bridge zt_pre c iifname vnet0 meta mark set 0x00004321
zt_x host nft add chain bridge zt_pre f '{ type filter hook forward priority 100; }'
zt_x host nft add rule bridge zt_pre f iifname vnet0 meta mark '&' 0xff00ffff == 0x00004321 counter
echo "1 tcp - ${ZT_V4[a1]} 80" | zt_x w1 "$ZT_PROBE" batch -w 800 >/dev/null
kept=$(zt_x host nft list chain bridge zt_pre f | sed -nE 's/.*packets ([0-9]+).*/\1/p')
zt_check "another tool's mark bits pass ztseg's bridge table unchanged ($kept packets)" [ "${kept:-0}" -gt 0 ]
zt_finish
