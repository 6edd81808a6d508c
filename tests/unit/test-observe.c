/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode's pure stages: `mode:` loaded and refused with positions
 * (lib/policy-load.c, lib/observe.c), which pairs observe, the compiled
 * sets and chains (lib/compile-observe.c), explain's would-deny, and
 * suggest's grouping, collapsing and output (lib/suggest.c), which must
 * load when appended to the policy.
 */
#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include "conntrack.h"
#include <netinet/in.h>
#include <stdio.h>
#include "explain.h"
#include "plan.h"
#include "policy.h"
#include "suggest.h"
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

/* ---- loader errors ---- */

static const struct {
	const char *name, *hub, *seg, *loc, *frag;
} errs[] = {
	{ "hub.mode misspelt", "version: 1\nhub:\n  mode: observer\n", NULL, "ztseg.yaml:3:9",
	  "mode: invalid value 'observer'; expected one of: enforce, observe" },
	{ "segment mode a list", "version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"], mode: [observe] }\n", NULL,
	  "ztseg.yaml:3:39", "mode: expected one of: enforce, observe, got a list" },
	{ "delegation mode bad", "version: 1\nhub:\n  delegate:\n    web: { interfaces: [\"vweb*\"], mode: audit }\n",
	  NULL, "ztseg.yaml:4:41", "mode: invalid value 'audit'" },
	{ "a spoke may not observe on its own",
	  "version: 1\nhub:\n  delegate:\n    web: { interfaces: [\"vweb*\"] }\n",
	  "segments:\n  web:\n    interfaces: [\"vweb*\"]\n    mode: observe\n", SEG_FILE ":4:11",
	  "segment 'web': mode: observe in a segment file needs the hub's leave: mode: observe in hub.delegate.web" },
	{ "a spoke may not observe when its delegation enforces under hub.mode observe",
	  "version: 1\nhub:\n  mode: observe\n  delegate:\n    web: { interfaces: [\"vweb*\"], mode: enforce }\n",
	  "segments:\n  web:\n    interfaces: [\"vweb*\"]\n    mode: observe\n", SEG_FILE ":4:11", "needs the hub's leave" },
};

START_TEST(test_load_errors)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	int r = load(errs[_i].hub, errs[_i].seg, &p, &d);

	if (r != -EINVAL || !has_diag(&d, errs[_i].loc, errs[_i].frag)) {
		fprintf(stderr, "case '%s': r=%d, want %s: %s; got:\n", errs[_i].name, r, errs[_i].loc, errs[_i].frag);
		diags_dump(&d);
	}
	ck_assert_int_eq(r, -EINVAL);
	ck_assert(has_diag(&d, errs[_i].loc, errs[_i].frag));
	ck_assert_ptr_null(p);
	zt_diags_clear(&d);
}
END_TEST

/* ---- modes and pairs ---- */

static const char hub3[] =
	"version: 1\n"
	"hub:\n"
	"  default: drop\n"
	"  protect-host: true\n"
	"  boundaries:\n"
	"    onprem: { addresses: [203.0.113.0/24] }\n"
	"  delegate:\n"
	"    web: { interfaces: [\"vweb*\"], mode: observe }\n"
	"  flows:\n"
	"    - { from: web, to: app, ports: [tcp/8080] }\n"
	"segments:\n"
	"  app: { interfaces: [\"vapp*\"], mode: observe }\n"
	"  db: { interfaces: [\"vdb*\"], subnets: { p: { addresses: [198.51.100.64/29] } }, addresses: [198.51.100.64/26] }\n";
static const char web3[] = "segments:\n  web:\n    interfaces: [\"vweb*\"]\n    mode: observe\n";

static struct zt_zone zone(const struct zt_policy *p, const char *name)
{
	struct zt_zone z;

	ck_assert_int_eq(zt_policy_find_zone(p, name, &z), 0);
	return z;
}

