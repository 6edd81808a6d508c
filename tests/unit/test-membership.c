/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tests of membership (lib/membership.c, lib/membership-track.c): the full
 * recompute, the diff, and the incremental tracker against the recompute.
 */
#include <time.h>
#include "membership.h"
#include "rtnl-msgs.h"

struct tpol {
	struct zt_policy p;
	struct zt_segment segs[4];
	struct zt_ifpat ifs[4][4];
	struct zt_cidr addrs[4][4];
	struct zt_ifpat enc[2];
	char names[4][16];
};

static void tpol_init(struct tpol *t, const char *const *segs, size_t n, const char *enc)
{
	const char *err;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		char spec[128], *save = NULL, *name, *pats, *cidrs, *tok, *s2 = NULL;
		struct zt_segment *sg = &t->segs[i];

		snprintf(spec, sizeof(spec), "%s", segs[i]);
		name = strtok_r(spec, "|", &save);
		pats = strtok_r(NULL, "|", &save);
		cidrs = strtok_r(NULL, "|", &save);
		snprintf(t->names[i], sizeof(t->names[i]), "%s", name);
		sg->name = t->names[i];
		sg->ifs = t->ifs[i];
		sg->addrs = t->addrs[i];
		for (tok = pats ? strtok_r(pats, ",", &s2) : NULL; tok; tok = strtok_r(NULL, ",", &s2))
			ck_assert_int_eq(zt_ifpat_parse(tok, &t->ifs[i][sg->n_ifs++], &err), 0);
		for (tok = cidrs ? strtok_r(cidrs, ",", &s2) : NULL; tok; tok = strtok_r(NULL, ",", &s2))
			parse_cidr(tok, &t->addrs[i][sg->n_addrs++]);
	}
	t->p.segs = t->segs;
	t->p.n_segs = n;
	if (enc) {
		ck_assert_int_eq(zt_ifpat_parse(enc, &t->enc[0], &err), 0);
		t->p.hub.enc_ifs = t->enc;
		t->p.hub.n_enc_ifs = 1;
	}
}

static const char *const std_segs[] = {
	"web|vweb*|198.51.100.0/26",
	"app|vapp*,app-x",
	"db|vdb1,vdb2|198.51.100.64/26,2001:db8:3::/48",
};

/* The topology of tests/netns/lib.sh in miniature. */
static void std_state(void)
{
	apply(newlink(1, "lo", NULL, IFF_UP));
	apply(newlink(2, "uplink0", "veth", IFF_UP));
	apply(newlink(5, "vweb1", "veth", IFF_UP));
	apply(newlink(6, "vweb2", "veth", IFF_UP));
	apply(newlink(7, "vapp1", "veth", IFF_UP));
	apply(newlink(8, "vdb1", "veth", IFF_UP));
	apply(newlink(9, "vdb3", "veth", IFF_UP));	/* no pattern */
	apply(addr_msg(RTM_NEWADDR, 2, "192.0.2.1/26", true));
	for (int i = 5; i <= 9; i++) {
		apply(addr_msg(RTM_NEWADDR, i, "192.0.2.254/32", true));
		apply(addr_msg(RTM_NEWADDR, i, "2001:db8:ef::1/128", false));
		/* The kernel's route for an IPv6 /128 address, on every veth. */
		apply(route_msg(RTM_NEWROUTE, 0, "2001:db8:ef::1/128", i));
		apply(route_msg(RTM_NEWROUTE, 0, "fe80::/64", i));
	}
	apply(route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 2));
	apply(route_msg(RTM_NEWROUTE, 0, "192.0.2.0/26", 2));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.2/32", 5));
	apply(route_msg(RTM_NEWROUTE, 0, "2001:db8:0:1::2/128", 5));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.20/32", 6));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.130/32", 7));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.66/32", 8));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.90/32", 9));
}

static void assert_ifs(const struct zt_segment_members *sm, const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < sm->n_ifs; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "", sm->ifs[i].name);
	ck_assert_str_eq(got, want);
}

static void assert_routed(const struct zt_segment_members *sm, const char *want)
{
	char got[512] = "", b[ZT_CIDR_STRLEN];

	for (size_t i = 0; i < sm->n_routed; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 zt_cidr_fmt(&sm->routed[i], b, sizeof(b)));
	ck_assert_str_eq(got, want);
}

