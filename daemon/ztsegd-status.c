/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's status: the document ztsegctl status shows (with the kernel's
 * counters read live), the STATUS= line systemd shows, and the last error
 * both carry.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <unistd.h>
#include <linux/rtnetlink.h>
#include <systemd/sd-daemon.h>
#include "bridge.h"
#include "bridge-learn.h"
#include "foreign.h"
#include "version.h"
#include "ztsegd.h"

#define FCNT_SET "fcnt"

/* ---- the last error, and systemd's STATUS= ---- */

void manager_status_set_error(struct manager *m, const char *fmt, ...)
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

static void status_counts(const struct manager *m, size_t *ifs, size_t *routed)
{
	*ifs = *routed = 0;
	for (size_t i = 0; m->members && i < m->members->n_segs; i++) {
		*ifs += m->members->segs[i].n_ifs;
		*routed += m->members->segs[i].n_routed;
	}
}

void manager_status_notify(struct manager *m, const char *extra)
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

/* ---- the status document ---- */

/*
 * The named counter the compiler gave each flow: fcnt's elements point
 * back at the flow by its position (all of one flow's marks at the same
 * one, with the same counter). Sorted once per status document, so that
 * the flows' counters cost O(flows log marks), not O(flows × marks).
 */
struct flow_counter {
	const struct zt_pos *pos;
	const char *counter;
};

static int pos_cmp(const struct zt_pos *a, const struct zt_pos *b)
{
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return strcmp(a->file, b->file);
}

static int flow_counter_cmp(const void *a, const void *b)
{
	return pos_cmp(((const struct flow_counter *)a)->pos, ((const struct flow_counter *)b)->pos);
}