START_TEST(test_pairs)
{
	static const struct {
		const char *a, *b;
		bool obs;
	} pairs[] = {
		{ "web", "app", true },   { "app", "web", true },    { "web", "web", true },
		{ "web", "db", false },   { "db", "web", false },    { "db.p", "app", false },
		{ "world", "web", true }, { "web", "onprem", true }, { "host", "app", true },
		{ "world", "db", false }, { "host", "world", false }, { "onprem", "host", false },
		{ "db", "db.p", false },
	};
	struct zt_policy *p = NULL;
	struct zt_diags d = {};

	ck_assert_int_eq(load(hub3, web3, &p, &d), 0);
	ck_assert_int_eq(zt_segment_mode(p, 0), ZT_MODE_OBSERVE);	/* app */
	ck_assert_int_eq(zt_segment_mode(p, 1), ZT_MODE_ENFORCE);	/* db */
	ck_assert_int_eq(zt_segment_mode(p, 2), ZT_MODE_OBSERVE);	/* web, delegated */
	ck_assert_uint_eq(zt_mode_pos(p, 0)->line, 12);
	ck_assert_uint_eq(zt_mode_pos(p, 2)->line, 4);
	ck_assert_str_eq(zt_mode_pos(p, 2)->file, SEG_FILE);
	ck_assert_uint_eq(p->hub.dflt_pos.line, 3);
	for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
		struct zt_zone a = zone(p, pairs[i].a), b = zone(p, pairs[i].b);

		ck_assert_msg(zt_policy_observes(p, &a, &b) == pairs[i].obs, "%s -> %s", pairs[i].a, pairs[i].b);
	}
	/* hub.mode observe: pairs with no segment observe too; an enforcing segment still wins. */
	p->hub.mode = ZT_MODE_OBSERVE;
	p->segs[1].mode_set = true;	/* db: enforce, said so (it would follow hub.mode) */
	{
		struct zt_zone h = zone(p, "host"), w = zone(p, "world"), db = zone(p, "db");

		ck_assert(zt_policy_observes(p, &h, &w));
		ck_assert(!zt_policy_observes(p, &w, &db));
	}
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_compile)
{
	struct zt_policy *p = NULL;
	struct zt_plan *plan = NULL, *plan2 = NULL;
	struct zt_diags d = {};
	const struct zt_set *wd, *wobs;

	ck_assert_int_eq(load(hub3, web3, &p, &d), 0);
	ck_assert_int_eq(zt_compile(p, NULL, &plan, &d), 0);
	ck_assert(plan->observe.set[0]);
	wd = zt_plan_find_set(plan, plan->observe.set);
	ck_assert_ptr_nonnull(wd);
	ck_assert(wd->eval && wd->dynamic && wd->size == 65536 && wd->n_elems == 0);
	wobs = zt_plan_find_set(plan, "wobs");
	ck_assert_ptr_nonnull(wobs);
	/* world, host, onprem, app, web (db's rest and subnet enforce). */
	ck_assert_uint_eq(wobs->n_elems, 5);
	ck_assert_ptr_nonnull(zt_plan_find_set(plan, "wobs_n"));
	ck_assert_uint_eq(zt_plan_find_set(plan, "wobs_n")->n_elems, 2);
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "observe"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "judge_b"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "judge_out_b"));
	/* Without jit templates from_<zone> goes to judge_o: three rules (one more than without observe). */
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "judge_o"));
	ck_assert_uint_eq(zt_plan_find_chain(plan, "from_0001")->n_rules, 3);
	/* The set's name follows the modes: db observing too gives another set. */
	p->segs[1].mode_set = true;
	p->segs[1].mode = ZT_MODE_OBSERVE;
	ck_assert_int_eq(zt_compile(p, NULL, &plan2, &d), 0);
	ck_assert_str_ne(plan->observe.set, plan2->observe.set);
	zt_plan_free(plan2);
	zt_policy_free(p);
	/* With a jit template the pair is classified again before observe (a grant lookup may replace it). */
	{
		char *hub = NULL;

		ck_assert_int_gt(asprintf(&hub, "%sjit:\n  - { name: t, from: onprem, to: app, ports: [tcp/22], max: 1h }\n",
					  hub3), 0);
		ck_assert_int_eq(load(hub, web3, &p, &d), 0);
		free(hub);
	}
	ck_assert_int_eq(zt_compile(p, NULL, &plan2, &d), 0);
	ck_assert_ptr_null(zt_plan_find_chain(plan2, "judge_o"));
	ck_assert_uint_eq(zt_plan_find_chain(plan2, "from_0001")->n_rules, 5);
	zt_plan_free(plan2);
	/* Nothing observes: nothing of observe mode in the table. */
	for (size_t i = 0; i < p->n_segs; i++)
		p->segs[i].mode_set = false;
	p->hub.delegations[0].mode_set = false;
	ck_assert_int_eq(zt_compile(p, NULL, &plan2, &d), 0);
	ck_assert_str_eq(plan2->observe.set, "");
	ck_assert_ptr_null(zt_plan_find_set(plan2, "wobs"));
	ck_assert_ptr_null(zt_plan_find_chain(plan2, "observe"));
	ck_assert_ptr_null(zt_plan_find_chain(plan2, "judge_b"));
	zt_plan_free(plan2);
	zt_plan_free(plan);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_explain)
{
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	struct zt_endpoint a = {}, b = {};
	struct zt_port pk = { .proto = ZT_PROTO_TCP, .lo = 22, .hi = 22, .icmp_type = -1 };
	struct zt_explanation e;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	ck_assert_int_eq(load(hub3, web3, &p, &d), 0);
	strcpy(a.zone, "web");
	strcpy(b.zone, "app");
	ck_assert_int_eq(zt_explain(p, &a, &b, &pk, NULL, &e, &d), 0);
	ck_assert(!e.allow && e.would_deny && e.reason == ZT_REASON_DEFAULT);
	f = open_memstream(&text, &len);
	ck_assert_int_eq(zt_explanation_format(p, &e, f), 0);
	fclose(f);
	ck_assert_msg(strncmp(text, "would-deny\n", 11) == 0, "%s", text);
	ck_assert_msg(strstr(text, "mode: observe: would deny, passes (segment 'web' observes segments.d/web.yaml:4:11, "
				   "segment 'app' observes ztseg.yaml:12:39)"), "%s", text);
	free(text);
	/* A flow's port: allowed, not would-deny. */
	pk.lo = pk.hi = 8080;
	ck_assert_int_eq(zt_explain(p, &a, &b, &pk, NULL, &e, &d), 0);
	ck_assert(e.allow && !e.would_deny);
	/* db enforces. */
	strcpy(b.zone, "db.p");
	ck_assert_int_eq(zt_explain(p, &a, &b, &pk, NULL, &e, &d), 0);
	ck_assert(!e.allow && !e.would_deny);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

/* ---- suggest ---- */

static struct zt_suggest_obs obs(const char *from, const char *to, uint8_t proto, uint16_t port, uint64_t n,
				 uint64_t last)
{
	struct zt_suggest_obs o = { .proto = proto, .port = port, .count = n, .first_usec = last, .last_usec = last };

	snprintf(o.from, sizeof(o.from), "%s", from);
	snprintf(o.to, sizeof(o.to), "%s", to);
	return o;
}

static struct zt_suggest_obs wide(const char *from, const char *to, uint16_t port, const char *addr)
{
	struct zt_suggest_obs o = obs(from, to, IPPROTO_TCP, port, 1, 1000000);

	o.wide = true;
	o.family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(o.family, addr, o.addr), 1);
	return o;
}

