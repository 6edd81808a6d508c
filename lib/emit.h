/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: the plan as libnftnl objects in one nf_tables batch, the bytes nft
 * 1.0.6 sends for the text render.c writes. Pure: builds memory only.
 */
#ifndef ZT_EMIT_H
#define ZT_EMIT_H

#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include "plan.h"

/* Kernel 6.9+; missing from older uapi headers. */
#ifndef NFT_TABLE_F_PERSIST
#define NFT_TABLE_F_PERSIST 0x4
#endif

/* Kernel 6.3+: delete set elements, and no error for those that are gone. */
#define ZT_NFT_MSG_DESTROYSETELEM 30

/* What a message of the batch is about. */
enum zt_bobj {
	ZT_BOBJ_BATCH,		/* BATCH_BEGIN / BATCH_END */
	ZT_BOBJ_TABLE,
	ZT_BOBJ_COUNTER,
	ZT_BOBJ_SET,
	ZT_BOBJ_ELEMS,
	ZT_BOBJ_CHAIN,
	ZT_BOBJ_RULE,
};

/* The source of one message: seq - zt_batch.seq0 indexes zt_batch.src. */
struct zt_bsrc {
	uint16_t msg_type;		/* NFT_MSG_*, or NFNL_MSG_BATCH_* */
	enum zt_bobj obj;
	bool anon;			/* SET, ELEMS: an anonymous set of a rule */
	char name[ZT_OBJ_NAME_MAX];	/* counter, set or chain; "" for table/batch */
	char chain[ZT_OBJ_NAME_MAX];	/* RULE and anonymous sets: the rule's chain */
	size_t rule;			/* RULE and anonymous sets: index in the chain */
	const char *comment;		/* RULE: its comment, in the plan (may be NULL) */
	struct zt_pos pos;		/* policy source; file NULL when none */
	size_t off;			/* offset of the message in zt_batch.buf */
	size_t elem0, n_elem;		/* ELEMS: range of zt_batch.elems */
};

/* One set element inside an ELEMS message, for kernel errors that point at it. */
struct zt_belem {
	uint32_t off;		/* offset of its attribute within the message */
	size_t plan_elem;	/* index into the zt_set's elems; SIZE_MAX for interval padding */
};

struct zt_batch {
	char *buf;			/* the whole batch, sent in one sendmsg */
	size_t len, cap;
	uint32_t seq0;			/* BATCH_BEGIN's sequence number */
	uint32_t seq;			/* the next one */
	struct zt_bsrc *src;		/* one per message, in order */
	size_t n_src, cap_src;
	struct zt_belem *elems;
	size_t n_elems, cap_elems;
	uint32_t next_set_id;
	struct {
		char name[ZT_OBJ_NAME_MAX];
		uint32_t id;
	} *set_ids;			/* named sets created in this batch */
	size_t n_set_ids, cap_set_ids;
	bool ended;
	char invalid[192];		/* what the last -EINVAL was about, for the message */
};

/* A set's definition and its elements encoded as nft sends them. */
struct zt_set_enc {
	struct nftnl_set *set;		/* definition only: no elements attached */
	struct nftnl_set_elem **elems;	/* in nft's order (interval sets: padded) */
	size_t *plan_elem;		/* per element: index in the zt_set or zt_anon; SIZE_MAX for padding */
	size_t n, cap;
};

void zt_set_enc_clear(struct zt_set_enc *e);

/* A rule and the anonymous sets it needs, before any batch. */
struct zt_rule_enc {
	struct nftnl_rule *rule;
	struct zt_set_enc anon[ZT_RULE_MAX_MATCH];
	size_t n_anon;
};

void zt_rule_enc_clear(struct zt_rule_enc *e);

int zt_batch_new(uint32_t seq, struct zt_batch **ret);
struct zt_batch *zt_batch_free(struct zt_batch *b);
static inline void zt_batch_freep(struct zt_batch **b)
{
	zt_batch_free(*b);
}
#define _cleanup_batch_ _cleanup_(zt_batch_freep)

/* BATCH_BEGIN carrying the ruleset generation (0: none) and BATCH_END. */
int zt_batch_begin(struct zt_batch *b, uint32_t genid);
int zt_batch_end(struct zt_batch *b);
/*
 * A message of another table (the feed tables): its header in the batch,
 * to be filled by the caller and closed with zt_batch_msg_done(). NULL
 * when out of room.
 */
