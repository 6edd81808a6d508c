#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `ztsegctl check` end to end: the shipped example passes; each kind of defect,
# planted in a copy of it, fails fast with FILE:LINE:COL of the offending token.
set -euo pipefail

. "$(dirname "$0")/lib.sh"

# Sanitizers slow a run down by an order of magnitude.
limit_ms=100
case $build in *asan*) limit_ms=1000 ;; esac

# A copy of the example with safe modes.
fresh() { cli_config "$1" "$root/policy"; }

# LINE:COL of the first occurrence of a string in a file (1-based, bytes).
pos() {
	awk -v s="$2" 'i = index($0, s) { print NR ":" i; found = 1; exit }
		END { exit !found }' "$1"
}

# Insert TEXT as a new line after the first line matching REGEX.
insert_after() {
	local file=$1 regex=$2 text=$3 n
	n=$(grep -n -m1 -E -- "$regex" "$file" | cut -d: -f1)
	[[ -n $n ]] || { echo "insert_after: no '$regex' in $file" >&2; exit 1; }
	TEXT=$text awk -v n="$n" '{ print } NR == n { print ENVIRON["TEXT"] }' \
		"$file" >"$file.new"
	cat "$file.new" >"$file"
	rm "$file.new"
}

# run DIR: ztsegctl check on DIR; sets rc, ms and the files out, err.
run() {
	local t0 t1
	t0=$(date +%s%N)
	rc=0
	"$ctl" check --config "$1" >"$tmp/out" 2>"$tmp/err" || rc=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
}

# expect_error NAME DIR WHERE FRAGMENT: exit 1 within the time limit, and
# stderr's first line is "DIR/WHERE: ..." (WHERE is FILE or FILE:LINE:COL;
# empty for the directory itself) containing FRAGMENT.
expect_error() {
	local name=$1 dir=$2 where=$3 fragment=$4 first prefix
	prefix="$dir${where:+/$where}: "
	run "$dir"
	first=$(head -n1 "$tmp/err")
	if [[ $rc -ne 1 ]]; then
		not_ok "$name" "exit $rc, expected 1"
	elif [[ $first != "$prefix"* ]]; then
		not_ok "$name" "first line '$first' does not start with '$prefix'"
	elif [[ $first != *"$fragment"* ]]; then
		not_ok "$name" "first line '$first' lacks '$fragment'"
	elif [[ -s $tmp/out ]]; then
		not_ok "$name" "printed on stdout: $(head -c 200 "$tmp/out")"
	elif ((ms >= limit_ms)); then
		not_ok "$name" "took $ms ms, limit $limit_ms ms"
	else
		ok "$name ($ms ms): $first"
	fi
}

# --- the example itself -----------------------------------------------------

d=$(fresh example)
run "$d"
if [[ $rc -ne 0 ]]; then
	not_ok "example passes" "exit $rc"
elif [[ -s $tmp/err ]]; then
	not_ok "example passes" "stderr not empty (warnings?)"
elif ! grep -qE '^policy OK: [0-9]+ segments?, [0-9]+ subnets?, [0-9]+ boundar(y|ies), [0-9]+ flows?, [0-9]+ segment rules?$' "$tmp/out"; then
	not_ok "example passes" "summary: $(cat "$tmp/out")"
elif ((ms >= limit_ms)); then
	not_ok "example passes" "took $ms ms"
else
	ok "example passes ($ms ms): $(cat "$tmp/out")"
fi

# The path is printed as the user gave it, trailing slash or not.
d=$(fresh slash)
chmod 0646 "$d/ztseg.yaml"
"$ctl" check --config "$d/" >/dev/null 2>"$tmp/err" || true
if [[ $(head -n1 "$tmp/err") == "$d/ztseg.yaml: "* ]]; then
	ok "trailing slash joins cleanly"
else
	not_ok "trailing slash joins cleanly" "$(head -n1 "$tmp/err")"
