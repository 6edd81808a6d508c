/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The difference with the previous plan: both plans are sorted by name,
 * so counters, sets and chains are merged; elements and rules compared
 * field by field as emit would put them into the kernel.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include "diff-plan.h"
#include "ifx.h"

/*
 * The fields of a plan object that emit puts into the kernel, compared;
 * policy positions are not (they only point diagnostics at their source).
 * What this does not know is compared as bytes: a difference too many,
 * never one too few.
 */
static int emitted_value_cmp(const struct zt_value *a, const struct zt_value *b)
{
	int c = 0;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	switch (a->type) {
	case ZT_TYPE_NONE:
		break;
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		/* A prefix or a range (plan.h): what the kernel gets is the bounds. */
		uint8_t alo[16], ahi[16], blo[16], bhi[16];

		/* The same prefix, byte for byte: the same bounds (the common case, cheaply). */
		if (!a->is_range && !b->is_range && a->cidr.family == b->cidr.family && a->cidr.plen == b->cidr.plen &&
		    memcmp(a->cidr.addr, b->cidr.addr, sizeof(a->cidr.addr)) == 0)
			break;
		/* Two ranges of a family: their bounds are what they hold. */
		if (a->is_range && b->is_range && a->range.family == b->range.family) {
			size_t len = a->range.family == AF_INET ? 4 : 16;

			c = memcmp(a->range.lo, b->range.lo, len) ?: memcmp(a->range.hi, b->range.hi, len);
			break;
		}
		zt_value_addr_bounds(a, alo, ahi);
		zt_value_addr_bounds(b, blo, bhi);
		/* A range and a prefix of the same bounds are emitted differently in a rule. */
		c = a->is_range != b->is_range ? (int)a->is_range - (int)b->is_range :
		    zt_value_family(a) != zt_value_family(b) ?
			    (zt_value_family(a) < zt_value_family(b) ? -1 : 1) :
			    memcmp(alo, blo, sizeof(alo)) ?: memcmp(ahi, bhi, sizeof(ahi));
		break;
	}
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME:
		c = strncmp(a->ifpat.name, b->ifpat.name, sizeof(a->ifpat.name));
		if (!c)
			c = (int)a->ifpat.wildcard - (int)b->ifpat.wildcard;
		break;
	case ZT_TYPE_VERDICT:
		c = a->verdict.code != b->verdict.code ? (a->verdict.code < b->verdict.code ? -1 : 1) : 0;
		if (!c && (a->verdict.code == ZT_V_JUMP || a->verdict.code == ZT_V_GOTO))
			c = strncmp(a->verdict.chain, b->verdict.chain, sizeof(a->verdict.chain));
		break;
	case ZT_TYPE_COUNTER:
		c = strncmp(a->counter, b->counter, sizeof(a->counter));
		break;
	case ZT_TYPE_MARK:
	case ZT_TYPE_INET_PROTO:
	case ZT_TYPE_INET_SERVICE:
	case ZT_TYPE_ICMP_TYPE:
	case ZT_TYPE_ICMPV6_TYPE:
	case ZT_TYPE_IFINDEX:
	case ZT_TYPE_FIB_ADDRTYPE:
		c = a->u32 != b->u32 ? (a->u32 < b->u32 ? -1 : 1) : 0;
		break;
	case ZT_TYPE_CGROUP:
		c = a->u64 != b->u64 ? (a->u64 < b->u64 ? -1 : 1) : 0;
		break;
	default:
		c = memcmp(a, b, sizeof(*a));
		break;
	}
	if (!c && a->u32_hi != b->u32_hi)
		c = a->u32_hi < b->u32_hi ? -1 : 1;
	return c;
}

static int elem_key_cmp(const struct zt_elem *a, const struct zt_elem *b, size_t n_key)
{
	for (size_t k = 0; k < n_key && k < ZT_MAX_CONCAT; k++) {
		int c = emitted_value_cmp(&a->key[k], &b->key[k]);

		if (c)
			return c;
	}
	return 0;
}

