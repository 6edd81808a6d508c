/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl grant, grants and revoke: just-in-time access through the running daemon. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include "ctl.h"
#include "grant.h"
#include "ztsegctl.h"

#define GRANT_TIMEOUT (10 * ZT_USEC_PER_SEC)

static void grant_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s TEMPLATE --source ADDRESS [--for DURATION] [--to ZONE] --reason TEXT [--json]\n"
		   "Open jit template TEMPLATE (ztseg.yaml, jit:) for one source address, for\n"
		   "DURATION (90s, 30m, 1h; default: the template's default, else its max),\n"
		   "to all of its to zones or only ZONE. Prints the grant's id and expiry.\n",
		argv0);
}

static int call(struct ctl *ctl, const char *argv0, const char *cmd, json_t *args, json_t **ret)
{
	struct zt_diags d = {};
	int r = zt_ctl_call(ctl->socket, cmd, args, GRANT_TIMEOUT, ret, &d);

	if (r < 0)
		ctl_call_errors(argv0, &d);
	zt_diags_clear(&d);
	return r;
}

int grant_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "for", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *args = json_object(), *res = NULL;
	const char *why = NULL;
	bool json = false;
	uint32_t secs;
	int c;

	if (!args)
		return CTL_EXIT_NO;
	while ((c = getopt_long(argc, argv, "s:f:t:r:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			json_object_set_new(args, "source", json_string(optarg));
			break;
		case 'f':
			if (zt_duration_parse(optarg, ZT_JIT_MAX_SECONDS, &secs, &why) < 0) {
				fprintf(stderr, "%s: --for '%s': %s\n", argv[0], optarg, why);
				return CTL_EXIT_USAGE;
			}
			json_object_set_new(args, "for", json_integer(secs));
			break;
		case 't':
			json_object_set_new(args, "to", json_string(optarg));
			break;
		case 'r':
			json_object_set_new(args, "reason", json_string(optarg));
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			grant_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			grant_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || !json_object_get(args, "source") || !json_object_get(args, "reason")) {
		fprintf(stderr, "%s: expected TEMPLATE, --source ADDRESS and --reason TEXT\n", argv[0]);
		grant_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	json_object_set_new(args, "template", json_string(argv[optind]));
	if (call(ctl, argv[0], "grant", args, &res) < 0)
		return CTL_EXIT_NO;
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		printf("grant %" JSON_INTEGER_FORMAT " '%s' for %s until %s\n",
		       json_integer_value(json_object_get(res, "id")),
		       json_string_value(json_object_get(res, "template")) ?: "?",
		       json_string_value(json_object_get(res, "source")) ?: "?",
		       json_string_value(json_object_get(res, "expires")) ?: "?");
	}
	return CTL_EXIT_OK;
}

int grants_main(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ json_t *res = NULL;
	const json_t *arr, *g;
	bool json = argc == 2 && streq(argv[1], "--json");
	size_t i;

	if (argc > 1 && !json) {
		bool help = argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"));

		fprintf(help ? stdout : stderr, "Usage: %s [--json]\nList the live grants: id, template, source, "
			"destination zones, who, remaining time, packets and bytes, reason.\n", argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	if (call(ctl, argv[0], "grants", NULL, &res) < 0)
		return CTL_EXIT_NO;
	arr = json_object_get(res, "grants");
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return CTL_EXIT_OK;
	}
	printf("%-6s %-20s %-24s %-12s %-10s %-10s %10s %12s %s\n", "ID", "TEMPLATE", "SOURCE", "TO", "USER",
	       "REMAINING", "PACKETS", "BYTES", "REASON");
	json_array_foreach(arr, i, g) {
		char db[32];

		printf("%-6" JSON_INTEGER_FORMAT " %-20s %-24s %-12s %-10s %-10s %10" JSON_INTEGER_FORMAT
		       " %12" JSON_INTEGER_FORMAT " %s\n",
		       json_integer_value(json_object_get(g, "id")),
		       json_string_value(json_object_get(g, "template")) ?: "?",
		       json_string_value(json_object_get(g, "source")) ?: "?",
		       json_string_value(json_object_get(g, "to")) ?: "?",
		       json_string_value(json_object_get(g, "user")) ?: "?",
		       zt_duration_fmt((uint64_t)json_integer_value(json_object_get(g, "remaining_seconds")), db,
				       sizeof(db)),
		       json_integer_value(json_object_get(g, "packets")), json_integer_value(json_object_get(g, "bytes")),
		       json_string_value(json_object_get(g, "reason")) ?: "");
	}
	return CTL_EXIT_OK;
}

int revoke_main(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ json_t *res = NULL, *args = NULL;
	unsigned long id;
	char *end;

	if (argc != 2 || !argv[1][0] || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		bool help = argc == 2 && argv[1][0] == '-';

		fprintf(help ? stdout : stderr,
			"Usage: %s ID\nEnd grant ID now: new connections are denied and its open ones cut.\n", argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	errno = 0;
	id = strtoul(argv[1], &end, 10);
	if (errno || *end || id < 1 || id > ZT_GRANT_ID_MAX) {
		fprintf(stderr, "%s: '%s' is not a grant id\n", argv[0], argv[1]);
		return CTL_EXIT_USAGE;
	}
	args = json_pack("{s:I}", "id", (json_int_t)id);
	if (call(ctl, argv[0], "revoke", args, &res) < 0)
		return CTL_EXIT_NO;
	printf("grant %lu revoked\n", id);
	return CTL_EXIT_OK;
}
