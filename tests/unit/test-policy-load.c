/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the policy loader (lib/policy-load.c) and the directory reader (lib/policy-files.c). */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include "policy.h"
#include "diag-util.h"

#define SEG_FILE "segments.d/web.yaml"

static int load(const char *hub, const char *seg, struct zt_policy **p, struct zt_diags *d)
{
	struct zt_source src[] = {
		{ ZT_HUB_FILE, hub, strlen(hub) },
		{ SEG_FILE, seg, seg ? strlen(seg) : 0 },
	};

	return zt_policy_load_sources(src, seg ? 2 : 1, NULL, p, d);
}

/* ---- Errors of the loader: one table, one message each ---- */

struct err_case {
	const char *name;
	const char *hub;
	const char *seg;	/* segments.d/web.yaml, or NULL */
	const char *loc;
	const char *frag;
};

#define HUB_DELEGATE "version: 1\nhub:\n  delegate:\n    web: {interfaces: [\"vweb*\"]}\n"

/* A hub file with a segment web, up to threats: (the flood cases add to it). */
#define W "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\nthreats:\n"
/* With a named hub flow, for flow: (threats: on line 8, the first limit on line 10). */
#define WF                                                                                    \
	"version: 1\nhub:\n  flows:\n    - { name: web-in, from: world, to: web, ports: [tcp/80] }\n" \
	"segments:\n  web: { interfaces: [\"vweb*\"] }\n  db: { interfaces: [\"vdb*\"] }\nthreats:\n  flood:\n"

/* The same hub with threats.anomaly: (line 9), the first entry on line 10. */
#define WA_BASE                                                                               \
	"version: 1\nhub:\n  flows:\n    - { name: web-in, from: world, to: web, ports: [tcp/80] }\n" \
	"segments:\n  web: { interfaces: [\"vweb*\"] }\n  db: { interfaces: [\"vdb*\"] }\nthreats:\n"
#define WA WA_BASE "  anomaly:\n"

