/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Learned baselines (threats.anomaly): every second the daemon looks at
 * which watched flows are due a sample, reads the named counters once
 * (ac_<id>: the flow's new connections, counted before any mitigation),
 * and feeds each flow's rate to its detector (lib/anomaly.c). An episode
 * that opens is journalled with the series, its baseline, the observed
 * rate and the top sources (one conntrack dump of the flow's marks: the
 * connections that are new since the series first went over, so that a
 * steady source's closed connections do not outrank the surge), and
 * mitigated: rate-limit puts the flow's marks into at_<id> towards the
 * rate tier nearest under `limit` x the baseline, ban-top-sources puts
 * the top sources (that completed a connection: not spoofed) into
 * ab4/ab6_<id> with a timeout and cuts their connections. When it closes
 * the daemon takes that away again. Baselines and open episodes are kept
 * in STATE/anomaly (read with distrust at start: a bad file is logged and
 * set aside, the baselines start afresh); an episode open at a restart is
 * resumed, its mitigation put back. Its bans are shown and lifted where
 * flood bans are (ztsegctl bans, unban, explain --live; ztsegd-bans.c
 * asks here), and explain --live names an open episode's rate limit.
 */
#include <inttypes.h>
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include "anomaly.h"
#include "ban.h"
#include "conntrack.h"
#include "explain.h"
#include "grant.h"
#include "nfmon.h"
#include "nft.h"
#include "statefile.h"
#include "ztsegd.h"

#define ANOMALY_FILE "anomaly"
#define ANOMALY_FILE_MAX (4u << 20)
#define ANOMALY_SERIES_MAX 1024
#define TICK_USEC (1 * ZT_USEC_PER_SEC)
#define CLOSED_MAX 32
#define TOP_MAX 8
#define SOURCES_MAX 4096
#define ONSET_IDS_MAX (1u << 18)	/* conntrack ids kept from a series' first sample over */
#define SAVE_EVERY_USEC (60 * ZT_USEC_PER_SEC)

struct src_count {
	uint8_t family, addr[16];
	uint64_t conns, completed;
};

struct episode {
	char flow[ZT_ANOMALY_NAME_MAX + 1];
	uint64_t opened, closed;	/* realtime seconds; closed 0: open */
	double base_mean, base_std, threshold, peak;
	uint64_t samples;
	uint64_t opened_sample;		/* the series' sample count (taken) at the opening sample */
	char action[160];		/* what the daemon did */
	char top[256];			/* "203.0.113.10 (120), …" */
	bool resumed;
};

struct series {
	struct zt_anomaly_state st;
	bool in_plan;
	size_t pa;			/* index into plan->anomaly while in_plan */
	uint64_t last_pkts, last_usec, next_usec;
	uint64_t taken;			/* samples taken since the daemon started */
	bool have_last;
	struct episode ep;		/* the open one, when st.d.open */
	struct src_count banned[TOP_MAX * 4];	/* ban-top-sources: what this episode banned */
	size_t n_banned;
	uint64_t banned_rt;		/* realtime seconds the bans were (last) put into the kernel */
	unsigned tier;			/* rate-limit: the tier in at_<id> */
	bool mitigated;
	/* The flow's conntrack ids when the series first went over (sorted; NULL: none taken). */
	uint32_t *onset_ids;
	size_t n_onset;
};

struct anomaly {
	struct series *v;
	size_t n;
	struct episode closed[CLOSED_MAX];	/* a ring: the last ones that closed */
	size_t n_closed, closed_next;
	uint64_t samples, opened, cpu_usec, saved_usec;
	uint64_t gen;			/* the policy generation series[].pa index into (synced) */
	bool synced, dirty;
};

static struct anomaly *A(struct manager *m)
{
	return m->anomaly;
}

/* The plan changed under us (a path that did not call the sync): sync now, before any index is used. */
static void ensure_synced(struct manager *m)
{
	if (m->anomaly && (!m->anomaly->synced || m->anomaly->gen != m->generation))
		manager_anomaly_sync(m);
}

static const struct zt_anomaly *entry_of(struct manager *m, const struct series *s)
{
	return &m->cur.policy->threats.anomaly[m->cur.plan->anomaly[s->pa].entry];
}

static struct zt_detect_params params_of(const struct zt_anomaly *a)
{
	return (struct zt_detect_params){ .sensitivity = a->sensitivity, .min_rate = (double)a->min_rate / a->min_unit,
					  .samples = a->samples, .clear = a->clear,
					  .learn = (a->learn_sec + a->interval_sec - 1) / a->interval_sec,
					  .interval = a->interval_sec, .hourly = a->hourly };
}

/* ---- the state file ---- */

static void state_save(struct manager *m)
{
	struct anomaly *an = A(m);
	_cleanup_free_ struct zt_anomaly_state *v = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if (!an || !an->n)
		return;
	if (!(v = calloc(an->n, sizeof(*v))))
		return;
	for (size_t i = 0; i < an->n; i++) {
		const struct series *s = &an->v[i];

		v[i] = s->st;
		v[i].n_banned = 0;
		for (size_t k = 0; k < s->n_banned && k < ZT_ANOMALY_BANNED_MAX; k++) {
			v[i].banned[k].family = s->banned[k].family;
			memcpy(v[i].banned[k].addr, s->banned[k].addr, 16);
			v[i].n_banned++;
		}
	}
	r = zt_anomaly_state_format(v, an->n, &buf, &len);
	if (r >= 0)
		r = zt_write_atomic(m->state_dir, ANOMALY_FILE, buf, len);
	if (r < 0)
		log_warning("cannot save the anomaly baselines: %s", strerror(-r));
	an->saved_usec = now_usec(CLOCK_MONOTONIC);
	an->dirty = false;
}

static void state_load(struct manager *m)
{
	struct anomaly *an = A(m);
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ struct zt_anomaly_state *v = NULL;
	const char *why = NULL;
	char err[160] = "";
	size_t len = 0, n = 0;
	int r;

	r = zt_state_read(m->state_dir, ANOMALY_FILE, ANOMALY_FILE_MAX, getuid(), &buf, &len, &why);
	if (r == -ENOENT)
		return;
	if (r >= 0)
		r = zt_anomaly_state_parse(buf, len, ANOMALY_SERIES_MAX, &v, &n, err, sizeof(err));
	if (r < 0) {
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=anomaly-state-bad" }, 1,
			   "the anomaly baselines in %s/%s are not usable (%s): learning afresh", m->state_dir,
			   ANOMALY_FILE, err[0] ? err : why ? why : strerror(-r));
		return;
	}
	if (n && !(an->v = calloc(n, sizeof(*an->v))))
		return;
	for (size_t i = 0; i < n; i++) {
		struct series *s = &an->v[an->n++];

		s->st = v[i];
		if (s->st.d.open) {
			snprintf(s->ep.flow, sizeof(s->ep.flow), "%s", s->st.name);
			s->ep.opened = s->st.d.opened;
			s->ep.base_mean = s->st.d.base_mean;
			s->ep.base_std = s->st.d.base_std;
			s->ep.threshold = s->st.d.threshold;
			s->ep.peak = s->st.d.peak;
			s->ep.samples = s->st.d.ep_samples;
			s->ep.resumed = true;
			for (size_t k = 0; k < v[i].n_banned && s->n_banned < ELEMENTSOF(s->banned); k++) {
				s->banned[s->n_banned] = (struct src_count){ .family = v[i].banned[k].family, .completed = 1 };
				memcpy(s->banned[s->n_banned++].addr, v[i].banned[k].addr, 16);
			}
			snprintf(s->ep.action, sizeof(s->ep.action), "resumed after a restart");
		}
	}
	log_info("anomaly baselines: %zu series read from %s/%s", n, m->state_dir, ANOMALY_FILE);
}

/* ---- top sources ---- */

struct top_ctx {
	const uint32_t *marks;
	size_t n_marks;
	const uint32_t *skip;		/* conntrack ids not counted (sorted) */
	size_t n_skip;
	struct src_count *v;
	size_t n, dropped;
};

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static bool flow_conn(const struct top_ctx *t, const struct zt_ct_seen *c)
{
	return (c->has_addrs & 1) && bsearch(&c->mark, t->marks, t->n_marks, sizeof(*t->marks), u32_cmp);
}

static int top_cb(const struct zt_ct_seen *c, void *data)
{
	struct top_ctx *t = data;
	size_t i;

	if (!flow_conn(t, c) || (t->n_skip && bsearch(&c->id, t->skip, t->n_skip, sizeof(*t->skip), u32_cmp)))
		return 0;
	for (i = 0; i < t->n; i++)
		if (t->v[i].family == c->family && !memcmp(t->v[i].addr, c->saddr, 16))
			break;
	if (i == t->n) {
		if (t->n == SOURCES_MAX) {
			t->dropped++;
			return 0;
		}
		t->v[t->n++] = (struct src_count){ .family = c->family };
		memcpy(t->v[i].addr, c->saddr, 16);
	}
	t->v[i].conns++;
	t->v[i].completed += zt_ct_seen_completed(c);
	return 0;
}

static int count_cmp(const void *x, const void *y)
{
	const struct src_count *a = x, *b = y;

	return a->conns != b->conns ? (a->conns > b->conns ? -1 : 1) : memcmp(a->addr, b->addr, 16);
}

static const char *addr_fmt(const struct src_count *c, char *buf, size_t len)
{
	if (!inet_ntop(c->family, c->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

/*
 * The flow's connections by source, most first, but those whose ids are
 * in skip (sorted): *ret allocated (n), or an error.
 */
static int top_sources(const struct zt_plan_anomaly *pa, const uint32_t *skip, size_t n_skip,
		       struct src_count **ret, size_t *n)
{
	struct top_ctx t = { .marks = pa->marks, .n_marks = pa->n_marks, .skip = skip, .n_skip = n_skip };
	int r;

	*ret = NULL;
	*n = 0;
	if (!(t.v = calloc(SOURCES_MAX, sizeof(*t.v))))
		return -ENOMEM;
	r = zt_ct_dump_marked(0x80000000u, 0x80000000u, top_cb, &t);
	if (r < 0) {
		free(t.v);
		return r;
	}
	qsort(t.v, t.n, sizeof(*t.v), count_cmp);
	*ret = t.v;
	*n = t.n;
	return 0;
}

struct onset_ctx {
	struct top_ctx t;
	uint32_t *ids;
	size_t n;
};

static int onset_cb(const struct zt_ct_seen *c, void *data)
{
	struct onset_ctx *o = data;

	if (!flow_conn(&o->t, c))
		return 0;
	if (o->n == ONSET_IDS_MAX)
		return -E2BIG;
	o->ids[o->n++] = c->id;
	return 0;
}

static void onset_drop(struct series *s)
{
	free(s->onset_ids);
	s->onset_ids = NULL;
	s->n_onset = 0;
}

/*
 * The series' first sample over the threshold: the ids of the flow's
 * connections now, so that the top sources at the opening count only the
 * connections made since (a steady source's connections linger in
 * conntrack, TCP's for TIME_WAIT's 120 s, and would outnumber a surge's
 * first seconds). Without them (too many, an error) every connection counts.
 */
static void onset_take(const struct zt_plan_anomaly *pa, struct series *s)
{
	struct onset_ctx o = { .t = { .marks = pa->marks, .n_marks = pa->n_marks } };

	onset_drop(s);
	if (!(o.ids = malloc(ONSET_IDS_MAX * sizeof(*o.ids))))
		return;
	if (zt_ct_dump_marked(0x80000000u, 0x80000000u, onset_cb, &o) < 0) {
		free(o.ids);
		return;
	}
	qsort(o.ids, o.n, sizeof(*o.ids), u32_cmp);
	s->onset_ids = reallocarray(o.ids, o.n ? o.n : 1, sizeof(*o.ids)) ?: o.ids;
	s->n_onset = o.n;
}

/* A source that may be banned: it completed a connection (not spoofed), is no except prefix, no link-local. */
static bool bannable(const struct zt_policy *p, const struct src_count *c)
{
	static const uint8_t ll6[2] = { 0xfe, 0x80 };

	if (!c->completed)
		return false;
	if (c->family == AF_INET6 && (!memcmp(c->addr, ll6, 2) || !memcmp(c->addr, (uint8_t[16]){}, 16)))
		return false;
	if (c->family == AF_INET && (c->addr[0] == 0 || (c->addr[0] == 169 && c->addr[1] == 254)))
		return false;
	for (size_t i = 0; i < p->threats.n_except; i++)
		if (zt_cidr_contains_addr(&p->threats.except[i], c->family, c->addr))
			return false;
	return true;
}

/* ---- mitigation: the kernel ---- */

static int commit(struct manager *m, struct zt_batch *b)
{
	struct zt_diags d = {};
	int err = 0, r = zt_nft_batch_commit(m->nft, b, &err, &d);

	if (r < 0 && d.n)
		log_warning("anomaly mitigation: %s", d.v[0].msg);
	zt_diags_clear(&d);
	return r < 0 ? (err ? -err : r) : 0;
}

static int tier_set(struct manager *m, const struct zt_plan_anomaly *pa, unsigned k)
{
	_cleanup_free_ struct zt_elem *el = calloc(pa->n_marks ? pa->n_marks : 1, sizeof(*el));
	struct zt_batch *b = NULL;
	char chain[ZT_OBJ_NAME_MAX];
	int r;

	if (!el)
		return -ENOMEM;
	snprintf(chain, sizeof(chain), "ar_%08x_%u", pa->id, k);
	for (size_t i = 0; i < pa->n_marks; i++) {
		el[i].key[0] = (struct zt_value){ .type = ZT_TYPE_MARK, .u32 = pa->marks[i] };
		el[i].data = (struct zt_value){ .type = ZT_TYPE_VERDICT, .verdict.code = ZT_V_JUMP };
		snprintf(el[i].data.verdict.chain, sizeof(el[i].data.verdict.chain), "%s", chain);
	}
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0)
		r = zt_emit_set_flush(b, pa->tiers);
	if (r >= 0)
		r = zt_emit_plan_elems(b, m->cur.plan, pa->tiers, el, pa->n_marks, 0, NFT_MSG_NEWSETELEM);
	r = r >= 0 ? commit(m, b) : r;
	zt_batch_free(b);
	return r;
}

static int bans_add(struct manager *m, const struct zt_plan_anomaly *pa, const struct src_count *v, size_t n,
		    uint32_t ban_sec)
{
	struct zt_batch *b = NULL;
	int r = zt_nft_batch_start(m->nft, &b);

	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct zt_elem el = {};

		el.key[0] = (struct zt_value){ .type = v[i].family == AF_INET6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4 };
		el.key[0].cidr = (struct zt_cidr){ .family = v[i].family, .plen = v[i].family == AF_INET6 ? 128 : 32 };
		memcpy(el.key[0].cidr.addr, v[i].addr, 16);
		r = zt_emit_plan_elems(b, m->cur.plan, v[i].family == AF_INET6 ? pa->ban6 : pa->ban4, &el, 1,
				       (uint64_t)ban_sec * 1000, NFT_MSG_NEWSETELEM);
	}
	r = r >= 0 ? commit(m, b) : r;
	zt_batch_free(b);
	return r;
}

/* Take the episode's mitigation away: the tier map or the ban sets flushed. */
/*
 * keep_bans: the ban elements stay in the kernel until their own timeout
 * (ban:): a bytes series' episode ends because its bans stopped the
 * surge, and lifting them then would let it start again at once.
 */
static int unmitigate(struct manager *m, struct series *s, bool keep_bans)
{
	const struct zt_plan_anomaly *pa;
	struct zt_batch *b = NULL;
	int r;

	if (!s->mitigated || !s->in_plan)
		return 0;
	pa = &m->cur.plan->anomaly[s->pa];
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0 && pa->tiers[0])
		r = zt_emit_set_flush(b, pa->tiers);
	if (r >= 0 && pa->ban4[0] && !keep_bans)
		r = zt_emit_set_flush(b, pa->ban4);
	if (r >= 0 && pa->ban6[0] && !keep_bans)
		r = zt_emit_set_flush(b, pa->ban6);
	r = r >= 0 ? commit(m, b) : r;
	zt_batch_free(b);
	s->mitigated = false;
	s->n_banned = 0;
	return r;
}

/* What the episode's mitigation does, put into the kernel (again, after an apply or a restart). */
static int mitigate(struct manager *m, struct series *s, const struct src_count *top, size_t n_top)
{
	const struct zt_plan_anomaly *pa = &m->cur.plan->anomaly[s->pa];
	const struct zt_anomaly *a = entry_of(m, s);
	double base = s->ep.base_mean > (double)a->min_rate / a->min_unit ? s->ep.base_mean
									  : (double)a->min_rate / a->min_unit;
	char buf[64];
	size_t k;
	int r = 0;

	switch (a->mitigate) {
	case ZT_MITIGATE_ALERT:
		snprintf(s->ep.action, sizeof(s->ep.action), "alert only");
		return 0;
	case ZT_MITIGATE_RATE_LIMIT:
		s->tier = zt_anomaly_tier(a->limit * base);
		r = tier_set(m, pa, s->tier);
		snprintf(s->ep.action, sizeof(s->ep.action), "rate-limit: %u new connections/second per source "
			 "(%u x the baseline %.1f/s)%s", 1u << s->tier, a->limit, base, r < 0 ? " FAILED" : "");
		break;
	case ZT_MITIGATE_BAN_TOP:
		for (size_t i = 0; top && i < n_top && s->n_banned < a->top && s->n_banned < ELEMENTSOF(s->banned); i++)
			if (bannable(m->cur.policy, &top[i]))
				s->banned[s->n_banned++] = top[i];
		r = bans_add(m, pa, s->banned, s->n_banned, a->ban_sec);
		s->banned_rt = now_usec(CLOCK_REALTIME) / ZT_USEC_PER_SEC;
		k = (size_t)snprintf(s->ep.action, sizeof(s->ep.action), "ban-top-sources:");
		for (size_t i = 0; i < s->n_banned && k < sizeof(s->ep.action); i++)
			k += (size_t)snprintf(s->ep.action + k, sizeof(s->ep.action) - k, " %s",
					      addr_fmt(&s->banned[i], buf, sizeof(buf)));
		if (!s->n_banned && k < sizeof(s->ep.action))
			snprintf(s->ep.action + k, sizeof(s->ep.action) - k, " none (no source completed a connection)");
		if (r >= 0 && top) {
			struct zt_cidr pfx[ELEMENTSOF(s->banned)];

			for (size_t i = 0; i < s->n_banned; i++) {
				pfx[i] = (struct zt_cidr){ .family = s->banned[i].family,
							   .plen = s->banned[i].family == AF_INET6 ? 128 : 32 };
				memcpy(pfx[i].addr, s->banned[i].addr, 16);
			}
			if (s->n_banned)
				(void)zt_ct_flush_prefixes(pfx, s->n_banned, NULL);
		}
		break;
	}
	s->mitigated = r >= 0;
	if (r < 0)
		log_warning("anomaly: cannot mitigate on series %s: %s", s->st.name, strerror(-r));
	return r;
}

/* ---- episodes ---- */

/* A series in words: "flow web-in" or "zone web" (its name to:web). */
static const char *series_kind(const char *name)
{
	return strncmp(name, ZT_ANOMALY_TO_PREFIX, strlen(ZT_ANOMALY_TO_PREFIX)) ? "flow" : "zone";
}

static const char *series_bare(const char *name)
{
	if (!strncmp(name, ZT_ANOMALY_BYTES_PREFIX, strlen(ZT_ANOMALY_BYTES_PREFIX)))
		return name + strlen(ZT_ANOMALY_BYTES_PREFIX);
	return streq(series_kind(name), "flow") ? name : name + strlen(ZT_ANOMALY_TO_PREFIX);
}

static void top_text(const struct src_count *v, size_t n, char *buf, size_t len)
{
	size_t k = 0;
	char a[64];

	buf[0] = '\0';
	for (size_t i = 0; i < n && i < 5 && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%s (%" PRIu64 ")", i ? ", " : "", addr_fmt(&v[i], a, sizeof(a)),
				      v[i].conns);
	if (!n)
		snprintf(buf, len, "none open");
}

static void episode_open(struct manager *m, struct series *s, uint64_t now_rt)
{
	const struct zt_plan_anomaly *pa = &m->cur.plan->anomaly[s->pa];
	const struct zt_detector *d = &s->st.d;
	_cleanup_free_ struct src_count *top = NULL;
	size_t n_top = 0;
	char pos[64];

	A(m)->opened++;
	s->ep = (struct episode){ .opened = now_rt, .base_mean = d->base_mean, .base_std = d->base_std,
				  .threshold = d->threshold, .peak = d->peak, .samples = d->ep_samples };
	snprintf(s->ep.flow, sizeof(s->ep.flow), "%s", s->st.name);
	s->ep.opened_sample = s->taken;
	if (top_sources(pa, s->onset_ids, s->n_onset, &top, &n_top) < 0)
		n_top = 0;
	onset_drop(s);
	top_text(top, n_top, s->ep.top, sizeof(s->ep.top));
	mitigate(m, s, top, n_top);
	snprintf(pos, sizeof(pos), "%s:%u", pa->pos.file ? pa->pos.file : "?", pa->pos.line);
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=anomaly", log_field("ZTSEG_FLOW", "%s", s->st.name),
		   log_field("ZTSEG_BASELINE", "%.2f", d->base_mean), log_field("ZTSEG_OBSERVED", "%.2f", d->last),
		   log_field("ZTSEG_TOP_SOURCES", "%s", s->ep.top), log_field("ZTSEG_ACTION", "%s", s->ep.action),
		   log_field("ZTSEG_POLICY", "%s", pos) }, 7,
		   "anomaly on %s %s: %.1f %s/s against a baseline of %.1f (sd %.1f, threshold %.1f); "
		   "top sources: %s; %s (%s)", series_kind(s->st.name), series_bare(s->st.name), d->last,
		   pa->bytes ? "bytes" : "new connections", d->base_mean, d->base_std, d->threshold,
		   s->ep.top, s->ep.action, pos);
}

