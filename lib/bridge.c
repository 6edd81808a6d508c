/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The table `bridge ztseg`: one description of each rule that both writes
 * its nft text (ztsegctl show) and builds its libnftnl expressions (the
 * batch), so the two cannot drift. See bridge.h and doc/RULESET.md
 * "Bridges".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
/* linux/netfilter_bridge.h clashes with net/if.h: its hook numbers */
#define NF_BR_PRE_ROUTING 0
#define NF_BR_FORWARD 2
#include <linux/netfilter/nf_tables.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include "bridge.h"
#include "util.h"

#define ZT_NFT_MSG_DESTROYTABLE 26
#define FAM NFPROTO_BRIDGE
#define MAC_TIMEOUT_MS ZT_BRIDGE_MAC_TIMEOUT_MS
#define MAC_SET_SIZE 65536u
#define UNIT_TOKEN 0x7a740000u			/* compile-units.c's packet-mark token pattern */

/* nft's data types (datatype.h) */
#define T_IPV4 7
#define T_IPV6 8
#define T_ETHER 9
#define T_IFNAME 41
#define T_INTEGER 4

void zt_mark_fields(uint32_t mask, struct zt_mark_fields *f)
{
	unsigned lo = mask ? (unsigned)__builtin_ctz(mask) : 0, bits = (unsigned)__builtin_popcount(mask) / 2;

	*f = (struct zt_mark_fields){ .mask = mask, .shift = lo, .bits = bits };
	f->dst = bits ? ((bits >= 32 ? 0xffffffffu : (1u << bits) - 1) << lo) : 0;
	f->src = mask & ~f->dst;
}

uint32_t zt_bridge_index(const struct zt_policy *p, size_t seg)
{
	struct zt_mark_fields f;
	uint32_t idx = 0, max;

	if (seg >= p->n_segs || !zt_seg_bound(&p->segs[seg]))
		return 0;
	zt_mark_fields(zt_hub_mark_mask(&p->hub), &f);
	max = f.bits >= 32 ? 0xffffffffu : (1u << f.bits) - 1;
	for (size_t i = 0; i <= seg; i++) {
		if (!zt_seg_bound(&p->segs[i]))
			continue;
		do
			idx++;
		while (idx <= max && (zt_mark_src(&f, idx) == (UNIT_TOKEN & f.src) ||
				      zt_mark_dst(&f, idx) == (UNIT_TOKEN & f.dst)));
		if (idx > max)
			return 0;
	}
	return idx;
}

int zt_bridge_check(const struct zt_policy *p, struct zt_diags *d)
{
	struct zt_mark_fields f;
	const struct zt_segment *first = NULL;
	size_t n = 0;

	/* one warning for all of them: a routed host with thousands of segments is not drowned */
	zt_mark_fields(zt_hub_mark_mask(&p->hub), &f);
	for (size_t i = 0; i < p->n_segs; i++) {
		if (!zt_seg_bound(&p->segs[i]) || zt_bridge_index(p, i))
			continue;
		if (!n++)
			first = &p->segs[i];
	}
	if (!n)
		return 0;
	if (n == 1 && zt_diag_warning(d, first->pos.file, first->pos.line, first->pos.col,
				      "segment %s: its interfaces are not enforced as bridge ports: hub.mark-mask "
				      "0x%08x has room for %u segments with interfaces; give it more bits",
				      first->name, f.mask, (1u << f.bits) - 1) < 0)
		return -ENOMEM;
	if (n > 1 && zt_diag_warning(d, first->pos.file, first->pos.line, first->pos.col,
				     "segment %s and %zu later segments: their interfaces are not enforced as "
				     "bridge ports: hub.mark-mask 0x%08x has room for %u segments with interfaces; "
				     "give it more bits", first->name, n - 1, f.mask, (1u << f.bits) - 1) < 0)
		return -ENOMEM;
	return 0;
}

int zt_bridge_nf_call(bool v6)
{
	char buf[8] = "";
	FILE *f = fopen(v6 ? "/proc/sys/net/bridge/bridge-nf-call-ip6tables"
			   : "/proc/sys/net/bridge/bridge-nf-call-iptables", "re");

	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return buf[0] == '1';
}

/* ---- one description, two back ends -------------------------------------- */

struct bx {
	FILE *f;			/* render: text goes here */
	struct zt_batch *b;		/* emit: messages go here */
	struct nftnl_rule *r;		/* the rule being built */
	const char *chain;
	bool nomem;
	uint32_t id_port_src, id_port_dst, id_bind4, id_bind6, id_bindna, id_pmac, id_phas, id_hown4, id_hownna;
	uint32_t id_port_srcx, id_port_dstx;
	/* bridge: segments (issue 15) */
	uint32_t id_dport, id_dportd, id_dpb0, id_ps0, id_pin4, id_pin6, id_claimed4, id_claimed6, id_has4, id_has6;
};

static void t(struct bx *x, const char *fmt, ...) _printf_(2, 3);
static void t(struct bx *x, const char *fmt, ...)
{
	va_list ap;

	if (!x->f)
		return;
	va_start(ap, fmt);
	vfprintf(x->f, fmt, ap);
	va_end(ap);
}

static struct nftnl_expr *ex(struct bx *x, const char *name)
{
	struct nftnl_expr *e;

	if (!x->r)
		return NULL;
	if (!(e = nftnl_expr_alloc(name))) {
		x->nomem = true;
		return NULL;
	}
	nftnl_rule_add_expr(x->r, e);
	return e;
}

static void r_begin(struct bx *x, const char *chain)
{
	x->chain = chain;
	t(x, "\t\t");
	if (x->b && !(x->r = nftnl_rule_alloc()))
		x->nomem = true;
}

static int r_end(struct bx *x)
{
	struct nlmsghdr *nlh;

	t(x, "\n");
	if (!x->b)
		return 0;
	if (!x->r || x->nomem)
		return -ENOMEM;
	nftnl_rule_set_str(x->r, NFTNL_RULE_TABLE, ZT_TABLE_NAME);
	nftnl_rule_set_str(x->r, NFTNL_RULE_CHAIN, x->chain);
	nftnl_rule_set_u32(x->r, NFTNL_RULE_FAMILY, FAM);
	nlh = zt_batch_msg(x->b, ZT_BOBJ_RULE, x->chain, NFT_MSG_NEWRULE, FAM, NLM_F_APPEND | NLM_F_CREATE);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, x->r);
		zt_batch_msg_done(x->b, nlh);
	}
	nftnl_rule_free(x->r);
	x->r = NULL;
	return nlh ? 0 : -ENOMEM;
}

static void e_meta(struct bx *x, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = ex(x, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void e_payload(struct bx *x, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = ex(x, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

static void e_cmp(struct bx *x, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = ex(x, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

/* reg 1 = (reg 1 & mask) ^ xor, len bytes */
static void e_bitwise_n(struct bx *x, const void *mask, const void *xor, uint32_t len)
{
	struct nftnl_expr *e = ex(x, "bitwise");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

static void e_bitwise(struct bx *x, uint32_t mask, uint32_t xor)
{
	e_bitwise_n(x, &mask, &xor, 4);
}

static void e_lookup(struct bx *x, const char *set, uint32_t id, bool vmap, bool inv)
{
	struct nftnl_expr *e = ex(x, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
	if (vmap)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void e_dynset(struct bx *x, const char *set, uint32_t id)
{
	struct nftnl_expr *e = ex(x, "dynset");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, id);
}

/* ---- statements and matches, as text and as expressions ------------------ */

/* accept / drop / goto CHAIN / jump CHAIN */
static void v(struct bx *x, int code, const char *chain)
{
	struct nftnl_expr *e;

	t(x, "%s%s", code == NF_ACCEPT ? "accept" : code == NF_DROP ? "drop" : code == NFT_RETURN ? "return" :
	  code == NFT_GOTO ? "goto " : "jump ", chain ? chain : "");
	if (!(e = ex(x, "immediate")))
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)code);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void counter(struct bx *x, const char *name)
{
	struct nftnl_expr *e;

	t(x, "counter name \"%s\" ", name);
	if (!(e = ex(x, "objref")))
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
	nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
}

/* meta mark set meta mark & KEEP | OR */
static void mark_set(struct bx *x, uint32_t keep, uint32_t or)
{
	if (or && keep != 0xffffffffu)
		t(x, "meta mark set meta mark & 0x%08x | 0x%08x ", keep, or);
	else if (or)
		t(x, "meta mark set meta mark | 0x%08x ", or);
	else
		t(x, "meta mark set meta mark & 0x%08x ", keep);
	keep &= ~or;	/* (mark & keep) | or, as one mask-and-xor */
	e_meta(x, NFT_META_MARK, NFT_REG_1);
	e_bitwise(x, keep, or);
	if (x->r) {
		struct nftnl_expr *e = ex(x, "meta");

		if (e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
			nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
		}
	}
}

/* meta mark & MASK == VAL (or !=) */
static void mark_is(struct bx *x, uint32_t mask, uint32_t val, bool ne)
{
	t(x, "meta mark & 0x%08x %s 0x%08x ", mask, ne ? "!=" : "==", val);
	e_meta(x, NFT_META_MARK, NFT_REG_1);
	e_bitwise(x, mask, 0);
	e_cmp(x, ne ? NFT_CMP_NEQ : NFT_CMP_EQ, &val, 4);
}

static void ether_type(struct bx *x, const char *name, uint16_t type)
{
	uint16_t be = htons(type);

	t(x, "ether type %s ", name);
	e_payload(x, NFT_PAYLOAD_LL_HEADER, 12, 2, NFT_REG_1);
	e_cmp(x, NFT_CMP_EQ, &be, 2);
}

static void l4proto(struct bx *x, uint8_t proto)
{
	e_meta(x, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp(x, NFT_CMP_EQ, &proto, 1);
}

/* udp sport N / udp dport N */
static void udp_port(struct bx *x, bool dport, uint16_t port)
{
	uint16_t be = htons(port);

	t(x, "udp %s %u ", dport ? "dport" : "sport", port);
	l4proto(x, IPPROTO_UDP);
	e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, dport ? 2 : 0, 2, NFT_REG_1);
	e_cmp(x, NFT_CMP_EQ, &be, 2);
}

/* icmp type T / icmpv6 type T */
static void icmp_type(struct bx *x, bool v6, const char *name, uint8_t type)
{
	t(x, "%s type %s ", v6 ? "icmpv6" : "icmp", name);
	l4proto(x, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
	e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
	e_cmp(x, NFT_CMP_EQ, &type, 1);
}

/*
 * A prefix whose network address is 0.0.0.0 or :: (0.0.0.0/0, ::/0 …): bind_map
 * keeps the special span that starts there (0.0.0.0, :: accept) and drops the
 * segment's overlapping span, so bind4/bind6 send the rest to l2_gap (the
 * segment's members' frames are dropped as spoofed). bs_<rest> then has no TCP
 * rule, so that it accepts nothing bind4/bind6 would not.
 */
static bool cidr_starts_at_zero(const struct zt_cidr *c)
{
	uint32_t len = c->family == AF_INET ? 4 : 16;

	for (uint32_t i = 0; i < len; i++) {
		unsigned bits = c->plen > i * 8 ? c->plen - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		if (c->addr[i] & mask)
			return false;
	}
	return true;
}

/* ip saddr P/LEN, ip6 saddr P/LEN: the network header's source, masked (a bitwise below the full length), compared */
static void saddr_prefix(struct bx *x, const struct zt_cidr *c)
{
	uint32_t len = c->family == AF_INET ? 4 : 16;
	uint8_t mask[16] = {}, net[16] = {}, zero[16] = {};
	char buf[INET6_ADDRSTRLEN];

	for (uint32_t i = 0; i < len; i++) {
		unsigned bits = c->plen > i * 8 ? c->plen - i * 8 : 0;

		mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
		net[i] = c->addr[i] & mask[i];
	}
	inet_ntop(c->family, net, buf, sizeof(buf));
	t(x, "%s saddr %s", c->family == AF_INET ? "ip" : "ip6", buf);
	if (c->plen < len * 8)
		t(x, "/%u", c->plen);
	t(x, " ");
	e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, c->family == AF_INET ? 12 : 8, len, NFT_REG_1);
	if (c->plen < len * 8 && x->r)
		e_bitwise_n(x, mask, zero, len);
	e_cmp(x, NFT_CMP_EQ, net, len);
}

/* FIELD vmap @SET, FIELD a payload (base, off, len) or, with len 0, meta KEY. */
static void vmap(struct bx *x, const char *text, uint32_t base, uint32_t off, uint32_t len, const char *set,
		 uint32_t id)
{
	t(x, "%s vmap @%s ", text, set);
	if (len)
		e_payload(x, base, off, len, NFT_REG_1);
	else
		e_meta(x, base, NFT_REG_1);
	e_lookup(x, set, id, true, false);
}

/* iifname . ETHER-FIELD: the pmac key in reg 1 on */
static void port_mac_key(struct bx *x, bool arp)
{
	e_meta(x, NFT_META_IIFNAME, NFT_REG_1);
	if (arp)
		e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 8, ETH_ALEN, NFT_REG32_04);
	else
		e_payload(x, NFT_PAYLOAD_LL_HEADER, 6, ETH_ALEN, NFT_REG32_04);
}

/* ---- objects ------------------------------------------------------------- */

static int put_table(struct bx *x, uint32_t flags)
{
	struct nftnl_table *tb;
	struct nlmsghdr *nlh;

	t(x, "table bridge %s {\n", ZT_TABLE_NAME);
	if (!x->b)
		return 0;
	if (!(tb = nftnl_table_alloc()))
		return -ENOMEM;
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, ZT_TABLE_NAME);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, FAM);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FLAGS, flags);
	nlh = zt_batch_msg(x->b, ZT_BOBJ_TABLE, "", NFT_MSG_NEWTABLE, FAM, NLM_F_CREATE);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, tb);
		zt_batch_msg_done(x->b, nlh);
	}
	nftnl_table_free(tb);
	return nlh ? 0 : -ENOMEM;
}

static int put_counter(struct bx *x, const char *name, const char *comment)
{
	struct nftnl_obj *o;
	struct nlmsghdr *nlh;

	t(x, "\tcounter %s {\n\t\tcomment \"%s\"\n\t}\n\n", name, comment);
	if (!x->b)
		return 0;
	if (!(o = nftnl_obj_alloc()))
		return -ENOMEM;
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, ZT_TABLE_NAME);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, FAM);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nlh = zt_batch_msg(x->b, ZT_BOBJ_COUNTER, name, NFT_MSG_NEWOBJ, FAM, NLM_F_CREATE);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		zt_batch_msg_done(x->b, nlh);
	}
	nftnl_obj_free(o);
	return nlh ? 0 : -ENOMEM;
}

