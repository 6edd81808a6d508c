#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# doc/HACKING.md stays true: every source file in lib/ and daemon/ has its
# line there (`lib/x.c` — what it owns), and every file it lists exists.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

doc=$root/doc/HACKING.md
[[ -f $doc ]] || { echo "not ok - doc/HACKING.md is missing"; exit 1; }

for f in "$root"/lib/*.[ch] "$root"/daemon/*.[ch]; do
	rel=${f#"$root"/}
	# A list item that names the file (alone or with its header) and says what it owns.
	if grep -qE "^[-*] (\`[^\`]+\` )*\`$rel\`( \`[^\`]+\`)* (—|-|:) [^ ]" "$doc"; then
		ok "doc/HACKING.md lists $rel"
	else
		not_ok "doc/HACKING.md lists $rel" "no line '- \`$rel\` what it owns'"
	fi
done
while read -r rel; do
	if [[ -e $root/$rel ]]; then
		ok "doc/HACKING.md names $rel, which exists"
	else
		not_ok "doc/HACKING.md names $rel" "no such file"
	fi
done < <(grep -oE '`(lib|daemon|tests|bench|man|doc|systemd|policy)/[A-Za-z0-9_./-]+`' "$doc" |
	tr -d '`' | sort -u)
cli_summary
