#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The rtnetlink tracker (lib/rtnl.c) against the kernel. zt-rtnl-watch runs
# in a namespace of its own; after every step its links, addresses and
# main-table routes must be exactly what `ip` lists, and membership changes
# must come out as the right element diffs: veths created, renamed and
# removed; routes added and moved between interfaces; routes the kernel
# drops without a word (link down, last address removed); bridge-port,
# default-route and two-segment warnings; and 2,000 veth pairs created
# while a watcher with a tiny receive buffer is stopped for 3 s, which must
# end in an overrun, a resync and the exact state.
#
# Addresses are documentation prefixes only; nothing touches the root
# namespace. The namespace goes at exit, links and all (deleting 2,000
# links one by one would hold RTNL for most of a minute).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WATCH=$ZT_BUILD/tests/zt-rtnl-watch
N_PAIRS=${ZT_RTNL_PAIRS:-2000}
STOP_SECONDS=3

[[ $(id -u) -eq 0 ]] || zt_skip "needs root (network namespaces)"
command -v ip >/dev/null || zt_skip "iproute2 (ip) is not installed"
[[ -x $WATCH ]] || zt_die "$WATCH is not built (run make)"
trap zt_cleanup EXIT
trap 'exit 130' INT TERM
ZT_TMP=$(mktemp -d "/tmp/ztt-$$-XXXXXX")
zt_ns_add r
NS=$(zt_ns r)
ip -n "$NS" link add zt0 type veth peer name zt1 2>/dev/null || zt_skip "the kernel has no veth"
ip -n "$NS" link del zt0

n() { ip -n "$NS" "$@"; }

POL=$ZT_TMP/policy
mkdir -p "$POL"
cat >"$POL/ztseg.yaml" <<'EOF'
version: 1
hub:
  encrypted-interfaces: ["wg*"]
segments:
  web:
    interfaces: ["vweb*"]
    addresses: [198.51.100.0/26]
  app:
    interfaces: ["vapp*"]
EOF
chmod 0755 "$POL"
chmod 0644 "$POL/ztseg.yaml"

wait_file() { # PATH: up to 5 s
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.05
	done
	return 1
}

declare -A W_PID
# watch_start NAME [ARGS...]: a watcher in the namespace, up once its
# initial dump is written.
watch_start() {
	local name=$1
	shift
	ip netns exec "$NS" "$WATCH" -o "$ZT_TMP/snap-$name" "$@" \
		>"$ZT_TMP/out-$name" 2>"$ZT_TMP/err-$name" &
	W_PID[$name]=$!
	wait_file "$ZT_TMP/snap-$name" ||
		zt_die "watcher $name did not start: $(cat "$ZT_TMP/err-$name")"
}

# snapshot NAME: the watcher catches up with every queued event and
# writes its state.
snapshot() {
	rm -f "$ZT_TMP/snap-$1"
	kill -USR1 "${W_PID[$1]}"
	wait_file "$ZT_TMP/snap-$1"
}

