/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for the digest lib/apply.c records of an applied plan
 * (--oneshot's STATE_DIR/applied): SHA-256 against the FIPS 180-4 examples
 * and coreutils' sha256sum at every padding boundary, and the apply paths'
 * names that ztsegd prints. The diff paths themselves need a kernel:
 * tests/netns/reload.sh.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include "apply.h"

static void hex(const uint8_t d[ZT_APPLY_DIGEST_LEN], char out[2 * ZT_APPLY_DIGEST_LEN + 1])
{
	for (size_t i = 0; i < ZT_APPLY_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static const struct {
	const char *text;	/* NULL: len times 'x' */
	size_t len;
	const char *sha;
} vectors[] = {
	{ "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	/* Lengths around the 55/56-byte padding boundary and whole blocks. */
	{ NULL, 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072" },
	{ NULL, 63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2" },
	{ NULL, 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c" },
	{ NULL, 65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9" },
	{ NULL, 119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c" },
	{ NULL, 120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98" },
	{ NULL, 128, "24da1b81d0b16df6428eee73c69fcb2a93c76bc6df706f0c6670fe6bfe800464" },
};

START_TEST(test_sha256_vectors)
{
	uint8_t d[ZT_APPLY_DIGEST_LEN];
	char buf[256], got[2 * ZT_APPLY_DIGEST_LEN + 1];
	const char *in = vectors[_i].text;

	if (!in) {
		ck_assert_uint_le(vectors[_i].len, sizeof(buf));
		memset(buf, 'x', vectors[_i].len);
		in = buf;
	}
	zt_sha256(in, vectors[_i].len, d);
	hex(d, got);
	ck_assert_str_eq(got, vectors[_i].sha);
}
END_TEST

START_TEST(test_sha256_million)
{
	static char a[1000000];
	uint8_t d[ZT_APPLY_DIGEST_LEN];
	char got[2 * ZT_APPLY_DIGEST_LEN + 1];

	memset(a, 'a', sizeof(a));
	zt_sha256(a, sizeof(a), d);
	hex(d, got);
	ck_assert_str_eq(got, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* One bit anywhere changes the digest: what the unchanged-policy shortcut relies on. */
START_TEST(test_sha256_one_bit)
{
	uint8_t buf[300], a[ZT_APPLY_DIGEST_LEN], b[ZT_APPLY_DIGEST_LEN];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	zt_sha256(buf, sizeof(buf), a);
	for (size_t i = 0; i < sizeof(buf); i += 37) {
		buf[i] ^= 1;
		zt_sha256(buf, sizeof(buf), b);
		ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
		buf[i] ^= 1;
	}
	zt_sha256(buf, sizeof(buf), b);
	ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
	/* Nor is a prefix the same as the whole. */
	zt_sha256(buf, sizeof(buf) - 1, b);
	ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

START_TEST(test_path_names)
{
	ck_assert_str_eq(zt_apply_path_name(ZT_APPLY_FULL), "full");
	ck_assert_str_eq(zt_apply_path_name(ZT_APPLY_DUMP), "table read back");
	ck_assert_str_eq(zt_apply_path_name(ZT_APPLY_PLAN), "previous plan");
	ck_assert_str_eq(zt_apply_path_name(ZT_APPLY_DIGEST), "digest");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("apply-digest");
	TCase *tc = tcase_create("sha256");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_sha256_vectors, 0, (int)(sizeof(vectors) / sizeof(vectors[0])));
	tcase_add_test(tc, test_sha256_million);
	tcase_add_test(tc, test_sha256_one_bit);
	tcase_add_test(tc, test_path_names);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
