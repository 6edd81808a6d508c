/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feeds' maps made whole (zt_feeds_flatten), or made anew only where
 * the feeds changed (zt_feeds_flatten_inc): the windows of the address
 * space the changed entries touch, widened to the old elements there, are
 * flattened again from the entries that meet them and spliced into the
 * old maps; the rest is copied. The result is the same as flattening
 * whole (tests/unit/test-feed.c checks it over random edits). Pure.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "feed.h"

void zt_fwins_clear(struct zt_fwins *w)
{
	free(w->v);
	*w = (struct zt_fwins){};
}

static bool takes(const struct zt_feed_src *f, bool dst)
{
	return f->data && (dst ? f->dst : f->src);
}

/* Counted once per family, as the whole flattening counts it. */
static bool counts_carved(const struct zt_feed_src *f, bool dst)
{
	return !dst || !f->src;
}

int zt_feeds_flatten(struct zt_feed_src *v, size_t n, const struct zt_cidr *except, size_t n_except,
		     struct zt_fset want[ZT_FMAPS])
{
	int r;

	for (size_t s = 0; s < ZT_FMAPS; s++) {
		zt_fset_clear(&want[s]);
		want[s].family = s % ZT_FMAPS_R < 2 ? AF_INET : AF_INET6;
	}
	for (size_t i = 0; i < n; i++)
		v[i].carved = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t s = 0; s < ZT_FMAPS_R; s++) {
			bool dst = s & 1;

			if (!takes(&v[i], dst))
				continue;
			r = zt_fset_add_feed(&want[s], v[i].data, v[i].id, except, n_except,
					     counts_carved(&v[i], dst) ? &v[i].carved : NULL);
			if (r < 0)
				return r;
		}
	/* The single addresses into the hash maps; the flattened lists are disjoint, so are the two. */
	for (size_t s = 0; s < ZT_FMAPS_R; s++)
		if ((r = zt_fset_split(&want[s], &want[ZT_FMAPS_R + s])) < 0)
			return r;
	return 0;
}

static zt_u128 lo_of(const struct zt_fset *s, size_t i)
{
	return s->family == AF_INET ? s->v4[i].lo : s->v6[i].lo;
}

static zt_u128 hi_of(const struct zt_fset *s, size_t i)
{
	return s->family == AF_INET ? s->v4[i].hi : s->v6[i].hi;
}

