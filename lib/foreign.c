/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Other tables' base chains that untrack traffic on ztseg's hooks: a pure
 * scan of chains and rules (jumps and gotos followed), and the dump that
 * feeds it from the kernel.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include "foreign.h"
#include "nl.h"
#include "plan.h"

#define RECV_BUF (256 * 1024)

const char *zt_nfproto_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_IPV6:
		return "ip6";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_NETDEV:
		return "netdev";
	}
	return "?";
}

const char *zt_nf_hook_name(uint32_t hook)
{
	switch (hook) {
	case NF_INET_PRE_ROUTING:
		return "prerouting";
	case NF_INET_LOCAL_IN:
		return "input";
	case NF_INET_FORWARD:
		return "forward";
	case NF_INET_LOCAL_OUT:
		return "output";
	case NF_INET_POST_ROUTING:
		return "postrouting";
	}
	return "?";
}

struct key {
	uint8_t family;
	char table[NFT_TABLE_MAXNAMELEN];
	char chain[NFT_CHAIN_MAXNAMELEN];
};

struct chain {
	struct key k;
	bool base;
	uint32_t hook;
	int32_t prio;
	bool notrack;		/* a rule of this chain has a notrack expression */
	size_t edge0, n_edges;	/* its jumps, in the sorted edges */
	unsigned seen;		/* the walk that visited it last */
};

/* A rule's jump or goto (target set), or its notrack (target empty). */
struct edge {
	struct key from;
	char target[NFT_CHAIN_MAXNAMELEN];
};

struct zt_untrack_scan {
	struct chain *chains;
	size_t n_chains, cap_chains;
	struct edge *edges;
	size_t n_edges, cap_edges;
};

static int key_cmp(const struct key *a, const struct key *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = strcmp(a->table, b->table);
	return r ? r : strcmp(a->chain, b->chain);
}

static int chain_cmp(const void *a, const void *b)
{
	return key_cmp(&((const struct chain *)a)->k, &((const struct chain *)b)->k);
}

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;
	int r = key_cmp(&x->from, &y->from);

	return r ? r : strcmp(x->target, y->target);
}

/* Names longer than the kernel allows do not come from the kernel: refuse them. */
static bool key_set(struct key *k, uint32_t family, const char *table, const char *chain)
{
	if (!table || !chain || family > UINT8_MAX || strlen(table) >= sizeof(k->table) ||
	    strlen(chain) >= sizeof(k->chain))
		return false;
	*k = (struct key){ .family = (uint8_t)family };
	memcpy(k->table, table, strlen(table) + 1);
	memcpy(k->chain, chain, strlen(chain) + 1);
	return true;
}

static bool is_ours(const struct key *k)
{
	return k->family == NFPROTO_INET && streq(k->table, ZT_TABLE_NAME);
}

/* Could a base chain of this kind take packets out of conntrack before ztseg sees them? */
static bool may_untrack(const struct chain *c)
{
	return c->base && (c->k.family == NFPROTO_IPV4 || c->k.family == NFPROTO_IPV6 ||
			   c->k.family == NFPROTO_INET) &&
	       (c->hook == NF_INET_PRE_ROUTING || c->hook == NF_INET_LOCAL_OUT) &&
	       c->prio <= ZT_CONNTRACK_PRIO;
}