struct setdef {
	const char *name, *text;	/* text: the nft declaration's body */
	uint32_t key_type, key_len;
	bool map, interval, dynamic;
	bool ud_host;			/* key byte order "host" in the set's userdata: nft lists ifname keys */
	bool forever;			/* dynamic without a timeout: elements stay until removed (claims) */
};

static int put_set(struct bx *x, const struct setdef *d, uint32_t id)
{
	struct nftnl_set *s;
	struct nlmsghdr *nlh;
	uint32_t flags;

	if (!x->b)
		return 0;
	if (!(s = nftnl_set_alloc()))
		return -ENOMEM;
	flags = (d->map ? NFT_SET_MAP : 0) | (d->interval ? NFT_SET_INTERVAL : 0) |
		(d->dynamic ? NFT_SET_EVAL : 0) | (d->dynamic && !d->forever ? NFT_SET_TIMEOUT : 0);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, d->name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAM);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, d->key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, d->key_len);
	if (d->map) {
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	}
	if (d->dynamic && !d->forever)
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, MAC_TIMEOUT_MS);
	if (d->dynamic)
		nftnl_set_set_u32(s, NFTNL_SET_DESC_SIZE, MAC_SET_SIZE);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	if (d->ud_host) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);

		if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1 /* nft's BYTEORDER_HOST_ENDIAN */)) {
			nftnl_udata_buf_free(ud);
			nftnl_set_free(s);
			return -ENOMEM;
		}
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = zt_batch_msg(x->b, ZT_BOBJ_SET, d->name, NFT_MSG_NEWSET, FAM, NLM_F_CREATE);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		zt_batch_msg_done(x->b, nlh);
	}
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

static int put_chain(struct bx *x, const char *name, int hook)
{
	struct nftnl_chain *c;
	struct nlmsghdr *nlh;

	if (!x->b)
		return 0;
	if (!(c = nftnl_chain_alloc()))
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, ZT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, FAM);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, ZT_BRIDGE_PRIO);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = zt_batch_msg(x->b, ZT_BOBJ_CHAIN, name, NFT_MSG_NEWCHAIN, FAM, NLM_F_CREATE);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		zt_batch_msg_done(x->b, nlh);
	}
	nftnl_chain_free(c);
	return nlh ? 0 : -ENOMEM;
}

/* ---- elements ------------------------------------------------------------ */

struct elems {
	struct bx *x;
	const char *set;
	struct nftnl_set *s;
	size_t n;
	bool first;
};

static int el_flush(struct elems *m)
{
	struct nlmsghdr *nlh;

	if (!m->s)
		return 0;
	nlh = m->n ? zt_batch_msg(m->x->b, ZT_BOBJ_ELEMS, m->set, NFT_MSG_NEWSETELEM, FAM, NLM_F_CREATE) : NULL;
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, m->s);
		zt_batch_msg_done(m->x->b, nlh);
	}
	nftnl_set_free(m->s);
	m->s = NULL;
	return nlh || !m->n ? 0 : -ENOMEM;
}

/* One element: key, and either a verdict (code, chain) or the interval's end. */
static int el_add(struct elems *m, const uint8_t *key, uint32_t klen, bool end, int code, const char *chain)
{
	struct nftnl_set_elem *e;
	int r;

	if (!m->x->b)
		return 0;
	if (m->s && m->n >= 128 && (r = el_flush(m)) < 0)
		return r;
	if (!m->s) {
		if (!(m->s = nftnl_set_alloc()))
			return -ENOMEM;
		nftnl_set_set_str(m->s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(m->s, NFTNL_SET_NAME, m->set);
		nftnl_set_set_u32(m->s, NFTNL_SET_FAMILY, FAM);
		m->n = 0;
	}
	if (!(e = nftnl_set_elem_alloc()))
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	else {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)code);
		if (chain)
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(m->s, e);
	m->n++;
	return 0;
}

/* Big-endian increment; false when it wrapped (the key was all ones). */
static bool key_inc(uint8_t *k, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++k[i])
			return true;
	return false;
}

static bool key_dec(uint8_t *k, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (k[i]--)
			return true;
	return false;
}

/* [lo, hi] → code/chain as a start element and, unless hi is the top, an end element. */
static int el_range(struct elems *m, const uint8_t *lo, const uint8_t *hi, uint32_t len, int code,
		    const char *chain)
{
	uint8_t k[IFNAMSIZ > 16 ? IFNAMSIZ : 16];
	int r;

	if ((r = el_add(m, lo, len, false, code, chain)) < 0)
		return r;
	memcpy(k, hi, len);
	if (!key_inc(k, len))
		return 0;
	return el_add(m, k, len, true, 0, NULL);
}

/* ---- the table ----------------------------------------------------------- */

static void seg_chain(char buf[ZT_OBJ_NAME_MAX], const char *prefix, const struct zt_plan_bridge_seg *s)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "%s_%04x", prefix, s->rest);
}

static void ifpat_text(struct bx *x, const struct zt_ifpat *p)
{
	t(x, "\"%s%s\"", p->name, p->wildcard ? "*" : "");
}

/* map port_src / port_dst: every pattern → goto bs_<rest> / jump bd_<rest> */
static int port_map(struct bx *x, const struct zt_plan_bridge *br, bool dst)
{
	struct elems m = { .x = x, .set = dst ? "port_dst" : "port_src" };
	const char *prefix = dst ? "bd" : "bs";
	int r = 0;
	char chain[ZT_OBJ_NAME_MAX];
	bool first = true;

	t(x, "\tmap %s {\n\t\ttype ifname : verdict\n\t\tflags interval\n\t\tcomment \"%s\"\n", m.set,
	  dst ? "destination port to its segment's chain" : "source port to its segment's chain");
	for (size_t i = 0; i < br->n_segs && r >= 0; i++) {
		const struct zt_plan_bridge_seg *s = &br->segs[i];

		seg_chain(chain, prefix, s);
		for (size_t j = 0; j < s->n_ifs && r >= 0; j++) {
			uint8_t lo[IFNAMSIZ] = {}, hi[IFNAMSIZ] = {};
			size_t n = strnlen(s->ifs[j].name, IFNAMSIZ - 1);

			memcpy(lo, s->ifs[j].name, n);
			memcpy(hi, s->ifs[j].name, n);
			if (s->ifs[j].wildcard)
				memset(hi + n, 0xff, IFNAMSIZ - n);
			t(x, "%s", first ? "\t\telements = { " : ",\n\t\t\t     ");
			ifpat_text(x, &s->ifs[j]);
			t(x, " : goto %s", chain);
			first = false;
			r = el_range(&m, lo, hi, IFNAMSIZ, NFT_GOTO, chain);
		}
	}
	t(x, "%s\t}\n\n", first ? "" : " }\n");
	if (r >= 0)
		r = el_flush(&m);
	if (m.s)
		nftnl_set_free(m.s);
	return r;
}

struct span {
	uint8_t lo[16], hi[16];
	const struct zt_plan_bridge_seg *s;	/* NULL: a special span, verdict code */
	int code;
};

/*
 * Unspecified and link-local sources a member may use whatever its
 * segment (DHCP and ARP probes, DAD, link-local): accepted in the address
 * maps themselves, one lookup instead of a rule each. The NA target map
 * (raw) returns for a link-local target and knows no unspecified one.
 */
