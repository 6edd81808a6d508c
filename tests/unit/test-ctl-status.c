/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctl-status.c: the status document as JSON and as the
 * text ztsegctl prints from whatever JSON arrives.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include "ctl-proto.h"
#include "ctl-status.h"

static void status_sample(struct zt_diags *d, json_t **ret)
{
	static const char *const ifs[] = { "vweb1", "vweb\x1b[31m2" };
	struct zt_ifpat pat = { .name = "vweb", .wildcard = true };
	struct zt_cidr stat, r1;
	struct zt_status_routed routed;
	struct zt_ref from = { .name = "internet" }, to = { .name = "web.front" };
	struct zt_port ports[2];
	const char *err;

	ck_assert_int_eq(zt_cidr_parse("198.51.100.0/26", &stat, &err), 0);
	ck_assert_int_eq(zt_cidr_parse("198.51.100.5/32", &r1, &err), 0);
	routed = (struct zt_status_routed){ .addr = r1, .ifname = "vweb1" };
	ck_assert_int_eq(zt_port_parse("tcp/80", &ports[0], &err), 0);
	ck_assert_int_eq(zt_port_parse("tcp/443", &ports[1], &err), 0);
	struct zt_status_segment segs[] = {
		{ .name = "web", .patterns = &pat, .n_patterns = 1, .interfaces = ifs,
		  .n_interfaces = 2, .addrs = &stat, .n_addrs = 1, .routed = &routed,
		  .n_routed = 1 },
		{ .name = "app" },
	};
	struct zt_status_flow flows[] = {
		{ .name = "public-web", .from = &from, .n_from = 1, .to = &to, .n_to = 1,
		  .ports = ports, .n_ports = 2, .pos = { "ztseg.yaml", 12, 7 },
		  .have_counters = true, .packets = 12, .bytes = 3456 },
		{ .name = "primary->replica", .segment = "db", .from = &from, .n_from = 1,
		  .to = &to, .n_to = 1, .pos = { "segments.d/db.yaml", 9, 9 } },
	};
	struct zt_status_counter drops[] = {
		{ "default", 5, 300 },
		{ "spoof", 2, 120 },
	};
	struct zt_status st = {
		.state = ZT_DAEMON_DEGRADED,
		.pid = 4321,
		.version = "0.1.0",
		.config_dir = "/etc/ztseg",
		.started_usec = 1795900000000000ull,
		.generation = 3,
		.last_apply_usec = 1795900000123456ull,
		.last_apply_duration_usec = 12345,
		.last_error = "segments.d/web.yaml:7:14: unknown zone 'ap'",
		.diags = d,
		.events = { .rtnl_overruns = 1, .resyncs = 1, .spoofed = 2, .tamper = 3 },
		.segments = segs,
		.n_segments = ELEMENTSOF(segs),
		.flows = flows,
		.n_flows = ELEMENTSOF(flows),
		.drops = drops,
		.n_drops = ELEMENTSOF(drops),
	};

	ck_assert_int_eq(zt_status_build(&st, ret), 0);
}

