/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/bridge-learn.c: neighbour messages crafted with
 * libmnl — FDB entries (static, local, dynamic, a device's own, a
 * bridge's own, extern_learn, multicast) and neighbour entries (usable,
 * incomplete, failed) — parsed, judged and kept; malformed messages
 * (truncated header, attribute past the end, MAC and address of the wrong
 * length, a zero or negative ifindex, a duplicate attribute, trailing
 * bytes, a VLAN out of range) refused; the pin messages' keys; a
 * datagram walked (a forged 2^31 length, a short tail).
 */
#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include "bridge-learn.h"
#include "emit.h"
#include "util.h"

#ifndef AF_BRIDGE
#define AF_BRIDGE 7
#endif

static char buf[1024] __attribute__((aligned(8)));
static const uint8_t MAC[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x07 };

static struct nlmsghdr *neigh(uint16_t type, uint8_t family, int ifindex, uint16_t state, uint8_t flags)
{
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = state;
	ndm->ndm_flags = flags;
	return nlh;
}

/* An FDB entry of port 5 on bridge 3 with MAC. */
static struct nlmsghdr *fdb(uint16_t type, uint16_t state, uint8_t flags, const uint8_t *mac)
{
	struct nlmsghdr *nlh = neigh(type, AF_BRIDGE, 5, state, flags);

	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	mnl_attr_put_u32(nlh, NDA_MASTER, 3);
	return nlh;
}

static struct nlmsghdr *nb4(uint16_t type, uint16_t state, const char *addr, const uint8_t *mac)
{
	struct nlmsghdr *nlh = neigh(type, AF_INET, 3, state, 0);
	struct in_addr a;

	ck_assert_int_eq(inet_pton(AF_INET, addr, &a), 1);
	mnl_attr_put(nlh, NDA_DST, 4, &a);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nlh;
}

static int parse(const struct nlmsghdr *nlh, struct zt_bl_msg *m)
{
	return zt_bl_parse(nlh, nlh->nlmsg_len, m);
}

START_TEST(test_fdb_static)
{
	struct zt_bl_msg m;

	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC), &m), 0);
	ck_assert_int_eq(m.family, AF_BRIDGE);
	ck_assert_int_eq(m.ifindex, 5);
	ck_assert_int_eq(m.master, 3);
	ck_assert(m.has_mac && memcmp(m.mac, MAC, 6) == 0);
	ck_assert(!m.del);
	ck_assert(zt_bl_fdb_pins(&m));
	/* extern_learn: a manager's entry too */
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_REACHABLE, NTF_EXT_LEARNED, MAC), &m), 0);
	ck_assert(zt_bl_fdb_pins(&m));
}
END_TEST

/* What pins nothing: local, dynamic, a device's own table, the bridge's own entry, multicast, zero, no master. */
START_TEST(test_fdb_not_trusted)
{
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 }, zero[6] = {};
	struct zt_bl_msg m;
	struct nlmsghdr *nlh;

	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_PERMANENT, 0, MAC), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_PERMANENT | NUD_NOARP, 0, MAC), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_REACHABLE, 0, MAC), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_STALE, 0, MAC), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, NTF_SELF, MAC), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, mcast), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, zero), &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 5, NUD_NOARP, 0);
	mnl_attr_put(nlh, NDA_LLADDR, 6, MAC);
	ck_assert_int_eq(parse(nlh, &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));	/* no NDA_MASTER */
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 3, NUD_NOARP, 0);
	mnl_attr_put(nlh, NDA_LLADDR, 6, MAC);
	mnl_attr_put_u32(nlh, NDA_MASTER, 3);
	ck_assert_int_eq(parse(nlh, &m), 0);
	ck_assert(!zt_bl_fdb_pins(&m));	/* the bridge's own device */
}
END_TEST

