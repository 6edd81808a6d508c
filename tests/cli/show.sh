#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `ztsegctl show` end to end: for the shipped example and every golden case
# the output is deterministic and real nft accepts it, both as a check
# (`nft -c -f -`) and as a load into an empty network namespace. nft only
# ever runs under `unshare -n`: the root namespace's ruleset is not touched.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
golden=$root/tests/golden
cli_log_lines=8

if [[ $(id -u) -ne 0 ]]; then
	echo "show.sh: SKIP: needs root for 'unshare -n nft' (an empty network namespace)"
	exit 77
fi
nft=$(PATH=$PATH:/usr/sbin:/sbin command -v nft) ||
	{ echo "show.sh: nft not found (install nftables)" >&2; exit 1; }

fresh() { cli_config "$1" "$2"; }

# accepted NAME DIR: show exits 0, twice the same bytes, and nft takes it.
accepted() {
	local name=$1 dir=$2 rc=0
	"$ctl" show --config "$dir" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 0 ]]; then
		not_ok "$name" "ztsegctl show exited $rc"
		return
	fi
	"$ctl" show --config "$dir" >"$tmp/out2" 2>/dev/null || true
	if ! cmp -s "$tmp/out" "$tmp/out2"; then
		not_ok "$name" "two runs differ"
		return
	fi
	if ! grep -q '^table inet ztseg {$' "$tmp/out"; then
		not_ok "$name" "no 'table inet ztseg {' line"
		return
	fi
	rc=0
	unshare -n "$nft" -c -f - <"$tmp/out" >"$tmp/err" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		not_ok "$name" "nft -c -f - refused it (exit $rc)"
		return
	fi
	# nft -c does not commit; a real load in an empty namespace also runs
	# the kernel's commit-time checks (loops, hook restrictions).
	rc=0
	unshare -n sh -c '"$1" -f - && "$1" list table inet ztseg >/dev/null' sh "$nft" \
		<"$tmp/out" >"$tmp/err" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		not_ok "$name" "nft -f - in an empty namespace failed (exit $rc)"
		return
	fi
	ok "$name ($(grep -c . "$tmp/out") lines)"
}

accepted "example policy" "$(fresh example "$root/policy")"

shopt -s nullglob
for f in "$golden"/*.yaml "$golden"/*.d; do
	n=${f##*/}
	n=${n%.*}
	accepted "golden $n" "$(fresh "golden-$n" "$f")"
done

# An invalid policy: exit 1, its error as DIR/FILE:LINE:COL on stderr,
# nothing on stdout (no half a ruleset).
d=$(fresh invalid "$root/policy")
sed -i 's/to: app, ports: \[tcp\/8080\]/to: ap, ports: [tcp\/8080]/' "$d/ztseg.yaml"
rc=0
"$ctl" show --config "$d" >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 1 && ! -s $tmp/out ]] && grep -q "^$d/ztseg.yaml:[0-9]*:[0-9]*: .*'ap'" "$tmp/err"; then
	ok "invalid policy: $(head -n1 "$tmp/err")"
else
	not_ok "invalid policy" "exit $rc, $(wc -c <"$tmp/out") bytes on stdout"
fi

rc=0
"$ctl" show --config "$tmp/nonexistent" >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 1 && ! -s $tmp/out && -s $tmp/err ]]; then
	ok "missing directory: $(head -n1 "$tmp/err")"
else
	not_ok "missing directory" "exit $rc"
fi

# Usage: exit 2 with a usage line; --help exit 0.
for args in "--frobnicate" "--config" "extra"; do
	rc=0
	# shellcheck disable=SC2086
	"$ctl" show $args >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -eq 2 ]] && grep -q '^Usage: ' "$tmp/err"; then
		ok "usage error: show $args"
	else
		not_ok "usage error: show $args" "exit $rc"
	fi
done
rc=0
"$ctl" show --help >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 0 ]] && grep -q '^Usage: .*show \[--config DIR\]' "$tmp/out"; then
	ok "show --help"
else
	not_ok "show --help" "exit $rc"
fi
rc=0
"$ctl" --help >"$tmp/out" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] && grep -q '^  show ' "$tmp/out"; then
	ok "ztsegctl --help lists show"
else
	not_ok "ztsegctl --help lists show" "exit $rc"
fi

cli_summary
