/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/feed-parse.c and lib/feed-diff.c: the strict feed
 * parser (formats, diagnostics, thresholds), the flattening of feeds with
 * threats.except, and the chunked difference, checked against a brute-force
 * model: after every chunk, an address listed in both versions is listed
 * and one listed in neither is not — also across the two maps the daemon
 * splits a list into (single addresses in a hash map, ranges in an interval
 * map), updated in three phases.
 */
#include <arpa/inet.h>
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "feed.h"

#define LIM_ALL { .max_bad_pct = 100, .max_shrink_pct = 100 }

static int parse(const char *text, const struct zt_feed_limits *lim, struct zt_feed_data *f, struct zt_diags *d)
{
	return zt_feed_parse("feeds/t.txt", text, strlen(text), lim, f, d);
}

static bool has_diag(const struct zt_diags *d, unsigned line, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].line == line && strstr(d->v[i].msg, needle))
			return true;
	return false;
}

START_TEST(test_formats)
{
	const char *text =
		"# FireHOL-style header\n"
		"; Spamhaus DROP\n"
		"192.0.2.0/24 ; SBL123456\n"
		"  198.51.100.7\t# trailing comment\n"
		"203.0.113.10-203.0.113.20\n"
		"2001:db8::/32\n"
		"2001:db8:1::1\r\n"
		"\n";
	struct zt_feed_data f = {};
	struct zt_diags d = {};
	char buf[128];

	ck_assert_int_eq(parse(text, NULL, &f, &d), 0);
	ck_assert_uint_eq(d.n, 0);
	ck_assert_uint_eq(f.n4, 3);
	ck_assert_uint_eq(f.n6, 2);
	/* Sorted by width tier, then address: the single address first, then the /24, then the range. */
	ck_assert_uint_eq(f.e4[1].line, 3);
	ck_assert_str_eq(zt_feed_entry_fmt(&f, AF_INET, 1, buf, sizeof(buf)), "192.0.2.0/24");
	ck_assert_str_eq(zt_feed_entry_fmt(&f, AF_INET, 0, buf, sizeof(buf)), "198.51.100.7/32");
	ck_assert_str_eq(zt_feed_entry_fmt(&f, AF_INET, 2, buf, sizeof(buf)), "203.0.113.10-203.0.113.20");
	ck_assert_str_eq(zt_feed_entry_fmt(&f, AF_INET6, 1, buf, sizeof(buf)), "2001:db8::/32");
	{
		uint8_t a[16];

		inet_pton(AF_INET, "203.0.113.15", a);
		ck_assert_int_eq(zt_feed_find(&f, AF_INET, a), 2);
		ck_assert_uint_eq(f.e4[2].line, 5);
		inet_pton(AF_INET, "203.0.113.21", a);
		ck_assert_int_eq(zt_feed_find(&f, AF_INET, a), -1);
	}
	zt_feed_data_clear(&f);
	zt_diags_clear(&d);
}
END_TEST

static const struct {
	const char *line, *msg;
} bad_lines[] = {
	{ "192.0.2.1/33", "prefix length out of range" },
	{ "192.0.2.1/24", "host bits set" },
	{ "192.0.2.300", "invalid address" },
	{ "192.0.2.9-192.0.2.1", "range ends before it starts" },
	{ "192.0.2.1-2001:db8::1", "mixes IPv4 and IPv6" },
	{ "192.0.2.1 198.51.100.1", "more than one entry" },
	{ "evil.example.com", "expected an address" },
	{ "192.0.2.1\x01", "binary data" },
	{ "\xff\xfe\x00garbage", "binary data" },
	{ "192.0.2.0/", "invalid prefix length" },
};

START_TEST(test_bad_line)
{
	/* 200 good lines and one bad: within 1%, skipped with a warning at its line. */
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	struct zt_feed_data f = {};
	struct zt_diags d = {};
	int r;

	for (int i = 0; i < 200; i++)
		fprintf(m, "198.51.100.%d\n", i);
	fwrite(bad_lines[_i].line, 1, strlen(bad_lines[_i].line) + (bad_lines[_i].line[0] == '\xff' ? 3 : 0), m);
	fputc('\n', m);
	fclose(m);
	r = zt_feed_parse("feeds/t.txt", text, len, NULL, &f, &d);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(f.bad, 1);
	ck_assert_uint_eq(f.n4, 200);
	ck_assert_msg(has_diag(&d, 201, bad_lines[_i].msg), "no '%s' at line 201", bad_lines[_i].msg);
	/* The excerpt is escaped: no control byte reaches a message. */
	for (size_t i = 0; i < d.n; i++)
		for (const char *p = d.v[i].msg; *p; p++)
			ck_assert((unsigned char)*p >= 0x20);
	zt_feed_data_clear(&f);
	zt_diags_clear(&d);
	free(text);
}
END_TEST

