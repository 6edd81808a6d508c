#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The connection log and metrics with real traffic (issue 22), the daemon in
# the harness's host namespace, flow-log: true on segment app only:
#   - N allowed probe connections web1 -> app1 tcp/8080 each get an open
#     record and, once conntrack destroys them, a close record with packets
#     and bytes both ways, in each of 3 concurrent `ztsegctl log -f --json`
#     readers; denied probes (tcp/25) get deny records; connections between
#     segments without flow-log get none; a filtered reader sees only what
#     it asked for;
#   - a fourth reader that never reads (its ztsegctl blocked on a full pipe,
#     --queue 16) does not stall the daemon (the other readers and status
#     keep being served) and, once it reads, is told how many records it
#     lost: what it got plus what it lost is what the others got;
#   - `ztsegctl log --since` reads the daemon's ring;
#   - `ztsegctl metrics` and GET /metrics through the metrics service run as
#     systemd runs it (systemd-socket-activate --inetd, Accept=yes, as
#     nobody) are accepted by the Prometheus client's parser, follow the
#     naming rules, and have non-zero counters after the traffic.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PYP=/usr/bin/python3
[[ -x $PYP ]] && $PYP -c 'import prometheus_client.parser' 2>/dev/null ||
	zt_skip "no python3-prometheus-client for /usr/bin/python3 (tests/deps.sh lists it)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"
command -v systemd-socket-activate >/dev/null || zt_skip "systemd-socket-activate (systemd) is not installed"
command -v curl >/dev/null || zt_skip "curl is not installed"
getent group nogroup >/dev/null || zt_skip "no group nogroup"

N=${ZT_FLOWLOG_N:-500}	# allowed connections: enough to overrun the stuck reader
NDENY=12		# denied ones: fewer than the log rule's burst (20)

zt_init
zt_up
zt_serve app1 db1

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
APP=${ZT_V4[app1]} DB=${ZT_V4[db1]}
POL=$ZT_TMP/pol
mkdir -p "$POL"
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  flows:
    - { name: web-app, from: web, to: app, ports: [tcp/8080] }
    - { name: web-db, from: web, to: db, ports: [tcp/5432] }
segments:
  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/26] }
  app: { interfaces: ["vapp*"], addresses: [198.51.100.128/26], flow-log: true }
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/26] }
EOF
chmod 0755 "$POL"
chmod 0644 "$POL/ztseg.yaml"
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the test policy is invalid"
# Closed connections leave TIME_WAIT entries for 120 s: one second here, so
# that their DESTROY (and the close record) comes within the test's time.
zt_x host sh -c 'echo 1 >/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait'
zt_x host sh -c 'echo 0 >/proc/sys/net/netfilter/nf_conntrack_acct'

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
wait_until() { local s=$1; shift; zt_wait_for $((s * 1000)) "$@"; }	# SECONDS COMMAND...
# count FILE CONDITION: JSON lines of FILE (not loss notices) for which the
# python expression CONDITION on the record r holds.
count() {
	python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "lost" not in r and eval(sys.argv[2]):
        n += 1
print(n)' "$1" "$2"
}
# distinct FILE: client ports of the close records of web-app.
distinct() {
	python3 -c '
import json, sys
print(len({json.loads(l)["sport"] for l in open(sys.argv[1]) if "\"close\"" in l and "web-app" in l}))' "$1"
}
probes() { # NODE DST PORT COUNT
	for ((i = 0; i < $4; i++)); do echo "$i tcp - $2 $3"; done |
		zt_x "$1" "$ZT_PROBE" batch -w 700 | awk '{ print $2 }' | sort | uniq -c
}

DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
wait_until 30 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
zt_check "flow-log: true turns on net.netfilter.nf_conntrack_acct in the daemon's namespace" \
	[ "$(zt_x host cat /proc/sys/net/netfilter/nf_conntrack_acct)" = 1 ]
zt_check "and the daemon says the connection log is on" grep -q 'connection log on' "$DLOG"

# ---- readers ----------------------------------------------------------------------
RPIDS=()
for k in 1 2 3; do
	zt_bg host "$ZT_TMP/r$k.json" "$ZT_CTL" --socket "$SOCK" log -f --json
	RPIDS+=("$ZT_BG_PID")
