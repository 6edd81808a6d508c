#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# doc/FLEET.md and doc/prometheus-alerts.yml stay true: every YAML block of
# the fleet guide parses, its hub policy and segment file pass `ztsegctl
# check` together, the alert rules parse as Prometheus rule groups, and
# every ztseg_ metric they use is one ztsegd exports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[[ -x $PY ]] && $PY -c 'import yaml' 2>/dev/null || { PY=python3; $PY -c 'import yaml' 2>/dev/null; } ||
	{ echo "SKIP: no python3 with yaml (python3-yaml)"; exit 77; }
doc=$root/doc/FLEET.md alerts=$root/doc/prometheus-alerts.yml

# Each ```yaml block of the guide, as its own file.
mkdir -p "$tmp/blocks"
awk -v d="$tmp/blocks" '/^```yaml$/ { n++; f = sprintf("%s/%02d.yaml", d, n); on = 1; next }
	/^```$/ { on = 0 } on { print > f }' "$doc"
n=$(ls "$tmp/blocks" | wc -l)
[[ $n -ge 5 ]] && ok "FLEET.md has $n YAML blocks" || not_ok "FLEET.md YAML blocks" "found $n"
for f in "$tmp"/blocks/*.yaml; do
	if $PY -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" 2>"$tmp/log"; then
		ok "FLEET.md YAML block $(basename "$f" .yaml) parses"
	else
		not_ok "FLEET.md YAML block $(basename "$f" .yaml) parses" "$(tail -1 "$tmp/log")"
	fi
done

# The hub and the db segment file, as a host would have them.
pol=$tmp/pol
mkdir -p "$pol/segments.d"
hub=$(grep -l '^# ztseg/ztseg.yaml' "$tmp"/blocks/*.yaml)
cp "$hub" "$pol/ztseg.yaml"
for f in $(grep -l '^# ztseg/\(segments.d\|hosts\)/' "$tmp"/blocks/*.yaml); do
	cp "$f" "$pol/segments.d/$(sed -n '1s|^# ztseg/[^ ]*/\([a-z]*\.yaml\).*|\1|p' "$f")"
done
chmod 0755 "$pol" "$pol/segments.d"
chmod 0644 "$pol/ztseg.yaml" "$pol"/segments.d/*.yaml
[[ $(ls "$pol/segments.d" | wc -l) -eq 3 ]] && ok "FLEET.md has three segment files" ||
	not_ok "FLEET.md has three segment files" "$(ls "$pol/segments.d")"
if "$ctl" check --config "$pol" >"$tmp/log" 2>&1 && ! grep -q warning "$tmp/log"; then
	ok "FLEET.md's hub policy and segment files pass ztsegctl check without warnings"
else
	not_ok "FLEET.md's hub policy and segment file pass ztsegctl check" "$(head -3 "$tmp/log")"
fi

# The alert rules: Prometheus' rule-file shape, and only metrics that exist.
if $PY - "$alerts" "$root/daemon/ztsegd-metrics.c" >"$tmp/log" 2>&1 <<'PY'
import re, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))
src = open(sys.argv[2]).read()
exported = set(re.findall(r'"(ztseg_[a-z_]+)"', src))
hist = {n for n in exported if n.endswith("_seconds")}
names = set()
for g in rules["groups"]:
    assert set(g) <= {"name", "rules", "interval"}, g.keys()
    for r in g["rules"]:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
        assert r["alert"] and r["expr"], r
        names |= set(re.findall(r"\b(ztseg_[a-z_]+)", r["expr"]))
for n in sorted(names):
    base = re.sub(r"_(bucket|sum|count)$", "", n)
    assert n in exported or base in hist, "not exported: " + n
print(len(names), "metrics")
PY
then
	ok "prometheus-alerts.yml: rule groups, every metric exported ($(cat "$tmp/log"))"
else
	not_ok "prometheus-alerts.yml: rule groups, every metric exported" "$(tail -2 "$tmp/log")"
fi
cli_summary
