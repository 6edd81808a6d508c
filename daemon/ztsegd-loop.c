/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's event loop: one sd-event loop owns signals, rtnetlink, the
 * nf_tables monitor, NFLOG, the control socket, the timers and the
 * watchdog. Every trigger marks work; one deferred pass reconciles.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <linux/netfilter/nf_tables.h>
#include <systemd/sd-daemon.h>
#include "conntrack.h"
#include "lkg.h"
#include "version.h"
#include "ztsegd.h"

#define ENC_IF_SET "enc_if"
/* How often the table's presence is checked (the watchdog's condition). */
#define VERIFY_USEC (1 * ZT_USEC_PER_SEC)
/* Suppressed packet logs are summed up this often. */
#define REPORT_USEC (10 * ZT_USEC_PER_SEC)
/* Someone fighting the daemon over its table gets repairs at this rate. */
#define REPAIR_RATE 10
#define REPAIR_BURST 20
#define REPAIR_RETRY_USEC (200 * 1000)
/* Logged packets written per second (the rules' own limit comes first). */
#define PACKET_RATE 50
#define PACKET_BURST 200

/* Work first, reconciling after everything queued has been read. */
#define PRIO_NETLINK (-10)
#define PRIO_CTL 0
#define PRIO_NFLOG 10
#define PRIO_RECONCILE 50

uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * ZT_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

void manager_dirty(struct manager *m)
{
	if (m->src_defer)
		sd_event_source_set_enabled(m->src_defer, SD_EVENT_ONESHOT);
}

static void set_last_error(struct manager *m, const char *fmt, ...) _printf_(2, 3);
static void set_last_error(struct manager *m, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(m->last_error);
	m->last_error = s;
}

/* ---- systemd ---- */

static void status_counts(const struct manager *m, size_t *ifs, size_t *routed)
{
	*ifs = *routed = 0;
	for (size_t i = 0; m->members && i < m->members->n_segs; i++) {
		*ifs += m->members->segs[i].n_ifs;
		*routed += m->members->segs[i].n_routed;
	}
}

static void notify_status(struct manager *m, const char *extra)
{
	const struct zt_policy *p = m->cur.policy;
	size_t ifs, routed, flows = 0;
	char line[sizeof(m->status_line)];

	status_counts(m, &ifs, &routed);
	if (p) {
		flows = p->hub.n_flows;
		for (size_t i = 0; i < p->n_segs; i++)
			flows += p->segs[i].n_rules;
	}
	snprintf(line, sizeof(line), "%s: generation %llu, %zu segments, %zu interfaces, %zu routed prefixes, "
		 "%zu flows; %llu tamper, %llu repairs%s%s",
		 zt_daemon_state_name(m->state), (unsigned long long)m->generation, p ? p->n_segs : 0, ifs, routed,
		 flows, (unsigned long long)m->events.tamper, (unsigned long long)m->events.repairs,
		 m->last_error ? "; last error: " : "", m->last_error ? m->last_error : "");
	if (!extra && streq(line, m->status_line))
		return;
	snprintf(m->status_line, sizeof(m->status_line), "%s", line);
	sd_notifyf(0, "%s%sSTATUS=%s", extra ? extra : "", extra ? "\n" : "", line);
}

static void watchdog_set(struct manager *m, bool on)
{
	int r;

	if (!m->have_watchdog || m->watchdog_on == on)
		return;
	r = sd_event_set_watchdog(m->event, on);
	if (r < 0) {
		log_warning("cannot %s the watchdog: %s", on ? "enable" : "disable", strerror(-r));
		return;
	}
	m->watchdog_on = on;
	if (on && m->watchdog_was_off)
		log_notice("kernel state verified: watchdog pings resumed");
	else if (on)
		log_info("watchdog pings while the loop turns and table inet %s is verified", ZT_TABLE_NAME);
	else
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=watchdog-off" }, 1,
			   "table inet %s cannot be verified: watchdog pings stopped", ZT_TABLE_NAME);
	m->watchdog_was_off |= !on;
}

/* ---- enc_if: exactly the encrypted interfaces of a trusted kind ---- */

static const struct zt_set *enc_set(const struct manager *m)
{
	const struct zt_set *s = m->cur.plan ? zt_plan_find_set(m->cur.plan, ENC_IF_SET) : NULL;

	return s && s->dynamic && s->n_key == 1 && s->key[0] == ZT_TYPE_IFNAME ? s : NULL;
}

static bool kind_trusted(const struct manager *m, const char *kind)
{
	return zt_enc_kind_trusted(kind, m->n_kinds ? m->kinds : NULL, m->n_kinds);
}

static int ifname_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names enc_if should hold now, sorted. */
static int enc_wanted(const struct manager *m, char (**ret)[IFNAMSIZ], size_t *ret_n)
{
	char (*v)[IFNAMSIZ] = NULL;
	size_t n = 0;

	if (m->members && m->members->n_enc) {
		v = calloc(m->members->n_enc, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (size_t i = 0; i < m->members->n_enc; i++)
			if (kind_trusted(m, m->members->enc[i].kind))
				snprintf(v[n++], IFNAMSIZ, "%s", m->members->enc[i].name);
		qsort(v, n, sizeof(*v), ifname_cmp);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* NEWSETELEM or DELSETELEM for some names of enc_if. */
static int enc_emit(struct zt_batch *b, const struct zt_set *def, char (*names)[IFNAMSIZ], size_t n,
		    uint16_t type)
{
	struct zt_set s = *def;
	struct zt_set_enc enc = {};
	_cleanup_free_ struct zt_elem *el = NULL;
	int r;

	if (n == 0)
		return 0;
	el = calloc(n, sizeof(*el));
	if (!el)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		el[i].key[0].type = ZT_TYPE_IFNAME;
		snprintf(el[i].key[0].ifpat.name, IFNAMSIZ, "%s", names[i]);
	}
	s.elems = el;
	s.n_elems = s.cap_elems = n;
	s.dynamic = false;
	r = zt_set_encode(&s, &enc);
	if (r >= 0)
		r = zt_emit_elems(b, &s, &enc, NULL, 0, type);
	zt_set_enc_clear(&enc);
	return r;
}

/*
 * Bring enc_if to what the links say: the difference as one transaction,
 * or (refill, or when the difference is refused) flushed and filled anew
 * in one transaction.
 */
static int enc_sync(struct manager *m, bool refill)
{
	const struct zt_set *def = enc_set(m);
	char (*want)[IFNAMSIZ] = NULL, (*add)[IFNAMSIZ] = NULL, (*del)[IFNAMSIZ] = NULL;
	size_t n_want = 0, n_add = 0, n_del = 0;
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r, err = 0;

	if (!def) {
		m->n_enc = 0;
		return 0;
	}
	r = enc_wanted(m, &want, &n_want);
	if (r < 0)
		return r;
	if (!refill) {
		add = calloc(n_want + 1, sizeof(*add));
		del = calloc(m->n_enc + 1, sizeof(*del));
		if (!add || !del) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_want; i++)
			if (!m->n_enc || !bsearch(want[i], m->enc, m->n_enc, sizeof(*m->enc), ifname_cmp))
				memcpy(add[n_add++], want[i], IFNAMSIZ);
		for (size_t i = 0; i < m->n_enc; i++)
			if (!n_want || !bsearch(m->enc[i], want, n_want, sizeof(*want), ifname_cmp))
				memcpy(del[n_del++], m->enc[i], IFNAMSIZ);
		if (!n_add && !n_del)
			goto out;
	}
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0 && refill) {
		r = zt_emit_set_flush(b, def->name);
		if (r >= 0)
			r = enc_emit(b, def, want, n_want, NFT_MSG_NEWSETELEM);
	} else if (r >= 0) {
		r = enc_emit(b, def, del, n_del, NFT_MSG_DELSETELEM);
		if (r >= 0)
			r = enc_emit(b, def, add, n_add, NFT_MSG_NEWSETELEM);
	}
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0 && !refill && r != -ENOMEM) {
		/* What we thought was there is not: fill it anew. */
		log_debug("%s: incremental update refused (%s), refilling", ENC_IF_SET, strerror(err ? err : -r));
		zt_batch_free(b);
		b = NULL;
		zt_diags_clear(&d);
		free(want);
		free(add);
		free(del);
		return enc_sync(m, true);
	}
	if (r < 0) {
		log_error("cannot update set %s: %s", ENC_IF_SET,
			  d.n ? d.v[0].msg : strerror(err ? err : -r));
		goto out;
	}
	m->enc_updates++;
	for (size_t i = 0; i < n_add; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=encrypted-interface", log_field("ZTSEG_INTERFACE", "%s", add[i]) },
			   2, "%s is an encrypted interface now", add[i]);
	for (size_t i = 0; i < n_del; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=encrypted-interface", log_field("ZTSEG_INTERFACE", "%s", del[i]) },
			   2, "%s is no longer an encrypted interface", del[i]);
	free(m->enc);
	m->enc = TAKE_PTR(want);
	m->n_enc = m->cap_enc = n_want;