done
zt_bg host "$ZT_TMP/rdeny.json" "$ZT_CTL" --socket "$SOCK" log -f --json --verdict deny --zone app
RPIDS+=("$ZT_BG_PID")
# The reader that never reads: its ztsegctl writes into a pipe whose reader
# waits for SIGUSR1 before it reads anything.
STUCK_OUT=$ZT_TMP/stuck.json STUCK_ERR=$ZT_TMP/stuck.err
cat >"$ZT_TMP/stuck.py" <<'PY'
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
open(sys.argv[2], "w").write(str(os.getpid()))
signal.sigwait([signal.SIGUSR1])
out = open(sys.argv[1], "w")
for line in sys.stdin:
    out.write(line)
    out.flush()
PY
nsenter --net="/run/netns/$(zt_ns host)" -- bash -c \
	'"$1" --socket "$2" log -f --json --queue 16 2>"$3" | python3 "$4" "$5" "$6"' \
	_ "$ZT_CTL" "$SOCK" "$STUCK_ERR" "$ZT_TMP/stuck.py" "$STUCK_OUT" "$ZT_TMP/stuck.pid" &
STUCK_JOB=$!
readers() { ctl metrics | grep -qx 'ztseg_log_readers 5'; }
zt_check "five readers subscribed (three, a filtered one, the stuck one)" wait_until 10 readers

# ---- traffic -----------------------------------------------------------------------
t0=$(zt_now_ms)
res=$(probes web1 "$APP" 8080 "$N")
zt_check "the $N allowed probes connected" grep -qE "^ *$N ok$" <<<"$res"
res=$(probes web1 "$APP" 25 "$NDENY")
zt_check "the $NDENY denied probes were dropped" grep -qE "^ *$NDENY timeout$" <<<"$res"
res=$(probes web1 "$DB" 5432 20)
zt_check "20 probes to db (no flow-log on web or db) connected" grep -qE "^ *20 ok$" <<<"$res"
zt_check "status answers while a reader is stuck" quiet ctl status
zt_log "traffic took $(($(zt_now_ms) - t0)) ms; waiting for conntrack to destroy the connections"

opens() { count "$1" 'r["event"] == "open" and r["flow"] == "web-app" and r["dport"] == 8080 and r["from"] == "web" and r["to"] == "app"'; }
closes() { count "$1" 'r["event"] == "close" and r["flow"] == "web-app" and r["bytes_orig"] > 0 and r["bytes_reply"] > 0 and r["packets_orig"] >= 3 and r["packets_reply"] >= 2'; }
all_closed() { [ "$(closes "$ZT_TMP/r1.json")" -ge "$N" ] && [ "$(closes "$ZT_TMP/r2.json")" -ge "$N" ] && [ "$(closes "$ZT_TMP/r3.json")" -ge "$N" ]; }
t0=$(zt_now_ms)
wait_until 75 all_closed || true
zt_log "close records after $(($(zt_now_ms) - t0)) ms"
for k in 1 2 3; do
	f=$ZT_TMP/r$k.json
	zt_check "reader $k: $N open records (flow web-app, web -> app)" [ "$(opens "$f")" -eq "$N" ]
	zt_check "reader $k: $N close records with packets and bytes both ways" [ "$(closes "$f")" -eq "$N" ]
	zt_check "reader $k: $N distinct client ports" [ "$(distinct "$f")" -eq "$N" ]
	zt_check "reader $k: $NDENY deny records (web -> app, tcp/25, no flow)" \
		[ "$(count "$f" 'r["event"] == "deny" and r["verdict"] == "deny" and r["dport"] == 25 and r["flow"] is None and r["from"] == "web" and r["to"] == "app"')" -eq "$NDENY" ]
	zt_check "reader $k: no record of web -> db (no flow-log there)" [ "$(count "$f" 'r.get("dport") == 5432')" -eq 0 ]
done
zt_check "the three readers got the same records" bash -c "cmp -s '$ZT_TMP/r1.json' '$ZT_TMP/r2.json' && cmp -s '$ZT_TMP/r1.json' '$ZT_TMP/r3.json'"
zt_check "the filtered reader (--verdict deny --zone app) got only the $NDENY denies" \
	[ "$(count "$ZT_TMP/rdeny.json" 'r["verdict"] == "deny"')" -eq "$NDENY" -a "$(wc -l <"$ZT_TMP/rdeny.json")" -eq "$NDENY" ]
