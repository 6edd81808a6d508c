/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of just-in-time grants' pure parts (lib/grant.c, lib/compile-jit.c): durations, marks, requests, elements, state lines. */
#include <check.h>
#include <netinet/in.h>
#include "grant.h"
#include "plan.h"

/* ---- durations ---- */

static const struct {
	const char *s;
	int r;
	uint32_t v;
} dur_cases[] = {
	{ "90s", 0, 90 }, { "30m", 0, 1800 }, { "1h", 0, 3600 }, { "1h30m", 0, 5400 },
	{ "2h5m10s", 0, 7510 }, { "45", 0, 45 }, { "24h", 0, 86400 }, { "25h", -ERANGE, 0 },
	{ "0s", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "1x", -EINVAL, 0 }, { "m", -EINVAL, 0 },
	{ "30m1h", -EINVAL, 0 }, { "1h1h", -EINVAL, 0 }, { "99999999999999s", -EINVAL, 0 },
	{ "-1s", -EINVAL, 0 }, { "1 h", -EINVAL, 0 },
};

START_TEST(test_duration)
{
	const char *err = NULL;
	uint32_t v = 0;
	int r = zt_duration_parse(dur_cases[_i].s, ZT_JIT_MAX_SECONDS, &v, &err);

	ck_assert_msg(r == dur_cases[_i].r, "'%s': %d", dur_cases[_i].s, r);
	if (!r)
		ck_assert_uint_eq(v, dur_cases[_i].v);
	else
		ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_duration_fmt)
{
	char b[32];

	ck_assert_str_eq(zt_duration_fmt(5400, b, sizeof(b)), "1h30m");
	ck_assert_str_eq(zt_duration_fmt(45, b, sizeof(b)), "45s");
	ck_assert_str_eq(zt_duration_fmt(0, b, sizeof(b)), "0s");
	ck_assert_str_eq(zt_duration_fmt(3601, b, sizeof(b)), "1h1s");
}
END_TEST

/* ---- marks: never a flow mark, a zone pair or a zone id; ids round-trip ---- */

START_TEST(test_marks)
{
	static const uint32_t ids[] = { 1, 2, 0x7f, 0x80, 0x7fff, 0x8000, 0x12345, ZT_GRANT_ID_MAX };
	static const uint32_t pairs[] = { 0, 1, 7, 255 };
	char name[16];
	uint32_t id;

	for (size_t i = 0; i < ELEMENTSOF(ids); i++)
		for (size_t k = 0; k < ELEMENTSOF(pairs); k++) {
			uint32_t m = zt_grant_mark(ids[i], pairs[k]);

			ck_assert(zt_mark_is_grant(m));
			ck_assert_uint_eq(zt_grant_id_of(m), ids[i]);
			ck_assert_uint_eq(zt_grant_pair_of(m), pairs[k]);
			/* every pair of a grant, and only its pairs, under the conntrack mask */
			ck_assert_uint_eq(m & ZT_GRANT_MARK_MASK, zt_grant_mark(ids[i], 0));
			if (i)
				ck_assert_uint_ne(m & ZT_GRANT_MARK_MASK, zt_grant_mark(ids[i - 1], 0));
			ck_assert(!(m & 0x80000000u));		/* no flow mark */
			ck_assert((m & 0xffff) >= 0x8000);	/* no zone pair (dst < 0x8000), no zone id */
		}
	zt_grant_counter_name(0x1234, name);
	ck_assert_str_eq(name, "g_1234");
	ck_assert_int_eq(zt_grant_counter_id(name, &id), 0);
	ck_assert_uint_eq(id, 0x1234);
	ck_assert_int_eq(zt_grant_counter_id("c_1234", &id), -EINVAL);
	ck_assert_int_eq(zt_grant_counter_id("g_", &id), -EINVAL);
	ck_assert_int_eq(zt_grant_counter_id("g_0", &id), -EINVAL);
	ck_assert_int_eq(zt_grant_counter_id("g_12x", &id), -EINVAL);
	ck_assert_int_eq(zt_grant_counter_id("g_400000", &id), -EINVAL);	/* over ZT_GRANT_ID_MAX */
	ck_assert(!zt_mark_is_grant(0));
	ck_assert(!zt_mark_is_grant(0x7fff7fffu));	/* the largest zone pair */
	ck_assert(!zt_mark_is_grant(0x80008000u));	/* a flow mark */
}
END_TEST

