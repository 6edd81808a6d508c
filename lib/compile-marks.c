/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Meanings and connection marks (doc/RULESET.md, "Revocation"): one mark
 * per flow and zone pair, the inst, fcnt and speaker (spk_o, spk_r) maps
 * that ICMP errors are checked against, and the counters.
 */
#include "compile-internal.h"

/* Fold the address intervals a map labels with a zone into that zone's meaning. */
static void spans_meaning(struct cc *c, int si, size_t kf, bool sub)
{
	const struct zt_set *st;

	if (si < 0)
		return;
	st = &c->plan->sets[si];
	for (size_t i = 0; i < st->n_elems; i++) {
		const struct zt_elem *el = zt_set_elem(st, i);
		/* A subnet map changes its whole segment: key 0 is the rest. */
		uint32_t z = sub ? el->key[0].u32 : el->data.u32;
		uint8_t lo[16], hi[16];

		if (!z || z > c->n_zones)
			continue;
		zt_value_addr_bounds(&el->key[kf], lo, hi);
		c->zh[z] = fnv_add(fnv_add(fnv_u32(c->zh[z], zt_value_family(&el->key[kf])), lo, 16),
				   hi, 16);
	}
}

/*
 * What a zone means: its name, interfaces and the addresses that classify
 * into it after flattening (so a longer prefix carved out of it elsewhere
 * changes it too). Zones matched by address alone also depend on every
 * segment's interfaces, which take precedence over addresses.
 */
int meanings_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	char zn[2 * ZT_NAME_MAX + 2];

	if (!(c->zh = calloc(c->n_zones + 1, sizeof(*c->zh))) ||
	    !(c->spk = calloc(c->n_zones + 1, sizeof(*c->spk))))
		return -ENOMEM;
	c->allpats = 2166136261u;
	for (size_t s = 0; s < p->n_segs; s++)
		c->allpats = pats_hash(c->allpats, p->segs[s].ifs, p->segs[s].n_ifs);
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		const struct zinfo *z = &c->zones[id];
		const char *name = zone_name(c, id, zn, sizeof(zn));
		uint32_t h = fnv_add(fnv_u32(2166136261u, z->kind), name, strlen(name) + 1);

		if (z->kind == ZT_ZONE_BOUNDARY)
			h = pats_hash(h, p->hub.boundaries[z->bnd].ifs, p->hub.boundaries[z->bnd].n_ifs);
		else if (z->seg >= 0)
			h = pats_hash(h, p->segs[z->seg].ifs, p->segs[z->seg].n_ifs);
		if (z->unit)
			h = units_hash(h, &p->segs[z->seg]);
		else if ((z->kind == ZT_ZONE_BOUNDARY && !z->bound) || z->kind == ZT_ZONE_WORLD ||
			 (z->seg >= 0 && !zt_seg_bound(&p->segs[z->seg])))
			h = fnv_u32(h, c->allpats);
		c->zh[id] = h;
	}
	spans_meaning(c, c->set[S_DST4], 0, false);
	spans_meaning(c, c->set[S_DST6], 0, false);
	spans_meaning(c, c->sub[SUB_DST4], 1, true);
	spans_meaning(c, c->sub[SUB_DST6], 1, true);
	for (uint32_t id = 1; id <= c->n_zones; id++)
		if (c->zones[id].kind == ZT_ZONE_SUBNET)
			c->zh[id] = fnv_u32(c->zh[id], c->zh[c->rest[c->zones[id].seg]]);
	return 0;
}

/* The connection mark of (flow, zone pair), as an index into c->inst until insts_assign(). */
int inst_ref(struct cc *c, uint32_t flow, uint32_t zp, bool chained, uint32_t *ret)
{
	uint64_t k = (uint64_t)flow << 32 | zp;
	uint32_t i = u64map_get(&c->imap, k);

	if (!i) {
		if (c->n_inst >= UINT32_MAX - 1 || ZT_GROW(c->inst, c->cap_inst, c->n_inst) < 0)
			return -ENOMEM;
		c->inst[c->n_inst] = (struct inst){ .flow = flow, .zp = zp };
		i = (uint32_t)++c->n_inst;
		if (u64map_put(&c->imap, k, i) < 0)
			return -ENOMEM;
	}
	if (chained) {
		c->inst[i - 1].chained = true;
		c->flows[flow].chained = true;
	}
	*ret = i - 1;
	return 0;
}

