/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the cross-file checks (lib/policy-validate.c), through the loader. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <time.h>
#include "policy.h"
#include "diag-util.h"

#define SEG_DB "segments.d/db.yaml"
#define SEG_WEB "segments.d/web.yaml"

/* hub, then up to two segment files (segments.d/db.yaml, segments.d/web.yaml). */
static int load3(const char *hub, const char *db, const char *web, struct zt_policy **p,
		 struct zt_diags *d)
{
	struct zt_source src[3] = { { ZT_HUB_FILE, hub, strlen(hub) } };
	size_t n = 1;

	if (db)
		src[n++] = (struct zt_source){ SEG_DB, db, strlen(db) };
	if (web)
		src[n++] = (struct zt_source){ SEG_WEB, web, strlen(web) };
	return zt_policy_load_sources(src, n, NULL, p, d);
}

/* ---- Errors: one table, each with its position, message and error count ---- */

struct err_case {
	const char *name;
	const char *hub;
	const char *db;		/* segments.d/db.yaml, or NULL */
	const char *web;	/* segments.d/web.yaml, or NULL */
	const char *loc;
	const char *frag;
	size_t n_errors;
};

#define HUB_HEAD "version: 1\nhub:\n  delegate:\n" \
	"    db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n" \
	"    web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
/* HUB_HEAD is 5 lines; a hub that adds lines starts at line 6. */

#define DB_OK "segments:\n  db:\n    interfaces: [\"vdb*\"]\n    addresses: [198.51.100.64/28]\n" \
	"    subnets:\n      primary: { addresses: [198.51.100.64/29] }\n" \
	"      replica: { addresses: [198.51.100.72/29] }\n"

