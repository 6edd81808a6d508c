/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus text exposition format 0.0.4: metric families with HELP and
 * TYPE, samples with escaped label values, histograms with cumulative
 * buckets. Pure: text into a growing buffer, no I/O.
 */
#ifndef ZT_METRICS_H
#define ZT_METRICS_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define ZT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct zt_metrics {
	char *buf;
	size_t len, cap;
	bool oom;
};

/* One label: name (a valid label name, the caller's) and value (anything: escaped here). */
struct zt_label {
	const char *name, *value;
};

void zt_metrics_clear(struct zt_metrics *m);
/* # HELP and # TYPE (counter, gauge, histogram) of a family; help is escaped. */
void zt_metrics_family(struct zt_metrics *m, const char *name, const char *type, const char *help);
/* name{labels} value (a counter or gauge's sample). */
void zt_metrics_sample(struct zt_metrics *m, const char *name, const struct zt_label *labels, size_t n_labels,
		       double value);
void zt_metrics_sample_u64(struct zt_metrics *m, const char *name, const struct zt_label *labels,
			   size_t n_labels, uint64_t value);
/* The label value as the format wants it: \\ \" \n escaped. buf gets at most len bytes. */
const char *zt_metrics_escape(const char *s, char *buf, size_t len);

/* A histogram of seconds with fixed upper bounds (the +Inf bucket is added). */
#define ZT_HISTO_MAX_BUCKETS 16
struct zt_histogram {
	const double *bounds;		/* ascending, n of them */
	size_t n;
	uint64_t counts[ZT_HISTO_MAX_BUCKETS + 1];	/* not cumulative; [n] is +Inf */
	uint64_t count;
	double sum;
};
/* Bounds for durations of applies and reloads, in seconds. */
extern const double zt_histo_duration_bounds[];
extern const size_t zt_histo_duration_n;
void zt_histogram_init(struct zt_histogram *h, const double *bounds, size_t n);
void zt_histogram_observe(struct zt_histogram *h, double v);
/* name_bucket{le=...}, name_sum, name_count (family written by the caller). */
void zt_metrics_histogram(struct zt_metrics *m, const char *name, const struct zt_histogram *h);

#endif
