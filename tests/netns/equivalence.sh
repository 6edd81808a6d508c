#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# ztsegd's apply (libnftnl) against nft -f of `ztsegctl show` (nft text):
# for the example policy and every golden case, the two listings must be
# identical but for the table's flags line. Then re-apply keeps state, a
# changed policy applies as a diff, --remove removes only our table, and a
# Docker-like `table ip filter` stays byte for byte. Root only; everything
# happens in network namespaces made here and removed on exit.
set -u

B=${ZTSEG_BUILD:-build}
ZTSEGD=$(realpath "$B/ztsegd")
ZTSEGCTL=$(realpath "$B/ztsegctl")
SRC=$(realpath "$(dirname "$0")/../..")

if [ "$(id -u)" != 0 ]; then
	echo "equivalence: needs root (network namespaces); skipped"
	exit 77
fi
for t in nft ip unshare; do
	command -v "$t" >/dev/null || { echo "equivalence: $t missing; skipped"; exit 77; }
done

TMP=$(mktemp -d /tmp/zt-equiv.XXXXXX)
NS=()
cleanup() {
	for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
not_ok() { fail=$((fail + 1)); echo "FAIL - $*"; }

# nsnew NAME VAR: make namespace zteqPID-NAME and put its name in VAR. Not
# in $(...): the cleanup list must be this shell's.
nsnew() {
	local _name="zteq$$-$1"
	ip netns add "$_name" || return 1
	NS+=("$_name")
	ip -n "$_name" link set lo up
	printf -v "$2" '%s' "$_name"
}
nsdel() { ip netns del "$1" 2>/dev/null; }
inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# A policy directory as ztsegd accepts it: owned by us, not group/world writable.
policy_copy() {
	local from=$1 to=$2
	mkdir -p "$to"
	if [ -d "$from" ]; then cp -r "$from/." "$to/"; else cp "$from" "$to/ztseg.yaml"; fi
	find "$to" -type d -exec chmod 0755 {} +
	find "$to" -type f -exec chmod 0644 {} +
}

# The table's own flags line (nft text carries none) and the blank line after it.
noflags() { awk 'skip && /^$/ { skip = 0; next } { skip = 0 } /^\tflags / { skip = 1; next } { print }' "$@"; }
# The exact-name twins (lib/ifx.h) hold the namespace's links after an apply
# (here: lo); nft -f of the text leaves them empty, as ztsegctl show does.
TWINS='route_ownx|zone_ifx|zone_ifn|member_ifx|member_ifn|sub_ifx|dst_ifx'
notwins() {
	awk -v re="^\t(set|map) ($TWINS) \\{" '
	$0 ~ re { tw = 1 }
	tw && /^\t\t(elements = )/ { el = 1 }
	el { if ($0 ~ /}$/) el = 0; next }
	/^\t}/ { tw = 0 }
	{ print }'
}
listing() { inns "$1" nft list table inet ztseg | noflags | notwins; }

now_ns() { date +%s%N; }

