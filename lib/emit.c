/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: the plan as one nf_tables batch of libnftnl messages. Every shape
 * below is what nft 1.0.6 sends for the text render.c writes (compared
 * with `nft --debug=netlink,mnl -f`), so that both list the same.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include "emit.h"

/* Room kept free for one message; every message but ELEMS is far smaller. */
#define MSG_ROOM (96 * 1024)
/* ELEMS messages are cut here: the elements nest's length is 16 bits. */
#define ELEMS_MSG_MAX (16 * 1024)
/* A batch beyond this is refused: the kernel would not take it either. */
#define BATCH_MAX ((size_t)1 << 30)
#define KEY_MAX 64		/* bytes of a set key: 4 concatenated fields of ≤ 16 */
#define USERDATA_MAX 256	/* NFT_USERDATA_MAXLEN */

/* nft's own numbers for datatypes, expression kinds and protocol fields (its udata). */
enum {
	NFT_TYPE_INTEGER = 4,
	NFT_TYPE_STRING = 5,
	NFT_TYPE_IPADDR = 7,
	NFT_TYPE_IP6ADDR = 8,
	NFT_TYPE_INET_PROTOCOL = 12,
	NFT_TYPE_INET_SERVICE = 13,
	NFT_TYPE_ICMP_TYPE = 14,
	NFT_TYPE_MARK = 19,
	NFT_TYPE_IFINDEX = 20,
	NFT_TYPE_CT_STATE = 26,
	NFT_TYPE_CT_DIR = 27,
	NFT_TYPE_ICMP6_TYPE = 29,
	NFT_TYPE_IFNAME = 41,
	NFT_TYPE_BITS = 6,	/* concatenated types: (a << 6) | b */
};

enum { BO_INVALID, BO_HOST, BO_BIG };

enum {
	NFT_EXPR_VERDICT = 1,
	NFT_EXPR_PAYLOAD = 7,
	NFT_EXPR_META = 9,
	NFT_EXPR_CT = 12,
	NFT_EXPR_CONCAT = 13,
	NFT_EXPR_RT = 25,
	NFT_EXPR_FIB = 26,
};

enum {
	NFT_PROTO_ICMP = 4,
	NFT_PROTO_TH = 11,
	NFT_PROTO_IP = 12,
	NFT_PROTO_IP6 = 13,
	NFT_PROTO_ICMP6 = 14,
};

/* How a key is loaded into a register, and what nft needs before it. */
enum key_kind { K_META, K_PAYLOAD, K_CT, K_FIB, K_RT };

struct key_info {
	enum key_kind kind;
	uint32_t key;		/* meta/ct/rt key, fib result */
	uint32_t base, offset;	/* payload */
	uint32_t fib_flags;
	uint32_t len;		/* bytes loaded */
	uint8_t nfproto;	/* dependency: meta nfproto (0: none) */
	int l4proto;		/* dependency: meta l4proto (-1: none) */
	uint32_t dtype;		/* nft datatype, for anonymous sets */
	int byteorder;
	uint32_t desc, field;	/* payload: nft's protocol and field ids */
};

static const struct key_info keys[] = {
	[ZT_KEY_IIF] = { K_META, NFT_META_IIF, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_OIF] = { K_META, NFT_META_OIF, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_IIFNAME] = { K_META, NFT_META_IIFNAME, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_IFNAME, .byteorder = BO_HOST },
	[ZT_KEY_OIFNAME] = { K_META, NFT_META_OIFNAME, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_IFNAME, .byteorder = BO_HOST },
	[ZT_KEY_IP_SADDR] = { K_PAYLOAD, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 12, .len = 4, .nfproto = NFPROTO_IPV4,
			      .l4proto = -1, .dtype = NFT_TYPE_IPADDR, .byteorder = BO_BIG, .desc = NFT_PROTO_IP, .field = 11 },
	[ZT_KEY_IP_DADDR] = { K_PAYLOAD, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 16, .len = 4, .nfproto = NFPROTO_IPV4,
			      .l4proto = -1, .dtype = NFT_TYPE_IPADDR, .byteorder = BO_BIG, .desc = NFT_PROTO_IP, .field = 12 },
	[ZT_KEY_IP6_SADDR] = { K_PAYLOAD, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 8, .len = 16, .nfproto = NFPROTO_IPV6,
			       .l4proto = -1, .dtype = NFT_TYPE_IP6ADDR, .byteorder = BO_BIG, .desc = NFT_PROTO_IP6, .field = 8 },
	[ZT_KEY_IP6_DADDR] = { K_PAYLOAD, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 24, .len = 16, .nfproto = NFPROTO_IPV6,
			       .l4proto = -1, .dtype = NFT_TYPE_IP6ADDR, .byteorder = BO_BIG, .desc = NFT_PROTO_IP6, .field = 9 },
	[ZT_KEY_L4PROTO] = { K_META, NFT_META_L4PROTO, .len = 1, .l4proto = -1, .dtype = NFT_TYPE_INET_PROTOCOL, .byteorder = BO_HOST },
	/* nft 1.0.6 adds no dependency for `th`. */
	[ZT_KEY_TH_DPORT] = { K_PAYLOAD, .base = NFT_PAYLOAD_TRANSPORT_HEADER, .offset = 2, .len = 2, .l4proto = -1,
			      .dtype = NFT_TYPE_INET_SERVICE, .byteorder = BO_BIG, .desc = NFT_PROTO_TH, .field = 2 },
	[ZT_KEY_ICMP_TYPE] = { K_PAYLOAD, .base = NFT_PAYLOAD_TRANSPORT_HEADER, .offset = 0, .len = 1, .nfproto = NFPROTO_IPV4,
			       .l4proto = IPPROTO_ICMP, .dtype = NFT_TYPE_ICMP_TYPE, .byteorder = BO_BIG, .desc = NFT_PROTO_ICMP, .field = 1 },
	[ZT_KEY_ICMPV6_TYPE] = { K_PAYLOAD, .base = NFT_PAYLOAD_TRANSPORT_HEADER, .offset = 0, .len = 1, .nfproto = NFPROTO_IPV6,
				 .l4proto = IPPROTO_ICMPV6, .dtype = NFT_TYPE_ICMP6_TYPE, .byteorder = BO_BIG, .desc = NFT_PROTO_ICMP6, .field = 1 },
	[ZT_KEY_CT_MARK] = { K_CT, NFT_CT_MARK, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_MARK, .byteorder = BO_HOST },
	[ZT_KEY_CT_STATE] = { K_CT, NFT_CT_STATE, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_CT_STATE, .byteorder = BO_HOST },
	[ZT_KEY_CT_DIRECTION] = { K_CT, NFT_CT_DIRECTION, .len = 1, .l4proto = -1, .dtype = NFT_TYPE_CT_DIR, .byteorder = BO_HOST },
	[ZT_KEY_FIB_SADDR_OIFNAME] = { K_FIB, NFT_FIB_RESULT_OIFNAME, .fib_flags = NFTA_FIB_F_SADDR, .len = IFNAMSIZ,
				       .l4proto = -1, .dtype = NFT_TYPE_STRING, .byteorder = BO_HOST },
	[ZT_KEY_FIB_SADDR_IIF_OIF] = { K_FIB, NFT_FIB_RESULT_OIF, .fib_flags = NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF, .len = 4,
				       .l4proto = -1, .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_FIB_SADDR_OIF] = { K_FIB, NFT_FIB_RESULT_OIF, .fib_flags = NFTA_FIB_F_SADDR, .len = 4, .l4proto = -1,
				   .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_META_IPSEC] = { K_META, NFT_META_SECPATH, .len = 1, .l4proto = -1, .byteorder = BO_HOST },
	[ZT_KEY_RT_IPSEC] = { K_RT, NFT_RT_XFRM, .len = 1, .l4proto = -1, .byteorder = BO_HOST },
	[ZT_KEY_FIB_DADDR_TYPE] = { K_FIB, NFT_FIB_RESULT_ADDRTYPE, .fib_flags = NFTA_FIB_F_DADDR, .len = 4,
				    .l4proto = -1, .byteorder = BO_HOST },
	[ZT_KEY_FIB_DADDR_OIFNAME] = { K_FIB, NFT_FIB_RESULT_OIFNAME, .fib_flags = NFTA_FIB_F_DADDR, .len = IFNAMSIZ,
				       .l4proto = -1, .dtype = NFT_TYPE_STRING, .byteorder = BO_HOST },
	/* ip6 hoplimit: nft 1.0.6 adds `meta nfproto ipv6` before it in inet tables. */
	[ZT_KEY_IP6_HOPLIMIT] = { K_PAYLOAD, .base = NFT_PAYLOAD_NETWORK_HEADER, .offset = 7, .len = 1, .nfproto = NFPROTO_IPV6,
				  .l4proto = -1, .dtype = NFT_TYPE_INTEGER, .byteorder = BO_BIG, .desc = NFT_PROTO_IP6, .field = 7 },
};