# The kernel's links, addresses and main-table routes, as the watcher
# writes them (ip prints "default" and bare host addresses).
kernel_state() {
	local f
	{
		n -o link show | awk -F': ' '{ split($2, a, "@"); print "link", $1, a[1] }'
		n -o addr show | awk '{ print "addr", $2, $4 }'
		for f in 4 6; do
			n -"$f" route show table main | awk -v fam="$f" '
				/^[ \t]/ { next }	# multipath next hops: none made here
				{
					type = "unicast"
					if ($1 ~ /^(blackhole|unreachable|prohibit|throw|local|broadcast|anycast|multicast)$/) {
						type = $1
						$0 = substr($0, length($1) + 2)
					}
					dst = $1
					if (dst == "default")
						dst = fam == 4 ? "0.0.0.0/0" : "::/0"
					else if (dst !~ /\//)
						dst = dst (fam == 4 ? "/32" : "/128")
					dev = "-"
					for (i = 2; i < NF; i++)
						if ($i == "dev")
							dev = $(i + 1)
					print "route", type, dst, dev
				}'
		done
	} | sort
}

watch_state() {
	awk '$1 == "link" { print "link", $2, $3; next }
	     $1 == "addr" || $1 == "route" { print }' "$ZT_TMP/snap-$1" | sort
}

# check_state NAME WHAT: the watcher's state is the kernel's. Carrier
# changes reach the kernel's own state through linkwatch, up to a second
# late, so a mismatch is retried for a while before it counts.
check_state() {
	local name=$1 what=$2 i
	for ((i = 0; i < 25; i++)); do
		if snapshot "$name"; then
			kernel_state >"$ZT_TMP/kernel"
			watch_state "$name" >"$ZT_TMP/watched"
			if cmp -s "$ZT_TMP/kernel" "$ZT_TMP/watched"; then
				zt_ok "$what"
				return 0
			fi
		fi
		sleep 0.2
	done
	zt_not_ok "$what"
	diff -u "$ZT_TMP/kernel" "$ZT_TMP/watched" | head -40 | sed 's/^/#   /' || true
	return 0
}

# expect_out NAME LINE...: each line came out as a membership change.
expect_out() {
	local name=$1 l
	shift
	for l in "$@"; do
		if grep -qxF -- "$l" "$ZT_TMP/out-$name"; then
			zt_ok "$name: '$l'"
		else
			zt_not_ok "$name: '$l' expected"
			sed 's/^/#   /' "$ZT_TMP/out-$name" | tail -20
		fi
	done
}

# snap_has NAME LINE: a line of the last snapshot.
snap_has() { grep -qxF -- "$2" "$ZT_TMP/snap-$1"; }
snap_grep() { grep -qE -- "$2" "$ZT_TMP/snap-$1"; }
not() { ! "$@"; }
snap_none() { ! grep -qE -- "$2" "$ZT_TMP/snap-$1"; }
has_all() { # NAME LINE...
	local name=$1 l
	shift
	for l in "$@"; do snap_has "$name" "$l" || return 1; done
}
lacks_all() { # NAME LINE...
	local name=$1 l
	shift
	for l in "$@"; do ! snap_has "$name" "$l" || return 1; done
}
stat_of() { sed -nE "s/^stats .*\\b$2=([0-9]+).*/\\1/p" "$ZT_TMP/snap-$1"; }

veth() { # NAME PEER: a pair, both up
	n link add "$1" type veth peer name "$2"
	n link set "$1" up
	n link set "$2" up
}

# 1. The initial dump: what exists before the watcher starts.
veth vweb1 pweb1
n addr add 192.0.2.254/32 dev vweb1
n route add 198.51.100.2/32 dev vweb1
n -6 route add 2001:db8:0:1::2/128 dev vweb1
watch_start main -c "$POL"
check_state main "initial dump"
zt_check "initial membership" has_all main "member web vweb1" \
	"routed web 198.51.100.2/32" "routed web 2001:db8:0:1::2/128"

# 2. Links come and go.
veth vweb2 pweb2
veth vapp1 papp1
check_state main "veths created"
expect_out main "+if web vweb2" "+if app vapp1"
zt_check "link kind veth" snap_grep main '^link [0-9]+ vapp1 veth 0$'

n link set vweb2 down
n link set vweb2 name vapp2
n link set vapp2 up
check_state main "veth renamed"
expect_out main "-if web vweb2" "+if app vapp2"

# 3. Routes added and moved: a workload's /32 and /128 go from web to app.
n route add 198.51.100.5/32 dev vweb1
n -6 route add 2001:db8:0:1::5/128 dev vweb1
check_state main "routes added"
expect_out main "+pfx web 198.51.100.5/32" "+pfx web 2001:db8:0:1::5/128"
n route replace 198.51.100.5/32 dev vapp1
n -6 route replace 2001:db8:0:1::5/128 dev vapp1
check_state main "routes moved"
expect_out main "-pfx web 198.51.100.5/32" "+pfx app 198.51.100.5/32" \
	"-pfx web 2001:db8:0:1::5/128" "+pfx app 2001:db8:0:1::5/128"
snapshot main
zt_check "moved route follows into app" has_all main "routed app 198.51.100.5/32" \
	"routed app 2001:db8:0:1::5/128"
zt_check "moved route leaves web" lacks_all main "routed web 198.51.100.5/32" \
	"routed web 2001:db8:0:1::5/128"
n route del 198.51.100.5/32 dev vapp1
n route add 198.51.100.5/32 dev vweb1
check_state main "route deleted and re-added elsewhere"
expect_out main "-pfx app 198.51.100.5/32"

# 4. Routes the kernel removes without RTM_DELROUTE.
redumps=$(stat_of main route_redumps)
n route add 198.51.100.6/32 dev vapp1
n link set vapp1 down
check_state main "link down: its IPv4 routes went silently"
snapshot main
zt_check "link down: routed address gone" lacks_all main "routed app 198.51.100.6/32"
zt_check "link down: routes re-dumped" [ "$(stat_of main route_redumps)" -gt "$redumps" ]
n link set vapp1 up

veth vweb3 pweb3
n addr add 192.0.2.1/24 dev vweb3
n route add 198.51.100.9/32 dev vweb3
n route add 198.51.100.10/32 via 192.0.2.2 dev vweb3
check_state main "routes through vweb3"
n addr del 192.0.2.1/24 dev vweb3
check_state main "last address removed: its routes went silently"
snapshot main
zt_check "address removed: routed addresses gone" lacks_all main \
	"routed web 198.51.100.9/32" "routed web 198.51.100.10/32"

n link del vweb3
check_state main "veth deleted"
expect_out main "-if web vweb3"

# 5. Warnings and encrypted interfaces.
n link add br0 type bridge
n link set vapp2 master br0
n route add default dev vapp2 metric 100
n route add 198.51.100.77/32 dev vweb1 metric 10
n route add 198.51.100.77/32 dev vapp1 metric 20
n link add wg0 type veth peer name pwg0
check_state main "bridge, default route, contested prefix, wg0"
snapshot main
# A member port of a bridge is enforced (bridge ztseg): warned about only when hub.mark-mask has no room.
zt_check "no warning: a member's bridge port is enforced" \
	not snap_grep main '^warning segment app: member interface vapp2 is a port of bridge br0'
zt_check "... and the snapshot still names the bridge port" snap_grep main 'vapp2'
zt_check "warning: default route" \
	snap_grep main '^warning segment app: member interface vapp2 carries a default route \(0\.0\.0\.0/0\)'
zt_check "warning: prefix in two segments" \
	snap_has main "warning 198.51.100.77/32 is routed into two segments: web and app"
zt_check "encrypted-interfaces match, with the link kind" snap_has main "enc wg0 veth"
expect_out main "+enc wg0 veth"
n route del default dev vapp2 metric 100
n route del 198.51.100.77/32 dev vapp1 metric 20
n link set vapp2 nomaster
snapshot main
zt_check "warnings gone with their causes" snap_none main '^warning '

# 6. An overrun: 2,000 veth pairs while a watcher with a tiny buffer is stopped.
watch_start small -b 4096 -c "$POL"
check_state small "small-buffer watcher starts exact"
batch=$ZT_TMP/batch
for ((i = 1; i <= N_PAIRS; i++)); do
	echo "link add vweb-m$i type veth peer name pm$i"
done >"$batch"
for ((i = 1; i <= 200; i++)); do
	echo "link set vweb-m$i up"
	echo "link set pm$i up"
	echo "route add 198.51.100.$((i + 50))/32 dev vweb-m$i"
	echo "route add 2001:db8:9::$i/128 dev vweb-m$i"
done >>"$batch"
kill -STOP "${W_PID[small]}"
start=$(date +%s%N)
n -batch "$batch"
left=$((STOP_SECONDS * 1000 - ($(date +%s%N) - start) / 1000000))
((left <= 0)) || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
kill -CONT "${W_PID[small]}"
check_state small "after the overrun: the state is exact"
snapshot small
zt_check "the overrun is counted" [ "$(stat_of small overruns)" -ge 1 ]
zt_check "a resync followed" [ "$(stat_of small resyncs)" -ge 1 ]
expect_out small "resync"
members=$(grep -c '^member web vweb-m' "$ZT_TMP/snap-small" || true)
zt_check "membership: $members of $N_PAIRS new web interfaces" [ "$members" -eq "$N_PAIRS" ]
routed=$(grep -cE '^routed web (198\.51\.100\.[0-9]+/32|2001:db8:9::[0-9a-f]+/128)$' "$ZT_TMP/snap-small" || true)
zt_check "membership: routed addresses of the new interfaces" [ "$routed" -ge 400 ]
adds=$(grep -cE '^\+if web vweb-m' "$ZT_TMP/out-small" || true)
uniq_adds=$(grep -E '^\+if web vweb-m' "$ZT_TMP/out-small" | sort -u | wc -l)
zt_check "diffs across the resync add each new interface once ($adds)" \
	[ "$adds" -eq "$N_PAIRS" -a "$uniq_adds" -eq "$N_PAIRS" ]
check_state main "the 16 MiB watcher kept up"
snapshot main
zt_check "the kernel's own messages are never malformed" \
	[ "$(stat_of main malformed)" -eq 0 -a "$(stat_of small malformed)" -eq 0 ]
echo "# main: $(head -1 "$ZT_TMP/snap-main")"
echo "# small: $(head -1 "$ZT_TMP/snap-small")"

kill -TERM "${W_PID[main]}" "${W_PID[small]}"
rc=0
wait "${W_PID[main]}" || rc=$?
wait "${W_PID[small]}" || rc=$?
zt_check "watchers exit cleanly" [ "$rc" -eq 0 ]
zt_finish
