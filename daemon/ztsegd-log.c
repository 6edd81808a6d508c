/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's log: journal entries with structured fields when stderr is the
 * journal (JOURNAL_STREAM), plain lines on stderr otherwise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include "escape.h"
#include "ztsegd.h"

#define MAX_FIELDS 24
#define FIELD_BUFS 24
#define FIELD_LEN 256

static int max_level = LOG_NOTICE;
static bool to_journal;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_parse(const char *s)
{
	for (size_t i = LOG_ERR; i < ELEMENTSOF(level_names); i++)
		if (streq(s, level_names[i]))
			return (int)i;
	return -EINVAL;
}

/* journald tells a service that stderr is its stream by "DEV:INODE" of that stream. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	/* sd_journal_send() drops messages silently when journald is not there. */
	if (access("/run/systemd/journal/socket", W_OK) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_setup(int level)
{
	max_level = level;
	to_journal = stderr_is_journal();
}

bool log_on(int prio)
{
	return prio <= max_level;
}

/*
 * Values are escaped like messages: a journal field is one line in
 * journalctl's export and verbose output too.
 */
const char *log_field(const char *key, const char *fmt, ...)
{
	static char bufs[FIELD_BUFS][FIELD_LEN];
	static unsigned next;
	char *b = bufs[next++ % FIELD_BUFS], raw[FIELD_LEN];
	int k = snprintf(b, FIELD_LEN, "%s=", key);
	va_list ap;

	if (k < 0 || k >= FIELD_LEN)
		k = 0;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	zt_escape_to(b + k, FIELD_LEN - (size_t)k, raw);
	return b;
}

/*
 * Every message is escaped whole: interface names, policy names and
 * errors quoting a client's bytes reach it through %s, and a newline or
 * an escape sequence in one would forge a log line or redraw the
 * terminal of whoever reads the log.
 */
void log_fields(int prio, const char *const *fields, size_t n_fields, const char *fmt, ...)
{
	char raw[2048], msg[2048];
	va_list ap;
	int saved = errno;

	if (!log_on(prio))
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	zt_escape_to(msg, sizeof(msg), raw);
	if (to_journal) {
		struct iovec iov[MAX_FIELDS + 3];
		char m[sizeof(msg) + 8], p[16];
		size_t n = 0;

		snprintf(m, sizeof(m), "MESSAGE=%s", msg);
		snprintf(p, sizeof(p), "PRIORITY=%d", prio);
		iov[n++] = (struct iovec){ m, strlen(m) };
		iov[n++] = (struct iovec){ p, strlen(p) };
		iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=ztsegd", strlen("SYSLOG_IDENTIFIER=ztsegd") };
		for (size_t i = 0; i < n_fields && i < MAX_FIELDS; i++)
			if (fields[i])
				iov[n++] = (struct iovec){ (char *)fields[i], strlen(fields[i]) };
		if (sd_journal_sendv(iov, (int)n) >= 0) {
			errno = saved;
			return;
		}
	}
	fprintf(stderr, "ztsegd: %s%s\n", prio <= LOG_ERR ? "error: " : prio == LOG_WARNING ? "warning: " : "",
		msg);
	errno = saved;
}

void log_diags(int prio, const char *event, const struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		log_fields(d->v[i].sev == ZT_SEV_ERROR ? prio : LOG_WARNING,
			   (const char *[]){ log_field("ZTSEG_EVENT", "%s", event),
					     d->v[i].file ? log_field("ZTSEG_FILE", "%s", d->v[i].file) : NULL,
					     d->v[i].file ? log_field("ZTSEG_LINE", "%u", d->v[i].line) : NULL },
			   3, "%s", s ? s : d->v[i].msg);
	}
	if (d->truncated)
		log_fields(prio, NULL, 0, "too many diagnostics, %zu not shown", d->n_errors + d->n_warnings - d->n);
}

const char *log_time(uint64_t usec, char *buf, size_t len)
{
	time_t sec = (time_t)(usec / ZT_USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
	return buf;
}