static const struct key_info *key_get(enum zt_key k)
{
	if ((size_t)k >= ELEMENTSOF(keys) || keys[k].len == 0)
		return NULL;
	return &keys[k];
}

/* Set key/data types: nft datatype, length, byte order. */
struct type_info {
	uint32_t dtype;
	uint32_t len;
	int byteorder;
};

static const struct type_info types[] = {
	[ZT_TYPE_IFNAME] = { NFT_TYPE_IFNAME, IFNAMSIZ, BO_HOST },
	[ZT_TYPE_FIB_IFNAME] = { NFT_TYPE_STRING, IFNAMSIZ, BO_HOST },
	[ZT_TYPE_IPV4] = { NFT_TYPE_IPADDR, 4, BO_BIG },
	[ZT_TYPE_IPV6] = { NFT_TYPE_IP6ADDR, 16, BO_BIG },
	[ZT_TYPE_MARK] = { NFT_TYPE_MARK, 4, BO_HOST },
	[ZT_TYPE_INET_PROTO] = { NFT_TYPE_INET_PROTOCOL, 1, BO_BIG },
	[ZT_TYPE_INET_SERVICE] = { NFT_TYPE_INET_SERVICE, 2, BO_BIG },
	[ZT_TYPE_ICMP_TYPE] = { NFT_TYPE_ICMP_TYPE, 1, BO_BIG },
	[ZT_TYPE_ICMPV6_TYPE] = { NFT_TYPE_ICMP6_TYPE, 1, BO_BIG },
};

static const struct type_info *type_get(enum zt_type t)
{
	if ((size_t)t >= ELEMENTSOF(types) || types[t].len == 0)
		return NULL;
	return &types[t];
}

static void udata_freep(struct nftnl_udata_buf **p)
{
	if (*p)
		nftnl_udata_buf_free(*p);
}

static uint32_t round4(uint32_t n)
{
	return (n + 3) & ~3u;
}

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
		size_t cap = b->cap ? b->cap * 2 : 4 * MSG_ROOM;
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

static uint32_t set_id_find(const struct zt_batch *b, const char *name)
{
	if (!b)
		return 0;
	for (size_t i = 0; i < b->n_set_ids; i++)
		if (streq(b->set_ids[i].name, name))
			return b->set_ids[i].id;
	return 0;
}

static bool name_valid(const char *name)
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

/* ---- set keys and elements ----------------------------------------------- */

/* One key field as a byte range [lo, hi] (inclusive), in the set's byte order. */
struct field {
	uint8_t lo[16], hi[16];
	uint32_t len;
};

static int field_encode(enum zt_type t, const struct zt_value *v, bool big_endian_mark, struct field *f)
{
	const struct type_info *ti = type_get(t);
	uint32_t lo, hi;

	if (!ti)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->len = ti->len;
	switch (t) {
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME: {
		size_t n = strnlen(v->ifpat.name, IFNAMSIZ);

		if (n == 0 || n >= IFNAMSIZ)
			return -EINVAL;
		memcpy(f->lo, v->ifpat.name, n);
		memcpy(f->hi, v->ifpat.name, n);
		/* "vweb*": every name starting with "vweb", padded with 0xff. */
		if (v->ifpat.wildcard)
			memset(f->hi + n, 0xff, IFNAMSIZ - n);
		return 0;
	}
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		uint8_t family = t == ZT_TYPE_IPV4 ? AF_INET : AF_INET6;

		if (zt_value_family(v) != family || (!v->is_range && v->cidr.plen > ZT_MAX_PLEN(family)))
			return -EINVAL;
		zt_value_addr_bounds(v, f->lo, f->hi);
		if (v->is_range && memcmp(f->lo, f->hi, f->len) >= 0)
			return -EINVAL;
		return 0;
	}
	case ZT_TYPE_MARK:
		/* Host order, but interval concatenations are compared big endian. */
		if (big_endian_mark) {
			uint32_t be = htonl(v->u32);

			memcpy(f->lo, &be, 4);
		} else
			memcpy(f->lo, &v->u32, 4);
		memcpy(f->hi, f->lo, 4);
		return 0;
	case ZT_TYPE_INET_PROTO:
	case ZT_TYPE_ICMP_TYPE:
	case ZT_TYPE_ICMPV6_TYPE:
		if (v->u32 > 255)
			return -EINVAL;
		f->lo[0] = f->hi[0] = (uint8_t)v->u32;
		return 0;
	case ZT_TYPE_INET_SERVICE:
		lo = v->u32;
		/* A single port may leave u32_hi at 0 (render.c does the same). */
		hi = v->u32_hi > lo ? v->u32_hi : lo;
		if (hi > 65535)
			return -EINVAL;
		f->lo[0] = (uint8_t)(lo >> 8);
		f->lo[1] = (uint8_t)lo;
		f->hi[0] = (uint8_t)(hi >> 8);
		f->hi[1] = (uint8_t)hi;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool field_is_range(const struct field *f)
{
	return memcmp(f->lo, f->hi, f->len) != 0;
}

/* Big-endian increment; false when it wraps (the range ends at the top). */
static bool bytes_inc(uint8_t *p, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++p[i] != 0)
			return true;
	return false;
}

