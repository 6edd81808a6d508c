/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/nflog.c: NFLOG messages crafted with libmnl (well
 * formed, truncated, malicious), payload decoding, the token bucket, and, as
 * root, a real round trip through the kernel in a fresh network namespace.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_ether.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "nflog.h"

#define ZT_USEC_PER_SEC_TEST 1000000ull

/* ---- crafting messages ---- */

struct craft {
	uint8_t nf_family;
	uint16_t hw_protocol;
	bool no_hdr;
	const char *prefix;		/* put as given, with its NUL unless raw_prefix */
	const void *raw_prefix;
	size_t raw_prefix_len;
	uint32_t iif, oif;
	bool uid;
	const uint8_t *payload;
	size_t payload_len;
};

static struct nlmsghdr *craft(char *buf, const struct craft *c)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = c->nf_family ? c->nf_family : NFPROTO_IPV4;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(7);
	if (!c->no_hdr) {
		struct nfulnl_msg_packet_hdr ph = {
			.hw_protocol = htons(c->hw_protocol),
			.hook = NF_INET_FORWARD,
		};

		mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(ph), &ph);
	}
	if (c->iif)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(c->iif));
	if (c->oif)
		mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(c->oif));
	if (c->prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, c->prefix);
	if (c->raw_prefix)
		mnl_attr_put(nlh, NFULA_PREFIX, c->raw_prefix_len, c->raw_prefix);
	if (c->uid) {
		mnl_attr_put_u32(nlh, NFULA_UID, htonl(1000));
		mnl_attr_put_u32(nlh, NFULA_GID, htonl(100));
	}
	if (c->payload)
		mnl_attr_put(nlh, NFULA_PAYLOAD, c->payload_len, c->payload);
	return nlh;
}

/* IPv4 192.0.2.1 -> 198.51.100.7, with the given header length (words) and protocol. */
static size_t ipv4(uint8_t *p, unsigned ihl, uint8_t proto, uint16_t frag, const uint8_t *l4,
		   size_t l4len)
{
	size_t hl = ihl * 4, total = hl + l4len;

	memset(p, 0, hl);
	p[0] = (uint8_t)(0x40 | ihl);
	p[2] = (uint8_t)(total >> 8);
	p[3] = (uint8_t)total;
	p[6] = (uint8_t)(frag >> 8);
	p[7] = (uint8_t)frag;
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, (uint8_t[]){ 192, 0, 2, 1 }, 4);
	memcpy(p + 16, (uint8_t[]){ 198, 51, 100, 7 }, 4);
	memcpy(p + hl, l4, l4len);
	return total;
}

/* IPv6 2001:db8::1 -> 2001:db8::2 with next header nh and the rest as given. */
static size_t ipv6(uint8_t *p, uint8_t nh, const uint8_t *rest, size_t len)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	p[4] = (uint8_t)(len >> 8);
	p[5] = (uint8_t)len;
	p[6] = nh;
	p[7] = 64;
	inet_pton(AF_INET6, "2001:db8::1", p + 8);
	inet_pton(AF_INET6, "2001:db8::2", p + 24);
	memcpy(p + 40, rest, len);
	return 40 + len;
}

static const uint8_t udp_hdr[8] = { 0x04, 0xd2, 0x00, 0x35, 0x00, 0x08, 0, 0 }; /* 1234 -> 53 */
static const uint8_t tcp_hdr[20] = { 0xc3, 0x50, 0x1f, 0x90, [12] = 0x50, [13] = 0x02 };
static const uint8_t icmp_echo[8] = { 8, 0 };
static const uint8_t icmp6_echo[8] = { 128, 0 };

static int parse_one(const struct craft *c, struct zt_nflog_packet *pkt)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	memset(buf, 0, sizeof(buf));	/* padding the crafted attributes leave */
	return zt_nflog_parse(craft(buf, c), pkt);
}

static void assert_addr(const uint8_t *got, int family, const char *want)
{
	uint8_t a[16] = {};

	ck_assert_int_eq(inet_pton(family, want, a), 1);
	ck_assert_msg(memcmp(got, a, family == AF_INET ? 4 : 16) == 0, "address is not %s", want);
}

