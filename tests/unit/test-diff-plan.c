/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/diff-plan.c: the difference between two plans
 * compiled from one policy, one of them then changed by hand (an element
 * added or removed, a rule changed, a counter's comment, a set remade,
 * a chain gone), and the transaction it emits. No kernel needed.
 */
#include <check.h>
#include <stdio.h>
#include "diff-plan.h"
#include "policy.h"
#include "diag-util.h"

static const char *const hub =
	"version: 1\n"
	"hub:\n"
	"  log: none\n"
	"  flows:\n"
	"    - { name: ci-to-cache, from: ci, to: cache, ports: [tcp/3128] }\n"
	"segments:\n"
	"  ci:\n"
	"    interfaces: [\"vci*\"]\n"
	"    addresses: [198.51.100.192/26]\n"
	"  cache:\n"
	"    interfaces: [\"vcache0\", \"vcache1\"]\n"
	"    addresses: [198.51.100.160/28]\n";

static struct zt_plan *compile_text(const char *text)
{
	struct zt_source src[] = { { ZT_HUB_FILE, text, strlen(text) } };
	struct zt_policy *p = NULL;
	struct zt_plan *pl = NULL;
	struct zt_diags d = {};
	int r = zt_policy_load_sources(src, 1, NULL, &p, &d);

	if (r >= 0)
		r = zt_compile(p, NULL, &pl, &d);
	if (r < 0)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
	return pl;
}

static struct zt_plan *compile(void)
{
	return compile_text(hub);
}

/* Old and new plans, and their difference. */
struct fx {
	struct zt_plan *old, *p;
	struct zt_plan_diff df;
};

static void fx_diff(struct fx *f)
{
	ck_assert_int_eq(zt_plan_diff_compute(f->old, f->p, f->p, false, &f->df), 0);
}

static void fx_free(struct fx *f)
{
	zt_plan_diff_clear(&f->df, f->p);
	zt_plan_free(f->old);
	zt_plan_free(f->p);
}

/* How many flags of n are set. */
static size_t count(const bool *v, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += v[i];
	return c;
}

static size_t chains_flagged(const struct fx *f)
{
	const struct zt_pflags *pf = &f->df.pf;

	return count(pf->chain_new, f->p->n_chains) + count(pf->chain_rules, f->p->n_chains) +
	       count(pf->chain_recreate, f->p->n_chains) + count(f->df.ochain_del, f->old->n_chains);
}

static size_t sets_flagged(const struct fx *f)
{
	const struct zt_pflags *pf = &f->df.pf;
	size_t c = count(pf->set_new, f->p->n_sets) + count(pf->set_recreate, f->p->n_sets) +
		   count(pf->set_refill, f->p->n_sets) + count(f->df.oset_del, f->old->n_sets);

	for (size_t i = 0; i < f->p->n_sets; i++)
		c += pf->n_set_add[i] + f->df.n_set_rm[i];
	return c;
}

/* A hash set (not interval, not dynamic) with at least two elements, or SIZE_MAX. */
static size_t hash_set(const struct zt_plan *p)
{
	for (size_t i = 0; i < p->n_sets; i++)
		if (!p->sets[i].interval && !p->sets[i].dynamic && p->sets[i].n_elems >= 2)
			return i;
	return SIZE_MAX;
}

/* Messages of the difference's transaction, BATCH_BEGIN included. */
static size_t emitted(const struct fx *f)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	size_t n;

	ck_assert_int_eq(zt_batch_new(1, &b), 0);
	ck_assert_int_eq(zt_batch_begin(b, 0), 0);
	ck_assert_int_eq(zt_plan_diff_emit(b, f->old, f->p, &f->df), 0);
	n = b->n_src;
	return n;
}

START_TEST(test_identical)
{
	struct fx f = { .old = compile(), .p = compile() };

	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 0);
	ck_assert_uint_eq(chains_flagged(&f), 0);
	ck_assert_uint_eq(sets_flagged(&f), 0);
	ck_assert_uint_eq(count(f.df.pf.counter_new, f.p->n_counters) + count(f.df.ocounter_del, f.old->n_counters), 0);
	/* Nothing but the batch's beginning. */
	ck_assert_uint_eq(emitted(&f), 1);
	fx_free(&f);
}
END_TEST

/* Does pos point into plan's own copies of the file names (or nowhere)? */
static bool pos_owned(const struct zt_plan *p, const struct zt_pos *pos)
{
	for (size_t i = 0; i < p->n_files; i++)
		if (pos->file == p->files[i])
			return true;
	return !pos->file;
}

/*
 * A plan slimmed (ztsegd keeps its running plan so) counts what it had,
 * keeps the sets it is told to, refuses to be diffed, and takes back the
 * elements and rules of a plan compiled anew from the same policy: then
 * it diffs as the original did, every position pointing into its own
 * file names. A plan of another shape is refused and nothing changes.
 */
