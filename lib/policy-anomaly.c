/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threats.anomaly in ztseg.yaml (SPEC §3): learned baselines of named hub
 * flows or of zones (to:, every hub flow into the zone) and what to do
 * when one is exceeded. Loaded from the YAML tree with every problem at
 * file:line:col (called by policy-threats.c), then each series resolved:
 * a named hub flow or a known zone, each watched once, no zone inside
 * another watched one.
 * ztseg.yaml(5) "threats.anomaly".
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "grant.h"
#include "policy.h"
#include "policy-loader.h"

#define ANOMALY_KEYS "flow, to, series, sensitivity, min-rate, samples, clear, interval, learn, hourly, mitigate, " \
		     "limit, top, ban"

const char *zt_mitigate_name(enum zt_mitigate m)
{
	switch (m) {
	case ZT_MITIGATE_ALERT:
		return "alert";
	case ZT_MITIGATE_RATE_LIMIT:
		return "rate-limit";
	case ZT_MITIGATE_BAN_TOP:
		return "ban-top-sources";
	}
	return "?";
}

static int load_num(struct loader *l, const struct zt_node *n, const char *key, uint32_t lo, uint32_t hi,
		    uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "threats.anomaly: %s: expected a number from %u to %u, got %s", key, lo, hi,
				 pl_node_kind(n));
	if (!isdigit((unsigned char)n->value[0]) || n->len > 10)
		goto bad;
	v = strtoul(n->value, &end, 10);
	if (*end || v < lo || v > hi)
		goto bad;
	*ret = (uint32_t)v;
	return 0;
bad:
	return pl_err_at(l, n, "threats.anomaly: %s: expected a number from %u to %u, got '%s'", key, lo, hi,
			 TOK(n->value));
}

static int load_duration(struct loader *l, const struct zt_node *n, const char *key, uint32_t lo, uint32_t hi,
			 const char *range, uint32_t *ret)
{
	const char *why = NULL;
	uint32_t v;

	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "threats.anomaly: %s: expected a duration such as 10s, got %s", key,
				 pl_node_kind(n));
	if (zt_duration_parse(n->value, hi, &v, &why) < 0)
		return pl_err_at(l, n, "threats.anomaly: %s: invalid duration '%s': %s (%s)", key, TOK(n->value),
				 why ? why : "malformed", range);
	if (v < lo)
		return pl_err_at(l, n, "threats.anomaly: %s: '%s' is too short (%s)", key, TOK(n->value), range);
	*ret = v;
	return 0;
}

/* min-rate: 5/second (or /minute) */
static int load_min_rate(struct loader *l, const struct zt_node *n, struct zt_anomaly *a)
{
	const char *slash;
	char *end;
	unsigned long v;

	if (n->type != ZT_NODE_SCALAR || !(slash = strchr(n->value, '/')) || !isdigit((unsigned char)n->value[0]))
		goto bad;
	v = strtoul(n->value, &end, 10);
	if (end != slash || v < 1 || v > 1000000)
		goto bad;
	if (streq(slash + 1, "second") || streq(slash + 1, "minute")) {
		a->min_rate = (uint32_t)v;
		a->min_unit = streq(slash + 1, "second") ? 1 : 60;
		return 0;
	}
bad:
	return pl_err_at(l, n, "threats.anomaly: min-rate: expected new connections per second or minute such "
			 "as 5/second (1 to 1000000), got %s%s%s", n->type == ZT_NODE_SCALAR ? "'" : "",
			 n->type == ZT_NODE_SCALAR ? TOK(n->value) : pl_node_kind(n),
			 n->type == ZT_NODE_SCALAR ? "'" : "");
}