/* ---- parsing ---- */

START_TEST(test_ipv4_udp)
{
	uint8_t p[64];
	size_t n = ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
	struct craft c = { .hw_protocol = ETH_P_IP, .prefix = "ztseg drop web>app ",
			   .iif = 4, .oif = 5, .payload = p, .payload_len = n };
	struct zt_nflog_packet pkt;

	ck_assert_int_eq(parse_one(&c, &pkt), 0);
	ck_assert_str_eq(pkt.prefix, "ztseg drop web>app ");
	ck_assert_uint_eq(pkt.nf_family, NFPROTO_IPV4);
	ck_assert_uint_eq(pkt.hook, NF_INET_FORWARD);
	ck_assert_uint_eq(pkt.hw_protocol, ETH_P_IP);
	ck_assert_uint_eq(pkt.iif, 4);
	ck_assert_uint_eq(pkt.oif, 5);
	ck_assert(!pkt.has_uid);
	ck_assert_uint_eq(pkt.family, AF_INET);
	assert_addr(pkt.saddr, AF_INET, "192.0.2.1");
	assert_addr(pkt.daddr, AF_INET, "198.51.100.7");
	ck_assert_uint_eq(pkt.proto, IPPROTO_UDP);
	ck_assert(pkt.has_ports);
	ck_assert_uint_eq(pkt.sport, 1234);
	ck_assert_uint_eq(pkt.dport, 53);
	ck_assert_uint_eq(pkt.length, 28);
	ck_assert_uint_eq(pkt.captured, 28);
	ck_assert(!pkt.truncated && !pkt.fragment && !pkt.has_icmp);
}
END_TEST

/* Payload decoding, table-driven: what the IP/L4 headers say. */
struct dcase {
	const char *what;
	int family;			/* expected; 0: not decoded */
	uint8_t proto;
	bool ports, icmp, frag, trunc;
	uint16_t sport, dport;
	uint8_t icmp_type;
};

static size_t build_payload(unsigned i, uint8_t *p, uint16_t *hw);

static const struct dcase dcases[] = {
	{ "v4 tcp with options", AF_INET, IPPROTO_TCP, .ports = true, .sport = 50000, .dport = 8080 },
	{ "v4 icmp echo", AF_INET, IPPROTO_ICMP, .icmp = true, .icmp_type = 8 },
	{ "v4 later fragment", AF_INET, IPPROTO_UDP, .frag = true },
	{ "v4 first fragment", AF_INET, IPPROTO_UDP, .ports = true, .sport = 1234, .dport = 53 },
	{ "v4 header only", AF_INET, IPPROTO_TCP, .trunc = true },
	{ "v4 two bytes of tcp", AF_INET, IPPROTO_TCP, .trunc = true },
	{ "v4 shorter than a header", .family = 0 },
	{ "v4 ihl beyond capture", .family = 0 },
	{ "v4 ihl below 5", .family = 0 },
	{ "v4 total length below ihl", .family = 0 },
	{ "v6 tcp", AF_INET6, IPPROTO_TCP, .ports = true, .sport = 50000, .dport = 8080 },
	{ "v6 icmpv6 echo", AF_INET6, IPPROTO_ICMPV6, .icmp = true, .icmp_type = 128 },
	{ "v6 hop-by-hop, dstopts, udp", AF_INET6, IPPROTO_UDP, .ports = true, .sport = 1234,
	  .dport = 53 },
	{ "v6 first fragment, udp", AF_INET6, IPPROTO_UDP, .ports = true, .sport = 1234,
	  .dport = 53 },
	{ "v6 later fragment", AF_INET6, IPPROTO_UDP, .frag = true },
	{ "v6 ext header beyond capture", AF_INET6, IPPROTO_DSTOPTS, .trunc = true },
	{ "v6 endless ext headers", AF_INET6, IPPROTO_HOPOPTS, .trunc = true },
	{ "v6 header cut short", .family = 0 },
	{ "v6 payload, v4 ethertype", .family = 0 },
	{ "v4 payload, v6 ethertype", .family = 0 },
	{ "version 5", .family = 0 },
	{ "empty payload", .family = 0 },
	{ "v4 esp: no ports", AF_INET, IPPROTO_ESP, .ports = false },
};

