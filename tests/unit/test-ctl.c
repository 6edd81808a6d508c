/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctl.c: framing, request/reply decoding, authorization,
 * the server's state machine over socketpairs, the client call, status JSON.
 */
#include <check.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/fsuid.h>
#include "ctl.h"
#include "escape.h"

#define T0 1000000ull		/* the tests' clock: server functions take "now" */
#define TIMEOUT (5 * ZT_USEC_PER_SEC)

/* ---- a server with a few commands ---- */

struct fix {
	struct zt_ctl_conn *deferred;
	unsigned closed;
	unsigned runs;
	size_t big;		/* size of the string the "big" command returns */
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

static const struct zt_ctl_command commands[] = {
	{ "status", false, cmd_status },
	{ "reload", true, cmd_reload },
	{ "explain", false, cmd_explain },
	{ "fail", false, cmd_fail },
	{ "big", false, cmd_big },
};

static void on_closed(struct zt_ctl_conn *c, void *ud)
{
	struct fix *f = ud;

	f->closed++;
	if (f->deferred == c)
		f->deferred = NULL;
}

static struct zt_ctl_server *server_new_limits(struct fix *f, unsigned max_conns, unsigned reserved,
					       unsigned per_uid, uid_t self);

static struct zt_ctl_server *server_new(struct fix *f, unsigned max_conns, uid_t self)
{
	/* The per-uid cap out of the way: these tests are all one uid. */
	return server_new_limits(f, max_conns, 0, 1000, self);
}

static struct zt_ctl_server *server_new_limits(struct fix *f, unsigned max_conns, unsigned reserved,
					       unsigned per_uid, uid_t self)
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

/* A connection over a socketpair: *cfd is the client's end. */
static struct zt_ctl_conn *pair_conn(struct zt_ctl_server *s, int *cfd)
{
	struct zt_ctl_conn *c = NULL;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(zt_ctl_server_add_fd(s, sv[1], T0, &c, NULL), 0);
	*cfd = sv[0];
	return c;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

static void send_frame_raw(int fd, const char *json)
{
	size_t n = strlen(json);
	uint8_t hdr[4] = { n >> 24, n >> 16, n >> 8, n };

	write_all(fd, hdr, 4);
	write_all(fd, json, n);
}

/* Read one reply frame from the client's end (the server has written it all). */
static char *read_frame(int fd, size_t *len)
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
static int drive(struct zt_ctl_conn *c)
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
static int exchange_raw(struct zt_ctl_server *s, const void *bytes, size_t len, bool shut,
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

static int exchange_json(struct zt_ctl_server *s, const char *json, json_t **result,
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

static bool diags_have(const struct zt_diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->v[i].msg, needle))
			return true;
	return false;
}

/* Bytes waiting in a socket's receive queue. */
static int ioctl_unread(int fd, int *n)
{
	return ioctl(fd, SIOCINQ, n) < 0 ? -errno : 0;
}

/* ---- framing ---- */

START_TEST(test_good_status)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};

	ck_assert_int_eq(exchange_json(s, "{\"version\":1,\"command\":\"status\","
					  "\"args\":{\"x\":[1,2]}}", &res, &d), 0);
	ck_assert_str_eq(json_string_value(json_object_get(res, "hello")), "world");
	ck_assert_int_eq(json_integer_value(json_object_get(res, "uid")), getuid());
	ck_assert_int_eq(json_integer_value(json_object_get(res, "pid")), getpid());
	ck_assert(json_is_array(json_object_get(json_object_get(res, "args"), "x")));
	ck_assert_uint_eq(f.runs, 1);
	ck_assert_uint_eq(f.closed, 1);
	ck_assert_uint_eq(zt_ctl_server_n_conns(s), 0);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_byte_by_byte)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_json_ json_t *req = zt_ctl_request_new("status", NULL), *res = NULL;
	_cleanup_free_ char *frame = NULL, *body = NULL;
	struct zt_diags d = {};
	struct zt_ctl_conn *c;
	size_t len, blen;
	int cfd;

	ck_assert_int_eq(zt_ctl_frame_encode(req, ZT_CTL_REQUEST_MAX, &frame, &len), 0);
	c = pair_conn(s, &cfd);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 1);	/* nothing yet */
	for (size_t i = 0; i + 1 < len; i++) {
		write_all(cfd, frame + i, 1);
		ck_assert_int_eq(zt_ctl_conn_process(c, T0 + i), 1);
		ck_assert_uint_eq(zt_ctl_conn_events(c), EPOLLIN);
	}
	ck_assert_uint_eq(f.runs, 0);
	write_all(cfd, frame + len - 1, 1);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0 + len), 0);
	ck_assert_uint_eq(f.runs, 1);
	zt_ctl_conn_free(c);
	body = read_frame(cfd, &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, &res, &d), 0);
	close(cfd);
}
END_TEST

START_TEST(test_oversized_not_read)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_free_ char *body = NULL;
	uint8_t hdr[4] = { 0, 0xa0, 0, 0 };	/* 10 MiB */
	struct zt_diags d = {};
	struct zt_ctl_conn *c;
	size_t blen;
	int cfd, n;

	c = pair_conn(s, &cfd);
	write_all(cfd, hdr, 4);
	write_all(cfd, "{\"version\"", 10);
	/* Answered on the header alone: no waiting for 10 MiB. */
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 0);
	/* The body bytes that did arrive are still unread in the server's socket. */
	ck_assert_int_eq(ioctl_unread(zt_ctl_conn_fd(c), &n), 0);
	ck_assert_int_eq(n, 10);
	zt_ctl_conn_free(c);
	body = read_frame(cfd, &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, NULL, &d), -EREMOTEIO);
	ck_assert(diags_have(&d, "request too large: 10485760 bytes"));
	ck_assert_uint_eq(zt_ctl_server_stats(s)->bad_requests, 1);
	ck_assert_uint_eq(f.runs, 0);
	zt_diags_clear(&d);
	close(cfd);
}
END_TEST

/* Raw byte streams that must each get an ok:false reply naming the problem. */
static const struct {
	const char *bytes;
	size_t len;
	bool shut;
	const char *err;
} raw_cases[] = {
	{ "\0\0\0\0", 4, false, "empty request" },
	{ "\0\0\0\x64{\"vers", 10, true, "truncated request" },
	{ "\0\0", 2, true, "truncated request" },
	{ "\0\0\0\x05hello", 9, false, "malformed request" },
	{ "\0\0\0\x02{}", 6, false, "'version' is missing" },
	{ "\0\0\0\x03{\0}", 7, false, "malformed request" },
	{ "\x00\x01\x00\x01", 4, false, "request too large: 65537 bytes" },
	{ "\xff\xff\xff\xff", 4, false, "request too large" },
};

START_TEST(test_raw)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_diags d = {};

	ck_assert_int_eq(exchange_raw(s, raw_cases[_i].bytes, raw_cases[_i].len,
				      raw_cases[_i].shut, NULL, &d), -EREMOTEIO);
	ck_assert_msg(diags_have(&d, raw_cases[_i].err), "%s: got '%s'", raw_cases[_i].err,
		      d.n ? d.v[0].msg : "(none)");
	ck_assert_uint_eq(f.runs, 0);
	zt_diags_clear(&d);
}
END_TEST

