/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/flowrec.c: a record's JSON (keys, nulls, escaping
 * through jansson), its text line, reader filters, --since, the ring and
 * the per-reader frame queue (bounds, losses, the slot kept for notices).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "flowrec.h"

static struct zt_flowrec rec(enum zt_flowrec_event ev, const char *verdict, const char *from, const char *to,
			     const char *flow)
{
	struct zt_flowrec r = { .seq = 7, .time_usec = 1767225600123456ull, .event = ev, .family = AF_INET,
				.proto = IPPROTO_TCP, .has_ports = true, .sport = 40000, .dport = 8080 };

	snprintf(r.verdict, sizeof(r.verdict), "%s", verdict);
	snprintf(r.from, sizeof(r.from), "%s", from);
	snprintf(r.to, sizeof(r.to), "%s", to);
	snprintf(r.flow, sizeof(r.flow), "%s", flow);
	inet_pton(AF_INET, "198.51.100.2", r.saddr);
	inet_pton(AF_INET, "198.51.100.130", r.daddr);
	return r;
}

START_TEST(test_json_open)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_OPEN, "allow", "web", "app", "web-app");
	json_t *j = zt_flowrec_json(&r);
	char *s;

	ck_assert_ptr_nonnull(j);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	ck_assert_str_eq(s, "{\"time\":\"2026-01-01T00:00:00.123456Z\",\"seq\":7,\"event\":\"open\",\"verdict\":\"allow\","
			    "\"family\":\"ipv4\",\"proto\":\"tcp\",\"src\":\"198.51.100.2\",\"dst\":\"198.51.100.130\","
			    "\"sport\":40000,\"dport\":8080,\"from\":\"web\",\"to\":\"app\",\"flow\":\"web-app\"}");
	free(s);
	json_decref(j);
}
END_TEST

START_TEST(test_json_close_deny_v6)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_CLOSE, "allow", "web.front", "app", "web-app");
	json_t *j;

	r.has_counters = true;
	r.packets[0] = 5;
	r.packets[1] = 4;
	r.bytes[0] = 300;
	r.bytes[1] = 18446744073709551615ull >> 1;
	j = zt_flowrec_json(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "packets_orig")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "packets_reply")), 4);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "bytes_orig")), 300);
	ck_assert(json_integer_value(json_object_get(j, "bytes_reply")) == (json_int_t)(18446744073709551615ull >> 1));
	ck_assert_str_eq(json_string_value(json_object_get(j, "event")), "close");
	json_decref(j);

	/* A deny without a flow: flow is null, not "". ICMPv6 has a type, no ports. */
	r = rec(ZT_FLOWREC_DENY, "deny", "", "app", "");
	r.family = AF_INET6;
	r.proto = IPPROTO_ICMPV6;
	r.has_ports = false;
	r.has_icmp = true;
	r.icmp_type = 128;
	inet_pton(AF_INET6, "2001:db8::1", r.saddr);
	inet_pton(AF_INET6, "2001:db8::2", r.daddr);
	j = zt_flowrec_json(&r);
	ck_assert(json_is_null(json_object_get(j, "flow")));
	ck_assert(json_is_null(json_object_get(j, "from")));
	ck_assert_ptr_null(json_object_get(j, "sport"));
	ck_assert_ptr_null(json_object_get(j, "packets_orig"));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "icmp_type")), 128);
	ck_assert_str_eq(json_string_value(json_object_get(j, "proto")), "icmpv6");
	ck_assert_str_eq(json_string_value(json_object_get(j, "family")), "ipv6");
	ck_assert_str_eq(json_string_value(json_object_get(j, "src")), "2001:db8::1");
	json_decref(j);
}
END_TEST

/* Names with quotes, backslashes and control bytes come out as valid, escaped JSON. */
START_TEST(test_json_escaping)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_OPEN, "allow", "we\"b", "a\\pp", "x\ny\x01");
	json_t *j = zt_flowrec_json(&r), *back;
	char *s = json_dumps(j, JSON_COMPACT);
	json_error_t err;

	ck_assert_ptr_nonnull(strstr(s, "\"from\":\"we\\\"b\""));
	ck_assert_ptr_nonnull(strstr(s, "\"to\":\"a\\\\pp\""));
	ck_assert_ptr_nonnull(strstr(s, "\"flow\":\"x\\ny\\u0001\""));
	ck_assert_ptr_null(strchr(s, '\n'));
	back = json_loads(s, 0, &err);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(json_string_value(json_object_get(back, "flow")), "x\ny\x01");
	json_decref(back);
	free(s);
	json_decref(j);
}
END_TEST

