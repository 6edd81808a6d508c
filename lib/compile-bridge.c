/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bridged workloads in the compiler: the plan's bridge part (what table
 * `bridge ztseg` holds, lib/bridge.c writes it) and what `inet ztseg`
 * reads from the packet-mark bits that table sets: the source port's
 * segment (classify_src, spoof, the ICMP speaker chains) and the
 * destination port's (classify_dst), and scope. doc/RULESET.md "Bridges".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bridge.h"
#include "compile-internal.h"
#include "util.h"

/* p inside q: every name p matches, q matches too */
static bool pat_inside(const struct zt_ifpat *p, const struct zt_ifpat *q)
{
	size_t n = strnlen(q->name, IFNAMSIZ);

	if (!q->wildcard)
		return !p->wildcard && streq(p->name, q->name);
	return strncmp(p->name, q->name, n) == 0;
}

static int seg_copy(struct cc *c, size_t si, uint32_t idx, struct zt_plan_bridge_seg *b)
{
	const struct zt_segment *s = &c->p->segs[si];

	b->idx = idx;
	b->rest = c->rest[si];
	if (s->bridge[0]) {
		/* the first segment on the same bridge names its port set (dpb_<brk>) */
		snprintf(b->bridge, sizeof(b->bridge), "%s", s->bridge);
		b->brk = b->rest;
		for (size_t j = 0; j < si; j++)
			if (streq(c->p->segs[j].bridge, s->bridge)) {
				b->brk = c->rest[j];
				break;
			}
	}
	if (!(b->ifs = calloc(s->n_ifs, sizeof(*b->ifs))))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_ifs; i++) {
		bool dup = false;

		/* a pattern inside another of the segment's: interval maps refuse the overlap */
		for (size_t j = 0; j < s->n_ifs && !dup; j++)
			dup = j != i && pat_inside(&s->ifs[i], &s->ifs[j]) &&
			      (!pat_inside(&s->ifs[j], &s->ifs[i]) || j < i);
		if (!dup)
			b->ifs[b->n_ifs++] = s->ifs[i];
	}
	if (!s->n_addrs)
		return 0;
	if (!(b->addrs = calloc(s->n_addrs, sizeof(*b->addrs))))
		return -ENOMEM;
	memcpy(b->addrs, s->addrs, s->n_addrs * sizeof(*b->addrs));
	b->n_addrs = s->n_addrs;
	return 0;
}

uint32_t bridge_src_bits(const struct cc *c, uint32_t zone)
{
	const struct zt_plan_bridge *br = &c->plan->bridge;
	struct zt_mark_fields f;
	int seg;

	if (zone == 0 || zone > c->n_zones || (c->zones[zone].kind != ZT_ZONE_SEGMENT &&
					       c->zones[zone].kind != ZT_ZONE_SUBNET))
		return 0;
	seg = c->zones[zone].seg;
	zt_mark_fields(br->mask, &f);
	for (size_t i = 0; i < br->n_segs; i++)
		if (br->segs[i].rest == c->rest[seg])
			return zt_mark_src(&f, br->segs[i].idx);
	return 0;
}

/*
 * bsub_<rest> { ct mark set <rest>; ct mark . ip saddr vmap @sub_src4; …6;
 *               ct mark vmap @sub_rest; goto deny }: src_sub's way for a
 * bridge port of a segment with subnets (its rest from the mark, not dst_if).
 */
static int bsub_chain(struct cc *c, uint32_t rest)
{
	static const enum zt_key k4[] = { ZT_KEY_CT_MARK, ZT_KEY_IP_SADDR },
				 k6[] = { ZT_KEY_CT_MARK, ZT_KEY_IP6_SADDR };
	char name[ZT_OBJ_NAME_MAX];
	struct zt_rule *r;
	int ci;

	name_zone_chain(name, "bsub", rest);
	if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (!(r = rule_new(c, ci, "source zone: segment of the bridge port")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, rest);
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k4, ELEMENTSOF(k4), sub_defs[SUB_SRC4].name);
	if (!(r = rule_new(c, ci, "source zone: subnet")))
		return -ENOMEM;
	s_vmap(r, k6, ELEMENTSOF(k6), sub_defs[SUB_SRC6].name);
	if (rule_vmap1(c, ci, "source zone: segment rest", ZT_KEY_CT_MARK, sub_defs[SUB_REST].name) < 0)
		return -ENOMEM;
	if (rule_verdict(c, ci, "source zone: segment rest", ZT_V_GOTO, "deny") < 0)
		return -ENOMEM;
	return 0;
}

