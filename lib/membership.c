/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Membership computed from scratch (zt_membership_compute()), and the
 * difference of two memberships: the set elements to add and remove.
 */
#include <arpa/inet.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include "bridge.h"
#include "membership-internal.h"

/* ---- what the full recompute and the tracker share --------------------------- */

static int pat_key_cmp(const void *a, const void *b)
{
	const struct member_pat *x = a, *y = b;

	if (x->wildcard != y->wildcard)
		return x->wildcard ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int pat_cmp(const void *a, const void *b)
{
	const struct member_pat *x = a, *y = b;
	int c = pat_key_cmp(a, b);

	if (c)
		return c;
	return (x->owner > y->owner) - (x->owner < y->owner);
}

static int pats_add(struct member_pats *x, const struct zt_ifpat *ifs, size_t n, size_t owner)
{
	for (size_t i = 0; i < n; i++) {
		if (ZT_GROW(x->v, x->cap, x->n) < 0)
			return -ENOMEM;
		memset(&x->v[x->n], 0, sizeof(x->v[x->n]));
		snprintf(x->v[x->n].name, sizeof(x->v[x->n].name), "%s", ifs[i].name);
		x->v[x->n].wildcard = ifs[i].wildcard;
		x->v[x->n].owner = owner;
		x->n++;
	}
	return 0;
}

int member_patterns_build(struct member_patterns *x, const struct zt_policy *p)
{
	int k;

	if (p->n_segs && !(x->unbridged = calloc(p->n_segs, sizeof(*x->unbridged))))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_segs; i++) {
		k = pats_add(&x->seg, p->segs[i].ifs, p->segs[i].n_ifs, i);
		if (k < 0)
			return k;
		/* table bridge ztseg enforces the ports of a segment with a bridge index (lib/bridge.h) */
		x->unbridged[i] = p->segs[i].n_ifs && !zt_bridge_index(p, i);
	}
	k = pats_add(&x->enc, p->hub.enc_ifs, p->hub.n_enc_ifs, 0);
	if (k < 0)
		return k;
	if (x->seg.n)
		qsort(x->seg.v, x->seg.n, sizeof(*x->seg.v), pat_cmp);
	if (x->enc.n)
		qsort(x->enc.v, x->enc.n, sizeof(*x->enc.v), pat_cmp);
	return 0;
}

void member_patterns_clear(struct member_patterns *x)
{
	free(x->seg.v);
	free(x->enc.v);
	free(x->unbridged);
	*x = (struct member_patterns){};
}

/* The first (lowest owner) entry equal to key, or NULL. */
static const struct member_pat *pats_find(const struct member_pats *x, const struct member_pat *key)
{
	const struct member_pat *hit = bsearch(key, x->v, x->n, sizeof(*x->v), pat_key_cmp);

	while (hit && hit > x->v && pat_key_cmp(hit - 1, key) == 0)
		hit--;
	return hit;
}

ssize_t member_pats_lookup(const struct member_pats *x, const char *ifname)
{
	struct member_pat key = {};
	const struct member_pat *hit;
	size_t len = strnlen(ifname, IFNAMSIZ - 1);

	if (x->n == 0)
		return -1;
	memcpy(key.name, ifname, len);
	hit = pats_find(x, &key);
	if (hit)
		return (ssize_t)hit->owner;
	key.wildcard = true;
	for (size_t l = len + 1; l-- > 0;) {
		key.name[l] = '\0';
		hit = pats_find(x, &key);
		if (hit)
			return (ssize_t)hit->owner;
	}
	return -1;
}

struct member_local {
	uint8_t family;
	uint8_t addr[16];
};

static int local_cmp(const void *a, const void *b)
{
	const struct member_local *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

static int local_fn(const struct zt_rtnl_addr *a, void *userdata)
{
	struct member_locals *ls = userdata;
	struct member_local *l;

	if (ZT_GROW(ls->v, ls->cap, ls->n) < 0)
		return -ENOMEM;
	l = &ls->v[ls->n++];
	memset(l, 0, sizeof(*l));
	l->family = a->addr.family;
	memcpy(l->addr, a->addr.addr, ZT_ADDR_LEN(a->addr.family));
	return 0;
}

int member_locals_build(struct member_locals *l, const struct zt_rtnl_state *s)
{
	int k;

	l->n = 0;
	k = zt_rtnl_state_foreach_addr(s, local_fn, l);
	if (k < 0)
		return k;
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), local_cmp);
	return 0;
}