zt_check "every record has the documented keys" [ "$(count "$ZT_TMP/r1.json" 'set(r) >= {"time","seq","event","verdict","family","proto","src","dst","from","to","flow"}')" -eq "$(wc -l <"$ZT_TMP/r1.json")" ]

# ---- the stuck reader -------------------------------------------------------------
total=$(wc -l <"$ZT_TMP/r1.json")
kill -USR1 "$(cat "$ZT_TMP/stuck.pid")"
stuck_done() { grep -q '"lost"' "$STUCK_OUT" 2>/dev/null; }
wait_until 10 stuck_done || true
sleep 1
lost=$(python3 -c "import json, sys; print(sum(json.loads(l).get('lost', 0) for l in open(sys.argv[1])))" "$STUCK_OUT")
got=$(count "$STUCK_OUT" 'True')
zt_check "the stuck reader was told it lost records ($lost)" [ "$lost" -gt 0 ]
zt_check "what it got ($got) plus what it lost ($lost) is what the others got ($total)" [ $((got + lost)) -eq "$total" ]
zt_check "its ztsegctl said so on stderr" grep -q "records lost: this reader did not keep up" "$STUCK_ERR"
zt_check "metrics count the reader's losses" grep -qx "ztseg_log_reader_lost_total $lost" <<<"$(ctl metrics)"

# ---- --since and the ring ------------------------------------------------------------
ctl log --json --since 10m >"$ZT_TMP/since.json"
zt_check "log --since 10m (no -f) returns the ring's records: $N opens among them" [ "$(opens "$ZT_TMP/since.json")" -eq "$N" ]
ctl log --json --since "@$(($(date +%s) + 3600))" >"$ZT_TMP/future.json"
zt_check "log --since an hour ahead returns nothing" [ ! -s "$ZT_TMP/future.json" ]
ctl log --flow web-app --verdict allow >"$ZT_TMP/text.log"
zt_check "log (text) prints a line per record with flow and counters" \
	grep -qE "allow close tcp 198\.51\.100\.2 port [0-9]+ -> $APP port 8080 web -> app flow web-app packets [0-9]+/[0-9]+ bytes" "$ZT_TMP/text.log"
zt_check "log rejects a bad --since" ! ctl log --since yesterday
zt_check "log rejects a bad --verdict" ! ctl log --verdict maybe

# ---- metrics --------------------------------------------------------------------------
cat >"$ZT_TMP/check-metrics.py" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
n = int(sys.argv[2])
fams = {f.name: f for f in text_string_to_metric_families(text)}
# Strictness the lenient parser lacks: TYPE before samples, names and suffixes.
typed = {}
for line in text.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)$", line)
    if m:
        assert m.group(1) not in typed, "TYPE twice: " + line
        typed[m.group(1)] = m.group(2)
        continue
    if line.startswith("#") or not line:
        continue
    name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
    base = name if name in typed else re.sub(r"_(bucket|sum|count)$", "", name)
    assert base in typed, "sample without TYPE: " + line
    assert name.startswith("ztseg_"), line
    if typed[base] == "counter":
        assert name.endswith("_total"), "counter not _total: " + name
def val(metric, **labels):
    for fam in fams.values():
        for s in fam.samples:
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise SystemExit("no sample %s %s" % (metric, labels))
assert val("ztseg_flow_packets_total", flow="web-app", to="app") > 0
assert val("ztseg_flow_bytes_total", flow="web-app") > 0
assert val("ztseg_dropped_packets_total", reason="default") > 0
assert val("ztseg_log_connections_total", verdict="allow", flow="web-app", to="app", **{"from": "web"}) == n
assert val("ztseg_log_connections_total", verdict="deny", flow="default", to="app") > 0
assert val("ztseg_log_connection_bytes_total", verdict="allow", flow="web-app") > 0
assert val("ztseg_segment_interfaces", segment="app") == 1
assert val("ztseg_policy_generation") >= 1
assert val("ztseg_last_apply_success") == 1
assert val("ztseg_apply_duration_seconds_count") >= 1
assert val("ztseg_state", state="running") == 1
assert val("ztseg_conntrack_events_total") >= 2 * n
print("ok", len(fams), "families")
PY
check_metrics() { $PYP "$ZT_TMP/check-metrics.py" "$1" "$N" 2>&1 | tail -1; }
ctl metrics >"$ZT_TMP/metrics.txt"
out=$(check_metrics "$ZT_TMP/metrics.txt")
zt_check "ztsegctl metrics: the Prometheus parser accepts it, names follow the rules, counters are non-zero ($out)" grep -q '^ok' <<<"$out"