START_TEST(test_text)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_CLOSE, "allow", "web", "app", "web-app");
	char b[512];

	r.has_counters = true;
	r.packets[0] = 5;
	r.packets[1] = 4;
	r.bytes[0] = 300;
	r.bytes[1] = 280;
	ck_assert_int_gt(zt_flowrec_text(&r, b, sizeof(b)), 0);
	ck_assert_str_eq(b, "2026-01-01T00:00:00.123456Z allow close tcp 198.51.100.2:40000 -> 198.51.100.130:8080 "
			    "web -> app flow web-app packets 5/4 bytes 300/280");
	r = rec(ZT_FLOWREC_DENY, "deny", "", "", "");
	r.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", r.saddr);
	inet_pton(AF_INET6, "2001:db8::2", r.daddr);
	zt_flowrec_text(&r, b, sizeof(b));
	ck_assert_str_eq(b, "2026-01-01T00:00:00.123456Z deny deny tcp [2001:db8::1]:40000 -> [2001:db8::2]:8080 "
			    "? -> ? default");
	/* A short buffer is cut, never overrun. */
	ck_assert_int_gt(zt_flowrec_text(&r, b, 10), 9);
	ck_assert_uint_eq(strlen(b), 9);
}
END_TEST

static const struct {
	const char *zone, *flow, *verdict;
	uint64_t since;
	bool want;
} match_cases[] = {
	{ "", "", "", 0, true },
	{ "web", "", "", 0, true },			/* a segment matches its subnets */
	{ "web.front", "", "", 0, true },
	{ "web.back", "", "", 0, false },
	{ "we", "", "", 0, false },			/* no prefix match of names */
	{ "app", "", "", 0, true },			/* either side */
	{ "", "web-app", "", 0, true },
	{ "", "default", "", 0, false },
	{ "", "", "allow", 0, true },
	{ "", "", "deny", 0, false },
	{ "", "", "", 1767225600123456ull, true },	/* at the time: included */
	{ "", "", "", 1767225600123457ull, false },
	{ "web", "web-app", "allow", 1, true },
	{ "db", "web-app", "allow", 1, false },
};

START_TEST(test_match)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_OPEN, "allow", "web.front", "app", "web-app");
	struct zt_flowrec_filter f = {};

	snprintf(f.zone, sizeof(f.zone), "%s", match_cases[_i].zone);
	snprintf(f.flow, sizeof(f.flow), "%s", match_cases[_i].flow);
	snprintf(f.verdict, sizeof(f.verdict), "%s", match_cases[_i].verdict);
	f.since_usec = match_cases[_i].since;
	ck_assert_msg(zt_flowrec_match(&f, &r) == match_cases[_i].want, "case %d", _i);
}
END_TEST

START_TEST(test_match_default)
{
	struct zt_flowrec r = rec(ZT_FLOWREC_DENY, "deny", "web", "app", "");
	struct zt_flowrec_filter f = { .flow = "default" };

	ck_assert(zt_flowrec_match(&f, &r));
	snprintf(f.flow, sizeof(f.flow), "web-app");
	ck_assert(!zt_flowrec_match(&f, &r));
}
END_TEST

