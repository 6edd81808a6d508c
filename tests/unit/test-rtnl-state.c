/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the rtnetlink state (lib/rtnl-state.c): crafted messages, good and hostile. */
#include "rtnl-msgs.h"

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


static Suite *rtnl_state_suite(void)
{
	Suite *s = suite_create("rtnl-state");
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

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtnl_state_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
