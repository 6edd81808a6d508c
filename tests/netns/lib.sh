# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# The traffic-test harness, sourced by tests/netns/*.sh and tests/demo.sh:
# a "host" network namespace in the routed model with workload namespaces
# behind veths and the outside world behind uplinks, servers and probes in
# every namespace, and the ztseg tools run inside the host namespace.
#
# Every namespace is named ztt-<pid>-<node> and removed on exit, whatever
# happens; nothing here touches the root namespace's links, routes or
# nftables, and no packet leaves the namespaces made here. Addresses are
# documentation prefixes only (RFC 5737, RFC 3849).
#
# Topology (it follows policy/: segment interface patterns and addresses):
#
#   web1 ─ vweb1 ─┐                                 ┌─ wg-onprem ── onprem
#   web2 ─ vweb2 ─┤                                 │  203.0.113.0/24
#   app1 ─ vapp1 ─┤                                 │  2001:db8:ffff::/64
#   db1  ─ vdb1  ─┼──────────────── host ───────────┤
#   db2  ─ vdb2  ─┤  routes each workload's /32 and │  default route (v4, v6)
#   db3  ─ vdb3  ─┤  /128 to its veth; forwarding,  ├─ uplink0 ─── internet
#   ci1  ─ vci1  ─┤  rp_filter=0                    │  192.0.2.0/26
#   ci2  ─ vci2  ─┘                                 │  2001:db8:ee::/64
#                                                   └─ other0 ──── other
#                                                      192.0.2.64/26
#                                                      2001:db8:e1::/64
#
# "other" sits behind an interface the policy does not name: a LAN that is
# neither a segment nor a boundary ("world"). A workload has eth0 with a
# /32 and a /128 and default routes via 192.0.2.254 / 2001:db8:ef::1,
# which the host puts on every veth.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	echo "lib.sh: the harness the tests source; nothing to run by itself"
	exit 0
fi

