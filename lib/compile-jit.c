/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * jit templates compiled: the grant sets (jit4, jit6, jlive: the daemon
 * fills them, the kernel times them out), their rules in the base chains
 * and judge, and the plan's view of each template (zones, ports, meaning)
 * that a grant's elements are made from. doc/RULESET.md "Grants".
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

static int tmpl_build(struct cc *c, const struct zt_jit *t, struct zt_plan_jit *pj)
{
	char pb[64];
	uint32_t h;
	size_t cap = 0;
	int r;

	snprintf(pj->name, sizeof(pj->name), "%s", t->f.name);
	if ((r = refs_ids(c, t->f.from, t->f.n_from, &pj->src, NULL, &pj->n_src)) < 0 ||
	    (r = refs_ids(c, t->f.to, t->f.n_to, &pj->dst, &pj->dst_ref, &pj->n_dst)) < 0)
		return r;
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

/* The plan's templates and the counter their connections share; after meanings_build(). */
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
	return counter_new(c, "jit", "connections of jit grants");
}

/*
 * Established (forward, input, output; right after the fcnt rule):
 *   ct state established ct mark @jlive counter name "jit" accept
 * A grant's connections pass while its mark is in jlive, whose element
 * the kernel times out: expiry cuts them even with the daemon stopped.
 * judge (after the flows' accept, before hub.default):
 *   ct mark set ip saddr . ct mark . meta l4proto . th dport map @jit4
 *   ct mark set ip6 saddr . ct mark . meta l4proto . th dport map @jit6
 *   ct mark @jlive counter name "jit" accept
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
					      : "jit: the grant is live")))
		goto oom;
	if (established)
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	m_set(r, false, ZT_KEY_CT_MARK, "jlive");
	s_counter(r, "jit");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return;
oom:
	c->oom = true;
}
