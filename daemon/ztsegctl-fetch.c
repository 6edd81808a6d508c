/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `ztsegctl feeds fetch`: the unprivileged fetcher of url: feeds
 * (ztseg-feeds.service runs it as its own user). libcurl with TLS
 * verification on, http and https only, conditional requests
 * (ETag / If-Modified-Since), a size limit enforced while receiving, a
 * total and a low-speed time limit; each feed written to a temporary file
 * in the feeds directory and renamed over NAME, where ztsegd picks it up. A 304
 * touches the file (the feed is fresh again); any failure leaves it as it
 * was.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>
#include "feed.h"
#include "ztsegctl.h"

#define FETCH_TIMEOUT_DEFAULT 120	/* seconds per feed */
#define META_MAX 1024

struct sink {
	int fd;
	uint64_t got, max;
	bool too_big, io_error;
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n, off = 0;

	if (s->got + len > s->max) {
		s->too_big = true;
		return 0;	/* aborts the transfer */
	}
	while (off < len) {
		ssize_t k = write(s->fd, p + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			s->io_error = true;
			return 0;
		}
		off += (size_t)k;
	}
	s->got += len;
	return len;
}

struct meta {
	char etag[META_MAX];
	char modified[META_MAX];
};

/* The validators of the last 200, from FEEDS-DIR/.NAME.meta ("etag: …", "last-modified: …"). */
static void meta_read(int dfd, const char *name, struct meta *m)
{
	char path[256], buf[2 * META_MAX + 64], *line, *save = NULL;
	ssize_t n;
	int fd;

	*m = (struct meta){};
	snprintf(path, sizeof(path), ".%s.meta", name);
	fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "etag: ", 6))
			snprintf(m->etag, sizeof(m->etag), "%s", line + 6);
		else if (!strncmp(line, "last-modified: ", 15))
			snprintf(m->modified, sizeof(m->modified), "%s", line + 15);
	}
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct meta *m = userdata;
	size_t len = size * n, k = len;
	char *dst = NULL;
	size_t skip = 0;

	if (len > 6 && !strncasecmp(p, "etag:", 5)) {
		dst = m->etag;
		skip = 5;
	} else if (len > 15 && !strncasecmp(p, "last-modified:", 14)) {
		dst = m->modified;
		skip = 14;
	}
	if (!dst)
		return len;
	while (skip < k && (p[skip] == ' ' || p[skip] == '\t'))
		skip++;
	while (k > skip && (p[k - 1] == '\r' || p[k - 1] == '\n' || p[k - 1] == ' '))
		k--;
	if (k - skip < META_MAX) {
		bool ok = true;

		for (size_t i = skip; i < k; i++)
			ok &= (unsigned char)p[i] >= 0x20 && (unsigned char)p[i] < 0x7f;
		if (ok) {
			memcpy(dst, p + skip, k - skip);
			dst[k - skip] = '\0';
		}
	}
	return len;
}

static void meta_write(int dfd, const char *name, const struct meta *m)
{
	char tmp[256], path[256];
	int fd;

	snprintf(tmp, sizeof(tmp), ".%s.meta.tmp", name);
	snprintf(path, sizeof(path), ".%s.meta", name);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dprintf(fd, "etag: %s\nlast-modified: %s\n", m->etag, m->modified);
	if (fsync(fd) == 0 && close(fd) == 0)
		renameat(dfd, tmp, dfd, path);
	else
		unlinkat(dfd, tmp, 0);
}

struct fetch_opts {
	long timeout;
	uint64_t max_size;	/* 0: the feed's max-size */
	const char *ca_file;
};

