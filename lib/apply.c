/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apply: one nf_tables transaction that makes table inet ztseg what the
 * plan says — whole the first time, the difference afterwards — sent in
 * one sendmsg, every ACK read back and every error mapped to its source.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <nettle/sha2.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "apply.h"

/* Linux 5.14; missing from older headers. */
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define RECV_BUF (256 * 1024)
#define RESTARTS_DEFAULT 10
/* Room per ACK in the receive buffer: one small skb each (NETLINK_CAP_ACK). */
#define ACK_ROOM 1024
#define SOCKBUF_MAX ((size_t)1 << 30)
#define LINKS_MAX 65536
#define ENC_IFS_MAX 4096

struct zt_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	int persist;		/* -1: not asked yet */
	uint32_t gen_ours;	/* the generation after our last commit, while none other is known; 0: unknown */
	size_t sndbuf, rcvbuf;
	char *rbuf;
};

int zt_nft_open(struct zt_nft **ret)
{
	struct zt_nft *n = calloc(1, sizeof(*n));
	int one = 1, r;

	if (!n)
		return -ENOMEM;
	n->persist = -1;
	n->seq = (uint32_t)time(NULL);
	n->rbuf = malloc(RECV_BUF);
	if (!n->rbuf) {
		r = -ENOMEM;
		goto fail;
	}
	n->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->nl) {
		r = -errno;
		goto fail;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	/* Errors carry only the failing header and the kernel's own words and offset. */
	mnl_socket_setsockopt(n->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	*ret = n;
	return 0;
fail:
	zt_nft_close(n);
	return r;
}

struct zt_nft *zt_nft_close(struct zt_nft *n)
{
	if (!n)
		return NULL;
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->rbuf);
	free(n);
	return NULL;
}

/* ---- requests and dumps -------------------------------------------------- */

struct dump_ctx {
	int (*cb)(const struct nlmsghdr *nlh, void *data);
	void *data;
	int err;
};

static int dump_data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *c = data;
	int r = c->cb(nlh, c->data);

	if (r < 0) {
		c->err = r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/*
 * A dump that ended early on our side (interrupted by a concurrent commit,
 * or a callback failed): read the rest of it, so that none of it is taken
 * for the answer to the next request.
 */
static void dump_drain(struct zt_nft *n, uint32_t seq)
{
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(n->nl, n->rbuf, RECV_BUF);
		const struct nlmsghdr *m = (const struct nlmsghdr *)n->rbuf;
		int left = (int)len;

		if (len <= 0)
			return;
		for (; mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left))
			if (m->nlmsg_seq == seq && (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR))
				return;
	}
}

/* Send one request and hand every answer to cb until the kernel is done. */
static int nft_request(struct zt_nft *n, struct nlmsghdr *nlh, int (*cb)(const struct nlmsghdr *, void *),
		       void *data)
{
	struct dump_ctx c = { .cb = cb, .data = data };
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(n->nl, n->rbuf, RECV_BUF);
		const struct nlmsghdr *last;
		int left = (int)len;

		if (len < 0)
			return -errno;
		r = mnl_cb_run(n->rbuf, (size_t)len, seq, n->portid, dump_data_cb, &c);
		if (r == MNL_CB_STOP)
			return 0;
		if (r < 0) {
			r = c.err ? c.err : -errno;
			/* Unless this datagram ended the dump, the rest is still to come. */
			for (last = (const struct nlmsghdr *)n->rbuf; mnl_nlmsg_ok(last, left);
			     last = mnl_nlmsg_next(last, &left))
				if (last->nlmsg_type == NLMSG_DONE || last->nlmsg_type == NLMSG_ERROR)
					break;
			if ((nlh->nlmsg_flags & NLM_F_DUMP) && !mnl_nlmsg_ok(last, left))
				dump_drain(n, seq);
			return r;
		}
		if (!(nlh->nlmsg_flags & NLM_F_DUMP) && r == MNL_CB_OK && !(nlh->nlmsg_flags & NLM_F_ACK))
			return 0;
	}
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return -ENOMEM;
	if (nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return -EINVAL;
	}
	*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return 0;
}

static int genid_get(struct zt_nft *n, uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, ++n->seq);

	return nft_request(n, nlh, gen_cb, ret);
}

/* The kernel's generation after one more commit (it skips 0). */
static uint32_t gen_next(uint32_t g)
{
	return g == UINT32_MAX ? 1 : g + 1;
}

int zt_nft_genid_read(struct zt_nft *n, uint32_t *ret)
{
	return genid_get(n, ret);
}

uint32_t zt_nft_genid(const struct zt_nft *n)
{
	return n->gen_ours;
}

int zt_nft_netns_cookie(struct zt_nft *n, uint64_t *ret)
{
	uint64_t v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_NETNS_COOKIE, &v, &l) < 0)
		return -errno;
	if (l != sizeof(v) || v == 0)
		return -EPROTO;
	*ret = v;
	return 0;
}

/* What the kernel holds of our table. */
struct kset {
	struct nftnl_set *set;
	struct nftnl_set_elem **el;	/* owned by holders */
	size_t n, cap;
	struct nftnl_set **holders;	/* one per element message */
	size_t n_holders, cap_holders;
};

struct kstate {
	bool present;
	uint32_t flags, owner;
	bool has_owner_attr;
	struct nftnl_chain **chains;
	size_t n_chains, cap_chains;
	struct nftnl_obj **objs;
	size_t n_objs, cap_objs;
	struct kset *sets;
	size_t n_sets, cap_sets;
	struct nftnl_rule **rules;
	size_t n_rules, cap_rules;
};

static void kstate_clear(struct kstate *k)
{
	for (size_t i = 0; i < k->n_chains; i++)
		nftnl_chain_free(k->chains[i]);
	for (size_t i = 0; i < k->n_objs; i++)
		nftnl_obj_free(k->objs[i]);
	for (size_t i = 0; i < k->n_sets; i++) {
		nftnl_set_free(k->sets[i].set);
		for (size_t j = 0; j < k->sets[i].n_holders; j++)
			nftnl_set_free(k->sets[i].holders[j]);
		free(k->sets[i].holders);
		free(k->sets[i].el);
	}
	for (size_t i = 0; i < k->n_rules; i++)
		nftnl_rule_free(k->rules[i]);
	free(k->chains);
	free(k->objs);
	free(k->sets);
	free(k->rules);
	*k = (struct kstate){};
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    streq(nftnl_table_get_str(t, NFTNL_TABLE_NAME), ZT_TABLE_NAME)) {
		k->present = true;
		k->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
		if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER)) {
			k->has_owner_attr = true;
			k->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
		}
	}
	nftnl_table_free(t);
	return 0;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	int r;

	if (!c)
		return -ENOMEM;
	/* A message the kernel sent that libnftnl cannot parse is not an allocation failure. */
	r = nftnl_chain_nlmsg_parse(nlh, c) < 0 ? -EBADMSG : ZT_GROW(k->chains, k->cap_chains, k->n_chains + 1);
	/* The kernel does not filter chain dumps by table: other tables' chains are not ours. */
	if (r >= 0 && !(nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY) == NFPROTO_INET &&
			nftnl_chain_is_set(c, NFTNL_CHAIN_TABLE) &&
			streq(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), ZT_TABLE_NAME)))
		r = 1;
	if (r != 0) {
		nftnl_chain_free(c);
		return r < 0 ? r : 0;
	}
	k->chains[k->n_chains++] = c;
	return 0;
}

static int obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	int r;

	if (!o)
		return -ENOMEM;
	r = nftnl_obj_nlmsg_parse(nlh, o) < 0 ? -EBADMSG : ZT_GROW(k->objs, k->cap_objs, k->n_objs + 1);
	if (r >= 0 && !(nftnl_obj_is_set(o, NFTNL_OBJ_TABLE) && streq(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), ZT_TABLE_NAME)))
		r = 1;
	if (r != 0) {
		nftnl_obj_free(o);
		return r < 0 ? r : 0;
	}
	k->objs[k->n_objs++] = o;
	return 0;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	struct nftnl_set *s = nftnl_set_alloc();
	int r;

	if (!s)
		return -ENOMEM;
	r = nftnl_set_nlmsg_parse(nlh, s) < 0 ? -EBADMSG : ZT_GROW(k->sets, k->cap_sets, k->n_sets + 1);
	if (r >= 0 && !(nftnl_set_is_set(s, NFTNL_SET_TABLE) && streq(nftnl_set_get_str(s, NFTNL_SET_TABLE), ZT_TABLE_NAME)))
		r = 1;
	if (r != 0) {
		nftnl_set_free(s);
		return r < 0 ? r : 0;
	}
	k->sets[k->n_sets++] = (struct kset){ .set = s };
	return 0;
}

static int elem_take(struct nftnl_set_elem *e, void *data)
{
	struct kset *ks = data;

	if (ZT_GROW(ks->el, ks->cap, ks->n + 1) < 0)
		return -1;
	ks->el[ks->n++] = e;
	return 0;
}

/* libnftnl 1.2.4 cannot clone elements: keep each message's set as their holder. */
static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kset *ks = data;
	struct nftnl_set *s;

	if (ZT_GROW(ks->holders, ks->cap_holders, ks->n_holders + 1) < 0)
		return -ENOMEM;
	s = nftnl_set_alloc();
	if (!s)
		return -ENOMEM;
	ks->holders[ks->n_holders++] = s;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0 || nftnl_set_elem_foreach(s, elem_take, ks) < 0)
		return -ENOMEM;
	return 0;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	int ret;

	if (!r)
		return -ENOMEM;
	ret = nftnl_rule_nlmsg_parse(nlh, r) < 0 ? -EBADMSG : ZT_GROW(k->rules, k->cap_rules, k->n_rules + 1);
	if (ret >= 0 && !(nftnl_rule_is_set(r, NFTNL_RULE_TABLE) && streq(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), ZT_TABLE_NAME)))
		ret = 1;
	if (ret != 0) {
		nftnl_rule_free(r);
		return ret < 0 ? ret : 0;
	}
	k->rules[k->n_rules++] = r;
	return 0;
}

/* The table's flags only (is it there, who owns it). */
static int kstate_table(struct zt_nft *n, struct kstate *k)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_DUMP, ++n->seq);

	return nft_request(n, nlh, table_cb, k);
}

/* Chains, counters, sets with elements and rules of our table, filtered by the kernel. */
static int kstate_dump(struct zt_nft *n, struct kstate *k)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int r;

	/* libmnl leaves attribute padding as it finds it: send zeros. */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_DUMP, ++n->seq);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, ZT_TABLE_NAME);
	r = nft_request(n, nlh, chain_cb, k);
	if (r < 0)
		return r;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_DUMP, ++n->seq);
	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	r = nft_request(n, nlh, obj_cb, k);
	if (r < 0)
		return r;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_DUMP, ++n->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, ZT_TABLE_NAME);
	r = nft_request(n, nlh, set_cb, k);
	if (r < 0)
		return r;
	for (size_t i = 0; i < k->n_sets; i++) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, ++n->seq);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, nftnl_set_get_str(k->sets[i].set, NFTNL_SET_NAME));
		r = nft_request(n, nlh, elem_cb, &k->sets[i]);
		if (r < 0)
			return r;
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP, ++n->seq);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, ZT_TABLE_NAME);
	return nft_request(n, nlh, rule_cb, k);
}

