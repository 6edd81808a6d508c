/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * compile, threats.flood: every dynamic-set update or add that could fail
 * is followed by a rule that drops what the set does not hold (fail
 * closed); spoofable sources get the chains that never ban; except
 * prefixes nest into one interval; a limit's id (its sets' names) stays
 * while its meaning does and changes with it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include "plan.h"
#include "diag-util.h"

static struct zt_plan *compile(const char *hub)
{
	struct zt_source src[] = { { ZT_HUB_FILE, hub, strlen(hub) } };
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	struct zt_plan *pl = NULL;
	int r = zt_policy_load_sources(src, 1, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	r = zt_compile(p, NULL, &pl, &d);
	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
	return pl;
}

#define HUB                                                                                   \
	"version: 1\nhub:\n  boundaries:\n"                                                   \
	"    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"                 \
	"    partner: { addresses: [198.51.100.192/26] }\n"                                    \
	"  flows:\n    - { from: [onprem, partner, world], to: web, ports: [tcp/80] }\n"      \
	"segments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"     \
	"  db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n"

static const char pol[] = HUB
	"threats:\n  except: [192.0.2.0/24, 192.0.2.128/25, \"2001:db8:9::/48\"]\n  flood:\n"
	"    - { to: web, per-source: 10/second, burst: 20, connections: 5, ban: 1m }\n"
	"    - { to: db, per-source: 1/minute, ban: 1h, ban-scope: all }\n";

static bool stmt_has(const struct zt_rule *r, enum zt_stmt_kind k, const struct zt_stmt **ret)
{
	for (size_t i = 0; i < r->n_stmt; i++)
		if (r->stmt[i].kind == k) {
			if (ret)
				*ret = &r->stmt[i];
			return true;
		}
	return false;
}

static bool drops_counting(const struct zt_rule *r, const char *counter)
{
	const struct zt_stmt *c = NULL, *v = NULL;

	return stmt_has(r, ZT_S_COUNTER_NAMED, &c) && streq(c->counter, counter) &&
	       stmt_has(r, ZT_S_VERDICT, &v) && v->verdict.code == ZT_V_DROP;
}

START_TEST(test_fail_closed)
{
	struct zt_plan *pl = compile(pol);
	size_t updates = 0, bans = 0;

	for (size_t c = 0; c < pl->n_chains; c++) {
		const struct zt_chain *ch = &pl->chains[c];
		bool ban_chain = false;

		for (size_t i = 0; i < ch->n_rules; i++) {
			const struct zt_rule *r = &ch->rules[i], *next = i + 1 < ch->n_rules ? &ch->rules[i + 1] : NULL;
			const struct zt_stmt *s = NULL;

			if (stmt_has(r, ZT_S_METER, &s) || stmt_has(r, ZT_S_CONNLIMIT, &s)) {
				/* the next rule: KEY & M != @set counter name "flood_full" drop */
				updates++;
				ck_assert_msg(next, "%s: an update ends the chain", ch->name);
				ck_assert_uint_eq(next->n_match, 1);
				ck_assert_int_eq(next->match[0].op, ZT_M_NOT_IN_SET);
				ck_assert_str_eq(next->match[0].set, s->set);
				ck_assert_int_eq(next->match[0].key[0], s->key[0]);
				ck_assert_uint_eq(next->match[0].plen, s->plen);
				ck_assert(drops_counting(next, "flood_full"));
			}
			if (stmt_has(r, ZT_S_BAN_ADD, &s)) {
				bans++;
				ban_chain = true;
				ck_assert(drops_counting(r, "flood_bans"));
			}
		}
		/* A chain that bans ends in an unconditional, counted drop: a failed add falls into it. */
		if (ban_chain) {
			const struct zt_rule *last = &ch->rules[ch->n_rules - 1];

			ck_assert_uint_eq(last->n_match, 0);
			ck_assert(drops_counting(last, "flood_full"));
		}
	}
	/* web: rate and connections, v4 and v6, in fl_ and fls_; db: rate in fl_ and fls_. */
	ck_assert_uint_eq(updates, 12);
	/* web: fo_ and foc_, db: fo_, v4 and v6 each. */
	ck_assert_uint_eq(bans, 6);
	zt_plan_free(pl);
}
END_TEST

/* The flood map's chain for a zone pair. */
static const char *pair_chain(const struct zt_plan *pl, uint32_t src, uint32_t dst)
{
	const struct zt_set *s = zt_plan_find_set(pl, "flood");

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < s->n_elems; i++)
		if (zt_set_elem(s, i)->key[0].u32 == (src << 16 | dst))
			return zt_set_elem(s, i)->data.verdict.chain;
	return NULL;
}

