/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: every message parsed back with libnftnl and compared with what nft
 * 1.0.6 sends for the same text; a batch's sequence numbers walked and
 * mapped back to the plan. No kernel needed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include "apply.h"
#include "emit.h"

/* A rule's matches and statements (plan.h: arrays of exactly n_match, n_stmt). */
#define MATCHES(...) ((struct zt_match[]){ __VA_ARGS__ })
#define STMTS(...) ((struct zt_stmt[]){ __VA_ARGS__ })

/* ---- building plan pieces ----------------------------------------------- */

static struct zt_value v_if(const char *name, bool wild)
{
	struct zt_value v = { .type = ZT_TYPE_IFNAME };

	snprintf(v.ifpat.name, sizeof(v.ifpat.name), "%s", name);
	v.ifpat.wildcard = wild;
	return v;
}

static struct zt_value v_cidr(const char *s)
{
	struct zt_value v = {};

	ck_assert_int_eq(zt_cidr_parse(s, &v.cidr, NULL), 0);
	v.type = v.cidr.family == AF_INET ? ZT_TYPE_IPV4 : ZT_TYPE_IPV6;
	return v;
}

static struct zt_value v_u32(enum zt_type t, uint32_t u)
{
	return (struct zt_value){ .type = t, .u32 = u };
}

static struct zt_value v_verdict(enum zt_verdict_code code, const char *chain)
{
	struct zt_value v = { .type = ZT_TYPE_VERDICT, .verdict.code = code };

	if (chain)
		snprintf(v.verdict.chain, sizeof(v.verdict.chain), "%s", chain);
	return v;
}

static struct zt_set set_new(const char *name, enum zt_type k0, enum zt_type k1, enum zt_type k2, enum zt_type data,
			     bool interval)
{
	struct zt_set s = { .key = { k0, k1, k2 }, .data = data, .interval = interval };

	snprintf(s.name, sizeof(s.name), "%s", name);
	s.n_key = k2 ? 3 : k1 ? 2 : 1;
	return s;
}

static void set_add(struct zt_set *s, struct zt_value k0, struct zt_value k1, struct zt_value k2, struct zt_value data)
{
	struct zt_elem *v = s->elems;

	ck_assert_uint_eq(s->esize, 0);
	ck_assert_int_eq(ZT_GROW(v, s->cap_elems, s->n_elems + 1), 0);
	v[s->n_elems++] = (struct zt_elem){ .key = { k0, k1, k2 }, .data = data };
	s->elems = v;
}

static struct nlmsghdr *msg_at(const struct zt_batch *b, size_t i)
{
	return (struct nlmsghdr *)(b->buf + b->src[i].off);
}

static uint16_t msg_type(const struct zt_batch *b, size_t i)
{
	return msg_at(b, i)->nlmsg_type & 0xff;
}

static struct zt_batch *batch(void)
{
	struct zt_batch *b = NULL;

	ck_assert_int_eq(zt_batch_new(100, &b), 0);
	ck_assert_int_eq(zt_batch_begin(b, 7), 0);
	return b;
}

static void hex(char *out, const void *p, uint32_t len)
{
	const uint8_t *b = p;

	out[0] = '\0';
	for (uint32_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---- batch framing ------------------------------------------------------ */

START_TEST(test_batch_seq)
{
	struct zt_batch *b = batch();
	struct nlmsghdr *nlh;

	ck_assert_int_eq(zt_emit_table(b, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST), 0);
	ck_assert_int_eq(zt_emit_table_del(b), 0);
	ck_assert_int_eq(zt_batch_end(b), 0);
	ck_assert_uint_eq(b->n_src, 4);
	ck_assert_uint_eq(b->seq, 104);
	for (size_t i = 0; i < b->n_src; i++) {
		nlh = msg_at(b, i);
		ck_assert_uint_eq(nlh->nlmsg_seq, 100 + i);
		ck_assert_ptr_eq(zt_batch_find(b, 100 + (uint32_t)i), &b->src[i]);
		/* Every object message asks for its ACK; the batch frame does not. */
		ck_assert_int_eq(!!(nlh->nlmsg_flags & NLM_F_ACK), b->src[i].obj != ZT_BOBJ_BATCH);
	}
	ck_assert_uint_eq(msg_at(b, 0)->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	ck_assert_uint_eq(msg_at(b, 3)->nlmsg_type, NFNL_MSG_BATCH_END);
	ck_assert_ptr_null(zt_batch_find(b, 99));
	ck_assert_ptr_null(zt_batch_find(b, 104));
	/* Nothing goes in after the end. */
	ck_assert_int_lt(zt_emit_table(b, 0), 0);
	/* The messages tile the buffer exactly. */
	{
		int left = (int)b->len;
		size_t n = 0;

		for (nlh = (struct nlmsghdr *)b->buf; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			n++;
		ck_assert_uint_eq(n, 4);
		ck_assert_int_eq(left, 0);
	}
	zt_batch_free(b);
}
END_TEST

START_TEST(test_batch_genid)
{
	struct zt_batch *b = batch();
	struct nlattr *a;
	uint32_t genid = 0;

	mnl_attr_for_each(a, msg_at(b, 0), sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFNL_BATCH_GENID)
			genid = ntohl(mnl_attr_get_u32(a));
	ck_assert_uint_eq(genid, 7);
	ck_assert_uint_eq(ntohs(((struct nfgenmsg *)mnl_nlmsg_get_payload(msg_at(b, 0)))->res_id), NFNL_SUBSYS_NFTABLES);
	zt_batch_free(b);
}
END_TEST

/* ---- table, counter, chain ---------------------------------------------- */

START_TEST(test_table)
{
	struct zt_batch *b = batch();
	struct nftnl_table *t = nftnl_table_alloc();

	ck_assert_int_eq(zt_emit_table(b, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST), 0);
	ck_assert_uint_eq(msg_type(b, 1), NFT_MSG_NEWTABLE);
	ck_assert_int_eq(nftnl_table_nlmsg_parse(msg_at(b, 1), t), 0);
	ck_assert_str_eq(nftnl_table_get_str(t, NFTNL_TABLE_NAME), "ztseg");
	ck_assert_uint_eq(nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY), NFPROTO_INET);
	ck_assert_uint_eq(nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), 0x6);
	ck_assert_uint_eq(b->src[1].obj, ZT_BOBJ_TABLE);
	nftnl_table_free(t);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_counter)
{
	struct zt_batch *b = batch();
	struct zt_counter c = { .name = "c_80001234", .comment = "flow \"web\" ztseg.yaml:31" };
	struct nftnl_obj *o = nftnl_obj_alloc();
	uint32_t len;
	const char *ud;

	ck_assert_int_eq(zt_emit_counter(b, &c), 0);
	ck_assert_uint_eq(msg_type(b, 1), NFT_MSG_NEWOBJ);
	ck_assert_int_eq(nftnl_obj_nlmsg_parse(msg_at(b, 1), o), 0);
	ck_assert_str_eq(nftnl_obj_get_str(o, NFTNL_OBJ_NAME), "c_80001234");
	ck_assert_uint_eq(nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE), NFT_OBJECT_COUNTER);
	ud = nftnl_obj_get_data(o, NFTNL_OBJ_USERDATA, &len);
	/* One TLV: type 0 (comment), the string as render.c writes it ('"' → '\''), NUL. */
	ck_assert_ptr_nonnull(ud);
	ck_assert_uint_eq((uint8_t)ud[0], NFTNL_UDATA_OBJ_COMMENT);
	ck_assert_str_eq(ud + 2, "flow 'web' ztseg.yaml:31");
	ck_assert_str_eq(b->src[1].name, "c_80001234");
	ck_assert_int_eq(zt_emit_counter_del(b, "c_80001234"), 0);
	ck_assert_uint_eq(msg_type(b, 2), NFT_MSG_DELOBJ);
	nftnl_obj_free(o);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_chains)
{
	struct zt_batch *b = batch();
	struct zt_chain base = { .name = "spoof", .hook = ZT_HOOK_PREROUTING, .prio = -300 };
	struct zt_chain reg = { .name = "f_80001234" };
	struct nftnl_chain *c = nftnl_chain_alloc(), *r = nftnl_chain_alloc();

	ck_assert_int_eq(zt_emit_chain(b, &base), 0);
	ck_assert_int_eq(zt_emit_chain(b, &reg), 0);
	ck_assert_int_eq(nftnl_chain_nlmsg_parse(msg_at(b, 1), c), 0);
	ck_assert_str_eq(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME), "spoof");
	ck_assert_str_eq(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE), "filter");
	ck_assert_uint_eq(nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM), NF_INET_PRE_ROUTING);
	ck_assert_int_eq(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), -300);
	ck_assert_uint_eq(nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY), NF_ACCEPT);
	ck_assert_int_eq(nftnl_chain_nlmsg_parse(msg_at(b, 2), r), 0);
	ck_assert_str_eq(nftnl_chain_get_str(r, NFTNL_CHAIN_NAME), "f_80001234");
	ck_assert(!nftnl_chain_is_set(r, NFTNL_CHAIN_HOOKNUM));
	ck_assert_int_eq(zt_emit_chain_flush(b, "spoof"), 0);
	ck_assert_uint_eq(msg_type(b, 3), NFT_MSG_DELRULE);
	ck_assert_int_eq(zt_emit_chain_del(b, "spoof"), 0);
	ck_assert_uint_eq(msg_type(b, 4), NFT_MSG_DELCHAIN);
	/* A name the kernel would refuse is refused here. */
	ck_assert_int_eq(zt_emit_chain(b, &(struct zt_chain){ .name = "" }), -EINVAL);
	nftnl_chain_free(c);
	nftnl_chain_free(r);
	zt_batch_free(b);
}
END_TEST