static const struct err_case err_cases[] = {
	{ "unknown top-level key",
	  "version: 1\nsegmnts: {}\n", NULL, "ztseg.yaml:2:1",
	  "unknown key 'segmnts' in the top level; expected one of: version, hub, jit, threats, segments (did you mean 'segments'?)" },
	{ "unknown hub key",
	  "version: 1\nhub:\n  defualt: drop\n", NULL, "ztseg.yaml:3:3",
	  "unknown key 'defualt' in hub; expected one of: default, scope, log, rpf, protect-host" },
	{ "unknown segment key",
	  "version: 1\nsegments:\n  web:\n    interfaces: [\"vweb*\"]\n    isolated: true\n", NULL,
	  "ztseg.yaml:5:5", "unknown key 'isolated' in segment 'web'; expected one of: interfaces, addresses, isolate, subnets, rules, mode, flow-log, units, bridge (did you mean 'isolate'?)" },
	{ "bridge: a pattern",
	  "version: 1\nsegments:\n  web:\n    bridge: \"br*\"\n    addresses: [198.51.100.8/29]\n", NULL,
	  "ztseg.yaml:4:13", "bridge: expected one bridge's name, not a pattern ('br*')" },
	{ "bridge: not a name",
	  "version: 1\nsegments:\n  web:\n    bridge: [br0]\n    addresses: [198.51.100.8/29]\n", NULL,
	  "ztseg.yaml:4:13", "bridge: expected a bridge's interface name, got a list" },
	{ "bridge: an invalid interface name",
	  "version: 1\nsegments:\n  web:\n    bridge: \"br 0\"\n    addresses: [198.51.100.8/29]\n", NULL,
	  "ztseg.yaml:4:13", "bridge: invalid interface name 'br 0'" },
	{ "bridge: with interfaces",
	  "version: 1\nsegments:\n  web:\n    bridge: br0\n    interfaces: [\"veth*\"]\n    addresses: [198.51.100.8/29]\n",
	  NULL, "ztseg.yaml:5:17", "segment 'web' has a bridge: it may not have interfaces" },
	{ "bridge: without addresses",
	  "version: 1\nsegments:\n  web:\n    bridge: br0\n", NULL,
	  "ztseg.yaml:4:13", "segment 'web' has a bridge but no addresses" },
	{ "unknown flow key",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: app, ports: [tcp/80], encrypt: true }\n", NULL,
	  "ztseg.yaml:4:46", "unknown key 'encrypt' in a hub flow; expected one of: name, from, to, ports, encrypted" },
	{ "encrypted in a segment rule",
	  HUB_DELEGATE,
	  "segments:\n  web:\n    interfaces: [\"vweb*\"]\n    rules:\n      - { from: a, to: b, ports: [tcp/1], encrypted: true }\n",
	  SEG_FILE ":5:43", "unknown key 'encrypted' in a rule of segment 'web'; expected one of: name, from, to, ports" },
	{ "unknown boundary key",
	  "version: 1\nhub:\n  boundaries:\n    onprem: { addresses: [203.0.113.0/24], iface: [wg0] }\n", NULL,
	  "ztseg.yaml:4:44", "unknown key 'iface' in boundary 'onprem'" },
	{ "scalar where a mapping is expected",
	  "version: 1\nhub: drop\n", NULL, "ztseg.yaml:2:6", "hub: expected a mapping, got a scalar" },
	{ "list where a scalar is expected",
	  "version: 1\nhub:\n  default: [drop]\n", NULL, "ztseg.yaml:3:12",
	  "default: expected one of: drop, reject, got a list" },
	{ "mapping where a list is expected",
	  "version: 1\nhub:\n  encrypted-interfaces: {wg: 1}\n", NULL, "ztseg.yaml:3:25",
	  "encrypted-interfaces: expected a list of interface patterns, got a mapping" },
	{ "interfaces as a scalar",
	  "version: 1\nsegments:\n  web:\n    interfaces: \"vweb*\"\n", NULL, "ztseg.yaml:4:17",
	  "interfaces: expected a list of interface patterns, got a scalar; write [\"vweb*\"]" },
	{ "addresses as a scalar",
	  "version: 1\nsegments:\n  web:\n    addresses: 198.51.100.0/26\n", NULL, "ztseg.yaml:4:16",
	  "addresses: expected a list of addresses, got a scalar; write [198.51.100.0/26]" },
	{ "segment with an empty value",
	  "version: 1\nsegments:\n  web:\n", NULL, "ztseg.yaml:3:7",
	  "segment 'web': expected a mapping, got an empty value" },
	{ "bool yes",
	  "version: 1\nhub:\n  protect-host: yes\n", NULL, "ztseg.yaml:3:17",
	  "protect-host: expected true or false, got 'yes'" },
	{ "bool True",
	  "version: 1\nsegments:\n  web:\n    interfaces: [\"vweb*\"]\n    isolate: True\n", NULL,
	  "ztseg.yaml:5:14", "isolate: expected true or false, got 'True'" },
	{ "bool quoted",
	  "version: 1\nhub:\n  flows:\n    - { from: a, to: b, ports: [tcp/1], encrypted: \"true\" }\n", NULL,
	  "ztseg.yaml:4:52", "encrypted: expected true or false, got quoted 'true'" },
	{ "segment named no",
	  "version: 1\nsegments:\n  no:\n    interfaces: [\"vno*\"]\n", NULL, "ztseg.yaml:3:3",
	  "'no' is read as a boolean by YAML 1.1 tools; quote it or choose another name" },
	{ "zone ref off",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: off, ports: [tcp/1] }\n", NULL, "ztseg.yaml:4:24",
	  "'off' is read as a boolean by YAML 1.1 tools" },
	{ "zone ref null",
	  "version: 1\nhub:\n  flows:\n    - { from: ~, to: web, ports: [tcp/1] }\n", NULL, "ztseg.yaml:4:15",
	  "'~' is read as null by YAML 1.1 tools" },
	{ "bad CIDR",
	  "version: 1\nsegments:\n  web:\n    addresses: [198.51.100.0/33]\n", NULL, "ztseg.yaml:4:17",
	  "invalid address '198.51.100.0/33'" },
	{ "CIDR with host bits",
	  "version: 1\nsegments:\n  web:\n    addresses: [198.51.100.65/26]\n", NULL, "ztseg.yaml:4:17",
	  "198.51.100.65/26 has host bits set; did you mean 198.51.100.64/26?" },
	{ "IPv6 CIDR with host bits",
	  "version: 1\nsegments:\n  web:\n    addresses: [\"2001:db8::1/64\"]\n", NULL, "ztseg.yaml:4:17",
	  "2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?" },
	{ "bad port",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: app, ports: [tcp/80, tcp/99999] }\n", NULL,
	  "ztseg.yaml:4:45", "invalid port 'tcp/99999': " },
	{ "ports as a scalar",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: app, ports: tcp/80 }\n", NULL,
	  "ztseg.yaml:4:36", "ports: expected a list of ports such as [tcp/443], got a scalar; write [tcp/80]" },
	{ "empty ports",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: app, ports: [] }\n", NULL,
	  "ztseg.yaml:4:36", "ports: expected at least one port" },
	{ "bad interface pattern",
	  "version: 1\nsegments:\n  web:\n    interfaces: [\"this-name-is-far-too-long\"]\n", NULL,
	  "ztseg.yaml:4:18", "invalid interface pattern 'this-name-is-far-too-long': " },
	{ "hub in a segment file",
	  HUB_DELEGATE, "hub:\n  default: drop\nsegments: {}\n", SEG_FILE ":1:1",
	  "'hub' is only allowed in ztseg.yaml: a segment file cannot open paths between segments" },
	{ "threats in a segment file",
	  HUB_DELEGATE, "threats: {}\n", SEG_FILE ":1:1", "'threats' is only allowed in ztseg.yaml" },
	{ "blocklist without a source",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: drop }\n", NULL, "ztseg.yaml:4:7",
	  "threats.blocklists: feed 'drop': expected exactly one of file and url" },
	{ "blocklist with a relative file",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: drop, file: feeds/drop.txt }\n", NULL, "ztseg.yaml:4:27",
	  "threats.blocklists: file: expected an absolute path to a file" },
	{ "blocklist with a bad direction",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: drop, file: /x, direction: sideways }\n", NULL,
	  "ztseg.yaml:4:42", "direction: expected in, out or both, got 'sideways'" },
	{ "blocklist name twice",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: a, file: /x }\n    - { name: a, file: /y }\n", NULL,
	  "ztseg.yaml:5:7", "feed 'a' defined twice (first at line 4)" },
	{ "blocklist with a non-https url",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: a, url: \"ftp://example.org/x\" }\n", NULL,
	  "ztseg.yaml:4:23", "url: expected an https:// (or http://) URL" },
	{ "blocklist unknown key",
	  "version: 1\nthreats:\n  blocklists:\n    - { name: a, file: /x, refresh: 1h }\n", NULL,
	  "ztseg.yaml:4:28", "threats.blocklists: unknown key 'refresh'" },
	{ "threats.anomaly unknown key",
	  WA "    - { flow: web-in, sensitivty: 4 }\n", NULL, "ztseg.yaml:10:23",
	  "threats.anomaly: unknown key 'sensitivty'; expected one of: flow, to, series, sensitivity" },
	{ "threats.anomaly sensitivity 0",
	  WA "    - { flow: web-in, sensitivity: 0 }\n", NULL, "ztseg.yaml:10:36",
	  "threats.anomaly: sensitivity: expected a number from 1 to 100, got '0'" },
	{ "threats.anomaly min-rate per hour",
	  WA "    - { flow: web-in, min-rate: 5/hour }\n", NULL, "ztseg.yaml:10:33",
	  "threats.anomaly: min-rate: expected new connections per second or minute such as 5/second (1 to 1000000), got '5/hour'" },
	{ "threats.anomaly bad mitigate",
	  WA "    - { flow: web-in, mitigate: block }\n", NULL, "ztseg.yaml:10:33",
	  "threats.anomaly: mitigate: expected alert, rate-limit or ban-top-sources, got 'block'" },
	{ "threats.anomaly interval too long",
	  WA "    - { flow: web-in, interval: 2h }\n", NULL, "ztseg.yaml:10:33",
	  "threats.anomaly: interval: invalid duration '2h'" },
	{ "threats.anomaly learn shorter than interval",
	  WA "    - { flow: web-in, interval: 1m, learn: 30s }\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: learn must be at least one interval" },
	{ "threats.anomaly limit without rate-limit",
	  WA "    - { flow: web-in, limit: 3 }\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: limit needs mitigate: rate-limit" },
	{ "threats.anomaly top without ban-top-sources",
	  WA "    - { flow: web-in, mitigate: rate-limit, top: 3 }\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: top needs mitigate: ban-top-sources" },
	{ "threats.anomaly ban too short",
	  WA "    - { flow: web-in, mitigate: ban-top-sources, ban: 5s }\n", NULL, "ztseg.yaml:10:55",
	  "threats.anomaly: ban: '5s' is too short (10s to 24h)" },
	{ "threats.anomaly hourly not a bool",
	  WA "    - { flow: web-in, hourly: yes }\n", NULL, "ztseg.yaml:10:31",
	  "threats.anomaly: hourly: expected true or false" },
	{ "threats.anomaly without flow",
	  WA "    - { sensitivity: 3 }\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: missing required key 'flow' or 'to'" },
	{ "threats.anomaly to: unknown zone",
	  WA "    - { to: webx }\n", NULL, "ztseg.yaml:10:13",
	  "threats.anomaly: unknown zone 'webx' (did you mean 'web'?)" },
	{ "threats.anomaly to: unknown zone, no suggestion",
	  WA "    - { to: nowhere-at-all }\n", NULL, "ztseg.yaml:10:13",
	  "threats.anomaly: unknown zone 'nowhere-at-all'" },
	{ "threats.anomaly series: bad value",
	  WA "    - { flow: web-in, series: packets }\n", NULL, "ztseg.yaml:10:31",
	  "threats.anomaly: series: expected connections or bytes, got 'packets'" },
	{ "threats.anomaly series: a list",
	  WA "    - { flow: web-in, series: [bytes] }\n", NULL, "ztseg.yaml:10:31",
	  "threats.anomaly: series: expected connections or bytes" },
	{ "threats.anomaly series: bytes with rate-limit",
	  WA "    - { flow: web-in, series: bytes, mitigate: rate-limit }\n", NULL, "ztseg.yaml:10:48",
	  "threats.anomaly: mitigate: rate-limit limits new connections per source and cannot bound a bytes series" },
	{ "threats.anomaly series: bytes with rate-limit, mitigate first",
	  WA "    - mitigate: rate-limit\n      series: bytes\n      flow: web-in\n", NULL, "ztseg.yaml:10:17",
	  "threats.anomaly: mitigate: rate-limit limits new connections per source" },
	{ "threats.anomaly series: bytes on a zone",
	  WA "    - { to: web, series: bytes }\n", NULL, "ztseg.yaml:10:26",
	  "threats.anomaly: series: bytes is for flow: entries only" },
	{ "threats.anomaly to: a list",
	  WA "    - { to: [web, db] }\n", NULL, "ztseg.yaml:10:13",
	  "threats.anomaly: to: expected the name of one zone, got a list" },
	{ "threats.anomaly to: host",
	  WA "    - { to: host }\n", NULL, "ztseg.yaml:10:13",
	  "threats.anomaly: to: host is not supported" },
	{ "threats.anomaly flow and to",
	  WA "    - { flow: web-in, to: web }\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: flow and to exclude each other" },
	{ "threats.anomaly unknown flow beside to",
	  WA "    - { to: web }\n    - { flow: web-inn }\n", NULL, "ztseg.yaml:11:15",
	  "threats.anomaly: unknown flow 'web-inn' (did you mean 'web-in'?)" },
	{ "threats.anomaly segment after its subnet",
	  "version: 1\nhub:\n  flows:\n    - { from: world, to: db, ports: [tcp/5432] }\n"
	  "segments:\n  db:\n    addresses: [198.51.100.64/28]\n    subnets:\n      primary: { addresses: [198.51.100.64/29] }\n"
	  "threats:\n  anomaly:\n    - { to: db.primary }\n    - { to: db }\n", NULL, "ztseg.yaml:13:13",
	  "threats.anomaly: zone 'db' contains zone 'db.primary' already watched (at 12:13): one entry per zone" },
	{ "threats.anomaly to: twice in one entry",
	  WA "    - { to: web, to: db }\n", NULL, "ztseg.yaml:10:18",
	  "duplicate key 'to' (first at line 10)" },
	{ "threats.anomaly zone twice",
	  WA "    - { to: web }\n" "    - { to: web, sensitivity: 5 }\n", NULL, "ztseg.yaml:11:13",
	  "threats.anomaly: zone 'web' is, or is part of, zone 'web' already watched (at 10:13): one entry per zone" },
	{ "threats.anomaly unknown flow",
	  WA "    - { flow: web-inn }\n", NULL, "ztseg.yaml:10:15",
	  "threats.anomaly: unknown flow 'web-inn' (did you mean 'web-in'?)" },
	{ "threats.anomaly flow twice",
	  WA "    - { flow: web-in }\n" "    - { flow: web-in, sensitivity: 5 }\n", NULL, "ztseg.yaml:11:15",
	  "threats.anomaly: flow 'web-in' already has a baseline (at 10:15): one entry per flow" },
	{ "threats.anomaly not a list",
	  WA_BASE "  anomaly: {}\n", NULL, "ztseg.yaml:9:12",
	  "threats.anomaly: expected a list of baselines, got a mapping" },
	{ "threats.anomaly entry not a mapping",
	  WA "    - web-in\n", NULL, "ztseg.yaml:10:7",
	  "threats.anomaly: expected a mapping such as { to: web, sensitivity: 4, mitigate: rate-limit }, got a scalar" },
	{ "threats.anomaly flow not a name",
	  WA "    - { flow: [web-in] }\n", NULL, "ztseg.yaml:10:15",
	  "threats.anomaly: flow: expected the name of a hub flow, got a list" },
	{ "threats unknown key",
	  "version: 1\nthreats:\n  floods: []\n", NULL, "ztseg.yaml:3:3",
	  "threats: unknown key 'floods'; expected one of: except, flood, blocklists" },
	{ "threats.except bad prefix",
	  "version: 1\nthreats:\n  except: [192.0.2.0/33]\n", NULL, "ztseg.yaml:3:12",
	  "threats.except: invalid prefix '192.0.2.0/33'" },
	{ "threats.flood unknown key",
	  W "  flood:\n    - { to: web, per-source: 5/second, bans: 1m }\n", NULL, "ztseg.yaml:6:40",
	  "threats.flood: unknown key 'bans'" },
	{ "threats.flood bad rate",
	  W "  flood:\n    - { to: web, per-source: 5/fortnight }\n", NULL, "ztseg.yaml:6:30",
	  "per-source: expected new connections per unit such as 200/second" },
	{ "threats.flood no limit",
	  W "  flood:\n    - { to: web, ban: 1m }\n", NULL, "ztseg.yaml:6:7",
	  "threats.flood: expected per-source, connections or both" },
	{ "threats.flood no to",
	  W "  flood:\n    - { connections: 3 }\n", NULL, "ztseg.yaml:6:7",
	  "threats.flood: missing required key 'to'" },
	{ "threats.flood ban too long",
	  W "  flood:\n    - { to: web, connections: 3, ban: 200h }\n", NULL, "ztseg.yaml:6:39",
	  "ban: invalid duration '200h'" },
	{ "threats.flood ipv6 prefix",
	  W "  flood:\n    - { to: web, connections: 3, source-prefix: { ipv6: 129 } }\n", NULL, "ztseg.yaml:6:57",
	  "source-prefix: ipv6: expected a number from 1 to 128, got '129'" },
	{ "threats.flood burst without rate",
	  W "  flood:\n    - { to: web, connections: 3, burst: 4 }\n", NULL, "ztseg.yaml:6:7",
	  "threats.flood: burst needs per-source" },
	{ "threats.flood ban-scope without ban",
	  W "  flood:\n    - { to: web, connections: 3, ban-scope: all }\n", NULL, "ztseg.yaml:6:7",
	  "threats.flood: ban-scope needs ban" },
	{ "threats.flood unknown zone",
	  W "  flood:\n    - { to: wbe, connections: 3 }\n", NULL, "ztseg.yaml:6:13",
	  "threats.flood: unknown zone 'wbe'" },
	{ "threats.flood host without protect-host",
	  W "  flood:\n    - { to: host, connections: 3 }\n", NULL, "ztseg.yaml:6:13",
	  "threats.flood: to: host needs hub.protect-host: true" },
	{ "threats.flood one limit per zone",
	  W "  flood:\n    - { to: web, connections: 3 }\n    - { to: [web], per-source: 1/second }\n", NULL,
	  "ztseg.yaml:7:14", "threats.flood: zone 'web' is already limited (by 'web' at 6:13)" },
	{ "threats.flood unknown flow",
	  WF "    - { flow: web-inn, connections: 3 }\n", NULL, "ztseg.yaml:10:15",
	  "threats.flood: unknown flow 'web-inn' (did you mean 'web-in'?)" },
	{ "threats.flood unknown flow, nothing close",
	  WF "    - { flow: zzzzzzzz, connections: 3 }\n", NULL, "ztseg.yaml:10:15",
	  "threats.flood: unknown flow 'zzzzzzzz' (flow: names a hub flow that has a name:)" },
	{ "threats.flood flow not a name",
	  WF "    - { flow: [web-in], connections: 3 }\n", NULL, "ztseg.yaml:10:15",
	  "flow: expected the name of a hub flow, got a list" },
	{ "threats.flood flow never goes to the zone",
	  WF "    - { flow: web-in, to: db, connections: 3 }\n", NULL, "ztseg.yaml:10:27",
	  "threats.flood: flow 'web-in' does not go to zone 'db'" },
	{ "threats.flood one limit per flow",
	  WF "    - { flow: web-in, connections: 3 }\n    - { flow: web-in, to: web, per-source: 1/second }\n",
	  NULL, "ztseg.yaml:11:15", "threats.flood: flow 'web-in' is already limited (at 10:15): one limit per flow" },
	{ "threats.flood flow and unknown zone",
	  WF "    - { flow: web-in, to: wbe, connections: 3 }\n", NULL, "ztseg.yaml:10:27",
	  "threats.flood: unknown zone 'wbe'" },
	{ "jit in a segment file",
	  HUB_DELEGATE, "jit: []\n", SEG_FILE ":1:1", "'jit' is only allowed in ztseg.yaml" },
	{ "jit template without max",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22] }\n", NULL, "ztseg.yaml:5:5",
	  "missing required key 'max' in a jit template" },
	{ "jit max over 24h",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 25h }\n", NULL, "ztseg.yaml:5:60",
	  "max: invalid duration '25h': at most 24h" },
	{ "jit duration malformed",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 1x }\n", NULL, "ztseg.yaml:5:60",
	  "max: invalid duration '1x'" },
	{ "jit default over max",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 10m, default: 1h }\n", NULL, "ztseg.yaml:5:5",
	  "jit template 'a': default (3600s) is longer than max (600s)" },
	{ "jit unknown zone",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: wrld, to: web, ports: [tcp/22], max: 1h }\n", NULL, "ztseg.yaml:5:22",
	  "jit template 'a': unknown zone 'wrld' (did you mean 'world'?)" },
	{ "jit from host",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: host, to: web, ports: [tcp/22], max: 1h }\n", NULL, "ztseg.yaml:5:22",
	  "'host' cannot be in from" },
	{ "jit whole protocol",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp], max: 1h }\n", NULL, "ztseg.yaml:5:46",
	  "a grant opens tcp, udp or sctp ports or ranges" },
	{ "jit too many ports",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/1000-1100], max: 1h }\n", NULL, "ztseg.yaml:5:5",
	  "ports cover 101 ports; a template opens at most 64" },
	{ "jit unknown key",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 1h, for: 1h }\n", NULL, "ztseg.yaml:5:64",
	  "unknown key 'for' in a jit template" },
	{ "jit bad requester",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 1h, requesters: [\"a b\"] }\n", NULL,
	  "ztseg.yaml:5:77", "requesters: 'a b' is not a Unix group name" },
	{ "jit duplicate names",
	  "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"] }\njit:\n"
	  "  - { name: a, from: world, to: web, ports: [tcp/22], max: 1h }\n  - { name: a, from: world, to: web, ports: [tcp/23], max: 1h }\n",
	  NULL, "ztseg.yaml:6:5", "jit template name 'a' is already used at ztseg.yaml:5:5" },
	{ "units with interfaces",
	  "version: 1\nsegments:\n  api:\n    interfaces: [\"vapi*\"]\n    units: [api.service]\n", NULL,
	  "ztseg.yaml:3:3", "segment 'api' has units: it may not have interfaces, addresses or subnets" },
	{ "units with addresses",
	  "version: 1\nsegments:\n  api:\n    addresses: [192.0.2.1]\n    units: [api.service]\n", NULL,
	  "ztseg.yaml:3:3", "segment 'api' has units: it may not have" },
	{ "units bad name",
	  "version: 1\nsegments:\n  api:\n    units: [api.service, api.timer]\n", NULL,
	  "ztseg.yaml:4:26", "invalid unit 'api.timer': a unit name ends in .service, .scope or .slice" },
	{ "units delegated path",
	  "version: 1\nsegments:\n  api:\n    units: [\"user.slice/user-1000.slice/user@1000.service/api.service\"]\n", NULL,
	  "ztseg.yaml:4:13", "a unit is NAME or system.slice/NAME" },
	{ "units not a list",
	  "version: 1\nsegments:\n  api:\n    units: api.service\n", NULL,
	  "ztseg.yaml:4:12", "units" },
	{ "units empty",
	  "version: 1\nsegments:\n  api:\n    units: []\n", NULL,
	  "ztseg.yaml:4:12", "segment 'api': units is empty" },
	{ "units need protect-host",
	  "version: 1\nsegments:\n  api:\n    units: [api.service]\n", NULL,
	  "ztseg.yaml:4:13", "segment 'api' has units, which need hub.protect-host: true" },
	{ "units overlap",
	  "version: 1\nhub: { protect-host: true }\nsegments:\n  api:\n    units: [\"api-*.service\"]\n  b:\n    units: [api-x.service]\n", NULL,
	  "ztseg.yaml:7:13", "unit 'api-x.service' overlaps unit 'api-*.service' listed before" },
	{ "units overlap same segment",
	  "version: 1\nhub: { protect-host: true }\nsegments:\n  api:\n    units: [api.service, system.slice/api.service]\n", NULL,
	  "ztseg.yaml:5:26", "unit 'api.service' overlaps unit 'api.service' listed before" },
	{ "version missing",
	  "hub: {}\n", NULL, "ztseg.yaml:1:1", "missing required key 'version'; expected version: 1" },
	{ "version 2",
	  "version: 2\n", NULL, "ztseg.yaml:1:10", "expected version: 1" },
	{ "version quoted",
	  "version: \"1\"\n", NULL, "ztseg.yaml:1:10", "expected version: 1" },
	{ "version 2 in a segment file",
	  HUB_DELEGATE, "version: 2\nsegments: {}\n", SEG_FILE ":1:10", "expected version: 1" },
	{ "empty hub file",
	  "# nothing\n", NULL, "ztseg.yaml", "file is empty; expected version: 1" },
	{ "top level a list",
	  "- version: 1\n", NULL, "ztseg.yaml:1:1", "expected a mapping with version, hub and segments at the top level, got a list" },
	{ "duplicate key (YAML layer)",
	  "version: 1\nversion: 1\n", NULL, "ztseg.yaml:2:1", "duplicate key 'version'" },
	{ "alias (YAML layer)",
	  "version: 1\nhub:\n  default: &d drop\n  log: *d\n", NULL, "ztseg.yaml:3:12", "anchor" },
	{ "segment name too long",
	  "version: 1\nsegments:\n  abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi:\n    interfaces: [\"x*\"]\n", NULL,
	  "ztseg.yaml:3:3", "segment name 'abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi' is 49 bytes, over the limit of 48" },
	{ "segment named host",
	  "version: 1\nsegments:\n  host:\n    interfaces: [\"vh*\"]\n", NULL, "ztseg.yaml:3:3",
	  "'host' is reserved and cannot name a segment" },
	{ "boundary named world",
	  "version: 1\nhub:\n  boundaries:\n    world: { addresses: [0.0.0.0/0] }\n", NULL, "ztseg.yaml:4:5",
	  "'world' is reserved and cannot name a boundary" },
	{ "uppercase segment name",
	  "version: 1\nsegments:\n  Web:\n    interfaces: [\"vweb*\"]\n", NULL, "ztseg.yaml:3:3",
	  "invalid segment name 'Web': names start with a lowercase letter" },
	{ "bad subnet name",
	  "version: 1\nsegments:\n  db:\n    addresses: [198.51.100.64/28]\n    subnets:\n      pri.mary: { addresses: [198.51.100.64/29] }\n", NULL,
	  "ztseg.yaml:6:7", "invalid subnet name 'pri.mary'" },
	{ "bad flow name",
	  "version: 1\nhub:\n  flows:\n    - { name: Public Web, from: a, to: b, ports: [tcp/1] }\n", NULL,
	  "ztseg.yaml:4:15", "invalid flow name 'Public Web'" },
	{ "bad zone reference",
	  "version: 1\nhub:\n  flows:\n    - { from: [web, db.pri.mary], to: b, ports: [tcp/1] }\n", NULL,
	  "ztseg.yaml:4:21", "invalid zone 'db.pri.mary'" },
	{ "empty from list",
	  "version: 1\nhub:\n  flows:\n    - { from: [], to: b, ports: [tcp/1] }\n", NULL,
	  "ztseg.yaml:4:15", "from: expected a zone name or a non-empty list of zone names, got an empty list" },
	{ "from as a mapping",
	  "version: 1\nhub:\n  flows:\n    - { from: {a: b}, to: b, ports: [tcp/1] }\n", NULL,
	  "ztseg.yaml:4:15", "got a mapping" },
	{ "flow missing ports",
	  "version: 1\nhub:\n  flows:\n    - { from: a, to: b }\n", NULL,
	  "ztseg.yaml:4:7", "missing required key 'ports' in a hub flow" },
	{ "flow as a scalar",
	  "version: 1\nhub:\n  flows:\n    - web->app\n", NULL,
	  "ztseg.yaml:4:7", "a hub flow: expected a mapping such as" },
	{ "flows as a mapping",
	  "version: 1\nhub:\n  flows: {from: a}\n", NULL,
	  "ztseg.yaml:3:10", "flows: expected a list of flows, got a mapping" },
	{ "bad enum value",
	  "version: 1\nhub:\n  scope: everything\n", NULL, "ztseg.yaml:3:10",
	  "scope: invalid value 'everything'; expected one of: members, all" },
	{ "bad rpf",
	  "version: 1\nhub:\n  rpf: on\n", NULL, "ztseg.yaml:3:8", "rpf: invalid value 'on'; expected one of: strict, loose, off" },
	{ "segment without interfaces or addresses",
	  "version: 1\nsegments:\n  web: { isolate: true }\n", NULL, "ztseg.yaml:3:3",
	  "segment 'web' has neither interfaces nor addresses" },
	{ "boundary without addresses",
	  "version: 1\nhub:\n  boundaries:\n    onprem: { interfaces: [wg0] }\n", NULL, "ztseg.yaml:4:5",
	  "missing required key 'addresses' in boundary 'onprem'" },
	{ "boundary with empty addresses",
	  "version: 1\nhub:\n  boundaries:\n    onprem: { addresses: [] }\n", NULL, "ztseg.yaml:4:26",
	  "addresses: expected at least one address" },
	{ "subnet without addresses",
	  "version: 1\nsegments:\n  db:\n    addresses: [198.51.100.64/28]\n    subnets:\n      primary: {}\n", NULL,
	  "ztseg.yaml:6:7", "missing required key 'addresses' in subnet 'db.primary'" },
	{ "subnet named after its segment",
	  "version: 1\nsegments:\n  db:\n    addresses: [198.51.100.64/28]\n    subnets:\n      db: { addresses: [198.51.100.64/29] }\n", NULL,
	  "ztseg.yaml:6:7", "subnet 'db.db' has the name of its segment" },
	{ "delegation named world",
	  "version: 1\nhub:\n  delegate:\n    world: { interfaces: [\"w*\"] }\n", NULL, "ztseg.yaml:4:5",
	  "'world' is reserved and cannot name a segment" },
	{ "control characters are escaped",
	  "version: 1\nhub:\n  \"a\\tb\": 1\n", NULL, "ztseg.yaml:3:3", "unknown key 'a\\x09b' in hub" },
};