START_TEST(test_spoofable)
{
	struct zt_plan *pl = compile(pol);
	/* ids: world 1, host 2, onprem 3, partner 4, web 5, db 6 */
	const char *w = pair_chain(pl, 1, 5), *on = pair_chain(pl, 3, 5), *pa = pair_chain(pl, 4, 5),
		   *db = pair_chain(pl, 6, 5);

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(!strncmp(w, "fls_", 4), "world: %s", w);
	ck_assert_msg(!strncmp(pa, "fls_", 4), "unbound boundary: %s", pa);
	ck_assert_msg(!strncmp(on, "fl_", 3), "bound boundary: %s", on);
	ck_assert_msg(!strncmp(db, "fl_", 3), "segment: %s", db);
	ck_assert_ptr_null(pair_chain(pl, 2, 5));	/* the host's own connections: judge_out */
	{
		/* fl_: link-local and unspecified sources go to fls_ before any ban. */
		const struct zt_chain *ch = zt_plan_find_chain(pl, on);
		size_t gotos = 0;

		ck_assert_ptr_nonnull(ch);
		for (size_t i = 0; i < ch->n_rules; i++) {
			const struct zt_rule *r = &ch->rules[i];

			if (r->n_match == 1 && r->match[0].op == ZT_M_EQ && r->n_stmt == 1 &&
			    r->stmt[0].verdict.code == ZT_V_GOTO && !strcmp(r->stmt[0].verdict.chain, w))
				gotos++;
			if (r->n_match && r->match[0].op == ZT_M_IN_SET && !strncmp(r->match[0].set, "ban", 3))
				ck_assert_uint_eq(gotos, 4);
		}
		ck_assert_uint_eq(gotos, 4);
	}
	ck_assert_ptr_null(pair_chain(pl, 5, 3));	/* onprem is not limited */
	zt_plan_free(pl);

	/* ban-spoofable: true: one chain for all */
	pl = compile(HUB "threats:\n  flood:\n    - { to: web, per-source: 1/second, ban: 1m, ban-spoofable: true }\n");
	ck_assert(!strncmp(pair_chain(pl, 1, 5), "fl_", 3));
	ck_assert_ptr_null(zt_plan_find_chain(pl, "flood_all"));
	zt_plan_free(pl);
}
END_TEST

START_TEST(test_except_nested)
{
	struct zt_plan *pl = compile(pol);
	const struct zt_set *x4 = zt_plan_find_set(pl, "fx4"), *x6 = zt_plan_find_set(pl, "fx6");

	ck_assert_ptr_nonnull(x4);
	ck_assert_uint_eq(x4->n_elems, 1);	/* 192.0.2.128/25 is inside 192.0.2.0/24 */
	ck_assert_uint_eq(zt_set_elem(x4, 0)->key[0].cidr.plen, 24);
	ck_assert_uint_eq(x6->n_elems, 1);
	ck_assert(zt_plan_find_chain(pl, "flood_all"));
	zt_plan_free(pl);
}
END_TEST

static uint32_t web_id(const struct zt_plan *pl)
{
	ck_assert_uint_ge(pl->n_flood, 1);
	ck_assert_str_eq(pl->flood[0].zones, "web");
	return pl->flood[0].id;
}

