/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of explain (lib/explain.c): doc/SEMANTICS.md on one realistic policy. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <time.h>
#include "explain.h"
#include "diag-util.h"

/*
 * The hub's first lines differ between the two policies; both have the
 * same number of lines so that flow positions agree.
 */
#define HUB_FMT                                                                                    \
	"version: 1\n"                                                                             \
	"hub:\n"                                                                                   \
	"  default: %s\n"                                                                          \
	"  scope: %s\n"                                                                            \
	"  protect-host: %s\n"                                                                     \
	"  encrypted-interfaces: [\"wg*\"]\n"                                                      \
	"  boundaries:\n"                                                                          \
	"    onprem: { addresses: [203.0.113.0/24, \"2001:db8:cafe::/48\"], interfaces: [wg-onprem] }\n" \
	"    branch: { addresses: [192.0.2.192/26], interfaces: [wg-branch, gre-branch] }\n"       \
	"    internet: { addresses: [0.0.0.0/0, \"::/0\"], interfaces: [eth0] }\n"                 \
	"    corp: { addresses: [198.51.100.0/24] }\n"                                             \
	"  delegate:\n"                                                                            \
	"    db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n"                      \
	"    web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26, \"2001:db8:1::/48\"] }\n" \
	"  flows:\n"                                                                               \
	"    - { name: public-web, from: internet, to: web.front, ports: [tcp/80, tcp/443] }\n"   \
	"    - { name: web-to-app, from: web, to: app, ports: [tcp/8080] }\n"                      \
	"    - { name: app-to-db, from: app, to: db.primary, ports: [tcp/5432] }\n"                \
	"    - { name: onprem-db, from: onprem, to: db, ports: [tcp/5432], encrypted: true }\n"   \
	"    - { name: branch-db, from: branch, to: db.replica, ports: [tcp/5432], encrypted: true }\n" \
	"    - { name: dns, from: [web, app, db], to: host, ports: [udp/53, tcp/53] }\n"           \
	"    - { name: host-out, from: host, to: internet, ports: [udp/53, tcp/443, udp/123] }\n"  \
	"    - { name: ssh, from: onprem, to: host, ports: [tcp/22] }\n"                           \
	"    - { name: ping, from: [web, app], to: internet, ports: [\"icmp/echo-request\", \"icmpv6/echo-request\"] }\n" \
	"    - { name: corp-web, from: corp, to: web, ports: [tcp/8443] }\n"                       \
	"    - { name: lab, from: world, to: web.front, ports: [tcp/8000] }\n"                     \
	"    - { name: backup, from: db, to: onprem, ports: [tcp/873], encrypted: true }\n"       \
	"    - { name: web-admin, from: web, to: web.front, ports: [tcp/9443] }\n"                 \
	"segments:\n"                                                                              \
	"  app:\n"                                                                                 \
	"    interfaces: [\"vapp*\"]\n"                                                            \
	"  cache:\n"                                                                               \
	"    interfaces: [\"vcache*\"]\n"                                                          \
	"    addresses: [198.51.100.160/28]\n"                                                     \
	"    isolate: true\n"                                                                      \
	"    rules:\n"                                                                             \
	"      - { name: cluster-bus, from: cache, to: cache, ports: [tcp/16379] }\n"

static const char db_yaml[] =
	"segments:\n"
	"  db:\n"
	"    interfaces: [\"vdb*\"]\n"
	"    addresses: [198.51.100.64/27]\n"
	"    subnets:\n"
	"      primary: { addresses: [198.51.100.64/29] }\n"
	"      replica: { addresses: [198.51.100.72/29] }\n"
	"    rules:\n"
	"      - { name: repl, from: primary, to: replica, ports: [tcp/5432] }\n"
	"      - { name: admin, from: db, to: [primary, replica], ports: [tcp/22] }\n";

static const char web_yaml[] =
	"segments:\n"
	"  web:\n"
	"    interfaces: [\"vweb*\"]\n"
	"    addresses: [198.51.100.0/27, \"2001:db8:1::/64\"]\n"
	"    subnets:\n"
	"      front: { addresses: [198.51.100.0/28, \"2001:db8:1::/80\"] }\n";

enum { POL_MAIN, POL_ALL, N_POL };

static struct zt_policy *policies[N_POL];

static struct zt_policy *load(const char *dflt, const char *scope, const char *protect)
{
	_cleanup_free_ char *hub = NULL;
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r;

	ck_assert_int_ge(asprintf(&hub, HUB_FMT, dflt, scope, protect), 0);
	{
		struct zt_source src[] = {
			{ ZT_HUB_FILE, hub, strlen(hub) },
			{ "segments.d/db.yaml", db_yaml, strlen(db_yaml) },
			{ "segments.d/web.yaml", web_yaml, strlen(web_yaml) },
		};

		r = zt_policy_load_sources(src, ELEMENTSOF(src), NULL, &p, &d);
	}
	if (r || d.n)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(d.n, 0);
	zt_diags_clear(&d);
	return p;
}

static void setup(void)
{
	policies[POL_MAIN] = load("drop", "members", "true");
	policies[POL_ALL] = load("reject", "all", "false");
}

static void teardown(void)
{
	for (size_t i = 0; i < N_POL; i++)
		policies[i] = zt_policy_free(policies[i]);
}

