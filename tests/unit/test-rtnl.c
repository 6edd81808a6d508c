/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the rtnetlink tracker (lib/rtnl.c): crafted messages, membership, diff. */
#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <time.h>
#include "rtnl.h"

#define BUFSZ 8192

static struct zt_rtnl_state *st;
static char buf[BUFSZ] __attribute__((aligned(8)));

static void setup(void)
{
	ck_assert_int_eq(zt_rtnl_state_new(&st), 0);
}

static void teardown(void)
{
	st = zt_rtnl_state_free(st);
}

static int apply(const struct nlmsghdr *nlh)
{
	return zt_rtnl_state_apply(st, nlh, nlh->nlmsg_len);
}

/* ---- message builders ---- */

static struct nlmsghdr *hdr(uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static struct nlmsghdr *link_msg(uint16_t type, uint8_t family, int ifindex, const char *name,
				 const char *kind, int master, unsigned flags)
{
	struct nlmsghdr *nlh = hdr(type, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = family;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = flags;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	if (kind) {
		struct nlattr *nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);

		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
		mnl_attr_nest_end(nlh, nest);
	}
	return nlh;
}

static struct nlmsghdr *newlink(int ifindex, const char *name, const char *kind, unsigned flags)
{
	return link_msg(RTM_NEWLINK, AF_UNSPEC, ifindex, name, kind, 0, flags);
}

static void parse_cidr(const char *s, struct zt_cidr *c)
{
	const char *err;

	ck_assert_msg(zt_cidr_parse(s, c, &err) == 0, "%s: %s", s, err);
}

/* s: "a/len", host bits allowed (an interface address). */
static struct nlmsghdr *addr_msg(uint16_t type, int ifindex, const char *s, bool local)
{
	struct nlmsghdr *nlh = hdr(type, 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	char a[64];
	uint8_t bytes[16];
	const char *slash = strchr(s, '/');

	snprintf(a, sizeof(a), "%.*s", (int)(slash - s), s);
	ifa->ifa_family = strchr(a, ':') ? AF_INET6 : AF_INET;
	ifa->ifa_prefixlen = (uint8_t)atoi(slash + 1);
	ifa->ifa_index = (uint32_t)ifindex;
	ck_assert_int_eq(inet_pton(ifa->ifa_family, a, bytes), 1);
	mnl_attr_put(nlh, local ? IFA_LOCAL : IFA_ADDRESS, ZT_ADDR_LEN(ifa->ifa_family), bytes);
	return nlh;
}

static struct nlmsghdr *route_hdr(uint16_t type, uint16_t flags, const char *dst, uint8_t rtype,
				  uint32_t table)
{
	struct nlmsghdr *nlh = hdr(type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct zt_cidr c;

	parse_cidr(dst, &c);
	rtm->rtm_family = c.family;
	rtm->rtm_dst_len = c.plen;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_COMPAT;
	rtm->rtm_type = rtype;
	if (table >= 256)
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (c.plen)
		mnl_attr_put(nlh, RTA_DST, ZT_ADDR_LEN(c.family), c.addr);
	return nlh;
}

static struct nlmsghdr *route_msg(uint16_t type, uint16_t flags, const char *dst, int oif)
{
	struct nlmsghdr *nlh = route_hdr(type, flags, dst, RTN_UNICAST, RT_TABLE_MAIN);

	if (oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	return nlh;
}

/* Next hops: oifs[i] with gateway gws[i] (NULL: none). */
static void put_multipath(struct nlmsghdr *nlh, const int *oifs, const char *const *gws, size_t n)
{
	struct nlattr *mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);

	for (size_t i = 0; i < n; i++) {
		struct rtnexthop *rtnh = mnl_nlmsg_get_payload_tail(nlh);

		nlh->nlmsg_len += RTNH_ALIGN(sizeof(*rtnh));
		memset(rtnh, 0, sizeof(*rtnh));
		rtnh->rtnh_ifindex = oifs[i];
		if (gws && gws[i]) {
			uint8_t g[16];
			int fam = strchr(gws[i], ':') ? AF_INET6 : AF_INET;

			ck_assert_int_eq(inet_pton(fam, gws[i], g), 1);
			mnl_attr_put(nlh, RTA_GATEWAY, ZT_ADDR_LEN(fam), g);
		}
		rtnh->rtnh_len = (unsigned short)((char *)mnl_nlmsg_get_payload_tail(nlh) - (char *)rtnh);
	}
	mnl_attr_nest_end(nlh, mp);
}

/* ---- checks ---- */

struct count {
	size_t n;
};

static int count_link(const struct zt_rtnl_link *l, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

static int count_addr(const struct zt_rtnl_addr *a, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

static int count_route(const struct zt_rtnl_route *r, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

/* The counters agree with what the walks see. */
static void check_consistent(const struct zt_rtnl_state *s)
{
	struct count l = {}, a = {}, r = {};

	zt_rtnl_state_foreach_link(s, count_link, &l);
	zt_rtnl_state_foreach_addr(s, count_addr, &a);
	zt_rtnl_state_foreach_route(s, count_route, &r);
	ck_assert_uint_eq(l.n, zt_rtnl_state_n_links(s));
	ck_assert_uint_eq(a.n, zt_rtnl_state_n_addrs(s));
	ck_assert_uint_eq(r.n, zt_rtnl_state_n_routes(s));
}

struct find_route {
	const char *dst;
	int oif;
	bool found;
	size_t n;
};

static int find_route_fn(const struct zt_rtnl_route *rt, void *u)
{
	struct find_route *f = u;
	char b[ZT_CIDR_STRLEN];

	if (streq(zt_cidr_fmt(&rt->dst, b, sizeof(b)), f->dst) && (!f->oif || rt->oif == f->oif)) {
		f->found = true;
		f->n++;
	}
	return 0;
}

/* How many next hops to dst (through oif, when not 0). */
static size_t routes_to(const char *dst, int oif)
{
	struct find_route f = { .dst = dst, .oif = oif };

	zt_rtnl_state_foreach_route(st, find_route_fn, &f);
	return f.n;
}

/* ---- links ---- */

START_TEST(test_link_add)
{
	const struct zt_rtnl_link *l;

	ck_assert_int_eq(apply(newlink(5, "vweb1", "veth", IFF_UP)), ZT_RTNL_CHANGED_LINKS);
	ck_assert_uint_eq(zt_rtnl_state_n_links(st), 1);
	l = zt_rtnl_state_link(st, 5);
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l->name, "vweb1");
	ck_assert_str_eq(l->kind, "veth");
	ck_assert_int_eq(l->master, 0);
	ck_assert(l->flags & IFF_UP);
	ck_assert_ptr_eq(zt_rtnl_state_link_by_name(st, "vweb1"), l);
	ck_assert_ptr_null(zt_rtnl_state_link(st, 6));
	/* The same again changes nothing: cheap recomputation. */
	ck_assert_int_eq(apply(newlink(5, "vweb1", "veth", IFF_UP)), 0);
	check_consistent(st);
}
END_TEST

START_TEST(test_link_rename)
{
	apply(newlink(5, "vweb1", "veth", 0));
	ck_assert_int_eq(apply(newlink(5, "vapp1", "veth", 0)), ZT_RTNL_CHANGED_LINKS);
	ck_assert_uint_eq(zt_rtnl_state_n_links(st), 1);
	ck_assert_str_eq(zt_rtnl_state_link(st, 5)->name, "vapp1");
	ck_assert_ptr_null(zt_rtnl_state_link_by_name(st, "vweb1"));
}
END_TEST

START_TEST(test_link_del_drops_addrs_routes)
{
	int r;

	apply(newlink(5, "vweb1", "veth", IFF_UP));
	apply(newlink(6, "vweb2", "veth", IFF_UP));
	ck_assert_int_eq(apply(addr_msg(RTM_NEWADDR, 5, "192.0.2.254/32", true)), ZT_RTNL_CHANGED_ADDRS);
	apply(addr_msg(RTM_NEWADDR, 6, "192.0.2.253/32", true));
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.5/32", 5)), ZT_RTNL_CHANGED_ROUTES);
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.6/32", 6));
	apply(route_msg(RTM_NEWROUTE, 0, "2001:db8::5/128", 5));
	/* The kernel sends no RTM_DELROUTE for a vanished device's routes. */
	r = apply(link_msg(RTM_DELLINK, AF_UNSPEC, 5, "vweb1", NULL, 0, 0));
	ck_assert_int_eq(r, ZT_RTNL_CHANGED_LINKS | ZT_RTNL_CHANGED_ADDRS | ZT_RTNL_CHANGED_ROUTES);
	ck_assert_ptr_null(zt_rtnl_state_link(st, 5));
	ck_assert_uint_eq(zt_rtnl_state_n_links(st), 1);
	ck_assert_uint_eq(zt_rtnl_state_n_addrs(st), 1);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 1);
	ck_assert_uint_eq(routes_to("198.51.100.6/32", 6), 1);
	check_consistent(st);
	/* Deleting what is not there changes nothing. */
	ck_assert_int_eq(apply(link_msg(RTM_DELLINK, AF_UNSPEC, 5, NULL, NULL, 0, 0)), 0);
}
END_TEST

START_TEST(test_link_bridge_family_ignored)
{
	apply(newlink(5, "vweb1", "veth", IFF_UP));
	/* AF_BRIDGE RTM_DELLINK: the port left a bridge, the link stays. */
	ck_assert_int_eq(apply(link_msg(RTM_DELLINK, AF_BRIDGE, 5, "vweb1", NULL, 9, 0)), 0);
	ck_assert_int_eq(apply(link_msg(RTM_NEWLINK, AF_INET6, 5, "other", NULL, 0, 0)), 0);
	ck_assert_str_eq(zt_rtnl_state_link(st, 5)->name, "vweb1");
	ck_assert_uint_eq(zt_rtnl_state_n_links(st), 1);
}
END_TEST

START_TEST(test_link_down_stale)
{
	apply(newlink(5, "vweb1", "veth", IFF_UP | IFF_RUNNING));
	ck_assert_int_eq(apply(newlink(5, "vweb1", "veth", IFF_UP | IFF_RUNNING | IFF_PROMISC)),
			 ZT_RTNL_CHANGED_LINKS);
	ck_assert_int_eq(apply(newlink(5, "vweb1", "veth", 0)),
			 ZT_RTNL_CHANGED_LINKS | ZT_RTNL_ROUTES_STALE);
	ck_assert_int_eq(apply(newlink(5, "vweb1", "veth", IFF_UP)), ZT_RTNL_CHANGED_LINKS);
}
END_TEST

START_TEST(test_link_master_kinds)
{
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	const struct zt_rtnl_link *l, *master;

	apply(newlink(3, "br0", "bridge", IFF_UP));
	nlh = link_msg(RTM_NEWLINK, AF_UNSPEC, 7, "vweb7", NULL, 3, IFF_UP);
	nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	mnl_attr_put_strz(nlh, IFLA_INFO_SLAVE_KIND, "bridge");
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_put_u8(nlh, IFLA_OPERSTATE, IF_OPER_UP);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_LINKS);
	l = zt_rtnl_state_link(st, 7);
	ck_assert_int_eq(l->master, 3);
	ck_assert_str_eq(l->kind, "veth");
	ck_assert_str_eq(l->slave_kind, "bridge");
	ck_assert_int_eq(l->operstate, IF_OPER_UP);
	ck_assert_str_eq(zt_rtnl_state_link(st, 3)->kind, "bridge");
	ck_assert(zt_rtnl_link_bridge_port(st, l, &master));
	ck_assert_ptr_eq(master, zt_rtnl_state_link(st, 3));
	/* Known by the master's kind alone (no slave kind given). */
	apply(link_msg(RTM_NEWLINK, AF_UNSPEC, 8, "vweb8", "veth", 3, 0));
	ck_assert(zt_rtnl_link_bridge_port(st, zt_rtnl_state_link(st, 8), NULL));
	/* A bond's port is no bridge port. */
	apply(newlink(4, "bond0", "bond", 0));
	apply(link_msg(RTM_NEWLINK, AF_UNSPEC, 9, "vweb9", "veth", 4, 0));
	ck_assert(!zt_rtnl_link_bridge_port(st, zt_rtnl_state_link(st, 9), &master));
	ck_assert(!zt_rtnl_link_bridge_port(st, zt_rtnl_state_link(st, 3), &master));
	ck_assert_ptr_null(master);
}
END_TEST

/* A name of exactly IFNAMSIZ-1 bytes with no NUL at all is still a name. */
START_TEST(test_link_name_unterminated)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, AF_UNSPEC, 4, NULL, NULL, 0, 0);

	mnl_attr_put(nlh, IFLA_IFNAME, 15, "abcdefghijklmnoXYZ");
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_LINKS);
	ck_assert_str_eq(zt_rtnl_state_link(st, 4)->name, "abcdefghijklmno");
}
END_TEST