/* ---- canonical forms, to compare the plan with the kernel ---------------- */

static void hex_put(FILE *f, const void *p, uint32_t len)
{
	const uint8_t *b = p;

	for (uint32_t i = 0; i < len; i++)
		fprintf(f, "%02x", b[i]);
}

static void elem_canon(FILE *f, struct nftnl_set_elem *e)
{
	uint32_t len;
	const void *p;

	fprintf(f, "f%u k", nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
			   nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) : 0);
	p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	if (p)
		hex_put(f, p, len);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &len);
		fputs("-", f);
		hex_put(f, p, len);
	}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		fprintf(f, " v%d:%s", (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT),
			nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
	else if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
		fprintf(f, " v%d", (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len);
		fputs(" d", f);
		hex_put(f, p, len);
	}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_OBJREF))
		fprintf(f, " o%s", nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_OBJREF));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
		fputs(" u", f);
		hex_put(f, p, len);
	}
}

static char *elem_str(struct nftnl_set_elem *e)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	elem_canon(f, e);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted canonical strings of a list of elements. */
static char **elems_strv(struct nftnl_set_elem **el, size_t n)
{
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = elem_str(el[i]);
		if (!v[i]) {
			strv_free(v, n);
			return NULL;
		}
	}
	qsort(v, n, sizeof(*v), strp_cmp);
	return v;
}

/* What makes two sets the same definition (the kernel adds nothing we compare). */
static void set_def_canon(FILE *f, struct nftnl_set *s)
{
	uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS), len;
	const void *ud;

	fprintf(f, "f%x t%x l%u", flags, nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (flags & NFT_SET_MAP) {
		uint32_t dt = nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE);

		/* The kernel sizes verdict data itself. */
		fprintf(f, " d%x", dt);
		if (dt != NFT_DATA_VERDICT)
			fprintf(f, "/%u", nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN));
	}
	if (flags & NFT_SET_OBJECT)
		fprintf(f, " o%u", nftnl_set_get_u32(s, NFTNL_SET_OBJ_TYPE));
	ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
	if (ud && nftnl_set_is_set(s, NFTNL_SET_USERDATA)) {
		fputs(" u", f);
		hex_put(f, ud, len);
	}
}

static char *set_def_str(struct nftnl_set *s)
{
	char *str = NULL;
	size_t len;
	FILE *f = open_memstream(&str, &len);

	if (!f)
		return NULL;
	set_def_canon(f, s);
	if (fclose(f) != 0) {
		free(str);
		return NULL;
	}
	return str;
}

/* An anonymous set: its definition and its sorted elements. */
static char *anon_str(struct nftnl_set *s, struct nftnl_set_elem **el, size_t n)
{
	char **v = elems_strv(el, n);
	char *str = NULL;
	size_t len;
	FILE *f;

	if (!v)
		return NULL;
	f = open_memstream(&str, &len);
	if (f) {
		set_def_canon(f, s);
		for (size_t i = 0; i < n; i++)
			fprintf(f, " {%s}", v[i]);
		if (fclose(f) != 0) {
			free(str);
			str = NULL;
		}
	}
	strv_free(v, n);
	return str;
}

/* Finds the canonical form of the anonymous set a lookup names. */
struct anon_resolver {
	/* kernel side */
	const struct kstate *k;
	char **k_anon;			/* per k->sets, NULL unless anonymous */
	/* plan side */
	const struct zt_rule_enc *enc;
	char **e_anon;			/* per enc->anon */
};

static const char *anon_resolve(const struct anon_resolver *ar, struct nftnl_expr *e)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

	if (ar->k) {
		for (size_t i = 0; i < ar->k->n_sets; i++)
			if (ar->k_anon[i] && streq(nftnl_set_get_str(ar->k->sets[i].set, NFTNL_SET_NAME), name))
				return ar->k_anon[i];
		return NULL;
	}
	if (ar->enc && nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET_ID)) {
		uint32_t id = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SET_ID);

		for (size_t i = 0; i < ar->enc->n_anon; i++)
			if (nftnl_set_get_u32(ar->enc->anon[i].set, NFTNL_SET_ID) == id)
				return ar->e_anon[i];
	}
	return NULL;
}

/*
 * A rule as text: libnftnl's rendering of each expression (anonymous set
 * names replaced by their contents, which differ in name only) and its
 * comment. Lookups and object references are written here: libnftnl also
 * prints what only a request carries (set ids).
 */
static int rule_canon(FILE *f, struct nftnl_rule *r, const struct anon_resolver *ar)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	char buf[4096];
	uint32_t len;
	const void *ud;

	if (!it)
		return -ENOMEM;
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		if (name && streq(name, "lookup")) {
			const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

			fprintf(f, "[lookup r%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG));
			if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG))
				fprintf(f, " d%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG));
			/* The kernel reports flags 0 that the request left out. */
			if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) && nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS))
				fprintf(f, " f%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS));
			if (set && strncmp(set, "__set", 5) == 0) {
				const char *a = anon_resolve(ar, e);

				if (!a) {
					nftnl_expr_iter_destroy(it);
					return -ENOENT;
				}
				fprintf(f, " {%s}]", a);
			} else
				fprintf(f, " @%s]", set ? set : "");
			continue;
		}
		/* libnftnl prints an objref map's set id, which only a request has. */
		if (name && streq(name, "objref")) {
			if (nftnl_expr_is_set(e, NFTNL_EXPR_OBJREF_SET_NAME))
				fprintf(f, "[objref r%u @%s]", nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_SET_SREG),
					nftnl_expr_get_str(e, NFTNL_EXPR_OBJREF_SET_NAME));
			else
				fprintf(f, "[objref t%u %s]", nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE),
					nftnl_expr_get_str(e, NFTNL_EXPR_OBJREF_IMM_NAME));
			continue;
		}
		nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
		fprintf(f, "[%s]", buf);
	}
	nftnl_expr_iter_destroy(it);
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
	if (ud && nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
		fputs(" u", f);
		hex_put(f, ud, len);
	}
	fputc('\n', f);
	return 0;
}

/* ---- the batch: send, read every ACK, map errors ------------------------- */

static int sockbuf_fit(struct zt_nft *n, size_t snd, size_t rcv, struct zt_diags *d)
{
	int fd = mnl_socket_get_fd(n->nl);

	if (snd > SOCKBUF_MAX || rcv > SOCKBUF_MAX)
		return zt_diag_error(d, NULL, 0, 0, "the batch (%zu bytes) is too large", snd);
	if (snd > n->sndbuf) {
		int v = (int)snd, got = 0;
		socklen_t l = sizeof(got);

		/* SO_SNDBUFFORCE needs CAP_NET_ADMIN in the initial user namespace; SO_SNDBUF obeys wmem_max. */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &l) < 0)
			return -errno;
		/* The kernel doubles what it is given; a netlink message must fit in it less 32 bytes. */
		if ((size_t)got < snd + 32) {
			zt_diag_error(d, NULL, 0, 0,
				      "the batch of %zu bytes does not fit the socket send buffer (%d bytes); "
				      "SO_SNDBUFFORCE was refused: raise net.core.wmem_max to at least %zu",
				      snd, got, snd);
			return -EMSGSIZE;
		}
		n->sndbuf = snd;
	}
	if (rcv > n->rcvbuf) {
		int v = (int)rcv;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		n->rcvbuf = rcv;
	}
	return 0;
}

struct acks {
	const struct zt_batch *b;
	const struct zt_plan *plan;	/* to find an element's policy line; may be NULL */
	struct zt_diags *d;
	uint8_t *seen;		/* per message */
	size_t n_acks, n_errors;
	int restart;		/* ERESTART on BATCH_BEGIN: the ruleset changed */
	int first_err;
	bool quiet;		/* probes: count, do not report */
};

static const char *bobj_name(const struct zt_bsrc *s)
{
	switch (s->obj) {
	case ZT_BOBJ_TABLE:
		return "table";
	case ZT_BOBJ_COUNTER:
		return "counter";
	case ZT_BOBJ_SET:
		return "set";
	case ZT_BOBJ_ELEMS:
		return "elements of set";
	case ZT_BOBJ_CHAIN:
		return "chain";
	case ZT_BOBJ_RULE:
		return "rule in chain";
	default:
		return "batch";
	}
}

static void error_report(struct acks *a, const struct zt_bsrc *s, int err, const char *ext, uint32_t off)
{
	const char *what = ext && *ext ? ext : strerror(err);
	struct zt_pos pos = s ? s->pos : (struct zt_pos){};
	char obj[256];

	if (a->quiet)
		return;
	if (!s) {
		zt_diag_error(a->d, NULL, 0, 0, "kernel rejected the transaction: %s", what);
		return;
	}
	switch (s->obj) {
	case ZT_BOBJ_BATCH:
		if (err == EPERM)
			what = "table inet " ZT_TABLE_NAME " is owned by another process (a running ztsegd?)";
		snprintf(obj, sizeof(obj), "the transaction");
		break;
	case ZT_BOBJ_TABLE:
		if (err == EPERM)
			what = "it is owned by another process (a running ztsegd?)";
		snprintf(obj, sizeof(obj), "table inet %s", ZT_TABLE_NAME);
		break;
	case ZT_BOBJ_RULE:
		if (s->anon)
			snprintf(obj, sizeof(obj), "a set of rule %zu in chain %s", s->rule + 1, s->chain);
		else if (s->msg_type == NFT_MSG_DELRULE)
			snprintf(obj, sizeof(obj), "flushing chain %s", s->name);
		else
			snprintf(obj, sizeof(obj), "rule %zu in chain %s%s%s%s", s->rule + 1, s->chain,
				 s->comment && *s->comment ? " (" : "", s->comment ? s->comment : "",
				 s->comment && *s->comment ? ")" : "");
		break;
	case ZT_BOBJ_SET:
	case ZT_BOBJ_ELEMS:
		if (s->anon) {
			snprintf(obj, sizeof(obj), "a set of rule %zu in chain %s", s->rule + 1, s->chain);
			break;
		}
		/* Point at the element the kernel named, when it did. */
		if (s->obj == ZT_BOBJ_ELEMS && off && a->plan) {
			size_t pe = zt_batch_elem_at(a->b, s, off);
			const struct zt_set *set = zt_plan_find_set(a->plan, s->name);

			if (set && pe < set->n_elems && set->elems[pe].pos.file) {
				pos = set->elems[pe].pos;
				snprintf(obj, sizeof(obj), "an element of set %s", s->name);
				break;
			}
		}
		snprintf(obj, sizeof(obj), "%s %s", bobj_name(s), s->name);
		break;
	default:
		snprintf(obj, sizeof(obj), "%s %s", bobj_name(s), s->name);
		break;
	}
	zt_diag_error(a->d, pos.file, pos.file ? pos.line : 0, pos.file ? pos.col : 0, "kernel rejected %s: %s",
		      obj, what);
}

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct acks *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct zt_bsrc *s;
	const char *ext = NULL;
	uint32_t off = 0;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return MNL_CB_ERROR;
	s = zt_batch_find(a->b, e->msg.nlmsg_seq);
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t hdr = sizeof(*e);
		const struct nlattr *attr;

		/* Without NETLINK_CAP_ACK the failing message follows the header. */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			hdr += e->msg.nlmsg_len - sizeof(e->msg);
		mnl_attr_for_each(attr, nlh, MNL_ALIGN(hdr)) {
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
				ext = mnl_attr_get_str(attr);
			else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
				 mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
				off = mnl_attr_get_u32(attr);
		}
	}
	if (s) {
		size_t i = (size_t)(s - a->b->src);

		if (a->seen[i]++ == 0)
			a->n_acks++;
	}
	if (e->error == 0)
		return MNL_CB_OK;
	a->n_errors++;
	if (!a->first_err)
		a->first_err = -e->error;
	if (-e->error == ERESTART && s && s->obj == ZT_BOBJ_BATCH) {
		a->restart = 1;
		return MNL_CB_OK;
	}
	error_report(a, s, -e->error, ext, off);
	return MNL_CB_OK;
}