static const struct err_case err_cases[] = {
	{ "segment defined in the hub and a segment file",
	  HUB_HEAD "segments:\n  db:\n    interfaces: [\"vdbx\"]\n",
	  "segments:\n  db:\n    interfaces: [\"vdb1\"]\n", NULL,
	  SEG_DB ":2:3", "segment 'db' is already defined at ztseg.yaml:7:3", 1 },
	{ "segment defined in two segment files",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n",
	  "segments:\n  web:\n    interfaces: [\"vweb1\"]\n  db:\n    interfaces: [\"vdb2\"]\n",
	  SEG_WEB ":4:3", "segment 'db' is already defined at " SEG_DB ":2:3", 1 },
	{ "segment named like a boundary",
	  HUB_HEAD "  boundaries:\n    onprem: { addresses: [203.0.113.0/24] }\n"
	  "segments:\n  onprem:\n    interfaces: [\"von1\"]\n", NULL, NULL,
	  "ztseg.yaml:9:3", "segment 'onprem' has the name of boundary 'onprem' (ztseg.yaml:7:5)", 1 },
	{ "segment file without delegation",
	  HUB_HEAD, NULL, "segments:\n  web:\n    interfaces: [\"vweb1\"]\n  api:\n    interfaces: [\"vapi1\"]\n",
	  SEG_WEB ":4:3", "segment 'api' is not delegated: add hub.delegate.api in ztseg.yaml", 1 },
	{ "interface pattern outside the delegation",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\", \"vd*\"]\n", NULL,
	  SEG_DB ":3:26", "interface pattern 'vd*' is outside the delegation of 'db' (vdb*)", 1 },
	{ "exact interface outside the delegation",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vweb1\"]\n", NULL,
	  SEG_DB ":3:18", "interface pattern 'vweb1' is outside the delegation of 'db' (vdb*)", 1 },
	{ "bridge outside the delegation",
	  HUB_HEAD, "segments:\n  db:\n    bridge: docker0\n    addresses: [198.51.100.64/28]\n", NULL,
	  SEG_DB ":3:13", "bridge 'docker0' is outside the delegation of 'db' (vdb*)", 1 },
	{ "address outside the delegation",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [198.51.100.0/25]\n", NULL,
	  SEG_DB ":4:17", "address 198.51.100.0/25 is outside the delegation of 'db' (198.51.100.64/26)", 1 },
	{ "IPv6 address outside an IPv4-only delegation",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [\"2001:db8::/64\"]\n", NULL,
	  SEG_DB ":4:17", "address 2001:db8::/64 is outside the delegation of 'db'", 1 },
	{ "subnet outside the delegation",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [198.51.100.64/28]\n"
	  "    subnets:\n      far: { addresses: [192.0.2.0/29] }\n", NULL,
	  SEG_DB ":6:26", "subnet 'db.far' address 192.0.2.0/29 is outside the delegation of 'db'", 1 },
	{ "wildcard overlaps an exact name of another segment",
	  "version: 1\nsegments:\n  front:\n    interfaces: [\"fe1\"]\n  back:\n    interfaces: [\"fe*\"]\n",
	  NULL, NULL,
	  "ztseg.yaml:6:18", "interface pattern 'fe*' overlaps 'fe1' of segment 'front' (ztseg.yaml:4:18)", 1 },
	{ "two wildcards overlap",
	  "version: 1\nsegments:\n  a:\n    interfaces: [\"vw*\"]\n  b:\n    interfaces: [\"x1\", \"v*\"]\n",
	  NULL, NULL,
	  "ztseg.yaml:6:24", "interface pattern 'v*' overlaps 'vw*' of segment 'a' (ztseg.yaml:4:18)", 1 },
	{ "the same exact name in two segments",
	  "version: 1\nsegments:\n  a:\n    interfaces: [\"eth5\"]\n  b:\n    interfaces: [\"eth5\"]\n",
	  NULL, NULL,
	  "ztseg.yaml:6:18", "interface pattern 'eth5' overlaps 'eth5' of segment 'a'", 1 },
	{ "a segment pattern overlaps a boundary's interface",
	  "version: 1\nhub:\n  boundaries:\n    onprem: { addresses: [203.0.113.0/24], interfaces: [wg-onprem] }\n"
	  "segments:\n  vpn:\n    interfaces: [\"wg*\"]\n", NULL, NULL,
	  "ztseg.yaml:7:18", "interface pattern 'wg*' overlaps 'wg-onprem' of boundary 'onprem' (ztseg.yaml:4:57)", 1 },
	{ "overlap across files names the earlier file",
	  HUB_HEAD "segments:\n  app:\n    interfaces: [\"vdb9\"]\n",
	  "segments:\n  db:\n    interfaces: [\"vdb*\"]\n", NULL,
	  SEG_DB ":3:18", "interface pattern 'vdb*' overlaps 'vdb9' of segment 'app' (ztseg.yaml:8:18)", 1 },
	{ "a member pattern matching lo",
	  "version: 1\nsegments:\n  a:\n    interfaces: [\"l*\"]\n", NULL, NULL,
	  "ztseg.yaml:4:18", "interface pattern 'l*' of segment 'a' matches the loopback interface lo", 1 },
	{ "lo named exactly",
	  "version: 1\nsegments:\n  a:\n    interfaces: [lo]\n", NULL, NULL,
	  "ztseg.yaml:4:18", "matches the loopback interface lo", 1 },
	{ "subnet equal to its segment's prefix",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [198.51.100.64/28]\n"
	  "    subnets:\n      all: { addresses: [198.51.100.64/28] }\n", NULL,
	  SEG_DB ":6:26", "address 198.51.100.64/28 is also 198.51.100.64/28 of segment 'db' (" SEG_DB ":4:17)", 1 },
	{ "boundary equal to a segment prefix",
	  "version: 1\nhub:\n  boundaries:\n    lab: { addresses: [192.0.2.0/24] }\n"
	  "segments:\n  a:\n    interfaces: [va1]\n    addresses: [192.0.2.0/24]\n", NULL, NULL,
	  "ztseg.yaml:8:17", "address 192.0.2.0/24 is also 192.0.2.0/24 of boundary 'lab' (ztseg.yaml:4:24)", 1 },
	{ "two boundaries with the same prefix",
	  "version: 1\nhub:\n  boundaries:\n    lab: { addresses: [192.0.2.0/24] }\n"
	  "    lab2: { addresses: [\"2001:db8::/32\", 192.0.2.0/24] }\n", NULL, NULL,
	  "ztseg.yaml:5:42", "address 192.0.2.0/24 is also 192.0.2.0/24 of boundary 'lab'", 1 },
	{ "subnet outside the segment's addresses",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [198.51.100.64/28]\n"
	  "    subnets:\n      primary: { addresses: [198.51.100.80/29] }\n", NULL,
	  SEG_DB ":6:30", "subnet 'db.primary' 198.51.100.80/29 is outside segment 'db' addresses (198.51.100.64/28)", 1 },
	{ "subnets without segment addresses",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n"
	  "    subnets:\n      primary: { addresses: [198.51.100.64/29] }\n", NULL,
	  SEG_DB ":2:3", "segment 'db' has subnets but no addresses", 1 },
	{ "subnets overlap each other",
	  HUB_HEAD, "segments:\n  db:\n    interfaces: [\"vdb1\"]\n    addresses: [198.51.100.64/28]\n"
	  "    subnets:\n      primary: { addresses: [198.51.100.64/29] }\n"
	  "      replica: { addresses: [198.51.100.68/30] }\n", NULL,
	  SEG_DB ":7:30", "address 198.51.100.68/30 overlaps 198.51.100.64/29 of subnet 'db.primary' (" SEG_DB ":6:30)", 1 },
	{ "unknown zone with a suggestion",
	  "version: 1\nhub:\n  flows:\n    - { from: web, to: ap, ports: [tcp/8080] }\n"
	  "segments:\n  web: { interfaces: [vweb1] }\n  app: { interfaces: [vapp1] }\n", NULL, NULL,
	  "ztseg.yaml:4:24", "flow 'web->ap': unknown zone 'ap' (did you mean 'app'?)", 1 },
	{ "unknown zone without a suggestion",
	  "version: 1\nhub:\n  flows:\n    - { name: x, from: [web, payments], to: host, ports: [tcp/1] }\n"
	  "segments:\n  web: { interfaces: [vweb1] }\n", NULL, NULL,
	  "ztseg.yaml:4:30", "flow 'x': unknown zone 'payments', expected a segment, segment.subnet, boundary, host or world", 1 },
	{ "unknown subnet with a suggestion",
	  HUB_HEAD "  flows:\n    - { from: world, to: db.primray, ports: [tcp/5432] }\n", DB_OK, NULL,
	  "ztseg.yaml:7:26", "unknown zone 'db.primray' (did you mean 'db.primary'?)", 1 },
	{ "unknown boundary with a suggestion",
	  "version: 1\nhub:\n  boundaries:\n    internet: { addresses: [192.0.2.0/24], interfaces: [up0] }\n"
	  "  flows:\n    - { from: host, to: internt, ports: [udp/53] }\n", NULL, NULL,
	  "ztseg.yaml:6:25", "(did you mean 'internet'?)", 1 },
	{ "rule names an unknown subnet",
	  HUB_HEAD, DB_OK "    rules:\n      - { from: primary, to: replca, ports: [tcp/5432] }\n", NULL,
	  SEG_DB ":9:30", "rule 'primary->replca': unknown zone 'replca' (did you mean 'replica'?)", 1 },
	{ "rule names another segment",
	  HUB_HEAD, DB_OK "    rules:\n      - { from: primary, to: web, ports: [tcp/5432] }\n",
	  "segments:\n  web: { interfaces: [vweb1] }\n",
	  SEG_DB ":9:30", "rule 'primary->web': unknown zone 'web': a rule names a subnet of segment 'db' "
	  "or 'db' itself (its rest); flows with segment 'web' belong in hub.flows", 1 },
	{ "rule names host",
	  HUB_HEAD, DB_OK "    rules:\n      - { from: primary, to: host, ports: [tcp/5432] }\n", NULL,
	  SEG_DB ":9:30", "flows with host belong in hub.flows", 1 },
	{ "rule names nothing known",
	  HUB_HEAD, DB_OK "    rules:\n      - { from: primary, to: backup, ports: [tcp/5432] }\n", NULL,
	  SEG_DB ":9:30", "rule 'primary->backup': unknown zone 'backup', expected a subnet of segment 'db' "
	  "or 'db' itself (its rest)", 1 },
	{ "every unknown zone is reported",
	  "version: 1\nhub:\n  flows:\n    - { from: aaa, to: bbb, ports: [tcp/1] }\n", NULL, NULL,
	  "ztseg.yaml:4:24", "unknown zone 'bbb'", 2 },
	{ "two hub flows with one name",
	  "version: 1\nhub:\n  flows:\n    - { name: dns, from: world, to: host, ports: [udp/53] }\n"
	  "    - { name: dns, from: world, to: host, ports: [tcp/53] }\n", NULL, NULL,
	  "ztseg.yaml:5:7", "flow name 'dns' is already used at ztseg.yaml:4:7", 1 },
	{ "two rules of one segment with one name",
	  HUB_HEAD, DB_OK "    rules:\n      - { name: repl, from: primary, to: replica, ports: [tcp/5432] }\n"
	  "      - { name: repl, from: replica, to: primary, ports: [tcp/5432] }\n", NULL,
	  SEG_DB ":10:9", "rule name 'repl' is already used at " SEG_DB ":9:9", 1 },
};

START_TEST(test_errors)
{
	const struct err_case *c = &err_cases[_i];
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r;

	r = load3(c->hub, c->db, c->web, &p, &d);
	if (r != -EINVAL || !has_diag(&d, c->loc, c->frag) || d.n_errors != c->n_errors) {
		fprintf(stderr, "case '%s': r=%d, %zu errors, want %s: ...%s... (%zu errors)\n",
			c->name, r, d.n_errors, c->loc, c->frag, c->n_errors);
		diags_dump(&d);
	}
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert(has_diag(&d, c->loc, c->frag));
	ck_assert_uint_eq(d.n_errors, c->n_errors);
	zt_diags_clear(&d);
}
END_TEST

/* Static addresses of two segments overlap; the later one is named. */
START_TEST(test_segment_overlap)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nsegments:\n"
		"  a: { interfaces: [va1], addresses: [198.51.100.0/25] }\n"
		"  b: { interfaces: [vb1], addresses: [\"2001:db8::/48\", 198.51.100.64/26] }\n"
		"  c: { interfaces: [vc1], addresses: [\"2001:db8:0:1::/64\"] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), -EINVAL);
	if (d.n_errors != 2)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_errors, 2);
	ck_assert(has_diag(&d, "ztseg.yaml:4:56",
			   "address 198.51.100.64/26 overlaps 198.51.100.0/25 of segment 'a' (ztseg.yaml:3:39)"));
	ck_assert(has_diag(&d, "ztseg.yaml:5:39",
			   "address 2001:db8:0:1::/64 overlaps 2001:db8::/48 of segment 'b' (ztseg.yaml:4:39)"));
	zt_diags_clear(&d);
}
END_TEST