out:
	zt_batch_free(b);
	zt_diags_clear(&d);
	free(want);
	free(add);
	free(del);
	return r;
}

/* ---- membership ---- */

static int cidr_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
}

/* Was the prefix routed to another segment before? The diff says (computed where it is cheap). */
static bool routed_elsewhere(const struct zt_prefix_change *c)
{
	return c->elsewhere;
}

/*
 * The prefixes whose connections are judged anew: those that left a
 * segment (moved, or their interface went away), and those that joined
 * one while still routed to another (a new route before the old one is
 * gone). A new workload's prefix costs no conntrack walk.
 */
static int moved_prefixes(const struct zt_membership_diff *df, struct zt_cidr **ret, size_t *ret_n)
{
	size_t n = df->n_pfx_add + df->n_pfx_del, k = 0;
	struct zt_cidr *v;

	*ret = NULL;
	*ret_n = 0;
	if (!n)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < df->n_pfx_add; i++)
		if (routed_elsewhere(&df->pfx_add[i]))
			v[k++] = df->pfx_add[i].prefix;
	for (size_t i = 0; i < df->n_pfx_del; i++)
		v[k++] = df->pfx_del[i].prefix;
	if (!k) {
		free(v);
		return 0;
	}
	for (size_t i = 0; i < k; i++)
		v[i].pos = (struct zt_pos){};
	qsort(v, k, sizeof(*v), cidr_cmp);
	n = 0;
	for (size_t i = 0; i < k; i++)
		if (n == 0 || !zt_cidr_equal(&v[n - 1], &v[i]))
			v[n++] = v[i];
	*ret = v;
	*ret_n = n;
	return 0;
}

static void log_diff(const struct zt_membership_diff *df)
{
	char b[ZT_CIDR_STRLEN];

	for (size_t i = 0; i < df->n_if_del; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=member-left", log_field("ZTSEG_SEGMENT", "%s", df->if_del[i].seg),
			   log_field("ZTSEG_INTERFACE", "%s", df->if_del[i].ifname) }, 3,
			   "segment %s: interface %s left", df->if_del[i].seg, df->if_del[i].ifname);
	for (size_t i = 0; i < df->n_if_add; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=member-joined", log_field("ZTSEG_SEGMENT", "%s", df->if_add[i].seg),
			   log_field("ZTSEG_INTERFACE", "%s", df->if_add[i].ifname) }, 3,
			   "segment %s: interface %s joined", df->if_add[i].seg, df->if_add[i].ifname);
	for (size_t i = 0; i < df->n_pfx_del; i++) {
		zt_cidr_fmt(&df->pfx_del[i].prefix, b, sizeof(b));
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=route-left", log_field("ZTSEG_SEGMENT", "%s", df->pfx_del[i].seg),
			   log_field("ZTSEG_PREFIX", "%s", b) }, 3,
			   "segment %s: %s is no longer routed to it", df->pfx_del[i].seg, b);
	}
	for (size_t i = 0; i < df->n_pfx_add; i++) {
		zt_cidr_fmt(&df->pfx_add[i].prefix, b, sizeof(b));
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=route-joined", log_field("ZTSEG_SEGMENT", "%s", df->pfx_add[i].seg),
			   log_field("ZTSEG_PREFIX", "%s", b) }, 3,
			   "segment %s: %s is routed to it", df->pfx_add[i].seg, b);
	}
}

/*
 * The membership in full from the current kernel state and policy (the
 * baseline, a new policy, or an update that failed) and its diff against
 * the last one.
 */
static int members_recompute(struct manager *m, struct zt_membership_diff **ret)
{
	struct zt_membership *nm = NULL;
	int r;

	r = zt_membership_track(zt_rtnl_state(m->rtnl), m->cur.policy, &nm);
	if (r < 0)
		return r;
	r = zt_membership_diff(m->members, nm, ret);
	if (r < 0) {
		zt_membership_free(nm);
		return r;
	}
	zt_membership_free(m->members);
	m->members = nm;
	m->members_generation = m->generation;
	return 0;
}

/*
 * Membership from the current kernel state and policy: updated by what
 * the events changed while the policy is the one it was computed for (the
 * cost of the change, not of the policy), else computed in full. Against
 * the last one: log it, keep enc_if exact and, unless this is the first
 * (baseline), forget the connections of prefixes that moved.
 */
