/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Addresses: the policy's prefixes flattened by longest prefix into the
 * address maps (dst4/6, dstb4/6, own4/6 and the subnet maps); the maps
 * from a zone id to its source chain (zone_src, src_rest, sub_rest).
 */
#include <assert.h>
#include "compile-internal.h"

typedef unsigned __int128 u128;

struct pfx {
	u128 lo, hi;
	uint8_t plen;
	uint32_t zone;			/* the owner's finest zone */
	uint32_t label;			/* the element's value; 0: no element */
	uint32_t order;
	struct zt_pos pos;
};

struct pfxs {
	struct pfx *v;
	size_t n, cap;
};

struct span {
	u128 lo, hi;
	uint32_t label;
	struct zt_pos pos;
};

static u128 hostmask(unsigned bits)
{
	return bits >= 128 ? ~(u128)0 : ((u128)1 << bits) - 1;
}

static unsigned family_bits(uint8_t family)
{
	return family == AF_INET ? 32 : 128;
}

static u128 addr_u128(uint8_t family, const uint8_t *a)
{
	u128 v = 0;

	for (size_t i = 0; i < ZT_ADDR_LEN(family); i++)
		v = v << 8 | a[i];
	return v;
}

static int pfxs_add(struct pfxs *e, const struct zt_cidr *v, size_t n, uint8_t family,
		    uint32_t zone, uint32_t label)
{
	for (size_t i = 0; i < n; i++) {
		unsigned host = family_bits(family) - v[i].plen;
		u128 lo;

		if (v[i].family != family)
			continue;
		if (ZT_GROW(e->v, e->cap, e->n) < 0)
			return -ENOMEM;
		lo = addr_u128(family, v[i].addr) & ~hostmask(host);
		e->v[e->n] = (struct pfx){ .lo = lo, .hi = lo | hostmask(host), .plen = v[i].plen,
					   .zone = zone, .label = label, .order = (uint32_t)e->n,
					   .pos = v[i].pos };
		e->n++;
	}
	return 0;
}

static int pfx_cmp(const void *a, const void *b)
{
	const struct pfx *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->plen != y->plen)
		return x->plen < y->plen ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The label of a piece of address space, given the prefixes holding it (innermost last). */
typedef int (*label_fn)(struct cc *c, struct pfx *const *stack, size_t depth, uint32_t *ret);

struct spans {
	struct span *v;
	size_t n, cap;
};

static int span_emit(struct cc *c, struct spans *out, u128 lo, u128 hi, struct pfx *const *stack,
		     size_t depth, label_fn fn)
{
	uint32_t label;
	int r;

	if ((r = fn(c, stack, depth, &label)) < 0)
		return r;
	if (!label)
		return 0;
	if (out->n && out->v[out->n - 1].label == label && out->v[out->n - 1].hi + 1 == lo) {
		out->v[out->n - 1].hi = hi;
		return 0;
	}
	if (ZT_GROW(out->v, out->cap, out->n) < 0)
		return -ENOMEM;
	out->v[out->n++] = (struct span){ .lo = lo, .hi = hi, .label = label,
					  .pos = stack[depth - 1]->pos };
	return 0;
}

/*
 * Cut one family's prefixes into disjoint pieces, each labelled by its
 * longest-prefix owner (fn), merging neighbours with equal labels. Sorted
 * by address and then length, prefixes either nest or are disjoint, so a
 * stack of the open ones (innermost on top) holds exactly those containing
 * the current point: O(n log n) for the sort, O(n) for the sweep. On equal
 * prefixes the first in definition order wins.
 */
