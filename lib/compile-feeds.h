/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feed tables `ip ztseg` and `ip6 ztseg` as nf_tables messages
 * (doc/RULESET.md "Threat feeds"): per family and direction a hash map of
 * single addresses (`listed_src_x`, `listed_dst_x`) and an interval map of
 * ranges (`listed_src`, `listed_dst`; nft keywords such as `dst` cannot
 * name a set in nft syntax), disjoint, whose elements carry plain data, the
 * id of the feed that lists them, looked up (hash first) on prerouting and
 * (`listed_dst*`) on output at priority -190, right after conntrack and
 * before any flow of `inet ztseg` (a connection's direction once checked
 * is not looked up again until an update lists something: its label bit);
 * the id then goes through the small verdict map
 * `feed_ids` to the chain of its feed: counter, NFLOG naming the feed,
 * drop or reject. No element refers to a chain, so a commit of elements
 * does not make the kernel validate jumps. Pure: builds batch messages only.
 */
#ifndef ZT_COMPILE_FEEDS_H
#define ZT_COMPILE_FEEDS_H

#include "emit.h"
#include "feed.h"

/*
 * After conntrack (-200): an established connection's packets skip the
 * lookups once its direction was checked (ZT_FEED_LABEL_BIT); still before
 * mangle (-150), DNAT (-100) and every chain of inet ztseg.
 */
#define ZT_FEED_PRIO (-190)
/*
 * ct label bits 120-123: this direction of the connection was checked in
 * prerouting (original, reply), in output (original, reply). ztsegd clears
 * them on the connections of addresses an update lists (conntrack.h).
 */
#define ZT_FEED_LABEL_BIT 120
#define ZT_FEED_CHAIN_PREFIX "feed_"
#define ZT_FEED_IDS "feed_ids"
/* The chain a listed packet goes to: its mark (the feed id) vmap @feed_ids. */
#define ZT_FEED_HIT "hit"
/*
 * Per family and direction: single addresses (/32, /128) in a hash map;
 * ranges in ZT_FEED_SHARDS interval maps, each holding one address range
 * (`listed_src_r0` …), chosen by the selector `listed_src`, an interval map
 * of ZT_FEED_SHARDS elements whose data jumps to the shard's chain.
 */
/*
 * 128: a commit into an interval map costs the kernel its whole map, so a
 * shard's size bounds how long one feed commit holds the commit lock (and
 * how long an rtnetlink event waits behind it): at 32 the longest commit
 * of a million-entry load took 21.3 ms, at 128 9.4 ms (bench/RESULTS.md).
 */
#define ZT_FEED_SHARDS 128
/*
 * The maps (slots) made per family and direction: the first layout uses
 * ZT_FEED_SHARDS of them; the rest are free for the ranges an update
 * moves out of a slot it would overfill (lib/feed-layout.c).
 */
#define ZT_FEED_SLOTS 256
#define ZT_FEED_SET_SRC "listed_src"
#define ZT_FEED_SET_DST "listed_dst"
#define ZT_FEED_SET_XSRC "listed_src_x"
#define ZT_FEED_SET_XDST "listed_dst_x"
/* nft's datatype number of `mark` (TYPE_MARK): the ids are shown as marks. */
#define ZT_NFT_TYPE_MARK 19
/* Feed ids above this, read back from a kernel map, are not taken as ours. */
#define ZT_FEED_ID_MAX 4095
#define ZT_FEED_LOG_PREFIX "ztseg feed "
/* Elements per NEWSETELEM/DELSETELEM message (the nest is 16 bits long). */
#define ZT_FEED_ELEMS_PER_MSG 128

struct zt_feed_rule {
	const char *name;
	uint32_t id;		/* its data in the maps: its element of feed_ids jumps to its chain */
	bool reject, log;
	bool keep;		/* the chain is there with these rules: leave it (and its counter) */
	bool src, dst;		/* it lists sources (direction in or both), destinations (out or both) */
};

/* The label bit of base chain out (else pre) and direction reply (else original), as a 16-byte register. */
void zt_feeds_label_bits(bool out, bool reply, uint32_t ret[4]);
/* All four. */
void zt_feeds_label_mask(uint32_t ret[4]);

/*
 * Both tables with their base chains and maps (created when absent), the
 * chain of each feed (its rules written anew) with its element of
 * feed_ids (added; one already there is left as it is) and the base
 * chains' rules written anew (the lookups of a direction only when a feed
 * lists that direction: no packet looks up maps that stay empty); the
 * ZT_FEED_SLOTS maps and chains of the shards, and, where
 * lay[family * 2 + dst] is given, the selector's elements (an empty
 * selector only). table_flags: NFT_TABLE_F_OWNER and _PERSIST as for
 * inet ztseg.
 */
int zt_feeds_emit_skeleton(struct zt_batch *b, uint32_t table_flags, const struct zt_feed_rule *f, size_t n,
			   unsigned log_group, unsigned log_rate, unsigned log_burst,
			   const struct zt_flayout *const lay[4]);
/*
 * The id and the chain of a feed gone from the policy, in both tables (its
 * elements must be gone first).
 */
int zt_feeds_emit_chain_del(struct zt_batch *b, const char *feed, uint32_t id);
/*
 * Chunks [c, c_end) of a difference of one direction's map of old's
 * family: the ranges, each into the slot `listed_src_rK` (dst:
 * `listed_dst_rK`) lay gives it (old and new cut at its ranges), or,
 * lay NULL, the single addresses of the hash map `listed_src_x`/
 * `listed_dst_x`: each chunk's deletes, then its adds, whose data is
 * element.feed (the feed's id). Chunk after chunk in one transaction keeps
 * each chunk's guarantee (zt_fset_diff()).
 */
int zt_feeds_emit_chunks(struct zt_batch *b, bool dst, const struct zt_flayout *lay, const struct zt_fset *old,
			 const struct zt_fset *new, const struct zt_fdiff *df, size_t c, size_t c_end);
/*
 * The selector `listed_src` (dst: `listed_dst`) of the family's table: the
 * elements of layout old deleted (unless NULL), then those of new added —
 * each range jumps to its slot's chain `src_rK` (`dst_rK`). In one
 * transaction the selector changes at once (a single interval map).
 */
int zt_feeds_emit_selector(struct zt_batch *b, uint8_t family, bool dst, const struct zt_flayout *old,
			   const struct zt_flayout *new);
/* Slot k's map of one direction emptied (a free slot about to take ranges: whatever it held goes). */
int zt_feeds_emit_slot_flush(struct zt_batch *b, uint8_t family, bool dst, size_t k);
/* Both feed tables away, if they exist (NFT_MSG_DESTROYTABLE, kernel 6.3+). */
int zt_feeds_emit_destroy(struct zt_batch *b);

#endif
