/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ztsegctl feeds [--json]`: the threat feeds the daemon enforces (entries,
 * last update and its result, age, hits); `ztsegctl feeds test ADDR`:
 * which feeds list an address; `ztsegctl feeds fetch`: the unprivileged
 * fetcher (ztsegctl-fetch.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctl.h"
#include "explain.h"
#include "feed.h"
#include "escape.h"
#include "grant.h"
#include "ztsegctl.h"

#define FEEDS_TIMEOUT (10 * ZT_USEC_PER_SEC)

static int call(struct ctl *ctl, const char *argv0, const char *cmd, json_t *args, json_t **ret)
{
	struct zt_diags d = {};
	int r = zt_ctl_call(ctl->socket, cmd, args, FEEDS_TIMEOUT, ret, &d);

	if (r < 0)
		ctl_call_errors(argv0, &d);
	zt_diags_clear(&d);
	return r;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static json_int_t num(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static int feeds_list(struct ctl *ctl, const char *argv0, bool json)
{
	_cleanup_json_ json_t *res = NULL;
	const json_t *arr, *f, *u;
	size_t i;

	if (call(ctl, argv0, "feeds", NULL, &res) < 0)
		return CTL_EXIT_NO;
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		return CTL_EXIT_OK;
	}
	arr = json_object_get(res, "feeds");
	printf("%-20s %-4s %-6s %10s %-21s %10s %12s  %s\n", "FEED", "DIR", "ACTION", "ENTRIES", "UPDATED", "AGE",
	       "HITS", "LAST RESULT");
	json_array_foreach(arr, i, f) {
		char age[32], *e;

		snprintf(age, sizeof(age), "%s%s", zt_duration_fmt((uint64_t)num(f, "age_seconds"), (char[32]){ 0 }, 32),
			 json_is_true(json_object_get(f, "stale")) ? " STALE" : "");
		e = zt_escape(str(f, "result"));
		printf("%-20s %-4s %-6s %10" JSON_INTEGER_FORMAT " %-21s %10s %12" JSON_INTEGER_FORMAT "  %s%s\n",
		       str(f, "name"), str(f, "direction"), str(f, "action"), num(f, "entries"),
		       str(f, "updated")[0] ? str(f, "updated") : "never", age, num(f, "packets"),
		       json_is_true(json_object_get(f, "last_ok")) ? "" : "REFUSED: ", e ? e : "");
		free(e);
		if (num(f, "carved"))
			printf("%-20s %" JSON_INTEGER_FORMAT " entries overlap threats.except: carved out\n", "",
			       num(f, "carved"));
	}
	u = json_object_get(res, "feed_updates");
	printf("\n%" JSON_INTEGER_FORMAT " ranges in the kernel; last update %.1f ms (+%" JSON_INTEGER_FORMAT
	       " -%" JSON_INTEGER_FORMAT "), longest commit %.1f ms%s\n",
	       num(u, "kernel_ranges"), json_real_value(json_object_get(u, "last_update_ms")), num(u, "last_added"),
	       num(u, "last_removed"), json_real_value(json_object_get(u, "longest_commit_ms")),
	       json_is_true(json_object_get(u, "busy")) ? "; an update is being applied" : "");
	return CTL_EXIT_OK;
}

static int feeds_test(struct ctl *ctl, const char *argv0, const char *addr, bool json)
{
	_cleanup_json_ json_t *res = NULL, *args = json_pack("{s:s}", "address", addr);
	const json_t *arr, *f;
	size_t i;

	if (call(ctl, argv0, "feeds-test", args, &res) < 0)
		return CTL_EXIT_NO;
	arr = json_object_get(res, "listed");
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (!json_array_size(arr)) {
		printf("%s: listed by no feed\n", addr);
	} else {
		json_array_foreach(arr, i, f)
			printf("%s: listed by feed '%s' (entry %s, %s:%" JSON_INTEGER_FORMAT ", direction %s)\n", addr,
			       str(f, "feed"), str(f, "entry"), str(f, "file"), num(f, "line"), str(f, "direction"));
		if (json_is_true(json_object_get(res, "except")))
			printf("%s: inside threats.except: never blocked\n", addr);
	}
	return json_array_size(arr) && !json_is_true(json_object_get(res, "except")) ? CTL_EXIT_OK : CTL_EXIT_NO;
}

/* A feed file read offline, without following a link and within its max-size. */
static int feed_file_read(const struct zt_blocklist *b, const char *path, char **ret, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t k;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > b->max_bytes ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return -EINVAL;
	}
	while (got < (size_t)st.st_size && (k = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)k;
	close(fd);
	*ret = buf;
	*len = got;
	return 0;
}

int feeds_explain_offline(const struct zt_policy *p, const struct zt_endpoint *from, const struct zt_endpoint *to,
			  const char *argv0)
{
	for (size_t i = 0; i < p->threats.n_blocklists; i++) {
		const struct zt_blocklist *b = &p->threats.blocklists[i];
		struct zt_feed_limits lim = { .max_bytes = b->max_bytes, .max_bad_pct = b->max_bad_pct, .max_shrink_pct = 100 };
		struct zt_feed_data f = {};
		struct zt_diags d = { .max = 4 };
		_cleanup_free_ char *buf = NULL;
		char path[4200];
		size_t len = 0;
		int r;

		if (b->file)
			snprintf(path, sizeof(path), "%s", b->file);
		else
			snprintf(path, sizeof(path), "%s/%s", CTL_DEFAULT_FEEDS_DIR, b->name);
		r = feed_file_read(b, path, &buf, &len);
		if (r >= 0)
			r = zt_feed_parse(path, buf, len, &lim, &f, &d);
		zt_diags_clear(&d);
		if (r < 0) {
			fprintf(stderr, "%s: feed '%s' cannot be read or is refused here: not considered\n", argv0, b->name);
			continue;
		}
		for (int side = 0; side < 2; side++) {
			const struct zt_endpoint *ep = side ? to : from;
			bool except = false;
			char ent[128];
			ssize_t e;

			if (!ep->has_addr || (side == 0 && b->dir == ZT_FEED_OUT) || (side == 1 && b->dir == ZT_FEED_IN))
				continue;
			for (size_t k = 0; k < p->threats.n_except; k++)
				except |= zt_cidr_contains_addr(&p->threats.except[k], ep->family, ep->addr);
			if (except || (e = zt_feed_find(&f, ep->family, ep->addr)) < 0)
				continue;
			printf("deny: threat feed '%s' (entry %s, %s:%u) — listed %s, checked before any flow\n", b->name,
			       zt_feed_entry_fmt(&f, ep->family, (size_t)e, ent, sizeof(ent)),
			       path, ep->family == AF_INET ? f.e4[e].line : f.e6[e].line,
			       side ? "destination" : "source");
			zt_feed_data_clear(&f);
			return 1;
		}
		zt_feed_data_clear(&f);
	}
	return 0;
}

int feeds_main(struct ctl *ctl, int argc, char **argv)
{
	bool json = argc >= 2 && streq(argv[argc - 1], "--json");
	int n = json ? argc - 1 : argc;

	if (n == 1)
		return feeds_list(ctl, argv[0], json);
	if (n == 3 && streq(argv[1], "test"))
		return feeds_test(ctl, argv[0], argv[2], json);
	if (n >= 2 && streq(argv[1], "fetch"))
		return feeds_fetch_main(argc - 1, argv + 1);
	{
		bool help = argc == 2 && (streq(argv[1], "--help") || streq(argv[1], "-h"));

		fprintf(help ? stdout : stderr,
			"Usage: %s [--json]             list the threat feeds: entries, last update, age, hits\n"
			"       %s test ADDRESS [--json] which feeds list an address (exit 0: listed and blocked)\n"
			"       %s fetch [OPTIONS]       fetch the url: feeds (ztseg-feeds.service runs it)\n",
			argv[0], argv[0], argv[0]);
		return help ? CTL_EXIT_OK : CTL_EXIT_USAGE;
	}
}
