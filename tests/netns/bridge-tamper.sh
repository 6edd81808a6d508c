#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Table bridge ztseg under tamper detection and repair, like inet ztseg
# (issue 14, session 5b): owned, another root tool cannot touch it; unowned
# (kernels before persist), nft deleting a rule, flushing a chain, deleting
# the table or adding an accept rule is noticed, logged with the process,
# and repaired within a second — and a spoofed ARP reply (app's port
# claiming web's address; inet ztseg never sees ARP) is dropped again after
# each repair. --remove takes the
# table away. The controls: with no daemon running, the same rule deletion
# lets the spoofed ARP replies through, and so does --remove.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
SOCK=$ZT_TMP/ztsegd.sock
DN=0
daemon_start() {
	DN=$((DN + 1))
	DLOG=$ZT_TMP/ztsegd.$DN.log
	zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
		--socket-group nogroup --log-level info "$@"
	DPID=$ZT_BG_PID
	zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
}
daemon_stop() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	[[ $rc -eq 0 ]] || sed 's/^/#   /' "$DLOG" | tail -30
	return $rc
}
l2() { zt_l2_counter "$1"; }
quiet() { "$@" >/dev/null 2>&1; }
W2=$(zt_mac w2 eth0) A1=$(zt_mac a1 eth0)
zt_x w2 nft "add table netdev rx; add chain netdev rx c { type filter hook ingress device eth0 priority -500; }"
zt_x w2 nft "add counter netdev rx spoofed; add rule netdev rx c arp saddr ip ${ZT_V4[w1]} counter name spoofed"
rx() { zt_x w2 nft list counter netdev rx spoofed | sed -nE 's/.*packets ([0-9]+).*/\1/p'; }
# spoof: five ARP replies from a1's port (app) claiming w1's (web) IPv4 to
# w2 — only table bridge ztseg stands between them and w2's ARP cache.
spoof() {
	zt_forge a1 eth0 "$W2" 5 "ARP(op=2, hwsrc='$A1', psrc='${ZT_V4[w1]}', hwdst='$W2', pdst='${ZT_V4[w2]}')" >/dev/null
	sleep 0.2
}
# dropped WHEN: the spoofed ARP replies do not reach w2 and are counted in l2_spoof.
dropped() {
	local when=$1 r0 s0 r1 s1
	r0=$(rx) s0=$(l2 l2_spoof)
	spoof
	r1=$(rx) s1=$(l2 l2_spoof)
	zt_check "$when: spoofed ARP from app's port dropped (w2 got $((r1 - r0)), l2_spoof +$((s1 - ${s0:-0})))" \
		[ $((r1 - r0)) -eq 0 -a $((s1 - ${s0:-0})) -ge 5 ]
}

# ---- owned (kernel 6.9+ persist): nobody else may touch it --------------------
daemon_start
zt_check "table bridge ztseg is there" quiet zt_nft list table bridge ztseg
dropped "owned, as applied"
zt_check "owned: nft delete table bridge ztseg is refused" ! quiet zt_nft delete table bridge ztseg
zt_check "owned: nft flush chain bridge ztseg prerouting is refused" ! quiet zt_nft flush chain bridge ztseg prerouting
daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM"

