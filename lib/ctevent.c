/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conntrack NEW and DESTROY events over ctnetlink's multicast groups:
 * subscribe, read in batches, parse each message with every length checked.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "conntrack.h"
#include "ctevent.h"
#include "nl.h"

#define CTE_RECV_BUF (64 * 1024)
/* Datagrams per call: the daemon reads in batches, a few times a second at most (ztsegd-flowlog.c). */
#define CTE_RECV_BATCH 1024

struct zt_ctevent {
	struct zt_nl nl;
	struct zt_ct_event_stats stats;
};

struct counters_ctx {
	uint64_t packets, bytes;
	bool bad;
};

static int counters_cb(const struct nlattr *a, void *data)
{
	struct counters_ctx *c = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_COUNTERS_PACKETS:
	case CTA_COUNTERS_BYTES:
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0) {
			c->bad = true;
			break;
		}
		if (mnl_attr_get_type(a) == CTA_COUNTERS_PACKETS)
			c->packets = be64toh(mnl_attr_get_u64(a));
		else
			c->bytes = be64toh(mnl_attr_get_u64(a));
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

struct msg_ctx {
	struct zt_ct_event *e;
	bool bad, has_orig;
};

static void counters_into(struct msg_ctx *m, const struct nlattr *a, int dir)
{
	struct counters_ctx c = {};

	if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 || mnl_attr_parse_nested(a, counters_cb, &c) < 0 || c.bad) {
		m->bad = true;
		return;
	}
	m->e->packets[dir] = c.packets;
	m->e->bytes[dir] = c.bytes;
	m->e->has_counters = true;
}

static int msg_cb(const struct nlattr *a, void *data)
{
	struct msg_ctx *m = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_ORIG: {
		struct zt_ct_event *e = m->e;
		struct zt_ct_tuple t;

		if (zt_ct_tuple_parse(a, e->family, &t) < 0 || !t.has_src || !t.has_dst || !t.has_proto) {
			m->bad = true;
			break;
		}
		memcpy(e->saddr, t.src, sizeof(t.src));
		memcpy(e->daddr, t.dst, sizeof(t.dst));
		e->proto = t.proto;
		e->has_ports = t.has_ports;
		e->sport = t.sport;
		e->dport = t.dport;
		e->has_icmp = t.has_icmp;
		e->icmp_type = t.icmp_type;
		m->has_orig = true;
		break;
	}
	case CTA_MARK:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			m->bad = true;
		else
			m->e->mark = ntohl(mnl_attr_get_u32(a));
		break;
	case CTA_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			m->bad = true;
		else
			m->e->id = ntohl(mnl_attr_get_u32(a));
		break;
	case CTA_COUNTERS_ORIG:
		counters_into(m, a, 0);
		break;
	case CTA_COUNTERS_REPLY:
		counters_into(m, a, 1);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int zt_ctevent_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_event *ret)
{
	const struct nfgenmsg *g;
	struct msg_ctx m = { .e = ret };
	uint8_t type;

	*ret = (struct zt_ct_event){};
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return -EBADMSG;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK)
		return -ENOMSG;
	type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	if (type == IPCTNL_MSG_CT_NEW)
		ret->type = ZT_CT_EVENT_NEW;
	else if (type == IPCTNL_MSG_CT_DELETE)
		ret->type = ZT_CT_EVENT_DESTROY;
	else
		return -ENOMSG;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return -EBADMSG;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != AF_INET && g->nfgen_family != AF_INET6)
		return -ENOMSG;
	ret->family = g->nfgen_family;
	if (mnl_attr_parse(nlh, sizeof(*g), msg_cb, &m) < 0 || m.bad || !m.has_orig)
		return -EBADMSG;
	ret->nlh = nlh;
	ret->len = len;
	return 0;
}

int zt_ctevent_open(int rcvbuf, struct zt_ctevent **ret)
{
	_cleanup_free_ struct zt_ctevent *ce = calloc(1, sizeof(*ce));
	unsigned groups[] = { NFNLGRP_CONNTRACK_NEW, NFNLGRP_CONNTRACK_DESTROY };
	int r, fd, flags;

	if (!ce)
		return -ENOMEM;
	r = zt_nl_open(&ce->nl, NETLINK_NETFILTER, SOCK_CLOEXEC, CTE_RECV_BUF);
	if (r < 0)
		goto fail;
	fd = zt_nl_fd(&ce->nl);
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) {
		r = -errno;
		goto fail;
	}
	/* Joining the groups needs CAP_NET_ADMIN. */
	for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
		if (mnl_socket_setsockopt(ce->nl.sock, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof(groups[i])) < 0) {
			r = -errno;
			goto fail;
		}
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = TAKE_PTR(ce);
	return 0;
fail:
	zt_nl_close(&ce->nl);
	return r;
}

struct zt_ctevent *zt_ctevent_free(struct zt_ctevent *ce)
{
	if (!ce)
		return NULL;
	zt_nl_close(&ce->nl);
	free(ce);
	return NULL;
}

int zt_ctevent_fd(const struct zt_ctevent *ce)
{
	return zt_nl_fd(&ce->nl);
}

const struct zt_ct_event_stats *zt_ctevent_stats(const struct zt_ctevent *ce)
{
	return &ce->stats;
}

struct receive_ctx {
	struct zt_ctevent *ce;
	void (*cb)(const struct zt_ct_event *ev, void *userdata);
	void *userdata;
};

static int receive_datagram(const void *buf, size_t len, void *userdata)
{
	struct receive_ctx *rc = userdata;
	const char *p = buf;
	int total = 0;

	while (len >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		struct zt_ct_event ev;
		size_t step;
		int r;

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
			break;
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		r = zt_ctevent_parse(nlh, nlh->nlmsg_len, &ev);
		if (r == 0) {
			rc->ce->stats.events++;
			total++;
			rc->cb(&ev, rc->userdata);
		} else if (r == -EBADMSG) {
			rc->ce->stats.malformed++;
		}
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return total;
}

int zt_ctevent_receive(struct zt_ctevent *ce, void (*cb)(const struct zt_ct_event *ev, void *userdata),
		       void *userdata)
{
	struct receive_ctx rc = { .ce = ce, .cb = cb, .userdata = userdata };
	struct zt_nl_losses l = {};
	int r = zt_nl_receive_batch(&ce->nl, CTE_RECV_BATCH, &l, receive_datagram, &rc);

	ce->stats.overruns += l.overruns;
	ce->stats.malformed += l.malformed;
	return r;
}
