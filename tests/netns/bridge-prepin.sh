#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pre-pins of Docker-style bridges (issue 15, Build 2; doc/RULESET.md
# "Docker-style bridges", "Pre-pins"): a static FDB entry of a container's
# MAC on its port plus a permanent neighbour entry of the bridge for that
# MAC pin the container's address to its port before it sends anything,
# so a squatter cannot take it first.
#  - c1 (web) is silent; its port gets `bridge fdb add … master static`
#    and br0 `ip neigh add … nud permanent` for its IPv4 and IPv6
#    address: ztsegd writes pin4/pin6, claimed4/6 and has4/6; status says
#    `from: fdb` (JSON and text).
#  - c2 claims c1's addresses by gratuitous ARP, unsolicited NA and IP
#    source before c1 ever sent a frame: nothing reaches c1, l2_spoof
#    counts each; c1 then works (its own ARP/ND passes, allowed flows v4
#    and v6).
#  - Removing the neighbour entry (v4) and then the static FDB entry (v6)
#    releases each pre-pin; c2 can then claim the freed IPv4 address (its
#    forged ARP reaches c1).
#  - Control, dynamic entries do not pre-pin: c3 (db) with a dynamic FDB
#    entry and a permanent neighbour entry (v4), then a static FDB entry
#    with a reachable neighbour entry (v6): nothing pinned while c4's
#    pre-pin (static + permanent, same pass) is; c5 then claims c3's IPv4
#    address by ARP and it reaches c1.
#  - A live claim is not stolen: c5 claimed c3's IPv4 address on the wire;
#    a static FDB + permanent neighbour entry then naming c3's port leave
#    c5's claim (logged).
#  - A claim the port made on the wire before the entries stays its own
#    when they go (status: claim).
#  - A reload that writes the table anew keeps the pre-pins (status still
#    `fdb`); ztsegd started again takes the kept ones as its own (status
#    `fdb`, released when an entry goes); --oneshot pre-pins from a dump.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

ZT_WORKLOADS=(c1 c2 c3 c4 c5)
ZT_UPLINKS=()
ZT_NODES=("${ZT_WORKLOADS[@]}")
ZT_HOST_V4=198.51.100.1
ZT_HOST_V6=2001:db8:1::1
unset ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
declare -A ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
zt_node c1 "$(zt_bridge_rndname)" 198.51.100.10 2001:db8:1::a web
zt_node c2 "$(zt_bridge_rndname)" 198.51.100.11 2001:db8:1::b web
zt_node c3 "$(zt_bridge_rndname)" 198.51.100.26 2001:db8:1::1a db
zt_node c4 "$(zt_bridge_rndname)" 198.51.100.27 2001:db8:1::1b db
zt_node c5 "$(zt_bridge_rndname)" 198.51.100.28 2001:db8:1::1c db

zt_init
zt_need_py
pol=$ZT_TMP/policy
zt_policy_write "$pol" <<EOF
version: 1
hub:
  default: drop
  protect-host: true
  flows:
    - { from: web, to: host, ports: [tcp/22] }
    - { from: host, to: [web, db], ports: [icmp, icmpv6, tcp/80] }
$(zt_bridge_dsegs)
EOF
"$ZT_CTL" check --config "$pol" >/dev/null || zt_die "the policy does not pass check"

# ---- topology ----------------------------------------------------------------
zt_bridge_br0
H=$(zt_ns host)
# plug NODE: its veth on br0, eth0 inside still down (it sends nothing); up NODE: addresses, eth0 up
plug() { zt_bridge_plug "$1"; }
up() { zt_bridge_addrs "$1"; }
for n in c1 c2 c3 c4 c5; do
	zt_ns_add "$n"
	plug "$n"
done
up c2
up c3
up c5
mac() { zt_mac "$1" eth0 2>/dev/null; }
C1=$(mac c1) C2=$(mac c2) C3=$(mac c3) C4=$(mac c4) C5=$(mac c5)
serve() {
	: >"$ZT_TMP/recv-$1"
	zt_x "$1" "$ZT_SERVE" -t 22,80 -u 53 -r "$ZT_TMP/recv-$1" -d "$ZT_TMP/serve-$1.pid"
}
serve host
probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-1500}" | awk '{ print $2 }'; }
l2() { zt_l2_counter "$1"; }
fdb_static() { bridge -n "$H" fdb replace "$1" dev "$2" master static; }