START_TEST(test_link_unknown_attrs)
{
	struct nlmsghdr *nlh = newlink(4, "eth0", NULL, 0);
	struct nlattr *nest;

	mnl_attr_put_u32(nlh, IFLA_MAX + 40, 7);		/* from a newer kernel */
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, 1000);		/* known, not used */
	nest = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	mnl_attr_put_u32(nlh, IFLA_INFO_MAX + 9, 1);
	mnl_attr_nest_end(nlh, nest);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_LINKS);
	ck_assert_str_eq(zt_rtnl_state_link(st, 4)->kind, "vxlan");
}
END_TEST

enum link_bad {
	LB_LONG_NAME,		/* 16 bytes without NUL */
	LB_LONG_NAME_NUL,	/* 16 bytes and a NUL */
	LB_EMPTY_NAME,
	LB_SLASH_NAME,
	LB_SPACE_NAME,
	LB_DOTDOT_NAME,
	LB_NO_NAME,
	LB_MASTER_SHORT,
	LB_MASTER_NEGATIVE,
	LB_ATTR_PAST_END,	/* nla_len beyond the message */
	LB_ATTR_TINY,		/* nla_len < 4 */
	LB_TRAILING,		/* 4 bytes no attribute can be */
	LB_SHORT_HEADER,	/* no room for ifinfomsg */
	LB_NLMSG_PAST_BUF,	/* nlmsg_len larger than the buffer given */
	LB_NLMSG_HUGE,		/* nlmsg_len >= 2^31: negative to an int */
	LB_KIND_LONG,
	LB_LINKINFO_TRUNC,
	LB_OPERSTATE_WIDE,
	LB_IFINDEX_ZERO,
	LB_IFINDEX_NEG,
	LB_N,
};

START_TEST(test_link_malformed)
{
	struct nlmsghdr *nlh = NULL;
	struct nlattr *a;
	size_t len;

	apply(newlink(1, "lo", NULL, IFF_UP));
	switch (_i) {
	case LB_LONG_NAME:
		nlh = link_msg(RTM_NEWLINK, AF_UNSPEC, 4, NULL, NULL, 0, 0);
		mnl_attr_put(nlh, IFLA_IFNAME, 16, "abcdefghijklmnop");
		break;
	case LB_LONG_NAME_NUL:
		nlh = newlink(4, "abcdefghijklmnop", NULL, 0);
		break;
	case LB_EMPTY_NAME:
		nlh = newlink(4, "", NULL, 0);
		break;
	case LB_SLASH_NAME:
		nlh = newlink(4, "a/b", NULL, 0);
		break;
	case LB_SPACE_NAME:
		nlh = newlink(4, "a b", NULL, 0);
		break;
	case LB_DOTDOT_NAME:
		nlh = newlink(4, "..", NULL, 0);
		break;
	case LB_NO_NAME:
		nlh = newlink(4, NULL, "veth", 0);
		break;
	case LB_MASTER_SHORT:
		nlh = newlink(4, "eth0", NULL, 0);
		mnl_attr_put_u16(nlh, IFLA_MASTER, 3);
		break;
	case LB_MASTER_NEGATIVE:
		nlh = newlink(4, "eth0", NULL, 0);
		mnl_attr_put_u32(nlh, IFLA_MASTER, 0x80000000u);
		break;
	case LB_ATTR_PAST_END:
		nlh = newlink(4, "eth0", NULL, 0);
		a = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct ifinfomsg));
		a->nla_len = 200;
		break;
	case LB_ATTR_TINY:
		nlh = newlink(4, "eth0", NULL, 0);
		a = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct ifinfomsg));
		a->nla_len = 2;
		break;
	case LB_TRAILING:
		nlh = newlink(4, "eth0", NULL, 0);
		a = mnl_nlmsg_get_payload_tail(nlh);
		a->nla_len = 2;
		a->nla_type = IFLA_MTU;
		nlh->nlmsg_len += 4;
		break;
	case LB_SHORT_HEADER:
		nlh = hdr(RTM_NEWLINK, 0);
		mnl_nlmsg_put_extra_header(nlh, 8);
		break;
	case LB_NLMSG_PAST_BUF:
		nlh = newlink(4, "eth0", NULL, 0);
		len = nlh->nlmsg_len;
		ck_assert_int_eq(zt_rtnl_state_apply(st, nlh, len - 4), -EBADMSG);
		ck_assert_int_eq(zt_rtnl_state_apply(st, nlh, 10), -EBADMSG);
		nlh->nlmsg_len = 8;	/* shorter than its own header */
		break;
	case LB_NLMSG_HUGE:
		nlh = newlink(4, "eth0", NULL, 0);
		nlh->nlmsg_len = 0xfffffffeu;
		ck_assert_int_eq(zt_rtnl_state_apply(st, nlh, sizeof(buf)), -EBADMSG);
		break;
	case LB_KIND_LONG:
		nlh = newlink(4, "eth0", "a-kind-name-far-too-long-for-any-driver", 0);
		break;
	case LB_LINKINFO_TRUNC:
		nlh = newlink(4, "eth0", "veth", 0);
		a = mnl_attr_next(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct ifinfomsg)));
		ck_assert_int_eq(mnl_attr_get_type(a), IFLA_LINKINFO);
		((struct nlattr *)mnl_attr_get_payload(a))->nla_len = 60;	/* the inner kind */
		break;
	case LB_OPERSTATE_WIDE:
		nlh = newlink(4, "eth0", NULL, 0);
		mnl_attr_put_u32(nlh, IFLA_OPERSTATE, IF_OPER_UP);
		break;
	case LB_IFINDEX_ZERO:
		nlh = newlink(0, "eth0", NULL, 0);
		break;
	case LB_IFINDEX_NEG:
		nlh = newlink(-3, "eth0", NULL, 0);
		break;
	}
	ck_assert_msg(apply(nlh) == -EBADMSG, "case %d accepted", _i);
	ck_assert_uint_eq(zt_rtnl_state_n_links(st), 1);
	ck_assert_ptr_nonnull(zt_rtnl_state_link(st, 1));
	ck_assert_ptr_null(zt_rtnl_state_link(st, 4));
}
END_TEST