/* The first element of s ending at or after v, at or after from (galloping: windows come in order). */
static size_t first_ending_from(const struct zt_fset *s, zt_u128 v, size_t from)
{
	size_t lo = from, hi = s->n, step = 1;

	/* Galloping from `from`: a bound within twice the distance, then a binary search. */
	while (lo + step < hi && hi_of(s, lo + step) < v) {
		lo += step;
		step *= 2;
	}
	if (lo + step < hi)
		hi = lo + step + 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (hi_of(s, mid) < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * [*lo, *hi] widened to every element of s it meets or touches: 1 when it
 * grew. from: an index no later than the answer (the windows come in order:
 * the previous window's first element is one).
 */
static int widen(const struct zt_fset *s, zt_u128 max, zt_u128 *lo, zt_u128 *hi, size_t from)
{
	size_t i;
	int grew = 0;

	/* The element at or just below lo. */
	i = first_ending_from(s, *lo ? *lo - 1 : 0, from);
	if (i < s->n && lo_of(s, i) < *lo && hi_of(s, i) >= (*lo ? *lo - 1 : 0)) {
		*lo = lo_of(s, i);
		grew = 1;
	}
	/* The element at or just above hi. */
	i = first_ending_from(s, *hi, i);
	while (i < s->n && lo_of(s, i) <= (*hi == max ? max : *hi + 1)) {
		if (hi_of(s, i) > *hi) {
			*hi = hi_of(s, i);
			grew = 1;
		}
		i++;
	}
	return grew;
}

static int win_cmp(const void *a, const void *b)
{
	const struct zt_fwin *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sorted, and those that overlap or touch merged. */
static void wins_merge(struct zt_fwins *w, zt_u128 max)
{
	size_t m = 0;

	if (!w->n)
		return;
	qsort(w->v, w->n, sizeof(*w->v), win_cmp);
	for (size_t i = 1; i < w->n; i++) {
		if (w->v[m].hi != max && w->v[i].lo > w->v[m].hi + 1) {
			w->v[++m] = w->v[i];
			continue;
		}
		if (w->v[i].hi > w->v[m].hi)
			w->v[m].hi = w->v[i].hi;
	}
	w->n = m + 1;
}

static int win_push(struct zt_fwins *w, zt_u128 lo, zt_u128 hi)
{
	if (ZT_GROW(w->v, w->cap, w->n + 1) < 0)
		return -ENOMEM;
	w->v[w->n++] = (struct zt_fwin){ lo, hi };
	return 0;
}

/* The entries of f (family) meeting [lo, hi], cut to it, appended to out (in out's e4 or e6). */
static int gather(const struct zt_feed_data *f, uint8_t family, zt_u128 lo, zt_u128 hi, struct zt_feed_data *out)
{
	const size_t *t = family == AF_INET ? f->t4 : f->t6;

	for (size_t k = 0; k < ZT_FEED_TIERS; k++) {
		zt_u128 span = zt_feed_tier_span(k);

		if (t[k] == t[k + 1])
			continue;
		for (size_t i = zt_feed_tier_from(f, family, k, lo > span ? lo - span : 0); i < t[k + 1]; i++) {
			zt_u128 elo = family == AF_INET ? f->e4[i].lo : f->e6[i].lo;
			zt_u128 ehi = family == AF_INET ? f->e4[i].hi : f->e6[i].hi;

			if (elo > hi)
				break;
			if (ehi < lo)
				continue;
			if (elo < lo)
				elo = lo;
			if (ehi > hi)
				ehi = hi;
			if (family == AF_INET) {
				if (ZT_GROW(out->e4, out->cap4, out->n4 + 1) < 0)
					return -ENOMEM;
				out->e4[out->n4++] = (struct zt_feed_e4){ (uint32_t)elo, (uint32_t)ehi, 0 };
			} else {
				if (ZT_GROW(out->e6, out->cap6, out->n6 + 1) < 0)
					return -ENOMEM;
				out->e6[out->n6++] = (struct zt_feed_e6){ elo, ehi, 0 };
			}
		}
	}
	return 0;
}

/* memcpy of n elements, where src may be NULL for none (an empty map). */
static void copy_els(unsigned char *dst, const unsigned char *base, size_t from, size_t n, size_t esz)
{
	if (n)
		memcpy(dst, base + from * esz, n * esz);
}

/* old with the elements inside w's windows replaced by add's (all inside them): into *ret. */
static int splice(const struct zt_fset *old, const struct zt_fwins *w, const struct zt_fset *add, struct zt_fset *ret)
{
	size_t esz = old->family == AF_INET ? sizeof(*old->v4) : sizeof(*old->v6);
	const unsigned char *ob = old->family == AF_INET ? (const void *)old->v4 : (const void *)old->v6;
	const unsigned char *ab = add->family == AF_INET ? (const void *)add->v4 : (const void *)add->v6;
	size_t i = 0, a = 0, n = old->n + add->n;
	unsigned char *out;

	*ret = (struct zt_fset){ .family = old->family };
	if (!n)
		return 0;
	/* At most old's and add's together: one pass, the spare returned after. */
	if (!(out = malloc(n * esz)))
		return -ENOMEM;
	zt_prefault(out, n * esz);
	n = 0;
	for (size_t k = 0; k < w->n; k++) {
		size_t b = first_ending_from(old, w->v[k].lo, i), e = b, ae = a;

		copy_els(out + n * esz, ob, i, b - i, esz);
		n += b - i;
		while (e < old->n && lo_of(old, e) <= w->v[k].hi)
			e++;
		while (ae < add->n && lo_of(add, ae) <= w->v[k].hi)
			ae++;
		copy_els(out + n * esz, ab, a, ae - a, esz);
		n += ae - a;
		i = e;
		a = ae;
	}
	copy_els(out + n * esz, ob, i, old->n - i, esz);
	n += old->n - i;
	if (old->family == AF_INET)
		ret->v4 = (void *)out;
	else
		ret->v6 = (void *)out;
	ret->n = ret->cap = old->n + add->n;
	ret->n = n;
	zt_fset_shrink(ret);
	return 0;
}

static int delta_wins(const struct zt_feed_delta *dl, uint8_t family, struct zt_fwins *w)
{
	int r = 0;

	if (family == AF_INET) {
		for (size_t i = 0; i < dl->nadd4 && r >= 0; i++)
			r = win_push(w, dl->add4[i].lo, dl->add4[i].hi);
		for (size_t i = 0; i < dl->ndel4 && r >= 0; i++)
			r = win_push(w, dl->del4[i].lo, dl->del4[i].hi);
	} else {
		for (size_t i = 0; i < dl->nadd6 && r >= 0; i++)
			r = win_push(w, dl->add6[i].lo, dl->add6[i].hi);
		for (size_t i = 0; i < dl->ndel6 && r >= 0; i++)
			r = win_push(w, dl->del6[i].lo, dl->del6[i].hi);
	}
	return r;
}

/*
 * The feed's merged ranges of one family that meet an except prefix (as
 * zt_fset_add_feed counts them): its entries within the prefixes' hull,
 * merged — two of them are one range exactly when the hull's entries
 * join them, the hull being one interval.
 */
static int carved_count(const struct zt_feed_data *f, uint8_t family, const struct zt_cidr *except, size_t n_except,
			size_t *count)
{
	struct zt_feed_data in = {};
	struct zt_fset s = { .family = family };
	zt_u128 lo = ~(zt_u128)0, hi = 0;
	bool any = false;
	int r;

	for (size_t i = 0; i < n_except; i++)
		if (except[i].family == family) {
			zt_u128 h, l = zt_feed_cidr_range(&except[i], &h);

			lo = l < lo ? l : lo;
			hi = h > hi ? h : hi;
			any = true;
		}
	if (!any)
		return 0;
	if ((r = gather(f, family, lo, hi, &in)) >= 0)
		r = zt_fset_add_feed(&s, &in, 0, except, n_except, count);
	zt_feed_data_clear(&in);
	zt_fset_clear(&s);
	return r;
}

/* What flattening the windows of some maps needs: read only but for the maps it makes. */
struct flat_job {
	const struct zt_feed_src *v;
	size_t n;
	const struct zt_cidr *except;
	size_t n_except;
	const struct zt_fset *cur;
	const zt_u128 *const *bounds;
	const size_t *n_bounds;
	struct zt_fset *want;
	struct zt_fwins *wins;
	size_t from, to;			/* maps [from, to) of the ZT_FMAPS_R, and their single addresses */
	const atomic_bool *cancel;		/* the caller's flag, for a thread of its own */
	int r;
};

/* Map s's windows (where its feeds' deltas fall, widened) flattened anew and spliced into copies of cur[s] and cur[s + 4]. */
static int flatten_map(const struct flat_job *j, size_t s)
{
	const struct zt_fset *cur = j->cur;
	uint8_t family = cur[s].family;
	zt_u128 max = family == AF_INET ? 0xffffffffu : ~(zt_u128)0;
	struct zt_fwins *w = &j->wins[s];
	struct zt_fset acc = { .family = family }, accx = { .family = family };
	bool dst = s & 1;
	int r = 0;

	if (zt_feed_cancelled())
		return -ECANCELED;
	zt_fwins_clear(w);
	for (size_t i = 0; i < j->n && r >= 0; i++)
		if (takes(&j->v[i], dst) && j->v[i].changed)
			r = delta_wins(j->v[i].delta, family, w);
	if (r < 0)
		return r;
	/* Windows, widened until no old element crosses an edge or touches it from outside. */
	wins_merge(w, max);
	for (size_t k = 0, c1 = 0, c2 = 0; k < w->n; k++) {
		while (widen(&cur[s], max, &w->v[k].lo, &w->v[k].hi, c1) |
		       widen(&cur[ZT_FMAPS_R + s], max, &w->v[k].lo, &w->v[k].hi, c2))
			;
		/* No later window widens below this one's start (an element reaching there would be in it). */
		c1 = first_ending_from(&cur[s], w->v[k].lo ? w->v[k].lo - 1 : 0, c1);
		c2 = first_ending_from(&cur[ZT_FMAPS_R + s], w->v[k].lo ? w->v[k].lo - 1 : 0, c2);
	}
	wins_merge(w, max);
	/* The windows flattened anew, all at once (they are apart: nothing merges across them). */
	for (size_t i = 0; i < j->n && r >= 0 && w->n; i++) {
		struct zt_feed_data in = {};

		if (!takes(&j->v[i], dst))
			continue;
		for (size_t k = 0; k < w->n && r >= 0; k++)
			r = gather(j->v[i].data, family, w->v[k].lo, w->v[k].hi, &in);
		if (r >= 0)
			r = zt_fset_add_feed(&acc, &in, j->v[i].id, j->except, j->n_except, NULL);
		zt_feed_data_clear(&in);
	}
	if (r >= 0)
		r = zt_fset_split(&acc, &accx);
	if (r >= 0 && j->bounds[s])
		r = zt_fset_cut(&acc, j->bounds[s], j->n_bounds[s]);
	if (r >= 0)
		r = splice(&cur[s], w, &acc, &j->want[s]);
	if (r >= 0)
		r = splice(&cur[ZT_FMAPS_R + s], w, &accx, &j->want[ZT_FMAPS_R + s]);
	zt_fset_clear(&acc);
	zt_fset_clear(&accx);
	return r;
}

static void *flatten_maps(void *userdata)
{
	struct flat_job *j = userdata;

	if (j->cancel)
		zt_feed_cancel_on(j->cancel);
	j->r = 0;
	for (size_t s = j->from; s < j->to && j->r >= 0; s++)
		j->r = flatten_map(j, s);
	return NULL;
}

/* Maps this large are made by two threads, a family each: the copies' page faults dominate, and halve. */
#define FLAT_SPLIT 65536

int zt_feeds_flatten_inc(struct zt_feed_src *v, size_t n, const struct zt_cidr *except, size_t n_except,
			 const struct zt_fset cur[ZT_FMAPS], const zt_u128 *const bounds[ZT_FMAPS_R],
			 const size_t n_bounds[ZT_FMAPS_R], struct zt_fset want[ZT_FMAPS], struct zt_fwins wins[ZT_FMAPS_R])
{
	struct flat_job j4 = { v, n, except, n_except, cur, bounds, n_bounds, want, wins, 0, 2, NULL, 0 }, j6 = j4;
	size_t total = 0;
	pthread_t t;
	bool two = false;
	int r = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].changed && (!v[i].delta || !v[i].data))
			return -EAGAIN;
	for (size_t s = 0; s < ZT_FMAPS; s++) {
		zt_fset_clear(&want[s]);
		want[s].family = cur[s].family;
		total += cur[s].n;
	}
	/* IPv4's maps here, IPv6's in a thread of their own when they are large (the maps do not share anything). */
	j6.from = 2;
	j6.to = ZT_FMAPS_R;
	j6.cancel = zt_feed_cancel_flag();
	if (total >= FLAT_SPLIT)
		two = pthread_create(&t, NULL, flatten_maps, &j6) == 0;
	flatten_maps(&j4);
	if (two)
		pthread_join(t, NULL);
	else
		flatten_maps(&j6);
	r = j4.r < 0 ? j4.r : j6.r;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (!v[i].changed)
			continue;
		v[i].carved = 0;
		if (n_except && v[i].data)
			for (int fam = 0; fam < 2 && r >= 0; fam++)
				r = carved_count(v[i].data, fam ? AF_INET6 : AF_INET, except, n_except, &v[i].carved);
	}
	if (r < 0)
		for (size_t s = 0; s < ZT_FMAPS; s++) {
			zt_fset_clear(&want[s]);
			if (s < ZT_FMAPS_R)
				zt_fwins_clear(&wins[s]);
		}
	return r;
}