# ---- ztsegd --------------------------------------------------------------------
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
listed() { local o; o=$(zt_x host nft list set bridge ztseg "$1" 2>/dev/null) && grep -qF -- "$2" <<<"$o"; }
pinned() { listed "$1" "$2 . \"$3\""; } # SET ADDR PORT
in_set() { local o; o=$(zt_x host nft list set bridge ztseg "$1" 2>/dev/null) && grep -q "\"$2\"" <<<"$o"; }
all_in() { for n in c1 c2 c3 c4 c5; do in_set dport "${ZT_IF[$n]}" || return 1; done; }
zt_check "the five ports are in dport" zt_wait_for 3000 all_in

# ---- c1 silent: static FDB + permanent neighbour entries pre-pin its addresses ----
fdb_static "$C1" "${ZT_IF[c1]}"
ip -n "$H" neigh replace "${ZT_V4[c1]}" lladdr "$C1" dev br0 nud permanent
ip -n "$H" -6 neigh replace "${ZT_V6[c1]}" lladdr "$C1" dev br0 nud permanent
pp1() { pinned pin4 "${ZT_V4[c1]}" "${ZT_IF[c1]}" && pinned pin6 "${ZT_V6[c1]}" "${ZT_IF[c1]}"; }
zt_check "pre-pin: pin4 and pin6 hold c1's addresses . ${ZT_IF[c1]} before c1 sent a frame" zt_wait_for 3000 pp1
zt_check "pre-pin: claimed4 and claimed6 hold them" \
	eval 'listed claimed4 "${ZT_V4[c1]}" && listed claimed6 "${ZT_V6[c1]}"'
zt_check "pre-pin: has4 and has6 hold c1's port" eval 'listed has4 "\"${ZT_IF[c1]}\"" && listed has6 "\"${ZT_IF[c1]}\""'
zt_check "ztsegd logged the pre-pin" grep -q "${ZT_IF[c1]}: ${ZT_V4[c1]} pinned from a static FDB entry" "$DLOG"
claims() { # NODE: "addr/from,addr/from" of its port's claims in status --json
	ctl status --json | python3 -c 'import json, sys
for p in json.load(sys.stdin).get("bridge_ports", []):
    if p.get("port") == sys.argv[1]:
        print(",".join(sorted(c["address"] + "/" + c["from"] for c in p.get("claimed", []))))' "${ZT_IF[$1]}"
}
want="${ZT_V4[c1]}/fdb,${ZT_V6[c1]}/fdb"
got=$(claims c1 2>&1 || true)
zt_check "status (JSON): c1's port claims '$got' (want '$want')" [ "$got" = "$want" ]
ctl status >"$ZT_TMP/status.txt" 2>&1 || true
sed -n '/^BRIDGE PORT/,/^$/p' "$ZT_TMP/status.txt" >&2
st_text() { grep -F "${ZT_IF[c1]}" "$ZT_TMP/status.txt" | grep -F "${ZT_V4[c1]} (fdb)" | grep -qF "${ZT_V6[c1]} (fdb)"; }
zt_check "status (text): c1's port with '${ZT_V4[c1]} (fdb)' and '${ZT_V6[c1]} (fdb)'" st_text

# ---- c2 squats c1's addresses before c1 ever spoke: ARP, NA, IP source --------------
# c1's eth0 comes up now (addresses without DAD: no NS for them); its counters watch
up c1
rx_add c1 att_arp "ether saddr $C2 arp saddr ip ${ZT_V4[c1]}"
rx_add c1 att_na "ip6 saddr fe80::1:2 icmpv6 type nd-neighbor-advert"
rx_add c1 att_ip4 "ip saddr ${ZT_V4[c1]} udp dport 9999"
rx_add c1 att_ip6 "ip6 saddr ${ZT_V6[c1]} udp dport 9999"
# each kind alone, IP sources first (without a pin they would be l2_unbound, not l2_spoof;
# a first ARP/NA would claim the address for c2): 2 frames each, dropped and counted
forge() { # KIND
	case $1 in
	ip4) zt_forge c2 eth0 "$C1" 2 "IP(src='${ZT_V4[c1]}', dst='${ZT_V4[c1]}')/UDP(sport=53, dport=9999)" ;;
	ip6) zt_forge c2 eth0 "$C1" 2 "IPv6(src='${ZT_V6[c1]}', dst='${ZT_V6[c1]}')/UDP(sport=53, dport=9999)" ;;
	arp) zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 \
		"ARP(op=2, hwsrc='$C2', psrc='${ZT_V4[c1]}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${ZT_V4[c1]}')" ;;
	na) zt_forge c2 eth0 33:33:00:00:00:01 2 \
		"IPv6(src='fe80::1:2', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='${ZT_V6[c1]}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$C2')" ;;
	esac >/dev/null
	sleep 0.3
}
for k in ip4 ip6 arp na; do
	s0=$(l2 l2_spoof)
	forge "$k"
	s1=$(l2 l2_spoof)
	zt_check "c2 squats c1's address ($k) before c1 spoke: dropped ($(rx c1 "att_$k") reached c1), counted (l2_spoof $s0 -> $s1)" \
		eval '[ "$(rx c1 "att_$k")" -eq 0 ] && [ "$((s1 - s0))" -ge 2 ]'