START_TEST(test_status_json)
{
	_cleanup_json_ json_t *st = NULL, *back = NULL;
	_cleanup_free_ char *text = NULL;
	struct zt_diags d = {};
	json_t *seg, *fl, *drops, *ev;
	json_error_t jerr;

	zt_diag_error(&d, "segments.d/web.yaml", 7, 14, "unknown zone 'ap'");
	zt_diag_warning(&d, NULL, 0, 0, "interface vweb1 is a bridge port");
	status_sample(&d, &st);
	/* Through text and back, as ztsegctl receives it. */
	text = json_dumps(st, JSON_COMPACT);
	back = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(back);

	ck_assert(json_is_object(json_object_get(back, "daemon")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "daemon"),
							   "state")), "degraded");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "daemon"),
							   "started")), "2026-11-28T21:06:40.000Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(back, "policy"),
							    "generation")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "policy"),
							   "last_apply")), "2026-11-28T21:06:40.123Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(back, "policy"),
							    "last_apply_duration_usec")), 12345);
	ck_assert(json_is_string(json_object_get(json_object_get(back, "policy"), "last_error")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(back,
			 "policy"), "errors"), 0)), "segments.d/web.yaml:7:14: unknown zone 'ap'");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(back, "warnings"), 0)),
			 "interface vweb1 is a bridge port");

	ev = json_object_get(back, "events");
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "rtnetlink_overruns")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "resyncs")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "spoofed")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "tamper")), 3);

	ck_assert(json_is_array(json_object_get(back, "segments")));
	ck_assert_uint_eq(json_array_size(json_object_get(back, "segments")), 2);
	seg = json_array_get(json_object_get(back, "segments"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(seg, "name")), "web");
	ck_assert_uint_eq(json_array_size(json_object_get(seg, "interfaces")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(seg, "patterns"), 0)),
			 "vweb*");
	ck_assert_uint_eq(json_array_size(json_object_get(seg, "addresses")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(seg,
			 "static_addresses"), 0)), "198.51.100.0/26");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(seg,
			 "routed_addresses"), 0), "address")), "198.51.100.5/32");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(seg,
			 "routed_addresses"), 0), "interface")), "vweb1");
	seg = json_array_get(json_object_get(back, "segments"), 1);
	ck_assert(json_is_array(json_object_get(seg, "interfaces")));
	ck_assert(json_is_array(json_object_get(seg, "addresses")));

	ck_assert(json_is_array(json_object_get(back, "flows")));
	fl = json_array_get(json_object_get(back, "flows"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(fl, "name")), "public-web");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "from"), 0)),
			 "internet");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "to"), 0)),
			 "web.front");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "ports"), 1)),
			 "tcp/443");
	ck_assert_int_eq(json_integer_value(json_object_get(fl, "packets")), 12);
	ck_assert_int_eq(json_integer_value(json_object_get(fl, "bytes")), 3456);
	ck_assert_str_eq(json_string_value(json_object_get(fl, "source")), "ztseg.yaml:12");
	ck_assert(json_is_null(json_object_get(fl, "segment")));
	fl = json_array_get(json_object_get(back, "flows"), 1);
	ck_assert(json_is_null(json_object_get(fl, "packets")));
	ck_assert_str_eq(json_string_value(json_object_get(fl, "segment")), "db");

	drops = json_object_get(back, "drops");
	ck_assert(json_is_object(drops));
	ck_assert_int_eq(json_integer_value(json_object_get(drops, "packets")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(drops, "bytes")), 420);
	ck_assert_uint_eq(json_array_size(json_object_get(drops, "reasons")), 2);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_status_empty)
{
	struct zt_status st = { .state = ZT_DAEMON_STARTING };
	_cleanup_json_ json_t *j = NULL;

	ck_assert_int_eq(zt_status_build(&st, &j), 0);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "policy"), "last_apply")));
	ck_assert(json_is_null(json_object_get(json_object_get(j, "policy"), "last_error")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "segments")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "flows")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "drops"),
							    "packets")), 0);
}
END_TEST

static char *format_to_string(const json_t *j, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	*rc = zt_status_format(j, f);
	fclose(f);
	return out;
}

START_TEST(test_status_table)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *out = NULL;
	struct zt_diags d = {};
	int rc;

	zt_diag_warning(&d, NULL, 0, 0, "interface vweb1 is a bridge port");
	status_sample(&d, &st);
	out = format_to_string(st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ztsegd:     degraded, pid 4321"));
	ck_assert_ptr_nonnull(strstr(out, "generation 3, applied 2026-11-28T21:06:40.123Z "
					  "(took 12.3 ms)"));
	ck_assert_ptr_nonnull(strstr(out, "1 rtnetlink overruns, 1 resyncs"));
	ck_assert_ptr_nonnull(strstr(out, "SEGMENT"));
	ck_assert_ptr_nonnull(strstr(out, "198.51.100.5/32  routed via vweb1"));
	ck_assert_ptr_nonnull(strstr(out, "198.51.100.0/26  static"));
	ck_assert_ptr_nonnull(strstr(out, "app      -                no members"));
	/* An interface name with an escape sequence is printed harmless. */
	ck_assert_ptr_nonnull(strstr(out, "vweb\\x1b[31m2"));
	ck_assert_ptr_null(strchr(out, '\x1b'));
	ck_assert_ptr_nonnull(strstr(out, "public-web"));
	ck_assert_ptr_nonnull(strstr(out, "tcp/80,tcp/443"));
	ck_assert_ptr_nonnull(strstr(out, "ztseg.yaml:12"));
	ck_assert_ptr_nonnull(strstr(out, "db/primary->replica"));
	ck_assert_ptr_nonnull(strstr(out, "total"));
	ck_assert_ptr_nonnull(strstr(out, "warnings:\n  interface vweb1 is a bridge port"));
	zt_diags_clear(&d);
}
END_TEST