void member_locals_clear(struct member_locals *l)
{
	free(l->v);
	*l = (struct member_locals){};
}

static bool locals_has(const struct member_locals *l, const struct zt_cidr *c)
{
	struct member_local key = { .family = c->family };

	if (l->n == 0)
		return false;
	memcpy(key.addr, c->addr, ZT_ADDR_LEN(c->family));
	return bsearch(&key, l->v, l->n, sizeof(key), local_cmp) != NULL;
}

enum member_route member_route_class(const struct member_locals *l, const struct zt_rtnl_route *rt)
{
	if (rt->type != RTN_UNICAST)
		return MEMBER_ROUTE_IGNORED;
	if (rt->dst.plen == 0)
		return MEMBER_ROUTE_DEFAULT;
	if (zt_addr_is_linklocal_or_unspec(rt->dst.family, rt->dst.addr))
		return MEMBER_ROUTE_IGNORED;
	if (rt->dst.plen == ZT_MAX_PLEN(rt->dst.family) && locals_has(l, &rt->dst))
		return MEMBER_ROUTE_IGNORED;
	return MEMBER_ROUTE_ROUTED;
}

bool member_bridge_port(const struct zt_rtnl_state *s, const struct zt_rtnl_link *l,
			char bridge[IFNAMSIZ])
{
	const struct zt_rtnl_link *master;

	if (!zt_rtnl_link_bridge_port(s, l, &master))
		return false;
	if (master)
		memcpy(bridge, master->name, IFNAMSIZ);
	else
		snprintf(bridge, IFNAMSIZ, "#%d", l->master);
	return true;
}

void member_warning_set(struct zt_member_warning *w, enum zt_member_warning_kind kind,
			const char *seg, const char *ifname, const char *other,
			const struct zt_cidr *prefix)
{
	memset(w, 0, sizeof(*w));
	w->kind = kind;
	memcpy(w->seg, seg, sizeof(w->seg));
	if (ifname)
		snprintf(w->ifname, sizeof(w->ifname), "%s", ifname);
	if (other)
		snprintf(w->other, sizeof(w->other), "%s", other);
	if (prefix)
		w->prefix = *prefix;
}

size_t member_sort_unique(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
			  int (*same)(const void *, const void *))
{
	char *v = base;
	size_t out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, size, cmp);
	for (size_t i = 1; i < n; i++) {
		if (same(v + out * size, v + i * size) == 0)
			continue;
		out++;
		if (out != i)
			memcpy(v + out * size, v + i * size, size);
	}
	return out + 1;
}