START_TEST(test_errors)
{
	const struct err_case *c = &err_cases[_i];
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(c->hub, c->seg, &p, &d);

	if (getenv("ZT_TEST_SHOW"))
		diags_dump(&d);
	if (r != -EINVAL || !has_diag(&d, c->loc, c->frag)) {
		fprintf(stderr, "case '%s': r=%d, want %s: ...%s...; got:\n", c->name, r, c->loc, c->frag);
		diags_dump(&d);
	}
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert(has_diag(&d, c->loc, c->frag));
	zt_diags_clear(&d);
}
END_TEST

/* ---- A full valid policy: SPEC §3's example, with the web spoke it refers to ---- */

static const char spec_hub[] =
	"# /etc/ztseg/ztseg.yaml\n"
	"version: 1\n"
	"hub:\n"
	"  default: reject\n"
	"  scope: all\n"
	"  log: all\n"
	"  rpf: loose\n"
	"  protect-host: true\n"
	"  encrypted-interfaces: [\"wg*\"]\n"
	"  boundaries:\n"
	"    onprem:   { addresses: [203.0.113.0/24], interfaces: [\"wg-onprem\"] }\n"
	"    internet: { addresses: [0.0.0.0/0, \"::/0\"] }\n"
	"  delegate:\n"
	"    web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26, \"2001:db8:1::/64\"] }\n"
	"    db:  { interfaces: [\"vdb*\"],  addresses: [198.51.100.64/26] }\n"
	"  flows:\n"
	"    - { name: public-web, from: internet, to: web.front, ports: [tcp/80, tcp/443] }\n"
	"    - { from: web, to: app, ports: [tcp/8080] }\n"
	"    - { from: onprem, to: db.primary, ports: [tcp/5432], encrypted: true }\n"
	"    - { from: [web, app, db], to: host, ports: [udp/53, tcp/53] }\n"
	"    - { from: host, to: internet, ports: [udp/53, tcp/443, udp/123] }\n"
	"    - { from: onprem, to: host, ports: [tcp/22] }\n"
	"segments:\n"
	"  app:\n"
	"    interfaces: [\"vapp*\"]\n";

