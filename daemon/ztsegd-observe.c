/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode in the daemon: the would-deny connections that completed,
 * learned from conntrack every OBSERVE_SCAN_USEC (and before each
 * `suggest`), kept as counted observations; the `suggest` command; the
 * would-deny zone pairs and their kernel counters for status.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include "conntrack.h"
#include "nft-dump.h"
#include "suggest.h"
#include "ztsegd.h"

/*
 * A completed TCP connection stays in conntrack for 120 s (TIME_WAIT),
 * 10 s when a reset closed it; a replied UDP or ICMP one for 30 s and
 * more. A scan every 2 s sees them all.
 */
#define OBSERVE_SCAN_USEC (2 * ZT_USEC_PER_SEC)

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The one connection: its id and tuple, hashed. */
static uint64_t conn_key(const struct zt_ct_seen *s)
{
	uint64_t h = 1469598103934665603ull;
	const uint8_t *parts[] = { s->saddr, s->daddr };

	for (size_t p = 0; p < 2; p++)
		for (size_t i = 0; i < 16; i++)
			h = (h ^ parts[p][i]) * 1099511628211ull;
	h = (h ^ s->proto) * 1099511628211ull;
	h = (h ^ s->dport) * 1099511628211ull;
	return h ^ ((uint64_t)s->id << 32) ^ s->mark;
}

/* Does the zone admit every address: world, or a boundary holding a /0? */
static bool zone_wide(const struct zt_policy *p, const struct zt_zone *z)
{
	if (z->kind == ZT_ZONE_WORLD)
		return true;
	if (z->kind != ZT_ZONE_BOUNDARY || z->bnd < 0)
		return false;
	for (size_t i = 0; i < p->hub.boundaries[z->bnd].n_addrs; i++)
		if (p->hub.boundaries[z->bnd].addrs[i].plen == 0)
			return true;
	return false;
}

struct scan {
	struct manager *m;
	uint64_t now;
	uint64_t *keys;			/* the connections counted, this scan */
	size_t n_keys, cap_keys;
};

static int obs_add(struct manager *m, const struct zt_suggest_obs *o)
{
	for (size_t i = 0; i < m->n_obs; i++) {
		if (!zt_suggest_obs_same(&m->obs[i], o))
			continue;
		m->obs[i].count += o->count;
		m->obs[i].last_usec = o->last_usec;
		return 0;
	}
	if (m->n_obs >= ZT_SUGGEST_OBS_MAX) {
		size_t old = 0;

		/* Full: the kind seen longest ago makes room. */
		for (size_t i = 1; i < m->n_obs; i++)
			if (m->obs[i].last_usec < m->obs[old].last_usec)
				old = i;
		m->obs[old] = *o;
		m->observe_dropped++;
		return 0;
	}
	if (ZT_GROW(m->obs, m->cap_obs, m->n_obs) < 0)
		return -ENOMEM;
	m->obs[m->n_obs++] = *o;
	return 0;
}

static int scan_cb(const struct zt_ct_seen *s, void *data)
{
	struct scan *sc = data;
	struct manager *m = sc->m;
	const struct zt_plan_observe *po = &m->cur.plan->observe;
	const struct zt_policy *p = m->cur.policy;
	uint32_t src = s->mark >> 16, dst = s->mark & 0xffff;
	struct zt_suggest_obs o = { .proto = s->proto, .count = 1, .first_usec = sc->now, .last_usec = sc->now };
	uint64_t k = conn_key(s);

	if (!zt_ct_seen_completed(s) || src > po->n_zones || dst > po->n_zones ||
	    !zt_policy_observes(p, &po->zones[src], &po->zones[dst]))
		return 0;
	if (ZT_GROW(sc->keys, sc->cap_keys, sc->n_keys) < 0)
		return -ENOMEM;
	sc->keys[sc->n_keys++] = k;
	/* Counted when a scan first found it complete. */
	if (m->ct_seen && bsearch(&k, m->ct_seen, m->n_ct_seen, sizeof(k), u64_cmp))
		return 0;
	zt_zone_fmt(p, &po->zones[src], o.from, sizeof(o.from));
	zt_zone_fmt(p, &po->zones[dst], o.to, sizeof(o.to));
	if (s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP || s->proto == IPPROTO_SCTP)
		o.port = s->dport;
	else if ((s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6) && s->icmp_type >= 0)
		o.port = (uint16_t)s->icmp_type;
	else
		return 0;	/* no port a flow could name */
	if (zone_wide(p, &po->zones[src])) {
		o.wide = true;
		o.family = s->family;
		memcpy(o.addr, s->saddr, 16);
	}
	return obs_add(m, &o);
}

