/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threats.flood compiled: per-source meters, connection counts and ban
 * sets that the packet path fills itself (dynamic sets, the kernel's own
 * timeouts), the chains that use them, and the plan's view of each limit
 * for the daemon (`ztsegctl bans`, unban). doc/RULESET.md "Flood limits".
 *
 * Every set is bounded; where an update or add cannot insert (the set is
 * full) the kernel skips the rest of that rule, so each such rule is
 * followed by one that drops and counts what the set does not hold: a
 * full set fails closed.
 *
 * A zone limit is found by the zone pair (the flood map, before the flows);
 * a flow limit (`flow:`) by the connection's mark once its flow is found
 * (the floodf map, right before the flow's accept): each instance of the
 * flow (flow x zone pair, mark 0x80000000|hash) is one element.
 */
#include "compile-internal.h"

enum fset { F_M4, F_M6, F_MS4, F_MS6, F_C4, F_C6, F_CS4, F_CS6, F_BAN4, F_BAN6, N_FSET };

static const char *const fset_prefix[N_FSET] = { "fm4", "fm6", "fms4", "fms6", "fc4", "fc6",
						 "fcs4", "fcs6", "ban4", "ban6" };

struct fent {
	const struct zt_flood *f;
	uint32_t id;
	char set[N_FSET][ZT_OBJ_NAME_MAX];
	bool spoof_chain;		/* spoofable sources have a chain (and meters) of their own */
};

static void name_id(char buf[ZT_OBJ_NAME_MAX], const char *prefix, uint32_t id)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "%s_%08x", prefix, id);
}

/* A source anyone can forge: world, and boundaries that name no interface. */
static bool spoofable(const struct cc *c, uint32_t id)
{
	const struct zinfo *z = &c->zones[id];

	return z->kind == ZT_ZONE_WORLD || (z->kind == ZT_ZONE_BOUNDARY && !z->bound);
}

/* The hub flow a flow limit names: its cflows (a flow with a to: list may be several). */
static bool flow_of(const struct cc *c, const struct zt_flood *f, const struct cflow *cf)
{
	return f->flow && cf->kind == CF_HUB && cf->f == &c->p->hub.flows[f->flow_idx];
}

/* The limit's meaning: its zones' and flow's meanings and every number that changes what it does. */
static uint32_t flood_meaning(const struct cc *c, const struct zt_flood *f, const uint32_t *dst, size_t n)
{
	uint32_t h = fnv_add(2166136261u, "flood", 6);
	const uint32_t v[] = { f->rate, f->unit, f->burst, f->conns, f->ban_sec, f->plen4, f->plen6,
			       f->ban_spoofable, f->scope, f->max_sources, f->max_bans };

	for (size_t i = 0; i < ELEMENTSOF(v); i++)
		h = fnv_u32(h, v[i]);
	for (size_t i = 0; i < n; i++)
		h = fnv_u32(fnv_u32(h, dst[i]), c->zh[dst[i]]);
	if (f->flow) {
		h = fnv_add(h, f->flow, strlen(f->flow) + 1);
		for (size_t i = 0; i < c->n_flows; i++)
			if (flow_of(c, f, &c->flows[i]))
				h = fnv_u32(h, c->flows[i].mh);
	}
	return h;
}

/* Long enough for a full bucket to refill: a source idle that long starts afresh anyway. */
static uint32_t meter_timeout(const struct zt_flood *f)
{
	uint64_t t = ((uint64_t)f->burst * f->unit + f->rate - 1) / f->rate + 1;

	return t < 5 ? 5 : t > 86400 ? 86400 : (uint32_t)t;
}