static size_t build_payload(unsigned i, uint8_t *p, uint16_t *hw)
{
	uint8_t ext[256] = {};
	size_t n;

	*hw = 0;
	switch (i) {
	case 0:
		return ipv4(p, 6, IPPROTO_TCP, 0, tcp_hdr, sizeof(tcp_hdr));
	case 1:
		return ipv4(p, 5, IPPROTO_ICMP, 0, icmp_echo, sizeof(icmp_echo));
	case 2:
		return ipv4(p, 5, IPPROTO_UDP, 0x0010, udp_hdr, sizeof(udp_hdr));
	case 3:
		return ipv4(p, 5, IPPROTO_UDP, 0x2000, udp_hdr, sizeof(udp_hdr)); /* MF only */
	case 4:
		ipv4(p, 5, IPPROTO_TCP, 0, tcp_hdr, sizeof(tcp_hdr));
		return 20;
	case 5:
		ipv4(p, 5, IPPROTO_TCP, 0, tcp_hdr, sizeof(tcp_hdr));
		return 22;
	case 6:
		ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
		return 19;
	case 7:
		ipv4(p, 15, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
		return 40;
	case 8:
		ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
		p[0] = 0x44;
		return 28;
	case 9:
		ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
		p[2] = 0;
		p[3] = 10;
		return 28;
	case 10:
		*hw = ETH_P_IPV6;
		return ipv6(p, IPPROTO_TCP, tcp_hdr, sizeof(tcp_hdr));
	case 11:
		return ipv6(p, IPPROTO_ICMPV6, icmp6_echo, sizeof(icmp6_echo));
	case 12:
		/* hop-by-hop (8 bytes) -> dstopts (16 bytes) -> udp */
		ext[0] = IPPROTO_DSTOPTS;
		ext[1] = 0;
		ext[8] = IPPROTO_UDP;
		ext[9] = 1;
		memcpy(ext + 24, udp_hdr, 8);
		return ipv6(p, IPPROTO_HOPOPTS, ext, 32);
	case 13:
		ext[0] = IPPROTO_UDP;
		ext[3] = 1;	/* offset 0, more fragments */
		memcpy(ext + 8, udp_hdr, 8);
		return ipv6(p, IPPROTO_FRAGMENT, ext, 16);
	case 14:
		ext[0] = IPPROTO_UDP;
		ext[2] = 0x01;	/* offset 32 */
		memcpy(ext + 8, udp_hdr, 8);
		return ipv6(p, IPPROTO_FRAGMENT, ext, 16);
	case 15:
		ext[0] = IPPROTO_DSTOPTS;
		ext[1] = 30;	/* 248 bytes: beyond the 8 captured */
		n = ipv6(p, IPPROTO_DSTOPTS, ext, 8);
		return n;
	case 16:
		/* A chain of empty hop-by-hop headers longer than the walk allows. */
		for (int k = 0; k < 20; k++)
			ext[k * 8] = IPPROTO_HOPOPTS;
		return ipv6(p, IPPROTO_HOPOPTS, ext, 160);
	case 17:
		ipv6(p, IPPROTO_TCP, tcp_hdr, sizeof(tcp_hdr));
		return 39;
	case 18:
		*hw = ETH_P_IP;
		return ipv6(p, IPPROTO_TCP, tcp_hdr, sizeof(tcp_hdr));
	case 19:
		*hw = ETH_P_IPV6;
		return ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
	case 20:
		ipv4(p, 5, IPPROTO_UDP, 0, udp_hdr, sizeof(udp_hdr));
		p[0] = 0x55;
		return 28;
	case 21:
		return 0;
	case 22:
		return ipv4(p, 5, IPPROTO_ESP, 0, udp_hdr, sizeof(udp_hdr));
	}
	return 0;
}

START_TEST(test_decode)
{
	const struct dcase *d = &dcases[_i];
	uint8_t p[512];
	uint16_t hw;
	size_t n = build_payload((unsigned)_i, p, &hw);
	struct craft c = { .nf_family = NFPROTO_INET, .hw_protocol = hw, .prefix = "x",
			   .payload = p, .payload_len = n };
	struct zt_nflog_packet pkt;

	/* Whatever the payload, the packet itself parses: the prefix is still worth logging. */
	ck_assert_int_eq(parse_one(&c, &pkt), 0);
	ck_assert_str_eq(pkt.prefix, "x");
	ck_assert_uint_eq(pkt.captured, n);
	ck_assert_msg(pkt.family == d->family, "%s: family %u", d->what, pkt.family);
	if (!d->family)
		return;
	ck_assert_msg(pkt.proto == d->proto, "%s: proto %u", d->what, pkt.proto);
	ck_assert_msg(pkt.has_ports == d->ports, "%s: ports", d->what);
	ck_assert_msg(pkt.has_icmp == d->icmp, "%s: icmp", d->what);
	ck_assert_msg(pkt.fragment == d->frag, "%s: fragment", d->what);
	ck_assert_msg(pkt.truncated == d->trunc, "%s: truncated", d->what);
	if (d->ports) {
		ck_assert_uint_eq(pkt.sport, d->sport);
		ck_assert_uint_eq(pkt.dport, d->dport);
	}
	if (d->icmp)
		ck_assert_uint_eq(pkt.icmp_type, d->icmp_type);
	if (d->family == AF_INET6) {
		assert_addr(pkt.saddr, AF_INET6, "2001:db8::1");
		assert_addr(pkt.daddr, AF_INET6, "2001:db8::2");
	}
}
END_TEST

START_TEST(test_prefix_not_terminated)
{
	struct craft c = { .raw_prefix = "abcdef", .raw_prefix_len = 3 };
	struct zt_nflog_packet pkt;

	ck_assert_int_eq(parse_one(&c, &pkt), 0);
	ck_assert_str_eq(pkt.prefix, "abc");
	ck_assert_uint_eq(pkt.family, 0);	/* no payload */
}
END_TEST

START_TEST(test_prefix_too_long)
{
	char longp[300];
	struct craft c = { .raw_prefix = longp, .raw_prefix_len = sizeof(longp) };
	struct zt_nflog_packet pkt;

	memset(longp, 'p', sizeof(longp));
	ck_assert_int_eq(parse_one(&c, &pkt), 0);
	ck_assert_uint_eq(strlen(pkt.prefix), ZT_NFLOG_PREFIX_MAX - 1);
}
END_TEST

START_TEST(test_prefix_embedded_nul)
{
	struct craft c = { .raw_prefix = "ab\0cd", .raw_prefix_len = 5 };
	struct zt_nflog_packet pkt;

	ck_assert_int_eq(parse_one(&c, &pkt), 0);
	ck_assert_str_eq(pkt.prefix, "ab");
}
END_TEST

START_TEST(test_uid_hwaddr_unknown_attr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct craft c = { .uid = true, .prefix = "" };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct nfulnl_msg_packet_hw hw = { .hw_addrlen = htons(6),
					   .hw_addr = { 2, 0, 0, 0, 0, 1 } };
	struct nfulnl_msg_packet_hw bighw = { .hw_addrlen = htons(200) };
	struct zt_nflog_packet pkt;

	mnl_attr_put(nlh, NFULA_HWADDR, sizeof(hw), &hw);
	mnl_attr_put_u16(nlh, NFULA_HWTYPE, htons(1));
	mnl_attr_put(nlh, NFULA_HWHEADER, 14, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x08\x00");
	mnl_attr_put_u16(nlh, NFULA_HWLEN, htons(400));	/* lies: more than the attribute */
	mnl_attr_put_u32(nlh, 250, 0xdeadbeef);		/* from a future kernel */
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), 0);
	ck_assert(pkt.has_uid);
	ck_assert_uint_eq(pkt.uid, 1000);
	ck_assert_uint_eq(pkt.gid, 100);
	ck_assert_uint_eq(pkt.hw_addr_len, 6);
	ck_assert_uint_eq(pkt.hw_addr[5], 1);
	ck_assert_uint_eq(pkt.hw_type, 1);
	ck_assert_uint_eq(pkt.hw_header_len, 14);
	ck_assert_str_eq(pkt.prefix, "");

	/* A claimed address length beyond the 8-byte field is capped. */
	mnl_attr_put(nlh, NFULA_HWADDR, sizeof(bighw), &bighw);
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), 0);
	ck_assert_uint_eq(pkt.hw_addr_len, 8);
}
END_TEST