int manager_observe_scan(struct manager *m)
{
	struct scan sc = { .m = m, .now = now_usec(CLOCK_REALTIME) };
	int r;

	if (!m->cur.plan || !m->cur.plan->observe.set[0])
		return 0;
	r = zt_ct_dump_pairs(scan_cb, &sc);
	if (r < 0) {
		free(sc.keys);
		return r;
	}
	if (sc.n_keys)
		qsort(sc.keys, sc.n_keys, sizeof(*sc.keys), u64_cmp);
	free(m->ct_seen);
	m->ct_seen = sc.keys;
	m->n_ct_seen = sc.n_keys;
	m->observe_scans++;
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	int r = manager_observe_scan(m);

	if (r < 0)
		log_warning("observe: cannot read conntrack: %s", strerror(-r));
	sd_event_source_set_time_relative(s, OBSERVE_SCAN_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

int manager_observe_start(struct manager *m)
{
	return sd_event_add_time_relative(m->event, &m->src_observe, CLOCK_MONOTONIC, OBSERVE_SCAN_USEC,
					  ZT_USEC_PER_SEC / 10, on_timer, m);
}

void manager_observe_free(struct manager *m)
{
	m->src_observe = sd_event_source_disable_unref(m->src_observe);
	free(m->obs);
	free(m->ct_seen);
	m->obs = NULL;
	m->ct_seen = NULL;
	m->n_obs = m->cap_obs = m->n_ct_seen = 0;
}

/* ---- suggest ---- */

/* Would the running policy allow it now (a flow added since)? Then there is nothing to suggest. */
static bool allowed_now(const struct zt_policy *p, const struct zt_suggest_obs *o)
{
	struct zt_endpoint from = {}, to = {};
	struct zt_port pkt = { .icmp_type = -1 };
	struct zt_explanation e;
	struct zt_diags d = {};
	bool allow;

	snprintf(from.zone, sizeof(from.zone), "%s", o->from);
	snprintf(to.zone, sizeof(to.zone), "%s", o->to);
	if (o->wide) {
		from.zone[0] = '\0';
		from.has_addr = true;
		from.family = o->family;
		memcpy(from.addr, o->addr, 16);
	}
	switch (o->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		pkt.proto = o->proto == IPPROTO_TCP ? ZT_PROTO_TCP : o->proto == IPPROTO_UDP ? ZT_PROTO_UDP
											  : ZT_PROTO_SCTP;
		pkt.lo = pkt.hi = o->port;
		break;
	default:
		pkt.proto = o->proto == IPPROTO_ICMP ? ZT_PROTO_ICMP : ZT_PROTO_ICMPV6;
		pkt.icmp_type = o->port;
		break;
	}
	allow = zt_explain(p, &from, &to, &pkt, NULL, &e, &d) == 0 && e.allow;
	zt_diags_clear(&d);
	return allow;
}

int manager_observe_suggest(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	const struct zt_policy *p = m->cur.policy;
	json_t *list, *v;
	const char *key;
	int r;

	json_object_foreach(req->args, key, v) {
		if (!streq(key, "segment"))
			return zt_ctl_conn_reply_errorf(c, req->now_usec, "unknown argument '%.64s'", key);
		if (!json_is_string(v))
			return zt_ctl_conn_reply_errorf(c, req->now_usec, "'segment' must be a name");
	}
	if ((v = json_object_get(req->args, "segment"))) {
		struct zt_zone z;

		if (!p || zt_policy_find_zone(p, json_string_value(v), &z) < 0 || z.kind != ZT_ZONE_SEGMENT)
			return zt_ctl_conn_reply_errorf(c, req->now_usec, "no segment '%.64s' in the policy",
							json_string_value(v));
	}
	r = manager_observe_scan(m);
	if (r < 0)
		log_warning("observe: cannot read conntrack: %s", strerror(-r));
	if (!(list = json_array()))
		return -ENOMEM;
	for (size_t i = 0; i < m->n_obs; i++) {
		if (p && allowed_now(p, &m->obs[i]))
			continue;
		if (json_array_append_new(list, zt_suggest_obs_json(&m->obs[i])) < 0) {
			json_decref(list);
			return -ENOMEM;
		}
	}
	return zt_ctl_conn_reply_ok(c, json_pack("{s:o, s:I, s:I, s:b}", "observations", list, "scans",
						 (json_int_t)m->observe_scans, "dropped", (json_int_t)m->observe_dropped,
						 "observing", m->cur.plan && m->cur.plan->observe.set[0]),
				    req->now_usec);
}

/* ---- status ---- */

static int ctr_cb(struct nftnl_expr *e, void *data)
{
	uint64_t *pb = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

	if (name && streq(name, "counter")) {
		pb[0] = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
		pb[1] = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
	}
	return 0;
}

/* The zone pairs in the would-deny set, with the kernel's counters. */
static int pairs_json(struct manager *m, json_t *arr)
{
	const struct zt_plan_observe *po = &m->cur.plan->observe;
	const struct zt_policy *p = m->cur.policy;
	struct zt_kset ks;
	struct zt_nl nl;
	int r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 1 << 20);

	if (r < 0)
		return r;
	r = zt_kset_dump(&nl, po->set, &ks);
	zt_nl_close(&nl);
	for (size_t i = 0; r >= 0 && i < ks.n; i++) {
		uint32_t len = 0, mark, src, dst;
		const void *k = nftnl_set_elem_get(ks.el[i], NFTNL_SET_ELEM_KEY, &len);
		uint64_t pb[2] = { 0, 0 };
		char fz[ZT_ENDPOINT_NAME_MAX], tz[ZT_ENDPOINT_NAME_MAX], pos[300], mpos[300];
		const struct zt_pos *dp = p->hub.dflt_pos.file ? &p->hub.dflt_pos : &p->hub.pos, *mp;
		const struct zt_zone *zs, *zd;

		if (!k || len != 4)
			continue;
		memcpy(&mark, k, 4);
		src = mark >> 16;
		dst = mark & 0xffff;
		if (!src || !dst || src > po->n_zones || dst > po->n_zones)
			continue;
		zs = &po->zones[src];
		zd = &po->zones[dst];
		nftnl_set_elem_expr_foreach(ks.el[i], ctr_cb, pb);
		/* Same zone of an isolating segment: its isolate decides, else hub.default. */
		if (src == dst && zs->seg >= 0 && p->segs[zs->seg].isolate)
			dp = &p->segs[zs->seg].pos;
		mp = zt_mode_pos(p, zs->seg >= 0 ? (size_t)zs->seg : zd->seg >= 0 ? (size_t)zd->seg : SIZE_MAX);
		snprintf(pos, sizeof(pos), "%s:%u", dp->file ? dp->file : "?", dp->line);
		snprintf(mpos, sizeof(mpos), "%s:%u", mp->file ? mp->file : "?", mp->line);
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:s, s:s}", "from",
							 zt_zone_fmt(p, zs, fz, sizeof(fz)), "to",
							 zt_zone_fmt(p, zd, tz, sizeof(tz)), "packets", (json_int_t)pb[0],
							 "bytes", (json_int_t)pb[1], "policy", pos, "mode", mpos)) < 0)
			r = -ENOMEM;
	}
	zt_kset_clear(&ks);
	return r == -ENOENT ? 0 : r;
}

