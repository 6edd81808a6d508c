/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conntrack events (ctnetlink multicast on libmnl): NEW and DESTROY of
 * connections, with their original tuple, mark and (with
 * net.netfilter.nf_conntrack_acct=1) packets and bytes both ways. The
 * allowed half of the connection log; parsed with bounds checks.
 */
#ifndef ZT_CTEVENT_H
#define ZT_CTEVENT_H

#include "util.h"

struct nlmsghdr;

/* The receive buffer the log asks for: ~29.5k NEW/s were read without loss with 32 MiB (NOTES.md). */
#define ZT_CTEVENT_RCVBUF (32 * 1024 * 1024)

enum zt_ct_event_type { ZT_CT_EVENT_NEW = 1, ZT_CT_EVENT_DESTROY };

struct zt_ct_event {
	enum zt_ct_event_type type;
	uint8_t family;			/* AF_INET, AF_INET6 */
	uint8_t proto;			/* IPPROTO_* */
	uint8_t saddr[16], daddr[16];	/* the original direction; IPv4 in the first 4 */
	bool has_ports;
	uint16_t sport, dport;		/* host order */
	bool has_icmp;
	uint8_t icmp_type;
	uint32_t mark;			/* CTA_MARK, host order; 0 if absent */
	bool has_counters;
	uint64_t packets[2], bytes[2];	/* [0] original (client to server), [1] reply */
	uint32_t id;			/* CTA_ID, host order */
	const struct nlmsghdr *nlh;	/* the message parsed, valid during the callback only */
	size_t len;
};

struct zt_ct_event_stats {
	uint64_t events;
	uint64_t overruns;		/* ENOBUFS: the kernel dropped events for us */
	uint64_t malformed;
};

struct zt_ctevent;

/* Subscribe to NEW and DESTROY (CAP_NET_ADMIN), rcvbuf bytes (FORCE first), non-blocking. */
int zt_ctevent_open(int rcvbuf, struct zt_ctevent **ret);
/* Accepts NULL; returns NULL. */
struct zt_ctevent *zt_ctevent_free(struct zt_ctevent *ce);
int zt_ctevent_fd(const struct zt_ctevent *ce);
const struct zt_ct_event_stats *zt_ctevent_stats(const struct zt_ctevent *ce);
/*
 * Read what is queued, at most a batch per call (the fd stays readable),
 * calling cb for each event. Returns the number of events or -errno of the
 * socket; ENOBUFS is counted and reading goes on.
 */
int zt_ctevent_receive(struct zt_ctevent *ce, void (*cb)(const struct zt_ct_event *ev, void *userdata),
		       void *userdata);
/* One message: 0, -ENOMSG for another kind, -EBADMSG when malformed. Pure. */
int zt_ctevent_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_event *ret);

#endif
