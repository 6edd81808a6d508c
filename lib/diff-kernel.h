/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The difference between a plan and the table as read back from the
 * kernel (objects compared in canonical forms), and its transaction.
 */
#ifndef ZT_DIFF_KERNEL_H
#define ZT_DIFF_KERNEL_H

#include "diff.h"
#include "nft-dump.h"

struct nftnl_set_elem;

struct zt_kernel_diff {
	/* per plan object (set_add: indexes into set_enc) */
	struct zt_pflags pf;
	struct zt_set_enc *set_enc;
	/* per kernel object */
	bool *kchain_del, *kset_del, *kobj_del;
	struct nftnl_set_elem ***kset_rm;	/* hash sets: kernel elements to remove */
	size_t *n_kset_rm;
	size_t *kset_of;			/* plan set -> kernel set index, SIZE_MAX */
	size_t changed;				/* objects added, changed or removed */
};

/*
 * What makes the table k into plan p. Returns 0, -ENOMEM, or another
 * -errno for what cannot be compared (the caller replaces the table).
 */
int zt_kernel_diff_compute(const struct zt_plan *p, struct zt_kstate *k, struct zt_kernel_diff *df);
/* The difference as one transaction (into b, begun). */
int zt_kernel_diff_emit(struct zt_batch *b, const struct zt_plan *p, const struct zt_kstate *k,
			const struct zt_kernel_diff *df);
void zt_kernel_diff_clear(struct zt_kernel_diff *df, const struct zt_plan *p, const struct zt_kstate *k);

#endif
