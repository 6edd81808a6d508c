#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench-feeds (also run by make bench): threat feeds at a million
# entries, against `nft -f` of the same elements, in namespaces made here.
#   1. load of a 1M-entry feed (direction: in, one map per family) (60% IPv4 /32, 20% IPv4 /24, 20% IPv6 /64,
#      generated; set elements only, no packet uses them) into a running
#      daemon: wall time from the file's rename to the last ACK, the
#      daemon's user and system CPU, its peak RSS; nft -f of the same
#      elements (user, system, peak RSS); the kernel's own share (the
#      daemon with one transaction per map);
#   2. a 1% change (10,000 entries replaced): rename to the last ACK; the
#      same changes with a daemon that parses and flattens whole
#      (ZTSEGD_FEED_WHOLE=1) as the reference; and once more while
#      `nft monitor` listens in another namespace (any nf_tables listener
#      on the machine makes each commit build a notification per element);
#   3. per packet with 1M loaded against the same host without feeds: a
#      second triple of namespaces (g) with its own daemon and the same
#      policy but the feeds, both up at once (g's daemon for this part
#      only: it listens to nf_tables notifications, see 2); runs on f and g alternate
#      (f g, g f, ...), each pair's ratio taken, so that drift of this VM's
#      speed falls on both sides; new-connection rate (zb-tool crr),
#      request/response (rr), iperf3; everything of a triple on CPU 0;
#      and perf's netfilter, conntrack and FIB time per connection on f
#      and g (ZB_FEED_PERF_ROUNDS, 6), the feeds' share of a connection;
#   4. the daemon's RSS with the feed loaded, against before.
# Results: stdout, and the section "Threat feeds: the last run of bench/feeds.sh"
# of bench/RESULTS.md (between its begin/end markers).
# Knobs: ZB_FEED_N (1000000), ZB_FEED_PAIRS (16 pairs of 1 s connect-rate
# runs; half as many of rr and iperf3), ZB_FEED_LOADS (2 rounds, each a full
# load and two 1% changes). Root only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N=${ZB_FEED_N:-1000000}
PAIRS=${ZB_FEED_PAIRS:-16}
LOADS=${ZB_FEED_LOADS:-2}
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}
zb_init
zb_pair f
zb_pair g	# the same host without feeds
R=$ZT_TMP/res
mkdir -p "$R" "$ZT_TMP/feeds" "$ZT_TMP/run"
chmod 0711 "$ZT_TMP"
chmod 0755 "$ZT_TMP/feeds"
FEED=$ZT_TMP/feeds/big.txt

gen() { # OFFSET [CHANGED]: N entries; the last CHANGED of them shifted
	python3 - "$1" "$N" "${2:-0}" <<'EOF'
import sys
off, n, changed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = []
for i in range(n):
    j = i + off + (10**8 if i >= n - changed else 0)
    r = i % 10
    if r < 6:
        a = (11 << 24) + j * 3 % (1 << 26)
        out.append("%d.%d.%d.%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255))
    elif r < 8:
        b = (64 << 24) + ((j % (1 << 22)) << 8)
        out.append("%d.%d.%d.0/24" % (b >> 24, (b >> 16) & 255, (b >> 8) & 255))
    else:
        out.append("2001:db8:%x:%x::/64" % ((j >> 16) & 0xffff, j & 0xffff))
sys.stdout.write("\n".join(out) + "\n")
EOF
}
zb_log "feeds: generating $N entries"
gen 0 >"$ZT_TMP/v0"
gen 0 $((N / 100)) >"$ZT_TMP/v1"
# A version staged next to the feed, then renamed over it: T0 (ns) is taken just before the rename.
stage() { cp "$ZT_TMP/$1" "$FEED.tmp"; chmod 0644 "$FEED.tmp"; }
swap() { T0=$(date +%s%N); mv -f "$FEED.tmp" "$FEED"; }
put() { stage "$1"; swap; }

policy() { # DIR with|without
	mkdir -p -m 0755 "$1"
	cat >"$1/ztseg.yaml" <<-EOF
	version: 1
	hub:
	  default: drop
	  flows:
	    - { from: web, to: app, ports: [tcp/8080, tcp/5201] }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
	  app: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }
	EOF
	[[ $2 == without ]] || printf 'threats:\n  blocklists:\n    - { name: big, file: %s, direction: in }\n' "$FEED" >>"$1/ztseg.yaml"
	chmod 0644 "$1/ztseg.yaml"
}
policy "$ZT_TMP/with" with
policy "$ZT_TMP/without" without
mkdir -m 0755 "$ZT_TMP/pol"
cp "$ZT_TMP/without/ztseg.yaml" "$ZT_TMP/pol/"