done
zt_check "c2 pinned nothing of c1's: pin4 and pin6 still name c1's port only" \
	eval '! listed pin4 "${ZT_V4[c1]} . \"${ZT_IF[c2]}\"" && ! listed pin6 "${ZT_V6[c1]} . \"${ZT_IF[c2]}\"" && pp1'
zt_check "c1 works: web -> host tcp/22 (IPv4)" [ "$(probe c1 tcp "$ZT_HOST_V4" 22)" = ok ]
zt_check "c1 works: web -> host tcp/22 (IPv6)" [ "$(probe c1 tcp "$ZT_HOST_V6" 22)" = ok ]
serve c1
zt_check "c1 works: host -> web tcp/80 (IPv4)" [ "$(probe host tcp "${ZT_V4[c1]}" 80)" = ok ]
zt_check "c1 works: host -> web tcp/80 (IPv6)" [ "$(probe host tcp "${ZT_V6[c1]}" 80)" = ok ]
got=$(claims c1 2>&1 || true)
zt_check "status after c1's own traffic: still '$got' (want '$want')" [ "$got" = "$want" ]

# ---- removal releases: the neighbour entry (v4), then the static FDB entry (v6) ----
ip -n "$H" neigh del "${ZT_V4[c1]}" dev br0
rel4() { ! listed pin4 "${ZT_V4[c1]}" && ! listed claimed4 "${ZT_V4[c1]}" && ! listed has4 "\"${ZT_IF[c1]}\""; }
zt_check "neighbour entry removed: c1's IPv4 pre-pin released (pin4, claimed4, has4)" zt_wait_for 3000 rel4
zt_check "and its IPv6 pre-pin stays (the FDB entry and the v6 neighbour entry are there)" \
	pinned pin6 "${ZT_V6[c1]}" "${ZT_IF[c1]}"
got=$(claims c1 2>&1 || true)
zt_check "status: c1's port claims '$got' (want '${ZT_V6[c1]}/fdb')" [ "$got" = "${ZT_V6[c1]}/fdb" ]
bridge -n "$H" fdb del "$C1" dev "${ZT_IF[c1]}" master
rel6() { ! listed pin6 "${ZT_V6[c1]}" && ! listed claimed6 "${ZT_V6[c1]}" && ! listed has6 "\"${ZT_IF[c1]}\""; }
zt_check "static FDB entry removed: c1's IPv6 pre-pin released (pin6, claimed6, has6)" zt_wait_for 3000 rel6
zt_check "ztsegd logged the releases" grep -q "${ZT_IF[c1]}: ${ZT_V6[c1]} released" "$DLOG"
# released means free: c2's gratuitous ARP for c1's IPv4 address now claims it, and reaches c1
rx_add c1 rel_arp "ether saddr $C2 arp saddr ip ${ZT_V4[c1]}"
zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 \
	"ARP(op=2, hwsrc='$C2', psrc='${ZT_V4[c1]}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${ZT_V4[c1]}')" >/dev/null
sleep 0.3
zt_check "released: c2's ARP for c1's IPv4 address now reaches c1 ($(rx c1 rel_arp)) and claims it" \
	eval '[ "$(rx c1 rel_arp)" -ge 1 ] && pinned pin4 "${ZT_V4[c1]}" "${ZT_IF[c2]}"'

