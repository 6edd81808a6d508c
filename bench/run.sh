#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: apply, reload, event-to-enforcement, data-path and memory
# benchmarks of ztseg, each against what a user would otherwise have (nft -f
# of the same ruleset, the bare kernel, one rule per flow). Everything runs
# in network namespaces made here and removed on exit; results go to stdout
# and to bench/RESULTS.md (ZB_RESULTS). Root only.
#
# Knobs (environment): ZB_SIZES (100 1000 10000), ZB_RELOAD_SIZES (1000
# 10000), ZB_ROUNDS_SMALL/MID/LARGE (9/7/3 apply rounds at 100/1000/10000),
# ZB_RELOAD_ROUNDS_MID/LARGE (3/1), ZB_EVENTS (1000), ZB_DAEMON_EVENTS
# (500), ZB_DP_ROUNDS (9), ZB_IPERF_SECS (1), ZB_RR_SECS (0.5), ZB_SPARSE
# (1: also the sparse-address-layout apply at 100 segments), ZB_SAVE=DIR
# (keep the measurements), ZB_REPORT_FROM=DIR (only write the report again).
#
# Unquoted $(timed …) and $(zd …) below are meant to split: they are words of
# the commands that hyperfine runs.
# shellcheck disable=SC2046
set -euo pipefail
source "$(dirname "$0")/lib.sh"

read -r -a SIZES <<<"${ZB_SIZES:-100 1000 10000}"
read -r -a RELOAD_SIZES <<<"${ZB_RELOAD_SIZES:-1000 10000}"
EVENTS=${ZB_EVENTS:-1000}
DAEMON_EVENTS=${ZB_DAEMON_EVENTS:-500}
DP_ROUNDS=${ZB_DP_ROUNDS:-9}
IPERF_SECS=${ZB_IPERF_SECS:-1}
RR_SECS=${ZB_RR_SECS:-0.5}
SPARSE=${ZB_SPARSE:-1}
RESULTS=${ZB_RESULTS:-$ZB_DIR/RESULTS.md}
LARGEST=${SIZES[-1]}

rounds_for() {
	if (($1 <= 100)); then echo "${ZB_ROUNDS_SMALL:-9}"
	elif (($1 <= 1000)); then echo "${ZB_ROUNDS_MID:-7}"
	else echo "${ZB_ROUNDS_LARGE:-3}"; fi
}
reload_rounds_for() {
	if (($1 <= 1000)); then echo "${ZB_RELOAD_ROUNDS_MID:-3}"; else echo "${ZB_RELOAD_ROUNDS_LARGE:-1}"; fi
}
# Seconds a namespace's teardown gets before the next run starts.
settle_for() {
	if (($1 <= 100)); then echo 0.3; elif (($1 <= 1000)); then echo 1; else echo 3; fi
}

# ZB_REPORT_FROM=DIR: only write the results again from what a run saved
# with ZB_SAVE=DIR (the measurements, profiles and settings).
if [[ -n ${ZB_REPORT_FROM:-} ]]; then
	source "$ZB_REPORT_FROM/settings"
	R=$ZB_REPORT_FROM/res PROF=$ZB_REPORT_FROM/prof P=$ZB_REPORT_FROM/pol
	ZB_OUT=$(mktemp)
	hdr_machine() { cat "$ZB_REPORT_FROM/machine"; }
	source "$ZB_DIR/report.sh"
	zb_keep_sections "$RESULTS" "$ZB_OUT"
	cp "$ZB_OUT" "$RESULTS"
	cat "$ZB_OUT"
	rm -f "$ZB_OUT"
	exit 0
fi

zb_init
T0=$(date +%s)
R=$ZT_TMP/res		# one file per measured quantity, one number per line
P=$ZT_TMP/pol		# generated policies
mkdir -p "$R" "$P" "$ZT_TMP/state"
ZB_OUT=$ZT_TMP/results.md
: >"$ZB_OUT"
rec() { echo "$2" >>"$R/$1"; }	# rec KEY VALUE
zb_log "results into $RESULTS; temporary files in $ZT_TMP"

# ---- policies -----------------------------------------------------------------

