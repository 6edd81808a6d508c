/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NFLOG reader (nfnetlink_log on libmnl): the packets ztseg's rules log,
 * decoded defensively into a flat struct; and a token bucket to bound what
 * the daemon writes about them.
 */
#ifndef ZT_NFLOG_H
#define ZT_NFLOG_H

#include <linux/netlink.h>
#include "util.h"

/* The kernel's NF_LOG_PREFIXLEN: nft's `log prefix` is at most 127 bytes. */
#define ZT_NFLOG_PREFIX_MAX 128
/* Enough for an IPv6 header, a few extension headers and the L4 ports. */
#define ZT_NFLOG_COPY_RANGE_DEFAULT 128
/* Flush the kernel's per-group queue after this many packets or 1/100 s ticks. */
#define ZT_NFLOG_QTHRESH_DEFAULT 16
#define ZT_NFLOG_TIMEOUT_DEFAULT 10

struct zt_nflog_config {
	uint16_t group;			/* the `log group N` of the rules */
	uint32_t copy_range;		/* bytes of each packet; 0: default */
	uint32_t qthresh;		/* 0: default */
	uint32_t timeout_cs;		/* 0: default */
	int rcvbuf;			/* SO_RCVBUF(FORCE) bytes; 0: the system's default */
	bool conntrack;			/* ask for the connection (NFULNL_CFG_F_CONNTRACK): its mark */
};

/* One logged packet. Fields the kernel did not send are 0 / false. */
struct zt_nflog_packet {
	char prefix[ZT_NFLOG_PREFIX_MAX];	/* always NUL-terminated, may be empty */
	uint8_t nf_family;		/* nfgenmsg family: NFPROTO_IPV4, _IPV6, _BRIDGE, ... */
	uint8_t hook;			/* NF_INET_* hook */
	uint16_t hw_protocol;		/* ethertype, host order */
	uint32_t iif, oif;		/* interface indexes */
	uint32_t phys_iif, phys_oif;	/* bridge ports */
	uint32_t mark;
	bool has_ct_mark;		/* NFULA_CT carried CTA_MARK (the connection's mark) */
	uint32_t ct_mark;
	bool has_uid;			/* locally generated, with a socket */
	uint32_t uid, gid;
	uint16_t hw_type;		/* ARPHRD_* */
	uint16_t hw_header_len;		/* NFULA_HWHEADER length */
	uint8_t hw_addr[8];		/* source MAC (NFULA_HWADDR) */
	uint16_t hw_addr_len;
	uint32_t captured;		/* bytes of payload received (<= copy_range) */

	/* Decoded from the payload when it holds an IPv4/IPv6 header. */
	uint8_t family;			/* AF_INET, AF_INET6, or 0: not decoded */
	uint8_t saddr[16], daddr[16];	/* network byte order; IPv4 uses the first 4 */
	uint32_t length;		/* the packet's length per its IP header */
	uint8_t proto;			/* L4 protocol (after IPv6 extension headers) */
	bool fragment;			/* a non-first fragment: no L4 header */
	bool has_ports;			/* tcp, udp, udplite, sctp, dccp */
	uint16_t sport, dport;		/* host order */
	bool has_icmp;			/* icmp, icmpv6 */
	uint8_t icmp_type, icmp_code;
	bool truncated;			/* the L4 header lies beyond what was captured */
};

struct zt_nflog_stats {
	uint64_t packets;
	uint64_t overruns;		/* ENOBUFS: the kernel dropped log messages */
	uint64_t malformed;		/* messages that failed to parse, skipped */
};

struct zt_nflog;

/*
 * Open a NETLINK_NETFILTER socket, bind NFLOG group cfg->group, copy
 * packets (copy_range bytes), and leave the socket non-blocking. -EPERM
 * both without CAP_NET_ADMIN and when another socket has bound the group
 * (the kernel does not tell the two apart).
 */
int zt_nflog_open(const struct zt_nflog_config *cfg, struct zt_nflog **ret);
/* Unbinds the group. Accepts NULL; returns NULL. */
struct zt_nflog *zt_nflog_free(struct zt_nflog *nf);
static inline void zt_nflog_freep(struct zt_nflog **nf)
{
	zt_nflog_free(*nf);
}
#define _cleanup_nflog_ _cleanup_(zt_nflog_freep)

int zt_nflog_fd(const struct zt_nflog *nf);
/* Whether the kernel adds each packet's connection (its mark) to the messages. */
bool zt_nflog_conntrack(const struct zt_nflog *nf);
const struct zt_nflog_stats *zt_nflog_stats(const struct zt_nflog *nf);

/*
 * Read the datagrams waiting on the socket (never blocks; at most a batch
 * per call, so a flood cannot hold the loop: the fd stays readable) and
 * call cb for each logged packet. Returns the number of packets, or -errno
 * on a failure of the socket itself. ENOBUFS (messages lost) is counted in
 * the stats and reading goes on: it is not fatal.
 */
int zt_nflog_receive(struct zt_nflog *nf,
		     void (*cb)(const struct zt_nflog_packet *pkt, void *userdata),
		     void *userdata);

/*
 * Parse one datagram (one or more netlink messages), calling cb for each
 * NFULNL_MSG_PACKET. Messages that fail to parse are skipped and counted
 * in stats->malformed (stats may be NULL). Returns the number of packets.
 */
int zt_nflog_parse_buf(const void *buf, size_t len,
		       void (*cb)(const struct zt_nflog_packet *pkt, void *userdata),
		       void *userdata, struct zt_nflog_stats *stats);

/* Parse one message: 0, -ENOMSG when it is not an NFLOG packet, -EBADMSG when malformed. */
int zt_nflog_parse(const struct nlmsghdr *nlh, struct zt_nflog_packet *ret);

/*
 * Decode the IPv4/IPv6 and L4 headers of a captured payload into pkt
 * (family and the fields after it). hint is AF_INET/AF_INET6 when the
 * caller knows it (from the ethertype or the nfgenmsg family), 0 to go by
 * the version nibble. -EBADMSG when there is no sound IP header.
 */
int zt_nflog_decode_payload(const uint8_t *p, size_t len, uint8_t hint,
			    struct zt_nflog_packet *pkt);

/* ---- token bucket ---- */

struct zt_ratelimit {
	uint64_t rate;			/* tokens per second */
	uint64_t burst;			/* bucket size */
	uint64_t tokens;		/* in millionths of a token */
	uint64_t last_usec;
	uint64_t suppressed;		/* refused since the last zt_ratelimit_take_suppressed() */
	bool started;
};

#define ZT_RATELIMIT_INIT(r, b) ((struct zt_ratelimit){ .rate = (r), .burst = (b) })

/* Take one token at now_usec (CLOCK_MONOTONIC); false (and counted) when empty. */
bool zt_ratelimit_test(struct zt_ratelimit *rl, uint64_t now_usec);
/* How many were refused since the last call, and reset the count. */
uint64_t zt_ratelimit_take_suppressed(struct zt_ratelimit *rl);

#endif
