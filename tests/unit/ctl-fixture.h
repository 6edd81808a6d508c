/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control-socket tests' fixture: a server with a few commands, driven
 * over socketpairs and real sockets with the tests' own clock.
 */
#ifndef ZT_TEST_CTL_FIXTURE_H
#define ZT_TEST_CTL_FIXTURE_H

#include <check.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "ctl.h"

#define T0 1000000ull		/* the tests' clock: server functions take "now" */
#define TIMEOUT (5 * ZT_USEC_PER_SEC)

/* ---- a server with a few commands ---- */

struct fix {
	struct zt_ctl_conn *deferred;
	unsigned closed;
	unsigned runs;
	size_t big;		/* size of the string the "big" command returns */
	int handed;		/* the fd the "subscribe" command took over, or -1 */
};

static int cmd_status(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	struct fix *f = ud;

	f->runs++;
	return zt_ctl_conn_reply_ok(c,
				    json_pack("{s:s, s:I, s:I, s:O}", "hello", "world", "uid",
					      (json_int_t)req->peer->uid, "pid",
					      (json_int_t)req->peer->pid, "args", req->args),
				    req->now_usec);
}

static int cmd_reload(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	struct fix *f = ud;

	f->runs++;
	return zt_ctl_conn_reply_ok(c, json_pack("{s:b}", "reloaded", 1), req->now_usec);
}

static int cmd_explain(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	struct fix *f = ud;

	f->runs++;
	f->deferred = c;
	return 0;
}

static int cmd_fail(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	return -EIO;
}

static int cmd_big(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	struct fix *f = ud;
	_cleanup_free_ char *s = malloc(f->big);

	ck_assert_ptr_nonnull(s);
	memset(s, 'a', f->big);
	return zt_ctl_conn_reply_ok(c, json_pack("{s:s%}", "blob", s, f->big), req->now_usec);
}

/* A subscription: the connection taken over; a second handoff or a reply is refused. */
static int cmd_subscribe(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *ud)
{
	struct fix *f = ud;
	int fd2;

	f->runs++;
	ck_assert_int_eq(zt_ctl_conn_handoff(c, &f->handed), 0);
	ck_assert_int_eq(zt_ctl_conn_handoff(c, &fd2), -EALREADY);
	ck_assert_int_eq(zt_ctl_conn_reply_ok(c, NULL, req->now_usec), -EALREADY);
	return 0;
}

static const struct zt_ctl_command commands[] = {
	{ "status", false, cmd_status },
	{ "reload", true, cmd_reload },
	{ "explain", false, cmd_explain },
	{ "fail", false, cmd_fail },
	{ "big", false, cmd_big },
	{ "subscribe", false, cmd_subscribe },
};

static void on_closed(struct zt_ctl_conn *c, void *ud)
{
	struct fix *f = ud;

	f->closed++;
	if (f->deferred == c)
		f->deferred = NULL;
}

static inline struct zt_ctl_server *server_new_limits(struct fix *f, unsigned max_conns,
						      unsigned reserved, unsigned per_uid, uid_t self)
{
	struct zt_ctl_server_config cfg = {
		.commands = commands,
		.n_commands = ELEMENTSOF(commands),
		.userdata = f,
		.conn_closed = on_closed,
		.auth = { .self_uid = self },
		.max_conns = max_conns,
		.reserved = reserved,
		.max_per_uid = per_uid,
		.timeout_usec = TIMEOUT,
	};
	struct zt_ctl_server *s = NULL;

	ck_assert_int_eq(zt_ctl_server_new(&cfg, &s), 0);
	return s;
}

static inline struct zt_ctl_server *server_new(struct fix *f, unsigned max_conns, uid_t self)
{
	/* The per-uid cap out of the way: these tests are all one uid. */
	return server_new_limits(f, max_conns, 0, 1000, self);
}

/* A connection over a socketpair: *cfd is the client's end. */
static inline struct zt_ctl_conn *pair_conn(struct zt_ctl_server *s, int *cfd)
{
	struct zt_ctl_conn *c = NULL;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(zt_ctl_server_add_fd(s, sv[1], T0, &c, NULL), 0);
	*cfd = sv[0];
	return c;
}

static inline void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

static inline void send_frame_raw(int fd, const char *json)
{
	size_t n = strlen(json);
	uint8_t hdr[4] = { n >> 24, n >> 16, n >> 8, n };

	write_all(fd, hdr, 4);
	write_all(fd, json, n);
}

/* Read one reply frame from the client's end (the server has written it all). */
static inline char *read_frame(int fd, size_t *len)
{
	uint8_t hdr[4];
	size_t got = 0, n;
	char *body;

	while (got < 4) {
		ssize_t r = recv(fd, hdr + got, 4 - got, MSG_DONTWAIT);

		ck_assert_msg(r > 0, "no reply header (%zd, %m)", r);
		got += (size_t)r;
	}
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	ck_assert_uint_le(n, ZT_CTL_REPLY_MAX);
	body = malloc(n + 1);
	ck_assert_ptr_nonnull(body);
	for (got = 0; got < n;) {
		ssize_t r = recv(fd, body + got, n - got, MSG_DONTWAIT);

		ck_assert_msg(r > 0, "short reply body (%zd)", r);
		got += (size_t)r;
	}
	body[n] = '\0';
	*len = n;
	return body;
}

/* Drive the connection to its end; return the last process() result. */
static inline int drive(struct zt_ctl_conn *c)
{
	int r;

	for (int i = 0; i < 1000; i++) {
		r = zt_ctl_conn_process(c, T0 + 1);
		if (r <= 0 || zt_ctl_conn_events(c) == 0)
			return r;
		if (zt_ctl_conn_events(c) == EPOLLIN)
			return r;	/* waiting for the client */
	}
	return r;
}

/*
 * Send raw bytes (optionally half-closing), drive the connection, and
 * decode the reply: returns zt_ctl_reply_decode's result; errors in d.
 */
static inline int exchange_raw(struct zt_ctl_server *s, const void *bytes, size_t len, bool shut,
			json_t **result, struct zt_diags *d)
{
	_cleanup_free_ char *body = NULL;
	struct zt_ctl_conn *c;
	size_t blen;
	int cfd, r;

	c = pair_conn(s, &cfd);
	if (len)
		write_all(cfd, bytes, len);
	if (shut)
		shutdown(cfd, SHUT_WR);
	r = drive(c);
	ck_assert_int_eq(r, 0);
	zt_ctl_conn_free(c);
	body = read_frame(cfd, &blen);
	close(cfd);
	return zt_ctl_reply_decode(body, blen, result, d);
}

static inline int exchange_json(struct zt_ctl_server *s, const char *json, json_t **result,
			 struct zt_diags *d)
{
	size_t n = strlen(json);
	_cleanup_free_ uint8_t *buf = malloc(n + 4);

	buf[0] = n >> 24;
	buf[1] = n >> 16;
	buf[2] = n >> 8;
	buf[3] = n;
	memcpy(buf + 4, json, n);
	return exchange_raw(s, buf, n + 4, false, result, d);
}

static inline bool diags_have(const struct zt_diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->v[i].msg, needle))
			return true;
	return false;
}

/* Bytes waiting in a socket's receive queue. */
static inline int ioctl_unread(int fd, int *n)
{
	return ioctl(fd, SIOCINQ, n) < 0 ? -errno : 0;
}

static inline char *tmp_sock_dir(void)
{
	char *dir = strdup("/tmp/ztctl-test.XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* Let an unprivileged child reach the socket in the root-only cases. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	return dir;
}

static inline int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

#endif
