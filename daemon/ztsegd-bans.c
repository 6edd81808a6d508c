/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flood bans (threats.flood): the kernel makes and times them from the
 * packet path; the daemon learns of them by reading the ban maps once a
 * second (the journal records each ban with the limit that tripped and
 * cuts the source's open connections), lists them, and lifts one on
 * request (`ztsegctl unban`, authorized like reload).
 */
#include <inttypes.h>
#include <stdio.h>
#include "ban.h"
#include "conntrack.h"
#include "grant.h"
#include "explain.h"
#include "nft.h"
#include "ztsegd.h"

#define BANS_POLL_USEC (1 * ZT_USEC_PER_SEC)

static bool plan_has_bans(const struct zt_plan *p)
{
	for (size_t i = 0; p && i < p->n_flood; i++)
		if (p->flood[i].ban_sec)
			return true;
	return false;
}

static int bans_read(struct manager *m, struct zt_ban **ret, size_t *n)
{
	struct zt_nl nl;
	int r;

	*ret = NULL;
	*n = 0;
	if (!plan_has_bans(m->cur.plan))
		return 0;
	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 4 << 20);
	if (r < 0)
		return r;
	r = zt_bans_dump(&nl, m->cur.plan, ret, n);
	zt_nl_close(&nl);
	return r;
}

/* Bans in one order (limit, family, address), so that two reads compare in one pass. */
static int ban_cmp(const void *x, const void *y)
{
	const struct zt_ban *a = x, *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

/*
 * Sorted, and without the duplicates a dump can hold when the packet path
 * adds elements while it runs (a dump resumes by position); returns the count.
 */
static size_t bans_sort(struct zt_ban *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), ban_cmp);
	for (size_t i = 1; i < n; i++)
		if (ban_cmp(&v[k], &v[i]) != 0)
			v[++k] = v[i];
	return k + 1;
}

/* A new ban: the journal. Its source's open connections are cut by the caller, with the poll's others. */
static void ban_new(struct manager *m, const struct zt_ban *b)
{
	const struct zt_plan_flood *f = &m->cur.plan->flood[b->flood];
	char src[64], pos[64];

	zt_ban_source_fmt(b, src, sizeof(src));
	snprintf(pos, sizeof(pos), "%s:%u", f->pos.file ? f->pos.file : "?", f->pos.line);
	m->bans_seen++;
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=ban", log_field("ZTSEG_SOURCE", "%s", src),
		   log_field("ZTSEG_ZONE", "%s", f->zones), log_field("ZTSEG_REASON", "%s", zt_ban_reason_name(b->reason)),
		   log_field("ZTSEG_LIMIT", "%s", f->limit), log_field("ZTSEG_POLICY", "%s", pos),
		   log_field("ZTSEG_BAN_SECONDS", "%" PRIu32, f->ban_sec) }, 7,
		   "flood ban: %s to %s%s for %" PRIu32 "s: over its %s limit (%s, %s)", src,
		   f->scope_all ? "every zone (limit to " : "", f->zones, f->ban_sec, zt_ban_reason_name(b->reason),
		   f->limit, pos);
}

static void ban_gone(struct manager *m, const struct zt_ban *b, uint64_t now)
{
	char src[64];

	zt_ban_source_fmt(b, src, sizeof(src));
	/* Gone within a poll of its expiry: it expired; else it was lifted (unban, reload). */
	if (m->bans_read_usec + b->expires_ms * 1000 <= now + 1500 * 1000) {
		m->bans_expired++;
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=ban-expired", log_field("ZTSEG_SOURCE", "%s", src) },
			   2, "flood ban of %s expired", src);
	} else
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=ban-lifted", log_field("ZTSEG_SOURCE", "%s", src) },
			   2, "flood ban of %s lifted", src);
}

/*
 * The open connections of newly banned sources, cut in one conntrack pass.
 * A flood that bans thousands of sources at once (spoofed, with
 * ban-spoofable) would make that pass long (every entry against every
 * prefix): past CUT_MAX new bans a poll cuts none and says so; their new
 * connections are dropped all the same.
 */
