/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's side of the control socket: listening, accept-then-classify
 * admission (per-uid caps, reserved slots), peer credentials and
 * authorization, deadlines, and each connection's non-blocking state machine.
 */
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/un.h>
#include "ctl-server.h"

/* ---- authorization ---- */

/* 0 and *ret when found, 1 when there is no such group, -errno on failure. */
static int group_lookup(const char *name, gid_t *ret)
{
	long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
	size_t len = hint > 0 ? (size_t)hint : 1024;

	/* Group entries with many members can exceed the hint: grow on ERANGE. */
	for (;;) {
		_cleanup_free_ char *buf = malloc(len);
		struct group grp, *res = NULL;
		int r;

		if (!buf)
			return -ENOMEM;
		r = getgrnam_r(name, &grp, buf, len, &res);
		if (r == ERANGE && len < (1u << 20)) {
			len *= 2;
			continue;
		}
		/* No such group is 0 with res == NULL, or ENOENT from some NSS modules. */
		if (r == 0 && !res)
			return 1;
		if (r == ENOENT)
			return 1;
		if (r)
			return -r;
		*ret = grp.gr_gid;
		return 0;
	}
}

int zt_ctl_auth_init(struct zt_ctl_auth *a, const char *admin_group)
{
	gid_t gid;
	int r;

	*a = (struct zt_ctl_auth){ .self_uid = geteuid() };
	r = group_lookup(admin_group ? admin_group : ZT_CTL_ADMIN_GROUP, &gid);
	if (r < 0)
		return r;
	if (r == 0) {
		a->admin_gid = gid;
		a->have_admin_gid = true;
	}
	return r;
}

bool zt_ctl_peer_may_change(const struct zt_ctl_peer *p, const struct zt_ctl_auth *a)
{
	if (p->uid == 0 || p->uid == a->self_uid)
		return true;
	if (!a->have_admin_gid)
		return false;
	if (p->gid == a->admin_gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == a->admin_gid)
			return true;
	return false;
}

void zt_ctl_peer_clear(struct zt_ctl_peer *p)
{
	free(p->groups);
	*p = (struct zt_ctl_peer){};
}

int zt_ctl_peer_read(int fd, struct zt_ctl_peer *ret)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	_cleanup_free_ gid_t *groups = NULL;
	size_t n = 32;
	bool known = true;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EIO;

	/* ERANGE tells us the size needed; the peer cannot change it after connect. */
	for (int tries = 0;; tries++) {
		gid_t *g = realloc(groups, n * sizeof(gid_t));

		if (!g)
			return -ENOMEM;
		groups = g;
		len = n * sizeof(gid_t);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
			n = len / sizeof(gid_t);
			break;
		}
		if (errno == ENOPROTOOPT) {
			known = false;
			n = 0;
			break;
		}
		if (errno != ERANGE || tries > 0)
			return -errno;
		n = len / sizeof(gid_t);
		if (n > ZT_CTL_PEER_GROUPS_MAX)
			return -E2BIG;
	}
	*ret = (struct zt_ctl_peer){
		.pid = cred.pid,
		.uid = cred.uid,
		.gid = cred.gid,
		.groups = n ? TAKE_PTR(groups) : NULL,
		.n_groups = n,
		.groups_known = known,
	};
	return 0;
}


/* ---- server ---- */

#define ZT_CTL_REFUSE_BATCH 64

enum conn_state {
	CONN_READ_HDR,
	CONN_READ_BODY,
	CONN_PENDING,		/* dispatched, the reply has not been queued yet */
	CONN_WRITE,
	CONN_DONE,
};

struct zt_ctl_conn {
	struct zt_ctl_server *srv;
	struct zt_ctl_conn *prev, *next;
	int fd;
	enum conn_state state;
	uint8_t hdr[ZT_CTL_FRAME_HDR];
	size_t hdr_got;
	char *body;
	size_t body_len, body_got;
	char *out;
	size_t out_len, out_off;
	uint64_t deadline;
	bool replied;
	bool authorized;	/* may change state: counts against max_conns only */
	struct zt_ctl_peer peer;
	void *userdata;
};

