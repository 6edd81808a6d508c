#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Docker-style bridges (issue 15): segments declared by `bridge: br0` and
# addresses, whose ports have random names (veth + 7 hex characters, as
# Docker and Podman name them). Three containers on one bridge in two
# segments (c1, c2 web; c3 db), a Docker-like NAT table built by hand
# (a published port host:8080 → c3:5432, MASQUERADE), an uplink.
#  - Controls without ztseg: forged claims of c3's addresses from c2 (ARP,
#    NA, IP source) reach c1: the checks below can fail.
#  - ztsegd starts with c1, c2 there (apply's link dump); c3 joins while it
#    runs (the daemon's link event).
#  - Matrix: real TCP, UDP, ICMP and ICMPv6 between the containers and the
#    host, IPv4 and IPv6, equals `ztsegctl explain`.
#  - status shows each port: its claimed addresses (from: claim), MAC and
#    segment.
#  - c2 claiming c3's addresses by gratuitous ARP, by unsolicited NA and by
#    IP source: dropped (nothing reaches c1) and counted (l2_spoof); unknown
#    unicast for c3 reaches only c3's port (l2_flood).
#  - Review h15 (session h15c): c2's real TCP to c3's link-local address
#    and UDP from fe80::, ::, 169.254/16, 0.0.0.0 are dropped and counted
#    (l2_unbound), ND still works and explain says deny; sources outside
#    every segment (ARP, NA, IPv4, IPv6, ::ffff:) are l2_spoof; an NS/RS
#    from the host's IPv6 (hownna) claims nothing; a port tied to the
#    segment of its first claim cannot claim another segment's address in
#    the other family (c4: NA for web's address; c5: ARP for db's).
#  - c4, a new port that has claimed nothing: its IP is dropped (l2_unbound),
#    its DHCP client broadcast passes, its first ARP claims its address.
#  - c3 restarted: its port deleted (its claims released) and a new one
#    with a new random name and the same addresses: c2 cannot take c3's
#    address meanwhile, the new port is enforced from its first frame (a
#    denied flow stays denied), its allowed flows work, and the old name is
#    gone from every set.
#  - A reload that writes table bridge ztseg anew keeps the ports and the
#    claims (traffic continues without a new ARP).
#  - Docker's ip nat table is the same, byte for byte, after ztsegd's
#    apply, a reload and its stop; the published port reaches c3 only with
#    a flow internet → db tcp/5432.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

ZT_WORKLOADS=(c1 c2 c3)
ZT_UPLINKS=(inet)
ZT_NODES=("${ZT_WORKLOADS[@]}" "${ZT_UPLINKS[@]}")
ZT_HOST_V4=198.51.100.1
ZT_HOST_V6=2001:db8:1::1
unset ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
declare -A ZT_IF ZT_V4 ZT_V6 ZT_HV4 ZT_HV6 ZT_ZONE
zt_node c1 "$(zt_bridge_rndname)" 198.51.100.10 2001:db8:1::a web
zt_node c2 "$(zt_bridge_rndname)" 198.51.100.11 2001:db8:1::b web
zt_node c3 "$(zt_bridge_rndname)" 198.51.100.26 2001:db8:1::1a db
zt_node inet up0 203.0.113.10 2001:db8:ff::10 internet 203.0.113.1/24 2001:db8:ff::1/64
ZT_EXTRA_TCP=(25)
ZT_EXTRA_UDP=(161)
UP=203.0.113.1
# one SYN retransmission (1 s) fits: a lost first SYN (none of ztseg's drop counters moves) is not a verdict
timeout_ms=1500

zt_init
zt_need_py
pol=$ZT_TMP/policy
zt_policy_write "$pol" <<EOF
version: 1
hub:
  default: drop
  protect-host: true
  boundaries:
    internet: { addresses: [203.0.113.0/24, "2001:db8:ff::/64"], interfaces: ["up0"] }
  flows:
    - { from: web, to: db, ports: [tcp/5432, icmp, icmpv6] }
    - { from: db, to: web, ports: [udp/53] }
    - { from: [web, db], to: host, ports: [tcp/22] }
    - { from: host, to: [web, db], ports: [icmp, icmpv6, tcp/80] }
    - { from: db, to: internet, ports: [tcp/443] }
$(zt_bridge_dsegs)
EOF
"$ZT_CTL" check --config "$pol" >/dev/null || zt_die "the policy does not pass check"

# ---- topology ----------------------------------------------------------------
zt_bridge_br0
H=$(zt_ns host)
# port NODE: a container's veth on br0 (named ZT_IF[NODE]), eth0 inside with its /24 and /64
port() { zt_bridge_port "$1"; }
for n in c1 c2 c3; do zt_ns_add "$n"; done
port c1
port c2
zt_ns_add inet
zt_peer_link host inet
ip -n "$H" route add default via "${ZT_V4[inet]}" dev up0
ip -n "$H" -6 route add default via "${ZT_V6[inet]}" dev up0

