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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
