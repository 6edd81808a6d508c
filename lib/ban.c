/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flood bans read back from the kernel's ban maps (hostile: every length
 * checked) and the elements that lift one.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "ban.h"
#include "nft-dump.h"

const char *zt_ban_reason_name(uint32_t reason)
{
	return reason == ZT_BAN_REASON_RATE ? "per-source" : reason == ZT_BAN_REASON_CONNS ? "connections" : "?";
}

const char *zt_ban_source_fmt(const struct zt_ban *b, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	zt_addr_fmt(b->family, b->addr, a, sizeof(a));
	if (b->plen == (b->family == AF_INET ? 32 : 128))
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, b->plen);
	return buf;
}

static int counter_cb(struct nftnl_expr *e, void *data)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && streq(name, "counter") && nftnl_expr_is_set(e, NFTNL_EXPR_CTR_PACKETS))
		*(uint64_t *)data = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
	return 0;
}

/* One element of a ban map; false when it is not one we understand. */
static bool ban_parse(struct nftnl_set_elem *el, uint8_t family, uint8_t plen, struct zt_ban *b)
{
	uint32_t len = 0, dlen = 0;
	const void *key = nftnl_set_elem_get(el, NFTNL_SET_ELEM_KEY, &len);
	const void *data = nftnl_set_elem_get(el, NFTNL_SET_ELEM_DATA, &dlen);

	if (!key || len != (family == AF_INET ? 4u : 16u))
		return false;
	b->family = family;
	b->plen = plen;
	memset(b->addr, 0, sizeof(b->addr));
	memcpy(b->addr, key, len);
	if (data && dlen == 4)
		memcpy(&b->reason, data, 4);
	if (nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_TIMEOUT))
		b->timeout_ms = nftnl_set_elem_get_u64(el, NFTNL_SET_ELEM_TIMEOUT);
	if (nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_EXPIRATION))
		b->expires_ms = nftnl_set_elem_get_u64(el, NFTNL_SET_ELEM_EXPIRATION);
	nftnl_set_elem_expr_foreach(el, counter_cb, &b->packets);
	return true;
}

int zt_bans_dump_set(struct zt_nl *nl, const char *set, uint8_t family, struct zt_ban **v, size_t *n, size_t *cap)
{
	struct zt_kset ks;
	int r = zt_kset_dump(nl, set, &ks);

	for (size_t e = 0; r >= 0 && e < ks.n; e++) {
		struct zt_ban b = { .flood = SIZE_MAX };

		if (!ban_parse(ks.el[e], family, family == AF_INET6 ? 128 : 32, &b))
			continue;
		if (ZT_GROW(*v, *cap, *n) < 0)
			r = -ENOMEM;
		else
			(*v)[(*n)++] = b;
	}
	zt_kset_clear(&ks);
	return r;
}

int zt_bans_dump(struct zt_nl *nl, const struct zt_plan *plan, struct zt_ban **ret, size_t *n_ret)
{
	_cleanup_free_ struct zt_ban *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < plan->n_flood; i++) {
		const struct zt_plan_flood *f = &plan->flood[i];

		for (int v6 = 0; r >= 0 && v6 < 2 && f->ban_sec; v6++) {
			struct zt_kset ks;

			r = zt_kset_dump(nl, v6 ? f->ban6 : f->ban4, &ks);
			/* A table written before this limit existed: no bans yet. */
			if (r == -ENOENT) {
				zt_kset_clear(&ks);
				r = 0;
				continue;
			}
			for (size_t e = 0; r >= 0 && e < ks.n; e++) {
				struct zt_ban b = { .flood = i, .id = f->id };

				if (!ban_parse(ks.el[e], v6 ? AF_INET6 : AF_INET, v6 ? f->plen6 : f->plen4, &b))
					continue;
				if (ZT_GROW(v, cap, n) < 0)
					r = -ENOMEM;
				else
					v[n++] = b;
			}
			zt_kset_clear(&ks);
		}
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	*n_ret = n;
	return 0;
}

static int made_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 || !nftnl_obj_is_set(o, NFTNL_OBJ_CTR_PKTS))
		r = -EBADMSG;
	else
		*(uint64_t *)data = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
	nftnl_obj_free(o);
	return r;
}

int zt_bans_made(struct zt_nl *nl, uint64_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET, 0, ++nl->seq);
	mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, ZT_TABLE_NAME);
	mnl_attr_put_strz(nlh, NFTA_OBJ_NAME, "flood_bans");
	mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	return zt_nl_talk(nl, nlh, made_cb, ret, 0);
}

int zt_bans_emit_unban(struct zt_batch *b, const struct zt_plan *plan, uint8_t family, const uint8_t addr[16])
{
	int r = 0;

	for (size_t i = 0; r >= 0 && i < plan->n_flood; i++) {
		const struct zt_plan_flood *f = &plan->flood[i];
		const struct zt_set *def = zt_plan_find_set(plan, family == AF_INET ? f->ban4 : f->ban6);
		struct zt_elem el = {};
		struct zt_set s;
		struct zt_set_enc enc = {};
		unsigned plen = family == AF_INET ? f->plen4 : f->plen6;

		if (!f->ban_sec || !def)
			continue;
		el.key[0] = (struct zt_value){ .type = family == AF_INET ? ZT_TYPE_IPV4 : ZT_TYPE_IPV6 };
		el.key[0].cidr.family = family;
		el.key[0].cidr.plen = (uint8_t)(family == AF_INET ? 32 : 128);
		for (unsigned k = 0; k < 16; k++) {
			unsigned bits = plen > k * 8 ? plen - k * 8 : 0;

			el.key[0].cidr.addr[k] = addr[k] & (uint8_t)(bits >= 8 ? 0xff : 0xff << (8 - bits));
		}
		el.data = (struct zt_value){ .type = ZT_TYPE_MARK };
		s = zt_set_with(def, &el, 1);
		r = zt_set_encode(&s, &enc);
		if (r >= 0)
			r = zt_emit_elems(b, &s, &enc, NULL, 0, ZT_NFT_MSG_DESTROYSETELEM);
		zt_set_enc_clear(&enc);
	}
	return r;
}
