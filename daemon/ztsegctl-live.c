/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl explain --live: the running daemon's answer, with the routes and links it sees. */
#include <stdio.h>
#include "ctl.h"
#include "ztsegctl.h"

#define EXPLAIN_TIMEOUT (10 * ZT_USEC_PER_SEC)

int explain_live(struct ctl *ctl, const char *argv0, const char *from, const char *to, const char *port)
{
	_cleanup_json_ json_t *args = json_pack("{s:s, s:s, s:s}", "from", from, "to", to, "port", port);
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	const char *text;
	int r;

	if (!args) {
		fprintf(stderr, "%s: %s\n", argv0, strerror(ENOMEM));
		return CTL_EXIT_NO;
	}
	r = zt_ctl_call(ctl->socket, "explain", args, EXPLAIN_TIMEOUT, &res, &d);
	if (r < 0) {
		ctl_call_errors(argv0, &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	text = json_string_value(json_object_get(res, "text"));
	if (!text || !json_is_boolean(json_object_get(res, "allow"))) {
		fprintf(stderr, "%s: the daemon's answer is malformed\n", argv0);
		return CTL_EXIT_NO;
	}
	fputs(text, stdout);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the explanation: %s\n", argv0, strerror(errno));
		return CTL_EXIT_NO;
	}
	/* Observe mode: a would-deny passes, as an allow does. */
	return json_is_true(json_object_get(res, "allow")) || json_is_true(json_object_get(res, "would_deny"))
		       ? CTL_EXIT_OK : CTL_EXIT_NO;
}
