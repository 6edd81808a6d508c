/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: the plan as one nf_tables batch of libnftnl messages. Every shape
 * is what nft 1.0.6 sends for the text render.c writes (compared with
 * `nft --debug=netlink,mnl -f`), so that both list the same. This file
 * holds the batch and its messages (table, counters, sets and their
 * elements, chains, rules); emit-set.c and emit-rule.c encode the objects.
 */
#include "bridge.h"
#include "emit-internal.h"

/* ---- the batch buffer ---------------------------------------------------- */

int zt_batch_new(uint32_t seq, struct zt_batch **ret)
{
	struct zt_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->seq0 = b->seq = seq;
	b->next_set_id = 1;
	*ret = b;
	return 0;
}

struct zt_batch *zt_batch_free(struct zt_batch *b)
{
	if (!b)
		return NULL;
	free(b->buf);
	free(b->src);
	free(b->elems);
	free(b->set_ids);
	free(b);
	return NULL;
}

/* Make room for one more message and record its source; returns where to build it. */
static char *msg_start(struct zt_batch *b, const struct zt_bsrc *src)
{
	if (b->ended || b->len > BATCH_MAX)
		return NULL;
	if (b->cap - b->len < MSG_ROOM) {
		/*
		 * Grow by a quarter: a full apply's batch is tens of MiB and every
		 * byte of the room is written (below), so doubling would make the
		 * daemon's peak up to twice the batch (48 MiB at 10,000 segments
		 * sat in 96). Large blocks are mremap()ed, not copied.
		 */
		size_t cap = b->cap ? b->cap + b->cap / 4 : 4 * MSG_ROOM;
		char *n = realloc(b->buf, cap);

		if (!n)
			return NULL;
		/* Padding and unused attribute bytes go out too: keep them defined. */
		memset(n + b->cap, 0, cap - b->cap);
		b->buf = n;
		b->cap = cap;
	}
	if (ZT_GROW(b->src, b->cap_src, b->n_src + 1) < 0)
		return NULL;
	b->src[b->n_src] = *src;
	b->src[b->n_src].off = b->len;
	return b->buf + b->len;
}

static void msg_end(struct zt_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->n_src++;
	b->seq++;
}

static struct nlmsghdr *hdr_put(struct zt_batch *b, const struct zt_bsrc *src, uint16_t type, uint16_t flags)
{
	char *p = msg_start(b, src);

	if (!p)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, b->seq);
}

struct nlmsghdr *zt_batch_msg(struct zt_batch *b, enum zt_bobj obj, const char *name, uint16_t type,
			      uint16_t family, uint16_t flags)
{
	struct zt_bsrc src = { .msg_type = type, .obj = obj };
	char *p;

	snprintf(src.name, sizeof(src.name), "%s", name ? name : "");
	p = msg_start(b, &src);
	if (!p)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, family, flags | NLM_F_ACK, b->seq);
}

void zt_batch_msg_done(struct zt_batch *b, struct nlmsghdr *nlh)
{
	msg_end(b, nlh);
}