/* Well-framed JSON that is not a valid request. */
static const struct {
	const char *json;
	const char *err;
} bad_requests[] = {
	{ "[1,2]", "not a JSON object" },
	{ "\"status\"", "malformed request" },
	{ "42", "malformed request" },
	{ "null", "malformed request" },
	{ "{\"version\":1}", "'command' is missing" },
	{ "{\"command\":\"status\"}", "'version' is missing" },
	{ "{\"version\":1,\"command\":\"status\",\"args\":[]}", "'args' must be an object" },
	{ "{\"version\":1,\"command\":42}", "'command' must be a non-empty string" },
	{ "{\"version\":1,\"command\":\"\"}", "'command' must be a non-empty string" },
	{ "{\"version\":0,\"command\":\"status\"}", "positive integer" },
	{ "{\"version\":\"1\",\"command\":\"status\"}", "positive integer" },
	{ "{\"version\":2,\"command\":\"status\"}", "protocol version 2 is not supported" },
	{ "{\"version\":1,\"command\":\"status\",\"extra\":1}", "unknown key 'extra'" },
	{ "{\"version\":1,\"command\":\"status\",\"command\":\"reload\"}", "duplicate" },
	{ "{\"version\":1,\"command\":\"frobnicate\"}", "unknown command 'frobnicate'" },
	{ "{\"version\":1,\"command\":\"status\"} trailing", "malformed request" },
	{ "{\"version\":1,\"command\":\"st\\u0000atus\"}", "malformed request" },
	{ "{\"version\":1,\"command\":\"fail\"}", "fail: Input/output error" },
};

START_TEST(test_bad_request)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_diags d = {};

	ck_assert_int_eq(exchange_json(s, bad_requests[_i].json, NULL, &d), -EREMOTEIO);
	ck_assert_msg(diags_have(&d, bad_requests[_i].err), "%s: got '%s'",
		      bad_requests[_i].err, d.n ? d.v[0].msg : "(none)");
	ck_assert_uint_eq(f.runs, 0);
	zt_diags_clear(&d);
}
END_TEST

/* Random bytes, framed or not: always a reply or a clean close, never a crash. */
START_TEST(test_random_bytes)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	unsigned seed = 0x5eed + (unsigned)_i;
	uint8_t buf[512];
	size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(buf));
	struct zt_diags d = {};

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand_r(&seed);
	/* Half the cases carry a plausible length so the body reaches the parser. */
	if (_i % 2 && len > 4) {
		buf[0] = buf[1] = 0;
		buf[2] = (uint8_t)((len - 4) >> 8);
		buf[3] = (uint8_t)(len - 4);
	}
	ck_assert_int_eq(exchange_raw(s, buf, len, true, NULL, &d), -EREMOTEIO);
	ck_assert_uint_ge(d.n, 1);
	ck_assert_uint_eq(f.runs, 0);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_eof_without_request)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_ctl_conn *c;
	int cfd;

	c = pair_conn(s, &cfd);
	close(cfd);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 0);
	zt_ctl_conn_free(c);
	ck_assert_uint_eq(f.closed, 1);
	ck_assert_uint_eq(zt_ctl_server_stats(s)->bad_requests, 0);
}
END_TEST

/* A client that leaves before its answer: EPIPE, not SIGPIPE. */
START_TEST(test_client_gone)
{
	struct fix f = { .big = 1 << 20 };
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_ctl_conn *c;
	int cfd;

	c = pair_conn(s, &cfd);
	send_frame_raw(cfd, "{\"version\":1,\"command\":\"big\"}");
	close(cfd);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), -EPIPE);
	zt_ctl_conn_free(c);
}
END_TEST

START_TEST(test_deferred_reply)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_json_ json_t *res = NULL;
	_cleanup_free_ char *body = NULL;
	struct zt_diags d = {};
	struct zt_ctl_conn *c;
	size_t blen;
	int cfd;

	c = pair_conn(s, &cfd);
	send_frame_raw(cfd, "{\"version\":1,\"command\":\"explain\"}");
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 1);
	ck_assert_ptr_eq(f.deferred, c);
	ck_assert_uint_eq(zt_ctl_conn_events(c), 0);
	ck_assert(zt_ctl_conn_deadline(c) == UINT64_MAX);
	/* Much later: no timeout while the daemon owns the answer. */
	ck_assert_uint_eq(zt_ctl_server_expire(s, T0 + 100 * TIMEOUT), 0);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0 + 100 * TIMEOUT), 1);

	ck_assert_int_eq(zt_ctl_conn_reply_ok(f.deferred, json_pack("{s:s}", "verdict", "allow"),
					      T0 + 100 * TIMEOUT), 0);
	ck_assert_int_eq(zt_ctl_conn_reply_errorf(c, T0, "twice"), -EALREADY);
	ck_assert_uint_eq(zt_ctl_conn_events(c), EPOLLOUT);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0 + 100 * TIMEOUT + 1), 0);
	zt_ctl_conn_free(c);
	body = read_frame(cfd, &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, &res, &d), 0);
	ck_assert_str_eq(json_string_value(json_object_get(res, "verdict")), "allow");
	close(cfd);
}
END_TEST

START_TEST(test_reply_diags)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_free_ char *body = NULL;
	struct zt_diags in = {}, out = {};
	struct zt_ctl_conn *c;
	size_t blen;
	int cfd;

	zt_diag_error(&in, "segments.d/web.yaml", 7, 14, "unknown zone 'ap'");
	zt_diag_error(&in, "ztseg.yaml", 0, 0, "group-writable");
	c = pair_conn(s, &cfd);
	send_frame_raw(cfd, "{\"version\":1,\"command\":\"explain\"}");
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 1);
	ck_assert_int_eq(zt_ctl_conn_reply_diags(c, &in, T0), 0);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 0);
	zt_ctl_conn_free(c);
	body = read_frame(cfd, &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, NULL, &out), -EREMOTEIO);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_str_eq(out.v[0].msg, "segments.d/web.yaml:7:14: unknown zone 'ap'");
	ck_assert_str_eq(out.v[1].msg, "ztseg.yaml: group-writable");
	zt_diags_clear(&in);
	zt_diags_clear(&out);
	close(cfd);
}
END_TEST

