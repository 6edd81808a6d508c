/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Docker-style bridges (issue 15, doc/RULESET.md "Docker-style bridges"):
 * the elements of table bridge ztseg that name the ports of the bridges
 * `bridge:` segments declare (dport, dportd, dpb_<brk>: written by apply
 * from its link dump and by ztsegd per link event), and the pins those
 * ports claimed (pin4/pin6, claimed4/6, has4/6: written by the packet
 * path's first claim; read back here so a table written anew keeps them,
 * and destroyed by ztsegd when the port goes).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "bridge.h"
#include "net.h"
#include "nl.h"
#include "util.h"

#define FAM NFPROTO_BRIDGE
#define RECV_BUF (256 * 1024)
#define PINS_MAX 65536u		/* each set's size (pin4, pin6) */
#define PINS_TRIES 5		/* dumps interrupted by another commit (NLM_F_DUMP_INTR) */

const struct zt_plan_bridge_seg *zt_bridge_dport_of(const struct zt_plan_bridge *br, const char *port,
						    const char *bridge)
{
	const struct zt_plan_bridge_seg *found = NULL;

	if (!port[0] || !bridge || !bridge[0])
		return NULL;
	for (size_t j = 0; j < br->n_bnd_ifs; j++)
		if (zt_ifpat_match(&br->bnd_ifs[j], port))
			return NULL;
	for (size_t i = 0; i < br->n_segs; i++) {
		/* a port a pattern names is that segment's, on any bridge (issue 14) */
		for (size_t j = 0; j < br->segs[i].n_ifs; j++)
			if (zt_ifpat_match(&br->segs[i].ifs[j], port))
				return NULL;
		if (!found && streq(br->segs[i].bridge, bridge))
			found = &br->segs[i];
	}
	return found;
}

static struct nftnl_set *set_of(const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, FAM);
	return s;
}

/* One message for set s (taken) if it has elements. */
static int put_elems(struct zt_batch *b, struct nftnl_set *s, const char *name, uint16_t type, size_t k)
{
	struct nlmsghdr *nlh = NULL;

	if (k && (nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, name, type, FAM,
				     type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0))) {
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		zt_batch_msg_done(b, nlh);
	}
	nftnl_set_free(s);
	return k && !nlh ? -ENOMEM : 0;
}

static int add_key(struct nftnl_set *s, const void *key, uint32_t len)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	nftnl_set_elem_add(s, e);
	return 0;
}

static void name_key(char key[IFNAMSIZ], const char *name)
{
	memset(key, 0, IFNAMSIZ);
	memcpy(key, name, strnlen(name, IFNAMSIZ - 1));
}

int zt_bridge_emit_dports(struct zt_batch *b, const struct zt_plan_bridge *br, const struct zt_bridge_dport *v,
			  size_t n, uint16_t type)
{
	bool add = type == NFT_MSG_NEWSETELEM;
	int r;

	/* dport and dportd (prerouting's goto member, forward's goto dd): the same for every bridge */
	for (int dst = 0; dst < 2; dst++) {
		const char *name = dst ? "dportd" : "dport";
		struct nftnl_set *s = set_of(name);
		size_t k = 0;

		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			char key[IFNAMSIZ];

			if (add && !zt_bridge_dport_of(br, v[i].port, v[i].bridge))
				continue;
			name_key(key, v[i].port);
			if ((r = add_key(s, key, IFNAMSIZ)) < 0) {
				nftnl_set_free(s);
				return r;
			}
			k++;
		}
		if ((r = put_elems(b, s, name, type, k)) < 0)
			return r;
	}
	/* dpb_<brk>: the ports of that bridge (a destroy names the bridge the port was on) */
	for (size_t g = 0; g < br->n_segs; g++) {
		const struct zt_plan_bridge_seg *sg = &br->segs[g];
		char name[ZT_OBJ_NAME_MAX];
		struct nftnl_set *s;
		size_t k = 0;

		if (!sg->bridge[0] || sg->brk != sg->rest)
			continue;
		zt_bridge_dpb_name(name, sg->brk);
		if (!(s = set_of(name)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct zt_plan_bridge_seg *of = zt_bridge_dport_of(br, v[i].port, v[i].bridge);
			char key[IFNAMSIZ];

			if (!of || of->brk != sg->brk) {
				/* gone, or no longer a port: destroy it wherever it may be */
				if (add || !streq(v[i].bridge, sg->bridge))
					continue;
			}
			name_key(key, v[i].port);
			if ((r = add_key(s, key, IFNAMSIZ)) < 0) {
				nftnl_set_free(s);
				return r;
			}
			k++;
		}
		if ((r = put_elems(b, s, name, type, k)) < 0)
			return r;
	}
	/* ps_<rest>: a port that left is tied to no segment (wherever it was) */
	for (size_t g = 0; !add && g < br->n_segs; g++) {
		char name[ZT_OBJ_NAME_MAX];
		struct nftnl_set *s;
		size_t k = 0;

		if (!br->segs[g].bridge[0])
			continue;
		snprintf(name, sizeof(name), "ps_%04x", br->segs[g].rest);
		if (!(s = set_of(name)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			char key[IFNAMSIZ];

			name_key(key, v[i].port);
			if ((r = add_key(s, key, IFNAMSIZ)) < 0) {
				nftnl_set_free(s);
				return r;
			}
			k++;
		}
		if ((r = put_elems(b, s, name, type, k)) < 0)
			return r;
	}
	return 0;
}

/*
 * ps_<rest>: a table written anew ties each port that kept a pin to the
 * segment that holds the pinned address (the packet path adds a port on
 * its first claim; a port that left is destroyed from every ps_ by
 * zt_bridge_emit_dports).
 */
int zt_bridge_emit_ps(struct zt_batch *b, const struct zt_plan_bridge *br, const struct zt_bridge_pin *v, size_t n)
{
	int r;

	for (size_t g = 0; g < br->n_segs; g++) {
		const struct zt_plan_bridge_seg *sg = &br->segs[g];
		char name[ZT_OBJ_NAME_MAX];
		struct nftnl_set *s;
		size_t k = 0;

		if (!sg->bridge[0])
			continue;
		snprintf(name, sizeof(name), "ps_%04x", sg->rest);
		if (!(s = set_of(name)))
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			char key[IFNAMSIZ];
			bool in = false;

			for (size_t j = 0; j < sg->n_addrs && !in; j++)
				in = zt_cidr_contains_addr(&sg->addrs[j], v[i].family, v[i].addr);
			if (!in)
				continue;
			name_key(key, v[i].port);
			if ((r = add_key(s, key, IFNAMSIZ)) < 0) {
				nftnl_set_free(s);
				return r;
			}
			k++;
		}
		if ((r = put_elems(b, s, name, NFT_MSG_NEWSETELEM, k)) < 0)
			return r;
	}
	return 0;
}