/* ---- named sets: definitions as nft 1.0.6 sends them -------------------- */

struct set_case {
	const char *name;
	enum zt_type k0, k1, k2, data;
	bool interval;
	uint32_t flags, key_type, key_len, data_type, obj_type;
	const char *udata;	/* hex, as nft --debug=mnl showed it */
};

static const struct set_case set_cases[] = {
	{ "member_if", ZT_TYPE_IFNAME, 0, 0, ZT_TYPE_NONE, true, 0x4, 41, 16, 0, 0, "000401000000" },
	{ "enc_if", ZT_TYPE_IFNAME, 0, 0, ZT_TYPE_NONE, false, 0x0, 41, 16, 0, 0, "000401000000" },
	{ "route_owner", ZT_TYPE_FIB_IFNAME, 0, 0, ZT_TYPE_VERDICT, true, 0xc, 5, 16, NFT_DATA_VERDICT, 0,
	  "000401000000010400000000031400041a000000010c00040200000001040100000004080004010000000100060400000000" },
	{ "own4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_VERDICT, true, 0xc, 7, 4, NFT_DATA_VERDICT, 0,
	  "000402000000010400000000060400000000" },
	{ "own6", ZT_TYPE_IPV6, 0, 0, ZT_TYPE_VERDICT, true, 0xc, 8, 16, NFT_DATA_VERDICT, 0,
	  "000402000000010400000000060400000000" },
	{ "dst4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_MARK, true, 0xc, 7, 4, 19, 0, "000402000000010401000000060400000000" },
	{ "dst_if", ZT_TYPE_IFNAME, 0, 0, ZT_TYPE_MARK, true, 0xc, 41, 16, 19, 0,
	  "000401000000010401000000060400000000" },
	{ "fp", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE, ZT_TYPE_VERDICT, false, 0x8, 0x1330d, 12,
	  NFT_DATA_VERDICT, 0, "000400000000010400000000030800040d0000000100060400000000" },
	{ "fr", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE, ZT_TYPE_VERDICT, true, 0x8c, 0x1330d, 12,
	  NFT_DATA_VERDICT, 0, "000400000000010400000000030800040d0000000100060400000000" },
	{ "fi4", ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE, 0, ZT_TYPE_VERDICT, false, 0x8, 0x4ce, 8, NFT_DATA_VERDICT, 0,
	  "000400000000010400000000030800040d0000000100060400000000" },
	{ "fi6", ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE, 0, ZT_TYPE_VERDICT, false, 0x8, 0x4dd, 8, NFT_DATA_VERDICT, 0,
	  "000400000000010400000000030800040d0000000100060400000000" },
	{ "fproto", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, 0, ZT_TYPE_VERDICT, false, 0x8, 0x4cc, 8, NFT_DATA_VERDICT, 0,
	  "000400000000010400000000030800040d0000000100060400000000" },
	{ "fany", ZT_TYPE_MARK, 0, 0, ZT_TYPE_VERDICT, false, 0x8, 19, 4, NFT_DATA_VERDICT, 0,
	  "000401000000010400000000060400000000" },
	{ "fcnt", ZT_TYPE_MARK, 0, 0, ZT_TYPE_COUNTER, false, 0x40, 19, 4, 0, NFT_OBJECT_COUNTER,
	  "000401000000060400000000" },
};

START_TEST(test_set_def)
{
	const struct set_case *sc = &set_cases[_i];
	struct zt_set s = set_new(sc->name, sc->k0, sc->k1, sc->k2, sc->data, sc->interval);
	struct zt_batch *b = batch();
	struct nftnl_set *ns = nftnl_set_alloc();
	char got[512];
	uint32_t len;
	const void *ud;

	s.dynamic = true;
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	ck_assert_uint_eq(b->n_src, 2);
	ck_assert_uint_eq(msg_type(b, 1), NFT_MSG_NEWSET);
	ck_assert_int_eq(nftnl_set_nlmsg_parse(msg_at(b, 1), ns), 0);
	ck_assert_str_eq(nftnl_set_get_str(ns, NFTNL_SET_NAME), sc->name);
	ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_FLAGS), sc->flags);
	ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_KEY_TYPE), sc->key_type);
	ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_KEY_LEN), sc->key_len);
	if (sc->data_type)
		ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_DATA_TYPE), sc->data_type);
	if (sc->obj_type)
		ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_OBJ_TYPE), sc->obj_type);
	ck_assert_uint_eq(nftnl_set_get_u32(ns, NFTNL_SET_ID), 1);
	ud = nftnl_set_get_data(ns, NFTNL_SET_USERDATA, &len);
	hex(got, ud, len);
	ck_assert_str_eq(got, sc->udata);
	nftnl_set_free(ns);
	zt_batch_free(b);
}
END_TEST

/* ---- elements ------------------------------------------------------------ */

struct elems {
	struct nftnl_set *holder;
	struct nftnl_set_elem *e[64];
	size_t n;
};

static int elem_take(struct nftnl_set_elem *e, void *data)
{
	struct elems *x = data;

	ck_assert_uint_lt(x->n, ELEMENTSOF(x->e));
	x->e[x->n++] = e;
	return 0;
}

/*
 * nft numbers element nests 1, 2, 3… (the kernel ignores the number);
 * libnftnl's parser wants them all to be NFTA_LIST_ELEM. Parse a copy
 * renumbered, after checking the numbering nft uses.
 */