static bool bytes_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int enc_push(struct zt_set_enc *e, struct nftnl_set_elem *el, size_t plan_elem)
{
	if (ZT_GROW(e->elems, e->cap, e->n + 1) < 0) {
		nftnl_set_elem_free(el);
		return -ENOMEM;
	}
	/* Both arrays share cap: grow the second to the same size. */
	{
		size_t *p = realloc(e->plan_elem, e->cap * sizeof(*p));

		if (!p) {
			nftnl_set_elem_free(el);
			return -ENOMEM;
		}
		e->plan_elem = p;
	}
	e->elems[e->n] = el;
	e->plan_elem[e->n++] = plan_elem;
	return 0;
}

void zt_set_enc_clear(struct zt_set_enc *e)
{
	if (e->set)
		nftnl_set_free(e->set);
	for (size_t i = 0; i < e->n; i++)
		nftnl_set_elem_free(e->elems[i]);
	free(e->elems);
	free(e->plan_elem);
	*e = (struct zt_set_enc){};
}

static int elem_data_set(struct nftnl_set_elem *el, enum zt_type data, const struct zt_value *v)
{
	switch (data) {
	case ZT_TYPE_NONE:
		return 0;
	case ZT_TYPE_MARK:
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, &v->u32, sizeof(v->u32));
		return 0;
	case ZT_TYPE_COUNTER:
		if (!name_valid(v->counter))
			return -EINVAL;
		nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_OBJREF, v->counter);
		return 0;
	case ZT_TYPE_VERDICT:
		switch (v->verdict.code) {
		case ZT_V_ACCEPT:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NF_ACCEPT);
			return 0;
		case ZT_V_DROP:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NF_DROP);
			return 0;
		case ZT_V_RETURN:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_RETURN);
			return 0;
		case ZT_V_CONTINUE:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_CONTINUE);
			return 0;
		case ZT_V_JUMP:
		case ZT_V_GOTO:
			if (!name_valid(v->verdict.chain))
				return -EINVAL;
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT,
					       (uint32_t)(v->verdict.code == ZT_V_JUMP ? NFT_JUMP : NFT_GOTO));
			nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, v->verdict.chain);
			return 0;
		default:
			return -EINVAL;
		}
	default:
		return -EINVAL;
	}
}

static int elem_new(struct zt_set_enc *e, const uint8_t *key, uint32_t keylen, const uint8_t *key_end,
		    uint32_t flags, enum zt_type data, const struct zt_value *dv, size_t plan_elem)
{
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();
	int r;

	if (!el)
		return -ENOMEM;
	if (flags)
		nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, keylen);
	if (key_end)
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key_end, keylen);
	if (dv) {
		r = elem_data_set(el, data, dv);
		if (r < 0) {
			nftnl_set_elem_free(el);
			return r;
		}
	}
	return enc_push(e, el, plan_elem);
}

static int elem_mark_open(struct nftnl_set_elem *el)
{
	_cleanup_(udata_freep) struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(USERDATA_MAX);

	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		return -ENOMEM;
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	return 0;
}

/* A single-field range for the interval encoding. */
struct range {
	uint8_t lo[16], end[16];	/* end: first value after the range */
	bool open;			/* the range reaches the top: no end element */
	size_t idx;			/* plan element */
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	int c = memcmp(x->lo, y->lo, sizeof(x->lo));

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Interval sets of one field, as nft 1.0.6 encodes them: sorted; an
 * interval-end element at 0 unless the first range starts there; each
 * range as its start (carrying the data) and, unless it reaches the top of
 * the key space, an interval-end element just after it. Anonymous sets
 * are merged first (nft merges overlapping and adjacent ranges there).
 */
static int interval_encode(struct zt_set_enc *e, enum zt_type t, const struct zt_value *vals, size_t stride,
			   size_t n, enum zt_type data, const struct zt_value *dvals, bool merge)
{
	_cleanup_free_ struct range *rg = NULL;
	uint32_t len = type_get(t)->len;
	size_t m = 0;
	int r;

	if (n == 0)
		return 0;
	rg = calloc(n, sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct zt_value *v = (const struct zt_value *)((const char *)vals + i * stride);
		struct field f;

		r = field_encode(t, v, false, &f);
		if (r < 0)
			return r;
		memcpy(rg[i].lo, f.lo, len);
		memcpy(rg[i].end, f.hi, len);
		rg[i].open = !bytes_inc(rg[i].end, len);
		rg[i].idx = i;
	}
	qsort(rg, n, sizeof(*rg), range_cmp);
	if (merge) {
		for (size_t i = 1; i < n; i++) {
			struct range *cur = &rg[m];

			if (!cur->open && memcmp(rg[i].lo, cur->end, len) > 0) {
				rg[++m] = rg[i];
				continue;
			}
			if (rg[i].open || (!cur->open && memcmp(rg[i].end, cur->end, len) > 0)) {
				memcpy(cur->end, rg[i].end, len);
				cur->open = rg[i].open;
			}
		}
		n = m + 1;
	}
	if (!bytes_zero(rg[0].lo, len)) {
		uint8_t zero[16] = {};

		r = elem_new(e, zero, len, NULL, NFT_SET_ELEM_INTERVAL_END, data, NULL, SIZE_MAX);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		const struct zt_value *dv = NULL;

		if (data != ZT_TYPE_NONE)
			dv = (const struct zt_value *)((const char *)dvals + rg[i].idx * stride);
		r = elem_new(e, rg[i].lo, len, NULL, 0, data, dv, rg[i].idx);
		if (r < 0)
			return r;
		/* nft marks a range that reaches the top (it has no end element). */
		if (rg[i].open) {
			r = elem_mark_open(e->elems[e->n - 1]);
			if (r < 0)
				return r;
		} else {
			r = elem_new(e, rg[i].end, len, NULL, NFT_SET_ELEM_INTERVAL_END, data, NULL, rg[i].idx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Concatenated (or single-field hash) keys: fields padded to 32 bits. */
static int concat_encode(struct zt_set_enc *e, const struct zt_set *s)
{
	for (size_t i = 0; i < s->n_elems; i++) {
		const struct zt_elem *el = &s->elems[i];
		uint8_t key[KEY_MAX] = {}, key_end[KEY_MAX] = {};
		uint32_t off = 0;
		bool range = false;
		int r;

		for (size_t k = 0; k < s->n_key; k++) {
			struct field f;

			r = field_encode(s->key[k], &el->key[k], s->interval, &f);
			if (r < 0)
				return r;
			range |= field_is_range(&f);
			memcpy(key + off, f.lo, f.len);
			memcpy(key_end + off, f.hi, f.len);
			off += s->n_key > 1 ? round4(f.len) : f.len;
		}
		/* A hash set holds single values only. */
		if (range && !s->interval)
			return -EINVAL;
		r = elem_new(e, key, off, s->interval ? key_end : NULL, 0, s->data, &el->data, i);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool udata_typeof_key(struct nftnl_udata_buf *ud, uint8_t type, const struct key_info *ki)
{
	struct nftnl_udata *nest, *data;

	nest = nftnl_udata_nest_start(ud, type);
	if (!nest)
		return false;
	switch (ki->kind) {
	case K_META:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_META))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key))
			return false;
		break;
	case K_PAYLOAD:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_PAYLOAD))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->desc) || !nftnl_udata_put_u32(ud, 1, ki->field))
			return false;
		break;
	case K_CT:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_CT))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key))
			return false;
		break;
	case K_FIB:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_FIB))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key) || !nftnl_udata_put_u32(ud, 1, ki->fib_flags))
			return false;
		break;
	default:
		return false;
	}
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
	return true;
}