SOCK=$ZT_TMP/run/ztsegd.sock
DLOG=$ZT_TMP/daemon.log
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
zt_bg f-host "$DLOG" "$ZT_D" --config "$ZT_TMP/pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level info
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || zt_die "ztsegd did not start"
cpu() { awk '{ print $14, $15 }' "/proc/$DPID/stat"; }	# utime stime, in ticks
TCK=$(getconf CLK_TCK)
rss() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$DPID/status"; }
applied() { grep -c 'feeds applied' "$DLOG" || true; }
# ms from the rename (T0) to the daemon's record of the kernel's last ACK (feed_updates.last_applied_usec).
since_rename() { ctl feeds --json | jq --argjson t0 "$T0" '((.feed_updates.last_applied_usec * 1000 - $t0) / 1e5 | floor) / 10'; }
wait_applied() { # COUNT-BEFORE
	local i
	for ((i = 0; i < 120000; i++)); do
		(($(applied) > $1)) && return 0
		sleep 0.005
	done
	return 1
}

# ---- per packet: f (the feeds) against g (none), side by side --------------------------------
for p in f g; do
	zt_bg $p-srv "$ZT_TMP/serve-$p.log" taskset -c 0 "$ZB_TOOL" serve 8080
	zt_bg $p-srv "$ZT_TMP/iperf-$p.log" taskset -c 0 iperf3 -s -p 5201
done
# g's daemon runs for the data path only. Like any nf_tables notification
# listener on the machine (bench/lib.sh, zb_nft_listeners) it makes the
# kernel build a notification per element of every commit in every
# namespace, f's included: the loads, the changes and `nft -f` are measured
# without it, and the changes once more with a listener (nft monitor).
g_start() {
	zt_bg g-host "$ZT_TMP/g.log" "$ZT_D" --config "$ZT_TMP/without" --state-dir "$ZT_TMP/g-state" \
		--socket "$ZT_TMP/run/g.sock" --log-level info
	GPID=$ZT_BG_PID
	zt_wait_for 30000 grep -q '^ztsegd: ready' "$ZT_TMP/g.log" || zt_die "the daemon without feeds did not start"
	sleep 0.5
}
g_stop() { kill -TERM "$GPID"; wait "$GPID" || true; }
one() { # KIND TRIPLE: one 1 s run, its rate
	case $1 in
	crr | rr) zt_x "$2-cli" taskset -c 0 "$ZB_TOOL" "$1" -t 1 "$(zb_srv_addr 4)" 8080 | awk '{ print $2 }' ;;
	tput) zt_x "$2-cli" taskset -c 0 iperf3 -c "$(zb_srv_addr 4)" -p 5201 -t 1 -J |
		jq '.end.sum_received.bits_per_second / 1e9' ;;
	esac
}
datapath() { # KIND PAIRS: runs on f and g alternating (f g, g f, ...); each pair's f/g ratio
	local i a b
	for ((i = 0; i < $2; i++)); do
		if ((i % 2)); then b=$(one "$1" g); a=$(one "$1" f); else a=$(one "$1" f); b=$(one "$1" g); fi
		echo "$a" >>"$R/$1-with"
		echo "$b" >>"$R/$1-without"
		awk -v a="$a" -v b="$b" 'BEGIN { print a / b }' >>"$R/$1-ratio"
	done
}
# The netfilter cost per connection (as bench/run.sh and compare.sh take it):
# perf samples at 10 kHz, both CPUs, in netfilter, conntrack and FIB
# functions in the context of zb-tool and the softirq threads, per
# connection, f and g alternating: the feeds' own cost rather than the
# rate's (on a shared VM it spreads from run to run too: bench/RESULTS.md).
perf_ok=
if zb_have_perf; then perf_ok=1; fi
netfilter_cost() {
	local i p out
	for ((i = 0; i < ${ZB_FEED_PERF_ROUNDS:-6}; i++)); do
		for p in $( ((i % 2)) && echo g f || echo f g); do
			out=$(perf record -q -a -F 10000 -o "$ZT_TMP/dp.data" -- nsenter --net="$(zb_nspath "$p-cli")" \
				taskset -c 0 "$ZB_TOOL" crr -t 1 "$(zb_srv_addr 4)" 8080 2>/dev/null)
			perf report -i "$ZT_TMP/dp.data" --no-children --stdio --show-nr-samples --sort sym -g none -q \
				--comms zb-tool,ksoftirqd/0,ksoftirqd/1 >"$ZT_TMP/dp.txt" 2>/dev/null || true
			awk -v re="$ZB_NF_SYMS" -v ops="$(cut -d' ' -f3 <<<"$out")" -v f=10000 '
				$4 ~ re { s += $2 }
				END { if (ops > 0) printf "%.2f\n", s / f / ops * 1e6 }' "$ZT_TMP/dp.txt" >>"$R/nfcost-$p"
		done
	done
	rm -f "$ZT_TMP/dp.data" "$ZT_TMP/dp.txt"
}
baseline_rss=$(rss VmRSS)
zt_ns_add mon	# for nft monitor, the listener of the second kind of change