/* The boundaries' patterns (issue 15): an uplink in a bridge that bridge: segments name claims nothing. */
static int bridge_bnd_ifs(struct cc *c, struct zt_plan_bridge *br)
{
	const struct zt_hub *h = &c->p->hub;
	size_t n = 0;

	for (size_t i = 0; i < h->n_boundaries; i++)
		n += h->boundaries[i].n_ifs;
	if (!n)
		return 0;
	if (!(br->bnd_ifs = calloc(n, sizeof(*br->bnd_ifs))))
		return -ENOMEM;
	for (size_t i = 0; i < h->n_boundaries; i++)
		for (size_t j = 0; j < h->boundaries[i].n_ifs; j++)
			br->bnd_ifs[br->n_bnd_ifs++] = h->boundaries[i].ifs[j];
	return 0;
}

/* The plan's bridge part, and the maps br_src, br_dz, br_dv. */
int bridge_build(struct cc *c)
{
	struct zt_plan_bridge *br = &c->plan->bridge;
	struct zt_mark_fields f;
	size_t n = 0;
	int r;

	br->mask = zt_hub_mark_mask(&c->p->hub);
	zt_mark_fields(br->mask, &f);
	for (size_t i = 0; i < c->p->n_segs; i++)
		n += zt_bridge_index(c->p, i) != 0;
	if (!n)
		return 0;
	if (!(br->segs = calloc(n, sizeof(*br->segs))))
		return -ENOMEM;
	if ((r = set_new(c, S_BR_SRC)) < 0 || (r = set_new(c, S_BR_DZ)) < 0 || (r = set_new(c, S_BR_DV)) < 0)
		return r;
	if ((r = bridge_bnd_ifs(c, br)) < 0)
		return r;
	for (size_t i = 0; i < c->p->n_segs; i++) {
		uint32_t idx = zt_bridge_index(c->p, i), rest = c->rest[i];
		bool subs = c->p->segs[i].n_subnets > 0;
		struct zt_elem *e;

		if (!idx)
			continue;
		if ((r = seg_copy(c, i, idx, &br->segs[br->n_segs++])) < 0)
			return r;
		if (!(e = elem_new(c, S_BR_SRC)))
			return -ENOMEM;
		e->key[0] = v_u32(ZT_TYPE_MARK, zt_mark_src(&f, idx));
		e->data = v_zone_goto(subs ? "bsub" : "from", rest);
		e->pos = pos_of(c, &c->p->segs[i].pos);
		if (!(e = elem_new(c, S_BR_DZ)))
			return -ENOMEM;
		e->key[0] = v_u32(ZT_TYPE_MARK, zt_mark_dst(&f, idx));
		e->data = v_u32(ZT_TYPE_MARK, rest);
		e->pos = pos_of(c, &c->p->segs[i].pos);
		if (!(e = elem_new(c, S_BR_DV)))
			return -ENOMEM;
		e->key[0] = v_u32(ZT_TYPE_MARK, zt_mark_dst(&f, idx));
		e->data = subs ? v_verdict(ZT_V_GOTO, "dsub") : v_verdict(ZT_V_RETURN, NULL);
		e->pos = pos_of(c, &c->p->segs[i].pos);
		if (subs && (r = bsub_chain(c, rest)) < 0)
			return r;
	}
	return 0;
}

static void fields(const struct cc *c, struct zt_mark_fields *f)
{
	zt_mark_fields(c->plan->bridge.mask, f);
}

static void m_mark(const struct cc *c, struct zt_rule *r, bool ne, uint32_t mask, uint32_t v)
{
	struct zt_match *m = m_next(r, ne ? ZT_M_NE : ZT_M_EQ, ZT_KEY_META_MARK);

	(void)c;
	m->value = v_u32(ZT_TYPE_MARK, v);
	m->mmask = mask;
}

/*
 * meta mark & FIELD != 0 <stmt> meta mark & FIELD …: no map holds a key
 * of 0 (a bridge index is never 0), so a routed packet, the more
 * frequent, pays for a compare instead of a lookup that must miss.
 */
static struct zt_rule *mark_rule(struct cc *c, int ci, const char *what, uint32_t field)
{
	struct zt_rule *r = rule_new(c, ci, what);

	if (r)
		m_mark(c, r, true, field, 0);
	return r;
}

/* classify_src, first: meta mark & SRC != 0 meta mark & SRC vmap @br_src (a bridge port's segment, before any interface) */
int bridge_classify_src(struct cc *c, int ci)
{
	struct zt_mark_fields f;
	struct zt_rule *r;

	if (!bridge_on(c))
		return 0;
	fields(c, &f);
	if (!(r = mark_rule(c, ci, "source zone: bridge port", f.src)))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_META_MARK, "br_src");
	r->stmt[r->n_stmt - 1].mmask = f.src;
	return 0;
}

