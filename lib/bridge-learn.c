/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bindings learned from the kernel for bridge ports: the neighbour
 * messages of the bridges' FDBs and of their neighbour tables parsed
 * (hostile input: every length checked), the rule of what is trusted,
 * the store, and the pmac/phas elements that pin a port's MAC. See
 * bridge-learn.h and doc/RULESET.md "Bindings learned from the kernel".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/neighbour.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include "bridge-learn.h"
#include "bridge.h"
#include "emit.h"
#include "nl.h"
#include "util.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif
/* kernel 6.3+; older uapi headers lack it */
#define ZT_NFT_MSG_DESTROYSETELEM 30
/* ifname (16 bytes) . ether_addr (6, padded to 8): pmac's concatenated key */
#define PMAC_KEY_LEN (IFNAMSIZ + 8)

/* ---- parsing ------------------------------------------------------------ */

static int attr_fixed(const struct nlattr *a, size_t len)
{
	return mnl_attr_get_payload_len(a) == len ? 0 : -EBADMSG;
}

int zt_bl_parse(const struct nlmsghdr *nlh, size_t len, struct zt_bl_msg *m)
{
	const struct ndmsg *ndm;
	const struct nlattr *a;
	const char *end, *p;
	bool seen[NDA_MAX + 1] = {};

	*m = (struct zt_bl_msg){};
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return -EBADMSG;
	if (nlh->nlmsg_type != RTM_NEWNEIGH && nlh->nlmsg_type != RTM_DELNEIGH)
		return -ENOENT;
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ndm)))
		return -EBADMSG;
	ndm = mnl_nlmsg_get_payload(nlh);
	if (ndm->ndm_family != AF_BRIDGE && ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6)
		return -ENOENT;
	if (ndm->ndm_ifindex <= 0)
		return -EBADMSG;
	m->del = nlh->nlmsg_type == RTM_DELNEIGH;
	m->family = ndm->ndm_family;
	m->ifindex = ndm->ndm_ifindex;
	m->state = ndm->ndm_state;
	m->flags = ndm->ndm_flags;
	p = (const char *)ndm + NLMSG_ALIGN(sizeof(*ndm));
	end = (const char *)nlh + nlh->nlmsg_len;
	if (p > end)
		return -EBADMSG;
	a = (const struct nlattr *)p;
	while (mnl_attr_ok(a, (int)(end - (const char *)a))) {
		uint16_t type = mnl_attr_get_type(a);

		if (type <= NDA_MAX) {
			/* the same attribute twice: which one would the kernel mean? */
			if (seen[type] && (type == NDA_LLADDR || type == NDA_DST || type == NDA_MASTER ||
					   type == NDA_VLAN))
				return -EBADMSG;
			seen[type] = true;
		}
		switch (type) {
		case NDA_LLADDR:
			/* an Ethernet bridge's addresses: six bytes, nothing else is a MAC here */
			if (attr_fixed(a, 6) < 0)
				return -EBADMSG;
			memcpy(m->mac, mnl_attr_get_payload(a), 6);
			m->has_mac = true;
			break;
		case NDA_DST:
			/* FDB entries carry one only for tunnels (vxlan): its family is not ours to know */
			if (m->family == AF_BRIDGE)
				break;
			if (attr_fixed(a, m->family == AF_INET ? 4 : 16) < 0)
				return -EBADMSG;
			memcpy(m->addr, mnl_attr_get_payload(a), m->family == AF_INET ? 4 : 16);
			m->has_addr = true;
			break;
		case NDA_MASTER: {
			uint32_t v;

			if (attr_fixed(a, 4) < 0)
				return -EBADMSG;
			v = mnl_attr_get_u32(a);
			if (v == 0 || v > INT32_MAX)
				return -EBADMSG;
			m->master = (int)v;
			break;
		}
		case NDA_VLAN:
			if (attr_fixed(a, 2) < 0 || mnl_attr_get_u16(a) >= 4095)
				return -EBADMSG;
			m->vlan = mnl_attr_get_u16(a);
			m->has_vlan = true;
			break;
		default:
			break;	/* cacheinfo, probes, flags, ...: not used */
		}
		a = mnl_attr_next(a);
	}
	/* trailing bytes that are no whole attribute (a length past the end included) */
	if ((const char *)a < end)
		return -EBADMSG;
	return 0;
}