int zt_batch_begin(struct zt_batch *b, uint32_t genid)
{
	struct zt_bsrc src = { .msg_type = NFNL_MSG_BATCH_BEGIN, .obj = ZT_BOBJ_BATCH };
	struct nlmsghdr *nlh;
	char *p;

	if (b->n_src)
		return -EINVAL;
	p = msg_start(b, &src);
	if (!p)
		return -ENOMEM;
	nlh = nftnl_batch_begin(p, b->seq);
	/* The kernel refuses the batch (ERESTART) if the ruleset changed since genid. */
	if (genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	msg_end(b, nlh);
	return 0;
}

int zt_batch_end(struct zt_batch *b)
{
	struct zt_bsrc src = { .msg_type = NFNL_MSG_BATCH_END, .obj = ZT_BOBJ_BATCH };
	struct nlmsghdr *nlh;
	char *p = msg_start(b, &src);

	if (!p)
		return -ENOMEM;
	nlh = nftnl_batch_end(p, b->seq);
	msg_end(b, nlh);
	b->ended = true;
	return 0;
}

const struct zt_bsrc *zt_batch_find(const struct zt_batch *b, uint32_t seq)
{
	uint32_t i = seq - b->seq0;

	if (i >= b->n_src)
		return NULL;
	return &b->src[i];
}

size_t zt_batch_elem_at(const struct zt_batch *b, const struct zt_bsrc *src, uint32_t offset)
{
	size_t hit = SIZE_MAX;

	if (src->obj != ZT_BOBJ_ELEMS)
		return SIZE_MAX;
	for (size_t i = 0; i < src->n_elem; i++) {
		const struct zt_belem *e = &b->elems[src->elem0 + i];

		if (e->off > offset)
			break;
		hit = e->plan_elem;
	}
	return hit;
}

static int set_id_add(struct zt_batch *b, const char *name, uint32_t id)
{
	if (ZT_GROW(b->set_ids, b->cap_set_ids, b->n_set_ids + 1) < 0)
		return -ENOMEM;
	snprintf(b->set_ids[b->n_set_ids].name, ZT_OBJ_NAME_MAX, "%s", name);
	b->set_ids[b->n_set_ids++].id = id;
	return 0;
}

uint32_t set_id_find(const struct zt_batch *b, const char *name)
{
	if (!b)
		return 0;
	for (size_t i = 0; i < b->n_set_ids; i++)
		if (streq(b->set_ids[i].name, name))
			return b->set_ids[i].id;
	return 0;
}

bool name_valid(const char *name)
{
	size_t n = strnlen(name, ZT_OBJ_NAME_MAX);

	return n > 0 && n < ZT_OBJ_NAME_MAX;
}

/* ---- table, counters, chains --------------------------------------------- */

/* table inet ztseg { flags owner,persist; } */
int zt_emit_table(struct zt_batch *b, uint32_t flags)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_NEWTABLE, .obj = ZT_BOBJ_TABLE };
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int r = -ENOMEM;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, ZT_TABLE_NAME);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	nlh = hdr_put(b, &src, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		msg_end(b, nlh);
		r = 0;
	}
	nftnl_table_free(t);
	return r;
}

/* delete table inet ztseg */
int zt_emit_table_del(struct zt_batch *b)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_DELTABLE, .obj = ZT_BOBJ_TABLE };
	struct nlmsghdr *nlh = hdr_put(b, &src, NFT_MSG_DELTABLE, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, ZT_TABLE_NAME);
	msg_end(b, nlh);
	return 0;
}

/* counter NAME { comment "…" } */
int zt_emit_counter(struct zt_batch *b, const struct zt_counter *c)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_NEWOBJ, .obj = ZT_BOBJ_COUNTER };
	struct nftnl_udata_buf *ud = NULL;
	struct nftnl_obj *o;
	struct nlmsghdr *nlh;
	int r = -ENOMEM;

	if (!name_valid(c->name))
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", c->name);
	o = nftnl_obj_alloc();
	if (!o)
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, ZT_TABLE_NAME);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, c->name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, 0);
	nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, 0);
	if (c->comment[0]) {
		char s[ZT_NFT_STR_MAX + 1];

		ud = nftnl_udata_buf_alloc(USERDATA_MAX);
		if (!ud || !nftnl_udata_put_strz(ud, NFTNL_UDATA_OBJ_COMMENT,
						 zt_nft_str(s, c->comment, sizeof(c->comment), ZT_NFT_COMMENT)))
			goto out;
		nftnl_obj_set_data(o, NFTNL_OBJ_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	}
	nlh = hdr_put(b, &src, NFT_MSG_NEWOBJ, NLM_F_CREATE);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		msg_end(b, nlh);
		r = 0;
	}
out:
	if (ud)
		nftnl_udata_buf_free(ud);
	nftnl_obj_free(o);
	return r;
}

/* delete counter inet ztseg NAME */
int zt_emit_counter_del(struct zt_batch *b, const char *name)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_DELOBJ, .obj = ZT_BOBJ_COUNTER };
	struct nlmsghdr *nlh;

	if (!name_valid(name))
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", name);
	nlh = hdr_put(b, &src, NFT_MSG_DELOBJ, 0);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_OBJ_NAME, name);
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	msg_end(b, nlh);
	return 0;
}