/*
 * One sendmsg for the whole batch; the kernel handles it before sendmsg
 * returns and queues an ACK (or error) for every message, so reading until
 * the queue is empty reads them all.
 */
static int batch_send(struct zt_nft *n, const struct zt_batch *b, bool quiet, struct acks *a, struct zt_diags *d)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = ack_cb };
	int fd = mnl_socket_get_fd(n->nl);
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct iovec iov = { .iov_base = b->buf, .iov_len = b->len };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iov = &iov, .msg_iovlen = 1 };
	size_t expected = 0;
	int r;

	*a = (struct acks){ .b = b, .d = d, .quiet = quiet };
	a->seen = calloc(b->n_src ? b->n_src : 1, 1);
	if (!a->seen)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_src; i++)
		if (b->src[i].obj != ZT_BOBJ_BATCH)
			expected++;
	r = sockbuf_fit(n, b->len, expected * ACK_ROOM + 256 * 1024, d);
	if (r < 0)
		return r;
	if (sendmsg(fd, &msg, 0) < 0) {
		r = -errno;
		if (r == -EMSGSIZE)
			zt_diag_error(d, NULL, 0, 0, "the batch of %zu bytes does not fit the socket send buffer; "
				      "raise net.core.wmem_max", b->len);
		return r;
	}
	for (;;) {
		ssize_t len = recv(fd, n->rbuf, RECV_BUF, MSG_DONTWAIT);

		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			r = -errno;
			if (r == -ENOBUFS)
				zt_diag_error(d, NULL, 0, 0, "lost kernel acknowledgements (receive buffer overrun); "
					      "the outcome is unknown: apply again");
			return r;
		}
		r = mnl_cb_run2(n->rbuf, (size_t)len, 0, n->portid, NULL, a, ctl, ELEMENTSOF(ctl));
		if (r == MNL_CB_ERROR)
			return -EBADMSG;
	}
	if (a->restart || a->n_errors)
		return 0;
	if (a->n_acks != expected && !quiet) {
		zt_diag_error(d, NULL, 0, 0, "the kernel acknowledged %zu of %zu messages", a->n_acks, expected);
		return -EPROTO;
	}
	return 0;
}

/* A sent batch's outcome: restart when the generation moved, -EPERM or -EINVAL for rejections. */
static int acks_result(int r, const struct acks *a)
{
	if (r >= 0 && a->restart)
		return -ERESTART;
	if (r >= 0 && a->n_errors)
		return a->first_err == EPERM ? -EPERM : -EINVAL;
	return r;
}

/* ---- persist probe -------------------------------------------------------- */

int zt_nft_has_persist(struct zt_nft *n)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct kstate k = {};
	struct zt_diags d = {};
	struct acks a = {};
	int r;

	if (n->persist >= 0)
		return n->persist;
	r = kstate_table(n, &k);
	if (r < 0)
		return r;
	if (k.present && (k.flags & NFT_TABLE_F_PERSIST)) {
		n->persist = 1;
		return 1;
	}
	/*
	 * A batch without BATCH_END is checked and thrown away: ask for the
	 * table as a full replace would create it, and see if the kernel knows
	 * the flag. Nothing is committed.
	 */
	r = zt_batch_new(++n->seq, &b);
	if (r < 0)
		return r;
	r = zt_batch_begin(b, 0);
	if (r >= 0 && k.present)
		r = zt_emit_table_del(b);
	if (r >= 0)
		r = zt_emit_table(b, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	if (r < 0)
		return r;
	n->seq = b->seq;
	r = batch_send(n, b, true, &a, &d);
	if (r >= 0) {
		const struct zt_bsrc *t = &b->src[b->n_src - 1];

		/* The NEWTABLE message: EOPNOTSUPP for an unknown flag. */
		n->persist = a.seen[b->n_src - 1] && a.first_err != EOPNOTSUPP;
		(void)t;
		if (a.first_err && a.first_err != EOPNOTSUPP)
			r = -a.first_err;
	}
	free(a.seen);
	zt_diags_clear(&d);
	return r < 0 ? r : n->persist;
}

/* ---- the caller's own transactions ---------------------------------------- */

uint32_t zt_nft_portid(const struct zt_nft *n)
{
	return n->portid;
}

int zt_nft_batch_start(struct zt_nft *n, struct zt_batch **ret)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	int r;

	r = zt_batch_new(++n->seq, &b);
	if (r >= 0)
		r = zt_batch_begin(b, 0);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

int zt_nft_batch_commit(struct zt_nft *n, struct zt_batch *b, int *ret_err, struct zt_diags *d)
{
	struct acks a = {};
	int r;

	r = zt_batch_end(b);
	if (r < 0)
		return r;
	n->seq = b->seq;
	r = batch_send(n, b, false, &a, d);
	r = acks_result(r, &a);
	if (ret_err)
		*ret_err = a.first_err;
	free(a.seen);
	/*
	 * Still the only one to have committed since our last apply? Then the
	 * next apply may diff plan against plan (this batch touches only
	 * what the caller owns: dynamic sets).
	 */
	if (n->gen_ours) {
		uint32_t after;

		if (genid_get(n, &after) < 0 ||
		    !(after == n->gen_ours || (r >= 0 && after == gen_next(n->gen_ours))))
			n->gen_ours = 0;
		else
			n->gen_ours = after;
	}
	return r;
}

/* ---- links and enc_if ----------------------------------------------------- */

struct links_ctx {
	struct zt_link *v;
	size_t n, cap;
};

static int linkinfo_cb(const struct nlattr *attr, void *data)
{
	const char **kind = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
		*kind = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct links_ctx *c = data;
	const struct nlattr *attr;
	const char *name = NULL, *kind = NULL;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg)) {
		if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
			name = mnl_attr_get_str(attr);
		else if (mnl_attr_get_type(attr) == IFLA_LINKINFO)
			mnl_attr_parse_nested(attr, linkinfo_cb, &kind);
	}
	if (!name || strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return MNL_CB_OK;
	if (c->n >= LINKS_MAX)
		return MNL_CB_ERROR;
	if (ZT_GROW(c->v, c->cap, c->n + 1) < 0)
		return MNL_CB_ERROR;
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	snprintf(c->v[c->n].name, sizeof(c->v[c->n].name), "%s", name);
	if (kind)
		snprintf(c->v[c->n].kind, sizeof(c->v[c->n].kind), "%s", kind);
	c->n++;
	return MNL_CB_OK;
}

int zt_links_dump(struct zt_link **ret, size_t *n)
{
	struct links_ctx c = {};
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	char req[MNL_SOCKET_BUFFER_SIZE];
	_cleanup_free_ char *buf = malloc(RECV_BUF);
	uint32_t seq = (uint32_t)time(NULL), portid;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	/* libmnl 1.0.4 leaves attribute padding as it finds it: send zeros. */
	nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, RECV_BUF);

		if (len < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)len, seq, portid, link_cb, &c);
		if (r == MNL_CB_STOP) {
			r = 0;
			break;
		}
		if (r < 0) {
			r = errno ? -errno : -ENOMEM;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*n = c.n;
	return 0;
}

size_t zt_enc_if_select(const struct zt_link *links, size_t n, const struct zt_ifpat *pats, size_t n_pats,
			const char *const *kinds, size_t n_kinds, char (*out)[IFNAMSIZ], size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		bool named = false, trusted = false;

		for (size_t p = 0; p < n_pats && !named; p++)
			named = zt_ifpat_match(&pats[p], links[i].name);
		/* A plain interface merely called wg0 does not encrypt anything. */
		for (size_t k = 0; k < n_kinds && !trusted; k++)
			trusted = links[i].kind[0] && streq(kinds[k], links[i].kind);
		if (!named || !trusted)
			continue;
		if (found < max)
			snprintf(out[found], IFNAMSIZ, "%s", links[i].name);
		found++;
	}
	return found;
}

int zt_enc_kinds_parse(char *buf, const char **kinds, size_t max)
{
	size_t n = 0;
	char *p = buf;

	if (!buf || !*buf)
		return -EINVAL;
	for (;;) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= ZT_LINK_KIND_MAX || n >= max)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
			      p[i] == '-' || p[i] == '.'))
				return -EINVAL;
		kinds[n++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return (int)n;
}

/* ---- the plan as applied -------------------------------------------------- */

#define ENC_IF_SET "enc_if"

/* The plan with enc_if filled from the links (a shallow copy; only the sets array is new). */
struct eff_plan {
	struct zt_plan p;
	struct zt_set *sets;
	struct zt_elem *elems;
	size_t n_enc;
};

static void eff_plan_clear(struct eff_plan *e)
{
	free(e->sets);
	free(e->elems);
	*e = (struct eff_plan){};
}

static int eff_plan_make(const struct zt_plan *plan, const struct zt_apply_opts *o, struct eff_plan *e)
{
	static const char *const default_kinds[] = { "wireguard", "xfrm", "vti", "ip6vti" };
	_cleanup_free_ struct zt_link *links = NULL;
	_cleanup_free_ char (*names)[IFNAMSIZ] = NULL;
	const char *const *kinds = o->enc_kinds;
	size_t n_kinds = o->n_enc_kinds, n_links = 0, found, k = SIZE_MAX;
	int r;

	*e = (struct eff_plan){ .p = *plan };
	for (size_t i = 0; i < plan->n_sets; i++)
		if (plan->sets[i].dynamic && streq(plan->sets[i].name, ENC_IF_SET))
			k = i;
	if (k == SIZE_MAX || o->n_enc_pats == 0)
		return 0;
	if (plan->sets[k].n_key != 1 || plan->sets[k].key[0] != ZT_TYPE_IFNAME)
		return -EINVAL;
	if (!kinds) {
		kinds = default_kinds;
		n_kinds = ELEMENTSOF(default_kinds);
	}
	r = zt_links_dump(&links, &n_links);
	if (r < 0)
		return r;
	names = calloc(ENC_IFS_MAX, sizeof(*names));
	if (!names)
		return -ENOMEM;
	found = zt_enc_if_select(links, n_links, o->enc_pats, o->n_enc_pats, kinds, n_kinds, names, ENC_IFS_MAX);
	if (found > ENC_IFS_MAX)
		return -E2BIG;
	e->sets = malloc(plan->n_sets * sizeof(*e->sets));
	e->elems = calloc(found ? found : 1, sizeof(*e->elems));
	if (!e->sets || !e->elems) {
		eff_plan_clear(e);
		return -ENOMEM;
	}
	memcpy(e->sets, plan->sets, plan->n_sets * sizeof(*e->sets));
	for (size_t i = 0; i < found; i++) {
		e->elems[i].key[0].type = ZT_TYPE_IFNAME;
		snprintf(e->elems[i].key[0].ifpat.name, IFNAMSIZ, "%s", names[i]);
	}
	e->sets[k].elems = e->elems;
	e->sets[k].n_elems = e->sets[k].cap_elems = found;
	e->sets[k].dynamic = false;
	e->p.sets = e->sets;
	e->n_enc = found;
	return 0;
}

