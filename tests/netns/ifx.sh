#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Exact interface names the kernel hashes (lib/ifx.h): apply fills the
# twins of the pattern sets (route_ownx, member_ifx, …) from a link dump, so
# the per-packet path looks names up by hash; a link that appears later is
# not in them and must still be enforced by its pattern (fail closed):
# with ztsegd stopped a new vweb9 is web — its allowed flow passes, its
# denied flow and a spoofed source from it are dropped. Then ztsegd adds
# vweb9's name (and removes it when the link goes), with the same verdicts;
# an encrypted link's name goes to enc_if and the twins in one transaction.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_init
zt_up
pol=$(zt_policy ifx)
zt_serve web1 app1 db1 internet

wait_until() { # SECONDS COMMAND...
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.05
	done
}
probe() { # NODE PROTO DST PORT: one zt-probe result word
	echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 1000 | awk '{ print $2 }'
}
# The kernel finds an element by the key a packet's interface name makes (nft encodes it).
has() { # TWIN NAME: the twin holds an element for NAME
	zt_nft get element inet ztseg "$1" "{ \"$2\" }" >/dev/null 2>&1
}
# twins_are NAME "TWIN..." "TWIN...": NAME is in each of the first and in none of the second
twins_are() {
	local m
	for m in $2; do has "$m" "$1" || return 1; done
	for m in $3; do ! has "$m" "$1" || return 1; done
}
ALL="route_ownx dst_ifx member_ifx member_ifn zone_ifx zone_ifn"
MEMBER="route_ownx dst_ifx member_ifx zone_ifx"
# route_ownx's verdict for NAME: accept (a member's) or return
route_verdict() {
	zt_nft list map inet ztseg route_ownx | tr -d '\n' | grep -oE "\"$1\" : [a-z]+" | awk '{ print $3 }'
}
# No twin element jumps or goes to a chain: one would make the kernel
# validate the whole table in the commit of every new link.
no_chain_verdicts() {
	! zt_nft list table inet ztseg | awk '/^\t(set|map) (route_ownx|dst_ifx|member_ifx|member_ifn|zone_ifx|zone_ifn|sub_ifx) \{/ { t = 1 } t { print } /^\t}/ { t = 0 }' |
		grep -qE 'goto|jump'
}
# verdicts NODE CASE: NODE's flows to and from web's neighbours as explain
# (the patterns) judges them, and a spoofed source from it.
verdicts() {
	local n=$1 what=$2 fam s0 s1 src dst port want got
	for fam in 4 6; do
		for c in "$n app1 8080" "$n db1 5432" "internet $n 80" "internet $n 5432" "app1 $n 8080"; do
			read -r src dst port <<<"$c"
			want=timeout
			! zt_explain "$pol" "$(zt_endpoint "$src" $fam)" "$(zt_endpoint "$dst" $fam)" "tcp/$port" \
				>/dev/null || want=ok
			got=$(probe "$src" tcp "$(zt_addr "$dst" $fam)" "$port")
			zt_check "$what IPv$fam: $src -> $dst tcp/$port: $got, as explain says ($want)" [ "$got" = "$want" ]
		done
	done
	s0=$(zt_counter spoofs)
	echo "1 spoof $(zt_addr app1 4) $(zt_addr db1 4) 53" | zt_x "$n" "$ZT_PROBE" batch -c 2 >/dev/null || true
	s1=$(zt_counter spoofs)
	zt_check "$what: $n sending as app1 is dropped as spoofed (spoofs $s0 -> $s1)" [ "$s1" -ge $((s0 + 2)) ]
}

# ---- --oneshot fills the twins from its link dump -----------------------------
zt_apply "$pol" >/dev/null
zt_check "oneshot: vweb1 (web) is in route_ownx dst_ifx member_ifx zone_ifx, not member_ifn zone_ifn" \
	twins_are vweb1 "$MEMBER" "member_ifn zone_ifn"
zt_check "oneshot: uplink0 (internet's) is in member_ifn zone_ifx route_ownx only" \
	twins_are uplink0 "member_ifn zone_ifx route_ownx" "dst_ifx member_ifx zone_ifn"
zt_check "oneshot: lo (no zone) is in member_ifn zone_ifn route_ownx only" \
	twins_are lo "member_ifn zone_ifn route_ownx" "dst_ifx member_ifx zone_ifx"
