/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rtnetlink tracker: the kernel's links, addresses and main-table
 * routes (a struct zt_rtnl_state), kept current from events (lib/rtnl.c).
 */
#ifndef ZT_RTNL_H
#define ZT_RTNL_H

#include <stdint.h>
#include "rtnl-state.h"

/* The receive buffer asked for when zt_rtnl_open() is given 0. */
#define ZT_RTNL_RCVBUF_DEFAULT ((size_t)16 << 20)
/* Whole dumps tried before giving up on one the kernel does not interrupt. */
#define ZT_RTNL_DUMP_TRIES 8

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

static inline void zt_rtnl_freep(struct zt_rtnl **r)
{
	zt_rtnl_free(*r);
}
#define _cleanup_rtnl_ _cleanup_(zt_rtnl_freep)

#endif