/* ---- requests: every field hostile ---- */

static const struct {
	const char *json;
	bool ok;
	const char *frag;
} req_cases[] = {
	{ "{\"template\":\"admin-ssh\",\"source\":\"192.0.2.10\",\"reason\":\"INC-4411\"}", true, NULL },
	{ "{\"template\":\"a\",\"source\":\"2001:db8::1/128\",\"reason\":\"r\",\"for\":60,\"to\":\"db.primary\"}", true, NULL },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10/32\",\"reason\":\"r\"}", true, NULL },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.0/24\",\"reason\":\"r\"}", false, "one address" },
	{ "{\"template\":\"a\",\"source\":\"not-an-address\",\"reason\":\"r\"}", false, "'source'" },
	{ "{\"template\":\"A b\",\"source\":\"192.0.2.10\",\"reason\":\"r\"}", false, "'template'" },
	{ "{\"template\":\"../etc\",\"source\":\"192.0.2.10\",\"reason\":\"r\"}", false, "'template'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"\"}", false, "'reason'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"a\\nb\"}", false, "'reason'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"a\\u0000b\"}", false, "'reason'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"r\",\"for\":0}", false, "'for'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"r\",\"for\":86401}", false, "'for'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"r\",\"for\":\"1h\"}", false, "'for'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"r\",\"to\":7}", false, "'to'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\",\"reason\":\"r\",\"evil\":1}", false, "unknown argument 'evil'" },
	{ "{\"template\":\"a\",\"source\":\"192.0.2.10\"}", false, "required" },
	{ "{\"template\":[],\"source\":\"192.0.2.10\",\"reason\":\"r\"}", false, "'template'" },
};

START_TEST(test_request)
{
	json_error_t je;
	json_t *j = json_loads(req_cases[_i].json, JSON_ALLOW_NUL, &je);
	struct zt_grant_request q;
	char err[256] = "";
	int r;

	ck_assert_ptr_nonnull(j);
	r = zt_grant_request_parse(j, &q, err, sizeof(err));
	ck_assert_msg((r == 0) == req_cases[_i].ok, "%s: %d %s", req_cases[_i].json, r, err);
	if (req_cases[_i].frag)
		ck_assert_msg(strstr(err, req_cases[_i].frag), "%s: '%s'", req_cases[_i].json, err);
	json_decref(j);
}
END_TEST

START_TEST(test_request_oversized)
{
	char *reason = malloc(ZT_GRANT_REASON_MAX + 2);
	json_t *j;
	struct zt_grant_request q;
	char err[256];

	memset(reason, 'x', ZT_GRANT_REASON_MAX + 1);
	reason[ZT_GRANT_REASON_MAX + 1] = '\0';
	j = json_pack("{s:s, s:s, s:s}", "template", "a", "source", "192.0.2.1", "reason", reason);
	ck_assert_int_eq(zt_grant_request_parse(j, &q, err, sizeof(err)), -EINVAL);
	reason[ZT_GRANT_REASON_MAX] = '\0';
	json_object_set_new(j, "reason", json_string(reason));
	ck_assert_int_eq(zt_grant_request_parse(j, &q, err, sizeof(err)), 0);
	json_decref(j);
	free(reason);
}
END_TEST

/* ---- state lines ---- */

START_TEST(test_line_roundtrip)
{
	struct zt_grant g = { .id = 7, .meaning = 0xdeadbeef, .family = AF_INET, .addr = { 192, 0, 2, 10 },
			      .granted_usec = 1000, .expires_usec = 2000000, .uid = 1000, .pid = 42 }, h;
	char *line;

	snprintf(g.tmpl, sizeof(g.tmpl), "admin-ssh");
	snprintf(g.to, sizeof(g.to), "db.primary");
	snprintf(g.user, sizeof(g.user), "alice");
	snprintf(g.reason, sizeof(g.reason), "INC-4411: 50%% of \"db\" down\tnow");
	line = zt_grant_line(&g);
	ck_assert_ptr_nonnull(line);
	ck_assert_int_eq(zt_grant_line_parse(line, &h), 0);
	ck_assert(memcmp(&g, &h, sizeof(g)) == 0);
	free(line);
}
END_TEST

