/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl metrics: the daemon's Prometheus text. With --http, one HTTP
 * request read from standard input and answered on standard output: what
 * ztseg-metrics@.service runs for each connection ztseg-metrics.socket
 * accepts (Accept=yes), unprivileged, with nothing but the control socket.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include "ctl.h"
#include "metrics.h"
#include "ztsegctl.h"

#define METRICS_TIMEOUT (10 * ZT_USEC_PER_SEC)
/* The request line and headers: a scraper's are a few hundred bytes. */
#define HTTP_HEAD_MAX 8192
/* A client that does not send its request in this time is dropped. */
#define HTTP_READ_SECONDS 5

static void metrics_usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [--http]\n"
		   "Print the running daemon's metrics in Prometheus' text format.\n"
		   "  --http  answer one HTTP request on standard input and output (GET /metrics),\n"
		   "          as ztseg-metrics@.service does for each scrape\n",
		argv0);
}

static int get_text(struct ctl *ctl, const char *argv0, char **ret, size_t *ret_len, bool quiet)
{
	_cleanup_json_ json_t *res = NULL;
	struct zt_diags d = {};
	const json_t *t;
	int r = zt_ctl_call(ctl->socket, "metrics", NULL, METRICS_TIMEOUT, &res, &d);

	if (r < 0) {
		if (!quiet)
			ctl_call_errors(argv0, &d);
		else if (d.n)
			fprintf(stderr, "%s: %s\n", argv0, d.v[0].msg);
		zt_diags_clear(&d);
		return r;
	}
	zt_diags_clear(&d);
	t = json_object_get(res, "text");
	if (!json_is_string(t))
		return -EBADMSG;
	*ret_len = json_string_length(t);
	*ret = malloc(*ret_len + 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, json_string_value(t), *ret_len + 1);
	return 0;
}

static void http_reply(int status, const char *reason, const char *type, const char *body, size_t len)
{
	printf("HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
	       "Cache-Control: no-store\r\n\r\n", status, reason, type, len);
	fwrite(body, 1, len, stdout);
	fflush(stdout);
}

static void http_error(int status, const char *reason)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);

	http_reply(status, reason, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Read the request head from stdin: the request line in line. -errno, or 0. */
static int http_head(char *line, size_t len)
{
	char head[HTTP_HEAD_MAX + 1];
	size_t got = 0;
	char *eol;

	while (got < HTTP_HEAD_MAX) {
		ssize_t n = read(STDIN_FILENO, head + got, HTTP_HEAD_MAX - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
		head[got] = '\0';
		/* The whole head, or at least the request line of an HTTP/0.9-style client. */
		if (strstr(head, "\r\n\r\n") || strstr(head, "\n\n"))
			break;
	}
	head[got] = '\0';
	if (!(eol = strpbrk(head, "\r\n")) || (size_t)(eol - head) >= len)
		return -EBADMSG;
	*eol = '\0';
	memcpy(line, head, (size_t)(eol - head) + 1);
	return 0;
}

static int http_main(struct ctl *ctl, const char *argv0)
{
	_cleanup_free_ char *text = NULL;
	char line[512], method[16], target[256], version[16];
	size_t len = 0;

	/* A stalled client costs one process for a few seconds, not forever. */
	alarm(HTTP_READ_SECONDS);
	if (http_head(line, sizeof(line)) < 0) {
		http_error(400, "Bad Request");
		return CTL_EXIT_NO;
	}
	alarm(0);
	if (sscanf(line, "%15s %255s %15s", method, target, version) != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
		http_error(400, "Bad Request");
		return CTL_EXIT_NO;
	}
	if (strcmp(target, "/metrics") != 0 && strncmp(target, "/metrics?", 9) != 0) {
		http_error(404, "Not Found");
		return CTL_EXIT_NO;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		http_error(405, "Method Not Allowed");
		return CTL_EXIT_NO;
	}
	if (get_text(ctl, argv0, &text, &len, true) < 0) {
		http_error(503, "Service Unavailable");
		return CTL_EXIT_NO;
	}
	http_reply(200, "OK", ZT_METRICS_CONTENT_TYPE, text, strcmp(method, "HEAD") ? len : 0);
	return ferror(stdout) ? CTL_EXIT_NO : CTL_EXIT_OK;
}

int metrics_main(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "http", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_free_ char *text = NULL;
	bool http = false;
	size_t len = 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			http = true;
			break;
		case 'h':
			metrics_usage(stdout, argv[0]);
			return CTL_EXIT_OK;
		default:
			metrics_usage(stderr, argv[0]);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		metrics_usage(stderr, argv[0]);
		return CTL_EXIT_USAGE;
	}
	if (http)
		return http_main(ctl, argv[0]);
	if (get_text(ctl, argv[0], &text, &len, false) < 0)
		return CTL_EXIT_NO;
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: cannot write the metrics\n", argv[0]);
		return CTL_EXIT_NO;
	}
	return CTL_EXIT_OK;
}
