/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Prometheus text format: escaping, families, samples and histograms.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "util.h"

const double zt_histo_duration_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					    0.25, 0.5, 1, 2.5, 5, 10, 30 };
const size_t zt_histo_duration_n = ELEMENTSOF(zt_histo_duration_bounds);

void zt_metrics_clear(struct zt_metrics *m)
{
	free(m->buf);
	*m = (struct zt_metrics){};
}

_printf_(2, 3) static void put(struct zt_metrics *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->oom)
		return;
	for (;;) {
		size_t room = m->cap - m->len;

		va_start(ap, fmt);
		n = vsnprintf(m->buf ? m->buf + m->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = true;
			return;
		}
		if ((size_t)n < room) {
			m->len += (size_t)n;
			return;
		}
		{
			size_t cap = m->cap ? m->cap : 4096;
			char *b;

			while (cap - m->len <= (size_t)n)
				cap *= 2;
			if (!(b = realloc(m->buf, cap))) {
				m->oom = true;
				return;
			}
			m->buf = b;
			m->cap = cap;
		}
	}
}

const char *zt_metrics_escape(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* HELP text escapes only backslash and newline. */
static void put_help(struct zt_metrics *m, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			put(m, "\\\\");
		else if (*s == '\n')
			put(m, "\\n");
		else
			put(m, "%c", *s);
	}
}

void zt_metrics_family(struct zt_metrics *m, const char *name, const char *type, const char *help)
{
	put(m, "# HELP %s ", name);
	put_help(m, help);
	put(m, "\n# TYPE %s %s\n", name, type);
}

static void put_labels(struct zt_metrics *m, const struct zt_label *labels, size_t n, const char *le)
{
	char eb[512];

	if (!n && !le)
		return;
	put(m, "{");
	for (size_t i = 0; i < n; i++)
		put(m, "%s%s=\"%s\"", i ? "," : "", labels[i].name, zt_metrics_escape(labels[i].value, eb, sizeof(eb)));
	if (le)
		put(m, "%sle=\"%s\"", n ? "," : "", le);
	put(m, "}");
}

void zt_metrics_sample(struct zt_metrics *m, const char *name, const struct zt_label *labels, size_t n_labels,
		       double value)
{
	put(m, "%s", name);
	put_labels(m, labels, n_labels, NULL);
	if (isinf(value))
		put(m, " %s\n", value > 0 ? "+Inf" : "-Inf");
	else if (isnan(value))
		put(m, " NaN\n");
	else
		put(m, " %.17g\n", value);
}

void zt_metrics_sample_u64(struct zt_metrics *m, const char *name, const struct zt_label *labels,
			   size_t n_labels, uint64_t value)
{
	put(m, "%s", name);
	put_labels(m, labels, n_labels, NULL);
	put(m, " %" PRIu64 "\n", value);
}

void zt_histogram_init(struct zt_histogram *h, const double *bounds, size_t n)
{
	*h = (struct zt_histogram){ .bounds = bounds, .n = n > ZT_HISTO_MAX_BUCKETS ? ZT_HISTO_MAX_BUCKETS : n };
}

void zt_histogram_observe(struct zt_histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void zt_metrics_histogram(struct zt_metrics *m, const char *name, const struct zt_histogram *h)
{
	uint64_t cum = 0;
	char le[32];

	for (size_t i = 0; i <= h->n; i++) {
		cum += h->counts[i];
		if (i < h->n)
			snprintf(le, sizeof(le), "%g", h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put(m, "%s_bucket", name);
		put_labels(m, NULL, 0, le);
		put(m, " %" PRIu64 "\n", cum);
	}
	put(m, "%s_sum %.17g\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}