static const char spec_db[] =
	"segments:\n"
	"  db:\n"
	"    interfaces: [\"vdb*\"]\n"
	"    addresses: [198.51.100.64/28]\n"
	"    isolate: false\n"
	"    subnets:\n"
	"      primary: { addresses: [198.51.100.64/29] }\n"
	"      replica: { addresses: [198.51.100.72/29] }\n"
	"    rules:\n"
	"      - { from: primary, to: replica, ports: [tcp/5432] }\n";

static const char spec_web[] =
	"version: 1\n"
	"segments:\n"
	"  web:\n"
	"    interfaces: [\"vweb*\"]\n"
	"    addresses: [198.51.100.0/26, \"2001:db8:1::/64\"]\n"
	"    isolate: true\n"
	"    subnets:\n"
	"      front: { addresses: [198.51.100.0/28] }\n";

static struct zt_policy *load_spec(struct zt_diags *d)
{
	const struct zt_source src[] = {
		{ "ztseg.yaml", spec_hub, sizeof(spec_hub) - 1 },
		{ "segments.d/db.yaml", spec_db, sizeof(spec_db) - 1 },
		{ "segments.d/web.yaml", spec_web, sizeof(spec_web) - 1 },
	};
	struct zt_policy *p = NULL;
	int r = zt_policy_load_sources(src, ELEMENTSOF(src), NULL, &p, d);

