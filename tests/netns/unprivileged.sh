#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The premise of systemd/ztsegd.service: ztsegd needs no root, only
# CAP_NET_ADMIN. In a throwaway network namespace it runs as uid/gid 65534
# with CAP_NET_ADMIN as its only capability (inheritable, ambient and
# bounding set), no supplementary groups, no_new_privs and umask 077, like
# User=, AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges= and
# UMask= of the unit, against a root-owned policy and directories owned by
# that user, as StateDirectory= and RuntimeDirectory= make them. It must
# apply, answer status and reload (from root, and from its own uid as the
# unit's ExecReload= runs), read NFLOG, delete conntrack entries, read
# conntrack events and turn accounting on (flow-log), leave the
# table in place on SIGTERM, and do --oneshot and --remove the same way.
# Without CAP_NET_ADMIN it must fail. Exits 77 when setpriv or the
# capabilities are not available here: no setpriv, not root, no ambient
# capabilities, or (lib.sh's checks) no nft, nf_tables or veth.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || zt_skip "setpriv (util-linux) is not installed"

zt_init

U=65534
# The unit's sandbox, as far as setpriv reaches: uid, gid, no groups, one capability.
asuser=(setpriv "--reuid=$U" "--regid=$U" --clear-groups --nnp)
withcap=("--inh-caps=-all,+net_admin" "--ambient-caps=-all,+net_admin" "--bounding-set=-all,+net_admin")
nocap=(--inh-caps=-all --ambient-caps=-all --bounding-set=-all)
"${asuser[@]}" "${withcap[@]}" true 2>/dev/null ||
	zt_skip "setpriv cannot run uid $U with only CAP_NET_ADMIN (no ambient capabilities?)"

zt_ns_add host
h=$(zt_ns host)

# Directories: the run and state parents belong to the daemon's user (as
# systemd makes /run/ztseg and /var/lib/ztseg); the policy to root, 0755/0644.
chmod 0711 "$ZT_TMP"
RUN=$ZT_TMP/run VAR=$ZT_TMP/var
install -d -m 0750 -o $U -g $U "$RUN"
install -d -m 0755 -o $U -g $U "$VAR"
STATE=$VAR/ztseg
SOCK=$RUN/ztsegd.sock
POL=$ZT_TMP/policy
install -d -m 0755 "$POL" "$POL/segments.d"
cat >"$POL/ztseg.yaml" <<-'EOF'
	version: 1
	hub:
	  default: drop
	  log: drops
	  protect-host: true
	  flows:
	    - { name: host-to-web, from: host, to: web, ports: [udp/9] }
	    - { name: web-dns, from: web, to: host, ports: [udp/53] }
	segments:
	  web: { interfaces: ["vweb*"], addresses: [198.51.100.0/26, "2001:db8:0:1::/64"] }
	  app: { interfaces: ["vapp*"], addresses: [198.51.100.128/26, "2001:db8:0:2::/64"], flow-log: true }
	EOF
chmod 0644 "$POL/ztseg.yaml"
"$ZT_CTL" check --config "$POL" >/dev/null || zt_die "the test policy does not pass check"

# Two member interfaces whose peers stay in the host namespace: enough for
# routes, the host's own packets and conntrack entries.
for i in vweb1 vapp1; do
	ip -n "$h" link add "$i" type veth peer name "p$i"
	ip -n "$h" link set "p$i" up
	ip -n "$h" link set "$i" up
done
ip -n "$h" route add 198.51.100.5/32 dev vweb1
ip -n "$h" route add 198.51.100.130/32 dev vapp1

quiet() { "$@" >/dev/null 2>&1; }
# wait_until SECONDS COMMAND...: poll every 20 ms; status 1 on timeout.
wait_until() {
	local end=$(($(zt_now_ms) + $1 * 1000))
	shift
	until "$@"; do
		(($(zt_now_ms) < end)) || return 1
		sleep 0.02
	done
}
table_exists() { quiet zt_nft list table inet ztseg; }
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
ctl_user() { "${asuser[@]}" "${nocap[@]}" "$ZT_CTL" --socket "$SOCK" "$@"; }
# send ADDRESS PORT: one UDP datagram from the host's own stack; a drop in
# the output hook is EPERM to the sender.
send() { zt_x host bash -c 'echo x >"/dev/udp/$1/$2"' _ "$1" "$2" 2>/dev/null; }
logged() { grep -q -- "$1" "$DLOG"; }
# unpriv MODE...: ztsegd as the unit would run it, capabilities as given.
unpriv() {
	local caps=$1
	shift
	if [[ $caps == cap ]]; then caps=("${withcap[@]}"); else caps=("${nocap[@]}"); fi
	# A daemon that wrongly starts must not hang the test.
	(umask 077 && exec timeout 20 nsenter --net="/run/netns/$h" -- "${asuser[@]}" "${caps[@]}" "$ZT_D" "$@")
}

