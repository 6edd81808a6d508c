#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The connection log's cost (issue 22): the new-connection rate (zb-tool crr)
# through a flow with the connection log off against on. Two client/host/
# server triples of bench/lib.sh, each with its own ztsegd and the same
# policy but for flow-log: pair o (off: no conntrack listener, no
# accounting) and pair l (hub flow-log: true: accounting on, NEW and DESTROY
# events read, matched to their flow, kept in the ring, and written to a
# `ztsegctl log -f --json` reader). Rounds alternate between the pairs so
# that the machine's noise hits both alike. Root. `make bench-flowlog`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ZB_SECONDS=${ZB_SECONDS:-2}
ZB_RUNS=${ZB_RUNS:-15}
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}
zb_init
zb_pair o
zb_pair l
# crr leaves ~10k conntrack entries a second in TIME_WAIT (120 s by default):
# one second here, so that later rounds do not measure a fuller table (and
# pair l's DESTROY events come during the run, as on a busy host).
for p in o l; do zt_x $p-host sh -c 'echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait'; done
SRV=$(zb_srv_addr 4)
policy() { # DIR FLOWLOG
	mkdir -p "$1"
	cat >"$1/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  flow-log: $2
  flows:
    - { name: cli-srv, from: cli, to: srv, ports: [tcp/8080] }
segments:
  cli: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
  srv: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }
EOF
	chmod 0755 "$1"
	chmod 0644 "$1/ztseg.yaml"
}
policy "$ZT_TMP/pol-o" false
# ZB_AA=1: pair l with the log off too (an A/A run: what differs between the pairs themselves).
if [[ ${ZB_AA:-0} == 1 ]]; then policy "$ZT_TMP/pol-l" false; else policy "$ZT_TMP/pol-l" true; fi
PIDS=()
for p in o l; do
	zt_bg $p-host "$ZT_TMP/daemon-$p.log" "$ZT_D" --config "$ZT_TMP/pol-$p" --state-dir "$ZT_TMP/state-$p" \
		--socket "$ZT_TMP/ztsegd-$p.sock" --log-level warning
	PIDS+=("$ZT_BG_PID")
	eval "DPID_$p=$ZT_BG_PID"
	zt_bg $p-srv "$ZT_TMP/serve-$p.log" taskset -c 1 "$ZB_TOOL" serve 8080
	PIDS+=("$ZT_BG_PID")
done
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; zt_cleanup' EXIT
listening() { zt_x "$1-srv" ss -Hltn 'sport = :8080' | grep -q .; }
for p in o l; do
	for _ in $(seq 100); do listening $p && break; sleep 0.1; done
	listening $p || zt_die "pair $p: the server does not listen: $(cat "$ZT_TMP/serve-$p.log")"
	s=$ZT_TMP/ztsegd-$p.sock
	for _ in $(seq 100); do [[ -S $s ]] && break; sleep 0.1; done
	[[ -S $s ]] || zt_die "ztsegd did not start: $(cat "$ZT_TMP"/daemon-*.log)"
done
# A reader of the log on pair l, as an operator's pipeline would have.
zt_bg l-host "$ZT_TMP/reader.json" "$ZT_CTL" --socket "$ZT_TMP/ztsegd-l.sock" log -f --json
PIDS+=("$ZT_BG_PID")
RPID=$ZT_BG_PID
# cpu PID: user + system time in clock ticks.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sleep 0.5
[[ ${ZB_AA:-0} == 1 || $(zt_x l-host cat /proc/sys/net/netfilter/nf_conntrack_acct) == 1 ]] ||
	zt_die "pair l: accounting is not on"