	if (r)
		diags_dump(d);
	ck_assert_int_eq(r, 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(d->n_errors, 0);
	return p;
}

static void ck_pos(const struct zt_pos *pos, const char *file, unsigned line, unsigned col)
{
	ck_assert_str_eq(pos->file, file);
	ck_assert_uint_eq(pos->line, line);
	ck_assert_uint_eq(pos->col, col);
}

START_TEST(test_spec_hub)
{
	struct zt_diags d = {};
	_cleanup_policy_ struct zt_policy *p = load_spec(&d);
	const struct zt_hub *h = &p->hub;
	char buf[64];

	ck_assert_uint_eq(p->version, 1);
	ck_assert_uint_eq(p->n_files, 3);
	ck_assert_str_eq(p->files[0], "ztseg.yaml");
	ck_assert_str_eq(p->files[2], "segments.d/web.yaml");
	ck_assert_int_eq(h->dflt, ZT_DEFAULT_REJECT);
	ck_assert_int_eq(h->scope, ZT_SCOPE_ALL);
	ck_assert_int_eq(h->log, ZT_LOG_ALL);
	ck_assert_int_eq(h->rpf, ZT_RPF_LOOSE);
	ck_assert(h->protect_host);
	ck_assert_uint_eq(h->n_enc_ifs, 1);
	ck_assert_str_eq(h->enc_ifs[0].name, "wg");
	ck_assert(h->enc_ifs[0].wildcard);
	ck_pos(&h->enc_ifs[0].pos, "ztseg.yaml", 9, 26);

	ck_assert_uint_eq(h->n_boundaries, 2);
	ck_assert_str_eq(h->boundaries[0].name, "onprem");
	ck_pos(&h->boundaries[0].pos, "ztseg.yaml", 11, 5);
	ck_assert_uint_eq(h->boundaries[0].n_addrs, 1);
	ck_assert_str_eq(zt_cidr_fmt(&h->boundaries[0].addrs[0], buf, sizeof(buf)), "203.0.113.0/24");
	ck_pos(&h->boundaries[0].addrs[0].pos, "ztseg.yaml", 11, 29);
	ck_assert_uint_eq(h->boundaries[0].n_ifs, 1);
	ck_assert_str_eq(h->boundaries[0].ifs[0].name, "wg-onprem");
	ck_assert(!h->boundaries[0].ifs[0].wildcard);
	ck_assert_uint_eq(h->boundaries[1].n_addrs, 2);
	ck_assert_uint_eq(h->boundaries[1].addrs[1].family, AF_INET6);
	ck_assert_uint_eq(h->boundaries[1].n_ifs, 0);

	ck_assert_uint_eq(h->n_delegations, 2);
	ck_assert_str_eq(h->delegations[1].name, "db");
	ck_pos(&h->delegations[1].pos, "ztseg.yaml", 15, 5);
	ck_assert_uint_eq(h->delegations[1].n_ifs, 1);
	ck_assert_uint_eq(h->delegations[1].n_addrs, 1);

	ck_assert_uint_eq(h->n_flows, 6);
	ck_assert_str_eq(h->flows[0].name, "public-web");
	ck_assert(h->flows[0].named);
	ck_pos(&h->flows[0].pos, "ztseg.yaml", 17, 7);
	ck_assert_int_eq(h->flows[0].seg, -1);
	ck_assert_uint_eq(h->flows[0].n_from, 1);
	ck_assert_str_eq(h->flows[0].from[0].name, "internet");
	ck_pos(&h->flows[0].from[0].pos, "ztseg.yaml", 17, 33);
	ck_assert_int_eq(h->flows[0].from[0].zone.kind, ZT_ZONE_BOUNDARY);
	ck_assert_int_eq(h->flows[0].from[0].zone.bnd, 1);
	ck_assert_str_eq(h->flows[0].to[0].name, "web.front");
	ck_assert_int_eq(h->flows[0].to[0].zone.kind, ZT_ZONE_SUBNET);
	ck_assert_uint_eq(h->flows[0].n_ports, 2);
	ck_assert_int_eq(h->flows[0].ports[1].proto, ZT_PROTO_TCP);
	ck_assert_uint_eq(h->flows[0].ports[1].lo, 443);
	ck_assert_uint_eq(h->flows[0].ports[1].hi, 443);
	ck_pos(&h->flows[0].ports[1].pos, "ztseg.yaml", 17, 74);
	ck_assert(!h->flows[0].encrypted);

	ck_assert_str_eq(h->flows[1].name, "web->app");
	ck_assert(!h->flows[1].named);
	ck_assert_str_eq(h->flows[2].name, "onprem->db.primary");
	ck_assert(h->flows[2].encrypted);
	ck_assert_str_eq(h->flows[3].name, "web,app,db->host");
	ck_assert_uint_eq(h->flows[3].n_from, 3);
	ck_assert_int_eq(h->flows[3].to[0].zone.kind, ZT_ZONE_HOST);
	ck_assert_str_eq(h->flows[4].name, "host->internet");
	ck_assert_uint_eq(h->flows[4].n_ports, 3);
	ck_assert_str_eq(h->flows[5].name, "onprem->host");
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_spec_segments)
{
	struct zt_diags d = {};
	_cleanup_policy_ struct zt_policy *p = load_spec(&d);
	const struct zt_segment *app, *db, *web;
	char buf[64];

	ck_assert_uint_eq(p->n_segs, 3);
	app = &p->segs[0];
	db = &p->segs[1];
	web = &p->segs[2];
	ck_assert_str_eq(app->name, "app");
	ck_assert(app->in_hub_file);
	ck_assert_int_eq(app->delegation, -1);
	ck_pos(&app->pos, "ztseg.yaml", 24, 3);
	ck_assert_uint_eq(app->n_ifs, 1);
	ck_assert_str_eq(app->ifs[0].name, "vapp");
	ck_assert(!app->isolate);

	ck_assert_str_eq(db->name, "db");
	ck_assert(!db->in_hub_file);
	ck_assert_int_eq(db->delegation, 1);
	ck_pos(&db->pos, "segments.d/db.yaml", 2, 3);
	ck_assert_uint_eq(db->n_addrs, 1);
	ck_pos(&db->addrs[0].pos, "segments.d/db.yaml", 4, 17);
	ck_assert_uint_eq(db->n_subnets, 2);
	ck_assert_str_eq(db->subnets[1].name, "replica");
	ck_pos(&db->subnets[1].pos, "segments.d/db.yaml", 8, 7);
	ck_assert_str_eq(zt_cidr_fmt(&db->subnets[1].addrs[0], buf, sizeof(buf)), "198.51.100.72/29");
	ck_assert_uint_eq(db->n_rules, 1);
	ck_assert_str_eq(db->rules[0].name, "primary->replica");
	ck_assert_int_eq(db->rules[0].seg, 1);
	ck_assert_int_eq(db->rules[0].to[0].zone.kind, ZT_ZONE_SUBNET);
	ck_assert_int_eq(db->rules[0].to[0].zone.sub, 1);
	ck_pos(&db->rules[0].pos, "segments.d/db.yaml", 10, 9);

	ck_assert_str_eq(web->name, "web");
	ck_assert(web->isolate);
	ck_assert_int_eq(web->delegation, 0);
	ck_assert_uint_eq(web->n_addrs, 2);
	ck_assert_uint_eq(web->addrs[1].family, AF_INET6);
	ck_assert_uint_eq(web->addrs[1].plen, 64);
	ck_assert_ptr_eq(web->pos.file, p->files[2]);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_find_zone)
{
	static const struct {
		const char *name;
		enum zt_zone_kind kind;
		int seg, sub, bnd;
	} cases[] = {
		{ "web", ZT_ZONE_SEGMENT, 2, -1, -1 },
		{ "db.primary", ZT_ZONE_SUBNET, 1, 0, -1 },
		{ "db.replica", ZT_ZONE_SUBNET, 1, 1, -1 },
		{ "onprem", ZT_ZONE_BOUNDARY, -1, -1, 0 },
		{ "internet", ZT_ZONE_BOUNDARY, -1, -1, 1 },
		{ "host", ZT_ZONE_HOST, -1, -1, -1 },
		{ "world", ZT_ZONE_WORLD, -1, -1, -1 },
	};
	static const char *const missing[] = { "ap", "db.", "db.nope", "onprem.x", "", "web.front.x" };
	struct zt_diags d = {};
	_cleanup_policy_ struct zt_policy *p = load_spec(&d);

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct zt_zone z;
		char buf[128];

		ck_assert_int_eq(zt_policy_find_zone(p, cases[i].name, &z), 0);
		ck_assert_int_eq(z.kind, cases[i].kind);
		ck_assert_int_eq(z.seg, cases[i].seg);
		ck_assert_int_eq(z.sub, cases[i].sub);
		ck_assert_int_eq(z.bnd, cases[i].bnd);
		ck_assert_str_eq(zt_zone_fmt(p, &z, buf, sizeof(buf)), cases[i].name);
	}
	for (size_t i = 0; i < ELEMENTSOF(missing); i++) {
		struct zt_zone z;

		ck_assert_int_eq(zt_policy_find_zone(p, missing[i], &z), -ENOENT);
	}
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_defaults)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load("version: 1\n", NULL, &p, &d);

	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(p->hub.dflt, ZT_DEFAULT_DROP);
	ck_assert_int_eq(p->hub.scope, ZT_SCOPE_MEMBERS);
	ck_assert_int_eq(p->hub.log, ZT_LOG_DROPS);
	ck_assert_int_eq(p->hub.rpf, ZT_RPF_STRICT);
	ck_assert(!p->hub.protect_host);
	ck_assert_ptr_eq(p->hub.pos.file, p->files[0]);
	ck_assert_uint_eq(p->n_segs, 0);
	ck_assert_uint_eq(p->hub.n_flows, 0);
	zt_policy_free(p);
	ck_assert_ptr_null(zt_policy_free(NULL));
	zt_diags_clear(&d);
}
END_TEST