/* The grants ztsegd adds to status: one row each, with the grant's own packets and bytes. */
START_TEST(test_status_grants)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *out = NULL;
	struct zt_diags d = {};
	int rc;

	status_sample(&d, &st);
	ck_assert_int_eq(json_object_set_new(st, "grants",
		json_pack("[{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:i}]", "id", 7, "template", "admin-ssh", "source",
			  "203.0.113.10", "to", "*", "user", "alice", "expires", "2026-12-06T14:05:00Z", "packets",
			  412, "bytes", 61337)), 0);
	out = format_to_string(st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "GRANT  TEMPLATE   SOURCE        TO  USER   EXPIRES               PACKETS  BYTES"));
	ck_assert_ptr_nonnull(strstr(out, "7      admin-ssh  203.0.113.10  *   alice  2026-12-06T14:05:00Z      412  61337"));
	zt_diags_clear(&d);
}
END_TEST

/*
 * A bridge: segment's port (issue 15): each claimed address with where it
 * came from (the first claim on the wire, or a pre-pin from a static FDB
 * entry and a permanent neighbour entry); a port without claims shows its
 * addresses (none: "-").
 */
START_TEST(test_status_bridge_claims)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *out = NULL;
	struct zt_diags d = {};
	int rc;

	status_sample(&d, &st);
	ck_assert_int_eq(json_object_set_new(st, "bridge_ports",
		json_pack("[{s:s, s:s, s:s, s:s, s:s, s:[s, s], s:[{s:s, s:s}, {s:s, s:s}], s:[]},"
			  " {s:s, s:s, s:s, s:[], s:[], s:[]}]",
			  "port", "veth3f2a9c1", "bridge", "docker0", "classification", "member", "segment", "web",
			  "mac", "02:00:00:00:00:07", "addresses", "198.51.100.10", "2001:db8:1::a", "claimed",
			  "address", "198.51.100.10", "from", "fdb", "address", "2001:db8:1::a", "from", "claim",
			  "learned",
			  "port", "veth91b07de", "bridge", "docker0", "classification", "unclaimed", "addresses",
			  "claimed", "learned")), 0);
	out = format_to_string(st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "198.51.100.10 (fdb) 2001:db8:1::a (claim)"));
	ck_assert_ptr_nonnull(strstr(out, "(no address claimed yet)"));
	zt_diags_clear(&d);
}
END_TEST

/* The learned baselines ztsegd adds to status: a summary line and one row per open episode. */
START_TEST(test_status_anomaly)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *out = NULL;
	struct zt_diags d = {};
	int rc;

	status_sample(&d, &st);
	ck_assert_int_eq(json_object_set_new(st, "anomaly",
		json_pack("{s:i, s:i, s:i, s:i, s:[{s:s, s:f, s:f, s:s, s:s}]}", "series", 2, "open", 1, "opened", 3,
			  "samples", 900, "episodes", "flow", "web-in", "baseline", 10.0, "peak", 236.5, "action",
			  "rate-limit: 16 new connections/second per source", "top_sources", "203.0.113.21 (244)")), 0);
	out = format_to_string(st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "learned baselines: 2 flows watched, 1 episodes open, 3 opened since start, 900 samples"));
	ck_assert_ptr_nonnull(strstr(out, "web-in        10.00  236.50  rate-limit: 16 new connections/second per source  203.0.113.21 (244)"));
	zt_diags_clear(&d);
}
END_TEST

