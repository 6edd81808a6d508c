/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiler: a validated policy in, the plan of the one nftables table
 * out, as doc/RULESET.md designs it. Pure: no I/O, no globals, no clock.
 * This file drives the stages (compile-*.c) and sorts the result.
 */
#include <assert.h>
#include "compile-internal.h"

/* ---- Sorting: the plan is sorted throughout, so equal policies give equal plans ---- */

/*
 * The order of the plan's set elements (by key, then data): names and
 * integers as such, addresses by their first address and the wider first.
 * compile-keys.c also asks it whether two verdicts or flow ids are equal.
 */
int value_sort_cmp(const struct zt_value *a, const struct zt_value *b)
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

/*
 * The plan is kept (the daemon diffs the next reload against it): each
 * set's elements packed to the key fields it has (zt_elem_size()), in
 * place, and the array cut to what they take. 130 MiB of elements at
 * 10,000 segments become 58. A failed shrink keeps the larger block.
 */
static void elems_pack(struct zt_set *s)
{
	size_t esize = zt_elem_size(s->n_key);
	void *e;

	assert(!s->esize && s->n_key && s->n_key <= ZT_MAX_CONCAT);
	for (size_t i = 1; i < s->n_elems; i++)
		memmove((char *)s->elems + i * esize, (char *)s->elems + i * sizeof(struct zt_elem), esize);
	s->esize = esize;
	if (s->n_elems && (e = realloc(s->elems, s->n_elems * esize))) {
		s->elems = e;
		s->cap_elems = s->n_elems;
	}
}

static void plan_sort(struct zt_plan *pl)
{
	for (size_t i = 0; i < pl->n_sets; i++) {
		struct zt_set *s = &pl->sets[i];
		struct zt_elem *v = s->elems;
		size_t k = 1;

		/* The address maps come out of flatten() in order already. */
		while (k < s->n_elems && elem_cmp(&v[k - 1], &v[k], s) <= 0)
			k++;
		if (k < s->n_elems)
			qsort_r(v, s->n_elems, sizeof(*v), elem_cmp, s);
		elems_pack(s);
	}
	if (pl->n_sets)
		qsort(pl->sets, pl->n_sets, sizeof(*pl->sets), set_name_cmp);
	if (pl->n_chains)
		qsort(pl->chains, pl->n_chains, sizeof(*pl->chains), chain_name_cmp);
	if (pl->n_counters)
		qsort(pl->counters, pl->n_counters, sizeof(*pl->counters), counter_name_cmp);
}

/* The wide-range maps and sub_if exist only when a flow or a subnet needs them. */
static void drop_set(struct cc *c, enum set_id id)
{
	struct zt_plan *pl = c->plan;
	size_t i;

	if (c->set[id] < 0)
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

static void drop_if_empty(struct cc *c, enum set_id id)
{
	if (c->set[id] >= 0 && !c->plan->sets[c->set[id]].n_elems)
		drop_set(c, id);
}

static void cc_done(struct cc *c)
{
	free(c->zh);
	free(c->spk);
	free(c->oclass);
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
	c.wobs = c.wobs_n = -1;
	c.hub = p->hub.pos;
	if (!c.hub.file && p->n_files)
		c.hub = (struct zt_pos){ .file = p->files[0] };
	snprintf(c.hubpos, sizeof(c.hubpos), "%s", src_str(&c.hub, ps, sizeof(ps)));
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
		if (i >= S_JIT4 && i <= S_JSPK_R && !p->n_jit)
			continue;
		if (i >= S_UCG_KNOWN && i <= S_ULOGT && !zt_policy_has_units(p))
			continue;
		if ((i == S_ULOGF || i == S_ULOGT) && p->hub.log == ZT_LOG_NONE)
			continue;
		if (i >= S_BR_SRC && i <= S_BR_DV)
			continue;	/* bridge_build(), when a segment names interfaces */
		if ((r = set_new(&c, i)) < 0)
			goto out;
	}
	if ((r = interfaces_build(&c)) < 0 || (r = addresses_family(&c, AF_INET)) < 0 ||
	    (r = addresses_family(&c, AF_INET6)) < 0 || (r = subnet_rests(&c)) < 0 ||
	    (r = bridge_build(&c)) < 0 || (r = zone_src_elems(&c)) < 0 || (r = meanings_build(&c)) < 0 ||
	    (r = flows_keys(&c)) < 0 || (r = oos_keys(&c)) < 0 || (r = counters_build(&c)) < 0 ||
	    (r = marks_export(&c)) < 0 ||
	    (r = jit_build(&c)) < 0 || (r = flood_build(&c)) < 0 || (r = anomaly_build(&c)) < 0 || (r = observe_build(&c)) < 0 ||
	    (r = chains_build(&c)) < 0)
		goto out;
	/* Flow maps without elements have no rule in judge: no set either. */
	for (int i = S_FP; i <= S_FANYV_OUT; i++)
		if (i < S_OOS || i >= S_FP_OUT)
			drop_if_empty(&c, i);
	drop_if_empty(&c, S_SUB_IF);
	if (c.set[S_SUB_IF] < 0)
		drop_set(&c, S_SUB_IFX);	/* its twin: dynamic, so never empty here */
	drop_if_empty(&c, S_INST);
	for (size_t i = 0; i < c.plan->n_chains; i++)
		for (size_t k = 0; k < c.plan->chains[i].n_rules; k++)
			c.oom |= c.plan->chains[i].rules[k].oom;
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