START_TEST(test_ids)
{
	struct zt_plan *a = compile(pol), *b;
	uint32_t id = web_id(a);
	char name[ZT_OBJ_NAME_MAX];

	snprintf(name, sizeof(name), "ban4_%08x", id);
	ck_assert_ptr_nonnull(zt_plan_find_set(a, name));
	ck_assert_str_eq(a->flood[0].ban4, name);
	ck_assert_uint_ne(a->flood[0].id, a->flood[1].id);
	zt_plan_free(a);

	/* The same meaning in other words (keys in another order, to as a list, 60s for 1m): the same id. */
	b = compile(HUB "threats:\n  flood:\n"
		    "    - { ban: 60s, connections: 5, burst: 20, per-source: 10/second, to: [web] }\n");
	ck_assert_uint_eq(web_id(b), id);
	zt_plan_free(b);
	/* Another burst: another limit. */
	b = compile(HUB "threats:\n  flood:\n    - { to: web, per-source: 10/second, burst: 21, connections: 5, ban: 1m }\n");
	ck_assert_uint_ne(web_id(b), id);
	zt_plan_free(b);
	/* web's addresses changed: its meaning did. */
	b = compile("version: 1\nsegments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/27] }\n"
		    "threats:\n  flood:\n    - { to: web, per-source: 10/second, burst: 20, connections: 5, ban: 1m }\n");
	ck_assert_uint_ne(web_id(b), id);
	zt_plan_free(b);
}
END_TEST

START_TEST(test_defaults)
{
	struct zt_plan *pl = compile(HUB "threats:\n  flood:\n    - { to: web, per-source: 200/second }\n");
	char name[ZT_OBJ_NAME_MAX];
	const struct zt_set *m;

	ck_assert_uint_eq(pl->flood[0].plen4, 32);
	ck_assert_uint_eq(pl->flood[0].plen6, 64);
	ck_assert_uint_eq(pl->flood[0].ban_sec, 0);
	ck_assert_str_eq(pl->flood[0].ban4, "");
	ck_assert_str_eq(pl->flood[0].limit, "per-source 200/second burst 200");
	snprintf(name, sizeof(name), "fm6_%08x", pl->flood[0].id);
	ck_assert_ptr_nonnull(m = zt_plan_find_set(pl, name));
	ck_assert(m->eval && m->dynamic && m->timeout);
	ck_assert_uint_eq(m->size, ZT_FLOOD_SET_DEFAULT);
	ck_assert_uint_eq(m->timeout_sec, 5);
	/* without ban: no ban sets at all, over the limit goes to fod_ */
	snprintf(name, sizeof(name), "fod_%08x", pl->flood[0].id);
	ck_assert_ptr_nonnull(zt_plan_find_chain(pl, name));
	snprintf(name, sizeof(name), "fo_%08x", pl->flood[0].id);
	ck_assert_ptr_null(zt_plan_find_chain(pl, name));
	zt_plan_free(pl);
}
END_TEST

/* flow: limits. ids: world 1, host 2, onprem 3, web 4, db 5 */
#define FHUB                                                                                  \
	"version: 1\nhub:\n  boundaries:\n"                                                   \
	"    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"                 \
	"  flows:\n    - { name: web-in, from: [onprem, world], to: web, ports: [tcp/80] }\n"   \
	"    - { name: admin, from: onprem, to: [web, db], ports: [tcp/22], encrypted: true }\n" \
	"    - { name: web-db, from: web, to: db, ports: [tcp/5432] }\n"                       \
	"segments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"     \
	"  db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\nthreats:\n  flood:\n"

static const char fpol[] = FHUB
	"    - { flow: web-in, per-source: 10/second, ban: 1m }\n"
	"    - { flow: admin, to: db, connections: 2, ban: 1m }\n";

/* The connection mark of flow key (zone pair, port) in fp, 0 when none. */
static uint32_t fp_mark(const struct zt_plan *pl, uint32_t zp, uint16_t port)
{
	const struct zt_set *s = zt_plan_find_set(pl, "fp");

	for (size_t i = 0; s && i < s->n_elems; i++)
		if (zt_set_elem(s, i)->key[0].u32 == zp &&zt_set_elem(s, i)->key[2].u32 == port)
			return zt_set_elem(s, i)->data.u32;
	return 0;
}