/* A typeof entry with only the expression kind: concatenations, verdicts. */
static bool udata_typeof_bare(struct nftnl_udata_buf *ud, uint8_t type, uint32_t expr)
{
	struct nftnl_udata *nest, *data;

	nest = nftnl_udata_nest_start(ud, type);
	if (!nest || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, expr))
		return false;
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	if (!data)
		return false;
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
	return true;
}

/*
 * set NAME { type K [. K…] [: D]; [flags interval;] [comment "…";] }
 * map route_owner { typeof fib saddr oifname : verdict; flags interval; }
 */
static int named_set_def(const struct zt_set *s, struct nftnl_set *ns)
{
	_cleanup_(udata_freep) struct nftnl_udata_buf *ud_holder = NULL;
	uint8_t field_len[NFT_REG32_COUNT] = {};
	uint32_t flags = 0, key_type = 0, key_len = 0;
	bool use_typeof = false;
	struct nftnl_udata_buf *ud;

	if (!name_valid(s->name) || s->n_key == 0 || s->n_key > ZT_MAX_CONCAT)
		return -EINVAL;
	for (size_t i = 0; i < s->n_key; i++) {
		const struct type_info *ti = type_get(s->key[i]);

		if (!ti)
			return -EINVAL;
		if (s->key[i] == ZT_TYPE_FIB_IFNAME)
			use_typeof = true;
		key_type = (key_type << NFT_TYPE_BITS) | ti->dtype;
		key_len += s->n_key > 1 ? round4(ti->len) : ti->len;
		field_len[i] = (uint8_t)ti->len;
	}
	if (use_typeof && s->n_key > 1)
		return -EINVAL;

	nftnl_set_set_str(ns, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (s->interval)
		flags |= NFT_SET_INTERVAL;
	if (s->n_key > 1)
		flags |= NFT_SET_CONCAT;
	switch (s->data) {
	case ZT_TYPE_NONE:
		break;
	case ZT_TYPE_COUNTER:
		flags |= NFT_SET_OBJECT;
		break;
	case ZT_TYPE_MARK:
	case ZT_TYPE_VERDICT:
		flags |= NFT_SET_MAP;
		break;
	default:
		return -EINVAL;
	}
	/* nft marks a concatenation only where it is an interval (pipapo) set. */
	if (!s->interval)
		flags &= ~NFT_SET_CONCAT;
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, key_len);
	if (s->data == ZT_TYPE_VERDICT) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 0);
	} else if (s->data == ZT_TYPE_MARK) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_TYPE_MARK);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 4);
	} else if (s->data == ZT_TYPE_COUNTER)
		nftnl_set_set_u32(ns, NFTNL_SET_OBJ_TYPE, NFT_OBJECT_COUNTER);
	if (s->interval && s->n_key > 1)
		nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));

	ud = ud_holder = nftnl_udata_buf_alloc(USERDATA_MAX);
	if (!ud)
		return -ENOMEM;
	/* Byte orders: nft's, with 0 ("invalid") for concatenations and verdicts. */
	if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
				 s->n_key > 1 ? BO_INVALID : (uint32_t)type_get(s->key[0])->byteorder))
		return -ENOMEM;
	if ((s->data == ZT_TYPE_MARK || s->data == ZT_TYPE_VERDICT) &&
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, s->data == ZT_TYPE_MARK ? BO_HOST : BO_INVALID))
		return -ENOMEM;
	if (use_typeof) {
		if (!udata_typeof_key(ud, NFTNL_UDATA_SET_KEY_TYPEOF, &keys[ZT_KEY_FIB_SADDR_OIFNAME]))
			return -ENOMEM;
		if (s->data == ZT_TYPE_VERDICT && !udata_typeof_bare(ud, NFTNL_UDATA_SET_DATA_TYPEOF, NFT_EXPR_VERDICT))
			return -ENOMEM;
		if (s->data == ZT_TYPE_MARK && !udata_typeof_key(ud, NFTNL_UDATA_SET_DATA_TYPEOF, &keys[ZT_KEY_CT_MARK]))
			return -ENOMEM;
	} else if (s->n_key > 1 && !udata_typeof_bare(ud, NFTNL_UDATA_SET_KEY_TYPEOF, NFT_EXPR_CONCAT))
		return -ENOMEM;
	if (s->data != ZT_TYPE_NONE && !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0))
		return -ENOMEM;
	if (s->comment[0]) {
		char c[ZT_NFT_STR_MAX + 1];

		if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_COMMENT,
					  zt_nft_str(c, s->comment, sizeof(s->comment), ZT_NFT_COMMENT)))
			return -ENOMEM;
	}
	nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	return 0;
}