ZT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ZT_BUILD=${ZTSEG_BUILD:-build}
case $ZT_BUILD in /*) ;; *) ZT_BUILD=$ZT_ROOT/$ZT_BUILD ;; esac
ZT_CTL=$ZT_BUILD/ztsegctl
ZT_D=$ZT_BUILD/ztsegd
ZT_PROBE=$ZT_BUILD/tests/zt-probe
ZT_SERVE=$ZT_BUILD/tests/zt-serve

# The host's side: an address of its own on the uplink, and the gateway
# address it puts on every workload veth.
ZT_HOST_V4=192.0.2.1
ZT_HOST_V6=2001:db8:ee::1
ZT_GW_V4=192.0.2.254
ZT_GW_V6=2001:db8:ef::1

# Nodes: host interface, IPv4, IPv6 (workloads: the address on eth0;
# uplinks: the far end's address on the link), and for uplinks the host's
# address on the link with its prefix length.
declare -A ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
ZT_WORKLOADS=(web1 web2 app1 db1 db2 db3 ci1 ci2)
ZT_UPLINKS=(onprem internet other)
ZT_NODES=("${ZT_WORKLOADS[@]}" "${ZT_UPLINKS[@]}")

zt_node() { # NAME IF V4 V6 EXPECTED-ZONE [HOST-V4/LEN HOST-V6/LEN]
	ZT_IF[$1]=$2 ZT_V4[$1]=$3 ZT_V6[$1]=$4 ZT_ZONE[$1]=$5
	ZT_HV4[$1]=${6:-} ZT_HV6[$1]=${7:-}
}
#       name     interface  IPv4            IPv6                 zone (explain)
zt_node web1     vweb1      198.51.100.2    2001:db8:0:1::2      web.front
zt_node web2     vweb2      198.51.100.20   2001:db8:0:1:1::20   web
zt_node app1     vapp1      198.51.100.130  2001:db8:0:2::130    app
zt_node db1      vdb1       198.51.100.66   2001:db8:0:3::66     db.primary
zt_node db2      vdb2       198.51.100.74   2001:db8:0:3:1::74   db.replica
zt_node db3      vdb3       198.51.100.90   2001:db8:0:3:2::90   db
zt_node ci1      vci1       198.51.100.194  2001:db8:0:4::194    ci
zt_node ci2      vci2       198.51.100.195  2001:db8:0:4::195    ci
zt_node onprem   wg-onprem  203.0.113.10    2001:db8:ffff::10    onprem \
	203.0.113.1/24 2001:db8:ffff::1/64
zt_node internet uplink0    192.0.2.10      2001:db8:ee::10      internet \
	$ZT_HOST_V4/26 $ZT_HOST_V6/64
zt_node other    other0     192.0.2.70      2001:db8:e1::70      world \
	192.0.2.65/26 2001:db8:e1::1/64
ZT_DEFAULT_UPLINK=internet

ZT_TMP=
ZT_NS_MADE=()
ZT_PASSED=0
ZT_FAILED=0
ZT_NAME=$(basename "$0" .sh)

zt_log() { printf '%s: %s\n' "$ZT_NAME" "$*" >&2; }
zt_die() { zt_log "$*"; exit 1; }
zt_skip() { echo "SKIP: $ZT_NAME: $*"; exit 77; }

zt_ok() {
	ZT_PASSED=$((ZT_PASSED + 1))
	[[ -n ${ZT_QUIET:-} ]] || echo "ok - $*"
}
zt_not_ok() {
	ZT_FAILED=$((ZT_FAILED + 1))
	echo "not ok - $*"
}
# check DESCRIPTION COMMAND...: one assertion.
zt_check() {
	local what=$1 neg=
	shift
	[[ $1 != ! ]] || { neg=1; shift; }
	if "$@"; then
		if [[ -z $neg ]]; then zt_ok "$what"; else zt_not_ok "$what"; fi
	else
		if [[ -z $neg ]]; then zt_not_ok "$what"; else zt_ok "$what"; fi
	fi
}
zt_finish() {
	echo "$ZT_PASSED passed, $ZT_FAILED failed"
	[[ $ZT_FAILED -eq 0 ]]
}

zt_ns() { echo "ztt-$$-$1"; }
# x NODE COMMAND...: run a command in a node's namespace. nsenter enters
# the network namespace only and execs the command (no mount namespace or
# sysfs remount per call, which `ip netns exec` makes): cheap enough for
# the thousands of calls a matrix makes.
zt_x() {
	local n=$1
	shift
	nsenter --net="/run/netns/ztt-$$-$n" -- "$@"
}
# bg NODE OUT COMMAND...: start a command in a node's namespace in the
# background, output to OUT; its own pid in ZT_BG_PID. (`zt_x … &` would
# put a subshell between: a signal to $! would not reach the command.)
zt_bg() {
	local n=$1 out=$2
	shift 2
	nsenter --net="/run/netns/ztt-$$-$n" -- "$@" >"$out" 2>&1 &
	ZT_BG_PID=$!
}

zt_cleanup() {
	local ns pids
	# Processes keep a deleted namespace alive: stop everything in ours.
	for ns in "${ZT_NS_MADE[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null) || true
		[[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
	done
	for ns in "${ZT_NS_MADE[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	ZT_NS_MADE=()
	[[ -z $ZT_TMP ]] || rm -rf "$ZT_TMP"
}

# init: check root, tools and kernel; make the temporary directory and
# install the cleanup. Call first, at the top level of the script.
zt_init() {
	[[ $(id -u) -eq 0 ]] || zt_skip "needs root (network namespaces, nftables)"
	command -v ip >/dev/null || zt_skip "iproute2 (ip) is not installed"
	command -v nft >/dev/null || zt_skip "nftables (nft) is not installed"
	local t
	for t in "$ZT_CTL" "$ZT_D" "$ZT_PROBE" "$ZT_SERVE"; do
		[[ -x $t ]] || zt_die "$t is not built (run make)"
	done
	trap zt_cleanup EXIT
	trap 'exit 130' INT TERM
	ZT_TMP=$(mktemp -d "/tmp/ztt-$$-XXXXXX")
	# Run private copies: a rebuild during a long run must not change or
	# remove the programs under test halfway.
	mkdir "$ZT_TMP/bin"
	cp "$ZT_CTL" "$ZT_D" "$ZT_PROBE" "$ZT_SERVE" "$ZT_TMP/bin/"
	ZT_CTL=$ZT_TMP/bin/${ZT_CTL##*/} ZT_D=$ZT_TMP/bin/${ZT_D##*/}
	ZT_PROBE=$ZT_TMP/bin/zt-probe ZT_SERVE=$ZT_TMP/bin/zt-serve
	# A throwaway namespace tells whether the kernel can do what we need.
	zt_ns_add probe
	zt_x probe nft add table inet zt_probe 2>/dev/null ||
		zt_skip "the kernel has no nf_tables inet family"
	zt_x probe nft add chain inet zt_probe c \
		'{ type filter hook prerouting priority raw; }' 2>/dev/null &&
		zt_x probe nft add rule inet zt_probe c fib saddr . iif oif missing drop 2>/dev/null ||
		zt_skip "the kernel has no nft fib expression"
	ip -n "$(zt_ns probe)" link add zt0 type veth peer name zt1 2>/dev/null ||
		zt_skip "the kernel has no veth"
	zt_ns_del probe
}

