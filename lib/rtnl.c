/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rtnetlink state tracker: links, addresses and main-table routes from a
 * dump and then from events; every message is treated as hostile input.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <search.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "rtnl.h"

/* One datagram; the kernel's dump skbs stay well below this. */
#define RTNL_BUF_SIZE (64 * 1024)
/* Datagrams read per zt_rtnl_process() call before yielding to the loop. */
#define RTNL_BATCH 256
/* How long a dump may stall before it is given up (a wedged kernel). */
#define RTNL_DUMP_TIMEOUT_SEC 10

/* ---- binary trees (glibc tsearch) ---------------------------------------- */

struct walk {
	int (*fn)(const void *item, void *userdata);
	void *userdata;
	int r;
};

static void walk_action(const void *nodep, VISIT which, void *closure)
{
	struct walk *w = closure;

	if (w->r || (which != postorder && which != leaf))
		return;
	w->r = w->fn(*(void *const *)nodep, w->userdata);
}

/* In-order walk; stops calling fn after the first non-zero return. */
static int tree_walk(const void *root, int (*fn)(const void *item, void *userdata),
		     void *userdata)
{
	struct walk w = { .fn = fn, .userdata = userdata };

	if (root)
		twalk_r(root, walk_action, &w);
	return w.r;
}

static void *tree_find(void *const *root, const void *key, int (*cmp)(const void *, const void *))
{
	void *const *p = tfind(key, root, cmp);

	return p ? *p : NULL;
}

static void nofree(void *p)
{
}

/* ---- state ----------------------------------------------------------------- */

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

	return tree_find(&s->links, &key, link_cmp);
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

	tree_walk(s->links, by_name_fn, &b);
	return b.found;
}

/* Adapters from the typed callbacks of the header to tree_walk(). */
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

	return tree_walk(s->links, link_walk_fn, &t);
}

static int addr_walk_fn(const void *item, void *userdata)
{
	struct typed_walk *t = userdata;

	return t->addr_fn(item, t->userdata);
}

static int addr_bucket_walk_fn(const void *item, void *userdata)
{
	return tree_walk(((const struct addr_bucket *)item)->addrs, addr_walk_fn, userdata);
}

int zt_rtnl_state_foreach_addr(const struct zt_rtnl_state *s,
			       int (*fn)(const struct zt_rtnl_addr *a, void *userdata),
			       void *userdata)
{
	struct typed_walk t = { .addr_fn = fn, .userdata = userdata };

	return tree_walk(s->addrs, addr_bucket_walk_fn, &t);
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
	return tree_walk(b->groups, group_walk_fn, t);
}

int zt_rtnl_state_foreach_route(const struct zt_rtnl_state *s,
				int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				void *userdata)
{
	struct typed_walk t = { .route_fn = fn, .userdata = userdata };

	return tree_walk(s->oifs, oif_bucket_walk_fn, &t);
}

int zt_rtnl_state_foreach_route_oif(const struct zt_rtnl_state *s, int ifindex,
				    int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				    void *userdata)
{
	struct typed_walk t = { .route_fn = fn, .userdata = userdata };
	struct oif_bucket key = { .oif = ifindex }, *b;

	b = tree_find(&s->oifs, &key, bucket_cmp);
	return b ? oif_bucket_walk_fn(b, &t) : 0;
}

/* -- mutation -- */

/* Replace or add a link. Returns the change bits. */
static int state_link_set(struct zt_rtnl_state *s, const struct zt_rtnl_link *l)
{
	struct zt_rtnl_link *old, *n;
	int r = ZT_RTNL_CHANGED_LINKS;

	old = tree_find(&s->links, l, link_cmp);
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

	b = tree_find(&s->oifs, &key, bucket_cmp);
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

	b = tree_find(&s->oifs, &key, bucket_cmp);
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

	g = tree_find(&s->groups, &probe, group_cmp);
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
		g = tree_find(&s->groups, &probe, group_cmp);
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

	b = tree_find(&s->oifs, &key, bucket_cmp);
	if (!b)
		return 0;
	state_dirty(s, oif);
	tree_walk(b->groups, collect_fn, &c);
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

	l = tree_find(&s->links, &lkey, link_cmp);
	if (l) {
		tdelete(l, &s->links, link_cmp);
		free(l);
		s->n_links--;
		r |= ZT_RTNL_CHANGED_LINKS;
	}
	ab = tree_find(&s->addrs, &akey, bucket_cmp);
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

	b = tree_find(&s->addrs, &key, bucket_cmp);
	if (b && tree_find(&b->addrs, a, addr_cmp))
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
	b = tree_find(&s->addrs, &key, bucket_cmp);
	old = b ? tree_find(&b->addrs, a, addr_cmp) : NULL;
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

/* ---- the tracker ----------------------------------------------------------- */

/*
 * Walking a datagram's messages. mnl_nlmsg_ok() casts nlmsg_len to int,
 * so a length of 2^31 or more passes as negative and mnl_nlmsg_next()
 * then leaps out of the buffer: compare unsigned instead.
 */
static bool nlmsg_ok(const struct nlmsghdr *nlh, size_t rem)
{
	return rem >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= rem;
}

static const struct nlmsghdr *nlmsg_next(const struct nlmsghdr *nlh, size_t *rem)
{
	size_t step = MNL_ALIGN((size_t)nlh->nlmsg_len);

	if (step >= *rem) {
		*rem = 0;
		return nlh;
	}
	*rem -= step;
	return (const struct nlmsghdr *)((const char *)nlh + step);
}

struct zt_rtnl {
	struct mnl_socket *ev;		/* subscribed, non-blocking */
	struct mnl_socket *dump;	/* requests and their replies only */
	uint32_t dump_portid;
	uint32_t seq;
	struct zt_rtnl_state *state;
	uint64_t generation;
	unsigned changes;
	bool resync_needed;
	bool routes_stale;
	struct zt_rtnl_stats stats;
	char *buf;
};

static ssize_t nl_recv(int fd, void *buf, size_t size, int flags, uint32_t *sender, bool *trunc)
{
	struct sockaddr_nl sa = {};
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = {
		.msg_name = &sa,
		.msg_namelen = sizeof(sa),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return -errno;
	*trunc = msg.msg_flags & MSG_TRUNC;
	/* Unicasts from other processes can be forged; only the kernel counts. */
	*sender = UINT32_MAX;
	if (msg.msg_namelen == sizeof(sa) && sa.nl_family == AF_NETLINK)
		*sender = sa.nl_pid;
	return n;
}

/*
 * One dump (RTM_GETLINK, GETADDR or GETROUTE of one family) into s.
 * Sets *intr when the kernel says the dump was inconsistent.
 */
static int dump_one(struct zt_rtnl *r, struct zt_rtnl_state *s, uint16_t type, uint8_t family,
		    bool *intr)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	/* libmnl 1.0.4 leaves attribute padding as it finds it: send zeros. */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
	int fd = mnl_socket_get_fd(r->dump);
	uint32_t seq = ++r->seq;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	switch (type) {
	case RTM_GETLINK: {
		struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

		ifi->ifi_family = family;
		break;
	}
	case RTM_GETADDR: {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

		ifa->ifa_family = family;
		break;
	}
	default: {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

		rtm->rtm_family = family;
		/* Honoured as a filter with NETLINK_GET_STRICT_CHK; checked below anyway. */
		rtm->rtm_table = RT_TABLE_MAIN;
		break;
	}
	}
	if (mnl_socket_sendto(r->dump, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		uint32_t sender;
		bool trunc;
		ssize_t n = nl_recv(fd, r->buf, RTNL_BUF_SIZE, 0, &sender, &trunc);
		const struct nlmsghdr *m;
		size_t rem;
		int k;

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			return -ETIMEDOUT;
		if (n < 0)
			return (int)n;
		if (sender != 0) {
			r->stats.foreign++;
			continue;
		}
		if (trunc)
			return -EMSGSIZE;
		m = (const struct nlmsghdr *)r->buf;
		rem = (size_t)n;
		for (; nlmsg_ok(m, rem); m = nlmsg_next(m, &rem)) {
			if (m->nlmsg_seq != seq || m->nlmsg_pid != r->dump_portid)
				continue;	/* a late reply to an earlier request */
			if (m->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = true;
			if (m->nlmsg_type == NLMSG_DONE) {
				if (mnl_nlmsg_get_payload_len(m) >= sizeof(int)) {
					int err = *(const int *)mnl_nlmsg_get_payload(m);

					if (err < 0)
						return err;
				}
				return 0;
			}
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) < sizeof(*e))
					return -EBADMSG;
				if (e->error < 0)
					return e->error;
				continue;
			}
			k = zt_rtnl_state_apply(s, m, rem);
			if (k == -EBADMSG)
				r->stats.malformed++;
			else if (k < 0)
				return k;
		}
	}
}