#define CUT_MAX 256

static void bans_cut(struct manager *m, const struct zt_cidr *pfx, size_t n, size_t n_new)
{
	struct zt_ct_stats st = {};
	int r;

	if (!n_new)
		return;
	if (n_new > CUT_MAX) {
		log_warning("%zu new flood bans at once: their open connections are not cut (at most %d per second)",
			    n_new, CUT_MAX);
		return;
	}
	r = zt_ct_flush_prefixes(pfx, n, &st);
	if (r < 0)
		log_warning("cannot cut the open connections of banned sources: %s", strerror(-r));
	else if (st.deleted)
		log_info("%" PRIu64 " open connections of newly banned sources cut", st.deleted);
}

/*
 * Is there anything to read? The flood_bans counter moved (a new ban), a
 * known ban is due to expire, or the plan changed (a reload) or a ban was
 * lifted: otherwise a poll costs one counter read, whatever the bans.
 */
static bool poll_due(struct manager *m, uint64_t now)
{
	struct zt_nl nl;
	uint64_t made = 0;
	int r;

	if (!plan_has_bans(m->cur.plan))
		return m->n_bans > 0;
	if (m->bans_dirty || m->generation != m->bans_gen || now >= m->bans_due_usec)
		return true;
	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 1 << 16);
	if (r >= 0) {
		r = zt_bans_made(&nl, &made);
		zt_nl_close(&nl);
	}
	return r < 0 || made != m->bans_made;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_free_ struct zt_ban *v = NULL;
	_cleanup_free_ struct zt_cidr *pfx = NULL;
	size_t n = 0, i = 0, j = 0, n_new = 0, n_pfx = 0;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), made = 0;
	struct zt_nl nl;
	int r;

	sd_event_source_set_time(s, usec + BANS_POLL_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	if (!poll_due(m, t0))
		return 0;
	/* The counter first: a ban made after it is read again next time. */
	if (zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 1 << 16) >= 0) {
		if (zt_bans_made(&nl, &made) < 0)
			made = UINT64_MAX;
		zt_nl_close(&nl);
	}
	r = bans_read(m, &v, &n);
	if (r < 0) {
		log_debug("cannot read the flood bans: %s", strerror(-r));
		return 0;
	}
	n = bans_sort(v, n);
	pfx = calloc(CUT_MAX, sizeof(*pfx));
	/* Both sorted: one pass finds the new and the gone. */
	while (i < n || j < m->n_bans) {
		int c = i == n ? 1 : j == m->n_bans ? -1 : ban_cmp(&v[i], &m->bans[j]);

		if (c < 0) {
			ban_new(m, &v[i]);
			if (pfx && n_pfx < CUT_MAX) {
				pfx[n_pfx] = (struct zt_cidr){ .family = v[i].family, .plen = v[i].plen };
				memcpy(pfx[n_pfx++].addr, v[i].addr, 16);
			}
			n_new++;
			i++;
		} else if (c > 0)
			ban_gone(m, &m->bans[j++], t0);
		else
			i++, j++;
	}
	bans_cut(m, pfx, n_pfx, n_new);
	free(m->bans);
	m->bans = TAKE_PTR(v);
	m->n_bans = n;
	m->bans_made = made;
	m->bans_gen = m->generation;
	m->bans_dirty = false;
	m->bans_read_usec = t0;
	m->bans_due_usec = UINT64_MAX;
	for (i = 0; i < n; i++)
		if (t0 + m->bans[i].expires_ms * 1000 < m->bans_due_usec)
			m->bans_due_usec = t0 + m->bans[i].expires_ms * 1000;
	m->bans_reads++;
	m->bans_poll_usec = now_usec(CLOCK_MONOTONIC) - t0;
	if (m->bans_poll_usec > m->bans_poll_max_usec)
		m->bans_poll_max_usec = m->bans_poll_usec;
	return 0;
}

