/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Just-in-time grants in ztsegd: grant, grants and revoke over the control
 * socket (authorized by the template's requesters), the kernel's elements
 * (jlive and jit4/jit6, each with the kernel's own timeout), expiry,
 * revocation (the element first, then the connections), the state file,
 * and what survives a restart or a reload (doc/RULESET.md "Grants").
 */
#include <arpa/inet.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include "conntrack.h"
#include "explain.h"
#include "grant.h"
#include "nft-dump.h"
#include "statefile.h"
#include "ztsegd.h"

#define GRANTS_FILE "grants"
/* The state file: a line is at most ~1 KiB; 10,000 grants and then some. */
#define GRANTS_FILE_MAX (64u << 20)
#define GRANTS_MAX 100000
/* Expiry is the kernel's; the daemon's timer only logs and forgets connections after it. */
#define EXPIRY_SLACK_USEC (20 * 1000)

/* ---- the kernel ---- */

/* NEWSETELEM (with a timeout) or DELSETELEM for elems of the plan's set name. */
static int elems_emit(struct manager *m, struct zt_batch *b, const char *name, struct zt_elem *elems, size_t n,
		      uint64_t timeout_ms, uint16_t type)
{
	return zt_emit_plan_elems(b, m->cur.plan, name, elems, n, timeout_ms, type);
}

/* The grant's per-pair maps: jlive (its marks to its counter), jspk_o and jspk_r (who speaks). */
static const struct {
	enum zt_grant_map map;
	const char *set;
} pair_maps[] = { { ZT_GRANT_LIVE, "jlive" }, { ZT_GRANT_SPK_O, "jspk_o" }, { ZT_GRANT_SPK_R, "jspk_r" } };

/* g's elements in the per-pair maps (live: jlive too, else only the speakers), with a timeout. */
static int pairs_add(struct manager *m, struct zt_batch *b, const struct zt_grant *g, bool live, uint64_t ms)
{
	const struct zt_plan_jit *pj = zt_plan_find_jit(m->cur.plan, g->tmpl);
	const struct zt_jit *t = zt_policy_find_jit(m->cur.policy, g->tmpl);
	int r = 0;

	if (!pj || !t)
		return -ENOENT;
	for (size_t i = live ? 0 : 1; r >= 0 && i < ELEMENTSOF(pair_maps); i++) {
		_cleanup_free_ struct zt_elem *el = NULL;
		size_t n = 0;

		r = zt_grant_pair_elems(pj, g, zt_jit_to_ref(t, g->to), pair_maps[i].map, &el, &n);
		if (r >= 0)
			r = elems_emit(m, b, pair_maps[i].set, el, n, ms, NFT_MSG_NEWSETELEM);
	}
	return r;
}

struct u64_ms {
	uint32_t mark;
	uint64_t ms;
};

/*
 * The kernel's live marks and their remaining time (ms), from jlive: that
 * set's elements alone (the whole table is hundreds of MiB to read at
 * 10,000 segments). No jlive in the kernel: none.
 */
static int kernel_live(struct u64_ms **ret, size_t *n_ret)
{
	struct zt_kset ks;
	struct zt_nl nl;
	struct u64_ms *v = NULL;
	size_t n = 0;
	int r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 1 << 20);

	if (r < 0)
		return r;
	r = zt_kset_dump(&nl, "jlive", &ks);
	zt_nl_close(&nl);
	if (r >= 0 && !(v = calloc(ks.n + 1, sizeof(*v))))
		r = -ENOMEM;
	for (size_t e = 0; r >= 0 && e < ks.n; e++) {
		uint32_t len = 0;
		const void *key = nftnl_set_elem_get(ks.el[e], NFTNL_SET_ELEM_KEY, &len);

		if (!key || len != 4)
			continue;
		memcpy(&v[n].mark, key, 4);
		v[n].ms = nftnl_set_elem_is_set(ks.el[e], NFTNL_SET_ELEM_EXPIRATION)
				  ? nftnl_set_elem_get_u64(ks.el[e], NFTNL_SET_ELEM_EXPIRATION)
				  : 0;
		n++;
	}
	zt_kset_clear(&ks);
	if (r == -ENOENT)
		r = 0;
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*n_ret = n;
	return 0;
}

/*
 * Every per-pair element of grant g gone (DESTROYSETELEM: one the kernel
 * timed out meanwhile is no error): the marks of its template's pairs, or
 * when live is given (its template is gone or changed), the marks of g
 * that the kernel's jlive holds (without either: every pair a mark can hold).
 */
static int pairs_destroy(struct manager *m, struct zt_batch *b, const struct zt_grant *g,
			 const struct u64_ms *live, size_t n_live)
{
	const struct zt_plan_jit *pj = zt_plan_find_jit(m->cur.plan, g->tmpl);
	size_t n = 0, cap = live ? n_live : pj ? pj->n_from * pj->n_to : ZT_GRANT_PAIRS_MAX;
	_cleanup_free_ struct zt_elem *el = calloc(cap + 1, sizeof(*el));
	int r = el ? 0 : -ENOMEM;

	for (size_t k = 0; r >= 0 && k < cap; k++) {
		uint32_t mark = live ? live[k].mark : zt_grant_mark(g->id, (uint32_t)k);

		if (!live || (zt_mark_is_grant(mark) && zt_grant_id_of(mark) == g->id))
			el[n++] = (struct zt_elem){ .key[0] = { .type = ZT_TYPE_MARK, .u32 = mark } };
	}
	for (size_t i = 0; r >= 0 && n && i < ELEMENTSOF(pair_maps); i++) {
		if (!zt_plan_find_set(m->cur.plan, pair_maps[i].set))
			continue;
		for (size_t k = 0; k < n; k++) {
			/* The kernel reads a deleted element's key alone; the data only has to encode. */
			if (pair_maps[i].map == ZT_GRANT_LIVE) {
				el[k].data.type = ZT_TYPE_COUNTER;
				zt_grant_counter_name(g->id, el[k].data.counter);
			} else {
				el[k].data = (struct zt_value){ .type = ZT_TYPE_VERDICT, .verdict.code = ZT_V_ACCEPT };
			}
		}
		r = elems_emit(m, b, pair_maps[i].set, el, n, 0, ZT_NFT_MSG_DESTROYSETELEM);
	}
	return r;
}

static void ct_flush_grant(uint32_t id)
{
	int r = zt_ct_flush_mark(zt_grant_mark(id, 0), ZT_GRANT_MARK_MASK);

	if (r < 0)
		log_warning("cannot delete the connections of grant %" PRIu32 ": %s", id, strerror(-r));
}

/* The jit4/jit6 elements of g under the running plan; -ENOENT when its template is gone. */
static int grant_elems(struct manager *m, const struct zt_grant *g, struct zt_elem **ret, size_t *n)
{
	const struct zt_plan_jit *pj = zt_plan_find_jit(m->cur.plan, g->tmpl);
	const struct zt_jit *t = zt_policy_find_jit(m->cur.policy, g->tmpl);

	if (!pj || !t)
		return -ENOENT;
	return zt_grant_elems(pj, g, zt_jit_to_ref(t, g->to), ret, n);
}

static uint64_t remaining_ms(const struct zt_grant *g, uint64_t now)
{
	return g->expires_usec > now ? (g->expires_usec - now + 999) / 1000 : 0;
}

static const char *addr_str(const struct zt_grant *g, char *buf, size_t len)
{
	return zt_addr_fmt(g->family, g->addr, buf, len);
}

static int commit(struct manager *m, struct zt_batch *b, const char *what, uint32_t id)
{
	struct zt_diags d = {};
	int r, err = 0;

	r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0)
		log_error("cannot %s grant %" PRIu32 " in the kernel: %s", what, id,
			  d.n ? d.v[0].msg : strerror(err ? err : -r));
	zt_diags_clear(&d);
	return r;
}