static void closed_push(struct anomaly *an, const struct episode *e)
{
	an->closed[an->closed_next] = *e;
	an->closed_next = (an->closed_next + 1) % CLOSED_MAX;
	if (an->n_closed < CLOSED_MAX)
		an->n_closed++;
}

static void episode_close(struct manager *m, struct series *s, uint64_t now_rt, const char *why)
{
	bool keep = s->in_plan && s->mitigated && s->n_banned && m->cur.plan->anomaly[s->pa].bytes &&
		    streq(why, "back under the threshold");
	int r = unmitigate(m, s, keep);

	s->ep.closed = now_rt ? now_rt : 1;
	s->ep.peak = s->st.d.peak;
	s->ep.samples = s->st.d.ep_samples;
	closed_push(A(m), &s->ep);
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=anomaly-end", log_field("ZTSEG_FLOW", "%s", s->st.name),
		   log_field("ZTSEG_PEAK", "%.2f", s->ep.peak) }, 3,
		   "anomaly on %s %s ended (%s) after %" PRIu64 " samples, peak %.1f/s; %s%s", series_kind(s->st.name),
		   series_bare(s->st.name), why,
		   s->ep.samples, s->ep.peak,
		   keep ? "the bans stay until their timeout (series: bytes)"
			: strncmp(s->ep.action, "alert", 5) ? "mitigation removed" : "nothing to undo",
		   r < 0 ? " (FAILED to remove)" : "");
}

