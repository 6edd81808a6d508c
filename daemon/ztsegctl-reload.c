/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl reload: the running daemon applies the policy on disk, or says why not. */
#include <getopt.h>
#include <stdio.h>
#include "ctl.h"
#include "ztsegctl.h"

/* A large policy takes a while to compile and apply; the daemon answers when done. */
#define RELOAD_TIMEOUT (120 * ZT_USEC_PER_SEC)

static void reload_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s\n"
		   "Make the running ztsegd load, check and apply its policy. Exit 0 when it is\n"
		   "in force, 1 with every error (file:line:col: message) when it is invalid:\n"
		   "the running rules then stay as they are.\n",
		argv0);
}

int reload_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			reload_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			reload_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		reload_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	r = zt_ctl_call(ctl->socket, "reload", NULL, RELOAD_TIMEOUT, &res, &d);
	if (r < 0) {
		/* The policy's own errors as the daemon names them; nothing else prefixed. */
		if (r == -EREMOTEIO)
			for (size_t i = 0; i < d.n; i++) {
				_cleanup_free_ char *s = zt_diag_format(&d.v[i]);

				fprintf(stderr, "%s\n", s ? s : d.v[i].msg);
			}
		else
			ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	printf("reloaded: generation %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT " objects changed in %.1f ms\n",
	       json_integer_value(json_object_get(res, "generation")),
	       json_integer_value(json_object_get(res, "changed")),
	       (double)json_integer_value(json_object_get(res, "duration_usec")) / 1000.0);
	return CTL_EXIT_OK;
}
