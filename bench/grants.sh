#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Just-in-time grants at scale (issue 17): the time from a grant request to
# its ACK (1,000 requests, p50/p99, the daemon's socket), and the
# new-connection rate (zb-tool crr) with 10,000 live grants against none:
#   flow   - connections a flow allows, 0 grants vs 10,000 (they never reach
#            the grant maps: this is the cost grants add to everyone else);
#   grant  - connections a grant allows, 1 grant vs 10,000 (the per-packet
#            cost of the grant lookup itself: one hash lookup in jit6).
# IPv6, so that the 10,000 sources are all in the client's segment. Two
# client/host/server triples of bench/lib.sh (z: no grants or one, g: all of
# them), each with its own ztsegd, measured in alternating rounds so that the
# machine's noise hits both alike. Root. `make bench-grants`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
ZB_SECONDS=${ZB_SECONDS:-3}
ZB_RUNS=${ZB_RUNS:-5}
ZB_GRANTS=${ZB_GRANTS:-10000}
ZB_LAT=${ZB_LAT:-1000}

zb_init
zb_pair z
zb_pair g
# crr leaves ~10k conntrack entries a second in TIME_WAIT (120 s by default):
# later runs would measure a fuller table, not the grants. One second here.
for p in z g; do zt_x $p-host sh -c 'echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait'; done
CLI6=$(zb_cli_addr 6) SRV6=$(zb_srv_addr 6)
POL=$ZT_TMP/pol
mkdir -p "$POL"
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  flows:
    - { name: cli-srv, from: cli, to: srv, ports: [tcp/8081] }
segments:
  cli: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
  srv: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"] }
jit:
  - { name: bench, from: cli, to: srv, ports: [tcp/8080], max: 1h }
  - { name: lat, from: cli, to: srv, ports: [tcp/9000], max: 1h }
EOF
chmod 0755 "$POL"
chmod 0644 "$POL/ztseg.yaml"
# The same policy in both pairs; only g's daemon is asked for grants.
PIDS=()
for p in z g; do
	zt_bg $p-host "$ZT_TMP/daemon-$p.log" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state-$p" \
		--socket "$ZT_TMP/ztsegd-$p.sock" --log-level warning
	PIDS+=("$ZT_BG_PID")
	for port in 8080 8081; do
		zt_bg $p-srv "$ZT_TMP/serve-$p-$port.log" taskset -c 1 "$ZB_TOOL" serve $port
		PIDS+=("$ZT_BG_PID")
	done
done
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; zt_cleanup' EXIT
SOCK=$ZT_TMP/ztsegd-g.sock
for s in "$ZT_TMP/ztsegd-z.sock" "$SOCK"; do
	for _ in $(seq 100); do [[ -S $s ]] && break; sleep 0.1; done
	[[ -S $s ]] || zt_die "ztsegd did not start: $(cat "$ZT_TMP"/daemon-*.log)"
done
sleep 0.5

