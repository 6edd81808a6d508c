/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's membership sync: per rtnetlink event, which interfaces and
 * routed prefixes belong to which segment, enc_if kept to exactly the
 * encrypted interfaces of a trusted kind, and the connections of prefixes
 * that moved forgotten (conntrack) so that their next packets are judged
 * in their new zones.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <linux/netfilter/nf_tables.h>
#include "conntrack.h"
#include "ztsegd.h"

/* ---- enc_if: exactly the encrypted interfaces of a trusted kind ---- */

static const struct zt_set *enc_set(const struct manager *m)
{
	const struct zt_set *s = m->cur.plan ? zt_plan_find_set(m->cur.plan, ZT_ENC_IF_SET) : NULL;

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
	struct zt_set s;
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
	s = zt_set_with(def, el, n);
	r = zt_set_encode(&s, &enc);
	if (r >= 0)
		r = zt_emit_elems(b, &s, &enc, NULL, 0, type);
	zt_set_enc_clear(&enc);
	return r;
}

/* The names enc_if should hold and, unless refill, what to send to get there from m->enc. */
static int enc_prepare(struct manager *m, bool refill, struct names_change *c)
{
	int r = enc_wanted(m, &c->want, &c->n_want);

	if (r < 0 || refill)
		return r;
	return manager_ifx_names_diff(c, m->enc, m->n_enc);
}

/* enc_if's part of a links transaction: the difference, or (refill) flushed and filled anew. */
static int enc_emit_change(struct zt_batch *b, const struct zt_set *def, const struct names_change *c, bool refill)
{
	int r;

	if (refill) {
		r = zt_emit_set_flush(b, def->name);
		return r < 0 ? r : enc_emit(b, def, c->want, c->n_want, NFT_MSG_NEWSETELEM);
	}
	r = enc_emit(b, def, c->del, c->n_del, NFT_MSG_DELSETELEM);
	return r < 0 ? r : enc_emit(b, def, c->add, c->n_add, NFT_MSG_NEWSETELEM);
}

/* After the commit: say what changed; enc_if holds c's names. */
static void enc_done(struct manager *m, struct names_change *c)
{
	for (size_t i = 0; i < c->n_add; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=encrypted-interface", log_field("ZTSEG_INTERFACE", "%s", c->add[i]) },
			   2, "%s is an encrypted interface now", c->add[i]);
	for (size_t i = 0; i < c->n_del; i++)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=encrypted-interface", log_field("ZTSEG_INTERFACE", "%s", c->del[i]) },
			   2, "%s is no longer an encrypted interface", c->del[i]);
	free(m->enc);
	m->enc = TAKE_PTR(c->want);
	m->n_enc = c->n_want;
}

/* What a manager_sync_links() transaction holds, for its messages. */
static const char *links_label(unsigned what)
{
	static const char *const labels[8] = {
		[ZT_LINKS_ENC] = "set " ZT_ENC_IF_SET,
		[ZT_LINKS_IFX] = "the exact interface names",
		[ZT_LINKS_ENC | ZT_LINKS_IFX] = "enc_if and the exact interface names",
		[ZT_LINKS_DPORT] = "the ports of bridge: segments",
		[ZT_LINKS_ENC | ZT_LINKS_DPORT] = "enc_if and the ports of bridge: segments",
		[ZT_LINKS_IFX | ZT_LINKS_DPORT] = "the exact interface names and the ports of bridge: segments",
		[ZT_LINKS_ENC | ZT_LINKS_IFX | ZT_LINKS_DPORT] =
			"enc_if, the exact interface names and the ports of bridge: segments",
	};

	return labels[what & 7] ? labels[what & 7] : "nothing";
}

/*
 * enc_if (ZT_LINKS_ENC), the exact-name twins (ZT_LINKS_IFX, lib/ifx.h)
 * and the ports of bridge: segments (ZT_LINKS_DPORT) to what the links
 * say: the difference, or (refill, or when the difference is refused)
 * enc_if and the twins flushed and filled anew, in one transaction. One:
 * every commit costs the kernel a walk of every chain in the namespace
 * (doc/RULESET.md, "What a commit costs"), and an event's latency is
 * mostly that.
 */
