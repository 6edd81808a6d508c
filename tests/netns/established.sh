#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Policy changes reach open connections. Long-lived TCP streams (a line
# every 100 ms, echoed back) run over IPv4 and IPv6 on three flows; a
# re-apply then narrows one flow (other ports), removes another and leaves
# the third alone. Streams on the narrowed and removed flows must stop
# passing within a second of the apply; the stream on the unchanged flow
# must go on without a gap or a reset.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

interval=100	# ms between lines
settle=1500	# ms of traffic before and after the re-apply
limit=1000	# a forbidden stream must stop within this many ms

zt_init
zt_up
zt_serve

# "NAME SOURCE DESTINATION PORT FLOW CHANGE": what each stream runs over
# and what the re-apply does to its flow.
streams=(
	"narrowed web1 app1 8080 web-to-app s|tcp/8080|tcp/8443|"
	"removed  onprem web1 9100 monitoring d"
	"kept     app1 db1 5432 app-to-db -"
)

old=$(zt_policy old)
new=$(zt_policy new)
for s in "${streams[@]}"; do
	read -r name src dst port flow change <<<"$s"
	[[ $change == - ]] || zt_flow_edit "$new" "$flow" "$change"
	# Each stream must be allowed by its flow before the change, and the
	# change must do what it says (explain is the reference).
	for fam in 4 6; do
		by=$(zt_explain_case "$old" "$src" "$dst" "$fam" tcp "$port" | grep '^by:' || true)
		[[ $by == *"'$flow'"* ]] || zt_die "$src -> $dst tcp/$port is not allowed by flow '$flow' ($by)"
		if [[ $change == - ]]; then
			zt_explain_case "$new" "$src" "$dst" "$fam" tcp "$port" | grep -q "^by:.*'$flow'" ||
				zt_die "the new policy does not keep $src -> $dst tcp/$port on '$flow'"
		else
			! zt_explain_case "$new" "$src" "$dst" "$fam" tcp "$port" | grep -q '^allow' ||
				zt_die "the new policy still allows $src -> $dst tcp/$port"
		fi
	done
done

zt_apply "$old" || zt_die "ztsegd --oneshot failed on the example"

pids=()
for s in "${streams[@]}"; do
	read -r name src dst port flow change <<<"$s"
	for fam in 4 6; do
		zt_bg "$src" "$ZT_TMP/stream-$name-$fam" \
			"$ZT_PROBE" stream -i "$interval" - "$(zt_addr "$dst" "$fam")" "$port"
		pids+=("$ZT_BG_PID")
	done
done
sleep "$(awk -v ms="$settle" 'BEGIN { print ms / 1000 }')"

t_start=$(zt_now_ms)
zt_apply "$new" || zt_die "ztsegd --oneshot failed on the changed policy"
t_done=$(zt_now_ms)
echo "# re-apply took $((t_done - t_start)) ms"
sleep "$(awk -v ms="$settle" 'BEGIN { print ms / 1000 }')"
kill -TERM "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" || true

for s in "${streams[@]}"; do
	read -r name src dst port flow change <<<"$s"
	for fam in 4 6; do
		out=$ZT_TMP/stream-$name-$fam
		what="$name flow '$flow': $src -> $dst tcp/$port IPv$fam"
		if ! grep -q '^connected' "$out"; then
			zt_not_ok "$what: stream did not connect: $(head -1 "$out")"
			continue
		fi
		before=$(awk -v t="$t_start" '$1 == "echo" && $3 < t' "$out" | wc -l)
		after=$(awk -v t="$t_done" '$1 == "echo" && $3 > t' "$out" | wc -l)
		last=$(awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$out")
		end=$(tail -1 "$out")
		zt_check "$what: echoed before the re-apply ($before lines)" [ "$before" -ge 5 ]
		if [[ $change == - ]]; then
			gap=$(sed -nE 's/.*maxgap ([0-9]+).*/\1/p' <<<"$end")
			zt_check "$what: still echoing after the re-apply ($after lines)" \
				[ "$after" -ge $((settle / interval / 2)) ]
			zt_check "$what: no reset or close" ! grep -qE '^(reset|closed|error)' "$out"
			zt_check "$what: longest gap ${gap:-?} ms (< $((3 * interval)))" \
				[ "${gap:-99999}" -lt $((3 * interval)) ]
		else
			zt_check "$what: last echo $((last - t_done)) ms after the re-apply (< $limit)" \
				[ "$last" -lt $((t_done + limit)) ]
			zt_check "$what: nothing echoed later than $limit ms after" \
				[ "$(awk -v t=$((t_done + limit)) '$1 == "echo" && $3 >= t' "$out" | wc -l)" -eq 0 ]
		fi
	done
done

zt_finish
