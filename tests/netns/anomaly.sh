#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Learned baselines (threats.anomaly) with real traffic: steady new
# connections with jitter train two flows' baselines (learn 12s, a sample a
# second); a 20x surge from one source on web-in (mitigate: rate-limit)
# opens an episode within 3 samples, the per-source limit drops most of the
# surge while the steady source passes, and the episode closes after the
# surge with the tier map emptied and the surge source connecting again;
# on db-in (ban-top-sources) the surge source is banned and dropped (not
# the steady source, whose closed connections outnumber its new ones), a
# daemon restart during the episode keeps the baseline and the ban
# (resumed), ztsegctl bans lists it (reason anomaly), explain --live names
# it and unban lifts it. A zone's series (SPEC's
# `to: app, sensitivity: 4, mitigate: rate-limit`): every hub flow into app
# (app-http, app-alt) counts in it; a surge split over both flows opens an
# episode within 3 samples, the per-source limit bites on both flows and
# only into app (the surge source still reaches web), explain --live names
# the limit, and it closes.
# ztsegctl anomalies, status, the journal; a hostile state file is set
# aside, not trusted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"

zt_init
zt_up
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
WEB=${ZT_V4[web1]} DB=${ZT_V4[db1]} APP=${ZT_V4[app1]} ON=${ZT_V4[onprem]} ON2=203.0.113.21
zt_x onprem ip addr add "$ON2/24" dev eth0
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
    - { name: app-http, from: [onprem], to: [app], ports: [tcp/80] }
    - { name: app-alt, from: [onprem], to: [app], ports: [tcp/8080] }
threats:
  anomaly:
    - { flow: web-in, sensitivity: 4, min-rate: 5/second, interval: 1s, learn: 12s, samples: 2, clear: 3, mitigate: rate-limit, limit: 2 }
    - { flow: db-in, sensitivity: 4, min-rate: 5/second, interval: 1s, learn: 12s, samples: 2, clear: 3, mitigate: ban-top-sources, top: 1, ban: 5m }
    - { to: app, sensitivity: 4, min-rate: 5/second, interval: 1s, learn: 12s, samples: 2, clear: 3, mitigate: rate-limit, limit: 2 }
segments:
  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/27, "2001:db8:0:1::/64"] }
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
  app: { interfaces: ["vapp*"], addresses: [198.51.100.128/27, "2001:db8:0:2::/64"] }
EOF
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the policy is invalid"
zt_serve web1 db1 app1

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
series() { ctl anomalies --json | js "[s for s in j['series'] if s['flow'] == '$1'][0]['$2']"; }
episode() { ctl anomalies --json | js "([e for e in j['episodes'] if e['flow'] == '$1' and e['open']] or [{}])[0].get('$2', '')"; }
is_open() { [[ $(episode "$1" open) == True ]]; }
is_closed() { [[ -z $(episode "$1" open) ]]; }
DPID= DLOG= DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	# shellcheck disable=SC2086 # ZT_DAEMON_WRAP: e.g. "valgrind -q --log-file=F", split into words
	zt_bg host "$DLOG" ${ZT_DAEMON_WRAP:-} "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--log-level info "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
}
daemon_stop() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=; }
LOADS=()
load() { # NAME SRC DST PORT RATE SECONDS: zt-load.py in onprem, per-second "T OK FAIL" in $ZT_TMP/NAME
	zt_bg onprem "$ZT_TMP/$1.err" env ZT_LOAD_GO="${ZT_LOAD_GO:-}" ZT_LOAD_FIN="${ZT_LOAD_FIN:-}" python3 "$ZT_ROOT/tests/netns/zt-load.py" "$2" "$3" "$4" "$5" 0.3 "$6" "$ZT_TMP/$1"
	LOADS+=("$ZT_BG_PID")
}
# ok_ratio FILE FROM-LINE: the share of connections that completed from that line on (percent)
ok_ratio() { awk -v f="$2" 'NR >= f { o += $2; n += $2 + $3 } END { print n ? int(100 * o / n) : -1 }' "$1"; }
lines() { wc -l <"$1"; }
tier_jumps() { local out; out=$(zt_nft list ruleset | sed -n '/map at_/,/}/p'); grep -q jump <<<"$out"; }
banned() { local out; out=$(zt_nft list ruleset | sed -n '/set ab4_/,/}/p'); grep -q "$1" <<<"$out"; }
no_tier_jumps() { ! tier_jumps; }
not_banned() { ! banned "$1"; }