for n in "${SIZES[@]}"; do
	naive=()
	[[ $n != "$LARGEST" ]] || naive=(--naive "$P/naive-$n.nft")
	bash "$ZB_DIR/gen-policy.sh" "${naive[@]}" "$P/p$n" "$n"
	"$ZT_CTL" check --config "$P/p$n" >"$P/check-$n.txt" 2>&1 ||
		zt_die "the generated $n-segment policy does not pass check: $(head -3 "$P/check-$n.txt")"
	"$ZT_CTL" show --config "$P/p$n" >"$P/show-$n.nft"
done
for n in "${RELOAD_SIZES[@]}"; do
	bash "$ZB_DIR/gen-policy.sh" --extra-flow "$P/p$n-app" "$n"
	bash "$ZB_DIR/gen-policy.sh" --extra-flow-mid "$P/p$n-mid" "$n"
done
# The sparse layout only at 100 segments: at 1,000 its table has 2.4 million
# objects, and an apply of that with a notification listener anywhere on the
# machine (see 6) took all 24 GiB of this machine's memory.
if ((SPARSE)); then
	bash "$ZB_DIR/gen-policy.sh" --layout sparse "$P/s100" 100
	"$ZT_CTL" show --config "$P/s100" >"$P/show-s100.nft"
fi
zb_log "policies generated"

# ---- 1, 5. apply (and memory) -----------------------------------------------

# The namespace every apply goes into, made anew before each run.
NSA=$(zt_ns apply)
ZT_NS_MADE+=("$NSA")
SETTLE=$ZT_TMP/settle.sh
{
	echo '#!/bin/bash'
	echo 'set -u'
	declare -f zb_kmem_kb zb_nft_listeners
	cat <<-'EOF'
		# settle NS SECONDS LABEL SIZE RESDIR: before a timed run. The table the
		# previous run (LABEL, or "-") left: its kernel memory; then a fresh,
		# empty namespace after SECONDS of quiet for the old one's teardown.
		ns=$1 secs=$2 label=$3 size=$4 res=$5
		if [[ -e /run/netns/$ns ]]; then
			if [[ $label != - ]] && [[ -n $(nsenter --net=/run/netns/$ns nft list tables 2>/dev/null) ]]; then
				echo $(($(zb_kmem_kb) - $(cat "$res/.kmem-before"))) >>"$res/kmem-$label-$size"
			fi
			nsenter --net=/run/netns/$ns nft flush ruleset
			ip netns del "$ns"
		fi
		sleep "$secs"
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		zb_kmem_kb >"$res/.kmem-before"
		zb_nft_listeners >"$res/.listeners"
	EOF
} >"$SETTLE"

# hf LABEL SIZE PREPARE COMMAND...: one timed run (hyperfine), its wall
# time (s) into wall-LABEL-SIZE, and the /usr/bin/time figures the command
# wrote to $ZT_TMP/time.LABEL (peak RSS KiB, user s, system s).
hf() {
	local label=$1 size=$2 prep=$3 json=$ZT_TMP/hf.json
	shift 3
	rm -f "$ZT_TMP/time.$label"
	hyperfine -N --runs 1 --style none --prepare "$prep" --output "$ZT_TMP/out.$label" \
		--export-json "$json" -- "$*" >/dev/null 2>"$ZT_TMP/hf.err" || {
		cat "$ZT_TMP/hf.err" "$ZT_TMP/out.$label" >&2
		zt_die "benchmark run failed: $*"
	}
	rec "wall-$label-$size" "$(jq '.results[0].mean' "$json")"
	if [[ -s $ZT_TMP/time.$label ]]; then
		read -r rss user sys <"$ZT_TMP/time.$label"
		rec "rss-$label-$size" "$rss"
		rec "cpu-$label-$size" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
		rec "sys-$label-$size" "$sys"
	fi
	[[ ! -s $R/.listeners ]] || rec "listen-$label-$size" "$(cat "$R/.listeners")"
}
timed() { echo "/usr/bin/time -o $ZT_TMP/time.$1 -f %M\ %U\ %S"; }

