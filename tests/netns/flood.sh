#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Flood limits with real traffic, v4 and v6 (threats.flood, threats.except):
# a source over per-source is banned within one burst and dropped while
# banned; the ban expires on time; except prefixes are never limited or
# banned; connections: caps concurrent connections; two addresses of one
# /64 share a limit; a world source is limited, not banned; a full meter
# and a full ban set drop and count instead of passing; a spoofed flood
# from many sources keeps the sets bounded and the daemon answering;
# ztsegctl bans / unban, the journal records, status counters; a reload
# that keeps the limit keeps its bans, one that removes it removes them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (JSON)"

zt_init
zt_up
chmod 0711 "$ZT_TMP"
mkdir -m 0755 "$ZT_TMP/run"
SOCK=$ZT_TMP/run/ztsegd.sock
WEB=${ZT_V4[web1]} WEB6=${ZT_V6[web1]} DB=${ZT_V4[db1]} DB6=${ZT_V6[db1]}
ON=${ZT_V4[onprem]} ON6=${ZT_V6[onprem]}
# A second address of onprem's /64 (shares its IPv6 limit) and more sources.
ON6B=2001:db8:ffff::11 ON2=203.0.113.11 ON3=203.0.113.12 ON4=203.0.113.13
for a in "$ON2/24" "$ON3/24" "$ON4/24"; do zt_x onprem ip addr add "$a" dev eth0; done
zt_x onprem ip addr add "$ON6B/64" dev eth0 nodad
INET=${ZT_V4[internet]} INET6=${ZT_V6[internet]} OTHER=${ZT_V4[other]} OTHER6=${ZT_V6[other]}

# policy DIR [BAN] [EXTRA-FLOOD-LINE]
policy() {
	mkdir -p "$1"
	cat >"$1/ztseg.yaml" <<-EOF
	version: 1
	hub:
	  default: drop
	  boundaries:
	    onprem: { interfaces: ["wg-onprem"], addresses: [203.0.113.0/24, "2001:db8:ffff::/48"] }
	    internet: { interfaces: ["uplink0"], addresses: [192.0.2.0/26, "2001:db8:ee::/64"] }
	  flows:
	    - { from: [onprem, internet, world], to: [web, db], ports: [tcp/80, tcp/5432] }
	threats:
	  except: [192.0.2.8/29, "2001:db8:ee::/64"]
	  flood:
	    - { to: web, per-source: 5/second, burst: 10, ban: ${2:-4s}, max-sources: ${3:-1000}, max-bans: ${4:-1000} }
	    - { to: db, connections: 3, ban: 30s }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/27, "2001:db8:0:1::/64"] }
	  db: { interfaces: ["vdb*"], addresses: [198.51.100.64/27, "2001:db8:0:3::/64"] }
	EOF
	chmod 0755 "$1"
	chmod 0644 "$1/ztseg.yaml"
	"$ZT_CTL" check --config "$1" >/dev/null || zt_die "policy $1 is invalid"
}
POL=$ZT_TMP/pol
policy "$POL"
zt_serve web1 db1

# burst NODE SRC DST N: N TCP connections to port 80 at once; prints how many got through.
burst() {
	local i
	for ((i = 0; i < $4; i++)); do echo "$i tcp $2 $3 80"; done |
		zt_x "$1" "$ZT_PROBE" batch -w 800 | awk '$2 == "ok" { n++ } END { print n + 0 }'
}
probe() { # NODE SRC DST PORT
	echo "1 tcp $2 $3 $4" | zt_x "$1" "$ZT_PROBE" batch -w 700 | awk '{ print $2 }'
}
allowed() { [[ $(probe "$@") == ok ]]; }
banned_in() { # SET ADDR: the address is an element of the ban set
	zt_nft list map inet ztseg "$1" 2>/dev/null | grep -q "$2 "
}
ban_set() { # 4|6 [N]: the name of limit N's ban set (default: the first, web's)
	zt_nft list sets inet ztseg | sed -nE "s/.*map (ban$1_[0-9a-f]+) .*/\\1/p" | sed -n "${2:-1}p"
}
# ban_set 4|6 ZONE: the ban set of the limit to ZONE, as the policy compiles.
ban_set() {
	"$ZT_CTL" show --config "$POL" | sed -nE "s/.*add @(ban$1_[0-9a-f]+) .*threats.flood to $2 .*/\\1/p" | head -1
}

zt_apply "$POL" >/dev/null
B4=$(ban_set 4 web) B6=$(ban_set 6 web)
zt_log "ban sets $B4 $B6"
n=$(burst onprem "$ON" "$WEB" 30)
zt_log "burst passed $n"
zt_nft list map inet ztseg "$B4"
zt_nft list counters table inet ztseg | grep -A2 flood
zt_x host "$ZT_D" --oneshot --config "$POL" --state-dir "$ZT_TMP/state2" "${ZT_APPLY_ARGS[@]}"
zt_nft list map inet ztseg "$B4"
