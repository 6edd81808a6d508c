/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl suggest [--segment S] [--since DURATION] [--json]: the flows
 * that would allow what observe mode saw would-deny and complete, as YAML
 * to paste into ztseg.yaml. Asks the daemon; writes no policy.
 */
#include <getopt.h>
#include <stdio.h>
#include <time.h>
#include "ctl.h"
#include "grant.h"
#include "suggest.h"
#include "ztsegctl.h"

#define SUGGEST_TIMEOUT (10 * ZT_USEC_PER_SEC)
/* --since: at most a year back. */
#define SINCE_MAX (366u * 24 * 3600)

static void suggest_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--segment SEGMENT] [--since DURATION] [--json]\n"
		   "Print hub flows (YAML) that would allow the connections observe mode let\n"
		   "pass as would-deny and that completed (a reply came; TCP: the handshake\n"
		   "finished), grouped by zone pair and port. --segment keeps pairs with a\n"
		   "side in SEGMENT; --since keeps what was seen in the last DURATION (1h, 30m).\n"
		   "Nothing is written: paste the flows into ztseg.yaml and run ztsegctl check.\n",
		argv0);
}

int suggest_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "segment", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *args = json_object(), *res = NULL;
	_cleanup_free_ struct zt_suggest_obs *v = NULL;
	struct zt_suggest_opts o = { .indent = 4 };
	struct zt_diags d = {};
	const json_t *arr, *j;
	const char *err = NULL;
	bool json = false;
	uint32_t since = 0;
	size_t i, n = 0;
	int c, r;

	if (!args)
		return CTL_EXIT_NO;
	while ((c = getopt_long(argc, argv, "s:S:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.segment = optarg;
			if (json_object_set_new(args, "segment", json_string(optarg)) < 0) {
				fprintf(stderr, "%s: --segment: not a name\n", argv[0]);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'S':
			if (zt_duration_parse(optarg, SINCE_MAX, &since, &err) < 0) {
				fprintf(stderr, "%s: --since '%s': %s\n", argv[0], optarg, err ? err : "invalid");
				return CTL_EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			suggest_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			suggest_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		suggest_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	r = zt_ctl_call(ctl->socket, "suggest", args, SUGGEST_TIMEOUT, &res, &d);
	if (r < 0) {
		ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	if (since)
		o.since_usec = (uint64_t)time(NULL) * ZT_USEC_PER_SEC - (uint64_t)since * ZT_USEC_PER_SEC;
	arr = json_object_get(res, "observations");
	if (!json_is_array(arr) || !(v = calloc(json_array_size(arr) + 1, sizeof(*v)))) {
		fprintf(stderr, "%s: the daemon's answer is malformed\n", argv[0]);
		return CTL_EXIT_NO;
	}
	json_array_foreach(arr, i, j) {
		if (zt_suggest_obs_from_json(j, &v[n]) < 0) {
			fprintf(stderr, "%s: the daemon's answer is malformed (observation %zu)\n", argv[0], i);
			return CTL_EXIT_NO;
		}
		n++;
	}
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return CTL_EXIT_OK;
	}
	if (!json_is_true(json_object_get(res, "observing")))
		fputs("# note: nothing observes in the running policy (no segment has mode: observe)\n", stdout);
	r = zt_suggest_format(v, n, &o, stdout);
	if (r < 0) {
		fprintf(stderr, "%s: cannot write: %s\n", argv[0], strerror(-r));
		return CTL_EXIT_NO;
	}
	return CTL_EXIT_OK;
}