/* ---- addresses ---- */

START_TEST(test_addr_add_del)
{
	struct nlmsghdr *nlh;
	struct count c = {};
	uint8_t peer[4] = { 192, 0, 2, 9 };

	apply(newlink(5, "vweb1", NULL, IFF_UP));
	ck_assert_int_eq(apply(addr_msg(RTM_NEWADDR, 5, "192.0.2.1/24", false)), ZT_RTNL_CHANGED_ADDRS);
	ck_assert_int_eq(apply(addr_msg(RTM_NEWADDR, 5, "192.0.2.1/24", true)), 0);	/* same key */
	ck_assert_int_eq(apply(addr_msg(RTM_NEWADDR, 5, "2001:db8::1/64", false)), ZT_RTNL_CHANGED_ADDRS);
	/* Point-to-point: IFA_LOCAL is ours, IFA_ADDRESS the peer. */
	nlh = addr_msg(RTM_NEWADDR, 5, "192.0.2.7/32", true);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, peer);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ADDRS);
	ck_assert_uint_eq(zt_rtnl_state_n_addrs(st), 3);
	/* Addresses of links not (yet) known are kept all the same. */
	ck_assert_int_eq(apply(addr_msg(RTM_NEWADDR, 77, "192.0.2.77/32", true)), ZT_RTNL_CHANGED_ADDRS);
	zt_rtnl_state_foreach_addr(st, count_addr, &c);
	ck_assert_uint_eq(c.n, 4);
	/* Removing one may have removed routes silently (IPv4). */
	ck_assert_int_eq(apply(addr_msg(RTM_DELADDR, 5, "192.0.2.1/24", true)),
			 ZT_RTNL_CHANGED_ADDRS | ZT_RTNL_ROUTES_STALE);
	ck_assert_int_eq(apply(addr_msg(RTM_DELADDR, 5, "192.0.2.1/24", true)), ZT_RTNL_ROUTES_STALE);
	ck_assert_uint_eq(zt_rtnl_state_n_addrs(st), 3);
	check_consistent(st);
}
END_TEST

START_TEST(test_addr_malformed)
{
	struct nlmsghdr *nlh = NULL;
	struct ifaddrmsg *ifa;
	uint8_t b16[16] = {};

	switch (_i) {
	case 0:		/* an IPv4 address of 16 bytes */
		nlh = hdr(RTM_NEWADDR, 0);
		ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = AF_INET;
		ifa->ifa_index = 5;
		mnl_attr_put(nlh, IFA_LOCAL, 16, b16);
		break;
	case 1:		/* prefix length past the family */
		nlh = addr_msg(RTM_NEWADDR, 5, "192.0.2.1/24", true);
		((struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_prefixlen = 33;
		break;
	case 2:		/* no address at all */
		nlh = hdr(RTM_NEWADDR, 0);
		ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = AF_INET6;
		ifa->ifa_index = 5;
		break;
	case 3:		/* no interface */
		nlh = addr_msg(RTM_NEWADDR, 0, "2001:db8::1/64", false);
		break;
	case 4:		/* a malformed peer beside a good local */
		nlh = addr_msg(RTM_NEWADDR, 5, "192.0.2.1/24", true);
		mnl_attr_put(nlh, IFA_ADDRESS, 3, b16);
		break;
	case 5:		/* header cut short */
		nlh = hdr(RTM_DELADDR, 0);
		mnl_nlmsg_put_extra_header(nlh, 4);
		break;
	}
	ck_assert_int_eq(apply(nlh), -EBADMSG);
	ck_assert_uint_eq(zt_rtnl_state_n_addrs(st), 0);
}
END_TEST

/* ---- routes ---- */

START_TEST(test_route_add_del)
{
	struct nlmsghdr *nlh;

	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, NLM_F_CREATE, "198.51.100.5/32", 5)),
			 ZT_RTNL_CHANGED_ROUTES);
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, NLM_F_CREATE, "198.51.100.5/32", 5)), 0);
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, 0, "2001:db8:1::/64", 5)), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 2)), ZT_RTNL_CHANGED_ROUTES);
	/* Another metric is another route. */
	nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.5/32", 6);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, 100);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 4);
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 0), 2);
	ck_assert_uint_eq(routes_to("0.0.0.0/0", 2), 1);
	ck_assert_int_eq(apply(route_msg(RTM_DELROUTE, 0, "198.51.100.5/32", 5)), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 0), 1);
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 6), 1);
	ck_assert_int_eq(apply(route_msg(RTM_DELROUTE, 0, "198.51.100.5/32", 5)), 0);
	check_consistent(st);
}
END_TEST

START_TEST(test_route_not_kept)
{
	struct nlmsghdr *nlh;

	/* The local table (one route per address) and others: not kept. */
	nlh = route_hdr(RTM_NEWROUTE, 0, "192.0.2.1/32", RTN_LOCAL, RT_TABLE_LOCAL);
	mnl_attr_put_u32(nlh, RTA_OIF, 5);
	ck_assert_int_eq(apply(nlh), 0);
	nlh = route_hdr(RTM_NEWROUTE, 0, "198.51.100.0/24", RTN_UNICAST, 1000);
	mnl_attr_put_u32(nlh, RTA_OIF, 5);
	ck_assert_int_eq(apply(nlh), 0);
	/* RTA_TABLE overrides rtm_table. */
	nlh = route_hdr(RTM_NEWROUTE, 0, "198.51.100.0/24", RTN_UNICAST, RT_TABLE_MAIN);
	mnl_attr_put_u32(nlh, RTA_OIF, 5);
	mnl_attr_put_u32(nlh, RTA_TABLE, 1000);
	ck_assert_int_eq(apply(nlh), 0);
	/* Cached clones, source-specific routes, other families. */
	nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::5/128", 5);
	((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_flags = RTM_F_CLONED;
	ck_assert_int_eq(apply(nlh), 0);
	nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::/64", 5);
	((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_src_len = 64;
	ck_assert_int_eq(apply(nlh), 0);
	nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::/64", 5);
	((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_family = AF_BRIDGE;
	ck_assert_int_eq(apply(nlh), 0);
	/* A blackhole in main is kept, with no interface. */
	nlh = route_hdr(RTM_NEWROUTE, 0, "203.0.113.0/24", RTN_BLACKHOLE, RT_TABLE_MAIN);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 1);
	ck_assert_uint_eq(routes_to("203.0.113.0/24", 0), 1);
}
END_TEST

/* A workload moves: `ip route replace` announces only the new route. */
START_TEST(test_route_replace_moves)
{
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, NLM_F_CREATE, "198.51.100.5/32", 5)),
			 ZT_RTNL_CHANGED_ROUTES);
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, "198.51.100.5/32", 6)),
			 ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 5), 0);
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 6), 1);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 1);
	/* Replaced by itself: nothing changes. */
	ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.5/32", 6)), 0);
	/* Back, IPv6 too. */
	apply(route_msg(RTM_NEWROUTE, 0, "2001:db8::5/128", 6));
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "2001:db8::5/128", 5));
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.5/32", 5));
	ck_assert_uint_eq(routes_to("198.51.100.5/32", 5), 1);
	ck_assert_uint_eq(routes_to("2001:db8::5/128", 5), 1);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 2);
	check_consistent(st);
}
END_TEST

