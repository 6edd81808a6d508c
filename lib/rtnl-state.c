/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's links, addresses and main-table routes as a plain data
 * structure, built from rtnetlink messages (every one treated as hostile
 * input), and what changed in it since it was last asked.
 */
#include <ctype.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <search.h>
#include "rtnl-state.h"
#include "tree.h"

static void nofree(void *p)
{
}

/* ---- the tables ------------------------------------------------------------ */

/* A route's identity in the kernel, less its next hops. */
struct rt_key {
	struct zt_cidr dst;
	uint32_t table;
	uint32_t priority;
	uint8_t tos;
};

struct rt_nh {
	int oif;
	uint8_t type;
	uint8_t gw_family;
	uint8_t gw[16];
};

struct rt_group {
	struct rt_key key;
	struct rt_nh *nh;
	size_t n_nh, cap_nh;
};

/* The route groups with a next hop through one oif. */
struct oif_bucket {
	int oif;
	void *groups;		/* tree of struct rt_group *, by key */
	size_t n;		/* next hops through oif */
};

struct addr_bucket {
	int ifindex;
	void *addrs;		/* tree of struct zt_rtnl_addr * */
	size_t n;
};

struct zt_rtnl_state {
	void *links;		/* tree of struct zt_rtnl_link *, by ifindex */
	size_t n_links;
	void *addrs;		/* tree of struct addr_bucket *, by ifindex */
	size_t n_addrs;
	void *groups;		/* tree of struct rt_group *, by key */
	void *oifs;		/* tree of struct oif_bucket *, by oif */
	size_t n_routes;	/* next hops */
	/* what changed since zt_rtnl_state_take_dirty() (see struct zt_rtnl_dirty) */
	int *dirty;
	size_t n_dirty, cap_dirty;
	bool dirty_all;
	bool dirty_members;	/* addresses changed, or routes re-dumped */
};

/* Past this many dirty ifindexes, "everything" is cheaper to keep. */
#define DIRTY_MAX 4096

/* The membership contribution of ifindex may have changed. */
static void state_dirty(struct zt_rtnl_state *s, int ifindex)
{
	if (s->dirty_all)
		return;
	if (s->n_dirty > 0 && s->dirty[s->n_dirty - 1] == ifindex)
		return;
	if (s->n_dirty >= DIRTY_MAX || ZT_GROW(s->dirty, s->cap_dirty, s->n_dirty) < 0) {
		s->dirty_all = true;
		return;
	}
	s->dirty[s->n_dirty++] = ifindex;
}

/*
 * The routes of every member may count differently: addresses changed
 * (they decide which host routes count), or the routes were re-dumped.
 */
static void state_dirty_members(struct zt_rtnl_state *s)
{
	s->dirty_members = true;
}

