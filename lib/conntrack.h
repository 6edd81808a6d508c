/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection tracking (ctnetlink on libmnl): forget the connections of
 * addresses that moved to another zone, so that their next packet is
 * judged again under the zone they are in now (TCP's loose pickup makes
 * it a new connection).
 */
#ifndef ZT_CONNTRACK_H
#define ZT_CONNTRACK_H

#include "net.h"

struct nlmsghdr;

/* Entries deleted per pass: a bound on what one call holds in memory. */
#define ZT_CT_PASS_MAX 65536

/* One conntrack entry, as much of it as deciding and deleting needs. */
struct zt_ct_entry {
	uint8_t family;			/* AF_INET, AF_INET6 */
	/* original source, original destination, reply source, reply destination */
	uint8_t addr[4][16];
	bool has_addr[4];
	bool has_id;
	uint32_t id;			/* CTA_ID, network order as the kernel sends it */
	bool has_zone;
	uint16_t zone;			/* CTA_ZONE, network order */
	bool has_labels;
	uint32_t labels[4];		/* CTA_LABELS as the kernel keeps them (zeros past its length) */
	const void *orig;		/* the CTA_TUPLE_ORIG attribute, inside the message */
	uint16_t orig_len;		/* its length, header included */
};

/* A CTA_TUPLE_* attribute: addresses, protocol, ports or ICMP type. */
struct zt_ct_tuple {
	uint8_t src[16], dst[16];
	bool has_src, has_dst;
	bool has_proto;
	uint8_t proto;
	bool has_ports;
	uint16_t sport, dport;		/* host order */
	bool has_icmp;
	uint8_t icmp_type;
};

struct nlattr;
/* Parse a tuple of an event or dump reply of family: 0, or -EBADMSG (wrong lengths, a foreign family's address). */
int zt_ct_tuple_parse(const struct nlattr *a, uint8_t family, struct zt_ct_tuple *ret);

/*
 * Parse one IPCTNL_MSG_CT_NEW message (a dump reply or an event) of at
 * most len bytes. Returns 0, -ENOMSG for another kind of message, or
 * -EBADMSG when it is malformed. Pure; ret->orig points into nlh.
 */
int zt_ct_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_entry *ret);

/* The same, a NEW or a DELETE message (the DESTROY event of a connection). */
int zt_ct_parse_event(const struct nlmsghdr *nlh, size_t len, struct zt_ct_entry *ret);

/* An IPCTNL_MSG_CT_NEW message of an IP family: 0 and the family, -ENOMSG (another), -EBADMSG. Pure. */
int zt_ct_msg_family(const struct nlmsghdr *nlh, size_t len, uint8_t *ret);

/* Does any address of the entry lie in one of the prefixes (of its family)? */
bool zt_ct_entry_in(const struct zt_ct_entry *e, const struct zt_cidr *pfx, size_t n);

/*
 * The IPCTNL_MSG_CT_DELETE request for e: its original tuple, id and zone,
 * so that a new connection that reuses the tuple meanwhile is left alone.
 * Writes at most len bytes at buf; returns the length, or -ENOBUFS.
 */
int zt_ct_delete_msg(const struct zt_ct_entry *e, uint32_t seq, void *buf, size_t len);

struct zt_ct_stats {
	uint64_t scanned;		/* entries looked at */
	uint64_t matched;		/* with an address in a prefix */
	uint64_t deleted;
	uint64_t gone;			/* went away by themselves before the delete */
	uint64_t failed;		/* refused for another reason */
	uint64_t walks;			/* table dumps (each walks the whole hash table) */
	uint64_t empty;			/* calls that found the namespace's table empty: no walk */
	uint64_t indexed;		/* answered from the connection index (ctindex.h): no walk */
	uint64_t unread;		/* reads of the deletes' errors that failed (some lost, or a bad
					 * answer): a kept socket is to be reopened */
};

/*
 * Delete every conntrack entry of the current network namespace with an
 * address (either direction, NAT included) in one of the prefixes: unless
 * the namespace has no entries at all (asked first: a dump walks the whole
 * hash table, shared by all namespaces), one dump (of the prefixes'
 * family, or of both), then the deletes in a few sendmsg calls.
 * Stats accumulate into st (may be NULL). Returns 0 or -errno.
 */
int zt_ct_flush_prefixes(const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st);