START_TEST(test_refusals)
{
	struct zt_feed_data f = {};
	struct zt_diags d = {};
	struct zt_feed_limits lim = { .max_bad_pct = 1, .max_shrink_pct = 50 };
	char *big;

	/* Too many bad lines. */
	ck_assert_int_eq(parse("192.0.2.1\nnope\n", &lim, &f, &d), -EINVAL);
	ck_assert(d.n_errors == 1 && strstr(d.v[d.n - 1].msg, "feed refused: 1 bad lines of 2"));
	zt_diags_clear(&d);
	/* 0.0.0.0/0 and ::/0 refuse the whole feed, with the line. */
	ck_assert_int_eq(parse("192.0.2.1\n0.0.0.0/0\n", &lim, &f, &d), -EINVAL);
	ck_assert(has_diag(&d, 2, "feed refused: an entry wider than a /8"));
	zt_diags_clear(&d);
	ck_assert_int_eq(parse("::/0\n", &lim, &f, &d), -EINVAL);
	zt_diags_clear(&d);
	ck_assert_int_eq(parse("0.0.0.0-255.255.255.255\n", &lim, &f, &d), -EINVAL);
	zt_diags_clear(&d);
	/* A /8 is still allowed. */
	ck_assert_int_eq(parse("10.0.0.0/8\n", &lim, &f, &d), 0);
	zt_feed_data_clear(&f);
	zt_diags_clear(&d);
	/* Shrinks by more than half at once: refused; a small feed may shrink. */
	lim.prev_entries = 1000;
	ck_assert_int_eq(parse("192.0.2.1\n", &lim, &f, &d), -EINVAL);
	ck_assert(strstr(d.v[d.n - 1].msg, "down from 1000"));
	zt_diags_clear(&d);
	lim.prev_entries = 2;
	ck_assert_int_eq(parse("192.0.2.1\n", &lim, &f, &d), 0);
	zt_feed_data_clear(&f);
	zt_diags_clear(&d);
	/* A 1 MiB line: one bad line, reported without its content. */
	big = malloc(1 << 20);
	memset(big, '1', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	lim = (struct zt_feed_limits){ .max_bad_pct = 100, .max_shrink_pct = 50 };
	ck_assert_int_eq(parse(big, &lim, &f, &d), 0);
	ck_assert(has_diag(&d, 1, "line too long"));
	ck_assert_uint_lt(strlen(d.v[0].msg), 300);
	zt_feed_data_clear(&f);
	zt_diags_clear(&d);
	/* Too large as a whole. */
	lim.max_bytes = 1024;
	ck_assert_int_eq(parse(big, &lim, &f, &d), -EINVAL);
	ck_assert(strstr(d.v[0].msg, "more than the limit of 1024"));
	zt_diags_clear(&d);
	free(big);
}
END_TEST

/* ---- flattening and the difference, against a model of a small space ---- */

#define SPACE 512		/* addresses 10.0.0.0 + [0, SPACE) */
#define BASE 0x0a000000u

static void model_of(const struct zt_fset *s, int m[SPACE])
{
	for (int a = 0; a < SPACE; a++)
		m[a] = -1;
	for (size_t i = 0; i < s->n; i++) {
		ck_assert(i == 0 || s->v4[i].lo > s->v4[i - 1].hi);	/* sorted, disjoint */
		for (uint32_t a = s->v4[i].lo; a <= s->v4[i].hi; a++)
			if (a >= BASE && a < BASE + SPACE)
				m[a - BASE] = (int)s->v4[i].feed;
	}
}

static void random_feed(struct zt_feed_data *f, unsigned seed, int n)
{
	*f = (struct zt_feed_data){};
	srand(seed);
	for (int i = 0; i < n; i++) {
		uint32_t lo = BASE + (uint32_t)(rand() % SPACE), len = (uint32_t)(rand() % 3 == 0 ? rand() % 40 : 0);
		uint32_t hi = lo + len < BASE + SPACE ? lo + len : BASE + SPACE - 1;

		f->e4 = realloc(f->e4, (f->n4 + 1) * sizeof(*f->e4));
		f->e4[f->n4++] = (struct zt_feed_e4){ lo, hi, (uint32_t)i + 1 };
	}
}

static void build(struct zt_fset *s, unsigned seed, const struct zt_cidr *except, size_t n_except, size_t *carved)
{
	struct zt_feed_data a, b;

	*s = (struct zt_fset){ .family = AF_INET };
	random_feed(&a, seed, 30);
	random_feed(&b, seed + 1000, 30);
	ck_assert_int_eq(zt_fset_add_feed(s, &a, 0, except, n_except, carved), 0);
	ck_assert_int_eq(zt_fset_add_feed(s, &b, 1, except, n_except, carved), 0);
	zt_feed_data_clear(&a);
	zt_feed_data_clear(&b);
}

START_TEST(test_flatten)
{
	struct zt_feed_data a = {}, b = {};
	struct zt_fset s = { .family = AF_INET };
	struct zt_cidr ex = { .family = AF_INET, .plen = 30 };
	size_t carved = 0;
	int m[SPACE];

	/* Feed 0 lists [10, 20], feed 1 lists [15, 40]; except 10.0.0.16/30 carves [16, 19]. */
	random_feed(&a, 1, 0);
	random_feed(&b, 1, 0);
	a.e4 = calloc(1, sizeof(*a.e4));
	a.e4[a.n4++] = (struct zt_feed_e4){ BASE + 10, BASE + 20, 1 };
	b.e4 = calloc(2, sizeof(*b.e4));
	b.e4[b.n4++] = (struct zt_feed_e4){ BASE + 15, BASE + 40, 1 };
	b.e4[b.n4++] = (struct zt_feed_e4){ BASE + 30, BASE + 35, 2 };	/* overlaps its own feed: merged */
	inet_pton(AF_INET, "10.0.0.16", ex.addr);
	ck_assert_int_eq(zt_fset_add_feed(&s, &a, 0, &ex, 1, &carved), 0);
	ck_assert_int_eq(zt_fset_add_feed(&s, &b, 1, &ex, 1, &carved), 0);
	ck_assert_uint_eq(carved, 2);
	model_of(&s, m);
	for (int i = 0; i < 50; i++) {
		int want = i >= 10 && i <= 15 ? 0 : i >= 16 && i <= 19 ? -1 : i == 20 ? 0 : i >= 21 && i <= 40 ? 1 : -1;

		ck_assert_msg(m[i] == want, "address %d: feed %d, expected %d", i, m[i], want);
	}
	{
		uint8_t addr[4] = { 10, 0, 0, 33 };
		ssize_t k = zt_fset_find(&s, addr);

		ck_assert(k >= 0 && s.v4[k].feed == 1);
		addr[3] = 17;
		ck_assert_int_eq(zt_fset_find(&s, addr), -1);
	}
	zt_feed_data_clear(&a);
	zt_feed_data_clear(&b);
	zt_fset_clear(&s);
}
END_TEST

/* Apply the chunks one by one to a model: deletes need the exact element, adds never overlap. */
START_TEST(test_diff_chunks)
{
	struct zt_fset old, new;
	struct zt_fdiff df = {};
	int mo[SPACE], mn[SPACE], cur[SPACE];
	size_t from = 0;

	build(&old, 100 + (unsigned)_i, NULL, 0, NULL);
	build(&new, 200 + (unsigned)_i, NULL, 0, NULL);
	if (_i % 3 == 0) {	/* a 1% change: the same with one element gone */
		zt_fset_clear(&new);
		zt_fset_copy(&new, &old);
		if (new.n > 2) {
			memmove(&new.v4[1], &new.v4[2], (new.n - 2) * sizeof(new.v4[0]));
			new.n--;
		}
	}
	model_of(&old, mo);
	model_of(&new, mn);
	memcpy(cur, mo, sizeof(cur));
	ck_assert_int_eq(zt_fset_diff(&old, &new, 1 + (size_t)_i % 4, ZT_FDIFF_ALL, &df), 0);
	for (size_t c = 0; c < df.n_chunks; c++) {
		for (size_t k = from; k < df.chunk_end[c]; k++) {
			const struct zt_fop *op = &df.ops[k];
			const struct zt_fel4 *e = op->add ? &new.v4[op->idx] : &old.v4[op->idx];

			for (uint32_t a = e->lo; a <= e->hi; a++) {
				if (op->add) {
					ck_assert_msg(cur[a - BASE] == -1, "chunk %zu adds over a live element at %u", c,
						      a - BASE);
					cur[a - BASE] = (int)e->feed;
				} else {
					ck_assert(cur[a - BASE] == (int)e->feed);
					cur[a - BASE] = -1;
				}
			}
			/* Deletes come before adds within a chunk. */
			if (k > from && !op->add)
				ck_assert(!df.ops[k - 1].add);
		}
		from = df.chunk_end[c];
		for (int a = 0; a < SPACE; a++) {
			if (mo[a] >= 0 && mn[a] >= 0)
				ck_assert_msg(cur[a] >= 0, "address %d listed before and after is absent after chunk %zu", a, c);
			if (mo[a] < 0 && mn[a] < 0)
				ck_assert_msg(cur[a] < 0, "address %d listed in neither is present after chunk %zu", a, c);
		}
	}
	ck_assert(memcmp(cur, mn, sizeof(cur)) == 0);
	zt_fdiff_clear(&df);
	zt_fset_clear(&old);
	zt_fset_clear(&new);
}
END_TEST

/*
 * Two maps, as the daemon keeps them: single addresses in a hash map, ranges
 * in an interval map. The versions move addresses between the two (an exact
 * entry into a prefix, a prefix shrunk to one address, a feed's entry taken
 * over by another feed); the update runs in the daemon's three phases (the
 * hash map's difference but its gone deletes, the interval map's, the hash
 * map's gone deletes), and after every chunk of every phase an address listed
 * in both versions is in one of the maps, one listed in neither in none.
 */
static void split_model(const struct zt_fset *x, const struct zt_fset *r, int m[SPACE])
{
	int mx[SPACE], mr[SPACE];

	model_of(x, mx);
	model_of(r, mr);
	for (int a = 0; a < SPACE; a++) {
		ck_assert_msg(mx[a] < 0 || mr[a] < 0, "address %d in both maps of one version", a);
		m[a] = mx[a] >= 0 ? mx[a] : mr[a];
	}
	for (size_t i = 0; i < x->n; i++)
		ck_assert(x->v4[i].lo == x->v4[i].hi);
	for (size_t i = 0; i < r->n; i++)
		ck_assert(r->v4[i].lo < r->v4[i].hi);
}

/* One phase applied chunk by chunk to the map models (hx: the hash map, hr: the interval map). */
static void apply_phase(const struct zt_fset *old, const struct zt_fset *new, enum zt_fdiff_mode mode, size_t chunk,
			int *map, const int *other, const int mo[SPACE], const int mn[SPACE], bool exact)
{
	struct zt_fdiff df = {};
	size_t from = 0;

	ck_assert_int_eq(zt_fset_diff(old, new, chunk, mode, &df), 0);
	for (size_t c = 0; c < df.n_chunks; c++) {
		for (size_t k = from; k < df.chunk_end[c]; k++) {
			const struct zt_fop *op = &df.ops[k];
			const struct zt_fel4 *e = op->add ? &new->v4[op->idx] : &old->v4[op->idx];

			ck_assert(!exact || e->lo == e->hi);
			for (uint32_t a = e->lo; a <= e->hi; a++) {
				if (op->add) {
					ck_assert_msg(map[a - BASE] == -1, "adds over a live element at %u", a - BASE);
					map[a - BASE] = (int)e->feed;
				} else {
					ck_assert(map[a - BASE] == (int)e->feed);
					map[a - BASE] = -1;
				}
			}
			if (mode == ZT_FDIFF_GONE)
				ck_assert(!op->add);
		}
		from = df.chunk_end[c];
		for (int a = 0; a < SPACE; a++) {
			bool listed = map[a] >= 0 || other[a] >= 0;

			if (mo[a] >= 0 && mn[a] >= 0)
				ck_assert_msg(listed, "address %d listed before and after is absent (mode %d, chunk %zu)", a,
					      mode, c);
			if (mo[a] < 0 && mn[a] < 0)
				ck_assert_msg(!listed, "address %d listed in neither is present (mode %d, chunk %zu)", a, mode,
					      c);
		}
	}
	zt_fdiff_clear(&df);
}

static void random_exactish(struct zt_feed_data *f, unsigned seed, int n)
{
	*f = (struct zt_feed_data){};
	srand(seed);
	for (int i = 0; i < n; i++) {
		uint32_t lo = BASE + (uint32_t)(rand() % SPACE), len = (uint32_t)(rand() % 2 == 0 ? rand() % 16 : 0);
		uint32_t hi = lo + len < BASE + SPACE ? lo + len : BASE + SPACE - 1;

		f->e4 = realloc(f->e4, (f->n4 + 1) * sizeof(*f->e4));
		f->e4[f->n4++] = (struct zt_feed_e4){ lo, hi, (uint32_t)i + 1 };
	}
}

START_TEST(test_split_phases)
{
	struct zt_feed_data a, b;
	struct zt_fset old = { .family = AF_INET }, new = { .family = AF_INET }, ox = {}, nx = {};
	struct zt_cidr ex = { .family = AF_INET, .plen = 29 };
	int mo[SPACE], mn[SPACE], hx[SPACE], hr[SPACE], fin[SPACE];
	size_t chunk = 1 + (size_t)_i % 5;

	inet_pton(AF_INET, "10.0.1.8", ex.addr);
	random_exactish(&a, 300 + (unsigned)_i, 120);
	random_exactish(&b, 400 + (unsigned)_i, 120);
	ck_assert_int_eq(zt_fset_add_feed(&old, &a, 0, &ex, 1, NULL), 0);
	ck_assert_int_eq(zt_fset_add_feed(&old, &b, 1, &ex, 1, NULL), 0);
	if (_i % 2) {	/* the feeds change places: every shared address changes its feed */
		ck_assert_int_eq(zt_fset_add_feed(&new, &b, 0, &ex, 1, NULL), 0);
		ck_assert_int_eq(zt_fset_add_feed(&new, &a, 1, &ex, 1, NULL), 0);
	} else {	/* a new version of each: half the entries differ, widened or narrowed */
		for (size_t i = 0; i < a.n4; i += 2)
			a.e4[i].hi = a.e4[i].lo == a.e4[i].hi && a.e4[i].lo + 7 < BASE + SPACE ? a.e4[i].lo + 7 : a.e4[i].lo;
		for (size_t i = 1; i < b.n4; i += 3)
			b.e4[i].lo = b.e4[i].hi;
		ck_assert_int_eq(zt_fset_add_feed(&new, &a, 0, &ex, 1, NULL), 0);
		ck_assert_int_eq(zt_fset_add_feed(&new, &b, 1, &ex, 1, NULL), 0);
	}
	model_of(&old, mo);
	model_of(&new, mn);
	ck_assert_int_eq(zt_fset_split(&old, &ox), 0);
	ck_assert_int_eq(zt_fset_split(&new, &nx), 0);
	ck_assert(ox.n > 0 && nx.n > 0 && old.n > 0 && new.n > 0);
	/* The split changes nothing an address is listed by. */
	split_model(&ox, &old, fin);
	ck_assert(memcmp(fin, mo, sizeof(fin)) == 0);
	split_model(&nx, &new, fin);
	ck_assert(memcmp(fin, mn, sizeof(fin)) == 0);
	model_of(&ox, hx);
	model_of(&old, hr);
	apply_phase(&ox, &nx, ZT_FDIFF_KEEP_GONE, chunk, hx, hr, mo, mn, true);
	apply_phase(&old, &new, ZT_FDIFF_ALL, chunk, hr, hx, mo, mn, false);
	apply_phase(&ox, &nx, ZT_FDIFF_GONE, chunk, hx, hr, mo, mn, true);
	/* Done: each map as the new version has it, so the hash-first lookup names the right feed. */
	model_of(&nx, fin);
	ck_assert(memcmp(fin, hx, sizeof(fin)) == 0);
	model_of(&new, fin);
	ck_assert(memcmp(fin, hr, sizeof(fin)) == 0);
	for (int k = 0; k < SPACE; k++)
		ck_assert_int_eq(hx[k] >= 0 ? hx[k] : hr[k], mn[k]);
	/* Except carved out of both maps. */
	for (int k = 264; k < 272; k++)
		ck_assert(hx[k] < 0 && hr[k] < 0);
	zt_feed_data_clear(&a);
	zt_feed_data_clear(&b);
	zt_fset_clear(&old);
	zt_fset_clear(&new);
	zt_fset_clear(&ox);
	zt_fset_clear(&nx);
}
END_TEST

/* A wrong order is caught: the interval map's difference before the hash map's adds leaves an address absent. */
START_TEST(test_split_order_matters)
{
	struct zt_fset old = { .family = AF_INET }, new = { .family = AF_INET }, ox = {}, nx = {};
	struct zt_fdiff df = {};
	struct zt_fel4 o[1] = { { BASE + 8, BASE + 15, 0 } }, n[1] = { { BASE + 10, BASE + 10, 0 } };

	/* 10.0.0.8/29 becomes 10.0.0.10 alone: it moves from the interval map to the hash map. */
	old.v4 = malloc(sizeof(o));
	memcpy(old.v4, o, sizeof(o));
	old.n = old.cap = 1;
	new.v4 = malloc(sizeof(n));
	memcpy(new.v4, n, sizeof(n));
	new.n = new.cap = 1;
	ck_assert_int_eq(zt_fset_split(&old, &ox), 0);
	ck_assert_int_eq(zt_fset_split(&new, &nx), 0);
	ck_assert_uint_eq(ox.n, 0);
	ck_assert_uint_eq(old.n, 1);
	ck_assert_uint_eq(nx.n, 1);
	ck_assert_uint_eq(new.n, 0);
	/* The interval map's step only deletes; the hash map's first step only adds 10.0.0.10. */
	ck_assert_int_eq(zt_fset_diff(&old, &new, 4, ZT_FDIFF_ALL, &df), 0);
	ck_assert(df.n == 1 && !df.ops[0].add);
	zt_fdiff_clear(&df);
	ck_assert_int_eq(zt_fset_diff(&ox, &nx, 4, ZT_FDIFF_KEEP_GONE, &df), 0);
	ck_assert(df.n == 1 && df.ops[0].add);
	zt_fdiff_clear(&df);
	ck_assert_int_eq(zt_fset_diff(&ox, &nx, 4, ZT_FDIFF_GONE, &df), 0);
	ck_assert_uint_eq(df.n, 0);
	zt_fdiff_clear(&df);
	zt_fset_clear(&old);
	zt_fset_clear(&new);
	zt_fset_clear(&ox);
	zt_fset_clear(&nx);
}
END_TEST

/* v4 elements appended in order (the caller keeps them sorted and disjoint). */
static void lay_put(struct zt_fset *s, uint32_t lo, uint32_t hi)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v4 = realloc(s->v4, s->cap * sizeof(*s->v4));
		ck_assert_ptr_nonnull(s->v4);
	}
	s->v4[s->n++] = (struct zt_fel4){ lo, hi, 0 };
}