static int link_cmp(const void *a, const void *b)
{
	const struct zt_rtnl_link *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int bucket_cmp(const void *a, const void *b)
{
	/* Both bucket kinds start with their int index. */
	const int *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

static int addr_cmp(const void *a, const void *b)
{
	const struct zt_rtnl_addr *x = a, *y = b;

	if (x->ifindex != y->ifindex)
		return x->ifindex < y->ifindex ? -1 : 1;
	return zt_cidr_cmp(&x->addr, &y->addr);
}

static int rt_key_cmp(const struct rt_key *x, const struct rt_key *y)
{
	int c = zt_cidr_cmp(&x->dst, &y->dst);

	if (c)
		return c;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->tos != y->tos)
		return x->tos < y->tos ? -1 : 1;
	return (x->priority > y->priority) - (x->priority < y->priority);
}

static int group_cmp(const void *a, const void *b)
{
	return rt_key_cmp(&((const struct rt_group *)a)->key, &((const struct rt_group *)b)->key);
}

static bool nh_equal(const struct rt_nh *a, const struct rt_nh *b)
{
	return a->oif == b->oif && a->type == b->type && a->gw_family == b->gw_family &&
	       memcmp(a->gw, b->gw, sizeof(a->gw)) == 0;
}

static void group_free(void *p)
{
	struct rt_group *g = p;

	if (g)
		free(g->nh);
	free(g);
}

static void addr_bucket_free(void *p)
{
	struct addr_bucket *b = p;

	tdestroy(b->addrs, free);
	free(b);
}

static void oif_bucket_free(void *p)
{
	struct oif_bucket *b = p;

	tdestroy(b->groups, nofree);
	free(b);
}

static void state_routes_clear(struct zt_rtnl_state *s)
{
	tdestroy(s->oifs, oif_bucket_free);
	tdestroy(s->groups, group_free);
	s->oifs = s->groups = NULL;
	s->n_routes = 0;
}

void zt_rtnl_state_replace_routes(struct zt_rtnl_state *s, struct zt_rtnl_state *from)
{
	state_routes_clear(s);
	s->groups = TAKE_PTR(from->groups);
	s->oifs = TAKE_PTR(from->oifs);
	s->n_routes = from->n_routes;
	from->n_routes = 0;
	state_dirty_members(s);
}

int zt_rtnl_state_new(struct zt_rtnl_state **ret)
{
	struct zt_rtnl_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->dirty_all = true;	/* everything is new */
	*ret = s;
	return 0;
}

struct zt_rtnl_state *zt_rtnl_state_free(struct zt_rtnl_state *s)
{
	if (!s)
		return NULL;
	tdestroy(s->links, free);
	tdestroy(s->addrs, addr_bucket_free);
	state_routes_clear(s);
	free(s->dirty);
	free(s);
	return NULL;
}

static int int_cmp(const void *a, const void *b)
{
	const int *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

int zt_rtnl_state_take_dirty(struct zt_rtnl_state *s, struct zt_rtnl_dirty *ret)
{
	size_t n = 0;

	*ret = (struct zt_rtnl_dirty){ .all = s->dirty_all, .members = s->dirty_members && !s->dirty_all };
	if (!s->dirty_all && s->n_dirty) {
		qsort(s->dirty, s->n_dirty, sizeof(*s->dirty), int_cmp);
		for (size_t i = 0; i < s->n_dirty; i++)
			if (n == 0 || s->dirty[n - 1] != s->dirty[i])
				s->dirty[n++] = s->dirty[i];
		ret->ifindex = TAKE_PTR(s->dirty);
		ret->n = n;
		s->cap_dirty = 0;
	}
	s->n_dirty = 0;
	s->dirty_all = s->dirty_members = false;
	return 0;
}

void zt_rtnl_dirty_clear(struct zt_rtnl_dirty *d)
{
	free(d->ifindex);
	*d = (struct zt_rtnl_dirty){};
}

size_t zt_rtnl_state_n_links(const struct zt_rtnl_state *s)
{
	return s->n_links;
}

size_t zt_rtnl_state_n_addrs(const struct zt_rtnl_state *s)
{
	return s->n_addrs;
}

size_t zt_rtnl_state_n_routes(const struct zt_rtnl_state *s)
{
	return s->n_routes;
}

const struct zt_rtnl_link *zt_rtnl_state_link(const struct zt_rtnl_state *s, int ifindex)
{
	struct zt_rtnl_link key = { .ifindex = ifindex };

	return zt_tree_find(&s->links, &key, link_cmp);
}

bool zt_rtnl_link_bridge_port(const struct zt_rtnl_state *s, const struct zt_rtnl_link *l,
			      const struct zt_rtnl_link **ret_bridge)
{
	const struct zt_rtnl_link *m = l->master ? zt_rtnl_state_link(s, l->master) : NULL;

	if (ret_bridge)
		*ret_bridge = m;
	return l->master && (streq(l->slave_kind, "bridge") || (m && streq(m->kind, "bridge")));
}

struct by_name {
	const char *name;
	const struct zt_rtnl_link *found;
};

static int by_name_fn(const void *item, void *userdata)
{
	const struct zt_rtnl_link *l = item;
	struct by_name *b = userdata;

	if (!streq(l->name, b->name))
		return 0;
	b->found = l;
	return 1;
}

const struct zt_rtnl_link *zt_rtnl_state_link_by_name(const struct zt_rtnl_state *s,
						      const char *name)
{
	struct by_name b = { .name = name };

	zt_tree_walk(s->links, by_name_fn, &b);
	return b.found;
}

/* Adapters from the typed callbacks of the header to zt_tree_walk(). */
struct typed_walk {
	int (*link_fn)(const struct zt_rtnl_link *l, void *userdata);
	int (*addr_fn)(const struct zt_rtnl_addr *a, void *userdata);
	int (*route_fn)(const struct zt_rtnl_route *rt, void *userdata);
	void *userdata;
	int oif;		/* routes: the bucket being walked */
};

static int link_walk_fn(const void *item, void *userdata)
{
	struct typed_walk *t = userdata;

	return t->link_fn(item, t->userdata);
}

int zt_rtnl_state_foreach_link(const struct zt_rtnl_state *s,
			       int (*fn)(const struct zt_rtnl_link *l, void *userdata),
			       void *userdata)
{
	struct typed_walk t = { .link_fn = fn, .userdata = userdata };

	return zt_tree_walk(s->links, link_walk_fn, &t);
}

static int addr_walk_fn(const void *item, void *userdata)
{
	struct typed_walk *t = userdata;

	return t->addr_fn(item, t->userdata);
}

static int addr_bucket_walk_fn(const void *item, void *userdata)
{
	return zt_tree_walk(((const struct addr_bucket *)item)->addrs, addr_walk_fn, userdata);
}

int zt_rtnl_state_foreach_addr(const struct zt_rtnl_state *s,
			       int (*fn)(const struct zt_rtnl_addr *a, void *userdata),
			       void *userdata)
{
	struct typed_walk t = { .addr_fn = fn, .userdata = userdata };

	return zt_tree_walk(s->addrs, addr_bucket_walk_fn, &t);
}

static int group_walk_fn(const void *item, void *userdata)
{
	const struct rt_group *g = item;
	struct typed_walk *t = userdata;
	struct zt_rtnl_route rt = {
		.dst = g->key.dst,
		.table = g->key.table,
		.priority = g->key.priority,
		.tos = g->key.tos,
	};
	int r;

	for (size_t i = 0; i < g->n_nh; i++) {
		if (g->nh[i].oif != t->oif)
			continue;
		rt.type = g->nh[i].type;
		rt.oif = g->nh[i].oif;
		rt.gw_family = g->nh[i].gw_family;
		memcpy(rt.gw, g->nh[i].gw, sizeof(rt.gw));
		r = t->route_fn(&rt, t->userdata);
		if (r)
			return r;
	}
	return 0;
}

static int oif_bucket_walk_fn(const void *item, void *userdata)
{
	const struct oif_bucket *b = item;
	struct typed_walk *t = userdata;

	t->oif = b->oif;
	return zt_tree_walk(b->groups, group_walk_fn, t);
}

int zt_rtnl_state_foreach_route(const struct zt_rtnl_state *s,
				int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				void *userdata)
{
	struct typed_walk t = { .route_fn = fn, .userdata = userdata };

	return zt_tree_walk(s->oifs, oif_bucket_walk_fn, &t);
}

int zt_rtnl_state_foreach_route_oif(const struct zt_rtnl_state *s, int ifindex,
				    int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				    void *userdata)
{
	struct typed_walk t = { .route_fn = fn, .userdata = userdata };
	struct oif_bucket key = { .oif = ifindex }, *b;

	b = zt_tree_find(&s->oifs, &key, bucket_cmp);
	return b ? oif_bucket_walk_fn(b, &t) : 0;
}

/* -- mutation -- */

/* Replace or add a link. Returns the change bits. */
static int state_link_set(struct zt_rtnl_state *s, const struct zt_rtnl_link *l)
{
	struct zt_rtnl_link *old, *n;
	int r = ZT_RTNL_CHANGED_LINKS;

	old = zt_tree_find(&s->links, l, link_cmp);
	if (old) {
		if (memcmp(old, l, sizeof(*l)) == 0)
			return 0;
		/* Down, or lost its carrier: IPv4 flushes its routes without a word. */
		if (((old->flags & IFF_UP) && !(l->flags & IFF_UP)) ||
		    ((old->flags & IFF_RUNNING) && !(l->flags & IFF_RUNNING)))
			r |= ZT_RTNL_ROUTES_STALE;
		*old = *l;
		state_dirty(s, l->ifindex);
		return r;
	}
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *l;
	if (!tsearch(n, &s->links, link_cmp)) {
		free(n);
		return -ENOMEM;
	}
	s->n_links++;
	state_dirty(s, l->ifindex);
	return r;
}

static void group_remove_from_bucket(struct zt_rtnl_state *s, struct rt_group *g, int oif)
{
	struct oif_bucket key = { .oif = oif }, *b;

	b = zt_tree_find(&s->oifs, &key, bucket_cmp);
	if (!b)
		return;
	state_dirty(s, oif);
	b->n--;
	for (size_t i = 0; i < g->n_nh; i++)
		if (g->nh[i].oif == oif)
			return;		/* another next hop of g still uses oif */
	tdelete(g, &b->groups, group_cmp);
	if (!b->groups) {
		tdelete(b, &s->oifs, bucket_cmp);
		free(b);
	}
}

static int group_add_to_bucket(struct zt_rtnl_state *s, struct rt_group *g, int oif)
{
	struct oif_bucket key = { .oif = oif }, *b;

	b = zt_tree_find(&s->oifs, &key, bucket_cmp);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->oif = oif;
		if (!tsearch(b, &s->oifs, bucket_cmp)) {
			free(b);
			return -ENOMEM;
		}
	}
	if (!tsearch(g, &b->groups, group_cmp)) {
		if (!b->groups) {
			tdelete(b, &s->oifs, bucket_cmp);
			free(b);
		}
		return -ENOMEM;
	}
	b->n++;
	state_dirty(s, oif);
	return 0;
}

/* Remove next hop i of g (and g itself once it has none). */
static void group_del_nh(struct zt_rtnl_state *s, struct rt_group *g, size_t i)
{
	int oif = g->nh[i].oif;

	g->nh[i] = g->nh[--g->n_nh];
	s->n_routes--;
	group_remove_from_bucket(s, g, oif);
	if (g->n_nh == 0) {
		tdelete(g, &s->groups, group_cmp);
		group_free(g);
	}
}

static int route_add(struct zt_rtnl_state *s, const struct rt_key *key, const struct rt_nh *nh,
		     size_t n, bool replace)
{
	struct rt_group probe = { .key = *key }, *g;
	int r = 0;

	g = zt_tree_find(&s->groups, &probe, group_cmp);
	if (g && replace) {
		bool same = g->n_nh == n;

		for (size_t i = 0; same && i < n; i++) {
			same = false;
			for (size_t j = 0; j < g->n_nh; j++)
				same = same || nh_equal(&nh[i], &g->nh[j]);
		}
		if (same)
			return 0;
		while (g && g->n_nh > 0) {
			bool last = g->n_nh == 1;

			group_del_nh(s, g, g->n_nh - 1);
			if (last)
				g = NULL;
		}
		r = ZT_RTNL_CHANGED_ROUTES;
	}
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		if (!g) {
			g = calloc(1, sizeof(*g));
			if (!g)
				return -ENOMEM;
			g->key = *key;
			if (!tsearch(g, &s->groups, group_cmp)) {
				free(g);
				return -ENOMEM;
			}
		}
		for (size_t j = 0; j < g->n_nh && !dup; j++)
			dup = nh_equal(&nh[i], &g->nh[j]);
		if (dup)
			continue;
		if (ZT_GROW(g->nh, g->cap_nh, g->n_nh) < 0)
			goto enomem;
		g->nh[g->n_nh] = nh[i];
		if (group_add_to_bucket(s, g, nh[i].oif) < 0)
			goto enomem;
		g->n_nh++;
		s->n_routes++;
		r = ZT_RTNL_CHANGED_ROUTES;
	}
	return r;

enomem:
	if (g->n_nh == 0) {
		tdelete(g, &s->groups, group_cmp);
		group_free(g);
	}
	return -ENOMEM;
}

