/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exact interface names the kernel hashes: for each interface-pattern set
 * the per-packet path searches (route_owner, zone_if, member_if, src_if,
 * dst_if, sub_if) a hash map twin holds the *names* of the interfaces the
 * host has, each with what the pattern sets give it — or, for a name no
 * pattern covers, the verdict that skips the pattern lookup. A name not in
 * a twin (a link newer than the last fill: ztsegd stopped, --oneshot, a
 * re-dump) misses and falls to the pattern set's rule right after: fail
 * closed. A twin's elements are a function of the name and the plan's
 * pattern sets alone, so an element left behind by a deleted link is
 * never wrong, only unused. doc/RULESET.md, "Interface names".
 */
#ifndef ZT_IFX_H
#define ZT_IFX_H

#include <net/if.h>
#include "plan.h"

#define ZT_IFX_ARMS 2

/* The pattern sets twin set draws from (up to ZT_IFX_ARMS, into out): how many; 0 for no twin. */
size_t zt_ifx_sources(const char *set, const char *out[ZT_IFX_ARMS]);

/* Is this set (by name) a twin the plan leaves dynamic and apply/ztsegd fill? */
bool zt_ifx_is_twin(const char *set);

/*
 * What twin s of plan p holds for interface ifname: 1 with *data filled
 * (a verdict or a mark), 0 when the twin holds nothing for it (the map of
 * marks, dst_ifx, for a name no pattern covers), -EINVAL when s is no
 * twin. Pure.
 */
int zt_ifx_value(const struct zt_plan *p, const struct zt_set *s, const char *ifname, struct zt_value *data);

/*
 * The elements twin s holds for these names (any order, duplicates
 * allowed): *ret (malloc'd, sorted as the plan sorts elements), *n_ret.
 */
int zt_ifx_elems(const struct zt_plan *p, const struct zt_set *s, const char (*names)[IFNAMSIZ], size_t n,
		 struct zt_elem **ret, size_t *n_ret);

#endif