int member_if_cmp(const void *a, const void *b)
{
	const struct zt_member_if *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

int member_if_same(const void *a, const void *b)
{
	const struct zt_member_if *x = a, *y = b;

	return strcmp(x->name, y->name);
}

int member_enc_cmp(const void *a, const void *b)
{
	const struct zt_enc_link *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	c = strcmp(x->kind, y->kind);
	if (c)
		return c;
	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

int member_enc_same(const void *a, const void *b)
{
	return strcmp(((const struct zt_enc_link *)a)->name, ((const struct zt_enc_link *)b)->name);
}

int member_warning_cmp(const void *a, const void *b)
{
	const struct zt_member_warning *x = a, *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	c = strcmp(x->seg, y->seg);
	if (!c)
		c = strcmp(x->ifname, y->ifname);
	if (!c)
		c = zt_cidr_cmp(&x->prefix, &y->prefix);
	if (!c)
		c = strcmp(x->other, y->other);
	return c;
}

int member_cidr_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
}

/* ---- the full recompute ------------------------------------------------------ */

/* A prefix routed to a segment (both kept: two segments may claim one prefix). */
struct routed {
	struct zt_cidr pfx;
	size_t seg;
};

static int routed_cmp(const void *a, const void *b)
{
	const struct routed *x = a, *y = b;
	int c = zt_cidr_cmp(&x->pfx, &y->pfx);

	if (c)
		return c;
	return (x->seg > y->seg) - (x->seg < y->seg);
}

struct mbuild {
	const struct zt_rtnl_state *s;
	struct zt_membership *m;
	struct member_patterns pats;
	struct member_locals locals;
	size_t *cap_ifs;
	struct routed *routed;
	size_t n_routed, cap_routed;
	size_t cap_warn, cap_enc;
	/* the member link whose routes are being walked */
	const struct zt_rtnl_link *cur;
	size_t cur_seg;
};

static int add_warning(struct mbuild *b, enum zt_member_warning_kind kind, size_t seg,
		       const char *ifname, const char *other, const struct zt_cidr *prefix)
{
	struct zt_membership *m = b->m;

	if (ZT_GROW(m->warnings, b->cap_warn, m->n_warnings) < 0)
		return -ENOMEM;
	member_warning_set(&m->warnings[m->n_warnings++], kind, m->segs[seg].name, ifname, other,
			   prefix);
	return 0;
}

static int route_fn(const struct zt_rtnl_route *rt, void *userdata)
{
	struct mbuild *b = userdata;

	switch (member_route_class(&b->locals, rt)) {
	case MEMBER_ROUTE_IGNORED:
		return 0;
	case MEMBER_ROUTE_DEFAULT:
		return add_warning(b, ZT_MEMBER_WARN_DEFAULT_ROUTE, b->cur_seg, b->cur->name, NULL,
				   &rt->dst);
	case MEMBER_ROUTE_ROUTED:
		break;
	}
	if (ZT_GROW(b->routed, b->cap_routed, b->n_routed) < 0)
		return -ENOMEM;
	b->routed[b->n_routed].pfx = rt->dst;
	b->routed[b->n_routed].seg = b->cur_seg;
	b->n_routed++;
	return 0;
}

/* l is a member of segment seg: its name, the bridge it is a port of, its routes. */
static int add_member(struct mbuild *b, const struct zt_rtnl_link *l, size_t seg)
{
	struct zt_segment_members *sm = &b->m->segs[seg];
	char bridge[IFNAMSIZ];
	int k;

	if (ZT_GROW(sm->ifs, b->cap_ifs[seg], sm->n_ifs) < 0)
		return -ENOMEM;
	memset(&sm->ifs[sm->n_ifs], 0, sizeof(sm->ifs[0]));
	memcpy(sm->ifs[sm->n_ifs].name, l->name, sizeof(l->name));
	sm->ifs[sm->n_ifs].ifindex = l->ifindex;
	sm->n_ifs++;
	if (b->pats.unbridged[seg] && member_bridge_port(b->s, l, bridge)) {
		k = add_warning(b, ZT_MEMBER_WARN_BRIDGE_PORT, seg, l->name, bridge, NULL);
		if (k < 0)
			return k;
	}
	if (streq(l->kind, "bridge")) {
		k = add_warning(b, ZT_MEMBER_WARN_BRIDGE_ITSELF, seg, l->name, NULL, NULL);
		if (k < 0)
			return k;
	}
	b->cur = l;
	b->cur_seg = seg;
	return zt_rtnl_state_foreach_route_oif(b->s, l->ifindex, route_fn, b);
}

static int member_link_fn(const struct zt_rtnl_link *l, void *userdata)
{
	struct mbuild *b = userdata;
	struct zt_membership *m = b->m;
	ssize_t seg = member_pats_lookup(&b->pats.seg, l->name);

	if (seg >= 0) {
		int k = add_member(b, l, (size_t)seg);

		if (k < 0)
			return k;
	}
	if (member_pats_lookup(&b->pats.enc, l->name) >= 0) {
		struct zt_enc_link *e;

		if (ZT_GROW(m->enc, b->cap_enc, m->n_enc) < 0)
			return -ENOMEM;
		e = &m->enc[m->n_enc++];
		memset(e, 0, sizeof(*e));
		memcpy(e->name, l->name, sizeof(e->name));
		memcpy(e->kind, l->kind, sizeof(e->kind));
		e->ifindex = l->ifindex;
	}
	return 0;
}

/* Sort the routed pairs, warn about prefixes two segments claim, hand them out. */
static int distribute_routed(struct mbuild *b)
{
	struct zt_membership *m = b->m;
	size_t n = member_sort_unique(b->routed, b->n_routed, sizeof(*b->routed), routed_cmp,
				      routed_cmp);

	for (size_t i = 0; i < n; i++) {
		struct zt_segment_members *sm = &m->segs[b->routed[i].seg];

		if (i > 0 && zt_cidr_cmp(&b->routed[i].pfx, &b->routed[i - 1].pfx) == 0) {
			size_t first = i - 1;
			int k;

			while (first > 0 && zt_cidr_cmp(&b->routed[first - 1].pfx, &b->routed[i].pfx) == 0)
				first--;
			k = add_warning(b, ZT_MEMBER_WARN_PREFIX_CONFLICT, b->routed[first].seg, NULL,
					sm->name, &b->routed[i].pfx);
			if (k < 0)
				return k;
		}
		sm->n_routed++;
	}
	for (size_t i = 0; i < m->n_segs; i++) {
		if (m->segs[i].n_routed == 0)
			continue;
		m->segs[i].routed = calloc(m->segs[i].n_routed, sizeof(struct zt_cidr));
		if (!m->segs[i].routed)
			return -ENOMEM;
		m->segs[i].n_routed = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct zt_segment_members *sm = &m->segs[b->routed[i].seg];

		sm->routed[sm->n_routed++] = b->routed[i].pfx;
	}
	return 0;
}

/* One entry per policy segment: its name and its static addresses. */
static int segments_init(struct zt_membership *m, const struct zt_policy *p)
{
	if (p->n_segs) {
		m->segs = calloc(p->n_segs, sizeof(*m->segs));
		if (!m->segs)
			return -ENOMEM;
	}
	m->n_segs = p->n_segs;
	for (size_t i = 0; i < p->n_segs; i++) {
		struct zt_segment_members *sm = &m->segs[i];
		const struct zt_segment *seg = &p->segs[i];

		snprintf(sm->name, sizeof(sm->name), "%s", seg->name ? seg->name : "");
		if (seg->n_addrs) {
			sm->statics = calloc(seg->n_addrs, sizeof(*sm->statics));
			if (!sm->statics)
				return -ENOMEM;
			memcpy(sm->statics, seg->addrs, seg->n_addrs * sizeof(*sm->statics));
			sm->n_statics = seg->n_addrs;
		}
	}
	return 0;
}

static int mbuild_run(struct mbuild *b, const struct zt_policy *p)
{
	struct zt_membership *m = b->m;
	int k;

	k = segments_init(m, p);
	if (k < 0)
		return k;
	if (p->n_segs) {
		b->cap_ifs = calloc(p->n_segs, sizeof(*b->cap_ifs));
		if (!b->cap_ifs)
			return -ENOMEM;
	}
	k = member_patterns_build(&b->pats, p);
	if (k >= 0)
		k = member_locals_build(&b->locals, b->s);
	if (k >= 0)
		k = zt_rtnl_state_foreach_link(b->s, member_link_fn, b);
	if (k >= 0)
		k = distribute_routed(b);
	if (k < 0)
		return k;
	for (size_t i = 0; i < m->n_segs; i++)
		m->segs[i].n_ifs = member_sort_unique(m->segs[i].ifs, m->segs[i].n_ifs,
						      sizeof(struct zt_member_if), member_if_cmp,
						      member_if_same);
	m->n_enc = member_sort_unique(m->enc, m->n_enc, sizeof(*m->enc), member_enc_cmp,
				      member_enc_same);
	m->n_warnings = member_sort_unique(m->warnings, m->n_warnings, sizeof(*m->warnings),
					   member_warning_cmp, member_warning_cmp);
	return 0;
}

int zt_membership_compute(const struct zt_rtnl_state *s, const struct zt_policy *p,
			  struct zt_membership **ret)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct mbuild b = { .s = s };
	int k;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	b.m = m;
	k = mbuild_run(&b, p);
	member_patterns_clear(&b.pats);
	member_locals_clear(&b.locals);
	free(b.cap_ifs);
	free(b.routed);
	if (k < 0)
		return k;
	*ret = TAKE_PTR(m);
	return 0;
}