# ---- unowned: the daemon repairs what another root tool does -----------------
daemon_start --no-owner
log_count() { grep -c "$1" "$DLOG" || true; }
more_than() { [ "$(log_count "$1")" -gt "$2" ]; }
tamper() { # WHAT COMMAND...
	local what=$1 n r t
	shift
	n=$(log_count 'tampering: table bridge ztseg .* by nft\[[0-9]*\]')
	r=$(log_count 'restored table.*table bridge ztseg written anew')
	zt_check "unowned: $what succeeds (nobody owns the table)" "$@"
	t=$(zt_now_ms)
	zt_wait_for 3000 more_than 'restored table.*table bridge ztseg written anew' "$r" || true
	t=$(($(zt_now_ms) - t))
	zt_check "unowned: $what is logged as tampering with table bridge ztseg and the process" \
		more_than 'tampering: table bridge ztseg .* by nft\[[0-9]*\]' "$n"
	zt_check "unowned: $what repaired within a second ($t ms)" \
		[ "$(log_count 'restored table.*table bridge ztseg written anew')" -gt "$r" -a "$t" -lt 1500 ]
	dropped "after $what and the repair"
}
dropped "unowned, as applied"
# the rule that binds a member port's ARP sender address to its segment's addresses
ch=arp_ip   # (marp: the sender MAC, then goto arp_ip: the host's addresses, then bind4)
h=$(zt_nft -a list chain bridge ztseg arp_ip | sed -nE '/@bind4/ s/.*# handle ([0-9]+)$/\1/p' | head -1)
echo "# the ARP sender binding: chain $ch, handle $h"
zt_check "the ARP sender binding rule is found (chain '$ch', handle '$h')" [ -n "$h" -a -n "$ch" ]
tamper "nft delete rule (the ARP sender binding)" quiet zt_nft delete rule bridge ztseg "$ch" handle "${h:-0}"
zt_check "the deleted rule is back" sh -c "nsenter --net=/run/netns/$(zt_ns host) nft list chain bridge ztseg '$ch' | grep -q bind4"
tamper "nft flush chain prerouting" quiet zt_nft flush chain bridge ztseg prerouting
tamper "nft delete table bridge ztseg" quiet zt_nft delete table bridge ztseg
tamper "nft add rule (accept everything first)" quiet zt_nft insert rule bridge ztseg prerouting accept
zt_check "the foreign accept rule is gone" \
	sh -c "! nsenter --net=/run/netns/$(zt_ns host) nft list chain bridge ztseg prerouting | grep -qx '[[:space:]]*accept'"
# The daemon-filled sets: their elements are written with the table, so a
# repair after one is emptied must bring them back (not only the rules).
hset() { nsenter --net=/run/netns/$(zt_ns host) nft list set bridge ztseg "$1" 2>/dev/null | grep -c "$2" || true; }
hmap() { nsenter --net=/run/netns/$(zt_ns host) nft list map bridge ztseg "$1" 2>/dev/null | grep -c "$2" || true; }
zt_check "hown4 holds the host's address on br0 ($ZT_HOST_V4)" [ "$(hset hown4 "$ZT_HOST_V4")" -ge 1 ]
tamper "nft flush set hown4 (the host's own addresses)" quiet zt_nft flush set bridge ztseg hown4
zt_check "hown4 holds the host's address again" [ "$(hset hown4 "$ZT_HOST_V4")" -ge 1 ]
pm=$(hmap port_srcx '"veth-')
zt_check "port_srcx holds the member ports by name ($pm)" [ "$pm" -ge 1 ]
tamper "nft flush map port_srcx (member ports by name)" quiet zt_nft flush map bridge ztseg port_srcx
zt_check "port_srcx holds them again ($(hmap port_srcx '"veth-') of $pm)" [ "$(hmap port_srcx '"veth-')" -eq "$pm" ]
zt_check "inet ztseg was left alone by these repairs (no tampering with it logged)" \
	[ "$(log_count 'tampering: table inet ztseg')" -eq 0 ]
tj=$("$ZT_CTL" --socket "$SOCK" status --json | python3 -c 'import json,sys; e = json.load(sys.stdin)["events"]; print(e["tamper"], e["repairs"])')
zt_check "status counts the tampering and the repairs ($tj)" [ "${tj% *}" -ge 6 -a "${tj#* }" -ge 6 ]
daemon_stop || zt_not_ok "ztsegd exited non-zero on SIGTERM"

# ---- --remove takes it away; the control --------------------------------------
zt_check "table bridge ztseg survives the daemon's exit" quiet zt_nft list table bridge ztseg
# The control for the repairs: nobody repairs now, and the same deletion opens the hole.
h=$(zt_nft -a list chain bridge ztseg arp_ip | sed -nE '/@bind4/ s/.*# handle ([0-9]+)$/\1/p' | head -1)
zt_nft delete rule bridge ztseg arp_ip handle "${h:-0}" || true
r0=$(rx)
spoof
zt_check "control, no daemon: with the binding rule deleted the spoofed ARP replies reach w2 ($(($(rx) - r0)))" \
	[ $(($(rx) - r0)) -ge 5 ]
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || true
zt_check "--remove: table bridge ztseg is gone" ! quiet zt_nft list table bridge ztseg
zt_check "--remove: table inet ztseg is gone" ! quiet zt_nft list table inet ztseg
r0=$(rx)
spoof
zt_check "control without ztseg: the spoofed ARP replies reach w2 ($(($(rx) - r0)))" [ $(($(rx) - r0)) -ge 5 ]
zt_finish
