/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: framing, request/reply decoding, authorization, the
 * server's non-blocking per-connection state machine and the client call.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/un.h>
#include <time.h>
#include "ctl.h"
#include "escape.h"

#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _tfd = (fd);                                               \
		(fd) = -1;                                                     \
		_tfd;                                                          \
	})

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

/* ---- messages ---- */

int zt_ctl_frame_encode(const json_t *obj, size_t max, char **ret_buf, size_t *ret_len)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	_cleanup_free_ char *buf = NULL;

	if (n == 0)
		return -EINVAL;
	if (n > max || n > UINT32_MAX)
		return -EMSGSIZE;
	buf = malloc(ZT_CTL_FRAME_HDR + n);
	if (!buf)
		return -ENOMEM;
	if (json_dumpb(obj, buf + ZT_CTL_FRAME_HDR, n, JSON_COMPACT) != n)
		return -EIO;
	buf[0] = (char)(n >> 24);
	buf[1] = (char)(n >> 16);
	buf[2] = (char)(n >> 8);
	buf[3] = (char)n;
	*ret_len = ZT_CTL_FRAME_HDR + n;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

static uint32_t frame_len(const uint8_t hdr[ZT_CTL_FRAME_HDR])
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

json_t *zt_ctl_request_new(const char *command, json_t *args)
{
	_cleanup_json_ json_t *req = json_object();

	if (!req)
		return NULL;
	if (json_object_set_new(req, "version", json_integer(ZT_CTL_VERSION)) < 0 ||
	    json_object_set_new(req, "command", json_string(command)) < 0 ||
	    (args && json_object_set(req, "args", args) < 0))
		return NULL;
	return TAKE_PTR(req);
}

static int json_parse_object(const void *buf, size_t len, const char *what, json_t **ret,
			     struct zt_diags *d)
{
	json_error_t err;
	json_t *root;

