/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Feeds as the kernel holds them: per family and direction one sorted,
 * disjoint list of ranges labelled with the feed that lists them (the
 * first feed in policy order wins an overlap; threats.except carved out),
 * and the difference of two such lists in chunks whose every transaction
 * keeps each address's verdict exact. Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "feed.h"

struct rng {
	zt_u128 lo, hi;
	uint32_t feed;
};

void zt_fset_clear(struct zt_fset *s)
{
	uint8_t family = s->family;

	free(s->v4);
	free(s->v6);
	*s = (struct zt_fset){ .family = family };
}

static void get(const struct zt_fset *s, size_t i, struct rng *r)
{
	if (s->family == AF_INET)
		*r = (struct rng){ s->v4[i].lo, s->v4[i].hi, s->v4[i].feed };
	else
		*r = (struct rng){ s->v6[i].lo, s->v6[i].hi, s->v6[i].feed };
}

static int put(struct zt_fset *s, const struct rng *r)
{
	size_t cap = s->cap;

	if (s->family == AF_INET) {
		if (ZT_GROW(s->v4, cap, s->n + 1) < 0)
			return -ENOMEM;
		s->v4[s->n++] = (struct zt_fel4){ (uint32_t)r->lo, (uint32_t)r->hi, r->feed };
	} else {
		if (ZT_GROW(s->v6, cap, s->n + 1) < 0)
			return -ENOMEM;
		s->v6[s->n++] = (struct zt_fel6){ r->lo, r->hi, r->feed };
	}
	s->cap = cap;
	return 0;
}

int zt_fset_append(struct zt_fset *dst, const struct zt_fset *src, size_t i)
{
	struct rng r;

	get(src, i, &r);
	return put(dst, &r);
}

