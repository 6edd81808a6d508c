/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The shard layout of a feed interval map (doc/RULESET.md, "Shards"): which
 * slot's map each address range is looked up in, as the selector holds it,
 * and how it changes when an update would overfill a slot. A run of new
 * elements that falls into a gap of the map (no element of the version in
 * the kernel between them) moves to free slots of its own: no element in
 * the kernel changes slot, so the new ranges need no element moved, only
 * the new elements added to the free slots (unreachable there) and the
 * selector replaced in one transaction. Slots that hold nothing before or
 * after the update give their ranges to a neighbour and become free. Pure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "feed.h"
#include "util.h"

void zt_flayout_set(struct zt_flayout *l, const zt_u128 *bounds, size_t n)
{
	l->n = n;
	for (size_t i = 0; i < n; i++) {
		l->lo[i] = bounds[i];
		l->slot[i] = (uint16_t)i;
	}
}

size_t zt_flayout_slot_of(const struct zt_flayout *l, zt_u128 a)
{
	return l->slot[zt_fset_shard_of(l->lo, l->n, a)];
}

bool zt_flayout_eq(const struct zt_flayout *a, const struct zt_flayout *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->lo[i] != b->lo[i] || a->slot[i] != b->slot[i])
			return false;
	return true;
}

bool zt_flayout_valid(const struct zt_flayout *l, size_t n_slots)
{
	if (!l->n || l->n > ZT_FLAYOUT_MAX || l->lo[0] != 0)
		return false;
	for (size_t i = 0; i < l->n; i++) {
		if (l->slot[i] >= n_slots)
			return false;
		if (i && (l->lo[i] <= l->lo[i - 1] || l->slot[i] == l->slot[i - 1]))
			return false;
	}
	return true;
}

static void elem(const struct zt_fset *s, size_t i, zt_u128 *lo, zt_u128 *hi)
{
	if (s->family == AF_INET) {
		*lo = s->v4[i].lo;
		*hi = s->v4[i].hi;
	} else {
		*lo = s->v6[i].lo;
		*hi = s->v6[i].hi;
	}
}

/* Range i's last address. */
static zt_u128 range_hi(const struct zt_flayout *l, size_t i, zt_u128 top)
{
	return i + 1 < l->n ? l->lo[i + 1] - 1 : top;
}

/* Append range (lo, slot) to l, joined to the last one when it has the same slot. */
static void push(struct zt_flayout *l, zt_u128 lo, uint16_t slot)
{
	if (l->n && l->slot[l->n - 1] == slot)
		return;
	if (l->n && l->lo[l->n - 1] == lo) {	/* replaces an empty range */
		l->slot[l->n - 1] = slot;
		if (l->n > 1 && l->slot[l->n - 2] == slot)
			l->n--;
		return;
	}
	l->lo[l->n] = lo;
	l->slot[l->n++] = slot;
}

/* The range of l holding lo, from *at on (lo never below the last one asked): one pass over sorted elements. */
static size_t walk(const struct zt_flayout *l, size_t *at, zt_u128 lo)
{
	while (*at + 1 < l->n && l->lo[*at + 1] <= lo)
		(*at)++;
	return *at;
}

/* Elements of s per slot of l. */
static void count(const struct zt_flayout *l, const struct zt_fset *s, size_t *cnt)
{
	size_t at = 0;
	zt_u128 lo, hi;

	for (size_t i = 0; i < s->n; i++) {
		elem(s, i, &lo, &hi);
		cnt[l->slot[walk(l, &at, lo)]]++;
	}
}

struct run {
	size_t start, count;	/* want elements [start, start + count) */
	size_t range;		/* their range in the merged layout */
	zt_u128 g_lo, g_hi;	/* the gap they lie in, within the range */
};