/* ---- sampling ---- */

static struct series *series_find(struct anomaly *an, const char *name)
{
	for (size_t i = 0; i < an->n; i++)
		if (streq(an->v[i].st.name, name))
			return &an->v[i];
	return NULL;
}

static void sample_one(struct manager *m, struct series *s, const struct zt_nft_counter *c, uint64_t now,
		       uint64_t now_rt, int hour)
{
	const struct zt_anomaly *a = entry_of(m, s);
	struct zt_detect_params p = params_of(a);
	enum zt_detect_event ev;
	uint32_t over;
	uint64_t v;
	double dt, x;

	if (!c)
		return;
	/* The series: new connections (ac_<id>'s packets) or established bytes (ay_<id>'s bytes). */
	v = a->bytes ? c->bytes : c->packets;
	if (!s->have_last || v < s->last_pkts) {
		s->have_last = true;
		s->last_pkts = v;
		s->last_usec = now;
		return;
	}
	dt = (double)(now - s->last_usec) / ZT_USEC_PER_SEC;
	x = dt > 0 ? (double)(v - s->last_pkts) / dt : 0;
	s->last_pkts = v;
	s->last_usec = now;
	A(m)->samples++;
	A(m)->dirty = true;
	s->taken++;
	over = s->st.d.over;
	ev = zt_detect_sample(&s->st.d, &p, x, hour, now_rt);
	if (ev == ZT_DETECT_OPEN)
		episode_open(m, s, now_rt);
	else if (ev == ZT_DETECT_CLOSE)
		episode_close(m, s, now_rt, "back under the threshold");
	else if (s->st.d.open && s->st.d.peak > s->ep.peak)
		s->ep.peak = s->st.d.peak;
	if (s->st.d.open || !s->st.d.over)
		onset_drop(s);
	else if (!over && !a->bytes)
		onset_take(&m->cur.plan->anomaly[s->pa], s);
	if (ev != ZT_DETECT_NONE)
		state_save(m);
}

