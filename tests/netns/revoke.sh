#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Issue 10, hole 5: a reload revokes every open connection the new policy
# would not allow, whatever it changed, and only those.
#
#   w1 ── vw1 ──┐                 ┌── up0 ── ext   203.0.113.10, .100 (+ v6)
#   sc ── vs1 ──┤  segment s:     ├── lan0 ── lan  (no segment: out of scope)
#   sr ── vs2 ──┤  sc, sr rest,   ├── wg0 ─── vpn  (boundary vpn, "encrypting")
#   sa ── vs3 ──┤  sa, sb in s1   └── pa0 ─── partner (boundary partner)
#   sb ── vs4 ──┘
#
# For each change below, long-lived TCP streams run over IPv4 and IPv6 (a
# line every 50 ms, TCP_NODELAY), the policy is re-applied with the change
# (ztsegd --oneshot, which diffs against the applied table; twice through
# the daemon's reload), and the lines that reach each server are timed
# there: a stream the new policy forbids must stop arriving within 1 s of
# the reload; a control stream it still allows must go on without a gap.
#   a  static addresses re-drawn: 203.0.113.100 moves from boundary ext to
#      boundary other (the flow w1 -> ext is unchanged)
#   b  subnets re-drawn: sb moves from s.s1 to s.s2 (rule s -> s1 unchanged)
#   c  isolate: true for s (sc -> sr, both in s's rest)
#   d  lan0, out of scope so far, is claimed by a new segment lan
#   e  scope: members -> all (lan -> ext, forwarded between non-members)
#   f  protect-host: false -> true (w1 -> the host, no flow)
#   g  encrypted-interfaces no longer match wg0 (w1 -> vpn, encrypted: true)
#   h  boundary partner's interfaces: pa0 -> pb0 (partner's client on pa0)
# and the negative controls: the same policy again, the policy with flows
# renamed, keys reordered and comments added, and with its boundaries and
# segments defined in another order: every stream keeps flowing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_need_py
zt_init

interval=50	# ms between lines
settle=1000	# ms of traffic before the reload
after=2000	# ms of traffic after it
limit=1000	# a revoked stream must stop arriving within this many ms

#       name     interface IPv4            IPv6                    zone   host side
zt_node w1       vw1       198.51.100.10   2001:db8:1::10          w1
zt_node sc       vs1       198.51.100.66   2001:db8:5::66          s
zt_node sr       vs2       198.51.100.67   2001:db8:5::67          s
zt_node sa       vs3       198.51.100.74   2001:db8:5:1::74        s.s1
zt_node sb       vs4       198.51.100.77   2001:db8:5:1:8000::77   s.s1
zt_node ext      up0       192.0.2.10      2001:db8:ee::10         world  $ZT_HOST_V4/26 $ZT_HOST_V6/64
zt_node lan      lan0      192.0.2.70      2001:db8:e2::70         world  192.0.2.65/26 2001:db8:e2::1/64
zt_node vpn      wg0       198.51.100.242  2001:db8:9::2           vpn    198.51.100.241/28 2001:db8:9::1/64
zt_node partner  pa0       192.0.2.130     2001:db8:8::130         partner 192.0.2.129/26 2001:db8:8::1/64

zt_ns_add host
zt_forwarding host
for n in w1 sc sr sa sb; do
	zt_ns_add "$n"
	zt_node_link host "$n" "$n"
done
for n in ext lan vpn partner; do
	zt_ns_add "$n"
	zt_peer_link host "$n"
done
zt_x host ip route add default via "${ZT_V4[ext]}" dev up0
zt_x host ip -6 route add default via "${ZT_V6[ext]}" dev up0
# ext's servers: one address that stays in boundary ext, one that moves.
EXT_KEEP4=203.0.113.10 EXT_KEEP6=2001:db8:e0::10
EXT_MOVE4=203.0.113.100 EXT_MOVE6=2001:db8:e0:0:8000::10
zt_x ext ip -batch - <<EOF
addr add $EXT_KEEP4/32 dev eth0
addr add $EXT_MOVE4/32 dev eth0
addr add $EXT_KEEP6/128 dev eth0 nodad
addr add $EXT_MOVE6/128 dev eth0 nodad
EOF

