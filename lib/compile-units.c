/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit zones (units: in a segment): the rules of input and output that
 * classify the host's own sockets by their cgroup, the loopback chains
 * lo_out, lo_in and lin_<zone>, and the elements ztsegd puts in the ucg_*
 * maps for one cgroup (zt_units_elems()). doc/RULESET.md "Unit zones".
 *
 * Every lookup is keyed by a cgroup id (`socket cgroupv2 level 2`): a hash
 * lookup whatever the number of units. `socket` is refused in forward, so
 * the destination found in input travels to classify_dst (shared with
 * forward) as a packet-mark token. The maps ztsegd changes hold data only
 * (marks); the compiled vmaps usrc and ulin turn those into gotos, so a
 * unit's restart never makes the kernel validate the table's chains.
 */
#include <errno.h>
#include <string.h>
#include <linux/netfilter/nf_conntrack_common.h>

#include "bridge.h"
#include "compile-internal.h"

uint32_t units_hash(uint32_t h, const struct zt_segment *s)
{
	for (size_t i = 0; i < s->n_units; i++)
		h = fnv_add(h, s->units[i].pat.name, strlen(s->units[i].pat.name) + 1);
	return h;
}

/* ct mark 0x00020002: a loopback connection between two host sockets that are no unit's */
#define LO_HOST_PAIR (ID_HOST << 16 | ID_HOST)

/* socket cgroupv2 level 2 != @ucg_known goto deny: a cgroup ztsegd has not classified yet */
static int rule_pending(struct cc *c, int ci)
{
	struct zt_rule *r = rule_new(c, ci, "units: a cgroup not classified yet is denied (fail closed)");

	if (!r)
		return -ENOMEM;
	m_set(r, true, ZT_KEY_SOCKET_CG2, "ucg_known");
	s_verdict(r, ZT_V_GOTO, "deny");
	return 0;
}

