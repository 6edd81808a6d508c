/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last-known-good: the applied policy's files as one bundle in the state
 * directory, written atomically and read back with the same distrust as
 * the policy directory itself.
 */
#include <inttypes.h>
#include <stdio.h>
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
	r = zt_state_read(dir, ZT_LKG_FILE, bundle_max(lim), owner_uid, &buf, &len, NULL);
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
	zt_state_hex_put(f, p->trial, sizeof(p->trial));
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
	    !zt_state_dec_line(buf, len, &off, "deadline", &p.deadline_usec) ||
	    !zt_state_dec_line(buf, len, &off, "generation", &p.generation) ||
	    !zt_state_dec_line(buf, len, &off, "uid", &uid) || uid > UINT32_MAX ||
	    !zt_state_hex_line(buf, len, &off, "trial", p.trial, ZT_DIGEST_LEN))
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
	r = zt_state_read(dir, ZT_PENDING_FILE, bundle_max(lim) + 256, owner_uid, &buf, &len, NULL);
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
	zt_state_hex_put(f, digest, ZT_DIGEST_LEN);
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

	r = zt_state_read(dir, ZT_ROLLED_BACK_FILE, 256, owner_uid, &buf, &len, NULL);
	if (r < 0)
		return r;
	if (len < off || memcmp(buf, ZT_ROLLED_BACK_MAGIC, off) != 0 || !zt_state_dec_line(buf, len, &off, "at", &at) ||
	    !zt_state_hex_line(buf, len, &off, "trial", digest, ZT_DIGEST_LEN) || off != len)
		return -EBADMSG;
	*ret_at = at;
	return 0;
}