int zt_flayout_plan(const struct zt_flayout *old, const struct zt_fset *cur, const struct zt_fset *want,
		    size_t n_slots, size_t n_base, struct zt_flayout *ret, size_t *ret_split)
{
	zt_u128 top = cur->family == AF_INET ? 0xffffffffu : ~(zt_u128)0;
	size_t *cnt_cur = calloc(n_slots, sizeof(*cnt_cur)), *cnt_want = calloc(n_slots, sizeof(*cnt_want));
	bool *used = calloc(n_slots, sizeof(*used));
	struct flayout_tmp {
		struct zt_flayout m, out;
	} *t = malloc(sizeof(*t));
	struct run *runs = NULL;
	size_t n_runs = 0, cap_runs = 0, unit, split = 0;
	zt_u128 lo, hi;
	int r = 0;

	*ret = *old;
	if (ret_split)
		*ret_split = 0;
	if (!cnt_cur || !cnt_want || !used || !t) {
		r = -ENOMEM;
		goto out;
	}
	/* An empty map is laid out anew by its caller (zt_fset_bounds). */
	if (!cur->n)
		goto out;
	count(old, cur, cnt_cur);
	count(old, want, cnt_want);
	for (size_t i = 0; i < old->n; i++)
		used[old->slot[i]] = true;

	/* Slots empty before and after: their ranges go to the range before (the first: to the one after). */
	t->m.n = 0;
	for (size_t i = 0; i < old->n; i++) {
		uint16_t k = old->slot[i];

		if (!cnt_cur[k] && !cnt_want[k])
			continue;
		push(&t->m, t->m.n ? old->lo[i] : 0, k);
	}

	/*
	 * Runs of new elements in a gap, in slots the update would fill past
	 * four times the even share: cut into pieces of two shares for free
	 * slots (never one the old layout has: its ranges still lead there).
	 */
	unit = want->n / (n_base ? n_base : 1);
	if (unit < ZT_FLAYOUT_MIN_SHARE)
		unit = ZT_FLAYOUT_MIN_SHARE;
	{
		size_t p = 0, run_p = SIZE_MAX, at = 0;
		size_t last_range = SIZE_MAX;
		struct run cur_run = { .count = 0 };
		zt_u128 prev_hi = 0;
		bool have_prev = false;

		for (size_t i = 0; i <= want->n; i++) {
			bool eligible = false;
			size_t range = SIZE_MAX;
			zt_u128 clo = 0, chi = 0;

			if (i < want->n) {
				elem(want, i, &lo, &hi);
				range = walk(&t->m, &at, lo);
				for (; p < cur->n; p++) {
					elem(cur, p, &clo, &chi);
					if (chi >= lo)
						break;
				}
				eligible = p == cur->n || clo > hi;
			}
			/* The run so far ends here: no longer eligible, another range, or a kernel element in between. */
			if (cur_run.count && (!eligible || range != last_range || p != run_p)) {
				zt_u128 rlo = t->m.lo[cur_run.range], rhi = range_hi(&t->m, cur_run.range, top);
				zt_u128 next = rhi;

				if (i < want->n && lo - 1 < next)
					next = lo - 1;
				if (run_p < cur->n) {
					zt_u128 nlo, nhi;

					elem(cur, run_p, &nlo, &nhi);
					if (nlo - 1 < next)
						next = nlo - 1;
				}
				cur_run.g_hi = next;
				if (cur_run.count >= 2 * unit && cnt_want[t->m.slot[cur_run.range]] > 4 * unit) {
					if (cur_run.g_lo < rlo)
						cur_run.g_lo = rlo;
					if (ZT_GROW(runs, cap_runs, n_runs + 1) < 0) {
						r = -ENOMEM;
						goto out;
					}
					runs[n_runs++] = cur_run;
				}
				cur_run.count = 0;
			}
			if (i == want->n)
				break;
			if (eligible && !cur_run.count) {
				zt_u128 g = 0;

				/* The gap starts after the last element before it, of either version. */
				if (have_prev)
					g = prev_hi + 1;
				if (p > 0) {
					zt_u128 plo, phi;

					elem(cur, p - 1, &plo, &phi);
					if (phi + 1 > g)
						g = phi + 1;
				}
				cur_run = (struct run){ .start = i, .count = 0, .range = range, .g_lo = g };
				run_p = p;
			}
			if (eligible)
				cur_run.count++;
			last_range = range;
			prev_hi = hi;
			have_prev = true;
		}
	}

	/* The merged layout with the runs cut out into free slots. */
	t->out.n = 0;
	{
		size_t next_free = 0, ri = 0;

		for (size_t i = 0; i < t->m.n; i++) {
			uint16_t k = t->m.slot[i];
			zt_u128 rhi = range_hi(&t->m, i, top);

			push(&t->out, t->m.lo[i], k);
			for (; ri < n_runs && runs[ri].range == i; ri++) {
				struct run *u = &runs[ri];
				size_t pieces = (u->count + 2 * unit - 1) / (2 * unit), got = 0;
				uint16_t slots[ZT_FLAYOUT_MAX];

				while (got < pieces && next_free < n_slots) {
					if (!used[next_free])
						slots[got++] = (uint16_t)next_free;
					next_free++;
				}
				/* Room for the pieces and the rest of the range after them. */
				if (!got || t->out.n + got + 1 + (t->m.n - i) > ZT_FLAYOUT_MAX)
					break;
				for (size_t j = 0; j < got; j++) {
					zt_u128 plo = u->g_lo, phi;

					if (j) {
						elem(want, u->start + j * u->count / got, &plo, &phi);
					}
					push(&t->out, plo, slots[j]);
					used[slots[j]] = true;
				}
				split += got;
				if (u->g_hi < rhi)
					push(&t->out, u->g_hi + 1, k);
			}
			for (; ri < n_runs && runs[ri].range == i; ri++)
				;
		}
	}
	*ret = t->out;
	if (ret_split)
		*ret_split = split;
	r = !zt_flayout_eq(ret, old);
out:
	free(cnt_cur);
	free(cnt_want);
	free(used);
	free(t);
	free(runs);
	return r;
}