/* ---- Warnings ---- */

START_TEST(test_warn_protect_host)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  protect-host: true\n"
		"  flows:\n    - { from: web, to: host, ports: [udp/53] }\n"
		"segments:\n  web: { interfaces: [vweb1] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(d.n_errors, 0);
	ck_assert_uint_eq(d.n_warnings, 1);
	ck_assert(has_diag(&d, "ztseg.yaml:3:3", "warning: protect-host is on but no flow has from: host; "
			   "the host's own DNS, NTP and updates will be dropped"));
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_no_warn_protect_host)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  protect-host: true\n"
		"  flows:\n    - { from: [web, host], to: world, ports: [udp/53] }\n"
		"    - { from: web, to: [world, host], ports: [tcp/22] }\n"
		"segments:\n  web: { interfaces: [vweb1] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	if (d.n_warnings)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_warnings, 0);
	zt_diags_clear(&d);
}
END_TEST

/* The silent lock-out: protect-host with only from: host flows; nothing may reach the host. */
START_TEST(test_warn_lockout)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  protect-host: true\n"
		"  flows:\n    - { from: host, to: [web, world], ports: [udp/53, tcp/443] }\n"
		"segments:\n  web: { interfaces: [vweb1] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_uint_eq(d.n_errors, 0);
	if (d.n_warnings != 1)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_warnings, 1);
	ck_assert(has_diag(&d, "ztseg.yaml:3:3", "warning: protect-host is on but no flow has to: host; "
			   "nothing may reach this machine, and SSH sessions to it (yours too) are cut"));
	ck_assert(has_diag(&d, "ztseg.yaml:3:3", "ztsegctl reload --confirm SECONDS"));
	zt_diags_clear(&d);
}
END_TEST

