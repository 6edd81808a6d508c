#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reloads without reading the table back, and that they are right:
# - ztsegd --oneshot records the generation and digest of what it applied
#   (STATE_DIR/applied); the same policy again sends nothing; a change by
#   another process in between is seen (generation) and repaired; a
#   corrupt, truncated, foreign or unsafe state file is refused with a
#   precise message and the table is compared instead;
# - the daemon diffs a new policy against the running plan: after each
#   reload the table lists exactly as a fresh apply of that policy does;
# - the daemon leaves the notification group around its own large
#   commits: another process committing meanwhile is still noticed (by the
#   generation id) and its change to our table repaired.
# Uses bench/gen-policy.sh policies (ZT_RELOAD_SEGMENTS, default 300).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || zt_skip "python3 is not installed (the notification-window watcher)"
segments=${ZT_RELOAD_SEGMENTS:-300}

zt_init
P=$ZT_TMP/pol
mkdir -p "$P"
bash "$ZT_ROOT/bench/gen-policy.sh" "$P/p" "$segments" >/dev/null
bash "$ZT_ROOT/bench/gen-policy.sh" --extra-flow "$P/p-app" "$segments" >/dev/null
bash "$ZT_ROOT/bench/gen-policy.sh" --extra-flow-mid "$P/p-mid" "$segments" >/dev/null
find "$P" -type d -exec chmod 0755 {} + && find "$P" -type f -exec chmod 0644 {} +
for d in p p-app p-mid; do
	[[ -f $P/$d/ztseg.yaml ]] || zt_die "gen-policy.sh made no $P/$d"
done

ST=$ZT_TMP/state
one() { # NODE DIR [ARGS...]: ztsegd --oneshot; its output in $ZT_TMP/out
	local node=$1 dir=$2
	shift 2
	zt_x "$node" "$ZT_D" --oneshot --config "$dir" --state-dir "$ST" "$@" >"$ZT_TMP/out" 2>&1
}
out_has() { grep -q -- "$1" "$ZT_TMP/out"; }
quiet() { "$@" >/dev/null 2>&1; }
# Counters keep their values across a diff, and with them the comment
# (file:line) they were made with, on both diff paths: left out here.
canon() { zt_x "$1" nft -s list table inet ztseg | zt_nft_canon | sed -E '/\tcounter /s/[[:space:]]*comment "[^"]*"//'; }

# The reference listings: each policy applied whole into a fresh namespace.
for d in p p-app p-mid; do
	zt_ns_add ref
	one ref "$P/$d" --state-dir "$ZT_TMP/state-ref" || zt_die "full apply of $d failed: $(cat "$ZT_TMP/out")"
	canon ref >"$ZT_TMP/ref-$d"
	zt_ns_del ref
done
[[ -s $ZT_TMP/ref-p ]] && ! cmp -s "$ZT_TMP/ref-p" "$ZT_TMP/ref-p-app" ||
	zt_die "the reference listings are empty or the same"

# ---- --oneshot ------------------------------------------------------------------

zt_ns_add o
zt_check "oneshot: full apply" one o "$P/p"
zt_check "oneshot: state file written, mode 0600" \
	[ "$(stat -c %a "$ST/applied" 2>/dev/null)" = 600 ]
zt_check "oneshot: the same policy again succeeds" one o "$P/p"
zt_check "oneshot: ... and sends nothing" out_has 'changed 0, 0 messages.*nothing sent'
zt_check "oneshot: the table is still the policy's" cmp -s <(canon o) "$ZT_TMP/ref-p"

# Another process changes the table between two runs.
chains=$(zt_x o nft list table inet ztseg)
chain=$(sed -nE 's/^\tchain ([a-z0-9_]+) \{$/\1/p' <<<"$chains" | sed -n 1p)
zt_x o nft add chain inet ztseg zt_foreign
zt_x o nft flush chain inet ztseg "$chain"
zt_check "oneshot: a foreign change is compared with the table" one o "$P/p"
zt_check "oneshot: ... read back, not skipped" out_has 'compared with the table read back'
zt_check "oneshot: ... and repaired" cmp -s <(canon o) "$ZT_TMP/ref-p"
zt_check "oneshot: after the repair, nothing to send again" one o "$P/p"
zt_check "oneshot: ... (digest)" out_has 'nothing sent'