/* fcnt's elements that name a counter and a policy position, sorted by it; *ret NULL and 0 when there are none. */
static int flow_counters(const struct zt_plan *plan, struct flow_counter **ret, size_t *n_ret)
{
	const struct zt_set *s = zt_plan_find_set(plan, FCNT_SET);
	struct flow_counter *v;
	size_t n = 0;

	*ret = NULL;
	*n_ret = 0;
	if (!s || !s->n_elems)
		return 0;
	if (!(v = calloc(s->n_elems, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_elems; i++) {
		const struct zt_elem *e = zt_set_elem(s, i);

		if (e->data.type == ZT_TYPE_COUNTER && e->pos.file)
			v[n++] = (struct flow_counter){ .pos = &e->pos, .counter = e->data.counter };
	}
	qsort(v, n, sizeof(*v), flow_counter_cmp);
	*ret = v;
	*n_ret = n;
	return 0;
}

static const char *flow_counter(const struct flow_counter *v, size_t n, const struct zt_flow *f)
{
	struct flow_counter key = { .pos = &f->pos };
	const struct flow_counter *hit;

	if (!f->pos.file || !n)
		return NULL;
	hit = bsearch(&key, v, n, sizeof(*v), flow_counter_cmp);
	return hit ? hit->counter : NULL;
}

static int cidr_cmp(const void *a, const void *b)
{
	return zt_cidr_cmp(a, b);
}

struct routed_ctx {
	const struct zt_segment_members *sm;
	const char *ifname;
	struct zt_status_routed *v;
	size_t n, cap;
	int err;
};

static int routed_cb(const struct zt_rtnl_route *rt, void *userdata)
{
	struct routed_ctx *c = userdata;
	struct zt_cidr key = rt->dst;

	key.pos = (struct zt_pos){};
	if (!c->sm->n_routed || !bsearch(&key, c->sm->routed, c->sm->n_routed, sizeof(key), cidr_cmp))
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (zt_cidr_equal(&c->v[i].addr, &key))
			return 0;
	if (ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
		c->err = -ENOMEM;
		return 1;
	}
	c->v[c->n].addr = key;
	snprintf(c->v[c->n].ifname, IFNAMSIZ, "%s", c->ifname);
	c->n++;
	return 0;
}

/*
 * With scope: members, forwarded traffic that touches no member interface
 * is not enforced: a route into a segment's static addresses through
 * another interface takes them out of the policy (doc/RULESET.md).
 */
struct misroute_ctx {
	const struct zt_policy *p;
	const struct zt_rtnl_state *s;
	struct zt_diags *d;
};

static bool is_member_name(const struct zt_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_segs; i++)
		for (size_t j = 0; j < p->segs[i].n_ifs; j++)
			if (zt_ifpat_match(&p->segs[i].ifs[j], name))
				return true;
	return false;
}

static int misroute_cb(const struct zt_rtnl_route *rt, void *userdata)
{
	struct misroute_ctx *c = userdata;
	const struct zt_rtnl_link *l;
	char rb[ZT_CIDR_STRLEN];

	if (rt->type != RTN_UNICAST || rt->dst.plen == 0 || !rt->oif || rt->table != RT_TABLE_MAIN)
		return 0;
	l = zt_rtnl_state_link(c->s, rt->oif);
	if (!l || is_member_name(c->p, l->name))
		return 0;
	for (size_t i = 0; i < c->p->n_segs; i++) {
		const struct zt_segment *sg = &c->p->segs[i];

		for (size_t j = 0; j < sg->n_addrs; j++) {
			if (!zt_cidr_contains(&sg->addrs[j], &rt->dst))
				continue;
			zt_diag_warning(c->d, sg->pos.file, sg->pos.line, sg->pos.col,
					"the route to %s leaves through %s, no segment's interface, but lies in "
					"segment '%s': with scope: members its traffic is not enforced",
					zt_cidr_fmt(&rt->dst, rb, sizeof(rb)), l->name, sg->name);
			return 0;
		}
	}
	return 0;
}

struct status_buf {
	struct zt_status_segment *segs;
	const char **ifnames;		/* all segments' interface names, one array */
	struct zt_status_routed **routed;
	struct zt_status_flow *flows;
	struct zt_nft_counter *counters;
	size_t n_counters, n_segs;
	struct zt_untrack *untrack;
	struct zt_status_untrack *su;
	struct zt_status_counter drops[11];
	size_t n_drops;
	struct zt_status_confirm confirm;
	struct zt_diags diags;
};

static void status_buf_clear(struct status_buf *b)
{
	for (size_t i = 0; b->routed && i < b->n_segs; i++)
		free(b->routed[i]);
	free(b->routed);
	free(b->segs);
	free(b->ifnames);
	free(b->flows);
	free(b->counters);
	free(b->untrack);
	free(b->su);
	zt_diags_clear(&b->diags);
}

static void counter_get(const struct status_buf *b, const char *name, uint64_t *packets, uint64_t *bytes,
			bool *have)
{
	const struct zt_nft_counter *c = name ? zt_nft_counter_find(b->counters, b->n_counters, name) : NULL;

	*packets = c ? c->packets : 0;
	*bytes = c ? c->bytes : 0;
	if (have)
		*have = c != NULL;
}


/* Each segment: its patterns and addresses, the member interfaces now and the prefixes routed to them. */
static int status_segments(struct manager *m, const struct zt_policy *p, struct status_buf *b,
			   struct zt_status *st)
{
	size_t n_ifs = 0, k = 0;

	b->n_segs = p->n_segs;
	for (size_t i = 0; m->members && i < m->members->n_segs; i++)
		n_ifs += m->members->segs[i].n_ifs;
	b->segs = calloc(p->n_segs + 1, sizeof(*b->segs));
	b->ifnames = calloc(n_ifs + 1, sizeof(*b->ifnames));
	b->routed = calloc(p->n_segs + 1, sizeof(*b->routed));
	if (!b->segs || !b->ifnames || !b->routed)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *sg = &p->segs[i];
		const struct zt_segment_members *sm = m->members ? zt_membership_segment(m->members, i, sg->name) : NULL;
		struct zt_status_segment *ss = &b->segs[i];
		struct routed_ctx rc = { .sm = sm };

		*ss = (struct zt_status_segment){ .name = sg->name, .patterns = sg->ifs, .n_patterns = sg->n_ifs,
						  .addrs = sg->addrs, .n_addrs = sg->n_addrs,
						  .interfaces = &b->ifnames[k] };
		for (size_t j = 0; sm && j < sm->n_ifs; j++) {
			b->ifnames[k++] = sm->ifs[j].name;
			ss->n_interfaces++;
			rc.ifname = sm->ifs[j].name;
			zt_rtnl_state_foreach_route_oif(zt_rtnl_state(m->rtnl), sm->ifs[j].ifindex, routed_cb, &rc);
		}
		if (rc.err < 0) {
			free(rc.v);
			return rc.err;
		}
		b->routed[i] = rc.v;
		ss->routed = rc.v;
		ss->n_routed = rc.n;
	}
	st->segments = b->segs;
	st->n_segments = p->n_segs;
	return 0;
}