int manager_sync_links(struct manager *m, unsigned what, bool refill)
{
	const struct zt_set *def = enc_set(m);
	struct names_change enc = {}, ifx = {};
	struct dport_change dp = {};
	struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r = 0, err = 0, n_ports = 0;

	if (!def) {
		m->n_enc = 0;
		what &= ~ZT_LINKS_ENC;
	}
	if (!m->cur.plan)
		what &= ~ZT_LINKS_IFX;
	/* a failure is logged there, and its difference tried again at the next event */
	if ((what & ZT_LINKS_DPORT) && manager_dport_prepare(m, false, &dp) < 0)
		what &= ~ZT_LINKS_DPORT;
	if ((what & ZT_LINKS_ENC) && (r = enc_prepare(m, refill, &enc)) < 0)
		goto out;
	if ((what & ZT_LINKS_IFX) && (r = manager_ifx_prepare(m, refill, &ifx)) < 0)
		goto out;
	if (!what || (!refill && !enc.n_add && !enc.n_del && !ifx.n_add && !ifx.n_del && !dp.n_add && !dp.n_del))
		goto out;
	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0 && (what & ZT_LINKS_ENC))
		r = enc_emit_change(b, def, &enc, refill);
	if (r >= 0 && (what & ZT_LINKS_IFX))
		r = manager_ifx_emit(m, b, &ifx, refill);
	if (r >= 0 && (what & ZT_LINKS_DPORT))
		r = manager_dport_emit(m, b, &dp);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0 && !refill && r != -ENOMEM) {
		/* What we thought was there is not: fill it anew (the ports' difference again: writing one twice is no error). */
		log_debug("%s: incremental update refused (%s), refilling", links_label(what), strerror(err ? err : -r));
		zt_batch_free(b);
		zt_diags_clear(&d);
		manager_ifx_names_clear(&enc);
		manager_ifx_names_clear(&ifx);
		manager_dport_clear(&dp);
		return manager_sync_links(m, what, true);
	}
	if (r < 0 && (what & ZT_LINKS_ENC) && (what & ~ZT_LINKS_ENC) && r != -ENOMEM) {
		/*
		 * The twins and the ports are in table bridge ztseg too, which
		 * another tool may hold (an owned table ztsegd cannot repair):
		 * enc_if, in table inet ztseg, must not wait for it. The rest is
		 * tried again at the next event (a name the twins lack is
		 * classified by its pattern; a port not in dport claims nothing).
		 */
		log_error("cannot update %s: %s; enc_if once more on its own", links_label(what),
			  d.n ? d.v[0].msg : strerror(err ? err : -r));
		zt_batch_free(b);
		zt_diags_clear(&d);
		manager_ifx_names_clear(&enc);
		manager_ifx_names_clear(&ifx);
		if (what & ZT_LINKS_DPORT)
			manager_dport_done(m, &dp, r);
		r = manager_sync_links(m, ZT_LINKS_ENC, true);
		return r < 0 ? r : 0;
	}
	if (r < 0) {
		/* Fail closed all the same: a name the twins lack is classified by its pattern. */
		log_error("cannot update %s: %s", links_label(what), d.n ? d.v[0].msg : strerror(err ? err : -r));
		goto out;
	}
	if (what & ZT_LINKS_ENC)
		enc_done(m, &enc);
	if (what & ZT_LINKS_IFX)
		manager_ifx_done(m, &ifx);
out:
	if (what & ZT_LINKS_DPORT)
		n_ports = manager_dport_done(m, &dp, r);
	zt_batch_free(b);
	zt_diags_clear(&d);
	manager_ifx_names_clear(&enc);
	manager_ifx_names_clear(&ifx);
	return r < 0 ? r : n_ports;
}

/* ---- membership ---- */

