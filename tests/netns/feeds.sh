#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Threat feeds (threats.blocklists) with real traffic, IPv4 and IPv6, the
# daemon in the harness's host namespace: a listed source reaches no zone
# and not the host; a listed destination is reached from no zone and not
# from the host; a threats.except prefix inside a listed range is never
# blocked; an open connection is cut when its peer gets listed; unlisting
# restores access; explain, feeds test, feeds, status --json and the NFLOG
# journal line name the feed and its entry; the feeds live in tables ip and
# ip6 ztseg (inet ztseg stays small); a restart keeps them enforced;
# --remove takes all three tables away.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"

zt_init
zt_up
zt_serve host db1 db3 internet

chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run" "$ZT_TMP/feeds"
SOCK=$ZT_TMP/run/ztsegd.sock
FEEDS=$ZT_TMP/feeds
PORT=8443
# The internet node: .10 stays clean, .20 gets listed, .44 sits in a listed
# /27 but inside threats.except.
for a in 192.0.2.20/26 192.0.2.44/26 192.0.2.30/26; do zt_x internet ip addr add "$a" dev eth0; done
for a in 2001:db8:ee::20/64 2001:db8:ee::44/64; do zt_x internet ip addr add "$a" dev eth0 nodad; done

POL=$ZT_TMP/pol
mkdir -m 0755 "$POL"
cat >"$POL/ztseg.yaml" <<EOF
version: 1
hub:
  default: drop
  boundaries:
    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
    internet: { interfaces: ["uplink0"], addresses: [0.0.0.0/0, "::/0"] }
  flows:
    - { from: internet, to: db, ports: [tcp/$PORT] }
    - { from: internet, to: host, ports: [tcp/$PORT] }
    - { from: db, to: internet, ports: [tcp/$PORT] }
    - { from: host, to: [internet, db], ports: [tcp/$PORT] }
segments:
  db:
    interfaces: ["vdb*"]
    addresses: [198.51.100.64/27, "2001:db8:0:3::/64"]
threats:
  except: [192.0.2.40/29, "2001:db8:ee::40/125"]
  blocklists:
    - { name: drop-list, file: $FEEDS/drop.txt, direction: both, max-age: 1h }
    - { name: old-list, file: $FEEDS/old.txt, direction: in, max-age: 1m }
EOF
printf '192.0.2.30\n' >"$FEEDS/old.txt"
chmod 0644 "$FEEDS/old.txt"
touch -d '2 hours ago' "$FEEDS/old.txt"
chmod 0644 "$POL/ztseg.yaml"

# feed CONTENT: the feed file replaced atomically (a rename, as fetchers do).
feed() {
	printf '%s\n' "$@" >"$FEEDS/.drop.tmp"
	chmod 0644 "$FEEDS/.drop.tmp"
	mv "$FEEDS/.drop.tmp" "$FEEDS/drop.txt"
}
BASE=("# test feed, Spamhaus DROP style" "192.0.2.20 ; SBL0001" "192.0.2.32/27 ; SBL0002"
      "198.51.100.90" "2001:db8:ee::20" "2001:db8:ee::40/122" "2001:db8:0:3:2::90")
feed "${BASE[@]}"
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the policy is invalid"

ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
probe() { # NODE DST [SRC]: ok, timeout, ...
	echo "1 tcp ${3:--} $2 $PORT" | zt_x "$1" "$ZT_PROBE" batch -w 600 | awk '{ print $2 }'
}
allowed() { [[ $(probe "$@") == ok ]]; }
blocked() { [[ $(probe "$@") != ok ]]; }
js() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }

DPID= DLOG= DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/daemon.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$POL" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--log-level info "${ZT_APPLY_ARGS[@]}"
	DPID=$ZT_BG_PID
	zt_wait_for 30000 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not start"; }
	zt_wait_for 10000 feeds_idle || zt_die "the feeds were not loaded"
}
feeds_idle() { [[ $(ctl feeds --json | js 'j["feed_updates"]["busy"]') == False ]]; }
daemon_stop() { kill -TERM "$DPID"; wait "$DPID" || true; DPID=; }

