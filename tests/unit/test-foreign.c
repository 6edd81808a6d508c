/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/foreign.c: which foreign base chains untrack traffic
 * on ztseg's hooks, from chains and rules built in memory as a dump would
 * return them (no kernel).
 */
#include <check.h>
#include <stdio.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include "foreign.h"

static void chain_add(struct zt_untrack_scan *s, uint8_t family, const char *table, const char *name, int hook,
		      int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	ck_assert_ptr_nonnull(c);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
	}
	ck_assert_int_eq(zt_untrack_scan_chain(s, c), 0);
	nftnl_chain_free(c);
}

/* A rule of one expression: "notrack", "counter", or a jump/goto to target. */
static void rule_add(struct zt_untrack_scan *s, uint8_t family, const char *table, const char *chain,
		     const char *what, const char *target)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;

	ck_assert_ptr_nonnull(r);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, family);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	if (streq(what, "jump") || streq(what, "goto")) {
		e = nftnl_expr_alloc("immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, streq(what, "jump") ? NFT_JUMP : NFT_GOTO);
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, target);
	} else {
		e = nftnl_expr_alloc(what);
	}
	ck_assert_ptr_nonnull(e);
	nftnl_rule_add_expr(r, e);
	ck_assert_int_eq(zt_untrack_scan_rule(s, r), 0);
	nftnl_rule_free(r);
}

START_TEST(test_scan)
{
	_cleanup_untrack_scan_ struct zt_untrack_scan *s = NULL;
	_cleanup_free_ struct zt_untrack *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(zt_untrack_scan_new(&s), 0);
	/* Rules may come before their chains in what is fed. */
	rule_add(s, NFPROTO_IPV4, "other", "pre", "notrack", NULL);
	chain_add(s, NFPROTO_IPV4, "other", "pre", NF_INET_PRE_ROUTING, -400);
	/* After conntrack: a notrack there changes nothing. */
	chain_add(s, NFPROTO_IPV4, "other", "late", NF_INET_PRE_ROUTING, 0);
	rule_add(s, NFPROTO_IPV4, "other", "late", "notrack", NULL);
	/* Through a jump, then a goto, in an inet table on output. */
	chain_add(s, NFPROTO_INET, "t6", "out", NF_INET_LOCAL_OUT, -300);
	chain_add(s, NFPROTO_INET, "t6", "a", -1, 0);
	chain_add(s, NFPROTO_INET, "t6", "b", -1, 0);
	rule_add(s, NFPROTO_INET, "t6", "out", "counter", NULL);
	rule_add(s, NFPROTO_INET, "t6", "out", "jump", "a");
	rule_add(s, NFPROTO_INET, "t6", "a", "goto", "b");
	rule_add(s, NFPROTO_INET, "t6", "b", "notrack", NULL);
	/* A jump loop with no notrack terminates and reports nothing. */
	chain_add(s, NFPROTO_IPV6, "loop", "pre", NF_INET_PRE_ROUTING, -300);
	chain_add(s, NFPROTO_IPV6, "loop", "x", -1, 0);
	rule_add(s, NFPROTO_IPV6, "loop", "pre", "jump", "x");
	rule_add(s, NFPROTO_IPV6, "loop", "x", "jump", "pre");
	/* Same chain names in another table do not connect. */
	chain_add(s, NFPROTO_IPV4, "elsewhere", "pre", NF_INET_PRE_ROUTING, -400);
	rule_add(s, NFPROTO_IPV4, "elsewhere", "pre", "jump", "b");
	/* Not an IP family, not prerouting/output, and ztseg's own table: none count. */
	chain_add(s, NFPROTO_NETDEV, "nd", "in", 0, -500);
	rule_add(s, NFPROTO_NETDEV, "nd", "in", "notrack", NULL);
	chain_add(s, NFPROTO_IPV4, "fw", "fwd", NF_INET_FORWARD, -400);
	rule_add(s, NFPROTO_IPV4, "fw", "fwd", "notrack", NULL);
	chain_add(s, NFPROTO_INET, "ztseg", "pre", NF_INET_PRE_ROUTING, -400);
	rule_add(s, NFPROTO_INET, "ztseg", "pre", "notrack", NULL);
	/* A rule of a chain never fed. */
	rule_add(s, NFPROTO_IPV4, "ghost", "pre", "notrack", NULL);

	ck_assert(zt_untrack_scan_wants_table(s, NFPROTO_IPV4, "other"));
	ck_assert(!zt_untrack_scan_wants_table(s, NFPROTO_IPV4, "fw"));
	ck_assert(!zt_untrack_scan_wants_table(s, NFPROTO_INET, "ztseg"));
	ck_assert_int_eq(zt_untrack_scan_result(s, &v, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(v[0].family, NFPROTO_INET);
	ck_assert_str_eq(v[0].table, "t6");
	ck_assert_str_eq(v[0].chain, "out");
	ck_assert_str_eq(v[0].via, "b");
	ck_assert_int_eq(v[0].hook, NF_INET_LOCAL_OUT);
	ck_assert_int_eq(v[0].prio, -300);
	ck_assert_int_eq(v[1].family, NFPROTO_IPV4);
	ck_assert_str_eq(v[1].table, "other");
	ck_assert_str_eq(v[1].chain, "pre");
	ck_assert_str_eq(v[1].via, "pre");
	ck_assert_str_eq(zt_nfproto_name(v[1].family), "ip");
	ck_assert_str_eq(zt_nf_hook_name(v[1].hook), "prerouting");
}
END_TEST

START_TEST(test_scan_empty)
{
	_cleanup_untrack_scan_ struct zt_untrack_scan *s = NULL;
	struct zt_untrack *v = (void *)1;
	size_t n = 9;

	ck_assert_int_eq(zt_untrack_scan_new(&s), 0);
	ck_assert_int_eq(zt_untrack_scan_result(s, &v, &n), 0);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* A chain deeper than the kernel allows is not followed forever. */
START_TEST(test_scan_depth)
{
	_cleanup_untrack_scan_ struct zt_untrack_scan *s = NULL;
	_cleanup_free_ struct zt_untrack *v = NULL;
	char a[16], b[16];
	size_t n = 0;

	ck_assert_int_eq(zt_untrack_scan_new(&s), 0);
	chain_add(s, NFPROTO_IPV4, "deep", "c0", NF_INET_PRE_ROUTING, -400);
	for (int i = 1; i <= 40; i++) {
		snprintf(a, sizeof(a), "c%d", i - 1);
		snprintf(b, sizeof(b), "c%d", i);
		chain_add(s, NFPROTO_IPV4, "deep", b, -1, 0);
		rule_add(s, NFPROTO_IPV4, "deep", a, "jump", b);
	}
	rule_add(s, NFPROTO_IPV4, "deep", "c40", "notrack", NULL);
	ck_assert_int_eq(zt_untrack_scan_result(s, &v, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* The kernel part, where the test may read the ruleset; nothing is changed. */
START_TEST(test_read)
{
	_cleanup_free_ struct zt_untrack *v = NULL;
	size_t n = 0;
	int r = zt_untrack_read(&v, &n);

	if (r == -EPERM || r == -EACCES)
		return;
	ck_assert_int_eq(r, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("foreign");
	TCase *tc = tcase_create("untrack");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_scan);
	tcase_add_test(tc, test_scan_empty);
	tcase_add_test(tc, test_scan_depth);
	tcase_add_test(tc, test_read);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