static int members_update(struct manager *m, bool baseline)
{
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	_cleanup_free_ struct zt_cidr *moved = NULL;
	struct zt_rtnl_dirty dirty = {};
	const char *ct = "";
	uint64_t t0 = m->event_usec;
	size_t n_moved = 0;
	bool acted = false;
	int r = -ESTALE;

	m->event_usec = 0;
	zt_rtnl_take_changes(m->rtnl);
	zt_rtnl_take_dirty(m->rtnl, &dirty);
	if (!baseline && m->members && m->members->idx && m->members_generation == m->generation) {
		r = zt_membership_track_update(m->members, zt_rtnl_state(m->rtnl), &dirty, &df);
		if (r < 0)
			log_warning("cannot update the membership (%s): computing it anew", strerror(-r));
	}
	zt_rtnl_dirty_clear(&dirty);
	if (r < 0) {
		/* Diffed against what we had, even when a failed update left it half-way. */
		r = members_recompute(m, &df);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < df->n_warn_new; i++) {
		char b[512];

		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=membership-warning",
			   log_field("ZTSEG_SEGMENT", "%s", df->warn_new[i].seg) }, 2,
			   "%s", zt_member_warning_fmt(&df->warn_new[i], b, sizeof(b)));
	}
	if (!baseline)
		log_diff(df);
	if (!baseline && (r = moved_prefixes(df, &moved, &n_moved)) < 0)
		return r;

	/* enc_if first: a new encrypted leg should not wait for the conntrack dump. */
	if (df->n_enc_add || df->n_enc_del) {
		enc_sync(m, false);
		acted = true;
	}
	if (n_moved) {
		struct zt_ct_stats st = {};

		r = zt_ct_flush_prefixes(moved, n_moved, &st);
		if (r < 0)
			log_error("cannot delete the connections of moved addresses: %s", strerror(-r));
		m->ct_flushes++;
		m->ct_deleted += st.deleted;
		ct = st.walks ? ", conntrack table walked" : st.empty ? ", no connections: conntrack not walked" : "";
		if (st.deleted)
			log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=connections-rejudged" }, 1,
				   "%llu connection%s of %zu moved prefix%s forgotten: their next packets are judged "
				   "in their new zones", (unsigned long long)st.deleted, st.deleted == 1 ? "" : "s",
				   n_moved, n_moved == 1 ? "" : "es");
		acted = true;
	}
	if (acted && t0)
		log_fields(LOG_DEBUG, (const char *[]){ "ZTSEG_EVENT=latency",
			   log_field("ZTSEG_LATENCY_USEC", "%llu", (unsigned long long)(now_usec(CLOCK_MONOTONIC) - t0)) }, 2,
			   "event to enforcement: %llu us (%zu prefixes moved, %zu+%zu encrypted interfaces%s)",
			   (unsigned long long)(now_usec(CLOCK_MONOTONIC) - t0), n_moved, df->n_enc_add, df->n_enc_del, ct);
	return 0;
}

/* ---- applying ---- */

/* Out of the notification group around our own large commits (see ZT_APPLY_QUIET_MIN). */
static void nfmon_quiet(bool on, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nfmon_quiet(m->nfmon, on);

	if (r < 0)
		log_warning("cannot %s the nf_tables notification group: %s", on ? "leave" : "rejoin", strerror(-r));
}

/*
 * A new policy (l is not m->cur) is diffed against the running one while
 * nothing else has committed since our last commit; the running one
 * again (repair, start) is compared with the table as the kernel has it.
 */
static int apply_loaded(struct manager *m, const struct loaded *l, struct zt_apply_stats *st, struct zt_diags *d)
{
	struct zt_apply_opts o = manager_apply_opts(m, l->policy);
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	int r;

	if (l != &m->cur && m->cur.plan) {
		o.prev_plan = m->cur.plan;
		o.prev_genid = zt_nft_genid(m->nft);
	}
	if (m->nfmon) {
		o.quiet = nfmon_quiet;
		o.userdata = m;
	}
	r = zt_apply(m->nft, l->plan, &o, st, d);
	if (r >= 0 && st->foreign) {
		/* Someone committed while we were not listening: as if notified. */
		m->events.tamper++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
			   "another process committed to nf_tables while we were not listening (our own commit): "
			   "checking table inet %s", ZT_TABLE_NAME);
		if (m->src_defer) {
			m->want_repair = true;
			manager_dirty(m);
		} else {
			/* Starting: no loop yet; compare with the table now. */
			struct zt_apply_stats st2 = {};

			o.prev_plan = NULL;
			o.quiet = NULL;
			r = zt_apply(m->nft, l->plan, &o, &st2, d);
			st->changed += st2.changed;
		}
	}
	if (r >= 0) {
		m->last_apply_usec = now_usec(CLOCK_REALTIME);
		m->last_apply_duration_usec = now_usec(CLOCK_MONOTONIC) - t0;
		m->owned = st->persist;
	}
	return r;
}

static void log_diags(int prio, const char *event, const struct zt_diags *d)
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

/* Keep the warnings of a policy that loaded (its errors are none). */
static void keep_warnings(struct manager *m, struct zt_diags *d)
{
	zt_diags_clear(&m->disk_diags);
	m->disk_diags = *d;
	*d = (struct zt_diags){};
}

static void lkg_save(struct manager *m)
{
	int r = zt_lkg_save(m->state_dir, m->cur.files.src, m->cur.files.n);

	m->lkg_current = r >= 0;
	if (r < 0)
		log_warning("cannot save the last-known-good policy in %s: %s", m->state_dir, strerror(-r));
}

static bool req_has_options(const struct reload_req *q)
{
	return q->confirm || q->force || q->session[0];
}

