/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's manager: new → setup (the event loop and the kernel sockets) →
 * start (the policy applied, then every event source on the one sd-event
 * loop: signals, rtnetlink, the nf_tables monitor, NFLOG, the control
 * socket, the timers, the watchdog) → free. Every trigger marks work; one
 * deferred pass reconciles.
 */
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include "version.h"
#include "explain.h"
#include "ztsegd.h"

int manager_new(struct manager **ret)
{
	struct manager *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	*m = (struct manager){
		.config = DEFAULT_CONFIG,
		.state_dir = DEFAULT_STATE_DIR,
		.socket_path = ZT_CTL_DEFAULT_SOCKET,
		.socket_group = ZT_CTL_SOCKET_GROUP,
		.log_level = LOG_NOTICE,
		.copts = ZT_COMPILE_OPTS_DEFAULT,
		.repair_rl = ZT_RATELIMIT_INIT(REPAIR_RATE, REPAIR_BURST),
		.packet_rl = ZT_RATELIMIT_INIT(PACKET_RATE, PACKET_BURST),
		.units_ino = -1, .units_rootfd = -1, .units_rootwd = -1,
	};
	zt_histogram_init(&m->apply_hist, zt_histo_duration_bounds, zt_histo_duration_n);
	zt_histogram_init(&m->reload_hist, zt_histo_duration_bounds, zt_histo_duration_n);
	zt_histogram_init(&m->event_lag_hist, zt_histo_duration_bounds, zt_histo_duration_n);
	manager_flowlog_init(m);
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	m->ctl = zt_ctl_server_free(m->ctl);
	manager_flowlog_free(m);
	manager_ctindex_stop(m);
	free(m->reload_waiting);
	manager_grant_free(m);
	manager_units_free(m);
	manager_bans_free(m);
	manager_anomaly_free(m);
	manager_observe_free(m);
	manager_feeds_free(m);
	manager_fdb_free(m);
	manager_tamper_close(m);
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
	free(m->ifx);
	free(m->hown);
	free(m->dports);
	manager_policy_clear(&m->cur);
	manager_policy_clear(&m->rollback);
	zt_diags_clear(&m->rollback_diags);
	zt_diags_clear(&m->disk_diags);
	free(m->last_error);
	free(m);
	return NULL;
}

int manager_setup(struct manager *m)
{
	int r;

	/* A reader gone from the journal stream or a socket must not kill the firewall. */
	signal(SIGPIPE, SIG_IGN);
	m->started_usec = now_usec(CLOCK_REALTIME);
	m->state = ZT_DAEMON_STARTING;
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
	return 0;
}

/* ---- the reconcile pass, and signals ---- */

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
	if (m->want_reload)
		manager_reload_queued(m);
	if (m->want_repair) {
		m->want_repair = false;
		manager_tamper_repair(m);
	}
	if (m->want_members)
		m->want_fdb = true;	/* a port gone, renamed or joined: its bindings */
	if (m->want_members) {
		int r;

		m->want_members = false;
		r = manager_sync_members(m, false);
		if (r < 0)
			log_error("cannot update the membership: %s", strerror(-r));
		if (m->n_grants) {
			struct zt_explain_env env;

			manager_explain_env(m, &env);
			manager_grant_check_sources(m, &env);
		}
	}
	if (m->want_fdb || m->fdb_table_new)
		manager_fdb_sync(m);
	manager_flowlog_sync(m);
	manager_status_notify(m, NULL);
	return 0;
}

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
		manager_trial_rollback(m, why);
	}
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=stop" }, 1,
		   "stopping on %s; table inet %s stays in place (fail closed)", strsignal((int)si->ssi_signo),
		   ZT_TABLE_NAME);
	m->state = ZT_DAEMON_STOPPING;
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(m->event, 0);
}

/* ---- start ---- */