/* Explain and format; returns the text (caller frees), or NULL with the error in *errmsg. */
static char *run(const struct zt_policy *p, const char *from, const char *to, const char *probe,
		 const struct zt_explain_env *env, struct zt_explanation *e, char **errmsg)
{
	struct zt_endpoint ef, et;
	struct zt_port pkt;
	struct zt_diags d = {};
	const char *err = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	ck_assert_msg(zt_endpoint_parse(from, &ef, &err) == 0, "%s: %s", from, err);
	ck_assert_msg(zt_endpoint_parse(to, &et, &err) == 0, "%s: %s", to, err);
	ck_assert_msg(zt_port_parse(probe, &pkt, &err) == 0, "%s: %s", probe, err);
	r = zt_explain(p, &ef, &et, &pkt, env, e, &d);
	if (r < 0) {
		ck_assert_int_eq(r, -EINVAL);
		ck_assert_uint_ge(d.n, 1);
		if (errmsg)
			*errmsg = zt_diag_format(&d.v[0]);
		zt_diags_clear(&d);
		return NULL;
	}
	ck_assert_uint_eq(d.n, 0);
	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(zt_explanation_format(p, e, f), 0);
	fclose(f);
	return text;
}

/* ---- The table ---- */

struct xcase {
	const char *name;
	int pol;
	const char *from, *to, *probe;
	bool allow;
	enum zt_reason reason;
	const char *lines[4];	/* each must be a whole line of the output */
};

