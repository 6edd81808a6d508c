/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading table inet ztseg back from the kernel: whether it is there and
 * whose it is, and every chain, counter, set (with its elements) and rule.
 */
#ifndef ZT_NFT_DUMP_H
#define ZT_NFT_DUMP_H

#include "nl.h"

struct nftnl_chain;
struct nftnl_obj;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_set_elem;

struct zt_nft_table_info {
	bool present;
	uint32_t flags;			/* NFT_TABLE_F_* */
	bool has_owner;
	uint32_t owner;			/* the owning socket's port id */
};

/* Is table inet ztseg there, and whose is it? One dump over nl. */
int zt_nft_table_get(struct zt_nl *nl, struct zt_nft_table_info *ret);
/* The same for table ztseg of another family (NFPROTO_BRIDGE, …). */
int zt_nft_table_get_family(struct zt_nl *nl, uint16_t nfproto, struct zt_nft_table_info *ret);

/* A set as the kernel holds it. */
struct zt_kset {
	struct nftnl_set *set;
	struct nftnl_set_elem **el;	/* owned by holders */
	size_t n, cap;
	struct nftnl_set **holders;	/* one per element message */
	size_t n_holders, cap_holders;
};

/* What the kernel holds of our table. */
struct zt_kstate {
	struct zt_nft_table_info table;
	struct nftnl_chain **chains;
	size_t n_chains, cap_chains;
	struct nftnl_obj **objs;
	size_t n_objs, cap_objs;
	struct zt_kset *sets;
	size_t n_sets, cap_sets;
	struct nftnl_rule **rules;
	size_t n_rules, cap_rules;
};

/*
 * Chains, counters, sets with their elements and rules of our table, one
 * dump each (filtered by the kernel where it can). -EINTR: someone
 * committed meanwhile (NLM_F_DUMP_INTR).
 */
int zt_kstate_dump(struct zt_nl *nl, struct zt_kstate *k);
void zt_kstate_clear(struct zt_kstate *k);

/* The elements of one set of our table alone (ks->set stays NULL); -ENOENT if it is not there. */
int zt_kset_dump(struct zt_nl *nl, const char *name, struct zt_kset *ks);
void zt_kset_clear(struct zt_kset *ks);

#endif