/* Add g: its counter, its live marks, speakers and elements, one transaction. */
static int kernel_add(struct manager *m, const struct zt_grant *g, uint64_t now)
{
	_cleanup_free_ struct zt_elem *el = NULL;
	struct zt_counter ctr = {};
	struct zt_batch *b = NULL;
	char ab[ZT_CIDR_STRLEN];
	uint64_t ms = remaining_ms(g, now);
	size_t n = 0;
	int r;

	zt_grant_counter_name(g->id, ctr.name);
	snprintf(ctr.comment, sizeof(ctr.comment), "jit grant %" PRIu32 " '%s' for %s", g->id, g->tmpl,
		 addr_str(g, ab, sizeof(ab)));
	r = grant_elems(m, g, &el, &n);
	if (r >= 0)
		r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0)
		r = zt_emit_counter(b, &ctr);
	if (r >= 0)
		r = pairs_add(m, b, g, true, ms);
	if (r >= 0)
		r = elems_emit(m, b, g->family == AF_INET ? "jit4" : "jit6", el, n, ms, NFT_MSG_NEWSETELEM);
	if (r >= 0)
		r = commit(m, b, "add", g->id);
	zt_batch_free(b);
	return r;
}

/*
 * Every grant's elements anew (the running plan's zone ids and speaker
 * chains may differ from the last one's): jit4, jit6, jspk_o and jspk_r
 * flushed and refilled, and the per-pair elements of gone grants deleted,
 * in one transaction. Live marks of kept grants stay as the kernel times
 * them, and so do their counters.
 */
static int kernel_refill(struct manager *m, const struct zt_grant *gone, size_t n_gone, uint64_t now)
{
	static const char *const flushed[] = { "jit4", "jit6", "jspk_o", "jspk_r" };
	_cleanup_free_ struct u64_ms *live = NULL;
	struct zt_batch *b = NULL;
	size_t n_live = 0;
	int r;

	if (!zt_plan_find_set(m->cur.plan, "jlive"))
		return 0;
	/* Gone grants' marks as the kernel holds them: their template may be gone or mean other pairs now. */
	if (n_gone && (r = kernel_live(&live, &n_live)) < 0)
		log_warning("cannot read the live grants from the kernel: %s", strerror(-r));
	r = zt_nft_batch_start(m->nft, &b);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(flushed); i++)
		r = zt_emit_set_flush(b, flushed[i]);
	for (size_t i = 0; r >= 0 && i < n_gone; i++)
		r = pairs_destroy(m, b, &gone[i], live, n_live);
	for (size_t i = 0; r >= 0 && i < m->n_grants; i++) {
		_cleanup_free_ struct zt_elem *el = NULL;
		const struct zt_grant *g = &m->grants[i];
		uint64_t ms = remaining_ms(g, now);
		size_t n = 0;

		r = grant_elems(m, g, &el, &n);
		if (r >= 0)
			r = elems_emit(m, b, g->family == AF_INET ? "jit4" : "jit6", el, n, ms, NFT_MSG_NEWSETELEM);
		if (r >= 0)
			r = pairs_add(m, b, g, false, ms);
	}
	if (r >= 0)
		r = commit(m, b, "rewrite", 0);
	zt_batch_free(b);
	return r;
}

