# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers of the benchmarks (bench/run.sh), built on the traffic-test
# harness tests/netns/lib.sh: its namespaces (ztt-<pid>-<node>, removed on
# exit), node table, private program copies and cleanup. Adds the client /
# host / server triple the data-path and event benchmarks use, statistics,
# and the results table.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	echo "bench/lib.sh: sourced by bench/run.sh; nothing to run by itself"
	exit 0
fi

# shellcheck source=../tests/netns/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"
# shellcheck disable=SC2034 # the harness's name in its messages
ZT_NAME=bench

# shellcheck disable=SC2034 # used by bench/run.sh and bench/report.sh
ZB_DIR=$ZT_ROOT/bench
ZB_TOOL=$ZT_BUILD/bench/zb-tool

# init: the harness's checks and cleanup, then our own tools and private copies.
zb_init() {
	local t
	for t in hyperfine iperf3 jq taskset nsenter; do
		command -v "$t" >/dev/null || zt_skip "$t is not installed (tests/deps.sh lists it)"
	done
	[[ -x /usr/bin/time ]] || zt_skip "/usr/bin/time is not installed (Debian package time)"
	[[ -x $ZB_TOOL ]] || zt_die "$ZB_TOOL is not built (run make bench)"
	zt_init
	cp "$ZB_TOOL" "$ZT_TMP/bin/"
	ZB_TOOL=$ZT_TMP/bin/zb-tool
}

# The symbols whose perf samples count as the data path's netfilter cost
# (netfilter, conntrack, FIB): an awk regex for `perf report --sort sym`'s
# fourth column (run.sh, compare.sh, feeds.sh).
ZB_NF_SYMS='^(_*nft_|_*nf_|ipv[46]_conntrack|ipv[46]_confirm|nf_ct_|_*fib|fib6|ip6_pol_route|tcp_in_window|jhash)'
# have_perf: perf can sample here (installed, and allowed to).
zb_have_perf() { command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; }

zb_log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# zb_wait_latency LOG FROM-LINE: the µs of ztsegd's next "event to enforcement"
# line in LOG after line FROM-LINE, looking 2,500 times 2 ms apart; 1 if none came.
zb_wait_latency() {
	local log=$1 from=$2 i l
	for ((i = 0; i < 2500; i++)); do
		l=$(tail -n +"$((from + 1))" "$log" | grep -m1 'event to enforcement:' || true)
		[[ -z $l ]] || { sed -E 's/.*event to enforcement: ([0-9]+) us.*/\1/' <<<"$l"; return 0; }
		sleep 0.002
	done
	return 1
}

# path NODE: the namespace file of a node, for nsenter and setns.
zb_nspath() { echo "/run/netns/$(zt_ns "$1")"; }

# pair NAME: three namespaces, NAME-host routing between NAME-cli (the
# harness's web1: vweb1, 198.51.100.2, 2001:db8:0:1::2) and NAME-srv (app1:
# vapp1, 198.51.100.130, 2001:db8:0:2::130), as tests/netns/lib.sh builds
# workloads: a /32 and /128 on eth0, default routes via the address the host
# puts on every veth. Nothing filters yet.
zb_pair() {
	local p=$1 role h
	h=$(zt_ns "$p-host")
	zt_ns_add "$p-host"
	zt_x "$p-host" sh -c '
		echo 1 >/proc/sys/net/ipv4/ip_forward
		echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
	for role in cli:web1 srv:app1; do
		zt_ns_add "$p-${role%%:*}"
		zt_workload_link "$h" "$(zt_ns "$p-${role%%:*}")" "${role#*:}"
	done
	# Connect-rate runs open tens of thousands of connections: the whole
	# port range, and TIME_WAIT ports reused after a second (RFC 7323).
	zt_x "$p-cli" sh -c '
		echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range
		echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse'
}

# The pair's addresses, by family.
zb_srv_addr() { if [[ $1 == 4 ]]; then echo "${ZT_V4[app1]}"; else echo "${ZT_V6[app1]}"; fi; }
zb_cli_addr() { if [[ $1 == 4 ]]; then echo "${ZT_V4[web1]}"; else echo "${ZT_V6[web1]}"; fi; }

# stats: numbers on stdin (one per line) -> "MEDIAN MIN MAX N"; "- - - 0" if none.
zb_stats() {
	sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (!NR) { print "- - - 0"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.6g %.6g %.6g %d\n", m, v[1], v[NR], NR
		}'
}

# fmt VALUE SCALE DIGITS: VALUE/SCALE with DIGITS decimals ("-" stays "-").
zb_fmt() {
	[[ $1 != - ]] || { echo -; return; }
	awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN { printf "%.*f", d, v / s }'
}

# cell FILE SCALE DIGITS: "median (min–max)" of the numbers in FILE.
zb_cell() {
	local med min max n
	[[ -s $1 ]] || { echo -; return; }
	read -r med min max n < <(zb_stats <"$1")
	if ((n == 0)); then
		echo "-"
	elif ((n == 1)); then
		zb_fmt "$med" "$2" "$3"
	else
		echo "$(zb_fmt "$med" "$2" "$3") ($(zb_fmt "$min" "$2" "$3")–$(zb_fmt "$max" "$2" "$3"))"
	fi
}

# median FILE: the median alone, unscaled.
zb_median() { zb_stats <"$1" | cut -d' ' -f1; }

# ratio A B DIGITS: A/B, or "-".
zb_ratio() {
	[[ $1 != - && $2 != - && $2 != 0 ]] || { echo -; return; }
	awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, a / b }'
}

# keep_sections OLD NEW: the sections other benchmarks write into RESULTS.md
# (between "<!-- begin NAME -->" and "<!-- end NAME -->" lines) carried from
# OLD to the end of NEW, so that a full run does not erase them.
zb_keep_sections() {
	[[ -f $1 ]] || return 0
	awk '/^<!-- begin [a-z0-9-]+ -->$/ { on = 1 } on { print } /^<!-- end [a-z0-9-]+ -->$/ { on = 0 }' "$1" >>"$2"
}
# section FILE NAME BODY-FILE: replace (or add) section NAME of FILE with BODY-FILE.
zb_section() {
	local f=$1 name=$2 body=$3 tmp
	tmp=$(mktemp)
	[[ -f $f ]] && awk -v b="<!-- begin $name -->" -v e="<!-- end $name -->" '
		$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$f" >"$tmp"
	{ echo "<!-- begin $name -->"; cat "$body"; echo "<!-- end $name -->"; } >>"$tmp"
	cat "$tmp" >"$f"
	rm -f "$tmp"
}

# Results: markdown lines collected in $ZB_OUT, printed and written at the end.
zb_out() { printf '%s\n' "$*" >>"$ZB_OUT"; }

# meminfo_kb: the kernel memory nf_tables allocates from (slab, vmalloc,
# per-cpu counters), in KiB, machine-wide.
zb_kmem_kb() {
	awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' /proc/meminfo
}

# nft_listeners: netlink sockets on the whole machine (every namespace)
# subscribed to nf_tables notifications (NETLINK_NETFILTER = 12, group
# NFNLGRP_NFTABLES = bit 0x40). The kernel's "has listeners" test is
# per protocol, not per namespace: while any exists, every nf_tables
# transaction in every namespace builds a notification per object.
zb_nft_listeners() {
	local n=0 g
	for g in $(cat /proc/[0-9]*/net/netlink 2>/dev/null |
		awk '$2 == 12 && $3 != 0 { print $1, $4 }' | sort -u | cut -d' ' -f2); do
		((0x$g & 0x40)) && n=$((n + 1))
	done
	echo "$n"
}