static int dump_routes(struct zt_rtnl *r, struct zt_rtnl_state *s, bool *intr)
{
	/*
	 * A namespace where no route was ever added has no main table yet:
	 * the filtered dump then ends in ENOENT, which means "none".
	 */
	int k = dump_one(r, s, RTM_GETROUTE, AF_INET, intr);

	if (k == -ENOENT)
		k = 0;
	if (k >= 0)
		k = dump_one(r, s, RTM_GETROUTE, AF_INET6, intr);
	return k == -ENOENT ? 0 : k;
}

static int dump_all(struct zt_rtnl *r, struct zt_rtnl_state *s, bool *intr)
{
	int k;

	k = dump_one(r, s, RTM_GETLINK, AF_UNSPEC, intr);
	if (k >= 0)
		k = dump_one(r, s, RTM_GETADDR, AF_UNSPEC, intr);
	if (k >= 0)
		k = dump_routes(r, s, intr);
	return k;
}

static void mark_changed(struct zt_rtnl *r, unsigned bits)
{
	if (!bits)
		return;
	r->changes |= bits;
	r->generation++;
}

/*
 * Build a fresh state from dumps, retried as a whole while the kernel
 * interrupts them. `routes_only` keeps links and addresses.
 */
static int rebuild(struct zt_rtnl *r, bool routes_only)
{
	_cleanup_rtnl_state_ struct zt_rtnl_state *s = NULL;
	bool intr = true;
	int k;

	for (unsigned try = 0; intr && try < ZT_RTNL_DUMP_TRIES; try++) {
		if (try > 0)
			r->stats.dump_retries++;
		s = zt_rtnl_state_free(s);
		k = zt_rtnl_state_new(&s);
		if (k < 0)
			return k;
		intr = false;
		k = routes_only ? dump_routes(r, s, &intr) : dump_all(r, s, &intr);
		if (k < 0)
			return k;
	}
	if (routes_only) {
		state_routes_clear(r->state);
		r->state->groups = TAKE_PTR(s->groups);
		r->state->oifs = TAKE_PTR(s->oifs);
		r->state->n_routes = s->n_routes;
		s->n_routes = 0;
		state_dirty_members(r->state);
		mark_changed(r, ZT_RTNL_CHANGED_ROUTES);
	} else {
		zt_rtnl_state_free(r->state);
		r->state = TAKE_PTR(s);
		mark_changed(r, ZT_RTNL_CHANGED_LINKS | ZT_RTNL_CHANGED_ADDRS |
					ZT_RTNL_CHANGED_ROUTES);
	}
	r->routes_stale = false;
	/* Still inconsistent after every try: the best we have, and try again later. */
	if (intr) {
		r->resync_needed = true;
		return -EAGAIN;
	}
	if (!routes_only)
		r->resync_needed = false;
	return 0;
}

int zt_rtnl_resync(struct zt_rtnl *r)
{
	int k = rebuild(r, false);

	if (k >= 0 || k == -EAGAIN)
		r->stats.resyncs++;
	return k;
}

static int set_rcvbuf(int fd, size_t size, size_t *granted)
{
	int v = (int)size;
	socklen_t len = sizeof(v);

	if (size > INT_MAX)
		return -EINVAL;
	/* FORCE needs CAP_NET_ADMIN in the initial namespace; else the sysctl caps it. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) < 0)
		return -errno;
	*granted = (size_t)v;
	return 0;
}

static int rtnl_sockets(struct zt_rtnl *r, size_t rcvbuf)
{
	static const unsigned groups[] = {
		RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR,
		RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
	};
	struct timeval tv = { .tv_sec = RTNL_DUMP_TIMEOUT_SEC };
	int one = 1, k;

	r->ev = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!r->ev)
		return -errno;
	k = set_rcvbuf(mnl_socket_get_fd(r->ev), rcvbuf, &r->stats.rcvbuf);
	if (k < 0)
		return k;
	if (mnl_socket_bind(r->ev, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
		unsigned g = groups[i];

		if (mnl_socket_setsockopt(r->ev, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
			return -errno;
	}

	r->dump = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->dump)
		return -errno;
	if (mnl_socket_bind(r->dump, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	r->dump_portid = mnl_socket_get_portid(r->dump);
	if (setsockopt(mnl_socket_get_fd(r->dump), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	/* Kernel-side filtering of route dumps by table (4.20+); optional. */
	(void)mnl_socket_setsockopt(r->dump, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	return 0;
}

int zt_rtnl_open(struct zt_rtnl **ret, size_t rcvbuf)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->buf = malloc(RTNL_BUF_SIZE);
	if (!r->buf)
		return -ENOMEM;
	k = zt_rtnl_state_new(&r->state);
	if (k < 0)
		return k;
	/* Subscribe before dumping: what changes meanwhile waits in the queue. */
	k = rtnl_sockets(r, rcvbuf ? rcvbuf : ZT_RTNL_RCVBUF_DEFAULT);
	if (k < 0)
		return k;
	k = rebuild(r, false);
	if (k < 0 && k != -EAGAIN)
		return k;
	*ret = TAKE_PTR(r);
	return 0;
}

