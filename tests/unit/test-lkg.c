/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/lkg.c: the last-known-good bundle round trip, malformed
 * and oversized bundles, and the atomic save and distrustful load.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "lkg.h"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/zt-lkg-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static const struct zt_source sources[] = {
	{ "ztseg.yaml", "version: 1\nhub: {}\n", 20 },
	{ "segments.d/a.yaml", "segments: {}\n", 13 },
	/* Bytes a bundle must keep as they are: no newline at the end, a NUL inside. */
	{ "segments.d/b.yaml", "x\0y", 3 },
};

START_TEST(test_roundtrip)
{
	_cleanup_free_ char *buf = NULL;
	struct zt_policy_files f = {};
	size_t len;

	ck_assert_int_eq(zt_lkg_encode(sources, ELEMENTSOF(sources), &buf, &len), 0);
	ck_assert_int_eq(zt_lkg_decode(buf, len, NULL, &f), 0);
	ck_assert_uint_eq(f.n, ELEMENTSOF(sources));
	for (size_t i = 0; i < f.n; i++) {
		ck_assert_str_eq(f.src[i].name, sources[i].name);
		ck_assert_uint_eq(f.src[i].len, sources[i].len);
		ck_assert_mem_eq(f.src[i].buf, sources[i].buf, sources[i].len);
	}
	zt_policy_files_clear(&f);
}
END_TEST

/* Each malformed bundle and what decoding it must say. */
static const struct {
	const char *text;
	int err;
} bad[] = {
	{ "", -EBADMSG },
	{ "ztseg last-known-good 2\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "end\n", -EBADMSG },				/* no hub file */
	{ ZT_LKG_MAGIC "file 2 segments.d/a.yaml\nab\nend\n", -EBADMSG },	/* hub first */
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\n", -EBADMSG },		/* no end */
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\nend\nx", -EBADMSG },	/* trailing bytes */
	{ ZT_LKG_MAGIC "file 3 ztseg.yaml\nab\nend\n", -EBADMSG },	/* length past the data */
	{ ZT_LKG_MAGIC "file 99999999999999999999999 ztseg.yaml\nab\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file -1 ztseg.yaml\nab\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\nfile 0 segments.d/../x\n\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\nfile 0 segments.d/.x\n\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\nfile 0 segments.d/b\n\nfile 0 segments.d/a\n\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file 2 ztseg.yaml\nab\nfile 0 other/a\n\nend\n", -EBADMSG },
	{ ZT_LKG_MAGIC "file 2000000 ztseg.yaml\n", -EFBIG },		/* over max_file_size */
};

START_TEST(test_bad)
{
	struct zt_policy_files f = {};

	ck_assert_int_eq(zt_lkg_decode(bad[_i].text, strlen(bad[_i].text), NULL, &f), bad[_i].err);
	ck_assert_ptr_null(f.src);
}
END_TEST

START_TEST(test_save_load)
{
	char path[128];
	struct stat st;
	struct zt_policy_files f = {};

	ck_assert_int_eq(zt_lkg_load(tmpdir, NULL, getuid(), &f), -ENOENT);
	ck_assert_int_eq(zt_lkg_save(tmpdir, sources, 2), 0);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, ZT_LKG_FILE);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* A second save replaces the first whole. */
	ck_assert_int_eq(zt_lkg_save(tmpdir, sources, 3), 0);
	ck_assert_int_eq(zt_lkg_load(tmpdir, NULL, getuid(), &f), 0);
	ck_assert_uint_eq(f.n, 3);
	zt_policy_files_clear(&f);

	/* Writable by others: not believed. */
	ck_assert_int_eq(chmod(path, 0622), 0);
	ck_assert_int_eq(zt_lkg_load(tmpdir, NULL, getuid(), &f), -EPERM);
	ck_assert_int_eq(chmod(path, 0600), 0);
	/* A symbolic link: not followed. */
	ck_assert_int_eq(rename(path, "/tmp/zt-lkg-moved"), 0);
	ck_assert_int_eq(symlink("/tmp/zt-lkg-moved", path), 0);
	ck_assert_int_eq(zt_lkg_load(tmpdir, NULL, getuid(), &f), -EPERM);
	unlink("/tmp/zt-lkg-moved");
}
END_TEST

START_TEST(test_save_creates_dir)
{
	char dir[128];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/state", tmpdir);
	ck_assert_int_eq(zt_lkg_save(dir, sources, 1), 0);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	/* No hub file first: refused before anything is written. */
	ck_assert_int_eq(zt_lkg_save(dir, &sources[1], 1), -EINVAL);
}
END_TEST

/* ---- the trial's record: pending-confirm, rolled-back ---- */