/* The hub's flows, then each segment's rules, with their counters; then the drop counters. */
static int status_flows(struct manager *m, const struct zt_policy *p, struct status_buf *b, struct zt_status *st)
{
	_cleanup_free_ struct flow_counter *fc = NULL;
	size_t n_flows = p->hub.n_flows, k = 0, n_fc;
	int r;

	for (size_t i = 0; i < p->n_segs; i++)
		n_flows += p->segs[i].n_rules;
	b->flows = calloc(n_flows + 1, sizeof(*b->flows));
	if (!b->flows)
		return -ENOMEM;
	if ((r = flow_counters(m->cur.plan, &fc, &n_fc)) < 0)
		return r;
	for (size_t s = 0; s <= p->n_segs; s++) {
		const struct zt_flow *v = s == 0 ? p->hub.flows : p->segs[s - 1].rules;
		size_t n = s == 0 ? p->hub.n_flows : p->segs[s - 1].n_rules;

		for (size_t i = 0; i < n; i++) {
			struct zt_status_flow *sf = &b->flows[k++];

			*sf = (struct zt_status_flow){ .name = v[i].name, .segment = s ? p->segs[s - 1].name : NULL,
						       .from = v[i].from, .n_from = v[i].n_from, .to = v[i].to,
						       .n_to = v[i].n_to, .ports = v[i].ports, .n_ports = v[i].n_ports,
						       .encrypted = v[i].encrypted, .pos = v[i].pos };
			counter_get(b, flow_counter(fc, n_fc, &v[i]), &sf->packets, &sf->bytes,
				    &sf->have_counters);
		}
	}
	st->flows = b->flows;
	st->n_flows = n_flows;
	counter_get(b, "drops", &b->drops[0].packets, &b->drops[0].bytes, NULL);
	counter_get(b, "spoofs", &b->drops[1].packets, &b->drops[1].bytes, NULL);
	counter_get(b, "invalid", &b->drops[2].packets, &b->drops[2].bytes, NULL);
	counter_get(b, "untracked", &b->drops[3].packets, &b->drops[3].bytes, NULL);
	b->n_drops = 4;
	/* Flood limits (threats.flood): reasons of their own, when the policy has limits. */
	if (m->cur.plan->n_flood) {
		static const char *const fl[][2] = { { "flood_banned", "flood-banned" }, { "flood_bans", "flood-ban" },
						     { "flood_limited", "flood-limited" },
						     { "flood_full", "flood-full" } };

		for (size_t i = 0; i < ELEMENTSOF(fl); i++) {
			b->drops[4 + i].name = fl[i][1];
			counter_get(b, fl[i][0], &b->drops[4 + i].packets, &b->drops[4 + i].bytes, NULL);
		}
		b->n_drops = 8;
	}
	/* Anomaly mitigations (threats.anomaly): their own reasons, when the policy watches flows. */
	if (m->cur.plan->n_anomaly) {
		static const char *const an[][2] = { { "anomaly_limited", "anomaly-limited" },
						     { "anomaly_banned", "anomaly-banned" },
						     { "anomaly_full", "anomaly-full" } };

		for (size_t i = 0; i < ELEMENTSOF(an); i++) {
			b->drops[b->n_drops].name = an[i][1];
			counter_get(b, an[i][0], &b->drops[b->n_drops].packets, &b->drops[b->n_drops].bytes, NULL);
			b->n_drops++;
		}
	}
	return 0;
}

