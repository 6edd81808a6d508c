#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Applies are atomic. First, 200 applies alternating between two policies
# that differ elsewhere but allow one path by the same flow, while a paced
# ping (50/s) and a TCP stream run over that path in both families: not one
# ping may be lost and the stream must not be reset. Then 50 applies of a
# large generated policy, each killed with SIGKILL at a random moment: the
# table must always be wholly the old one or wholly the new one, or the new
# one with its new connection marks not yet live (killed between an apply's
# two transactions: stricter than the new one, never looser).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

flips=${ZT_ATOMIC_FLIPS:-200}
kills=${ZT_ATOMIC_KILLS:-50}
big_segments=${ZT_ATOMIC_SEGMENTS:-1000}

zt_init
zt_up
zt_serve

# ---- 200 re-applies under traffic ------------------------------------------

# The path: onprem to app1, by the monitoring flow (tcp/9100 and ICMP echo).
src=onprem dst=app1 port=9100 flow=monitoring
a=$(zt_policy a)
b=$(zt_policy b)
# b differs elsewhere: other ports between web and app, no CI egress.
zt_flow_edit "$b" web-to-app 's|tcp/8080|tcp/8443|'
zt_flow_edit "$b" ci-fetch d
for dir in "$a" "$b"; do
	for fam in 4 6; do
		zt_explain_case "$dir" "$src" "$dst" "$fam" tcp "$port" | grep -q "^by:.*'$flow'" ||
			zt_die "$dir does not allow $src -> $dst tcp/$port by '$flow'"
		zt_explain_case "$dir" "$src" "$dst" "$fam" icmp 0 | grep -q "^by:.*'$flow'" ||
			zt_die "$dir does not allow $src -> $dst ICMP echo by '$flow'"
	done
done
zt_apply "$a" || zt_die "ztsegd --oneshot failed"

pids=()
for fam in 4 6; do
	zt_bg "$src" "$ZT_TMP/ping-$fam" "$ZT_PROBE" ping -i 20 - "$(zt_addr "$dst" "$fam")"
	pids+=("$ZT_BG_PID")
	zt_bg "$src" "$ZT_TMP/stream-$fam" "$ZT_PROBE" stream -i 20 - "$(zt_addr "$dst" "$fam")" "$port"
	pids+=("$ZT_BG_PID")
done
sleep 0.5

t0=$(zt_now_ms)
failed_applies=0
for ((i = 0; i < flips; i++)); do
	if ((i % 2)); then dir=$a; else dir=$b; fi
	zt_apply "$dir" >"$ZT_TMP/apply.log" 2>&1 || {
		failed_applies=$((failed_applies + 1))
		sed 's/^/#   /' "$ZT_TMP/apply.log" | head -5
	}
done
t1=$(zt_now_ms)
echo "# $flips applies in $((t1 - t0)) ms ($(((t1 - t0) / flips)) ms each)"
zt_check "$flips applies, none failed ($failed_applies failed)" [ "$failed_applies" -eq 0 ]
sleep 0.5
kill -TERM "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" || true

for fam in 4 6; do
	res=$(tail -1 "$ZT_TMP/ping-$fam")
	read -r _ sent _ received _ lost _ errors <<<"$res" || true
	zt_check "IPv$fam ping $src -> $dst during the applies: $res" \
		[ "${sent:-0}" -ge $(((t1 - t0) / 20 / 2)) -a "${lost:-1}" -eq 0 -a "${errors:-1}" -eq 0 ]
	out=$ZT_TMP/stream-$fam
	end=$(tail -1 "$out")
	zt_check "IPv$fam stream $src -> $dst tcp/$port: connected" grep -q '^connected' "$out"
	zt_check "IPv$fam stream: no reset or close ($end)" ! grep -qE '^(reset|closed|error)' "$out"
	gap=$(sed -nE 's/.*maxgap ([0-9]+).*/\1/p' <<<"$end")
	zt_check "IPv$fam stream: longest gap ${gap:-?} ms (< 200)" [ "${gap:-99999}" -lt 200 ]
done

# ---- SIGKILL during a large apply ------------------------------------------

# A generated policy: N segments with an interface pattern, an IPv6 /64 and
# (for the first 200) an IPv4 /32 each, and a flow from each segment to the
# next. VARIANT changes every flow's port, so two variants differ in every
# flow and every map element that carries one.
gen_big() {
	local dir=$1 n=$2 variant=$3 i
	mkdir -p "$dir/segments.d"
	{
		cat <<-EOF
			version: 1
			hub:
			  default: drop
			  scope: members
			  log: none
			  rpf: strict
			  protect-host: false
			  boundaries:
			    internet: { interfaces: ["up0"], addresses: [0.0.0.0/0, "::/0"] }
			  flows:
		EOF
		for ((i = 0; i < n; i++)); do
			printf '    - { from: s%d, to: s%d, ports: [tcp/%d, udp/%d] }\n' \
				"$i" $(((i + 1) % n)) $((1000 + i + variant)) $((2000 + i + variant))
		done
		printf '    - { from: internet, to: s0, ports: [tcp/%d] }\n' $((443 + variant))
		echo "segments:"
		for ((i = 0; i < n; i++)); do
			printf '  s%d:\n    interfaces: ["s%d-*"]\n' "$i" "$i"
			if ((i < 200)); then
				printf '    addresses: [198.51.100.%d/32, "2001:db8:1:%x::/64"]\n' \
					$((i % 256)) "$i"
			else
				printf '    addresses: ["2001:db8:1:%x::/64"]\n' "$i"
			fi
		done
	} >"$dir/ztseg.yaml"
	find "$dir" -type d -exec chmod 0755 {} +
	chmod 0644 "$dir/ztseg.yaml"
}

