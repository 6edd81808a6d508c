# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced by bench/run.sh at the end: the measurements in $R (one file per
# quantity, one number per line) into the markdown of bench/RESULTS.md.
# shellcheck disable=SC2154 # R, P, PROF, per, SIZES … are bench/run.sh's

c_ms() { zb_cell "$R/$1" 0.001 "${2:-0}"; }	# seconds -> "ms (min–max)"
med() { if [[ -s $R/$1 ]]; then zb_median "$R/$1"; else echo -; fi; }
nruns() { if [[ -s $R/$1 ]]; then wc -l <"$R/$1"; else echo 0; fi; }
mib() { [[ $1 == - ]] && echo - || awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
# pctl FILE COLUMN: "p50 p99 max n" of a column (lines with "-" left out).
pctl() {
	awk -v c="$2" '$c != "-" { print $c }' "$R/$1" 2>/dev/null | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (!NR) { print "- - - 0"; exit }
			i50 = int(0.5 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
			printf "%.0f %.0f %.0f %d\n", v[i50], v[i99], v[NR], NR
		}'
}
fails() { awk '$2 == "-"' "$R/$1" 2>/dev/null | wc -l; }
yes_no() { if [[ $1 == 1 ]]; then echo "**yes**"; else echo "**no**"; fi; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && b != "-" && a + 0 <= b + 0) }'; }

members_of() { # SIZE: the static member addresses of the generated policy
	echo $((($1 - 2) * 10 + ($1 - 2 < 128 ? $1 - 2 : 128) + 4))
}
flows_of() { grep -oE '[0-9]+ flows, [0-9]+ segment rules' "$P/check-$1.txt" |
	awk '{ print $1 + $3 }'; }

# ---- header -------------------------------------------------------------------

zb_out "# ztseg benchmarks"
zb_out ""
zb_out "This file is written by \`make bench\` (bench/run.sh); the numbers below are one such run."
zb_out ""
zb_out "## How to reproduce"
zb_out ""
zb_out "    sudo make bench            # root: namespaces and nftables; about 15 minutes on 2 CPUs"
zb_out "    sudo ZB_SIZES=\"100 1000\" ZB_RELOAD_SIZES=1000 ZB_EVENTS=200 ZB_DP_ROUNDS=3 make bench   # a quick look"
zb_out ""
zb_out "It needs hyperfine, iperf3, jq, \`time\` (/usr/bin/time) and, for the profiles, perf"
zb_out "(tests/deps.sh installs them), and touches nothing outside the network namespaces it"
zb_out "makes: \`ztt-<pid>-*\`, removed on exit. Policies come from bench/gen-policy.sh"
zb_out "(documentation prefixes only); the tools are hyperfine (apply, reload), iperf3"
zb_out "(throughput), bench/zb-tool.c (request/response, connect rate, the event timer) and"
zb_out "\`/usr/bin/time\` (peak RSS). Cells are *median (min–max)* over the runs counted in"
zb_out "the table; every ratio compares runs made side by side, interleaved, in the same run"
zb_out "of the benchmark."
zb_out ""
zb_out "## Machine"
zb_out ""
while read -r l; do zb_out "$l"; done < <(hdr_machine)
lmin=- lmax=-
if compgen -G "$R/listen-z-*" >/dev/null; then
	read -r _ lmin lmax _ < <(cat "$R"/listen-[zf]-* | zb_stats)
fi
zb_out "- nf_tables notification listeners on the machine (any namespace) during the apply runs: $lmin–$lmax (see 6: each makes every apply build a notification per object)"
zb_out "- the machine is a VM shared with other work (builds and tests of other engineers ran at the same time): expect noise, which is why runs are interleaved and ranges shown"
zb_out ""

# ---- targets -----------------------------------------------------------------

zb_out "## Targets"
zb_out ""
zb_out "| # | target | measured | met |"
zb_out "|---|---|---|---|"
ok=1 txt=""
for n in "${SIZES[@]}"; do
	rt=$(med "ratio--$n")
	txt+="$n: $(zb_fmt "$rt" 1 2)×; "
	le "$rt" 0.5 || ok=0