START_TEST(test_filter_json)
{
	struct zt_flowrec_filter f, g;
	const char *why = NULL;
	json_t *a = json_pack("{s:s, s:s, s:s, s:I, s:b}", "zone", "web", "flow", "web-app", "verdict", "deny",
			      "since", (json_int_t)42, "follow", 1), *b;

	ck_assert_int_eq(zt_flowrec_filter_from_json(a, &f, &why), 0);
	ck_assert_str_eq(f.zone, "web");
	ck_assert_uint_eq(f.since_usec, 42);
	json_object_del(a, "follow");
	b = zt_flowrec_filter_json(&f);
	ck_assert(json_equal(a, b));
	ck_assert_int_eq(zt_flowrec_filter_from_json(b, &g, &why), 0);
	ck_assert_int_eq(memcmp(&f, &g, sizeof(f)), 0);
	json_decref(a);
	json_decref(b);
	/* Hostile arguments: unknown keys, wrong types, oversize and blank-bearing strings. */
	{
		const char *bad[] = { "{\"zones\": \"web\"}", "{\"zone\": 1}", "{\"since\": -1}", "{\"since\": \"1\"}",
				      "{\"verdict\": \"a b\"}", "{\"flow\": \"x\\ny\"}", NULL };

		for (size_t i = 0; bad[i]; i++) {
			json_t *v = json_loads(bad[i], 0, NULL);

			ck_assert_msg(zt_flowrec_filter_from_json(v, &f, &why) == -EINVAL, "%s", bad[i]);
			json_decref(v);
		}
	}
	{
		char big[200];
		json_t *v;

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		v = json_pack("{s:s}", "zone", big);
		ck_assert_int_eq(zt_flowrec_filter_from_json(v, &f, &why), -EINVAL);
		ck_assert_str_eq(why, "zone");
		json_decref(v);
	}
}
END_TEST

static const struct {
	const char *s;
	int r;
	uint64_t want;
} since_cases[] = {
	{ "30s", 0, 1000000000000000ull - 30000000ull },
	{ "30", 0, 1000000000000000ull - 30000000ull },
	{ "5m", 0, 1000000000000000ull - 300000000ull },
	{ "2h", 0, 1000000000000000ull - 7200000000ull },
	{ "1d", 0, 1000000000000000ull - 86400000000ull },
	{ "@1700000000", 0, 1700000000000000ull },
	{ "2026-01-01T00:00:00Z", 0, 1767225600000000ull },
	{ "9999999d", 0, 0 },		/* before the epoch: from the start */
	{ "", -EINVAL, 0 },
	{ "x", -EINVAL, 0 },
	{ "5y", -EINVAL, 0 },
	{ "-5m", -EINVAL, 0 },
	{ "@", -EINVAL, 0 },
	{ "@-1", -EINVAL, 0 },
	{ "@99999999999999999999", -EINVAL, 0 },
	{ "2026-13-01T00:00:00Z", -EINVAL, 0 },
	{ "2026-01-01 00:00:00Z", -EINVAL, 0 },
	{ "18446744073709551615d", -EINVAL, 0 },
};

START_TEST(test_since)
{
	uint64_t v = 12345;
	int r = zt_flowrec_since_parse(since_cases[_i].s, 1000000000000000ull, &v);

	ck_assert_msg(r == since_cases[_i].r, "'%s': %d", since_cases[_i].s, r);
	if (r == 0)
		ck_assert_msg(v == since_cases[_i].want, "'%s': %llu", since_cases[_i].s, (unsigned long long)v);
}
END_TEST

START_TEST(test_ring)
{
	struct zt_flowring ring;
	struct zt_flowrec r = rec(ZT_FLOWREC_OPEN, "allow", "web", "app", "f");

	ck_assert_int_eq(zt_flowring_init(&ring, 4), 0);
	ck_assert_ptr_null(zt_flowring_at(&ring, 0));
	for (uint64_t i = 1; i <= 10; i++) {
		r.seq = i;
		zt_flowring_push(&ring, &r);
		ck_assert_uint_eq(ring.n, i < 4 ? i : 4);
		/* The oldest kept is the 4th newest; order is oldest first. */
		ck_assert_uint_eq(zt_flowring_at(&ring, 0)->seq, i <= 4 ? 1 : i - 3);
		ck_assert_uint_eq(zt_flowring_at(&ring, ring.n - 1)->seq, i);
	}
	ck_assert_ptr_null(zt_flowring_at(&ring, 4));
	zt_flowring_clear(&ring);
	ck_assert_int_eq(zt_flowring_init(&ring, 0), -ENOMEM);
}
END_TEST