static uint64_t cpu_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * ZT_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	struct anomaly *an = A(m);
	_cleanup_free_ struct zt_nft_counter *cv = NULL;
	uint64_t now = now_usec(CLOCK_MONOTONIC), now_rt = now_usec(CLOCK_REALTIME) / ZT_USEC_PER_SEC, c0 = cpu_usec();
	size_t ncv = 0;
	bool due = false;
	time_t t = (time_t)now_rt;
	struct tm tm;

	sd_event_source_set_time(src, usec + TICK_USEC);
	sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
	ensure_synced(m);
	for (size_t i = 0; i < an->n; i++)
		due |= an->v[i].in_plan && now + TICK_USEC / 2 >= an->v[i].next_usec;
	if (!due)
		goto out;
	if (zt_nft_counters_read(&cv, &ncv) < 0)
		goto out;
	gmtime_r(&t, &tm);
	for (size_t i = 0; i < an->n; i++) {
		struct series *s = &an->v[i];
		const struct zt_plan_anomaly *pa;

		if (!s->in_plan || now + TICK_USEC / 2 < s->next_usec)
			continue;
		s->next_usec = now + (uint64_t)entry_of(m, s)->interval_sec * ZT_USEC_PER_SEC;
		pa = &m->cur.plan->anomaly[s->pa];
		sample_one(m, s, zt_nft_counter_find(cv, ncv, pa->bytes ? pa->bcounter : pa->counter), now, now_rt,
			   tm.tm_hour);
	}
	if (an->dirty && now >= an->saved_usec + SAVE_EVERY_USEC)
		state_save(m);
