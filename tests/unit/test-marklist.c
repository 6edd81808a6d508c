/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/compile-marklist.c: every connection mark the table
 * sets (fcnt's keys) is in the plan's mark list with the flow whose counter
 * it feeds and its zone pair; flow-log of the hub or a segment marks the
 * right ones; flow-log: true is accepted where it belongs and refused
 * elsewhere; the list is sorted for zt_plan_find_mark().
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include "diag-util.h"
#include "plan.h"
#include "policy.h"

static const char *HUB =
	"version: 1\n"
	"hub:\n"
	"  default: drop\n"
	"  boundaries:\n"
	"    internet: { addresses: [0.0.0.0/0] }\n"
	"  flows:\n"
	"    - { name: web-app, from: web, to: app, ports: [tcp/8080] }\n"
	"    - { name: pub, from: internet, to: [web, app], ports: [tcp/443] }\n"
	"segments:\n"
	"  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
	"  app:\n"
	"    interfaces: [\"vapp*\"]\n"
	"    addresses: [198.51.100.128/26]\n"
	"    flow-log: true\n"
	"    subnets: { a: { addresses: [198.51.100.128/28] }, b: { addresses: [198.51.100.144/28] } }\n"
	"    rules:\n"
	"      - { name: ab, from: a, to: b, ports: [tcp/22] }\n";

static struct zt_plan *compile_str(const char *hub)
{
	struct zt_source src[] = { { "ztseg.yaml", hub, strlen(hub) } };
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	struct zt_plan *pl = NULL;
	int r = zt_policy_load_sources(src, 1, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(zt_compile(p, NULL, &pl, &d), 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
	return pl;
}

static const struct zt_plan_mark *find_pair(const struct zt_plan *pl, const char *flow, const char *from,
					    const char *to)
{
	for (size_t i = 0; i < pl->n_marks; i++) {
		const struct zt_plan_mark *m = &pl->marks[i];

		if (!strcmp(pl->flow_names[m->flow].name, flow) && !strcmp(pl->zone_names[m->from], from) &&
		    !strcmp(pl->zone_names[m->to], to))
			return m;
	}
	return NULL;
}

START_TEST(test_marks_cover_fcnt)
{
	struct zt_plan *pl = compile_str(HUB);
	const struct zt_set *fcnt = zt_plan_find_set(pl, "fcnt");

	ck_assert_ptr_nonnull(fcnt);
	ck_assert_uint_eq(pl->n_marks, fcnt->n_elems);
	for (size_t i = 0; i < fcnt->n_elems; i++) {
		const struct zt_plan_mark *m = zt_plan_find_mark(pl, zt_set_elem(fcnt, i)->key[0].u32);

		ck_assert_ptr_nonnull(m);
		ck_assert_uint_lt(m->flow, pl->n_flow_names);
		ck_assert_uint_lt(m->from, pl->n_zone_names);
		ck_assert_uint_lt(m->to, pl->n_zone_names);
		/* The mark's counter is its flow's. */
		ck_assert_str_eq(pl->flow_names[m->flow].counter, zt_set_elem(fcnt, i)->data.counter);
	}
	for (size_t i = 1; i < pl->n_marks; i++)
		ck_assert_uint_lt(pl->marks[i - 1].mark, pl->marks[i].mark);
	ck_assert_ptr_null(zt_plan_find_mark(pl, 0));
	ck_assert_ptr_null(zt_plan_find_mark(pl, 0x7fffffff));
	zt_plan_free(pl);
}
END_TEST

START_TEST(test_marks_meaning)
{
	struct zt_plan *pl = compile_str(HUB);
	const struct zt_plan_mark *m;

	m = find_pair(pl, "web-app", "web", "app");
	ck_assert_ptr_nonnull(m);
	ck_assert(m->log);		/* app has flow-log */
	ck_assert_str_eq(pl->flow_names[m->flow].from, "web");
	ck_assert_str_eq(pl->flow_names[m->flow].to, "app");
	ck_assert_str_eq(pl->flow_names[m->flow].segment, "");
	m = find_pair(pl, "pub", "internet", "web");
	ck_assert_ptr_nonnull(m);
	ck_assert(!m->log);		/* neither internet nor web logs */
	ck_assert_str_eq(pl->flow_names[m->flow].to, "web,app");
	ck_assert(find_pair(pl, "pub", "internet", "app")->log);
	m = find_pair(pl, "app:ab", "app.a", "app.b");
	ck_assert_ptr_nonnull(m);
	ck_assert(m->log);		/* subnets of a flow-log segment */
	ck_assert_str_eq(pl->flow_names[m->flow].segment, "app");
	zt_plan_free(pl);
}
END_TEST

START_TEST(test_hub_flow_log)
{
	char hub[2048];
	struct zt_plan *pl;

	snprintf(hub, sizeof(hub), "version: 1\nhub:\n  flow-log: true\n%s", strstr(HUB, "  default: drop\n"));
	pl = compile_str(hub);
	for (size_t i = 0; i < pl->n_marks; i++)
		ck_assert(pl->marks[i].log);
	zt_plan_free(pl);
}
END_TEST

static const struct {
	const char *yaml, *err;
} bad_cases[] = {
	{ "version: 1\nhub:\n  flow-log: yes\n", "flow-log" },
	{ "version: 1\nhub:\n  flow-log: [true]\n", "flow-log" },
	{ "version: 1\nsegments:\n  web: { interfaces: [w], flow-log: 1 }\n", "flow-log" },
	{ "version: 1\nflow-log: true\nhub: {}\n", "unknown key 'flow-log'" },
};

START_TEST(test_flow_log_errors)
{
	struct zt_source src[] = { { "ztseg.yaml", bad_cases[_i].yaml, strlen(bad_cases[_i].yaml) } };
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	bool found = false;

	ck_assert_int_eq(zt_policy_load_sources(src, 1, NULL, &p, &d), -EINVAL);
	for (size_t i = 0; i < d.n; i++)
		found |= strstr(d.v[i].msg, bad_cases[_i].err) != NULL;
	if (!found)
		diags_dump(&d);
	ck_assert_msg(found, "case %d", _i);
	zt_diags_clear(&d);
}
END_TEST

static Suite *marklist_suite(void)
{
	Suite *s = suite_create("marklist");
	TCase *tc = tcase_create("marks");

	tcase_add_test(tc, test_marks_cover_fcnt);
	tcase_add_test(tc, test_marks_meaning);
	tcase_add_test(tc, test_hub_flow_log);
	tcase_add_loop_test(tc, test_flow_log_errors, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(marklist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
