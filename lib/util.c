/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Array growth, string helpers, atomic state files. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void zt_prefault(void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), b = ((uintptr_t)p + page - 1) & ~(page - 1),
		  e = ((uintptr_t)p + len) & ~(page - 1);

	if (!p || len < (1u << 20) || e <= b)
		return;
	/* The pages wholly inside the block; a failure only leaves them to fault. */
	(void)madvise((void *)b, e - b, MADV_POPULATE_WRITE);
}

int zt_grow(void **array, size_t *cap, size_t n, size_t elem_size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap : 4;
	/*
	 * Double, but by a quarter once the array passes 1 MiB: what is added
	 * is zeroed (so resident), and a full apply's arrays reach tens of MiB
	 * (a batch's message and element records). Large blocks are
	 * mremap()ed, not copied, so the extra steps are cheap.
	 */
	while (ncap <= n) {
		size_t step = ncap >= 4 && ncap >= ((size_t)1 << 20) / elem_size ? ncap / 4 : ncap;

		if (ncap > SIZE_MAX / elem_size - step)
			return -ENOMEM;
		ncap += step;
	}
	p = realloc(*array, ncap * elem_size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem_size, 0, (ncap - *cap) * elem_size);
	*array = p;
	*cap = ncap;
	return 0;
}

char *zt_strndup(const char *s, size_t n)
{
	char *r = malloc(n + 1);

	if (!r)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

int zt_write_atomic(const char *dir, const char *name, const void *data, size_t len)
{
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	const char *buf = data;
	char tmp[128];
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", name, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* The umask may have been wider than 0077: these files are nobody else's business. */
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	while (r >= 0 && len) {
		ssize_t k = write(fd, buf, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			r = -errno;
		else
			buf += k, len -= (size_t)k;
	}
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	fd = -EBADF;
	if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dfd, tmp, 0);
		return r;
	}
	/* The rename itself must survive a crash. */
	fsync(dfd);
	return 0;
}
