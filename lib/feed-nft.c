/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The feed tables `ip ztseg` and `ip6 ztseg` read back: present and
 * whose (a table dump: cheap), the per-feed counters (the feed chains'
 * rules: small), and one map's elements as ranges (only at start and
 * after a change someone else made: a 1M-element map takes seconds).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "compile-feeds.h"
#include "feed-nft.h"
#include "nl.h"

#define RECV_BUF (1024 * 1024)

struct tbl_ctx {
	uint16_t fam;
	struct zt_nft_table_info *ti;
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tbl_ctx *c = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == c->fam &&
	    nftnl_table_is_set(t, NFTNL_TABLE_NAME) && streq(nftnl_table_get_str(t, NFTNL_TABLE_NAME), ZT_TABLE_NAME)) {
		c->ti->present = true;
		c->ti->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
		if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER)) {
			c->ti->has_owner = true;
			c->ti->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
		}
	}
	nftnl_table_free(t);
	return 0;
}

int zt_feeds_table_read(struct zt_nl *on, uint8_t family, struct zt_nft_table_info *ret)
{
	char buf[8192] = {};
	struct tbl_ctx c = { family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6, ret };
	struct zt_nl own, *nl = on ? on : &own;
	int r = on ? 0 : zt_nl_open(&own, NETLINK_NETFILTER, SOCK_CLOEXEC, 64 * 1024);

	*ret = (struct zt_nft_table_info){};
	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, c.fam, NLM_F_DUMP, ++nl->seq);

		r = zt_nl_talk(nl, nlh, table_cb, &c, 0);
	}
	if (!on)
		zt_nl_close(&own);
	return r;
}

/* ---- counters ---- */

struct ctr_ctx {
	void (*cb)(const char *feed, uint64_t packets, uint64_t bytes, void *userdata);
	void *userdata;
};

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ctr_ctx *c = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *chain;

	if (!r)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 || !nftnl_rule_is_set(r, NFTNL_RULE_CHAIN))
		goto out;
	chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	if (strncmp(chain, ZT_FEED_CHAIN_PREFIX, strlen(ZT_FEED_CHAIN_PREFIX)))
		goto out;
	it = nftnl_expr_iter_create(r);
	if (!it)
		goto out;
	while ((e = nftnl_expr_iter_next(it)))
		if (streq(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter"))
			c->cb(chain + strlen(ZT_FEED_CHAIN_PREFIX), nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS),
			      nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES), c->userdata);
	nftnl_expr_iter_destroy(it);
out:
	nftnl_rule_free(r);
	return 0;
}

int zt_feeds_counters_read(struct zt_nl *on, uint8_t family,
			   void (*cb)(const char *feed, uint64_t packets, uint64_t bytes, void *userdata), void *userdata)
{
	char buf[8192] = {};
	struct ctr_ctx c = { cb, userdata };
	struct zt_nl own, *nl = on ? on : &own;
	int r = on ? 0 : zt_nl_open(&own, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE,
							     family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6,
							     NLM_F_DUMP, ++nl->seq);

		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, ZT_TABLE_NAME);
		r = zt_nl_talk(nl, nlh, rule_cb, &c, 0);
	}
	if (!on)
		zt_nl_close(&own);
	return r;
}

/* ---- a map's elements ---- */

struct kel {
	zt_u128 key;
	bool end;
	uint32_t feed;
};

struct kid {
	uint32_t id;
	char feed[ZT_FEED_NAME_LEN + 1];
};

struct el_ctx {
	uint8_t family;
	struct kel *v;
	size_t n, cap;
	struct kid *ids;		/* feed_ids as read: id -> feed */
	size_t n_ids, cap_ids;
	bool reading_ids, reading_sel, sel_dst;
	int (*intern)(const char *feed, uint32_t kid, uint32_t *id, void *userdata);
	void *userdata;
	int err;
};

