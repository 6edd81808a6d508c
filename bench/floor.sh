#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The element floor of a full apply (issue 13, target "full apply at
# 10,000 segments / 100,000 members: ≤ 1.5× the element floor"): in fresh
# namespaces, one after the other and in alternating order per round,
#   (z) ztsegd --oneshot of the generated policy (bench/gen-policy.sh),
#   (e) nft -f of a table with one plain hash set holding as many elements
#       as the policy has member prefixes plus flow keys (the elements of
#       its flow-key map fp): what any ruleset enforcing the policy must
#       send at least,
#   (f) nft -f of `ztsegctl show`'s text of the same policy (the reference
#       of section 1).
# Prints wall, user and system time per side, the per-round ratios z/e and
# z/f, the policy's kernel objects per segment, how many nf_tables
# notification listeners the machine had (bench/lib.sh), and
#   (d) ztsegd as a daemon with the same policy: its RSS once ready and its
#       peak, against the size of the batch it sent (issue 13's RSS target).
# Root.
#   ZB_SEGS (default 10000), ZB_ROUNDS (3). `make bench-floor`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ZB_SEGS=${ZB_SEGS:-10000}
ZB_ROUNDS=${ZB_ROUNDS:-3}
[[ -x /usr/bin/time ]] || zt_skip "/usr/bin/time is not installed (Debian package time)"
zt_init
P=$ZT_TMP/policy
bash "$ZB_DIR/gen-policy.sh" "$P" "$ZB_SEGS" >/dev/null
"$ZT_CTL" show --config "$P" >"$ZT_TMP/show.nft" 2>/dev/null
# "# 20005 counters, 38 sets and maps (438024 elements), 35160 chains (71274 rules)"
read -r counters sets elems chains rules < <(sed -nE '2s/^# ([0-9]+) counters, ([0-9]+) sets and maps \(([0-9]+) elements\), ([0-9]+) chains \(([0-9]+) rules\).*/\1 \2 \3 \4 \5/p' "$ZT_TMP/show.nft")
[[ -n ${rules:-} ]] || zt_die "cannot read the object counts from ztsegctl show's header"
# The static member addresses gen-policy.sh writes (its header says how many).
members=$((($ZB_SEGS - 2) * 10 + ($ZB_SEGS - 2 < 128 ? $ZB_SEGS - 2 : 128) + 4))
keys=$(sed -n '/^\tmap fp {/,/^\t}/p' "$ZT_TMP/show.nft" | sed -n '/elements = {/,/}/p' | grep -o ' : ' | wc -l)
((keys > 0)) || zt_die "no flow keys found in map fp"
floor=$((members + keys))
{
	echo "table inet floor {"
	echo "	set el {"
	echo "		type ipv6_addr"
	echo "		size $((floor * 2))"
	printf '\t\telements = { '
	awk -v n="$floor" 'BEGIN { for (i = 0; i < n; i++) printf "%s2001:db8:f::%x:%x", i ? ", " : "", int(i / 65536), i % 65536 }'
	echo " }"
	echo "	}"
	echo "}"
} >"$ZT_TMP/floor.nft"
NS=$(zt_ns apply)
ZT_NS_MADE+=("$NS")
fresh() {
	if [[ -e /run/netns/$NS ]]; then
		nsenter --net="/run/netns/$NS" nft flush ruleset
		ip netns del "$NS"
	fi
	sleep 2	# the old namespace's teardown
	ip netns add "$NS"
	ip -n "$NS" link set lo up
}
# one SIDE: a fresh namespace, then the side's apply timed: "wall user sys"
one() {
	local t=$ZT_TMP/time.$1
	fresh
	zb_nft_listeners >>"$ZT_TMP/listeners"
	case $1 in
	z) nsenter --net="/run/netns/$NS" /usr/bin/time -o "$t" -f '%e %U %S' \
		"$ZT_D" --oneshot --config "$P" --state-dir "$ZT_TMP/state" >/dev/null 2>&1 ;;
	e) nsenter --net="/run/netns/$NS" /usr/bin/time -o "$t" -f '%e %U %S' nft -f "$ZT_TMP/floor.nft" ;;
	f) nsenter --net="/run/netns/$NS" /usr/bin/time -o "$t" -f '%e %U %S' nft -f "$ZT_TMP/show.nft" ;;
	esac || zt_die "side $1 failed"
	cat "$t" >>"$ZT_TMP/all.$1"
}
zb_log "floor: $ZB_SEGS segments, $members members + $keys flow keys = $floor elements; policy: $counters counters, $sets sets ($elems elements), $chains chains, $rules rules"
for ((r = 0; r < ZB_ROUNDS; r++)); do
	for s in $( ((r % 2)) && echo e f z || echo z e f); do one "$s"; done
	zw=$(tail -1 "$ZT_TMP/all.z" | cut -d' ' -f1)
	echo "$(zb_ratio "$zw" "$(tail -1 "$ZT_TMP/all.e" | cut -d' ' -f1)" 2)" >>"$ZT_TMP/ratio.e"
	echo "$(zb_ratio "$zw" "$(tail -1 "$ZT_TMP/all.f" | cut -d' ' -f1)" 2)" >>"$ZT_TMP/ratio.f"
	zb_log "round $((r + 1)): z $(tail -1 "$ZT_TMP/all.z"), e $(tail -1 "$ZT_TMP/all.e"), f $(tail -1 "$ZT_TMP/all.f") (wall user sys, s)"