/* ---- the grants' counters ---- */

/* Packets and bytes of grant id's counter in v (zt_nft_counters_read()), 0 when absent. */
static void counts_of(const struct zt_nft_counter *v, size_t n, uint32_t id, uint64_t *packets, uint64_t *bytes)
{
	char name[16];
	const struct zt_nft_counter *c;

	zt_grant_counter_name(id, name);
	c = v ? zt_nft_counter_find(v, n, name) : NULL;
	*packets = c ? c->packets : 0;
	*bytes = c ? c->bytes : 0;
}

static ssize_t find_id(const struct manager *m, uint32_t id);
static void timer_update(struct manager *m);

/*
 * Delete the counters of grants that are gone. The kernel refuses while
 * an element it timed out still points at one (it frees expired elements
 * in its own time): tried again a second later.
 */
static void counters_sweep(struct manager *m)
{
	_cleanup_free_ struct zt_nft_counter *v = NULL;
	size_t n = 0;
	bool busy = false;

	m->grant_sweep_usec = 0;
	if (!m->nft || zt_nft_counters_read(&v, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct zt_batch *b = NULL;
		struct zt_diags d = {};
		uint32_t id;
		int r, err = 0;

		if (zt_grant_counter_id(v[i].name, &id) < 0 || find_id(m, id) >= 0)
			continue;
		r = zt_nft_batch_start(m->nft, &b);
		if (r >= 0)
			r = zt_emit_counter_del(b, v[i].name);
		if (r >= 0)
			r = zt_nft_batch_commit(m->nft, b, &err, &d);
		zt_batch_free(b);
		zt_diags_clear(&d);
		busy |= r < 0;
	}
	if (busy)
		m->grant_sweep_usec = now_usec(CLOCK_REALTIME) + ZT_USEC_PER_SEC;
}

/* ---- the state file ---- */

static int save_now(struct manager *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	fprintf(f, "next %" PRIu32 "\n", m->grant_next_id);
	for (size_t i = 0; i < m->n_grants; i++) {
		_cleanup_free_ char *line = zt_grant_line(&m->grants[i]);

		if (line)
			fputs(line, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = zt_write_atomic(m->state_dir, GRANTS_FILE, buf, len);
	free(buf);
	if (r < 0)
		log_error("cannot write %s/%s: %s", m->state_dir, GRANTS_FILE, strerror(-r));
	return r;
}

static int on_save(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	save_now(m);
	return 0;
}

/*
 * Written after the reply, coalesced over SAVE_DELAY_USEC: a grant's ACK
 * does not wait for an fsync, and a burst of grants writes the file once.
 * A crash in between loses the record of the newest grants: the next
 * start finds their elements without a record and drops them (fail closed).
 */
#define SAVE_DELAY_USEC (100 * 1000)
static void save_later(struct manager *m)
{
	int enabled = SD_EVENT_OFF;

	if (!m->src_grant_save) {
		save_now(m);
		return;
	}
	sd_event_source_get_enabled(m->src_grant_save, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	sd_event_source_set_time_relative(m->src_grant_save, SAVE_DELAY_USEC);
	sd_event_source_set_enabled(m->src_grant_save, SD_EVENT_ONESHOT);
}

/* ---- the list ---- */

static void audit(int prio, const char *event, const struct zt_grant *g, uint64_t packets, uint64_t bytes,
		  const char *fmt, ...) _printf_(6, 7);
static void audit(int prio, const char *event, const struct zt_grant *g, uint64_t packets, uint64_t bytes,
		  const char *fmt, ...)
{
	char msg[768], ab[ZT_CIDR_STRLEN], tb[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fields(prio, (const char *[]){ log_field("ZTSEG_EVENT", "%s", event),
		   log_field("ZTSEG_GRANT", "%" PRIu32, g->id), log_field("ZTSEG_TEMPLATE", "%s", g->tmpl),
		   log_field("ZTSEG_SOURCE", "%s", addr_str(g, ab, sizeof(ab))),
		   log_field("ZTSEG_UID", "%u", (unsigned)g->uid), log_field("ZTSEG_USER", "%s", g->user),
		   log_field("ZTSEG_PID", "%d", (int)g->pid), log_field("ZTSEG_REASON", "%s", g->reason),
		   log_field("ZTSEG_EXPIRES", "%s", log_time(g->expires_usec, tb, sizeof(tb))),
		   log_field("ZTSEG_PACKETS", "%" PRIu64, packets), log_field("ZTSEG_BYTES", "%" PRIu64, bytes) },
		   11, "%s", msg);
}

/* Take grants [i] out: its elements are gone (deleted, or timed out by the kernel); then its connections. */
static void forget(struct manager *m, size_t i)
{
	ct_flush_grant(m->grants[i].id);
	memmove(&m->grants[i], &m->grants[i + 1], (m->n_grants - i - 1) * sizeof(*m->grants));
	m->n_grants--;
	/* Its counter: once nothing points at it. */
	if (!m->grant_sweep_usec)
		m->grant_sweep_usec = now_usec(CLOCK_REALTIME);
}

static ssize_t find_id(const struct manager *m, uint32_t id)
{
	for (size_t i = 0; i < m->n_grants; i++)
		if (m->grants[i].id == id)
			return (ssize_t)i;
	return -1;
}

/* ---- expiry ---- */

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t now = now_usec(CLOCK_REALTIME);
	_cleanup_free_ struct zt_nft_counter *ctr = NULL;
	size_t n_ctr = 0;
	bool any = false;

	for (size_t i = 0; i < m->n_grants;) {
		struct zt_grant *g = &m->grants[i];
		char ab[ZT_CIDR_STRLEN];
		uint64_t pk, by;

		if (g->expires_usec > now) {
			i++;
			continue;
		}
		/* The kernel timed its elements out already: the connections go now. */
		if (!any && zt_nft_counters_read(&ctr, &n_ctr) < 0)
			ctr = NULL;
		any = true;
		counts_of(ctr, n_ctr, g->id, &pk, &by);
		audit(LOG_NOTICE, "grant-expired", g, pk, by,
		      "grant %" PRIu32 " '%s' for %s expired (%" PRIu64 " packets, %" PRIu64 " bytes)", g->id, g->tmpl,
		      addr_str(g, ab, sizeof(ab)), pk, by);
		m->grants_expired++;
		forget(m, i);
	}
	if (any)
		save_later(m);
	if (m->grant_sweep_usec && m->grant_sweep_usec <= now + EXPIRY_SLACK_USEC)
		counters_sweep(m);
	timer_update(m);
	return 0;
}

static void timer_update(struct manager *m)
{
	uint64_t next = UINT64_MAX;

	if (!m->src_grant_timer)
		return;
	for (size_t i = 0; i < m->n_grants; i++)
		if (m->grants[i].expires_usec + EXPIRY_SLACK_USEC < next)
			next = m->grants[i].expires_usec + EXPIRY_SLACK_USEC;
	if (m->grant_sweep_usec && m->grant_sweep_usec < next)
		next = m->grant_sweep_usec;
	if (next == UINT64_MAX) {
		sd_event_source_set_enabled(m->src_grant_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(m->src_grant_timer, next);
	sd_event_source_set_enabled(m->src_grant_timer, SD_EVENT_ONESHOT);
}

/* ---- revoke ---- */

/* Revoke grants [i]: its elements first (or TCP's loose pickup re-admits), then connections, then its counter. */
static int revoke_one(struct manager *m, size_t i, const char *why, uid_t uid, pid_t pid)
{
	struct zt_grant g = m->grants[i];
	_cleanup_free_ struct zt_elem *el = NULL;
	_cleanup_free_ struct zt_nft_counter *ctr = NULL;
	struct zt_batch *b = NULL;
	char ab[ZT_CIDR_STRLEN];
	size_t n = 0, n_ctr = 0;
	uint64_t pk, by;
	int r;

	if (grant_elems(m, &g, &el, &n) < 0)
		n = 0;
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0)
		r = pairs_destroy(m, b, &g, NULL, 0);
	if (r >= 0)
		r = elems_emit(m, b, g.family == AF_INET ? "jit4" : "jit6", el, n, 0, ZT_NFT_MSG_DESTROYSETELEM);
	if (r >= 0)
		r = commit(m, b, "delete", g.id);
	zt_batch_free(b);
	if (zt_nft_counters_read(&ctr, &n_ctr) < 0)
		ctr = NULL;
	counts_of(ctr, n_ctr, g.id, &pk, &by);
	/* The elements are gone (or refilled without it); only then its connections. */
	if (r < 0) {
		memmove(&m->grants[i], &m->grants[i + 1], (m->n_grants - i - 1) * sizeof(*m->grants));
		m->n_grants--;
		kernel_refill(m, &g, 1, now_usec(CLOCK_REALTIME));
		ct_flush_grant(g.id);
	} else {
		forget(m, i);
	}
	m->grants_revoked++;
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=grant-revoked",
		   log_field("ZTSEG_GRANT", "%" PRIu32, g.id), log_field("ZTSEG_TEMPLATE", "%s", g.tmpl),
		   log_field("ZTSEG_SOURCE", "%s", addr_str(&g, ab, sizeof(ab))),
		   log_field("ZTSEG_UID", "%u", (unsigned)uid), log_field("ZTSEG_PID", "%d", (int)pid),
		   log_field("ZTSEG_REASON", "%s", g.reason), log_field("ZTSEG_PACKETS", "%" PRIu64, pk),
		   log_field("ZTSEG_BYTES", "%" PRIu64, by) }, 9,
		   "grant %" PRIu32 " '%s' for %s revoked: %s (%" PRIu64 " packets, %" PRIu64 " bytes)", g.id, g.tmpl,
		   addr_str(&g, ab, sizeof(ab)), why, pk, by);
	counters_sweep(m);
	save_later(m);
	timer_update(m);
	return 0;
}

/* ---- after a reload, a repair or a start ---- */

/* Is g still what its template means, within its max? */
static const char *still_valid(struct manager *m, const struct zt_grant *g, uint64_t now)
{
	const struct zt_plan_jit *pj = zt_plan_find_jit(m->cur.plan, g->tmpl);
	const struct zt_jit *t = zt_policy_find_jit(m->cur.policy, g->tmpl);

	if (!pj || !t)
		return "its template is gone";
	if (pj->meaning != g->meaning)
		return "its template, or a zone it names, changed meaning";
	if (zt_jit_to_ref(t, g->to) == -2)
		return "its destination zone is no longer in the template";
	if (g->expires_usec > now && (g->expires_usec - now) / ZT_USEC_PER_SEC > t->max_sec)
		return "its remaining time is over the template's max now";
	return NULL;
}

void manager_grant_sync(struct manager *m)
{
	uint64_t now = now_usec(CLOCK_REALTIME);
	_cleanup_free_ struct zt_grant *gone = NULL;
	size_t n_gone = 0;

	if (m->n_grants && !(gone = calloc(m->n_grants, sizeof(*gone)))) {
		log_error("grants: out of memory");
		return;
	}
	for (size_t i = 0; i < m->n_grants;) {
		const char *why = still_valid(m, &m->grants[i], now);
		char ab[ZT_CIDR_STRLEN];

		if (!why) {
			i++;
			continue;
		}
		gone[n_gone++] = m->grants[i];
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=grant-revoked",
			   log_field("ZTSEG_GRANT", "%" PRIu32, m->grants[i].id),
			   log_field("ZTSEG_TEMPLATE", "%s", m->grants[i].tmpl),
			   log_field("ZTSEG_SOURCE", "%s", addr_str(&m->grants[i], ab, sizeof(ab))) }, 4,
			   "grant %" PRIu32 " '%s' for %s revoked: %s", m->grants[i].id, m->grants[i].tmpl,
			   addr_str(&m->grants[i], ab, sizeof(ab)), why);
		memmove(&m->grants[i], &m->grants[i + 1], (m->n_grants - i - 1) * sizeof(*m->grants));
		m->n_grants--;
		m->grants_revoked++;
	}
	/* Elements first, connections after. */
	kernel_refill(m, gone, n_gone, now);
	for (size_t i = 0; i < n_gone; i++)
		ct_flush_grant(gone[i].id);
	if (n_gone) {
		save_now(m);
		counters_sweep(m);
	}
	timer_update(m);
}

/* Does the source of g still classify into its template's from (live routes)? */
void manager_grant_check_sources(struct manager *m, const struct zt_explain_env *env)
{
	for (size_t i = 0; i < m->n_grants;) {
		const struct zt_grant *g = &m->grants[i];
		const struct zt_jit *t = zt_policy_find_jit(m->cur.policy, g->tmpl);
		struct zt_endpoint from = { .has_addr = true, .family = g->family }, to = {};
		struct zt_port pkt = { .proto = ZT_PROTO_TCP, .lo = 1, .hi = 1, .icmp_type = -1 };
		struct zt_explanation e;
		struct zt_diags d = {};
		bool in = false;

		memcpy(from.addr, g->addr, 16);
		snprintf(to.zone, sizeof(to.zone), "world");
		if (t && zt_explain(m->cur.policy, &from, &to, &pkt, env, &e, &d) >= 0)
			for (size_t k = 0; k < t->f.n_from && !in; k++) {
				const struct zt_zone *r = &t->f.from[k].zone, *z = &e.from.zone;

				in = r->kind == ZT_ZONE_SEGMENT ? (z->kind == ZT_ZONE_SEGMENT || z->kind == ZT_ZONE_SUBNET) &&
								   z->seg == r->seg
								 : r->kind == z->kind && r->seg == z->seg && r->sub == z->sub &&
								   r->bnd == z->bnd;
			}
		zt_diags_clear(&d);
		if (in || !t) {
			i++;
			continue;
		}
		revoke_one(m, i, "its source moved out of the template's from", 0, getpid());
	}
}

/* ---- the control commands ---- */

static bool peer_in_group(const struct zt_ctl_peer *p, gid_t gid)
{
	if (p->gid == gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

static bool may_request(const struct zt_jit *t, const struct zt_ctl_peer *p)
{
	if (p->uid == 0 || p->uid == geteuid())
		return true;
	for (size_t i = 0; i < t->n_requesters; i++) {
		char buf[4096];
		struct group gr, *res = NULL;

		if (getgrnam_r(t->requesters[i], &gr, buf, sizeof(buf), &res) == 0 && res &&
		    peer_in_group(p, res->gr_gid))
			return true;
	}
	return false;
}

static void user_name(uid_t uid, char *buf, size_t len)
{
	char pb[4096];
	struct passwd pw, *res = NULL;

	if (getpwuid_r(uid, &pw, pb, sizeof(pb), &res) == 0 && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
}

static int refuse(struct zt_ctl_conn *c, const struct zt_ctl_request *req, const char *tmpl, const char *src,
		  struct manager *m, const char *fmt, ...) _printf_(6, 7);
static int refuse(struct zt_ctl_conn *c, const struct zt_ctl_request *req, const char *tmpl, const char *src,
		  struct manager *m, const char *fmt, ...)
{
	char msg[512], user[ZT_GRANT_USER_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	user_name(req->peer->uid, user, sizeof(user));
	m->grants_refused++;
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=grant-refused",
		   log_field("ZTSEG_TEMPLATE", "%s", tmpl), log_field("ZTSEG_SOURCE", "%s", src),
		   log_field("ZTSEG_UID", "%u", (unsigned)req->peer->uid), log_field("ZTSEG_USER", "%s", user),
		   log_field("ZTSEG_PID", "%d", (int)req->peer->pid) }, 6,
		   "grant refused to %s (uid %u, pid %d): %s", user, (unsigned)req->peer->uid, (int)req->peer->pid, msg);
	return zt_ctl_conn_reply_errorf(c, req->now_usec, "%s", msg);
}

/* A grant as grant, grants and status show it; with its counter's packets and bytes when ctr has them. */
static json_t *grant_json(const struct zt_grant *g, uint64_t now, const struct zt_nft_counter *ctr, size_t n_ctr)
{
	char ab[ZT_CIDR_STRLEN], tb[64];
	uint64_t pk, by;

	counts_of(ctr, n_ctr, g->id, &pk, &by);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I}", "id", (json_int_t)g->id,
			 "template", g->tmpl, "source", addr_str(g, ab, sizeof(ab)), "to", g->to[0] ? g->to : "*",
			 "user", g->user, "uid", (json_int_t)g->uid, "reason", g->reason, "expires",
			 log_time(g->expires_usec, tb, sizeof(tb)), "expires_usec", (json_int_t)g->expires_usec,
			 "remaining_seconds", (json_int_t)(remaining_ms(g, now) / 1000), "granted",
			 log_time(g->granted_usec, (char[64]){ 0 }, 64), "pid", (json_int_t)g->pid, "packets",
			 (json_int_t)pk, "bytes", (json_int_t)by);
}

int manager_grant_request(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req,
			  const struct zt_explain_env *env)
{
	struct zt_grant_request q;
	struct zt_grant g = {};
	const struct zt_jit *t;
	const struct zt_plan_jit *pj;
	struct zt_endpoint from = { .has_addr = true }, to = {};
	struct zt_port pkt = { .proto = ZT_PROTO_TCP, .lo = 1, .hi = 1, .icmp_type = -1 };
	struct zt_explanation e;
	struct zt_diags d = {};
	char err[256], ab[ZT_CIDR_STRLEN], zb[ZT_ENDPOINT_NAME_MAX], tb[64], db[32];
	uint64_t now = now_usec(CLOCK_REALTIME);
	bool in = false;
	int r;

	if (zt_grant_request_parse(req->args, &q, err, sizeof(err)) < 0)
		return refuse(c, req, "?", "?", m, "%s", err);
	zt_addr_fmt(q.family, q.addr, ab, sizeof(ab));
	t = zt_policy_find_jit(m->cur.policy, q.tmpl);
	pj = zt_plan_find_jit(m->cur.plan, q.tmpl);
	if (!t || !pj)
		return refuse(c, req, q.tmpl, ab, m, "grant: no jit template '%s' in the running policy", q.tmpl);
	if (!may_request(t, req->peer))
		return refuse(c, req, q.tmpl, ab, m,
			      "grant: permission denied: uid %u is in none of the groups template '%s' names as requesters",
			      (unsigned)req->peer->uid, q.tmpl);
	if (!q.seconds)
		q.seconds = t->default_sec ? t->default_sec : t->max_sec;
	if (q.seconds > t->max_sec)
		return refuse(c, req, q.tmpl, ab, m, "grant: %s is over template '%s''s max of %s",
			      zt_duration_fmt(q.seconds, db, sizeof(db)), q.tmpl,
			      zt_duration_fmt(t->max_sec, tb, sizeof(tb)));
	if (zt_jit_to_ref(t, q.to) == -2)
		return refuse(c, req, q.tmpl, ab, m, "grant: '%s' is not in template '%s''s to", q.to, q.tmpl);
	/* Where the source is now, with the routes the daemon sees. */
	from.family = q.family;
	memcpy(from.addr, q.addr, 16);
	snprintf(to.zone, sizeof(to.zone), "world");
	if (zt_explain(m->cur.policy, &from, &to, &pkt, env, &e, &d) >= 0)
		for (size_t k = 0; k < t->f.n_from && !in; k++) {
			const struct zt_zone *rz = &t->f.from[k].zone, *z = &e.from.zone;

			in = rz->kind == ZT_ZONE_SEGMENT ? (z->kind == ZT_ZONE_SEGMENT || z->kind == ZT_ZONE_SUBNET) &&
								  z->seg == rz->seg
							 : rz->kind == z->kind && rz->seg == z->seg && rz->sub == z->sub &&
								  rz->bnd == z->bnd;
		}
	zt_diags_clear(&d);
	if (!in)
		return refuse(c, req, q.tmpl, ab, m, "grant: %s is in zone %s, not in template '%s''s from", ab,
			      zt_zone_fmt(m->cur.policy, &e.from.zone, zb, sizeof(zb)), q.tmpl);
	for (size_t i = 0; i < m->n_grants; i++)
		if (streq(m->grants[i].tmpl, q.tmpl) && m->grants[i].family == q.family &&
		    !memcmp(m->grants[i].addr, q.addr, 16))
			return refuse(c, req, q.tmpl, ab, m,
				      "grant: grant %" PRIu32 " of '%s' for %s is live until %s; revoke it first "
				      "(a grant is never extended)", m->grants[i].id, q.tmpl, ab,
				      log_time(m->grants[i].expires_usec, tb, sizeof(tb)));
	if (m->n_grants >= GRANTS_MAX)
		return refuse(c, req, q.tmpl, ab, m, "grant: %d grants are live already", GRANTS_MAX);
	if (m->grant_next_id == 0 || m->grant_next_id > ZT_GRANT_ID_MAX)
		m->grant_next_id = 1;
	while (find_id(m, m->grant_next_id) >= 0)
		m->grant_next_id = m->grant_next_id % ZT_GRANT_ID_MAX + 1;
	g.id = m->grant_next_id;
	m->grant_next_id = g.id % ZT_GRANT_ID_MAX + 1;
	snprintf(g.tmpl, sizeof(g.tmpl), "%s", q.tmpl);
	g.meaning = pj->meaning;
	g.family = q.family;
	memcpy(g.addr, q.addr, 16);
	snprintf(g.to, sizeof(g.to), "%s", q.to);
	g.granted_usec = now;
	g.expires_usec = now + (uint64_t)q.seconds * ZT_USEC_PER_SEC;
	g.uid = req->peer->uid;
	g.pid = req->peer->pid;
	user_name(g.uid, g.user, sizeof(g.user));
	snprintf(g.reason, sizeof(g.reason), "%s", q.reason);
	r = kernel_add(m, &g, now);
	if (r < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "grant: the kernel refused it: %s", strerror(-r));
	if (ZT_GROW(m->grants, m->cap_grants, m->n_grants) < 0)
		return -ENOMEM;
	m->grants[m->n_grants++] = g;
	m->grants_granted++;
	r = zt_ctl_conn_reply_ok(c, grant_json(&g, now, NULL, 0), req->now_usec);
	audit(LOG_NOTICE, "grant", &g, 0, 0, "grant %" PRIu32 " '%s' for %s%s%s until %s to %s (uid %u, pid %d): \"%s\"", g.id,
	      g.tmpl, ab, g.to[0] ? " to " : "", g.to, log_time(g.expires_usec, tb, sizeof(tb)), g.user,
	      (unsigned)g.uid, (int)g.pid, g.reason);
	save_later(m);
	timer_update(m);
	return r;
}

int manager_grant_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	json_t *arr = json_array();
	uint64_t now = now_usec(CLOCK_REALTIME);
	_cleanup_free_ struct zt_nft_counter *ctr = NULL;
	size_t n_ctr = 0;

	if (!arr)
		return -ENOMEM;
	if (json_object_size(req->args)) {
		json_decref(arr);
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "grants: takes no arguments");
	}
	if (m->n_grants && zt_nft_counters_read(&ctr, &n_ctr) < 0)
		ctr = NULL;
	for (size_t i = 0; i < m->n_grants; i++)
		if (json_array_append_new(arr, grant_json(&m->grants[i], now, ctr, n_ctr)) < 0) {
			json_decref(arr);
			return -ENOMEM;
		}
	return zt_ctl_conn_reply_ok(c, json_pack("{s:o}", "grants", arr), req->now_usec);
}

