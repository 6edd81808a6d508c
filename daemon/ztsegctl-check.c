/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl check: validate a policy directory offline. */
#include <getopt.h>
#include <stdio.h>
#include "ztsegctl.h"

static void check_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--config DIR]\n"
		   "Validate the policy in DIR (default %s); print every error and\n"
		   "warning as FILE:LINE:COL: message. Exit 0 if it is valid, 1 if not.\n",
		argv0, CTL_DEFAULT_CONFIG);
}

/* "1 flow", "9 flows". */
static void count_print(FILE *f, const char *sep, size_t n, const char *one, const char *many)
{
	fprintf(f, "%s%zu %s", sep, n, n == 1 ? one : many);
}

int check_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	const char *dir = CTL_DEFAULT_CONFIG;
	size_t n_subnets = 0, n_rules = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!*optarg) {
				fprintf(stderr, "%s: --config needs a directory\n", argv[0]);
				check_usage(stderr, argv[0]);
				return CTL_EXIT_USAGE;
			}
			dir = optarg;
			break;
		case 'h':
			check_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			check_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		check_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}

	r = ctl_policy_load(dir, &p, &d);
	if (r < 0) {
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}

	for (size_t i = 0; i < p->n_segs; i++) {
		n_subnets += p->segs[i].n_subnets;
		n_rules += p->segs[i].n_rules;
	}
	printf("policy OK");
	count_print(stdout, ": ", p->n_segs, "segment", "segments");
	count_print(stdout, ", ", n_subnets, "subnet", "subnets");
	count_print(stdout, ", ", p->hub.n_boundaries, "boundary", "boundaries");
	count_print(stdout, ", ", p->hub.n_flows, "flow", "flows");
	count_print(stdout, ", ", n_rules, "segment rule", "segment rules");
	if (d.n_warnings)
		count_print(stdout, ", ", d.n_warnings, "warning", "warnings");
	printf("\n");
	zt_diags_clear(&d);
	return CTL_EXIT_OK;
}
