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

# The headings bench/report.sh writes itself.
mapfile -t generated < <(sed -nE 's/^zb_out "(## [^"$]+)"$/\1/p' "$root/bench/report.sh")
((${#generated[@]} >= 5)) || not_ok "bench/report.sh's headings found" "only ${#generated[@]}"

out=$(awk '
	/^<!-- begin [a-z0-9-]+ -->$/ {
		n = $3
		if (open != "") { printf "nested: %s inside %s\n", n, open; next }
		if (seen[n]++) printf "twice: %s\n", n
		open = n; next
	}
	/^<!-- end [a-z0-9-]+ -->$/ {
		if ($3 != open) printf "unpaired end: %s (open: %s)\n", $3, open
		open = ""; next
	}
	/^## / && open == "" { print "outside: " $0 }
	END { if (open != "") printf "not closed: %s\n", open }' "$res")

bad=0
while IFS= read -r l; do
	[[ -n $l ]] || continue
	if [[ $l == outside:* ]]; then
		h=${l#outside: }
		keep=0
		for g in "${generated[@]}"; do [[ $h == "$g"* ]] && keep=1; done
		((keep)) && continue
		not_ok "bench/RESULTS.md: '$h' is kept by make bench" "it is outside every <!-- begin/end --> pair"
	else
		not_ok "bench/RESULTS.md markers" "$l"
	fi
	bad=1
done <<<"$out"
((bad)) || ok "bench/RESULTS.md: every section make bench does not write is between markers, and they pair up"
cli_summary