/* [i/o]if "lo" ct mark 0x00020002 accept: host to host over loopback passes (SPEC) */
static int rule_lo_pair(struct cc *c, int ci, bool output)
{
	struct zt_rule *r = rule_new(c, ci, "loopback between host sockets that are no unit's");

	if (!r)
		return -ENOMEM;
	m_eq(r, output ? ZT_KEY_OIF : ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
	m_eq(r, ZT_KEY_CT_MARK, ZT_TYPE_MARK, LO_HOST_PAIR);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	return 0;
}

/*
 * Output. early (instead of `oif "lo" accept`): the judged host pair.
 * Late (after the common rules, which sent every reply away, before
 * `jump from_<host>`): an original-direction loopback packet not yet allowed goes to lo_out; a
 * unit's socket goes to from_<its zone>; an unclassified cgroup is denied.
 */
int units_output(struct cc *c, int ci, bool early)
{
	struct zt_rule *r;

	if (early)
		return rule_lo_pair(c, ci, true);
	if (!(r = rule_new(c, ci, "units: loopback, judged in input")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_OIF, ZT_TYPE_IFINDEX, 1);
	s_verdict(r, ZT_V_GOTO, "lo_out");
	/* ct mark set socket cgroupv2 level 2 map @ucg_lo ct mark vmap @usrc (a miss ends the rule) */
	if (!(r = rule_new(c, ci, "units: source zone by the socket's cgroup")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_SOCKET_CG2, "ucg_lo");
	s_vmap1(r, ZT_KEY_CT_MARK, "usrc");
	return rule_pending(c, ci);
}

/*
 * Input. early: the judged host pair, then ICMP errors on loopback (only
 * the host can send them there). Late: loopback to lo_in; an unclassified
 * destination cgroup is denied; a unit's socket leaves its zone's token in
 * the packet mark for classify_dst.
 */
int units_input(struct cc *c, int ci, bool early)
{
	struct zt_rule *r;

	if (early) {
		if (rule_lo_pair(c, ci, false) < 0 ||
		    !(r = rule_new(c, ci, "units: ICMP errors on loopback (the host speaks)")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
		/* ICMP only: a related connection (a helper's expectation) is judged like a new one */
		if (m_icmp_any(r) < 0)
			return -ENOMEM;
		s_verdict(r, ZT_V_ACCEPT, NULL);
		/*
		 * The answer of a hub.default reject on loopback (its RST comes
		 * back in: related, reply direction). A helper's related
		 * connection starts in the original direction: judged.
		 */
		if (!(r = rule_new(c, ci, "units: answers of hub.default reject on loopback")))
			return -ENOMEM;
		m_eq(r, ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
		m_ct_state(r, NF_CT_STATE_BIT(IP_CT_RELATED));
		m_flag(r, ZT_M_CT_DIR_REPLY, ZT_KEY_CT_DIRECTION);
		s_verdict(r, ZT_V_ACCEPT, NULL);
		return 0;
	}
	if (!(r = rule_new(c, ci, "units: loopback, source zone from output")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_IIF, ZT_TYPE_IFINDEX, 1);
	s_verdict(r, ZT_V_GOTO, "lo_in");
	if (rule_pending(c, ci) < 0)
		return -ENOMEM;
	if (!(r = rule_new(c, ci, "units: destination zone by the socket's cgroup")))
		return -ENOMEM;
	{
		struct zt_stmt *s = s_next(r, ZT_S_META_MARK_SET_MAP);

		if (s) {
			s->key[0] = ZT_KEY_SOCKET_CG2;
			s->n_key = 1;
			snprintf(s->set, sizeof(s->set), "%s", "ucg_mm");
		}
	}
	return 0;
}

/* classify_dst, first: oif 0 ct mark set meta mark map @umk return */
int units_classify_dst(struct cc *c, int ci)
{
	struct zt_rule *r = rule_new(c, ci, "destination zone: a unit's socket (token from input)");

	if (!r)
		return -ENOMEM;
	m_eq(r, ZT_KEY_OIF, ZT_TYPE_IFINDEX, 0);
	s_mark_map1(r, ZT_KEY_META_MARK, "umk");
	s_verdict(r, ZT_V_RETURN, NULL);
	return 0;
}

/*
 * lo_out { pending; ct mark set socket cgroupv2 level 2 map @ucg_lo accept;
 *          ct mark set 0x00020000 accept }: the source zone in the mark
 * lo_in { pending; meta mark set socket cgroupv2 level 2 map @ucg_mm meta mark vmap @ulin;
 *         ct mark set ct mark | 0x2; ct mark 0x00020002 accept; goto judge }
 * lin_<zone> { ct mark set ct mark | <zone> goto judge }
 */
int units_chains(struct cc *c)
{
	struct zt_rule *r;
	struct zt_elem *el;
	int ci;

	if ((ci = chain_new(c, "lo_out", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (rule_pending(c, ci) < 0 || !(r = rule_new(c, ci, "units: loopback source, a unit")))
		return -ENOMEM;
	s_mark_map1(r, ZT_KEY_SOCKET_CG2, "ucg_lo");
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (!(r = rule_new(c, ci, "units: loopback source, the host")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_SET, ID_HOST << 16);
	s_verdict(r, ZT_V_ACCEPT, NULL);

	if ((ci = chain_new(c, "lo_in", ZT_HOOK_NONE, 0)) < 0)
		return ci;
	if (rule_pending(c, ci) < 0 || !(r = rule_new(c, ci, "units: loopback destination, a unit")))
		return -ENOMEM;
	{
		struct zt_stmt *s = s_next(r, ZT_S_META_MARK_SET_MAP);

		if (!s)
			return -ENOMEM;
		s->key[0] = ZT_KEY_SOCKET_CG2;
		s->n_key = 1;
		snprintf(s->set, sizeof(s->set), "%s", "ucg_mm");
	}
	s_vmap1(r, ZT_KEY_META_MARK, "ulin");
	if (!(r = rule_new(c, ci, "units: loopback destination, the host")))
		return -ENOMEM;
	s_mark(r, ZT_S_CT_MARK_OR, ID_HOST);
	if (!(r = rule_new(c, ci, "loopback between host sockets that are no unit's")))
		return -ENOMEM;
	m_eq(r, ZT_KEY_CT_MARK, ZT_TYPE_MARK, LO_HOST_PAIR);
	s_verdict(r, ZT_V_ACCEPT, NULL);
	if (rule_verdict(c, ci, "units: loopback, judged", ZT_V_GOTO, "judge") < 0)
		return -ENOMEM;

	for (uint32_t id = 1; id <= c->n_zones; id++) {
		char name[ZT_OBJ_NAME_MAX], what[128];

		if (!c->zones[id].unit)
			continue;
		name_zone_chain(name, "lin", id);
		if ((ci = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
			return ci;
		zone_desc(c, id, what, sizeof(what));
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_mark(r, ZT_S_CT_MARK_OR, id);
		s_verdict(r, ZT_V_GOTO, "judge");
		if (!(el = elem_new(c, S_UMK)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, ZT_UNIT_TOKEN | id);
		el->data = v_u32(ZT_TYPE_MARK, id);
		el->pos = pos_of(c, &c->p->segs[c->zones[id].seg].pos);
		if (!(el = elem_new(c, S_ULIN)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, ZT_UNIT_TOKEN | id);
		el->data = v_verdict(ZT_V_GOTO, name);
		el->pos = pos_of(c, &c->p->segs[c->zones[id].seg].pos);
		if (!(el = elem_new(c, S_USRC)))
			return -ENOMEM;
		el->key[0] = v_u32(ZT_TYPE_MARK, id << 16);
		name_zone_chain(name, "from", id);
		el->data = v_verdict(ZT_V_GOTO, name);
		el->pos = pos_of(c, &c->p->segs[c->zones[id].seg].pos);
	}
	return 0;
}

uint32_t zt_unit_zone_id(const struct zt_policy *p, int seg)
{
	uint32_t id = 3 + (uint32_t)p->hub.n_boundaries;

	for (int s = 0; s < seg; s++)
		id += 1 + (uint32_t)p->segs[s].n_subnets;
	return id;
}

uint32_t zt_unit_log_index(const struct zt_policy *p, int seg)
{
	struct zt_mark_fields f;
	uint32_t k = 0;

	if (seg < 0 || (size_t)seg >= p->n_segs || !p->segs[seg].n_units)
		return 0;
	for (int s = 0; s <= seg; s++)
		k += p->segs[s].n_units != 0;
	zt_mark_fields(zt_hub_mark_mask(&p->hub), &f);
	return k < (1u << f.bits) ? k : 0;
}

uint32_t zt_unit_log_zone(const struct zt_policy *p, uint32_t mark, bool src)
{
	struct zt_mark_fields f;
	uint32_t idx;

	zt_mark_fields(zt_hub_mark_mask(&p->hub), &f);
	idx = src ? (mark & f.src) >> (f.shift + f.bits) : (mark & f.dst) >> f.shift;
	for (size_t s = 0; idx && s < p->n_segs; s++)
		if (p->segs[s].n_units && --idx == 0)
			return zt_unit_zone_id(p, (int)s);
	return 0;
}

/*
 * deny, before its log rule (unit zones; doc/RULESET.md "Unit zones"):
 *   meta mark set meta mark & ~M               the bits ztseg owns, cleared
 *   ct mark & 0xffff0000 vmap @ulogf           jump ulf_<zone>: meta mark set meta mark | SRC(index)
 *   ct mark & 0x8000ffff vmap @ulogt           jump ult_<zone>: meta mark set meta mark | DST(index)
 * Only a zone pair (bit 31 clear) has keys there: a connection's mark
 * (a reply whose flow is gone) matches neither. Two lookups whatever the
 * number of unit zones; one chain per side and unit zone with an index.
 */
int units_deny_log(struct cc *c, int ci, const char *what)
{
	static const struct {
		const char *prefix;
		enum set_id set;
		uint32_t mmask;
	} side[2] = { { "ulf", S_ULOGF, 0xffff0000u }, { "ult", S_ULOGT, 0x8000ffffu } };
	uint32_t mask = zt_hub_mark_mask(&c->p->hub);
	struct zt_mark_fields f;
	struct zt_rule *r;

	zt_mark_fields(mask, &f);
	if (!(r = rule_new(c, ci, what)))
		return -ENOMEM;
	s_next(r, ZT_S_META_MARK_BITS)->mmask = ~mask;
	for (int k = 0; k < 2; k++) {
		if (!(r = rule_new(c, ci, what)))
			return -ENOMEM;
		s_vmap1(r, ZT_KEY_CT_MARK, set_defs[side[k].set].name);
		r->stmt[r->n_stmt - 1].mmask = side[k].mmask;
	}
	for (uint32_t id = 1; id <= c->n_zones; id++) {
		uint32_t idx;

		if (!c->zones[id].unit || !(idx = zt_unit_log_index(c->p, c->zones[id].seg)))
			continue;
		for (int k = 0; k < 2; k++) {
			char name[ZT_OBJ_NAME_MAX], desc[128];
			struct zt_elem *el;
			int zi;

			name_zone_chain(name, side[k].prefix, id);
			if ((zi = chain_new(c, name, ZT_HOOK_NONE, 0)) < 0)
				return zi;
			zone_desc(c, id, desc, sizeof(desc));
			if (!(r = rule_new(c, zi, desc)))
				return -ENOMEM;
			s_mark(r, ZT_S_META_MARK_BITS, k ? zt_mark_dst(&f, idx) : zt_mark_src(&f, idx));
			r->stmt[r->n_stmt - 1].mmask = 0xffffffffu;
			if (!(el = elem_new(c, side[k].set)))
				return -ENOMEM;
			el->key[0] = v_u32(ZT_TYPE_MARK, k ? id : id << 16);
			el->data = v_verdict(ZT_V_JUMP, name);
			el->pos = pos_of(c, &c->p->segs[c->zones[id].seg].pos);
		}
	}
	return 0;
}

static struct zt_value v_cgroup(uint64_t id)
{
	return (struct zt_value){ .type = ZT_TYPE_CGROUP, .u64 = id };
}

size_t zt_units_elems(const struct zt_policy *p, uint64_t id, const char *rel, struct zt_unit_elem out[ZT_UNIT_ELEMS])
{
	int seg = zt_policy_unit_segment(p, rel);
	uint32_t zone;
	size_t n = 0;

	memset(out, 0, sizeof(*out) * ZT_UNIT_ELEMS);
	out[n].set = "ucg_known";
	out[n++].e.key[0] = v_cgroup(id);
	if (seg < 0)
		return n;
	zone = zt_unit_zone_id(p, seg);
	out[n].set = "ucg_lo";
	out[n].e.key[0] = v_cgroup(id);
	out[n++].e.data = v_u32(ZT_TYPE_MARK, zone << 16);
	out[n].set = "ucg_mm";
	out[n].e.key[0] = v_cgroup(id);
	out[n++].e.data = v_u32(ZT_TYPE_MARK, ZT_UNIT_TOKEN | zone);
	return n;
}