/* The warnings of d as the reply carries them ("file:line:col: warning: ..."). */
static json_t *warnings_json(const struct zt_diags *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < d->n; i++) {
		_cleanup_free_ char *s = NULL;

		if (d->v[i].sev != ZT_SEV_WARNING)
			continue;
		s = zt_diag_format(&d->v[i]);
		if (!s || json_array_append_new(a, json_string(s)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static const char *time_rt(uint64_t usec, char *buf, size_t len)
{
	time_t sec = (time_t)(usec / ZT_USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&sec, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
	return buf;
}

static int on_confirm_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void confirm_timer_set(struct manager *m, uint64_t when)
{
	if (!m->src_confirm)
		return;
	if (when == UINT64_MAX) {
		sd_event_source_set_enabled(m->src_confirm, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(m->src_confirm, when);
	sd_event_source_set_enabled(m->src_confirm, SD_EVENT_ONESHOT);
}

/*
 * Apply a policy in place of the running one. reqs (taken from the queue,
 * freed here; n may be 0 for SIGHUP) get the outcome. A request with
 * options comes alone: --confirm puts the new policy on trial, and a
 * session it would cut is refused unless --confirm or --force.
 */
static void reload(struct manager *m, struct reload_req *reqs, size_t n)
{
	const struct reload_req *opt = n == 1 && req_has_options(&reqs[0]) ? &reqs[0] : NULL;
	struct loaded l = {};
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	struct session_verdict sv = {};
	struct zt_pending pd = {};
	enum zt_daemon_state was = m->state;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	char tb[64];
	bool same_files, trial = opt && opt->confirm;
	json_t *res;
	int r;

	if (m->pending) {
		zt_diag_error(&d, NULL, 0, 0, "reload refused: generation %llu is on trial and rolls back at %s "
			      "unless ztsegctl confirm comes first; confirm it or let it roll back, then reload",
			      (unsigned long long)m->generation, time_rt(m->pending_deadline_rt, tb, sizeof(tb)));
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reload-refused" }, 1, "%s", d.v[0].msg);
		manager_reload_reply(m, reqs, n, &d, NULL);
		zt_diags_clear(&d);
		return;
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)t0);
	m->state = ZT_DAEMON_RELOADING;
	r = manager_load_dir(m, m->config, &l, &d);
	zt_diags_sort(&d);
	diags_under(m->config, &d);
	if (r < 0 && r != -ENOMEM && d.n_errors == 0)
		zt_diag_error(&d, m->config, 0, 0, "cannot load the policy: %s", strerror(-r));
	/* The caller's own SSH session, judged by the new policy before anything is applied. */
	if (r >= 0 && opt && opt->session[0]) {
		int k = session_judge(m, l.policy, opt->session, &sv);

		if (k < 0)
			zt_diag_warning(&d, NULL, 0, 0, "cannot tell where your session comes from (SSH_CONNECTION "
					"'%s': %s): check yourself that the new policy keeps it", opt->session,
					k == -EINVAL ? "not CLIENT PORT SERVER PORT" : strerror(-k));
		else if (!sv.allow && !opt->force && !opt->confirm)
			r = zt_diag_error(&d, NULL, 0, 0, "reload refused: the new policy would cut %s (by: %s); "
					  "try it with ztsegctl reload --confirm SECONDS (it rolls back by itself "
					  "unless ztsegctl confirm follows), or apply it anyway with --force",
					  sv.what, sv.by);
		else if (!sv.allow)
			zt_diag_warning(&d, NULL, 0, 0, "the new policy cuts %s (by: %s)%s", sv.what, sv.by,
					opt->confirm ? "; unless ztsegctl confirm comes from elsewhere in time, "
						       "the previous policy comes back" : "");
	}
	/* On trial: what to roll back to is on disk before the trial is in the kernel. */
	if (r >= 0 && trial) {
		pd.deadline_usec = now_usec(CLOCK_REALTIME) + (uint64_t)opt->confirm * ZT_USEC_PER_SEC;
		pd.generation = m->generation + 1;
		pd.uid = opt->uid;
		r = zt_policy_digest(l.files.src, l.files.n, pd.trial);
		if (r >= 0)
			r = zt_pending_save(m->state_dir, &pd, m->cur.files.src, m->cur.files.n);
		if (r < 0)
			zt_diag_error(&d, NULL, 0, 0, "cannot record the trial in %s/%s (%s): without it a restart "
				      "could not roll it back; nothing applied", m->state_dir, ZT_PENDING_FILE,
				      strerror(-r));
	}
	if (r >= 0) {
		r = apply_loaded(m, &l, &st, &d);
		if (r < 0 && d.n_errors == 0)
			zt_diag_error(&d, NULL, 0, 0, "applying table inet %s failed: %s", ZT_TABLE_NAME, strerror(-r));
		if (r < 0 && trial)
			zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	}
	if (r < 0) {
		m->events.reload_failures++;
		m->state = was;
		log_diags(LOG_ERR, "reload-error", &d);
		set_last_error(m, "reload refused: %zu error%s; generation %llu stays in force",
			       d.n_errors, d.n_errors == 1 ? "" : "s", (unsigned long long)m->generation);
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=reload-failed" }, 1, "%s", m->last_error);
		if (m->degraded) {
			zt_diags_clear(&m->disk_diags);
			m->disk_diags = d;
			d = (struct zt_diags){};
		}
		manager_reload_reply(m, reqs, n, &d, NULL);
		zt_diags_clear(&d);
		loaded_clear(&l);
		notify_status(m, "READY=1");
		return;
	}
	/* The same files again (an unchanged reload): the last-known-good is written already. */
	same_files = m->cur.files.n == l.files.n;
	for (size_t i = 0; same_files && i < l.files.n; i++)
		same_files = streq(m->cur.files.src[i].name, l.files.src[i].name) &&
			     m->cur.files.src[i].len == l.files.src[i].len &&
			     memcmp(m->cur.files.src[i].buf, l.files.src[i].buf, l.files.src[i].len) == 0;
	if (trial) {
		/* The running policy becomes the one to roll back to; the last-known-good stays its. */
		loaded_clear(&m->rollback);
		m->rollback = m->cur;
		zt_diags_clear(&m->rollback_diags);
		m->rollback_diags = m->disk_diags;
		m->disk_diags = (struct zt_diags){};
		m->rollback_lkg_current = m->lkg_current;
		m->lkg_current = false;
		m->pending = true;
		m->pending_seconds = opt->confirm;
		m->pending_deadline = t0 + (uint64_t)opt->confirm * ZT_USEC_PER_SEC;
		m->pending_deadline_rt = pd.deadline_usec;
		m->pending_uid = opt->uid;
		m->pending_pid = opt->pid;
		confirm_timer_set(m, m->pending_deadline);
	} else {
		m->lkg_current = m->lkg_current && same_files;
		loaded_clear(&m->cur);
		/* An explicit reload is the administrator's word: a rolled-back policy may come back. */
		zt_state_remove(m->state_dir, ZT_ROLLED_BACK_FILE);
	}
	m->cur = l;
	m->generation++;
	m->events.reloads++;
	m->degraded = false;
	m->state = ZT_DAEMON_RUNNING;
	free(m->last_error);
	m->last_error = NULL;
	log_diags(LOG_WARNING, "policy-warning", &d);
	res = json_pack("{s:I, s:I, s:I, s:I, s:s, s:o}", "generation", (json_int_t)m->generation,
			"changed", (json_int_t)st.changed, "objects", (json_int_t)st.objects,
			"duration_usec", (json_int_t)(now_usec(CLOCK_MONOTONIC) - t0),
			"compared_with", zt_apply_path_name(st.path), "warnings", warnings_json(&d));
	if (res && trial)
		json_object_set_new(res, "confirm", json_pack("{s:I, s:s}", "seconds", (json_int_t)opt->confirm,
							      "deadline", time_rt(pd.deadline_usec, tb, sizeof(tb))));
	if (res && sv.known)
		json_object_set_new(res, "session", json_pack("{s:b, s:s, s:s}", "allow", sv.allow, "what", sv.what,
							      "by", sv.by));
	keep_warnings(m, &d);
	if (!trial && !m->lkg_current)
		lkg_save(m);
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reloaded", log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation) }, 2,
		   "reloaded: generation %llu, %zu objects changed, %zu messages in %.1f ms (%s%s)",
		   (unsigned long long)m->generation, st.changed, st.messages,
		   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0,
		   st.path == ZT_APPLY_FULL ? "written whole" : "compared with the ",
		   st.path == ZT_APPLY_FULL ? "" : zt_apply_path_name(st.path));
	if (trial)
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=trial",
			   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation),
			   log_field("ZTSEG_UID", "%u", (unsigned)opt->uid) }, 3,
			   "generation %llu is on trial for %u s: it rolls back at %s unless ztsegctl confirm comes first",
			   (unsigned long long)m->generation, opt->confirm, time_rt(pd.deadline_usec, tb, sizeof(tb)));
	/* The new policy may draw segments differently: membership, connections, enc_if. */
	members_update(m, false);
	enc_sync(m, true);
	zt_pending_clear(&pd);
	manager_reload_reply(m, reqs, n, NULL, res);
	notify_status(m, "READY=1");
}

/*
 * The trial is over unconfirmed: the previous policy again, as a reload
 * would apply it (a difference, connections it forbids stopped). The
 * trial's files are remembered as rolled back, so that a start with them
 * still on disk does not apply them again by itself.
 */
static int rollback(struct manager *m, const char *why)
{
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	uint8_t trial[ZT_DIGEST_LEN];
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), gen = m->generation;
	bool have_digest;
	int r;

	if (!m->pending)
		return 0;
	have_digest = zt_policy_digest(m->cur.files.src, m->cur.files.n, trial) >= 0;
	r = apply_loaded(m, &m->rollback, &st, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "rollback-error", &d);
		zt_diags_clear(&d);
		set_last_error(m, "cannot roll back generation %llu: %s; retrying", (unsigned long long)gen,
			       strerror(-r));
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=rollback-failed" }, 1, "%s", m->last_error);
		confirm_timer_set(m, now_usec(CLOCK_MONOTONIC) + ZT_USEC_PER_SEC);
		return r;
	}
	zt_diags_clear(&d);
	loaded_clear(&m->cur);
	m->cur = m->rollback;
	m->rollback = (struct loaded){};
	zt_diags_clear(&m->disk_diags);
	m->disk_diags = m->rollback_diags;
	m->rollback_diags = (struct zt_diags){};
	m->lkg_current = m->rollback_lkg_current;
	m->pending = false;
	confirm_timer_set(m, UINT64_MAX);
	m->generation++;
	m->events.rollbacks++;
	if (!m->lkg_current)
		lkg_save(m);
	/* The marker first: the pending file goes only once the marker says what it said. */
	if (have_digest && (r = zt_rolled_back_save(m->state_dir, trial, now_usec(CLOCK_REALTIME))) < 0)
		log_warning("cannot record the rolled-back policy in %s/%s: %s", m->state_dir, ZT_ROLLED_BACK_FILE,
			    strerror(-r));
	zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	m->degraded = true;
	m->state = ZT_DAEMON_DEGRADED;
	set_last_error(m, "generation %llu was not confirmed (%s): rolled back to the previous policy as generation "
		       "%llu; the policy on disk is not in force until ztsegctl reload", (unsigned long long)gen, why,
		       (unsigned long long)m->generation);
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=rollback",
		   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation) }, 2,
		   "rolled back: %s (%zu objects changed in %.1f ms)", m->last_error, st.changed,
		   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	if (m->rtnl) {
		members_update(m, false);
		enc_sync(m, true);
	}
	notify_status(m, "READY=1");
	return 0;
}

