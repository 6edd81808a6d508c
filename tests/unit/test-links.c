/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/links.c: the one list of trusted link kinds (and its
 * text form, the --encrypting-kinds default), the trust test as apply,
 * explain and ztsegd call it, and the link dump of the test's own
 * namespace (no privilege needed).
 */
#include <check.h>
#include <stdio.h>
#include "links.h"

START_TEST(test_default_list)
{
	char buf[] = ZT_ENC_KINDS_DEFAULT;
	const char *kinds[ZT_ENC_KINDS_MAX];
	int n = zt_enc_kinds_parse(buf, kinds, ZT_ENC_KINDS_MAX);
	size_t i;

	/* The text and the list say the same. */
	ck_assert_int_gt(n, 0);
	for (i = 0; zt_enc_kinds_default[i]; i++) {
		ck_assert_int_lt(i, n);
		ck_assert_str_eq(kinds[i], zt_enc_kinds_default[i]);
	}
	ck_assert_int_eq(i, n);
}
END_TEST

START_TEST(test_trusted)
{
	static const char *const two[] = { "veth", "wireguard" };
	static const char *const terminated[] = { "veth", NULL, "wireguard" };

	/* NULL: the default list. */
	ck_assert(zt_enc_kind_trusted("wireguard", NULL, 0));
	ck_assert(zt_enc_kind_trusted("ip6vti", NULL, 0));
	ck_assert(!zt_enc_kind_trusted("veth", NULL, 0));
	/* A link without a kind never is. */
	ck_assert(!zt_enc_kind_trusted("", NULL, 0));
	ck_assert(!zt_enc_kind_trusted(NULL, NULL, 0));
	ck_assert(!zt_enc_kind_trusted("", two, 2));
	/* A counted list (apply) ... */
	ck_assert(zt_enc_kind_trusted("veth", two, 2));
	ck_assert(zt_enc_kind_trusted("wireguard", two, 2));
	ck_assert(!zt_enc_kind_trusted("wireguard", two, 1));
	ck_assert(!zt_enc_kind_trusted("xfrm", two, 2));
	/* ... and a NULL-terminated one (explain, ztsegd). */
	ck_assert(zt_enc_kind_trusted("veth", terminated, SIZE_MAX));
	ck_assert(!zt_enc_kind_trusted("wireguard", terminated, SIZE_MAX));
}
END_TEST

START_TEST(test_dump)
{
	struct zt_link *links = NULL;
	size_t n = 0;
	bool lo = false;
	int r = zt_links_dump(&links, &n);

	ck_assert_msg(r == 0, "%s", strerror(-r));
	for (size_t i = 0; i < n; i++)
		if (streq(links[i].name, "lo")) {
			lo = true;
			ck_assert_str_eq(links[i].kind, "");
		}
	ck_assert(lo);
	free(links);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("links");
	TCase *tc = tcase_create("links");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_default_list);
	tcase_add_test(tc, test_trusted);
	tcase_add_test(tc, test_dump);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