static bool lay_names(const struct zt_flayout *l, size_t slot)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->slot[i] == slot)
			return true;
	return false;
}

/*
 * The layout of an update: 2,400 elements in 8 ranges (and a ninth, empty
 * one above them); the update drops some, and by seed adds a run of 3,000
 * above the top (drift), 800 in a gap of cur in the middle (elements kept
 * on both sides), or nothing. Every element of cur keeps
 * its slot, none crosses a new range, the runs land in free slots of at
 * most two shares, and only slots empty in cur leave the layout.
 */
START_TEST(test_layout_plan)
{
	struct zt_fset cur = { .family = AF_INET }, want = { .family = AF_INET };
	struct zt_flayout old, nl;
	zt_u128 b[8];
	size_t split = 9, unit, kind = (size_t)_i % 3, n_slots = 32, n_base = 16;
	size_t cnt_new[32] = {};
	uint32_t top;
	int r;

	srand((unsigned)_i + 7);
	for (uint32_t e = 0; e < 2400; e++) {
		uint32_t lo = 16 * e + (uint32_t)(rand() % 4), hi = lo + (uint32_t)(rand() % 8);
		bool gap = kind == 1 && e >= 1000 && e < 1100;

		if (!gap)
			lay_put(&cur, lo, hi);
		if (!gap && rand() % 10)
			lay_put(&want, lo, hi);
		if (gap && e == 1099)	/* 800 new elements where 100 were */
			for (uint32_t j = 0; j < 800; j++)
				lay_put(&want, 16 * 1000 + 2 * j, 16 * 1000 + 2 * j);
	}
	top = cur.v4[cur.n - 1].hi;
	if (kind == 0)
		for (uint32_t j = 0; j < 3000; j++)
			lay_put(&want, top + 100 + 4 * j, top + 101 + 4 * j);
	ck_assert_int_eq(zt_fset_bounds(&cur, 8, b), 0);
	zt_flayout_set(&old, b, 8);
	/* A ninth range above the elements, in slot 8: empty in cur. */
	old.lo[8] = top + 50;
	old.slot[8] = 8;
	old.n = 9;
	ck_assert(zt_flayout_valid(&old, n_slots));
	ck_assert_int_eq(zt_fset_cut(&cur, old.lo, old.n), 0);
	ck_assert_int_eq(zt_fset_cut(&want, old.lo, old.n), 0);

	r = zt_flayout_plan(&old, &cur, &want, n_slots, n_base, &nl, &split);
	ck_assert_int_eq(r, 1);
	ck_assert(zt_flayout_valid(&nl, n_slots));
	unit = want.n / n_base < ZT_FLAYOUT_MIN_SHARE ? ZT_FLAYOUT_MIN_SHARE : want.n / n_base;
	for (size_t i = 0; i < cur.n; i++) {
		ck_assert_uint_eq(zt_flayout_slot_of(&nl, cur.v4[i].lo), zt_flayout_slot_of(&old, cur.v4[i].lo));
		ck_assert_uint_eq(zt_fset_shard_of(nl.lo, nl.n, cur.v4[i].lo), zt_fset_shard_of(nl.lo, nl.n, cur.v4[i].hi));
	}
	for (size_t i = 0; i < want.n; i++) {
		size_t k = zt_flayout_slot_of(&nl, want.v4[i].lo);

		ck_assert_uint_eq(zt_fset_shard_of(nl.lo, nl.n, want.v4[i].lo), zt_fset_shard_of(nl.lo, nl.n, want.v4[i].hi));
		if (!lay_names(&old, k)) {
			cnt_new[k]++;
			/* only new elements in a new slot */
			ck_assert(zt_fset_find(&cur, (uint8_t[]){ (uint8_t)(want.v4[i].lo >> 24), (uint8_t)(want.v4[i].lo >> 16),
								 (uint8_t)(want.v4[i].lo >> 8), (uint8_t)want.v4[i].lo }) < 0);
		}
		/* the run above the top is in new slots */
		if (kind == 0 && want.v4[i].lo > top)
			ck_assert(!lay_names(&old, k));
	}
	for (size_t k = 0; k < n_slots; k++) {
		ck_assert_uint_le(cnt_new[k], 2 * unit);
		if (lay_names(&old, k) && !lay_names(&nl, k))
			for (size_t i = 0; i < cur.n; i++)
				ck_assert_uint_ne(zt_flayout_slot_of(&old, cur.v4[i].lo), k);
	}
	if (kind == 2) {
		/* nothing to split: only the empty ninth range merged into the eighth */
		ck_assert_uint_eq(split, 0);
		ck_assert_uint_eq(nl.n, 8);
		ck_assert(!lay_names(&nl, 8));
	} else
		ck_assert_uint_ge(split, (size_t)(kind == 0 ? 5 : 2));
	/* The same update again, from the new layout: nothing more to do. */
	ck_assert_int_eq(zt_fset_cut(&want, nl.lo, nl.n), 0);
	{
		struct zt_flayout again;

		ck_assert_int_eq(zt_flayout_plan(&nl, &want, &want, n_slots, n_base, &again, NULL), 0);
		ck_assert(zt_flayout_eq(&again, &nl));
	}
	/* An empty cur keeps its layout (the caller lays it out anew). */
	{
		struct zt_fset none = { .family = AF_INET };

		ck_assert_int_eq(zt_flayout_plan(&old, &none, &want, n_slots, n_base, &nl, NULL), 0);
		ck_assert(zt_flayout_eq(&nl, &old));
	}
	zt_fset_clear(&cur);
	zt_fset_clear(&want);
}
END_TEST

