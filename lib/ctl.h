/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket between ztsegd and ztsegctl: the wire protocol, the
 * server's per-connection state machine (driven by the daemon's event loop,
 * with none of its own), the client call, and the status document.
 */
#ifndef ZT_CTL_H
#define ZT_CTL_H

#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>
#include "diag.h"
#include "net.h"
#include "policy.h"

/*
 * Protocol, version 1
 * ===================
 *
 * A Unix stream socket (default /run/ztseg/ztsegd.sock, mode 0660, group
 * ztseg). The client connects, sends one request frame, reads one reply
 * frame; then the daemon closes the connection. One request per connection
 * keeps the server's state small and makes a stuck client cost one slot
 * for at most one timeout. (An event subscription would be a command whose
 * reply is followed by further frames on the same connection; version 1
 * has none.)
 *
 * Frame: a 4-byte big-endian length N, then N bytes of one JSON object
 * (UTF-8, no NUL). A request has 1 <= N <= ZT_CTL_REQUEST_MAX; a larger
 * length is answered with an error without reading the body. A reply has
 * N <= ZT_CTL_REPLY_MAX.
 *
 * Request:
 *   { "version": 1, "command": "status" | "reload" | "explain",
 *     "args": { ... } }
 * "version" and "command" are required, "args" is optional (an object).
 * Unknown keys are an error: a client that needs something new asks with a
 * higher version, and an older daemon refuses it clearly.
 *
 * Reply:
 *   { "version": 1, "ok": true,  "result": { ... } }
 *   { "version": 1, "ok": false, "errors": [ "file:line:col: message", ... ] }
 *
 * The daemon answers every request it could read: framing and parse
 * errors, unknown commands and refused permissions are ok:false replies
 * like any other failure.
 *
 * Limits: every connection is accepted at once and classified by its
 * peer's credentials (accept-then-classify), so nobody waits unseen in
 * the backlog. It is admitted when
 *   - its uid has fewer than max_per_uid connections open (default 8), and
 *   - a peer that may change state (see below) finds fewer than max_conns
 *     connections open (default 64); any other peer finds fewer than
 *     max_conns - reserved (default 64 - 16): the reserved slots are
 *     only for callers who may change state, so readers of status, however
 *     many and however slow, cannot keep root's reload out.
 * Otherwise it is sent {"ok": false, "errors": ["too many clients: ..."]}
 * (best effort: the frame is small and the socket buffer empty, so it
 * never blocks) and closed, so a client learns why rather than hanging.
 * A connection must deliver its whole request within the timeout
 * (default 5 s from accept), and read its whole reply within the timeout
 * from the moment the reply is queued; otherwise it is closed.
 *
 * Authorization: SO_PEERCRED (uid, gid, pid) and SO_PEERGROUPS
 * (supplementary groups, Linux >= 4.13) are read at accept. Every command
 * is open to anyone who can connect (the socket's mode and group decide
 * that); a command marked changes_state is refused unless the peer is uid
 * 0, the daemon's own euid, or a member of group ztseg-admin by primary or
 * supplementary gid. Capabilities are not considered: SO_PEERCRED carries
 * none.
 */

#define ZT_CTL_VERSION 1
#define ZT_CTL_DEFAULT_SOCKET "/run/ztseg/ztsegd.sock"
#define ZT_CTL_SOCKET_GROUP "ztseg"
#define ZT_CTL_ADMIN_GROUP "ztseg-admin"
#define ZT_CTL_SOCKET_MODE 0660

#define ZT_CTL_REQUEST_MAX (64u * 1024)
#define ZT_CTL_REPLY_MAX (16u * 1024 * 1024)
#define ZT_CTL_FRAME_HDR 4
#define ZT_CTL_MAX_CONNS_DEFAULT 64
#define ZT_CTL_RESERVED_DEFAULT 16
#define ZT_CTL_MAX_PER_UID_DEFAULT 8
#define ZT_USEC_PER_SEC 1000000ull
#define ZT_CTL_TIMEOUT_DEFAULT (5 * ZT_USEC_PER_SEC)
/* Supplementary groups read from SO_PEERGROUPS (the kernel's NGROUPS_MAX). */
#define ZT_CTL_PEER_GROUPS_MAX 65536

static inline void zt_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ _cleanup_(zt_json_decrefp)

/* ---- authorization ---- */

struct zt_ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* supplementary groups (SO_PEERGROUPS) */
	size_t n_groups;
	bool groups_known;	/* false when the kernel lacks SO_PEERGROUPS */
};

struct zt_ctl_auth {
	uid_t self_uid;		/* the daemon's effective uid */
	gid_t admin_gid;
	bool have_admin_gid;	/* the admin group exists */
};

/*
 * self_uid = geteuid(), and the gid of admin_group (ZT_CTL_ADMIN_GROUP when
 * NULL). Returns 0, 1 when the group does not exist (only root and the
 * daemon's own uid may change state then), or -errno when the group
 * database could not be read.
 */
int zt_ctl_auth_init(struct zt_ctl_auth *a, const char *admin_group);

