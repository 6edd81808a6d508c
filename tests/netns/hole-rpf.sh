#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 10, hole 1: spoofing an unbound boundary under `scope: members`.
#
#   corp ── up0 ──┐                  corp: 203.0.113.0/25, 2001:db8:c::/64
#                 ├── host ── vfront1 ── front (a routed workload)
#   inet ── up1 ──┘  (default route)
#
# Unbound boundaries corp (routed out through up0) and internet (0/0,
# behind the default route on up1), `rpf: strict`, one flow corp -> front
# tcp/80. A TCP SYN (and a bare ACK, which conntrack picks up mid-stream)
# with corp's source address, forged by the peer behind up1, must not reach
# the front workload: the route back to corp leaves through up0, so strict
# reverse-path filtering drops it, and the spoofs counter says so. The real
# corp peer behind up0 still connects. Counted where it matters: an nft
# counter in the front workload's own namespace. The control at the end
# (ztseg's table removed) shows the forged packets do arrive otherwise.
# `explain --live` (the daemon knows the routes) must call the forged case
# spoofed, and `check` must warn that with rpf: loose an unbound boundary's
# addresses are believed from anywhere.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_need_py
zt_init

#       name   interface  IPv4           IPv6               zone   host side
zt_node front  vfront1    198.51.100.2   2001:db8:0:1::2    front
zt_node corp   up0        203.0.113.10   2001:db8:c::10     corp   203.0.113.1/25 2001:db8:c::1/64
zt_node inet   up1        192.0.2.10     2001:db8:ee::10    internet $ZT_HOST_V4/26 $ZT_HOST_V6/64

zt_ns_add host
zt_forwarding host
for n in front corp inet; do zt_ns_add "$n"; done
zt_node_link host front front
zt_peer_link host corp
zt_peer_link host inet
zt_x host ip route add default via "${ZT_V4[inet]}" dev up1
zt_x host ip -6 route add default via "${ZT_V6[inet]}" dev up1
UP1_MAC=$(zt_mac host up1)
[[ -n $UP1_MAC ]] || zt_die "no MAC address on up1"

policy() { # NAME RPF: a policy directory
	local d=$ZT_TMP/policy-$1
	mkdir -p "$d"
	cat >"$d/ztseg.yaml" <<-EOF
		version: 1
		hub:
		  default: drop
		  scope: members
		  rpf: $2
		  protect-host: false
		  boundaries:
		    corp: { addresses: [203.0.113.0/25, "2001:db8:c::/64"] }
		    internet: { addresses: [0.0.0.0/0, "::/0"] }
		  flows:
		    - { name: corp-web, from: corp, to: front, ports: [tcp/80] }
		segments:
		  front:
		    interfaces: ["vfront*"]
		    addresses: [198.51.100.0/28, "2001:db8:0:1::/64"]
	EOF
	chmod 0755 "$d"
	chmod 0644 "$d/ztseg.yaml"
	echo "$d"
}
strict=$(policy strict strict)
loose=$(policy loose loose)

# The front workload listens on tcp/80 and counts what arrives from corp's
# address on the forged packets' source ports (its own namespace, before
# anything else there).
: >"$ZT_TMP/recv-front"
zt_x front "$ZT_SERVE" -t 80 -u 9 -r "$ZT_TMP/recv-front" -d "$ZT_TMP/serve-front.pid"
# (The flags exclude the real corp's resets to front's answers.)
syn='tcp flags & (syn | ack | rst) == syn' ack='tcp flags & (syn | ack | rst) == ack'
zt_obs_add front prerouting syn4 ip saddr "${ZT_V4[corp]}" tcp sport 40080 tcp dport 80 "$syn"
zt_obs_add front prerouting ack4 ip saddr "${ZT_V4[corp]}" tcp sport 40081 tcp dport 80 "$ack"
zt_obs_add front prerouting syn6 ip6 saddr "${ZT_V6[corp]}" tcp sport 40080 tcp dport 80 "$syn"
zt_obs_add front prerouting ack6 ip6 saddr "${ZT_V6[corp]}" tcp sport 40081 tcp dport 80 "$ack"

count=3
# forge FAMILY KIND: COUNT forged TCP packets (syn or ack) with corp's
# source from the peer behind up1 to the front workload.
forge() {
	local ip src dst flags sport
	if [[ $1 == 4 ]]; then ip=IP src=${ZT_V4[corp]} dst=${ZT_V4[front]}; else ip=IPv6 src=${ZT_V6[corp]} dst=${ZT_V6[front]}; fi
	if [[ $2 == syn ]]; then flags=S sport=40080; else flags=A sport=40081; fi
	zt_forge inet eth0 "$UP1_MAC" "$count" \
		"$ip(src='$src', dst='$dst')/TCP(sport=$sport, dport=80, flags='$flags', seq=1000, ack=2000)" >/dev/null
	sleep 0.3
}