static const char *floodf_chain(const struct zt_plan *pl, uint32_t mark)
{
	const struct zt_set *s = zt_plan_find_set(pl, "floodf");

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < s->n_elems; i++)
		if (zt_set_elem(s, i)->key[0].u32 == mark)
			return zt_set_elem(s, i)->data.verdict.chain;
	return NULL;
}

/* The index of the rule `ct mark vmap @set` in a chain, or -1. */
static int vmap_rule(const struct zt_chain *ch, const char *set)
{
	for (size_t i = 0; i < ch->n_rules; i++)
		for (size_t k = 0; k < ch->rules[i].n_stmt; k++)
			if (ch->rules[i].stmt[k].kind == ZT_S_VMAP && streq(ch->rules[i].stmt[k].set, set))
				return (int)i;
	return -1;
}

START_TEST(test_flow)
{
	struct zt_plan *pl = compile(fpol), *b;
	const struct zt_set *ff = zt_plan_find_set(pl, "floodf"), *fcnt = zt_plan_find_set(pl, "fcnt");
	const struct zt_chain *judge = zt_plan_find_chain(pl, "judge");
	uint32_t w = fp_mark(pl, 1u << 16 | 4, 80), o = fp_mark(pl, 3u << 16 | 4, 80);
	size_t admin = 0, admin_db = 0;
	int at;

	ck_assert_ptr_null(zt_plan_find_set(pl, "flood"));	/* no zone limit: no zone pair map */
	ck_assert_ptr_nonnull(ff);
	ck_assert_uint_eq(pl->n_flood, 2);
	ck_assert_str_eq(pl->flood[0].zones, "flow web-in");
	ck_assert_str_eq(pl->flood[1].zones, "flow admin to db");
	/* web-in: both sources, world's spoofable; keyed by the connection mark (bit 31) */
	ck_assert(w & 0x80000000u && o & 0x80000000u);
	ck_assert_msg(!strncmp(floodf_chain(pl, w), "fls_", 4), "world: %s", floodf_chain(pl, w));
	ck_assert_msg(!strncmp(floodf_chain(pl, o), "fl_", 3), "onprem: %s", floodf_chain(pl, o));
	/* web-db is not limited; admin only to db (its mark is set through inst: chained) */
	ck_assert_ptr_null(floodf_chain(pl, fp_mark(pl, 4u << 16 | 5, 5432)));
	for (size_t i = 0; i < fcnt->n_elems; i++) {
		const struct zt_counter *ct = NULL;

		for (size_t k = 0; k < pl->n_counters; k++)
			if (streq(pl->counters[k].name, zt_set_elem(fcnt, i)->data.counter))
				ct = &pl->counters[k];
		ck_assert_ptr_nonnull(ct);
		if (strncmp(ct->comment, "flow admin ", 11))
			continue;
		admin++;
		if (floodf_chain(pl, zt_set_elem(fcnt, i)->key[0].u32))
			admin_db++;
	}
	ck_assert_uint_eq(admin, 2);
	ck_assert_uint_eq(admin_db, 1);
	ck_assert_uint_eq(ff->n_elems, 3);
	/* judge: the floodf lookup right before the flow's accept, no zone pair lookup */
	ck_assert_ptr_nonnull(judge);
	ck_assert_int_eq(vmap_rule(judge, "flood"), -1);
	ck_assert_int_ge(at = vmap_rule(judge, "floodf"), 0);
	ck_assert(stmt_has(&judge->rules[at + 1], ZT_S_COUNTER_MAP, NULL));
	/* admin's chained f_ chain: floodf, then the counted accept */
	{
		size_t chains = 0;

		for (size_t c = 0; c < pl->n_chains; c++) {
			const struct zt_chain *ch = &pl->chains[c];

			if (strncmp(ch->name, "f_", 2) || (at = vmap_rule(ch, "floodf")) < 0)
				continue;
			chains++;
			ck_assert_uint_eq((size_t)at + 2, ch->n_rules);
			ck_assert(stmt_has(&ch->rules[at + 1], ZT_S_COUNTER_MAP, NULL));
			ck_assert(!stmt_has(&ch->rules[at - 1], ZT_S_VERDICT, NULL));
		}
		ck_assert_uint_ge(chains, 1);
	}
	/* ids: another flow text changes it; the same text elsewhere keeps it; a zone limit differs */
	b = compile(FHUB "    - { flow: admin, to: [db], ban: 60s, connections: 2 }\n"
		    "    - { flow: web-in, per-source: 10/second, ban: 1m }\n");
	ck_assert_uint_eq(b->flood[1].id, pl->flood[0].id);
	ck_assert_uint_eq(b->flood[0].id, pl->flood[1].id);
	zt_plan_free(b);
	b = compile(FHUB "    - { flow: web-in, to: web, per-source: 10/second, ban: 1m }\n");
	ck_assert_uint_ne(b->flood[0].id, pl->flood[0].id);
	zt_plan_free(b);
	b = compile(FHUB "    - { to: web, per-source: 10/second, ban: 1m }\n");
	ck_assert_uint_ne(b->flood[0].id, pl->flood[0].id);
	ck_assert_ptr_null(zt_plan_find_set(b, "floodf"));
	zt_plan_free(b);
	/* a zone limit and a flow limit on one zone: both lookups, the zone's before the flows */
	b = compile(FHUB "    - { to: web, per-source: 10/second, ban: 1m }\n"
		    "    - { flow: web-in, connections: 4, ban: 1m }\n");
	judge = zt_plan_find_chain(b, "judge");
	ck_assert_int_ge(vmap_rule(judge, "flood"), 0);
	ck_assert_int_gt(vmap_rule(judge, "floodf"), vmap_rule(judge, "flood"));
	ck_assert_uint_ne(b->flood[0].id, b->flood[1].id);
	zt_plan_free(b);
	{
		char *t = strdup(fpol), *port = strstr(t, "tcp/80");

		memcpy(port, "tcp/81", 6);
		b = compile(t);
		ck_assert_uint_ne(b->flood[0].id, pl->flood[0].id);
		ck_assert_uint_eq(b->flood[1].id, pl->flood[1].id);
		zt_plan_free(b);
		free(t);
	}
	zt_plan_free(pl);
}
END_TEST