struct zt_ctl_server {
	struct zt_ctl_server_config cfg;
	int fd;
	char *path;		/* bound by us: removed on free if still ours */
	dev_t path_dev;
	ino_t path_ino;
	struct zt_ctl_conn *conns;
	size_t n_conns;
	size_t n_unauthorized;
	struct zt_ctl_stats stats;
};

int zt_ctl_server_new(const struct zt_ctl_server_config *cfg, struct zt_ctl_server **ret)
{
	struct zt_ctl_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = ZT_CTL_MAX_CONNS_DEFAULT;
	if (!s->cfg.reserved)
		s->cfg.reserved = ZT_CTL_RESERVED_DEFAULT;
	/* At least one slot for everyone else: status must stay readable. */
	if (s->cfg.reserved >= s->cfg.max_conns)
		s->cfg.reserved = s->cfg.max_conns - 1;
	if (!s->cfg.max_per_uid)
		s->cfg.max_per_uid = ZT_CTL_MAX_PER_UID_DEFAULT;
	if (!s->cfg.timeout_usec)
		s->cfg.timeout_usec = ZT_CTL_TIMEOUT_DEFAULT;
	s->fd = -1;
	*ret = s;
	return 0;
}

struct zt_ctl_conn *zt_ctl_conn_free(struct zt_ctl_conn *c)
{
	struct zt_ctl_server *s;

	if (!c)
		return NULL;
	s = c->srv;
	if (s->cfg.conn_closed)
		s->cfg.conn_closed(c, s->cfg.userdata);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	if (!c->authorized)
		s->n_unauthorized--;
	if (c->fd >= 0)
		close(c->fd);
	free(c->body);
	free(c->out);
	zt_ctl_peer_clear(&c->peer);
	free(c);
	return NULL;
}

struct zt_ctl_server *zt_ctl_server_free(struct zt_ctl_server *s)
{
	struct stat st;

	if (!s)
		return NULL;
	while (s->conns)
		zt_ctl_conn_free(s->conns);
	/* Remove only the socket we bound: a successor may have replaced it. */
	if (s->path && lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == s->path_dev && st.st_ino == s->path_ino)
		unlink(s->path);
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
	return NULL;
}

/* Is something listening on the socket at path? */
static int socket_alive(const struct sockaddr_un *sa, socklen_t salen)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
		return 1;
	/* A full backlog (EAGAIN) still means a live listener. */
	if (errno == EAGAIN)
		return 1;
	if (errno == ECONNREFUSED || errno == ENOENT)
		return 0;
	return -errno;
}

/*
 * bind() with the node born as it should be: the mode comes from the
 * socket's inode less the umask, the group from the fsgid. Nothing is
 * changed by path afterwards, where a symbolic link swapped in could
 * redirect a chmod to another file.
 */
static int bind_as(int fd, const struct sockaddr_un *sa, socklen_t salen, mode_t mode,
		   const gid_t *gid, bool *ret_gid_set)
{
	mode_t old_mask;
	int old_fsgid = -1, r = 0;

	*ret_gid_set = false;
	if (fchmod(fd, mode) < 0)
		return -errno;
	if (gid) {
		old_fsgid = setfsgid(*gid);
		/* setfsgid() reports failure only by not changing: ask again. */
		*ret_gid_set = (gid_t)setfsgid((gid_t)-1) == *gid;
	}
	old_mask = umask(0777 & ~mode);
	if (bind(fd, (const struct sockaddr *)sa, salen) < 0)
		r = -errno;
	umask(old_mask);
	if (gid)
		setfsgid((gid_t)old_fsgid);
	return r;
}