static int elems_nlmsg_parse(const struct nlmsghdr *nlh, struct nftnl_set *s)
{
	static char copy[1 << 17];
	struct nlmsghdr *c = (struct nlmsghdr *)copy;
	struct nlattr *a, *e;
	uint16_t i = 0;

	ck_assert_uint_le(nlh->nlmsg_len, sizeof(copy));
	memcpy(copy, nlh, nlh->nlmsg_len);
	mnl_attr_for_each(a, c, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(e, a) {
			ck_assert_uint_eq(mnl_attr_get_type(e), ++i);
			e->nla_type = (uint16_t)((e->nla_type & ~NLA_TYPE_MASK) | NFTA_LIST_ELEM);
		}
	}
	return nftnl_set_elems_nlmsg_parse(c, s);
}

static void elems_parse(const struct zt_batch *b, size_t msg, struct elems *x)
{
	ck_assert_uint_eq(msg_type(b, msg), NFT_MSG_NEWSETELEM);
	x->holder = nftnl_set_alloc();
	x->n = 0;
	ck_assert_int_eq(elems_nlmsg_parse(msg_at(b, msg), x->holder), 0);
	nftnl_set_elem_foreach(x->holder, elem_take, x);
}

static const char *elem_key(struct nftnl_set_elem *e, uint16_t attr, char *buf)
{
	uint32_t len;
	const void *p = nftnl_set_elem_get(e, attr, &len);

	hex(buf, p, len);
	return buf;
}

static uint32_t elem_flags(struct nftnl_set_elem *e)
{
	return nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) : 0;
}

START_TEST(test_elems_interval_ipv4)
{
	struct zt_set s = set_new("own4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_VERDICT, true);
	struct zt_batch *b = batch();
	struct elems x;
	char k[64];

	/* The example nft -f sent: adjacent ranges keep both the end and the next start. */
	set_add(&s, v_cidr("198.51.100.0/26"), (struct zt_value){}, (struct zt_value){}, v_verdict(ZT_V_GOTO, "own_0003"));
	set_add(&s, v_cidr("198.51.100.64"), (struct zt_value){}, (struct zt_value){}, v_verdict(ZT_V_GOTO, "own_0003"));
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 5);
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY, k), "00000000");
	ck_assert_uint_eq(elem_flags(x.e[0]), NFT_SET_ELEM_INTERVAL_END);
	ck_assert_str_eq(elem_key(x.e[1], NFTNL_SET_ELEM_KEY, k), "c6336400");
	ck_assert_uint_eq(elem_flags(x.e[1]), 0);
	ck_assert_str_eq(nftnl_set_elem_get_str(x.e[1], NFTNL_SET_ELEM_CHAIN), "own_0003");
	ck_assert_int_eq((int)nftnl_set_elem_get_u32(x.e[1], NFTNL_SET_ELEM_VERDICT), NFT_GOTO);
	ck_assert_str_eq(elem_key(x.e[2], NFTNL_SET_ELEM_KEY, k), "c6336440");
	ck_assert_uint_eq(elem_flags(x.e[2]), NFT_SET_ELEM_INTERVAL_END);
	ck_assert_str_eq(elem_key(x.e[3], NFTNL_SET_ELEM_KEY, k), "c6336440");
	ck_assert_str_eq(elem_key(x.e[4], NFTNL_SET_ELEM_KEY, k), "c6336441");
	/* The source of each kernel element is the plan element. */
	ck_assert_uint_eq(b->src[2].n_elem, 5);
	ck_assert_uint_eq(b->elems[b->src[2].elem0 + 0].plan_elem, SIZE_MAX);
	ck_assert_uint_eq(b->elems[b->src[2].elem0 + 1].plan_elem, 0);
	ck_assert_uint_eq(b->elems[b->src[2].elem0 + 3].plan_elem, 1);
	nftnl_set_free(x.holder);
	free(s.elems);
	zt_batch_free(b);
}
END_TEST

/* Every element nest of the NEWSETELEM messages from message first on: payload and plan element, in order. */
struct nests {
	const void **p;
	uint16_t *len;
	size_t *plan_elem;
	size_t n;
};

static void nests_collect(const struct zt_batch *b, size_t first, struct nests *x)
{
	size_t cap = 0;

	*x = (struct nests){};
	for (size_t m = first; m < b->n_src; m++) {
		const struct nlmsghdr *nlh = msg_at(b, m);
		const struct nlattr *a, *e;
		size_t k = 0;

		if (msg_type(b, m) != NFT_MSG_NEWSETELEM)
			continue;
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
			if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
				continue;
			mnl_attr_for_each_nested(e, a) {
				if (x->n == cap) {
					cap = cap ? 2 * cap : 1024;
					x->p = realloc(x->p, cap * sizeof(*x->p));
					x->len = realloc(x->len, cap * sizeof(*x->len));
					x->plan_elem = realloc(x->plan_elem, cap * sizeof(*x->plan_elem));
					ck_assert(x->p && x->len && x->plan_elem);
				}
				ck_assert_uint_lt(k, b->src[m].n_elem);
				x->p[x->n] = mnl_attr_get_payload(e);
				x->len[x->n] = mnl_attr_get_payload_len(e);
				x->plan_elem[x->n++] = b->elems[b->src[m].elem0 + k++].plan_elem;
			}
		}
		ck_assert_uint_eq(k, b->src[m].n_elem);
	}
}

static void nests_free(struct nests *x)
{
	free(x->p);
	free(x->len);
	free(x->plan_elem);
}

/* s packed as a compiled plan holds it (plan.h: zt_elem_size()). */
static void set_pack(struct zt_set *s)
{
	size_t es = zt_elem_size(s->n_key);
	char *v = calloc(s->n_elems, es);

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < s->n_elems; i++)
		memcpy(v + i * es, zt_set_elem(s, i), es);
	free(s->elems);
	s->elems = v;
	s->esize = es;
}

/*
 * A set larger than one slice (emit.c's SET_SLICE) sent by zt_emit_set(),
 * packed as a compiled plan holds it, carries exactly the elements of the
 * whole encoding, in its order and with their plan elements: one leading
 * interval end at 0, not one per slice. So does an interval set built in
 * descending order and not packed (no plan sorted it): it is not sliced.
 */