# apply_size TAG SIZE DIR SHOW ROUNDS: ztsegd --oneshot and nft -f, each
# into a fresh empty namespace, alternating which goes first; show, check.
apply_size() {
	local tag=$1 n=$2 dir=$3 show=$4 rounds=$5 s r prev cmd
	s=$(settle_for "$n")
	for ((r = 0; r < rounds; r++)); do
		prev=-
		for cmd in $( ((r % 2)) && echo f z || echo z f); do
			if [[ $cmd == z ]]; then
				hf "z$tag" "$n" "bash $SETTLE $NSA $s $prev $n $R" \
					nsenter --net=/run/netns/"$NSA" $(timed "z$tag") \
					"$ZT_D" --oneshot --config "$dir" --state-dir "$ZT_TMP/state"
			else
				hf "f$tag" "$n" "bash $SETTLE $NSA $s $prev $n $R" \
					nsenter --net=/run/netns/"$NSA" $(timed "f$tag") nft -f "$show"
			fi
			prev=$cmd$tag
		done
		hf "show$tag" "$n" "bash $SETTLE $NSA $s $prev $n $R" $(timed "show$tag") "$ZT_CTL" show --config "$dir"
		hf "chk$tag" "$n" "true" $(timed "chk$tag") "$ZT_D" --check --config "$dir"
		hf "val$tag" "$n" "true" $(timed "val$tag") "$ZT_CTL" check --config "$dir"
		# ztsegd vs nft -f in the same round: the ratio of this pair.
		rec "ratio-$tag-$n" "$(zb_ratio "$(tail -1 "$R/wall-z$tag-$n")" "$(tail -1 "$R/wall-f$tag-$n")" 4)"
	done
	# What the batch held (the last ztsegd run's own report).
	sed -nE 's/.*: ([0-9]+) objects, created [0-9]+, ([0-9]+) messages \(([0-9]+) bytes\).*/\1 \2 \3/p' \
		"$ZT_TMP/out.z$tag" | tail -1 >"$R/batch-$tag-$n"
	wc -c <"$show" >"$R/text-$tag-$n"
}

