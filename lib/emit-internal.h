/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What emit's files share: nft's numbers for types and expressions, the
 * key and type tables' shapes, the batch's message helpers. Private to
 * lib/emit*.c.
 */
#pragma once

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
	NFT_TYPE_CGROUPV2 = 46,
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
enum key_kind { K_META, K_PAYLOAD, K_CT, K_FIB, K_RT, K_SOCKET };

struct key_info {
	enum key_kind kind;
	uint32_t key;		/* meta/ct/rt key, fib result */
	uint32_t base, offset;	/* payload */
	uint32_t fib_flags;
	uint32_t level;		/* socket cgroupv2 level */
	uint32_t len;		/* bytes loaded */
	uint8_t nfproto;	/* dependency: meta nfproto (0: none) */
	int l4proto;		/* dependency: meta l4proto (-1: none) */
	uint32_t dtype;		/* nft datatype, for anonymous sets */
	int byteorder;
	uint32_t desc, field;	/* payload: nft's protocol and field ids */
};

/* Set key/data types: nft datatype, length, byte order. */
struct type_info {
	uint32_t dtype;
	uint32_t len;
	int byteorder;
};

static inline void udata_freep(struct nftnl_udata_buf **p)
{
	if (*p)
		nftnl_udata_buf_free(*p);
}

static inline uint32_t round4(uint32_t n)
{
	return (n + 3) & ~3u;
}

/* One key field as a byte range [lo, hi] (inclusive), in the set's byte order. */
struct field {
	uint8_t lo[16], hi[16];
	uint32_t len;
};

/* emit.c */
uint32_t set_id_find(const struct zt_batch *b, const char *name);
bool name_valid(const char *name);

/* emit-set.c */
const struct type_info *type_get(enum zt_type t);
int field_encode(enum zt_type t, const struct zt_value *v, bool big_endian_mark, struct field *f);
bool field_is_range(const struct field *f);
int enc_elem_new(struct zt_set_enc *e, const uint8_t *key, uint32_t keylen, const uint8_t *key_end,
		 uint32_t flags, enum zt_type data, const struct zt_value *dv, size_t plan_elem);
int interval_encode(struct zt_set_enc *e, enum zt_type t, const struct zt_value *vals, size_t stride,
		    size_t n, enum zt_type data, const struct zt_value *dvals, bool merge, bool lead);
bool udata_typeof_key(struct nftnl_udata_buf *ud, uint8_t type, const struct key_info *ki);

/* emit-rule.c */
const struct key_info *key_get(enum zt_key k);