# Docker's ip nat table, by hand: the published port host:8080 → c3:5432, and MASQUERADE
zt_x host nft -f - <<EOF
table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter jump DOCKER
	}
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "br0" ip saddr 198.51.100.0/24 counter masquerade
	}
	chain DOCKER {
		iifname "br0" counter return
		iifname != "br0" tcp dport 8080 counter dnat to ${ZT_V4[c3]}:5432
	}
}
EOF
snap() { zt_x host nft -a list table ip nat | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'; }
snap >"$ZT_TMP/nat.0"
same() { snap | cmp -s - "$ZT_TMP/nat.0"; }

tcp=$(zt_ports tcp "$pol" | paste -sd,)
udp=$(zt_ports udp "$pol" | paste -sd,)
serve() {
	: >"$ZT_TMP/recv-$1"
	zt_x "$1" "$ZT_SERVE" -t "$tcp" -u "$udp" -r "$ZT_TMP/recv-$1" -d "$ZT_TMP/serve-$1.pid"
}
for n in host c1 c2 inet; do serve "$n"; done
probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-800}" | awk '{ print $2 }'; }
mac() { zt_mac "$1" eth0 2>/dev/null; }
l2() { zt_l2_counter "$1"; }
C1=$(mac c1) C2=$(mac c2)

# ---- controls: without ztseg, c2's claims of c3's addresses reach c1 ---------
forge_claims() { # TAG: gratuitous ARP, unsolicited NA and an IP source, each 2x, from c2
	zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 \
		"ARP(op=2, hwsrc='$C2', psrc='${ZT_V4[c3]}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${ZT_V4[c3]}')" >/dev/null
	zt_forge c2 eth0 33:33:00:00:00:01 2 \
		"IPv6(src='fe80::1:2', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='${ZT_V6[c3]}', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$C2')" >/dev/null
	zt_forge c2 eth0 "$C1" 2 "IP(src='${ZT_V4[c3]}', dst='${ZT_V4[c1]}')/UDP(sport=53, dport=9999)" >/dev/null
	zt_forge c2 eth0 "$C1" 2 "IPv6(src='${ZT_V6[c3]}', dst='${ZT_V6[c1]}')/UDP(sport=53, dport=9999)" >/dev/null
	sleep 0.3
}
rx_add c1 ctl_arp "ether saddr $C2 arp saddr ip ${ZT_V4[c3]}"
rx_add c1 ctl_na "ip6 saddr fe80::1:2 icmpv6 type nd-neighbor-advert"
rx_add c1 ctl_ip4 "ip saddr ${ZT_V4[c3]} udp dport 9999"
rx_add c1 ctl_ip6 "ip6 saddr ${ZT_V6[c3]} udp dport 9999"
rx_add c2 ctl_flood "ip saddr ${ZT_V4[c1]} ip daddr ${ZT_V4[c3]} icmp type echo-request"
flood() { # c1 -> c3 echo requests to a MAC nobody has: the bridge floods them to every port
	zt_forge c1 eth0 02:00:00:00:00:99 2 "IP(src='${ZT_V4[c1]}', dst='${ZT_V4[c3]}')/ICMP(id=7)" >/dev/null
	sleep 0.3
}
flood
zt_check "control without ztseg: unknown unicast for c3's address is flooded to c2 ($(rx c2 ctl_flood))" \
	[ "$(rx c2 ctl_flood)" -ge 2 ]
forge_claims
for k in arp na ip4 ip6; do
	zt_check "control without ztseg: c2's claim of c3's address ($k) reaches c1 ($(rx c1 "ctl_$k"))" \
		[ "$(rx c1 "ctl_$k")" -ge 2 ]
done
zt_x c1 ip neigh flush dev eth0
zt_x host ip neigh flush dev br0

# ---- ztsegd; c3 joins while it runs ------------------------------------------
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level debug
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
# (the whole listing first: grep -q under pipefail could make a present element look absent)
in_set() { local o; o=$(zt_x host nft list set bridge ztseg "$1" 2>/dev/null) && grep -q "\"$2\"" <<<"$o"; }
# pinned ADDR PORT: pin4 holds ADDR . PORT; listed SET TEXT: the set's listing has TEXT
pinned() { listed pin4 "$1 . \"$2\""; }
listed() { local o; o=$(zt_x host nft list set bridge ztseg "$1" 2>/dev/null) && grep -qF -- "$2" <<<"$o"; }
table_has() { local o; o=$(zt_x host nft list table bridge ztseg 2>/dev/null) && grep -qF -- "$1" <<<"$o"; }
both_in() { in_set dport "${ZT_IF[c1]}" && in_set dport "${ZT_IF[c2]}"; }
zt_check "apply's link dump: c1's and c2's ports (${ZT_IF[c1]}, ${ZT_IF[c2]}) in dport" both_in
zt_check "Docker's ip nat table is the same, byte for byte, after ztsegd's apply" same
# rules and chains of table bridge ztseg: a port is an element, never a rule
rules0=$(zt_x host nft -a list table bridge ztseg | grep -c '# handle')
from=$(wc -l <"$DLOG")
port c3
serve c3
zt_check "c3's port ${ZT_IF[c3]} joins while ztsegd runs: in dport and dpb" \
	zt_wait_for 2000 in_set dport "${ZT_IF[c3]}"