out:
	an->cpu_usec += cpu_usec() - c0;
	return 0;
}

/*
 * The plan changed, or the table was written anew: each entry of the plan
 * to its series (by flow name; a new flow starts learning), episodes of
 * flows the policy no longer watches closed, and each open episode's
 * mitigation put back into the kernel (the apply flushed or replaced it).
 */
void manager_anomaly_sync(struct manager *m)
{
	struct anomaly *an = A(m);
	const struct zt_plan *pl = m->cur.plan;
	uint64_t now_rt = now_usec(CLOCK_REALTIME) / ZT_USEC_PER_SEC;

	if (!an)
		return;
	an->synced = true;
	an->gen = m->generation;
	for (size_t i = 0; i < an->n; i++)
		an->v[i].in_plan = false;
	for (size_t i = 0; pl && i < pl->n_anomaly; i++) {
		char name[ZT_ANOMALY_NAME_MAX + 1];
		struct series *s, *nv;

		/* A bytes series has its own name, so a baseline never changes what it counts. */
		if (pl->anomaly[i].bytes)	/* flow entries only: a flow's name is at most ZT_NAME_MAX */
			snprintf(name, sizeof(name), ZT_ANOMALY_BYTES_PREFIX "%.48s", pl->anomaly[i].flow);
		else
			snprintf(name, sizeof(name), "%s", pl->anomaly[i].flow);
		s = series_find(an, name);

		if (!s) {
			if (an->n >= ANOMALY_SERIES_MAX || !(nv = reallocarray(an->v, an->n + 1, sizeof(*an->v))))
				continue;
			an->v = nv;
			s = &an->v[an->n++];
			*s = (struct series){};
			snprintf(s->st.name, sizeof(s->st.name), "%s", name);
		}
		s->in_plan = true;
		s->pa = i;
		s->have_last = false;
	}
	for (size_t i = 0; i < an->n; i++) {
		struct series *s = &an->v[i];

		if (!s->st.d.open)
			continue;
		if (!s->in_plan) {
			s->mitigated = false;	/* its objects went with the entry */
			s->st.d.open = false;
			episode_close(m, s, now_rt, "the policy no longer watches the flow");
			continue;
		}
		/* Whatever is left of it flushed first, then the same again (the same banned sources). */
		struct src_count keep[ELEMENTSOF(s->banned)];
		size_t n_keep = s->n_banned;

		memcpy(keep, s->banned, sizeof(keep));
		s->mitigated = true;
		unmitigate(m, s, false);
		mitigate(m, s, keep, n_keep);
	}
}