fi

# Committed modes: a checkout must be able to pass as it is (under umask 022).
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1 &&
   [[ -n $(git -C "$root" ls-files policy) ]]; then
	bad=$(git -C "$root" ls-files -s policy | awk '$1 != "100644"')
	if [[ -z $bad ]]; then
		ok "policy files are committed as 0644"
	else
		not_ok "policy files are committed as 0644" "$bad"
	fi
fi

# --- one defect each ----------------------------------------------------------

# YAML: a key twice in one mapping (the second one is the error).
d=$(fresh dup-key)
echo '    interfaces: ["vweb0"]' >>"$d/segments.d/web.yaml"
expect_error "duplicate key" "$d" \
	"segments.d/web.yaml:$(pos "$d/segments.d/web.yaml" 'interfaces: ["vweb0"]')" \
	"duplicate key 'interfaces'"

# YAML: an alias (anchors and aliases make one node mean two places).
d=$(fresh alias)
printf '  cache:\n    interfaces: *ifs\n' >>"$d/ztseg.yaml"
expect_error "alias" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" '*ifs')" "alias"

# A key the language does not have.
d=$(fresh unknown-key)
echo '    colour: blue' >>"$d/ztseg.yaml"
expect_error "unknown key" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" 'colour:')" \
	"unknown key 'colour'"

# A flow to a zone that does not exist, with a suggestion.
d=$(fresh unknown-zone)
insert_after "$d/ztseg.yaml" '^  flows:' '    - { from: web, to: ap, ports: [tcp/8080] }'
expect_error "flow to unknown zone" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" 'ap, ports')" \
	"unknown zone 'ap' (did you mean 'app'?)"

# The same prefix declared by two segments.
d=$(fresh two-zones)
printf '  cache:\n    interfaces: ["vcache*"]\n    addresses: [198.51.100.192/26]\n' \
	>>"$d/ztseg.yaml"
expect_error "prefix declared by two zones" "$d" \
	"ztseg.yaml:$(pos "$d/ztseg.yaml" '198.51.100.192/26]')" \
	"198.51.100.192/26"

# A segment file may not speak for the hub.
d=$(fresh hub-in-segment)
printf 'hub:\n  default: drop\n' >>"$d/segments.d/db.yaml"
expect_error "hub: in a segment file" "$d" \
	"segments.d/db.yaml:$(pos "$d/segments.d/db.yaml" 'hub:')" "'hub' is only allowed in ztseg.yaml"

# A spoke the hub did not delegate.
d=$(fresh undelegated)
printf 'segments:\n  cache:\n    interfaces: ["vcache*"]\n' >"$d/segments.d/cache.yaml"
expect_error "undelegated spoke" "$d" "segments.d/cache.yaml:2:3" "cache"

# A spoke claiming an address outside its delegation.
d=$(fresh outside-delegation)
sed -i 's|"2001:db8:0:1::/64"\]|"2001:db8:0:1::/64", 192.0.2.0/28]|' "$d/segments.d/web.yaml"
expect_error "spoke outside its delegation" "$d" \
	"segments.d/web.yaml:$(pos "$d/segments.d/web.yaml" '192.0.2.0/28')" "192.0.2.0/28"

# Interface patterns of two zones that one name could match.
d=$(fresh overlap-ifs)
printf '  cache:\n    interfaces: ["vapp-cache*"]\n' >>"$d/ztseg.yaml"
expect_error "overlapping interface patterns" "$d" \
	"ztseg.yaml:$(pos "$d/ztseg.yaml" '"vapp-cache*"')" "vapp"

# Malformed values: CIDR, port, interface pattern.
d=$(fresh bad-cidr)
printf '  cache:\n    addresses: [192.0.2.0/33]\n' >>"$d/ztseg.yaml"
expect_error "malformed CIDR" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" '192.0.2.0/33')" \
	"192.0.2.0/33"