/*
 * A hash map replaced by another: its gone deletes split by whether the
 * new interval map covers them, the uncovered ones interleaved with the
 * adds, every operation kept once, each chunk whole and in order, and the
 * map's size never above its larger version by more than a chunk.
 */
START_TEST(test_gone_interleave)
{
	struct zt_fset old = { .family = AF_INET }, new = { .family = AF_INET }, cover = { .family = AF_INET };
	struct zt_fdiff keep, gone, early, late, mixed;
	size_t chunk = 1 + (size_t)_i % 7, seen_keep = 0, n_early = 0;
	long size, max_size;

	srand((unsigned)_i + 11);
	for (uint32_t a = 0; a < 1500; a++) {
		int o = rand() % 4;

		/* 0: only old, 1: only new, 2: both, 3: neither */
		if (o == 0 || o == 2)
			lay_put(&old, a * 4, a * 4);
		if (o == 1 || o == 2)
			lay_put(&new, a * 4, a * 4);
	}
	for (uint32_t a = 0; a < 1500; a += 50)
		lay_put(&cover, a * 4, a * 4 + 40);
	ck_assert_int_eq(zt_fset_diff(&old, &new, chunk, ZT_FDIFF_KEEP_GONE, &keep), 0);
	ck_assert_int_eq(zt_fset_diff(&old, &new, chunk, ZT_FDIFF_GONE, &gone), 0);
	ck_assert_int_eq(zt_fdiff_gone_split(&gone, &old, &cover, chunk, &early, &late), 0);
	ck_assert_uint_eq(early.n + late.n, gone.n);
	ck_assert_uint_eq(early.dels + late.dels, gone.dels);
	for (size_t i = 0; i < early.n; i++) {
		uint32_t a = old.v4[early.ops[i].idx].lo;

		ck_assert(!early.ops[i].add);
		for (size_t c = 0; c < cover.n; c++)
			ck_assert(!(cover.v4[c].lo <= a && a <= cover.v4[c].hi));
	}
	for (size_t i = 0; i < late.n; i++) {
		uint32_t a = old.v4[late.ops[i].idx].lo;
		bool in = false;

		for (size_t c = 0; c < cover.n; c++)
			in |= cover.v4[c].lo <= a && a <= cover.v4[c].hi;
		ck_assert(in);
	}
	ck_assert_int_eq(zt_fdiff_interleave(&keep, &early, &mixed), 0);
	ck_assert_uint_eq(mixed.n, keep.n + early.n);
	ck_assert_uint_eq(mixed.adds, keep.adds);
	ck_assert_uint_eq(mixed.dels, keep.dels + early.dels);
	ck_assert_uint_eq(mixed.n_chunks, keep.n_chunks + early.n_chunks);
	/* keep's chunks whole and in order; the rest early's, in order */
	size = (long)old.n;
	max_size = size;
	for (size_t c = 0, ck = 0, ce = 0; c < mixed.n_chunks; c++) {
		size_t from = c ? mixed.chunk_end[c - 1] : 0, to = mixed.chunk_end[c];
		const struct zt_fdiff *src = NULL;
		size_t *pos = NULL;

		if (ck < keep.n_chunks && to - from == keep.chunk_end[ck] - (ck ? keep.chunk_end[ck - 1] : 0) &&
		    !memcmp(&mixed.ops[from], &keep.ops[ck ? keep.chunk_end[ck - 1] : 0], (to - from) * sizeof(struct zt_fop)))
			src = &keep, pos = &ck;
		else
			src = &early, pos = &ce;
		ck_assert_uint_lt(*pos, src->n_chunks);
		ck_assert(!memcmp(&mixed.ops[from], &src->ops[*pos ? src->chunk_end[*pos - 1] : 0],
				  (to - from) * sizeof(struct zt_fop)));
		if (src == &keep)
			seen_keep += to - from;
		else
			n_early += to - from;
		(*pos)++;
		for (size_t i = from; i < to; i++)
			size += mixed.ops[i].add ? 1 : -1;
		if (size > max_size)
			max_size = size;
	}
	ck_assert_uint_eq(seen_keep, keep.n);
	ck_assert_uint_eq(n_early, early.n);
	/* level: never above the larger version by more than the changed pairs and a chunk */
	ck_assert_int_le(max_size, (long)(old.n > new.n ? old.n : new.n) + (long)keep.dels + (long)late.n + (long)chunk);
	zt_fdiff_clear(&keep);
	zt_fdiff_clear(&gone);
	zt_fdiff_clear(&early);
	zt_fdiff_clear(&late);
	zt_fdiff_clear(&mixed);
	zt_fset_clear(&old);
	zt_fset_clear(&new);
	zt_fset_clear(&cover);
}
END_TEST

/* Cut at shard bounds: each piece in one shard, nothing an address is listed by changed. */
START_TEST(test_cut)
{
	struct zt_fset s;
	zt_u128 b[8];
	int before[SPACE], after[SPACE];

	build(&s, 500 + (unsigned)_i, NULL, 0, NULL);
	model_of(&s, before);
	if (_i % 2) {
		ck_assert_int_eq(zt_fset_bounds(&s, 8, b), 0);
		for (size_t k = 1; k < 8; k++)
			ck_assert(b[k] > b[k - 1]);
	} else {
		for (size_t k = 0; k < 8; k++)
			b[k] = k ? BASE + 64 * k + (uint32_t)_i : 0;
	}
	ck_assert_int_eq(zt_fset_cut(&s, b, 8), 0);
	model_of(&s, after);
	ck_assert(memcmp(before, after, sizeof(before)) == 0);
	for (size_t i = 0; i < s.n; i++)
		ck_assert_uint_eq(zt_fset_shard_of(b, 8, s.v4[i].lo), zt_fset_shard_of(b, 8, s.v4[i].hi));
	if (!(_i % 2))
		for (size_t i = 0; i < s.n; i++)
			for (size_t k = 1; k < 8; k++)
				ck_assert(!(s.v4[i].lo < b[k] && s.v4[i].hi >= b[k]));
	ck_assert_int_eq(zt_fset_shard_of(b, 8, 0), 0);
	ck_assert_int_eq(zt_fset_shard_of(b, 8, ~(zt_u128)0), 7);
	zt_fset_bounds_even(AF_INET, 4, b);
	ck_assert(b[1] == 0x40000000u && b[3] == 0xc0000000u);
	zt_fset_bounds_even(AF_INET6, 4, b);
	ck_assert(b[2] == (zt_u128)1 << 127);
	zt_fset_clear(&s);
}
END_TEST

/* A large IPv4 feed (the radix sort's path): sorted, disjoint, merged, and each address listed iff an entry holds it. */
START_TEST(test_flatten_large)
{
	struct zt_feed_data f = {};
	struct zt_fset s = { .family = AF_INET };
	const uint32_t base = 0x0b000000u, span = 1u << 20;
	size_t n = 20000;

	srand(700 + (unsigned)_i);
	f.e4 = calloc(n, sizeof(*f.e4));
	for (size_t i = 0; i < n; i++) {
		uint32_t lo = base + (uint32_t)rand() % span, len = (uint32_t)(rand() % 4 == 0 ? rand() % 300 : 0);

		/* Some entries far away, above 2^31 (the radix sort's high digits). */
		if (i % 7 == 0)
			lo += 0x90000000u;
		f.e4[f.n4++] = (struct zt_feed_e4){ lo, lo + len, (uint32_t)i + 1 };
	}
	ck_assert_int_eq(zt_fset_add_feed(&s, &f, 3, NULL, 0, NULL), 0);
	for (size_t i = 1; i < s.n; i++)
		ck_assert_msg(s.v4[i].lo > s.v4[i - 1].hi + 1, "element %zu not sorted, disjoint and merged", i);
	for (int k = 0; k < 20000; k++) {
		uint32_t a = (k % 7 == 0 ? 0x90000000u : 0) + base + (uint32_t)rand() % (span + 400);
		uint8_t addr[4] = { a >> 24, a >> 16, a >> 8, a };
		bool want = false;
		ssize_t e = zt_fset_find(&s, addr);

		for (size_t i = 0; i < f.n4 && !want; i++)
			want = f.e4[i].lo <= a && a <= f.e4[i].hi;
		ck_assert_msg((e >= 0) == want, "address %08x: found %zd, listed %d", a, e, want);
		ck_assert(e < 0 || s.v4[e].feed == 3);
	}
	zt_feed_data_clear(&f);
	zt_fset_clear(&s);
}
END_TEST