# ---- the daemon, unprivileged ------------------------------------------------------

DLOG=$ZT_TMP/daemon.log
(umask 077 && exec nsenter --net="/run/netns/$h" -- "${asuser[@]}" "${withcap[@]}" "$ZT_D" \
	--config "$POL" --state-dir "$STATE" --socket "$SOCK" --socket-group nogroup --log-level info \
	>"$DLOG" 2>&1) &
DPID=$!
ready_or_dead() { logged '^ztsegd: ready' || ! kill -0 "$DPID" 2>/dev/null; }
wait_until "${ZT_DAEMON_START_TIMEOUT:-30}" ready_or_dead || true
if ! logged '^ztsegd: ready'; then
	sed 's/^/#   /' "$DLOG"
	zt_die "ztsegd did not get ready as uid $U with CAP_NET_ADMIN"
fi
zt_ok "ztsegd as uid $U with only CAP_NET_ADMIN: ready ($(sed -n 's/^ztsegd: ready: //p' "$DLOG" | cut -d, -f1))"

# The process really is what the unit makes it: the daemon's own pid
# (the subshell and setpriv exec'd into it).
pid=$(sed -nE 's/^ztsegd: +[a-z]+, pid ([0-9]+),.*/\1/p' <(ctl status 2>/dev/null)) || true
st=/proc/${pid:-0}/status
creds=$(awk '/^Uid:/ { print "uid", $2, $3, $4, $5 } /^Gid:/ { print "gid", $2, $3, $4, $5 }
	/^Groups:/ { print "groups", $2 } /^Cap(Inh|Prm|Eff|Bnd|Amb):/ { print $1, $2 }
	/^NoNewPrivs:/ { print "nnp", $2 }' "$st" 2>/dev/null | tr '\n' ' ') || true
want="uid $U $U $U $U gid $U $U $U $U groups  CapInh: 0000000000001000 CapPrm: 0000000000001000 CapEff: 0000000000001000 CapBnd: 0000000000001000 CapAmb: 0000000000001000 nnp 1 "
zt_check "the daemon (pid ${pid:-?}, the one started) runs as $U:$U, no groups, CAP_NET_ADMIN alone, no_new_privs" \
	[ "${pid:-0}" = "$DPID" -a "$creds" = "$want" ]
[[ $creds == "$want" ]] || echo "#   $creds"
zt_check "the table inet ztseg exists" table_exists
zt_check "no errors or warnings in its log (NFLOG, socket, state)" ! grep -qE '^ztsegd: (error|warning):' "$DLOG"

zt_check "the socket is 0660 $U:$U, under umask 077" [ "$(stat -c '%a %u:%g' "$SOCK")" = "660 $U:$U" ]
zt_check "the state directory was created 0700 $U:$U" [ "$(stat -c '%a %u:%g' "$STATE")" = "700 $U:$U" ]
zt_check "last-known-good saved, 0600 $U:$U" \
	[ "$(stat -c '%a %u:%g' "$STATE/last-known-good" 2>/dev/null)" = "600 $U:$U" ]

out=$(ctl status 2>&1) || true
zt_check "ztsegctl status as root: running, generation 1" \
	grep -qE '^ztsegd: +running,' <<<"$out"
zt_check "ztsegctl status: policy generation 1" grep -qE '^policy: +generation 1,' <<<"$out"

# ---- NFLOG and conntrack, unprivileged ----------------------------------------------

zt_check "host -> web 198.51.100.5 udp/9 passes (flow host-to-web)" send 198.51.100.5 9
zt_check "host -> app 198.51.100.130 udp/7 dropped (EPERM to the sender)" ! send 198.51.100.130 7
wait_until 3 logged '^ztsegd: deny udp [0-9.:]* -> 198\.51\.100\.130:7 ' || true
zt_check "NFLOG read: the drop is logged with its zones" \
	logged '^ztsegd: deny udp [0-9.:]* -> 198\.51\.100\.130:7 .*host -> app'
# The open "connection" of the datagram to .5 is forgotten when .5 moves to app.
ip -n "$h" route replace 198.51.100.5/32 dev vapp1
wait_until 3 logged 'moved prefix forgotten' || true
zt_check "conntrack: the connection of the moved address deleted" \
	logged '^ztsegd: 1 connection of 1 moved prefix forgotten'
zt_check "no conntrack error" ! logged 'cannot delete the connections'
zt_check "flow-log: conntrack events read and accounting on, unprivileged" \
	bash -c "grep -q 'connection log on' '$DLOG' && [ \"\$(nsenter --net=/run/netns/$h cat /proc/sys/net/netfilter/nf_conntrack_acct)\" = 1 ]"
zt_check "after the move: host -> 198.51.100.5 udp/9 dropped (app)" ! send 198.51.100.5 9

# ---- reload, from root, from the daemon's own uid (ExecReload=), by SIGHUP --------------

sed -i 's|ports: \[udp/9\] }|ports: [udp/9] }\n    - { name: host-to-app, from: host, to: app, ports: [udp/7] }|' "$POL/ztseg.yaml"
out=$(ctl reload 2>&1) && rc=0 || rc=$?
zt_check "ztsegctl reload as root: exit $rc ($out)" [ "$rc" -eq 0 ]
zt_check "the reload took: host -> app udp/7 passes now" send 198.51.100.130 7
out=$(ctl_user reload 2>&1) && rc=0 || rc=$?
zt_check "ztsegctl reload as uid $U without capabilities (what ExecReload= runs): exit $rc ($out)" \
	[ "$rc" -eq 0 ]
kill -HUP "$DPID"
wait_until 3 logged 'reloaded: generation 4' || true
zt_check "SIGHUP: reloaded (generation 4)" logged 'reloaded: generation 4'
sed -i 's/^  default: drop/  default: dorp/' "$POL/ztseg.yaml"
out=$(ctl reload 2>&1) && rc=0 || rc=$?
good=0
[[ "$rc" -eq 1 ]] && grep -qE "^$POL/ztseg\.yaml:3:[0-9]+: " <<<"$out" && good=1
zt_check "a broken reload: exit 1 with file:line:col ($out)" [ "$good" -eq 1 ]
sed -i 's/^  default: dorp/  default: drop/' "$POL/ztseg.yaml"

# ---- SIGTERM: fail closed ---------------------------------------------------------------

kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
zt_check "SIGTERM: exit 0 ($rc)" [ "$rc" -eq 0 ]
zt_check "SIGTERM: the table stays in place" table_exists
zt_check "no sanitizer reports (ZTSEG_BUILD=build-asan)" \
	! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$DLOG"
zt_check "SIGTERM: the rules still drop (host -> app udp/8)" ! send 198.51.100.130 8
zt_check "SIGTERM: and still allow (host -> app udp/7)" send 198.51.100.130 7

# ---- --oneshot and --remove, the same way ------------------------------------------------

zt_nft delete table inet ztseg
out=$(unpriv cap --oneshot --config "$POL" --state-dir "$STATE" 2>&1) && rc=0 || rc=$?
good=0
[[ "$rc" -eq 0 ]] && grep -q '^ztsegd: applied table inet ztseg: .* created ' <<<"$out" && good=1
zt_check "--oneshot as uid $U with CAP_NET_ADMIN: exit $rc (${out%%$'\n'*})" [ "$good" -eq 1 ]
zt_check "--oneshot: the table exists" table_exists
out=$(unpriv cap --oneshot --config "$POL" --state-dir "$STATE" 2>&1) && rc=0 || rc=$?
good=0
[[ "$rc" -eq 0 ]] && grep -q 'changed 0,' <<<"$out" && good=1
zt_check "--oneshot again: nothing to change (${out%%$'\n'*})" [ "$good" -eq 1 ]

# Without CAP_NET_ADMIN nothing works: the capability is what the daemon needs.
out=$(unpriv none --oneshot --config "$POL" --state-dir "$STATE" 2>&1) && rc=0 || rc=$?
zt_check "--oneshot without CAP_NET_ADMIN fails (exit $rc)" [ "$rc" -eq 1 ]
out=$(unpriv none --config "$POL" --state-dir "$STATE" --socket "$RUN/nocap.sock" 2>&1) && rc=0 || rc=$?
zt_check "the daemon without CAP_NET_ADMIN fails to start (exit $rc: ${out##*$'\n'})" [ "$rc" -eq 1 ]
zt_check "...and leaves the table alone" table_exists

out=$(unpriv cap --remove 2>&1) && rc=0 || rc=$?
zt_check "--remove as uid $U with CAP_NET_ADMIN: exit $rc ($out)" [ "$rc" -eq 0 ]
zt_check "--remove: the table is gone" ! table_exists

zt_finish