# ---- equivalence: every case -----------------------------------------------
cases=("example:$SRC/policy")
for g in "$SRC"/tests/golden/*.yaml "$SRC"/tests/golden/*.d; do
	[ -e "$g" ] || continue
	n=$(basename "$g"); n=${n%.yaml}; n=${n%.d}
	cases+=("$n:$g")
done

for c in "${cases[@]}"; do
	name=${c%%:*} path=${c#*:}
	dir="$TMP/case-$name"
	policy_copy "$path" "$dir"
	if ! "$ZTSEGCTL" show --config "$dir" >"$TMP/$name.nft" 2>"$TMP/$name.show.err"; then
		not_ok "$name: ztsegctl show failed: $(tail -1 "$TMP/$name.show.err")"
		continue
	fi
	nsnew a a && nsnew b b || { not_ok "$name: cannot make namespaces"; continue; }
	t0=$(now_ns)
	inns "$a" "$ZTSEGD" --config "$dir" --oneshot >"$TMP/$name.apply" 2>&1
	ra=$?
	t1=$(now_ns)
	inns "$b" nft -f "$TMP/$name.nft" >"$TMP/$name.nft.err" 2>&1
	rb=$?
	t2=$(now_ns)
	if [ $ra != 0 ]; then
		not_ok "$name: ztsegd --oneshot failed: $(head -5 "$TMP/$name.apply")"
	elif [ $rb != 0 ]; then
		not_ok "$name: nft -f of ztsegctl show failed: $(grep -m3 Error "$TMP/$name.nft.err")"
	else
		listing "$a" >"$TMP/$name.a"
		if [ "$name" = example ]; then
			if inns "$a" nft list set inet ztseg member_ifn | grep -q '"lo"'; then
				ok "$name: apply filled member_ifn from the links (lo)"
			else
				not_ok "$name: member_ifn does not hold lo after apply"
			fi
		fi
		listing "$b" >"$TMP/$name.b"
		if diff -u "$TMP/$name.b" "$TMP/$name.a" >"$TMP/$name.diff"; then
			ok "$name: ztsegd and nft -f list the same ($(wc -l <"$TMP/$name.a") lines)"
		else
			not_ok "$name: listings differ:"
			head -40 "$TMP/$name.diff"
		fi
	fi
	if [ "$name" = example ]; then
		echo "#    apply time, example: ztsegd --oneshot $(((t1 - t0) / 1000000)) ms" \
			"($(sed -n 's/.* in \([0-9.]* ms\).*/\1 inside/p' "$TMP/$name.apply")), nft -f $(((t2 - t1) / 1000000)) ms"
	fi
	nsdel "$a"
	nsdel "$b"
done

# ---- state across re-applies -------------------------------------------------
base="$TMP/state-base"
changed="$TMP/state-changed"
mkdir -p "$base" "$changed"
cat >"$base/ztseg.yaml" <<'EOF'
version: 1
hub:
  flows:
    - { name: web-to-app, from: web, to: app, ports: [tcp/8080] }
segments:
  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/26] }
  app: { interfaces: ["vapp*"], addresses: [198.51.100.64/26] }
EOF
sed 's|^  flows:|  flows:\n    - { name: app-to-web, from: app, to: web, ports: [tcp/443] }|' \
	"$base/ztseg.yaml" >"$changed/ztseg.yaml"
chmod 0755 "$base" "$changed"
chmod 0644 "$base/ztseg.yaml" "$changed/ztseg.yaml"
nsnew s ns || { not_ok "state: cannot make a namespace"; echo "$pass passed, $fail failed"; exit 1; }

# A Docker-like table that must never change.
inns "$ns" nft -f - <<'EOF'
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		iifname "docker0" oifname != "docker0" accept
		ct state established,related accept
	}
	chain DOCKER-USER {
		return
	}
}
EOF
inns "$ns" nft list table ip filter >"$TMP/docker.before"