/* Without protect-host the host is trusted: no flow to it is needed. */
START_TEST(test_no_warn_lockout_unprotected)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  protect-host: false\n"
		"  flows:\n    - { from: host, to: web, ports: [udp/53] }\n"
		"segments:\n  web: { interfaces: [vweb1] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_uint_eq(d.n_warnings, 0);
	zt_diags_clear(&d);
}
END_TEST

/*
 * rpf: loose or off with a flow from an unbound boundary (not only 0/0):
 * anyone claiming its addresses, on any interface, is that boundary.
 * Table: rpf, boundary definition, warnings expected.
 */
static const struct {
	const char *rpf;
	const char *corp;
	unsigned warnings;
} rpf_cases[] = {
	{ "loose", "{ addresses: [203.0.113.0/25, \"2001:db8:c::/64\"] }", 1 },
	{ "off", "{ addresses: [203.0.113.0/25] }", 1 },
	{ "strict", "{ addresses: [203.0.113.0/25] }", 0 },
	/* Bound: the interface vouches for the address. */
	{ "loose", "{ addresses: [203.0.113.0/25], interfaces: [up0] }", 0 },
	/* Only 0/0: "anyone" already; the every-address warning says the rest. */
	{ "off", "{ addresses: [0.0.0.0/0, \"::/0\"] }", 2 },
	/* 0/0 and a prefix: the prefix can be claimed. */
	{ "loose", "{ addresses: [0.0.0.0/0, 203.0.113.0/25] }", 2 },
};

