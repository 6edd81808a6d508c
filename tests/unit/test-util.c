/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lib/util.c: array growth. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include "util.h"

/* Whatever zt_grow() adds is zeroed, and index n always fits. */
START_TEST(test_grow_fits_zeroed)
{
	uint32_t *v = NULL;
	size_t cap = 0;

	for (size_t n = 0; n < 300000; n++) {
		ck_assert_int_eq(ZT_GROW(v, cap, n), 0);
		ck_assert_uint_gt(cap, n);
		ck_assert_uint_eq(v[n], 0);
		v[n] = (uint32_t)n + 1;
	}
	for (size_t n = 0; n < 300000; n++)
		ck_assert_uint_eq(v[n], n + 1);
	free(v);
}
END_TEST

/*
 * Small arrays double; past 1 MiB they grow by a quarter, so a large
 * array never holds much more than it needs (the daemon's batch records).
 */
START_TEST(test_grow_steps)
{
	uint64_t *v = NULL;
	size_t cap = 0, prev;

	ck_assert_int_eq(ZT_GROW(v, cap, 0), 0);
	ck_assert_uint_eq(cap, 4);
	ck_assert_int_eq(ZT_GROW(v, cap, 4), 0);
	ck_assert_uint_eq(cap, 8);
	/* 2^17 elements of 8 bytes: 1 MiB */
	ck_assert_int_eq(ZT_GROW(v, cap, ((size_t)1 << 17) - 1), 0);
	ck_assert_uint_eq(cap, (size_t)1 << 17);
	for (int i = 0; i < 6; i++) {
		prev = cap;
		ck_assert_int_eq(ZT_GROW(v, cap, cap), 0);
		ck_assert_uint_eq(cap, prev + prev / 4);
	}
	free(v);
}
END_TEST

/* A size that cannot be had fails cleanly and leaves the array as it was. */
START_TEST(test_grow_overflow)
{
	char (*v)[1 << 20] = NULL;
	size_t cap = 0;

	ck_assert_int_eq(ZT_GROW(v, cap, 3), 0);
	ck_assert_uint_eq(cap, 4);
	ck_assert_int_eq(ZT_GROW(v, cap, SIZE_MAX / 2), -ENOMEM);
	ck_assert_uint_eq(cap, 4);
	ck_assert_ptr_nonnull(v);
	free(v);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("grow");

	tcase_add_test(tc, test_grow_fits_zeroed);
	tcase_add_test(tc, test_grow_steps);
	tcase_add_test(tc, test_grow_overflow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
