/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl's side of the control socket: one call, one reply. */
#ifndef ZT_CTL_CLIENT_H
#define ZT_CTL_CLIENT_H

#include "ctl-proto.h"

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

/*
 * A subscription (log): like zt_ctl_call(), and on success the connection
 * stays open in *ret_fd (non-blocking) for the frames that follow the reply.
 */
int zt_ctl_subscribe(const char *path, const char *command, json_t *args, uint64_t timeout_usec,
		     json_t **ret_result, int *ret_fd, struct zt_diags *d);
/* The next frame of a subscription as a JSON object; waits as long as it takes. -ECONNRESET at its end. */
int zt_ctl_stream_next(int fd, json_t **ret, struct zt_diags *d);
/* The same frame's bytes, unparsed (malloc'd, not NUL-terminated). */
int zt_ctl_stream_next_raw(int fd, char **ret, uint32_t *ret_len, struct zt_diags *d);

#endif