/* The fast path for plain IPv4 lines takes exactly what the general path takes (a trailing tab forces the latter). */
START_TEST(test_fast_lines)
{
	static const char *const lines[] = {
		"192.0.2.1", "192.0.2.0/24", "10.0.0.0/8", "10.0.0.0/7", "192.0.2.1/32", "192.0.2.1/31", "192.0.2.0/024",
		"192.0.2.0/", "192.0.2.0/33", "192.0.2.0/3x", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4",
		"1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4/0", "1.2.3.4//24", "1.2.3.04", "999.1.1.1", "1.2.3.4/8",
		"198.51.100.128/25", "203.0.113.255/32", "/24", "1.2.3.", ".1.2.3", "10.0.0.0/1.", "20.0.0.0/2.",
		"10.0.0.0/.8", "10.0.0.0/8.",
	};
	char a[64], b[64];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct zt_feed_data f = {}, g = {};
		struct zt_diags d = {}, e = {};
		int r1, r2;

		snprintf(a, sizeof(a), "%s\n", lines[i]);
		snprintf(b, sizeof(b), "%s\t\n", lines[i]);
		r1 = parse(a, NULL, &f, &d);
		r2 = parse(b, NULL, &g, &e);
		ck_assert_msg(r1 == r2 && f.n4 == g.n4 && f.n6 == g.n6 && f.bad == g.bad && d.n == e.n,
			      "line '%s': %d/%d, %zu/%zu entries, %zu/%zu bad", lines[i], r1, r2, f.n4, g.n4, f.bad, g.bad);
		for (size_t k = 0; k < f.n4; k++)
			ck_assert(f.e4[k].lo == g.e4[k].lo && f.e4[k].hi == g.e4[k].hi && f.e4[k].line == g.e4[k].line);
		for (size_t k = 0; k < d.n; k++)
			ck_assert_str_eq(d.v[k].msg, e.v[k].msg);
		zt_feed_data_clear(&f);
		zt_feed_data_clear(&g);
		zt_diags_clear(&d);
		zt_diags_clear(&e);
	}
}
END_TEST

/* ---- incremental parse and flattening against the whole ones, over random edit sequences ---- */

#define INC_LINES_MAX 400

struct text {
	char *line[INC_LINES_MAX * 2];
	size_t n;
};

static char *random_line(unsigned *seed)
{
	char buf[128];
	unsigned r = (unsigned)rand_r(seed) % 100, a = (unsigned)rand_r(seed) % 1024;

	if (r < 40)
		snprintf(buf, sizeof(buf), "10.0.%u.%u", a >> 8, a & 255);
	else if (r < 50)
		snprintf(buf, sizeof(buf), "10.0.%u.%u/%u", a >> 8, a & 0xf0, 28);
	else if (r < 54)
		snprintf(buf, sizeof(buf), "10.0.%u.0/24", a >> 8);
	else if (r < 56)
		snprintf(buf, sizeof(buf), "10.0.%u.0/23", (a >> 8) & 2);
	else if (r < 60) {
		unsigned b = a + (unsigned)rand_r(seed) % 40;

		snprintf(buf, sizeof(buf), "10.0.%u.%u-10.0.%u.%u", a >> 8, a & 255, (b >> 8) & 3, b & 255);
	} else if (r < 72)
		snprintf(buf, sizeof(buf), "2001:db8::%x", a);
	else if (r < 78)
		snprintf(buf, sizeof(buf), "2001:db8::%x/124", a & 0x3f0);
	else if (r < 80)
		snprintf(buf, sizeof(buf), "2001:db8::/118");
	else if (r < 84)
		snprintf(buf, sizeof(buf), "# comment %u", a & 3);
	else if (r < 86)
		snprintf(buf, sizeof(buf), "%s", "");
	else if (r < 87)	/* blank to the parser: spaces, tabs, CRs, a comment with any bytes */
		snprintf(buf, sizeof(buf), "%s", (const char *[]){ " \t\r", "\r", " ; \x01\x7f", "\t#\xff" }[a & 3]);
	else if (r < 88)	/* not blank: a control byte before the comment */
		snprintf(buf, sizeof(buf), "%s", a & 1 ? " \x01 # x" : "\x0b");
	else if (r < 91)
		snprintf(buf, sizeof(buf), "10.0.%u.%u ; SBL%u", a >> 8, a & 255, a & 7);
	else if (r < 95)
		snprintf(buf, sizeof(buf), "bad%u", a & 3);
	else
		snprintf(buf, sizeof(buf), "10.0.%u.%u/33", a >> 8, a & 255);
	return strdup(buf);
}

static void text_edit(struct text *t, unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed) % 100;
	size_t at = t->n ? (size_t)rand_r(seed) % (t->n + 1) : 0;

	if (r < 35 && t->n < INC_LINES_MAX * 2 - 1) {	/* insert */
		memmove(&t->line[at + 1], &t->line[at], (t->n - at) * sizeof(char *));
		t->line[at] = random_line(seed);
		t->n++;
	} else if (r < 65 && at < t->n) {		/* delete */
		free(t->line[at]);
		memmove(&t->line[at], &t->line[at + 1], (t->n - at - 1) * sizeof(char *));
		t->n--;
	} else if (r < 90 && at < t->n) {		/* replace */
		free(t->line[at]);
		t->line[at] = random_line(seed);
	} else if (r < 95 && at < t->n && t->n < INC_LINES_MAX * 2 - 1) {	/* duplicate */
		memmove(&t->line[at + 1], &t->line[at], (t->n - at) * sizeof(char *));
		t->line[at + 1] = strdup(t->line[at]);
		t->n++;
	} else if (t->n > 1) {				/* two lines swap */
		size_t b = (size_t)rand_r(seed) % t->n;
		char *x;

		at = at < t->n ? at : 0;
		x = t->line[at];
		t->line[at] = t->line[b];
		t->line[b] = x;
	}
}

static char *text_render(const struct text *t, bool last_nl, size_t *len)
{
	char *out = NULL;
	FILE *m = open_memstream(&out, len);

	for (size_t i = 0; i < t->n; i++)
		fprintf(m, "%s%s", t->line[i], i + 1 < t->n || last_nl ? "\n" : "");
	fclose(m);
	return out;
}

static void data_eq(const struct zt_feed_data *a, const struct zt_feed_data *b)
{
	ck_assert_uint_eq(a->n4, b->n4);
	ck_assert_uint_eq(a->n6, b->n6);
	ck_assert_uint_eq(a->lines, b->lines);
	ck_assert_uint_eq(a->bad, b->bad);
	ck_assert(!memcmp(a->t4, b->t4, sizeof(a->t4)) && !memcmp(a->t6, b->t6, sizeof(a->t6)));
	for (size_t i = 0; i < a->n4; i++)
		ck_assert(a->e4[i].lo == b->e4[i].lo && a->e4[i].hi == b->e4[i].hi && a->e4[i].line == b->e4[i].line);
	for (size_t i = 0; i < a->n6; i++)
		ck_assert(a->e6[i].lo == b->e6[i].lo && a->e6[i].hi == b->e6[i].hi && a->e6[i].line == b->e6[i].line);
	for (size_t i = 0; i < a->bad; i++)
		ck_assert(a->badv[i].line == b->badv[i].line && a->badv[i].off == b->badv[i].off);
}

static void fset_eq(const struct zt_fset *a, const struct zt_fset *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		if (a->family == AF_INET)
			ck_assert(a->v4[i].lo == b->v4[i].lo && a->v4[i].hi == b->v4[i].hi && a->v4[i].feed == b->v4[i].feed);
		else
			ck_assert(a->v6[i].lo == b->v6[i].lo && a->v6[i].hi == b->v6[i].hi && a->v6[i].feed == b->v6[i].feed);
}

/* The first line listing addr, by brute force over the file's lines as parsed whole. */
static void find_eq(const struct zt_feed_data *f, unsigned *seed)
{
	for (int k = 0; k < 20; k++) {
		uint8_t a[16] = {};
		unsigned x = (unsigned)rand_r(seed) % 1100;
		bool v6 = rand_r(seed) & 1;
		uint32_t best = UINT32_MAX;
		ssize_t e;

		if (v6) {
			a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[14] = (uint8_t)(x >> 8), a[15] = (uint8_t)x;
			for (size_t i = 0; i < f->n6; i++) {
				zt_u128 v = (zt_u128)0x20010db8 << 96 | x;

				if (f->e6[i].lo <= v && v <= f->e6[i].hi && f->e6[i].line < best)
					best = f->e6[i].line;
			}
		} else {
			a[0] = 10, a[2] = (uint8_t)(x >> 8), a[3] = (uint8_t)x;
			for (size_t i = 0; i < f->n4; i++) {
				uint32_t v = 0x0a000000u | x;

				if (f->e4[i].lo <= v && v <= f->e4[i].hi && f->e4[i].line < best)
					best = f->e4[i].line;
			}
		}
		e = zt_feed_find(f, v6 ? AF_INET6 : AF_INET, a);
		if (best == UINT32_MAX)
			ck_assert_int_eq(e, -1);
		else
			ck_assert_uint_eq(v6 ? f->e6[e].line : f->e4[e].line, best);
	}
}

#define INC_FEEDS 3

/*
 * Three feeds (directions in, both, out) edited at random, step after
 * step: each parsed incrementally equals it parsed whole (entries, lines,
 * bad lines, diagnostics), and the maps made from the changes equal the maps
 * made whole, as do the differences taken over the windows only.
 */
