/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: the frame, the request and reply documents, and
 * the helpers both ends share to encode and check them.
 */
#ifndef ZT_CTL_PROTO_H
#define ZT_CTL_PROTO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <jansson.h>
#include "diag.h"

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
 */

#define ZT_CTL_VERSION 1
#define ZT_CTL_DEFAULT_SOCKET "/run/ztseg/ztsegd.sock"
#define ZT_CTL_SOCKET_GROUP "ztseg"
#define ZT_CTL_SOCKET_MODE 0660

#define ZT_CTL_REQUEST_MAX (64u * 1024)
#define ZT_CTL_REPLY_MAX (16u * 1024 * 1024)
#define ZT_CTL_FRAME_HDR 4
#define ZT_USEC_PER_SEC 1000000ull

static inline void zt_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ _cleanup_(zt_json_decrefp)

/* Hand an fd's ownership on: the variable is left -1 so its cleanup does nothing. */
#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _tfd = (fd);                                               \
		(fd) = -1;                                                     \
		_tfd;                                                          \
	})

/* now + timeout, saturating: a deadline never wraps into the past. */
static inline uint64_t zt_ctl_deadline_after(uint64_t now, uint64_t timeout)
{
	return now > UINT64_MAX - timeout ? UINT64_MAX : now + timeout;
}

struct zt_ctl_peer;

struct zt_ctl_request {
	unsigned version;
	const char *command;
	json_t *args;			/* an object, never NULL; borrowed */
	const struct zt_ctl_peer *peer;
	uint64_t now_usec;		/* as given to zt_ctl_conn_process() */
};

/* Encode a JSON object as one frame (header included) of at most max body bytes. */
int zt_ctl_frame_encode(const json_t *obj, size_t max, char **ret_buf, size_t *ret_len);
/* The body length a frame header announces. */
uint32_t zt_ctl_frame_len(const uint8_t hdr[ZT_CTL_FRAME_HDR]);

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

/* {"version": 1, "ok": true, "result": result}; result is stolen (NULL: an empty object). */
json_t *zt_ctl_reply_ok_new(json_t *result);
/* {"version": 1, "ok": false, "errors": msgs}. */
json_t *zt_ctl_reply_error_new(const char *const *msgs, size_t n);

/*
 * Decode a reply body. 0 and the result object (a new reference) when the
 * daemon said ok; -EREMOTEIO when it said no, each of its errors a
 * diagnostic in d; -EBADMSG (reason in d) when the reply is malformed.
 */
int zt_ctl_reply_decode(const void *buf, size_t len, json_t **ret_result, struct zt_diags *d);

/* The socket's address: -EINVAL for an empty path, -ENAMETOOLONG over sun_path. */
struct sockaddr_un;
int zt_ctl_sockaddr_set(struct sockaddr_un *sa, const char *path, socklen_t *ret_len);

#endif