static size_t special_spans(uint8_t family, bool raw, struct span *v)
{
	size_t n = 0;

	if (family == AF_INET) {
		v[n++] = (struct span){ .lo = { 0 }, .hi = { 0 }, .code = NF_ACCEPT };
		v[n++] = (struct span){ .lo = { 169, 254 }, .hi = { 169, 254, 255, 255 }, .code = NF_ACCEPT };
		return n;
	}
	if (!raw)
		v[n++] = (struct span){ .code = NF_ACCEPT };
	v[n] = (struct span){ .lo = { 0xfe, 0x80 }, .code = raw ? NFT_RETURN : NF_ACCEPT };
	memset(v[n].hi, 0xff, 16);
	v[n].hi[0] = 0xfe;
	v[n].hi[1] = 0x80;
	return n + 1;
}

static int span_cmp(const void *a, const void *b)
{
	return memcmp(((const struct span *)a)->lo, ((const struct span *)b)->lo, 16);
}

/* An address as nft writes it; raw: as the 128-bit integer `@th,64,128` is (bindna). */
static void addr_text(struct bx *x, uint8_t family, const uint8_t *a, bool raw)
{
	char buf[INET6_ADDRSTRLEN];

	if (raw) {
		t(x, "0x");
		for (size_t i = 0; i < 16; i++)
			t(x, "%02x", a[i]);
		return;
	}
	inet_ntop(family, a, buf, sizeof(buf));
	t(x, "%s", buf);
}

/*
 * map bind4 / bind6: every address a segment holds → jump bk_<rest> (the
 * port must be that segment's), every other address → jump l2_gap (a
 * member port must not use it). The whole space is covered: a lookup
 * always decides. Segments' addresses never overlap (policy-validate).
 */
static int bind_map(struct bx *x, const struct zt_plan_bridge *br, uint8_t family, bool raw)
{
	size_t len = family == AF_INET ? 4 : 16, n = 0, cap = 0, k = 0;
	struct elems m = { .x = x, .set = raw ? "bindna" : family == AF_INET ? "bind4" : "bind6" };
	_cleanup_free_ struct span *v = NULL;
	uint8_t next[16] = {}, top[16] = {}, gap_hi[16];
	char chain[ZT_OBJ_NAME_MAX];
	bool first = true, done = false;
	int r = 0;

	for (size_t i = 0; i < br->n_segs; i++)
		cap += br->segs[i].n_addrs;
	if (!(v = calloc(cap + 2, sizeof(*v))))
		return -ENOMEM;
	n = special_spans(family, raw, v);
	for (size_t i = 0; i < br->n_segs; i++)
		for (size_t j = 0; j < br->segs[i].n_addrs; j++) {
			const struct zt_cidr *c = &br->segs[i].addrs[j];
			struct zt_value val = { .type = family == AF_INET ? ZT_TYPE_IPV4 : ZT_TYPE_IPV6, .cidr = *c };

			if (c->family != family)
				continue;
			zt_value_addr_bounds(&val, v[n].lo, v[n].hi);
			v[n].code = NFT_JUMP;
			v[n++].s = &br->segs[i];
		}
	if (n)
		qsort(v, n, sizeof(*v), span_cmp);
	/* merge overlapping or adjacent spans of one segment (different segments never overlap) */
	for (size_t i = 0; i < n; i++) {
		uint8_t after[16];

		if (k) {
			memcpy(after, v[k - 1].hi, 16);
			if (v[k - 1].s && v[k - 1].s == v[i].s && (!key_inc(after, len) || memcmp(v[i].lo, after, len) <= 0)) {
				if (memcmp(v[i].hi, v[k - 1].hi, len) > 0)
					memcpy(v[k - 1].hi, v[i].hi, 16);
				continue;
			}
			if (memcmp(v[i].lo, v[k - 1].hi, len) <= 0)
				continue;	/* inside another segment's span: policy-validate forbids it */
		}
		v[k++] = v[i];
	}
	memset(top, 0xff, len);
	t(x, "\tmap %s {\n\t\t%s %s : verdict\n\t\tflags interval\n\t\tcomment \"%s\"\n", m.set,
	  raw ? "typeof" : "type", raw ? "@th,64,128" : family == AF_INET ? "ipv4_addr" : "ipv6_addr",
	  raw ? "neighbour advertisement target (nft 1.0.6 has no icmpv6 taddr) to the segment that holds it"
	      : "source address to the segment that holds it");
	for (size_t i = 0; i <= k && r >= 0 && !done; i++) {
		/* the gap [next, lo - 1], or [next, top] after the last span */
		if (i == k)
			memcpy(gap_hi, top, 16);
		else {
			memcpy(gap_hi, v[i].lo, 16);
			key_dec(gap_hi, len);	/* used only when lo > next, so lo is not zero */
		}
		if (i == k || memcmp(v[i].lo, next, len) > 0) {
			t(x, "%s", first ? "\t\telements = { " : ",\n\t\t\t     ");
			addr_text(x, family, next, raw);
			t(x, "-");
			addr_text(x, family, gap_hi, raw);
			t(x, " : jump l2_gap");
			first = false;
			r = el_range(&m, next, gap_hi, (uint32_t)len, NFT_JUMP, "l2_gap");
		}
		if (i == k || r < 0)
			break;
		if (v[i].s)	/* a bridge: segment's NA target: bn_<rest> (the claim by NA) */
			seg_chain(chain, raw && v[i].s->bridge[0] ? "bn" : "bk", v[i].s);
		t(x, "%s", first ? "\t\telements = { " : ",\n\t\t\t     ");
		addr_text(x, family, v[i].lo, raw);
		t(x, "-");
		addr_text(x, family, v[i].hi, raw);
		t(x, " : %s%s", v[i].code == NF_ACCEPT ? "accept" : v[i].code == NFT_RETURN ? "return" : "jump ",
		  v[i].s ? chain : "");
		first = false;
		r = el_range(&m, v[i].lo, v[i].hi, (uint32_t)len, v[i].code, v[i].s ? chain : NULL);
		memcpy(next, v[i].hi, 16);
		if (!key_inc(next, len))
			done = true;	/* the span reaches the top: no gap after it */
	}
	t(x, " }\n\t}\n\n");
	if (r >= 0)
		r = el_flush(&m);
	if (m.s)
		nftnl_set_free(m.s);
	return r;
}

static int dseg_sets(struct bx *x, const struct zt_plan_bridge *br);

/* hown4 / hownna: the host's own addresses on bridges (apply's dump, then ztsegd) */
static const struct setdef hown4_def = { "hown4", NULL, T_IPV4, 4, false, false, false, false, false },
			   hownna_def = { "hownna", NULL, T_INTEGER, 16, false, false, false, false, false };

static int hown_elems(struct zt_batch *b, const struct zt_bridge_haddr *v, size_t n, uint16_t type);

static int hown_sets(struct bx *x, const struct zt_plan_bridge *br)
{
	int r;

	t(x, "\tset hown4 {\n\t\ttype ipv4_addr\n\t\tcomment \"the host's addresses on bridges: no port claims "
	  "one in ARP (filled by apply and ztsegd)\"\n\t}\n\n");
	t(x, "\tset hownna {\n\t\ttypeof @th,64,128\n\t\tcomment \"the host's IPv6 addresses on bridges: no port "
	  "claims one in an NA (filled by apply and ztsegd)\"\n\t}\n\n");
	if (x->b) {
		x->id_hown4 = x->b->next_set_id++;
		x->id_hownna = x->b->next_set_id++;
	}
	if ((r = put_set(x, &hown4_def, x->id_hown4)) < 0 || (r = put_set(x, &hownna_def, x->id_hownna)) < 0)
		return r;
	return x->b && br->n_hown ? hown_elems(x->b, br->hown, br->n_hown, NFT_MSG_NEWSETELEM) : 0;
}

/* port_srcx / port_dstx: member ports by exact name (apply's link dump, then ztsegd) */
static const struct setdef psrcx_def = { "port_srcx", NULL, T_IFNAME, IFNAMSIZ, true, false, false, true, false },
			   pdstx_def = { "port_dstx", NULL, T_IFNAME, IFNAMSIZ, true, false, false, true, false };

static int portx_sets(struct bx *x, const struct zt_plan_bridge *br)
{
	int r;

	t(x, "\tmap port_srcx {\n\t\ttype ifname : verdict\n\t\tcomment \"port_src for the host's links by exact "
	  "name (filled by apply and ztsegd)\"\n\t}\n\n");
	t(x, "\tmap port_dstx {\n\t\ttype ifname : verdict\n\t\tcomment \"port_dst for the host's links by exact "
	  "name (filled by apply and ztsegd)\"\n\t}\n\n");
	if (x->b) {
		x->id_port_srcx = x->b->next_set_id++;
		x->id_port_dstx = x->b->next_set_id++;
	}
	if ((r = put_set(x, &psrcx_def, x->id_port_srcx)) < 0 || (r = put_set(x, &pdstx_def, x->id_port_dstx)) < 0)
		return r;
	return x->b && br->n_ports ? zt_bridge_emit_ports(x->b, br, br->ports, br->n_ports, NFT_MSG_NEWSETELEM, false)
				   : 0;
}

static int sets(struct bx *x, const struct zt_plan_bridge *br)
{
	static const struct setdef pmac = { "pmac", NULL, (T_IFNAME << 6) | T_ETHER, IFNAMSIZ + 8, false, false, true, false, false },
				   phas = { "phas", NULL, T_IFNAME, IFNAMSIZ, false, false, true, false, false },
				   bind4 = { "bind4", NULL, T_IPV4, 4, true, true, false, false, false },
				   bind6 = { "bind6", NULL, T_IPV6, 16, true, true, false, false, false },
				   bindna = { "bindna", NULL, T_INTEGER, 16, true, true, false, false, false },
				   psrc = { "port_src", NULL, T_IFNAME, IFNAMSIZ, true, true, false, false, false },
				   pdst = { "port_dst", NULL, T_IFNAME, IFNAMSIZ, true, true, false, false, false };
	int r;

	if (x->b) {
		x->id_bind4 = x->b->next_set_id++;
		x->id_bind6 = x->b->next_set_id++;
		x->id_bindna = x->b->next_set_id++;
		x->id_pmac = x->b->next_set_id++;
		x->id_phas = x->b->next_set_id++;
		x->id_port_src = x->b->next_set_id++;
		x->id_port_dst = x->b->next_set_id++;
	}
	if ((r = put_set(x, &bind4, x->id_bind4)) < 0 || (r = bind_map(x, br, AF_INET, false)) < 0 ||
	    (r = put_set(x, &bind6, x->id_bind6)) < 0 || (r = bind_map(x, br, AF_INET6, false)) < 0 ||
	    (r = put_set(x, &bindna, x->id_bindna)) < 0 || (r = bind_map(x, br, AF_INET6, true)) < 0)
		return r;
	t(x, "\tset phas {\n\t\ttype ifname\n\t\tsize %u\n\t\tflags dynamic,timeout\n\t\ttimeout %um\n"
	  "\t\tcomment \"ports whose source MAC is bound\"\n\t}\n\n", MAC_SET_SIZE, MAC_TIMEOUT_MS / 60000);
	t(x, "\tset pmac {\n\t\ttype ifname . ether_addr\n\t\tsize %u\n\t\tflags dynamic,timeout\n\t\ttimeout %um\n"
	  "\t\tcomment \"each port's source MAC: the first it used\"\n\t}\n\n", MAC_SET_SIZE, MAC_TIMEOUT_MS / 60000);
	if ((r = put_set(x, &phas, x->id_phas)) < 0 || (r = put_set(x, &pmac, x->id_pmac)) < 0 ||
	    (r = put_set(x, &pdst, x->id_port_dst)) < 0 || (r = port_map(x, br, true)) < 0 ||
	    (r = put_set(x, &psrc, x->id_port_src)) < 0 || (r = port_map(x, br, false)) < 0)
		return r;
	if ((r = hown_sets(x, br)) < 0 || (r = portx_sets(x, br)) < 0)
		return r;
	return dseg_sets(x, br);
}