/* ---- comparing plan and kernel -------------------------------------------- */

/* Kernel objects by name, for lookups that stay fast with thousands of chains. */
struct name_idx {
	const char *name;
	size_t i;
};

static int name_idx_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static size_t name_idx_find(const struct name_idx *v, size_t n, const char *name)
{
	struct name_idx key = { .name = name };
	const struct name_idx *hit = bsearch(&key, v, n, sizeof(*v), name_idx_cmp);

	return hit ? hit->i : SIZE_MAX;
}

static struct name_idx *chains_idx(const struct kstate *k)
{
	struct name_idx *v = calloc(k->n_chains + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < k->n_chains; i++)
		v[i] = (struct name_idx){ nftnl_chain_get_str(k->chains[i], NFTNL_CHAIN_NAME), i };
	qsort(v, k->n_chains, sizeof(*v), name_idx_cmp);
	return v;
}

static struct name_idx *objs_idx(const struct kstate *k)
{
	struct name_idx *v = calloc(k->n_objs + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < k->n_objs; i++)
		v[i] = (struct name_idx){ nftnl_obj_get_str(k->objs[i], NFTNL_OBJ_NAME), i };
	qsort(v, k->n_objs, sizeof(*v), name_idx_cmp);
	return v;
}

/* What both differences say of each object of the new plan. */
struct pflags {
	bool *chain_new, *chain_rules, *chain_recreate;
	bool *set_new, *set_recreate, *set_refill;
	size_t **set_add, *n_set_add;	/* hash sets: elements to add */
	bool *counter_new;
};

static int pflags_alloc(struct pflags *f, const struct zt_plan *p)
{
#define ALLOC(x, n) ((f->x = calloc((n) + 1, sizeof(*f->x))) != NULL)
	if (!ALLOC(chain_new, p->n_chains) || !ALLOC(chain_rules, p->n_chains) || !ALLOC(chain_recreate, p->n_chains) ||
	    !ALLOC(set_new, p->n_sets) || !ALLOC(set_recreate, p->n_sets) || !ALLOC(set_refill, p->n_sets) ||
	    !ALLOC(set_add, p->n_sets) || !ALLOC(n_set_add, p->n_sets) || !ALLOC(counter_new, p->n_counters))
		return -ENOMEM;
#undef ALLOC
	return 0;
}

static void pflags_clear(struct pflags *f, const struct zt_plan *p)
{
	for (size_t i = 0; f->set_add && i < p->n_sets; i++)
		free(f->set_add[i]);
	free(f->chain_new);
	free(f->chain_rules);
	free(f->chain_recreate);
	free(f->set_new);
	free(f->set_recreate);
	free(f->set_refill);
	free(f->set_add);
	free(f->n_set_add);
	free(f->counter_new);
}

struct diff {
	/* per plan object (set_add: indexes into set_enc) */
	struct pflags pf;
	struct zt_set_enc *set_enc;
	/* per kernel object */
	bool *kchain_del, *kset_del, *kobj_del;
	struct nftnl_set_elem ***kset_rm;	/* hash sets: kernel elements to remove */
	size_t *n_kset_rm;
	size_t *kset_of;			/* plan set -> kernel set index, SIZE_MAX */
	size_t changed;
};

static void diff_clear(struct diff *df, const struct zt_plan *p, const struct kstate *k)
{
	if (df->set_enc)
		for (size_t i = 0; i < p->n_sets; i++)
			zt_set_enc_clear(&df->set_enc[i]);
	if (df->kset_rm)
		for (size_t i = 0; i < k->n_sets; i++)
			free(df->kset_rm[i]);
	pflags_clear(&df->pf, p);
	free(df->set_enc);
	free(df->kchain_del);
	free(df->kset_del);
	free(df->kobj_del);
	free(df->kset_rm);
	free(df->n_kset_rm);
	free(df->kset_of);
	*df = (struct diff){};
}

static size_t kset_find(const struct kstate *k, const char *name)
{
	for (size_t i = 0; i < k->n_sets; i++)
		if (streq(nftnl_set_get_str(k->sets[i].set, NFTNL_SET_NAME), name))
			return i;
	return SIZE_MAX;
}

static bool rule_uses_set(const struct zt_rule *r, const char *name)
{
	for (size_t i = 0; i < r->n_match; i++)
		if ((r->match[i].op == ZT_M_IN_SET || r->match[i].op == ZT_M_NOT_IN_SET) && streq(r->match[i].set, name))
			return true;
	for (size_t i = 0; i < r->n_stmt; i++)
		if ((r->stmt[i].kind == ZT_S_COUNTER_MAP || r->stmt[i].kind == ZT_S_CT_MARK_SET_MAP ||
		     r->stmt[i].kind == ZT_S_VMAP) && streq(r->stmt[i].set, name))
			return true;
	return false;
}

/* The plan's rules of one chain as text. */
static int plan_chain_canon(const struct zt_plan *p, const struct zt_chain *c, char **ret)
{
	char *str = NULL;
	size_t len;
	FILE *f;
	int r = 0;

	f = open_memstream(&str, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < c->n_rules; i++) {
		struct zt_rule_enc enc = {};
		char *anon[ZT_RULE_MAX_MATCH] = {};
		struct anon_resolver ar = { .enc = &enc, .e_anon = anon };

		r = zt_rule_encode(p, c, i, NULL, &enc);
		if (r < 0)
			break;
		for (size_t a = 0; r >= 0 && a < enc.n_anon; a++) {
			anon[a] = anon_str(enc.anon[a].set, enc.anon[a].elems, enc.anon[a].n);
			if (!anon[a])
				r = -ENOMEM;
		}
		if (r >= 0)
			r = rule_canon(f, enc.rule, &ar);
		for (size_t a = 0; a < enc.n_anon; a++)
			free(anon[a]);
		zt_rule_enc_clear(&enc);
	}
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0) {
		free(str);
		return r;
	}
	*ret = str;
	return 0;
}

/* Every kernel chain's rules as text, in kernel order (one pass over the rules). */
static int kernel_chain_canons(const struct kstate *k, const struct name_idx *cidx, char ***ret)
{
	char **canon = calloc(k->n_chains + 1, sizeof(*canon));
	size_t *len = calloc(k->n_chains + 1, sizeof(*len));
	FILE **f = calloc(k->n_chains + 1, sizeof(*f));
	char **k_anon = calloc(k->n_sets + 1, sizeof(*k_anon));
	struct anon_resolver ar = { .k = k, .k_anon = k_anon };
	int r = 0;

	if (!canon || !len || !f || !k_anon)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < k->n_sets; i++)
		if (nftnl_set_get_u32(k->sets[i].set, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS) {
			k_anon[i] = anon_str(k->sets[i].set, k->sets[i].el, k->sets[i].n);
			if (!k_anon[i])
				r = -ENOMEM;
		}
	for (size_t c = 0; r >= 0 && c < k->n_chains; c++) {
		f[c] = open_memstream(&canon[c], &len[c]);
		if (!f[c])
			r = -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < k->n_rules; i++) {
		size_t c = name_idx_find(cidx, k->n_chains, nftnl_rule_get_str(k->rules[i], NFTNL_RULE_CHAIN));

		if (c != SIZE_MAX)
			r = rule_canon(f[c], k->rules[i], &ar);
	}
	for (size_t c = 0; f && c < k->n_chains; c++)
		if (f[c] && fclose(f[c]) != 0 && r >= 0)
			r = -ENOMEM;
	strv_free(k_anon, k->n_sets);
	free(f);
	free(len);
	if (r < 0) {
		strv_free(canon, k->n_chains);
		return r;
	}
	*ret = canon;
	return 0;
}

static bool chain_def_equal(const struct zt_chain *c, struct nftnl_chain *kc)
{
	static const uint32_t hooks[] = {
		[ZT_HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
		[ZT_HOOK_INPUT] = NF_INET_LOCAL_IN,
		[ZT_HOOK_FORWARD] = NF_INET_FORWARD,
		[ZT_HOOK_OUTPUT] = NF_INET_LOCAL_OUT,
	};
	bool base = nftnl_chain_is_set(kc, NFTNL_CHAIN_HOOKNUM);

	if (c->hook == ZT_HOOK_NONE || (size_t)c->hook >= ELEMENTSOF(hooks))
		return !base;
	return base && nftnl_chain_get_u32(kc, NFTNL_CHAIN_HOOKNUM) == hooks[c->hook] &&
	       nftnl_chain_get_s32(kc, NFTNL_CHAIN_PRIO) == c->prio &&
	       nftnl_chain_is_set(kc, NFTNL_CHAIN_TYPE) && streq(nftnl_chain_get_str(kc, NFTNL_CHAIN_TYPE), "filter") &&
	       nftnl_chain_get_u32(kc, NFTNL_CHAIN_POLICY) == NF_ACCEPT;
}

/*
 * An element as the bytes that make it what it is (flags, key, key end,
 * verdict, data, object reference, user data), each length-prefixed: two
 * elements are the same exactly when these are. No stdio per element.
 */
struct eblob {
	size_t idx;		/* in the list it was made from */
	size_t len;
	uint8_t b[];
};

static uint8_t *eblob_put(uint8_t *at, uint8_t tag, const void *p, uint32_t len)
{
	*at++ = tag;
	memcpy(at, &len, sizeof(len));
	at += sizeof(len);
	if (len)
		memcpy(at, p, len);
	return at + len;
}

static struct eblob *eblob_make(struct nftnl_set_elem *e, size_t idx)
{
	static const uint16_t attrs[] = { NFTNL_SET_ELEM_KEY, NFTNL_SET_ELEM_KEY_END, NFTNL_SET_ELEM_DATA,
					  NFTNL_SET_ELEM_USERDATA };
	const void *p[ELEMENTSOF(attrs)] = {};
	uint32_t l[ELEMENTSOF(attrs)] = {}, flags = 0, verdict = 0;
	const char *chain = NULL, *objref = NULL;
	size_t len = 2 * (1 + sizeof(uint32_t)) + 2 * sizeof(uint32_t);
	struct eblob *b;
	uint8_t *at;

	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
	for (size_t a = 0; a < ELEMENTSOF(attrs); a++)
		if (nftnl_set_elem_is_set(e, attrs[a])) {
			p[a] = nftnl_set_elem_get(e, attrs[a], &l[a]);
			if (!p[a])
				l[a] = 0;
			len += 1 + sizeof(uint32_t) + l[a];
		}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
		verdict = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_OBJREF))
		objref = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_OBJREF);
	len += (chain ? strlen(chain) : 0) + (objref ? strlen(objref) : 0);
	b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	b->idx = idx;
	at = b->b;
	memcpy(at, &flags, sizeof(flags));
	at += sizeof(flags);
	memcpy(at, &verdict, sizeof(verdict));
	at += sizeof(verdict);
	for (size_t a = 0; a < ELEMENTSOF(attrs); a++)
		if (p[a] || l[a] || nftnl_set_elem_is_set(e, attrs[a]))
			at = eblob_put(at, (uint8_t)(a + 1), p[a], l[a]);
	at = eblob_put(at, 'c', chain, chain ? (uint32_t)strlen(chain) : 0);
	at = eblob_put(at, 'o', objref, objref ? (uint32_t)strlen(objref) : 0);
	b->len = (size_t)(at - b->b);
	return b;
}

