/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/metrics.c: label escaping, families and samples as the
 * Prometheus text format wants them, histograms (cumulative buckets, +Inf,
 * sum and count), growth of the buffer.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

static const struct {
	const char *in, *out;
} esc_cases[] = {
	{ "web", "web" },
	{ "a\"b", "a\\\"b" },
	{ "a\\b", "a\\\\b" },
	{ "a\nb", "a\\nb" },
	{ "\"\\\n", "\\\"\\\\\\n" },
	{ "tab\there", "tab\there" },		/* only \\ \" \n are escaped */
	{ "", "" },
};

START_TEST(test_escape)
{
	char b[64];

	ck_assert_str_eq(zt_metrics_escape(esc_cases[_i].in, b, sizeof(b)), esc_cases[_i].out);
}
END_TEST

START_TEST(test_escape_short)
{
	char b[6];

	/* Never a half escape at the end, always terminated. */
	ck_assert_str_eq(zt_metrics_escape("ab\"\"\"\"", b, sizeof(b)), "ab\\\"");
	ck_assert_str_eq(zt_metrics_escape("abcdefgh", b, sizeof(b)), "abc");
}
END_TEST

START_TEST(test_samples)
{
	struct zt_metrics m = {};
	struct zt_label l[] = { { "flow", "web \"app\"" }, { "from", "web\\x" }, { "to", "a\nb" } };

	zt_metrics_family(&m, "ztseg_flow_packets_total", "counter", "Packets\\of\nflows.");
	zt_metrics_sample_u64(&m, "ztseg_flow_packets_total", l, 3, 18446744073709551615ull);
	zt_metrics_sample_u64(&m, "ztseg_flow_packets_total", NULL, 0, 0);
	zt_metrics_sample(&m, "ztseg_x", NULL, 0, 0.25);
	zt_metrics_sample(&m, "ztseg_x", NULL, 0, INFINITY);
	zt_metrics_sample(&m, "ztseg_x", NULL, 0, NAN);
	zt_metrics_sample(&m, "ztseg_x", &l[0], 1, 1767225600.5);
	ck_assert(!m.oom);
	ck_assert_str_eq(m.buf, "# HELP ztseg_flow_packets_total Packets\\\\of\\nflows.\n"
				"# TYPE ztseg_flow_packets_total counter\n"
				"ztseg_flow_packets_total{flow=\"web \\\"app\\\"\",from=\"web\\\\x\",to=\"a\\nb\"} "
				"18446744073709551615\n"
				"ztseg_flow_packets_total 0\n"
				"ztseg_x 0.25\n"
				"ztseg_x +Inf\n"
				"ztseg_x NaN\n"
				"ztseg_x{flow=\"web \\\"app\\\"\"} 1767225600.5\n");
	ck_assert_uint_eq(m.len, strlen(m.buf));
	zt_metrics_clear(&m);
	ck_assert_ptr_null(m.buf);
}
END_TEST

START_TEST(test_growth)
{
	struct zt_metrics m = {};
	char name[64];

	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "ztseg_m%d", i);
		zt_metrics_sample_u64(&m, name, NULL, 0, (uint64_t)i);
	}
	ck_assert(!m.oom);
	ck_assert_uint_eq(m.len, strlen(m.buf));
	ck_assert_ptr_nonnull(strstr(m.buf, "\nztseg_m4999 4999\n"));
	ck_assert(strncmp(m.buf, "ztseg_m0 0\nztseg_m1 1\n", 22) == 0);
	zt_metrics_clear(&m);
}
END_TEST

START_TEST(test_histogram)
{
	static const double bounds[] = { 0.01, 0.1, 1 };
	struct zt_histogram h;
	struct zt_metrics m = {};

	zt_histogram_init(&h, bounds, 3);
	zt_histogram_observe(&h, 0.005);
	zt_histogram_observe(&h, 0.01);	/* le: on the bound counts in it */
	zt_histogram_observe(&h, 0.5);
	zt_histogram_observe(&h, 7);
	zt_metrics_histogram(&m, "ztseg_apply_duration_seconds", &h);
	ck_assert_str_eq(m.buf, "ztseg_apply_duration_seconds_bucket{le=\"0.01\"} 2\n"
				"ztseg_apply_duration_seconds_bucket{le=\"0.1\"} 2\n"
				"ztseg_apply_duration_seconds_bucket{le=\"1\"} 3\n"
				"ztseg_apply_duration_seconds_bucket{le=\"+Inf\"} 4\n"
				"ztseg_apply_duration_seconds_sum 7.5149999999999997\n"
				"ztseg_apply_duration_seconds_count 4\n");
	zt_metrics_clear(&m);
	/* The shipped bounds ascend and fit. */
	ck_assert_uint_le(zt_histo_duration_n, ZT_HISTO_MAX_BUCKETS);
	for (size_t i = 1; i < zt_histo_duration_n; i++)
		ck_assert(zt_histo_duration_bounds[i] > zt_histo_duration_bounds[i - 1]);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("text");

	tcase_add_loop_test(tc, test_escape, 0, sizeof(esc_cases) / sizeof(esc_cases[0]));
	tcase_add_test(tc, test_escape_short);
	tcase_add_test(tc, test_samples);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_histogram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