/* May this peer run commands that change the daemon's state? */
bool zt_ctl_peer_may_change(const struct zt_ctl_peer *p, const struct zt_ctl_auth *a);

/* Read SO_PEERCRED and SO_PEERGROUPS of a connected Unix socket. */
int zt_ctl_peer_read(int fd, struct zt_ctl_peer *ret);
void zt_ctl_peer_clear(struct zt_ctl_peer *p);

/* ---- messages ---- */

struct zt_ctl_conn;
struct zt_ctl_server;

struct zt_ctl_request {
	unsigned version;
	const char *command;
	json_t *args;			/* an object, never NULL; borrowed */
	const struct zt_ctl_peer *peer;
	uint64_t now_usec;		/* as given to zt_ctl_conn_process() */
};

/*
 * A command handler answers with zt_ctl_conn_reply_*() before returning, or
 * later (the daemon's reconcile pass, say), which is how a reload can run
 * in the loop's own deferred handler. Returning a negative errno without
 * having replied makes the server reply with "COMMAND: strerror". Returning
 * 0 without having replied leaves the connection waiting for a reply, with
 * no deadline: the daemon then owns the promise to answer (or the
 * connection is closed when the server is freed). req and args live only
 * during run: a handler that answers later takes a reference to what it
 * keeps. run must not free the connection.
 */
struct zt_ctl_command {
	const char *name;
	bool changes_state;	/* needs uid 0, the daemon's uid or the admin group */
	int (*run)(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata);
};

/* Encode a JSON object as one frame (header included) of at most max body bytes. */
int zt_ctl_frame_encode(const json_t *obj, size_t max, char **ret_buf, size_t *ret_len);

/* {"version": 1, "command": command, "args": args} (args borrowed, may be NULL). */
json_t *zt_ctl_request_new(const char *command, json_t *args);

/*
 * Decode a request body. On success *ret_root holds the document and ret's
 * pointers point into it (ret->peer is left NULL). On failure -EINVAL (or
 * -EPROTONOSUPPORT for a version this daemon does not speak) with the
 * reason in d.
 */
int zt_ctl_request_decode(const void *buf, size_t len, json_t **ret_root,
			  struct zt_ctl_request *ret, struct zt_diags *d);

/*
 * Decode a reply body. 0 and the result object (a new reference) when the
 * daemon said ok; -EREMOTEIO when it said no, each of its errors a
 * diagnostic in d; -EBADMSG (reason in d) when the reply is malformed.
 */
int zt_ctl_reply_decode(const void *buf, size_t len, json_t **ret_result, struct zt_diags *d);

/* ---- server ---- */

struct zt_ctl_server_config {
	const struct zt_ctl_command *commands;	/* must outlive the server */
	size_t n_commands;
	void *userdata;				/* passed to each command's run */
	/*
	 * Called whenever the library frees a connection (zt_ctl_conn_free,
	 * zt_ctl_server_expire, zt_ctl_server_free), before its fd is closed,
	 * so the daemon can drop the event source it attached to it.
	 */
	void (*conn_closed)(struct zt_ctl_conn *c, void *userdata);
	struct zt_ctl_auth auth;
	unsigned max_conns;			/* 0: ZT_CTL_MAX_CONNS_DEFAULT */
	/* Of max_conns, kept for callers who may change state; 0: ZT_CTL_RESERVED_DEFAULT. */
	unsigned reserved;
	unsigned max_per_uid;			/* 0: ZT_CTL_MAX_PER_UID_DEFAULT */
	uint64_t timeout_usec;			/* per phase; 0: ZT_CTL_TIMEOUT_DEFAULT */
};

struct zt_ctl_stats {
	uint64_t accepted;
	uint64_t refused_full;		/* connections refused: every slot they may use is taken */
	uint64_t refused_uid;		/* connections refused: their uid is at max_per_uid */
	uint64_t timed_out;
	uint64_t bad_requests;		/* framing, JSON, unknown command */
	uint64_t denied;		/* changes refused by authorization */
};

int zt_ctl_server_new(const struct zt_ctl_server_config *cfg, struct zt_ctl_server **ret);
/* Frees every connection, closes the socket, removes the path it bound (if still its own). */
struct zt_ctl_server *zt_ctl_server_free(struct zt_ctl_server *s);
static inline void zt_ctl_server_freep(struct zt_ctl_server **s)
{
	zt_ctl_server_free(*s);
}
#define _cleanup_ctl_server_ _cleanup_(zt_ctl_server_freep)

/*
 * Bind and listen on path. A stale socket at path (nobody listening) is
 * replaced; a live one is -EADDRINUSE; anything that is not a socket is
 * -EEXIST. The socket gets mode and, if group is non-NULL and exists, that
 * group, before it starts listening (so nobody connects to it with the
 * wrong permissions). Returns 0, 1 when the group does not exist (the
 * socket keeps the process's group), or -errno.
 */
int zt_ctl_server_listen(struct zt_ctl_server *s, const char *path, mode_t mode,
			 const char *group);