static char *format(const struct zt_suggest_obs *v, size_t n, const struct zt_suggest_opts *o, int *flows)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	*flows = zt_suggest_format(v, n, o, f);
	fclose(f);
	return text;
}

START_TEST(test_suggest_group)
{
	const struct zt_suggest_obs v[] = {
		obs("web", "app", IPPROTO_TCP, 9001, 2, 3000000),
		obs("web", "app", IPPROTO_TCP, 9000, 1, 2000000),
		obs("web", "app", IPPROTO_TCP, 9003, 1, 2000000),
		obs("web", "app", IPPROTO_TCP, 9002, 1, 2000000),
		obs("web", "app", IPPROTO_UDP, 53, 4, 2000000),
		obs("web", "app", IPPROTO_ICMPV6, 128, 1, 2000000),
		obs("web", "app", IPPROTO_ICMP, 8, 1, 2000000),
		obs("web", "app", IPPROTO_TCP, 22, 1, 2000000),
		obs("db.p", "web", IPPROTO_TCP, 80, 1, 1000000),
		wide("world", "web", 443, "192.0.2.7"),
		wide("world", "web", 443, "2001:db8::7"),
		wide("world", "web", 444, "192.0.2.7"),
	};
	struct zt_suggest_opts o = { .indent = 4 };
	int flows;
	char *t = format(v, ELEMENTSOF(v), &o, &flows);

	ck_assert_int_eq(flows, 2);
	ck_assert_msg(strstr(t, "\n    - { from: web, to: app, ports: [tcp/22, tcp/9000-9003, udp/53, icmp/8, icmpv6/128] }\n"), "%s", t);
	ck_assert_msg(strstr(t, "\n    # web -> app: 12 connections (tcp/22: 1, tcp/9000-9003: 5, udp/53: 4, icmp/8: 1, "
				"icmpv6/128: 1), last seen 1970-01-01T00:00:03Z\n"), "%s", t);
	ck_assert_msg(strstr(t, "\n    - { from: db.p, to: web, ports: [tcp/80] }\n"), "%s", t);
	/* Never a flow from world: the addresses seen, exactly. */
	ck_assert_msg(!strstr(t, "- { from: world"), "%s", t);
	ck_assert_msg(strstr(t, "{ addresses: [\"192.0.2.7/32\", \"2001:db8::7/128\"] }"), "%s", t);
	ck_assert_msg(strstr(t, "ports: [tcp/443-444] }"), "%s", t);
	free(t);
}
END_TEST