START_TEST(test_incremental)
{
	unsigned seed = 7919u * (unsigned)_i + 1;
	struct text t[INC_FEEDS] = {};
	struct zt_feed_data cur[INC_FEEDS] = {};
	struct zt_fset maps[ZT_FMAPS] = {};
	struct zt_cidr ex[2] = {};
	size_t n_ex = (size_t)_i % 3, incs = 0, flat_incs = 0;
	zt_u128 b4[4], b6[4];
	const zt_u128 *bounds[ZT_FMAPS_R] = { b4, b4, b6, b6 };
	struct zt_feed_limits lim = LIM_ALL;

	zt_cidr_parse("10.0.1.64/27", &ex[0], NULL);
	zt_cidr_parse("2001:db8::80/123", &ex[1], NULL);
	for (int k = 0; k < 4; k++) {
		b4[k] = k ? 0x0a000000u + (uint32_t)k * 256 - (k == 2 ? 8 : 0) : 0;
		b6[k] = k ? ((zt_u128)0x20010db8 << 96) + (zt_u128)k * 256 : 0;
	}
	for (int i = 0; i < INC_FEEDS; i++)
		for (int k = 0; k < 60; k++)
			t[i].line[t[i].n++] = random_line(&seed);
	for (int s = 0; s < ZT_FMAPS; s++)
		maps[s].family = s % ZT_FMAPS_R < 2 ? AF_INET : AF_INET6;
	for (int step = 0; step < 150; step++) {
		struct zt_feed_data next[INC_FEEDS] = {};
		struct zt_feed_delta dl[INC_FEEDS] = {};
		struct zt_feed_src src[INC_FEEDS], whole[INC_FEEDS];
		struct zt_fset want[ZT_FMAPS] = {}, inc[ZT_FMAPS] = {};
		struct zt_fwins wins[ZT_FMAPS_R] = {};
		int changed = rand_r(&seed) % INC_FEEDS;

		for (int i = 0; i < INC_FEEDS; i++) {
			struct zt_diags d1 = {}, d2 = {};
			struct zt_feed_data full = {};
			_cleanup_free_ char *txt = NULL;
			size_t len, edits = (size_t)rand_r(&seed) % 6;
			bool is_inc = false, nl = rand_r(&seed) % 8;
			int r1, r2;

			if (i == changed) {
				if (rand_r(&seed) % 50 == 0)
					edits = 200;	/* most of it rewritten */
				for (size_t e = 0; e < edits; e++)
					text_edit(&t[i], &seed);
			}
			txt = text_render(&t[i], nl, &len);
			r1 = zt_feed_parse("feeds/t.txt", txt, len, &lim, &full, &d1);
			r2 = zt_feed_parse_inc("feeds/t.txt", txt, len, &lim, step ? &cur[i] : NULL, &next[i], &dl[i],
					       &is_inc, &d2);
			ck_assert_int_eq(r1, 0);
			ck_assert_int_eq(r2, 0);
			ck_assert_uint_eq(d1.n, d2.n);
			for (size_t k = 0; k < d1.n; k++) {
				ck_assert_str_eq(d1.v[k].msg, d2.v[k].msg);
				ck_assert_uint_eq(d1.v[k].line, d2.v[k].line);
			}
			data_eq(&full, &next[i]);
			find_eq(&next[i], &seed);
			zt_feed_data_keep(&next[i], TAKE_PTR(txt), len);
			incs += is_inc;
			src[i] = (struct zt_feed_src){ .data = &next[i], .delta = is_inc ? &dl[i] : NULL,
						       .changed = true, .id = (uint32_t)i, .src = i < 2, .dst = i > 0 };
			whole[i] = src[i];
			zt_feed_data_clear(&full);
			zt_diags_clear(&d1);
			zt_diags_clear(&d2);
		}
		ck_assert_int_eq(zt_feeds_flatten(whole, INC_FEEDS, ex, n_ex, want), 0);
		for (int s = 0; s < ZT_FMAPS_R; s++)
			ck_assert_int_eq(zt_fset_cut(&want[s], bounds[s], 4), 0);
		if (step) {
			int r = zt_feeds_flatten_inc(src, INC_FEEDS, ex, n_ex, maps, bounds, (size_t[]){ 4, 4, 4, 4 }, inc, wins);

			ck_assert(r == 0 || r == -EAGAIN);
			if (r == 0) {
				flat_incs++;
				for (int s = 0; s < ZT_FMAPS; s++)
					fset_eq(&want[s], &inc[s]);
				for (int i = 0; i < INC_FEEDS; i++)
					ck_assert_uint_eq(src[i].carved, whole[i].carved);
				/* The difference over the windows only: the same operations and chunks. */
				for (int s = 0; s < ZT_FMAPS; s++)
					for (int mode = 0; mode < 3; mode++) {
						struct zt_fdiff a = {}, b = {};
						size_t chunk = 1 + (size_t)rand_r(&seed) % 5;

						ck_assert_int_eq(zt_fset_diff(&maps[s], &want[s], chunk, mode, &a), 0);
						ck_assert_int_eq(zt_fset_diff_win(&maps[s], &want[s], chunk, mode,
										  &wins[s % ZT_FMAPS_R], &b), 0);
						ck_assert_uint_eq(a.n, b.n);
						ck_assert_uint_eq(a.n_chunks, b.n_chunks);
						for (size_t k = 0; k < a.n; k++)
							ck_assert(a.ops[k].add == b.ops[k].add && a.ops[k].idx == b.ops[k].idx);
						for (size_t k = 0; k < a.n_chunks; k++)
							ck_assert_uint_eq(a.chunk_end[k], b.chunk_end[k]);
						zt_fdiff_clear(&a);
						zt_fdiff_clear(&b);
					}
			}
		}
		for (int s = 0; s < ZT_FMAPS; s++) {
			zt_fset_clear(&maps[s]);
			maps[s] = want[s];
			zt_fset_clear(&inc[s]);
			if (s < ZT_FMAPS_R)
				zt_fwins_clear(&wins[s]);
		}
		for (int i = 0; i < INC_FEEDS; i++) {
			zt_feed_data_clear(&cur[i]);
			cur[i] = next[i];
			zt_feed_delta_clear(&dl[i]);
		}
	}
	ck_assert_uint_gt(incs, 300);	/* most steps took the incremental paths */
	ck_assert_uint_gt(flat_incs, 100);
	for (int i = 0; i < INC_FEEDS; i++) {
		zt_feed_data_clear(&cur[i]);
		for (size_t k = 0; k < t[i].n; k++)
			free(t[i].line[k]);
	}
	for (int s = 0; s < ZT_FMAPS; s++)
		zt_fset_clear(&maps[s]);
}
END_TEST

/* A large feed's text: n4 IPv4 addresses, n24 /24s, n6 IPv6 /64s, interleaved; entries from `shift` on moved elsewhere. */
static char *large_text(size_t n, size_t shift, size_t *len)
{
	char *buf = malloc(n * 32 + 1);
	size_t l = 0;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < n; i++) {
		size_t j = i >= shift ? i + 5000000 : i;

		if (i % 5 < 3)
			l += (size_t)sprintf(buf + l, "10.%u.%u.%u\n", (unsigned)(j >> 15) & 255, (unsigned)(j >> 7) & 255,
					     (unsigned)(j << 1) & 255);
		else if (i % 5 == 3)
			l += (size_t)sprintf(buf + l, "100.%u.%u.0/24\n", (unsigned)(j >> 8) & 127, (unsigned)j & 255);
		else
			l += (size_t)sprintf(buf + l, "2001:db8:%x:%x::/64\n", (unsigned)(j >> 16) & 0xffff, (unsigned)j & 0xffff);
	}
	*len = l;
	return buf;
}

/*
 * Maps this large are flattened by two threads, a family each: the maps
 * made from the changes equal the maps made whole, and so do the
 * differences over the windows.
 */
START_TEST(test_flatten_inc_large)
{
	size_t n = 150000, l1, l2;
	char *t1 = large_text(n, n, &l1), *t2 = large_text(n, n - n / 100, &l2);
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f1 = {}, f2 = {};
	struct zt_feed_delta dl = {};
	struct zt_diags d = {};
	struct zt_fset cur[ZT_FMAPS] = {}, want[ZT_FMAPS] = {}, inc[ZT_FMAPS] = {};
	struct zt_fwins wins[ZT_FMAPS_R] = {};
	zt_u128 b4[8], b6[8];
	const zt_u128 *bounds[ZT_FMAPS_R] = { b4, b4, b6, b6 };
	size_t total = 0;
	bool is_inc = false;

	zt_fset_bounds_even(AF_INET, 8, b4);
	zt_fset_bounds_even(AF_INET6, 8, b6);
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", t1, l1, &lim, &f1, &d), 0);
	zt_feed_data_keep(&f1, t1, l1);
	{
		struct zt_feed_src src = { .data = &f1, .changed = true, .id = 0, .src = true, .dst = true };

		ck_assert_int_eq(zt_feeds_flatten(&src, 1, NULL, 0, cur), 0);
	}
	for (int s = 0; s < ZT_FMAPS_R; s++)
		ck_assert_int_eq(zt_fset_cut(&cur[s], bounds[s], 8), 0);
	for (int s = 0; s < ZT_FMAPS; s++)
		total += cur[s].n;
	ck_assert_uint_ge(total, 65536);	/* the two-thread path */
	ck_assert_int_eq(zt_feed_parse_inc("feeds/t.txt", t2, l2, &lim, &f1, &f2, &dl, &is_inc, &d), 0);
	ck_assert(is_inc);
	{
		struct zt_feed_src src = { .data = &f2, .delta = &dl, .changed = true, .id = 0, .src = true, .dst = true };
		struct zt_feed_src whole = src;

		ck_assert_int_eq(zt_feeds_flatten(&whole, 1, NULL, 0, want), 0);
		ck_assert_int_eq(zt_feeds_flatten_inc(&src, 1, NULL, 0, cur, bounds, (size_t[]){ 8, 8, 8, 8 }, inc, wins), 0);
	}
	for (int s = 0; s < ZT_FMAPS_R; s++)
		ck_assert_int_eq(zt_fset_cut(&want[s], bounds[s], 8), 0);
	for (int s = 0; s < ZT_FMAPS; s++) {
		struct zt_fdiff a = {}, b = {};

		fset_eq(&want[s], &inc[s]);
		ck_assert_int_eq(zt_fset_diff(&cur[s], &want[s], 64, ZT_FDIFF_ALL, &a), 0);
		ck_assert_int_eq(zt_fset_diff_win(&cur[s], &want[s], 64, ZT_FDIFF_ALL, &wins[s % ZT_FMAPS_R], &b), 0);
		ck_assert_msg(a.n == b.n, "map %d: %zu ops, %zu over the windows (%zu windows, %zu/%zu elements)", s, a.n, b.n,
			      wins[s % ZT_FMAPS_R].n, cur[s].n, want[s].n);
		for (size_t k = 0; k < a.n; k++)
			ck_assert(a.ops[k].add == b.ops[k].add && a.ops[k].idx == b.ops[k].idx);
		zt_fdiff_clear(&a);
		zt_fdiff_clear(&b);
		zt_fset_clear(&cur[s]);
		zt_fset_clear(&want[s]);
		zt_fset_clear(&inc[s]);
	}
	for (int s = 0; s < ZT_FMAPS_R; s++)
		zt_fwins_clear(&wins[s]);
	zt_feed_data_clear(&f1);
	zt_feed_data_clear(&f2);
	zt_feed_delta_clear(&dl);
	zt_diags_clear(&d);
	free(t2);
}
END_TEST

