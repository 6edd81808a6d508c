#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Bindings learned from the kernel (issue 14 Build §3): ztsegd follows the
# bridge's FDB and the bridge's neighbour table over rtnetlink.
#  - A static FDB entry (`bridge fdb add MAC dev PORT master static`, as an
#    administrator or libvirt adds it) pins the member port's MAC before its
#    first frame: a first frame from another MAC is dropped (a port without
#    the entry, the control, binds whatever its first frame says); a
#    first-frame binding of another MAC gives way to a pin; the entry's
#    removal unpins.
#  - Neighbour entries of the bridge (real ARP and ND from the host) whose
#    MAC is a port's bound MAC show in status as that port's addresses
#    ("from": "neighbour"); they do not narrow what the port may send
#    within its segment (doc/RULESET.md).
#  - A table written anew (a reload that changes it) gets the pins again.
#  - A port that goes away takes its bindings with it: status and pmac
#    lose it, and a new port of that name binds by its own first frame.
#  - --oneshot pins from a dump.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
zt_need_py
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
H=$(zt_ns host)
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }

l2() { zt_l2_counter "$1"; }
rx_add() {
	local n=$1 name=$2
	shift 2
	zt_x "$n" nft list table netdev rx >/dev/null 2>&1 ||
		zt_x "$n" nft "add table netdev rx; add chain netdev rx c { type filter hook ingress device eth0 priority -500; }"
	zt_x "$n" nft "add counter netdev rx $name; add rule netdev rx c $* counter name $name"
}
rx() { zt_x "$1" nft list counter netdev rx "$2" | sed -nE 's/.*packets ([0-9]+).*/\1/p'; }
status() { ctl status --json >"$ZT_TMP/status.json"; }
# bp PORT EXPR [ARG]: EXPR about status' bridge_ports entry of PORT (p; {} when absent; the argument a)
bp() {
	status
	python3 -c "import json, sys; j = json.load(open(sys.argv[1])); p = [x for x in j.get('bridge_ports', []) if x['port'] == sys.argv[2]]; p = p[0] if p else {}; a = sys.argv[3]; print($2)" "$ZT_TMP/status.json" "$1" "${3:-}"
}
# bp_is PORT EXPR WANT: bp's answer is WANT (for zt_wait_for)
bp_is() { [ "$(bp "$1" "$2")" = "$3" ]; }
# (the listing read whole first: grep -q quitting early would fail the pipe under pipefail)
pmac_has() { local o; o=$(zt_nft list set bridge ztseg pmac); grep -qE "$1" <<<"$o"; }
phas_has() { local o; o=$(zt_nft list set bridge ztseg phas); grep -qE "$1" <<<"$o"; }
not() { ! "$@"; }
rx_ge() { [ "$(rx "$1" "$2")" -ge "$3" ]; }
# new_port NODE PORT V4: a workload namespace NODE behind a new port PORT of br0, its eth0 still down
new_port() {
	local n=$1 p=$2 ns
	zt_ns_add "$n"
	ns=$(zt_ns "$n")
	ip -n "$H" link add "$p" type veth peer name eth0 netns "$ns"
	# no frames of its own (IPv6 router solicitations, MLD): a forged frame can be its first
	zt_x "$n" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6'
	ip -n "$ns" addr add "$3/24" dev eth0
	ip -n "$H" link set "$p" master br0 up
}
# port_up NODE PORT: the workload's eth0 up (its first frames go out), the port forwarding
port_up() {
	ip -n "$(zt_ns "$1")" link set eth0 up
	zt_wait_for 3000 sh -c "bridge -n $H link show dev $2 | grep -q 'state forwarding'" || true
}
A1=$(zt_mac a1 eth0)
FOREIGN=02:00:00:00:77:77
# frame NODE SRC-MAC SPORT: web -> app udp/53 (a flow) from NODE with its web address, Ethernet source SRC-MAC
frame() {
	zt_forge "$1" eth0 - 1 "Ether(src='$2', dst='$A1')/IP(src='$4', dst='${ZT_V4[a1]}')/UDP(sport=$3, dport=53)" >/dev/null
}