static int eblob_cmp(const void *x, const void *y)
{
	const struct eblob *a = *(struct eblob *const *)x, *b = *(struct eblob *const *)y;
	int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void eblobs_free(struct eblob **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted blobs of a list of elements. */
static struct eblob **eblobs(struct nftnl_set_elem **el, size_t n)
{
	struct eblob **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = eblob_make(el[i], i);
		if (!v[i]) {
			eblobs_free(v, n);
			return NULL;
		}
	}
	qsort(v, n, sizeof(*v), eblob_cmp);
	return v;
}

/* Elements: a multiset comparison; hash sets also get the delta. */
static int set_elems_diff(struct diff *df, size_t i, const struct zt_set *s, struct kset *ks)
{
	struct zt_set_enc *enc = &df->set_enc[i];
	struct eblob **want = eblobs(enc->elems, enc->n), **have = NULL;
	size_t kj = df->kset_of[i], x = 0, y = 0;
	bool same;
	int r = 0;

	if (!want)
		return -ENOMEM;
	have = eblobs(ks->el, ks->n);
	if (!have) {
		eblobs_free(want, enc->n);
		return -ENOMEM;
	}
	same = enc->n == ks->n;
	for (size_t e = 0; same && e < enc->n; e++)
		same = eblob_cmp(&want[e], &have[e]) == 0;
	if (same)
		goto out;
	df->changed++;
	if (s->interval) {
		/* Interval sets are replaced whole: the kernel refuses partial overlap edits. */
		df->pf.set_refill[i] = true;
		goto out;
	}
	/* Hash sets: remove what is not wanted, add what is missing; both sorted. */
	df->pf.set_add[i] = calloc(enc->n + 1, sizeof(size_t));
	df->kset_rm[kj] = calloc(ks->n + 1, sizeof(struct nftnl_set_elem *));
	if (!df->pf.set_add[i] || !df->kset_rm[kj]) {
		r = -ENOMEM;
		goto out;
	}
	while (x < enc->n || y < ks->n) {
		int c = x == enc->n ? 1 : y == ks->n ? -1 : eblob_cmp(&want[x], &have[y]);

		if (c < 0)
			df->pf.set_add[i][df->pf.n_set_add[i]++] = want[x++]->idx;
		else if (c > 0)
			df->kset_rm[kj][df->n_kset_rm[kj]++] = ks->el[have[y++]->idx];
		else
			x++, y++;
	}
out:
	eblobs_free(want, enc->n);
	eblobs_free(have, ks->n);
	return r;
}

static int diff_compute(const struct zt_plan *p, struct kstate *k, struct diff *df)
{
	struct name_idx *oidx = NULL, *cidx = NULL;
	char **kcanon = NULL;
	int r = 0;

#define ALLOC(f, n) ((df->f = calloc((n) + 1, sizeof(*df->f))) != NULL)
	if (pflags_alloc(&df->pf, p) < 0 || !ALLOC(set_enc, p->n_sets) || !ALLOC(kchain_del, k->n_chains) ||
	    !ALLOC(kset_del, k->n_sets) || !ALLOC(kobj_del, k->n_objs) || !ALLOC(kset_rm, k->n_sets) ||
	    !ALLOC(n_kset_rm, k->n_sets) || !ALLOC(kset_of, p->n_sets))
		return -ENOMEM;
#undef ALLOC

	oidx = objs_idx(k);
	cidx = chains_idx(k);
	if (!oidx || !cidx) {
		r = -ENOMEM;
		goto out;
	}
	/* Counters: by name. A changed comment keeps the counter and its values. */
	for (size_t j = 0; j < k->n_objs; j++)
		df->kobj_del[j] = true;
	for (size_t i = 0; i < p->n_counters; i++) {
		size_t j = name_idx_find(oidx, k->n_objs, p->counters[i].name);

		df->pf.counter_new[i] = j == SIZE_MAX;
		df->changed += j == SIZE_MAX;
		if (j != SIZE_MAX)
			df->kobj_del[j] = false;
	}
	for (size_t j = 0; j < k->n_objs; j++)
		df->changed += df->kobj_del[j];

	/* Sets: definition, then elements. */
	for (size_t i = 0; i < p->n_sets; i++) {
		const struct zt_set *s = &p->sets[i];
		size_t ki = kset_find(k, s->name);
		char *want, *have;

		r = zt_set_encode(s, &df->set_enc[i]);
		if (r < 0)
			goto out;
		df->kset_of[i] = ki;
		if (ki == SIZE_MAX) {
			df->pf.set_new[i] = true;
			df->changed++;
			continue;
		}
		want = set_def_str(df->set_enc[i].set);
		have = set_def_str(k->sets[ki].set);
		if (!want || !have) {
			free(want);
			free(have);
			r = -ENOMEM;
			goto out;
		}
		df->pf.set_recreate[i] = !streq(want, have);
		free(want);
		free(have);
		if (df->pf.set_recreate[i]) {
			df->changed++;
			continue;
		}
		/* The daemon owns a dynamic set's contents: leave them. */
		if (s->dynamic)
			continue;
		r = set_elems_diff(df, i, s, &k->sets[ki]);
		if (r < 0)
			goto out;
	}
	for (size_t j = 0; j < k->n_sets; j++) {
		const char *name = nftnl_set_get_str(k->sets[j].set, NFTNL_SET_NAME);

		if (nftnl_set_get_u32(k->sets[j].set, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS)
			continue;
		df->kset_del[j] = zt_plan_find_set(p, name) == NULL;
		df->changed += df->kset_del[j];
	}

	/* Chains: definition, then their rules as text. */
	r = kernel_chain_canons(k, cidx, &kcanon);
	if (r < 0)
		goto out;
	for (size_t j = 0; j < k->n_chains; j++)
		df->kchain_del[j] = true;
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++) {
		const struct zt_chain *c = &p->chains[i];
		size_t kc = name_idx_find(cidx, k->n_chains, c->name);
		char *want = NULL;

		if (kc != SIZE_MAX)
			df->kchain_del[kc] = false;
		if (kc == SIZE_MAX) {
			df->pf.chain_new[i] = df->pf.chain_rules[i] = true;
			df->changed += 1 + c->n_rules;
			continue;
		}
		if (!chain_def_equal(c, k->chains[kc])) {
			df->pf.chain_recreate[i] = df->pf.chain_rules[i] = true;
			df->changed += 1 + c->n_rules;
			continue;
		}
		r = plan_chain_canon(p, c, &want);
		if (r < 0)
			break;
		if (!streq(want, kcanon[kc])) {
			df->pf.chain_rules[i] = true;
			df->changed += c->n_rules;
		}
		free(want);
		/* A set made anew takes its users' rules with it. */
		for (size_t s = 0; !df->pf.chain_rules[i] && s < p->n_sets; s++)
			if (df->pf.set_recreate[s])
				for (size_t ri = 0; ri < c->n_rules && !df->pf.chain_rules[i]; ri++)
					df->pf.chain_rules[i] = rule_uses_set(&c->rules[ri], p->sets[s].name);
	}
	for (size_t j = 0; r >= 0 && j < k->n_chains; j++)
		df->changed += df->kchain_del[j];
out:
	strv_free(kcanon, k->n_chains);
	free(oidx);
	free(cidx);
	return r;
}

/*
 * A difference as one transaction, ordered so that nothing is used before
 * it exists or deleted while used: new chains and counters; rules of
 * changed chains away; sets made, remade or edited (each difference its own
 * way: set_emit); rules added; unused chains and counters away. Both
 * differences (with the table read back, with the previous plan) name what
 * goes through their own objects: del flags and a name.
 */
struct gone {
	const bool *del;
	size_t n;
	const char *(*name)(const void *objs, size_t j);
	const void *objs;
};

struct delta {
	const bool *chain_new, *chain_rules, *chain_recreate, *counter_new;
	struct gone chains, sets, counters;
	int (*set_emit)(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *df);
	const void *df;
};

static int gone_emit(struct zt_batch *b, const struct gone *g, int (*emit)(struct zt_batch *, const char *))
{
	int r = 0;

	for (size_t j = 0; r >= 0 && j < g->n; j++)
		if (g->del[j])
			r = emit(b, g->name(g->objs, j));
	return r;
}

static int delta_emit(struct zt_batch *b, const struct zt_plan *p, const struct delta *d)
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->chain_new[i])
			r = zt_emit_chain(b, &p->chains[i]);
	for (size_t i = 0; r >= 0 && i < p->n_counters; i++)
		if (d->counter_new[i])
			r = zt_emit_counter(b, &p->counters[i]);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->chain_rules[i] && !d->chain_new[i])
			r = zt_emit_chain_flush(b, p->chains[i].name);
	if (r >= 0)
		r = gone_emit(b, &d->chains, zt_emit_chain_flush);
	/* A base chain whose hook changed is made anew (nothing jumps to base chains). */
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->chain_recreate[i]) {
			r = zt_emit_chain_del(b, p->chains[i].name);
			if (r >= 0)
				r = zt_emit_chain(b, &p->chains[i]);
		}
	if (r >= 0)
		r = gone_emit(b, &d->sets, zt_emit_set_del);
	for (size_t i = 0; r >= 0 && i < p->n_sets; i++)
		r = d->set_emit(b, p, i, d->df);
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++)
		if (d->chain_rules[i])
			for (size_t j = 0; r >= 0 && j < p->chains[i].n_rules; j++)
				r = zt_emit_rule(b, p, &p->chains[i], j);
	if (r >= 0)
		r = gone_emit(b, &d->chains, zt_emit_chain_del);
	if (r >= 0)
		r = gone_emit(b, &d->counters, zt_emit_counter_del);
	return r;
}

static const char *kchain_name(const void *objs, size_t j)
{
	return nftnl_chain_get_str(((struct nftnl_chain *const *)objs)[j], NFTNL_CHAIN_NAME);
}

static const char *kset_name(const void *objs, size_t j)
{
	return nftnl_set_get_str(((const struct kset *)objs)[j].set, NFTNL_SET_NAME);
}

static const char *kobj_name(const void *objs, size_t j)
{
	return nftnl_obj_get_str(((struct nftnl_obj *const *)objs)[j], NFTNL_OBJ_NAME);
}