/*
 * Lines are compared byte for byte with the last copy's: a change of any
 * one byte anywhere (replaced, inserted, deleted: in an address, a
 * comment, a newline, across the compare's 8- and 256-byte blocks) is
 * parsed, and the result is the whole parse's, diagnostics included.
 */
START_TEST(test_inc_one_byte)
{
	static const char base[] = "192.0.2.1\n192.0.2.2\n# a comment of some length, ; and more\n"
				   "198.51.100.0/24 ; SBL1234\n2001:db8::1\n2001:db8:1::/48\n\n\n203.0.113.7\n"
				   "bad line\n192.0.2.3\n192.0.2.3\n198.51.100.7-198.51.100.9\n"
				   "# the same again, to pass the 256-byte blocks\n192.0.2.11\n192.0.2.12\n"
				   "198.51.100.64/26\n2001:db8::2\n2001:db8:2::/48\n203.0.113.8\n192.0.2.13\n"
				   "192.0.2.14\n192.0.2.15\n192.0.2.16\n192.0.2.17\n192.0.2.18\n192.0.2.19";
	static const char put[] = "7\n. #:/x";
	size_t n = sizeof(base) - 1, incs = 0;
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f1 = {};
	struct zt_diags d = {};

	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", base, n, &lim, &f1, &d), 0);
	zt_feed_data_keep(&f1, strndup(base, n), n);
	for (size_t p = 0; p <= n; p++)
		for (int op = 0; op < 3; op++) {
			char b[sizeof(base) + 1];
			size_t m = n;
			struct zt_feed_data whole = {}, f2 = {};
			struct zt_feed_delta dl = {};
			struct zt_diags d1 = {}, d2 = {};
			bool inc = false;
			int r1, r2;

			memcpy(b, base, n);
			if (op == 0) {			/* replaced */
				if (p == n)
					continue;
				b[p] = put[p % (sizeof(put) - 1)] == b[p] ? '5' : put[p % (sizeof(put) - 1)];
			} else if (op == 1) {		/* inserted */
				memmove(b + p + 1, b + p, n - p);
				b[p] = put[p % (sizeof(put) - 1)];
				m++;
			} else {			/* deleted */
				if (p == n)
					continue;
				memmove(b + p, b + p + 1, n - p - 1);
				m--;
			}
			r1 = zt_feed_parse("feeds/t.txt", b, m, &lim, &whole, &d1);
			r2 = zt_feed_parse_inc("feeds/t.txt", b, m, &lim, &f1, &f2, &dl, &inc, &d2);
			ck_assert_int_eq(r1, r2);	/* a byte that widens a prefix past a /8 refuses both */
			incs += inc;
			if (!r1)
				data_eq(&whole, &f2);
			ck_assert_uint_eq(d1.n, d2.n);
			for (size_t k = 0; k < d1.n; k++) {
				ck_assert_str_eq(d1.v[k].msg, d2.v[k].msg);
				ck_assert_uint_eq(d1.v[k].line, d2.v[k].line);
			}
			zt_feed_data_clear(&whole);
			zt_feed_data_clear(&f2);
			zt_feed_delta_clear(&dl);
			zt_diags_clear(&d1);
			zt_diags_clear(&d2);
		}
	ck_assert_uint_gt(incs, 2 * n);
	zt_feed_data_clear(&f1);
	zt_diags_clear(&d);
}
END_TEST

/*
 * A last copy handed bytes other than those it was parsed from (a caller's
 * mistake) costs no memory safety: lines that would lie past the copy's
 * are found and the file is parsed whole.
 */
START_TEST(test_inc_wrong_text)
{
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f1 = {}, f2 = {}, whole = {};
	struct zt_feed_delta dl = {};
	struct zt_diags d = {};
	size_t n = 1000 * 8;
	char *other = malloc(n), *next = malloc(n);
	bool inc = true;

	ck_assert(other && next);
	for (size_t i = 0; i < 1000; i++) {
		memcpy(other + i * 8, "2.2.2.2\n", 8);
		memcpy(next + i * 8, i == 500 ? "3.3.3.3\n" : "2.2.2.2\n", 8);
	}
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", "1.1.1.1\nbad\n", 12, &lim, &f1, &d), 0);
	zt_feed_data_keep(&f1, other, n);	/* not the bytes f1 was parsed from */
	ck_assert_int_eq(zt_feed_parse_inc("feeds/t.txt", next, n, &lim, &f1, &f2, &dl, &inc, &d), 0);
	ck_assert(!inc);
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", next, n, &lim, &whole, &d), 0);
	data_eq(&whole, &f2);
	zt_feed_data_clear(&f1);
	zt_feed_data_clear(&f2);
	zt_feed_data_clear(&whole);
	zt_feed_delta_clear(&dl);
	zt_diags_clear(&d);
	free(next);
}
END_TEST

/*
 * Runs of blank lines of lengths around the line counter's blocks (16
 * bytes, summed every 255 blocks), at each of the 16 alignments: the lines an
 * incremental parse counts in the bytes it skips are those a whole parse
 * counts, so every entry after them keeps its line number.
 */
START_TEST(test_inc_newline_runs)
{
	static const size_t runs[] = { 0, 1, 15, 16, 17, 31, 255, 4079, 4080, 4081, 4095, 4096, 8160, 8161, 9000 };
	struct zt_feed_limits lim = LIM_ALL;

	for (size_t lead = 0; lead < 16; lead++)
		for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
			size_t cap = lead + 3 * runs[k] + 256, n = 0;
			char *a = malloc(cap), *b = malloc(cap);
			struct zt_feed_data f1 = {}, f2 = {}, whole = {};
			struct zt_feed_delta dl = {};
			struct zt_diags d = {};
			bool inc = false;

			ck_assert(a && b);
			memset(a, ' ', lead);	/* shifts the runs against the blocks */
			n = lead;
			for (int part = 0; part < 3; part++) {
				memset(a + n, '\n', runs[k]);
				n += runs[k];
				n += (size_t)sprintf(a + n, "\n192.0.2.%d\n", part + 1);
			}
			memcpy(b, a, n);
			memcpy(b + n - 2, "9\n", 2);	/* the last entry changed: everything before is skipped */
			ck_assert_int_eq(zt_feed_parse("feeds/t.txt", a, n, &lim, &f1, &d), 0);
			zt_feed_data_keep(&f1, a, n);
			ck_assert_int_eq(zt_feed_parse_inc("feeds/t.txt", b, n, &lim, &f1, &f2, &dl, &inc, &d), 0);
			ck_assert(inc);
			ck_assert_int_eq(zt_feed_parse("feeds/t.txt", b, n, &lim, &whole, &d), 0);
			data_eq(&whole, &f2);
			ck_assert_uint_eq(f2.e4[2].line, 3 * runs[k] + 6);
			zt_feed_data_clear(&f1);
			zt_feed_data_clear(&f2);
			zt_feed_data_clear(&whole);
			zt_feed_delta_clear(&dl);
			zt_diags_clear(&d);
			free(b);
		}
}
END_TEST

/* Bytes allocated, mmapped blocks included. */
static size_t heap_used(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/*
 * Blank and comment lines cost no memory beyond the file's own bytes (kept
 * by the caller): a feed of 8 MiB of empty lines and one entry takes less
 * than 1 MiB more, parsed whole or against its last copy (whose old-line map
 * would cost 4 bytes a line: parsed whole).
 */
START_TEST(test_blank_lines_memory)
{
	size_t len = 8u << 20;
	char *buf = malloc(len);
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f1 = {}, f2 = {};
	struct zt_feed_delta dl = {};
	struct zt_diags d = {};
	bool inc = false;
	size_t before;

	ck_assert_ptr_nonnull(buf);
	memset(buf, '\n', len);
	memcpy(buf + len / 2, "192.0.2.1\n", 10);
	before = heap_used();
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", buf, len, &lim, &f1, &d), 0);
	ck_assert_uint_eq(f1.n4, 1);
	ck_assert_uint_lt(heap_used() - before, 1u << 20);
	zt_feed_data_keep(&f1, malloc(len), len);
	ck_assert_ptr_nonnull(f1.text);
	memcpy(f1.text, buf, len);
	before = heap_used();
	memcpy(buf + len / 4, "192.0.2.2\n", 10);
	ck_assert_int_eq(zt_feed_parse_inc("feeds/t.txt", buf, len, &lim, &f1, &f2, &dl, &inc, &d), 0);
	ck_assert_uint_eq(f2.n4, 2);
	ck_assert_uint_lt(heap_used() - before, 2u << 20);
	zt_feed_data_clear(&f1);
	zt_feed_data_clear(&f2);
	zt_feed_delta_clear(&dl);
	zt_diags_clear(&d);
	free(buf);
}
END_TEST

static atomic_bool cancel_flag;

struct canceller {
	double set_ms;
	unsigned delay_ms;
};

static double mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;

	usleep(c->delay_ms * 1000);
	c->set_ms = mono_ms();
	atomic_store(&cancel_flag, true);
	return NULL;
}

