/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl log: the connection log, from the daemon's ring and (with -f) as it happens. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "ctl.h"
#include "flowrec.h"
#include "ztsegctl.h"

#define LOG_TIMEOUT (10 * ZT_USEC_PER_SEC)

static void log_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [-f] [--json] [--zone ZONE] [--flow FLOW] [--verdict VERDICT]\n"
		   "          [--since TIME] [--queue N]\n"
		   "Print the connection log: one record per connection ztseg judged (allowed\n"
		   "ones when flow-log: true, with bytes and packets when they end; denied ones\n"
		   "as the rules log them). Without -f, the records the daemon still holds;\n"
		   "with -f, new records as they come (and the held ones since TIME first).\n"
		   "  -f, --follow       keep reading\n"
		   "  --json             one JSON object per line (keys in ztsegctl(8))\n"
		   "  --zone ZONE        records with ZONE (or a subnet of segment ZONE) on either side\n"
		   "  --flow FLOW        records of flow FLOW (\"default\": those no flow decided)\n"
		   "  --verdict VERDICT  allow, deny or spoof\n"
		   "  --since TIME       30s, 5m, 2h, 1d ago, @EPOCH or YYYY-MM-DDTHH:MM:SSZ\n"
		   "  --queue N          records the daemon holds for this reader (16-16384, default 4096)\n",
		argv0);
}

static int put_arg(json_t *args, const char *key, const char *v, size_t max, const char *argv0)
{
	if (strlen(v) >= max || !*v) {
		fprintf(stderr, "%s: --%s '%s': expected a name of at most %zu bytes\n", argv0, key, v, max - 1);
		return -EINVAL;
	}
	return json_object_set_new(args, key, json_string(v)) < 0 ? -ENOMEM : 0;
}

static int print_record(const json_t *rec, bool json)
{
	const char *s;

	if (json) {
		if (json_dumpf(rec, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) < 0)
			return -EIO;
		fputc('\n', stdout);
		return 0;
	}
	/* The text line from the record's own keys: what the daemon sent, nothing re-derived. */
	s = json_string_value(json_object_get(rec, "time"));
	fprintf(stdout, "%s %s %s %s %s", s ? s : "?", json_string_value(json_object_get(rec, "verdict")) ?: "?",
		json_string_value(json_object_get(rec, "event")) ?: "?",
		json_string_value(json_object_get(rec, "proto")) ?: "?",
		json_string_value(json_object_get(rec, "src")) ?: "?");
	if (json_object_get(rec, "sport"))
		fprintf(stdout, " port %lld", (long long)json_integer_value(json_object_get(rec, "sport")));
	fprintf(stdout, " -> %s", json_string_value(json_object_get(rec, "dst")) ?: "?");
	if (json_object_get(rec, "dport"))
		fprintf(stdout, " port %lld", (long long)json_integer_value(json_object_get(rec, "dport")));
	fprintf(stdout, " %s -> %s", json_string_value(json_object_get(rec, "from")) ?: "?",
		json_string_value(json_object_get(rec, "to")) ?: "?");
	s = json_string_value(json_object_get(rec, "flow"));
	fprintf(stdout, s ? " flow %s" : " default", s ? s : "");
	if (json_object_get(rec, "packets_orig"))
		fprintf(stdout, " packets %lld/%lld bytes %lld/%lld",
			(long long)json_integer_value(json_object_get(rec, "packets_orig")),
			(long long)json_integer_value(json_object_get(rec, "packets_reply")),
			(long long)json_integer_value(json_object_get(rec, "bytes_orig")),
			(long long)json_integer_value(json_object_get(rec, "bytes_reply")));
	fputc('\n', stdout);
	return 0;
}

/*
 * A record frame as the daemon writes it, {"record":{...}}: with --json its
 * inner object is the line, copied without parsing it and writing it again
 * (a reader that keeps up with thousands of records a second). Anything
 * else is parsed. true when it was such a frame and was written.
 */
#define RECORD_PREFIX "{\"record\":{"
static bool record_fast(const char *body, uint32_t len)
{
	size_t p = strlen(RECORD_PREFIX) - 1;

	if (len < p + 3 || memcmp(body, RECORD_PREFIX, p + 1) != 0 || body[len - 1] != '}' || body[len - 2] != '}' ||
	    memchr(body, '\n', len))
		return false;
	fwrite(body + p, 1, len - p - 1, stdout);
	fputc('\n', stdout);
	return true;
}

