/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last-known-good: the applied policy's files as one bundle in the state
 * directory, written atomically and read back with the same distrust as
 * the policy directory itself.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include "apply.h"
#include "lkg.h"

#define NAME_MAX_LEN 255
/* A file header line: "file", a length, a name. */
#define HDR_MAX (5 + 21 + NAME_MAX_LEN + 2)

int zt_lkg_encode(const struct zt_source *src, size_t n, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (n == 0 || !streq(src[0].name, ZT_HUB_FILE))
		return -EINVAL;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs(ZT_LKG_MAGIC, f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "file %zu %s\n", src[i].len, src[i].name);
		fwrite(src[i].buf, 1, src[i].len, f);
		fputc('\n', f);
	}
	fputs("end\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* A copy that keeps every byte (NULs too) and adds one. */
static char *memdup0(const char *p, size_t len)
{
	char *b = malloc(len + 1);

	if (b) {
		memcpy(b, p, len);
		b[len] = '\0';
	}
	return b;
}

static bool name_ok(const char *s, size_t len, bool hub)
{
	const size_t pl = strlen(ZT_SEGMENTS_DIR "/");

	if (hub)
		return len == strlen(ZT_HUB_FILE) && memcmp(s, ZT_HUB_FILE, len) == 0;
	if (len <= pl || len > NAME_MAX_LEN || memcmp(s, ZT_SEGMENTS_DIR "/", pl) != 0 || s[pl] == '.')
		return false;
	for (size_t i = pl; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			return false;
	return true;
}

int zt_lkg_decode(const char *buf, size_t len, const struct zt_limits *lim,
		  struct zt_policy_files *ret)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	struct zt_policy_files out = {};
	size_t off = strlen(ZT_LKG_MAGIC), cap = 0, total = 0;
	int r = -EBADMSG;

	if (!lim)
		lim = &dflt;
	if (len < off || memcmp(buf, ZT_LKG_MAGIC, off) != 0)
		return -EBADMSG;
	for (;;) {
		const char *line = buf + off, *nl, *sp, *name;
		size_t ll, flen = 0, nlen;

		nl = memchr(line, '\n', len - off < HDR_MAX ? len - off : HDR_MAX);
		if (!nl)
			goto fail;
		ll = (size_t)(nl - line);
		if (ll == 3 && memcmp(line, "end", 3) == 0) {
			/* Nothing may follow the end, and there must be a hub file. */
			if (off + 4 != len || out.n == 0)
				goto fail;
			break;
		}
		if (ll < 7 || memcmp(line, "file ", 5) != 0)
			goto fail;
		sp = memchr(line + 5, ' ', ll - 5);
		if (!sp || sp == line + 5 || sp - (line + 5) > 20)
			goto fail;
		for (const char *p = line + 5; p < sp; p++) {
			if (*p < '0' || *p > '9')
				goto fail;
			if (flen > (SIZE_MAX - 9) / 10)
				goto fail;
			flen = flen * 10 + (size_t)(*p - '0');
		}
		name = sp + 1;
		nlen = (size_t)(nl - name);
		if (!name_ok(name, nlen, out.n == 0))
			goto fail;
		if (flen > lim->max_file_size || flen > lim->max_total_size - total ||
		    out.n > lim->max_files) {
			r = -EFBIG;
			goto fail;
		}
		off += ll + 1;
		if (len - off < flen + 1 || buf[off + flen] != '\n')
			goto fail;
		if (ZT_GROW(out.src, cap, out.n + 1) < 0) {
			r = -ENOMEM;
			goto fail;
		}
		out.src[out.n].name = zt_strndup(name, nlen);
		out.src[out.n].buf = memdup0(buf + off, flen);
		out.src[out.n].len = flen;
		out.n++;
		if (!out.src[out.n - 1].name || !out.src[out.n - 1].buf) {
			r = -ENOMEM;
			goto fail;
		}
		/* Segment files in the order the directory reader gives them. */
		if (out.n > 2 && strcmp(out.src[out.n - 2].name, out.src[out.n - 1].name) >= 0)
			goto fail;
		total += flen;
		off += flen + 1;
	}
	*ret = out;
	return 0;
fail:
	zt_policy_files_clear(&out);
	return r;
}

int zt_lkg_save(const char *dir, const struct zt_source *src, size_t n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = zt_lkg_encode(src, n, &buf, &len);
	if (r < 0)
		return r;
	return zt_write_atomic(dir, ZT_LKG_FILE, buf, len);
}

/*
 * Read DIR/NAME with the distrust the policy directory gets: not following
 * links, a regular file of root or owner_uid that nobody else can write,
 * at most max bytes, read whole. -ENOENT when there is none.
 */
static int state_read(const char *dir, const char *name, size_t max, uid_t owner_uid, char **ret,
		      size_t *ret_len)
{
	_cleanup_close_ int dfd = -EBADF, fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t got = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != owner_uid) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	if ((uintmax_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (got <= (size_t)st.st_size) {
		ssize_t k = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	/* It changed under us: a writer does not do that (it renames). */
	if (got != (size_t)st.st_size)
		return -EBADMSG;
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	return 0;
}

/* The bundle's own lines on top of the files' bytes. */
static size_t bundle_max(const struct zt_limits *lim)
{
	return lim->max_total_size + (lim->max_files + 2) * (size_t)HDR_MAX + 64;
}

int zt_lkg_load(const char *dir, const struct zt_limits *lim, uid_t owner_uid,
		struct zt_policy_files *ret)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (!lim)
		lim = &dflt;
	r = state_read(dir, ZT_LKG_FILE, bundle_max(lim), owner_uid, &buf, &len);
	if (r < 0)
		return r;
	return zt_lkg_decode(buf, len, lim, ret);
}

/* ---- a reload awaiting confirmation, and one rolled back ---- */

int zt_policy_digest(const struct zt_source *src, size_t n, uint8_t out[ZT_DIGEST_LEN])
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = zt_lkg_encode(src, n, &buf, &len);
	if (r < 0)
		return r;
	zt_sha256(buf, len, out);
	return 0;
}

static void hex_put(FILE *f, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", v[i]);
}

/* "KEY VALUE\n" at buf+*off, VALUE a decimal without sign or leading zeros. */
static bool dec_line(const char *buf, size_t len, size_t *off, const char *key, uint64_t *ret)
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

static bool hex_line(const char *buf, size_t len, size_t *off, const char *key, uint8_t out[ZT_DIGEST_LEN])
{
	size_t kl = strlen(key), at = *off + kl + 1;

	if (len - *off < kl + 1 + 2 * ZT_DIGEST_LEN + 1 || memcmp(buf + *off, key, kl) != 0 ||
	    buf[*off + kl] != ' ' || buf[at + 2 * ZT_DIGEST_LEN] != '\n')
		return false;
	for (size_t i = 0; i < ZT_DIGEST_LEN; i++) {
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
	*off = at + 2 * ZT_DIGEST_LEN + 1;
	return true;
}

void zt_pending_clear(struct zt_pending *p)
{
	zt_policy_files_clear(&p->prev);
	*p = (struct zt_pending){};
}

int zt_pending_encode(const struct zt_pending *p, const struct zt_source *prev, size_t n, char **ret,
		      size_t *ret_len)
{
	_cleanup_free_ char *bundle = NULL;
	char *buf = NULL;
	size_t blen, len = 0;
	FILE *f;
	int r;

	r = zt_lkg_encode(prev, n, &bundle, &blen);
	if (r < 0)
		return r;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, ZT_PENDING_MAGIC "deadline %" PRIu64 "\ngeneration %" PRIu64 "\nuid %u\ntrial ",
		p->deadline_usec, p->generation, (unsigned)p->uid);
	hex_put(f, p->trial, sizeof(p->trial));
	fputc('\n', f);
	fwrite(bundle, 1, blen, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int zt_pending_decode(const char *buf, size_t len, const struct zt_limits *lim, struct zt_pending *ret)
{
	struct zt_pending p = {};
	size_t off = strlen(ZT_PENDING_MAGIC);
	uint64_t uid;
	int r;

	if (len < off || memcmp(buf, ZT_PENDING_MAGIC, off) != 0 ||
	    !dec_line(buf, len, &off, "deadline", &p.deadline_usec) ||
	    !dec_line(buf, len, &off, "generation", &p.generation) ||
	    !dec_line(buf, len, &off, "uid", &uid) || uid > UINT32_MAX ||
	    !hex_line(buf, len, &off, "trial", p.trial))
		return -EBADMSG;
	p.uid = (uid_t)uid;
	r = zt_lkg_decode(buf + off, len - off, lim, &p.prev);
	if (r < 0)
		return r;
	*ret = p;
	return 0;
}

int zt_pending_save(const char *dir, const struct zt_pending *p, const struct zt_source *prev, size_t n)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = zt_pending_encode(p, prev, n, &buf, &len);
	if (r < 0)
		return r;
	return zt_write_atomic(dir, ZT_PENDING_FILE, buf, len);
}

int zt_pending_load(const char *dir, const struct zt_limits *lim, uid_t owner_uid, struct zt_pending *ret)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (!lim)
		lim = &dflt;
	r = state_read(dir, ZT_PENDING_FILE, bundle_max(lim) + 256, owner_uid, &buf, &len);
	if (r < 0)
		return r;
	return zt_pending_decode(buf, len, lim, ret);
}

int zt_rolled_back_save(const char *dir, const uint8_t digest[ZT_DIGEST_LEN], uint64_t at_usec)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	fprintf(f, ZT_ROLLED_BACK_MAGIC "at %" PRIu64 "\ntrial ", at_usec);
	hex_put(f, digest, ZT_DIGEST_LEN);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = zt_write_atomic(dir, ZT_ROLLED_BACK_FILE, buf, len);
	free(buf);
	return r;
}

int zt_rolled_back_load(const char *dir, uid_t owner_uid, uint8_t digest[ZT_DIGEST_LEN], uint64_t *ret_at)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, off = strlen(ZT_ROLLED_BACK_MAGIC);
	uint64_t at;
	int r;

	r = state_read(dir, ZT_ROLLED_BACK_FILE, 256, owner_uid, &buf, &len);
	if (r < 0)
		return r;
	if (len < off || memcmp(buf, ZT_ROLLED_BACK_MAGIC, off) != 0 || !dec_line(buf, len, &off, "at", &at) ||
	    !hex_line(buf, len, &off, "trial", digest) || off != len)
		return -EBADMSG;
	*ret_at = at;
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
