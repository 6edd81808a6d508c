#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Another root tool empties the sets ztsegd fills at run time, with the
# tables unowned (kernels before persist, or --no-owner): the threat feeds
# in tables ip/ip6 ztseg (every set flushed in one transaction, or one
# element deleted) and a just-in-time grant's jit4 in inet ztseg. Each is
# noticed, logged with the process, and the elements are back within a
# second: a listed source is blocked again, the granted source connects
# again. The control: with no daemon running the same flush lets the
# listed source through.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"

zt_init
zt_up
zt_serve db1
command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"
getent group nogroup >/dev/null || zt_skip "no group nogroup to request with"

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run" "$ZT_TMP/feeds" "$ZT_TMP/pol"
SOCK=$ZT_TMP/run/ztsegd.sock FEEDS=$ZT_TMP/feeds POL=$ZT_TMP/pol PORT=8443
for a in 192.0.2.20/26 192.0.2.50/26; do zt_x internet ip addr add "$a" dev eth0; done
zt_x internet ip addr add 2001:db8:ee::20/64 dev eth0 nodad
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  boundaries:
    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
    internet: { interfaces: ["uplink0"], addresses: [0.0.0.0/0, "::/0"] }
  flows:
    - { from: internet, to: db, ports: [tcp/$PORT] }
segments:
  db:
    interfaces: ["vdb*"]
    addresses: [198.51.100.64/27, "2001:db8:0:3::/64"]
jit:
  - { name: admin, from: onprem, to: db, ports: [tcp/$PORT], max: 1h, requesters: [nogroup] }
threats:
  blocklists:
    - { name: drop-list, file: $FEEDS/drop.txt, direction: both }
EOF
# a single address, a prefix (covers .50) and an IPv6 address per family
printf '%s\n' 192.0.2.20 192.0.2.48/28 2001:db8:ee::20 >"$FEEDS/drop.txt"
chmod 0644 "$FEEDS/drop.txt" "$POL/ztseg.yaml"

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
probe() { echo "1 tcp ${3:--} $2 $PORT" | zt_x "$1" "$ZT_PROBE" batch -w 600 | awk '{ print $2 }'; }
allowed() { [[ $(probe "$@") == ok ]]; }
blocked() { [[ $(probe "$@") != ok ]]; }
hnft() { ip netns exec "$(zt_ns host)" nft "$@"; }
# every set and map of tables ip/ip6 ztseg with its elements, one line per
# element ("FAMILY KIND NAME ELEMENT"; an empty set as one line with ELEMENT -),
# sorted: what "back" compares to. One nft call per table.
feed_dump() {
	local f
	for f in ip ip6; do
		hnft -j list table "$f" ztseg 2>/dev/null | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for k in ("set", "map"):
        if k in o:
            es = o[k].get("elem", [])
            for e in es or ["-"]:
                print(o[k]["family"], k, o[k]["name"], json.dumps(e, sort_keys=True))'
	done | sort
}
feed_sets() { feed_dump | cut -d" " -f1-3 | uniq; }
feed_elems() { feed_dump | grep -v " -$" || true; }
log_count() { grep -c "$1" "$DLOG" || true; }
more_than() { [ "$(log_count "$1")" -gt "$2" ]; }
same_elems() { diff -q <(feed_elems) "$ZT_TMP/elems.0" >/dev/null; }

DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" --socket-group nogroup --log-level info --no-owner
DPID=$ZT_BG_PID
zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
feeds_idle() { ctl feeds --json | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["feed_updates"]["busy"])'; }
zt_wait_for 10000 feeds_idle || zt_die "the feeds were not loaded"
DB1=${ZT_V4[db1]} DB16=${ZT_V6[db1]}

feed_elems >"$ZT_TMP/elems.0"
n_sets=$(feed_sets | wc -l) n_elems=$(wc -l <"$ZT_TMP/elems.0")
zt_check "the feeds live in sets of tables ip/ip6 ztseg ($n_sets sets, $n_elems elements)" [ "$n_sets" -ge 2 -a "$n_elems" -ge 3 ]
zt_check "as applied: an unlisted source reaches db" allowed internet "$DB1" 192.0.2.10
for src in 192.0.2.20 192.0.2.50; do
	zt_check "as applied: listed $src does not reach db" blocked internet "$DB1" "$src"