struct zt_rtnl *zt_rtnl_free(struct zt_rtnl *r)
{
	if (!r)
		return NULL;
	if (r->ev)
		mnl_socket_close(r->ev);
	if (r->dump)
		mnl_socket_close(r->dump);
	zt_rtnl_state_free(r->state);
	free(r->buf);
	free(r);
	return NULL;
}

int zt_rtnl_fd(const struct zt_rtnl *r)
{
	return mnl_socket_get_fd(r->ev);
}

static void apply_datagram(struct zt_rtnl *r, ssize_t n, unsigned *changes)
{
	const struct nlmsghdr *m = (const struct nlmsghdr *)r->buf;
	size_t rem = (size_t)n;

	for (; nlmsg_ok(m, rem); m = nlmsg_next(m, &rem)) {
		int k;

		if (m->nlmsg_type < NLMSG_MIN_TYPE)
			continue;
		r->stats.messages++;
		k = zt_rtnl_state_apply(r->state, m, rem);
		if (k == -EBADMSG) {
			r->stats.malformed++;
			continue;
		}
		if (k < 0) {
			/* Out of memory half-way: only a resync restores a known state. */
			r->resync_needed = true;
			continue;
		}
		if (k & ZT_RTNL_ROUTES_STALE)
			r->routes_stale = true;
		k &= ~ZT_RTNL_ROUTES_STALE;
		if (k) {
			mark_changed(r, (unsigned)k);
			*changes |= (unsigned)k;
		}
	}
	if (rem > 0)
		r->stats.malformed++;	/* trailing bytes that are no message */
}

int zt_rtnl_process(struct zt_rtnl *r)
{
	int fd = mnl_socket_get_fd(r->ev);
	unsigned changes = 0;

	for (unsigned i = 0; i < RTNL_BATCH; i++) {
		uint32_t sender;
		bool trunc;
		ssize_t n = nl_recv(fd, r->buf, RTNL_BUF_SIZE, MSG_DONTWAIT, &sender, &trunc);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			break;
		if (n == -ENOBUFS) {
			/* The queue overflowed: events are lost, only a new dump helps. */
			r->stats.overruns++;
			r->resync_needed = true;
			return (int)changes;
		}
		if (n < 0)
			return (int)n;
		if (sender != 0) {
			r->stats.foreign++;
			continue;
		}
		if (trunc) {
			r->stats.malformed++;
			r->resync_needed = true;
			continue;
		}
		apply_datagram(r, n, &changes);
	}
	if (r->routes_stale && !r->resync_needed) {
		int k = rebuild(r, true);

		if (k < 0 && k != -EAGAIN)
			return k;
		r->stats.route_redumps++;
		changes |= ZT_RTNL_CHANGED_ROUTES;
	}
	return (int)changes;
}

bool zt_rtnl_resync_needed(const struct zt_rtnl *r)
{
	return r->resync_needed;
}

const struct zt_rtnl_state *zt_rtnl_state(const struct zt_rtnl *r)
{
	return r->state;
}

uint64_t zt_rtnl_generation(const struct zt_rtnl *r)
{
	return r->generation;
}

int zt_rtnl_take_dirty(struct zt_rtnl *r, struct zt_rtnl_dirty *ret)
{
	return zt_rtnl_state_take_dirty(r->state, ret);
}

unsigned zt_rtnl_take_changes(struct zt_rtnl *r)
{
	unsigned c = r->changes;

	r->changes = 0;
	return c;
}

const struct zt_rtnl_stats *zt_rtnl_stats(const struct zt_rtnl *r)
{
	return &r->stats;
}

/* ---- membership ------------------------------------------------------------- */

/* Interface patterns, sorted for lookup by exact name and by every prefix of one. */
struct pat {
	char name[IFNAMSIZ];
	bool wildcard;
	size_t owner;
};

struct pat_index {
	struct pat *v;
	size_t n, cap;
};

