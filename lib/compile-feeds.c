/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feed tables `ip ztseg` and `ip6 ztseg` as nf_tables messages: the
 * skeleton (tables, base chains, maps, one chain per feed) and chunks of
 * element changes. See compile-feeds.h and doc/RULESET.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include "compile-feeds.h"

#define ZT_NFT_MSG_DESTROYTABLE 26

static const uint16_t families[2] = { NFPROTO_IPV4, NFPROTO_IPV6 };

static int put_table(struct zt_batch *b, uint16_t fam, uint32_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, ZT_TABLE_NAME);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, fam);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
	nlh = zt_batch_msg(b, ZT_BOBJ_TABLE, "", NFT_MSG_NEWTABLE, fam, NLM_F_CREATE);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		zt_batch_msg_done(b, nlh);
	}
	nftnl_table_free(t);
	return nlh ? 0 : -ENOMEM;
}

/* A chain; hook < 0: a regular chain. flush: its rules away after. */
static int put_chain(struct zt_batch *b, uint16_t fam, const char *name, int hook, bool flush)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, ZT_TABLE_NAME);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, fam);
	if (hook >= 0) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, ZT_FEED_PRIO);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = zt_batch_msg(b, ZT_BOBJ_CHAIN, name, NFT_MSG_NEWCHAIN, fam, NLM_F_CREATE);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		zt_batch_msg_done(b, nlh);
	}
	nftnl_chain_free(c);
	if (!nlh)
		return -ENOMEM;
	if (!flush)
		return 0;
	nlh = zt_batch_msg(b, ZT_BOBJ_RULE, name, NFT_MSG_DELRULE, fam, 0);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, name);
	zt_batch_msg_done(b, nlh);
	return 0;
}

enum set_kind { SET_RANGES, SET_EXACT, SET_IDS, SET_SELECT };

/*
 * SET_RANGES: interval map `listed_src`/`listed_dst` (address : mark, the
 * feed's id); SET_EXACT: hash map `listed_src_x`/`listed_dst_x` (single
 * addresses : mark); SET_IDS: the map `feed_ids` (mark : verdict, the id's
 * jump to its chain).
 */
static int put_set(struct zt_batch *b, uint16_t fam, const char *name, uint32_t id, enum set_kind kind)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nlmsghdr *nlh;

	if (!s)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, fam);
	if (kind == SET_SELECT) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, fam == NFPROTO_IPV4 ? 7 : 8);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, fam == NFPROTO_IPV4 ? 4 : 16);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	} else if (kind == SET_IDS) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ZT_NFT_TYPE_MARK);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
	} else {
		/* No size for the hash map: the kernel's resizable hash (no fixed bucket array, no limit). */
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, kind == SET_EXACT ? NFT_SET_MAP : NFT_SET_INTERVAL | NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, fam == NFPROTO_IPV4 ? 7 : 8);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, fam == NFPROTO_IPV4 ? 4 : 16);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, ZT_NFT_TYPE_MARK);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 4);
	}
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nlh = zt_batch_msg(b, ZT_BOBJ_SET, name, NFT_MSG_NEWSET, fam, NLM_F_CREATE);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		zt_batch_msg_done(b, nlh);
	}
	nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

/* The element `id : jump feed_NAME` of feed_ids added (an identical one already there: no change) or deleted. */
static int put_id_elem(struct zt_batch *b, uint16_t fam, uint32_t id, const char *feed, bool del)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	char chain[ZT_OBJ_NAME_MAX];
	struct nlmsghdr *nlh = NULL;

	if (s && e) {
		nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(s, NFTNL_SET_NAME, ZT_FEED_IDS);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, fam);
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_KEY, id);
		if (!del) {
			snprintf(chain, sizeof(chain), ZT_FEED_CHAIN_PREFIX "%s", feed);
			nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
		}
		nftnl_set_elem_add(s, e);
		e = NULL;
		nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, ZT_FEED_IDS, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, fam,
				   del ? 0 : NLM_F_CREATE);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			zt_batch_msg_done(b, nlh);
		}
	}
	if (e)
		nftnl_set_elem_free(e);
	if (s)
		nftnl_set_free(s);
	return nlh ? 0 : -ENOMEM;
}