START_TEST(test_neigh)
{
	struct zt_bl_msg m;
	struct nlmsghdr *nlh;
	struct in6_addr a6;

	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_REACHABLE, "198.51.100.10", MAC), &m), 0);
	ck_assert(m.has_addr && m.addr[0] == 198 && m.addr[3] == 10);
	ck_assert(zt_bl_neigh_usable(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_STALE, "198.51.100.10", MAC), &m), 0);
	ck_assert(zt_bl_neigh_usable(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_INCOMPLETE, "198.51.100.10", NULL), &m), 0);
	ck_assert(!zt_bl_neigh_usable(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_FAILED, "198.51.100.10", MAC), &m), 0);
	ck_assert(!zt_bl_neigh_usable(&m));
	nlh = neigh(RTM_NEWNEIGH, AF_INET6, 3, NUD_REACHABLE, 0);
	inet_pton(AF_INET6, "2001:db8:1::a", &a6);
	mnl_attr_put(nlh, NDA_DST, 16, &a6);
	mnl_attr_put(nlh, NDA_LLADDR, 6, MAC);
	ck_assert_int_eq(parse(nlh, &m), 0);
	ck_assert(zt_bl_neigh_usable(&m) && memcmp(m.addr, &a6, 16) == 0);
	/* not ours to learn from: another family, another message */
	nlh = neigh(RTM_NEWNEIGH, AF_PACKET, 3, NUD_REACHABLE, 0);
	ck_assert_int_eq(parse(nlh, &m), -ENOENT);
	nlh = neigh(RTM_NEWLINK, AF_INET, 3, NUD_REACHABLE, 0);
	ck_assert_int_eq(parse(nlh, &m), -ENOENT);
}
END_TEST

START_TEST(test_malformed)
{
	struct zt_bl_msg m;
	struct nlmsghdr *nlh;
	uint8_t five[5] = { 2, 0, 0, 0, 1 }, addr16[16] = {};
	uint32_t big = 0x80000000u;
	struct nlattr *a;

	/* a header that does not fit its buffer, or no ndmsg */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	ck_assert_int_eq(zt_bl_parse(nlh, nlh->nlmsg_len - 1, &m), -EBADMSG);
	ck_assert_int_eq(zt_bl_parse(nlh, 8, &m), -EBADMSG);
	nlh->nlmsg_len = NLMSG_LENGTH(4);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* an attribute whose length runs past the message */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	a = (struct nlattr *)((char *)nlh + NLMSG_LENGTH(sizeof(struct ndmsg)));
	a->nla_len = 200;
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* an attribute length below its header */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	a = (struct nlattr *)((char *)nlh + NLMSG_LENGTH(sizeof(struct ndmsg)));
	a->nla_len = 2;
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* a MAC of five bytes */
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 5, NUD_NOARP, 0);
	mnl_attr_put(nlh, NDA_LLADDR, sizeof(five), five);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* an IPv4 neighbour with a 16-byte address, an IPv6 one with 4 */
	nlh = neigh(RTM_NEWNEIGH, AF_INET, 3, NUD_REACHABLE, 0);
	mnl_attr_put(nlh, NDA_DST, 16, addr16);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = neigh(RTM_NEWNEIGH, AF_INET6, 3, NUD_REACHABLE, 0);
	mnl_attr_put(nlh, NDA_DST, 4, addr16);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* ifindex 0 and negative; a master that is no ifindex; NDA_MASTER of two bytes */
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 0, NUD_NOARP, 0);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, -4, NUD_NOARP, 0);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 5, NUD_NOARP, 0);
	mnl_attr_put_u32(nlh, NDA_MASTER, big);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 5, NUD_NOARP, 0);
	mnl_attr_put_u32(nlh, NDA_MASTER, 0);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = neigh(RTM_NEWNEIGH, AF_BRIDGE, 5, NUD_NOARP, 0);
	mnl_attr_put_u16(nlh, NDA_MASTER, 3);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* the MAC twice */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	mnl_attr_put(nlh, NDA_LLADDR, 6, MAC);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* a VLAN id out of range */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	mnl_attr_put_u16(nlh, NDA_VLAN, 4095);
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	mnl_attr_put_u16(nlh, NDA_VLAN, 10);
	ck_assert_int_eq(parse(nlh, &m), 0);
	ck_assert(m.has_vlan && m.vlan == 10);
	/* trailing bytes that are no attribute */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	nlh->nlmsg_len += 4;
	ck_assert_int_eq(parse(nlh, &m), -EBADMSG);
	/* an unknown attribute is skipped */
	nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	mnl_attr_put_u32(nlh, 200, 1);
	ck_assert_int_eq(parse(nlh, &m), 0);
	ck_assert(zt_bl_fdb_pins(&m));
}
END_TEST