zt_ns_del() {
	local ns i
	ns=$(zt_ns "$1")
	ip netns del "$ns"
	for i in "${!ZT_NS_MADE[@]}"; do
		[[ ${ZT_NS_MADE[$i]} != "$ns" ]] || unset "ZT_NS_MADE[$i]"
	done
}

zt_ns_add() {
	local ns
	ns=$(zt_ns "$1")
	ip netns add "$ns"
	ZT_NS_MADE+=("$ns")
	# New interfaces skip DAD (no 1–2 s wait for IPv6), ICMP echo sockets
	# for root, no reverse-path filter of the kernel's own: the firewall's
	# anti-spoofing is what the tests look at.
	nsenter --net="/run/netns/$ns" -- sh -c '
		echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
		echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad
		echo 0 >/proc/sys/net/ipv4/conf/default/rp_filter
		echo 0 >/proc/sys/net/ipv4/conf/all/rp_filter
		echo "0 2147483647" >/proc/sys/net/ipv4/ping_group_range'
	ip -n "$ns" link set lo up
}

# workload_link HOSTNS WORKNS NODE: NODE's routed veth, as routed-model CNIs
# wire it: ZT_IF[NODE] on the host with the gateway addresses and /32, /128
# routes to the workload; eth0 in the workload, default routes via the gateway.
zt_workload_link() {
	local h=$1 w=$2 n=$3
	ip -n "$h" link add "${ZT_IF[$n]}" type veth peer name eth0 netns "$w"
	ip -n "$h" -batch - <<-EOF
		addr add $ZT_GW_V4/32 dev ${ZT_IF[$n]}
		addr add $ZT_GW_V6/128 dev ${ZT_IF[$n]} nodad
		link set ${ZT_IF[$n]} up
		route add ${ZT_V4[$n]}/32 dev ${ZT_IF[$n]}
		route add ${ZT_V6[$n]}/128 dev ${ZT_IF[$n]}
	EOF
	ip -n "$w" -batch - <<-EOF
		addr add ${ZT_V4[$n]}/32 dev eth0
		addr add ${ZT_V6[$n]}/128 dev eth0 nodad
		link set eth0 up
		route add $ZT_GW_V4/32 dev eth0
		route add default via $ZT_GW_V4 dev eth0
		route add $ZT_GW_V6/128 dev eth0
		route add default via $ZT_GW_V6 dev eth0
	EOF
}