static int fset_add(struct cc *c, struct fent *e, enum fset k)
{
	const struct zt_flood *f = e->f;
	bool v6 = k % 2, ban = k >= F_BAN4, meter = k <= F_MS6;
	struct set_def def = { .n_key = 1, .key = { v6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4 }, .dynamic = true,
			       .data = ban ? ZT_TYPE_MARK : ZT_TYPE_NONE, .timeout = ban || meter };
	const char *what[] = { "flood meter", "flood meter (spoofable sources)", "flood connection counts",
			       "flood connection counts (spoofable sources)", "flood bans: source to reason" };
	int si;

	name_id(e->set[k], fset_prefix[k], e->id);
	def.comment = what[k / 2];
	if ((si = set_add(c, &def, e->set[k])) < 0)
		return si;
	c->plan->sets[si].eval = true;
	c->plan->sets[si].size = ban ? f->max_bans : f->max_sources;
	c->plan->sets[si].timeout_sec = meter ? meter_timeout(f) : 0;
	return 0;
}

/* What a limit matches as its source: the address masked to the limit's prefix. */
static void src_key(struct zt_stmt *s, bool v6, const struct zt_flood *f)
{
	s->key[0] = v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR;
	s->n_key = 1;
	s->plen = v6 ? f->plen6 : f->plen4;
}

static void m_src(struct zt_rule *r, bool negate, bool v6, const struct zt_flood *f, const char *set)
{
	m_set(r, negate, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR, set);
	r->match[r->n_match - 1].plen = v6 ? f->plen6 : f->plen4;
}

/* ip saddr @fx4 return; ip6 saddr @fx6 return: threats.except is never limited or banned */
int flood_rules_except(struct cc *c, int ci)
{
	struct zt_rule *r;

	for (int v6 = 0; v6 < 2; v6++) {
		if (!c->p->threats.n_except)
			return 0;
		if (!(r = rule_new(c, ci, "threats.except: never limited or banned")))
			return -ENOMEM;
		m_set(r, false, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR, v6 ? "fx6" : "fx4");
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	return 0;
}

/* ip saddr & M @ban4_x counter name "flood_banned" drop (and ip6) */
static int rules_banned(struct cc *c, int ci, const struct fent *e, const char *what)
{
	struct zt_rule *r;

	for (int v6 = 0; v6 < 2; v6++) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_src(r, false, v6, e->f, e->set[F_BAN4 + v6]);
		s_counter(r, "flood_banned");
		s_verdict(r, ZT_V_DROP, NULL);
	}
	return 0;
}

/*
 * update @fm4_x { ip saddr & M limit rate over R burst B packets } goto fo_x
 * ip saddr & M != @fm4_x counter name "flood_full" drop      (the update could not insert)
 * add @fc4_x { ip saddr & M ct count over C } goto foc_x
 * ip saddr & M != @fc4_x counter name "flood_full" drop
 * and the same for IPv6.
 */
static int rules_limits(struct cc *c, int ci, const struct fent *e, bool spoof, const char *over_rate,
			const char *over_conns, const char *what)
{
	const struct zt_flood *f = e->f;
	struct zt_rule *r;
	struct zt_stmt *s;

	for (int kind = 0; kind < 2; kind++) {
		if (kind == 0 ? !f->rate : !f->conns)
			continue;
		for (int v6 = 0; v6 < 2; v6++) {
			const char *set = e->set[(kind ? F_C4 : F_M4) + (spoof ? 2 : 0) + v6];

			if (!(r = rule_new(c, ci, what)))
				return -ENOMEM;
			s = s_next(r, kind ? ZT_S_CONNLIMIT : ZT_S_METER);
			snprintf(s->set, sizeof(s->set), "%s", set);
			src_key(s, v6, f);
			s->rate = f->rate;
			s->unit = f->unit;
			s->burst = f->burst;
			s->count = f->conns;
			s_verdict(r, ZT_V_GOTO, kind ? over_conns : over_rate);
			if (!(r = rule_new(c, ci, "flood: the source has no entry (the set is full): fail closed")))
				return -ENOMEM;
			m_src(r, true, v6, f, set);
			s_counter(r, "flood_full");
			s_verdict(r, ZT_V_DROP, NULL);
		}
	}
	return 0;
}

/*
 * fo_x / foc_x: add @ban4_x { ip saddr & M timeout D counter : reason } counter name "flood_bans" drop
 * (and ip6), then `counter name "flood_full" drop` for an add that failed.
 * fod_x: counter name "flood_limited" drop (no ban).
 */