static int inst_flow_cmp(const void *a, const void *b, void *arg)
{
	const struct inst *v = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (v[x].flow != v[y].flow)
		return v[x].flow < v[y].flow ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Unique ids, in order of first use; bit 31 set, so no zone pair is ever one. */
static int inst_ids(struct cc *c, struct u64map *used)
{
	int r;

	if (c->oos != SIZE_MAX) {
		c->oos_id = 0x80000000u | (fnv_u32(c->flows[c->oos].mh, c->allpats) & 0x7fffffffu);
		if ((r = u64map_put(used, c->oos_id, 1)) < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_inst; i++) {
		struct inst *in = &c->inst[i];
		uint32_t h = fnv_u32(fnv_u32(c->flows[in->flow].mh, c->zh[in->zp >> 16]),
				     c->zh[in->zp & 0xffff]), id;

		for (uint32_t bump = 0;; bump++) {
			id = 0x80000000u | ((h + bump) & 0x7fffffffu);
			if (!u64map_get(used, id))
				break;
		}
		in->id = id;
		if ((r = u64map_put(used, id, 1)) < 0)
			return r;
	}
	return 0;
}

/*
 * f_<id> chains turn the zone pair into the mark with `ct mark set ct mark
 * ^ xk` and a lookup in inst: the flow's key xk is chosen so that no two
 * chained instances share a key.
 */
static int inst_keys(struct cc *c)
{
	_cleanup_free_ uint32_t *ix = NULL;
	struct u64map keys = {};
	size_t n = 0;
	int r = 0;

	for (size_t i = 0; i < c->n_inst; i++)
		n += c->inst[i].chained;
	if (!n)
		return 0;
	if (!(ix = calloc(n, sizeof(*ix))))
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < c->n_inst; i++)
		if (c->inst[i].chained)
			ix[n++] = (uint32_t)i;
	qsort_r(ix, n, sizeof(*ix), inst_flow_cmp, c->inst);
	for (size_t i = 0, j; i < n && !r; i = j) {
		struct cflow *cf = &c->flows[c->inst[ix[i]].flow];
		bool clash = true;

		for (j = i; j < n && c->inst[ix[j]].flow == c->inst[ix[i]].flow; j++)
			;
		for (uint32_t bump = 0; clash; bump++) {
			cf->xk = 0x80000000u | ((cf->mh + bump) & 0x7fffffffu);
			clash = false;
			for (size_t k = i; k < j && !clash; k++)
				clash = u64map_get(&keys, c->inst[ix[k]].zp ^ cf->xk);
		}
		for (size_t k = i; k < j && !r; k++) {
			const struct inst *in = &c->inst[ix[k]];
			struct zt_elem *el;

			if ((r = u64map_put(&keys, in->zp ^ cf->xk, 1)) < 0)
				break;
			if (!(el = elem_new(c, S_INST))) {
				r = -ENOMEM;
				break;
			}
			el->key[0] = v_u32(ZT_TYPE_MARK, in->zp ^ cf->xk);
			el->data = v_u32(ZT_TYPE_MARK, in->id);
			el->pos = pos_of(c, &cf->pos);
		}
	}
	u64map_free(&keys);
	return r;
}

/* The chain that says whether a packet came from zone id's side: own_<id>, spk_any, or none (host). */
bool spk_target(struct cc *c, uint32_t id, struct zt_value *ret)
{
	const struct zinfo *z = &c->zones[id];
	uint32_t own = id;

	if (z->kind == ZT_ZONE_HOST || z->unit)
		return false;	/* the host speaks for itself and its units in output */
	if (z->seg >= 0)
		own = zt_seg_bound(&c->p->segs[z->seg]) ? c->rest[z->seg] : 0;
	else if (!z->bound)
		own = 0;
	if (own) {
		c->spk[own] = true;
		*ret = v_zone_goto("own", own);
	} else {
		c->spk_any = true;
		*ret = v_verdict(ZT_V_GOTO, "spk_any");
	}
	return true;
}

static int spk_elem(struct cc *c, enum set_id set, uint32_t id, const struct zt_value *v,
		    const struct zt_pos *pos)
{
	struct zt_elem *el = elem_new(c, set);

	if (!el)
		return -ENOMEM;
	el->key[0] = v_u32(ZT_TYPE_MARK, id);
	el->data = *v;
	el->pos = pos_of(c, pos);
	return 0;
}

/* A connection mark's elements: fcnt (its flow's counter), spk_o and spk_r (who speaks). */
static int mark_elems(struct cc *c, uint32_t id, const struct cflow *cf, uint32_t zp)
{
	char name[ZT_OBJ_NAME_MAX];
	struct zt_elem *el = elem_new(c, S_FCNT);
	struct zt_value v = v_verdict(ZT_V_GOTO, "spk_any");
	bool oos = !zp;
	int r;

	if (!el)
		return -ENOMEM;
	name_counter(name, cf->id);
	el->key[0] = v_u32(ZT_TYPE_MARK, id);
	el->data = (struct zt_value){ .type = ZT_TYPE_COUNTER };
	snprintf(el->data.counter, sizeof(el->data.counter), "%s", name);
	el->pos = pos_of(c, &cf->pos);
	/* Out of scope: no segment on either side; routers anywhere but on a member. */
	c->spk_any |= oos;
	if ((oos || spk_target(c, zp >> 16, &v)) && (r = spk_elem(c, S_SPK_O, id, &v, &cf->pos)) < 0)
		return r;
	if ((oos || spk_target(c, zp & 0xffff, &v)) && (r = spk_elem(c, S_SPK_R, id, &v, &cf->pos)) < 0)
		return r;
	return 0;
}

/*
 * After the flow maps are built: give every instance its id, write the ids
 * into the mark maps (which hold instance indexes until now), the inst map
 * for chained flows, fcnt, and the speaker maps for ICMP errors.
 */
static int insts_assign(struct cc *c)
{
	static const enum set_id marks[] = { S_FP, S_FR, S_FI4, S_FI6, S_FPROTO, S_FANY };
	struct u64map used = {};
	int r = inst_ids(c, &used);

	u64map_free(&used);
	if (r < 0 || (r = inst_keys(c)) < 0)
		return r;
	for (size_t m = 0; m < 2 * ELEMENTSOF(marks); m++) {
		int si = c->set[marks[m / 2] + (m % 2 ? S_OUT_DELTA : 0)];

		for (size_t i = 0; si >= 0 && i < c->plan->sets[si].n_elems; i++) {
			struct zt_value *d = &zt_set_elem(&c->plan->sets[si], i)->data;

			d->u32 = c->inst[d->u32].id;
		}
	}
	for (size_t i = 0; i < c->n_inst; i++)
		if ((r = mark_elems(c, c->inst[i].id, &c->flows[c->inst[i].flow], c->inst[i].zp)) < 0)
			return r;
	if (c->oos != SIZE_MAX && (r = mark_elems(c, c->oos_id, &c->flows[c->oos], 0)) < 0)
		return r;
	return 0;
}

int counters_build(struct cc *c)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	int r;

	/* One counter per flow; fcnt maps each of its connection marks to it (insts_assign). */
	for (size_t i = 0; i < c->n_flows; i++) {
		name_counter(name, c->flows[i].id);
		if ((r = counter_new(c, name, c->flows[i].desc)) < 0)
			return r;
	}
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	if ((r = counter_new(c, "drops", what)) < 0 ||
	    (r = counter_new(c, "spoofs", "anti-spoofing")) < 0 ||
	    (r = counter_new(c, "invalid", "ct state invalid")) < 0 ||
	    (r = counter_new(c, "untracked", "no conntrack entry (another table's notrack)")) < 0)
		return r;
	return insts_assign(c);
}