# up: the whole topology. The host forwards; nothing is filtered yet.
zt_up() {
	local n h
	h=$(zt_ns host)
	zt_ns_add host
	zt_forwarding host
	for n in "${ZT_WORKLOADS[@]}"; do
		zt_ns_add "$n"
		zt_workload_link "$h" "$(zt_ns "$n")" "$n"
	done
	for n in "${ZT_UPLINKS[@]}"; do
		zt_ns_add "$n"
		zt_peer_link host "$n"
	done
	# As on a real host, everything not routed elsewhere goes out to the
	# internet: a reverse-path check alone then cannot hide a missing
	# address binding.
	n=$ZT_DEFAULT_UPLINK
	ip -n "$h" route add default via "${ZT_V4[$n]}" dev "${ZT_IF[$n]}"
	ip -n "$h" -6 route add default via "${ZT_V6[$n]}" dev "${ZT_IF[$n]}"
}

# The ports the servers listen on and the matrix probes: every TCP and UDP
# port the policy names (a range by its first port), and a few it does not.
ZT_EXTRA_TCP=(25 3306 8443)
ZT_EXTRA_UDP=(161 5353)
zt_policy_ports() { # PROTO DIR
	cat "$2"/ztseg.yaml "$2"/segments.d/*.yaml 2>/dev/null |
		sed 's/#.*//' | grep -oE "\\b$1/[0-9]+" | cut -d/ -f2 | sort -n -u
}
zt_ports() { # PROTO [DIR]: the sorted list, one per line
	local dir=${2:-$ZT_ROOT/policy} extra
	if [[ $1 == tcp ]]; then extra=("${ZT_EXTRA_TCP[@]}"); else extra=("${ZT_EXTRA_UDP[@]}"); fi
	{ zt_policy_ports "$1" "$dir"; printf '%s\n' "${extra[@]}"; } | sort -n -u
}

