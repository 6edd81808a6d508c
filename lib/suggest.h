/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl suggest: completed would-deny connections (observe mode),
 * aggregated by zone pair and port, turned into hub flows as YAML text.
 * Pure: no I/O but the stream it writes, no clock.
 */
#ifndef ZT_SUGGEST_H
#define ZT_SUGGEST_H

#include <stdio.h>
#include <jansson.h>
#include "explain.h"

/* Observations the daemon keeps: a bound on memory, the oldest go first. */
#define ZT_SUGGEST_OBS_MAX 65536

/* Completed would-deny connections of one kind, counted. */
struct zt_suggest_obs {
	char from[ZT_ENDPOINT_NAME_MAX], to[ZT_ENDPOINT_NAME_MAX];	/* zone names */
	uint8_t proto;			/* IPPROTO_TCP, _UDP, _SCTP, _ICMP, _ICMPV6 */
	uint16_t port;			/* tcp/udp/sctp: destination port; icmp(v6): type */
	/*
	 * The source zone admits every address (world, a boundary holding
	 * ::/0 or 0.0.0.0/0): then the source address is kept, and no flow is
	 * suggested from the zone, only the addresses seen.
	 */
	bool wide;
	uint8_t family;			/* wide: the source address's */
	uint8_t addr[16];
	uint64_t count;			/* distinct connections */
	uint64_t first_usec, last_usec;	/* CLOCK_REALTIME */
};

/* Are a and b the same kind (counted together)? */
bool zt_suggest_obs_same(const struct zt_suggest_obs *a, const struct zt_suggest_obs *b);

struct zt_suggest_opts {
	const char *segment;		/* only pairs with a side in it; NULL: all */
	uint64_t since_usec;		/* only what was seen since; 0: all */
	unsigned indent;		/* of a flow's "- ": 4 (hub: > flows: > -) */
};

/*
 * The YAML: a comment header, then per zone pair one flow
 * `- { from: A, to: B, ports: [...] }` with consecutive ports collapsed
 * into ranges and the counts in a comment above it; wide sources as
 * comments only. Returns the number of flows written, or -errno.
 */
int zt_suggest_format(const struct zt_suggest_obs *v, size_t n, const struct zt_suggest_opts *o, FILE *f);

/* One observation as JSON and back (the control socket's "suggest"); -EBADMSG for a malformed one. */
json_t *zt_suggest_obs_json(const struct zt_suggest_obs *o);
int zt_suggest_obs_from_json(const json_t *j, struct zt_suggest_obs *ret);

#endif
