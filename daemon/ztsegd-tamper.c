/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd against tampering: the nf_tables monitor (another process
 * changed or deleted our table), the periodic check of the table and its
 * owner, the repair (rate-limited), and the watchdog, which pings only
 * while the table is verified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <linux/netfilter.h>
#include "bridge.h"
#include "nl.h"
#include "nft-dump.h"
#include "ztsegd.h"

void manager_tamper_watchdog(struct manager *m, bool on)
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

void manager_tamper_repair(struct manager *m)
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
	r = manager_policy_apply(m, &m->cur, &st, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "repair-error", &d);
		manager_status_set_error(m, "cannot restore table inet %s: %s", ZT_TABLE_NAME,
			       d.n ? d.v[0].msg : strerror(-r));
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=repair-failed" }, 1, "%s", m->last_error);
		manager_tamper_watchdog(m, false);
		sd_event_source_set_time_relative(m->src_repair_timer, 5 * REPAIR_RETRY_USEC);
		sd_event_source_set_enabled(m->src_repair_timer, SD_EVENT_ONESHOT);
		zt_diags_clear(&d);
		return;
	}
	zt_diags_clear(&d);
	if (m->want_feeds_repair || !manager_feeds_verify(m)) {
		m->want_feeds_repair = false;
		manager_feeds_repair(m);
	}
	manager_sync_links(m, ZT_LINKS_ENC, true);
	manager_hown_sync(m, false);
	manager_dport_sync(m, false);
	manager_fdb_prepin_refill(m);
	/*
	 * The contents of the dynamic sets the daemon fills (grants, unit
	 * cgroups, an episode's bans and limits) are not in the plan, so the
	 * difference above cannot see them emptied: refill them after every
	 * repair, whatever it found. A repair is rare (rate-limited above).
	 */
	if (st.created || st.replaced)
		manager_grant_readd(m);
	else
		manager_grant_sync(m);
	manager_units_sync(m);
	manager_anomaly_sync(m);
	if (st.changed || st.bridge_sent) {
		m->events.repairs++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=repair" }, 1,
			   "restored table inet %s: %s, %zu objects %s%s in %.1f ms", ZT_TABLE_NAME,
			   st.created ? "created anew" : st.replaced ? "replaced" : "difference applied", st.changed,
			   st.created || st.replaced ? "written" : "changed",
			   st.bridge_written ? ", table bridge ztseg written anew" : "",
			   (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	} else {
		log_debug("table inet %s checked: as applied", ZT_TABLE_NAME);
	}
	/* The check compiled the running plan whole again (zt_plan_unslim): slim it again. */
	manager_policy_trim(m);
	manager_tamper_watchdog(m, true);
}

static void on_nft_event(const struct zt_nfmon_event *ev, void *userdata)
{
	struct manager *m = userdata;
	char who[64];

	if (ev->portid == zt_nft_portid(m->nft) && !ev->mixed)
		return;
	m->want_feeds_repair |= ev->feeds;
	if (ev->bridge)
		zt_apply_bridge_forget(m->nft);
	if (ev->pid)
		snprintf(who, sizeof(who), "%s[%u]", ev->comm[0] ? ev->comm : "?", ev->pid);
	else
		snprintf(who, sizeof(who), "netlink port %u", ev->portid);
	m->events.tamper++;
	log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper", log_field("ZTSEG_PID", "%u", ev->pid),
		   log_field("ZTSEG_COMM", "%s", ev->comm), log_field("ZTSEG_PORTID", "%u", ev->portid),
		   log_field("ZTSEG_CHANGES", "%u", ev->changes) }, 5,
		   "tampering: table %s %s %s by %s (%u change%s, generation %u); restoring it",
		   ev->bridge && !ev->inet && !ev->feeds ? "bridge" : "inet", ZT_TABLE_NAME,
		   ev->table_deleted || (ev->bridge_deleted && !ev->inet) ? "deleted" : "changed", who,
		   ev->changes, ev->changes == 1 ? "" : "s", ev->genid);
	if (ev->bridge && (ev->inet || ev->feeds))
		log_warning("tampering: table bridge %s %s too", ZT_TABLE_NAME, ev->bridge_deleted ? "deleted" : "changed");
	m->want_repair = true;
	manager_dirty(m);
}

