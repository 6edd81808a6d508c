/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exact interface names the kernel hashes: for each interface-pattern set
 * the per-packet path searches (route_owner, zone_if, member_if, sub_if,
 * dst_if) hash sets and maps twin it with the *names* of the interfaces
 * the host has: the names it covers (zone_ifx, member_ifx, sub_ifx), the
 * names it does not (zone_ifn, member_ifn), dst_if's rest id of a name
 * (dst_ifx), accept or return by whether a member pattern covers it
 * (route_ownx). A name not in a twin (a link newer than the last fill:
 * ztsegd stopped, --oneshot, a re-dump) misses every one of them and falls
 * to the pattern set's rule right after: fail closed. A twin's elements
 * are a function of the name and the plan's pattern sets alone, so an
 * element left behind by a deleted link is never wrong, only unused.
 *
 * No twin element is a jump or goto: for one of those the kernel
 * validates every chain of the table in the commit (0.26-0.30 s at 10,000
 * segments), and a new link's twins are written in its event's batch.
 * doc/RULESET.md, "Interface names".
 */
#ifndef ZT_IFX_H
#define ZT_IFX_H

#include <net/if.h>
#include "plan.h"

/* The pattern set twin set follows; NULL for no twin. */
const char *zt_ifx_source(const char *set);

/* Is this set (by name) a twin the plan leaves dynamic and apply/ztsegd fill? */
bool zt_ifx_is_twin(const char *set);

/*
 * What twin s of plan p holds for interface ifname: 1 when it holds an
 * element, with *data filled (a verdict, a mark, or ZT_TYPE_NONE for a
 * plain set), 0 when it holds nothing for it, -EINVAL when s is no twin.
 * Pure.
 */
int zt_ifx_value(const struct zt_plan *p, const struct zt_set *s, const char *ifname, struct zt_value *data);

/*
 * The elements twin s holds for these names (any order, duplicates
 * allowed): *ret (malloc'd, sorted as the plan sorts elements), *n_ret.
 */
int zt_ifx_elems(const struct zt_plan *p, const struct zt_set *s, const char (*names)[IFNAMSIZ], size_t n,
		 struct zt_elem **ret, size_t *n_ret);

#endif
