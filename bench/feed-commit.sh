#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What one commit of feed elements costs the kernel (issue 16): in a
# namespace of its own, interval maps of N IPv4 ranges (a full feed map,
# and a shard of N/64: what a map split by address range would hold),
# with verdict data (`jump feed_NAME`, as ztsegd's listed_src/listed_dst
# today) and with mark data (a feed id, dispatched by a small compiled
# vmap), each loaded in chunks; then commits of 1024 ranges scattered over
# the map (a small update); and a hash map of exact addresses (no
# intervals). Prints the median commit of each. Root.
#   ZB_N (default 1000000), ZB_CHUNK (65536), ZB_CHANGES (5)
# `make bench-feed-commit`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ZB_N=${ZB_N:-1000000}
ZB_CHUNK=${ZB_CHUNK:-65536}
ZB_CHANGES=${ZB_CHANGES:-5}
TOOL=$ZT_BUILD/bench/zb-feedcommit
[[ -x $TOOL ]] || zt_die "$TOOL is not built (make bench-feed-commit)"
zt_init
zt_ns_add fc
run() { # SET KIND N
	local out
	zt_x fc nft -f - <<-'EOF'
	table ip t {
		chain feed { counter drop; }
		map V { type ipv4_addr : verdict; flags interval; }
		map M { type ipv4_addr : mark; flags interval; }
		map H { type ipv4_addr : mark; size 4194304; }
		map F { type mark : verdict; elements = { 1 : jump feed }; }
		chain pre { type filter hook prerouting priority -300; ip saddr vmap @V; meta mark set ip daddr map @M meta mark vmap @F; meta mark set ip saddr map @H meta mark vmap @F; }
	}
	EOF
	out=$(zt_x fc "$TOOL" "$1" "$2" "$3" "$ZB_CHUNK" "$ZB_CHANGES")
	zt_x fc nft delete table ip t
	printf '| %s data, %s ranges | %s ms | %s ms | %s ms |\n' "$2" "$3" "$(head -1 <<<"$out" | cut -d' ' -f1)" \
		"$(head -1 <<<"$out" | cut -d' ' -f2)" "$(tail -n +2 <<<"$out" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
}
echo "| map | load (chunks of $ZB_CHUNK) | longest load commit | 1024 scattered ranges, median of $ZB_CHANGES |"
echo "|---|---|---|---|"
for n in "$ZB_N" $((ZB_N / 64)); do
	run V verdict "$n"
	run M mark "$n"
	run H hash "$n"
done

