/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feed tables read back (lib/feed-nft.c): presence and owner, the
 * per-feed counters, and a map's elements as ranges.
 */
#ifndef ZT_FEED_NFT_H
#define ZT_FEED_NFT_H

#include "feed.h"
#include "nft-dump.h"

struct zt_nl;
/*
 * Is table ip ztseg (AF_INET) or ip6 ztseg (AF_INET6) there, and whose is
 * it? nl: a NETLINK_NETFILTER socket kept open for it (NULL: one opened for
 * the call; closing one costs milliseconds on a busy host, see conntrack.h).
 */
int zt_feeds_table_read(struct zt_nl *nl, uint8_t family, struct zt_nft_table_info *ret);
/* The counter of every feed chain of the family's table, to cb (nl as above). */
int zt_feeds_counters_read(struct zt_nl *nl, uint8_t family,
			   void (*cb)(const char *feed, uint64_t packets, uint64_t bytes, void *userdata),
			   void *userdata);
/*
 * The ids of the family's feed_ids, each given to intern(name, kid, &id)
 * (the daemon takes them over before it names its feeds). -ENOENT when
 * there is no such map.
 */
int zt_feeds_ids_read(uint8_t family, int (*intern)(const char *feed, uint32_t kid, uint32_t *id, void *userdata),
		      void *userdata);
/*
 * Map `set` of the family's table as ranges: an interval map ("listed_src",
 * "listed_dst"), or, exact, a hash map ("listed_src_x", "listed_dst_x").
 * Each element's data is a kernel feed id; feed_ids names its feed, and
 * intern(name, kid, &id) gives the daemon's id (kid if it can). The
 * element's feed is that id, or UINT32_MAX when the id is unknown, not
 * ours, or not the daemon's for that name. -ENOENT when there is no such map.
 */
int zt_feeds_set_read(uint8_t family, const char *set, bool exact,
		      int (*intern)(const char *feed, uint32_t kid, uint32_t *id, void *userdata), void *userdata,
		      struct zt_fset *ret);
/*
 * The shard selector `set` ("listed_src", "listed_dst") of the family's
 * table as a layout: its ranges and the slots they jump to. -ENOENT: no
 * such map; -ENODATA: empty; -EINVAL: not a layout of slots under n_slots
 * covering the address space (another layout, or a hand's).
 */
int zt_feeds_selector_read(uint8_t family, const char *set, size_t n_slots, struct zt_flayout *ret);

#endif
