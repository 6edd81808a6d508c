/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A reload (ztsegctl reload, SIGHUP): the policy on disk loaded and
 * compiled, the caller's SSH session judged by it, applied as a
 * difference (or put on trial with --confirm), membership redrawn, and
 * every caller waiting for it answered with the outcome.
 */
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include "ztsegd.h"

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

void manager_reload_reply(struct manager *m, struct reload_req *v, size_t n, const struct zt_diags *d,
			  json_t *result)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);

	for (size_t i = 0; i < n; i++) {
		if (!v[i].conn)
			continue;
		if (d)
			zt_ctl_conn_reply_diags(v[i].conn, d, now);
		else
			zt_ctl_conn_reply_ok(v[i].conn, result ? json_deep_copy(result) : NULL, now);
		/* Kicking may free the connection, and the control socket's close callback clears it in v. */
		manager_ctl_kick(m, v[i].conn);
	}
	free(v);
	if (result)
		json_decref(result);
}

/* While a policy is on trial there is no other reload: it is confirmed or rolled back first. */
static void reload_refuse_pending(struct manager *m, struct reload_req *reqs, size_t n)
{
	struct zt_diags d = {};
	char tb[64];

	zt_diag_error(&d, NULL, 0, 0, "reload refused: generation %llu is on trial and rolls back at %s "
		      "unless ztsegctl confirm comes first; confirm it or let it roll back, then reload",
		      (unsigned long long)m->generation, log_time(m->pending_deadline_rt, tb, sizeof(tb)));
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reload-refused" }, 1, "%s", d.v[0].msg);
	manager_reload_reply(m, reqs, n, &d, NULL);
	zt_diags_clear(&d);
}

/* The policy on disk, and the caller's own SSH session judged by it before anything is applied. */
/* files: what zt_policy_read_dir() returned (read), taken. */
static int reload_load(struct manager *m, const struct reload_req *opt, int read, struct zt_policy_files *files,
		       struct loaded *l, struct session_verdict *sv, struct zt_diags *d)
{
	int r, k;

	r = read < 0 ? read : manager_policy_load_files(m, files, l, d);
	zt_policy_files_clear(files);
	zt_diags_sort(d);
	manager_policy_diags_under(m->config, d);
	if (r < 0 && r != -ENOMEM && d->n_errors == 0)
		zt_diag_error(d, m->config, 0, 0, "cannot load the policy: %s", strerror(-r));
	if (r < 0 || !opt || !opt->session[0])
		return r;
	k = manager_explain_session(m, l->policy, opt->session, sv);
	if (k < 0)
		zt_diag_warning(d, NULL, 0, 0, "cannot tell where your session comes from (SSH_CONNECTION "
				"'%s': %s): check yourself that the new policy keeps it", opt->session,
				k == -EINVAL ? "not CLIENT PORT SERVER PORT" : strerror(-k));
	else if (!sv->allow && !opt->force && !opt->confirm)
		r = zt_diag_error(d, NULL, 0, 0, "reload refused: the new policy would cut %s (by: %s); "
				  "try it with ztsegctl reload --confirm SECONDS (it rolls back by itself "
				  "unless ztsegctl confirm follows), or apply it anyway with --force",
				  sv->what, sv->by);
	else if (!sv->allow)
		zt_diag_warning(d, NULL, 0, 0, "the new policy cuts %s (by: %s)%s", sv->what, sv->by,
				opt->confirm ? "; unless ztsegctl confirm comes from elsewhere in time, "
					       "the previous policy comes back" : "");
	return r;
}

/* The running generation stays; d's errors to the log, the status and the callers. */
static void reload_failed(struct manager *m, struct reload_req *reqs, size_t n, struct zt_diags *d,
			  enum zt_daemon_state was)
{
	m->events.reload_failures++;
	m->state = was;
	log_diags(LOG_ERR, "reload-error", d);
	manager_status_set_error(m, "reload refused: %zu error%s; generation %llu stays in force",
				 d->n_errors, d->n_errors == 1 ? "" : "s", (unsigned long long)m->generation);
	log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=reload-failed" }, 1, "%s", m->last_error);
	if (m->degraded) {
		zt_diags_clear(&m->disk_diags);
		m->disk_diags = *d;
		*d = (struct zt_diags){};
	}
	manager_reload_reply(m, reqs, n, d, NULL);
}