/* An element of feed_ids: `id : jump feed_NAME`; anything else is not ours and left out. */
static void id_elem(struct el_ctx *c, struct nftnl_set_elem *e)
{
	uint32_t len = 0;
	const void *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	const char *ch;
	uint32_t id;

	if (!k || len != 4 || !nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		return;
	memcpy(&id, k, 4);
	ch = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
	if (!ch || strncmp(ch, ZT_FEED_CHAIN_PREFIX, strlen(ZT_FEED_CHAIN_PREFIX)) ||
	    strlen(ch) - strlen(ZT_FEED_CHAIN_PREFIX) > ZT_FEED_NAME_LEN)
		return;
	if (ZT_GROW(c->ids, c->cap_ids, c->n_ids + 1) < 0) {
		c->err = -ENOMEM;
		return;
	}
	c->ids[c->n_ids].id = id;
	snprintf(c->ids[c->n_ids].feed, sizeof(c->ids[0].feed), "%s", ch + strlen(ZT_FEED_CHAIN_PREFIX));
	c->n_ids++;
}

/*
 * The feed of an element whose data is kernel id kid: its name through
 * feed_ids, interned; UINT32_MAX when unknown or when the daemon's id for
 * that name is another (the element is then rewritten by the next update).
 */
static uint32_t feed_of(struct el_ctx *c, uint32_t kid)
{
	uint32_t id = UINT32_MAX;

	for (size_t i = 0; i < c->n_ids; i++)
		if (c->ids[i].id == kid) {
			if (c->intern(c->ids[i].feed, kid, &id, c->userdata) < 0)
				c->err = -ENOMEM;
			return id == kid ? id : UINT32_MAX;
		}
	return UINT32_MAX;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct el_ctx *c = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	size_t klen = c->family == AF_INET ? 4 : 16;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		goto out;
	it = nftnl_set_elems_iter_create(s);
	if (!it)
		goto out;
	while ((e = nftnl_set_elems_iter_next(it))) {
		uint32_t len = 0, flags = 0, feed = UINT32_MAX;

		if (c->reading_ids) {
			id_elem(c, e);
			continue;
		}
		if (c->reading_sel && !(nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
					(nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END))) {
			/* A selector's start: its slot, from the chain it jumps to ("src_rK", "dst_rK"). */
			const char *ch = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN) ?
					 nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN) : NULL;
			const char *want = c->sel_dst ? "dst_r" : "src_r";
			char *end = NULL;
			unsigned long k;

			feed = UINT32_MAX;
			if (ch && !strncmp(ch, want, 5) && ch[5] >= '0' && ch[5] <= '9' && strlen(ch) <= 10) {
				k = strtoul(ch + 5, &end, 10);
				if (end && !*end && k < UINT32_MAX)
					feed = (uint32_t)k;
			}
		}
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		const void *dp;
		zt_u128 v = 0;

		if (!k || len != klen)
			continue;
		for (size_t i = 0; i < klen; i++)
			v = (v << 8) | k[i];
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
			flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
		if (!c->reading_sel && !(flags & NFT_SET_ELEM_INTERVAL_END) &&
		    (dp = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len)) && len == 4) {
			uint32_t kid;

			memcpy(&kid, dp, 4);
			feed = feed_of(c, kid);
		}
		if (ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
			c->err = -ENOMEM;
			break;
		}
		c->v[c->n++] = (struct kel){ v, flags & NFT_SET_ELEM_INTERVAL_END, feed };
	}
	nftnl_set_elems_iter_destroy(it);
out:
	nftnl_set_free(s);
	return 0;
}

static int kel_cmp(const void *a, const void *b)
{
	const struct kel *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	/* An end and a start at one key: the end closes the range before. */
	return (int)y->end - (int)x->end;
}

/* One dump of a set's elements of the family's table into c. */
static int elems_dump(struct el_ctx *c, uint8_t family, const char *set)
{
	char buf[8192] = {};
	struct zt_nl nl;
	int r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
							     family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6,
							     NLM_F_DUMP, ++nl.seq);

		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
		r = zt_nl_talk(&nl, nlh, elem_cb, c, 0);
	}
	zt_nl_close(&nl);
	return r;
}