/* NFULA_CT (a kernel with NETLINK_GLUE_CT): the connection's mark; a short or odd nest is no mark. */
START_TEST(test_ct_mark)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct craft c = { .prefix = "ztseg deny " };
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	struct zt_nflog_packet pkt;

	memset(buf, 0, sizeof(buf));
	nlh = craft(buf, &c);
	nest = mnl_attr_nest_start(nlh, NFULA_CT);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(8));
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(0x00020007));
	mnl_attr_nest_end(nlh, nest);
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), 0);
	ck_assert(pkt.has_ct_mark);
	ck_assert_uint_eq(pkt.ct_mark, 0x00020007);

	memset(buf, 0, sizeof(buf));
	nlh = craft(buf, &c);
	nest = mnl_attr_nest_start(nlh, NFULA_CT);
	mnl_attr_put_u16(nlh, CTA_MARK, htons(7));	/* too short for a mark */
	mnl_attr_nest_end(nlh, nest);
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), 0);
	ck_assert(!pkt.has_ct_mark);

	memset(buf, 0, sizeof(buf));
	nlh = craft(buf, &c);
	mnl_attr_put(nlh, NFULA_CT, 3, "\xff\xff\xff");	/* garbage, not a nest */
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), 0);
	ck_assert(!pkt.has_ct_mark);
}
END_TEST