static int route_del(struct zt_rtnl_state *s, const struct rt_key *key, const struct rt_nh *nh,
		     size_t n)
{
	struct rt_group probe = { .key = *key }, *g;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		g = zt_tree_find(&s->groups, &probe, group_cmp);
		if (!g)
			break;
		for (size_t j = 0; j < g->n_nh; j++) {
			if (nh_equal(&nh[i], &g->nh[j])) {
				group_del_nh(s, g, j);
				r = ZT_RTNL_CHANGED_ROUTES;
				break;
			}
		}
	}
	return r;
}

struct collect {
	void **v;
	size_t n, cap;
	int r;
};

static int collect_fn(const void *item, void *userdata)
{
	struct collect *c = userdata;

	if (ZT_GROW(c->v, c->cap, c->n) < 0) {
		c->r = -ENOMEM;
		return 1;
	}
	c->v[c->n++] = (void *)item;
	return 0;
}

/* Drop every next hop through oif: its link is gone. */
static int state_drop_oif_routes(struct zt_rtnl_state *s, int oif)
{
	struct oif_bucket key = { .oif = oif }, *b;
	struct collect c = {};

	b = zt_tree_find(&s->oifs, &key, bucket_cmp);
	if (!b)
		return 0;
	state_dirty(s, oif);
	zt_tree_walk(b->groups, collect_fn, &c);
	if (c.r < 0) {
		free(c.v);
		return c.r;
	}
	for (size_t i = 0; i < c.n; i++) {
		struct rt_group *g = c.v[i];

		for (size_t j = g->n_nh; j-- > 0;) {
			if (g->nh[j].oif != oif)
				continue;
			g->nh[j] = g->nh[--g->n_nh];
			s->n_routes--;
		}
		if (g->n_nh == 0) {
			tdelete(g, &s->groups, group_cmp);
			group_free(g);
		}
	}
	free(c.v);
	tdelete(b, &s->oifs, bucket_cmp);
	oif_bucket_free(b);
	return ZT_RTNL_CHANGED_ROUTES;
}

