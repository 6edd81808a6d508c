/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: a rule as nftnl expressions, as nft 1.0.6 builds them: key loads
 * and their dependencies, matches, anonymous sets, statements, verdicts.
 */
#include "emit-internal.h"

static const struct key_info keys[] = {
	[ZT_KEY_IIF] = { K_META, NFT_META_IIF, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_OIF] = { K_META, NFT_META_OIF, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_IFINDEX, .byteorder = BO_HOST },
	[ZT_KEY_IIFNAME] = { K_META, NFT_META_IIFNAME, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_IFNAME, .byteorder = BO_HOST },
	[ZT_KEY_OIFNAME] = { K_META, NFT_META_OIFNAME, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_IFNAME, .byteorder = BO_HOST },
	[ZT_KEY_IIFKIND] = { K_META, NFT_META_IIFKIND, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_STRING, .byteorder = BO_HOST },
	[ZT_KEY_OIFKIND] = { K_META, NFT_META_OIFKIND, .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_STRING, .byteorder = BO_HOST },
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
	[ZT_KEY_FIB_SADDR_IIF_OIFNAME] = { K_FIB, NFT_FIB_RESULT_OIFNAME, .fib_flags = NFTA_FIB_F_SADDR | NFTA_FIB_F_IIF,
					   .len = IFNAMSIZ, .l4proto = -1, .dtype = NFT_TYPE_STRING, .byteorder = BO_HOST },
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
	/* socket cgroupv2 level N: the id of the socket's cgroup's ancestor at level N (8 bytes). */
	[ZT_KEY_SOCKET_CG1] = { K_SOCKET, NFT_SOCKET_CGROUPV2, .level = 1, .len = 8, .l4proto = -1,
				.dtype = NFT_TYPE_CGROUPV2, .byteorder = BO_HOST },
	[ZT_KEY_SOCKET_CG2] = { K_SOCKET, NFT_SOCKET_CGROUPV2, .level = 2, .len = 8, .l4proto = -1,
				.dtype = NFT_TYPE_CGROUPV2, .byteorder = BO_HOST },
	[ZT_KEY_META_MARK] = { K_META, NFT_META_MARK, .len = 4, .l4proto = -1, .dtype = NFT_TYPE_MARK, .byteorder = BO_HOST },
};

