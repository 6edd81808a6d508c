#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unit zones at scale (issue 20): the new-connection rate (zb-tool crr) to a
# local service over 127.0.0.1, and how fast a restarted unit is enforced.
#   host  - two host processes (in cgroups no unit segment lists), with no
#           unit zones (policy z) against 1,000 unit zones (policy u): the
#           cost unit zones add to the host's own loopback traffic;
#   unit  - a unit to another unit (a flow allows it), with 2 unit zones
#           (policy u2) against 1,000 (policy u): the cost of the lookups
#           themselves, which must not grow with the number of units;
#   restart - rmdir + mkdir of a listed unit's cgroup, a process moved in at
#           once, connecting (a new socket each try) until the connection is
#           allowed: from mkdir to the first allowed connection, p50/p99.
# Three host namespaces, each with its own ztsegd, measured side by side in
# interleaved rounds (A B, then B A, ...) so that the machine's noise hits
# both sides alike; each round gives a paired ratio, and the table reports
# the median of the paired ratios with its spread (quartiles, min-max) and
# how many rounds were at or above 0.95. ZB_RUNS rounds (default 15) of
# ZB_SECONDS each (default 3): about 4 minutes. On a shared machine the
# spread says how much the result can be trusted. Root, cgroup2.
# `make bench-units`; bench/run.sh runs it as section 9.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
ZB_SECONDS=${ZB_SECONDS:-3}
ZB_RUNS=${ZB_RUNS:-15}
ZB_UNITS=${ZB_UNITS:-1000}
ZB_RESTARTS=${ZB_RESTARTS:-300}