# Steady traffic with jitter: 12 new connections a second on web-in and
# into app (6 a flow), 10 on db-in. It runs before the daemon starts, so
# that no sample of the learning sees an idle flow: web-in's and app's
# baselines land in 8..16/s, whose limit (2x) is the 16/s tier, well over
# the steady rate. db-in's connections end with FINs: conntrack keeps them
# 120 s in TIME_WAIT, more of them than the surge makes before its episode
# opens, and still the surge source is the top source (the new ones count).
load steady-web "$ON" "$WEB" 80 12 0
ZT_LOAD_FIN=1 load steady-db "$ON" "$DB" 5432 10 0
load steady-app1 "$ON" "$APP" 80 6 0
load steady-app2 "$ON" "$APP" 8080 6 0

# A hostile state file (garbage) is set aside with a journal record, not trusted.
mkdir -m 0700 "$ZT_TMP/state"
printf 'ztseg-anomaly 1\nb web-in all 99999999999999999999999 nan 1\n' >"$ZT_TMP/state/anomaly"
chmod 0600 "$ZT_TMP/state/anomaly"
daemon_start
zt_check "a garbage state file is not used (journal)" grep -q "anomaly baselines in .* are not usable" "$DLOG"
zt_check "ztsegctl anomalies lists both flows and the zone, learning" \
	test "$(ctl anomalies | grep -c learning)" = 3
zt_check "the zone's series has one entry per flow instance into app in anomz (2), none per member" \
	test "$(zt_nft list map inet ztseg anomz | grep -o 'jump an_' | wc -l)" = 2
zt_check "ztsegctl anomalies refuses arguments" bash -c "! '$ZT_CTL' --socket '$SOCK' anomalies bogus 2>/dev/null"
# raw REQUEST-JSON: one control frame sent, the reply's "ok" printed
raw() {
	python3 - "$SOCK" "$1" <<-'PY'
	import json, socket, struct, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	s.connect(sys.argv[1])
	b = sys.argv[2].encode()
	s.sendall(struct.pack(">I", len(b)) + b)
	d = b""
	while True:
	    c = s.recv(65536)
	    if not c:
	        break
	    d += c
	print(json.loads(d[4:])["ok"])
	PY
}
zt_check "a raw anomalies request with arguments is refused" \
	test "$(raw '{"version":1,"command":"anomalies","args":{"flow":"web-in"}}')" = False
zt_check "a raw anomalies request with a huge argument is refused" \
	test "$(raw "{\"version\":1,\"command\":\"anomalies\",\"args\":{\"x\":\"$(head -c 60000 /dev/zero | tr '\0' a)\"}}")" = False
zt_check "a plain raw anomalies request is answered" \
	test "$(raw '{"version":1,"command":"anomalies"}')" = True

zt_wait_for 40000 bash -c "[[ \$('$ZT_CTL' --socket '$SOCK' anomalies | grep -c normal) == 3 ]]" ||
	zt_die "the baselines did not finish learning: $(ctl anomalies)"
sleep 3
b=$(printf %.1f "$(series web-in mean)")
zt_check "web-in's baseline is about the steady rate ($b in 8..16/s)" \
	python3 -c "import sys; m = float('$b'); sys.exit(not 8 <= m < 16)"