START_TEST(test_warn_rpf_unbound)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	_cleanup_free_ char *hub = NULL;
	struct zt_diags d = {};

	ck_assert_int_ge(asprintf(&hub, "version: 1\nhub:\n  rpf: %s\n  boundaries:\n"
				  "    corp: %s\n"
				  "  flows:\n"
				  "    - { name: corp-web, from: [web, corp], to: web, ports: [tcp/80] }\n"
				  "segments:\n  web: { interfaces: [vweb1], addresses: [198.51.100.0/26] }\n",
				  rpf_cases[_i].rpf, rpf_cases[_i].corp), 0);
	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_uint_eq(d.n_errors, 0);
	if (d.n_warnings != rpf_cases[_i].warnings)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_warnings, rpf_cases[_i].warnings);
	if (rpf_cases[_i].warnings && !streq(rpf_cases[_i].corp, "{ addresses: [0.0.0.0/0, \"::/0\"] }")) {
		char want[256];

		snprintf(want, sizeof(want), "warning: flow 'corp-web': with rpf: %s, from: corp (a boundary "
			 "without interfaces) means from anyone who claims its addresses (203.0.113.0/25",
			 rpf_cases[_i].rpf);
		ck_assert(has_diag(&d, "ztseg.yaml:7:7", want));
		ck_assert(has_diag(&d, "ztseg.yaml:7:7", "bind 'corp' to its interfaces: [...] or use rpf: strict"));
	}
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_warn_unbound_everything)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  boundaries:\n"
		"    internet: { addresses: [0.0.0.0/0, \"::/0\"] }\n"
		"    onprem: { addresses: [203.0.113.0/24] }\n"
		"    uplink: { addresses: [\"2000::/3\"], interfaces: [eth0] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_uint_eq(d.n_errors, 0);
	if (d.n_warnings != 2)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_warnings, 2);
	ck_assert(has_diag(&d, "ztseg.yaml:4:29", "warning: boundary 'internet' matches every address on every "
			   "interface; bind it to the uplink with interfaces: [...] so spoofed sources cannot claim it"));
	ck_assert(has_diag(&d, "ztseg.yaml:4:40", "boundary 'internet' matches every address"));
	zt_diags_clear(&d);
}
END_TEST

