/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bindings of bridge ports learned from the kernel (doc/RULESET.md
 * "Bindings learned from the kernel"): an rtnetlink socket on
 * RTNLGRP_NEIGH follows the bridges' FDBs (AF_BRIDGE) and the neighbour
 * tables (AF_INET, AF_INET6); a static FDB entry of a member port pins
 * that port's MAC in table bridge ztseg (pmac, phas) before its first
 * frame; a member port that goes away (deleted, renamed, another port by
 * that name) has its bindings removed; status reads the neighbour entries
 * whose MAC a port is bound to. --oneshot pins from one dump.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include "bridge.h"
#include "bridge-learn.h"
#include "nl.h"
#include "ztsegd.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif
#define BL_RECV_BUF (64 * 1024)
#define BL_RCVBUF (4 << 20)
#define BL_RECV_BATCH 64

/* A pin as written to the kernel (by name: pmac's key), or a member port as last seen. */
struct bl_written {
	char port[IFNAMSIZ];
	int ifindex;
	uint8_t mac[6];
};

struct fdb_learn {
	struct zt_nl ev;		/* RTNLGRP_NEIGH */
	sd_event_source *src;
	struct zt_bl_store store;
	struct zt_nl_losses losses;
	uint64_t overruns_seen, messages, malformed;
	struct bl_written *pins;	/* written to pmac/phas */
	size_t n_pins, cap_pins;
	struct bl_written *ports;	/* member ports at the last sync */
	size_t n_ports, cap_ports;
	bool resync;			/* events were lost: dump again */
	bool pins_changed;		/* the store's pins changed since the last sync */
	bool dump_failed;		/* a message of the dump in progress could not be kept (no memory) */
};

/* ---- the policy's side: is this a port table bridge ztseg classifies? ---- */

static bool member_port(const struct zt_policy *p, const char *name)
{
	/* the pattern first: zt_bridge_index() walks the segments before it */
	for (size_t i = 0; p && i < p->n_segs; i++)
		for (size_t j = 0; j < p->segs[i].n_ifs; j++)
			if (zt_ifpat_match(&p->segs[i].ifs[j], name) && zt_bridge_index(p, i))
				return true;
	return false;
}

/* A member port, or (issue 15) a port of a bridge a bridge: segment names: its MAC binds alike. */
static bool member_link(const struct manager *m, const char *name, const struct zt_rtnl_link *br)
{
	return member_port(m->cur.policy, name) ||
	       (br && m->cur.plan && zt_bridge_dport_of(&m->cur.plan->bridge, name, br->name));
}

/* ---- reading ---- */

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct fdb_learn *b = data;
	struct zt_bl_msg msg;
	int r = zt_bl_parse(nlh, nlh->nlmsg_len, &msg);

	if (r == -ENOENT)
		return MNL_CB_OK;
	b->messages++;
	if (r < 0) {
		b->malformed++;
		return MNL_CB_OK;
	}
	r = zt_bl_apply(&b->store, &msg);
	if (r < 0) {
		/* what this message said is lost: read everything again */
		b->resync = b->dump_failed = true;
		return -ENOMEM;
	}
	/* a pin came or went: the kernel's sets follow (neighbours are only read by status) */
	if (r > 0 && msg.family == AF_BRIDGE)
		b->pins_changed = true;
	return MNL_CB_OK;
}

/*
 * The three tables read anew into a store of their own, which replaces
 * b's only when all of it was read: a failed dump (ENOBUFS after an
 * overrun, no memory, no socket) keeps what was known — its pins stay —
 * and asks for another (resync).
 */