struct zt_membership *zt_membership_free(struct zt_membership *m)
{
	if (!m)
		return NULL;
	member_index_free(m->idx, m->n_segs);
	for (size_t i = 0; i < m->n_segs; i++) {
		free(m->segs[i].ifs);
		free(m->segs[i].routed);
		free(m->segs[i].statics);
	}
	free(m->segs);
	free(m->warnings);
	free(m->enc);
	free(m);
	return NULL;
}

const struct zt_segment_members *zt_membership_segment(const struct zt_membership *m, size_t hint,
						       const char *name)
{
	if (hint < m->n_segs && streq(m->segs[hint].name, name))
		return &m->segs[hint];
	for (size_t i = 0; i < m->n_segs; i++)
		if (streq(m->segs[i].name, name))
			return &m->segs[i];
	return NULL;
}

const char *zt_member_warning_fmt(const struct zt_member_warning *w, char *buf, size_t len)
{
	char pfx[ZT_CIDR_STRLEN];

	switch (w->kind) {
	case ZT_MEMBER_WARN_DEFAULT_ROUTE:
		snprintf(buf, len,
			 "segment %s: member interface %s carries a default route (%s): "
			 "a configuration error, uplinks belong to boundaries",
			 w->seg, w->ifname, zt_cidr_fmt(&w->prefix, pfx, sizeof(pfx)));
		break;
	case ZT_MEMBER_WARN_BRIDGE_PORT:
		snprintf(buf, len,
			 "segment %s: member interface %s is a port of bridge %s: not enforced at the "
			 "bridge: hub.mark-mask has no room for this segment's bridge index",
			 w->seg, w->ifname, w->other);
		break;
	case ZT_MEMBER_WARN_BRIDGE_ITSELF:
		snprintf(buf, len,
			 "segment %s: member interface %s is a bridge: a bridge is never a member, "
			 "name its ports instead",
			 w->seg, w->ifname);
		break;
	case ZT_MEMBER_WARN_PREFIX_CONFLICT:
		snprintf(buf, len, "%s is routed into two segments: %s and %s",
			 zt_cidr_fmt(&w->prefix, pfx, sizeof(pfx)), w->seg, w->other);
		break;
	default:
		snprintf(buf, len, "unknown warning");
		break;
	}
	return buf;
}

