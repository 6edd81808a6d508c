/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bindings of bridge ports learned from the kernel (doc/RULESET.md
 * "Bindings learned from the kernel"): an rtnetlink socket on
 * RTNLGRP_NEIGH follows the bridges' FDBs (AF_BRIDGE) and the neighbour
 * tables (AF_INET, AF_INET6); a static FDB entry of a member port pins
 * that port's MAC in table bridge ztseg (pmac, phas) before its first
 * frame; a member port that goes away (deleted, renamed, another port by
 * that name) has its bindings removed; status reads the neighbour entries
 * whose MAC a port is bound to. Issue 15's pre-pins: a static FDB entry
 * of a port of a bridge: segment plus a permanent/noarp neighbour entry
 * of its bridge for that MAC pin the address to the port (pin4/pin6,
 * claimed4/6, has4/6) before any frame; released when either goes; a
 * live claim by another port is left to it (logged). --oneshot pins from
 * one dump.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
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

/*
 * A pre-pin (issue 15, doc/RULESET.md "Docker-style bridges"): an address
 * a static FDB entry and a fixed neighbour entry of the bridge give to a
 * port of a bridge: segment. WRITTEN: ztsegd wrote pin/claimed/has and
 * removes them when an entry goes. WIRE: the port had claimed it by
 * ARP/ND before; that claim is its own and stays. CONFLICT: another port
 * holds the address by a live claim; it is left to that port (logged
 * once) and tried again at each sync.
 */
enum pp_how { PP_WRITTEN, PP_WIRE, PP_CONFLICT };
struct bl_prepin {
	struct zt_bridge_pin p;
	enum pp_how how;
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
	struct bl_prepin *pp;		/* pre-pins (issue 15): addresses of bridge: segments' ports */
	size_t n_pp, cap_pp;
	bool pp_rewrite;		/* the table was written anew or repaired: write the pre-pins again */
	bool pp_first;			/* no pass of the pre-pins yet (claims the entries agree with are ours) */
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
	uint64_t fixed0 = b->store.fixed_changes;
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
	/* a pin or a fixed neighbour entry came or went: the kernel's sets follow */
	if (r > 0 && (msg.family == AF_BRIDGE || b->store.fixed_changes != fixed0))
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
	b->store = (struct zt_bl_store){ .ignored = was.ignored, .full = was.full, .roamed = was.roamed,
					 .fixed_changes = was.fixed_changes };
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

