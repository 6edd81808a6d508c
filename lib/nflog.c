/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFLOG reader: bind an nfnetlink_log group (a netlink socket of lib/nl.c),
 * parse each logged packet with bounds checks on every attribute and
 * header, and a token bucket for the daemon's log lines.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <libmnl/libmnl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "nflog.h"
#include "nl.h"

struct zt_nflog {
	struct zt_nl nl;
	uint16_t group;
	bool bound;
	bool conntrack;			/* the kernel sends NFULA_CT */
	struct zt_nflog_stats stats;
};

/* Logged messages are small (copy_range bytes plus metadata), batched up to qthresh. */
#define NFLOG_RECV_BUF (64 * 1024)
/* Datagrams per zt_nflog_receive(): a flood of logged packets must not hold the loop. */
#define NFLOG_RECV_BATCH 64

static int nflog_config(struct zt_nflog *nf, uint8_t cmd, const struct zt_nflog_config *cfg, bool ct)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	/* libmnl 1.0.4 leaves attribute padding as it finds it: send zeros. */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
	struct nfulnl_msg_config_cmd c = { .command = cmd };
	uint32_t seq = ++nf->nl.seq;
	struct nfgenmsg *nfg;
	int r;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(nf->group);
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(c), &c);
	if (cfg) {
		struct nfulnl_msg_config_mode mode = {
			.copy_range = htonl(cfg->copy_range ? cfg->copy_range
							    : ZT_NFLOG_COPY_RANGE_DEFAULT),
			.copy_mode = NFULNL_COPY_PACKET,
		};

		/* The kernel applies these after the bind in the same message. */
		mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
		mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH,
				 htonl(cfg->qthresh ? cfg->qthresh : ZT_NFLOG_QTHRESH_DEFAULT));
		mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT,
				 htonl(cfg->timeout_cs ? cfg->timeout_cs : ZT_NFLOG_TIMEOUT_DEFAULT));
		/* Checked before the bind: refused, nothing is bound. */
		if (ct)
			mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_CONNTRACK));
	}
	r = zt_nl_send(&nf->nl, nlh, nlh->nlmsg_len);
	if (r < 0)
		return r;

	/*
	 * Wait for our ACK on the still-blocking socket. Packets of the group
	 * (and the NLMSG_DONE that ends a batch of them) may arrive first once
	 * the bind took effect: skip them.
	 */
	for (;;) {
		uint32_t sender;
		bool trunc;
		ssize_t n = zt_nl_recv(&nf->nl, 0, &sender, &trunc);
		const struct nlmsghdr *m;
		size_t len;

		if (n == -EINTR || n == -ENOBUFS)
			continue;
		if (n < 0)
			return (int)n;
		if (sender != 0) {
			nf->nl.foreign++;
			continue;
		}
		len = (size_t)n;
		for (m = (const struct nlmsghdr *)nf->nl.buf; zt_nlmsg_ok(m, len);
		     m = zt_nlmsg_next(m, &len)) {
			const struct nlmsgerr *e;

			if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_seq != seq ||
			    (m->nlmsg_pid && m->nlmsg_pid != nf->nl.portid))
				continue;
			if (m->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
				return -EBADMSG;
			e = mnl_nlmsg_get_payload(m);
			return e->error;
		}
	}
}

int zt_nflog_open(const struct zt_nflog_config *cfg, struct zt_nflog **ret)
{
	struct zt_nflog *nf;
	int r, flags, fd;

	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	nf->group = cfg->group;
	r = zt_nl_open(&nf->nl, NETLINK_NETFILTER, SOCK_CLOEXEC, NFLOG_RECV_BUF);
	if (r < 0)
		goto fail;
	fd = zt_nl_fd(&nf->nl);
	/* FORCE needs CAP_NET_ADMIN, which binding a group needs anyway. */
	if (cfg->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &cfg->rcvbuf, sizeof(cfg->rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg->rcvbuf, sizeof(cfg->rcvbuf)) < 0) {
		r = -errno;
		goto fail;
	}
	/*
	 * The connection's mark needs nf_conntrack_netlink: the kernel loads
	 * it and answers EAGAIN the first time. Without it, bind plain.
	 */
	r = -EOPNOTSUPP;
	for (int i = 0; cfg->conntrack && i < 2 && r < 0; i++)
		r = nflog_config(nf, NFULNL_CFG_CMD_BIND, cfg, true);
	nf->conntrack = r >= 0;
	if (r < 0)
		r = nflog_config(nf, NFULNL_CFG_CMD_BIND, cfg, false);
	if (r < 0)
		goto fail;
	nf->bound = true;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	*ret = nf;
	return 0;
fail:
	zt_nflog_free(nf);
	return r;
}

