#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 10, hole 3: ICMP errors are related to a connection only when their
# sender may speak for it; helper expectations do not bypass the policy.
#
#   a ── va1 ──┐                                   fl4 (MTU 1000) ┐
#   b ── vb1 ──┤                                  ┌───────────────┴── far
#   c ── vc1 ──┼── host ── up1 ── rtr (a router) ─┤
#   x ── vx1 ──┘    (default route via rtr)       └───────────────┬── far
#                                                  fl6 (MTU 1280) ┘
# Segments a, b, c, x; boundary internet (0/0). Flows: b -> internet
# udp/7000-7001 and tcp/5001; a -> [b, c] udp/5000; a -> b tcp/21.
#
# 1. x (no flow to b) forges ICMP errors to b whose embedded header is b's
#    UDP socket talking to rtr: port unreachable, fragmentation needed /
#    packet too big, host (address) unreachable, time exceeded; IPv4 and
#    IPv6. None may reach b (an nft counter in b's namespace), b's socket
#    (IP_RECVERR) must see no error, and b's route cache no forged MTU.
#    The legitimate errors still work: rtr's port unreachable (nothing
#    listens on udp/7001) gives ECONNREFUSED, rtr's time exceeded (TTL 2)
#    reaches b, and path MTU discovery works: 200 KB over TCP from b to far
#    behind the smaller MTU completes and b learns the path MTU.
# 2. a -> [b, c] udp/5000: c forges a port unreachable to a about a's
#    socket to b; a must not see it. b's own port unreachable (its server
#    stopped) does give a ECONNREFUSED.
# 3. Another table in the host sets a conntrack expectation on a -> b
#    tcp/21 (like active FTP: b -> a tcp/2000). The related connection b ->
#    a tcp/2000 must be judged as new: denied while no flow allows it,
#    allowed once b -> a tcp/2000 is a flow.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_need_py
zt_init

#       name  interface  IPv4            IPv6               zone      host side
zt_node a     va1        198.51.100.10   2001:db8:a::10     a
zt_node b     vb1        198.51.100.20   2001:db8:b::20     b
zt_node c     vc1        198.51.100.30   2001:db8:c::30     c
zt_node x     vx1        198.51.100.40   2001:db8:d::40     x
zt_node rtr   up1        192.0.2.10      2001:db8:ee::10    internet $ZT_HOST_V4/26 $ZT_HOST_V6/64
FAR4=203.0.113.100 FAR6=2001:db8:f::100

zt_ns_add host
zt_forwarding host
for n in a b c x; do
	zt_ns_add "$n"
	zt_node_link host "$n" "$n"
done
zt_ns_add rtr
zt_peer_link host rtr
zt_forwarding rtr
zt_x host ip route add default via "${ZT_V4[rtr]}" dev up1
zt_x host ip -6 route add default via "${ZT_V6[rtr]}" dev up1
# far, behind links with a smaller MTU; it advertises a full-size MSS, so
# that b's segments only fit once b has learnt the path MTU.
zt_ns_add far
R=$(zt_ns rtr) F=$(zt_ns far)
ip -n "$R" link add fl4 mtu 1000 type veth peer name e4 netns "$F"
ip -n "$R" link add fl6 mtu 1280 type veth peer name e6 netns "$F"
ip -n "$F" link set e4 mtu 1000
ip -n "$F" link set e6 mtu 1280
ip -n "$R" -batch - <<EOF
addr add 203.0.113.1/24 dev fl4
addr add 2001:db8:f::1/64 dev fl6 nodad
link set fl4 up
link set fl6 up
EOF
ip -n "$F" -batch - <<EOF
addr add $FAR4/24 dev e4
addr add $FAR6/64 dev e6 nodad
link set e4 up
link set e6 up
route add default via 203.0.113.1 dev e4 advmss 1460
route add default via 2001:db8:f::1 dev e6 advmss 1440
EOF
# Real errors are not rate-limited away in the namespaces that send them.
for n in rtr b; do
	zt_x "$n" sh -c 'echo 0 >/proc/sys/net/ipv4/icmp_ratelimit; echo 0 >/proc/sys/net/ipv6/icmp/ratelimit'
done