daemon_start
DB1=${ZT_V4[db1]} DB3=${ZT_V4[db3]} DB16=${ZT_V6[db1]} DB36=${ZT_V6[db3]}

# ---- a listed source reaches no zone and not the host ----------------------------
for v in 4 6; do
	if [[ $v == 4 ]]; then bad=192.0.2.20 good=192.0.2.10 exc=192.0.2.44 db=$DB1 hostaddr=$ZT_HOST_V4
	else bad=2001:db8:ee::20 good=2001:db8:ee::10 exc=2001:db8:ee::44 db=$DB16 hostaddr=$ZT_HOST_V6; fi
	zt_check "v$v: an unlisted source reaches db" allowed internet "$db" "$good"
	zt_check "v$v: an unlisted source reaches the host" allowed internet "$hostaddr" "$good"
	zt_check "v$v: a listed source does not reach db" blocked internet "$db" "$bad"
	zt_check "v$v: a listed source does not reach the host" blocked internet "$hostaddr" "$bad"
	zt_check "v$v: an except address inside a listed prefix reaches db" allowed internet "$db" "$exc"
	zt_check "v$v: an except address inside a listed prefix reaches the host" allowed internet "$hostaddr" "$exc"
done

# ---- a listed destination is reached from no zone and not from the host ----------
for v in 4 6; do
	if [[ $v == 4 ]]; then db1=$DB1 db3=$DB3 bad=192.0.2.20 good=192.0.2.10
	else db1=$DB16 db3=$DB36 bad=2001:db8:ee::20 good=2001:db8:ee::10; fi
	zt_check "v$v: db1 (unlisted) is reached from the internet" allowed internet "$db1" "$good"
	zt_check "v$v: db3 (listed) is not reached from the internet" blocked internet "$db3" "$good"
	zt_check "v$v: db1 is reached from the host" allowed host "$db1"
	zt_check "v$v: db3 (listed) is not reached from the host" blocked host "$db3"
	zt_check "v$v: the host reaches an unlisted internet address" allowed host "$good"
	zt_check "v$v: the host does not reach a listed internet address" blocked host "$bad"
	zt_check "v$v: db1 reaches an unlisted internet address" allowed db1 "$good"
	zt_check "v$v: db1 does not reach a listed internet address (forwarded)" blocked db1 "$bad"
done

# ---- what operators see -----------------------------------------------------------
out=$(ctl explain --live 192.0.2.20 iface:vdb1,"$DB1" tcp/$PORT || true)
zt_check "explain --live names the feed, entry and line (v4)" \
	grep -qF "deny: threat feed 'drop-list' (entry 192.0.2.20/32, $FEEDS/drop.txt:2)" <<<"$out"
out=$("$ZT_CTL" explain --config "$POL" 192.0.2.20 iface:vdb1,"$DB1" tcp/$PORT || true)
zt_check "explain offline names the feed, entry and line too" \
	grep -qF "deny: threat feed 'drop-list' (entry 192.0.2.20/32, $FEEDS/drop.txt:2)" <<<"$out"
out=$(ctl explain --live iface:uplink0,192.0.2.10 "$DB36" tcp/$PORT || true)
zt_check "explain --live names a listed destination (v6)" \
	grep -qF "deny: threat feed 'drop-list' (entry 2001:db8:0:3:2::90/128, $FEEDS/drop.txt:7)" <<<"$out"
out=$(ctl explain --live 192.0.2.44 iface:vdb1,"$DB1" tcp/$PORT || true)
zt_check "explain --live does not deny an except address by the feed" ! grep -q "threat feed" <<<"$out"
zt_check "feeds test: a listed address, with its entry and line" \
	bash -c "'$ZT_CTL' --socket '$SOCK' feeds test 192.0.2.50 | grep -qF \"listed by feed 'drop-list' (entry 192.0.2.32/27, $FEEDS/drop.txt:3\""
