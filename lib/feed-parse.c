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

void zt_feed_data_clear(struct zt_feed_data *f)
{
	free(f->e4);
	free(f->e6);
	*f = (struct zt_feed_data){};
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
	struct zt_diags *d;
	size_t reported;
	size_t wide_line;	/* the first entry wider than allowed: refuses the feed */
};

static int bad(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *what, const char *s, size_t n)
{
	char ex[4 * EXCERPT_MAX + 8];

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

/* One line (without its newline): 0, or -ENOMEM. */
static int line_parse(struct pstate *ps, struct zt_feed_data *f, size_t line, const char *s, size_t n)
{
	char tok[ZT_FEED_LINE_MAX + 1];
	size_t a = 0, b;
	struct entry e;
	const char *why;

	if (fast_line(s, n, &e))
		return push(f, &e, (uint32_t)line);

	if (n > ZT_FEED_LINE_MAX)
		return bad(ps, f, line, "line too long", s, n);
	if (memchr(s, '\0', n))
		return bad(ps, f, line, "binary data (NUL byte)", s, n);
	for (b = 0; b < n && s[b] != '#' && s[b] != ';'; b++)
		if ((unsigned char)s[b] >= 0x80 || ((unsigned char)s[b] < 0x20 && s[b] != '\t' && s[b] != '\r'))
			return bad(ps, f, line, "binary data", s, n);
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
		b--;
	if (a == b)
		return 0;
	memcpy(tok, s + a, b - a);
	tok[b - a] = '\0';
	if (strpbrk(tok, " \t"))
		return bad(ps, f, line, "more than one entry on a line", s, n);
	why = entry_parse(tok, &e);
	if (!why && too_wide(&e)) {
		why = e.family == AF_INET ? "entry wider than a /8" : "entry wider than a /16";
		if (!ps->wide_line)
			ps->wide_line = line;
	}
	if (why)
		return bad(ps, f, line, why, s + a, b - a);
	return push(f, &e, (uint32_t)line);
}

int zt_feed_parse(const char *file, const char *buf, size_t len, const struct zt_feed_limits *lim,
		  struct zt_feed_data *ret, struct zt_diags *d)
{
	struct zt_feed_data f = {};
	struct pstate ps = { .file = file, .d = d };
	size_t line = 0, entries;
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

		line++;
		r = line_parse(&ps, &f, line, buf + off, n);
		if (r < 0) {
			zt_feed_data_clear(&f);
			return r;
		}
		off += n + 1;
	}
	f.lines = line;
	entries = f.n4 + f.n6;
	if (ps.reported > ZT_FEED_DIAGS_MAX)
		zt_diag_warning(d, file, 0, 0, "%zu more bad lines not shown", ps.reported - ZT_FEED_DIAGS_MAX);
	if (ps.wide_line) {
		r = zt_diag_error(d, file, (unsigned)ps.wide_line, 0,
				  "feed refused: an entry wider than a /%d (IPv4) or /%d (IPv6) would block whole networks; the last good copy stays in force",
				  ZT_FEED_MIN_PLEN4, ZT_FEED_MIN_PLEN6);
		zt_feed_data_clear(&f);
		return r;
	}
	if (f.bad && f.bad * 100 > (uint64_t)max_bad * (entries + f.bad)) {
		r = zt_diag_error(d, file, 0, 0,
				  "feed refused: %zu bad lines of %zu with an entry (more than %u%%); the last good copy stays in force",
				  f.bad, entries + f.bad, max_bad);
		zt_feed_data_clear(&f);
		return r;
	}
	if (lim && lim->prev_entries >= ZT_FEED_SHRINK_MIN && entries < lim->prev_entries &&
	    (lim->prev_entries - entries) * 100 > (uint64_t)max_shrink * lim->prev_entries) {
		r = zt_diag_error(d, file, 0, 0,
				  "feed refused: %zu entries, down from %zu (more than %u%% gone at once); the last good copy stays in force",
				  entries, lim->prev_entries, max_shrink);
		zt_feed_data_clear(&f);
		return r;
	}
	*ret = f;
	return 0;
}

ssize_t zt_feed_find(const struct zt_feed_data *f, uint8_t family, const uint8_t *addr)
{
	zt_u128 v = val_of(family, addr);

	if (family == AF_INET) {
		for (size_t i = 0; i < f->n4; i++)
			if (f->e4[i].lo <= v && v <= f->e4[i].hi)
				return (ssize_t)i;
	} else {
		for (size_t i = 0; i < f->n6; i++)
			if (f->e6[i].lo <= v && v <= f->e6[i].hi)
				return (ssize_t)i;
	}
	return -1;
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
