/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiler: a validated policy in, the plan of the one nftables table
 * out, as doc/RULESET.md designs it. Pure: no I/O, no globals, no clock.
 * This file drives the stages (compile-*.c) and sorts the result.
 */
#include <assert.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include "compile-internal.h"

typedef unsigned __int128 u128;
/* Set elements the flows may expand to: ~300 bytes each here, more in the kernel. */
#define FLOW_KEYS_MAX 2000000
/* A port range this short goes to the hash map as single ports. */
#define NARROW_PORTS 64
#define PROTOS_MAX 5

/* ---- Interface patterns ---- */

struct ifent {
	struct zt_ifpat pat;
	uint32_t label;
	uint32_t order;
};

static int ifent_cmp(const void *a, const void *b)
{
	const struct ifent *x = a, *y = b;
	int r = strcmp(x->pat.name, y->pat.name);

	if (r)
		return r;
	if (x->pat.wildcard != y->pat.wildcard)
		return x->pat.wildcard ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/*
 * Interval sets refuse overlapping keys: drop every pattern that another
 * one already covers ("vweb1" under "vweb*"). Sorted by name, everything a
 * wildcard covers follows it directly, so one open wildcard suffices.
 */
static size_t ifents_normalize(struct ifent *v, size_t n)
{
	const struct ifent *open = NULL;
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), ifent_cmp);
	for (size_t i = 0; i < n; i++) {
		if (open && !strncmp(v[i].pat.name, open->pat.name, strlen(open->pat.name)))
			continue;
		if (k && !v[i].pat.wildcard && !v[k - 1].pat.wildcard &&
		    streq(v[i].pat.name, v[k - 1].pat.name))
			continue;
		v[k++] = v[i];
		open = v[k - 1].pat.wildcard ? &v[k - 1] : NULL;
	}
	return k;
}

struct ifents {
	struct ifent *v;
	size_t n, cap;
};

static int ifents_add(struct ifents *e, const struct zt_ifpat *pats, size_t n, uint32_t label)
{
	for (size_t i = 0; i < n; i++) {
		if (ZT_GROW(e->v, e->cap, e->n) < 0)
			return -ENOMEM;
		e->v[e->n] = (struct ifent){ .pat = pats[i], .label = label, .order = (uint32_t)e->n };
		e->n++;
	}
	return 0;
}

static struct zt_value data_of(const struct cc *c, enum dkind k, uint32_t label)
{
	char name[ZT_OBJ_NAME_MAX];
	const struct zinfo *z;

	switch (k) {
	case D_MARK:
		return v_u32(ZT_TYPE_MARK, label);
	case D_OWN:
		if (label < OWNB_LABEL)
			return v_zone_goto("own", label);
		name_num(name, "ownb", label - OWNB_LABEL);
		return v_verdict(ZT_V_JUMP, name);
	case D_FROM:
		return v_zone_goto("from", label);
	case D_SRC_OR_FROM:
		/* By interface: the subnet is still to be found by address. */
		z = &c->zones[label];
		if (z->kind == ZT_ZONE_SEGMENT && c->p->segs[z->seg].n_subnets)
			return v_verdict(ZT_V_GOTO, "src_sub");
		return v_zone_goto("from", label);
	case D_SRC_ADDR:
		return v_zone_goto(c->zones[label].dflt ? "src" : "from", label);
	case D_DZB:
		name_num(name, "dzb", label - 1);
		return v_verdict(ZT_V_GOTO, name);
	default:
		return (struct zt_value){ .type = ZT_TYPE_NONE };
	}
}

static int if_elems(struct cc *c, enum set_id set, struct ifents *e, enum dkind dk)
{
	enum zt_type type = set_defs[set].key[0];

	/* Idempotent: one list serves several maps. */
	e->n = ifents_normalize(e->v, e->n);
	for (size_t i = 0; i < e->n; i++) {
		struct zt_elem *el = elem_new(c, set);

		if (!el)
			return -ENOMEM;
		el->key[0] = v_ifpat(type, &e->v[i].pat);
		el->data = data_of(c, dk, e->v[i].label);
		el->pos = pos_of(c, &e->v[i].pat.pos);
	}
	return 0;
}

static int interfaces_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	struct ifents member = {}, zone = {}, sub = {}, bif = {};
	int r = 0;

	for (size_t s = 0; s < p->n_segs && !r; s++) {
		const struct zt_segment *sg = &p->segs[s];

		r = ifents_add(&member, sg->ifs, sg->n_ifs, c->rest[s]);
		if (!r)
			r = ifents_add(&zone, sg->ifs, sg->n_ifs, c->rest[s]);
		if (!r && sg->n_subnets)
			r = ifents_add(&sub, sg->ifs, sg->n_ifs, c->rest[s]);
	}
	for (size_t b = 0; b < p->hub.n_boundaries && !r; b++) {
		const struct zt_boundary *bd = &p->hub.boundaries[b];

		r = ifents_add(&bif, bd->ifs, bd->n_ifs, 3 + (uint32_t)b);
		if (!r)
			r = ifents_add(&zone, bd->ifs, bd->n_ifs, 3 + (uint32_t)b);
	}
	if (!r)
		r = if_elems(c, S_ZONE_IF, &zone, D_NONE);
	if (!r)
		r = if_elems(c, S_MEMBER_IF, &member, D_NONE);
	if (!r)
		r = if_elems(c, S_ROUTE_OWNER, &member, D_OWN);
	if (!r && c->set[S_MEMBER_RT] >= 0)
		r = if_elems(c, S_MEMBER_RT, &member, D_NONE);
	if (!r)
		r = if_elems(c, S_SRC_IF, &member, D_SRC_OR_FROM);
	if (!r)
		r = if_elems(c, S_DST_IF, &member, D_MARK);
	if (!r)
		r = if_elems(c, S_SUB_IF, &sub, D_NONE);
	if (!r)
		r = if_elems(c, S_SRC_BIF, &bif, D_FROM);
	free(member.v);
	free(zone.v);
	free(sub.v);
	free(bif.v);
	return r;
}

/* ---- Addresses: longest-prefix flattening ---- */

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
		if (z->kind == ZT_ZONE_BOUNDARY || c->p->segs[z->seg].n_ifs) {
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
static int zone_src_elems(struct cc *c)
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

/* sub_rest: src_sub's way on when no subnet holds the source, for every segment with interfaces. */
static int subnet_rests(struct cc *c)
{
	for (size_t s = 0; c->sub[SUB_REST] >= 0 && s < c->p->n_segs; s++) {
		const struct zt_segment *sg = &c->p->segs[s];
		struct zt_elem *el;

		if (!sg->n_ifs)
			continue;
		if (!(el = elem_new_at(c, c->sub[SUB_REST])))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, c->rest[s]);
		el->data = v_zone_goto("from", c->rest[s]);
		el->pos = pos_of(c, &sg->pos);
	}
	return 0;
}

static int addresses_family(struct cc *c, uint8_t family)
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

/* ---- Flows: zone pairs and ports into map elements ---- */

enum ecls { E_ANY, E_PROTO, E_TYPE, E_NARROW, E_WIDE };

/* One (zone pair, port entry) of one flow. */
struct ent {
	uint32_t zp;
	uint32_t rank;			/* index into c->flows: candidate order */
	uint8_t cls;			/* enum ecls */
	uint8_t proto;			/* IPPROTO_* */
	uint16_t lo, hi;		/* ports; E_TYPE: the type in lo */
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->zp != y->zp)
		return x->zp < y->zp ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* The finest zones a flow's side names; host only where the host is enforced. */
static int side_zones(const struct cc *c, const struct cflow *cf, bool to, uint32_t **ret, size_t *n_ret)
{
	const struct zt_policy *p = c->p;
	const struct zt_ref *refs = to ? cf->f->to : cf->f->from;
	size_t n_refs = to ? cf->f->n_to : cf->f->n_from, n = 0, cap = 0;
	uint32_t *v = NULL;

	for (size_t i = 0; i < n_refs; i++) {
		const struct zt_zone *z = &refs[i].zone;
		uint32_t first = zone_id(c, z), count = 1;

		if (!first || (z->kind == ZT_ZONE_HOST && !p->hub.protect_host))
			continue;
		/* A hub flow's segment is its rest and every subnet; a rule's is its rest. */
		if (z->kind == ZT_ZONE_SEGMENT && cf->kind == CF_HUB)
			count += (uint32_t)p->segs[z->seg].n_subnets;
		for (uint32_t k = 0; k < count; k++) {
			if (ZT_GROW(v, cap, n) < 0) {
				free(v);
				return -ENOMEM;
			}
			v[n++] = first + k;
		}
	}
	*n_ret = u32_uniq(v, n);
	*ret = v;
	return 0;
}

