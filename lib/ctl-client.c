/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl's side of the control socket: one request, one reply, all
 * within a deadline, and a diagnostic that says why when it fails.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include "ctl-client.h"

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

	r = zt_ctl_sockaddr_set(&sa, path, &salen);
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

/* One frame's body (malloc'd): 0, or -errno of reading it. */
static int frame_read(int fd, uint64_t deadline, char **ret, uint32_t *ret_len, struct zt_diags *d)
{
	_cleanup_free_ char *body = NULL;
	uint8_t hdr[ZT_CTL_FRAME_HDR];
	uint32_t len;
	int r = client_recv(fd, hdr, sizeof(hdr), deadline);

	if (r < 0)
		return r;
	len = zt_ctl_frame_len(hdr);
	if (len == 0 || len > ZT_CTL_REPLY_MAX) {
		zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: frame of %u bytes", len);
		return -EBADMSG;
	}
	body = malloc(len);
	if (!body)
		return -ENOMEM;
	r = client_recv(fd, body, len, deadline);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(body);
	*ret_len = len;
	return 0;
}

int zt_ctl_stream_next_raw(int fd, char **ret, uint32_t *ret_len, struct zt_diags *d)
{
	return frame_read(fd, UINT64_MAX, ret, ret_len, d);
}

int zt_ctl_stream_next(int fd, json_t **ret, struct zt_diags *d)
{
	_cleanup_free_ char *body = NULL;
	uint32_t len = 0;
	json_error_t err;
	int r = frame_read(fd, UINT64_MAX, &body, &len, d);

	if (r < 0)
		return r;
	*ret = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(*ret)) {
		if (*ret)
			json_decref(*ret);
		zt_diag_error(d, NULL, 0, 0, "malformed frame from ztsegd: %s", err.text);
		return -EBADMSG;
	}
	return 0;
}

static int call(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		json_t **ret_result, int *ret_fd, struct zt_diags *d)
{
	uint64_t deadline = zt_ctl_deadline_after(now_mono(), timeout_usec);
	_cleanup_json_ json_t *req = NULL;
	_cleanup_free_ char *out = NULL, *body = NULL;
	_cleanup_close_ int fd = -1;
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
		r = frame_read(fd, deadline, &body, &len, d);
	if (r == -EBADMSG)
		return r;
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
	r = zt_ctl_reply_decode(body, len, ret_result, d);
	if (r >= 0 && ret_fd)
		*ret_fd = TAKE_FD(fd);
	return r;
}

int zt_ctl_call(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		json_t **ret_result, struct zt_diags *d)
{
	return call(path, command, args, timeout_usec, ret_result, NULL, d);
}

int zt_ctl_subscribe(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		     json_t **ret_result, int *ret_fd, struct zt_diags *d)
{
	return call(path, command, args, timeout_usec, ret_result, ret_fd, d);
}