START_TEST(test_partial_writes)
{
	struct fix f = { .big = 1 << 20 };
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_json_ json_t *res = NULL;
	_cleanup_free_ char *buf = malloc(f.big + 64);
	struct zt_diags d = {};
	struct zt_ctl_conn *c;
	size_t got = 0, need = 0;
	int cfd, sndbuf = 4096, r, rounds = 0;

	c = pair_conn(s, &cfd);
	ck_assert_int_eq(setsockopt(zt_ctl_conn_fd(c), SOL_SOCKET, SO_SNDBUF, &sndbuf,
				    sizeof(sndbuf)), 0);
	send_frame_raw(cfd, "{\"version\":1,\"command\":\"big\"}");
	for (;;) {
		r = zt_ctl_conn_process(c, T0 + 1);
		if (r == 0)
			break;
		ck_assert_int_eq(r, 1);
		ck_assert_uint_eq(zt_ctl_conn_events(c), EPOLLOUT);
		rounds++;
		/* The client drains a little at a time. */
		ssize_t n = recv(cfd, buf + got, 3000, MSG_DONTWAIT);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_int_gt(rounds, 10);
	zt_ctl_conn_free(c);
	for (;;) {
		ssize_t n = recv(cfd, buf + got, f.big + 64 - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	need = (size_t)((uint8_t)buf[0]) << 24 | (size_t)((uint8_t)buf[1]) << 16 |
	       (size_t)((uint8_t)buf[2]) << 8 | (uint8_t)buf[3];
	ck_assert_uint_eq(got, need + 4);
	ck_assert_int_eq(zt_ctl_reply_decode(buf + 4, need, &res, &d), 0);
	ck_assert_uint_eq(json_string_length(json_object_get(res, "blob")), f.big);
	close(cfd);
}
END_TEST

START_TEST(test_reply_too_large)
{
	struct fix f = { .big = ZT_CTL_REPLY_MAX + 1 };
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_diags d = {};

	ck_assert_int_eq(exchange_json(s, "{\"version\":1,\"command\":\"big\"}", NULL, &d),
			 -EREMOTEIO);
	ck_assert(diags_have(&d, "reply too large"));
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_frame_encode_limit)
{
	_cleanup_json_ json_t *o = json_pack("{s:s}", "k", "0123456789");
	_cleanup_free_ char *buf = NULL;
	size_t len;

	ck_assert_int_eq(zt_ctl_frame_encode(o, 10, &buf, &len), -EMSGSIZE);
	ck_assert_int_eq(zt_ctl_frame_encode(o, 100, &buf, &len), 0);
	ck_assert_uint_eq(len, 4 + strlen("{\"k\":\"0123456789\"}"));
	ck_assert_int_eq(buf[3], (char)(len - 4));
	ck_assert(memcmp(buf + 4, "{\"k\":\"0123456789\"}", len - 4) == 0);
}
END_TEST

/* Replies a client must refuse. */
static const struct {
	const char *json;
	int rc;
	const char *err;
} bad_replies[] = {
	{ "{\"version\":1,\"ok\":true,\"result\":{}}", 0, NULL },
	{ "{\"version\":1,\"ok\":false,\"errors\":[\"a:1:2: x\"]}", -EREMOTEIO, "a:1:2: x" },
	{ "{\"version\":1,\"ok\":false,\"errors\":[]}", -EREMOTEIO, "without saying why" },
	{ "{\"version\":1,\"ok\":false,\"errors\":[7]}", -EREMOTEIO, "(malformed error)" },
	{ "{\"version\":1,\"ok\":true}", -EBADMSG, "'result' is not an object" },
	{ "{\"version\":1,\"ok\":false}", -EBADMSG, "'errors' is not an array" },
	{ "{\"ok\":true,\"result\":{}}", -EBADMSG, "no 'version' or 'ok'" },
	{ "{\"version\":1,\"ok\":1,\"result\":{}}", -EBADMSG, "no 'version' or 'ok'" },
	{ "[]", -EBADMSG, "not a JSON object" },
	{ "{", -EBADMSG, "malformed reply" },
};

START_TEST(test_reply_decode)
{
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	const char *j = bad_replies[_i].json;

	ck_assert_int_eq(zt_ctl_reply_decode(j, strlen(j), &res, &d), bad_replies[_i].rc);
	if (bad_replies[_i].err)
		ck_assert_msg(diags_have(&d, bad_replies[_i].err), "got '%s'",
			      d.n ? d.v[0].msg : "(none)");
	else
		ck_assert(json_is_object(res));
	zt_diags_clear(&d);
}
END_TEST

/* ---- authorization ---- */

static gid_t groups_admin[] = { 10, 20, 999 };
static gid_t groups_other[] = { 10, 20, 30 };

static const struct {
	const char *what;
	struct zt_ctl_peer peer;
	struct zt_ctl_auth auth;
	bool allowed;
} auth_cases[] = {
	{ "root", { .uid = 0, .gid = 0 }, { .self_uid = 500 }, true },
	{ "daemon's own uid", { .uid = 500, .gid = 500 }, { .self_uid = 500 }, true },
	{ "admin by gid", { .uid = 1000, .gid = 999 },
	  { .self_uid = 500, .admin_gid = 999, .have_admin_gid = true }, true },
	{ "admin by supplementary group",
	  { .uid = 1000, .gid = 1000, .groups = groups_admin, .n_groups = 3 },
	  { .self_uid = 500, .admin_gid = 999, .have_admin_gid = true }, true },
	{ "other user", { .uid = 1000, .gid = 1000, .groups = groups_other, .n_groups = 3 },
	  { .self_uid = 500, .admin_gid = 999, .have_admin_gid = true }, false },
	{ "nobody", { .uid = 65534, .gid = 65534 },
	  { .self_uid = 0, .admin_gid = 999, .have_admin_gid = true }, false },
	/* Without the group, gid 0 must not be mistaken for it. */
	{ "no admin group, gid 0", { .uid = 1000, .gid = 0 }, { .self_uid = 500 }, false },
	{ "no admin group, supplementary", { .uid = 1000, .gid = 1000, .groups = groups_admin,
					     .n_groups = 3 }, { .self_uid = 500 }, false },
};

START_TEST(test_auth_decision)
{
	ck_assert_msg(zt_ctl_peer_may_change(&auth_cases[_i].peer, &auth_cases[_i].auth) ==
			      auth_cases[_i].allowed,
		      "%s", auth_cases[_i].what);
}
END_TEST

START_TEST(test_peer_read)
{
	struct zt_ctl_peer p = {};
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(zt_ctl_peer_read(sv[0], &p), 0);
	ck_assert_int_eq(p.uid, geteuid());
	ck_assert_int_eq(p.gid, getegid());
	ck_assert_int_eq(p.pid, getpid());
	ck_assert(p.groups_known);
	zt_ctl_peer_clear(&p);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* Through the server: a refused change gets a clear error and never reaches its handler. */
START_TEST(test_auth_server)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};

	/* As ourselves: allowed when we are root (or happen to be the "daemon"). */
	if (getuid() == 0 || getuid() == 4242) {
		ck_assert_int_eq(exchange_json(s, "{\"version\":1,\"command\":\"reload\"}", &res, &d),
				 0);
		ck_assert(json_is_true(json_object_get(res, "reloaded")));
	}
	zt_ctl_server_free(s);

	/* A daemon uid that is not ours, no admin group, and we are not root. */
	s = server_new(&f, 0, getuid() + 1);
	if (getuid() != 0) {
		f.runs = 0;
		ck_assert_int_eq(exchange_json(s, "{\"version\":1,\"command\":\"reload\"}", NULL, &d),
				 -EREMOTEIO);
		ck_assert(diags_have(&d, "permission denied: 'reload'"));
		ck_assert_uint_eq(f.runs, 0);
		ck_assert_uint_eq(zt_ctl_server_stats(s)->denied, 1);
	}
	zt_diags_clear(&d);
}
END_TEST

/* ---- limits: client cap, deadline ---- */

static char *tmp_sock_dir(void)
{
	char *dir = strdup("/tmp/ztctl-test.XXXXXX");

	ck_assert_ptr_nonnull(dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* Let an unprivileged child reach the socket in the root-only cases. */
	ck_assert_int_eq(chmod(dir, 0755), 0);
	return dir;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

START_TEST(test_client_cap)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 2, geteuid());
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL, *body = NULL;
	struct zt_ctl_conn *c[3] = {};
	struct zt_diags d = {};
	int fds[3];
	size_t blen;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0600, NULL), 0);
	for (int i = 0; i < 3; i++)
		fds[i] = connect_to(path);
	ck_assert_int_eq(zt_ctl_server_accept(s, T0, &c[0]), 1);
	ck_assert_int_eq(zt_ctl_server_accept(s, T0, &c[1]), 1);
	/* The third is accepted, told, closed; and nothing more is pending. */
	ck_assert_int_eq(zt_ctl_server_accept(s, T0, &c[2]), 0);
	ck_assert_ptr_null(c[2]);
	ck_assert_uint_eq(zt_ctl_server_n_conns(s), 2);
	ck_assert_uint_eq(zt_ctl_server_stats(s)->refused_full, 1);
	body = read_frame(fds[2], &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, NULL, &d), -EREMOTEIO);
	ck_assert(diags_have(&d, "too many clients"));
	/* A slot frees up: the next client gets in. */
	zt_ctl_conn_free(c[0]);
	close(fds[0]);
	fds[0] = connect_to(path);
	ck_assert_int_eq(zt_ctl_server_accept(s, T0, &c[0]), 1);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	zt_ctl_server_free(TAKE_PTR(s));
	ck_assert_int_eq(access(path, F_OK), -1);
	rmdir(dir);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_deadline)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	_cleanup_free_ char *body = NULL;
	struct zt_ctl_conn *c, *c2;
	struct zt_diags d = {};
	int cfd, cfd2;
	size_t blen;

	ck_assert(zt_ctl_server_next_deadline(s) == UINT64_MAX);
	c = pair_conn(s, &cfd);
	ck_assert(zt_ctl_conn_deadline(c) == T0 + TIMEOUT);
	ck_assert(zt_ctl_server_next_deadline(s) == T0 + TIMEOUT);
	/* A slow sender: half a header, then silence. */
	write_all(cfd, "\0\0", 2);
	ck_assert_int_eq(zt_ctl_conn_process(c, T0 + 1), 1);
	ck_assert_uint_eq(zt_ctl_server_expire(s, T0 + TIMEOUT - 1), 0);
	ck_assert_uint_eq(zt_ctl_server_expire(s, T0 + TIMEOUT), 1);
	ck_assert_uint_eq(f.closed, 1);
	ck_assert_uint_eq(zt_ctl_server_n_conns(s), 0);
	ck_assert_uint_eq(zt_ctl_server_stats(s)->timed_out, 1);
	body = read_frame(cfd, &blen);
	ck_assert_int_eq(zt_ctl_reply_decode(body, blen, NULL, &d), -EREMOTEIO);
	ck_assert(diags_have(&d, "request timed out"));
	close(cfd);

	/* process() itself enforces the deadline too. */
	c2 = pair_conn(s, &cfd2);
	ck_assert_int_eq(zt_ctl_conn_process(c2, T0 + TIMEOUT + 5), -ETIMEDOUT);
	zt_ctl_conn_free(c2);
	close(cfd2);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_free_with_conns)
{
	struct fix f = {};
	struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_ctl_conn *c;
	char b;
	int cfd[3];

	for (int i = 0; i < 3; i++)
		c = pair_conn(s, &cfd[i]);
	/* The last one waits for a deferred reply that never comes. */
	send_frame_raw(cfd[2], "{\"version\":1,\"command\":\"explain\"}");
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 1);
	ck_assert_ptr_eq(f.deferred, c);
	zt_ctl_server_free(s);
	ck_assert_uint_eq(f.closed, 3);
	ck_assert_ptr_null(f.deferred);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(recv(cfd[i], &b, 1, MSG_DONTWAIT), 0);
		close(cfd[i]);
	}
}
END_TEST

