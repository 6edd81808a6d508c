/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * reload --confirm: the new policy runs on trial, the one before it is
 * kept (in memory and in the state directory's pending file) and comes
 * back unless ztsegctl confirm arrives in time, or when the daemon stops
 * or restarts in the window.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ztsegd.h"

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

/* On trial: what to roll back to is on disk before the trial is in the kernel. */
int manager_trial_record(struct manager *m, const struct loaded *l, const struct reload_req *opt,
			 struct zt_pending *pd, struct zt_diags *d)
{
	int r;

	pd->deadline_usec = now_usec(CLOCK_REALTIME) + (uint64_t)opt->confirm * ZT_USEC_PER_SEC;
	pd->generation = m->generation + 1;
	pd->uid = opt->uid;
	r = zt_policy_digest(l->files.src, l->files.n, pd->trial);
	if (r >= 0)
		r = zt_pending_save(m->state_dir, pd, m->cur.files.src, m->cur.files.n);
	if (r < 0)
		zt_diag_error(d, NULL, 0, 0, "cannot record the trial in %s/%s (%s): without it a restart "
			      "could not roll it back; nothing applied", m->state_dir, ZT_PENDING_FILE,
			      strerror(-r));
	return r;
}

/* The running policy becomes the one to roll back to; the last-known-good stays its. */
void manager_trial_begin(struct manager *m, const struct reload_req *opt, uint64_t t0, uint64_t deadline_rt)
{
	manager_policy_clear(&m->rollback);
	m->rollback = m->cur;
	m->cur = (struct loaded){};
	zt_diags_clear(&m->rollback_diags);
	m->rollback_diags = m->disk_diags;
	m->disk_diags = (struct zt_diags){};
	m->rollback_lkg_current = m->lkg_current;
	m->lkg_current = false;
	m->pending = true;
	m->pending_seconds = opt->confirm;
	m->pending_deadline = t0 + (uint64_t)opt->confirm * ZT_USEC_PER_SEC;
	m->pending_deadline_rt = deadline_rt;
	m->pending_uid = opt->uid;
	m->pending_pid = opt->pid;
	confirm_timer_set(m, m->pending_deadline);
}

/*
 * The trial is over unconfirmed: the previous policy again, as a reload
 * would apply it (a difference, connections it forbids stopped). The
 * trial's files are remembered as rolled back, so that a start with them
 * still on disk does not apply them again by itself.
 */
int manager_trial_rollback(struct manager *m, const char *why)
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
	r = manager_policy_apply(m, &m->rollback, &st, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "rollback-error", &d);
		zt_diags_clear(&d);
		manager_status_set_error(m, "cannot roll back generation %llu: %s; retrying", (unsigned long long)gen,
			       strerror(-r));
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=rollback-failed" }, 1, "%s", m->last_error);
		confirm_timer_set(m, now_usec(CLOCK_MONOTONIC) + ZT_USEC_PER_SEC);
		return r;
	}
	zt_diags_clear(&d);
	manager_policy_clear(&m->cur);
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
		manager_policy_lkg_save(m);
	/* The marker first: the pending file goes only once the marker says what it said. */
	if (have_digest && (r = zt_rolled_back_save(m->state_dir, trial, now_usec(CLOCK_REALTIME))) < 0)
		log_warning("cannot record the rolled-back policy in %s/%s: %s", m->state_dir, ZT_ROLLED_BACK_FILE,
			    strerror(-r));
	zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	m->degraded = true;
	m->state = ZT_DAEMON_DEGRADED;
	manager_status_set_error(m, "generation %llu was not confirmed (%s): rolled back to the previous policy as generation "
		       "%llu; the policy on disk is not in force until ztsegctl reload", (unsigned long long)gen, why,
		       (unsigned long long)m->generation);
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=rollback",
		   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation) }, 2,
		   "rolled back: %s (%zu objects changed in %.1f ms)", m->last_error, st.changed,
		   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	if (m->rtnl) {
		manager_sync_members(m, false);
		manager_sync_links(m, ZT_LINKS_ENC, true);
	}
	manager_policy_trim(m);
	manager_status_notify(m, "READY=1");
	return 0;
}