# GET /metrics as ztseg-metrics@.service serves it: one process per
# connection (Accept=yes, the connection on stdin and stdout), as nobody in
# group nogroup (the control socket's group here), reading one request.
PORT=9479
zt_bg host "$ZT_TMP/activate.log" setpriv --reuid=65534 --regid=65534 --clear-groups \
	systemd-socket-activate -l "127.0.0.1:$PORT" --inetd -a "$ZT_CTL" --socket "$SOCK" metrics --http
APID=$ZT_BG_PID
http() { zt_x host curl -s -o "$2" -w '%{http_code} %{content_type}' --max-time 5 "$3" "http://127.0.0.1:$PORT$1"; }
up() { zt_x host curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics"; }
wait_until 5 up || true
st=$(http /metrics "$ZT_TMP/http.txt" -sS || true)
zt_check "GET /metrics: 200 with Prometheus' content type ($st)" grep -q '^200 text/plain; version=0.0.4' <<<"$st"
out=$(check_metrics "$ZT_TMP/http.txt")
zt_check "GET /metrics: the parser accepts it, counters non-zero ($out)" grep -q '^ok' <<<"$out"
zt_check "GET /other: 404" grep -q '^404' <<<"$(http /other /dev/null -sS || true)"
zt_check "POST /metrics: 405" grep -q '^405' <<<"$(http /metrics /dev/null -XPOST || true)"
st=$(zt_x host timeout 5 python3 -c "import socket
s = socket.create_connection(('127.0.0.1', $PORT)); s.sendall(b'garbage\r\n\r\n'); print(s.recv(100).split()[1].decode())" || true)
zt_check "a malformed request: 400" [ "$st" = 400 ]
kill "$APID" 2>/dev/null || true

# ---- a user cannot take every reader's place ---------------------------------------------
NPIDS=()
for k in 1 2 3 4 5 6 7 8; do
	zt_bg host "$ZT_TMP/nobody-$k" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$ZT_CTL" --socket "$SOCK" log -f --json
	NPIDS+=("$ZT_BG_PID")
done
readers13() { grep -qx 'ztseg_log_readers 13' <<<"$(ctl metrics)"; }
zt_check "eight readers of one unprivileged user are served" wait_until 10 readers13
out=$(zt_x host setpriv --reuid=65534 --regid=65534 --clear-groups "$ZT_CTL" --socket "$SOCK" log 2>&1 || true)
zt_check "its ninth is refused, saying why ($out)" grep -q 'too many readers for uid 65534' <<<"$out"
zt_check "root still reads" quiet ctl log --since 1m
kill "${NPIDS[@]}" 2>/dev/null || true
wait "${NPIDS[@]}" 2>/dev/null || true
readers5() { grep -qx 'ztseg_log_readers 5' <<<"$(ctl metrics)"; }
zt_check "readers that go away are dropped at once" wait_until 5 readers5

# ---- the daemon kept serving; turning the log off --------------------------------------
zt_check "the daemon is alive and still serves" quiet ctl status
sed -i 's/, flow-log: true//' "$POL/ztseg.yaml"
ctl reload >/dev/null
acct_off() { [ "$(zt_x host cat /proc/sys/net/netfilter/nf_conntrack_acct)" = 0 ]; }
zt_check "flow-log off: accounting goes back off" wait_until 5 acct_off
probes web1 "$APP" 8080 5 >/dev/null
sleep 1
zt_check "flow-log off: new allowed connections are not logged" [ "$(count "$ZT_TMP/r1.json" 'r["event"] == "open"')" -eq "$N" ]

zt_check "the readers are still connected" grep -qx 'ztseg_log_readers 5' <<<"$(ctl metrics)"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
kill "${RPIDS[@]}" "$STUCK_JOB" 2>/dev/null || true
zt_check "the daemon stops cleanly with readers connected (exit $rc; sanitizer builds: no leak)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -30 "$DLOG" | sed 's/^/#   /'
zt_finish