zt_check "feeds test: an address no feed lists (exit 1)" ! ctl feeds test 192.0.2.10
zt_check "feeds test: an except address is said to be never blocked" \
	bash -c "'$ZT_CTL' --socket '$SOCK' feeds test 2001:db8:ee::44 | grep -q 'threats.except: never blocked'"
st=$(ctl status --json)
zt_check "status --json carries the feeds with their entries" \
	[ "$(js '[(f["name"], f["entries"], f["enforced"]) for f in j["feeds"]]' <<<"$st")" == "[('drop-list', 6, True), ('old-list', 1, True)]" ]
zt_check "a feed older than its max-age is reported stale" [ "$(js 'j["feeds"][1]["stale"]' <<<"$st")" == True ]
zt_check "a stale feed stays enforced" [ "$(probe internet "$DB1" 192.0.2.30)" != ok ]
zt_check "ztsegctl feeds says STALE" bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -qE '^old-list .* STALE'"
zt_check "status --json: the feed has counted hits" [ "$(js 'j["feeds"][0]["packets"] > 0' <<<"$st")" == True ]
zt_check "status --json: two entries carved by threats.except are reported" [ "$(js 'j["feeds"][0]["carved"]' <<<"$st")" == 2 ]
zt_check "status --json: the feed is not stale (max-age 1h)" [ "$(js 'j["feeds"][0]["stale"]' <<<"$st")" == False ]
zt_check "ztsegctl feeds lists it" bash -c "'$ZT_CTL' --socket '$SOCK' feeds | grep -qE '^drop-list +both +drop +6 '"
zt_check "the journal line of a dropped packet names the feed and entry" \
	zt_wait_for 3000 grep -qE "deny tcp 192.0.2.20 -> .*threat feed 'drop-list' \(entry 192.0.2.20/32" "$DLOG"
zt_check "the feeds live in table ip ztseg (a single address in the hash map listed_src_x)" bash -c "'$ZT_TMP/bin/../bin/ztsegd' --version >/dev/null; nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src_x | grep -q '192.0.2.20'"
# nft 1.0.6 aborts (an assertion) listing a lookup keyed by another lookup's result,
# and then on every listing of the host's ruleset: the feed tables must not hold one.
zt_check "nft list tables works with the feed tables loaded" zt_x host nft list tables
zt_check "nft list ruleset works and prints the feed tables' rules" bash -c \
	"nsenter --net=/run/netns/$(zt_ns host) nft list ruleset | grep -q 'meta mark set ip saddr map @listed_src_x goto hit'"
zt_check "a listed address whose feed id feed_ids lacks is dropped, not let through (chain hit ends in drop)" bash -c \
	"nsenter --net=/run/netns/$(zt_ns host) nft list chain ip ztseg hit | grep -A1 'meta mark vmap @feed_ids' | grep -qx $'\t\tdrop'"
zt_check "table inet ztseg holds no feed element" bash -c "! nsenter --net=/run/netns/$(zt_ns host) nft list table inet ztseg | grep -q '192.0.2.20'"

# ---- an open connection is cut when its peer gets listed; unlisting restores -------
for v in 4 6; do
	if [[ $v == 4 ]]; then peer=192.0.2.10 db=$DB1; else peer=2001:db8:ee::10 db=$DB16; fi
	zt_bg internet "$ZT_TMP/stream$v" "$ZT_PROBE" stream -i 50 "$peer" "$db" "$PORT"
	spid=$ZT_BG_PID
	zt_wait_for 3000 grep -q '^echo' "$ZT_TMP/stream$v" || zt_die "the v$v stream did not start"
	feed "${BASE[@]}" "$peer"
	t0=$(zt_now_ms)
	zt_wait_for 5000 bash -c "[[ \$(ctl() { :; }; '$ZT_CTL' --socket '$SOCK' feeds test $peer >/dev/null && echo y) == y ]]" ||
		{ zt_not_ok "v$v: the listing was not picked up"; tail -20 "$DLOG" | sed 's/^/#   /'; }
	sleep 1
	last=$(awk '$1 == "echo" { t = $3 } END { printf "%.0f\n", t }' "$ZT_TMP/stream$v")
	n1=$(grep -c '^echo' "$ZT_TMP/stream$v")
	sleep 1
	n2=$(grep -c '^echo' "$ZT_TMP/stream$v")
	zt_check "v$v: the open connection stops at once when its peer is listed ($((last - t0)) ms after the rename)" \
		[ "$n1" -eq "$n2" -a $((last - t0)) -lt 500 ]
	zt_check "v$v: a new connection from the newly listed peer is blocked" blocked internet "$db" "$peer"
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	feed "${BASE[@]}"
	zt_check "v$v: unlisting restores access" zt_wait_for 3000 allowed internet "$db" "$peer"