static const struct xcase cases[] = {
	/* Hub flows, per port and protocol */
	{ "internet to web.front https", POL_MAIN, "iface:eth0,192.0.2.10", "198.51.100.5", "tcp/443",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: internet (static 0.0.0.0/0)", "to: web.front (static 198.51.100.0/28)",
	    "by: flow 'public-web' (ztseg.yaml:16:7)" } },
	{ "internet to web.front ssh", POL_MAIN, "iface:eth0,192.0.2.10", "198.51.100.5", "tcp/22",
	  false, ZT_REASON_DEFAULT, { "deny", "by: default verdict drop (hub.default)" } },
	{ "internet to web's rest", POL_MAIN, "iface:eth0,192.0.2.10", "198.51.100.20", "tcp/443",
	  false, ZT_REASON_DEFAULT, { "to: web (static 198.51.100.0/27)" } },
	{ "web to app", POL_MAIN, "iface:vweb1,198.51.100.5", "iface:vapp1", "tcp/8080",
	  true, ZT_REASON_HUB_FLOW,
	  { "allow", "from: web.front (interface vweb1)", "to: app (interface vapp1)",
	    "by: flow 'web-to-app' (ztseg.yaml:17:7)" } },
	{ "web to app, wrong protocol", POL_MAIN, "iface:vweb1,198.51.100.5", "iface:vapp1", "udp/8080",
	  false, ZT_REASON_DEFAULT, { "deny" } },
	{ "app to db.primary", POL_MAIN, "iface:vapp1,192.0.2.50", "198.51.100.65", "tcp/5432",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: app (interface vapp1)", "to: db.primary (static 198.51.100.64/29)",
	    "by: flow 'app-to-db' (ztseg.yaml:18:7)" } },
	{ "app to db.replica", POL_MAIN, "iface:vapp1,192.0.2.50", "198.51.100.73", "tcp/5432",
	  false, ZT_REASON_DEFAULT, { "to: db.replica (static 198.51.100.72/29)" } },
	{ "zone names", POL_MAIN, "web", "app", "tcp/8080",
	  true, ZT_REASON_HUB_FLOW, { "from: web (named)", "to: app (named)" } },

	/* ICMP families */
	{ "ping out over IPv4", POL_MAIN, "iface:vweb1,198.51.100.5", "192.0.2.10", "icmp/echo-request",
	  true, ZT_REASON_HUB_FLOW,
	  { "to: internet (static 0.0.0.0/0)", "by: flow 'ping' (ztseg.yaml:24:7)" } },
	{ "ping out over IPv6", POL_MAIN, "iface:vweb1,2001:db8:1::5", "2001:db8:ffff::1", "icmpv6/echo-request",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: web.front (interface vweb1)", "to: internet (static ::/0)" } },
	{ "echo reply is not a request", POL_MAIN, "iface:vweb1,198.51.100.5", "192.0.2.10", "icmp/echo-reply",
	  false, ZT_REASON_DEFAULT, { "deny" } },
	{ "icmpv6 by name infers IPv6", POL_MAIN, "web", "internet", "icmpv6/echo-request",
	  true, ZT_REASON_HUB_FLOW, { "by: flow 'ping' (ztseg.yaml:24:7)" } },

	/* Longest prefix: the unbound corp /24 contains segment prefixes */
	{ "corp by static /24", POL_MAIN, "iface:eth1,198.51.100.200", "iface:vweb1,198.51.100.20", "tcp/8443",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: corp (static 198.51.100.0/24)", "to: web (interface vweb1)",
	    "by: flow 'corp-web' (ztseg.yaml:25:7)" } },
	{ "a db address is db, not corp", POL_MAIN, "198.51.100.70", "iface:vweb1,198.51.100.20", "tcp/8443",
	  false, ZT_REASON_DEFAULT, { "from: db.primary (static 198.51.100.64/29)" } },
	{ "db's rest by address", POL_MAIN, "198.51.100.90", "198.51.100.20", "tcp/8443",
	  false, ZT_REASON_DEFAULT, { "from: db (static 198.51.100.64/27)", "to: web (static 198.51.100.0/27)" } },

	/* Intra-segment: subnets, rests, rules, isolate */
	{ "primary to replica by rule", POL_MAIN, "iface:vdb1,198.51.100.65", "iface:vdb2,198.51.100.73", "tcp/5432",
	  true, ZT_REASON_SEGMENT_RULE,
	  { "from: db.primary (interface vdb1)", "to: db.replica (interface vdb2)",
	    "by: segment 'db' rule 'repl' (segments.d/db.yaml:9:9)" } },
	{ "replica to primary has no rule", POL_MAIN, "iface:vdb2,198.51.100.73", "iface:vdb1,198.51.100.65", "tcp/5432",
	  false, ZT_REASON_DEFAULT, { "by: default verdict drop (hub.default)" } },
	{ "same subnet passes", POL_MAIN, "iface:vdb1,198.51.100.65", "iface:vdb3,198.51.100.66", "tcp/9999",
	  true, ZT_REASON_SAME_ZONE, { "by: same zone db.primary (segment 'db' does not isolate)" } },
	{ "rest to subnet by rule", POL_MAIN, "iface:vdb4,198.51.100.81", "iface:vdb1,198.51.100.65", "tcp/22",
	  true, ZT_REASON_SEGMENT_RULE,
	  { "from: db (interface vdb4)", "by: segment 'db' rule 'admin' (segments.d/db.yaml:10:9)" } },
	{ "rest to rest passes", POL_MAIN, "iface:vdb4,198.51.100.81", "iface:vdb5,198.51.100.82", "tcp/1",
	  true, ZT_REASON_SAME_ZONE, { "by: same zone db (segment 'db' does not isolate)" } },
	{ "subnet to rest needs a rule", POL_MAIN, "iface:vdb1,198.51.100.65", "iface:vdb4,198.51.100.81", "tcp/22",
	  false, ZT_REASON_DEFAULT, { "to: db (interface vdb4)" } },
	{ "isolated segment", POL_MAIN, "iface:vcache1,198.51.100.161", "iface:vcache2,198.51.100.162", "tcp/6379",
	  false, ZT_REASON_ISOLATED,
	  { "by: default verdict drop (hub.default; segment 'cache' has isolate: true)" } },
	{ "isolated segment, allowed by its rule", POL_MAIN, "iface:vcache1,198.51.100.161",
	  "iface:vcache2,198.51.100.162", "tcp/16379", true, ZT_REASON_SEGMENT_RULE,
	  { "by: segment 'cache' rule 'cluster-bus' (ztseg.yaml:37:9)" } },
	{ "a hub flow applies inside a segment", POL_MAIN, "iface:vweb3,198.51.100.20", "iface:vweb1,198.51.100.5",
	  "tcp/9443", true, ZT_REASON_HUB_FLOW,
	  { "from: web (interface vweb3)", "by: flow 'web-admin' (ztseg.yaml:28:7)" } },
	{ "a hub flow before the same-zone pass", POL_MAIN, "web.front", "web.front", "tcp/9443",
	  true, ZT_REASON_HUB_FLOW, { "by: flow 'web-admin' (ztseg.yaml:28:7)" } },
	{ "rest to subnet without a rule", POL_MAIN, "web", "web.front", "tcp/8444",
	  false, ZT_REASON_DEFAULT, { "from: web (named)", "to: web.front (named)" } },

	/* world */
	{ "world via a non-member interface", POL_MAIN, "iface:eth1,192.0.2.77", "iface:vweb1,198.51.100.5", "tcp/8000",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: world (no zone claims it)", "by: flow 'lab' (ztseg.yaml:26:7)" } },
	{ "world is not internet", POL_MAIN, "iface:eth1,192.0.2.77", "iface:vweb1,198.51.100.5", "tcp/443",
	  false, ZT_REASON_DEFAULT, { "deny" } },

	/* host */
	{ "workload to host dns", POL_MAIN, "iface:vweb1,198.51.100.5", "host", "udp/53",
	  true, ZT_REASON_HUB_FLOW, { "to: host (named)", "by: flow 'dns' (ztseg.yaml:21:7)" } },
	{ "workload to host ssh", POL_MAIN, "iface:vweb1,198.51.100.5", "host", "tcp/22",
	  false, ZT_REASON_DEFAULT, { "deny" } },
	{ "host to internet", POL_MAIN, "host", "192.0.2.10", "udp/123",
	  true, ZT_REASON_HUB_FLOW, { "from: host (named)", "by: flow 'host-out' (ztseg.yaml:22:7)" } },
	{ "host to web is not allowed", POL_MAIN, "host", "iface:vweb1,198.51.100.5", "tcp/80",
	  false, ZT_REASON_DEFAULT, { "deny" } },
	{ "onprem to host ssh", POL_MAIN, "iface:wg-onprem,203.0.113.5", "host", "tcp/22",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: onprem (static 203.0.113.0/24)", "by: flow 'ssh' (ztseg.yaml:23:7)" } },
	{ "host not protected", POL_ALL, "iface:vweb1,198.51.100.5", "host", "tcp/22",
	  true, ZT_REASON_HOST_NOT_PROTECTED, { "by: host not protected (protect-host: false)" } },
	{ "host outbound not protected", POL_ALL, "host", "iface:eth0,192.0.2.10", "tcp/25",
	  true, ZT_REASON_HOST_NOT_PROTECTED, { "allow" } },

	/* scope */
	{ "non-members out of scope", POL_MAIN, "iface:docker0,172.17.0.2", "iface:eth0,192.0.2.10", "tcp/80",
	  true, ZT_REASON_OUT_OF_SCOPE,
	  { "from: world (no zone claims it)", "to: internet (static 0.0.0.0/0)",
	    "by: out of scope (scope: members)" } },
	{ "non-members with scope all", POL_ALL, "iface:docker0,172.17.0.2", "iface:eth0,192.0.2.10", "tcp/80",
	  false, ZT_REASON_DEFAULT, { "by: default verdict reject (hub.default)" } },
	{ "default reject between segments", POL_ALL, "iface:vweb1,198.51.100.5", "iface:vdb1,198.51.100.65", "tcp/5432",
	  false, ZT_REASON_DEFAULT, { "deny", "by: default verdict reject (hub.default)" } },

	/* anti-spoofing */
	{ "workload with another segment's address", POL_MAIN, "iface:vweb1,198.51.100.70", "iface:vapp1", "tcp/8080",
	  false, ZT_REASON_SPOOFED,
	  { "by: spoofed: source 198.51.100.70 belongs to segment 'db' but arrived on vweb1" } },
	{ "uplink packet with a segment address", POL_MAIN, "iface:eth0,198.51.100.5", "host", "udp/53",
	  false, ZT_REASON_SPOOFED,
	  { "by: spoofed: source 198.51.100.5 belongs to segment 'web' but arrived on eth0" } },
	{ "workload with a boundary's address", POL_MAIN, "iface:vapp1,203.0.113.5", "host", "udp/53",
	  false, ZT_REASON_SPOOFED,
	  { "by: spoofed: source 203.0.113.5 belongs to boundary 'onprem' but arrived on vapp1" } },
	{ "bound boundary interface with a foreign address", POL_MAIN, "iface:wg-onprem,192.0.2.9", "host", "tcp/22",
	  false, ZT_REASON_SPOOFED,
	  { "by: spoofed: source 192.0.2.9 is not an address of boundary 'onprem' but arrived on its interface wg-onprem" } },
	{ "member interface with a third segment's address", POL_MAIN, "iface:vapp1,198.51.100.170",
	  "host", "udp/53", false, ZT_REASON_SPOOFED,
	  { "by: spoofed: source 198.51.100.170 belongs to segment 'cache' but arrived on vapp1" } },
	{ "member interface with corp's address", POL_MAIN, "iface:vapp1,198.51.100.200",
	  "host", "udp/53", true, ZT_REASON_HUB_FLOW, { "from: app (interface vapp1)" } },
	{ "spoofing is checked before scope", POL_MAIN, "iface:docker0,198.51.100.5", "iface:eth0,192.0.2.10", "tcp/80",
	  false, ZT_REASON_SPOOFED, { "by: spoofed: source 198.51.100.5 belongs to segment 'web' but arrived on docker0" } },
	{ "router advertisement from a workload", POL_MAIN, "iface:vweb1,fe80::1", "ff02::1", "icmpv6/134",
	  false, ZT_REASON_SPOOFED,
	  { "by: spoofed: icmpv6 router advertisement from vweb1, a member interface of segment 'web'" } },
	{ "ICMP redirect from a workload", POL_MAIN, "iface:vweb1,198.51.100.5", "host", "icmp/5",
	  false, ZT_REASON_SPOOFED, { "deny" } },

	/* link-local, loopback, neighbour discovery */
	{ "link-local source by interface", POL_MAIN, "iface:vweb1,fe80::1", "host", "udp/53",
	  true, ZT_REASON_HUB_FLOW,
	  { "from: web (link-local or unspecified source, by interface vweb1)", "by: flow 'dns' (ztseg.yaml:21:7)" } },
	{ "link-local source on a non-member", POL_MAIN, "iface:eth1,fe80::1", "host", "udp/53",
	  false, ZT_REASON_DEFAULT, { "from: world (link-local or unspecified source, by interface eth1)" } },
	{ "link-local source on a bound boundary", POL_MAIN, "iface:wg-onprem,fe80::9", "host", "tcp/22",
	  true, ZT_REASON_HUB_FLOW, { "from: onprem (link-local or unspecified source, by interface wg-onprem)" } },
	{ "unspecified source (DHCP)", POL_MAIN, "iface:vweb1,0.0.0.0", "host", "udp/67",
	  false, ZT_REASON_DEFAULT, { "from: web (link-local or unspecified source, by interface vweb1)" } },
	{ "loopback IPv4", POL_MAIN, "127.0.0.1", "127.0.0.1", "tcp/5432",
	  true, ZT_REASON_LOOPBACK, { "allow", "from: host (loopback)", "by: loopback" } },
	{ "loopback interface", POL_MAIN, "iface:lo,::1", "::1", "udp/53",
	  true, ZT_REASON_LOOPBACK, { "by: loopback" } },
	{ "neighbour solicitation", POL_MAIN, "iface:vweb1,fe80::1", "ff02::1:ff00:1", "icmpv6/135",
	  true, ZT_REASON_NEIGHBOUR, { "by: neighbour discovery / MLD (icmpv6/nd-neighbor-solicit passes to and from the host)" } },
	{ "duplicate address detection", POL_MAIN, "iface:vweb1,::", "ff02::1:ff00:1", "icmpv6/nd-neighbor-solicit",
	  true, ZT_REASON_NEIGHBOUR, { "allow" } },
	{ "router advertisement from the uplink (SLAAC)", POL_MAIN, "iface:eth0,fe80::1", "ff02::1", "icmpv6/134",
	  true, ZT_REASON_NEIGHBOUR, { "allow" } },
	{ "MLDv2 report", POL_MAIN, "iface:vdb1,fe80::2", "ff02::16", "icmpv6/143",
	  true, ZT_REASON_NEIGHBOUR, { "allow" } },

	/* encryption */
	{ "encrypted flow through the encrypted interface", POL_MAIN, "iface:wg-onprem,203.0.113.5", "198.51.100.90",
	  "tcp/5432", true, ZT_REASON_HUB_FLOW,
	  { "by: flow 'onprem-db' (ztseg.yaml:19:7)",
	    "note: offline, link kinds are unknown: interfaces in hub.encrypted-interfaces are taken to be encrypting links (wireguard, xfrm, vti, ip6vti)" } },
	{ "encrypted flow by zone names", POL_MAIN, "onprem", "db", "tcp/5432",
	  true, ZT_REASON_HUB_FLOW, { "by: flow 'onprem-db' (ztseg.yaml:19:7)" } },
	{ "encrypted flow through a plain interface", POL_MAIN, "iface:gre-branch,192.0.2.200", "198.51.100.73",
	  "tcp/5432", false, ZT_REASON_DEFAULT,
	  { "from: branch (static 192.0.2.192/26)",
	    "note: flow 'branch-db' would allow this but is encrypted, and the source leg is not protected: gre-branch is not in hub.encrypted-interfaces" } },
	{ "encrypted flow, the other interface of the boundary", POL_MAIN, "iface:wg-branch,192.0.2.200", "198.51.100.73",
	  "tcp/5432", true, ZT_REASON_HUB_FLOW, { "by: flow 'branch-db' (ztseg.yaml:20:7)" } },
	{ "encrypted flow by name with a plain interface", POL_MAIN, "branch", "db.replica", "tcp/5432",
	  false, ZT_REASON_DEFAULT,
	  { "note: flow 'branch-db' would allow this but is encrypted, and the source leg is not protected: gre-branch of boundary 'branch' is not in hub.encrypted-interfaces" } },
	{ "encrypted flow, destination leg", POL_MAIN, "iface:vdb1,198.51.100.70", "iface:wg-onprem,203.0.113.9",
	  "tcp/873", true, ZT_REASON_HUB_FLOW, { "to: onprem (static 203.0.113.0/24)", "by: flow 'backup' (ztseg.yaml:27:7)" } },
	{ "encrypted flow, destination by address", POL_MAIN, "iface:vdb1,198.51.100.70", "203.0.113.9",
	  "tcp/873", true, ZT_REASON_HUB_FLOW, { "to: onprem (static 203.0.113.0/24)" } },
	{ "encrypted flow, destination through the uplink", POL_MAIN, "iface:vdb1,198.51.100.70",
	  "iface:eth0,203.0.113.9", "tcp/873", false, ZT_REASON_DEFAULT, { "to: internet (static 0.0.0.0/0)" } },
};

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *s = text; (s = strstr(s, line)); s++)
		if ((s == text || s[-1] == '\n') && (s[n] == '\n' || !s[n]))
			return true;
	return false;
}