static int dump(struct fdb_learn *b)
{
	static const uint8_t families[] = { AF_BRIDGE, AF_INET, AF_INET6 };
	struct zt_bl_store was = b->store;
	struct zt_nl nl;
	int r = zt_nl_open(&nl, NETLINK_ROUTE, SOCK_CLOEXEC, BL_RECV_BUF);

	/* msg_cb fills b->store: the new store, for the length of the dump */
	b->store = (struct zt_bl_store){ .ignored = was.ignored, .full = was.full, .roamed = was.roamed };
	b->dump_failed = false;
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(families); i++) {
		char buf[256] = {};
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
		struct ndmsg *ndm;

		nlh->nlmsg_type = RTM_GETNEIGH;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
		ndm->ndm_family = families[i];
		for (int tries = 0; tries < ZT_RTNL_DUMP_TRIES; tries++) {
			r = zt_nl_talk(&nl, nlh, msg_cb, b, ZT_NL_F_READ_INTR);
			if (r != ZT_NL_INTR)
				break;
		}
	}
	zt_nl_close(&nl);
	if (r >= 0 && b->dump_failed)
		r = -ENOMEM;
	if (r < 0) {
		zt_bl_store_clear(&b->store);
		b->store = was;
		b->resync = true;
		return r;
	}
	zt_bl_store_clear(&was);
	b->pins_changed = true;
	return 0;
}