/* The same files again (an unchanged reload)? */
static bool same_files(const struct zt_policy_files *a, const struct zt_policy_files *b)
{
	bool same = a->n == b->n;

	for (size_t i = 0; same && i < b->n; i++)
		same = streq(a->src[i].name, b->src[i].name) && a->src[i].len == b->src[i].len &&
		       memcmp(a->src[i].buf, b->src[i].buf, b->src[i].len) == 0;
	return same;
}

/*
 * Nothing to load, compile or send: a plain reload (no --confirm, no
 * session to judge) of the very files the running plan was compiled
 * from, with the running plan the disk's (not degraded, nothing on
 * trial, no repair due) and no commit by anyone since our last one (the
 * kernel's generation id), so the table is exactly what that plan wrote.
 * The plan is a function of the files and of options fixed at start, so
 * loading and compiling them again would give the same plan and a diff
 * of nothing (tests/netns/reload.sh checks both paths agree). Anything
 * else takes the whole path, which compares and repairs.
 */
static bool reload_is_noop(struct manager *m, const struct reload_req *opt, const struct zt_policy_files *files)
{
	uint32_t now;

	if (opt || m->degraded || m->pending || m->want_repair || !m->cur.plan || !m->lkg_current ||
	    !same_files(&m->cur.files, files))
		return false;
	return zt_nft_genid(m->nft) && zt_nft_genid_read(m->nft, &now) >= 0 && now == zt_nft_genid(m->nft);
}

/* What a ztsegctl reload is told of the outcome. */
static json_t *reload_result(const struct manager *m, const struct zt_apply_stats *st, uint64_t t0,
			     const struct zt_diags *d, const struct reload_req *trial, uint64_t deadline_rt,
			     const struct session_verdict *sv)
{
	char tb[64];
	json_t *res;

	res = json_pack("{s:I, s:I, s:I, s:I, s:s, s:o}", "generation", (json_int_t)m->generation,
			"changed", (json_int_t)st->changed, "objects", (json_int_t)st->objects,
			"duration_usec", (json_int_t)(now_usec(CLOCK_MONOTONIC) - t0),
			"compared_with", zt_apply_path_name(st->path), "warnings", warnings_json(d));
	if (res && trial)
		json_object_set_new(res, "confirm", json_pack("{s:I, s:s}", "seconds", (json_int_t)trial->confirm,
							      "deadline", log_time(deadline_rt, tb, sizeof(tb))));
	if (res && sv->known)
		json_object_set_new(res, "session", json_pack("{s:b, s:s, s:s}", "allow", sv->allow, "what", sv->what,
							      "by", sv->by));
	return res;
}

/*
 * reload_is_noop(): a new generation with the running plan. Its warnings
 * are those the same files gave when they were loaded (m->disk_diags).
 */