int zt_untrack_scan_new(struct zt_untrack_scan **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

struct zt_untrack_scan *zt_untrack_scan_free(struct zt_untrack_scan *s)
{
	if (s) {
		free(s->chains);
		free(s->edges);
		free(s);
	}
	return NULL;
}

int zt_untrack_scan_chain(struct zt_untrack_scan *s, const struct nftnl_chain *nc)
{
	struct chain c = {};

	if (!nftnl_chain_is_set(nc, NFTNL_CHAIN_TABLE) || !nftnl_chain_is_set(nc, NFTNL_CHAIN_NAME) ||
	    !key_set(&c.k, nftnl_chain_get_u32(nc, NFTNL_CHAIN_FAMILY),
		     nftnl_chain_get_str(nc, NFTNL_CHAIN_TABLE), nftnl_chain_get_str(nc, NFTNL_CHAIN_NAME)) ||
	    is_ours(&c.k))
		return 0;
	if (nftnl_chain_is_set(nc, NFTNL_CHAIN_HOOKNUM)) {
		c.base = true;
		c.hook = nftnl_chain_get_u32(nc, NFTNL_CHAIN_HOOKNUM);
		c.prio = nftnl_chain_is_set(nc, NFTNL_CHAIN_PRIO) ? nftnl_chain_get_s32(nc, NFTNL_CHAIN_PRIO) : 0;
	}
	if (ZT_GROW(s->chains, s->cap_chains, s->n_chains) < 0)
		return -ENOMEM;
	s->chains[s->n_chains++] = c;
	return 0;
}

bool zt_untrack_scan_wants_table(const struct zt_untrack_scan *s, uint8_t family, const char *table)
{
	for (size_t i = 0; i < s->n_chains; i++)
		if (s->chains[i].k.family == family && streq(s->chains[i].k.table, table) &&
		    may_untrack(&s->chains[i]))
			return true;
	return false;
}

static int edge_add(struct zt_untrack_scan *s, const struct key *from, const char *target)
{
	struct edge *e;

	if (strlen(target) >= sizeof(e->target))
		return 0;
	if (ZT_GROW(s->edges, s->cap_edges, s->n_edges) < 0)
		return -ENOMEM;
	e = &s->edges[s->n_edges++];
	e->from = *from;
	memcpy(e->target, target, strlen(target) + 1);
	return 0;
}

int zt_untrack_scan_rule(struct zt_untrack_scan *s, const struct nftnl_rule *nr)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	struct key k;
	int r = 0;

	if (!nftnl_rule_is_set(nr, NFTNL_RULE_TABLE) || !nftnl_rule_is_set(nr, NFTNL_RULE_CHAIN) ||
	    !key_set(&k, nftnl_rule_get_u32(nr, NFTNL_RULE_FAMILY), nftnl_rule_get_str(nr, NFTNL_RULE_TABLE),
		     nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN)) ||
	    is_ours(&k))
		return 0;
	it = nftnl_expr_iter_create(nr);
	if (!it)
		return -ENOMEM;
	while (r == 0 && (e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		if (!name)
			continue;
		if (streq(name, "notrack")) {
			r = edge_add(s, &k, "");
		} else if (streq(name, "immediate") && nftnl_expr_is_set(e, NFTNL_EXPR_IMM_VERDICT) &&
			   nftnl_expr_is_set(e, NFTNL_EXPR_IMM_CHAIN)) {
			int32_t v = (int32_t)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);

			if (v == NFT_JUMP || v == NFT_GOTO)
				r = edge_add(s, &k, nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN));
		}
	}
	nftnl_expr_iter_destroy(it);
	return r;
}

static struct chain *chain_find(struct chain *v, size_t n, const struct key *k)
{
	struct chain key = { .k = *k };

	return n ? bsearch(&key, v, n, sizeof(*v), chain_cmp) : NULL;
}

/* Depth-first from c: the chain that holds a notrack, or NULL. */
static const struct chain *walk(struct chain *v, size_t n, const struct edge *edges, struct chain *c,
				unsigned mark, unsigned depth)
{
	if (c->seen == mark)
		return NULL;
	c->seen = mark;
	if (c->notrack)
		return c;
	if (depth >= ZT_UNTRACK_DEPTH)
		return NULL;
	for (size_t i = c->edge0; i < c->edge0 + c->n_edges; i++) {
		struct key k = c->k;
		struct chain *t;
		const struct chain *hit;

		memcpy(k.chain, edges[i].target, sizeof(k.chain));
		t = chain_find(v, n, &k);
		if (t && (hit = walk(v, n, edges, t, mark, depth + 1)))
			return hit;
	}
	return NULL;
}

