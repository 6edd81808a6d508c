/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's metrics as Prometheus text (`ztsegctl metrics`, and GET
 * /metrics through ztseg-metrics.socket): the kernel's named counters read
 * now, per flow and for each kind of drop; what the daemon counts itself;
 * the connection log's records by verdict, flow and zone pair. Names follow
 * Prometheus' naming guide: ztseg_ prefix, base units, _total for counters.
 */
#include <stdio.h>
#include "version.h"
#include "ztsegd.h"

static void counter_u64(struct zt_metrics *t, const char *name, const char *help, uint64_t v)
{
	zt_metrics_family(t, name, "counter", help);
	zt_metrics_sample_u64(t, name, NULL, 0, v);
}

static void gauge_u64(struct zt_metrics *t, const char *name, const char *help, uint64_t v)
{
	zt_metrics_family(t, name, "gauge", help);
	zt_metrics_sample_u64(t, name, NULL, 0, v);
}

static void flows(struct manager *m, struct zt_metrics *t, const struct zt_nft_counter *cv, size_t n_cv)
{
	const struct zt_plan *pl = m->cur.plan;
	static const char *const what[2] = { "ztseg_flow_packets_total", "ztseg_flow_bytes_total" };

	for (int k = 0; k < 2; k++) {
		zt_metrics_family(t, what[k], "counter",
				  k ? "Bytes of the connections each flow allowed (both directions, whole connections)."
				    : "Packets of the connections each flow allowed (both directions, whole connections).");
		for (size_t i = 0; pl && i < pl->n_flow_names; i++) {
			const struct zt_plan_flow_name *fn = &pl->flow_names[i];
			const struct zt_nft_counter *c = zt_nft_counter_find(cv, n_cv, fn->counter);
			struct zt_label l[] = { { "flow", fn->name }, { "from", fn->from }, { "to", fn->to },
						{ "segment", fn->segment } };

			if (c)
				zt_metrics_sample_u64(t, what[k], l, ELEMENTSOF(l), k ? c->bytes : c->packets);
		}
	}
}

static void drops(struct zt_metrics *t, const struct zt_nft_counter *cv, size_t n_cv)
{
	static const char *const names[][2] = { { "drops", "default" }, { "spoofs", "spoofed" },
						{ "invalid", "invalid" }, { "untracked", "untracked" } };
	static const char *const what[2] = { "ztseg_dropped_packets_total", "ztseg_dropped_bytes_total" };

	for (int k = 0; k < 2; k++) {
		zt_metrics_family(t, what[k], "counter",
				  k ? "Bytes ztseg dropped, by reason (the kernel's counters)."
				    : "Packets ztseg dropped, by reason (the kernel's counters).");
		for (size_t i = 0; i < ELEMENTSOF(names); i++) {
			const struct zt_nft_counter *c = zt_nft_counter_find(cv, n_cv, names[i][0]);
			struct zt_label l = { "reason", names[i][1] };

			if (c)
				zt_metrics_sample_u64(t, what[k], &l, 1, k ? c->bytes : c->packets);
		}
	}
}

static void pairs(struct manager *m, struct zt_metrics *t)
{
	zt_metrics_family(t, "ztseg_log_connections_total", "counter",
			  "Connections in the connection log, by verdict, flow and zone pair (denies: those the rules "
			  "logged, at most hub log rate; allowed: every connection of a flow-log zone).");
	for (size_t i = 0; i < m->n_pairs; i++) {
		const struct pair_count *p = &m->pairs[i];
		struct zt_label l[] = { { "verdict", p->verdict }, { "flow", p->flow[0] ? p->flow : "default" },
					{ "from", p->from }, { "to", p->to } };

		zt_metrics_sample_u64(t, "ztseg_log_connections_total", l, ELEMENTSOF(l), p->connections);
	}
	zt_metrics_family(t, "ztseg_log_connection_bytes_total", "counter",
			  "Bytes of logged connections that ended (both directions), by verdict, flow and zone pair.");
	for (size_t i = 0; i < m->n_pairs; i++) {
		const struct pair_count *p = &m->pairs[i];
		struct zt_label l[] = { { "verdict", p->verdict }, { "flow", p->flow[0] ? p->flow : "default" },
					{ "from", p->from }, { "to", p->to } };

		if (p->verdict[0] == 'a')
			zt_metrics_sample_u64(t, "ztseg_log_connection_bytes_total", l, ELEMENTSOF(l), p->bytes);
	}
}