START_TEST(test_route_multipath)
{
	static const int oifs[] = { 5, 6, 7 };
	static const char *const gw6[] = { "2001:db8::a", "2001:db8::b", "2001:db8::c" };
	static const char *const gw4[] = { "192.0.2.10", "192.0.2.11" };
	struct nlmsghdr *nlh;

	nlh = route_msg(RTM_NEWROUTE, NLM_F_CREATE, "2001:db8:5::/64", 0);
	put_multipath(nlh, oifs, gw6, 2);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 0), 2);
	/* IPv6 announces a grown group with every sibling. */
	nlh = route_msg(RTM_NEWROUTE, NLM_F_CREATE, "2001:db8:5::/64", 0);
	put_multipath(nlh, oifs, gw6, 3);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 0), 3);
	/* A sibling goes: its own RTM_DELROUTE. */
	nlh = route_msg(RTM_DELROUTE, 0, "2001:db8:5::/64", 6);
	mnl_attr_put(nlh, RTA_GATEWAY, 16, (uint8_t[16]){ 0x20, 0x01, 0x0d, 0xb8, [15] = 0xb });
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 0), 2);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 6), 0);
	/* IPv4: an appended multipath alias adds to what is there. */
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.64/26", 7));
	nlh = route_msg(RTM_NEWROUTE, NLM_F_APPEND, "198.51.100.64/26", 0);
	put_multipath(nlh, oifs, gw4, 2);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("198.51.100.64/26", 0), 3);
	/* Deleting the multipath alias leaves the plain one. */
	nlh = route_msg(RTM_DELROUTE, 0, "198.51.100.64/26", 0);
	put_multipath(nlh, oifs, gw4, 2);
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("198.51.100.64/26", 7), 1);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 3);
	/* Link 7 goes: its next hops go, the group keeps the others. */
	apply(link_msg(RTM_DELLINK, AF_UNSPEC, 7, NULL, NULL, 0, 0));
	ck_assert_uint_eq(routes_to("198.51.100.64/26", 0), 0);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 0), 1);
	ck_assert_uint_eq(routes_to("2001:db8:5::/64", 5), 1);
	check_consistent(st);
}
END_TEST

START_TEST(test_route_host_bits_masked)
{
	struct nlmsghdr *nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 5);
	struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct nlattr *dst = mnl_nlmsg_get_payload_offset(nlh, sizeof(*rtm));

	ck_assert_int_eq(mnl_attr_get_type(dst), RTA_DST);
	((uint8_t *)mnl_attr_get_payload(dst))[3] = 77;
	rtm->rtm_dst_len = 25;
	ck_assert_int_eq(apply(nlh), ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(routes_to("198.51.100.0/25", 5), 1);
}
END_TEST

START_TEST(test_route_malformed)
{
	struct nlmsghdr *nlh = NULL;
	struct nlattr *mp;
	struct rtnexthop *rtnh;
	static const int oifs[] = { 5, 6 };

	switch (_i) {
	case 0:		/* RTA_DST of the wrong size */
		nlh = route_hdr(RTM_NEWROUTE, 0, "198.51.100.0/24", RTN_UNICAST, RT_TABLE_MAIN);
		mnl_attr_put(nlh, RTA_DST, 16, (uint8_t[16]){});
		break;
	case 1:		/* dst_len past the family */
		nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 5);
		((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_dst_len = 40;
		break;
	case 2:		/* a prefix with no destination */
		nlh = route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 5);
		((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_dst_len = 24;
		break;
	case 3:		/* RTA_OIF of two bytes */
		nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 0);
		mnl_attr_put_u16(nlh, RTA_OIF, 5);
		break;
	case 4:		/* a gateway of the other family's size */
		nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 5);
		mnl_attr_put(nlh, RTA_GATEWAY, 16, (uint8_t[16]){});
		break;
	case 5:		/* a next hop longer than the multipath attribute */
		nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::/64", 0);
		put_multipath(nlh, oifs, NULL, 2);
		mp = mnl_attr_next(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct rtmsg)));
		ck_assert_int_eq(mnl_attr_get_type(mp), RTA_MULTIPATH);
		rtnh = mnl_attr_get_payload(mp);
		rtnh->rtnh_len = 200;
		break;
	case 6:		/* a next hop shorter than its header */
		nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::/64", 0);
		put_multipath(nlh, oifs, NULL, 1);
		mp = mnl_attr_next(mnl_nlmsg_get_payload_offset(nlh, sizeof(struct rtmsg)));
		rtnh = mnl_attr_get_payload(mp);
		rtnh->rtnh_len = 4;
		break;
	case 7:		/* an empty multipath */
		nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8::/64", 0);
		mnl_attr_put(nlh, RTA_MULTIPATH, 0, NULL);
		break;
	case 8:		/* RTA_VIA with a bad family */
		nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 5);
		mnl_attr_put(nlh, RTA_VIA, 6, (uint8_t[6]){ 99, 0, 192, 0, 2, 1 });
		break;
	case 9:		/* RTA_TABLE of one byte */
		nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.0/24", 5);
		mnl_attr_put_u8(nlh, RTA_TABLE, 254);
		break;
	case 10:	/* malformed even when the table is not kept */
		nlh = route_hdr(RTM_NEWROUTE, 0, "198.51.100.0/24", RTN_UNICAST, RT_TABLE_LOCAL);
		mnl_attr_put_u16(nlh, RTA_OIF, 5);
		break;
	}
	ck_assert_msg(apply(nlh) == -EBADMSG, "case %d accepted", _i);
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 0);
}
END_TEST

/* Random damage to good messages: never a crash, a leak or an inconsistent state. */
START_TEST(test_mutations)
{
	static const int oifs[] = { 5, 6 };
	static const char *const gws[] = { "2001:db8::a", NULL };
	char good[6][512];
	size_t lens[6];
	struct nlmsghdr *nlh;
	unsigned seed = 12345;

	nlh = newlink(5, "vweb1", "veth", IFF_UP);
	mnl_attr_put_u32(nlh, IFLA_MASTER, 3);
	memcpy(good[0], buf, lens[0] = nlh->nlmsg_len);
	nlh = addr_msg(RTM_NEWADDR, 5, "192.0.2.1/24", true);
	memcpy(good[1], buf, lens[1] = nlh->nlmsg_len);
	nlh = route_msg(RTM_NEWROUTE, 0, "2001:db8:5::/64", 0);
	put_multipath(nlh, oifs, gws, 2);
	memcpy(good[2], buf, lens[2] = nlh->nlmsg_len);
	nlh = route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.5/32", 6);
	memcpy(good[3], buf, lens[3] = nlh->nlmsg_len);
	nlh = route_msg(RTM_DELROUTE, 0, "198.51.100.5/32", 6);
	memcpy(good[4], buf, lens[4] = nlh->nlmsg_len);
	nlh = link_msg(RTM_DELLINK, AF_UNSPEC, 5, "vweb1", NULL, 0, 0);
	memcpy(good[5], buf, lens[5] = nlh->nlmsg_len);

	for (unsigned round = 0; round < 20000; round++) {
		unsigned which = rand_r(&seed) % 6, flips = 1 + rand_r(&seed) % 4;
		char *m = malloc(lens[which]);
		size_t len = lens[which];
		int r;

		memcpy(m, good[which], len);
		for (unsigned f = 0; f < flips; f++)
			m[rand_r(&seed) % len] ^= (char)(1u << (rand_r(&seed) % 8));
		if (rand_r(&seed) % 4 == 0)
			len = (size_t)(rand_r(&seed) % (int)len);	/* cut short */
		r = zt_rtnl_state_apply(st, (struct nlmsghdr *)m, len);
		ck_assert(r == -EBADMSG || r >= 0);
		free(m);
	}
	check_consistent(st);
}
END_TEST

/* ---- membership ---- */

/* A policy made by hand: segments "name|pat,pat|cidr,cidr". */
struct tpol {
	struct zt_policy p;
	struct zt_segment segs[4];
	struct zt_ifpat ifs[4][4];
	struct zt_cidr addrs[4][4];
	struct zt_ifpat enc[2];
	char names[4][16];
};

static void tpol_init(struct tpol *t, const char *const *segs, size_t n, const char *enc)
{
	const char *err;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		char spec[128], *save = NULL, *name, *pats, *cidrs, *tok, *s2 = NULL;
		struct zt_segment *sg = &t->segs[i];

		snprintf(spec, sizeof(spec), "%s", segs[i]);
		name = strtok_r(spec, "|", &save);
		pats = strtok_r(NULL, "|", &save);
		cidrs = strtok_r(NULL, "|", &save);
		snprintf(t->names[i], sizeof(t->names[i]), "%s", name);
		sg->name = t->names[i];
		sg->ifs = t->ifs[i];
		sg->addrs = t->addrs[i];
		for (tok = pats ? strtok_r(pats, ",", &s2) : NULL; tok; tok = strtok_r(NULL, ",", &s2))
			ck_assert_int_eq(zt_ifpat_parse(tok, &t->ifs[i][sg->n_ifs++], &err), 0);
		for (tok = cidrs ? strtok_r(cidrs, ",", &s2) : NULL; tok; tok = strtok_r(NULL, ",", &s2))
			parse_cidr(tok, &t->addrs[i][sg->n_addrs++]);
	}
	t->p.segs = t->segs;
	t->p.n_segs = n;
	if (enc) {
		ck_assert_int_eq(zt_ifpat_parse(enc, &t->enc[0], &err), 0);
		t->p.hub.enc_ifs = t->enc;
		t->p.hub.n_enc_ifs = 1;
	}
}

