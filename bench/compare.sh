#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench-compare: the per-packet cost of a change to the compiled table,
# side by side in one run. Three client/host/server triples (bench/lib.sh):
# (a′) the conntrack floor (`ct state established,related accept`), (s) the
# spec floor (a hand-written ruleset doing only what SPEC requires of every
# packet: the RPF FIB lookup, the interface-address binding, and one hash
# lookup for a new connection's flow), (o) the example policy applied by
# the ztsegd of ZB_BASE (a build directory of an older commit), (n) the
# same policy applied by this build. Each round
# measures TCP request/response and connect rate, IPv4 and IPv6, in an
# order that rotates; the medians and the ratios n/o and n/a′ go to stdout.
# Root only, namespaces only; about two minutes with the defaults.
#
#   git worktree add /tmp/zt-base <commit> && make -C /tmp/zt-base
#   sudo make bench-compare ZB_BASE=/tmp/zt-base/build
#
# With perf, also the netfilter cost per operation (µs of samples in
# netfilter, conntrack and FIB functions), rounds interleaved the same way.
# Knobs: ZB_BASE (required), ZB_DP_ROUNDS (9), ZB_RR_SECS (0.5),
# ZB_PERF_ROUNDS (5).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE=${ZB_BASE:?set ZB_BASE to the build directory of the commit to compare with}
[[ -x $BASE/ztsegd ]] || zt_die "$BASE/ztsegd is not built"
ROUNDS=${ZB_DP_ROUNDS:-9}
RR_SECS=${ZB_RR_SECS:-0.5}

zb_init
cp "$BASE/ztsegd" "$ZT_TMP/bin/ztsegd-base"
R=$ZT_TMP/results
mkdir -p "$R"

CFGS=(ap s o n)
declare -A CFG_NAME=([ap]="(a′) conntrack floor" [s]="(s) spec floor" [o]="(o) ztseg at ZB_BASE" [n]="(n) ztseg, this build")
for c in "${CFGS[@]}"; do zb_pair "$c"; done
zt_x ap-host nft -f - <<-'EOF'
	table inet floor {
		chain forward {
			type filter hook forward priority filter; policy accept;
			ct state established,related accept
		}
	}
EOF
# The spec floor: per packet, RPF and the binding of the source address to
# its interface (two hash lookups after the FIB's); per new connection,
# one hash lookup of the flow; nothing else passes.
zt_x s-host nft -f - <<EOF
table inet specfloor {
	set bind4 { type ifname . ipv4_addr; elements = { "${ZT_IF[web1]}" . ${ZT_V4[web1]}, "${ZT_IF[app1]}" . ${ZT_V4[app1]} }; }
	set bind6 { type ifname . ipv6_addr; elements = { "${ZT_IF[web1]}" . ${ZT_V6[web1]}, "${ZT_IF[app1]}" . ${ZT_V6[app1]} }; }
	set flow4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; elements = { ${ZT_V4[web1]} . ${ZT_V4[app1]} . tcp . 8080 }; }
	set flow6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service; elements = { ${ZT_V6[web1]} . ${ZT_V6[app1]} . tcp . 8080 }; }
	chain forward {
		type filter hook forward priority filter; policy drop;
		fib saddr . iif oif missing drop
		meta nfproto ipv4 iifname . ip saddr != @bind4 drop
		meta nfproto ipv6 iifname . ip6 saddr != @bind6 drop
		ct state established,related accept
		ct state new ip saddr . ip daddr . meta l4proto . th dport @flow4 accept
		ct state new ip6 saddr . ip6 daddr . meta l4proto . th dport @flow6 accept
	}
}
EOF
pol=$(zt_policy example)
zt_x o-host "$ZT_TMP/bin/ztsegd-base" --oneshot --config "$pol" --state-dir "$ZT_TMP/state-o" >/dev/null
zt_x n-host "$ZT_D" --oneshot --config "$pol" --state-dir "$ZT_TMP/state-n" >/dev/null

SRV_PIDS=()
for c in "${CFGS[@]}"; do
	zt_bg "$c-srv" "$ZT_TMP/serve-$c.log" taskset -c 1 "$ZB_TOOL" serve 8080
	SRV_PIDS+=("$ZT_BG_PID")
done
sleep 0.5
# Every host passes web1 -> app1 tcp/8080; the two ztseg hosts drop tcp/8443.
for c in "${CFGS[@]}"; do
	for fam in 4 6; do
		zt_x "$c-cli" "$ZB_TOOL" rr -t 0.2 "$(zb_srv_addr $fam)" 8080 >/dev/null ||
			zt_die "${CFG_NAME[$c]}: web1 -> app1 tcp/8080 IPv$fam does not pass"
		[[ $c == ap ]] && continue
		rc=0
		zt_x "$c-cli" timeout 1 "$ZB_TOOL" rr -t 0.2 "$(zb_srv_addr $fam)" 8443 >/dev/null 2>&1 || rc=$?
		((rc == 124)) || zt_die "${CFG_NAME[$c]}: tcp/8443 was not dropped (rc $rc)"
	done
done