static void members(struct manager *m, struct zt_metrics *t)
{
	const struct zt_policy *p = m->cur.policy;

	zt_metrics_family(t, "ztseg_segment_interfaces", "gauge", "Member interfaces of each segment now.");
	for (size_t i = 0; p && i < p->n_segs; i++) {
		const struct zt_segment_members *sm = m->members ? zt_membership_segment(m->members, i, p->segs[i].name)
								 : NULL;
		struct zt_label l = { "segment", p->segs[i].name };

		zt_metrics_sample_u64(t, "ztseg_segment_interfaces", &l, 1, sm ? sm->n_ifs : 0);
	}
	zt_metrics_family(t, "ztseg_segment_routed_prefixes", "gauge",
			  "Prefixes routed through each segment's member interfaces now.");
	for (size_t i = 0; p && i < p->n_segs; i++) {
		const struct zt_segment_members *sm = m->members ? zt_membership_segment(m->members, i, p->segs[i].name)
								 : NULL;
		struct zt_label l = { "segment", p->segs[i].name };

		zt_metrics_sample_u64(t, "ztseg_segment_routed_prefixes", &l, 1, sm ? sm->n_routed : 0);
	}
}

static void state(struct manager *m, struct zt_metrics *t)
{
	static const enum zt_daemon_state states[] = { ZT_DAEMON_STARTING, ZT_DAEMON_RUNNING, ZT_DAEMON_DEGRADED,
						       ZT_DAEMON_RELOADING, ZT_DAEMON_STOPPING };
	struct zt_label vl = { "version", ZTSEG_VERSION };

	zt_metrics_family(t, "ztseg_info", "gauge", "The daemon's version.");
	zt_metrics_sample_u64(t, "ztseg_info", &vl, 1, 1);
	zt_metrics_family(t, "ztseg_state", "gauge", "1 for the daemon's state, 0 for the others.");
	for (size_t i = 0; i < ELEMENTSOF(states); i++) {
		struct zt_label l = { "state", zt_daemon_state_name(states[i]) };

		zt_metrics_sample_u64(t, "ztseg_state", &l, 1, m->state == states[i]);
	}
	gauge_u64(t, "ztseg_degraded", "1 while the daemon runs the last-known-good policy (the one on disk is invalid).",
		  m->degraded);
	gauge_u64(t, "ztseg_trial_pending", "1 while a reload --confirm awaits confirmation.", m->pending);
	gauge_u64(t, "ztseg_policy_generation", "The generation of the policy in force.", m->generation);
	gauge_u64(t, "ztseg_last_apply_success", "1 if the last apply of a table succeeded, 0 if it failed.",
		  m->last_apply_ok);
	zt_metrics_family(t, "ztseg_last_apply_timestamp_seconds", "gauge", "When the table was last applied.");
	zt_metrics_sample(t, "ztseg_last_apply_timestamp_seconds", NULL, 0, (double)m->last_apply_usec / 1e6);
	zt_metrics_family(t, "ztseg_start_time_seconds", "gauge", "When the daemon started.");
	zt_metrics_sample(t, "ztseg_start_time_seconds", NULL, 0, (double)m->started_usec / 1e6);
	counter_u64(t, "ztseg_applies_total", "Tables applied (start, reload, repair, rollback).", m->applies_ok);
	counter_u64(t, "ztseg_apply_failures_total", "Applies the kernel refused or that failed.", m->applies_failed);
	zt_metrics_family(t, "ztseg_apply_duration_seconds", "histogram", "Time to apply a table.");
	zt_metrics_histogram(t, "ztseg_apply_duration_seconds", &m->apply_hist);
	zt_metrics_family(t, "ztseg_reload_duration_seconds", "histogram",
			  "Time of a whole reload: load, compile, apply.");
	zt_metrics_histogram(t, "ztseg_reload_duration_seconds", &m->reload_hist);
	counter_u64(t, "ztseg_reloads_total", "Reloads that took effect.", m->events.reloads);
	counter_u64(t, "ztseg_reload_failures_total", "Reloads refused (invalid policy, apply failed).",
		    m->events.reload_failures);
	counter_u64(t, "ztseg_rollbacks_total", "Reloads on trial rolled back unconfirmed.", m->events.rollbacks);
	counter_u64(t, "ztseg_tamper_events_total", "Changes to ztseg's table that the daemon did not make.",
		    m->events.tamper);
	counter_u64(t, "ztseg_repairs_total", "Repairs of the table after tampering.", m->events.repairs);
	zt_metrics_family(t, "ztseg_event_lag_seconds", "histogram",
			  "From an interface, address or route event to its enforcement.");
	zt_metrics_histogram(t, "ztseg_event_lag_seconds", &m->event_lag_hist);
}

