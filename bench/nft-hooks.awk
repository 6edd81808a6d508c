# SPDX-License-Identifier: GPL-2.0-or-later
# bench/bridge.sh, ZB_PERF=1: `perf script -F ip,sym` of a profile on stdin
# (one call chain per sample, leaf first, a blank line after each); the
# samples whose leaf is an nft_* symbol, by the hook whose chain ran them:
# bridge-pre (br_handle_frame), bridge-fwd (__br_forward), inet-pre
# (br_nf_pre_routing: br_netfilter's call of the IPv4/IPv6 prerouting
# hooks), inet-fwd (br_nf_forward*), inet-other. Prints "HOOK US ..." on
# one line: microseconds per connection at -v hz over -v n connections.
function flush(   i, h, fam) {
	if (depth && leaf ~ /^nft_/) {
		h = "other"
		fam = ""
		for (i = 1; i <= depth; i++) {
			if (st[i] == "nft_do_chain_bridge") fam = "bridge"
			else if (st[i] == "nft_do_chain_inet") fam = "inet"
			else if (st[i] == "br_handle_frame") { h = "pre"; break }
			else if (st[i] == "__br_forward") { h = "fwd"; break }
			else if (st[i] == "br_nf_pre_routing") { h = "pre"; break }
			else if (st[i] ~ /^br_nf_forward/) { h = "fwd"; break }
		}
		c[(fam == "" ? "nft" : fam) "-" h]++
	}
	depth = 0
	leaf = ""
}
NF == 0 { flush(); next }
$1 ~ /^[0-9a-f]+$/ && NF >= 2 {
	sym = $2
	sub(/\+0x[0-9a-f]+$/, "", sym)
	st[++depth] = sym
	if (depth == 1) leaf = sym
	next
}
{ flush() }
END {
	flush()
	for (k in c) printf "%s %.2f ", k, c[k] * 1e6 / hz / n
	printf "\n"
}
