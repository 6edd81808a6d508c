/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl status: what the running daemon enforces, with live counters. */
#include <getopt.h>
#include <stdio.h>
#include "ctl.h"
#include "ztsegctl.h"

#define STATUS_TIMEOUT (10 * ZT_USEC_PER_SEC)

static void status_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--json]\n"
		   "Ask the running ztsegd for its state: the policy in force, each segment's\n"
		   "interfaces and addresses (static and routed), per-flow packet and byte\n"
		   "counters read from the kernel, drops and events. --json prints the document\n"
		   "as the daemon sends it.\n",
		argv0);
}

/* Errors of a call to the daemon, one per line. */
void ctl_call_errors(const char *argv0, const struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		fprintf(stderr, "%s: %s\n", argv0, s ? s : d->v[i].msg);
	}
}

int status_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *st = NULL;
	struct zt_diags d = {};
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			status_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			status_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		status_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	r = zt_ctl_call(ctl->socket, "status", NULL, STATUS_TIMEOUT, &st, &d);
	if (r < 0) {
		ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	if (json)
		r = json_dumpf(st, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
	else
		r = zt_status_format(st, stdout);
	if (json)
		fputc('\n', stdout);
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the status: %s\n", argv[0], strerror(r < 0 ? -r : errno));
		return CTL_EXIT_NO;
	}
	return CTL_EXIT_OK;
}
