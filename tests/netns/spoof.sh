#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Anti-spoofing, IPv4 and IPv6: a workload using another segment's address,
# the internet using an unused address of a segment, a workload using a
# boundary's address, a boundary using a segment's address. Each spoofed
# packet must not reach its receiver and must raise the "spoofs" counter,
# with the reverse-path check on (as in the example) and off (the address
# binding alone); without ztseg's table the same packets do arrive, so the
# test would see them if they got through. Link-local and unspecified
# sources (forged with scapy) must not count as spoofed, with the
# exact-name twin filled and emptied.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

zt_init
zt_need_py
zt_up
zt_serve

port=$(zt_ports udp | tail -1)	# any port the servers listen on
count=3				# datagrams per case

# Spoofing cases: "SENDER SOURCE-ADDRESS RECEIVER WHAT" per family. The
# address binding is per segment: a workload using the address of another
# subnet of its own segment is caught by the reverse-path check alone, so
# that case ("rpf-" in its name) is only counted as spoofed with rpf on
# (with rpf off it must still not arrive: no flow allows it). A workload
# using the internet's address is spoofed because that address is routed
# out through the uplink, not through the workload's interface; explain
# offline knows no routes and takes the address as routed where it was
# sent from, so for that case ("live-" in its name) explain is not asked.
cases() {
	local fam=$1 a b
	if [[ $fam == 4 ]]; then
		a=198.51.100.30 b=203.0.113.50	# unused in web's rest; unused onprem
	else
		a=2001:db8:0:1:1::99 b=2001:db8:ffff::50
	fi
	echo "web1 $(zt_addr app1 "$fam") db1 workload-with-another-segments-address"
	echo "web1 $(zt_addr app1 "$fam") host workload-with-another-segments-address-to-host"
	echo "db1 $(zt_addr db2 "$fam") app1 rpf-workload-with-another-subnets-address"
	echo "internet $a web1 internet-with-unused-segment-address"
	echo "web1 $b app1 workload-with-boundary-address"
	echo "web1 $(zt_addr internet "$fam") app1 live-workload-with-internet-address"
	echo "onprem $(zt_addr web2 "$fam") app1 boundary-with-segment-address"
	echo "internet $(zt_addr onprem "$fam") db2 internet-with-onprem-address"
}

# received NODE SOURCE: how many datagrams NODE's server got from SOURCE.
received() {
	awk -v src="$2" '$1 == "udp" && $2 == src' "$ZT_TMP/recv-$1" | wc -l
}

# send SENDER SOURCE RECEIVER: COUNT spoofed datagrams, then a moment for
# them to arrive (or not).
send() {
	local to res
	to=$(zt_addr "$3" "$fam")
	res=$(echo "1 spoof $2 $to $port" | zt_x "$1" "$ZT_PROBE" batch -c "$count")
	[[ $res == "1 sent "* ]] || zt_die "$1 could not send from $2 to $to: $res"
	sleep 0.2
}

# run LABEL DIR: every case against the applied table of policy DIR.
run() {
	local label=$1 dir=$2 sender src receiver what before after got out
	for fam in 4 6; do
		while read -r sender src receiver what; do
			before=$(zt_counter spoofs)
			got=$(received "$receiver" "$src")
			send "$sender" "$src" "$receiver"
			after=$(zt_counter spoofs)
			got=$(($(received "$receiver" "$src") - got))
			zt_check "$label: IPv$fam $what ($sender as $src to $receiver): not received" \
				[ "$got" -eq 0 ]
			[[ $what != rpf-* || $label == *strict* ]] || continue
			zt_check "$label: IPv$fam $what: spoofs counter +$((after - before)) (>= $count)" \
				[ $((after - before)) -ge $count ]
			# explain (offline: no routes, so no reverse-path check)
			# must call the binding cases spoofed as well.
			[[ $what != rpf-* && $what != live-* ]] || continue
			out=$("$ZT_CTL" explain --config "$dir" "iface:${ZT_IF[$sender]},$src" \
				"$(zt_endpoint "$receiver" "$fam")" "udp/$port" 2>&1) || true
			zt_check "$label: IPv$fam $what: explain says spoofed" grep -q '^by: spoofed' <<<"$out"
		done < <(cases "$fam")
	done
}

strict=$(zt_policy strict)
zt_set_hub "$strict" rpf strict
zt_apply "$strict" || zt_die "ztsegd --oneshot failed"
zt_nft list counter inet ztseg spoofs >/dev/null || zt_die "no counter 'spoofs' in table inet ztseg"
run "rpf strict" "$strict"

# Link-local and unspecified sources carry no segment's address and pass
# anti-spoofing (a DHCP discover, duplicate address detection; the filter
# chains classify them by interface alone). route_own accepts a member's
# routed packet by its interface's exact name before those accepts, so
# they must follow it on both other paths: a name route_ownx returns (the
# uplink, no member's: back in spoof) and one it does not hold yet
# (route_own itself, before the reverse-path test). The twin emptied by
# hand stands for "not there yet". Forged with scapy: no socket binds to
# 0.0.0.0 or :: as a source.
unspec() {
	local label=$1 node mac before after expr
	for node in web1 internet; do
		mac=$(zt_mac host "${ZT_IF[$node]}")
		for expr in "IP(src='169.254.7.2', dst='$(zt_addr app1 4)')/UDP(sport=68, dport=$port)" \
			"IP(src='0.0.0.0', dst='255.255.255.255')/UDP(sport=68, dport=67)" \
			"IPv6(src='::', dst='$(zt_addr app1 6)')/UDP(sport=546, dport=$port)"; do
			before=$(zt_counter spoofs)
			zt_forge "$node" eth0 "$mac" "$count" "$expr" >/dev/null
			sleep 0.2
			after=$(zt_counter spoofs)
			zt_check "$label: $node, ${expr%%/*}: not counted as spoofed (+$((after - before)))" \
				[ "$after" -eq "$before" ]
		done
	done
}
unspec "rpf strict, names known"
# the control: the same path with another segment's routed address is spoofed
before=$(zt_counter spoofs)
zt_forge web1 eth0 "$(zt_mac host "${ZT_IF[web1]}")" "$count" \
	"IP(src='$(zt_addr app1 4)', dst='$(zt_addr db1 4)')/UDP(sport=68, dport=$port)" >/dev/null
sleep 0.2
zt_check "rpf strict, names known: web1 forging app1's address (scapy): counted as spoofed" \
	[ $(($(zt_counter spoofs) - before)) -ge $count ]
zt_nft flush map inet ztseg route_ownx
unspec "rpf strict, names not there yet"
zt_apply "$strict" || zt_die "ztsegd --oneshot failed"

off=$(zt_policy off)
zt_set_hub "$off" rpf off
zt_apply "$off" || zt_die "ztsegd --oneshot failed with rpf: off"
run "rpf off (binding only)" "$off"

# The control: with ztseg's table gone the host forwards (and delivers)
# whatever comes, spoofed or not, so every case arrives.
zt_nft delete table inet ztseg
for fam in 4 6; do
	while read -r sender src receiver what; do
		got=$(received "$receiver" "$src")
		send "$sender" "$src" "$receiver"
		got=$(($(received "$receiver" "$src") - got))
		zt_check "control without ztseg: IPv$fam $what arrives ($got of $count)" \
			[ "$got" -eq $count ]
	done < <(cases "$fam")
done

zt_finish