static bool match_eq(const struct zt_match *a, const struct zt_match *b)
{
	if (a->op != b->op || a->n_key != b->n_key || a->ct_state != b->ct_state || a->plen != b->plen || a->mmask != b->mmask ||
	    memcmp(a->key, b->key, sizeof(a->key)) != 0 || emitted_value_cmp(&a->value, &b->value) != 0 ||
	    strncmp(a->set, b->set, sizeof(a->set)) != 0 || a->anon.type != b->anon.type ||
	    a->anon.interval != b->anon.interval || a->anon.n != b->anon.n)
		return false;
	for (size_t i = 0; i < a->anon.n; i++)
		if (emitted_value_cmp(&a->anon.v[i], &b->anon.v[i]) != 0)
			return false;
	return true;
}

static bool rule_eq(const struct zt_rule *a, const struct zt_rule *b)
{
	if (a->n_match != b->n_match || a->n_stmt != b->n_stmt || a->n_match > ZT_RULE_MAX_MATCH ||
	    a->n_stmt > ZT_RULE_MAX_STMT || strncmp(a->comment, b->comment, sizeof(a->comment)) != 0)
		return false;
	for (size_t i = 0; i < a->n_match; i++)
		if (!match_eq(&a->match[i], &b->match[i]))
			return false;
	/* Statements hold no pointers and are zeroed before they are filled: their bytes. */
	return memcmp(a->stmt, b->stmt, a->n_stmt * sizeof(*a->stmt)) == 0;
}

