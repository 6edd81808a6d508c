/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl anomalies: the running daemon's learned baselines and anomaly episodes (open, and the last closed). */
#include <stdio.h>
#include <time.h>
#include "ctl.h"
#include "ztsegctl.h"

#define ANOMALIES_TIMEOUT (10 * ZT_USEC_PER_SEC)

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "?";
}

static const char *when(json_int_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
	return buf;
}

int anomalies_main(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	const json_t *e;
	bool json = argc == 2 && streq(argv[1], "--json");
	size_t i;

	if (argc > 1 && !json) {
		bool help = argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"));

		fprintf(help ? stdout : stderr, "Usage: %s [--json]\nList the learned baselines and the anomaly "
			"episodes (open, and the last closed) with what was done.\n", argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
	if (zt_ctl_call(ctl->socket, "anomalies", NULL, ANOMALIES_TIMEOUT, &res, &d) < 0) {
		ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return CTL_EXIT_OK;
	}
	printf("%-24s %8s %10s %10s %10s  %s\n", "FLOW", "SAMPLES", "MEAN/s", "SD", "LAST/s", "STATE");
	json_array_foreach(json_object_get(res, "series"), i, e)
		printf("%-24s %8" JSON_INTEGER_FORMAT " %10.2f %10.2f %10.2f  %s%s%s\n", jstr(e, "flow"),
		       json_integer_value(json_object_get(e, "samples")), json_real_value(json_object_get(e, "mean")),
		       json_real_value(json_object_get(e, "sd")), json_real_value(json_object_get(e, "last")),
		       json_is_true(json_object_get(e, "open")) ? "EPISODE" :
		       json_is_true(json_object_get(e, "learning")) ? "learning" : "normal",
		       json_is_true(json_object_get(e, "watched")) ? "" : " (not in the policy)",
		       json_is_true(json_object_get(e, "watched")) ? "" : "");
	printf("\n%-24s %-5s %-20s %-20s %9s %9s  %s\n", "FLOW", "OPEN", "OPENED", "CLOSED", "BASELINE", "PEAK",
	       "ACTION; TOP SOURCES");
	json_array_foreach(json_object_get(res, "episodes"), i, e) {
		char t1[32], t2[32];

		printf("%-24s %-5s %-20s %-20s %9.2f %9.2f  %s; %s\n", jstr(e, "flow"),
		       json_is_true(json_object_get(e, "open")) ? "yes" : "no",
		       when(json_integer_value(json_object_get(e, "opened")), t1, sizeof(t1)),
		       when(json_integer_value(json_object_get(e, "closed")), t2, sizeof(t2)),
		       json_real_value(json_object_get(e, "baseline")), json_real_value(json_object_get(e, "peak")),
		       jstr(e, "action"), jstr(e, "top_sources"));
	}
	return CTL_EXIT_OK;
}
