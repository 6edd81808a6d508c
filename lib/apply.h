/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apply: put a plan into the kernel as one nf_tables transaction — the
 * whole table the first time, the difference with what is there after —
 * and report every kernel error against the policy line it came from.
 * The socket is nft.h's; enc_if's links are links.h's.
 */
#ifndef ZT_APPLY_H
#define ZT_APPLY_H

#include "links.h"
#include "nft.h"
#include "plan.h"

struct zt_apply_opts {
	const struct zt_ifpat *enc_pats;	/* hub.encrypted-interfaces */
	size_t n_enc_pats;
	const char *const *enc_kinds;		/* trusted link kinds; NULL: the default list */
	size_t n_enc_kinds;
	bool replace;				/* full replace even if a diff is possible */
	/*
	 * Leave the table without an owner (as on kernels without
	 * NFT_TABLE_F_PERSIST): other processes can then change or delete
	 * it, and the daemon's drift repair is what restores it.
	 */
	bool unowned;
	unsigned max_restarts;			/* ERESTART retries; 0: 10 */
	/*
	 * What this caller applied last: while the kernel's generation id is
	 * still prev_genid (nothing in the namespace committed since), the
	 * table is that plan, and the difference is taken plan against plan
	 * without reading the table back. Dynamic sets (enc_if) are left as
	 * they are on that path: their owner refills them. prev_genid 0, or
	 * another generation: the table is read and compared.
	 */
	const struct zt_plan *prev_plan;
	uint32_t prev_genid;
	/*
	 * On that path, flush and fill anew the sets the compiled plan leaves
	 * dynamic and apply fills (enc_if): for a caller that does not keep
	 * them itself (--oneshot).
	 */
	bool refill_filled;
	/*
	 * --oneshot: the digest (stats.digest) of what was applied at
	 * prev_genid. The same generation and the same digest: nothing to
	 * send. NULL: none.
	 */
	const uint8_t *prev_digest;
	bool want_digest;			/* fill stats.digest */
	/*
	 * The caller's digest of everything the plan is a function of (the
	 * policy's sources, the compile options, the program itself): the
	 * applied digest is then that with the table flags and the links put
	 * into enc_if, which costs nothing. NULL: the SHA-256 of the whole
	 * table's batch (an emit of the plan).
	 */
	const uint8_t *digest_seed;
	/*
	 * Called with true before a batch of at least ZT_APPLY_QUIET_MIN
	 * messages is sent and with false once it is committed (the daemon
	 * leaves the notification group meanwhile: the kernel builds one
	 * notification per object while anyone listens).
	 */
	void (*quiet)(bool on, void *userdata);
	void *userdata;
};

#define ZT_APPLY_QUIET_MIN 256
#define ZT_APPLY_DIGEST_LEN 32

enum zt_apply_path {
	ZT_APPLY_FULL,		/* the whole table, created or replaced */
	ZT_APPLY_DUMP,		/* difference with the table as read back */
	ZT_APPLY_PLAN,		/* difference with the previous plan (generation unchanged) */
	ZT_APPLY_DIGEST,	/* the same plan, generation unchanged: nothing sent */
};

struct zt_apply_stats {
	bool created;		/* the table did not exist */
	bool replaced;		/* full replace (delete + add in one transaction) */
	bool persist;		/* the table is owner + persist */
	size_t objects;		/* objects of the plan (table, counters, sets, elements, chains, rules) */
	size_t messages;	/* messages in the batch sent */
	size_t bytes;		/* its size */
	size_t changed;		/* diff: objects added, changed or removed */
	unsigned restarts;	/* ERESTART retries */
	size_t enc_ifs;		/* elements put into enc_if */
	bool brnf_off;		/* br_netfilter was off: table bridge ztseg drops bridged member traffic */
	bool bridge_sent;	/* not a full apply, and table bridge ztseg was destroyed or written anew */
	bool bridge_written;	/* table bridge ztseg was written anew (it changed, or was forgotten) */
	enum zt_apply_path path;
	uint32_t genid;		/* the generation the table is at after the apply; 0: unknown */
	/*
	 * Another process committed between our commit and the end of a quiet
	 * window (opts.quiet): its notifications were not seen. Look at the table.
	 */
	bool foreign;
	bool have_digest;	/* opts.want_digest, and the apply succeeded */
	uint8_t digest[ZT_APPLY_DIGEST_LEN];	/* see opts.digest_seed */
};

const char *zt_apply_path_name(enum zt_apply_path p);

/*
 * Make the kernel's table inet ztseg equal to the plan, in one
 * transaction. Kernel errors go into d with the policy position of what
 * they are about. Returns 0, -EINVAL (errors in d), -EPERM (another
 * process owns the table; in d), -EMSGSIZE (the batch does not fit the
 * socket buffer; in d), or another -errno.
 */
int zt_apply(struct zt_nft *n, const struct zt_plan *plan, const struct zt_apply_opts *opts,
	     struct zt_apply_stats *stats, struct zt_diags *d);

/*
 * Table bridge ztseg is written only when the plan's part changes: after
 * someone else touched it, forget what this handle wrote, so the next
 * apply writes it anew.
 */
void zt_apply_bridge_forget(struct zt_nft *n);

/*
 * Delete table inet ztseg and the feed tables ip/ip6 ztseg in one
 * transaction. Returns 0, -ENOENT when there was no inet ztseg, or -errno (in d).
 */
int zt_apply_remove(struct zt_nft *n, struct zt_diags *d);

/* SHA-256 (nettle), for the applied plan's digest. Pure. */
void zt_sha256(const void *data, size_t len, uint8_t out[ZT_APPLY_DIGEST_LEN]);

#endif