d=$(fresh bad-port)
insert_after "$d/ztseg.yaml" '^  flows:' '    - { from: web, to: app, ports: [tcp/70000] }'
expect_error "malformed port" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" 'tcp/70000')" \
	"tcp/70000"

d=$(fresh bad-pattern)
printf '  cache:\n    interfaces: ["vc*x"]\n' >>"$d/ztseg.yaml"
expect_error "malformed interface pattern" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" '"vc*x"')" \
	"vc*x"

# hub.mark-mask (bridge ports, issue 14): one run of an even number of bits.
d=$(fresh bad-mark-mask)
insert_after "$d/ztseg.yaml" '^hub:' '  mark-mask: 0x00ff0100'
expect_error "mark-mask not one run of bits" "$d" "ztseg.yaml:$(pos "$d/ztseg.yaml" '0x00ff0100')" \
	"not one run of an even number of bits"
d=$(fresh small-mark-mask)
insert_after "$d/ztseg.yaml" '^hub:' '  mark-mask: 0x0000000f'
run "$d"
if [[ $rc -eq 0 ]] && grep -q "not enforced as bridge ports: hub.mark-mask 0x0000000f has room for 3" "$tmp/err"; then
	ok "mark-mask with room for 3 segments: a warning names the others"
else
	not_ok "mark-mask with room for 3 segments: a warning names the others (exit $rc)"
	sed 's/^/#   /' "$tmp/err"
fi

# Whoever can write the policy can open any path: modes are checked.
d=$(fresh world-writable)
chmod 0646 "$d/segments.d/db.yaml"
expect_error "world-writable file" "$d" "segments.d/db.yaml" "writable by group or others"

d=$(fresh group-writable-dir)
chmod 0775 "$d/segments.d"
expect_error "group-writable directory" "$d" "segments.d" "writable by group or others"

# Limits: a 2 MiB file, and 10,000 nested '['.
d=$(fresh big-file)
{
	echo 'segments: {}'
	head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' '#' | fold -w 1023
} >"$d/segments.d/big.yaml"
chmod 0644 "$d/segments.d/big.yaml"
expect_error "2 MiB file" "$d" "segments.d/big.yaml" "limit"

d=$(fresh deep)
{
	printf 'segments: '
	head -c 10000 /dev/zero | tr '\0' '['
	echo
} >"$d/segments.d/deep.yaml"
chmod 0644 "$d/segments.d/deep.yaml"
# The top-level mapping is the first level, so the 32nd '[' is one too many.
expect_error "10,000 nested [" "$d" "segments.d/deep.yaml:1:$((11 + 31))" "nest"

# --- warnings: exit 0, the warning on stderr with FILE:LINE:COL --------------

# expect_warning NAME DIR WHERE FRAGMENT: exit 0, "policy OK" on stdout, and
# a stderr line "DIR/WHERE: warning: ..." containing FRAGMENT.
expect_warning() {
	local name=$1 dir=$2 where=$3 fragment=$4 line
	run "$dir"
	line=$(grep -F -- "$dir/$where: warning: " "$tmp/err" | grep -F -- "$fragment" | head -n1 || true)
	if [[ $rc -ne 0 ]]; then
		not_ok "$name" "exit $rc, expected 0"
	elif ! grep -q '^policy OK: ' "$tmp/out"; then
		not_ok "$name" "stdout: $(head -c 200 "$tmp/out")"
	elif [[ -z $line ]]; then
		not_ok "$name" "no warning at $where containing '$fragment'"
	else
		ok "$name: $line"
	fi
}

# The silent lock-out: protect-host with no flow to the host (only from: host).
d=$(fresh lockout)
sed -i -E '/- \{ name: (dns|admin-ssh), /d' "$d/ztseg.yaml"
grep -q 'to: host' "$d/ztseg.yaml" && { echo "lockout: a flow to host is left" >&2; exit 1; }
expect_warning "protect-host with nothing allowed to reach the host" "$d" \
	"ztseg.yaml:$(pos "$d/ztseg.yaml" 'default: drop')" \
	"no flow has to: host; nothing may reach this machine, and SSH sessions to it (yours too) are cut"
