/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctl-client.c: zt_ctl_call() against a server run in
 * this process, a daemon that is not there, one that never answers, and
 * one that refuses the connection.
 */
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include "ctl-fixture.h"

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

static Suite *ctl_client_suite(void)
{
	Suite *s = suite_create("ctl-client");
	TCase *tc;

	tc = tcase_create("client");
	tcase_add_test(tc, test_client_call);
	tcase_add_test(tc, test_client_unprivileged);
	tcase_add_test(tc, test_client_not_running);
	tcase_add_test(tc, test_client_timeout);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_test(tc, test_client_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
