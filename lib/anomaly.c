/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Learned baselines (threats.anomaly): EWMA mean and variance, the episode
 * detector and the state file, pure (anomaly.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "anomaly.h"
#include "util.h"

/*
 * West's incremental form: alpha 1/(n+1) makes the first WINDOW samples an
 * exact running mean and (population) variance, after that an EWMA.
 */
void zt_baseline_update(struct zt_baseline *b, double x)
{
	double alpha, diff, incr;

	if (!isfinite(x) || x < 0)
		return;
	alpha = 1.0 / (double)(b->n < ZT_BASELINE_WINDOW ? b->n + 1 : ZT_BASELINE_WINDOW);
	diff = x - b->mean;
	incr = alpha * diff;
	b->mean += incr;
	b->var = (1 - alpha) * (b->var + diff * incr);
	if (b->var < 0)
		b->var = 0;
	b->n++;
}

double zt_baseline_std(const struct zt_baseline *b)
{
	return sqrt(b->var > 0 ? b->var : 0);
}

const struct zt_baseline *zt_detect_baseline(const struct zt_detector *d, const struct zt_detect_params *p,
					     int hour)
{
	if (p->hourly && hour >= 0 && hour < 24 && d->hour[hour].n >= ZT_BASELINE_HOUR_MIN)
		return &d->hour[hour];
	return &d->all;
}

double zt_detect_threshold(const struct zt_baseline *b, const struct zt_detect_params *p)
{
	double interval = p->interval > 0 ? p->interval : 1;
	double floor = sqrt((b->mean + 1) / interval), sd = zt_baseline_std(b);

	return b->mean + p->sensitivity * (sd > floor ? sd : floor);
}

bool zt_detect_learning(const struct zt_detector *d, const struct zt_detect_params *p)
{
	return d->all.n < p->learn;
}

static void learn(struct zt_detector *d, const struct zt_detect_params *p, double x, int hour)
{
	zt_baseline_update(&d->all, x);
	if (p->hourly && hour >= 0 && hour < 24)
		zt_baseline_update(&d->hour[hour], x);
}

enum zt_detect_event zt_detect_sample(struct zt_detector *d, const struct zt_detect_params *p, double x,
				      int hour, uint64_t now)
{
	const struct zt_baseline *b;
	double thr;
	bool over;

	if (!isfinite(x) || x < 0 || x > ZT_ANOMALY_RATE_MAX)
		return ZT_DETECT_NONE;
	d->last = x;
	if (!d->open && zt_detect_learning(d, p)) {
		learn(d, p, x, hour);
		return ZT_DETECT_NONE;
	}
	b = zt_detect_baseline(d, p, hour);
	thr = d->open ? d->threshold : zt_detect_threshold(b, p);
	over = x > thr && x >= p->min_rate;
	if (d->open) {
		d->ep_samples++;
		if (x > d->peak)
			d->peak = x;
		d->under = over ? 0 : d->under + 1;
		if (d->under < p->clear)
			return ZT_DETECT_NONE;
		d->open = false;
		d->under = d->over = 0;
		d->closed = now;
		return ZT_DETECT_CLOSE;
	}
	if (!over) {
		d->over = 0;
		learn(d, p, x, hour);
		return ZT_DETECT_NONE;
	}
	if (!d->over || x > d->peak)
		d->peak = x;
	if (++d->over < p->samples)
		return ZT_DETECT_NONE;
	d->open = true;
	d->over = d->under = 0;
	d->opened = now;
	d->closed = 0;
	d->base_mean = b->mean;
	d->base_std = zt_baseline_std(b);
	d->threshold = thr;
	d->ep_samples = p->samples;
	return ZT_DETECT_OPEN;
}

unsigned zt_anomaly_tier(double x)
{
	unsigned k = 0;

	if (!isfinite(x) || x < 2)
		return 0;
	while (k + 1 < ZT_ANOMALY_TIERS && x >= (double)(1u << (k + 1)))
		k++;
	return k;
}

/* ---- the state file ---- */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > ZT_ANOMALY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static void put_baseline(FILE *f, const char *name, const char *slot, const struct zt_baseline *b)
{
	fprintf(f, "b %s %s %" PRIu64 " %.17g %.17g\n", name, slot, b->n, b->mean, b->var);
}

int zt_anomaly_state_format(const struct zt_anomaly_state *v, size_t n, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	fputs("ztseg-anomaly 1\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct zt_detector *d = &v[i].d;

		if (!name_ok(v[i].name)) {
			fclose(f);
			free(buf);
			return -EINVAL;
		}
		put_baseline(f, v[i].name, "all", &d->all);
		for (int h = 0; h < 24; h++)
			if (d->hour[h].n) {
				char slot[8];

				snprintf(slot, sizeof(slot), "%d", h);
				put_baseline(f, v[i].name, slot, &d->hour[h]);
			}
		if (d->open)
			fprintf(f, "e %s %" PRIu64 " %.17g %.17g %.17g %.17g %" PRIu64 "\n", v[i].name, d->opened,
				d->base_mean, d->base_std, d->threshold, d->peak, d->ep_samples);
		for (size_t k = 0; d->open && k < v[i].n_banned && k < ZT_ANOMALY_BANNED_MAX; k++) {
			char a[INET6_ADDRSTRLEN];

			if (inet_ntop(v[i].banned[k].family, v[i].banned[k].addr, a, sizeof(a)))
				fprintf(f, "s %s %s\n", v[i].name, a);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int bad(char *err, size_t errlen, unsigned line, const char *fmt, ...) _printf_(4, 5);
static int bad(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(err, errlen, "line %u: ", line);

	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* A number as written: finite, 0 .. max, nothing after it. */
static bool num(const char *s, double max, double *ret)
{
	char *end;
	double v;

	/* As %.17g writes it: digits, a point, an exponent; no sign, hex, inf or nan. */
	if (!*s || *s == '+' || *s == '-' || strlen(s) > 32 || strspn(s, "0123456789.e+-") != strlen(s))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > max)
		return false;
	*ret = v;
	return true;
}

static bool u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!*s || *s < '0' || *s > '9' || strlen(s) > 20 || (s[0] == '0' && s[1]))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*ret = v;
	return true;
}

#define FIELDS_MAX 9

/* Split a line (NUL-terminated, no newline) at single spaces; false for empty fields or too many. */
static size_t split(char *s, char *f[FIELDS_MAX + 1])
{
	size_t n = 0;

	for (char *p = s;; p++) {
		if (n > FIELDS_MAX)
			return 0;
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p = '\0';
	}
	for (size_t i = 0; i < n; i++)
		if (!*f[i])
			return 0;
	return n;
}

static struct zt_anomaly_state *series(struct zt_anomaly_state *v, size_t *n, size_t max, const char *name,
				       bool *full)
{
	for (size_t i = 0; i < *n; i++)
		if (streq(v[i].name, name))
			return &v[i];
	if (*n >= max) {
		*full = true;
		return NULL;
	}
	v[*n] = (struct zt_anomaly_state){};
	snprintf(v[*n].name, sizeof(v[*n].name), "%s", name);
	return &v[(*n)++];
}

static int parse_line(char *line, unsigned ln, struct zt_anomaly_state *v, size_t *n, size_t max, char *err,
		      size_t errlen)
{
	char *f[FIELDS_MAX + 1];
	size_t nf = split(line, f);
	struct zt_anomaly_state *s;
	struct zt_baseline *b;
	bool full = false;
	uint64_t slot = 0;

	if (nf < 2 || strlen(f[0]) != 1 || !name_ok(f[1]))
		return bad(err, errlen, ln, "expected a record b or e and a series name");
	if (f[0][0] == 's' && nf == 3) {
		struct zt_anomaly_addr x = {};

		if (!(s = series(v, n, max, f[1], &full)) || !s->d.open)
			return bad(err, errlen, ln, "a banned source of no open episode");
		if (s->n_banned >= ZT_ANOMALY_BANNED_MAX)
			return bad(err, errlen, ln, "more than %d banned sources", ZT_ANOMALY_BANNED_MAX);
		x.family = strchr(f[2], ':') ? AF_INET6 : AF_INET;
		if (inet_pton(x.family, f[2], x.addr) != 1)
			return bad(err, errlen, ln, "not an address");
		s->banned[s->n_banned++] = x;
		return 0;
	}
	if ((f[0][0] == 'b' && nf != 6) || (f[0][0] == 'e' && nf != 8) || (f[0][0] != 'b' && f[0][0] != 'e'))
		return bad(err, errlen, ln, "expected b NAME SLOT N MEAN VAR or e NAME OPENED MEAN STD THRESHOLD PEAK SAMPLES");
	if (!(s = series(v, n, max, f[1], &full)))
		return bad(err, errlen, ln, "more than %zu series", max);
	if (f[0][0] == 'e') {
		struct zt_detector *d = &s->d;

		if (d->open)
			return bad(err, errlen, ln, "series '%s' has two open episodes", f[1]);
		if (!u64(f[2], UINT64_MAX / 2, &d->opened) || !num(f[3], ZT_ANOMALY_RATE_MAX, &d->base_mean) ||
		    !num(f[4], ZT_ANOMALY_RATE_MAX, &d->base_std) || !num(f[5], ZT_ANOMALY_RATE_MAX, &d->threshold) ||
		    !num(f[6], ZT_ANOMALY_RATE_MAX, &d->peak) || !u64(f[7], UINT64_MAX / 2, &d->ep_samples))
			return bad(err, errlen, ln, "an episode's numbers out of range");
		d->open = true;
		return 0;
	}
	if (!streq(f[2], "all") && !u64(f[2], 23, &slot))
		return bad(err, errlen, ln, "slot: expected all or an hour 0 to 23");
	b = streq(f[2], "all") ? &s->d.all : &s->d.hour[slot];
	if (b->n)
		return bad(err, errlen, ln, "series '%s' slot %s given twice", f[1], f[2]);
	if (!u64(f[3], UINT64_MAX / 2, &b->n) || !b->n || !num(f[4], ZT_ANOMALY_RATE_MAX, &b->mean) ||
	    !num(f[5], ZT_ANOMALY_RATE_MAX * ZT_ANOMALY_RATE_MAX, &b->var))
		return bad(err, errlen, ln, "a baseline's numbers out of range");
	return 0;
}

int zt_anomaly_state_parse(const char *buf, size_t len, size_t max, struct zt_anomaly_state **ret,
			   size_t *ret_n, char *err, size_t errlen)
{
	static const char magic[] = "ztseg-anomaly 1\n";
	_cleanup_free_ struct zt_anomaly_state *v = NULL;
	char line[512];
	size_t n = 0, off;
	unsigned ln = 1;
	int r;

	*ret = NULL;
	*ret_n = 0;
	if (len < sizeof(magic) - 1 || memcmp(buf, magic, sizeof(magic) - 1) != 0)
		return bad(err, errlen, 1, "not a ztseg-anomaly 1 file");
	if (max && !(v = calloc(max, sizeof(*v))))
		return -ENOMEM;
	for (off = sizeof(magic) - 1; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l;

		ln++;
		if (!nl)
			return bad(err, errlen, ln, "truncated (no newline at the end)");
		l = (size_t)(nl - (buf + off));
		if (l >= sizeof(line) || memchr(buf + off, '\0', l))
			return bad(err, errlen, ln, "line too long or not text");
		memcpy(line, buf + off, l);
		line[l] = '\0';
		if ((r = parse_line(line, ln, v, &n, max, err, errlen)) < 0)
			return r;
		off += l + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!v[i].d.all.n)
			return bad(err, errlen, ln, "series '%s' has no overall baseline", v[i].name);
	*ret = n ? TAKE_PTR(v) : NULL;
	*ret_n = n;
	return 0;
}