static int on_confirm_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	char why[64];

	snprintf(why, sizeof(why), "no ztsegctl confirm within %llu s", (unsigned long long)m->pending_seconds);
	rollback(m, why);
	return 0;
}

int manager_confirm(struct manager *m, uid_t uid, pid_t pid)
{
	int r;

	if (!m->pending)
		return -ENOENT;
	confirm_timer_set(m, UINT64_MAX);
	m->pending = false;
	loaded_clear(&m->rollback);
	zt_diags_clear(&m->rollback_diags);
	/* Confirmed: this is the policy to come back to now. */
	lkg_save(m);
	zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	r = zt_state_remove(m->state_dir, ZT_ROLLED_BACK_FILE);
	if (r < 0)
		log_warning("cannot remove %s/%s: %s", m->state_dir, ZT_ROLLED_BACK_FILE, strerror(-r));
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=confirmed",
		   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation),
		   log_field("ZTSEG_UID", "%u", (unsigned)uid), log_field("ZTSEG_PID", "%d", (int)pid) }, 4,
		   "generation %llu confirmed by uid %u, pid %d: it stays in force", (unsigned long long)m->generation,
		   (unsigned)uid, (int)pid);
	notify_status(m, NULL);
	return 0;
}

static int on_repair_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void repair(struct manager *m)
{
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	int r;

	if (!zt_ratelimit_test(&m->repair_rl, t0)) {
		/* Whoever fights us over the table does not get a busy loop. */
		sd_event_source_set_time_relative(m->src_repair_timer, REPAIR_RETRY_USEC);
		sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_ONESHOT);
		return;
	}
	r = apply_loaded(m, &m->cur, &st, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "repair-error", &d);
		set_last_error(m, "cannot restore table inet %s: %s", ZT_TABLE_NAME,
			       d.n ? d.v[0].msg : strerror(-r));
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=repair-failed" }, 1, "%s", m->last_error);
		watchdog_set(m, false);
		sd_event_source_set_time_relative(m->src_repair_timer, 5 * REPAIR_RETRY_USEC);
		sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_ONESHOT);
		zt_diags_clear(&d);
		return;
	}
	zt_diags_clear(&d);
	enc_sync(m, true);
	if (st.changed) {
		m->events.repairs++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=repair" }, 1,
			   "restored table inet %s: %s, %zu objects %s in %.1f ms", ZT_TABLE_NAME,
			   st.created ? "created anew" : st.replaced ? "replaced" : "difference applied", st.changed,
			   st.created || st.replaced ? "written" : "changed",
			   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	} else {
		log_debug("table inet %s checked: as applied", ZT_TABLE_NAME);
	}
	watchdog_set(m, true);
}

/* ---- the reconcile pass ---- */

static int on_reconcile(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;

	if (zt_rtnl_resync_needed(m->rtnl)) {
		int r = zt_rtnl_resync(m->rtnl);

		if (r < 0)
			log_error("rtnetlink resync failed: %s", strerror(-r));
		else
			log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=resync" }, 1,
				   "re-read links, addresses and routes after lost events");
		m->want_members = true;
	}
	if (m->want_reload) {
		struct reload_req *v = NULL;
		size_t take = 0, n = m->n_reload_waiting;

		m->want_reload = false;
		/* A request with options comes alone; plain ones (and SIGHUP) share one reload. */
		if (n && req_has_options(&m->reload_waiting[0]))
			take = 1;
		else
			while (take < n && !req_has_options(&m->reload_waiting[take]))
				take++;
		if (take) {
			v = malloc(take * sizeof(*v));
			if (!v) {
				log_error("reload: %s", strerror(ENOMEM));
				m->want_reload = true;
				sd_event_source_set_time_relative(m->src_repair_timer, REPAIR_RETRY_USEC);
				sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_ONESHOT);
				take = 0;
			} else {
				memcpy(v, m->reload_waiting, take * sizeof(*v));
				memmove(m->reload_waiting, m->reload_waiting + take, (n - take) * sizeof(*v));
				m->n_reload_waiting = n - take;
			}
		}
		if (v || !n)
			reload(m, v, take);
		if (m->n_reload_waiting) {
			m->want_reload = true;
			manager_dirty(m);
		}
	}
	if (m->want_repair) {
		m->want_repair = false;
		repair(m);
	}
	if (m->want_members) {
		int r;

		m->want_members = false;
		r = members_update(m, false);
		if (r < 0)
			log_error("cannot update the membership: %s", strerror(-r));
	}
	notify_status(m, NULL);
	return 0;
}

/* ---- event sources ---- */

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct manager *m = userdata;

	if (si->ssi_signo == SIGHUP) {
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reload-request",
			   log_field("ZTSEG_PID", "%u", si->ssi_pid), log_field("ZTSEG_UID", "%u", si->ssi_uid) }, 3,
			   "reload requested by SIGHUP from pid %u (uid %u)", si->ssi_pid, si->ssi_uid);
		m->want_reload = true;
		manager_dirty(m);
		return 0;
	}
	/* A trial nobody confirmed does not outlive the daemon that could roll it back. */
	if (m->pending) {
		char why[64];

		snprintf(why, sizeof(why), "ztsegd stopped on %s", strsignal((int)si->ssi_signo));
		rollback(m, why);
	}
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=stop" }, 1,
		   "stopping on %s; table inet %s stays in place (fail closed)", strsignal((int)si->ssi_signo),
		   ZT_TABLE_NAME);
	m->state = ZT_DAEMON_STOPPING;
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(m->event, 0);
}

static int on_rtnl(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r;

	if (!m->event_usec)
		m->event_usec = now_usec(CLOCK_MONOTONIC);
	r = zt_rtnl_process(m->rtnl);
	if (r < 0 && r != -EAGAIN)
		log_error("reading rtnetlink: %s", strerror(-r));
	if (zt_rtnl_resync_needed(m->rtnl))
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=rtnetlink-overrun" }, 1,
			   "rtnetlink receive buffer overrun: events were lost, re-reading everything");
	if (r > 0 || zt_rtnl_resync_needed(m->rtnl)) {
		m->want_members = true;
		manager_dirty(m);
	} else if (!m->want_members) {
		m->event_usec = 0;
	}
	return 0;
}