static void reload_noop(struct manager *m, struct reload_req *reqs, size_t n, uint64_t t0)
{
	struct zt_apply_stats st = { .objects = zt_plan_count_objects(m->cur.plan), .path = ZT_APPLY_DIGEST };
	struct session_verdict sv = {};
	json_t *res;

	m->generation++;
	m->events.reloads++;
	m->state = ZT_DAEMON_RUNNING;
	free(m->last_error);
	m->last_error = NULL;
	zt_state_remove(m->state_dir, ZT_ROLLED_BACK_FILE);
	res = reload_result(m, &st, t0, &m->disk_diags, NULL, 0, &sv);
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reloaded", log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation) }, 2,
		   "reloaded: generation %llu, 0 objects changed, 0 messages in %.1f ms (the files the running plan "
		   "was compiled from, the table as it wrote it: nothing to compile or send)",
		   (unsigned long long)m->generation, (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	/* Feed files are read again, as on every reload. */
	manager_feeds_apply(m);
	manager_reload_reply(m, reqs, n, NULL, res);
	manager_metrics_reload(m, now_usec(CLOCK_MONOTONIC) - t0);
	manager_status_notify(m, "READY=1");
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
	const struct reload_req *trial = opt && opt->confirm ? opt : NULL;
	struct zt_policy_files files = {};
	struct loaded l = {};
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	struct session_verdict sv = {};
	struct zt_pending pd = {};
	enum zt_daemon_state was = m->state;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	char tb[64];
	bool same;
	json_t *res;
	int r;

	if (m->pending) {
		reload_refuse_pending(m, reqs, n);
		return;
	}
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)t0);
	m->state = ZT_DAEMON_RELOADING;
	/* The files' owner may be root or the daemon's own user. */
	r = zt_policy_read_dir(m->config, NULL, getuid(), &files, &d);
	if (r >= 0 && reload_is_noop(m, opt, &files)) {
		zt_policy_files_clear(&files);
		reload_noop(m, reqs, n, t0);
		return;
	}
	/* The running plan made whole beside the load (ztsegd-policy.c), for the difference. */
	if (r >= 0)
		manager_policy_prefull(m);
	r = reload_load(m, opt, r, &files, &l, &sv, &d);
	if (r >= 0 && trial)
		r = manager_trial_record(m, &l, trial, &pd, &d);
	if (r >= 0) {
		r = manager_policy_apply(m, &l, &st, &d);
		if (r < 0 && d.n_errors == 0)
			zt_diag_error(&d, NULL, 0, 0, "applying table inet %s failed: %s", ZT_TABLE_NAME, strerror(-r));
		if (r < 0 && trial)
			zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	}
	manager_policy_prefull_drop(m);
	if (r < 0) {
		reload_failed(m, reqs, n, &d, was);
		zt_diags_clear(&d);
		manager_policy_clear(&l);
		manager_policy_trim(m);
		manager_status_notify(m, "READY=1");
		return;
	}
	/* The same files again: the last-known-good is written already. */
	same = same_files(&m->cur.files, &l.files);
	if (trial) {
		manager_trial_begin(m, trial, t0, pd.deadline_usec);
	} else {
		m->lkg_current = m->lkg_current && same;
		manager_policy_clear(&m->cur);
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
	res = reload_result(m, &st, t0, &d, trial, pd.deadline_usec, &sv);
	manager_policy_keep_warnings(m, &d);
	if (!trial && !m->lkg_current)
		manager_policy_lkg_save(m);
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reloaded", log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation) }, 2,
		   "reloaded: generation %llu, %zu objects changed, %zu messages in %.1f ms (%s%s)",
		   (unsigned long long)m->generation, st.changed, st.messages,
		   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0,
		   st.path == ZT_APPLY_FULL ? "written whole" : "compared with the ",
		   st.path == ZT_APPLY_FULL ? "" : zt_apply_path_name(st.path));
	if (trial)
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=trial",
			   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation),
			   log_field("ZTSEG_UID", "%u", (unsigned)trial->uid) }, 3,
			   "generation %llu is on trial for %u s: it rolls back at %s unless ztsegctl confirm comes first",
			   (unsigned long long)m->generation, trial->confirm, log_time(pd.deadline_usec, tb, sizeof(tb)));
	/* The new policy may draw segments differently: membership, connections, enc_if. */
	manager_sync_members(m, false);
	manager_sync_links(m, ZT_LINKS_ENC, true);
	manager_grant_sync(m);
	manager_anomaly_sync(m);
	manager_units_sync(m);
	manager_feeds_apply(m);
	zt_pending_clear(&pd);
	manager_reload_reply(m, reqs, n, NULL, res);
	manager_metrics_reload(m, now_usec(CLOCK_MONOTONIC) - t0);
	manager_policy_trim(m);
	manager_status_notify(m, "READY=1");
}

void manager_reload_queued(struct manager *m)
{
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