START_TEST(test_pending_roundtrip)
{
	struct zt_pending p = { .deadline_usec = 1790000000123456ull, .generation = 7, .uid = 65534 }, q = {};
	_cleanup_free_ char *buf = NULL;
	size_t len;

	for (size_t i = 0; i < sizeof(p.trial); i++)
		p.trial[i] = (uint8_t)(i * 37 + 1);
	ck_assert_int_eq(zt_pending_encode(&p, sources, ELEMENTSOF(sources), &buf, &len), 0);
	ck_assert_int_eq(zt_pending_decode(buf, len, NULL, &q), 0);
	ck_assert(q.deadline_usec == p.deadline_usec);
	ck_assert(q.generation == 7);
	ck_assert_uint_eq(q.uid, 65534);
	ck_assert_mem_eq(q.trial, p.trial, sizeof(p.trial));
	ck_assert_uint_eq(q.prev.n, ELEMENTSOF(sources));
	ck_assert_mem_eq(q.prev.src[2].buf, "x\0y", 3);
	zt_pending_clear(&q);
	/* Every prefix of a good record is a bad one; so is any flipped byte in the header. */
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_lt(zt_pending_decode(buf, cut, NULL, &q), 0);
	for (size_t at = 0; at < 150 && at < len; at++) {
		char c = buf[at];

		buf[at] = buf[at] == '\n' ? ' ' : '\n';
		ck_assert_msg(zt_pending_decode(buf, len, NULL, &q) < 0, "byte %zu changed, still decoded", at);
		buf[at] = c;
	}
}
END_TEST

static const char *const bad_pending[] = {
	"ztseg pending-confirm 1\ndeadline 01\ngeneration 1\nuid 0\ntrial ",
	"ztseg pending-confirm 1\ndeadline 99999999999999999999\ngeneration 1\nuid 0\n",
	"ztseg pending-confirm 1\ndeadline -1\ngeneration 1\nuid 0\n",
	"ztseg pending-confirm 1\ndeadline 1\ngeneration 1\nuid 4294967296\n",
	"ztseg pending-confirm 2\n",
	"",
};

START_TEST(test_pending_bad)
{
	struct zt_pending q = {};
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "%s%s", bad_pending[_i],
			 "0000000000000000000000000000000000000000000000000000000000000000\n"
			 ZT_LKG_MAGIC "file 3 ztseg.yaml\nabc\nend\n");

	ck_assert_int_eq(zt_pending_decode(buf, (size_t)n, NULL, &q), -EBADMSG);
}
END_TEST

START_TEST(test_pending_files)
{
	struct zt_pending p = { .deadline_usec = 5, .generation = 2 }, q = {};
	uint8_t d1[ZT_DIGEST_LEN], d2[ZT_DIGEST_LEN], got[ZT_DIGEST_LEN];
	uint64_t at = 0;
	char path[128];

	ck_assert_int_eq(zt_pending_load(tmpdir, NULL, getuid(), &q), -ENOENT);
	ck_assert_int_eq(zt_pending_save(tmpdir, &p, sources, 2), 0);
	ck_assert_int_eq(zt_pending_load(tmpdir, NULL, getuid(), &q), 0);
	ck_assert_uint_eq(q.prev.n, 2);
	zt_pending_clear(&q);
	/* Writable by others: not trusted. */
	snprintf(path, sizeof(path), "%s/%s", tmpdir, ZT_PENDING_FILE);
	ck_assert_int_eq(chmod(path, 0622), 0);
	ck_assert_int_eq(zt_pending_load(tmpdir, NULL, getuid(), &q), -EPERM);
	ck_assert_int_eq(zt_state_remove(tmpdir, ZT_PENDING_FILE), 1);
	ck_assert_int_eq(zt_state_remove(tmpdir, ZT_PENDING_FILE), 0);
	/* A link in its place is refused, not followed. */
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_int_eq(zt_pending_load(tmpdir, NULL, getuid(), &q), -EPERM);
	unlink(path);

	/* The digest: the files' names and bytes, nothing else. */
	ck_assert_int_eq(zt_policy_digest(sources, 2, d1), 0);
	ck_assert_int_eq(zt_policy_digest(sources, 3, d2), 0);
	ck_assert(memcmp(d1, d2, sizeof(d1)) != 0);
	ck_assert_int_eq(zt_rolled_back_load(tmpdir, getuid(), got, &at), -ENOENT);
	ck_assert_int_eq(zt_rolled_back_save(tmpdir, d1, 1234), 0);
	ck_assert_int_eq(zt_rolled_back_load(tmpdir, getuid(), got, &at), 0);
	ck_assert_mem_eq(got, d1, sizeof(d1));
	ck_assert(at == 1234);
	/* Trailing bytes: not ours. */
	snprintf(path, sizeof(path), "%s/%s", tmpdir, ZT_ROLLED_BACK_FILE);
	{
		FILE *f = fopen(path, "a");

		ck_assert_ptr_nonnull(f);
		fputs("x", f);
		fclose(f);
	}
	ck_assert_int_eq(zt_rolled_back_load(tmpdir, getuid(), got, &at), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lkg");
	TCase *tc = tcase_create("bundle");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_roundtrip);
	tcase_add_loop_test(tc, test_bad, 0, ELEMENTSOF(bad));
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_save_load);
	tcase_add_test(tc, test_save_creates_dir);
	tcase_add_test(tc, test_pending_files);
	suite_add_tcase(s, tc);
	tc = tcase_create("pending");
	tcase_add_test(tc, test_pending_roundtrip);
	tcase_add_loop_test(tc, test_pending_bad, 0, ELEMENTSOF(bad_pending));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