/* The policy's diagnostics and what the kernel's state makes of it. */
static void status_diags(struct manager *m, const struct zt_policy *p, struct status_buf *b)
{
	for (size_t i = 0; i < m->disk_diags.n; i++) {
		const struct zt_diag *dg = &m->disk_diags.v[i];

		zt_diag_add(&b->diags, dg->sev, dg->file, dg->line, dg->col, "%s", dg->msg);
	}
	for (size_t i = 0; m->members && i < m->members->n_warnings; i++) {
		char w[512];

		zt_diag_warning(&b->diags, NULL, 0, 0, "%s",
				zt_member_warning_fmt(&m->members->warnings[i], w, sizeof(w)));
	}
	/* br_netfilter (per network namespace): off, bridged IP between ports never meets inet ztseg */
	if (m->cur.plan && m->cur.plan->bridge.n_segs &&
	    (zt_bridge_nf_call(false) == 0 || zt_bridge_nf_call(true) == 0))
		zt_diag_warning(&b->diags, NULL, 0, 0,
				"br_netfilter is off in this network namespace (net.bridge.bridge-nf-call-iptables or "
				"-ip6tables is 0): traffic between member ports of a bridge cannot be judged, so table "
				"bridge %s drops it%s; set both to 1 to let flows pass", ZT_TABLE_NAME,
				m->brnf_off ? "" : " (from the next check, within a second)");
	if (p->hub.scope == ZT_SCOPE_MEMBERS) {
		struct misroute_ctx mc = { .p = p, .s = zt_rtnl_state(m->rtnl), .d = &b->diags };

		zt_rtnl_state_foreach_route(mc.s, misroute_cb, &mc);
	}
}

/* Other tables that take packets out of conntrack before ztseg's rules see them (SPEC §8). */
static int status_untrack(struct status_buf *b, struct zt_status *st)
{
	size_t n_untrack = 0;
	int r;

	r = zt_untrack_read(&b->untrack, &n_untrack);
	if (r < 0) {
		log_debug("cannot read the nf_tables ruleset for foreign notrack rules: %s", strerror(-r));
		return 0;
	}
	st->untrack_known = true;
	b->su = calloc(n_untrack + 1, sizeof(*b->su));
	if (!b->su)
		return -ENOMEM;
	for (size_t i = 0; i < n_untrack; i++) {
		const struct zt_untrack *u = &b->untrack[i];

		b->su[i] = (struct zt_status_untrack){ .family = zt_nfproto_name(u->family), .table = u->table,
						       .chain = u->chain, .via = u->via,
						       .hook = zt_nf_hook_name(u->hook), .priority = u->prio };
		zt_diag_warning(&b->diags, NULL, 0, 0,
				"table %s %s, chain %s (%s, priority %d) untracks traffic%s%s: ztseg's "
				"connection-based rules do not see it as it is",
				b->su[i].family, u->table, u->chain, b->su[i].hook, (int)u->prio,
				streq(u->chain, u->via) ? "" : " through chain ", streq(u->chain, u->via) ? "" : u->via);
	}
	st->untrack = b->su;
	st->n_untrack = n_untrack;
	return 0;
}