START_TEST(test_elems_sliced)
{
	for (int variant = 0; variant < 3; variant++) {
		bool interval = variant != 1, unsorted = variant == 2;
		struct zt_set s = interval ? set_new("dst4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_MARK, true)
					   : set_new("fp", ZT_TYPE_IPV4, ZT_TYPE_MARK, 0, ZT_TYPE_NONE, false);
		struct zt_batch *b = batch(), *w = batch();
		struct zt_set_enc whole = {};
		struct nests got, want;
		const size_t n = 3 * 4096 + 17;
		char a[32];

		for (size_t j = 0; j < n; j++) {
			size_t i = unsorted ? n - 1 - j : j;

			/* every other address of 10.0.0.0/8 from 10.0.0.2: never adjacent, never at 0 */
			snprintf(a, sizeof(a), "10.%zu.%zu.%zu", (2 * i + 2) >> 16 & 0xff, (2 * i + 2) >> 8 & 0xff,
				 (2 * i + 2) & 0xff);
			set_add(&s, v_cidr(a), interval ? (struct zt_value){} : v_u32(ZT_TYPE_MARK, (uint32_t)i),
				(struct zt_value){}, interval ? v_u32(ZT_TYPE_MARK, (uint32_t)i) : (struct zt_value){});
		}
		if (!unsorted)
			set_pack(&s);
		ck_assert_int_eq(zt_emit_set(b, &s), 0);
		ck_assert_int_eq(zt_set_encode(&s, &whole), 0);
		ck_assert_uint_eq(whole.n, interval ? 2 * n + 1 : n);
		ck_assert_int_eq(zt_emit_elems(w, &s, &whole, NULL, 0, NFT_MSG_NEWSETELEM), 0);
		nests_collect(b, 2, &got);
		nests_collect(w, 1, &want);
		ck_assert_uint_eq(got.n, want.n);
		for (size_t i = 0; i < got.n; i++) {
			ck_assert_uint_eq(got.len[i], want.len[i]);
			ck_assert_mem_eq(got.p[i], want.p[i], got.len[i]);
			ck_assert_uint_eq(got.plan_elem[i], want.plan_elem[i]);
		}
		/* the highest address is the last element sent: plan element n - 1, or 0 when added first */
		ck_assert_uint_eq(got.plan_elem[got.n - 1], unsorted ? 0 : n - 1);
		nests_free(&got);
		nests_free(&want);
		zt_set_enc_clear(&whole);
		free(s.elems);
		zt_batch_free(b);
		zt_batch_free(w);
	}
}
END_TEST

START_TEST(test_elems_interval_open)
{
	struct zt_set s = set_new("dst4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_MARK, true);
	struct zt_batch *b = batch();
	struct elems x;
	uint32_t len;
	const uint8_t *ud;
	char k[64];

	/* 0.0.0.0/0: no leading zero end, no end at all, flagged as open. */
	set_add(&s, v_cidr("0.0.0.0/0"), (struct zt_value){}, (struct zt_value){}, v_u32(ZT_TYPE_MARK, 4));
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 1);
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY, k), "00000000");
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_DATA, k), "04000000");
	ud = nftnl_set_elem_get(x.e[0], NFTNL_SET_ELEM_USERDATA, &len);
	ck_assert_ptr_nonnull(ud);
	ck_assert_uint_eq(len, 6);
	ck_assert_uint_eq(ud[0], NFTNL_UDATA_SET_ELEM_FLAGS);
	ck_assert_uint_eq(ud[2], NFTNL_SET_ELEM_F_INTERVAL_OPEN);
	nftnl_set_free(x.holder);
	free(s.elems);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_elems_ifname)
{
	struct zt_set s = set_new("member_if", ZT_TYPE_IFNAME, 0, 0, ZT_TYPE_NONE, true);
	struct zt_batch *b = batch();
	struct elems x;
	char k[64];

	/* Given unsorted: nft sorts interval sets. */
	set_add(&s, v_if("vweb", true), (struct zt_value){}, (struct zt_value){}, (struct zt_value){});
	set_add(&s, v_if("vdb1", false), (struct zt_value){}, (struct zt_value){}, (struct zt_value){});
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 5);
	ck_assert_str_eq(elem_key(x.e[1], NFTNL_SET_ELEM_KEY, k), "76646231000000000000000000000000");
	ck_assert_str_eq(elem_key(x.e[2], NFTNL_SET_ELEM_KEY, k), "76646231000000000000000000000001");
	ck_assert_str_eq(elem_key(x.e[3], NFTNL_SET_ELEM_KEY, k), "76776562000000000000000000000000");
	ck_assert_str_eq(elem_key(x.e[4], NFTNL_SET_ELEM_KEY, k), "76776563000000000000000000000000");
	ck_assert_uint_eq(elem_flags(x.e[4]), NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_free(x.holder);
	free(s.elems);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_elems_concat)
{
	struct zt_set fp = set_new("fp", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE, ZT_TYPE_VERDICT, false);
	struct zt_set fr = set_new("fr", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE, ZT_TYPE_VERDICT, true);
	struct zt_value port = v_u32(ZT_TYPE_INET_SERVICE, 1000);
	struct zt_batch *b = batch();
	struct elems x;
	char k[64];

	set_add(&fp, v_u32(ZT_TYPE_MARK, 0x00030004), v_u32(ZT_TYPE_INET_PROTO, 6), v_u32(ZT_TYPE_INET_SERVICE, 443),
		v_verdict(ZT_V_GOTO, "f_80001234"));
	port.u32_hi = 2000;
	set_add(&fr, v_u32(ZT_TYPE_MARK, 0x00030004), v_u32(ZT_TYPE_INET_PROTO, 6), port,
		v_verdict(ZT_V_GOTO, "f_80001234"));
	ck_assert_int_eq(zt_emit_set(b, &fp), 0);
	ck_assert_int_eq(zt_emit_set(b, &fr), 0);
	/* Hash: host-order mark, each field padded to 32 bits, port big endian. */
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 1);
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY, k), "040003000600000001bb0000");
	ck_assert(!nftnl_set_elem_is_set(x.e[0], NFTNL_SET_ELEM_KEY_END));
	nftnl_set_free(x.holder);
	/* Interval (pipapo): big-endian mark, a start and an inclusive end. */
	elems_parse(b, 4, &x);
	ck_assert_uint_eq(x.n, 1);
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY, k), "000300040600000003e80000");
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY_END, k), "000300040600000007d00000");
	nftnl_set_free(x.holder);
	free(fp.elems);
	free(fr.elems);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_elems_objref)
{
	struct zt_set s = set_new("fcnt", ZT_TYPE_MARK, 0, 0, ZT_TYPE_COUNTER, false);
	struct zt_value c = { .type = ZT_TYPE_COUNTER, .counter = "c_80001234" };
	struct zt_batch *b = batch();
	struct elems x;
	char k[64];

	set_add(&s, v_u32(ZT_TYPE_MARK, 0x80001234), (struct zt_value){}, (struct zt_value){}, c);
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 1);
	ck_assert_str_eq(elem_key(x.e[0], NFTNL_SET_ELEM_KEY, k), "34120080");
	ck_assert_str_eq(nftnl_set_elem_get_str(x.e[0], NFTNL_SET_ELEM_OBJREF), "c_80001234");
	nftnl_set_free(x.holder);
	free(s.elems);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_elems_split)
{
	struct zt_set s = set_new("fany", ZT_TYPE_MARK, 0, 0, ZT_TYPE_VERDICT, false);
	struct zt_batch *b = batch();
	size_t total = 0;

	/* Enough elements for several messages: each stays below the 16-bit nest length. */
	for (uint32_t i = 0; i < 3000; i++)
		set_add(&s, v_u32(ZT_TYPE_MARK, i), (struct zt_value){}, (struct zt_value){},
			v_verdict(ZT_V_GOTO, "f_80001234"));
	ck_assert_int_eq(zt_emit_set(b, &s), 0);
	ck_assert_uint_gt(b->n_src, 3);
	for (size_t m = 2; m < b->n_src; m++) {
		struct nftnl_set *h = nftnl_set_alloc();
		struct nftnl_set_elems_iter *it;

		ck_assert_uint_eq(b->src[m].obj, ZT_BOBJ_ELEMS);
		ck_assert_uint_lt(msg_at(b, m)->nlmsg_len, 65535);
		ck_assert_int_eq(elems_nlmsg_parse(msg_at(b, m), h), 0);
		it = nftnl_set_elems_iter_create(h);
		while (nftnl_set_elems_iter_next(it))
			total++;
		nftnl_set_elems_iter_destroy(it);
		nftnl_set_free(h);
	}
	ck_assert_uint_eq(total, 3000);
	free(s.elems);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_elems_invalid)
{
	struct zt_set s = set_new("fp", ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE, ZT_TYPE_VERDICT, false);
	struct zt_value port = v_u32(ZT_TYPE_INET_SERVICE, 1000);
	struct zt_set_enc enc = {};

	/* A port range in a hash set cannot be expressed. */
	port.u32_hi = 1010;
	set_add(&s, v_u32(ZT_TYPE_MARK, 1), v_u32(ZT_TYPE_INET_PROTO, 6), port, v_verdict(ZT_V_ACCEPT, NULL));
	ck_assert_int_eq(zt_set_encode(&s, &enc), -EINVAL);
	/* A dynamic set is emitted empty. */
	s.dynamic = true;
	ck_assert_int_eq(zt_set_encode(&s, &enc), 0);
	ck_assert_uint_eq(enc.n, 0);
	zt_set_enc_clear(&enc);
	free(s.elems);
}
END_TEST