zt_apply "$strict" || zt_die "ztsegd --oneshot failed"
zt_nft list counter inet ztseg spoofs >/dev/null || zt_die "no counter 'spoofs' in table inet ztseg"

for fam in 4 6; do
	for kind in syn ack; do
		before=$(zt_counter spoofs)
		got=$(zt_obs front "$kind$fam")
		forge "$fam" "$kind"
		got=$(($(zt_obs front "$kind$fam") - got))
		after=$(zt_counter spoofs)
		zt_check "IPv$fam forged $kind as corp arriving on up1: did not reach front ($got of $count arrived)" \
			[ "$got" -eq 0 ]
		zt_check "IPv$fam forged $kind as corp arriving on up1: spoofs counter +$((after - before)) (>= $count)" \
			[ $((after - before)) -ge "$count" ]
	done
	# The legitimate counterpart: the real corp peer, behind up0, connects.
	res=$(echo "1 tcp - $(zt_addr front "$fam") 80" | zt_x corp "$ZT_PROBE" batch -w 2000 | awk '{ print $2 }')
	zt_check "IPv$fam corp behind up0 connects to front tcp/80 ($res)" [ "$res" = ok ]
	zt_check "IPv$fam ... and front's server saw corp's connection" \
		grep -q "^tcp $(zt_addr corp "$fam") " "$ZT_TMP/recv-front"
	# And a source of the internet boundary itself may not use corp's flow.
	res=$(echo "1 tcp - $(zt_addr front "$fam") 80" | zt_x inet "$ZT_PROBE" batch -w 500 | awk '{ print $2 }')
	zt_check "IPv$fam internet peer (no flow) does not connect to front tcp/80 ($res)" [ "$res" = timeout ]
done

# check: with rpf loose (or off) an unbound boundary's from: means anyone
# who claims its addresses: a warning that names the boundary. With rpf
# strict there is nothing to warn about.
out=$("$ZT_CTL" check --config "$loose" 2>&1) || zt_die "check rejects the loose policy: $out"
zt_check "check: rpf loose with unbound boundary corp in from: is warned about" \
	grep -qiE "corp.*(rpf|reverse)|(rpf|reverse).*corp" <<<"$out"
out=$("$ZT_CTL" check --config "$strict" 2>&1) || zt_die "check rejects the strict policy: $out"
zt_check "check: no such warning with rpf strict" ! grep -qiE "corp.*(rpf|reverse)|(rpf|reverse).*corp" <<<"$out"

# explain --live: the daemon sees the routes, so it can judge the reverse path.
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
zt_bg host "$ZT_TMP/daemon.log" "$ZT_D" --config "$strict" --state-dir "$ZT_TMP/dstate" \
	--socket "$SOCK" --socket-group nogroup "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
zt_wait_for 20000 quiet ctl status || zt_die "ztsegd did not come up: $(tail -5 "$ZT_TMP/daemon.log")"
for fam in 4 6; do
	rc=0
	out=$(ctl explain --live "iface:up1,$(zt_addr corp "$fam")" "$(zt_addr front "$fam")" tcp/80 2>&1) || rc=$?
	zt_check "explain --live: IPv$fam corp's address on up1 to front tcp/80 is denied (rc $rc)" [ "$rc" -eq 1 ]
	zt_check "explain --live: ... as spoofed" grep -qi 'spoof' <<<"$out"
	rc=0
	out=$(ctl explain --live "iface:up0,$(zt_addr corp "$fam")" "$(zt_addr front "$fam")" tcp/80 2>&1) || rc=$?
	zt_check "explain --live: IPv$fam corp's address on up0 to front tcp/80 is allowed (rc $rc)" [ "$rc" -eq 0 ]
done
kill "$DPID"
wait "$DPID" 2>/dev/null || true

# The control: without ztseg's table the forged packets do arrive, so the
# counters above would have seen them.
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || zt_nft delete table inet ztseg
for fam in 4 6; do
	for kind in syn ack; do
		got=$(zt_obs front "$kind$fam")
		forge "$fam" "$kind"
		got=$(($(zt_obs front "$kind$fam") - got))
		zt_check "control without ztseg: IPv$fam forged $kind arrives in front ($got of $count)" \
			[ "$got" -eq "$count" ]
	done
done

zt_finish