static int fdb_open(struct fdb_learn *b)
{
	unsigned group = RTNLGRP_NEIGH;
	int v = BL_RCVBUF, fd, flags, r;

	r = zt_nl_open(&b->ev, NETLINK_ROUTE, SOCK_CLOEXEC, BL_RECV_BUF);
	if (r < 0)
		return r;
	fd = zt_nl_fd(&b->ev);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (mnl_socket_setsockopt(b->ev.sock, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	/*
	 * Subscribed first: what changes during the dump is replayed on top of
	 * it. A dump that fails leaves resync set: the next sync (at start,
	 * right after this) reads again, so the subscription is never lost.
	 */
	if ((r = dump(b)) < 0)
		log_warning("cannot read the bridges' FDB and neighbour tables yet (%s): trying again", strerror(-r));
	return 0;
}

static int datagram(const void *buf, size_t len, void *userdata)
{
	struct fdb_learn *b = userdata;
	int n = zt_bl_walk(buf, len, msg_cb, b);

	if (n == -EBADMSG) {
		b->malformed++;
		return 0;
	}
	return n;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	struct fdb_learn *b = m->fdb;
	int r = zt_nl_receive_batch(&b->ev, BL_RECV_BATCH, &b->losses, datagram, b);

	if (r < 0 && r != -EAGAIN)
		log_error("reading the bridges' FDB and neighbour events: %s", strerror(-r));
	if (b->losses.overruns != b->overruns_seen) {
		b->overruns_seen = b->losses.overruns;
		b->resync = true;
		log_warning("bridge FDB and neighbour events were lost: reading them again");
	}
	/* dynamic FDB entries come and go with every MAC the bridge learns: no pass for them */
	if (b->pins_changed || b->resync) {
		b->pins_changed = false;
		m->want_fdb = true;
		manager_dirty(m);
	}
	return 0;
}

/* ---- writing pins ---- */

static bool written_has(const struct bl_written *v, size_t n, const char *port, const uint8_t *mac)
{
	for (size_t i = 0; i < n; i++)
		if (streq(v[i].port, port) && (!mac || memcmp(v[i].mac, mac, 6) == 0))
			return true;
	return false;
}

struct want {
	struct bl_written *v;
	size_t n, cap;
};

/* The pins the store asks for, by the port's name now (name_of: rtnl state, or if_indextoname). */
static int want_pins(struct manager *m, const struct zt_bl_store *st, struct want *w)
{
	const struct zt_rtnl_state *rs = m->rtnl ? zt_rtnl_state(m->rtnl) : NULL;

	for (size_t i = 0; i < st->n_pins; i++) {
		const struct zt_bl_pin *p = &st->pins[i];
		char name[IF_NAMESIZE] = "";

		if (rs) {
			const struct zt_rtnl_link *l = zt_rtnl_state_link(rs, p->ifindex), *br = NULL;

			/* the entry's bridge must be the port's bridge now */
			if (!l || !zt_rtnl_link_bridge_port(rs, l, &br) || !br || br->ifindex != p->master)
				continue;
			snprintf(name, sizeof(name), "%s", l->name);
		} else if (!if_indextoname((unsigned)p->ifindex, name))
			continue;
		if (!(rs ? member_link(m, name, zt_rtnl_state_link(rs, p->master)) : member_port(m->cur.policy, name)) ||
		    written_has(w->v, w->n, name, p->mac))
			continue;
		if (ZT_GROW(w->v, w->cap, w->n + 1) < 0)
			return -ENOMEM;
		w->v[w->n] = (struct bl_written){ .ifindex = p->ifindex };
		snprintf(w->v[w->n].port, sizeof(w->v[w->n].port), "%s", name);
		memcpy(w->v[w->n++].mac, p->mac, 6);
	}
	return 0;
}

/* The member ports there are now (daemon: the rtnl state). */
struct ports_ctx {
	struct manager *m;
	const struct zt_rtnl_state *s;
	struct want *w;
	int err;
};

static int port_cb(const struct zt_rtnl_link *l, void *userdata)
{
	struct ports_ctx *c = userdata;

	const struct zt_rtnl_link *br = NULL;

	if (!zt_rtnl_link_bridge_port(c->s, l, &br) || !member_link(c->m, l->name, br))
		return 0;
	if (ZT_GROW(c->w->v, c->w->cap, c->w->n + 1) < 0) {
		c->err = -ENOMEM;
		return 1;
	}
	c->w->v[c->w->n] = (struct bl_written){ .ifindex = l->ifindex };
	snprintf(c->w->v[c->w->n++].port, IFNAMSIZ, "%s", l->name);
	return 0;
}

static bool port_still(const struct want *now, const struct bl_written *old)
{
	for (size_t i = 0; i < now->n; i++)
		if (streq(now->v[i].port, old->port) && now->v[i].ifindex == old->ifindex)
			return true;
	return false;
}

static int commit(struct manager *m, struct zt_batch *b, const char *what)
{
	struct zt_diags d = {};
	int err = 0, r = zt_nft_batch_commit(m->nft, b, &err, &d);

	if (r < 0)
		log_warning("bridge bindings: %s: %s", what, d.n ? d.v[0].msg : strerror(err ? err : -r));
	zt_diags_clear(&d);
	return r;
}

/*
 * Pins written, pins gone unpinned (a port left with none has phas
 * removed too, so its next frame binds), ports gone forgotten (every MAC
 * pmac holds for the name, and phas). One transaction.
 */
static int write_pins(struct manager *m, struct want *want, struct bl_written **old, size_t *n_old,
		      const struct want *gone, bool read)
{
	_cleanup_free_ struct zt_bridge_mac *macs = NULL;
	struct zt_batch *b = NULL;
	size_t n_macs = 0, ops = 0;
	char mac[18];
	int r;

	if (read && zt_bridge_macs_read(&macs, &n_macs) < 0)
		n_macs = 0;
	r = zt_nft_batch_start(m->nft, &b);
	for (size_t i = 0; r >= 0 && i < gone->n; i++) {
		for (size_t j = 0; r >= 0 && j < n_macs; j++)
			if (streq(macs[j].port, gone->v[i].port) && !written_has(want->v, want->n, macs[j].port, macs[j].mac)) {
				r = zt_bl_emit_unpin(b, macs[j].port, macs[j].mac);
				ops++;
			}
		if (r >= 0 && !written_has(want->v, want->n, gone->v[i].port, NULL)) {
			r = zt_bl_emit_forget(b, gone->v[i].port);
			ops++;
		}
		log_info("bridge port %s (ifindex %d) is gone: its MAC bindings are removed", gone->v[i].port,
			 gone->v[i].ifindex);
	}
	for (size_t i = 0; r >= 0 && i < *n_old; i++) {
		const struct bl_written *o = &(*old)[i];

		if (written_has(want->v, want->n, o->port, o->mac))
			continue;
		r = zt_bl_emit_unpin(b, o->port, o->mac);
		if (r >= 0 && !written_has(want->v, want->n, o->port, NULL))
			r = zt_bl_emit_forget(b, o->port);
		ops++;
		log_info("bridge port %s: MAC %s no longer pinned (its static FDB entry is gone)", o->port,
			 zt_bl_mac_fmt(o->mac, mac));
	}
	for (size_t i = 0; r >= 0 && i < want->n; i++) {
		const struct bl_written *w = &want->v[i];

		if (written_has(*old, *n_old, w->port, w->mac))
			continue;
		/* a first-frame binding of another MAC gives way: the FDB entry is the administrator's word */
		for (size_t j = 0; r >= 0 && j < n_macs; j++)
			if (streq(macs[j].port, w->port) && !written_has(want->v, want->n, w->port, macs[j].mac))
				r = zt_bl_emit_unpin(b, w->port, macs[j].mac);
		if (r >= 0)
			r = zt_bl_emit_pin(b, w->port, w->mac);
		ops++;
		log_info("bridge port %s: MAC %s pinned from a static FDB entry", w->port, zt_bl_mac_fmt(w->mac, mac));
	}
	if (r >= 0 && ops)
		r = commit(m, b, "cannot write table bridge ztseg's pmac and phas");
	zt_batch_free(b);
	if (r < 0)
		return r;
	free(*old);
	*old = TAKE_PTR(want->v);
	*n_old = want->n;
	want->n = want->cap = 0;
	return 0;
}

/* A pin replacing a first-frame binding must see pmac's other MACs of the port: read them first. */
static bool pins_need_read(const struct want *want, const struct bl_written *old, size_t n_old)
{
	for (size_t i = 0; i < want->n; i++)
		if (!written_has(old, n_old, want->v[i].port, want->v[i].mac))
			return true;
	return false;
}

void manager_fdb_sync(struct manager *m)
{
	struct fdb_learn *b = m->fdb;
	struct want want = {}, now = {}, gone = {};
	struct ports_ctx pc;
	int r = 0;

	if (!b)
		return;
	m->want_fdb = false;
	if (b->resync) {
		b->resync = false;
		if ((r = dump(b)) < 0)
			log_error("cannot read the bridges' FDB and neighbour tables: %s", strerror(-r));
	}
	if (!m->cur.plan || !m->cur.plan->bridge.n_segs) {
		free(b->pins);
		b->pins = NULL;
		b->n_pins = b->cap_pins = 0;
		return;
	}
	if (m->fdb_table_new) {
		/* the table was written anew: nothing of ours is in it */
		m->fdb_table_new = false;
		b->n_pins = 0;
		b->n_ports = 0;
	}
	/*
	 * Neighbour entries of devices that are gone (the kernel need not say
	 * so entry by entry). Pins stay until their DELNEIGH: an FDB event can
	 * be read before the link's own, and want_pins skips unknown links.
	 */
	for (size_t i = 0; i < b->store.n_neigh;) {
		const struct zt_bl_neigh *n = &b->store.neigh[i];

		if (!zt_rtnl_state_link(zt_rtnl_state(m->rtnl), n->ifindex))
			b->store.neigh[i] = b->store.neigh[--b->store.n_neigh];
		else
			i++;
	}
	pc = (struct ports_ctx){ .m = m, .s = zt_rtnl_state(m->rtnl), .w = &now };
	zt_rtnl_state_foreach_link(pc.s, port_cb, &pc);
	r = pc.err;
	for (size_t i = 0; r >= 0 && i < b->n_ports; i++)
		if (!port_still(&now, &b->ports[i])) {
			if (ZT_GROW(gone.v, gone.cap, gone.n + 1) < 0)
				r = -ENOMEM;
			else
				gone.v[gone.n++] = b->ports[i];
		}
	if (r >= 0)
		r = want_pins(m, &b->store, &want);
	log_debug("bridge bindings: %zu pins wanted, %zu written, %zu ports gone, %zu in the FDB store", want.n,
		  b->n_pins, gone.n, b->store.n_pins);
	if (r >= 0 && (want.n || b->n_pins || gone.n))
		r = write_pins(m, &want, &b->pins, &b->n_pins, &gone,
			       gone.n || pins_need_read(&want, b->pins, b->n_pins));
	if (r >= 0) {
		free(b->ports);
		b->ports = TAKE_PTR(now.v);
		b->n_ports = now.n;
		b->cap_ports = now.cap;
	}
	free(want.v);
	free(now.v);
	free(gone.v);
	if (r < 0 && r != -ENOMEM) {
		/* tried again at the next event; the table stays fail-closed meanwhile */
		m->want_fdb = true;
	}
}

int manager_fdb_start(struct manager *m)
{
	struct fdb_learn *b = calloc(1, sizeof(*b));
	int r;

	if (!b)
		return -ENOMEM;
	m->fdb = b;
	r = fdb_open(b);
	if (r >= 0)
		r = sd_event_add_io(m->event, &b->src, zt_nl_fd(&b->ev), EPOLLIN, on_io, m);
	if (r >= 0)
		r = sd_event_source_set_priority(b->src, PRIO_NETLINK);
	if (r < 0)
		return r;
	manager_fdb_sync(m);
	return 0;
}

void manager_fdb_free(struct manager *m)
{
	struct fdb_learn *b = m->fdb;

	if (!b)
		return;
	b->src = sd_event_source_disable_unref(b->src);
	zt_nl_close(&b->ev);
	zt_bl_store_clear(&b->store);
	free(b->pins);
	free(b->ports);
	free(b);
	m->fdb = NULL;
}

int manager_fdb_oneshot(struct manager *m)
{
	struct fdb_learn b = {};
	struct want want = {};
	const struct want gone = {};
	struct bl_written *old = NULL;
	size_t n_old = 0;
	int r;

	if (!m->cur.plan || !m->cur.plan->bridge.n_segs)
		return 0;
	r = dump(&b);
	if (r >= 0)
		r = want_pins(m, &b.store, &want);
	/* pmac read: a first-frame binding of another MAC gives way */
	if (r >= 0 && want.n)
		r = write_pins(m, &want, &old, &n_old, &gone, true);
	if (r >= 0 && n_old)
		printf("ztsegd: %zu bridge port MAC%s pinned from static FDB entries\n", n_old, n_old == 1 ? "" : "s");
	free(old);
	free(want.v);
	zt_bl_store_clear(&b.store);
	return r;
}

/* ---- status ---- */

int manager_fdb_port_json(struct manager *m, const struct zt_rtnl_link *port, const struct zt_rtnl_link *bridge,
			     const uint8_t (*macs)[6], size_t n_macs, json_t *learned)
{
	const struct fdb_learn *b = m->fdb;
	char buf[INET6_ADDRSTRLEN];

	if (!b || !bridge)
		return 0;
	(void)port;
	for (size_t i = 0; i < b->store.n_neigh; i++) {
		const struct zt_bl_neigh *n = &b->store.neigh[i];
		json_t *o;

		if (n->ifindex != bridge->ifindex)
			continue;
		for (size_t j = 0; j < n_macs; j++) {
			if (memcmp(macs[j], n->mac, 6) != 0)
				continue;
			inet_ntop(n->family, n->addr, buf, sizeof(buf));
			o = json_pack("{s:s, s:s}", "address", buf, "from", "neighbour");
			if (!o || json_array_append_new(learned, o) < 0)
				return -ENOMEM;
			break;
		}
	}
	return 0;
}
