/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Other tables on ztseg's hooks: which base chains of other nftables
 * tables take packets out of connection tracking (a notrack expression
 * before conntrack, in prerouting or output). An untracked packet skips
 * every ct-based decision of ztseg's table, so status names them (SPEC §8).
 */
#ifndef ZT_FOREIGN_H
#define ZT_FOREIGN_H

#include <stdint.h>
#include <linux/netfilter/nf_tables.h>
#include "util.h"

struct nftnl_chain;
struct nftnl_rule;

/* Conntrack's own hook priority (NF_IP_PRI_CONNTRACK): a notrack after it changes nothing. */
#define ZT_CONNTRACK_PRIO (-200)
/* How far jumps and gotos are followed from a base chain (the kernel's own limit is 16). */
#define ZT_UNTRACK_DEPTH 16

struct zt_untrack {
	uint8_t family;				/* NFPROTO_IPV4, NFPROTO_IPV6 or NFPROTO_INET */
	char table[NFT_TABLE_MAXNAMELEN];
	char chain[NFT_CHAIN_MAXNAMELEN];	/* the base chain */
	char via[NFT_CHAIN_MAXNAMELEN];		/* the chain with the notrack rule: chain, or one it jumps to */
	uint32_t hook;				/* NF_INET_PRE_ROUTING or NF_INET_LOCAL_OUT */
	int32_t prio;
};

/* "ip", "ip6", "inet", ... as nft names a family; "?" for others. */
const char *zt_nfproto_name(uint8_t family);
/* "prerouting", "output", ... */
const char *zt_nf_hook_name(uint32_t hook);

/*
 * The pure part: feed chains and rules as a dump returns them (any order,
 * any tables), then ask for the result. No I/O.
 */
struct zt_untrack_scan;

int zt_untrack_scan_new(struct zt_untrack_scan **ret);
struct zt_untrack_scan *zt_untrack_scan_free(struct zt_untrack_scan *s);
static inline void zt_untrack_scan_freep(struct zt_untrack_scan **s)
{
	zt_untrack_scan_free(*s);
}
#define _cleanup_untrack_scan_ _cleanup_(zt_untrack_scan_freep)

/* A chain of any table (inet ztseg's are ignored). 0 or -ENOMEM. */
int zt_untrack_scan_chain(struct zt_untrack_scan *s, const struct nftnl_chain *c);
/* Does this chain's table matter (the table has a base chain that could untrack)? */
bool zt_untrack_scan_wants_table(const struct zt_untrack_scan *s, uint8_t family, const char *table);
/* A rule; rules of chains never fed are ignored. 0 or -ENOMEM. */
int zt_untrack_scan_rule(struct zt_untrack_scan *s, const struct nftnl_rule *r);
/*
 * Base chains of ip, ip6 and inet tables on prerouting or output with a
 * priority up to conntrack's that reach a notrack expression, directly or
 * through jumps and gotos in their table; sorted by family, table, chain;
 * one entry per base chain. *ret is malloc'd (NULL when none).
 */
int zt_untrack_scan_result(const struct zt_untrack_scan *s, struct zt_untrack **ret, size_t *ret_n);

/*
 * The kernel's answer: dump the chains of every table, then the rules of
 * the tables that have such a base chain, over a netlink socket of its own
 * (CAP_NET_ADMIN). 0 or -errno.
 */
int zt_untrack_read(struct zt_untrack **ret, size_t *ret_n);

#endif
