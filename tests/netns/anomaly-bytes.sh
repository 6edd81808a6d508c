#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# threats.anomaly series: bytes with real traffic: steady small transfers
# (about 20 KB/s with per-second jitter over one connection from onprem)
# train the flow bulk-in's bytes baseline (counted in the kernel by the one
# established rule, map abyt -> ay_<id>); a 20x byte surge from another
# source (a new connection per 100 ms, 40 KB each) opens an episode within
# 3 samples, ban-top-sources bans that source (top by connections: conntrack
# accounting is not read) and its connections stop, the steady source keeps
# sending; the episode then closes (the bans stopped the surge), the bans
# stay until the kernel's timeout (ban: 10s) lifts them, and the source
# connects again. A policy without series: bytes has no abyt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed"

zt_init
zt_up
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
DB=${ZT_V4[db1]} ON=${ZT_V4[onprem]} ON2=203.0.113.21
zt_x onprem ip addr add "$ON2/24" dev eth0
POL=$ZT_TMP/pol
zt_policy_write "$POL" <<-EOF
version: 1
hub:
  default: drop
  boundaries:
    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
  flows:
    - { name: bulk-in, from: [onprem], to: [db], ports: [tcp/9000] }
threats:
  anomaly:
    - { flow: bulk-in, series: bytes, sensitivity: 4, interval: 1s, learn: 12s, samples: 2, clear: 3, mitigate: ban-top-sources, top: 1, ban: 10s }
segments:
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
EOF
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the policy is invalid"
BY=$ZT_ROOT/tests/netns/zt-bytes.py
zt_bg db1 "$ZT_TMP/sink.err" python3 "$BY" sink 9000
SINK=$ZT_BG_PID

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
series() { ctl anomalies --json | js "[s for s in j['series'] if s['flow'] == '$1'][0]['$2']"; }
episode() { ctl anomalies --json | js "([e for e in j['episodes'] if e['flow'] == '$1' and e['open']] or [{}])[0].get('$2', '')"; }
is_open() { [[ $(episode "$1" open) == True ]]; }
is_closed() { [[ -z $(episode "$1" open) ]]; }
banned() { local out; out=$(zt_nft list ruleset | sed -n '/set ab4_/,/}/p'); grep -q "$1" <<<"$out"; }
not_banned() { ! banned "$1"; }
bytes_of() { zt_nft list counter inet ztseg "$1" 2>/dev/null | sed -nE 's/.*bytes ([0-9]+).*/\1/p' | head -1; }
lines() { wc -l <"$1"; }
# sum COLUMN FILE FROM-LINE: the column's sum from that line on
sum() { awk -v c="$1" -v f="$3" 'NR >= f { s += $c } END { print s + 0 }' "$2"; }
# probe SRC: does a TCP connection from SRC to the sink complete (ok) within 700 ms?
probe() {
	zt_x onprem python3 -c 'import socket, sys
s = socket.socket(); s.settimeout(0.7); s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], 9000)); print("ok")
except OSError:
    print("fail")' "$1" "$DB"
}

mkdir -m 0700 "$ZT_TMP/state"
zt_bg host "$ZT_TMP/daemon.log" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--log-level info "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$ZT_TMP/daemon.log" || { sed 's/^/#   /' "$ZT_TMP/daemon.log"; zt_die "ztsegd did not start"; }
DLOG=$ZT_TMP/daemon.log

RS=$(zt_nft list ruleset)
AY=$(grep -oE 'counter ay_[0-9a-f]{8}' <<<"$RS" | head -1 | cut -d' ' -f2)
zt_check "the bytes counter ay_<id> is in the table" test -n "$AY"
zt_check "map abyt sends the flow's mark to it" grep -qE "0x[0-9a-f]+ : \"$AY\"" <<<"$(zt_nft list map inet ztseg abyt)"
zt_check "one established rule counts into abyt (no verdict), right before the fcnt accept" \
	test "$(grep -c 'ct state established counter name ct mark map @abyt comment' <<<"$RS")" = 1 -a \
	"$(grep -A1 'map @abyt comment' <<<"$RS" | tail -1 | grep -c 'ct state established counter name ct mark map @fcnt accept')" = 1
zt_check "the series is named bytes:bulk-in, learning" bash -c "'$ZT_CTL' --socket '$SOCK' anomalies | grep -q 'bytes:bulk-in.*learning'"

# Steady small transfers over one connection: about 20 KB/s, +-30 % each second.
zt_bg onprem "$ZT_TMP/steady.err" python3 "$BY" send "$ON" "$DB" 9000 20000 one 0 "$ZT_TMP/steady"
STEADY=$ZT_BG_PID
zt_wait_for 40000 bash -c "'$ZT_CTL' --socket '$SOCK' anomalies | grep -q 'bytes:bulk-in.*normal'" ||
	zt_die "the baseline did not finish learning: $(ctl anomalies)"
sleep 2
zt_check "the kernel counted the steady bytes (ay: $(bytes_of "$AY") > 200000)" test "$(bytes_of "$AY")" -gt 200000
m=$(series bytes:bulk-in mean)
zt_check "the baseline is about the steady byte rate (12..35 KB/s: $m)" \
	python3 -c "import sys; sys.exit(not 12000 <= float('$m') <= 35000)"