int manager_bans_start(struct manager *m)
{
	_cleanup_free_ struct zt_ban *v = NULL;
	size_t n = 0;

	/* Bans the kernel kept over a restart are known, not new. */
	m->bans_dirty = true;	/* the first poll reads, and learns the counter */
	if (bans_read(m, &v, &n) >= 0) {
		m->n_bans = bans_sort(v, n);
		m->bans = TAKE_PTR(v);
	}
	return sd_event_add_time(m->event, &m->src_bans, CLOCK_MONOTONIC,
				 now_usec(CLOCK_MONOTONIC) + BANS_POLL_USEC, 10000, on_poll, m);
}

static json_t *ban_json(const struct manager *m, const struct zt_ban *b)
{
	const struct zt_plan_flood *f = &m->cur.plan->flood[b->flood];
	char src[64], pos[64];

	zt_ban_source_fmt(b, src, sizeof(src));
	snprintf(pos, sizeof(pos), "%s:%u", f->pos.file ? f->pos.file : "?", f->pos.line);
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:I}", "source", src, "zone", f->zones,
			 "reason", zt_ban_reason_name(b->reason), "everywhere", f->scope_all, "limit", f->limit,
			 "policy", pos, "remaining_ms", (json_int_t)b->expires_ms, "duration_ms",
			 (json_int_t)b->timeout_ms, "packets", (json_int_t)b->packets);
}

int manager_bans_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	_cleanup_free_ struct zt_ban *v = NULL;
	json_t *arr = json_array();
	size_t n = 0;
	int r;

	if (!arr)
		return -ENOMEM;
	r = bans_read(m, &v, &n);
	for (size_t i = 0; r >= 0 && i < n; i++)
		if (json_array_append_new(arr, ban_json(m, &v[i])) < 0)
			r = -ENOMEM;
	if (r < 0) {
		json_decref(arr);
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "bans: cannot read the ban sets: %s", strerror(-r));
	}
	return zt_ctl_conn_reply_ok(c, json_pack("{s:o}", "bans", arr), req->now_usec);
}

int manager_bans_unban(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	const json_t *a = json_object_get(req->args, "address");
	_cleanup_free_ struct zt_ban *v = NULL;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	uint8_t family, addr[16] = {};
	size_t n = 0, hit = 0;
	int r, err = 0;

	if (!json_is_string(a) || json_object_size(req->args) != 1 || json_string_length(a) > 64 ||
	    zt_addr_parse(json_string_value(a), &family, addr) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "unban: expected the argument address (an IPv4 or IPv6 address)");
	r = bans_read(m, &v, &n);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct zt_cidr pfx = { .family = v[i].family, .plen = v[i].plen };

		memcpy(pfx.addr, v[i].addr, 16);
		hit += v[i].family == family && zt_cidr_contains_addr(&pfx, family, addr);
	}
	if (r >= 0 && !hit)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "unban: %s is not banned", json_string_value(a));
	if (r >= 0)
		r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0)
		r = zt_bans_emit_unban(b, m->cur.plan, family, addr);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	zt_batch_free(b);
	if (r < 0) {
		r = zt_ctl_conn_reply_errorf(c, req->now_usec, "unban: %s", d.n ? d.v[0].msg : strerror(err ? err : -r));
		zt_diags_clear(&d);
		return r;
	}
	m->bans_lifted += hit;
	m->bans_dirty = true;
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=unban",
		   log_field("ZTSEG_SOURCE", "%s", json_string_value(a)),
		   log_field("ZTSEG_UID", "%u", (unsigned)req->peer->uid),
		   log_field("ZTSEG_PID", "%d", (int)req->peer->pid) }, 4,
		   "flood ban of %s lifted (%zu) by uid %u, pid %d", json_string_value(a), hit,
		   (unsigned)req->peer->uid, (int)req->peer->pid);
	return zt_ctl_conn_reply_ok(c, json_pack("{s:I}", "lifted", (json_int_t)hit), req->now_usec);
}

