/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threats: in ztseg.yaml (SPEC §3): `except` prefixes that are never
 * limited, banned or blocked by a feed, and `flood` limits per destination
 * zone or per hub flow (`flow:`) with timed bans; `blocklists` goes to
 * policy-feeds.c. Loaded from the YAML tree with every problem at
 * file:line:col, then resolved against the zones and flows and
 * cross-checked; `anomaly` goes to policy-anomaly.c. ztseg.yaml(5).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "grant.h"
#include "policy.h"
#include "policy-loader.h"

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

/* A plain decimal integer lo..hi. */
static int load_uint(struct loader *l, const struct zt_node *n, const char *key, uint32_t lo, uint32_t hi,
		     uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "%s: expected a number from %u to %u, got %s", key, lo, hi, pl_node_kind(n));
	if (!isdigit((unsigned char)n->value[0]) || n->len > 10)
		return pl_err_at(l, n, "%s: expected a number from %u to %u, got '%s'", key, lo, hi, TOK(n->value));
	v = strtoul(n->value, &end, 10);
	if (*end || v < lo || v > hi)
		return pl_err_at(l, n, "%s: expected a number from %u to %u, got '%s'", key, lo, hi, TOK(n->value));
	*ret = (uint32_t)v;
	return 0;
}

static int load_bool(struct loader *l, const struct zt_node *n, const char *key, bool *ret)
{
	if (n->type == ZT_NODE_SCALAR && n->plain && streq(n->value, "true"))
		*ret = true;
	else if (n->type == ZT_NODE_SCALAR && n->plain && streq(n->value, "false"))
		*ret = false;
	else
		return pl_err_at(l, n, "%s: expected true or false", key);
	return 0;
}

/* per-source: 200/second (or /minute, /hour, /day) */
static int load_rate(struct loader *l, const struct zt_node *n, struct zt_flood *f)
{
	static const struct {
		const char *name;
		uint32_t sec;
	} units[] = { { "second", 1 }, { "minute", 60 }, { "hour", 3600 }, { "day", 86400 } };
	const char *slash;
	char *end;
	unsigned long v;

	if (n->type != ZT_NODE_SCALAR || !(slash = strchr(n->value, '/')) || !isdigit((unsigned char)n->value[0]))
		goto bad;
	v = strtoul(n->value, &end, 10);
	if (end != slash || v < 1 || v > 1000000)
		goto bad;
	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (streq(slash + 1, units[i].name)) {
			f->rate = (uint32_t)v;
			f->unit = units[i].sec;
			f->rate_pos = pl_pos_of(l, n);
			return 0;
		}
bad:
	return pl_err_at(l, n, "per-source: expected new connections per unit such as 200/second "
		      "(1 to 1000000 per second, minute, hour or day), got %s%s%s",
		      n->type == ZT_NODE_SCALAR ? "'" : "", n->type == ZT_NODE_SCALAR ? TOK(n->value) : pl_node_kind(n),
		      n->type == ZT_NODE_SCALAR ? "'" : "");
}

/* source-prefix: { ipv4: 32, ipv6: 64 } */
static int load_prefix(struct loader *l, const struct zt_node *n, struct zt_flood *f)
{
	int r, ret = 0;
	uint32_t v;

	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "source-prefix: expected a mapping such as { ipv4: 32, ipv6: 64 }, got %s",
			      pl_node_kind(n));
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *k = n->keys[i], *x = n->items[i];
		bool v6 = streq(k->value, "ipv6");

		if (!v6 && !streq(k->value, "ipv4"))
			r = pl_err_at(l, k, "source-prefix: unknown key '%s'; expected ipv4 or ipv6", TOK(k->value));
		else if (!(r = load_uint(l, x, v6 ? "source-prefix: ipv6" : "source-prefix: ipv4", 1, v6 ? 128 : 32, &v))) {
			if (v6)
				f->plen6 = (uint8_t)v;
			else
				f->plen4 = (uint8_t)v;
		}
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static int load_to(struct loader *l, const struct zt_node *n, struct zt_flood *f)
{
	const struct zt_node *one[1] = { n };
	const struct zt_node *const *items = n->type == ZT_NODE_SEQ ? (const struct zt_node *const *)n->items : one;
	size_t cnt = n->type == ZT_NODE_SEQ ? n->n : 1;

	if (n->type == ZT_NODE_MAP || !cnt)
		return pl_err_at(l, n, "to: expected a zone or a list of zones, got %s",
			      n->type == ZT_NODE_MAP ? "a mapping" : "an empty list");
	if (!(f->to = calloc(cnt, sizeof(*f->to))))
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		if (items[i]->type != ZT_NODE_SCALAR || !items[i]->len)
			return pl_err_at(l, items[i], "to: expected a zone name, got %s", pl_node_kind(items[i]));
		if (!(f->to[i].name = strdup(items[i]->value)))
			return -ENOMEM;
		f->to[i].pos = pl_pos_of(l, items[i]);
		f->n_to++;
	}
	return 0;
}

