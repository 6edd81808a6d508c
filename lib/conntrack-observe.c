/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode's view of conntrack: the would-deny connections (ct mark a
 * zone pair) that completed, read with one dump that the kernel filters
 * by mark. What `ztsegctl suggest` is made from.
 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include "conntrack.h"
#include "nl.h"

struct seen_ctx {
	struct zt_ct_seen *s;
	bool bad;
};

static int proto_cb(const struct nlattr *a, void *data)
{
	struct seen_ctx *c = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_PROTO_NUM:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			c->bad = true;
		else
			c->s->proto = mnl_attr_get_u8(a);
		break;
	case CTA_PROTO_DST_PORT:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			c->bad = true;
		else
			c->s->dport = ntohs(mnl_attr_get_u16(a));
		break;
	case CTA_PROTO_ICMP_TYPE:
	case CTA_PROTO_ICMPV6_TYPE:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0)
			c->bad = true;
		else
			c->s->icmp_type = mnl_attr_get_u8(a);
		break;
	}
	return MNL_CB_OK;
}

static int ip_cb(const struct nlattr *a, void *data)
{
	struct seen_ctx *c = data;
	unsigned t = mnl_attr_get_type(a);
	size_t len = c->s->family == AF_INET ? 4 : 16;

	if (t != CTA_IP_V4_SRC && t != CTA_IP_V4_DST && t != CTA_IP_V6_SRC && t != CTA_IP_V6_DST)
		return MNL_CB_OK;
	if ((t == CTA_IP_V4_SRC || t == CTA_IP_V4_DST) != (c->s->family == AF_INET) ||
	    mnl_attr_get_payload_len(a) != len) {
		c->bad = true;
		return MNL_CB_OK;
	}
	memcpy(t == CTA_IP_V4_SRC || t == CTA_IP_V6_SRC ? c->s->saddr : c->s->daddr, mnl_attr_get_payload(a), len);
	c->s->has_addrs |= t == CTA_IP_V4_SRC || t == CTA_IP_V6_SRC ? 1 : 2;
	return MNL_CB_OK;
}

static int tuple_cb(const struct nlattr *a, void *data)
{
	struct seen_ctx *c = data;

	if (mnl_attr_get_type(a) != CTA_TUPLE_IP && mnl_attr_get_type(a) != CTA_TUPLE_PROTO)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 ||
	    mnl_attr_parse_nested(a, mnl_attr_get_type(a) == CTA_TUPLE_IP ? ip_cb : proto_cb, c) < 0)
		c->bad = true;
	return MNL_CB_OK;
}

static int seen_cb(const struct nlattr *a, void *data)
{
	struct seen_ctx *c = data;

	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_ORIG:
		if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 || mnl_attr_parse_nested(a, tuple_cb, c) < 0)
			c->bad = true;
		break;
	case CTA_MARK:
	case CTA_STATUS:
	case CTA_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) {
			c->bad = true;
			break;
		}
		if (mnl_attr_get_type(a) == CTA_MARK)
			c->s->mark = ntohl(mnl_attr_get_u32(a));
		else if (mnl_attr_get_type(a) == CTA_STATUS)
			c->s->status = ntohl(mnl_attr_get_u32(a));
		else
			c->s->id = ntohl(mnl_attr_get_u32(a));
		break;
	}
	return MNL_CB_OK;
}

int zt_ct_seen_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_seen *ret)
{
	struct zt_ct_seen s = { .icmp_type = -1 };
	struct seen_ctx c = { .s = &s };
	int r = zt_ct_msg_family(nlh, len, &s.family);

	if (r < 0)
		return r;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), seen_cb, &c) < 0 || c.bad || s.has_addrs != 3 || !s.proto)
		return -EBADMSG;
	*ret = s;
	return 0;
}

bool zt_ct_seen_completed(const struct zt_ct_seen *s)
{
	/* TCP: the handshake finished (a scan's RST or half-open SYN-ACK is no reply). */
	if (s->proto == IPPROTO_TCP)
		return s->status & IPS_ASSURED;
	return s->status & IPS_SEEN_REPLY;
}

bool zt_ct_mark_is_pair(uint32_t mark)
{
	return !(mark & 0x80008000u) && (mark >> 16) && (mark & 0xffff);
}

struct dump_ctx {
	zt_ct_seen_cb cb;
	void *data;
	int err;
	bool pairs;		/* only zone-pair marks (the kernel's filter lets 0 through) */
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct zt_ct_seen s;
	int r;

	if (zt_ct_seen_parse(nlh, nlh->nlmsg_len, &s) < 0 || (d->pairs && !zt_ct_mark_is_pair(s.mark)))
		return 0;
	r = d->cb(&s, d->data);
	if (r < 0 && !d->err)
		d->err = r;
	return 0;
}

static int dump_marked(uint32_t mark, uint32_t mask, bool pairs, zt_ct_seen_cb cb, void *data);

int zt_ct_dump_pairs(zt_ct_seen_cb cb, void *data)
{
	/* Zone pairs have bits 31 and 15 clear (flow marks set 31, grant marks 15): the kernel filters. */
	return dump_marked(0, 0x80008000u, true, cb, data);
}

int zt_ct_dump_marked(uint32_t mark, uint32_t mask, zt_ct_seen_cb cb, void *data)
{
	return dump_marked(mark, mask, false, cb, data);
}

static int dump_marked(uint32_t mark, uint32_t mask, bool pairs, zt_ct_seen_cb cb, void *data)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
	struct dump_ctx d = { .cb = cb, .data = data, .pairs = pairs };
	struct nfgenmsg *g;
	struct zt_nl nl;
	int r;

	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 4u << 20);
	if (r < 0)
		return r;
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl.seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	/* A dump that entries changed under is still what was there: take it as it is. */
	r = zt_nl_talk(&nl, nlh, dump_cb, &d, ZT_NL_F_READ_INTR);
	zt_nl_close(&nl);
	return r < 0 ? r : d.err;
}
