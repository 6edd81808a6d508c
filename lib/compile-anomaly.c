/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threats.anomaly compiled (doc/RULESET.md "Anomaly episodes"): each
 * watched flow's connection marks lead (map anom, beside floodf) to its
 * chain an_<id>; a watched zone's (to:) marks, those of every hub flow
 * instance into it, lead the same way through the map anomz (a second
 * lookup: a connection may count in its flow's series and its zone's).
 * an_<id> counts the series' new connections in ac_<id> (the
 * series the daemon samples, counted before any mitigation so that a
 * mitigated surge still shows) and holds what an episode's mitigation
 * fills: the ban sets ab4_/ab6_<id> (ban-top-sources) or the verdict map
 * at_<id> that sends the flow's marks to one of the rate tiers ar_<id>_<k>
 * (rate-limit: per source, 2^k new connections per second). Both are
 * dynamic: empty (and costing one lookup) until the daemon fills them.
 * The rate tiers reuse flood's meters: a dynamic set updated with a limit,
 * and a rule after it that fails closed when the set is full.
 */
#include "anomaly.h"
#include "compile-internal.h"

#define ANOMALY_SET_SIZE 65536

static void name_id(char buf[ZT_OBJ_NAME_MAX], const char *prefix, uint32_t id)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "%s_%08x", prefix, id);
}

static bool flow_of(const struct cc *c, const struct zt_anomaly *a, const struct cflow *cf)
{
	return a->flow && cf->kind == CF_HUB && cf->f == &c->p->hub.flows[a->flow_idx];
}

/* Does the entry watch this flow instance? A flow's: each of its instances; a zone's: each hub flow's into it. */
static bool inst_of(const struct cc *c, const struct zt_anomaly *a, const struct inst *in, const uint32_t *dst,
		    size_t n_dst)
{
	bool hit = false;

	if (in->zp >> 16 == ID_HOST)
		return false;
	if (a->flow)
		return flow_of(c, a, &c->flows[in->flow]);
	for (size_t d = 0; d < n_dst && !hit; d++)
		hit = dst[d] == (in->zp & 0xffff);
	return hit && c->flows[in->flow].kind == CF_HUB;
}

/* The entry's kernel objects depend on its series (the marks' meaning) and its mitigation only. */
static uint32_t anomaly_meaning(const struct cc *c, const struct zt_anomaly *a, const uint32_t *dst, size_t n_dst)
{
	uint32_t h = fnv_add(2166136261u, a->flow ? "anomaly" : "anomaly-to", a->flow ? 8 : 11);
	const char *name = a->flow ? a->flow : a->to->name;

	h = fnv_add(h, name, strlen(name) + 1);
	h = fnv_u32(h, (uint32_t)a->mitigate);
	if (a->bytes)
		h = fnv_add(h, "bytes", 5);
	for (size_t i = 0; i < c->n_flows; i++)
		if (flow_of(c, a, &c->flows[i]))
			h = fnv_u32(h, c->flows[i].mh);
	for (size_t i = 0; !a->flow && i < c->n_inst; i++)
		if (inst_of(c, a, &c->inst[i], dst, n_dst))
			h = fnv_u32(h, c->inst[i].id);
	return h;
}

static int u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

/*
 * ar_<id>_<k>: update @am4_<id> { ip saddr limit rate over 2^k/second burst 2^k packets }
 * counter name "anomaly_limited" drop; ip saddr != @am4_<id> counter name "anomaly_full" drop;
 * the same for ip6 (sources by /64).
 */