static int load_key(struct loader *l, const struct zt_node *k, const struct zt_node *v, struct zt_anomaly *a)
{
	const char *s = k->value;

	if (streq(s, "flow")) {
		if (v->type != ZT_NODE_SCALAR || !v->len)
			return pl_err_at(l, v, "threats.anomaly: flow: expected the name of a hub flow, got %s",
					 pl_node_kind(v));
		if (!(a->flow = strdup(v->value)))
			return -ENOMEM;
		a->flow_pos = pl_pos_of(l, v);
		return 0;
	}
	if (streq(s, "to")) {
		if (v->type != ZT_NODE_SCALAR || !v->len)
			return pl_err_at(l, v, "threats.anomaly: to: expected the name of one zone, got %s",
					 pl_node_kind(v));
		if (a->to)
			return pl_err_at(l, k, "threats.anomaly: to: given twice");
		if (!(a->to = calloc(1, sizeof(*a->to))) || !(a->to->name = strdup(v->value)))
			return -ENOMEM;
		a->to->pos = pl_pos_of(l, v);
		return 0;
	}
	if (streq(s, "series")) {
		if (v->type == ZT_NODE_SCALAR && (streq(v->value, "connections") || streq(v->value, "bytes"))) {
			a->bytes = streq(v->value, "bytes");
			return 0;
		}
		return pl_err_at(l, v, "threats.anomaly: series: expected connections or bytes%s%s%s",
				 v->type == ZT_NODE_SCALAR ? ", got '" : "",
				 v->type == ZT_NODE_SCALAR ? TOK(v->value) : "", v->type == ZT_NODE_SCALAR ? "'" : "");
	}
	if (streq(s, "sensitivity"))
		return load_num(l, v, "sensitivity", 1, 100, &a->sensitivity);
	if (streq(s, "min-rate"))
		return load_min_rate(l, v, a);
	if (streq(s, "samples"))
		return load_num(l, v, "samples", 1, 60, &a->samples);
	if (streq(s, "clear"))
		return load_num(l, v, "clear", 1, 600, &a->clear);
	if (streq(s, "interval"))
		return load_duration(l, v, "interval", 1, 3600, "1s to 1h", &a->interval_sec);
	if (streq(s, "learn"))
		return load_duration(l, v, "learn", 1, 30 * 86400, "1s to 30d", &a->learn_sec);
	if (streq(s, "hourly")) {
		if (v->type == ZT_NODE_SCALAR && v->plain && (streq(v->value, "true") || streq(v->value, "false"))) {
			a->hourly = streq(v->value, "true");
			return 0;
		}
		return pl_err_at(l, v, "threats.anomaly: hourly: expected true or false");
	}
	if (streq(s, "mitigate")) {
		for (enum zt_mitigate m = ZT_MITIGATE_ALERT; m <= ZT_MITIGATE_BAN_TOP; m++)
			if (v->type == ZT_NODE_SCALAR && streq(v->value, zt_mitigate_name(m))) {
				a->mitigate = m;
				return 0;
			}
		return pl_err_at(l, v, "threats.anomaly: mitigate: expected alert, rate-limit or ban-top-sources%s%s%s",
				 v->type == ZT_NODE_SCALAR ? ", got '" : "",
				 v->type == ZT_NODE_SCALAR ? TOK(v->value) : "", v->type == ZT_NODE_SCALAR ? "'" : "");
	}
	if (streq(s, "limit"))
		return load_num(l, v, "limit", 1, 1000, &a->limit);
	if (streq(s, "top"))
		return load_num(l, v, "top", 1, 256, &a->top);
	if (streq(s, "ban"))
		return load_duration(l, v, "ban", 10, 86400, "10s to 24h", &a->ban_sec);
	return pl_err_at(l, k, "threats.anomaly: unknown key '%s'; expected one of: " ANOMALY_KEYS, TOK(s));
}

static int load_one(struct loader *l, const struct zt_node *n, struct zt_anomaly *a)
{
	bool limit = false, top = false, ban = false;
	const struct zt_node *sn = NULL, *mn = NULL;
	int r, ret = 0;

	*a = (struct zt_anomaly){ .sensitivity = 4, .min_rate = 1, .min_unit = 1, .samples = 2, .clear = 3,
				  .interval_sec = 10, .learn_sec = 86400, .limit = 2, .top = 5, .ban_sec = 600,
				  .flow_idx = -1, .pos = pl_pos_of(l, n) };
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "threats.anomaly: expected a mapping such as "
				 "{ to: web, sensitivity: 4, mitigate: rate-limit }, got %s", pl_node_kind(n));
	for (size_t i = 0; i < n->n; i++) {
		r = load_key(l, n->keys[i], n->items[i], a);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		limit |= streq(n->keys[i]->value, "limit");
		top |= streq(n->keys[i]->value, "top");
		ban |= streq(n->keys[i]->value, "ban");
		sn = streq(n->keys[i]->value, "series") ? n->items[i] : sn;
		mn = streq(n->keys[i]->value, "mitigate") ? n->items[i] : mn;
	}
	if (ret)
		return ret;
	if (!a->flow && !a->to)
		return pl_err_at(l, n, "threats.anomaly: missing required key 'flow' or 'to' (the hub flow or the "
				 "zone whose baseline is learned)");
	if (a->flow && a->to)
		return pl_err_at(l, n, "threats.anomaly: flow and to exclude each other (one series per entry: "
				 "a flow's or a zone's)");
	if (a->bytes && a->to)
		return pl_err_at(l, sn, "threats.anomaly: series: bytes is for flow: entries only "
				     "(a zone's series counts new connections)");
	if (a->bytes && a->mitigate == ZT_MITIGATE_RATE_LIMIT)
		return pl_err_at(l, mn, "threats.anomaly: mitigate: rate-limit limits new "
				     "connections per source and cannot bound a bytes series; use alert or "
				     "ban-top-sources with series: bytes");
	if (limit && a->mitigate != ZT_MITIGATE_RATE_LIMIT)
		return pl_err_at(l, n, "threats.anomaly: limit needs mitigate: rate-limit");
	if ((top || ban) && a->mitigate != ZT_MITIGATE_BAN_TOP)
		return pl_err_at(l, n, "threats.anomaly: %s needs mitigate: ban-top-sources", top ? "top" : "ban");
	if (a->learn_sec < a->interval_sec)
		return pl_err_at(l, n, "threats.anomaly: learn must be at least one interval");
	return 0;
}