/*
 * Does limit i of the running policy cover the connection: its zone z (a
 * segment covers its subnets); a flow limit, the flow that decided it?
 */
static bool limit_covers(const struct zt_policy *p, size_t i, const struct zt_explanation *e)
{
	const struct zt_flood *f = &p->threats.flood[i];
	const struct zt_zone *z = &e->to.zone;

	if (f->flow && (f->flow_idx < 0 || e->flow != &p->hub.flows[f->flow_idx]))
		return false;
	if (f->flow && !f->n_to)
		return true;
	for (size_t j = 0; j < f->n_to; j++) {
		const struct zt_zone *t = &f->to[j].zone;

		if (t->kind == z->kind && t->seg == z->seg && t->sub == z->sub && t->bnd == z->bnd)
			return true;
		if (t->kind == ZT_ZONE_SEGMENT && z->kind == ZT_ZONE_SUBNET && t->seg == z->seg)
			return true;
	}
	return false;
}

int manager_bans_explain(struct manager *m, const struct zt_explanation *e, char *buf, size_t len)
{
	const struct zt_policy *p = m->cur.policy;
	_cleanup_free_ struct zt_ban *v = NULL;
	size_t n = 0;
	int r;

	/* Only what reaches judge meets the limits: not the host's own connections, spoofed or out of scope. */
	if (!e->from.has_addr || e->from.zone.kind == ZT_ZONE_HOST || e->reason == ZT_REASON_LOOPBACK ||
	    e->reason == ZT_REASON_SPOOFED || e->reason == ZT_REASON_NEIGHBOUR || e->reason == ZT_REASON_LINKLOCAL ||
	    e->reason == ZT_REASON_OUT_OF_SCOPE || e->reason == ZT_REASON_HOST_NOT_PROTECTED)
		return 0;
	for (size_t i = 0; i < p->threats.n_except; i++)
		if (zt_cidr_contains_addr(&p->threats.except[i], e->family, e->from.addr))
			return 0;
	if ((r = bans_read(m, &v, &n)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct zt_plan_flood *f = &m->cur.plan->flood[v[i].flood];
		struct zt_cidr pfx = { .family = v[i].family, .plen = v[i].plen };
		char src[64], rem[32];

		memcpy(pfx.addr, v[i].addr, 16);
		if (v[i].family != e->family || !zt_cidr_contains_addr(&pfx, e->family, e->from.addr) ||
		    v[i].flood >= p->threats.n_flood || (!f->scope_all && !limit_covers(p, v[i].flood, e)))
			continue;
		snprintf(buf, len, "flood ban of %s to %s%s (%s, %s left; threats.flood %s:%u): its new "
			 "connections are dropped", zt_ban_source_fmt(&v[i], src, sizeof(src)),
			 f->scope_all ? "every zone, limit to " : "", f->zones, zt_ban_reason_name(v[i].reason),
			 zt_duration_fmt((v[i].expires_ms + 999) / 1000, rem, sizeof(rem)),
			 f->pos.file ? f->pos.file : "?", f->pos.line);
		return 1;
	}
	return 0;
}

int manager_bans_status(struct manager *m, json_t *status)
{
	json_t *o;

	if (!m->cur.plan || !m->cur.plan->n_flood)
		return 0;
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "reads", (json_int_t)m->bans_reads, "active", (json_int_t)m->n_bans, "banned", (json_int_t)m->bans_seen,
		      "expired", (json_int_t)m->bans_expired, "lifted", (json_int_t)m->bans_lifted, "last_poll_usec",
		      (json_int_t)m->bans_poll_usec, "max_poll_usec", (json_int_t)m->bans_poll_max_usec);
	if (!o)
		return -ENOMEM;
	return json_object_set_new(status, "bans", o) < 0 ? -ENOMEM : 0;
}

void manager_bans_free(struct manager *m)
{
	m->src_bans = sd_event_source_unref(m->src_bans);
	free(m->bans);
	m->bans = NULL;
	m->n_bans = 0;
}