hdr_machine() {
	local commit
	commit=$(git -C "$ZT_ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
	[[ -z $(git -C "$ZT_ROOT" status --porcelain -- lib daemon 2>/dev/null) ]] || commit="$commit + uncommitted changes in lib/ or daemon/"
	echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "- $(nft --version | head -1), $(hyperfine --version), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
	echo "- ztseg $commit, built with the Makefile's CFLAGS ($ZT_BUILD)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
}

# mem_guard SIZE: wait (up to 2 minutes) until the machine has the memory a
# full apply of SIZE segments may take: with an nf_tables listener anywhere,
# the kernel holds one notification buffer per object until the commit ends
# (~9 GiB at 10,000 segments). Other work shares this machine.
mem_guard() {
	local need=$(($1 >= 10000 ? 12 : 2)) i avail
	for ((i = 0; i < 120; i++)); do
		avail=$(awk '/MemAvailable/ { print int($2 / 1048576) }' /proc/meminfo)
		((avail >= need)) && return 0
		((i)) || zb_log "waiting for $need GiB of available memory ($avail GiB now)"
		sleep 1
	done
	zt_die "less than $need GiB of memory available: not running $1-segment applies"
}

for n in "${SIZES[@]}"; do
	mem_guard "$n"
	zb_log "apply: $n segments ($(rounds_for "$n") rounds)"
	apply_size "" "$n" "$P/p$n" "$P/show-$n.nft" "$(rounds_for "$n")"
done
if ((SPARSE)); then
	zb_log "apply, sparse layout: 100 segments (3 rounds)"
	apply_size s 100 "$P/s100" "$P/show-s100.nft" 3
fi
# The table of the last run goes, with its namespace.
bash "$SETTLE" "$NSA" 0 - 0 "$R"

# ---- 2. reload (the diff path) ----------------------------------------------

NSR=$(zt_ns reload)
ZT_NS_MADE+=("$NSR")
zd() { echo nsenter --net=/run/netns/"$NSR" "$@" "$ZT_D" --oneshot --state-dir "$ZT_TMP/state" --config; }
for n in "${RELOAD_SIZES[@]}"; do
	rounds=$(reload_rounds_for "$n")
	zb_log "reload: $n segments ($rounds rounds)"
	bash "$SETTLE" "$NSR" "$(settle_for "$n")" - "$n" "$R"
	$(zd) "$P/p$n" >/dev/null
	# Each round: unchanged, a flow appended and removed again, a flow
	# inserted mid-file and removed again: every run starts from the table
	# the previous one left, so no untimed restore is needed between them.
	for ((r = 0; r < rounds; r++)); do
		hf same "$n" "true" $(zd "$(timed same)") "$P/p$n"
		grep -q 'changed 0,' "$ZT_TMP/out.same" ||
			zt_die "an unchanged re-apply changed something: $(cat "$ZT_TMP/out.same")"
		for step in app:p$n-app app:p$n mid:p$n-mid mid:p$n; do
			hf "${step%%:*}" "$n" "true" $(zd "$(timed "${step%%:*}")") "$P/${step#*:}"
			rec "changed-${step%%:*}-$n" "$(sed -nE 's/.*changed ([0-9]+),.*/\1/p' "$ZT_TMP/out.${step%%:*}")"
		done
	done
	# The daemon: `ztsegctl reload` against a ztsegd running in the same
	# namespace, which diffs the new policy against the plan it runs (no
	# table read back while nothing else committed). The same steps, each
	# after its ztseg.yaml was put in place (untimed); d* results.
	conf=$ZT_TMP/dconf-$n sock=$ZT_TMP/dsock-$n
	rm -rf "$conf"
	cp -R "$P/p$n" "$conf"
	nsenter --net=/run/netns/"$NSR" "$ZT_D" --config "$conf" --state-dir "$ZT_TMP/dstate" --socket "$sock" \
		>"$ZT_TMP/daemon-$n.log" 2>&1 &
	dpid=$!
	for ((i = 0; i < 1200; i++)); do
		"$ZT_CTL" --socket "$sock" status >/dev/null 2>&1 && break
		kill -0 "$dpid" 2>/dev/null || zt_die "ztsegd exited: $(tail -3 "$ZT_TMP/daemon-$n.log")"
		sleep 0.1
	done
	for ((r = 0; r < rounds; r++)); do
		hf dsame "$n" "true" "$ZT_CTL" --socket "$sock" reload
		grep -q ' 0 objects changed' "$ZT_TMP/out.dsame" ||
			zt_die "an unchanged daemon reload changed something: $(cat "$ZT_TMP/out.dsame")"
		for step in app:p$n-app app:p$n mid:p$n-mid mid:p$n; do
			hf "d${step%%:*}" "$n" "cp $P/${step#*:}/ztseg.yaml $conf/ztseg.yaml" "$ZT_CTL" --socket "$sock" reload
			rec "changed-d${step%%:*}-$n" "$(sed -nE 's/.* ([0-9]+) objects changed.*/\1/p' "$ZT_TMP/out.d${step%%:*}")"
		done
	done
	kill "$dpid"
	wait "$dpid" || true
	nsenter --net=/run/netns/"$NSR" nft flush ruleset
done
ip netns del "$NSR"

# ---- 4. data path: five hosts side by side -----------------------------------

zb_log "data path: setting up (a) (a') (b) (c) (d)"
CFGS=(a ap b c d)
declare -A CFG_NAME=([a]="(a) no ruleset" [ap]="(a′) conntrack floor" [b]="(b) ztseg, example policy"
	[c]="(c) ztseg, $LARGEST segments" [d]="(d) one rule per flow, $LARGEST segments")
for c in "${CFGS[@]}"; do zb_pair "$c"; done
zt_x ap-host nft -f - <<-'EOF'
	table inet floor {
		chain forward {
			type filter hook forward priority filter; policy accept;
			ct state established,related accept
		}
	}
EOF
pol_b=$(zt_policy b)
for fam in 4 6; do
	for pd in "$pol_b" "$P/p$LARGEST"; do
		"$ZT_CTL" explain --config "$pd" "iface:vweb1,$(zb_cli_addr $fam)" "iface:vapp1,$(zb_srv_addr $fam)" \
			tcp/8080 >/dev/null || zt_die "$pd does not allow web1 -> app1 tcp/8080 (IPv$fam)"
	done
done
zt_x b-host "$ZT_D" --oneshot --config "$pol_b" --state-dir "$ZT_TMP/state" >/dev/null
t=$(date +%s%N)
zt_x c-host "$ZT_D" --oneshot --config "$P/p$LARGEST" --state-dir "$ZT_TMP/state" >/dev/null
rec dp-load-c "$((($(date +%s%N) - t) / 1000000))"
t=$(date +%s%N)
zt_x d-host nft -f "$P/naive-$LARGEST.nft"
rec dp-load-d "$((($(date +%s%N) - t) / 1000000))"
rec dp-rules-d "$(grep -c ' accept$' "$P/naive-$LARGEST.nft")"

# Each host must pass web1 -> app1 tcp/8080 and, with a ruleset that
# filters, drop tcp/8443 (a refusal means it got through to the server).
zb_servers() { # KIND: iperf3 or echo servers on tcp/8080 in every srv, CPU 1
	local c
	SRV_PIDS=()
	for c in "${CFGS[@]}"; do
		if [[ $1 == iperf3 ]]; then
			zt_bg "$c-srv" "$ZT_TMP/iperf3-$c.log" taskset -c 1 iperf3 -s -p 8080
		else
			zt_bg "$c-srv" "$ZT_TMP/serve-$c.log" taskset -c 1 "$ZB_TOOL" serve 8080
		fi
		SRV_PIDS+=("$ZT_BG_PID")
	done
	sleep 0.5
}
zb_servers_stop() { kill "${SRV_PIDS[@]}" 2>/dev/null || true; wait "${SRV_PIDS[@]}" 2>/dev/null || true; }

zb_servers echo
for c in "${CFGS[@]}"; do
	for fam in 4 6; do
		zt_x "$c-cli" "$ZB_TOOL" rr -t 0.2 "$(zb_srv_addr $fam)" 8080 >/dev/null ||
			zt_die "${CFG_NAME[$c]}: web1 -> app1 tcp/8080 IPv$fam does not pass"
		rc=0
		zt_x "$c-cli" timeout 1 "$ZB_TOOL" rr -t 0.2 "$(zb_srv_addr $fam)" 8443 >/dev/null 2>&1 || rc=$?
		case $c in
		a | ap) ((rc == 1)) || zt_die "${CFG_NAME[$c]}: tcp/8443 was not refused (rc $rc)" ;;
		*) ((rc == 124)) || zt_die "${CFG_NAME[$c]}: tcp/8443 was not dropped (rc $rc)" ;;
		esac
	done
