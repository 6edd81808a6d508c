/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feed tables `ip ztseg` and `ip6 ztseg` as nf_tables messages
 * (doc/RULESET.md "Threat feeds"): per family two interval verdict maps,
 * `listed_src` and `listed_dst` (nft keywords such as `dst` cannot name
 * a set in nft syntax), looked up once
 * each on prerouting and once (`listed_dst`) on output at priority -300, before
 * conntrack and before any flow of `inet ztseg`; each element jumps to
 * the chain of the feed that lists it: counter, NFLOG naming the feed,
 * drop or reject. Pure: builds batch messages only.
 */
#ifndef ZT_COMPILE_FEEDS_H
#define ZT_COMPILE_FEEDS_H

#include "emit.h"
#include "feed.h"

#define ZT_FEED_PRIO (-300)
#define ZT_FEED_CHAIN_PREFIX "feed_"
#define ZT_FEED_LOG_PREFIX "ztseg feed "
/* Elements per NEWSETELEM/DELSETELEM message (the nest is 16 bits long). */
#define ZT_FEED_ELEMS_PER_MSG 128

struct zt_feed_rule {
	const char *name;
	bool reject, log;
	bool keep;		/* the chain is there with these rules: leave it (and its counter) */
};

/*
 * Both tables with their base chains and maps (created when absent), the
 * chain of each feed (its rules written anew) and the base chains' rules
 * written anew. table_flags: NFT_TABLE_F_OWNER and _PERSIST as for inet ztseg.
 */
int zt_feeds_emit_skeleton(struct zt_batch *b, uint32_t table_flags, const struct zt_feed_rule *f, size_t n,
			   unsigned log_group, unsigned log_rate, unsigned log_burst);
/* The chain of a feed gone from the policy, in both tables (its elements must be gone first). */
int zt_feeds_emit_chain_del(struct zt_batch *b, const char *feed);
/*
 * Chunk c of a difference of one map (`listed_src` or `listed_dst` of old's family):
 * the deletes, then the adds, whose data jumps to the chain of
 * names[element.feed].
 */
int zt_feeds_emit_chunk(struct zt_batch *b, const char *set, const struct zt_fset *old, const struct zt_fset *new,
			const struct zt_fdiff *df, size_t c, const char *const *names);
/* Both feed tables away, if they exist (NFT_MSG_DESTROYTABLE, kernel 6.3+). */
int zt_feeds_emit_destroy(struct zt_batch *b);

#endif
