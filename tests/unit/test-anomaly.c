/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/anomaly.c (baselines, the episode detector, the state
 * file, hostile ones included) and lib/compile-anomaly.c (what a watched
 * flow or zone compiles to).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "anomaly.h"
#include "plan.h"
#include "diag-util.h"

START_TEST(test_baseline_exact_then_ewma)
{
	struct zt_baseline b = {};
	const double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };

	for (size_t i = 0; i < ELEMENTSOF(x); i++)
		zt_baseline_update(&b, x[i]);
	/* The first samples: the exact mean (5) and population variance (4). */
	ck_assert_uint_eq(b.n, 8);
	ck_assert(fabs(b.mean - 5) < 1e-9);
	ck_assert(fabs(b.var - 4) < 1e-9);
	ck_assert(fabs(zt_baseline_std(&b) - 2) < 1e-9);
	/* Not a number, negative: ignored. */
	zt_baseline_update(&b, NAN);
	zt_baseline_update(&b, -1);
	zt_baseline_update(&b, INFINITY);
	ck_assert_uint_eq(b.n, 8);
	/* After the window the weight stays 1/WINDOW: a level shift is followed, slowly. */
	for (int i = 0; i < 10 * ZT_BASELINE_WINDOW; i++)
		zt_baseline_update(&b, 100);
	ck_assert(fabs(b.mean - 100) < 0.01);
	ck_assert(b.var < 1);
	b = (struct zt_baseline){};
	for (int i = 0; i < 2 * ZT_BASELINE_WINDOW; i++)
		zt_baseline_update(&b, 10);
	zt_baseline_update(&b, 20);
	ck_assert(fabs(b.mean - (10 + 10.0 / ZT_BASELINE_WINDOW)) < 1e-9);
}
END_TEST

static const struct zt_detect_params P = { .sensitivity = 4, .min_rate = 5, .samples = 2, .clear = 3, .learn = 20,
					   .interval = 1 };

/* A steady series around 10/s (deterministic jitter 8..12). */
static void train(struct zt_detector *d, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(zt_detect_sample(d, &P, 8 + (i * 7) % 5, -1, (uint64_t)i), ZT_DETECT_NONE);
}

START_TEST(test_detector_episode)
{
	struct zt_detector d = {};
	uint64_t n;

	ck_assert(zt_detect_learning(&d, &P));
	/* While learning, even a surge is learned, never an episode. */
	ck_assert_int_eq(zt_detect_sample(&d, &P, 500, -1, 0), ZT_DETECT_NONE);
	d = (struct zt_detector){};
	train(&d, 40);
	ck_assert(!zt_detect_learning(&d, &P));
	n = d.all.n;
	/* 20x: the first over sample is pending, the second opens. */
	ck_assert_int_eq(zt_detect_sample(&d, &P, 200, -1, 100), ZT_DETECT_NONE);
	ck_assert(!d.open);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 210, -1, 101), ZT_DETECT_OPEN);
	ck_assert(d.open);
	ck_assert_uint_eq(d.opened, 101);
	ck_assert(d.base_mean > 8 && d.base_mean < 12);
	ck_assert(fabs(d.peak - 210) < 1e-9);
	/* The surge was not learned. */
	ck_assert_uint_eq(d.all.n, n);
	/* Back to normal: closes after clear (3) samples under, not before; a relapse restarts the count. */
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 102), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 103), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 300, -1, 104), ZT_DETECT_NONE);
	ck_assert(fabs(d.peak - 300) < 1e-9);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 105), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 106), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 107), ZT_DETECT_CLOSE);
	ck_assert(!d.open);
	ck_assert_uint_eq(d.closed, 107);
	ck_assert_uint_eq(d.all.n, n);
	/* One over sample alone (samples: 2) opens nothing; it is not learned either. */
	ck_assert_int_eq(zt_detect_sample(&d, &P, 200, -1, 108), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 10, -1, 109), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &P, 200, -1, 110), ZT_DETECT_NONE);
	ck_assert(!d.open);
	ck_assert_uint_eq(d.all.n, n + 1);
}
END_TEST