int zt_set_encode(const struct zt_set *s, struct zt_set_enc *ret)
{
	struct zt_set_enc e = {};
	int r;

	e.set = nftnl_set_alloc();
	if (!e.set)
		return -ENOMEM;
	r = named_set_def(s, e.set);
	if (r < 0)
		goto fail;
	if (s->n_elems && !s->elems) {
		r = -EINVAL;
		goto fail;
	}
	if (!s->dynamic && s->n_elems) {
		if (s->interval && s->n_key == 1)
			r = interval_encode(&e, s->key[0], &s->elems[0].key[0], sizeof(s->elems[0]), s->n_elems,
					    s->data, &s->elems[0].data, false);
		else
			r = concat_encode(&e, s);
		if (r < 0)
			goto fail;
	}
	*ret = e;
	return 0;
fail:
	zt_set_enc_clear(&e);
	return r;
}

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

			if (pe < s->n_elems && s->elems[pe].pos.file) {
				src->pos = s->elems[pe].pos;
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

	if (msg_type != NFT_MSG_NEWSETELEM && msg_type != NFT_MSG_DELSETELEM)
		return -EINVAL;
	snprintf(src.name, sizeof(src.name), "%s", s->name);
	r = elems_emit(b, &src, s->name, set_id_find(b, s->name), enc, which, which ? n_which : enc->n, msg_type);
	if (r < 0)
		return r;
	elem_src_pos(b, first, s);
	return 0;
}

int zt_emit_set(struct zt_batch *b, const struct zt_set *s)
{
	struct zt_bsrc src = { .msg_type = NFT_MSG_NEWSET, .obj = ZT_BOBJ_SET };
	struct zt_set_enc enc = {};
	struct nlmsghdr *nlh;
	uint32_t id;
	int r;

	r = zt_set_encode(s, &enc);
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
	if (r < 0)
		goto out;
	if (enc.n)
		r = zt_emit_elems(b, s, &enc, NULL, 0, NFT_MSG_NEWSETELEM);
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

/* ---- rules --------------------------------------------------------------- */

struct rctx {
	struct nftnl_rule *r;
	struct zt_batch *b;
	struct zt_rule_enc *enc;
	uint32_t local_set_id;	/* set ids when there is no batch */
	uint8_t nfproto;	/* what earlier expressions established */
	int l4proto;
	bool nomem;
};

static struct nftnl_expr *expr_new(struct rctx *c, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		c->nomem = true;
	return e;
}

static void expr_add(struct rctx *c, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(c->r, e);
}

static void e_meta(struct rctx *c, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new(c, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	expr_add(c, e);
}

static void e_cmp(struct rctx *c, enum nft_cmp_ops op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr_new(c, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	expr_add(c, e);
}

static void e_payload(struct rctx *c, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new(c, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	expr_add(c, e);
}

static void e_bitwise(struct rctx *c, uint32_t len, const void *mask, const void *xor, bool op)
{
	struct nftnl_expr *e = expr_new(c, "bitwise");

	if (!e)
		return;
	/* nft names the operation only for a statement (`ct mark set ct mark | x`). */
	if (op)
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
	expr_add(c, e);
}

static void e_ct_load(struct rctx *c, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = expr_new(c, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
	expr_add(c, e);
}

/* ct mark set <reg 1> */
static void e_ct_set_mark(struct rctx *c)
{
	struct nftnl_expr *e = expr_new(c, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	expr_add(c, e);
}

static void e_imm_u32(struct rctx *c, uint32_t v)
{
	struct nftnl_expr *e = expr_new(c, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &v, sizeof(v));
	expr_add(c, e);
}

static int e_verdict(struct rctx *c, const struct zt_verdict *v)
{
	struct nftnl_expr *e;
	int code;

	switch (v->code) {
	case ZT_V_NONE:
		return 0;
	case ZT_V_ACCEPT:
		code = NF_ACCEPT;
		break;
	case ZT_V_DROP:
		code = NF_DROP;
		break;
	case ZT_V_RETURN:
		code = NFT_RETURN;
		break;
	case ZT_V_CONTINUE:
		code = NFT_CONTINUE;
		break;
	case ZT_V_JUMP:
		code = NFT_JUMP;
		break;
	case ZT_V_GOTO:
		code = NFT_GOTO;
		break;
	default:
		return -EINVAL;
	}
	if ((v->code == ZT_V_JUMP || v->code == ZT_V_GOTO) && !name_valid(v->chain))
		return -EINVAL;
	e = expr_new(c, "immediate");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)code);
	if (v->code == ZT_V_JUMP || v->code == ZT_V_GOTO)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, v->chain);
	expr_add(c, e);
	return 0;
}

static void e_lookup(struct rctx *c, const char *set, uint32_t set_id, int dreg, bool inv)
{
	struct nftnl_expr *e = expr_new(c, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (set_id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	expr_add(c, e);
}

static void e_byteorder_hton(struct rctx *c, uint32_t reg, uint32_t len, uint32_t size)
{
	struct nftnl_expr *e = expr_new(c, "byteorder");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, size);
	expr_add(c, e);
}

/* meta nfproto ipv4 / meta l4proto icmp: what nft inserts before a key that needs it. */
static void deps_add(struct rctx *c, const struct key_info *ki)
{
	if (ki->l4proto >= 0 && c->l4proto == ki->l4proto)
		return;
	if (ki->nfproto && c->nfproto != ki->nfproto) {
		e_meta(c, NFT_META_NFPROTO, NFT_REG_1);
		e_cmp(c, NFT_CMP_EQ, &ki->nfproto, 1);
		c->nfproto = ki->nfproto;
	}
	if (ki->l4proto >= 0) {
		uint8_t p = (uint8_t)ki->l4proto;

		e_meta(c, NFT_META_L4PROTO, NFT_REG_1);
		e_cmp(c, NFT_CMP_EQ, &p, 1);
		c->l4proto = ki->l4proto;
	}
}

static void key_load(struct rctx *c, const struct key_info *ki, uint32_t dreg, bool present)
{
	struct nftnl_expr *e;

	switch (ki->kind) {
	case K_META:
		e_meta(c, ki->key, dreg);
		return;
	case K_PAYLOAD:
		e_payload(c, ki->base, ki->offset, ki->len, dreg);
		return;
	case K_CT:
		e_ct_load(c, ki->key, dreg);
		return;
	case K_FIB:
		e = expr_new(c, "fib");
		if (!e)
			return;
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, ki->fib_flags | (present ? NFTA_FIB_F_PRESENT : 0));
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, ki->key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, dreg);
		expr_add(c, e);
		return;
	case K_RT:
		e = expr_new(c, "rt");
		if (!e)
			return;
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_KEY, ki->key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_RT_DREG, dreg);
		expr_add(c, e);
		return;
	}
}

/*
 * Load one key or a concatenation into registers from reg 1 on. nft puts
 * the first field in NFT_REG_1 and the next ones in the 32-bit registers
 * that follow; interval (pipapo) lookups want host-order fields swapped.
 */
static int keys_load(struct rctx *c, const enum zt_key *k, size_t n, bool interval)
{
	uint32_t words = 0;

	if (n == 0 || n > ZT_MAX_CONCAT)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!key_get(k[i]))
			return -EINVAL;
		words += round4(keys[k[i]].len) / 4;
	}
	/* A concatenation fills consecutive 32-bit registers, 16 of them. */
	if (words > NFT_REG32_COUNT)
		return -EINVAL;
	words = 0;
	for (size_t i = 0; i < n; i++)
		deps_add(c, &keys[k[i]]);
	for (size_t i = 0; i < n; i++) {
		const struct key_info *ki = &keys[k[i]];
		uint32_t reg = i == 0 ? NFT_REG_1 : NFT_REG32_00 + words;

		key_load(c, ki, reg, false);
		if (n > 1 && interval && ki->byteorder == BO_HOST)
			e_byteorder_hton(c, reg, ki->len, ki->len == 4 ? 4 : 2);
		words += round4(ki->len) / 4;
	}
	return 0;
}