/* threats: except, flood and blocklists in one mapping (one except list, for both). */
START_TEST(test_threats_all)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(W "  except: [192.0.2.0/28, \"2001:db8:9::/48\"]\n"
		     "  flood:\n    - { to: web, per-source: 5/second }\n"
		     "  blocklists:\n    - { name: drop, file: /var/lib/ztseg-feeds/drop.txt, direction: in }\n"
		     "    - { name: l1, url: \"https://example.org/l1.netset\" }\n",
		     NULL, &p, &d);

	ck_assert_msg(r == 0, "load: %d", r);
	ck_assert_uint_eq(p->threats.n_except, 2);
	ck_assert_uint_eq(p->threats.except[0].pos.line, 5);
	ck_assert_uint_eq(p->threats.n_flood, 1);
	ck_assert_uint_eq(p->threats.n_blocklists, 2);
	ck_assert_str_eq(p->threats.blocklists[0].name, "drop");
	ck_assert_int_eq(p->threats.blocklists[0].dir, ZT_FEED_IN);
	ck_assert_str_eq(p->threats.blocklists[1].url, "https://example.org/l1.netset");
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

/* Generated names: "from->to", lists joined, repeats numbered in order. */
START_TEST(test_flow_names)
{
	static const char hub[] =
		"version: 1\n"
		"hub:\n"
		"  flows:\n"
		"    - { from: web, to: app, ports: [tcp/1] }\n"
		"    - { from: web, to: app, ports: [tcp/2] }\n"
		"    - { name: web-to-app, from: web, to: app, ports: [tcp/3] }\n"
		"    - { from: [web, app], to: host, ports: [udp/53] }\n"
		"    - { from: web, to: app, ports: [tcp/4] }\n"
		"    - { from: app, to: [web, world], ports: [any] }\n"
		"    - { from: [web, app], to: host, ports: [tcp/53] }\n"
		"segments:\n"
		"  web: { interfaces: [\"vweb*\"] }\n"
		"  app: { interfaces: [\"vapp*\"] }\n";
	static const char *const want[] = { "web->app", "web->app#2", "web-to-app",
					    "web,app->host", "web->app#3", "app->web,world",
					    "web,app->host#2" };
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(hub, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p->hub.n_flows, ELEMENTSOF(want));
	for (size_t i = 0; i < ELEMENTSOF(want); i++) {
		ck_assert_str_eq(p->hub.flows[i].name, want[i]);
		ck_assert(p->hub.flows[i].named == (i == 2));
	}
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

/* Rules are named per segment: the same name in two segments is no repeat. */
#define RULES_HUB							\
	"version: 1\n"							\
	"segments:\n"							\
	"  a:\n"								\
	"    addresses: [192.0.2.0/25]\n"					\
	"    subnets: { x: { addresses: [192.0.2.0/26] } }\n"		\
	"    rules:\n"							\
	"      - { from: x, to: a, ports: [tcp/1] }\n"			\
	"      - { from: x, to: a, ports: [tcp/2] }\n"			\
	"  b:\n"								\
	"    addresses: [192.0.2.128/25]\n"					\
	"    subnets: { x: { addresses: [192.0.2.128/26] } }\n"		\
	"    rules:\n"							\
	"      - { name: only, from: x, to: b, ports: [tcp/1] }\n"

START_TEST(test_rule_names)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(RULES_HUB, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(p->segs[0].rules[0].name, "x->a");
	ck_assert_str_eq(p->segs[0].rules[1].name, "x->a#2");
	ck_assert_int_eq(p->segs[0].rules[1].seg, 0);
	ck_assert_str_eq(p->segs[1].rules[0].name, "only");
	ck_assert(p->segs[1].rules[0].named);
	ck_assert_int_eq(p->segs[1].rules[0].seg, 1);
	zt_policy_free(p);
	zt_diags_clear(&d);

	/* Inside b, "a" names nothing: the validator reports it at the token. */
	r = load(RULES_HUB "      - { from: x, to: a, ports: [tcp/1] }\n", NULL, &p, &d);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert(has_diag(&d, "ztseg.yaml:14:24", "unknown zone 'a'"));
	zt_diags_clear(&d);
}
END_TEST

/* Every error of a file is reported, not only the first. */
START_TEST(test_many_errors)
{
	static const char hub[] =
		"version: 1\n"
		"hub:\n"
		"  default: dropp\n"
		"  protect-host: on\n"
		"  colour: blue\n"
		"  flows:\n"
		"    - { from: web, to: app, ports: [tcp/80, tcp/99999, ftp] }\n"
		"segments:\n"
		"  web:\n"
		"    addresses: [198.51.100.65/26, 10.0.0.0/8]\n";
	static const char seg[] =
		"hub: {}\n"
		"segments:\n"
		"  no:\n"
		"    interfaces: [\"vno*\"]\n";
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(hub, seg, &p, &d);

	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert(has_diag(&d, "ztseg.yaml:3:12", "default: invalid value 'dropp'; expected one of: drop, reject"));
	ck_assert(has_diag(&d, "ztseg.yaml:4:17", "protect-host: expected true or false, got 'on'"));
	ck_assert(has_diag(&d, "ztseg.yaml:5:3", "unknown key 'colour' in hub"));
	ck_assert(has_diag(&d, "ztseg.yaml:7:45", "invalid port 'tcp/99999'"));
	ck_assert(has_diag(&d, "ztseg.yaml:7:56", "invalid port 'ftp'"));
	ck_assert(has_diag(&d, "ztseg.yaml:10:17", "did you mean 198.51.100.64/26?"));
	ck_assert(has_diag(&d, SEG_FILE ":1:1", "'hub' is only allowed in ztseg.yaml"));
	ck_assert(has_diag(&d, SEG_FILE ":3:3", "'no' is read as a boolean"));
	ck_assert_uint_eq(d.n_errors, 8);
	zt_diags_clear(&d);
}
END_TEST

/* A YAML error in one file does not hide the errors of the next. */
START_TEST(test_errors_across_files)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load("version: 1\nhub: [\n", "segments:\n  web: { interfaces: vweb }\n", &p, &d);

	ck_assert_int_eq(r, -EINVAL);
	ck_assert(has_diag(&d, SEG_FILE ":2:22", "interfaces: expected a list of interface patterns, got a scalar; write [vweb]"));
	ck_assert_uint_eq(d.n_errors, 2);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_max_segments)
{
	static const char hub[] =
		"version: 1\n"
		"segments:\n"
		"  a: { interfaces: [a] }\n"
		"  b: { interfaces: [b] }\n"
		"  c: { interfaces: [c] }\n";
	struct zt_limits lim = ZT_LIMITS_DEFAULT;
	struct zt_source src = { ZT_HUB_FILE, hub, sizeof(hub) - 1 };
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	lim.max_segments = 2;
	ck_assert_int_eq(zt_policy_load_sources(&src, 1, &lim, &p, &d), -EINVAL);
	ck_assert(has_diag(&d, "ztseg.yaml:5:3", "more than 2 segments"));
	ck_assert_uint_eq(d.n_errors, 1);
	zt_diags_clear(&d);
	lim.max_segments = 3;
	ck_assert_int_eq(zt_policy_load_sources(&src, 1, &lim, &p, &d), 0);
	ck_assert_uint_eq(p->n_segs, 3);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

/* The reader's limits come from lim->yaml. */
START_TEST(test_yaml_limits)
{
	static const char hub[] = "version: 1\nhub: { flows: [] }\n";
	struct zt_limits lim = ZT_LIMITS_DEFAULT;
	struct zt_source src = { ZT_HUB_FILE, hub, sizeof(hub) - 1 };
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	lim.yaml.max_depth = 1;
	ck_assert_int_eq(zt_policy_load_sources(&src, 1, &lim, &p, &d), -EINVAL);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_str_eq(d.v[0].file, "ztseg.yaml");
	zt_diags_clear(&d);
}
END_TEST

/* ---- zt_policy_load_dir ---- */

static char tmpdir[64];

static const char dir_hub[] =
	"version: 1\n"
	"hub:\n"
	"  delegate:\n"
	"    web: { interfaces: [\"vweb*\"] }\n"
	"    app: { interfaces: [\"vapp*\"] }\n"
	"    db: { interfaces: [\"vdb*\"] }\n";

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void mkdir_rel(const char *rel, mode_t mode)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void path_of(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", tmpdir, rel);
}

static void dir_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ztseg-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(chmod(tmpdir, 0755), 0);
	put("ztseg.yaml", dir_hub, 0644);
	mkdir_rel("segments.d", 0755);
	put("segments.d/web.yaml", "segments:\n  web: { interfaces: [\"vweb*\"] }\n", 0644);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void dir_teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int load_tmp(struct zt_policy **p, struct zt_diags *d)
{
	return zt_policy_load_dir(tmpdir, NULL, 0, p, d);
}

/* One directory error and nothing else. */
static void expect_dir_error(const char *loc, const char *frag)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load_tmp(&p, &d);

	if (r != -EINVAL || !has_diag(&d, loc, frag)) {
		fprintf(stderr, "want %s: ...%s...; r=%d, got:\n", loc, frag, r);
		diags_dump(&d);
	}
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert(has_diag(&d, loc, frag));
	ck_assert_uint_eq(d.n_errors, 1);
	zt_diags_clear(&d);
}