/* Whatever arrives, the formatter prints something and does not crash. */
static const char *const odd_status[] = {
	"{}",
	"{\"daemon\":5,\"policy\":[],\"events\":null}",
	"{\"segments\":5,\"flows\":\"x\",\"drops\":[]}",
	("{\"segments\":[1,null,{\"name\":7,\"interfaces\":[1,{}]}],"
	 "\"flows\":[1,{\"from\":[1],\"ports\":{}}]}"),
	"{\"drops\":{\"reasons\":[{\"name\":null},3]},\"warnings\":[1,\"w\"]}",
	"{\"grants\":[1,null,{\"id\":\"x\",\"packets\":{}},{\"template\":\"\\u001b[31m\"}]}",
	"{\"grants\":{}}",
	"{\"anomaly\":{\"series\":\"x\",\"episodes\":[1,null,{\"flow\":{},\"baseline\":\"y\"}]}}",
	"{\"anomaly\":[]}",
};

START_TEST(test_status_table_odd)
{
	json_error_t jerr;
	_cleanup_json_ json_t *j = json_loads(odd_status[_i], 0, &jerr);
	_cleanup_free_ char *out = NULL;
	int rc;

	ck_assert_ptr_nonnull(j);
	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ztsegd:"));
}
END_TEST

START_TEST(test_status_table_not_object)
{
	_cleanup_json_ json_t *j = json_array();
	_cleanup_free_ char *out = NULL;
	int rc;

	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, -EBADMSG);
}
END_TEST

/* The trial, foreign untracking chains, refused connections. */
START_TEST(test_status_trial_untracked)
{
	struct zt_status_confirm cf = { .generation = 9, .deadline_usec = 1795000000000000ull, .seconds_left = 2,
					.uid = 0, .pid = 77 };
	struct zt_status_untrack ut[] = {
		{ .family = "ip", .table = "other", .chain = "pre", .via = "pre", .hook = "prerouting", .priority = -400 },
	};
	struct zt_status st = { .state = ZT_DAEMON_RUNNING, .confirm = &cf, .untrack = ut, .n_untrack = 1,
				.untrack_known = true, .ctl_refused = 5 };
	_cleanup_json_ json_t *j = NULL, *j2 = NULL;
	_cleanup_free_ char *out = NULL, *out2 = NULL;
	const json_t *c, *u;
	int rc;

	ck_assert_int_eq(zt_status_build(&st, &j), 0);
	c = json_object_get(j, "confirmation");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "generation")), 9);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "seconds_left")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(c, "deadline")), "2026-11-18T11:06:40.000Z");
	u = json_array_get(json_object_get(j, "untracked"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(u, "table")), "other");
	ck_assert_int_eq(json_integer_value(json_object_get(u, "priority")), -400);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "control"), "refused")), 5);
	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "confirm:    generation 9 is on trial: it rolls back at "
					  "2026-11-18T11:06:40.000Z (in 2 s) unless ztsegctl confirm comes first"));
	ck_assert_ptr_nonnull(strstr(out, "foreign tables untrack traffic on ztseg's hooks"));
	ck_assert_ptr_nonnull(strstr(out, "table ip other  pre    prerouting      -400  pre"));
	/* Nothing on trial, the ruleset not readable. */
	st.confirm = NULL;
	st.untrack_known = false;
	ck_assert_int_eq(zt_status_build(&st, &j2), 0);
	ck_assert(json_is_null(json_object_get(j2, "confirmation")));
	ck_assert(json_is_null(json_object_get(j2, "untracked")));
	out2 = format_to_string(j2, &rc);
	ck_assert_ptr_null(strstr(out2, "confirm:"));
	ck_assert_ptr_nonnull(strstr(out2, "foreign tables: not known"));
}
END_TEST

static Suite *ctl_status_suite(void)
{
	Suite *s = suite_create("ctl-status");
	TCase *tc;

	tc = tcase_create("status");
	tcase_add_test(tc, test_status_json);
	tcase_add_test(tc, test_status_empty);
	tcase_add_test(tc, test_status_table);
	tcase_add_loop_test(tc, test_status_table_odd, 0, ELEMENTSOF(odd_status));
	tcase_add_test(tc, test_status_table_not_object);
	tcase_add_test(tc, test_status_trial_untracked);
	tcase_add_test(tc, test_status_grants);
	tcase_add_test(tc, test_status_anomaly);
	tcase_add_test(tc, test_status_bridge_claims);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_status_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