static int chain_over(struct cc *c, const struct fent *e, const char *name, uint32_t reason, const char *what)
{
	struct zt_rule *r;
	struct zt_stmt *s;
	int ci = chain_new(c, name, ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!reason) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_counter(r, "flood_limited");
		s_verdict(r, ZT_V_DROP, NULL);
		return 0;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s = s_next(r, ZT_S_BAN_ADD);
		snprintf(s->set, sizeof(s->set), "%s", e->set[F_BAN4 + v6]);
		src_key(s, v6, e->f);
		s->timeout_sec = e->f->ban_sec;
		s->count = reason;
		s_counter(r, "flood_bans");
		s_verdict(r, ZT_V_DROP, NULL);
	}
	if (!(r = rule_new(c, ci, "flood: the ban set is full: fail closed")))
		return -ENOMEM;
	s_counter(r, "flood_full");
	s_verdict(r, ZT_V_DROP, NULL);
	return 0;
}

/* fl_x (sources that can be banned) or fls_x (spoofable sources, limited only). */
static int chain_limit(struct cc *c, const struct fent *e, bool spoof, const char *what)
{
	char name[ZT_OBJ_NAME_MAX], orate[ZT_OBJ_NAME_MAX], oconns[ZT_OBJ_NAME_MAX];
	bool ban = e->f->ban_sec && !spoof;
	int ci, r;

	name_id(name, spoof ? "fls" : "fl", e->id);
	name_id(orate, ban ? "fo" : "fod", e->id);
	name_id(oconns, ban ? "foc" : "fod", e->id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if ((r = flood_rules_except(c, ci)) < 0)
		return r;
	/*
	 * ip6 saddr fe80::/10 goto fls_x (and ::, 0.0.0.0, 169.254.0.0/16):
	 * whoever is on a link can use any link-local address, and a ban of
	 * fe80::/64 would shut every workload's link-local traffic (DHCPv6 to
	 * the host) out. Limited as spoofable sources are, never banned.
	 */
	for (unsigned i = 0; ban && e->spoof_chain && i < N_UNSPEC; i++) {
		struct zt_rule *u = rule_new(c, ci, "flood: link-local and unspecified sources are never banned");
		char sname[ZT_OBJ_NAME_MAX];

		if (!u)
			return -ENOMEM;
		name_id(sname, "fls", e->id);
		m_unspec_src(u, i);
		s_verdict(u, ZT_V_GOTO, sname);
	}
	if (ban && e->f->scope == ZT_FLOOD_SCOPE_ZONE && (r = rules_banned(c, ci, e, what)) < 0)
		return r;
	return rules_limits(c, ci, e, spoof, orate, oconns, what);
}

/* fx4 / fx6: the except prefixes, those inside another left out (an interval set takes no overlap). */
static int except_sets(struct cc *c)
{
	const struct zt_threats *t = &c->p->threats;
	static const struct set_def defs[2] = {
		{ "fx4", { ZT_TYPE_IPV4 }, 1, ZT_TYPE_NONE, true, false, "threats.except (IPv4)", false, false, 0 },
		{ "fx6", { ZT_TYPE_IPV6 }, 1, ZT_TYPE_NONE, true, false, "threats.except (IPv6)", false, false, 0 },
	};

	for (int v6 = 0; v6 < 2; v6++) {
		int si = set_add(c, &defs[v6], defs[v6].name);

		if (si < 0)
			return si;
		for (size_t i = 0; i < t->n_except; i++) {
			const struct zt_cidr *x = &t->except[i];
			struct zt_elem *el;
			bool inside = false;

			if (x->family != (v6 ? AF_INET6 : AF_INET))
				continue;
			for (size_t j = 0; j < t->n_except && !inside; j++)
				inside = j != i && zt_cidr_contains(&t->except[j], x) &&
					 (!zt_cidr_equal(&t->except[j], x) || j < i);
			if (inside)
				continue;
			if (!(el = elem_new_at(c, si)))
				return -ENOMEM;
			el->key[0] = (struct zt_value){ .type = v6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4, .cidr = *x };
			el->key[0].cidr.pos = (struct zt_pos){};
			el->pos = pos_of(c, &x->pos);
		}
	}
	return 0;
}

static void limit_text(const struct zt_flood *f, char *buf, size_t len)
{
	static const char *const units[] = { "second", "minute", "hour", "day" };
	const char *u = f->unit == 1 ? units[0] : f->unit == 60 ? units[1] : f->unit == 3600 ? units[2] : units[3];
	int n = 0;

	if (f->rate)
		n = snprintf(buf, len, "per-source %u/%s burst %u", f->rate, u, f->burst);
	if (f->conns)
		snprintf(buf + n, len - (size_t)n, "%sconnections %u", n ? ", " : "", f->conns);
}

/* One limit: its sets, chains, the flood map's elements and the plan's view of it. */
/*
 * A flow limit's floodf elements: each instance of the flow (with to:,
 * those to its zones) but the host's own, its mark to the limit's chain.
 */
static int flow_elems(struct cc *c, const struct fent *e, int fmap, const uint32_t *dst, size_t n_dst,
		      const char *chain, const char *chain_s)
{
	for (size_t i = 0; i < c->n_flows; i++)
		c->flows[i].flood |= flow_of(c, e->f, &c->flows[i]);
	for (size_t i = 0; i < c->n_inst; i++) {
		const struct inst *in = &c->inst[i];
		uint32_t s = in->zp >> 16;
		bool hit = !n_dst;
		struct zt_elem *el;

		for (size_t d = 0; d < n_dst && !hit; d++)
			hit = dst[d] == (in->zp & 0xffff);
		if (!hit || s == ID_HOST || !flow_of(c, e->f, &c->flows[in->flow]))
			continue;
		if (!(el = elem_new_at(c, fmap)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, in->id);
		el->data = v_verdict(ZT_V_JUMP, spoofable(c, s) && e->spoof_chain ? chain_s : chain);
		el->pos = pos_of(c, &e->f->pos);
	}
	return 0;
}

static int entry_build(struct cc *c, struct fent *e, int fmap, const uint32_t *dst, size_t n_dst)
{
	struct zt_plan_flood *pf = &c->plan->flood[c->plan->n_flood++];
	const struct zt_flood *f = e->f;
	char what[128], chain[ZT_OBJ_NAME_MAX], chain_s[ZT_OBJ_NAME_MAX], ps[64];
	int r;

	*pf = (struct zt_plan_flood){ .id = e->id, .plen4 = f->plen4, .plen6 = f->plen6, .ban_sec = f->ban_sec,
				      .scope_all = f->ban_sec && f->scope == ZT_FLOOD_SCOPE_ALL,
				      .pos = pos_of(c, &f->pos) };
	if (f->flow)
		snprintf(pf->zones, sizeof(pf->zones), "flow %s%s", f->flow, f->n_to ? " to " : "");
	for (size_t i = 0; i < f->n_to; i++)
		snprintf(pf->zones + strlen(pf->zones), sizeof(pf->zones) - strlen(pf->zones), "%s%s",
			 i ? ", " : "", f->to[i].name);
	limit_text(f, pf->limit, sizeof(pf->limit));
	snprintf(what, sizeof(what), "threats.flood %s%.60s %s", f->flow ? "" : "to ", pf->zones,
		 src_str(&f->pos, ps, sizeof(ps)));
	e->spoof_chain = !f->ban_sec || !f->ban_spoofable;
	for (int k = 0; k < N_FSET; k++) {
		bool spoof_set = (k >= F_MS4 && k <= F_MS6) || k >= F_CS4;

		if ((k <= F_MS6 && !f->rate) || (k >= F_C4 && k <= F_CS6 && !f->conns) ||
		    (k >= F_BAN4 && !f->ban_sec) || (spoof_set && !e->spoof_chain))
			continue;
		if ((r = fset_add(c, e, (enum fset)k)) < 0)
			return r;
	}
	if (f->ban_sec) {
		snprintf(pf->ban4, sizeof(pf->ban4), "%s", e->set[F_BAN4]);
		snprintf(pf->ban6, sizeof(pf->ban6), "%s", e->set[F_BAN6]);
	}
	name_id(chain, "fl", e->id);
	name_id(chain_s, "fls", e->id);
	if ((r = chain_limit(c, e, false, what)) < 0 || (e->spoof_chain && (r = chain_limit(c, e, true, what)) < 0))
		return r;
	if (f->ban_sec) {
		char n1[ZT_OBJ_NAME_MAX], n2[ZT_OBJ_NAME_MAX];

		name_id(n1, "fo", e->id);
		name_id(n2, "foc", e->id);
		if ((f->rate && (r = chain_over(c, e, n1, ZT_BAN_REASON_RATE, what)) < 0) ||
		    (f->conns && (r = chain_over(c, e, n2, ZT_BAN_REASON_CONNS, what)) < 0))
			return r;
	}
	if (e->spoof_chain) {
		char n3[ZT_OBJ_NAME_MAX];

		name_id(n3, "fod", e->id);
		if ((r = chain_over(c, e, n3, 0, what)) < 0)
			return r;
	}
	if (f->flow)
		return flow_elems(c, e, fmap, dst, n_dst, chain, chain_s);
	/* Every source zone but the host (its own traffic is judged in judge_out) to each zone of to. */
	for (size_t d = 0; d < n_dst; d++)
		for (uint32_t s = 1; s <= c->n_zones; s++) {
			struct zt_elem *el;

			if (s == ID_HOST)
				continue;
			if (!(el = elem_new_at(c, fmap)))
				return -ENOMEM;
			el->key[0] = v_u32(ZT_TYPE_MARK, s << 16 | dst[d]);
			el->data = v_verdict(ZT_V_JUMP, spoofable(c, s) && e->spoof_chain ? chain_s : chain);
			el->pos = pos_of(c, &f->pos);
		}
	return 0;
}

/* The limits' sets, chains and counters; after meanings_build() (zone meanings), before chains_build(). */
int flood_build(struct cc *c)
{
	static const struct set_def fdef = { "flood", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
					     "threats.flood: zone pair to its limit's chain", false, false, 0 };
	static const char *const counters[][2] = {
		{ "flood_bans", "flood: sources banned (the packet that tripped the limit)" },
		{ "flood_banned", "flood: new connections of banned sources dropped" },
		{ "flood_full", "flood: dropped because a meter or ban set was full (fail closed)" },
		{ "flood_limited", "flood: over a limit and not banned (spoofable sources, no ban:)" },
	};
	static const struct set_def ffdef = { "floodf", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
					      "threats.flood flow: a connection's mark to its limit's chain", false,
					      false, 0 };
	const struct zt_threats *t = &c->p->threats;
	int fmap = -1, ffmap = -1, r;
	bool mitigates = false;

	for (size_t i = 0; i < t->n_anomaly; i++)
		mitigates |= t->anomaly[i].mitigate != ZT_MITIGATE_ALERT;
	/* fx4/fx6: flood limits and anomaly mitigations both leave threats.except alone. */
	if (t->n_except && (t->n_flood || mitigates) && (r = except_sets(c)) < 0)
		return r;
	if (!t->n_flood)
		return 0;
	if (!(c->plan->flood = calloc(t->n_flood, sizeof(*c->plan->flood))))
		return -ENOMEM;
	for (size_t i = 0; i < t->n_flood; i++) {
		if (!t->flood[i].flow && fmap < 0 && (fmap = set_add(c, &fdef, fdef.name)) < 0)
			return fmap;
		if (t->flood[i].flow && ffmap < 0 && (ffmap = set_add(c, &ffdef, ffdef.name)) < 0)
			return ffmap;
	}
	for (size_t i = 0; i < ELEMENTSOF(counters); i++)
		if ((r = counter_new(c, counters[i][0], counters[i][1])) < 0)
			return r;
	for (size_t i = 0; i < t->n_flood; i++) {
		_cleanup_free_ uint32_t *dst = NULL;
		struct fent e = { .f = &t->flood[i] };
		size_t n_dst = 0;

		if ((r = refs_ids(c, e.f->to, e.f->n_to, &dst, NULL, &n_dst)) < 0)
			return r;
		e.id = flood_meaning(c, e.f, dst, n_dst);
		/* Unique among the limits: bump on collision, in policy order. */
		for (size_t j = 0; j < c->plan->n_flood; j++)
			if (c->plan->flood[j].id == e.id) {
				e.id++;
				j = (size_t)-1;
			}
		if ((r = entry_build(c, &e, e.f->flow ? ffmap : fmap, dst, n_dst)) < 0)
			return r;
	}
	return 0;
}

/*
 * judge, after the scope rule:
 *   [jump flood_all]            bans with ban-scope: all, for every new connection
 *   ct mark vmap @flood         the zone pair's limit: jump fl_<id> / fls_<id>
 */
int flood_rules(struct cc *c, int ci)
{
	const struct zt_plan *pl = c->plan;
	struct zt_rule *r;
	bool all = false;
	int ca, ret;

	if (!pl->n_flood)
		return 0;
	for (size_t i = 0; i < pl->n_flood; i++)
		all |= pl->flood[i].scope_all;
	if (all) {
		if ((ca = chain_new(c, "flood_all", ZT_HOOK_NONE, 0)) < 0)
			return ca;
		if ((ret = flood_rules_except(c, ca)) < 0)
			return ret;
		for (size_t i = 0; i < pl->n_flood; i++) {
			const struct zt_flood *f = &c->p->threats.flood[i];
			struct fent e = { .f = f };
			char what[128], ps[64];

			if (!pl->flood[i].scope_all)
				continue;
			snprintf(e.set[F_BAN4], sizeof(e.set[F_BAN4]), "%s", pl->flood[i].ban4);
			snprintf(e.set[F_BAN6], sizeof(e.set[F_BAN6]), "%s", pl->flood[i].ban6);
			snprintf(what, sizeof(what), "threats.flood ban-scope: all %s", src_str(&f->pos, ps, sizeof(ps)));
			if ((ret = rules_banned(c, ca, &e, what)) < 0)
				return ret;
		}
		if (rule_verdict(c, ci, "threats.flood: bans with ban-scope: all", ZT_V_JUMP, "flood_all") < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < c->p->threats.n_flood; i++)
		if (!c->p->threats.flood[i].flow) {
			if (!(r = rule_new(c, ci, "threats.flood: the zone pair's limit")))
				return -ENOMEM;
			s_vmap1(r, ZT_KEY_CT_MARK, "flood");
			break;
		}
	return 0;
}

/*
 * judge (and f_<id> chains of limited flows), once the flow is found, right
 * before its accept:   ct mark vmap @floodf   (the flow's limit: fl_/fls_<id>)
 */
int flood_flow_rule(struct cc *c, int ci)
{
	struct zt_rule *r;

	/*
	 * ct mark vmap @anom: a flow's anomaly baseline's chain (counts, and mitigates during an episode);
	 * ct mark vmap @anomz: the baseline of the zone the connection goes to (threats.anomaly to:)
	 */
	for (int zone = 0; zone < 2; zone++)
		for (size_t i = 0; i < c->p->threats.n_anomaly; i++)
			if ((c->p->threats.anomaly[i].flow == NULL) == zone) {
				if (!(r = rule_new(c, ci, zone ? "threats.anomaly: the zone's baseline"
							  : "threats.anomaly: the flow's baseline")))
					return -ENOMEM;
				s_vmap1(r, ZT_KEY_CT_MARK, zone ? "anomz" : "anom");
				break;
			}
	for (size_t i = 0; i < c->p->threats.n_flood; i++)
		if (c->p->threats.flood[i].flow) {
			if (!(r = rule_new(c, ci, "threats.flood: the flow's limit")))
				return -ENOMEM;
			s_vmap1(r, ZT_KEY_CT_MARK, "floodf");
			return 0;
		}
	return 0;
}