START_TEST(test_membership_basic)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_segs, 3);
	ck_assert_str_eq(m->segs[0].name, "web");
	assert_ifs(&m->segs[0], "vweb1 vweb2");
	assert_routed(&m->segs[0], "198.51.100.2/32 198.51.100.20/32 2001:db8:0:1::2/128");
	ck_assert_uint_eq(m->segs[0].n_statics, 1);
	assert_ifs(&m->segs[1], "vapp1");
	assert_routed(&m->segs[1], "198.51.100.130/32");
	ck_assert_uint_eq(m->segs[1].n_statics, 0);
	assert_ifs(&m->segs[2], "vdb1");
	assert_routed(&m->segs[2], "198.51.100.66/32");
	ck_assert_uint_eq(m->segs[2].n_statics, 2);
	ck_assert_ptr_eq(zt_membership_segment(m, 1, "app"), &m->segs[1]);
	/* a wrong or out-of-range hint only costs the search */
	ck_assert_ptr_eq(zt_membership_segment(m, 0, "app"), &m->segs[1]);
	ck_assert_ptr_eq(zt_membership_segment(m, SIZE_MAX, "app"), &m->segs[1]);
	ck_assert_ptr_null(zt_membership_segment(m, 1, "nope"));
	/* The gateway /128 on every veth and fe80::/64 are no conflict. */
	ck_assert_uint_eq(m->n_warnings, 0);
	ck_assert_uint_eq(m->n_enc, 0);
}
END_TEST

START_TEST(test_membership_warnings)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct nlmsghdr *nlh;
	struct tpol t;
	char b[256];

	std_state();
	/* vweb2 joins a bridge; vapp1 carries both default routes; a /32 in two segments. */
	apply(newlink(3, "br0", "bridge", IFF_UP));
	apply(link_msg(RTM_NEWLINK, AF_UNSPEC, 6, "vweb2", "veth", 3, IFF_UP));
	apply(route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 7));	/* metric 0 beside uplink's */
	nlh = route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 7);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, 50);
	apply(nlh);
	apply(route_msg(RTM_NEWROUTE, 0, "::/0", 7));
	nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.2/32", 8);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, 10);
	apply(nlh);
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	/* vweb2 is a bridge port that table bridge ztseg enforces: no warning (issue 14) */
	ck_assert_uint_eq(m->n_warnings, 3);
	ck_assert_int_eq(m->warnings[0].kind, ZT_MEMBER_WARN_DEFAULT_ROUTE);
	ck_assert_str_eq(m->warnings[0].seg, "app");
	ck_assert_str_eq(m->warnings[0].ifname, "vapp1");
	ck_assert_str_eq(zt_cidr_fmt(&m->warnings[0].prefix, b, sizeof(b)), "0.0.0.0/0");
	ck_assert_str_eq(zt_cidr_fmt(&m->warnings[1].prefix, b, sizeof(b)), "::/0");
	ck_assert_int_eq(m->warnings[2].kind, ZT_MEMBER_WARN_PREFIX_CONFLICT);
	ck_assert_str_eq(m->warnings[2].seg, "web");
	ck_assert_str_eq(m->warnings[2].other, "db");
	zt_member_warning_fmt(&m->warnings[2], b, sizeof(b));
	ck_assert_str_eq(b, "198.51.100.2/32 is routed into two segments: web and db");
	zt_member_warning_fmt(&m->warnings[0], b, sizeof(b));
	ck_assert_ptr_nonnull(strstr(b, "default route"));
	/* A mask with room for one segment: app's and db's bridge ports are not enforced, and said so. */
	zt_membership_free(m);
	m = NULL;
	t.p.hub.mark_mask = 0x3;
	apply(link_msg(RTM_NEWLINK, AF_UNSPEC, 7, "vapp1", "veth", 3, IFF_UP));
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_warnings, 4);
	ck_assert_int_eq(m->warnings[2].kind, ZT_MEMBER_WARN_BRIDGE_PORT);
	ck_assert_str_eq(m->warnings[2].ifname, "vapp1");
	ck_assert_str_eq(m->warnings[2].other, "br0");
	zt_member_warning_fmt(&m->warnings[2], b, sizeof(b));
	ck_assert_ptr_nonnull(strstr(b, "bridge br0"));
	/* A bridge whose name a segment's pattern matches: never a member, said so. */
	zt_membership_free(m);
	m = NULL;
	t.p.hub.mark_mask = 0;
	apply(newlink(99, "app-x", "bridge", IFF_UP));
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_warnings, 4);
	{
		size_t i = 0;

		while (i < m->n_warnings && m->warnings[i].kind != ZT_MEMBER_WARN_BRIDGE_ITSELF)
			i++;
		ck_assert_uint_lt(i, m->n_warnings);
		ck_assert_str_eq(m->warnings[i].ifname, "app-x");
		zt_member_warning_fmt(&m->warnings[i], b, sizeof(b));
		ck_assert_ptr_nonnull(strstr(b, "never a member"));
	}
	/* Default routes are not routed addresses; the contested /32 stays in both. */
	assert_routed(&m->segs[1], "198.51.100.130/32");
	assert_routed(&m->segs[2], "198.51.100.2/32 198.51.100.66/32");
}
END_TEST