# grants N TEMPLATE FIRST: N grants of TEMPLATE for 2001:db8:0:1::FIRST+k, one
# connection each; prints each request's time to its ACK in microseconds.
grants() {
	python3 - "$SOCK" "$1" "$2" "$3" <<'EOF'
import ipaddress, json, socket, struct, sys, time
path, n, tmpl, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
base = ipaddress.IPv6Address("2001:db8:0:1::")
for k in range(n):
    src = str(base + first + k)
    body = json.dumps({"version": 1, "command": "grant",
                       "args": {"template": tmpl, "source": src, "reason": "bench", "for": 3600}}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    t0 = time.perf_counter_ns()
    s.sendall(struct.pack(">I", len(body)) + body)
    hdr = b""
    while len(hdr) < 4:
        hdr += s.recv(4 - len(hdr))
    m = struct.unpack(">I", hdr)[0]
    data = b""
    while len(data) < m:
        data += s.recv(m - len(data))
    t1 = time.perf_counter_ns()
    s.close()
    if not json.loads(data)["ok"]:
        sys.exit("grant refused: " + data.decode())
    print((t1 - t0) / 1000)
EOF
}
crr1() { # PAIR PORT: one rate
	sleep 1.5	# the last run's TIME_WAIT entries gone
	zt_x "$1-cli" taskset -c 0 "$ZB_TOOL" crr -t "$ZB_SECONDS" "$SRV6" "$2" | awk '{ print $2 }'
}
# rounds PORT-Z PORT-G OUT-Z OUT-G: ZB_RUNS rounds, the pairs alternating (the
# machine's noise hits both alike), who goes first rotating.
rounds() {
	for ((r = 0; r < ZB_RUNS; r++)); do
		if ((r % 2)); then
			crr1 g "$2" >>"$4"; crr1 z "$1" >>"$3"
		else
			crr1 z "$1" >>"$3"; crr1 g "$2" >>"$4"
		fi
	done
}

cli_k=$(python3 -c "import ipaddress; print(int(ipaddress.IPv6Address('$CLI6')) - int(ipaddress.IPv6Address('2001:db8:0:1::')))")
grants 1 bench "$cli_k" >/dev/null
zb_log "$ZB_GRANTS grants: $ZB_LAT timed, the rest as fast as they come"
grants "$ZB_LAT" lat 4096 >"$ZT_TMP/lat"
grants $((ZB_GRANTS - 1 - ZB_LAT)) bench $((4096 + ZB_LAT)) >/dev/null
n=$("$ZT_CTL" --socket "$SOCK" grants --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["grants"]))')
zb_log "live grants: $n; jit6 elements: $(zt_x g-host nft -j list map inet ztseg jit6 | python3 -c 'import json, sys; print(sum(len(o["map"].get("elem", [])) for o in json.load(sys.stdin)["nftables"] if "map" in o))')"
zb_log "flow crr: pair z (0 grants) and pair g ($n grants), $ZB_RUNS rounds"
rounds 8081 8081 "$ZT_TMP/flow-0" "$ZT_TMP/flow-n"
SOCK=$ZT_TMP/ztsegd-z.sock grants 1 bench "$cli_k" >/dev/null
zb_log "grant crr: pair z (1 grant) and pair g ($n grants), $ZB_RUNS rounds"
rounds 8080 8080 "$ZT_TMP/grant-1" "$ZT_TMP/grant-n"

pct() { sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; printf "%.0f", v[i] }'; }
f0=$(zb_median "$ZT_TMP/flow-0") fn=$(zb_median "$ZT_TMP/flow-n")
g1=$(zb_median "$ZT_TMP/grant-1") gn=$(zb_median "$ZT_TMP/grant-n")
cat <<EOF
| measure | value |
|---|---|
| grant request → ACK, p50 ($ZB_LAT requests, up to $((ZB_LAT + 1)) live) | $(pct "$ZT_TMP/lat" 50) µs |
| grant request → ACK, p99 | $(pct "$ZT_TMP/lat" 99) µs |
| grant request → ACK, max | $(pct "$ZT_TMP/lat" 100) µs |
| crr via a flow, 0 grants (conn/s, median of $ZB_RUNS × ${ZB_SECONDS} s) | $(zb_fmt "$f0" 1 0) |
| crr via a flow, $n grants | $(zb_fmt "$fn" 1 0) (× $(zb_ratio "$fn" "$f0")) |
| crr via a grant, 1 grant | $(zb_fmt "$g1" 1 0) |
| crr via a grant, $n grants | $(zb_fmt "$gn" 1 0) (× $(zb_ratio "$gn" "$g1")) |
EOF
awk -v a="$fn" -v b="$f0" -v c="$gn" -v d="$g1" -v p="$(pct "$ZT_TMP/lat" 99)" 'BEGIN {
	ok = a / b >= 0.95 && c / d >= 0.95 && p < 5000
	print ok ? "PASS: ratios >= 0.95 and p99 < 5 ms" : "FAIL: a ratio < 0.95 or p99 >= 5 ms"
	exit !ok }'