rules1=$(zt_x host nft -a list table bridge ztseg | grep -c '# handle')
zt_check "a new port adds elements only: $rules0 rules before, $rules1 after" [ "$rules0" -eq "$rules1" ]
# The port's event is one the daemon enforced: timed like every other (bench/run.sh reads these).
lat=$(tail -n +"$((from + 1))" "$DLOG" | grep -m1 'event to enforcement:.* 1 bridge port[;,]' || true)
zt_log "the port's event: ${lat:-no latency line}"
zt_check "the port's event to enforcement is timed (one bridge port)" [ -n "$lat" ]

# ---- matrix: c1, c2, c3 and the host, TCP/UDP/ICMP, IPv4 and IPv6 = explain --
cases=$ZT_TMP/cases
id=0
for s in host c1 c2 c3; do
	for d in host c1 c2 c3; do
		[[ $s != "$d" ]] || continue
		for fam in 4 6; do
			for p in ${tcp//,/ }; do echo "$((++id)) $s $d $fam tcp $p"; done
			for p in ${udp//,/ }; do echo "$((++id)) $s $d $fam udp $p"; done
			echo "$((++id)) $s $d $fam icmp 0"
		done
	done
done >"$cases"
for n in c1 c2 c3; do
	for fam in 4 6; do
		out=$("$ZT_CTL" explain --config "$pol" "$(zt_endpoint "$n" "$fam")" host tcp/1 2>&1) || true
		zone=$(sed -nE 's/^from: ([^ ]+).*/\1/p' <<<"$out")
		zt_check "explain: $n (${ZT_IF[$n]}, IPv$fam) is in ${ZT_ZONE[$n]}" [ "$zone" = "${ZT_ZONE[$n]}" ]
	done
done
# the drop counters when the matrix differs from explain
l2_shown() {
	echo "# l2_spoof $(l2 l2_spoof) l2_unbound $(l2 l2_unbound) l2_flood $(l2 l2_flood)" \
		"l2_frame $(l2 l2_frame) spoofs $(zt_counter spoofs)"
}
matrix() { zt_bridge_matrix "$1" l2_shown; }
matrix "random port names, two segments on br0"

# ---- status: each learned port, its claims, MAC and segment --------------------
ctl status --json >"$ZT_TMP/status.json" 2>&1 || true
st_port() { # NODE: "segment mac addr,addr" of its port in status
	python3 - "$ZT_TMP/status.json" "${ZT_IF[$1]}" <<-'PY'
		import json, sys
		s = json.load(open(sys.argv[1]))
		for p in s.get("bridge_ports", []):
		    if p.get("port") == sys.argv[2]:
		        a = sorted(c["address"] for c in p.get("claimed", []) if c.get("from") == "claim")
		        print(p.get("segment"), p.get("mac"), ",".join(a))
	PY
}
for n in c1 c2 c3; do
	want="${ZT_ZONE[$n]} $(mac "$n") $(printf '%s\n' "${ZT_V4[$n]}" "${ZT_V6[$n]}" | sort | paste -sd,)"
	got=$(st_port "$n" 2>&1 || true)
	zt_check "status: ${ZT_IF[$n]} ($n): '$got' (want '$want')" [ "$got" = "$want" ]
done
ctl status >"$ZT_TMP/status.txt" 2>&1 || true
sed -n '/^BRIDGE PORT/,/^$/p' "$ZT_TMP/status.txt" >&2
st_text() { grep -F "${ZT_IF[c3]}" "$ZT_TMP/status.txt" | grep -F "${ZT_V4[c3]}" >/dev/null; }
zt_check "status (text) names c3's port with its claimed address" st_text

# ---- c2 claims c3's addresses: ARP, NA, IP source ------------------------------
rx_add c1 att_arp "ether saddr $C2 arp saddr ip ${ZT_V4[c3]}"
rx_add c1 att_na "ip6 saddr fe80::1:2 icmpv6 type nd-neighbor-advert"
rx_add c1 att_ip4 "ip saddr ${ZT_V4[c3]} udp dport 9999"
rx_add c1 att_ip6 "ip6 saddr ${ZT_V6[c3]} udp dport 9999"
s0=$(l2 l2_spoof)
forge_claims
s1=$(l2 l2_spoof)
for k in arp na ip4 ip6; do
	zt_check "c2 claims c3's address ($k): dropped ($(rx c1 "att_$k") reached c1)" [ "$(rx c1 "att_$k")" -eq 0 ]
done
zt_check "and counted: l2_spoof $s0 -> $s1 (8 forged)" [ "$((s1 - s0))" -ge 8 ]
# unknown unicast for c3 (a flow allows web -> db ICMP): only c3's port gets a copy
rx_add c2 flood "ip saddr ${ZT_V4[c1]} ip daddr ${ZT_V4[c3]} icmp type echo-request"
rx_add c3 flood "ip saddr ${ZT_V4[c1]} ip daddr ${ZT_V4[c3]} icmp type echo-request"
f0=$(l2 l2_flood)
flood
not_flooded() { [ "$(rx c2 flood)" -eq 0 ] && [ "$(($(l2 l2_flood) - f0))" -ge 2 ]; }
zt_check "flooded unicast for c3's address: not at c2 ($(rx c2 flood)), counted (l2_flood $f0 -> $(l2 l2_flood))" \
	not_flooded
zt_check "and the copy for c3's port arrives at c3 ($(rx c3 flood))" [ "$(rx c3 flood)" -ge 2 ]
zt_check "c3 keeps its address: pin4 holds ${ZT_V4[c3]} . ${ZT_IF[c3]}" pinned "${ZT_V4[c3]}" "${ZT_IF[c3]}"
zt_check "c1 -> c3 tcp/5432 still works after the attacks" [ "$(probe c1 tcp "${ZT_V4[c3]}" 5432)" = ok ]
zt_check "c1 -> c3 ICMPv6 still works after the attacks" [ "$(probe c1 icmp "${ZT_V6[c3]}" 0)" = ok ]

# ---- review h15 #1: link-local and unspecified sources carry no segment ----------
# From a bridge: port they may be DHCP client, ND and MLD only (dll), the rest dropped, counted.
ll() { zt_x "$1" ip -6 -o addr show dev eth0 scope link | sed -nE 's|.*inet6 ([^/]+)/.*|\1|p' | head -1; }
LL1=$(ll c1) LL2=$(ll c2) LL3=$(ll c3) C3=$(mac c3)
tcp_ll() { # NODE ADDR%eth0 PORT: a real TCP connect
	zt_x "$1" "$ZT_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.settimeout(1.5)
try:
    s.connect(socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), socket.AF_INET6, socket.SOCK_STREAM)[0][4])
    print("ok")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error:" + str(e).replace(" ", "_"))' "$2" "$3"
}
u0=$(l2 l2_unbound)
r1=$(tcp_ll c2 "$LL3%eth0" 5432)
zt_check "web c2 -> db c3's link-local address $LL3 tcp/5432 (real TCP): not connected ($r1)" [ "$r1" = timeout ]
r2=$(tcp_ll c2 "$LL3%eth0" 25)
zt_check "web c2 -> db c3's link-local address tcp/25 (no flow at all): not connected ($r2)" [ "$r2" = timeout ]
zt_check "and counted: l2_unbound $u0 -> $(l2 l2_unbound)" [ "$(($(l2 l2_unbound) - u0))" -ge 1 ]
rx_add c3 ll6 "ip6 saddr $LL2 udp dport 9999"
rx_add c3 ll4 "ip saddr 169.254.7.2 udp dport 9999"
rx_add c3 any4 "ip saddr 0.0.0.0 udp dport 9999"
rx_add c1 any6 "ip6 saddr :: udp dport 9999"
u0=$(l2 l2_unbound)
zt_forge c2 eth0 "$C3" 2 "IPv6(src='$LL2', dst='$LL3')/UDP(sport=53, dport=9999)" >/dev/null
zt_forge c2 eth0 33:33:00:00:00:01 2 "IPv6(src='::', dst='ff02::1')/UDP(sport=53, dport=9999)" >/dev/null
zt_forge c2 eth0 "$C3" 2 "IP(src='169.254.7.2', dst='169.254.7.3')/UDP(sport=53, dport=9999)" >/dev/null
zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 "IP(src='0.0.0.0', dst='255.255.255.255')/UDP(sport=53, dport=9999)" >/dev/null
sleep 0.3
for k in "c3 ll6" "c1 any6" "c3 ll4" "c3 any4"; do
	set -- $k
	zt_check "link-local/unspecified UDP from c2 ($2): dropped ($(rx "$1" "$2") reached $1)" [ "$(rx "$1" "$2")" -eq 0 ]