/* A segment's 0/0 is every address: the uplink's sources become spoofed, the world the segment. */
START_TEST(test_warn_segment_everything)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nsegments:\n"
		"  a: { interfaces: [va1], addresses: [0.0.0.0/0] }\n"
		"  b: { interfaces: [vb1], addresses: [\"2001:db8::/32\"] }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	ck_assert_uint_eq(d.n_errors, 0);
	if (d.n_warnings != 1)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_warnings, 1);
	ck_assert(has_diag(&d, "ztseg.yaml:3:39", "warning: segment 'a' claims every address (0.0.0.0/0)"));
	zt_diags_clear(&d);
}
END_TEST

/* ---- A valid multi-file policy ---- */

static const char valid_hub[] =
	"version: 1\n"
	"hub:\n"
	"  default: reject\n"
	"  protect-host: true\n"
	"  encrypted-interfaces: [\"wg*\"]\n"
	"  boundaries:\n"
	"    onprem: { addresses: [203.0.113.0/24], interfaces: [wg-onprem] }\n"
	"    internet: { addresses: [0.0.0.0/0, \"::/0\"], interfaces: [eth0] }\n"
	"  delegate:\n"
	"    db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26, \"2001:db8:64::/48\"] }\n"
	"    web: { interfaces: [\"vweb*\", vfe1], addresses: [198.51.100.0/26] }\n"
	"  flows:\n"
	"    - { name: public-web, from: internet, to: web.front, ports: [tcp/80, tcp/443] }\n"
	"    - { from: web, to: app, ports: [tcp/8080] }\n"
	"    - { from: app, to: db.primary, ports: [tcp/5432] }\n"
	"    - { from: onprem, to: db, ports: [tcp/5432], encrypted: true }\n"
	"    - { from: [web, app, db], to: host, ports: [udp/53, tcp/53] }\n"
	"    - { from: host, to: [internet, world], ports: [udp/53, tcp/443, udp/123] }\n"
	"segments:\n"
	"  app:\n"
	"    interfaces: [\"vapp*\", vfe]\n";

static const char valid_db[] =
	"segments:\n"
	"  db:\n"
	"    interfaces: [\"vdb1*\", \"vdb2\"]\n"
	"    addresses: [198.51.100.64/28, \"2001:db8:64::/64\"]\n"
	"    isolate: true\n"
	"    subnets:\n"
	"      primary: { addresses: [198.51.100.64/29, \"2001:db8:64::/80\"] }\n"
	"      replica: { addresses: [198.51.100.72/29] }\n"
	"    rules:\n"
	"      - { name: repl, from: primary, to: replica, ports: [tcp/5432] }\n"
	"      - { from: db, to: [primary, replica], ports: [tcp/22] }\n";

static const char valid_web[] =
	"segments:\n"
	"  web:\n"
	"    interfaces: [\"vweb*\", vfe1]\n"
	"    addresses: [198.51.100.0/28]\n"
	"    subnets:\n"
	"      front: { addresses: [198.51.100.0/29] }\n"
	"    rules:\n"
	"      - { name: repl, from: front, to: web, ports: [tcp/9000] }\n";

