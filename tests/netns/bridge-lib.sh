# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# The bridged topology of tests/netns/bridge*.sh, sourced after lib.sh:
#
#   w1  ─ vnet0 ─────┐                         (web,    libvirt-like name)
#   w2  ─ vnet1 ─────┤ br0 198.51.100.1/24      (web)
#   a1  ─ veth-app1 ─┤     2001:db8:1::1/64     (app,    LXC-like name; same L2
#   d1  ─ veth-db1 ──┘                          (db.primary)   subnet as web)
#   r1  ─ vrt1 (routed, 192.0.2.10/32)          (rt)
#   inet ─ up0 (uplink, 203.0.113.0/24)         (boundary internet)
#
# All four bridged workloads sit in one /24 and one /64 behind one bridge;
# the host routes between the bridge, the routed workload and the uplink.
# It also holds what the other bridge tests share: random port names, a
# workload plugged into a bridge, and the matrix of probes against explain.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	echo "bridge-lib.sh: the bridged topology the tests source; nothing to run by itself"
	exit 0
fi

ZT_WORKLOADS=(w1 w2 a1 d1 r1)
ZT_UPLINKS=(inet)
ZT_NODES=("${ZT_WORKLOADS[@]}" "${ZT_UPLINKS[@]}")
ZT_BRIDGED=(w1 w2 a1 d1)
ZT_HOST_V4=198.51.100.1
ZT_HOST_V6=2001:db8:1::1
unset ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
declare -A ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
zt_node w1   vnet0     198.51.100.10 2001:db8:1::a   web
zt_node w2   vnet1     198.51.100.11 2001:db8:1::b   web
zt_node a1   veth-app1 198.51.100.17 2001:db8:1::11  app
zt_node d1   veth-db1  198.51.100.25 2001:db8:1::19  db.primary
zt_node r1   vrt1      192.0.2.10    2001:db8:2::10  rt
zt_node inet up0       203.0.113.10  2001:db8:ff::10 internet 203.0.113.1/24 2001:db8:ff::1/64
ZT_EXTRA_TCP=(25)
ZT_EXTRA_UDP=(161)

# zt_bridge_dsegs: the segments of the Docker-style tests, web and db on br0 by `bridge:`.
zt_bridge_dsegs() {
	cat <<-EOF
		segments:
		  web:
		    bridge: br0
		    addresses: [198.51.100.8/29, "2001:db8:1::8/125"]
		  db:
		    bridge: br0
		    addresses: [198.51.100.24/29, "2001:db8:1::18/125"]
	EOF
}

# bridge_policy DIR [MASK]: the policy the bridged tests apply.
zt_bridge_policy() {
	local d=$1 mask=${2:-}
	mkdir -p "$d"
	cat >"$d/ztseg.yaml" <<-EOF
		version: 1
		hub:
		  default: drop
		  protect-host: true
		  ${mask:+mark-mask: $mask}
		  boundaries:
		    internet: { addresses: [203.0.113.0/24, "2001:db8:ff::/64"], interfaces: ["up0"] }
		  flows:
		    - { from: web, to: app, ports: [tcp/80, udp/53, icmp, icmpv6] }
		    - { from: app, to: db.primary, ports: [tcp/5432] }
		    - { from: rt, to: web, ports: [tcp/80, icmp, icmpv6] }
		    - { from: web, to: rt, ports: [udp/53] }
		    - { from: internet, to: db, ports: [tcp/5432, icmpv6] }
		    - { from: db, to: internet, ports: [tcp/443] }
		    - { from: [web, app, db, rt], to: host, ports: [udp/53, tcp/22] }
		    - { from: host, to: [web, app, db, rt, internet], ports: [icmp, icmpv6, tcp/80] }
		segments:
		  web:
		    interfaces: ["vnet*"]
		    addresses: [198.51.100.8/29, "2001:db8:1::8/125"]
		  app:
		    interfaces: ["veth-app*", "vm-app*"]
		    addresses: [198.51.100.16/29, "2001:db8:1::10/125"]
		  db:
		    interfaces: ["veth-db*"]
		    addresses: [198.51.100.24/29, "2001:db8:1::18/125"]
		    subnets:
		      primary: { addresses: [198.51.100.24/30, "2001:db8:1::18/126"] }
		  rt:
		    interfaces: ["vrt*"]
		    addresses: [192.0.2.10/32, "2001:db8:2::10/128"]
	EOF
	find "$d" -type d -exec chmod 0755 {} +
	find "$d" -type f -exec chmod 0644 {} +
}

# zt_bridge_rndname: a port name as Docker and Podman make them (veth + 7 hex digits).
zt_bridge_rndname() { printf 'veth%s' "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-7)"; }

# zt_bridge_br0: the host namespace, forwarding, and br0 in it with the host's addresses.
zt_bridge_br0() {
	local h
	zt_ns_add host
	zt_forwarding host
	h=$(zt_ns host)
	ip -n "$h" link add br0 type bridge
	ip -n "$h" -batch - <<-EOF
		link set br0 up
		addr add $ZT_HOST_V4/24 dev br0
		addr add $ZT_HOST_V6/64 dev br0 nodad
	EOF
}