static int put_rule(struct zt_batch *b, uint16_t fam, const char *chain, struct nftnl_rule *r)
{
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, ZT_TABLE_NAME);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, fam);
	nlh = zt_batch_msg(b, ZT_BOBJ_RULE, chain, NFT_MSG_NEWRULE, fam, NLM_F_APPEND | NLM_F_CREATE);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, r);
		zt_batch_msg_done(b, nlh);
	}
	nftnl_rule_free(r);
	return nlh ? 0 : -ENOMEM;
}

static bool add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (!e)
		return false;
	nftnl_rule_add_expr(r, e);
	return true;
}

/*
 * ip saddr vmap @SET: the shard selector (set_id of an interval verdict map).
 * With hit: meta mark set ip saddr map @SET goto hit (listed_src_x or a
 * shard; daddr: listed_dst…) — a miss ends the rule, the mark untouched.
 *
 * Why through the packet mark and a chain, not `ip saddr map @SET vmap
 * @feed_ids` in one rule (the data of one lookup as the key of the next,
 * as this was until issue 16's session 6): nft 1.0.6 cannot print a lookup
 * keyed by another lookup's result and aborts (an assertion in
 * netlink_parse_concat_expr) — on `nft list ruleset` and even `nft list
 * tables`, for every table of the host. The mark of a listed packet is
 * written, but that packet is dropped or rejected right after (its feed's
 * chain); nothing else's mark changes.
 */