/* ---- the difference of two memberships ---------------------------------------- */

static int push_if(struct zt_if_change **v, size_t *n, size_t *cap, const char *seg,
		   const struct zt_member_if *i)
{
	if (ZT_GROW(*v, *cap, *n) < 0)
		return -ENOMEM;
	memset(&(*v)[*n], 0, sizeof(**v));
	memcpy((*v)[*n].seg, seg, ZT_MEMBER_SEG_MAX);
	memcpy((*v)[*n].ifname, i->name, IFNAMSIZ);
	(*v)[*n].ifindex = i->ifindex;
	(*n)++;
	return 0;
}

static int push_pfx(struct zt_prefix_change **v, size_t *n, size_t *cap, const char *seg,
		    const struct zt_cidr *c)
{
	if (ZT_GROW(*v, *cap, *n) < 0)
		return -ENOMEM;
	memset(&(*v)[*n], 0, sizeof(**v));
	memcpy((*v)[*n].seg, seg, ZT_MEMBER_SEG_MAX);
	(*v)[*n].prefix = *c;
	(*n)++;
	return 0;
}

int member_diff_segment(struct member_diff_build *x, const struct zt_segment_members *a,
			const struct zt_segment_members *b)
{
	struct zt_membership_diff *d = x->d;
	size_t na = a ? a->n_ifs : 0, nb = b ? b->n_ifs : 0, i = 0, j = 0;
	const char *seg = a ? a->name : b->name;
	int k = 0;

	while (k >= 0 && (i < na || j < nb)) {
		int c = i < na && j < nb ? strcmp(a->ifs[i].name, b->ifs[j].name) : i < na ? -1 : 1;

		if (c < 0)
			k = push_if(&d->if_del, &d->n_if_del, &x->cap_if_del, seg, &a->ifs[i++]);
		else if (c > 0)
			k = push_if(&d->if_add, &d->n_if_add, &x->cap_if_add, seg, &b->ifs[j++]);
		else
			i++, j++;
	}
	na = a ? a->n_routed : 0;
	nb = b ? b->n_routed : 0;
	i = j = 0;
	while (k >= 0 && (i < na || j < nb)) {
		int c = i < na && j < nb ? zt_cidr_cmp(&a->routed[i], &b->routed[j]) : i < na ? -1 : 1;

		if (c < 0)
			k = push_pfx(&d->pfx_del, &d->n_pfx_del, &x->cap_pfx_del, seg, &a->routed[i++]);
		else if (c > 0)
			k = push_pfx(&d->pfx_add, &d->n_pfx_add, &x->cap_pfx_add, seg, &b->routed[j++]);
		else
			i++, j++;
	}
	return k;
}

static int push_enc(struct zt_enc_link **v, size_t *n, size_t *cap, const struct zt_enc_link *e)
{
	if (ZT_GROW(*v, *cap, *n) < 0)
		return -ENOMEM;
	(*v)[(*n)++] = *e;
	return 0;
}

