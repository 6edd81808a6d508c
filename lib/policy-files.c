/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading the policy directory: every file and directory is opened without
 * following links and checked for owner, mode and size before it is read.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include "policy.h"

struct pfile {
	char *name;		/* relative: "ztseg.yaml", "segments.d/db.yaml" */
	char *buf;
	size_t len;
};

struct reader {
	const char *dir;
	const struct zt_limits *lim;
	uid_t owner;
	struct zt_diags *d;
	size_t total;
	bool total_reported;
};

static int file_error(struct reader *rd, const char *name, const char *fmt, ...)
	_printf_(3, 4);

/* Line 0: the problem is the whole file, printed as "file: message". */
static int file_error(struct reader *rd, const char *name, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(rd->d, ZT_SEV_ERROR, name, 0, 0, fmt, ap);
	va_end(ap);
	return r;
}

static int take_fd(int *fd)
{
	int r = *fd;

	*fd = -EBADF;
	return r;
}

static const char *errstr(int e, char *buf, size_t len)
{
	/* GNU strerror_r: thread-safe and returns the message. */
	return strerror_r(e, buf, len);
}

/*
 * Whoever can write a policy file or its directory can open any path
 * through the firewall, so both must belong to root or the daemon's user
 * and be closed to group and others.
 */
static int check_owner_mode(struct reader *rd, const char *name, const char *rel,
			    const struct stat *st)
{
	int r = 0;

	if (st->st_uid != 0 && st->st_uid != rd->owner) {
		if (rd->owner)
			r = file_error(rd, name, "owned by uid %u; must be owned by root or uid %u",
				       (unsigned)st->st_uid, (unsigned)rd->owner);
		else
			r = file_error(rd, name, "owned by uid %u; must be owned by root",
				       (unsigned)st->st_uid);
		if (r != -EINVAL)
			return r;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		if (rel)
			r = file_error(rd, name,
				       "writable by group or others (mode %04o); run chmod go-w %s/%s",
				       (unsigned)(st->st_mode & 07777), rd->dir, rel);
		else
			r = file_error(rd, name,
				       "writable by group or others (mode %04o); run chmod go-w %s",
				       (unsigned)(st->st_mode & 07777), rd->dir);
	}
	return r;
}

/*
 * Open a directory (dirfd < 0: rd->dir itself) without following a link.
 * Returns the fd, -ENOENT when it does not exist and `optional`, or a
 * negative errno after reporting.
 */
static int open_dir(struct reader *rd, int dirfd, const char *rel, bool optional)
{
	const int flags = O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_RDONLY;
	const char *name = rel ? rel : rd->dir;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char ebuf[128];
	int r;

	fd = dirfd < 0 ? open(rd->dir, flags) : openat(dirfd, rel, flags);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT && optional)
			return -ENOENT;
		if (e == ENOENT)
			return file_error(rd, name, "no such directory");
		/* O_DIRECTORY reports a link as ENOTDIR; say which it is. */
		if (e == ELOOP || (e == ENOTDIR &&
				   !fstatat(dirfd < 0 ? AT_FDCWD : dirfd, name, &st,
					    AT_SYMLINK_NOFOLLOW) && S_ISLNK(st.st_mode)))
			return file_error(rd, name, "is a symbolic link; policy files are opened "
					  "without following links");
		if (e == ENOTDIR)
			return file_error(rd, name, "not a directory");
		return file_error(rd, name, "cannot open: %s", errstr(e, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0)
		return file_error(rd, name, "cannot stat: %s", errstr(errno, ebuf, sizeof(ebuf)));
	if ((r = check_owner_mode(rd, name, rel, &st)))
		return r;
	return take_fd(&fd);
}