START_TEST(test_table)
{
	const struct xcase *c = &cases[_i];
	struct zt_explanation e;
	_cleanup_free_ char *text = NULL, *err = NULL;

	text = run(policies[c->pol], c->from, c->to, c->probe, NULL, &e, &err);
	ck_assert_msg(text, "%s: %s", c->name, err);
	if (e.allow != c->allow || e.reason != c->reason)
		fprintf(stderr, "case '%s':\n%s", c->name, text);
	ck_assert_msg(e.allow == c->allow, "%s", c->name);
	ck_assert_int_eq(e.reason, c->reason);
	ck_assert(!strncmp(text, c->allow ? "allow\n" : "deny\n", c->allow ? 6 : 5));
	for (size_t i = 0; i < ELEMENTSOF(c->lines) && c->lines[i]; i++) {
		if (!has_line(text, c->lines[i]))
			fprintf(stderr, "case '%s': no line '%s' in:\n%s", c->name, c->lines[i], text);
		ck_assert(has_line(text, c->lines[i]));
	}
	if (c->reason == ZT_REASON_HUB_FLOW || c->reason == ZT_REASON_SEGMENT_RULE)
		ck_assert_ptr_nonnull(e.flow);
	else
		ck_assert_ptr_null(e.flow);
}
END_TEST