zt_check "no episode from steady traffic" is_closed bytes:bulk-in
zt_check "no connections-series counter is sampled instead (ac_ packets stay small)" \
	test "$(zt_counter "$(grep -oE 'counter ac_[0-9a-f]{8}' <<<"$RS" | head -1 | cut -d' ' -f2)")" -lt 20

# A 20x byte surge from ON2: a new connection per 100 ms, 40 KB each (400 KB/s).
ZT_LOAD_GO=$ZT_TMP/go zt_bg onprem "$ZT_TMP/surge.err" env ZT_LOAD_GO="$ZT_TMP/go" \
	python3 "$BY" send "$ON2" "$DB" 9000 400000 conns 12 "$ZT_TMP/surge"
SURGE=$ZT_BG_PID
zt_wait_for 20000 test -e "$ZT_TMP/surge.ready" || zt_die "the surge generator did not start"
t0=$(series bytes:bulk-in taken)
touch "$ZT_TMP/go"
zt_check "an episode opens" zt_wait_for 10000 is_open bytes:bulk-in
opened=$(episode bytes:bulk-in opened_sample)
zt_check "opened within 3 samples of the surge (taken $t0 -> $opened)" test $((opened - t0)) -le 3
zt_check "the journal has it in bytes with the top source" \
	zt_wait_for 3000 grep -q "anomaly on flow bulk-in: .* bytes/s against a baseline of .*top sources: $ON2 (" "$DLOG"
zt_check "the top source is banned" zt_wait_for 3000 banned "$ON2"
zt_check "the steady source is not banned" not_banned "$ON "
# From a second after the ban was seen: what was in flight then is not counted.
sleep 1
ms=$(lines "$ZT_TMP/surge") mt=$(lines "$ZT_TMP/steady") b0=$(bytes_of "$AY")
sleep 3
b1=$(bytes_of "$AY")
sb=$(sum 2 "$ZT_TMP/surge" $((ms + 2))) sf=$(sum 3 "$ZT_TMP/surge" $((ms + 2)))
# The generator counts a slot as sent once its 40 KB are in the socket
# buffer: a connection made just before the ban may count one slot.
zt_check "the ban bites: the surge source gets at most one slot out ($sb bytes), then fails ($sf slots)" \
	test "$sb" -le 60000 -a "$sf" -ge 3
zt_check "the kernel's bytes series is back near the baseline: $((b1 - b0)) bytes in 3 s (< 200000; the surge alone 1.2 MB)" \
	test $((b1 - b0)) -lt 200000
zt_check "the banned source's connections are dropped" test "$(probe "$ON2")" != ok
st=$(sum 2 "$ZT_TMP/steady" $((mt + 1)))
zt_check "the steady source keeps sending ($st bytes in ~3 s)" test "$st" -gt 20000
zt_check "anomaly_banned counted the drops" test "$(zt_counter anomaly_banned)" -gt 0
kill -TERM "$SURGE" 2>/dev/null || true
zt_check "the episode closes after the surge" zt_wait_for 30000 is_closed bytes:bulk-in
zt_check "the end is in the journal, the bans kept" \
	grep -q "anomaly on flow bulk-in ended (back under the threshold).*the bans stay until their timeout (series: bytes)" "$DLOG"
zt_check "the ban outlives the episode (it ended the surge)" banned "$ON2"
# The daemon no longer holds the closed episode's bans: bans and unban read and lift them in the kernel.
zt_check "bans lists the kept ban (anomaly, closed episode, time left from the kernel)" \
	test "$(ctl bans --json | js "sum(1 for b in j['bans'] if b['source'] == '$ON2' and b['anomaly'] and 'closed' in b['limit'] and 0 < b['remaining_ms'] <= 10000)")" = 1
zt_check "bans names it in the text form" bash -c "'$ZT_CTL' --socket '$SOCK' bans | grep -q '$ON2'"
zt_check "unban lifts the kept ban" grep -q "^$ON2: 1 ban(s) lifted (1 of an anomaly episode)" <<<"$(ctl unban "$ON2")"
zt_check "... it is gone from the kernel at once" not_banned "$ON2"
zt_check "... and from bans" test "$(ctl bans --json | js "sum(1 for b in j['bans'] if b['source'] == '$ON2')")" = 0
zt_check "the source connects again" test "$(probe "$ON2")" = ok
zt_check "exactly one episode (journal)" test "$(grep -c 'anomaly on flow bulk-in: ' "$DLOG")" = 1
kill -TERM "$STEADY" "$SURGE" "$SINK" 2>/dev/null || true
kill -TERM "$DPID"; wait "$DPID" || true
[[ -z ${ZT_ANOMALY_LOGS:-} ]] || cat "$DLOG" >"$ZT_ANOMALY_LOGS"

# Without series: bytes the map and the rule are not there.
sed -i 's/series: bytes, //' "$POL/ztseg.yaml"
zt_apply "$POL" >/dev/null || zt_die "the connections policy did not apply"
RS=$(zt_nft list ruleset)
zt_check "series: connections: the entry is still there (anom)" grep -q 'map anom ' <<<"$RS"
zt_check "series: connections: no map abyt, no rule using it, no ay_ counter" \
	bash -c "! grep -qE 'abyt|counter ay_' <<<\"\$1\"" _ "$RS"
zt_finish
