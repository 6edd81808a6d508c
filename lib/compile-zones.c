/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Zones and flows: zone ids, names and positions; the flows in candidate
 * order, with ids that stay while a flow's text does.
 */
#include "compile-internal.h"

/* Zone ids stay below 0x8000 so that src << 16 | dst never sets the flow-id bit. */
#define ZONES_MAX 32767

const char *zone_name(const struct cc *c, uint32_t id, char *buf, size_t len)
{
	const struct zinfo *z = &c->zones[id];
	struct zt_zone zz = { .kind = z->kind, .seg = z->seg, .sub = z->sub, .bnd = z->bnd };

	return zt_zone_fmt(c->p, &zz, buf, len);
}

/* ---- Zones ---- */

uint32_t zone_id(const struct cc *c, const struct zt_zone *z)
{
	switch (z->kind) {
	case ZT_ZONE_WORLD:
		return ID_WORLD;
	case ZT_ZONE_HOST:
		return ID_HOST;
	case ZT_ZONE_BOUNDARY:
		return 3 + (uint32_t)z->bnd;
	case ZT_ZONE_SEGMENT:
		return c->rest[z->seg];
	case ZT_ZONE_SUBNET:
		return c->rest[z->seg] + 1 + (uint32_t)z->sub;
	default:
		return 0;
	}
}

int zones_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	size_t n = 2 + p->hub.n_boundaries, id;

	for (size_t i = 0; i < p->n_segs && n <= ZONES_MAX; i++)
		n += 1 + p->segs[i].n_subnets;
	if (n > ZONES_MAX)
		return zt_diag_error(c->d, c->hub.file, c->hub.line, c->hub.col,
				     "the policy has more than %d zones (world, host, boundaries, "
				     "segments and their subnets); split it or merge subnets",
				     ZONES_MAX);
	if (!(c->zones = calloc(n + 1, sizeof(*c->zones))) ||
	    !(c->rest = calloc(p->n_segs ? p->n_segs : 1, sizeof(*c->rest))))
		return -ENOMEM;
	c->n_zones = n;
	c->zones[ID_WORLD] = (struct zinfo){ .kind = ZT_ZONE_WORLD, .seg = -1, .sub = -1, .bnd = -1,
					     .leaves = true };
	c->zones[ID_HOST] = (struct zinfo){ .kind = ZT_ZONE_HOST, .seg = -1, .sub = -1, .bnd = -1 };
	id = 3;
	for (size_t b = 0; b < p->hub.n_boundaries; b++) {
		const struct zt_boundary *bd = &p->hub.boundaries[b];
		bool dflt = false;

		for (size_t j = 0; j < bd->n_addrs; j++)
			dflt |= bd->addrs[j].plen == 0;
		c->zones[id++] = (struct zinfo){ .kind = ZT_ZONE_BOUNDARY, .seg = -1, .sub = -1,
						 .bnd = (int)b, .bound = bd->n_ifs > 0, .leaves = true,
						 .dflt = bd->n_ifs > 0 && dflt };
	}
	c->all_segs_have_ifs = true;
	for (size_t s = 0; s < p->n_segs; s++) {
		c->rest[s] = (uint32_t)id;
		c->zones[id++] = (struct zinfo){ .kind = ZT_ZONE_SEGMENT, .seg = (int)s, .sub = -1,
						 .bnd = -1, .unit = p->segs[s].n_units > 0 };
		for (size_t k = 0; k < p->segs[s].n_subnets; k++)
			c->zones[id++] = (struct zinfo){ .kind = ZT_ZONE_SUBNET, .seg = (int)s,
							 .sub = (int)k, .bnd = -1 };
		/* a unit zone's traffic is the host's own: never forwarded */
		if (!zt_seg_bound(&p->segs[s]) && !p->segs[s].n_units)
			c->all_segs_have_ifs = false;
	}
	return 0;
}

const struct zt_pos *zone_pos(const struct cc *c, uint32_t id)
{
	const struct zinfo *z = &c->zones[id];

	switch (z->kind) {
	case ZT_ZONE_BOUNDARY:
		return &c->p->hub.boundaries[z->bnd].pos;
	case ZT_ZONE_SEGMENT:
		return &c->p->segs[z->seg].pos;
	case ZT_ZONE_SUBNET:
		return &c->p->segs[z->seg].subnets[z->sub].pos;
	default:
		return &c->hub;
	}
}