START_TEST(test_frameq)
{
	struct zt_frameq q;
	struct zt_frame *a = zt_frame_new("abc", 3), *b = zt_frame_new("de", 2), *n = zt_frame_new("N", 1), *f;
	size_t off;

	ck_assert_int_eq(zt_frameq_init(&q, 1), -EINVAL);
	ck_assert_int_eq(zt_frameq_init(&q, 3), 0);
	/* Records get cap - 1 slots; the last is kept for a notice. */
	ck_assert(zt_frameq_push(&q, a, false));
	ck_assert(zt_frameq_push(&q, b, false));
	ck_assert(!zt_frameq_push(&q, a, false));
	ck_assert(!zt_frameq_push(&q, b, false));
	ck_assert_uint_eq(q.lost, 2);
	ck_assert_uint_eq(q.lost_total, 2);
	ck_assert(zt_frameq_push(&q, n, true));
	ck_assert(!zt_frameq_push(&q, n, true));	/* a full queue takes no notice either, and loses none */
	ck_assert_uint_eq(q.lost, 2);
	ck_assert_uint_eq(a->refs, 2);
	/* Written in parts: the head stays until all of it is out. */
	f = zt_frameq_head(&q, &off);
	ck_assert_ptr_eq(f, a);
	ck_assert_uint_eq(off, 0);
	zt_frameq_advance(&q, 2);
	f = zt_frameq_head(&q, &off);
	ck_assert_ptr_eq(f, a);
	ck_assert_uint_eq(off, 2);
	zt_frameq_advance(&q, 1);
	ck_assert_uint_eq(a->refs, 1);
	ck_assert_ptr_eq(zt_frameq_head(&q, &off), b);
	ck_assert_uint_eq(off, 0);
	/* Wrapping around, once b is out. */
	ck_assert(!zt_frameq_push(&q, a, false));
	zt_frameq_advance(&q, 2);
	ck_assert(zt_frameq_push(&q, a, false));
	ck_assert_ptr_eq(zt_frameq_head(&q, &off), n);
	zt_frameq_advance(&q, 1);
	ck_assert_ptr_eq(zt_frameq_head(&q, &off), a);
	zt_frameq_advance(&q, 3);
	ck_assert_ptr_null(zt_frameq_head(&q, &off));
	zt_frameq_advance(&q, 3);	/* on an empty queue: nothing */
	/* One write across frames: the whole ones go, the rest of the last stays. */
	ck_assert(zt_frameq_push(&q, a, false));
	ck_assert(zt_frameq_push(&q, b, false));
	ck_assert_ptr_eq(zt_frameq_at(&q, 1), b);
	ck_assert_ptr_null(zt_frameq_at(&q, 2));
	zt_frameq_advance(&q, 4);
	ck_assert_ptr_eq(zt_frameq_head(&q, &off), b);
	ck_assert_uint_eq(off, 1);
	zt_frameq_advance(&q, 100);	/* more than is queued: all of it, no further */
	ck_assert_ptr_null(zt_frameq_head(&q, &off));
	ck_assert_uint_eq(q.n, 0);
	/* Cleared with frames inside: their references go. */
	zt_frameq_push(&q, b, false);
	zt_frameq_clear(&q);
	ck_assert_uint_eq(b->refs, 1);
	zt_frame_unref(a);
	zt_frame_unref(b);
	zt_frame_unref(n);
	ck_assert_ptr_null(zt_frame_unref(NULL));
}
END_TEST

static Suite *flowrec_suite(void)
{
	Suite *s = suite_create("flowrec");
	TCase *tc = tcase_create("records");

	tcase_add_test(tc, test_json_open);
	tcase_add_test(tc, test_json_close_deny_v6);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("filters");
	tcase_add_loop_test(tc, test_match, 0, sizeof(match_cases) / sizeof(match_cases[0]));
	tcase_add_test(tc, test_match_default);
	tcase_add_test(tc, test_filter_json);
	tcase_add_loop_test(tc, test_since, 0, sizeof(since_cases) / sizeof(since_cases[0]));
	suite_add_tcase(s, tc);
	tc = tcase_create("queues");
	tcase_add_test(tc, test_ring);
	tcase_add_test(tc, test_frameq);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(flowrec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
