/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection log's records (issue 22): one per judged connection,
 * as JSON lines with stable keys (doc: ztsegctl(8), LOG RECORDS) or a text
 * line; the filters a reader asks for; the bounded ring that --since reads;
 * the bounded per-reader queue of shared frames that a slow reader loses
 * records from instead of stalling the daemon. Pure: no I/O, no clock.
 */
#ifndef ZT_FLOWREC_H
#define ZT_FLOWREC_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <jansson.h>

#define ZT_FLOWREC_ZONE_MAX 98		/* ZT_PLAN_ZONE_NAME_MAX */
#define ZT_FLOWREC_FLOW_MAX 115		/* ZT_PLAN_FLOW_NAME_MAX */
#define ZT_FLOWREC_VERDICT_MAX 16

enum zt_flowrec_event {
	ZT_FLOWREC_OPEN = 1,		/* an allowed connection began (conntrack NEW) */
	ZT_FLOWREC_CLOSE,		/* it ended (conntrack DESTROY), with its counters */
	ZT_FLOWREC_DENY,		/* a connection's first packet was refused (NFLOG) */
};

struct zt_flowrec {
	uint64_t seq;			/* the daemon's record number, from 1 */
	uint64_t time_usec;		/* CLOCK_REALTIME */
	enum zt_flowrec_event event;
	char verdict[ZT_FLOWREC_VERDICT_MAX];	/* allow, deny, spoof, would-deny */
	uint8_t family;			/* AF_INET, AF_INET6 */
	uint8_t proto;			/* IPPROTO_* */
	uint8_t saddr[16], daddr[16];
	bool has_ports;
	uint16_t sport, dport;
	bool has_icmp;
	uint8_t icmp_type;
	char from[ZT_FLOWREC_ZONE_MAX], to[ZT_FLOWREC_ZONE_MAX];	/* "" unknown */
	char flow[ZT_FLOWREC_FLOW_MAX];	/* "" : none (the default verdict) */
	bool has_counters;
	uint64_t packets[2], bytes[2];	/* [0] original direction, [1] reply */
};

const char *zt_flowrec_event_name(enum zt_flowrec_event e);
/* "tcp", "udp", "sctp", "icmp", "icmpv6" or the number. */
const char *zt_flowrec_proto_name(uint8_t proto, char buf[8]);

/* The record as a JSON object (keys in ztsegctl(8)); NULL on no memory. */
json_t *zt_flowrec_json(const struct zt_flowrec *r);
/* One text line without its newline: "TIME VERDICT EVENT PROTO SRC -> DST FROM -> TO flow F [counters]". */
int zt_flowrec_text(const struct zt_flowrec *r, char *buf, size_t len);

/* What a reader wants; empty fields match everything. */
struct zt_flowrec_filter {
	char zone[ZT_FLOWREC_ZONE_MAX];	/* either side: the zone, or a subnet of that segment */
	char flow[ZT_FLOWREC_FLOW_MAX];	/* exact; "default" for records without a flow */
	char verdict[ZT_FLOWREC_VERDICT_MAX];
	uint64_t since_usec;		/* records at or after (the ring's) */
};
bool zt_flowrec_match(const struct zt_flowrec_filter *f, const struct zt_flowrec *r);
/* From a request's args: "zone", "flow", "verdict" strings, "since" µs; -EINVAL with why. */
int zt_flowrec_filter_from_json(const json_t *args, struct zt_flowrec_filter *ret, const char **why);
json_t *zt_flowrec_filter_json(const struct zt_flowrec_filter *f);
/*
 * --since: "30s", "5m", "2h", "1d" before now, "@EPOCH" seconds, or
 * "YYYY-MM-DDTHH:MM:SSZ" (UTC); into µs since the epoch. -EINVAL.
 */
int zt_flowrec_since_parse(const char *s, uint64_t now_usec, uint64_t *ret);

/* ---- the ring of recent records (what --since can reach) ---- */

struct zt_flowring {
	struct zt_flowrec *v;
	size_t cap, head, n;		/* head: the oldest */
};
int zt_flowring_init(struct zt_flowring *ring, size_t cap);
void zt_flowring_clear(struct zt_flowring *ring);
/* Appends, overwriting the oldest when full. */
void zt_flowring_push(struct zt_flowring *ring, const struct zt_flowrec *r);
/* The i-th oldest, i < n. */
const struct zt_flowrec *zt_flowring_at(const struct zt_flowring *ring, size_t i);

/* ---- a reader's queue of frames ---- */

/* A frame as written to readers: shared by every queue that holds it. */
struct zt_frame {
	unsigned refs;
	size_t len;
	char data[];
};
/* A frame of len bytes (copied); refs 1. */
struct zt_frame *zt_frame_new(const void *data, size_t len);
struct zt_frame *zt_frame_ref(struct zt_frame *f);
/* Accepts NULL; returns NULL. */
struct zt_frame *zt_frame_unref(struct zt_frame *f);

struct zt_frameq {
	struct zt_frame **v;
	size_t cap, head, n;
	size_t off;			/* bytes of the head frame already written */
	uint64_t lost;			/* frames refused because the queue was full, not yet reported */
	uint64_t lost_total;
};
int zt_frameq_init(struct zt_frameq *q, size_t cap);
void zt_frameq_clear(struct zt_frameq *q);
/*
 * Queue a reference to f; false (and counted in lost) when full: the newest
 * is what is lost. The last slot is kept for a notice (notice true), so
 * that a reader can always be told what it lost.
 */
bool zt_frameq_push(struct zt_frameq *q, struct zt_frame *f, bool notice);
/* The head frame and how much of it is left, or NULL. */
struct zt_frame *zt_frameq_head(const struct zt_frameq *q, size_t *ret_off);
/* The i-th queued frame (0 is the head), or NULL. */
struct zt_frame *zt_frameq_at(const struct zt_frameq *q, size_t i);
/* n more bytes were written, from the head on: drops every frame written whole. */
void zt_frameq_advance(struct zt_frameq *q, size_t n);

#endif