[[ $(zt_x o-host cat /proc/sys/net/netfilter/nf_conntrack_acct) == 0 ]] || zt_die "pair o: accounting is on"
crr1() { # PAIR: one rate
	sleep 1.5	# the last run's TIME_WAIT entries gone
	zt_x "$1-cli" taskset -c 0 "$ZB_TOOL" crr -t "$ZB_SECONDS" "$SRV" 8080 | awk '{ print $2 }'
}
cpu0_d=$(cpu "$DPID_l") cpu0_o=$(cpu "$DPID_o") cpu0_r=$(cpu "$RPID")
zb_log "crr through flow cli-srv: pair o (log off) and pair l (log on, one reader), $ZB_RUNS rounds of ${ZB_SECONDS} s"
for ((r = 0; r < ZB_RUNS; r++)); do
	if ((r % 2)); then
		crr1 l >>"$ZT_TMP/on"; crr1 o >>"$ZT_TMP/off"
	else
		crr1 o >>"$ZT_TMP/off"; crr1 l >>"$ZT_TMP/on"
	fi
done
sleep 3	# the last DESTROY events
hz=$(getconf CLK_TCK)
# Pair l's daemon less pair o's (what a daemon costs anyway: its checks of the table).
cpu_d=$(($(cpu "$DPID_l") - cpu0_d - ($(cpu "$DPID_o") - cpu0_o))) cpu_r=$(($(cpu "$RPID") - cpu0_r))
m=$("$ZT_CTL" --socket "$ZT_TMP/ztsegd-l.sock" metrics)
events=$(awk '$1 == "ztseg_conntrack_events_total" { print $2 }' <<<"$m")
overruns=$(awk '$1 == "ztseg_conntrack_event_overruns_total" { print $2 }' <<<"$m")
lost=$(awk '$1 == "ztseg_log_reader_lost_total" { print $2 }' <<<"$m")
opens=$(grep -c '"event":"open"' "$ZT_TMP/reader.json" || true)
closes=$(grep -c '"event":"close"' "$ZT_TMP/reader.json" || true)
off=$(zb_median "$ZT_TMP/off") on=$(zb_median "$ZT_TMP/on")
# Each round's on/off pair, run side by side: the ratio the machine's noise hits least.
ratios=$(paste "$ZT_TMP/on" "$ZT_TMP/off" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 / $2 }')
rmed=$(tr ' ' '\n' <<<"$ratios" | zb_stats | cut -d' ' -f1)
rc=0
{
	cat <<EOF
## 8. Connection log (\`make bench-flowlog\`, bench/flowlog.sh)

$(date -u +%Y-%m-%d), $(nproc) CPUs shared with other jobs (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)):
absolute rates are not comparable between runs; the ratio of rounds run side
by side is what counts. New connections (zb-tool crr, IPv4) through one flow,
pair o with the connection log off, pair l with \`flow-log: true\` (accounting
on, NEW and DESTROY events read and matched, records in the ring and sent to
one \`ztsegctl log -f --json\` reader), rounds alternating.

| measure | value |
|---|---|
| crr, connection log off (conn/s, median of $ZB_RUNS × ${ZB_SECONDS} s; all: $(paste -sd' ' "$ZT_TMP/off")) | $(zb_fmt "$off" 1 0) |
| crr, connection log on, one reader (all: $(paste -sd' ' "$ZT_TMP/on")) | $(zb_fmt "$on" 1 0) (× $(zb_ratio "$on" "$off")) |
| on/off, round by round | $ratios (median $rmed) |
| conntrack events read (pair l) | $events |
| events lost to ENOBUFS (overruns) | $overruns |
| records the reader got: open / close; records it lost | $opens / $closes; $lost |
| CPU per connection (open + close): ztsegd (beyond pair o's) / the reader (ztsegctl) | $(awk -v c="$cpu_d" -v h="$hz" -v n="$opens" 'BEGIN { printf "%.1f µs", n ? c / h / n * 1e6 : 0 }') / $(awk -v c="$cpu_r" -v h="$hz" -v n="$opens" 'BEGIN { printf "%.1f µs", n ? c / h / n * 1e6 : 0 }') |

EOF
	awk -v a="$rmed" 'BEGIN {
		ok = a >= 0.9
		print ok ? "PASS: on/off >= 0.9 (median of the ratios of the rounds)" : "FAIL: on/off < 0.9 (median of the ratios of the rounds)"
		exit !ok }' || rc=$?
} >"$ZT_TMP/section.md"
cat "$ZT_TMP/section.md"
zb_section "$RESULTS" flowlog "$ZT_TMP/section.md"
exit "$rc"