int zt_ctl_server_listen(struct zt_ctl_server *s, const char *path, mode_t mode,
			 const char *group)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *p = NULL;
	struct sockaddr_un sa;
	socklen_t salen;
	struct stat st;
	gid_t gid = 0;
	bool gid_set = false;
	int r, missing = 0;

	if (s->fd >= 0)
		return -EBUSY;
	if (mode & ~(mode_t)0777)
		return -EINVAL;
	r = zt_ctl_sockaddr_set(&sa, path, &salen);
	if (r < 0)
		return r;
	if (group) {
		r = group_lookup(group, &gid);
		if (r < 0)
			return r;
		missing = r;
	}
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* bind() never follows a link at path: one there is EADDRINUSE, then EEXIST below. */
	r = bind_as(fd, &sa, salen, mode, group && !missing ? &gid : NULL, &gid_set);
	if (r == -EADDRINUSE) {
		if (lstat(path, &st) < 0)
			return -errno;
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		r = socket_alive(&sa, salen);
		if (r < 0)
			return r;
		if (r > 0)
			return -EADDRINUSE;
		/* A stale socket left by a daemon that died: ours to replace. */
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		r = bind_as(fd, &sa, salen, mode, group && !missing ? &gid : NULL, &gid_set);
	}
	if (r < 0)
		return r;
	/*
	 * Without the right to create files of that group, chown the node
	 * itself: AT_SYMLINK_NOFOLLOW changes a link swapped in, never its
	 * target. Settled before listen(): until then connect() is refused.
	 */
	if ((group && !missing && !gid_set &&
	     fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    lstat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		/* Replaced between bind() and here: not ours to serve or remove. */
		return -EEXIST;
	}
	s->path_dev = st.st_dev;
	s->path_ino = st.st_ino;
	s->path = TAKE_PTR(p);
	s->fd = TAKE_FD(fd);
	return missing;
}

int zt_ctl_server_adopt(struct zt_ctl_server *s, int fd)
{
	int v, flags;
	socklen_t len = sizeof(v);

	if (s->fd >= 0)
		return -EBUSY;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno;
	if (v != AF_UNIX)
		return -EAFNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		return -errno;
	if (!v)
		return -EINVAL;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	s->fd = fd;
	return 0;
}

int zt_ctl_server_fd(const struct zt_ctl_server *s)
{
	return s->fd;
}

/* Best effort: a small frame on a fresh (or idle) socket fits its buffer. */
static void send_error_now(int fd, const char *msg)
{
	_cleanup_json_ json_t *rep = zt_ctl_reply_error_new(&msg, 1);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (rep && zt_ctl_frame_encode(rep, ZT_CTL_REPLY_MAX, &buf, &len) == 0)
		(void)!send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static size_t conns_of_uid(const struct zt_ctl_server *s, uid_t uid)
{
	size_t n = 0;

	for (const struct zt_ctl_conn *c = s->conns; c; c = c->next)
		n += c->peer.uid == uid;
	return n;
}

/* 0, or -EUSERS with what to tell the peer (see Limits in ctl.h). */
static int admit(struct zt_ctl_server *s, const struct zt_ctl_peer *p, bool authorized,
		 const char **why)
{
	if (conns_of_uid(s, p->uid) >= s->cfg.max_per_uid) {
		s->stats.refused_uid++;
		*why = "too many clients: your user has the most connections one user may open; "
		       "try again later";
		return -EUSERS;
	}
	if (s->n_conns >= s->cfg.max_conns ||
	    (!authorized && s->n_unauthorized >= s->cfg.max_conns - s->cfg.reserved)) {
		s->stats.refused_full++;
		*why = authorized ? "too many clients; try again later"
				  : "too many clients: the slots open to readers of status are all "
				    "taken (the rest are kept for callers who may change state); "
				    "try again later";
		return -EUSERS;
	}
	return 0;
}

int zt_ctl_server_add_fd(struct zt_ctl_server *s, int fd, uint64_t now_usec,
			 struct zt_ctl_conn **ret, const char **ret_why)
{
	struct zt_ctl_peer peer = {};
	const char *why = NULL;
	struct zt_ctl_conn *c;
	bool authorized;
	int r, flags;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	r = zt_ctl_peer_read(fd, &peer);
	if (r < 0)
		return r;
	authorized = zt_ctl_peer_may_change(&peer, &s->cfg.auth);
	r = admit(s, &peer, authorized, &why);
	if (r < 0) {
		zt_ctl_peer_clear(&peer);
		if (ret_why)
			*ret_why = why;
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		zt_ctl_peer_clear(&peer);
		return -ENOMEM;
	}
	c->peer = peer;
	c->authorized = authorized;
	c->srv = s;
	c->fd = fd;
	c->state = CONN_READ_HDR;
	c->deadline = zt_ctl_deadline_after(now_usec, s->cfg.timeout_usec);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	if (!authorized)
		s->n_unauthorized++;
	s->stats.accepted++;
	*ret = c;
	return 0;
}

int zt_ctl_server_accept(struct zt_ctl_server *s, uint64_t now_usec, struct zt_ctl_conn **ret)
{
	if (s->fd < 0)
		return -EBADF;
	/* Refusing is bounded per call so a connect flood cannot hold the loop. */
	for (unsigned refused = 0; refused < ZT_CTL_REFUSE_BATCH; refused++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		const char *why = NULL;
		int r;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return 0;
			return -errno;
		}
		r = zt_ctl_server_add_fd(s, fd, now_usec, ret, &why);
		if (r == 0)
			return 1;
		if (r == -EUSERS) {
			send_error_now(fd, why);
			close(fd);
			continue;
		}
		close(fd);
		return r;
	}
	return 0;
}