done
zt_check "and counted: l2_unbound $u0 -> $(l2 l2_unbound) (8 forged)" [ "$(($(l2 l2_unbound) - u0))" -ge 8 ]
# ND from link-local sources still works: c1 -> c3 over IPv6 after flushing c1's neighbour cache
zt_x c1 ip -6 neigh flush dev eth0
zt_check "ND from link-local sources passes: c1 -> c3 ICMPv6 after a neighbour flush" \
	[ "$(probe c1 icmp "${ZT_V6[c3]}" 0 1500)" = ok ]
xout=$("$ZT_CTL" explain --config "$pol" "iface:${ZT_IF[c2]},$LL2" "iface:${ZT_IF[c3]},$LL3" tcp/5432 2>&1 || true)
zt_check "explain agrees: c2's link-local -> c3's link-local tcp/5432 is deny ($(head -1 <<<"$xout"))" \
	[ "$(head -1 <<<"$xout")" = deny ]
xout=$("$ZT_CTL" explain --config "$pol" "iface:${ZT_IF[c2]},0.0.0.0" 255.255.255.255 udp/67 2>&1 || true)
zt_check "explain: a DHCP client broadcast from c2's port is not denied as spoofed" ! grep -q spoofed <<<"$xout"

# ---- review h15 #2: a source outside every segment from a bridge: port ----------
rx_add c1 gap_arp "arp saddr ip 198.51.100.50"
rx_add c1 gap_na "icmpv6 type nd-neighbor-advert ip6 saddr 2001:db8:9::1"
rx_add c1 gap_ip4 "ip saddr 192.0.2.77 udp dport 9999"
rx_add c1 gap_ip6 "ip6 saddr 2001:db8:9::1 udp dport 9999"
rx_add c1 gap_map "ip6 saddr ::ffff:198.51.100.26 udp dport 9999"
s0=$(l2 l2_spoof)
zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 \
	"ARP(op=2, hwsrc='$C2', psrc='198.51.100.50', hwdst='ff:ff:ff:ff:ff:ff', pdst='198.51.100.50')" >/dev/null