/* n lines of distinct IPv4 addresses, every other one from 10.0.0.0 up. */
static char *many_lines(size_t n, size_t *len)
{
	char *buf = malloc(n * 16 + 1);
	size_t l = 0;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0, a = 0; i < n; i++, a += 2)	/* apart: not merged into ranges */
		l += (size_t)sprintf(buf + l, "10.%u.%u.%u\n", (unsigned)(a >> 16) & 255, (unsigned)(a >> 8) & 255,
				     (unsigned)a & 255);
	*len = l;
	return buf;
}

/*
 * A cancelled job returns fast: the parse of 4M lines stops soon after the
 * flag is set from another thread, not at its end. "Soon" is measured
 * against the same parse run to its end on this machine in this process
 * (a quarter of it), never as a wall time: sanitizers and a loaded machine
 * slow both sides alike.
 */
START_TEST(test_cancel_parse_fast)
{
	size_t len;
	char *buf = many_lines(4u << 20, &len);
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f = {}, full = {};
	struct zt_diags d = {};
	struct canceller c = { .delay_ms = 20 };
	pthread_t t;
	double start, full_ms, done;
	int r, rfull;

	start = mono_ms();
	rfull = zt_feed_parse("feeds/t.txt", buf, len, &lim, &full, &d);
	full_ms = mono_ms() - start;
	zt_feed_data_clear(&full);

	atomic_store(&cancel_flag, false);
	zt_feed_cancel_on(&cancel_flag);
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, &c), 0);
	r = zt_feed_parse("feeds/t.txt", buf, len, &lim, &f, &d);
	done = mono_ms();
	pthread_join(t, NULL);
	zt_feed_cancel_on(NULL);
	free(buf);		/* before any assertion: CK_FORK=no leaves the test at the first failure */
	zt_diags_clear(&d);
	ck_assert_int_eq(rfull, 0);
	ck_assert_int_eq(r, -ECANCELED);
	ck_assert_msg(done - c.set_ms < full_ms / 4, "returned %.1f ms after the cancel, a whole parse takes %.1f ms",
		      done - c.set_ms, full_ms);
	ck_assert_ptr_null(f.e4);
}
END_TEST

/* With the flag set, every long stage returns -ECANCELED, and the inputs stay as they were. */
START_TEST(test_cancel_stages)
{
	size_t len;
	_cleanup_free_ char *buf = many_lines(200000, &len);
	struct zt_feed_limits lim = LIM_ALL;
	struct zt_feed_data f = {}, f2 = {};
	struct zt_feed_delta dl = {};
	struct zt_diags d = {};
	struct zt_feed_src src = { .id = 1, .src = true, .dst = true };
	struct zt_fset want[ZT_FMAPS] = {}, want2[ZT_FMAPS] = {}, cut = {};
	struct zt_fwins wins[ZT_FMAPS_R] = {};
	const zt_u128 *bounds[ZT_FMAPS_R] = {};
	zt_u128 b[4] = { 0, 0x0a010000u, 0x0a020000u, 0x0a030000u };
	struct zt_fdiff df = {};
	bool inc;

	atomic_store(&cancel_flag, false);
	zt_feed_cancel_on(&cancel_flag);
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", buf, len, &lim, &f, &d), 0);
	zt_feed_data_keep(&f, malloc(len), len);	/* its own copy: buf changes below */
	ck_assert_ptr_nonnull(f.text);
	memcpy(f.text, buf, len);
	src.data = &f;
	ck_assert_int_eq(zt_feeds_flatten(&src, 1, NULL, 0, want), 0);
	ck_assert_uint_gt(want[ZT_FMAPS_R].n, 100000);
	ck_assert_int_eq(zt_fset_copy(&cut, &want[ZT_FMAPS_R]), 0);

	atomic_store(&cancel_flag, true);
	buf[3] = buf[3] == '0' ? '1' : '0';
	ck_assert_int_eq(zt_feed_parse("feeds/t.txt", buf, len, &lim, &f2, &d), -ECANCELED);
	ck_assert_int_eq(zt_feed_parse_inc("feeds/t.txt", buf, len, &lim, &f, &f2, &dl, &inc, &d), -ECANCELED);
	ck_assert_int_eq(zt_feeds_flatten(&src, 1, NULL, 0, want2), -ECANCELED);
	src.changed = true;
	src.delta = &dl;
	ck_assert_int_eq(zt_feeds_flatten_inc(&src, 1, NULL, 0, want, bounds, (size_t[]){ 0, 0, 0, 0 }, want2, wins), -ECANCELED);
	ck_assert_int_eq(zt_fset_cut(&cut, b, 4), -ECANCELED);
	ck_assert_uint_eq(cut.n, want[ZT_FMAPS_R].n);
	ck_assert_int_eq(zt_fset_diff(&want[ZT_FMAPS_R], &want2[ZT_FMAPS_R], 64, ZT_FDIFF_ALL, &df), -ECANCELED);
	ck_assert_int_eq(zt_fset_diff(&(struct zt_fset){ .family = AF_INET }, &want[ZT_FMAPS_R], 64, ZT_FDIFF_ALL, &df),
			 -ECANCELED);
	ck_assert_uint_eq(df.n, 0);
	zt_feed_cancel_on(NULL);
	for (int s = 0; s < ZT_FMAPS; s++) {
		zt_fset_clear(&want[s]);
		zt_fset_clear(&want2[s]);
	}
	for (int s = 0; s < ZT_FMAPS_R; s++)
		zt_fwins_clear(&wins[s]);
	zt_fset_clear(&cut);
	zt_feed_data_clear(&f);
	zt_feed_data_clear(&f2);
	zt_feed_delta_clear(&dl);
	zt_diags_clear(&d);
}
END_TEST

/*
 * The ranges an update listed, searched by address (feed-cut.c): the
 * answer of one binary search over overlapping ranges equals a scan of
 * them all, in both families, before and after more ranges are added.
 */
START_TEST(test_recheck_ranges)
{
	unsigned seed = (unsigned)_i + 1;
	struct zt_feed_cut c = {};
	uint32_t lo4[64], hi4[64];
	zt_u128 base6 = (zt_u128)0x20010db8u << 96;
	size_t n = 1 + (size_t)rand_r(&seed) % 64;

	for (int round = 0; round < 2; round++) {
		size_t from = round ? n / 2 : 0, to = round ? n : n / 2;

		for (size_t i = from; i < to; i++) {
			lo4[i] = (uint32_t)rand_r(&seed) % 2000;
			/* Mostly short, some long enough to reach over many others. */
			hi4[i] = lo4[i] + (uint32_t)(rand_r(&seed) % 8 ? rand_r(&seed) % 20 : rand_r(&seed) % 600);
			ck_assert_int_eq(zt_feed_cut_add(&c, AF_INET, lo4[i], hi4[i]), 0);
			ck_assert_int_eq(zt_feed_cut_add(&c, AF_INET6, base6 + lo4[i], base6 + hi4[i]), 0);
		}
		ck_assert_int_eq(zt_feed_cut_build(&c), 0);
		ck_assert_uint_eq(zt_feed_cut_count(&c), 2 * to);
		for (uint32_t v = 0; v < 2700; v++) {
			uint8_t a4[4] = { 0, 0, (uint8_t)(v >> 8), (uint8_t)v }, a6[16] = { 0x20, 0x01, 0x0d, 0xb8 };
			bool want = false;

			a6[14] = (uint8_t)(v >> 8);
			a6[15] = (uint8_t)v;
			for (size_t i = 0; i < to; i++)
				want |= lo4[i] <= v && v <= hi4[i];
			ck_assert_msg(zt_feed_cut_has(&c, AF_INET, a4) == want, "seed %d v4 %u: want %d", _i, v, want);
			ck_assert_msg(zt_feed_cut_has(&c, AF_INET6, a6) == want, "seed %d v6 %u: want %d", _i, v, want);
		}
	}
	/* Another family's address, or none built: not in. */
	ck_assert(!zt_feed_cut_has(&c, AF_UNSPEC, (const uint8_t[16]){ 0 }));
	zt_feed_cut_clear(&c);
	ck_assert(!zt_feed_cut_has(&c, AF_INET, (const uint8_t[4]){ 0, 0, 0, 5 }));
}
END_TEST

static Suite *feed_suite(void)
{
	Suite *s = suite_create("feed");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_formats);
	tcase_add_loop_test(tc, test_bad_line, 0, sizeof(bad_lines) / sizeof(bad_lines[0]));
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_fast_lines);
	tcase_add_test(tc, test_inc_one_byte);
	tcase_add_test(tc, test_inc_wrong_text);
	tcase_add_test(tc, test_inc_newline_runs);
	suite_add_tcase(s, tc);
	tc = tcase_create("diff");
	tcase_add_test(tc, test_flatten);
	tcase_add_loop_test(tc, test_diff_chunks, 0, 60);
	tcase_add_loop_test(tc, test_split_phases, 0, 40);
	tcase_add_test(tc, test_split_order_matters);
	tcase_add_loop_test(tc, test_cut, 0, 20);
	tcase_add_loop_test(tc, test_flatten_large, 0, 3);
	tcase_add_loop_test(tc, test_incremental, 0, 24);
	tcase_add_test(tc, test_cancel_stages);
	tcase_add_test(tc, test_flatten_inc_large);
	tcase_add_loop_test(tc, test_recheck_ranges, 0, 40);
	suite_add_tcase(s, tc);
	/* The shard layout of an update, and a hash map's deletes interleaved with its adds. */
	tc = tcase_create("layout");
	tcase_add_loop_test(tc, test_layout_plan, 0, 12);
	tcase_add_loop_test(tc, test_gone_interleave, 0, 7);
	suite_add_tcase(s, tc);
	/* Large inputs and timing: not under valgrind. */
	tc = tcase_create("large");
	tcase_set_tags(tc, "slow");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_blank_lines_memory);
	tcase_add_test(tc, test_cancel_parse_fast);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(feed_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