int manager_anomaly_start(struct manager *m)
{
	if (!(m->anomaly = calloc(1, sizeof(struct anomaly))))
		return -ENOMEM;
	state_load(m);
	for (size_t i = 0; i < A(m)->n; i++) {
		struct series *s = &A(m)->v[i];

		/* An episode from before the restart: its bans (from the state file) are put back by the sync. */
		if (s->st.d.open) {
			log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=anomaly-resumed",
				   log_field("ZTSEG_FLOW", "%s", s->st.name) }, 2,
				   "anomaly on %s %s: open before the restart, resumed", series_kind(s->st.name),
				   series_bare(s->st.name));
		}
	}
	manager_anomaly_sync(m);
	return sd_event_add_time(m->event, &m->src_anomaly, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC) + TICK_USEC,
				 10000, on_tick, m);
}

/* ---- control socket and status ---- */

static json_t *episode_json(const struct episode *e)
{
	return json_pack("{s:s, s:b, s:I, s:I, s:f, s:f, s:f, s:f, s:I, s:I, s:s, s:s, s:b}", "flow", e->flow,
			 "open", !e->closed, "opened", (json_int_t)e->opened, "closed", (json_int_t)e->closed,
			 "baseline", e->base_mean, "baseline_sd", e->base_std, "threshold", e->threshold, "peak",
			 e->peak, "samples", (json_int_t)e->samples, "opened_sample", (json_int_t)e->opened_sample,
			 "action", e->action, "top_sources", e->top, "resumed", e->resumed);
}

static json_t *series_json(struct manager *m, const struct series *s)
{
	const struct zt_detector *d = &s->st.d;
	const struct zt_anomaly *a = s->in_plan ? entry_of(m, s) : NULL;
	struct zt_detect_params p = a ? params_of(a) : (struct zt_detect_params){};

	return json_pack("{s:s, s:b, s:I, s:I, s:f, s:f, s:f, s:b, s:b, s:s}", "flow", s->st.name, "watched",
			 s->in_plan, "taken", (json_int_t)s->taken, "samples", (json_int_t)d->all.n, "mean", d->all.mean, "sd", zt_baseline_std(&d->all), "last",
			 d->last, "learning", a ? zt_detect_learning(d, &p) : false, "open", d->open, "mitigate",
			 a ? zt_mitigate_name(a->mitigate) : "");
}

int manager_anomaly_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	struct anomaly *an = A(m);
	json_t *eps = json_array(), *ser = json_array();
	int r = eps && ser ? 0 : -ENOMEM;

	ensure_synced(m);
	if (json_object_size(req->args) != 0 || (req->args && !json_is_object(req->args))) {
		json_decref(eps);
		json_decref(ser);
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "anomalies: takes no arguments");
	}
	for (size_t i = 0; r >= 0 && an && i < an->n; i++) {
		if (json_array_append_new(ser, series_json(m, &an->v[i])) < 0)
			r = -ENOMEM;
		if (r >= 0 && an->v[i].st.d.open && json_array_append_new(eps, episode_json(&an->v[i].ep)) < 0)
			r = -ENOMEM;
	}
	/* The closed ones, newest first. */
	for (size_t i = 0; r >= 0 && an && i < an->n_closed; i++) {
		size_t k = (an->closed_next + CLOSED_MAX - 1 - i) % CLOSED_MAX;

		if (json_array_append_new(eps, episode_json(&an->closed[k])) < 0)
			r = -ENOMEM;
	}
	if (r < 0) {
		json_decref(eps);
		json_decref(ser);
		return r;
	}
	return zt_ctl_conn_reply_ok(c, json_pack("{s:o, s:o}", "episodes", eps, "series", ser), req->now_usec);
}

int manager_anomaly_status(struct manager *m, json_t *status)
{
	struct anomaly *an = A(m);
	size_t open = 0, watched = 0;
	json_t *o, *eps;

	if (!an || !m->cur.plan || !m->cur.plan->n_anomaly)
		return 0;
	ensure_synced(m);
	if (!(eps = json_array()))
		return -ENOMEM;
	for (size_t i = 0; i < an->n; i++) {
		watched += an->v[i].in_plan;
		if (an->v[i].st.d.open) {
			open++;
			if (json_array_append_new(eps, episode_json(&an->v[i].ep)) < 0) {
				json_decref(eps);
				return -ENOMEM;
			}
		}
	}
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "series", (json_int_t)watched, "open", (json_int_t)open,
		      "opened", (json_int_t)an->opened, "samples", (json_int_t)an->samples, "cpu_usec",
		      (json_int_t)an->cpu_usec, "episodes", eps);
	if (!o)
		return -ENOMEM;
	return json_object_set_new(status, "anomaly", o) < 0 ? -ENOMEM : 0;
}