zt_check "no episode from steady traffic" is_closed web-in
b=$(printf %.1f "$(series to:app mean)")
zt_check "the zone's baseline is both flows' sum ($b in 8..16/s)" \
	python3 -c "import sys; m = float('$b'); sys.exit(not 8 <= m < 16)"
zt_check "no zone episode from steady traffic" is_closed to:app
zt_check "the rate-limit tier map is empty before an episode" no_tier_jumps

# --- a 20x surge on web-in from ON2: an episode within 3 samples, the limit bites.
# The surge process is started armed, let go, and then the sample count is
# read: a sample taken while it is read holds a few milliseconds of the
# surge at most (not one over the threshold), whereas one taken between a
# count read first and the go would hold none and be counted against it.
ZT_LOAD_GO=$ZT_TMP/go-web load surge-web "$ON2" "$WEB" 80 200 10
zt_wait_for 20000 test -e "$ZT_TMP/surge-web.ready" || zt_die "the surge generator did not start"
touch "$ZT_TMP/go-web"
t0=$(series web-in taken)
zt_check "web-in: an episode opens" zt_wait_for 10000 is_open web-in
opened=$(episode web-in opened_sample)
zt_check "web-in: opened within 3 samples of the surge (taken $t0 -> $opened)" test $((opened - t0)) -le 3
zt_check "the journal has the episode with baseline, observed rate and the top source" \
	zt_wait_for 3000 grep -q "anomaly on flow web-in: .* new connections/s against a baseline of .*top sources: $ON2 (" "$DLOG"
zt_check "the action is a rate limit" grep -q "rate-limit: .* new connections/second per source" <<<"$(episode web-in action)"
mark=$(lines "$ZT_TMP/surge-web")
sleep 4
r=$(ok_ratio "$ZT_TMP/surge-web" $((mark + 1)))
zt_check "the rate limit bites: at most 30% of the surge's connections complete ($r%)" test "$r" -le 30 -a "$r" -ge 0
zt_check "anomaly_limited counted the drops" test "$(zt_counter anomaly_limited)" -gt 100
zt_check "status counts them as a drop reason (anomaly-limited)" test "$(ctl status --json |
	js "[r['packets'] for r in j['drops']['reasons'] if r['name'] == 'anomaly-limited'][0]")" -gt 100
