/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A threat feed file, strictly parsed: one address, prefix or ADDR-ADDR
 * range per line, `#` and `;` comments (Spamhaus DROP's "; SBL…" suffix,
 * FireHOL .netset, abuse.ch and Emerging Threats plain lists), IPv4 and
 * IPv6. Every bad line is a `file:line: message` with at most a short,
 * escaped excerpt; too many bad lines, or too sudden a shrink, refuse the
 * whole feed. Pure.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"
#include "feed.h"

#define EXCERPT_MAX 40

static _Thread_local const atomic_bool *cancel_flag;

void zt_feed_cancel_on(const atomic_bool *flag)
{
	cancel_flag = flag;
}

bool zt_feed_cancelled(void)
{
	return cancel_flag && atomic_load_explicit(cancel_flag, memory_order_relaxed);
}

/* Every ZT_FEED_CANCEL_EVERY steps (step counts up from 0): whether to stop. */
static bool cancel_at(size_t step)
{
	return !(step % ZT_FEED_CANCEL_EVERY) && zt_feed_cancelled();
}

void zt_feed_data_clear(struct zt_feed_data *f)
{
	free(f->e4);
	free(f->e6);
	free(f->lh);
	free(f->ll);
	*f = (struct zt_feed_data){};
}

void zt_feed_delta_clear(struct zt_feed_delta *dl)
{
	free(dl->add4);
	free(dl->del4);
	free(dl->add6);
	free(dl->del6);
	*dl = (struct zt_feed_delta){};
}

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                         \
	do {                                                                             \
		v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                \
		v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                   \
		v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                   \
		v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                \
	} while (0)