START_TEST(test_membership_enc)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(10, "wg1", "veth", IFF_UP));
	apply(newlink(11, "wg0", "wireguard", IFF_UP));
	apply(newlink(12, "wgx", NULL, IFF_UP));
	apply(newlink(13, "xwg", "wireguard", IFF_UP));
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), "wg*");
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_enc, 3);
	ck_assert_str_eq(m->enc[0].name, "wg0");
	ck_assert_str_eq(m->enc[0].kind, "wireguard");
	ck_assert_int_eq(m->enc[0].ifindex, 11);
	ck_assert_str_eq(m->enc[1].name, "wg1");
	ck_assert_str_eq(m->enc[1].kind, "veth");
	ck_assert_str_eq(m->enc[2].name, "wgx");
	ck_assert_str_eq(m->enc[2].kind, "");
}
END_TEST

/* Should validation ever let patterns overlap: exact, then the longest prefix, then policy order. */
START_TEST(test_membership_pattern_precedence)
{
	static const char *const segs[] = { "a|v*", "b|vw*", "c|vweb1", "d|vw*" };
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(5, "vweb1", NULL, 0));
	apply(newlink(6, "vweb2", NULL, 0));
	apply(newlink(7, "vx", NULL, 0));
	apply(newlink(8, "eth0", NULL, 0));
	tpol_init(&t, segs, ELEMENTSOF(segs), NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	assert_ifs(&m->segs[0], "vx");
	assert_ifs(&m->segs[1], "vweb2");
	assert_ifs(&m->segs[2], "vweb1");
	assert_ifs(&m->segs[3], "");
	m = zt_membership_free(m);
	/* A segment that lost every contest finds its own once its pattern changes. */
	ck_assert_int_eq(zt_ifpat_parse("eth*", &t.ifs[3][0], &(const char *){ NULL }), 0);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	assert_ifs(&m->segs[3], "eth0");
}
END_TEST

/* Two links with one name (a rename seen half-way): one member. */
START_TEST(test_membership_duplicate_names)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(5, "vweb1", NULL, 0));
	apply(newlink(9, "vweb1", NULL, 0));
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->segs[0].n_ifs, 1);
	ck_assert_int_eq(m->segs[0].ifs[0].ifindex, 5);
}
END_TEST

/* ---- diff ---- */