/* ---- listen / adopt ---- */

START_TEST(test_listen)
{
	struct fix f = {};
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL, *file = NULL;
	struct zt_ctl_server *s = server_new(&f, 0, 4242), *s2 = server_new(&f, 0, 4242);
	struct stat st;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_ge(asprintf(&file, "%s/file", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0660, NULL), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	/* A live daemon's socket is not taken over. */
	ck_assert_int_eq(zt_ctl_server_listen(s2, path, 0660, NULL), -EADDRINUSE);
	/* A stale one is: close the listener without removing the path. */
	fd = dup(zt_ctl_server_fd(s));
	zt_ctl_server_free(s);
	ck_assert_int_eq(access(path, F_OK), -1);	/* removed on free */
	close(fd);
	{
		/* Leave a stale socket behind by hand. */
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int x = socket(AF_UNIX, SOCK_STREAM, 0);

		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		ck_assert_int_eq(bind(x, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(x);
	}
	ck_assert_int_eq(zt_ctl_server_listen(s2, path, 0660,
					      "ztseg-no-such-group-for-tests"), 1);
	zt_ctl_server_free(s2);
	/* Anything that is not a socket is left alone. */
	s2 = server_new(&f, 0, 4242);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(zt_ctl_server_listen(s2, file, 0660, NULL), -EEXIST);
	ck_assert_int_eq(access(file, F_OK), 0);
	unlink(file);
	/* sun_path holds 107 bytes. */
	{
		char longp[200];

		memset(longp, 'x', sizeof(longp) - 1);
		longp[0] = '/';
		longp[sizeof(longp) - 1] = '\0';
		ck_assert_int_eq(zt_ctl_server_listen(s2, longp, 0660, NULL), -ENAMETOOLONG);
	}
	zt_ctl_server_free(s2);
	rmdir(dir);
}
END_TEST

START_TEST(test_adopt)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sv[2], udp, lfd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(zt_ctl_server_adopt(s, sv[0]), -EINVAL);	/* not listening */
	close(sv[0]);
	close(sv[1]);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(zt_ctl_server_adopt(s, udp), -EAFNOSUPPORT);
	close(udp);
	udp = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(zt_ctl_server_adopt(s, udp), -ESOCKTNOSUPPORT);
	close(udp);
	/* An abstract-namespace listener stands in for systemd's socket. */
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "ztctl-test-%d", getpid());
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa,
			      offsetof(struct sockaddr_un, sun_path) + 1 +
				      strlen(sa.sun_path + 1)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(zt_ctl_server_adopt(s, lfd), 0);
	ck_assert_int_eq(zt_ctl_server_fd(s), lfd);
	ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	ck_assert_int_eq(zt_ctl_server_adopt(s, lfd), -EBUSY);
}
END_TEST

/* ---- the client, against a server run in this process ---- */

/* Serve on srv until the child exits; its exit status is returned. */
static int serve_until_exit(struct zt_ctl_server *s, pid_t child)
{
	struct zt_ctl_conn *conns[16] = {};
	size_t n = 0;
	int status;

	for (int rounds = 0; rounds < 2000; rounds++) {
		struct pollfd pfd = { .fd = zt_ctl_server_fd(s), .events = POLLIN };
		struct zt_ctl_conn *c;
		pid_t w;

		poll(&pfd, 1, 5);
		while (n < ELEMENTSOF(conns) && zt_ctl_server_accept(s, T0, &c) == 1)
			conns[n++] = c;
		for (size_t i = 0; i < n;) {
			if (zt_ctl_conn_process(conns[i], T0) <= 0) {
				zt_ctl_conn_free(conns[i]);
				conns[i] = conns[--n];
				continue;
			}
			i++;
		}
		w = waitpid(child, &status, WNOHANG);
		if (w == child) {
			while (n)
				zt_ctl_conn_free(conns[--n]);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
		}
	}
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	while (n)
		zt_ctl_conn_free(conns[--n]);
	return 99;
}

/* In the child: plain exit codes, no Check (it would unwind into the parent's runner). */
static int child_calls(const char *path, bool expect_reload_ok)
{
	_cleanup_json_ json_t *res = NULL, *args = json_pack("{s:s}", "k", "v");
	struct zt_diags d = {};
	int r;

	r = zt_ctl_call(path, "status", args, TIMEOUT, &res, &d);
	if (r != 0)
		return 10;
	if (!json_is_object(json_object_get(res, "args")) ||
	    json_integer_value(json_object_get(res, "uid")) != (json_int_t)geteuid())
		return 11;
	json_decref(TAKE_PTR(res));
	r = zt_ctl_call(path, "reload", NULL, TIMEOUT, &res, &d);
	if (expect_reload_ok && r != 0)
		return 12;
	if (!expect_reload_ok) {
		if (r != -EREMOTEIO || d.n != 1 || !strstr(d.v[0].msg, "permission denied"))
			return 13;
	}
	zt_diags_clear(&d);
	r = zt_ctl_call(path, "frobnicate", NULL, TIMEOUT, &res, &d);
	if (r != -EREMOTEIO || !strstr(d.v[0].msg, "unknown command"))
		return 14;
	return 0;
}

START_TEST(test_client_call)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, geteuid());
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL;
	pid_t pid;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0660, NULL), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_calls(path, true));
	ck_assert_int_eq(serve_until_exit(s, pid), 0);
	ck_assert_uint_eq(f.runs, 2);
	zt_ctl_server_free(TAKE_PTR(s));
	rmdir(dir);
}
END_TEST