uint64_t zt_ctl_server_next_deadline(const struct zt_ctl_server *s)
{
	uint64_t t = UINT64_MAX;

	for (const struct zt_ctl_conn *c = s->conns; c; c = c->next)
		if (c->deadline < t)
			t = c->deadline;
	return t;
}

/* Tell a client that is still sending why it is cut off. */
static void conn_timed_out(struct zt_ctl_conn *c)
{
	if (c->state == CONN_READ_HDR || c->state == CONN_READ_BODY)
		send_error_now(c->fd, "request timed out");
	c->srv->stats.timed_out++;
}

size_t zt_ctl_server_expire(struct zt_ctl_server *s, uint64_t now_usec)
{
	struct zt_ctl_conn *c = s->conns, *next;
	size_t n = 0;

	for (; c; c = next) {
		next = c->next;
		if (c->deadline > now_usec)
			continue;
		conn_timed_out(c);
		zt_ctl_conn_free(c);
		n++;
	}
	return n;
}

size_t zt_ctl_server_n_conns(const struct zt_ctl_server *s)
{
	return s->n_conns;
}

const struct zt_ctl_stats *zt_ctl_server_stats(const struct zt_ctl_server *s)
{
	return &s->stats;
}

int zt_ctl_conn_fd(const struct zt_ctl_conn *c)
{
	return c->fd;
}

bool zt_ctl_conn_authorized(const struct zt_ctl_conn *c)
{
	return c->authorized;
}

void zt_ctl_conn_set_userdata(struct zt_ctl_conn *c, void *userdata)
{
	c->userdata = userdata;
}

void *zt_ctl_conn_get_userdata(const struct zt_ctl_conn *c)
{
	return c->userdata;
}

uint64_t zt_ctl_conn_deadline(const struct zt_ctl_conn *c)
{
	return c->deadline;
}

uint32_t zt_ctl_conn_events(const struct zt_ctl_conn *c)
{
	switch (c->state) {
	case CONN_READ_HDR:
	case CONN_READ_BODY:
		return EPOLLIN;
	case CONN_WRITE:
		return EPOLLOUT;
	default:
		return 0;
	}
}