/* ---- rules --------------------------------------------------------------- */

struct rule_case {
	const char *nft;	/* the rule text it stands for */
	struct zt_rule rule;
	const char *exprs;	/* the expression kinds nft 1.0.6 sends */
};

#define M_SET(k, s) { .op = ZT_M_IN_SET, .key = { k }, .n_key = 1, .set = s }
#define M_NSET(k, s) { .op = ZT_M_NOT_IN_SET, .key = { k }, .n_key = 1, .set = s }
#define S_V(c) { .kind = ZT_S_VERDICT, .verdict = { .code = c } }
#define S_VC(c, ch) { .kind = ZT_S_VERDICT, .verdict = { .code = c, .chain = ch } }
#define S_VMAP1(k, s) { .kind = ZT_S_VMAP, .key = { k }, .n_key = 1, .set = s }

static const struct rule_case rule_cases[] = {
	{ "iif \"lo\" accept",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_IIF }, .n_key = 1, .value = { .type = ZT_TYPE_IFNAME, .ifpat = { .name = "lo" } } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta cmp immediate" },
	{ "oif 0 ct mark set 0x00000002 return",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_OIF }, .n_key = 1, .value = { .type = ZT_TYPE_MARK, .u32 = 0 } }),
	    .n_match = 1, .stmt = STMTS({ .kind = ZT_S_CT_MARK_SET, .u32 = 2 }, S_V(ZT_V_RETURN)), .n_stmt = 2 },
	  "meta cmp immediate ct immediate" },
	{ "ip saddr vmap @own4",
	  { .stmt = STMTS(S_VMAP1(ZT_KEY_IP_SADDR, "own4")), .n_stmt = 1 },
	  "meta cmp payload lookup" },
	{ "iifname @member_if icmp type redirect goto spoofed",
	  { .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "member_if"),
		       { .op = ZT_M_EQ, .key = { ZT_KEY_ICMP_TYPE }, .n_key = 1, .value = { .type = ZT_TYPE_ICMP_TYPE, .u32 = 5 } }),
	    .n_match = 2, .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "meta lookup meta cmp meta cmp payload cmp immediate" },
	{ "meta l4proto icmp ct mark . icmp type vmap @fi4",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_L4PROTO }, .n_key = 1, .value = { .type = ZT_TYPE_INET_PROTO, .u32 = 1 } }),
	    .n_match = 1, .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_ICMP_TYPE }, .n_key = 2, .set = "fi4" }),
	    .n_stmt = 1 },
	  "meta cmp ct payload lookup" },
	{ "ct mark . meta l4proto . th dport vmap @fp",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT }, .n_key = 3, .set = "fp" }),
	    .n_stmt = 1 },
	  "ct meta payload lookup" },
	{ "ct mark . meta l4proto . th dport vmap @fr (interval: host-order fields swapped)",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT }, .n_key = 3, .set = "fr" }),
	    .n_stmt = 1 },
	  "ct byteorder meta byteorder payload lookup" },
	{ "ct state established,related counter name ct mark map @fcnt accept",
	  { .match = MATCHES({ .op = ZT_M_CT_STATE, .ct_state = 6 }), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_COUNTER_MAP, .key = { ZT_KEY_CT_MARK }, .n_key = 1, .set = "fcnt" }, S_V(ZT_V_ACCEPT)),
	    .n_stmt = 2 },
	  "ct bitwise cmp ct objref immediate" },
	{ "ct direction reply goto deny",
	  { .match = MATCHES({ .op = ZT_M_CT_DIR_REPLY }), .n_match = 1, .stmt = STMTS(S_VC(ZT_V_GOTO, "deny")), .n_stmt = 1 },
	  "ct cmp immediate" },
	{ "iifname @zone_if fib saddr . iif oif missing goto spoofed",
	  { .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "zone_if"), { .op = ZT_M_MISSING, .key = { ZT_KEY_FIB_SADDR_IIF_OIF }, .n_key = 1 }),
	    .n_match = 2, .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "meta lookup fib cmp immediate" },
	{ "fib daddr oifname @member_rt goto spoofed",
	  { .match = MATCHES(M_SET(ZT_KEY_FIB_DADDR_OIFNAME, "member_rt")), .n_match = 1,
	    .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "fib lookup immediate" },
	{ "ip6 hoplimit 255 accept",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_IP6_HOPLIMIT }, .n_key = 1,
			 .value = { .type = ZT_TYPE_INTEGER, .u32 = 255 } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta cmp payload cmp immediate" },
	{ "ct mark set ct mark ^ 0x8a41c3d2",
	  { .stmt = STMTS({ .kind = ZT_S_CT_MARK_XOR, .u32 = 0x8a41c3d2 }), .n_stmt = 1 },
	  "ct bitwise ct" },
	{ "meta mark set ct mark",
	  { .stmt = STMTS({ .kind = ZT_S_META_MARK_FROM_CT }), .n_stmt = 1 },
	  "ct meta" },
	{ "meta mark set meta mark & 0x0000ffff | 0x01000000",
	  { .stmt = STMTS({ .kind = ZT_S_META_MARK_BITS, .mmask = 0x0000ffff, .u32 = 0x01000000 }), .n_stmt = 1 },
	  "meta bitwise meta" },
	{ "fib saddr oifname vmap @route_owner",
	  { .stmt = STMTS(S_VMAP1(ZT_KEY_FIB_SADDR_OIFNAME, "route_owner")), .n_stmt = 1 },
	  "fib lookup" },
	{ "iifname != @enc_if meta ipsec missing return",
	  { .match = MATCHES(M_NSET(ZT_KEY_IIFNAME, "enc_if"), { .op = ZT_M_MISSING, .key = { ZT_KEY_META_IPSEC }, .n_key = 1 }),
	    .n_match = 2, .stmt = STMTS(S_V(ZT_V_RETURN)), .n_stmt = 1 },
	  "meta lookup meta cmp immediate" },
	{ "oifname != @enc_if rt ipsec missing return",
	  { .match = MATCHES(M_NSET(ZT_KEY_OIFNAME, "enc_if"), { .op = ZT_M_MISSING, .key = { ZT_KEY_RT_IPSEC }, .n_key = 1 }),
	    .n_match = 2, .stmt = STMTS(S_V(ZT_V_RETURN)), .n_stmt = 1 },
	  "meta lookup rt cmp immediate" },
	{ "ct mark set ct mark | 0x00030000 goto judge",
	  { .stmt = STMTS({ .kind = ZT_S_CT_MARK_OR, .u32 = 0x30000 }, S_VC(ZT_V_GOTO, "judge")), .n_stmt = 2 },
	  "ct bitwise ct immediate" },
	{ "ct mark set ip daddr map @dst4",
	  { .stmt = STMTS({ .kind = ZT_S_CT_MARK_SET_MAP, .key = { ZT_KEY_IP_DADDR }, .n_key = 1, .set = "dst4" }), .n_stmt = 1 },
	  "meta cmp payload lookup ct" },
	{ "limit rate 10/second burst 20 packets log group 27 prefix \"ztseg deny \"",
	  { .stmt = STMTS({ .kind = ZT_S_LOG, .log_rate = 10, .log_burst = 20, .log_group = 27, .log_prefix = "ztseg deny " }),
	    .n_stmt = 1 },
	  "limit log" },
	{ "counter name \"drops\" meta l4proto tcp reject with tcp reset",
	  { .stmt = STMTS({ .kind = ZT_S_COUNTER_NAMED, .counter = "drops" }, { .kind = ZT_S_REJECT_TCP_RST }), .n_stmt = 2 },
	  "objref meta cmp reject" },
	{ "reject with icmpx admin-prohibited",
	  { .stmt = STMTS({ .kind = ZT_S_REJECT_ICMPX }), .n_stmt = 1 },
	  "reject" },
	{ "ip saddr 192.0.2.0/24 accept (a byte-aligned prefix: a shorter load)",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_IP_SADDR }, .n_key = 1,
			 .value = { .type = ZT_TYPE_IPV4, .cidr = { .family = AF_INET, .plen = 24, .addr = { 192, 0, 2 } } } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta cmp payload cmp immediate" },
	{ "ip6 saddr != fe80::/10 accept (masked)",
	  { .match = MATCHES({ .op = ZT_M_NE, .key = { ZT_KEY_IP6_SADDR }, .n_key = 1,
			 .value = { .type = ZT_TYPE_IPV6, .cidr = { .family = AF_INET6, .plen = 10, .addr = { 0xfe, 0x80 } } } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta cmp payload bitwise cmp immediate" },
	{ "fib daddr type != local accept",
	  { .match = MATCHES({ .op = ZT_M_NE, .key = { ZT_KEY_FIB_DADDR_TYPE }, .n_key = 1,
			 .value = { .type = ZT_TYPE_FIB_ADDRTYPE, .u32 = 2 } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "fib cmp immediate" },
	{ "oif 0 return (an interface index)",
	  { .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_OIF }, .n_key = 1, .value = { .type = ZT_TYPE_IFINDEX, .u32 = 0 } }),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_RETURN)), .n_stmt = 1 },
	  "meta cmp immediate" },
	{ "jump f_80001234",
	  { .stmt = STMTS(S_VC(ZT_V_JUMP, "f_80001234")), .n_stmt = 1 },
	  "immediate" },
};

static const struct zt_set rule_sets[] = {
	{ .name = "dst4", .key = { ZT_TYPE_IPV4 }, .n_key = 1, .data = ZT_TYPE_MARK, .interval = true },
	{ .name = "fi4", .key = { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, .n_key = 2, .data = ZT_TYPE_VERDICT },
	{ .name = "fp", .key = { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, .n_key = 3, .data = ZT_TYPE_VERDICT },
	{ .name = "fr", .key = { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, .n_key = 3, .data = ZT_TYPE_VERDICT,
	  .interval = true },
};

static int expr_name_cb(struct nftnl_expr *e, void *data)
{
	char *s = data;

	if (*s)
		strcat(s, " ");
	strcat(s, nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
	return 0;
}

START_TEST(test_rule_shape)
{
	const struct rule_case *rc = &rule_cases[_i];
	struct zt_rule rule = rc->rule;
	struct zt_chain c = { .name = "c", .rules = &rule, .n_rules = 1 };
	struct zt_plan p = { .sets = (struct zt_set *)rule_sets, .n_sets = ELEMENTSOF(rule_sets) };
	struct zt_batch *b = batch();
	struct nftnl_rule *r = nftnl_rule_alloc();
	char names[512] = "";

	snprintf(rule.comment, sizeof(rule.comment), "%s", "test");
	ck_assert_msg(zt_emit_rule(b, &p, &c, 0) == 0, "%s", rc->nft);
	ck_assert_uint_eq(b->n_src, 2);
	ck_assert_uint_eq(msg_type(b, 1), NFT_MSG_NEWRULE);
	ck_assert(msg_at(b, 1)->nlmsg_flags & NLM_F_APPEND);
	ck_assert_int_eq(nftnl_rule_nlmsg_parse(msg_at(b, 1), r), 0);
	ck_assert_str_eq(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "c");
	nftnl_expr_foreach(r, expr_name_cb, names);
	ck_assert_msg(streq(names, rc->exprs), "%s: got \"%s\", want \"%s\"", rc->nft, names, rc->exprs);
	nftnl_rule_free(r);
	zt_batch_free(b);
}
END_TEST

/* Attribute-level checks of a few rule shapes. */
static struct nftnl_expr *expr_nth(struct nftnl_rule *r, int n)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e = NULL;

	for (int i = 0; i <= n; i++)
		e = nftnl_expr_iter_next(it);
	nftnl_expr_iter_destroy(it);
	return e;
}

static struct nftnl_rule *rule_build(struct zt_rule *rule, const struct zt_plan *p, struct zt_batch **ret)
{
	struct zt_chain c = { .name = "c", .rules = rule, .n_rules = 1 };
	struct zt_batch *b = batch();
	struct nftnl_rule *r = nftnl_rule_alloc();

	ck_assert_int_eq(zt_emit_rule(b, p, &c, 0), 0);
	ck_assert_int_eq(nftnl_rule_nlmsg_parse(msg_at(b, b->n_src - 1), r), 0);
	*ret = b;
	return r;
}

START_TEST(test_rule_attrs)
{
	struct zt_rule rule = {
		.match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_IIFNAME }, .n_key = 1, .value = v_if("vweb", true) }),
		.n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
		.comment = "zone \"web\" a\\b",
	};
	struct zt_batch *b;
	struct nftnl_rule *r = rule_build(&rule, NULL, &b);
	struct nftnl_expr *e;
	uint32_t len;
	const char *ud;

	/* A wildcard name compares its prefix only. */
	e = expr_nth(r, 1);
	nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), NFT_CMP_EQ);
	/* The comment as render.c would have quoted it. */
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
	ck_assert_ptr_nonnull(ud);
	ck_assert_uint_eq((uint8_t)ud[0], NFTNL_UDATA_RULE_COMMENT);
	ck_assert_str_eq(ud + 2, "zone 'web' a/b");
	nftnl_rule_free(r);
	zt_batch_free(b);

	/* An exact name compares all 16 bytes; != is a neq compare. */
	rule.match[0].value = v_if("vdb1", false);
	rule.match[0].op = ZT_M_NE;
	r = rule_build(&rule, NULL, &b);
	e = expr_nth(r, 1);
	nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	ck_assert_uint_eq(len, 16);
	ck_assert_uint_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), NFT_CMP_NEQ);
	nftnl_rule_free(r);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_rule_log)
{
	struct zt_rule rule = {
		.stmt = STMTS({ .kind = ZT_S_LOG, .log_rate = 10, .log_group = 27, .log_prefix = "ztseg allow \"x\" $y " }),
		.n_stmt = 1,
	};
	struct zt_batch *b;
	struct nftnl_rule *r = rule_build(&rule, NULL, &b);
	struct nftnl_expr *lim = expr_nth(r, 0), *log = expr_nth(r, 1);

	ck_assert_uint_eq(nftnl_expr_get_u64(lim, NFTNL_EXPR_LIMIT_RATE), 10);
	ck_assert_uint_eq(nftnl_expr_get_u64(lim, NFTNL_EXPR_LIMIT_UNIT), 1);
	/* No burst given: nft's default of 5 packets. */
	ck_assert_uint_eq(nftnl_expr_get_u32(lim, NFTNL_EXPR_LIMIT_BURST), 5);
	ck_assert_uint_eq(nftnl_expr_get_u32(lim, NFTNL_EXPR_LIMIT_TYPE), NFT_LIMIT_PKTS);
	ck_assert_uint_eq(nftnl_expr_get_u16(log, NFTNL_EXPR_LOG_GROUP), 27);
	ck_assert_str_eq(nftnl_expr_get_str(log, NFTNL_EXPR_LOG_PREFIX), "ztseg allow 'x' ?y ");
	nftnl_rule_free(r);
	zt_batch_free(b);
}
END_TEST

