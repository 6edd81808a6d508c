/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection index: this namespace's conntrack entries as conntrack
 * events (NEW, DESTROY) and dumps described them, so that a move finds the
 * moved addresses' connections without the kernel walking its whole hash
 * table (shared by every namespace). It knows only what it was told: the
 * daemon (ztsegd-ctindex.c) trusts it only while no event was lost, and
 * rebuilds it from a walk otherwise.
 */
#ifndef ZT_CTINDEX_H
#define ZT_CTINDEX_H

#include "conntrack.h"

/* An original tuple's attribute longer than this is not kept: the index says so (full). */
#define ZT_CTIX_ORIG_MAX 112

struct zt_ctix;

/* An empty index of at most max entries (beyond it: zt_ctix_add fails, the index must not be trusted). */
struct zt_ctix *zt_ctix_new(size_t max);
/* Accepts NULL; returns NULL. */
struct zt_ctix *zt_ctix_free(struct zt_ctix *ix);
void zt_ctix_clear(struct zt_ctix *ix);
size_t zt_ctix_size(const struct zt_ctix *ix);
/*
 * A connection (zt_ct_parse or zt_ct_parse_event of its NEW event or of a
 * dump): 0 (a known one: nothing changes), -E2BIG (full, or its tuple too
 * long), -ENOMEM, -EINVAL (no original tuple).
 */
int zt_ctix_add(struct zt_ctix *ix, const struct zt_ct_entry *e);
/* Its DESTROY event: forgotten if known (by id, zone and original tuple). */
void zt_ctix_del(struct zt_ctix *ix, const struct zt_ct_entry *e);
/*
 * The entries with an address (either direction, NAT included) in one of
 * the prefixes, copied into *ret (free() it; their orig points into the
 * index, valid until it changes): the count, or -ENOMEM. A host prefix
 * (/32, /128) is a hash lookup; a shorter one looks at every entry.
 */
ssize_t zt_ctix_match(struct zt_ctix *ix, const struct zt_cidr *pfx, size_t n, struct zt_ct_entry **ret);

#endif