done

# ---- a connection db1 opened to a peer that an in-only feed then lists: the peer's replies are cut ----
# Each direction of a connection is checked once and then carries its own
# label bit; listing the peer clears both, so the peer's next reply meets the
# feed even though db1's packets to it (a destination an in-only feed does not
# list) still pass.
old_feed() {
	printf '%s\n' "$@" >"$FEEDS/.old.tmp"
	chmod 0644 "$FEEDS/.old.tmp"
	mv "$FEEDS/.old.tmp" "$FEEDS/old.txt"
}
for v in 4 6; do
	if [[ $v == 4 ]]; then peer=192.0.2.10; else peer=2001:db8:ee::10; fi
	zt_bg db1 "$ZT_TMP/ostream$v" "$ZT_PROBE" stream -i 50 - "$peer" "$PORT"
	spid=$ZT_BG_PID
	zt_wait_for 3000 grep -q '^echo' "$ZT_TMP/ostream$v" || zt_die "the v$v stream from db1 did not start"
	passes=$(ctl feeds --json | js 'j["feed_updates"]["rechecks"]["passes"]')
	old_feed 192.0.2.30 "$peer"
	zt_wait_for 5000 bash -c "[[ \$('$ZT_CTL' --socket '$SOCK' feeds --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[\"feed_updates\"][\"rechecks\"][\"passes\"])') -gt $passes ]]" ||
		{ zt_not_ok "v$v: no conntrack pass after the listing"; tail -20 "$DLOG" | sed 's/^/#   /'; }
	sleep 0.5
	n1=$(grep -c '^echo' "$ZT_TMP/ostream$v")
	sleep 1
	n2=$(grep -c '^echo' "$ZT_TMP/ostream$v")
	zt_check "v$v: a connection db1 opened to a peer an in-only feed now lists gets no more replies" [ "$n1" -eq "$n2" ]
	zt_check "v$v: the pass found that connection ($(ctl feeds --json | js 'j["feed_updates"]["rechecks"]["connections"]') so far)" \
		[ "$(ctl feeds --json | js 'j["feed_updates"]["rechecks"]["connections"] > 0')" == True ]
	zt_check "v$v: a new connection from db1 to that peer gets no answer" blocked db1 "$peer"
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	old_feed 192.0.2.30
	zt_check "v$v: unlisting it restores db1's connections to it" zt_wait_for 3000 allowed db1 "$peer"
done

# ---- a reload that removes a feed ---------------------------------------------------------
sed -i '/old-list/d' "$POL/ztseg.yaml"
ctl reload >/dev/null
zt_check "a reload that removes a feed unblocks what only it listed" zt_wait_for 5000 allowed internet "$DB1" 192.0.2.30
zt_check "the removed feed's chain is gone" zt_wait_for 5000 bash -c "! nsenter --net=/run/netns/$(zt_ns host) nft list chain ip ztseg feed_old-list >/dev/null 2>&1"
zt_check "the other feed stays enforced" blocked internet "$DB1" 192.0.2.20