/* The value a single key is compared with, and its length. */
static int match_value(const struct key_info *ki, enum zt_key k, const struct zt_value *v, uint8_t *buf,
		       uint32_t *len, uint32_t *plen_bits)
{
	*plen_bits = ki->len * 8;
	switch (k) {
	case ZT_KEY_FIB_DADDR_TYPE:
		/* fib daddr type local: an RTN_* number. */
		memcpy(buf, &v->u32, 4);
		*len = 4;
		return 0;
	case ZT_KEY_IIF:
	case ZT_KEY_OIF:
		/* nft resolves names when it loads; only "lo" is the same everywhere. */
		if (v->type == ZT_TYPE_IFNAME) {
			if (!streq(v->ifpat.name, "lo") || v->ifpat.wildcard)
				return -EINVAL;
			uint32_t one = 1;

			memcpy(buf, &one, 4);
		} else
			memcpy(buf, &v->u32, 4);
		*len = 4;
		return 0;
	case ZT_KEY_IIFNAME:
	case ZT_KEY_OIFNAME: {
		size_t n = strnlen(v->ifpat.name, IFNAMSIZ);

		if (v->type != ZT_TYPE_IFNAME || n == 0 || n >= IFNAMSIZ)
			return -EINVAL;
		memset(buf, 0, IFNAMSIZ);
		memcpy(buf, v->ifpat.name, n);
		/* A wildcard compares the prefix only; a name, all 16 bytes. */
		*len = v->ifpat.wildcard ? (uint32_t)n : IFNAMSIZ;
		*plen_bits = *len * 8;
		return 0;
	}
	case ZT_KEY_IP_SADDR:
	case ZT_KEY_IP_DADDR:
	case ZT_KEY_IP6_SADDR:
	case ZT_KEY_IP6_DADDR: {
		uint8_t family = ki->len == 4 ? AF_INET : AF_INET6;

		if (v->cidr.family != family || v->cidr.plen > ZT_MAX_PLEN(family) || v->cidr.plen == 0)
			return -EINVAL;
		memcpy(buf, v->cidr.addr, ki->len);
		*len = ki->len;
		*plen_bits = v->cidr.plen;
		return 0;
	}
	case ZT_KEY_L4PROTO:
	case ZT_KEY_ICMP_TYPE:
	case ZT_KEY_ICMPV6_TYPE:
	case ZT_KEY_CT_DIRECTION:
	case ZT_KEY_IP6_HOPLIMIT:
		if (v->u32 > 255)
			return -EINVAL;
		buf[0] = (uint8_t)v->u32;
		*len = 1;
		return 0;
	case ZT_KEY_TH_DPORT:
		if (v->u32 > 65535)
			return -EINVAL;
		buf[0] = (uint8_t)(v->u32 >> 8);
		buf[1] = (uint8_t)v->u32;
		*len = 2;
		return 0;
	case ZT_KEY_CT_MARK:
		memcpy(buf, &v->u32, 4);
		*len = 4;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * KEY VALUE / KEY != VALUE. Prefixes as nft 1.0.6 writes them:
 * `ip saddr 192.0.2.0/24` loads and compares 3 bytes, `ip saddr
 * 192.0.2.0/26` masks the whole address first.
 */
static int match_eq(struct rctx *c, enum zt_key k, const struct zt_value *v, bool ne)
{
	const struct key_info *ki = key_get(k);
	uint8_t buf[16] = {};
	uint32_t len, plen;
	int r;

	if (!ki || (ki->kind == K_FIB && k != ZT_KEY_FIB_DADDR_TYPE) || k == ZT_KEY_CT_STATE)
		return -EINVAL;
	r = match_value(ki, k, v, buf, &len, &plen);
	if (r < 0)
		return r;
	deps_add(c, ki);
	if (ki->kind == K_PAYLOAD && plen < len * 8) {
		if (plen % 8 == 0) {
			e_payload(c, ki->base, ki->offset, plen / 8, NFT_REG_1);
			e_cmp(c, ne ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, plen / 8);
		} else {
			uint8_t mask[16] = {}, zero[16] = {};

			for (uint32_t i = 0; i < len; i++) {
				unsigned bits = plen > i * 8 ? plen - i * 8 : 0;

				mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
				buf[i] &= mask[i];
			}
			e_payload(c, ki->base, ki->offset, len, NFT_REG_1);
			e_bitwise(c, len, mask, zero, false);
			e_cmp(c, ne ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, len);
		}
	} else {
		key_load(c, ki, NFT_REG_1, false);
		e_cmp(c, ne ? NFT_CMP_NEQ : NFT_CMP_EQ, buf, len);
	}
	/* `meta l4proto icmp` stands in for the dependency of a later `icmp type`. */
	if (k == ZT_KEY_L4PROTO && !ne)
		c->l4proto = (int)v->u32;
	return 0;
}

static uint32_t next_set_id(struct rctx *c)
{
	return c->b ? c->b->next_set_id++ : c->local_set_id++;
}

/* KEY { v1, v2, … }: an anonymous constant set, or a plain compare for one value. */
static int match_anon(struct rctx *c, enum zt_key k, const struct zt_anon *a)
{
	_cleanup_(udata_freep) struct nftnl_udata_buf *ud = NULL;
	const struct key_info *ki = key_get(k);
	const struct type_info *ti;
	struct zt_set_enc *enc;
	uint32_t flags, id;
	bool interval;
	int r;

	if (!ki || a->n == 0 || !a->v || !(ti = type_get(a->type)))
		return -EINVAL;
	/* nft 1.0.6 turns a set of one element into a compare before anything else. */
	if (a->n == 1)
		return match_eq(c, k, &a->v[0], false);
	if (c->enc->n_anon >= ELEMENTSOF(c->enc->anon))
		return -EINVAL;
	/* nft makes the set an interval one when some element is a range, whatever asked. */
	interval = false;
	for (size_t i = 0; i < a->n; i++) {
		struct field f;

		r = field_encode(a->type, &a->v[i], false, &f);
		if (r < 0)
			return r;
		interval |= field_is_range(&f);
	}
	enc = &c->enc->anon[c->enc->n_anon++];
	enc->set = nftnl_set_alloc();
	if (!enc->set)
		return -ENOMEM;
	if (interval)
		r = interval_encode(enc, a->type, a->v, sizeof(a->v[0]), a->n, ZT_TYPE_NONE, NULL, true);
	else {
		r = 0;
		for (size_t i = 0; r >= 0 && i < a->n; i++) {
			struct field f;

			r = field_encode(a->type, &a->v[i], false, &f);
			if (r >= 0 && field_is_range(&f))
				r = -EINVAL;
			if (r >= 0)
				r = elem_new(enc, f.lo, f.len, NULL, 0, ZT_TYPE_NONE, NULL, i);
		}
	}
	if (r < 0)
		return r;

	id = next_set_id(c);
	flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | (interval ? NFT_SET_INTERVAL : 0);
	nftnl_set_set_str(enc->set, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(enc->set, NFTNL_SET_NAME, "__set%d");
	nftnl_set_set_u32(enc->set, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_u32(enc->set, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(enc->set, NFTNL_SET_KEY_TYPE, ti->dtype);
	nftnl_set_set_u32(enc->set, NFTNL_SET_KEY_LEN, ti->len);
	nftnl_set_set_u32(enc->set, NFTNL_SET_ID, id);
	nftnl_set_set_u32(enc->set, NFTNL_SET_DESC_SIZE, (uint32_t)enc->n);
	ud = nftnl_udata_buf_alloc(USERDATA_MAX);
	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, (uint32_t)ki->byteorder))
		return -ENOMEM;
	if (interval && !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_MERGE_ELEMENTS, 1))
		return -ENOMEM;
	if (!udata_typeof_key(ud, NFTNL_UDATA_SET_KEY_TYPEOF, ki))
		return -ENOMEM;
	nftnl_set_set_data(enc->set, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));

	deps_add(c, ki);
	key_load(c, ki, NFT_REG_1, false);
	e_lookup(c, "__set%d", id, -1, false);
	return 0;
}

/* ct state established,related: a bit test. */
static void match_ct_state(struct rctx *c, uint32_t mask)
{
	uint32_t zero = 0;

	e_ct_load(c, NFT_CT_STATE, NFT_REG_1);
	e_bitwise(c, 4, &mask, &zero, false);
	e_cmp(c, NFT_CMP_NEQ, &zero, 4);
}

static int match_add(struct rctx *c, const struct zt_match *m)
{
	const struct key_info *ki;
	uint8_t v[4] = {};

	switch (m->op) {
	case ZT_M_EQ:
	case ZT_M_NE:
		if (m->n_key != 1)
			return -EINVAL;
		return match_eq(c, m->key[0], &m->value, m->op == ZT_M_NE);
	case ZT_M_IN_SET:
	case ZT_M_NOT_IN_SET:
		/* iifname @member_if / iifname != @enc_if */
		if (!name_valid(m->set))
			return -EINVAL;
		if (keys_load(c, m->key, m->n_key, false) < 0)
			return -EINVAL;
		e_lookup(c, m->set, set_id_find(c->b, m->set), -1, m->op == ZT_M_NOT_IN_SET);
		return 0;
	case ZT_M_IN_ANON:
		if (m->n_key != 1)
			return -EINVAL;
		return match_anon(c, m->key[0], &m->anon);
	case ZT_M_CT_STATE:
		if (m->ct_state == 0)
			return -EINVAL;
		match_ct_state(c, m->ct_state);
		return 0;
	case ZT_M_CT_DIR_REPLY:
		/* ct direction reply */
		v[0] = 1;	/* IP_CT_DIR_REPLY */
		e_ct_load(c, NFT_CT_DIRECTION, NFT_REG_1);
		e_cmp(c, NFT_CMP_EQ, v, 1);
		return 0;
	case ZT_M_MISSING:
	case ZT_M_EXISTS:
		/* fib saddr . iif oif missing / meta ipsec missing / rt ipsec exists */
		if (m->n_key != 1 || !(ki = key_get(m->key[0])))
			return -EINVAL;
		if (ki->kind == K_FIB) {
			if (ki->key != NFT_FIB_RESULT_OIF)
				return -EINVAL;
			key_load(c, ki, NFT_REG_1, true);
			v[0] = m->op == ZT_M_EXISTS;
			e_cmp(c, NFT_CMP_EQ, v, 4);
			return 0;
		}
		if (m->key[0] != ZT_KEY_META_IPSEC && m->key[0] != ZT_KEY_RT_IPSEC)
			return -EINVAL;
		key_load(c, ki, NFT_REG_1, false);
		v[0] = m->op == ZT_M_EXISTS;
		e_cmp(c, NFT_CMP_EQ, v, 1);
		return 0;
	default:
		return -EINVAL;
	}
}

/* limit rate 10/second burst 20 packets log group 27 prefix "ztseg deny " */
static int stmt_log(struct rctx *c, const struct zt_stmt *s)
{
	char prefix[ZT_NFT_STR_MAX + 1];
	struct nftnl_expr *e;

	if (s->log_group > 65535)
		return -EINVAL;
	if (s->log_rate) {
		e = expr_new(c, "limit");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, s->log_rate);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
		/* nft's default burst for packet limits. */
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, s->log_burst ? s->log_burst : 5);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
		expr_add(c, e);
	}
	e = expr_new(c, "log");
	if (!e)
		return -ENOMEM;
	if (s->log_prefix[0]) {
		zt_nft_str(prefix, s->log_prefix, sizeof(s->log_prefix), ZT_NFT_LOG_PREFIX);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
	}
	nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, (uint16_t)s->log_group);
	expr_add(c, e);
	return 0;
}