# changes NAME [VERSIONS]: the two 1% changes (v1, then v0 back; or the
# versions given), into $R/NAME-*; the notification listeners on the
# machine, the daemon's own at rest included.
changes() {
	local v
	for v in ${2:-v1 v0}; do
		zb_nft_listeners >>"$R/$1-listeners"
		stage "$v"
		before=$(applied); read -r u0 s0 < <(cpu)
		swap
		wait_applied "$before" || zt_die "the change was not applied"
		since_rename >>"$R/$1-ms"
		read -r u1 s1 < <(cpu)
		awk -v a="$u0" -v b="$u1" -v t="$TCK" 'BEGIN { print (b - a) / t }' >>"$R/$1-user"
		awk -v a="$s0" -v b="$s1" -v t="$TCK" 'BEGIN { print (b - a) / t }' >>"$R/$1-sys"
		grep 'feeds applied' "$DLOG" | tail -1 | sed -E 's/.* in ([0-9.]+) ms.*/\1/' >>"$R/$1-apply-ms"
	done
}

# Each round: the feeds off, then a full load, then two 1% changes.
loads=0
for round in $(seq 1 "$LOADS"); do
	cp "$ZT_TMP/without/ztseg.yaml" "$ZT_TMP/pol/"
	ctl reload >/dev/null
	cp "$ZT_TMP/with/ztseg.yaml" "$ZT_TMP/pol/"
	rm -f "$FEED"
	ctl reload >/dev/null 2>&1 || true
	zb_log "feeds: round $round, loading $N entries"
	stage v0
	before=$(applied); read -r u0 s0 < <(cpu)
	swap
	wait_applied "$before" || zt_die "the feed did not load"
	read -r u1 s1 < <(cpu)
	since_rename >>"$R/load-ms"
	awk -v a="$u0" -v b="$u1" -v t="$TCK" 'BEGIN { print (b - a) / t }' >>"$R/load-user"
	awk -v a="$s0" -v b="$s1" -v t="$TCK" 'BEGIN { print (b - a) / t }' >>"$R/load-sys"
	ctl feeds --json | jq '.feed_updates.longest_commit_ms' >>"$R/load-longest"
	sleep 1		# the replaced copies are freed by a thread after the last ACK: steady state
	rss VmRSS >>"$R/rss-loaded"
	loads=$((loads + 1))
	if ((round == 1)); then
		zb_log "feeds: data path with $N entries (f) against none (g), $PAIRS pairs"
		g_start
		datapath crr "$PAIRS"
		datapath rr $(((PAIRS + 1) / 2))
		datapath tput $(((PAIRS + 1) / 2))
		[[ -z $perf_ok ]] || netfilter_cost
		g_stop
	fi
	zb_log "feeds: round $round, 1% changes"
	changes change
	zb_log "feeds: round $round, 1% changes with nft monitor in another namespace"
	zt_bg mon "$ZT_TMP/monitor.log" nft monitor
	MPID=$ZT_BG_PID
	sleep 0.5
	changes change-mon
	kill -TERM "$MPID"; wait "$MPID" || true
done
peak_rss=$(rss VmHWM)
kill -TERM "$DPID"; wait "$DPID" || true

