#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Table bridge ztseg held by another tool (an owned table of its own, which
# ztsegd cannot repair) while an encrypted link that is also a bridge port
# comes and goes. One link event writes enc_if (table inet ztseg), the
# exact-name twins and the ports of bridge: segments (both tables) in one
# transaction (daemon/ztsegd-sync.c, manager_sync_links), which the held
# table refuses: enc_if must follow the link all the same. A deleted
# encrypted link left in enc_if would let a later link of that name pass
# as encrypted. Once the other tool lets go, ztsegd writes the table again
# with its ports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bridge-lib.sh"

zt_init
pol=$ZT_TMP/policy
zt_policy_write "$pol" <<EOF
version: 1
hub:
  default: drop
  encrypted-interfaces: ["wg*"]
  flows:
    - { from: web, to: db, ports: [tcp/5432] }
$(zt_bridge_dsegs)
EOF
"$ZT_CTL" check --config "$pol" >/dev/null || zt_die "the policy does not pass check"
zt_bridge_br0
zt_ns_add peers
H=$(zt_ns host) P=$(zt_ns peers)
SOCK=$ZT_TMP/ztsegd.sock
DLOG=$ZT_TMP/ztsegd.log
# unowned, so that another tool can take table bridge ztseg (veth counts as encrypting: no WireGuard here)
zt_bg host "$DLOG" "$ZT_D" --config "$pol" --state-dir "$ZT_TMP/state" --socket "$SOCK" \
	--log-level debug --no-owner --encrypting-kinds veth
DPID=$ZT_BG_PID
zt_wait_for 10000 grep -q '^ztsegd: ready' "$DLOG" || { cat "$DLOG"; zt_die "ztsegd did not get ready"; }
# (the whole listing first: grep -q under pipefail could make a present element look absent)
listed() { local o; o=$(zt_x host nft list set "$1" ztseg "$2" 2>/dev/null) && grep -q "\"$3\"" <<<"$o"; }
unlisted() { ! listed "$@"; }

ip -n "$H" link add wg5 master br0 type veth peer name wg5p netns "$P"
zt_check "wg5, a port of br0, is in enc_if" zt_wait_for 3000 listed inet enc_if wg5
zt_check "and in dport" zt_wait_for 3000 listed bridge dport wg5

# Another tool takes the table: deleted and made again, owned by an nft that stays.
HOLD=$ZT_TMP/hold
mkfifo "$HOLD"
zt_bg host "$ZT_TMP/nft-i.log" sh -c "exec nft -i <'$HOLD'"
NPID=$ZT_BG_PID
exec 7>"$HOLD"
echo 'delete table bridge ztseg; add table bridge ztseg { flags owner; }' >&7
held() { local o; o=$(zt_x host nft list table bridge ztseg 2>/dev/null) && ! grep -q chain <<<"$o"; }
zt_check "the other tool holds table bridge ztseg (an empty table of its own)" zt_wait_for 3000 held
from=$(wc -l <"$DLOG")

ip -n "$H" link del wg5
zt_check "while it is held: deleted wg5 leaves enc_if" zt_wait_for 3000 unlisted inet enc_if wg5
ip -n "$H" link add wg6 master br0 type veth peer name wg6p netns "$P"
zt_check "while it is held: new wg6 (a port of br0) is in enc_if" zt_wait_for 3000 listed inet enc_if wg6
zt_check "and ztsegd said why the rest waits" \
	bash -c "tail -n +$((from + 1)) '$DLOG' | grep -q 'enc_if once more on its own'"
zt_check "the table is still the other tool's" held

exec 7>&-	# nft exits: its owned table goes with it
wait "$NPID" 2>/dev/null || true
zt_check "let go: ztsegd writes table bridge ztseg again, wg6 in dport" zt_wait_for 5000 listed bridge dport wg6
zt_check "and wg6 still in enc_if" listed inet enc_if wg6
zt_check "no sanitizer report in ztsegd's log" bash -c "! grep -q Sanitizer '$DLOG'"
kill -TERM "$DPID"
wait "$DPID" || zt_not_ok "ztsegd exited with status $?"
zt_finish
