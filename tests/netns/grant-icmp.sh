#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 17: ICMP errors about a grant's connections pass exactly when
# their outer source may speak for it (SPEC §3 Verdicts), as for flows.
#
#   a ── va1 ──┐                                   fl4 (MTU 1000) ┐
#   b ── vb1 ──┤                                  ┌───────────────┴── far
#   c ── vc1 ──┼── host ── up1 ── rtr (a router) ─┤
#   x ── vx1 ──┘    (default route via rtr)       └───────────────┬── far
#                                                  fl6 (MTU 1280) ┘
# Segments a, b, c, x; boundary internet (0/0); no flow at all from a.
# Templates: out (from a to internet, tcp/5001, udp/7000-7001) and
# seg (from a to [b, c], udp/5000). ztsegd runs; grants for a's addresses.
#
# 1. Under grants of out: path MTU discovery works (200 KB over TCP from a
#    to far behind the smaller MTU, a learns it), rtr's port unreachable
#    and time exceeded reach a's socket; x's forged errors about a's flow
#    to rtr (port unreachable, fragmentation needed / packet too big) do
#    not reach a, nor plant an MTU. Without the grant a reaches nothing.
# 2. Under grants of seg (to: [b, c]): c's forged port unreachable about
#    a -> b does not reach a; b's own does (ECONNREFUSED).
# 3. After revoke, rtr's real port unreachable about a new attempt is not
#    forwarded either (the connection itself is denied).
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
for n in rtr b; do
	zt_x "$n" sh -c 'echo 0 >/proc/sys/net/ipv4/icmp_ratelimit; echo 0 >/proc/sys/net/ipv6/icmp/ratelimit'
done

POL=$ZT_TMP/policy
mkdir -p "$POL"
cat >"$POL/ztseg.yaml" <<-EOF
	version: 1
	hub:
	  default: drop
	  scope: members
	  rpf: strict
	  protect-host: false
	  boundaries:
	    internet: { addresses: [0.0.0.0/0, "::/0"] }
	segments:
	  a: { interfaces: ["va1"], addresses: [198.51.100.10/32, "2001:db8:a::/64"] }
	  b: { interfaces: ["vb1"], addresses: [198.51.100.20/32, "2001:db8:b::/64"] }
	  c: { interfaces: ["vc1"], addresses: [198.51.100.30/32, "2001:db8:c::/64"] }
	  x: { interfaces: ["vx1"], addresses: [198.51.100.40/32, "2001:db8:d::/64"] }
	jit:
	  - { name: out, from: a, to: internet, ports: [tcp/5001, udp/7000-7001], max: 10m }
	  - { name: seg, from: a, to: [b, c], ports: [udp/5000], max: 10m }
EOF
chmod 0755 "$POL"
chmod 0644 "$POL/ztseg.yaml"
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the policy is invalid"

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level info \
	"${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