static int state_link_del(struct zt_rtnl_state *s, int ifindex)
{
	struct zt_rtnl_link lkey = { .ifindex = ifindex }, *l;
	struct addr_bucket akey = { .ifindex = ifindex }, *ab;
	int r = 0, k;

	l = zt_tree_find(&s->links, &lkey, link_cmp);
	if (l) {
		tdelete(l, &s->links, link_cmp);
		free(l);
		s->n_links--;
		r |= ZT_RTNL_CHANGED_LINKS;
	}
	ab = zt_tree_find(&s->addrs, &akey, bucket_cmp);
	if (ab) {
		s->n_addrs -= ab->n;
		tdelete(ab, &s->addrs, bucket_cmp);
		addr_bucket_free(ab);
		r |= ZT_RTNL_CHANGED_ADDRS;
		state_dirty_members(s);
	}
	if (r)
		state_dirty(s, ifindex);
	/* The kernel flushes a vanished device's routes without RTM_DELROUTE. */
	k = state_drop_oif_routes(s, ifindex);
	if (k < 0)
		return k;
	return r | k;
}

static int state_addr_add(struct zt_rtnl_state *s, const struct zt_rtnl_addr *a)
{
	struct addr_bucket key = { .ifindex = a->ifindex }, *b;
	struct zt_rtnl_addr *n;
	void *p;

	b = zt_tree_find(&s->addrs, &key, bucket_cmp);
	if (b && zt_tree_find(&b->addrs, a, addr_cmp))
		return 0;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->ifindex = a->ifindex;
		if (!tsearch(b, &s->addrs, bucket_cmp)) {
			free(b);
			return -ENOMEM;
		}
	}
	n = malloc(sizeof(*n));
	if (n)
		*n = *a;
	p = n ? tsearch(n, &b->addrs, addr_cmp) : NULL;
	if (!p) {
		free(n);
		if (!b->addrs) {
			tdelete(b, &s->addrs, bucket_cmp);
			free(b);
		}
		return -ENOMEM;
	}
	b->n++;
	s->n_addrs++;
	state_dirty_members(s);
	return ZT_RTNL_CHANGED_ADDRS;
}

