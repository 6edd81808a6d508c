/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The anti-spoofing chains: spoof (prerouting), route_own, spoof_addr,
 * spoofed, own_<zone> (which related's ICMP errors share), own_fail,
 * ownb_<n> and rpf_fail.
 */
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include "compile-internal.h"

int chain_spoofed(struct cc *c)
{
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "spoofed", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (c->p->hub.log != ZT_LOG_NONE) {
		snprintf(what, sizeof(what), "hub.log %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_log(c, r, "ztseg spoof ");
	}
	if (!(r = rule_new(c, ci, "anti-spoofing")))
		return -ENOMEM;
	s_counter(r, "spoofs");
	s_verdict(r, ZT_V_DROP, NULL);
	return 0;
}

/*
 * own_<zone> { iifname { <the zone's patterns> } accept; [meta mark & SRC
 * == <the zone's segment> accept]; goto own_fail }
 * One chain per zone for two questions with one answer, "did this packet
 * come in through the zone's interfaces?". spoof asks it of an address
 * bound to the zone (route_owner, own4/own6: else spoofed), related of
 * the side an ICMP error must come from (spk_o, spk_r and the grants'
 * jspk_o/jspk_r: else deny). own_fail tells the two apart.
 */
int chain_own(struct cc *c, uint32_t id)
{
	char name[ZT_OBJ_NAME_MAX], what[128];
	const struct zt_ifpat *pats;
	struct zt_rule *r;
	size_t n;
	int ci, ret;

	pats = zone_pats(c, id, &n);
	name_zone_chain(name, "own", id);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, id, what, sizeof(what));
	/* a bridge: segment has no patterns: the bits of its ports alone (bridge_spk) */
	if (n && !(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if (n && (ret = m_pats(r, ZT_KEY_IIFNAME, pats, n)) < 0)
		return ret;
	if (n)
		s_verdict(r, ZT_V_ACCEPT, NULL);
	if ((ret = bridge_spk(c, ci, id)) < 0)
		return ret;
	if (rule_verdict(c, ci, "not the zone's interface", ZT_V_GOTO, "own_fail") < 0)
		return -ENOMEM;
	return 0;
}

/*
 * own_fail { ct state related goto deny_err; goto spoofed }
 * In prerouting at priority raw no packet has a conntrack entry yet (the
 * state reads invalid; another tool's template, `ct zone set`, new), so
 * only an ICMP error judged by related is `related` here: it goes to
 * deny_err (deny's count, log and drop: compile-chains.c), the spoof
 * chain's packet to spoofed. Neither holds a statement a prerouting
 * chain may not (deny's reject).
 */
int chain_own_fail(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "own_fail", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	if (!(r = rule_new(c, ci, "ICMP errors from a side that does not speak")))
		return -ENOMEM;
	m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
	s_verdict(r, ZT_V_GOTO, "deny_err");
	if (rule_verdict(c, ci, "anti-spoofing", ZT_V_GOTO, "spoofed") < 0)
		return -ENOMEM;
	return 0;
}

void m_unspec_src(struct zt_rule *r, unsigned i)
{
	static const uint8_t ll6[16] = { 0xfe, 0x80 }, ll4[4] = { 169, 254 };
	bool v6 = i < 2;
	uint8_t family = v6 ? AF_INET6 : AF_INET;
	struct zt_match *m = m_next(r, ZT_M_EQ, v6 ? ZT_KEY_IP6_SADDR : ZT_KEY_IP_SADDR);

	m->value = (struct zt_value){ .type = v6 ? ZT_TYPE_IPV6 : ZT_TYPE_IPV4,
				      .cidr = { .family = family, .plen = v6 ? 128 : 32 } };
	if (i % 2) {
		m->value.cidr.plen = v6 ? 10 : 16;
		memcpy(m->value.cidr.addr, v6 ? ll6 : ll4, v6 ? sizeof(ll6) : sizeof(ll4));
	}
}

/* ip6 saddr :: accept; ip6 saddr fe80::/10 accept; ip saddr 0.0.0.0 accept; ip saddr 169.254.0.0/16 accept */
static int rules_unspec_src(struct cc *c, int ci)
{
	struct zt_rule *r;

	for (unsigned i = 0; i < N_UNSPEC; i++) {
		if (!(r = rule_new(c, ci, "link-local and unspecified sources")))
			return -ENOMEM;
		m_unspec_src(r, i);
		s_verdict(r, ZT_V_ACCEPT, NULL);
	}
	return 0;
}

static int chain_spoof_addr(struct cc *c);
static int chain_route_own(struct cc *c);

int chain_spoof(struct cc *c)
{
	struct zt_value v[2];
	struct zt_rule *r;
	int ci = chain_new(c, "spoof", ZT_HOOK_PREROUTING, PRIO_RAW), ret;

	if (ci < 0)
		return ci;
	/*
	 * meta mark & SRC != 0 accept (bound at the bridge port), then iif "lo"
	 * accept: two accepts with nothing else, so their order changes no
	 * verdict; a bridged packet, the far more frequent, meets one test.
	 */
	if ((ret = bridge_spoof(c, ci)) < 0)
		return ret;
	if (!(r = rule_new(c, ci, "loopback")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
	s_verdict(r, ZT_V_ACCEPT, NULL);

	/*
	 * meta l4proto ipv6-icmp icmpv6 type { nd-router-advert, nd-redirect } iifname @member_if goto spoofed
	 * The cheap protocol compare first: every packet passes here, and
	 * the interface lookup is a search in an interval set.
	 */
	if (!(r = rule_new(c, ci, "anti-spoofing: router messages from workloads")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
	v[0] = v_u32(ZT_TYPE_ICMPV6_TYPE, 134);
	v[1] = v_u32(ZT_TYPE_ICMPV6_TYPE, 137);
	if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v, 2)) < 0)
		return ret;
	m_set(r, false, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");

	/* meta l4proto icmp icmp type redirect iifname @member_if goto spoofed */
	if (!(r = rule_new(c, ci, "anti-spoofing: router messages from workloads")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMP);
	m_eq(r, ZT_KEY_ICMP_TYPE, ZT_TYPE_ICMP_TYPE, 5);
	m_set(r, false, ZT_KEY_IIFNAME, "member_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");

	/*
	 * jump route_own; <the link-local and unspecified sources>; goto spoof_addr
	 * Those accepts need only come before a path that can drop: they
	 * follow route_own's twin here, for a name route_ownx returns, and
	 * in route_own for a name it does not hold. A member's packet, the
	 * common one, is accepted by the twin without meeting them.
	 */
	if (rule_verdict(c, ci, "anti-spoofing: routed addresses", ZT_V_JUMP, "route_own") < 0)
		return -ENOMEM;
	if ((ret = rules_unspec_src(c, ci)) < 0)
		return ret;
	if (rule_verdict(c, ci, "anti-spoofing: static addresses", ZT_V_GOTO, "spoof_addr") < 0)
		return -ENOMEM;
	if ((ret = chain_route_own(c)) < 0)
		return ret;
	return chain_spoof_addr(c);
}

/*
 * route_own { fib saddr . iif oifname vmap @route_ownx;
 *             <the link-local and unspecified sources: accept>;
 *             fib saddr . iif oif missing jump rpf_fail;
 *             fib saddr oifname vmap @route_owner }
 * The route back leaves by the interface the packet came in on (the one
 * case a workload's own traffic meets): by its exact name (a hash lookup),
 * accept a member's, return (to spoof_addr) for an interface no member
 * pattern covers. Otherwise, or for a name not there yet (ifx.h), the
 * interface the route back leaves by, by pattern: goto own_<segment>, or
 * no element and return. route_ownx holds no goto: a new link's element
 * must not make the kernel validate the whole table (ifx.h).
 *
 * The reverse-path test comes after the twin, not before: every twin
 * element is an interface's name, and `fib saddr . iif oifname` yields one
 * only when the route back leaves by iif (for strict rpf the same lookup,
 * for loose a weaker one), so a twin hit has passed rpf already. The
 * common packet pays for one FIB lookup, not two; one that misses the twin
 * meets the test exactly as before, ahead of route_owner.
 */
static int chain_route_own(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "route_own", ZT_HOOK_NONE, 0), ret;

	if (ci < 0)
		return ci;
	if (rule_vmap1(c, ci, "anti-spoofing: routed addresses", ZT_KEY_FIB_SADDR_IIF_OIFNAME, "route_ownx") < 0)
		return -ENOMEM;
	if ((ret = rules_unspec_src(c, ci)) < 0)
		return ret;
	/*
	 * scope: all — fib saddr . iif oif missing [fib daddr type != local] goto spoofed
	 * scope: members — fib saddr . iif oif missing jump rpf_fail
	 * (strict; loose: fib saddr oif missing). Without protect-host only
	 * what the host forwards counts. With scope: members a packet is in
	 * scope when it arrives on a zone interface *or is going to* a member
	 * (or to the host it protects): rpf_fail decides which.
	 */
	if (h->rpf != ZT_RPF_OFF) {
		snprintf(what, sizeof(what), "hub.rpf %s", c->hubpos);
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_flag(r, ZT_M_MISSING, h->rpf == ZT_RPF_STRICT ? ZT_KEY_FIB_SADDR_IIF_OIF
								 : ZT_KEY_FIB_SADDR_OIF);
		if (h->scope == ZT_SCOPE_MEMBERS) {
			s_verdict(r, ZT_V_JUMP, "rpf_fail");
		} else {
			if (!h->protect_host)
				m_ne(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
			s_verdict(r, ZT_V_GOTO, "spoofed");
		}
	}
	if (rule_vmap1(c, ci, "anti-spoofing: routed addresses", ZT_KEY_FIB_SADDR_OIFNAME, "route_owner") < 0)
		return -ENOMEM;
	return 0;
}

/*
 * spoof_addr { ip saddr vmap @own4; ip6 saddr vmap @own6;
 *              iifname @zone_ifn accept; iifname @zone_ifx goto spoofed;
 *              iifname @zone_if goto spoofed }
 */
static int chain_spoof_addr(struct cc *c)
{
	struct zt_rule *r;
	int ci = chain_new(c, "spoof_addr", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	/* ip saddr vmap @own4; ip6 saddr vmap @own6 */
	if (rule_vmap1(c, ci, "anti-spoofing: static addresses", ZT_KEY_IP_SADDR, "own4") < 0)
		return -ENOMEM;
	if (rule_vmap1(c, ci, "anti-spoofing: static addresses", ZT_KEY_IP6_SADDR, "own6") < 0)
		return -ENOMEM;
	/*
	 * iifname @zone_if goto spoofed: a zone interface carrying no address
	 * of its own. By exact name first (accept an interface of no zone,
	 * goto spoofed for a zone's), the patterns for a name not there yet.
	 */
	if (!(r = rule_new(c, ci, "anti-spoofing: foreign source on a zone interface")))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_IIFNAME, "zone_ifn");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	for (int i = 0; i < 2; i++) {
		if (!(r = rule_new(c, ci, "anti-spoofing: foreign source on a zone interface")))
			return -ENOMEM;
		m_set(r, false, ZT_KEY_IIFNAME, i ? "zone_if" : "zone_ifx");
		s_verdict(r, ZT_V_GOTO, "spoofed");
	}
	return 0;
}

/*
 * rpf_fail: the route back does not leave where the packet came in (scope:
 * members). It is spoofed if it arrived on a zone interface or is going to
 * a member or to the protected host; otherwise it is not ours to judge.
 */
int chain_rpf_fail(struct cc *c)
{
	const struct zt_hub *h = &c->p->hub;
	char what[128];
	struct zt_rule *r;
	int ci = chain_new(c, "rpf_fail", ZT_HOOK_NONE, 0);

	if (ci < 0)
		return ci;
	snprintf(what, sizeof(what), "hub.rpf %s", c->hubpos);
	/* fib daddr type local return: the host's own input is not enforced */
	if (!h->protect_host) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
		s_verdict(r, ZT_V_RETURN, NULL);
	}
	/* iifname @zone_if goto spoofed */
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_IIFNAME, "zone_if");
	s_verdict(r, ZT_V_GOTO, "spoofed");
	/* fib daddr oifname @member_rt goto spoofed */
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	m_set(r, false, ZT_KEY_FIB_DADDR_OIFNAME, "member_rt");
	s_verdict(r, ZT_V_GOTO, "spoofed");
	/* fib daddr type local goto spoofed */
	if (h->protect_host) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_eq(r, ZT_KEY_FIB_DADDR_TYPE, ZT_TYPE_FIB_ADDRTYPE, RTN_LOCAL);
		s_verdict(r, ZT_V_GOTO, "spoofed");
	}
	return 0;
}

/* ownb_<n> { iifname { <patterns of the bound boundaries holding the address> } accept } */
int chain_ownb(struct cc *c, size_t n)
{
	const uint32_t *seq = c->ownb.pool + c->ownb.v[n].off;
	size_t len = c->ownb.v[n].len, n_pats = 0;
	_cleanup_free_ struct zt_ifpat *pats = NULL;
	char name[ZT_OBJ_NAME_MAX], what[128];
	struct zt_rule *r;
	int ci, ret;

	for (size_t i = 0; i < len; i++) {
		size_t np;
		const struct zt_ifpat *p = zone_pats(c, seq[i], &np);
		struct zt_ifpat *nv = reallocarray(pats, n_pats + np + 1, sizeof(*pats));

		if (!nv)
			return -ENOMEM;
		pats = nv;
		memcpy(pats + n_pats, p, np * sizeof(*p));
		n_pats += np;
	}
	name_num(name, "ownb", n);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	zone_desc(c, seq[0], what, sizeof(what));
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	if ((ret = m_pats(r, ZT_KEY_IIFNAME, pats, n_pats)) < 0)
		return ret;
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}