grant() { # TEMPLATE ADDRESS: a grant's id
	ctl grant "$1" --source "$2" --reason "grant-icmp" --json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

SOCKPY=$ZT_ROOT/tests/netns/zt-sock.py
zt_x rtr "$ZT_SERVE" -u 7000 -d "$ZT_TMP/serve-rtr.pid"
zt_x far "$ZT_SERVE" -u 7000 -d "$ZT_TMP/serve-far.pid"
zt_bg far "$ZT_TMP/sink-far.log" "$ZT_PY" -u "$SOCKPY" sink 5001
zt_wait_for 5000 grep -qs '^listening' "$ZT_TMP/sink-far.log" || zt_die "no sink in far"
zt_x b "$ZT_SERVE" -u 5000 -d "$ZT_TMP/serve-b-udp.pid"

HOLD_PIDS=()
hold() { # NODE OUT [-t TTL] LPORT DST DPORT
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
hold_err() { zt_wait_for 3000 grep -qs '^err' "$1" || true; }
errors() { grep -E '^(err|sockerr)' "$1" | paste -sd' ' || true; }

# ---- 1. a's grants to the internet --------------------------------------------------

res=$(zt_x a timeout 5 "$ZT_PY" "$SOCKPY" tcp-xfer "$FAR4" 5001 20000 3 2>&1 || true)
zt_check "without a grant a reaches nothing ($res)" ! grep -q '^ok' <<<"$res"
OUT4=$(grant out "${ZT_V4[a]}") OUT6=$(grant out "${ZT_V6[a]}")
zt_check "granted out for a's two addresses ($OUT4, $OUT6)" [ -n "$OUT4" ] && [ -n "$OUT6" ]
for fam in 4 6; do
	if [[ $fam == 4 ]]; then far=$FAR4 mtu=1000; else far=$FAR6 mtu=1280; fi
	res=$(zt_x a "$ZT_PY" "$SOCKPY" tcp-xfer "$far" 5001 200000 20)
	zt_check "grant PMTU: IPv$fam 200 KB from a to far (path MTU $mtu) over TCP ($res)" grep -q '^ok 200000' <<<"$res"
	rt=$(zt_x a ip -$fam route get "$far" 2>&1 | paste -sd' ')
	zt_check "grant PMTU: IPv$fam a learnt the path MTU $mtu from rtr's error ($rt)" grep -q "mtu $mtu" <<<"$rt"
done
gj=$(ctl grants --json)
zt_check "each grant counts its own connection: over 200 KB in each of grants $OUT4 and $OUT6" \
	python3 -c 'import json, sys; g = json.loads(sys.argv[1])["grants"]; sys.exit(not (len(g) == 2 and all(x["bytes"] > 200000 and x["packets"] > 0 for x in g)))' "$gj"

forged4=(
	"port-unreach icmp type destination-unreachable icmp code port-unreachable|ICMP(type=3, code=3)"
	"frag-needed icmp type destination-unreachable icmp code frag-needed|ICMP(type=3, code=4, nexthopmtu=1200)"
)
forged6=(
	"port-unreach icmpv6 type destination-unreachable icmpv6 code port-unreachable|ICMPv6DestUnreach(code=4)"
	"packet-too-big icmpv6 type packet-too-big|ICMPv6PacketTooBig(mtu=1280)"
)
VX1_MAC=$(zt_mac host vx1) VC1_MAC=$(zt_mac host vc1)
[[ -n $VX1_MAC && -n $VC1_MAC ]] || zt_die "no MAC addresses on vx1, vc1"
lport=42000
for fam in 4 6; do
	if [[ $fam == 4 ]]; then
		list=("${forged4[@]}") outer=IP inner=IPerror saddr="ip saddr ${ZT_V4[x]}"
	else
		list=("${forged6[@]}") outer=IPv6 inner=IPerror6 saddr="ip6 saddr ${ZT_V6[x]}"
	fi
	X=$(zt_addr x $fam) A=$(zt_addr a $fam) RT=$(zt_addr rtr $fam)
	for f in "${list[@]}"; do
		name=${f%%|*} layer=${f#*|}
		read -r name match <<<"$name"
		lport=$((lport + 1))
		zt_obs_add a prerouting "x${fam}_${name//-/_}" $saddr $match
		out=$ZT_TMP/hold-x-$fam-$name
		hold a "$out" "$lport" "$RT" 7000
		zt_check "IPv$fam a's grant flow to rtr udp/7000 is up (rtr echoes)" zt_wait_for 2000 grep -qs '^data' "$out"
		n0=$(zt_obs a "x${fam}_${name//-/_}")
		zt_forge x eth0 "$VX1_MAC" 3 \
			"$outer(src='$X', dst='$A')/$layer/$inner(src='$A', dst='$RT')/UDPerror(sport=$lport, dport=7000)/Raw(b'zt-sock\\n')" >/dev/null
		sleep 0.3
		n1=$(zt_obs a "x${fam}_${name//-/_}")
		hold_wait
		zt_check "IPv$fam $name forged by x about a's grant flow to rtr: did not reach a ($((n1 - n0)) of 3)" \
			[ $((n1 - n0)) -eq 0 ]
		zt_check "IPv$fam $name forged by x: a's socket saw no error ($(errors "$out"))" \
			! grep -qE '^(err|sockerr)' "$out"
		if [[ $name == frag-needed || $name == packet-too-big ]]; then
			rt=$(zt_x a ip -$fam route get "$RT" 2>&1 | paste -sd' ')
			zt_check "IPv$fam $name forged by x: a's route to rtr has no forged MTU ($rt)" ! grep -q ' mtu ' <<<"$rt"
		fi
	done
	lport=$((lport + 1))
	out=$ZT_TMP/hold-real-unreach-$fam
	hold a "$out" "$lport" "$RT" 7001
	hold_err "$out"
	hold_wait
	zt_check "IPv$fam rtr's own port unreachable about a grant flow gives a ECONNREFUSED ($(errors "$out"))" \
		grep -q "^err ECONNREFUSED .* $RT " "$out"
	lport=$((lport + 1))
	out=$ZT_TMP/hold-real-ttl-$fam
	far=$FAR4 te=11
	[[ $fam == 4 ]] || far=$FAR6 te=3
	hold a "$out" -t 2 "$lport" "$far" 7000
	hold_err "$out"
	hold_wait
	zt_check "IPv$fam rtr's own time exceeded (TTL 2 towards far) about a grant flow reaches a ($(errors "$out"))" \
		grep -q "^err [A-Z]* $te 0 $RT " "$out"
done

# ---- 2. to: [b, c]: c may not speak for b ---------------------------------------------

SEG4=$(grant seg "${ZT_V4[a]}") SEG6=$(grant seg "${ZT_V6[a]}")
spk=$(zt_nft list map inet ztseg jspk_r)
zt_check "jspk_r names b's and c's sides for the seg grants" grep -q 'goto spk_.*goto spk_' <<<"$(echo $spk)"
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
	zt_check "IPv$fam a's grant flow to b udp/5000 is up (b echoes)" zt_wait_for 2000 grep -qs '^data' "$out"
	n0=$(zt_obs a "c${fam}_unreach")
	zt_forge c eth0 "$VC1_MAC" 3 \
		"$outer(src='$C', dst='$A')/$layer/$inner(src='$A', dst='$B')/UDPerror(sport=$lport, dport=5000)/Raw(b'zt-sock\\n')" >/dev/null
	sleep 0.3
	n1=$(zt_obs a "c${fam}_unreach")
	hold_wait
	zt_check "IPv$fam c's forged port unreachable about a -> b under a grant: did not reach a ($((n1 - n0)) of 3)" \
		[ $((n1 - n0)) -eq 0 ]
	zt_check "IPv$fam ... a's socket saw no error ($(errors "$out"))" ! grep -qE '^(err|sockerr)' "$out"
done
kill "$(cat "$ZT_TMP/serve-b-udp.pid")"
sleep 0.2
for fam in 4 6; do
	B=$(zt_addr b $fam)
	lport=$((lport + 1))
	out=$ZT_TMP/hold-b-real-$fam
	hold a "$out" "$lport" "$B" 5000
	hold_err "$out"
	hold_wait
	zt_check "IPv$fam b's own port unreachable about a grant flow gives a ECONNREFUSED ($(errors "$out"))" \
		grep -q "^err ECONNREFUSED .* $B " "$out"
done

# ---- a reload that rewrites chains: the grants stay, their speakers are written anew ---
# log: all rewrites chains (deny logs): the apply flushes the speaker maps (their
# elements point at chains) and the daemon refills them; no template changes meaning.
sed -i 's|^  boundaries:|  log: all\n&|' "$POL/ztseg.yaml"
grep -q '^  log: all' "$POL/ztseg.yaml" || zt_die "could not set log: all"
ctl reload >/dev/null
zt_check "reload (log: all rewrites chains): the four grants stay" \
	[ "$(ctl grants --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["grants"]))')" = 4 ]
spk=$(zt_nft list map inet ztseg jspk_r)
zt_check "reload: jspk_r holds the grants' speakers again" grep -q 'goto spk_.*goto spk_' <<<"$(echo $spk)"
lport=$((lport + 1))
out=$ZT_TMP/hold-reload-unreach
hold a "$out" "$lport" "${ZT_V4[rtr]}" 7001
hold_err "$out"
hold_wait
zt_check "reload: rtr's own port unreachable about a grant flow still reaches a ($(errors "$out"))" \
	grep -q "^err ECONNREFUSED .* ${ZT_V4[rtr]} " "$out"
lport=$((lport + 1))
zt_obs_add a prerouting "x4_after_reload" ip saddr "${ZT_V4[x]}" icmp type destination-unreachable
out=$ZT_TMP/hold-reload-x
hold a "$out" "$lport" "${ZT_V4[rtr]}" 7000
zt_wait_for 2000 grep -qs '^data' "$out" || true
n0=$(zt_obs a x4_after_reload)
zt_forge x eth0 "$VX1_MAC" 3 \
	"IP(src='${ZT_V4[x]}', dst='${ZT_V4[a]}')/ICMP(type=3, code=3)/IPerror(src='${ZT_V4[a]}', dst='${ZT_V4[rtr]}')/UDPerror(sport=$lport, dport=7000)/Raw(b'zt-sock\\n')" >/dev/null
sleep 0.3
n1=$(zt_obs a x4_after_reload)
hold_wait
zt_check "reload: x's forged port unreachable still does not reach a ($((n1 - n0)) of 3)" [ $((n1 - n0)) -eq 0 ]

# ---- 3. after revoke ----------------------------------------------------------------
for id in "$OUT4" "$OUT6" "$SEG4" "$SEG6"; do ctl revoke "$id" >/dev/null; done
zt_check "revoked: no grant left" [ "$(ctl grants --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["grants"]))')" = 0 ]
spk=$(zt_nft list map inet ztseg jspk_o)
zt_check "revoked: no grant's speaker left in the kernel" ! grep -q ': goto' <<<"$spk"
out=$ZT_TMP/hold-revoked
hold a "$out" $((lport + 1)) "${ZT_V4[rtr]}" 7001
hold_err "$out"
hold_wait
zt_check "revoked: rtr's port unreachable no longer reaches a (the flow is denied) ($(errors "$out"))" \
	! grep -q '^err ECONNREFUSED' "$out"

kill -TERM "$DPID"
wait "$DPID" || true
zt_finish
