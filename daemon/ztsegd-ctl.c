/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's control commands: status (with the kernel's counters read
 * live), reload (answered when the reconcile pass has done it) and
 * explain against the routes and links the daemon sees.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <linux/rtnetlink.h>
#include "explain.h"
#include "foreign.h"
#include "version.h"
#include "ztsegd.h"

#define FCNT_SET "fcnt"
/* Explain arguments are endpoint and port texts: short. */
#define EXPLAIN_ARG_MAX 256

/* ---- status ---- */

static bool pos_same(const struct zt_pos *a, const struct zt_pos *b)
{
	return a->file && b->file && a->line == b->line && a->col == b->col && streq(a->file, b->file);
}

/* The named counter the compiler gave a flow: its fcnt element points back at the flow. */
static const char *flow_counter(const struct zt_plan *plan, const struct zt_flow *f)
{
	const struct zt_set *s = zt_plan_find_set(plan, FCNT_SET);

	for (size_t i = 0; s && i < s->n_elems; i++)
		if (s->elems[i].data.type == ZT_TYPE_COUNTER && pos_same(&s->elems[i].pos, &f->pos))
			return s->elems[i].data.counter;
	return NULL;
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

int manager_status_json(struct manager *m, json_t **ret)
{
	const struct zt_policy *p = m->cur.policy;
	const struct zt_rtnl_stats *rs = zt_rtnl_stats(m->rtnl);
	struct status_buf b = {};
	struct zt_status_counter drops[3] = { { .name = "default" }, { .name = "spoofed" }, { .name = "invalid" } };
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
		.drops = drops,
		.n_drops = ELEMENTSOF(drops),
	};
	size_t n_ifs = 0, n_flows = 0, k = 0, n_untrack = 0;
	struct zt_status_confirm confirm;
	struct zt_untrack *untrack = NULL;
	struct zt_status_untrack *su = NULL;
	int r;

	/* The counters as the kernel has them now; status without them is still status. */
	r = zt_nft_counters_read(&b.counters, &b.n_counters);
	if (r < 0)
		log_debug("cannot read the counters of table inet %s: %s", ZT_TABLE_NAME, strerror(-r));

	b.n_segs = p->n_segs;
	for (size_t i = 0; m->members && i < m->members->n_segs; i++)
		n_ifs += m->members->segs[i].n_ifs;
	b.segs = calloc(p->n_segs + 1, sizeof(*b.segs));
	b.ifnames = calloc(n_ifs + 1, sizeof(*b.ifnames));
	b.routed = calloc(p->n_segs + 1, sizeof(*b.routed));
	if (!b.segs || !b.ifnames || !b.routed) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *sg = &p->segs[i];
		const struct zt_segment_members *sm = m->members ? zt_membership_segment(m->members, sg->name) : NULL;
		struct zt_status_segment *ss = &b.segs[i];
		struct routed_ctx rc = { .sm = sm };

		*ss = (struct zt_status_segment){ .name = sg->name, .patterns = sg->ifs, .n_patterns = sg->n_ifs,
						  .addrs = sg->addrs, .n_addrs = sg->n_addrs,
						  .interfaces = &b.ifnames[k] };
		for (size_t j = 0; sm && j < sm->n_ifs; j++) {
			b.ifnames[k++] = sm->ifs[j].name;
			ss->n_interfaces++;
			rc.ifname = sm->ifs[j].name;
			zt_rtnl_state_foreach_route_oif(zt_rtnl_state(m->rtnl), sm->ifs[j].ifindex, routed_cb, &rc);
		}
		if (rc.err < 0) {
			free(rc.v);
			r = rc.err;
			goto out;
		}
		b.routed[i] = rc.v;
		ss->routed = rc.v;
		ss->n_routed = rc.n;
	}
	st.segments = b.segs;
	st.n_segments = p->n_segs;

	n_flows = p->hub.n_flows;
	for (size_t i = 0; i < p->n_segs; i++)
		n_flows += p->segs[i].n_rules;
	b.flows = calloc(n_flows + 1, sizeof(*b.flows));
	if (!b.flows) {
		r = -ENOMEM;
		goto out;
	}
	k = 0;
	for (size_t s = 0; s <= p->n_segs; s++) {
		/* The hub's flows, then each segment's rules. */
		const struct zt_flow *v = s == 0 ? p->hub.flows : p->segs[s - 1].rules;
		size_t n = s == 0 ? p->hub.n_flows : p->segs[s - 1].n_rules;

		for (size_t i = 0; i < n; i++) {
			struct zt_status_flow *sf = &b.flows[k++];

			*sf = (struct zt_status_flow){ .name = v[i].name, .segment = s ? p->segs[s - 1].name : NULL,
						       .from = v[i].from, .n_from = v[i].n_from, .to = v[i].to,
						       .n_to = v[i].n_to, .ports = v[i].ports, .n_ports = v[i].n_ports,
						       .encrypted = v[i].encrypted, .pos = v[i].pos };
			counter_get(&b, flow_counter(m->cur.plan, &v[i]), &sf->packets, &sf->bytes,
				    &sf->have_counters);
		}
	}
	st.flows = b.flows;
	st.n_flows = n_flows;
	counter_get(&b, "drops", &drops[0].packets, &drops[0].bytes, NULL);
	counter_get(&b, "spoofs", &drops[1].packets, &drops[1].bytes, NULL);
	counter_get(&b, "invalid", &drops[2].packets, &drops[2].bytes, NULL);

	st.events = m->events;
	st.events.rtnl_overruns = rs->overruns;
	st.events.resyncs = rs->resyncs;
	st.events.nflog_overruns = m->nflog ? zt_nflog_stats(m->nflog)->overruns : 0;
	st.events.spoofed = drops[1].packets;

	/* The policy's diagnostics and what the kernel's state makes of it. */
	for (size_t i = 0; i < m->disk_diags.n; i++) {
		const struct zt_diag *dg = &m->disk_diags.v[i];

		zt_diag_add(&b.diags, dg->sev, dg->file, dg->line, dg->col, "%s", dg->msg);
	}
	for (size_t i = 0; m->members && i < m->members->n_warnings; i++) {
		char w[512];

		zt_diag_warning(&b.diags, NULL, 0, 0, "%s",
				zt_member_warning_fmt(&m->members->warnings[i], w, sizeof(w)));
	}
	if (p->hub.scope == ZT_SCOPE_MEMBERS) {
		struct misroute_ctx mc = { .p = p, .s = zt_rtnl_state(m->rtnl), .d = &b.diags };

		zt_rtnl_state_foreach_route(mc.s, misroute_cb, &mc);
	}
	if (m->pending) {
		uint64_t now = now_usec(CLOCK_MONOTONIC);

		confirm = (struct zt_status_confirm){
			.generation = m->generation,
			.deadline_usec = m->pending_deadline_rt,
			.seconds_left = m->pending_deadline > now
						? (m->pending_deadline - now + ZT_USEC_PER_SEC - 1) / ZT_USEC_PER_SEC : 0,
			.uid = m->pending_uid,
			.pid = m->pending_pid,
		};
		st.confirm = &confirm;
	}
	/* Other tables that take packets out of conntrack before ztseg's rules see them (SPEC §8). */
	r = zt_untrack_read(&untrack, &n_untrack);
	if (r < 0) {
		log_debug("cannot read the nf_tables ruleset for foreign notrack rules: %s", strerror(-r));
	} else {
		st.untrack_known = true;
		su = calloc(n_untrack + 1, sizeof(*su));
		if (!su) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_untrack; i++) {
			const struct zt_untrack *u = &untrack[i];

			su[i] = (struct zt_status_untrack){ .family = zt_nfproto_name(u->family), .table = u->table,
							    .chain = u->chain, .via = u->via,
							    .hook = zt_nf_hook_name(u->hook), .priority = u->prio };
			zt_diag_warning(&b.diags, NULL, 0, 0,
					"table %s %s, chain %s (%s, priority %d) untracks traffic%s%s: ztseg's "
					"connection-based rules do not see it as it is",
					su[i].family, u->table, u->chain, su[i].hook, (int)u->prio,
					streq(u->chain, u->via) ? "" : " through chain ", streq(u->chain, u->via) ? "" : u->via);
		}
		st.untrack = su;
		st.n_untrack = n_untrack;
	}
	st.ctl_refused = m->ctl ? zt_ctl_server_stats(m->ctl)->refused_full + zt_ctl_server_stats(m->ctl)->refused_uid : 0;
	st.diags = &b.diags;
	r = zt_status_build(&st, ret);