static void diff_text(const struct zt_membership_diff *d, char *out, size_t len)
{
	char b[ZT_CIDR_STRLEN];

	out[0] = '\0';
#define APPEND(...) snprintf(out + strlen(out), len - strlen(out), __VA_ARGS__)
	for (size_t i = 0; i < d->n_if_del; i++)
		APPEND("-if %s %s;", d->if_del[i].seg, d->if_del[i].ifname);
	for (size_t i = 0; i < d->n_if_add; i++)
		APPEND("+if %s %s;", d->if_add[i].seg, d->if_add[i].ifname);
	for (size_t i = 0; i < d->n_pfx_del; i++)
		APPEND("-pfx %s %s;", d->pfx_del[i].seg, zt_cidr_fmt(&d->pfx_del[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_pfx_add; i++)
		APPEND("+pfx %s %s;", d->pfx_add[i].seg, zt_cidr_fmt(&d->pfx_add[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_enc_del; i++)
		APPEND("-enc %s %s;", d->enc_del[i].name, d->enc_del[i].kind);
	for (size_t i = 0; i < d->n_enc_add; i++)
		APPEND("+enc %s %s;", d->enc_add[i].name, d->enc_add[i].kind);
#undef APPEND
}

START_TEST(test_diff_moves)
{
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct tpol t;
	char txt[1024];

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &a), 0);
	/* Nothing moved: nothing to do. */
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert(zt_membership_diff_empty(d));
	d = zt_membership_diff_free(d);
	b = zt_membership_free(b);

	/* web1 moves to app; vweb2 is renamed into db; a new vapp2 appears. */
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.2/32", 7));
	apply(newlink(6, "vdb2", "veth", IFF_UP));
	apply(newlink(20, "vapp2", "veth", IFF_UP));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.131/32", 20));
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert(!zt_membership_diff_empty(d));
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-if web vweb2;"
			      "+if app vapp2;+if db vdb2;"
			      "-pfx web 198.51.100.2/32;-pfx web 198.51.100.20/32;"
			      "+pfx app 198.51.100.2/32;+pfx app 198.51.100.131/32;+pfx db 198.51.100.20/32;");
	d = zt_membership_diff_free(d);
	/* And the way back is the mirror image. */
	ck_assert_int_eq(zt_membership_diff(b, a, &d), 0);
	ck_assert_uint_eq(d->n_if_add, 1);
	ck_assert_uint_eq(d->n_if_del, 2);
	ck_assert_uint_eq(d->n_pfx_add, 2);
	ck_assert_uint_eq(d->n_pfx_del, 3);
}
END_TEST

START_TEST(test_diff_null_and_segments)
{
	static const char *const segs2[] = { "app|vapp*", "zed|vweb*" };
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct tpol t, t2;
	char txt[1024];

	std_state();
	apply(newlink(11, "wg0", "wireguard", IFF_UP));
	tpol_init(&t, std_segs, 2, "wg*");
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &a), 0);
	/* From nothing: everything is added (the first apply). */
	ck_assert_int_eq(zt_membership_diff(NULL, a, &d), 0);
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "+if app vapp1;+if web vweb1;+if web vweb2;"
			      "+pfx app 198.51.100.130/32;+pfx web 198.51.100.2/32;+pfx web 198.51.100.20/32;"
			      "+pfx web 2001:db8:0:1::2/128;+enc wg0 wireguard;");
	d = zt_membership_diff_free(d);
	ck_assert_int_eq(zt_membership_diff(NULL, NULL, &d), 0);
	ck_assert(zt_membership_diff_empty(d));
	d = zt_membership_diff_free(d);
	/* A reload renames segment web to zed: matched by name, so all of it moves. */
	tpol_init(&t2, segs2, 2, NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t2.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-if web vweb1;-if web vweb2;+if zed vweb1;+if zed vweb2;"
			      "-pfx web 198.51.100.2/32;-pfx web 198.51.100.20/32;-pfx web 2001:db8:0:1::2/128;"
			      "+pfx zed 198.51.100.2/32;+pfx zed 198.51.100.20/32;+pfx zed 2001:db8:0:1::2/128;"
			      "-enc wg0 wireguard;");
}
END_TEST