struct zt_nflog *zt_nflog_free(struct zt_nflog *nf)
{
	if (!nf)
		return NULL;
	if (nf->bound) {
		int fd = zt_nl_fd(&nf->nl), flags = fcntl(fd, F_GETFL);

		/*
		 * Unbind explicitly (closing would too) so the group is free
		 * at once for a successor; blocking, to read the ACK.
		 */
		if (flags >= 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0)
			(void)nflog_config(nf, NFULNL_CFG_CMD_UNBIND, NULL, false);
	}
	zt_nl_close(&nf->nl);
	free(nf);
	return NULL;
}

bool zt_nflog_conntrack(const struct zt_nflog *nf)
{
	return nf->conntrack;
}

int zt_nflog_fd(const struct zt_nflog *nf)
{
	return zt_nl_fd(&nf->nl);
}

const struct zt_nflog_stats *zt_nflog_stats(const struct zt_nflog *nf)
{
	return &nf->stats;
}

struct receive_ctx {
	struct zt_nflog *nf;
	void (*cb)(const struct zt_nflog_packet *pkt, void *userdata);
	void *userdata;
};

static int receive_datagram(const void *buf, size_t len, void *userdata)
{
	struct receive_ctx *rc = userdata;

	return zt_nflog_parse_buf(buf, len, rc->cb, rc->userdata, &rc->nf->stats);
}

int zt_nflog_receive(struct zt_nflog *nf,
		     void (*cb)(const struct zt_nflog_packet *pkt, void *userdata),
		     void *userdata)
{
	struct receive_ctx rc = { .nf = nf, .cb = cb, .userdata = userdata };
	struct zt_nl_losses l = {};
	int r = zt_nl_receive_batch(&nf->nl, NFLOG_RECV_BATCH, &l, receive_datagram, &rc);

	nf->stats.overruns += l.overruns;
	nf->stats.malformed += l.malformed;
	return r;
}