/* Takes the reply document; replaces it with an error if it is too large. */
static int conn_queue(struct zt_ctl_conn *c, json_t *rep, uint64_t now_usec)
{
	_cleanup_json_ json_t *j = rep;
	int r;

	if (c->replied)
		return -EALREADY;
	if (!j)
		return -ENOMEM;
	r = zt_ctl_frame_encode(j, ZT_CTL_REPLY_MAX, &c->out, &c->out_len);
	if (r == -EMSGSIZE) {
		const char *msg = "reply too large (limit 16 MiB)";

		json_decref(j);
		j = zt_ctl_reply_error_new(&msg, 1);
		if (!j)
			return -ENOMEM;
		r = zt_ctl_frame_encode(j, ZT_CTL_REPLY_MAX, &c->out, &c->out_len);
	}
	if (r < 0)
		return r;
	c->out_off = 0;
	c->replied = true;
	c->state = CONN_WRITE;
	c->deadline = zt_ctl_deadline_after(now_usec, c->srv->cfg.timeout_usec);
	return 0;
}

int zt_ctl_conn_reply_ok(struct zt_ctl_conn *c, json_t *result, uint64_t now_usec)
{
	if (c->replied) {
		json_decref(result);
		return -EALREADY;
	}
	return conn_queue(c, zt_ctl_reply_ok_new(result), now_usec);
}

int zt_ctl_conn_reply_diags(struct zt_ctl_conn *c, const struct zt_diags *d, uint64_t now_usec)
{
	_cleanup_json_ json_t *errs = json_array();

	if (c->replied)
		return -EALREADY;
	if (!errs)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		if (!s || json_array_append_new(errs, json_string(s)) < 0)
			return -ENOMEM;
	}
	if (d->truncated) {
		_cleanup_free_ char *s = NULL;

		if (asprintf(&s, "too many diagnostics, %zu not shown",
			     d->n_errors + d->n_warnings - d->n) < 0 ||
		    json_array_append_new(errs, json_string(s)) < 0)
			return -ENOMEM;
	}
	if (json_array_size(errs) == 0 &&
	    json_array_append_new(errs, json_string("failed")) < 0)
		return -ENOMEM;
	return conn_queue(c, json_pack("{s:i, s:b, s:O}", "version", ZT_CTL_VERSION, "ok", 0,
				       "errors", errs),
			  now_usec);
}

int zt_ctl_conn_reply_errorf(struct zt_ctl_conn *c, uint64_t now_usec, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	const char *m;
	va_list ap;
	int r;

	if (c->replied)
		return -EALREADY;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	m = msg;
	return conn_queue(c, zt_ctl_reply_error_new(&m, 1), now_usec);
}

int zt_ctl_conn_handoff(struct zt_ctl_conn *c, int *ret_fd)
{
	int fd;

	if (c->replied)
		return -EALREADY;
	fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	c->replied = true;
	c->state = CONN_DONE;
	*ret_fd = fd;
	return 0;
}

static const struct zt_ctl_command *command_find(const struct zt_ctl_server *s, const char *name)
{
	for (size_t i = 0; i < s->cfg.n_commands; i++)
		if (streq(s->cfg.commands[i].name, name))
			return &s->cfg.commands[i];
	return NULL;
}

