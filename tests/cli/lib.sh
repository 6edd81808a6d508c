# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the tests/cli scripts: where the programs are, a temporary
# directory removed on exit, TAP-like ok/not ok lines with the closing
# "N passed, M failed" count, and policy directories with safe modes.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${ZTSEG_BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
ctl=$build/ztsegctl
[[ -x $ctl ]] || { echo "${0##*/}: $ctl not built" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# What not_ok shows of a failing case: these files, up to this many lines.
cli_logs=("$tmp/err")
cli_log_lines=5

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
	local f
	failed=$((failed + 1))
	echo "not ok - $1: $2"
	for f in "${cli_logs[@]}"; do
		[[ -s $f ]] && sed 's/^/#   /' "$f"
	done | head -"$cli_log_lines"
	return 0
}

# cli_summary: the closing count; the exit status says whether all passed.
cli_summary() {
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# cli_config NAME SRC: a config directory $tmp/NAME made from SRC (a policy
# directory, or one YAML file that becomes its ztseg.yaml), with the modes a
# checkout under umask 002 lacks: group-writable policy files are refused.
cli_config() {
	local d=$tmp/$1 src=$2
	rm -rf "$d"
	mkdir "$d"
	if [[ -d $src ]]; then
		cp -R "$src/." "$d"
	else
		cp "$src" "$d/ztseg.yaml"
	fi
	find "$d" -type d -exec chmod 0755 {} +
	find "$d" -type f -exec chmod 0644 {} +
	echo "$d"
}