old=$ZT_TMP/big-old
new=$ZT_TMP/big-new
gen_big "$old" "$big_segments" 0
gen_big "$new" "$big_segments" 1
"$ZT_CTL" check --config "$old" >/dev/null 2>&1 || {
	"$ZT_CTL" check --config "$old" 2>&1 | head -5
	zt_die "the generated policy does not pass check"
}

# A namespace of its own, with no traffic and no links, so that nothing but
# the applies changes the table.
zt_ns_add bulk

# digest: the table's canonical listing, without counter values. A diff
# apply and a full apply of one policy build the same table in different
# orders, so the listing is put in a canonical order first.
canon() { zt_x bulk nft -s list table inet ztseg 2>/dev/null | zt_nft_canon; }
digest() { canon | sha256sum | cut -c1-16; }
# staged FROM TO: the digest of TO's table with only the connection marks
# FROM's fcnt also holds: the state between the two transactions of an
# apply that adds marks (doc/RULESET.md, "Revocation"), new rules with new
# marks not yet live: stricter than TO, never looser.
staged() {
	awk 'BEGIN { m = "E\t\tmap fcnt {\t" }
		NR == FNR { if (index($0, m) == 1) had[$0] = 1; next }
		index($0, m) != 1 || had[$0]' "$1" "$2" | sha256sum | cut -c1-16
}
big_apply() { zt_x bulk "$ZT_D" --oneshot --config "$1" --state-dir "$ZT_TMP/state"; }

t0=$(date +%s%N)
big_apply "$new" || zt_die "ztsegd --oneshot failed on the generated policy"
t1=$(date +%s%N)
canon >"$ZT_TMP/canon-new"
d_new=$(digest)
big_apply "$old" || zt_die "ztsegd --oneshot failed on the generated policy"
t2=$(date +%s%N)
canon >"$ZT_TMP/canon-old"
d_old=$(digest)
d_to_new=$(staged "$ZT_TMP/canon-old" "$ZT_TMP/canon-new")
d_to_old=$(staged "$ZT_TMP/canon-new" "$ZT_TMP/canon-old")
apply_ms=$(((t2 - t1) / 1000000))
echo "# generated policy: $big_segments segments; apply $(((t1 - t0) / 1000000)) ms (first)," \
	"$apply_ms ms (change)"
zt_check "the two generated policies list differently" [ "$d_old" != "$d_new" ]
((apply_ms >= 10)) || echo "# warning: an apply takes only $apply_ms ms; kills may miss it"

# Kill each apply after a random delay within its expected duration (and a
# little before and after); the next trial applies the other policy.
mixed=0 n_old=0 n_new=0 n_staged=0 current=old
for ((i = 0; i < kills; i++)); do
	if [[ $current == old ]]; then target=$new; else target=$old; fi
	delay_us=$((RANDOM * (apply_ms + 10) * 1000 / 32768))
	zt_bg bulk /dev/null "$ZT_D" --oneshot --config "$target" --state-dir "$ZT_TMP/state"
	pid=$ZT_BG_PID
	sleep "$((delay_us / 1000000)).$(printf '%06d' $((delay_us % 1000000)))"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	d=$(digest)
	if [[ $d == "$d_old" ]]; then
		n_old=$((n_old + 1)) current=old
	elif [[ $d == "$d_new" ]]; then
		n_new=$((n_new + 1)) current=new
	elif [[ $d == "$d_to_new" || $d == "$d_to_old" ]]; then
		# Killed between the two transactions: the target's rules, its new marks withheld.
		n_staged=$((n_staged + 1))
		big_apply "$target" >/dev/null 2>&1 || zt_die "cannot finish the staged apply"
		[[ $(digest) == "$([[ $target == "$new" ]] && echo "$d_new" || echo "$d_old")" ]] ||
			zt_die "the next apply did not complete a staged one"
		if [[ $target == "$new" ]]; then current=new; else current=old; fi
	else
		mixed=$((mixed + 1))
		echo "#   trial $i: killed after $((delay_us / 1000)) ms: digest $d is neither old nor new"
		big_apply "$old" >/dev/null 2>&1 || zt_die "cannot restore the old table"
		current=old
	fi
done
echo "# $kills kills: $n_old left the old table, $n_new the new one, $n_staged the new one with its new marks withheld, $mixed none of these"
zt_check "$kills SIGKILLs during applies: no mixed table ($mixed)" [ "$mixed" -eq 0 ]
zt_check "the table after a kill was sometimes old and sometimes new" \
	[ "$n_old" -gt 0 -a "$n_new" -gt 0 ]

zt_finish
