/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for Docker-style bridges (issue 15): the `bridge:` key loaded,
 * the plan's bridge part (a bridge index per segment, the bridge's key
 * brk), which links are ports of such a bridge (lib/bridge-dport.c: a
 * pattern or a boundary naming the port wins), the rendered table
 * (objects and chains), the element messages (a port that is no
 * longer one is still destroyed; no message without elements), and
 * explain (a workload by its port and address; a pattern's or a
 * boundary's interface never holds such an address).
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "diag-util.h"
#include "emit.h"
#include "explain.h"
#include "plan.h"

#define POL                                                                                   \
	"version: 1\nhub:\n  boundaries:\n"                                                   \
	"    lan: { interfaces: [\"eth0\"], addresses: [203.0.113.0/24] }\n"                   \
	"  flows:\n    - { from: web, to: db, ports: [tcp/5432] }\n"                           \
	"segments:\n"                                                                          \
	"  web: { bridge: docker0, addresses: [198.51.100.0/26, \"2001:db8:1::/64\"] }\n"      \
	"  vm: { interfaces: [\"vnet*\"], addresses: [198.51.100.128/26] }\n"                 \
	"  db: { bridge: docker0, addresses: [198.51.100.64/26] }\n"                          \
	"  other: { bridge: br-1, addresses: [198.51.100.192/26] }\n"

static struct zt_policy *load(const char *hub)
{
	struct zt_source src[] = { { ZT_HUB_FILE, hub, strlen(hub) } };
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	int r = zt_policy_load_sources(src, 1, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	zt_diags_clear(&d);
	return p;
}

static struct zt_plan *compile(const struct zt_policy *p)
{
	struct zt_diags d = {};
	struct zt_plan *pl = NULL;
	int r = zt_compile(p, NULL, &pl, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	zt_diags_clear(&d);
	return pl;
}

static const struct zt_plan_bridge_seg *seg_named(const struct zt_plan *pl, const struct zt_policy *p, const char *n)
{
	for (size_t i = 0; i < p->n_segs; i++) {
		if (strcmp(p->segs[i].name, n) != 0)
			continue;
		for (size_t j = 0; j < pl->bridge.n_segs; j++)
			if (pl->bridge.segs[j].idx == zt_bridge_index(p, i))
				return &pl->bridge.segs[j];
	}
	return NULL;
}

START_TEST(test_load_and_plan)
{
	struct zt_policy *p = load(POL);
	struct zt_plan *pl = compile(p);
	const struct zt_plan_bridge_seg *web = seg_named(pl, p, "web"), *db = seg_named(pl, p, "db"),
					*vm = seg_named(pl, p, "vm"), *other = seg_named(pl, p, "other");

	ck_assert_str_eq(p->segs[0].bridge, "docker0");
	ck_assert_int_eq(p->segs[0].bridge_pos.line, 8);
	ck_assert(zt_seg_bound(&p->segs[0]));
	ck_assert_str_eq(p->segs[1].bridge, "");
	/* every segment has a bridge index, bridge: segments included */
	ck_assert_uint_eq(pl->bridge.n_segs, 4);
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_nonnull(db);
	ck_assert_ptr_nonnull(vm);
	ck_assert_ptr_nonnull(other);
	/* one port set per bridge: named after the first segment on it */
	ck_assert_uint_eq(web->brk, web->rest);
	ck_assert_uint_eq(db->brk, web->rest);
	ck_assert_uint_eq(other->brk, other->rest);
	ck_assert_uint_eq(vm->bridge[0], 0);
	ck_assert(zt_bridge_has_dsegs(&pl->bridge));
	zt_plan_free(pl);
	zt_policy_free(p);
}
END_TEST

START_TEST(test_dport_of)
{
	struct zt_policy *p = load(POL);
	struct zt_plan *pl = compile(p);
	const struct zt_plan_bridge_seg *web = seg_named(pl, p, "web"), *other = seg_named(pl, p, "other");

	ck_assert_ptr_eq(zt_bridge_dport_of(&pl->bridge, "veth3f2a9c1", "docker0"), web);
	ck_assert_ptr_eq(zt_bridge_dport_of(&pl->bridge, "veth3f2a9c1", "br-1"), other);
	/* a pattern names it: that segment's port (issue 14), on any bridge */
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "vnet0", "docker0"));
	/* a boundary names it: an uplink in the bridge claims nothing */
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "eth0", "docker0"));
	/* a bridge no segment names, no bridge, no name */
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "veth3f2a9c1", "virbr0"));
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "veth3f2a9c1", ""));
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "veth3f2a9c1", NULL));
	ck_assert_ptr_null(zt_bridge_dport_of(&pl->bridge, "", "docker0"));
	zt_plan_free(pl);
	zt_policy_free(p);
}
END_TEST

