/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit segments (`units:`): their checks, and which unit zone a cgroup is
 * in. A unit segment's zone holds the host-local sockets of its units
 * (cgroup.h says which cgroups a unit name can match).
 */
#include <errno.h>
#include <string.h>

#include "policy.h"

bool zt_policy_has_units(const struct zt_policy *p)
{
	for (size_t i = 0; i < p->n_segs; i++)
		if (p->segs[i].n_units)
			return true;
	return false;
}

#define unit_err(d, pos, ...)                                                                      \
	(zt_diag_add((d), ZT_SEV_ERROR, (pos)->file, (pos)->line, (pos)->col, __VA_ARGS__) == -ENOMEM \
		 ? -ENOMEM                                                                         \
		 : 0)

/*
 * Units need hub.protect-host (the host's own traffic is judged only
 * then), only the hub file may name them (a unit is host identity, which
 * no delegation hands out), and no unit may be in two zones.
 */
int zt_policy_check_units(const struct zt_policy *p, struct zt_diags *d)
{
	size_t errors = d->n_errors;
	int r;

	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];

		if (!s->n_units)
			continue;
		if (!p->hub.protect_host &&
		    (r = unit_err(d, &s->units[0].pos,
				  "segment '%s' has units, which need hub.protect-host: true "
				  "(the host's own connections are judged only then)", s->name)) < 0)
			return r;
		if (!s->in_hub_file &&
		    (r = unit_err(d, &s->units[0].pos,
				  "segment '%s': units may only be named in ztseg.yaml, not in a delegated "
				  "segment file", s->name)) < 0)
			return r;
		for (size_t u = 0; u < s->n_units; u++)
			for (size_t j = i; j < p->n_segs; j++)
				for (size_t v = j == i ? u + 1 : 0; v < p->segs[j].n_units; v++) {
					const struct zt_unit *x = &s->units[u], *y = &p->segs[j].units[v];

					if (!zt_unitpat_overlap(&x->pat, &y->pat))
						continue;
					if ((r = unit_err(d, &y->pos,
							  "unit '%s' overlaps unit '%s' listed before: a unit "
							  "is in one zone", y->pat.name, x->pat.name)) < 0)
						return r;
				}
	}
	return d->n_errors > errors ? -EINVAL : 0;
}

int zt_policy_unit_segment(const struct zt_policy *p, const char *rel)
{
	for (size_t i = 0; i < p->n_segs; i++)
		for (size_t u = 0; u < p->segs[i].n_units; u++)
			if (zt_unitpat_match(&p->segs[i].units[u].pat, rel))
				return (int)i;
	return -1;
}
