/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctl-server.c: the state machine over socketpairs
 * (framing and request decoding as the daemon sees them), authorization,
 * admission, deadlines, listen and adopt.
 */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/fsuid.h>
#include <sys/wait.h>
#include "ctl-fixture.h"

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

/* A subscription: the server is done with the connection, the command's fd lives on. */
START_TEST(test_handoff)
{
	struct fix f = { .handed = -1 };
	_cleanup_ctl_server_ struct zt_ctl_server *s = server_new(&f, 0, 4242);
	struct zt_ctl_conn *c;
	char b[8] = "";
	int cfd;

	c = pair_conn(s, &cfd);
	send_frame_raw(cfd, "{\"version\":1,\"command\":\"subscribe\"}");
	ck_assert_int_eq(zt_ctl_conn_process(c, T0), 0);
	ck_assert_int_ge(f.handed, 3);
	zt_ctl_conn_free(c);
	ck_assert_uint_eq(f.closed, 1);
	ck_assert_uint_eq(zt_ctl_server_n_conns(s), 0);
	/* Nothing was written by the server; the new owner talks on. */
	ck_assert_int_eq(write(f.handed, "hi", 2), 2);
	ck_assert_int_eq(read(cfd, b, sizeof(b)), 2);
	ck_assert_str_eq(b, "hi");
	ck_assert_int_eq(fcntl(f.handed, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(f.handed);
	ck_assert_int_eq(read(cfd, b, sizeof(b)), 0);
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

static Suite *ctl_server_suite(void)
{
	Suite *s = suite_create("ctl-server");
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
	tcase_add_test(tc, test_handoff);
	tcase_add_test(tc, test_reply_diags);
	tcase_add_test(tc, test_partial_writes);
	tcase_add_test(tc, test_reply_too_large);
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
	tcase_add_test(tc, test_listen_no_follow);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_free_with_conns);
	tcase_add_test(tc, test_listen);
	tcase_add_test(tc, test_adopt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_server_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