# zt_bridge_plug NODE: NODE's veth as a port of br0; eth0 in NODE still down (it sends nothing).
zt_bridge_plug() {
	ip -n "$(zt_ns host)" link add "${ZT_IF[$1]}" type veth peer name eth0 netns "$(zt_ns "$1")"
	ip -n "$(zt_ns host)" link set "${ZT_IF[$1]}" master br0 up
}

# zt_bridge_addrs NODE: NODE's eth0 up with its /24 and /64 and default routes via the host.
zt_bridge_addrs() {
	ip -n "$(zt_ns "$1")" -batch - <<-EOF
		addr add ${ZT_V4[$1]}/24 dev eth0
		addr add ${ZT_V6[$1]}/64 dev eth0 nodad
		link set eth0 up
		route add default via $ZT_HOST_V4 dev eth0
		route add default via $ZT_HOST_V6 dev eth0
	EOF
}

# zt_bridge_port NODE: both.
zt_bridge_port() { zt_bridge_plug "$1" && zt_bridge_addrs "$1"; }

zt_bridge_up() {
	local n h
	zt_bridge_br0
	h=$(zt_ns host)
	for n in "${ZT_BRIDGED[@]}"; do
		zt_ns_add "$n"
		zt_bridge_port "$n"
	done
	zt_ns_add r1
	zt_workload_link "$h" "$(zt_ns r1)" r1
	zt_ns_add inet
	zt_peer_link host inet
	ip -n "$h" route add default via "${ZT_V4[inet]}" dev up0
	ip -n "$h" -6 route add default via "${ZT_V6[inet]}" dev up0
}

# zt_bridge_matrix NAME [HOOK]: probe every case of $cases under policy $pol
# (timeout $timeout_ms), hold each against explain (a denied case is
# dropped: it times out); one check per case, the first $max_shown (default
# 40) differing ones shown; HOOK (a command) runs when any differ.
zt_bridge_matrix() {
	local name=$1 observed=$ZT_TMP/observed-$1 expected=$ZT_TMP/expected-$1
	local n=0 bad=0 id src dst fam proto port res ms rc by want allowed=0 denied=0
	zt_probe_cases "$cases" "$observed" "$timeout_ms"
	zt_explain_cases "$pol" "$cases" "$expected"
	declare -A got_res exp_rc exp_by
	while read -r id res ms; do got_res[$id]=$res; done <"$observed"
	while read -r id rc by; do exp_rc[$id]=$rc exp_by[$id]=$by; done <"$expected"
	while read -r id src dst fam proto port; do
		n=$((n + 1))
		res=${got_res[$id]:-missing} rc=${exp_rc[$id]:-missing} by=${exp_by[$id]:-}
		want=
		if [[ $rc == 0 ]]; then
			allowed=$((allowed + 1))
			[[ $res == ok ]] || want="ok (allow)"
		elif [[ $rc == 1 ]]; then
			denied=$((denied + 1))
			case $res in
			timeout) ;;
			eperm) [[ $src == host && $proto != tcp ]] || want="timeout (deny)" ;;
			*) want="timeout (deny)" ;;
			esac
		else
			want="an answer from explain (exit $rc: $by)"
		fi
		if [[ -z $want ]]; then
			ZT_PASSED=$((ZT_PASSED + 1))
			continue
		fi
		bad=$((bad + 1))
		if ((bad > ${max_shown:-40})); then
			ZT_FAILED=$((ZT_FAILED + 1))
			continue
		fi
		zt_not_ok "$name: $src -> $dst IPv$fam $(zt_portspec "$proto" "$port" "$fam"): observed $res, expected $want"
		zt_explain_case "$pol" "$src" "$dst" "$fam" "$proto" "$port" | sed 's/^/#     /'
	done < <(grep -v '^#' "$cases")
	echo "# $name: $n cases, $((n - bad)) as explain says, $bad not; explain allows $allowed, denies $denied"
	((bad == 0)) || [[ -z ${2:-} ]] || "$2"
	# A policy that allowed nothing, or everything, would prove nothing.
	zt_check "$name: the matrix has allowed and denied cases" [ "$allowed" -gt 20 -a "$denied" -gt 100 ]
}

# counter of table bridge ztseg
zt_l2_counter() {
	zt_nft list counter bridge ztseg "$1" 2>/dev/null | sed -nE 's/.*packets ([0-9]+).*/\1/p' | head -1
}

# rx_add NS NAME MATCH...: count, in NS's eth0 ingress (table netdev rx,
# before anything else there), the frames that match MATCH as NAME;
# rx NS NAME: that count. What a workload received, whatever its stack
# then does with it (the bridge tests' receive side).
rx_add() {
	local n=$1 name=$2
	shift 2
	zt_x "$n" nft list table netdev rx >/dev/null 2>&1 ||
		zt_x "$n" nft "add table netdev rx; add chain netdev rx c { type filter hook ingress device eth0 priority -500; }"
	zt_x "$n" nft "add counter netdev rx $name; add rule netdev rx c $* counter name $name"
}
rx() { zt_x "$1" nft list counter netdev rx "$2" | sed -nE 's/.*packets ([0-9]+).*/\1/p'; }