	/* jansson caps nesting (JSON_PARSER_MAX_DEPTH) and rejects NUL and bad UTF-8. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return zt_diag_error(d, NULL, 0, 0, "malformed %s: %s (at byte %d)", what,
				     err.text, err.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return zt_diag_error(d, NULL, 0, 0, "malformed %s: not a JSON object", what);
	}
	*ret = root;
	return 0;
}

/* Read "version" as an integer >= 1; 0 when absent or mistyped. */
static json_int_t json_version(const json_t *root)
{
	const json_t *v = json_object_get(root, "version");

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

int zt_ctl_request_decode(const void *buf, size_t len, json_t **ret_root,
			  struct zt_ctl_request *ret, struct zt_diags *d)
{
	_cleanup_json_ json_t *root = NULL;
	const char *key;
	json_t *val, *args = NULL, *cmd = NULL;
	json_int_t version;
	int r;

	r = json_parse_object(buf, len, "request", &root, d);
	if (r < 0)
		return r;
	json_object_foreach(root, key, val) {
		if (streq(key, "version")) {
			if (!json_is_integer(val) || json_integer_value(val) < 1)
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'version' must be a positive integer");
		} else if (streq(key, "command")) {
			if (!json_is_string(val) || json_string_length(val) == 0)
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'command' must be a non-empty string");
			cmd = val;
		} else if (streq(key, "args")) {
			if (!json_is_object(val))
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'args' must be an object");
			args = val;
		} else {
			return zt_diag_error(d, NULL, 0, 0,
					     "request: unknown key '%.64s' (expected version, command, args)",
					     key);
		}
	}
	version = json_version(root);
	if (!version)
		return zt_diag_error(d, NULL, 0, 0, "request: 'version' is missing");
	if (version > ZT_CTL_VERSION) {
		zt_diag_error(d, NULL, 0, 0,
			      "request: protocol version %lld is not supported (ztsegd speaks %d)",
			      (long long)version, ZT_CTL_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (!cmd)
		return zt_diag_error(d, NULL, 0, 0, "request: 'command' is missing");
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(root, "args", args) < 0)
			return -ENOMEM;
	}
	*ret = (struct zt_ctl_request){
		.version = (unsigned)version,
		.command = json_string_value(cmd),
		.args = args,
	};
	*ret_root = TAKE_PTR(root);
	return 0;
}

int zt_ctl_reply_decode(const void *buf, size_t len, json_t **ret_result, struct zt_diags *d)
{
	_cleanup_json_ json_t *root = NULL;
	json_t *ok, *result, *errors, *e;
	size_t i;
	int r;

	r = json_parse_object(buf, len, "reply from ztsegd", &root, d);
	if (r < 0)
		return -EBADMSG;
	ok = json_object_get(root, "ok");
	if (!json_version(root) || !json_is_boolean(ok)) {
		zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: no 'version' or 'ok'");
		return -EBADMSG;
	}
	if (json_is_true(ok)) {
		result = json_object_get(root, "result");
		if (!json_is_object(result)) {
			zt_diag_error(d, NULL, 0, 0,
				      "malformed reply from ztsegd: 'result' is not an object");
			return -EBADMSG;
		}
		*ret_result = json_incref(result);
		return 0;
	}
	errors = json_object_get(root, "errors");
	if (!json_is_array(errors)) {
		zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: 'errors' is not an array");
		return -EBADMSG;
	}
	json_array_foreach(errors, i, e) {
		r = zt_diag_error(d, NULL, 0, 0, "%s",
				  json_is_string(e) ? json_string_value(e) : "(malformed error)");
		if (r == -ENOMEM)
			return r;
	}
	if (json_array_size(errors) == 0 &&
	    zt_diag_error(d, NULL, 0, 0, "ztsegd refused the request without saying why") == -ENOMEM)
		return -ENOMEM;
	return -EREMOTEIO;
}

static json_t *reply_ok_new(json_t *result)
{
	_cleanup_json_ json_t *r = result ? result : json_object();
	json_t *rep;

	if (!r || !json_is_object(r))
		return NULL;
	rep = json_pack("{s:i, s:b, s:O}", "version", ZT_CTL_VERSION, "ok", 1, "result", r);
	return rep;
}

static json_t *reply_error_new(const char *const *msgs, size_t n)
{
	_cleanup_json_ json_t *errs = json_array();

	if (!errs)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(errs, json_string(msgs[i])) < 0)
			return NULL;
	return json_pack("{s:i, s:b, s:O}", "version", ZT_CTL_VERSION, "ok", 0, "errors", errs);
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

static uint64_t deadline_after(uint64_t now, uint64_t timeout)
{
	return now > UINT64_MAX - timeout ? UINT64_MAX : now + timeout;
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

static int sockaddr_un_set(struct sockaddr_un *sa, const char *path, socklen_t *ret_len)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, n + 1);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
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
	r = sockaddr_un_set(&sa, path, &salen);
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
	_cleanup_json_ json_t *rep = reply_error_new(&msg, 1);
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
	c->deadline = deadline_after(now_usec, s->cfg.timeout_usec);
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

const struct zt_ctl_peer *zt_ctl_conn_peer(const struct zt_ctl_conn *c)
{
	return &c->peer;
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
		j = reply_error_new(&msg, 1);
		if (!j)
			return -ENOMEM;
		r = zt_ctl_frame_encode(j, ZT_CTL_REPLY_MAX, &c->out, &c->out_len);
	}
	if (r < 0)
		return r;
	c->out_off = 0;
	c->replied = true;
	c->state = CONN_WRITE;
	c->deadline = deadline_after(now_usec, c->srv->cfg.timeout_usec);
	return 0;
}

int zt_ctl_conn_reply_ok(struct zt_ctl_conn *c, json_t *result, uint64_t now_usec)
{
	if (c->replied) {
		json_decref(result);
		return -EALREADY;
	}
	return conn_queue(c, reply_ok_new(result), now_usec);
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
	return conn_queue(c, reply_error_new(&m, 1), now_usec);
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
			len = frame_len(c->hdr);
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

/* ---- client ---- */

static uint64_t now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * ZT_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Wait for events on fd until the deadline: 0 ready, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		uint64_t now = now_mono();
		int ms, r;

		if (now >= deadline)
			return -ETIMEDOUT;
		ms = (deadline - now + 999) / 1000 > INT32_MAX ? INT32_MAX
							       : (int)((deadline - now + 999) / 1000);
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

static int client_connect(const char *path, uint64_t timeout, struct zt_diags *d)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t salen;
	struct timeval tv = {
		.tv_sec = (time_t)(timeout / ZT_USEC_PER_SEC),
		.tv_usec = (suseconds_t)(timeout % ZT_USEC_PER_SEC),
	};
	int r, flags;

	r = sockaddr_un_set(&sa, path, &salen);
	if (r < 0) {
		zt_diag_error(d, NULL, 0, 0, "cannot connect to %s: %s", path, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		zt_diag_error(d, NULL, 0, 0, "cannot create a socket: %s", strerror(-r));
		return r;
	}
	/*
	 * A blocking connect bounded by SO_SNDTIMEO: a Unix socket with a full
	 * backlog makes a non-blocking connect fail with EAGAIN instead of
	 * waiting for room.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		r = -errno;
		if (r == -EAGAIN || r == -EINPROGRESS)
			r = -ETIMEDOUT;
		if (r == -ENOENT || r == -ECONNREFUSED)
			zt_diag_error(d, NULL, 0, 0, "cannot connect to %s: %s; is ztsegd running?",
				      path, strerror(-r));
		else if (r == -EACCES)
			zt_diag_error(d, NULL, 0, 0,
				      "cannot connect to %s: %s (members of group %s may connect)",
				      path, strerror(-r), ZT_CTL_SOCKET_GROUP);
		else
			zt_diag_error(d, NULL, 0, 0, "cannot connect to %s: %s", path, strerror(-r));
		return r;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return TAKE_FD(fd);
}

static int client_send(int fd, const char *buf, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes: 0, -ECONNRESET on EOF first, -ETIMEDOUT, -errno. */
static int client_recv(int fd, void *buf, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = recv(fd, (char *)buf + off, len - off, MSG_DONTWAIT);
		int r;

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		off += (size_t)n;
	}
	return 0;
}

int zt_ctl_call(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		json_t **ret_result, struct zt_diags *d)
{
	uint64_t deadline = deadline_after(now_mono(), timeout_usec);
	_cleanup_json_ json_t *req = NULL;
	_cleanup_free_ char *out = NULL, *body = NULL;
	_cleanup_close_ int fd = -1;
	uint8_t hdr[ZT_CTL_FRAME_HDR];
	size_t out_len;
	uint32_t len = 0;
	int r;

	req = zt_ctl_request_new(command, args);
	if (!req)
		return -ENOMEM;
	r = zt_ctl_frame_encode(req, ZT_CTL_REQUEST_MAX, &out, &out_len);
	if (r < 0) {
		zt_diag_error(d, NULL, 0, 0, "request too large for the control socket");
		return r;
	}
	fd = client_connect(path, timeout_usec, d);
	if (fd < 0)
		return fd;
	r = client_send(fd, out, out_len, deadline);
	/*
	 * A daemon that refuses the connection (too many clients) answers and
	 * closes at once, maybe before the request is sent: its answer is
	 * waiting in our receive queue all the same.
	 */
	if (r == 0 || r == -EPIPE || r == -ECONNRESET)
		r = client_recv(fd, hdr, sizeof(hdr), deadline);
	if (r == 0) {
		len = frame_len(hdr);
		if (len == 0 || len > ZT_CTL_REPLY_MAX) {
			zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: frame of %u bytes",
				      len);
			return -EBADMSG;
		}
		body = malloc(len);
		if (!body)
			return -ENOMEM;
		r = client_recv(fd, body, len, deadline);
	}
	if (r == -ETIMEDOUT) {
		zt_diag_error(d, NULL, 0, 0, "no reply from ztsegd on %s within %llu ms", path,
			      (unsigned long long)(timeout_usec / 1000));
		return r;
	}
	if (r == -ECONNRESET || r == -EPIPE) {
		zt_diag_error(d, NULL, 0, 0, "ztsegd closed the connection on %s without replying",
			      path);
		return r;
	}
	if (r < 0) {
		zt_diag_error(d, NULL, 0, 0, "talking to ztsegd on %s: %s", path, strerror(-r));
		return r;
	}
	return zt_ctl_reply_decode(body, len, ret_result, d);
}

/* ---- status document ---- */

const char *zt_daemon_state_name(enum zt_daemon_state s)
{
	switch (s) {
	case ZT_DAEMON_STARTING:
		return "starting";
	case ZT_DAEMON_RUNNING:
		return "running";
	case ZT_DAEMON_DEGRADED:
		return "degraded";
	case ZT_DAEMON_RELOADING:
		return "reloading";
	case ZT_DAEMON_STOPPING:
		return "stopping";
	}
	return "unknown";
}

/* json_object_set_new() steals v even when it fails, so a NULL v is the only leak-free check. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int append_new(json_t *a, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* RFC 3339 UTC with milliseconds, or null for 0 (never). */
static json_t *json_time(uint64_t usec)
{
	time_t sec = (time_t)(usec / ZT_USEC_PER_SEC);
	char buf[64];
	struct tm tm;
	size_t n;

	if (!usec)
		return json_null();
	if (!gmtime_r(&sec, &tm))
		return json_null();
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return json_null();
	snprintf(buf + n, sizeof(buf) - n, ".%03uZ", (unsigned)(usec % ZT_USEC_PER_SEC / 1000));
	return json_string(buf);
}

static json_t *json_cidr(const struct zt_cidr *c)
{
	char buf[ZT_CIDR_STRLEN];

	return json_string(zt_cidr_fmt(c, buf, sizeof(buf)));
}

static json_t *json_pos(const struct zt_pos *p)
{
	char *s = NULL;
	json_t *j;

	if (!p->file)
		return json_null();
	if (asprintf(&s, "%s:%u", p->file, p->line) < 0)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

/* Diagnostics of one severity, without the "warning: " prefix the array's name makes redundant. */
static json_t *json_diags(const struct zt_diags *d, enum zt_severity sev)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; d && i < d->n; i++) {
		struct zt_diag dg = d->v[i];
		_cleanup_free_ char *s = NULL;

		if (dg.sev != sev)
			continue;
		dg.sev = ZT_SEV_ERROR;
		s = zt_diag_format(&dg);
		if (!s || append_new(a, json_string(s)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

static json_t *status_daemon(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_new(o, "state", json_string(zt_daemon_state_name(st->state))) < 0 ||
	    set_new(o, "pid", json_integer(st->pid)) < 0 ||
	    set_new(o, "version", json_str_or_null(st->version)) < 0 ||
	    set_new(o, "config_dir", json_str_or_null(st->config_dir)) < 0 ||
	    set_new(o, "started", json_time(st->started_usec)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_policy(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_new(o, "generation", json_u64(st->generation)) < 0 ||
	    set_new(o, "last_apply", json_time(st->last_apply_usec)) < 0 ||
	    set_new(o, "last_apply_duration_usec",
		    st->last_apply_usec ? json_u64(st->last_apply_duration_usec) : json_null()) < 0 ||
	    set_new(o, "last_error", json_str_or_null(st->last_error)) < 0 ||
	    set_new(o, "errors", json_diags(st->diags, ZT_SEV_ERROR)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_events(const struct zt_status_events *e)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "rtnetlink_overruns", json_u64(e->rtnl_overruns),
			 "resyncs", json_u64(e->resyncs),
			 "nflog_overruns", json_u64(e->nflog_overruns),
			 "spoofed", json_u64(e->spoofed),
			 "tamper", json_u64(e->tamper),
			 "repairs", json_u64(e->repairs),
			 "reloads", json_u64(e->reloads),
			 "reload_failures", json_u64(e->reload_failures),
			 "rollbacks", json_u64(e->rollbacks));
}

static json_t *status_segment(const struct zt_status_segment *sg)
{
	_cleanup_json_ json_t *o = json_object(), *pats = json_array(), *ifs = json_array(),
			      *all = json_array(), *stat = json_array(), *routed = json_array();

	if (!o || !pats || !ifs || !all || !stat || !routed)
		return NULL;
	for (size_t i = 0; i < sg->n_patterns; i++) {
		char buf[IFNAMSIZ + 2];

		if (append_new(pats, json_string(zt_ifpat_fmt(&sg->patterns[i], buf,
								sizeof(buf)))) < 0)
			return NULL;
	}
	for (size_t i = 0; i < sg->n_interfaces; i++)
		if (append_new(ifs, json_string(sg->interfaces[i])) < 0)
			return NULL;
	for (size_t i = 0; i < sg->n_addrs; i++)
		if (append_new(stat, json_cidr(&sg->addrs[i])) < 0 ||
		    append_new(all, json_cidr(&sg->addrs[i])) < 0)
			return NULL;
	for (size_t i = 0; i < sg->n_routed; i++) {
		const struct zt_status_routed *ra = &sg->routed[i];
		char ifname[IFNAMSIZ];

		/* The name comes from the kernel's IFLA_IFNAME: bound it all the same. */
		memcpy(ifname, ra->ifname, sizeof(ifname));
		ifname[IFNAMSIZ - 1] = '\0';
		if (append_new(all, json_cidr(&ra->addr)) < 0 ||
		    append_new(routed, json_pack("{s:o, s:s}", "address", json_cidr(&ra->addr),
						 "interface", ifname)) < 0)
			return NULL;
	}
	if (set_new(o, "name", json_str_or_null(sg->name)) < 0 ||
	    set_new(o, "patterns", TAKE_PTR(pats)) < 0 ||
	    set_new(o, "interfaces", TAKE_PTR(ifs)) < 0 ||
	    set_new(o, "addresses", TAKE_PTR(all)) < 0 ||
	    set_new(o, "static_addresses", TAKE_PTR(stat)) < 0 ||
	    set_new(o, "routed_addresses", TAKE_PTR(routed)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *json_refs(const struct zt_ref *r, size_t n)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (append_new(a, json_str_or_null(r[i].name)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

static json_t *status_flow(const struct zt_status_flow *f)
{
	_cleanup_json_ json_t *o = json_object(), *ports = json_array();

	if (!o || !ports)
		return NULL;
	for (size_t i = 0; i < f->n_ports; i++) {
		char buf[64];

		if (append_new(ports, json_string(zt_port_fmt(&f->ports[i], buf, sizeof(buf)))) < 0)
			return NULL;
	}
	if (set_new(o, "name", json_str_or_null(f->name)) < 0 ||
	    set_new(o, "segment", json_str_or_null(f->segment)) < 0 ||
	    set_new(o, "from", json_refs(f->from, f->n_from)) < 0 ||
	    set_new(o, "to", json_refs(f->to, f->n_to)) < 0 ||
	    set_new(o, "ports", TAKE_PTR(ports)) < 0 ||
	    set_new(o, "encrypted", json_boolean(f->encrypted)) < 0 ||
	    set_new(o, "packets", f->have_counters ? json_u64(f->packets) : json_null()) < 0 ||
	    set_new(o, "bytes", f->have_counters ? json_u64(f->bytes) : json_null()) < 0 ||
	    set_new(o, "source", json_pos(&f->pos)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_drops(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object(), *reasons = json_array();
	uint64_t packets = 0, bytes = 0;

	if (!o || !reasons)
		return NULL;
	for (size_t i = 0; i < st->n_drops; i++) {
		const struct zt_status_counter *c = &st->drops[i];

		packets += c->packets;
		bytes += c->bytes;
		if (append_new(reasons, json_pack("{s:o, s:o, s:o}", "name",
						  json_str_or_null(c->name), "packets",
						  json_u64(c->packets), "bytes",
						  json_u64(c->bytes))) < 0)
			return NULL;
	}
	if (set_new(o, "packets", json_u64(packets)) < 0 ||
	    set_new(o, "bytes", json_u64(bytes)) < 0 ||
	    set_new(o, "reasons", TAKE_PTR(reasons)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_confirm(const struct zt_status_confirm *c)
{
	if (!c)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:i}", "generation", json_u64(c->generation),
			 "deadline", json_time(c->deadline_usec), "seconds_left", json_u64(c->seconds_left),
			 "uid", json_u64(c->uid), "pid", (int)c->pid);
}

static json_t *status_untracked(const struct zt_status *st)
{
	_cleanup_json_ json_t *a = json_array();

	if (!st->untrack_known)
		return json_null();
	if (!a)
		return NULL;
	for (size_t i = 0; i < st->n_untrack; i++) {
		const struct zt_status_untrack *u = &st->untrack[i];

		if (append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:i}", "family",
					    json_str_or_null(u->family), "table", json_str_or_null(u->table),
					    "chain", json_str_or_null(u->chain), "via", json_str_or_null(u->via),
					    "hook", json_str_or_null(u->hook), "priority", (int)u->priority)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

int zt_status_build(const struct zt_status *st, json_t **ret)
{
	_cleanup_json_ json_t *o = json_object(), *segs = json_array(), *flows = json_array();

	if (!o || !segs || !flows)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_segments; i++)
		if (append_new(segs, status_segment(&st->segments[i])) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < st->n_flows; i++)
		if (append_new(flows, status_flow(&st->flows[i])) < 0)
			return -ENOMEM;
	if (set_new(o, "daemon", status_daemon(st)) < 0 ||
	    set_new(o, "policy", status_policy(st)) < 0 ||
	    set_new(o, "events", status_events(&st->events)) < 0 ||
	    set_new(o, "segments", TAKE_PTR(segs)) < 0 ||
	    set_new(o, "flows", TAKE_PTR(flows)) < 0 ||
	    set_new(o, "drops", status_drops(st)) < 0 ||
	    set_new(o, "confirmation", status_confirm(st->confirm)) < 0 ||
	    set_new(o, "untracked", status_untracked(st)) < 0 ||
	    set_new(o, "control", json_pack("{s:o}", "refused", json_u64(st->ctl_refused))) < 0 ||
	    set_new(o, "warnings", json_diags(st->diags, ZT_SEV_WARNING)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

/* ---- status table ---- */

/* Display width in characters, counting UTF-8 lead bytes only. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

struct table {
	size_t ncols;
	const char *const *head;
	const bool *right;	/* right-aligned columns (numbers) */
	char **cells;		/* row-major, escaped */
	size_t n, cap;
	int err;
};

/* Add a row; cells are raw text (NULL prints as "-"). */
static void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->err)
		return;
	if (ZT_GROW(t->cells, t->cap, t->n + t->ncols - 1) < 0) {
		t->err = -ENOMEM;
		return;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->n + i] = zt_escape(s ? s : "-");
		if (!t->cells[t->n + i])
			t->err = -ENOMEM;
	}
	va_end(ap);
	t->n += t->ncols;
}

/* Very long cells (a segment with 2,000 interfaces) do not widen the whole column. */
#define TABLE_COL_MAX 40

static void table_print(struct table *t, FILE *f)
{
	size_t w[8] = {};

	for (size_t c = 0; c < t->ncols && c < ELEMENTSOF(w); c++) {
		w[c] = text_width(t->head[c]);
		for (size_t i = c; i < t->n; i += t->ncols) {
			size_t x = text_width(t->cells[i]);

			if (x > TABLE_COL_MAX)
				x = TABLE_COL_MAX;
			if (x > w[c])
				w[c] = x;
		}
	}
	for (size_t i = 0; i < t->n + t->ncols; i += t->ncols) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = i == 0 ? t->head[c] : t->cells[i - t->ncols + c];
			size_t x = text_width(s), pad = x < w[c] ? w[c] - x : 0;
			bool last = c + 1 == t->ncols;

			if (t->right[c])
				fprintf(f, "%*s%s", (int)pad, "", s);
			else
				fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
			if (!last)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Field accessors that tolerate anything: the document came over a socket. */
static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_null(v))
		return "-";
	return json_is_string(v) ? json_string_value(v) : "?";
}

static const char *jnum(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_null(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "?");
	return buf;
}

/* A JSON array of strings joined with sep into a malloc'd string. */
static char *jjoin(const json_t *o, const char *key, const char *sep)
{
	const json_t *a = json_object_get(o, key), *e;
	char *r = NULL;
	size_t i, len = 0;
	FILE *m;

	if (!json_is_array(a))
		return strdup("?");
	if (json_array_size(a) == 0)
		return strdup("-");
	m = open_memstream(&r, &len);
	if (!m)
		return NULL;
	json_array_foreach(a, i, e)
		fprintf(m, "%s%s", i ? sep : "", json_is_string(e) ? json_string_value(e) : "?");
	if (fclose(m) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void print_line(FILE *f, const char *label, const char *value)
{
	_cleanup_free_ char *v = zt_escape(value);

	fprintf(f, "%s%s\n", label, v ? v : "?");
}

static void print_list(FILE *f, const char *title, const json_t *a)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return;
	fprintf(f, "\n%s:\n", title);
	json_array_foreach(a, i, e) {
		_cleanup_free_ char *s = zt_escape(json_is_string(e) ? json_string_value(e) : "?");

		if (s)
			fprintf(f, "  %s\n", s);
	}
}

/* A reload on trial: the line an administrator must not miss. */
static int format_confirm(const json_t *st, FILE *f)
{
	const json_t *c = json_object_get(st, "confirmation");
	_cleanup_free_ char *line = NULL;
	char n[2][32];

	if (!json_is_object(c))
		return 0;
	if (asprintf(&line, "generation %s is on trial: it rolls back at %s (in %s s) unless "
			    "ztsegctl confirm comes first",
		     jnum(c, "generation", n[0], sizeof(n[0])), jstr(c, "deadline"),
		     jnum(c, "seconds_left", n[1], sizeof(n[1]))) < 0)
		return -ENOMEM;
	print_line(f, "confirm:    ", line);
	return 0;
}

/* Other tables that untrack traffic: ztseg's conntrack-based rules never see it as it is. */
static int format_untracked(const json_t *st, FILE *f)
{
	static const char *const head[] = { "UNTRACKED BY", "CHAIN", "HOOK", "PRIORITY", "NOTRACK IN" };
	static const bool right[] = { false, false, false, true, false };
	struct table t = { .ncols = 5, .head = head, .right = right };
	const json_t *u = json_object_get(st, "untracked"), *e;
	size_t i;
	int r;

	if (json_is_null(u)) {
		fputs("\nforeign tables: not known (the ruleset could not be read)\n", f);
		return 0;
	}
	if (!json_is_array(u) || json_array_size(u) == 0)
		return 0;
	json_array_foreach(u, i, e) {
		_cleanup_free_ char *tbl = NULL;
		char pr[32];

		if (asprintf(&tbl, "table %s %s", jstr(e, "family"), jstr(e, "table")) < 0) {
			t.err = -ENOMEM;
			break;
		}
		table_row(&t, tbl, jstr(e, "chain"), jstr(e, "hook"), jnum(e, "priority", pr, sizeof(pr)),
			  jstr(e, "via"));
	}
	r = t.err;
	if (!r) {
		fputs("\nforeign tables untrack traffic on ztseg's hooks (untracked packets skip every "
		      "connection-based rule):\n", f);
		table_print(&t, f);
	}
	table_clear(&t);
	return r;
}

static int format_header(const json_t *st, FILE *f)
{
	const json_t *dm = json_object_get(st, "daemon"), *pol = json_object_get(st, "policy"),
		     *ev = json_object_get(st, "events"), *dur;
	_cleanup_free_ char *line = NULL;
	char n[9][32];

	if (asprintf(&line, "%s, pid %s, version %s, config %s", jstr(dm, "state"),
		     jnum(dm, "pid", n[0], sizeof(n[0])), jstr(dm, "version"),
		     jstr(dm, "config_dir")) < 0)
		return -ENOMEM;
	print_line(f, "ztsegd:     ", line);
	free(TAKE_PTR(line));

	dur = json_object_get(pol, "last_apply_duration_usec");
	if (json_is_integer(dur))
		snprintf(n[1], sizeof(n[1]), "%.1f ms", (double)json_integer_value(dur) / 1000.0);
	else
		snprintf(n[1], sizeof(n[1]), "-");
	if (asprintf(&line, "generation %s, applied %s (took %s)",
		     jnum(pol, "generation", n[0], sizeof(n[0])), jstr(pol, "last_apply"),
		     n[1]) < 0)
		return -ENOMEM;
	print_line(f, "policy:     ", line);
	free(TAKE_PTR(line));
	print_line(f, "last error: ", json_is_string(json_object_get(pol, "last_error"))
					     ? jstr(pol, "last_error") : "none");

	if (asprintf(&line, "%s rtnetlink overruns, %s resyncs, %s nflog overruns, "
			    "%s spoofed, %s tamper, %s repairs, %s reloads (%s failed, %s rolled back)",
		     jnum(ev, "rtnetlink_overruns", n[0], 32), jnum(ev, "resyncs", n[1], 32),
		     jnum(ev, "nflog_overruns", n[2], 32), jnum(ev, "spoofed", n[3], 32),
		     jnum(ev, "tamper", n[4], 32), jnum(ev, "repairs", n[5], 32),
		     jnum(ev, "reloads", n[6], 32), jnum(ev, "reload_failures", n[7], 32),
		     jnum(ev, "rollbacks", n[8], 32)) < 0)
		return -ENOMEM;
	print_line(f, "events:     ", line);
	return format_confirm(st, f);
}

static int format_segments(const json_t *st, FILE *f)
{
	static const char *const head[] = { "SEGMENT", "MEMBER", "KIND" };
	static const bool right[] = { false, false, false };
	struct table t = { .ncols = 3, .head = head, .right = right };
	const json_t *segs = json_object_get(st, "segments"), *sg, *e;
	size_t i, j;
	int r;

	if (!json_is_array(segs) || json_array_size(segs) == 0) {
		fputs("\nno segments\n", f);
		return 0;
	}
	json_array_foreach(segs, i, sg) {
		const char *name = jstr(sg, "name");
		const json_t *routed = json_object_get(sg, "routed_addresses");
		size_t before = t.n;

		json_array_foreach(json_object_get(sg, "patterns"), j, e)
			table_row(&t, name, json_string_value(e), "pattern");
		json_array_foreach(json_object_get(sg, "interfaces"), j, e)
			table_row(&t, name, json_string_value(e), "interface");
		json_array_foreach(json_object_get(sg, "static_addresses"), j, e)
			table_row(&t, name, json_string_value(e), "static");
		json_array_foreach(routed, j, e) {
			_cleanup_free_ char *kind = NULL;

			if (asprintf(&kind, "routed via %s", jstr(e, "interface")) < 0) {
				t.err = -ENOMEM;
				break;
			}
			table_row(&t, name, jstr(e, "address"), kind);
		}
		if (t.n == before)
			table_row(&t, name, NULL, "no members");
	}
	r = t.err;
	/* The segment's name only on its first row. */
	if (!r) {
		_cleanup_free_ char *prev = NULL;

		for (size_t k = 0; k < t.n; k += t.ncols) {
			if (prev && streq(prev, t.cells[k])) {
				t.cells[k][0] = '\0';
				continue;
			}
			free(prev);
			prev = strdup(t.cells[k]);
			if (!prev) {
				r = -ENOMEM;
				break;
			}
		}
	}
	if (!r) {
		fputc('\n', f);
		table_print(&t, f);
	}
	table_clear(&t);
	return r;
}

static int format_flows(const json_t *st, FILE *f)
{
	static const char *const head[] = { "FLOW", "FROM", "TO", "PORTS", "PACKETS", "BYTES",
					    "SOURCE" };
	static const bool right[] = { false, false, false, false, true, true, false };
	struct table t = { .ncols = 7, .head = head, .right = right };
	const json_t *flows = json_object_get(st, "flows"), *fl;
	size_t i;
	int r;

	if (!json_is_array(flows) || json_array_size(flows) == 0) {
		fputs("\nno flows\n", f);
		return 0;
	}
	json_array_foreach(flows, i, fl) {
		_cleanup_free_ char *from = jjoin(fl, "from", ","), *to = jjoin(fl, "to", ","),
				    *ports = jjoin(fl, "ports", ","), *name = NULL;
		const char *seg = jstr(fl, "segment");
		char pk[32], by[32];

		if (!from || !to || !ports) {
			t.err = -ENOMEM;
			break;
		}
		/* A segment rule is named after its segment, like its chain. */
		if (json_is_string(json_object_get(fl, "segment")) &&
		    asprintf(&name, "%s/%s", seg, jstr(fl, "name")) < 0) {
			t.err = -ENOMEM;
			break;
		}
		table_row(&t, name ? name : jstr(fl, "name"), from, to, ports,
			  jnum(fl, "packets", pk, sizeof(pk)), jnum(fl, "bytes", by, sizeof(by)),
			  jstr(fl, "source"));
	}
	r = t.err;
	if (!r) {
		fputc('\n', f);
		table_print(&t, f);
	}
	table_clear(&t);
	return r;
}

static int format_drops(const json_t *st, FILE *f)
{
	static const char *const head[] = { "DROPS", "PACKETS", "BYTES" };
	static const bool right[] = { false, true, true };
	struct table t = { .ncols = 3, .head = head, .right = right };
	const json_t *drops = json_object_get(st, "drops"), *e;
	char pk[32], by[32];
	size_t i;
	int r;

	if (!json_is_object(drops))
		return 0;
	json_array_foreach(json_object_get(drops, "reasons"), i, e)
		table_row(&t, jstr(e, "name"), jnum(e, "packets", pk, sizeof(pk)),
			  jnum(e, "bytes", by, sizeof(by)));
	table_row(&t, "total", jnum(drops, "packets", pk, sizeof(pk)),
		  jnum(drops, "bytes", by, sizeof(by)));
	r = t.err;
	if (!r) {
		fputc('\n', f);
		table_print(&t, f);
	}
	table_clear(&t);
	return r;
}

int zt_status_format(const json_t *status, FILE *f)
{
	int r;

	if (!json_is_object(status))
		return -EBADMSG;
	r = format_header(status, f);
	if (r == 0)
		r = format_segments(status, f);
	if (r == 0)
		r = format_flows(status, f);
	if (r == 0)
		r = format_drops(status, f);
	if (r == 0)
		r = format_untracked(status, f);
	if (r == 0) {
		print_list(f, "errors in the policy on disk",
			   json_object_get(json_object_get(status, "policy"), "errors"));
		print_list(f, "warnings", json_object_get(status, "warnings"));
	}
	return r;
}
