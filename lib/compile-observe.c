/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Observe mode compiled (doc/RULESET.md "Observe mode"): the sets wobs and
 * wobs_n (which destination zones a would-deny may reach), the dynamic set
 * wd_<meaning> of live would-deny zone pairs with their counters, the
 * chain observe, and the rules from_<zone>, judge and the established
 * rules gain. Nothing of this is in the table when nothing observes.
 */
#include <linux/netfilter/nf_conntrack_common.h>
#include "compile-internal.h"

/* Zone pairs a table tracks at once; a pair beyond it is denied (fail closed). */
#define WD_SIZE 65536

static const struct set_def wobs_def = {
	.name = "wobs", .key = { ZT_TYPE_MARK }, .n_key = 1,
	.comment = "observe: destination zones a would-deny from an observing segment may reach",
};
static const struct set_def wobs_n_def = {
	.name = "wobs_n", .key = { ZT_TYPE_MARK }, .n_key = 1,
	.comment = "observe: destination zones a would-deny from host, a boundary or world may reach",
};
static const struct set_def wd_def = {
	.key = { ZT_TYPE_MARK }, .n_key = 1, .dynamic = true, .eval = true, .size = WD_SIZE,
	.comment = "observe: zone pairs of live would-deny connections, each counted",
};

bool observe_on(const struct cc *c)
{
	return c->wobs >= 0;
}

/* Whether from_<id> can lead to a would-deny: its zone observes, or is no segment's. */
static bool src_observes(const struct cc *c, uint32_t id)
{
	if (!observe_on(c) || c->oclass[id] == OC_ENFORCE)
		return false;
	return id != ID_HOST || c->p->hub.protect_host;
}

static int wobs_elem(struct cc *c, int si, uint32_t id)
{
	struct zt_elem *el = elem_new_at(c, si);

	if (!el)
		return -ENOMEM;
	el->key[0] = v_u32(ZT_TYPE_MARK, id);
	el->pos = pos_of(c, zone_pos(c, id));
	return 0;
}

/*
 * After meanings_build(): each zone's class, the sets, and the plan's
 * view. The would-deny set is named after what every zone id means and
 * observes, so a reload that switches a mode (or renumbers or redraws a
 * zone) starts an empty set: the open would-deny connections are judged
 * again at their next packet, which is what stops them.
 */
int observe_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	bool any = p->hub.mode == ZT_MODE_OBSERVE;
	uint32_t h = fnv_u32(2166136261u, p->hub.mode);
	struct zt_plan_observe *po = &c->plan->observe;
	char name[ZT_OBJ_NAME_MAX];
	int si;

	c->wobs = c->wobs_n = -1;
	if (!(c->oclass = calloc(c->n_zones + 1, sizeof(*c->oclass))))
		return -ENOMEM;
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		const struct zinfo *z = &c->zones[id];

		if (z->seg < 0)
			c->oclass[id] = OC_NONE;
		else
			c->oclass[id] = zt_segment_mode(p, (size_t)z->seg) == ZT_MODE_OBSERVE ? OC_OBSERVE
											   : OC_ENFORCE;
		any |= c->oclass[id] == OC_OBSERVE;
		h = fnv_u32(fnv_u32(h, c->zh[id]), c->oclass[id]);
	}
	if (!any)
		return 0;
	if ((c->wobs = set_add(c, &wobs_def, wobs_def.name)) < 0)
		return c->wobs;
	if (p->hub.mode != ZT_MODE_OBSERVE && (c->wobs_n = set_add(c, &wobs_n_def, wobs_n_def.name)) < 0)
		return c->wobs_n;
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		int r = 0;

		if (id == ID_HOST && !p->hub.protect_host)
			continue;
		if (c->oclass[id] != OC_ENFORCE)
			r = wobs_elem(c, c->wobs, id);
		if (r >= 0 && c->wobs_n >= 0 && c->oclass[id] == OC_OBSERVE)
			r = wobs_elem(c, c->wobs_n, id);
		if (r < 0)
			return r;
	}
	snprintf(name, sizeof(name), "wd_%08x", h);
	if ((si = set_add(c, &wd_def, name)) < 0)
		return si;
	snprintf(po->set, sizeof(po->set), "%s", name);
	if (!(po->zones = calloc(c->n_zones + 1, sizeof(*po->zones))))
		return -ENOMEM;
	po->n_zones = c->n_zones;
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		const struct zinfo *z = &c->zones[id];

		po->zones[id] = (struct zt_zone){ .kind = z->kind, .seg = z->seg, .sub = z->sub, .bnd = z->bnd };
	}
	return counter_new(c, "observed", "observe: established would-deny connections");
}