static int dseg_prerouting(struct bx *x, const struct zt_plan_bridge *br);
static int dseg_forward(struct bx *x, const struct zt_plan_bridge *br);

static const char *const chain_names[] = { "arp_ip", "fcheck", "fcheckm", "l2_frame", "l2_gap", "l2_spoof", "marp",
					   "member", "m4", "m4t", "m6", "m6t", "mtype", "na" };

/*
 * The checks of a frame to a member port: br_netfilter off → drop,
 * untagged ARP, IPv4, IPv6 pass, anything else → l2_frame. In fcheck
 * after its "no member on either side" accept, and alone in fcheckm,
 * where bd_<rest> goes (a member's destination bits are set there: that
 * accept could never match).
 */
static int fcheck_member(struct bx *x, const struct zt_plan_bridge *br, const char *chain)
{
	static const struct { const char *name; uint16_t type; } ok[] = {
		{ "ip", ETHERTYPE_IP }, { "ip6", ETHERTYPE_IPV6 }, { "arp", ETHERTYPE_ARP } };
	int r;

	if (br->brnf_off) {
		/* br_netfilter would not take IP to inet ztseg: nothing of a member passes unjudged */
		r_begin(x, chain);
		counter(x, "l2_nobrnf");
		v(x, NF_DROP, NULL);
		t(x, " comment \"br_netfilter is off: bridged member traffic is not judged, so dropped\"");
		if ((r = r_end(x)) < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		r_begin(x, chain);
		ether_type(x, ok[i].name, ok[i].type);
		v(x, NF_ACCEPT, NULL);
		if ((r = r_end(x)) < 0)
			return r;
	}
	r_begin(x, chain);
	v(x, NFT_GOTO, "l2_frame");
	t(x, " comment \"to a member port: untagged ARP, IPv4 and IPv6 only\"");
	return r_end(x);
}

/* Base chains: prerouting (the source port) and forward (each destination port, flood copies included). */
static int base_chains(struct bx *x, const struct zt_plan_bridge *br, const struct zt_mark_fields *f)
{
	int r;

	t(x, "\tchain prerouting {\n\t\ttype filter hook prerouting priority %d; policy accept;\n", ZT_BRIDGE_PRIO);
	r_begin(x, "prerouting");
	vmap(x, "iifname", NFT_META_IIFNAME, 0, 0, "port_srcx", x->id_port_srcx);
	t(x, "comment \"member ports by exact name: one hash lookup\"");
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, "prerouting");
	vmap(x, "iifname", NFT_META_IIFNAME, 0, 0, "port_src", x->id_port_src);
	t(x, "comment \"member ports: their segment's chain (which sets the mark bits)\"");
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, "prerouting");
	mark_set(x, ~f->mask, 0);
	t(x, "comment \"other ports: the mark bits ztseg owns, cleared\"");
	if ((r = r_end(x)) < 0)
		return r;
	if ((r = dseg_prerouting(x, br)) < 0)
		return r;
	/* Any other port may not claim a segment's address in ARP (IP: inet ztseg's binding). */
	r_begin(x, "prerouting");
	ether_type(x, "arp", ETHERTYPE_ARP);
	v(x, NFT_GOTO, "arp_ip");
	t(x, " comment \"ARP from other ports: no segment's address, none of the host's\"");
	if ((r = r_end(x)) < 0)
		return r;
	/* Nor in a neighbour advertisement (inet ztseg passes bridged ND between any ports). */
	r_begin(x, "prerouting");
	ether_type(x, "ip6", ETHERTYPE_IPV6);
	icmp_type(x, true, "nd-neighbor-advert", 136);
	v(x, NFT_GOTO, "na");
	t(x, " comment \"NA from other ports: no segment's address, none of the host's\"");
	if ((r = r_end(x)) < 0)
		return r;
	t(x, "\t}\n\n\tchain forward {\n\t\ttype filter hook forward priority %d; policy accept;\n", ZT_BRIDGE_PRIO);
	r_begin(x, "forward");
	vmap(x, "oifname", NFT_META_OIFNAME, 0, 0, "port_dstx", x->id_port_dstx);
	t(x, "comment \"member ports by exact name: one hash lookup\"");
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, "forward");
	vmap(x, "oifname", NFT_META_OIFNAME, 0, 0, "port_dst", x->id_port_dst);
	t(x, "comment \"member ports: their segment's bits, for each copy of a flooded frame\"");
	if ((r = r_end(x)) < 0)
		return r;
	if ((r = dseg_forward(x, br)) < 0)
		return r;
	r_begin(x, "forward");
	mark_set(x, ~f->dst, 0);
	v(x, NFT_GOTO, "fcheck");
	t(x, " comment \"other ports: no destination bits\"");
	if ((r = r_end(x)) < 0)
		return r;
	t(x, "\t}\n\n\tchain fcheck {\n");
	r_begin(x, "fcheck");
	mark_is(x, f->mask, 0, false);
	v(x, NF_ACCEPT, NULL);
	t(x, " comment \"no member port on either side\"");
	if ((r = r_end(x)) < 0)
		return r;
	if ((r = fcheck_member(x, br, "fcheck")) < 0)
		return r;
	t(x, "\t}\n\n\tchain fcheckm {\n");
	if ((r = fcheck_member(x, br, "fcheckm")) < 0)
		return r;
	t(x, "\t}\n\n");
	return 0;
}

static uint32_t dpb_id(const struct bx *x, const struct zt_plan_bridge *br, uint32_t brk);
static void d_iif_lookup(struct bx *x, const char *set, uint32_t id, bool inv);

/*
 * A bridge: port's frame without source bits (its mark field is still 0
 * in m4/m6: a pattern port's bs_ set it first) from an address no
 * segment holds: 0.0.0.0 or 169.254/16 (V6 false), :: or fe80::/10 →
 * dll (ARP went its own way; DHCP client, ND, MLD only).
 */
static int ll_rules(struct bx *x, const struct zt_mark_fields *f, const char *chain, bool v6)
{
	static const uint8_t ll6[2] = { 0xfe, 0x80 }, ll6m[2] = { 0xff, 0xc0 }, zero16[16] = {};
	uint32_t any4 = 0, ll4 = htonl(0xa9fe0000u), ll4m = htonl(0xffff0000u);
	int r;

	for (int i = 0; i < 2; i++) {
		r_begin(x, chain);
		mark_is(x, f->src, 0, false);
		if (v6 && !i) {
			t(x, "ip6 saddr :: ");
			e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG_1);
			e_cmp(x, NFT_CMP_EQ, zero16, 16);
		} else if (v6) {
			t(x, "ip6 saddr fe80::/10 ");
			e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 8, 2, NFT_REG_1);
			e_bitwise_n(x, ll6m, (const uint8_t[2]){ 0 }, 2);
			e_cmp(x, NFT_CMP_EQ, ll6, 2);
		} else if (!i) {
			t(x, "ip saddr 0.0.0.0 ");
			e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1);
			e_cmp(x, NFT_CMP_EQ, &any4, 4);
		} else {
			t(x, "ip saddr 169.254.0.0/16 ");
			e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1);
			e_bitwise(x, ll4m, 0);
			e_cmp(x, NFT_CMP_EQ, &ll4, 4);
		}
		v(x, NFT_GOTO, "dll");
		t(x, " comment \"a bridge: port without segment bits: DHCP client, ND, MLD only\"");
		if ((r = r_end(x)) < 0)
			return r;
	}
	return 0;
}

/* @nh,64,128 @hownna goto l2_spoof: no frame from a port carries the host's IPv6 source */
static int hown6_rule(struct bx *x, const char *chain)
{
	r_begin(x, chain);
	t(x, "@nh,64,128 @hownna ");
	e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, NFT_REG_1);
	e_lookup(x, "hownna", x->id_hownna, false, false);
	v(x, NFT_GOTO, "l2_spoof");
	t(x, " comment \"the host's own IPv6 address (the gateway) as the source: never a port's\"");
	return r_end(x);
}

