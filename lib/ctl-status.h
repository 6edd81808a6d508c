/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The status document (ztsegctl status, SPEC §5): what the daemon fills
 * in, the JSON it sends, and the text ztsegctl prints from that JSON.
 */
#ifndef ZT_CTL_STATUS_H
#define ZT_CTL_STATUS_H

#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>
#include "diag.h"
#include "net.h"
#include "policy.h"

enum zt_daemon_state {
	ZT_DAEMON_STARTING,
	ZT_DAEMON_RUNNING,
	ZT_DAEMON_DEGRADED,	/* running the last-known-good policy; the one on disk is invalid */
	ZT_DAEMON_RELOADING,
	ZT_DAEMON_STOPPING,
};
const char *zt_daemon_state_name(enum zt_daemon_state s);

/* An address the main table routes through a member interface. */
struct zt_status_routed {
	struct zt_cidr addr;
	char ifname[IFNAMSIZ];
};

struct zt_status_segment {
	const char *name;
	const struct zt_ifpat *patterns;	/* as the policy names them */
	size_t n_patterns;
	const char *const *interfaces;		/* member interfaces that exist now */
	size_t n_interfaces;
	const struct zt_cidr *addrs;		/* static addresses */
	size_t n_addrs;
	const struct zt_status_routed *routed;
	size_t n_routed;
};

struct zt_status_flow {
	const char *name;
	const char *segment;		/* NULL for a hub flow; the segment of a segment rule */
	const struct zt_ref *from;
	size_t n_from;
	const struct zt_ref *to;
	size_t n_to;
	const struct zt_port *ports;
	size_t n_ports;
	bool encrypted;
	struct zt_pos pos;		/* where the policy says it */
	bool have_counters;		/* false: the kernel counter could not be read */
	uint64_t packets, bytes;
};

struct zt_status_counter {
	const char *name;		/* "default", "spoofed", "invalid", "untracked" */
	uint64_t packets, bytes;
};

struct zt_status_events {
	uint64_t rtnl_overruns;		/* ENOBUFS on the rtnetlink socket */
	uint64_t resyncs;		/* re-dumps after an overrun */
	uint64_t nflog_overruns;
	uint64_t spoofed;		/* spoofed packets dropped */
	uint64_t tamper;		/* foreign changes to the table */
	uint64_t repairs;
	uint64_t reloads;
	uint64_t reload_failures;
	uint64_t rollbacks;		/* reloads on trial rolled back unconfirmed */
};

/* A reload on trial (reload --confirm): rolls back at the deadline unless confirmed. */
struct zt_status_confirm {
	uint64_t generation;		/* the policy on trial */
	uint64_t deadline_usec;		/* CLOCK_REALTIME */
	uint64_t seconds_left;
	uid_t uid;			/* who asked */
	pid_t pid;
};

/* Another table's base chain that takes traffic out of conntrack on ztseg's hooks. */
struct zt_status_untrack {
	const char *family;		/* "ip", "ip6", "inet" */
	const char *table, *chain, *via;	/* via: the chain with the notrack rule */
	const char *hook;		/* "prerouting", "output" */
	int32_t priority;
};

struct zt_status {
	enum zt_daemon_state state;
	pid_t pid;
	const char *version;
	const char *config_dir;
	uint64_t started_usec;			/* CLOCK_REALTIME, 0: unknown */
	uint64_t generation;			/* policy generation, 0: none applied */
	uint64_t last_apply_usec;		/* CLOCK_REALTIME, 0: never */
	uint64_t last_apply_duration_usec;
	const char *last_error;			/* NULL: none */
	/* Errors of the policy on disk (degraded) and warnings: policy and runtime. */
	const struct zt_diags *diags;
	struct zt_status_events events;
	const struct zt_status_segment *segments;
	size_t n_segments;
	const struct zt_status_flow *flows;
	size_t n_flows;
	const struct zt_status_counter *drops;
	size_t n_drops;
	const struct zt_status_confirm *confirm;	/* NULL: no reload on trial */
	const struct zt_status_untrack *untrack;
	size_t n_untrack;
	bool untrack_known;		/* false: the tables could not be read */
	uint64_t ctl_refused;		/* control connections refused: too many clients */
};

/*
 * The status document:
 * {
 *   "daemon":   { "state", "pid", "version", "config_dir", "started" },
 *   "policy":   { "generation", "last_apply", "last_apply_duration_usec",
 *                 "last_error", "errors": [..] },
 *   "events":   { "rtnetlink_overruns", "resyncs", "nflog_overruns",
 *                 "spoofed", "tamper", "repairs", "reloads",
 *                 "reload_failures", "rollbacks" },
 *   "segments": [ { "name", "patterns": [..], "interfaces": [..],
 *                   "addresses": [all, static first],
 *                   "static_addresses": [..],
 *                   "routed_addresses": [ { "address", "interface" } ] } ],
 *   "flows":    [ { "name", "segment", "from": [..], "to": [..],
 *                   "ports": [..], "encrypted", "packets", "bytes",
 *                   "source": "file:line" } ],
 *   "drops":    { "packets", "bytes",
 *                 "reasons": [ { "name", "packets", "bytes" } ] },
 *   "confirmation": null | { "generation", "deadline", "seconds_left",
 *                            "uid", "pid" },
 *   "untracked": null (not known) | [ { "family", "table", "chain", "via",
 *                 "hook", "priority" } ],
 *   "control": { "refused" },
 *   "warnings": [ "file:line:col: message", .. ]
 * }
 * Times are RFC 3339 UTC strings ("2026-11-28T21:06:16.123Z") or null.
 * packets/bytes of a flow whose counter could not be read are null.
 */
int zt_status_build(const struct zt_status *st, json_t **ret);

/*
 * The human-readable form for `ztsegctl status`, from the document as
 * received (so the client formats exactly what the daemon sent). Missing
 * or mistyped fields print as "?"; control characters are escaped.
 */
int zt_status_format(const json_t *status, FILE *f);

#endif