# ---- a static FDB entry pins the port's MAC before its first frame ----------------
new_port h7 vnet7 198.51.100.12
M7=$(zt_mac h7 eth0)
bridge -n "$H" fdb replace "$M7" dev vnet7 master static
zt_check "status: vnet7's MAC $M7 is pinned from the FDB within 2 s" \
	zt_wait_for 2000 bp_is vnet7 'p.get("mac"), p.get("mac_from")' "$M7 fdb"
zt_check "pmac: vnet7 . $M7 is there with the pin's timeout (365d)" pmac_has "\"vnet7\" . $M7 timeout 365d"
port_up h7 vnet7
kill -0 "$DPID" 2>/dev/null || { cat "$DLOG"; zt_die "ztsegd died"; }
rx_add a1 p7 "ip saddr 198.51.100.12 udp sport 7001"
rx_add a1 p7ok "ip saddr 198.51.100.12 udp sport 7002"
s0=$(l2 l2_spoof)
frame h7 "$FOREIGN" 7001 198.51.100.12
frame h7 "$FOREIGN" 7001 198.51.100.12
s1=$(l2 l2_spoof)
zt_check "vnet7: a first frame from a foreign MAC is dropped and counted (+$((s1 - s0)))" [ $((s1 - s0)) -ge 2 ]
zt_check "vnet7: it did not reach a1 ($(rx a1 p7))" [ "$(rx a1 p7)" -eq 0 ]
frame h7 "$M7" 7002 198.51.100.12
zt_wait_for 1000 rx_ge a1 p7ok 1 || true
zt_check "vnet7: a frame from its pinned MAC reaches a1 (web -> app udp/53) ($(rx a1 p7ok))" [ "$(rx a1 p7ok)" -ge 1 ]

# control: a port without an FDB entry binds whatever its first frame says
new_port h8 vnet8 198.51.100.13
M8=$(zt_mac h8 eth0)
rx_add a1 p8 "ip saddr 198.51.100.13 udp sport 7003"
rx_add a1 p8ok "ip saddr 198.51.100.13 udp sport 7004"
ip -n "$(zt_ns h8)" link set eth0 up
zt_wait_for 3000 sh -c "bridge -n $H link show dev vnet8 | grep -q 'state forwarding'" || true
frame h8 "$FOREIGN" 7003 198.51.100.13
zt_wait_for 1000 rx_ge a1 p8 1 || true
zt_check "control vnet8 (no FDB entry): the foreign first frame binds and passes ($(rx a1 p8))" [ "$(rx a1 p8)" -ge 1 ]
frame h8 "$M8" 7004 198.51.100.13
zt_check "control vnet8: then its real MAC is the spoofed one ($(rx a1 p8ok))" [ "$(rx a1 p8ok)" -eq 0 ]
zt_check "status: vnet8's MAC is the first frame's ($(bp vnet8 'p.get("mac"), p.get("mac_from")'))" \
	[ "$(bp vnet8 'p.get("mac"), p.get("mac_from")')" = "$FOREIGN first frame" ]

# a pin replaces a first-frame binding of another MAC
t0=$(zt_now_ms)
bridge -n "$H" fdb replace "$M8" dev vnet8 master static
zt_wait_for 2000 pmac_has "\"vnet8\" . $M8 timeout 365d" || true
echo "# static FDB entry added -> pinned in pmac: $(($(zt_now_ms) - t0)) ms (nft listing polled every 20 ms)"
zt_check "status: vnet8's static entry replaces the first-frame binding" \
	zt_wait_for 2000 bp_is vnet8 'p.get("mac"), p.get("mac_from"), len(p.get("macs", []))' "$M8 fdb 1"
frame h8 "$M8" 7004 198.51.100.13
zt_wait_for 1000 rx_ge a1 p8ok 1 || true
zt_check "vnet8: its real MAC passes now ($(rx a1 p8ok))" [ "$(rx a1 p8ok)" -ge 1 ]
c0=$(rx a1 p8)
frame h8 "$FOREIGN" 7003 198.51.100.13
zt_check "vnet8: the foreign MAC does not ($(rx a1 p8) after $c0)" [ "$(rx a1 p8)" -eq "$c0" ]

# a dynamic FDB entry pins nothing (learned from frames ztseg let through, or before it ran)
zt_check "the bridge learned w1's MAC dynamically; status says its binding is the first frame's" \
	[ "$(bp vnet0 'p.get("mac_from")')" != fdb ]