# ---- control: dynamic entries do not pre-pin ------------------------------------
# c3: a dynamic FDB entry + a permanent neighbour entry (v4), then a static FDB entry + a
# reachable (learned) neighbour entry (v6): neither pre-pins. c4 in the same pass each
# time (static + permanent): when its pre-pin is there, ztsegd has read c3's entries too.
bridge -n "$H" fdb replace "$C3" dev "${ZT_IF[c3]}" master dynamic
ip -n "$H" neigh replace "${ZT_V4[c3]}" lladdr "$C3" dev br0 nud permanent
fdb_static "$C4" "${ZT_IF[c4]}"
ip -n "$H" neigh replace "${ZT_V4[c4]}" lladdr "$C4" dev br0 nud permanent
zt_check "control: c4's pre-pin (static + permanent) is written" zt_wait_for 3000 pinned pin4 "${ZT_V4[c4]}" "${ZT_IF[c4]}"
zt_check "control: a dynamic FDB entry + a permanent neighbour entry pre-pin nothing (${ZT_V4[c3]})" \
	! listed claimed4 "${ZT_V4[c3]}"
ip -n "$H" neigh del "${ZT_V4[c3]}" dev br0
bridge -n "$H" fdb del "$C3" dev "${ZT_IF[c3]}" master 2>/dev/null || true
fdb_static "$C3" "${ZT_IF[c3]}"
ip -n "$H" -6 neigh replace "${ZT_V6[c3]}" lladdr "$C3" dev br0 nud reachable
ip -n "$H" -6 neigh replace "${ZT_V6[c4]}" lladdr "$C4" dev br0 nud permanent
zt_check "control: c4's IPv6 pre-pin is written" zt_wait_for 3000 pinned pin6 "${ZT_V6[c4]}" "${ZT_IF[c4]}"
zt_check "control: a static FDB entry + a reachable neighbour entry pre-pin nothing (${ZT_V6[c3]})" \
	! listed claimed6 "${ZT_V6[c3]}"
# c3's IPv4 address was never pre-pinned: c5's ARP for it reaches c1, and c5 claims it
bridge -n "$H" fdb del "$C3" dev "${ZT_IF[c3]}" master
rx_add c1 ctl_arp "ether saddr $C5 arp saddr ip ${ZT_V4[c3]}"
zt_forge c5 eth0 ff:ff:ff:ff:ff:ff 2 \
	"ARP(op=2, hwsrc='$C5', psrc='${ZT_V4[c3]}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${ZT_V4[c3]}')" >/dev/null
sleep 0.3
zt_check "control: c5's ARP for c3's address (never pre-pinned) reaches c1 ($(rx c1 ctl_arp)); c5 claims it" \
	eval '[ "$(rx c1 ctl_arp)" -ge 1 ] && pinned pin4 "${ZT_V4[c3]}" "${ZT_IF[c5]}"'

# ---- a live claim is not stolen ---------------------------------------------------
fdb_static "$C3" "${ZT_IF[c3]}"
ip -n "$H" neigh replace "${ZT_V4[c3]}" lladdr "$C3" dev br0 nud permanent
conflict_logged() { grep -q "${ZT_IF[c3]}: the static FDB and neighbour entries give it ${ZT_V4[c3]}, but port ${ZT_IF[c5]} holds" "$DLOG"; }
zt_check "static + permanent entries naming c3 for an address c5 claimed live: logged" zt_wait_for 3000 conflict_logged
zt_check "and c5's claim is left: pin4 holds ${ZT_V4[c3]} . ${ZT_IF[c5]}, not c3's port" \
	eval 'pinned pin4 "${ZT_V4[c3]}" "${ZT_IF[c5]}" && ! pinned pin4 "${ZT_V4[c3]}" "${ZT_IF[c3]}"'

# ---- a claim the port made on the wire first stays its own -------------------------
# c2 claimed c1's old IPv4 address by ARP above; entries naming c2 for it change nothing,
# and removing them does not take c2's own claim away
fdb_static "$C2" "${ZT_IF[c2]}"
ip -n "$H" neigh replace "${ZT_V4[c1]}" lladdr "$C2" dev br0 nud permanent
wire_logged() { grep -q "${ZT_IF[c2]}: ${ZT_V4[c1]} was already claimed on the wire" "$DLOG"; }
zt_check "entries agreeing with a wire claim: logged as the port's own" zt_wait_for 3000 wire_logged
got=$(claims c2 2>&1 || true)
zt_check "status: c2's port claims '$got' (want '${ZT_V4[c1]}/claim')" [ "$got" = "${ZT_V4[c1]}/claim" ]
ip -n "$H" neigh del "${ZT_V4[c1]}" dev br0
bridge -n "$H" fdb del "$C2" dev "${ZT_IF[c2]}" master
sleep 1
zt_check "entries removed: c2's own claim stays (pin4 holds ${ZT_V4[c1]} . ${ZT_IF[c2]})" \
	pinned pin4 "${ZT_V4[c1]}" "${ZT_IF[c2]}"