/* "zone web.front segments.d/web.yaml" */
void zone_desc(struct cc *c, uint32_t id, char *buf, size_t len)
{
	char zn[2 * ZT_NAME_MAX + 2], ps[64];
	const struct zinfo *z = &c->zones[id];

	if (z->kind == ZT_ZONE_WORLD || z->kind == ZT_ZONE_HOST)
		snprintf(buf, len, "zone %s", zone_name(c, id, zn, sizeof(zn)));
	else
		snprintf(buf, len, "zone %s %s", zone_name(c, id, zn, sizeof(zn)),
			 src_str(zone_pos(c, id), ps, sizeof(ps)));
}

/* ---- Flow ids ---- */

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the sorted, unique strings of v to buf, comma-separated. */
static void canon_join(char *buf, size_t len, char **v, size_t n)
{
	size_t at = strlen(buf);

	qsort(v, n, sizeof(*v), strp_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && streq(v[i], v[i - 1]))
			continue;
		at += (size_t)snprintf(buf + (at < len ? at : len), at < len ? len - at : 0, "%s%s",
				       i ? "," : "", v[i]);
	}
}

static int canon_refs(const struct cc *c, const struct zt_ref *refs, size_t n, char *buf, size_t len)
{
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ char **v = NULL;
	size_t w = 2 * ZT_NAME_MAX + 2;

	if (!n)
		return 0;
	if (!(names = calloc(n, w)) || !(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = (char *)zt_zone_fmt(c->p, &refs[i].zone, names + i * w, w);
	canon_join(buf, len, v, n);
	return 0;
}

static int canon_ports(const struct zt_port *ports, size_t n, char *buf, size_t len)
{
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ char **v = NULL;
	size_t w = 48;

	if (!n)
		return 0;
	if (!(names = calloc(n, w)) || !(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = (char *)zt_port_fmt(&ports[i], names + i * w, w);
	canon_join(buf, len, v, n);
	return 0;
}

static void cat(char *buf, size_t len, const char *s)
{
	size_t at = strlen(buf);

	if (at < len)
		snprintf(buf + at, len - at, "%s", s);
}

/*
 * `kind|from,…|to,…|ports,…|encrypted` with names and ports sorted, so
 * that reordering a list keeps the id (and the counters) of a flow.
 */
static int canon_text(const struct cc *c, const struct cflow *f, char *buf, size_t len)
{
	static const char *const kinds[] = { [CF_HUB] = "hub", [CF_SAME] = "same",
					     [CF_RULE] = "rule", [CF_OOS] = "oos" };
	int r;

	snprintf(buf, len, "%s|", kinds[f->kind]);
	if (f->kind == CF_SAME) {
		cat(buf, len, c->p->segs[f->seg].name);
		cat(buf, len, "|");
		cat(buf, len, c->p->segs[f->seg].name);
		cat(buf, len, "|any|0");
		return 0;
	}
	if (f->kind == CF_OOS) {
		cat(buf, len, "||any|0");
		return 0;
	}
	if ((r = canon_refs(c, f->f->from, f->f->n_from, buf, len)) < 0)
		return r;
	cat(buf, len, "|");
	if ((r = canon_refs(c, f->f->to, f->f->n_to, buf, len)) < 0)
		return r;
	cat(buf, len, "|");
	if ((r = canon_ports(f->f->ports, f->f->n_ports, buf, len)) < 0)
		return r;
	cat(buf, len, f->f->encrypted ? "|1" : "|0");
	return 0;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

uint32_t fnv_add(uint32_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 16777619u;
	}
	return h;
}

uint32_t fnv_u32(uint32_t h, uint32_t v)
{
	return fnv_add(h, &v, sizeof(v));
}

uint32_t pats_hash(uint32_t h, const struct zt_ifpat *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h = fnv_add(h, p[i].name, strnlen(p[i].name, sizeof(p[i].name)) + 1);
		h = fnv_u32(h, p[i].wildcard);
	}
	return h;
}

/* An open-addressing set of ids, to bump collisions in definition order. */
static int ids_assign(struct cc *c)
{
	size_t n = 64, tlen = 64;
	_cleanup_free_ uint32_t *h = NULL;
	_cleanup_free_ char *text = NULL;
	int r;

	while (n < 2 * c->n_flows)
		n *= 2;
	for (size_t i = 0; i < c->n_flows; i++) {
		const struct zt_flow *f = c->flows[i].f;
		size_t need = 2 * ZT_NAME_MAX + 64;

		if (f)
			need += (f->n_from + f->n_to) * (2 * ZT_NAME_MAX + 3) + f->n_ports * 48;
		if (need > tlen)
			tlen = need;
	}
	if (!(h = calloc(n, sizeof(*h))) || !(text = malloc(tlen)))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_flows; i++) {
		uint32_t base, id;
		size_t j;

		if ((r = canon_text(c, &c->flows[i], text, tlen)) < 0)
			return r;
		base = fnv1a(text);
		c->flows[i].mh = fnv_add(c->glob, text, strlen(text));
		if (c->flows[i].encrypted)
			c->flows[i].mh = pats_hash(c->flows[i].mh, c->p->hub.enc_ifs,
						   c->p->hub.n_enc_ifs);
		for (uint32_t bump = 0;; bump++) {
			id = 0x80000000u | ((base + bump) & 0x7fffffffu);
			for (j = id & (n - 1); h[j] && h[j] != id; j = (j + 1) & (n - 1))
				;
			if (!h[j])
				break;
		}
		h[j] = id;
		c->flows[i].id = id;
	}
	return 0;
}

int flows_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	size_t n = p->hub.n_flows + 1;
	char ps[64];

	for (size_t s = 0; s < p->n_segs; s++)
		n += 1 + p->segs[s].n_rules;
	if (!(c->flows = calloc(n, sizeof(*c->flows))))
		return -ENOMEM;
	c->oos = SIZE_MAX;
	/* What every connection's meaning depends on (doc/RULESET.md, "Revocation"). */
	c->glob = fnv_u32(fnv_u32(2166136261u, p->hub.scope), p->hub.protect_host);
	for (size_t i = 0; i < p->hub.n_flows; i++) {
		const struct zt_flow *f = &p->hub.flows[i];
		struct cflow *cf = &c->flows[c->n_flows++];

		*cf = (struct cflow){ .kind = CF_HUB, .f = f, .seg = -1, .encrypted = f->encrypted,
				      .pos = f->pos };
		snprintf(cf->desc, sizeof(cf->desc), "flow %s %s", f->name,
			 src_str(&f->pos, ps, sizeof(ps)));
		snprintf(cf->logname, sizeof(cf->logname), "%s", f->name);
	}
	for (size_t s = 0; s < p->n_segs; s++) {
		const struct zt_segment *sg = &p->segs[s];

		if (!sg->isolate) {
			struct cflow *cf = &c->flows[c->n_flows++];

			*cf = (struct cflow){ .kind = CF_SAME, .seg = (int)s, .pos = sg->pos };
			snprintf(cf->desc, sizeof(cf->desc), "same-zone %s %s", sg->name,
				 src_str(&sg->pos, ps, sizeof(ps)));
			snprintf(cf->logname, sizeof(cf->logname), "%s same-zone", sg->name);
		}
		for (size_t i = 0; i < sg->n_rules; i++) {
			const struct zt_flow *f = &sg->rules[i];
			struct cflow *cf = &c->flows[c->n_flows++];

			*cf = (struct cflow){ .kind = CF_RULE, .f = f, .seg = (int)s,
					      .encrypted = f->encrypted, .pos = f->pos };
			snprintf(cf->desc, sizeof(cf->desc), "rule %s %s", f->name,
				 src_str(&f->pos, ps, sizeof(ps)));
			snprintf(cf->logname, sizeof(cf->logname), "%s:%s", sg->name, f->name);
		}
	}
	if (p->hub.scope == ZT_SCOPE_MEMBERS) {
		struct cflow *cf = &c->flows[c->n_flows];

		*cf = (struct cflow){ .kind = CF_OOS, .seg = -1, .pos = c->hub };
		snprintf(cf->desc, sizeof(cf->desc), "hub.scope %s", c->hubpos);
		snprintf(cf->logname, sizeof(cf->logname), "out-of-scope");
		c->oos = c->n_flows++;
	}
	return ids_assign(c);
}
