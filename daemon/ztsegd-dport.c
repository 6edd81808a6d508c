/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's side of Docker-style bridges (issue 15, lib/bridge.h,
 * doc/RULESET.md "Docker-style bridges"): the ports of the bridges that
 * `bridge:` segments name — links whose master is such a bridge and whose
 * name no member pattern matches — in maps dport/dportd and set
 * dpb_<brk> of table bridge ztseg, kept to rtnetlink's links. A port that
 * goes (deleted, renamed, moved to another bridge, or its name now borne
 * by another ifindex: a restarted container) loses its elements and every
 * address it claimed (pin4/pin6, claimed4/6, has4/6), in one transaction:
 * its address is then free for its successor's first claim. Apply fills
 * the same elements from its own link dump whenever it writes the table
 * (and keeps the pins of ports still there); this keeps them between.
 */
#include <stdio.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "ztsegd.h"

struct dp_want {
	struct manager *m;
	const struct zt_rtnl_state *s;
	struct manager_dport *v;
	size_t n, cap;
};

static int want_link(const struct zt_rtnl_link *l, void *userdata)
{
	struct dp_want *w = userdata;
	const struct zt_rtnl_link *br = NULL;

	if (!zt_rtnl_link_bridge_port(w->s, l, &br) || !br ||
	    !zt_bridge_dport_of(&w->m->cur.plan->bridge, l->name, br->name))
		return 0;
	if (ZT_GROW(w->v, w->cap, w->n + 1) < 0)
		return -ENOMEM;
	w->v[w->n] = (struct manager_dport){ .ifindex = l->ifindex };
	snprintf(w->v[w->n].d.port, IFNAMSIZ, "%s", l->name);
	snprintf(w->v[w->n++].d.bridge, IFNAMSIZ, "%s", br->name);
	return 0;
}

static bool same(const struct manager_dport *a, const struct manager_dport *b)
{
	return a->ifindex == b->ifindex && streq(a->d.port, b->d.port) && streq(a->d.bridge, b->d.bridge);
}

static bool has(const struct manager_dport *v, size_t n, const struct manager_dport *a)
{
	for (size_t i = 0; i < n; i++)
		if (same(&v[i], a))
			return true;
	return false;
}

/* The pins of the ports gone, as the kernel holds them now (read back: the packet path made them). */
static int gone_pins(const struct zt_bridge_dport *gone, size_t n_gone, struct zt_bridge_pin **ret, size_t *n_ret)
{
	struct zt_bridge_pin *pins = NULL;
	size_t n = 0, k = 0;
	int r = zt_bridge_pins_read(&pins, &n);

	*ret = NULL;
	*n_ret = 0;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n_gone; j++)
			if (streq(pins[i].port, gone[j].port)) {
				pins[k++] = pins[i];
				break;
			}
	*ret = pins;
	*n_ret = k;
	return 0;
}

int manager_dport_sync(struct manager *m, bool refill)
{
	struct dp_want w = { .m = m };
	_cleanup_free_ struct zt_bridge_dport *add = NULL, *del = NULL;
	_cleanup_free_ struct zt_bridge_pin *pins = NULL;
	size_t n_add = 0, n_del = 0, n_pins = 0;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r, err = 0;

	if (!m->cur.plan || !zt_bridge_has_dsegs(&m->cur.plan->bridge) || !m->rtnl) {
		free(m->dports);
		m->dports = NULL;
		m->n_dports = 0;
		return 0;
	}
	refill |= m->dport_refill;
	w.s = zt_rtnl_state(m->rtnl);
	r = zt_rtnl_state_foreach_link(w.s, want_link, &w);
	if (r < 0)
		goto out;
	add = calloc(w.n + 1, sizeof(*add));
	del = calloc(m->n_dports + 1, sizeof(*del));
	if (!add || !del) {
		r = -ENOMEM;
		goto out;
	}
	/* refill: apply wrote the table from its own dump; write every port again (no error if there) */
	for (size_t i = 0; i < w.n; i++)
		if (refill || !has(m->dports, m->n_dports, &w.v[i]))
			add[n_add++] = w.v[i].d;
	for (size_t i = 0; i < m->n_dports; i++)
		if (!has(w.v, w.n, &m->dports[i]))
			del[n_del++] = m->dports[i].d;
	if (!n_add && !n_del)
		goto done;
	if (n_del && (r = gone_pins(del, n_del, &pins, &n_pins)) < 0) {
		/* nothing written: the same difference is tried again at the next link event */
		log_error("cannot read the claims of table bridge %s: %s", ZT_TABLE_NAME, strerror(-r));
		goto out;
	}
	r = zt_nft_batch_start(m->nft, &b);
	/* gone first: a port re-created under its old name is added back in the same transaction */
	if (r >= 0 && n_del)
		r = zt_bridge_emit_dports(b, &m->cur.plan->bridge, del, n_del, ZT_NFT_MSG_DESTROYSETELEM);
	if (r >= 0 && n_pins)
		r = zt_bridge_emit_pins(b, pins, n_pins, ZT_NFT_MSG_DESTROYSETELEM);
	if (r >= 0 && n_add)
		r = zt_bridge_emit_dports(b, &m->cur.plan->bridge, add, n_add, NFT_MSG_NEWSETELEM);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0) {
		/* fail closed meanwhile: a port not in dport has no bits and can claim nothing */
		m->dport_refill = true;
		log_error("cannot update the ports of bridge: segments: %s", d.n ? d.v[0].msg : strerror(err ? err : -r));
		goto out;
	}
	for (size_t i = 0; i < n_del; i++) {
		size_t k = 0;

		for (size_t j = 0; j < n_pins; j++)
			k += streq(pins[j].port, del[i].port);
		log_info("bridge port %s left %s: %zu claimed address%s released", del[i].port, del[i].bridge, k,
			 k == 1 ? "" : "es");
	}
	for (size_t i = 0; i < n_add && !refill; i++)
		log_info("bridge port %s of %s: a port of its bridge: segments (claims by ARP/ND)", add[i].port,
			 add[i].bridge);
	r = (int)(n_add + n_del);
done:
	m->dport_refill = false;
	free(m->dports);
	m->dports = TAKE_PTR(w.v);
	m->n_dports = w.n;
out:
	zt_batch_free(b);
	zt_diags_clear(&d);
	free(w.v);
	return r;
}