static void on_nft_event(const struct zt_nfmon_event *ev, void *userdata)
{
	struct manager *m = userdata;
	char who[64];

	if (ev->portid == zt_nft_portid(m->nft) && !ev->mixed)
		return;
	if (ev->pid)
		snprintf(who, sizeof(who), "%s[%u]", ev->comm[0] ? ev->comm : "?", ev->pid);
	else
		snprintf(who, sizeof(who), "netlink port %u", ev->portid);
	m->events.tamper++;
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper", log_field("ZTSEG_PID", "%u", ev->pid),
		   log_field("ZTSEG_COMM", "%s", ev->comm), log_field("ZTSEG_PORTID", "%u", ev->portid),
		   log_field("ZTSEG_CHANGES", "%u", ev->changes) }, 5,
		   "tampering: table inet %s %s by %s (%u change%s, generation %u); restoring it", ZT_TABLE_NAME,
		   ev->table_deleted ? "deleted" : "changed", who, ev->changes, ev->changes == 1 ? "" : "s", ev->genid);
	m->want_repair = true;
	manager_dirty(m);
}

static int on_nfmon(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nfmon_process(m->nfmon, on_nft_event, m);

	if (r == -ENOBUFS) {
		log_warning("nf_tables notifications were lost (receive buffer overrun): checking the table");
		m->want_repair = true;
		manager_dirty(m);
	} else if (r < 0 && r != -EAGAIN) {
		log_error("reading nf_tables notifications: %s", strerror(-r));
	}
	return 0;
}

static int on_nflog(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nflog_receive(m->nflog, manager_nflog_packet, m);

	if (r < 0 && r != -EAGAIN)
		log_error("reading NFLOG: %s", strerror(-r));
	return 0;
}

static int on_verify(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	struct zt_nft_table_info ti;
	int r;

	sd_event_source_set_time_relative(s, VERIFY_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	/* A repair is on its way already; look again after it. */
	if (m->want_repair)
		return 0;
	r = zt_nft_table_read(&ti);
	if (r < 0) {
		log_error("cannot read the nf_tables tables: %s", strerror(-r));
		watchdog_set(m, false);
		return 0;
	}
	if (!ti.present || (m->owned && (!ti.has_owner || ti.owner != zt_nft_portid(m->nft)))) {
		m->events.tamper++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
			   "table inet %s is %s (the change was not notified): restoring it", ZT_TABLE_NAME,
			   ti.present ? "no longer ours" : "gone");
		watchdog_set(m, false);
		m->want_repair = true;
		manager_dirty(m);
		return 0;
	}
	watchdog_set(m, true);
	return 0;
}

static int on_repair_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	m->want_repair = true;
	manager_dirty(m);
	return 0;
}

static int on_report(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t n = zt_ratelimit_take_suppressed(&m->packet_rl);

	sd_event_source_set_time_relative(s, REPORT_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	if (n)
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=packets-suppressed" }, 1,
			   "%llu logged packets not written (more than %u per second)", (unsigned long long)n,
			   PACKET_RATE);
	return 0;
}

/* ---- control socket ---- */

struct conn_ref {
	struct manager *m;
	struct zt_ctl_conn *c;
	sd_event_source *src;
};

static void ctl_timer_update(struct manager *m)
{
	uint64_t t = zt_ctl_server_next_deadline(m->ctl);

	if (t == UINT64_MAX) {
		sd_event_source_set_enabled(m->src_ctl_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(m->src_ctl_timer, t);
	sd_event_source_set_enabled(m->src_ctl_timer, SD_EVENT_ONESHOT);
}

/* Progress on one connection; it is gone when this returns false. */
static bool conn_kick(struct manager *m, struct zt_ctl_conn *c)
{
	struct conn_ref *ref = zt_ctl_conn_get_userdata(c);
	uint32_t ev;
	int r = zt_ctl_conn_process(c, now_usec(CLOCK_MONOTONIC));

	if (r <= 0) {
		if (r < 0 && r != -EPIPE && r != -ECONNRESET)
			log_debug("control connection closed: %s", strerror(-r));
		zt_ctl_conn_free(c);
		return false;
	}
	ev = zt_ctl_conn_events(c);
	if (ev) {
		sd_event_source_set_io_events(ref->src, ev);
		sd_event_source_set_enabled(ref->src, SD_EVENT_ON);
	} else {
		/* A deferred reply: epoll would report EPOLLHUP even for no events. */
		sd_event_source_set_enabled(ref->src, SD_EVENT_OFF);
	}
	return true;
}

void manager_conn_kick(struct manager *m, struct zt_ctl_conn *c)
{
	conn_kick(m, c);
	ctl_timer_update(m);
}

static int on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct conn_ref *ref = userdata;
	struct manager *m = ref->m;

	conn_kick(m, ref->c);
	ctl_timer_update(m);
	return 0;
}

static void on_conn_closed(struct zt_ctl_conn *c, void *userdata)
{
	struct manager *m = userdata;
	struct conn_ref *ref = zt_ctl_conn_get_userdata(c);

	for (size_t i = 0; i < m->n_reload_waiting; i++)
		if (m->reload_waiting[i].conn == c) {
			memmove(&m->reload_waiting[i], &m->reload_waiting[i + 1],
				(m->n_reload_waiting - i - 1) * sizeof(*m->reload_waiting));
			m->n_reload_waiting--;
			break;
		}
	if (!ref)
		return;
	sd_event_source_disable_unref(ref->src);
	free(ref);
	zt_ctl_conn_set_userdata(c, NULL);
}

static int on_ctl_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;

	for (;;) {
		struct zt_ctl_conn *c = NULL;
		struct conn_ref *ref;
		int r = zt_ctl_server_accept(m->ctl, now_usec(CLOCK_MONOTONIC), &c);

		if (r < 0) {
			log_warning("control socket: accept failed: %s", strerror(-r));
			break;
		}
		if (r == 0)
			break;
		ref = calloc(1, sizeof(*ref));
		if (!ref || sd_event_add_io(m->event, &ref->src, zt_ctl_conn_fd(c), zt_ctl_conn_events(c), on_conn,
					    ref) < 0) {
			free(ref);
			zt_ctl_conn_free(c);
			continue;
		}
		ref->m = m;
		ref->c = c;
		sd_event_source_set_priority(ref->src, PRIO_CTL);
		zt_ctl_conn_set_userdata(c, ref);
	}
	ctl_timer_update(m);
	return 0;
}

static int on_ctl_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	size_t n = zt_ctl_server_expire(m->ctl, now_usec(CLOCK_MONOTONIC));

	if (n)
		log_debug("control socket: %zu connections timed out", n);
	ctl_timer_update(m);
	return 0;
}