/*
 * Use a listening socket handed over by systemd (sd_listen_fds). Checks
 * that it is a listening AF_UNIX stream socket and makes it non-blocking.
 * The server owns fd on success; the path is left alone when freed.
 */
int zt_ctl_server_adopt(struct zt_ctl_server *s, int fd);
int zt_ctl_server_fd(const struct zt_ctl_server *s);

/*
 * Accept one pending connection: 1 with *ret set (attach its fd to the
 * loop, asking for zt_ctl_conn_events()), 0 when none is pending (or a
 * batch of over-the-cap connections was refused: the listening fd stays
 * readable if more wait), or -errno (EMFILE, ENOBUFS, ...: log and carry
 * on). Connections beyond the cap are refused inside (see above) and do
 * not come back. Call until it returns <= 0.
 */
int zt_ctl_server_accept(struct zt_ctl_server *s, uint64_t now_usec, struct zt_ctl_conn **ret);
/*
 * Take a connected socket (accept's, or one end of a socketpair) as a new
 * connection; on success the server owns fd. -EUSERS when the peer is
 * not admitted (see Limits), with the reason the peer should be told in
 * *ret_why (static) if ret_why is non-NULL; the caller keeps fd then.
 */
int zt_ctl_server_add_fd(struct zt_ctl_server *s, int fd, uint64_t now_usec,
			 struct zt_ctl_conn **ret, const char **ret_why);

/* The earliest connection deadline (CLOCK_MONOTONIC usec), or UINT64_MAX. */
uint64_t zt_ctl_server_next_deadline(const struct zt_ctl_server *s);
/* Close every connection past its deadline; returns how many. */
size_t zt_ctl_server_expire(struct zt_ctl_server *s, uint64_t now_usec);
size_t zt_ctl_server_n_conns(const struct zt_ctl_server *s);
const struct zt_ctl_stats *zt_ctl_server_stats(const struct zt_ctl_server *s);

/*
 * Make progress on a connection without blocking: read what has arrived,
 * dispatch a complete request, write what the socket takes. Call it when
 * the fd is ready for zt_ctl_conn_events(), and after a deferred reply.
 * Returns 1 to keep going (re-read zt_ctl_conn_events()), 0 when the
 * exchange is complete (or the client hung up without sending anything),
 * or -errno (-ETIMEDOUT, -EPIPE, -ECONNRESET, ...); on <= 0 call
 * zt_ctl_conn_free().
 */
int zt_ctl_conn_process(struct zt_ctl_conn *c, uint64_t now_usec);
/*
 * EPOLLIN while reading the request, EPOLLOUT while writing the reply, 0
 * while a deferred reply is pending: disable the fd's source then, since
 * epoll reports EPOLLHUP even for an empty event mask.
 */
uint32_t zt_ctl_conn_events(const struct zt_ctl_conn *c);
uint64_t zt_ctl_conn_deadline(const struct zt_ctl_conn *c);
int zt_ctl_conn_fd(const struct zt_ctl_conn *c);
const struct zt_ctl_peer *zt_ctl_conn_peer(const struct zt_ctl_conn *c);
/* Was the peer, at accept, one that may change state? */
bool zt_ctl_conn_authorized(const struct zt_ctl_conn *c);
void zt_ctl_conn_set_userdata(struct zt_ctl_conn *c, void *userdata);
void *zt_ctl_conn_get_userdata(const struct zt_ctl_conn *c);
/* Accepts NULL; returns NULL. */
struct zt_ctl_conn *zt_ctl_conn_free(struct zt_ctl_conn *c);

/*
 * Queue the reply. result is stolen (NULL: an empty object). A reply that
 * would exceed ZT_CTL_REPLY_MAX becomes an error reply saying so. -EALREADY
 * when this connection has been answered already. The reply timeout starts
 * at now_usec.
 */
int zt_ctl_conn_reply_ok(struct zt_ctl_conn *c, json_t *result, uint64_t now_usec);
/* An ok:false reply with every diagnostic of d ("file:line:col: message"). */
int zt_ctl_conn_reply_diags(struct zt_ctl_conn *c, const struct zt_diags *d, uint64_t now_usec);
int zt_ctl_conn_reply_errorf(struct zt_ctl_conn *c, uint64_t now_usec, const char *fmt, ...)
	_printf_(3, 4);

/* ---- client ---- */

/*
 * Connect to the daemon at path, send command with args (borrowed, may be
 * NULL), and wait for the reply, all within timeout_usec. Returns 0 and
 * the result object (a new reference) when the daemon said ok;
 * -EREMOTEIO when it said no, its errors in d one per diagnostic; any
 * other -errno when the exchange failed, with one error in d saying why
 * ("cannot connect to PATH: No such file or directory; is ztsegd
 * running?").
 */
int zt_ctl_call(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		json_t **ret_result, struct zt_diags *d);

/* ---- status (ztsegctl status, SPEC §5) ---- */

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
	const char *name;		/* "default", "spoof", "invalid", ... */
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