/* member, mtype, m4, m6, na, marp, l2_gap, l2_spoof, l2_frame */
static int common_chains(struct bx *x, const struct zt_plan_bridge *br, const struct zt_mark_fields *f)
{
	bool dsegs = zt_bridge_has_dsegs(br);
	int r;

#define RULE(chain, body)                 \
	do {                              \
		r_begin(x, chain);        \
		body;                     \
		if ((r = r_end(x)) < 0)   \
			return r;         \
	} while (0)

	t(x, "\tchain member {\n");
	/* known: a lookup only (no refresh per frame: the binding lasts MAC_TIMEOUT_MS from the first frame) */
	RULE("member", (t(x, "iifname . ether saddr @pmac "), port_mac_key(x, false),
			e_lookup(x, "pmac", x->id_pmac, false, false), v(x, NFT_GOTO, "mtype"),
			t(x, " comment \"the port's own MAC\"")));
	RULE("member", (t(x, "iifname @phas "), e_meta(x, NFT_META_IIFNAME, NFT_REG_1),
			e_lookup(x, "phas", x->id_phas, false, false), v(x, NFT_GOTO, "l2_spoof"),
			t(x, " comment \"a second source MAC on one port\"")));
	RULE("member", (t(x, "update @phas { iifname } "), e_meta(x, NFT_META_IIFNAME, NFT_REG_1),
			e_dynset(x, "phas", x->id_phas), t(x, "update @pmac { iifname . ether saddr } "),
			port_mac_key(x, false), e_dynset(x, "pmac", x->id_pmac), v(x, NFT_GOTO, "mtype"),
			t(x, " comment \"the first source MAC binds the port\"")));
	/* TCP in the same rule as its ether type (cmps, no lookup): no server or router message to check */
	t(x, "\t}\n\n\tchain mtype {\n");
	RULE("mtype", (ether_type(x, "ip", ETHERTYPE_IP), t(x, "meta l4proto tcp "), l4proto(x, IPPROTO_TCP),
		       v(x, NFT_GOTO, "m4t")));
	RULE("mtype", (ether_type(x, "ip", ETHERTYPE_IP), v(x, NFT_GOTO, "m4")));
	RULE("mtype", (ether_type(x, "ip6", ETHERTYPE_IPV6), t(x, "meta l4proto tcp "), l4proto(x, IPPROTO_TCP),
		       v(x, NFT_GOTO, "m6t")));
	RULE("mtype", (ether_type(x, "ip6", ETHERTYPE_IPV6), v(x, NFT_GOTO, "m6")));
	RULE("mtype", (ether_type(x, "arp", ETHERTYPE_ARP), v(x, NFT_GOTO, "marp")));
	RULE("mtype", (v(x, NFT_GOTO, "l2_frame"),
		       t(x, " comment \"not untagged ARP, IPv4 or IPv6: VLAN, QinQ, PPPoE, LLC, STP\"")));
	t(x, "\t}\n\n\tchain m4 {\n");
	RULE("m4", (udp_port(x, false, 67), v(x, NFT_GOTO, "l2_spoof"), t(x, " comment \"DHCP server on a workload\"")));
	RULE("m4", (icmp_type(x, false, "redirect", 5), v(x, NFT_GOTO, "l2_spoof")));
	if (dsegs && (r = ll_rules(x, f, "m4", false)) < 0)
		return r;
	RULE("m4", (vmap(x, "ip saddr", NFT_PAYLOAD_NETWORK_HEADER, 12, 4, "bind4", x->id_bind4),
		    t(x, "comment \"the segment's addresses (and 0.0.0.0, 169.254/16) only\"")));
	t(x, "\t}\n\n\tchain m6 {\n");
	RULE("m6", (icmp_type(x, true, "nd-router-advert", 134), v(x, NFT_GOTO, "l2_spoof"),
		    t(x, " comment \"router advertisement from a workload\"")));
	RULE("m6", (icmp_type(x, true, "nd-redirect", 137), v(x, NFT_GOTO, "l2_spoof")));
	RULE("m6", (udp_port(x, false, 547), v(x, NFT_GOTO, "l2_spoof"),
		    t(x, " comment \"DHCPv6 server on a workload\"")));
	if ((r = hown6_rule(x, "m6")) < 0)
		return r;
	RULE("m6", (icmp_type(x, true, "nd-neighbor-advert", 136), v(x, NFT_JUMP, "na")));
	if (dsegs && (r = ll_rules(x, f, "m6", true)) < 0)
		return r;
	RULE("m6", (vmap(x, "ip6 saddr", NFT_PAYLOAD_NETWORK_HEADER, 8, 16, "bind6", x->id_bind6),
		    t(x, "comment \"the segment's addresses (and ::, fe80::/16) only\"")));
	t(x, "\t}\n\n\tchain m4t {\n");
	if (dsegs && (r = ll_rules(x, f, "m4t", false)) < 0)
		return r;
	RULE("m4t", (vmap(x, "ip saddr", NFT_PAYLOAD_NETWORK_HEADER, 12, 4, "bind4", x->id_bind4),
		     t(x, "comment \"the segment's addresses only\"")));
	t(x, "\t}\n\n\tchain m6t {\n");
	if ((r = hown6_rule(x, "m6t")) < 0 || (dsegs && (r = ll_rules(x, f, "m6t", true)) < 0))
		return r;
	RULE("m6t", (vmap(x, "ip6 saddr", NFT_PAYLOAD_NETWORK_HEADER, 8, 16, "bind6", x->id_bind6),
		     t(x, "comment \"the segment's addresses only\"")));
	t(x, "\t}\n\n\tchain na {\n");
	RULE("na", (t(x, "@th,64,128 @hownna "), e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16, NFT_REG_1),
		    e_lookup(x, "hownna", x->id_hownna, false, false), v(x, NFT_GOTO, "l2_spoof"),
		    t(x, " comment \"the host's own address (the gateway): never a port's\"")));
	RULE("na", (vmap(x, "@th,64,128", NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16, "bindna", x->id_bindna),
		    t(x, "comment \"an advertised address must be the segment's\"")));
	t(x, "\t}\n\n\tchain marp {\n");
	RULE("marp", (t(x, "iifname . arp saddr ether != @pmac "), port_mac_key(x, true),
		      e_lookup(x, "pmac", x->id_pmac, false, true), v(x, NFT_GOTO, "l2_spoof"),
		      t(x, " comment \"ARP sender MAC: the port's own\"")));
	RULE("marp", (v(x, NFT_GOTO, "arp_ip")));
	t(x, "\t}\n\n\tchain arp_ip {\n");
	RULE("arp_ip", (t(x, "arp saddr ip @hown4 "), e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 14, 4, NFT_REG_1),
			e_lookup(x, "hown4", x->id_hown4, false, false), v(x, NFT_GOTO, "l2_spoof"),
			t(x, " comment \"the host's own address (the gateway): never a port's\"")));
	RULE("arp_ip", (vmap(x, "arp saddr ip", NFT_PAYLOAD_NETWORK_HEADER, 14, 4, "bind4", x->id_bind4),
			t(x, "comment \"ARP sender address: the segment's\"")));
	t(x, "\t}\n\n\tchain l2_gap {\n");
	/*
	 * A bridge: port's mark field was cleared before dport: it is a member
	 * all the same. Its bridge's dpb_, which names the bridge.
	 */
	for (size_t i = 0; dsegs && i < br->n_segs; i++) {
		char dpb[ZT_OBJ_NAME_MAX];

		if (!br->segs[i].bridge[0] || br->segs[i].brk != br->segs[i].rest)
			continue;
		zt_bridge_dpb_name(dpb, br->segs[i].brk);
		RULE("l2_gap", (d_iif_lookup(x, dpb, dpb_id(x, br, br->segs[i].brk), false), v(x, NFT_GOTO, "l2_spoof"),
				t(x, " comment \"a port of bridge %s: an address outside every segment\"", br->segs[i].bridge)));
	}
	RULE("l2_gap", (mark_is(x, f->src, 0, false), v(x, NFT_RETURN, NULL),
			t(x, " comment \"not a member port: inet ztseg judges it\"")));
	RULE("l2_gap", (v(x, NFT_GOTO, "l2_spoof"), t(x, " comment \"an address no segment of the port holds\"")));
	t(x, "\t}\n\n\tchain l2_spoof {\n");
	RULE("l2_spoof", (counter(x, "l2_spoof"), v(x, NF_DROP, NULL)));
	t(x, "\t}\n\n\tchain l2_frame {\n");
	RULE("l2_frame", (counter(x, "l2_frame"), v(x, NF_DROP, NULL)));
	t(x, "\t}\n\n");
#undef RULE
	return 0;
}

/* bs_<rest> (source bits), bd_<rest> (destination bits), bk_<rest> (address check) */
static int seg_chains(struct bx *x, const struct zt_plan_bridge_seg *s, const struct zt_mark_fields *f, bool brnf_off)
{
	char bs[ZT_OBJ_NAME_MAX], bd[ZT_OBJ_NAME_MAX], bk[ZT_OBJ_NAME_MAX];
	int r;

	seg_chain(bs, "bs", s);
	seg_chain(bd, "bd", s);
	seg_chain(bk, "bk", s);
	t(x, "\tchain %s {\n", bs);
	/*
	 * The source bits and the port's bound MAC in the first rule (not bound: member);
	 * then TCP from the segment's one prefix of a family is accepted here, the
	 * verdict mtype → m4t/m6t → bind4/bind6 → bk_<rest> would reach with an
	 * interval lookup and a jump more; anything else goes to mtype as before.
	 */
	r_begin(x, bs);
	mark_set(x, ~f->mask, zt_mark_src(f, s->idx));
	t(x, "iifname . ether saddr != @pmac ");
	port_mac_key(x, false);
	e_lookup(x, "pmac", x->id_pmac, false, true);
	v(x, NFT_GOTO, "member");
	t(x, " comment \"not bound yet, or a second MAC\"");
	if ((r = r_end(x)) < 0)
		return r;
	for (int fam = 0; fam < 2; fam++) {
		const struct zt_cidr *one = NULL;
		size_t n = 0;

		for (size_t i = 0; i < s->n_addrs; i++)
			if (s->addrs[i].family == (fam ? AF_INET6 : AF_INET)) {
				one = &s->addrs[i];
				n++;
			}
		if (n != 1 || cidr_starts_at_zero(one))
			continue;	/* none, or several: bind4/bind6 decide */
		/*
		 * meta l4proto first: a register load, where the ether type is a
		 * copy from the link-layer header, so ARP and UDP fail cheaply;
		 * both match a VLAN 0 frame's inner TCP, the ether type (0x8100) not.
		 */
		r_begin(x, bs);
		t(x, "meta l4proto tcp ");
		l4proto(x, IPPROTO_TCP);
		if (fam)
			ether_type(x, "ip6", ETHERTYPE_IPV6);
		else
			ether_type(x, "ip", ETHERTYPE_IP);
		saddr_prefix(x, one);
		v(x, NF_ACCEPT, NULL);
		t(x, " comment \"TCP from the segment's addresses\"");
		if ((r = r_end(x)) < 0)
			return r;
	}
	r_begin(x, bs);
	v(x, NFT_GOTO, "mtype");
	if ((r = r_end(x)) < 0)
		return r;
	t(x, "\t}\n\n\tchain %s {\n", bd);
	r_begin(x, bd);
	mark_set(x, ~f->dst, zt_mark_dst(f, s->idx));
	if (brnf_off) {
		v(x, NFT_GOTO, "fcheckm");
		if ((r = r_end(x)) < 0)
			return r;
	} else {
		/* fcheckm's accepts here, the first in the mark's rule: IPv4 one rule, IPv6 two */
		static const struct { const char *name; uint16_t type; } ok[] = {
			{ "ip", ETHERTYPE_IP }, { "ip6", ETHERTYPE_IPV6 }, { "arp", ETHERTYPE_ARP } };

		for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
			if (i)
				r_begin(x, bd);
			ether_type(x, ok[i].name, ok[i].type);
			v(x, NF_ACCEPT, NULL);
			if ((r = r_end(x)) < 0)
				return r;
		}
		r_begin(x, bd);
		v(x, NFT_GOTO, "l2_frame");
		t(x, " comment \"to a member port: untagged ARP, IPv4 and IPv6 only\"");
		if ((r = r_end(x)) < 0)
			return r;
	}
	t(x, "\t}\n\n\tchain %s {\n", bk);
	r_begin(x, bk);
	mark_is(x, f->src, zt_mark_src(f, s->idx), false);
	v(x, NFT_RETURN, NULL);
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, bk);
	v(x, NFT_GOTO, "l2_spoof");
	t(x, " comment \"another segment's address\"");
	if ((r = r_end(x)) < 0)
		return r;
	t(x, "\t}\n\n");
	return 0;
}

/* ---- bridge: segments (issue 15): ports named by ztsegd, addresses pinned by first claim ---- */

bool zt_bridge_has_dsegs(const struct zt_plan_bridge *br)
{
	for (size_t i = 0; i < br->n_segs; i++)
		if (br->segs[i].bridge[0])
			return true;
	return false;
}

void zt_bridge_dpb_name(char buf[ZT_OBJ_NAME_MAX], uint32_t brk)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "dpb_%04x", brk);
}

