#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile feed files against the running daemon: binary garbage, a 2 GiB
# (sparse) file, a file rewritten in place while it is read, lines of
# 1 MiB, a feed that suddenly lists 0.0.0.0/0 (and ::/0), one that shrinks
# to almost nothing, a symbolic link, a FIFO, a file of another owner or
# writable by others. Each is refused (or the bad line skipped) with a
# precise message naming the file, and the last good copy stays enforced:
# the listed source stays blocked, the clean one passes, with real traffic.
# And a feed replaced again while the daemon still parses the last version:
# that result is dropped as stale, never applied.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"

zt_init
zt_up
zt_serve db1

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run" "$ZT_TMP/feeds"
SOCK=$ZT_TMP/run/ztsegd.sock
FEEDS=$ZT_TMP/feeds
F=$FEEDS/drop.txt
PORT=8443
DB1=${ZT_V4[db1]} DB16=${ZT_V6[db1]}
zt_x internet ip addr add 192.0.2.20/26 dev eth0
zt_x internet ip addr add 2001:db8:ee::20/64 dev eth0 nodad

POL=$ZT_TMP/pol
mkdir -m 0755 "$POL"
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  boundaries:
    internet: { interfaces: ["uplink0"], addresses: [0.0.0.0/0, "::/0"] }
  flows:
    - { from: internet, to: db, ports: [tcp/$PORT] }
segments:
  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
threats:
  blocklists:
    - { name: drop-list, file: $F, max-size: 64M }
EOF
chmod 0644 "$POL/ztseg.yaml"