# ---- a reload that writes the table anew keeps the pre-pins -------------------------
sed -i 's|198.51.100.24/29, "2001:db8:1::18/125"|198.51.100.24/29, 198.51.100.40/29, "2001:db8:1::18/125"|' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
table_has() { local o; o=$(zt_x host nft list table bridge ztseg 2>/dev/null) && grep -qF -- "$1" <<<"$o"; }
kept() { table_has 198.51.100.40 && pinned pin4 "${ZT_V4[c4]}" "${ZT_IF[c4]}" && pinned pin6 "${ZT_V6[c4]}" "${ZT_IF[c4]}"; }
zt_check "reload (table written anew): c4's pre-pins are kept" zt_wait_for 3000 kept
want4="${ZT_V4[c4]}/fdb,${ZT_V6[c4]}/fdb"
got=$(claims c4 2>&1 || true)
zt_check "status after the reload: c4's port claims '$got' (want '$want4')" [ "$got" = "$want4" ]
kill -TERM "$DPID"
drc=0
wait "$DPID" || drc=$?
zt_check "ztsegd stops with status 0" [ "$drc" -eq 0 ]

# ---- ztsegd started again: pre-pins the table kept are its own (entries still there) ----
zt_bg host "$DLOG.2" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG.2" || { cat "$DLOG.2"; zt_die "ztsegd did not get ready"; }
got=$(claims c4 2>&1 || true)
zt_check "restarted ztsegd: c4's port claims '$got' (want '$want4')" [ "$got" = "$want4" ]
ip -n "$H" neigh del "${ZT_V4[c4]}" dev br0
zt_check "restarted ztsegd: c4's neighbour entry removed releases its IPv4 pre-pin" \
	zt_wait_for 3000 eval '! listed pin4 "${ZT_V4[c4]}" && ! listed claimed4 "${ZT_V4[c4]}"'
ip -n "$H" neigh replace "${ZT_V4[c4]}" lladdr "$C4" dev br0 nud permanent
zt_check "and added again pre-pins it again" zt_wait_for 3000 pinned pin4 "${ZT_V4[c4]}" "${ZT_IF[c4]}"
# c4, pre-pinned for IPv4 only, claims its own IPv6 address on the wire: a pre-pin ties
# the port to its address's segment (ps_) as a first claim does, so the claim is allowed
ip -n "$H" -6 neigh del "${ZT_V6[c4]}" dev br0
zt_check "c4's IPv6 neighbour entry removed releases its IPv6 pre-pin" zt_wait_for 3000 eval '! listed pin6 "${ZT_V6[c4]}"'
zt_x c4 ip link set eth0 up
zt_forge c4 eth0 33:33:00:00:00:01 1 \
	"IPv6(src='fe80::4:4', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='${ZT_V6[c4]}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$C4')" >/dev/null
zt_check "c4, pre-pinned for IPv4 only, claims its own IPv6 address by NA" zt_wait_for 2000 pinned pin6 "${ZT_V6[c4]}" "${ZT_IF[c4]}"
ip -n "$H" -6 neigh replace "${ZT_V6[c4]}" lladdr "$C4" dev br0 nud permanent
kill -TERM "$DPID"
wait "$DPID" || true

# ---- --oneshot pre-pins from a dump ---------------------------------------------------
zt_x host nft delete table bridge ztseg 2>/dev/null || true
zt_x host "$ZT_D" --oneshot --config "$pol" --state-dir "$ZT_TMP/state1" >"$ZT_TMP/oneshot.txt" 2>&1 ||
	{ cat "$ZT_TMP/oneshot.txt"; zt_die "ztsegd --oneshot failed"; }
zt_check "--oneshot: c4's addresses pre-pinned from a dump (pin4, pin6)" \
	eval 'pinned pin4 "${ZT_V4[c4]}" "${ZT_IF[c4]}" && pinned pin6 "${ZT_V6[c4]}" "${ZT_IF[c4]}"'
zt_check "--oneshot says so" grep -q "pre-pinned from static FDB and neighbour entries" "$ZT_TMP/oneshot.txt"
# the sanitizer's reports, when built with ASAN=1 (ZTSEG_BUILD=build-asan)
zt_check "no sanitizer report in ztsegd's logs" ! grep -q "Sanitizer" "$DLOG" "$DLOG.2" "$ZT_TMP/oneshot.txt"
zt_finish
