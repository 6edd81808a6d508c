/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl explain: would the policy allow this connection, and why? (offline) */
#include <getopt.h>
#include <stdio.h>
#include "explain.h"
#include "grant.h"
#include "ztsegctl.h"

static void explain_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--config DIR [--grant TEMPLATE] | --live] FROM TO PROTO/PORT\n"
		   "FROM and TO are addresses, zone names (web, db.primary, onprem, host,\n"
		   "world) or iface:NAME[,ADDRESS]; PROTO/PORT is like tcp/443, udp/53,\n"
		   "icmp/echo-request. Exit 0 if the policy in DIR (default %s)\n"
		   "allows it (or, in observe mode, would deny it but lets it pass), 1 if it\n"
		   "denies it or the policy is invalid, 2 on usage errors.\n"
		   "--grant TEMPLATE adds a hypothetical grant of that jit template for FROM.\n"
		   "--live asks the running ztsegd instead, with the routes and interfaces it sees.\n",
		argv0, CTL_DEFAULT_CONFIG);
}

static int endpoint_arg(const char *argv0, const char *what, const char *s,
			struct zt_endpoint *ret)
{
	const char *err = NULL;

	if (zt_endpoint_parse(s, ret, &err) < 0) {
		fprintf(stderr, "%s: %s '%s': %s\n", argv0, what, s, err ? err : "invalid");
		return -EINVAL;
	}
	return 0;
}

int explain_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "live", no_argument, NULL, 'l' },
		{ "grant", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_endpoint from, to;
	struct zt_explanation e;
	struct zt_diags d = {};
	struct zt_port pkt;
	const char *dir = CTL_DEFAULT_CONFIG, *err = NULL, *grant = NULL;
	struct zt_explain_grant hyp = { .to_ref = -1, .hypothetical = true };
	bool live = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:lg:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!*optarg) {
				fprintf(stderr, "%s: --config needs a directory\n", argv[0]);
				explain_usage(stderr, argv[0]);
				return CTL_EXIT_USAGE;
			}
			dir = optarg;
			break;
		case 'l':
			live = true;
			break;
		case 'g':
			grant = optarg;
			break;
		case 'h':
			explain_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			explain_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 3) {
		fprintf(stderr, "%s: expected FROM TO PROTO/PORT\n", argv[0]);
		explain_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	/* Command-line mistakes are reported before the policy is read. */
	if (endpoint_arg(argv[0], "FROM", argv[optind], &from) < 0 ||
	    endpoint_arg(argv[0], "TO", argv[optind + 1], &to) < 0)
		return CTL_EXIT_USAGE;
	if (zt_port_parse(argv[optind + 2], &pkt, &err) < 0) {
		fprintf(stderr, "%s: PROTO/PORT '%s': %s\n", argv[0], argv[optind + 2],
			err ? err : "invalid");
		return CTL_EXIT_USAGE;
	}
	if (live && grant) {
		fprintf(stderr, "%s: --grant is for the offline explain; --live knows the daemon's grants\n", argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (live)
		return explain_live(ctl, argv[0], argv[optind], argv[optind + 1], argv[optind + 2]);

	/* An invalid policy answers nothing: its errors, and exit 1. */
	if (ctl_policy_load(dir, &p, &d) < 0) {
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);

	if (grant) {
		hyp.tmpl = zt_policy_find_jit(p, grant);
		if (!hyp.tmpl) {
			fprintf(stderr, "%s: --grant: no jit template '%s' in %s\n", argv[0], grant, dir);
			return CTL_EXIT_USAGE;
		}
		snprintf(hyp.what, sizeof(hyp.what), "jit template '%s' (a hypothetical grant for this source, %s:%u)",
			 grant, hyp.tmpl->pos.file, hyp.tmpl->pos.line);
	}
	/* Threat feeds come before any flow. */
	if (feeds_explain_offline(p, &from, &to, argv[0]) > 0)
		return CTL_EXIT_NO;
	r = zt_explain_grants(p, &from, &to, &pkt, NULL, &hyp, grant ? 1 : 0, &e, &d);
	if (r < 0) {
		/* What zt_explain rejects is the question: an unknown zone, mixed families. */
		for (size_t i = 0; i < d.n; i++)
			fprintf(stderr, "%s: %s\n", argv[0], d.v[i].msg);
		if (d.n == 0)
			fprintf(stderr, "%s: %s\n", argv[0], strerror(-r));
		zt_diags_clear(&d);
		return r == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_NO;
	}
	zt_diags_clear(&d);

	r = zt_explanation_format(p, &e, stdout);
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the explanation: %s\n", argv[0],
			strerror(r < 0 ? -r : errno));
		return CTL_EXIT_NO;
	}
	return e.allow || e.would_deny ? CTL_EXIT_OK : CTL_EXIT_NO;
}