/* One set of the difference with the table read back. */
static int diff_set_emit(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *d)
{
	const struct diff *df = d;
	const struct zt_set *s = &p->sets[i];
	int r = 0;

	if (df->pf.set_recreate[i]) {
		r = zt_emit_set_del(b, s->name);
		if (r >= 0)
			r = zt_emit_set(b, s);
	} else if (df->pf.set_new[i])
		r = zt_emit_set(b, s);
	else if (df->pf.set_refill[i]) {
		r = zt_emit_set_flush(b, s->name);
		if (r >= 0 && df->set_enc[i].n)
			r = zt_emit_elems(b, s, &df->set_enc[i], NULL, 0, NFT_MSG_NEWSETELEM);
	} else if (df->kset_of[i] != SIZE_MAX && (df->n_kset_rm[df->kset_of[i]] || df->pf.n_set_add[i])) {
		size_t kj = df->kset_of[i], nrm = df->n_kset_rm[kj];

		if (nrm) {
			/* Delete by key alone. */
			struct zt_set_enc rm = {};

			rm.elems = calloc(nrm, sizeof(*rm.elems));
			rm.plan_elem = calloc(nrm, sizeof(*rm.plan_elem));
			r = rm.elems && rm.plan_elem ? 0 : -ENOMEM;
			for (size_t x = 0; r >= 0 && x < nrm; x++) {
				uint32_t len;
				const void *key = nftnl_set_elem_get(df->kset_rm[kj][x], NFTNL_SET_ELEM_KEY, &len);

				rm.plan_elem[x] = SIZE_MAX;
				rm.elems[x] = nftnl_set_elem_alloc();
				if (!rm.elems[x]) {
					r = -ENOMEM;
					break;
				}
				rm.n++;
				nftnl_set_elem_set(rm.elems[x], NFTNL_SET_ELEM_KEY, key, len);
			}
			if (r >= 0)
				r = zt_emit_elems(b, s, &rm, NULL, 0, NFT_MSG_DELSETELEM);
			zt_set_enc_clear(&rm);
		}
		if (r >= 0 && df->pf.n_set_add[i])
			r = zt_emit_elems(b, s, &df->set_enc[i], df->pf.set_add[i], df->pf.n_set_add[i],
					  NFT_MSG_NEWSETELEM);
	}
	return r;
}

/* The difference with the table read back, as one transaction. */
static int diff_emit(struct zt_batch *b, const struct zt_plan *p, const struct kstate *k, const struct diff *df)
{
	const struct delta d = {
		.chain_new = df->pf.chain_new, .chain_rules = df->pf.chain_rules,
		.chain_recreate = df->pf.chain_recreate, .counter_new = df->pf.counter_new,
		.chains = { df->kchain_del, k->n_chains, kchain_name, k->chains },
		.sets = { df->kset_del, k->n_sets, kset_name, k->sets },
		.counters = { df->kobj_del, k->n_objs, kobj_name, k->objs },
		.set_emit = diff_set_emit, .df = df,
	};

	return delta_emit(b, p, &d);
}

/*
 * Take an orphaned table back: a transaction of its own that changes only
 * the flags, because the kernel refuses a flags update together with base
 * chains added or deleted in the same transaction (EINVAL, measured). It
 * carries the generation the dump was taken at, so that a change by
 * someone else in between restarts the whole apply.
 */
static int table_claim(struct zt_nft *n, uint32_t flags, uint32_t *genid, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct acks a = {};
	uint32_t after;
	int r;

	r = zt_batch_new(++n->seq, &b);
	if (r >= 0)
		r = zt_batch_begin(b, *genid);
	if (r >= 0)
		r = zt_emit_table(b, flags);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r < 0)
		return r;
	n->seq = b->seq;
	r = batch_send(n, b, false, &a, d);
	r = acks_result(r, &a);
	free(a.seen);
	if (r < 0)
		return r;
	r = genid_get(n, &after);
	if (r < 0)
		return r;
	/* Ours was the only commit since the dump, or the dump is stale. */
	if (after != *genid + 1 && !(*genid == UINT32_MAX && after == 1))
		return -ERESTART;
	*genid = after;
	return 0;
}

/* ---- SHA-256 (nettle) ---------------------------------------------------- */

void zt_sha256(const void *data, size_t len, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* The plan's whole-table batch (sequence numbers from 0), hashed: what a full apply would send. */
static int plan_digest(const struct zt_plan *p, uint32_t flags, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	int r;

	r = zt_batch_new(0, &b);
	if (r >= 0)
		r = zt_emit_plan(b, p, flags);
	if (r < 0)
		return r;
	zt_sha256(b->buf, b->len, out);
	return 0;
}

/*
 * The applied digest: from the caller's seed, the flags and what apply
 * itself put into the plan (the links in enc_if: sets dynamic in the
 * compiled plan and filled in p); without a seed, the batch's.
 */
static int apply_digest(const struct zt_apply_opts *o, const struct zt_plan *base, const struct zt_plan *p,
			uint32_t flags, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = ZT_APPLY_DIGEST_LEN + 4, at = 0;

	if (!o->digest_seed)
		return plan_digest(p, flags, out);
	for (size_t i = 0; i < p->n_sets && i < base->n_sets; i++)
		if (base->sets[i].dynamic && !p->sets[i].dynamic)
			len += ZT_OBJ_NAME_MAX + 8 + p->sets[i].n_elems * IFNAMSIZ;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, o->digest_seed, ZT_APPLY_DIGEST_LEN);
	at = ZT_APPLY_DIGEST_LEN;
	for (unsigned i = 0; i < 4; i++)
		buf[at++] = (uint8_t)(flags >> (24 - 8 * i));
	for (size_t i = 0; i < p->n_sets && i < base->n_sets; i++) {
		const struct zt_set *s = &p->sets[i];

		if (!base->sets[i].dynamic || s->dynamic)
			continue;
		memcpy(buf + at, s->name, strnlen(s->name, ZT_OBJ_NAME_MAX));
		at += ZT_OBJ_NAME_MAX;
		for (unsigned b = 0; b < 8; b++)
			buf[at++] = (uint8_t)((uint64_t)s->n_elems >> (56 - 8 * b));
		for (size_t e = 0; e < s->n_elems; e++, at += IFNAMSIZ)
			memcpy(buf + at, s->elems[e].key[0].ifpat.name,
			       strnlen(s->elems[e].key[0].ifpat.name, IFNAMSIZ));
	}
	zt_sha256(buf, at, out);
	return 0;
}

/* ---- comparing plan and plan ----------------------------------------------- */

/*
 * The fields of a plan object that emit puts into the kernel, compared;
 * policy positions are not (they only point diagnostics at their source).
 * What this does not know is compared as bytes: a difference too many,
 * never one too few.
 */
static int value_cmp(const struct zt_value *a, const struct zt_value *b)
{
	int c = 0;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	switch (a->type) {
	case ZT_TYPE_NONE:
		break;
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		/* A prefix or a range (plan.h): what the kernel gets is the bounds. */
		uint8_t alo[16], ahi[16], blo[16], bhi[16];

		/* The same prefix, byte for byte: the same bounds (the common case, cheaply). */
		if (!a->is_range && !b->is_range && a->cidr.family == b->cidr.family && a->cidr.plen == b->cidr.plen &&
		    memcmp(a->cidr.addr, b->cidr.addr, sizeof(a->cidr.addr)) == 0)
			break;
		/* Two ranges of a family: their bounds are what they hold. */
		if (a->is_range && b->is_range && a->range.family == b->range.family) {
			size_t len = a->range.family == AF_INET ? 4 : 16;

			c = memcmp(a->range.lo, b->range.lo, len) ?: memcmp(a->range.hi, b->range.hi, len);
			break;
		}
		zt_value_addr_bounds(a, alo, ahi);
		zt_value_addr_bounds(b, blo, bhi);
		/* A range and a prefix of the same bounds are emitted differently in a rule. */
		c = a->is_range != b->is_range ? (int)a->is_range - (int)b->is_range :
		    zt_value_family(a) != zt_value_family(b) ?
			    (zt_value_family(a) < zt_value_family(b) ? -1 : 1) :
			    memcmp(alo, blo, sizeof(alo)) ?: memcmp(ahi, bhi, sizeof(ahi));
		break;
	}
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME:
		c = strncmp(a->ifpat.name, b->ifpat.name, sizeof(a->ifpat.name));
		if (!c)
			c = (int)a->ifpat.wildcard - (int)b->ifpat.wildcard;
		break;
	case ZT_TYPE_VERDICT:
		c = a->verdict.code != b->verdict.code ? (a->verdict.code < b->verdict.code ? -1 : 1) : 0;
		if (!c && (a->verdict.code == ZT_V_JUMP || a->verdict.code == ZT_V_GOTO))
			c = strncmp(a->verdict.chain, b->verdict.chain, sizeof(a->verdict.chain));
		break;
	case ZT_TYPE_COUNTER:
		c = strncmp(a->counter, b->counter, sizeof(a->counter));
		break;
	case ZT_TYPE_MARK:
	case ZT_TYPE_INET_PROTO:
	case ZT_TYPE_INET_SERVICE:
	case ZT_TYPE_ICMP_TYPE:
	case ZT_TYPE_ICMPV6_TYPE:
	case ZT_TYPE_IFINDEX:
	case ZT_TYPE_FIB_ADDRTYPE:
		c = a->u32 != b->u32 ? (a->u32 < b->u32 ? -1 : 1) : 0;
		break;
	default:
		c = memcmp(a, b, sizeof(*a));
		break;
	}
	if (!c && a->u32_hi != b->u32_hi)
		c = a->u32_hi < b->u32_hi ? -1 : 1;
	return c;
}

static int elem_key_cmp(const struct zt_elem *a, const struct zt_elem *b, size_t n_key)
{
	for (size_t k = 0; k < n_key && k < ZT_MAX_CONCAT; k++) {
		int c = value_cmp(&a->key[k], &b->key[k]);

		if (c)
			return c;
	}
	return 0;
}

static bool match_eq(const struct zt_match *a, const struct zt_match *b)
{
	if (a->op != b->op || a->n_key != b->n_key || a->ct_state != b->ct_state ||
	    memcmp(a->key, b->key, sizeof(a->key)) != 0 || value_cmp(&a->value, &b->value) != 0 ||
	    strncmp(a->set, b->set, sizeof(a->set)) != 0 || a->anon.type != b->anon.type ||
	    a->anon.interval != b->anon.interval || a->anon.n != b->anon.n)
		return false;
	for (size_t i = 0; i < a->anon.n; i++)
		if (value_cmp(&a->anon.v[i], &b->anon.v[i]) != 0)
			return false;
	return true;
}

static bool rule_eq(const struct zt_rule *a, const struct zt_rule *b)
{
	if (a->n_match != b->n_match || a->n_stmt != b->n_stmt || a->n_match > ZT_RULE_MAX_MATCH ||
	    a->n_stmt > ZT_RULE_MAX_STMT || strncmp(a->comment, b->comment, sizeof(a->comment)) != 0)
		return false;
	for (size_t i = 0; i < a->n_match; i++)
		if (!match_eq(&a->match[i], &b->match[i]))
			return false;
	/* Statements hold no pointers and are zeroed before they are filled: their bytes. */
	return memcmp(a->stmt, b->stmt, a->n_stmt * sizeof(*a->stmt)) == 0;
}