static int stmt_add(struct rctx *c, const struct zt_stmt *s, bool interval_set)
{
	struct nftnl_expr *e;
	uint32_t set_id;

	switch (s->kind) {
	case ZT_S_COUNTER_NAMED:
		/* counter name "c_80001234" */
		if (!name_valid(s->counter))
			return -EINVAL;
		e = expr_new(c, "objref");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, s->counter);
		expr_add(c, e);
		return 0;
	case ZT_S_COUNTER_MAP:
		/* counter name ct mark map @fcnt */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		e = expr_new(c, "objref");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_SET_NAME, s->set);
		set_id = set_id_find(c->b, s->set);
		if (set_id)
			nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_SET_ID, set_id);
		expr_add(c, e);
		return 0;
	case ZT_S_CT_MARK_SET:
		/* ct mark set 0x80001234 */
		e_imm_u32(c, s->u32);
		e_ct_set_mark(c);
		return 0;
	case ZT_S_CT_MARK_SET_MAP:
		/* ct mark set ip daddr map @dst4 */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		e_lookup(c, s->set, set_id_find(c->b, s->set), NFT_REG_1, false);
		e_ct_set_mark(c);
		return 0;
	case ZT_S_CT_MARK_OR: {
		/* ct mark set ct mark | 0x00030000 */
		uint32_t mask = ~s->u32, xor = s->u32;

		e_ct_load(c, NFT_CT_MARK, NFT_REG_1);
		e_bitwise(c, 4, &mask, &xor, true);
		e_ct_set_mark(c);
		return 0;
	}
	case ZT_S_CT_MARK_XOR: {
		/* ct mark set ct mark ^ 0x8a41c3d2 */
		uint32_t mask = 0xffffffff, xor = s->u32;

		e_ct_load(c, NFT_CT_MARK, NFT_REG_1);
		e_bitwise(c, 4, &mask, &xor, true);
		e_ct_set_mark(c);
		return 0;
	}
	case ZT_S_LOG:
		return stmt_log(c, s);
	case ZT_S_VMAP:
		/* ct mark . meta l4proto . th dport vmap @fp */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		e_lookup(c, s->set, set_id_find(c->b, s->set), NFT_REG_VERDICT, false);
		return 0;
	case ZT_S_REJECT_TCP_RST:
		/* meta l4proto tcp reject with tcp reset */
		if (c->l4proto != IPPROTO_TCP) {
			uint8_t p = IPPROTO_TCP;

			e_meta(c, NFT_META_L4PROTO, NFT_REG_1);
			e_cmp(c, NFT_CMP_EQ, &p, 1);
			c->l4proto = IPPROTO_TCP;
		}
		e = expr_new(c, "reject");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
		expr_add(c, e);
		return 0;
	case ZT_S_REJECT_ICMPX:
		/* reject with icmpx admin-prohibited */
		e = expr_new(c, "reject");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
		expr_add(c, e);
		return 0;
	case ZT_S_VERDICT:
		return e_verdict(c, &s->verdict);
	default:
		return -EINVAL;
	}
}

