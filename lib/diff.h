/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the two differences (with the table read back, diff-kernel; with
 * the previous plan, diff-plan) share: what they say of each object of
 * the new plan, and the one emitter that turns either into a transaction.
 */
#ifndef ZT_DIFF_H
#define ZT_DIFF_H

#include "emit.h"
#include "plan.h"

struct nftnl_set_elem;

/* What both differences say of each object of the new plan. */
struct zt_pflags {
	bool *chain_new, *chain_rules, *chain_recreate;
	bool *set_new, *set_recreate, *set_refill;
	size_t **set_add, *n_set_add;	/* hash sets: elements to add */
	bool *counter_new;
};

int zt_pflags_alloc(struct zt_pflags *f, const struct zt_plan *p);
void zt_pflags_clear(struct zt_pflags *f, const struct zt_plan *p);

/* A set made anew takes its users' rules with it: does chain c use one? */
bool zt_chain_uses_remade_set(const struct zt_pflags *f, const struct zt_plan *p, const struct zt_chain *c);

/*
 * A difference as one transaction, ordered so that nothing is used before
 * it exists or deleted while used: new chains and counters; rules of
 * changed chains away; sets made, remade or edited (each difference its own
 * way: set_emit); rules added; unused chains and counters away. Both
 * differences name what goes through their own objects: del flags and a
 * name.
 */
struct zt_gone {
	const bool *del;
	size_t n;
	const char *(*name)(const void *objs, size_t j);
	const void *objs;
};

struct zt_delta {
	const struct zt_pflags *pf;
	struct zt_gone chains, sets, counters;
	int (*set_emit)(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *df);
	const void *df;
};

/* Delete these elements of set s by key alone (what DELSETELEM needs). */
int zt_emit_elems_del(struct zt_batch *b, const struct zt_set *s, struct nftnl_set_elem *const *el, size_t n);

int zt_delta_emit(struct zt_batch *b, const struct zt_plan *p, const struct zt_delta *d);

#endif
