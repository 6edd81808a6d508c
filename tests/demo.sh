#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# See ztseg work: build it, make a small routed host out of network
# namespaces (workloads behind veths, an office behind wg-onprem, the
# internet behind uplink0), apply the example policy with
# `ztsegd --oneshot`, send real TCP, UDP and ICMP between everything, print
# who can reach whom and why, and remove it all again. Everything happens
# inside namespaces made for the purpose (ztt-<pid>-*): the machine's own
# firewall, links and routes are never touched. Needs root; on Debian 12
# it installs the packages it lacks.
set -euo pipefail

cd "$(dirname "$0")/.."
. tests/deps.sh

if [[ $(id -u) -ne 0 ]]; then
	echo "demo.sh: needs root: it builds network namespaces and applies nftables rules inside them"
	echo "(offline, without root: build/ztsegctl explain --config policy FROM TO PROTO/PORT)"
	exit 77
fi
zt_install_deps "${ZT_BUILD_PKGS[@]}" nftables iproute2 ||
	{ echo "demo.sh: cannot install the packages it needs" >&2; exit 1; }

echo "=== building"
make -s -j"$(nproc 2>/dev/null || echo 2)" all >/dev/null ||
	{ echo "demo.sh: the build failed; run make to see why" >&2; exit 1; }

source tests/netns/lib.sh
zt_init

policy=$(zt_policy example)
cat <<EOF

=== the example policy (policy/): is it valid?
\$ ztsegctl check --config policy
EOF
"$ZT_CTL" check --config "$policy" 2>&1 | sed "s|$policy/||g; s/^/  /"

echo
echo "=== building the network: a host namespace and one namespace per machine"
zt_up
zt_serve
printf '  %-9s %-10s %-15s %-20s %s\n' node "host side" IPv4 IPv6 "zone (explain)"
for n in "${ZT_NODES[@]}"; do
	printf '  %-9s %-10s %-15s %-20s %s\n' "$n" "${ZT_IF[$n]}" "${ZT_V4[$n]}" "${ZT_V6[$n]}" \
		"$(zt_explain_case "$policy" "$n" host 4 tcp 1 | sed -nE 's/^from: ([^ ]+).*/\1/p')"
done
echo "  host      (itself)   $ZT_HOST_V4       $ZT_HOST_V6"
cat <<'EOF'
  This kernel has no WireGuard: wg-onprem is a veth, and ztsegd is told to
  trust veth as an encrypting link kind (--encrypting-kinds veth) so that
  the policy's "encrypted: true" flow has an encrypted interface to use.
EOF

echo
echo "=== applying it: ztsegd --oneshot --config policy --encrypting-kinds veth"
t0=$(date +%s%N)
zt_apply "$policy"
t1=$(date +%s%N)
listing=$(zt_nft list table inet ztseg)
printf '  applied in %d ms: table inet ztseg, %d chains, %d sets and maps, %d rules\n' \
	$(((t1 - t0) / 1000000)) "$(grep -c '^	chain ' <<<"$listing")" \
	"$(grep -cE '^	(set|map) ' <<<"$listing")" \
	"$(grep -cvE '^[[:space:]]*(table|chain|set|map|type|flags|elements|counter|policy|\}|$)|^[[:space:]]*(packets|[0-9a-f:./ ,\"*-]+,?$)' <<<"$listing")"

# Every port the policy names, TCP and UDP, and ICMP echo, IPv4 and IPv6,
# between every pair: sent for real, and asked of explain.
cases=$ZT_TMP/cases
nodes=(host "${ZT_NODES[@]}")
mapfile -t tcp < <(zt_policy_ports tcp "$policy")
mapfile -t udp < <(zt_policy_ports udp "$policy")
id=0
for s in "${nodes[@]}"; do
	for d in "${nodes[@]}"; do
		[[ $s != "$d" ]] || continue
		for fam in 4 6; do
			for p in "${tcp[@]}"; do echo "$((++id)) $s $d $fam tcp $p"; done
			for p in "${udp[@]}"; do echo "$((++id)) $s $d $fam udp $p"; done
			echo "$((++id)) $s $d $fam icmp 0"
		done
	done
done >"$cases"
echo
echo "=== sending $id probes (TCP, UDP, ICMP echo; IPv4 and IPv6) and asking explain about each"
zt_probe_cases "$cases" "$ZT_TMP/observed" 1000 &
probe_pid=$!
zt_explain_cases "$policy" "$cases" "$ZT_TMP/expected"
wait "$probe_pid"

