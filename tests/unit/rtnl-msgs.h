/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crafted rtnetlink messages for the unit tests: build one into buf, apply
 * it to st (a fresh state per test with the setup/teardown fixture).
 */
#ifndef ZT_TEST_RTNL_MSGS_H
#define ZT_TEST_RTNL_MSGS_H

#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include "rtnl-state.h"

#define BUFSZ 8192

static struct zt_rtnl_state *st;
static char buf[BUFSZ] __attribute__((aligned(8)));

static inline void setup(void)
{
	ck_assert_int_eq(zt_rtnl_state_new(&st), 0);
}

static inline void teardown(void)
{
	st = zt_rtnl_state_free(st);
}

static inline int apply(const struct nlmsghdr *nlh)
{
	return zt_rtnl_state_apply(st, nlh, nlh->nlmsg_len);
}

/* ---- message builders ---- */

static inline struct nlmsghdr *hdr(uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

static inline struct nlmsghdr *link_msg(uint16_t type, uint8_t family, int ifindex,
					const char *name, const char *kind, int master,
					unsigned flags)
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

static inline struct nlmsghdr *newlink(int ifindex, const char *name, const char *kind,
				       unsigned flags)
{
	return link_msg(RTM_NEWLINK, AF_UNSPEC, ifindex, name, kind, 0, flags);
}

static inline void parse_cidr(const char *s, struct zt_cidr *c)
{
	const char *err;

	ck_assert_msg(zt_cidr_parse(s, c, &err) == 0, "%s: %s", s, err);
}

/* s: "a/len", host bits allowed (an interface address). */
static inline struct nlmsghdr *addr_msg(uint16_t type, int ifindex, const char *s, bool local)
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

static inline struct nlmsghdr *route_hdr(uint16_t type, uint16_t flags, const char *dst,
					 uint8_t rtype, uint32_t table)
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

static inline struct nlmsghdr *route_msg(uint16_t type, uint16_t flags, const char *dst, int oif)
{
	struct nlmsghdr *nlh = route_hdr(type, flags, dst, RTN_UNICAST, RT_TABLE_MAIN);

	if (oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	return nlh;
}

/* Next hops: oifs[i] with gateway gws[i] (NULL: none). */
static inline void put_multipath(struct nlmsghdr *nlh, const int *oifs, const char *const *gws,
				 size_t n)
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

static inline int count_link(const struct zt_rtnl_link *l, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

static inline int count_addr(const struct zt_rtnl_addr *a, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

static inline int count_route(const struct zt_rtnl_route *r, void *u)
{
	((struct count *)u)->n++;
	return 0;
}

/* The counters agree with what the walks see. */
static inline void check_consistent(const struct zt_rtnl_state *s)
{
	struct count l = {}, a = {}, r = {};

	zt_rtnl_state_foreach_link(s, count_link, &l);
	zt_rtnl_state_foreach_addr(s, count_addr, &a);
	zt_rtnl_state_foreach_route(s, count_route, &r);
	ck_assert_uint_eq(l.n, zt_rtnl_state_n_links(s));
	ck_assert_uint_eq(a.n, zt_rtnl_state_n_addrs(s));
	ck_assert_uint_eq(r.n, zt_rtnl_state_n_routes(s));
}

#endif