static int put_lookup_rule(struct zt_batch *b, uint16_t fam, const char *chain, bool dst, const char *set,
			   uint32_t set_id, bool hit)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *p = nftnl_expr_alloc("payload"), *l = nftnl_expr_alloc("lookup"),
			  *mt = nftnl_expr_alloc("meta"), *g = nftnl_expr_alloc("immediate");
	uint32_t off = fam == NFPROTO_IPV4 ? (dst ? 16 : 12) : (dst ? 24 : 8);

	if (!r || !p || !l || !mt || !g) {
		nftnl_rule_free(r);
		nftnl_expr_free(p);
		nftnl_expr_free(l);
		nftnl_expr_free(mt);
		nftnl_expr_free(g);
		return -ENOMEM;
	}
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(p, NFTNL_EXPR_PAYLOAD_LEN, fam == NFPROTO_IPV4 ? 4 : 16);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_DREG, hit ? NFT_REG_2 : NFT_REG_VERDICT);
	nftnl_expr_set_str(l, NFTNL_EXPR_LOOKUP_SET, set);
	nftnl_expr_set_u32(l, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	add(r, p);
	add(r, l);
	if (!hit) {	/* the shard selector: ip saddr vmap @listed_src */
		nftnl_expr_free(mt);
		nftnl_expr_free(g);
		return put_rule(b, fam, chain, r);
	}
	nftnl_expr_set_u32(mt, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(mt, NFTNL_EXPR_META_SREG, NFT_REG_2);
	nftnl_expr_set_u32(g, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(g, NFTNL_EXPR_IMM_VERDICT, NFT_GOTO);
	nftnl_expr_set_str(g, NFTNL_EXPR_IMM_CHAIN, ZT_FEED_HIT);
	add(r, mt);
	add(r, g);
	return put_rule(b, fam, chain, r);
}

/*
 * hit: meta mark vmap @feed_ids — the listed packet's feed id to its
 * feed's chain; then drop. Every element's id is in feed_ids (ids go only
 * once no element carries them), so the drop is for a state that should
 * not be: a listed address is never let through because its id is
 * unknown (and, reached by goto from a base chain, a miss would end in
 * the hook's accept policy without the checks after it).
 */
static int put_hit_rule(struct zt_batch *b, uint16_t fam, uint32_t ids_id)
{
	struct nftnl_rule *r = nftnl_rule_alloc(), *dr = nftnl_rule_alloc();
	struct nftnl_expr *mt = nftnl_expr_alloc("meta"), *v = nftnl_expr_alloc("lookup"),
			  *d = nftnl_expr_alloc("immediate");
	int ret;

	if (!r || !dr || !mt || !v || !d) {
		nftnl_rule_free(r);
		nftnl_rule_free(dr);
		nftnl_expr_free(mt);
		nftnl_expr_free(v);
		nftnl_expr_free(d);
		return -ENOMEM;
	}
	nftnl_expr_set_u32(mt, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(mt, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_expr_set_u32(v, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(v, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_str(v, NFTNL_EXPR_LOOKUP_SET, ZT_FEED_IDS);
	nftnl_expr_set_u32(v, NFTNL_EXPR_LOOKUP_SET_ID, ids_id);
	add(r, mt);
	add(r, v);
	nftnl_expr_set_u32(d, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(d, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
	add(dr, d);
	if ((ret = put_rule(b, fam, ZT_FEED_HIT, r)) < 0) {
		nftnl_rule_free(dr);
		return ret;
	}
	return put_rule(b, fam, ZT_FEED_HIT, dr);
}

/*
 * The established connection's part (doc/RULESET.md, "Checked once per
 * connection and direction"). Bits of ct label, one per base chain and
 * direction: word bit / 32, bit bit % 32, as nft writes `ct label set N`.
 */
void zt_feeds_label_bits(bool out, bool reply, uint32_t ret[4])
{
	unsigned bit = ZT_FEED_LABEL_BIT + (out ? 2u : 0u) + (reply ? 1u : 0u);

	memset(ret, 0, 4 * sizeof(*ret));
	ret[bit / 32] = 1u << (bit % 32);
}

void zt_feeds_label_mask(uint32_t ret[4])
{
	uint32_t b[4];

	memset(ret, 0, 4 * sizeof(*ret));
	for (int i = 0; i < 4; i++) {
		zt_feeds_label_bits(i & 2, i & 1, b);
		for (int w = 0; w < 4; w++)
			ret[w] |= b[w];
	}
}

static struct nftnl_expr *e_ct(uint32_t key, bool set, uint32_t reg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
		nftnl_expr_set_u32(e, set ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG, reg);
	}
	return e;
}

/* reg 1 = (reg 1 & mask) ^ 0, len bytes */
static struct nftnl_expr *e_and(const void *mask, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");
	static const uint8_t zero[16];

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return e;
}

static struct nftnl_expr *e_cmp(enum nft_cmp_ops op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set_data(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return e;
}

/* immediate: data of len bytes into reg, or (data NULL) the verdict len into the verdict register */
static struct nftnl_expr *e_imm(uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
		if (data)
			nftnl_expr_set_data(e, NFTNL_EXPR_IMM_DATA, data, len);
		else
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, len);
	}
	return e;
}

/*
 * mark false: ct state established ct direction D ct label BIT return
 * mark true:  ct state new,established ct direction D ct label set BIT
 */
static int put_label_rule(struct zt_batch *b, uint16_t fam, const char *chain, bool out, bool reply, bool mark)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	uint32_t states = mark ? NF_CT_STATE_BIT(IP_CT_NEW) | NF_CT_STATE_BIT(IP_CT_ESTABLISHED)
			       : NF_CT_STATE_BIT(IP_CT_ESTABLISHED);
	static const uint8_t zero[16];
	uint8_t dir = reply ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL;
	uint32_t bits[4];
	bool ok;

	if (!r)
		return -ENOMEM;
	zt_feeds_label_bits(out, reply, bits);
	ok = add(r, e_ct(NFT_CT_STATE, false, NFT_REG_1)) && add(r, e_and(&states, sizeof(states))) &&
	     add(r, e_cmp(NFT_CMP_NEQ, zero, sizeof(states))) && add(r, e_ct(NFT_CT_DIRECTION, false, NFT_REG_1)) &&
	     add(r, e_cmp(NFT_CMP_EQ, &dir, sizeof(dir)));
	/* Each expression made only once the one before is in the rule: nothing leaks on a failure. */
	if (ok && !mark)
		ok = add(r, e_ct(NFT_CT_LABELS, false, NFT_REG_1)) && add(r, e_and(bits, sizeof(bits))) &&
		     add(r, e_cmp(NFT_CMP_NEQ, zero, sizeof(bits))) && add(r, e_imm(NFT_REG_VERDICT, NULL, (uint32_t)NFT_RETURN));
	else if (ok)
		ok = add(r, e_imm(NFT_REG_1, bits, sizeof(bits))) && add(r, e_ct(NFT_CT_LABELS, true, NFT_REG_1));
	if (!ok) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	return put_rule(b, fam, chain, r);
}

/* The skip rules first (mark false) or the mark rules last (true) of base chain pre (out: out). */
static int put_label_rules(struct zt_batch *b, uint16_t fam, bool out, bool mark)
{
	const char *chain = out ? "out" : "pre";
	int r;

	if ((r = put_label_rule(b, fam, chain, out, false, mark)) < 0)
		return r;
	return put_label_rule(b, fam, chain, out, true, mark);
}

/* counter; limit rate … log group G prefix "ztseg feed NAME "; drop | reject */
static int put_feed_rules(struct zt_batch *b, uint16_t fam, const char *chain, const struct zt_feed_rule *f,
			  unsigned group, unsigned rate, unsigned burst)
{
	struct nftnl_rule *r;
	struct nftnl_expr *e;
	char prefix[64];
	int ret;

	if (!(r = nftnl_rule_alloc()) || !add(r, nftnl_expr_alloc("counter"))) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	if ((ret = put_rule(b, fam, chain, r)) < 0)
		return ret;
	if (f->log) {
		if (!(r = nftnl_rule_alloc()))
			return -ENOMEM;
		if ((e = nftnl_expr_alloc("limit"))) {
			nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
			nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, burst ? burst : 5);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
			nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
		}
		if (!add(r, e) || !(e = nftnl_expr_alloc("log"))) {
			nftnl_rule_free(r);
			return -ENOMEM;
		}
		snprintf(prefix, sizeof(prefix), ZT_FEED_LOG_PREFIX "%s ", f->name);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, (uint16_t)group);
		add(r, e);
		if ((ret = put_rule(b, fam, chain, r)) < 0)
			return ret;
	}
	if (!(r = nftnl_rule_alloc()))
		return -ENOMEM;
	if (f->reject) {
		e = nftnl_expr_alloc("reject");
		if (e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
			/* port unreachable: ICMP code 3, ICMPv6 code 4 (nft's default reject). */
			nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, fam == NFPROTO_IPV4 ? 3 : 4);
		}
	} else {
		e = nftnl_expr_alloc("immediate");
		if (e) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
			nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
		}
	}
	if (!add(r, e)) {
		nftnl_rule_free(r);
		return -ENOMEM;
	}
	return put_rule(b, fam, chain, r);
}

static void shard_name(char *buf, size_t len, bool set, bool dst, size_t k)
{
	if (set)
		snprintf(buf, len, "%s_r%zu", dst ? ZT_FEED_SET_DST : ZT_FEED_SET_SRC, k);
	else
		snprintf(buf, len, "%s_r%zu", dst ? "dst" : "src", k);
}

/* Forward: a selector's elements. */
static int put_selector(struct zt_batch *b, uint16_t fam, bool dst, const struct zt_flayout *lay, bool del);

int zt_feeds_emit_skeleton(struct zt_batch *b, uint32_t table_flags, const struct zt_feed_rule *f, size_t n,
			   unsigned log_group, unsigned log_rate, unsigned log_burst,
			   const struct zt_flayout *const lay[4])
{
	char chain[ZT_OBJ_NAME_MAX], set[ZT_OBJ_NAME_MAX];
	bool any_src = false, any_dst = false;
	int r;

	for (size_t k = 0; k < n; k++) {
		any_src |= f[k].src;
		any_dst |= f[k].dst;
	}
	for (size_t i = 0; i < 2; i++) {
		uint16_t fam = families[i];
		uint32_t id_src = b->next_set_id++, id_dst = b->next_set_id++, id_ids = b->next_set_id++;
		uint32_t id_xsrc = b->next_set_id++, id_xdst = b->next_set_id++;

		if ((r = put_table(b, fam, table_flags)) < 0 ||
		    (r = put_set(b, fam, ZT_FEED_SET_SRC, id_src, SET_SELECT)) < 0 ||
		    (r = put_set(b, fam, ZT_FEED_SET_DST, id_dst, SET_SELECT)) < 0 ||
		    (r = put_set(b, fam, ZT_FEED_SET_XSRC, id_xsrc, SET_EXACT)) < 0 ||
		    (r = put_set(b, fam, ZT_FEED_SET_XDST, id_xdst, SET_EXACT)) < 0 ||
		    (r = put_set(b, fam, ZT_FEED_IDS, id_ids, SET_IDS)) < 0)
			return r;
		for (size_t k = 0; k < n; k++) {
			snprintf(chain, sizeof(chain), ZT_FEED_CHAIN_PREFIX "%s", f[k].name);
			if (!f[k].keep && ((r = put_chain(b, fam, chain, -1, true)) < 0 ||
					   (r = put_feed_rules(b, fam, chain, &f[k], log_group, log_rate, log_burst)) < 0))
				return r;
			if ((r = put_id_elem(b, fam, f[k].id, f[k].name, false)) < 0)
				return r;
		}
		if ((r = put_chain(b, fam, ZT_FEED_HIT, -1, true)) < 0 || (r = put_hit_rule(b, fam, id_ids)) < 0)
			return r;
		/* The shards: an interval map each, and a chain that looks it up (the selector jumps there). */
		for (int dst = 0; dst < 2; dst++)
			for (size_t k = 0; k < ZT_FEED_SLOTS; k++) {
				uint32_t id = b->next_set_id++;

				shard_name(set, sizeof(set), true, dst, k);
				shard_name(chain, sizeof(chain), false, dst, k);
				if ((r = put_set(b, fam, set, id, SET_RANGES)) < 0 ||
				    (r = put_chain(b, fam, chain, -1, true)) < 0 ||
				    (r = put_lookup_rule(b, fam, chain, dst, set, id, true)) < 0)
					return r;
			}
		for (int dst = 0; dst < 2; dst++)
			if (lay && lay[i * 2 + dst] && (r = put_selector(b, fam, dst, lay[i * 2 + dst], false)) < 0)
				return r;
		/*
		 * Per direction the hash map of single addresses, then the shard of
		 * the ranges: disjoint, at most one hits. Only the directions some
		 * feed lists: the maps of the other stay empty, and a packet need
		 * not look them up (a reload that adds the direction writes its
		 * rules in the transaction that precedes its elements).
		 * An established connection's direction once checked in this chain
		 * passes (its label bit), then the lookups, then the bit set.
		 */
		if ((r = put_chain(b, fam, "pre", NF_INET_PRE_ROUTING, true)) < 0 ||
		    (r = put_label_rules(b, fam, false, false)) < 0 ||
		    (any_src && (r = put_lookup_rule(b, fam, "pre", false, ZT_FEED_SET_XSRC, id_xsrc, true)) < 0) ||
		    (any_src && (r = put_lookup_rule(b, fam, "pre", false, ZT_FEED_SET_SRC, id_src, false)) < 0) ||
		    (any_dst && (r = put_lookup_rule(b, fam, "pre", true, ZT_FEED_SET_XDST, id_xdst, true)) < 0) ||
		    (any_dst && (r = put_lookup_rule(b, fam, "pre", true, ZT_FEED_SET_DST, id_dst, false)) < 0) ||
		    (r = put_label_rules(b, fam, false, true)) < 0 ||
		    (r = put_chain(b, fam, "out", NF_INET_LOCAL_OUT, true)) < 0)
			return r;
		/* out looks up destinations only: without a feed that lists them, nothing to check or remember. */
		if (any_dst && ((r = put_label_rules(b, fam, true, false)) < 0 ||
				(r = put_lookup_rule(b, fam, "out", true, ZT_FEED_SET_XDST, id_xdst, true)) < 0 ||
				(r = put_lookup_rule(b, fam, "out", true, ZT_FEED_SET_DST, id_dst, false)) < 0 ||
				(r = put_label_rules(b, fam, true, true)) < 0))
			return r;
	}
	return 0;
}

int zt_feeds_emit_chain_del(struct zt_batch *b, const char *feed, uint32_t id)
{
	char chain[ZT_OBJ_NAME_MAX];

	snprintf(chain, sizeof(chain), ZT_FEED_CHAIN_PREFIX "%s", feed);
	for (size_t i = 0; i < 2; i++) {
		struct nlmsghdr *nlh;

		if (put_id_elem(b, families[i], id, feed, true) < 0 ||
		    !(nlh = zt_batch_msg(b, ZT_BOBJ_CHAIN, chain, NFT_MSG_DELRULE, families[i], 0)))
			return -ENOMEM;
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
		zt_batch_msg_done(b, nlh);
		nlh = zt_batch_msg(b, ZT_BOBJ_CHAIN, chain, NFT_MSG_DELCHAIN, families[i], 0);
		if (!nlh)
			return -ENOMEM;
		mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
		zt_batch_msg_done(b, nlh);
	}
	return 0;
}

int zt_feeds_emit_destroy(struct zt_batch *b)
{
	for (size_t i = 0; i < 2; i++) {
		struct nlmsghdr *nlh = zt_batch_msg(b, ZT_BOBJ_TABLE, "", ZT_NFT_MSG_DESTROYTABLE, families[i], 0);

		if (!nlh)
			return -ENOMEM;
		mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, ZT_TABLE_NAME);
		zt_batch_msg_done(b, nlh);
	}
	return 0;
}