/* set dpb_<brk>'s id in this batch: one per bridge, reserved after the first segment on it */
static uint32_t dpb_id(const struct bx *x, const struct zt_plan_bridge *br, uint32_t brk)
{
	for (size_t i = 0; i < br->n_segs; i++)
		if (br->segs[i].rest == brk)
			return x->id_dpb0 + (uint32_t)i;
	return 0;
}

/* add @SET { key in reg 1 } (a dynamic set's element, never replaced) */
static void e_dynadd(struct bx *x, const char *set, uint32_t id)
{
	struct nftnl_expr *e = ex(x, "dynset");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_ADD);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, id);
}

enum dkey { DK_IP_SADDR, DK_IP_DADDR, DK_ARP_SPA, DK_IP6_SADDR, DK_IP6_DADDR, DK_NA_TARGET };

static const struct {
	const char *text;	/* as nft reads it back into the same bytes */
	uint32_t base, off, len;
} dkeys[] = {
	[DK_IP_SADDR] = { "ip saddr", NFT_PAYLOAD_NETWORK_HEADER, 12, 4 },
	[DK_IP_DADDR] = { "ip daddr", NFT_PAYLOAD_NETWORK_HEADER, 16, 4 },
	[DK_ARP_SPA] = { "arp saddr ip", NFT_PAYLOAD_NETWORK_HEADER, 14, 4 },
	/* the IPv6 sets are `typeof @th,64,128 . iifname` (bindna's type): raw payloads, one type */
	[DK_IP6_SADDR] = { "@nh,64,128", NFT_PAYLOAD_NETWORK_HEADER, 8, 16 },
	[DK_IP6_DADDR] = { "@nh,192,128", NFT_PAYLOAD_NETWORK_HEADER, 24, 16 },
	[DK_NA_TARGET] = { "@th,64,128", NFT_PAYLOAD_TRANSPORT_HEADER, 8, 16 },
};

/* the address alone in reg 1, or with the port's name after it (iifname, or oifname in forward) */
static void dkey(struct bx *x, enum dkey k, bool port, bool out)
{
	t(x, "%s%s ", dkeys[k].text, port ? (out ? " . oifname" : " . iifname") : "");
	e_payload(x, dkeys[k].base, dkeys[k].off, dkeys[k].len, NFT_REG_1);
	if (port)
		e_meta(x, out ? NFT_META_OIFNAME : NFT_META_IIFNAME, dkeys[k].len == 4 ? NFT_REG32_01 : NFT_REG_2);
}

static void d_lookup(struct bx *x, enum dkey k, bool port, bool out, const char *set, uint32_t id, bool inv)
{
	dkey(x, k, port, out);
	t(x, "%s@%s ", inv ? "!= " : "", set);
	e_lookup(x, set, id, false, inv);
}

static void d_iif_lookup(struct bx *x, const char *set, uint32_t id, bool inv)
{
	t(x, "iifname %s@%s ", inv ? "!= " : "", set);
	e_meta(x, NFT_META_IIFNAME, NFT_REG_1);
	e_lookup(x, set, id, false, inv);
}

/*
 * The first claim: add @claimedF { addr } add @hasF { iifname } add
 * @pinF { addr . iifname } return. `add` never replaces an element, so
 * a second claim of an address (another port) meets @claimedF first.
 */
static int d_claim(struct bx *x, const char *chain, enum dkey k, bool v6)
{
	const char *claimed = v6 ? "claimed6" : "claimed4", *has = v6 ? "has6" : "has4", *pin = v6 ? "pin6" : "pin4";
	int r;

	r_begin(x, chain);
	d_lookup(x, k, false, false, claimed, v6 ? x->id_claimed6 : x->id_claimed4, false);
	v(x, NFT_GOTO, "l2_spoof");
	t(x, " comment \"another port's address\"");
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, chain);
	d_iif_lookup(x, has, v6 ? x->id_has6 : x->id_has4, false);
	v(x, NFT_GOTO, "l2_spoof");
	t(x, " comment \"one address per port and family\"");
	if ((r = r_end(x)) < 0)
		return r;
	r_begin(x, chain);
	t(x, "add @%s { ", claimed);
	dkey(x, k, false, false);
	e_dynadd(x, claimed, v6 ? x->id_claimed6 : x->id_claimed4);
	t(x, "} add @%s { iifname } add @%s { ", has, pin);
	e_meta(x, NFT_META_IIFNAME, NFT_REG_1);
	e_dynadd(x, has, v6 ? x->id_has6 : x->id_has4);
	dkey(x, k, true, false);
	e_dynadd(x, pin, v6 ? x->id_pin6 : x->id_pin4);
	t(x, "} ");
	v(x, NFT_RETURN, NULL);
	t(x, " comment \"the first claim pins the address to the port\"");
	return r_end(x);
}

/* KEY . iifname @pinF return */
static int d_pinned(struct bx *x, const char *chain, enum dkey k, bool v6)
{
	r_begin(x, chain);
	d_lookup(x, k, true, false, v6 ? "pin6" : "pin4", v6 ? x->id_pin6 : x->id_pin4, false);
	v(x, NFT_RETURN, NULL);
	t(x, " comment \"an address the port claimed\"");
	return r_end(x);
}

/*
 * A set of this section: a plain one (dport, dportd, dpb_<brk>: ports
 * by name, no verdict, so that ztsegd's elements for a port coming or
 * going never make the kernel validate the table), or one the packet
 * path fills with `add` and ztsegd empties (dynamic without a timeout: a
 * pin lasts as long as its port).
 */
#define DSET(n, kt, kl, m, dyn) { .name = (n), .key_type = (kt), .key_len = (kl), .map = (m), .dynamic = (dyn), \
				   .forever = (dyn), .ud_host = (kt) == T_IFNAME }
static const struct setdef dport_def = DSET("dport", T_IFNAME, IFNAMSIZ, false, false),
			   dportd_def = DSET("dportd", T_IFNAME, IFNAMSIZ, false, false),
			   dpb_def = DSET(NULL, T_IFNAME, IFNAMSIZ, false, false),
			   ps_def = DSET(NULL, T_IFNAME, IFNAMSIZ, false, true),
			   pin4_def = DSET("pin4", (T_IPV4 << 6) | T_IFNAME, 4 + IFNAMSIZ, false, true),
			   /* ipv6_addr in the kernel (nft lists it); typeof @th,64,128 in the text (nft 1.0.6 reads it) */
			   pin6_def = DSET("pin6", (T_IPV6 << 6) | T_IFNAME, 16 + IFNAMSIZ, false, true),
			   claimed4_def = DSET("claimed4", T_IPV4, 4, false, true),
			   claimed6_def = DSET("claimed6", T_IPV6, 16, false, true),
			   has4_def = DSET("has4", T_IFNAME, IFNAMSIZ, false, true),
			   has6_def = DSET("has6", T_IFNAME, IFNAMSIZ, false, true);
#undef DSET

static int dseg_sets(struct bx *x, const struct zt_plan_bridge *br)
{
	static const struct {
		const struct setdef *d;
		const char *type, *comment;
	} ds[] = {
		{ &pin4_def, "type ipv4_addr . ifname", "IPv4 addresses claimed, each with its port (first claim: ARP)" },
		{ &pin6_def, "typeof @th,64,128 . iifname", "IPv6 addresses claimed, each with its port (first claim: ND)" },
		{ &claimed4_def, "type ipv4_addr", "IPv4 addresses a port of a bridge: segment claimed" },
		{ &claimed6_def, "typeof @th,64,128", "IPv6 addresses a port of a bridge: segment claimed" },
		{ &has4_def, "type ifname", "ports that claimed an IPv4 address (one each)" },
		{ &has6_def, "type ifname", "ports that claimed an IPv6 address (one each)" },
	};
	uint32_t *ids[] = { &x->id_pin4, &x->id_pin6, &x->id_claimed4, &x->id_claimed6, &x->id_has4, &x->id_has6 };
	char name[ZT_OBJ_NAME_MAX];
	int r;

	if (!zt_bridge_has_dsegs(br))
		return 0;
	t(x, "\tset dport {\n\t\ttype ifname\n\t\tcomment \"ports of the bridges bridge: segments name, "
	  "by exact name (filled by apply and ztsegd)\"\n\t}\n\n");
	t(x, "\tset dportd {\n\t\ttype ifname\n\t\tcomment \"the same ports as destinations (filled by "
	  "apply and ztsegd)\"\n\t}\n\n");
	if (x->b) {
		x->id_dport = x->b->next_set_id++;
		x->id_dportd = x->b->next_set_id++;
		x->id_dpb0 = x->b->next_set_id;
		x->b->next_set_id += (uint32_t)br->n_segs;
		x->id_ps0 = x->b->next_set_id;
		x->b->next_set_id += (uint32_t)br->n_segs;
	}
	if ((r = put_set(x, &dport_def, x->id_dport)) < 0 || (r = put_set(x, &dportd_def, x->id_dportd)) < 0)
		return r;
	for (size_t i = 0; i < br->n_segs; i++) {
		struct setdef d = dpb_def;

		if (!br->segs[i].bridge[0] || br->segs[i].brk != br->segs[i].rest)
			continue;
		zt_bridge_dpb_name(name, br->segs[i].brk);
		d.name = name;
		t(x, "\tset %s {\n\t\ttype ifname\n\t\tcomment \"the ports of bridge %s (filled by apply and ztsegd)\"\n"
		  "\t}\n\n", name, br->segs[i].bridge);
		if ((r = put_set(x, &d, x->id_dpb0 + (uint32_t)i)) < 0)
			return r;
	}
	/* ps_<rest>: the ports tied to that segment by their first claim, in either family */
	for (size_t i = 0; i < br->n_segs; i++) {
		struct setdef d = ps_def;

		if (!br->segs[i].bridge[0])
			continue;
		seg_chain(name, "ps", &br->segs[i]);
		d.name = name;
		t(x, "\tset %s {\n\t\ttype ifname\n\t\tsize %u\n\t\tflags dynamic\n\t\tcomment \"the ports whose "
		  "first claim (IPv4 or IPv6) is this segment's: their only segment\"\n\t}\n\n", name, MAC_SET_SIZE);
		if ((r = put_set(x, &d, x->id_ps0 + (uint32_t)i)) < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(ds); i++) {
		t(x, "\tset %s {\n\t\t%s\n\t\tsize %u\n\t\tflags dynamic\n\t\tcomment \"%s\"\n\t}\n\n", ds[i].d->name,
		  ds[i].type, MAC_SET_SIZE, ds[i].comment);
		if (x->b)
			*ids[i] = x->b->next_set_id++;
		if ((r = put_set(x, ds[i].d, *ids[i])) < 0)
			return r;
	}
	if (x->b && br->n_dports &&
	    (r = zt_bridge_emit_dports(x->b, br, br->dports, br->n_dports, NFT_MSG_NEWSETELEM)) < 0)
		return r;
	if (x->b && br->n_pins && ((r = zt_bridge_emit_pins(x->b, br->pins, br->n_pins, NFT_MSG_NEWSETELEM)) < 0 ||
				   (r = zt_bridge_emit_ps(x->b, br, br->pins, br->n_pins)) < 0))
		return r;
	return 0;
}

static const char *const dseg_chain_names[] = { "dc6", "dd", "dll", "dp4", "dp6", "dparp", "dpin", "dpna", "l2_flood",
						"l2_unbound" };

static int dseg_put_chains(struct bx *x, const struct zt_plan_bridge *br)
{
	char name[ZT_OBJ_NAME_MAX];
	int r;

	if (!zt_bridge_has_dsegs(br))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(dseg_chain_names); i++)
		if ((r = put_chain(x, dseg_chain_names[i], -1)) < 0)
			return r;
	for (size_t i = 0; i < br->n_segs; i++) {
		if (!br->segs[i].bridge[0])
			continue;
		seg_chain(name, "bn", &br->segs[i]);
		if ((r = put_chain(x, name, -1)) < 0)
			return r;
	}
	return 0;
}