out:
	free(untrack);
	free(su);
	status_buf_clear(&b);
	return r;
}

static int cmd_status(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	json_t *j = NULL;
	int r;

	r = manager_status_json(m, &j);
	if (r < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, j, req->now_usec);
}

/* ---- reload ---- */

static int arg_error(struct zt_ctl_conn *c, const struct zt_ctl_request *req, const char *what)
{
	return zt_ctl_conn_reply_errorf(c, req->now_usec, "reload: %s", what);
}

static int cmd_reload(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	struct reload_req rq = { .conn = c, .uid = req->peer->uid, .pid = req->peer->pid };
	const char *key;
	json_t *v;

	json_object_foreach(req->args, key, v) {
		if (streq(key, "confirm")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > CONFIRM_MAX_SECONDS)
				return arg_error(c, req, "'confirm' must be a number of seconds from 1 to 3600");
			rq.confirm = (unsigned)json_integer_value(v);
		} else if (streq(key, "force")) {
			if (!json_is_boolean(v))
				return arg_error(c, req, "'force' must be true or false");
			rq.force = json_is_true(v);
		} else if (streq(key, "session")) {
			const char *t = json_is_string(v) ? json_string_value(v) : NULL;

			if (!t || json_string_length(v) >= sizeof(rq.session) || strlen(t) != json_string_length(v))
				return arg_error(c, req, "'session' must be SSH_CONNECTION's text (at most 127 bytes)");
			snprintf(rq.session, sizeof(rq.session), "%s", t);
		} else {
			return zt_ctl_conn_reply_errorf(c, req->now_usec,
							"reload: unknown argument '%.64s' (expected confirm, force, session)",
							key);
		}
	}
	log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=reload-request",
		   log_field("ZTSEG_UID", "%u", (unsigned)req->peer->uid),
		   log_field("ZTSEG_PID", "%d", (int)req->peer->pid) }, 3,
		   "reload%s requested over the control socket by uid %u, pid %d%s%s",
		   rq.confirm ? " on trial" : "", (unsigned)req->peer->uid, (int)req->peer->pid,
		   rq.session[0] ? ", from SSH session " : "", rq.session);
	if (ZT_GROW(m->reload_waiting, m->cap_reload_waiting, m->n_reload_waiting + 1) < 0)
		return -ENOMEM;
	/* Answered by the reconcile pass, with the outcome. */
	m->reload_waiting[m->n_reload_waiting++] = rq;
	m->want_reload = true;
	manager_dirty(m);
	return 0;
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
		/* Kicking may free the connection, and on_conn_closed clears it in v. */
		manager_conn_kick(m, v[i].conn);
	}
	free(v);
	if (result)
		json_decref(result);
}