# A change elsewhere in the namespace moves the generation too: compared, nothing to change.
zt_x o nft add table inet zt_other
zt_check "oneshot: a commit to another table: compared" one o "$P/p"
zt_check "oneshot: ... changed 0" out_has 'changed 0, .*compared with the table read back'
zt_x o nft delete table inet zt_other
one o "$P/p"

# Changed policies: the plan applied last compiled again from its recorded
# files and compared with the new one (nothing committed in between), and
# the table equal to a fresh apply.
for d in p-app p p-mid p; do
	zt_check "oneshot: $d applied" one o "$P/$d"
	zt_check "oneshot: $d compared with the plan applied last" out_has 'compared with the plan applied last'
	zt_check "oneshot: $d lists as a fresh apply" cmp -s <(canon o) "$ZT_TMP/ref-$d"
done
# The recorded files no longer what was applied: the table is read instead.
sed -i '$s/$/ /' "$ST/applied-policy"
zt_check "oneshot: altered applied-policy: applied" one o "$P/p-app"
zt_check "oneshot: ... compared with the table read back" out_has 'compared with the table read back'
zt_check "oneshot: ... and right" cmp -s <(canon o) "$ZT_TMP/ref-p-app"
zt_check "oneshot: applied-policy mode 0600" [ "$(stat -c %a "$ST/applied-policy")" = 600 ]
one o "$P/p"
truncate -s 100 "$ST/applied-policy"
zt_check "oneshot: truncated applied-policy: applied" one o "$P/p-app"
zt_check "oneshot: ... refused" out_has "ignoring $ST/applied-policy: not a well-formed policy bundle"
zt_check "oneshot: ... compared with the table read back" out_has 'compared with the table read back'
zt_check "oneshot: ... and right" cmp -s <(canon o) "$ZT_TMP/ref-p-app"
# The same files under another policy's record (a forged seed): not the plan applied.
one o "$P/p"
cp "$ST/applied-policy" "$ZT_TMP/policy-p"
one o "$P/p-mid"
cp "$ZT_TMP/policy-p" "$ST/applied-policy"
zt_check "oneshot: applied-policy not matching the record: applied" one o "$P/p"
zt_check "oneshot: ... compared with the table read back" out_has 'compared with the table read back'
zt_check "oneshot: ... and right" cmp -s <(canon o) "$ZT_TMP/ref-p"

# ---- the state file is hostile input --------------------------------------------