START_TEST(test_slim)
{
	static const char *const keep[] = { "member_if", NULL };
	struct fx f = { .old = compile(), .p = compile() };
	const char *other = "version: 1\nsegments:\n  ci:\n    interfaces: [\"vci*\"]\n";
	struct zt_plan *full = compile(), *diff = compile_text(other);
	size_t objects = zt_plan_count_objects(f.old), rules = 0;
	const struct zt_set *s;

	zt_plan_slim(f.old, keep);
	ck_assert(f.old->slim);
	ck_assert_uint_eq(zt_plan_count_objects(f.old), objects);
	ck_assert_uint_eq(zt_plan_shape(f.old), zt_plan_shape(full));
	ck_assert_uint_eq(zt_plan_find_set(f.old, "member_if")->n_elems, zt_plan_find_set(full, "member_if")->n_elems);
	ck_assert_uint_gt(zt_plan_find_set(f.old, "member_if")->n_elems, 0);
	ck_assert_ptr_nonnull(s = zt_plan_find_set(f.old, "own4"));
	ck_assert(s->n_elems == 0 && !s->elems);
	for (size_t i = 0; i < f.old->n_chains; i++)
		rules += f.old->chains[i].n_rules;
	ck_assert_uint_eq(rules, 0);
	ck_assert_int_eq(zt_plan_diff_compute(f.old, f.p, f.p, false, &f.df), -EINVAL);

	ck_assert_int_eq(zt_plan_unslim(f.old, diff), -ESTALE);
	ck_assert(f.old->slim);
	ck_assert_int_eq(zt_plan_unslim(f.old, full), 0);
	ck_assert(!f.old->slim);
	zt_plan_free(full);	/* what it gave away must not be reachable from f.old any more */
	zt_plan_free(diff);
	ck_assert_uint_eq(zt_plan_count_objects(f.old), objects);
	for (size_t i = 0; i < f.old->n_sets; i++)
		for (size_t k = 0; k < f.old->sets[i].n_elems; k++)
			ck_assert(pos_owned(f.old, &zt_set_elem(&f.old->sets[i], k)->pos));
	for (size_t i = 0; i < f.old->n_chains; i++)
		for (size_t k = 0; k < f.old->chains[i].n_rules; k++)
			ck_assert(pos_owned(f.old, &f.old->chains[i].rules[k].pos));
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 0);
	ck_assert_uint_eq(sets_flagged(&f), 0);
	ck_assert_uint_eq(chains_flagged(&f), 0);
	fx_free(&f);
}
END_TEST

START_TEST(test_element_removed)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t s = hash_set(f.p);
	struct zt_set *set;

	ck_assert_msg(s != SIZE_MAX, "the policy has no hash set of two elements");
	set = &f.p->sets[s];
	/* The last element goes. */
	set->n_elems--;
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 1);
	ck_assert_uint_eq(f.df.n_set_rm[s], 1);
	ck_assert_uint_eq(f.df.set_rm[s][0], set->n_elems);
	ck_assert_uint_eq(f.df.pf.n_set_add[s], 0);
	ck_assert_uint_eq(sets_flagged(&f), 1);
	ck_assert_uint_eq(chains_flagged(&f), 0);
	/* One DELSETELEM after the beginning. */
	ck_assert_uint_eq(emitted(&f), 2);
	set->n_elems++;
	fx_free(&f);
}
END_TEST

START_TEST(test_element_added)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t s = hash_set(f.p);

	ck_assert(s != SIZE_MAX);
	/* The old plan lacks the first element: the new one adds it. */
	memmove(f.old->sets[s].elems, zt_set_elem(&f.old->sets[s], 1),
		(f.old->sets[s].n_elems - 1) * zt_set_esize(&f.old->sets[s]));
	f.old->sets[s].n_elems--;
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 1);
	ck_assert_uint_eq(f.df.pf.n_set_add[s], 1);
	ck_assert_uint_eq(f.df.pf.set_add[s][0], 0);
	ck_assert_uint_eq(f.df.n_set_rm[s], 0);
	ck_assert_uint_eq(sets_flagged(&f), 1);
	ck_assert_uint_eq(emitted(&f), 2);
	fx_free(&f);
}
END_TEST

START_TEST(test_value_changed)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t s = SIZE_MAX;

	/* A map whose first element's value changes: removed and added again. */
	for (size_t i = 0; i < f.p->n_sets && s == SIZE_MAX; i++)
		if (!f.p->sets[i].interval && !f.p->sets[i].dynamic && f.p->sets[i].n_elems &&
		    f.p->sets[i].data == ZT_TYPE_VERDICT)
			s = i;
	ck_assert_msg(s != SIZE_MAX, "the policy has no verdict map");
	zt_set_elem(&f.p->sets[s], 0)->data.verdict.code = zt_set_elem(&f.p->sets[s], 0)->data.verdict.code == ZT_V_DROP ?
							  ZT_V_ACCEPT : ZT_V_DROP;
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 1);
	ck_assert_uint_eq(f.df.n_set_rm[s], 1);
	ck_assert_uint_eq(f.df.pf.n_set_add[s], 1);
	fx_free(&f);
}
END_TEST