/* Read to EOF; the size from fstat is only a hint, the file may change under us. */
static int read_fd(int fd, size_t hint, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t cap = (hint < max ? hint : max) + 1, len = 0;

	if (!(buf = malloc(cap + 1)))
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nb;

			if (ncap <= cap)
				return -EFBIG;
			if (!(nb = realloc(buf, ncap + 1)))
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += n;
		if (len > max)
			return -EFBIG;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

/* Open, check and read one policy file into f (f->name is set). */
static int read_file(struct reader *rd, int dirfd, const char *rel, const char *base,
		     struct pfile *f)
{
	/* O_NONBLOCK: opening a FIFO must not hang the daemon; it is refused below. */
	const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	const size_t max = rd->lim->max_file_size;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char ebuf[128];
	int r;

	fd = openat(dirfd, base, flags);
	if (fd < 0) {
		if (errno == ENOENT)
			return file_error(rd, f->name, "no such file");
		if (errno == ELOOP)
			return file_error(rd, f->name, "is a symbolic link; policy files are "
					  "opened without following links");
		return file_error(rd, f->name, "cannot open: %s", errstr(errno, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) < 0)
		return file_error(rd, f->name, "cannot stat: %s", errstr(errno, ebuf, sizeof(ebuf)));
	if (!S_ISREG(st.st_mode))
		return file_error(rd, f->name, "not a regular file");
	if ((r = check_owner_mode(rd, f->name, rel, &st)))
		return r;
	if ((uintmax_t)st.st_size > max)
		return file_error(rd, f->name, "file is %jd bytes, over the limit of %zu",
				  (intmax_t)st.st_size, max);
	if (rd->total_reported)
		return -EINVAL;
	if ((uintmax_t)st.st_size > rd->lim->max_total_size - rd->total)
		goto too_much;
	r = read_fd(fd, st.st_size, max, &f->buf, &f->len);
	if (r == -EFBIG)
		return file_error(rd, f->name, "file grew over the limit of %zu bytes while "
				  "being read", max);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return file_error(rd, f->name, "read failed: %s", errstr(-r, ebuf, sizeof(ebuf)));
	if (f->len > rd->lim->max_total_size - rd->total)
		goto too_much;
	rd->total += f->len;
	return 0;

too_much:
	rd->total_reported = true;
	return file_error(rd, f->name, "the policy files add up to more than %zu bytes, "
			  "the limit", rd->lim->max_total_size);
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_policy_name(const char *s)
{
	size_t len = strlen(s);

	return s[0] != '.' && len > 5 && streq(s + len - 5, ".yaml");
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The *.yaml names in segments.d, sorted with strcmp. */
static int list_segment_files(struct reader *rd, int segfd, char ***ret, size_t *ret_n)
{
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	char ebuf[128];
	DIR *dp;
	int fd, r = 0;

	if ((fd = fcntl(segfd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	if (!(dp = fdopendir(fd))) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		errno = 0;
		if (!(de = readdir(dp))) {
			if (errno)
				r = file_error(rd, ZT_SEGMENTS_DIR, "cannot list: %s",
					       errstr(errno, ebuf, sizeof(ebuf)));
			break;
		}
		if (!is_policy_name(de->d_name))
			continue;
		if (n >= rd->lim->max_files) {
			r = file_error(rd, ZT_SEGMENTS_DIR, "more than %zu policy files, the limit",
				       rd->lim->max_files);
			break;
		}
		if (ZT_GROW(v, cap, n) < 0 || !(v[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dp);
	if (r < 0) {
		strv_free(v, n);
		return r;
	}
	if (n)
		qsort(v, n, sizeof(*v), strcmp_ptr);
	*ret = v;
	*ret_n = n;
	return 0;
}

static void pfiles_free(struct pfile *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].buf);
	}
	free(f);
}

/* Everything read; errors for what could not be are in d. */
static int read_all(struct reader *rd, struct pfile **ret, size_t *ret_n)
{
	_cleanup_close_ int dirfd = -EBADF, segfd = -EBADF;
	struct pfile *files = NULL;
	char **names = NULL;
	size_t n_names = 0;
	int r;

	if ((dirfd = open_dir(rd, -1, NULL, false)) < 0)
		return dirfd;
	segfd = open_dir(rd, dirfd, ZT_SEGMENTS_DIR, true);
	if (segfd < 0 && segfd != -ENOENT && segfd != -EINVAL)
		return segfd;
	if (segfd >= 0 && (r = list_segment_files(rd, segfd, &names, &n_names)) < 0 &&
	    r != -EINVAL)
		return r;
	if (!(files = calloc(n_names + 1, sizeof(*files)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= n_names; i++) {
		int fd = i ? segfd : dirfd;
		const char *base = i ? names[i - 1] : ZT_HUB_FILE;

		if (i)
			r = asprintf(&files[i].name, ZT_SEGMENTS_DIR "/%s", base);
		else
			r = (files[i].name = strdup(base)) ? 0 : -1;
		if (r < 0) {
			files[i].name = NULL;
			r = -ENOMEM;
			goto out;
		}
		r = read_file(rd, fd, files[i].name, base, &files[i]);
		if (r < 0 && r != -EINVAL)
			goto out;
	}
	r = 0;
out:
	strv_free(names, n_names);
	if (r < 0) {
		pfiles_free(files, files ? n_names + 1 : 0);
		return r;
	}
	*ret = files;
	*ret_n = n_names + 1;
	return 0;
}

int zt_policy_load_dir(const char *dir, const struct zt_limits *lim,
		       uid_t owner_uid, struct zt_policy **ret,
		       struct zt_diags *d)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	struct reader rd = { .dir = dir, .owner = owner_uid, .d = d };
	_cleanup_free_ struct zt_source *src = NULL;
	size_t errors = d->n_errors, n = 0;
	struct pfile *files = NULL;
	int r;

	rd.lim = lim ? lim : &dflt;
	r = read_all(&rd, &files, &n);
	if (r == 0 && d->n_errors > errors)
		r = -EINVAL;
	if (r == 0 && !(src = calloc(n, sizeof(*src))))
		r = -ENOMEM;
	if (r == 0) {
		for (size_t i = 0; i < n; i++)
			src[i] = (struct zt_source){ files[i].name, files[i].buf, files[i].len };
		r = zt_policy_load_sources(src, n, rd.lim, ret, d);
	}
	pfiles_free(files, n);
	return r;
}

int zt_policy_read_dir(const char *dir, const struct zt_limits *lim, uid_t owner_uid,
		       struct zt_policy_files *ret, struct zt_diags *d)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	struct reader rd = { .dir = dir, .owner = owner_uid, .d = d };
	size_t errors = d->n_errors, n = 0;
	struct pfile *files = NULL;
	struct zt_source *src;
	int r;

	rd.lim = lim ? lim : &dflt;
	r = read_all(&rd, &files, &n);
	if (r == 0 && d->n_errors > errors)
		r = -EINVAL;
	if (r < 0) {
		pfiles_free(files, n);
		return r;
	}
	src = calloc(n, sizeof(*src));
	if (!src) {
		pfiles_free(files, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		src[i] = (struct zt_source){ files[i].name, files[i].buf, files[i].len };
	/* The names and buffers move to src. */
	free(files);
	*ret = (struct zt_policy_files){ .src = src, .n = n };
	return 0;
}

void zt_policy_files_clear(struct zt_policy_files *f)
{
	for (size_t i = 0; f->src && i < f->n; i++) {
		free((char *)f->src[i].name);
		free((char *)f->src[i].buf);
	}
	free(f->src);
	*f = (struct zt_policy_files){};
}