int zt_nflog_parse_buf(const void *buf, size_t len,
		       void (*cb)(const struct zt_nflog_packet *pkt, void *userdata),
		       void *userdata, struct zt_nflog_stats *stats)
{
	const char *p = buf;
	size_t left = len;
	int n = 0;

	while (zt_nlmsg_ok((const struct nlmsghdr *)p, left)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
		struct zt_nflog_packet pkt;
		int r;

		/* The last message of a datagram may lack its padding. */
		if (step > left)
			step = left;
		p += step;
		left -= step;
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue;	/* NLMSG_DONE ends a batch; no errors are expected */
		r = zt_nflog_parse(nlh, &pkt);
		if (r == -ENOMSG)
			continue;
		if (r < 0) {
			if (stats)
				stats->malformed++;
			continue;
		}
		if (stats)
			stats->packets++;
		n++;
		if (cb)
			cb(&pkt, userdata);
	}
	/* Bytes left that do not form a message: a truncated or corrupt datagram. */
	if (left > 0 && stats)
		stats->malformed++;
	return n;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t attr_be32(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
	return ntohl(v);
}

static uint16_t attr_be16(const struct nlattr *a)
{
	return get_be16(mnl_attr_get_payload(a));
}

/* The minimum payload of each attribute we read; 0: any length. */
static const uint16_t attr_min[NFULA_MAX + 1] = {
	[NFULA_PACKET_HDR] = sizeof(struct nfulnl_msg_packet_hdr),
	[NFULA_MARK] = 4,
	[NFULA_TIMESTAMP] = sizeof(struct nfulnl_msg_packet_timestamp),
	[NFULA_IFINDEX_INDEV] = 4,
	[NFULA_IFINDEX_OUTDEV] = 4,
	[NFULA_IFINDEX_PHYSINDEV] = 4,
	[NFULA_IFINDEX_PHYSOUTDEV] = 4,
	[NFULA_HWADDR] = sizeof(struct nfulnl_msg_packet_hw),
	[NFULA_UID] = 4,
	[NFULA_GID] = 4,
	[NFULA_SEQ] = 4,
	[NFULA_SEQ_GLOBAL] = 4,
	[NFULA_HWTYPE] = 2,
	[NFULA_HWLEN] = 2,
};

int zt_nflog_parse(const struct nlmsghdr *nlh, struct zt_nflog_packet *ret)
{
	const struct nlattr *tb[NFULA_MAX + 1] = {}, *a;
	const struct nfgenmsg *nfg;
	struct zt_nflog_packet pkt = {};
	uint8_t hint = 0;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_ULOG ||
	    NFNL_MSG_TYPE(nlh->nlmsg_type) != NFULNL_MSG_PACKET)
		return -ENOMSG;
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)))
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);

	mnl_attr_for_each(a, nlh, sizeof(*nfg)) {
		uint16_t type = mnl_attr_get_type(a);

		/* Newer kernels add attributes (VLAN, L2HDR, CT...): skip what we do not know. */
		if (type > NFULA_MAX)
			continue;
		if (mnl_attr_get_payload_len(a) < attr_min[type])
			return -EBADMSG;
		tb[type] = a;
	}
	/*
	 * mnl_attr_for_each stops at the first attribute that does not fit:
	 * anything before the end is garbage (past it is a missing pad).
	 */
	if ((const char *)a < (const char *)mnl_nlmsg_get_payload_tail(nlh))
		return -EBADMSG;
	if (!tb[NFULA_PACKET_HDR])
		return -EBADMSG;

	pkt.nf_family = nfg->nfgen_family;
	{
		const struct nfulnl_msg_packet_hdr *ph = mnl_attr_get_payload(tb[NFULA_PACKET_HDR]);

		pkt.hw_protocol = ntohs(ph->hw_protocol);
		pkt.hook = ph->hook;
	}
	if (tb[NFULA_PREFIX]) {
		/* The kernel sends a NUL; a forged message need not. */
		size_t n = mnl_attr_get_payload_len(tb[NFULA_PREFIX]);

		if (n > sizeof(pkt.prefix) - 1)
			n = sizeof(pkt.prefix) - 1;
		memcpy(pkt.prefix, mnl_attr_get_payload(tb[NFULA_PREFIX]), n);
		pkt.prefix[n] = '\0';
	}
	if (tb[NFULA_IFINDEX_INDEV])
		pkt.iif = attr_be32(tb[NFULA_IFINDEX_INDEV]);
	if (tb[NFULA_IFINDEX_OUTDEV])
		pkt.oif = attr_be32(tb[NFULA_IFINDEX_OUTDEV]);
	if (tb[NFULA_IFINDEX_PHYSINDEV])
		pkt.phys_iif = attr_be32(tb[NFULA_IFINDEX_PHYSINDEV]);
	if (tb[NFULA_IFINDEX_PHYSOUTDEV])
		pkt.phys_oif = attr_be32(tb[NFULA_IFINDEX_PHYSOUTDEV]);
	if (tb[NFULA_MARK])
		pkt.mark = attr_be32(tb[NFULA_MARK]);
	if (tb[NFULA_CT]) {
		const struct nlattr *c;

		/* Nested conntrack attributes: only CTA_MARK is read, bounds checked. */
		mnl_attr_for_each_nested(c, tb[NFULA_CT]) {
			if (mnl_attr_get_type(c) == CTA_MARK && mnl_attr_get_payload_len(c) >= 4) {
				pkt.has_ct_mark = true;
				pkt.ct_mark = attr_be32(c);
			}
		}
	}
	if (tb[NFULA_UID]) {
		pkt.has_uid = true;
		pkt.uid = attr_be32(tb[NFULA_UID]);
		if (tb[NFULA_GID])
			pkt.gid = attr_be32(tb[NFULA_GID]);
	}
	if (tb[NFULA_HWTYPE])
		pkt.hw_type = attr_be16(tb[NFULA_HWTYPE]);
	if (tb[NFULA_HWHEADER]) {
		uint16_t n = mnl_attr_get_payload_len(tb[NFULA_HWHEADER]);

		/* NFULA_HWLEN claims a length; believe it only within the attribute. */
		pkt.hw_header_len = tb[NFULA_HWLEN] && attr_be16(tb[NFULA_HWLEN]) < n
					    ? attr_be16(tb[NFULA_HWLEN]) : n;
	}
	if (tb[NFULA_HWADDR]) {
		const struct nfulnl_msg_packet_hw *hw = mnl_attr_get_payload(tb[NFULA_HWADDR]);
		uint16_t n = ntohs(hw->hw_addrlen);

		pkt.hw_addr_len = n < sizeof(pkt.hw_addr) ? n : sizeof(pkt.hw_addr);
		memcpy(pkt.hw_addr, hw->hw_addr, pkt.hw_addr_len);
	}
	if (pkt.hw_protocol == ETH_P_IP || pkt.nf_family == NFPROTO_IPV4)
		hint = AF_INET;
	else if (pkt.hw_protocol == ETH_P_IPV6 || pkt.nf_family == NFPROTO_IPV6)
		hint = AF_INET6;
	if (tb[NFULA_PAYLOAD]) {
		pkt.captured = mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]);
		/* Not an IP packet we can read: still a logged packet, with its prefix. */
		(void)zt_nflog_decode_payload(mnl_attr_get_payload(tb[NFULA_PAYLOAD]),
					      pkt.captured, hint, &pkt);
	}
	*ret = pkt;
	return 0;
}

static void decode_l4(const uint8_t *p, size_t len, struct zt_nflog_packet *pkt)
{
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		if (len < 4) {
			pkt->truncated = true;
			return;
		}
		pkt->has_ports = true;
		pkt->sport = get_be16(p);
		pkt->dport = get_be16(p + 2);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (len < 2) {
			pkt->truncated = true;
			return;
		}
		pkt->has_icmp = true;
		pkt->icmp_type = p[0];
		pkt->icmp_code = p[1];
		return;
	default:
		return;
	}
}

