/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jit templates compiled: the grant maps (jit4, jit6, jlive, jspk_o,
 * jspk_r: the daemon fills them, the kernel times them out), their rules
 * in the base chains, judge and related, and the plan's view of each
 * template (zones, ports, who speaks for each entry, meaning) that a
 * grant's elements are made from. doc/RULESET.md "Grants".
 */
#include <linux/netfilter/nf_conntrack_common.h>
#include "compile-internal.h"

/* The finest zones refs cover, as a hub flow's do (a template's, a flood limit's to). */
int refs_ids(struct cc *c, const struct zt_ref *refs, size_t n, uint32_t **ret,
		    uint16_t **ret_ref, size_t *n_ret)
{
	size_t k = 0, cap = 0, cap2 = 0;
	uint32_t *v = NULL;
	uint16_t *w = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct zt_zone *z = &refs[i].zone;
		uint32_t first = zone_id(c, z), count = 1;

		if (!first || (z->kind == ZT_ZONE_HOST && !c->p->hub.protect_host))
			continue;
		if (z->kind == ZT_ZONE_SEGMENT)
			count += (uint32_t)c->p->segs[z->seg].n_subnets;
		for (uint32_t j = 0; j < count; j++) {
			if (ZT_GROW(v, cap, k) < 0 || (ret_ref && ZT_GROW(w, cap2, k) < 0)) {
				free(v);
				free(w);
				return -ENOMEM;
			}
			v[k] = first + j;
			if (ret_ref)
				w[k] = (uint16_t)i;
			k++;
		}
	}
	*ret = v;
	if (ret_ref)
		*ret_ref = w;
	*n_ret = k;
	return 0;
}

/*
 * Who may send ICMP errors for a connection from (or to) each entry: the
 * chain spk_target() names for its zone (a segment's subnets speak
 * through the segment's interfaces, so one entry is one side), or none
 * (host: the host's own errors pass in output). Flags the zones whose
 * own_<id> chains it needs.
 */
static int sides_build(struct cc *c, const struct zt_ref *refs, size_t n, struct zt_value **ret)
{
	struct zt_value *v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct zt_zone *z = &refs[i].zone;
		uint32_t id = zone_id(c, z);

		v[i].type = ZT_TYPE_NONE;
		if (id && !(z->kind == ZT_ZONE_HOST && !c->p->hub.protect_host))
			spk_target(c, id, &v[i]);
	}
	*ret = v;
	return 0;
}

static int tmpl_build(struct cc *c, const struct zt_jit *t, struct zt_plan_jit *pj)
{
	char pb[64];
	uint32_t h;
	size_t cap = 0;
	int r;

	snprintf(pj->name, sizeof(pj->name), "%s", t->f.name);
	if ((r = refs_ids(c, t->f.from, t->f.n_from, &pj->src, &pj->src_ref, &pj->n_src)) < 0 ||
	    (r = refs_ids(c, t->f.to, t->f.n_to, &pj->dst, &pj->dst_ref, &pj->n_dst)) < 0 ||
	    (r = sides_build(c, t->f.from, t->f.n_from, &pj->spk_from)) < 0 ||
	    (r = sides_build(c, t->f.to, t->f.n_to, &pj->spk_to)) < 0)
		return r;
	pj->n_from = t->f.n_from;
	pj->n_to = t->f.n_to;
	for (size_t i = 0; i < t->f.n_ports; i++) {
		const struct zt_port *pt = &t->f.ports[i];

		for (uint32_t port = pt->lo; port <= pt->hi; port++) {
			if (ZT_GROW(pj->ports, cap, pj->n_ports) < 0)
				return -ENOMEM;
			pj->ports[pj->n_ports++] = (struct zt_jit_port){
				.proto = (uint8_t)zt_proto_number(pt->proto), .port = (uint16_t)port };
		}
	}
	/* Its meaning: the text of from, to and ports, and what each zone means (doc/SEMANTICS.md). */
	h = fnv_add(c->glob, pj->name, strlen(pj->name) + 1);
	for (size_t i = 0; i < t->f.n_from; i++)
		h = fnv_add(h, t->f.from[i].name, strlen(t->f.from[i].name) + 1);
	h = fnv_u32(h, 0x2d3e);
	for (size_t i = 0; i < t->f.n_to; i++)
		h = fnv_add(h, t->f.to[i].name, strlen(t->f.to[i].name) + 1);
	for (size_t i = 0; i < t->f.n_ports; i++) {
		/* each entry as its text: tcp/22, udp/53-54 */
		const char *ps = zt_port_fmt(&t->f.ports[i], pb, sizeof(pb));

		h = fnv_add(h, ps, strlen(ps) + 1);
	}
	for (size_t i = 0; i < pj->n_src; i++)
		h = fnv_u32(h, c->zh[pj->src[i]]);
	h = fnv_u32(h, 0x2d3e);
	for (size_t i = 0; i < pj->n_dst; i++)
		h = fnv_u32(fnv_u32(h, c->zh[pj->dst[i]]), pj->dst_ref[i]);
	pj->meaning = h;
	return 0;
}