/* ---- anonymous sets ------------------------------------------------------ */

START_TEST(test_anon_sets)
{
	struct zt_value ifs[2] = { v_if("vweb", true), v_if("vdb1", false) };
	struct zt_value exact[2] = { v_if("a", false), v_if("b", false) };
	struct zt_value one[1] = { v_cidr("192.0.2.0/26") };
	struct zt_rule rule = {
		.match = MATCHES({ .op = ZT_M_IN_ANON, .key = { ZT_KEY_IIFNAME }, .n_key = 1,
			     .anon = { .type = ZT_TYPE_IFNAME, .interval = true, .v = ifs, .n = 2 } },
			   { .op = ZT_M_IN_ANON, .key = { ZT_KEY_OIFNAME }, .n_key = 1,
			     .anon = { .type = ZT_TYPE_IFNAME, .interval = true, .v = exact, .n = 2 } },
			   { .op = ZT_M_IN_ANON, .key = { ZT_KEY_IP_SADDR }, .n_key = 1,
			     .anon = { .type = ZT_TYPE_IPV4, .interval = true, .v = one, .n = 1 } }),
		.n_match = 3, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
	};
	struct zt_batch *b;
	struct nftnl_rule *r = rule_build(&rule, NULL, &b);
	struct nftnl_set *s1 = nftnl_set_alloc(), *s2 = nftnl_set_alloc();
	struct elems x;
	char names[256] = "", got[128];
	uint32_t len;
	const void *ud;

	/* NEWSET, its elements, NEWSET, its elements, then the rule. */
	ck_assert_uint_eq(b->n_src, 6);
	ck_assert_uint_eq(msg_type(b, 1), NFT_MSG_NEWSET);
	ck_assert(b->src[1].anon);
	ck_assert_int_eq(nftnl_set_nlmsg_parse(msg_at(b, 1), s1), 0);
	ck_assert_str_eq(nftnl_set_get_str(s1, NFTNL_SET_NAME), "__set%d");
	ck_assert_uint_eq(nftnl_set_get_u32(s1, NFTNL_SET_FLAGS), NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL);
	ck_assert_uint_eq(nftnl_set_get_u32(s1, NFTNL_SET_DESC_SIZE), 5);
	ud = nftnl_set_get_data(s1, NFTNL_SET_USERDATA, &len);
	hex(got, ud, len);
	/* Key byte order, merge, typeof meta iifname: as nft sent it. */
	ck_assert_str_eq(got, "000401000000020401000000030e0004090000000106000406000000");
	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 5);
	nftnl_set_free(x.holder);
	/* Exact names only: nft makes a hash set, whatever the plan asked. */
	ck_assert_int_eq(nftnl_set_nlmsg_parse(msg_at(b, 3), s2), 0);
	ck_assert_uint_eq(nftnl_set_get_u32(s2, NFTNL_SET_FLAGS), NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
	ck_assert_uint_eq(nftnl_set_get_u32(s2, NFTNL_SET_DESC_SIZE), 2);
	/* The lookups name the sets by id; one element is a plain (masked) compare. */
	nftnl_expr_foreach(r, expr_name_cb, names);
	ck_assert_str_eq(names, "meta lookup meta lookup meta cmp payload bitwise cmp immediate");
	ck_assert_uint_eq(nftnl_expr_get_u32(expr_nth(r, 1), NFTNL_EXPR_LOOKUP_SET_ID), nftnl_set_get_u32(s1, NFTNL_SET_ID));
	ck_assert_uint_eq(nftnl_expr_get_u32(expr_nth(r, 3), NFTNL_EXPR_LOOKUP_SET_ID), nftnl_set_get_u32(s2, NFTNL_SET_ID));
	ck_assert_uint_ne(nftnl_set_get_u32(s1, NFTNL_SET_ID), nftnl_set_get_u32(s2, NFTNL_SET_ID));
	nftnl_set_free(s1);
	nftnl_set_free(s2);
	nftnl_rule_free(r);
	zt_batch_free(b);
}
END_TEST

