/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The part of a difference that does not depend on what it was taken
 * against: per-object flags, and the one emitter of a difference.
 */
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include "diff.h"
#include "ifx.h"

int zt_pflags_alloc(struct zt_pflags *f, const struct zt_plan *p)
{
#define ALLOC(x, n) ((f->x = calloc((n) + 1, sizeof(*f->x))) != NULL)
	if (!ALLOC(chain_new, p->n_chains) || !ALLOC(chain_rules, p->n_chains) || !ALLOC(chain_recreate, p->n_chains) ||
	    !ALLOC(set_new, p->n_sets) || !ALLOC(set_recreate, p->n_sets) || !ALLOC(set_refill, p->n_sets) ||
	    !ALLOC(set_add, p->n_sets) || !ALLOC(n_set_add, p->n_sets) || !ALLOC(counter_new, p->n_counters))
		return -ENOMEM;
#undef ALLOC
	return 0;
}

void zt_pflags_clear(struct zt_pflags *f, const struct zt_plan *p)
{
	for (size_t i = 0; f->set_add && i < p->n_sets; i++)
		free(f->set_add[i]);
	free(f->chain_new);
	free(f->chain_rules);
	free(f->chain_recreate);
	free(f->set_new);
	free(f->set_recreate);
	free(f->set_refill);
	free(f->set_add);
	free(f->n_set_add);
	free(f->counter_new);
}

static bool rule_uses_set(const struct zt_rule *r, const char *name)
{
	for (size_t i = 0; i < r->n_match; i++)
		if ((r->match[i].op == ZT_M_IN_SET || r->match[i].op == ZT_M_NOT_IN_SET) && streq(r->match[i].set, name))
			return true;
	for (size_t i = 0; i < r->n_stmt; i++)
		if ((r->stmt[i].kind == ZT_S_COUNTER_MAP || r->stmt[i].kind == ZT_S_CT_MARK_SET_MAP ||
		     r->stmt[i].kind == ZT_S_META_MARK_SET_MAP ||
		     r->stmt[i].kind == ZT_S_VMAP) && streq(r->stmt[i].set, name))
			return true;
	return false;
}

bool zt_chain_uses_remade_set(const struct zt_pflags *f, const struct zt_plan *p, const struct zt_chain *c)
{
	for (size_t s = 0; s < p->n_sets; s++)
		if (f->set_recreate[s])
			for (size_t ri = 0; ri < c->n_rules; ri++)
				if (rule_uses_set(&c->rules[ri], p->sets[s].name))
					return true;
	return false;
}

static int gone_emit(struct zt_batch *b, const struct zt_gone *g, int (*emit)(struct zt_batch *, const char *))
{
	int r = 0;

	for (size_t j = 0; r >= 0 && j < g->n; j++)
		if (g->del[j])
			r = emit(b, g->name(g->objs, j));
	return r;
}

/* Does the delta delete a chain or rewrite one's rules? */
static bool chains_change(const struct zt_plan *p, const struct zt_delta *d)
{
	for (size_t j = 0; j < d->chains.n; j++)
		if (d->chains.del[j])
			return true;
	for (size_t i = 0; i < p->n_chains; i++)
		if (d->pf->chain_rules[i] || d->pf->chain_recreate[i])
			return true;
	return false;
}

int zt_delta_emit(struct zt_batch *b, const struct zt_plan *p, const struct zt_delta *d)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->pf->chain_new[i])
			r = zt_emit_chain(b, &p->chains[i]);
	for (size_t i = 0; r >= 0 && i < p->n_counters; i++)
		if (d->pf->counter_new[i])
			r = zt_emit_counter(b, &p->counters[i]);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->pf->chain_rules[i] && !d->pf->chain_new[i])
			r = zt_emit_chain_flush(b, p->chains[i].name);
	if (r >= 0)
		r = gone_emit(b, &d->chains, zt_emit_chain_flush);
	/* A base chain whose hook changed is made anew (nothing jumps to base chains). */
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->pf->chain_recreate[i]) {
			r = zt_emit_chain_del(b, p->chains[i].name);
			if (r >= 0)
				r = zt_emit_chain(b, &p->chains[i]);
		}
	/*
	 * A dynamic verdict map (the grants' speakers, jspk_o/jspk_r) may
	 * point at chains this apply deletes (the kernel refuses: EBUSY) or
	 * rewrites (zone ids move): flushed first, its owner refills it. Not
	 * the exact-name twins (ifx.h): apply fills them in this transaction,
	 * anew whenever their pattern sets change (diff-plan.c, pdiff_twins).
	 */
	for (size_t i = 0; r >= 0 && i < p->n_sets; i++)
		if (p->sets[i].dynamic && p->sets[i].data == ZT_TYPE_VERDICT && !zt_ifx_is_twin(p->sets[i].name) &&
		    !d->pf->set_new[i] &&
		    !d->pf->set_recreate[i] && chains_change(p, d))
			r = zt_emit_set_flush(b, p->sets[i].name);
	if (r >= 0)
		r = gone_emit(b, &d->sets, zt_emit_set_del);
	for (size_t i = 0; r >= 0 && i < p->n_sets; i++)
		r = d->set_emit(b, p, i, d->df);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->pf->chain_rules[i])
			for (size_t j = 0; r >= 0 && j < p->chains[i].n_rules; j++)
				r = zt_emit_rule(b, p, &p->chains[i], j);
	if (r >= 0)
		r = gone_emit(b, &d->chains, zt_emit_chain_del);
	if (r >= 0)
		r = gone_emit(b, &d->counters, zt_emit_counter_del);
	return r;
}


int zt_emit_elems_del(struct zt_batch *b, const struct zt_set *s, struct nftnl_set_elem *const *el, size_t n)
{
	struct zt_set_enc rm = {};
	int r;

	rm.elems = calloc(n + 1, sizeof(*rm.elems));
	rm.plan_elem = calloc(n + 1, sizeof(*rm.plan_elem));
	r = rm.elems && rm.plan_elem ? 0 : -ENOMEM;
	for (size_t x = 0; r >= 0 && x < n; x++) {
		uint32_t len;
		const void *key = nftnl_set_elem_get(el[x], NFTNL_SET_ELEM_KEY, &len);

		rm.plan_elem[x] = SIZE_MAX;
		rm.elems[x] = nftnl_set_elem_alloc();
		if (!rm.elems[x]) {
			r = -ENOMEM;
			break;
		}
		rm.n++;
		/* An element without a key is none the kernel or the plan has. */
		if (!key) {
			r = -ENOMEM;
			break;
		}
		nftnl_set_elem_set(rm.elems[x], NFTNL_SET_ELEM_KEY, key, len);
	}
	if (r >= 0 && rm.n)
		r = zt_emit_elems(b, s, &rm, NULL, 0, NFT_MSG_DELSETELEM);
	zt_set_enc_clear(&rm);
	return r;
}