done
zb_out "| 1 | full apply: ztsegd ≤ 0.5 × \`nft -f\` at every size | ztsegd/nft (median of per-round ratios) ${txt%; } | $(yes_no $ok) |"
ok=1 txt=""
for n in "${RELOAD_SIZES[@]}"; do
	full=$(med "wall-z-$n")
	for k in same app mid dsame dapp dmid; do
		sp=$(zb_ratio "$full" "$(med "wall-$k-$n")" 1)
		txt+="$n $k ${sp}×; "
		[[ $sp != - ]] && awk -v s="$sp" 'BEGIN { exit !(s >= 10) }' || ok=0
	done
done
zb_out "| 2 | reload ≥ 10 × faster than a full apply | speed-up (full / reload; same = unchanged, app = a flow appended or removed at the end, mid = inserted or removed mid-file; d… = \`ztsegctl reload\` of a running ztsegd, the others \`ztsegd --oneshot\`) ${txt%; } | $(yes_no $ok) |"
read -r p50 p99 max n < <(pctl ev-c 2)
read -r _ tp99 _ _ < <(pctl ev-c 3)
ok=0
le "$p99" 5000 && ok=1
dtxt=
if ((DAEMON == 1)); then
	read -r _ mp99 _ _ < <(pctl dl-move 1)
	read -r _ ep99 _ _ < <(pctl dl-enc 1)
	read -r _ pp99 _ _ < <(pctl dl-encp 1)
	read -r _ bp99 _ _ < <(pctl dl-bport 1)
	read -r _ ap99 _ _ < <(pctl dl-baddr 1)
	dtxt="; daemon, event → batch ACK: p99 ${mp99} µs (moves), ${ep99} µs (an encrypted link), ${pp99} µs (a veth pair, both ends in the daemon's namespace), ${bp99} µs (a bridge port), ${ap99} µs (an address on a bridge)"
	le "$mp99" 5000 && le "$ep99" 5000 && le "$pp99" 5000 && le "$bp99" 5000 && le "$ap99" 5000 || ok=0
fi
zb_out "| 3 | event → enforcement p99 < 5 ms | new workload behind (c), its route appearing → first packet through: p99 ${p99} µs (link creation → first packet: p99 $(zb_fmt "$tp99" 1000 1) ms, mostly the kernel making the link: see 3)${dtxt} | $(yes_no $ok) |"
ok=1 txt=""
for m in tput rr crr; do
	for fam in 4 6; do
		r=$(zb_ratio "$(med "dp-$m-c-$fam")" "$(med "dp-$m-ap-$fam")" 2)
		txt+="$m/v$fam $r; "
		[[ $r != - ]] && awk -v s="$r" 'BEGIN { exit !(s >= 0.95) }' || ok=0
	done
done
zb_out "| 4 | data path: (c) ≥ 0.95 × (a′) on every metric | (c)/(a′): ${txt%; } | $(yes_no $ok) |"
rss=$(mib "$(med "rss-z-$LARGEST")")
ok=0
[[ $rss != - ]] && ((rss < 32)) && ok=1
zb_out "| 5 | ztsegd peak RSS < 32 MiB at 100,000 members | $rss MiB at $LARGEST segments, $(members_of "$LARGEST") members (full apply) | $(yes_no $ok) |"
zb_out ""

# ---- 1. apply -----------------------------------------------------------------