/* prerouting, after the mark is cleared: a port of a bridge: segment's bridge → member (its MAC) */
static int dseg_prerouting(struct bx *x, const struct zt_plan_bridge *br)
{
	if (!zt_bridge_has_dsegs(br))
		return 0;
	r_begin(x, "prerouting");
	d_iif_lookup(x, "dport", x->id_dport, false);
	v(x, NFT_GOTO, "member");
	t(x, " comment \"ports of bridges that bridge: segments name: their MAC, then the address they claimed\"");
	return r_end(x);
}

/* forward, after port_dst: such a port as a destination → dd */
static int dseg_forward(struct bx *x, const struct zt_plan_bridge *br)
{
	if (!zt_bridge_has_dsegs(br))
		return 0;
	r_begin(x, "forward");
	t(x, "oifname @dportd ");
	e_meta(x, NFT_META_OIFNAME, NFT_REG_1);
	e_lookup(x, "dportd", x->id_dportd, false, false);
	v(x, NFT_GOTO, "dd");
	t(x, " comment \"ports of bridges that bridge: segments name: only the port that holds the address\"");
	return r_end(x);
}

/* ip6 daddr fe80::/10: two bytes, masked */
static void dd_ll6(struct bx *x, const uint8_t val[2], const uint8_t mask[2])
{
	e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 24, 2, NFT_REG_1);
	e_bitwise_n(x, mask, (const uint8_t[2]){ 0 }, 2);
	e_cmp(x, NFT_CMP_EQ, val, 2);
}

/* dpin, dp4, dparp, dp6, dc6, dpna, dd, l2_unbound, l2_flood */
static int dseg_common_chains(struct bx *x, const struct zt_plan_bridge *br, const struct zt_mark_fields *f)
{
	static const uint8_t ll6[2] = { 0xfe, 0x80 }, ll6m[2] = { 0xff, 0xc0 };
	uint32_t mc4 = htonl(0xe0000000u), mc4m = htonl(0xf0000000u), bc4 = 0xffffffffu;
	uint8_t mc6 = 0xff, rs = 133, na = 136, mld = 130, ns = 135;
	int r;

	if (!zt_bridge_has_dsegs(br))
		return 0;
#define RULE(chain, body)                 \
	do {                              \
		r_begin(x, chain);        \
		body;                     \
		if ((r = r_end(x)) < 0)   \
			return r;         \
	} while (0)

	t(x, "\tchain dpin {\n");
	RULE("dpin", (ether_type(x, "arp", ETHERTYPE_ARP), v(x, NFT_GOTO, "dparp")));
	RULE("dpin", (ether_type(x, "ip", ETHERTYPE_IP), v(x, NFT_GOTO, "dp4")));
	RULE("dpin", (v(x, NFT_GOTO, "dp6")));
	t(x, "\t}\n\n\tchain dp4 {\n");
	if ((r = d_pinned(x, "dp4", DK_IP_SADDR, false)) < 0)
		return r;
	RULE("dp4", (d_lookup(x, DK_IP_SADDR, false, false, "claimed4", x->id_claimed4, false),
		     v(x, NFT_GOTO, "l2_spoof"), t(x, " comment \"another port's address\"")));
	RULE("dp4", (v(x, NFT_GOTO, "l2_unbound"), t(x, " comment \"claimed by ARP first\"")));
	t(x, "\t}\n\n\tchain dparp {\n");
	if ((r = d_pinned(x, "dparp", DK_ARP_SPA, false)) < 0 || (r = d_claim(x, "dparp", DK_ARP_SPA, false)) < 0)
		return r;
	t(x, "\t}\n\n\tchain dp6 {\n");
	if ((r = d_pinned(x, "dp6", DK_IP6_SADDR, true)) < 0)
		return r;
	/* neighbour discovery claims (RS 133, NS 135, NA 136; RA 134 went to l2_spoof in m6) */
	RULE("dp6", (t(x, "icmpv6 type 133-136 "), l4proto(x, IPPROTO_ICMPV6),
		     e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1), e_cmp(x, NFT_CMP_GTE, &rs, 1),
		     e_cmp(x, NFT_CMP_LTE, &na, 1), v(x, NFT_GOTO, "dc6"),
		     t(x, " comment \"neighbour discovery may claim\"")));
	RULE("dp6", (d_lookup(x, DK_IP6_SADDR, false, false, "claimed6", x->id_claimed6, false),
		     v(x, NFT_GOTO, "l2_spoof"), t(x, " comment \"another port's address\"")));
	RULE("dp6", (v(x, NFT_GOTO, "l2_unbound"), t(x, " comment \"claimed by neighbour discovery first\"")));
	t(x, "\t}\n\n\tchain dc6 {\n");
	if ((r = d_claim(x, "dc6", DK_IP6_SADDR, true)) < 0)
		return r;
	t(x, "\t}\n\n\tchain dpna {\n");
	if ((r = d_pinned(x, "dpna", DK_NA_TARGET, true)) < 0 || (r = d_claim(x, "dpna", DK_NA_TARGET, true)) < 0)
		return r;
	t(x, "\t}\n\n\tchain dd {\n");
	RULE("dd", (mark_set(x, ~f->dst, 0), t(x, "comment \"no destination bits: inet ztseg classifies by address\"")));
	if (br->brnf_off)
		RULE("dd", (v(x, NFT_GOTO, "fcheckm")));
	RULE("dd", (ether_type(x, "arp", ETHERTYPE_ARP), v(x, NF_ACCEPT, NULL)));
	RULE("dd", (ether_type(x, "ip", ETHERTYPE_IP), d_lookup(x, DK_IP_DADDR, true, true, "pin4", x->id_pin4, false),
		    v(x, NF_ACCEPT, NULL), t(x, " comment \"the port that claimed the address\"")));
	RULE("dd", (ether_type(x, "ip6", ETHERTYPE_IPV6),
		    d_lookup(x, DK_IP6_DADDR, true, true, "pin6", x->id_pin6, false), v(x, NF_ACCEPT, NULL),
		    t(x, " comment \"the port that claimed the address\"")));
	RULE("dd", (ether_type(x, "ip", ETHERTYPE_IP), t(x, "ip daddr 224.0.0.0/4 "),
		    e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1), e_bitwise(x, mc4m, 0),
		    e_cmp(x, NFT_CMP_EQ, &mc4, 4), v(x, NF_ACCEPT, NULL)));
	RULE("dd", (ether_type(x, "ip", ETHERTYPE_IP), t(x, "ip daddr 255.255.255.255 "),
		    e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1), e_cmp(x, NFT_CMP_EQ, &bc4, 4),
		    v(x, NF_ACCEPT, NULL)));
	RULE("dd", (ether_type(x, "ip6", ETHERTYPE_IPV6), t(x, "ip6 daddr ff00::/8 "),
		    e_payload(x, NFT_PAYLOAD_NETWORK_HEADER, 24, 1, NFT_REG_1), e_cmp(x, NFT_CMP_EQ, &mc6, 1),
		    v(x, NF_ACCEPT, NULL), t(x, " comment \"multicast: neighbour discovery\"")));
	RULE("dd", (ether_type(x, "ip6", ETHERTYPE_IPV6), t(x, "ip6 daddr fe80::/10 "), dd_ll6(x, ll6, ll6m),
		    v(x, NF_ACCEPT, NULL), t(x, " comment \"link-local\"")));
	RULE("dd", (v(x, NFT_GOTO, "l2_flood"),
		    t(x, " comment \"a copy for a port that does not hold the address (flooding), or not ARP/IP\"")));
	t(x, "\t}\n\n\tchain dll {\n");
	RULE("dll", (udp_port(x, false, 68), udp_port(x, true, 67), v(x, NF_ACCEPT, NULL),
		     t(x, " comment \"DHCP client\"")));
	RULE("dll", (udp_port(x, false, 546), udp_port(x, true, 547), v(x, NF_ACCEPT, NULL),
		     t(x, " comment \"DHCPv6 client\"")));
	/* MLD 130-132, RS 133, NS 135, NA 136 (its target went through na), MLDv2 143; RA, redirect: m6 */
	RULE("dll", (t(x, "icmpv6 type 130-133 "), l4proto(x, IPPROTO_ICMPV6),
		     e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1), e_cmp(x, NFT_CMP_GTE, &mld, 1),
		     e_cmp(x, NFT_CMP_LTE, &rs, 1), v(x, NF_ACCEPT, NULL), t(x, " comment \"MLD, router solicitation\"")));
	RULE("dll", (t(x, "icmpv6 type 135-136 "), l4proto(x, IPPROTO_ICMPV6),
		     e_payload(x, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1), e_cmp(x, NFT_CMP_GTE, &ns, 1),
		     e_cmp(x, NFT_CMP_LTE, &na, 1), v(x, NF_ACCEPT, NULL),
		     t(x, " comment \"neighbour solicitation and advertisement\"")));
	RULE("dll", (icmp_type(x, true, "mld2-listener-report", 143), v(x, NF_ACCEPT, NULL), t(x, " comment \"MLDv2 report\"")));
	RULE("dll", (v(x, NFT_GOTO, "l2_unbound"),
		     t(x, " comment \"anything else from a link-local or unspecified source: no segment's\"")));
	t(x, "\t}\n\n\tchain l2_unbound {\n");
	RULE("l2_unbound", (counter(x, "l2_unbound"), v(x, NF_DROP, NULL)));
	t(x, "\t}\n\n\tchain l2_flood {\n");
	RULE("l2_flood", (counter(x, "l2_flood"), v(x, NF_DROP, NULL)));
	t(x, "\t}\n\n");
#undef RULE
	return 0;
}