int manager_grant_revoke(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	const json_t *v = json_object_get(req->args, "id");
	const struct zt_jit *t;
	char why[64];
	ssize_t i;

	if (!json_is_integer(v) || json_object_size(req->args) != 1 || json_integer_value(v) < 1 ||
	    json_integer_value(v) > ZT_GRANT_ID_MAX)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "revoke: expected the argument id (a grant id)");
	i = find_id(m, (uint32_t)json_integer_value(v));
	if (i < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "revoke: no live grant %lld (ztsegctl grants lists them)",
						(long long)json_integer_value(v));
	t = zt_policy_find_jit(m->cur.policy, m->grants[i].tmpl);
	if (!(req->peer->uid == 0 || (t && may_request(t, req->peer)))) {
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=revoke-refused",
			   log_field("ZTSEG_GRANT", "%" PRIu32, m->grants[i].id),
			   log_field("ZTSEG_UID", "%u", (unsigned)req->peer->uid),
			   log_field("ZTSEG_PID", "%d", (int)req->peer->pid) }, 4,
			   "revoke of grant %" PRIu32 " refused to uid %u (pid %d): not a requester of '%s'",
			   m->grants[i].id, (unsigned)req->peer->uid, (int)req->peer->pid, m->grants[i].tmpl);
		return zt_ctl_conn_reply_errorf(c, req->now_usec,
						"revoke: permission denied: only root and requesters of template '%s' may revoke its grants",
						m->grants[i].tmpl);
	}
	snprintf(why, sizeof(why), "by uid %u, pid %d", (unsigned)req->peer->uid, (int)req->peer->pid);
	revoke_one(m, (size_t)i, why, req->peer->uid, req->peer->pid);
	return zt_ctl_conn_reply_ok(c, json_pack("{s:I}", "revoked", (json_int_t)json_integer_value(v)), req->now_usec);
}