declare -A res why
while read -r i r _; do res[$i]=$r; done <"$ZT_TMP/observed"
while read -r i rc by; do
	# Short reasons: "flow 'web-to-app' (ztseg.yaml:76:7)" -> web-to-app,
	# "default verdict drop (hub.default)" -> default drop, "spoofed: …" -> spoofed.
	by=${by#by: }
	case $by in
	spoofed*) by=spoofed ;;
	default\ verdict*) by=${by/verdict /} ;;
	esac
	by=${by% (*}
	by=${by#flow }
	why[$i]=$rc:${by//\'/}
done <"$ZT_TMP/expected"

# passes: "SRC DST SPEC FAMILY REASON" for every probe that got through;
# denials: "SRC DST REASON" for the first denied probe of each pair.
agree=0 disagree=0 mismatch=()
passes=$ZT_TMP/passes denials=$ZT_TMP/denials
: >"$passes"
: >"$denials"
while read -r i s d fam proto port; do
	spec=$(zt_portspec "$proto" "$port" 4)
	[[ $proto != icmp ]] || spec=ping
	rc=${why[$i]%%:*} by=${why[$i]#*:}
	if [[ ${res[$i]:-} == ok ]]; then
		printf '%s\t%s\t%s\tv%s\t%s\n' "$s" "$d" "$spec" "$fam" "$by" >>"$passes"
	else
		printf '%s\t%s\t%s\n' "$s" "$d" "$by" >>"$denials"
	fi
	if [[ ($rc == 0 && ${res[$i]:-} == ok) || ($rc == 1 && ${res[$i]:-} != ok) ]]; then
		agree=$((agree + 1))
	else
		disagree=$((disagree + 1))
		mismatch+=("  $s -> $d IPv$fam $spec: traffic ${res[$i]:-none}, explain ${rc/0/allow}")
	fi
done <"$cases"

echo
echo "=== who can reach whom (✓ something passes, · nothing does; rows: from, columns: to)"
printf '  %-9s' ""
for d in "${nodes[@]}"; do printf ' %-8s' "$d"; done
echo
for s in "${nodes[@]}"; do
	printf '  %-9s' "$s"
	for d in "${nodes[@]}"; do
		if [[ $s == "$d" ]]; then
			c=-
		elif grep -q "^$s	$d	" "$passes"; then
			c=✓
		else
			c=·
		fi
		printf ' %s       ' "$c"	# the marks are one column wide, not one byte
	done
	echo
done

echo
echo "=== what passes, and by which flow or rule"
per_pair=$((2 * (${#tcp[@]} + ${#udp[@]} + 1)))
awk -F'\t' -v per_pair="$per_pair" '
	{ pair = $1 FS $2; key = pair FS $3 " (" $5 ")"
	  if (!(pair in seen)) { seen[pair] = 1; pairs[++np] = pair }
	  count[pair]++
	  if (!((pair FS $5) in why)) { why[pair FS $5] = 1; nwhy[pair]++; reason[pair] = $5 }
	  if (!(key in fams)) { items[pair] = items[pair] (items[pair] ? "\n" : "") key }
	  fams[key] = fams[key] (fams[key] ? "+" : "") $4 }
	END {
		for (i = 1; i <= np; i++) {
			split(pairs[i], p, FS); n = split(items[pairs[i]], it, "\n")
			line = sprintf("  ✓ %-8s → %-8s ", p[1], p[2]); width = 25
			if (count[pairs[i]] == per_pair && nwhy[pairs[i]] == 1) {
				print line " everything probed (" reason[pairs[i]] ")"
				continue
			}
			for (j = 1; j <= n; j++) {
				k = it[j]; sub("^[^\t]*\t[^\t]*\t", "", k)
				k = k " " fams[it[j]] (j < n ? "," : "")
				if (width + 1 + length(k) > 78 && width > 25) {
					print line; line = sprintf("%25s", ""); width = 25
				}
				line = line " " k; width += 1 + length(k)
			}
			print line
		}
	}' "$passes"

echo
echo "=== what is denied entirely, and why (explain's reason for the first probe)"
awk -F'\t' '
	NR == FNR { passed[$1 FS $2] = 1; next }
	!(($1 FS $2) in passed) && !(($1 FS $2) in done) {
		done[$1 FS $2] = 1
		if (!($3 in list)) order[++n] = $3
		list[$3] = list[$3] " " $1 "→" $2
	}
	END { for (i = 1; i <= n; i++) printf "  ✗ %s:%s\n", order[i], list[order[i]] }
' "$passes" "$denials" | fold -s -w 78 | sed '/^  ✗/!s/^/      /'

echo
echo "=== spoofing: the internet sends from an unused address of the web segment"
before=$(zt_counter spoofs)
echo "1 spoof 198.51.100.30 $(zt_addr web1 4) ${udp[0]:-53}" | zt_x internet "$ZT_PROBE" batch -c 3 >/dev/null
sleep 0.2
got=$(awk '$2 == "198.51.100.30"' "$ZT_TMP/recv-web1" | wc -l)
echo "  web1 received $got of 3 datagrams; the spoofs counter rose by $(($(zt_counter spoofs) - before))"

echo
if ((disagree == 0)); then
	echo "=== all $agree probes behaved as ztsegctl explain says"
else
	echo "=== $disagree of $((agree + disagree)) probes did not behave as ztsegctl explain says:"
	printf '%s\n' "${mismatch[@]}" | head -20
fi
echo "=== removing the namespaces (nothing outside them was changed)"
zt_cleanup
trap - EXIT
[[ $disagree -eq 0 ]]