/* Each entry the dump saw and did not delete (e->orig points into the message): 0 or -errno to stop. */
typedef int (*zt_ct_keep_cb)(const struct zt_ct_entry *e, void *data);
/*
 * The same, and keep (if not NULL) is told every other entry of the
 * namespace (all families; with n 0, a dump that deletes nothing): the
 * walk that rebuilds the connection index (ctindex.h) in passing.
 */
int zt_ct_flush_prefixes_keep(const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st, zt_ct_keep_cb keep,
			      void *keep_data);

/*
 * The IPCTNL_MSG_CT_NEW request that clears the label bits mask of e (its
 * original tuple and zone; no NLM_F_CREATE: an update of that entry only).
 * Writes at most len bytes at buf; returns the length, or -ENOBUFS.
 */
int zt_ct_unlabel_msg(const struct zt_ct_entry *e, const uint32_t mask[4], uint32_t seq, void *buf, size_t len);

/* Is e one of the entries wanted (an address of it in some ranges)? */
typedef bool (*zt_ct_match_fn)(const struct zt_ct_entry *e, void *data);
/*
 * Clear the label bits mask on every conntrack entry of the current
 * namespace that carries one of them and that match says yes to: one dump
 * (none when the namespace has no entries), then an update per entry. In
 * st, deleted counts the entries changed, gone those that went away first.
 * Returns 0 or -errno.
 */
int zt_ct_unlabel(const uint32_t mask[4], zt_ct_match_fn match, void *data, struct zt_ct_stats *st);

/* Delete these entries (their original tuple, id and zone), no dump: 0 or -errno. */
int zt_ct_delete_entries(const struct zt_ct_entry *e, size_t n, struct zt_ct_stats *st);

/* This namespace's conntrack entries (IPCTNL_MSG_CT_GET_STATS), one message, no walk: 0 or -errno. */
int zt_ct_count(int64_t *ret);

/*
 * The same two on a socket kept open (NULL: one opened for the call).
 * Closing a netlink socket is not free: measured here, close() took 5-33 ms
 * while nf_tables commits kept the host busy, and a move paid it on its
 * way to enforcement. zt_ct_open: that socket (zt_nl_close ends it).
 */
struct zt_nl;
int zt_ct_open(struct zt_nl *nl);
int zt_ct_count_on(struct zt_nl *nl, int64_t *ret);
int zt_ct_delete_entries_on(struct zt_nl *nl, const struct zt_ct_entry *e, size_t n, struct zt_ct_stats *st);

/*
 * Delete every conntrack entry of the current network namespace whose
 * mark & mask is mark (a grant's connections): one IPCTNL_MSG_CT_DELETE without
 * a tuple, filtered by CTA_MARK and CTA_MARK_MASK in the kernel, no dump.
 * Returns 0 or -errno.
 */
int zt_ct_flush_mark(uint32_t mark, uint32_t mask);

/* Observe mode (conntrack-observe.c): a would-deny connection, as a dump reports it. */
struct zt_ct_seen {
	uint8_t family;			/* AF_INET, AF_INET6 */
	uint8_t proto;			/* IPPROTO_* */
	uint8_t has_addrs;		/* 3: both */
	uint8_t saddr[16], daddr[16];	/* original direction */
	uint16_t dport;			/* tcp, udp, sctp */
	int icmp_type;			/* icmp, icmpv6; -1 otherwise */
	uint32_t mark, status, id;	/* host order */
};

/* Parse one IPCTNL_MSG_CT_NEW message; 0, -ENOMSG (not IP, not a connection), -EBADMSG. Pure. */
int zt_ct_seen_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_seen *ret);
/* Did it complete: TCP's handshake finished (assured), or any other protocol saw a reply? */
bool zt_ct_seen_completed(const struct zt_ct_seen *s);
/* A mark that is a zone pair (src << 16 | dst): what a would-deny connection keeps. */
bool zt_ct_mark_is_pair(uint32_t mark);

typedef int (*zt_ct_seen_cb)(const struct zt_ct_seen *s, void *data);
/*
 * Every conntrack entry of this network namespace whose mark is a zone
 * pair, through cb; one dump, the kernel filtering by mark (bits 31 and
 * 15 clear). Returns 0, cb's first error, or -errno.
 */
int zt_ct_dump_pairs(zt_ct_seen_cb cb, void *data);
/* The same for the entries whose mark & mask is mark (anomaly episodes: a flow's connections). */
int zt_ct_dump_marked(uint32_t mark, uint32_t mask, zt_ct_seen_cb cb, void *data);

#endif