uint64_t zt_siphash24(const uint64_t k[2], const void *s, size_t n)
{
	const unsigned char *p = s;
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull, m;
	size_t left = n;

	for (; left >= 8; p += 8, left -= 8) {
		memcpy(&m, p, 8);
		m = le64toh(m);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	if (n >= 8 && left) {	/* the last 8 bytes of the input, shifted: the tail's bytes only */
		memcpy(&m, p + left - 8, 8);
		m = le64toh(m) >> (8 * (8 - left));
	} else {
		m = 0;
		for (size_t i = left; i-- > 0;)
			m = (m << 8) | p[i];
	}
	m |= (uint64_t)n << 56;
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A line's bytes, hashed with the secret key; the low two bits left for its kind. */
static uint64_t line_hash(const char *s, size_t n, const uint64_t key[2])
{
	return zt_siphash24(key, s, n) & ~(uint64_t)3;
}

/*
 * Whether line_parse takes the line for blank (kind ZT_FEED_LINE_NONE):
 * not too long, no NUL, and only spaces, tabs and CRs before a comment.
 */
static bool blank_line(const char *s, size_t n)
{
	size_t b = 0;

	if (n > ZT_FEED_LINE_MAX)
		return false;
	for (; b < n && s[b] != '#' && s[b] != ';'; b++)
		if (s[b] != ' ' && s[b] != '\t' && s[b] != '\r')
			return false;
	return b == n || !memchr(s + b, '\0', n - b);
}

static int lh_push(struct zt_feed_data *f, uint64_t h, size_t line)
{
	if (f->nlh == f->caplh) {
		size_t c = f->caplh;

		if (ZT_GROW(f->lh, f->caplh, f->nlh + 1) < 0 || ZT_GROW(f->ll, c, f->nlh + 1) < 0)
			return -ENOMEM;
	}
	f->lh[f->nlh] = h;
	f->ll[f->nlh++] = (uint32_t)line;
	return 0;
}

zt_u128 zt_feed_tier_span(size_t k)
{
	return k >= 16 ? ~(zt_u128)0 : ((zt_u128)1 << (8 * k)) - 1;
}

static size_t tier_of(zt_u128 span)
{
	size_t bits = 0;

	while (span) {
		bits++;
		span >>= 1;
	}
	return (bits + 7) / 8;
}

static zt_u128 u128_of(const uint8_t a[16])
{
	zt_u128 v = 0;

	for (int i = 0; i < 16; i++)
		v = (v << 8) | a[i];
	return v;
}

static void u128_to(zt_u128 v, uint8_t a[16])
{
	for (int i = 15; i >= 0; i--) {
		a[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * The common case, fast: a dotted quad as inet_pton(AF_INET) takes it
 * (four parts of one to three digits, no leading zero, each at most 255).
 * false: not that form (inet_pton decides).
 */
static bool quad_of(const char *s, uint8_t a[16])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, k = 0;

		for (; s[k] >= '0' && s[k] <= '9' && k < 3; k++)
			v = v * 10 + (unsigned)(s[k] - '0');
		if (!k || v > 255 || (k > 1 && s[0] == '0') || s[k] != (i < 3 ? '.' : '\0'))
			return false;
		a[i] = (uint8_t)v;
		s += k + 1;
	}
	return true;
}

/* An address alone: "192.0.2.1" or "2001:db8::1". */
static int addr_of(const char *s, uint8_t *family, uint8_t a[16])
{
	memset(a, 0, 16);
	if (quad_of(s, a)) {
		*family = AF_INET;
		return 0;
	}
	if (strchr(s, ':')) {
		*family = AF_INET6;
		return inet_pton(AF_INET6, s, a) == 1 ? 0 : -EINVAL;
	}
	*family = AF_INET;
	return inet_pton(AF_INET, s, a) == 1 ? 0 : -EINVAL;
}

struct entry {
	uint8_t family;
	zt_u128 lo, hi;		/* v4 in the low 32 bits */
};

static zt_u128 val_of(uint8_t family, const uint8_t a[16])
{
	if (family == AF_INET)
		return ((uint32_t)a[0] << 24) | ((uint32_t)a[1] << 16) | ((uint32_t)a[2] << 8) | a[3];
	return u128_of(a);
}

/* One token into an entry; a message for a bad one. */
static const char *entry_parse(char *tok, struct entry *e)
{
	char *dash = strchr(tok, '-'), *slash = strchr(tok, '/');
	uint8_t fam2, a[16], b[16];
	unsigned bits;

	static bool ok[256];

	if (!ok['0']) {
		for (const char *p = "0123456789abcdefABCDEF.:/-"; *p; p++)
			ok[(unsigned char)*p] = true;
	}
	for (const char *p = tok; *p; p++)
		if (!ok[(unsigned char)*p])
			return "expected an address, prefix or ADDR-ADDR range";
	if (dash) {
		*dash = '\0';
		if (slash || addr_of(tok, &e->family, a) < 0 || addr_of(dash + 1, &fam2, b) < 0)
			return "invalid range: expected ADDR-ADDR";
		if (fam2 != e->family)
			return "range mixes IPv4 and IPv6";
		e->lo = val_of(e->family, a);
		e->hi = val_of(e->family, b);
		if (e->lo > e->hi)
			return "range ends before it starts";
		return NULL;
	}
	if (slash) {
		char *end;
		unsigned long l;

		*slash = '\0';
		if (!slash[1] || slash[1] == '+' || slash[1] == '-')
			return "invalid prefix length";
		errno = 0;
		l = strtoul(slash + 1, &end, 10);
		if (errno || *end || l > 128)
			return "invalid prefix length";
		if (addr_of(tok, &e->family, a) < 0)
			return "invalid address";
		bits = e->family == AF_INET ? 32 : 128;
		if (l > bits)
			return "prefix length out of range";
		e->lo = val_of(e->family, a);
		if (l == 0)
			e->hi = bits == 32 ? 0xffffffffu : ~(zt_u128)0;
		else {
			zt_u128 host = bits - l == 128 ? ~(zt_u128)0
					: (((zt_u128)1 << (bits - l)) - 1);

			if (e->lo & host)
				return "host bits set";
			e->hi = e->lo | host;
		}
		return NULL;
	}
	if (addr_of(tok, &e->family, a) < 0)
		return "invalid address";
	e->lo = e->hi = val_of(e->family, a);
	return NULL;
}

/* Wider than a /8 (IPv4) or /16 (IPv6): 0.0.0.0/0 in a feed is an accident or an attack. */
static bool too_wide(const struct entry *e)
{
	zt_u128 span = e->hi - e->lo;

	if (e->family == AF_INET)
		return span >= ((zt_u128)1 << (32 - ZT_FEED_MIN_PLEN4));
	return span >= ((zt_u128)1 << (128 - ZT_FEED_MIN_PLEN6));
}

static int push(struct zt_feed_data *f, const struct entry *e, uint32_t line, int *kind)
{
	*kind = e->family == AF_INET ? ZT_FEED_LINE_V4 : ZT_FEED_LINE_V6;
	if (e->family == AF_INET) {
		if (ZT_GROW(f->e4, f->cap4, f->n4 + 1) < 0)
			return -ENOMEM;
		f->e4[f->n4++] = (struct zt_feed_e4){ (uint32_t)e->lo, (uint32_t)e->hi, line };
	} else {
		if (ZT_GROW(f->e6, f->cap6, f->n6 + 1) < 0)
			return -ENOMEM;
		f->e6[f->n6++] = (struct zt_feed_e6){ e->lo, e->hi, line };
	}
	return 0;
}

/* A bounded, escaped excerpt of untrusted bytes. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t len)
{
	char raw[EXCERPT_MAX + 1];
	size_t k = n < EXCERPT_MAX ? n : EXCERPT_MAX;

	for (size_t i = 0; i < k; i++)
		raw[i] = s[i] ? s[i] : '?';
	raw[k] = '\0';
	zt_escape_to(buf, len, raw);
	if (n > EXCERPT_MAX && strlen(buf) + 4 < len)
		strcat(buf, "...");
	return buf;
}

struct pstate {
	const char *file;
	struct zt_diags *d;
	size_t reported;
	size_t wide_line;	/* the first entry wider than allowed: refuses the feed */
};

static int bad(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *what, const char *s, size_t n,
	       int *kind)
{
	char ex[4 * EXCERPT_MAX + 8];

	*kind = ZT_FEED_LINE_BAD;
	f->bad++;
	if (ps->reported++ >= ZT_FEED_DIAGS_MAX)
		return 0;
	zt_diag_warning(ps->d, ps->file, (unsigned)line, 0, "%s: '%s'", what, excerpt(s, n, ex, sizeof(ex)));
	return ps->d->n ? 0 : -ENOMEM;
}

/*
 * The common line, fast: an IPv4 address or prefix alone ("192.0.2.1",
 * "192.0.2.0/24"), nothing else on the line, that the general path below
 * would take as it is. false: anything else, good or bad (the general path
 * decides and words the message).
 */
static bool fast_line(const char *s, size_t n, struct entry *e)
{
	char buf[20];
	size_t slash = n;
	uint8_t a[16];
	unsigned l = 32;
	zt_u128 host;

	if (!n || n >= sizeof(buf))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' && slash == n)
			slash = i;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '.')
			return false;
	memcpy(buf, s, n);
	buf[slash] = '\0';
	if (!quad_of(buf, a))
		return false;
	if (slash < n) {
		size_t k = n - slash - 1;

		if (k < 1 || k > 2 || (k == 2 && s[slash + 1] == '0'))
			return false;
		for (size_t i = slash + 1; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;	/* "10.0.0.0/1." and the like: the general path's message */
		l = (unsigned)(s[slash + 1] - '0');
		if (k == 2)
			l = l * 10 + (unsigned)(s[slash + 2] - '0');
		if (l < ZT_FEED_MIN_PLEN4 || l > 32)
			return false;
	}
	host = ((zt_u128)1 << (32 - l)) - 1;
	e->family = AF_INET;
	e->lo = val_of(AF_INET, a);
	e->hi = e->lo | host;
	return !(e->lo & host);
}

/* One line (without its newline): 0, or -ENOMEM; *kind: what it held (ZT_FEED_LINE_*). */
static int line_parse(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *s, size_t n, int *kind)
{
	char tok[ZT_FEED_LINE_MAX + 1];
	size_t a = 0, b;
	struct entry e;
	const char *why;

	*kind = ZT_FEED_LINE_NONE;
	if (fast_line(s, n, &e))
		return push(f, &e, (uint32_t)line, kind);

	if (n > ZT_FEED_LINE_MAX)
		return bad(ps, f, line, "line too long", s, n, kind);
	if (memchr(s, '\0', n))
		return bad(ps, f, line, "binary data (NUL byte)", s, n, kind);
	for (b = 0; b < n && s[b] != '#' && s[b] != ';'; b++)
		if ((unsigned char)s[b] >= 0x80 || ((unsigned char)s[b] < 0x20 && s[b] != '\t' && s[b] != '\r'))
			return bad(ps, f, line, "binary data", s, n, kind);
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
		b--;
	if (a == b)
		return 0;
	memcpy(tok, s + a, b - a);
	tok[b - a] = '\0';
	if (strpbrk(tok, " \t"))
		return bad(ps, f, line, "more than one entry on a line", s, n, kind);
	why = entry_parse(tok, &e);
	if (!why && too_wide(&e)) {
		why = e.family == AF_INET ? "entry wider than a /8" : "entry wider than a /16";
		if (!ps->wide_line)
			ps->wide_line = line;
	}
	if (why)
		return bad(ps, f, line, why, s + a, b - a, kind);
	return push(f, &e, (uint32_t)line, kind);
}

/* v4 entries of one tier into (lo, hi, line) order: an LSD radix sort, stable (the input is in line order). */
static int sort4(struct zt_feed_e4 *v, size_t n)
{
	struct key {
		uint64_t k;
		uint32_t line;
	};
	_cleanup_free_ struct key *a = malloc(n * sizeof(*a)), *t = malloc(n * sizeof(*t));
	_cleanup_free_ size_t *cnt = malloc(65536 * sizeof(*cnt));

	if (!a || !t || !cnt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		a[i] = (struct key){ (uint64_t)v[i].lo << 32 | v[i].hi, v[i].line };
	for (unsigned sh = 0; sh < 64; sh += 16) {
		struct key *x;
		size_t sum = 0;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(a[i].k >> sh) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			t[cnt[(a[i].k >> sh) & 0xffff]++] = a[i];
		x = a;
		a = t;
		t = x;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct zt_feed_e4){ (uint32_t)(a[i].k >> 32), (uint32_t)a[i].k, a[i].line };
	return 0;
}

static int cmp4(const struct zt_feed_e4 *x, const struct zt_feed_e4 *y)
{
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int cmp6(const struct zt_feed_e6 *x, const struct zt_feed_e6 *y)
{
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int qcmp4(const void *a, const void *b)
{
	return cmp4(a, b);
}

static int qcmp6(const void *a, const void *b)
{
	return cmp6(a, b);
}

/* Entries in line order into tier order, each tier sorted by (lo, hi, line). */
static int tier_sort(struct zt_feed_data *f)
{
	for (int fam = 0; fam < 2; fam++) {
		size_t n = fam ? f->n6 : f->n4, *t = fam ? f->t6 : f->t4, cnt[ZT_FEED_TIERS + 1] = {};
		size_t esz = fam ? sizeof(struct zt_feed_e6) : sizeof(struct zt_feed_e4);
		unsigned char *src = fam ? (unsigned char *)f->e6 : (unsigned char *)f->e4, *dst;
		_cleanup_free_ uint8_t *tier = NULL;

		memset(t, 0, (ZT_FEED_TIERS + 1) * sizeof(*t));
		if (!n)
			continue;
		if (!(tier = malloc(n)) || !(dst = malloc(n * esz)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			tier[i] = (uint8_t)(fam ? tier_of(f->e6[i].hi - f->e6[i].lo) : tier_of(f->e4[i].hi - f->e4[i].lo));
			cnt[tier[i] + 1]++;
		}
		for (size_t k = 0; k < ZT_FEED_TIERS; k++)
			cnt[k + 1] += cnt[k];
		memcpy(t, cnt, sizeof(cnt));
		for (size_t i = 0; i < n; i++)
			memcpy(dst + esz * cnt[tier[i]]++, src + esz * i, esz);
		free(src);
		if (fam)
			f->e6 = (struct zt_feed_e6 *)dst;
		else
			f->e4 = (struct zt_feed_e4 *)dst;
		if (fam)
			f->cap6 = n;
		else
			f->cap4 = n;
		for (size_t k = 0; k < ZT_FEED_TIERS; k++) {
			size_t m = t[k + 1] - t[k];

			if (m < 2)
				continue;
			if (fam)
				qsort(f->e6 + t[k], m, sizeof(*f->e6), qcmp6);
			else if (m < 4096 || sort4(f->e4 + t[k], m) < 0)
				qsort(f->e4 + t[k], m, sizeof(*f->e4), qcmp4);
		}
	}
	return 0;
}

/* The thresholds, on a feed parsed whole or in part: 0, or the refusal (f cleared). */
static int verdict(struct pstate *ps, struct zt_feed_data *f, const struct zt_feed_limits *lim, unsigned max_bad,
		   unsigned max_shrink)
{
	const char *file = ps->file;
	struct zt_diags *d = ps->d;
	size_t entries = f->n4 + f->n6;
	int r;

	if (ps->reported > ZT_FEED_DIAGS_MAX)
		zt_diag_warning(d, file, 0, 0, "%zu more bad lines not shown", ps->reported - ZT_FEED_DIAGS_MAX);
	if (ps->wide_line) {
		r = zt_diag_error(d, file, (unsigned)ps->wide_line, 0,
				  "feed refused: an entry wider than a /%d (IPv4) or /%d (IPv6) would block whole networks; the last good copy stays in force",
				  ZT_FEED_MIN_PLEN4, ZT_FEED_MIN_PLEN6);
		zt_feed_data_clear(f);
		return r;
	}
	if (f->bad && f->bad * 100 > (uint64_t)max_bad * (entries + f->bad)) {
		r = zt_diag_error(d, file, 0, 0,
				  "feed refused: %zu bad lines of %zu with an entry (more than %u%%); the last good copy stays in force",
				  f->bad, entries + f->bad, max_bad);
		zt_feed_data_clear(f);
		return r;
	}
	if (lim && lim->prev_entries >= ZT_FEED_SHRINK_MIN && entries < lim->prev_entries &&
	    (lim->prev_entries - entries) * 100 > (uint64_t)max_shrink * lim->prev_entries) {
		r = zt_diag_error(d, file, 0, 0,
				  "feed refused: %zu entries, down from %zu (more than %u%% gone at once); the last good copy stays in force",
				  entries, lim->prev_entries, max_shrink);
		zt_feed_data_clear(f);
		return r;
	}
	return 0;
}

int zt_feed_parse(const char *file, const char *buf, size_t len, const struct zt_feed_limits *lim,
		  struct zt_feed_data *ret, struct zt_diags *d)
{
	struct zt_feed_data f = {};
	struct pstate ps = { .file = file, .d = d };
	size_t line = 0;
	uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : ZT_FEED_MAX_BYTES_DEFAULT;
	unsigned max_bad = lim ? lim->max_bad_pct : ZT_FEED_MAX_BAD_PCT_DEFAULT;
	unsigned max_shrink = lim ? lim->max_shrink_pct : ZT_FEED_MAX_SHRINK_PCT_DEFAULT;
	int r, kind;

	if (len > max_bytes)
		return zt_diag_error(d, file, 0, 0, "feed refused: %zu bytes, more than the limit of %llu",
				     len, (unsigned long long)max_bytes);
	if (lim && lim->keyed) {
		f.keyed = true;
		memcpy(f.key, lim->key, sizeof(f.key));
	}
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;

		r = cancel_at(line + 1) ? -ECANCELED : line_parse(&ps, &f, line + 1, buf + off, n, &kind);
		if (r >= 0 && f.keyed && kind != ZT_FEED_LINE_NONE)
			r = lh_push(&f, line_hash(buf + off, n, f.key) | (uint64_t)kind, line + 1);
		if (r < 0) {
			zt_feed_data_clear(&f);
			return r;
		}
		line++;
		off += n + 1;
	}
	f.lines = line;
	if ((r = verdict(&ps, &f, lim, max_bad, max_shrink)) < 0)
		return r;
	if ((r = tier_sort(&f)) < 0) {
		zt_feed_data_clear(&f);
		return r;
	}
	*ret = f;
	return 0;
}

#define LOOKAHEAD 32

/* d as it was (the warnings of a partial parse dropped). */
static void diags_back(struct zt_diags *d, const struct zt_diags *was)
{
	for (size_t i = was->n; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	d->n = was->n;
	d->n_errors = was->n_errors;
	d->n_warnings = was->n_warnings;
	d->truncated = was->truncated;
}

static bool line_same(uint64_t old, uint64_t new)
{
	return (old & 3) != ZT_FEED_LINE_BAD && (old & ~(uint64_t)3) == new;
}

/* prev's entries of one family, renumbered (map: old line → new line, 0: gone) and merged with the added ones. */
#define MERGE_FAMILY(E, CMP, PE, PN, PT, AE, AT, OUT, OUTT, DEL, NDEL)                                   \
	do {                                                                                              \
		size_t o_ = 0;                                                                            \
		for (size_t k_ = 0; k_ < ZT_FEED_TIERS; k_++) {                                           \
			size_t i_ = (PT)[k_], ie_ = (PT)[k_ + 1], a_ = (AT)[k_], ae_ = (AT)[k_ + 1];       \
			(OUTT)[k_] = o_;                                                                  \
			while (i_ < ie_ || a_ < ae_) {                                                    \
				E x_;                                                                     \
				if (i_ < ie_) {                                                           \
					x_ = (PE)[i_];                                                    \
					if (!map[x_.line - 1]) {                                          \
						(DEL)[(NDEL)++] = x_;                                     \
						i_++;                                                     \
						continue;                                                 \
					}                                                                 \
					x_.line = map[x_.line - 1];                                       \
					if (a_ >= ae_ || CMP(&x_, &(AE)[a_]) < 0) {                       \
						(OUT)[o_++] = x_;                                         \
						i_++;                                                     \
						continue;                                                 \
					}                                                                 \
				}                                                                         \
				(OUT)[o_++] = (AE)[a_++];                                                 \
			}                                                                                 \
		}                                                                                         \
		(OUTT)[ZT_FEED_TIERS] = o_;                                                               \
	} while (0)

int zt_feed_parse_inc(const char *file, const char *buf, size_t len, const struct zt_feed_limits *lim,
		      const struct zt_feed_data *prev, struct zt_feed_data *ret, struct zt_feed_delta *delta, bool *inc,
		      struct zt_diags *d)
{
	struct zt_feed_data add = {}, f = {};
	struct zt_feed_delta dl = {};
	struct pstate ps = { .file = file, .d = d };
	uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : ZT_FEED_MAX_BYTES_DEFAULT;
	unsigned max_bad = lim ? lim->max_bad_pct : ZT_FEED_MAX_BAD_PCT_DEFAULT;
	unsigned max_shrink = lim ? lim->max_shrink_pct : ZT_FEED_MAX_SHRINK_PCT_DEFAULT;
	_cleanup_free_ uint64_t *nh = NULL;
	_cleanup_free_ uint32_t *nl = NULL, *st = NULL, *end = NULL, *map = NULL;
	size_t nn = 0, nlines = 0, no, i = 0, j = 0, parsed = 0, steps = 0, parsed_steps = 0;
	struct zt_diags was = *d;
	int r = -ENOMEM, kind;

	*inc = false;
	*delta = (struct zt_feed_delta){};
	/*
	 * Whole: no secret key, another key, or a file whose lines are mostly
	 * blank (the old-line map below costs 4 bytes a line: bounded by the
	 * lines that carry something).
	 */
	if (len > max_bytes || !lim || !lim->keyed || !prev || !prev->keyed ||
	    memcmp(prev->key, lim->key, sizeof(prev->key)) || len >= UINT32_MAX || prev->lines >= UINT32_MAX ||
	    prev->lines > 4 * prev->nlh + 65536)
		return zt_feed_parse(file, buf, len, lim, ret, d);
	no = prev->nlh;
	if (prev->lines && !(map = calloc(prev->lines, sizeof(*map))))
		return -ENOMEM;
	/*
	 * Lines split in one pass; those that carry something (not blank, not
	 * only a comment) hashed, with their number and bytes; room for as
	 * many as the last copy had, and a little more.
	 */
	{
		size_t cap = no + no / 16 + 64, c2 = cap, c3 = cap, c4 = cap;

		if (!(nh = malloc(cap * sizeof(*nh))) || !(nl = malloc(cap * sizeof(*nl))) ||
		    !(st = malloc(cap * sizeof(*st))) || !(end = malloc(cap * sizeof(*end))))
			return -ENOMEM;
		for (size_t off = 0; off < len; nlines++) {
			const char *e = memchr(buf + off, '\n', len - off);
			size_t n = e ? (size_t)(e - (buf + off)) : len - off;

			if (cancel_at(nlines + 1))
				return -ECANCELED;
			if (!blank_line(buf + off, n)) {
				if (nn == cap && (ZT_GROW(nh, cap, nn + 1) < 0 || ZT_GROW(nl, c2, nn + 1) < 0 ||
						  ZT_GROW(st, c3, nn + 1) < 0 || ZT_GROW(end, c4, nn + 1) < 0))
					return -ENOMEM;
				nh[nn] = line_hash(buf + off, n, lim->key);
				nl[nn] = (uint32_t)(nlines + 1);
				st[nn] = (uint32_t)off;
				end[nn++] = (uint32_t)(off + n);
			}
			off += n + 1;
		}
	}
	/*
	 * Old and new lines (those that carry something) aligned in order:
	 * equal hashes pair up; at a difference the nearest pairing within
	 * LOOKAHEAD lines either way (lines inserted or deleted), else the line
	 * counts as replaced. New lines not paired are parsed, in order (their
	 * diagnostics as a whole parse words them); old ones not paired are gone.
	 */
	while (i < no || j < nn) {
		size_t di = 0, dj = 0;

		if (cancel_at(++steps)) {
			r = -ECANCELED;
			goto fail;
		}
		if (i < no && j < nn && line_same(prev->lh[i], nh[j])) {
			map[prev->ll[i] - 1] = nl[j];
			nh[j] |= prev->lh[i] & 3;
			i++;
			j++;
			continue;
		}
		for (size_t k = 1; k <= LOOKAHEAD && !di && !dj; k++) {
			if (i < no && j + k < nn && line_same(prev->lh[i], nh[j + k]))
				dj = k;
			else if (j < nn && i + k < no && line_same(prev->lh[i + k], nh[j]))
				di = k;
		}
		if (!di && !dj) {
			di = i < no;
			dj = j < nn;
		}
		for (size_t q = j; q < j + dj; q++) {
			if (cancel_at(++parsed_steps)) {
				r = -ECANCELED;
				goto fail;
			}
			if (line_parse(&ps, &add, nl[q], buf + st[q], end[q] - st[q], &kind) < 0)
				goto fail;
			nh[q] |= (uint64_t)kind;
		}
		i += di;
		j += dj;
		parsed += dj;
		/* Most of the file differs (reordered, or another file): parsed whole, as cheap. */
		if (parsed > nn / 4 + 1024) {
			zt_feed_data_clear(&add);
			diags_back(d, &was);
			return zt_feed_parse(file, buf, len, lim, ret, d);
		}
	}
	f.keyed = true;
	memcpy(f.key, lim->key, sizeof(f.key));
	f.lines = nlines;
	f.bad = add.bad;
	f.n4 = prev->n4;
	f.n6 = prev->n6;
	for (size_t l = 0; l < no; l++)
		if (!map[prev->ll[l] - 1]) {
			f.n4 -= (prev->lh[l] & 3) == ZT_FEED_LINE_V4;
			f.n6 -= (prev->lh[l] & 3) == ZT_FEED_LINE_V6;
		}
	f.n4 += add.n4;
	f.n6 += add.n6;
	if ((r = verdict(&ps, &f, lim, max_bad, max_shrink)) < 0) {
		zt_feed_data_clear(&add);
		return r;
	}
	r = -ENOMEM;
	if (tier_sort(&add) < 0)
		goto fail;
	f.cap4 = f.n4;
	f.cap6 = f.n6;
	dl.ndel4 = prev->n4 + add.n4 - f.n4;
	dl.ndel6 = prev->n6 + add.n6 - f.n6;
	if ((f.n4 && !(f.e4 = malloc(f.n4 * sizeof(*f.e4)))) || (f.n6 && !(f.e6 = malloc(f.n6 * sizeof(*f.e6)))) ||
	    (dl.ndel4 && !(dl.del4 = malloc(dl.ndel4 * sizeof(*dl.del4)))) ||
	    (dl.ndel6 && !(dl.del6 = malloc(dl.ndel6 * sizeof(*dl.del6)))))
		goto fail;
	dl.ndel4 = dl.ndel6 = 0;
	MERGE_FAMILY(struct zt_feed_e4, cmp4, prev->e4, prev->n4, prev->t4, add.e4, add.t4, f.e4, f.t4, dl.del4, dl.ndel4);
	MERGE_FAMILY(struct zt_feed_e6, cmp6, prev->e6, prev->n6, prev->t6, add.e6, add.t6, f.e6, f.t6, dl.del6, dl.ndel6);
	f.lh = TAKE_PTR(nh);
	f.ll = TAKE_PTR(nl);
	f.nlh = f.caplh = nn;
	dl.add4 = TAKE_PTR(add.e4);
	dl.nadd4 = add.n4;
	dl.add6 = TAKE_PTR(add.e6);
	dl.nadd6 = add.n6;
	zt_feed_data_clear(&add);
	*ret = f;
	*delta = dl;
	*inc = true;
	return 0;
fail:
	zt_feed_data_clear(&add);
	zt_feed_data_clear(&f);
	zt_feed_delta_clear(&dl);
	return r;
}

/* The first entry of tier k starting at or after v. */
size_t zt_feed_tier_from(const struct zt_feed_data *f, uint8_t family, size_t k, zt_u128 v)
{
	const size_t *t = family == AF_INET ? f->t4 : f->t6;
	size_t lo = t[k], hi = t[k + 1];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		zt_u128 x = family == AF_INET ? f->e4[mid].lo : f->e6[mid].lo;

		if (x < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

ssize_t zt_feed_find(const struct zt_feed_data *f, uint8_t family, const uint8_t *addr)
{
	zt_u128 v = val_of(family, addr);
	ssize_t best = -1;
	uint32_t best_line = UINT32_MAX;
	const size_t *t = family == AF_INET ? f->t4 : f->t6;

	for (size_t k = 0; k < ZT_FEED_TIERS; k++) {
		zt_u128 span = zt_feed_tier_span(k), from = v > span ? v - span : 0;
		/* The first entry of the tier starting at or after from; then those starting up to v. */
		for (size_t i = zt_feed_tier_from(f, family, k, from); i < t[k + 1]; i++) {
			zt_u128 elo = family == AF_INET ? f->e4[i].lo : f->e6[i].lo;
			zt_u128 ehi = family == AF_INET ? f->e4[i].hi : f->e6[i].hi;
			uint32_t line = family == AF_INET ? f->e4[i].line : f->e6[i].line;

			if (elo > v)
				break;
			if (ehi >= v && line < best_line) {
				best = (ssize_t)i;
				best_line = line;
			}
		}
	}
	return best;
}

/* The prefix length of [lo, hi] if it is exactly one prefix, else -1. */
static int plen_of(zt_u128 lo, zt_u128 hi, unsigned bits)
{
	zt_u128 span = hi - lo;

	if (span == (bits == 32 ? (zt_u128)0xffffffffu : ~(zt_u128)0))
		return lo == 0 ? 0 : -1;
	if ((span & (span + 1)) || (lo & span))
		return -1;
	for (unsigned l = bits; l > 0; l--, span >>= 1)
		if (!span)
			return (int)l;
	return 0;
}

const char *zt_feed_entry_fmt(const struct zt_feed_data *f, uint8_t family, size_t i, char *buf, size_t len)
{
	uint8_t a[16] = {}, b[16] = {};
	char sa[INET6_ADDRSTRLEN], sb[INET6_ADDRSTRLEN];
	zt_u128 lo, hi;
	unsigned bits = family == AF_INET ? 32 : 128;
	int pl;

	if (family == AF_INET) {
		uint32_t x = htonl(f->e4[i].lo), y = htonl(f->e4[i].hi);

		lo = f->e4[i].lo;
		hi = f->e4[i].hi;
		memcpy(a, &x, 4);
		memcpy(b, &y, 4);
	} else {
		lo = f->e6[i].lo;
		hi = f->e6[i].hi;
		u128_to(lo, a);
		u128_to(hi, b);
	}
	inet_ntop(family, a, sa, sizeof(sa));
	pl = plen_of(lo, hi, bits);
	if (pl >= 0)
		snprintf(buf, len, "%s/%d", sa, pl);
	else
		snprintf(buf, len, "%s-%s", sa, inet_ntop(family, b, sb, sizeof(sb)));
	return buf;
}