/*
 * classify_dst, after the static addresses: meta mark & DST != 0 ct mark
 * set meta mark & DST map @br_dz; meta mark & DST != 0 meta mark & DST
 * vmap @br_dv
 */
int bridge_classify_dst(struct cc *c, int ci)
{
	struct zt_mark_fields f;
	struct zt_rule *r;

	if (!bridge_on(c))
		return 0;
	fields(c, &f);
	if (!(r = mark_rule(c, ci, "destination zone: bridge port", f.dst)))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_META_MARK, "br_dz");
	r->stmt[r->n_stmt - 1].mmask = f.dst;
	if (!(r = mark_rule(c, ci, "destination zone: bridge port", f.dst)))
		return -ENOMEM;
	s_vmap1(r, ZT_KEY_META_MARK, "br_dv");
	r->stmt[r->n_stmt - 1].mmask = f.dst;
	return 0;
}

/*
 * Before the scope shortcut: `meta iifkind "bridge" goto scoped`, `meta
 * oifkind "bridge" goto scoped`. A member behind a bridge is reached
 * through the bridge (routed into it, or bridged, where iif/oif are the
 * bridge itself), so such packets are judged; scope is then the zone
 * pair's (oos in judge): Docker's bridge to the uplink stays out of scope.
 */
int bridge_scope(struct cc *c, int ci, const char *what)
{
	static const enum zt_key keys[] = { ZT_KEY_IIFKIND, ZT_KEY_OIFKIND };
	struct zt_ifpat br = { .name = "bridge" };
	struct zt_rule *r;

	if (!bridge_on(c))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		m_next(r, ZT_M_EQ, keys[i])->value = v_ifpat(ZT_TYPE_IFNAME, &br);
		s_verdict(r, ZT_V_GOTO, "scoped");
	}
	return 0;
}

/*
 * Forward: neighbour discovery between bridge ports (conntrack leaves it
 * untracked) passes as the RFCs require (hop limit 255: bridged, never
 * routed — routing lowers it before the forward hook); table bridge ztseg
 * has bound its addresses (NA target, source) to the port, and no port
 * that is not a member may advertise a segment's address. Between two
 * ports that are not members (a Proxmox uplink and the LAN) it is the
 * link's own ND, as ARP is.
 */
int bridge_forward_nd(struct cc *c, int ci)
{
	static const uint32_t nd[] = { 135, 136 };
	struct zt_ifpat br = { .name = "bridge" };
	struct zt_value v[ELEMENTSOF(nd)];
	struct zt_rule *r;
	int ret;

	if (!bridge_on(c))
		return 0;
	if (!(r = rule_new(c, ci, "neighbour discovery between bridge ports")))
		return -ENOMEM;
	m_next(r, ZT_M_EQ, ZT_KEY_IIFKIND)->value = v_ifpat(ZT_TYPE_IFNAME, &br);
	m_eq(r, ZT_KEY_L4PROTO, ZT_TYPE_INET_PROTO, IPPROTO_ICMPV6);
	for (size_t i = 0; i < ELEMENTSOF(nd); i++)
		v[i] = v_u32(ZT_TYPE_ICMPV6_TYPE, nd[i]);
	if ((ret = m_anon(r, ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, false, v, ELEMENTSOF(nd))) < 0)
		return ret;
	m_eq(r, ZT_KEY_IP6_HOPLIMIT, ZT_TYPE_INTEGER, 255);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/* spoof: meta mark & SRC != 0 accept — table bridge ztseg bound the source to the port's segment */
int bridge_spoof(struct cc *c, int ci)
{
	struct zt_mark_fields f;
	struct zt_rule *r;

	if (!bridge_on(c))
		return 0;
	fields(c, &f);
	if (!(r = rule_new(c, ci, "anti-spoofing: bound at the bridge port")))
		return -ENOMEM;
	m_mark(c, r, true, f.src, 0);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/*
 * own_<zone>: meta mark & SRC == <the zone's segment> accept;
 * zone 0 (spk_any): a bridge port of any segment does not speak for world.
 */
int bridge_spk(struct cc *c, int ci, uint32_t zone)
{
	struct zt_mark_fields f;
	struct zt_rule *r;
	uint32_t bits;

	if (!bridge_on(c))
		return 0;
	fields(c, &f);
	if (zone == 0) {
		if (!(r = rule_new(c, ci, "ICMP errors: a bridge port of a segment")))
			return -ENOMEM;
		m_mark(c, r, true, f.src, 0);
		s_verdict(r, ZT_V_GOTO, "deny");
		return 0;
	}
	if (!(bits = bridge_src_bits(c, zone)))
		return 0;
	if (!(r = rule_new(c, ci, "bridge port of the zone's segment")))
		return -ENOMEM;
	m_mark(c, r, false, f.src, bits);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}