static const char *const std_segs[] = {
	"web|vweb*|198.51.100.0/26",
	"app|vapp*,app-x",
	"db|vdb1,vdb2|198.51.100.64/26,2001:db8:3::/48",
};

/* The topology of tests/netns/lib.sh in miniature. */
static void std_state(void)
{
	apply(newlink(1, "lo", NULL, IFF_UP));
	apply(newlink(2, "uplink0", "veth", IFF_UP));
	apply(newlink(5, "vweb1", "veth", IFF_UP));
	apply(newlink(6, "vweb2", "veth", IFF_UP));
	apply(newlink(7, "vapp1", "veth", IFF_UP));
	apply(newlink(8, "vdb1", "veth", IFF_UP));
	apply(newlink(9, "vdb3", "veth", IFF_UP));	/* no pattern */
	apply(addr_msg(RTM_NEWADDR, 2, "192.0.2.1/26", true));
	for (int i = 5; i <= 9; i++) {
		apply(addr_msg(RTM_NEWADDR, i, "192.0.2.254/32", true));
		apply(addr_msg(RTM_NEWADDR, i, "2001:db8:ef::1/128", false));
		/* The kernel's route for an IPv6 /128 address, on every veth. */
		apply(route_msg(RTM_NEWROUTE, 0, "2001:db8:ef::1/128", i));
		apply(route_msg(RTM_NEWROUTE, 0, "fe80::/64", i));
	}
	apply(route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 2));
	apply(route_msg(RTM_NEWROUTE, 0, "192.0.2.0/26", 2));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.2/32", 5));
	apply(route_msg(RTM_NEWROUTE, 0, "2001:db8:0:1::2/128", 5));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.20/32", 6));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.130/32", 7));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.66/32", 8));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.90/32", 9));
}

static void assert_ifs(const struct zt_segment_members *sm, const char *want)
{
	char got[256] = "";

	for (size_t i = 0; i < sm->n_ifs; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "", sm->ifs[i].name);
	ck_assert_str_eq(got, want);
}

static void assert_routed(const struct zt_segment_members *sm, const char *want)
{
	char got[512] = "", b[ZT_CIDR_STRLEN];

	for (size_t i = 0; i < sm->n_routed; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 zt_cidr_fmt(&sm->routed[i], b, sizeof(b)));
	ck_assert_str_eq(got, want);
}

START_TEST(test_membership_basic)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_segs, 3);
	ck_assert_str_eq(m->segs[0].name, "web");
	assert_ifs(&m->segs[0], "vweb1 vweb2");
	assert_routed(&m->segs[0], "198.51.100.2/32 198.51.100.20/32 2001:db8:0:1::2/128");
	ck_assert_uint_eq(m->segs[0].n_statics, 1);
	assert_ifs(&m->segs[1], "vapp1");
	assert_routed(&m->segs[1], "198.51.100.130/32");
	ck_assert_uint_eq(m->segs[1].n_statics, 0);
	assert_ifs(&m->segs[2], "vdb1");
	assert_routed(&m->segs[2], "198.51.100.66/32");
	ck_assert_uint_eq(m->segs[2].n_statics, 2);
	ck_assert_ptr_eq(zt_membership_segment(m, "app"), &m->segs[1]);
	ck_assert_ptr_null(zt_membership_segment(m, "nope"));
	/* The gateway /128 on every veth and fe80::/64 are no conflict. */
	ck_assert_uint_eq(m->n_warnings, 0);
	ck_assert_uint_eq(m->n_enc, 0);
}
END_TEST

START_TEST(test_membership_warnings)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct nlmsghdr *nlh;
	struct tpol t;
	char b[256];

	std_state();
	/* vweb2 joins a bridge; vapp1 carries both default routes; a /32 in two segments. */
	apply(newlink(3, "br0", "bridge", IFF_UP));
	apply(link_msg(RTM_NEWLINK, AF_UNSPEC, 6, "vweb2", "veth", 3, IFF_UP));
	apply(route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 7));	/* metric 0 beside uplink's */
	nlh = route_msg(RTM_NEWROUTE, 0, "0.0.0.0/0", 7);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, 50);
	apply(nlh);
	apply(route_msg(RTM_NEWROUTE, 0, "::/0", 7));
	nlh = route_msg(RTM_NEWROUTE, 0, "198.51.100.2/32", 8);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, 10);
	apply(nlh);
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_warnings, 4);
	ck_assert_int_eq(m->warnings[0].kind, ZT_MEMBER_WARN_DEFAULT_ROUTE);
	ck_assert_str_eq(m->warnings[0].seg, "app");
	ck_assert_str_eq(m->warnings[0].ifname, "vapp1");
	ck_assert_str_eq(zt_cidr_fmt(&m->warnings[0].prefix, b, sizeof(b)), "0.0.0.0/0");
	ck_assert_str_eq(zt_cidr_fmt(&m->warnings[1].prefix, b, sizeof(b)), "::/0");
	ck_assert_int_eq(m->warnings[2].kind, ZT_MEMBER_WARN_BRIDGE_PORT);
	ck_assert_str_eq(m->warnings[2].ifname, "vweb2");
	ck_assert_str_eq(m->warnings[2].other, "br0");
	ck_assert_int_eq(m->warnings[3].kind, ZT_MEMBER_WARN_PREFIX_CONFLICT);
	ck_assert_str_eq(m->warnings[3].seg, "web");
	ck_assert_str_eq(m->warnings[3].other, "db");
	zt_member_warning_fmt(&m->warnings[3], b, sizeof(b));
	ck_assert_str_eq(b, "198.51.100.2/32 is routed into two segments: web and db");
	zt_member_warning_fmt(&m->warnings[2], b, sizeof(b));
	ck_assert_ptr_nonnull(strstr(b, "bridge br0"));
	zt_member_warning_fmt(&m->warnings[0], b, sizeof(b));
	ck_assert_ptr_nonnull(strstr(b, "default route"));
	/* Default routes are not routed addresses; the contested /32 stays in both. */
	assert_routed(&m->segs[1], "198.51.100.130/32");
	assert_routed(&m->segs[2], "198.51.100.2/32 198.51.100.66/32");
}
END_TEST

START_TEST(test_membership_enc)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(10, "wg1", "veth", IFF_UP));
	apply(newlink(11, "wg0", "wireguard", IFF_UP));
	apply(newlink(12, "wgx", NULL, IFF_UP));
	apply(newlink(13, "xwg", "wireguard", IFF_UP));
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), "wg*");
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->n_enc, 3);
	ck_assert_str_eq(m->enc[0].name, "wg0");
	ck_assert_str_eq(m->enc[0].kind, "wireguard");
	ck_assert_int_eq(m->enc[0].ifindex, 11);
	ck_assert_str_eq(m->enc[1].name, "wg1");
	ck_assert_str_eq(m->enc[1].kind, "veth");
	ck_assert_str_eq(m->enc[2].name, "wgx");
	ck_assert_str_eq(m->enc[2].kind, "");
}
END_TEST

/* Should validation ever let patterns overlap: exact, then the longest prefix, then policy order. */
START_TEST(test_membership_pattern_precedence)
{
	static const char *const segs[] = { "a|v*", "b|vw*", "c|vweb1", "d|vw*" };
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(5, "vweb1", NULL, 0));
	apply(newlink(6, "vweb2", NULL, 0));
	apply(newlink(7, "vx", NULL, 0));
	apply(newlink(8, "eth0", NULL, 0));
	tpol_init(&t, segs, ELEMENTSOF(segs), NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	assert_ifs(&m->segs[0], "vx");
	assert_ifs(&m->segs[1], "vweb2");
	assert_ifs(&m->segs[2], "vweb1");
	assert_ifs(&m->segs[3], "");
	m = zt_membership_free(m);
	/* A segment that lost every contest finds its own once its pattern changes. */
	ck_assert_int_eq(zt_ifpat_parse("eth*", &t.ifs[3][0], &(const char *){ NULL }), 0);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	assert_ifs(&m->segs[3], "eth0");
}
END_TEST

/* Two links with one name (a rename seen half-way): one member. */
START_TEST(test_membership_duplicate_names)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	struct tpol t;

	apply(newlink(5, "vweb1", NULL, 0));
	apply(newlink(9, "vweb1", NULL, 0));
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &m), 0);
	ck_assert_uint_eq(m->segs[0].n_ifs, 1);
	ck_assert_int_eq(m->segs[0].ifs[0].ifindex, 5);
}
END_TEST