done
# (d) the daemon with the same policy: its RSS once ready (steady) and its
# peak (VmHWM, the full apply at start), against the batch it sent.
fresh
mkdir -p "$ZT_TMP/run"
zt_bg apply "$ZT_TMP/d.log" "$ZT_D" --config "$P" --state-dir "$ZT_TMP/d-state" --socket "$ZT_TMP/run/d.sock"
DPID=$ZT_BG_PID
zt_wait_for 300000 grep -q '^ztsegd: ready' "$ZT_TMP/d.log" || zt_die "ztsegd did not start: $(tail -2 "$ZT_TMP/d.log")"
sleep 1
read -r d_rss d_hwm < <(awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { print r, h }' "/proc/$DPID/status")
d_batch=$(sed -nE 's/.*applied table inet ztseg: .* \(([0-9]+) bytes\).*/\1/p' "$ZT_TMP/d.log" | head -1)
kill -TERM "$DPID"; wait "$DPID" || true
[[ -n $d_batch ]] || zt_die "no batch size in the daemon's log"
fresh
ip netns del "$NS"
col() { cut -d' ' -f"$2" "$ZT_TMP/all.$1" | zb_stats | awk '{ printf "%.2f (%.2f–%.2f)", $1, $2, $3 }'; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); nf_tables notification listeners on the machine before each side: $(sort -n "$ZT_TMP/listeners" | sed -n '1p;$p' | paste -sd-) (each makes every apply build a notification per object)"
echo
echo "| side | what | elements | wall s | user s | system s |"
echo "|---|---|---|---|---|---|"
echo "| (z) | ztsegd --oneshot | $elems in $sets sets, $chains chains, $rules rules, $counters counters | $(col z 1) | $(col z 2) | $(col z 3) |"
echo "| (e) | element floor: nft -f, one hash set | $floor | $(col e 1) | $(col e 2) | $(col e 3) |"
echo "| (f) | nft -f of ztsegctl show | as (z) | $(col f 1) | $(col f 2) | $(col f 3) |"
echo
echo "z/e per round: $(tr '\n' ' ' <"$ZT_TMP/ratio.e")(target ≤ 1.5); z/f per round: $(tr '\n' ' ' <"$ZT_TMP/ratio.f")"
awk -v r="$d_rss" -v h="$d_hwm" -v b="$d_batch" 'BEGIN {
	printf "daemon (d): RSS once ready %.0f MiB (target ≤ 64); peak %.0f MiB, %.2f× its batch of %.0f MiB (target ≤ 1.5×)\n",
		r / 1024, h / 1024, h * 1024 / b, b / 1048576 }'
awk -v a="$counters" -v b="$sets" -v c="$elems" -v d="$chains" -v e="$rules" -v f="$floor" -v n="$ZB_SEGS" 'BEGIN {
	printf "objects per segment: %.1f (%.1f chains, %.1f rules, %.1f elements, %.1f counters); the floor: %.1f elements\n",
		(a + b + c + d + e) / n, d / n, e / n, c / n, a / n, f / n }'
