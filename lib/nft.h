/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nf_tables socket apply talks through: the table's owner while it
 * stays open, its generation ids, and transactions of the caller's own.
 */
#ifndef ZT_NFT_H
#define ZT_NFT_H

#include "emit.h"

/* An open NETLINK_NETFILTER socket: the table's owner while it stays open. */
struct zt_nft;

int zt_nft_open(struct zt_nft **ret);
struct zt_nft *zt_nft_close(struct zt_nft *n);
static inline void zt_nft_closep(struct zt_nft **n)
{
	zt_nft_close(*n);
}
#define _cleanup_nft_ _cleanup_(zt_nft_closep)

/* Whether the kernel has NFT_TABLE_F_PERSIST (asks it once, without committing anything). */
int zt_nft_has_persist(struct zt_nft *n);

/*
 * The socket's netlink port id: the table's owner, and the sender that
 * nf_tables notifications of our own transactions name.
 */
uint32_t zt_nft_portid(const struct zt_nft *n);
/*
 * The socket itself, for a dump between batches. A process that reads
 * right after its own commits should read here: closing a netfilter
 * socket makes the kernel finish the last commit's cleanup first, an RCU
 * grace period (4-12 ms measured on a 2-CPU VM; doc/RULESET.md, "What a
 * commit costs").
 */
struct zt_nl *zt_nft_nl(struct zt_nft *n);

/*
 * The generation id the kernel had after this socket's last commit, while
 * no other commit is known to have followed it (0: unknown): an apply or
 * a zt_nft_batch_commit() keeps it.
 */
uint32_t zt_nft_genid(const struct zt_nft *n);
/* The kernel's current generation id. */
int zt_nft_genid_read(struct zt_nft *n, uint32_t *ret);
/* The network namespace's cookie (SO_NETNS_COOKIE): unique while the system runs. */
int zt_nft_netns_cookie(struct zt_nft *n, uint64_t *ret);

/*
 * A transaction of the caller's own (set elements, say): a batch begun
 * with the socket's next sequence number, to fill with zt_emit_*() and
 * send with zt_nft_batch_commit(), which ends it, sends it in one
 * sendmsg and reads every ACK. Errors go into d; returns 0, -EPERM,
 * -EINVAL (another rejection; the first error's errno is in *ret_err
 * when not NULL), -ERESTART or -errno.
 */
int zt_nft_batch_start(struct zt_nft *n, struct zt_batch **ret);
int zt_nft_batch_commit(struct zt_nft *n, struct zt_batch *b, int *ret_err, struct zt_diags *d);

#endif
