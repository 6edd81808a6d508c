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
static int gone_pins(struct manager *m, const struct zt_bridge_dport *gone, size_t n_gone, struct zt_bridge_pin **ret,
		     size_t *n_ret)
{
	struct zt_bridge_pin *pins = NULL;
	size_t n = 0, k = 0;
	/* on the daemon's nf_tables socket: closing one of its own would wait out the last commit (nft.h) */
	int r = zt_bridge_pins_read(zt_nft_nl(m->nft), &pins, &n);

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

void manager_dport_clear(struct dport_change *c)
{
	free(c->want);
	free(c->add);
	free(c->del);
	free(c->pins);
	*c = (struct dport_change){};
}

int manager_dport_prepare(struct manager *m, bool refill, struct dport_change *c)
{
	struct dp_want w = { .m = m };
	int r;

	*c = (struct dport_change){};
	if (!m->cur.plan || !zt_bridge_has_dsegs(&m->cur.plan->bridge) || !m->rtnl) {
		c->off = true;
		return 0;
	}
	c->refill = refill || m->dport_refill;
	w.s = zt_rtnl_state(m->rtnl);
	r = zt_rtnl_state_foreach_link(w.s, want_link, &w);
	c->want = w.v;
	c->n_want = w.n;
	if (r < 0)
		goto fail;
	c->add = calloc(w.n + 1, sizeof(*c->add));
	c->del = calloc(m->n_dports + 1, sizeof(*c->del));
	if (!c->add || !c->del) {
		r = -ENOMEM;
		goto fail;
	}
	/* refill: apply wrote the table from its own dump; write every port again (no error if there) */
	for (size_t i = 0; i < w.n; i++)
		if (c->refill || !has(m->dports, m->n_dports, &w.v[i]))
			c->add[c->n_add++] = w.v[i].d;
	for (size_t i = 0; i < m->n_dports; i++)
		if (!has(w.v, w.n, &m->dports[i]))
			c->del[c->n_del++] = m->dports[i].d;
	if (c->n_del && (r = gone_pins(m, c->del, c->n_del, &c->pins, &c->n_pins)) < 0) {
		/* nothing written: the same difference is tried again at the next link event */
		log_error("cannot read the claims of table bridge %s: %s", ZT_TABLE_NAME, strerror(-r));
		goto fail;
	}
	return 0;
fail:
	manager_dport_clear(c);
	return r;
}

int manager_dport_emit(struct manager *m, struct zt_batch *b, const struct dport_change *c)
{
	int r = 0;

	/* gone first: a port re-created under its old name is added back in the same transaction */
	if (c->n_del)
		r = zt_bridge_emit_dports(b, &m->cur.plan->bridge, c->del, c->n_del, ZT_NFT_MSG_DESTROYSETELEM);
	if (r >= 0 && c->n_pins)
		r = zt_bridge_emit_pins(b, c->pins, c->n_pins, ZT_NFT_MSG_DESTROYSETELEM);
	if (r >= 0 && c->n_add)
		r = zt_bridge_emit_dports(b, &m->cur.plan->bridge, c->add, c->n_add, NFT_MSG_NEWSETELEM);
	return r;
}

int manager_dport_done(struct manager *m, struct dport_change *c, int r)
{
	int n = (int)(c->n_add + c->n_del);

	if (c->off) {
		free(m->dports);
		m->dports = NULL;
		m->n_dports = 0;
		return 0;
	}
	if (r < 0) {
		/* fail closed meanwhile: a port not in dport has no bits and can claim nothing */
		m->dport_refill = true;
		manager_dport_clear(c);
		return 0;
	}
	for (size_t i = 0; i < c->n_del; i++) {
		size_t k = 0;

		for (size_t j = 0; j < c->n_pins; j++)
			k += streq(c->pins[j].port, c->del[i].port);
		log_info("bridge port %s left %s: %zu claimed address%s released", c->del[i].port, c->del[i].bridge, k,
			 k == 1 ? "" : "es");
	}
	for (size_t i = 0; i < c->n_add && !c->refill; i++)
		log_info("bridge port %s of %s: a port of its bridge: segments (claims by ARP/ND)", c->add[i].port,
			 c->add[i].bridge);
	m->dport_refill = false;
	free(m->dports);
	m->dports = TAKE_PTR(c->want);
	m->n_dports = c->n_want;
	manager_dport_clear(c);
	return n;
}

int manager_dport_sync(struct manager *m, bool refill)
{
	struct dport_change c;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r = manager_dport_prepare(m, refill, &c), err = 0, n;

	if (r < 0)
		return r;
	if (c.n_add || c.n_del) {
		r = zt_nft_batch_start(m->nft, &b);
		if (r >= 0)
			r = manager_dport_emit(m, b, &c);
		if (r >= 0)
			r = zt_nft_batch_commit(m->nft, b, &err, &d);
		if (r < 0)
			log_error("cannot update the ports of bridge: segments: %s",
				  d.n ? d.v[0].msg : strerror(err ? err : -r));
	}
	zt_batch_free(b);
	zt_diags_clear(&d);
	n = manager_dport_done(m, &c, r);
	return r < 0 ? r : n;
}