static const uint32_t hooknum[] = {
	[ZT_HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
	[ZT_HOOK_INPUT] = NF_INET_LOCAL_IN,
	[ZT_HOOK_FORWARD] = NF_INET_FORWARD,
	[ZT_HOOK_OUTPUT] = NF_INET_LOCAL_OUT,
};

/*
 * chain NAME { type filter hook HOOK priority PRIO; policy accept; }
 * chain NAME { }
 */
int zt_emit_chain(struct zt_batch *b, const struct zt_chain *c)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_NEWCHAIN, .obj = ZT_BOBJ_CHAIN };
	struct nlmsghdr *nlh;
	struct nlattr *hook;

	if (!name_valid(c->name) || (size_t)c->hook >= ELEMENTSOF(hooknum))
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", c->name);
	nlh = hdr_put(b, &src, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
	if (!nlh)
		return -ENOMEM;
	/* Attributes in the order nft writes them (libnftnl's differs). */
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, c->name);
	if (c->hook != ZT_HOOK_NONE) {
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TYPE, "filter");
		mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_ACCEPT));
		hook = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
		mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM, htonl(hooknum[c->hook]));
		mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl((uint32_t)c->prio));
		mnl_attr_nest_end(nlh, hook);
	}
	msg_end(b, nlh);
	return 0;
}

/* A message that names one object of our table: delete or flush it. */
static int named_msg(struct zt_batch *b, const char *name, uint16_t type, enum zt_bobj obj,
		     uint16_t a_table, uint16_t a_name)
{
	struct zt_bsrc src = { .msg_type = type, .obj = obj };
	struct nlmsghdr *nlh;

	if (!name_valid(name))
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", name);
	nlh = hdr_put(b, &src, type, 0);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, a_table, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, a_name, name);
	msg_end(b, nlh);
	return 0;
}

/* flush chain inet ztseg NAME */
int zt_emit_chain_flush(struct zt_batch *b, const char *name)
{
	/* Rule messages number their attributes differently from chain ones. */
	return named_msg(b, name, NFT_MSG_DELRULE, ZT_BOBJ_RULE, NFTA_RULE_TABLE, NFTA_RULE_CHAIN);
}

/* delete chain inet ztseg NAME */
int zt_emit_chain_del(struct zt_batch *b, const char *name)
{
	return named_msg(b, name, NFT_MSG_DELCHAIN, ZT_BOBJ_CHAIN, NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME);
}

/* ---- sets and their elements -------------------------------------------- */

/* The common head of element messages: table, set (name and, if new, id). */
static struct nlmsghdr *elems_hdr(struct zt_batch *b, const struct zt_bsrc *src, const char *set, uint32_t set_id,
				  uint16_t type)
{
	struct nlmsghdr *nlh = hdr_put(b, src, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);

	if (!nlh)
		return NULL;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	if (set_id)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID, htonl(set_id));
	return nlh;
}

static int elems_emit(struct zt_batch *b, const struct zt_bsrc *src0, const char *set, uint32_t set_id,
		      const struct zt_set_enc *enc, const size_t *which, size_t n, uint16_t type)
{
	size_t i = 0;

	while (i < n) {
		struct zt_bsrc src = *src0;
		struct nlmsghdr *nlh;
		struct nlattr *list;
		size_t k = 0;

		src.obj = ZT_BOBJ_ELEMS;
		src.msg_type = type;
		src.elem0 = b->n_elems;
		nlh = elems_hdr(b, &src, set, set_id, type);
		if (!nlh)
			return -ENOMEM;
		list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
		for (; i < n && nlh->nlmsg_len < ELEMS_MSG_MAX; i++) {
			size_t j = which ? which[i] : i;

			if (j >= enc->n)
				return -EINVAL;
			if (ZT_GROW(b->elems, b->cap_elems, b->n_elems + 1) < 0)
				return -ENOMEM;
			b->elems[b->n_elems].off = nlh->nlmsg_len;
			b->elems[b->n_elems++].plan_elem = enc->plan_elem[j];
			/* nft numbers the element nests from 1. */
			nftnl_set_elem_nlmsg_build(nlh, enc->elems[j], (int)++k);
		}
		mnl_attr_nest_end(nlh, list);
		b->src[b->n_src].n_elem = k;
		if (k)
			b->src[b->n_src].pos = src0->pos;
		msg_end(b, nlh);
	}
	return 0;
}