# The good feed: 192.0.2.20, 2001:db8:ee::20 and 1,000 more entries.
good() {
	{ echo "192.0.2.20"; echo "2001:db8:ee::20"
	  for i in $(seq 0 999); do echo "2001:db8:aa:$(printf %x "$i")::/64"; done; }
}
install_file() { # SRC: moved over the feed (a rename: one inotify event)
	chmod 0644 "$1"
	mv -f "$1" "$F"
}
good >"$FEEDS/.g"; install_file "$FEEDS/.g"

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
probe() { echo "1 tcp $3 $2 $PORT" | zt_x "$1" "$ZT_PROBE" batch -w 600 | awk '{ print $2 }'; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
result() { ctl feeds --json | js 'j["feeds"][0]["result"]'; }
enforced() { # the last good copy: the listed sources blocked, the clean ones pass (v4, v6)
	[[ $(probe internet "$DB1" 192.0.2.20) != ok && $(probe internet "$DB16" 2001:db8:ee::20) != ok &&
	   $(probe internet "$DB1" 192.0.2.10) == ok && $(probe internet "$DB16" 2001:db8:ee::10) == ok ]]
}
attempts() { ctl feeds --json | js 'j["feeds"][0]["last_attempt"]'; }
# hostile WHAT EXPECTED-MESSAGE: after the file was put in place, the
# refusal is reported with the message, and the last good copy is enforced.
hostile() {
	local what=$1 msg=$2
	zt_check "$what: refused with '$msg'" zt_wait_for 5000 bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -qF -- \"$msg\""
	zt_check "$what: the journal says so, naming the file" grep -qF -- "$msg" "$DLOG"
	zt_check "$what: the last good copy stays enforced (v4 and v6)" enforced
	zt_check "$what: still 1,002 entries" [ "$(ctl feeds --json | js 'j["feeds"][0]["entries"]')" == 1002 ]
}

DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" --log-level info \
	"${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
zt_wait_for 10000 grep -q 'feeds applied' "$DLOG" || zt_die "the feed was not loaded"
zt_check "the good feed is enforced" enforced

# ---- binary garbage ---------------------------------------------------------------
head -c 200000 /dev/urandom >"$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "binary garbage" "feed refused:"
zt_check "binary garbage: the bad lines are reported at file:line, escaped" \
	grep -qE "$F:[0-9]+: warning: (binary data|line too long|expected an address)" "$DLOG"
zt_check "binary garbage: no raw control byte reached the log" ! grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$DLOG"

# ---- a 2 GiB file (sparse): refused before a byte is read --------------------------
truncate -s 2G "$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a 2 GiB file" "bytes, more than the limit of 67108864 (max-size)"
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$DPID/status")
zt_check "a 2 GiB file: the daemon's peak RSS stayed small (${rss} kB)" [ "$rss" -lt 200000 ]
rm -f "$F"

# ---- lines of 1 MiB: the line is skipped, the rest applies -------------------------
{ good; head -c 1048576 /dev/zero | tr '\0' '1'; echo; } >"$FEEDS/.g"; install_file "$FEEDS/.g"
zt_check "a 1 MiB line: reported at its line, without its content" \
	zt_wait_for 5000 grep -qE "$F:1003: warning: line too long: '1{40}\\.\\.\\.'$" "$DLOG"
zt_check "a 1 MiB line: the rest of the feed applies and stays enforced" enforced
{ good; for i in $(seq 1 20); do head -c 1048576 /dev/zero | tr '\0' 'x'; echo; done; } >"$FEEDS/.g"
install_file "$FEEDS/.g"
hostile "twenty 1 MiB lines (2% bad)" "feed refused: 20 bad lines of 1022"

# ---- 0.0.0.0/0 and ::/0 ---------------------------------------------------------------
good >"$FEEDS/.g"; install_file "$FEEDS/.g"
zt_wait_for 5000 bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -q 'ok: 1002 entries'" || true
{ good; echo "0.0.0.0/0"; } >"$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a feed listing 0.0.0.0/0" "$F:1003: feed refused: an entry wider than a /8"
{ good; echo "::/1"; } >"$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a feed listing ::/1" "$F:1003: feed refused: an entry wider than a /8 (IPv4) or /16 (IPv6)"
{ echo "0.0.0.0-255.255.255.254"; good; } >"$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a feed listing a range of almost everything" "$F:1: feed refused: an entry wider"

# ---- a sudden shrink ------------------------------------------------------------------
printf '192.0.2.20\n2001:db8:ee::20\n' >"$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a feed shrinking from 1002 to 2 entries" "feed refused: 2 entries, down from 1002 (more than 50% gone at once)"

# ---- not a plain file of ours -----------------------------------------------------------
good >"$FEEDS/real.txt"; chmod 0644 "$FEEDS/real.txt"
ln -sf real.txt "$FEEDS/.g"; mv -f "$FEEDS/.g" "$F"
hostile "a symbolic link" "is a symbolic link: refused"
rm -f "$F"; mkfifo -m 0644 "$F"; touch "$FEEDS"
ctl reload >/dev/null
hostile "a FIFO" "not a regular file: refused"
rm -f "$F"; good >"$FEEDS/.g"; chown 65534 "$FEEDS/.g"; install_file "$FEEDS/.g"
hostile "a file owned by nobody" "owned by uid 65534"
good >"$FEEDS/.g"; chmod 0646 "$FEEDS/.g"; mv -f "$FEEDS/.g" "$F"
hostile "a file writable by others" "writable by others: refused"

# ---- rewritten in place while it is read ---------------------------------------------
# A writer rewrites the file in place (no rename) again and again with a big
# feed: the daemon sees half-written files and files that change under its
# read. None may be enforced partly: each read is refused (changed while
# read, or a shrink) or applied whole.
good >"$FEEDS/.g"; install_file "$FEEDS/.g"
zt_wait_for 5000 bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -q 'ok: 1002 entries'" || true
python3 - "$FEEDS/big" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("192.0.2.20\n2001:db8:ee::20\n")
    for i in range(300000):
        f.write("2001:db8:%x:%x::/64\n" % (0xb000 + (i >> 16), i & 0xffff))
EOF
zt_bg host "$ZT_TMP/writer.log" bash -c "for i in \$(seq 1 40); do cat '$FEEDS/big' >'$F'; done"
wpid=$ZT_BG_PID
ok_during=1
while kill -0 "$wpid" 2>/dev/null; do
	[[ $(probe internet "$DB1" 192.0.2.20) != ok ]] || ok_during=0
done
wait "$wpid" || true
zt_check "rewritten in place: the listed source was never let through meanwhile" [ "$ok_during" == 1 ]
zt_check "rewritten in place: a read that raced a write was refused" \
	grep -qE "the file changed while it was read|feed refused: .* down from" "$DLOG"
chmod 0644 "$F"; touch "$F"
zt_check "rewritten in place: once the writer stopped, the whole file is enforced" \
	zt_wait_for 20000 bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -q 'ok: 300002 entries'"
zt_check "rewritten in place: still enforced" enforced

# ---- replaced again while the daemon still works on the last version ---------------
# A (600,003 entries, lists 192.0.2.60) is put in place; while the worker
# reads, parses and flattens it, B (the 300,002 above and 192.0.2.61)
# replaces it. A's result is stale: dropped, never applied; B is enforced.
python3 - "$FEEDS/.a" "$FEEDS/.b" "$FEEDS/big" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    f.write("192.0.2.20\n2001:db8:ee::20\n192.0.2.60\n")
    for i in range(600000):
        f.write("2001:db8:%x:%x::/64\n" % (0xc000 + (i >> 16), i & 0xffff))
with open(sys.argv[2], "w") as f:
    f.write(open(sys.argv[3]).read() + "192.0.2.61\n")
EOF
working() { [[ $(ctl feeds --json | js 'j["feed_updates"]["working"]') == True ]]; }
install_file "$FEEDS/.a"
zt_check "replaced mid-work: the worker is busy with A" zt_wait_for 5000 working
install_file "$FEEDS/.b"
zt_check "replaced mid-work: B is enforced (192.0.2.61 listed, 300,003 entries)" \
	zt_wait_for 30000 bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -q 'ok: 300003 entries'"
zt_check "replaced mid-work: 192.0.2.61 (only in B) is listed" \
	bash -c "'$ZT_CTL' --socket '$SOCK' feeds test 192.0.2.61 | grep -q \"listed by feed 'drop-list'\""
zt_check "replaced mid-work: 192.0.2.60 (only in A) is not" \
	bash -c "'$ZT_CTL' --socket '$SOCK' feeds test 192.0.2.60 | grep -q 'listed by no feed'"
zt_check "replaced mid-work: A's result was dropped as stale" grep -q "overtaken by a change" "$DLOG"
zt_check "replaced mid-work: A was never applied" ! grep -q "feed 'drop-list': ok: 600003 entries" "$DLOG"
zt_check "replaced mid-work: still enforced" enforced

kill -TERM "$DPID"; wait "$DPID" || true
((ZT_FAILED == 0)) || grep -vE "^ztsegd: deny" "$DLOG" | cut -c1-300 | grep -E "binary|too long" | head -5 | sed "s/^/#   /"
zt_check "no sanitizer report in the daemon's log" ! grep -q Sanitizer "$DLOG"
zt_finish
