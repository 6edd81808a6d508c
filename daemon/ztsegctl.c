/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl: the operator's tool. A table of verbs; global options come
 * before the verb, each verb parses its own. See ztsegctl(8).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "version.h"
#include "ztsegctl.h"

/* The verbs live in ztsegctl-*.c; status, reload, confirm and explain --live talk to the daemon. */
static const struct verb {
	const char *name;
	int (*fn)(struct ctl *ctl, int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "check", check_main, "validate a policy directory offline" },
	{ "explain", explain_main, "say whether the policy allows a connection, and why" },
	{ "show", show_main, "print the ruleset a policy compiles to, in nft syntax" },
	{ "status", status_main, "show what the running daemon enforces, with live counters" },
	{ "reload", reload_main, "make the running daemon apply the policy on disk" },
	{ "confirm", confirm_main, "keep a policy that reload --confirm put on trial" },
	{ "grant", grant_main, "open a jit template for one source address, for a time" },
	{ "grants", grants_main, "list the live just-in-time grants" },
	{ "revoke", revoke_main, "end a grant now, its connections included" },
	{ "log", log_main, "print the connection log (-f: follow it)" },
	{ "metrics", metrics_main, "print the daemon's metrics in Prometheus' text format" },
	{ "bans", bans_main, "list the flood bans: source, zone, reason, remaining time, packets" },
	{ "unban", unban_main, "lift the flood bans of an address now" },
	{ "anomalies", anomalies_main, "the learned baselines and anomaly episodes, with what was done" },
	{ "suggest", suggest_main, "print flows that would allow what observe mode saw would-deny" },
	{ "feeds", feeds_main, "list the threat feeds, test an address, fetch url: feeds" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [--socket PATH] COMMAND [ARGS...]\n"
		   "       %s --help | --version\n\n"
		   "Commands:\n",
		program_invocation_short_name, program_invocation_short_name);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\n'%s COMMAND --help' describes a command's options.\n",
		program_invocation_short_name);
}

static const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (streq(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	struct ctl ctl = { .socket = CTL_DEFAULT_SOCKET };
	const struct verb *v;
	_cleanup_free_ char *name = NULL;
	int c;

	/* getopt names argv[0] in its messages; '+' stops at the verb. */
	argv[0] = program_invocation_short_name;
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.socket = optarg;
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("ztsegctl %s\n", ZTSEG_VERSION);
			return CTL_EXIT_OK;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: no command given\n", program_invocation_short_name);
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	v = verb_find(argv[optind]);
	if (!v) {
		fprintf(stderr, "%s: unknown command '%s'\n",
			program_invocation_short_name, argv[optind]);
		usage(stderr);
		return CTL_EXIT_USAGE;
	}

	/* getopt prints argv[0] in its messages: make it "ztsegctl VERB". */
	if (asprintf(&name, "%s %s", program_invocation_short_name, v->name) < 0) {
		fprintf(stderr, "%s: %s\n", program_invocation_short_name, strerror(ENOMEM));
		return CTL_EXIT_NO;
	}
	argv += optind;
	argc -= optind;
	argv[0] = name;
	optind = 0;	/* glibc: 0 fully re-initialises getopt for the verb */
	return v->fn(&ctl, argc, argv);
}