int zt_policy_load_anomaly(struct zt_policy *p, const char *file, const struct zt_node *n, struct zt_diags *d)
{
	struct loader l = { .p = p, .file = file, .d = d };
	struct zt_threats *t = &p->threats;
	int r, ret = 0;

	if (n->type != ZT_NODE_SEQ)
		return pl_err_at(&l, n, "threats.anomaly: expected a list of baselines, got %s", pl_node_kind(n));
	if (n->n > ZT_ANOMALY_MAX)
		return pl_err_at(&l, n, "threats.anomaly: at most %d entries", ZT_ANOMALY_MAX);
	if (!n->n)
		return 0;
	if (!(t->anomaly = calloc(n->n, sizeof(*t->anomaly))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		r = load_one(&l, n->items[i], &t->anomaly[i]);
		t->n_anomaly++;
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static int err_pos(struct zt_diags *d, const struct zt_pos *pos, const char *fmt, ...) _printf_(3, 4);
static int err_pos(struct zt_diags *d, const struct zt_pos *pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(d, ZT_SEV_ERROR, pos->file, pos->line, pos->col, fmt, ap);
	va_end(ap);
	return r;
}

/* to: a known zone but the host, not inside or around another watched zone. */
static int check_to(struct zt_policy *p, size_t i, struct zt_diags *d)
{
	struct zt_threats *t = &p->threats;
	struct zt_ref *to = t->anomaly[i].to;
	char buf[2 * ZT_NAME_MAX + 2], ps[32];
	const char *s;

	if (zt_policy_find_zone(p, to->name, &to->zone) < 0) {
		if ((s = zt_policy_suggest_zone(p, -1, to->name, buf, sizeof(buf))))
			return err_pos(d, &to->pos, "threats.anomaly: unknown zone '%s' (did you mean '%s'?)",
				       TOK(to->name), s);
		return err_pos(d, &to->pos, "threats.anomaly: unknown zone '%s'", TOK(to->name));
	}
	if (to->zone.kind == ZT_ZONE_HOST)
		return err_pos(d, &to->pos, "threats.anomaly: to: host is not supported (a zone that hub flows "
			       "forward to: a segment, subnet, boundary or world)");
	for (size_t j = 0; j < i; j++) {
		const struct zt_ref *o = t->anomaly[j].to;

		if (!o || (!zt_zone_covers(&o->zone, &to->zone) && !zt_zone_covers(&to->zone, &o->zone)))
			continue;
		snprintf(ps, sizeof(ps), "%u:%u", o->pos.line, o->pos.col);
		return err_pos(d, &to->pos, "threats.anomaly: zone '%s' %s zone '%s' already watched (at %s): "
			       "one entry per zone", TOK(to->name),
			       zt_zone_covers(&o->zone, &to->zone) ? "is, or is part of," : "contains", TOK(o->name), ps);
	}
	return 0;
}

/* Each flow a named hub flow, watched by one entry; each zone (to:) as check_to says. */
int zt_policy_check_anomaly(struct zt_policy *p, struct zt_diags *d)
{
	struct zt_threats *t = &p->threats;
	int r, ret = 0;

	for (size_t i = 0; i < t->n_anomaly; i++) {
		struct zt_anomaly *a = &t->anomaly[i];
		char buf[ZT_NAME_MAX + 1], ps[32];
		const char *s;

		if (a->to) {
			r = check_to(p, i, d);
			if (pl_fatal(r))
				return r;
			ret = r ? r : ret;
			continue;
		}
		r = 0;
		for (size_t j = 0; j < p->hub.n_flows && a->flow_idx < 0; j++)
			if (p->hub.flows[j].named && streq(p->hub.flows[j].name, a->flow))
				a->flow_idx = (int)j;
		if (a->flow_idx < 0 && (s = zt_policy_suggest_flow(p, a->flow, buf, sizeof(buf))))
			r = err_pos(d, &a->flow_pos, "threats.anomaly: unknown flow '%s' (did you mean '%s'?)",
				    TOK(a->flow), s);
		else if (a->flow_idx < 0)
			r = err_pos(d, &a->flow_pos, "threats.anomaly: unknown flow '%s' (flow: names a hub flow "
				    "that has a name:)", TOK(a->flow));
		for (size_t j = 0; !r && j < i; j++)
			if (t->anomaly[j].flow && t->anomaly[j].flow_idx == a->flow_idx) {
				snprintf(ps, sizeof(ps), "%u:%u", t->anomaly[j].flow_pos.line, t->anomaly[j].flow_pos.col);
				r = err_pos(d, &a->flow_pos, "threats.anomaly: flow '%s' already has a baseline "
					    "(at %s): one entry per flow", TOK(a->flow), ps);
			}
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

void zt_anomaly_free(struct zt_threats *t)
{
	for (size_t i = 0; i < t->n_anomaly; i++) {
		free(t->anomaly[i].flow);
		if (t->anomaly[i].to)
			free(t->anomaly[i].to->name);
		free(t->anomaly[i].to);
	}
	free(t->anomaly);
	t->anomaly = NULL;
	t->n_anomaly = 0;
}
