#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket against hostile local users, with the daemon in a
# throwaway network namespace: members of the socket's group (eight uids,
# more than the slots they may hold between them) hold every connection
# they can get and re-open each one the daemon times out, slowly sending
# half a header; meanwhile root's reload must succeed 10 times out of 10,
# the hogs are told "too many clients" (never a bare close), and a caller
# who may not change state still gets a clear refusal. Also: the socket is
# created without following a symbolic link at its path (the link's
# target keeps its mode), interface names with control bytes reach the
# log escaped, and status names other tables whose base chains untrack
# traffic before conntrack on ztseg's hooks. ZTSEG_BUILD=build-asan runs the sanitizer build.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The hogs run as other users: a python3 they can run (not a per-user shim).
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3) || zt_skip "python3 is not installed (the hog clients)"
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"

zt_init
zt_ns_add host
h=$(zt_ns host)

chmod 0711 "$ZT_TMP"
install -d -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
POL=$ZT_TMP/policy
install -d -m 0755 "$POL" "$POL/segments.d"
cat >"$POL/ztseg.yaml" <<-'EOF'
	version: 1
	hub:
	  default: drop
	  protect-host: true
	  flows:
	    - { name: web-dns, from: web, to: host, ports: [udp/53] }
	    - { name: host-out, from: host, to: web, ports: [tcp/443] }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/26] }
	EOF
chmod 0644 "$POL/ztseg.yaml"

quiet() { "$@" >/dev/null 2>&1; }
wait_until() { # SECONDS COMMAND...
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.02
	done
}
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
js() { ctl status --json | python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
logged() { grep -q -- "$1" "$DLOG"; }
# rc_out RC PATTERN: the last command's exit status was RC and its output ($out) matches (grep -E).
rc_out() { [ "$rc" -eq "$1" ] && grep -qE -- "$2" <<<"$out"; }

DPID= DLOG= DN=0
# daemon_start [--socket PATH]: ztsegd in the host namespace; waits for ready or exit.
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--socket-group nogroup --log-level info "$@"
	DPID=$ZT_BG_PID
	wait_until "${ZT_DAEMON_START_TIMEOUT:-30}" sh -c "grep -q '^ztsegd: ready' '$DLOG' || ! kill -0 $DPID 2>/dev/null" || true
}
daemon_stop() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	DPID=
	return $rc
}

# ---- the socket is created without following links ------------------------------------

victim=$ZT_TMP/victim
echo secret >"$victim"
chmod 0600 "$victim"
ln -s "$victim" "$ZT_TMP/run/link.sock"
rc=0
out=$(timeout 20 nsenter --net="/run/netns/$h" -- "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" \
	--socket "$ZT_TMP/run/link.sock" --socket-group nogroup 2>&1) || rc=$?
zt_check "--socket at a symbolic link to a file: refused (exit $rc: $(grep -o 'cannot listen.*' <<<"$out" | head -1))" \
	rc_out 1 'cannot listen on .*link.sock: File exists'
zt_check "...the link's target keeps its mode and group (0600 root)" \
	[ "$(stat -c '%a %G' "$victim")" = "600 root" ]
ln -s "$ZT_TMP/run/created-by-ztsegd" "$ZT_TMP/run/dangling.sock"
rc=0
timeout 20 nsenter --net="/run/netns/$h" -- "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" \
	--socket "$ZT_TMP/run/dangling.sock" >/dev/null 2>&1 || rc=$?
zt_check "--socket at a dangling link: refused (exit $rc), nothing made at its target" \
	[ $rc -ne 0 -a ! -e "$ZT_TMP/run/created-by-ztsegd" ]
zt_nft delete table inet ztseg 2>/dev/null || true

# Born with its mode: under umask 077 the socket is 0660 and its group nogroup at once.
umask 077
daemon_start
umask 022
grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not get ready"; }
zt_check "the socket: 0660, group nogroup, under umask 077" [ "$(stat -c '%a %G' "$SOCK")" = "660 nogroup" ]
zt_check "no warnings at start" ! grep -qE '^ztsegd: (error|warning):' "$DLOG"