/* ---- status and explain ---- */

int manager_grant_status(struct manager *m, json_t *status)
{
	json_t *arr = json_array();
	uint64_t now = now_usec(CLOCK_REALTIME);
	_cleanup_free_ struct zt_nft_counter *ctr = NULL;
	size_t n_ctr = 0;

	if (!arr)
		return -ENOMEM;
	if (m->n_grants && zt_nft_counters_read(&ctr, &n_ctr) < 0)
		ctr = NULL;
	for (size_t i = 0; i < m->n_grants; i++)
		json_array_append_new(arr, grant_json(&m->grants[i], now, ctr, n_ctr));
	json_object_set_new(status, "grants", arr);
	json_object_set_new(status, "grant_events",
			    json_pack("{s:I, s:I, s:I, s:I}", "granted", (json_int_t)m->grants_granted, "refused",
				      (json_int_t)m->grants_refused, "revoked", (json_int_t)m->grants_revoked,
				      "expired", (json_int_t)m->grants_expired));
	return 0;
}

int manager_grant_explain_list(struct manager *m, struct zt_explain_grant **ret, size_t *n_ret)
{
	struct zt_explain_grant *v = calloc(m->n_grants ? m->n_grants : 1, sizeof(*v));
	uint64_t now = now_usec(CLOCK_REALTIME);
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_grants; i++) {
		const struct zt_grant *g = &m->grants[i];
		const struct zt_jit *t = zt_policy_find_jit(m->cur.policy, g->tmpl);
		char ab[ZT_CIDR_STRLEN], tb[64];
		time_t secs = (time_t)(g->expires_usec / ZT_USEC_PER_SEC);
		struct tm tm;

		if (!t || g->expires_usec <= now)
			continue;
		gmtime_r(&secs, &tm);
		strftime(tb, sizeof(tb), "%H:%M UTC", &tm);
		v[n] = (struct zt_explain_grant){ .tmpl = t, .to_ref = zt_jit_to_ref(t, g->to), .family = g->family };
		memcpy(v[n].addr, g->addr, 16);
		snprintf(v[n].what, sizeof(v[n].what), "jit grant %" PRIu32 " '%s' for %s until %s (granted by %s: \"%s\")",
			 g->id, g->tmpl, addr_str(g, ab, sizeof(ab)), tb, g->user, g->reason);
		n++;
	}
	*ret = v;
	*n_ret = n;
	return 0;
}

