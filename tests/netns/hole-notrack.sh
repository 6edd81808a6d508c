#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 10, hole 2: another table's `notrack` must not open the perimeter.
#
# The harness's topology and example policy (scope: members, protect-host:
# true). A table of someone else's in the host namespace, inet ztt_untrack,
# untracks (prerouting and output, priority -400, before conntrack) all
# traffic from and to web1 and ci1, the host's traffic to db1, and traffic from and
# to "other", a LAN behind a non-member interface. Untracked packets then
# never get a conntrack entry, so ztseg's mark-setting rules do not apply
# to them; they must still be judged: what no flow allows (web1 and ci1
# -> db1 tcp/5432, udp/161, icmp echo; -> app1 tcp/3306; -> host tcp/22;
# ci1 -> ci2 under isolate; host -> db1 tcp/5432, udp/161) must not arrive, counted in the
# receiver's namespace (for the host: after ztseg's input chain), and the
# dropped untracked packets are counted in ztseg's counter "untracked".
# Out-of-scope untracked traffic (other -> internet, between non-member
# interfaces) still passes, tracked traffic is judged as before, `status`
# names the foreign table, and without ztseg's table the untracked
# packets do arrive (so the counters would have seen them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_init
zt_up
zt_serve

pol=$(zt_policy notrack)
zt_apply "$pol" || zt_die "ztsegd --oneshot failed"

# Someone else's table: untrack web1 both ways, the host's own packets to
# db1, and the LAN behind other0 both ways.
zt_nft -f - <<EOF || zt_die "could not load the notrack table"
table inet ztt_untrack {
	chain pre {
		type filter hook prerouting priority -400; policy accept;
		ip saddr ${ZT_V4[web1]} notrack
		ip daddr ${ZT_V4[web1]} notrack
		ip6 saddr ${ZT_V6[web1]} notrack
		ip6 daddr ${ZT_V6[web1]} notrack
		ip saddr ${ZT_V4[ci1]} notrack
		ip daddr ${ZT_V4[ci1]} notrack
		ip6 saddr ${ZT_V6[ci1]} notrack
		ip6 daddr ${ZT_V6[ci1]} notrack
		ip saddr ${ZT_V4[other]} notrack
		ip daddr ${ZT_V4[other]} notrack
		ip6 saddr ${ZT_V6[other]} notrack
		ip6 daddr ${ZT_V6[other]} notrack
	}
	chain out {
		type filter hook output priority -400; policy accept;
		ip daddr ${ZT_V4[web1]} notrack
		ip6 daddr ${ZT_V6[web1]} notrack
		ip daddr ${ZT_V4[ci1]} notrack
		ip6 daddr ${ZT_V6[ci1]} notrack
		ip daddr ${ZT_V4[db1]} notrack
		ip6 daddr ${ZT_V6[db1]} notrack
	}
}
EOF

# Arrival counters in the receivers' namespaces: from web1 (db1, app1:
# prerouting, before anything else there; the host: its input hook after
# ztseg's chains), from the host to db1 (the host's source on vdb1 is the
# gateway address).
for fam in 4 6; do
	if [[ $fam == 4 ]]; then ip=ip; gw=$ZT_GW_V4; else ip=ip6; gw=$ZT_GW_V6; fi
	for src in web1 ci1; do
		w=$(zt_addr $src $fam)
		zt_obs_add db1 prerouting "${src}_${fam}_tcp" $ip saddr "$w" tcp dport 5432
		zt_obs_add db1 prerouting "${src}_${fam}_udp" $ip saddr "$w" udp dport 161
		if [[ $fam == 4 ]]; then
			zt_obs_add db1 prerouting "${src}_${fam}_icmp" ip saddr "$w" icmp type echo-request
		else
			zt_obs_add db1 prerouting "${src}_${fam}_icmp" ip6 saddr "$w" icmpv6 type echo-request
		fi
		zt_obs_add app1 prerouting "${src}_${fam}_tcp" $ip saddr "$w" tcp dport 3306
		zt_obs_add host input "${src}_${fam}_tcp" $ip saddr "$w" tcp dport 22
	done
	zt_obs_add ci2 prerouting "ci1_${fam}_tcp" $ip saddr "$(zt_addr ci1 $fam)" tcp dport 443
	zt_obs_add db1 prerouting "h${fam}_tcp" $ip saddr "$gw" tcp dport 5432
	zt_obs_add db1 prerouting "h${fam}_udp" $ip saddr "$gw" udp dport 161
done

# probe SRC DST FAMILY PROTO PORT: zt-probe's result word.
probe() {
	echo "1 $4 - $(zt_addr "$2" "$3") $5" | zt_x "$1" "$ZT_PROBE" batch -w 1000 | awk '{ print $2 }'
}

# allows DIR SRC DST FAMILY PROTO PORT: explain (offline) allows it.
allows() { zt_explain_case "$@" | grep -q '^allow'; }