/* Frames until the end (or forever with -f): 0, or -errno. */
static int stream(int fd, bool json, bool follow, const char *argv0)
{
	struct zt_diags d = {};

	for (;;) {
		_cleanup_json_ json_t *fr = NULL;
		_cleanup_free_ char *body = NULL;
		json_error_t err;
		const json_t *v;
		uint32_t len = 0;
		int r = zt_ctl_stream_next_raw(fd, &body, &len, &d);

		if (r < 0) {
			if (r == -ECONNRESET && !d.n)
				fprintf(stderr, "%s: ztsegd closed the log (it stopped, or this reader misbehaved)\n",
					argv0);
			else
				ctl_call_errors(argv0, &d);
			zt_diags_clear(&d);
			return r;
		}
		if (json && record_fast(body, len))
			goto next;
		fr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
		if (!json_is_object(fr)) {
			fprintf(stderr, "%s: malformed frame from ztsegd: %s\n", argv0, err.text);
			return -EBADMSG;
		}
		if ((v = json_object_get(fr, "record"))) {
			if (print_record(v, json) < 0)
				return -EIO;
		} else if ((v = json_object_get(fr, "lost"))) {
			long long n = (long long)json_integer_value(v);

			fprintf(stderr, "%s: %lld records lost: this reader did not keep up\n", argv0, n);
			if (json)
				printf("{\"lost\":%lld}\n", n);
		} else if (json_object_get(fr, "end")) {
			return 0;
		}
next:
		if ((follow && fflush(stdout) != 0) || ferror(stdout))
			return -EIO;
	}
}

int log_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "zone", required_argument, NULL, 'z' },
		{ "flow", required_argument, NULL, 'F' },
		{ "verdict", required_argument, NULL, 'v' },
		{ "since", required_argument, NULL, 'S' },
		{ "queue", required_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_json_ json_t *args = json_object(), *res = NULL;
	_cleanup_close_ int fd = -1;
	struct zt_diags d = {};
	bool json = false, follow = false;
	struct timespec ts;
	uint64_t since;
	char *end;
	long q;
	int c, r;

	if (!args)
		return CTL_EXIT_NO;
	while ((c = getopt_long(argc, argv, "fjh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			follow = true;
			break;
		case 'j':
			json = true;
			break;
		case 'z':
			if (put_arg(args, "zone", optarg, ZT_FLOWREC_ZONE_MAX, argv[0]) < 0)
				return CTL_EXIT_USAGE;
			break;
		case 'F':
			if (put_arg(args, "flow", optarg, ZT_FLOWREC_FLOW_MAX, argv[0]) < 0)
				return CTL_EXIT_USAGE;
			break;
		case 'v':
			if (!streq(optarg, "allow") && !streq(optarg, "deny") && !streq(optarg, "spoof") &&
			    !streq(optarg, "would-deny")) {
				fprintf(stderr, "%s: --verdict '%s': expected allow, deny, spoof or would-deny\n",
					argv[0], optarg);
				return CTL_EXIT_USAGE;
			}
			if (put_arg(args, "verdict", optarg, ZT_FLOWREC_VERDICT_MAX, argv[0]) < 0)
				return CTL_EXIT_USAGE;
			break;
		case 'S':
			clock_gettime(CLOCK_REALTIME, &ts);
			if (zt_flowrec_since_parse(optarg, (uint64_t)ts.tv_sec * ZT_USEC_PER_SEC +
							   (uint64_t)ts.tv_nsec / 1000, &since) < 0) {
				fprintf(stderr, "%s: --since '%s': expected 30s, 5m, 2h, 1d, @EPOCH or "
						"YYYY-MM-DDTHH:MM:SSZ\n", argv[0], optarg);
				return CTL_EXIT_USAGE;
			}
			json_object_set_new(args, "since", json_integer((json_int_t)(since ? since : 1)));
			break;
		case 'q':
			q = strtol(optarg, &end, 10);
			if (*end || q < 16 || q > 16384) {
				fprintf(stderr, "%s: --queue '%s': expected a number from 16 to 16384\n", argv[0], optarg);
				return CTL_EXIT_USAGE;
			}
			json_object_set_new(args, "queue", json_integer(q));
			break;
		case 'h':
			log_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			log_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		log_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (follow)
		json_object_set_new(args, "follow", json_true());
	r = zt_ctl_subscribe(ctl->socket, "log", args, LOG_TIMEOUT, &res, &fd, &d);
	if (r < 0) {
		ctl_call_errors(argv[0], &d);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	if (json_integer_value(json_object_get(res, "skipped")) > 0)
		fprintf(stderr, "%s: %lld older records not shown (--queue is %lld)\n", argv[0],
			(long long)json_integer_value(json_object_get(res, "skipped")),
			(long long)json_integer_value(json_object_get(res, "queue")));
	r = stream(fd, json, follow, argv[0]);
	if (fflush(stdout) != 0 || r == -EIO) {
		fprintf(stderr, "%s: cannot write the log\n", argv[0]);
		return CTL_EXIT_NO;
	}
	return r < 0 ? CTL_EXIT_NO : CTL_EXIT_OK;
}