# ---- log lines escape control bytes ---------------------------------------------------

esc_if=$'vweb\e[2J\x01'
ip -n "$h" link add "$esc_if" type veth peer name pesc
ip -n "$h" link set "$esc_if" up
wait_until 3 logged 'segment web: interface vweb' || true
zt_check "log: the interface name with ESC and ^A is escaped (\\x1b, \\x01)" \
	grep -qF 'segment web: interface vweb\x1b[2J\x01 joined' "$DLOG"
zt_check "log: no raw control byte in any line" ! grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$DLOG"
zt_check "status: the name escaped there too" grep -qF 'vweb\x1b[2J\x01' <(ctl status)
ip -n "$h" link del "$esc_if"

# ---- status names foreign tables that untrack traffic on ztseg's hooks (SPEC §8) ----------

zt_check "status --json: no foreign table untracks anything yet" [ "$(js 'j["untracked"]')" = "[]" ]
zt_nft -f - <<-'EOF'
	table ip other {
		chain pre { type filter hook prerouting priority -400; ip daddr 198.51.100.10 notrack; }
		chain late { type filter hook prerouting priority 0; ip daddr 198.51.100.11 notrack; }
	}
	table inet other6 {
		chain out { type filter hook output priority raw; jump untrack; }
		chain untrack { ip6 daddr 2001:db8::10 notrack; }
		chain forw { type filter hook forward priority -300; counter; }
	}
	table ip harmless {
		chain pre { type filter hook prerouting priority -400; counter; }
	}
	EOF
unt='sorted((u["family"], u["table"], u["chain"], u["via"], u["hook"], u["priority"]) for u in j["untracked"])'
zt_check "status --json: table ip other chain pre (prerouting, -400) and inet other6 out (through untrack); not the chains after conntrack, not the harmless" \
	[ "$(js "$unt")" = "[('inet', 'other6', 'out', 'untrack', 'output', -300), ('ip', 'other', 'pre', 'pre', 'prerouting', -400)]" ]
out=$(ctl status)
zt_check "status: the table of foreign untracking chains" \
	grep -qE '^table ip other +pre +prerouting +-400 +pre$' <<<"$out"
zt_check "status: a warning names it" \
	grep -q 'table ip other, chain pre (prerouting, priority -400) untracks traffic' <<<"$out"
zt_nft delete table ip other
zt_nft delete table inet other6
zt_nft delete table ip harmless
zt_check "status --json: gone again with the tables" [ "$(js 'j["untracked"]')" = "[]" ]

# ---- the hog --------------------------------------------------------------------------

HOG_UIDS=(65534 60001 60002 60003 60004 60005 60006 60007)
HOG_SECONDS=14
cat >"$ZT_TMP/hog.py" <<-'EOF'
	# Hold every connection we can get; re-open each one the daemon closes.
	import select, socket, sys, time
	path, seconds = sys.argv[1], float(sys.argv[2])
	held, told, bare, most, opened = [], {}, 0, 0, 0
	end = time.time() + seconds
	def note(data):
	    global bare
	    if len(data) > 4:
	        msg = data[4:].decode(errors="replace")
	        told[msg] = told.get(msg, 0) + 1
	    else:
	        bare += 1
	while time.time() < end:
	    try:
	        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	        s.settimeout(2)
	        s.connect(path)
	        opened += 1
	    except OSError:
	        time.sleep(0.01)
	        continue
	    # A slow client: half a header, then nothing.
	    try:
	        s.send(b"\0\0")
	    except OSError:
	        pass
	    held.append(s)
	    # Whatever the daemon said or closed: note it and let the slot go.
	    r, _, _ = select.select(held, [], [], 0.02)
	    for x in r:
	        try:
	            x.settimeout(0.5)
	            data = b""
	            while True:
	                b = x.recv(65536)
	                if not b:
	                    break
	                data += b
	        except OSError:
	            pass
	        note(data)
	        held.remove(x)
	        x.close()
	    most = max(most, len(held))
	print("opened", opened, "most", most, "bare", bare)
	for m, n in sorted(told.items()):
	    print("told", n, m)
	EOF