static int flatten(struct cc *c, struct pfxs *in, label_fn fn, struct spans *out)
{
	struct pfx *stack[130];
	size_t depth = 0;
	u128 cur = 0;
	bool end = false;
	int r;

	out->n = 0;
	if (!in->n)
		return 0;
	qsort(in->v, in->n, sizeof(*in->v), pfx_cmp);
	for (size_t i = 0; i < in->n; i++) {
		struct pfx *pf = &in->v[i];

		while (depth && stack[depth - 1]->hi < pf->lo) {
			struct pfx *top = stack[depth - 1];

			if (cur <= top->hi && (r = span_emit(c, out, cur, top->hi, stack, depth, fn)) < 0)
				return r;
			cur = top->hi + 1;
			depth--;
		}
		if (depth && stack[depth - 1]->lo == pf->lo && stack[depth - 1]->plen == pf->plen)
			continue;
		if (depth && cur < pf->lo && (r = span_emit(c, out, cur, pf->lo - 1, stack, depth, fn)) < 0)
			return r;
		cur = pf->lo;
		assert(depth < ELEMENTSOF(stack));
		stack[depth++] = pf;
	}
	while (depth) {
		struct pfx *top = stack[depth - 1];

		if (!end && cur <= top->hi && (r = span_emit(c, out, cur, top->hi, stack, depth, fn)) < 0)
			return r;
		/* ::/0 ends at the top of the space: there is no next address. */
		if (top->hi == hostmask(128))
			end = true;
		else
			cur = top->hi + 1;
		depth--;
	}
	return 0;
}

/* Trailing zero bits of a (bits when a is 0): the largest block a can start. */
static unsigned align_bits(u128 a, unsigned bits)
{
	uint64_t lo = (uint64_t)a, hi = (uint64_t)(a >> 64);
	unsigned k = lo ? (unsigned)__builtin_ctzll(lo) : hi ? 64 + (unsigned)__builtin_ctzll(hi) : bits;

	return k < bits ? k : bits;
}

/*
 * One piece of address space as one element: its prefix when it is one,
 * else the range (nft's `a-b`), so a map holds one element per piece
 * whatever the addressing (a prefix cover would take up to 2 × 128). With a
 * nonzero rest, the key is `rest . address` (the subnet maps).
 */
static int span_elems(struct cc *c, int si, uint8_t family, const struct span *sp, enum dkind dk,
		      uint32_t rest)
{
	unsigned bits = family_bits(family), alen = ZT_ADDR_LEN(family);
	unsigned k = align_bits(sp->lo, bits);
	struct zt_elem *el;
	struct zt_value *key;

	while (k && hostmask(k) > sp->hi - sp->lo)
		k--;
	if (!(el = elem_new_at(c, si)))
		return -ENOMEM;
	key = &el->key[0];
	if (rest)
		*key++ = v_u32(ZT_TYPE_MARK, rest);
	key->type = family == AF_INET ? ZT_TYPE_IPV4 : ZT_TYPE_IPV6;
	if (hostmask(k) == sp->hi - sp->lo) {
		key->cidr.family = family;
		key->cidr.plen = (uint8_t)(bits - k);
		for (unsigned i = 0; i < alen; i++)
			key->cidr.addr[i] = (uint8_t)(sp->lo >> (8 * (alen - 1 - i)));
	} else {
		key->is_range = true;
		key->range.family = family;
		for (unsigned i = 0; i < alen; i++) {
			key->range.lo[i] = (uint8_t)(sp->lo >> (8 * (alen - 1 - i)));
			key->range.hi[i] = (uint8_t)(sp->hi >> (8 * (alen - 1 - i)));
		}
	}
	el->data = data_of(c, dk, sp->label);
	el->pos = pos_of(c, &sp->pos);
	return 0;
}

static int label_top(struct cc *c, struct pfx *const *stack, size_t depth, uint32_t *ret)
{
	*ret = stack[depth - 1]->label;
	return 0;
}

/*
 * The source binding (doc/SEMANTICS.md, anti-spoofing): the longest prefix
 * among segments (subnets count as their segment) and bound boundaries
 * decides; its owner's interfaces are the only way in (own_<zone>). A
 * boundary's /0 binds nothing: it is where unknown addresses go. Where
 * nothing binds, or a segment without interfaces does, the bound
 * boundaries holding the address may still bring it in (jump ownb_<n>);
 * on any other zone interface the rule after own4/own6 calls it spoofed.
 */