static int chain_tier(struct cc *c, uint32_t id, unsigned k, const char *what)
{
	char name[ZT_OBJ_NAME_MAX], set[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	struct zt_stmt *s;
	int ci;

	snprintf(name, sizeof(name), "ar_%08x_%u", id, k);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	for (int v6 = 0; v6 < 2; v6++) {
		name_id(set, v6 ? "am6" : "am4", id);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s = s_next(r, ZT_S_METER);
		snprintf(s->set, sizeof(s->set), "%s", set);
		s->key[0] = v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR;
		s->n_key = 1;
		s->plen = v6 ? 64 : 32;
		s->rate = s->burst = 1u << k;
		s->unit = 1;
		s_counter(r, "anomaly_limited");
		s_verdict(r, ZT_V_DROP, NULL);
		if (!(r = rule_new(c, ci, "anomaly: the source has no entry (the set is full): fail closed")))
			return -ENOMEM;
		m_set(r, true, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR, set);
		r->match[r->n_match - 1].plen = v6 ? 64 : 32;
		s_counter(r, "anomaly_full");
		s_verdict(r, ZT_V_DROP, NULL);
	}
	return 0;
}

static int sets_add(struct cc *c, struct zt_plan_anomaly *pa)
{
	for (int v6 = 0; v6 < 2; v6++) {
		char name[ZT_OBJ_NAME_MAX];
		struct set_def def = { .n_key = 1, .key = { v6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4 } };
		int si;

		if (pa->mitigate == ZT_MITIGATE_RATE_LIMIT) {
			name_id(name, v6 ? "am6" : "am4", pa->id);
			def.comment = "anomaly rate-limit meter";
			def.dynamic = def.timeout = true;
			if ((si = set_add(c, &def, name)) < 0)
				return si;
			c->plan->sets[si].eval = true;
			c->plan->sets[si].size = ANOMALY_SET_SIZE;
			c->plan->sets[si].timeout_sec = 5;
		} else {
			name_id(v6 ? pa->ban6 : pa->ban4, v6 ? "ab6" : "ab4", pa->id);
			def.comment = "anomaly bans: an episode's top sources (the daemon's)";
			def.dynamic = def.timeout = true;
			if ((si = set_add(c, &def, v6 ? pa->ban6 : pa->ban4)) < 0)
				return si;
			c->plan->sets[si].size = ANOMALY_SET_SIZE;
		}
	}
	if (pa->mitigate == ZT_MITIGATE_RATE_LIMIT) {
		struct set_def def = { .n_key = 1, .key = { ZT_TYPE_MARK }, .data = ZT_TYPE_VERDICT, .dynamic = true,
				       .comment = "anomaly rate-limit: the flow's marks to a tier (the daemon's)" };
		int si;

		name_id(pa->tiers, "at", pa->id);
		if ((si = set_add(c, &def, pa->tiers)) < 0)
			return si;
	}
	return 0;
}

/* an_<id>: counter name ac_<id>; [except return; bans drop | ct mark vmap @at_<id>] */
static int chain_entry(struct cc *c, struct zt_plan_anomaly *pa, const char *what)
{
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci, ret;

	name_id(name, "an", pa->id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_counter(r, pa->counter);
	if (pa->mitigate == ZT_MITIGATE_ALERT)
		return 0;
	if ((ret = flood_rules_except(c, ci)) < 0)
		return ret;
	if (pa->mitigate == ZT_MITIGATE_RATE_LIMIT) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_vmap1(r, ZT_KEY_CT_MARK, pa->tiers);
		for (unsigned k = 0; k < ZT_ANOMALY_TIERS; k++)
			if ((ret = chain_tier(c, pa->id, k, what)) < 0)
				return ret;
		return 0;
	}
	for (int v6 = 0; v6 < 2; v6++) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_set(r, false, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR, v6 ? pa->ban6 : pa->ban4);
		s_counter(r, "anomaly_banned");
		s_verdict(r, ZT_V_DROP, NULL);
	}
	return 0;
}

/*
 * Each instance of the flow (or each hub flow instance into the zone) but
 * the host's own: its mark to an_<id>, and into the plan's list; the
 * flows those instances belong to get the lookup before their accept.
 */
static int entry_elems(struct cc *c, struct zt_plan_anomaly *pa, const struct zt_anomaly *a, int map,
		       const uint32_t *dst, size_t n_dst)
{
	char chain[ZT_OBJ_NAME_MAX];

	name_id(chain, "an", pa->id);
	if (c->n_inst && !(pa->marks = calloc(c->n_inst, sizeof(*pa->marks))))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_inst; i++) {
		const struct inst *in = &c->inst[i];
		struct zt_elem *el;

		if (!inst_of(c, a, in, dst, n_dst))
			continue;
		c->flows[in->flow].flood = true;
		if (!(el = elem_new_at(c, map)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, in->id);
		el->data = v_verdict(ZT_V_JUMP, chain);
		el->pos = pos_of(c, &a->pos);
		pa->marks[pa->n_marks++] = in->id;
	}
	qsort(pa->marks, pa->n_marks, sizeof(*pa->marks), u32_cmp);
	return 0;
}