static int load_flood_key(struct loader *l, const struct zt_node *k, const struct zt_node *v, struct zt_flood *f)
{
	const char *why = NULL;
	uint32_t x;
	int r;

	if (streq(k->value, "to"))
		return load_to(l, v, f);
	if (streq(k->value, "flow")) {
		if (v->type != ZT_NODE_SCALAR || !v->len)
			return pl_err_at(l, v, "flow: expected the name of a hub flow, got %s", pl_node_kind(v));
		free(f->flow);
		if (!(f->flow = strdup(v->value)))
			return -ENOMEM;
		f->flow_pos = pl_pos_of(l, v);
		return 0;
	}
	if (streq(k->value, "per-source"))
		return load_rate(l, v, f);
	if (streq(k->value, "burst"))
		return load_uint(l, v, "burst", 1, 1000000, &f->burst);
	if (streq(k->value, "connections")) {
		f->conns_pos = pl_pos_of(l, v);
		return load_uint(l, v, "connections", 1, 1000000, &f->conns);
	}
	if (streq(k->value, "ban")) {
		if (v->type != ZT_NODE_SCALAR)
			return pl_err_at(l, v, "ban: expected a duration such as 10m, got %s", pl_node_kind(v));
		if (zt_duration_parse(v->value, ZT_FLOOD_BAN_MAX, &x, &why) < 0)
			return pl_err_at(l, v, "ban: invalid duration '%s': %s (at most 168h)", TOK(v->value), why);
		f->ban_sec = x;
		return 0;
	}
	if (streq(k->value, "source-prefix"))
		return load_prefix(l, v, f);
	if (streq(k->value, "ban-spoofable"))
		return load_bool(l, v, "ban-spoofable", &f->ban_spoofable);
	if (streq(k->value, "ban-scope")) {
		if (v->type == ZT_NODE_SCALAR && streq(v->value, "zone"))
			f->scope = ZT_FLOOD_SCOPE_ZONE;
		else if (v->type == ZT_NODE_SCALAR && streq(v->value, "all"))
			f->scope = ZT_FLOOD_SCOPE_ALL;
		else
			return pl_err_at(l, v, "ban-scope: expected zone or all");
		return 0;
	}
	if (streq(k->value, "max-sources"))
		return load_uint(l, v, "max-sources", 1, ZT_FLOOD_SET_MAX, &f->max_sources);
	if (streq(k->value, "max-bans"))
		return load_uint(l, v, "max-bans", 1, ZT_FLOOD_SET_MAX, &f->max_bans);
	r = pl_err_at(l, k, "threats.flood: unknown key '%s'; expected one of: to, flow, per-source, burst, "
		   "connections, ban, source-prefix, ban-spoofable, ban-scope, max-sources, max-bans",
		   TOK(k->value));
	return r;
}

static int load_flood_one(struct loader *l, const struct zt_node *n, struct zt_flood *f)
{
	bool burst = false, scope = false;
	int r, ret = 0;

	*f = (struct zt_flood){ .plen4 = 32, .plen6 = 64, .max_sources = ZT_FLOOD_SET_DEFAULT,
				.max_bans = ZT_FLOOD_SET_DEFAULT, .flow_idx = -1, .pos = pl_pos_of(l, n) };
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "threats.flood: expected a mapping such as "
			      "{ to: web, per-source: 200/second, ban: 10m }, got %s", pl_node_kind(n));
	for (size_t i = 0; i < n->n; i++) {
		r = load_flood_key(l, n->keys[i], n->items[i], f);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		burst |= streq(n->keys[i]->value, "burst");
		scope |= streq(n->keys[i]->value, "ban-scope");
	}
	if (ret)
		return ret;
	if (!f->n_to && !f->flow)
		return pl_err_at(l, n, "threats.flood: missing required key 'to' or 'flow' "
			      "(the zone or the hub flow the limit protects)");
	if (!f->rate && !f->conns)
		return pl_err_at(l, n, "threats.flood: expected per-source, connections or both");
	if (burst && !f->rate)
		return pl_err_at(l, n, "threats.flood: burst needs per-source");
	if (!f->burst)
		f->burst = f->rate;
	if (scope && !f->ban_sec)
		return pl_err_at(l, n, "threats.flood: ban-scope needs ban");
	return 0;
}