void zt_rule_enc_clear(struct zt_rule_enc *e)
{
	if (e->rule)
		nftnl_rule_free(e->rule);
	for (size_t i = 0; i < e->n_anon; i++)
		zt_set_enc_clear(&e->anon[i]);
	*e = (struct zt_rule_enc){};
}

static bool set_is_interval(const struct zt_plan *p, const char *name)
{
	const struct zt_set *s = p ? zt_plan_find_set(p, name) : NULL;

	return s && s->interval;
}

static int rule_udata(struct nftnl_rule *r, const struct zt_rule *rule)
{
	struct nftnl_udata_buf *ud;
	char c[ZT_NFT_STR_MAX + 1];

	if (!rule->comment[0])
		return 0;
	zt_nft_str(c, rule->comment, sizeof(rule->comment), ZT_NFT_COMMENT);
	ud = nftnl_udata_buf_alloc(USERDATA_MAX);
	if (!ud)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, c)) {
		nftnl_udata_buf_free(ud);
		return -ENOMEM;
	}
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	nftnl_udata_buf_free(ud);
	return 0;
}

int zt_rule_encode(const struct zt_plan *p, const struct zt_chain *ch, size_t i, struct zt_batch *b,
		   struct zt_rule_enc *ret)
{
	struct zt_rule_enc enc = {};
	struct rctx c = { .b = b, .enc = &enc, .local_set_id = 1, .l4proto = -1 };
	const struct zt_rule *rule;
	size_t n_exprs = 0;
	int r = 0;

	if (i >= ch->n_rules || !name_valid(ch->name))
		return -EINVAL;
	rule = &ch->rules[i];
	if (rule->n_match > ZT_RULE_MAX_MATCH || rule->n_stmt > ZT_RULE_MAX_STMT)
		return -EINVAL;
	enc.rule = c.r = nftnl_rule_alloc();
	if (!enc.rule)
		return -ENOMEM;
	nftnl_rule_set_str(c.r, NFTNL_RULE_TABLE, ZT_TABLE_NAME);
	nftnl_rule_set_str(c.r, NFTNL_RULE_CHAIN, ch->name);
	nftnl_rule_set_u32(c.r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	for (size_t m = 0; r >= 0 && m < rule->n_match; m++)
		r = match_add(&c, &rule->match[m]);
	for (size_t s = 0; r >= 0 && s < rule->n_stmt; s++)
		r = stmt_add(&c, &rule->stmt[s], set_is_interval(p, rule->stmt[s].set));
	if (r >= 0)
		r = rule_udata(c.r, rule);
	if (r >= 0 && c.nomem)
		r = -ENOMEM;
	if (r >= 0) {
		/* nft has no empty rule. */
		struct nftnl_expr_iter *it = nftnl_expr_iter_create(c.r);

		if (!it)
			r = -ENOMEM;
		else {
			while (nftnl_expr_iter_next(it))
				n_exprs++;
			nftnl_expr_iter_destroy(it);
			if (!n_exprs)
				r = -EINVAL;
		}
	}
	if (r < 0) {
		zt_rule_enc_clear(&enc);
		return r;
	}
	*ret = enc;
	return 0;
}

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
	return r;
}

size_t zt_plan_count_objects(const struct zt_plan *p)
{
	size_t n = 1 + p->n_counters + p->n_sets + p->n_chains;

	for (size_t i = 0; i < p->n_sets; i++)
		n += p->sets[i].dynamic ? 0 : p->sets[i].n_elems;
	for (size_t i = 0; i < p->n_chains; i++)
		n += p->chains[i].n_rules;
	return n;
}
