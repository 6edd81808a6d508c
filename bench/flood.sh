#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Flood limits (issue 18), side by side in one run:
#  1. the new-connection rate (zb-tool crr, one client, IPv4 and IPv6) through
#     a host without flood limits (off) and one whose policy limits the
#     server's zone (on: per-source, connections and ban, set high enough
#     that the client is never over them: every connection pays the meter
#     update, the meter lookup, the ct count add and its lookup, the ban and
#     except lookups), rounds alternating; the ratio on/off;
#  2. ban insertion at flood rate: ZB_BAN_SOURCES sources (addresses of the
#     client's /64, source-prefix /128) send two datagrams each as fast as
#     zt-probe can, the limit trips on the second: bans the kernel inserted
#     per second of sending, and how long `ztsegctl bans` (the daemon's
#     read of the ban maps, what its poll does when the ban counter moved) takes at that size.
# Writes the "Flood limits" section of bench/RESULTS.md. Root; namespaces only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
ROUNDS=${ZB_DP_ROUNDS:-41}
SECS=${ZB_RR_SECS:-0.3}
NBAN=${ZB_BAN_SOURCES:-20000}
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}

zb_init
# off and aa: the same policy without limits (aa/off is the A/A control: what
# the machine's noise alone does to a ratio); on: with them.
CFGS=(off on aa)
for p in "${CFGS[@]}"; do zb_pair "$p"; done
for p in "${CFGS[@]}"; do zt_x $p-host sh -c 'echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait'; done

# policy DIR FLOOD-LINE
policy() {
	zt_policy_write "$1" <<-EOF
	version: 1
	hub:
	  default: drop
	  flows:
	    - { from: cli, to: srv, ports: [tcp/8080, udp/9] }
	segments:
	  cli: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
	  srv: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }
	EOF
	[[ -z $2 ]] || printf 'threats:\n  flood:\n    - %s\n' "$2" >>"$1/ztseg.yaml"
}
policy "$ZT_TMP/pol-off" ""
policy "$ZT_TMP/pol-aa" ""
policy "$ZT_TMP/pol-on" "{ to: srv, per-source: 1000000/second, burst: 1000000, connections: 1000000, ban: 1m }"
for p in "${CFGS[@]}"; do
	"$ZT_CTL" check --config "$ZT_TMP/pol-$p" >/dev/null || zt_die "policy $p is invalid"
	zt_x $p-host "$ZT_D" --oneshot --config "$ZT_TMP/pol-$p" --state-dir "$ZT_TMP/state-$p" >/dev/null
done

PIDS=()
for p in "${CFGS[@]}"; do
	zt_bg $p-srv "$ZT_TMP/serve-$p.log" taskset -c 1 "$ZB_TOOL" serve 8080
	PIDS+=("$ZT_BG_PID")
done
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; zt_cleanup' EXIT
sleep 0.5
R=$ZT_TMP/res
mkdir -p "$R"
zb_log "flood: $ROUNDS rounds of crr, IPv4 and IPv6, limits off and on"
for ((r = 0; r < ROUNDS; r++)); do
	for fam in 4 6; do
		for ((k = 0; k < 3; k++)); do
			p=${CFGS[$(((k + r) % 3))]}
			# CPU time too: a veth's receive work runs in the sender's
			# context, so the client's system time per connection holds the
			# forward path through the ruleset, and CPU time does not
			# depend on how much of the machine others take.
			zt_x "$p-cli" /usr/bin/time -f 'cpu %S %U' -o "$R/time" taskset -c 0 "$ZB_TOOL" crr -t "$SECS" \
				"$(zb_srv_addr $fam)" 8080 >"$R/out"
			cut -d' ' -f2 <"$R/out" >"$R/last-$p"
			cat "$R/last-$p" >>"$R/crr-$p-$fam"
			echo "$(cut -d' ' -f3 <"$R/out") $(awk '/^cpu/ { print $2 + $3 }' "$R/time")" >>"$R/cpu-$p-$fam"
		done
		# The pair measured back to back: its ratio sees the same load.
		zb_ratio "$(cat "$R/last-on")" "$(cat "$R/last-off")" 4 >>"$R/ratio-$fam"
		echo >>"$R/ratio-$fam"
		zb_ratio "$(cat "$R/last-aa")" "$(cat "$R/last-off")" 4 >>"$R/aa-$fam"
		echo >>"$R/aa-$fam"
		# on against both hosts without limits, the round's mean of the two
		zb_ratio "$(cat "$R/last-on")" "$(awk -v a="$(cat "$R/last-off")" -v b="$(cat "$R/last-aa")" 'BEGIN { print (a + b) / 2 }')" 4 >>"$R/both-$fam"
		echo >>"$R/both-$fam"
	done
done
bans_on=$(zt_x on-host nft list table inet ztseg | grep -cE 'expires [0-9a-z]+ : 0x0000000[12]' || true)
over=$(zt_x on-host nft list counter inet ztseg flood_full | sed -nE 's/.*packets ([0-9]+).*/\1/p')
((bans_on == 0 && over == 0)) || zt_die "the client was limited in part 1 ($bans_on bans, $over flood_full)"

# ---- 2. ban insertion at flood rate -------------------------------------------------
policy "$ZT_TMP/pol-ban" "{ to: srv, per-source: 1/minute, burst: 1, ban: 10m, source-prefix: { ipv6: 128 }, max-sources: $((NBAN * 2)), max-bans: $((NBAN * 2)) }"
"$ZT_CTL" check --config "$ZT_TMP/pol-ban" >/dev/null || zt_die "policy ban is invalid"
SOCK=$ZT_TMP/ztsegd.sock
zt_bg on-host "$ZT_TMP/daemon.log" "$ZT_D" --config "$ZT_TMP/pol-ban" --state-dir "$ZT_TMP/state-ban" \
	--socket "$SOCK" --log-level warning
