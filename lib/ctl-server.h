/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's side of the control socket: admission, peer credentials and
 * authorization, and a per-connection state machine driven by the daemon's
 * event loop (it has none of its own).
 */
#ifndef ZT_CTL_SERVER_H
#define ZT_CTL_SERVER_H

#include "ctl-proto.h"

/*
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

#define ZT_CTL_ADMIN_GROUP "ztseg-admin"
#define ZT_CTL_MAX_CONNS_DEFAULT 64
#define ZT_CTL_RESERVED_DEFAULT 16
#define ZT_CTL_MAX_PER_UID_DEFAULT 8
#define ZT_CTL_TIMEOUT_DEFAULT (5 * ZT_USEC_PER_SEC)
/* Supplementary groups read from SO_PEERGROUPS (the kernel's NGROUPS_MAX). */
#define ZT_CTL_PEER_GROUPS_MAX 65536

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

/* ---- commands ---- */

struct zt_ctl_conn;
struct zt_ctl_server;

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

/*
 * A subscription: the command takes the connection over (a duplicate of
 * its fd in *ret_fd, which the caller owns and writes the reply and the
 * frames that follow to). The server is done with it: it is freed (its
 * copy of the fd closed) as a completed exchange. -EALREADY if answered.
 */
int zt_ctl_conn_handoff(struct zt_ctl_conn *c, int *ret_fd);

#endif