static bool chain_rules_eq(const struct zt_chain *a, const struct zt_chain *b)
{
	if (a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (!rule_eq(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

static bool set_def_eq(const struct zt_set *a, const struct zt_set *b)
{
	return a->n_key == b->n_key && memcmp(a->key, b->key, sizeof(a->key)) == 0 && a->data == b->data &&
	       a->interval == b->interval && a->dynamic == b->dynamic && a->timeout == b->timeout &&
	       a->eval == b->eval && a->size == b->size && a->timeout_sec == b->timeout_sec &&
	       strncmp(a->comment, b->comment, sizeof(a->comment)) == 0;
}

static bool elems_eq(const struct zt_set *a, const struct zt_set *b)
{
	if (a->n_elems != b->n_elems)
		return false;
	for (size_t i = 0; i < a->n_elems; i++) {
		const struct zt_elem *x = zt_set_elem(a, i), *y = zt_set_elem(b, i);

		if (elem_key_cmp(x, y, a->n_key) != 0 || emitted_value_cmp(&x->data, &y->data) != 0)
			return false;
	}
	return true;
}

/* Arrays sorted by name, as plan.h promises: checked, since the merges below rely on it. */
static bool plan_sorted(const struct zt_plan *p)
{
	for (size_t i = 1; i < p->n_counters; i++)
		if (strcmp(p->counters[i - 1].name, p->counters[i].name) >= 0)
			return false;
	for (size_t i = 1; i < p->n_sets; i++)
		if (strcmp(p->sets[i - 1].name, p->sets[i].name) >= 0)
			return false;
	for (size_t i = 1; i < p->n_chains; i++)
		if (strcmp(p->chains[i - 1].name, p->chains[i].name) >= 0)
			return false;
	return true;
}


void zt_plan_diff_clear(struct zt_plan_diff *df, const struct zt_plan *p)
{
	for (size_t i = 0; df->set_rm && i < p->n_sets; i++)
		free(df->set_rm[i]);
	zt_pflags_clear(&df->pf, p);
	free(df->oset_of);
	free(df->set_rm);
	free(df->n_set_rm);
	free(df->ochain_del);
	free(df->oset_del);
	free(df->ocounter_del);
	*df = (struct zt_plan_diff){};
}

static int elem_idx_cmp(const void *a, const void *b, void *data)
{
	const struct zt_set *s = data;

	return elem_key_cmp(zt_set_elem(s, *(const size_t *)a), zt_set_elem(s, *(const size_t *)b), s->n_key);
}

static size_t *elem_order(const struct zt_set *s)
{
	size_t *v = calloc(s->n_elems + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n_elems; i++)
		v[i] = i;
	qsort_r(v, s->n_elems, sizeof(*v), elem_idx_cmp, (void *)s);
	return v;
}

/* A hash set's elements: what to remove (old) and add (new), by key; a changed value is both. */
static int pdiff_hash_elems(struct zt_plan_diff *df, size_t i, const struct zt_set *o, const struct zt_set *s)
{
	_cleanup_free_ size_t *oa = elem_order(o), *na = elem_order(s);
	size_t x = 0, y = 0;

	df->set_rm[i] = calloc(o->n_elems + 1, sizeof(size_t));
	df->pf.set_add[i] = calloc(s->n_elems + 1, sizeof(size_t));
	if (!oa || !na || !df->set_rm[i] || !df->pf.set_add[i])
		return -ENOMEM;
	while (x < o->n_elems || y < s->n_elems) {
		int c = x == o->n_elems ? 1 : y == s->n_elems ? -1 :
			elem_key_cmp(zt_set_elem(o, oa[x]), zt_set_elem(s, na[y]), s->n_key);

		if (c < 0) {
			df->set_rm[i][df->n_set_rm[i]++] = oa[x++];
		} else if (c > 0) {
			df->pf.set_add[i][df->pf.n_set_add[i]++] = na[y++];
		} else {
			if (emitted_value_cmp(&zt_set_elem(o, oa[x])->data, &zt_set_elem(s, na[y])->data) != 0) {
				df->set_rm[i][df->n_set_rm[i]++] = oa[x];
				df->pf.set_add[i][df->pf.n_set_add[i]++] = na[y];
			}
			x++;
			y++;
		}
	}
	return 0;
}

/* Counters: by name (a changed comment keeps the counter and its values, as the kernel diff does). */
static void pdiff_counters(const struct zt_plan *old, const struct zt_plan *p, struct zt_plan_diff *df)
{
	for (size_t x = 0, y = 0; x < old->n_counters || y < p->n_counters;) {
		int c = x == old->n_counters ? 1 : y == p->n_counters ? -1 :
			strcmp(old->counters[x].name, p->counters[y].name);

		if (c < 0)
			df->ocounter_del[x++] = true;
		else if (c > 0)
			df->pf.counter_new[y++] = true;
		else
			x++, y++;
		df->changed += c != 0;
	}
}

/* Did a set change between two plans (definition or elements; there in one only)? */
static bool set_changed(const struct zt_plan *old, const struct zt_plan *base, const char *name)
{
	const struct zt_set *o = zt_plan_find_set(old, name), *s = zt_plan_find_set(base, name);

	if (!o || !s)
		return o != s;
	return !set_def_eq(o, s) || !elems_eq(o, s);
}

/*
 * The exact-name twins (ifx.h) apply filled: the daemon keeps their names
 * between reloads, but what a name maps to comes from their pattern sets,
 * so when one of those changed the twin is filled anew in the same
 * transaction (never a verdict of the old plan under the new one).
 */
static int pdiff_twins(const struct zt_plan *old, const struct zt_plan *base, const struct zt_plan *p,
		       struct zt_plan_diff *df)
{
	for (size_t y = 0; y < p->n_sets; y++) {
		const char *src;

		if (!base->sets[y].dynamic || p->sets[y].dynamic || df->pf.set_new[y] || df->pf.set_recreate[y] ||
		    df->pf.set_refill[y] || !(src = zt_ifx_source(p->sets[y].name)))
			continue;
		if (set_changed(old, base, src)) {
			df->pf.set_refill[y] = true;
			df->changed++;
		}
	}
	return 0;
}

/* Sets: definition, then elements. */
static int pdiff_sets(const struct zt_plan *old, const struct zt_plan *base, const struct zt_plan *p,
		      bool refill_filled, struct zt_plan_diff *df)
{
	size_t x, y;
	int r;

	for (y = 0; y < p->n_sets; y++)
		df->oset_of[y] = SIZE_MAX;
	for (x = 0, y = 0; x < old->n_sets || y < p->n_sets;) {
		int c = x == old->n_sets ? 1 : y == p->n_sets ? -1 : strcmp(old->sets[x].name, p->sets[y].name);
		const struct zt_set *o, *s;

		if (c < 0) {
			df->oset_del[x++] = true;
			df->changed++;
			continue;
		}
		if (c > 0) {
			df->pf.set_new[y++] = true;
			df->changed++;
			continue;
		}
		o = &old->sets[x];
		s = &base->sets[y];
		df->oset_of[y] = x;
		if (!set_def_eq(o, s)) {
			df->pf.set_recreate[y] = true;
			df->changed++;
		} else if (s->dynamic && !p->sets[y].dynamic && refill_filled) {
			df->pf.set_refill[y] = true;
			df->changed++;
		} else if (!s->dynamic && !elems_eq(o, s)) {
			/* The daemon owns a dynamic set's contents: leave them. */
			df->changed++;
			if (s->interval)
				df->pf.set_refill[y] = true;
			else if ((r = pdiff_hash_elems(df, y, o, s)) < 0)
				return r;
		}
		x++, y++;
	}
	return pdiff_twins(old, base, p, df);
}

/* Chains: definition, then rules. */
static void pdiff_chains(const struct zt_plan *old, const struct zt_plan *p, struct zt_plan_diff *df)
{
	for (size_t x = 0, y = 0; x < old->n_chains || y < p->n_chains;) {
		int c = x == old->n_chains ? 1 : y == p->n_chains ? -1 : strcmp(old->chains[x].name, p->chains[y].name);
		const struct zt_chain *oc, *nc;

		if (c < 0) {
			df->ochain_del[x++] = true;
			df->changed++;
			continue;
		}
		nc = &p->chains[y];
		if (c > 0) {
			df->pf.chain_new[y] = df->pf.chain_rules[y] = true;
			df->changed += 1 + nc->n_rules;
			y++;
			continue;
		}
		oc = &old->chains[x];
		if (oc->hook != nc->hook || (nc->hook != ZT_HOOK_NONE && oc->prio != nc->prio)) {
			df->pf.chain_recreate[y] = df->pf.chain_rules[y] = true;
			df->changed += 1 + nc->n_rules;
		} else if (!chain_rules_eq(oc, nc)) {
			df->pf.chain_rules[y] = true;
			df->changed += nc->n_rules;
		}
		if (!df->pf.chain_rules[y])
			df->pf.chain_rules[y] = zt_chain_uses_remade_set(&df->pf, p, nc);
		x++, y++;
	}
}

int zt_plan_diff_compute(const struct zt_plan *old, const struct zt_plan *base, const struct zt_plan *p,
			 bool refill_filled, struct zt_plan_diff *df)
{
	int r;

	if (old->slim || p->slim)
		return -EINVAL;
	if (!plan_sorted(old) || !plan_sorted(p) || base->n_sets != p->n_sets || old->log_group != p->log_group)
		return -ENOTUNIQ;
#define ALLOC(f, n) ((df->f = calloc((n) + 1, sizeof(*df->f))) != NULL)
	if (zt_pflags_alloc(&df->pf, p) < 0 || !ALLOC(oset_of, p->n_sets) || !ALLOC(set_rm, p->n_sets) ||
	    !ALLOC(n_set_rm, p->n_sets) || !ALLOC(ochain_del, old->n_chains) || !ALLOC(oset_del, old->n_sets) ||
	    !ALLOC(ocounter_del, old->n_counters))
		return -ENOMEM;
#undef ALLOC
	pdiff_counters(old, p, df);
	r = pdiff_sets(old, base, p, refill_filled, df);
	if (r < 0)
		return r;
	pdiff_chains(old, p, df);
	return 0;
}

/* Elements of an old plan's set, by key alone (what DELSETELEM needs). */
static int pdiff_emit_rm(struct zt_batch *b, const struct zt_set *os, const struct zt_set *s, const size_t *which,
			 size_t n)
{
	struct zt_set_enc enc = {};
	_cleanup_free_ size_t *at = calloc(os->n_elems + 1, sizeof(size_t));
	_cleanup_free_ struct nftnl_set_elem **rm = calloc(n + 1, sizeof(*rm));
	int r;

	if (!at || !rm)
		return -ENOMEM;
	r = zt_set_encode(os, &enc);
	for (size_t i = 0; r >= 0 && i < os->n_elems; i++)
		at[i] = SIZE_MAX;
	for (size_t e = 0; r >= 0 && e < enc.n; e++)
		if (enc.plan_elem[e] < os->n_elems)
			at[enc.plan_elem[e]] = e;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		if (at[which[i]] == SIZE_MAX)
			r = -ENOTUNIQ;
		else
			rm[i] = enc.elems[at[which[i]]];
	}
	if (r >= 0)
		r = zt_emit_elems_del(b, s, rm, n);
	zt_set_enc_clear(&enc);
	return r;
}

/* Some elements of a new plan's set (which: plan element indexes). */
static int pdiff_emit_add(struct zt_batch *b, const struct zt_set *s, const size_t *which, size_t n)
{
	struct zt_set_enc enc = {};
	_cleanup_free_ size_t *at = calloc(s->n_elems + 1, sizeof(size_t)), *idx = calloc(n + 1, sizeof(size_t));
	int r;

	if (!at || !idx)
		return -ENOMEM;
	r = zt_set_encode(s, &enc);
	for (size_t i = 0; r >= 0 && i < s->n_elems; i++)
		at[i] = SIZE_MAX;
	for (size_t e = 0; r >= 0 && e < enc.n; e++)
		if (enc.plan_elem[e] < s->n_elems)
			at[enc.plan_elem[e]] = e;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		idx[i] = at[which[i]];
		if (idx[i] == SIZE_MAX)
			r = -ENOTUNIQ;
	}
	if (r >= 0)
		r = zt_emit_elems(b, s, &enc, idx, n, NFT_MSG_NEWSETELEM);
	zt_set_enc_clear(&enc);
	return r;
}

static int pdiff_emit_all(struct zt_batch *b, const struct zt_set *s)
{
	struct zt_set_enc enc = {};
	int r = zt_set_encode(s, &enc);

	if (r >= 0 && enc.n)
		r = zt_emit_elems(b, s, &enc, NULL, 0, NFT_MSG_NEWSETELEM);
	zt_set_enc_clear(&enc);
	return r;
}

static const char *ochain_name(const void *objs, size_t j)
{
	return ((const struct zt_chain *)objs)[j].name;
}

static const char *oset_name(const void *objs, size_t j)
{
	return ((const struct zt_set *)objs)[j].name;
}

static const char *ocounter_name(const void *objs, size_t j)
{
	return ((const struct zt_counter *)objs)[j].name;
}

struct pdiff_ctx {
	const struct zt_plan *old;
	const struct zt_plan_diff *df;
};

/* One set of the difference with the previous plan. */
static int pdiff_set_emit(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *d)
{
	const struct pdiff_ctx *pc = d;
	const struct zt_plan_diff *df = pc->df;
	const struct zt_set *s = &p->sets[i];
	int r = 0;

	if (df->pf.set_recreate[i]) {
		r = zt_emit_set_del(b, s->name);
		if (r >= 0)
			r = zt_emit_set(b, s);
	} else if (df->pf.set_new[i]) {
		r = zt_emit_set(b, s);
	} else if (df->pf.set_refill[i]) {
		r = zt_emit_set_flush(b, s->name);
		if (r >= 0 && s->n_elems)
			r = pdiff_emit_all(b, s);
	} else if (df->n_set_rm[i] || df->pf.n_set_add[i]) {
		if (df->n_set_rm[i])
			r = pdiff_emit_rm(b, &pc->old->sets[df->oset_of[i]], s, df->set_rm[i], df->n_set_rm[i]);
		if (r >= 0 && df->pf.n_set_add[i])
			r = pdiff_emit_add(b, s, df->pf.set_add[i], df->pf.n_set_add[i]);
	}
	return r;
}

int zt_plan_diff_emit(struct zt_batch *b, const struct zt_plan *old, const struct zt_plan *p,
		      const struct zt_plan_diff *df)
{
	const struct pdiff_ctx pc = { old, df };
	const struct zt_delta d = {
		.pf = &df->pf,
		.chains = { df->ochain_del, old->n_chains, ochain_name, old->chains },
		.sets = { df->oset_del, old->n_sets, oset_name, old->sets },
		.counters = { df->ocounter_del, old->n_counters, ocounter_name, old->counters },
		.set_emit = pdiff_set_emit, .df = &pc,
	};

	return zt_delta_emit(b, p, &d);
}