PIDS+=("$ZT_BG_PID")
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.1; done
[[ -S $SOCK ]] || zt_die "ztsegd did not start: $(cat "$ZT_TMP/daemon.log")"
# The sources are addresses of cli's /64 (per-/128 limits here): the host routes the /64 to its veth.
zt_x on-host ip -6 route add 2001:db8:0:1::/64 dev "${ZT_IF[web1]}"
python3 - "$NBAN" "$(zb_srv_addr 6)" >"$ZT_TMP/spoof.txt" <<-'PY'
	import sys
	n, dst = int(sys.argv[1]), sys.argv[2]
	for i in range(n):
	    print("%d spoof 2001:db8:0:1::%x:%x %s 9" % (i, 1 + (i >> 16), i & 0xffff, dst))
	PY
t0=$(zt_now_ms)
zt_x on-cli "$ZT_PROBE" batch -c 2 <"$ZT_TMP/spoof.txt" >/dev/null
t1=$(zt_now_ms)
sleep 0.2
banned=$(zt_x on-host nft list table inet ztseg | grep -o 'counter packets [0-9]* bytes [0-9]* timeout 10m' | wc -l)
listed=()
for i in 1 2 3 4 5; do
	a=$(zt_now_ms)
	nb=$("$ZT_CTL" --socket "$SOCK" bans --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bans"]))')
	listed+=($(($(zt_now_ms) - a)))
done
ms=$(printf '%s\n' "${listed[@]}" | zb_stats | cut -d' ' -f1)
sleep 2.5
logged=$(grep -c 'flood ban:' "$ZT_TMP/daemon.log" || true)
stat() { "$ZT_CTL" --socket "$SOCK" status --json | python3 -c "import json,sys; b = json.load(sys.stdin)['bans']; print($1)"; }
polls=$(stat 'b["last_poll_usec"] // 1000, b["max_poll_usec"] // 1000')
reads0=$(stat 'b["reads"]')
sleep 5
reads1=$(stat 'b["reads"]')

# ---- the results ----------------------------------------------------------------------
OUT=$ZT_TMP/flood.md
{
	echo '## Flood limits (bench/flood.sh)'
	echo
	echo "$(date -u +%Y-%m-%d), $(nproc) CPUs shared with other work (ratios measured side by side in one run,"
	echo "absolute rates are not comparable between runs). zb-tool crr: new TCP connections per"
	echo "second, one client, median (min–max) of $ROUNDS rounds of ${SECS} s, the three hosts in rotating order."
	echo
	echo '| measure | IPv | limits off /s | limits on /s | on/off (medians) | on/off (median of rounds) | A/A: off again / off (median of rounds) | on / mean of both off (median of rounds) |'
	echo '|---|---|---|---|---|---|---|---|'
	for fam in 4 6; do
		o=$(zb_median "$R/crr-off-$fam") n=$(zb_median "$R/crr-on-$fam")
		echo "| new connections | $fam | $(zb_cell "$R/crr-off-$fam" 1 0) | $(zb_cell "$R/crr-on-$fam" 1 0) | $(zb_ratio "$n" "$o") | $(zb_cell "$R/ratio-$fam" 1 2) | $(zb_cell "$R/aa-$fam" 1 2) | $(zb_cell "$R/both-$fam" 1 2) |"
	done
	echo
	echo "CPU time per new connection (the client's system and user time over all rounds /"
	echo "connections made; it includes the forward path through the ruleset, and does not"
	echo "depend on the load the way rates do):"
	echo
	echo '| IPv | off µs | on µs | aa µs | on/off | aa/off |'
	echo '|---|---|---|---|---|---|'
	for fam in 4 6; do
		for p in "${CFGS[@]}"; do
			eval "cpu_$p=\$(awk '{ n += \$1; t += \$2 } END { printf \"%.2f\", n ? t * 1e6 / n : 0 }' \"\$R/cpu-\$p-\$fam\")"
		done
		echo "| $fam | $cpu_off | $cpu_on | $cpu_aa | $(zb_ratio "$cpu_off" "$cpu_on") | $(zb_ratio "$cpu_off" "$cpu_aa") |"
	done
	echo
	echo "(on/off and aa/off here are off's CPU time over theirs: a rate-like ratio, ≥ 0.9 is the target.)"
	echo
	echo "Load average when it ended: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "Ban insertion: $NBAN sources (addresses of the client's /64, \`source-prefix: { ipv6: 128 }\`),"
	echo "two datagrams each from zt-probe: $banned bans in $((t1 - t0)) ms of sending,"
	echo "$(awk -v b="$banned" -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", t ? b * 1000 / t : 0 }') bans/s"
	echo "(the sender is the bottleneck: every ban is one dynset add in the packet path)."
	echo "\`ztsegctl bans\` with $nb bans: ${ms} ms (median of 5, JSON through the control socket and"
	echo "python). The daemon reads the ban maps when counter flood_bans moved, a ban is due to"
	echo "expire, or the policy changed; otherwise its one-second poll reads that one counter."
	echo "Reading $nb bans: ${polls% *} ms the last time, ${polls#* } ms for the read that found them all"
	echo "(journal records included); reads of the maps in 5 s of $nb steady bans: $((reads1 - reads0))."
	echo "Journal records: $logged (one per ban)."
} >"$OUT"
cat "$OUT"
zb_section "$RESULTS" flood "$OUT"
zb_log "flood: results in $RESULTS"
