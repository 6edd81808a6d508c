/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's links, addresses and main-table routes as a plain data
 * structure, built from rtnetlink messages; no I/O (lib/rtnl-state.c).
 */
#ifndef ZT_RTNL_STATE_H
#define ZT_RTNL_STATE_H

#include <net/if.h>
#include <stdint.h>
#include "net.h"
struct nlmsghdr;

/* Bytes kept of IFLA_INFO_KIND / IFLA_INFO_SLAVE_KIND, with the NUL. */
#define ZT_RTNL_KIND_MAX 32

/* What an applied message or a process() call changed (a bit mask). */
enum zt_rtnl_change {
	ZT_RTNL_CHANGED_LINKS = 1 << 0,
	ZT_RTNL_CHANGED_ADDRS = 1 << 1,
	ZT_RTNL_CHANGED_ROUTES = 1 << 2,
	/*
	 * The kernel may have removed routes without telling: an interface
	 * went down, or an address went away (IPv4 then flushes the routes
	 * that used it, and every route of the device with its last
	 * address, with no RTM_DELROUTE). Only zt_rtnl_state_apply()
	 * returns it; the tracker answers it by re-dumping the routes.
	 */
	ZT_RTNL_ROUTES_STALE = 1 << 3,
};

struct zt_rtnl_link {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[ZT_RTNL_KIND_MAX];		/* IFLA_INFO_KIND; "" for none */
	char slave_kind[ZT_RTNL_KIND_MAX];	/* IFLA_INFO_SLAVE_KIND: "bridge" for a bridge port */
	int master;				/* IFLA_MASTER; 0 for none */
	unsigned flags;				/* ifi_flags: IFF_UP, IFF_RUNNING, … */
	uint8_t operstate;			/* IF_OPER_*; IF_OPER_UNKNOWN when not given */
};

/* An address of the host: the address itself (host bits kept) and its plen. */
struct zt_rtnl_addr {
	int ifindex;
	struct zt_cidr addr;			/* pos is unused */
};

/*
 * One route of the main table, one entry per next hop (a multipath route
 * gives one entry for each). Routes of other tables, cached clones and
 * source-specific (IPv6 "from") routes are not kept.
 */
struct zt_rtnl_route {
	struct zt_cidr dst;			/* host bits cleared; plen 0: a default route */
	uint32_t table;
	uint32_t priority;			/* RTA_PRIORITY (the metric) */
	uint8_t tos;
	uint8_t type;				/* RTN_UNICAST, RTN_BLACKHOLE, … */
	int oif;				/* 0 for none (blackhole, unreachable, …) */
	uint8_t gw_family;			/* AF_INET, AF_INET6 or 0 for no gateway */
	uint8_t gw[16];
};

/*
 * The kernel's view, as a plain data structure: build it from messages
 * with zt_rtnl_state_apply(), read it with the accessors below. Lookups,
 * insertions and deletions are logarithmic; removing a link's addresses
 * and routes costs what it removes.
 */
struct zt_rtnl_state;

int zt_rtnl_state_new(struct zt_rtnl_state **ret);
/* Accepts NULL; returns NULL. */
struct zt_rtnl_state *zt_rtnl_state_free(struct zt_rtnl_state *s);

/*
 * What changed in a state since the last take, for zt_membership_track_update():
 * the links whose membership may differ (the link itself changed or went,
 * or a route through it came or went), sorted and unique; `members`: the
 * routes of every member link count anew as well (addresses changed — they
 * decide which host routes count —, or the routes were re-dumped); `all`:
 * anything (a new state, or too many links to list).
 */
struct zt_rtnl_dirty {
	int *ifindex;
	size_t n;
	bool members;
	bool all;
};

/* Hand over what changed since the last call (a new state: all) and start afresh. */
int zt_rtnl_state_take_dirty(struct zt_rtnl_state *s, struct zt_rtnl_dirty *ret);
void zt_rtnl_dirty_clear(struct zt_rtnl_dirty *d);

/*
 * Apply one RTM_NEWLINK/DELLINK, NEWADDR/DELADDR or NEWROUTE/DELROUTE
 * message (event or dump reply) to the state. `len` bounds the message:
 * nothing beyond min(len, nlmsg_len) is read. Returns the zt_rtnl_change
 * bits (0: nothing changed, or a message of another kind, family or table
 * that is not kept), or -EBADMSG for a malformed message, which leaves the
 * state untouched. Only AF_UNSPEC link messages describe links:
 * AF_BRIDGE ones (bridge port events, whose RTM_DELLINK means "left the
 * bridge") and AF_INET6 ones (RA state) are ignored.
 */
int zt_rtnl_state_apply(struct zt_rtnl_state *s, const struct nlmsghdr *nlh, size_t len);

/*
 * Put the routes of `from` in place of those of s (a route re-dump); from
 * keeps its links and addresses and is left without routes.
 */
void zt_rtnl_state_replace_routes(struct zt_rtnl_state *s, struct zt_rtnl_state *from);

size_t zt_rtnl_state_n_links(const struct zt_rtnl_state *s);
size_t zt_rtnl_state_n_addrs(const struct zt_rtnl_state *s);
size_t zt_rtnl_state_n_routes(const struct zt_rtnl_state *s);

/* NULL when there is no such link. */
const struct zt_rtnl_link *zt_rtnl_state_link(const struct zt_rtnl_state *s, int ifindex);
/*
 * Is l a port of a bridge? The kernel says so with IFLA_INFO_SLAVE_KIND;
 * the master's own kind answers too. *ret_bridge, when not NULL, gets
 * the master (NULL when it is not known).
 */
bool zt_rtnl_link_bridge_port(const struct zt_rtnl_state *s, const struct zt_rtnl_link *l,
			      const struct zt_rtnl_link **ret_bridge);
/* The first link with this name (lowest ifindex); NULL when none. Linear. */
const struct zt_rtnl_link *zt_rtnl_state_link_by_name(const struct zt_rtnl_state *s,
						      const char *name);

/*
 * Visit every link (by ifindex), address (by ifindex, then family,
 * address, plen) or route (by oif, then family, destination, metric). A
 * callback returning non-zero stops the walk; that value is returned.
 */
int zt_rtnl_state_foreach_link(const struct zt_rtnl_state *s,
			       int (*fn)(const struct zt_rtnl_link *l, void *userdata),
			       void *userdata);
int zt_rtnl_state_foreach_addr(const struct zt_rtnl_state *s,
			       int (*fn)(const struct zt_rtnl_addr *a, void *userdata),
			       void *userdata);
int zt_rtnl_state_foreach_route(const struct zt_rtnl_state *s,
				int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				void *userdata);
/* The routes whose (some) next hop leaves through ifindex. */
int zt_rtnl_state_foreach_route_oif(const struct zt_rtnl_state *s, int ifindex,
				    int (*fn)(const struct zt_rtnl_route *rt, void *userdata),
				    void *userdata);

static inline void zt_rtnl_state_freep(struct zt_rtnl_state **s)
{
	zt_rtnl_state_free(*s);
}
#define _cleanup_rtnl_state_ _cleanup_(zt_rtnl_state_freep)

#endif