/* Our own listener, or the one systemd passes (socket activation). */
static int ctl_setup(struct manager *m)
{
	struct zt_ctl_server_config cfg = {
		.commands = manager_commands,
		.n_commands = manager_n_commands,
		.userdata = m,
		.conn_closed = on_conn_closed,
	};
	int r, n;

	r = zt_ctl_auth_init(&cfg.auth, NULL);
	if (r < 0)
		log_warning("cannot read the group database: only uid 0 and the daemon's own uid may change state");
	r = zt_ctl_server_new(&cfg, &m->ctl);
	if (r < 0)
		return r;
	n = sd_listen_fds(1);
	if (n > 1) {
		log_error("systemd passed %d sockets; expected one", n);
		return -EINVAL;
	}
	if (n == 1) {
		r = zt_ctl_server_adopt(m->ctl, SD_LISTEN_FDS_START);
		if (r < 0)
			log_error("the socket systemd passed cannot be used: %s", strerror(-r));
	} else {
		_cleanup_free_ char *dir = strdup(m->socket_path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		const struct group *gr = getgrnam(m->socket_group);
		const char *group = m->socket_group;

		if (!dir)
			return -ENOMEM;
		/* The runtime directory, when nobody made it (systemd's RuntimeDirectory= does). */
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0755) < 0 && errno != EEXIST)
				log_warning("cannot create %s: %m", dir);
		}
		/*
		 * Under the unit (Group=ztseg) the socket gets the group by
		 * itself; the unit's system-call filter refuses chown.
		 */
		if (gr && gr->gr_gid == getegid())
			group = NULL;
		r = zt_ctl_server_listen(m->ctl, m->socket_path, ZT_CTL_SOCKET_MODE, group);
		if (r == -EPERM && group) {
			log_warning("cannot give %s the group %s: only the daemon's own group may connect",
				    m->socket_path, group);
			r = zt_ctl_server_listen(m->ctl, m->socket_path, ZT_CTL_SOCKET_MODE, NULL);
		}
		if (r == 1)
			log_notice("group %s does not exist: the control socket %s keeps the daemon's group",
				   m->socket_group, m->socket_path);
		if (r < 0)
			log_error("cannot listen on %s: %s", m->socket_path, strerror(-r));
	}
	if (r < 0)
		return r;
	r = sd_event_add_io(m->event, &m->src_ctl, zt_ctl_server_fd(m->ctl), EPOLLIN, on_ctl_accept, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_ctl, PRIO_CTL);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_ctl_timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_ctl_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_ctl_timer, SD_EVENT_OFF);
	return r;
}

/* ---- start ---- */

/* The last-known-good policy into m->cur; errors logged. */
static int load_lkg(struct manager *m)
{
	struct zt_policy_files files = {};
	struct zt_diags d = {};
	int r;

	r = zt_lkg_load(m->state_dir, NULL, getuid(), &files);
	if (r < 0) {
		log_error("there is no usable last-known-good policy in %s/%s (%s)", m->state_dir, ZT_LKG_FILE,
			  strerror(-r));
		return r;
	}
	r = manager_load_files(m, &files, &m->cur, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "policy-error", &d);
		log_error("the last-known-good policy in %s/%s does not load", m->state_dir, ZT_LKG_FILE);
	}
	zt_diags_clear(&d);
	return r;
}

/*
 * A trial the last daemon left unconfirmed (it died, or was killed, in
 * the window): the policy before it, from the pending file (or, failing
 * that, the last-known-good, which the trial never replaced). 1 when that
 * is in m->cur, 0 when there was no trial.
 */
static int startup_pending(struct manager *m)
{
	struct zt_pending pd = {};
	struct zt_diags d = {};
	char tb[64];
	int r;

	r = zt_pending_load(m->state_dir, NULL, getuid(), &pd);
	if (r == -ENOENT)
		return 0;
	if (r >= 0) {
		r = manager_load_files(m, &pd.prev, &m->cur, &d);
		if (r < 0)
			log_diags(LOG_ERR, "policy-error", &d);
		zt_diags_clear(&d);
	}
	if (r < 0) {
		log_error("cannot use %s/%s, the policy a reload on trial rolls back to (%s): using the last-known-good",
			  m->state_dir, ZT_PENDING_FILE, strerror(-r));
		r = load_lkg(m);
	}
	if (r < 0) {
		/* Nothing to roll back to: the policy on disk, as a start without a trial. */
		log_error("no policy to roll back to: starting with the policy in %s", m->config);
		zt_pending_clear(&pd);
		zt_state_remove(m->state_dir, ZT_PENDING_FILE);
		return 0;
	}
	if (pd.deadline_usec) {
		r = zt_rolled_back_save(m->state_dir, pd.trial, now_usec(CLOCK_REALTIME));
		if (r < 0)
			log_warning("cannot record the rolled-back policy in %s/%s: %s", m->state_dir,
				    ZT_ROLLED_BACK_FILE, strerror(-r));
	}
	m->startup_rolled_back = true;
	m->degraded = true;
	set_last_error(m, "generation %llu was on trial until %s and never confirmed (ztsegd stopped in its window): "
		       "rolled back to the policy before it; the policy on disk is not in force until ztsegctl reload",
		       (unsigned long long)pd.generation, pd.deadline_usec ? time_rt(pd.deadline_usec, tb, sizeof(tb)) : "?");
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=rollback" }, 1, "rolling back: %s", m->last_error);
	zt_pending_clear(&pd);
	return 1;
}

/*
 * The policy on disk is one that was rolled back unconfirmed: run the
 * last-known-good instead (an explicit reload applies it). 1 when done.
 */
static int startup_rolled_back(struct manager *m)
{
	uint8_t disk[ZT_DIGEST_LEN], rb[ZT_DIGEST_LEN];
	uint64_t at = 0;
	struct loaded l;
	char tb[64];
	int r;

	r = zt_rolled_back_load(m->state_dir, getuid(), rb, &at);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_warning("ignoring %s/%s: %s", m->state_dir, ZT_ROLLED_BACK_FILE, strerror(-r));
		return 0;
	}
	if (zt_policy_digest(m->cur.files.src, m->cur.files.n, disk) < 0 || memcmp(disk, rb, sizeof(rb)) != 0)
		return 0;
	l = m->cur;
	m->cur = (struct loaded){};
	if (load_lkg(m) < 0) {
		log_error("the policy in %s was rolled back at %s, but there is nothing else to run: applying it",
			  m->config, time_rt(at, tb, sizeof(tb)));
		m->cur = l;
		return 0;
	}
	loaded_clear(&l);
	m->degraded = true;
	set_last_error(m, "the policy in %s was rolled back at %s, never confirmed: running the last-known-good "
		       "policy; ztsegctl reload applies it", m->config, time_rt(at, tb, sizeof(tb)));
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=degraded" }, 1, "degraded: %s", m->last_error);
	return 1;
}

/* The policy on disk, or the last-known-good one with the disk's errors kept for status. */
static int startup_load(struct manager *m, struct zt_diags *warnings)
{
	struct zt_diags d = {};
	int r;

	r = startup_pending(m);
	if (r != 0)
		return r < 0 ? r : 0;
	r = manager_load_dir(m, m->config, &m->cur, &d);
	zt_diags_sort(&d);
	diags_under(m->config, &d);
	if (r >= 0) {
		if (startup_rolled_back(m) > 0) {
			zt_diags_clear(&d);
			return 0;
		}
		*warnings = d;
		return 0;
	}
	if (r == -ENOMEM) {
		zt_diags_clear(&d);
		return r;
	}
	if (d.n_errors == 0)
		zt_diag_error(&d, m->config, 0, 0, "cannot load the policy: %s", strerror(-r));
	log_diags(LOG_ERR, "policy-error", &d);
	r = load_lkg(m);
	if (r < 0) {
		log_error("the policy in %s is invalid and there is no usable last-known-good policy in %s/%s",
			  m->config, m->state_dir, ZT_LKG_FILE);
		zt_diags_clear(&d);
		return -EINVAL;
	}
	m->degraded = true;
	m->disk_diags = d;
	set_last_error(m, "the policy in %s is invalid (%zu error%s): running the last-known-good policy", m->config,
		       d.n_errors, d.n_errors == 1 ? "" : "s");
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=degraded" }, 1, "degraded: %s", m->last_error);
	return 0;
}

