#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `ztsegctl explain` end to end over the shipped example and a few variants
# of it: each question's exit code and the lines of its explanation.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
cli_logs=("$tmp/out" "$tmp/err")
cli_log_lines=8

# A copy of the example with safe modes, optionally changed by a sed script.
variant() {
	local d
	d=$(cli_config "$1" "$root/policy")
	[[ -z ${2:-} ]] || sed -i -e "$2" "$d/ztseg.yaml"
	echo "$d"
}

# table DIR: rows of "FROM TO PROTO/PORT EXIT FRAGMENT[ && FRAGMENT...]" on
# stdin; '#' starts a comment. Exit 0 must print "allow" first, exit 1
# "deny", and every fragment must appear in the output.
table() {
	local dir=$1 from to port want rest rc first frag name
	while read -r from to port want rest; do
		[[ -z $from || $from == \#* ]] && continue
		name="explain $from $to $port"
		rc=0
		"$ctl" explain --config "$dir" "$from" "$to" "$port" >"$tmp/out" 2>"$tmp/err" || rc=$?
		first=$(head -n1 "$tmp/out")
		if [[ $rc -ne $want ]]; then
			not_ok "$name" "exit $rc, expected $want"
			continue
		fi
		if [[ $first != "$([[ $want -eq 0 ]] && echo allow || echo deny)" ]]; then
			not_ok "$name" "first line '$first'"
			continue
		fi
		if [[ -s $tmp/err ]]; then
			not_ok "$name" "unexpected stderr"
			continue
		fi
		while [[ -n $rest ]]; do
			frag=${rest%% && *}
			[[ $rest == *" && "* ]] && rest=${rest#* && } || rest=
			if ! grep -qF -- "$frag" "$tmp/out"; then
				not_ok "$name" "output lacks '$frag'"
				continue 2
			fi
		done
		ok "$name -> $first, $(grep '^by: ' "$tmp/out")"
	done
}

example=$(variant example)

table "$example" <<'EOF'
# Every hub flow of the example, in policy order.
192.0.2.10                    web.front   tcp/443   0  by: flow 'public-web' (ztseg.yaml:
iface:uplink0,192.0.2.10      web.front   tcp/80    0  from: internet (static 0.0.0.0/0) && flow 'public-web'
web                           app         tcp/8080  0  by: flow 'web-to-app'
app                           db.primary  tcp/5432  0  by: flow 'app-to-db'
iface:wg-onprem,203.0.113.5   db.replica  tcp/5432  0  by: flow 'onprem-reporting' && note: offline, link kinds are unknown
onprem                        web         tcp/9100  0  by: flow 'monitoring'
onprem                        198.51.100.130 icmp/echo-request 0  to: app (static 198.51.100.128/26) && flow 'monitoring'
onprem                        2001:db8:0:1::5 icmpv6/echo-request 0  to: web.front (static 2001:db8:0:1::/80) && flow 'monitoring'
iface:vci3,198.51.100.200     iface:uplink0,192.0.2.10 tcp/443 0  from: ci (interface vci3) && by: flow 'ci-fetch'
db                            host        udp/53    0  by: flow 'dns'
ci                            host        tcp/53    0  by: flow 'dns'
iface:wg-onprem,2001:db8:ffff::1 host     tcp/22    0  from: onprem (static 2001:db8:ffff::/48) && by: flow 'admin-ssh'
host                          internet    udp/123   0  by: flow 'host-out'
host                          2001:db8:ff00::1 tcp/443 0  to: internet (static ::/0) && by: flow 'host-out'

# Flows are exact: another port, the other direction, another subnet.
192.0.2.10                    web.front   tcp/22    1  by: default verdict drop (hub.default)
web.front                     192.0.2.10  tcp/443   1  by: default verdict drop
app                           web         tcp/8080  1  by: default verdict drop
app                           db.replica  tcp/5432  1  by: default verdict drop
ci                            192.0.2.10  tcp/80    1  by: default verdict drop

# The default verdict: what no flow allows.
web                           db          tcp/5432  1  by: default verdict drop (hub.default)

# The segment rule between two subnets of db, and only that way round.
db.primary                    db.replica  tcp/5432  0  by: segment 'db' rule 'replication' (segments.d/db.yaml:
2001:db8:0:3::5               2001:db8:0:3:1::5 tcp/5432 0  from: db.primary (static 2001:db8:0:3::/80) && to: db.replica (static 2001:db8:0:3:1::/80) && rule 'replication'
db.replica                    db.primary  tcp/5432  1  by: default verdict drop
db.primary                    db.replica  tcp/22    1  by: default verdict drop
db                            db.primary  tcp/5432  1  by: default verdict drop

# Inside a segment: same subnet, or both in the rest, passes; between a
# subnet and the rest needs a rule; an isolated segment allows neither.
198.51.100.66                 198.51.100.67 tcp/5432 0  by: same zone db.primary
198.51.100.20                 198.51.100.21 tcp/80  0  by: same zone web
198.51.100.5                  198.51.100.20 tcp/80  1  from: web.front (static 198.51.100.0/28) && to: web (static 198.51.100.0/26) && by: default verdict drop
198.51.100.200                198.51.100.201 tcp/22 1  by: default verdict drop (hub.default; segment 'ci' has isolate: true)

# Longest prefix wins: a subnet inside its segment, onprem inside the internet.
198.51.100.5                  app         tcp/8080  0  from: web.front (static 198.51.100.0/28) && flow 'web-to-app'
198.51.100.20                 app         tcp/8080  0  from: web (static 198.51.100.0/26) && flow 'web-to-app'
192.0.2.10                    198.51.100.20 tcp/443 1  to: web (static 198.51.100.0/26) && by: default verdict drop
203.0.113.5                   host        tcp/22    0  from: onprem (static 203.0.113.0/24) && by: flow 'admin-ssh'
192.0.2.10                    host        tcp/22    1  from: internet (static 0.0.0.0/0) && by: default verdict drop

# world: what no zone claims.
world                         web.front   tcp/443   1  from: world (named) && by: default verdict drop
iface:eth9,fe80::1            host        tcp/22    1  from: world (link-local or unspecified source, by interface eth9)

# host, with protect-host: true.
onprem                        host        tcp/22    0  to: host (named) && by: flow 'admin-ssh'
web                           host        tcp/22    1  by: default verdict drop
host                          web         tcp/22    1  from: host (named) && by: default verdict drop
iface:lo,127.0.0.1            host        tcp/22    0  by: loopback

# Spoofed sources: an address arriving where it does not live.
iface:uplink0,198.51.100.66   host        tcp/22    1  by: spoofed: source 198.51.100.66 belongs to segment 'db' but arrived on uplink0
iface:uplink0,203.0.113.9     host        tcp/22    1  by: spoofed: source 203.0.113.9 belongs to boundary 'onprem' but arrived on uplink0
iface:vweb0,198.51.100.70     app         tcp/8080  1  from: web (interface vweb0) && by: spoofed: source 198.51.100.70 belongs to segment 'db' but arrived on vweb0
iface:vapp0,198.51.100.5      db.primary  tcp/5432  1  by: spoofed: source 198.51.100.5 belongs to segment 'web'
iface:wg-onprem,192.0.2.10    host        tcp/22    1  by: spoofed: source 192.0.2.10 is not an address of boundary 'onprem'
iface:vweb0,fe80::1           host        icmpv6/nd-router-advert 1  by: spoofed: icmpv6 router advertisement from vweb0

# IPv6 neighbour discovery always passes.
iface:vweb0,fe80::1           host        icmpv6/nd-neighbor-solicit 0  by: neighbour discovery

# Scope members: traffic between two boundaries is not ztseg's.
iface:wg-onprem,203.0.113.5   iface:uplink0,192.0.2.10 tcp/443 0  by: out of scope (scope: members)
EOF

# scope: all governs everything forwarded, boundary to boundary included.
table "$(variant scope-all 's/^  scope: members/  scope: all/')" <<'EOF'
iface:wg-onprem,203.0.113.5   iface:uplink0,192.0.2.10 tcp/443 1  from: onprem && to: internet && by: default verdict drop
web                           app         tcp/8080  0  by: flow 'web-to-app'
EOF

# protect-host: false trusts the host: its traffic is not enforced.
table "$(variant host-trusted 's/^  protect-host: true/  protect-host: false/')" <<'EOF'
web                           host        tcp/22    0  by: host not protected (protect-host: false)
host                          web         tcp/22    0  by: host not protected
web                           db          tcp/5432  1  by: default verdict drop
EOF

# default: reject.
table "$(variant reject 's/^  default: drop/  default: reject/')" <<'EOF'
web                           db          tcp/5432  1  by: default verdict reject (hub.default)
EOF

# Encrypted flows need an encrypted leg: without wg* in
# encrypted-interfaces, onprem's leg over wg-onprem does not count.
table "$(variant no-encryption 's/^  encrypted-interfaces: .*/  encrypted-interfaces: ["ipsec*"]/')" <<'EOF'
iface:wg-onprem,203.0.113.5   db.replica  tcp/5432  1  by: default verdict drop && flow 'onprem-reporting' would allow this but is encrypted
onprem                        db.replica  tcp/5432  1  source leg is not protected
onprem                        host        tcp/22    0  by: flow 'admin-ssh'
EOF

# An invalid policy answers nothing: its errors on stderr, exit 1.
bad=$(variant invalid 's/to: app, ports: \[tcp\/8080\]/to: ap, ports: [tcp\/8080]/')
rc=0
"$ctl" explain --config "$bad" web app tcp/8080 >"$tmp/out" 2>"$tmp/err" || rc=$?
if [[ $rc -eq 1 && ! -s $tmp/out ]] && head -n1 "$tmp/err" | grep -q "^$bad/ztseg.yaml:[0-9]*:[0-9]*: .*unknown zone 'ap'"; then
	ok "explain on an invalid policy: $(head -n1 "$tmp/err")"
else
	not_ok "explain on an invalid policy" "exit $rc"
fi

# Usage errors: exit 2, a message naming the problem, nothing on stdout.
usage() {
	local fragment=$1 rc=0
	shift
	"$ctl" explain --config "$example" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	if [[ $rc -ne 2 ]]; then
		not_ok "explain $*" "exit $rc, expected 2"
	elif [[ -s $tmp/out ]]; then
		not_ok "explain $*" "printed on stdout"
	elif ! grep -qF -- "$fragment" "$tmp/err"; then
		not_ok "explain $*" "stderr lacks '$fragment'"
	else
		ok "explain $* -> usage error: $(head -n1 "$tmp/err")"
	fi
}
usage "expected FROM TO PROTO/PORT" web app
usage "expected FROM TO PROTO/PORT" web app tcp/80 extra
usage "unknown zone 'ap' (did you mean 'app'?)" web ap tcp/8080
usage "FROM '300.1.1.1'" 300.1.1.1 web tcp/80
usage "PROTO/PORT 'tcp/99999'" web app tcp/99999
usage "one packet" web app tcp/1-5
usage "one address family" 198.51.100.5 2001:db8:0:2::1 tcp/8080
usage "unrecognized option" --frobnicate web app tcp/80

cli_summary