int member_diff_enc(struct member_diff_build *x, const struct zt_membership *a,
		    const struct zt_membership *b)
{
	struct zt_membership_diff *d = x->d;
	size_t na = a ? a->n_enc : 0, nb = b ? b->n_enc : 0, i = 0, j = 0;
	int k = 0;

	while (k >= 0 && (i < na || j < nb)) {
		int c = 0;

		if (i < na && j < nb) {
			c = strcmp(a->enc[i].name, b->enc[j].name);
			if (!c)
				c = strcmp(a->enc[i].kind, b->enc[j].kind);
		} else {
			c = i < na ? -1 : 1;
		}
		if (c < 0)
			k = push_enc(&d->enc_del, &d->n_enc_del, &x->cap_enc_del, &a->enc[i++]);
		else if (c > 0)
			k = push_enc(&d->enc_add, &d->n_enc_add, &x->cap_enc_add, &b->enc[j++]);
		else
			i++, j++;
	}
	return k;
}

int member_diff_warnings(struct member_diff_build *x, const struct zt_membership *a,
			 const struct zt_membership *b)
{
	struct zt_membership_diff *d = x->d;

	for (size_t i = 0; b && i < b->n_warnings; i++) {
		if (a && a->n_warnings &&
		    bsearch(&b->warnings[i], a->warnings, a->n_warnings, sizeof(*a->warnings),
			    member_warning_cmp))
			continue;
		if (ZT_GROW(d->warn_new, x->cap_warn_new, d->n_warn_new) < 0)
			return -ENOMEM;
		d->warn_new[d->n_warn_new++] = b->warnings[i];
	}
	return 0;
}

/* Did m route p to a segment other than seg? */
static bool routed_elsewhere(const struct zt_membership *m, const char *seg, const struct zt_cidr *p)
{
	for (size_t i = 0; m && i < m->n_segs; i++)
		if (m->segs[i].n_routed && !streq(m->segs[i].name, seg) &&
		    bsearch(p, m->segs[i].routed, m->segs[i].n_routed, sizeof(*p), member_cidr_cmp))
			return true;
	return false;
}

static int seg_ptr_cmp(const void *a, const void *b)
{
	const struct zt_segment_members *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static int segs_by_name(const struct zt_membership *m, const struct zt_segment_members ***ret)
{
	const struct zt_segment_members **v;
	size_t n = m ? m->n_segs : 0;

	*ret = NULL;
	if (n == 0)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = &m->segs[i];
	qsort(v, n, sizeof(*v), seg_ptr_cmp);
	*ret = v;
	return 0;
}

int zt_membership_diff(const struct zt_membership *old, const struct zt_membership *new,
		       struct zt_membership_diff **ret)
{
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	_cleanup_free_ const struct zt_segment_members **a = NULL, **b = NULL;
	size_t na = old ? old->n_segs : 0, nb = new ? new->n_segs : 0, i = 0, j = 0;
	struct member_diff_build x = {};
	int k;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	x.d = d;
	k = segs_by_name(old, &a);
	if (k >= 0)
		k = segs_by_name(new, &b);
	while (k >= 0 && (i < na || j < nb)) {
		int c = i < na && j < nb ? strcmp(a[i]->name, b[j]->name) : i < na ? -1 : 1;

		if (c < 0)
			k = member_diff_segment(&x, a[i++], NULL);
		else if (c > 0)
			k = member_diff_segment(&x, NULL, b[j++]);
		else
			k = member_diff_segment(&x, a[i++], b[j++]);
	}
	if (k >= 0)
		k = member_diff_enc(&x, old, new);
	if (k >= 0)
		k = member_diff_warnings(&x, old, new);
	if (k < 0)
		return k;
	for (size_t p = 0; p < d->n_pfx_add; p++)
		d->pfx_add[p].elsewhere = routed_elsewhere(old, d->pfx_add[p].seg, &d->pfx_add[p].prefix);
	*ret = TAKE_PTR(d);
	return 0;
}

bool zt_membership_diff_empty(const struct zt_membership_diff *d)
{
	return !d->n_if_add && !d->n_if_del && !d->n_pfx_add && !d->n_pfx_del && !d->n_enc_add &&
	       !d->n_enc_del;
}

struct zt_membership_diff *zt_membership_diff_free(struct zt_membership_diff *d)
{
	if (!d)
		return NULL;
	free(d->if_add);
	free(d->if_del);
	free(d->pfx_add);
	free(d->pfx_del);
	free(d->enc_add);
	free(d->enc_del);
	free(d->warn_new);
	free(d);
	return NULL;
}