START_TEST(test_detector_min_rate_and_floor)
{
	struct zt_detector d = {};
	struct zt_detect_params p = P;

	/* An idle series (0/s, no variance): its first connections are under min-rate and the floor. */
	for (int i = 0; i < 30; i++)
		zt_detect_sample(&d, &p, 0, -1, (uint64_t)i);
	ck_assert(fabs(zt_detect_threshold(&d.all, &p) - 4) < 1e-9);	/* 0 + 4 * sqrt(1 / 1) */
	ck_assert_int_eq(zt_detect_sample(&d, &p, 4.5, -1, 40), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 4.5, -1, 41), ZT_DETECT_NONE);
	ck_assert(!d.open);
	/* Over the threshold and the minimum: opens. */
	ck_assert_int_eq(zt_detect_sample(&d, &p, 6, -1, 42), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 6, -1, 43), ZT_DETECT_OPEN);
	/* Hostile samples change nothing. */
	ck_assert_int_eq(zt_detect_sample(&d, &p, NAN, -1, 44), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, -5, -1, 45), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 1e300, -1, 46), ZT_DETECT_NONE);
	ck_assert(d.open);
}
END_TEST

START_TEST(test_detector_hourly)
{
	struct zt_detector d = {};
	struct zt_detect_params p = P;

	p.hourly = true;
	/* Busy at hour 9 (100/s), quiet at hour 3 (10/s). */
	for (int i = 0; i < 2 * ZT_BASELINE_HOUR_MIN; i++) {
		zt_detect_sample(&d, &p, 100 + i % 3, 9, (uint64_t)i);
		zt_detect_sample(&d, &p, 10 + i % 3, 3, (uint64_t)i);
	}
	ck_assert(zt_detect_baseline(&d, &p, 9) == &d.hour[9]);
	ck_assert(zt_detect_baseline(&d, &p, 3) == &d.hour[3]);
	ck_assert(zt_detect_baseline(&d, &p, 5) == &d.all);	/* no samples at 5 yet */
	/* 100/s is normal at 9, an anomaly at 3 (the overall baseline alone would not see it). */
	ck_assert_int_eq(zt_detect_sample(&d, &p, 100, 9, 1000), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 100, 9, 1001), ZT_DETECT_NONE);
	ck_assert(!d.open);
	ck_assert(zt_detect_threshold(&d.all, &p) > 100);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 100, 3, 1002), ZT_DETECT_NONE);
	ck_assert_int_eq(zt_detect_sample(&d, &p, 100, 3, 1003), ZT_DETECT_OPEN);
}
END_TEST

START_TEST(test_tier)
{
	ck_assert_uint_eq(zt_anomaly_tier(0), 0);
	ck_assert_uint_eq(zt_anomaly_tier(NAN), 0);
	ck_assert_uint_eq(zt_anomaly_tier(1.9), 0);
	ck_assert_uint_eq(zt_anomaly_tier(2), 1);
	ck_assert_uint_eq(zt_anomaly_tier(20), 4);	/* 16 <= 20 < 32 */
	ck_assert_uint_eq(zt_anomaly_tier(65536), 16);
	ck_assert_uint_eq(zt_anomaly_tier(1e12), ZT_ANOMALY_TIERS - 1);
}
END_TEST