static int state_addr_del(struct zt_rtnl_state *s, const struct zt_rtnl_addr *a)
{
	struct addr_bucket key = { .ifindex = a->ifindex }, *b;
	struct zt_rtnl_addr *old;

	/* The routes that used the address may be gone too, unannounced. */
	b = zt_tree_find(&s->addrs, &key, bucket_cmp);
	old = b ? zt_tree_find(&b->addrs, a, addr_cmp) : NULL;
	if (!old)
		return ZT_RTNL_ROUTES_STALE;
	tdelete(old, &b->addrs, addr_cmp);
	free(old);
	b->n--;
	s->n_addrs--;
	state_dirty_members(s);
	if (!b->addrs) {
		tdelete(b, &s->addrs, bucket_cmp);
		free(b);
	}
	return ZT_RTNL_CHANGED_ADDRS | ZT_RTNL_ROUTES_STALE;
}

/* ---- parsing ----------------------------------------------------------------- */

/*
 * Index the attributes in [start, end) by type (the last of a type wins,
 * as in the kernel; types above max are skipped). Every attribute must lie
 * wholly inside the range and the range must hold nothing else but the
 * last attribute's alignment padding.
 */
static int attrs_parse(const void *start, const void *end, const struct nlattr **tb,
		       unsigned max)
{
	const struct nlattr *a = start;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (mnl_attr_ok(a, (int)((const char *)end - (const char *)a))) {
		uint16_t type = mnl_attr_get_type(a);

		if (type <= max)
			tb[type] = a;
		a = mnl_attr_next(a);
	}
	if ((const char *)end - (const char *)a > 0)
		return -EBADMSG;
	return 0;
}