/* ---- diff ---- */

static void diff_text(const struct zt_membership_diff *d, char *out, size_t len)
{
	char b[ZT_CIDR_STRLEN];

	out[0] = '\0';
#define APPEND(...) snprintf(out + strlen(out), len - strlen(out), __VA_ARGS__)
	for (size_t i = 0; i < d->n_if_del; i++)
		APPEND("-if %s %s;", d->if_del[i].seg, d->if_del[i].ifname);
	for (size_t i = 0; i < d->n_if_add; i++)
		APPEND("+if %s %s;", d->if_add[i].seg, d->if_add[i].ifname);
	for (size_t i = 0; i < d->n_pfx_del; i++)
		APPEND("-pfx %s %s;", d->pfx_del[i].seg, zt_cidr_fmt(&d->pfx_del[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_pfx_add; i++)
		APPEND("+pfx %s %s;", d->pfx_add[i].seg, zt_cidr_fmt(&d->pfx_add[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_enc_del; i++)
		APPEND("-enc %s %s;", d->enc_del[i].name, d->enc_del[i].kind);
	for (size_t i = 0; i < d->n_enc_add; i++)
		APPEND("+enc %s %s;", d->enc_add[i].name, d->enc_add[i].kind);
#undef APPEND
}

START_TEST(test_diff_moves)
{
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct tpol t;
	char txt[1024];

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &a), 0);
	/* Nothing moved: nothing to do. */
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert(zt_membership_diff_empty(d));
	d = zt_membership_diff_free(d);
	b = zt_membership_free(b);

	/* web1 moves to app; vweb2 is renamed into db; a new vapp2 appears. */
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.2/32", 7));
	apply(newlink(6, "vdb2", "veth", IFF_UP));
	apply(newlink(20, "vapp2", "veth", IFF_UP));
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.131/32", 20));
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert(!zt_membership_diff_empty(d));
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-if web vweb2;"
			      "+if app vapp2;+if db vdb2;"
			      "-pfx web 198.51.100.2/32;-pfx web 198.51.100.20/32;"
			      "+pfx app 198.51.100.2/32;+pfx app 198.51.100.131/32;+pfx db 198.51.100.20/32;");
	d = zt_membership_diff_free(d);
	/* And the way back is the mirror image. */
	ck_assert_int_eq(zt_membership_diff(b, a, &d), 0);
	ck_assert_uint_eq(d->n_if_add, 1);
	ck_assert_uint_eq(d->n_if_del, 2);
	ck_assert_uint_eq(d->n_pfx_add, 2);
	ck_assert_uint_eq(d->n_pfx_del, 3);
}
END_TEST

START_TEST(test_diff_null_and_segments)
{
	static const char *const segs2[] = { "app|vapp*", "zed|vweb*" };
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct tpol t, t2;
	char txt[1024];

	std_state();
	apply(newlink(11, "wg0", "wireguard", IFF_UP));
	tpol_init(&t, std_segs, 2, "wg*");
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &a), 0);
	/* From nothing: everything is added (the first apply). */
	ck_assert_int_eq(zt_membership_diff(NULL, a, &d), 0);
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "+if app vapp1;+if web vweb1;+if web vweb2;"
			      "+pfx app 198.51.100.130/32;+pfx web 198.51.100.2/32;+pfx web 198.51.100.20/32;"
			      "+pfx web 2001:db8:0:1::2/128;+enc wg0 wireguard;");
	d = zt_membership_diff_free(d);
	ck_assert_int_eq(zt_membership_diff(NULL, NULL, &d), 0);
	ck_assert(zt_membership_diff_empty(d));
	d = zt_membership_diff_free(d);
	/* A reload renames segment web to zed: matched by name, so all of it moves. */
	tpol_init(&t2, segs2, 2, NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t2.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	diff_text(d, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-if web vweb1;-if web vweb2;+if zed vweb1;+if zed vweb2;"
			      "-pfx web 198.51.100.2/32;-pfx web 198.51.100.20/32;-pfx web 2001:db8:0:1::2/128;"
			      "+pfx zed 198.51.100.2/32;+pfx zed 198.51.100.20/32;+pfx zed 2001:db8:0:1::2/128;"
			      "-enc wg0 wireguard;");
}
END_TEST

/* 2,000 interfaces, 100,000 routes: state, membership and diff stay fast. */
START_TEST(test_scale)
{
	static const char *const segs[] = { "web|vweb*", "app|vapp*" };
	_cleanup_membership_ struct zt_membership *a = NULL, *b = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct timespec t0, t1;
	struct tpol t;
	double ms;
	size_t routed = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	apply(newlink(2, "uplink0", "veth", IFF_UP));
	for (int i = 0; i < 2000; i++) {
		char name[IFNAMSIZ];

		snprintf(name, sizeof(name), "%s%d", i % 2 ? "vapp" : "vweb", i);
		ck_assert_int_eq(apply(newlink(100 + i, name, "veth", IFF_UP)), ZT_RTNL_CHANGED_LINKS);
	}
	for (int i = 0; i < 100000; i++) {
		char dst[64];

		/* Half through the uplink, half spread over the workloads. */
		snprintf(dst, sizeof(dst), "2001:db8:%x:%x::/64", i / 65536, i % 65536);
		ck_assert_int_eq(apply(route_msg(RTM_NEWROUTE, 0, dst, i % 2 ? 2 : 100 + i % 2000)),
				 ZT_RTNL_CHANGED_ROUTES);
	}
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 100000);
	tpol_init(&t, segs, 2, NULL);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &a), 0);
	for (size_t i = 0; i < a->n_segs; i++)
		routed += a->segs[i].n_routed;
	ck_assert_uint_eq(routed, 50000);
	ck_assert_uint_eq(a->segs[0].n_ifs + a->segs[1].n_ifs, 2000);
	/* One workload moves; the diff is that move alone. */
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "2001:db8::/64", 101));
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &b), 0);
	ck_assert_int_eq(zt_membership_diff(a, b, &d), 0);
	ck_assert_uint_eq(d->n_pfx_add, 1);
	ck_assert_uint_eq(d->n_pfx_del, 1);
	ck_assert_uint_eq(d->n_if_add + d->n_if_del, 0);
	/* Dropping a link with many routes costs what it drops. */
	apply(link_msg(RTM_DELLINK, AF_UNSPEC, 2, NULL, NULL, 0, 0));
	ck_assert_uint_eq(zt_rtnl_state_n_routes(st), 50000);
	check_consistent(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* Quadratic work would take minutes; this is generous for sanitizer builds. */
	ck_assert_msg(ms < 20000, "took %.0f ms", ms);
}
END_TEST

/* ---- the tracker on the kernel (read-only: dumps and subscriptions) ---- */

START_TEST(test_tracker_live)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	const struct zt_rtnl_link *lo;
	int k;

	k = zt_rtnl_open(&r, 0);
	if (k == -EAFNOSUPPORT || k == -EPERM || k == -EACCES)
		return;		/* no rtnetlink in this sandbox */
	ck_assert_int_eq(k, 0);
	ck_assert_int_ge(zt_rtnl_fd(r), 0);
	ck_assert(!zt_rtnl_resync_needed(r));
	lo = zt_rtnl_state_link_by_name(zt_rtnl_state(r), "lo");
	ck_assert_ptr_nonnull(lo);
	ck_assert(lo->flags & IFF_LOOPBACK);
	ck_assert_uint_gt(zt_rtnl_stats(r)->rcvbuf, 0);
	ck_assert_uint_eq(zt_rtnl_take_changes(r),
			  ZT_RTNL_CHANGED_LINKS | ZT_RTNL_CHANGED_ADDRS | ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(zt_rtnl_take_changes(r), 0);
	ck_assert_int_ge(zt_rtnl_process(r), 0);
	ck_assert_int_eq(zt_rtnl_resync(r), 0);
	ck_assert_uint_eq(zt_rtnl_stats(r)->resyncs, 1);
	ck_assert_uint_gt(zt_rtnl_generation(r), 1);
	check_consistent(zt_rtnl_state(r));
}
END_TEST