START_TEST(test_anon_merge)
{
	/* nft merges overlapping and adjacent ranges of anonymous sets. */
	struct zt_value v[3] = { v_cidr("10.0.0.0/24"), v_cidr("10.0.1.0/24"), v_cidr("10.0.0.128/25") };
	struct zt_rule rule = {
		.match = MATCHES({ .op = ZT_M_IN_ANON, .key = { ZT_KEY_IP_SADDR }, .n_key = 1,
			     .anon = { .type = ZT_TYPE_IPV4, .interval = true, .v = v, .n = 3 } }),
		.n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
	};
	struct zt_batch *b;
	struct nftnl_rule *r = rule_build(&rule, NULL, &b);
	struct elems x;
	char k[64];

	elems_parse(b, 2, &x);
	ck_assert_uint_eq(x.n, 3);
	ck_assert_str_eq(elem_key(x.e[1], NFTNL_SET_ELEM_KEY, k), "0a000000");
	ck_assert_str_eq(elem_key(x.e[2], NFTNL_SET_ELEM_KEY, k), "0a000200");
	nftnl_set_free(x.holder);
	nftnl_rule_free(r);
	zt_batch_free(b);
}
END_TEST

/* ---- invalid input -------------------------------------------------------- */

START_TEST(test_rule_invalid)
{
	struct zt_rule bad[] = {
		{ .stmt = STMTS(S_V(ZT_V_JUMP)), .n_stmt = 1 },			/* jump without a chain */
		{ .n_stmt = 0 },						/* an empty rule */
		{ .stmt = STMTS(S_VMAP1(ZT_KEY_IP_SADDR, "")), .n_stmt = 1 },	/* vmap without a set */
		{ .match = MATCHES({ .op = ZT_M_EQ, .key = { ZT_KEY_IIF }, .n_key = 1, .value = { .type = ZT_TYPE_IFNAME, .ifpat = { .name = "eth0" } } }),
		  .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },	/* only "lo" has a fixed index */
		{ .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 70000 }), .n_stmt = 1 },
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct zt_chain c = { .name = "c", .rules = &bad[i], .n_rules = 1 };
		struct zt_rule_enc enc = {};

		ck_assert_msg(zt_rule_encode(NULL, &c, 0, NULL, &enc) == -EINVAL, "case %zu", i);
	}
}
END_TEST

/* ---- a whole plan: sequence numbers back to their sources ----------------- */

