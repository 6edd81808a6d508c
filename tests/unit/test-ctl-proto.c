/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for lib/ctl-proto.c: frame encoding and the replies a client must refuse. */
#include "ctl-fixture.h"

START_TEST(test_frame_encode_limit)
{
	_cleanup_json_ json_t *o = json_pack("{s:s}", "k", "0123456789");
	_cleanup_free_ char *buf = NULL;
	size_t len;

	ck_assert_int_eq(zt_ctl_frame_encode(o, 10, &buf, &len), -EMSGSIZE);
	ck_assert_int_eq(zt_ctl_frame_encode(o, 100, &buf, &len), 0);
	ck_assert_uint_eq(len, 4 + strlen("{\"k\":\"0123456789\"}"));
	ck_assert_int_eq(buf[3], (char)(len - 4));
	ck_assert(memcmp(buf + 4, "{\"k\":\"0123456789\"}", len - 4) == 0);
}
END_TEST

/* Replies a client must refuse. */
static const struct {
	const char *json;
	int rc;
	const char *err;
} bad_replies[] = {
	{ "{\"version\":1,\"ok\":true,\"result\":{}}", 0, NULL },
	{ "{\"version\":1,\"ok\":false,\"errors\":[\"a:1:2: x\"]}", -EREMOTEIO, "a:1:2: x" },
	{ "{\"version\":1,\"ok\":false,\"errors\":[]}", -EREMOTEIO, "without saying why" },
	{ "{\"version\":1,\"ok\":false,\"errors\":[7]}", -EREMOTEIO, "(malformed error)" },
	{ "{\"version\":1,\"ok\":true}", -EBADMSG, "'result' is not an object" },
	{ "{\"version\":1,\"ok\":false}", -EBADMSG, "'errors' is not an array" },
	{ "{\"ok\":true,\"result\":{}}", -EBADMSG, "no 'version' or 'ok'" },
	{ "{\"version\":1,\"ok\":1,\"result\":{}}", -EBADMSG, "no 'version' or 'ok'" },
	{ "[]", -EBADMSG, "not a JSON object" },
	{ "{", -EBADMSG, "malformed reply" },
};

START_TEST(test_reply_decode)
{
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	const char *j = bad_replies[_i].json;

	ck_assert_int_eq(zt_ctl_reply_decode(j, strlen(j), &res, &d), bad_replies[_i].rc);
	if (bad_replies[_i].err)
		ck_assert_msg(diags_have(&d, bad_replies[_i].err), "got '%s'",
			      d.n ? d.v[0].msg : "(none)");
	else
		ck_assert(json_is_object(res));
	zt_diags_clear(&d);
}
END_TEST

static Suite *ctl_proto_suite(void)
{
	Suite *s = suite_create("ctl-proto");
	TCase *tc;

	tc = tcase_create("framing");
	tcase_add_test(tc, test_frame_encode_limit);
	tcase_add_loop_test(tc, test_reply_decode, 0, ELEMENTSOF(bad_replies));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