zt_forge c2 eth0 33:33:00:00:00:01 2 \
	"IPv6(src='2001:db8:9::1', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='2001:db8:9::1', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$C2')" >/dev/null
zt_forge c2 eth0 "$C1" 2 "IP(src='192.0.2.77', dst='${ZT_V4[c1]}')/UDP(sport=53, dport=9999)" >/dev/null
zt_forge c2 eth0 "$C1" 2 "IPv6(src='2001:db8:9::1', dst='${ZT_V6[c1]}')/UDP(sport=53, dport=9999)" >/dev/null
zt_forge c2 eth0 "$C1" 2 "IPv6(src='::ffff:198.51.100.26', dst='${ZT_V6[c1]}')/UDP(sport=53, dport=9999)" >/dev/null
sleep 0.3
for k in arp na ip4 ip6 map; do
	zt_check "c2 sends from outside every segment ($k): dropped ($(rx c1 "gap_$k") reached c1)" [ "$(rx c1 "gap_$k")" -eq 0 ]
done
zt_check "and counted: l2_spoof $s0 -> $(l2 l2_spoof) (10 forged)" [ "$(($(l2 l2_spoof) - s0))" -ge 10 ]

# ---- a new port that has claimed nothing: ARP, ND and DHCP client traffic only ----
zt_node c4 "$(zt_bridge_rndname)" 198.51.100.27 2001:db8:1::1b db
zt_ns_add c4
port c4
zt_check "c4's port ${ZT_IF[c4]} joins: in dport" zt_wait_for 2000 in_set dport "${ZT_IF[c4]}"
cls() { # NODE: the classification of its port in status
	ctl status --json | python3 -c 'import json, sys
for p in json.load(sys.stdin).get("bridge_ports", []):
    if p.get("port") == sys.argv[1]: print(p.get("classification"))' "${ZT_IF[$1]}"
}
zt_check "status: c4's port is listed as unclaimed ($(cls c4))" [ "$(cls c4)" = unclaimed ]
rx_add c1 unb "ip saddr ${ZT_V4[c4]} udp dport 53"
rx_add c1 dhcp "ip saddr 0.0.0.0 udp dport 67"
u0=$(l2 l2_unbound)
# db -> web udp/53 is a flow, but c4 has not claimed its address by ARP yet
zt_forge c4 eth0 "$C1" 2 "IP(src='${ZT_V4[c4]}', dst='${ZT_V4[c1]}')/UDP(sport=5353, dport=53)" >/dev/null
zt_forge c4 eth0 ff:ff:ff:ff:ff:ff 2 "IP(src='0.0.0.0', dst='255.255.255.255')/UDP(sport=68, dport=67)/Raw(b'\x01' * 240)" >/dev/null
sleep 0.3
unbound() { [ "$(rx c1 unb)" -eq 0 ] && [ "$(($(l2 l2_unbound) - u0))" -ge 2 ]; }
zt_check "unclaimed: c4's IP from its address before any ARP is dropped ($(rx c1 unb) at c1), counted (l2_unbound $u0 -> $(l2 l2_unbound))" unbound
zt_check "unclaimed: c4's DHCP client broadcast passes ($(rx c1 dhcp) at c1)" [ "$(rx c1 dhcp)" -ge 2 ]
zt_check "c4 then claims by ARP: db -> web udp/53 allowed" [ "$(probe c4 udp "${ZT_V4[c1]}" 53 1500)" = ok ]
zt_check "and pin4 holds ${ZT_V4[c4]} . ${ZT_IF[c4]}" pinned "${ZT_V4[c4]}" "${ZT_IF[c4]}"
C4=$(mac c4)