# ...and not while one flow still reaches it.
d=$(fresh lockout-not)
sed -i -E '/- \{ name: dns, /d' "$d/ztseg.yaml"
run "$d"
if [[ $rc -eq 0 && ! -s $tmp/err ]]; then
	ok "one flow to host (admin-ssh): no lock-out warning"
else
	not_ok "one flow to host (admin-ssh): no lock-out warning" "exit $rc"
fi

# rpf: loose, and a flow from a boundary bound to no interface: its
# addresses are anyone's to claim.
d=$(fresh rpf-loose-unbound)
sed -i 's/^  rpf: strict/  rpf: loose/' "$d/ztseg.yaml"
insert_after "$d/ztseg.yaml" '^  boundaries:' '    corp: { addresses: [192.0.2.128/25, "2001:db8:c::/64"] }'
insert_after "$d/ztseg.yaml" '^  flows:' '    - { name: corp-web, from: corp, to: web.front, ports: [tcp/80] }'
expect_warning "rpf: loose with a flow from an unbound boundary" "$d" \
	"ztseg.yaml:$(pos "$d/ztseg.yaml" '{ name: corp-web')" \
	"flow 'corp-web': with rpf: loose, from: corp (a boundary without interfaces) means from anyone who claims its addresses (192.0.2.128/25, ...)"
# The same with rpf: strict: the reverse path vouches for the source.
sed -i 's/^  rpf: loose/  rpf: strict/' "$d/ztseg.yaml"
run "$d"
if [[ $rc -eq 0 ]] && ! grep -q "corp-web" "$tmp/err"; then
	ok "rpf: strict with the same flow: no warning"
else
	not_ok "rpf: strict with the same flow: no warning" "exit $rc"
fi

# --- whole-directory problems ------------------------------------------------

expect_error "missing directory" "$tmp/no-such-dir" "" "no such directory"

# Relative paths print as given, the directory itself included.
d=$(fresh relative)
chmod 0646 "$d/ztseg.yaml"
first=$(cd "$tmp" && { "$ctl" check --config relative 2>&1 >/dev/null || true; } | head -n1)
second=$(cd "$tmp" && { "$ctl" check --config no-such-dir 2>&1 >/dev/null || true; } | head -n1)
if [[ $first == "relative/ztseg.yaml: "* && $second == "no-such-dir: "* ]]; then
	ok "relative paths: $first"
else
	not_ok "relative paths" "'$first' / '$second'"
fi

# --- usage errors: exit 2 ----------------------------------------------------

usage() {
	local name=$1 rc=0
	shift
	"$ctl" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 2 ]]; then
		not_ok "$name" "exit $rc, expected 2"
	elif ! grep -q '^Usage: ' "$tmp/err"; then
		not_ok "$name" "no usage line on stderr"
	else
		ok "$name: $(head -n1 "$tmp/err")"
	fi
}
d=$(fresh usage)
usage "no command"
usage "unknown command" frobnicate
usage "unknown global option" --frobnicate check
usage "unknown check option" check --frobnicate
usage "check --config without a value" check --config
usage "check with an extra argument" check --config "$d" extra
usage "check with an empty --config" check --config ""

rc=0
"$ctl" --version >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 0 && $(cat "$tmp/out") == "ztsegctl "[0-9]* ]]; then
	ok "--version: $(cat "$tmp/out")"
else
	not_ok "--version" "exit $rc: $(cat "$tmp/out")"
fi
rc=0
"$ctl" --help >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 0 ]] && grep -q '^  check ' "$tmp/out" && grep -q '^  explain ' "$tmp/out"; then
	ok "--help lists the commands"
else
	not_ok "--help lists the commands" "exit $rc"
fi

cli_summary