# ---- neighbour entries: the host's ARP and ND towards w1 and vnet7 -------------------
ping() { echo "1 $1 - $2 0" | zt_x "$3" "$ZT_PROBE" batch -w 800 | awk '{ print $2 }'; }
zt_check "host -> w1 ICMP (ARP)" [ "$(ping icmp "${ZT_V4[w1]}" host)" = ok ]
zt_check "host -> w1 ICMPv6 (ND)" [ "$(ping icmpv6 "${ZT_V6[w1]}" host)" = ok ]
ping icmp 198.51.100.12 host >/dev/null || true
zt_check "status: vnet0 learned w1's IPv4 and IPv6 addresses from the neighbour table" \
	zt_wait_for 2000 bp_is vnet0 'sorted((l["address"], l["from"]) for l in p.get("learned", []) if not l["address"].startswith("fe80:"))' "[('198.51.100.10', 'neighbour'), ('2001:db8:1::a', 'neighbour')]"
zt_check "status: vnet7 learned 198.51.100.12 (its pinned MAC's neighbour entry): $(bp vnet7 '[l["address"] for l in p.get("learned", [])]')" \
	[ "$(bp vnet7 '"198.51.100.12" in [l["address"] for l in p.get("learned", [])]')" = True ]
zt_check "status: vnet1 learned no global address (the host never talked to w2): $(bp vnet1 '[l["address"] for l in p.get("learned", [])]')" \
	[ "$(bp vnet1 '[l["address"] for l in p.get("learned", []) if not l["address"].startswith("fe80:")]')" = "[]" ]
zt_check "status: vnet7's bindings, each with where it came from: $(bp vnet7 'sorted((b["kind"], b["value"], b["from"]) for b in p.get("bindings", []) if not b["value"].startswith("fe80:"))')" \
	[ "$(bp vnet7 'sorted((b["kind"], b["value"], b["from"]) for b in p.get("bindings", []) if not b["value"].startswith("fe80:"))')" = \
	  "[('address', '198.51.100.12', 'neighbour'), ('address', '198.51.100.8/29', 'policy'), ('address', '2001:db8:1::8/125', 'policy'), ('mac', '$M7', 'fdb')]" ]
ctl status >"$ZT_TMP/status.txt"
zt_check "status (text): vnet7 with its MAC, 'fdb' and the learned address" \
	grep -qE "^vnet7 +br0 +web +$M7 +fdb .*198\.51\.100\.12 \(neighbour\)" "$ZT_TMP/status.txt"
zt_check "status (text): vnet0 with 'first frame' and its learned IPv6 address" \
	grep -qE "^vnet0 +br0 +web +[0-9a-f:]+ +first frame .*2001:db8:1::a \(neighbour\)" "$ZT_TMP/status.txt"
# Documented: a learned address does not narrow the port within its segment.
rx_add a1 w1alt "ip saddr 198.51.100.9 udp sport 7005"
zt_forge w1 eth0 "$A1" 1 "IP(src='198.51.100.9', dst='${ZT_V4[a1]}')/UDP(sport=7005, dport=53)" >/dev/null
zt_wait_for 1000 rx_ge a1 w1alt 1 || true
zt_check "documented: w1 may still use another of web's addresses (198.51.100.9) ($(rx a1 w1alt))" [ "$(rx a1 w1alt)" -ge 1 ]
zt_x host ip neigh flush dev br0
zt_check "neighbour entries flushed: vnet0's learned addresses go" \
	zt_wait_for 2000 bp_is vnet0 'p.get("learned")' "[]"

# ---- the static entry removed: unpinned; added again: pinned again -----------------
bridge -n "$H" fdb del "$M7" dev vnet7 master static
zt_check "vnet7's entry removed: pmac has no pin of vnet7" \
	zt_wait_for 2000 not pmac_has "\"vnet7\" . $M7 timeout 365d"
bridge -n "$H" fdb replace "$M7" dev vnet7 master static
zt_check "vnet7's entry added again: pinned again" \
	zt_wait_for 2000 pmac_has "\"vnet7\" . $M7 timeout 365d"