# serve [NODE...]: zt-serve in each node (default: all, and the host),
# recording arrivals in $ZT_TMP/recv-NODE.
zt_serve() {
	local nodes=("$@") n tcp udp
	((${#nodes[@]})) || nodes=(host "${ZT_NODES[@]}")
	tcp=$(zt_ports tcp | paste -sd,)
	udp=$(zt_ports udp | paste -sd,)
	for n in "${nodes[@]}"; do
		: >"$ZT_TMP/recv-$n"
		zt_x "$n" "$ZT_SERVE" -t "$tcp" -u "$udp" -r "$ZT_TMP/recv-$n" \
			-d "$ZT_TMP/serve-$n.pid"
	done
}

# addr NODE 4|6: a node's address; for the host, its address on the uplink.
zt_addr() {
	if [[ $1 == host ]]; then
		if [[ $2 == 4 ]]; then echo "$ZT_HOST_V4"; else echo "$ZT_HOST_V6"; fi
	elif [[ $2 == 4 ]]; then
		echo "${ZT_V4[$1]}"
	else
		echo "${ZT_V6[$1]}"
	fi
}

# endpoint NODE 4|6: how `ztsegctl explain` names that side of a packet.
zt_endpoint() {
	if [[ $1 == host ]]; then echo host; else echo "iface:${ZT_IF[$1]},$(zt_addr "$1" "$2")"; fi
}

# policy NAME [SRC]: a private copy of a policy directory (default: the
# example) with the modes ztseg insists on; prints its path.
zt_policy() {
	local d=$ZT_TMP/policy-$1
	rm -rf "$d"
	cp -R "${2:-$ZT_ROOT/policy}" "$d"
	find "$d" -type d -exec chmod 0755 {} +
	find "$d" -type f -exec chmod 0644 {} +
	echo "$d"
}

# set_hub DIR KEY VALUE: change one hub setting ("default: drop") in a copy.
zt_set_hub() {
	sed -i -E "s/^(  $2:)[[:space:]]*[^#[:space:]]+/\\1 $3/" "$1/ztseg.yaml"
	grep -qE "^  $2: $3\\b" "$1/ztseg.yaml" || zt_die "could not set hub.$2 in $1"
}

# The kernel has no WireGuard, so the tests let ztsegd trust veth as an
# encrypting link kind: wg-onprem (a veth named like the policy's
# encrypted-interfaces) then counts as encrypted, as a real WireGuard
# interface would. uplink0, not named so, still does not.
ZT_APPLY_ARGS=(--encrypting-kinds veth)

# apply DIR [ARGS...]: ztsegd --oneshot in the host namespace, with a
# state directory of its own (never the machine's /var/lib/ztseg).
zt_apply() {
	local dir=$1
	shift
	zt_x host "$ZT_D" --oneshot --config "$dir" --state-dir "$ZT_TMP/state" \
		"${ZT_APPLY_ARGS[@]}" "$@"
}

# explain DIR FROM TO PROTO/PORT: prints explain's answer; status 0 allow.
zt_explain() {
	"$ZT_CTL" explain --config "$1" "$2" "$3" "$4"
}

# An nft listing of ztseg's table in the host namespace.
zt_nft() { zt_x host nft "$@"; }

# counter NAME: the packets of a named counter in ztseg's table.
zt_counter() {
	zt_nft list counter inet ztseg "$1" 2>/dev/null |
		sed -nE 's/.*packets ([0-9]+).*/\1/p' | head -1
}

# now_ms: wall clock in ms, as zt-probe stream prints it.
zt_now_ms() { date +%s%3N; }

# Cases are lines "ID SRC DST FAMILY PROTO PORT": nodes (or host), 4 or 6,
# tcp, udp or icmp (an echo request; PORT 0).

# portspec PROTO PORT FAMILY: the PROTO/PORT explain takes.
zt_portspec() {
	case $1 in
	icmp) if [[ $3 == 4 ]]; then echo icmp/echo-request; else echo icmpv6/echo-request; fi ;;
	*) echo "$1/$2" ;;
	esac
}

# probe_cases CASES OUT [TIMEOUT-MS]: send every case from its source's
# namespace, all sources at once; OUT gets "ID RESULT MS" lines.
zt_probe_cases() {
	local cases=$1 out=$2 timeout=${3:-1000} s pids=()
	local dir=$ZT_TMP/probe.$$
	rm -rf "$dir"
	mkdir -p "$dir"
	while read -r id src dst fam proto port; do
		[[ -n $id && $id != \#* ]] || continue
		echo "$id $proto - $(zt_addr "$dst" "$fam") $port" >>"$dir/in-$src"
	done <"$cases"
	for s in "$dir"/in-*; do
		[[ -e $s ]] || continue
		s=${s##*/in-}
		zt_x "$s" "$ZT_PROBE" batch -w "$timeout" <"$dir/in-$s" >"$dir/out-$s" &
		pids+=($!)
	done
	for s in "${pids[@]}"; do wait "$s" || zt_die "zt-probe failed"; done
	cat "$dir"/out-* 2>/dev/null | sort -n >"$out"
	rm -rf "$dir"
}

# explain_cases DIR CASES OUT: OUT gets "ID RC BY" per case (RC 0 allow,
# 1 deny; BY explain's "by:" line), in parallel on every CPU.
zt_explain_cases() {
	local dir=$1 cases=$2 out=$3 n i pids=()
	local tmp=$ZT_TMP/explain.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	n=$(nproc 2>/dev/null || echo 2)
	grep -v '^#' "$cases" | split -n "r/$n" - "$tmp/in-"
	for i in "$tmp"/in-*; do
		(
			while read -r id src dst fam proto port; do
				local rc=0 by
				by=$("$ZT_CTL" explain --config "$dir" "$(zt_endpoint "$src" "$fam")" \
					"$(zt_endpoint "$dst" "$fam")" "$(zt_portspec "$proto" "$port" "$fam")" \
					2>&1) || rc=$?
				by=$(grep -m1 '^by:' <<<"$by" || echo "${by//$'\n'/ }")
				echo "$id $rc $by"
			done <"$i" >"$i.out"
		) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
	cat "$tmp"/*.out | sort -n >"$out"
	rm -rf "$tmp"
}

# explain_case DIR SRC DST FAMILY PROTO PORT: explain's full answer.
zt_explain_case() {
	"$ZT_CTL" explain --config "$1" "$(zt_endpoint "$2" "$4")" "$(zt_endpoint "$3" "$4")" \
		"$(zt_portspec "$5" "$6" "$4")" 2>&1 || true
}

# flow_edit DIR NAME SED-COMMAND: apply a sed command ("d" to remove it,
# "s|tcp/8080|tcp/8443|" to change it) to the lines of the hub flow called
# NAME in DIR/ztseg.yaml, whether written on one line or as a block.
zt_flow_edit() {
	local file=$1/ztseg.yaml range
	range=$(awk -v name="$2" '
		function done_item() {
			if (start && hit) { print start "," last; found = 1; exit }
			start = 0; hit = 0
		}
		/^  flows:/ { inflows = 1; next }
		inflows && /^[^ #]|^ [^ #]|^  [^ #]/ { done_item(); inflows = 0 }
		inflows && /^    - / { done_item(); start = NR }
		inflows && start && !/^[ \t]*(#|$)/ { last = NR }
		inflows && start && $0 ~ "name: *\"?" name "\"?([ ,}]|$)" { hit = 1 }
		END { if (!found && start && hit) print start "," last }
	' "$file")
	[[ -n $range ]] || zt_die "no flow '$2' in $file"
	sed -i "${range}{$3}" "$file"
	"$ZT_CTL" check --config "$1" >/dev/null 2>&1 ||
		zt_die "editing flow '$2' ($3) left $file invalid"
}

# canon: a canonical form of an `nft -s list table` listing on stdin, for
# comparing tables built in different orders (a diff apply adds objects
# after the ones that stay, a full apply in plan order; hash sets list in
# hash order). Objects are keyed by their header line, rules keep their
# order within a chain, set and map elements become a sorted set; the
# table's own lines and flags (owner, persist) and blank lines are left out.
zt_nft_canon() {
	awk '
		function emit_elems(text,   n, i, e, parts) {
			n = split(text, parts, ",")
			for (i = 1; i <= n; i++) {
				e = parts[i]
				gsub(/^[ \t]+|[ \t]+$/, "", e)
				if (e != "") print "E\t" blk "\t" e
			}
		}
		/^\tflags / || /^[ \t]*$/ || /^[^\t]/ { next }
		inel {
			line = $0
			if (line ~ /}[ \t]*$/) { sub(/}[ \t]*$/, "", line); inel = 0 }
			emit_elems(line)
			next
		}
		/^\t[^\t}].*{$/ { blk = $0; seq = 0 }
		/^\t\telements = {/ {
			line = $0
			sub(/^.*elements = {/, "", line)
			if (line ~ /}[ \t]*$/) sub(/}[ \t]*$/, "", line); else inel = 1
			emit_elems(line)
			next
		}
		{ printf "L\t%s\t%06d\t%s\n", blk, ++seq, $0 }
	' | LC_ALL=C sort
}

# ---- custom topologies, forged packets and arrival counters ------------------
# (the attack tests of issue 10: hole-*.sh, revoke.sh)

# need_py: ZT_PY, a python3 that has scapy (Debian's python3-scapy is for
# /usr/bin/python3, which a python3 earlier on PATH may not be).
zt_need_py() {
	local p
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import scapy.all' 2>/dev/null; then
			ZT_PY=$p
			return 0
		fi
	done
	zt_skip "no python3 with scapy (install python3-scapy)"
}

# node_link HOSTNODE WORKNODE NODE: zt_workload_link for nodes by harness
# name (their namespaces made with zt_ns_add; NODE declared with zt_node).
zt_node_link() { zt_workload_link "$(zt_ns "$1")" "$(zt_ns "$2")" "$3"; }

# peer_link HOSTNODE NODE: NODE's namespace behind ZT_IF[NODE] of
# HOSTNODE, as zt_up wires an uplink: the host side has ZT_HV4/ZT_HV6 (with
# their length), the far side ZT_V4/ZT_V6 on eth0 and a default route back.
zt_peer_link() {
	local h w n=$2
	h=$(zt_ns "$1") w=$(zt_ns "$n")
	ip -n "$h" link add "${ZT_IF[$n]}" type veth peer name eth0 netns "$w"
	ip -n "$h" -batch - <<-EOF2
		addr add ${ZT_HV4[$n]} dev ${ZT_IF[$n]}
		addr add ${ZT_HV6[$n]} dev ${ZT_IF[$n]} nodad
		link set ${ZT_IF[$n]} up
	EOF2
	ip -n "$w" -batch - <<-EOF2
		addr add ${ZT_V4[$n]}/${ZT_HV4[$n]#*/} dev eth0
		addr add ${ZT_V6[$n]}/${ZT_HV6[$n]#*/} dev eth0 nodad
		link set eth0 up
		route add default via ${ZT_HV4[$n]%/*} dev eth0
		route add default via ${ZT_HV6[$n]%/*} dev eth0
	EOF2
}

# forwarding NODE: the namespace routes (IPv4 and IPv6).
zt_forwarding() {
	zt_x "$1" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward
		echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
}

# mac NODE IF: the link-layer address of an interface.
zt_mac() { zt_x "$1" ip -o link show "$2" | sed -nE 's/.*link\/ether ([0-9a-f:]+).*/\1/p'; }

# obs_add NODE HOOK NAME MATCH...: count the packets that match MATCH in
# counter NAME of a table of our own, inet ztt_obs, in NODE's namespace.
# HOOK prerouting counts before anything else (what arrives in a workload);
# input, forward and output count after ztseg's filter chains (what they let
# through). The table only counts: its chains accept everything.
zt_obs_add() {
	local n=$1 hook=$2 name=$3 prio
	shift 3
	case $hook in prerouting) prio=-500 ;; *) prio=500 ;; esac
	zt_x "$n" nft list chain inet ztt_obs "c_$hook" >/dev/null 2>&1 ||
		zt_x "$n" nft "add table inet ztt_obs; add chain inet ztt_obs c_$hook { type filter hook $hook priority $prio; policy accept; }" ||
		zt_die "could not make the counting table in $n"
	zt_x "$n" nft "add counter inet ztt_obs $name; add rule inet ztt_obs c_$hook $* counter name $name" ||
		zt_die "could not add counter $name ($*) in $n"
}
# obs NODE NAME: the packets counted so far.
zt_obs() {
	zt_x "$1" nft list counter inet ztt_obs "$2" 2>/dev/null | sed -nE 's/.*packets ([0-9]+).*/\1/p' | head -1
}

# forge NODE IFACE DST-MAC COUNT EXPR: send COUNT frames of the scapy
# expression EXPR (the layers above Ethernet, e.g. "IP(src=…)/TCP(…)")
# out of IFACE in NODE's namespace, to DST-MAC (zt-forge.py).
zt_forge() {
	local n=$1
	shift
	zt_x "$n" "$ZT_PY" "$ZT_ROOT/tests/netns/zt-forge.py" "$@" ||
		zt_die "zt-forge.py failed in $n: $*"
}

# sleep_ms MS
zt_sleep_ms() { sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f\n", ms / 1000 }')"; }

# wait_for MS COMMAND...: poll every 20 ms until COMMAND succeeds; status 1
# after MS milliseconds.
zt_wait_for() {
	local end=$(($(zt_now_ms) + $1))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.02
	done
}

# policy_write DIR: standard input becomes DIR/ztseg.yaml, with the modes
# ztsegd insists on (a directory and file nobody else may write).
zt_policy_write() {
	mkdir -p "$1"
	cat >"$1/ztseg.yaml"
	chmod 0755 "$1"
	chmod 0644 "$1/ztseg.yaml"
}