# Cases: "SRC DST PROTO PORT OBS-NODE OBS-COUNTER" — nothing allows them.
# web1's segment has subnets, ci1's has none (and isolate: true): their
# sources are classified along different chains.
cases=(
	"web1 db1 tcp 5432 db1 web1_%_tcp"
	"web1 db1 udp 161 db1 web1_%_udp"
	"web1 db1 icmp 0 db1 web1_%_icmp"
	"web1 app1 tcp 3306 app1 web1_%_tcp"
	"web1 host tcp 22 host web1_%_tcp"
	"ci1 db1 tcp 5432 db1 ci1_%_tcp"
	"ci1 db1 udp 161 db1 ci1_%_udp"
	"ci1 db1 icmp 0 db1 ci1_%_icmp"
	"ci1 app1 tcp 3306 app1 ci1_%_tcp"
	"ci1 host tcp 22 host ci1_%_tcp"
	"ci1 ci2 tcp 443 ci2 ci1_%_tcp"
	"host db1 tcp 5432 db1 h%_tcp"
	"host db1 udp 161 db1 h%_udp"
)

# untracked: ztseg's counter of dropped untracked packets (empty if there is none).
untracked() { zt_counter untracked || true; }
grew() { [ -n "$2" ] && [ $(($2 - ${1:-0})) -ge 1 ]; }
zt_check "ztseg's table has a counter 'untracked' (nft list counter inet ztseg untracked)" [ -n "$(untracked)" ]
for fam in 4 6; do
	for c in "${cases[@]}"; do
		read -r src dst proto port node obs <<<"$c"
		obs=${obs//%/$fam}
		what="IPv$fam untracked $src -> $dst $proto/$port"
		[[ $proto != icmp ]] || what="IPv$fam untracked $src -> $dst icmp echo"
		# explain is the reference: nothing allows it.
		zt_check "$what: explain denies it" ! allows "$pol" "$src" "$dst" "$fam" "$proto" "$port"
		u0=$(untracked)
		n0=$(zt_obs "$node" "$obs")
		res=$(probe "$src" "$dst" "$fam" "$proto" "$port")
		sleep 0.1
		n1=$(zt_obs "$node" "$obs")
		u1=$(untracked)
		zt_check "$what: not answered ($res)" [ "$res" != ok ]
		zt_check "$what: nothing arrived at $node ($((n1 - n0)) packets)" [ $((n1 - n0)) -eq 0 ]
		zt_check "$what: counted as untracked (+$((${u1:-0} - ${u0:-0})))" grew "$u0" "$u1"
	done
	# The legitimate side: untracked traffic out of scope (other0 -> uplink0,
	# no member interface) still passes, and tracked traffic is judged as ever.
	res=$(probe other internet "$fam" tcp 443)
	zt_check "IPv$fam untracked other -> internet tcp/443 (out of scope) passes ($res)" [ "$res" = ok ]
	res=$(probe other internet "$fam" udp 53)
	zt_check "IPv$fam untracked other -> internet udp/53 (out of scope) passes ($res)" [ "$res" = ok ]
	res=$(probe web2 app1 "$fam" tcp 8080)
	zt_check "IPv$fam tracked web2 -> app1 tcp/8080 (flow web-to-app) passes ($res)" [ "$res" = ok ]
	res=$(probe web2 db1 "$fam" tcp 5432)
	zt_check "IPv$fam tracked web2 -> db1 tcp/5432 (no flow) is dropped ($res)" [ "$res" = timeout ]
done

# status names the foreign table that untracks traffic on ztseg's hooks.
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
zt_bg host "$ZT_TMP/daemon.log" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/dstate" \
	--socket "$SOCK" --socket-group nogroup "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
quiet() { "$@" >/dev/null 2>&1; }
zt_wait_for 20000 quiet "$ZT_CTL" --socket "$SOCK" status ||
	zt_die "ztsegd did not come up: $(tail -5 "$ZT_TMP/daemon.log")"
out=$("$ZT_CTL" --socket "$SOCK" status 2>&1 || true)
zt_check "status reports the foreign table ztt_untrack that untracks traffic" grep -q 'ztt_untrack' <<<"$out"
js=$("$ZT_CTL" --socket "$SOCK" status --json 2>/dev/null || true)
n=$(jq '[.drops.reasons[] | select(.name == "untracked") | .packets][0] // 0' <<<"$js" 2>/dev/null || echo 0)
zt_check "status --json counts the untracked packets dropped ($n)" [ "${n:-0}" -gt 0 ]
kill "$DPID"
wait "$DPID" 2>/dev/null || true

# The control: without ztseg's table the untracked packets arrive.
zt_x host "$ZT_D" --remove >/dev/null 2>&1 || zt_nft delete table inet ztseg
for fam in 4 6; do
	for src in web1 ci1; do
		n0=$(zt_obs db1 "${src}_${fam}_tcp")
		res=$(probe $src db1 "$fam" tcp 5432)
		sleep 0.1
		n1=$(zt_obs db1 "${src}_${fam}_tcp")
		zt_check "control without ztseg: IPv$fam untracked $src -> db1 tcp/5432 arrives ($res)" [ "$res" = ok ]
		zt_check "control without ztseg: ... counted in db1 ($((n1 - n0)) packets)" [ $((n1 - n0)) -ge 1 ]
	done
done

zt_finish