/* As root: an unprivileged peer may read status but not reload. */
START_TEST(test_client_unprivileged)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = NULL;
	_cleanup_free_ char *dir = NULL, *path = NULL;
	pid_t pid;

	if (geteuid() != 0)
		return;		/* needs setuid(); covered by test_auth_decision otherwise */
	s = server_new(&f, 0, 0);
	dir = tmp_sock_dir();
	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0666, NULL), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(20);
		_exit(child_calls(path, false));
	}
	ck_assert_int_eq(serve_until_exit(s, pid), 0);
	ck_assert_uint_eq(f.runs, 1);	/* status only */
	ck_assert_uint_eq(zt_ctl_server_stats(s)->denied, 1);
	zt_ctl_server_free(TAKE_PTR(s));
	rmdir(dir);
}
END_TEST

START_TEST(test_client_not_running)
{
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};

	ck_assert_int_eq(zt_ctl_call("/nonexistent/ztsegd.sock", "status", NULL, TIMEOUT, &res,
				     &d), -ENOENT);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.v[0].msg, "cannot connect to /nonexistent/ztsegd.sock: No such file "
				     "or directory; is ztsegd running?");
	ck_assert_ptr_null(res);
	zt_diags_clear(&d);
}
END_TEST

/* A daemon that accepts and never answers: the client gives up on time. */
START_TEST(test_client_timeout)
{
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	struct timespec a, b;
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(zt_ctl_call(path, "status", NULL, 200000, &res, &d), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ck_assert(diags_have(&d, "no reply from ztsegd"));
	ck_assert_int_lt((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 2000);
	close(lfd);
	unlink(path);
	rmdir(dir);
	zt_diags_clear(&d);
}
END_TEST

/* ---- status document ---- */

static void status_sample(struct zt_diags *d, json_t **ret)
{
	static const char *const ifs[] = { "vweb1", "vweb\x1b[31m2" };
	struct zt_ifpat pat = { .name = "vweb", .wildcard = true };
	struct zt_cidr stat, r1;
	struct zt_status_routed routed;
	struct zt_ref from = { .name = "internet" }, to = { .name = "web.front" };
	struct zt_port ports[2];
	const char *err;

	ck_assert_int_eq(zt_cidr_parse("198.51.100.0/26", &stat, &err), 0);
	ck_assert_int_eq(zt_cidr_parse("198.51.100.5/32", &r1, &err), 0);
	routed = (struct zt_status_routed){ .addr = r1, .ifname = "vweb1" };
	ck_assert_int_eq(zt_port_parse("tcp/80", &ports[0], &err), 0);
	ck_assert_int_eq(zt_port_parse("tcp/443", &ports[1], &err), 0);
	struct zt_status_segment segs[] = {
		{ .name = "web", .patterns = &pat, .n_patterns = 1, .interfaces = ifs,
		  .n_interfaces = 2, .addrs = &stat, .n_addrs = 1, .routed = &routed,
		  .n_routed = 1 },
		{ .name = "app" },
	};
	struct zt_status_flow flows[] = {
		{ .name = "public-web", .from = &from, .n_from = 1, .to = &to, .n_to = 1,
		  .ports = ports, .n_ports = 2, .pos = { "ztseg.yaml", 12, 7 },
		  .have_counters = true, .packets = 12, .bytes = 3456 },
		{ .name = "primary->replica", .segment = "db", .from = &from, .n_from = 1,
		  .to = &to, .n_to = 1, .pos = { "segments.d/db.yaml", 9, 9 } },
	};
	struct zt_status_counter drops[] = {
		{ "default", 5, 300 },
		{ "spoof", 2, 120 },
	};
	struct zt_status st = {
		.state = ZT_DAEMON_DEGRADED,
		.pid = 4321,
		.version = "0.1.0",
		.config_dir = "/etc/ztseg",
		.started_usec = 1795900000000000ull,
		.generation = 3,
		.last_apply_usec = 1795900000123456ull,
		.last_apply_duration_usec = 12345,
		.last_error = "segments.d/web.yaml:7:14: unknown zone 'ap'",
		.diags = d,
		.events = { .rtnl_overruns = 1, .resyncs = 1, .spoofed = 2, .tamper = 3 },
		.segments = segs,
		.n_segments = ELEMENTSOF(segs),
		.flows = flows,
		.n_flows = ELEMENTSOF(flows),
		.drops = drops,
		.n_drops = ELEMENTSOF(drops),
	};

	ck_assert_int_eq(zt_status_build(&st, ret), 0);
}

START_TEST(test_status_json)
{
	_cleanup_json_ json_t *st = NULL, *back = NULL;
	_cleanup_free_ char *text = NULL;
	struct zt_diags d = {};
	json_t *seg, *fl, *drops, *ev;
	json_error_t jerr;

	zt_diag_error(&d, "segments.d/web.yaml", 7, 14, "unknown zone 'ap'");
	zt_diag_warning(&d, NULL, 0, 0, "interface vweb1 is a bridge port");
	status_sample(&d, &st);
	/* Through text and back, as ztsegctl receives it. */
	text = json_dumps(st, JSON_COMPACT);
	back = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(back);

	ck_assert(json_is_object(json_object_get(back, "daemon")));
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "daemon"),
							   "state")), "degraded");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "daemon"),
							   "started")), "2026-11-28T21:06:40.000Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(back, "policy"),
							    "generation")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(back, "policy"),
							   "last_apply")), "2026-11-28T21:06:40.123Z");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(back, "policy"),
							    "last_apply_duration_usec")), 12345);
	ck_assert(json_is_string(json_object_get(json_object_get(back, "policy"), "last_error")));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_object_get(back,
			 "policy"), "errors"), 0)), "segments.d/web.yaml:7:14: unknown zone 'ap'");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(back, "warnings"), 0)),
			 "interface vweb1 is a bridge port");

	ev = json_object_get(back, "events");
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "rtnetlink_overruns")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "resyncs")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "spoofed")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(ev, "tamper")), 3);

	ck_assert(json_is_array(json_object_get(back, "segments")));
	ck_assert_uint_eq(json_array_size(json_object_get(back, "segments")), 2);
	seg = json_array_get(json_object_get(back, "segments"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(seg, "name")), "web");
	ck_assert_uint_eq(json_array_size(json_object_get(seg, "interfaces")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(seg, "patterns"), 0)),
			 "vweb*");
	ck_assert_uint_eq(json_array_size(json_object_get(seg, "addresses")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(seg,
			 "static_addresses"), 0)), "198.51.100.0/26");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(seg,
			 "routed_addresses"), 0), "address")), "198.51.100.5/32");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(seg,
			 "routed_addresses"), 0), "interface")), "vweb1");
	seg = json_array_get(json_object_get(back, "segments"), 1);
	ck_assert(json_is_array(json_object_get(seg, "interfaces")));
	ck_assert(json_is_array(json_object_get(seg, "addresses")));

	ck_assert(json_is_array(json_object_get(back, "flows")));
	fl = json_array_get(json_object_get(back, "flows"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(fl, "name")), "public-web");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "from"), 0)),
			 "internet");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "to"), 0)),
			 "web.front");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(fl, "ports"), 1)),
			 "tcp/443");
	ck_assert_int_eq(json_integer_value(json_object_get(fl, "packets")), 12);
	ck_assert_int_eq(json_integer_value(json_object_get(fl, "bytes")), 3456);
	ck_assert_str_eq(json_string_value(json_object_get(fl, "source")), "ztseg.yaml:12");
	ck_assert(json_is_null(json_object_get(fl, "segment")));
	fl = json_array_get(json_object_get(back, "flows"), 1);
	ck_assert(json_is_null(json_object_get(fl, "packets")));
	ck_assert_str_eq(json_string_value(json_object_get(fl, "segment")), "db");

	drops = json_object_get(back, "drops");
	ck_assert(json_is_object(drops));
	ck_assert_int_eq(json_integer_value(json_object_get(drops, "packets")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(drops, "bytes")), 420);
	ck_assert_uint_eq(json_array_size(json_object_get(drops, "reasons")), 2);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_status_empty)
{
	struct zt_status st = { .state = ZT_DAEMON_STARTING };
	_cleanup_json_ json_t *j = NULL;

	ck_assert_int_eq(zt_status_build(&st, &j), 0);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "policy"), "last_apply")));
	ck_assert(json_is_null(json_object_get(json_object_get(j, "policy"), "last_error")));
	ck_assert_uint_eq(json_array_size(json_object_get(j, "segments")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "flows")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "drops"),
							    "packets")), 0);
}
END_TEST