/* 2,000 interfaces, 100,000 routes: state, membership and diff stay fast. */
START_TEST(test_scale)
{
	static const char *const segs[] = { "web|vweb*", "app|vapp*" };
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct timespec t0, t1;
	struct tpol t;
	double ms;
	size_t routed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	apply(newlink(2, "uplink0", "veth", IFF_UP));
	for (int i = 0; i < 2000; i++) {
		char name[IFNAMSIZ];

		snprintf(name, sizeof(name), "%s%d", i % 2 ? "vapp" : "vweb", i);
		ck_assert_int_eq(apply(newlink(100 + i, name, "veth", IFF_UP)), ZT_RTNL_CHANGED_LINKS);
	}
	for (int i = 0; i < 100000; i++) {
		char dst[64];

		/* Half through the uplink, half spread over the workloads. */
		snprintf(dst, sizeof(dst), "2001:db8:%x:%x::/64", i / 65536, i % 65536);
		ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, 0, dst, i % 2 ? 2 : 100 + i % 2000)),
				 ZT_RTNL_CHANGED_ROUTES);
	}
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 100000);
	tpol_init(&t, segs, 2, NULL);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &a), 0);
	for (size_t i = 0; i < a->n_segs; i++)
		routed += a->segs[i].n_routed;
	ck_assert_uint_eq(routed, 50000);
	ck_assert_uint_eq(a->segs[0].n_ifs + a->segs[1].n_ifs, 2000);
	/* One workload moves; the diff is that move alone. */
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "2001:db8::/64", 101));
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert_uint_eq(d->n_pfx_add, 1);
	ck_assert_uint_eq(d->n_pfx_del, 1);
	ck_assert_uint_eq(d->n_if_add + d->n_if_del, 0);
	/* Dropping a link with many routes costs what it drops. */
	apply(link_msg(RTM_DELLINK, AF_UNSPEC, 2, NULL, NULL, 0, 0));
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 50000);
	check_consistent(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* Quadratic work would take minutes; this is generous for sanitizer builds. */
	ck_assert_msg(ms < 20000, "took %.0f ms", ms);
}
END_TEST

/* ---- the tracked membership: updates equal the full computation ---- */

static bool cidr_same(const struct zt_cidr *a, const struct zt_cidr *b)
{
	return zt_cidr_cmp(a, b) == 0;
}

static bool warning_same(const struct zt_member_warning *a, const struct zt_member_warning *b)
{
	return a->kind == b->kind && streq(a->seg, b->seg) && streq(a->ifname, b->ifname) &&
	       streq(a->other, b->other) && cidr_same(&a->prefix, &b->prefix);
}

static bool enc_link_same(const struct zt_enc_link *a, const struct zt_enc_link *b)
{
	return streq(a->name, b->name) && streq(a->kind, b->kind) && a->ifindex == b->ifindex;
}

/* Every field of two memberships, with the first difference in why. */
static bool membership_same(const struct zt_membership *a, const struct zt_membership *b, char *why, size_t len)
{
#define DIFFER(...) (snprintf(why, len, __VA_ARGS__), false)
	if (a->n_segs != b->n_segs)
		return DIFFER("%zu segments, %zu", a->n_segs, b->n_segs);
	for (size_t i = 0; i < a->n_segs; i++) {
		const struct zt_segment_members *x = &a->segs[i], *y = &b->segs[i];

		if (!streq(x->name, y->name) || x->n_ifs != y->n_ifs || x->n_routed != y->n_routed ||
		    x->n_statics != y->n_statics)
			return DIFFER("segment %s/%s: %zu/%zu ifs, %zu/%zu routed", x->name, y->name, x->n_ifs,
				      y->n_ifs, x->n_routed, y->n_routed);
		for (size_t k = 0; k < x->n_ifs; k++)
			if (!streq(x->ifs[k].name, y->ifs[k].name) || x->ifs[k].ifindex != y->ifs[k].ifindex)
				return DIFFER("segment %s: if %zu %s#%d, %s#%d", x->name, k, x->ifs[k].name,
					      x->ifs[k].ifindex, y->ifs[k].name, y->ifs[k].ifindex);
		for (size_t k = 0; k < x->n_routed; k++)
			if (!cidr_same(&x->routed[k], &y->routed[k]))
				return DIFFER("segment %s: routed %zu", x->name, k);
		for (size_t k = 0; k < x->n_statics; k++)
			if (!cidr_same(&x->statics[k], &y->statics[k]))
				return DIFFER("segment %s: static %zu", x->name, k);
	}
	if (a->n_warnings != b->n_warnings)
		return DIFFER("%zu warnings, %zu", a->n_warnings, b->n_warnings);
	for (size_t i = 0; i < a->n_warnings; i++)
		if (!warning_same(&a->warnings[i], &b->warnings[i]))
			return DIFFER("warning %zu", i);
	if (a->n_enc != b->n_enc)
		return DIFFER("%zu encrypted, %zu", a->n_enc, b->n_enc);
	for (size_t i = 0; i < a->n_enc; i++)
		if (!enc_link_same(&a->enc[i], &b->enc[i]))
			return DIFFER("encrypted %zu: %s %s", i, a->enc[i].name, b->enc[i].name);
	return true;
}