/* The whole output for one case, to pin the format. */
START_TEST(test_format)
{
	struct zt_explanation e;
	_cleanup_free_ char *text = run(policies[POL_MAIN], "iface:vapp1,192.0.2.50", "198.51.100.65",
					"tcp/5432", NULL, &e, NULL);

	ck_assert_str_eq(text, "allow\n"
			 "from: app (interface vapp1)\n"
			 "to: db.primary (static 198.51.100.64/29)\n"
			 "by: flow 'app-to-db' (ztseg.yaml:18:7)\n");
	ck_assert_int_eq(e.family, AF_INET);
	ck_assert_int_eq(e.from.zone.kind, ZT_ZONE_SEGMENT);
	ck_assert_int_eq(e.from.how, ZT_CLASS_INTERFACE);
	ck_assert_int_eq(e.to.zone.kind, ZT_ZONE_SUBNET);
	ck_assert_int_eq(e.to.how, ZT_CLASS_STATIC);
	ck_assert_str_eq(e.flow->name, "app-to-db");
	ck_assert_uint_eq(e.n_notes, 0);
}
END_TEST

/* ---- Errors: endpoints and probes ---- */

static const struct {
	const char *in;
	const char *err;
} bad_endpoints[] = {
	{ "", "expected an address, a zone name" },
	{ "iface:", "iface: expects an interface name" },
	{ "iface:vweb*", "not a pattern" },
	{ "iface:vweb1,", "expected an IPv4 or IPv6 address after iface:NAME," },
	{ "iface:vweb1,300.1.1.1", "expected an IPv4 or IPv6 address" },
	{ "iface:averyveryverylongname", "at most 15 bytes" },
	{ "iface:a/b", "interface names may not contain" },
	{ "198.51.100.0/24", "not a prefix" },
	{ "Web", "expected an address, a zone name" },
	{ "db.primary.x", "expected an address, a zone name" },
	{ "web app", "expected an address, a zone name" },
};