const struct key_info *key_get(enum zt_key k)
{
	if ((size_t)k >= ELEMENTSOF(keys) || keys[k].len == 0)
		return NULL;
	return &keys[k];
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

static void e_meta_set(struct rctx *c, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = expr_new(c, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
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

/* immediate reg REG VALUE (a 32-bit datum, host order as nft writes a mark) */
static void e_imm_data(struct rctx *c, uint32_t reg, uint32_t v)
{
	struct nftnl_expr *e = expr_new(c, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &v, sizeof(v));
	expr_add(c, e);
}

static void e_imm_u32(struct rctx *c, uint32_t v)
{
	e_imm_data(c, NFT_REG_1, v);
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
	case K_SOCKET:
		e = expr_new(c, "socket");
		if (!e)
			return;
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, ki->key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_LEVEL, ki->level);
		nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, dreg);
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

/* One source address into reg 1, masked to plen bits when that is less than all of it. */
static int src_masked_load(struct rctx *c, enum zt_key k, uint8_t plen)
{
	const struct key_info *ki = key_get(k);
	uint8_t mask[16] = {}, zero[16] = {};

	if (!ki || (k != ZT_KEY_IP_SADDR && k != ZT_KEY_IP6_SADDR))
		return -EINVAL;
	if (keys_load(c, &k, 1, false) < 0)
		return -EINVAL;
	if (!plen || plen >= ki->len * 8)
		return 0;
	for (unsigned i = 0; i < plen; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	e_bitwise(c, ki->len, mask, zero, false);
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
	case ZT_KEY_OIFNAME:
	case ZT_KEY_IIFKIND:
	case ZT_KEY_OIFKIND: {
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
	case ZT_KEY_META_MARK:
		memcpy(buf, &v->u32, 4);
		*len = 4;
		return 0;
	case ZT_KEY_SOCKET_CG1:
	case ZT_KEY_SOCKET_CG2:
		if (v->type != ZT_TYPE_CGROUP)
			return -EINVAL;
		memcpy(buf, &v->u64, 8);
		*len = 8;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * `meta mark & mmask`: the bits of the mark ztseg owns (doc/RULESET.md
 * "Bridges"); `ct mark & mmask`: one side of a zone pair (the deny log).
 */
static void mark_mask(struct rctx *c, enum zt_key k, uint32_t mmask)
{
	uint32_t zero = 0;

	if ((k == ZT_KEY_META_MARK || k == ZT_KEY_CT_MARK) && mmask)
		e_bitwise(c, 4, &mmask, &zero, false);
}

/*
 * KEY VALUE / KEY != VALUE. Prefixes as nft 1.0.6 writes them:
 * `ip saddr 192.0.2.0/24` loads and compares 3 bytes, `ip saddr
 * 192.0.2.0/26` masks the whole address first.
 */
static int match_eq(struct rctx *c, enum zt_key k, const struct zt_value *v, bool ne, uint32_t mmask)
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
		if (mmask)
			mark_mask(c, k, mmask);
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
		return match_eq(c, k, &a->v[0], false, 0);
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
		r = interval_encode(enc, a->type, a->v, sizeof(a->v[0]), a->n, ZT_TYPE_NONE, NULL, true, true);
	else {
		r = 0;
		for (size_t i = 0; r >= 0 && i < a->n; i++) {
			struct field f;

			r = field_encode(a->type, &a->v[i], false, &f);
			if (r >= 0 && field_is_range(&f))
				r = -EINVAL;
			if (r >= 0)
				r = enc_elem_new(enc, f.lo, f.len, NULL, 0, ZT_TYPE_NONE, NULL, i);
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
		return match_eq(c, m->key[0], &m->value, m->op == ZT_M_NE, m->mmask);
	case ZT_M_IN_SET:
	case ZT_M_NOT_IN_SET:
		/* iifname @member_if / iifname != @enc_if */
		if (!name_valid(m->set))
			return -EINVAL;
		if (m->plen && m->n_key == 1) {
			if (src_masked_load(c, m->key[0], m->plen) < 0)
				return -EINVAL;
		} else if (keys_load(c, m->key, m->n_key, false) < 0)
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

/*
 * update @fm4_x { ip saddr limit rate over 10/second burst 20 packets }
 * add @fc4_x { ip saddr ct count over 5 }
 * add @ban4_x { ip saddr timeout 600s counter : 0x00000001 }
 * as nft 1.0.6 sends them: the key in reg 1, a ban's data in reg 2, the
 * element's expression as NFTA_DYNSET_EXPR.
 */
static int stmt_dynset(struct rctx *c, const struct zt_stmt *s)
{
	struct nftnl_expr *e, *sub;
	uint32_t set_id;

	if (!name_valid(s->set) || s->n_key != 1 || src_masked_load(c, s->key[0], s->plen) < 0)
		return -EINVAL;
	if (s->kind == ZT_S_METER) {
		if (!s->rate || !s->unit)
			return -EINVAL;
		if (!(sub = expr_new(c, "limit")))
			return -ENOMEM;
		nftnl_expr_set_u64(sub, NFTNL_EXPR_LIMIT_RATE, s->rate);
		nftnl_expr_set_u64(sub, NFTNL_EXPR_LIMIT_UNIT, s->unit);
		nftnl_expr_set_u32(sub, NFTNL_EXPR_LIMIT_BURST, s->burst);
		nftnl_expr_set_u32(sub, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(sub, NFTNL_EXPR_LIMIT_FLAGS, NFT_LIMIT_F_INV);
	} else if (s->kind == ZT_S_CONNLIMIT) {
		if (!(sub = expr_new(c, "connlimit")))
			return -ENOMEM;
		nftnl_expr_set_u32(sub, NFTNL_EXPR_CONNLIMIT_COUNT, s->count);
		nftnl_expr_set_u32(sub, NFTNL_EXPR_CONNLIMIT_FLAGS, NFT_CONNLIMIT_F_INV);
	} else {
		e_imm_data(c, NFT_REG_2, s->count);
		if (!(sub = expr_new(c, "counter")))
			return -ENOMEM;
	}
	if (!(e = expr_new(c, "dynset"))) {
		nftnl_expr_free(sub);
		return -ENOMEM;
	}
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	if (s->kind == ZT_S_BAN_ADD)
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_DATA, NFT_REG_2);
	/* As nft does: a timeout (0 too) only for a set with timeouts; the kernel refuses it otherwise. */
	if (s->kind != ZT_S_CONNLIMIT)
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, (uint64_t)s->timeout_sec * 1000);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, s->kind == ZT_S_METER ? NFT_DYNSET_OP_UPDATE : NFT_DYNSET_OP_ADD);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s->set);
	set_id = set_id_find(c->b, s->set);
	if (set_id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
	nftnl_expr_set(e, NFTNL_EXPR_DYNSET_EXPR, sub, 0);
	expr_add(c, e);
	return 0;
}

/* The statements that write a mark: ct mark or meta mark. */
static int stmt_mark(struct rctx *c, const struct zt_stmt *s, bool interval_set)
{
	switch (s->kind) {
	case ZT_S_CT_MARK_SET:
		/* ct mark set 0x80001234 */
		e_imm_u32(c, s->u32);
		e_ct_set_mark(c);
		return 0;
	case ZT_S_CT_MARK_SET_MAP:
		/* ct mark set ip daddr map @dst4 */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		if (s->n_key == 1)
			mark_mask(c, s->key[0], s->mmask);
		e_lookup(c, s->set, set_id_find(c->b, s->set), NFT_REG_1, false);
		e_ct_set_mark(c);
		return 0;
	case ZT_S_META_MARK_SET_MAP:
		/* meta mark set socket cgroupv2 level 2 map @ucg_mm */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		e_lookup(c, s->set, set_id_find(c->b, s->set), NFT_REG_1, false);
		e_meta_set(c, NFT_META_MARK, NFT_REG_1);
		return 0;
	case ZT_S_META_MARK_FROM_CT:
		/* meta mark set ct mark */
		e_ct_load(c, NFT_CT_MARK, NFT_REG_1);
		e_meta_set(c, NFT_META_MARK, NFT_REG_1);
		return 0;
	case ZT_S_META_MARK_BITS: {
		/* meta mark set meta mark & 0x0000ffff | 0x01000000: as nft folds it, one mask-and-xor */
		uint32_t mask = s->mmask & ~s->u32, xor = s->u32;

		e_meta(c, NFT_META_MARK, NFT_REG_1);
		e_bitwise(c, 4, &mask, &xor, true);
		e_meta_set(c, NFT_META_MARK, NFT_REG_1);
		return 0;
	}
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
	default:
		return -EINVAL;
	}
}

/* reject with tcp reset / icmpx admin-prohibited */
static int stmt_reject(struct rctx *c, const struct zt_stmt *s)
{
	struct nftnl_expr *e;

	switch (s->kind) {
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
	default:
		return -EINVAL;
	}
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
	case ZT_S_CT_MARK_SET_MAP:
	case ZT_S_META_MARK_SET_MAP:
	case ZT_S_META_MARK_FROM_CT:
	case ZT_S_META_MARK_BITS:
	case ZT_S_CT_MARK_OR:
	case ZT_S_CT_MARK_XOR:
		return stmt_mark(c, s, interval_set);
	case ZT_S_LOG:
		return stmt_log(c, s);
	case ZT_S_VMAP:
		/* ct mark . meta l4proto . th dport vmap @fp */
		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		if (s->n_key == 1)
			mark_mask(c, s->key[0], s->mmask);
		e_lookup(c, s->set, set_id_find(c->b, s->set), NFT_REG_VERDICT, false);
		return 0;
	case ZT_S_SET_UPDATE_COUNTER: {
		/* update @wd_1234abcd { ct mark counter } */
		struct nftnl_expr *ctr;

		if (!name_valid(s->set) || keys_load(c, s->key, s->n_key, interval_set) < 0)
			return -EINVAL;
		e = expr_new(c, "dynset");
		if (!e)
			return -ENOMEM;
		ctr = nftnl_expr_alloc("counter");
		if (!ctr) {
			nftnl_expr_free(e);
			c->nomem = true;
			return -ENOMEM;
		}
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, s->set);
		set_id = set_id_find(c->b, s->set);
		if (set_id)
			nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, set_id);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set(e, NFTNL_EXPR_DYNSET_EXPR, ctr, 0);
		expr_add(c, e);
		return 0;
	}
	case ZT_S_REJECT_TCP_RST:
	case ZT_S_REJECT_ICMPX:
		return stmt_reject(c, s);
	case ZT_S_VERDICT:
		return e_verdict(c, &s->verdict);
	case ZT_S_METER:
	case ZT_S_CONNLIMIT:
	case ZT_S_BAN_ADD:
		return stmt_dynset(c, s);
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