/* Messages that must be refused. */
START_TEST(test_malformed)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct craft c = { .prefix = "x" };
	struct zt_nflog_packet pkt;
	struct nlmsghdr *nlh;
	struct nlattr *a;

	/* No packet header. */
	c.no_hdr = true;
	ck_assert_int_eq(parse_one(&c, &pkt), -EBADMSG);
	c.no_hdr = false;

	/* An ifindex attribute too short for a u32. */
	nlh = craft(buf, &c);
	mnl_attr_put(nlh, NFULA_IFINDEX_INDEV, 2, "\0\1");
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -EBADMSG);

	/* A packet header too short for its struct. */
	nlh = craft(buf, &(struct craft){ .no_hdr = true });
	mnl_attr_put(nlh, NFULA_PACKET_HDR, 2, "\x08\x00");
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -EBADMSG);

	/* Bytes after the last attribute that are no attribute. */
	nlh = craft(buf, &c);
	memset((char *)nlh + nlh->nlmsg_len, 0xff, 8);
	nlh->nlmsg_len += 8;
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -EBADMSG);

	/* An attribute claiming more than the message holds. */
	nlh = craft(buf, &c);
	a = (struct nlattr *)((char *)nlh + nlh->nlmsg_len);
	a->nla_type = NFULA_PAYLOAD;
	a->nla_len = 200;
	nlh->nlmsg_len += 8;
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -EBADMSG);

	/* Too short for the nfgenmsg. */
	nlh = craft(buf, &c);
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN + 2;
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -EBADMSG);

	/* Not NFLOG at all: conntrack, and NFLOG's own config message. */
	nlh = craft(buf, &c);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -ENOMSG);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	ck_assert_int_eq(zt_nflog_parse(nlh, &pkt), -ENOMSG);
}
END_TEST

struct collect {
	unsigned n;
	char prefixes[8][ZT_NFLOG_PREFIX_MAX];
};

static void collect_cb(const struct zt_nflog_packet *pkt, void *ud)
{
	struct collect *col = ud;

	if (col->n < ELEMENTSOF(col->prefixes))
		snprintf(col->prefixes[col->n], sizeof(col->prefixes[0]), "%s", pkt->prefix);
	col->n++;
}