static char *format_to_string(const json_t *j, int *rc)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	*rc = zt_status_format(j, f);
	fclose(f);
	return out;
}

START_TEST(test_status_table)
{
	_cleanup_json_ json_t *st = NULL;
	_cleanup_free_ char *out = NULL;
	struct zt_diags d = {};
	int rc;

	zt_diag_warning(&d, NULL, 0, 0, "interface vweb1 is a bridge port");
	status_sample(&d, &st);
	out = format_to_string(st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ztsegd:     degraded, pid 4321"));
	ck_assert_ptr_nonnull(strstr(out, "generation 3, applied 2026-11-28T21:06:40.123Z "
					  "(took 12.3 ms)"));
	ck_assert_ptr_nonnull(strstr(out, "1 rtnetlink overruns, 1 resyncs"));
	ck_assert_ptr_nonnull(strstr(out, "SEGMENT"));
	ck_assert_ptr_nonnull(strstr(out, "198.51.100.5/32  routed via vweb1"));
	ck_assert_ptr_nonnull(strstr(out, "198.51.100.0/26  static"));
	ck_assert_ptr_nonnull(strstr(out, "app      -                no members"));
	/* An interface name with an escape sequence is printed harmless. */
	ck_assert_ptr_nonnull(strstr(out, "vweb\\x1b[31m2"));
	ck_assert_ptr_null(strchr(out, '\x1b'));
	ck_assert_ptr_nonnull(strstr(out, "public-web"));
	ck_assert_ptr_nonnull(strstr(out, "tcp/80,tcp/443"));
	ck_assert_ptr_nonnull(strstr(out, "ztseg.yaml:12"));
	ck_assert_ptr_nonnull(strstr(out, "db/primary->replica"));
	ck_assert_ptr_nonnull(strstr(out, "total"));
	ck_assert_ptr_nonnull(strstr(out, "warnings:\n  interface vweb1 is a bridge port"));
	zt_diags_clear(&d);
}
END_TEST

/* Whatever arrives, the formatter prints something and does not crash. */
static const char *const odd_status[] = {
	"{}",
	"{\"daemon\":5,\"policy\":[],\"events\":null}",
	"{\"segments\":5,\"flows\":\"x\",\"drops\":[]}",
	("{\"segments\":[1,null,{\"name\":7,\"interfaces\":[1,{}]}],"
	 "\"flows\":[1,{\"from\":[1],\"ports\":{}}]}"),
	"{\"drops\":{\"reasons\":[{\"name\":null},3]},\"warnings\":[1,\"w\"]}",
};

START_TEST(test_status_table_odd)
{
	json_error_t jerr;
	_cleanup_json_ json_t *j = json_loads(odd_status[_i], 0, &jerr);
	_cleanup_free_ char *out = NULL;
	int rc;

	ck_assert_ptr_nonnull(j);
	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "ztsegd:"));
}
END_TEST

START_TEST(test_status_table_not_object)
{
	_cleanup_json_ json_t *j = json_array();
	_cleanup_free_ char *out = NULL;
	int rc;

	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, -EBADMSG);
}
END_TEST

/* ---- admission: per-uid caps, slots reserved for callers who may change state ---- */