static int sources_setup(struct manager *m)
{
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
	if (r >= 0)
		r = sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m);
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->src_rtnl, zt_rtnl_fd(m->rtnl), EPOLLIN, on_rtnl, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_rtnl, PRIO_NETLINK);
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->src_nfmon, zt_nfmon_fd(m->nfmon), EPOLLIN, on_nfmon, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_nfmon, PRIO_NETLINK);
	if (r >= 0 && m->nflog) {
		r = sd_event_add_io(m->event, &m->src_nflog, zt_nflog_fd(m->nflog), EPOLLIN, on_nflog, m);
		if (r >= 0)
			r = sd_event_source_set_priority(m->src_nflog, PRIO_NFLOG);
	}
	if (r >= 0)
		r = sd_event_add_defer(m->event, &m->src_defer, on_reconcile, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_defer, PRIO_RECONCILE);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_defer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->src_verify, CLOCK_MONOTONIC, VERIFY_USEC, 10000, on_verify, m);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->src_report, CLOCK_MONOTONIC, REPORT_USEC, 100000, on_report, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_repair_timer, CLOCK_MONOTONIC, UINT64_MAX, 10000, on_repair_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_OFF);
	/* Rollbacks on time: 1 ms accuracy, not sd-event's default quarter second. */
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_confirm, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_confirm_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_confirm, SD_EVENT_OFF);
	return r;
}

int manager_run(struct manager *m)
{
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	uint64_t usec;
	int r;

	/* A reader gone from the journal stream or a socket must not kill the firewall. */
	signal(SIGPIPE, SIG_IGN);
	m->started_usec = now_usec(CLOCK_REALTIME);
	m->state = ZT_DAEMON_STARTING;
	m->repair_rl = ZT_RATELIMIT_INIT(REPAIR_RATE, REPAIR_BURST);
	m->packet_rl = ZT_RATELIMIT_INIT(PACKET_RATE, PACKET_BURST);
	log_notice("ztsegd %s starting: policy %s, state %s", ZTSEG_VERSION, m->config, m->state_dir);

	r = sd_event_new(&m->event);
	if (r < 0) {
		log_error("cannot create the event loop: %s", strerror(-r));
		return r;
	}
	/* Links, addresses and routes first: the first apply and membership need them. */
	r = zt_rtnl_open(&m->rtnl, m->rcvbuf);
	if (r < 0) {
		log_error("cannot follow rtnetlink: %s", strerror(-r));
		return r;
	}
	/* Watching before the first apply: nothing done to the table after it goes unseen. */
	r = zt_nfmon_open(0, &m->nfmon);
	if (r < 0) {
		log_error("cannot subscribe to nf_tables notifications: %s", strerror(-r));
		return r;
	}
	r = zt_nft_open(&m->nft);
	if (r < 0) {
		log_error("cannot open a netfilter netlink socket: %s", strerror(-r));
		return r;
	}
	r = startup_load(m, &d);
	if (r < 0)
		return r;
	log_diags(LOG_WARNING, "policy-warning", &d);
	if (!m->degraded)
		keep_warnings(m, &d);
	zt_diags_clear(&d);

	r = apply_loaded(m, &m->cur, &st, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "apply-error", &d);
		zt_diags_clear(&d);
		log_error("applying table inet %s failed: %s", ZT_TABLE_NAME, strerror(-r));
		return r;
	}
	zt_diags_clear(&d);
	m->generation = 1;
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=applied", "ZTSEG_GENERATION=1" }, 2,
		   "applied table inet %s: %zu objects, %s %zu, %zu messages (%zu bytes) in %.1f ms%s", ZT_TABLE_NAME,
		   st.objects, st.created ? "created" : st.replaced ? "replaced" : "adopted, changed", st.changed,
		   st.messages, st.bytes, (double)m->last_apply_duration_usec / 1000.0,
		   st.persist ? "" : "; the table is not owned: other processes can change it (repaired when they do)");
	if (!m->degraded)
		lkg_save(m);
	/* The rollback is in the kernel now: the trial's record has done its work. */
	if (m->startup_rolled_back) {
		m->events.rollbacks++;
		zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	}
	r = members_update(m, true);
	if (r < 0) {
		log_error("cannot compute the membership: %s", strerror(-r));
		return r;
	}
	enc_sync(m, true);

	{
		struct zt_nflog_config nc = { .group = (uint16_t)m->copts.log_group };

		r = zt_nflog_open(&nc, &m->nflog);
		if (r < 0)
			log_warning("cannot read NFLOG group %u (%s): logged packets will not be written", nc.group,
				    r == -EPERM ? "another process has bound it, or no CAP_NET_ADMIN" : strerror(-r));
	}
	r = sources_setup(m);
	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		return r;
	}
	r = ctl_setup(m);
	if (r < 0)
		return r;
	m->have_watchdog = sd_watchdog_enabled(false, &usec) > 0;
	watchdog_set(m, true);

	m->state = m->degraded ? ZT_DAEMON_DEGRADED : ZT_DAEMON_RUNNING;
	notify_status(m, "READY=1");
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=ready" }, 1, "ready: %s", m->status_line);

	r = sd_event_loop(m->event);
	if (r < 0)
		log_error("event loop failed: %s", strerror(-r));
	return r;
}

void manager_clear(struct manager *m)
{
	m->ctl = zt_ctl_server_free(m->ctl);
	free(m->reload_waiting);
	m->reload_waiting = NULL;
	m->n_reload_waiting = 0;
	m->src_rtnl = sd_event_source_disable_unref(m->src_rtnl);
	m->src_nfmon = sd_event_source_disable_unref(m->src_nfmon);
	m->src_nflog = sd_event_source_disable_unref(m->src_nflog);
	m->src_ctl = sd_event_source_disable_unref(m->src_ctl);
	m->src_defer = sd_event_source_disable_unref(m->src_defer);
	m->src_verify = sd_event_source_disable_unref(m->src_verify);
	m->src_ctl_timer = sd_event_source_disable_unref(m->src_ctl_timer);
	m->src_repair_timer = sd_event_source_disable_unref(m->src_repair_timer);
	m->src_confirm = sd_event_source_disable_unref(m->src_confirm);
	m->src_report = sd_event_source_disable_unref(m->src_report);
	m->event = sd_event_unref(m->event);
	m->nflog = zt_nflog_free(m->nflog);
	m->nfmon = zt_nfmon_free(m->nfmon);
	m->rtnl = zt_rtnl_free(m->rtnl);
	/* Closing the owning socket leaves a persist table in place: fail closed. */
	m->nft = zt_nft_close(m->nft);
	m->members = zt_membership_free(m->members);
	free(m->enc);
	m->enc = NULL;
	loaded_clear(&m->cur);
	loaded_clear(&m->rollback);
	zt_diags_clear(&m->rollback_diags);
	zt_diags_clear(&m->disk_diags);
	free(m->last_error);
	m->last_error = NULL;
}