int manager_status_json(struct manager *m, json_t **ret)
{
	const struct zt_policy *p = m->cur.policy;
	const struct zt_rtnl_stats *rs = zt_rtnl_stats(m->rtnl);
	struct status_buf b = { .drops = { { .name = "default" }, { .name = "spoofed" }, { .name = "invalid" },
						     { .name = "untracked" } } };
	struct zt_status st = {
		.state = m->state,
		.pid = getpid(),
		.version = ZTSEG_VERSION,
		.config_dir = m->config,
		.started_usec = m->started_usec,
		.generation = m->generation,
		.last_apply_usec = m->last_apply_usec,
		.last_apply_duration_usec = m->last_apply_duration_usec,
		.last_error = m->last_error,
		.drops = b.drops,
		.n_drops = 4,
	};
	int r;

	/* The counters as the kernel has them now; status without them is still status. */
	r = zt_nft_counters_read(&b.counters, &b.n_counters);
	if (r < 0)
		log_debug("cannot read the counters of table inet %s: %s", ZT_TABLE_NAME, strerror(-r));
	r = status_segments(m, p, &b, &st);
	if (r >= 0)
		r = status_flows(m, p, &b, &st);
	if (r < 0)
		goto out;
	st.n_drops = b.n_drops;
	st.events = m->events;
	st.events.rtnl_overruns = rs->overruns;
	st.events.resyncs = rs->resyncs;
	st.events.nflog_overruns = m->nflog ? zt_nflog_stats(m->nflog)->overruns : 0;
	st.events.spoofed = b.drops[1].packets;
	status_diags(m, p, &b);
	if (m->pending) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);

		b.confirm = (struct zt_status_confirm){
			.generation = m->generation,
			.deadline_usec = m->pending_deadline_rt,
			.seconds_left = m->pending_deadline > now
						? (m->pending_deadline - now + ZT_USEC_PER_SEC - 1) / ZT_USEC_PER_SEC : 0,
			.uid = m->pending_uid,
			.pid = m->pending_pid,
		};
		st.confirm = &b.confirm;
	}
	r = status_untrack(&b, &st);
	if (r < 0)
		goto out;
	st.ctl_refused = m->ctl ? zt_ctl_server_stats(m->ctl)->refused_full + zt_ctl_server_stats(m->ctl)->refused_uid : 0;
	st.diags = &b.diags;
	r = zt_status_build(&st, ret);
out:
	status_buf_clear(&b);
	return r;
}

/* ---- bridge ports: classification and bindings ---- */

struct bports_ctx {
	struct manager *m;
	const struct zt_rtnl_state *s;
	const struct zt_bridge_mac *macs;
	size_t n_macs;
	const struct zt_bridge_pin *pins;	/* issue 15: what ports of bridge: segments claimed */
	size_t n_pins;
	json_t *arr;
	int err;
};

/* The segment whose bridge ports the kernel classifies l as (by its patterns), or -1. */
static ssize_t bport_segment(const struct manager *m, const char *name)
{
	const struct zt_policy *p = m->cur.policy;

	for (size_t i = 0; m->members && i < p->n_segs && i < m->members->n_segs; i++) {
		const struct zt_segment_members *sm = &m->members->segs[i];

		if (!zt_bridge_index(p, i))
			continue;
		for (size_t j = 0; j < sm->n_ifs; j++)
			if (streq(sm->ifs[j].name, name))
				return (ssize_t)i;
	}
	return -1;
}

/*
 * "bindings": every binding of the port in one list, each with where it
 * came from: its MACs (fdb, first frame), its segment's addresses
 * (policy) and the addresses learned for its MACs (neighbour).
 */
static int bport_bindings(json_t *o)
{
	json_t *v = json_array(), *e;
	size_t i;
	int r = v ? 0 : -ENOMEM;

	json_array_foreach(json_object_get(o, "macs"), i, e)
		if (r >= 0 && json_array_append_new(v, json_pack("{s:s, s:O, s:O}", "kind", "mac", "value",
							   json_object_get(e, "mac"), "from", json_object_get(e, "from"))) < 0)
			r = -ENOMEM;
	json_array_foreach(json_object_get(o, "addresses"), i, e)
		if (r >= 0 && json_array_append_new(v, json_pack("{s:s, s:O, s:s}", "kind", "address", "value", e,
							   "from", json_object_get(o, "claimed") ? "claim" : "policy")) < 0)
			r = -ENOMEM;
	json_array_foreach(json_object_get(o, "learned"), i, e)
		if (r >= 0 && json_array_append_new(v, json_pack("{s:s, s:O, s:O}", "kind", "address", "value",
							   json_object_get(e, "address"), "from",
							   json_object_get(e, "from"))) < 0)
			r = -ENOMEM;
	if (r < 0) {
		json_decref(v);
		return r;
	}
	json_object_set_new(o, "bindings", v);
	return 0;
}

/*
 * The port's MAC bindings (pmac: each with where it came from, a pin of a
 * static FDB entry or the first frame, told apart by the element's timeout)
 * and the neighbour entries of its bridge on those MACs.
 */