START_TEST(test_dir_ok)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r;

	/* Not policy files: other suffixes, hidden files, editor leftovers. */
	put("segments.d/README", "not yaml: [", 0644);
	put("segments.d/.web.yaml.swp", "not yaml: [", 0644);
	put("segments.d/.hidden.yaml", "not yaml: [", 0644);
	put("segments.d/web.yaml~", "not yaml: [", 0644);
	put("segments.d/web.yml", "not yaml: [", 0644);
	put("segments.d/old.yaml.bak", "not yaml: [", 0666);
	r = load_tmp(&p, &d);
	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p->n_files, 2);
	ck_assert_str_eq(p->files[0], "ztseg.yaml");
	ck_assert_str_eq(p->files[1], "segments.d/web.yaml");
	ck_assert_uint_eq(p->n_segs, 1);
	ck_assert_ptr_eq(p->segs[0].pos.file, p->files[1]);
	ck_assert_int_eq(p->segs[0].delegation, 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_dir_no_segments_d)
{
	char path[256];
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	path_of(path, sizeof(path), "segments.d/web.yaml");
	ck_assert_int_eq(unlink(path), 0);
	path_of(path, sizeof(path), "segments.d");
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(load_tmp(&p, &d), 0);
	ck_assert_uint_eq(p->n_files, 1);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_dir_lexical_order)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r;

	put("segments.d/2-app.yaml", "segments:\n  app: { interfaces: [\"vapp*\"] }\n", 0644);
	put("segments.d/10-db.yaml", "segments:\n  db: { interfaces: [\"vdb*\"] }\n", 0600);
	r = load_tmp(&p, &d);
	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p->n_files, 4);
	ck_assert_str_eq(p->files[1], "segments.d/10-db.yaml");
	ck_assert_str_eq(p->files[2], "segments.d/2-app.yaml");
	ck_assert_str_eq(p->files[3], "segments.d/web.yaml");
	ck_assert_str_eq(p->segs[0].name, "db");
	ck_assert_str_eq(p->segs[1].name, "app");
	ck_assert_str_eq(p->segs[2].name, "web");
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_dir_world_writable_file)
{
	char path[256], want[400];

	path_of(path, sizeof(path), "ztseg.yaml");
	ck_assert_int_eq(chmod(path, 0646), 0);
	snprintf(want, sizeof(want), "writable by group or others (mode 0646); run chmod go-w %s", path);
	expect_dir_error("ztseg.yaml", want);
}
END_TEST