# ---- the lookups of a direction only while a feed lists it --------------------------------
chain_has() { nsenter --net="/run/netns/$(zt_ns host)" nft list chain "$1" ztseg "$2" | grep -c "$3" || true; }
drop_list_dir() { # FROM TO: drop-list's direction changed, reloaded, loaded
	sed -i "s/direction: $1, max-age: 1h/direction: $2, max-age: 1h/" "$POL/ztseg.yaml"
	ctl reload >/dev/null
	zt_wait_for 10000 feeds_idle || zt_die "the feeds were not loaded after the reload ($1 -> $2)"
}
drop_list_dir both in
for fam in ip ip6; do
	zt_check "$fam: feeds that list sources only: pre looks up no destination map" \
		[ "$(chain_has $fam pre listed_dst)" -eq 0 -a "$(chain_has $fam pre listed_src)" -eq 2 ]
	zt_check "$fam: … and out has no rule" [ "$(chain_has $fam out 'ct label\|listed_')" -eq 0 ]
done
zt_check "… a listed source is still blocked (v4)" blocked internet "$DB1" 192.0.2.20
zt_check "… (v6)" blocked internet "$DB16" 2001:db8:ee::20
drop_list_dir in both
for fam in ip ip6; do
	zt_check "$fam: a feed that lists destinations again: pre and out look them up" \
		[ "$(chain_has $fam pre listed_dst)" -eq 2 -a "$(chain_has $fam out listed_dst)" -eq 2 ]
done
zt_check "… a listed destination is not reached from db (v4)" blocked db1 192.0.2.20
zt_check "… (v6)" blocked db1 2001:db8:ee::20
zt_check "… nor from the host" blocked host 192.0.2.20
zt_check "… an unlisted one is" allowed db1 192.0.2.10

# ---- restart, and --remove ----------------------------------------------------------
# A feed added first in the policy now gets a later id than drop-list had: a
# restart must take the kernel's ids over (feed_ids), not number the feeds anew.
printf '192.0.2.30\n' >"$FEEDS/new.txt"
chmod 0644 "$FEEDS/new.txt"
sed -i "s|^  blocklists:|&\n    - { name: new-list, file: $FEEDS/new.txt, direction: in }|" "$POL/ztseg.yaml"
ctl reload >/dev/null
zt_check "a feed added first in the policy blocks what it lists" zt_wait_for 5000 blocked internet "$DB1" 192.0.2.30
zt_wait_for 10000 feeds_idle || zt_die "the new feed was not loaded"
zt_check "the maps carry ids, feed_ids maps them to the feeds' chains" bash -c \
	"nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg feed_ids | grep -q 'jump feed_new-list'"
daemon_stop
zt_check "with the daemon stopped the feed stays enforced" blocked internet "$DB1" 192.0.2.20
daemon_start
zt_check "after a restart a listed source is still blocked (v4)" blocked internet "$DB1" 192.0.2.20
zt_check "after a restart a listed source is still blocked (v6)" blocked internet "$DB16" 2001:db8:ee::20
zt_check "after a restart the first feed still blocks" blocked internet "$DB1" 192.0.2.30
zt_check "after a restart the daemon read the maps and ids back: no element rewritten" \
	bash -c "grep -q '^ztsegd: ready' '$DLOG' && ! grep -q 'feeds applied' '$DLOG'"

# ---- a daemon that ended between its commits and their conntrack pass ----------------
# The elements it committed are in the kernel, the connections of their
# addresses still carry their checked bits; its successor reads the elements
# back as no change, and clears the bits of every connection all the same.
zt_bg internet "$ZT_TMP/rstream" "$ZT_PROBE" stream -i 50 192.0.2.10 "$DB1" "$PORT"
spid=$ZT_BG_PID
zt_wait_for 3000 grep -q '^echo' "$ZT_TMP/rstream" || zt_die "the stream did not start"
daemon_stop
id=$(zt_x host nft list map ip ztseg listed_src_x | grep -o '192.0.2.20 : 0x[0-9a-f]*' | awk '{ print $3 }')
feed "${BASE[@]}" 192.0.2.10
zt_x host nft add element ip ztseg listed_src_x "{ 192.0.2.10 : $id }"
zt_x host nft add element ip ztseg listed_dst_x "{ 192.0.2.10 : $id }"
zt_check "a new connection from the address put in the map is blocked" blocked internet "$DB1" 192.0.2.10
n1=$(grep -c '^echo' "$ZT_TMP/rstream")
sleep 1
n2=$(grep -c '^echo' "$ZT_TMP/rstream")
zt_check "its established connection, checked before, is not looked up again: it goes on ($n1, then $n2 echoes)" \
	[ "$n2" -gt "$n1" ]
