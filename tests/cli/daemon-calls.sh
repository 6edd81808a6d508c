#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daemon/ calls in one direction only: no file calls a function of a file
# that calls (directly or through others) one of its own, and no header
# includes its way back to itself. A call is NAME( of a non-static
# function defined in another daemon/*.c (function-like macros in
# daemon/*.h count as the function they expand to); naming a function
# without calling it (a callback handed to sd-event or a verb table) is
# not a call. Cycles are found with tsort. And in ztsegd, a non-static
# function is in the file its name says: manager_X_* in ztsegd-X.c.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The source without comments, strings and character constants.
strip() {
	"${CC:-cc}" -fpreprocessed -dD -E -P -x c "$1" 2>/dev/null |
		sed -E 's/"([^"\\]|\\.)*"/""/g; s/'\''([^'\''\\]|\\.)*'\''/0/g'
}

# "NAME" for each non-static function defined in a stripped file: a line at
# column 0 with a parenthesis, not static, whose declaration goes on to a
# "{" line rather than ending in ";".
defs() {
	awk '
	/^[A-Za-z_]/ && /\(/ && !/^(static|typedef|extern|#)/ {
		head = $0
		sub(/\(.*/, "", head)
		n = split(head, w, /[^A-Za-z0-9_]+/)
		name = w[n]
		if (name == "" && n > 1)
			name = w[n - 1]
	}
	name != "" && /;[[:space:]]*$/ { name = "" }
	name != "" && /^\{/ { if (name != "main") print name; name = "" }
	'
}

# "FILE.c FILE.c" for every call from one file to another of dir (and
# "FILE.c FILE.c" for each file, so that tsort knows them all).
call_edges() {
	local dir=$1 f g name alias target
	local -A def=() src=()
	for f in "$dir"/*.c; do
		src[$f]=$(strip "$f")
		while read -r name; do
			def[$name]=${f##*/}
		done < <(defs <<<"${src[$f]}")
		echo "${f##*/} ${f##*/}"
	done
	# Function-like macros that stand for a function: log_error(...) is log_fields(...).
	while read -r alias target; do
		[[ -n ${def[$target]:-} ]] && def[$alias]=${def[$target]}
	done < <(cat "$dir"/*.h 2>/dev/null |
		sed -nE 's/^#define ([A-Za-z_][A-Za-z0-9_]*)\([^)]*\)[[:space:]]+([A-Za-z_][A-Za-z0-9_]*)\(.*/\1 \2/p')
	for f in "$dir"/*.c; do
		for name in "${!def[@]}"; do
			g=${def[$name]}
			[[ $g == "${f##*/}" ]] && continue
			if grep -qE "(^|[^A-Za-z0-9_.>])$name[[:space:]]*\(" <<<"${src[$f]}"; then
				echo "${f##*/} $g"
			fi
		done
	done | sort -u
}

# "FILE HEADER" for each #include "HEADER" of dir's files that is in dir.
include_edges() {
	local dir=$1 f h
	for f in "$dir"/*.[ch]; do
		echo "${f##*/} ${f##*/}"
		while read -r h; do
			[[ -e $dir/$h ]] && echo "${f##*/} $h"
		done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
	done
}

# acyclic WHAT EDGES: ok when tsort finds no loop; the loop otherwise.
acyclic() {
	local what=$1 edges=$2 err
	if err=$(tsort <<<"$edges" 2>&1 >/dev/null); then
		ok "$what"
	else
		not_ok "$what" "$(grep -v 'input contains a loop' <<<"$err" | sed 's/^tsort: //' | tr '\n' ' ')"
	fi
}

# The check itself must see a cycle: two made-up files that call each other.
mkdir "$tmp/cyc"
printf 'int a_one(void);\nint b_two(void);\nint a_one(void)\n{\n\treturn b_two();\n}\n' >"$tmp/cyc/a.c"
printf 'int a_one(void);\nint b_two(void)\n{\n\t/* a_one() in a comment is no call */\n\treturn a_one();\n}\n' >"$tmp/cyc/b.c"
printf 'int c_three(void (*f)(void));\nint c_three(void (*f)(void))\n{\n\treturn a_one == (void *)f;\n}\n' >"$tmp/cyc/c.c"
edges=$(call_edges "$tmp/cyc")
if grep -qx 'a.c b.c' <<<"$edges" && grep -qx 'b.c a.c' <<<"$edges" && ! grep -q '^c.c a.c' <<<"$edges" &&
	! tsort <<<"$edges" >/dev/null 2>&1; then
	ok "the check finds a.c and b.c calling each other (and no call in a callback's name)"
else
	not_ok "the check finds a circular call" "edges: $(tr '\n' ',' <<<"$edges")"
fi

edges=$(call_edges "$root/daemon")
acyclic "daemon/: no circular calls between files" "$edges"
acyclic "daemon/: no circular includes" "$(include_edges "$root/daemon")"
# The order, top first, for whoever reads the test's output.
echo "# call order (callers first): $(tsort <<<"$edges" 2>/dev/null | grep ztsegd | tr '\n' ' ')"

# ztsegd: manager_X_* in ztsegd-X.c; the manager's own four (and
# manager_dirty, inline) in ztsegd-manager.c; log_* in ztsegd-log.c.
for f in "$root"/daemon/ztsegd*.c; do
	file=${f##*/}
	want=${file#ztsegd-}
	want=${want%.c}
	bad=()
	while read -r name; do
		case $file:$name in
		ztsegd-manager.c:manager_new | ztsegd-manager.c:manager_setup | ztsegd-manager.c:manager_start | \
			ztsegd-manager.c:manager_free) ;;
		ztsegd-log.c:log_*) ;;
		*:manager_"${want}"_*) ;;
		*) bad+=("$name") ;;
		esac
	done < <(strip "$f" | defs)
	if ((${#bad[@]} == 0)); then
		ok "daemon/$file: its functions carry its name"
	else
		not_ok "daemon/$file: its functions carry its name" "${bad[*]}"
	fi
done
cli_summary
