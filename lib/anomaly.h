/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Learned baselines (threats.anomaly), the pure parts: an exponentially
 * weighted mean and variance per series (and per hour of day), the
 * detector that opens and closes anomaly episodes, and the state file
 * that keeps baselines and open episodes over a restart. No I/O, no
 * clock: the daemon (ztsegd-anomaly.c) samples and passes the time in.
 */
#ifndef ZT_ANOMALY_H
#define ZT_ANOMALY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Samples the mean and variance weigh: at first an exact running mean, then an EWMA with alpha 1/WINDOW. */
#define ZT_BASELINE_WINDOW 120
/* An hour-of-day baseline is used once it has seen this many samples; before, the series' own. */
#define ZT_BASELINE_HOUR_MIN 30
/* A series' name: a flow's, or ZT_ANOMALY_TO_PREFIX and a zone's (segment.subnet: 2 x 48 + 1). */
#define ZT_ANOMALY_NAME_MAX 104
#define ZT_ANOMALY_TO_PREFIX "to:"
/* A flow's series: bytes is named ZT_ANOMALY_BYTES_PREFIX and the flow's (its own baseline). */
#define ZT_ANOMALY_BYTES_PREFIX "bytes:"
/* A rate no series can reach (new connections or bytes per second): a state file above it is corrupt. */
#define ZT_ANOMALY_RATE_MAX 1e12

struct zt_baseline {
	uint64_t n;		/* samples learned */
	double mean, var;	/* new connections per second; its variance */
};

/* Learn one sample x (finite, >= 0). */
void zt_baseline_update(struct zt_baseline *b, double x);
double zt_baseline_std(const struct zt_baseline *b);

struct zt_detect_params {
	double sensitivity;	/* standard deviations */
	double min_rate;	/* per second: under it, never over */
	uint32_t samples;	/* consecutive samples over that open an episode */
	uint32_t clear;		/* consecutive samples under that close it */
	uint64_t learn;		/* samples before any episode */
	double interval;	/* seconds per sample (the floor on the deviation: counting noise) */
	bool hourly;
};

struct zt_detector {
	struct zt_baseline all, hour[24];
	uint32_t over, under;	/* consecutive samples over / back under the threshold */
	bool open;		/* an episode is open */
	/* the open (or last) episode */
	uint64_t opened, closed;	/* the caller's time (seconds) */
	double base_mean, base_std, threshold, peak, last;
	uint64_t ep_samples;
};

enum zt_detect_event { ZT_DETECT_NONE, ZT_DETECT_OPEN, ZT_DETECT_CLOSE };

/* The baseline a sample at hour (0..23; -1 none) is judged against. */
const struct zt_baseline *zt_detect_baseline(const struct zt_detector *d, const struct zt_detect_params *p,
					     int hour);
/* mean + sensitivity x max(std, sqrt((mean + 1) / interval)). */
double zt_detect_threshold(const struct zt_baseline *b, const struct zt_detect_params *p);
/* Still learning: no episode yet. */
bool zt_detect_learning(const struct zt_detector *d, const struct zt_detect_params *p);
/*
 * One sample x (new connections per second over the last interval) at
 * time now and hour: learns it unless it is over the threshold or an
 * episode is open (an attack is not learned as normal), and says whether
 * an episode opened or closed. A non-finite or negative x is ignored.
 */
enum zt_detect_event zt_detect_sample(struct zt_detector *d, const struct zt_detect_params *p, double x,
				      int hour, uint64_t now);

/*
 * The state file: "ztseg-anomaly 1", then per series
 *   b NAME SLOT N MEAN VAR          SLOT "all" or 0..23
 *   e NAME OPENED MEAN STD THRESHOLD PEAK SAMPLES      an open episode
 *   s NAME ADDRESS                  a source that episode banned (after its e)
 * NAME is a flow name or to:ZONE (no space or control byte, at most 104 bytes).
 */
#define ZT_ANOMALY_BANNED_MAX 32

struct zt_anomaly_addr {
	uint8_t family;		/* AF_INET, AF_INET6 */
	uint8_t addr[16];
};

struct zt_anomaly_state {
	char name[ZT_ANOMALY_NAME_MAX + 1];
	struct zt_detector d;
	struct zt_anomaly_addr banned[ZT_ANOMALY_BANNED_MAX];	/* the open episode's banned sources */
	size_t n_banned;
};

/* Serialize n series into a malloc'd buffer. 0 or -ENOMEM (-EINVAL for a name that cannot be written). */
int zt_anomaly_state_format(const struct zt_anomaly_state *v, size_t n, char **ret, size_t *ret_len);
/*
 * Parse a state file of len bytes (not NUL-terminated) into at most max
 * series. 0, or -EBADMSG (what and the line in err) for anything not
 * exactly as written: truncated, garbage, numbers out of range, non-finite,
 * duplicates, more than max series. Nothing is returned on error.
 */
int zt_anomaly_state_parse(const char *buf, size_t len, size_t max, struct zt_anomaly_state **ret,
			   size_t *ret_n, char *err, size_t errlen);

/* The rate-limit tier: the largest power of two <= x (at least 1, at most 2^ZT_ANOMALY_TIERS-1). */
#define ZT_ANOMALY_TIERS 17
unsigned zt_anomaly_tier(double x);

#endif
