/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl reload: the running daemon applies the policy on disk, or says
 * why not; --confirm puts it on trial (rolled back unless ztsegctl confirm
 * follows in time). ztsegctl confirm ends a trial.
 */
#include <getopt.h>
#include <stdio.h>
#include "ctl.h"
#include "ztsegctl.h"

/* A large policy takes a while to compile and apply; the daemon answers when done. */
#define RELOAD_TIMEOUT (120 * ZT_USEC_PER_SEC)
#define CONFIRM_TIMEOUT (30 * ZT_USEC_PER_SEC)
#define CONFIRM_MAX 3600

static void reload_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--confirm SECONDS] [--force]\n"
		   "Make the running ztsegd load, check and apply its policy. Exit 0 when it is\n"
		   "in force, 1 with every error (file:line:col: message) when it is invalid:\n"
		   "the running rules then stay as they are.\n"
		   "\n"
		   "  --confirm SECONDS  apply it on trial: unless 'ztsegctl confirm' follows\n"
		   "                     within SECONDS (1-%d), the previous policy comes back\n"
		   "  --force            apply it even though it cuts this SSH session\n"
		   "\n"
		   "From an SSH session (SSH_CONNECTION is set) a policy that would cut that\n"
		   "session is refused unless --confirm or --force is given.\n",
		argv0, CONFIRM_MAX);
}

/* The daemon's errors and warnings, as it words them; nothing prefixed. */
static void print_remote(const struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		fprintf(stderr, "%s\n", s ? s : d->v[i].msg);
	}
}

static int parse_seconds(const char *s, unsigned *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || v < 1 || v > CONFIRM_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int reload_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "confirm", required_argument, NULL, 'c' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *res = NULL, *args = json_object();
	const json_t *w, *conf;
	const char *session = getenv("SSH_CONNECTION");
	struct zt_diags d = {};
	unsigned confirm = 0;
	bool force = false;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (parse_seconds(optarg, &confirm) < 0) {
				fprintf(stderr, "%s: --confirm: expected a number of seconds from 1 to %d, not '%s'\n",
					argv[0], CONFIRM_MAX, optarg);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'f':
			force = true;
			break;
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
	if (!args ||
	    (confirm && json_object_set_new(args, "confirm", json_integer(confirm)) < 0) ||
	    (force && json_object_set_new(args, "force", json_true()) < 0) ||
	    /* Where this session comes from, for the daemon to judge against the new policy. */
	    (session && *session && strlen(session) < 128 &&
	     json_object_set_new(args, "session", json_string(session)) < 0)) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(ENOMEM));
		return CTL_EXIT_NO;
	}
	r = zt_ctl_call(ctl->socket, "reload", args, RELOAD_TIMEOUT, &res, &d);
	if (r < 0) {
		if (r == -EREMOTEIO)
			print_remote(&d);
		else
			ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	json_array_foreach(json_object_get(res, "warnings"), i, w)
		if (json_is_string(w))
			fprintf(stderr, "%s\n", json_string_value(w));
	printf("reloaded: generation %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT " objects changed in %.1f ms\n",
	       json_integer_value(json_object_get(res, "generation")),
	       json_integer_value(json_object_get(res, "changed")),
	       (double)json_integer_value(json_object_get(res, "duration_usec")) / 1000.0);
	conf = json_object_get(res, "confirm");
	if (json_is_object(conf))
		printf("on trial: it rolls back at %s (in %" JSON_INTEGER_FORMAT " s) unless 'ztsegctl confirm' "
		       "comes first\n",
		       json_is_string(json_object_get(conf, "deadline")) ? json_string_value(json_object_get(conf, "deadline")) : "?",
		       json_integer_value(json_object_get(conf, "seconds")));
	return CTL_EXIT_OK;
}

static void confirm_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s\n"
		   "Keep the policy a reload put on trial: it becomes the last-known-good\n"
		   "and no longer rolls back. Exit 1 when no reload awaits confirmation.\n",
		argv0);
}

int confirm_main(struct ctl *ctl, int argc, char **argv)
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
			confirm_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			confirm_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		confirm_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	r = zt_ctl_call(ctl->socket, "confirm", NULL, CONFIRM_TIMEOUT, &res, &d);
	if (r < 0) {
		ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	printf("confirmed: generation %" JSON_INTEGER_FORMAT " stays in force\n",
	       json_integer_value(json_object_get(res, "generation")));
	return CTL_EXIT_OK;
}