done
zb_servers_stop

# dp_round KIND: one measurement per config and family, in an order that
# rotates each round (no config always first after a pause).
dp_rounds() {
	local kind=$1 r i c fam v k
	for ((r = 0; r < DP_ROUNDS; r++)); do
		for fam in 4 6; do
			for ((i = 0; i < ${#CFGS[@]}; i++)); do
				k=$(((i + r) % ${#CFGS[@]}))
				c=${CFGS[$k]}
				case $kind in
				tput)
					v=$(zt_x "$c-cli" taskset -c 0 iperf3 -c "$(zb_srv_addr $fam)" -p 8080 \
						-t "$IPERF_SECS" -O 1 -J | jq '.end.sum_received.bits_per_second')
					;;
				rr | crr)
					v=$(zt_x "$c-cli" taskset -c 0 "$ZB_TOOL" "$kind" -t "$RR_SECS" \
						"$(zb_srv_addr $fam)" 8080 | cut -d' ' -f2)
					;;
				esac
				rec "dp-$kind-$c-$fam" "$v"
			done
		done
	done
}
zb_log "data path: iperf3 ($DP_ROUNDS rounds)"
zb_servers iperf3
dp_rounds tput
zb_servers_stop
zb_log "data path: request/response and connect rate ($DP_ROUNDS rounds)"
zb_servers echo
dp_rounds rr
dp_rounds crr
zb_servers_stop

# ---- 3. event to enforcement ---------------------------------------------------

# New workloads of segment web appear behind (a) (no ruleset) and (c) (the
# big policy), alternating in blocks; each sends to app1 udp/8080.
zt_ns_add ev-a
zt_ns_add ev-c
blocks=10
per=$(((EVENTS + blocks - 1) / blocks))
zb_log "events: $EVENTS per host, in $blocks blocks"
for c in a c; do
	# The server's neighbour entry on the host, so that the first event does not resolve it.
	zt_x "$c-cli" "$ZB_TOOL" rr -t 0.1 "$(zb_srv_addr 6)" 8080 >/dev/null 2>&1 || true
done
for ((b = 0; b < blocks; b++)); do
	for c in a c; do
		"$ZB_TOOL" event -N -H "$(zb_nspath "$c-host")" -W "$(zb_nspath "ev-$c")" -S "$(zb_nspath "$c-srv")" \
			-i vweb -a 2001:db8:0:1::40 -g "$ZT_GW_V6" -d "$(zb_srv_addr 6)" -p 8080 -n "$per" \
			-o "$ZT_TMP/ev-$c-$b.txt" >/dev/null
		cat "$ZT_TMP/ev-$c-$b.txt" >>"$R/ev-$c"
	done
done
# Also: the same without the static gateway neighbour (the workload then
# resolves it by ND first), fewer events.
for c in a c; do
	"$ZB_TOOL" event -H "$(zb_nspath "$c-host")" -W "$(zb_nspath "ev-$c")" -S "$(zb_nspath "$c-srv")" \
		-i vweb -a 2001:db8:0:1::40 -g "$ZT_GW_V6" -d "$(zb_srv_addr 6)" -p 8080 -n "$per" \
		-o "$R/evnd-$c" >/dev/null
done

# The daemon's own measure, when there is a daemon: from the rtnetlink
# event to the ACK of what it did (it acts on encrypted interfaces, on
# addresses moving between segments and on bridges' ports and addresses;
# a new workload needs nothing).
DAEMON=0
# daemon_up POLICY: ztsegd in (c)'s host with POLICY, until ready (dpid; 1 if it never got ready)
daemon_up() {
	local i
	: >"$dlog"
	zt_bg c-host "$dlog" "$ZT_D" --config "$1" --state-dir "$ZT_TMP/state" \
		--socket "$ZT_TMP/ztsegd.sock" --log-level debug --encrypting-kinds veth
	dpid=$ZT_BG_PID
	for ((i = 0; i < 6000; i++)); do
		grep -q '^ztsegd: ready' "$dlog" && break
		kill -0 "$dpid" 2>/dev/null || break
		sleep 0.05
	done
	grep -q '^ztsegd: ready' "$dlog" && return 0
	zb_log "events: the daemon did not get ready: $(tail -3 "$dlog")"
	return 1
}
daemon_down() {
	kill -TERM "$dpid" 2>/dev/null || true
	wait "$dpid" 2>/dev/null || true
}
if ! "$ZT_D" --help 2>&1 | grep -q -- '--socket'; then
	zb_log "events: ztsegd has no daemon mode here; skipping its latency"
else
	DAEMON=1
	zb_log "events: the daemon, $DAEMON_EVENTS events of each kind"
	dlog=$ZT_TMP/daemon.log
	if ! daemon_up "$P/p$LARGEST"; then
		DAEMON=2
	else
		# The move rig: mv behind vweb8 and vapp8 of (c), its address on lo.
		zt_ns_add mv
		h=$(zt_ns c-host) w=$(zt_ns mv)
		ip -n "$h" link add vweb8 type veth peer name eth0 netns "$w"
		ip -n "$h" link add vapp8 type veth peer name eth1 netns "$w"
		ip -n "$w" addr add 198.51.100.5/32 dev lo
		ip -n "$w" link set eth0 up
		ip -n "$w" link set eth1 up
		ip -n "$h" link set vweb8 up
		ip -n "$h" link set vapp8 up
		ip -n "$h" route add 198.51.100.5/32 dev vweb8
		sleep 1
		for ((i = 0; i < DAEMON_EVENTS; i++)); do
			from=$(wc -l <"$dlog")
			if ((i % 2)); then dev=vweb8; else dev=vapp8; fi
			ip -n "$h" route replace 198.51.100.5/32 dev "$dev"
			v=$(zb_wait_latency "$dlog" "$from") && rec dl-move "$v" || rec dl-miss-move 1
		done
		# An encrypted link (a veth named wg-zb0 stands in for WireGuard,
		# which this kernel lacks), two ways, in blocks of 50 alternating:
		# enc, its peer in mv (one device in the daemon's namespace, as a
		# WireGuard link or a container's veth is); encp, both ends here.
		# The second device of encp makes the kernel walk every chain of
		# the table again under the commit lock (its netdev notifier,
		# doc/RULESET.md "What a commit costs"), while the daemon commits.
		for ((i = 0; i < 2 * DAEMON_EVENTS; i++)); do
			from=$(wc -l <"$dlog")
			k=enc peer=(netns "$w")
			((i / 50 % 2 == 0)) || k=encp peer=()
			if ((i % 2)); then
				ip -n "$h" link del wg-zb0
			else
				ip -n "$h" link add wg-zb0 type veth peer name xzb0 "${peer[@]}"
			fi
			v=$(zb_wait_latency "$dlog" "$from") && rec "dl-$k" "$v" || rec "dl-miss-$k" 1
		done
		daemon_down
		# Bridges: the same policy and one segment more, dock (bridge: zbr0,
		# Docker-style), in a second daemon (the rows above keep their
		# policy). A container's port joins zbr0 and goes (dport), and an
		# address comes and goes on zbr0 (hown: no port may claim it).
		cp -R "$P/p$LARGEST" "$ZT_TMP/p-br"
		printf '  dock:\n    bridge: zbr0\n    addresses: ["2001:db8:ffff:1::/64"]\n' >>"$ZT_TMP/p-br/ztseg.yaml"
		ip -n "$h" link add zbr0 type bridge
		ip -n "$h" link set zbr0 up
		if daemon_up "$ZT_TMP/p-br"; then
			sleep 1
			for ((i = 0; i < DAEMON_EVENTS; i++)); do
				from=$(wc -l <"$dlog")
				if ((i % 2)); then
					ip -n "$h" link del zp0
				else
					ip -n "$h" link add zp0 master zbr0 type veth peer name eth9 netns "$w"
				fi
				v=$(zb_wait_latency "$dlog" "$from") && rec dl-bport "$v" || rec dl-miss-bport 1
			done
			for ((i = 0; i < DAEMON_EVENTS; i++)); do
				from=$(wc -l <"$dlog")
				if ((i % 2)); then
					ip -n "$h" addr del 2001:db8:ffff:1::1/64 dev zbr0
				else
					ip -n "$h" addr add 2001:db8:ffff:1::1/64 dev zbr0 nodad
				fi
				v=$(zb_wait_latency "$dlog" "$from") && rec dl-baddr "$v" || rec dl-miss-baddr 1
			done
		fi
	fi
	daemon_down
fi

# ---- 6. profiles -----------------------------------------------------------------

PROF=$ZT_TMP/prof
mkdir -p "$PROF"
if zb_have_perf; then
	zb_log "profiles: full apply at $LARGEST segments (ztsegd, nft -f), re-apply at ${RELOAD_SIZES[0]}"
	bash "$SETTLE" "$NSA" "$(settle_for "$LARGEST")" - 0 "$R"
	zb_nft_listeners >"$PROF/listeners"
	nsenter --net=/run/netns/"$NSA" perf record -q -o "$PROF/apply.data" -- \
		"$ZT_D" --oneshot --config "$P/p$LARGEST" --state-dir "$ZT_TMP/state" >/dev/null 2>&1
	bash "$SETTLE" "$NSA" "$(settle_for "$LARGEST")" - 0 "$R"
	nsenter --net=/run/netns/"$NSA" perf record -q -o "$PROF/nft.data" -- \
		nft -f "$P/show-$LARGEST.nft" >/dev/null 2>&1
	n=${RELOAD_SIZES[0]}
	bash "$SETTLE" "$NSA" "$(settle_for "$n")" - 0 "$R"
	nsenter --net=/run/netns/"$NSA" "$ZT_D" --oneshot --config "$P/p$n" --state-dir "$ZT_TMP/state" >/dev/null
	nsenter --net=/run/netns/"$NSA" perf record -q --call-graph dwarf -F 2000 -o "$PROF/same.data" -- \
		"$ZT_D" --oneshot --config "$P/p$n" --state-dir "$ZT_TMP/state" >/dev/null 2>&1
	bash "$SETTLE" "$NSA" 0 - 0 "$R"
	# The data path's netfilter cost per operation: samples in netfilter,
	# conntrack and FIB functions, in our client's and the softirq threads'
	# context, per connection (crr) or transaction (rr), IPv4.
	zb_log "profiles: the data path's netfilter cost"
	zb_servers echo
	for m in crr rr; do
		for c in a ap c d; do
			out=$(perf record -q -a -F 10000 -o "$PROF/dp.data" -- nsenter --net="$(zb_nspath "$c-cli")" \
				taskset -c 0 "$ZB_TOOL" "$m" -t 2 "$(zb_srv_addr 4)" 8080 2>/dev/null)
			perf report -i "$PROF/dp.data" --no-children --stdio --show-nr-samples --sort sym -g none -q \
				--comms zb-tool,ksoftirqd/0,ksoftirqd/1 >"$PROF/dp.txt" 2>/dev/null || true
			awk -v re="$ZB_NF_SYMS" -v ops="$(cut -d' ' -f3 <<<"$out")" -v f=10000 '
				$4 ~ re { s += $2 }
				END { if (ops > 0) printf "%.2f\n", s / f / ops * 1e6 }' "$PROF/dp.txt" >>"$R/dpcost-$m-$c"
			# Per function, µs per operation, for ztseg's host.
			[[ $c != c ]] || awk -v re="$ZB_NF_SYMS" -v ops="$(cut -d' ' -f3 <<<"$out")" -v f=10000 '
				$4 ~ re && n++ < 14 {
					printf "%6.2f us  %s\n", $2 / f / ops * 1e6, $4 }' "$PROF/dp.txt" >"$PROF/dp-$m-c.top"
		done
	done
	zb_servers_stop
	rm -f "$PROF/dp.data" "$PROF/dp.txt"
	# perf report | head would end perf with SIGPIPE: whole reports to files first.
	for p in apply nft; do
		perf report -i "$PROF/$p.data" --no-children --stdio --sort dso -q >"$PROF/$p.txt" 2>/dev/null || true
		awk 'NF && n++ < 4 { printf "%s %s\n", $1, $2 }' "$PROF/$p.txt" >"$PROF/$p.dso"
		perf report -i "$PROF/$p.data" --no-children --stdio --sort dso,sym -q >"$PROF/$p.txt" 2>/dev/null || true
		awk 'NF && n++ < 12 { printf "%s %s %s\n", $1, $2, $4 }' "$PROF/$p.txt" >"$PROF/$p.sym"
	done
	perf report -i "$PROF/same.data" --children --stdio --sort sym -g none -q >"$PROF/same.txt" 2>/dev/null || true
	awk 'NF && $3 == "[.]" && $4 !~ /^(_start|main|__libc_start|manager_)/ && n++ < 16 { printf "%s %s\n", $1, $4 }' \
		"$PROF/same.txt" >"$PROF/same.sym"
	perf report -i "$PROF/same.data" --no-children --stdio --sort dso -g none -q >"$PROF/same.txt" 2>/dev/null || true
	awk 'NF && n++ < 4 { printf "%s %s\n", $1, $2 }' "$PROF/same.txt" >"$PROF/same.dso"
else
	zb_log "profiles: perf does not work here; skipped"
fi

# ---- 7. just-in-time grants ---------------------------------------------------------
# bench/grants.sh (also `make bench-grants`) in namespaces of its own: grant
# request -> ACK p50/p99 over 1,000 requests, and the new-connection rate with
# 10,000 grants against none (ratios of alternating rounds, side by side).
if [[ -z ${ZB_REPORT_FROM:-} ]]; then
	zb_log "grants: bench/grants.sh"
	ZTSEG_BUILD=${ZTSEG_BUILD:-build} bash "$ZB_DIR/grants.sh" >"$R/grants.out" 2>"$ZT_TMP/grants.err" ||
		zb_log "grants: $(tail -n 1 "$R/grants.out" 2>/dev/null) $(tail -n 3 "$ZT_TMP/grants.err")"
fi

# ---- the results -------------------------------------------------------------------

zb_log "writing results"
if [[ -n ${ZB_SAVE:-} ]]; then
	mkdir -p "$ZB_SAVE/pol"
	cp -R "$R" "$ZB_SAVE/res"
	cp -R "$PROF" "$ZB_SAVE/prof"
	cp "$P"/check-*.txt "$ZB_SAVE/pol/"
	hdr_machine >"$ZB_SAVE/machine"
	declare -p SIZES RELOAD_SIZES LARGEST SPARSE DAEMON per DP_ROUNDS IPERF_SECS RR_SECS CFGS CFG_NAME \
		>"$ZB_SAVE/settings"
fi
. "$ZB_DIR/report.sh"
zb_keep_sections "$RESULTS" "$ZB_OUT"
cp "$ZB_OUT" "$RESULTS"
cat "$ZB_OUT"
zb_log "done in $(($(date +%s) - T0)) s; results in $RESULTS"