done
zt_check "as applied: listed 2001:db8:ee::20 does not reach db" blocked internet "$DB16" 2001:db8:ee::20

# tamper WHAT CMD...: done by nft (another root tool), noticed, logged, repaired
tamper() {
	local what=$1 n t
	shift
	n=$(log_count 'tampering: .* by nft\[[0-9]*\]')
	zt_check "unowned: $what succeeds" "$@"
	t=$(zt_now_ms)
	zt_wait_for 3000 same_elems || true
	t=$(($(zt_now_ms) - t))
	zt_check "unowned: $what is logged as tampering, with the process" more_than 'tampering: .* by nft\[[0-9]*\]' "$n"
	zt_check "unowned: $what: every feed element is back within a second ($t ms)" [ "$t" -lt 1500 ]
	same_elems || diff <(feed_elems) "$ZT_TMP/elems.0" | sed 's/^/#   /' | head -10
	zt_check "after $what: listed 192.0.2.20 does not reach db" blocked internet "$DB1" 192.0.2.20
	zt_check "after $what: listed 192.0.2.50 (in a /28) does not reach db" blocked internet "$DB1" 192.0.2.50
	zt_check "after $what: listed 2001:db8:ee::20 does not reach db" blocked internet "$DB16" 2001:db8:ee::20
}
# every feed set and map flushed in one transaction
flush_all() { feed_sets | awk '{ print "flush", $2, $1, "ztseg", $3 }' | hnft -f -; }
tamper "nft flush of every feed set and map" flush_all
# one element: the set or map holding 192.0.2.20 as a key
read -r sf sk sn _ < <(grep -F '"192.0.2.20"' "$ZT_TMP/elems.0" | head -1) || true
zt_check "the set holding 192.0.2.20 is found ($sf $sk $sn)" [ -n "${sn:-}" ]
del_one() { hnft delete element "$sf" ztseg "$sn" '{ 192.0.2.20 }'; }
tamper "nft delete element 192.0.2.20 from $sn" del_one

# ---- a just-in-time grant's elements (jit4, a dynamic set of inet ztseg) ----------
SRC=${ZT_V4[onprem]}
zt_check "before a grant, onprem ($SRC) does not reach db" blocked onprem "$DB1"
zt_check "a grant for $SRC is given" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$ZT_CTL" --socket "$SOCK" grant admin --source "$SRC" --for 1h --reason tamper-test
zt_check "after the grant, onprem reaches db" zt_wait_for 2000 allowed onprem "$DB1"
jit4() { hnft list map inet ztseg jit4 2>/dev/null | grep -c "$SRC" || true; }
has_jit4() { [ "$(jit4)" -ge 1 ]; }
zt_check "jit4 holds the grant's source" [ "$(jit4)" -ge 1 ]
n=$(log_count 'tampering: .* by nft\[[0-9]*\]')
zt_check "unowned: nft flush map inet ztseg jit4 succeeds" hnft flush map inet ztseg jit4
zt_check "unowned: the flush of jit4 is logged as tampering" zt_wait_for 2000 more_than 'tampering: .* by nft\[[0-9]*\]' "$n"
t=$(zt_now_ms)
zt_wait_for 3000 has_jit4 || true
t=$(($(zt_now_ms) - t))
zt_check "jit4 holds the grant's source again within a second ($t ms)" [ "$(jit4)" -ge 1 -a "$t" -lt 1500 ]
zt_check "after the repair, the granted source reaches db again" allowed onprem "$DB1"
zt_check "and a source outside the grant still does not" blocked internet "$DB1" 192.0.2.20

kill -TERM "$DPID"
wait "$DPID" || zt_not_ok "ztsegd exited non-zero on SIGTERM"

# ---- the control: nobody repairs now, and the same flush opens the hole ------------
zt_check "control: the feeds outlive the daemon (listed 192.0.2.20 still blocked)" blocked internet "$DB1" 192.0.2.20
flush_all
zt_check "control: without the daemon, flushing the feed sets lets 192.0.2.20 reach db" allowed internet "$DB1" 192.0.2.20
zt_check "no sanitizer report in the daemon's log" ! grep -q Sanitizer "$DLOG"
zt_finish
