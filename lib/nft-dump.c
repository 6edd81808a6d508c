/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Table inet ztseg read back: its flags and owner, and its objects for
 * the difference with the plan (one callback for every kind of object).
 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "nft-dump.h"
#include "plan.h"

struct table_want {
	uint32_t family;
	struct zt_nft_table_info *ti;
};

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct table_want *w = data;
	struct zt_nft_table_info *ti = w->ti;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return -ENOMEM;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == w->family &&
	    nftnl_table_is_set(t, NFTNL_TABLE_NAME) && streq(nftnl_table_get_str(t, NFTNL_TABLE_NAME), ZT_TABLE_NAME)) {
		ti->present = true;
		ti->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
		if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER)) {
			ti->has_owner = true;
			ti->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
		}
	}
	nftnl_table_free(t);
	return 0;
}

int zt_nft_table_get_family(struct zt_nl *nl, uint16_t nfproto, struct zt_nft_table_info *ret)
{
	struct zt_nft_table_info ti = {};
	struct table_want w = { nfproto, &ti };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, nfproto, NLM_F_DUMP, ++nl->seq);
	int r = zt_nl_talk(nl, nlh, table_cb, &w, 0);

	if (r < 0)
		return r;
	*ret = ti;
	return 0;
}

int zt_nft_table_get(struct zt_nl *nl, struct zt_nft_table_info *ret)
{
	return zt_nft_table_get_family(nl, NFPROTO_INET, ret);
}

void zt_kstate_clear(struct zt_kstate *k)
{
	for (size_t i = 0; i < k->n_chains; i++)
		nftnl_chain_free(k->chains[i]);
	for (size_t i = 0; i < k->n_objs; i++)
		nftnl_obj_free(k->objs[i]);
	for (size_t i = 0; i < k->n_sets; i++)
		zt_kset_clear(&k->sets[i]);
	for (size_t i = 0; i < k->n_rules; i++)
		nftnl_rule_free(k->rules[i]);
	free(k->chains);
	free(k->objs);
	free(k->sets);
	free(k->rules);
	*k = (struct zt_kstate){};
}

/* The kinds of object a dump returns, each one libnftnl type. */
enum kobj {
	KOBJ_CHAIN,
	KOBJ_OBJ,
	KOBJ_SET,
	KOBJ_RULE,
};

/* One object of a dump, parsed; NULL with *err set when it cannot be. */
static void *kobj_parse(enum kobj kind, const struct nlmsghdr *nlh, int *err)
{
	void *o = NULL;
	int r = -1;

	switch (kind) {
	case KOBJ_CHAIN:
		if ((o = nftnl_chain_alloc()) && (r = nftnl_chain_nlmsg_parse(nlh, o)) < 0)
			nftnl_chain_free(o);
		break;
	case KOBJ_OBJ:
		if ((o = nftnl_obj_alloc()) && (r = nftnl_obj_nlmsg_parse(nlh, o)) < 0)
			nftnl_obj_free(o);
		break;
	case KOBJ_SET:
		if ((o = nftnl_set_alloc()) && (r = nftnl_set_nlmsg_parse(nlh, o)) < 0)
			nftnl_set_free(o);
		break;
	case KOBJ_RULE:
		if ((o = nftnl_rule_alloc()) && (r = nftnl_rule_nlmsg_parse(nlh, o)) < 0)
			nftnl_rule_free(o);
		break;
	}
	/* A message the kernel sent that libnftnl cannot parse is not an allocation failure. */
	*err = !o ? -ENOMEM : -EBADMSG;
	return o && r >= 0 ? o : NULL;
}

static void kobj_free(enum kobj kind, void *o)
{
	switch (kind) {
	case KOBJ_CHAIN:
		nftnl_chain_free(o);
		break;
	case KOBJ_OBJ:
		nftnl_obj_free(o);
		break;
	case KOBJ_SET:
		nftnl_set_free(o);
		break;
	case KOBJ_RULE:
		nftnl_rule_free(o);
		break;
	}
}

/* The kernel does not filter chain dumps by table: other tables' objects are not ours. */
static bool kobj_ours(enum kobj kind, void *o)
{
	uint32_t family = 0;
	const char *table = NULL;

	switch (kind) {
	case KOBJ_CHAIN:
		family = nftnl_chain_get_u32(o, NFTNL_CHAIN_FAMILY);
		if (nftnl_chain_is_set(o, NFTNL_CHAIN_TABLE))
			table = nftnl_chain_get_str(o, NFTNL_CHAIN_TABLE);
		break;
	case KOBJ_OBJ:
		family = nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY);
		if (nftnl_obj_is_set(o, NFTNL_OBJ_TABLE))
			table = nftnl_obj_get_str(o, NFTNL_OBJ_TABLE);
		break;
	case KOBJ_SET:
		family = nftnl_set_get_u32(o, NFTNL_SET_FAMILY);
		if (nftnl_set_is_set(o, NFTNL_SET_TABLE))
			table = nftnl_set_get_str(o, NFTNL_SET_TABLE);
		break;
	case KOBJ_RULE:
		family = nftnl_rule_get_u32(o, NFTNL_RULE_FAMILY);
		if (nftnl_rule_is_set(o, NFTNL_RULE_TABLE))
			table = nftnl_rule_get_str(o, NFTNL_RULE_TABLE);
		break;
	}
	return family == NFPROTO_INET && table && streq(table, ZT_TABLE_NAME);
}