static bool chain_rules_eq(const struct zt_chain *a, const struct zt_chain *b)
{
	if (a->n_rules != b->n_rules)
		return false;
	for (size_t i = 0; i < a->n_rules; i++)
		if (!rule_eq(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

static bool set_def_eq(const struct zt_set *a, const struct zt_set *b)
{
	return a->n_key == b->n_key && memcmp(a->key, b->key, sizeof(a->key)) == 0 && a->data == b->data &&
	       a->interval == b->interval && a->dynamic == b->dynamic &&
	       strncmp(a->comment, b->comment, sizeof(a->comment)) == 0;
}

static bool elems_eq(const struct zt_set *a, const struct zt_set *b)
{
	if (a->n_elems != b->n_elems)
		return false;
	for (size_t i = 0; i < a->n_elems; i++)
		if (elem_key_cmp(&a->elems[i], &b->elems[i], a->n_key) != 0 ||
		    value_cmp(&a->elems[i].data, &b->elems[i].data) != 0)
			return false;
	return true;
}

/* Arrays sorted by name, as plan.h promises: checked, since the merges below rely on it. */
static bool plan_sorted(const struct zt_plan *p)
{
	for (size_t i = 1; i < p->n_counters; i++)
		if (strcmp(p->counters[i - 1].name, p->counters[i].name) >= 0)
			return false;
	for (size_t i = 1; i < p->n_sets; i++)
		if (strcmp(p->sets[i - 1].name, p->sets[i].name) >= 0)
			return false;
	for (size_t i = 1; i < p->n_chains; i++)
		if (strcmp(p->chains[i - 1].name, p->chains[i].name) >= 0)
			return false;
	return true;
}

struct pdiff {
	/* per object of the new plan (set_add: its elements) */
	struct pflags pf;
	size_t *oset_of;			/* new set -> old set index, SIZE_MAX */
	size_t **set_rm, *n_set_rm;		/* hash sets: old plan elements to remove */
	/* per object of the old plan */
	bool *ochain_del, *oset_del, *ocounter_del;
	size_t changed;
};

static void pdiff_clear(struct pdiff *df, const struct zt_plan *p)
{
	for (size_t i = 0; df->set_rm && i < p->n_sets; i++)
		free(df->set_rm[i]);
	pflags_clear(&df->pf, p);
	free(df->oset_of);
	free(df->set_rm);
	free(df->n_set_rm);
	free(df->ochain_del);
	free(df->oset_del);
	free(df->ocounter_del);
	*df = (struct pdiff){};
}

static int elem_idx_cmp(const void *a, const void *b, void *data)
{
	const struct zt_set *s = data;

	return elem_key_cmp(&s->elems[*(const size_t *)a], &s->elems[*(const size_t *)b], s->n_key);
}

static size_t *elem_order(const struct zt_set *s)
{
	size_t *v = calloc(s->n_elems + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < s->n_elems; i++)
		v[i] = i;
	qsort_r(v, s->n_elems, sizeof(*v), elem_idx_cmp, (void *)s);
	return v;
}

/* A hash set's elements: what to remove (old) and add (new), by key; a changed value is both. */
static int pdiff_hash_elems(struct pdiff *df, size_t i, const struct zt_set *o, const struct zt_set *s)
{
	_cleanup_free_ size_t *oa = elem_order(o), *na = elem_order(s);
	size_t x = 0, y = 0;

	df->set_rm[i] = calloc(o->n_elems + 1, sizeof(size_t));
	df->pf.set_add[i] = calloc(s->n_elems + 1, sizeof(size_t));
	if (!oa || !na || !df->set_rm[i] || !df->pf.set_add[i])
		return -ENOMEM;
	while (x < o->n_elems || y < s->n_elems) {
		int c = x == o->n_elems ? 1 : y == s->n_elems ? -1 :
			elem_key_cmp(&o->elems[oa[x]], &s->elems[na[y]], s->n_key);

		if (c < 0) {
			df->set_rm[i][df->n_set_rm[i]++] = oa[x++];
		} else if (c > 0) {
			df->pf.set_add[i][df->pf.n_set_add[i]++] = na[y++];
		} else {
			if (value_cmp(&o->elems[oa[x]].data, &s->elems[na[y]].data) != 0) {
				df->set_rm[i][df->n_set_rm[i]++] = oa[x];
				df->pf.set_add[i][df->pf.n_set_add[i]++] = na[y];
			}
			x++;
			y++;
		}
	}
	return 0;
}

/*
 * old: what the table is (applied at a generation nobody moved since);
 * base: the new plan as compiled (which sets are dynamic); p: the same
 * with enc_if filled. Returns -ENOTUNIQ when the plans cannot be compared
 * this way (the caller reads the table instead).
 */
static int pdiff_compute(const struct zt_plan *old, const struct zt_plan *base, const struct zt_plan *p,
			 bool refill_filled, struct pdiff *df)
{
	size_t x, y;
	int r;

	if (!plan_sorted(old) || !plan_sorted(p) || base->n_sets != p->n_sets || old->log_group != p->log_group)
		return -ENOTUNIQ;
#define ALLOC(f, n) ((df->f = calloc((n) + 1, sizeof(*df->f))) != NULL)
	if (pflags_alloc(&df->pf, p) < 0 || !ALLOC(oset_of, p->n_sets) || !ALLOC(set_rm, p->n_sets) ||
	    !ALLOC(n_set_rm, p->n_sets) || !ALLOC(ochain_del, old->n_chains) || !ALLOC(oset_del, old->n_sets) ||
	    !ALLOC(ocounter_del, old->n_counters))
		return -ENOMEM;
#undef ALLOC

	/* Counters: by name (a changed comment keeps the counter and its values, as the dump diff does). */
	for (x = 0, y = 0; x < old->n_counters || y < p->n_counters;) {
		int c = x == old->n_counters ? 1 : y == p->n_counters ? -1 :
			strcmp(old->counters[x].name, p->counters[y].name);

		if (c < 0)
			df->ocounter_del[x++] = true;
		else if (c > 0)
			df->pf.counter_new[y++] = true;
		else
			x++, y++;
		df->changed += c != 0;
	}

	/* Sets: definition, then elements. */
	for (y = 0; y < p->n_sets; y++)
		df->oset_of[y] = SIZE_MAX;
	for (x = 0, y = 0; x < old->n_sets || y < p->n_sets;) {
		int c = x == old->n_sets ? 1 : y == p->n_sets ? -1 : strcmp(old->sets[x].name, p->sets[y].name);
		const struct zt_set *o, *s;

		if (c < 0) {
			df->oset_del[x++] = true;
			df->changed++;
			continue;
		}
		if (c > 0) {
			df->pf.set_new[y++] = true;
			df->changed++;
			continue;
		}
		o = &old->sets[x];
		s = &base->sets[y];
		df->oset_of[y] = x;
		if (!set_def_eq(o, s)) {
			df->pf.set_recreate[y] = true;
			df->changed++;
		} else if (s->dynamic && !p->sets[y].dynamic && refill_filled) {
			df->pf.set_refill[y] = true;
			df->changed++;
		} else if (!s->dynamic && !elems_eq(o, s)) {
			/* The daemon owns a dynamic set's contents: leave them. */
			df->changed++;
			if (s->interval)
				df->pf.set_refill[y] = true;
			else if ((r = pdiff_hash_elems(df, y, o, s)) < 0)
				return r;
		}
		x++, y++;
	}

	/* Chains: definition, then rules. */
	for (x = 0, y = 0; x < old->n_chains || y < p->n_chains;) {
		int c = x == old->n_chains ? 1 : y == p->n_chains ? -1 : strcmp(old->chains[x].name, p->chains[y].name);
		const struct zt_chain *oc, *nc;

		if (c < 0) {
			df->ochain_del[x++] = true;
			df->changed++;
			continue;
		}
		nc = &p->chains[y];
		if (c > 0) {
			df->pf.chain_new[y] = df->pf.chain_rules[y] = true;
			df->changed += 1 + nc->n_rules;
			y++;
			continue;
		}
		oc = &old->chains[x];
		if (oc->hook != nc->hook || (nc->hook != ZT_HOOK_NONE && oc->prio != nc->prio)) {
			df->pf.chain_recreate[y] = df->pf.chain_rules[y] = true;
			df->changed += 1 + nc->n_rules;
		} else if (!chain_rules_eq(oc, nc)) {
			df->pf.chain_rules[y] = true;
			df->changed += nc->n_rules;
		}
		/* A set made anew takes its users' rules with it. */
		for (size_t si = 0; !df->pf.chain_rules[y] && si < p->n_sets; si++)
			if (df->pf.set_recreate[si])
				for (size_t ri = 0; ri < nc->n_rules && !df->pf.chain_rules[y]; ri++)
					df->pf.chain_rules[y] = rule_uses_set(&nc->rules[ri], p->sets[si].name);
		x++, y++;
	}
	return 0;
}

/* Elements of an old plan's set, by key alone (what DELSETELEM needs). */
static int pdiff_emit_rm(struct zt_batch *b, const struct zt_set *os, const struct zt_set *s, const size_t *which,
			 size_t n)
{
	struct zt_set_enc enc = {}, rm = {};
	_cleanup_free_ size_t *at = calloc(os->n_elems + 1, sizeof(size_t));
	int r;

	if (!at)
		return -ENOMEM;
	r = zt_set_encode(os, &enc);
	for (size_t i = 0; r >= 0 && i < os->n_elems; i++)
		at[i] = SIZE_MAX;
	for (size_t e = 0; r >= 0 && e < enc.n; e++)
		if (enc.plan_elem[e] < os->n_elems)
			at[enc.plan_elem[e]] = e;
	rm.elems = calloc(n + 1, sizeof(*rm.elems));
	rm.plan_elem = calloc(n + 1, sizeof(*rm.plan_elem));
	if (r >= 0 && (!rm.elems || !rm.plan_elem))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		size_t e = at[which[i]];
		uint32_t len;
		const void *key;

		if (e == SIZE_MAX) {
			r = -ENOTUNIQ;
			break;
		}
		key = nftnl_set_elem_get(enc.elems[e], NFTNL_SET_ELEM_KEY, &len);
		rm.plan_elem[i] = SIZE_MAX;
		rm.elems[i] = nftnl_set_elem_alloc();
		if (!rm.elems[i] || !key) {
			r = -ENOMEM;
			break;
		}
		rm.n++;
		nftnl_set_elem_set(rm.elems[i], NFTNL_SET_ELEM_KEY, key, len);
	}
	if (r >= 0 && rm.n)
		r = zt_emit_elems(b, s, &rm, NULL, 0, NFT_MSG_DELSETELEM);
	zt_set_enc_clear(&rm);
	zt_set_enc_clear(&enc);
	return r;
}

/* Some elements of a new plan's set (which: plan element indexes). */
static int pdiff_emit_add(struct zt_batch *b, const struct zt_set *s, const size_t *which, size_t n)
{
	struct zt_set_enc enc = {};
	_cleanup_free_ size_t *at = calloc(s->n_elems + 1, sizeof(size_t)), *idx = calloc(n + 1, sizeof(size_t));
	int r;

	if (!at || !idx)
		return -ENOMEM;
	r = zt_set_encode(s, &enc);
	for (size_t i = 0; r >= 0 && i < s->n_elems; i++)
		at[i] = SIZE_MAX;
	for (size_t e = 0; r >= 0 && e < enc.n; e++)
		if (enc.plan_elem[e] < s->n_elems)
			at[enc.plan_elem[e]] = e;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		idx[i] = at[which[i]];
		if (idx[i] == SIZE_MAX)
			r = -ENOTUNIQ;
	}
	if (r >= 0)
		r = zt_emit_elems(b, s, &enc, idx, n, NFT_MSG_NEWSETELEM);
	zt_set_enc_clear(&enc);
	return r;
}

static int pdiff_emit_all(struct zt_batch *b, const struct zt_set *s)
{
	struct zt_set_enc enc = {};
	int r = zt_set_encode(s, &enc);

	if (r >= 0 && enc.n)
		r = zt_emit_elems(b, s, &enc, NULL, 0, NFT_MSG_NEWSETELEM);
	zt_set_enc_clear(&enc);
	return r;
}

static const char *ochain_name(const void *objs, size_t j)
{
	return ((const struct zt_chain *)objs)[j].name;
}

static const char *oset_name(const void *objs, size_t j)
{
	return ((const struct zt_set *)objs)[j].name;
}

static const char *ocounter_name(const void *objs, size_t j)
{
	return ((const struct zt_counter *)objs)[j].name;
}

struct pdiff_ctx {
	const struct zt_plan *old;
	const struct pdiff *df;
};

/* One set of the difference with the previous plan. */
static int pdiff_set_emit(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *d)
{
	const struct pdiff_ctx *pc = d;
	const struct pdiff *df = pc->df;
	const struct zt_set *s = &p->sets[i];
	int r = 0;

	if (df->pf.set_recreate[i]) {
		r = zt_emit_set_del(b, s->name);
		if (r >= 0)
			r = zt_emit_set(b, s);
	} else if (df->pf.set_new[i]) {
		r = zt_emit_set(b, s);
	} else if (df->pf.set_refill[i]) {
		r = zt_emit_set_flush(b, s->name);
		if (r >= 0 && s->n_elems)
			r = pdiff_emit_all(b, s);
	} else if (df->n_set_rm[i] || df->pf.n_set_add[i]) {
		if (df->n_set_rm[i])
			r = pdiff_emit_rm(b, &pc->old->sets[df->oset_of[i]], s, df->set_rm[i], df->n_set_rm[i]);
		if (r >= 0 && df->pf.n_set_add[i])
			r = pdiff_emit_add(b, s, df->pf.set_add[i], df->pf.n_set_add[i]);
	}
	return r;
}

/* The difference with the previous plan, as one transaction. */
static int pdiff_emit(struct zt_batch *b, const struct zt_plan *old, const struct zt_plan *p, const struct pdiff *df)
{
	const struct pdiff_ctx pc = { old, df };
	const struct delta d = {
		.chain_new = df->pf.chain_new, .chain_rules = df->pf.chain_rules,
		.chain_recreate = df->pf.chain_recreate, .counter_new = df->pf.counter_new,
		.chains = { df->ochain_del, old->n_chains, ochain_name, old->chains },
		.sets = { df->oset_del, old->n_sets, oset_name, old->sets },
		.counters = { df->ocounter_del, old->n_counters, ocounter_name, old->counters },
		.set_emit = pdiff_set_emit, .df = &pc,
	};

	return delta_emit(b, p, &d);
}

/* ---- apply ---------------------------------------------------------------- */

const char *zt_apply_path_name(enum zt_apply_path p)
{
	switch (p) {
	case ZT_APPLY_FULL:
		return "full";
	case ZT_APPLY_DUMP:
		return "table read back";
	case ZT_APPLY_PLAN:
		return "previous plan";
	case ZT_APPLY_DIGEST:
		return "digest";
	}
	return "?";
}

/* The generation after our commit at genid; quiet: whether notifications were off meanwhile. */
static void gen_after_commit(struct zt_nft *n, uint32_t genid, bool sent, bool quiet, struct zt_apply_stats *st)
{
	uint32_t after;

	if (genid_get(n, &after) < 0) {
		n->gen_ours = st->genid = 0;
		st->foreign = quiet;
		return;
	}
	/* Ours moved it by one (an empty transaction does not move it). */
	if (after == (sent ? gen_next(genid) : genid) || (sent && after == genid)) {
		n->gen_ours = st->genid = after;
		return;
	}
	n->gen_ours = st->genid = 0;
	st->foreign = quiet;
}

static int apply_once(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
		      const struct zt_apply_opts *o, struct zt_apply_stats *st, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct kstate k = {};
	struct diff df = {};
	struct pdiff pd = {};
	struct acks a = {};
	uint32_t genid, flags = 0;
	bool full, same_gen, quiet = false, sent = false;
	size_t changed;
	int persist, r;

	r = genid_get(n, &genid);
	if (r < 0)
		return r;
	r = kstate_table(n, &k);
	if (r < 0)
		goto out;
	if (k.present && (k.flags & NFT_TABLE_F_OWNER) && k.has_owner_attr && k.owner != n->portid) {
		zt_diag_error(d, NULL, 0, 0, "table inet %s is owned by another process (netlink port %u): "
			      "a running ztsegd applies changes itself (reload it)", ZT_TABLE_NAME, k.owner);
		r = -EPERM;
		goto out;
	}
	persist = zt_nft_has_persist(n);
	if (persist < 0) {
		r = persist;
		goto out;
	}
	/* Without persist an owned table dies with its owner: that would fail open. */
	if (persist && !o->unowned)
		flags = NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST;
	st->persist = persist && !o->unowned;

	/*
	 * A diff needs the kernel's table to take our flags as an update: the
	 * same persist bit (it cannot be toggled), and the owner bit either
	 * ours already or free to take.
	 */
	full = o->replace || !k.present || (k.flags & NFT_TABLE_F_PERSIST) != (flags & NFT_TABLE_F_PERSIST) ||
	       (!persist && (k.flags & NFT_TABLE_F_OWNER));
	/* Nothing committed in this namespace since the caller's last apply: the table is its plan. */
	same_gen = !full && o->prev_genid && genid == o->prev_genid;
	st->path = full ? ZT_APPLY_FULL : ZT_APPLY_DUMP;
	if (same_gen && o->prev_digest) {
		uint8_t dg[ZT_APPLY_DIGEST_LEN];

		r = apply_digest(o, base, p, flags, dg);
		if (r < 0)
			goto out;
		if (memcmp(dg, o->prev_digest, sizeof(dg)) == 0) {
			st->path = ZT_APPLY_DIGEST;
			st->created = st->replaced = false;
			st->messages = st->bytes = st->changed = 0;
			st->genid = n->gen_ours = genid;
			memcpy(st->digest, dg, sizeof(dg));
			st->have_digest = o->want_digest;
			goto out;
		}
	}
	if (same_gen && o->prev_plan) {
		r = pdiff_compute(o->prev_plan, base, p, o->refill_filled, &pd);
		if (r >= 0)
			st->path = ZT_APPLY_PLAN;
		else if (r != -ENOTUNIQ)
			goto out;
		else
			pdiff_clear(&pd, p);
		r = 0;
	}
	if (!full && st->path == ZT_APPLY_DUMP) {
		r = kstate_dump(n, &k);
		/* Someone committed while we read (NLM_F_DUMP_INTR): read again. */
		if (r == -EINTR) {
			r = -ERESTART;
			goto out;
		}
		if (r >= 0)
			r = diff_compute(p, &k, &df);
		/* Whatever we cannot compare is replaced whole. */
		if (r < 0 && r != -ENOMEM) {
			full = true;
			st->path = ZT_APPLY_FULL;
		} else if (r < 0)
			goto out;
	}

	if (!full && k.flags != flags) {
		r = table_claim(n, flags, &genid, d);
		if (r < 0)
			goto out;
	}
	r = zt_batch_new(++n->seq, &b);
	if (r < 0)
		goto out;
	r = zt_batch_begin(b, genid);
	if (r >= 0 && full) {
		if (k.present)
			r = zt_emit_table_del(b);
		if (r >= 0)
			r = zt_emit_plan(b, p, flags);
	} else if (r >= 0 && st->path == ZT_APPLY_PLAN)
		r = pdiff_emit(b, o->prev_plan, p, &pd);
	else if (r >= 0)
		r = diff_emit(b, p, &k, &df);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r < 0) {
		if (r == -EINVAL)
			zt_diag_error(d, NULL, 0, 0, "internal error: the plan holds something nft cannot express%s%s",
				      b && b->invalid[0] ? ": " : "", b ? b->invalid : "");
		goto out;
	}
	n->seq = b->seq;
	changed = full ? zt_plan_count_objects(p) : st->path == ZT_APPLY_PLAN ? pd.changed : df.changed;
	st->created = !k.present;
	st->replaced = full && k.present;
	st->changed = changed;
	a.plan = p;
	if (!full && changed == 0) {
		/* Nothing to change: nothing to send. */
		st->messages = st->bytes = 0;
		gen_after_commit(n, genid, false, false, st);
	} else {
		st->messages = b->n_src;
		st->bytes = b->len;
		quiet = o->quiet && b->n_src >= ZT_APPLY_QUIET_MIN;
		if (quiet)
			o->quiet(true, o->userdata);
		r = batch_send(n, b, false, &a, d);
		r = acks_result(r, &a);
		sent = r >= 0;
		if (quiet)
			o->quiet(false, o->userdata);
		if (sent)
			gen_after_commit(n, genid, true, quiet, st);
		else {
			n->gen_ours = 0;
			/* A restart under a quiet window: someone committed unseen. */
			if (quiet && r == -ERESTART)
				st->foreign = true;
		}
	}
	if (r >= 0 && o->want_digest) {
		r = apply_digest(o, base, p, flags, st->digest);
		st->have_digest = r >= 0;
	}
out:
	free(a.seen);
	diff_clear(&df, p, &k);
	pdiff_clear(&pd, p);
	kstate_clear(&k);
	return r;
}