int zt_fset_copy(struct zt_fset *dst, const struct zt_fset *src)
{
	struct rng r;

	*dst = (struct zt_fset){ .family = src->family };
	for (size_t i = 0; i < src->n; i++) {
		get(src, i, &r);
		if (put(dst, &r) < 0) {
			zt_fset_clear(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

static int rng_cmp(const void *a, const void *b)
{
	const struct rng *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * IPv4 ranges sorted by start (then end) by an LSD radix sort of 64-bit
 * keys, start << 32 | end: a million feed entries in a few ms, where qsort
 * of the 48-byte ranges took hundreds. -ENOMEM: the caller sorts with qsort.
 */
static int sort_v4(struct rng *v, size_t n)
{
	_cleanup_free_ uint64_t *k = malloc(n * sizeof(*k)), *t = malloc(n * sizeof(*t));
	_cleanup_free_ size_t *cnt = malloc(65536 * sizeof(*cnt));

	if (!k || !t || !cnt)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		k[i] = (uint64_t)v[i].lo << 32 | (uint32_t)v[i].hi;
	for (unsigned sh = 0; sh < 64; sh += 16) {
		uint64_t *x;
		size_t sum = 0;

		memset(cnt, 0, 65536 * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(k[i] >> sh) & 0xffff]++;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			t[cnt[(k[i] >> sh) & 0xffff]++] = k[i];
		x = k;
		k = t;
		t = x;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct rng){ k[i] >> 32, (uint32_t)k[i], v[i].feed };
	return 0;
}

/* Sort and merge overlapping and adjacent ranges in place; returns the new count. v4: every hi fits 32 bits. */
static size_t merge(struct rng *v, size_t n, bool v4)
{
	size_t m = 0;

	if (!n)
		return 0;
	if (!v4 || n < 4096 || sort_v4(v, n) < 0)
		qsort(v, n, sizeof(*v), rng_cmp);
	for (size_t i = 1; i < n; i++) {
		if (v[m].hi != ~(zt_u128)0 && v[i].lo > v[m].hi + 1) {
			v[++m] = v[i];
			continue;
		}
		if (v[i].hi > v[m].hi)
			v[m].hi = v[i].hi;
	}
	return m + 1;
}

zt_u128 zt_feed_cidr_range(const struct zt_cidr *c, zt_u128 *hi)
{
	zt_u128 v = 0, host;
	unsigned bits = c->family == AF_INET ? 32 : 128;

	for (unsigned i = 0; i < bits / 8; i++)
		v = (v << 8) | c->addr[i];
	host = bits - c->plen >= 128 ? ~(zt_u128)0 : (((zt_u128)1 << (bits - c->plen)) - 1);
	*hi = v | host;
	return v & ~host;
}

/* The feed's ranges of s's family, merged, minus the except prefixes. */
static int feed_ranges(const struct zt_fset *s, const struct zt_feed_data *f, const struct zt_cidr *except,
		       size_t n_except, struct rng **ret, size_t *n_ret, size_t *carved)
{
	size_t n = s->family == AF_INET ? f->n4 : f->n6, nx = 0, m, out = 0, cap = 0;
	_cleanup_free_ struct rng *v = calloc(n ? n : 1, sizeof(*v)), *x = calloc(n_except ? n_except : 1, sizeof(*x));
	struct rng *o = NULL;

	if (!v || !x)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = s->family == AF_INET ? (struct rng){ f->e4[i].lo, f->e4[i].hi, 0 }
					    : (struct rng){ f->e6[i].lo, f->e6[i].hi, 0 };
	for (size_t i = 0; i < n_except; i++)
		if (except[i].family == s->family) {
			x[nx].lo = zt_feed_cidr_range(&except[i], &x[nx].hi);
			nx++;
		}
	/* Every range of this feed carries feed 0 here: the radix sort may reorder feeds freely. */
	m = merge(v, n, s->family == AF_INET);
	nx = merge(x, nx, false);
	if (!nx) {	/* nothing to carve: the merged ranges are the answer */
		*ret = TAKE_PTR(v);
		*n_ret = m;
		return 0;
	}
	for (size_t i = 0, j = 0; i < m; i++) {
		zt_u128 lo = v[i].lo;
		bool cut = false, done = false;

		while (j < nx && x[j].hi < lo)
			j++;
		for (size_t k = j; k < nx && x[k].lo <= v[i].hi && !done; k++) {
			cut = true;
			if (x[k].lo > lo) {
				if (ZT_GROW(o, cap, out + 1) < 0)
					goto oom;
				o[out++] = (struct rng){ lo, x[k].lo - 1, 0 };
			}
			if (x[k].hi >= v[i].hi)
				done = true;
			else
				lo = x[k].hi + 1;
		}
		if (cut && carved)
			(*carved)++;
		if (!done) {
			if (ZT_GROW(o, cap, out + 1) < 0)
				goto oom;
			o[out++] = (struct rng){ lo, v[i].hi, 0 };
		}
	}
	*ret = o;
	*n_ret = out;
	return 0;
oom:
	free(o);
	return -ENOMEM;
}

int zt_fset_add_feed(struct zt_fset *s, const struct zt_feed_data *f, uint32_t feed,
		     const struct zt_cidr *except, size_t n_except, size_t *carved)
{
	_cleanup_free_ struct rng *add = NULL;
	struct zt_fset out = { .family = s->family };
	size_t n_add = 0, i = 0, j = 0;
	struct rng a, e;
	int r;

	if (zt_feed_cancelled())
		return -ECANCELED;
	r = feed_ranges(s, f, except, n_except, &add, &n_add, carved);
	if (r < 0)
		return r;
	/* Walk both: s's elements as they are, the feed's pieces in the gaps between them. */
	for (size_t step = 1; i < s->n || j < n_add; step++) {
		if (!(step % ZT_FEED_CANCEL_EVERY) && zt_feed_cancelled()) {
			r = -ECANCELED;
			goto fail;
		}
		if (i < s->n)
			get(s, i, &e);
		if (i < s->n && (j >= n_add || e.lo <= add[j].lo)) {
			/* s's element first; the pieces it covers are cut away. */
			if ((r = put(&out, &e)) < 0)
				goto fail;
			i++;
			while (j < n_add && add[j].lo <= e.hi) {
				if (add[j].hi <= e.hi) {
					j++;
				} else {
					add[j].lo = e.hi + 1;
					break;
				}
			}
			continue;
		}
		/* A piece first: up to the next element of s. */
		a = add[j];
		a.feed = feed;
		if (i < s->n && e.lo <= a.hi)
			a.hi = e.lo - 1;
		if ((r = put(&out, &a)) < 0)
			goto fail;
		if (a.hi == add[j].hi)
			j++;
		else
			add[j].lo = a.hi + 1;
	}
	zt_fset_clear(s);
	*s = out;
	return 0;
fail:
	zt_fset_clear(&out);
	return r;
}

int zt_fset_split(struct zt_fset *s, struct zt_fset *exact)
{
	struct zt_fset x = { .family = s->family };
	size_t m = 0, nx = 0;
	struct rng r;

	if (zt_feed_cancelled())	/* one pass: not stopped half-way, s is changed in place */
		return -ECANCELED;
	/* Counted first: x is allocated once, at its size. */
	for (size_t i = 0; i < s->n; i++)
		nx += s->family == AF_INET ? s->v4[i].lo == s->v4[i].hi : s->v6[i].lo == s->v6[i].hi;
	if (nx) {
		if (s->family == AF_INET)
			x.v4 = malloc(nx * sizeof(*x.v4));
		else
			x.v6 = malloc(nx * sizeof(*x.v6));
		if (!x.v4 && !x.v6)
			return -ENOMEM;
		x.cap = nx;
	}
	for (size_t i = 0; i < s->n; i++) {
		get(s, i, &r);
		if (r.lo == r.hi) {
			if (put(&x, &r) < 0) {
				zt_fset_clear(&x);
				return -ENOMEM;
			}
		} else if (s->family == AF_INET)
			s->v4[m++] = s->v4[i];
		else
			s->v6[m++] = s->v6[i];
	}
	s->n = m;
	zt_fset_shrink(s);
	zt_fset_shrink(&x);
	zt_fset_clear(exact);
	*exact = x;
	return 0;
}

size_t zt_fset_shard_of(const zt_u128 *bounds, size_t n, zt_u128 a)
{
	size_t lo = 0, hi = n;

	/* The last bound at or below a (bounds[0] is 0). */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (bounds[mid] <= a)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int zt_fset_cut(struct zt_fset *s, const zt_u128 *bounds, size_t n)
{
	struct zt_fset out = { .family = s->family };
	struct rng r;

	for (size_t i = 0; i < s->n; i++) {
		if (!(i % ZT_FEED_CANCEL_EVERY) && zt_feed_cancelled()) {
			zt_fset_clear(&out);
			return -ECANCELED;
		}
		get(s, i, &r);
		for (size_t k = zt_fset_shard_of(bounds, n, r.lo) + 1; k < n && bounds[k] <= r.hi; k++) {
			struct rng piece = { r.lo, bounds[k] - 1, r.feed };

			if (put(&out, &piece) < 0)
				goto oom;
			r.lo = bounds[k];
		}
		if (put(&out, &r) < 0)
			goto oom;
	}
	zt_fset_shrink(&out);
	zt_fset_clear(s);
	*s = out;
	return 0;
oom:
	zt_fset_clear(&out);
	return -ENOMEM;
}

int zt_fset_bounds(const struct zt_fset *s, size_t n, zt_u128 *bounds)
{
	struct rng r;

	bounds[0] = 0;
	if (s->n < n)
		return -EINVAL;
	for (size_t k = 1; k < n; k++) {
		get(s, k * s->n / n, &r);
		bounds[k] = r.lo;
		if (bounds[k] <= bounds[k - 1])
			return -EINVAL;
	}
	return 0;
}

void zt_fset_bounds_even(uint8_t family, size_t n, zt_u128 *bounds)
{
	zt_u128 span = family == AF_INET ? ((zt_u128)1 << 32) / n : (~(zt_u128)0 / n) + 1;

	for (size_t k = 0; k < n; k++)
		bounds[k] = span * k;
}

void zt_fset_shrink(struct zt_fset *s)
{
	size_t sz = s->family == AF_INET ? sizeof(*s->v4) : sizeof(*s->v6);
	void **p = s->family == AF_INET ? (void **)&s->v4 : (void **)&s->v6;
	void *q;

	if (!*p || s->cap == s->n)
		return;
	if (!s->n) {
		free(*p);
		*p = NULL;
		s->cap = 0;
		return;
	}
	if ((q = realloc(*p, s->n * sz))) {
		*p = q;
		s->cap = s->n;
	}
}

ssize_t zt_fset_find(const struct zt_fset *s, const uint8_t *addr)
{
	zt_u128 v = 0;
	size_t lo = 0, hi = s->n;
	struct rng e;

	for (unsigned i = 0; i < (s->family == AF_INET ? 4u : 16u); i++)
		v = (v << 8) | addr[i];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		get(s, mid, &e);
		if (e.hi < v)
			lo = mid + 1;
		else if (e.lo > v)
			hi = mid;
		else
			return (ssize_t)mid;
	}
	return -1;
}

void zt_fdiff_clear(struct zt_fdiff *df)
{
	free(df->ops);
	free(df->chunk_end);
	*df = (struct zt_fdiff){};
}

static int op_push(struct zt_fdiff *df, bool add, size_t idx)
{
	if (ZT_GROW(df->ops, df->cap, df->n + 1) < 0)
		return -ENOMEM;
	df->ops[df->n++] = (struct zt_fop){ add, idx };
	if (add)
		df->adds++;
	else
		df->dels++;
	return 0;
}

static int chunk_close(struct zt_fdiff *df, size_t start)
{
	size_t n = df->n - start, k = start;
	_cleanup_free_ struct zt_fop *t = NULL;

	if (!n)
		return 0;
	if (!(t = malloc(n * sizeof(*t))))
		return -ENOMEM;
	memcpy(t, &df->ops[start], n * sizeof(*t));
	/* Deletes first: an added range may overlap one deleted in the same transaction. */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t q = 0; q < n; q++)
			if (t[q].add == (pass == 1))
				df->ops[k++] = t[q];
	if (ZT_GROW(df->chunk_end, df->cap_chunks, df->n_chunks + 1) < 0)
		return -ENOMEM;
	df->chunk_end[df->n_chunks++] = df->n;
	return 0;
}

/* Does old element a overlap an element of new? j: new's next element in the walk (all before it start at or below a.lo). */
static bool overlaps_new(const struct zt_fset *new, size_t j, const struct rng *a)
{
	struct rng b;

	if (j > 0) {
		get(new, j - 1, &b);
		if (b.hi >= a->lo)
			return true;
	}
	if (j < new->n) {
		get(new, j, &b);
		if (b.lo <= a->hi)
			return true;
	}
	return false;
}

struct dstate {
	struct zt_fdiff df;
	size_t start;
	zt_u128 reach;			/* the highest address the open chunk's operations cover */
	bool open;
	size_t steps;			/* for the cancel check */
};

/* old[i..i_end) against new[j..j_end): the walk of the whole lists, over a stretch where they may differ. */
static int diff_walk(struct dstate *st, const struct zt_fset *old, const struct zt_fset *new, size_t i, size_t i_end,
		     size_t j, size_t j_end, size_t chunk, enum zt_fdiff_mode mode)
{
	struct rng a, b;
	int r;

	while (i < i_end || j < j_end) {
		bool take_old, same = false;
		struct rng *cur;

		if (!(++st->steps % ZT_FEED_CANCEL_EVERY) && zt_feed_cancelled())
			return -ECANCELED;

		if (i < i_end)
			get(old, i, &a);
		if (j < j_end)
			get(new, j, &b);
		if (i < i_end && j < j_end) {
			same = a.lo == b.lo && a.hi == b.hi && a.feed == b.feed;
			take_old = a.lo <= b.lo;
		} else
			take_old = i < i_end;
		if (same) {
			i++;
			j++;
			continue;
		}
		cur = take_old ? &a : &b;
		/* An element gone (overlapping none of new): kept for later, or the only kind taken. */
		if (mode != ZT_FDIFF_ALL &&
		    (take_old && !overlaps_new(new, j, &a)) != (mode == ZT_FDIFF_GONE)) {
			if (take_old)
				i++;
			else
				j++;
			continue;
		}
		/* Cut only where no operation of the open chunk reaches this one. */
		if (st->open && st->df.n - st->start >= chunk && cur->lo > st->reach) {
			if ((r = chunk_close(&st->df, st->start)) < 0)
				return r;
			st->start = st->df.n;
			st->open = false;
		}
		if ((r = op_push(&st->df, !take_old, take_old ? i : j)) < 0)
			return r;
		if (!st->open || cur->hi > st->reach)
			st->reach = cur->hi;
		st->open = true;
		if (take_old)
			i++;
		else
			j++;
	}
	return 0;
}

/* The first element of s starting at or after v, at or after index from (galloping: windows come in order). */
static size_t first_from(const struct zt_fset *s, zt_u128 v, size_t from)
{
	size_t lo = from, hi = s->n, step = 1;

	while (lo + step < hi && (s->family == AF_INET ? s->v4[lo + step].lo : s->v6[lo + step].lo) < v) {
		lo += step;
		step *= 2;
	}
	if (lo + step < hi)
		hi = lo + step + 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		zt_u128 x = s->family == AF_INET ? s->v4[mid].lo : s->v6[mid].lo;

		if (x < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int zt_fset_diff_win(const struct zt_fset *old, const struct zt_fset *new, size_t chunk, enum zt_fdiff_mode mode,
		     const struct zt_fwins *w, struct zt_fdiff *ret)
{
	struct dstate st = {};
	int r = 0;

	if (!chunk)
		chunk = 1;
	if (zt_feed_cancelled())
		return -ECANCELED;
	if (!w)
		r = diff_walk(&st, old, new, 0, old->n, 0, new->n, chunk, mode);
	for (size_t k = 0, i_end = 0, j_end = 0; w && k < w->n && r >= 0; k++) {
		size_t i = first_from(old, w->v[k].lo, i_end), j = first_from(new, w->v[k].lo, j_end);

		i_end = w->v[k].hi == ~(zt_u128)0 ? old->n : first_from(old, w->v[k].hi + 1, i);
		j_end = w->v[k].hi == ~(zt_u128)0 ? new->n : first_from(new, w->v[k].hi + 1, j);
		r = diff_walk(&st, old, new, i, i_end, j, j_end, chunk, mode);
	}
	if (r >= 0)
		r = chunk_close(&st.df, st.start);
	if (r < 0) {
		zt_fdiff_clear(&st.df);
		return r;
	}
	*ret = st.df;
	return 0;
}

int zt_fset_diff(const struct zt_fset *old, const struct zt_fset *new, size_t chunk, enum zt_fdiff_mode mode,
		 struct zt_fdiff *ret)
{
	return zt_fset_diff_win(old, new, chunk, mode, NULL, ret);
}

int zt_fdiff_gone_split(const struct zt_fdiff *gone, const struct zt_fset *old, const struct zt_fset *cover,
			size_t chunk, struct zt_fdiff *early, struct zt_fdiff *late)
{
	size_t j = 0, se = 0, sl = 0;
	int r = 0;

	*early = (struct zt_fdiff){};
	*late = (struct zt_fdiff){};
	if (!chunk)
		chunk = 1;
	/* The deletes come in address order: one walk over cover's sorted ranges. */
	for (size_t i = 0; i < gone->n && r >= 0; i++) {
		const struct zt_fop *op = &gone->ops[i];
		struct rng a, c;
		bool covered = false;

		if (op->add) {
			r = -EINVAL;
			break;
		}
		get(old, op->idx, &a);
		for (; j < cover->n; j++) {
			get(cover, j, &c);
			if (c.hi >= a.lo)
				break;
		}
		covered = j < cover->n && c.lo <= a.hi;
		if (covered) {
			r = op_push(late, false, op->idx);
			if (r >= 0 && late->n - sl >= chunk && (r = chunk_close(late, sl)) >= 0)
				sl = late->n;
		} else {
			r = op_push(early, false, op->idx);
			if (r >= 0 && early->n - se >= chunk && (r = chunk_close(early, se)) >= 0)
				se = early->n;
		}
	}
	if (r >= 0)
		r = chunk_close(early, se);
	if (r >= 0)
		r = chunk_close(late, sl);
	if (r < 0) {
		zt_fdiff_clear(early);
		zt_fdiff_clear(late);
	}
	return r;
}

/* Chunk c of df appended to ret as a chunk of its own. */
static int chunk_copy(struct zt_fdiff *ret, const struct zt_fdiff *df, size_t c)
{
	size_t from = c ? df->chunk_end[c - 1] : 0, to = df->chunk_end[c];
	int r = 0;

	for (size_t i = from; i < to && r >= 0; i++)
		r = op_push(ret, df->ops[i].add, df->ops[i].idx);
	if (r >= 0 && ZT_GROW(ret->chunk_end, ret->cap_chunks, ret->n_chunks + 1) < 0)
		r = -ENOMEM;
	if (r >= 0)
		ret->chunk_end[ret->n_chunks++] = ret->n;
	return r;
}

int zt_fdiff_interleave(const struct zt_fdiff *a, const struct zt_fdiff *b, struct zt_fdiff *ret)
{
	size_t cb = 0, ops_a = 0, ops_b = 0;
	int r = 0;

	*ret = (struct zt_fdiff){};
	/* Before each chunk of a, b's chunks until b has given as many operations as a has so far. */
	for (size_t ca = 0; ca < a->n_chunks && r >= 0; ca++) {
		ops_a = a->chunk_end[ca];
		for (; cb < b->n_chunks && ops_b < ops_a && r >= 0; cb++) {
			r = chunk_copy(ret, b, cb);
			ops_b = b->chunk_end[cb];
		}
		if (r >= 0)
			r = chunk_copy(ret, a, ca);
	}
	for (; cb < b->n_chunks && r >= 0; cb++)
		r = chunk_copy(ret, b, cb);
	if (r < 0)
		zt_fdiff_clear(ret);
	return r;
}
