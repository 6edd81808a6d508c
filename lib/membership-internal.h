/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the full recompute (membership.c) and the incremental tracker
 * (membership-track.c) share, so both apply the same rules. Not a public
 * interface.
 */
#ifndef ZT_MEMBERSHIP_INTERNAL_H
#define ZT_MEMBERSHIP_INTERNAL_H

#include <sys/types.h>
#include "membership.h"

/* Interface patterns, sorted for lookup by exact name and by every prefix of one. */
struct member_pat {
	char name[IFNAMSIZ];
	bool wildcard;
	size_t owner;		/* the segment's index; 0 for hub.encrypted-interfaces */
};

struct member_pats {
	struct member_pat *v;
	size_t n, cap;
};

/* The segments' patterns and hub.encrypted-interfaces of a policy. */
struct member_patterns {
	struct member_pats seg, enc;
	bool *unbridged;	/* by segment: its bridge ports are not enforced (no bridge index: mark-mask full) */
};

int member_patterns_build(struct member_patterns *x, const struct zt_policy *p);
void member_patterns_clear(struct member_patterns *x);
/* The owner of the pattern matching ifname: an exact name, else the longest prefix; -1: none. */
ssize_t member_pats_lookup(const struct member_pats *x, const char *ifname);

/* The host's own addresses, sorted. */
struct member_locals {
	struct member_local *v;
	size_t n, cap;
};

/* (Re)fill from the addresses of s. */
int member_locals_build(struct member_locals *l, const struct zt_rtnl_state *s);
void member_locals_clear(struct member_locals *l);

enum member_route {
	MEMBER_ROUTE_IGNORED,		/* not unicast, link-local, or a host route to ourselves */
	MEMBER_ROUTE_DEFAULT,		/* warned about, not routed */
	MEMBER_ROUTE_ROUTED,
};

/* How a route through a member interface counts (see zt_membership_compute()). */
enum member_route member_route_class(const struct member_locals *l, const struct zt_rtnl_route *rt);

/* Is l a bridge port? Then its bridge's name (or "#ifindex") goes into bridge. */
bool member_bridge_port(const struct zt_rtnl_state *s, const struct zt_rtnl_link *l,
			char bridge[IFNAMSIZ]);

void member_warning_set(struct zt_member_warning *w, enum zt_member_warning_kind kind,
			const char *seg, const char *ifname, const char *other,
			const struct zt_cidr *prefix);

/* Sort and drop neighbours that compare equal (an interface name seen twice). */
size_t member_sort_unique(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *),
			  int (*same)(const void *, const void *));
int member_if_cmp(const void *a, const void *b);
int member_if_same(const void *a, const void *b);
int member_enc_cmp(const void *a, const void *b);
int member_enc_same(const void *a, const void *b);
int member_warning_cmp(const void *a, const void *b);
int member_cidr_cmp(const void *a, const void *b);

/* A zt_membership_diff being built, with the capacity of each array. */
struct member_diff_build {
	struct zt_membership_diff *d;
	size_t cap_if_add, cap_if_del, cap_pfx_add, cap_pfx_del, cap_enc_add, cap_enc_del;
	size_t cap_warn_new;
};

/* a and b: one segment before and after; either may be NULL. */
int member_diff_segment(struct member_diff_build *x, const struct zt_segment_members *a,
			const struct zt_segment_members *b);
int member_diff_enc(struct member_diff_build *x, const struct zt_membership *a,
		    const struct zt_membership *b);
/* The warnings of b that a does not have (both sorted by member_warning_cmp()). */
int member_diff_warnings(struct member_diff_build *x, const struct zt_membership *a,
			 const struct zt_membership *b);

/* The tracker's index (membership-track.c); accepts NULL. */
void member_index_free(struct zt_member_index *x, size_t n_segs);

#endif