void manager_anomaly_free(struct manager *m)
{
	struct anomaly *an = A(m);

	m->src_anomaly = sd_event_source_disable_unref(m->src_anomaly);
	if (!an)
		return;
	if (an->n)
		state_save(m);
	for (size_t i = 0; i < an->n; i++)
		onset_drop(&an->v[i]);
	free(an->v);
	free(an);
	m->anomaly = NULL;
}

/* ---- bans, unban and explain (asked by ztsegd-bans.c and ztsegd-ctl.c) ---- */

/* "flow db-in" or "zone app" */
static void series_text(const struct series *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", series_kind(s->st.name), series_bare(s->st.name));
}

static void pos_text(const struct zt_plan_anomaly *pa, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u", pa->pos.file ? pa->pos.file : "?", pa->pos.line);
}

/* Seconds left of the ban's kernel timeout (set when the episode's bans were put in). */
static uint64_t ban_left(struct manager *m, const struct series *s)
{
	uint64_t now = now_usec(CLOCK_REALTIME) / ZT_USEC_PER_SEC, end = s->banned_rt + entry_of(m, s)->ban_sec;

	return end > now ? end - now : 0;
}

/* Is this an open, mitigated episode of the running plan, with ban-top-sources (ban) or rate-limit? */
static bool mitigating(struct manager *m, const struct series *s, bool ban)
{
	return s->in_plan && s->st.d.open && s->mitigated &&
	       entry_of(m, s)->mitigate == (ban ? ZT_MITIGATE_BAN_TOP : ZT_MITIGATE_RATE_LIMIT);
}

/*
 * A bytes series' closed episode leaves its bans in the kernel until their
 * own timeout (episode_close): the daemon no longer holds them, the kernel
 * does, so they are read from there (a restart in between included).
 */
static bool lingering(struct manager *m, const struct series *s)
{
	const struct zt_plan_anomaly *pa;

	if (!s->in_plan || s->st.d.open)
		return false;
	pa = &m->cur.plan->anomaly[s->pa];
	return pa->bytes && pa->ban4[0];
}

static int lingering_dump(struct manager *m, const struct series *s, struct zt_ban **v, size_t *n)
{
	const struct zt_plan_anomaly *pa = &m->cur.plan->anomaly[s->pa];
	size_t cap = 0;
	struct zt_nl nl;
	int r;

	*v = NULL;
	*n = 0;
	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 1 << 20);
	if (r < 0)
		return r;
	r = zt_bans_dump_set(&nl, pa->ban4, AF_INET, v, n, &cap);
	if (r >= 0 || r == -ENOENT)
		r = zt_bans_dump_set(&nl, pa->ban6, AF_INET6, v, n, &cap);
	zt_nl_close(&nl);
	return r == -ENOENT ? 0 : r;
}

static int lingering_json(struct manager *m, const struct series *s, json_t *arr)
{
	_cleanup_free_ struct zt_ban *v = NULL;
	char src[64], what[ZT_ANOMALY_NAME_MAX + 8], pos[64];
	size_t n = 0;
	int r = lingering_dump(m, s, &v, &n);

	if (r < 0)
		return r;
	series_text(s, what, sizeof(what));
	pos_text(&m->cur.plan->anomaly[s->pa], pos, sizeof(pos));
	for (size_t k = 0; k < n; k++) {
		if (!inet_ntop(v[k].family, v[k].addr, src, sizeof(src)))
			continue;
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:I, s:I}",
				"source", src, "zone", what, "reason", "anomaly", "anomaly", true, "everywhere", false,
				"limit", "anomaly episode (closed): ban-top-sources, until the ban's timeout", "policy",
				pos, "remaining_ms", (json_int_t)v[k].expires_ms, "duration_ms",
				(json_int_t)v[k].timeout_ms)) < 0)
			return -ENOMEM;
	}
	return 0;
}

int manager_anomaly_bans_json(struct manager *m, json_t *arr)
{
	struct anomaly *an = A(m);

	if (!an || !m->cur.plan)
		return 0;
	ensure_synced(m);
	for (size_t i = 0; i < an->n; i++) {
		const struct series *s = &an->v[i];
		char src[64], what[ZT_ANOMALY_NAME_MAX + 8], pos[64];
		int r;

		if (lingering(m, s) && (r = lingering_json(m, s, arr)) < 0)
			return r;
		if (!mitigating(m, s, true))
			continue;
		series_text(s, what, sizeof(what));
		pos_text(&m->cur.plan->anomaly[s->pa], pos, sizeof(pos));
		for (size_t k = 0; k < s->n_banned; k++)
			if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:I, s:I}",
					"source", addr_fmt(&s->banned[k], src, sizeof(src)), "zone", what, "reason",
					"anomaly", "anomaly", true, "everywhere", false, "limit",
					"anomaly episode: ban-top-sources", "policy", pos, "remaining_ms",
					(json_int_t)ban_left(m, s) * 1000, "duration_ms",
					(json_int_t)entry_of(m, s)->ban_sec * 1000)) < 0)
				return -ENOMEM;
	}
	return 0;
}

