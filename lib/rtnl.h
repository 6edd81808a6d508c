/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * rtnetlink state tracker: the kernel's links, addresses and main-table
 * routes, kept current from events, and the segment membership they imply.
 */
#ifndef ZT_RTNL_H
#define ZT_RTNL_H

#include <net/if.h>
#include <stdint.h>
#include "net.h"
#include "policy.h"

struct nlmsghdr;

/* The receive buffer asked for when zt_rtnl_open() is given 0. */
#define ZT_RTNL_RCVBUF_DEFAULT ((size_t)16 << 20)
/* Bytes kept of IFLA_INFO_KIND / IFLA_INFO_SLAVE_KIND, with the NUL. */
#define ZT_RTNL_KIND_MAX 32
/* Whole dumps tried before giving up on one the kernel does not interrupt. */
#define ZT_RTNL_DUMP_TRIES 8
/* Segment names as kept in a membership (ZT_NAME_MAX and the NUL). */
#define ZT_RTNL_SEG_MAX (ZT_NAME_MAX + 1)

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
 * What changed in a state since the last take, for zt_membership_update():
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

/* The tracker: an rtnetlink socket subscribed to links, addresses and routes. */
struct zt_rtnl;

struct zt_rtnl_stats {
	uint64_t messages;		/* event messages read */
	uint64_t malformed;		/* rejected as malformed (ignored) */
	uint64_t foreign;		/* datagrams not sent by the kernel (ignored) */
	uint64_t overruns;		/* ENOBUFS: events were lost */
	uint64_t resyncs;		/* zt_rtnl_resync() calls that rebuilt the state */
	uint64_t dump_retries;		/* dumps restarted for NLM_F_DUMP_INTR */
	uint64_t route_redumps;		/* route re-dumps for ZT_RTNL_ROUTES_STALE */
	size_t rcvbuf;			/* the receive buffer the kernel granted */
};

/*
 * Open the event socket (non-blocking, close-on-exec; RTNLGRP_LINK,
 * IPV4_IFADDR, IPV6_IFADDR, IPV4_ROUTE, IPV6_ROUTE), with a receive buffer
 * of `rcvbuf` bytes (0: ZT_RTNL_RCVBUF_DEFAULT; SO_RCVBUFFORCE, or
 * SO_RCVBUF where that is not permitted; a small one lets tests force an
 * overrun), and a second, blocking socket for dumps. Subscribes first,
 * then dumps links, addresses and main-table routes of both families
 * synchronously, so no event falls between the dump and the subscription:
 * events queued meanwhile are replayed on top of the dump, and each one
 * carries the whole object, so replaying it is harmless. A dump the kernel
 * keeps interrupting (NLM_F_DUMP_INTR) is retried as a whole up to
 * ZT_RTNL_DUMP_TRIES times; after that the state is the last attempt's
 * and zt_rtnl_resync_needed() says so.
 */
int zt_rtnl_open(struct zt_rtnl **ret, size_t rcvbuf);
/* Accepts NULL; returns NULL. */
struct zt_rtnl *zt_rtnl_free(struct zt_rtnl *r);

/* The event socket, for poll() or sd_event_add_io() (EPOLLIN). */
int zt_rtnl_fd(const struct zt_rtnl *r);

/*
 * Read the events waiting on the socket (at most a bounded number of
 * datagrams per call, so a flood cannot hold the caller's loop: with a
 * level-triggered fd the rest wakes it again) and apply them. Malformed
 * messages and datagrams not from the kernel are counted and skipped.
 * On ENOBUFS events were lost: the overrun is counted, resync_needed set
 * and the call returns at once; the caller then calls zt_rtnl_resync().
 * When a link went down or an address went away (ZT_RTNL_ROUTES_STALE),
 * the routes are re-dumped once at the end of the call. Returns the
 * zt_rtnl_change bits of this call (0: nothing changed), or -errno.
 */
int zt_rtnl_process(struct zt_rtnl *r);

/* Re-dump everything and rebuild the state (after an overrun). Counted. */
int zt_rtnl_resync(struct zt_rtnl *r);
bool zt_rtnl_resync_needed(const struct zt_rtnl *r);

const struct zt_rtnl_state *zt_rtnl_state(const struct zt_rtnl *r);
/* Bumped by every change to the state (and by every resync). */
uint64_t zt_rtnl_generation(const struct zt_rtnl *r);
/* The zt_rtnl_change bits gathered since the last call, and clear them. */
unsigned zt_rtnl_take_changes(struct zt_rtnl *r);
/* zt_rtnl_state_take_dirty() of the tracker's state (a resync: all). */
int zt_rtnl_take_dirty(struct zt_rtnl *r, struct zt_rtnl_dirty *ret);
const struct zt_rtnl_stats *zt_rtnl_stats(const struct zt_rtnl *r);

/* Membership (SPEC §3): which live interfaces and routes each segment owns. */

struct zt_member_if {
	char name[IFNAMSIZ];
	int ifindex;
};

struct zt_segment_members {
	char name[ZT_RTNL_SEG_MAX];
	struct zt_member_if *ifs;	/* current interfaces matching its patterns, by name */
	size_t n_ifs;
	struct zt_cidr *routed;		/* prefixes routed through those, sorted, unique */
	size_t n_routed;
	struct zt_cidr *statics;	/* its static addresses, as the policy gives them */
	size_t n_statics;
};

enum zt_member_warning_kind {
	ZT_MEMBER_WARN_DEFAULT_ROUTE,	/* seg, ifname, prefix (0.0.0.0/0 or ::/0) */
	ZT_MEMBER_WARN_BRIDGE_PORT,	/* seg, ifname, other: the bridge */
	ZT_MEMBER_WARN_PREFIX_CONFLICT,	/* seg, other: the second segment, prefix */
};