one o "$P/p"
cp "$ST/applied" "$ZT_TMP/good"
state_case() { # NAME EXPECTED-MESSAGE SETUP...
	local name=$1 msg=$2
	shift 2
	rm -f "$ST/applied"
	cp "$ZT_TMP/good" "$ST/applied"
	chmod 0600 "$ST/applied"
	"$@"
	zt_check "state file $name: the apply still succeeds" one o "$P/p"
	zt_check "state file $name: refused ($msg)" out_has "ignoring $ST/applied: $msg"
	zt_check "state file $name: compared with the table" out_has 'compared with the table read back'
}
state_case truncated 'line 6: expected "seed <64 hex digits>"' truncate -s -20 "$ST/applied"
state_case empty 'not a ztseg state file' truncate -s 0 "$ST/applied"
state_case "bad magic" 'not a ztseg state file' sed -i '1s/applied 2/applied 9/' "$ST/applied"
state_case "short digest" 'line 5: expected' sed -i '5s/.$//' "$ST/applied"
state_case "uppercase digest" 'line 5: expected' sed -i '5s/digest \(.*\)/digest \U\1/' "$ST/applied"
state_case "leading zero genid" 'line 4: expected' sed -i '4s/genid /genid 0/' "$ST/applied"
state_case "genid overflow" 'line 4: expected' sed -i '4s/genid .*/genid 4294967296/' "$ST/applied"
state_case "trailing bytes" 'trailing bytes' sh -c "echo extra >>'$ST/applied'"
state_case "missing newline" 'line 6: expected' truncate -s -1 "$ST/applied"
state_case oversized 'larger than 512 bytes' sh -c "head -c 600 /dev/zero >>'$ST/applied'"
state_case "group-writable" 'writable by group or others' chmod 0620 "$ST/applied"
state_case "owned by nobody" 'owned by another user' chown nobody "$ST/applied"
state_case symlink 'a symbolic link' sh -c "rm '$ST/applied'; ln -s '$ZT_TMP/good' '$ST/applied'"
state_case directory 'not a regular file' sh -c "rm '$ST/applied'; mkdir '$ST/applied'"
rm -rf "$ST/applied"
# Well formed, but of another namespace: not an error, just not ours.
one o "$P/p"
sed -i '3s/netns .*/netns 1/' "$ST/applied"
zt_check "state file of another namespace: compared" one o "$P/p"
zt_check "state file of another namespace: ... silently" ! out_has 'ignoring'
zt_check "state file of another namespace: ... read back" out_has 'compared with the table read back'
zt_check "state file rewritten after that apply" one o "$P/p"
zt_check "... and used" out_has 'nothing sent'
zt_ns_del o

# ---- the daemon -----------------------------------------------------------------

zt_ns_add d
conf=$ZT_TMP/conf
mkdir -p "$conf" "$ZT_TMP/run"
cp -R "$P/p/." "$conf/"
SOCK=$ZT_TMP/run/ztsegd.sock
DLOG=$ZT_TMP/daemon.log
zt_bg d "$DLOG" "$ZT_D" --config "$conf" --state-dir "$ZT_TMP/dstate" --socket "$SOCK" --no-owner \
	--log-level debug
DPID=$ZT_BG_PID
ctl() { "$ZT_CTL" --socket "$SOCK" "$@"; }
for _ in $(seq 600); do
	ctl status >/dev/null 2>&1 && break
	kill -0 "$DPID" 2>/dev/null || zt_die "ztsegd exited: $(tail -5 "$DLOG")"
	sleep 0.1
done
ctl status >/dev/null 2>&1 || zt_die "ztsegd did not come up: $(tail -5 "$DLOG")"

reload_to() { # DIR: put its ztseg.yaml in place and reload
	cp "$P/$1/ztseg.yaml" "$conf/ztseg.yaml"
	ctl reload >/dev/null 2>&1
}
# What the last reload compared the new policy with (its log line).
compared() { grep 'reloaded: generation' "$DLOG" | tail -1 | sed -nE 's/.*\(compared with the (.*)\)$/\1/p'; }
settled() { # REF: the table lists as REF (repairs are asynchronous)
	local i
	for i in $(seq 100); do
		cmp -s <(canon d) "$1" && return 0
		sleep 0.1
	done
	return 1
}
# The daemon runs p: the first reload is of the same files, with nothing
# committed since, so nothing is compiled or sent; the others diff plans.
zt_check "daemon: reload to p (unchanged)" reload_to p
zt_check "daemon: an unchanged reload compiles and sends nothing" \
	grep -q 'reloaded: generation [0-9]*, 0 objects changed, 0 messages in .* nothing to compile or send)' "$DLOG"