nohandles() { sed '/^\tflags /d;s/ # handle [0-9]*//' "$@"; }
packets() { inns "$ns" nft list counter inet ztseg "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'; }

if inns "$ns" "$ZTSEGD" --config "$base" --oneshot >"$TMP/s1" 2>&1; then
	ok "state: first apply ($(cat "$TMP/s1"))"
else
	not_ok "state: first apply failed: $(cat "$TMP/s1")"
fi
inns "$ns" nft -a list table inet ztseg >"$TMP/h1"

inns "$ns" "$ZTSEGD" --config "$base" --oneshot >"$TMP/s2" 2>&1
inns "$ns" nft -a list table inet ztseg >"$TMP/h2"
if grep -q "changed 0," "$TMP/s2" && diff -q <(noflags "$TMP/h1") <(noflags "$TMP/h2") >/dev/null; then
	ok "state: re-applying an unchanged policy changes nothing, handles stay ($(sed 's/.*changed/changed/' "$TMP/s2"))"
else
	not_ok "state: unchanged re-apply: $(cat "$TMP/s2")"
	diff <(noflags "$TMP/h1") <(noflags "$TMP/h2") | head -20
fi

# Count packets in a flow counter through a rule added behind ztsegd's back
# (the table is orphaned between runs), then re-apply: the foreign rule goes,
# the counter keeps its value.
counter=$(inns "$ns" nft list counters table inet ztseg | sed -n 's/^\tcounter \(c_[0-9a-f]*\) {/\1/p' | head -1)
inns "$ns" nft insert rule inet ztseg spoof counter name "\"$counter\""
# Connection attempts to a closed port: a SYN and a reset each, through prerouting on lo.
for _ in 1 2 3; do inns "$ns" timeout 2 bash -c 'echo >/dev/tcp/127.0.0.1/9' 2>/dev/null; done
before=$(packets "$counter")
inns "$ns" "$ZTSEGD" --config "$base" --oneshot >"$TMP/s3" 2>&1
after=$(packets "$counter")
inns "$ns" nft -a list table inet ztseg >"$TMP/h3"
if [ -n "$before" ] && [ "$before" -gt 0 ] && [ "$before" = "$after" ] &&
	! grep -q "counter name \"$counter\"$" <(sed -n '/chain spoof {/,/^\t}/p' "$TMP/h3" | sed 's/ # handle [0-9]*//'); then
	ok "state: counter $counter keeps its $after packets while a re-apply undoes a foreign rule ($(sed 's/.*changed/changed/' "$TMP/s3"))"
else
	not_ok "state: counter $counter went from '$before' to '$after' ($(cat "$TMP/s3"))"
fi

# A changed policy (one more flow) applies as a diff: chains it does not
# touch keep their rules' handles, counters their values.
if inns "$ns" "$ZTSEGD" --config "$changed" --oneshot >"$TMP/s4" 2>&1; then
	inns "$ns" nft -a list table inet ztseg >"$TMP/h4"
	spoof_before=$(sed -n '/chain spoof {/,/^\t}/p' "$TMP/h3")
	spoof_after=$(sed -n '/chain spoof {/,/^\t}/p' "$TMP/h4")
	if ! grep -q "changed [1-9]" "$TMP/s4"; then
		not_ok "state: changed policy was not applied as a diff: $(cat "$TMP/s4")"
	elif [ -n "$spoof_before" ] && [ "$spoof_before" = "$spoof_after" ] && [ "$(packets "$counter")" = "$after" ] &&
		grep -q "app-to-web" "$TMP/h4"; then
		ok "state: a changed policy applies as a diff ($(sed 's/.*changed/changed/' "$TMP/s4")); untouched chains keep their handles"
	else
		not_ok "state: changed policy: $(cat "$TMP/s4")"
	fi
else
	not_ok "state: changed policy failed: $(cat "$TMP/s4")"
fi

inns "$ns" nft list table ip filter >"$TMP/docker.mid"
if inns "$ns" "$ZTSEGD" --remove >"$TMP/s5" 2>&1 && ! inns "$ns" nft list table inet ztseg >/dev/null 2>&1; then
	ok "remove: $(cat "$TMP/s5")"
else
	not_ok "remove: $(cat "$TMP/s5")"
fi
inns "$ns" nft list table ip filter >"$TMP/docker.after"
if cmp -s "$TMP/docker.before" "$TMP/docker.mid" && cmp -s "$TMP/docker.before" "$TMP/docker.after"; then
	ok "coexistence: table ip filter identical before, during and after"
else
	not_ok "coexistence: table ip filter changed"
	diff "$TMP/docker.before" "$TMP/docker.after" | head
fi
if inns "$ns" "$ZTSEGD" --remove 2>&1 | grep -q "no table"; then
	ok "remove: a second --remove finds nothing to remove"
else
	not_ok "remove: a second --remove"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
