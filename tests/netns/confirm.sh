#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The administrator's lock-out, with real traffic in the harness's
# namespaces: the example policy lets onprem reach the host's tcp/22 (the
# "SSH session"); the lock-out policy keeps protect-host and only from:
# host flows. check warns about it; a reload from the SSH session that it
# would cut is refused, naming where the session comes from; reload
# --confirm 3 without confirm rolls back within the timeout (the rules as
# before, the session's port reachable again); with confirm it stays; a
# restart (SIGKILL, SIGTERM) in the window rolls back too, and a later start
# does not apply the rolled-back files by itself; status shows the trial.
# Who may confirm, and what confirm says when nothing is on trial.
# ZTSEG_BUILD=build-asan runs the sanitizer build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"

zt_init
zt_up
zt_serve host onprem

start_timeout=${ZT_DAEMON_START_TIMEOUT:-30}
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
STATE=$ZT_TMP/state
pol=$(zt_policy confirm)
good=$ZT_TMP/good.yaml
cp "$pol/ztseg.yaml" "$good"
# The lock-out: the same hub without the two flows that reach the host.
lockout=$ZT_TMP/lockout.yaml
sed -E '/- \{ name: (dns|admin-ssh), /d' "$good" >"$lockout"
grep -q 'to: host' "$lockout" && zt_die "the lock-out policy still has a flow to host"