/*
 * The rest of from_<id> after `jump classify_dst` (ct mark: the
 * destination zone), for a zone a would-deny can come from:
 *   ct mark != @wobs ct mark set ct mark | <id << 16> goto judge   (a destination that enforces)
 *   ct mark set ct mark | <id << 16> goto judge_o                  (flows, rules; else observe)
 * With jit templates a grant's lookup in judge_b may leave a grant mark
 * whose grant is gone in ct mark, so the pair is made again instead:
 *   ct mark set ct mark | <id << 16> jump judge_b
 *   jump classify_dst
 *   ct mark set ct mark | <id << 16> goto observe
 * Returns 1 when it wrote them, 0 when from_<id> is as without observe.
 */
int observe_from(struct cc *c, int ci, uint32_t id, const char *what)
{
	bool out = zone_local(c, id), jit = c->p->n_jit > 0;
	const char *judge = out ? "judge_out" : "judge";
	char next[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int si;

	if (!src_observes(c, id))
		return 0;
	si = c->oclass[id] == OC_OBSERVE || c->wobs_n < 0 ? c->wobs : c->wobs_n;
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, true, ZT_KEY_CT_MARK, c->plan->sets[si].name);
	s_mark(r, ZT_S_CT_MARK_OR, id << 16);
	s_verdict(r, ZT_V_GOTO, judge);
	snprintf(next, sizeof(next), "%s_%s", judge, jit ? "b" : "o");
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_OR, id << 16);
	s_verdict(r, jit ? ZT_V_JUMP : ZT_V_GOTO, next);
	if (!jit)
		return 1;
	if (rule_verdict(c, ci, what, ZT_V_JUMP, "classify_dst") < 0 || !(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_OR, id << 16);
	s_verdict(r, ZT_V_GOTO, "observe");
	return 1;
}

/* ct state established ct mark @wd_<m> counter name "observed" accept */
void observe_established(struct cc *c, int ci)
{
	struct zt_rule *r;

	if (!observe_on(c))
		return;
	if (!(r = rule_new(c, ci, "observe: established would-deny connections"))) {
		c->oom = true;
		return;
	}
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	m_set(r, false, ZT_KEY_CT_MARK, c->plan->observe.set);
	s_counter(r, "observed");
	s_verdict(r, ZT_V_ACCEPT, NULL);
}

/*
 * observe { update @wd_<m> { ct mark counter }
 *           [log] limit … log group G prefix "ztseg would-deny "
 *           ct mark @wd_<m> accept
 *           goto deny }
 * ct mark holds the zone pair, which stays the connection's mark: no flow
 * mark has bit 31 clear, no grant mark bit 15. A full set adds nothing,
 * and the connection is denied.
 */
int observe_chains(struct cc *c)
{
	const char *set = c->plan->observe.set;
	char what[128], ps[64];
	struct zt_stmt *st;
	struct zt_rule *r;
	int ci;

	if (!observe_on(c))
		return 0;
	if ((ci = chain_new(c, "observe", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	snprintf(what, sizeof(what), "observe: would deny (hub.default %s)", c->hubpos);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	st = s_next(r, ZT_S_SET_UPDATE_COUNTER);
	st->key[0] = ZT_KEY_CT_MARK;
	st->n_key = 1;
	snprintf(st->set, sizeof(st->set), "%s", set);
	if (c->p->hub.log != ZT_LOG_NONE) {
		snprintf(what, sizeof(what), "hub.log %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_log(c, r, "ztseg would-deny ");
	}
	snprintf(what, sizeof(what), "observe: passes as would-deny (mode %s)",
		 src_str(zt_mode_pos(c->p, SIZE_MAX), ps, sizeof(ps)));
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_CT_MARK, set);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (rule_verdict(c, ci, "observe: too many zone pairs at once", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	/* judge_o { jump judge_b; goto observe } (and judge_out_o): without jit, from_<zone> goes there. */
	for (int out = 0; !c->p->n_jit && out < 2; out++) {
		if (out && !c->p->hub.protect_host)
			break;
		if ((ci = chain_new(c, out ? "judge_out_o" : "judge_o", ZT_HOOK_NONE, 0)) < 0)
			return ci;
		if (rule_verdict(c, ci, "flows, rules and grants", ZT_V_JUMP, out ? "judge_out_b" : "judge_b") < 0 ||
		    rule_verdict(c, ci, "observe: would deny", ZT_V_GOTO, "observe") < 0)
			return -ENOMEM;
	}
	return 0;
}