int zt_bl_walk(const void *buf, size_t len, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	const struct nlmsghdr *nlh = buf;
	size_t left = len;
	int n = 0, r;

	for (; zt_nlmsg_ok(nlh, left); nlh = zt_nlmsg_next(nlh, &left)) {
		if ((r = cb(nlh, data)) < 0)
			return r;
		n++;
	}
	return left ? -EBADMSG : n;
}

static bool mac_unicast(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0;
}

bool zt_bl_fdb_pins(const struct zt_bl_msg *m)
{
	if (m->family != AF_BRIDGE || !m->has_mac || !m->master || m->master == m->ifindex)
		return false;
	if (m->flags & NTF_SELF)
		return false;
	if (m->state & NUD_PERMANENT)
		return false;	/* local: the port's (or bridge's) own address */
	if (!(m->state & NUD_NOARP) && !(m->flags & NTF_EXT_LEARNED))
		return false;	/* dynamic */
	return mac_unicast(m->mac);
}

bool zt_bl_neigh_usable(const struct zt_bl_msg *m)
{
	if ((m->family != AF_INET && m->family != AF_INET6) || !m->has_addr || !m->has_mac)
		return false;
	if (m->state & (NUD_INCOMPLETE | NUD_FAILED) || m->state == NUD_NONE)
		return false;
	return mac_unicast(m->mac);
}

bool zt_bl_neigh_fixed(const struct zt_bl_msg *m)
{
	return zt_bl_neigh_usable(m) && (m->state & (NUD_PERMANENT | NUD_NOARP));
}

/* ---- the store ---------------------------------------------------------- */

/* The kernel's key of an FDB entry: (bridge, MAC, VLAN); the port is its value. */
static ssize_t pin_find(const struct zt_bl_store *s, int master, const uint8_t mac[6], uint16_t vlan)
{
	for (size_t i = 0; i < s->n_pins; i++)
		if (s->pins[i].master == master && s->pins[i].vlan == vlan && memcmp(s->pins[i].mac, mac, 6) == 0)
			return (ssize_t)i;
	return -1;
}

static ssize_t neigh_find(const struct zt_bl_store *s, int ifindex, uint8_t family, const uint8_t *addr)
{
	size_t n = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < s->n_neigh; i++)
		if (s->neigh[i].ifindex == ifindex && s->neigh[i].family == family &&
		    memcmp(s->neigh[i].addr, addr, n) == 0)
			return (ssize_t)i;
	return -1;
}

int zt_bl_apply(struct zt_bl_store *s, const struct zt_bl_msg *m)
{
	if (m->family == AF_BRIDGE) {
		uint16_t vlan = m->has_vlan ? m->vlan : ZT_BL_NO_VLAN;
		ssize_t i = m->has_mac ? pin_find(s, m->master, m->mac, vlan) : -1;

		/* a pin that stops being one (deleted, turned dynamic) goes */
		if (m->del || !zt_bl_fdb_pins(m)) {
			if (i < 0) {
				s->ignored++;
				return 0;
			}
			s->pins[i] = s->pins[--s->n_pins];
			return 1;
		}
		if (i >= 0) {
			if (s->pins[i].ifindex == m->ifindex)
				return 0;
			/*
			 * The entry moved to another port (a static entry that is not
			 * sticky roams when that MAC's frames arrive elsewhere): it
			 * says nothing an administrator meant about either port, so
			 * neither is pinned; each binds by its first frame again.
			 */
			s->pins[i] = s->pins[--s->n_pins];
			s->roamed++;
			return 1;
		}
		if (s->n_pins >= ZT_BL_MAX) {
			s->full++;
			return 0;
		}
		if (ZT_GROW(s->pins, s->cap_pins, s->n_pins + 1) < 0)
			return -ENOMEM;
		s->pins[s->n_pins] = (struct zt_bl_pin){ .ifindex = m->ifindex, .master = m->master, .vlan = vlan };
		memcpy(s->pins[s->n_pins++].mac, m->mac, 6);
		return 1;
	}
	if (!m->has_addr) {
		s->ignored++;
		return 0;
	}
	ssize_t i = neigh_find(s, m->ifindex, m->family, m->addr);

	bool fixed = zt_bl_neigh_fixed(m);

	if (m->del || !zt_bl_neigh_usable(m)) {
		if (i < 0) {
			s->ignored++;
			return 0;
		}
		s->fixed_changes += s->neigh[i].fixed;
		s->neigh[i] = s->neigh[--s->n_neigh];
		return 1;
	}
	if (i >= 0) {
		if (memcmp(s->neigh[i].mac, m->mac, 6) == 0 && s->neigh[i].fixed == fixed)
			return 0;
		s->fixed_changes += s->neigh[i].fixed || fixed;
		memcpy(s->neigh[i].mac, m->mac, 6);
		s->neigh[i].fixed = fixed;
		return 1;
	}
	if (s->n_neigh >= ZT_BL_MAX) {
		s->full++;
		return 0;
	}
	if (ZT_GROW(s->neigh, s->cap_neigh, s->n_neigh + 1) < 0)
		return -ENOMEM;
	s->fixed_changes += fixed;
	s->neigh[s->n_neigh] = (struct zt_bl_neigh){ .ifindex = m->ifindex, .family = m->family, .fixed = fixed };
	memcpy(s->neigh[s->n_neigh].addr, m->addr, m->family == AF_INET ? 4 : 16);
	memcpy(s->neigh[s->n_neigh++].mac, m->mac, 6);
	return 1;
}