/* One feed: 0 fetched or not modified, -1 failed (the old file stays). */
static int fetch_one(int dfd, const struct zt_blocklist *b, const struct fetch_opts *o)
{
	struct meta old, now = {};
	struct sink s = { .max = o->max_size ? o->max_size : b->max_bytes };
	char tmp[64], hdr[META_MAX + 32], err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	long code = 0;
	CURL *c;
	CURLcode cr;
	int ret = -1;

	meta_read(dfd, b->name, &old);
	snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", b->name);
	/* mkstemp wants a path: the state directory is our working directory. */
	s.fd = mkostemp(tmp, O_CLOEXEC);
	if (s.fd < 0) {
		fprintf(stderr, "feed '%s': cannot create a temporary file: %s\n", b->name, strerror(errno));
		return -1;
	}
	fchmod(s.fd, 0644);
	c = curl_easy_init();
	if (!c)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, b->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o->timeout < 30 ? o->timeout : 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->timeout < 30 ? o->timeout : 30L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.max);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ztseg-feeds/1");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &now);
	if (old.etag[0]) {
		snprintf(hdr, sizeof(hdr), "If-None-Match: %s", old.etag);
		hl = curl_slist_append(hl, hdr);
	}
	if (old.modified[0]) {
		snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s", old.modified);
		hl = curl_slist_append(hl, hdr);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (s.too_big || cr == CURLE_FILESIZE_EXCEEDED)
		fprintf(stderr, "feed '%s': refused: the server sent more than %llu bytes\n", b->name,
			(unsigned long long)s.max);
	else if (cr != CURLE_OK)
		fprintf(stderr, "feed '%s': %s: %s\n", b->name, curl_easy_strerror(cr), err);
	else if (code == 304) {
		/* Not modified: the copy we have is current; its age starts again. */
		if (utimensat(dfd, b->name, NULL, AT_SYMLINK_NOFOLLOW) < 0)
			fprintf(stderr, "feed '%s': not modified, but there is no copy: %s\n", b->name, strerror(errno));
		else {
			printf("feed '%s': not modified (304)\n", b->name);
			ret = 0;
		}
	} else if (code != 200)
		fprintf(stderr, "feed '%s': HTTP status %ld: the last copy stays\n", b->name, code);
	else if (fsync(s.fd) < 0 || renameat(dfd, tmp, dfd, b->name) < 0)
		fprintf(stderr, "feed '%s': cannot write it: %s\n", b->name, strerror(errno));
	else {
		tmp[0] = '\0';
		meta_write(dfd, b->name, &now);
		printf("feed '%s': fetched %llu bytes\n", b->name, (unsigned long long)s.got);
		ret = 0;
	}
out:
	if (c)
		curl_easy_cleanup(c);
	curl_slist_free_all(hl);
	close(s.fd);
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
	return ret;
}

int feeds_fetch_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "feeds-dir", required_argument, NULL, 's' },
		{ "feed", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "ca-file", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *config = CTL_DEFAULT_CONFIG, *state = "/var/lib/ztseg-feeds", *only = NULL;
	struct fetch_opts o = { .timeout = FETCH_TIMEOUT_DEFAULT };
	_cleanup_policy_ struct zt_policy *p = NULL;
	struct zt_diags d = {};
	char dir[4096];
	int c, dfd, failed = 0, done = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': state = optarg; break;
		case 'f': only = optarg; break;
		case 't': o.timeout = atol(optarg); break;
		case 'm': o.max_size = strtoull(optarg, NULL, 10); break;
		case 'a': o.ca_file = optarg; break;
		case 'h':
			printf("Usage: ztsegctl feeds fetch [--config DIR] [--feeds-dir DIR] [--feed NAME] [--timeout SECONDS]\n"
			       "                            [--max-size BYTES] [--ca-file FILE]\n"
			       "Fetch the url: feeds of the policy into FEEDS-DIR/NAME (default /var/lib/ztseg-feeds) (conditional requests,\n"
			       "TLS verified, size and time limited). ztseg-feeds.service runs it.\n");
			return CTL_EXIT_OK;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc || o.timeout < 1 || o.timeout > 3600) {
		fprintf(stderr, "ztsegctl feeds fetch: bad arguments (see --help)\n");
		return CTL_EXIT_USAGE;
	}
	if (ctl_policy_load(config, &p, &d) < 0) {
		ctl_diags_print(config, &d, stderr);
		zt_diags_clear(&d);
		return CTL_EXIT_NO;
	}
	zt_diags_clear(&d);
	snprintf(dir, sizeof(dir), "%s", state);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fchdir(dfd) < 0) {
		fprintf(stderr, "ztsegctl feeds fetch: %s: %s\n", dir, strerror(errno));
		return CTL_EXIT_NO;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < p->threats.n_blocklists; i++) {
		const struct zt_blocklist *b = &p->threats.blocklists[i];

		if (!b->url || (only && !streq(only, b->name)))
			continue;
		done++;
		failed += fetch_one(dfd, b, &o) < 0;
	}
	curl_global_cleanup();
	close(dfd);
	if (only && !done) {
		fprintf(stderr, "ztsegctl feeds fetch: no url: feed named '%s'\n", only);
		return CTL_EXIT_NO;
	}
	return failed ? CTL_EXIT_NO : CTL_EXIT_OK;
}