zb_log "compare: $ROUNDS rounds of rr and crr, IPv4 and IPv6"
for ((r = 0; r < ROUNDS; r++)); do
	for kind in rr crr; do
		for fam in 4 6; do
			for ((i = 0; i < ${#CFGS[@]}; i++)); do
				c=${CFGS[$(((i + r) % ${#CFGS[@]}))]}
				zt_x "$c-cli" taskset -c 0 "$ZB_TOOL" "$kind" -t "$RR_SECS" "$(zb_srv_addr $fam)" 8080 |
					cut -d' ' -f2 >>"$R/$kind-$c-$fam"
			done
		done
	done
done
# The netfilter cost per operation (perf, as bench/run.sh section 4 counts it):
# samples in netfilter, conntrack and FIB functions in the client's and the
# softirq threads' context, per new connection / transaction — what the
# rates above only infer. Rounds interleaved in a rotating order, like the
# rates; per-function figures of the last round for (o) and (n).
PERF_ROUNDS=${ZB_PERF_ROUNDS:-5}
perf_ok=
if zb_have_perf; then perf_ok=1; fi
if [[ -n $perf_ok ]]; then
	zb_log "compare: $PERF_ROUNDS perf rounds of crr and rr per host, IPv4 and IPv6"
	for ((r = 0; r < PERF_ROUNDS; r++)); do
		for m in crr rr; do
			for fam in 4 6; do
				for ((i = 0; i < ${#CFGS[@]}; i++)); do
					c=${CFGS[$(((i + r) % ${#CFGS[@]}))]}
					out=$(perf record -q -a -F 10000 -o "$ZT_TMP/dp.data" -- nsenter --net="$(zb_nspath "$c-cli")" \
						taskset -c 0 "$ZB_TOOL" "$m" -t 1 "$(zb_srv_addr $fam)" 8080 2>/dev/null)
					perf report -i "$ZT_TMP/dp.data" --no-children --stdio --show-nr-samples --sort sym -g none -q \
						--comms zb-tool,ksoftirqd/0,ksoftirqd/1 >"$ZT_TMP/dp.txt" 2>/dev/null || true
					awk -v re="$ZB_NF_SYMS" -v ops="$(cut -d' ' -f3 <<<"$out")" -v f=10000 '
						$4 ~ re { s += $2 }
						END { if (ops > 0) printf "%.2f\n", s / f / ops * 1e6 }' "$ZT_TMP/dp.txt" >>"$R/cost-$m-$c-$fam"
					if [[ $m == crr ]]; then
						awk -v re="$ZB_NF_SYMS" -v ops="$(cut -d' ' -f3 <<<"$out")" -v f=10000 '
							$4 ~ re && n++ < 12 {
								printf "%6.2f us  %s\n", $2 / f / ops * 1e6, $4 }' "$ZT_TMP/dp.txt" >"$R/top-$m-$c-$fam"
					fi
				done
			done
		done
	done
	rm -f "$ZT_TMP/dp.data" "$ZT_TMP/dp.txt"
fi
kill "${SRV_PIDS[@]}" 2>/dev/null || true
wait "${SRV_PIDS[@]}" 2>/dev/null || true

printf '| measure | IPv | (a′) /s | (s) /s | (o) /s | (n) /s | n/o | n/a′ | o/a′ | n/s | s/a′ |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for kind in rr crr; do
	for fam in 4 6; do
		a=$(zb_median "$R/$kind-ap-$fam") o=$(zb_median "$R/$kind-o-$fam") n=$(zb_median "$R/$kind-n-$fam")
		sf=$(zb_median "$R/$kind-s-$fam")
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
			"$([[ $kind == rr ]] && echo "request/response" || echo "new connections")" "$fam" \
			"$(zb_cell "$R/$kind-ap-$fam" 1 0)" "$(zb_cell "$R/$kind-s-$fam" 1 0)" "$(zb_cell "$R/$kind-o-$fam" 1 0)" \
			"$(zb_cell "$R/$kind-n-$fam" 1 0)" \
			"$(zb_ratio "$n" "$o")" "$(zb_ratio "$n" "$a")" "$(zb_ratio "$o" "$a")" "$(zb_ratio "$n" "$sf")" "$(zb_ratio "$sf" "$a")"
	done
done
if [[ -n $perf_ok ]]; then
	printf '\nperf, netfilter + conntrack + FIB µs per operation (median of %s interleaved rounds):\n\n' "$PERF_ROUNDS"
	printf '| operation | IPv | (a′) | (s) | (o) | (n) | (o) − (a′) | (n) − (a′) | (n) − (s) |\n'
	printf '|---|---|---|---|---|---|---|---|---|\n'
	for m in crr rr; do
		for fam in 4 6; do
			a=$(zb_median "$R/cost-$m-ap-$fam") o=$(zb_median "$R/cost-$m-o-$fam") n=$(zb_median "$R/cost-$m-n-$fam")
			sf=$(zb_median "$R/cost-$m-s-$fam")
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
				"$([[ $m == crr ]] && echo "new connection" || echo "request/response")" "$fam" "$a" "$sf" "$o" "$n" \
				"$(awk -v x="$o" -v y="$a" 'BEGIN { printf "%.2f", x - y }')" \
				"$(awk -v x="$n" -v y="$a" 'BEGIN { printf "%.2f", x - y }')" \
				"$(awk -v x="$n" -v y="$sf" 'BEGIN { printf "%.2f", x - y }')"
		done
	done
	# Where each side's netfilter time per new connection goes: the floors'
	# functions are what ztseg cannot do without (the spec floor's FIB
	# lookup and binding are what SPEC asks of every packet).
	for fam in 4 6; do
		for c in ap s n; do
			[[ -s $R/top-crr-$c-$fam ]] || continue
			printf '\n%s, per new connection (IPv%s, last round), the largest netfilter functions:\n\n```\n' \
				"${CFG_NAME[$c]}" "$fam"
			cat "$R/top-crr-$c-$fam"
			printf '```\n'
		done
	done
fi