zb_out "## 1. Full apply into a fresh, empty namespace"
zb_out ""
zb_out "\`ztsegd --oneshot\` (load, compile, one libnftnl batch) against \`nft -f\` of \`ztsegctl show\`'s"
zb_out "text of the same policy: the same ruleset (tests/netns/equivalence.sh holds the two"
zb_out "listings equal). Each run goes into a namespace made just before it (\`ip netns add\`,"
zb_out "untimed, after a pause for the previous one's teardown); ztsegd and nft alternate who"
zb_out "goes first. ztsegctl show = load + compile + render; ztsegd --check = load + compile;"
zb_out "ztsegctl check = load + validate. Times in ms."
zb_out ""
zb_out "| segments | members | flows | objects / batch | nft text | ztsegd --oneshot | nft -f | ztsegd/nft | ztsegctl show | ztsegd --check | ztsegctl check | CPU user+sys ztsegd / nft (s) | runs |"
zb_out "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
apply_row() { # TAG SIZE LABEL
	local tag=$1 n=$2 obj bytes
	read -r obj _ bytes <"$R/batch-$tag-$n" || true
	zb_out "| $3 | $(members_of "$n") | $(flows_of "$n") | ${obj:-?} / $(zb_fmt "${bytes:--}" 1048576 1) MiB | $(zb_fmt "$(cat "$R/text-$tag-$n")" 1048576 1) MiB | $(c_ms "wall-z$tag-$n") | $(c_ms "wall-f$tag-$n") | $(zb_cell "$R/ratio-$tag-$n" 1 2) | $(c_ms "wall-show$tag-$n") | $(c_ms "wall-chk$tag-$n") | $(c_ms "wall-val$tag-$n") | $(zb_fmt "$(med "cpu-z$tag-$n")" 1 2) / $(zb_fmt "$(med "cpu-f$tag-$n")" 1 2) | $(nruns "wall-z$tag-$n") |"
}
for n in "${SIZES[@]}"; do apply_row "" "$n" "$n"; done
((SPARSE == 0)) || apply_row s 100 "100, sparse"
zb_out ""
zb_out "\"sparse\": the same policy shape with each segment's members scattered over the"
zb_out "IPv6 space (bench/gen-policy.sh --layout sparse) instead of packed into one /64: see 6."
zb_out ""

# ---- 2. reload -----------------------------------------------------------------

zb_out "## 2. Reload: the difference against the table that is there"
zb_out ""
zb_out "Unchanged: the same policy again. Appended: one hub flow added at the end of the"
zb_out "flows, then removed again (both are runs). Mid-file: the same flow inserted near the"
zb_out "top of ztseg.yaml and removed again, which moves every later line (rule"
zb_out "comments carry file:line). Two ways: \`ztsegd --oneshot\` (a new process: an"
zb_out "unchanged policy with the generation id it recorded is a digest compare; a changed"
zb_out "one compiles the recorded policy too and diffs the plans) and \`ztsegctl reload\` of a"
zb_out "running ztsegd (load, compile, diff against the plan it runs). Both read the table"
zb_out "back only when the kernel's generation id says someone else changed it. Times in"
zb_out "ms; \"changed\" is ztsegd's count of objects added, changed or removed."
zb_out ""
zb_out "| segments | reload by | full apply (1) | unchanged | speed-up | appended | changed | speed-up | mid-file | changed | speed-up | peak RSS unchanged | runs |"
zb_out "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for n in "${RELOAD_SIZES[@]}"; do
	full=$(med "wall-z-$n")
	for d in "" d; do
		zb_out "| $n | $([[ -z $d ]] && echo "ztsegd --oneshot" || echo "ztsegctl reload") | $(zb_fmt "$full" 0.001 0) | $(c_ms "wall-${d}same-$n") | $(zb_ratio "$full" "$(med "wall-${d}same-$n")" 1)× | $(c_ms "wall-${d}app-$n") | $(med "changed-${d}app-$n") | $(zb_ratio "$full" "$(med "wall-${d}app-$n")" 1)× | $(c_ms "wall-${d}mid-$n") | $(med "changed-${d}mid-$n") | $(zb_ratio "$full" "$(med "wall-${d}mid-$n")" 1)× | $([[ -z $d ]] && echo "$(mib "$(med "rss-same-$n")") MiB" || echo -) | $(nruns "wall-${d}same-$n")/$(nruns "wall-${d}app-$n")/$(nruns "wall-${d}mid-$n") |"
	done
done
zb_out ""

# ---- 3. events -------------------------------------------------------------------