static bool diff_same(const struct zt_membership_diff *a, const struct zt_membership_diff *b, char *why, size_t len)
{
	if (a->n_if_add != b->n_if_add || a->n_if_del != b->n_if_del || a->n_pfx_add != b->n_pfx_add ||
	    a->n_pfx_del != b->n_pfx_del || a->n_enc_add != b->n_enc_add || a->n_enc_del != b->n_enc_del ||
	    a->n_warn_new != b->n_warn_new)
		return DIFFER("counts %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu", a->n_if_add,
			      b->n_if_add, a->n_if_del, b->n_if_del, a->n_pfx_add, b->n_pfx_add, a->n_pfx_del,
			      b->n_pfx_del, a->n_enc_add, b->n_enc_add, a->n_enc_del, b->n_enc_del, a->n_warn_new,
			      b->n_warn_new);
	for (size_t i = 0; i < a->n_if_add; i++)
		if (!streq(a->if_add[i].seg, b->if_add[i].seg) || !streq(a->if_add[i].ifname, b->if_add[i].ifname) ||
		    a->if_add[i].ifindex != b->if_add[i].ifindex)
			return DIFFER("if_add %zu", i);
	for (size_t i = 0; i < a->n_if_del; i++)
		if (!streq(a->if_del[i].seg, b->if_del[i].seg) || !streq(a->if_del[i].ifname, b->if_del[i].ifname) ||
		    a->if_del[i].ifindex != b->if_del[i].ifindex)
			return DIFFER("if_del %zu", i);
	for (size_t i = 0; i < a->n_pfx_add; i++)
		if (!streq(a->pfx_add[i].seg, b->pfx_add[i].seg) ||
		    !cidr_same(&a->pfx_add[i].prefix, &b->pfx_add[i].prefix) ||
		    a->pfx_add[i].elsewhere != b->pfx_add[i].elsewhere)
			return DIFFER("pfx_add %zu (elsewhere %d/%d)", i, a->pfx_add[i].elsewhere,
				      b->pfx_add[i].elsewhere);
	for (size_t i = 0; i < a->n_pfx_del; i++)
		if (!streq(a->pfx_del[i].seg, b->pfx_del[i].seg) ||
		    !cidr_same(&a->pfx_del[i].prefix, &b->pfx_del[i].prefix))
			return DIFFER("pfx_del %zu", i);
	for (size_t i = 0; i < a->n_enc_add; i++)
		if (!enc_link_same(&a->enc_add[i], &b->enc_add[i]))
			return DIFFER("enc_add %zu", i);
	for (size_t i = 0; i < a->n_enc_del; i++)
		if (!enc_link_same(&a->enc_del[i], &b->enc_del[i]))
			return DIFFER("enc_del %zu", i);
	for (size_t i = 0; i < a->n_warn_new; i++)
		if (!warning_same(&a->warn_new[i], &b->warn_new[i]))
			return DIFFER("warn_new %zu", i);
	return true;
#undef DIFFER
}

