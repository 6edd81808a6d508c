#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Just-in-time grants with real traffic, the daemon in the harness's host
# namespace: denied before a grant, allowed after it; a source outside
# from, a port outside ports and a second address stay denied; expiry cuts
# new and open connections within 1 s (also with the daemon stopped);
# revoke does it at once; a restart keeps a grant and never extends it; a
# reload that deletes the template revokes it; a source that moves out of
# from loses it; requesters, max and malformed requests are refused, and
# refusals are logged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"
getent group nogroup >/dev/null || zt_skip "no group nogroup to request with"

zt_init
zt_up
zt_serve db1 internet onprem other

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
PORT=8443 OTHERPORT=3306 STAND=5432
DB=${ZT_V4[db1]} DB6=${ZT_V6[db1]}
SRC=${ZT_V4[onprem]} SRC2=203.0.113.11
zt_x onprem ip addr add "$SRC2/24" dev eth0

# policy DIR [with-templates]: two segments, two boundaries, one standing flow into db (tcp/$STAND).
policy() {
	mkdir -p "$1"
	cat >"$1/ztseg.yaml" <<-EOF
	version: 1
	hub:
	  default: drop
	  boundaries:
	    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
	    internet: { interfaces: ["uplink0"], addresses: [0.0.0.0/0, "::/0"] }
	  flows:
	    - { name: standing, from: onprem, to: db, ports: [tcp/$STAND] }
	segments:
	  db:
	    interfaces: ["vdb*"]
	    addresses: [198.51.100.64/27, "2001:db8:0:3::/64"]
	EOF
	if [[ ${2:-} == with ]]; then
		cat >>"$1/ztseg.yaml" <<-EOF
		jit:
		  - { name: short, from: onprem, to: db, ports: [tcp/$PORT], max: 3s, requesters: [nogroup] }
		  - { name: admin, from: onprem, to: db, ports: [tcp/$PORT, tcp/$STAND], max: 1h, default: 20s, requesters: [nogroup] }
		  - { name: closed, from: onprem, to: db, ports: [tcp/$PORT], max: 1h, requesters: [daemon] }
		EOF
	fi
	chmod 0755 "$1"
	chmod 0644 "$1/ztseg.yaml"
	"$ZT_CTL" check --config "$1" >/dev/null || zt_die "policy $1 is invalid"
}
POL=$ZT_TMP/pol
policy "$POL" with

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
# as nobody:nogroup, a requester of short and admin but not of closed.
ctl_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$ZT_CTL" --socket "$SOCK" "$@"; }
probe() { # NODE DST PORT [SRC]
	echo "1 tcp ${4:--} $2 $3" | zt_x "$1" "$ZT_PROBE" batch -w 700 | awk '{ print $2 }'
}
allowed() { [[ $(probe "$@") == ok ]]; }
wait_until() { # SECONDS COMMAND...
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.05
	done
}
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }

DPID= DLOG= DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--socket-group nogroup --log-level info "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	wait_until 30 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
}
daemon_stop() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=; }
# stream NAME [PORT]: a TCP stream from onprem to db1 in the background.
stream() {
	zt_bg onprem "$ZT_TMP/stream-$1" "$ZT_PROBE" stream -i 50 - "$DB" "${2:-$PORT}"
	eval "SPID_$1=$ZT_BG_PID"
	wait_until 3 grep -q '^echo' "$ZT_TMP/stream-$1"
}
last_echo() { awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$ZT_TMP/stream-$1"; }
stream_stop() { local v="SPID_$1"; kill -TERM "${!v}" 2>/dev/null || true; wait "${!v}" 2>/dev/null || true; }
# grant_ms TEMPLATE [ARGS]: grant as nobody; prints the expiry in ms since the epoch.
grant_exp() {
	ctl_nobody grant "$@" --json | js 'j["expires_usec"] // 1000'
}

daemon_start

# ---- before, and after a grant ---------------------------------------------------
zt_check "before a grant the source is denied" ! allowed onprem "$DB" "$PORT"
exp=$(grant_exp admin --source "$SRC" --for 1h --reason "INC-4411" 2>&1 || true)
zt_check "a requester may not ask for more than max... (1h is admin's max: granted)" [ -n "$exp" ]
zt_check "after grant the source connects" wait_until 2 allowed onprem "$DB" "$PORT"
zt_check "a port outside ports stays denied" ! allowed onprem "$DB" "$OTHERPORT"
zt_check "a second address of the same host stays denied" ! allowed onprem "$DB" "$PORT" "$SRC2"
zt_check "a source outside from stays denied" ! allowed internet "$DB" "$PORT"
zt_check "grants lists it" bash -c "'$ZT_CTL' --socket '$SOCK' grants | grep -q 'admin.*$SRC.*INC-4411'"
live=$(ctl explain --live "$SRC" iface:vdb1,"$DB" "tcp/$PORT" || true)
zt_check "explain --live names the grant" grep -qE "by: jit grant [0-9]+ 'admin' for $SRC until [0-9:]+ UTC \\(granted by nobody: \"INC-4411\"\\)" <<<"$live"
zt_check "the grant is audited in the log" grep -q "grant [0-9]* 'admin' for $SRC.*INC-4411" "$DLOG"
zt_check "a second grant for the same source is refused" ! ctl_nobody grant admin --source "$SRC" --reason x

# ---- per-grant counters; a standing flow's connection stays the flow's ------------
id=$(ctl grants --json | js '[g["id"] for g in j["grants"]][0]')
gpk() { ctl grants --json | js 'j["grants"][0]["packets"]'; }
fpk() { ctl status --json | js '[f["packets"] for f in j["flows"] if f["name"] == "standing"][0]'; }
live=$(ctl explain --live "$SRC" iface:vdb1,"$DB" "tcp/$STAND" || true)
zt_check "explain --live: a standing flow allows tcp/$STAND, the grant covers it too (a note)" \
	grep -qzE "by: flow 'standing'.*note: jit grant $id 'admin' .* covers it too: the connection is the flow's, a revoke or expiry leaves it" <<<"$live"
off=$("$ZT_CTL" explain --config "$POL" --grant admin "$SRC" iface:vdb1,"$DB" "tcp/$STAND" || true)
zt_check "explain --grant (offline) says the same" grep -qzE "by: flow 'standing'.*covers it too" <<<"$off"
off=$("$ZT_CTL" explain --config "$POL" --grant admin "$SRC" iface:vdb1,"$DB" "tcp/$PORT" || true)
zt_check "explain --grant (offline): the grant decides tcp/$PORT" grep -q "^by: jit template 'admin'" <<<"$off"
g0=$(gpk) f0=$(fpk)
stream sd "$STAND"
sleep 0.5
g1=$(gpk) f1=$(fpk)
zt_check "the standing connection counts under the flow ($f0 -> $f1), not the grant ($g0 -> $g1)" \
	[ "$g1" = "$g0" ] && [ "$f1" -gt "$f0" ]
stream rv
sleep 0.5
g2=$(gpk)
zt_check "the grant's connection counts under the grant ($g1 -> $g2 packets)" [ "$g2" -gt "$g1" ]
zt_check "status lists the grant with its packets and bytes" \
	bash -c "'$ZT_CTL' --socket '$SOCK' status | grep -qE '^ *$id +admin +$SRC +[*] +nobody +[^ ]+ +[1-9][0-9]* +[1-9][0-9]*\$'"
zt_check "status --json has the grant's packets and bytes" \
	[ "$(ctl status --json | js 'j["grants"][0]["packets"] > 0 and j["grants"][0]["bytes"] > 0')" = True ]
zt_check "the grant's counter is in the kernel (g_$(printf %x "$id"))" zt_nft list counter inet ztseg "g_$(printf %x "$id")"

# ---- revoke ---------------------------------------------------------------------
t0=$(zt_now_ms)
ctl_nobody revoke "$id" >/dev/null
sleep 1.2
stream_stop rv
zt_check "revoke: the open connection stopped within 1 s" [ "$(last_echo rv)" -le $((t0 + 1000)) ]
stream_stop sd
zt_check "revoke: the standing flow's connection under the same source goes on" [ "$(last_echo sd)" -ge $((t0 + 1000)) ]
zt_check "revoke: the grant's counter is deleted" wait_until 3 bash -c "! ip netns exec '$(zt_ns host)' nft list counter inet ztseg g_$(printf %x "$id") 2>/dev/null"
zt_check "revoke is logged with the grant's packets and bytes" grep -qE "grant $id 'admin' for $SRC revoked: .* \([1-9][0-9]* packets, [1-9][0-9]* bytes\)" "$DLOG"
zt_check "revoke: new connections are denied" ! allowed onprem "$DB" "$PORT"
zt_check "revoke is logged" grep -q "grant $id 'admin' for $SRC revoked" "$DLOG"

# ---- expiry, daemon running -----------------------------------------------------
exp=$(grant_exp short --source "$SRC" --reason "expiry test")
stream ex1
zt_check "expiry: one grant counter in the table while the grant lives" \
	[ "$(zt_nft list counters table inet ztseg | grep -c 'counter g_')" = 1 ]
sleep 4.2
stream_stop ex1
zt_check "expiry: the open connection stopped within 1 s of the expiry" [ "$(last_echo ex1)" -le $((exp + 1000)) ]
zt_check "expiry: the stream was alive until near the expiry" [ "$(last_echo ex1)" -ge $((exp - 1000)) ]
zt_check "expiry: new connections are denied" ! allowed onprem "$DB" "$PORT"
zt_check "expiry is logged" grep -q "'short' for $SRC expired" "$DLOG"
zt_check "expiry: the grant's counter is deleted" wait_until 4 bash -c "[ \"\$(ip netns exec '$(zt_ns host)' nft list counters table inet ztseg | grep -c 'counter g_')\" = 0 ]"

# ---- expiry with the daemon stopped ----------------------------------------------
exp=$(grant_exp short --source "$SRC" --reason "stopped test")
stream ex2
daemon_stop
zt_check "the table stays while the daemon is stopped" zt_nft list map inet ztseg jlive
sleep 4
stream_stop ex2
zt_check "daemon stopped: the open connection stopped within 1 s of the expiry" [ "$(last_echo ex2)" -le $((exp + 1000)) ]
zt_check "daemon stopped: new connections are denied after the expiry" ! allowed onprem "$DB" "$PORT"
daemon_start
zt_check "the restarted daemon does not bring an expired grant back" [ "$(ctl grants --json | js 'len(j["grants"])')" = 0 ]
zt_check "and logs its expiry" grep -q "expired while ztsegd was not running" "$DLOG"
zt_check "and deletes its counter" wait_until 4 bash -c "[ \"\$(ip netns exec '$(zt_ns host)' nft list counters table inet ztseg | grep -c 'counter g_')\" = 0 ]"

# ---- restart in the middle -------------------------------------------------------
exp=$(grant_exp admin --source "$SRC" --for 6s --reason "restart test")
daemon_stop
sleep 1
daemon_start
exp2=$(ctl grants --json | js 'j["grants"][0]["expires_usec"] // 1000' || echo 0)
zt_check "restart keeps the grant" [ "$exp2" -gt 0 ]
zt_check "restart never extends it (expiry $exp2 <= $exp)" [ "$exp2" -le "$exp" ]
zt_check "restart keeps it working" allowed onprem "$DB" "$PORT"
now=$(zt_now_ms)
sleep "$(awk -v d=$((exp - now + 300)) 'BEGIN { print (d > 0 ? d : 0) / 1000 }')"
zt_check "after the original expiry the source is denied" ! allowed onprem "$DB" "$PORT"

# ---- a reload that deletes the template ------------------------------------------
grant_exp admin --source "$SRC" --for 1m --reason "reload test" >/dev/null
stream rl
policy "$POL"
t0=$(zt_now_ms)
ctl reload >/dev/null
sleep 1.2
stream_stop rl
zt_check "reload without the template: the open connection stopped within 1 s" [ "$(last_echo rl)" -le $((t0 + 1000)) ]
zt_check "reload without the template: new connections are denied" ! allowed onprem "$DB" "$PORT"
zt_check "reload without the template: no grant is left" [ "$(ctl grants --json | js 'len(j["grants"])')" = 0 ]
policy "$POL" with
ctl reload >/dev/null

# ---- a source that moves out of from ---------------------------------------------
grant_exp admin --source "$SRC" --for 1m --reason "move test" >/dev/null
zt_check "granted again" wait_until 2 allowed onprem "$DB" "$PORT"
zt_x host ip route add "$SRC/32" dev vdb3
zt_check "the moved source loses its grant" wait_until 3 bash -c "[ \"\$('$ZT_CTL' --socket '$SOCK' grants --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"grants\"]))')\" = 0 ]"
zt_check "the move is logged" grep -q "revoked: its source moved out" "$DLOG"
zt_x host ip route del "$SRC/32" dev vdb3
zt_check "back in from, still denied (the grant is gone)" ! allowed onprem "$DB" "$PORT"

# ---- authorization and validation ------------------------------------------------
out=$(ctl_nobody grant closed --source "$SRC" --reason x 2>&1 || true)
zt_check "a user not in requesters is refused clearly" grep -q "permission denied: uid 65534 is in none of the groups template 'closed' names as requesters" <<<"$out"
zt_check "the refusal is logged" grep -q "grant refused to nobody (uid 65534.*closed" "$DLOG"
out=$(ctl_nobody grant short --source "$SRC" --for 10s --reason x 2>&1 || true)
zt_check "a duration over max is refused" grep -q "10s is over template 'short''s max of 3s" <<<"$out"
out=$(ctl_nobody grant admin --source "${ZT_V4[internet]}" --reason x 2>&1 || true)
zt_check "a source outside from is refused" grep -q "is in zone internet, not in template 'admin''s from" <<<"$out"
out=$(ctl_nobody grant admin --source 203.0.113.0/24 --reason x 2>&1 || true)
zt_check "a prefix is refused" grep -q "one address" <<<"$out"
out=$(zt_x host python3 - "$SOCK" <<-'EOF' 2>&1 || true
	import json, socket, struct, sys
	def call(body):
	    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(struct.pack(">I", len(body)) + body)
	    n = struct.unpack(">I", s.recv(4))[0]; data = b""
	    while len(data) < n: data += s.recv(n - len(data))
	    return json.loads(data)
	r1 = call(json.dumps({"version": 1, "command": "grant", "args": {"template": "admin", "source": "203.0.113.10", "reason": "x", "for": "1h"}}).encode())
	r2 = call(json.dumps({"version": 1, "command": "grant", "args": {"template": "admin", "source": "203.0.113.10", "reason": "x" * 5000}}).encode())
	r3 = call(json.dumps({"version": 1, "command": "grant", "args": {"template": "admin", "source": "203.0.113.10", "reason": "x", "evil": 1}}).encode())
	r4 = call(json.dumps({"version": 1, "command": "grant", "args": {"template": "../../etc", "source": "203.0.113.10", "reason": "x"}}).encode())
	print(r1["ok"], r2["ok"], r3["ok"], r4["ok"])
	print(r1.get("errors"), r2.get("errors"), r3.get("errors"), r4.get("errors"))
	EOF
)
zt_check "malformed and oversized requests are refused" grep -q "^False False False False" <<<"$out"
zt_check "nothing was granted by them" [ "$(ctl grants --json | js 'len(j["grants"])')" = 0 ]
zt_check "status counts grant events" [ "$(ctl status --json | js 'j["grant_events"]["refused"] > 0')" = True ]

daemon_stop
zt_finish