/* A closed bytes episode's ban of address, lifted from the kernel if it is still there. */
static int lingering_unban(struct manager *m, const struct series *s, uint8_t family, const uint8_t addr[16],
			   size_t *hit)
{
	const struct zt_plan_anomaly *pa = &m->cur.plan->anomaly[s->pa];
	struct zt_batch *bt = NULL;
	struct zt_elem el = {};
	int r;

	el.key[0] = (struct zt_value){ .type = family == AF_INET6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4 };
	el.key[0].cidr = (struct zt_cidr){ .family = family, .plen = family == AF_INET6 ? 128 : 32 };
	memcpy(el.key[0].cidr.addr, addr, 16);
	r = zt_nft_batch_start(m->nft, &bt);
	if (r >= 0)
		r = zt_emit_plan_elems(bt, m->cur.plan, family == AF_INET6 ? pa->ban6 : pa->ban4, &el, 1, 0,
				       NFT_MSG_DELSETELEM);
	r = r >= 0 ? commit(m, bt) : r;
	zt_batch_free(bt);
	if (r == -ENOENT)	/* not banned there, or its timeout ran out */
		return 0;
	if (r >= 0)
		(*hit)++;
	return r;
}

/* Lift the anomaly bans of address (its exact address: anomaly bans are single sources): how many, or an error. */
int manager_anomaly_unban(struct manager *m, uint8_t family, const uint8_t addr[16], size_t *hit)
{
	struct anomaly *an = A(m);
	int r = 0;

	*hit = 0;
	if (!an || !m->cur.plan)
		return 0;
	ensure_synced(m);
	for (size_t i = 0; r >= 0 && i < an->n; i++) {
		struct series *s = &an->v[i];
		const struct zt_plan_anomaly *pa;

		if (lingering(m, s)) {
			r = lingering_unban(m, s, family, addr, hit);
			continue;
		}
		if (!mitigating(m, s, true))
			continue;
		pa = &m->cur.plan->anomaly[s->pa];
		for (size_t k = 0; r >= 0 && k < s->n_banned; k++) {
			struct src_count *b = &s->banned[k];
			struct zt_batch *bt = NULL;
			struct zt_elem el = {};

			if (b->family != family || memcmp(b->addr, addr, family == AF_INET6 ? 16 : 4))
				continue;
			el.key[0] = (struct zt_value){ .type = family == AF_INET6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4 };
			el.key[0].cidr = (struct zt_cidr){ .family = family, .plen = family == AF_INET6 ? 128 : 32 };
			memcpy(el.key[0].cidr.addr, b->addr, 16);
			r = zt_nft_batch_start(m->nft, &bt);
			if (r >= 0)
				r = zt_emit_plan_elems(bt, m->cur.plan, family == AF_INET6 ? pa->ban6 : pa->ban4, &el, 1,
						       0, NFT_MSG_DELSETELEM);
			r = r >= 0 ? commit(m, bt) : r;
			zt_batch_free(bt);
			if (r == -ENOENT)	/* its kernel timeout ran out already */
				r = 0;
			if (r < 0)
				break;
			/* Gone from the episode: a re-sync (apply, restart) does not put it back. */
			memmove(b, b + 1, (s->n_banned - k - 1) * sizeof(*b));
			s->n_banned--;
			k--;
			(*hit)++;
			an->dirty = true;
		}
	}
	if (*hit)
		state_save(m);
	return r;
}

/*
 * Does the episode's mitigation meet this connection: it reaches the
 * flow's accept (a hub flow decided), from a source threats.except leaves
 * alone, on the entry's flow or into its zone?
 */
static bool covers(struct manager *m, const struct series *s, const struct zt_explanation *e)
{
	const struct zt_policy *p = m->cur.policy;
	const struct zt_anomaly *a = entry_of(m, s);

	if (!e->allow || e->reason != ZT_REASON_HUB_FLOW || !e->flow || !e->from.has_addr ||
	    e->from.zone.kind == ZT_ZONE_HOST)
		return false;
	for (size_t i = 0; i < p->threats.n_except; i++)
		if (zt_cidr_contains_addr(&p->threats.except[i], e->family, e->from.addr))
			return false;
	if (a->flow)
		return a->flow_idx >= 0 && e->flow == &p->hub.flows[a->flow_idx];
	return zt_zone_covers(&a->to->zone, &e->to.zone);
}

/*
 * explain --live: an open episode's ban of the source that drops this
 * connection (1, text in buf; ban) or its per-source rate limit that
 * applies to it (1; !ban). 0: none.
 */
int manager_anomaly_explain(struct manager *m, const struct zt_explanation *e, bool ban, char *buf, size_t len)
{
	struct anomaly *an = A(m);

	if (!an || !m->cur.plan)
		return 0;
	ensure_synced(m);
	for (size_t i = 0; i < an->n; i++) {
		const struct series *s = &an->v[i];
		char src[64], what[ZT_ANOMALY_NAME_MAX + 8], pos[64], rem[32];

		if (!mitigating(m, s, ban) || !covers(m, s, e))
			continue;
		series_text(s, what, sizeof(what));
		pos_text(&m->cur.plan->anomaly[s->pa], pos, sizeof(pos));
		if (!ban) {
			snprintf(buf, len, "anomaly rate limit on %s: new connections over %u/second per source are "
				 "dropped while the episode lasts (threats.anomaly %s)", what, 1u << s->tier, pos);
			return 1;
		}
		for (size_t k = 0; k < s->n_banned; k++)
			if (s->banned[k].family == e->family &&
			    !memcmp(s->banned[k].addr, e->from.addr, e->family == AF_INET6 ? 16 : 4)) {
				snprintf(buf, len, "anomaly ban of %s on %s (ban-top-sources, %s left at most; "
					 "threats.anomaly %s): its new connections are dropped until the episode ends",
					 addr_fmt(&s->banned[k], src, sizeof(src)), what,
					 zt_duration_fmt(ban_left(m, s), rem, sizeof(rem)), pos);
				return 1;
			}
	}
	return 0;
}