/* The plan's templates; after counters_build() (the flows' speakers), before chains_build(). */
int jit_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	int r;

	if (!p->n_jit)
		return 0;
	if (!(c->plan->jit = calloc(p->n_jit, sizeof(*c->plan->jit))))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_jit; i++) {
		c->plan->n_jit++;
		if ((r = tmpl_build(c, &p->jit[i], &c->plan->jit[i])) < 0)
			return r;
	}
	return 0;
}

/*
 * Established (forward, input, output; right after the fcnt rule):
 *   ct state established counter name ct mark map @jlive accept
 * A grant's connections pass while its marks are in jlive, whose elements
 * the kernel times out (expiry cuts them even with the daemon stopped),
 * and count in the grant's own counter g_<id>, which jlive maps them to.
 * judge (after the flows' accept, before hub.default):
 *   ct mark set ip saddr . ct mark . meta l4proto . th dport map @jit4
 *   ct mark set ip6 saddr . ct mark . meta l4proto . th dport map @jit6
 *   counter name ct mark map @jlive accept
 * A miss leaves the zone pair in ct mark, which is never in jlive.
 */
void jit_rules(struct cc *c, int ci, bool established)
{
	static const enum zt_key k4[] = { ZT_KEY_IP_SADDR, ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT };
	static const enum zt_key k6[] = { ZT_KEY_IP6_SADDR, ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT };
	struct zt_rule *r;

	if (c->set[S_JLIVE] < 0)
		return;
	if (!established) {
		if (!(r = rule_new(c, ci, "jit: a grant for this source, zone pair and port")))
			goto oom;
		s_mark_map(r, k4, 4, "jit4");
		if (!(r = rule_new(c, ci, "jit: a grant for this source, zone pair and port")))
			goto oom;
		s_mark_map(r, k6, 4, "jit6");
	}
	if (!(r = rule_new(c, ci, established ? "established connections of live grants"
					      : "jit: the grant is live: its counter, accept")))
		goto oom;
	if (established)
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	s_counter_map(r, ZT_KEY_CT_MARK, "jlive");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return;
oom:
	c->oom = true;
}

/*
 * related / related_r, after the flows' speaker maps: a grant's ICMP
 * errors, checked against the side its pair (the mark's low byte) names.
 *   ct mark vmap @jspk_o        (related_r: @jspk_r)
 */
int jit_related(struct cc *c, int ci, bool reply)
{
	if (c->set[S_JLIVE] < 0)
		return 0;
	return rule_vmap1(c, ci, reply ? "ICMP errors of grants: the destination's side speaks"
				       : "ICMP errors of grants: the source's side speaks",
			  ZT_KEY_CT_MARK, reply ? "jspk_r" : "jspk_o");
}
