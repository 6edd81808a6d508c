/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for lib/escape.c: control characters made harmless, cut short never mid-escape. */
#include <check.h>
#include "escape.h"
#include "util.h"

static const struct {
	const char *in, *out;
} escapes[] = {
	{ "", "" },
	{ "vweb1", "vweb1" },
	{ "a\nb", "a\\x0ab" },
	{ "\x1b[2J", "\\x1b[2J" },
	{ "x\x7f", "x\\x7f" },
	{ "c1 \xc2\x9b" "31m", "c1 \\x9b31m" },
	/* Other UTF-8 passes: "é", a lone 0xc2 at the end. */
	{ "caf\xc3\xa9 \xc2", "caf\xc3\xa9 \xc2" },
};

START_TEST(test_escape)
{
	_cleanup_free_ char *e = zt_escape(escapes[_i].in);
	char small[4];
	size_t n;

	ck_assert_str_eq(e, escapes[_i].out);
	n = zt_escape_to(small, sizeof(small), escapes[_i].in);
	ck_assert_uint_eq(n, strlen(escapes[_i].out));
	/* Cut short: a prefix, never half an escape. */
	ck_assert_uint_lt(strlen(small), sizeof(small));
	ck_assert(strncmp(small, escapes[_i].out, strlen(small)) == 0);
	ck_assert_ptr_null(strchr(small, '\\') && strlen(small) - (size_t)(strchr(small, '\\') - small) < 4
				  ? small : NULL);
}
END_TEST

static Suite *escape_suite(void)
{
	Suite *s = suite_create("escape");
	TCase *tc = tcase_create("escape");

	tcase_add_loop_test(tc, test_escape, 0, ELEMENTSOF(escapes));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(escape_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