START_TEST(test_render)
{
	struct zt_policy *p = load(POL);
	struct zt_plan *pl = compile(p);
	const struct zt_plan_bridge_seg *web = seg_named(pl, p, "web"), *other = seg_named(pl, p, "other");
	char *text = NULL, want[128];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(zt_bridge_render(f, &pl->bridge), 0);
	fclose(f);
	static const char *const must[] = {
		"set dport {", "set dportd {", "set pin4 {", "set pin6 {", "set claimed4 {", "set has6 {",
		"iifname @dport goto member", "oifname @dportd goto dd", "chain dpin {", "chain dparp {", "chain dpna {",
		"add @claimed4 { arp saddr ip } add @has4 { iifname } add @pin4 { arp saddr ip . iifname } return",
		"ip daddr . oifname @pin4 accept", "goto l2_flood", "goto l2_unbound",
	};
	for (size_t i = 0; i < sizeof(must) / sizeof(*must); i++)
		ck_assert_msg(strstr(text, must[i]), "render lacks '%s'", must[i]);
	snprintf(want, sizeof(want), "set dpb_%04x {", web->brk);
	ck_assert_ptr_nonnull(strstr(text, want));
	snprintf(want, sizeof(want), "set dpb_%04x {", other->brk);
	ck_assert_ptr_nonnull(strstr(text, want));
	/* no bs_/bd_ for a bridge: segment (its ports are found by name in dport) */
	snprintf(want, sizeof(want), "chain bs_%04x {", web->rest);
	ck_assert_ptr_null(strstr(text, want));
	snprintf(want, sizeof(want), "chain bn_%04x {", web->rest);
	ck_assert_ptr_nonnull(strstr(text, want));
	free(text);
	zt_plan_free(pl);
	zt_policy_free(p);
}
END_TEST

START_TEST(test_elements)
{
	struct zt_policy *p = load(POL);
	struct zt_plan *pl = compile(p);
	struct zt_batch *b = NULL;
	const struct zt_bridge_dport v[] = { { "veth3f2a9c1", "docker0" }, { "vnet0", "docker0" } };
	struct zt_bridge_pin pins[2] = { { "veth3f2a9c1", AF_INET, { 198, 51, 100, 5 }, false },
					 { "veth3f2a9c1", AF_INET6, {}, false } };
	size_t len0;

	inet_pton(AF_INET6, "2001:db8:1::5", pins[1].addr);
	ck_assert_int_eq(zt_batch_new(1, &b), 0);
	len0 = b->len;
	/* nothing to write: no message */
	ck_assert_int_eq(zt_bridge_emit_dports(b, &pl->bridge, v + 1, 1, NFT_MSG_NEWSETELEM), 0);
	ck_assert_uint_eq(b->len, len0);
	ck_assert_int_eq(zt_bridge_emit_pins(b, pins, 0, NFT_MSG_NEWSETELEM), 0);
	ck_assert_uint_eq(b->len, len0);
	/* a port: dport, dportd, dpb_<brk> */
	ck_assert_int_eq(zt_bridge_emit_dports(b, &pl->bridge, v, 2, NFT_MSG_NEWSETELEM), 0);
	ck_assert_uint_gt(b->len, len0);
	len0 = b->len;
	/* a name that is no port any more is destroyed all the same (it may be there) */
	ck_assert_int_eq(zt_bridge_emit_dports(b, &pl->bridge, v + 1, 1, ZT_NFT_MSG_DESTROYSETELEM), 0);
	ck_assert_uint_gt(b->len, len0);
	len0 = b->len;
	ck_assert_int_eq(zt_bridge_emit_pins(b, pins, 2, ZT_NFT_MSG_DESTROYSETELEM), 0);
	ck_assert_uint_gt(b->len, len0);
	zt_batch_free(b);
	zt_plan_free(pl);
	zt_policy_free(p);
}
END_TEST

/* explain FROM TO tcp/5432: allowed?, and the spoof kind */
static bool explain(const struct zt_policy *p, const char *from, const char *to, enum zt_spoof *spoof)
{
	struct zt_endpoint fe, te;
	struct zt_port port = { .proto = ZT_PROTO_TCP, .lo = 5432, .hi = 5432 };
	struct zt_explanation e;
	struct zt_diags d = {};
	const char *err = NULL;

	ck_assert_int_eq(zt_endpoint_parse(from, &fe, &err), 0);
	ck_assert_int_eq(zt_endpoint_parse(to, &te, &err), 0);
	ck_assert_int_eq(zt_explain(p, &fe, &te, &port, NULL, &e, &d), 0);
	zt_diags_clear(&d);
	*spoof = e.spoof.kind;
	return e.allow;
}

START_TEST(test_explain)
{
	struct zt_policy *p = load(POL);
	enum zt_spoof sp;

	/* a container's port: any name no pattern names, by its address */
	ck_assert(explain(p, "iface:veth3f2a9c1,198.51.100.5", "iface:veth91b07de,198.51.100.70", &sp));
	ck_assert_int_eq(sp, ZT_SPOOF_NONE);
	ck_assert(!explain(p, "iface:veth91b07de,198.51.100.70", "iface:veth3f2a9c1,198.51.100.5", &sp));
	ck_assert_int_eq(sp, ZT_SPOOF_NONE);
	/* the bridge itself: where its ports' packets meet the host */
	ck_assert(explain(p, "iface:docker0,198.51.100.5", "iface:veth91b07de,198.51.100.70", &sp));
	/* a pattern's interface (vnet0) or a boundary's (eth0) never holds a bridge: segment's address */
	ck_assert(!explain(p, "iface:vnet0,198.51.100.5", "iface:veth91b07de,198.51.100.70", &sp));
	ck_assert_int_eq(sp, ZT_SPOOF_SEGMENT_ADDRESS);
	ck_assert(!explain(p, "iface:eth0,198.51.100.5", "iface:veth91b07de,198.51.100.70", &sp));
	ck_assert_int_eq(sp, ZT_SPOOF_SEGMENT_ADDRESS);
	zt_policy_free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bridge-dport");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_load_and_plan);
	tcase_add_test(tc, test_dport_of);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_elements);
	tcase_add_test(tc, test_explain);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