# ---- a reload that writes table bridge ztseg anew: the pins are written again --------
sed -i 's/^segments:$/segments:\n  lab:\n    interfaces: ["vm-lab*"]\n    addresses: [198.51.100.32\/29]/' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
zt_check "the reload wrote table bridge ztseg anew (the new segment's pattern)" sh -c "nsenter --net=/run/netns/$H nft list map bridge ztseg port_src | grep -q 'vm-lab'"
zt_check "after the reload: vnet7's and vnet8's pins are there again" \
	zt_wait_for 2000 sh -c "nsenter --net=/run/netns/$H nft list set bridge ztseg pmac | grep -q '\"vnet7\" . $M7 timeout 365d' && nsenter --net=/run/netns/$H nft list set bridge ztseg pmac | grep -q '\"vnet8\" . $M8 timeout 365d'"
c0=$(rx a1 p7)
frame h7 "$FOREIGN" 7001 198.51.100.12
zt_check "after the reload: vnet7's foreign first frame is still dropped ($(rx a1 p7))" [ "$(rx a1 p7)" -eq "$c0" ]

# ---- ports that go away take their bindings with them ----------------------------------
ip -n "$H" link del vnet7
ip -n "$H" link del vnet8
zt_check "vnet7 and vnet8 deleted: gone from status" \
	zt_wait_for 2000 sh -c "! '$ZT_CTL' --socket '$SOCK' status --json | grep -qE '\"port\": *\"vnet[78]\"'"
zt_check "vnet7 and vnet8 deleted: pmac and phas hold nothing of them" \
	zt_wait_for 2000 sh -c "! nsenter --net=/run/netns/$H nft list set bridge ztseg pmac | grep -qE 'vnet[78]' && ! nsenter --net=/run/netns/$H nft list set bridge ztseg phas | grep -qE 'vnet[78]'"
# a first-frame binding of a port that goes (w2's vnet1 moved to a new namespace: another port by that name)
ping icmp "$ZT_HOST_V4" w2 >/dev/null || true
zt_check "vnet1 has a first-frame binding" [ "$(bp vnet1 'p.get("mac_from")')" = "first frame" ]
W2=$(zt_mac w2 eth0)
ip -n "$H" link del vnet1
zt_ns_add h9
ip -n "$H" link add vnet1 type veth peer name eth0 netns "$(zt_ns h9)"
ip -n "$(zt_ns h9)" link set eth0 up
ip -n "$H" link set vnet1 master br0 up
zt_wait_for 3000 sh -c "bridge -n $H link show dev vnet1 | grep -q 'state forwarding'" || true
M9=$(zt_mac h9 eth0)
zt_check "a new vnet1 (another port by the old name): the old binding (w2's $W2) is gone" \
	zt_wait_for 2000 not pmac_has "\"vnet1\" . $W2"
rx_add a1 p9 "ip saddr 198.51.100.11 udp sport 7009"
frame h9 "$M9" 7009 198.51.100.11
zt_wait_for 1000 rx_ge a1 p9 1 || true
zt_check "the new vnet1 binds its own first frame and passes ($(rx a1 p9))" [ "$(rx a1 p9)" -ge 1 ]

zt_check "no tampering reported for the daemon's own pins" sh -c "! grep -qE 'tampering|restoring it' '$DLOG'"
zt_check "the pins are in the journal" grep -q "MAC $M7 pinned from a static FDB entry" "$DLOG"
kill -TERM "$DPID"
drc=0
wait "$DPID" || drc=$?
zt_check "ztsegd stops with status 0 (sanitizer reports would make it non-zero)" [ "$drc" -eq 0 ]
[[ $drc -eq 0 ]] || sed 's/^/#   /' "$DLOG" | tail -30

# ---- --oneshot pins from a dump ----------------------------------------------------------
bridge -n "$H" fdb replace "$M9" dev vnet1 master static
zt_x host "$ZT_D" --oneshot --config "$pol" --state-dir "$ZT_TMP/state1" >"$ZT_TMP/oneshot.txt" 2>&1 ||
	{ cat "$ZT_TMP/oneshot.txt"; zt_die "--oneshot failed"; }
zt_check "--oneshot: says it pinned one MAC" grep -q '1 bridge port MAC pinned from static FDB entries' "$ZT_TMP/oneshot.txt"
zt_check "--oneshot: vnet1 . $M9 pinned in pmac" sh -c "nsenter --net=/run/netns/$H nft list set bridge ztseg pmac | grep -q '\"vnet1\" . $M9 timeout 365d'"
zt_finish
