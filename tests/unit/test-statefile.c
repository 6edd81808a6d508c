/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/statefile.c: what the trusted state-file reader
 * refuses, and the words it says why in.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "statefile.h"

static char dir[] = "/tmp/ztstate-test.XXXXXX";

static void put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(test_read)
{
	_cleanup_free_ char *buf = NULL;
	const char *why = NULL;
	char path[256], link[256];
	size_t len = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(zt_state_read(dir, "none", 64, getuid(), &buf, &len, &why), -ENOENT);
	put("good", "at 1\n", 0600);
	ck_assert_int_eq(zt_state_read(dir, "good", 64, getuid(), &buf, &len, NULL), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(buf, "at 1\n", 5) == 0);
	ck_assert_int_eq(zt_state_read(dir, "good", 4, getuid(), &buf, &len, &why), -EFBIG);
	ck_assert_str_eq(why, "too large");
	put("shared", "at 1\n", 0620);
	ck_assert_int_eq(zt_state_read(dir, "shared", 64, getuid(), &buf, &len, &why), -EPERM);
	ck_assert_str_eq(why, "writable by group or others");
	snprintf(path, sizeof(path), "%s/good", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_eq(zt_state_read(dir, "link", 64, getuid(), &buf, &len, &why), -EPERM);
	ck_assert_str_eq(why, "a symbolic link");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(zt_state_read(dir, "fifo", 64, getuid(), &buf, &len, &why), -EPERM);
	ck_assert_str_eq(why, "not a regular file");
	if (getuid() != 0) {
		ck_assert_int_eq(zt_state_read(dir, "good", 64, getuid() + 1, &buf, &len, &why), -EPERM);
		ck_assert_str_eq(why, "owned by another user");
	}
	ck_assert_int_eq(zt_state_remove(dir, "good"), 1);
	ck_assert_int_eq(zt_state_remove(dir, "good"), 0);
	unlink(link);
	unlink(path);
	snprintf(path, sizeof(path), "%s/shared", dir);
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static const struct {
	const char *text;
	bool ok;
	uint64_t v;
} decs[] = {
	{ "at 0\n", true, 0 },
	{ "at 18446744073709551615\n", true, UINT64_MAX },
	{ "at 18446744073709551616\n", false, 0 },
	{ "at 01\n", false, 0 },
	{ "at -1\n", false, 0 },
	{ "at 1", false, 0 },
	{ "at \n", false, 0 },
	{ "as 1\n", false, 0 },
};

START_TEST(test_dec_line)
{
	size_t off = 0;
	uint64_t v = 0;

	ck_assert(zt_state_dec_line(decs[_i].text, strlen(decs[_i].text), &off, "at", &v) == decs[_i].ok);
	if (decs[_i].ok) {
		ck_assert(v == decs[_i].v);
		ck_assert_uint_eq(off, strlen(decs[_i].text));
	}
}
END_TEST

START_TEST(test_hex_line)
{
	const char *good = "trial 00ff7a\n";
	uint8_t out[3];
	size_t off = 0;

	ck_assert(zt_state_hex_line(good, strlen(good), &off, "trial", out, 3));
	ck_assert_uint_eq(off, strlen(good));
	ck_assert(out[0] == 0 && out[1] == 0xff && out[2] == 0x7a);
	off = 0;
	ck_assert(!zt_state_hex_line("trial 00FF7a\n", 13, &off, "trial", out, 3));
	ck_assert(!zt_state_hex_line("trial 00ff7\n", 12, &off, "trial", out, 3));
	ck_assert_uint_eq(off, 0);
}
END_TEST

static Suite *statefile_suite(void)
{
	Suite *s = suite_create("statefile");
	TCase *tc = tcase_create("statefile");

	tcase_add_test(tc, test_read);
	tcase_add_loop_test(tc, test_dec_line, 0, ELEMENTSOF(decs));
	tcase_add_test(tc, test_hex_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(statefile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