static int bport_learned(struct bports_ctx *c, const struct zt_rtnl_link *l, const struct zt_rtnl_link *br,
			 json_t *o)
{
	json_t *macs = json_array(), *learned = json_array();
	uint8_t (*bound)[6] = NULL;
	size_t n = 0;
	char buf[18];
	int r = 0;

	if (!macs || !learned || !(bound = calloc(c->n_macs + 1, sizeof(*bound))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < c->n_macs; i++) {
		const struct zt_bridge_mac *mac = &c->macs[i];
		bool pin = mac->timeout_ms > ZT_BRIDGE_MAC_TIMEOUT_MS;

		if (!streq(mac->port, l->name))
			continue;
		memcpy(bound[n++], mac->mac, 6);
		if (json_array_append_new(macs, json_pack("{s:s, s:s, s:I}", "mac", zt_bl_mac_fmt(mac->mac, buf),
							  "from", pin ? "fdb" : "first frame",
							  "expires_seconds", (json_int_t)(mac->expires_ms / 1000))) < 0)
			r = -ENOMEM;
		if (r >= 0 && pin && json_object_get(o, "mac_from") == NULL)
			json_object_set_new(o, "mac_from", json_string("fdb"));
	}
	if (r >= 0 && n && !json_object_get(o, "mac_from"))
		json_object_set_new(o, "mac_from", json_string("first frame"));
	if (r >= 0)
		r = manager_fdb_port_json(c->m, l, br, (const uint8_t (*)[6])bound, n, learned);
	free(bound);
	if (r < 0) {
		json_decref(macs);
		json_decref(learned);
		return r;
	}
	json_object_set_new(o, "macs", macs);
	json_object_set_new(o, "learned", learned);
	return bport_bindings(o);
}

/*
 * A port of a bridge that bridge: segments name (issue 15): its segment is
 * the one whose address it claimed; "claimed" lists each claim (from:
 * claim — the first ARP/ND of the address on this port; fdb — written by
 * ztsegd from a static FDB entry and a fixed neighbour entry).
 */
static int dport_json(struct bports_ctx *c, const struct zt_rtnl_link *l, const struct zt_rtnl_link *br)
{
	const struct zt_policy *p = c->m->cur.policy;
	const struct zt_bridge_mac *mac = zt_bridge_mac_find(c->macs, c->n_macs, l->name);
	json_t *o, *addrs = json_array(), *claimed = json_array();
	const char *segname = NULL;
	char buf[INET6_ADDRSTRLEN], mbuf[18];

	for (size_t i = 0; addrs && claimed && i < c->n_pins; i++) {
		const struct zt_bridge_pin *pin = &c->pins[i];

		if (!streq(pin->port, l->name))
			continue;
		inet_ntop(pin->family, pin->addr, buf, sizeof(buf));
		for (size_t s = 0; !segname && s < p->n_segs; s++)
			if (streq(p->segs[s].bridge, br->name))
				for (size_t a = 0; !segname && a < p->segs[s].n_addrs; a++)
					if (zt_cidr_contains_addr(&p->segs[s].addrs[a], pin->family, pin->addr))
						segname = p->segs[s].name;
		json_array_append_new(addrs, json_string(buf));
		json_array_append_new(claimed, json_pack("{s:s, s:s}", "address", buf, "from",
							 manager_fdb_prepinned(c->m, pin) ? "fdb" : "claim"));
	}
	o = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:o, s:o}", "port", l->name, "bridge", br->name,
		      "classification", segname ? "member" : "unclaimed", "segment", segname, "mac",
		      mac ? zt_bl_mac_fmt(mac->mac, mbuf) : NULL, "members_by", "claim",
		      "bound_seconds", mac ? json_integer((json_int_t)((mac->timeout_ms - mac->expires_ms) / 1000)) : json_null(),
		      "binding_expires_seconds", mac ? json_integer((json_int_t)(mac->expires_ms / 1000)) : json_null());
	if (!o || !addrs || !claimed) {
		json_decref(o);
		json_decref(addrs);
		json_decref(claimed);
		c->err = -ENOMEM;
		return 1;
	}
	json_object_set_new(o, "addresses", addrs);
	json_object_set_new(o, "claimed", claimed);
	if (bport_learned(c, l, br, o) < 0) {
		json_decref(o);
		c->err = -ENOMEM;
		return 1;
	}
	json_array_append_new(c->arr, o);
	return 0;
}