/*
 * Issue 15's pre-pins trust a neighbour entry set by hand only: PERMANENT
 * or NOARP. A squatter's ARP reply or NA makes dynamic ones; the store
 * counts each change that involves a fixed entry (the daemon syncs then).
 */
START_TEST(test_neigh_fixed)
{
	struct zt_bl_store s = {};
	struct zt_bl_msg m;
	static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 0, 8 };

	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_PERMANENT, "198.51.100.10", MAC), &m), 0);
	ck_assert(zt_bl_neigh_fixed(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_NOARP, "198.51.100.10", MAC), &m), 0);
	ck_assert(zt_bl_neigh_fixed(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_REACHABLE, "198.51.100.10", MAC), &m), 0);
	ck_assert(!zt_bl_neigh_fixed(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_STALE, "198.51.100.10", MAC), &m), 0);
	ck_assert(!zt_bl_neigh_fixed(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_DELAY | NUD_PROBE, "198.51.100.10", MAC), &m), 0);
	ck_assert(!zt_bl_neigh_fixed(&m));
	/* permanent, but a multicast or zero MAC: not one host's */
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_NOARP, "198.51.100.10", (const uint8_t[6]){ 1, 0, 0x5e, 0, 0, 1 }), &m), 0);
	ck_assert(!zt_bl_neigh_fixed(&m));
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_PERMANENT, "198.51.100.10", (const uint8_t[6]){}), &m), 0);
	ck_assert(!zt_bl_neigh_fixed(&m));
	/* the store: a dynamic entry is no fixed change; turned permanent, back, another MAC, deleted */
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_REACHABLE, "198.51.100.10", MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.fixed_changes, 0);
	ck_assert(!s.neigh[0].fixed);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_PERMANENT, "198.51.100.10", MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.fixed_changes, 1);
	ck_assert(s.neigh[0].fixed);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_PERMANENT, "198.51.100.10", mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.fixed_changes, 2);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_STALE, "198.51.100.10", mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.fixed_changes, 3);
	ck_assert(!s.neigh[0].fixed);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_NOARP, "198.51.100.10", mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(parse(nb4(RTM_DELNEIGH, NUD_NOARP, "198.51.100.10", mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.fixed_changes, 5);
	ck_assert_uint_eq(s.n_neigh, 0);
	zt_bl_store_clear(&s);
}
END_TEST

START_TEST(test_store)
{
	static const uint8_t mac2[6] = { 0x02, 0, 0, 0, 0, 8 };
	struct zt_bl_store s = {};
	struct zt_bl_msg m;

	/* a pin in, twice (no change), a dynamic entry of the same MAC takes it out */
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_uint_eq(s.n_pins, 1);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_REACHABLE, 0, MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_pins, 0);
	/* a local entry never goes in; a deletion of what is not there changes nothing */
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_PERMANENT, 0, mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_int_eq(parse(fdb(RTM_DELNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_uint_eq(s.n_pins, 0);
	/* two pins, one deleted */
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(parse(fdb(RTM_DELNEIGH, NUD_NOARP, 0, MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_pins, 1);
	ck_assert(memcmp(s.pins[0].mac, mac2, 6) == 0);
	/*
	 * The entry's key is (bridge, MAC, VLAN), its port a value: a dynamic entry
	 * of the MAC on another VLAN, or a `self` entry (no master), leaves the pin;
	 * the entry roaming to another port unpins (neither port is pinned); a
	 * deletion that names the port the entry is on now finds it.
	 */
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_REACHABLE, 0, mac2), &m), 0);
	m.has_vlan = true, m.vlan = 7;
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, NTF_SELF, mac2), &m), 0);
	m.master = 0;
	ck_assert_int_eq(zt_bl_apply(&s, &m), 0);
	ck_assert_uint_eq(s.n_pins, 1);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	m.ifindex = 6;
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_pins, 0);
	ck_assert_uint_eq(s.roamed, 1);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(parse(fdb(RTM_DELNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	m.ifindex = 6;
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_pins, 0);
	ck_assert_int_eq(parse(fdb(RTM_NEWNEIGH, NUD_NOARP, 0, mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	/* neighbours: added, its MAC changed, failed (out), again, the device gone */
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_REACHABLE, "198.51.100.10", MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_STALE, "198.51.100.10", mac2), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_neigh, 1);
	ck_assert(memcmp(s.neigh[0].mac, mac2, 6) == 0);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_FAILED, "198.51.100.10", NULL), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert_uint_eq(s.n_neigh, 0);
	ck_assert_int_eq(parse(nb4(RTM_NEWNEIGH, NUD_REACHABLE, "198.51.100.11", MAC), &m), 0);
	ck_assert_int_eq(zt_bl_apply(&s, &m), 1);
	ck_assert(zt_bl_forget_ifindex(&s, 3));	/* the bridge: its neighbours and its pins */
	ck_assert_uint_eq(s.n_neigh, 0);
	ck_assert_uint_eq(s.n_pins, 0);
	ck_assert(!zt_bl_forget_ifindex(&s, 3));
	zt_bl_store_clear(&s);
}
END_TEST

/* The pin's messages: pmac's key is the name padded to 16 bytes, then the MAC padded to 8. */
START_TEST(test_emit)
{
	struct zt_batch *b = NULL;
	char mac[18];

	ck_assert_int_eq(zt_batch_new(1, &b), 0);
	ck_assert_int_eq(zt_batch_begin(b, 0), 0);
	ck_assert_int_eq(zt_bl_emit_pin(b, "vnet7", MAC), 0);
	ck_assert_int_eq(zt_bl_emit_unpin(b, "vnet7", MAC), 0);
	ck_assert_int_eq(zt_bl_emit_forget(b, "vnet7"), 0);
	ck_assert_int_eq(zt_batch_end(b), 0);
	/* begin, destroy + add in pmac and phas, destroy, destroy, end */
	ck_assert_uint_eq(b->n_src, 8);
	ck_assert_int_eq(b->src[1].msg_type, 30 /* NFT_MSG_DESTROYSETELEM */);
	ck_assert_int_eq(b->src[2].msg_type, NFT_MSG_NEWSETELEM);
	ck_assert_str_eq(b->src[2].name, "pmac");
	ck_assert_str_eq(b->src[4].name, "phas");
	ck_assert(memmem(b->buf, b->len, "vnet7\0\0\0\0\0\0\0\0\0\0\0\x02\0\0\0\0\x07\0\0", 24) != NULL);
	zt_batch_free(b);
	ck_assert_str_eq(zt_bl_mac_fmt(MAC, mac), "02:00:00:00:00:07");
}
END_TEST

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	++*(int *)data;
	return 0;
}