static int pat_key_cmp(const void *a, const void *b)
{
	const struct pat *x = a, *y = b;

	if (x->wildcard != y->wildcard)
		return x->wildcard ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int pat_cmp(const void *a, const void *b)
{
	const struct pat *x = a, *y = b;
	int c = pat_key_cmp(a, b);

	if (c)
		return c;
	return (x->owner > y->owner) - (x->owner < y->owner);
}

static int pat_index_add(struct pat_index *x, const struct zt_ifpat *ifs, size_t n, size_t owner)
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

/* The first (lowest owner) entry equal to key, or NULL. */
static const struct pat *pat_find(const struct pat_index *x, const struct pat *key)
{
	const struct pat *hit = bsearch(key, x->v, x->n, sizeof(*x->v), pat_key_cmp);

	while (hit && hit > x->v && pat_key_cmp(hit - 1, key) == 0)
		hit--;
	return hit;
}

/* The owner of the pattern matching ifname: an exact name, else the longest prefix. */
static ssize_t pat_lookup(const struct pat_index *x, const char *ifname)
{
	struct pat key = {};
	const struct pat *hit;
	size_t len = strnlen(ifname, IFNAMSIZ - 1);

	if (x->n == 0)
		return -1;
	memcpy(key.name, ifname, len);
	hit = pat_find(x, &key);
	if (hit)
		return (ssize_t)hit->owner;
	key.wildcard = true;
	for (size_t l = len + 1; l-- > 0;) {
		key.name[l] = '\0';
		hit = pat_find(x, &key);
		if (hit)
			return (ssize_t)hit->owner;
	}
	return -1;
}

struct local_addr {
	uint8_t family;
	uint8_t addr[16];
};

static int local_cmp(const void *a, const void *b)
{
	const struct local_addr *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

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
	struct pat_index segpats, encpats;
	struct local_addr *locals;
	size_t n_locals, cap_locals;
	size_t *cap_ifs;
	struct routed *routed;
	size_t n_routed, cap_routed;
	size_t cap_warn, cap_enc;
	/* the member link whose routes are being walked */
	const struct zt_rtnl_link *cur;
	size_t cur_seg;
	int r;
};

static int add_warning(struct mbuild *b, enum zt_member_warning_kind kind, size_t seg,
		       const char *ifname, const char *other, const struct zt_cidr *prefix)
{
	struct zt_membership *m = b->m;
	struct zt_member_warning *w;

	if (ZT_GROW(m->warnings, b->cap_warn, m->n_warnings) < 0)
		return -ENOMEM;
	w = &m->warnings[m->n_warnings++];
	memset(w, 0, sizeof(*w));
	w->kind = kind;
	memcpy(w->seg, m->segs[seg].name, sizeof(w->seg));
	if (ifname)
		snprintf(w->ifname, sizeof(w->ifname), "%s", ifname);
	if (other)
		snprintf(w->other, sizeof(w->other), "%s", other);
	if (prefix)
		w->prefix = *prefix;
	return 0;
}

static int local_fn(const struct zt_rtnl_addr *a, void *userdata)
{
	struct mbuild *b = userdata;
	struct local_addr *l;

	if (ZT_GROW(b->locals, b->cap_locals, b->n_locals) < 0)
		return -ENOMEM;
	l = &b->locals[b->n_locals++];
	memset(l, 0, sizeof(*l));
	l->family = a->addr.family;
	memcpy(l->addr, a->addr.addr, ZT_ADDR_LEN(a->addr.family));
	return 0;
}

static bool is_local(const struct mbuild *b, const struct zt_cidr *c)
{
	struct local_addr key = { .family = c->family };

	if (b->n_locals == 0)
		return false;
	memcpy(key.addr, c->addr, ZT_ADDR_LEN(c->family));
	return bsearch(&key, b->locals, b->n_locals, sizeof(key), local_cmp) != NULL;
}

static int route_fn(const struct zt_rtnl_route *rt, void *userdata)
{
	struct mbuild *b = userdata;

	if (rt->type != RTN_UNICAST)
		return 0;
	if (rt->dst.plen == 0)
		return add_warning(b, ZT_MEMBER_WARN_DEFAULT_ROUTE, b->cur_seg, b->cur->name, NULL,
				   &rt->dst);
	if (zt_addr_is_linklocal_or_unspec(rt->dst.family, rt->dst.addr))
		return 0;
	if (rt->dst.plen == ZT_MAX_PLEN(rt->dst.family) && is_local(b, &rt->dst))
		return 0;
	if (ZT_GROW(b->routed, b->cap_routed, b->n_routed) < 0)
		return -ENOMEM;
	b->routed[b->n_routed].pfx = rt->dst;
	b->routed[b->n_routed].seg = b->cur_seg;
	b->n_routed++;
	return 0;
}

static int member_link_fn(const struct zt_rtnl_link *l, void *userdata)
{
	struct mbuild *b = userdata;
	struct zt_membership *m = b->m;
	ssize_t seg = pat_lookup(&b->segpats, l->name);
	int k;

	if (seg >= 0) {
		struct zt_segment_members *sm = &m->segs[seg];
		const struct zt_rtnl_link *master;

		if (ZT_GROW(sm->ifs, b->cap_ifs[seg], sm->n_ifs) < 0)
			return -ENOMEM;
		memset(&sm->ifs[sm->n_ifs], 0, sizeof(sm->ifs[0]));
		memcpy(sm->ifs[sm->n_ifs].name, l->name, sizeof(l->name));
		sm->ifs[sm->n_ifs].ifindex = l->ifindex;
		sm->n_ifs++;
		if (zt_rtnl_link_bridge_port(b->s, l, &master)) {
			char idx[IFNAMSIZ];

			snprintf(idx, sizeof(idx), "#%d", l->master);
			k = add_warning(b, ZT_MEMBER_WARN_BRIDGE_PORT, (size_t)seg, l->name,
					master ? master->name : idx, NULL);
			if (k < 0)
				return k;
		}
		b->cur = l;
		b->cur_seg = (size_t)seg;
		k = zt_rtnl_state_foreach_route_oif(b->s, l->ifindex, route_fn, b);
		if (k < 0)
			return k;
	}
	if (pat_lookup(&b->encpats, l->name) >= 0) {
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

static int member_if_cmp(const void *a, const void *b)
{
	const struct zt_member_if *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static int enc_cmp(const void *a, const void *b)
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

static int warning_cmp(const void *a, const void *b)
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

/* Sort and drop neighbours that compare equal (an interface name seen twice). */
static size_t sort_unique(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
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

static int member_if_same(const void *a, const void *b)
{
	const struct zt_member_if *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static int enc_same(const void *a, const void *b)
{
	return strcmp(((const struct zt_enc_link *)a)->name, ((const struct zt_enc_link *)b)->name);
}

/* Sort the routed pairs, warn about prefixes two segments claim, hand them out. */
static int distribute_routed(struct mbuild *b)
{
	struct zt_membership *m = b->m;
	size_t n = sort_unique(b->routed, b->n_routed, sizeof(*b->routed), routed_cmp, routed_cmp);

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

int zt_rtnl_membership(const struct zt_rtnl_state *s, const struct zt_policy *p,
		       struct zt_membership **ret)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct mbuild b = { .s = s };
	int k;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	b.m = m;
	if (p->n_segs) {
		m->segs = calloc(p->n_segs, sizeof(*m->segs));
		b.cap_ifs = calloc(p->n_segs, sizeof(*b.cap_ifs));
		if (!m->segs || !b.cap_ifs) {
			k = -ENOMEM;
			goto out;
		}
	}
	m->n_segs = p->n_segs;
	for (size_t i = 0; i < p->n_segs; i++) {
		struct zt_segment_members *sm = &m->segs[i];
		const struct zt_segment *seg = &p->segs[i];

		snprintf(sm->name, sizeof(sm->name), "%s", seg->name ? seg->name : "");
		if (seg->n_addrs) {
			sm->statics = calloc(seg->n_addrs, sizeof(*sm->statics));
			if (!sm->statics) {
				k = -ENOMEM;
				goto out;
			}
			memcpy(sm->statics, seg->addrs, seg->n_addrs * sizeof(*sm->statics));
			sm->n_statics = seg->n_addrs;
		}
		k = pat_index_add(&b.segpats, seg->ifs, seg->n_ifs, i);
		if (k < 0)
			goto out;
	}
	k = pat_index_add(&b.encpats, p->hub.enc_ifs, p->hub.n_enc_ifs, 0);
	if (k < 0)
		goto out;
	if (b.segpats.n)
		qsort(b.segpats.v, b.segpats.n, sizeof(*b.segpats.v), pat_cmp);
	if (b.encpats.n)
		qsort(b.encpats.v, b.encpats.n, sizeof(*b.encpats.v), pat_cmp);

	k = zt_rtnl_state_foreach_addr(s, local_fn, &b);
	if (k < 0)
		goto out;
	if (b.n_locals)
		qsort(b.locals, b.n_locals, sizeof(*b.locals), local_cmp);

	k = zt_rtnl_state_foreach_link(s, member_link_fn, &b);
	if (k < 0)
		goto out;
	k = distribute_routed(&b);
	if (k < 0)
		goto out;
	for (size_t i = 0; i < m->n_segs; i++)
		m->segs[i].n_ifs = sort_unique(m->segs[i].ifs, m->segs[i].n_ifs,
					       sizeof(struct zt_member_if), member_if_cmp,
					       member_if_same);
	m->n_enc = sort_unique(m->enc, m->n_enc, sizeof(*m->enc), enc_cmp, enc_same);
	m->n_warnings = sort_unique(m->warnings, m->n_warnings, sizeof(*m->warnings), warning_cmp,
				    warning_cmp);
	*ret = TAKE_PTR(m);
	k = 0;
out:
	free(b.segpats.v);
	free(b.encpats.v);
	free(b.locals);
	free(b.cap_ifs);
	free(b.routed);
	return k;
}

struct zt_member_index;
static void member_index_free(struct zt_member_index *x, size_t n_segs);

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

const struct zt_segment_members *zt_membership_segment(const struct zt_membership *m,
						       const char *name)
{
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
			 "segment %s: member interface %s is a port of bridge %s: "
			 "traffic between ports of one bridge is not filtered",
			 w->seg, w->ifname, w->other);
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

/* ---- membership diff -------------------------------------------------------- */

struct dbuild {
	struct zt_membership_diff *d;
	size_t cap_if_add, cap_if_del, cap_pfx_add, cap_pfx_del, cap_enc_add, cap_enc_del;
	size_t cap_warn_new;
};

static int push_if(struct zt_if_change **v, size_t *n, size_t *cap, const char *seg,
		   const struct zt_member_if *i)
{
	if (ZT_GROW(*v, *cap, *n) < 0)
		return -ENOMEM;
	memset(&(*v)[*n], 0, sizeof(**v));
	memcpy((*v)[*n].seg, seg, ZT_RTNL_SEG_MAX);
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
	memcpy((*v)[*n].seg, seg, ZT_RTNL_SEG_MAX);
	(*v)[*n].prefix = *c;
	(*n)++;
	return 0;
}

/* a and b: one segment before and after; either may be NULL. */
static int diff_segment(struct dbuild *x, const struct zt_segment_members *a,
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

static int diff_enc(struct dbuild *x, const struct zt_membership *a, const struct zt_membership *b)
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

/* The warnings of b that a does not have (both sorted by warning_cmp). */
static int diff_warnings(struct dbuild *x, const struct zt_membership *a, const struct zt_membership *b)
{
	struct zt_membership_diff *d = x->d;

	for (size_t i = 0; b && i < b->n_warnings; i++) {
		if (a && a->n_warnings &&
		    bsearch(&b->warnings[i], a->warnings, a->n_warnings, sizeof(*a->warnings), warning_cmp))
			continue;
		if (ZT_GROW(d->warn_new, x->cap_warn_new, d->n_warn_new) < 0)
			return -ENOMEM;
		d->warn_new[d->n_warn_new++] = b->warnings[i];
	}
	return 0;
}

static int cidr_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
}

/* Did m route p to a segment other than seg? */
static bool routed_elsewhere(const struct zt_membership *m, const char *seg, const struct zt_cidr *p)
{
	for (size_t i = 0; m && i < m->n_segs; i++)
		if (m->segs[i].n_routed && !streq(m->segs[i].name, seg) &&
		    bsearch(p, m->segs[i].routed, m->segs[i].n_routed, sizeof(*p), cidr_cmp))
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
	struct dbuild x = {};
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
			k = diff_segment(&x, a[i++], NULL);
		else if (c > 0)
			k = diff_segment(&x, NULL, b[j++]);
		else
			k = diff_segment(&x, a[i++], b[j++]);
	}
	if (k >= 0)
		k = diff_enc(&x, old, new);
	if (k >= 0)
		k = diff_warnings(&x, old, new);
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

/* ---- the membership, kept current ------------------------------------------- */

/* What one link contributes: what member_link_fn() and route_fn() find for it. */
struct mrec {
	int ifindex;			/* first: the tree compares it as a bucket */
	char name[IFNAMSIZ];
	char kind[ZT_RTNL_KIND_MAX];
	int master;
	ssize_t seg;			/* -1: no segment's */
	bool enc;
	bool bridge_port;
	char bridge[IFNAMSIZ];		/* the warning's "other": the master's name or #ifindex */
	struct zt_cidr *routed;		/* as route_fn() keeps them, repeats included */
	size_t n_routed, cap_routed;
	struct zt_cidr *defaults;	/* default routes through it (warned about) */
	size_t n_defaults, cap_defaults;
	size_t pos;			/* in its segment's list */
};

struct seg_links {
	struct mrec **v;
	size_t n, cap;
	bool touched;			/* by the update in progress */
	struct zt_member_if *old_ifs;	/* the published arrays before it */
	size_t old_n_ifs;
	struct zt_cidr *old_routed;
	size_t old_n_routed;
};

struct pref_seg {
	size_t seg;
	size_t cnt;			/* contributions (links, repeats) */
};

/* The segments a prefix is routed to, by segment index. */
struct pref {
	struct zt_cidr pfx;		/* first: the tree compares it */
	struct pref_seg *v;
	size_t n, cap;
};

struct zt_member_index {
	struct pat_index segpats, encpats;
	struct local_addr *locals;
	size_t n_locals, cap_locals;
	void *recs;			/* tree of struct mrec *, by ifindex */
	size_t n_mastered;		/* records with a master */
	size_t n_warn_recs;		/* records that are warned about */
	struct seg_links *segs;		/* one per segment */
	size_t *touched;		/* the segments the update in progress touched */
	size_t n_touched, cap_touched;
	void *prefs;			/* tree of struct pref *, by prefix */
	size_t n_conflicts;		/* prefs of two segments or more */
	struct zt_enc_link *enc;	/* every encrypted record, by enc_cmp(), names repeated */
	size_t n_enc, cap_enc;
	/* flags of the update in progress */
	bool enc_changed, warn_changed;
};

static void mrec_free(void *p)
{
	struct mrec *r = p;

	if (!r)
		return;
	free(r->routed);
	free(r->defaults);
	free(r);
}

static void pref_free(void *p)
{
	struct pref *x = p;

	if (x)
		free(x->v);
	free(x);
}

static int pref_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
}

static void member_index_free(struct zt_member_index *x, size_t n_segs)
{
	if (!x)
		return;
	free(x->segpats.v);
	free(x->encpats.v);
	free(x->locals);
	tdestroy(x->recs, mrec_free);
	for (size_t i = 0; x->segs && i < n_segs; i++)
		free(x->segs[i].v);
	free(x->segs);
	free(x->touched);
	tdestroy(x->prefs, pref_free);
	free(x->enc);
	free(x);
}

static int index_local_fn(const struct zt_rtnl_addr *a, void *userdata)
{
	struct zt_member_index *x = userdata;
	struct local_addr *l;

	if (ZT_GROW(x->locals, x->cap_locals, x->n_locals) < 0)
		return -ENOMEM;
	l = &x->locals[x->n_locals++];
	memset(l, 0, sizeof(*l));
	l->family = a->addr.family;
	memcpy(l->addr, a->addr.addr, ZT_ADDR_LEN(a->addr.family));
	return 0;
}

static int index_locals(struct zt_member_index *x, const struct zt_rtnl_state *s)
{
	int k;

	x->n_locals = 0;
	k = zt_rtnl_state_foreach_addr(s, index_local_fn, x);
	if (k < 0)
		return k;
	if (x->n_locals)
		qsort(x->locals, x->n_locals, sizeof(*x->locals), local_cmp);
	return 0;
}

static bool index_is_local(const struct zt_member_index *x, const struct zt_cidr *c)
{
	struct local_addr key = { .family = c->family };

	if (x->n_locals == 0)
		return false;
	memcpy(key.addr, c->addr, ZT_ADDR_LEN(c->family));
	return bsearch(&key, x->locals, x->n_locals, sizeof(key), local_cmp) != NULL;
}

struct rec_build {
	const struct zt_member_index *x;
	struct mrec *r;
};

static int rec_route_fn(const struct zt_rtnl_route *rt, void *userdata)
{
	struct rec_build *rb = userdata;
	struct mrec *r = rb->r;

	if (rt->type != RTN_UNICAST)
		return 0;
	if (rt->dst.plen == 0) {
		if (ZT_GROW(r->defaults, r->cap_defaults, r->n_defaults) < 0)
			return -ENOMEM;
		r->defaults[r->n_defaults++] = rt->dst;
		return 0;
	}
	if (zt_addr_is_linklocal_or_unspec(rt->dst.family, rt->dst.addr))
		return 0;
	if (rt->dst.plen == ZT_MAX_PLEN(rt->dst.family) && index_is_local(rb->x, &rt->dst))
		return 0;
	if (ZT_GROW(r->routed, r->cap_routed, r->n_routed) < 0)
		return -ENOMEM;
	r->routed[r->n_routed++] = rt->dst;
	return 0;
}

/*
 * The record of link l; NULL in *ret when it is no member and not
 * encrypted. The patterns look at the name alone: old, the link's last
 * record, answers for the same name.
 */
static int rec_compute(const struct zt_member_index *x, const struct zt_rtnl_state *s,
		       const struct zt_rtnl_link *l, const struct mrec *old, struct mrec **ret)
{
	bool same = old && streq(old->name, l->name);
	ssize_t seg = same ? old->seg : pat_lookup(&x->segpats, l->name);
	bool enc = same ? old->enc : pat_lookup(&x->encpats, l->name) >= 0;
	struct mrec *r;

	*ret = NULL;
	if (seg < 0 && !enc)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ifindex = l->ifindex;
	memcpy(r->name, l->name, sizeof(r->name));
	memcpy(r->kind, l->kind, sizeof(r->kind));
	r->master = l->master;
	r->seg = seg;
	r->enc = enc;
	if (seg >= 0) {
		const struct zt_rtnl_link *master;
		struct rec_build rb = { .x = x, .r = r };
		int k;

		if (zt_rtnl_link_bridge_port(s, l, &master)) {
			r->bridge_port = true;
			if (master)
				memcpy(r->bridge, master->name, sizeof(r->bridge));
			else
				snprintf(r->bridge, sizeof(r->bridge), "#%d", l->master);
		}
		k = zt_rtnl_state_foreach_route_oif(s, l->ifindex, rec_route_fn, &rb);
		if (k < 0) {
			mrec_free(r);
			return k;
		}
	}
	*ret = r;
	return 0;
}

static bool rec_warned(const struct mrec *r)
{
	return r->seg >= 0 && (r->bridge_port || r->n_defaults);
}

static void touch(struct zt_member_index *x, size_t seg)
{
	if (x->segs[seg].touched)
		return;
	/* Room was made before (index_reserve_touched()). */
	x->segs[seg].touched = true;
	x->touched[x->n_touched++] = seg;
}

static int pref_inc(struct zt_member_index *x, const struct zt_cidr *p, size_t seg)
{
	struct pref key = { .pfx = *p }, *e;
	size_t i;

	e = tree_find(&x->prefs, &key, pref_cmp);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->pfx = *p;
		e->pfx.pos = (struct zt_pos){};
		if (!tsearch(e, &x->prefs, pref_cmp)) {
			free(e);
			return -ENOMEM;
		}
	}
	for (i = 0; i < e->n && e->v[i].seg < seg; i++)
		;
	if (i < e->n && e->v[i].seg == seg) {
		e->v[i].cnt++;
		return 0;
	}
	if (ZT_GROW(e->v, e->cap, e->n) < 0)
		return -ENOMEM;
	memmove(&e->v[i + 1], &e->v[i], (e->n - i) * sizeof(*e->v));
	e->v[i] = (struct pref_seg){ .seg = seg, .cnt = 1 };
	e->n++;
	if (e->n == 2)
		x->n_conflicts++;
	if (e->n >= 2)
		x->warn_changed = true;
	return 0;
}

static void pref_dec(struct zt_member_index *x, const struct zt_cidr *p, size_t seg)
{
	struct pref key = { .pfx = *p }, *e;
	size_t i;

	e = tree_find(&x->prefs, &key, pref_cmp);
	if (!e)
		return;
	for (i = 0; i < e->n && e->v[i].seg != seg; i++)
		;
	if (i == e->n || --e->v[i].cnt > 0)
		return;
	if (e->n >= 2)
		x->warn_changed = true;
	memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof(*e->v));
	e->n--;
	if (e->n == 1)
		x->n_conflicts--;
	if (e->n == 0) {
		tdelete(e, &x->prefs, pref_cmp);
		pref_free(e);
	}
}

static void enc_of(const struct mrec *r, struct zt_enc_link *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->name, r->name, sizeof(e->name));
	memcpy(e->kind, r->kind, sizeof(e->kind));
	e->ifindex = r->ifindex;
}

/* Take r's contribution out of the index (r stays allocated). */
static void rec_remove(struct zt_member_index *x, struct mrec *r)
{
	if (r->seg >= 0) {
		struct seg_links *sl = &x->segs[r->seg];

		touch(x, (size_t)r->seg);
		for (size_t i = 0; i < r->n_routed; i++)
			pref_dec(x, &r->routed[i], (size_t)r->seg);
		sl->v[r->pos] = sl->v[--sl->n];
		sl->v[r->pos]->pos = r->pos;
	}
	if (r->enc) {
		struct zt_enc_link e;
		struct zt_enc_link *hit;

		enc_of(r, &e);
		hit = x->n_enc ? bsearch(&e, x->enc, x->n_enc, sizeof(e), enc_cmp) : NULL;
		if (hit) {
			memmove(hit, hit + 1, (size_t)(x->enc + x->n_enc - hit - 1) * sizeof(*hit));
			x->n_enc--;
		}
		x->enc_changed = true;
	}
	if (rec_warned(r)) {
		x->n_warn_recs--;
		x->warn_changed = true;
	}
	if (r->master)
		x->n_mastered--;
	tdelete(r, &x->recs, bucket_cmp);
}

/* Put r's contribution into the index; it belongs to the index then, even on failure. */
static int rec_insert(struct zt_member_index *x, struct mrec *r, bool publish)
{
	if (!tsearch(r, &x->recs, bucket_cmp)) {
		mrec_free(r);
		return -ENOMEM;
	}
	if (r->master)
		x->n_mastered++;
	if (rec_warned(r)) {
		x->n_warn_recs++;
		x->warn_changed = true;
	}
	if (r->enc) {
		struct zt_enc_link e;
		size_t lo = 0, hi = x->n_enc;

		enc_of(r, &e);
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;

			if (enc_cmp(&x->enc[mid], &e) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (ZT_GROW(x->enc, x->cap_enc, x->n_enc) < 0)
			return -ENOMEM;
		memmove(&x->enc[lo + 1], &x->enc[lo], (x->n_enc - lo) * sizeof(e));
		x->enc[lo] = e;
		x->n_enc++;
		x->enc_changed = true;
	}
	if (r->seg >= 0) {
		struct seg_links *sl = &x->segs[r->seg];

		if (publish)
			touch(x, (size_t)r->seg);
		if (ZT_GROW(sl->v, sl->cap, sl->n) < 0)
			return -ENOMEM;
		r->pos = sl->n;
		sl->v[sl->n++] = r;
		for (size_t i = 0; i < r->n_routed; i++) {
			int k = pref_inc(x, &r->routed[i], (size_t)r->seg);

			if (k < 0)
				return k;
		}
	}
	return 0;
}

static int index_reserve_touched(struct zt_member_index *x, size_t more)
{
	while (x->cap_touched < x->n_touched + more)
		if (ZT_GROW(x->touched, x->cap_touched, x->cap_touched) < 0)
			return -ENOMEM;
	return 0;
}

struct index_build {
	struct zt_member_index *x;
	const struct zt_rtnl_state *s;
	int r;
};

static int index_link_fn(const struct zt_rtnl_link *l, void *userdata)
{
	struct index_build *b = userdata;
	struct mrec *r;
	int k = rec_compute(b->x, b->s, l, NULL, &r);

	if (k < 0)
		return k;
	return r ? rec_insert(b->x, r, false) : 0;
}

int zt_membership_track(const struct zt_rtnl_state *s, const struct zt_policy *p,
			struct zt_membership **ret)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct zt_member_index *x;
	struct index_build b = { .s = s };
	int k;

	k = zt_rtnl_membership(s, p, &m);
	if (k < 0)
		return k;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	m->idx = x;
	b.x = x;
	if (m->n_segs) {
		x->segs = calloc(m->n_segs, sizeof(*x->segs));
		if (!x->segs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_segs; i++) {
		k = pat_index_add(&x->segpats, p->segs[i].ifs, p->segs[i].n_ifs, i);
		if (k < 0)
			return k;
	}
	k = pat_index_add(&x->encpats, p->hub.enc_ifs, p->hub.n_enc_ifs, 0);
	if (k < 0)
		return k;
	if (x->segpats.n)
		qsort(x->segpats.v, x->segpats.n, sizeof(*x->segpats.v), pat_cmp);
	if (x->encpats.n)
		qsort(x->encpats.v, x->encpats.n, sizeof(*x->encpats.v), pat_cmp);
	k = index_locals(x, s);
	if (k < 0)
		return k;
	k = zt_rtnl_state_foreach_link(s, index_link_fn, &b);
	if (k < 0)
		return k;
	x->enc_changed = x->warn_changed = false;
	*ret = TAKE_PTR(m);
	return 0;
}

struct collect_ifindex {
	int *v;
	size_t n, cap;
	const int *dirty;		/* records whose master is one of these */
	size_t n_dirty;
};

static int collect_rec_fn(const void *item, void *userdata)
{
	const struct mrec *r = item;
	struct collect_ifindex *c = userdata;

	if (c->dirty && (!r->master || !bsearch(&r->master, c->dirty, c->n_dirty, sizeof(int), int_cmp)))
		return 0;
	if (ZT_GROW(c->v, c->cap, c->n) < 0)
		return -ENOMEM;
	c->v[c->n++] = r->ifindex;
	return 0;
}

static int collect_link_fn(const struct zt_rtnl_link *l, void *userdata)
{
	struct collect_ifindex *c = userdata;

	if (ZT_GROW(c->v, c->cap, c->n) < 0)
		return -ENOMEM;
	c->v[c->n++] = l->ifindex;
	return 0;
}

/* The links to look at again: d's, and the members of a bridge among them. */
static int dirty_links(struct zt_member_index *x, const struct zt_rtnl_state *s,
		       const struct zt_rtnl_dirty *d, struct collect_ifindex *c)
{
	size_t n = 0;
	int k = 0;

	if (d->all) {
		k = tree_walk(x->recs, collect_rec_fn, c);
		if (k >= 0)
			k = zt_rtnl_state_foreach_link(s, collect_link_fn, c);
	} else {
		/* Routes count for members only, and every member has a record. */
		if (d->members)
			k = tree_walk(x->recs, collect_rec_fn, c);
		for (size_t i = 0; k >= 0 && i < d->n; i++)
			k = collect_link_fn(&(struct zt_rtnl_link){ .ifindex = d->ifindex[i] }, c);
		if (k >= 0 && x->n_mastered && d->n) {
			c->dirty = d->ifindex;
			c->n_dirty = d->n;
			k = tree_walk(x->recs, collect_rec_fn, c);
		}
	}
	if (k < 0 || c->n == 0)
		return k;
	qsort(c->v, c->n, sizeof(*c->v), int_cmp);
	for (size_t i = 0; i < c->n; i++)
		if (n == 0 || c->v[n - 1] != c->v[i])
			c->v[n++] = c->v[i];
	c->n = n;
	return 0;
}

/* A touched segment's published arrays, from its records. */
static int publish_segment(struct zt_member_index *x, struct zt_segment_members *sm, size_t seg)
{
	struct seg_links *sl = &x->segs[seg];
	struct zt_member_if *ifs = NULL;
	struct zt_cidr *routed = NULL;
	size_t n_routed = 0;

	for (size_t i = 0; i < sl->n; i++)
		n_routed += sl->v[i]->n_routed;
	if (sl->n) {
		ifs = calloc(sl->n, sizeof(*ifs));
		if (!ifs)
			return -ENOMEM;
	}
	if (n_routed) {
		routed = calloc(n_routed, sizeof(*routed));
		if (!routed) {
			free(ifs);
			return -ENOMEM;
		}
	}
	n_routed = 0;
	for (size_t i = 0; i < sl->n; i++) {
		memcpy(ifs[i].name, sl->v[i]->name, sizeof(ifs[i].name));
		ifs[i].ifindex = sl->v[i]->ifindex;
		if (sl->v[i]->n_routed)
			memcpy(routed + n_routed, sl->v[i]->routed, sl->v[i]->n_routed * sizeof(*routed));
		n_routed += sl->v[i]->n_routed;
	}
	sl->old_ifs = sm->ifs;
	sl->old_n_ifs = sm->n_ifs;
	sl->old_routed = sm->routed;
	sl->old_n_routed = sm->n_routed;
	sm->ifs = ifs;
	sm->n_ifs = sort_unique(ifs, sl->n, sizeof(*ifs), member_if_cmp, member_if_same);
	sm->routed = routed;
	sm->n_routed = sort_unique(routed, n_routed, sizeof(*routed), cidr_cmp, cidr_cmp);
	return 0;
}

/* Was p routed to a segment other than seg before this update? */
static bool index_routed_elsewhere(const struct zt_member_index *x, const struct zt_cidr *p, size_t seg)
{
	struct pref key = { .pfx = *p };
	const struct pref *e = tree_find((void *const *)&x->prefs, &key, pref_cmp);

	/* Untouched segments route now what they routed before. */
	for (size_t i = 0; e && i < e->n; i++)
		if (e->v[i].seg != seg && !x->segs[e->v[i].seg].touched)
			return true;
	for (size_t i = 0; i < x->n_touched; i++) {
		const struct seg_links *sl = &x->segs[x->touched[i]];

		if (x->touched[i] != seg && sl->old_n_routed &&
		    bsearch(p, sl->old_routed, sl->old_n_routed, sizeof(*p), cidr_cmp))
			return true;
	}
	return false;
}

struct warn_build {
	const struct zt_membership *m;
	struct zt_member_warning *v;
	size_t n, cap;
};

static int warn_push(struct warn_build *w, enum zt_member_warning_kind kind, size_t seg,
		     const char *ifname, const char *other, const struct zt_cidr *prefix)
{
	struct zt_member_warning *e;

	if (ZT_GROW(w->v, w->cap, w->n) < 0)
		return -ENOMEM;
	e = &w->v[w->n++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	memcpy(e->seg, w->m->segs[seg].name, sizeof(e->seg));
	if (ifname)
		snprintf(e->ifname, sizeof(e->ifname), "%s", ifname);
	if (other)
		snprintf(e->other, sizeof(e->other), "%s", other);
	if (prefix)
		e->prefix = *prefix;
	return 0;
}

static int warn_rec_fn(const void *item, void *userdata)
{
	const struct mrec *r = item;
	struct warn_build *w = userdata;
	int k = 0;

	if (!rec_warned(r))
		return 0;
	if (r->bridge_port)
		k = warn_push(w, ZT_MEMBER_WARN_BRIDGE_PORT, (size_t)r->seg, r->name, r->bridge, NULL);
	for (size_t i = 0; k >= 0 && i < r->n_defaults; i++)
		k = warn_push(w, ZT_MEMBER_WARN_DEFAULT_ROUTE, (size_t)r->seg, r->name, NULL, &r->defaults[i]);
	return k;
}

static int warn_pref_fn(const void *item, void *userdata)
{
	const struct pref *e = item;
	struct warn_build *w = userdata;
	int k = 0;

	for (size_t i = 1; k >= 0 && i < e->n; i++)
		k = warn_push(w, ZT_MEMBER_WARN_PREFIX_CONFLICT, e->v[0].seg, NULL,
			      w->m->segs[e->v[i].seg].name, &e->pfx);
	return k;
}

static int touched_cmp(const void *a, const void *b, void *userdata)
{
	const struct zt_membership *m = userdata;

	return strcmp(m->segs[*(const size_t *)a].name, m->segs[*(const size_t *)b].name);
}

int zt_membership_update(struct zt_membership *m, const struct zt_rtnl_state *s,
			 const struct zt_rtnl_dirty *d, struct zt_membership_diff **ret)
{
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	struct zt_member_index *x = m->idx;
	struct collect_ifindex c = {};
	struct dbuild db = {};
	struct zt_membership old = {};
	int k;

	if (!x)
		return -EINVAL;
	df = calloc(1, sizeof(*df));
	if (!df)
		return -ENOMEM;
	db.d = df;
	x->enc_changed = x->warn_changed = false;
	x->n_touched = 0;
	if (d->all || d->members) {
		k = index_locals(x, s);
		if (k < 0)
			goto out;
	}
	k = dirty_links(x, s, d, &c);
	if (k < 0)
		goto out;
	/* Each link touches at most two segments: the one it left, the one it joined. */
	k = index_reserve_touched(x, 2 * c.n);
	if (k < 0)
		goto out;
	for (size_t i = 0; i < c.n; i++) {
		struct mrec key = { .ifindex = c.v[i] }, *r = tree_find(&x->recs, &key, bucket_cmp), *nr = NULL;
		const struct zt_rtnl_link *l = zt_rtnl_state_link(s, c.v[i]);

		if (l) {
			k = rec_compute(x, s, l, r, &nr);
			if (k < 0)
				goto out;
		}
		if (r) {
			rec_remove(x, r);
			mrec_free(r);
		}
		if (nr) {
			k = rec_insert(x, nr, true);
			if (k < 0)
				goto out;
		}
	}

	/* The touched segments anew, and how they differ, in the order of their names. */
	if (x->n_touched > 1)
		qsort_r(x->touched, x->n_touched, sizeof(*x->touched), touched_cmp, m);
	for (size_t i = 0; i < x->n_touched; i++) {
		k = publish_segment(x, &m->segs[x->touched[i]], x->touched[i]);
		if (k < 0)
			goto out;
	}
	for (size_t i = 0; i < x->n_touched && k >= 0; i++) {
		size_t seg = x->touched[i], first = df->n_pfx_add;
		struct seg_links *sl = &x->segs[seg];
		struct zt_segment_members was = {
			.ifs = sl->old_ifs, .n_ifs = sl->old_n_ifs,
			.routed = sl->old_routed, .n_routed = sl->old_n_routed,
		};

		memcpy(was.name, m->segs[seg].name, sizeof(was.name));
		k = diff_segment(&db, &was, &m->segs[seg]);
		for (size_t p = first; k >= 0 && p < df->n_pfx_add; p++)
			df->pfx_add[p].elsewhere = index_routed_elsewhere(x, &df->pfx_add[p].prefix, seg);
	}
	if (k < 0)
		goto out;

	if (x->enc_changed) {
		struct zt_enc_link *v = NULL;

		if (x->n_enc) {
			v = malloc(x->n_enc * sizeof(*v));
			if (!v) {
				k = -ENOMEM;
				goto out;
			}
			memcpy(v, x->enc, x->n_enc * sizeof(*v));
		}
		old.enc = m->enc;
		old.n_enc = m->n_enc;
		m->enc = v;
		m->n_enc = sort_unique(v, x->n_enc, sizeof(*v), enc_cmp, enc_same);
		k = diff_enc(&db, &old, m);
		if (k < 0)
			goto out;
	}
	if (x->warn_changed) {
		struct warn_build w = { .m = m };

		if (x->n_warn_recs)
			k = tree_walk(x->recs, warn_rec_fn, &w);
		if (k >= 0 && x->n_conflicts)
			k = tree_walk(x->prefs, warn_pref_fn, &w);
		if (k < 0) {
			free(w.v);
			goto out;
		}
		old.warnings = m->warnings;
		old.n_warnings = m->n_warnings;
		m->warnings = w.v;
		m->n_warnings = sort_unique(w.v, w.n, sizeof(*w.v), warning_cmp, warning_cmp);
		k = diff_warnings(&db, &old, m);
		if (k < 0)
			goto out;
	}
	*ret = TAKE_PTR(df);
	k = 0;
out:
	for (size_t i = 0; i < x->n_touched; i++) {
		struct seg_links *sl = &x->segs[x->touched[i]];

		free(sl->old_ifs);
		free(sl->old_routed);
		sl->old_ifs = NULL;
		sl->old_routed = NULL;
		sl->old_n_ifs = sl->old_n_routed = 0;
		sl->touched = false;
	}
	x->n_touched = 0;
	free(old.enc);
	free(old.warnings);
	free(c.v);
	return k;
}
