/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl bans and unban: the flood bans the running daemon's kernel holds. */
#include <stdio.h>
#include "ctl.h"
#include "grant.h"
#include "ztsegctl.h"

#define BANS_TIMEOUT (10 * ZT_USEC_PER_SEC)

static int call(struct ctl *ctl, const char *argv0, const char *cmd, json_t *args, json_t **ret)
{
	struct zt_diags d = {};
	int r = zt_ctl_call(ctl->socket, cmd, args, BANS_TIMEOUT, ret, &d);

	if (r < 0)
		ctl_call_errors(argv0, &d);
	zt_diags_clear(&d);
	return r;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "?";
}

int bans_main(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ json_t *res = NULL;
	const json_t *b;
	bool json = argc == 2 && streq(argv[1], "--json");
	size_t i;

	if (argc > 1 && !json) {
		bool help = argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"));

		fprintf(help ? stdout : stderr, "Usage: %s [--json]\nList the flood bans: source, zone, reason, "
			"remaining time, packets dropped.\n", argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	if (call(ctl, argv[0], "bans", NULL, &res) < 0)
		return CTL_EXIT_NO;
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return CTL_EXIT_OK;
	}
	printf("%-28s %-16s %-12s %-10s %10s  %s\n", "SOURCE", "ZONE", "REASON", "REMAINING", "DROPPED", "LIMIT");
	json_array_foreach(json_object_get(res, "bans"), i, b) {
		char rem[32], zone[80];
		json_int_t ms = json_integer_value(json_object_get(b, "remaining_ms"));

		snprintf(zone, sizeof(zone), "%s%s", json_is_true(json_object_get(b, "everywhere")) ? "all; " : "",
			 jstr(b, "zone"));
		printf("%-28s %-16s %-12s %-10s %10" JSON_INTEGER_FORMAT "  %s (%s)\n", jstr(b, "source"), zone,
		       jstr(b, "reason"), zt_duration_fmt((uint64_t)((ms + 999) / 1000), rem, sizeof(rem)),
		       json_integer_value(json_object_get(b, "packets")), jstr(b, "limit"), jstr(b, "policy"));
	}
	return CTL_EXIT_OK;
}

int unban_main(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ json_t *res = NULL, *args = NULL;

	if (argc != 2 || !argv[1][0] || argv[1][0] == '-') {
		bool help = argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"));

		fprintf(help ? stdout : stderr, "Usage: %s ADDRESS\nLift the flood bans of ADDRESS now (every limit "
			"that banned its source prefix).\n", argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	args = json_pack("{s:s}", "address", argv[1]);
	if (call(ctl, argv[0], "unban", args, &res) < 0)
		return CTL_EXIT_NO;
	printf("%s: %" JSON_INTEGER_FORMAT " ban(s) lifted\n", argv[1], json_integer_value(json_object_get(res, "lifted")));
	return CTL_EXIT_OK;
}
