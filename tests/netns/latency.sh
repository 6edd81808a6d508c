#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Event-to-enforcement latency of ztsegd (not part of make check; prints
# numbers). In the harness's host namespace, ZT_LATENCY_EVENTS (1,000)
# events of each kind, one at a time:
#   move      a workload's /32 route switches between a vweb* and a vapp*
#             interface; the daemon deletes its conntrack entries;
#   enc       a link named like hub.encrypted-interfaces, of a trusted kind,
#             comes or goes; the daemon adds it to enc_if or removes it.
# For these the daemon's own measure: from the moment the rtnetlink event
# woke it to the kernel's acknowledgement of what it did. End to end,
# measured from outside:
#   workload  a new workload's veth and /32 route appear; the time until its
#             first allowed connection (web-to-app) completes — the rules
#             need no daemon action for this;
#   wg-link   the encrypted interface wg-onprem (re)appears with its
#             address; the time until the first connection of the encrypted
#             flow onprem-reporting completes — this one waits for enc_if.
# It takes about three minutes: make check-netns skips it unless asked,
#     bash tests/netns/latency.sh run        (or ZT_LATENCY_EVENTS=N)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ ${1:-} == run || -n ${ZT_LATENCY_EVENTS:-} ]] ||
	zt_skip "a measurement, not a test: bash tests/netns/latency.sh run"

command -v python3 >/dev/null || zt_skip "python3 is not installed"
events=${ZT_LATENCY_EVENTS:-1000}

zt_init
zt_up
zt_serve app1 db2

pol=$(zt_policy lat)
log=$ZT_TMP/daemon.log
zt_bg host "$log" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$ZT_TMP/sock" \
	--log-level debug "${ZT_APPLY_ARGS[@]}"
dpid=$ZT_BG_PID
for ((i = 0; i < 500; i++)); do
	grep -q '^ztsegd: ready' "$log" && break
	sleep 0.02
done
grep -q '^ztsegd: ready' "$log" || zt_die "ztsegd did not start: $(cat "$log")"

h=$(zt_ns host)
# The move rig: mv1 behind vweb8 and vapp8, its address on its loopback.
zt_ns_add mv1
w=$(zt_ns mv1)
ip -n "$h" link add vweb8 type veth peer name eth0 netns "$w"
ip -n "$h" link add vapp8 type veth peer name eth1 netns "$w"
ip -n "$w" addr add 198.51.100.5/32 dev lo
ip -n "$w" link set eth0 up
ip -n "$w" link set eth1 up
ip -n "$h" link set vweb8 up
ip -n "$h" link set vapp8 up
ip -n "$h" route add 198.51.100.5/32 dev vweb8
# The new-workload rig: a namespace whose veth comes and goes.
zt_ns_add lat1
sleep 0.5

cat >"$ZT_TMP/lat.py" <<'EOF'
import os, socket, subprocess, sys, time

def ip(*args):
    subprocess.run(["ip", *args], check=True)

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def report(name, v, unit="us"):
    print("%-9s n=%d p50=%.0f %s p99=%.0f %s max=%.0f %s" %
          (name, len(v), pct(v, 50), unit, pct(v, 99), unit, max(v), unit), flush=True)

def daemon_latencies(log, host, n):
    """Drive n events of each kind; the daemon's own event-to-ACK times."""
    f = open(log)
    f.seek(0, 2)

    def wait_line():
        deadline = time.monotonic() + 5
        buf = ""
        while time.monotonic() < deadline:
            line = f.readline()
            if not line:
                time.sleep(0.0002)
                continue
            if "event to enforcement:" in line:
                return int(line.split("event to enforcement:")[1].split()[0])
        raise SystemExit("no latency line from the daemon")

    moves = []
    for i in range(n):
        dev = "vapp8" if i % 2 == 0 else "vweb8"
        ip("-n", host, "route", "replace", "198.51.100.5/32", "dev", dev)
        moves.append(wait_line())
    report("move", moves)
    enc = []
    for i in range(n):
        if i % 2 == 0:
            ip("-n", host, "link", "add", "wg-lat0", "type", "veth", "peer", "name", "xlat0")
        else:
            ip("-n", host, "link", "del", "wg-lat0")
        enc.append(wait_line())
    report("enc", enc)

def connect_until(addr, port, limit=2.0):
    """Connect attempts without pause until one completes; its time (s)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.002)
        try:
            s.connect((addr, port))
            s.close()
            return time.monotonic()
        except (socket.timeout, OSError):
            s.close()
    raise SystemExit("no connection to %s:%d within %.0f s" % (addr, port, limit))

def e2e_workload(host, me, n):
    """In lat1's namespace: veth and route appear, then the first web-to-app connection."""
    v = []
    for i in range(n):
        ip("-n", host, "link", "add", "vweb7", "type", "veth", "peer", "name", "eth0", "netns", me)
        ip("addr", "add", "198.51.100.7/32", "dev", "eth0")
        ip("link", "set", "eth0", "up")
        ip("route", "add", "192.0.2.254/32", "dev", "eth0")
        ip("route", "add", "default", "via", "192.0.2.254", "dev", "eth0")
        ip("-n", host, "addr", "add", "192.0.2.254/32", "dev", "vweb7")
        ip("-n", host, "link", "set", "vweb7", "up")
        ip("-n", host, "route", "add", "198.51.100.7/32", "dev", "vweb7")
        t0 = time.monotonic()
        t1 = connect_until("198.51.100.130", 8080)
        v.append((t1 - t0) * 1e6)
        ip("-n", host, "link", "del", "vweb7")
    report("workload", v)

def e2e_wg(host, me, n):
    """In onprem's namespace: wg-onprem reappears, then the first encrypted-flow connection."""
    v = []
    for i in range(n):
        ip("-n", host, "link", "del", "wg-onprem")
        ip("-n", host, "link", "add", "wg-onprem", "type", "veth", "peer", "name", "eth0", "netns", me)
        ip("addr", "add", "203.0.113.10/24", "dev", "eth0")
        ip("link", "set", "eth0", "up")
        ip("route", "add", "default", "via", "203.0.113.1", "dev", "eth0")
        ip("-n", host, "link", "set", "wg-onprem", "up")
        ip("-n", host, "addr", "add", "203.0.113.1/24", "dev", "wg-onprem")
        t0 = time.monotonic()
        t1 = connect_until("198.51.100.74", 5432)
        v.append((t1 - t0) * 1e6)
    report("wg-link", v)

what = sys.argv[1]
if what == "daemon":
    daemon_latencies(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif what == "workload":
    e2e_workload(sys.argv[2], sys.argv[3], int(sys.argv[4]))
else:
    e2e_wg(sys.argv[2], sys.argv[3], int(sys.argv[4]))
EOF

echo "# $events events of each kind; daemon: rtnetlink event to batch ACK; e2e: appear to first allowed connection"
python3 "$ZT_TMP/lat.py" daemon "$log" "$h" "$events"
zt_x lat1 python3 "$ZT_TMP/lat.py" workload "$h" "$(zt_ns lat1)" "$events"
zt_x onprem python3 "$ZT_TMP/lat.py" wg "$h" "$(zt_ns onprem)" "$events"
kill -TERM "$dpid"
wait "$dpid" || zt_die "ztsegd exited with $?"