daemon_start
zt_check "the restarted daemon found nothing to change" bash -c "! grep -q 'feeds applied' '$DLOG'"
zt_wait_for 5000 bash -c "grep -q 'established connections to be checked again (all' '$DLOG'" ||
	zt_not_ok "no pass over every connection after the restart"
sleep 0.5
n1=$(grep -c '^echo' "$ZT_TMP/rstream")
sleep 1
n2=$(grep -c '^echo' "$ZT_TMP/rstream")
zt_check "after the restart's pass over every connection that connection is cut" [ "$n1" -eq "$n2" ]
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
feed "${BASE[@]}"
zt_check "unlisting it restores access" zt_wait_for 3000 allowed internet "$DB1" 192.0.2.10
daemon_stop

# ---- tables of the verdict-map layout (ztseg before feed_ids) are replaced ----------------
# The daemon's table (orphaned, persist) turned into the old layout: listed_src a verdict map.
zt_x host nft -f - <<'NFT'
flush chain ip ztseg pre
delete map ip ztseg listed_src
add map ip ztseg listed_src { type ipv4_addr : verdict; flags interval; }
add element ip ztseg listed_src { 192.0.2.20 : jump feed_drop-list }
add rule ip ztseg pre ip saddr vmap @listed_src
NFT
daemon_start
zt_check "a table of the old layout is created anew (logged)" grep -q "maps of another layout" "$DLOG"
zt_check "… with mark data" bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src_r0 | grep -q 'ipv4_addr : mark'"
zt_check "… and the feed enforced again" zt_wait_for 5000 blocked internet "$DB1" 192.0.2.20
zt_check "… the except prefix not blocked" allowed internet "$DB1" 192.0.2.44
daemon_stop

# ---- tables of the layout before shards and hash maps (one interval map of mark data) ----
zt_x host nft -f - <<'NFT'
flush chain ip ztseg pre
flush chain ip ztseg out
delete map ip ztseg listed_src
delete map ip ztseg listed_src_x
add map ip ztseg listed_src { type ipv4_addr : mark; flags interval; }
add element ip ztseg listed_src { 192.0.2.20 : 0x0, 192.0.2.96/28 : 0x0 }
NFT
daemon_start
zt_check "a table of the interval-only layout is created anew (logged)" grep -q "maps of another layout" "$DLOG"
zt_check "… its selector jumps to the shards" bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src | grep -q 'ipv4_addr : verdict'"
zt_check "… a single address in the hash map" bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src_x | grep -q '192.0.2.20'"
# (nft 1.0.6 aborts listing the feed tables' rules — a map lookup into a register: its maps one by one.)
zt_check "… nothing the feeds do not list (192.0.2.96/28 is gone from every map)" bash -c "for m in listed_src listed_src_x \$(seq -f listed_src_r%g 0 127); do nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg \$m || echo MISSING \$m; done | grep -c 'ipv4_addr' | grep -qx 130 && ! for m in listed_src_x \$(seq -f listed_src_r%g 0 127); do nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg \$m; done | grep -q '192.0.2.96'"
zt_check "… and the feed enforced again" zt_wait_for 5000 blocked internet "$DB1" 192.0.2.20
daemon_stop