static int cidr_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
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
		if (df->pfx_add[i].elsewhere)
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
int manager_sync_members(struct manager *m, bool baseline)
{
	_cleanup_membership_diff_ struct zt_membership_diff *df = NULL;
	_cleanup_free_ struct zt_cidr *moved = NULL;
	struct zt_rtnl_dirty dirty = {};
	const char *ct = "";
	uint64_t t0 = m->event_usec;
	size_t n_moved = 0;
	int r = -ESTALE, n_hown, n_dport;
	bool acted;
	uint64_t ts[5] = { now_usec(CLOCK_MONOTONIC) };

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
	ts[1] = now_usec(CLOCK_MONOTONIC);

	/*
	 * enc_if (first: a new encrypted leg should not wait for the conntrack
	 * dump), every link's name in the exact-name maps (a lookup by hash,
	 * not by pattern: lib/ifx.h) and the ports of bridge: segments'
	 * bridges (a new one claims from its first frame, a gone one frees its
	 * addresses), in one transaction.
	 */
	acted = df->n_enc_add || df->n_enc_del;
	n_dport = manager_sync_links(m, (acted ? ZT_LINKS_ENC : 0) | ZT_LINKS_IFX | ZT_LINKS_DPORT, false);
	ts[2] = now_usec(CLOCK_MONOTONIC);
	/* The host's addresses on bridges: no port may claim them in ARP or an NA. */
	n_hown = manager_hown_sync(m, false);
	/* what they committed: a failure is theirs to log, and to try again */
	n_hown = n_hown > 0 ? n_hown : 0;
	n_dport = n_dport > 0 ? n_dport : 0;
	acted |= n_hown || n_dport;
	ts[3] = now_usec(CLOCK_MONOTONIC);
	if (n_moved) {
		struct zt_ct_stats st = {};

		r = manager_ctindex_flush(m, moved, n_moved, &st);
		if (r < 0)
			log_error("cannot delete the connections of moved addresses: %s", strerror(-r));
		ct = st.walks ? ", conntrack table walked" : st.empty ? ", no connections: conntrack not walked" :
		     st.indexed ? ", connection index: conntrack not walked" : "";
		if (st.deleted)
			log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=connections-rejudged" }, 1,
				   "%llu connection%s of %zu moved prefix%s forgotten: their next packets are judged "
				   "in their new zones", (unsigned long long)st.deleted, st.deleted == 1 ? "" : "s",
				   n_moved, n_moved == 1 ? "" : "es");
		acted = true;
	}
	if (t0 && !baseline)
		zt_histogram_observe(&m->event_lag_hist, (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1e6);
	if (acted && t0)
		log_fields(LOG_DEBUG, (const char *[]){ "ZTSEG_EVENT=latency",
			   log_field("ZTSEG_LATENCY_USEC", "%llu", (unsigned long long)(now_usec(CLOCK_MONOTONIC) - t0)) }, 2,
			   "event to enforcement: %llu us (%zu prefixes moved, %zu+%zu encrypted interfaces, "
			   "%d host address%s on bridges, %d bridge port%s%s; "
			   "waited %llu, membership %llu, interfaces and bridge ports %llu, host addresses on bridges %llu, "
			   "connections %llu us; "
			   "enforced at %llu us of the realtime clock)",
			   (unsigned long long)(now_usec(CLOCK_MONOTONIC) - t0), n_moved, df->n_enc_add, df->n_enc_del,
			   n_hown, n_hown == 1 ? "" : "es", n_dport, n_dport == 1 ? "" : "s", ct,
			   (unsigned long long)(ts[0] - t0), (unsigned long long)(ts[1] - ts[0]),
			   (unsigned long long)(ts[2] - ts[1]), (unsigned long long)(ts[3] - ts[2]),
			   (unsigned long long)(now_usec(CLOCK_MONOTONIC) - ts[3]),
			   (unsigned long long)now_usec(CLOCK_REALTIME));
	return 0;
}

/* ---- rtnetlink events ---- */

int manager_sync_on_rtnl(sd_event_source *s, int fd, uint32_t revents, void *userdata)
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