m2=$(lines "$ZT_TMP/steady-web")
sleep 2
r=$(ok_ratio "$ZT_TMP/steady-web" $((m2 + 1)))
zt_check "the steady source under the limit still connects ($r% >= 90%)" test "$r" -ge 90
zt_check "status shows the open episode" bash -c "[[ \$('$ZT_CTL' --socket '$SOCK' status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"anomaly\"][\"open\"])') -ge 1 ]]"
zt_check "web-in: the episode closes after the surge" zt_wait_for 20000 is_closed web-in
zt_check "the end is in the journal" grep -q "anomaly on flow web-in ended (back under the threshold).*mitigation removed" "$DLOG"
zt_check "the tier map is empty again" no_tier_jumps
after=$(echo "1 tcp $ON2 $WEB 80" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')
zt_check "the surge source connects again" test "$after" = ok
zt_check "anomalies lists the closed episode with its action" \
	bash -c "'$ZT_CTL' --socket '$SOCK' anomalies | grep -q 'web-in .* no .*rate-limit'"

# --- a 20x surge into the zone app, split over its two flows (100/s each from ON2).
ZT_LOAD_GO=$ZT_TMP/go-app load surge-app1 "$ON2" "$APP" 80 100 10
ZT_LOAD_GO=$ZT_TMP/go-app load surge-app2 "$ON2" "$APP" 8080 100 10
zt_wait_for 20000 test -e "$ZT_TMP/surge-app1.ready" -a -e "$ZT_TMP/surge-app2.ready" ||
	zt_die "the surge generators did not start"
touch "$ZT_TMP/go-app"
t0=$(series to:app taken)
zt_check "zone app: an episode opens" zt_wait_for 10000 is_open to:app
opened=$(episode to:app opened_sample)
zt_check "zone app: opened within 3 samples of the surge (taken $t0 -> $opened)" test $((opened - t0)) -le 3
zt_check "the journal names the zone" \
	zt_wait_for 3000 grep -q "anomaly on zone app: .* new connections/s against a baseline of .*top sources: $ON2 (" "$DLOG"
zt_check "no flow episode from a surge into another zone" is_closed web-in
ma=$(lines "$ZT_TMP/surge-app1") mb=$(lines "$ZT_TMP/surge-app2")
sleep 5
# From the second line on: the generator writes a line per second, and the
# line being written when the episode was seen open may hold a part of a
# second before the limit was in.
r1=$(ok_ratio "$ZT_TMP/surge-app1" $((ma + 2))) r2=$(ok_ratio "$ZT_TMP/surge-app2" $((mb + 2)))
# One meter per source for the zone: the two flows share the source's 16/s
# (burst 16). Per second over the window, both flows together: completed
# at most 16 + 16/4 + slack, attempted well over that (load-independent).
read -r okps tryps < <(cat <(tail -n +$((ma + 2)) "$ZT_TMP/surge-app1") <(tail -n +$((mb + 2)) "$ZT_TMP/surge-app2") |
	awk -v n=$(($(lines "$ZT_TMP/surge-app1") - ma - 1)) '{ o += $2; t += $2 + $3 } END { if (n < 1) n = 1; print int(o / n), int(t / n) }')
zt_check "the zone's limit bites: ${okps}/s of ${tryps}/s into app complete (<= 24/s, tried >= 40/s)" \
	test "$okps" -le 24 -a "$tryps" -ge 40
zt_check "... on both flows (app-http $r1%, app-alt $r2% <= 50%)" \
	test "$r1" -le 50 -a "$r1" -ge 0 -a "$r2" -le 50 -a "$r2" -ge 0
live=$(ctl explain --live "$ON2" iface:vapp1,"$APP" tcp/8080 || true)
zt_check "explain --live names the zone's rate limit" \
	grep -q "^limited: anomaly rate limit on zone app: new connections over 16/second per source" <<<"$live"
zt_check "... as the last line, right after the explanation (no blank line)" \
	test "$(tail -n 2 <<<"$live" | head -n 1 | wc -c)" -gt 1 -a "$(tail -n 1 <<<"$live" | cut -c1-8)" = limited:
live=$(ctl explain --live "$ON2" iface:vweb1,"$WEB" tcp/80 || true)
zt_check "explain --live: no limit towards web" bash -c "! grep -q '^limited:' <<<'$live'"
zt_check "the limit is scoped to the zone: the surge source still reaches web" \
	test "$(echo "1 tcp $ON2 $WEB 80" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" = ok
m2=$(lines "$ZT_TMP/steady-app1")
sleep 2
r=$(ok_ratio "$ZT_TMP/steady-app1" $((m2 + 1)))
zt_check "the steady source into app still connects ($r% >= 90%)" test "$r" -ge 90
zt_check "zone app: the episode closes after the surge" zt_wait_for 20000 is_closed to:app
zt_check "the end is in the journal" grep -q "anomaly on zone app ended (back under the threshold).*mitigation removed" "$DLOG"
zt_check "the tier map is empty again" no_tier_jumps
zt_check "the surge source connects into app again" \
	test "$(echo "1 tcp $ON2 $APP 8080" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" = ok

# --- a surge on db-in: its top source banned; a restart during the episode.
load surge-db "$ON2" "$DB" 5432 100 0
SURGE_DB=$ZT_BG_PID
zt_check "db-in: an episode opens" zt_wait_for 10000 is_open db-in
zt_check "db-in: the top source is banned" zt_wait_for 3000 banned "$ON2"
zt_check "the action names the banned source" grep -q "ban-top-sources: $ON2" <<<"$(episode db-in action)"
zt_check "the steady source is not banned (its lingering connections do not count)" not_banned "$ON "
zt_check "the top sources name the surge source first" grep -q "^$ON2 (" <<<"$(episode db-in top_sources)"
zt_check "the banned source is dropped" test "$(echo "1 tcp $ON2 $DB 5432" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" != ok
zt_check "another source still connects to db" test "$(echo "1 tcp $ON $DB 5432" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" = ok
n_before=$(series db-in samples)
daemon_stop
zt_check "the state file holds the open episode" grep -q '^e db-in ' "$ZT_TMP/state/anomaly"
daemon_start
zt_check "after the restart the baseline is kept (samples $n_before)" test "$(series db-in samples)" -ge "$n_before"
zt_check "the episode is resumed" test "$(episode db-in resumed)" = True
zt_check "the journal says so" grep -q "anomaly on flow db-in: open before the restart, resumed" "$DLOG"
zt_check "the ban is in force after the restart" zt_wait_for 3000 banned "$ON2"
zt_check "the banned source is still dropped" test "$(echo "1 tcp $ON2 $DB 5432" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" != ok
zt_check "ztsegctl bans lists the anomaly ban" bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -qE '^$ON2 +flow db-in +anomaly '"
zt_check "bans --json marks it as an anomaly ban" \
	test "$(ctl bans --json | js "[b['anomaly'] for b in j['bans'] if b['source'] == '$ON2'][0]")" = True
live=$(ctl explain --live "$ON2" iface:vdb1,"$DB" tcp/5432 || true)
zt_check "explain --live: deny by the anomaly ban" grep -qz "^deny.*by: anomaly ban of $ON2 on flow db-in (ban-top-sources" <<<"$live"
zt_check "explain --live: another source is not banned" \
	bash -c "! '$ZT_CTL' --socket '$SOCK' explain --live '$ON' iface:vdb1,'$DB' tcp/5432 | grep -q 'anomaly ban'"
zt_check "unban lifts the anomaly ban" grep -q "^$ON2: 1 ban(s) lifted (1 of an anomaly episode)" <<<"$(ctl unban "$ON2")"
zt_check "the ban set no longer holds it" not_banned "$ON2"
zt_check "the unban is in the journal" grep -q "anomaly ban of $ON2 lifted (1) by uid 0" "$DLOG"
zt_check "the source connects again during the episode" \
	test "$(echo "1 tcp $ON2 $DB 5432" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" = ok
zt_check "bans no longer lists it" bash -c "! '$ZT_CTL' --socket '$SOCK' bans | grep -q '^$ON2 '"
zt_check "a second unban: not banned" bash -c "! '$ZT_CTL' --socket '$SOCK' unban '$ON2' 2>/dev/null"
zt_check "the episode is still open" is_open db-in
kill -TERM "$SURGE_DB" 2>/dev/null || true
zt_check "db-in: the episode closes after the surge" zt_wait_for 20000 is_closed db-in
zt_check "the ban is lifted at the end" not_banned "$ON2"
zt_check "the source connects again" test "$(echo "1 tcp $ON2 $DB 5432" | zt_x onprem "$ZT_PROBE" batch -w 700 | awk '{ print $2 }')" = ok
zt_check "web-in had no second episode (journal)" test "$(cat "$ZT_TMP"/daemon.*.log | grep -c 'anomaly on flow web-in: ')" = 1
zt_check "zone app had one episode (journal)" test "$(cat "$ZT_TMP"/daemon.*.log | grep -c 'anomaly on zone app: ')" = 1
kill -TERM "${LOADS[@]}" 2>/dev/null || true
daemon_stop
[[ -z ${ZT_ANOMALY_LOGS:-} ]] || cat "$ZT_TMP"/daemon.*.log >"$ZT_ANOMALY_LOGS"
zt_finish