int manager_observe_status(struct manager *m, json_t *status)
{
	const struct zt_policy *p = m->cur.policy;
	json_t *segs = json_object_get(status, "segments"), *obs, *pairs, *mode;
	size_t i;
	json_t *sj;
	int r;

	if (!p || !m->cur.plan)
		return 0;
	/* Every segment's mode, as the segments array lists them (policy order). */
	json_array_foreach(segs, i, sj) {
		if (i < p->n_segs &&
		    json_object_set_new(sj, "mode", json_string(zt_segment_mode(p, i) == ZT_MODE_OBSERVE ? "observe"
												  : "enforce")) < 0)
			return -ENOMEM;
	}
	if (!(pairs = json_array()))
		return -ENOMEM;
	if (m->cur.plan->observe.set[0] && (r = pairs_json(m, pairs)) < 0)
		log_debug("observe: cannot read set %s: %s", m->cur.plan->observe.set, strerror(-r));
	mode = json_string(p->hub.mode == ZT_MODE_OBSERVE ? "observe" : "enforce");
	obs = json_pack("{s:o, s:b, s:o, s:I, s:I}", "hub_mode", mode, "observing",
			m->cur.plan->observe.set[0] != 0, "would_deny", pairs, "completed",
			(json_int_t)m->n_obs, "scans", (json_int_t)m->observe_scans);
	if (!obs || json_object_set_new(status, "observe", obs) < 0)
		return -ENOMEM;
	return 0;
}