/* A forged unicast from another process is not believed. */
START_TEST(test_tracker_foreign)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	struct mnl_socket *nl;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct sockaddr_nl me;
	socklen_t len = sizeof(me);
	struct nlmsghdr *nlh;
	size_t before;

	if (zt_rtnl_open(&r, 4096) < 0)
		return;
	ck_assert_int_eq(getsockname(zt_rtnl_fd(r), (struct sockaddr *)&me, &len), 0);
	before = zt_rtnl_state_n_links(zt_rtnl_state(r));
	nl = mnl_socket_open(NETLINK_ROUTE);
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nlh = newlink(4242, "forged0", "wireguard", IFF_UP);
	to.nl_pid = me.nl_pid;
	if (sendto(mnl_socket_get_fd(nl), nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		/* Only privileged senders may unicast to another socket. */
		ck_assert_int_eq(errno, EPERM);
		mnl_socket_close(nl);
		return;
	}
	mnl_socket_close(nl);
	ck_assert_int_ge(zt_rtnl_process(r), 0);
	ck_assert_uint_eq(zt_rtnl_stats(r)->foreign, 1);
	ck_assert_ptr_null(zt_rtnl_state_link(zt_rtnl_state(r), 4242));
	ck_assert_uint_eq(zt_rtnl_state_n_links(zt_rtnl_state(r)), before);
	/* The small buffer was asked for; the kernel doubles what it grants. */
	ck_assert_uint_le(zt_rtnl_stats(r)->rcvbuf, 4 * 4096);
}
END_TEST

/* ---- the tracked membership: updates equal the full computation ---- */

static bool cidr_same(const struct zt_cidr *a, const struct zt_cidr *b)
{
	return zt_cidr_cmp(a, b) == 0;
}

static bool warning_same(const struct zt_member_warning *a, const struct zt_member_warning *b)
{
	return a->kind == b->kind && streq(a->seg, b->seg) && streq(a->ifname, b->ifname) &&
	       streq(a->other, b->other) && cidr_same(&a->prefix, &b->prefix);
}

static bool enc_link_same(const struct zt_enc_link *a, const struct zt_enc_link *b)
{
	return streq(a->name, b->name) && streq(a->kind, b->kind) && a->ifindex == b->ifindex;
}

/* Every field of two memberships, with the first difference in why. */
static bool membership_same(const struct zt_membership *a, const struct zt_membership *b, char *why, size_t len)
{
#define DIFFER(...) (snprintf(why, len, __VA_ARGS__), false)
	if (a->n_segs != b->n_segs)
		return DIFFER("%zu segments, %zu", a->n_segs, b->n_segs);
	for (size_t i = 0; i < a->n_segs; i++) {
		const struct zt_segment_members *x = &a->segs[i], *y = &b->segs[i];

		if (!streq(x->name, y->name) || x->n_ifs != y->n_ifs || x->n_routed != y->n_routed ||
		    x->n_statics != y->n_statics)
			return DIFFER("segment %s/%s: %zu/%zu ifs, %zu/%zu routed", x->name, y->name, x->n_ifs,
				      y->n_ifs, x->n_routed, y->n_routed);
		for (size_t k = 0; k < x->n_ifs; k++)
			if (!streq(x->ifs[k].name, y->ifs[k].name) || x->ifs[k].ifindex != y->ifs[k].ifindex)
				return DIFFER("segment %s: if %zu %s#%d, %s#%d", x->name, k, x->ifs[k].name,
					      x->ifs[k].ifindex, y->ifs[k].name, y->ifs[k].ifindex);
		for (size_t k = 0; k < x->n_routed; k++)
			if (!cidr_same(&x->routed[k], &y->routed[k]))
				return DIFFER("segment %s: routed %zu", x->name, k);
		for (size_t k = 0; k < x->n_statics; k++)
			if (!cidr_same(&x->statics[k], &y->statics[k]))
				return DIFFER("segment %s: static %zu", x->name, k);
	}
	if (a->n_warnings != b->n_warnings)
		return DIFFER("%zu warnings, %zu", a->n_warnings, b->n_warnings);
	for (size_t i = 0; i < a->n_warnings; i++)
		if (!warning_same(&a->warnings[i], &b->warnings[i]))
			return DIFFER("warning %zu", i);
	if (a->n_enc != b->n_enc)
		return DIFFER("%zu encrypted, %zu", a->n_enc, b->n_enc);
	for (size_t i = 0; i < a->n_enc; i++)
		if (!enc_link_same(&a->enc[i], &b->enc[i]))
			return DIFFER("encrypted %zu: %s %s", i, a->enc[i].name, b->enc[i].name);
	return true;
}

static bool diff_same(const struct zt_membership_diff *a, const struct zt_membership_diff *b, char *why, size_t len)
{
	if (a->n_if_add != b->n_if_add || a->n_if_del != b->n_if_del || a->n_pfx_add != b->n_pfx_add ||
	    a->n_pfx_del != b->n_pfx_del || a->n_enc_add != b->n_enc_add || a->n_enc_del != b->n_enc_del ||
	    a->n_warn_new != b->n_warn_new)
		return DIFFER("counts %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu %zu/%zu", a->n_if_add,
			      b->n_if_add, a->n_if_del, b->n_if_del, a->n_pfx_add, b->n_pfx_add, a->n_pfx_del,
			      b->n_pfx_del, a->n_enc_add, b->n_enc_add, a->n_enc_del, b->n_enc_del, a->n_warn_new,
			      b->n_warn_new);
	for (size_t i = 0; i < a->n_if_add; i++)
		if (!streq(a->if_add[i].seg, b->if_add[i].seg) || !streq(a->if_add[i].ifname, b->if_add[i].ifname) ||
		    a->if_add[i].ifindex != b->if_add[i].ifindex)
			return DIFFER("if_add %zu", i);
	for (size_t i = 0; i < a->n_if_del; i++)
		if (!streq(a->if_del[i].seg, b->if_del[i].seg) || !streq(a->if_del[i].ifname, b->if_del[i].ifname) ||
		    a->if_del[i].ifindex != b->if_del[i].ifindex)
			return DIFFER("if_del %zu", i);
	for (size_t i = 0; i < a->n_pfx_add; i++)
		if (!streq(a->pfx_add[i].seg, b->pfx_add[i].seg) ||
		    !cidr_same(&a->pfx_add[i].prefix, &b->pfx_add[i].prefix) ||
		    a->pfx_add[i].elsewhere != b->pfx_add[i].elsewhere)
			return DIFFER("pfx_add %zu (elsewhere %d/%d)", i, a->pfx_add[i].elsewhere,
				      b->pfx_add[i].elsewhere);
	for (size_t i = 0; i < a->n_pfx_del; i++)
		if (!streq(a->pfx_del[i].seg, b->pfx_del[i].seg) ||
		    !cidr_same(&a->pfx_del[i].prefix, &b->pfx_del[i].prefix))
			return DIFFER("pfx_del %zu", i);
	for (size_t i = 0; i < a->n_enc_add; i++)
		if (!enc_link_same(&a->enc_add[i], &b->enc_add[i]))
			return DIFFER("enc_add %zu", i);
	for (size_t i = 0; i < a->n_enc_del; i++)
		if (!enc_link_same(&a->enc_del[i], &b->enc_del[i]))
			return DIFFER("enc_del %zu", i);
	for (size_t i = 0; i < a->n_warn_new; i++)
		if (!warning_same(&a->warn_new[i], &b->warn_new[i]))
			return DIFFER("warn_new %zu", i);
	return true;
#undef DIFFER
}

/* One random message of the kinds membership depends on, applied to st. */
static void random_event(unsigned *seed)
{
	static const char *const names[] = {
		"vweb1", "vweb2", "vweb3", "vapp1", "vapp2", "app-x", "vdb1", "vdb2", "vdb3",
		"br0", "wg0", "wg1", "wgx", "eth0", "uplink0",
	};
	static const char *const kinds[] = { "veth", "bridge", "wireguard", NULL };
	static const char *const dsts[] = {
		"198.51.100.2/32", "198.51.100.20/32", "198.51.100.130/32", "198.51.100.0/26",
		"0.0.0.0/0", "::/0", "fe80::/64", "2001:db8:ef::1/128", "2001:db8:0:1::2/128",
		"192.0.2.254/32", "192.0.2.0/24", "2001:db8:3::/48",
	};
	static const char *const addrs[] = {
		"192.0.2.254/32", "2001:db8:ef::1/128", "198.51.100.2/24", "192.0.2.1/24",
	};
	int ifindex = 2 + (int)(rand_r(seed) % 12);
	struct nlmsghdr *nlh;

	switch (rand_r(seed) % 10) {
	case 0:
	case 1: {
		const char *kind = kinds[rand_r(seed) % ELEMENTSOF(kinds)];
		int master = rand_r(seed) % 3 ? 0 : 2 + (int)(rand_r(seed) % 12);

		apply(link_msg(RTM_NEWLINK, AF_UNSPEC, ifindex, names[rand_r(seed) % ELEMENTSOF(names)], kind,
			       master, IFF_UP));
		break;
	}
	case 2:
		apply(link_msg(RTM_DELLINK, AF_UNSPEC, ifindex, NULL, NULL, 0, 0));
		break;
	case 3:
		apply(addr_msg(rand_r(seed) % 2 ? RTM_NEWADDR : RTM_DELADDR, ifindex,
			       addrs[rand_r(seed) % ELEMENTSOF(addrs)], true));
		break;
	case 4:
	case 5:
	case 6:
		nlh = route_msg(RTM_NEWROUTE, rand_r(seed) % 2 ? NLM_F_REPLACE : 0,
				dsts[rand_r(seed) % ELEMENTSOF(dsts)], ifindex);
		if (rand_r(seed) % 3 == 0)
			mnl_attr_put_u32(nlh, RTA_PRIORITY, rand_r(seed) % 3);
		if (rand_r(seed) % 8 == 0)
			((struct rtmsg *)mnl_nlmsg_get_payload(nlh))->rtm_type = RTN_BLACKHOLE;
		apply(nlh);
		break;
	case 7: {
		int oifs[2] = { ifindex, 2 + (int)(rand_r(seed) % 12) };

		nlh = route_msg(RTM_NEWROUTE, NLM_F_REPLACE, dsts[rand_r(seed) % ELEMENTSOF(dsts)], 0);
		put_multipath(nlh, oifs, NULL, 2);
		apply(nlh);
		break;
	}
	default:
		nlh = route_msg(RTM_DELROUTE, 0, dsts[rand_r(seed) % ELEMENTSOF(dsts)], ifindex);
		if (rand_r(seed) % 3 == 0)
			mnl_attr_put_u32(nlh, RTA_PRIORITY, rand_r(seed) % 3);
		apply(nlh);
		break;
	}
}