# ---- the same 1% changes parsed and flattened whole (ZTSEGD_FEED_WHOLE=1), the reference ----
zb_log "feeds: the 1% changes again, parsed and flattened whole (the reference)"
cp "$ZT_TMP/with/ztseg.yaml" "$ZT_TMP/pol/"
put v1	# differs from what the kernel may still hold (v0): the start logs an update
DLOG=$ZT_TMP/whole.log
zt_bg f-host "$DLOG" env ZTSEGD_FEED_WHOLE=1 "$ZT_D" --config "$ZT_TMP/pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--log-level info
DPID=$ZT_BG_PID
zt_wait_for 300000 grep -q 'feeds applied' "$DLOG" || zt_die "the reference daemon did not load the feed"
for round in $(seq 1 "$LOADS"); do
	changes whole "v0 v1"
done
kill -TERM "$DPID"; wait "$DPID" || true
grep 'feeds applied' "$ZT_TMP/daemon.log" | tail -2 | sed 's/^/# incremental: /'
grep 'feeds applied' "$DLOG" | tail -2 | sed 's/^/# whole: /'

# ---- nft -f of the same elements, and the kernel's share -----------------------------------
zb_log "feeds: nft -f of the same elements"
python3 - "$ZT_TMP/v0" "$ZT_TMP/nft.nft" <<'EOF'
import sys, ipaddress
v4, v6 = [], []
for l in open(sys.argv[1]):
    l = l.strip()
    (v6 if ":" in l else v4).append(l)
with open(sys.argv[2], "w") as f:
    for fam, name, els, t in (("ip", "ztseg", v4, "ipv4_addr"), ("ip6", "ztseg", v6, "ipv6_addr")):
        f.write("table %s nftf {\n" % fam)
        for m in ("src",):
            f.write("  map listed_%s { type %s : verdict; flags interval;\n    elements = { %s }\n  }\n"
                    % (m, t, ", ".join(e + " : drop" for e in els)))
        f.write("}\n")
EOF
for i in $(seq 1 "${ZB_FEED_NFT_RUNS:-2}"); do
	zt_ns_add "nft$i"
	zt_x "nft$i" /usr/bin/time -f "%e %U %S %M" nft -f "$ZT_TMP/nft.nft" 2>"$R/nft-time-$i" >/dev/null ||
		zt_die "nft -f failed: $(tail -2 "$R/nft-time-$i")"
	tail -1 "$R/nft-time-$i" >>"$R/nft"
	zt_ns_del "nft$i"
done
zb_log "feeds: the kernel's share (one transaction per map)"
zt_ns_add ks
mkdir -m 0755 "$ZT_TMP/ks"
cp "$ZT_TMP/with/ztseg.yaml" "$ZT_TMP/ks/"
put v0
zt_bg ks "$ZT_TMP/ks.log" env ZTSEGD_FEED_CHUNK=100000000 "$ZT_D" --config "$ZT_TMP/ks" --state-dir "$ZT_TMP/ks-state" \
	--socket "$ZT_TMP/run/ks.sock" --log-level info
KPID=$ZT_BG_PID
zt_wait_for 600000 grep -q 'feeds applied' "$ZT_TMP/ks.log" || zt_die "the one-transaction load did not finish"
"$ZT_CTL" --socket "$ZT_TMP/run/ks.sock" feeds --json | jq '.feed_updates' >"$R/ks.json"
kill -TERM "$KPID"; wait "$KPID" || true
zt_ns_del ks