START_TEST(test_rule_changed)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t c = SIZE_MAX;

	for (size_t i = 0; i < f.p->n_chains && c == SIZE_MAX; i++)
		if (f.p->chains[i].n_rules)
			c = i;
	ck_assert(c != SIZE_MAX);
	/* A rule's comment goes into the kernel (userdata): the chain's rules are sent again. */
	snprintf(f.p->chains[c].rules[0].comment, sizeof(f.p->chains[c].rules[0].comment), "changed");
	fx_diff(&f);
	ck_assert(f.df.pf.chain_rules[c]);
	ck_assert(!f.df.pf.chain_new[c] && !f.df.pf.chain_recreate[c]);
	ck_assert_uint_eq(f.df.changed, f.p->chains[c].n_rules);
	ck_assert_uint_eq(chains_flagged(&f), 1);
	ck_assert_uint_eq(sets_flagged(&f), 0);
	/* The chain flushed and its rules added again. */
	ck_assert_uint_eq(emitted(&f), 2 + f.p->chains[c].n_rules);
	fx_free(&f);
}
END_TEST

START_TEST(test_policy_position_ignored)
{
	struct fx f = { .old = compile(), .p = compile() };

	/* Positions only point diagnostics at their source: not a difference. */
	for (size_t i = 0; i < f.p->n_chains; i++)
		for (size_t j = 0; j < f.p->chains[i].n_rules; j++)
			f.p->chains[i].rules[j].pos.line += 100;
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 0);
	fx_free(&f);
}
END_TEST

/* hub with text inserted before its line "    - { name: ci-to-cache" (before) or after it. */
static char *hub_with(const char *text, bool before)
{
	const char *at = strstr(hub, "    - { name: ci-to-cache");
	char *s;

	ck_assert_ptr_nonnull(at);
	if (!before)
		at = strchr(at, '\n') + 1;
	ck_assert_int_ge(asprintf(&s, "%.*s%s%s", (int)(at - hub), hub, text, at), 0);
	return s;
}

START_TEST(test_lines_moved)
{
	static const char *const flow = "    - { name: cache-to-ci, from: cache, to: ci, ports: [tcp/22] }\n";
	_cleanup_free_ char *shifted = hub_with("    # two lines of notes\n    # before the flows\n", true);
	_cleanup_free_ char *first = hub_with(flow, true), *last = hub_with(flow, false);
	struct fx f = { .old = compile(), .p = compile_text(shifted) };
	struct fx a = { .old = compile(), .p = compile_text(first) }, z = { .old = compile(), .p = compile_text(last) };

	/*
	 * Every line below the insertion moved: no rule is rewritten and no
	 * counter's comment differs from the kernel's (a diff keeps counters
	 * by name, so a comment naming a line would go stale).
	 */
	fx_diff(&f);
	ck_assert_uint_eq(f.df.changed, 0);
	ck_assert_uint_eq(f.p->n_counters, f.old->n_counters);
	for (size_t i = 0; i < f.p->n_counters; i++)
		ck_assert_str_eq(f.p->counters[i].comment, f.old->counters[i].comment);
	/* A flow inserted first changes what the same flow appended changes, no more. */
	fx_diff(&a);
	fx_diff(&z);
	ck_assert_uint_gt(z.df.changed, 0);
	ck_assert_uint_eq(a.df.changed, z.df.changed);
	ck_assert_uint_eq(chains_flagged(&a), chains_flagged(&z));
	ck_assert_uint_eq(emitted(&a), emitted(&z));
	fx_free(&f);
	fx_free(&a);
	fx_free(&z);
}
END_TEST

START_TEST(test_counters_kept)
{
	struct fx f = { .old = compile(), .p = compile() };

	ck_assert_uint_gt(f.p->n_counters, 1);
	/* A changed comment keeps the counter (and its values). */
	snprintf(f.p->counters[0].comment, sizeof(f.p->counters[0].comment), "another comment");
	/* The last counter is gone from the new plan. */
	f.p->n_counters--;
	fx_diff(&f);
	ck_assert_uint_eq(count(f.df.pf.counter_new, f.p->n_counters), 0);
	ck_assert_uint_eq(count(f.df.ocounter_del, f.old->n_counters), 1);
	ck_assert(f.df.ocounter_del[f.old->n_counters - 1]);
	ck_assert_uint_eq(f.df.changed, 1);
	f.p->n_counters++;
	fx_free(&f);
}
END_TEST