/*
 * Random link, address and route events, a few at a time: after each
 * batch the tracked membership and its diff equal the full computation
 * and zt_membership_diff() against the full computation before.
 */
START_TEST(test_track_random)
{
	static const char *const segs[] = {
		"web|vweb*|198.51.100.0/26", "app|vapp*,app-x", "db|vdb1,vdb2|2001:db8:3::/48", "wgs|wgx,br*",
	};
	_cleanup_membership_ struct zt_membership *m = NULL, *ref = NULL;
	struct zt_rtnl_dirty d = {};
	unsigned seed = 1000u + (unsigned)_i;
	size_t changed = 0, moved = 0, partial = 0;
	struct tpol t;
	char why[256];

	tpol_init(&t, segs, ELEMENTSOF(segs), "wg*");
	std_state();
	ck_assert_int_eq(zt_membership_track(st, &t.p, &m), 0);
	ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
	ck_assert(d.all);
	zt_rtnl_dirty_clear(&d);
	ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &ref), 0);
	ck_assert_msg(membership_same(m, ref, why, sizeof(why)), "start: %s", why);
	for (unsigned step = 0; step < 600; step++) {
		_cleanup_membership_diff_ struct zt_membership_diff *got = NULL, *want = NULL;
		struct zt_membership *next = NULL;
		unsigned n = 1 + rand_r(&seed) % 4;

		for (unsigned e = 0; e < n; e++)
			random_event(&seed);
		ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
		partial += !d.all && !d.members;
		/* Now and then as after a resync: everything looked at again. */
		if (rand_r(&seed) % 16 == 0)
			d.all = true;
		ck_assert_int_eq(zt_membership_update(m, st, &d, &got), 0);
		zt_rtnl_dirty_clear(&d);
		ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &next), 0);
		ck_assert_int_eq(zt_membership_diff(ref, next, &want), 0);
		zt_membership_free(ref);
		ref = next;
		ck_assert_msg(membership_same(m, ref, why, sizeof(why)), "step %u: %s", step, why);
		ck_assert_msg(diff_same(got, want, why, sizeof(why)), "step %u: %s", step, why);
		changed += !zt_membership_diff_empty(want);
		for (size_t i = 0; i < want->n_pfx_add; i++)
			moved += want->pfx_add[i].elsewhere;
	}
	/* The sequences exercise what they should. */
	ck_assert_uint_gt(changed, 100);
	ck_assert_uint_gt(moved, 5);
	ck_assert_uint_gt(partial, 100);
	/* Nothing changed: nothing dirty, an empty diff. */
	{
		_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;

		ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
		ck_assert(!d.all);
		ck_assert_uint_eq(d.n, 0);
		ck_assert_int_eq(zt_membership_update(m, st, &d, &df), 0);
		ck_assert(zt_membership_diff_empty(df));
		ck_assert_uint_eq(df->n_warn_new, 0);
	}
}
END_TEST

/* A /32 moving between two segments: only its two links are looked at again. */
START_TEST(test_track_move)
{
	_cleanup_membership_ struct zt_membership *m = NULL;
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	struct zt_rtnl_dirty d = {};
	struct tpol t;
	char txt[512];

	std_state();
	tpol_init(&t, std_segs, ELEMENTSOF(std_segs), NULL);
	ck_assert_int_eq(zt_membership_track(st, &t.p, &m), 0);
	zt_rtnl_state_take_dirty(st, &d);
	zt_rtnl_dirty_clear(&d);
	apply(route_msg(RTM_NEWROUTE, NLM_F_REPLACE, "198.51.100.2/32", 7));
	ck_assert_int_eq(zt_rtnl_state_take_dirty(st, &d), 0);
	ck_assert(!d.all);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_int_eq(d.ifindex[0], 5);
	ck_assert_int_eq(d.ifindex[1], 7);
	ck_assert_int_eq(zt_membership_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-pfx web 198.51.100.2/32;+pfx app 198.51.100.2/32;");
	ck_assert(df->pfx_add[0].elsewhere);
	assert_routed(&m->segs[0], "198.51.100.20/32 2001:db8:0:1::2/128");
	assert_routed(&m->segs[1], "198.51.100.2/32 198.51.100.130/32");
	df = zt_membership_diff_free(df);
	/* A second route to it first, then the old one goes: the first is a new one elsewhere. */
	apply(route_msg(RTM_NEWROUTE, 0, "198.51.100.20/32", 8));
	zt_rtnl_state_take_dirty(st, &d);
	ck_assert_int_eq(zt_membership_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "+pfx db 198.51.100.20/32;");
	ck_assert(df->pfx_add[0].elsewhere);
	ck_assert_uint_eq(df->n_warn_new, 1);
	ck_assert_int_eq(df->warn_new[0].kind, ZT_MEMBER_WARN_PREFIX_CONFLICT);
	ck_assert_uint_eq(m->n_warnings, 1);
	df = zt_membership_diff_free(df);
	apply(route_msg(RTM_DELROUTE, 0, "198.51.100.20/32", 6));
	zt_rtnl_state_take_dirty(st, &d);
	ck_assert_int_eq(zt_membership_update(m, st, &d, &df), 0);
	zt_rtnl_dirty_clear(&d);
	diff_text(df, txt, sizeof(txt));
	ck_assert_str_eq(txt, "-pfx web 198.51.100.20/32;");
	ck_assert_uint_eq(m->n_warnings, 0);
	/* A membership that is not tracked cannot be updated. */
	{
		_cleanup_membership_ struct zt_membership *plain = NULL;
		struct zt_membership_diff *x = NULL;

		ck_assert_int_eq(zt_rtnl_membership(st, &t.p, &plain), 0);
		ck_assert_int_eq(zt_membership_update(plain, st, &d, &x), -EINVAL);
	}
}
END_TEST

static Suite *rtnl_suite(void)
{
	Suite *s = suite_create("rtnl");
	TCase *tc;

	tc = tcase_create("links");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_link_add);
	tcase_add_test(tc, test_link_rename);
	tcase_add_test(tc, test_link_del_drops_addrs_routes);
	tcase_add_test(tc, test_link_bridge_family_ignored);
	tcase_add_test(tc, test_link_down_stale);
	tcase_add_test(tc, test_link_master_kinds);
	tcase_add_test(tc, test_link_name_unterminated);
	tcase_add_test(tc, test_link_unknown_attrs);
	tcase_add_loop_test(tc, test_link_malformed, 0, LB_N);
	suite_add_tcase(s, tc);

	tc = tcase_create("addrs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_addr_add_del);
	tcase_add_loop_test(tc, test_addr_malformed, 0, 6);
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_route_add_del);
	tcase_add_test(tc, test_route_not_kept);
	tcase_add_test(tc, test_route_replace_moves);
	tcase_add_test(tc, test_route_multipath);
	tcase_add_test(tc, test_route_host_bits_masked);
	tcase_add_loop_test(tc, test_route_malformed, 0, 11);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);

	tc = tcase_create("membership");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_membership_basic);
	tcase_add_test(tc, test_membership_warnings);
	tcase_add_test(tc, test_membership_enc);
	tcase_add_test(tc, test_membership_pattern_precedence);
	tcase_add_test(tc, test_membership_duplicate_names);
	tcase_add_test(tc, test_diff_moves);
	tcase_add_test(tc, test_diff_null_and_segments);
	tcase_add_test(tc, test_scale);
	tcase_add_test(tc, test_track_move);
	tcase_add_loop_test(tc, test_track_random, 0, 12);
	suite_add_tcase(s, tc);

	tc = tcase_create("tracker");
	tcase_add_test(tc, test_tracker_live);
	tcase_add_test(tc, test_tracker_foreign);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtnl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