START_TEST(test_state_roundtrip)
{
	struct zt_anomaly_state v[2] = {};
	_cleanup_free_ struct zt_anomaly_state *back = NULL;
	_cleanup_free_ char *buf = NULL;
	char err[128];
	size_t len = 0, n = 0;

	snprintf(v[0].name, sizeof(v[0].name), "web-in");
	snprintf(v[1].name, sizeof(v[1].name), "db-in");
	for (int i = 0; i < 50; i++) {
		zt_detect_sample(&v[0].d, &P, 8 + i % 5, 7, (uint64_t)i);
		zt_baseline_update(&v[0].d.hour[7], 0.1 * i);
		zt_detect_sample(&v[1].d, &P, 20 + i % 3, -1, (uint64_t)i);
	}
	zt_detect_sample(&v[1].d, &P, 400, -1, 1000);
	ck_assert_int_eq(zt_detect_sample(&v[1].d, &P, 400, -1, 1001), ZT_DETECT_OPEN);
	v[1].n_banned = 2;
	v[1].banned[0] = (struct zt_anomaly_addr){ .family = AF_INET, .addr = { 203, 0, 113, 21 } };
	v[1].banned[1] = (struct zt_anomaly_addr){ .family = AF_INET6, .addr = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	ck_assert_int_eq(zt_anomaly_state_format(v, 2, &buf, &len), 0);
	ck_assert_int_eq(zt_anomaly_state_parse(buf, len, 16, &back, &n, err, sizeof(err)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(back[0].name, "web-in");
	ck_assert_uint_eq(back[0].d.all.n, v[0].d.all.n);
	ck_assert(back[0].d.all.mean == v[0].d.all.mean);	/* %.17g: exact */
	ck_assert(back[0].d.all.var == v[0].d.all.var);
	ck_assert(back[0].d.hour[7].mean == v[0].d.hour[7].mean);
	ck_assert(!back[0].d.open);
	ck_assert(back[1].d.open);
	ck_assert_uint_eq(back[1].d.opened, 1001);
	ck_assert(back[1].d.threshold == v[1].d.threshold);
	ck_assert(back[1].d.peak == 400);
	ck_assert_uint_eq(back[1].n_banned, 2);
	ck_assert(!memcmp(&back[1].banned[0], &v[1].banned[0], sizeof(v[1].banned[0])));
	ck_assert(!memcmp(&back[1].banned[1], &v[1].banned[1], sizeof(v[1].banned[1])));
	/* A name that cannot be written is refused, not written broken. */
	free(buf);
	buf = NULL;
	snprintf(v[0].name, sizeof(v[0].name), "web in");
	ck_assert_int_eq(zt_anomaly_state_format(v, 1, &buf, &len), -EINVAL);
}
END_TEST

static const struct {
	const char *text, *err;
} hostile[] = {
	{ "", "not a ztseg-anomaly 1 file" },
	{ "ztseg-anomaly 2\n", "not a ztseg-anomaly 1 file" },
	{ "ztseg-anomaly 1\nb web all 3 1.5 0.25", "truncated" },
	{ "ztseg-anomaly 1\nb web all 3 1.5 0.25\nb db al", "truncated" },
	{ "ztseg-anomaly 1\n\x01\x02garbage\xff\n", "expected a record" },
	{ "ztseg-anomaly 1\nx web all 3 1.5 0.25\n", "expected b NAME" },
	{ "ztseg-anomaly 1\nb web all 3 1.5\n", "expected b NAME" },
	{ "ztseg-anomaly 1\nb web all 3 1.5 0.25 7\n", "expected b NAME" },
	{ "ztseg-anomaly 1\nb  web all 3 1.5 0.25\n", "expected a record" },
	{ "ztseg-anomaly 1\nb web all 99999999999999999999999 1 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 0 1 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 nan 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 inf 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 -1 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 1e300 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 0x10 1\n", "out of range" },
	{ "ztseg-anomaly 1\nb web all 3 1 1\nb web all 3 1 1\n", "given twice" },
	{ "ztseg-anomaly 1\nb web 24 3 1 1\nb web all 3 1 1\n", "slot" },
	{ "ztseg-anomaly 1\nb web 7 3 1 1\n", "no overall baseline" },
	{ "ztseg-anomaly 1\nb web all 3 1 1\ne web 5 1 1 2 9 2\ne web 5 1 1 2 9 2\n", "two open episodes" },
	{ "ztseg-anomaly 1\nb web all 3 1 1\ns web 203.0.113.1\n", "no open episode" },
	{ "ztseg-anomaly 1\nb web all 3 1 1\ne web 5 1 1 2 9 2\ns web 203.0.113.300\n", "not an address" },
	{ "ztseg-anomaly 1\nb a all 1 1 1\nb b all 1 1 1\nb c all 1 1 1\nb d all 1 1 1\nb e all 1 1 1\n",
	  "more than 4 series" },
	/* a name of 105 bytes (104 is the most: to: and a subnet's segment.subnet) */
	{ "ztseg-anomaly 1\nb to:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  " all 1 1 1\n", "expected a record" },
};

START_TEST(test_state_hostile)
{
	_cleanup_free_ struct zt_anomaly_state *v = (struct zt_anomaly_state *)1;
	char err[160] = "";
	size_t n = 7;

	v = NULL;
	ck_assert_int_eq(zt_anomaly_state_parse(hostile[_i].text, strlen(hostile[_i].text), 4, &v, &n, err, sizeof(err)),
			 -EBADMSG);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	if (!strstr(err, hostile[_i].err))
		ck_abort_msg("case %d: '%s' does not say '%s'", _i, err, hostile[_i].err);
}
END_TEST

/* A huge file (many lines, one too long, a NUL inside): refused, nothing leaks (ASan, valgrind). */
START_TEST(test_state_huge)
{
	size_t len = 1 << 20, off;
	_cleanup_free_ char *buf = malloc(len);
	_cleanup_free_ struct zt_anomaly_state *v = NULL;
	char err[160];
	size_t n;

	ck_assert_ptr_nonnull(buf);
	off = (size_t)sprintf(buf, "ztseg-anomaly 1\n");
	while (off + 40 < len)
		off += (size_t)sprintf(buf + off, "b s%07zu all 1 1 1\n", off);
	ck_assert_int_eq(zt_anomaly_state_parse(buf, off, 1024, &v, &n, err, sizeof(err)), -EBADMSG);
	ck_assert(strstr(err, "more than 1024 series"));
	memset(buf + 16, 'b', len - 16);
	ck_assert_int_eq(zt_anomaly_state_parse(buf, len, 1024, &v, &n, err, sizeof(err)), -EBADMSG);
	ck_assert(strstr(err, "truncated") || strstr(err, "too long"));
	memcpy(buf + 16, "b web all 1 1\0 1\n", 18);
	ck_assert_int_eq(zt_anomaly_state_parse(buf, 34, 1024, &v, &n, err, sizeof(err)), -EBADMSG);
	ck_assert(strstr(err, "not text"));
}
END_TEST

/* Every prefix of a good file: a parse error or (at a line's end) a shorter good state; never a crash. */
START_TEST(test_state_truncated)
{
	const char *good = "ztseg-anomaly 1\nb web all 30 10.5 2.25\nb web 7 12 9 1\ne web 100 10 1.5 16 200 4\n"
			   "s web 203.0.113.9\n";
	size_t len = strlen(good);

	for (size_t k = 0; k <= len; k++) {
		_cleanup_free_ char *b = malloc(k ? k : 1);
		_cleanup_free_ struct zt_anomaly_state *v = NULL;
		char err[160];
		size_t n;
		int r;

		memcpy(b, good, k);
		r = zt_anomaly_state_parse(b, k, 4, &v, &n, err, sizeof(err));
		ck_assert(r == 0 || r == -EBADMSG);
		if (k == len) {
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(n, 1);
			ck_assert(v[0].d.open);
			ck_assert_uint_eq(v[0].n_banned, 1);
		}
		if (r == 0)
			ck_assert(k >= 16 && good[k - 1] == '\n');
	}
}
END_TEST

static struct zt_plan *compile(const char *hub)
{
	struct zt_source src[] = { { ZT_HUB_FILE, hub, strlen(hub) } };
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	struct zt_plan *pl = NULL;
	int r = zt_policy_load_sources(src, 1, NULL, &p, &d);

	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	r = zt_compile(p, NULL, &pl, &d);
	if (r)
		diags_dump(&d);
	ck_assert_int_eq(r, 0);
	zt_policy_free(p);
	zt_diags_clear(&d);
	return pl;
}

static const char pol[] =
	"version: 1\nhub:\n  boundaries:\n    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"
	"  flows:\n    - { name: web-in, from: [onprem, world], to: web, ports: [tcp/80] }\n"
	"    - { name: db-in, from: onprem, to: db, ports: [tcp/5432] }\n"
	"    - { name: other, from: onprem, to: db, ports: [tcp/22] }\n"
	"segments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
	"  db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n"
	"threats:\n  except: [203.0.113.200]\n  anomaly:\n"
	"    - { flow: web-in, mitigate: rate-limit }\n"
	"    - { flow: db-in, mitigate: ban-top-sources }\n";

START_TEST(test_compile)
{
	struct zt_plan *pl = compile(pol);
	const struct zt_set *anom = zt_plan_find_set(pl, "anom");
	const struct zt_plan_anomaly *w, *db;
	char name[64];

	ck_assert_uint_eq(pl->n_anomaly, 2);
	w = &pl->anomaly[0];
	db = &pl->anomaly[1];
	ck_assert_str_eq(w->flow, "web-in");
	/* web-in from onprem and world: two instances, both marks watched; other is not. */
	ck_assert_uint_eq(w->n_marks, 2);
	ck_assert_uint_eq(db->n_marks, 1);
	ck_assert_ptr_nonnull(anom);
	ck_assert_uint_eq(anom->n_elems, 3);
	ck_assert(!anom->dynamic);
	/* rate-limit: a dynamic tier map and every tier chain; no ban sets. */
	ck_assert(w->tiers[0] && !w->ban4[0]);
	ck_assert(zt_plan_find_set(pl, w->tiers)->dynamic);
	for (unsigned k = 0; k < ZT_ANOMALY_TIERS; k++) {
		snprintf(name, sizeof(name), "ar_%08x_%u", w->id, k);
		ck_assert_ptr_nonnull(zt_plan_find_chain(pl, name));
	}
	/* ban-top-sources: dynamic ban sets with timeouts, no tiers. */
	ck_assert(!db->tiers[0] && db->ban4[0] && db->ban6[0]);
	ck_assert(zt_plan_find_set(pl, db->ban4)->dynamic && zt_plan_find_set(pl, db->ban4)->timeout);
	/* Each an_ chain counts first, then leaves threats.except alone. */
	snprintf(name, sizeof(name), "an_%08x", db->id);
	{
		const struct zt_chain *ch = zt_plan_find_chain(pl, name);

		ck_assert_ptr_nonnull(ch);
		ck_assert_int_eq(ch->rules[0].stmt[0].kind, ZT_S_COUNTER_NAMED);
		ck_assert_str_eq(ch->rules[0].stmt[0].counter, db->counter);
		ck_assert_str_eq(ch->rules[1].match[0].set, "fx4");
	}
	zt_plan_free(pl);
}
END_TEST

/*
 * series: bytes: map abyt (each of the flow's marks to its ay_<id>) and one
 * rule on the established path of forward, input and output, before the
 * fcnt accept; absent when no entry asks for bytes.
 */
static size_t abyt_rules(const struct zt_plan *pl, bool before_fcnt)
{
	size_t n = 0;

	for (size_t i = 0; i < pl->n_chains; i++) {
		const struct zt_chain *ch = &pl->chains[i];
		size_t at = SIZE_MAX, fcnt = SIZE_MAX;

		for (size_t j = 0; j < ch->n_rules; j++)
			for (size_t k = 0; k < ch->rules[j].n_stmt; k++) {
				const struct zt_stmt *st = &ch->rules[j].stmt[k];

				if (st->kind == ZT_S_COUNTER_MAP && streq(st->set, "abyt"))
					at = j, n++;
				if (st->kind == ZT_S_COUNTER_MAP && streq(st->set, "fcnt") && fcnt == SIZE_MAX)
					fcnt = j;
			}
		if (before_fcnt && at != SIZE_MAX) {
			ck_assert_uint_lt(at, fcnt);
			ck_assert_uint_eq(at + 1, fcnt);
			/* no verdict: a miss (or a hit) goes on to fcnt's rule */
			ck_assert_int_eq(ch->rules[at].stmt[ch->rules[at].n_stmt - 1].kind, ZT_S_COUNTER_MAP);
		}
	}
	return n;
}

static const char pol_bytes[] =
	"version: 1\nhub:\n  boundaries:\n    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"
	"  flows:\n    - { name: web-in, from: [onprem, world], to: web, ports: [tcp/80] }\n"
	"    - { name: db-in, from: onprem, to: db, ports: [tcp/5432] }\n"
	"segments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
	"  db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n"
	"threats:\n  anomaly:\n"
	"    - { flow: web-in, series: bytes, mitigate: ban-top-sources }\n"
	"    - { flow: db-in, series: connections }\n";

START_TEST(test_compile_bytes)
{
	struct zt_plan *pl = compile(pol_bytes), *plc = compile(pol);
	const struct zt_set *abyt = zt_plan_find_set(pl, "abyt");
	const struct zt_plan_anomaly *w = &pl->anomaly[0], *db = &pl->anomaly[1];
	bool have = false;

	ck_assert(w->bytes && !db->bytes);
	ck_assert(w->bcounter[0] && !db->bcounter[0]);
	ck_assert_ptr_nonnull(abyt);
	ck_assert_int_eq(abyt->data, ZT_TYPE_COUNTER);
	ck_assert(!abyt->dynamic);
	/* web-in's two marks, db-in's none */
	ck_assert_uint_eq(abyt->n_elems, 2);
	for (size_t i = 0; i < abyt->n_elems; i++) {
		ck_assert_str_eq(zt_set_elem(abyt, i)->data.counter, w->bcounter);
		ck_assert(zt_set_elem(abyt, i)->key[0].u32 == w->marks[0] || zt_set_elem(abyt, i)->key[0].u32 == w->marks[1]);
	}
	for (size_t i = 0; i < pl->n_counters; i++)
		have |= streq(pl->counters[i].name, w->bcounter);
	ck_assert(have);
	/* one rule in forward (no protect-host: no input/output chains), right before the fcnt accept */
	ck_assert_uint_eq(abyt_rules(pl, true), 1);
	/* the ban sets of ban-top-sources are there for a bytes series too */
	ck_assert(w->ban4[0] && w->ban6[0]);
	/* a bytes series is another meaning: not the id of the same entry counting connections */
	ck_assert_uint_ne(w->id, plc->anomaly[0].id);
	/* no entry asks for bytes: no map, no rule, no ay_ counter */
	ck_assert_ptr_null(zt_plan_find_set(plc, "abyt"));
	ck_assert_uint_eq(abyt_rules(plc, false), 0);
	for (size_t i = 0; i < plc->n_counters; i++)
		ck_assert(strncmp(plc->counters[i].name, "ay_", 3));
	zt_plan_free(pl);
	zt_plan_free(plc);
}
END_TEST

/* A zone's series: every hub flow instance into it (several flows, several sources), in anomz. */
static const char pol_zone[] =
	"version: 1\nhub:\n  boundaries:\n    onprem: { interfaces: [\"wg0\"], addresses: [203.0.113.0/24] }\n"
	"  flows:\n    - { name: web-in, from: [onprem, world], to: web, ports: [tcp/80] }\n"
	"    - { name: db-in, from: onprem, to: db, ports: [tcp/5432] }\n"
	"    - { name: other, from: onprem, to: db, ports: [tcp/22] }\n"
	"    - { name: both, from: web, to: [db, app], ports: [tcp/9100] }\n"
	"segments:\n  web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
	"  db: { interfaces: [\"vdb*\"], addresses: [198.51.100.64/26] }\n"
	"  app: { interfaces: [\"vapp*\"], addresses: [198.51.100.128/26] }\n"
	"threats:\n  anomaly:\n"
	"    - { to: db, sensitivity: 4, mitigate: rate-limit }\n"
	"    - { flow: db-in, mitigate: ban-top-sources }\n"
	"    - { to: web, mitigate: alert }\n"
	"    - { to: app, mitigate: ban-top-sources, top: 2 }\n";

START_TEST(test_compile_zone)
{
	struct zt_plan *pl = compile(pol_zone);
	const struct zt_set *anom = zt_plan_find_set(pl, "anom"), *anomz = zt_plan_find_set(pl, "anomz");
	const struct zt_plan_anomaly *z, *f, *w, *a;
	bool shared = false;

	ck_assert_uint_eq(pl->n_anomaly, 4);
	a = &pl->anomaly[3];
	z = &pl->anomaly[0];
	f = &pl->anomaly[1];
	w = &pl->anomaly[2];
	ck_assert_str_eq(z->flow, "to:db");
	ck_assert_str_eq(w->flow, "to:web");
	/* Into db: db-in, other and both's instance to db (not both's to app); web: web-in's two. */
	ck_assert_uint_eq(z->n_marks, 3);
	ck_assert_uint_eq(w->n_marks, 2);
	ck_assert_uint_eq(f->n_marks, 1);
	ck_assert_ptr_nonnull(anom);
	ck_assert_ptr_nonnull(anomz);
	ck_assert_uint_eq(anom->n_elems, 1);
	ck_assert_uint_eq(anomz->n_elems, 6);
	/* ban-top-sources into app: both's one instance there, ban sets of its own, no tiers. */
	ck_assert_str_eq(a->flow, "to:app");
	ck_assert_uint_eq(a->n_marks, 1);
	ck_assert(!a->tiers[0] && a->ban4[0] && a->ban6[0]);
	ck_assert(zt_plan_find_set(pl, a->ban4)->dynamic && zt_plan_find_set(pl, a->ban4)->timeout);
	/* db-in's mark is in both series: the flow's (anom) and the zone's (anomz). */
	for (size_t i = 0; i < z->n_marks; i++)
		shared |= z->marks[i] == f->marks[0];
	ck_assert(shared);
	ck_assert(z->tiers[0] && !z->ban4[0]);
	ck_assert(!w->tiers[0] && !w->ban4[0]);
	ck_assert_uint_ne(z->id, w->id);
	zt_plan_free(pl);
}
END_TEST

static Suite *anomaly_suite(void)
{
	Suite *s = suite_create("anomaly");
	TCase *tc = tcase_create("anomaly");

	tcase_add_test(tc, test_baseline_exact_then_ewma);
	tcase_add_test(tc, test_detector_episode);
	tcase_add_test(tc, test_detector_min_rate_and_floor);
	tcase_add_test(tc, test_detector_hourly);
	tcase_add_test(tc, test_tier);
	tcase_add_test(tc, test_state_roundtrip);
	tcase_add_loop_test(tc, test_state_hostile, 0, ELEMENTSOF(hostile));
	tcase_add_test(tc, test_state_huge);
	tcase_add_test(tc, test_state_truncated);
	tcase_add_test(tc, test_compile);
	tcase_add_test(tc, test_compile_zone);
	tcase_add_test(tc, test_compile_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(anomaly_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