static struct ent port_ent(const struct zt_port *pt)
{
	struct ent e = { .proto = (uint8_t)zt_proto_number(pt->proto) };

	switch (pt->proto) {
	case ZT_PROTO_TCP:
	case ZT_PROTO_UDP:
	case ZT_PROTO_SCTP:
		e.lo = pt->lo;
		e.hi = pt->hi;
		if (pt->lo == 0 && pt->hi == 65535)
			e.cls = E_PROTO;
		else if ((unsigned)pt->hi - pt->lo < NARROW_PORTS)
			e.cls = E_NARROW;
		else
			e.cls = E_WIDE;
		break;
	case ZT_PROTO_ICMP:
	case ZT_PROTO_ICMPV6:
		e.cls = pt->icmp_type < 0 ? E_PROTO : E_TYPE;
		e.lo = e.hi = pt->icmp_type < 0 ? 0 : (uint16_t)pt->icmp_type;
		break;
	default:
		e.cls = E_ANY;
		break;
	}
	return e;
}

static int ents_push(struct ents *e, struct ent x)
{
	if (ZT_GROW(e->v, e->cap, e->n) < 0)
		return -ENOMEM;
	e->v[e->n++] = x;
	return 0;
}

static int too_many(struct cc *c, const struct zt_pos *pos, const char *what)
{
	return zt_diag_error(c->d, pos->file, pos->line, pos->col,
			     "%s: the flows expand to more than %d set elements (zone pairs "
			     "times ports); name fewer zones or ports per flow", what, FLOW_KEYS_MAX);
}

static int flow_ents(struct cc *c, size_t rank, struct ents *out)
{
	const struct cflow *cf = &c->flows[rank];
	_cleanup_free_ uint32_t *from = NULL, *to = NULL;
	size_t n_from = 0, n_to = 0;
	int r;

	if (cf->kind == CF_SAME) {
		const struct zt_segment *sg = &c->p->segs[cf->seg];

		for (size_t k = 0; k <= sg->n_subnets; k++) {
			uint32_t z = c->rest[cf->seg] + (uint32_t)k;

			if ((r = ents_push(out, (struct ent){ .zp = z << 16 | z, .rank = (uint32_t)rank,
							      .cls = E_ANY })) < 0)
				return r;
		}
		return 0;
	}
	if ((r = side_zones(c, cf, false, &from, &n_from)) < 0 ||
	    (r = side_zones(c, cf, true, &to, &n_to)) < 0)
		return r;
	if (n_from && n_to && cf->f->n_ports &&
	    (n_from * n_to > FLOW_KEYS_MAX / cf->f->n_ports ||
	     out->n + n_from * n_to * cf->f->n_ports > FLOW_KEYS_MAX))
		return too_many(c, &cf->f->pos, cf->desc);
	for (size_t i = 0; i < n_from; i++)
		for (size_t j = 0; j < n_to; j++)
			for (size_t k = 0; k < cf->f->n_ports; k++) {
				struct ent e = port_ent(&cf->f->ports[k]);

				e.zp = from[i] << 16 | to[j];
				e.rank = (uint32_t)rank;
				if ((r = ents_push(out, e)) < 0)
					return r;
			}
	return 0;
}

/* A lookup key in one of the flow maps. */
enum kkind { K_ANY, K_PROTO, K_TYPE, K_PORT, K_RANGE };

struct fkey {
	enum kkind kind;
	uint8_t proto;
	uint16_t lo, hi;
};

static unsigned pair_variant(const struct cc *c, uint32_t zp)
{
	return (c->zones[zp >> 16].leaves ? 1u : 0u) | (c->zones[zp & 0xffff].leaves ? 2u : 0u);
}

/*
 * A key's verdict from its candidates (every flow covering it, in order):
 * `goto f_<id>` when the first one always accepts; otherwise `jump`, so that
 * when every encryption check fails the lookup in judge falls through and
 * finally reaches deny. Candidates after one that always accepts are dead.
 */
static int key_verdict(struct cc *c, uint32_t zp, uint32_t *cand, size_t n, struct zt_value *data,
		       struct zt_pos *pos)
{
	unsigned v = pair_variant(c, zp);
	char name[ZT_OBJ_NAME_MAX];
	size_t m = 0, idx;
	int r;

	*pos = pos_of(c, &c->flows[cand[0]].pos);
	/* The first candidate always accepts and logs nothing: its mark, no chain (S_V_DELTA). */
	if ((!c->flows[cand[0]].encrypted || !v) && c->p->hub.log != ZT_LOG_ALL) {
		uint32_t ix;

		if ((r = inst_ref(c, cand[0], zp, false, &ix)) < 0)
			return r;
		*data = v_u32(ZT_TYPE_MARK, ix);
		return 0;
	}
	while (m < n) {
		struct cflow *cf = &c->flows[cand[m]];
		bool enc = cf->encrypted && v;
		uint32_t ix;

		if ((r = inst_ref(c, cand[m++], zp, true, &ix)) < 0)
			return r;
		cf->used |= (uint8_t)(1u << (enc ? v : 0));
		if (!enc)
			break;
	}
	if (!c->flows[cand[0]].encrypted || !v || m == 1) {
		name_flow_chain(name, c->flows[cand[0]].id, c->flows[cand[0]].encrypted ? v : 0);
		*data = v_verdict(c->flows[cand[0]].encrypted && v ? ZT_V_JUMP : ZT_V_GOTO, name);
		return 0;
	}
	/* The sequence is the pair's variant, then the candidates: chain k_<n>. */
	memmove(cand + 1, cand, m * sizeof(*cand));
	cand[0] = v;
	r = seq_intern(&c->kseq, cand, m + 1, &idx);
	memmove(cand, cand + 1, m * sizeof(*cand));
	if (r < 0)
		return r;
	name_num(name, "k", idx);
	*data = v_verdict(ZT_V_JUMP, name);
	return 0;
}

/*
 * One zone pair's entries, sorted by ent_cmp(), with what makes a key's
 * candidates cheap to find: a flow can list tens of thousands of ports,
 * and scanning them all for each of its keys would be quadratic.
 */
struct grp {
	const struct ent *g;
	size_t n;
	size_t *run;			/* where each rank's entries start; run[n_runs] == n */
	size_t n_runs;
	uint16_t *hmax;			/* per entry: the highest hi so far within its rank, class, protocol */
};

/* The first of e[0..n) (one rank) that sorts after (cls, proto, lo). */
static size_t ent_after(const struct ent *e, size_t n, uint8_t cls, uint8_t proto, uint16_t lo)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		const struct ent *x = &e[m];
		bool le = x->cls != cls ? x->cls < cls : x->proto != proto ? x->proto < proto : x->lo <= lo;

		if (le)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/*
 * Does one rank's entries e[0..n) cover k? `any` covers every key; a
 * protocol every key of it but `any`; an icmp type its own key; a port
 * range the port keys and range pieces it contains.
 */
static bool run_covers(const struct ent *e, const uint16_t *hmax, size_t n, const struct fkey *k)
{
	size_t i;

	if (e[0].cls == E_ANY)
		return true;
	if (k->kind == K_ANY)
		return false;
	i = ent_after(e, n, E_PROTO, k->proto, UINT16_MAX);
	if (i && e[i - 1].cls == E_PROTO && e[i - 1].proto == k->proto)
		return true;
	if (k->kind == K_TYPE) {
		i = ent_after(e, n, E_TYPE, k->proto, k->lo);
		return i && e[i - 1].cls == E_TYPE && e[i - 1].proto == k->proto && e[i - 1].lo == k->lo;
	}
	if (k->kind != K_PORT && k->kind != K_RANGE)
		return false;
	for (uint8_t cls = E_NARROW; cls <= E_WIDE; cls++) {
		i = ent_after(e, n, cls, k->proto, k->lo);
		if (i && e[i - 1].cls == cls && e[i - 1].proto == k->proto && hmax[i - 1] >= k->hi)
			return true;
	}
	return false;
}

/*
 * The candidates for k, in rank order, up to the first that always
 * accepts: key_verdict() reads no further, and stopping there keeps a
 * pair of many flows from costing each key all of them.
 */