START_TEST(test_flow_fail_closed)
{
	struct zt_plan *pl = compile(fpol);
	size_t updates = 0, adds = 0;

	for (size_t c = 0; c < pl->n_chains; c++) {
		const struct zt_chain *ch = &pl->chains[c];

		for (size_t i = 0; i < ch->n_rules; i++) {
			const struct zt_rule *r = &ch->rules[i], *next = i + 1 < ch->n_rules ? &ch->rules[i + 1] : NULL;
			const struct zt_stmt *s = NULL;

			if (!stmt_has(r, ZT_S_METER, &s) && !stmt_has(r, ZT_S_CONNLIMIT, &s))
				continue;
			updates++;
			ck_assert_ptr_nonnull(next);
			ck_assert_int_eq(next->match[0].op, ZT_M_NOT_IN_SET);
			ck_assert_str_eq(next->match[0].set, s->set);
			ck_assert(drops_counting(next, "flood_full"));
		}
		if (!strncmp(ch->name, "fo_", 3) || !strncmp(ch->name, "foc_", 4)) {
			adds++;
			ck_assert(drops_counting(&ch->rules[ch->n_rules - 1], "flood_full"));
		}
	}
	/* web-in: rate v4/v6 in fl_ and fls_; admin: connections v4/v6 in fl_ and fls_ */
	ck_assert_uint_eq(updates, 8);
	ck_assert_uint_eq(adds, 2);	/* fo_ (web-in), foc_ (admin) */
	zt_plan_free(pl);
}
END_TEST

static Suite *flood_suite(void)
{
	Suite *s = suite_create("compile-flood");
	TCase *tc = tcase_create("flood");

	tcase_add_test(tc, test_fail_closed);
	tcase_add_test(tc, test_spoofable);
	tcase_add_test(tc, test_except_nested);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_flow);
	tcase_add_test(tc, test_flow_fail_closed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(flood_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