static const char *const bad_lines[] = {
	"", "grant", "grant 0 a 1 192.0.2.1 - 1 2 0 1 u r",
	"grant 1 A 1 192.0.2.1 - 1 2 0 1 u r", "grant 1 a 1 192.0.2.999 - 1 2 0 1 u r",
	"grant 1 a 1 192.0.2.1 - 1 2 0 1 u r extra", "grant 1 a x 192.0.2.1 - 1 2 0 1 u r",
	"grant 1 a 1 192.0.2.1 - 1 2 0 1 u %0", "grant 1 a 1 192.0.2.1 - 1 2 0 1 u %00",
	"grant 1 a 1 192.0.2.1 - 1 99999999999999999999999 0 1 u r", "grant 1 a 1 192.0.2.1 - -1 2 0 1 u r",
	"grnt 1 a 1 192.0.2.1 - 1 2 0 1 u r",
};

START_TEST(test_line_bad)
{
	struct zt_grant g;

	ck_assert_msg(zt_grant_line_parse(bad_lines[_i], &g) == -EINVAL, "'%s'", bad_lines[_i]);
}
END_TEST

/* ---- the compiled template and a grant's elements ---- */

static const char jit_hub[] =
	"version: 1\n"
	"hub:\n"
	"  boundaries:\n"
	"    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"
	"segments:\n"
	"  db:\n"
	"    interfaces: [\"vdb*\"]\n"
	"    addresses: [198.51.100.64/27]\n"
	"    subnets:\n"
	"      primary: { addresses: [198.51.100.64/29] }\n"
	"  app:\n"
	"    interfaces: [\"vapp*\"]\n"
	"jit:\n"
	"  - { name: admin, from: onprem, to: [db, app], ports: [tcp/22, udp/5000-5001], max: 1h }\n";