bool zt_bl_forget_ifindex(struct zt_bl_store *s, int ifindex)
{
	bool changed = false;

	for (size_t i = 0; i < s->n_pins;)
		if (s->pins[i].ifindex == ifindex || s->pins[i].master == ifindex) {
			s->pins[i] = s->pins[--s->n_pins];
			changed = true;
		} else
			i++;
	for (size_t i = 0; i < s->n_neigh;)
		if (s->neigh[i].ifindex == ifindex) {
			s->neigh[i] = s->neigh[--s->n_neigh];
			changed = true;
		} else
			i++;
	return changed;
}

void zt_bl_store_clear(struct zt_bl_store *s)
{
	free(s->pins);
	free(s->neigh);
	*s = (struct zt_bl_store){};
}

/* ---- pins in table bridge ztseg ------------------------------------------- */

static int elem_msg(struct zt_batch *b, const char *set, uint16_t type, const void *key, uint32_t klen,
		    uint64_t timeout_ms)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh = NULL;

	if (s && e) {
		nftnl_set_set_str(s, NFTNL_SET_TABLE, ZT_TABLE_NAME);
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_BRIDGE);
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen);
		if (timeout_ms)
			nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
		nftnl_set_elem_add(s, e);
		e = NULL;
		nlh = zt_batch_msg(b, ZT_BOBJ_ELEMS, set, type, NFPROTO_BRIDGE,
				   type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
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

static void keys(const char *port, const uint8_t *mac, uint8_t name[IFNAMSIZ], uint8_t pm[PMAC_KEY_LEN])
{
	memset(name, 0, IFNAMSIZ);
	memcpy(name, port, strnlen(port, IFNAMSIZ - 1));
	memset(pm, 0, PMAC_KEY_LEN);
	memcpy(pm, name, IFNAMSIZ);
	if (mac)
		memcpy(pm + IFNAMSIZ, mac, 6);
}

int zt_bl_emit_pin(struct zt_batch *b, const char *port, const uint8_t mac[6])
{
	uint8_t name[IFNAMSIZ], pm[PMAC_KEY_LEN];
	int r;

	keys(port, mac, name, pm);
	if ((r = elem_msg(b, "pmac", ZT_NFT_MSG_DESTROYSETELEM, pm, sizeof(pm), 0)) < 0 ||
	    (r = elem_msg(b, "pmac", NFT_MSG_NEWSETELEM, pm, sizeof(pm), ZT_BRIDGE_PIN_TIMEOUT_MS)) < 0 ||
	    (r = elem_msg(b, "phas", ZT_NFT_MSG_DESTROYSETELEM, name, sizeof(name), 0)) < 0 ||
	    (r = elem_msg(b, "phas", NFT_MSG_NEWSETELEM, name, sizeof(name), ZT_BRIDGE_PIN_TIMEOUT_MS)) < 0)
		return r;
	return 0;
}

int zt_bl_emit_unpin(struct zt_batch *b, const char *port, const uint8_t mac[6])
{
	uint8_t name[IFNAMSIZ], pm[PMAC_KEY_LEN];

	keys(port, mac, name, pm);
	return elem_msg(b, "pmac", ZT_NFT_MSG_DESTROYSETELEM, pm, sizeof(pm), 0);
}

int zt_bl_emit_forget(struct zt_batch *b, const char *port)
{
	uint8_t name[IFNAMSIZ], pm[PMAC_KEY_LEN];

	keys(port, NULL, name, pm);
	return elem_msg(b, "phas", ZT_NFT_MSG_DESTROYSETELEM, name, sizeof(name), 0);
}

const char *zt_bl_mac_fmt(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