/* series: bytes: ay_<id>, and each of the entry's marks to it in abyt (the established rule's map). */
static int bytes_elems(struct cc *c, struct zt_plan_anomaly *pa, int *bmap, const struct zt_pos *pos)
{
	static const struct set_def bdef = { "abyt", { ZT_TYPE_MARK }, 1, ZT_TYPE_COUNTER, false, false,
					     "threats.anomaly series: bytes: a watched flow's marks to its bytes "
					     "counter", false, false, 0 };
	int r;

	if (*bmap < 0 && (*bmap = set_add(c, &bdef, bdef.name)) < 0)
		return *bmap;
	c->abyt = true;
	pa->bytes = true;
	name_id(pa->bcounter, "ay", pa->id);
	if ((r = counter_new(c, pa->bcounter, "anomaly: the flow's established traffic (the baseline's series: bytes)")) < 0)
		return r;
	for (size_t i = 0; i < pa->n_marks; i++) {
		struct zt_elem *el = elem_new_at(c, *bmap);

		if (!el)
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, pa->marks[i]);
		el->data = (struct zt_value){ .type = ZT_TYPE_COUNTER };
		snprintf(el->data.counter, sizeof(el->data.counter), "%s", pa->bcounter);
		el->pos = pos_of(c, pos);
	}
	return 0;
}

/* After flood_build() (the except sets), before chains_build() (the flows' f_ chains look at .flood). */
int anomaly_build(struct cc *c)
{
	static const struct set_def adef = { "anom", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
					     "threats.anomaly: a watched flow's marks to its baseline's chain", false,
					     false, 0 };
	static const struct set_def zdef = { "anomz", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
					     "threats.anomaly to: the marks of flows into a watched zone to its "
					     "baseline's chain", false, false, 0 };
	static const char *const counters[][2] = {
		{ "anomaly_limited", "anomaly: new connections over an episode's per-source rate limit" },
		{ "anomaly_banned", "anomaly: new connections of an episode's banned top sources" },
		{ "anomaly_full", "anomaly: dropped because a rate-limit meter was full (fail closed)" },
	};
	const struct zt_threats *t = &c->p->threats;
	int map = -1, zmap = -1, bmap = -1, r;

	if (!t->n_anomaly)
		return 0;
	if (!(c->plan->anomaly = calloc(t->n_anomaly, sizeof(*c->plan->anomaly))))
		return -ENOMEM;
	for (size_t i = 0; i < t->n_anomaly; i++) {
		if (t->anomaly[i].flow && map < 0 && (map = set_add(c, &adef, adef.name)) < 0)
			return map;
		if (!t->anomaly[i].flow && zmap < 0 && (zmap = set_add(c, &zdef, zdef.name)) < 0)
			return zmap;
	}
	for (size_t i = 0; i < ELEMENTSOF(counters); i++)
		if ((r = counter_new(c, counters[i][0], counters[i][1])) < 0)
			return r;
	for (size_t i = 0; i < t->n_anomaly; i++) {
		const struct zt_anomaly *a = &t->anomaly[i];
		struct zt_plan_anomaly *pa = &c->plan->anomaly[c->plan->n_anomaly++];
		_cleanup_free_ uint32_t *dst = NULL;
		char what[160], ps[64];
		size_t n_dst = 0;

		if (a->to && (r = refs_ids(c, a->to, 1, &dst, NULL, &n_dst)) < 0)
			return r;
		*pa = (struct zt_plan_anomaly){ .id = anomaly_meaning(c, a, dst, n_dst), .entry = i,
						.mitigate = (int)a->mitigate, .pos = pos_of(c, &a->pos) };
		for (size_t j = 0; j + 1 < c->plan->n_anomaly; j++)
			if (c->plan->anomaly[j].id == pa->id) {
				pa->id++;
				j = (size_t)-1;
			}
		snprintf(pa->flow, sizeof(pa->flow), "%s%s", a->flow ? "" : ZT_ANOMALY_TO_PREFIX,
			 a->flow ? a->flow : a->to->name);
		name_id(pa->counter, "ac", pa->id);
		snprintf(what, sizeof(what), "threats.anomaly %s %.100s %s", a->flow ? "flow" : "to",
			 a->flow ? a->flow : a->to->name, src_str(&a->pos, ps, sizeof(ps)));
		if ((r = counter_new(c, pa->counter, a->flow ? "anomaly: the flow's new connections (the baseline's series)"
				     : "anomaly: new connections into the zone (the baseline's series)")) < 0)
			return r;
		if (a->mitigate != ZT_MITIGATE_ALERT && (r = sets_add(c, pa)) < 0)
			return r;
		if ((r = chain_entry(c, pa, what)) < 0 ||
		    (r = entry_elems(c, pa, a, a->flow ? map : zmap, dst, n_dst)) < 0)
			return r;
		if (a->bytes && (r = bytes_elems(c, pa, &bmap, &a->pos)) < 0)
			return r;
	}
	return 0;
}