START_TEST(test_suggest_filters)
{
	const struct zt_suggest_obs v[] = {
		obs("web", "app", IPPROTO_TCP, 80, 1, 5000000),
		obs("webby", "db", IPPROTO_TCP, 81, 1, 5000000),
		obs("db", "web.front", IPPROTO_TCP, 82, 1, 5000000),
		obs("app", "db", IPPROTO_TCP, 83, 1, 1000000),
	};
	struct zt_suggest_opts o = { .segment = "web" };
	int flows;
	char *t = format(v, ELEMENTSOF(v), &o, &flows);

	/* web and web.front, not webby. */
	ck_assert_int_eq(flows, 2);
	ck_assert(strstr(t, "from: db, to: web.front") && !strstr(t, "webby"));
	free(t);
	o = (struct zt_suggest_opts){ .since_usec = 2000000 };
	t = format(v, ELEMENTSOF(v), &o, &flows);
	ck_assert_int_eq(flows, 3);
	ck_assert(!strstr(t, "from: app"));
	free(t);
	t = format(v, 0, &o, &flows);
	ck_assert_int_eq(flows, 0);
	ck_assert(strstr(t, "# None"));
	free(t);
}
END_TEST

/* The output appended to the hub file: it loads, and the flows allow what was seen. */
START_TEST(test_suggest_appended)
{
	const struct zt_suggest_obs v[] = {
		obs("web", "app", IPPROTO_TCP, 9001, 1, 1),
		obs("web", "app", IPPROTO_TCP, 9002, 1, 1),
		obs("app", "db.p", IPPROTO_ICMP, 8, 1, 1),
		obs("host", "web", IPPROTO_UDP, 161, 1, 1),
		wide("world", "app", 80, "203.0.113.9"),
	};
	struct zt_suggest_opts o = { .indent = 4 };
	struct zt_policy *p = NULL;
	struct zt_diags d = {};
	struct zt_endpoint a = {}, b = {};
	struct zt_port pk = { .proto = ZT_PROTO_TCP, .lo = 9002, .hi = 9002, .icmp_type = -1 };
	struct zt_explanation e;
	int flows;
	char *t = format(v, ELEMENTSOF(v), &o, &flows), *hub = NULL;

	ck_assert_int_eq(flows, 3);
	ck_assert_int_gt(asprintf(&hub, "%s%s", hub3, t), 0);
	/* hub3 ends with segments: the flows go under hub.flows, which the test file moves last. */
	free(hub);
	ck_assert_int_gt(asprintf(&hub, "version: 1\nsegments:\n  app: { interfaces: [\"vapp*\"] }\n"
				  "  db: { interfaces: [\"vdb*\"], subnets: { p: { addresses: [198.51.100.64/29] } }, "
				  "addresses: [198.51.100.64/26] }\n  web: { interfaces: [\"vweb*\"] }\nhub:\n"
				  "  protect-host: true\n  flows:\n    - { from: web, to: app, ports: [tcp/8080] }\n%s", t), 0);
	if (load(hub, NULL, &p, &d) < 0)
		diags_dump(&d);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->hub.n_flows, 4);
	strcpy(a.zone, "web");
	strcpy(b.zone, "app");
	ck_assert_int_eq(zt_explain(p, &a, &b, &pk, NULL, &e, &d), 0);
	ck_assert(e.allow);
	pk.lo = pk.hi = 9003;
	ck_assert_int_eq(zt_explain(p, &a, &b, &pk, NULL, &e, &d), 0);
	ck_assert(!e.allow);
	zt_policy_free(p);
	zt_diags_clear(&d);
	free(hub);
	free(t);
}
END_TEST

