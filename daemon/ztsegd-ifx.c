/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's exact interface names (lib/ifx.h): every link of the host has
 * its elements in the twins of the plan, added when the link appears and
 * removed when it goes (DESTROYSETELEM: an element apply's own link dump
 * already put there or took away is no error). Apply fills the twins in
 * the reload's own transaction when their pattern sets change; between
 * reloads this keeps them to the links. A name that is not there yet is
 * classified by the pattern sets: late is never wrong, only slower. The
 * twins' changes share one transaction with enc_if's (manager_sync_links
 * in ztsegd-sync.c): every commit costs the kernel a walk of every chain.
 */
#include <stdio.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "ifx.h"
#include "ztsegd.h"

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

struct names {
	char (*v)[IFNAMSIZ];
	size_t n, cap;
};

static int names_add_link(const struct zt_rtnl_link *l, void *userdata)
{
	struct names *w = userdata;

	if (!l->name[0])
		return 0;
	if (ZT_GROW(w->v, w->cap, w->n) < 0)
		return -ENOMEM;
	memcpy(w->v[w->n++], l->name, IFNAMSIZ);
	return 0;
}

/* Every link name of the host, sorted, without duplicates. */
static int names_wanted(struct manager *m, struct names *w)
{
	size_t k = 0;
	int r = zt_rtnl_state_foreach_link(zt_rtnl_state(m->rtnl), names_add_link, w);

	if (r < 0)
		return r;
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), name_cmp);
	for (size_t i = 0; i < w->n; i++)
		if (!k || !streq(w->v[i], w->v[k - 1]))
			memmove(w->v[k++], w->v[i], IFNAMSIZ);
	w->n = k;
	return 0;
}

/* The elements of every twin for names, as NEWSETELEM or DESTROYSETELEM (flush first: refill). */
static int twins_emit(struct manager *m, struct zt_batch *b, char (*names)[IFNAMSIZ], size_t n, uint16_t type,
		      bool flush)
{
	const struct zt_plan *p = m->cur.plan;
	int r = 0;

	for (size_t i = 0; i < p->n_sets && r >= 0; i++) {
		struct zt_set s = p->sets[i];
		struct zt_set_enc enc = {};
		_cleanup_free_ struct zt_elem *el = NULL;
		size_t k = 0;

		if (!s.dynamic || !zt_ifx_is_twin(s.name))
			continue;
		if (flush && (r = zt_emit_set_flush(b, s.name)) < 0)
			break;
		r = zt_ifx_elems(p, &s, (const char (*)[IFNAMSIZ])names, n, &el, &k);
		if (r < 0 || k == 0)
			continue;
		s = zt_set_with(&p->sets[i], el, k);
		r = zt_set_encode(&s, &enc);
		if (r >= 0)
			r = zt_emit_elems(b, &s, &enc, NULL, 0, type);
		zt_set_enc_clear(&enc);
	}
	/* table bridge ztseg's twins of port_src/port_dst (lib/bridge.h): the same names */
	if (r >= 0 && p->bridge.n_segs)
		r = zt_bridge_emit_ports(b, &p->bridge, (const char (*)[IFNAMSIZ])names, n, type, flush);
	return r;
}

/* The names every twin should hold (every link's) and, unless refill, what to send to get there from m->ifx. */
int manager_ifx_prepare(struct manager *m, bool refill, struct names_change *c)
{
	struct names w = {};
	int r = names_wanted(m, &w);

	c->want = w.v;
	c->n_want = w.n;
	if (r < 0 || refill)
		return r;
	return manager_ifx_names_diff(c, m->ifx, m->n_ifx);
}

/* The twins' part of a links transaction: the difference, or (refill) each twin flushed and filled anew. */
int manager_ifx_emit(struct manager *m, struct zt_batch *b, const struct names_change *c, bool refill)
{
	int r;

	if (refill)
		return twins_emit(m, b, c->want, c->n_want, NFT_MSG_NEWSETELEM, true);
	r = twins_emit(m, b, c->del, c->n_del, ZT_NFT_MSG_DESTROYSETELEM, false);
	return r < 0 ? r : twins_emit(m, b, c->add, c->n_add, NFT_MSG_NEWSETELEM, false);
}

/* After the commit: the twins hold c's names. */
void manager_ifx_done(struct manager *m, struct names_change *c)
{
	free(m->ifx);
	m->ifx = TAKE_PTR(c->want);
	m->n_ifx = c->n_want;
}

/* ---- A sorted list of interface names the kernel holds: what to send to change it ---- */

void manager_ifx_names_clear(struct names_change *c)
{
	free(c->want);
	free(c->add);
	free(c->del);
	*c = (struct names_change){};
}

/* c->add and c->del: the names of c->want (sorted, unique) have lacks, and the other way round. */
int manager_ifx_names_diff(struct names_change *c, char (*have)[IFNAMSIZ], size_t n_have)
{
	c->add = calloc(c->n_want + 1, sizeof(*c->add));
	c->del = calloc(n_have + 1, sizeof(*c->del));
	if (!c->add || !c->del)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_want; i++)
		if (!n_have || !bsearch(c->want[i], have, n_have, sizeof(*have), name_cmp))
			memcpy(c->add[c->n_add++], c->want[i], IFNAMSIZ);
	for (size_t i = 0; i < n_have; i++)
		if (!c->n_want || !bsearch(have[i], c->want, c->n_want, sizeof(*c->want), name_cmp))
			memcpy(c->del[c->n_del++], have[i], IFNAMSIZ);
	return 0;
}