# ---- review h15 #4: one segment per port, across the families -----------------------
# c4 (db, holds its IPv4) advertises an unclaimed address of web: it may not take it
FREE6=2001:db8:1::c
rx_add c1 tie_na "icmpv6 type nd-neighbor-advert ether saddr $C4"
s0=$(l2 l2_spoof)
zt_forge c4 eth0 33:33:00:00:00:01 2 \
	"IPv6(src='fe80::4:4', dst='ff02::1', hlim=255)/ICMPv6ND_NA(tgt='$FREE6', R=0, S=0, O=1)/ICMPv6NDOptDstLLAddr(lladdr='$C4')" >/dev/null
sleep 0.3
zt_check "db's c4 claims web's free IPv6 $FREE6 by NA: not pinned" ! listed pin6 "${ZT_IF[c4]}"
dropped() { [ "$(rx c1 "$1")" -eq 0 ] && [ "$(($(l2 l2_spoof) - s0))" -ge "$2" ]; }
zt_check "and the NA dropped ($(rx c1 tie_na) reached c1), counted (l2_spoof $s0 -> $(l2 l2_spoof))" dropped tie_na 2
# c4 then claims its own IPv6 (db) by NS: allowed, same segment
zt_x c4 ip -6 neigh flush dev eth0
zt_check "c4 claims its own IPv6 (db, same segment): db -> web udp/53 over IPv6 works" \
	[ "$(probe c4 udp "${ZT_V6[c1]}" 53 1500)" = ok ]
zt_check "and pin6 holds ${ZT_V6[c4]} . ${ZT_IF[c4]}" listed pin6 "${ZT_V6[c4]} . \"${ZT_IF[c4]}\""
ip -n "$H" link del "${ZT_IF[c4]}"
# c5: a web port whose first claim is IPv6; it then claims a free IPv4 of db by gratuitous ARP
zt_node c5 "$(zt_bridge_rndname)" 198.51.100.12 2001:db8:1::d web
zt_ns_add c5
port c5
zt_check "c5's port ${ZT_IF[c5]} joins: in dport" zt_wait_for 2000 in_set dport "${ZT_IF[c5]}"
C5=$(mac c5)

# ---- review h15 #3: the host's IPv6 address (the gateway) as a port's source --------
# a second host address on br0 inside segment web (the usual Docker case: the gateway in the /64)
GW6=2001:db8:1::f
ip -n "$H" addr add "$GW6/64" dev br0 nodad
# (nft lists hownna's elements, typeof @th,64,128, as decimal integers)
GW6D=$(python3 -c "import ipaddress, sys; print(int(ipaddress.IPv6Address(sys.argv[1])))" "$GW6")
hown_gw() { local o; o=$(zt_x host nft list set bridge ztseg hownna 2>/dev/null) && [[ $o == *"$GW6D"* ]]; }
zt_check "hownna holds the host's new address $GW6 (ztsegd's address event)" zt_wait_for 3000 hown_gw
rx_add c1 gw_ns "icmpv6 type nd-neighbor-solicit ip6 saddr $GW6"
rx_add c1 gw_rs "icmpv6 type nd-router-solicit ip6 saddr $GW6"
s0=$(l2 l2_spoof)
# c5 has claimed nothing yet: an NS or RS from the gateway's address would claim it, and its SLLA poisons c1
zt_forge c5 eth0 33:33:ff:00:00:0a 2 \
	"IPv6(src='$GW6', dst='ff02::1:ff00:a', hlim=255)/ICMPv6ND_NS(tgt='${ZT_V6[c1]}')/ICMPv6NDOptSrcLLAddr(lladdr='$C5')" >/dev/null
zt_forge c5 eth0 33:33:00:00:00:02 2 \
	"IPv6(src='$GW6', dst='ff02::2', hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr='$C5')" >/dev/null
sleep 0.3
for k in ns rs; do
	zt_check "c5 sends $k from the gateway's IPv6 $GW6: dropped ($(rx c1 "gw_$k") reached c1)" [ "$(rx c1 "gw_$k")" -eq 0 ]
done
zt_check "and counted: l2_spoof $s0 -> $(l2 l2_spoof) (4 forged)" [ "$(($(l2 l2_spoof) - s0))" -ge 4 ]
zt_check "c5 did not claim the gateway's address (pin6)" ! listed pin6 "${ZT_IF[c5]}"
zt_check "nor is it tied to a segment (has6)" ! in_set has6 "${ZT_IF[c5]}"
ip -n "$H" addr del "$GW6/64" dev br0
zt_forge c5 eth0 33:33:ff:00:00:0a 1 \
	"IPv6(src='${ZT_V6[c5]}', dst='ff02::1:ff00:a', hlim=255)/ICMPv6ND_NS(tgt='${ZT_V6[c1]}')/ICMPv6NDOptSrcLLAddr(lladdr='$C5')" >/dev/null