/* bk_<rest>, bn_<rest> of a bridge: segment: a port of its bridge that holds (or now claims) the address */
static int dseg_seg_chains(struct bx *x, const struct zt_plan_bridge *br, const struct zt_plan_bridge_seg *s,
			   const struct zt_mark_fields *f)
{
	char name[ZT_OBJ_NAME_MAX], dpb[ZT_OBJ_NAME_MAX], ps[ZT_OBJ_NAME_MAX];
	int r;

	zt_bridge_dpb_name(dpb, s->brk);
	for (int na = 0; na < 2; na++) {
		seg_chain(name, na ? "bn" : "bk", s);
		t(x, "\tchain %s {\n", name);
		/*
		 * The common path first, one rule: an IP source the port claimed
		 * sets the segment's bits (a claim was made only by a port of the
		 * bridge, and ztsegd removes a port's claims when it leaves).
		 */
		for (int v6 = 0; !na && v6 < 2; v6++) {
			r_begin(x, name);
			if (v6)
				ether_type(x, "ip6", ETHERTYPE_IPV6);
			else
				ether_type(x, "ip", ETHERTYPE_IP);
			d_lookup(x, v6 ? DK_IP6_SADDR : DK_IP_SADDR, true, false, v6 ? "pin6" : "pin4",
				 v6 ? x->id_pin6 : x->id_pin4, false);
			mark_set(x, ~f->mask, zt_mark_src(f, s->idx));
			v(x, NFT_RETURN, NULL);
			t(x, " comment \"a source the port claimed: its segment\"");
			if ((r = r_end(x)) < 0)
				return r;
		}
		r_begin(x, name);
		d_iif_lookup(x, dpb, dpb_id(x, br, s->brk), true);
		v(x, NFT_GOTO, "l2_spoof");
		t(x, " comment \"not a port of %s\"", s->bridge);
		if ((r = r_end(x)) < 0)
			return r;
		seg_chain(ps, "ps", s);
		for (int v6 = 0; v6 < 2; v6++) {
			r_begin(x, name);
			d_iif_lookup(x, v6 ? "has6" : "has4", v6 ? x->id_has6 : x->id_has4, false);
			t(x, "iifname != @%s ", ps);
			e_lookup(x, ps, x->id_ps0 + (uint32_t)(s - br->segs), false, true);
			v(x, NFT_GOTO, "l2_spoof");
			t(x, " comment \"the port's first claim is another segment's: one segment per port\"");
			if ((r = r_end(x)) < 0)
				return r;
		}
		r_begin(x, name);
		v(x, NFT_JUMP, na ? "dpna" : "dpin");
		if ((r = r_end(x)) < 0)
			return r;
		r_begin(x, name);
		t(x, "add @%s { iifname } ", ps);
		e_meta(x, NFT_META_IIFNAME, NFT_REG_1);
		e_dynadd(x, ps, x->id_ps0 + (uint32_t)(s - br->segs));
		t(x, "comment \"its claim ties the port to this segment\"");
		if ((r = r_end(x)) < 0)
			return r;
		r_begin(x, name);
		mark_set(x, ~f->mask, zt_mark_src(f, s->idx));
		t(x, "comment \"the segment whose address the port holds\"");
		if ((r = r_end(x)) < 0)
			return r;
		t(x, "\t}\n\n");
	}
	return 0;
}

static int table(struct bx *x, const struct zt_plan_bridge *br, uint32_t flags)
{
	struct zt_mark_fields f;
	char name[ZT_OBJ_NAME_MAX];
	int r;

	zt_mark_fields(br->mask, &f);
	if ((r = put_table(x, flags)) < 0 ||
	    (r = put_counter(x, "l2_frame", "frames of member ports that are not untagged ARP, IPv4, IPv6")) < 0 ||
	    (r = put_counter(x, "l2_spoof", "bridge ports: foreign addresses, MACs, DHCP servers, routers")) < 0)
		return r;
	if (br->brnf_off && (r = put_counter(x, "l2_nobrnf", "bridged member traffic while br_netfilter is off")) < 0)
		return r;
	if (zt_bridge_has_dsegs(br) &&
	    ((r = put_counter(x, "l2_unbound", "bridge: segment ports: IP from an address not claimed by ARP/ND")) < 0 ||
	     (r = put_counter(x, "l2_flood", "bridge: segment ports: copies for a port without the address")) < 0))
		return r;
	/* every chain before the maps and rules that name them (text: nft orders it itself) */
	if ((r = put_chain(x, "prerouting", NF_BR_PRE_ROUTING)) < 0 || (r = put_chain(x, "forward", NF_BR_FORWARD)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(chain_names); i++)
		if ((r = put_chain(x, chain_names[i], -1)) < 0)
			return r;
	for (size_t i = 0; i < br->n_segs; i++) {
		static const char *const pre[] = { "bk", "bs", "bd" };

		/* a bridge: segment's ports are found by name in dport, not by pattern: no bs_, bd_ */
		for (size_t j = 0; j < (br->segs[i].bridge[0] ? 1 : ELEMENTSOF(pre)); j++) {
			seg_chain(name, pre[j], &br->segs[i]);
			if ((r = put_chain(x, name, -1)) < 0)
				return r;
		}
	}
	if ((r = dseg_put_chains(x, br)) < 0 || (r = sets(x, br)) < 0)
		return r;
	if ((r = base_chains(x, br, &f)) < 0 || (r = common_chains(x, br, &f)) < 0 ||
	    (r = dseg_common_chains(x, br, &f)) < 0)
		return r;
	for (size_t i = 0; i < br->n_segs; i++)
		if ((r = br->segs[i].bridge[0] ? dseg_seg_chains(x, br, &br->segs[i], &f)
					       : seg_chains(x, &br->segs[i], &f, br->brnf_off)) < 0)
			return r;
	t(x, "}\n");
	return 0;
}

int zt_bridge_render(FILE *f, const struct zt_plan_bridge *br)
{
	struct bx x = { .f = f };

	if (!br->n_segs)
		return 0;
	return table(&x, br, 0);
}

int zt_bridge_emit(struct zt_batch *b, const struct zt_plan_bridge *br, uint32_t table_flags)
{
	struct bx x = { .b = b };
	int r;

	if (!br->n_segs)
		return 0;
	r = table(&x, br, table_flags);
	if (x.r)
		nftnl_rule_free(x.r);
	return r < 0 ? r : x.nomem ? -ENOMEM : 0;
}

int zt_bridge_emit_destroy(struct zt_batch *b)
{
	struct nlmsghdr *nlh = zt_batch_msg(b, ZT_BOBJ_TABLE, "", ZT_NFT_MSG_DESTROYTABLE, FAM, 0);

	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, ZT_TABLE_NAME);
	zt_batch_msg_done(b, nlh);
	return 0;
}

uint64_t zt_bridge_hash(const struct zt_plan_bridge *br)
{
	_cleanup_free_ char *buf = NULL;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return 1;	/* unknown: written again */
	zt_bridge_render(f, br);	/* render never writes hown's elements: ztsegd keeps those */
	fprintf(f, "%d %u", br->brnf_off, (unsigned)br->n_segs);
	if (fclose(f) != 0)
		return 1;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)buf[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* ---- the host's own addresses (sets hown4, hownna) ----------------------- */

static int haddr_cmp(const void *a, const void *b)
{
	const struct zt_bridge_haddr *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

size_t zt_bridge_haddrs_norm(struct zt_bridge_haddr *v, size_t n)
{
	size_t k = 0;

	if (n)
		qsort(v, n, sizeof(*v), haddr_cmp);
	for (size_t i = 0; i < n; i++)
		if (!k || haddr_cmp(&v[i], &v[k - 1]))
			v[k++] = v[i];
	return k;
}

/* The elements of v, each in its family's set, as NEWSETELEM or DESTROYSETELEM. */
static int hown_elems(struct zt_batch *b, const struct zt_bridge_haddr *v, size_t n, uint16_t type)
{
	for (int fam = 0; fam < 2; fam++) {
		const char *name = fam ? "hownna" : "hown4";
		struct nftnl_set *s = NULL;
		struct nlmsghdr *nlh;
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			struct nftnl_set_elem *e;

			if (v[i].family != (fam ? AF_INET6 : AF_INET))
				continue;
			if (!s) {
				if (!(s = nftnl_set_alloc()))
					return -ENOMEM;
				nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
				nftnl_set_set_str(s, NFTNL_SET_NAME, name);
				nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAM);
			}
			if (!(e = nftnl_set_elem_alloc())) {
				nftnl_set_free(s);
				return -ENOMEM;
			}
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, v[i].addr, fam ? 16 : 4);
			nftnl_set_elem_add(s, e);
			k++;
		}
		if (!k)
			continue;
		nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, name, type, FAM, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			zt_batch_msg_done(b, nlh);
		}
		nftnl_set_free(s);
		if (!nlh)
			return -ENOMEM;
	}
	return 0;
}

int zt_bridge_emit_hown(struct zt_batch *b, const struct zt_bridge_haddr *v, size_t n, uint16_t type, bool flush)
{
	for (int fam = 0; flush && fam < 2; fam++) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;

		if (!s)
			return -ENOMEM;
		nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(s, NFTNL_SET_NAME, fam ? "hownna" : "hown4");
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAM);
		nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, fam ? "hownna" : "hown4", NFT_MSG_DELSETELEM, FAM, 0);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			zt_batch_msg_done(b, nlh);
		}
		nftnl_set_free(s);
		if (!nlh)
			return -ENOMEM;
	}
	return hown_elems(b, v, n, type);
}

/* ---- member ports by exact name (maps port_srcx, port_dstx) -------------- */

static const struct zt_plan_bridge_seg *port_seg(const struct zt_plan_bridge *br, const char *name)
{
	for (size_t i = 0; i < br->n_segs; i++)
		for (size_t j = 0; j < br->segs[i].n_ifs; j++)
			if (zt_ifpat_match(&br->segs[i].ifs[j], name))
				return &br->segs[i];
	return NULL;
}

int zt_bridge_emit_ports(struct zt_batch *b, const struct zt_plan_bridge *br, const char (*names)[IFNAMSIZ],
			 size_t n, uint16_t type, bool flush)
{
	for (int dst = 0; dst < 2; dst++) {
		const char *set = dst ? "port_dstx" : "port_srcx";
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		size_t k = 0;

		if (!s)
			return -ENOMEM;
		nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAM);
		if (flush) {
			nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, set, NFT_MSG_DELSETELEM, FAM, 0);
			if (nlh) {
				nftnl_set_elems_nlmsg_build_payload(nlh, s);
				zt_batch_msg_done(b, nlh);
			}
			if (!nlh) {
				nftnl_set_free(s);
				return -ENOMEM;
			}
		}
		for (size_t i = 0; i < n; i++) {
			const struct zt_plan_bridge_seg *sg = port_seg(br, names[i]);
			struct nftnl_set_elem *e;
			char key[IFNAMSIZ] = {}, chain[ZT_OBJ_NAME_MAX];

			if (!sg)
				continue;
			if (!(e = nftnl_set_elem_alloc())) {
				nftnl_set_free(s);
				return -ENOMEM;
			}
			memcpy(key, names[i], strnlen(names[i], IFNAMSIZ - 1));
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, IFNAMSIZ);
			if (type == NFT_MSG_NEWSETELEM) {
				seg_chain(chain, dst ? "bd" : "bs", sg);
				nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, dst ? NFT_JUMP : NFT_GOTO);
				nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
			}
			nftnl_set_elem_add(s, e);
			k++;
		}
		nlh = NULL;
		if (k && (nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, set, type, FAM,
					     type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0))) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			zt_batch_msg_done(b, nlh);
		}
		nftnl_set_free(s);
		if (k && !nlh)
			return -ENOMEM;
	}
	return 0;
}