START_TEST(test_suggest_json)
{
	struct zt_suggest_obs in[] = { obs("web", "app", IPPROTO_TCP, 1, 3, 4), wide("world", "web", 443, "2001:db8::1") };
	struct zt_suggest_obs out;

	for (size_t i = 0; i < ELEMENTSOF(in); i++) {
		json_t *j = zt_suggest_obs_json(&in[i]);

		ck_assert_ptr_nonnull(j);
		ck_assert_int_eq(zt_suggest_obs_from_json(j, &out), 0);
		ck_assert(zt_suggest_obs_same(&in[i], &out) && out.count == in[i].count);
		json_decref(j);
	}
	/* Hostile answers: names that would break the YAML, protocols and ports out of range. */
	static const char *const bad[] = {
		"{\"from\": \"web: x\", \"to\": \"app\", \"proto\": 6, \"port\": 1, \"wide\": false, \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"web\", \"to\": \"app\\n- x\", \"proto\": 6, \"port\": 1, \"wide\": false, \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"web\", \"to\": \"app\", \"proto\": 47, \"port\": 1, \"wide\": false, \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"web\", \"to\": \"app\", \"proto\": 6, \"port\": 70000, \"wide\": false, \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"world\", \"to\": \"app\", \"proto\": 6, \"port\": 1, \"wide\": true, \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"world\", \"to\": \"app\", \"proto\": 6, \"port\": 1, \"wide\": true, \"source\": \"0.0.0.0/0\", \"count\": 1, \"first\": 0, \"last\": 0}",
		"{\"from\": \"web\", \"to\": \"app\", \"proto\": 6, \"port\": 1, \"wide\": false, \"count\": -1, \"first\": 0, \"last\": 0}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);

		ck_assert_ptr_nonnull(j);
		ck_assert_msg(zt_suggest_obs_from_json(j, &out) == -EBADMSG, "%s", bad[i]);
		json_decref(j);
	}
}
END_TEST