static int label_own(struct cc *c, struct pfx *const *stack, size_t depth, uint32_t *ret)
{
	uint32_t seq[130];
	size_t n = 0, idx;
	int r;

	*ret = 0;
	for (size_t i = depth; i > 0; i--) {
		const struct pfx *pf = stack[i - 1];
		const struct zinfo *z = &c->zones[pf->zone];

		if (z->kind == ZT_ZONE_BOUNDARY && !pf->plen)
			continue;
		if (z->kind == ZT_ZONE_BOUNDARY || zt_seg_bound(&c->p->segs[z->seg])) {
			*ret = pf->zone;
			return 0;
		}
		break;
	}
	for (size_t i = depth; i > 0; i--)
		if (c->zones[stack[i - 1]->zone].kind == ZT_ZONE_BOUNDARY)
			seq[n++] = stack[i - 1]->zone;
	if (!n)
		return 0;
	n = u32_uniq(seq, n);
	if ((r = seq_intern(&c->ownb, seq, n, &idx)) < 0)
		return r;
	*ret = OWNB_LABEL + (uint32_t)idx;
	return 0;
}

/*
 * A destination whose longest owner is a bound boundary B belongs to B only
 * when it leaves through B's interfaces; otherwise to the next owner down
 * the stack under the same rule, and finally to world. The fallback chain
 * is the sequence of those owners: bound ones, then one unbound (or world).
 */
static int label_dzb(struct cc *c, struct pfx *const *stack, size_t depth, uint32_t *ret)
{
	uint32_t seq[130];
	size_t n = 0, idx;
	int r;

	*ret = 0;
	if (!c->zones[stack[depth - 1]->zone].bound)
		return 0;
	for (size_t i = depth; i > 0; i--) {
		uint32_t z = stack[i - 1]->zone;
		bool dup = false;

		for (size_t j = 0; j < n && !dup; j++)
			dup = seq[j] == z;
		if (dup)
			continue;
		seq[n++] = z;
		if (!c->zones[z].bound)
			break;
	}
	if (c->zones[seq[n - 1]].bound)
		seq[n++] = ID_WORLD;
	if ((r = seq_intern(&c->dzb, seq, n, &idx)) < 0)
		return r;
	*ret = (uint32_t)idx + 1;
	return 0;
}

static int flatten_into(struct cc *c, struct pfxs *in, uint8_t family, label_fn fn, int si,
			enum dkind dk, uint32_t rest)
{
	struct spans out = {};
	int r = flatten(c, in, fn, &out);

	for (size_t i = 0; !r && i < out.n; i++)
		r = span_elems(c, si, family, &out.v[i], dk, rest);
	free(out.v);
	return r;
}

/* A segment's subnets into sub_src4/sub_dst4 (or the 6 ones), keyed by its rest. */
static int subnet_maps(struct cc *c, size_t seg, uint8_t family)
{
	const struct zt_segment *sg = &c->p->segs[seg];
	uint32_t rest = c->rest[seg];
	bool v4 = family == AF_INET;
	struct pfxs sub = {};
	int r = 0;

	for (int k = 0; k < N_SUB && c->sub[k] < 0; k++) {
		int si = set_add(c, &sub_defs[k], sub_defs[k].name);

		if (si < 0)
			return si;
		c->sub[k] = si;
	}
	for (size_t k = 0; k < sg->n_subnets && !r; k++)
		r = pfxs_add(&sub, sg->subnets[k].addrs, sg->subnets[k].n_addrs, family,
			     rest + 1 + (uint32_t)k, rest + 1 + (uint32_t)k);
	for (int d = 0; d < 2 && !r; d++)
		r = flatten_into(c, &sub, family, label_top,
				 c->sub[d ? (v4 ? SUB_DST4 : SUB_DST6) : (v4 ? SUB_SRC4 : SUB_SRC6)],
				 d ? D_MARK : D_FROM, rest);
	free(sub.v);
	return r;
}

