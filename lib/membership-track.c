/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The incremental membership tracker: an index of what each link
 * contributes, so an rtnetlink change costs what it changed rather than a
 * full zt_membership_compute(), with the same result.
 */
#include <search.h>
#include <stdio.h>
#include "membership-internal.h"
#include "tree.h"

/* What one link contributes: what the full recompute finds for it. */
struct mrec {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[ZT_RTNL_KIND_MAX];
	int master;
	ssize_t seg;			/* -1: no segment's */
	bool enc;
	bool bridge_port;		/* a bridge port table bridge ztseg does not enforce */
	bool is_bridge;			/* a bridge itself matches the pattern */
	char bridge[IFNAMSIZ];		/* the warning's "other": the master's name or #ifindex */
	struct zt_cidr *routed;		/* as the full recompute keeps them, repeats included */
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
	struct member_patterns pats;
	struct member_locals locals;
	void *recs;			/* tree of struct mrec *, by ifindex */
	size_t n_mastered;		/* records with a master */
	size_t n_warn_recs;		/* records that are warned about */
	struct seg_links *segs;		/* one per segment */
	size_t *touched;		/* the segments the update in progress touched */
	size_t n_touched, cap_touched;
	void *prefs;			/* tree of struct pref *, by prefix */
	size_t n_conflicts;		/* prefs of two segments or more */
	struct zt_enc_link *enc;	/* every encrypted record, by member_enc_cmp(), names repeated */
	size_t n_enc, cap_enc;
	/* flags of the update in progress */
	bool enc_changed, warn_changed;
};

