/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's control socket: ours (or the one systemd passes), its
 * connections on the event loop, and the commands: status, reload
 * (queued; answered when the reconcile pass has done it), confirm, and
 * explain against the routes and links the daemon sees.
 */
#include <grp.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include "explain.h"
#include "ztsegd.h"

/* Explain arguments are endpoint and port texts: short. */
#define EXPLAIN_ARG_MAX 256

/* ---- status ---- */

static int cmd_status(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	json_t *j = NULL;
	int r;

	r = manager_status_json(m, &j);
	if (r >= 0)
		r = manager_grant_status(m, j);
	if (r >= 0)
		r = manager_units_status(m, j);
	if (r >= 0)
		r = manager_bans_status(m, j);
	if (r >= 0)
		r = manager_anomaly_status(m, j);
	if (r >= 0)
		r = manager_observe_status(m, j);
	if (r >= 0)
		r = manager_feeds_status(m, j);
	if (r >= 0)
		r = manager_status_bridge(m, j);
	if (r < 0) {
		if (j)
			json_decref(j);
		return r;
	}
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

/* ---- confirm ---- */

static int cmd_confirm(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	uint64_t gen = m->generation;
	int r;

	if (json_object_size(req->args))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "confirm: takes no arguments");
	r = manager_trial_confirm(m, req->peer->uid, req->peer->pid);
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

/*
 * A banned source: bans come before flows (SPEC §3), so the answer is deny
 * by the ban, and what would decide without it follows.
 */
static int explain_ban(struct manager *m, struct zt_explanation *e, char **text)
{
	char ban[512], *t = *text, *nl, *by, *out = NULL;
	int r = manager_bans_explain(m, e, ban, sizeof(ban));

	if (r <= 0)
		return r;
	nl = strchr(t, '\n');
	by = strstr(t, "\nby: ");
	if (!nl || !by)
		return 0;
	*by = '\0';
	*nl = '\0';
	if (asprintf(&out, "deny\n%s\nby: %s\nwithout the ban: %s, by: %s", nl + 1, ban, t, by + 5) < 0)
		return -ENOMEM;
	free(t);
	*text = out;
	e->allow = false;
	return 1;
}

/* An open anomaly episode's per-source rate limit on the flow or zone: allowed, but limited (a line added). */
static int explain_limit(struct manager *m, struct zt_explanation *e, char **text)
{
	char lim[512], *out = NULL;
	size_t n;

	if (manager_anomaly_explain(m, e, false, lim, sizeof(lim)) <= 0)
		return 0;
	n = strlen(*text);
	if (asprintf(&out, "%s%slimited: %s\n", *text, n && (*text)[n - 1] == '\n' ? "" : "\n", lim) < 0)
		return -ENOMEM;
	free(*text);
	*text = out;
	return 1;
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
	_cleanup_free_ struct zt_explain_grant *grants = NULL;
	size_t len = 0, n_grants = 0;
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
	{
		char why[1400];

		/* Feeds come before any flow: the packet never reaches a flow. */
		if (manager_feeds_explain(m, &from, &to, why, sizeof(why)) > 0)
			return zt_ctl_conn_reply_ok(c, json_pack("{s:b, s:s, s:I}", "allow", false, "text", why,
								 "generation", (json_int_t)m->generation),
						    req->now_usec);
	}
	manager_explain_env(m, &env);
	r = manager_grant_explain_list(m, &grants, &n_grants);
	if (r < 0)
		return r;
	r = zt_explain_grants(m->cur.policy, &from, &to, &pkt, &env, grants, n_grants, &e, &d);
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
	r = explain_ban(m, &e, &text);
	if (r < 0)
		return r;
	if (!r && (r = explain_limit(m, &e, &text)) < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, json_pack("{s:b, s:b, s:s, s:I}", "allow", e.allow, "would_deny", e.would_deny,
						 "text", text, "generation", (json_int_t)m->generation),
				    req->now_usec);
}

/* ---- feeds ---- */

static int cmd_feeds(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	json_t *j = json_object();
	int r;

	if (json_object_size(req->args))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "feeds: takes no arguments");
	if (!j)
		return -ENOMEM;
	r = manager_feeds_status(userdata, j);
	if (r < 0) {
		json_decref(j);
		return r;
	}
	return zt_ctl_conn_reply_ok(c, j, req->now_usec);
}

static int cmd_feeds_test(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	const char *s = arg_str(req->args, "address");
	uint8_t family, addr[16];
	json_t *j = NULL;
	int r;

	if (!s || json_object_size(req->args) != 1 || strlen(s) > 64 || zt_addr_parse(s, &family, addr) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "feeds-test: expected the argument address (an IPv4 or IPv6 address)");
	r = manager_feeds_test(userdata, family, addr, &j);
	if (r < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, j, req->now_usec);
}

/* ---- grants ---- */

static int cmd_grant(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	struct manager *m = userdata;
	struct zt_explain_env env;

	manager_explain_env(m, &env);
	return manager_grant_request(m, c, req, &env);
}

static int cmd_grants(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_grant_list(userdata, c, req);
}

static int cmd_revoke(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_grant_revoke(userdata, c, req);
}

/* ---- the connection log and metrics ---- */

static int cmd_log(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_flowlog_subscribe(userdata, c, req);
}

static int cmd_metrics(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	if (json_object_size(req->args))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "metrics: takes no arguments");
	r = manager_metrics_text(userdata, &text, &len);
	if (r < 0)
		return r;
	return zt_ctl_conn_reply_ok(c, json_pack("{s:s%}", "text", text, len), req->now_usec);
}

/* ---- flood bans ---- */

static int cmd_bans(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_bans_list(userdata, c, req);
}

static int cmd_unban(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_bans_unban(userdata, c, req);
}

static int cmd_anomalies(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_anomaly_list(userdata, c, req);
}

/*
 * grant and revoke are not changes_state: a template names who may ask
 * (requesters), which need not be ztseg-admin; ztsegd-grant.c checks them.
 */
/* ---- observe mode ---- */

static int cmd_suggest(struct zt_ctl_conn *c, const struct zt_ctl_request *req, void *userdata)
{
	return manager_observe_suggest(userdata, c, req);
}

static const struct zt_ctl_command commands[] = {
	{ "status", false, cmd_status },
	{ "reload", true, cmd_reload },
	{ "confirm", true, cmd_confirm },
	{ "explain", false, cmd_explain },
	{ "grant", false, cmd_grant },
	{ "grants", false, cmd_grants },
	{ "revoke", false, cmd_revoke },
	{ "log", false, cmd_log },
	{ "metrics", false, cmd_metrics },
	{ "bans", false, cmd_bans },
	{ "unban", true, cmd_unban },
	{ "anomalies", false, cmd_anomalies },
	{ "suggest", false, cmd_suggest },
	{ "feeds", false, cmd_feeds },
	{ "feeds-test", false, cmd_feeds_test },
};

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

void manager_ctl_kick(struct manager *m, struct zt_ctl_conn *c)
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
int manager_ctl_setup(struct manager *m)
{
	struct zt_ctl_server_config cfg = {
		.commands = commands,
		.n_commands = ELEMENTSOF(commands),
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