# ---- policies -------------------------------------------------------------------

# gen DIR: the policy, from these settings (the base, then one change each).
base_vars() {
	EXT4=203.0.113.0/25 EXT6=2001:db8:e0::/64
	OTHER4=203.0.113.128/25 OTHER6=2001:db8:e1::/64
	S1='198.51.100.72/29, "2001:db8:5:1::/64"'
	S2='198.51.100.80/29, "2001:db8:5:2::/64"'
	ISOLATE=false SCOPE=members PROTECT=false ENC='"wg*"' PARTNER_IF=pa0 LANSEG=
	STYLE=plain ORDER=plain
}
gen() {
	local d=$1 b_ext b_other b_vpn b_partner s_w1 s_s s_lan
	mkdir -p "$d"
	b_ext="    ext: { addresses: [$EXT4, \"$EXT6\"] }"
	b_other="    other: { addresses: [$OTHER4, \"$OTHER6\"] }"
	b_vpn="    vpn: { addresses: [198.51.100.240/28, \"2001:db8:9::/64\"], interfaces: [\"wg0\"] }"
	b_partner="    partner: { addresses: [192.0.2.128/26, \"2001:db8:8::/64\"], interfaces: [\"$PARTNER_IF\"] }"
	s_w1='  w1:
    interfaces: ["vw1"]
    addresses: [198.51.100.10/32, "2001:db8:1::10/128"]'
	s_s="  s:
    interfaces: [\"vs*\"]
    addresses: [198.51.100.64/26, \"2001:db8:5::/56\"]
    isolate: $ISOLATE
    subnets:
      s1: { addresses: [$S1] }
      s2: { addresses: [$S2] }
    rules:
      - { name: to-s1, from: s, to: s1, ports: [tcp/7002] }"
	s_lan=
	[[ -z $LANSEG ]] || s_lan='  lan:
    interfaces: ["lan0"]
    addresses: [192.0.2.64/26, "2001:db8:e2::/64"]'
	{
		echo "version: 1"
		echo "hub:"
		echo "  default: drop"
		echo "  scope: $SCOPE"
		echo "  rpf: strict"
		echo "  protect-host: $PROTECT"
		echo "  encrypted-interfaces: [$ENC]"
		echo "  boundaries:"
		if [[ $ORDER == plain ]]; then
			printf '%s\n' "$b_ext" "$b_other" "$b_vpn" "$b_partner"
		else
			printf '%s\n' "$b_partner" "$b_vpn" "$b_other" "$b_ext"
		fi
		echo "  flows:"
		if [[ $STYLE == plain ]]; then
			cat <<-EOF
			    - { name: w1-ext, from: w1, to: ext, ports: [tcp/7001] }
			    - { name: w1-vpn, from: w1, to: vpn, ports: [tcp/7004], encrypted: true }
			    - { name: partner-w1, from: partner, to: w1, ports: [tcp/7005] }
			EOF
		else
			# Renamed, keys in another order, comments: the same meaning.
			cat <<-EOF
			    # w1 reaches the outside service
			    - { ports: [tcp/7001], to: ext, from: w1, name: web-out }
			    - name: tunnel      # only through the encrypted link
			      encrypted: true
			      ports: [tcp/7004]
			      from: w1
			      to: vpn
			    - { to: w1, from: partner, name: partner-in, ports: [tcp/7005] }
			EOF
		fi
		echo "segments:"
		if [[ $ORDER == plain ]]; then
			printf '%s\n' "$s_w1" "$s_s"
		else
			printf '%s\n' "$s_s" "$s_w1"
		fi
		[[ -z $s_lan ]] || printf '%s\n' "$s_lan"
	} >"$d/ztseg.yaml"
	chmod 0755 "$d"
	chmod 0644 "$d/ztseg.yaml"
	"$ZT_CTL" check --config "$d" >/dev/null 2>"$d.check" ||
		zt_die "policy $d is invalid: $(cat "$d.check")"
}

base_vars
BASE=$ZT_TMP/p-base
gen "$BASE"
# case NAME: the changed policy of that case, in $ZT_TMP/p-NAME.
mkcase() { # NAME VAR=VALUE...
	local name=$1
	shift
	base_vars
	local kv
	for kv in "$@"; do printf -v "${kv%%=*}" '%s' "${kv#*=}"; done
	gen "$ZT_TMP/p-$name"
}
mkcase a EXT4=203.0.113.0/26 EXT6=2001:db8:e0::/65 \
	OTHER4='203.0.113.64/26, 203.0.113.128/25' OTHER6='2001:db8:e0:0:8000::/65", "2001:db8:e1::/64'
mkcase b S1='198.51.100.72/30, "2001:db8:5:1::/65"' \
	S2='198.51.100.80/29, 198.51.100.76/30, "2001:db8:5:2::/64", "2001:db8:5:1:8000::/65"'
mkcase c ISOLATE=true
mkcase d LANSEG=1
mkcase e SCOPE=all
mkcase f PROTECT=true
mkcase g ENC='"tun*"'
mkcase h PARTNER_IF=pb0
mkcase n1
mkcase n2 STYLE=alt
mkcase n3 ORDER=swapped
base_vars

# ---- servers and streams ----------------------------------------------------------

SOCKPY=$ZT_ROOT/tests/netns/zt-sock.py
# Each server logs every line that reaches it: "TAG SEQ T".
declare -A PORTS=([ext]=7001 [sa]=7002 [sb]=7002 [sr]=7002 [host]=7003 [vpn]=7004 [w1]=7005)
for n in "${!PORTS[@]}"; do
	zt_bg "$n" "$ZT_TMP/srv-$n.log" "$ZT_PY" -u "$SOCKPY" serve "${PORTS[$n]}"
done
for n in "${!PORTS[@]}"; do
	zt_wait_for 5000 grep -qs '^listening' "$ZT_TMP/srv-$n.log" || zt_die "no server in $n"
done

# Streams: "LABEL CLIENT SERVER-NODE DST4 DST6 PORT".
S_EXT="w1-ext w1 ext $EXT_KEEP4 $EXT_KEEP6 7001"
S_MOVED="w1-ext-moved w1 ext $EXT_MOVE4 $EXT_MOVE6 7001"
S_SA="sc-sa sc sa ${ZT_V4[sa]} ${ZT_V6[sa]} 7002"
S_SB="sc-sb sc sb ${ZT_V4[sb]} ${ZT_V6[sb]} 7002"
S_SR="sc-sr sc sr ${ZT_V4[sr]} ${ZT_V6[sr]} 7002"
S_LAN="lan-ext lan ext $EXT_KEEP4 $EXT_KEEP6 7001"
S_HOST="w1-host w1 host $ZT_GW_V4 $ZT_GW_V6 7003"
S_VPN="w1-vpn w1 vpn ${ZT_V4[vpn]} ${ZT_V6[vpn]} 7004"
S_PARTNER="partner-w1 partner w1 ${ZT_V4[w1]} ${ZT_V6[w1]} 7005"
S_ALL=("$S_EXT" "$S_MOVED" "$S_SA" "$S_SB" "$S_SR" "$S_LAN" "$S_HOST" "$S_VPN" "$S_PARTNER")

# endpoint NODE ADDRESS: how explain names one side.
endpoint() { if [[ $1 == host ]]; then echo host; else echo "iface:${ZT_IF[$1]},$2"; fi; }
# allows DIR STREAM FAMILY: explain (offline) allows the stream's connection.
allows() {
	local label c s d4 d6 port d
	read -r label c s d4 d6 port <<<"$2"
	if [[ $3 == 4 ]]; then d=$d4; else d=$d6; fi
	"$ZT_CTL" explain --config "$1" "$(endpoint "$c" "$(zt_addr "$c" "$3")")" \
		"$(endpoint "$s" "$d")" "tcp/$port" >/dev/null 2>&1
}

# arrivals TAG: the arrival times (ms) of TAG's lines at its server.
arrivals() { cat "$ZT_TMP"/srv-*.log | awk -v tag="$1" '$1 == tag { print $3 }' | sort -n; }

# ---- one case -------------------------------------------------------------------------

# apply_oneshot DIR / apply_daemon DIR: the two ways to reload.
apply_oneshot() { zt_apply "$1" >"$ZT_TMP/apply.out" 2>&1; }
apply_daemon() {
	cp "$1/ztseg.yaml" "$DCONF/ztseg.yaml"
	"$ZT_CTL" --socket "$SOCK" reload >"$ZT_TMP/apply.out" 2>&1
}

# run CASE HOW STREAM-KIND...: with the base policy applied, start every
# stream (KIND "revoke:STREAM" or "keep:STREAM"), reload to the case's
# policy HOW (oneshot or daemon), and judge the arrivals.
run() {
	local cname=$1 how=$2 item kind spec label c s d4 d6 port fam tag pids=() t0 t1
	local new=$ZT_TMP/p-${cname#daemon-}
	shift 2
	"apply_$how" "$BASE" || zt_die "$cname: re-applying the base policy failed: $(cat "$ZT_TMP/apply.out")"
	for item in "$@"; do
		kind=${item%%:*} spec=${item#*:}
		read -r label c s d4 d6 port <<<"$spec"
		for fam in 4 6; do
			tag=$cname-$label-$fam
			zt_bg "$c" "$ZT_TMP/cli-$tag" "$ZT_PY" -u "$SOCKPY" stream "$tag" \
				"$([[ $fam == 4 ]] && echo "$d4" || echo "$d6")" "$port" "$interval"
			pids+=("$ZT_BG_PID")
		done
	done
	# The settle time counts from when every stream is connected: on a
	# loaded machine starting the Python clients alone can take most of it.
	local tags=()
	for item in "$@"; do
		read -r label _ <<<"${item#*:}"
		tags+=("$cname-$label-4" "$cname-$label-6")
	done
	all_connected() { local t; for t in "${tags[@]}"; do grep -q '^connected' "$ZT_TMP/cli-$t" 2>/dev/null || return 1; done; }
	zt_wait_for 10000 all_connected || true
	zt_sleep_ms "$settle"
	t0=$(zt_now_ms)
	"apply_$how" "$new" || zt_die "$cname: applying the changed policy failed: $(cat "$ZT_TMP/apply.out")"
	t1=$(zt_now_ms)
	zt_sleep_ms "$after"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	echo "# case $cname: reload ($how) took $((t1 - t0)) ms"
	for item in "$@"; do
		kind=${item%%:*} spec=${item#*:}
		read -r label c s d4 d6 port <<<"$spec"
		for fam in 4 6; do
			tag=$cname-$label-$fam
			local what="$cname: IPv$fam $label ($c -> $s tcp/$port)" times before late last gap
			if ! grep -q '^connected' "$ZT_TMP/cli-$tag"; then
				zt_not_ok "$what: did not connect under the base policy: $(head -1 "$ZT_TMP/cli-$tag")"
				continue
			fi
			times=$(arrivals "$tag")
			before=$(awk -v t="$t0" '$1 < t' <<<"$times" | wc -l)
			zt_check "$what: flowing before the reload ($before lines)" [ "$before" -ge $((settle / interval / 2)) ]
			if [[ $kind == revoke ]]; then
				late=$(awk -v t=$((t1 + limit)) '$1 >= t' <<<"$times" | wc -l)
				last=$(tail -1 <<<"$times")
				zt_check "$what: stopped arriving within ${limit} ms of the reload (last line $((${last:-0} - t1)) ms after, $late later than ${limit} ms)" \
					[ "$late" -eq 0 ]
				if [[ $cname != daemon-* ]]; then
					zt_check "$what: explain denies it under the new policy" ! allows "$new" "$spec" "$fam"
				fi
			else
				late=$(awk -v t=$((t1 + limit)) '$1 >= t' <<<"$times" | wc -l)
				gap=$(awk -v t="$t0" -v e=$((t1 + after - 200)) '
					{ if (p && $1 - p > g) g = $1 - p; p = $1 }
					END { if (e - p > g) g = e - p; print g + 0 }' <<<"$times")
				zt_check "$what: still arriving after the reload ($late lines later than ${limit} ms)" \
					[ "$late" -ge $(((after - limit) / interval / 2)) ]
				zt_check "$what: longest gap ${gap} ms (< 500)" [ "$gap" -lt 500 ]
				zt_check "$what: no reset" ! grep -qE '^(error|closed)' "$ZT_TMP/cli-$tag"
				if [[ $cname == [a-h] ]]; then
					zt_check "$what: explain allows it under the new policy" allows "$new" "$spec" "$fam"
				fi
			fi
		done
	done
}

# The base policy must allow every stream (else a case proves nothing).
for spec in "${S_EXT}" "${S_MOVED}" "${S_SA}" "${S_SB}" "${S_SR}" "${S_HOST}" "${S_PARTNER}"; do
	for fam in 4 6; do
		allows "$BASE" "$spec" "$fam" || zt_die "the base policy does not allow ${spec%% *} (IPv$fam)"
	done
done

run a oneshot "revoke:$S_MOVED" "keep:$S_EXT"
run b oneshot "revoke:$S_SB" "keep:$S_SA"
run c oneshot "revoke:$S_SR" "keep:$S_SA"
run d oneshot "revoke:$S_LAN" "keep:$S_EXT"
run e oneshot "revoke:$S_LAN" "keep:$S_EXT"
run f oneshot "revoke:$S_HOST" "keep:$S_EXT"
run g oneshot "revoke:$S_VPN" "keep:$S_EXT"
run h oneshot "revoke:$S_PARTNER" "keep:$S_EXT"
keep_all=()
for s in "${S_ALL[@]}"; do keep_all+=("keep:$s"); done
run n1 oneshot "${keep_all[@]}"
run n2 oneshot "${keep_all[@]}"
run n3 oneshot "${keep_all[@]}"

# The same through the daemon's reload (ztsegctl reload).
DCONF=$ZT_TMP/dconf
mkdir -m 0755 "$DCONF" "$ZT_TMP/run"
cp "$BASE/ztseg.yaml" "$DCONF/"
chmod 0644 "$DCONF/ztseg.yaml"
SOCK=$ZT_TMP/run/ztsegd.sock
zt_bg host "$ZT_TMP/daemon.log" "$ZT_D" --config "$DCONF" --state-dir "$ZT_TMP/dstate" \
	--socket "$SOCK" --socket-group nogroup "${ZT_APPLY_ARGS[@]}"
DPID=$ZT_BG_PID
quiet() { "$@" >/dev/null 2>&1; }
zt_wait_for 20000 quiet "$ZT_CTL" --socket "$SOCK" status ||
	zt_die "ztsegd did not come up: $(tail -5 "$ZT_TMP/daemon.log")"
run daemon-a daemon "revoke:$S_MOVED" "keep:$S_EXT"
run daemon-b daemon "revoke:$S_SB" "keep:$S_SA"
run daemon-n2 daemon "keep:$S_EXT" "keep:$S_SA" "keep:$S_SB" "keep:$S_PARTNER"
zt_check "daemon: still running" kill -0 "$DPID"
kill "$DPID"
wait "$DPID" 2>/dev/null || true

zt_finish