static size_t candidates(const struct cc *c, const struct grp *gr, const struct fkey *k, uint32_t *cand)
{
	unsigned v = pair_variant(c, gr->g[0].zp);
	size_t m = 0;

	for (size_t r = 0; r < gr->n_runs; r++) {
		const struct ent *e = gr->g + gr->run[r];

		if (!run_covers(e, gr->hmax + gr->run[r], gr->run[r + 1] - gr->run[r], k))
			continue;
		cand[m++] = e->rank;
		if (!(c->flows[e->rank].encrypted && v))
			break;
	}
	return m;
}

static int grp_init(struct grp *gr, const struct ent *g, size_t n)
{
	*gr = (struct grp){ .g = g, .n = n };
	if (!(gr->run = calloc(n + 1, sizeof(*gr->run))) || !(gr->hmax = calloc(n, sizeof(*gr->hmax))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool same = i && g[i].rank == g[i - 1].rank;

		if (!same)
			gr->run[gr->n_runs++] = i;
		if (same && g[i].cls == g[i - 1].cls && g[i].proto == g[i - 1].proto &&
		    gr->hmax[i - 1] > g[i].hi)
			gr->hmax[i] = gr->hmax[i - 1];
		else
			gr->hmax[i] = g[i].hi;
	}
	gr->run[gr->n_runs] = n;
	return 0;
}

static void grp_done(struct grp *gr)
{
	free(gr->run);
	free(gr->hmax);
}

static int value_sort_cmp(const struct zt_value *a, const struct zt_value *b);

static int key_add(struct cc *c, enum set_id set, const struct fkey *k, const struct grp *gr,
		   uint32_t *cand)
{
	uint32_t zp = gr->g[0].zp;
	struct zt_value data;
	struct zt_pos pos;
	struct zt_elem *el;
	size_t m = candidates(c, gr, k, cand);
	int r;

	if (!m)
		return 0;
	if (++c->n_keys > FLOW_KEYS_MAX)
		return too_many(c, &c->hub, "hub.flows");
	if ((r = key_verdict(c, zp, cand, m, &data, &pos)) < 0)
		return r;
	if (data.type == ZT_TYPE_VERDICT)
		set += S_V_DELTA;
	if (zp >> 16 == ID_HOST)
		set += S_OUT_DELTA;
	/* Wide ranges: neighbours with one verdict or flow id become one interval. */
	if (set == S_FR || set == S_FR_OUT || set == S_FRV || set == S_FRV_OUT) {
		struct zt_set *s = &c->plan->sets[c->set[set]];

		el = s->n_elems ? &s->elems[s->n_elems - 1] : NULL;
		if (el && el->key[0].u32 == zp && el->key[1].u32 == k->proto &&
		    el->key[2].u32_hi + 1 == k->lo && value_sort_cmp(&el->data, &data) == 0) {
			el->key[2].u32_hi = k->hi;
			c->n_keys--;
			return 0;
		}
	}
	if (!(el = elem_new(c, set)))
		return -ENOMEM;
	el->key[0] = v_u32(ZT_TYPE_MARK, zp);
	switch (k->kind) {
	case K_PROTO:
		el->key[1] = v_u32(ZT_TYPE_INET_PROTO, k->proto);
		break;
	case K_TYPE:
		el->key[1] = v_u32(k->proto == IPPROTO_ICMP ? ZT_TYPE_ICMP_TYPE : ZT_TYPE_ICMPV6_TYPE,
				   k->lo);
		break;
	case K_PORT:
	case K_RANGE:
		el->key[1] = v_u32(ZT_TYPE_INET_PROTO, k->proto);
		el->key[2] = v_u32(ZT_TYPE_INET_SERVICE, k->lo);
		el->key[2].u32_hi = k->hi;
		break;
	default:
		break;
	}
	el->data = data;
	el->pos = pos;
	return 0;
}

struct pport {
	uint8_t proto;
	uint16_t port;
};

static int pport_cmp(const void *a, const void *b)
{
	const struct pport *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Wide ranges of one protocol: the pieces between their ends, each covered or not. */
static int wide_keys(struct cc *c, uint8_t proto, const struct grp *gr, uint32_t *cand)
{
	_cleanup_free_ uint32_t *cuts = NULL;
	const struct ent *g = gr->g;
	size_t n_cuts = 0;
	int r;

	if (!(cuts = calloc(2 * gr->n, sizeof(*cuts))))
		return -ENOMEM;
	for (size_t i = 0; i < gr->n; i++)
		if (g[i].cls == E_WIDE && g[i].proto == proto) {
			cuts[n_cuts++] = g[i].lo;
			cuts[n_cuts++] = (uint32_t)g[i].hi + 1;
		}
	n_cuts = u32_uniq(cuts, n_cuts);
	for (size_t i = 0; i + 1 < n_cuts; i++) {
		struct fkey k = { K_RANGE, proto, (uint16_t)cuts[i], (uint16_t)(cuts[i + 1] - 1) };

		if ((r = key_add(c, S_FR, &k, gr, cand)) < 0)
			return r;
	}
	return 0;
}

static int pair_keys_grp(struct cc *c, const struct grp *gr, uint32_t *cand)
{
	const struct ent *g = gr->g;
	size_t n = gr->n;
	static const uint8_t protos[PROTOS_MAX] = { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
						    IPPROTO_ICMPV6, IPPROTO_SCTP };
	_cleanup_free_ struct pport *pp = NULL;
	_cleanup_free_ uint32_t *types = NULL;
	size_t n_pp = 0, cap_pp = 0, n_types = 0;
	bool any = false, proto[PROTOS_MAX] = {}, wide[PROTOS_MAX] = {};
	int r;

	if (!(types = calloc(n, sizeof(*types))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = &g[i];

		for (size_t j = 0; j < PROTOS_MAX; j++) {
			if (protos[j] != e->proto)
				continue;
			proto[j] |= e->cls == E_PROTO;
			wide[j] |= e->cls == E_WIDE;
		}
		any |= e->cls == E_ANY;
		if (e->cls == E_TYPE)
			types[n_types++] = (uint32_t)e->proto << 16 | e->lo;
		if (e->cls != E_NARROW)
			continue;
		for (uint32_t port = e->lo; port <= e->hi; port++) {
			if (ZT_GROW(pp, cap_pp, n_pp) < 0)
				return -ENOMEM;
			pp[n_pp++] = (struct pport){ e->proto, (uint16_t)port };
		}
	}
	if (n_pp)
		qsort(pp, n_pp, sizeof(*pp), pport_cmp);
	for (size_t i = 0; i < n_pp; i++) {
		struct fkey k = { K_PORT, pp[i].proto, pp[i].port, pp[i].port };

		if (i && !pport_cmp(&pp[i], &pp[i - 1]))
			continue;
		if ((r = key_add(c, S_FP, &k, gr, cand)) < 0)
			return r;
	}
	for (size_t j = 0; j < PROTOS_MAX; j++)
		if (wide[j] && (r = wide_keys(c, protos[j], gr, cand)) < 0)
			return r;
	n_types = u32_uniq(types, n_types);
	for (size_t i = 0; i < n_types; i++) {
		struct fkey k = { K_TYPE, (uint8_t)(types[i] >> 16), (uint16_t)types[i],
				  (uint16_t)types[i] };

		if ((r = key_add(c, k.proto == IPPROTO_ICMP ? S_FI4 : S_FI6, &k, gr, cand)) < 0)
			return r;
	}
	for (size_t j = 0; j < PROTOS_MAX; j++) {
		struct fkey k = { K_PROTO, protos[j], 0, 0 };

		if (proto[j] && (r = key_add(c, S_FPROTO, &k, gr, cand)) < 0)
			return r;
	}
	if (any) {
		struct fkey k = { K_ANY, 0, 0, 0 };

		if ((r = key_add(c, S_FANY, &k, gr, cand)) < 0)
			return r;
	}
	return 0;
}

static int pair_keys(struct cc *c, const struct ent *g, size_t n, uint32_t *cand)
{
	struct grp gr;
	int r = grp_init(&gr, g, n);

	if (!r)
		r = pair_keys_grp(c, &gr, cand);
	grp_done(&gr);
	return r;
}

static int flows_keys(struct cc *c)
{
	struct ents e = {};
	_cleanup_free_ uint32_t *cand = NULL;
	size_t max_group = 0;
	int r = 0;

	for (size_t i = 0; i < c->n_flows && !r; i++)
		if (i != c->oos)
			r = flow_ents(c, i, &e);
	if (!r && e.n) {
		qsort(e.v, e.n, sizeof(*e.v), ent_cmp);
		for (size_t i = 0, j; i < e.n; i = j) {
			for (j = i; j < e.n && e.v[j].zp == e.v[i].zp; j++)
				;
			if (j - i > max_group)
				max_group = j - i;
		}
		/* Room for the pair's variant in front, for interning. */
		if (!(cand = calloc(max_group + 1, sizeof(*cand))))
			r = -ENOMEM;
		for (size_t i = 0, j; !r && i < e.n; i = j) {
			for (j = i; j < e.n && e.v[j].zp == e.v[i].zp; j++)
				;
			r = pair_keys(c, e.v + i, j - i, cand);
		}
	}
	free(e.v);
	return r;
}

/* scope: members — pairs with no segment side (world, boundaries) are not judged. */
static int oos_keys(struct cc *c)
{
	size_t nz = 2 + c->p->hub.n_boundaries;

	if (c->oos == SIZE_MAX)
		return 0;
	for (uint32_t a = 1; a <= nz; a++) {
		if (a == ID_HOST)
			continue;
		for (uint32_t b = 1; b <= nz; b++) {
			struct zt_elem *el;

			if (b == ID_HOST)
				continue;
			if (++c->n_keys > FLOW_KEYS_MAX)
				return too_many(c, &c->hub, "hub.boundaries");
			if (!(el = elem_new(c, S_OOS)))
				return -ENOMEM;
			el->key[0] = v_u32(ZT_TYPE_MARK, a << 16 | b);
			el->data = v_verdict(ZT_V_GOTO, "out_of_scope");
			el->pos = pos_of(c, &c->hub);
		}
	}
	return 0;
}

/* ---- Chains ---- */

static int pats_values(const struct zt_ifpat *pats, size_t n, struct zt_value **ret, size_t *n_ret)
{
	struct ifent *e;
	size_t k;

	if (!(e = calloc(n ? n : 1, sizeof(*e))) || !(*ret = calloc(n ? n : 1, sizeof(**ret)))) {
		free(e);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		e[i] = (struct ifent){ .pat = pats[i], .order = (uint32_t)i };
	k = ifents_normalize(e, n);
	for (size_t i = 0; i < k; i++)
		(*ret)[i] = v_ifpat(ZT_TYPE_IFNAME, &e[i].pat);
	*n_ret = k;
	free(e);
	return 0;
}

/*
 * `KEY { the zone's patterns }`, or `KEY "vweb*"` for one: an anonymous set
 * is a set to the kernel, looked up by name in the table's list of sets
 * by every rule that uses one, so thousands of them slow down every apply.
 */
static int m_pats(struct zt_rule *r, enum zt_key key, const struct zt_ifpat *pats, size_t n)
{
	_cleanup_free_ struct zt_value *v = NULL;
	size_t k;
	int ret;

	if ((ret = pats_values(pats, n, &v, &k)) < 0)
		return ret;
	if (k == 1) {
		struct zt_match *m = m_next(r, ZT_M_EQ, key);

		m->value = v[0];
		return 0;
	}
	return m_anon(r, key, ZT_TYPE_IFNAME, true, v, k);
}

static const struct zt_ifpat *zone_pats(const struct cc *c, uint32_t id, size_t *n)
{
	const struct zinfo *z = &c->zones[id];

	if (z->kind == ZT_ZONE_BOUNDARY) {
		*n = c->p->hub.boundaries[z->bnd].n_ifs;
		return c->p->hub.boundaries[z->bnd].ifs;
	}
	*n = c->p->segs[z->seg].n_ifs;
	return c->p->segs[z->seg].ifs;
}

static int chain_spoofed(struct cc *c)
{
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "spoofed", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (c->p->hub.log != ZT_LOG_NONE) {
		snprintf(what, sizeof(what), "hub.log %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_log(c, r, "ztseg spoof ");
	}
	if (!(r = rule_new(c, ci, "anti-spoofing")))
		return -ENOMEM;
	s_counter(r, "spoofs");
	s_verdict(r, ZT_V_DROP, NULL);
	return 0;
}

/*
 * <prefix>_<zone> { iifname { <the zone's patterns> } accept; goto <fail> }
 * own_<zone>: an address bound to a zone must arrive through its interfaces
 * (else spoofed); spk_<zone>: an ICMP error must come from them (else deny).
 */
static int chain_zone_ifs(struct cc *c, uint32_t id, const char *prefix, const char *fail,
			  const char *why)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	const struct zt_ifpat *pats;
	struct zt_rule *r;
	size_t n;
	int ci, ret;

	pats = zone_pats(c, id, &n);
	name_zone_chain(name, prefix, id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if ((ret = m_pats(r, ZT_KEY_IIFNAME, pats, n)) < 0)
		return ret;
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (!(r = rule_new(c, ci, why)))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, fail);
	return 0;
}

static int chain_own(struct cc *c, uint32_t id)
{
	return chain_zone_ifs(c, id, "own", "spoofed", "anti-spoofing");
}

static void m_unspec_src(struct zt_rule *r, unsigned i)
{
	static const uint8_t ll6[16] = { 0xfe, 0x80 }, ll4[4] = { 169, 254 };
	bool v6 = i < 2;
	uint8_t family = v6 ? AF_INET6 : AF_INET;
	struct zt_match *m = m_next(r, ZT_M_EQ, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR);

	m->value = (struct zt_value){ .type = v6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4,
				      .cidr = { .family = family, .plen = v6 ? 128 : 32 } };
	if (i % 2) {
		m->value.cidr.plen = v6 ? 10 : 16;
		memcpy(m->value.cidr.addr, v6 ? ll6 : ll4, v6 ? sizeof(ll6) : sizeof(ll4));
	}
}

static int chain_spoof(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	struct zt_value v[2];
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "spoof", ZT_HOOK_PREROUTING, PRIO_RAW), ret;

	if (ci < 0)
		return ci;
	/* iif "lo" accept */
	if (!(r = rule_new(c, ci, "loopback")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
	s_verdict(r, ZT_V_ACCEPT, NULL);

	/*
	 * meta l4proto ipv6-icmp icmpv6 type { nd-router-advert, nd-redirect } iifname @member_if goto spoofed
	 * The cheap protocol compare first: every packet passes here, and
	 * the interface lookup is a search in an interval set.
	 */
	if (!(r = rule_new(c, ci, "anti-spoofing: router messages from workloads")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
	v[0] = v_u32(ZT_TYPE_ICMPV6_TYPE, 134);
	v[1] = v_u32(ZT_TYPE_ICMPV6_TYPE, 137);
	if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v, 2)) < 0)
		return ret;
	m_set(r, false, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");

	/* meta l4proto icmp icmp type redirect iifname @member_if goto spoofed */
	if (!(r = rule_new(c, ci, "anti-spoofing: router messages from workloads")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMP);
	m_eq(r, ZT_KEY_ICMP_TYPE, ZT_TYPE_ICMP_TYPE, 5);
	m_set(r, false, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");

	/* ip6 saddr :: accept; ip6 saddr fe80::/10 accept; ip saddr 0.0.0.0 accept; ip saddr 169.254.0.0/16 accept */
	for (unsigned i = 0; i < N_UNSPEC; i++) {
		if (!(r = rule_new(c, ci, "link-local and unspecified sources")))
			return -ENOMEM;
		m_unspec_src(r, i);
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}

	/*
	 * scope: all — fib saddr . iif oif missing [fib daddr type != local] goto spoofed
	 * scope: members — fib saddr . iif oif missing jump rpf_fail
	 * (strict; loose: fib saddr oif missing). Without protect-host only
	 * what the host forwards counts. With scope: members a packet is in
	 * scope when it arrives on a zone interface *or is going to* a member
	 * (or to the host it protects): rpf_fail decides which, so a packet
	 * whose route back is right pays for one FIB lookup, as before.
	 */
	if (h->rpf != ZT_RPF_OFF) {
		snprintf(what, sizeof(what), "hub.rpf %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_flag(r, ZT_M_MISSING, h->rpf == ZT_RPF_STRICT ? ZT_KEY_FIB_SADDR_IIF_OIF
								 : ZT_KEY_FIB_SADDR_OIF);
		if (h->scope == ZT_SCOPE_MEMBERS) {
			s_verdict(r, ZT_V_JUMP, "rpf_fail");
		} else {
			if (!h->protect_host)
				m_ne(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
			s_verdict(r, ZT_V_GOTO, "spoofed");
		}
	}

	/* fib saddr oifname vmap @route_owner: routed through a member interface */
	if (!(r = rule_new(c, ci, "anti-spoofing: routed addresses")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_FIB_SADDR_OIFNAME,
		"route_owner");
	/* ip saddr vmap @own4; ip6 saddr vmap @own6 */
	if (!(r = rule_new(c, ci, "anti-spoofing: static addresses")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IP_SADDR, "own4");
	if (!(r = rule_new(c, ci, "anti-spoofing: static addresses")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IP6_SADDR, "own6");
	/* iifname @zone_if goto spoofed: a zone interface carrying no address of its own */
	if (!(r = rule_new(c, ci, "anti-spoofing: foreign source on a zone interface")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_IIFNAME, "zone_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");
	return 0;
}

/*
 * rpf_fail: the route back does not leave where the packet came in (scope:
 * members). It is spoofed if it arrived on a zone interface or is going to
 * a member or to the protected host; otherwise it is not ours to judge.
 */
static int chain_rpf_fail(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "rpf_fail", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	snprintf(what, sizeof(what), "hub.rpf %s", c->hubpos);
	/* fib daddr type local return: the host's own input is not enforced */
	if (!h->protect_host) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	/* iifname @zone_if goto spoofed */
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_IIFNAME, "zone_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");
	/* fib daddr oifname @member_rt goto spoofed */
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_FIB_DADDR_OIFNAME, "member_rt");
	s_verdict(r, ZT_V_GOTO, "spoofed");
	/* fib daddr type local goto spoofed */
	if (h->protect_host) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
		s_verdict(r, ZT_V_GOTO, "spoofed");
	}
	return 0;
}

/*
 * ct state established counter name ct mark map @fcnt accept
 * Related packets are not here: an ICMP error must come from a side that
 * may speak for its connection (chain related), and a connection a
 * conntrack helper expects is judged as the new connection it is.
 */
static int filter_established(struct cc *c, int ci)
{
	struct zt_rule *r;

	if (!(r = rule_new(c, ci, "established connections of live flows")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	s_counter_map(r, ZT_KEY_CT_MARK, "fcnt");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* meta l4proto { icmp, ipv6-icmp } (ICMP errors are the only related packets of these) */
static int m_icmp_any(struct zt_rule *r)
{
	struct zt_value v[2] = { v_u32(ZT_TYPE_INET_PROTO, IPPROTO_ICMP),
				 v_u32(ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6) };

	return m_anon(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, false, v, 2);
}

/*
 * related: an ICMP error conntrack tied to a connection. It travels in the
 * reply direction when it is about a packet of the original direction, so
 * it must come from the side of the connection's destination (the peer,
 * or a router on the way to it), and the other way round. spk_o/spk_r map
 * the connection's mark to that side's chain; a connection no live flow
 * allows, or one whose side is the host, has none.
 */
static int chain_related(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "related", ZT_HOOK_NONE, 0), cr;

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "ICMP errors: the destination's side speaks")))
		return -ENOMEM;
	m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
	s_verdict(r, ZT_V_GOTO, "related_r");
	if (!(r = rule_new(c, ci, "ICMP errors: the source's side speaks")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_CT_MARK, "spk_o");
	if (!(r = rule_new(c, ci, "ICMP errors from a side that does not speak")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	if ((cr = chain_new(c, "related_r", ZT_HOOK_NONE, 0)) < 0)
		return cr;
	if (!(r = rule_new(c, cr, "ICMP errors: the destination's side speaks")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_CT_MARK, "spk_r");
	if (!(r = rule_new(c, cr, "ICMP errors from a side that does not speak")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

static int chain_spk(struct cc *c, uint32_t id)
{
	return chain_zone_ifs(c, id, "spk", "deny", "ICMP errors from a side that does not speak");
}

/* spk_any: a side behind no interface of its own (world, unbound boundaries): any but a member's */
static int chain_spk_any(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "spk_any", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "ICMP errors: a side with no interface of its own")))
		return -ENOMEM;
	m_set(r, true, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (!(r = rule_new(c, ci, "ICMP errors from a side that does not speak")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

/* ct state untracked counter name "untracked" drop: never accepted by falling through */
static int filter_untracked(struct cc *c, int ci)
{
	struct zt_rule *r;

	if (!(r = rule_new(c, ci, "no conntrack entry")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_UNTRACKED_BIT);
	s_counter(r, "untracked");
	s_verdict(r, ZT_V_DROP, NULL);
	return 0;
}

/*
 * The host's own neighbour discovery and MLD (input and output only: they
 * are link-local, nothing forwarded needs them, and forward drops them as
 * the untracked packets they are):
 *   icmpv6 type { nd-router-solicit, …, nd-redirect } ip6 hoplimit 255 accept
 *   icmpv6 type { mld-listener-query, … } ip6 hoplimit 1 ip6 saddr fe80::/10 accept (and ::)
 * A router advertisement or redirect from a workload died in spoof.
 */
static int filter_nd(struct cc *c, int ci)
{
	static const uint32_t nd[] = { 133, 134, 135, 136, 137 }, mld[] = { 130, 131, 132, 143 };
	struct zt_value v[ELEMENTSOF(nd)];
	struct zt_rule *r;
	int ret;

	if (!(r = rule_new(c, ci, "neighbour discovery")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
	for (size_t i = 0; i < ELEMENTSOF(nd); i++)
		v[i] = v_u32(ZT_TYPE_ICMPV6_TYPE, nd[i]);
	if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v, ELEMENTSOF(nd))) < 0)
		return ret;
	m_eq(r, ZT_KEY_IP6_HOPLIMIT, ZT_TYPE_INTEGER, 255);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	for (unsigned u = 0; u < 2; u++) {
		if (!(r = rule_new(c, ci, "multicast listener discovery")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
		for (size_t i = 0; i < ELEMENTSOF(mld); i++)
			v[i] = v_u32(ZT_TYPE_ICMPV6_TYPE, mld[i]);
		if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v,
				  ELEMENTSOF(mld))) < 0)
			return ret;
		m_eq(r, ZT_KEY_IP6_HOPLIMIT, ZT_TYPE_INTEGER, 1);
		m_unspec_src(r, u);		/* ::, then fe80::/10 */
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}
	return 0;
}

/* The rules forward, input and output share after the established (and scope) ones. */
static int filter_common(struct cc *c, int ci, bool forward, bool output)
{
	struct zt_rule *r;
	int ret;

	/* ct state related meta l4proto { icmp, ipv6-icmp } goto related (the host speaks for all in output) */
	if (!(r = rule_new(c, ci, output ? "ICMP errors the host sends" : "ICMP errors")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
	if ((ret = m_icmp_any(r)) < 0)
		return ret;
	s_verdict(r, output ? ZT_V_ACCEPT : ZT_V_GOTO, output ? NULL : "related");
	if (!forward && (ret = filter_nd(c, ci)) < 0)
		return ret;
	if ((ret = filter_untracked(c, ci)) < 0)
		return ret;

	/* ct state invalid counter name "invalid" drop */
	if (!(r = rule_new(c, ci, "ct state invalid")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_INVALID_BIT);
	s_counter(r, "invalid");
	s_verdict(r, ZT_V_DROP, NULL);

	/*
	 * ct state related ct direction reply accept: the TCP reset or ICMP
	 * error the kernel sends for our own `reject` is attached to the
	 * connection it refuses (related, reply direction), whose mark is
	 * still scratch; without this the next rule would drop the answer.
	 */
	if (output) {
		if (!(r = rule_new(c, ci, "answers of hub.default reject")))
			return -ENOMEM;
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
		m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}

	/* ct direction reply goto deny: a reply of a connection whose flow is gone */
	if (!(r = rule_new(c, ci, "replies of connections no live flow allows")))
		return -ENOMEM;
	m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

static int chain_forward(struct cc *c)
{
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "forward", ZT_HOOK_FORWARD, PRIO_FILTER), ret;

	if (ci < 0)
		return ci;
	/*
	 * ct state established,related … accept first: most packets are
	 * there, and it costs one hash lookup. Then
	 * iifname != @member_if oifname != @member_if accept: out of scope
	 * before any classification; only sound when every segment has
	 * interfaces.
	 */
	if ((ret = filter_established(c, ci)) < 0)
		return ret;
	if (c->p->hub.scope == ZT_SCOPE_MEMBERS && c->all_segs_have_ifs) {
		snprintf(what, sizeof(what), "hub.scope %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_set(r, true, ZT_KEY_IIFNAME, "member_if");
		m_set(r, true, ZT_KEY_OIFNAME, "member_if");
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}
	if ((ret = filter_common(c, ci, true, false)) < 0)
		return ret;
	if (!(r = rule_new(c, ci, "classification")))
		return -ENOMEM;
	s_verdict(r, ZT_V_JUMP, "classify_src");
	/* goto deny: in-scope traffic never ends in the base chain's policy */
	if (!(r = rule_new(c, ci, "in scope: never the policy's accept")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

static int chain_host(struct cc *c, bool output)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci, ret;

	ci = chain_new(c, output ? "output" : "input", output ? ZT_HOOK_OUTPUT : ZT_HOOK_INPUT,
		       PRIO_FILTER);
	if (ci < 0)
		return ci;
	/* iif "lo" accept / oif "lo" accept */
	if (!(r = rule_new(c, ci, "loopback")))
		return -ENOMEM;
	m_eq(r, output ? ZT_KEY_OIF : ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if ((ret = filter_established(c, ci)) < 0 || (ret = filter_common(c, ci, false, output)) < 0)
		return ret;
	snprintf(what, sizeof(what), "hub.protect-host %s", c->hubpos);
	if (output) {
		name_zone_chain(name, "from", ID_HOST);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_JUMP, name);
	} else {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_JUMP, "classify_src");
	}
	if (!(r = rule_new(c, ci, "in scope: never the policy's accept")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

static int chain_classify_src(struct cc *c)
{
	char world[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci = chain_new(c, "classify_src", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	name_zone_chain(world, "from", ID_WORLD);
	if (!(r = rule_new(c, ci, "source zone: member interface")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IIFNAME, "src_if");

	for (unsigned i = 0; i < N_UNSPEC; i++) {
		if (!(r = rule_new(c, ci, "source zone: link-local, by interface only")))
			return -ENOMEM;
		m_unspec_src(r, i);
		s_verdict(r, ZT_V_GOTO, "src_ifonly");
	}

	/*
	 * ct mark set <world>; ct mark set ip saddr map @dst4; … ip6 … @dst6;
	 * ct mark vmap @zone_src: the static owner of a source is the same
	 * longest prefix as of a destination, so one map serves both and its
	 * zone picks the chain (the mark is scratch until the flow is judged).
	 */
	if (!(r = rule_new(c, ci, "source zone: world")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_WORLD);
	if (!(r = rule_new(c, ci, "source zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP_SADDR, "dst4");
	if (!(r = rule_new(c, ci, "source zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP6_SADDR, "dst6");
	if (!(r = rule_new(c, ci, "source zone: static address")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_CT_MARK, "zone_src");
	if (!(r = rule_new(c, ci, "source zone: world")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, world);

	/* src_ifonly { iifname vmap @src_bif; goto from_<world> } */
	if ((ci = chain_new(c, "src_ifonly", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (!(r = rule_new(c, ci, "source zone: bound boundary interface")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IIFNAME, "src_bif");
	if (!(r = rule_new(c, ci, "source zone: world")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, world);
	return 0;
}

/*
 * src_sub { ct mark set iifname map @dst_if; ct mark . ip saddr vmap @sub_src4;
 *           ct mark . ip6 saddr vmap @sub_src6; ct mark vmap @sub_rest; goto deny }
 * Reached from src_if for the interfaces of segments with subnets; the mark
 * (scratch until the flow is judged) becomes the segment's rest, the key of
 * the subnet maps. One chain for all segments: every rule naming a map
 * makes the kernel walk the map's elements once per chain it is used from.
 */
static int chain_src_sub(struct cc *c)
{
	static const enum zt_key k4[] = { ZT_KEY_CT_MARK, ZT_KEY_IP_SADDR },
				 k6[] = { ZT_KEY_CT_MARK, ZT_KEY_IP6_SADDR };
	struct zt_rule *r;
	int ci = chain_new(c, "src_sub", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "source zone: segment of the interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IIFNAME, "dst_if");
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k4, ELEMENTSOF(k4), sub_defs[SUB_SRC4].name);
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k6, ELEMENTSOF(k6), sub_defs[SUB_SRC6].name);
	if (!(r = rule_new(c, ci, "source zone: segment rest")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_CT_MARK, sub_defs[SUB_REST].name);
	/* not reached: sub_rest holds every segment dst_if names; never fall back to accept */
	if (!(r = rule_new(c, ci, "source zone: segment rest")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

/*
 * dsub { ct mark set ct mark . ip daddr map @sub_dst4; … ip6 … }: reached
 * from classify_dst for the interfaces of segments with subnets, right
 * after dst_if set the mark to the segment's rest.
 */
static int chain_dsub(struct cc *c)
{
	static const enum zt_key k4[] = { ZT_KEY_CT_MARK, ZT_KEY_IP_DADDR },
				 k6[] = { ZT_KEY_CT_MARK, ZT_KEY_IP6_DADDR };
	struct zt_rule *r;
	int ci = chain_new(c, "dsub", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "destination zone: subnet")))
		return -ENOMEM;
	s_mark_map(r, k4, ELEMENTSOF(k4), sub_defs[SUB_DST4].name);
	if (!(r = rule_new(c, ci, "destination zone: subnet")))
		return -ENOMEM;
	s_mark_map(r, k6, ELEMENTSOF(k6), sub_defs[SUB_DST6].name);
	return 0;
}

/*
 * src_<boundary> { iifname { <its patterns> } goto from_<it>; goto from_<world> }:
 * a bound boundary's /0 binds no source (doc/SEMANTICS.md), so an address
 * it is the longest owner of belongs to it only through its interfaces.
 */
static int chain_src_dflt(struct cc *c, uint32_t id)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	const struct zt_ifpat *pats;
	struct zt_rule *r;
	size_t n;
	int ci, ret;

	name_zone_chain(name, "src", id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	pats = zone_pats(c, id, &n);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if ((ret = m_pats(r, ZT_KEY_IIFNAME, pats, n)) < 0)
		return ret;
	name_zone_chain(name, "from", id);
	s_verdict(r, ZT_V_GOTO, name);
	name_zone_chain(name, "from", ID_WORLD);
	if (!(r = rule_new(c, ci, "source zone: world")))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, name);
	return 0;
}

/* from_<zone> { jump classify_dst; ct mark set ct mark | <zone << 16> goto judge } */
static int chain_from(struct cc *c, uint32_t id)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci;

	name_zone_chain(name, "from", id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_verdict(r, ZT_V_JUMP, "classify_dst");
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_OR, id << 16);
	s_verdict(r, ZT_V_GOTO, id == ID_HOST ? "judge_out" : "judge");
	return 0;
}

static int chain_classify_dst(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "classify_dst", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	/* oif 0 ct mark set <host> return: the input hook, delivered to this host */
	if (c->p->hub.protect_host) {
		if (!(r = rule_new(c, ci, "destination zone: host")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_OIF, ZT_TYPE_IFINDEX, 0);
		s_mark(r, ZT_S_CT_MARK_SET, ID_HOST);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	if (!(r = rule_new(c, ci, "destination zone: world")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_WORLD);
	if (!(r = rule_new(c, ci, "destination zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP_DADDR, "dst4");
	if (!(r = rule_new(c, ci, "destination zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP6_DADDR, "dst6");
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_OIFNAME, "dst_if");
	/* oifname @sub_if goto dsub: the subnets of the segment it leaves to */
	if (c->sub[0] >= 0) {
		if (!(r = rule_new(c, ci, "destination zone: subnet")))
			return -ENOMEM;
		m_set(r, false, ZT_KEY_OIFNAME, "sub_if");
		s_verdict(r, ZT_V_GOTO, "dsub");
	}
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_OIFNAME, "member_if");
	s_verdict(r, ZT_V_RETURN, NULL);
	if (!(r = rule_new(c, ci, "destination zone: bound boundary")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IP_DADDR, "dstb4");
	if (!(r = rule_new(c, ci, "destination zone: bound boundary")))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_IP6_DADDR, "dstb6");
	return 0;
}

/* ownb_<n> { iifname { <patterns of the bound boundaries holding the address> } accept } */
static int chain_ownb(struct cc *c, size_t n)
{
	const uint32_t *seq = c->ownb.pool + c->ownb.v[n].off;
	size_t len = c->ownb.v[n].len, n_pats = 0;
	_cleanup_free_ struct zt_ifpat *pats = NULL;
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci, ret;

	for (size_t i = 0; i < len; i++) {
		size_t np;
		const struct zt_ifpat *p = zone_pats(c, seq[i], &np);
		struct zt_ifpat *nv = reallocarray(pats, n_pats + np + 1, sizeof(*pats));

		if (!nv)
			return -ENOMEM;
		pats = nv;
		memcpy(pats + n_pats, p, np * sizeof(*p));
		n_pats += np;
	}
	name_num(name, "ownb", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, seq[0], what, sizeof(what));
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if ((ret = m_pats(r, ZT_KEY_IIFNAME, pats, n_pats)) < 0)
		return ret;
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* dzb_<n>: a bound boundary's addresses, owners longest first. */
static int chain_dzb(struct cc *c, size_t n)
{
	const uint32_t *seq = c->dzb.pool + c->dzb.v[n].off;
	size_t len = c->dzb.v[n].len;
	char name[ZT_OBJ_NAME_MAX], what[128];
	int ci, ret;

	name_num(name, "dzb", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	for (size_t i = 0; i < len; i++) {
		struct zt_rule *r;

		zone_desc(c, seq[i], what, sizeof(what));
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		if (i + 1 < len) {
			const struct zt_ifpat *pats;
			size_t np;

			pats = zone_pats(c, seq[i], &np);
			if ((ret = m_pats(r, ZT_KEY_OIFNAME, pats, np)) < 0)
				return ret;
		}
		/* The first owner's id is what dst4 already set. */
		if (i)
			s_mark(r, ZT_S_CT_MARK_SET, seq[i]);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	return 0;
}

/* judge (forward, input) or judge_out (output): the flow maps, then hub.default. */
/*
 * judge { [ct mark vmap @oos]
 *         ct mark set ct mark . meta l4proto . th dport map @fp      (a flow id)
 *         ct mark . meta l4proto . th dport vmap @fpv                (checked flows)
 *         … fr/frv, fi4/fi4v, fi6/fi6v, fproto/fprotov, fany/fanyv …
 *         counter name ct mark map @fcnt accept
 *         goto deny }
 * Once a mark map has set a flow id (bit 31) no later key (a zone pair)
 * can match: the first lookup that hits decides, as in doc/SEMANTICS.md.
 * A verdict map's chains accept, or return to the next lookup when every
 * encrypted candidate's legs fail. Empty maps get no rule.
 */
static int judge_level(struct cc *c, int ci, enum set_id set, const enum zt_key *keys, size_t n,
		       uint8_t l4proto, const char *what)
{
	const struct zt_plan *pl = c->plan;
	struct zt_rule *r;

	for (int v = 0; v < 2; v++) {
		int si = c->set[set + (v ? S_V_DELTA : 0)];

		if (si < 0 || !pl->sets[si].n_elems)
			continue;
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		if (l4proto)
			m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, l4proto);
		if (v)
			s_vmap(r, keys, n, pl->sets[si].name);
		else
			s_mark_map(r, keys, n, pl->sets[si].name);
	}
	return 0;
}

static int chain_judge(struct cc *c, bool out)
{
	static const enum zt_key kp[] = { ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT };
	static const enum zt_key ki4[] = { ZT_KEY_CT_MARK, ZT_KEY_ICMP_TYPE };
	static const enum zt_key ki6[] = { ZT_KEY_CT_MARK, ZT_KEY_ICMPV6_TYPE };
	static const enum zt_key km[] = { ZT_KEY_CT_MARK };
	int d = out ? S_OUT_DELTA : 0;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, out ? "judge_out" : "judge", ZT_HOOK_NONE, 0), ret;

	if (ci < 0)
		return ci;
	if (!out && c->set[S_OOS] >= 0) {
		snprintf(what, sizeof(what), "hub.scope %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_vmap1(r, ZT_KEY_CT_MARK, "oos");
	}
	if ((ret = judge_level(c, ci, S_FP + d, kp, 3, 0, "flows: ports")) < 0 ||
	    (ret = judge_level(c, ci, S_FR + d, kp, 3, 0, "flows: wide port ranges")) < 0 ||
	    (ret = judge_level(c, ci, S_FI4 + d, ki4, 2, IPPROTO_ICMP, "flows: icmp types")) < 0 ||
	    (ret = judge_level(c, ci, S_FI6 + d, ki6, 2, IPPROTO_ICMPV6, "flows: icmpv6 types")) < 0 ||
	    (ret = judge_level(c, ci, S_FPROTO + d, kp, 2, 0, "flows: protocols")) < 0 ||
	    (ret = judge_level(c, ci, S_FANY + d, km, 1, 0, "flows: any")) < 0)
		return ret;
	/* counter name ct mark map @fcnt accept: a mark map gave a flow id */
	if (!(r = rule_new(c, ci, "flows: the flow found counts and accepts")))
		return -ENOMEM;
	s_counter_map(r, ZT_KEY_CT_MARK, "fcnt");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

static int chain_deny(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	char what[128], lwhat[128];
	struct zt_rule *r;
	int ci = chain_new(c, "deny", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	snprintf(lwhat, sizeof(lwhat), "hub.log %s", c->hubpos);
	/* Counted first: the reject below only takes tcp, and a log over its rate stops its rule. */
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_counter(r, "drops");
	if (h->log != ZT_LOG_NONE) {
		if (!(r = rule_new(c, ci, lwhat)))
			return -ENOMEM;
		s_log(c, r, "ztseg deny ");
	}
	if (h->dflt == ZT_DEFAULT_REJECT) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_TCP);
		s_next(r, ZT_S_REJECT_TCP_RST);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_next(r, ZT_S_REJECT_ICMPX);
	} else {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_DROP, NULL);
	}
	return 0;
}

static int chain_oos(struct cc *c)
{
	const struct cflow *cf = &c->flows[c->oos];
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci = chain_new(c, "out_of_scope", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	name_counter(name, cf->id);
	if (!(r = rule_new(c, ci, cf->desc)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, c->oos_id);
	s_counter(r, name);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* f_<id>[_s|_d|_sd]: the flow allows; a variant first checks the legs that leave. */
static int chain_flow(struct cc *c, const struct cflow *cf, unsigned v)
{
	char name[ZT_OBJ_NAME_MAX], counter[ZT_OBJ_NAME_MAX], prefix[128];
	struct zt_rule *r;
	int ci;

	name_flow_chain(name, cf->id, v);
	name_counter(counter, cf->id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	/* iifname != @enc_if meta ipsec missing return */
	if (v & 1) {
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		m_set(r, true, ZT_KEY_IIFNAME, "enc_if");
		m_flag(r, ZT_M_MISSING, ZT_KEY_META_IPSEC);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	/* oifname != @enc_if rt ipsec missing return */
	if (v & 2) {
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		m_set(r, true, ZT_KEY_OIFNAME, "enc_if");
		m_flag(r, ZT_M_MISSING, ZT_KEY_RT_IPSEC);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	if (c->p->hub.log == ZT_LOG_ALL) {
		snprintf(prefix, sizeof(prefix), "ztseg allow %s ", cf->logname);
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		s_log(c, r, prefix);
	}
	/*
	 * counter name "c_<id>" ct mark set ct mark ^ <xk> ct mark set ct mark map @inst accept
	 * ct mark holds the zone pair here; the inst map turns pair ^ xk into
	 * the connection's mark. Should the lookup miss, the rule stops before
	 * its accept and judge goes on to deny: the scratch mark has bit 31
	 * set, which no zone-pair key has.
	 */
	if (!(r = rule_new(c, ci, cf->desc)))
		return -ENOMEM;
	s_counter(r, counter);
	s_mark(r, ZT_S_CT_MARK_XOR, cf->xk);
	s_mark_map1(r, ZT_KEY_CT_MARK, "inst");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* k_<n> { jump f_a; …; goto f_z }: several flows claim one key, in policy order. */
static int chain_k(struct cc *c, size_t n)
{
	const uint32_t *seq = c->kseq.pool + c->kseq.v[n].off;
	size_t len = c->kseq.v[n].len;
	unsigned v = seq[0];
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci;

	name_num(name, "k", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	for (size_t i = 1; i < len; i++) {
		const struct cflow *cf = &c->flows[seq[i]];

		name_flow_chain(name, cf->id, cf->encrypted ? v : 0);
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		s_verdict(r, i + 1 < len ? ZT_V_JUMP : ZT_V_GOTO, name);
	}
	return 0;
}

static int chains_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	int r;

	if ((r = chain_spoof(c)) < 0 || (r = chain_spoofed(c)) < 0 ||
	    (r = chain_forward(c)) < 0 || (r = chain_related(c)) < 0 ||
	    (r = chain_classify_src(c)) < 0 ||
	    (r = chain_classify_dst(c)) < 0 || (r = chain_judge(c, false)) < 0 ||
	    (r = chain_deny(c)) < 0)
		return r;
	if (p->hub.protect_host && ((r = chain_host(c, false)) < 0 || (r = chain_host(c, true)) < 0 ||
				    (r = chain_judge(c, true)) < 0))
		return r;
	if (c->oos != SIZE_MAX && (r = chain_oos(c)) < 0)
		return r;
	if (c->set[S_MEMBER_RT] >= 0 && (r = chain_rpf_fail(c)) < 0)
		return r;
	if (c->spk_any && (r = chain_spk_any(c)) < 0)
		return r;
	if (c->sub[0] >= 0 && ((r = chain_src_sub(c)) < 0 || (r = chain_dsub(c)) < 0))
		return r;
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		const struct zinfo *z = &c->zones[id];

		if (id == ID_HOST && !p->hub.protect_host)
			continue;
		if ((r = chain_from(c, id)) < 0)
			return r;
		if (z->kind == ZT_ZONE_SEGMENT && p->segs[z->seg].n_ifs) {
			if ((r = chain_own(c, id)) < 0)
				return r;
		}
		if (z->bound && (r = chain_own(c, id)) < 0)
			return r;
		if (z->dflt && (r = chain_src_dflt(c, id)) < 0)
			return r;
		if (c->spk[id] && (r = chain_spk(c, id)) < 0)
			return r;
	}
	for (size_t i = 0; i < c->dzb.n; i++)
		if ((r = chain_dzb(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->ownb.n; i++)
		if ((r = chain_ownb(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->kseq.n; i++)
		if ((r = chain_k(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->n_flows; i++) {
		struct cflow *cf = &c->flows[i];

		if (i == c->oos)
			continue;
		for (unsigned v = 0; v < VARIANTS; v++)
			if ((cf->used & (1u << v)) && (r = chain_flow(c, cf, v)) < 0)
				return r;
	}
	return 0;
}

/* ---- Sorting: the plan is sorted throughout, so equal policies give equal plans ---- */

/*
 * The order of the plan's set elements (by key, then data): names and
 * integers as such, addresses by their first address and the wider first.
 * compile-keys.c also asks it whether two verdicts or flow ids are equal.
 */
static int value_sort_cmp(const struct zt_value *a, const struct zt_value *b)
{
	int r;

	switch (a->type) {
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME:
		if ((r = strcmp(a->ifpat.name, b->ifpat.name)))
			return r;
		return (int)a->ifpat.wildcard - (int)b->ifpat.wildcard;
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		uint8_t alo[16], ahi[16], blo[16], bhi[16];

		/* The first address: a prefix's address is its network address here. */
		if ((r = memcmp(a->is_range ? a->range.lo : a->cidr.addr,
				b->is_range ? b->range.lo : b->cidr.addr, 16)))
			return r;
		zt_value_addr_bounds(a, alo, ahi);
		zt_value_addr_bounds(b, blo, bhi);
		return memcmp(bhi, ahi, sizeof(ahi));	/* the wider first, as a shorter prefix */
	}
	case ZT_TYPE_VERDICT:
		if (a->verdict.code != b->verdict.code)
			return a->verdict.code < b->verdict.code ? -1 : 1;
		return strcmp(a->verdict.chain, b->verdict.chain);
	case ZT_TYPE_COUNTER:
		return strcmp(a->counter, b->counter);
	default:
		if (a->u32 != b->u32)
			return a->u32 < b->u32 ? -1 : 1;
		return a->u32_hi < b->u32_hi ? -1 : a->u32_hi > b->u32_hi;
	}
}

static int elem_cmp(const void *a, const void *b, void *arg)
{
	const struct zt_elem *x = a, *y = b;
	const struct zt_set *s = arg;
	int r;

	for (size_t i = 0; i < s->n_key; i++)
		if ((r = value_sort_cmp(&x->key[i], &y->key[i])))
			return r;
	return s->data != ZT_TYPE_NONE ? value_sort_cmp(&x->data, &y->data) : 0;
}

static int set_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zt_set *)a)->name, ((const struct zt_set *)b)->name);
}

static int chain_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zt_chain *)a)->name, ((const struct zt_chain *)b)->name);
}

static int counter_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zt_counter *)a)->name, ((const struct zt_counter *)b)->name);
}

static void plan_sort(struct zt_plan *pl)
{
	for (size_t i = 0; i < pl->n_sets; i++) {
		struct zt_set *s = &pl->sets[i];

		size_t k = 1;

		/* The address maps come out of flatten() in order already. */
		while (k < s->n_elems && elem_cmp(&s->elems[k - 1], &s->elems[k], s) <= 0)
			k++;
		if (k < s->n_elems)
			qsort_r(s->elems, s->n_elems, sizeof(*s->elems), elem_cmp, s);
	}
	if (pl->n_sets)
		qsort(pl->sets, pl->n_sets, sizeof(*pl->sets), set_name_cmp);
	if (pl->n_chains)
		qsort(pl->chains, pl->n_chains, sizeof(*pl->chains), chain_name_cmp);
	if (pl->n_counters)
		qsort(pl->counters, pl->n_counters, sizeof(*pl->counters), counter_name_cmp);
}

/* The wide-range maps and sub_if exist only when a flow or a subnet needs them. */
static void drop_if_empty(struct cc *c, enum set_id id)
{
	struct zt_plan *pl = c->plan;
	size_t i;

	if (c->set[id] < 0 || pl->sets[c->set[id]].n_elems)
		return;
	i = (size_t)c->set[id];
	free(pl->sets[i].elems);
	memmove(&pl->sets[i], &pl->sets[i + 1], (pl->n_sets - i - 1) * sizeof(*pl->sets));
	pl->n_sets--;
	for (int k = 0; k < N_SETS; k++)
		if (c->set[k] > (int)i)
			c->set[k]--;
	c->set[id] = -1;
}

static void cc_done(struct cc *c)
{
	free(c->zh);
	free(c->spk);
	free(c->inst);
	u64map_free(&c->imap);
	free(c->zones);
	free(c->rest);
	free(c->flows);
	free(c->fmap);
	seq_free(&c->kseq);
	seq_free(&c->dzb);
	seq_free(&c->ownb);
	zt_plan_free(c->plan);
}

int zt_compile(const struct zt_policy *p, const struct zt_compile_opts *opts,
	       struct zt_plan **ret, struct zt_diags *d)
{
	struct cc c = { .p = p, .d = d, .o = opts ? *opts : ZT_COMPILE_OPTS_DEFAULT };
	char ps[64];
	int r;

	for (int i = 0; i < N_SETS; i++)
		c.set[i] = -1;
	for (int i = 0; i < N_SUB; i++)
		c.sub[i] = -1;
	c.hub = p->hub.pos;
	if (!c.hub.file && p->n_files)
		c.hub = (struct zt_pos){ .file = p->files[0] };
	snprintf(c.hubpos, sizeof(c.hubpos), "%s", pos_str(&c.hub, ps, sizeof(ps)));
	if (!(c.plan = calloc(1, sizeof(*c.plan)))) {
		r = -ENOMEM;
		goto out;
	}
	c.plan->log_group = c.o.log_group;
	if ((r = zones_build(&c)) < 0 || (r = files_copy(&c)) < 0 || (r = flows_build(&c)) < 0)
		goto out;
	for (int i = 0; i < N_SETS; i++) {
		if (i == S_OOS && c.oos == SIZE_MAX)
			continue;
		if (i >= S_FP_OUT && i <= S_FANYV_OUT && !p->hub.protect_host)
			continue;
		if (i == S_MEMBER_RT && !(p->hub.scope == ZT_SCOPE_MEMBERS && p->hub.rpf != ZT_RPF_OFF))
			continue;
		if ((r = set_new(&c, i)) < 0)
			goto out;
	}
	if ((r = interfaces_build(&c)) < 0 || (r = addresses_family(&c, AF_INET)) < 0 ||
	    (r = addresses_family(&c, AF_INET6)) < 0 || (r = subnet_rests(&c)) < 0 || (r = zone_src_elems(&c)) < 0 || (r = meanings_build(&c)) < 0 ||
	    (r = flows_keys(&c)) < 0 ||
	    (r = oos_keys(&c)) < 0 || (r = counters_build(&c)) < 0 ||
	    (r = chains_build(&c)) < 0)
		goto out;
	/* Flow maps without elements have no rule in judge: no set either. */
	for (int i = S_FP; i <= S_FANYV_OUT; i++)
		if (i < S_OOS || i >= S_FP_OUT)
			drop_if_empty(&c, i);
	drop_if_empty(&c, S_SUB_IF);
	drop_if_empty(&c, S_INST);
	if (c.oom) {
		r = -ENOMEM;
		goto out;
	}
	plan_sort(c.plan);
	*ret = TAKE_PTR(c.plan);
	r = 0;
out:
	cc_done(&c);
	return r;
}
