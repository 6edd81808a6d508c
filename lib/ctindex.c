/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection index (ctindex.h): slots that keep an entry's addresses and
 * original tuple, chained twice: by the entry's identity (id, zone, original
 * tuple: a DESTROY finds its NEW) and by each of its distinct addresses (a
 * moved host address finds its connections; doubly linked, as a busy
 * server's address is in every one of its connections). Freed slots are
 * reused.
 */
#include <sys/types.h>
#include "ctindex.h"

#define NIL UINT32_MAX
#define BUCKETS_MIN 1024

struct slot {
	struct zt_ct_entry e;		/* e.orig points to orig below while the slot is used */
	uint8_t orig[ZT_CTIX_ORIG_MAX];
	uint32_t knext;			/* the identity chain; the free list when unused */
	uint32_t anext[4], aprev[4];	/* the address chains (doubly linked: one address may have thousands) */
	uint32_t seen;			/* the last match that returned it */
	bool used;
	bool chained[4];
};

struct zt_ctix {
	struct slot *s;
	size_t n_slots, cap, n_used, max;
	uint32_t free_head;
	uint32_t *kb, *ab;		/* bucket heads: slot; slot << 2 | address */
	size_t nb;			/* buckets of each, a power of two */
	uint32_t gen;
};

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static uint32_t key_hash(const struct zt_ct_entry *e)
{
	uint32_t h = fnv(2166136261u, &e->id, sizeof(e->id));

	h = fnv(h, &e->zone, sizeof(e->zone));
	return fnv(h, e->orig, e->orig_len);
}

static uint32_t addr_hash(uint8_t family, const uint8_t *addr)
{
	return fnv(fnv(2166136261u, &family, 1), addr, family == AF_INET ? 4 : 16);
}

static bool same_key(const struct zt_ct_entry *a, const struct zt_ct_entry *b)
{
	return a->id == b->id && a->has_id == b->has_id && a->zone == b->zone && a->has_zone == b->has_zone &&
	       a->orig_len == b->orig_len && memcmp(a->orig, b->orig, a->orig_len) == 0;
}

/* Is address k of slot i the first of its value in the entry (the others are not chained)? */
static bool addr_first(const struct zt_ct_entry *e, int k)
{
	size_t len = e->family == AF_INET ? 4 : 16;

	if (!e->has_addr[k])
		return false;
	for (int j = 0; j < k; j++)
		if (e->has_addr[j] && memcmp(e->addr[j], e->addr[k], len) == 0)
			return false;
	return true;
}

static void link_slot(struct zt_ctix *ix, uint32_t i)
{
	struct slot *s = &ix->s[i];
	uint32_t b = key_hash(&s->e) & (uint32_t)(ix->nb - 1);

	s->knext = ix->kb[b];
	ix->kb[b] = i;
	for (int k = 0; k < 4; k++) {
		s->chained[k] = addr_first(&s->e, k);
		s->anext[k] = s->aprev[k] = NIL;
		if (!s->chained[k])
			continue;
		b = addr_hash(s->e.family, s->e.addr[k]) & (uint32_t)(ix->nb - 1);
		s->anext[k] = ix->ab[b];
		s->aprev[k] = NIL;
		if (ix->ab[b] != NIL)
			ix->s[ix->ab[b] >> 2].aprev[ix->ab[b] & 3] = i << 2 | (uint32_t)k;
		ix->ab[b] = i << 2 | (uint32_t)k;
	}
}

static int rehash(struct zt_ctix *ix, size_t nb)
{
	uint32_t *kb = malloc(nb * sizeof(*kb)), *ab = malloc(nb * sizeof(*ab));

	if (!kb || !ab) {
		free(kb);
		free(ab);
		return -ENOMEM;
	}
	free(ix->kb);
	free(ix->ab);
	ix->kb = kb;
	ix->ab = ab;
	ix->nb = nb;
	for (size_t i = 0; i < nb; i++)
		kb[i] = ab[i] = NIL;
	for (size_t i = 0; i < ix->n_slots; i++)
		if (ix->s[i].used)
			link_slot(ix, (uint32_t)i);
	return 0;
}

struct zt_ctix *zt_ctix_new(size_t max)
{
	struct zt_ctix *ix = calloc(1, sizeof(*ix));

	if (!ix)
		return NULL;
	ix->max = max < NIL >> 2 ? max : NIL >> 2;
	ix->free_head = NIL;
	if (rehash(ix, BUCKETS_MIN) < 0)
		return zt_ctix_free(ix);
	return ix;
}

struct zt_ctix *zt_ctix_free(struct zt_ctix *ix)
{
	if (!ix)
		return NULL;
	free(ix->s);
	free(ix->kb);
	free(ix->ab);
	free(ix);
	return NULL;
}

void zt_ctix_clear(struct zt_ctix *ix)
{
	free(ix->s);
	ix->s = NULL;
	ix->n_slots = ix->cap = ix->n_used = 0;
	ix->free_head = NIL;
	for (size_t i = 0; i < ix->nb; i++)
		ix->kb[i] = ix->ab[i] = NIL;
}

size_t zt_ctix_size(const struct zt_ctix *ix)
{
	return ix->n_used;
}

static uint32_t find(const struct zt_ctix *ix, const struct zt_ct_entry *e)
{
	for (uint32_t i = ix->kb[key_hash(e) & (uint32_t)(ix->nb - 1)]; i != NIL; i = ix->s[i].knext)
		if (same_key(&ix->s[i].e, e))
			return i;
	return NIL;
}

int zt_ctix_add(struct zt_ctix *ix, const struct zt_ct_entry *e)
{
	struct slot *s;
	uint32_t i;

	if (!e->orig)
		return -EINVAL;
	if (e->orig_len > ZT_CTIX_ORIG_MAX)
		return -E2BIG;
	if (find(ix, e) != NIL)
		return 0;
	if (ix->n_used >= ix->max)
		return -E2BIG;
	if (ix->n_used + 1 > 2 * ix->nb && rehash(ix, 2 * ix->nb) < 0)
		return -ENOMEM;
	if (ix->free_head != NIL) {
		i = ix->free_head;
		ix->free_head = ix->s[i].knext;
	} else {
		if (ix->n_slots == ix->cap) {
			size_t cap = ix->cap ? 2 * ix->cap : 256;
			struct slot *n = realloc(ix->s, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			/* Slots hold a pointer into themselves: set again after the move. */
			for (size_t k = 0; k < ix->n_slots; k++)
				n[k].e.orig = n[k].orig;
			ix->s = n;
			ix->cap = cap;
		}
		i = (uint32_t)ix->n_slots++;
	}
	s = &ix->s[i];
	*s = (struct slot){ .e = *e, .used = true };
	memcpy(s->orig, e->orig, e->orig_len);
	s->e.orig = s->orig;
	link_slot(ix, i);
	ix->n_used++;
	return 0;
}

void zt_ctix_del(struct zt_ctix *ix, const struct zt_ct_entry *e)
{
	uint32_t i, *p, b;
	struct slot *s;

	if (!e->orig || e->orig_len > ZT_CTIX_ORIG_MAX || (i = find(ix, e)) == NIL)
		return;
	s = &ix->s[i];
	for (p = &ix->kb[key_hash(&s->e) & (uint32_t)(ix->nb - 1)]; *p != i; p = &ix->s[*p].knext)
		;
	*p = s->knext;
	for (int k = 0; k < 4; k++) {
		if (!s->chained[k])
			continue;
		if (s->aprev[k] == NIL) {
			b = addr_hash(s->e.family, s->e.addr[k]) & (uint32_t)(ix->nb - 1);
			ix->ab[b] = s->anext[k];
		} else {
			ix->s[s->aprev[k] >> 2].anext[s->aprev[k] & 3] = s->anext[k];
		}
		if (s->anext[k] != NIL)
			ix->s[s->anext[k] >> 2].aprev[s->anext[k] & 3] = s->aprev[k];
	}
	s->used = false;
	s->knext = ix->free_head;
	ix->free_head = i;
	ix->n_used--;
}

static bool host_prefix(const struct zt_cidr *c)
{
	return c->plen == (c->family == AF_INET ? 32 : 128);
}

static int push(struct zt_ctix *ix, uint32_t i, struct zt_ct_entry **out, size_t *n, size_t *cap)
{
	if (ix->s[i].seen == ix->gen)
		return 0;
	ix->s[i].seen = ix->gen;
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct zt_ct_entry *m = realloc(*out, c * sizeof(*m));

		if (!m)
			return -ENOMEM;
		*out = m;
		*cap = c;
	}
	(*out)[(*n)++] = ix->s[i].e;
	return 0;
}

ssize_t zt_ctix_match(struct zt_ctix *ix, const struct zt_cidr *pfx, size_t n, struct zt_ct_entry **ret)
{
	struct zt_ct_entry *out = NULL;
	size_t n_out = 0, cap = 0;
	int r = 0;

	if (++ix->gen == 0) {
		for (size_t i = 0; i < ix->n_slots; i++)
			ix->s[i].seen = 0;
		ix->gen = 1;
	}
	for (size_t p = 0; p < n && r >= 0; p++) {
		if (!host_prefix(&pfx[p])) {
			/* A shorter prefix: every entry of the index (this namespace's, not the kernel's hash). */
			for (size_t i = 0; i < ix->n_slots && r >= 0; i++)
				if (ix->s[i].used && zt_ct_entry_in(&ix->s[i].e, &pfx[p], 1))
					r = push(ix, (uint32_t)i, &out, &n_out, &cap);
			continue;
		}
		for (uint32_t a = ix->ab[addr_hash(pfx[p].family, pfx[p].addr) & (uint32_t)(ix->nb - 1)]; a != NIL && r >= 0;
		     a = ix->s[a >> 2].anext[a & 3]) {
			const struct zt_ct_entry *e = &ix->s[a >> 2].e;

			if (e->family == pfx[p].family &&
			    memcmp(e->addr[a & 3], pfx[p].addr, pfx[p].family == AF_INET ? 4 : 16) == 0)
				r = push(ix, a >> 2, &out, &n_out, &cap);
		}
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	return (ssize_t)n_out;
}