int zt_untrack_scan_result(const struct zt_untrack_scan *s, struct zt_untrack **ret, size_t *ret_n)
{
	_cleanup_free_ struct chain *v = NULL;
	_cleanup_free_ struct edge *edges = NULL;
	struct zt_untrack *out = NULL;
	size_t n = s->n_chains, n_out = 0, cap = 0, k = 0;
	unsigned mark = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!n)
		return 0;
	v = malloc(n * sizeof(*v));
	edges = malloc((s->n_edges + 1) * sizeof(*edges));
	if (!v || !edges)
		return -ENOMEM;
	memcpy(v, s->chains, n * sizeof(*v));
	if (s->n_edges)
		memcpy(edges, s->edges, s->n_edges * sizeof(*edges));
	qsort(v, n, sizeof(*v), chain_cmp);
	qsort(edges, s->n_edges, sizeof(*edges), edge_cmp);
	/* Each chain's edges are one run of the sorted edges; notrack (target "") sorts first. */
	for (size_t i = 0; i < n; i++) {
		v[i].edge0 = v[i].n_edges = 0;
		v[i].seen = 0;
		v[i].notrack = false;
	}
	while (k < s->n_edges) {
		size_t j = k;
		struct chain *c;

		while (j < s->n_edges && key_cmp(&edges[j].from, &edges[k].from) == 0)
			j++;
		c = chain_find(v, n, &edges[k].from);
		if (c) {
			c->notrack = edges[k].target[0] == '\0';
			c->edge0 = k + c->notrack;
			c->n_edges = j - c->edge0;
		}
		k = j;
	}
	for (size_t i = 0; i < n; i++) {
		const struct chain *hit;

		if (!may_untrack(&v[i]))
			continue;
		hit = walk(v, n, edges, &v[i], ++mark, 0);
		if (!hit)
			continue;
		if (ZT_GROW(out, cap, n_out) < 0) {
			free(out);
			return -ENOMEM;
		}
		out[n_out] = (struct zt_untrack){ .family = v[i].k.family, .hook = v[i].hook, .prio = v[i].prio };
		memcpy(out[n_out].table, v[i].k.table, sizeof(out[n_out].table));
		memcpy(out[n_out].chain, v[i].k.chain, sizeof(out[n_out].chain));
		memcpy(out[n_out].via, hit->k.chain, sizeof(out[n_out].via));
		n_out++;
	}
	*ret = out;
	*ret_n = n_out;
	return 0;
}

/* ---- the kernel ---- */

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	int r = 0;

	if (!c)
		return -ENOMEM;
	if (nftnl_chain_nlmsg_parse(nlh, c) == 0)
		r = zt_untrack_scan_chain(data, c);
	nftnl_chain_free(c);
	return r;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_rule *rl = nftnl_rule_alloc();
	int r = 0;

	if (!rl)
		return -ENOMEM;
	if (nftnl_rule_nlmsg_parse(nlh, rl) == 0)
		r = zt_untrack_scan_rule(data, rl);
	nftnl_rule_free(rl);
	return r;
}

/* The tables to read rules from: each once. */
struct table_ref {
	uint8_t family;
	char name[NFT_TABLE_MAXNAMELEN];
};

static int untrack_dump(struct zt_nl *nl, struct zt_untrack_scan *s)
{
	_cleanup_free_ struct table_ref *tables = NULL;
	size_t n_tables = 0, cap = 0;
	char msg[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int r;

	/* libmnl leaves attribute padding as it finds it: send zeros. */
	memset(msg, 0, sizeof(msg));
	nlh = nftnl_nlmsg_build_hdr(msg, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC, NLM_F_DUMP, ++nl->seq);
	r = zt_nl_talk(nl, nlh, chain_cb, s, 0);
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->n_chains; i++) {
		const struct chain *c = &s->chains[i];
		bool have = false;

		if (!may_untrack(c))
			continue;
		for (size_t j = 0; j < n_tables && !have; j++)
			have = tables[j].family == c->k.family && streq(tables[j].name, c->k.table);
		if (have)
			continue;
		if (ZT_GROW(tables, cap, n_tables) < 0)
			return -ENOMEM;
		tables[n_tables].family = c->k.family;
		memcpy(tables[n_tables].name, c->k.table, sizeof(tables[n_tables].name));
		n_tables++;
	}
	for (size_t i = 0; i < n_tables; i++) {
		memset(msg, 0, sizeof(msg));
		nlh = nftnl_nlmsg_build_hdr(msg, NFT_MSG_GETRULE, tables[i].family, NLM_F_DUMP, ++nl->seq);
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, tables[i].name);
		r = zt_nl_talk(nl, nlh, rule_cb, s, 0);
		/* The table went away meanwhile: nothing of it to report. */
		if (r < 0 && r != -ENOENT)
			return r;
	}
	return 0;
}

int zt_untrack_read(struct zt_untrack **ret, size_t *ret_n)
{
	_cleanup_untrack_scan_ struct zt_untrack_scan *s = NULL;
	struct zt_nl nl;
	int r;

	r = zt_untrack_scan_new(&s);
	if (r < 0)
		return r;
	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);
	if (r >= 0)
		r = untrack_dump(&nl, s);
	zt_nl_close(&nl);
	if (r < 0)
		return r;
	return zt_untrack_scan_result(s, ret, ret_n);
}