zt_check "c5's first claim is IPv6 (web): pin6 holds ${ZT_V6[c5]}" zt_wait_for 1000 listed pin6 "${ZT_V6[c5]} . \"${ZT_IF[c5]}\""
rx_add c1 tie_arp "arp saddr ip 198.51.100.28"
s0=$(l2 l2_spoof)
zt_forge c5 eth0 ff:ff:ff:ff:ff:ff 2 \
	"ARP(op=2, hwsrc='$C5', psrc='198.51.100.28', hwdst='ff:ff:ff:ff:ff:ff', pdst='198.51.100.28')" >/dev/null
sleep 0.3
zt_check "web's c5 claims db's free IPv4 198.51.100.28 by ARP: not pinned" ! listed pin4 "${ZT_IF[c5]}"
zt_check "and the ARP dropped ($(rx c1 tie_arp) reached c1), counted (l2_spoof $s0 -> $(l2 l2_spoof))" dropped tie_arp 2
zt_check "c5 then claims its own IPv4 (web): web -> db tcp/5432 works" \
	[ "$(probe c5 tcp "${ZT_V4[c3]}" 5432 1500)" = ok ]
old5=${ZT_IF[c5]}
ip -n "$H" link del "$old5"
zt_check "c5's port gone: in no set (ps_ included)" zt_wait_for 2000 eval '! table_has "\"$old5\""'

# ---- c3 restarted: a new port name, the same addresses --------------------------
old=${ZT_IF[c3]}
ip -n "$H" link del "$old"
released() { ! table_has "\"$old\"" && ! listed claimed4 "${ZT_V4[c3]}"; }
zt_check "c3's old port gone: its claims are released (pin4, claimed4, has4, dport)" zt_wait_for 2000 released
s0=$(l2 l2_spoof)
zt_forge c2 eth0 ff:ff:ff:ff:ff:ff 2 \
	"ARP(op=2, hwsrc='$C2', psrc='${ZT_V4[c3]}', hwdst='ff:ff:ff:ff:ff:ff', pdst='${ZT_V4[c3]}')" >/dev/null
zt_check "while c3 is down, c2 cannot take its address (one per port): l2_spoof $s0 -> $(l2 l2_spoof)" \
	[ "$(($(l2 l2_spoof) - s0))" -ge 2 ]
zt_check "and c2 did not pin it" ! listed pin4 "${ZT_V4[c3]}"
ZT_IF[c3]=$(zt_bridge_rndname)
zt_x c3 sh -c "kill \$(cat '$ZT_TMP/serve-c3.pid')" 2>/dev/null || true
port c3
# its first frames, at once: a denied flow (db -> web tcp/5432) and an allowed one (db -> web udp/53)
first=$(probe c3 tcp "${ZT_V4[c1]}" 5432 1500)
zt_check "restarted c3 (${ZT_IF[c3]}): db -> web tcp/5432 denied from its first frame" [ "$first" = timeout ]
serve c3
zt_check "restarted c3: in dport under its new name" zt_wait_for 2000 in_set dport "${ZT_IF[c3]}"
zt_check "restarted c3: db -> web udp/53 allowed" [ "$(probe c3 udp "${ZT_V4[c1]}" 53 1500)" = ok ]
zt_check "restarted c3: db -> web udp/53 allowed over IPv6" [ "$(probe c3 udp "${ZT_V6[c1]}" 53 1500)" = ok ]
zt_check "restarted c3: web -> db tcp/5432 allowed" [ "$(probe c1 tcp "${ZT_V4[c3]}" 5432 1500)" = ok ]
zt_check "restarted c3 claimed its address: pin4 holds ${ZT_V4[c3]} . ${ZT_IF[c3]}" pinned "${ZT_V4[c3]}" "${ZT_IF[c3]}"
zt_check "the old name $old is in no set or map" ! table_has "\"$old\""
# The others' neighbour caches still hold c3's old MAC (a new veth, a new MAC): that is the
# network's own wait (NUD probes, seconds), with or without ztseg; start them afresh.
for n in host c1 c2; do
	zt_x "$n" ip neigh flush to "${ZT_V4[c3]}" 2>/dev/null || true
	zt_x "$n" ip -6 neigh flush to "${ZT_V6[c3]}" 2>/dev/null || true
done
matrix "after c3's restart"

# ---- a reload that writes table bridge ztseg anew keeps ports and claims --------
sed -i 's|198.51.100.24/29, "2001:db8:1::18/125"|198.51.100.24/29, 198.51.100.40/29, "2001:db8:1::18/125"|' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
rewritten() { table_has 198.51.100.40 && in_set dport "${ZT_IF[c3]}" && pinned "${ZT_V4[c1]}" "${ZT_IF[c1]}"; }
zt_check "reload: the table was written anew with the ports (dport) and claims (pin4) of c1..c3" rewritten
zt_check "Docker's ip nat table is the same after the reload" same
zt_check "after the reload, with no new ARP (caches kept): c1 -> c3 tcp/5432 allowed" \
	[ "$(probe c1 tcp "${ZT_V4[c3]}" 5432)" = ok ]