START_TEST(test_valid)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const struct zt_segment *db, *web, *app;
	const struct zt_flow *f;

	ck_assert_int_eq(load3(valid_hub, valid_db, valid_web, &p, &d), 0);
	if (d.n)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_errors, 0);
	ck_assert_uint_eq(d.n_warnings, 0);
	ck_assert_uint_eq(p->n_segs, 3);
	app = &p->segs[0];
	db = &p->segs[1];
	web = &p->segs[2];
	ck_assert_str_eq(db->name, "db");
	ck_assert_int_eq(app->delegation, -1);
	ck_assert_str_eq(p->hub.delegations[db->delegation].name, "db");
	ck_assert_str_eq(p->hub.delegations[web->delegation].name, "web");

	/* Hub references: boundary, subnet, segment, host, world. */
	f = &p->hub.flows[0];
	ck_assert_int_eq(f->from[0].zone.kind, ZT_ZONE_BOUNDARY);
	ck_assert_str_eq(p->hub.boundaries[f->from[0].zone.bnd].name, "internet");
	ck_assert_int_eq(f->to[0].zone.kind, ZT_ZONE_SUBNET);
	ck_assert_int_eq(f->to[0].zone.seg, 2);
	ck_assert_str_eq(web->subnets[f->to[0].zone.sub].name, "front");
	f = &p->hub.flows[3];
	ck_assert_int_eq(f->to[0].zone.kind, ZT_ZONE_SEGMENT);
	ck_assert_int_eq(f->to[0].zone.seg, 1);
	f = &p->hub.flows[4];
	ck_assert_int_eq(f->to[0].zone.kind, ZT_ZONE_HOST);
	f = &p->hub.flows[5];
	ck_assert_int_eq(f->from[0].zone.kind, ZT_ZONE_HOST);
	ck_assert_int_eq(f->to[1].zone.kind, ZT_ZONE_WORLD);

	/* Rule references: subnets, and the segment's own name for its rest. */
	f = &db->rules[0];
	ck_assert_int_eq(f->from[0].zone.kind, ZT_ZONE_SUBNET);
	ck_assert_int_eq(f->from[0].zone.sub, 0);
	ck_assert_int_eq(f->to[0].zone.sub, 1);
	f = &db->rules[1];
	ck_assert_int_eq(f->from[0].zone.kind, ZT_ZONE_SEGMENT);
	ck_assert_int_eq(f->from[0].zone.seg, 1);
	f = &web->rules[0];
	ck_assert_int_eq(f->to[0].zone.kind, ZT_ZONE_SEGMENT);
	ck_assert_int_eq(f->to[0].zone.seg, 2);
	zt_diags_clear(&d);
}
END_TEST

/* Boundaries may contain segment addresses; "fe" and "fe1*" cannot share a name. */
START_TEST(test_valid_containment)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *hub = "version: 1\nhub:\n  boundaries:\n"
		"    corp: { addresses: [198.51.100.0/24], interfaces: [up1] }\n"
		"    site: { addresses: [198.51.100.128/25], interfaces: [up2] }\n"
		"segments:\n"
		"  a: { interfaces: [fe], addresses: [198.51.100.0/28] }\n"
		"  b: { interfaces: [\"fe1*\"], addresses: [198.51.100.16/28] }\n"
		"  c: { interfaces: [\"vc*\"], addresses: [198.51.100.32/28], subnets: { x: { addresses: [198.51.100.32/29] } } }\n";

	ck_assert_int_eq(load3(hub, NULL, NULL, &p, &d), 0);
	if (d.n)
		diags_dump(&d);
	ck_assert_uint_eq(d.n, 0);
	zt_diags_clear(&d);
}
END_TEST

/* ---- Scale ---- */

static char *big_policy(size_t nseg, size_t npat, bool clash)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fprintf(f, "version: 1\nhub:\n  flows:\n");
	for (size_t i = 0; i + 1 < nseg; i += 10)
		fprintf(f, "    - { from: s%zu, to: s%zu.sub, ports: [tcp/%zu] }\n", i, i + 1, 1000 + i);
	fprintf(f, "segments:\n");
	for (size_t i = 0; i < nseg; i++) {
		fprintf(f, "  s%zu:\n    interfaces: [", i);
		for (size_t j = 0; j < npat; j++)
			fprintf(f, "%s\"v%zux%zu%s\"", j ? ", " : "", i, j, j % 2 ? "*" : "");
		/* 10.x.y.0/24 per segment, a /26 subnet inside, and a v6 /64. */
		fprintf(f, "]\n    addresses: [10.%zu.%zu.0/24, \"2001:db8:%zx::/64\"]\n", i / 256, i % 256, i);
		fprintf(f, "    subnets:\n      sub: { addresses: [10.%zu.%zu.0/26] }\n", i / 256, i % 256);
	}
	if (clash)
		fprintf(f, "  late:\n    interfaces: [\"v1x*\"]\n");
	fclose(f);
	return buf;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_scale)
{
	_cleanup_free_ char *yaml = big_policy(1000, 10, false);
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	double t0, t1, t2;
	int r;

	t0 = now();
	r = load3(yaml, NULL, NULL, &p, &d);
	t1 = now();
	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(p->n_segs, 1000);
	/* Validation again on its own, to see its share of the load. */
	ck_assert_int_eq(zt_policy_validate(p, &d), 0);
	t2 = now();
	fprintf(stderr, "scale: load+validate of 1000 segments x 10 patterns %.3fs, validate alone %.3fs\n",
		t1 - t0, t2 - t1);
	/* Generous: the point is "not quadratic" (n^2 would take minutes). */
	ck_assert(t2 - t1 < 1.0);
	zt_diags_clear(&d);
}
END_TEST