chmod 0644 "$ZT_TMP/hog.py"
hogs=()
for u in "${HOG_UIDS[@]}"; do
	setpriv --reuid "$u" --regid nogroup --clear-groups "$PY" "$ZT_TMP/hog.py" "$SOCK" "$HOG_SECONDS" \
		>"$ZT_TMP/hogout.$u" 2>&1 &
	hogs+=($!)
done
sleep 2
# Everything the hogs may have is taken: another reader of status is refused, and told.
out=$(setpriv --reuid 60100 --regid nogroup --clear-groups "$ZT_CTL" --socket "$SOCK" status 2>&1) && rc=0 || rc=$?
zt_check "during the hog: another group member's status is refused, and told why (exit $rc: $out)" \
	rc_out 1 'too many clients'
out=$(setpriv --reuid 60101 --regid nogroup --clear-groups "$ZT_CTL" --socket "$SOCK" reload 2>&1) && rc=0 || rc=$?
zt_check "during the hog: an unauthorized reload gets a clear refusal (exit $rc: $out)" \
	rc_out 1 'too many clients|permission denied'
good=0 worst=0
for i in $(seq 10); do
	t0=$(zt_now_ms)
	if ctl reload >"$ZT_TMP/reload.$i" 2>&1; then good=$((good + 1)); fi
	t=$(($(zt_now_ms) - t0))
	((t > worst)) && worst=$t
	sleep 0.5
done
echo "# root's reloads under the hog: $good of 10, the slowest $worst ms"
zt_check "root's reload succeeds 10 of 10 while the hogs hold every slot they may ($good/10, worst $worst ms)" [ $good -eq 10 ]
zt_check "root's status answers during the hog" quiet ctl status
for p in "${hogs[@]}"; do wait "$p" || true; done
most=$(awk '$1 == "opened" { s += $4 } END { print s + 0 }' "$ZT_TMP"/hogout.*)
told=$(awk '$1 == "told" { s += $2 } END { print s + 0 }' "$ZT_TMP"/hogout.*)
bare=$(awk '$1 == "opened" { s += $6 } END { print s + 0 }' "$ZT_TMP"/hogout.*)
cat "$ZT_TMP"/hogout.* | sed 's/^/#   /' | sort | uniq -c | sort -rn | head -8
zt_check "the hogs held the slots they may (48 of 64 between them; at most $most at their peaks)" [ "$most" -ge 48 ]
toomany=$({ grep -h '^told' "$ZT_TMP"/hogout.* || true; } | awk '/too many clients/ { s += $2 } END { print s + 0 }')
zt_check "the hogs were told 'too many clients' ($toomany of $told answers)" [ "$toomany" -ge 1 ]
zt_check "...and never closed on without a word ($bare bare closes)" [ "$bare" -eq 0 ]
zt_check "status counts the refusals" [ "$(js 'j["control"]["refused"] > 0')" = True ]
out=$(setpriv --reuid 65534 --regid nogroup --clear-groups "$ZT_CTL" --socket "$SOCK" reload 2>&1) && rc=0 || rc=$?
zt_check "after the hog: the unauthorized reload is refused as such ($out)" \
	rc_out 1 "permission denied: 'reload'"
zt_check "after the hog: a group member reads status again" \
	quiet setpriv --reuid 65534 --regid nogroup --clear-groups "$ZT_CTL" --socket "$SOCK" status

daemon_stop && rc=0 || rc=$?
zt_check "SIGTERM: clean exit ($rc)" [ $rc -eq 0 ]
zt_check "no sanitizer reports" ! grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ZT_TMP"/daemon.*.log
zt_finish
