/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Table bridge ztseg read back for status: the MAC each member port bound
 * with its first frame (dynamic set pmac: ifname . ether_addr, with the
 * kernel's timeout and time left).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "nl.h"

#define RECV_BUF (256 * 1024)
/* ifname (16 bytes) . ether_addr (6, padded to 8): the kernel's concatenated key. */
#define PMAC_KEY_LEN (IFNAMSIZ + 8)
/* One per port: status never holds more than this. */
#define PMAC_MAX 65536

struct macs_ctx {
	struct zt_bridge_mac *v;
	size_t n, cap;
	int err;
};

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct macs_ctx *c = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return -ENOMEM;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0)
		goto out;
	it = nftnl_set_elems_iter_create(s);
	if (!it)
		goto out;
	while ((e = nftnl_set_elems_iter_next(it))) {
		uint32_t len = 0;
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		struct zt_bridge_mac *m;

		if (!k || len != PMAC_KEY_LEN)
			continue;
		if (c->n >= PMAC_MAX || ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
			c->err = c->n >= PMAC_MAX ? -E2BIG : -ENOMEM;
			break;
		}
		m = &c->v[c->n++];
		memset(m, 0, sizeof(*m));
		/* The name as the kernel padded it: printable bytes only, NUL-terminated. */
		for (size_t i = 0; i < IFNAMSIZ - 1 && k[i]; i++)
			m->port[i] = k[i] >= 0x20 && k[i] < 0x7f ? (char)k[i] : '?';
		memcpy(m->mac, k + IFNAMSIZ, 6);
		/* The kernel says an element's timeout only when it is not the set's. */
		m->timeout_ms = ZT_BRIDGE_MAC_TIMEOUT_MS;
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT))
			m->timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
			m->expires_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
		if (m->expires_ms > m->timeout_ms)
			m->expires_ms = m->timeout_ms;
	}
	nftnl_set_elems_iter_destroy(it);
out:
	nftnl_set_free(s);
	return 0;
}

int zt_bridge_macs_read(struct zt_nl *on, struct zt_bridge_mac **ret, size_t *ret_n)
{
	char buf[8192] = {};
	struct macs_ctx c = {};
	struct zt_nl own, *nl = on ? on : &own;
	int r = on ? 0 : zt_nl_open(&own, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r >= 0) {
		struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_BRIDGE, NLM_F_DUMP,
							     ++nl->seq);

		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "pmac");
		r = zt_nl_talk(nl, nlh, elem_cb, &c, 0);
	}
	if (!on)
		zt_nl_close(&own);
	if (r >= 0 && c.err < 0)
		r = c.err;
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

const struct zt_bridge_mac *zt_bridge_mac_find(const struct zt_bridge_mac *v, size_t n, const char *port)
{
	for (size_t i = 0; v && i < n; i++)
		if (streq(v[i].port, port))
			return &v[i];
	return NULL;
}
