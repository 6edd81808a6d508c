/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rtnetlink tracker: subscribe, then dump links, addresses and routes
 * into a struct zt_rtnl_state, and keep it current from the events.
 */
#include <limits.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "nl.h"
#include "rtnl.h"

/* One datagram; the kernel's dump skbs stay well below this. */
#define RTNL_BUF_SIZE (64 * 1024)
/* Datagrams read per zt_rtnl_process() call before yielding to the loop. */
#define RTNL_BATCH 256
/* How long a dump may stall before it is given up (a wedged kernel). */
#define RTNL_DUMP_TIMEOUT_SEC 10

struct zt_rtnl {
	struct zt_nl ev;		/* subscribed, non-blocking */
	struct zt_nl dump;		/* requests and their replies only; closed after a timeout */
	struct zt_rtnl_state *state;
	uint64_t generation;
	unsigned changes;
	bool resync_needed;
	bool routes_stale;
	struct zt_rtnl_stats stats;
};

static int dump_socket_open(struct zt_rtnl *r)
{
	struct timeval tv = { .tv_sec = RTNL_DUMP_TIMEOUT_SEC };
	int one = 1, k;

	k = zt_nl_open(&r->dump, NETLINK_ROUTE, SOCK_CLOEXEC, RTNL_BUF_SIZE);
	if (k >= 0 && setsockopt(zt_nl_fd(&r->dump), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		k = -errno;
	if (k < 0) {
		zt_nl_close(&r->dump);
		return k;
	}
	/* Kernel-side filtering of route dumps by table (4.20+); optional. */
	(void)mnl_socket_setsockopt(r->dump.sock, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	return 0;
}

struct dump_ctx {
	struct zt_rtnl *r;
	struct zt_rtnl_state *s;
};

static int dump_msg_fn(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	int k = zt_rtnl_state_apply(d->s, nlh, nlh->nlmsg_len);

	if (k == -EBADMSG) {
		d->r->stats.malformed++;
		return 0;
	}
	return k < 0 ? k : 0;
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
	struct dump_ctx d = { .r = r, .s = s };
	int k;

	if (!r->dump.sock) {
		k = dump_socket_open(r);
		if (k < 0)
			return k;
	}
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++r->dump.seq;
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
		/* Honoured as a filter with NETLINK_GET_STRICT_CHK; checked anyway. */
		rtm->rtm_table = RT_TABLE_MAIN;
		break;
	}
	}
	k = zt_nl_talk(&r->dump, nlh, dump_msg_fn, &d, ZT_NL_F_READ_INTR);
	r->stats.foreign += r->dump.foreign;
	r->dump.foreign = 0;
	if (k == ZT_NL_INTR) {
		*intr = true;
		return 0;
	}
	if (k == -EAGAIN) {
		/* The rest may still come: not on this socket, where it would pass for the next answer. */
		zt_nl_close(&r->dump);
		return -ETIMEDOUT;
	}
	return k;
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
		zt_rtnl_state_replace_routes(r->state, s);
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
	int k;

	k = zt_nl_open(&r->ev, NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC, RTNL_BUF_SIZE);
	if (k < 0)
		return k;
	k = set_rcvbuf(zt_nl_fd(&r->ev), rcvbuf, &r->stats.rcvbuf);
	if (k < 0)
		return k;
	for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
		unsigned g = groups[i];

		if (mnl_socket_setsockopt(r->ev.sock, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
			return -errno;
	}
	return dump_socket_open(r);
}

int zt_rtnl_open(struct zt_rtnl **ret, size_t rcvbuf)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
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
	zt_nl_close(&r->ev);
	zt_nl_close(&r->dump);
	zt_rtnl_state_free(r->state);
	free(r);
	return NULL;
}

int zt_rtnl_fd(const struct zt_rtnl *r)
{
	return zt_nl_fd(&r->ev);
}

static void apply_datagram(struct zt_rtnl *r, ssize_t n, unsigned *changes)
{
	const struct nlmsghdr *m = (const struct nlmsghdr *)r->ev.buf;
	size_t rem = (size_t)n;

	for (; zt_nlmsg_ok(m, rem); m = zt_nlmsg_next(m, &rem)) {
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
	unsigned changes = 0;

	for (unsigned i = 0; i < RTNL_BATCH; i++) {
		uint32_t sender;
		bool trunc;
		ssize_t n = zt_nl_recv(&r->ev, MSG_DONTWAIT, &sender, &trunc);

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