START_TEST(test_bad_endpoint)
{
	struct zt_endpoint ep;
	const char *err = NULL;

	ck_assert_int_eq(zt_endpoint_parse(bad_endpoints[_i].in, &ep, &err), -EINVAL);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad_endpoints[_i].err), "'%s': %s", bad_endpoints[_i].in, err);
}
END_TEST

START_TEST(test_endpoint_parse)
{
	struct zt_endpoint ep;

	ck_assert_int_eq(zt_endpoint_parse("iface:vweb1,2001:db8::1", &ep, NULL), 0);
	ck_assert_str_eq(ep.ifname, "vweb1");
	ck_assert(ep.has_addr);
	ck_assert_int_eq(ep.family, AF_INET6);
	ck_assert_str_eq(ep.zone, "");
	ck_assert_int_eq(zt_endpoint_parse("db.primary", &ep, NULL), 0);
	ck_assert_str_eq(ep.zone, "db.primary");
	ck_assert(!ep.has_addr);
	ck_assert_str_eq(ep.ifname, "");
	ck_assert_int_eq(zt_endpoint_parse("192.0.2.1", &ep, NULL), 0);
	ck_assert_int_eq(ep.family, AF_INET);
	ck_assert_int_eq(zt_endpoint_parse("iface:wg-onprem", &ep, NULL), 0);
	ck_assert(!ep.has_addr);
}
END_TEST

static const struct {
	const char *from, *to, *probe, *err;
} bad_probes[] = {
	{ "web", "ap", "tcp/8080", "unknown zone 'ap' (did you mean 'app'?)" },
	{ "web", "db.primray", "tcp/8080", "unknown zone 'db.primray' (did you mean 'db.primary'?)" },
	{ "payroll", "web", "tcp/8080", "unknown zone 'payroll': expected an address, a segment" },
	{ "web", "app", "tcp", "the probe must be one packet" },
	{ "web", "app", "tcp/80-81", "the probe must be one packet" },
	{ "web", "app", "any", "the probe must be one packet" },
	{ "iface:vweb1,2001:db8:1::5", "2001:db8::1", "icmp", "icmp is IPv4 only" },
	{ "198.51.100.5", "192.0.2.1", "icmpv6/echo-request", "icmpv6 is IPv6 only" },
	{ "198.51.100.5", "2001:db8::1", "tcp/80", "the source is IPv4 and the destination IPv6" },
};

START_TEST(test_bad_probe)
{
	struct zt_explanation e;
	_cleanup_free_ char *text = NULL, *err = NULL;

	text = run(policies[POL_MAIN], bad_probes[_i].from, bad_probes[_i].to, bad_probes[_i].probe,
		   NULL, &e, &err);
	ck_assert_ptr_null(text);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, bad_probes[_i].err), "%s", err);
}
END_TEST

/* ---- Live: routes and link kinds from the environment ---- */

struct fake_net {
	const char *routes[8][2];	/* prefix, output interface */
	const char *kinds[8][2];	/* interface, link kind */
};

static int fake_route(void *userdata, uint8_t family, const uint8_t *addr, char ifname[IFNAMSIZ])
{
	const struct fake_net *n = userdata;
	int best = -1;

	for (size_t i = 0; i < ELEMENTSOF(n->routes) && n->routes[i][0]; i++) {
		struct zt_cidr c;

		ck_assert_int_eq(zt_cidr_parse(n->routes[i][0], &c, NULL), 0);
		if (c.plen > best && zt_cidr_contains_addr(&c, family, addr)) {
			best = c.plen;
			snprintf(ifname, IFNAMSIZ, "%s", n->routes[i][1]);
		}
	}
	return best < 0 ? -ENOENT : 0;
}

static const char *fake_kind(void *userdata, const char *ifname)
{
	const struct fake_net *n = userdata;

	for (size_t i = 0; i < ELEMENTSOF(n->kinds) && n->kinds[i][0]; i++)
		if (streq(n->kinds[i][0], ifname))
			return n->kinds[i][1];
	return NULL;
}

static const struct fake_net live_net = {
	.routes = {
		{ "0.0.0.0/0", "eth0" },
		{ "203.0.113.0/24", "wg-onprem" },
		{ "198.51.100.0/27", "vweb1" },
		{ "192.0.2.50/32", "vapp3" },
		{ "198.51.100.65/32", "vdb1" },
		{ "192.0.2.99/32", "eth1" },
		{ "192.0.2.150/32", "docker0" },
	},
	.kinds = { { "wg-onprem", "wireguard" }, { "eth0", "ethernet" } },
};

static const struct fake_net plain_net = {
	.routes = { { "0.0.0.0/0", "eth0" }, { "203.0.113.0/24", "wg-onprem" } },
	.kinds = { { "wg-onprem", "veth" } },
};