policy() { # NAME [EXTRA-FLOW]: a policy directory
	local d=$ZT_TMP/policy-$1
	mkdir -p "$d"
	cat >"$d/ztseg.yaml" <<-EOF
		version: 1
		hub:
		  default: drop
		  scope: members
		  rpf: strict
		  protect-host: false
		  boundaries:
		    internet: { addresses: [0.0.0.0/0, "::/0"] }
		  flows:
		    - { name: b-out, from: b, to: internet, ports: [udp/7000-7001, tcp/5001] }
		    - { name: a-bc, from: a, to: [b, c], ports: [udp/5000] }
		    - { name: ftp, from: a, to: b, ports: [tcp/21] }
		${2:+    - $2}
		segments:
		  a: { interfaces: ["va1"], addresses: [198.51.100.10/32, "2001:db8:a::/64"] }
		  b: { interfaces: ["vb1"], addresses: [198.51.100.20/32, "2001:db8:b::/64"] }
		  c: { interfaces: ["vc1"], addresses: [198.51.100.30/32, "2001:db8:c::/64"] }
		  x: { interfaces: ["vx1"], addresses: [198.51.100.40/32, "2001:db8:d::/64"] }
	EOF
	chmod 0755 "$d"
	chmod 0644 "$d/ztseg.yaml"
	echo "$d"
}
pol=$(policy base)
pol_ftp=$(policy ftp "{ name: ftp-data, from: b, to: a, ports: [tcp/2000] }")
zt_apply "$pol" || zt_die "ztsegd --oneshot failed"
# allows FROM TO PROTO/PORT: explain (offline) allows it under policy $pol.
allows() { "$ZT_CTL" explain --config "$pol" "$1" "$2" "$3" >/dev/null 2>&1; }

SOCKPY=$ZT_ROOT/tests/netns/zt-sock.py
zt_x rtr "$ZT_SERVE" -u 7000 -d "$ZT_TMP/serve-rtr.pid"
zt_x far "$ZT_SERVE" -u 7000 -d "$ZT_TMP/serve-far.pid"
zt_bg far "$ZT_TMP/sink-far.log" "$ZT_PY" -u "$SOCKPY" sink 5001
zt_wait_for 5000 grep -qs '^listening' "$ZT_TMP/sink-far.log" || zt_die "no sink in far"
zt_x b "$ZT_SERVE" -u 5000 -d "$ZT_TMP/serve-b-udp.pid"
zt_x b "$ZT_SERVE" -t 21 -d "$ZT_TMP/serve-b-tcp.pid"
: >"$ZT_TMP/recv-a"
zt_x a "$ZT_SERVE" -t 2000 -r "$ZT_TMP/recv-a" -d "$ZT_TMP/serve-a.pid"

# hold NODE OUT [-t TTL] LPORT DST DPORT: a UDP socket in NODE (zt-sock.py
# udp-hold), waited for until it has sent its datagram; it reports what
# reaches it until hold_wait stops it (at most 15 s).
HOLD_PIDS=()
hold() {
	local n=$1 out=$2
	shift 2
	: >"$out"
	zt_bg "$n" "$out" "$ZT_PY" -u "$SOCKPY" udp-hold "$@" 15
	HOLD_PIDS+=("$ZT_BG_PID")
	zt_wait_for 5000 grep -qs '^ready' "$out" || zt_die "udp-hold in $n did not start: $(cat "$out")"
}
hold_wait() {
	kill -TERM "${HOLD_PIDS[@]}" 2>/dev/null || true
	wait "${HOLD_PIDS[@]}" 2>/dev/null || true
	HOLD_PIDS=()
}
# hold_err OUT: wait (up to 3 s) for a real error to reach the socket.
hold_err() { zt_wait_for 3000 grep -qs '^err' "$1" || true; }
# errors OUT: the ICMP errors a socket saw, on one line.
errors() { grep -E '^(err|sockerr)' "$1" | paste -sd' ' || true; }

# ---- 1. errors about b's traffic to the internet ----------------------------------

# Legitimate first: path MTU discovery with a real smaller MTU on the path.
for fam in 4 6; do
	if [[ $fam == 4 ]]; then far=$FAR4 mtu=1000; else far=$FAR6 mtu=1280; fi
	res=$(zt_x b "$ZT_PY" "$SOCKPY" tcp-xfer "$far" 5001 200000 20)
	zt_check "PMTU: IPv$fam 200 KB from b to far (path MTU $mtu) over TCP ($res)" grep -q '^ok 200000' <<<"$res"
	rt=$(zt_x b ip -$fam route get "$far" 2>&1 | paste -sd' ')
	zt_check "PMTU: IPv$fam b learnt the path MTU $mtu from rtr's error ($rt)" grep -q "mtu $mtu" <<<"$rt"