START_TEST(test_compiled)
{
	struct zt_source src = { ZT_HUB_FILE, jit_hub, sizeof(jit_hub) - 1 };
	struct zt_policy *p = NULL;
	struct zt_plan *plan = NULL;
	struct zt_diags d = {};
	const struct zt_plan_jit *t;
	const struct zt_set *s;
	struct zt_grant g = { .id = 9, .family = AF_INET, .addr = { 203, 0, 113, 10 } };
	struct zt_elem *el = NULL;
	size_t n = 0;

	ck_assert_int_eq(zt_policy_load_sources(&src, 1, NULL, &p, &d), 0);
	ck_assert_int_eq(zt_compile(p, NULL, &plan, &d), 0);
	ck_assert_uint_eq(plan->n_jit, 1);
	t = zt_plan_find_jit(plan, "admin");
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->n_src, 1);		/* onprem */
	ck_assert_uint_eq(t->n_dst, 3);		/* db's rest, db.primary, app */
	ck_assert_uint_eq(t->n_ports, 3);	/* tcp/22, udp/5000, udp/5001 */
	for (const char *const *name = (const char *const[]){ "jit4", "jit6", "jlive", "jspk_o", "jspk_r", NULL };
	     *name; name++) {
		s = zt_plan_find_set(plan, *name);
		ck_assert_ptr_nonnull(s);
		ck_assert(s->timeout && s->dynamic && !s->interval);
	}
	ck_assert_int_eq(zt_grant_elems(t, &g, -1, &el, &n), 0);
	ck_assert_uint_eq(n, 9);
	for (size_t i = 0; i < n; i++) {
		/* one from entry (onprem), to entries db (0) and app (1): pair = the to entry */
		ck_assert_uint_eq(el[i].data.u32, zt_grant_mark(9, t->dst_ref[i / 3]));
		ck_assert_uint_eq(el[i].key[1].u32 >> 16, t->src[0]);
		ck_assert_uint_eq(el[i].key[0].cidr.plen, 32);
	}
	free(el);
	/* jlive: one mark per pair, each to the grant's counter; the speakers: onprem's side, db's, app's */
	ck_assert_uint_eq(t->n_from, 1);
	ck_assert_uint_eq(t->n_to, 2);
	ck_assert_int_eq(zt_grant_pair_elems(t, &g, -1, ZT_GRANT_LIVE, &el, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(el[0].key[0].u32, zt_grant_mark(9, 0));
	ck_assert_uint_eq(el[1].key[0].u32, zt_grant_mark(9, 1));
	ck_assert_str_eq(el[1].data.counter, "g_9");
	free(el);
	ck_assert_int_eq(zt_grant_pair_elems(t, &g, -1, ZT_GRANT_SPK_O, &el, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(el[0].data.type, ZT_TYPE_VERDICT);
	ck_assert_str_eq(el[0].data.verdict.chain, el[1].data.verdict.chain);	/* both from onprem */
	ck_assert_str_eq(el[0].data.verdict.chain, t->spk_from[0].verdict.chain);
	free(el);
	ck_assert_int_eq(zt_grant_pair_elems(t, &g, -1, ZT_GRANT_SPK_R, &el, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_ne(el[0].data.verdict.chain, el[1].data.verdict.chain);	/* db's side, app's side */
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, el[0].data.verdict.chain));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, el[1].data.verdict.chain));
	free(el);
	/* --to app: app's zone only, and its pair only. */
	ck_assert_int_eq(zt_grant_elems(t, &g, zt_jit_to_ref(zt_policy_find_jit(p, "admin"), "app"), &el, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(el[0].data.u32, zt_grant_mark(9, 1));
	free(el);
	ck_assert_int_eq(zt_grant_pair_elems(t, &g, 1, ZT_GRANT_LIVE, &el, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(el[0].key[0].u32, zt_grant_mark(9, 1));
	free(el);
	ck_assert_int_eq(zt_jit_to_ref(zt_policy_find_jit(p, "admin"), "web"), -2);
	zt_plan_free(plan);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

/* The meaning stays across a reload that changes nothing of it, and moves when a zone's addresses do. */
START_TEST(test_meaning)
{
	static const char moved[] = "    addresses: [198.51.100.64/26]\n";
	char other[sizeof(jit_hub) + 64];
	struct zt_source a = { ZT_HUB_FILE, jit_hub, sizeof(jit_hub) - 1 }, b;
	struct zt_policy *p1 = NULL, *p2 = NULL;
	struct zt_plan *x = NULL, *y = NULL;
	struct zt_diags d = {};
	char *at;

	snprintf(other, sizeof(other), "%s", jit_hub);
	at = strstr(other, "    addresses: [198.51.100.64/27]\n");
	ck_assert_ptr_nonnull(at);
	memcpy(at, moved, strlen(moved));
	b = (struct zt_source){ ZT_HUB_FILE, other, strlen(other) };
	ck_assert_int_eq(zt_policy_load_sources(&a, 1, NULL, &p1, &d), 0);
	ck_assert_int_eq(zt_policy_load_sources(&b, 1, NULL, &p2, &d), 0);
	ck_assert_int_eq(zt_compile(p1, NULL, &x, &d), 0);
	ck_assert_int_eq(zt_compile(p2, NULL, &y, &d), 0);
	ck_assert_uint_ne(x->jit[0].meaning, y->jit[0].meaning);
	zt_plan_free(y);
	y = NULL;
	ck_assert_int_eq(zt_compile(p1, NULL, &y, &d), 0);
	ck_assert_uint_eq(x->jit[0].meaning, y->jit[0].meaning);
	zt_plan_free(x);
	zt_plan_free(y);
	zt_policy_free(p1);
	zt_policy_free(p2);
	zt_diags_clear(&d);
}
END_TEST

static Suite *grant_suite(void)
{
	Suite *s = suite_create("grant");
	TCase *tc = tcase_create("grant");

	tcase_add_loop_test(tc, test_duration, 0, ELEMENTSOF(dur_cases));
	tcase_add_test(tc, test_duration_fmt);
	tcase_add_test(tc, test_marks);
	tcase_add_loop_test(tc, test_request, 0, ELEMENTSOF(req_cases));
	tcase_add_test(tc, test_request_oversized);
	tcase_add_test(tc, test_line_roundtrip);
	tcase_add_loop_test(tc, test_line_bad, 0, ELEMENTSOF(bad_lines));
	tcase_add_test(tc, test_compiled);
	tcase_add_test(tc, test_meaning);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(grant_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