/* ---- elements ------------------------------------------------------------ */

struct elmsg {
	struct zt_batch *b;
	uint16_t fam, type;
	char set[ZT_OBJ_NAME_MAX];
	struct nftnl_set *s;
	size_t n;
};

static int elmsg_flush(struct elmsg *m)
{
	struct nlmsghdr *nlh;

	if (!m->s || !m->n)
		return 0;
	nlh = zt_batch_msg(m->b, ZT_BOBJ_ELEMS, m->set, m->type, m->fam,
			   m->type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	if (!nlh)
		return -ENOMEM;
	nftnl_set_elems_nlmsg_build_payload(nlh, m->s);
	zt_batch_msg_done(m->b, nlh);
	nftnl_set_free(m->s);
	m->s = NULL;
	m->n = 0;
	return 0;
}

/* Elements go to set `set` from now on (a message of its own). */
static int elmsg_set(struct elmsg *m, const char *set)
{
	int r;

	if (streq(m->set, set))
		return 0;
	if ((r = elmsg_flush(m)) < 0)
		return r;
	snprintf(m->set, sizeof(m->set), "%s", set);
	return 0;
}

/* data: the feed's id (mark) or, chain, a jump to it (the selector). */
static int elmsg_add_v(struct elmsg *m, uint16_t type, const uint8_t *key, size_t klen, bool end, bool data,
		       uint32_t feed, const char *chain)
{
	struct nftnl_set_elem *e;
	int r;

	if (m->s && (m->type != type || m->n >= ZT_FEED_ELEMS_PER_MSG) && (r = elmsg_flush(m)) < 0)
		return r;
	if (!m->s) {
		if (!(m->s = nftnl_set_alloc()))
			return -ENOMEM;
		nftnl_set_set_str(m->s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(m->s, NFTNL_SET_NAME, m->set);
		nftnl_set_set_u32(m->s, NFTNL_SET_FAMILY, m->fam);
		m->type = type;
	}
	if (!(e = nftnl_set_elem_alloc()))
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen);
	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	else if (data && chain) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	} else if (data)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_DATA, feed);
	nftnl_set_elem_add(m->s, e);
	m->n++;
	return 0;
}