int manager_trial_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	char why[64];

	snprintf(why, sizeof(why), "no ztsegctl confirm within %llu s", (unsigned long long)m->pending_seconds);
	manager_trial_rollback(m, why);
	return 0;
}

int manager_trial_confirm(struct manager *m, uid_t uid, pid_t pid)
{
	int r;

	if (!m->pending)
		return -ENOENT;
	confirm_timer_set(m, UINT64_MAX);
	m->pending = false;
	manager_policy_clear(&m->rollback);
	manager_policy_trim(m);
	zt_diags_clear(&m->rollback_diags);
	/* Confirmed: this is the policy to come back to now. */
	manager_policy_lkg_save(m);
	zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	r = zt_state_remove(m->state_dir, ZT_ROLLED_BACK_FILE);
	if (r < 0)
		log_warning("cannot remove %s/%s: %s", m->state_dir, ZT_ROLLED_BACK_FILE, strerror(-r));
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=confirmed",
		   log_field("ZTSEG_GENERATION", "%llu", (unsigned long long)m->generation),
		   log_field("ZTSEG_UID", "%u", (unsigned)uid), log_field("ZTSEG_PID", "%d", (int)pid) }, 4,
		   "generation %llu confirmed by uid %u, pid %d: it stays in force", (unsigned long long)m->generation,
		   (unsigned)uid, (int)pid);
	manager_status_notify(m, NULL);
	return 0;
}

/* ---- a trial the last daemon left ---- */


/*
 * A trial the last daemon left unconfirmed (it died, or was killed, in
 * the window): the policy before it, from the pending file (or, failing
 * that, the last-known-good, which the trial never replaced). 1 when that
 * is in m->cur, 0 when there was no trial.
 */
int manager_trial_startup_pending(struct manager *m)
{
	struct zt_pending pd = {};
	struct zt_diags d = {};
	char tb[64];
	int r;

	r = zt_pending_load(m->state_dir, NULL, getuid(), &pd);
	if (r == -ENOENT)
		return 0;
	if (r >= 0) {
		r = manager_policy_load_files(m, &pd.prev, &m->cur, &d);
		if (r < 0)
			log_diags(LOG_ERR, "policy-error", &d);
		zt_diags_clear(&d);
	}
	if (r < 0) {
		log_error("cannot use %s/%s, the policy a reload on trial rolls back to (%s): using the last-known-good",
			  m->state_dir, ZT_PENDING_FILE, strerror(-r));
		r = manager_policy_load_lkg(m);
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
	manager_status_set_error(m, "generation %llu was on trial until %s and never confirmed (ztsegd stopped in its window): "
		       "rolled back to the policy before it; the policy on disk is not in force until ztsegctl reload",
		       (unsigned long long)pd.generation, pd.deadline_usec ? log_time(pd.deadline_usec, tb, sizeof(tb)) : "?");
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=rollback" }, 1, "rolling back: %s", m->last_error);
	zt_pending_clear(&pd);
	return 1;
}

/*
 * The policy on disk is one that was rolled back unconfirmed: run the
 * last-known-good instead (an explicit reload applies it). 1 when done.
 */
int manager_trial_startup_rolled_back(struct manager *m)
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
	if (manager_policy_load_lkg(m) < 0) {
		log_error("the policy in %s was rolled back at %s, but there is nothing else to run: applying it",
			  m->config, log_time(at, tb, sizeof(tb)));
		m->cur = l;
		return 0;
	}
	manager_policy_clear(&l);
	m->degraded = true;
	manager_status_set_error(m, "the policy in %s was rolled back at %s, never confirmed: running the last-known-good "
		       "policy; ztsegctl reload applies it", m->config, log_time(at, tb, sizeof(tb)));
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=degraded" }, 1, "degraded: %s", m->last_error);
	return 1;
}