ONPREM=$(zt_addr onprem 4)
HOST_ON_WG=${ZT_HV4[onprem]%/*}
SESSION="$ONPREM 40022 $HOST_ON_WG 22"

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { ctl status --json | python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
quiet() { "$@" >/dev/null 2>&1; }
wait_until() { # SECONDS COMMAND...
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.02
	done
}
# ssh_ok [TIMEOUT-MS]: a new connection from onprem to the host's tcp/22.
ssh_probe() { echo "1 tcp - $HOST_ON_WG 22" | zt_x onprem "$ZT_PROBE" batch -w "${1:-500}" | awk '{ print $2 }'; }
ssh_ok() { [ "$(ssh_probe "${1:-500}")" = ok ]; }
ssh_denied() { [ "$(ssh_probe "${1:-300}")" = timeout ]; }
# The table without counters, in a canonical order (a diff apply adds objects at the end).
rules() { zt_nft -s list table inet ztseg | zt_nft_canon; }
# rc_out RC PATTERN: the last command's exit status was RC and its output ($out) matches.
rc_out() { [ "$rc" -eq "$1" ] && grep -q -- "$2" <<<"$out"; }
stream_ok() { zt_x onprem "$ZT_PROBE" stream -i 20 -T 300 - "$HOST_ON_WG" 22 | grep -q '^echo '; }
use() { cp "$1" "$pol/ztseg.yaml"; chmod 0644 "$pol/ztseg.yaml"; }

DPID= DLOG= DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$STATE" --socket "$SOCK" \
		--socket-group nogroup --log-level info "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	wait_until "$start_timeout" sh -c "grep -q '^ztsegd: ready' '$DLOG' || ! kill -0 $DPID 2>/dev/null" || true
	grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not get ready"; }
}
daemon_stop() { # [SIGNAL]
	local rc=0
	kill -"${1:-TERM}" "$DPID"
	wait "$DPID" || rc=$?
	DPID=
	return $rc
}

# ---- check warns ----------------------------------------------------------------

use "$lockout"
out=$("$ZT_CTL" check --config "$pol" 2>&1) && rc=0 || rc=$?
zt_check "check: the lock-out policy passes with a warning (exit $rc)" \
	grep -q "warning: protect-host is on but no flow has to: host; nothing may reach this machine" <<<"$out"
use "$good"

# ---- the daemon with the good policy: the session's port is open -------------------

daemon_start
zt_check "good policy: onprem -> host tcp/22 passes" ssh_ok
rules >"$ZT_TMP/rules.good"
gen0=$(js 'j["policy"]["generation"]')

# ---- a reload that cuts the caller's session is refused -------------------------------

use "$lockout"
out=$(SSH_CONNECTION="$SESSION" ctl reload 2>&1) && rc=0 || rc=$?
zt_check "reload from the session it would cut: refused, exit 1 ($rc)" [ $rc -eq 1 ]
zt_check "...naming where the session comes from: $(grep -m1 'refused' <<<"$out" | cut -c1-160)" \
	grep -q "reload refused: the new policy would cut your SSH session from $ONPREM (onprem .*) to the host's tcp/22" <<<"$out"
zt_check "...and the rules did not change" cmp -s <(rules) "$ZT_TMP/rules.good"
zt_check "...the session's port still open" ssh_ok
# A session the new policy keeps is no reason to refuse; a garbled one is said so.
use "$good"
out=$(SSH_CONNECTION="$SESSION" ctl reload 2>&1) && rc=0 || rc=$?
zt_check "reload from a session the policy keeps: exit 0 ($rc)" [ $rc -eq 0 ]
out=$(SSH_CONNECTION="garbage here" ctl reload 2>&1) && rc=0 || rc=$?
zt_check "reload with a garbled SSH_CONNECTION: applied, with a warning ($rc)" \
	rc_out 0 "cannot tell where your session comes from"

# ---- --confirm 3 without confirm: rolled back in time ---------------------------------

use "$lockout"
zt_bg onprem "$ZT_TMP/stream.1" "$ZT_PROBE" stream -i 50 - "$HOST_ON_WG" 22
spid=$ZT_BG_PID
sleep 0.5
t_reload=$(zt_now_ms)
out=$(SSH_CONNECTION="$SESSION" ctl reload --confirm 3 2>&1) && rc=0 || rc=$?
zt_check "reload --confirm 3 from the session: applied on trial (exit $rc)" \
	rc_out 0 '^on trial: it rolls back at ' 
zt_check "...with a warning that it cuts the session" grep -q 'warning: the new policy cuts your SSH session' <<<"$out"
zt_check "trial: onprem -> host tcp/22 denied" ssh_denied
zt_check "status --json: the confirmation pending, with its deadline" \
	[ "$(js 'str(j["confirmation"]["seconds_left"] in (1, 2, 3)) + " " + str(j["confirmation"]["deadline"] is not None)')" = "True True" ]
zt_check "status: the trial line" grep -qE '^confirm: +generation [0-9]+ is on trial: it rolls back at .* unless ztsegctl confirm' <(ctl status)
zt_check "state: the trial recorded (pending-confirm, 0600)" [ "$(stat -c %a "$STATE/pending-confirm")" = 600 ]
out=$(ctl reload 2>&1) && rc=0 || rc=$?
zt_check "a reload during the trial is refused, saying why (exit $rc)" \
	rc_out 1 'is on trial and rolls back at' 
wait_until 6 ssh_ok 200 || true
t_back=$(($(zt_now_ms) - t_reload))
zt_check "no confirm: onprem -> host tcp/22 passes again, ${t_back} ms after the reload (3 s window)" \
	[ "$t_back" -ge 2900 -a "$t_back" -lt 4500 ]
echo "# rollback: the port reachable again $((t_back - 3000)) ms after the deadline (probes every 200 ms);" \
	"the daemon's own: $(grep -o 'objects changed in [0-9.]* ms' "$DLOG" | tail -1)"
rules >"$ZT_TMP/rules.back"
zt_check "rolled back: the rules are the ones before the trial" cmp -s "$ZT_TMP/rules.back" "$ZT_TMP/rules.good"
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" || true
zt_check "the session open before the trial was cut by it" grep -q '^echo ' "$ZT_TMP/stream.1"
zt_check "log: the rollback, with why" grep -q 'rolled back: generation [0-9]* was not confirmed (no ztsegctl confirm within 3 s)' "$DLOG"
zt_check "status: degraded, last error says rolled back, 1 rollback, no confirmation pending" \
	[ "$(js 'j["daemon"]["state"] + " " + str("rolled back" in j["policy"]["last_error"]) + " " + str(j["events"]["rollbacks"]) + " " + str(j["confirmation"])')" = "degraded True 1 None" ]
zt_check "state: the pending record gone, the rolled-back one there" [ ! -e "$STATE/pending-confirm" -a -e "$STATE/rolled-back" ]
zt_check "a new session after the rollback works (stream)" stream_ok

# ---- confirm: nothing pending, who may, and then it stays --------------------------------

out=$(ctl confirm 2>&1) && rc=0 || rc=$?
zt_check "confirm with nothing on trial: exit 1, says so ($out)" rc_out 1 'no reload awaits confirmation' 
out=$(ctl reload --confirm 3 2>&1) && rc=0 || rc=$?
zt_check "reload --confirm 3 (no SSH session): on trial (exit $rc)" [ $rc -eq 0 ]
nobody=(setpriv --reuid nobody --regid nogroup --clear-groups)
out=$("${nobody[@]}" "$ZT_CTL" --socket "$SOCK" confirm 2>&1) && rc=0 || rc=$?
zt_check "confirm from a user who may not change state: refused ($rc: $out)" \
	rc_out 1 "permission denied: 'confirm'"
out=$("${nobody[@]}" "$ZT_CTL" --socket "$SOCK" reload --confirm 5 2>&1) && rc=0 || rc=$?
zt_check "reload --confirm from that user: refused ($rc)" rc_out 1 "permission denied: 'reload'"
gen=$(js 'j["policy"]["generation"]')
out=$(ctl confirm 2>&1) && rc=0 || rc=$?
zt_check "confirm: exit $rc ($out)" rc_out 0 "^confirmed: generation $gen stays in force"
sleep 3.5
zt_check "confirmed: still the new policy after the deadline (tcp/22 denied, generation $gen)" \
	[ "$(ssh_probe 300)/$(js 'j["policy"]["generation"]')" = "timeout/$gen" ]
zt_check "confirmed: running, nothing pending, the last-known-good is the new policy" \
	[ "$(js 'j["daemon"]["state"] + " " + str(j["confirmation"])')/$(grep -c admin-ssh "$STATE/last-known-good" || true)" = "running None/0" ]
zt_check "confirmed: no trial records left" [ ! -e "$STATE/pending-confirm" -a ! -e "$STATE/rolled-back" ]
zt_check "log: confirmed with uid and pid" grep -q "generation $gen confirmed by uid 0, pid" "$DLOG"

# ---- usage ------------------------------------------------------------------------------

for bad in 0 3601 -1 1x ""; do
	rc=0
	ctl reload --confirm "$bad" >/dev/null 2>&1 || rc=$?
	zt_check "reload --confirm '$bad': usage error (exit $rc)" [ $rc -eq 2 ]
done
python3 - "$SOCK" >"$ZT_TMP/raw.out" 2>&1 <<-'EOF' || true
	import json, socket, struct, sys
	def call(req):
	    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	    s.settimeout(10)
	    s.connect(sys.argv[1])
	    b = json.dumps(req).encode()
	    s.sendall(struct.pack(">I", len(b)) + b)
	    data = b""
	    while True:
	        x = s.recv(65536)
	        if not x:
	            break
	        data += x
	    return json.loads(data[4:])
	for args in ({"confirm": "3"}, {"confirm": 0}, {"confirm": 99999}, {"force": 1}, {"session": 5},
	             {"session": "x" * 500}, {"colour": "blue"}):
	    r = call({"version": 1, "command": "reload", "args": args})
	    print("reload", json.dumps(args)[:40], r["ok"], r.get("errors"))
	r = call({"version": 1, "command": "confirm", "args": {"now": True}})
	print("confirm-args", r["ok"], r.get("errors"))
	EOF
zt_check "raw reload arguments of the wrong type or unknown: all refused ($(grep -c 'False' "$ZT_TMP/raw.out") of 8)" \
	[ "$(grep -c '^reload .* False ' "$ZT_TMP/raw.out")/$(grep -c '^confirm-args False' "$ZT_TMP/raw.out")" = "7/1" ]

# ---- a restart in the window rolls back ----------------------------------------------------

use "$good"
ctl reload >/dev/null
zt_check "good policy again: tcp/22 passes" ssh_ok
rules >"$ZT_TMP/rules.good"
use "$lockout"
ctl reload --force --confirm 30 >/dev/null 2>&1
zt_check "trial of 30 s: tcp/22 denied" ssh_denied
daemon_stop KILL || true
zt_check "SIGKILL in the window: the trial's rules stay meanwhile (fail closed)" ssh_denied
zt_check "SIGKILL in the window: the trial is on record" [ -e "$STATE/pending-confirm" ]
t0=$(zt_now_ms)
daemon_start
zt_check "restart after SIGKILL: rolled back at start (tcp/22 passes, $(($(zt_now_ms) - t0)) ms to ready)" ssh_ok
zt_check "restart: the rules are the ones before the trial" cmp -s <(rules) "$ZT_TMP/rules.good"
zt_check "restart: status says the trial was never confirmed" \
	[ "$(js 'j["daemon"]["state"] + " " + str("never confirmed" in j["policy"]["last_error"])')" = "degraded True" ]
zt_check "restart: the pending record gone" [ ! -e "$STATE/pending-confirm" ]
daemon_stop
daemon_start
zt_check "another start with the rolled-back files still on disk: not applied by itself (tcp/22 passes)" ssh_ok
zt_check "...and status says why" [ "$(js 'str("rolled back at" in j["policy"]["last_error"])')" = True ]
out=$(ctl reload 2>&1) && rc=0 || rc=$?
zt_check "an explicit reload applies them (exit $rc)" [ $rc -eq 0 ]
zt_check "...tcp/22 denied now" ssh_denied
zt_check "...and forgets the rolled-back record" [ ! -e "$STATE/rolled-back" ]

# SIGTERM in the window: the daemon rolls back before it exits.
use "$good"
ctl reload >/dev/null
use "$lockout"
ctl reload --confirm 30 >/dev/null 2>&1
zt_check "trial of 30 s again: tcp/22 denied" ssh_denied
daemon_stop TERM && rc=0 || rc=$?
zt_check "SIGTERM in the window: clean exit ($rc)" [ $rc -eq 0 ]
zt_check "SIGTERM in the window: rolled back before the exit (tcp/22 passes with no daemon)" ssh_ok
zt_check "SIGTERM: the log says so" grep -q 'rolled back: generation [0-9]* was not confirmed (ztsegd stopped on Terminated)' "$DLOG"
zt_check "no sanitizer reports" ! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ZT_TMP"/daemon.*.log

zt_finish