# ---- report ----------------------------------------------------------------------------------
med() { sort -n "$R/$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
col() { awk -v c="$2" '{ print $c }' "$R/$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
nft_e=$(col nft 1) nft_u=$(col nft 2) nft_s=$(col nft 3) nft_m=$(col nft 4)
ks_ms=$(jq '.last_update_ms' "$R/ks.json") ks_commit=$(jq '.longest_commit_ms' "$R/ks.json")
load=$(med load-ms)
thousands() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The pairs' ratios: "MEDIAN (quartiles Q1-Q3, N pairs)".
pairs() { sort -g "$R/$1-ratio" | awk '{ v[NR] = $1 } END {
	q1 = v[int((NR + 3) / 4)]; q3 = v[int((3 * NR + 3) / 4)]
	m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.2f (quartiles %.2f-%.2f, %d pairs)", m, q1, q3, NR }'; }
report=$ZT_TMP/report.md
{
	echo "## Threat feeds: the last run of bench/feeds.sh"
	echo
	echo "One run of \`make bench-feeds\`, $(date -u '+%Y-%m-%d %H:%M UTC'), ztseg $(git -C "$ZT_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'),"
	echo "kernel $(uname -r), $(nproc) CPUs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on the"
	echo "machine make wall times noisy; the ratios compare runs made in this one run)."
	echo "Feed: $N entries (60% IPv4 /32, 20% IPv4 /24, 20% IPv6 /64), \`direction: in\` (one map per family: \`nft -f\` of two maps per family was killed at 2.5 GB RSS here)."
	echo
	echo "| measure | ztsegd | reference | ratio | target |"
	echo "|---|---|---|---|---|"
	echo "| load, rename to last ACK (median of $loads) | $load ms (user $(med load-user) s, system $(med load-sys) s) | \`nft -f\`: $(awk -v e="$nft_e" 'BEGIN { print e * 1000 }') ms (user $nft_u s, system $nft_s s) | $(ratio "$load" "$(awk -v e="$nft_e" 'BEGIN { print e * 1000 }')") | ≤ 0.4 |"
	echo "| load against the kernel's share (one transaction per map) | $load ms | $ks_ms ms (longest commit $ks_commit ms) | $(ratio "$load" "$ks_ms") | ≤ 1.3 |"
	echo "| longest commit while loading (commits held to a 3 ms budget; interval maps in 128 shards) | $(med load-longest) ms | | | (event → ACK p99 < 5 ms) |"
	echo "| peak RSS while loading | daemon $peak_rss kB | \`nft -f\` $nft_m kB | $(ratio "$peak_rss" "$nft_m") | reported |"
	echo "| 1% change ($(thousands $((N / 100))) entries), rename to last ACK (median of $(wc -l <"$R/change-ms"); nf_tables listeners on the machine: $(sort -u "$R/change-listeners" | paste -sd/), the daemon's own included) | $(med change-ms) ms (committing: $(med change-apply-ms) ms; daemon user $(med change-user) s, system $(med change-sys) s) | parsed and flattened whole: $(med whole-ms) ms (user $(med whole-user) s, system $(med whole-sys) s) | $(ratio "$(med change-ms)" "$(med whole-ms)") | < 100 ms |"
	echo "| the same 1% changes with a second nf_tables listener on the machine (\`nft monitor\` in another namespace; the kernel then builds a notification per element of each commit) | $(med change-mon-ms) ms (committing: $(med change-mon-apply-ms) ms) | without it: $(med change-ms) ms | $(ratio "$(med change-mon-ms)" "$(med change-ms)") | (reported) |"
	echo "| new connections/s with 1M loaded (medians; ratio: the median of the pairs' ratios) | $(med crr-with) | $(med crr-without) without feeds | $(pairs crr) | ≥ 0.95 |"
	if [[ -s $R/nfcost-f ]]; then
		nf_f=$(med nfcost-f) nf_g=$(med nfcost-g)
		echo "| netfilter, conntrack and FIB per connection (perf, median of $(wc -l <"$R/nfcost-f")) | $nf_f µs | $nf_g µs without feeds | +$(awk -v a="$nf_f" -v b="$nf_g" 'BEGIN { printf "%.2f", a - b }') µs: $(awk -v a="$nf_f" -v b="$nf_g" -v r="$(med crr-without)" 'BEGIN { printf "%.1f", (a - b) * r / 1e4 }')% of a connection's time at $(med crr-without)/s; the rate it leaves: $(awk -v a="$nf_f" -v b="$nf_g" -v r="$(med crr-without)" 'BEGIN { printf "%.3f", 1 / (1 + (a - b) * r / 1e6) }')× | (≥ 0.95) |"
	fi
	echo "| request/response/s with 1M loaded | $(med rr-with) | $(med rr-without) | $(pairs rr) | — |"
	echo "| throughput (Gbit/s) with 1M loaded | $(med tput-with) | $(med tput-without) | $(pairs tput) | ≥ 0.95 |"
	echo "| daemon RSS, 1M loaded against none | $(med rss-loaded) kB | $baseline_rss kB | +$(( ($(med rss-loaded) - baseline_rss) / 1024 )) MiB | ≤ +64 MiB |"
	echo
} >"$report"
cat "$report"
# Only this run's section is replaced (it moves to the end): the hand-written
# sections of issue 16 under "## Threat feeds (issue 16)" stay as they are.
zb_section "$RESULTS" feeds "$report"
