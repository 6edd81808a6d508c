#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Docker's own tables beside bridged segments (issue 14 Build §6, issue 15
# Done-when: "the Docker-like NAT table is untouched byte for byte, and a
# published port works only with a flow"). A Docker-like layout built by
# hand on the bridged topology of bridge-lib.sh — no Docker daemon: table
# ip nat with Docker's chains (PREROUTING/OUTPUT → DOCKER for local
# addresses, a published port tcp/8080 on the host → a1:80, MASQUERADE of
# the bridge's subnet leaving by another interface) and table ip filter
# with Docker's FORWARD (policy drop; established, the published port,
# and what leaves the bridge accepted).
#  - Control: without ztseg, Docker's tables publish the port.
#  - ztsegd applies, reloads and stops: both tables are the same, byte for
#    byte (`nft -a list table`), every time.
#  - The published port from the uplink (internet → 203.0.113.1:8080 →
#    a1:80) is denied without a flow internet → app tcp/80 (ztseg judges the
#    DNATed packet), allowed once the flow is there (reload), and denied
#    again when it goes.
#  - An allowed flow that leaves (db → internet tcp/443) is masqueraded by
#    Docker's rule: it arrives from the host's uplink address.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
zt_bridge_up
pol=$ZT_TMP/policy
zt_bridge_policy "$pol"
H=$(zt_ns host)
UP=203.0.113.1

zt_x host nft -f - <<EOF
table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter jump DOCKER
	}
	chain OUTPUT {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local counter jump DOCKER
	}
	chain POSTROUTING {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "br0" ip saddr 198.51.100.0/24 counter masquerade
	}
	chain DOCKER {
		iifname "br0" counter return
		iifname != "br0" tcp dport 8080 counter dnat to ${ZT_V4[a1]}:80
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter jump DOCKER-USER
		oifname "br0" ct state related,established counter accept
		oifname "br0" counter jump DOCKER
		iifname "br0" counter accept
		iifname "vrt1" counter accept
		oifname "vrt1" counter accept
	}
	chain DOCKER {
		ip daddr ${ZT_V4[a1]} iifname != "br0" oifname "br0" tcp dport 80 counter accept
	}
	chain DOCKER-USER {
		counter return
	}
}
EOF
# Counters move with traffic; the rest must not.
snap() { zt_x host nft -a list table ip "$1" | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'; }
snap nat >"$ZT_TMP/nat.0"
snap filter >"$ZT_TMP/filter.0"
same() { snap nat | cmp -s - "$ZT_TMP/nat.0" && snap filter | cmp -s - "$ZT_TMP/filter.0"; }

probe() { echo "1 $2 - $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w "${5:-800}" | awk '{ print $2 }'; }
zt_serve host "${ZT_NODES[@]}" 2>/dev/null || true
# control: Docker's tables alone publish the port
zt_check "control, without ztseg: internet -> $UP:8080 reaches a1:80 through Docker's DNAT" \
	[ "$(probe inet tcp "$UP" 8080 1500)" = ok ]

SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--socket-group nogroup --log-level info
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
rx_add() {
	local n=$1 name=$2
	shift 2
	zt_x "$n" nft list table netdev rx >/dev/null 2>&1 ||
		zt_x "$n" nft "add table netdev rx; add chain netdev rx c { type filter hook ingress device eth0 priority -500; }"
	zt_x "$n" nft "add counter netdev rx $name; add rule netdev rx c $* counter name $name"
}
rx() { zt_x "$1" nft list counter netdev rx "$2" | sed -nE 's/.*packets ([0-9]+).*/\1/p'; }

zt_check "ztsegd applied: Docker's ip nat and ip filter tables are the same, byte for byte" same
ex() { "$ZT_CTL" explain --config "$pol" "iface:up0,${ZT_V4[inet]}" "iface:${ZT_IF[a1]},${ZT_V4[a1]}" tcp/80 2>&1 || true; }
zt_check "explain: internet -> app tcp/80 is denied" [ "$(ex | head -1)" = deny ]
zt_check "published port: internet -> $UP:8080 (DNAT to a1:80) denied without a flow" \
	[ "$(probe inet tcp "$UP" 8080)" = timeout ]
zt_check "and the DNAT rule did see it (Docker's table works)" \
	sh -c "nsenter --net=/run/netns/$H nft list chain ip nat DOCKER | grep -E 'dnat' | grep -qvE 'packets 0 '"

# the flow, by reload
sed -i 's/^  flows:$/  flows:\n    - { name: published, from: internet, to: app, ports: [tcp\/80] }/' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
zt_check "reload: Docker's tables still the same" same
ex_by() { local o; o=$(ex); [ "$(head -1 <<<"$o")" = allow ] && grep -q "$1" <<<"$o"; }
zt_check "explain: internet -> app tcp/80 is allowed by flow 'published'" ex_by published
zt_check "published port: internet -> $UP:8080 (a1:80) allowed with the flow" \
	[ "$(probe inet tcp "$UP" 8080 1500)" = ok ]
zt_check "the flow opens only tcp/80 of app: internet -> a1 tcp/25 denied" \
	[ "$(probe inet tcp "${ZT_V4[a1]}" 25)" = timeout ]
zt_check "the flow is not web's: internet -> w1 tcp/80 denied" [ "$(probe inet tcp "${ZT_V4[w1]}" 80)" = timeout ]

# masquerade of what leaves the bridge: db -> internet tcp/443 (a flow) arrives from the host's uplink address
rx_add inet masq "ip saddr $UP tcp dport 443"
rx_add inet raw "ip saddr ${ZT_V4[d1]} tcp dport 443"
zt_check "db -> internet tcp/443 allowed" [ "$(probe d1 tcp "${ZT_V4[inet]}" 443)" = ok ]
zt_check "and masqueraded by Docker's rule (from $UP: $(rx inet masq), from d1 itself: $(rx inet raw))" \
	sh -c "[ $(rx inet masq) -ge 1 ] && [ $(rx inet raw) -eq 0 ]"
zt_check "web -> internet (no flow) denied even with Docker's accept for the bridge" \
	[ "$(probe w1 tcp "${ZT_V4[inet]}" 443)" = timeout ]

# the flow gone again
sed -i '/name: published,/d' "$pol/ztseg.yaml"
ctl reload >"$ZT_TMP/reload.txt" 2>&1 || { cat "$ZT_TMP/reload.txt"; zt_die "reload failed"; }
zt_check "flow removed: published port denied again" [ "$(probe inet tcp "$UP" 8080)" = timeout ]
zt_check "reload: Docker's tables still the same" same
kill -TERM "$DPID"
drc=0
wait "$DPID" || drc=$?
zt_check "ztsegd stops with status 0" [ "$drc" -eq 0 ]
zt_check "ztsegd stopped: Docker's tables still the same" same
zt_finish
