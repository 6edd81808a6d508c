/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the apply files only (apply, nft, nft-dump): the nf_tables
 * socket's state, its requests, and a sent batch's ACKs.
 */
#ifndef ZT_APPLY_INTERNAL_H
#define ZT_APPLY_INTERNAL_H

#include "nft.h"
#include "nl.h"

struct zt_nft {
	struct zt_nl nl;
	int persist;		/* -1: not asked yet */
	uint32_t gen_ours;	/* the generation after our last commit, while none other is known; 0: unknown */
	uint64_t bridge_hash;	/* table bridge ztseg as last written (zt_bridge_hash()); 0: unknown */
	size_t sndbuf, rcvbuf;
};

/* The next sequence number of the socket (requests and batches share them). */
static inline uint32_t zt_nft_seq_next(struct zt_nft *n)
{
	return ++n->nl.seq;
}

/* Send one request and hand every answer to cb (0, or -errno to stop) until the kernel is done. */
int zt_nft_request(struct zt_nft *n, struct nlmsghdr *nlh, zt_nl_cb cb, void *data);

/* The kernel's generation after one more commit (it skips 0). */
static inline uint32_t zt_gen_next(uint32_t g)
{
	return g == UINT32_MAX ? 1 : g + 1;
}

/* What the kernel acknowledged of a sent batch. */
struct zt_acks {
	const struct zt_batch *b;
	const struct zt_plan *plan;	/* to find an element's policy line; may be NULL */
	struct zt_diags *d;
	uint8_t *seen;		/* per message */
	size_t n_acks, n_errors;
	int restart;		/* ERESTART on BATCH_BEGIN: the ruleset changed */
	int first_err;
	bool quiet;		/* probes: count, do not report */
};

/*
 * Send a batch (n's sequence numbers follow it) in one sendmsg and read
 * every ACK into a (plan: for error positions; quiet: report nothing).
 * Returns 0 once all are read (rejections are in a), or -errno (in d).
 * zt_acks_result() then maps the outcome; zt_acks_clear() frees a.
 */
int zt_nft_batch_send(struct zt_nft *n, const struct zt_batch *b, const struct zt_plan *plan, bool quiet,
		      struct zt_acks *a, struct zt_diags *d);
/* Restart when the generation moved, -EPERM or -EINVAL for rejections, else r. */
int zt_acks_result(int r, const struct zt_acks *a);
void zt_acks_clear(struct zt_acks *a);

#endif