/* A port of 1..65535 in decimal, nothing else. */
static bool port_parse(const char *s, unsigned *ret)
{
	unsigned v = 0;

	if (!*s || *s == '0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (unsigned)(*s - '0')) > 65535)
			return false;
	}
	*ret = v;
	return true;
}

/* The line of explain's text that starts with prefix, without it and its newline. */
static void line_of(const char *text, const char *prefix, char *out, size_t len)
{
	const char *p = text;

	out[0] = '\0';
	while (p && *p) {
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			const char *e = strchr(p, '\n');
			size_t k = e ? (size_t)(e - p) : strlen(p);

			k -= strlen(prefix);
			snprintf(out, len, "%.*s", (int)(k < len ? k : len - 1), p + strlen(prefix));
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

/*
 * Would policy p keep the SSH session described by session (SSH_CONNECTION
 * of the ztsegctl that asked)? Its packets come from the client's address
 * through the interface the route back leaves by, to the host's port.
 * -EINVAL when the text is not SSH_CONNECTION's shape.
 */
int session_judge(struct manager *m, const struct zt_policy *p, const char *session,
		  struct session_verdict *ret)
{
	char buf[SESSION_MAX], *tok[5] = {}, *save = NULL, port_s[16], zone[256];
	struct zt_endpoint from = {}, to = {};
	struct zt_explain_env env;
	struct zt_explanation e;
	struct zt_diags d = {};
	struct zt_port pkt;
	_cleanup_free_ char *text = NULL;
	const char *err = NULL;
	unsigned cport, sport;
	size_t n = 0, tlen = 0;
	FILE *f;
	int r;

	*ret = (struct session_verdict){};
	if (strlen(session) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", session);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == ELEMENTSOF(tok))
			return -EINVAL;
		tok[n++] = t;
	}
	if (n != 4 || !port_parse(tok[1], &cport) || !port_parse(tok[3], &sport))
		return -EINVAL;
	/* An IPv6 zone ("%eth0") says nothing the route does not. */
	if (strchr(tok[0], '%'))
		*strchr(tok[0], '%') = '\0';
	if (inet_pton(AF_INET, tok[0], from.addr) == 1) {
		from.family = AF_INET;
	} else if (inet_pton(AF_INET6, tok[0], from.addr) == 1) {
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

		from.family = AF_INET6;
		/* sshd on a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
		if (memcmp(from.addr, mapped, sizeof(mapped)) == 0) {
			memmove(from.addr, from.addr + 12, 4);
			memset(from.addr + 4, 0, 12);
			from.family = AF_INET;
		}
	} else {
		return -EINVAL;
	}
	from.has_addr = true;
	manager_explain_env(m, &env);
	if (env.route && env.route(env.userdata, from.family, from.addr, from.ifname) < 0)
		from.ifname[0] = '\0';
	snprintf(to.zone, sizeof(to.zone), "host");
	snprintf(port_s, sizeof(port_s), "tcp/%u", sport);
	if (zt_port_parse(port_s, &pkt, &err) < 0)
		return -EINVAL;
	r = zt_explain(p, &from, &to, &pkt, &env, &e, &d);
	zt_diags_clear(&d);
	if (r < 0)
		return r;
	f = open_memstream(&text, &tlen);
	if (!f)
		return -ENOMEM;
	r = zt_explanation_format(p, &e, f);
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0)
		return r;
	line_of(text, "from: ", zone, sizeof(zone));
	line_of(text, "by: ", ret->by, sizeof(ret->by));
	snprintf(ret->what, sizeof(ret->what), "your SSH session from %s (%s) to the host's tcp/%u", tok[0],
		 zone[0] ? zone : "?", sport);
	ret->known = true;
	ret->allow = e.allow;
	return 0;
}

/* ---- confirm ---- */

static int cmd_confirm(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	uint64_t gen = m->generation;
	int r;

	if (json_object_size(req->args))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "confirm: takes no arguments");
	r = manager_confirm(m, req->peer->uid, req->peer->pid);
	if (r == -ENOENT)
		return zt_ctl_conn_reply_errorf(c, req->now_usec,
			"no reload awaits confirmation: generation %llu is in force for good "
			"(ztsegctl reload --confirm SECONDS starts one)", (unsigned long long)gen);
	if (r < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, json_pack("{s:I}", "generation", (json_int_t)gen), req->now_usec);
}

/* ---- explain ---- */

static const char *arg_str(const json_t *args, const char *key)
{
	const json_t *v = json_object_get(args, key);

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > EXPLAIN_ARG_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static int cmd_explain(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	const char *from_s = arg_str(req->args, "from"), *to_s = arg_str(req->args, "to"),
		   *port_s = arg_str(req->args, "port"), *err = NULL;
	struct zt_endpoint from, to;
	struct zt_explanation e;
	struct zt_explain_env env;
	struct zt_diags d = {};
	struct zt_port pkt;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (!from_s || !to_s || !port_s || json_object_size(req->args) != 3)
		return zt_ctl_conn_reply_errorf(c, req->now_usec,
						"explain: expected the arguments from, to and port (strings)");
	if (zt_endpoint_parse(from_s, &from, &err) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "FROM '%s': %s", from_s, err ? err : "invalid");
	if (zt_endpoint_parse(to_s, &to, &err) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "TO '%s': %s", to_s, err ? err : "invalid");
	if (zt_port_parse(port_s, &pkt, &err) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "PROTO/PORT '%s': %s", port_s,
						err ? err : "invalid");
	manager_explain_env(m, &env);
	r = zt_explain(m->cur.policy, &from, &to, &pkt, &env, &e, &d);
	if (r < 0) {
		if (d.n == 0)
			zt_diag_error(&d, NULL, 0, 0, "explain: %s", strerror(-r));
		r = zt_ctl_conn_reply_diags(c, &d, req->now_usec);
		zt_diags_clear(&d);
		return r;
	}
	zt_diags_clear(&d);
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	r = zt_explanation_format(m->cur.policy, &e, f);
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, json_pack("{s:b, s:s, s:I}", "allow", e.allow, "text", text, "generation",
						 (json_int_t)m->generation),
				    req->now_usec);
}

const struct zt_ctl_command manager_commands[] = {
	{ "status", false, cmd_status },
	{ "reload", true, cmd_reload },
	{ "confirm", true, cmd_confirm },
	{ "explain", false, cmd_explain },
};
const size_t manager_n_commands = ELEMENTSOF(manager_commands);