/* Where in the policy a plan element came from. */
static void elem_src_pos(struct zt_batch *b, size_t first_src, const struct zt_set *s)
{
	for (size_t m = first_src; m < b->n_src; m++) {
		struct zt_bsrc *src = &b->src[m];

		for (size_t k = 0; k < src->n_elem; k++) {
			size_t pe = b->elems[src->elem0 + k].plan_elem;

			if (pe < s->n_elems && zt_set_elem(s, pe)->pos.file) {
				src->pos = zt_set_elem(s, pe)->pos;
				break;
			}
		}
	}
}

int zt_emit_elems(struct zt_batch *b, const struct zt_set *s, const struct zt_set_enc *enc,
		  const size_t *which, size_t n_which, uint16_t msg_type)
{
	struct zt_bsrc src = { .obj = ZT_BOBJ_ELEMS };
	size_t first = b->n_src;
	int r;

	if (msg_type != NFT_MSG_NEWSETELEM && msg_type != NFT_MSG_DELSETELEM &&
	    msg_type != ZT_NFT_MSG_DESTROYSETELEM)
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", s->name);
	r = elems_emit(b, &src, s->name, set_id_find(b, s->name), enc, which, which ? n_which : enc->n, msg_type);
	if (r < 0)
		return r;
	elem_src_pos(b, first, s);
	return 0;
}

/*
 * Plan elements encoded at a time when a set is sent whole: libnftnl's
 * elements take ~0.5 KiB each, so encoding a 110,000-element set at once
 * held 62 MB next to the batch (the daemon's peak at 10,000 segments).
 * Only a compiled plan's set (packed: esize) is known to be sorted by key,
 * which slices of an interval set need; any other is encoded whole, and
 * interval_encode() sorts it.
 */
#define SET_SLICE 4096

int zt_emit_set(struct zt_batch *b, const struct zt_set *s)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_NEWSET, .obj = ZT_BOBJ_SET };
	struct zt_set def = *s;
	struct zt_set_enc enc = {};
	struct nlmsghdr *nlh;
	size_t slice;
	uint32_t id;
	int r;

	/* The definition first, then the elements a slice at a time. */
	def.n_elems = 0;
	r = zt_set_encode(&def, &enc);
	if (r == -EINVAL)
		snprintf(b->invalid, sizeof(b->invalid), "set %.31s", s->name);
	if (r < 0)
		return r;
	id = b->next_set_id++;
	nftnl_set_set_u32(enc.set, NFTNL_SET_ID, id);
	snprintf(src.name, sizeof(src.name), "%s", s->name);
	r = -ENOMEM;
	nlh = hdr_put(b, &src, NFT_MSG_NEWSET, NLM_F_CREATE);
	if (!nlh)
		goto out;
	nftnl_set_nlmsg_build_payload(nlh, enc.set);
	msg_end(b, nlh);
	r = set_id_add(b, s->name, id);
	slice = s->esize ? SET_SLICE : s->n_elems;
	for (size_t from = 0; r >= 0 && !s->dynamic && from < s->n_elems; from += slice) {
		zt_set_enc_clear(&enc);
		r = zt_set_encode_slice(s, from, s->n_elems - from < slice ? s->n_elems - from : slice, &enc);
		if (r == -EINVAL)
			snprintf(b->invalid, sizeof(b->invalid), "set %.31s", s->name);
		if (r >= 0 && enc.n)
			r = zt_emit_elems(b, s, &enc, NULL, 0, NFT_MSG_NEWSETELEM);
	}
out:
	zt_set_enc_clear(&enc);
	return r;
}

/* delete set inet ztseg NAME */
int zt_emit_set_del(struct zt_batch *b, const char *name)
{
	return named_msg(b, name, NFT_MSG_DELSET, ZT_BOBJ_SET, NFTA_SET_TABLE, NFTA_SET_NAME);
}