int zt_apply(struct zt_nft *n, const struct zt_plan *plan, const struct zt_apply_opts *opts,
	     struct zt_apply_stats *stats, struct zt_diags *d)
{
	struct zt_apply_opts o = opts ? *opts : (struct zt_apply_opts){};
	struct zt_apply_stats st = {};
	struct eff_plan e = {};
	unsigned max = o.max_restarts ? o.max_restarts : RESTARTS_DEFAULT;
	int r;

	r = eff_plan_make(plan, &o, &e);
	if (r < 0) {
		zt_diag_error(d, NULL, 0, 0, "cannot list network interfaces for %s: %s", ENC_IF_SET, strerror(-r));
		return r;
	}
	st.objects = zt_plan_count_objects(&e.p);
	st.enc_ifs = e.n_enc;
	/* Someone else committed between our dump and our batch: look again. */
	for (;;) {
		bool foreign = st.foreign;

		r = apply_once(n, &e.p, plan, &o, &st, d);
		st.foreign |= foreign;
		if (r != -ERESTART || st.restarts >= max)
			break;
		st.restarts++;
	}
	if (r == -ERESTART)
		zt_diag_error(d, NULL, 0, 0, "the ruleset kept changing while applying (%u attempts)", st.restarts + 1);
	if (r < 0)
		n->gen_ours = 0;
	eff_plan_clear(&e);
	if (stats)
		*stats = st;
	return r;
}

int zt_apply_remove(struct zt_nft *n, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct kstate k = {};
	struct acks a = {};
	int r;

	r = kstate_table(n, &k);
	if (r < 0)
		return r;
	if (!k.present)
		return -ENOENT;
	r = zt_batch_new(++n->seq, &b);
	if (r >= 0)
		r = zt_batch_begin(b, 0);
	if (r >= 0)
		r = zt_emit_table_del(b);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r < 0)
		return r;
	n->seq = b->seq;
	r = batch_send(n, b, false, &a, d);
	if (r >= 0 && a.n_errors)
		r = a.first_err == ENOENT ? -ENOENT : -a.first_err;
	free(a.seen);
	return r;
}