CG=
if [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
	CG=/sys/fs/cgroup
elif [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
	CG=/sys/fs/cgroup/unified
fi
[[ -n $CG ]] || zt_skip "no cgroup2 hierarchy is mounted"

zb_init
SYS=$CG/system.slice
P=zb-$$
MADE_SYS=
[[ -d $SYS ]] || { mkdir "$SYS"; MADE_SYS=1; }
CGS=()
mkcg() { mkdir "$SYS/$1"; CGS+=("$SYS/$1"); }
rmcg() {
	local d=$1 pid
	[[ -d $d ]] || return 0
	while read -r pid; do [[ -z $pid ]] || echo "$pid" >"$CG/cgroup.procs" 2>/dev/null || true; done <"$d/cgroup.procs"
	rmdir "$d" 2>/dev/null || true
}
PIDS=()
cleanup() {
	local c
	kill "${PIDS[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	for c in "${CGS[@]}"; do rmcg "$c"; done
	rmcg "$SYS/$P-rs.service"
	[[ -z $MADE_SYS ]] || rmdir "$SYS" 2>/dev/null || true
	zt_cleanup
}
trap cleanup EXIT

for n in cli srv hcli hsrv; do mkcg "$P-$n.service"; done
for ((i = 0; i < ZB_UNITS; i++)); do mkcg "$(printf '%s-u%04d.service' "$P" "$i")"; done
mkcg "$P-rs.service"

policy() { # DIR UNITS
	mkdir -p "$1"
	{
		cat <<-EOF
		version: 1
		hub:
		  default: reject
		  protect-host: true
		  flows:
		    - { name: cli-srv, from: cli, to: srv, ports: [tcp/8081] }
		    - { name: rs-srv, from: rs, to: srv, ports: [tcp/8081] }
		segments:
		  dummy: { interfaces: ["vweb*"] }
		  cli: { units: [$P-cli.service] }
		  srv: { units: [$P-srv.service] }
		  rs: { units: [$P-rs.service] }
		EOF
		for ((i = 0; i < $2; i++)); do printf '  u%04d: { units: [%s-u%04d.service] }\n' "$i" "$P" "$i"; done
	} >"$1/ztseg.yaml"
	if [[ $2 -lt 0 ]]; then
		printf 'version: 1\nhub:\n  default: reject\n  protect-host: true\nsegments:\n  dummy: { interfaces: ["vweb*"] }\n' \
			>"$1/ztseg.yaml"
	fi
	chmod 0755 "$1"
	chmod 0644 "$1/ztseg.yaml"
	"$ZT_CTL" check --config "$1" >/dev/null 2>&1 || zt_die "policy $1 is invalid"
}
policy "$ZT_TMP/pol-z" -1
policy "$ZT_TMP/pol-u" "$ZB_UNITS"
policy "$ZT_TMP/pol-u2" 0

in_cg() { # NS CGROUP CMD...
	local ns=$1 cg=$2
	shift 2
	nsenter --net="$(zb_nspath "$ns")" -- sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
for p in z u u2; do
	zt_ns_add "$p"
	zt_x "$p" sh -c '
		echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait 2>/dev/null || true
		echo "1024 65535" >/proc/sys/net/ipv4/ip_local_port_range
		echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse'
	zt_bg "$p" "$ZT_TMP/daemon-$p.log" "$ZT_D" --config "$ZT_TMP/pol-$p" --state-dir "$ZT_TMP/state-$p" \
		--socket "$ZT_TMP/ztsegd-$p.sock" --log-level warning
	PIDS+=("$ZT_BG_PID")
	nsenter --net="$(zb_nspath "$p")" -- sh -c 'echo $$ >"$0/cgroup.procs" && exec taskset -c 1 "$@"' \
		"$SYS/$P-srv.service" "$ZB_TOOL" serve 8081 >/dev/null 2>&1 &
	PIDS+=($!)
	nsenter --net="$(zb_nspath "$p")" -- sh -c 'echo $$ >"$0/cgroup.procs" && exec taskset -c 1 "$@"' \
		"$SYS/$P-hsrv.service" "$ZB_TOOL" serve 8082 >/dev/null 2>&1 &
	PIDS+=($!)
done
for p in z u u2; do
	for _ in $(seq 600); do [[ -S $ZT_TMP/ztsegd-$p.sock ]] && break; sleep 0.1; done
	[[ -S $ZT_TMP/ztsegd-$p.sock ]] || { cat "$ZT_TMP/daemon-$p.log" >&2; zt_die "ztsegd ($p) did not start"; }
done
n=$("$ZT_CTL" --socket "$ZT_TMP/ztsegd-u.sock" status --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["unit_zones"]["units"]))')
zb_log "policy u: $n running units in unit zones ($((ZB_UNITS + 3)) unit zones)"

crr1() { # NS CGROUP PORT: one rate
	sleep 1.5
	in_cg "$1" "$SYS/$2" taskset -c 0 "$ZB_TOOL" crr -t "$ZB_SECONDS" 127.0.0.1 "$3" | tee -a "$ZT_TMP/crr-$1.log" | awk '{ print $2 }'
}
rounds() { # NS-A NS-B CGROUP PORT OUT-A OUT-B: one sample of each side per round, paired in OUT-B.pairs
	local a b
	for ((r = 0; r < ZB_RUNS; r++)); do
		if ((r % 2)); then
			b=$(crr1 "$2" "$3" "$4"); a=$(crr1 "$1" "$3" "$4")
		else
			a=$(crr1 "$1" "$3" "$4"); b=$(crr1 "$2" "$3" "$4")
		fi
		echo "$a" >>"$5"
		echo "$b" >>"$6"
		echo "$a $b" >>"$6.pairs"
	done
}
# paired PAIRS-FILE: "median q1 q3 min max n at-or-above-0.95" of the per-round ratios B/A.
paired() {
	awk '$1 > 0 { print $2 / $1 }' "$1" | sort -g | awk '
		{ v[NR] = $1; if ($1 >= 0.95) ok++ }
		function q(p,  i) { i = int((NR - 1) * p + 1.5); return v[i < 1 ? 1 : i > NR ? NR : i] }
		END { if (!NR) { print "- - - - - 0 0"; exit }
		      printf "%.3f %.3f %.3f %.3f %.3f %d %d\n", q(0.5), q(0.25), q(0.75), v[1], v[NR], NR, ok }'
}
zb_log "host crr: no unit zones (z) against $ZB_UNITS (u), $ZB_RUNS rounds"
rounds z u "$P-hcli.service" 8082 "$ZT_TMP/host-0" "$ZT_TMP/host-n"
zb_log "unit crr: 2 unit zones (u2) against $ZB_UNITS (u), $ZB_RUNS rounds"
rounds u2 u "$P-cli.service" 8081 "$ZT_TMP/unit-2" "$ZT_TMP/unit-n"

for p in z u u2; do zb_log "crr $p: $(awk '{ e += $4; n++ } END { print n " runs, " e " errors" }' "$ZT_TMP/crr-$p.log")"; done
zb_log "restart: $ZB_RESTARTS restarts of $P-rs.service, each connecting until allowed"
nsenter --net="$(zb_nspath u)" -- python3 - "$CG" "$SYS/$P-rs.service" "$ZB_RESTARTS" >"$ZT_TMP/restart" <<'EOF'
import os, socket, sys, time
root, cg, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
me = str(os.getpid())
for _ in range(n):
    with open(os.path.join(root, "cgroup.procs"), "w") as f:
        f.write(me)
    os.rmdir(cg)
    t0 = time.monotonic_ns()
    os.mkdir(cg)
    with open(os.path.join(cg, "cgroup.procs"), "w") as f:
        f.write(me)
    tries = 0
    while True:
        tries += 1
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", 8081))
            ok = True
        except OSError:
            ok = False
        s.close()
        if ok:
            break
        if time.monotonic_ns() - t0 > 5e9:
            sys.exit("not enforced within 5 s")
    print((time.monotonic_ns() - t0) // 1000, tries)
with open(os.path.join(root, "cgroup.procs"), "w") as f:
    f.write(me)
EOF

pct() { cut -d' ' -f1 "$1" | sort -g | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; printf "%.0f", v[i] }'; }
h0=$(zb_median "$ZT_TMP/host-0") hn=$(zb_median "$ZT_TMP/host-n")
u2=$(zb_median "$ZT_TMP/unit-2") un=$(zb_median "$ZT_TMP/unit-n")
read -r hm hq1 hq3 hmin hmax hn_r hok < <(paired "$ZT_TMP/host-n.pairs")
read -r um uq1 uq3 umin umax un_r uok < <(paired "$ZT_TMP/unit-n.pairs")
dlat=$("$ZT_CTL" --socket "$ZT_TMP/ztsegd-u.sock" status --json |
	python3 -c 'import json, sys; u = json.load(sys.stdin)["unit_zones"]; print(u["max_usec"], u["events"])')
cat <<EOF
| measure | value |
|---|---|
| host → host over 127.0.0.1, no unit zones: crr median of $ZB_RUNS | $h0 /s |
| host → host over 127.0.0.1, $ZB_UNITS unit zones: crr median of $ZB_RUNS | $hn /s |
| ratio ($ZB_UNITS unit zones / none), median of $hn_r paired rounds | $hm (quartiles $hq1–$hq3, min–max $hmin–$hmax; $hok of $hn_r rounds ≥ 0.95) |
| ratio of the medians | $(zb_ratio "$hn" "$h0") |
| unit → unit over 127.0.0.1 (a flow), 2 unit zones | $u2 /s |
| unit → unit over 127.0.0.1 (a flow), $ZB_UNITS unit zones | $un /s |
| ratio ($ZB_UNITS / 2), median of $un_r paired rounds | $um (quartiles $uq1–$uq3, min–max $umin–$umax; $uok of $un_r rounds ≥ 0.95) |
| daemon: cgroup event → kernel ACK, max over the restarts ($ZB_UNITS unit zones) | ${dlat% *} µs (${dlat#* } events) |
| restart (mkdir) → first allowed connection, p50 ($ZB_RESTARTS restarts) | $(pct "$ZT_TMP/restart" 50) µs |
| restart → first allowed connection, p99 | $(pct "$ZT_TMP/restart" 99) µs |
| restart → first allowed connection, max | $(pct "$ZT_TMP/restart" 100) µs |
EOF
