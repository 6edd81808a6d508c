/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's exact interface names (lib/ifx.h): every link of the host has
 * its elements in the twins of the plan, added when the link appears and
 * removed when it goes (DESTROYSETELEM: an element apply's own link dump
 * already put there or took away is no error). Apply fills the twins in
 * the reload's own transaction when their pattern sets change; between
 * reloads this keeps them to the links. A name that is not there yet is
 * classified by the pattern sets: late is never wrong, only slower.
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

int manager_ifx_sync(struct manager *m, bool refill)
{
	struct names w = {};
	char (*add)[IFNAMSIZ] = NULL, (*del)[IFNAMSIZ] = NULL;
	size_t n_add = 0, n_del = 0;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r, err = 0;

	if (!m->cur.plan)
		return 0;
	r = names_wanted(m, &w);
	if (r < 0)
		goto out;
	if (!refill) {
		add = calloc(w.n + 1, sizeof(*add));
		del = calloc(m->n_ifx + 1, sizeof(*del));
		if (!add || !del) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < w.n; i++)
			if (!m->n_ifx || !bsearch(w.v[i], m->ifx, m->n_ifx, sizeof(*m->ifx), name_cmp))
				memcpy(add[n_add++], w.v[i], IFNAMSIZ);
		for (size_t i = 0; i < m->n_ifx; i++)
			if (!w.n || !bsearch(m->ifx[i], w.v, w.n, sizeof(*w.v), name_cmp))
				memcpy(del[n_del++], m->ifx[i], IFNAMSIZ);
		if (!n_add && !n_del)
			goto out;
	}
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0 && refill)
		r = twins_emit(m, b, w.v, w.n, NFT_MSG_NEWSETELEM, true);
	else if (r >= 0) {
		r = twins_emit(m, b, del, n_del, ZT_NFT_MSG_DESTROYSETELEM, false);
		if (r >= 0)
			r = twins_emit(m, b, add, n_add, NFT_MSG_NEWSETELEM, false);
	}
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0 && !refill && r != -ENOMEM) {
		log_debug("exact interface names: update refused (%s), refilling", strerror(err ? err : -r));
		zt_batch_free(b);
		b = NULL;
		zt_diags_clear(&d);
		free(w.v);
		free(add);
		free(del);
		return manager_ifx_sync(m, true);
	}
	if (r < 0) {
		/* Fail closed all the same: a name the maps lack is classified by its pattern. */
		log_error("cannot update the exact interface names: %s", d.n ? d.v[0].msg : strerror(err ? err : -r));
		goto out;
	}
	free(m->ifx);
	m->ifx = TAKE_PTR(w.v);
	m->n_ifx = w.n;
out:
	zt_batch_free(b);
	zt_diags_clear(&d);
	free(w.v);
	free(add);
	free(del);
	return r;
}