/* Where a dump's objects go: an array of the kind's libnftnl objects. */
struct sink {
	enum kobj kind;
	void ***v;
	size_t *n, *cap;
};

static int kobj_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct sink *s = data;
	int r;
	void *o = kobj_parse(s->kind, nlh, &r);

	if (!o)
		return r;
	if (!kobj_ours(s->kind, o)) {
		kobj_free(s->kind, o);
		return 0;
	}
	if (ZT_GROW(*s->v, *s->cap, *s->n + 1) < 0) {
		kobj_free(s->kind, o);
		return -ENOMEM;
	}
	(*s->v)[(*s->n)++] = o;
	return 0;
}

static int elem_take(struct nftnl_set_elem *e, void *data)
{
	struct zt_kset *ks = data;

	if (ZT_GROW(ks->el, ks->cap, ks->n + 1) < 0)
		return -1;
	ks->el[ks->n++] = e;
	return 0;
}

/* libnftnl 1.2.4 cannot clone elements: keep each message's set as their holder. */
static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct zt_kset *ks = data;
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

/* One dump of our table's objects of a kind (type: NFT_MSG_GET*; attr: its table attribute). */
static int kobj_dump(struct zt_nl *nl, uint16_t type, uint16_t attr, const struct sink *s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	/* libmnl leaves attribute padding as it finds it: send zeros. */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, ++nl->seq);
	mnl_attr_put_strz(nlh, attr, ZT_TABLE_NAME);
	if (type == NFT_MSG_GETOBJ)
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	return zt_nl_talk(nl, nlh, kobj_cb, (void *)s, 0);
}

/* The elements of our set NAME, into ks (its holders own them). */
static int kset_elems_dump(struct zt_nl *nl, const char *name, struct zt_kset *ks)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, ++nl->seq);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	return zt_nl_talk(nl, nlh, elem_cb, ks, 0);
}

static int sets_dump(struct zt_nl *nl, struct zt_kstate *k)
{
	_cleanup_free_ struct nftnl_set **v = NULL;
	size_t n = 0, cap = 0;
	const struct sink s = { KOBJ_SET, (void ***)&v, &n, &cap };
	int r = kobj_dump(nl, NFT_MSG_GETSET, NFTA_SET_TABLE, &s);

	if (r >= 0 && n) {
		k->sets = calloc(n, sizeof(*k->sets));
		if (!k->sets)
			r = -ENOMEM;
	}
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			nftnl_set_free(v[i]);
		return r;
	}
	for (size_t i = 0; i < n; i++)
		k->sets[i].set = v[i];
	k->n_sets = k->cap_sets = n;
	for (size_t i = 0; i < k->n_sets; i++) {
		r = kset_elems_dump(nl, nftnl_set_get_str(k->sets[i].set, NFTNL_SET_NAME), &k->sets[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int zt_kset_dump(struct zt_nl *nl, const char *name, struct zt_kset *ks)
{
	*ks = (struct zt_kset){};
	return kset_elems_dump(nl, name, ks);
}

void zt_kset_clear(struct zt_kset *ks)
{
	if (ks->set)
		nftnl_set_free(ks->set);
	for (size_t j = 0; j < ks->n_holders; j++)
		nftnl_set_free(ks->holders[j]);
	free(ks->holders);
	free(ks->el);
	*ks = (struct zt_kset){};
}

int zt_kstate_dump(struct zt_nl *nl, struct zt_kstate *k)
{
	const struct sink chains = { KOBJ_CHAIN, (void ***)&k->chains, &k->n_chains, &k->cap_chains };
	const struct sink objs = { KOBJ_OBJ, (void ***)&k->objs, &k->n_objs, &k->cap_objs };
	const struct sink rules = { KOBJ_RULE, (void ***)&k->rules, &k->n_rules, &k->cap_rules };
	int r;

	r = kobj_dump(nl, NFT_MSG_GETCHAIN, NFTA_CHAIN_TABLE, &chains);
	if (r >= 0)
		r = kobj_dump(nl, NFT_MSG_GETOBJ, NFTA_OBJ_TABLE, &objs);
	if (r >= 0)
		r = sets_dump(nl, k);
	if (r >= 0)
		r = kobj_dump(nl, NFT_MSG_GETRULE, NFTA_RULE_TABLE, &rules);
	return r;
}