/* ---- conntrack: a would-deny connection as a dump reports it ---- */

static struct nlmsghdr *ct_msg(char *buf, uint8_t proto, uint32_t mark, uint32_t status, bool with_dst)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, MNL_SOCKET_BUFFER_SIZE));
	struct nfgenmsg *g;
	struct nlattr *t, *ip, *pr;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(0xc6336402));
	if (with_dst)
		mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(0xc6336482));
	mnl_attr_nest_end(nlh, ip);
	pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	if (proto == IPPROTO_ICMP)
		mnl_attr_put_u8(nlh, CTA_PROTO_ICMP_TYPE, 8);
	else
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(9100));
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(status));
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(77));
	return nlh;
}

START_TEST(test_ct_seen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct zt_ct_seen s;
	struct nlmsghdr *nlh = ct_msg(buf, IPPROTO_TCP, 0x00040005, IPS_SEEN_REPLY, true);

	ck_assert_int_eq(zt_ct_seen_parse(nlh, nlh->nlmsg_len, &s), 0);
	ck_assert(s.family == AF_INET && s.proto == IPPROTO_TCP && s.dport == 9100 && s.mark == 0x00040005 &&
		  s.id == 77 && s.saddr[3] == 2 && s.daddr[3] == 0x82);
	/* TCP: a reply (a scan's reset) is not enough; the handshake must have finished. */
	ck_assert(!zt_ct_seen_completed(&s));
	s.status |= IPS_ASSURED;
	ck_assert(zt_ct_seen_completed(&s));
	nlh = ct_msg(buf, IPPROTO_ICMP, 0x00040005, IPS_SEEN_REPLY, true);
	ck_assert_int_eq(zt_ct_seen_parse(nlh, nlh->nlmsg_len, &s), 0);
	ck_assert(s.icmp_type == 8 && zt_ct_seen_completed(&s));
	nlh = ct_msg(buf, IPPROTO_UDP, 0x00040005, 0, true);
	ck_assert_int_eq(zt_ct_seen_parse(nlh, nlh->nlmsg_len, &s), 0);
	ck_assert(!zt_ct_seen_completed(&s));
	/* Malformed: no destination, or cut short. */
	nlh = ct_msg(buf, IPPROTO_UDP, 0x00040005, 0, false);
	ck_assert_int_eq(zt_ct_seen_parse(nlh, nlh->nlmsg_len, &s), -EBADMSG);
	nlh = ct_msg(buf, IPPROTO_UDP, 0x00040005, 0, true);
	ck_assert_int_eq(zt_ct_seen_parse(nlh, nlh->nlmsg_len - 8, &s), -EBADMSG);
	/* Which marks are zone pairs: not a flow's (bit 31), not a grant's (bit 15), both halves set. */
	ck_assert(zt_ct_mark_is_pair(0x00040005));
	ck_assert(!zt_ct_mark_is_pair(0x80040005));
	ck_assert(!zt_ct_mark_is_pair(0x00048005));
	ck_assert(!zt_ct_mark_is_pair(0x00000005));
	ck_assert(!zt_ct_mark_is_pair(0x00040000));
	ck_assert(!zt_ct_mark_is_pair(0));
}
END_TEST

static Suite *observe_suite(void)
{
	Suite *s = suite_create("observe");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_load_errors, 0, ELEMENTSOF(errs));
	tcase_add_test(tc, test_pairs);
	tcase_add_test(tc, test_compile);
	tcase_add_test(tc, test_explain);
	tcase_add_test(tc, test_suggest_group);
	tcase_add_test(tc, test_suggest_filters);
	tcase_add_test(tc, test_suggest_appended);
	tcase_add_test(tc, test_suggest_json);
	tcase_add_test(tc, test_ct_seen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(observe_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
