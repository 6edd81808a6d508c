/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The filter chains: forward, input and output; classification, judge and
 * deny; the flow chains; related and the speaker chains for ICMP errors.
 */
#include <linux/netfilter/nf_conntrack_common.h>
#include "compile-internal.h"

/*
 * [ct state established counter name ct mark map @abyt   (only with a series: bytes anomaly entry)]
 * ct state established counter name ct mark map @fcnt accept
 * Related packets are not here: an ICMP error must come from a side that
 * may speak for its connection (chain related), and a connection a
 * conntrack helper expects is judged as the new connection it is.
 */
static int filter_established(struct cc *c, int ci)
{
	struct zt_rule *r;

	/* abyt's miss ends the rule only (like jlive's): the next rule judges the packet. */
	if (c->abyt) {
		if (!(r = rule_new(c, ci, "threats.anomaly series: bytes: established traffic of watched flows")))
			return -ENOMEM;
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
		s_counter_map(r, ZT_KEY_CT_MARK, "abyt");
	}
	if (!(r = rule_new(c, ci, "established connections of live flows")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	s_counter_map(r, ZT_KEY_CT_MARK, "fcnt");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	jit_rules(c, ci, true);
	observe_established(c, ci);
	return c->oom ? -ENOMEM : 0;
}

/* meta l4proto { icmp, ipv6-icmp } (ICMP errors are the only related packets of these) */
int m_icmp_any(struct zt_rule *r)
{
	struct zt_value v[2] = { v_u32(ZT_TYPE_INET_PROTO, IPPROTO_ICMP),
				 v_u32(ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6) };

	return m_anon(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, false, v, 2);
}

/*
 * related: an ICMP error conntrack tied to a connection. It travels in the
 * reply direction when it is about a packet of the original direction, so
 * it must come from the side of the connection's destination (the peer,
 * or a router on the way to it), and the other way round. spk_o/spk_r map
 * the connection's mark to that side's chain; a connection no live flow
 * allows, or one whose side is the host, has none.
 */
static int chain_related(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "related", ZT_HOOK_NONE, 0), cr;

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "ICMP errors: the destination's side speaks")))
		return -ENOMEM;
	m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
	s_verdict(r, ZT_V_GOTO, "related_r");
	if (rule_vmap1(c, ci, "ICMP errors: the source's side speaks", ZT_KEY_CT_MARK, "spk_o") < 0 ||
	    jit_related(c, ci, false) < 0)
		return -ENOMEM;
	if (rule_verdict(c, ci, "ICMP errors from a side that does not speak", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	if ((cr = chain_new(c, "related_r", ZT_HOOK_NONE, 0)) < 0)
		return cr;
	if (rule_vmap1(c, cr, "ICMP errors: the destination's side speaks", ZT_KEY_CT_MARK, "spk_r") < 0 ||
	    jit_related(c, cr, true) < 0)
		return -ENOMEM;
	if (rule_verdict(c, cr, "ICMP errors from a side that does not speak", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

/* spk_any: a side behind no interface of its own (world, unbound boundaries): any but a member's */
static int chain_spk_any(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "spk_any", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (bridge_spk(c, ci, 0) < 0)
		return -ENOMEM;
	if (!(r = rule_new(c, ci, "ICMP errors: a side with no interface of its own")))
		return -ENOMEM;
	m_set(r, true, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (rule_verdict(c, ci, "ICMP errors from a side that does not speak", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

/* ct state untracked counter name "untracked" drop: never accepted by falling through */
static int filter_untracked(struct cc *c, int ci)
{
	struct zt_rule *r;

	if (!(r = rule_new(c, ci, "no conntrack entry")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_UNTRACKED_BIT);
	s_counter(r, "untracked");
	s_verdict(r, ZT_V_DROP, NULL);
	return 0;
}

/*
 * The host's own neighbour discovery and MLD (input and output only: they
 * are link-local, nothing forwarded needs them, and forward drops them as
 * the untracked packets they are):
 *   icmpv6 type { nd-router-solicit, …, nd-redirect } ip6 hoplimit 255 accept
 *   icmpv6 type { mld-listener-query, … } ip6 hoplimit 1 ip6 saddr fe80::/10 accept (and ::)
 * A router advertisement or redirect from a workload died in spoof.
 */
static int filter_nd(struct cc *c, int ci)
{
	static const uint32_t nd[] = { 133, 134, 135, 136, 137 }, mld[] = { 130, 131, 132, 143 };
	struct zt_value v[ELEMENTSOF(nd)];
	struct zt_rule *r;
	int ret;

	if (!(r = rule_new(c, ci, "neighbour discovery")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
	for (size_t i = 0; i < ELEMENTSOF(nd); i++)
		v[i] = v_u32(ZT_TYPE_ICMPV6_TYPE, nd[i]);
	if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v, ELEMENTSOF(nd))) < 0)
		return ret;
	m_eq(r, ZT_KEY_IP6_HOPLIMIT, ZT_TYPE_INTEGER, 255);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	for (unsigned u = 0; u < 2; u++) {
		if (!(r = rule_new(c, ci, "multicast listener discovery")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
		for (size_t i = 0; i < ELEMENTSOF(mld); i++)
			v[i] = v_u32(ZT_TYPE_ICMPV6_TYPE, mld[i]);
		if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v,
				  ELEMENTSOF(mld))) < 0)
			return ret;
		m_eq(r, ZT_KEY_IP6_HOPLIMIT, ZT_TYPE_INTEGER, 1);
		m_unspec_src(r, u);		/* ::, then fe80::/10 */
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}
	return 0;
}

/* The rules forward, input and output share after the established (and scope) ones. */
static int filter_common(struct cc *c, int ci, bool forward, bool output)
{
	struct zt_rule *r;
	int ret;

	/* ct state related meta l4proto { icmp, ipv6-icmp } goto related (the host speaks for all in output) */
	if (!(r = rule_new(c, ci, output ? "ICMP errors the host sends" : "ICMP errors")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
	if ((ret = m_icmp_any(r)) < 0)
		return ret;
	s_verdict(r, output ? ZT_V_ACCEPT : ZT_V_GOTO, output ? NULL : "related");
	if (!forward && (ret = filter_nd(c, ci)) < 0)
		return ret;
	if (forward && (ret = bridge_forward_nd(c, ci)) < 0)
		return ret;
	if ((ret = filter_untracked(c, ci)) < 0)
		return ret;

	/* ct state invalid counter name "invalid" drop */
	if (!(r = rule_new(c, ci, "ct state invalid")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_INVALID_BIT);
	s_counter(r, "invalid");
	s_verdict(r, ZT_V_DROP, NULL);

	/*
	 * ct state related ct direction reply accept: the TCP reset or ICMP
	 * error the kernel sends for our own `reject` is attached to the
	 * connection it refuses (related, reply direction), whose mark is
	 * still scratch; without this the next rule would drop the answer.
	 */
	if (output) {
		if (!(r = rule_new(c, ci, "answers of hub.default reject")))
			return -ENOMEM;
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
		m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}

	/* ct direction reply goto deny: a reply of a connection whose flow is gone */
	if (!(r = rule_new(c, ci, "replies of connections no live flow allows")))
		return -ENOMEM;
	m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

/*
 * <key> @member_ifx goto scoped; [bridge_scope]; <key> @member_ifn
 * <other>; <key> @member_if goto scoped; <other>: the scope test by exact
 * name, then by pattern for a name not there yet (ifx.h). The bridge
 * kinds' `goto scoped` (forward only) come after a member's, which has
 * the same verdict and is the more frequent packet.
 */
static int scope_rules(struct cc *c, int ci, const char *what, enum zt_key key, enum zt_verdict_code other,
		       const char *chain)
{
	static const char *const sets[] = { "member_ifx", "member_ifn", "member_if" };
	struct zt_rule *r;
	int ret;

	for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
		if (i == 1 && key == ZT_KEY_IIFNAME && (ret = bridge_scope(c, ci, what)) < 0)
			return ret;
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_set(r, false, key, sets[i]);
		if (i == 1)
			s_verdict(r, other, chain);
		else
			s_verdict(r, ZT_V_GOTO, "scoped");
	}
	return rule_verdict(c, ci, what, other, chain);
}

static int chain_forward(struct cc *c)
{
	char what[128];
	int ci = chain_new(c, "forward", ZT_HOOK_FORWARD, PRIO_FILTER), ret;

	if (ci < 0)
		return ci;
	/*
	 * ct state established,related … accept first: most packets are
	 * there, and it costs one hash lookup. Then
	 * iifname != @member_if oifname != @member_if accept: out of scope
	 * before any classification; only sound when every segment has
	 * interfaces.
	 */
	if ((ret = filter_established(c, ci)) < 0)
		return ret;
	if (c->p->hub.scope == ZT_SCOPE_MEMBERS && c->all_segs_have_ifs) {
		/*
		 * By exact name: iifname @member_ifx goto scoped; iifname
		 * @member_ifn goto scope_oif; a name not there yet (ifx.h) by
		 * pattern: iifname @member_if goto scoped; goto scope_oif.
		 */
		snprintf(what, sizeof(what), "hub.scope %s", c->hubpos);
		if ((ret = scope_rules(c, ci, what, ZT_KEY_IIFNAME, ZT_V_GOTO, "scope_oif")) < 0)
			return ret;
		/* scope_oif { the same by oifname; accept } */
		if ((ci = chain_new(c, "scope_oif", ZT_HOOK_NONE, 0)) < 0)
			return ci;
		if ((ret = scope_rules(c, ci, what, ZT_KEY_OIFNAME, ZT_V_ACCEPT, NULL)) < 0)
			return ret;
		/* scoped: the rest of forward, for what is in scope */
		if ((ci = chain_new(c, "scoped", ZT_HOOK_NONE, 0)) < 0)
			return ci;
	}
	if ((ret = filter_common(c, ci, true, false)) < 0)
		return ret;
	if (rule_verdict(c, ci, "classification", ZT_V_JUMP, "classify_src") < 0)
		return -ENOMEM;
	/* goto deny: in-scope traffic never ends in the base chain's policy */
	if (rule_verdict(c, ci, "in scope: never the policy's accept", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

static int chain_host(struct cc *c, bool output)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci, ret;

	ci = chain_new(c, output ? "output" : "input", output ? ZT_HOOK_OUTPUT : ZT_HOOK_INPUT,
		       PRIO_FILTER);
	if (ci < 0)
		return ci;
	/* iif "lo" accept / oif "lo" accept; with unit zones, loopback is judged (compile-units.c) */
	if (c->set[S_UMK] >= 0) {
		if ((ret = output ? units_output(c, ci, true) : units_input(c, ci, true)) < 0)
			return ret;
	} else {
		if (!(r = rule_new(c, ci, "loopback")))
			return -ENOMEM;
		m_eq(r, output ? ZT_KEY_OIF : ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}
	if ((ret = filter_established(c, ci)) < 0 || (ret = filter_common(c, ci, false, output)) < 0)
		return ret;
	if (c->set[S_UMK] >= 0 &&
	    (ret = output ? units_output(c, ci, false) : units_input(c, ci, false)) < 0)
		return ret;
	snprintf(what, sizeof(what), "hub.protect-host %s", c->hubpos);
	if (output) {
		name_zone_chain(name, "from", ID_HOST);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_JUMP, name);
	} else {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_JUMP, "classify_src");
	}
	if (rule_verdict(c, ci, "in scope: never the policy's accept", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

static int chain_classify_src(struct cc *c)
{
	char world[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci = chain_new(c, "classify_src", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	name_zone_chain(world, "from", ID_WORLD);
	/*
	 * By exact name: ct mark set <world>; ct mark set iifname map
	 * @dst_ifx; ct mark vmap @src_rest (goto from_<rest>, or src_suba for
	 * a segment with subnets); iifname @member_ifn goto src_addr. The
	 * world id first: no rest has it, so a name dst_ifx does not hold
	 * misses src_rest whatever the connection's mark held before. A name
	 * not there yet (ifx.h) by pattern: iifname vmap @src_if; goto src_addr.
	 */
	if (bridge_classify_src(c, ci) < 0 || !(r = rule_new(c, ci, "source zone: member interface")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_WORLD);
	if (!(r = rule_new(c, ci, "source zone: member interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IIFNAME, "dst_ifx");
	if (rule_vmap1(c, ci, "source zone: member interface", ZT_KEY_CT_MARK, "src_rest") < 0 ||
	    !(r = rule_new(c, ci, "source zone: by address")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_IIFNAME, "member_ifn");
	s_verdict(r, ZT_V_GOTO, "src_addr");
	if (rule_vmap1(c, ci, "source zone: member interface", ZT_KEY_IIFNAME, "src_if") < 0)
		return -ENOMEM;
	if (rule_verdict(c, ci, "source zone: by address", ZT_V_GOTO, "src_addr") < 0)
		return -ENOMEM;
	if ((ci = chain_new(c, "src_addr", ZT_HOOK_NONE, 0)) < 0)
		return ci;

	for (unsigned i = 0; i < N_UNSPEC; i++) {
		if (!(r = rule_new(c, ci, "source zone: link-local, by interface only")))
			return -ENOMEM;
		m_unspec_src(r, i);
		s_verdict(r, ZT_V_GOTO, "src_ifonly");
	}

	/*
	 * ct mark set <world>; ct mark set ip saddr map @dst4; … ip6 … @dst6;
	 * ct mark vmap @zone_src: the static owner of a source is the same
	 * longest prefix as of a destination, so one map serves both and its
	 * zone picks the chain (the mark is scratch until the flow is judged).
	 */
	if (!(r = rule_new(c, ci, "source zone: world")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_WORLD);
	if (!(r = rule_new(c, ci, "source zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP_SADDR, "dst4");
	if (!(r = rule_new(c, ci, "source zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP6_SADDR, "dst6");
	if (rule_vmap1(c, ci, "source zone: static address", ZT_KEY_CT_MARK, "zone_src") < 0)
		return -ENOMEM;
	if (rule_verdict(c, ci, "source zone: world", ZT_V_GOTO, world) < 0)
		return -ENOMEM;

	/* src_ifonly { iifname vmap @src_bif; goto from_<world> } */
	if ((ci = chain_new(c, "src_ifonly", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (rule_vmap1(c, ci, "source zone: bound boundary interface", ZT_KEY_IIFNAME, "src_bif") < 0)
		return -ENOMEM;
	if (rule_verdict(c, ci, "source zone: world", ZT_V_GOTO, world) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * src_sub { ct mark set iifname map @dst_if; ct mark . ip saddr vmap @sub_src4;
 *           ct mark . ip6 saddr vmap @sub_src6; ct mark vmap @sub_rest; goto deny }
 * Reached from src_if for the interfaces of segments with subnets; the mark
 * (scratch until the flow is judged) becomes the segment's rest, the key of
 * the subnet maps. One chain for all segments: every rule naming a map
 * makes the kernel walk the map's elements once per chain it is used from.
 */
static int chain_src_sub(struct cc *c)
{
	static const enum zt_key k4[] = { ZT_KEY_CT_MARK, ZT_KEY_IP_SADDR },
				 k6[] = { ZT_KEY_CT_MARK, ZT_KEY_IP6_SADDR };
	struct zt_rule *r;
	int ci = chain_new(c, "src_sub", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "source zone: segment of the interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IIFNAME, "dst_if");
	if (rule_verdict(c, ci, "source zone: subnet", ZT_V_GOTO, "src_suba") < 0)
		return -ENOMEM;
	/* src_suba: the subnet maps, used from this one chain */
	if ((ci = chain_new(c, "src_suba", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k4, ELEMENTSOF(k4), sub_defs[SUB_SRC4].name);
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k6, ELEMENTSOF(k6), sub_defs[SUB_SRC6].name);
	if (rule_vmap1(c, ci, "source zone: segment rest", ZT_KEY_CT_MARK, sub_defs[SUB_REST].name) < 0)
		return -ENOMEM;
	/* not reached: sub_rest holds every segment dst_if names; never fall back to accept */
	if (rule_verdict(c, ci, "source zone: segment rest", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

/*
 * dsub { ct mark set ct mark . ip daddr map @sub_dst4; … ip6 … }: reached
 * from classify_dst for the interfaces of segments with subnets, right
 * after dst_if set the mark to the segment's rest.
 */
static int chain_dsub(struct cc *c)
{
	static const enum zt_key k4[] = { ZT_KEY_CT_MARK, ZT_KEY_IP_DADDR },
				 k6[] = { ZT_KEY_CT_MARK, ZT_KEY_IP6_DADDR };
	struct zt_rule *r;
	int ci = chain_new(c, "dsub", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "destination zone: subnet")))
		return -ENOMEM;
	s_mark_map(r, k4, ELEMENTSOF(k4), sub_defs[SUB_DST4].name);
	if (!(r = rule_new(c, ci, "destination zone: subnet")))
		return -ENOMEM;
	s_mark_map(r, k6, ELEMENTSOF(k6), sub_defs[SUB_DST6].name);
	return 0;
}

/*
 * src_<boundary> { iifname { <its patterns> } goto from_<it>; goto from_<world> }:
 * a bound boundary's /0 binds no source (doc/SEMANTICS.md), so an address
 * it is the longest owner of belongs to it only through its interfaces.
 */
static int chain_src_dflt(struct cc *c, uint32_t id)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	const struct zt_ifpat *pats;
	struct zt_rule *r;
	size_t n;
	int ci, ret;

	name_zone_chain(name, "src", id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	pats = zone_pats(c, id, &n);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if ((ret = m_pats(r, ZT_KEY_IIFNAME, pats, n)) < 0)
		return ret;
	name_zone_chain(name, "from", id);
	s_verdict(r, ZT_V_GOTO, name);
	name_zone_chain(name, "from", ID_WORLD);
	if (rule_verdict(c, ci, "source zone: world", ZT_V_GOTO, name) < 0)
		return -ENOMEM;
	return 0;
}

/* from_<zone> { jump classify_dst; ct mark set ct mark | <zone << 16> goto judge } */
static int chain_from(struct cc *c, uint32_t id)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci, ret;

	name_zone_chain(name, "from", id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	if (rule_verdict(c, ci, what, ZT_V_JUMP, "classify_dst") < 0)
		return -ENOMEM;
	/* A zone a would-deny may come from: observe mode's way (compile-observe.c). */
	if ((ret = observe_from(c, ci, id, what)) != 0)
		return ret < 0 ? ret : 0;
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_OR, id << 16);
	s_verdict(r, ZT_V_GOTO, zone_local(c, id) ? "judge_out" : "judge");
	return 0;
}

/* ct mark set <world>; ct mark set ip daddr map @dst4; … ip6 … @dst6: the destination's static owner */
static int dst_addr_rules(struct cc *c, int ci)
{
	struct zt_rule *r;

	if (!(r = rule_new(c, ci, "destination zone: world")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_WORLD);
	if (!(r = rule_new(c, ci, "destination zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP_DADDR, "dst4");
	if (!(r = rule_new(c, ci, "destination zone: static address")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_IP6_DADDR, "dst6");
	return 0;
}

/* A segment with interfaces has subnets: sub_if has elements (a bridge: segment's have none). */
static bool subnets_by_ifs(const struct cc *c)
{
	for (size_t i = 0; i < c->p->n_segs; i++)
		if (c->p->segs[i].n_ifs && c->p->segs[i].n_subnets)
			return true;
	return false;
}

static int chain_classify_dst(struct cc *c)
{
	struct zt_rule *r;
	int ret, ci = chain_new(c, "classify_dst", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (c->set[S_UMK] >= 0 && units_classify_dst(c, ci) < 0)
		return -ENOMEM;
	/* oif 0 ct mark set <host> return: the input hook, delivered to this host */
	if (c->p->hub.protect_host) {
		if (!(r = rule_new(c, ci, "destination zone: host")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_OIF, ZT_TYPE_IFINDEX, 0);
		s_mark(r, ZT_S_CT_MARK_SET, ID_HOST);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	/* A bridge port's segment (the bits table bridge ztseg set): decides, then returns. */
	if (bridge_classify_dst(c, ci) < 0)
		return -ENOMEM;
	/*
	 * By exact name first: ct mark set oifname map @dst_ifx (a member's
	 * rest id); oifname @sub_ifx goto dsub (a segment with subnets);
	 * oifname @member_ifx return; oifname @member_ifn goto dst_addr: a
	 * packet leaving by a member pays no address search. A name not there
	 * yet (ifx.h) by address and pattern, as before: dst_addr's three
	 * rules, then dst_if, sub_if and member_if, then goto dst_bnd.
	 */
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_OIFNAME, "dst_ifx");
	if (c->sub[0] >= 0 && subnets_by_ifs(c) && c->set[S_SUB_IFX] >= 0) {
		if (!(r = rule_new(c, ci, "destination zone: subnet")))
			return -ENOMEM;
		m_set(r, false, ZT_KEY_OIFNAME, "sub_ifx");
		s_verdict(r, ZT_V_GOTO, "dsub");
	}
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_OIFNAME, "member_ifx");
	s_verdict(r, ZT_V_RETURN, NULL);
	if (!(r = rule_new(c, ci, "destination zone: by address")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_OIFNAME, "member_ifn");
	s_verdict(r, ZT_V_GOTO, "dst_addr");
	if ((ret = dst_addr_rules(c, ci)) < 0)
		return ret;
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_OIFNAME, "dst_if");
	/* oifname @sub_if goto dsub: the subnets of the segment it leaves to (by its interfaces) */
	if (c->sub[0] >= 0 && subnets_by_ifs(c)) {
		if (!(r = rule_new(c, ci, "destination zone: subnet")))
			return -ENOMEM;
		m_set(r, false, ZT_KEY_OIFNAME, "sub_if");
		s_verdict(r, ZT_V_GOTO, "dsub");
	}
	if (!(r = rule_new(c, ci, "destination zone: member interface")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_OIFNAME, "member_if");
	s_verdict(r, ZT_V_RETURN, NULL);
	if (rule_verdict(c, ci, "destination zone: bound boundary", ZT_V_GOTO, "dst_bnd") < 0)
		return -ENOMEM;
	/* dst_addr { ct mark set <world>; … @dst4; … @dst6; goto dst_bnd }: a known name of no member */
	if ((ci = chain_new(c, "dst_addr", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if ((ret = dst_addr_rules(c, ci)) < 0)
		return ret;
	if (rule_verdict(c, ci, "destination zone: bound boundary", ZT_V_GOTO, "dst_bnd") < 0)
		return -ENOMEM;
	/* dst_bnd { ip daddr vmap @dstb4; ip6 daddr vmap @dstb6 } */
	if ((ci = chain_new(c, "dst_bnd", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (rule_vmap1(c, ci, "destination zone: bound boundary", ZT_KEY_IP_DADDR, "dstb4") < 0)
		return -ENOMEM;
	if (rule_vmap1(c, ci, "destination zone: bound boundary", ZT_KEY_IP6_DADDR, "dstb6") < 0)
		return -ENOMEM;
	return 0;
}

/* dzb_<n>: a bound boundary's addresses, owners longest first. */
static int chain_dzb(struct cc *c, size_t n)
{
	const uint32_t *seq = c->dzb.pool + c->dzb.v[n].off;
	size_t len = c->dzb.v[n].len;
	char name[ZT_OBJ_NAME_MAX], what[128];
	int ci, ret;

	name_num(name, "dzb", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	for (size_t i = 0; i < len; i++) {
		struct zt_rule *r;

		zone_desc(c, seq[i], what, sizeof(what));
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		if (i + 1 < len) {
			const struct zt_ifpat *pats;
			size_t np;

			pats = zone_pats(c, seq[i], &np);
			if ((ret = m_pats(r, ZT_KEY_OIFNAME, pats, np)) < 0)
				return ret;
		}
		/* The first owner's id is what dst4 already set. */
		if (i)
			s_mark(r, ZT_S_CT_MARK_SET, seq[i]);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	return 0;
}

/* One level of judge: the mark map, then its verdict map twin; an empty map gets no rule. */
static int judge_level(struct cc *c, int ci, enum set_id set, const enum zt_key *keys, size_t n,
		       uint8_t l4proto, const char *what)
{
	const struct zt_plan *pl = c->plan;
	struct zt_rule *r;

	for (int v = 0; v < 2; v++) {
		int si = c->set[set + (v ? S_V_DELTA : 0)];

		if (si < 0 || !pl->sets[si].n_elems)
			continue;
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		if (l4proto)
			m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, l4proto);
		if (v)
			s_vmap(r, keys, n, pl->sets[si].name);
		else
			s_mark_map(r, keys, n, pl->sets[si].name);
	}
	return 0;
}

/*
 * judge { [ct mark vmap @oos]
 *         ct mark set ct mark . meta l4proto . th dport map @fp      (a flow id)
 *         ct mark . meta l4proto . th dport vmap @fpv                (checked flows)
 *         … fr/frv, fi4/fi4v, fi6/fi6v, fproto/fprotov, fany/fanyv …
 *         counter name ct mark map @fcnt accept
 *         goto deny }
 * Once a mark map has set a flow id (bit 31) no later key (a zone pair)
 * can match: the first lookup that hits decides, as in doc/SEMANTICS.md.
 * A verdict map's chains accept, or return to the next lookup when every
 * encrypted candidate's legs fail. judge_out (the host's own output) looks
 * up the _out maps the same way.
 */
static int chain_judge(struct cc *c, bool out)
{
	static const enum zt_key kp[] = { ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT };
	static const enum zt_key ki4[] = { ZT_KEY_CT_MARK, ZT_KEY_ICMP_TYPE };
	static const enum zt_key ki6[] = { ZT_KEY_CT_MARK, ZT_KEY_ICMPV6_TYPE };
	static const enum zt_key km[] = { ZT_KEY_CT_MARK };
	int d = out ? S_OUT_DELTA : 0;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, out ? "judge_out" : "judge", ZT_HOOK_NONE, 0), ret;

	if (ci < 0)
		return ci;
	/*
	 * With observe mode, judge is `jump judge_b; goto deny`, and
	 * from_<zone> of a zone a would-deny may come from jumps to judge_b
	 * itself and goes on to observe when it returns.
	 */
	if (observe_on(c)) {
		snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
		if (rule_verdict(c, ci, "flows, rules and grants", ZT_V_JUMP, out ? "judge_out_b" : "judge_b") < 0 ||
		    rule_verdict(c, ci, what, ZT_V_GOTO, "deny") < 0)
			return -ENOMEM;
		if ((ci = chain_new(c, out ? "judge_out_b" : "judge_b", ZT_HOOK_NONE, 0)) < 0)
			return ci;
	}
	if (!out && c->set[S_OOS] >= 0) {
		snprintf(what, sizeof(what), "hub.scope %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_vmap1(r, ZT_KEY_CT_MARK, "oos");
	}
	if (!out && (ret = flood_rules(c, ci)) < 0)
		return ret;
	if ((ret = judge_level(c, ci, S_FP + d, kp, 3, 0, "flows: ports")) < 0 ||
	    (ret = judge_level(c, ci, S_FR + d, kp, 3, 0, "flows: wide port ranges")) < 0 ||
	    (ret = judge_level(c, ci, S_FI4 + d, ki4, 2, IPPROTO_ICMP, "flows: icmp types")) < 0 ||
	    (ret = judge_level(c, ci, S_FI6 + d, ki6, 2, IPPROTO_ICMPV6, "flows: icmpv6 types")) < 0 ||
	    (ret = judge_level(c, ci, S_FPROTO + d, kp, 2, 0, "flows: protocols")) < 0 ||
	    (ret = judge_level(c, ci, S_FANY + d, km, 1, 0, "flows: any")) < 0)
		return ret;
	/* ct mark vmap @floodf: a flow limit's chain; then counter name ct mark map @fcnt accept */
	if (!out && (ret = flood_flow_rule(c, ci)) < 0)
		return ret;
	if (!(r = rule_new(c, ci, "flows: the flow found counts and accepts")))
		return -ENOMEM;
	s_counter_map(r, ZT_KEY_CT_MARK, "fcnt");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (!out)
		jit_rules(c, ci, false);
	if (c->oom)
		return -ENOMEM;
	if (observe_on(c))
		return 0;	/* judge_b returns: its callers decide */
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	if (rule_verdict(c, ci, what, ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

/*
 * deny's and deny_err's head: counter name "drops"; [log]. Counted first:
 * deny's reject only takes tcp, and a log over its rate stops its rule.
 * units: the unit zones' rules around the log (deny); otherwise, with
 * unit zones, only the bits ztseg owns cleared before it, so that no
 * bridge-port bit reads as a unit zone's index.
 */
static int deny_head(struct cc *c, int ci, const char *what, bool units)
{
	const struct zt_hub *h = &c->p->hub;
	char lwhat[128];
	struct zt_rule *r;

	snprintf(lwhat, sizeof(lwhat), "hub.log %s", c->hubpos);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_counter(r, "drops");
	if (h->log == ZT_LOG_NONE)
		return 0;
	/*
	 * Unit zones: the zone pair's unit zones (ct mark) into the dropped
	 * packet's mark, only in the bits ztseg owns, which NFLOG carries,
	 * so ztsegd names the unit zones (this kernel's NFLOG cannot send
	 * the connection); those bits cleared after.
	 */
	if (c->set[S_ULOGF] >= 0) {
		if (units && units_deny_log(c, ci, lwhat) < 0)
			return -ENOMEM;
		if (!units) {
			if (!(r = rule_new(c, ci, lwhat)))
				return -ENOMEM;
			s_next(r, ZT_S_META_MARK_BITS)->mmask = ~zt_hub_mark_mask(h);
		}
	}
	if (!(r = rule_new(c, ci, lwhat)))
		return -ENOMEM;
	s_log(c, r, "ztseg deny ");
	if (c->set[S_ULOGF] >= 0) {
		if (!(r = rule_new(c, ci, lwhat)))
			return -ENOMEM;
		s_next(r, ZT_S_META_MARK_BITS)->mmask = ~zt_hub_mark_mask(h);
	}
	return 0;
}

/*
 * deny_err { counter name "drops"; [log]; drop }: deny for an ICMP error
 * from a side that does not speak (own_fail). own_fail is reachable from
 * prerouting too, where not every kernel lets deny's reject be used, and
 * an ICMP error is never answered (no reject), carries its connection's
 * mark (no unit zones to name) and must not touch its connection (no
 * mark reset): what is left of deny is its count, its log and a drop.
 */
int chain_deny_err(struct cc *c)
{
	char what[128];
	int ci = chain_new(c, "deny_err", ZT_HOOK_NONE, 0), ret;

	if (ci < 0)
		return ci;
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	if ((ret = deny_head(c, ci, what, false)) < 0)
		return ret;
	if (rule_verdict(c, ci, "ICMP errors from a side that does not speak", ZT_V_DROP, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static int chain_deny(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "deny", ZT_HOOK_NONE, 0), ret;

	if (ci < 0)
		return ci;
	snprintf(what, sizeof(what), "hub.default %s", c->hubpos);
	if ((ret = deny_head(c, ci, what, true)) < 0)
		return ret;
	/*
	 * An established connection denied here (revoked, or judged during a
	 * reload with new rules and old intervals) leaves with its mark
	 * cleared: judge wrote a flow mark before @fcnt decided, and a mark
	 * that a later transaction makes live would let its next packet in
	 * unjudged (doc/RULESET.md, "Revocation"). Related packets (ICMP
	 * errors) are not matched: they must not touch their connection.
	 */
	if (!(r = rule_new(c, ci, "a denied connection is judged again at its next packet")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED));
	s_mark(r, ZT_S_CT_MARK_SET, 0);
	if (h->dflt == ZT_DEFAULT_REJECT) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_TCP);
		s_next(r, ZT_S_REJECT_TCP_RST);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_next(r, ZT_S_REJECT_ICMPX);
	} else {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_verdict(r, ZT_V_DROP, NULL);
	}
	return 0;
}

static int chain_oos(struct cc *c)
{
	const struct cflow *cf = &c->flows[c->oos];
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci = chain_new(c, "out_of_scope", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	name_counter(name, cf->id);
	if (!(r = rule_new(c, ci, cf->desc)))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, c->oos_id);
	s_counter(r, name);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* f_<id>[_s|_d|_sd]: the flow allows; a variant first checks the legs that leave. */
static int chain_flow(struct cc *c, const struct cflow *cf, unsigned v)
{
	char name[ZT_OBJ_NAME_MAX], counter[ZT_OBJ_NAME_MAX], prefix[128];
	struct zt_rule *r;
	int ci, ret = 0;

	name_flow_chain(name, cf->id, v);
	name_counter(counter, cf->id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	/* iifname != @enc_if meta ipsec missing return */
	if (v & 1) {
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		m_set(r, true, ZT_KEY_IIFNAME, "enc_if");
		m_flag(r, ZT_M_MISSING, ZT_KEY_META_IPSEC);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	/* oifname != @enc_if rt ipsec missing return */
	if (v & 2) {
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		m_set(r, true, ZT_KEY_OIFNAME, "enc_if");
		m_flag(r, ZT_M_MISSING, ZT_KEY_RT_IPSEC);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	if (c->p->hub.log == ZT_LOG_ALL) {
		snprintf(prefix, sizeof(prefix), "ztseg allow %s ", cf->logname);
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		s_log(c, r, prefix);
	}
	/*
	 * counter name "c_<id>" ct mark set ct mark ^ <xk> ct mark set ct mark map @inst accept
	 * ct mark holds the zone pair here; the inst map turns pair ^ xk into
	 * the connection's mark. Should the lookup miss, the rule stops before
	 * its accept and judge goes on to deny: the scratch mark has bit 31
	 * set, which no zone-pair key has.
	 */
	if (!(r = rule_new(c, ci, cf->desc)))
		return -ENOMEM;
	if (!cf->flood)
		s_counter(r, counter);
	s_mark(r, ZT_S_CT_MARK_XOR, cf->xk);
	s_mark_map1(r, ZT_KEY_CT_MARK, "inst");
	if (!cf->flood) {
		s_verdict(r, ZT_V_ACCEPT, NULL);
		return 0;
	}
	/*
	 * A flow with a flood limit: ct mark vmap @floodf, then
	 * counter name ct mark map @fcnt accept (fcnt gives c_<id> for its marks;
	 * a mark the inst map did not give is in neither map: no accept).
	 */
	if ((ret = flood_flow_rule(c, ci)) < 0 || !(r = rule_new(c, ci, cf->desc)))
		return ret < 0 ? ret : -ENOMEM;
	s_counter_map(r, ZT_KEY_CT_MARK, "fcnt");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* k_<n> { jump f_a; …; goto f_z }: several flows claim one key, in policy order. */
static int chain_k(struct cc *c, size_t n)
{
	const uint32_t *seq = c->kseq.pool + c->kseq.v[n].off;
	size_t len = c->kseq.v[n].len;
	unsigned v = seq[0];
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci;

	name_num(name, "k", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	for (size_t i = 1; i < len; i++) {
		const struct cflow *cf = &c->flows[seq[i]];

		name_flow_chain(name, cf->id, cf->encrypted ? v : 0);
		if (!(r = rule_new(c, ci, cf->desc)))
			return -ENOMEM;
		s_verdict(r, i + 1 < len ? ZT_V_JUMP : ZT_V_GOTO, name);
	}
	return 0;
}

int chains_build(struct cc *c)
{
	const struct zt_policy *p = c->p;
	bool own = false;
	int r;

	if ((r = chain_spoof(c)) < 0 || (r = chain_spoofed(c)) < 0 ||
	    (r = chain_forward(c)) < 0 || (r = chain_related(c)) < 0 ||
	    (r = chain_classify_src(c)) < 0 ||
	    (r = chain_classify_dst(c)) < 0 || (r = chain_judge(c, false)) < 0 ||
	    (r = chain_deny(c)) < 0)
		return r;
	if (p->hub.protect_host && ((r = chain_host(c, false)) < 0 || (r = chain_host(c, true)) < 0 ||
				    (r = chain_judge(c, true)) < 0))
		return r;
	if (c->oos != SIZE_MAX && (r = chain_oos(c)) < 0)
		return r;
	if ((r = observe_chains(c)) < 0)
		return r;
	if (c->set[S_UMK] >= 0 && (r = units_chains(c)) < 0)
		return r;
	if (c->set[S_MEMBER_RT] >= 0 && (r = chain_rpf_fail(c)) < 0)
		return r;
	if (c->spk_any && (r = chain_spk_any(c)) < 0)
		return r;
	if (c->sub[0] >= 0 && ((r = chain_src_sub(c)) < 0 || (r = chain_dsub(c)) < 0))
		return r;
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		const struct zinfo *z = &c->zones[id];

		if (id == ID_HOST && !p->hub.protect_host)
			continue;
		if ((r = chain_from(c, id)) < 0)
			return r;
		/* own_<id>: an address bound to the zone, or an ICMP error from its side (spk_target) */
		if ((z->kind == ZT_ZONE_SEGMENT && zt_seg_bound(&p->segs[z->seg])) || z->bound || c->spk[id]) {
			if ((r = chain_own(c, id)) < 0)
				return r;
			own = true;
		}
		if (z->dflt && (r = chain_src_dflt(c, id)) < 0)
			return r;
	}
	if (own && ((r = chain_own_fail(c)) < 0 || (r = chain_deny_err(c)) < 0))
		return r;
	for (size_t i = 0; i < c->dzb.n; i++)
		if ((r = chain_dzb(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->ownb.n; i++)
		if ((r = chain_ownb(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->kseq.n; i++)
		if ((r = chain_k(c, i)) < 0)
			return r;
	for (size_t i = 0; i < c->n_flows; i++) {
		struct cflow *cf = &c->flows[i];

		if (i == c->oos)
			continue;
		for (unsigned v = 0; v < VARIANTS; v++)
			if ((cf->used & (1u << v)) && (r = chain_flow(c, cf, v)) < 0)
				return r;
	}
	return 0;
}
