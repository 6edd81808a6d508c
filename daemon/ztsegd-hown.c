/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's side of the host's own addresses on bridges (lib/bridge.h,
 * sets hown4 and hownna of table bridge ztseg): no port of a bridge may
 * claim one of them in ARP or an NA (poisoning the workloads' gateway).
 * Apply fills the sets from its own address dump whenever it writes the
 * table; between applies this keeps them to the addresses rtnetlink
 * reports (RTM_NEWADDR/DELADDR on a link of kind "bridge"): the
 * difference, or on any refusal both sets flushed and filled anew in one
 * transaction. An address is protected from the event that adds it on.
 */
#include <stdio.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "ztsegd.h"

struct hwant {
	const struct zt_rtnl_state *s;
	struct zt_bridge_haddr *v;
	size_t n, cap;
};

static int want_addr(const struct zt_rtnl_addr *a, void *userdata)
{
	struct hwant *w = userdata;
	const struct zt_rtnl_link *l = zt_rtnl_state_link(w->s, a->ifindex);

	if (!l || !streq(l->kind, "bridge") || (a->addr.family != AF_INET && a->addr.family != AF_INET6))
		return 0;
	if (ZT_GROW(w->v, w->cap, w->n + 1) < 0)
		return -ENOMEM;
	w->v[w->n] = (struct zt_bridge_haddr){ .family = a->addr.family };
	memcpy(w->v[w->n++].addr, a->addr.addr, 16);
	return 0;
}

static bool has(const struct zt_bridge_haddr *v, size_t n, const struct zt_bridge_haddr *a)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == a->family && memcmp(v[i].addr, a->addr, 16) == 0)
			return true;
	return false;
}

int manager_hown_sync(struct manager *m, bool refill)
{
	struct hwant w = {};
	_cleanup_free_ struct zt_bridge_haddr *add = NULL, *del = NULL;
	size_t n_add = 0, n_del = 0;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r, err = 0;

	if (!m->cur.plan || !m->cur.plan->bridge.n_segs || !m->rtnl) {
		free(m->hown);
		m->hown = NULL;
		m->n_hown = 0;
		return 0;
	}
	refill |= m->hown_refill;
	w.s = zt_rtnl_state(m->rtnl);
	r = zt_rtnl_state_foreach_addr(w.s, want_addr, &w);
	if (r < 0)
		goto out;
	w.n = zt_bridge_haddrs_norm(w.v, w.n);
	if (!refill) {
		/* a handful of addresses per bridge: quadratic is fine */
		add = calloc(w.n + 1, sizeof(*add));
		del = calloc(m->n_hown + 1, sizeof(*del));
		if (!add || !del) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < w.n; i++)
			if (!has(m->hown, m->n_hown, &w.v[i]))
				add[n_add++] = w.v[i];
		for (size_t i = 0; i < m->n_hown; i++)
			if (!has(w.v, w.n, &m->hown[i]))
				del[n_del++] = m->hown[i];
		if (!n_add && !n_del)
			goto out;
	}
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0 && refill)
		r = zt_bridge_emit_hown(b, w.v, w.n, NFT_MSG_NEWSETELEM, true);
	else if (r >= 0) {
		r = zt_bridge_emit_hown(b, del, n_del, ZT_NFT_MSG_DESTROYSETELEM, false);
		if (r >= 0)
			r = zt_bridge_emit_hown(b, add, n_add, NFT_MSG_NEWSETELEM, false);
	}
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0 && !refill && r != -ENOMEM) {
		log_debug("host addresses on bridges: update refused (%s), refilling", strerror(err ? err : -r));
		zt_batch_free(b);
		zt_diags_clear(&d);
		free(w.v);
		return manager_hown_sync(m, true);
	}
	if (r < 0) {
		/* tried again on the next event or apply */
		m->hown_refill = true;
		log_error("cannot update the host's addresses on bridges (ARP/NA claims of them): %s",
			  d.n ? d.v[0].msg : strerror(err ? err : -r));
		goto out;
	}
	if (refill || n_add || n_del)
		log_debug("host addresses on bridges: %zu (%s %zu added, %zu removed)", w.n, refill ? "refilled," : "",
			  refill ? w.n : n_add, n_del);
	m->hown_refill = false;
	r = (int)(refill ? w.n : n_add + n_del);
	free(m->hown);
	m->hown = TAKE_PTR(w.v);
	m->n_hown = w.n;
out:
	zt_batch_free(b);
	zt_diags_clear(&d);
	free(w.v);
	return r;
}