static int elmsg_add(struct elmsg *m, uint16_t type, const uint8_t *key, size_t klen, bool end, bool data, uint32_t feed)
{
	return elmsg_add_v(m, type, key, klen, end, data, feed, NULL);
}

static void key_of(uint8_t fam, zt_u128 v, uint8_t k[16])
{
	size_t len = fam == NFPROTO_IPV4 ? 4 : 16;

	for (size_t i = len; i-- > 0;) {
		k[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * A range as its start element (with the feed's id when data) and, unless
 * it reaches the top, its end; in a hash map (exact) the address alone.
 */
static int range_elems(struct elmsg *m, uint16_t type, zt_u128 lo, zt_u128 hi, bool exact, bool data, uint32_t feed)
{
	zt_u128 top = m->fam == NFPROTO_IPV4 ? 0xffffffffu : ~(zt_u128)0;
	size_t len = m->fam == NFPROTO_IPV4 ? 4 : 16;
	uint8_t k[16];
	int r;

	key_of(m->fam, lo, k);
	if ((r = elmsg_add(m, type, k, len, false, data, feed)) < 0)
		return r;
	if (exact || hi == top)
		return 0;
	key_of(m->fam, hi + 1, k);
	return elmsg_add(m, type, k, len, true, false, 0);
}

int zt_feeds_emit_chunks(struct zt_batch *b, bool dst, const struct zt_flayout *lay, const struct zt_fset *old,
			 const struct zt_fset *new, const struct zt_fdiff *df, size_t c, size_t c_end)
{
	struct elmsg m = { .b = b, .fam = old->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6 };
	bool exact = !lay;
	char set[ZT_OBJ_NAME_MAX];
	size_t from = c ? df->chunk_end[c - 1] : 0, to = c_end > c ? df->chunk_end[c_end - 1] : from;
	int r = 0;

	for (size_t i = from; i < to && r >= 0; i++) {
		const struct zt_fop *op = &df->ops[i];
		const struct zt_fset *s = op->add ? new : old;
		zt_u128 lo, hi;
		uint32_t feed;

		if (s->family == AF_INET) {
			lo = s->v4[op->idx].lo;
			hi = s->v4[op->idx].hi;
			feed = s->v4[op->idx].feed;
		} else {
			lo = s->v6[op->idx].lo;
			hi = s->v6[op->idx].hi;
			feed = s->v6[op->idx].feed;
		}
		if (exact)
			snprintf(set, sizeof(set), "%s", dst ? ZT_FEED_SET_XDST : ZT_FEED_SET_XSRC);
		else
			shard_name(set, sizeof(set), true, dst, zt_flayout_slot_of(lay, lo));
		if ((r = elmsg_set(&m, set)) < 0)
			break;
		r = range_elems(&m, op->add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, lo, hi, exact, op->add, feed);
	}
	if (r >= 0)
		r = elmsg_flush(&m);
	if (m.s)
		nftnl_set_free(m.s);
	return r;
}

/* The selector's elements: each range jumps to its slot's chain. */
static int put_selector(struct zt_batch *b, uint16_t fam, bool dst, const struct zt_flayout *lay, bool del)
{
	struct elmsg m = { .b = b, .fam = fam };
	zt_u128 top = fam == NFPROTO_IPV4 ? 0xffffffffu : ~(zt_u128)0;
	size_t len = fam == NFPROTO_IPV4 ? 4 : 16;
	uint16_t type = del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
	char chain[ZT_OBJ_NAME_MAX];
	uint8_t k[16];
	int r = elmsg_set(&m, dst ? ZT_FEED_SET_DST : ZT_FEED_SET_SRC);

	for (size_t i = 0; i < lay->n && r >= 0; i++) {
		zt_u128 hi = i + 1 < lay->n ? lay->lo[i + 1] - 1 : top;

		shard_name(chain, sizeof(chain), false, dst, lay->slot[i]);
		key_of(fam, lay->lo[i], k);
		r = elmsg_add_v(&m, type, k, len, false, !del, 0, chain);
		if (r >= 0 && hi != top) {
			key_of(fam, hi + 1, k);
			r = elmsg_add_v(&m, type, k, len, true, false, 0, NULL);
		}
	}
	if (r >= 0)
		r = elmsg_flush(&m);
	if (m.s)
		nftnl_set_free(m.s);
	return r;
}

int zt_feeds_emit_selector(struct zt_batch *b, uint8_t family, bool dst, const struct zt_flayout *old,
			   const struct zt_flayout *new)
{
	uint16_t fam = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;
	int r = 0;

	if (old)
		r = put_selector(b, fam, dst, old, true);
	if (r >= 0 && new)
		r = put_selector(b, fam, dst, new, false);
	return r;
}

int zt_feeds_emit_slot_flush(struct zt_batch *b, uint8_t family, bool dst, size_t k)
{
	char set[ZT_OBJ_NAME_MAX];
	struct nlmsghdr *nlh;

	shard_name(set, sizeof(set), true, dst, k);
	nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, set, NFT_MSG_DELSETELEM, family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6, 0);
	if (!nlh)
		return -ENOMEM;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	zt_batch_msg_done(b, nlh);
	return 0;
}