# ---- the published port: only with a flow ---------------------------------------
zt_check "published port: internet -> $UP:8080 (DNAT to c3:5432) denied without a flow" \
	[ "$(probe inet tcp "$UP" 8080)" = timeout ]
dnat_seen() { local o; o=$(zt_x host nft list chain ip nat DOCKER) && grep dnat <<<"$o" | grep -vE 'packets 0 ' >/dev/null; }
zt_check "and Docker's DNAT rule did see it" dnat_seen
sed -i 's/^  flows:$/  flows:\n    - { name: published, from: internet, to: db, ports: [tcp\/5432] }/' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
zt_check "published port: internet -> $UP:8080 (c3:5432) allowed with the flow" \
	[ "$(probe inet tcp "$UP" 8080 1500)" = ok ]
zt_check "db -> internet tcp/443 allowed, masqueraded by Docker's rule" \
	[ "$(probe c3 tcp "${ZT_V4[inet]}" 443)" = ok ]
zt_check "web -> internet tcp/443 denied" [ "$(probe c1 tcp "${ZT_V4[inet]}" 443)" = timeout ]
zt_check "Docker's ip nat table is the same after the second reload" same

# ---- a port's event: one transaction for the twins and the ports ----------------
# A port that leaves changes the exact-name twins of table inet ztseg and
# dport/dportd/dpb_ of table bridge ztseg: one commit for all of them, as
# every commit costs the kernel a walk of every chain (doc/RULESET.md,
# "What a commit costs"). zq0 never sends a frame, so it has no MAC
# binding for ztsegd-fdb.c to forget.
MON=$ZT_TMP/monitor.log
zt_bg host "$MON" nft monitor
MPID=$ZT_BG_PID
gens() { grep -c '^# new generation .*(ztsegd)' "$MON" || true; }
ip -n "$H" link add zq0 master br0 type veth peer name zq0p netns "$(zt_ns inet)"
zt_check "a bare port zq0 joins br0: in dport" zt_wait_for 2000 in_set dport zq0
sleep 0.5	# the join's commits done; nft monitor subscribed long before
g0=$(gens)
ip -n "$H" link del zq0
zt_check "zq0 leaves: out of dport" zt_wait_for 2000 eval '! in_set dport zq0'
sleep 0.5
g1=$(gens)
zt_check "its leaving took one transaction: the twins and the ports ($g0 -> $g1 generations)" [ "$g1" -eq $((g0 + 1)) ]
kill "$MPID" 2>/dev/null || true
kill -TERM "$DPID"
drc=0
wait "$DPID" || drc=$?
zt_check "ztsegd stops with status 0" [ "$drc" -eq 0 ]
zt_check "ztsegd stopped: Docker's ip nat table is the same" same

# ---- --oneshot fills the ports from a link dump, and keeps the claims ----------
zt_x host "$ZT_D" --oneshot --config "$pol" --state-dir "$ZT_TMP/state1" >"$ZT_TMP/oneshot.txt" 2>&1 ||
	{ cat "$ZT_TMP/oneshot.txt"; zt_die "ztsegd --oneshot failed"; }
all_ports() { for n in c1 c2 c3; do in_set "$1" "${ZT_IF[$n]}" || return 1; done; }
zt_check "--oneshot: dport holds the three ports" all_ports dport
zt_check "--oneshot: dportd holds the three ports" all_ports dportd
zt_check "--oneshot: the claims are kept (pin4 holds c3's)" pinned "${ZT_V4[c3]}" "${ZT_IF[c3]}"

# ---- tamper repair refills the ports (unowned table) -----------------------------
zt_bg host "$DLOG.2" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state2" --socket "$SOCK" \
	--socket-group nogroup --log-level info --no-owner
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG.2" || { cat "$DLOG.2"; zt_die "ztsegd did not get ready"; }
zt_x host nft delete table bridge ztseg
zt_check "the table deleted by another tool is repaired with the three ports in dport" \
	zt_wait_for 3000 all_ports dport
zt_check "and in dportd" all_ports dportd
zt_x host nft flush set bridge ztseg dport
zt_check "dport flushed by another tool is repaired with the three ports" zt_wait_for 3000 all_ports dport
for n in host c1 c2; do
	zt_x "$n" ip neigh flush to "${ZT_V4[c3]}" 2>/dev/null || true
done
zt_check "after the repair, c1 -> c3 tcp/5432 allowed once they claim again (ARP)" \
	[ "$(probe c1 tcp "${ZT_V4[c3]}" 5432 1500)" = ok ]
zt_check "after the repair, c1 -> c3 tcp/25 still denied" [ "$(probe c1 tcp "${ZT_V4[c3]}" 25)" = timeout ]
kill -TERM "$DPID"
wait "$DPID" || true
# the sanitizer's reports, when built with ASAN=1 (ZTSEG_BUILD=build-asan)
zt_check "no sanitizer report in ztsegd's logs" ! grep -q "Sanitizer" "$DLOG" "$DLOG.2"
zt_finish