zb_out "## 3. Event to enforcement"
zb_out ""
zb_out "A new workload of segment web appears: bench/zb-tool's \`event\` creates its veth"
zb_out "(host side vweb1xxxx, peer eth0 in the workload's namespace), addresses, a static"
zb_out "neighbour entry for the gateway (as routed-model CNIs install), brings both ends up,"
zb_out "waits until the kernel runs them (IFF_RUNNING), and last adds the host's /128 route;"
zb_out "then UDP datagrams to app1 udp/8080 every 100 µs until one arrives. (c) holds the"
zb_out "$LARGEST-segment policy ($(members_of "$LARGEST") members); (a) has no ruleset — the kernel's own"
zb_out "cost. The ruleset classifies by interface pattern and FIB, so a new workload needs no"
zb_out "daemon action: what is measured is the kernel with the table loaded. Hosts alternate in"
zb_out "blocks of $per events. Times in µs."
zb_out ""
zb_out "| host | events (lost) | route → first packet p50 / p99 / max | link creation → first packet p50 / p99 / max | link creation → both ends running p50 / p99 |"
zb_out "|---|---|---|---|---|"
for c in a c; do
	read -r p50 p99 max n < <(pctl "ev-$c" 2)
	read -r tp50 tp99 tmax _ < <(pctl "ev-$c" 3)
	read -r up50 up99 _ _ < <(pctl "ev-$c" 4)
	zb_out "| ${CFG_NAME[$c]} | $n ($(fails "ev-$c")) | $p50 / $p99 / $max | $tp50 / $tp99 / $tmax | $up50 / $up99 |"
done
for c in a c; do
	read -r p50 p99 max n < <(pctl "evnd-$c" 2)
	read -r tp50 tp99 tmax _ < <(pctl "evnd-$c" 3)
	zb_out "| ${CFG_NAME[$c]}, no static gateway neighbour | $n ($(fails "evnd-$c")) | $p50 / $p99 / $max | $tp50 / $tp99 / $tmax | |"
done
zb_out ""
slow() { awk '$2 != "-" && $2 > 500000' "$R/$1" 2>/dev/null | wc -l; }
zb_out "Without the static neighbour entry the workload first resolves its gateway by ND, and"
zb_out "some first solicitations go unanswered, so the packet waits for the retransmission 1 s"
zb_out "later: $(slow evnd-a) of $(nruns evnd-a) events on (a), $(slow evnd-c) of $(nruns evnd-c) on (c) here — the kernel's neighbour"
zb_out "discovery on a link that has just come up, with or without a ruleset."
zb_out ""
case $DAEMON in
1)
	zb_out "The daemon (\`ztsegd\` in (c)'s host, --log-level debug) logs, for every rtnetlink event"
	zb_out "it acts on, the time from the event waking it to the kernel's ACK of its batch:"
	zb_out ""
	zb_out "| event | n (missed) | p50 | p99 | max |"
	zb_out "|---|---|---|---|---|"
	read -r a b c2 n < <(pctl dl-move 1)
	zb_out "| an address's /32 route moves between vweb8 and vapp8 (conntrack entries deleted) | $n ($(nruns dl-miss-move)) | $a µs | $b µs | $c2 µs |"
	read -r a b c2 n < <(pctl dl-enc 1)
	zb_out "| a link named wg* (trusted kind) comes or goes (enc_if element): one device here, its veth peer in another namespace (as a WireGuard link, or a container's veth) | $n ($(nruns dl-miss-enc)) | $a µs | $b µs | $c2 µs |"
	read -r a b c2 n < <(pctl dl-encp 1)
	zb_out "| the same with both ends of the veth pair in the daemon's namespace: the kernel walks the table's chains for the second device, holding the commit lock | $n ($(nruns dl-miss-encp)) | $a µs | $b µs | $c2 µs |"
	read -r a b c2 n < <(pctl dl-bport 1)
	zb_out "| a container's port joins or leaves the bridge of a \`bridge:\` segment (dport elements; the policy plus that segment, in a second daemon) | $n ($(nruns dl-miss-bport)) | $a µs | $b µs | $c2 µs |"
	read -r a b c2 n < <(pctl dl-baddr 1)
	zb_out "| an address comes or goes on that bridge (hown: no port may claim it) | $n ($(nruns dl-miss-baddr)) | $a µs | $b µs | $c2 µs |"
	;;
