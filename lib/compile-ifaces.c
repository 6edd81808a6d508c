/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Interface patterns: the interface maps (member_if, zone_if, src_if, …)
 * and a zone's patterns as a rule's match.
 */
#include "compile-internal.h"

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

struct zt_value data_of(const struct cc *c, enum dkind k, uint32_t label)
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

int interfaces_build(struct cc *c)
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
int m_pats(struct zt_rule *r, enum zt_key key, const struct zt_ifpat *pats, size_t n)
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

const struct zt_ifpat *zone_pats(const struct cc *c, uint32_t id, size_t *n)
{
	const struct zinfo *z = &c->zones[id];

	if (z->kind == ZT_ZONE_BOUNDARY) {
		*n = c->p->hub.boundaries[z->bnd].n_ifs;
		return c->p->hub.boundaries[z->bnd].ifs;
	}
	*n = c->p->segs[z->seg].n_ifs;
	return c->p->segs[z->seg].ifs;
}