START_TEST(test_dir_group_writable_segments_d)
{
	char path[256], want[400];

	path_of(path, sizeof(path), "segments.d");
	ck_assert_int_eq(chmod(path, 0775), 0);
	snprintf(want, sizeof(want), "writable by group or others (mode 0775); run chmod go-w %s", path);
	expect_dir_error("segments.d", want);
}
END_TEST

START_TEST(test_dir_writable_dir)
{
	ck_assert_int_eq(chmod(tmpdir, 01777), 0);
	expect_dir_error(tmpdir, "writable by group or others (mode 1777)");
}
END_TEST

START_TEST(test_dir_group_writable_segment_file)
{
	put("segments.d/web.yaml", "segments: {}\n", 0664);
	expect_dir_error("segments.d/web.yaml", "writable by group or others (mode 0664)");
}
END_TEST

START_TEST(test_dir_foreign_owner)
{
	char path[256];
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int fd;

	path_of(path, sizeof(path), "ztseg.yaml");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
	close(fd);
	expect_dir_error("ztseg.yaml", "owned by uid 65534; must be owned by root");
	/* The daemon's own user may own its policy. */
	ck_assert_int_eq(zt_policy_load_dir(tmpdir, NULL, 65534, &p, &d), 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_dir_symlink_hub)
{
	char path[256];

	put("real.yaml", dir_hub, 0644);
	path_of(path, sizeof(path), "ztseg.yaml");
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink("real.yaml", path), 0);
	expect_dir_error("ztseg.yaml", "is a symbolic link; policy files are opened without following links");
}
END_TEST

START_TEST(test_dir_symlink_segment_file)
{
	char path[256];

	put("segments.d/real", "segments: {}\n", 0644);
	path_of(path, sizeof(path), "segments.d/link.yaml");
	ck_assert_int_eq(symlink("real", path), 0);
	expect_dir_error("segments.d/link.yaml", "is a symbolic link");
}
END_TEST

START_TEST(test_dir_symlink_segments_d)
{
	char path[256];

	mkdir_rel("elsewhere", 0755);
	path_of(path, sizeof(path), "segments.d/web.yaml");
	ck_assert_int_eq(unlink(path), 0);
	path_of(path, sizeof(path), "segments.d");
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(symlink("elsewhere", path), 0);
	expect_dir_error("segments.d", "is a symbolic link");
}
END_TEST

START_TEST(test_dir_missing_hub)
{
	char path[256];

	path_of(path, sizeof(path), "ztseg.yaml");
	ck_assert_int_eq(unlink(path), 0);
	expect_dir_error("ztseg.yaml", "no such file");
}
END_TEST

START_TEST(test_dir_missing_dir)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	ck_assert_int_eq(zt_policy_load_dir("/nonexistent/ztseg", NULL, 0, &p, &d), -EINVAL);
	ck_assert(has_diag(&d, "/nonexistent/ztseg", "no such directory"));
	zt_diags_clear(&d);
}
END_TEST

/* The size is refused from fstat, before a byte is read or parsed. */
START_TEST(test_dir_too_big)
{
	char path[256];
	int fd;

	path_of(path, sizeof(path), "ztseg.yaml");
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 2 << 20), 0);
	close(fd);
	expect_dir_error("ztseg.yaml", "file is 2097152 bytes, over the limit of 1048576");
}
END_TEST

START_TEST(test_dir_fifo)
{
	char path[256];

	path_of(path, sizeof(path), "segments.d/pipe.yaml");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	expect_dir_error("segments.d/pipe.yaml", "not a regular file");
}
END_TEST

START_TEST(test_dir_limits)
{
	struct zt_limits lim = ZT_LIMITS_DEFAULT;
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	put("segments.d/app.yaml", "segments: {}\n", 0644);
	lim.max_files = 1;
	ck_assert_int_eq(zt_policy_load_dir(tmpdir, &lim, 0, &p, &d), -EINVAL);
	ck_assert(has_diag(&d, "segments.d", "more than 1 policy files"));
	zt_diags_clear(&d);

	lim = ZT_LIMITS_DEFAULT;
	lim.max_total_size = sizeof(dir_hub) + 20;
	ck_assert_int_eq(zt_policy_load_dir(tmpdir, &lim, 0, &p, &d), -EINVAL);
	ck_assert(has_diag(&d, "segments.d/web.yaml", "the policy files add up to more than"));
	ck_assert_uint_eq(d.n_errors, 1);
	zt_diags_clear(&d);
}
END_TEST

/* Errors inside files name them relative to the directory. */
START_TEST(test_dir_positions)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	put("segments.d/web.yaml", "segments:\n  web: { interfaces: [\"vweb*\"], isolate: yes }\n", 0644);
	ck_assert_int_eq(load_tmp(&p, &d), -EINVAL);
	ck_assert(has_diag(&d, "segments.d/web.yaml:2:42", "isolate: expected true or false, got 'yes'"));
	zt_diags_clear(&d);
}
END_TEST

static Suite *policy_load_suite(void)
{
	Suite *s = suite_create("policy-load");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0, ELEMENTSOF(err_cases));
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_threats_all);
	tcase_add_test(tc, test_errors_across_files);
	tcase_add_test(tc, test_max_segments);
	tcase_add_test(tc, test_yaml_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_test(tc, test_spec_hub);
	tcase_add_test(tc, test_spec_segments);
	tcase_add_test(tc, test_find_zone);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_flow_names);
	tcase_add_test(tc, test_rule_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("dir");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_add_test(tc, test_dir_ok);
	tcase_add_test(tc, test_dir_no_segments_d);
	tcase_add_test(tc, test_dir_lexical_order);
	tcase_add_test(tc, test_dir_world_writable_file);
	tcase_add_test(tc, test_dir_group_writable_segments_d);
	tcase_add_test(tc, test_dir_writable_dir);
	tcase_add_test(tc, test_dir_group_writable_segment_file);
	tcase_add_test(tc, test_dir_foreign_owner);
	tcase_add_test(tc, test_dir_symlink_hub);
	tcase_add_test(tc, test_dir_symlink_segment_file);
	tcase_add_test(tc, test_dir_symlink_segments_d);
	tcase_add_test(tc, test_dir_missing_hub);
	tcase_add_test(tc, test_dir_missing_dir);
	tcase_add_test(tc, test_dir_too_big);
	tcase_add_test(tc, test_dir_fifo);
	tcase_add_test(tc, test_dir_limits);
	tcase_add_test(tc, test_dir_positions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(policy_load_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