2) zb_out "The daemon did not get ready with the $LARGEST-segment policy within 5 minutes: its event latency is not measured." ;;
*) zb_out "ztsegd has no daemon mode in this build: the daemon's own event-to-ACK latency is not measured." ;;
esac
zb_out ""

# ---- 4. data path -----------------------------------------------------------------

zb_out "## 4. Data path"
zb_out ""
zb_out "web1 → host → app1 (routed veths), client on CPU 0, server on CPU 1, five hosts side"
zb_out "by side, measured in rotating order, $DP_ROUNDS rounds: iperf3 TCP (${IPERF_SECS} s after 1 s"
zb_out "omitted), one-byte request/response on one connection (${RR_SECS} s), and connect + one"
zb_out "request + close (${RR_SECS} s; TIME_WAIT ports reused). (a′) is the floor any stateful firewall"
zb_out "pays: conntrack with \`ct state established,related accept\`. (c) loaded in"
zb_out "$(zb_fmt "$(med dp-load-c)" 1000 1) s; (d) is the same $LARGEST-segment policy as one rule per flow, family"
zb_out "and protocol ($(med dp-rules-d) rules, the tested flow's last, the worst case) after"
zb_out "\`ct state established,related accept\`; \`nft -f\` took $(zb_fmt "$(med dp-load-d)" 1000 1) s to load it."
zb_out ""
zb_out "| metric | IPv | (a) | (a′) | (b) | (c) | (d) | (b)/(a′) | (c)/(a′) | (d)/(a′) | (c)/(a) | (d)/(a) |"
zb_out "|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in tput rr crr; do
	case $m in
	tput) name="TCP throughput (Gbit/s)" sc=1e9 dg=2 ;;
	rr) name="request/response (1/s)" sc=1 dg=0 ;;
	crr) name="new connections (1/s)" sc=1 dg=0 ;;
	esac
	for fam in 4 6; do
		row="| $name | $fam |"
		for c in "${CFGS[@]}"; do row+=" $(zb_cell "$R/dp-$m-$c-$fam" "$sc" "$dg") |"; done
		for pair in b:ap c:ap d:ap c:a d:a; do
			row+=" $(zb_ratio "$(med "dp-$m-${pair%%:*}-$fam")" "$(med "dp-$m-${pair#*:}-$fam")" 2) |"
		done
		zb_out "$row"
	done
done
zb_out ""

if compgen -G "$R/dpcost-*" >/dev/null; then
	zb_out "Where the CPU goes, measured instead of inferred from rates (noisy on this shared VM):"
	zb_out "perf samples (10 kHz, both CPUs) in netfilter, conntrack and FIB functions, in the"
	zb_out "context of the client, the server and the softirq threads, per operation, IPv4, µs"
	zb_out "(one run each, in section 6's profile step; FIB lookups of plain forwarding count in"
	zb_out "every column):"
	zb_out ""
	zb_out "| operation | (a) | (a′) | (c) | (d) | (c) − (a′) | (d) − (a′) |"
	zb_out "|---|---|---|---|---|---|---|"
	for m in crr rr; do
		row="| $([[ $m == crr ]] && echo "new connection" || echo "request/response") |"
		for c in a ap c d; do row+=" $(med "dpcost-$m-$c") |"; done
		for c in c d; do
			row+=" $(awk -v a="$(med "dpcost-$m-$c")" -v b="$(med "dpcost-$m-ap")" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.2f", a - b }') |"
		done
		zb_out "$row"
	done
	zb_out ""
	for m in crr rr; do
		[[ -s $PROF/dp-$m-c.top ]] || continue
		zb_out "(c), $([[ $m == crr ]] && echo "per new connection" || echo "per request/response"), the largest netfilter functions:"
		zb_out ""
		zb_out '```'
		while IFS= read -r l; do zb_out "$l"; done <"$PROF/dp-$m-c.top"
		zb_out '```'
		zb_out ""
	done