/* ---- start, remove, free ---- */

/*
 * After the first apply: the grants the state file records that the
 * kernel still holds, with the kernel's remaining time (a restart never
 * extends a grant, nor brings back one whose element is gone), the
 * elements rewritten for this policy, and the timers.
 */
int manager_grant_start(struct manager *m)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_free_ struct u64_ms *live = NULL;
	size_t len = 0, n_live = 0;
	const char *why = NULL;
	uint64_t now = now_usec(CLOCK_REALTIME);
	int r;

	r = sd_event_add_time(m->event, &m->src_grant_timer, CLOCK_REALTIME, UINT64_MAX, 1000, on_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_grant_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_grant_save, CLOCK_MONOTONIC, UINT64_MAX, 10000, on_save, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_grant_save, SD_EVENT_OFF);
	if (r < 0)
		return r;
	r = kernel_live(&live, &n_live);
	if (r < 0)
		log_warning("cannot read the live grants from the kernel: %s", strerror(-r));
	r = zt_state_read(m->state_dir, GRANTS_FILE, GRANTS_FILE_MAX, getuid(), &buf, &len, &why);
	if (r < 0 && r != -ENOENT)
		log_warning("ignoring %s/%s: %s", m->state_dir, GRANTS_FILE, why ? why : strerror(-r));
	if (r < 0)
		len = 0;
	for (char *line = buf, *nl; line < buf + len; line = nl + 1) {
		struct zt_grant g;
		unsigned long next;
		bool found = false;
		char ab[ZT_CIDR_STRLEN];

		nl = memchr(line, '\n', (size_t)(buf + len - line));
		if (!nl)
			break;
		*nl = '\0';
		if (sscanf(line, "next %lu", &next) == 1) {
			m->grant_next_id = next <= ZT_GRANT_ID_MAX ? (uint32_t)next : 1;
			continue;
		}
		if (zt_grant_line_parse(line, &g) < 0) {
			log_warning("%s/%s: ignoring a malformed line", m->state_dir, GRANTS_FILE);
			continue;
		}
		for (size_t i = 0; i < n_live; i++)
			if (zt_mark_is_grant(live[i].mark) && zt_grant_id_of(live[i].mark) == g.id) {
				uint64_t kexp = now + live[i].ms * 1000;

				/* The kernel's clock decides; the record can only shorten it. */
				if (kexp < g.expires_usec)
					g.expires_usec = kexp;
				found = live[i].ms > 0;
			}
		if (!found || g.expires_usec <= now) {
			audit(LOG_NOTICE, "grant-expired", &g, 0, 0, "grant %" PRIu32 " '%s' for %s expired while ztsegd was not running",
			      g.id, g.tmpl, addr_str(&g, ab, sizeof(ab)));
			m->grants_expired++;
			ct_flush_grant(g.id);
			continue;
		}
		if (find_id(m, g.id) >= 0 || ZT_GROW(m->grants, m->cap_grants, m->n_grants) < 0)
			continue;
		m->grants[m->n_grants++] = g;
		if (g.id >= m->grant_next_id)
			m->grant_next_id = g.id % ZT_GRANT_ID_MAX + 1;
	}
	if (m->n_grants)
		log_notice("%zu grants carried over from the last run", m->n_grants);
	/* Live marks nobody recorded (a crash before the record was written): gone, connections included. */
	for (size_t i = 0; i < n_live; i++) {
		struct zt_grant orphan = { .id = zt_grant_id_of(live[i].mark), .expires_usec = now + 1 };

		if (!zt_mark_is_grant(live[i].mark) || find_id(m, orphan.id) >= 0)
			continue;
		log_notice("grant %" PRIu32 " is in the kernel without a record: removed", orphan.id);
		kernel_refill(m, &orphan, 1, now);
		ct_flush_grant(orphan.id);
		/* Its other pairs' marks are gone with it: the same id once. */
		for (size_t j = i + 1; j < n_live; j++)
			if (zt_mark_is_grant(live[j].mark) && zt_grant_id_of(live[j].mark) == orphan.id)
				live[j].mark = 0;
	}
	manager_grant_sync(m);
	save_now(m);
	counters_sweep(m);
	timer_update(m);
	return 0;
}

/* The table was written anew (repair): every grant back with what is left of its time. */
void manager_grant_readd(struct manager *m)
{
	uint64_t now = now_usec(CLOCK_REALTIME);

	for (size_t i = 0; i < m->n_grants; i++)
		if (m->grants[i].expires_usec > now)
			kernel_add(m, &m->grants[i], now);
}

void manager_grant_remove_state(struct manager *m)
{
	zt_state_remove(m->state_dir, GRANTS_FILE);
}

void manager_grant_free(struct manager *m)
{
	int enabled = SD_EVENT_OFF;

	/* A record still waiting to be written is written now (SIGTERM right after a grant). */
	if (m->src_grant_save && sd_event_source_get_enabled(m->src_grant_save, &enabled) >= 0 &&
	    enabled != SD_EVENT_OFF)
		save_now(m);
	m->src_grant_timer = sd_event_source_disable_unref(m->src_grant_timer);
	m->src_grant_save = sd_event_source_disable_unref(m->src_grant_save);
	free(m->grants);
	m->grants = NULL;
	m->n_grants = m->cap_grants = 0;
}