/* A datagram as the kernel batches it: several packets, then NLMSG_DONE. */
static size_t batch(char *buf, bool bad_middle)
{
	size_t off = 0;
	struct nlmsghdr *nlh;

	nlh = craft(buf + off, &(struct craft){ .prefix = "one" });
	nlh->nlmsg_flags = NLM_F_MULTI;
	off += nlh->nlmsg_len;
	nlh = craft(buf + off, &(struct craft){ .prefix = "two", .no_hdr = bad_middle });
	nlh->nlmsg_flags = NLM_F_MULTI;
	off += nlh->nlmsg_len;
	nlh = craft(buf + off, &(struct craft){ .prefix = "three" });
	nlh->nlmsg_flags = NLM_F_MULTI;
	off += nlh->nlmsg_len;
	nlh = mnl_nlmsg_put_header(buf + off);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	off += nlh->nlmsg_len;
	return off;
}

START_TEST(test_batch)
{
	char buf[4 * MNL_SOCKET_BUFFER_SIZE];
	struct zt_nflog_stats st = {};
	struct collect col = {};
	size_t n = batch(buf, false);

	ck_assert_int_eq(zt_nflog_parse_buf(buf, n, collect_cb, &col, &st), 3);
	ck_assert_uint_eq(col.n, 3);
	ck_assert_str_eq(col.prefixes[0], "one");
	ck_assert_str_eq(col.prefixes[2], "three");
	ck_assert_uint_eq(st.packets, 3);
	ck_assert_uint_eq(st.malformed, 0);

	/* A bad message in the middle is skipped, the others still delivered. */
	memset(&col, 0, sizeof(col));
	memset(&st, 0, sizeof(st));
	n = batch(buf, true);
	ck_assert_int_eq(zt_nflog_parse_buf(buf, n, collect_cb, &col, &st), 2);
	ck_assert_str_eq(col.prefixes[1], "three");
	ck_assert_uint_eq(st.malformed, 1);

	/* A datagram cut inside its second message. */
	memset(&col, 0, sizeof(col));
	memset(&st, 0, sizeof(st));
	n = batch(buf, false);
	{
		size_t first = ((struct nlmsghdr *)buf)->nlmsg_len;

		ck_assert_int_eq(zt_nflog_parse_buf(buf, first + 10, collect_cb, &col, &st), 1);
	}
	ck_assert_uint_eq(st.malformed, 1);
}
END_TEST

/* Random datagrams and random corruptions of a good one: no crash, no overread (ASan). */
START_TEST(test_fuzz)
{
	unsigned seed = 0xf00d + (unsigned)_i;
	char good[4 * MNL_SOCKET_BUFFER_SIZE];
	size_t n = batch(memset(good, 0, sizeof(good)), false), len;
	struct zt_nflog_stats st = {};
	_cleanup_free_ char *buf = NULL;

	if (_i % 2) {
		len = (size_t)rand_r(&seed) % 600;
		buf = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)rand_r(&seed);
		/* Make the first header plausible so parsing goes past it. */
		if (len >= 20) {
			struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

			nlh->nlmsg_len = (uint32_t)(16 + (size_t)rand_r(&seed) % (len - 15));
			nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
		}
	} else {
		len = n;
		buf = malloc(len);
		memcpy(buf, good, len);
		for (int k = 0; k < 8; k++)
			buf[(size_t)rand_r(&seed) % len] = (char)rand_r(&seed);
	}
	/* An exact-size heap copy, so ASan sees any read past the end. */
	ck_assert_int_ge(zt_nflog_parse_buf(buf, len, NULL, NULL, &st), 0);
}
END_TEST

/* ---- token bucket ---- */

