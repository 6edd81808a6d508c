/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host's own addresses on bridge devices, for table bridge ztseg's
 * sets hown4 and hownna (bridge.h): one RTM_GETLINK dump for the bridges'
 * indices, one RTM_GETADDR dump for their addresses. Every attribute is
 * validated; anything malformed is skipped, an interrupted dump is read
 * again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "bridge.h"
#include "nl.h"
#include "util.h"

#define RECV_BUF (256 * 1024)
#define HOST_ADDRS_MAX 65536
#define DUMP_TRIES 5

struct hctx {
	int *br;			/* bridge ifindices */
	size_t n_br, cap_br;
	struct zt_bridge_haddr *v;
	size_t n, cap;
};

static int kind_cb(const struct nlattr *attr, void *data)
{
	bool *bridge = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
		*bridge = streq(mnl_attr_get_str(attr), "bridge");
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct hctx *c = data;
	const struct ifinfomsg *ifi;
	const struct nlattr *attr;
	bool bridge = false;

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return 0;
	ifi = mnl_nlmsg_get_payload(nlh);
	mnl_attr_for_each(attr, nlh, sizeof(*ifi))
		if (mnl_attr_get_type(attr) == IFLA_LINKINFO && mnl_attr_validate(attr, MNL_TYPE_NESTED) == 0)
			mnl_attr_parse_nested(attr, kind_cb, &bridge);
	if (!bridge || ifi->ifi_index <= 0)
		return 0;
	if (c->n_br >= HOST_ADDRS_MAX)
		return -E2BIG;
	if (ZT_GROW(c->br, c->cap_br, c->n_br + 1) < 0)
		return -ENOMEM;
	c->br[c->n_br++] = ifi->ifi_index;
	return 0;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct hctx *c = data;
	const struct ifaddrmsg *ifa;
	const struct nlattr *attr;
	const void *local = NULL, *address = NULL;
	size_t len;
	bool found = false;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return 0;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return 0;
	len = ifa->ifa_family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < c->n_br && !found; i++)
		found = c->br[i] == (int)ifa->ifa_index;
	if (!found)
		return 0;
	mnl_attr_for_each(attr, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_payload_len(attr) != len)
			continue;
		if (mnl_attr_get_type(attr) == IFA_LOCAL)
			local = mnl_attr_get_payload(attr);
		else if (mnl_attr_get_type(attr) == IFA_ADDRESS)
			address = mnl_attr_get_payload(attr);
	}
	/* IPv4: IFA_LOCAL is the host's address (IFA_ADDRESS the peer's on point-to-point) */
	if (!(local = local ? local : address))
		return 0;
	if (c->n >= HOST_ADDRS_MAX)
		return -E2BIG;
	if (ZT_GROW(c->v, c->cap, c->n + 1) < 0)
		return -ENOMEM;
	c->v[c->n] = (struct zt_bridge_haddr){ .family = ifa->ifa_family };
	memcpy(c->v[c->n++].addr, local, len);
	return 0;
}

static int dump(struct zt_nl *nl, uint16_t type, zt_nl_cb cb, struct hctx *c)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	if (type == RTM_GETLINK)
		((struct ifinfomsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg)))->ifi_family = AF_UNSPEC;
	else
		((struct ifaddrmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifaddrmsg)))->ifa_family = AF_UNSPEC;
	return zt_nl_talk(nl, nlh, cb, c, ZT_NL_F_READ_INTR);
}

int zt_bridge_host_dump(struct zt_bridge_haddr **ret, size_t *n)
{
	struct hctx c = {};
	struct zt_nl nl;
	int r = zt_nl_open(&nl, NETLINK_ROUTE, SOCK_CLOEXEC, RECV_BUF);

	for (int tries = 0; r >= 0 && tries < DUMP_TRIES; tries++) {
		c.n_br = c.n = 0;
		r = dump(&nl, RTM_GETLINK, link_cb, &c);
		if (r >= 0 && r != ZT_NL_INTR && c.n_br)
			r = dump(&nl, RTM_GETADDR, addr_cb, &c);
		if (r != ZT_NL_INTR)
			break;
		r = -EINTR;
	}
	zt_nl_close(&nl);
	free(c.br);
	if (r < 0) {
		free(c.v);
		return r;
	}
	*n = zt_bridge_haddrs_norm(c.v, c.n);
	*ret = c.v;
	return 0;
}