/* One random message of the kinds membership depends on, applied to st. */
static void random_event(unsigned *seed)
{
	static const char *const names[] = {
		"vweb1", "vweb2", "vweb3", "vapp1", "vapp2", "app-x", "vdb1", "vdb2", "vdb3",
		"br0", "wg0", "wg1", "wgx", "eth0", "uplink0",
	};
	static const char *const kinds[] = { "veth", "bridge", "wireguard", NULL };
	static const char *const dsts[] = {
		"198.51.100.2/32", "198.51.100.20/32", "198.51.100.130/32", "198.51.100.0/26",
		"0.0.0.0/0", "::/0", "fe80::/64", "2001:db8:ef::1/128", "2001:db8:0:1::2/128",
		"192.0.2.254/32", "192.0.2.0/24", "2001:db8:3::/48",
	};
	static const char *const addrs[] = {
		"192.0.2.254/32", "2001:db8:ef::1/128", "198.51.100.2/24", "192.0.2.1/24",
	};
	int ifindex = 2 + (int)(rand_r(seed) % 12);
	struct nlmsghdr *nlh;

	switch (rand_r(seed) % 10) {
	case 0:
	case 1: {
		const char *kind = kinds[rand_r(seed) % ELEMENTSOF(kinds)];
		int master = rand_r(seed) % 3 ? 0 : 2 + (int)(rand_r(seed) % 12);

		apply(link_msg(RTM_NEWLINK, AF_UNSPEC, ifindex, names[rand_r(seed) % ELEMENTSOF(names)], kind,
			       master, IFF_UP));
		break;
	}
	case 2:
		apply(link_msg(RTM_DELLINK, AF_UNSPEC, ifindex, NULL, NULL, 0, 0));
		break;
	case 3:
		apply(addr_msg(rand_r(seed) % 2 ? RTM_NEWADDR : RTM_DELADDR, ifindex,
			       addrs[rand_r(seed) % ELEMENTSOF(addrs)], true));
		break;
	case 4:
	case 5:
	case 6:
		nlh = route_msg(RTM_NEWROUTE, rand_r(seed) % 2 ? NLM_F_REPLACE : 0,
				dsts[rand_r(seed) % ELEMENTSOF(dsts)], ifindex);
		if (rand_r(seed) % 3 == 0)
			mnl_attr_put_u32(nlh, RTA_PRIORITY, rand_r(seed) % 3);
		if (rand_r(seed) % 8 == 0)
			((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_type = RTN_BLACKHOLE;
		apply(nlh);
		break;
	case 7: {
		int oifs[2] = { ifindex, 2 + (int)(rand_r(seed) % 12) };

		nlh = route_msg(RTM_NEWROUTE, NLM_F_REPLACE, dsts[rand_r(seed) % ELEMENTSOF(dsts)], 0);
		put_multipath(nlh, oifs, NULL, 2);
		apply(nlh);
		break;
	}
	default:
		nlh = route_msg(RTM_DELROUTE, 0, dsts[rand_r(seed) % ELEMENTSOF(dsts)], ifindex);
		if (rand_r(seed) % 3 == 0)
			mnl_attr_put_u32(nlh, RTA_PRIORITY, rand_r(seed) % 3);
		apply(nlh);
		break;
	}
}

/*
 * Random link, address and route events, a few at a time: after each
 * batch the tracked membership and its diff equal the full computation
 * and zt_membership_diff() against the full computation before.
 */
START_TEST(test_track_random)
{
	static const char *const segs[] = {
		"web|vweb*|198.51.100.0/26", "app|vapp*,app-x", "db|vdb1,vdb2|2001:db8:3::/48", "wgs|wgx,br*",
	};
	_cleanup_membership_ struct zt_membership *m = NULL, *ref = NULL;
	struct zt_rtnl_dirty d = {};
	unsigned seed = 1000u + (unsigned)_i;
	size_t changed = 0, moved = 0, partial = 0;
	struct tpol t;
	char why[256];

	tpol_init(&t, segs, ELEMENTSOF(segs), "wg*");
	std_state();
	ck_assert_int_eq(zt_membership_track(st, &t.p, &m), 0);
	ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
	ck_assert(d.all);
	zt_rtnl_dirty_clear(&d);
	ck_assert_int_eq(zt_membership_compute(st, &t.p, &ref), 0);
	ck_assert_msg(membership_same(m, ref, why, sizeof(why)), "start: %s", why);
	for (unsigned step = 0; step < 600; step++) {
		_cleanup_membership_diff_ struct zt_membership_diff *got = NULL, *want = NULL;
		struct zt_membership *next = NULL;
		unsigned n = 1 + rand_r(&seed) % 4;

		for (unsigned e = 0; e < n; e++)
			random_event(&seed);
		ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
		partial += !d.all && !d.members;
		/* Now and then as after a resync: everything looked at again. */
		if (rand_r(&seed) % 16 == 0)
			d.all = true;
		ck_assert_int_eq(zt_membership_track_update(m, st, &d, &got), 0);
		zt_rtnl_dirty_clear(&d);
		ck_assert_int_eq(zt_membership_compute(st, &t.p, &next), 0);
		ck_assert_int_eq(zt_membership_diff(ref, next, &want), 0);
		zt_membership_free(ref);
		ref = next;
		ck_assert_msg(membership_same(m, ref, why, sizeof(why)), "step %u: %s", step, why);
		ck_assert_msg(diff_same(got, want, why, sizeof(why)), "step %u: %s", step, why);
		changed += !zt_membership_diff_empty(want);
		for (size_t i = 0; i < want->n_pfx_add; i++)
			moved += want->pfx_add[i].elsewhere;
	}
	/* The sequences exercise what they should. */
	ck_assert_uint_gt(changed, 100);
	ck_assert_uint_gt(moved, 5);
	ck_assert_uint_gt(partial, 100);
	/* Nothing changed: nothing dirty, an empty diff. */
	{
		_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;

		ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
		ck_assert(!d.all);
		ck_assert_uint_eq(d.n, 0);
		ck_assert_int_eq(zt_membership_track_update(m, st, &d, &df), 0);
		ck_assert(zt_membership_diff_empty(df));
		ck_assert_uint_eq(df->n_warn_new, 0);
	}
}
END_TEST

/* A /32 moving between two segments: only its two links are looked at again. */
START_TEST(test_track_move)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	struct zt_rtnl_dirty d = {};
	struct tpol t;
	char txt[512];

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_track(st, &t.p, &m), 0);
	zt_rtnl_state_take_dirty(st, &d);
	zt_rtnl_dirty_clear(&d);
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.2/32", 7));
	ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
	ck_assert(!d.all);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_int_eq(d.ifindex[0], 5);
	ck_assert_int_eq(d.ifindex[1], 7);
	ck_assert_int_eq(zt_membership_track_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-pfx web 198.51.100.2/32;+pfx app 198.51.100.2/32;");
	ck_assert(df->pfx_add[0].elsewhere);
	assert_routed(&m->segs[0], "198.51.100.20/32 2001:db8:0:1::2/128");
	assert_routed(&m->segs[1], "198.51.100.2/32 198.51.100.130/32");
	df = zt_membership_diff_free(df);
	/* A second route to it first, then the old one goes: the first is a new one elsewhere. */
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.20/32", 8));
	zt_rtnl_state_take_dirty(st, &d);
	ck_assert_int_eq(zt_membership_track_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "+pfx db 198.51.100.20/32;");
	ck_assert(df->pfx_add[0].elsewhere);
	ck_assert_uint_eq(df->n_warn_new, 1);
	ck_assert_int_eq(df->warn_new[0].kind, ZT_MEMBER_WARN_PREFIX_CONFLICT);
	ck_assert_uint_eq(m->n_warnings, 1);
	df = zt_membership_diff_free(df);
	apply(route_msg(RTM_DELROUTE, 0, "198.51.100.20/32", 6));
	zt_rtnl_state_take_dirty(st, &d);
	ck_assert_int_eq(zt_membership_track_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-pfx web 198.51.100.20/32;");
	ck_assert_uint_eq(m->n_warnings, 0);
	/* A membership that is not tracked cannot be updated. */
	{
		_cleanup_membership_ struct zt_membership *plain = NULL;
		struct zt_membership_diff *x = NULL;

		ck_assert_int_eq(zt_membership_compute(st, &t.p, &plain), 0);
		ck_assert_int_eq(zt_membership_track_update(plain, st, &d, &x), -EINVAL);
	}
}
END_TEST

static Suite *membership_suite(void)
{
	Suite *s = suite_create("membership");
	TCase *tc;

	tc = tcase_create("membership");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_membership_basic);
	tcase_add_test(tc, test_membership_warnings);
	tcase_add_test(tc, test_membership_enc);
	tcase_add_test(tc, test_membership_pattern_precedence);
	tcase_add_test(tc, test_membership_duplicate_names);
	tcase_add_test(tc, test_diff_moves);
	tcase_add_test(tc, test_diff_null_and_segments);
	tcase_add_test(tc, test_scale);
	tcase_add_test(tc, test_track_move);
	tcase_add_loop_test(tc, test_track_random, 0, 12);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(membership_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