struct zt_member_warning {
	enum zt_member_warning_kind kind;
	char seg[ZT_RTNL_SEG_MAX];
	char ifname[IFNAMSIZ];
	char other[ZT_RTNL_SEG_MAX];
	struct zt_cidr prefix;
};

/* A live interface that matches hub.encrypted-interfaces, whatever its kind. */
struct zt_enc_link {
	char name[IFNAMSIZ];
	char kind[ZT_RTNL_KIND_MAX];
	int ifindex;
};

struct zt_member_index;

struct zt_membership {
	struct zt_segment_members *segs;	/* one per policy segment, in policy order */
	size_t n_segs;
	struct zt_member_warning *warnings;	/* sorted by kind, segment, interface, prefix */
	size_t n_warnings;
	struct zt_enc_link *enc;		/* by name; the caller filters by trusted kinds */
	size_t n_enc;
	struct zt_member_index *idx;		/* zt_membership_track(): what updates need; else NULL */
};

/*
 * Compute the membership of every segment of p in state s. Pure; about
 * O((links + routes) log n + patterns log patterns).
 *
 * Interfaces: exact names of the links matching a segment's patterns (an
 * exact pattern before a wildcard, a longer wildcard before a shorter one,
 * should validation ever let two segments overlap). Routed addresses: the
 * destinations of unicast main-table routes whose next hop leaves through
 * a member interface, except default routes (warned about instead: a
 * member interface that carries one is a configuration error),
 * link-local destinations (classified by interface only) and host routes
 * to the host's own addresses (the kernel adds one for every IPv6 /128 it
 * configures, and the same gateway address sits on every workload veth).
 * A prefix routed into two segments stays in both and is warned about. A
 * member interface whose master is a bridge is warned about: traffic
 * between two ports of one bridge never reaches the inet forward hook.
 */
int zt_rtnl_membership(const struct zt_rtnl_state *s, const struct zt_policy *p,
		       struct zt_membership **ret);
/*
 * zt_rtnl_membership(), and an index that lets zt_membership_update()
 * keep it current at the cost of what changed: members by ifindex, the
 * policy's patterns sorted once, which segments route each prefix. The
 * policy must outlive the membership.
 */
int zt_membership_track(const struct zt_rtnl_state *s, const struct zt_policy *p,
			struct zt_membership **ret);

struct zt_membership_diff;

/*
 * Bring a tracked membership to state s, which changed as d says (take it
 * with zt_rtnl_state_take_dirty() after applying the messages), and say
 * what changed: exactly what zt_rtnl_membership() of s and
 * zt_membership_diff() against the membership before would give, in
 * about O(what changed × log) (d->members: O(member links and their
 * routes); d->all: O(links + routes); never the policy's size). On failure (-ENOMEM) the membership is no longer
 * current: compute it anew with zt_membership_track().
 */
int zt_membership_update(struct zt_membership *m, const struct zt_rtnl_state *s,
			 const struct zt_rtnl_dirty *d, struct zt_membership_diff **ret);

/* Accepts NULL; returns NULL. */
struct zt_membership *zt_membership_free(struct zt_membership *m);
/* The segment of that name; NULL when none. */
const struct zt_segment_members *zt_membership_segment(const struct zt_membership *m,
						       const char *name);
/* One warning as a sentence, into buf. */
const char *zt_member_warning_fmt(const struct zt_member_warning *w, char *buf, size_t len);

struct zt_if_change {
	char seg[ZT_RTNL_SEG_MAX];
	char ifname[IFNAMSIZ];
	int ifindex;
};

struct zt_prefix_change {
	char seg[ZT_RTNL_SEG_MAX];
	struct zt_cidr prefix;
	bool elsewhere;		/* additions: the old membership routed it to another segment */
};

/*
 * What turns one membership into another: the set-element batches.
 * Segments are matched by name, interfaces by name (a rename is a removal
 * and an addition), encrypted links by name and kind. Each array is
 * sorted by segment, then interface name or prefix.
 */
struct zt_membership_diff {
	struct zt_if_change *if_add, *if_del;
	size_t n_if_add, n_if_del;
	struct zt_prefix_change *pfx_add, *pfx_del;
	size_t n_pfx_add, n_pfx_del;
	struct zt_enc_link *enc_add, *enc_del;
	size_t n_enc_add, n_enc_del;
	struct zt_member_warning *warn_new;	/* warnings the old membership did not have, sorted */
	size_t n_warn_new;
};

/* Either side may be NULL (nothing). */
int zt_membership_diff(const struct zt_membership *old, const struct zt_membership *new,
		       struct zt_membership_diff **ret);
bool zt_membership_diff_empty(const struct zt_membership_diff *d);
/* Accepts NULL; returns NULL. */
struct zt_membership_diff *zt_membership_diff_free(struct zt_membership_diff *d);

static inline void zt_rtnl_freep(struct zt_rtnl **r)
{
	zt_rtnl_free(*r);
}
#define _cleanup_rtnl_ _cleanup_(zt_rtnl_freep)

static inline void zt_rtnl_state_freep(struct zt_rtnl_state **s)
{
	zt_rtnl_state_free(*s);
}
#define _cleanup_rtnl_state_ _cleanup_(zt_rtnl_state_freep)

static inline void zt_membership_freep(struct zt_membership **m)
{
	zt_membership_free(*m);
}
#define _cleanup_membership_ _cleanup_(zt_membership_freep)

static inline void zt_membership_diff_freep(struct zt_membership_diff **d)
{
	zt_membership_diff_free(*d);
}
#define _cleanup_membership_diff_ _cleanup_(zt_membership_diff_freep)

#endif