zt_check "oneshot: route_ownx accepts vweb1 (a member's)" [ "$(route_verdict vweb1)" = accept ]
zt_check "oneshot: route_ownx returns uplink0 (no member's) to spoof_addr" [ "$(route_verdict uplink0)" = return ]
zt_check "oneshot: the kernel finds no vweb1x in any twin" twins_are vweb1x "" "$ALL"
zt_check "oneshot: no twin element jumps or goes to a chain" no_chain_verdicts
verdicts web1 "known name"

# ---- a new interface with ztsegd stopped: the patterns decide ---------------
h=$(zt_ns host)
# web8's addresses are no static prefix of web's: only its interface makes it web.
zt_ns_add web9
zt_node web9 vweb9 198.51.100.9 2001:db8:0:1::9 web
zt_workload_link "$h" "$(zt_ns web9)" web9
zt_ns_add web8
zt_node web8 vweb8 192.0.2.200 2001:db8:0:9::8 web
zt_workload_link "$h" "$(zt_ns web8)" web8
zt_serve web9 web8
zt_check "stopped: vweb9 is in no twin" twins_are vweb9 "" "$ALL"
verdicts web9 "unknown name, ztsegd stopped"
verdicts web8 "unknown name, address of no segment, ztsegd stopped"
zt_check "stopped: still no vweb9 in the twins (the patterns did it)" twins_are vweb9 "" "$ALL"

# ---- ztsegd: names follow the links ---------------------------------------------
DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$ZT_TMP/ctl.sock" \
	--log-level info "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
wait_until 20 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not get ready"; }
zt_check "daemon: vweb9 in web's twins after start" twins_are vweb9 "$MEMBER" "member_ifn zone_ifn"
verdicts web9 "known name, ztsegd running"
verdicts web8 "known name, address of no segment, ztsegd running"
ip -n "$h" link add vweb7 type veth peer name vweb7p
zt_check "daemon: a new link's name is added (vweb7)" wait_until 3 twins_are vweb7 "$MEMBER" "member_ifn zone_ifn"
zt_check "daemon: still no twin element jumps or goes to a chain" no_chain_verdicts
ip -n "$h" link del vweb7
zt_check "daemon: a deleted link's name is removed (vweb7)" wait_until 3 twins_are vweb7 "" "$ALL"
ip -n "$h" link set vweb9 name vother9
zt_check "daemon: a renamed link: the new name in (vother9, no pattern)" \
	wait_until 3 twins_are vother9 "member_ifn zone_ifn route_ownx" "dst_ifx member_ifx zone_ifx"
zt_check "daemon: a renamed link: the old name out (vweb9)" wait_until 3 twins_are vweb9 "" "$ALL"
zt_check "daemon: route_ownx returns vother9 (no pattern) to spoof_addr" [ "$(route_verdict vother9)" = return ]
verdicts web1 "known name, after the rename"

# ---- one transaction per event -----------------------------------------------
# An encrypted link (wg*, veth trusted here) changes enc_if and the twins: one
# commit, not one per set, since every commit costs the kernel a walk of every
# chain in the namespace (doc/RULESET.md, "What a commit costs"). The peer
# goes to web8's namespace, so the host sees one link come and go.
MON=$ZT_TMP/monitor.log
zt_bg host "$MON" nft monitor
MPID=$ZT_BG_PID
gens() { grep -c '^# new generation .*(ztsegd)' "$MON" || true; }
sleep 0.5	# nft monitor prints nothing until a commit: time to subscribe
g0=$(gens)
ip -n "$h" link add wg7 type veth peer name wg7p netns "$(zt_ns web8)"
zt_check "daemon: a new encrypted link is in enc_if (wg7)" wait_until 3 has enc_if wg7
zt_check "daemon: and in the twins (wg7, no pattern)" \
	wait_until 3 twins_are wg7 "member_ifn zone_ifn route_ownx" "dst_ifx member_ifx zone_ifx"
sleep 0.5
g1=$(gens)
zt_check "daemon: enc_if and the twins took one transaction ($g0 -> $g1 generations)" [ "$g1" -eq $((g0 + 1)) ]
ip -n "$h" link del wg7
zt_check "daemon: a deleted encrypted link leaves enc_if (wg7)" wait_until 3 eval '! has enc_if wg7'
zt_check "daemon: and the twins (wg7)" wait_until 3 twins_are wg7 "" "$ALL"
sleep 0.5
g2=$(gens)
zt_check "daemon: its removal took one transaction too ($g1 -> $g2 generations)" [ "$g2" -eq $((g1 + 1)) ]
kill "$MPID" 2>/dev/null || true
kill -TERM "$DPID"
wait "$DPID" || zt_not_ok "ztsegd exited with status $?"
zt_finish
