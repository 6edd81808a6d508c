/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Membership (SPEC §3): which live interfaces and routes each segment of a
 * policy owns in a struct zt_rtnl_state, and how two memberships differ.
 */
#ifndef ZT_MEMBERSHIP_H
#define ZT_MEMBERSHIP_H

#include <net/if.h>
#include "policy.h"
#include "rtnl-state.h"

/* Segment names as kept in a membership (ZT_NAME_MAX and the NUL). */
#define ZT_MEMBER_SEG_MAX (ZT_NAME_MAX + 1)

struct zt_member_if {
	char name[IFNAMSIZ];
	int ifindex;
};

struct zt_segment_members {
	char name[ZT_MEMBER_SEG_MAX];
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
	ZT_MEMBER_WARN_BRIDGE_ITSELF,	/* seg, ifname: a bridge matches a member pattern */
};

struct zt_member_warning {
	enum zt_member_warning_kind kind;
	char seg[ZT_MEMBER_SEG_MAX];
	char ifname[IFNAMSIZ];
	char other[ZT_MEMBER_SEG_MAX];
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
 * The full recompute: the membership of every segment of p in state s,
 * from scratch. Pure; about O((links + routes) log n + patterns log
 * patterns).
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
int zt_membership_compute(const struct zt_rtnl_state *s, const struct zt_policy *p,
			  struct zt_membership **ret);

/*
 * The incremental tracker. zt_membership_track() is zt_membership_compute()
 * plus an index that lets zt_membership_track_update() keep the result
 * current at the cost of what changed: members by ifindex, the policy's
 * patterns sorted once, which segments route each prefix. The policy must
 * outlive the membership.
 */
int zt_membership_track(const struct zt_rtnl_state *s, const struct zt_policy *p,
			struct zt_membership **ret);

struct zt_membership_diff;

/*
 * Bring a tracked membership to state s, which changed as d says (take it
 * with zt_rtnl_state_take_dirty() after applying the messages), and say
 * what changed: exactly what zt_membership_compute() of s and
 * zt_membership_diff() against the membership before would give, in
 * about O(what changed × log) (d->members: O(member links and their
 * routes); d->all: O(links + routes); never the policy's size). A
 * membership not made by zt_membership_track() gives -EINVAL. On failure
 * (-ENOMEM) the membership is no longer current: track it anew with
 * zt_membership_track().
 */
int zt_membership_track_update(struct zt_membership *m, const struct zt_rtnl_state *s,
			       const struct zt_rtnl_dirty *d, struct zt_membership_diff **ret);

/* Accepts NULL; returns NULL. */
struct zt_membership *zt_membership_free(struct zt_membership *m);
/*
 * The segment of that name; NULL when none. hint: where to look first
 * (the membership lists the segments of the policy it was built from in
 * its order: a caller walking that policy passes the segment's index,
 * and a status or metrics document costs O(segments), not O(segments²)).
 * Any other value is only slower.
 */
const struct zt_segment_members *zt_membership_segment(const struct zt_membership *m, size_t hint,
						       const char *name);
/* One warning as a sentence, into buf. */
const char *zt_member_warning_fmt(const struct zt_member_warning *w, char *buf, size_t len);

struct zt_if_change {
	char seg[ZT_MEMBER_SEG_MAX];
	char ifname[IFNAMSIZ];
	int ifindex;
};

struct zt_prefix_change {
	char seg[ZT_MEMBER_SEG_MAX];
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