int zt_bridge_emit_pins(struct zt_batch *b, const struct zt_bridge_pin *v, size_t n, uint16_t type)
{
	static const char *const names[] = { "pin4", "claimed4", "has4", "pin6", "claimed6", "has6" };
	int r;

	for (size_t w = 0; w < ELEMENTSOF(names); w++) {
		bool v6 = w >= 3;
		struct nftnl_set *s = set_of(names[w]);
		size_t k = 0;

		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			uint8_t key[16 + IFNAMSIZ] = {};
			size_t alen = v6 ? 16 : 4;
			uint32_t len;

			if (v[i].family != (v6 ? AF_INET6 : AF_INET) || (w % 3 == 2 && v[i].no_has))
				continue;
			switch (w % 3) {
			case 0:		/* addr . ifname */
				memcpy(key, v[i].addr, alen);
				name_key((char *)key + alen, v[i].port);
				len = (uint32_t)(alen + IFNAMSIZ);
				break;
			case 1:		/* addr */
				memcpy(key, v[i].addr, alen);
				len = (uint32_t)alen;
				break;
			default:	/* ifname */
				name_key((char *)key, v[i].port);
				len = IFNAMSIZ;
				break;
			}
			if ((r = add_key(s, key, len)) < 0) {
				nftnl_set_free(s);
				return r;
			}
			k++;
		}
		if ((r = put_elems(b, s, names[w], type, k)) < 0)
			return r;
	}
	return 0;
}

/* ---- reading pin4 / pin6 back ---- */

struct pins_ctx {
	struct zt_bridge_pin *v;
	size_t n, cap, n_family;
	uint8_t family;
	int err;
};

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct pins_ctx *c = data;
	size_t alen = c->family == AF_INET6 ? 16 : 4;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0 || !(it = nftnl_set_elems_iter_create(s))) {
		/* a message we cannot read may hold pins: not "none" (review h15 #5) */
		nftnl_set_free(s);
		c->err = -EIO;
		return MNL_CB_ERROR;
	}
	while ((e = nftnl_set_elems_iter_next(it))) {
		uint32_t len = 0;
		const uint8_t *k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
		struct zt_bridge_pin *p;

		/* the kernel's key: the address, then the name padded to 16 bytes */
		if (!k || len != alen + IFNAMSIZ) {
			c->err = -EIO;
			break;
		}
		if (c->n_family >= PINS_MAX || ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
			c->err = c->n_family >= PINS_MAX ? -E2BIG : -ENOMEM;
			break;
		}
		c->n_family++;
		p = &c->v[c->n++];
		memset(p, 0, sizeof(*p));
		p->family = c->family;
		memcpy(p->addr, k, alen);
		/* hostile bytes stay out of names: printable only */
		for (size_t i = 0; i < IFNAMSIZ - 1 && k[alen + i]; i++)
			p->port[i] = k[alen + i] >= 0x20 && k[alen + i] < 0x7f ? (char)k[alen + i] : '?';
	}
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

int zt_bridge_pins_read(struct zt_nl *on, struct zt_bridge_pin **ret, size_t *n)
{
	struct pins_ctx c = {};
	struct zt_nl own, *nl = on ? on : &own;
	int r = on ? 0 : zt_nl_open(&own, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	for (int v6 = 0; r >= 0 && v6 < 2; v6++) {
		size_t n0 = c.n;

		/* another commit during the dump (Docker's iptables-nft): read the set again */
		for (int tries = 0; tries < PINS_TRIES; tries++) {
			char buf[8192] = {};
			struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, FAM, NLM_F_DUMP, ++nl->seq);

			mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, ZT_TABLE_NAME);
			mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, v6 ? "pin6" : "pin4");
			c.family = v6 ? AF_INET6 : AF_INET;
			c.n = n0;
			c.n_family = 0;
			c.err = 0;
			r = zt_nl_talk(nl, nlh, elem_cb, &c, 0);
			if (r != -EINTR)
				break;
		}
		if (r >= 0 && c.err < 0)
			r = c.err;
	}
	if (!on)
		zt_nl_close(&own);
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*n = c.n;
	return 0;
}