START_TEST(test_ratelimit)
{
	struct zt_ratelimit rl = ZT_RATELIMIT_INIT(2, 3);	/* 2/s, burst 3 */
	uint64_t t = 5000000;

	for (int i = 0; i < 3; i++)
		ck_assert(zt_ratelimit_test(&rl, t));
	ck_assert(!zt_ratelimit_test(&rl, t));
	ck_assert(!zt_ratelimit_test(&rl, t + 400000));		/* 0.8 tokens */
	ck_assert(zt_ratelimit_test(&rl, t + 500000));		/* 1.0 */
	ck_assert(!zt_ratelimit_test(&rl, t + 500000));
	ck_assert_uint_eq(zt_ratelimit_take_suppressed(&rl), 3);
	ck_assert_uint_eq(zt_ratelimit_take_suppressed(&rl), 0);
	/* A long quiet spell refills to the burst, not beyond. */
	t += 3600 * ZT_USEC_PER_SEC_TEST;
	for (int i = 0; i < 3; i++)
		ck_assert(zt_ratelimit_test(&rl, t));
	ck_assert(!zt_ratelimit_test(&rl, t));
	/* Time going backwards does not mint tokens. */
	ck_assert(!zt_ratelimit_test(&rl, t - 10 * ZT_USEC_PER_SEC_TEST));
}
END_TEST

START_TEST(test_ratelimit_extremes)
{
	struct zt_ratelimit rl = ZT_RATELIMIT_INIT(UINT64_MAX, UINT64_MAX);
	struct zt_ratelimit zero = ZT_RATELIMIT_INIT(0, 1);

	ck_assert(zt_ratelimit_test(&rl, 1));
	ck_assert(zt_ratelimit_test(&rl, UINT64_MAX));
	ck_assert(zt_ratelimit_test(&rl, UINT64_MAX));
	/* rate 0: the burst once, then never again. */
	ck_assert(zt_ratelimit_test(&zero, 1));
	ck_assert(!zt_ratelimit_test(&zero, UINT64_MAX));
}
END_TEST

/* ---- the kernel, as root, in a new network namespace ---- */

static int lo_up(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd < 0)
		return -1;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

static int nft_load(const char *rules)
{
	FILE *p = popen("nft -f - 2>/dev/null", "w");

	if (!p)
		return -1;
	fputs(rules, p);
	return pclose(p) == 0 ? 0 : -1;
}

static int send_udp(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	}
	r = sendto(fd, "ztseg", 5, 0, (struct sockaddr *)&ss, len) == 5 ? 0 : -1;
	close(fd);
	return r;
}

struct seen {
	unsigned n;
	struct zt_nflog_packet pkt[4];
};

static void seen_cb(const struct zt_nflog_packet *pkt, void *ud)
{
	struct seen *s = ud;

	if (s->n < ELEMENTSOF(s->pkt))
		s->pkt[s->n] = *pkt;
	s->n++;
}

/* Read until want packets arrived or 3 s passed. */
static void wait_packets(struct zt_nflog *nf, struct seen *s, unsigned want)
{
	for (int i = 0; i < 30 && s->n < want; i++) {
		struct pollfd pfd = { .fd = zt_nflog_fd(nf), .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0 && zt_nflog_receive(nf, seen_cb, s) < 0)
			return;
	}
}

static bool is_loopback(const struct zt_nflog_packet *p, int family)
{
	uint8_t a[16] = {};

	inet_pton(family, family == AF_INET ? "127.0.0.1" : "::1", a);
	return p->family == family && memcmp(p->saddr, a, family == AF_INET ? 4 : 16) == 0 &&
	       memcmp(p->daddr, a, family == AF_INET ? 4 : 16) == 0;
}