/* The policy on disk, or the last-known-good one with the disk's errors kept for status. */
static int start_load(struct manager *m, struct zt_diags *warnings)
{
	struct zt_diags d = {};
	int r;

	r = manager_trial_startup_pending(m);
	if (r != 0)
		return r < 0 ? r : 0;
	r = manager_policy_load_dir(m, m->config, &m->cur, &d);
	zt_diags_sort(&d);
	manager_policy_diags_under(m->config, &d);
	if (r >= 0) {
		if (manager_trial_startup_rolled_back(m) > 0) {
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
	r = manager_policy_load_lkg(m);
	if (r < 0) {
		log_error("the policy in %s is invalid and there is no usable last-known-good policy in %s/%s",
			  m->config, m->state_dir, ZT_LKG_FILE);
		zt_diags_clear(&d);
		return -EINVAL;
	}
	m->degraded = true;
	m->disk_diags = d;
	manager_status_set_error(m, "the policy in %s is invalid (%zu error%s): running the last-known-good policy",
				 m->config, d.n_errors, d.n_errors == 1 ? "" : "s");
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=degraded" }, 1, "degraded: %s", m->last_error);
	return 0;
}

/* The first apply: the table made (or adopted) as the policy says. */
static int start_apply(struct manager *m)
{
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	int r;

	r = manager_policy_apply(m, &m->cur, &st, &d);
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
		manager_policy_lkg_save(m);
	/* The rollback is in the kernel now: the trial's record has done its work. */
	if (m->startup_rolled_back) {
		m->events.rollbacks++;
		zt_state_remove(m->state_dir, ZT_PENDING_FILE);
	}
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
		r = sd_event_add_io(m->event, &m->src_rtnl, zt_rtnl_fd(m->rtnl), EPOLLIN, manager_sync_on_rtnl, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_rtnl, PRIO_NETLINK);
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->src_nfmon, zt_nfmon_fd(m->nfmon), EPOLLIN, manager_tamper_on_nfmon, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_nfmon, PRIO_NETLINK);
	if (r >= 0 && m->nflog) {
		r = sd_event_add_io(m->event, &m->src_nflog, zt_nflog_fd(m->nflog), EPOLLIN, manager_nflog_on_io, m);
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
		r = sd_event_add_time_relative(m->event, &m->src_verify, CLOCK_MONOTONIC, VERIFY_USEC, 10000,
					       manager_tamper_on_verify, m);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->src_report, CLOCK_MONOTONIC, REPORT_USEC, 100000,
					       manager_nflog_on_report, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_repair_timer, CLOCK_MONOTONIC, UINT64_MAX, 10000,
				      manager_tamper_on_repair_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_OFF);
	/* Rollbacks on time: 1 ms accuracy, not sd-event's default quarter second. */
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->src_confirm, CLOCK_MONOTONIC, UINT64_MAX, 1000,
				      manager_trial_on_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_confirm, SD_EVENT_OFF);
	return r;
}

int manager_start(struct manager *m)
{
	struct zt_diags d = {};
	uint64_t usec;
	int r;

	r = start_load(m, &d);
	if (r < 0)
		return r;
	log_diags(LOG_WARNING, "policy-warning", &d);
	if (!m->degraded)
		manager_policy_keep_warnings(m, &d);
	zt_diags_clear(&d);
	r = start_apply(m);
	if (r < 0)
		return r;
	r = manager_sync_members(m, true);
	if (r < 0) {
		log_error("cannot compute the membership: %s", strerror(-r));
		return r;
	}
	manager_sync_links(m, ZT_LINKS_ENC | ZT_LINKS_IFX, true);
	manager_hown_sync(m, true);
	manager_dport_sync(m, true);
	manager_nflog_open(m);
	r = sources_setup(m);
	if (r < 0) {
		log_error("cannot set up the event loop: %s", strerror(-r));
		return r;
	}
	manager_ctindex_start(m);
	r = manager_fdb_start(m);
	if (r < 0)
		log_error("cannot follow the bridges' FDB and neighbour tables (MACs bind by first frame only): %s",
			  strerror(-r));
	manager_flowlog_sync(m);
	r = manager_grant_start(m);
	if (r < 0) {
		log_error("cannot set up grants: %s", strerror(-r));
		return r;
	}
	r = manager_units_start(m);
	if (r < 0) {
		log_error("cannot watch the cgroup tree for unit zones: %s", strerror(-r));
		return r;
	}
	r = manager_bans_start(m);
	if (r < 0) {
		log_error("cannot set up flood bans: %s", strerror(-r));
		return r;
	}
	r = manager_anomaly_start(m);
	if (r < 0) {
		log_error("cannot set up the anomaly baselines: %s", strerror(-r));
		return r;
	}
	r = manager_observe_start(m);
	if (r < 0) {
		log_error("cannot set up observe mode's scans: %s", strerror(-r));
		return r;
	}
	r = manager_feeds_apply(m);
	if (r < 0)
		log_error("cannot set up the threat feeds: %s", strerror(-r));
	r = manager_ctl_setup(m);
	if (r < 0)
		return r;
	m->have_watchdog = sd_watchdog_enabled(false, &usec) > 0;
	manager_tamper_watchdog(m, true);

	m->state = m->degraded ? ZT_DAEMON_DEGRADED : ZT_DAEMON_RUNNING;
	manager_policy_trim(m);
	manager_status_notify(m, "READY=1");
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=ready" }, 1, "ready: %s", m->status_line);
	return 0;
}