static int load_except(struct loader *l, const struct zt_node *n)
{
	struct zt_threats *t = &l->p->threats;
	int r, ret = 0;

	if (n->type != ZT_NODE_SEQ)
		return pl_err_at(l, n, "threats.except: expected a list of addresses or prefixes, got %s", pl_node_kind(n));
	if (n->n > ZT_EXCEPT_MAX)
		return pl_err_at(l, n, "threats.except: at most %d prefixes", ZT_EXCEPT_MAX);
	if (n->n && !(t->except = calloc(n->n, sizeof(*t->except))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		struct zt_cidr *c = &t->except[t->n_except];
		const char *why = NULL;

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "threats.except: expected an address or prefix, got %s", pl_node_kind(it));
		else if (zt_cidr_parse(it->value, c, &why) < 0)
			r = pl_err_at(l, it, "threats.except: invalid prefix '%s': %s", TOK(it->value),
				   why ? why : "malformed");
		else {
			c->pos = pl_pos_of(l, it);
			t->n_except++;
			continue;
		}
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	return ret;
}

static int load_flood(struct loader *l, const struct zt_node *n)
{
	struct zt_threats *t = &l->p->threats;
	int r, ret = 0;

	if (n->type != ZT_NODE_SEQ)
		return pl_err_at(l, n, "threats.flood: expected a list of limits, got %s", pl_node_kind(n));
	if (n->n > ZT_FLOOD_MAX)
		return pl_err_at(l, n, "threats.flood: at most %d limits", ZT_FLOOD_MAX);
	if (n->n && !(t->flood = calloc(n->n, sizeof(*t->flood))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		r = load_flood_one(l, n->items[i], &t->flood[i]);
		t->n_flood++;
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

int zt_policy_load_threats(struct zt_policy *p, const char *file, const struct zt_node *n,
			   struct zt_diags *d)
{
	struct loader l = { .p = p, .file = file, .d = d };
	int r, ret = 0;

	if (p->threats.pos.file)
		return pl_err_at(&l, n, "threats: given twice");
	p->threats.pos = pl_pos_of(&l, n);
	if (n->type == ZT_NODE_SCALAR && n->plain && (!n->len || streq(n->value, "~") || streq(n->value, "null")))
		return 0;
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(&l, n, "threats: expected a mapping with except, flood, blocklists and anomaly, got %s", pl_node_kind(n));
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *k = n->keys[i], *v = n->items[i];

		if (streq(k->value, "except"))
			r = p->threats.except ? pl_err_at(&l, k, "threats.except: given twice") : load_except(&l, v);
		else if (streq(k->value, "flood"))
			r = p->threats.flood ? pl_err_at(&l, k, "threats.flood: given twice") : load_flood(&l, v);
		else if (streq(k->value, "blocklists"))
			r = zt_policy_load_blocklists(p, file, v, d);
		else if (streq(k->value, "anomaly"))
			r = p->threats.anomaly ? pl_err_at(&l, k, "threats.anomaly: given twice")
					       : zt_policy_load_anomaly(p, file, v, d);
		else
			r = pl_err_at(&l, k, "threats: unknown key '%s'; expected one of: except, flood, blocklists, anomaly",
				   TOK(k->value));
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

/* ---- resolved against the zones ---------------------------------------- */

static bool zone_same(const struct zt_zone *a, const struct zt_zone *b)
{
	return a->kind == b->kind && a->seg == b->seg && a->sub == b->sub && a->bnd == b->bnd;
}

/* Does zone a cover b (a segment covers its subnets)? */
static bool zone_covers(const struct zt_zone *a, const struct zt_zone *b)
{
	return zone_same(a, b) || (a->kind == ZT_ZONE_SEGMENT && b->kind == ZT_ZONE_SUBNET && a->seg == b->seg);
}

static int resolve_to(struct zt_policy *p, struct zt_flood *f, struct zt_diags *d)
{
	char buf[2 * ZT_NAME_MAX + 2];
	int r, ret = 0;

	for (size_t i = 0; i < f->n_to; i++) {
		struct zt_ref *t = &f->to[i];
		const char *s;

		if (zt_policy_find_zone(p, t->name, &t->zone) == 0) {
			if (t->zone.kind == ZT_ZONE_HOST && !p->hub.protect_host)
				r = err_pos(d, &t->pos, "threats.flood: to: host needs hub.protect-host: true "
					    "(without it the host's traffic is not judged)");
			else
				continue;
		} else if ((s = zt_policy_suggest_zone(p, -1, t->name, buf, sizeof(buf))))
			r = err_pos(d, &t->pos, "threats.flood: unknown zone '%s' (did you mean '%s'?)",
				    TOK(t->name), s);
		else
			r = err_pos(d, &t->pos, "threats.flood: unknown zone '%s'", TOK(t->name));
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	return ret;
}

/*
 * flow: a named hub flow; with to:, each zone of to must be one the flow
 * goes to (or a part of one): a limit that can never match is a mistake.
 */
static int resolve_flow(struct zt_policy *p, struct zt_flood *f, struct zt_diags *d)
{
	char buf[ZT_NAME_MAX + 1];
	const struct zt_flow *fl;
	const char *s;
	int r, ret = 0;

	for (size_t i = 0; i < p->hub.n_flows && f->flow_idx < 0; i++)
		if (p->hub.flows[i].named && streq(p->hub.flows[i].name, f->flow))
			f->flow_idx = (int)i;
	if (f->flow_idx < 0) {
		if ((s = zt_policy_suggest_flow(p, f->flow, buf, sizeof(buf))))
			return err_pos(d, &f->flow_pos, "threats.flood: unknown flow '%s' (did you mean '%s'?)",
				       TOK(f->flow), s);
		return err_pos(d, &f->flow_pos, "threats.flood: unknown flow '%s' (flow: names a hub flow "
			       "that has a name:)", TOK(f->flow));
	}
	fl = &p->hub.flows[f->flow_idx];
	for (size_t i = 0; i < f->n_to; i++) {
		bool hit = false;

		for (size_t j = 0; j < fl->n_to && !hit; j++)
			hit = zone_covers(&fl->to[j].zone, &f->to[i].zone) || zone_covers(&f->to[i].zone, &fl->to[j].zone);
		if (hit)
			continue;
		r = err_pos(d, &f->to[i].pos, "threats.flood: flow '%s' does not go to zone '%s'",
			    TOK(f->flow), TOK(f->to[i].name));
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	return ret;
}

/*
 * One limit per zone, and one per flow: two entries for one zone (or one
 * flow) would race for its connections. A zone limit and a flow limit
 * may share a zone: the flow's connections then count in both.
 */
static int check_overlap(struct zt_policy *p, struct zt_diags *d)
{
	const struct zt_threats *t = &p->threats;
	int r, ret = 0;

	for (size_t i = 0; i < t->n_flood; i++)
		for (size_t j = 0; j < i; j++) {
			const struct zt_flood *x = &t->flood[i], *y = &t->flood[j];
			char ps[32];

			if (!x->flow || !y->flow || x->flow_idx != y->flow_idx)
				continue;
			snprintf(ps, sizeof(ps), "%u:%u", y->flow_pos.line, y->flow_pos.col);
			r = err_pos(d, &x->flow_pos, "threats.flood: flow '%s' is already limited (at %s): "
				    "one limit per flow", TOK(x->flow), ps);
			if (pl_fatal(r))
				return r;
			ret = r;
		}
	for (size_t i = 0; i < t->n_flood; i++)
		for (size_t a = 0; !t->flood[i].flow && a < t->flood[i].n_to; a++)
			for (size_t j = 0; j <= i; j++)
				for (size_t b = 0; !t->flood[j].flow && b < (j == i ? a : t->flood[j].n_to); b++) {
					const struct zt_ref *x = &t->flood[i].to[a], *y = &t->flood[j].to[b];
					char ps[32];

					if (!zone_covers(&x->zone, &y->zone) && !zone_covers(&y->zone, &x->zone))
						continue;
					snprintf(ps, sizeof(ps), "%u:%u", y->pos.line, y->pos.col);
					r = err_pos(d, &x->pos, "threats.flood: zone '%s' is already limited "
						    "(by '%s' at %s): one limit per zone", TOK(x->name),
						    TOK(y->name), ps);
					if (pl_fatal(r))
						return r;
					ret = r;
				}
	return ret;
}

int zt_policy_check_threats(struct zt_policy *p, struct zt_diags *d)
{
	int r, ret = 0;

	for (size_t i = 0; i < p->threats.n_flood; i++) {
		r = resolve_to(p, &p->threats.flood[i], d);
		if (r == 0 && p->threats.flood[i].flow)
			r = resolve_flow(p, &p->threats.flood[i], d);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (ret)
		return ret;
	if ((r = check_overlap(p, d)) != 0)
		return r;
	return zt_policy_check_anomaly(p, d);
}

void zt_threats_free(struct zt_threats *t)
{
	for (size_t i = 0; i < t->n_flood; i++) {
		for (size_t j = 0; j < t->flood[i].n_to; j++)
			free(t->flood[i].to[j].name);
		free(t->flood[i].to);
		free(t->flood[i].flow);
	}
	free(t->flood);
	free(t->except);
	zt_blocklists_free(t);
	zt_anomaly_free(t);
	*t = (struct zt_threats){};
}