/* A logged packet forged by a process (root can unicast to any netlink port): sent to nf's port. */
static int send_forged(struct zt_nflog *nf)
{
	char buf[1024] = {};
	struct craft c = { .prefix = "ztseg test " };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct sockaddr_nl own = {}, to = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(own);
	int fd, r = 0;

	if (getsockname(zt_nflog_fd(nf), (struct sockaddr *)&own, &len) < 0)
		return -errno;
	to.nl_pid = own.nl_pid;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* In the child: exit codes say which step failed. */
static int roundtrip_child(void)
{
	static const char rules[] =
		"table inet zttest {\n"
		"  chain out {\n"
		"    type filter hook output priority 0;\n"
		"    udp dport 9999 log prefix \"ztseg test \" group 7\n"
		"  }\n"
		"}\n";
	struct zt_nflog_config cfg = { .group = 7, .qthresh = 1 };
	struct zt_nflog *nf = NULL, *other = NULL;
	struct seen s = {};
	unsigned lo;
	int r;

	if (unshare(CLONE_NEWNET) < 0)
		return 2;
	if (lo_up() < 0)
		return 3;
	lo = if_nametoindex("lo");
	if (nft_load(rules) < 0)
		return 4;
	if (zt_nflog_open(&cfg, &nf) < 0)
		return 5;
	/* The group is ours: a second reader is turned away. */
	r = zt_nflog_open(&cfg, &other);
	if (r >= 0)
		return 6;
	if (send_udp(AF_INET, "127.0.0.1", 9999) < 0 || send_udp(AF_INET6, "::1", 9999) < 0)
		return 7;
	/* Not logged: another port. */
	if (send_udp(AF_INET, "127.0.0.1", 9998) < 0)
		return 7;
	wait_packets(nf, &s, 2);
	if (s.n != 2)
		return 8;
	for (unsigned i = 0; i < 2; i++) {
		const struct zt_nflog_packet *p = &s.pkt[i];

		if (strcmp(p->prefix, "ztseg test ") != 0)
			return 9;
		if (!is_loopback(p, i == 0 ? AF_INET : AF_INET6))
			return 10;
		if (p->proto != IPPROTO_UDP || !p->has_ports || p->dport != 9999)
			return 11;
		/* Loopback traffic is seen on output: an out-interface, no in-interface. */
		if (p->oif != lo || p->iif != 0 || p->hook != NF_INET_LOCAL_OUT)
			return 12;
		if (p->nf_family != (i == 0 ? NFPROTO_IPV4 : NFPROTO_IPV6))
			return 13;
	}
	/* A datagram from a process, not the kernel, is no logged packet. */
	memset(&s, 0, sizeof(s));
	if (send_forged(nf) < 0)
		return 18;
	send_udp(AF_INET, "127.0.0.1", 9999);
	wait_packets(nf, &s, 1);
	if (s.n != 1 || s.pkt[0].proto != IPPROTO_UDP || s.pkt[0].dport != 9999)
		return 19;
	zt_nflog_free(nf);

	/* A tiny receive buffer and a burst nobody reads: ENOBUFS is counted, not fatal. */
	cfg.rcvbuf = 1;
	if (zt_nflog_open(&cfg, &nf) < 0)
		return 14;
	for (int i = 0; i < 300; i++)
		send_udp(AF_INET, "127.0.0.1", 9999);
	memset(&s, 0, sizeof(s));
	if (zt_nflog_receive(nf, seen_cb, &s) < 0)
		return 15;
	if (zt_nflog_stats(nf)->overruns == 0 || s.n == 0 || s.n >= 300)
		return 16;
	/* And the reader carries on afterwards. */
	memset(&s, 0, sizeof(s));
	send_udp(AF_INET, "127.0.0.1", 9999);
	wait_packets(nf, &s, 1);
	if (s.n != 1)
		return 17;
	zt_nflog_free(nf);
	return 0;
}

START_TEST(test_kernel_roundtrip)
{
	int status;
	pid_t pid;

	if (geteuid() != 0 || system("command -v nft >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_kernel_roundtrip: skipped (needs root and nft)\n");
		return;
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(roundtrip_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "round trip failed at step %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

static Suite *nflog_suite(void)
{
	Suite *s = suite_create("nflog");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_ipv4_udp);
	tcase_add_loop_test(tc, test_decode, 0, ELEMENTSOF(dcases));
	tcase_add_test(tc, test_prefix_not_terminated);
	tcase_add_test(tc, test_prefix_too_long);
	tcase_add_test(tc, test_prefix_embedded_nul);
	tcase_add_test(tc, test_uid_hwaddr_unknown_attr);
	tcase_add_test(tc, test_ct_mark);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_batch);
	tcase_add_loop_test(tc, test_fuzz, 0, 200);
	suite_add_tcase(s, tc);

	tc = tcase_create("ratelimit");
	tcase_add_test(tc, test_ratelimit);
	tcase_add_test(tc, test_ratelimit_extremes);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel");
	tcase_add_test(tc, test_kernel_roundtrip);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nflog_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