/* Accept one pending connection: 1 admitted, 0 refused (and read what the peer was told). */
static int accept_one(struct zt_ctl_server *s, int cfd, struct zt_ctl_conn **c, char *told, size_t len)
{
	struct pollfd pfd = { .fd = zt_ctl_server_fd(s), .events = POLLIN };
	int r;

	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	*c = NULL;
	r = zt_ctl_server_accept(s, T0, c);
	ck_assert_int_ge(r, 0);
	if (told)
		told[0] = '\0';
	if (r == 0 && told) {
		_cleanup_free_ char *body = NULL;
		struct zt_diags d = {};
		size_t blen;

		body = read_frame(cfd, &blen);
		ck_assert_int_eq(zt_ctl_reply_decode(body, blen, NULL, &d), -EREMOTEIO);
		snprintf(told, len, "%s", d.v[0].msg);
		zt_diags_clear(&d);
		/* Then the daemon closed: no bare close before the word. */
		ck_assert_int_eq(recv(cfd, &(char){ 0 }, 1, MSG_DONTWAIT), 0);
	}
	return r;
}

/* Connect n times as uid (root only: a child that drops to it), the fds passed back. */
static void connect_as(const char *path, uid_t uid, int *fds, int n)
{
	int sv[2], status;
	pid_t pid;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		if (setgid(65534) < 0 || setuid(uid) < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };
			char cbuf[CMSG_SPACE(sizeof(int))] = {};
			struct iovec iov = { .iov_base = (char[1]){ 'x' }, .iov_len = 1 };
			struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
					     .msg_controllen = sizeof(cbuf) };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			int fd = socket(AF_UNIX, SOCK_STREAM, 0);

			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
			if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				_exit(2);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &fd, sizeof(int));
			if (sendmsg(sv[1], &mh, 0) != 1)
				_exit(3);
			close(fd);
		}
		_exit(0);
	}
	close(sv[1]);
	for (int i = 0; i < n; i++) {
		char cbuf[CMSG_SPACE(sizeof(int))], c;
		struct iovec iov = { .iov_base = &c, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };

		ck_assert_int_eq(recvmsg(sv[0], &mh, 0), 1);
		memcpy(&fds[i], CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);
}

/* One uid, whoever it is: at most max_per_uid connections, authorized or not. */
START_TEST(test_admit_per_uid)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new_limits(&f, 10, 2, 3, getuid());
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL;
	struct zt_ctl_conn *c;
	char told[256];
	int fds[5];

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0600, NULL), 0);
	for (int i = 0; i < 5; i++) {
		fds[i] = connect_to(path);
		ck_assert_int_eq(accept_one(s, fds[i], &c, told, sizeof(told)), i < 3);
		if (i < 3)
			ck_assert(zt_ctl_conn_authorized(c));
	}
	ck_assert_ptr_nonnull(strstr(told, "too many clients: your user has the most connections"));
	ck_assert_uint_eq(zt_ctl_server_n_conns(s), 3);
	ck_assert_uint_eq(zt_ctl_server_stats(s)->refused_uid, 2);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
	zt_ctl_server_free(TAKE_PTR(s));
	rmdir(dir);
}
END_TEST

/*
 * Callers who may not change state share max_conns - reserved slots; the
 * reserved ones stay for those who may. Without root, we are the
 * unauthorized side (the "daemon" is another uid); as root, other uids
 * fill the shared slots and root takes the reserved ones.
 */
START_TEST(test_admit_reserved)
{
	struct fix f = {};
	bool root = geteuid() == 0;
	_cleanup_ctl_server_ struct zt_ctl_server *s =
		server_new_limits(&f, 6, 2, root ? 3 : 100, root ? 0 : getuid() + 1);
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL;
	struct zt_ctl_conn *c, *first = NULL;
	char told[256];
	int fds[12], n = 0;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0666, NULL), 0);
	ck_assert_int_eq(chmod(path, 0666), 0);
	if (root) {
		connect_as(path, 60001, fds, 3);
		connect_as(path, 60002, fds + 3, 2);
	} else {
		for (int i = 0; i < 5; i++)
			fds[i] = connect_to(path);
	}
	/* Four shared slots: the fifth caller who may not change state is refused. */
	for (n = 0; n < 5; n++) {
		ck_assert_int_eq(accept_one(s, fds[n], &c, told, sizeof(told)), n < 4);
		if (n < 4) {
			ck_assert(!zt_ctl_conn_authorized(c));
			first = first ? first : c;
		}
	}
	ck_assert_ptr_nonnull(strstr(told, "too many clients: the slots open to readers of status are all taken"));
	ck_assert_uint_eq(zt_ctl_server_stats(s)->refused_full, 1);
	if (root) {
		/* Root gets the two reserved slots, and then the cap is the cap. */
		for (int i = 0; i < 3; i++, n++) {
			fds[n] = connect_to(path);
			ck_assert_int_eq(accept_one(s, fds[n], &c, told, sizeof(told)), i < 2);
			if (i < 2)
				ck_assert(zt_ctl_conn_authorized(c));
		}
		ck_assert_str_eq(told, "too many clients; try again later");
		ck_assert_uint_eq(zt_ctl_server_n_conns(s), 6);
	}
	/* A shared slot freed: a reader gets in again. */
	zt_ctl_conn_free(first);
	if (root)
		connect_as(path, 60003, &fds[n], 1);
	else
		fds[n] = connect_to(path);
	ck_assert_int_eq(accept_one(s, fds[n], &c, NULL, 0), 1);
	ck_assert(!zt_ctl_conn_authorized(c));
	n++;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	zt_ctl_server_free(TAKE_PTR(s));
	rmdir(dir);
}
END_TEST

/*
 * A refused client learns why through zt_ctl_call whether the refusal
 * comes before its request is sent (EPIPE) or after: never "closed the
 * connection without replying".
 */
START_TEST(test_client_refused)
{
	struct fix f = {};
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new_limits(&f, 1, 0, 1000, geteuid());
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL;
	struct zt_ctl_conn *held;
	int cfd;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0600, NULL), 0);
	held = pair_conn(s, &cfd);
	ck_assert_ptr_nonnull(held);
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		int status;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct zt_diags d = {};
			int r = zt_ctl_call(path, round % 2 ? "reload" : "status", NULL, TIMEOUT, NULL, &d);

			_exit(r == -EREMOTEIO && d.n == 1 && strstr(d.v[0].msg, "too many clients") ? 0 : 1);
		}
		for (int i = 0; i < 400 && waitpid(pid, &status, WNOHANG) == 0; i++) {
			struct pollfd pfd = { .fd = zt_ctl_server_fd(s), .events = POLLIN };
			struct zt_ctl_conn *c = NULL;

			/* Late on odd rounds: the client has sent its request by then. */
			if (round % 2)
				usleep(2000);
			if (poll(&pfd, 1, 5) == 1)
				ck_assert_int_eq(zt_ctl_server_accept(s, T0, &c), 0);
		}
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d", round);
	}
	close(cfd);
	zt_ctl_server_free(TAKE_PTR(s));
	rmdir(dir);
}
END_TEST

/* ---- the socket is born with its mode and group; links at its path are not followed ---- */

