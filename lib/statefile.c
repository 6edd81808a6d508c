/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's state files, read back with the distrust the policy
 * directory gets, and the strict "KEY VALUE" lines of their formats.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include "statefile.h"

int zt_state_read(const char *dir, const char *name, size_t max, uid_t owner_uid, char **ret,
		  size_t *ret_len, const char **ret_why)
{
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	const char *why_dummy;
	const char **why = ret_why ? ret_why : &why_dummy;
	struct stat st;
	size_t got = 0;

	*why = NULL;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		*why = strerror(errno);
		return -errno;
	}
	/* O_NONBLOCK: a FIFO planted here must not hang the daemon; it is refused below. */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP) {
			*why = "a symbolic link";
			return -EPERM;
		}
		*why = strerror(errno);
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -EPERM;
	}
	if (st.st_uid != 0 && st.st_uid != owner_uid) {
		*why = "owned by another user";
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		*why = "writable by group or others";
		return -EPERM;
	}
	if ((uintmax_t)st.st_size > max) {
		*why = "too large";
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		*why = strerror(ENOMEM);
		return -ENOMEM;
	}
	/* One byte more than fstat said, to see a file that grew. */
	while (got <= (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got != (size_t)st.st_size) {
		*why = "changed while read";
		return -EBADMSG;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	return 0;
}

int zt_state_remove(const char *dir, const char *name)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	if (unlinkat(dfd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* The removal must survive a crash as the write it undoes would. */
	return fsync(dfd) < 0 ? -errno : 1;
}

bool zt_state_dec_line(const char *buf, size_t len, size_t *off, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key), i = *off + kl + 1, start = i;
	uint64_t x = 0;

	if (len - *off < kl + 3 || memcmp(buf + *off, key, kl) != 0 || buf[*off + kl] != ' ')
		return false;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9' && i - start < 20; i++) {
		if (x > (UINT64_MAX - (uint64_t)(buf[i] - '0')) / 10)
			return false;
		x = x * 10 + (uint64_t)(buf[i] - '0');
	}
	if (i == start || i >= len || buf[i] != '\n' || (i - start > 1 && buf[start] == '0'))
		return false;
	*off = i + 1;
	*ret = x;
	return true;
}

bool zt_state_hex_line(const char *buf, size_t len, size_t *off, const char *key, uint8_t *out,
		       size_t n)
{
	size_t kl = strlen(key), at = *off + kl + 1;

	if (len - *off < kl + 1 + 2 * n + 1 || memcmp(buf + *off, key, kl) != 0 ||
	    buf[*off + kl] != ' ' || buf[at + 2 * n] != '\n')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (size_t j = 0; j < 2; j++) {
			char c = buf[at + 2 * i + j];

			if (c >= '0' && c <= '9')
				v = v << 4 | (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (unsigned)(c - 'a' + 10);
			else
				return false;
		}
		out[i] = (uint8_t)v;
	}
	*off = at + 2 * n + 1;
	return true;
}

void zt_state_hex_put(FILE *f, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", v[i]);
}
