/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode (ztseg.yaml(5) "OBSERVE MODE"): which segments observe, and
 * which connections pass as would-deny. The rule the kernel applies
 * (lib/compile-observe.c) and explain's reference are both this one.
 */
#include "policy.h"

#include "diag.h"

/* The delegation of a segment file's segment, when it has a mode of its own. */
static const struct zt_boundary *deleg_mode(const struct zt_policy *p, size_t seg)
{
	int d = p->segs[seg].delegation;

	if (d < 0 || (size_t)d >= p->hub.n_delegations || !p->hub.delegations[d].mode_set)
		return NULL;
	return &p->hub.delegations[d];
}

/* What the hub says: the delegation's mode, else hub.mode. */
static enum zt_mode hub_mode_of(const struct zt_policy *p, size_t seg)
{
	const struct zt_boundary *dg = deleg_mode(p, seg);

	return dg ? dg->mode : p->hub.mode;
}

enum zt_mode zt_segment_mode(const struct zt_policy *p, size_t seg)
{
	return p->segs[seg].mode_set ? p->segs[seg].mode : hub_mode_of(p, seg);
}

const struct zt_pos *zt_mode_pos(const struct zt_policy *p, size_t seg)
{
	const struct zt_boundary *dg = seg < p->n_segs ? deleg_mode(p, seg) : NULL;

	if (seg < p->n_segs && p->segs[seg].mode_set)
		return &p->segs[seg].mode_pos;
	if (dg)
		return &dg->mode_pos;
	return p->hub.mode_pos.file ? &p->hub.mode_pos : &p->hub.pos;
}

int zt_policy_check_modes(const struct zt_policy *p, struct zt_diags *d)
{
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];
		int r;

		/* Observing opens what the policy denies: a spoke does that only where the hub does. */
		if (s->in_hub_file || !s->mode_set || s->mode != ZT_MODE_OBSERVE ||
		    hub_mode_of(p, i) == ZT_MODE_OBSERVE)
			continue;
		r = zt_diag_error(d, s->mode_pos.file, s->mode_pos.line, s->mode_pos.col,
				  "segment '%s': mode: observe in a segment file needs the hub's leave: "
				  "mode: observe in hub.delegate.%s (or hub.mode)", s->name, s->name);
		if (r < 0 && r != -EINVAL)
			return r;
	}
	return 0;
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