START_TEST(test_listen_no_follow)
{
	struct fix f = {};
	_cleanup_free_ char *dir = tmp_sock_dir(), *path = NULL, *target = NULL, *dangling = NULL;
	struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct stat st;
	mode_t old;
	int fd;

	ck_assert_int_ge(asprintf(&path, "%s/sock", dir), 0);
	ck_assert_int_ge(asprintf(&target, "%s/target", dir), 0);
	ck_assert_int_ge(asprintf(&dangling, "%s/made-by-ztsegd", dir), 0);
	fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A link to a file: refused, the file keeps its mode. */
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0666, NULL), -EEXIST);
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	unlink(path);
	/* A dangling link: refused, nothing made where it points. */
	ck_assert_int_eq(symlink(dangling, path), 0);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0666, NULL), -EEXIST);
	ck_assert_int_eq(access(dangling, F_OK), -1);
	unlink(path);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 01666, NULL), -EINVAL);
	/* Under umask 077 the node is born 0660, and the umask is the caller's again after. */
	old = umask(077);
	ck_assert_int_eq(zt_ctl_server_listen(s, path, 0660, geteuid() == 0 ? "nogroup" : NULL),
			 geteuid() == 0 && !getgrnam("nogroup") ? 1 : 0);
	ck_assert_uint_eq(umask(old), 077);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	if (geteuid() == 0 && getgrnam("nogroup"))
		ck_assert_uint_eq(st.st_gid, getgrnam("nogroup")->gr_gid);
	/* And our own fsgid is ours again. */
	ck_assert_uint_eq((gid_t)setfsgid((gid_t)-1), getegid());
	zt_ctl_server_free(s);
	unlink(target);
	rmdir(dir);
}
END_TEST

/* ---- escaping (lib/escape.c) ---- */

static const struct {
	const char *in, *out;
} escapes[] = {
	{ "", "" },
	{ "vweb1", "vweb1" },
	{ "a\nb", "a\\x0ab" },
	{ "\x1b[2J", "\\x1b[2J" },
	{ "x\x7f", "x\\x7f" },
	{ "c1 \xc2\x9b" "31m", "c1 \\x9b31m" },
	/* Other UTF-8 passes: "é", a lone 0xc2 at the end. */
	{ "caf\xc3\xa9 \xc2", "caf\xc3\xa9 \xc2" },
};

START_TEST(test_escape)
{
	_cleanup_free_ char *e = zt_escape(escapes[_i].in);
	char small[4];
	size_t n;

	ck_assert_str_eq(e, escapes[_i].out);
	n = zt_escape_to(small, sizeof(small), escapes[_i].in);
	ck_assert_uint_eq(n, strlen(escapes[_i].out));
	/* Cut short: a prefix, never half an escape. */
	ck_assert_uint_lt(strlen(small), sizeof(small));
	ck_assert(strncmp(small, escapes[_i].out, strlen(small)) == 0);
	ck_assert_ptr_null(strchr(small, '\\') && strlen(small) - (size_t)(strchr(small, '\\') - small) < 4
				  ? small : NULL);
}
END_TEST

/* ---- status: the trial, foreign untracking chains, refused connections ---- */

START_TEST(test_status_trial_untracked)
{
	struct zt_status_confirm cf = { .generation = 9, .deadline_usec = 1795000000000000ull, .seconds_left = 2,
					.uid = 0, .pid = 77 };
	struct zt_status_untrack ut[] = {
		{ .family = "ip", .table = "other", .chain = "pre", .via = "pre", .hook = "prerouting", .priority = -400 },
	};
	struct zt_status st = { .state = ZT_DAEMON_RUNNING, .confirm = &cf, .untrack = ut, .n_untrack = 1,
				.untrack_known = true, .ctl_refused = 5 };
	_cleanup_json_ json_t *j = NULL, *j2 = NULL;
	_cleanup_free_ char *out = NULL, *out2 = NULL;
	const json_t *c, *u;
	int rc;

	ck_assert_int_eq(zt_status_build(&st, &j), 0);
	c = json_object_get(j, "confirmation");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "generation")), 9);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "seconds_left")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(c, "deadline")), "2026-11-18T11:06:40.000Z");
	u = json_array_get(json_object_get(j, "untracked"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(u, "table")), "other");
	ck_assert_int_eq(json_integer_value(json_object_get(u, "priority")), -400);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "control"), "refused")), 5);
	out = format_to_string(j, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(strstr(out, "confirm:    generation 9 is on trial: it rolls back at "
					  "2026-11-18T11:06:40.000Z (in 2 s) unless ztsegctl confirm comes first"));
	ck_assert_ptr_nonnull(strstr(out, "foreign tables untrack traffic on ztseg's hooks"));
	ck_assert_ptr_nonnull(strstr(out, "table ip other  pre    prerouting      -400  pre"));
	/* Nothing on trial, the ruleset not readable. */
	st.confirm = NULL;
	st.untrack_known = false;
	ck_assert_int_eq(zt_status_build(&st, &j2), 0);
	ck_assert(json_is_null(json_object_get(j2, "confirmation")));
	ck_assert(json_is_null(json_object_get(j2, "untracked")));
	out2 = format_to_string(j2, &rc);
	ck_assert_ptr_null(strstr(out2, "confirm:"));
	ck_assert_ptr_nonnull(strstr(out2, "foreign tables: not known"));
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("ctl");
	TCase *tc;

	tc = tcase_create("framing");
	tcase_add_test(tc, test_good_status);
	tcase_add_test(tc, test_byte_by_byte);
	tcase_add_test(tc, test_oversized_not_read);
	tcase_add_loop_test(tc, test_raw, 0, ELEMENTSOF(raw_cases));
	tcase_add_loop_test(tc, test_bad_request, 0, ELEMENTSOF(bad_requests));
	tcase_add_loop_test(tc, test_random_bytes, 0, 64);
	tcase_add_test(tc, test_eof_without_request);
	tcase_add_test(tc, test_client_gone);
	tcase_add_test(tc, test_deferred_reply);
	tcase_add_test(tc, test_reply_diags);
	tcase_add_test(tc, test_partial_writes);
	tcase_add_test(tc, test_reply_too_large);
	tcase_add_test(tc, test_frame_encode_limit);
	tcase_add_loop_test(tc, test_reply_decode, 0, ELEMENTSOF(bad_replies));
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_loop_test(tc, test_auth_decision, 0, ELEMENTSOF(auth_cases));
	tcase_add_test(tc, test_peer_read);
	tcase_add_test(tc, test_auth_server);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_test(tc, test_client_cap);
	tcase_add_test(tc, test_admit_per_uid);
	tcase_add_test(tc, test_admit_reserved);
	tcase_add_test(tc, test_client_refused);
	tcase_add_test(tc, test_listen_no_follow);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_free_with_conns);
	tcase_add_test(tc, test_listen);
	tcase_add_test(tc, test_adopt);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_test(tc, test_client_call);
	tcase_add_test(tc, test_client_unprivileged);
	tcase_add_test(tc, test_client_not_running);
	tcase_add_test(tc, test_client_timeout);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("status");
	tcase_add_test(tc, test_status_json);
	tcase_add_test(tc, test_status_empty);
	tcase_add_test(tc, test_status_table);
	tcase_add_loop_test(tc, test_status_table_odd, 0, ELEMENTSOF(odd_status));
	tcase_add_test(tc, test_status_table_not_object);
	tcase_add_test(tc, test_status_trial_untracked);
	tcase_add_loop_test(tc, test_escape, 0, ELEMENTSOF(escapes));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