static int msg_attrs(const struct nlmsghdr *nlh, size_t hdrlen, const struct nlattr **tb,
		     unsigned max)
{
	const char *end = (const char *)nlh + nlh->nlmsg_len;
	const char *start = (const char *)mnl_nlmsg_get_payload(nlh) + MNL_ALIGN(hdrlen);

	if (start > end)
		return -EBADMSG;
	return attrs_parse(start, end, tb, max);
}

static int nested_attrs(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	const char *p = mnl_attr_get_payload(nest);

	return attrs_parse(p, p + mnl_attr_get_payload_len(nest), tb, max);
}

/* Copy a string attribute that need not be NUL-terminated; too long is malformed. */
static int attr_strcpy(const struct nlattr *a, char *buf, size_t size)
{
	const char *p = mnl_attr_get_payload(a);
	size_t n = strnlen(p, mnl_attr_get_payload_len(a));

	if (n >= size)
		return -EBADMSG;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

static int attr_u32(const struct nlattr *a, uint32_t *ret)
{
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return -EBADMSG;
	*ret = mnl_attr_get_u32(a);
	return 0;
}

/* The kernel's dev_valid_name(): whatever it refuses cannot be a real link. */
static bool ifname_valid(const char *s)
{
	if (!*s || streq(s, ".") || streq(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return false;
	return true;
}

static int parse_linkinfo(const struct nlattr *nest, struct zt_rtnl_link *l)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1];

	if (nested_attrs(nest, tb, IFLA_INFO_MAX) < 0)
		return -EBADMSG;
	if (tb[IFLA_INFO_KIND] && attr_strcpy(tb[IFLA_INFO_KIND], l->kind, sizeof(l->kind)) < 0)
		return -EBADMSG;
	if (tb[IFLA_INFO_SLAVE_KIND] &&
	    attr_strcpy(tb[IFLA_INFO_SLAVE_KIND], l->slave_kind, sizeof(l->slave_kind)) < 0)
		return -EBADMSG;
	return 0;
}

static int apply_link(struct zt_rtnl_state *s, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct zt_rtnl_link l;
	uint32_t u;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return -EBADMSG;
	if (ifi->ifi_family != AF_UNSPEC)
		return 0;
	if (ifi->ifi_index <= 0)
		return -EBADMSG;
	if (msg_attrs(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
		return -EBADMSG;
	if (nlh->nlmsg_type == RTM_DELLINK)
		return state_link_del(s, ifi->ifi_index);

	memset(&l, 0, sizeof(l));
	l.ifindex = ifi->ifi_index;
	l.flags = ifi->ifi_flags;
	l.operstate = IF_OPER_UNKNOWN;
	if (!tb[IFLA_IFNAME] || attr_strcpy(tb[IFLA_IFNAME], l.name, sizeof(l.name)) < 0 ||
	    !ifname_valid(l.name))
		return -EBADMSG;
	if (tb[IFLA_MASTER]) {
		if (attr_u32(tb[IFLA_MASTER], &u) < 0 || u > INT32_MAX)
			return -EBADMSG;
		l.master = (int)u;
	}
	if (tb[IFLA_OPERSTATE]) {
		if (mnl_attr_validate(tb[IFLA_OPERSTATE], MNL_TYPE_U8) < 0)
			return -EBADMSG;
		l.operstate = mnl_attr_get_u8(tb[IFLA_OPERSTATE]);
	}
	if (tb[IFLA_LINKINFO] && parse_linkinfo(tb[IFLA_LINKINFO], &l) < 0)
		return -EBADMSG;
	return state_link_set(s, &l);
}

static int attr_addr(const struct nlattr *a, uint8_t family, uint8_t *addr)
{
	if (mnl_attr_get_payload_len(a) != ZT_ADDR_LEN(family))
		return -EBADMSG;
	memcpy(addr, mnl_attr_get_payload(a), ZT_ADDR_LEN(family));
	return 0;
}

static int apply_addr(struct zt_rtnl_state *s, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[IFA_MAX + 1];
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct zt_rtnl_addr a;
	const struct nlattr *which;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return -EBADMSG;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	if (ifa->ifa_index == 0 || ifa->ifa_index > INT32_MAX ||
	    ifa->ifa_prefixlen > ZT_MAX_PLEN(ifa->ifa_family))
		return -EBADMSG;
	if (msg_attrs(nlh, sizeof(*ifa), tb, IFA_MAX) < 0)
		return -EBADMSG;
	/* IFA_ADDRESS is the peer on point-to-point links; IFA_LOCAL is ours. */
	which = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!which)
		return -EBADMSG;
	memset(&a, 0, sizeof(a));
	a.ifindex = (int)ifa->ifa_index;
	a.addr.family = ifa->ifa_family;
	a.addr.plen = ifa->ifa_prefixlen;
	if (attr_addr(which, ifa->ifa_family, a.addr.addr) < 0)
		return -EBADMSG;
	if (tb[IFA_ADDRESS] && which != tb[IFA_ADDRESS]) {
		uint8_t peer[16];

		if (attr_addr(tb[IFA_ADDRESS], ifa->ifa_family, peer) < 0)
			return -EBADMSG;
	}
	if (nlh->nlmsg_type == RTM_DELADDR)
		return state_addr_del(s, &a);
	return state_addr_add(s, &a);
}

static void mask_prefix(struct zt_cidr *c)
{
	unsigned n = ZT_ADDR_LEN(c->family);

	for (unsigned i = 0; i < n; i++) {
		unsigned bits = i * 8;

		if (bits >= c->plen)
			c->addr[i] = 0;
		else if (c->plen - bits < 8)
			c->addr[i] &= (uint8_t)(0xff << (8 - (c->plen - bits)));
	}
}

/* RTA_GATEWAY / RTA_VIA of a next hop. */
static int parse_gateway(const struct nlattr *gw, const struct nlattr *via, uint8_t family,
			 struct rt_nh *nh)
{
	if (gw) {
		if (attr_addr(gw, family, nh->gw) < 0)
			return -EBADMSG;
		nh->gw_family = family;
	} else if (via) {
		const struct rtvia *v = mnl_attr_get_payload(via);
		size_t len = mnl_attr_get_payload_len(via);

		if (len < sizeof(*v) || (v->rtvia_family != AF_INET && v->rtvia_family != AF_INET6) ||
		    len - sizeof(*v) != ZT_ADDR_LEN(v->rtvia_family))
			return -EBADMSG;
		nh->gw_family = (uint8_t)v->rtvia_family;
		memcpy(nh->gw, v->rtvia_addr, ZT_ADDR_LEN(v->rtvia_family));
	}
	return 0;
}

static int parse_multipath(const struct nlattr *mp, uint8_t family, uint8_t type,
			   struct rt_nh **ret, size_t *n_ret)
{
	const char *p = mnl_attr_get_payload(mp);
	size_t rem = mnl_attr_get_payload_len(mp), n = 0, cap = 0;
	_cleanup_free_ struct rt_nh *v = NULL;

	while (rem > 0) {
		const struct rtnexthop *rtnh = (const void *)p;
		const struct nlattr *tb[RTA_MAX + 1];
		size_t step;

		if (rem < sizeof(*rtnh) || rtnh->rtnh_len < sizeof(*rtnh) || rtnh->rtnh_len > rem ||
		    rtnh->rtnh_ifindex < 0)
			return -EBADMSG;
		if (attrs_parse(p + RTNH_LENGTH(0), p + rtnh->rtnh_len, tb, RTA_MAX) < 0)
			return -EBADMSG;
		if (ZT_GROW(v, cap, n) < 0)
			return -ENOMEM;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].oif = rtnh->rtnh_ifindex;
		v[n].type = type;
		if (parse_gateway(tb[RTA_GATEWAY], tb[RTA_VIA], family, &v[n]) < 0)
			return -EBADMSG;
		n++;
		step = RTNH_ALIGN(rtnh->rtnh_len);
		if (step >= rem)
			break;
		p += step;
		rem -= step;
	}
	if (n == 0)
		return -EBADMSG;
	*ret = TAKE_PTR(v);
	*n_ret = n;
	return 0;
}

static int apply_route(struct zt_rtnl_state *s, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	_cleanup_free_ struct rt_nh *mp = NULL;
	struct rt_nh one, *nh = &one;
	struct rt_key key;
	size_t n = 1;
	uint32_t u;
	bool replace;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm))
		return -EBADMSG;
	if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
		return 0;
	if (rtm->rtm_dst_len > ZT_MAX_PLEN(rtm->rtm_family) ||
	    rtm->rtm_src_len > ZT_MAX_PLEN(rtm->rtm_family))
		return -EBADMSG;
	if (msg_attrs(nlh, sizeof(*rtm), tb, RTA_MAX) < 0)
		return -EBADMSG;

	memset(&key, 0, sizeof(key));
	key.table = rtm->rtm_table;
	if (tb[RTA_TABLE] && attr_u32(tb[RTA_TABLE], &key.table) < 0)
		return -EBADMSG;
	key.dst.family = rtm->rtm_family;
	key.dst.plen = rtm->rtm_dst_len;
	key.tos = rtm->rtm_tos;
	if (tb[RTA_DST]) {
		if (attr_addr(tb[RTA_DST], rtm->rtm_family, key.dst.addr) < 0)
			return -EBADMSG;
	} else if (rtm->rtm_dst_len > 0) {
		return -EBADMSG;
	}
	mask_prefix(&key.dst);
	if (tb[RTA_PRIORITY] && attr_u32(tb[RTA_PRIORITY], &key.priority) < 0)
		return -EBADMSG;

	memset(&one, 0, sizeof(one));
	one.type = rtm->rtm_type;
	if (tb[RTA_OIF]) {
		if (attr_u32(tb[RTA_OIF], &u) < 0 || u > INT32_MAX)
			return -EBADMSG;
		one.oif = (int)u;
	}
	if (parse_gateway(tb[RTA_GATEWAY], tb[RTA_VIA], rtm->rtm_family, &one) < 0)
		return -EBADMSG;
	if (tb[RTA_MULTIPATH]) {
		int r = parse_multipath(tb[RTA_MULTIPATH], rtm->rtm_family, rtm->rtm_type, &mp, &n);

		if (r < 0)
			return r;
		nh = mp;
	}

	/* Well formed; now what is not kept. */
	if (key.table != RT_TABLE_MAIN || (rtm->rtm_flags & RTM_F_CLONED) || rtm->rtm_src_len)
		return 0;
	if (nlh->nlmsg_type == RTM_DELROUTE)
		return route_del(s, &key, nh, n);
	/*
	 * A replacement names the whole new route. IPv6 also announces every
	 * multipath change with all the siblings; IPv4 may append a multipath
	 * alias to an existing route, so there only NLM_F_REPLACE replaces.
	 */
	replace = (nlh->nlmsg_flags & NLM_F_REPLACE) ||
		  (tb[RTA_MULTIPATH] && rtm->rtm_family == AF_INET6);
	return route_add(s, &key, nh, n, replace);
}

int zt_rtnl_state_apply(struct zt_rtnl_state *s, const struct nlmsghdr *nlh, size_t len)
{
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return -EBADMSG;
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return apply_link(s, nlh);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return apply_addr(s, nlh);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return apply_route(s, nlh);
	default:
		return 0;
	}
}

