#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Golden files: each tests/golden/CASE.yaml (a hub file) or CASE.d/ (a whole
# policy directory) must render, through `ztsegctl show`, to exactly
# tests/golden/CASE.nft. `golden.sh --update` (make golden) rewrites the .nft
# files on purpose; review the diff before committing it.
set -euo pipefail

update=0
case ${1:-} in
--update) update=1 ;;
"") ;;
*) echo "usage: golden.sh [--update]" >&2; exit 2 ;;
esac

. "$(dirname "$0")/lib.sh"
golden=$root/tests/golden

# The policy of a case as a config directory with safe modes.
prepare() {
	if [[ -d $golden/$1.d ]]; then
		cli_config "$1" "$golden/$1.d" >/dev/null
	else
		cli_config "$1" "$golden/$1.yaml" >/dev/null
	fi
}

shopt -s nullglob
cases=()
for f in "$golden"/*.yaml "$golden"/*.d; do
	n=${f##*/}
	cases+=("${n%.*}")
done
[[ ${#cases[@]} -gt 0 ]] || { echo "golden.sh: no cases in $golden" >&2; exit 1; }

# The header names the config directory: a relative name keeps it stable.
cd "$tmp"
for name in "${cases[@]}"; do
	prepare "$name"
	rc=0
	"$ctl" show --config "$name" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 0 ]]; then
		not_ok "$name" "ztsegctl show exited $rc"
		continue
	fi
	if [[ $update -eq 1 ]]; then
		if cmp -s "$tmp/out" "$golden/$name.nft"; then
			ok "$name: unchanged"
		else
			cp "$tmp/out" "$golden/$name.nft"
			ok "$name: written"
		fi
	elif [[ ! -f $golden/$name.nft ]]; then
		not_ok "$name" "no $name.nft (make golden writes it)"
	elif diff -u "$golden/$name.nft" "$tmp/out" >"$tmp/diff"; then
		ok "$name"
	else
		not_ok "$name" "output differs from $name.nft (make golden rewrites it)"
		# head closes the pipe early on a long diff: not a failure of the script.
		sed 's/^/#   /' "$tmp/diff" | head -60 || true
	fi
done

# A .nft without its policy is a leftover from a renamed or removed case.
for f in "$golden"/*.nft; do
	n=${f##*/}
	n=${n%.nft}
	if [[ ! -f $golden/$n.yaml && ! -d $golden/$n.d ]]; then
		not_ok "$n.nft" "no $n.yaml or $n.d/ for it"
	fi
done

cli_summary
