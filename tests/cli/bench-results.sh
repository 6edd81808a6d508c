#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/RESULTS.md survives `make bench`: bench/run.sh writes sections
# "How to reproduce" to "7." anew and keeps only what sits between
# <!-- begin NAME --> and <!-- end NAME --> (bench/lib.sh
# zb_keep_sections). Every other "## " section must be one of those it
# writes, or a hand-written result is lost on the next run. Markers pair
# up, no name twice, none nested.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

res=$root/bench/RESULTS.md
[[ -f $res ]] || { echo "not ok - bench/RESULTS.md is missing"; exit 1; }

# The headings bench/report.sh writes itself, analysis.md's included.
mapfile -t generated < <(sed -nE "s/^zb_out [\"'](## [^\"'\$]+)[\"']\$/\1/p" "$root/bench/report.sh"
	sed -n 's/^\(## .*\)$/\1/p' "$root/bench/analysis.md")
((${#generated[@]} >= 5)) || not_ok "bench/report.sh's headings found" "only ${#generated[@]}"

# What make bench keeps: bench/lib.sh's own zb_keep_sections, run on the file.
eval "$(sed -n '/^zb_keep_sections() {$/,/^}$/p' "$root/bench/lib.sh")"
declare -F zb_keep_sections >/dev/null || { not_ok "zb_keep_sections found in bench/lib.sh"; cli_summary; }
kept=$(mktemp)
trap 'rm -f "$kept"' EXIT
zb_keep_sections "$res" "$kept"

bad=0
while IFS= read -r h; do
	for g in "${generated[@]}"; do [[ $h == "$g"* ]] && continue 2; done
	grep -qxF -- "$h" "$kept" && continue
	not_ok "bench/RESULTS.md: '$h' is kept by make bench" "it is neither written by bench/report.sh nor kept (between <!-- begin/end NAME --> markers)"
	bad=1
done < <(grep '^## ' "$res")

# Markers pair up, no name twice, none nested.
while IFS= read -r l; do
	[[ -n $l ]] || continue
	not_ok "bench/RESULTS.md markers" "$l"
	bad=1
done < <(awk '
	/^<!-- begin / {
		n = $3
		if (open != "") { printf "nested: %s inside %s\n", n, open; next }
		if (seen[n]++) printf "twice: %s\n", n
		open = n; next
	}
	/^<!-- end / {
		if ($3 != open) printf "unpaired end: %s (open: %s)\n", $3, open
		open = ""; next
	}
	END { if (open != "") printf "not closed: %s\n", open }' "$res")
((bad)) || ok "bench/RESULTS.md: every section make bench does not write is kept by it, and the markers pair up"
cli_summary