fi

# ---- 5. memory -----------------------------------------------------------------

zb_out "## 5. Memory"
zb_out ""
zb_out "Peak RSS from \`/usr/bin/time\` (the runs of 1 and 2). Kernel memory of the table: the"
zb_out "growth of Slab + VmallocUsed + Percpu in /proc/meminfo from just before a run to just"
zb_out "after it, machine-wide (so other activity on the machine shows up as noise; small"
zb_out "tables are within it). MiB."
zb_out ""
zb_out "| segments | members | ztsegd --oneshot | nft -f | ztsegctl show | ztsegd --check (load + compile) | ztsegd unchanged re-apply | kernel: ztsegd's table | kernel: nft -f's table |"
zb_out "|---|---|---|---|---|---|---|---|---|"
mem_row() {
	local tag=$1 n=$2
	zb_out "| $3 | $(members_of "$n") | $(zb_cell "$R/rss-z$tag-$n" 1024 0) | $(zb_cell "$R/rss-f$tag-$n" 1024 0) | $(zb_cell "$R/rss-show$tag-$n" 1024 0) | $(zb_cell "$R/rss-chk$tag-$n" 1024 0) | $( [[ -z $tag ]] && zb_cell "$R/rss-same-$n" 1024 0 || echo -) | $(zb_cell "$R/kmem-z$tag-$n" 1024 0) | $(zb_cell "$R/kmem-f$tag-$n" 1024 0) |"
}
for n in "${SIZES[@]}"; do mem_row "" "$n" "$n"; done
((SPARSE == 0)) || mem_row s 100 "100, sparse"
zb_out ""

# ---- 6. profiles and gaps ---------------------------------------------------------

zb_out "## 6. Profiles, and where the targets are missed"
zb_out ""
if [[ -s $PROF/apply.dso ]]; then
	zb_out "perf (cpu-clock sampling; this VM has no hardware counters), this run:"
	zb_out ""
	zb_out "\`ztsegd --oneshot\`, full apply, $LARGEST segments ($(cat "$PROF/listeners") nf_tables listeners on the machine):"
	zb_out ""
	zb_out '```'
	while read -r l; do zb_out "$l"; done <"$PROF/apply.dso"
	zb_out ""
	while read -r l; do zb_out "$l"; done <"$PROF/apply.sym"
	zb_out '```'
	zb_out ""
	zb_out "\`nft -f\`, the same ruleset:"
	zb_out ""
	zb_out '```'
	while read -r l; do zb_out "$l"; done <"$PROF/nft.dso"
	zb_out ""
	while read -r l; do zb_out "$l"; done <"$PROF/nft.sym"
	zb_out '```'
	zb_out ""
	zb_out "\`ztsegd --oneshot\`, unchanged re-apply, ${RELOAD_SIZES[0]} segments (DWARF call graphs; user-space"
	zb_out "functions, share of samples including callees):"
	zb_out ""
	zb_out '```'
	while read -r l; do zb_out "$l"; done <"$PROF/same.dso"
	zb_out ""
	while read -r l; do zb_out "$l"; done <"$PROF/same.sym"
	zb_out '```'
	zb_out ""
fi
while IFS= read -r l; do zb_out "$l"; done <"$ZB_DIR/analysis.md"

# ---- 7. just-in-time grants ---------------------------------------------------------

zb_out ""
zb_out "## 7. Just-in-time grants"
zb_out ""
zb_out 'bench/grants.sh (`make bench-grants` runs it alone): two client/host/server triples, each'
zb_out "with its own ztsegd, measured in alternating rounds. Targets (issue 17): new-connection rate"
zb_out "with 10,000 grants ≥ 0.95× with none; a grant's request → ACK p99 < 5 ms over 1,000."
zb_out ""
if [[ -s $R/grants.out ]]; then
	while IFS= read -r l; do zb_out "$l"; done < <(grep -E '^(\||PASS|FAIL)' "$R/grants.out")
else
	zb_out "(not measured in this run)"
fi
