#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Learned baselines (issue 19): false positives and the daemon's cost.
# Two watched flows get steady new connections with natural jitter (Poisson
# arrivals, the rate scaled each second by a factor in [0.7, 1.3]): web-in
# at 5/s, db-in at 25/s. The daemon samples every 2 s with the defaults
# (sensitivity 4, samples 2, clear 3), learns for 60 s, then runs for
# ZB_ANOMALY_SECS (default 600) more: the episodes it opened in that time
# (the target: at most 1 per 10 minutes), the samples it took, the CPU
# time its sampling took (status: anomaly.cpu_usec, the thread's CPU clock
# around each tick) and the daemon's whole CPU time (/proc/PID/stat).
# Writes the "anomaly" section of bench/RESULTS.md. Root; namespaces only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
SECS=${ZB_ANOMALY_SECS:-600}
LEARN=60
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}

zt_init
zt_up
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
WEB=${ZT_V4[web1]} DB=${ZT_V4[db1]} ON=${ZT_V4[onprem]}
POL=$ZT_TMP/pol
zt_policy_write "$POL" <<-EOF
version: 1
hub:
  default: drop
  boundaries:
    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
  flows:
    - { name: web-in, from: [onprem], to: [web], ports: [tcp/80] }
    - { name: db-in, from: [onprem], to: [db], ports: [tcp/5432] }
threats:
  anomaly:
    - { flow: web-in, interval: 2s, learn: ${LEARN}s, mitigate: rate-limit }
    - { flow: db-in, interval: 2s, learn: ${LEARN}s, mitigate: ban-top-sources }
segments:
  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/27, "2001:db8:0:1::/64"] }
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
EOF
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the policy is invalid"
zt_serve web1 db1
DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level info \
	"${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || zt_die "ztsegd did not start"
st() { "$ZT_CTL" --socket "$SOCK" status --json | python3 -c "import json, sys; print(json.load(sys.stdin)['anomaly']['$1'])"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$DPID/stat"; }

zt_bg onprem "$ZT_TMP/l1.err" python3 "$ZT_ROOT/tests/netns/zt-load.py" "$ON" "$WEB" 80 5 0.3 0 "$ZT_TMP/l1"
L1=$ZT_BG_PID
zt_bg onprem "$ZT_TMP/l2.err" python3 "$ZT_ROOT/tests/netns/zt-load.py" "$ON" "$DB" 5432 25 0.3 0 "$ZT_TMP/l2"
L2=$ZT_BG_PID
zb_log "anomaly: learning for ${LEARN}s"
sleep $((LEARN + 10))
o0=$(st opened) s0=$(st samples) c0=$(st cpu_usec) t0=$(cpu_ticks) w0=$(date +%s)
zb_log "anomaly: measuring for ${SECS}s"
sleep "$SECS"
o1=$(st opened) s1=$(st samples) c1=$(st cpu_usec) t1=$(cpu_ticks) w1=$(date +%s)
kill -TERM "$L1" "$L2" 2>/dev/null || true
"$ZT_CTL" --socket "$SOCK" anomalies >"$ZT_TMP/anomalies.txt"
kill -TERM "$DPID"
wait "$DPID" || true
hz=$(getconf CLK_TCK)
eps=$((o1 - o0)) samples=$((s1 - s0)) secs=$((w1 - w0))
conns=$(awk '{ n += $2 + $3 } END { print n }' "$ZT_TMP/l1" "$ZT_TMP/l2")
OUT=$ZT_TMP/section.md
{
	echo "## Learned baselines (bench/anomaly.sh, issue 19)"
	echo
	echo "$(date -u +%F), 2 CPUs shared with other work (the machine was not quiet)."
	echo "Two watched flows with steady new connections and natural jitter (Poisson arrivals,"
	echo "the rate scaled each second by a factor in [0.7, 1.3]): web-in at 5/s, db-in at 25/s"
	echo "(${conns} connections in all). Sampling every 2 s, defaults otherwise (sensitivity 4,"
	echo "samples 2, clear 3); ${LEARN} s of learning first, then ${secs} s measured."
	echo
	echo "| measure | value |"
	echo "|---|---|"
	echo "| episodes opened in ${secs} s of steady traffic (target ≤ 1 per 600 s) | $eps |"
	echo "| samples taken (both flows) | $samples |"
	echo "| daemon CPU in sampling (ticks: counters read, detectors, state file) | $((c1 - c0)) µs ($(zb_ratio $((c1 - c0)) $((samples > 0 ? samples : 1)) 1) µs per sample) |"
	echo "| daemon CPU in all (utime + stime, /proc) | $(((t1 - t0) * 1000 / hz)) ms over ${secs} s ($(zb_ratio $(((t1 - t0) * 100)) $((hz * secs)) 3) % of one CPU) |"
	echo
	echo "The baselines at the end:"
	echo
	echo '```'
	sed -n '1,3p' "$ZT_TMP/anomalies.txt"
	echo '```'
} >"$OUT"
cat "$OUT"
zb_section "$RESULTS" anomaly "$OUT"
zb_log "anomaly: results in $RESULTS"