/* A datagram walked: two messages; a forged length of 2^31 (mnl_nlmsg_ok() takes it), a short tail. */
START_TEST(test_walk)
{
	static char dg[2048] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = fdb(RTM_NEWNEIGH, NUD_NOARP, 0, MAC);
	size_t l1 = NLMSG_ALIGN(nlh->nlmsg_len);
	int n = 0;

	memcpy(dg, nlh, l1);
	memcpy(dg + l1, nlh, l1);
	ck_assert_int_eq(zt_bl_walk(dg, 2 * l1, count_cb, &n), 2);
	ck_assert_int_eq(n, 2);
	n = 0;
	ck_assert_int_eq(zt_bl_walk(dg, 2 * l1 + 3, count_cb, &n), -EBADMSG);
	ck_assert_int_eq(n, 2);
	((struct nlmsghdr *)(dg + l1))->nlmsg_len = 0x80000000u;
	n = 0;
	ck_assert_int_eq(zt_bl_walk(dg, 2 * l1, count_cb, &n), -EBADMSG);
	ck_assert_int_eq(n, 1);
	((struct nlmsghdr *)dg)->nlmsg_len = 8;
	ck_assert_int_eq(zt_bl_walk(dg, 2 * l1, count_cb, &n), -EBADMSG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bridge-learn");
	TCase *tc = tcase_create("parser");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_fdb_static);
	tcase_add_test(tc, test_fdb_not_trusted);
	tcase_add_test(tc, test_neigh);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_neigh_fixed);
	tcase_add_test(tc, test_store);
	tcase_add_test(tc, test_emit);
	tcase_add_test(tc, test_walk);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