int zt_feeds_ids_read(uint8_t family, int (*intern)(const char *feed, uint32_t kid, uint32_t *id, void *userdata),
		      void *userdata)
{
	struct el_ctx c = { .family = family, .reading_ids = true };
	int r = elems_dump(&c, family, ZT_FEED_IDS);

	for (size_t i = 0; i < c.n_ids && r >= 0; i++) {
		uint32_t id;

		r = intern(c.ids[i].feed, c.ids[i].id, &id, userdata);
	}
	free(c.ids);
	return r >= 0 && c.err < 0 ? c.err : r;
}

int zt_feeds_set_read(uint8_t family, const char *set, bool exact,
		      int (*intern)(const char *feed, uint32_t kid, uint32_t *id, void *userdata), void *userdata,
		      struct zt_fset *ret)
{
	struct el_ctx c = { .family = family, .intern = intern, .userdata = userdata, .reading_ids = true };
	zt_u128 top = family == AF_INET ? 0xffffffffu : ~(zt_u128)0;
	struct zt_fset out = { .family = family };
	size_t cap = 0;
	int r = elems_dump(&c, family, ZT_FEED_IDS);

	/* No feed_ids (a table of the verdict-map layout): every element is unknown. */
	if (r == -ENOENT)
		r = 0;
	c.reading_ids = false;
	if (r >= 0)
		r = elems_dump(&c, family, set);
	free(c.ids);
	if (r >= 0 && c.err < 0)
		r = c.err;
	if (r < 0) {
		free(c.v);
		return r;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), kel_cmp);
	/* Each start runs to the next end (or the top); stray ends are padding. A hash map: keys alone. */
	for (size_t i = 0; i < c.n && r >= 0; i++) {
		zt_u128 hi = top;

		if (c.v[i].end)
			continue;
		if (exact)
			hi = c.v[i].key;
		else if (i + 1 < c.n)
			hi = c.v[i + 1].key - 1;
		if (family == AF_INET) {
			if (ZT_GROW(out.v4, cap, out.n + 1) < 0)
				r = -ENOMEM;
			else
				out.v4[out.n++] = (struct zt_fel4){ (uint32_t)c.v[i].key, (uint32_t)hi, c.v[i].feed };
		} else {
			if (ZT_GROW(out.v6, cap, out.n + 1) < 0)
				r = -ENOMEM;
			else
				out.v6[out.n++] = (struct zt_fel6){ c.v[i].key, hi, c.v[i].feed };
		}
		out.cap = cap;
	}
	free(c.v);
	if (r < 0) {
		zt_fset_clear(&out);
		return r;
	}
	*ret = out;
	return 0;
}

int zt_feeds_selector_read(uint8_t family, const char *set, size_t n_slots, struct zt_flayout *ret)
{
	struct el_ctx c = { .family = family, .reading_sel = true, .sel_dst = streq(set, ZT_FEED_SET_DST) };
	struct zt_flayout *l = calloc(1, sizeof(*l));
	int r = l ? elems_dump(&c, family, set) : -ENOMEM;

	if (r >= 0 && c.err < 0)
		r = c.err;
	if (r >= 0) {
		if (c.n)
			qsort(c.v, c.n, sizeof(*c.v), kel_cmp);
		/*
		 * Ranges from address 0 to the top, one after the other: an end
		 * only where the next range starts, none after the last.
		 */
		for (size_t i = 0; i < c.n && r >= 0; i++) {
			if (c.v[i].end) {
				if (i + 1 == c.n || c.v[i + 1].end || c.v[i + 1].key != c.v[i].key)
					r = -EINVAL;
				continue;
			}
			if (l->n == ZT_FLAYOUT_MAX || c.v[i].feed >= n_slots) {
				r = -EINVAL;
				break;
			}
			l->lo[l->n] = c.v[i].key;
			l->slot[l->n++] = (uint16_t)c.v[i].feed;
		}
		if (r >= 0 && !l->n)
			r = -ENODATA;
		else if (r >= 0 && !zt_flayout_valid(l, n_slots))
			r = -EINVAL;
	}
	if (r >= 0)
		*ret = *l;
	free(l);
	free(c.v);
	return r;
}
