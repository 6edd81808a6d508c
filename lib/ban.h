/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flood bans as the kernel holds them (threats.flood: the ban maps the
 * packet path fills): read back with what each one is, and the elements
 * that lift one. doc/RULESET.md "Flood limits".
 */
#ifndef ZT_BAN_H
#define ZT_BAN_H

#include "emit.h"
#include "nl.h"
#include "plan.h"

struct zt_ban {
	size_t flood;			/* index into plan->flood */
	uint32_t id;			/* that limit's id (zt_plan_flood) */
	uint8_t family;
	uint8_t addr[16];		/* the source prefix's first address */
	uint8_t plen;
	uint32_t reason;		/* ZT_BAN_REASON_* */
	uint64_t timeout_ms, expires_ms;
	uint64_t packets;		/* dropped while banned, the tripping packet included */
};

/* "per-source rate" / "connections" / "?" */
const char *zt_ban_reason_name(uint32_t reason);

/* Every ban of plan's limits: one element dump per ban map over nl. *ret is allocated. */
int zt_bans_dump(struct zt_nl *nl, const struct zt_plan *plan, struct zt_ban **ret, size_t *n_ret);
/* The elements of one ban set of single addresses (anomaly bans), appended to *v; -ENOENT: no such set. */
int zt_bans_dump_set(struct zt_nl *nl, const char *set, uint8_t family, struct zt_ban **v, size_t *n, size_t *cap);

/*
 * The packets of counter "flood_bans" (one per ban the packet path made):
 * one plain request, so that a poll learns cheaply whether there is
 * anything new to read. -ENOENT without flood limits.
 */
int zt_bans_made(struct zt_nl *nl, uint64_t *ret);

/* "203.0.113.10" or "2001:db8:ffff::/64" into buf. */
const char *zt_ban_source_fmt(const struct zt_ban *b, char *buf, size_t len);

/*
 * Into batch b: delete the ban of (family, addr) from every limit of plan
 * with bans (addr masked to each limit's prefix). ZT_NFT_MSG_DESTROYSETELEM:
 * a source that is not banned is no error.
 */
int zt_bans_emit_unban(struct zt_batch *b, const struct zt_plan *plan, uint8_t family, const uint8_t addr[16]);

#endif
