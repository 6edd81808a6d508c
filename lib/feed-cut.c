/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ranges an update of the feed maps listed, searched by address: an
 * established connection with an address in one of them has its "checked"
 * label bits cleared (ztsegd-feeds.c), so that its next packet in each
 * direction meets the lookups again (doc/RULESET.md, "Checked once per
 * connection and direction"). Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "feed.h"

int zt_feed_cut_add(struct zt_feed_cut *c, uint8_t family, zt_u128 lo, zt_u128 hi)
{
	__typeof__(c->f[0]) *f = &c->f[family == AF_INET6];

	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 256;
		zt_u128 *l = realloc(f->lo, cap * sizeof(*l)), *h;

		if (!l)
			return -ENOMEM;
		f->lo = l;
		if (!(h = realloc(f->hi, cap * sizeof(*h))))
			return -ENOMEM;
		f->hi = h;
		f->cap = cap;
	}
	f->lo[f->n] = lo;
	f->hi[f->n++] = hi;
	c->built = false;
	return 0;
}

struct range {
	zt_u128 lo, hi;
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int zt_feed_cut_build(struct zt_feed_cut *c)
{
	for (size_t k = 0; k < 2; k++) {
		__typeof__(c->f[0]) *f = &c->f[k];
		struct range *v;

		if (!f->n)
			continue;
		if (!(v = malloc(f->n * sizeof(*v))))
			return -ENOMEM;
		for (size_t i = 0; i < f->n; i++)
			v[i] = (struct range){ f->lo[i], f->hi[i] };
		qsort(v, f->n, sizeof(*v), range_cmp);
		/* hi becomes the highest end so far: ranges may overlap (a source and a destination map). */
		for (size_t i = 0; i < f->n; i++) {
			f->lo[i] = v[i].lo;
			f->hi[i] = i && f->hi[i - 1] > v[i].hi ? f->hi[i - 1] : v[i].hi;
		}
		free(v);
	}
	c->built = true;
	return 0;
}

bool zt_feed_cut_has(const struct zt_feed_cut *c, uint8_t family, const uint8_t *addr)
{
	const __typeof__(c->f[0]) *f = &c->f[family == AF_INET6];
	zt_u128 v;
	size_t lo = 0, hi = f->n;

	if (!c->built || (family != AF_INET && family != AF_INET6))
		return false;
	v = zt_feed_addr_value(family, addr);
	/* The number of ranges starting at or below v; the last of them reaches furthest so far. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->lo[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && f->hi[lo - 1] >= v;
}

size_t zt_feed_cut_count(const struct zt_feed_cut *c)
{
	return c->f[0].n + c->f[1].n;
}

void zt_feed_cut_clear(struct zt_feed_cut *c)
{
	for (size_t k = 0; k < 2; k++) {
		free(c->f[k].lo);
		free(c->f[k].hi);
	}
	*c = (struct zt_feed_cut){};
}
