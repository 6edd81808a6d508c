#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The connection index's cost (issue 13, build item 5): the new-connection
# rate (zb-tool crr) through a flow with ztsegd's connection index off
# (--conntrack-index no: no conntrack listener, a move walks the table)
# against on (the default: NEW and DESTROY events read in batches into the
# index). Two client/host/server triples of bench/lib.sh, each with its own
# ztsegd and the same policy; rounds alternate between the pairs so that
# the machine's noise hits both alike. Root. `make bench-ctindex`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ZB_SECONDS=${ZB_SECONDS:-2}
ZB_RUNS=${ZB_RUNS:-15}
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}
zb_init
zb_pair o
zb_pair i
# crr leaves ~10k conntrack entries a second in TIME_WAIT (120 s by default):
# one second here, so that later rounds do not measure a fuller table (and
# pair i's DESTROY events come during the run, as on a busy host).
for p in o i; do zt_x $p-host sh -c 'echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait'; done
SRV=$(zb_srv_addr 4)
mkdir -p "$ZT_TMP/pol"
printf '%s\n' 'version: 1' 'hub:' '  default: drop' '  flows:' \
	'    - { name: cli-srv, from: cli, to: srv, ports: [tcp/8080] }' 'segments:' \
	'  cli: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }' \
	'  srv: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }' \
	>"$ZT_TMP/pol/ztseg.yaml"
chmod 0755 "$ZT_TMP/pol"
chmod 0644 "$ZT_TMP/pol/ztseg.yaml"
# ZB_AA=1: pair i with the index off too (an A/A run: what differs between the pairs themselves).
declare -A IX=([o]=no [i]=yes)
[[ ${ZB_AA:-0} != 1 ]] || IX[i]=no
PIDS=()
for p in o i; do
	zt_bg $p-host "$ZT_TMP/daemon-$p.log" "$ZT_D" --config "$ZT_TMP/pol" --state-dir "$ZT_TMP/state-$p" \
		--socket "$ZT_TMP/ztsegd-$p.sock" --log-level info --conntrack-index "${IX[$p]}"
	PIDS+=("$ZT_BG_PID")
	eval "DPID_$p=$ZT_BG_PID"
	zt_bg $p-srv "$ZT_TMP/serve-$p.log" taskset -c 1 "$ZB_TOOL" serve 8080
	PIDS+=("$ZT_BG_PID")
done
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; zt_cleanup' EXIT
listening() { zt_x "$1-srv" ss -Hltn 'sport = :8080' | grep -q .; }
for p in o i; do
	for _ in $(seq 100); do listening $p && break; sleep 0.1; done
	listening $p || zt_die "pair $p: the server does not listen: $(cat "$ZT_TMP/serve-$p.log")"
	s=$ZT_TMP/ztsegd-$p.sock
	for _ in $(seq 100); do [[ -S $s ]] && break; sleep 0.1; done
	[[ -S $s ]] || zt_die "ztsegd did not start: $(cat "$ZT_TMP"/daemon-*.log)"
done
[[ ${ZB_AA:-0} == 1 ]] || grep -q 'connection index on' "$ZT_TMP/daemon-i.log" || zt_die "pair i: no connection index"
! grep -q 'connection index on' "$ZT_TMP/daemon-o.log" || zt_die "pair o: the index is on"
# cpu PID: user + system time in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
crr1() { # PAIR: one rate
	sleep 1.5	# the last run's TIME_WAIT entries gone
	zt_x "$1-cli" taskset -c 0 "$ZB_TOOL" crr -t "$ZB_SECONDS" "$SRV" 8080 | awk '{ print $2 }'
}
cpu0_i=$(cpu "$DPID_i") cpu0_o=$(cpu "$DPID_o")
zb_log "crr through flow cli-srv: pair o (index off) and pair i (index on), $ZB_RUNS rounds of ${ZB_SECONDS} s"
for ((r = 0; r < ZB_RUNS; r++)); do
	if ((r % 2)); then
		crr1 i >>"$ZT_TMP/on"; crr1 o >>"$ZT_TMP/off"
	else
		crr1 o >>"$ZT_TMP/off"; crr1 i >>"$ZT_TMP/on"
	fi
done
sleep 3	# the last DESTROY events
hz=$(getconf CLK_TCK)
# Pair i's daemon less pair o's (what a daemon costs anyway: its checks of the table).
cpu_d=$(($(cpu "$DPID_i") - cpu0_i - ($(cpu "$DPID_o") - cpu0_o)))
conns=$(awk -v t="$ZB_SECONDS" '{ s += $1 * t } END { printf "%.0f", s }' "$ZT_TMP/on")
lost=$(grep -c 'conntrack events lost' "$ZT_TMP/daemon-i.log" || true)
off=$(zb_median "$ZT_TMP/off") on=$(zb_median "$ZT_TMP/on")
# Each round's on/off pair, run side by side: the ratio the machine's noise hits least.
ratios=$(paste "$ZT_TMP/on" "$ZT_TMP/off" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 / $2 }')
rmed=$(tr ' ' '\n' <<<"$ratios" | zb_stats | cut -d' ' -f1)
cpu_us=$(awk -v c="$cpu_d" -v h="$hz" -v n="$conns" 'BEGIN { printf "%.1f µs", n ? c / h / n * 1e6 : 0 }')
rc=0
{
	printf '## 10. Connection index (`make bench-ctindex`, bench/ctindex.sh)\n\n'
	printf '%s, %s CPUs shared with other jobs (load average at the end: %s):\n' "$(date -u +%Y-%m-%d)" \
		"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%s\n' 'absolute rates are not comparable between runs; the ratio of rounds run side' \
		'by side is what counts. New connections (zb-tool crr, IPv4) through one flow,' \
		'pair o with `--conntrack-index no`, pair i with the index on (NEW and' \
		'DESTROY events read every 20 ms into the index), rounds alternating.' ''
	printf '| measure | value |\n|---|---|\n'
	printf '| crr, index off (conn/s, median of %s × %s s; all: %s) | %s |\n' "$ZB_RUNS" "$ZB_SECONDS" \
		"$(paste -sd' ' "$ZT_TMP/off")" "$(zb_fmt "$off" 1 0)"
	printf '| crr, index on (all: %s) | %s (× %s) |\n' "$(paste -sd' ' "$ZT_TMP/on")" "$(zb_fmt "$on" 1 0)" \
		"$(zb_ratio "$on" "$off")"
	printf '| on/off, round by round | %s (median %s) |\n' "$ratios" "$rmed"
	printf '| times pair i lost conntrack events (a move then walks) | %s |\n' "$lost"
	printf '| ztsegd CPU per connection (open + close), pair i beyond pair o | %s |\n\n' "$cpu_us"
	awk -v a="$rmed" 'BEGIN {
		ok = a >= 0.95
		print ok ? "PASS: on/off >= 0.95 (median of the ratios of the rounds)" : "FAIL: on/off < 0.95 (median of the ratios of the rounds)"
		exit !ok }' || rc=$?
} >"$ZT_TMP/section.md"
cat "$ZT_TMP/section.md"
zb_section "$RESULTS" ctindex "$ZT_TMP/section.md"
exit "$rc"