static int int_cmp(const void *a, const void *b)
{
	const int *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

static int mrec_cmp(const void *a, const void *b)
{
	const struct mrec *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

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

void member_index_free(struct zt_member_index *x, size_t n_segs)
{
	if (!x)
		return;
	member_patterns_clear(&x->pats);
	member_locals_clear(&x->locals);
	tdestroy(x->recs, mrec_free);
	for (size_t i = 0; x->segs && i < n_segs; i++)
		free(x->segs[i].v);
	free(x->segs);
	free(x->touched);
	tdestroy(x->prefs, pref_free);
	free(x->enc);
	free(x);
}

struct rec_build {
	const struct zt_member_index *x;
	struct mrec *r;
};

static int rec_route_fn(const struct zt_rtnl_route *rt, void *userdata)
{
	struct rec_build *rb = userdata;
	struct mrec *r = rb->r;

	switch (member_route_class(&rb->x->locals, rt)) {
	case MEMBER_ROUTE_IGNORED:
		return 0;
	case MEMBER_ROUTE_DEFAULT:
		if (ZT_GROW(r->defaults, r->cap_defaults, r->n_defaults) < 0)
			return -ENOMEM;
		r->defaults[r->n_defaults++] = rt->dst;
		return 0;
	case MEMBER_ROUTE_ROUTED:
		break;
	}
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
	ssize_t seg = same ? old->seg : member_pats_lookup(&x->pats.seg, l->name);
	bool enc = same ? old->enc : member_pats_lookup(&x->pats.enc, l->name) >= 0;
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
		struct rec_build rb = { .x = x, .r = r };
		int k;

		r->bridge_port = x->pats.unbridged[seg] && member_bridge_port(s, l, r->bridge);
		r->is_bridge = streq(l->kind, "bridge");
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
	return r->seg >= 0 && (r->bridge_port || r->is_bridge || r->n_defaults);
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

	e = zt_tree_find(&x->prefs, &key, pref_cmp);
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

	e = zt_tree_find(&x->prefs, &key, pref_cmp);
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
		hit = x->n_enc ? bsearch(&e, x->enc, x->n_enc, sizeof(e), member_enc_cmp) : NULL;
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
	tdelete(r, &x->recs, mrec_cmp);
}

/* Add r's encrypted link to the sorted list. */
static int enc_insert(struct zt_member_index *x, const struct mrec *r)
{
	struct zt_enc_link e;
	size_t lo = 0, hi = x->n_enc;

	enc_of(r, &e);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (member_enc_cmp(&x->enc[mid], &e) < 0)
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
	return 0;
}

/* Put r's contribution into the index; it belongs to the index then, even on failure. */
static int rec_insert(struct zt_member_index *x, struct mrec *r, bool publish)
{
	if (!tsearch(r, &x->recs, mrec_cmp)) {
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
		int k = enc_insert(x, r);

		if (k < 0)
			return k;
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

	k = zt_membership_compute(s, p, &m);
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
	k = member_patterns_build(&x->pats, p);
	if (k < 0)
		return k;
	k = member_locals_build(&x->locals, s);
	if (k < 0)
		return k;
	k = zt_rtnl_state_foreach_link(s, index_link_fn, &b);
	if (k < 0)
		return k;
	x->enc_changed = x->warn_changed = false;
	*ret = TAKE_PTR(m);
	return 0;
}

/* ---- zt_membership_track_update() --------------------------------------------- */

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
		k = zt_tree_walk(x->recs, collect_rec_fn, c);
		if (k >= 0)
			k = zt_rtnl_state_foreach_link(s, collect_link_fn, c);
	} else {
		/* Routes count for members only, and every member has a record. */
		if (d->members)
			k = zt_tree_walk(x->recs, collect_rec_fn, c);
		for (size_t i = 0; k >= 0 && i < d->n; i++)
			k = collect_link_fn(&(struct zt_rtnl_link){ .ifindex = d->ifindex[i] }, c);
		if (k >= 0 && x->n_mastered && d->n) {
			c->dirty = d->ifindex;
			c->n_dirty = d->n;
			k = zt_tree_walk(x->recs, collect_rec_fn, c);
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

/* Compute the records of the links in c anew, and swap them into the index. */
static int recompute_links(struct zt_member_index *x, const struct zt_rtnl_state *s,
			   const struct collect_ifindex *c)
{
	int k;

	/* Each link touches at most two segments: the one it left, the one it joined. */
	k = index_reserve_touched(x, 2 * c->n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < c->n; i++) {
		struct mrec key = { .ifindex = c->v[i] }, *r = zt_tree_find(&x->recs, &key, mrec_cmp);
		struct mrec *nr = NULL;
		const struct zt_rtnl_link *l = zt_rtnl_state_link(s, c->v[i]);

		if (l) {
			k = rec_compute(x, s, l, r, &nr);
			if (k < 0)
				return k;
		}
		if (r) {
			rec_remove(x, r);
			mrec_free(r);
		}
		if (nr) {
			k = rec_insert(x, nr, true);
			if (k < 0)
				return k;
		}
	}
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
	sm->n_ifs = member_sort_unique(ifs, sl->n, sizeof(*ifs), member_if_cmp, member_if_same);
	sm->routed = routed;
	sm->n_routed = member_sort_unique(routed, n_routed, sizeof(*routed), member_cidr_cmp,
					  member_cidr_cmp);
	return 0;
}

/* Was p routed to a segment other than seg before this update? */
static bool index_routed_elsewhere(const struct zt_member_index *x, const struct zt_cidr *p, size_t seg)
{
	struct pref key = { .pfx = *p };
	const struct pref *e = zt_tree_find((void *const *)&x->prefs, &key, pref_cmp);

	/* Untouched segments route now what they routed before. */
	for (size_t i = 0; e && i < e->n; i++)
		if (e->v[i].seg != seg && !x->segs[e->v[i].seg].touched)
			return true;
	for (size_t i = 0; i < x->n_touched; i++) {
		const struct seg_links *sl = &x->segs[x->touched[i]];

		if (x->touched[i] != seg && sl->old_n_routed &&
		    bsearch(p, sl->old_routed, sl->old_n_routed, sizeof(*p), member_cidr_cmp))
			return true;
	}
	return false;
}

static int touched_cmp(const void *a, const void *b, void *userdata)
{
	const struct zt_membership *m = userdata;

	return strcmp(m->segs[*(const size_t *)a].name, m->segs[*(const size_t *)b].name);
}

/* The touched segments anew, and how they differ, in the order of their names. */
static int publish_segments(struct zt_membership *m, struct member_diff_build *db)
{
	struct zt_member_index *x = m->idx;
	struct zt_membership_diff *df = db->d;
	int k = 0;

	if (x->n_touched > 1)
		qsort_r(x->touched, x->n_touched, sizeof(*x->touched), touched_cmp, m);
	for (size_t i = 0; i < x->n_touched; i++) {
		k = publish_segment(x, &m->segs[x->touched[i]], x->touched[i]);
		if (k < 0)
			return k;
	}
	for (size_t i = 0; i < x->n_touched && k >= 0; i++) {
		size_t seg = x->touched[i], first = df->n_pfx_add;
		struct seg_links *sl = &x->segs[seg];
		struct zt_segment_members was = {
			.ifs = sl->old_ifs, .n_ifs = sl->old_n_ifs,
			.routed = sl->old_routed, .n_routed = sl->old_n_routed,
		};

		memcpy(was.name, m->segs[seg].name, sizeof(was.name));
		k = member_diff_segment(db, &was, &m->segs[seg]);
		for (size_t p = first; k >= 0 && p < df->n_pfx_add; p++)
			df->pfx_add[p].elsewhere = index_routed_elsewhere(x, &df->pfx_add[p].prefix, seg);
	}
	return k;
}

/* The encrypted links anew from the index, and how they differ. */
static int publish_enc(struct zt_membership *m, struct member_diff_build *db)
{
	struct zt_member_index *x = m->idx;
	struct zt_membership old = {};
	struct zt_enc_link *v = NULL;
	int k;

	if (x->n_enc) {
		v = malloc(x->n_enc * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, x->enc, x->n_enc * sizeof(*v));
	}
	old.enc = m->enc;
	old.n_enc = m->n_enc;
	m->enc = v;
	m->n_enc = member_sort_unique(v, x->n_enc, sizeof(*v), member_enc_cmp, member_enc_same);
	k = member_diff_enc(db, &old, m);
	free(old.enc);
	return k;
}

struct warn_build {
	const struct zt_membership *m;
	struct zt_member_warning *v;
	size_t n, cap;
};

static int warn_push(struct warn_build *w, enum zt_member_warning_kind kind, size_t seg,
		     const char *ifname, const char *other, const struct zt_cidr *prefix)
{
	if (ZT_GROW(w->v, w->cap, w->n) < 0)
		return -ENOMEM;
	member_warning_set(&w->v[w->n++], kind, w->m->segs[seg].name, ifname, other, prefix);
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
	if (k >= 0 && r->is_bridge)
		k = warn_push(w, ZT_MEMBER_WARN_BRIDGE_ITSELF, (size_t)r->seg, r->name, NULL, NULL);
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

/* The warnings anew from the index, and which are new. */
static int publish_warnings(struct zt_membership *m, struct member_diff_build *db)
{
	struct zt_member_index *x = m->idx;
	struct warn_build w = { .m = m };
	struct zt_membership old = {};
	int k = 0;

	if (x->n_warn_recs)
		k = zt_tree_walk(x->recs, warn_rec_fn, &w);
	if (k >= 0 && x->n_conflicts)
		k = zt_tree_walk(x->prefs, warn_pref_fn, &w);
	if (k < 0) {
		free(w.v);
		return k;
	}
	old.warnings = m->warnings;
	old.n_warnings = m->n_warnings;
	m->warnings = w.v;
	m->n_warnings = member_sort_unique(w.v, w.n, sizeof(*w.v), member_warning_cmp,
					   member_warning_cmp);
	k = member_diff_warnings(db, &old, m);
	free(old.warnings);
	return k;
}

/* Forget the update's touched segments and the arrays they published before it. */
static void untouch_all(struct zt_member_index *x)
{
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
}

static int track_update(struct zt_membership *m, const struct zt_rtnl_state *s,
			const struct zt_rtnl_dirty *d, struct member_diff_build *db)
{
	struct zt_member_index *x = m->idx;
	struct collect_ifindex c = {};
	int k = 0;

	if (d->all || d->members)
		k = member_locals_build(&x->locals, s);
	if (k >= 0)
		k = dirty_links(x, s, d, &c);
	if (k >= 0)
		k = recompute_links(x, s, &c);
	if (k >= 0)
		k = publish_segments(m, db);
	if (k >= 0 && x->enc_changed)
		k = publish_enc(m, db);
	if (k >= 0 && x->warn_changed)
		k = publish_warnings(m, db);
	free(c.v);
	return k;
}

int zt_membership_track_update(struct zt_membership *m, const struct zt_rtnl_state *s,
			       const struct zt_rtnl_dirty *d, struct zt_membership_diff **ret)
{
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	struct zt_member_index *x = m->idx;
	struct member_diff_build db = {};
	int k;

	if (!x)
		return -EINVAL;
	df = calloc(1, sizeof(*df));
	if (!df)
		return -ENOMEM;
	db.d = df;
	x->enc_changed = x->warn_changed = false;
	x->n_touched = 0;
	k = track_update(m, s, d, &db);
	untouch_all(x);
	if (k < 0)
		return k;
	*ret = TAKE_PTR(df);
	return 0;
}
