#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Exact interface names the kernel hashes (lib/ifx.h): apply fills the
# twins of the pattern sets (route_ownx, src_ifx, …) from a link dump, so
# the per-packet path looks names up by hash; a link that appears later is
# not in them and must still be enforced by its pattern (fail closed):
# with ztsegd stopped a new vweb9 is web — its allowed flow passes, its
# denied flow and a spoofed source from it are dropped. Then ztsegd adds
# vweb9's name (and removes it when the link goes), with the same verdicts.
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
map_has() { # MAP NAME: the twin holds an element for NAME
	zt_nft list map inet ztseg "$1" | tr -d '\n' | grep -q "\"$2\" :"
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
for m in route_ownx src_ifx dst_ifx dst_ofx zone_ifx scope_ifx scope_ofx; do
	zt_check "oneshot: $m holds vweb1" map_has "$m" vweb1
done
zt_check "oneshot: src_ifx sends vweb1 to web's chain" \
	bash -c "nft_out=\$(nsenter --net=/run/netns/$(zt_ns host) nft list map inet ztseg src_ifx); grep -qE '\"vweb1\" : goto (from_|src_sub)' <<<\"\$nft_out\""
zt_check "oneshot: src_ifx sends uplink0 (no member) on to src_addr" \
	bash -c "nsenter --net=/run/netns/$(zt_ns host) nft list map inet ztseg src_ifx | grep -q '\"uplink0\" : goto src_addr'"
zt_check "oneshot: dst_ifx has no element for uplink0 (no member)" ! map_has dst_ifx uplink0
# The kernel finds them by the key a packet's interface name makes (nft encodes it).
get_el() { zt_nft get element inet ztseg "$1" "{ \"$2\" }" >/dev/null 2>&1; }
for m in route_ownx src_ifx dst_ifx scope_ifx; do
	zt_check "oneshot: the kernel finds vweb1 in $m by its name" get_el "$m" vweb1
done
zt_check "oneshot: the kernel finds no vweb1x in src_ifx" ! get_el src_ifx vweb1x
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
zt_check "stopped: vweb9 is in no twin" ! map_has src_ifx vweb9
zt_check "stopped: vweb9 is in no twin (route_ownx)" ! map_has route_ownx vweb9
verdicts web9 "unknown name, ztsegd stopped"
verdicts web8 "unknown name, address of no segment, ztsegd stopped"
zt_check "stopped: still no vweb9 in the twins (the patterns did it)" ! map_has scope_ifx vweb9

# ---- ztsegd: names follow the links ---------------------------------------------
DLOG=$ZT_TMP/daemon.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$ZT_TMP/ctl.sock" \
	--log-level info "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
wait_until 20 grep -q '^ztsegd: ready' "$DLOG" || { sed 's/^/#   /' "$DLOG"; zt_die "ztsegd did not get ready"; }
zt_check "daemon: vweb9 in every twin after start" \
	bash -c "for m in route_ownx src_ifx dst_ifx dst_ofx zone_ifx scope_ifx scope_ofx; do nsenter --net=/run/netns/$h nft list map inet ztseg \$m | tr -d '\n' | grep -q '\"vweb9\" :' || exit 1; done"
verdicts web9 "known name, ztsegd running"
verdicts web8 "known name, address of no segment, ztsegd running"
ip -n "$h" link add vweb7 type veth peer name vweb7p
zt_check "daemon: a new link's name is added (vweb7)" wait_until 3 map_has src_ifx vweb7
ip -n "$h" link del vweb7
zt_check "daemon: a deleted link's name is removed (vweb7)" wait_until 3 bash -c "! nsenter --net=/run/netns/$h nft list map inet ztseg src_ifx | grep -q vweb7"
ip -n "$h" link set vweb9 name vother9
zt_check "daemon: a renamed link: the new name in (vother9)" wait_until 3 map_has src_ifx vother9
zt_check "daemon: a renamed link: the old name out (vweb9)" wait_until 3 bash -c "! nsenter --net=/run/netns/$h nft list map inet ztseg src_ifx | grep -q vweb9"
zt_check "daemon: vother9 (no pattern) goes on to src_addr" \
	bash -c "nsenter --net=/run/netns/$h nft list map inet ztseg src_ifx | grep -q '\"vother9\" : goto src_addr'"
kill -TERM "$DPID"
wait "$DPID" || zt_not_ok "ztsegd exited with status $?"
zt_finish