/* Overlaps are still found among thousands of patterns. */
START_TEST(test_scale_clash)
{
	_cleanup_free_ char *yaml = big_policy(1000, 10, true);
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};

	ck_assert_int_eq(load3(yaml, NULL, NULL, &p, &d), -EINVAL);
	/*
	 * "v1x*" overlaps s1's v1x0 .. v1x9 (and nothing of s10.., whose names
	 * start "v10x"); one error per token says it.
	 */
	if (d.n_errors != 1)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_str_eq(d.v[0].msg, "interface pattern 'v1x*' overlaps 'v1x0' of segment 's1' (ztseg.yaml:111:18)");
	zt_diags_clear(&d);
}
END_TEST

/* 100,000 prefixes: 10,000 segments of ten host addresses each, one clash at the end. */
START_TEST(test_scale_prefixes)
{
	_cleanup_policy_ struct zt_policy *p = NULL;
	_cleanup_free_ char *yaml = NULL;
	struct zt_diags d = {};
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	double t0, t1;

	ck_assert_ptr_nonnull(f);
	fprintf(f, "version: 1\nsegments:\n");
	for (size_t i = 0; i < 10000; i++) {
		fprintf(f, "  s%zu: { interfaces: [v%zu], addresses: [", i, i);
		for (size_t j = 0; j < 10; j++)
			fprintf(f, "%s\"2001:db8:%zx::%zx\"", j ? ", " : "", i, j + 1);
		fprintf(f, "] }\n");
	}
	fprintf(f, "  late: { interfaces: [vlate], addresses: [\"2001:db8:42::/48\"] }\n");
	fclose(f);

	t0 = now();
	ck_assert_int_eq(load3(yaml, NULL, NULL, &p, &d), -EINVAL);
	t1 = now();
	fprintf(stderr, "scale: load+validate of 100,000 prefixes %.3fs\n", t1 - t0);
	/* s66 (0x42) holds ten addresses inside 2001:db8:42::/48; the later token is named once. */
	if (d.n_errors != 1)
		diags_dump(&d);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_uint_eq(d.v[0].line, 10003);
	ck_assert(strstr(d.v[0].msg, "address 2001:db8:42::/48 overlaps 2001:db8:42::1/128 of segment 's66'"));
	ck_assert(t1 - t0 < 10.0);
	zt_diags_clear(&d);
}
END_TEST

static Suite *validate_suite(void)
{
	Suite *s = suite_create("validate");
	TCase *tc;

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0, ELEMENTSOF(err_cases));
	tcase_add_test(tc, test_segment_overlap);
	suite_add_tcase(s, tc);

	tc = tcase_create("warnings");
	tcase_add_test(tc, test_warn_protect_host);
	tcase_add_test(tc, test_no_warn_protect_host);
	tcase_add_test(tc, test_warn_lockout);
	tcase_add_test(tc, test_no_warn_lockout_unprotected);
	tcase_add_loop_test(tc, test_warn_rpf_unbound, 0, ELEMENTSOF(rpf_cases));
	tcase_add_test(tc, test_warn_unbound_everything);
	tcase_add_test(tc, test_warn_segment_everything);
	suite_add_tcase(s, tc);

	tc = tcase_create("valid");
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_valid_containment);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_tags(tc, "slow");	/* left out of the valgrind run: ASan covers them */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_scale);
	tcase_add_test(tc, test_scale_clash);
	tcase_add_test(tc, test_scale_prefixes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(validate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