/* flush set inet ztseg NAME */
int zt_emit_set_flush(struct zt_batch *b, const char *name)
{
	/* NFTA_SET_ELEM_LIST_TABLE/SET carry the set's table and name. */
	return named_msg(b, name, NFT_MSG_DELSETELEM, ZT_BOBJ_ELEMS,
			 NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET);
}

/* ---- rules, and the whole plan ------------------------------------------- */

int zt_emit_rule(struct zt_batch *b, const struct zt_plan *p, const struct zt_chain *c, size_t i)
{
	struct zt_bsrc src = { .obj = ZT_BOBJ_RULE, .rule = i };
	struct zt_rule_enc enc = {};
	struct nlmsghdr *nlh;
	int r;

	r = zt_rule_encode(p, c, i, b, &enc);
	if (r == -EINVAL)
		snprintf(b->invalid, sizeof(b->invalid), "rule %zu of chain %.31s (%.120s)", i + 1, c->name,
			 i < c->n_rules ? c->rules[i].comment : "");
	if (r < 0)
		return r;
	snprintf(src.name, sizeof(src.name), "%s", c->name);
	snprintf(src.chain, sizeof(src.chain), "%s", c->name);
	src.comment = c->rules[i].comment;
	src.pos = c->rules[i].pos;
	/* As nft does: each anonymous set and its elements right before its rule. */
	for (size_t a = 0; a < enc.n_anon; a++) {
		struct zt_bsrc as = src;

		as.obj = ZT_BOBJ_SET;
		as.anon = true;
		as.msg_type = NFT_MSG_NEWSET;
		r = -ENOMEM;
		nlh = hdr_put(b, &as, NFT_MSG_NEWSET, NLM_F_CREATE);
		if (!nlh)
			goto out;
		nftnl_set_nlmsg_build_payload(nlh, enc.anon[a].set);
		msg_end(b, nlh);
		r = elems_emit(b, &as, "__set%d", nftnl_set_get_u32(enc.anon[a].set, NFTNL_SET_ID), &enc.anon[a],
			       NULL, enc.anon[a].n, NFT_MSG_NEWSETELEM);
		if (r < 0)
			goto out;
	}
	src.msg_type = NFT_MSG_NEWRULE;
	r = -ENOMEM;
	nlh = hdr_put(b, &src, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	if (!nlh)
		goto out;
	/* nft writes the comment after the expressions; libnftnl before them. */
	if (nftnl_rule_is_set(enc.rule, NFTNL_RULE_USERDATA)) {
		uint32_t len;
		const void *ud = nftnl_rule_get_data(enc.rule, NFTNL_RULE_USERDATA, &len);
		char copy[USERDATA_MAX];

		if (len > sizeof(copy)) {
			r = -EINVAL;
			goto out;
		}
		memcpy(copy, ud, len);
		nftnl_rule_unset(enc.rule, NFTNL_RULE_USERDATA);
		nftnl_rule_nlmsg_build_payload(nlh, enc.rule);
		mnl_attr_put(nlh, NFTA_RULE_USERDATA, len, copy);
	} else
		nftnl_rule_nlmsg_build_payload(nlh, enc.rule);
	msg_end(b, nlh);
	r = 0;
out:
	zt_rule_enc_clear(&enc);
	return r;
}

int zt_emit_plan(struct zt_batch *b, const struct zt_plan *p, uint32_t table_flags)
{
	int r;

	/* nft -f's order: chains first (rules and verdict maps name them), then objects. */
	r = zt_emit_table(b, table_flags);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		r = zt_emit_chain(b, &p->chains[i]);
	for (size_t i = 0; r >= 0 && i < p->n_counters; i++)
		r = zt_emit_counter(b, &p->counters[i]);
	for (size_t i = 0; r >= 0 && i < p->n_sets; i++)
		r = zt_emit_set(b, &p->sets[i]);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		for (size_t j = 0; r >= 0 && j < p->chains[i].n_rules; j++)
			r = zt_emit_rule(b, p, &p->chains[i], j);
	/* table bridge ztseg (apply destroyed any old one first in the same batch) */
	if (r >= 0)
		r = zt_bridge_emit(b, &p->bridge, table_flags);
	return r;
}

