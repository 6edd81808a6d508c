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

const atomic_bool *zt_feed_cancel_flag(void)
{
	return cancel_flag;
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

/* *steps moved on by n (lines skipped at once): whether to stop, when that passed a multiple of the period. */
static bool cancel_past(size_t *steps, size_t n)
{
	size_t was = *steps;

	*steps += n;
	return was / ZT_FEED_CANCEL_EVERY != *steps / ZT_FEED_CANCEL_EVERY && zt_feed_cancelled();
}

void zt_feed_data_clear(struct zt_feed_data *f)
{
	free(f->e4);
	free(f->e6);
	free(f->badv);
	free(f->text);
	*f = (struct zt_feed_data){};
}

void zt_feed_data_keep(struct zt_feed_data *f, char *text, size_t len)
{
	free(f->text);
	f->text = text;
	f->text_len = len;
}

void zt_feed_delta_clear(struct zt_feed_delta *dl)
{
	free(dl->add4);
	free(dl->del4);
	free(dl->add6);
	free(dl->del6);
	*dl = (struct zt_feed_delta){};
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

zt_u128 zt_feed_addr_value(uint8_t family, const uint8_t *addr)
{
	return val_of(family, addr);
}

/* One token into an entry; a message for a bad one. */
static const char *entry_parse(char *tok, struct entry *e)
{
	char *dash = strchr(tok, '-'), *slash = strchr(tok, '/');
	uint8_t fam2, a[16], b[16];
	unsigned bits;

	/* a constant: no thread that parses ever writes it */
	static const bool ok[256] = {
		['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true, ['5'] = true, ['6'] = true,
		['7'] = true, ['8'] = true, ['9'] = true, ['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true,
		['e'] = true, ['f'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true, ['E'] = true,
		['F'] = true, ['.'] = true, [':'] = true, ['/'] = true, ['-'] = true,
	};

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

static int push(struct zt_feed_data *f, const struct entry *e, uint32_t line)
{
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
	const char *buf;	/* the file's bytes: where a bad line starts is kept */
	struct zt_diags *d;
	size_t reported;
	size_t wide_line;	/* the first entry wider than allowed: refuses the feed */
};

static int bad(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *what, const char *s, size_t n,
	       const char *start)
{
	char ex[4 * EXCERPT_MAX + 8];

	if (ZT_GROW(f->badv, f->capbad, f->bad + 1) < 0)
		return -ENOMEM;
	f->badv[f->bad++] = (struct zt_feed_bad){ (uint32_t)line, (uint64_t)(start - ps->buf) };
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

/* One line of ps->buf (without its newline): 0, or -ENOMEM. */
static int line_parse(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *s, size_t n)
{
	char tok[ZT_FEED_LINE_MAX + 1];
	size_t a = 0, b;
	struct entry e;
	const char *why;

	if (fast_line(s, n, &e))
		return push(f, &e, (uint32_t)line);

	if (n > ZT_FEED_LINE_MAX)
		return bad(ps, f, line, "line too long", s, n, s);
	if (memchr(s, '\0', n))
		return bad(ps, f, line, "binary data (NUL byte)", s, n, s);
	for (b = 0; b < n && s[b] != '#' && s[b] != ';'; b++)
		if ((unsigned char)s[b] >= 0x80 || ((unsigned char)s[b] < 0x20 && s[b] != '\t' && s[b] != '\r'))
			return bad(ps, f, line, "binary data", s, n, s);
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
		b--;
	if (a == b)
		return 0;
	memcpy(tok, s + a, b - a);
	tok[b - a] = '\0';
	if (strpbrk(tok, " \t"))
		return bad(ps, f, line, "more than one entry on a line", s, n, s);
	why = entry_parse(tok, &e);
	if (!why && too_wide(&e)) {
		why = e.family == AF_INET ? "entry wider than a /8" : "entry wider than a /16";
		if (!ps->wide_line)
			ps->wide_line = line;
	}
	if (why)
		return bad(ps, f, line, why, s + a, b - a, s);
	return push(f, &e, (uint32_t)line);
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
	struct pstate ps = { .file = file, .buf = buf, .d = d };
	size_t line = 0;
	uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : ZT_FEED_MAX_BYTES_DEFAULT;
	unsigned max_bad = lim ? lim->max_bad_pct : ZT_FEED_MAX_BAD_PCT_DEFAULT;
	unsigned max_shrink = lim ? lim->max_shrink_pct : ZT_FEED_MAX_SHRINK_PCT_DEFAULT;
	int r;

	if (len > max_bytes)
		return zt_diag_error(d, file, 0, 0, "feed refused: %zu bytes, more than the limit of %llu",
				     len, (unsigned long long)max_bytes);
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;

		r = cancel_at(line + 1) ? -ECANCELED : line_parse(&ps, &f, line + 1, buf + off, n);
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
#define WIN 64				/* lines held ahead on each side: a power of two above LOOKAHEAD */

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

/* How many bytes a and b share from their start. */
static size_t common_prefix(const char *a, size_t na, const char *b, size_t nb)
{
	size_t n = na < nb ? na : nb, i = 0;

	while (i + 256 <= n && !memcmp(a + i, b + i, 256))
		i += 256;
	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;

		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y)
			break;
	}
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

/*
 * The newlines in n bytes, sixteen at a time: a vector compare gives -1 in
 * each lane holding '\n', subtracted into per-lane byte counters, summed
 * every 255 blocks (before a lane can wrap). GCC's generic vectors: SSE2 on
 * x86-64, NEON on arm64, plain code elsewhere.
 */
typedef unsigned char nl_vec __attribute__((vector_size(16)));

static size_t count_nl(const char *s, size_t n)
{
	nl_vec nl;
	size_t c = 0, i = 0;

	memset(&nl, '\n', sizeof(nl));
	while (n - i >= sizeof(nl)) {
		size_t end = n - i > 255 * sizeof(nl) ? i + 255 * sizeof(nl) : n;
		nl_vec acc = {};

		for (; end - i >= sizeof(nl); i += sizeof(nl)) {
			nl_vec x;

			memcpy(&x, s + i, sizeof(x));
			acc -= (nl_vec)(x == nl);
		}
		for (size_t k = 0; k < sizeof(acc); k++)
			c += acc[k];
	}
	for (; i < n; i++)
		c += s[i] == '\n';
	return c;
}

/*
 * Lines ahead of a position in one version of the file, scanned as needed,
 * each with a plain hash of its bytes that only spares most byte compares
 * (equal hashes are compared byte for byte).
 */
struct lwin {
	const char *t;
	size_t len;
	size_t next;			/* where the first line not yet scanned starts */
	size_t st[WIN], n[WIN];		/* ring: line k ahead at (head + k) % WIN */
	uint64_t h[WIN];
	size_t head, cnt;
};

static void lw_reset(struct lwin *w, const char *t, size_t len, size_t at)
{
	w->t = t;
	w->len = len;
	w->next = at;
	w->head = w->cnt = 0;
}

/* FNV-1a over a line's bytes. */
static uint64_t lw_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/* Lines scanned until k + 1 are held (fewer at the end): how many are. */
static size_t lw_fill(struct lwin *w, size_t k)
{
	while (w->cnt <= k && w->next < w->len) {
		size_t i = (w->head + w->cnt) % WIN;
		const char *s = w->t + w->next, *e = memchr(s, '\n', w->len - w->next);

		w->st[i] = w->next;
		w->n[i] = e ? (size_t)(e - s) : w->len - w->next;
		w->h[i] = lw_hash(s, w->n[i]);
		w->next += w->n[i] + 1;
		w->cnt++;
	}
	return w->cnt;
}

/* Line k ahead (0: the current one), held. */
static const char *lw_line(const struct lwin *w, size_t k, size_t *n)
{
	*n = w->n[(w->head + k) % WIN];
	return w->t + w->st[(w->head + k) % WIN];
}

static void lw_drop(struct lwin *w, size_t k)
{
	w->head = (w->head + k) % WIN;
	w->cnt -= k;
}

/* Whether line i ahead in a equals line j ahead in b (both held). */
static bool lw_same(const struct lwin *a, size_t i, const struct lwin *b, size_t j)
{
	size_t x = (a->head + i) % WIN, y = (b->head + j) % WIN;

	return a->h[x] == b->h[y] && a->n[x] == b->n[y] && !memcmp(a->t + a->st[x], b->t + b->st[y], a->n[x]);
}

/* prev's entries of one family, renumbered (map: old line → new line, 0: gone) and merged with the added ones. */
#define MERGE_FAMILY(E, CMP, PE, PN, PT, AE, AT, OUT, OUTT, DEL, NDEL, CAPDEL)                           \
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
						if (ZT_GROW(DEL, CAPDEL, (NDEL) + 1) < 0)                 \
							goto fail;                                        \
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
	struct pstate ps = { .file = file, .buf = buf, .d = d };
	uint64_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : ZT_FEED_MAX_BYTES_DEFAULT;
	unsigned max_bad = lim ? lim->max_bad_pct : ZT_FEED_MAX_BAD_PCT_DEFAULT;
	unsigned max_shrink = lim ? lim->max_shrink_pct : ZT_FEED_MAX_SHRINK_PCT_DEFAULT;
	_cleanup_free_ uint32_t *map = NULL;
	const char *o = prev ? prev->text : NULL;
	size_t olen = prev ? prev->text_len : 0, oi = 0, nj = 0, oline = 0, nline = 0, bi = 0;
	size_t parsed = 0, steps = 0, cap4 = 0, cap6 = 0, capd4 = 0, capd6 = 0;
	struct lwin wo, wn;
	bool wvalid = false;
	struct zt_diags was = *d;
	int r = -ENOMEM;

	*inc = false;
	*delta = (struct zt_feed_delta){};
	/*
	 * Whole: no last copy, or none of its bytes, or one whose lines are
	 * mostly blank (the old-line map below costs 4 bytes a line: bounded by
	 * the lines that carry something).
	 */
	if (len > max_bytes || !prev || !o || len >= UINT32_MAX || prev->lines >= UINT32_MAX ||
	    prev->lines > 4 * (prev->n4 + prev->n6 + prev->bad) + 65536)
		return zt_feed_parse(file, buf, len, lim, ret, d);
	if (prev->lines && !(map = calloc(prev->lines, sizeof(*map))))
		return -ENOMEM;
	zt_prefault(map, prev->lines * sizeof(*map));
	/*
	 * Old and new bytes walked together. Lines equal byte for byte from
	 * where both stand are skipped in one compare (their entries renumbered
	 * by the map, bad lines among them parsed again so that the diagnostics
	 * are a whole parse's); at a difference, the nearest line equal to the
	 * other side's within LOOKAHEAD lines either way (lines inserted or
	 * deleted), else the line counts as replaced. New lines not paired are
	 * parsed, in order; old ones not paired are gone.
	 */
	while (oi < olen || nj < len) {
		size_t L = common_prefix(o + oi, olen - oi, buf + nj, len - nj), k, c, di = 0, dj = 0;

		if (oi + L == olen && nj + L == len)
			k = L;			/* both to their end: the last line may lack its newline */
		else {
			const char *p = L ? memrchr(o + oi, '\n', L) : NULL;

			k = p ? (size_t)(p - (o + oi)) + 1 : 0;
		}
		if (k) {
			c = count_nl(o + oi, k) + (o[oi + k - 1] != '\n');
			if (cancel_past(&steps, c)) {
				r = -ECANCELED;
				goto fail;
			}
			if (oline + c > prev->lines)
				goto whole;	/* prev's text is not what it was parsed from */
			for (size_t t = 0; t < c; t++)
				map[oline + t] = (uint32_t)(nline + t + 1);
			for (; bi < prev->bad && prev->badv[bi].line <= oline + c; bi++) {
				const struct zt_feed_bad *b = &prev->badv[bi];
				size_t at = (size_t)b->off - oi + nj;
				const char *e;

				if (b->line <= oline || b->off < oi || b->off >= oi + k)
					goto whole;
				e = memchr(buf + at, '\n', len - at);

				if (line_parse(&ps, &add, b->line - oline + nline, buf + at,
					       e ? (size_t)(e - (buf + at)) : len - at) < 0)
					goto fail;
			}
			oi += k;
			nj += k;
			oline += c;
			nline += c;
			wvalid = false;
			continue;
		}
		if (cancel_past(&steps, 1)) {
			r = -ECANCELED;
			goto fail;
		}
		if (!wvalid) {
			lw_reset(&wo, o, olen, oi);
			lw_reset(&wn, buf, len, nj);
			wvalid = true;
		}
		{
			size_t ho = lw_fill(&wo, LOOKAHEAD), hn = lw_fill(&wn, LOOKAHEAD);

			for (size_t q = 1; q <= LOOKAHEAD && !di && !dj; q++) {
				if (ho && q < hn && lw_same(&wo, 0, &wn, q))
					dj = q;
				else if (hn && q < ho && lw_same(&wo, q, &wn, 0))
					di = q;
			}
		}
		if (!di && !dj) {
			di = oi < olen;
			dj = nj < len;
		}
		for (size_t q = 0; q < dj; q++) {
			size_t n;
			const char *ls = lw_line(&wn, q, &n);

			if (line_parse(&ps, &add, ++nline, ls, n) < 0)
				goto fail;
			nj = (size_t)(ls - buf) + n + 1;
		}
		for (size_t q = 0; q < di; q++) {
			size_t n;
			const char *ls = lw_line(&wo, q, &n);

			oi = (size_t)(ls - o) + n + 1;
			oline++;
		}
		if (oline > prev->lines)
			goto whole;
		if (oi > olen)
			oi = olen;
		if (nj > len)
			nj = len;
		for (; bi < prev->bad && prev->badv[bi].line <= oline; bi++)
			;		/* bad lines of the old version gone with the lines replaced */
		lw_drop(&wo, di);
		lw_drop(&wn, dj);
		parsed += dj;
		/* Most of the file differs (reordered, or another file): parsed whole, as cheap. */
		if (parsed > prev->lines / 4 + 1024)
			goto whole;
	}
	if (tier_sort(&add) < 0)
		goto fail;
	/* prev's entries whose lines stayed, renumbered, and the new ones, in tier order. */
	cap4 = prev->n4 + add.n4;
	cap6 = prev->n6 + add.n6;
	if ((cap4 && !(f.e4 = malloc(cap4 * sizeof(*f.e4)))) || (cap6 && !(f.e6 = malloc(cap6 * sizeof(*f.e6)))))
		goto fail;
	zt_prefault(f.e4, cap4 * sizeof(*f.e4));
	zt_prefault(f.e6, cap6 * sizeof(*f.e6));
	MERGE_FAMILY(struct zt_feed_e4, cmp4, prev->e4, prev->n4, prev->t4, add.e4, add.t4, f.e4, f.t4, dl.del4, dl.ndel4,
		     capd4);
	MERGE_FAMILY(struct zt_feed_e6, cmp6, prev->e6, prev->n6, prev->t6, add.e6, add.t6, f.e6, f.t6, dl.del6, dl.ndel6,
		     capd6);
	f.n4 = f.t4[ZT_FEED_TIERS];
	f.n6 = f.t6[ZT_FEED_TIERS];
	f.cap4 = cap4;
	f.cap6 = cap6;
	f.lines = nline;
	f.bad = add.bad;
	f.badv = TAKE_PTR(add.badv);
	f.capbad = add.capbad;
	if ((r = verdict(&ps, &f, lim, max_bad, max_shrink)) < 0) {
		zt_feed_data_clear(&add);
		zt_feed_delta_clear(&dl);
		return r;
	}
	dl.add4 = TAKE_PTR(add.e4);
	dl.nadd4 = add.n4;
	dl.add6 = TAKE_PTR(add.e6);
	dl.nadd6 = add.n6;
	zt_feed_data_clear(&add);
	*ret = f;
	*delta = dl;
	*inc = true;
	return 0;
whole:
	zt_feed_data_clear(&add);
	diags_back(d, &was);
	return zt_feed_parse(file, buf, len, lim, ret, d);
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