zt_check "daemon: after the unchanged reload the table lists as a fresh apply" cmp -s <(canon d) "$ZT_TMP/ref-p"
# Between applies the running plan is kept slim (lib/plan.h); each reload
# below compiles it whole again before the diff, and the diff must still
# be against it (not the table read back) and give a fresh apply's table.
zt_check "daemon: the running plan is kept slim once started" grep -q '^ztsegd: plans slimmed' "$DLOG"
# That compile runs in a thread while the reload loads the new policy.
for d in p-app p p-mid p; do
	n_full=$(grep -c "plan compiled again (kept slim between applies)" "$DLOG" || true)
	n_beside=$(grep -c "plan compiled again (kept slim between applies) in .*, beside the new policy's load" \
		"$DLOG" || true)
	zt_check "daemon: reload to $d" reload_to "$d"
	zt_check "daemon: reload to $d compiled the running plan whole again" \
		[ "$(grep -c "plan compiled again (kept slim between applies)" "$DLOG")" -gt "$n_full" ]
	zt_check "daemon: ... in a thread, beside the new policy's load" \
		[ "$(grep -c "plan compiled again (kept slim between applies) in .*, beside the new policy's load" \
			"$DLOG")" -gt "$n_beside" ]
	zt_check "daemon: reload to $d diffed against the running plan ($(compared))" \
		[ "$(compared)" = "previous plan" ]
	zt_check "daemon: after the reload to $d the table lists as a fresh apply" cmp -s <(canon d) "$ZT_TMP/ref-$d"
done

# A foreign change, then a reload: the generation moved, so the table is read back.
zt_x d nft add chain inet ztseg zt_foreign
settled "$ZT_TMP/ref-p" || true
zt_x d nft add table inet zt_other
reload_to p
zt_check "daemon: after a foreign commit the reload reads the table ($(compared))" \
	[ "$(compared)" = "table read back" ]
zt_x d nft delete table inet zt_other

# Commits by another process while the daemon is out of the notification
# group (a large reload: p <-> a policy of a tenth the size). A watcher in
# the namespace sees the daemon's socket leave NFNLGRP_NFTABLES
# (/proc/net/netlink) and commits right then, once per window: a chain in
# another table (never notified for ours: only the generation tells) and
# one in ours, which must be gone after.
bash "$ZT_ROOT/bench/gen-policy.sh" "$P/small" $((segments / 10)) >/dev/null
find "$P/small" -type d -exec chmod 0755 {} + && find "$P/small" -type f -exec chmod 0644 {} +
zt_x d nft add table inet zt_other
n0=$(grep -c 'committed to nf_tables while we were not listening' "$DLOG" || true)
cat >"$ZT_TMP/watch.py" <<'EOF'
import subprocess, sys, time
def listening():
    with open("/proc/net/netlink") as f:
        for line in f.read().splitlines()[1:]:
            v = line.split()
            # NETLINK_NETFILTER sockets in NFNLGRP_NFTABLES (7: bit 6)
            if v[1] == "12" and int(v[3], 16) & 0x40:
                return True
    return False
was, n, end = listening(), 0, time.time() + float(sys.argv[1])
while time.time() < end:
    now = listening()
    if was and not now:
        n += 1
        subprocess.run(["nft", "add chain inet zt_other w%d ; add chain inet ztseg zt_w%d" % (n, n)])
    was = now
EOF
zt_bg d "$ZT_TMP/watch.out" python3 "$ZT_TMP/watch.py" 60
watch=$ZT_BG_PID
sleep 0.5
for round in 1 2 3; do
	rm -rf "$conf/segments.d" && cp -R "$P/small/." "$conf/"
	ctl reload >/dev/null 2>&1 || true
	rm -rf "$conf/segments.d" && cp -R "$P/p/." "$conf/"
	ctl reload >/dev/null 2>&1 || true
done
kill "$watch" 2>/dev/null || true
wait "$watch" 2>/dev/null || true
zt_check "daemon: the watcher saw quiet windows and committed in them" \
	quiet zt_x d nft list chain inet zt_other w1
zt_check "daemon: commits of others during its own quiet commits were noticed" \
	[ "$(grep -c 'committed to nf_tables while we were not listening' "$DLOG" || true)" -gt "$n0" ]
zt_check "daemon: every foreign chain added meanwhile was removed" settled "$ZT_TMP/ref-p"
zt_check "daemon: the other table was left alone" quiet zt_x d nft list chain inet zt_other w1
zt_check "daemon: still running" kill -0 "$DPID"
kill "$DPID"
wait "$DPID" 2>/dev/null || true
zt_ns_del d

zt_finish
