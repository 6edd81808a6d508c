/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The difference between the plan applied last and a new one, taken
 * plan against plan (the table is the old plan while nobody committed
 * since): pure, and its transaction.
 */
#ifndef ZT_DIFF_PLAN_H
#define ZT_DIFF_PLAN_H

#include "diff.h"

struct zt_plan_diff {
	/* per object of the new plan (set_add: its elements) */
	struct zt_pflags pf;
	size_t *oset_of;			/* new set -> old set index, SIZE_MAX */
	size_t **set_rm, *n_set_rm;		/* hash sets: old plan elements to remove */
	/* per object of the old plan */
	bool *ochain_del, *oset_del, *ocounter_del;
	size_t changed;				/* objects added, changed or removed */
};

/*
 * old: what the table is (applied at a generation nobody moved since);
 * base: the new plan as compiled (which sets are dynamic); p: the same
 * with enc_if filled (base itself when nothing is filled). refill_filled:
 * flush and fill anew the sets base leaves dynamic and p fills. Returns
 * 0, -ENOMEM, or -ENOTUNIQ when the plans cannot be compared this way
 * (the caller reads the table instead). Pure.
 */
int zt_plan_diff_compute(const struct zt_plan *old, const struct zt_plan *base, const struct zt_plan *p,
			 bool refill_filled, struct zt_plan_diff *df);
/* The difference as one transaction (into b, begun). */
int zt_plan_diff_emit(struct zt_batch *b, const struct zt_plan *old, const struct zt_plan *p,
		      const struct zt_plan_diff *df);
void zt_plan_diff_clear(struct zt_plan_diff *df, const struct zt_plan *p);

#endif