static void losses(struct manager *m, struct zt_metrics *t)
{
	const struct zt_rtnl_stats *rs = m->rtnl ? zt_rtnl_stats(m->rtnl) : NULL;
	const struct zt_ct_event_stats *cs = m->ctev ? zt_ctevent_stats(m->ctev) : NULL;

	counter_u64(t, "ztseg_rtnetlink_overruns_total", "Times rtnetlink events were lost (ENOBUFS; a re-read follows).",
		    rs ? rs->overruns : 0);
	counter_u64(t, "ztseg_nflog_overruns_total", "Times logged packets were lost (ENOBUFS on the NFLOG socket).",
		    m->nflog ? zt_nflog_stats(m->nflog)->overruns : 0);
	counter_u64(t, "ztseg_conntrack_event_overruns_total",
		    "Times conntrack events were lost (ENOBUFS): connection records missing.", cs ? cs->overruns : 0);
	counter_u64(t, "ztseg_conntrack_events_total", "Conntrack events read for the connection log.",
		    cs ? cs->events : 0);
	counter_u64(t, "ztseg_log_records_total", "Records of the connection log.", m->flow_records);
	counter_u64(t, "ztseg_log_reader_lost_total", "Records readers of ztsegctl log lost by reading too slowly.",
		    m->flow_reader_lost);
	gauge_u64(t, "ztseg_log_readers", "Readers of ztsegctl log connected now.", m->n_flow_subs);
	gauge_u64(t, "ztseg_log_enabled", "1 while conntrack events are read (flow-log: true somewhere).",
		  m->flowlog_on);
	counter_u64(t, "ztseg_control_refused_total", "Control connections refused (too many clients).",
		    m->ctl ? zt_ctl_server_stats(m->ctl)->refused_full + zt_ctl_server_stats(m->ctl)->refused_uid : 0);
	gauge_u64(t, "ztseg_grants", "Just-in-time grants live now.", m->n_grants);
	zt_metrics_family(t, "ztseg_grant_events_total", "counter", "Just-in-time grant requests and their ends.");
	{
		const struct { const char *k; uint64_t v; } ge[] = { { "granted", m->grants_granted },
			{ "refused", m->grants_refused }, { "revoked", m->grants_revoked }, { "expired", m->grants_expired } };

		for (size_t i = 0; i < ELEMENTSOF(ge); i++) {
			struct zt_label l = { "event", ge[i].k };

			zt_metrics_sample_u64(t, "ztseg_grant_events_total", &l, 1, ge[i].v);
		}
	}
}

int manager_metrics_text(struct manager *m, char **ret, size_t *ret_len)
{
	_cleanup_free_ struct zt_nft_counter *cv = NULL;
	struct zt_metrics t = {};
	size_t n_cv = 0;
	int r;

	r = zt_nft_counters_read(&cv, &n_cv);
	if (r < 0)
		log_debug("cannot read the counters of table inet %s: %s", ZT_TABLE_NAME, strerror(-r));
	state(m, &t);
	flows(m, &t, cv, n_cv);
	drops(&t, cv, n_cv);
	members(m, &t);
	pairs(m, &t);
	losses(m, &t);
	if (t.oom) {
		zt_metrics_clear(&t);
		return -ENOMEM;
	}
	*ret = t.buf ? t.buf : strdup("");
	*ret_len = t.len;
	return *ret ? 0 : -ENOMEM;
}

void manager_metrics_reload(struct manager *m, uint64_t usec)
{
	zt_histogram_observe(&m->reload_hist, (double)usec / 1e6);
}