START_TEST(test_set_remade_takes_rules)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t s = SIZE_MAX, users = 0;

	/* A set that some rule uses, its definition changed (its comment). */
	for (size_t i = 0; i < f.p->n_sets && s == SIZE_MAX; i++)
		for (size_t c = 0; c < f.p->n_chains && s == SIZE_MAX; c++)
			for (size_t r = 0; r < f.p->chains[c].n_rules; r++)
				for (size_t m = 0; m < f.p->chains[c].rules[r].n_match; m++)
					if (f.p->chains[c].rules[r].match[m].op == ZT_M_IN_SET &&
					    streq(f.p->chains[c].rules[r].match[m].set, f.p->sets[i].name))
						s = i;
	ck_assert(s != SIZE_MAX);
	snprintf(f.p->sets[s].comment, sizeof(f.p->sets[s].comment), "remade");
	fx_diff(&f);
	ck_assert(f.df.pf.set_recreate[s]);
	for (size_t c = 0; c < f.p->n_chains; c++)
		users += f.df.pf.chain_rules[c];
	ck_assert_uint_gt(users, 0);
	fx_free(&f);
}
END_TEST

/*
 * The grants' speaker maps (dynamic verdict maps) point at chains: a
 * difference that rewrites a chain flushes them first (the daemon refills
 * them); one that changes no chain leaves them.
 */
START_TEST(test_speakers_flushed)
{
	char text[2048];
	struct fx f;
	size_t c = SIZE_MAX;

	snprintf(text, sizeof(text), "%sjit:\n  - { name: t, from: ci, to: cache, ports: [tcp/22], max: 1h }\n", hub);
	f = (struct fx){ .old = compile_text(text), .p = compile_text(text) };
	ck_assert_ptr_nonnull(zt_plan_find_set(f.p, "jspk_o"));
	fx_diff(&f);
	ck_assert_uint_eq(emitted(&f), 1);	/* BATCH_BEGIN alone: nothing flushed */
	zt_plan_diff_clear(&f.df, f.p);
	for (size_t i = 0; i < f.p->n_chains && c == SIZE_MAX; i++)
		if (f.p->chains[i].n_rules)
			c = i;
	snprintf(f.p->chains[c].rules[0].comment, sizeof(f.p->chains[c].rules[0].comment), "changed");
	fx_diff(&f);
	/* BATCH_BEGIN, jspk_o and jspk_r flushed, the chain flushed, its rules. */
	ck_assert_uint_eq(emitted(&f), 4 + f.p->chains[c].n_rules);
	fx_free(&f);
}
END_TEST

START_TEST(test_chain_gone)
{
	struct fx f = { .old = compile(), .p = compile() };
	size_t last;

	ck_assert_uint_gt(f.p->n_chains, 1);
	/* The new plan lacks the last chain (no rule jumps to it in this test's eyes). */
	last = f.p->n_chains - 1;
	f.p->n_chains--;
	fx_diff(&f);
	ck_assert(f.df.ochain_del[last]);
	ck_assert_uint_ge(f.df.changed, 1);
	f.p->n_chains++;
	fx_free(&f);
}
END_TEST

START_TEST(test_not_comparable)
{
	struct fx f = { .old = compile(), .p = compile() };
	struct zt_counter t;

	ck_assert_uint_gt(f.p->n_counters, 1);
	/* Out of order: the merge cannot be trusted, the caller reads the table. */
	t = f.p->counters[0];
	f.p->counters[0] = f.p->counters[1];
	f.p->counters[1] = t;
	ck_assert_int_eq(zt_plan_diff_compute(f.old, f.p, f.p, false, &f.df), -ENOTUNIQ);
	f.p->counters[1] = f.p->counters[0];
	f.p->counters[0] = t;
	/* Another log group: rules differ in ways the plan diff does not look at. */
	zt_plan_diff_clear(&f.df, f.p);
	f.p->log_group++;
	ck_assert_int_eq(zt_plan_diff_compute(f.old, f.p, f.p, false, &f.df), -ENOTUNIQ);
	fx_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diff-plan");
	TCase *tc = tcase_create("diff");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_identical);
	tcase_add_test(tc, test_element_removed);
	tcase_add_test(tc, test_element_added);
	tcase_add_test(tc, test_value_changed);
	tcase_add_test(tc, test_rule_changed);
	tcase_add_test(tc, test_policy_position_ignored);
	tcase_add_test(tc, test_lines_moved);
	tcase_add_test(tc, test_counters_kept);
	tcase_add_test(tc, test_set_remade_takes_rules);
	tcase_add_test(tc, test_chain_gone);
	tcase_add_test(tc, test_speakers_flushed);
	tcase_add_test(tc, test_not_comparable);
	tcase_add_test(tc, test_slim);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
