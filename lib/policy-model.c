/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model (policy.h) once loaded: freeing it, finding a zone by
 * name, and a zone's name for messages.
 */
#include <stdio.h>
#include "policy.h"

static void free_flow(struct zt_flow *f)
{
	for (size_t j = 0; j < f->n_from; j++)
		free(f->from[j].name);
	for (size_t j = 0; j < f->n_to; j++)
		free(f->to[j].name);
	free(f->name);
	free(f->from);
	free(f->to);
	free(f->ports);
}

static void free_flows(struct zt_flow *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free_flow(&f[i]);
	free(f);
}

static void free_boundaries(struct zt_boundary *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].name);
		free(b[i].ifs);
		free(b[i].addrs);
	}
	free(b);
}

struct zt_policy *zt_policy_free(struct zt_policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_segs; i++) {
		struct zt_segment *s = &p->segs[i];

		for (size_t j = 0; j < s->n_subnets; j++) {
			free(s->subnets[j].name);
			free(s->subnets[j].addrs);
		}
		free(s->subnets);
		free(s->name);
		free(s->ifs);
		free(s->units);
		free(s->addrs);
		free_flows(s->rules, s->n_rules);
	}
	free(p->segs);
	free_boundaries(p->hub.boundaries, p->hub.n_boundaries);
	free_boundaries(p->hub.delegations, p->hub.n_delegations);
	free(p->hub.enc_ifs);
	free_flows(p->hub.flows, p->hub.n_flows);
	for (size_t i = 0; i < p->n_jit; i++) {
		free_flow(&p->jit[i].f);
		for (size_t j = 0; j < p->jit[i].n_requesters; j++)
			free(p->jit[i].requesters[j]);
		free(p->jit[i].requesters);
	}
	free(p->jit);
	zt_threats_free(&p->threats);
	for (size_t i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p);
	return NULL;
}

int zt_policy_find_zone(const struct zt_policy *p, const char *name, struct zt_zone *ret)
{
	struct zt_zone z = { .kind = ZT_ZONE_NONE, .seg = -1, .sub = -1, .bnd = -1 };
	const char *dot = strchr(name, '.');
	size_t seglen = dot ? (size_t)(dot - name) : strlen(name);

	if (streq(name, "host")) {
		z.kind = ZT_ZONE_HOST;
	} else if (streq(name, "world")) {
		z.kind = ZT_ZONE_WORLD;
	} else {
		for (size_t i = 0; i < p->n_segs && z.kind == ZT_ZONE_NONE; i++) {
			const struct zt_segment *s = &p->segs[i];

			if (strlen(s->name) != seglen || strncmp(s->name, name, seglen))
				continue;
			if (!dot) {
				z = (struct zt_zone){ ZT_ZONE_SEGMENT, (int)i, -1, -1 };
				break;
			}
			for (size_t j = 0; j < s->n_subnets; j++)
				if (streq(s->subnets[j].name, dot + 1)) {
					z = (struct zt_zone){ ZT_ZONE_SUBNET, (int)i, (int)j, -1 };
					break;
				}
		}
		for (size_t i = 0; !dot && z.kind == ZT_ZONE_NONE && i < p->hub.n_boundaries; i++)
			if (streq(p->hub.boundaries[i].name, name))
				z = (struct zt_zone){ ZT_ZONE_BOUNDARY, -1, -1, (int)i };
	}
	if (z.kind == ZT_ZONE_NONE)
		return -ENOENT;
	*ret = z;
	return 0;
}

const char *zt_zone_fmt(const struct zt_policy *p, const struct zt_zone *z, char *buf, size_t len)
{
	switch (z->kind) {
	case ZT_ZONE_WORLD:
		snprintf(buf, len, "world");
		break;
	case ZT_ZONE_HOST:
		snprintf(buf, len, "host");
		break;
	case ZT_ZONE_SEGMENT:
		snprintf(buf, len, "%s", p->segs[z->seg].name);
		break;
	case ZT_ZONE_SUBNET:
		snprintf(buf, len, "%s.%s", p->segs[z->seg].name,
			 p->segs[z->seg].subnets[z->sub].name);
		break;
	case ZT_ZONE_BOUNDARY:
		snprintf(buf, len, "%s", p->hub.boundaries[z->bnd].name);
		break;
	default:
		snprintf(buf, len, "(unresolved)");
		break;
	}
	return buf;
}