START_TEST(test_live)
{
	struct zt_explain_env env = { .route = fake_route, .link_kind = fake_kind,
				      .userdata = (void *)&live_net };
	struct zt_explanation e;
	char *text;

	/* A workload address known only by its route. */
	text = run(policies[POL_MAIN], "iface:vweb1,198.51.100.5", "192.0.2.50", "tcp/8080", &env, &e, NULL);
	ck_assert(e.allow);
	ck_assert(has_line(text, "to: app (routed via vapp3)"));
	free(text);

	/* ... and as a source it must come from app's interfaces. */
	text = run(policies[POL_MAIN], "iface:vapp3,192.0.2.50", "198.51.100.65", "tcp/5432", &env, &e, NULL);
	ck_assert(e.allow);
	free(text);
	text = run(policies[POL_MAIN], "iface:vweb1,192.0.2.50", "iface:vapp1", "tcp/8080", &env, &e, NULL);
	ck_assert(!e.allow);
	ck_assert(has_line(text, "by: spoofed: source 192.0.2.50 is routed to segment 'app' (via vapp3) but arrived on vweb1"));
	free(text);

	/* From the uplink, an app address is still app's, and spoofed there. */
	text = run(policies[POL_MAIN], "iface:eth0,192.0.2.50", "198.51.100.65", "tcp/5432", &env, &e, NULL);
	ck_assert(!e.allow);
	ck_assert(has_line(text, "from: app (routed via vapp3)"));
	ck_assert(has_line(text, "by: spoofed: source 192.0.2.50 is routed to segment 'app' (via vapp3) but arrived on eth0"));
	free(text);

	/* Not routed through web's interfaces: a foreign address. */
	text = run(policies[POL_MAIN], "iface:vweb1,198.51.100.30", "iface:vapp1", "tcp/8080", &env, &e, NULL);
	ck_assert(e.allow);	/* static address of web */
	free(text);
	text = run(policies[POL_MAIN], "iface:vweb1,192.0.2.7", "iface:vapp1", "tcp/8080", &env, &e, NULL);
	ck_assert(!e.allow);
	ck_assert_int_eq(e.spoof.kind, ZT_SPOOF_MEMBER_INTERFACE);
	free(text);

	/* RPF strict: the route back to 192.0.2.99 leaves through eth1. */
	text = run(policies[POL_MAIN], "iface:eth0,192.0.2.99", "198.51.100.5", "tcp/443", &env, &e, NULL);
	ck_assert(!e.allow);
	ck_assert(has_line(text, "by: spoofed: reverse path: the route back to 192.0.2.99 leaves through eth1, not eth0 (rpf: strict)"));
	free(text);
	text = run(policies[POL_MAIN], "iface:eth0,192.0.2.10", "198.51.100.5", "tcp/443", &env, &e, NULL);
	ck_assert(e.allow);
	free(text);

	/*
	 * scope: members checks the reverse path on zone interfaces and for
	 * packets going to a zone (doc/RULESET.md): a foreign bridge's own
	 * traffic is not ztseg's to judge, a forged source on its way to a
	 * workload is (issue 10, hole 1).
	 */
	text = run(policies[POL_MAIN], "iface:docker0,192.0.2.99", "iface:eth0,192.0.2.1", "tcp/443", &env, &e, NULL);
	ck_assert_msg(e.allow && e.reason == ZT_REASON_OUT_OF_SCOPE, "%s", text);
	free(text);
	text = run(policies[POL_MAIN], "iface:docker0,192.0.2.99", "198.51.100.5", "tcp/8000", &env, &e, NULL);
	ck_assert_msg(!e.allow && e.spoof.kind == ZT_SPOOF_RPF, "%s", text);
	free(text);
	text = run(policies[POL_MAIN], "iface:docker0,192.0.2.150", "198.51.100.5", "tcp/8000", &env, &e, NULL);
	ck_assert_msg(e.allow && e.reason == ZT_REASON_HUB_FLOW, "%s", text);
	free(text);
	/* scope: all checks every interface. */
	text = run(policies[POL_ALL], "iface:docker0,192.0.2.99", "198.51.100.5", "tcp/8000", &env, &e, NULL);
	ck_assert_msg(!e.allow && e.spoof.kind == ZT_SPOOF_RPF, "%s", text);
	free(text);

	/* A real WireGuard link: no assumption to note. */
	text = run(policies[POL_MAIN], "iface:wg-onprem,203.0.113.5", "198.51.100.90", "tcp/5432", &env, &e, NULL);
	ck_assert(e.allow);
	ck_assert_uint_eq(e.n_notes, 0);
	free(text);

	/* The destination leg follows the route. */
	text = run(policies[POL_MAIN], "iface:vdb1,198.51.100.65", "203.0.113.9", "tcp/873", &env, &e, NULL);
	ck_assert(e.allow);
	free(text);
}
END_TEST

START_TEST(test_live_plain_link)
{
	static const char *const kinds[] = { "veth", NULL };
	struct zt_explain_env env = { .route = fake_route, .link_kind = fake_kind,
				      .userdata = (void *)&plain_net };
	struct zt_explanation e;
	char *text;

	/* A plain link with an encrypted interface's name does not count. */
	text = run(policies[POL_MAIN], "iface:wg-onprem,203.0.113.5", "198.51.100.90", "tcp/5432", &env, &e, NULL);
	ck_assert(!e.allow);
	ck_assert(has_line(text, "note: flow 'onprem-db' would allow this but is encrypted, and the source leg is not protected: wg-onprem is a veth link, not an encrypting one"));
	free(text);

	/* ... unless the daemon was told to trust that kind. */
	env.encrypting_kinds = kinds;
	text = run(policies[POL_MAIN], "iface:wg-onprem,203.0.113.5", "198.51.100.90", "tcp/5432", &env, &e, NULL);
	ck_assert(e.allow);
	free(text);
}
END_TEST

/* ---- bridge: segments: link-local sources from a port (review h15 #1) ---- */