static int conn_dispatch(struct zt_ctl_conn *c, uint64_t now_usec)
{
	struct zt_ctl_server *s = c->srv;
	_cleanup_json_ json_t *root = NULL;
	_cleanup_free_ char *body = TAKE_PTR(c->body);
	struct zt_diags d = {};
	struct zt_ctl_request req;
	const struct zt_ctl_command *cmd;
	int r;

	c->state = CONN_PENDING;
	r = zt_ctl_request_decode(body, c->body_len, &root, &req, &d);
	if (r == -ENOMEM) {
		zt_diags_clear(&d);
		return r;
	}
	if (r < 0) {
		s->stats.bad_requests++;
		r = zt_ctl_conn_reply_diags(c, &d, now_usec);
		zt_diags_clear(&d);
		return r;
	}
	cmd = command_find(s, req.command);
	if (!cmd || !cmd->run) {
		s->stats.bad_requests++;
		return zt_ctl_conn_reply_errorf(c, now_usec, "unknown command '%.64s'", req.command);
	}
	if (cmd->changes_state && !zt_ctl_peer_may_change(&c->peer, &s->cfg.auth)) {
		s->stats.denied++;
		return zt_ctl_conn_reply_errorf(c, now_usec,
			"permission denied: '%s' changes the daemon's state and needs uid 0, "
			"uid %u (ztsegd's own) or membership in group %s%s",
			cmd->name, (unsigned)s->cfg.auth.self_uid, ZT_CTL_ADMIN_GROUP,
			s->cfg.auth.have_admin_gid ? "" : " (which does not exist on this host)");
	}
	req.peer = &c->peer;
	req.now_usec = now_usec;
	/* No deadline while the daemon works on the answer: it owns the promise. */
	c->deadline = UINT64_MAX;
	r = cmd->run(c, &req, s->cfg.userdata);
	if (!c->replied && r < 0)
		return zt_ctl_conn_reply_errorf(c, now_usec, "%s: %s", cmd->name, strerror(-r));
	return 0;
}

/* 1: wait for more, 0: frame complete or answered, <0: give up. */
static int conn_read(struct zt_ctl_conn *c, uint64_t now_usec)
{
	for (;;) {
		char *p;
		size_t want;
		ssize_t n;

		if (c->state == CONN_READ_HDR) {
			p = (char *)c->hdr + c->hdr_got;
			want = sizeof(c->hdr) - c->hdr_got;
		} else {
			p = c->body + c->body_got;
			want = c->body_len - c->body_got;
		}
		/* Exactly the frame, never beyond it: one request per connection. */
		n = recv(c->fd, p, want, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -errno;
		}
		if (n == 0) {
			/* Nothing sent at all: a probe (a starting daemon checks for a live one). */
			if (c->state == CONN_READ_HDR && c->hdr_got == 0) {
				c->state = CONN_DONE;
				return 0;
			}
			c->srv->stats.bad_requests++;
			return zt_ctl_conn_reply_errorf(c, now_usec,
							"truncated request: the connection closed mid-frame");
		}
		if (c->state == CONN_READ_HDR) {
			uint32_t len;

			c->hdr_got += (size_t)n;
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			len = zt_ctl_frame_len(c->hdr);
			if (len == 0 || len > ZT_CTL_REQUEST_MAX) {
				/* Refused on the header alone: the body is never read. */
				c->srv->stats.bad_requests++;
				if (len == 0)
					return zt_ctl_conn_reply_errorf(c, now_usec, "empty request");
				return zt_ctl_conn_reply_errorf(c, now_usec,
					"request too large: %u bytes (at most %u)",
					len, ZT_CTL_REQUEST_MAX);
			}
			c->body = malloc(len);
			if (!c->body)
				return -ENOMEM;
			c->body_len = len;
			c->body_got = 0;
			c->state = CONN_READ_BODY;
		} else {
			c->body_got += (size_t)n;
			if (c->body_got == c->body_len)
				return conn_dispatch(c, now_usec);
		}
	}
}

/* 1: socket full, 0: all written, <0: peer gone. */
static int conn_write(struct zt_ctl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 1;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->state = CONN_DONE;
	return 0;
}

int zt_ctl_conn_process(struct zt_ctl_conn *c, uint64_t now_usec)
{
	int r;

	if (now_usec >= c->deadline) {
		conn_timed_out(c);
		return -ETIMEDOUT;
	}
	if (c->state == CONN_READ_HDR || c->state == CONN_READ_BODY) {
		r = conn_read(c, now_usec);
		if (r < 0)
			return r;
	}
	switch (c->state) {
	case CONN_READ_HDR:
	case CONN_READ_BODY:
	case CONN_PENDING:
		return 1;
	case CONN_WRITE:
		r = conn_write(c);
		return r > 0 ? 1 : r;
	case CONN_DONE:
	default:
		return 0;
	}
}