static int bport_cb(const struct zt_rtnl_link *l, void *userdata)
{
	struct bports_ctx *c = userdata;
	const struct zt_policy *p = c->m->cur.policy;
	const struct zt_rtnl_link *br = NULL;
	const struct zt_bridge_mac *mac;
	ssize_t seg;
	json_t *o, *addrs;
	char buf[ZT_CIDR_STRLEN];

	if (!zt_rtnl_link_bridge_port(c->s, l, &br))
		return 0;
	if (br && zt_bridge_dport_of(&c->m->cur.plan->bridge, l->name, br->name))
		return dport_json(c, l, br);
	seg = bport_segment(c->m, l->name);
	mac = seg >= 0 ? zt_bridge_mac_find(c->macs, c->n_macs, l->name) : NULL;
	addrs = json_array();
	for (size_t i = 0; addrs && seg >= 0 && i < p->segs[seg].n_addrs; i++)
		json_array_append_new(addrs, json_string(zt_cidr_fmt(&p->segs[seg].addrs[i], buf, sizeof(buf))));
	if (mac)
		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac->mac[0], mac->mac[1], mac->mac[2],
			 mac->mac[3], mac->mac[4], mac->mac[5]);
	o = json_pack("{s:s, s:s?, s:s, s:s?, s:o?, s:s?, s:o?, s:o?}", "port", l->name, "bridge",
		      br ? br->name : NULL, "classification", seg >= 0 ? "member" : "other",
		      "segment", seg >= 0 ? p->segs[seg].name : NULL,
		      "index", seg >= 0 ? json_integer(zt_bridge_index(p, (size_t)seg)) : NULL,
		      "mac", mac ? buf : NULL,
		      "bound_seconds", mac ? json_integer((json_int_t)((mac->timeout_ms - mac->expires_ms) / 1000)) : json_null(),
		      "binding_expires_seconds", mac ? json_integer((json_int_t)(mac->expires_ms / 1000)) : json_null());
	if (!o || !addrs) {
		json_decref(o);
		json_decref(addrs);
		c->err = -ENOMEM;
		return 1;
	}
	json_object_set_new(o, "addresses", addrs);
	if (seg >= 0 && bport_learned(c, l, br, o) < 0) {
		json_decref(o);
		c->err = -ENOMEM;
		return 1;
	}
	json_array_append_new(c->arr, o);
	return 0;
}

int manager_status_bridge(struct manager *m, json_t *status)
{
	_cleanup_free_ struct zt_bridge_mac *macs = NULL;
	_cleanup_free_ struct zt_bridge_pin *pins = NULL;
	struct bports_ctx c = { .m = m, .s = zt_rtnl_state(m->rtnl) };
	int r;

	if (!m->cur.plan || !m->cur.plan->bridge.n_segs || !m->cur.policy)
		return 0;
	r = zt_bridge_macs_read(NULL, &macs, &c.n_macs);
	if (r < 0) {
		log_debug("cannot read the MAC bindings of table bridge %s: %s", ZT_TABLE_NAME, strerror(-r));
		macs = NULL;
		c.n_macs = 0;
	}
	c.macs = macs;
	if (zt_bridge_has_dsegs(&m->cur.plan->bridge)) {
		r = zt_bridge_pins_read(NULL, &pins, &c.n_pins);
		if (r < 0) {
			log_debug("cannot read the claims of table bridge %s: %s", ZT_TABLE_NAME, strerror(-r));
			c.n_pins = 0;
		}
		c.pins = pins;
	}
	c.arr = json_array();
	if (!c.arr)
		return -ENOMEM;
	zt_rtnl_state_foreach_link(c.s, bport_cb, &c);
	if (c.err < 0) {
		json_decref(c.arr);
		return c.err;
	}
	json_object_set_new(status, "bridge_ports", c.arr);
	return 0;
}