int manager_tamper_on_nfmon(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nfmon_process(m->nfmon, on_nft_event, m);

	if (r == -ENOBUFS) {
		log_warning("nf_tables notifications were lost (receive buffer overrun): checking the table");
		zt_apply_bridge_forget(m->nft);
		m->want_repair = true;
		manager_dirty(m);
	} else if (r < 0 && r != -EAGAIN) {
		log_error("reading nf_tables notifications: %s", strerror(-r));
	}
	return 0;
}

/*
 * A family's table, read on a socket kept open between passes (closing one
 * took 5-33 ms on a busy host, blocking the loop: conntrack.h); on an
 * error the socket is dropped and the next pass opens another.
 */
static int table_read(struct manager *m, uint16_t nfproto, struct zt_nft_table_info *ti)
{
	int r;

	if (!m->verify_nl && (m->verify_nl = calloc(1, sizeof(*m->verify_nl))) &&
	    zt_nl_open(m->verify_nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 64 * 1024) < 0)
		manager_tamper_close(m);
	if (!m->verify_nl)
		return nfproto == NFPROTO_INET ? zt_nft_table_read(ti) : zt_nft_bridge_table_read(ti);
	r = zt_nft_table_get_family(m->verify_nl, nfproto, ti);
	if (r < 0)
		manager_tamper_close(m);
	return r;
}

void manager_tamper_close(struct manager *m)
{
	if (!m->verify_nl)
		return;
	zt_nl_close(m->verify_nl);
	free(m->verify_nl);
	m->verify_nl = NULL;
}

int manager_tamper_on_verify(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	struct zt_nft_table_info ti;
	int r;

	sd_event_source_set_time_relative(s, VERIFY_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	/* A repair is on its way already; look again after it. */
	if (m->want_repair)
		return 0;
	r = table_read(m, NFPROTO_INET, &ti);
	if (r < 0) {
		log_error("cannot read the nf_tables tables: %s", strerror(-r));
		manager_tamper_watchdog(m, false);
		return 0;
	}
	if (!ti.present || (m->owned && (!ti.has_owner || ti.owner != zt_nft_portid(m->nft)))) {
		m->events.tamper++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
			   "table inet %s is %s (the change was not notified): restoring it", ZT_TABLE_NAME,
			   ti.present ? "no longer ours" : "gone");
		manager_tamper_watchdog(m, false);
		m->want_repair = true;
		manager_dirty(m);
		return 0;
	}
	if (m->cur.plan && m->cur.plan->bridge.n_segs) {
		r = table_read(m, NFPROTO_BRIDGE, &ti);
		if (r >= 0 && (!ti.present || (m->owned && (!ti.has_owner || ti.owner != zt_nft_portid(m->nft))))) {
			m->events.tamper++;
			log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
				   "table bridge %s is %s (the change was not notified): restoring it", ZT_TABLE_NAME,
				   ti.present ? "no longer ours" : "gone");
			zt_apply_bridge_forget(m->nft);
			m->want_repair = true;
			manager_dirty(m);
			return 0;
		}
		if (r < 0)
			log_error("cannot read table bridge %s: %s", ZT_TABLE_NAME, strerror(-r));
	}
	if (m->cur.plan && m->cur.plan->bridge.n_segs &&
	    (zt_bridge_nf_call(false) == 0 || zt_bridge_nf_call(true) == 0) != m->brnf_off) {
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=br-netfilter" }, 1,
			   "br_netfilter was switched %s (net.bridge.bridge-nf-call-ip*tables): rewriting table bridge %s",
			   m->brnf_off ? "on" : "off", ZT_TABLE_NAME);
		m->want_repair = true;
		manager_dirty(m);
		return 0;
	}
	if (!manager_feeds_verify(m)) {
		m->events.tamper++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
			   "tables ip/ip6 %s are gone or no longer ours: restoring them", ZT_TABLE_NAME);
		m->want_repair = true;
		manager_dirty(m);
		return 0;
	}
	manager_tamper_watchdog(m, true);
	return 0;
}

int manager_tamper_on_repair_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	m->want_repair = true;
	manager_dirty(m);
	return 0;
}