struct nlmsghdr *zt_batch_msg(struct zt_batch *b, enum zt_bobj obj, const char *name, uint16_t type,
			      uint16_t family, uint16_t flags);
void zt_batch_msg_done(struct zt_batch *b, struct nlmsghdr *nlh);
/* The source of the message with this sequence number, or NULL. */
const struct zt_bsrc *zt_batch_find(const struct zt_batch *b, uint32_t seq);
/*
 * The plan element an ELEMS message's attribute at `offset` (from the
 * start of the message, as the kernel's extended ACK reports it) belongs
 * to; SIZE_MAX when unknown.
 */
size_t zt_batch_elem_at(const struct zt_batch *b, const struct zt_bsrc *src, uint32_t offset);

/*
 * Messages. Each gets the next sequence number, NLM_F_ACK, and an entry
 * in b->src. They return 0, -ENOMEM, or -EINVAL when the plan holds
 * something nft could not have loaded either (the caller's bug).
 */
int zt_emit_table(struct zt_batch *b, uint32_t flags);
int zt_emit_table_del(struct zt_batch *b);
int zt_emit_counter(struct zt_batch *b, const struct zt_counter *c);
int zt_emit_counter_del(struct zt_batch *b, const char *name);
/* NEWSET and, unless the set is dynamic, every element. */
int zt_emit_set(struct zt_batch *b, const struct zt_set *s);
int zt_emit_set_del(struct zt_batch *b, const char *name);
/* Every element of a set away (DELSETELEM without elements). */
int zt_emit_set_flush(struct zt_batch *b, const char *name);
/*
 * Some encoded elements of s (which[] indexes enc->elems; NULL: all) as
 * NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM or ZT_NFT_MSG_DESTROYSETELEM messages.
 */
int zt_emit_elems(struct zt_batch *b, const struct zt_set *s, const struct zt_set_enc *enc,
		  const size_t *which, size_t n_which, uint16_t msg_type);
/*
 * elems (n, in any order) of plan's dynamic set name as NFT_MSG_NEWSETELEM
 * (each with timeout_ms; 0: 1 ms) or NFT_MSG_DELSETELEM: the daemon's own
 * elements (grants, anomaly mitigations). -ENOENT when the plan has no such set.
 */
int zt_emit_plan_elems(struct zt_batch *b, const struct zt_plan *plan, const char *name, struct zt_elem *elems,
		       size_t n, uint64_t timeout_ms, uint16_t type);
int zt_emit_chain(struct zt_batch *b, const struct zt_chain *c);
/* Every rule of a chain away (DELRULE without a handle). */
int zt_emit_chain_flush(struct zt_batch *b, const char *name);
int zt_emit_chain_del(struct zt_batch *b, const char *name);
/*
 * The anonymous sets of rule i of c, then the rule, appended to the chain.
 * p tells which named sets are interval concatenations (their lookups
 * load host-order fields swapped).
 */
int zt_emit_rule(struct zt_batch *b, const struct zt_plan *p, const struct zt_chain *c, size_t i);

/*
 * The whole plan into a table that does not exist yet: table, chains,
 * counters, sets with their elements, rules — the order nft -f uses.
 */
int zt_emit_plan(struct zt_batch *b, const struct zt_plan *p, uint32_t table_flags);

/*
 * Encodings for comparing with what the kernel holds. With b non-NULL,
 * set ids come from b (as zt_emit_* would use them); else from 1.
 */
int zt_set_encode(const struct zt_set *s, struct zt_set_enc *ret);
/*
 * Elements [from, from + n) of s alone (ret->set stays NULL), numbered as
 * in s: a plan's set (sorted by key) sent a slice at a time, so that its
 * encoding is never held whole. The slices of a set sorted by key, in
 * order, encode what zt_set_encode() does; an unsorted interval set's do
 * not (each slice is sorted alone).
 */
int zt_set_encode_slice(const struct zt_set *s, size_t from, size_t n, struct zt_set_enc *ret);
int zt_rule_encode(const struct zt_plan *p, const struct zt_chain *c, size_t i, struct zt_batch *b,
		   struct zt_rule_enc *ret);

/* Number of objects (table, counters, sets, chains, rules, elements) of a plan. */

#endif