START_TEST(test_bridge_linklocal)
{
	static const char hub[] = "version: 1\nhub:\n  default: drop\n  flows:\n"
				  "    - { from: web, to: db, ports: [tcp/5432] }\n"
				  "segments:\n"
				   "  web: { bridge: br0, addresses: [198.51.100.8/29, \"2001:db8:1::8/125\"] }\n"
				   "  db: { bridge: br0, addresses: [198.51.100.24/29, \"2001:db8:1::18/125\"] }\n"
				   "  vm: { interfaces: [\"vnet*\"], addresses: [198.51.100.128/26] }\n";
	struct zt_source src[] = { { ZT_HUB_FILE, hub, sizeof(hub) - 1 } };
	static const struct {
		const char *from, *to, *probe;
		bool allow;
	} c[] = {
		/* a port (any name but the bridge's or a pattern's): TCP, UDP, echo → spoofed */
		{ "iface:veth1a2b3c4,fe80::1", "iface:veth5d6e7f8,fe80::2", "tcp/5432", false },
		{ "iface:veth1a2b3c4,::", "ff02::1", "udp/9999", false },
		{ "iface:veth1a2b3c4,169.254.7.2", "255.255.255.255", "udp/161", false },
		{ "iface:veth1a2b3c4,fe80::1", "iface:veth5d6e7f8,fe80::2", "icmpv6/echo-request", false },
		/* DHCP client, ND, MLD pass as before */
		{ "iface:veth1a2b3c4,0.0.0.0", "255.255.255.255", "udp/67", true },
		{ "iface:veth1a2b3c4,fe80::1", "ff02::1:ff00:2", "icmpv6/135", true },
		{ "iface:veth1a2b3c4,::", "ff02::16", "icmpv6/143", true },
		/* the bridge itself is not a port */
		{ "iface:br0,fe80::1", "iface:veth5d6e7f8,fe80::2", "tcp/5432", true },
	};
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	if (zt_policy_load_sources(src, ELEMENTSOF(src), NULL, &p, &d) != 0 || d.n)
		diags_dump(&d);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(d.n, 0);
	zt_diags_clear(&d);
	for (size_t i = 0; i < ELEMENTSOF(c); i++) {
		struct zt_explanation e;
		char *text = run(p, c[i].from, c[i].to, c[i].probe, NULL, &e, NULL);

		ck_assert_msg(e.allow == c[i].allow, "%s -> %s %s: %s", c[i].from, c[i].to, c[i].probe, text);
		if (!c[i].allow)
			ck_assert_msg(e.reason == ZT_REASON_SPOOFED && e.spoof.kind == ZT_SPOOF_BRIDGE_LINKLOCAL,
				      "%s", text);
		free(text);
	}
	zt_policy_free(p);
}
END_TEST

/* ---- Scale: many probes on a 1,000-segment policy ---- */

START_TEST(test_scale)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	_cleanup_free_ char *yaml = NULL;
	struct zt_diags d = {};
	size_t len = 0, allowed = 0;
	FILE *f = open_memstream(&yaml, &len);
	struct timespec t0, t1;
	double secs;

	ck_assert_ptr_nonnull(f);
	fprintf(f, "version: 1\nhub:\n  flows:\n");
	for (size_t i = 0; i + 1 < 1000; i += 2)
		fprintf(f, "    - { from: s%zu, to: s%zu.a, ports: [tcp/%zu] }\n", i, i + 1, 1000 + i);
	fprintf(f, "segments:\n");
	for (size_t i = 0; i < 1000; i++)
		fprintf(f, "  s%zu: { interfaces: [\"v%zux*\", \"w%zu\"], addresses: [10.%zu.%zu.0/24], "
			"subnets: { a: { addresses: [10.%zu.%zu.0/25] } } }\n",
			i, i, i, i / 256, i % 256, i / 256, i % 256);
	fclose(f);
	{
		struct zt_source src = { ZT_HUB_FILE, yaml, len };

		ck_assert_int_eq(zt_policy_load_sources(&src, 1, NULL, &p, &d), 0);
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t n = 0; n < 5000; n++) {
		size_t i = (n * 7) % 998;
		char from[64], to[64], probe[32];
		struct zt_endpoint ef, et;
		struct zt_port pkt;
		struct zt_explanation e;

		snprintf(from, sizeof(from), "iface:v%zux1,10.%zu.%zu.200", i, i / 256, i % 256);
		snprintf(to, sizeof(to), "10.%zu.%zu.%zu", (i + 1) / 256, (i + 1) % 256, n % 200);
		snprintf(probe, sizeof(probe), "tcp/%zu", 1000 + i);
		ck_assert_int_eq(zt_endpoint_parse(from, &ef, NULL), 0);
		ck_assert_int_eq(zt_endpoint_parse(to, &et, NULL), 0);
		ck_assert_int_eq(zt_port_parse(probe, &pkt, NULL), 0);
		ck_assert_int_eq(zt_explain(p, &ef, &et, &pkt, NULL, &e, &d), 0);
		/* Even sources reach the next segment's subnet a (host part < 128). */
		ck_assert(e.allow == (i % 2 == 0 && n % 200 < 128));
		allowed += e.allow;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "explain: 5000 probes on 1000 segments in %.3fs (%zu allowed)\n", secs, allowed);
	ck_assert(secs < 20.0);
	zt_diags_clear(&d);
}
END_TEST

static Suite *explain_suite(void)
{
	Suite *s = suite_create("explain");
	TCase *tc;

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_table, 0, ELEMENTSOF(cases));
	tcase_add_test(tc, test_format);
	tcase_add_loop_test(tc, test_bad_probe, 0, ELEMENTSOF(bad_probes));
	tcase_add_test(tc, test_live);
	tcase_add_test(tc, test_live_plain_link);
	tcase_add_test(tc, test_bridge_linklocal);
	suite_add_tcase(s, tc);

	tc = tcase_create("endpoints");
	tcase_add_loop_test(tc, test_bad_endpoint, 0, ELEMENTSOF(bad_endpoints));
	tcase_add_test(tc, test_endpoint_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_tags(tc, "slow");	/* left out of the valgrind run: ASan covers them */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_scale);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(explain_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