	/* on the daemon's nf_tables socket: closing one of its own would wait out the last commit (nft.h) */
	if (read && zt_bridge_macs_read(zt_nft_nl(m->nft), &macs, &n_macs) < 0)
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

/* ---- pre-pins of bridge: segments' ports (issue 15) ---- */

static bool pp_same(const struct zt_bridge_pin *a, const struct zt_bridge_pin *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0 &&
	       streq(a->port, b->port);
}

static ssize_t pp_find(const struct bl_prepin *v, size_t n, const struct zt_bridge_pin *p)
{
	for (size_t i = 0; i < n; i++)
		if (pp_same(&v[i].p, p))
			return (ssize_t)i;
	return -1;
}

/* Whether addr is one of a bridge: segment's of bridge brname. */
static bool pp_addr_ok(const struct zt_policy *p, const char *brname, uint8_t family, const uint8_t *addr)
{
	for (size_t s = 0; p && s < p->n_segs; s++)
		if (streq(p->segs[s].bridge, brname))
			for (size_t a = 0; a < p->segs[s].n_addrs; a++)
				if (zt_cidr_contains_addr(&p->segs[s].addrs[a], family, addr))
					return true;
	return false;
}

/*
 * The pre-pins the store asks for: a static FDB entry (zt_bl_fdb_pins:
 * its bridge, MAC and VLAN key) of a port of a bridge: segment, and a
 * fixed neighbour entry of that bridge device with the same MAC, whose
 * address lies in a bridge: segment of that bridge. A MAC a static entry
 * names on two ports of the bridge (two VLANs) says no one port: none.
 */
static int want_prepins(struct manager *m, const struct zt_bl_store *st, struct bl_prepin **ret, size_t *n_ret)
{
	const struct zt_rtnl_state *rs = m->rtnl ? zt_rtnl_state(m->rtnl) : NULL;
	struct bl_prepin *v = NULL;
	size_t n = 0, cap = 0;

	*ret = NULL;
	*n_ret = 0;
	if (!m->cur.plan || !zt_bridge_has_dsegs(&m->cur.plan->bridge))
		return 0;
	for (size_t i = 0; i < st->n_pins; i++) {
		const struct zt_bl_pin *p = &st->pins[i];
		char name[IF_NAMESIZE] = "", brname[IF_NAMESIZE] = "";
		bool ambiguous = false;

		if (rs) {
			const struct zt_rtnl_link *l = zt_rtnl_state_link(rs, p->ifindex), *br = NULL;

			if (!l || !zt_rtnl_link_bridge_port(rs, l, &br) || !br || br->ifindex != p->master)
				continue;
			snprintf(name, sizeof(name), "%s", l->name);
			snprintf(brname, sizeof(brname), "%s", br->name);
		} else if (!if_indextoname((unsigned)p->ifindex, name) || !if_indextoname((unsigned)p->master, brname))
			continue;
		if (!zt_bridge_dport_of(&m->cur.plan->bridge, name, brname))
			continue;
		for (size_t j = 0; j < st->n_pins; j++)
			ambiguous |= st->pins[j].master == p->master && st->pins[j].ifindex != p->ifindex &&
				     memcmp(st->pins[j].mac, p->mac, 6) == 0;
		if (ambiguous)
			continue;
		for (size_t j = 0; j < st->n_neigh; j++) {
			const struct zt_bl_neigh *nb = &st->neigh[j];
			struct zt_bridge_pin pin = { .family = nb->family };

			if (nb->ifindex != p->master || !nb->fixed || memcmp(nb->mac, p->mac, 6) != 0 ||
			    !pp_addr_ok(m->cur.policy, brname, nb->family, nb->addr))
				continue;
			memcpy(pin.addr, nb->addr, nb->family == AF_INET ? 4 : 16);
			snprintf(pin.port, sizeof(pin.port), "%s", name);
			if (pp_find(v, n, &pin) >= 0)
				continue;
			if (ZT_GROW(v, cap, n + 1) < 0) {
				free(v);
				return -ENOMEM;
			}
			v[n++] = (struct bl_prepin){ .p = pin, .how = PP_WRITTEN };
		}
	}
	*ret = v;
	*n_ret = n;
	return 0;
}

static const struct zt_bridge_pin *pin_holder(const struct zt_bridge_pin *k, size_t n, const struct zt_bridge_pin *p)
{
	for (size_t i = 0; i < n; i++)
		if (k[i].family == p->family && memcmp(k[i].addr, p->addr, p->family == AF_INET ? 4 : 16) == 0)
			return &k[i];
	return NULL;
}

/*
 * Write the pre-pins wanted (want, taken), remove those no longer wanted
 * that ztsegd wrote, in one transaction. A live claim of the address by
 * another port is not taken away (logged); a claim the port made itself
 * on the wire stays its own.
 */
static int sync_prepins(struct manager *m, struct bl_prepin **pp, size_t *n_pp, size_t *cap_pp, bool *rewrite,
			bool *first_ret, struct bl_prepin *want, size_t n_want)
{
	bool first = *first_ret;
	_cleanup_free_ struct zt_bridge_pin *kpins = NULL, *add = NULL, *del = NULL;
	size_t n_k = 0, n_add = 0, n_del = 0;
	struct zt_batch *b = NULL;
	char abuf[INET6_ADDRSTRLEN];
	bool need = *rewrite;
	int r;

	for (size_t i = 0; !need && i < n_want; i++) {
		ssize_t o = pp_find(*pp, *n_pp, &want[i].p);

		need = o < 0 || (*pp)[o].how == PP_CONFLICT;
	}
	for (size_t i = 0; !need && i < *n_pp; i++)
		need = pp_find(want, n_want, &(*pp)[i].p) < 0;
	if (!need) {
		free(want);
		*first_ret = false;
		return 0;
	}
	r = zt_bridge_pins_read(zt_nft_nl(m->nft), &kpins, &n_k);
	if (r == -ENOENT)
		r = 0, n_k = 0;
	add = calloc(n_want + 1, sizeof(*add));
	del = calloc(*n_pp + 1, sizeof(*del));
	if (r >= 0 && (!add || !del))
		r = -ENOMEM;
	if (r < 0) {
		free(want);
		return r;
	}
	for (size_t i = 0; i < n_want; i++) {
		struct bl_prepin *w = &want[i];
		ssize_t o = pp_find(*pp, *n_pp, &w->p);
		const struct zt_bridge_pin *h = pin_holder(kpins, n_k, &w->p);

		enum pp_how was = o >= 0 ? (*pp)[o].how : PP_CONFLICT;

		inet_ntop(w->p.family, w->p.addr, abuf, sizeof(abuf));
		/* known and settled: nothing to do unless the table was written anew or repaired */
		if (o >= 0 && was != PP_CONFLICT && !*rewrite) {
			w->how = was;
			continue;
		}
		if (h && streq(h->port, w->p.port)) {
			/*
			 * Ours still (apply kept it: written again, no harm), or the
			 * port's own claim. At ztsegd's first pass it cannot tell (the
			 * table outlives the daemon): the entries are there, so ours.
			 */
			w->how = (o >= 0 && was == PP_WRITTEN) || first ? PP_WRITTEN : PP_WIRE;
			if (w->how == PP_WRITTEN)
				add[n_add++] = w->p;
			else if (o < 0)
				log_info("bridge port %s: %s was already claimed on the wire by the port; the static "
					 "FDB and neighbour entries agree (the claim stays the port's)", w->p.port, abuf);
		} else if (h) {
			if (o < 0 || was != PP_CONFLICT)
				log_warning("bridge port %s: the static FDB and neighbour entries give it %s, but port "
					    "%s holds %s by a live claim: left to %s", w->p.port, abuf, h->port, abuf,
					    h->port);
			w->how = PP_CONFLICT;
		} else {
			w->how = PP_WRITTEN;
			add[n_add++] = w->p;
			if (o < 0 || was != PP_WRITTEN)
				log_info("bridge port %s: %s pinned from a static FDB entry and a permanent neighbour "
					 "entry", w->p.port, abuf);
		}
	}
	for (size_t i = 0; i < *n_pp; i++) {
		const struct bl_prepin *o = &(*pp)[i];

		if (o->how != PP_WRITTEN || pp_find(want, n_want, &o->p) >= 0)
			continue;
		del[n_del] = o->p;
		/* has: only when the port holds no other address of the family */
		for (size_t k = 0; k < n_k; k++) {
			ssize_t q = pp_find(*pp, *n_pp, &kpins[k]);
			bool released = q >= 0 && (*pp)[q].how == PP_WRITTEN && pp_find(want, n_want, &kpins[k]) < 0;

			if (kpins[k].family == o->p.family && streq(kpins[k].port, o->p.port) &&
			    memcmp(kpins[k].addr, o->p.addr, 16) != 0 && !released)
				del[n_del].no_has = true;
		}
		for (size_t k = 0; k < n_want; k++)
			if (want[k].p.family == o->p.family && streq(want[k].p.port, o->p.port) && want[k].how != PP_CONFLICT)
				del[n_del].no_has = true;
		inet_ntop(o->p.family, o->p.addr, abuf, sizeof(abuf));
		log_info("bridge port %s: %s released (its static FDB or neighbour entry is gone)", o->p.port, abuf);
		n_del++;
	}
	r = 0;
	if (n_add || n_del) {
		struct zt_diags d = {};
		int err = 0;

		r = zt_nft_batch_start(m->nft, &b);
		if (r >= 0 && n_del)
			r = zt_bridge_emit_pins(b, del, n_del, ZT_NFT_MSG_DESTROYSETELEM);
		if (r >= 0 && n_add)
			r = zt_bridge_emit_pins(b, add, n_add, NFT_MSG_NEWSETELEM);
		/* tie the port to the pre-pinned address's segment, as a first claim does (ps_<rest>) */
		if (r >= 0 && n_add)
			r = zt_bridge_emit_ps(b, &m->cur.plan->bridge, add, n_add);
		if (r >= 0 && (r = zt_nft_batch_commit(m->nft, b, &err, &d)) < 0)
			log_warning("bridge pre-pins: %s", d.n ? d.v[0].msg : strerror(err ? err : -r));
		zt_diags_clear(&d);
		zt_batch_free(b);
	}
	if (r < 0) {
		free(want);
		return r;
	}
	free(*pp);
	*pp = want;
	*n_pp = *cap_pp = n_want;
	*rewrite = false;
	*first_ret = false;
	return 0;
}

bool manager_fdb_prepinned(struct manager *m, const struct zt_bridge_pin *p)
{
	const struct fdb_learn *b = m->fdb;
	ssize_t i = b ? pp_find(b->pp, b->n_pp, p) : -1;

	return i >= 0 && b->pp[i].how == PP_WRITTEN;
}

void manager_fdb_prepin_refill(struct manager *m)
{
	if (!m->fdb)
		return;
	m->fdb->pp_rewrite = true;
	m->want_fdb = true;
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
		free(b->pp);
		b->pp = NULL;
		b->n_pp = b->cap_pp = 0;
		return;
	}
	if (m->fdb_table_new) {
		/* the table was written anew: nothing of ours is in it (apply kept the address claims) */
		m->fdb_table_new = false;
		b->pp_rewrite = true;
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
		struct bl_prepin *pw = NULL;
		size_t n_pw = 0;
		int r2 = want_prepins(m, &b->store, &pw, &n_pw);

		/* pre-pins after the MAC pins: the port's MAC is pinned in the same pass */
		if (r2 >= 0)
			r2 = sync_prepins(m, &b->pp, &b->n_pp, &b->cap_pp, &b->pp_rewrite, &b->pp_first, pw, n_pw);
		if (r2 < 0) {
			log_warning("bridge pre-pins: %s: tried again at the next event", strerror(-r2));
			m->want_fdb = true;
		}
	}
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
	b->pp_first = true;
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
	free(b->pp);
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
	if (r >= 0) {
		struct bl_prepin *pw = NULL;
		size_t n_pw = 0, n_w = 0;
		bool rw = false, first = true;

		r = want_prepins(m, &b.store, &pw, &n_pw);
		if (r >= 0)
			r = sync_prepins(m, &b.pp, &b.n_pp, &b.cap_pp, &rw, &first, pw, n_pw);
		for (size_t i = 0; i < b.n_pp; i++)
			n_w += b.pp[i].how == PP_WRITTEN;
		if (r >= 0 && n_w)
			printf("ztsegd: %zu bridge port address%s pre-pinned from static FDB and neighbour entries\n",
			       n_w, n_w == 1 ? "" : "es");
		free(b.pp);
	}
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