static int decode_ipv4(const uint8_t *p, size_t len, struct zt_nflog_packet *pkt)
{
	size_t ihl, total;

	if (len < 20 || p[0] >> 4 != 4)
		return -EBADMSG;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	total = get_be16(p + 2);
	if (ihl < 20 || ihl > len || total < ihl)
		return -EBADMSG;
	pkt->family = AF_INET;
	memcpy(pkt->saddr, p + 12, 4);
	memcpy(pkt->daddr, p + 16, 4);
	pkt->length = (uint32_t)total;
	pkt->proto = p[9];
	if (get_be16(p + 6) & 0x1fff) {
		pkt->fragment = true;
		return 0;
	}
	/* What follows the header, within both the capture and the datagram. */
	if (len > total)
		len = total;
	decode_l4(p + ihl, len - ihl, pkt);
	return 0;
}

/* IPv6 extension headers we walk; anything else is the upper layer. */
#define IPV6_EXT_MAX 8

static int decode_ipv6(const uint8_t *p, size_t len, struct zt_nflog_packet *pkt)
{
	size_t off = 40, plen;
	uint8_t nh;

	if (len < 40 || p[0] >> 4 != 6)
		return -EBADMSG;
	plen = get_be16(p + 4);
	pkt->family = AF_INET6;
	memcpy(pkt->saddr, p + 8, 16);
	memcpy(pkt->daddr, p + 24, 16);
	pkt->length = (uint32_t)(40 + plen);
	if (len > 40 + plen && plen)
		len = 40 + plen;
	nh = p[6];
	/* A bounded walk: a crafted chain of headers must not keep us here. */
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		size_t hl;

		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (off + 2 > len)
				goto truncated;
			hl = ((size_t)p[off + 1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if (off + 2 > len)
				goto truncated;
			hl = ((size_t)p[off + 1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (off + 8 > len)
				goto truncated;
			if (get_be16(p + off + 2) & 0xfff8) {
				pkt->proto = p[off];
				pkt->fragment = true;
				return 0;
			}
			hl = 8;
			break;
		default:
			pkt->proto = nh;
			decode_l4(p + off, len - off, pkt);
			return 0;
		}
		nh = p[off];
		off += hl;
		if (off > len)
			goto truncated;
	}
truncated:
	/* Not reached the upper layer: say what we know, and that it is incomplete. */
	pkt->proto = nh;
	pkt->truncated = true;
	return 0;
}

int zt_nflog_decode_payload(const uint8_t *p, size_t len, uint8_t hint,
			    struct zt_nflog_packet *pkt)
{
	uint8_t version = len ? p[0] >> 4 : 0;

	pkt->family = 0;
	pkt->length = 0;
	pkt->proto = 0;
	pkt->fragment = pkt->has_ports = pkt->has_icmp = pkt->truncated = false;
	pkt->sport = pkt->dport = 0;
	pkt->icmp_type = pkt->icmp_code = 0;
	memset(pkt->saddr, 0, sizeof(pkt->saddr));
	memset(pkt->daddr, 0, sizeof(pkt->daddr));

	/* A hint that disagrees with the header's own version: trust neither. */
	if ((hint == AF_INET && version != 4) || (hint == AF_INET6 && version != 6))
		return -EBADMSG;
	if (version == 4)
		return decode_ipv4(p, len, pkt);
	if (version == 6)
		return decode_ipv6(p, len, pkt);
	return -EBADMSG;
}

/* ---- token bucket ---- */

#define TOKEN 1000000ull

bool zt_ratelimit_test(struct zt_ratelimit *rl, uint64_t now_usec)
{
	uint64_t full = rl->burst > UINT64_MAX / TOKEN ? UINT64_MAX : rl->burst * TOKEN;

	if (!rl->started) {
		rl->started = true;
		rl->tokens = full;
		rl->last_usec = now_usec;
	} else if (now_usec > rl->last_usec) {
		uint64_t dt = now_usec - rl->last_usec;

		/* rate tokens/s over dt µs is rate * dt millionths; clamp before multiplying. */
		if (rl->rate && dt > full / rl->rate)
			rl->tokens = full;
		else if (rl->rate * dt >= full - rl->tokens)
			rl->tokens = full;
		else
			rl->tokens += rl->rate * dt;
		rl->last_usec = now_usec;
	}
	if (rl->tokens >= TOKEN) {
		rl->tokens -= TOKEN;
		return true;
	}
	rl->suppressed++;
	return false;
}

uint64_t zt_ratelimit_take_suppressed(struct zt_ratelimit *rl)
{
	uint64_t n = rl->suppressed;

	rl->suppressed = 0;
	return n;
}