# ---- a layout of other ranges and slots (two ranges, slot 200 one of the free ones): read back and kept ----
sel_ranges() { nsenter --net="/run/netns/$(zt_ns host)" nft list map ip ztseg listed_src | grep -o 'jump src_r[0-9]*' | sort -u | tr '\n' ' '; }
zt_x host nft -f - <<'NFT'
flush map ip ztseg listed_src
add element ip ztseg listed_src { 0.0.0.0-127.255.255.255 : jump src_r0, 128.0.0.0-255.255.255.255 : jump src_r200 }
add element ip ztseg listed_src_r200 { 192.0.2.96/28 : 0x0 }
NFT
zt_x internet ip addr add 192.0.2.33/26 dev eth0
daemon_start
zt_check "a selector of two ranges (slots 0 and 200): read back, the tables kept" \
	test "$(grep -c "maps of another layout" "$DLOG" || true)" = 0
zt_check "… the selector keeps its two ranges ($(sel_ranges))" test "$(sel_ranges)" = "jump src_r0 jump src_r200 "
zt_check "… 192.0.2.96/28, in slot 200's range, is deleted (the feeds do not list it)" \
	zt_wait_for 5000 bash -c "! nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src_r200 | grep -q '192.0.2.96'"
zt_check "… a listed range is in slot 200's map" \
	bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src_r200 | grep -q '192.0.2.32/29'"
zt_check "… and enforced through it (192.0.2.33 blocked)" zt_wait_for 5000 blocked internet "$DB1" 192.0.2.33
zt_check "… the single address too" blocked internet "$DB1" 192.0.2.20
zt_check "… the except prefix not blocked" allowed internet "$DB1" 192.0.2.44
daemon_stop

# ---- a selector that leaves addresses out (not the daemon's layout): the tables are created anew ----
zt_x host nft -f - <<'NFT'
flush map ip ztseg listed_src
add element ip ztseg listed_src { 0.0.0.0-127.255.255.255 : jump src_r0 }
add element ip ztseg listed_src_r1 { 192.0.2.96/28 : 0x0 }
NFT
daemon_start
zt_check "a selector that does not cover the address space: the tables are created anew (logged)" grep -q "maps of another layout" "$DLOG"
zt_check "… the selector has the 128 shards again" bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg listed_src | grep -o 'jump src_r[0-9]*' | sort -u | wc -l | grep -qx 128"
zt_check "… nothing the feeds do not list (192.0.2.96/28, left in a shard, is gone)" bash -c "! for m in listed_src_x \$(seq -f listed_src_r%g 0 255); do nsenter --net=/run/netns/$(zt_ns host) nft list map ip ztseg \$m; done | grep -q '192.0.2.96'"
zt_check "… and the feed enforced again" zt_wait_for 5000 blocked internet "$DB1" 192.0.2.20
zt_check "… the except prefix not blocked" allowed internet "$DB1" 192.0.2.44
daemon_stop
zt_x host "$ZT_D" --remove --config "$POL" --state-dir "$ZT_TMP/state" >/dev/null 2>&1 || true
zt_check "--remove takes table ip ztseg away" ! zt_x host nft list table ip ztseg
zt_check "--remove takes table ip6 ztseg away" ! zt_x host nft list table ip6 ztseg
zt_check "--remove takes table inet ztseg away" ! zt_x host nft list table inet ztseg

# ---- an update that fails is tried again (backoff), not dropped until the file changes ----
# The tables are gone (above): the first two jobs fail as if out of memory; nothing else
# changes the feed, so only the retry timer can load it.
ZTSEGD_FEED_FAIL_JOBS=2 daemon_start
zt_check "a failed update is tried again: the feed is enforced (v4)" zt_wait_for 15000 blocked internet "$DB1" 192.0.2.20
zt_check "… (v6)" blocked internet "$DB16" 2001:db8:ee::20
zt_check "… the failures and the retries are logged" bash -c \
	"[[ \$(grep -c 'cannot compute the update: Cannot allocate memory; tried again in' '$DLOG') == 2 ]]"
daemon_stop
zt_x host "$ZT_D" --remove --config "$POL" --state-dir "$ZT_TMP/state" >/dev/null 2>&1 || true
zt_check "no sanitizer report in the daemon's log" ! grep -q Sanitizer "$ZT_TMP"/daemon.*.log
zt_finish