START_TEST(test_plan_walk)
{
	struct zt_set sets[2] = {
		set_new("member_if", ZT_TYPE_IFNAME, 0, 0, ZT_TYPE_NONE, true),
		set_new("own4", ZT_TYPE_IPV4, 0, 0, ZT_TYPE_VERDICT, true),
	};
	struct zt_counter counters[1] = { { .name = "drops" } };
	struct zt_rule spoof_rules[2] = {
		{ .stmt = STMTS(S_VMAP1(ZT_KEY_IP_SADDR, "own4")), .n_stmt = 1, .comment = "static", .pos = { "ztseg.yaml", 31, 7 } },
		{ .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "member_if")), .n_match = 1, .stmt = STMTS(S_VC(ZT_V_GOTO, "own_0003")),
		  .n_stmt = 1, .comment = "zone", .pos = { "segments.d/web.yaml", 8, 3 } },
	};
	struct zt_rule own_rules[1] = { { .stmt = STMTS({ .kind = ZT_S_COUNTER_NAMED, .counter = "drops" }, S_V(ZT_V_DROP)), .n_stmt = 2 } };
	struct zt_chain chains[2] = {
		{ .name = "spoof", .hook = ZT_HOOK_PREROUTING, .prio = -300, .rules = spoof_rules, .n_rules = 2 },
		{ .name = "own_0003", .rules = own_rules, .n_rules = 1 },
	};
	struct zt_plan p = { .counters = counters, .n_counters = 1, .sets = sets, .n_sets = 2, .chains = chains, .n_chains = 2 };
	struct zt_batch *b;
	static const enum zt_bobj want[] = { ZT_BOBJ_BATCH, ZT_BOBJ_TABLE, ZT_BOBJ_CHAIN, ZT_BOBJ_CHAIN, ZT_BOBJ_COUNTER,
					     ZT_BOBJ_SET, ZT_BOBJ_ELEMS, ZT_BOBJ_SET, ZT_BOBJ_ELEMS, ZT_BOBJ_RULE, ZT_BOBJ_RULE,
					     ZT_BOBJ_RULE, ZT_BOBJ_BATCH };
	const struct zt_bsrc *s;
	size_t pe;

	set_add(&sets[0], v_if("vweb", true), (struct zt_value){}, (struct zt_value){}, (struct zt_value){});
	sets[1].elems = NULL;
	set_add(&sets[1], v_cidr("198.51.100.0/26"), (struct zt_value){}, (struct zt_value){}, v_verdict(ZT_V_GOTO, "own_0003"));
	zt_set_elem(&sets[1], 0)->pos = (struct zt_pos){ "segments.d/web.yaml", 9, 17 };

	ck_assert_int_eq(zt_batch_new(1000, &b), 0);
	ck_assert_int_eq(zt_batch_begin(b, 0), 0);
	ck_assert_int_eq(zt_emit_plan(b, &p, NFT_TABLE_F_OWNER), 0);
	ck_assert_int_eq(zt_batch_end(b), 0);
	ck_assert_uint_eq(b->n_src, ELEMENTSOF(want));
	for (size_t i = 0; i < b->n_src; i++) {
		ck_assert_uint_eq(msg_at(b, i)->nlmsg_seq, 1000 + i);
		ck_assert_uint_eq(b->src[i].obj, want[i]);
	}
	/* The second rule of spoof, back to its policy line. */
	s = zt_batch_find(b, 1010);
	ck_assert_uint_eq(s->obj, ZT_BOBJ_RULE);
	ck_assert_str_eq(s->chain, "spoof");
	ck_assert_uint_eq(s->rule, 1);
	ck_assert_str_eq(s->comment, "zone");
	ck_assert_str_eq(s->pos.file, "segments.d/web.yaml");
	ck_assert_uint_eq(s->pos.line, 8);
	/* An element error at some offset names the plan element and its line. */
	s = zt_batch_find(b, 1008);
	ck_assert_uint_eq(s->obj, ZT_BOBJ_ELEMS);
	ck_assert_str_eq(s->name, "own4");
	ck_assert_str_eq(s->pos.file, "segments.d/web.yaml");
	pe = zt_batch_elem_at(b, s, b->elems[s->elem0 + 1].off + 4);
	ck_assert_uint_eq(pe, 0);
	ck_assert_uint_eq(zt_batch_elem_at(b, s, b->elems[s->elem0].off), SIZE_MAX);
	/* Rules come after every chain, set and counter they name. */
	ck_assert_uint_eq(zt_plan_count_objects(&p), 1 + 1 + 2 + 2 + 3 + 2);
	free(sets[0].elems);
	free(sets[1].elems);
	zt_batch_free(b);
}
END_TEST

/* ---- encrypted interfaces (apply's pure part) ----------------------------- */

START_TEST(test_enc_if_select)
{
	static const struct zt_link links[] = {
		{ "wg0", "wireguard", 0, 0 }, { "wg1", "veth", 0, 0 }, { "wgx", "", 0, 0 }, { "eth0", "wireguard", 0, 0 },
		{ "wg-onprem", "xfrm", 0, 0 },
	};
	static const char *const kinds[] = { "wireguard", "xfrm" };
	static const char *const wide[] = { "wireguard", "xfrm", "veth" };
	struct zt_ifpat pats[1];
	char out[8][IFNAMSIZ];

	ck_assert_int_eq(zt_ifpat_parse("wg*", &pats[0], NULL), 0);
	ck_assert_uint_eq(zt_enc_if_select(links, ELEMENTSOF(links), pats, 1, kinds, 2, out, 8), 2);
	ck_assert_str_eq(out[0], "wg0");
	ck_assert_str_eq(out[1], "wg-onprem");
	/* Widened for tests: a veth counts. */
	ck_assert_uint_eq(zt_enc_if_select(links, ELEMENTSOF(links), pats, 1, wide, 3, out, 8), 3);
	/* More matches than room: counted, not written. */
	ck_assert_uint_eq(zt_enc_if_select(links, ELEMENTSOF(links), pats, 1, wide, 3, out, 1), 3);
	ck_assert_uint_eq(zt_enc_if_select(links, ELEMENTSOF(links), NULL, 0, wide, 3, out, 8), 0);
}
END_TEST

struct kinds_case {
	const char *in;
	int n;
};

static const struct kinds_case kinds_cases[] = {
	{ "wireguard", 1 }, { "wireguard,xfrm,vti,ip6vti", 4 }, { "veth", 1 }, { "", -EINVAL }, { "a,,b", -EINVAL },
	{ "a,", -EINVAL }, { ",a", -EINVAL }, { "Wire", -EINVAL }, { "a b", -EINVAL },
	{ "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", -EINVAL },
	{ "abcdefghijabcdefghijabcdefghij12345", -EINVAL },
};

START_TEST(test_enc_kinds_parse)
{
	const struct kinds_case *kc = &kinds_cases[_i];
	const char *kinds[ZT_ENC_KINDS_MAX];
	char buf[128];

	snprintf(buf, sizeof(buf), "%s", kc->in);
	ck_assert_msg(zt_enc_kinds_parse(buf, kinds, ZT_ENC_KINDS_MAX) == kc->n, "'%s'", kc->in);
	if (kc->n == 4)
		ck_assert_str_eq(kinds[3], "ip6vti");
}
END_TEST

static Suite *emit_suite(void)
{
	Suite *s = suite_create("emit");
	TCase *tc = tcase_create("batch");

	tcase_add_test(tc, test_batch_seq);
	tcase_add_test(tc, test_batch_genid);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_counter);
	tcase_add_test(tc, test_chains);
	tcase_add_test(tc, test_plan_walk);
	suite_add_tcase(s, tc);

	tc = tcase_create("sets");
	tcase_add_loop_test(tc, test_set_def, 0, ELEMENTSOF(set_cases));
	tcase_add_test(tc, test_elems_interval_ipv4);
	tcase_add_test(tc, test_elems_sliced);
	tcase_add_test(tc, test_elems_interval_open);
	tcase_add_test(tc, test_elems_ifname);
	tcase_add_test(tc, test_elems_concat);
	tcase_add_test(tc, test_elems_objref);
	tcase_add_test(tc, test_elems_split);
	tcase_add_test(tc, test_elems_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_loop_test(tc, test_rule_shape, 0, ELEMENTSOF(rule_cases));
	tcase_add_test(tc, test_rule_attrs);
	tcase_add_test(tc, test_rule_log);
	tcase_add_test(tc, test_anon_sets);
	tcase_add_test(tc, test_anon_merge);
	tcase_add_test(tc, test_rule_invalid);
	suite_add_tcase(s, tc);

	tc = tcase_create("enc_if");
	tcase_add_test(tc, test_enc_if_select);
	tcase_add_loop_test(tc, test_enc_kinds_parse, 0, ELEMENTSOF(kinds_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(emit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