/* zone_src: every zone a static address can belong to (all but host) → its source chain. */
int zone_src_elems(struct cc *c)
{
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		struct zt_elem *el;

		if (id == ID_HOST)
			continue;
		if (!(el = elem_new(c, S_ZONE_SRC)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, id);
		el->data = data_of(c, D_SRC_ADDR, id);
		el->pos = pos_of(c, zone_pos(c, id));
	}
	return 0;
}

/*
 * src_rest: classify_src's way on from a member interface's rest id
 * (dst_ifx), for every segment that names interfaces: goto from_<rest>, or
 * src_suba (the mark already holds the rest) for a segment with subnets.
 * sub_rest: src_sub's way on when no subnet holds the source, for every
 * segment with interfaces.
 */
int subnet_rests(struct cc *c)
{
	for (size_t s = 0; s < c->p->n_segs; s++) {
		const struct zt_segment *sg = &c->p->segs[s];
		struct zt_elem *el;

		if (sg->n_ifs) {
			if (!(el = elem_new(c, S_SRC_REST)))
				return -ENOMEM;
			el->key[0] = v_u32(ZT_TYPE_MARK, c->rest[s]);
			el->data = sg->n_subnets ? v_verdict(ZT_V_GOTO, "src_suba") : v_zone_goto("from", c->rest[s]);
			el->pos = pos_of(c, &sg->pos);
		}
		if (c->sub[SUB_REST] < 0 || !zt_seg_bound(sg))
			continue;
		if (!(el = elem_new_at(c, c->sub[SUB_REST])))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, c->rest[s]);
		el->data = v_zone_goto("from", c->rest[s]);
		el->pos = pos_of(c, &sg->pos);
	}
	return 0;
}

int addresses_family(struct cc *c, uint8_t family)
{
	const struct zt_policy *p = c->p;
	bool v4 = family == AF_INET;
	struct pfxs all = {}, own = {};
	int r = 0;

	for (size_t s = 0; s < p->n_segs && !r; s++) {
		const struct zt_segment *sg = &p->segs[s];
		uint32_t rest = c->rest[s];

		r = pfxs_add(&all, sg->addrs, sg->n_addrs, family, rest, rest);
		if (!r)
			r = pfxs_add(&own, sg->addrs, sg->n_addrs, family, rest, rest);
		for (size_t k = 0; k < sg->n_subnets && !r; k++) {
			const struct zt_subnet *sn = &sg->subnets[k];
			uint32_t id = rest + 1 + (uint32_t)k;

			r = pfxs_add(&all, sn->addrs, sn->n_addrs, family, id, id);
			if (!r)
				r = pfxs_add(&own, sn->addrs, sn->n_addrs, family, rest, rest);
		}
		if (!r && sg->n_subnets)
			r = subnet_maps(c, s, family);
	}
	/* Boundaries after segments: on an equal prefix the segment wins. */
	for (size_t b = 0; b < p->hub.n_boundaries && !r; b++) {
		const struct zt_boundary *bd = &p->hub.boundaries[b];
		uint32_t id = 3 + (uint32_t)b;

		r = pfxs_add(&all, bd->addrs, bd->n_addrs, family, id, id);
		if (!r && bd->n_ifs)
			r = pfxs_add(&own, bd->addrs, bd->n_addrs, family, id, id);
	}
	if (!r)
		r = flatten_into(c, &all, family, label_top, c->set[v4 ? S_DST4 : S_DST6], D_MARK, 0);
	if (!r)
		r = flatten_into(c, &all, family, label_dzb, c->set[v4 ? S_DSTB4 : S_DSTB6], D_DZB, 0);
	if (!r)
		r = flatten_into(c, &own, family, label_own, c->set[v4 ? S_OWN4 : S_OWN6], D_OWN, 0);
	free(all.v);
	free(own.v);
	return r;
}
