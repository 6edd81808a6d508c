/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode (ztseg.yaml(5) "OBSERVE MODE"): which segments observe, and
 * which connections pass as would-deny. The rule the kernel applies
 * (lib/compile-observe.c) and explain's reference are both this one.
 */
#include "policy.h"

enum zt_mode zt_segment_mode(const struct zt_policy *p, size_t seg)
{
	return p->segs[seg].mode_set ? p->segs[seg].mode : p->hub.mode;
}

const struct zt_pos *zt_mode_pos(const struct zt_policy *p, size_t seg)
{
	if (seg < p->n_segs && p->segs[seg].mode_set)
		return &p->segs[seg].mode_pos;
	return p->hub.mode_pos.file ? &p->hub.mode_pos : &p->hub.pos;
}

/* -1: no segment (host, boundary, world); 0 enforce; 1 observe. */
static int zone_observes(const struct zt_policy *p, const struct zt_zone *z)
{
	if ((z->kind != ZT_ZONE_SEGMENT && z->kind != ZT_ZONE_SUBNET) || z->seg < 0 ||
	    (size_t)z->seg >= p->n_segs)
		return -1;
	return zt_segment_mode(p, (size_t)z->seg) == ZT_MODE_OBSERVE;
}

bool zt_policy_observes(const struct zt_policy *p, const struct zt_zone *a, const struct zt_zone *b)
{
	int x = zone_observes(p, a), y = zone_observes(p, b);

	/* A staging segment never opens a production one; zones that are no segment take no side. */
	if (x == 0 || y == 0)
		return false;
	if (x < 0 && y < 0)
		return p->hub.mode == ZT_MODE_OBSERVE;
	return true;
}