done

# Forged by x: "NAME NFT-MATCH SCAPY-ICMP-LAYER" per family; the embedded
# header is b's datagram to rtr.
forged4=(
	"port-unreach icmp type destination-unreachable icmp code port-unreachable|ICMP(type=3, code=3)"
	"frag-needed icmp type destination-unreachable icmp code frag-needed|ICMP(type=3, code=4, nexthopmtu=1200)"
	"host-unreach icmp type destination-unreachable icmp code host-unreachable|ICMP(type=3, code=1)"
	"time-exceeded icmp type time-exceeded|ICMP(type=11, code=0)"
)
forged6=(
	"port-unreach icmpv6 type destination-unreachable icmpv6 code port-unreachable|ICMPv6DestUnreach(code=4)"
	"packet-too-big icmpv6 type packet-too-big|ICMPv6PacketTooBig(mtu=1280)"
	"addr-unreach icmpv6 type destination-unreachable icmpv6 code addr-unreachable|ICMPv6DestUnreach(code=3)"
	"time-exceeded icmpv6 type time-exceeded|ICMPv6TimeExceeded(code=0)"
)
VX1_MAC=$(zt_mac host vx1) VC1_MAC=$(zt_mac host vc1)
[[ -n $VX1_MAC && -n $VC1_MAC ]] || zt_die "no MAC addresses on vx1, vc1"
lport=41000
for fam in 4 6; do
	if [[ $fam == 4 ]]; then
		list=("${forged4[@]}") ip=ip outer=IP inner=IPerror saddr="ip saddr ${ZT_V4[x]}"
	else
		list=("${forged6[@]}") ip=ip6 outer=IPv6 inner=IPerror6 saddr="ip6 saddr ${ZT_V6[x]}"
	fi
	X=$(zt_addr x $fam) B=$(zt_addr b $fam) RT=$(zt_addr rtr $fam)
	for f in "${list[@]}"; do
		name=${f%%|*} layer=${f#*|}
		read -r name match <<<"$name"
		lport=$((lport + 1))
		zt_obs_add b prerouting "x${fam}_${name//-/_}" $saddr $match
		out=$ZT_TMP/hold-x-$fam-$name
		hold b "$out" "$lport" "$RT" 7000
		zt_wait_for 1000 grep -qs '^data' "$out" || true	# rtr's echo: the flow is up
		n0=$(zt_obs b "x${fam}_${name//-/_}")
		zt_forge x eth0 "$VX1_MAC" 3 \
			"$outer(src='$X', dst='$B')/$layer/$inner(src='$B', dst='$RT')/UDPerror(sport=$lport, dport=7000)/Raw(b'zt-sock\\n')" >/dev/null
		sleep 0.3
		n1=$(zt_obs b "x${fam}_${name//-/_}")
		hold_wait
		zt_check "IPv$fam $name forged by x about b's flow to rtr: did not reach b ($((n1 - n0)) of 3)" \
			[ $((n1 - n0)) -eq 0 ]
		zt_check "IPv$fam $name forged by x: b's socket saw no error ($(errors "$out"))" \
			! grep -qE '^(err|sockerr)' "$out"
		if [[ $name == frag-needed || $name == packet-too-big ]]; then
			rt=$(zt_x b ip -$fam route get "$RT" 2>&1 | paste -sd' ')
			zt_check "IPv$fam $name forged by x: b's route to rtr has no forged MTU ($rt)" ! grep -q ' mtu ' <<<"$rt"
		fi
	done
	xt=icmp/destination-unreachable
	[[ $fam == 4 ]] || xt=icmpv6/destination-unreachable
	zt_check "IPv$fam explain denies x -> b $xt" ! allows "iface:vx1,$X" "iface:vb1,$B" "$xt"

	# The real ones: rtr's port unreachable, rtr's time exceeded.
	lport=$((lport + 1))
	out=$ZT_TMP/hold-real-unreach-$fam
	hold b "$out" "$lport" "$RT" 7001
	hold_err "$out"
	hold_wait
	zt_check "IPv$fam rtr's own port unreachable (no listener) gives b ECONNREFUSED ($(errors "$out"))" \
		grep -q "^err ECONNREFUSED .* $RT " "$out"
	lport=$((lport + 1))
	out=$ZT_TMP/hold-real-ttl-$fam
	far=$FAR4
	[[ $fam == 4 ]] || far=$FAR6
	hold b "$out" -t 2 "$lport" "$far" 7000
	hold_err "$out"
	hold_wait
	te=11
	[[ $fam == 4 ]] || te=3
	zt_check "IPv$fam rtr's own time exceeded (TTL 2 towards far) reaches b's socket ($(errors "$out"))" \
		grep -q "^err [A-Z]* $te 0 $RT " "$out"
done

# ---- 2. to: [b, c]: c may not speak for b ----------------------------------------

zt_check "explain allows a -> b udp/5000" allows "iface:va1,${ZT_V4[a]}" "iface:vb1,${ZT_V4[b]}" udp/5000
zt_check "explain allows a -> c udp/5000" allows "iface:va1,${ZT_V4[a]}" "iface:vc1,${ZT_V4[c]}" udp/5000
for fam in 4 6; do
	if [[ $fam == 4 ]]; then
		layer="ICMP(type=3, code=3)" outer=IP inner=IPerror
		zt_obs_add a prerouting "c${fam}_unreach" ip saddr "${ZT_V4[c]}" icmp type destination-unreachable
	else
		layer="ICMPv6DestUnreach(code=4)" outer=IPv6 inner=IPerror6
		zt_obs_add a prerouting "c${fam}_unreach" ip6 saddr "${ZT_V6[c]}" icmpv6 type destination-unreachable
	fi
	A=$(zt_addr a $fam) B=$(zt_addr b $fam) C=$(zt_addr c $fam)
	lport=$((lport + 1))
	out=$ZT_TMP/hold-c-$fam
	hold a "$out" "$lport" "$B" 5000
	zt_wait_for 1000 grep -qs '^data' "$out" || true
	n0=$(zt_obs a "c${fam}_unreach")
	d0=$(zt_counter drops) s0=$(zt_counter spoofs)
	zt_forge c eth0 "$VC1_MAC" 3 \
		"$outer(src='$C', dst='$A')/$layer/$inner(src='$A', dst='$B')/UDPerror(sport=$lport, dport=5000)/Raw(b'zt-sock\\n')" >/dev/null
	sleep 0.3
	n1=$(zt_obs a "c${fam}_unreach")
	d1=$(zt_counter drops) s1=$(zt_counter spoofs)
	hold_wait
	zt_check "IPv$fam c's forged port unreachable about a -> b: did not reach a ($((n1 - n0)) of 3)" \
		[ $((n1 - n0)) -eq 0 ]
	# own_b answers "not b's interface"; own_fail sends an ICMP error to deny, not to spoofed
	zt_check "IPv$fam c's forged port unreachable: counted as a drop (+$((d1 - d0)))" [ $((d1 - d0)) -ge 3 ]
	zt_check "IPv$fam c's forged port unreachable: not counted as a spoof (+$((s1 - s0)))" [ $((s1 - s0)) -eq 0 ]
	zt_check "IPv$fam c's forged port unreachable about a -> b: a's socket saw no error ($(errors "$out"))" \
		! grep -qE '^(err|sockerr)' "$out"
done
# b's own: its server stops, its kernel answers with port unreachable.
kill "$(cat "$ZT_TMP/serve-b-udp.pid")"
sleep 0.2
for fam in 4 6; do
	B=$(zt_addr b $fam)
	lport=$((lport + 1))
	out=$ZT_TMP/hold-b-real-$fam
	hold a "$out" "$lport" "$B" 5000
	hold_err "$out"
	hold_wait
	zt_check "IPv$fam b's own port unreachable gives a ECONNREFUSED ($(errors "$out"))" \
		grep -q "^err ECONNREFUSED .* $B " "$out"
done

# ---- 3. a conntrack helper's expectation ------------------------------------------

zt_nft -f - <<'EOF' || zt_die "could not load the expectation table"
table inet ztt_helper {
	ct expectation e4 { protocol tcp; dport 2000; timeout 1m; size 8; l3proto ip; }
	ct expectation e6 { protocol tcp; dport 2000; timeout 1m; size 8; l3proto ip6; }
	chain f {
		type filter hook forward priority -10; policy accept;
		meta nfproto ipv4 tcp dport 21 ct state new ct expectation set "e4"
		meta nfproto ipv6 tcp dport 21 ct state new ct expectation set "e6"
	}
}
EOF
for fam in 4 6; do
	zt_obs_add a prerouting "ftp${fam}" "$([[ $fam == 4 ]] && echo ip || echo ip6)" saddr "$(zt_addr b $fam)" \
		tcp dport 2000 'tcp flags & (syn | ack) == syn'
done
# expected FAMILY: is there an expectation for b -> a tcp/2000?
expected() { zt_x host cat /proc/net/nf_conntrack_expect | grep -q "l3proto = $(($1 == 4 ? 2 : 10)) proto=6 .*dport=2000"; }
# ftp LABEL DIR WANT: under policy DIR, a opens the control connection
# (a -> b tcp/21, kept open), then b connects back to a tcp/2000.
ftp() {
	local label=$1 dir=$2 want=$3 fam pid res n0 n1 A B
	zt_apply "$dir" >/dev/null 2>&1 || zt_die "ztsegd --oneshot failed on $dir"
	for fam in 4 6; do
		A=$(zt_addr a $fam) B=$(zt_addr b $fam)
		zt_bg a "$ZT_TMP/ftp-ctl-$label-$fam" "$ZT_PROBE" stream -i 100 - "$B" 21
		pid=$ZT_BG_PID
		zt_wait_for 3000 grep -qs '^connected' "$ZT_TMP/ftp-ctl-$label-$fam" ||
			zt_die "the control connection a -> b tcp/21 did not open"
		zt_check "$label: IPv$fam the helper table expects b -> a tcp/2000" expected $fam
		n0=$(zt_obs a "ftp$fam")
		res=$(echo "1 tcp - $A 2000" | zt_x b "$ZT_PROBE" batch -w 1000 | awk '{ print $2 }')
		sleep 0.1
		n1=$(zt_obs a "ftp$fam")
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		if [[ $want == deny ]]; then
			zt_check "$label: IPv$fam related b -> a tcp/2000 is judged as new: denied ($res)" [ "$res" = timeout ]
			zt_check "$label: IPv$fam ... no SYN reached a ($((n1 - n0)))" [ $((n1 - n0)) -eq 0 ]
			zt_check "$label: IPv$fam explain denies b -> a tcp/2000" ! allows "iface:vb1,$B" "iface:va1,$A" tcp/2000
		else
			zt_check "$label: IPv$fam b -> a tcp/2000 with a flow for it passes ($res)" [ "$res" = ok ]
			zt_check "$label: IPv$fam explain allows b -> a tcp/2000" allows "iface:vb1,$B" "iface:va1,$A" tcp/2000
		fi
	done
}
ftp "no flow back" "$pol" deny
zt_x host cat /proc/net/nf_conntrack_expect >"$ZT_TMP/expect-left"
pol=$pol_ftp
ftp "flow ftp-data" "$pol_ftp" allow

# The control: without ztseg's table x's forged port unreachable reaches
# b and its socket, so the checks above would have seen it.
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || zt_nft delete table inet ztseg
for fam in 4 6; do
	if [[ $fam == 4 ]]; then
		layer="ICMP(type=3, code=3)" outer=IP inner=IPerror
	else
		layer="ICMPv6DestUnreach(code=4)" outer=IPv6 inner=IPerror6
	fi
	X=$(zt_addr x $fam) B=$(zt_addr b $fam) RT=$(zt_addr rtr $fam)
	lport=$((lport + 1))
	out=$ZT_TMP/hold-control-$fam
	hold b "$out" "$lport" "$RT" 7000
	zt_wait_for 1000 grep -qs '^data' "$out" || true
	n0=$(zt_obs b "x${fam}_port_unreach")
	zt_forge x eth0 "$VX1_MAC" 3 \
		"$outer(src='$X', dst='$B')/$layer/$inner(src='$B', dst='$RT')/UDPerror(sport=$lport, dport=7000)/Raw(b'zt-sock\\n')" >/dev/null
	sleep 0.3
	n1=$(zt_obs b "x${fam}_port_unreach")
	hold_wait
	zt_check "control without ztseg: IPv$fam x's forged port unreachable reaches b ($((n1 - n0)) of 3)" \
		[ $((n1 - n0)) -eq 3 ]
	zt_check "control without ztseg: ... and b's socket ($(errors "$out"))" grep -q "^err ECONNREFUSED .* $X " "$out"
done

zt_finish
