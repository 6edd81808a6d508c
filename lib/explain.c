/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * explain: doc/SEMANTICS.md applied to one probe packet. This is the
 * reference the compiler's rules are tested against, so it follows the
 * document step by step rather than being clever.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include "explain.h"
#include "links.h"

#define ERR_ENDPOINT "expected an address, a zone name (web, db.primary, onprem, host, world), " \
	"iface:NAME or iface:NAME,ADDRESS"

/* ICMPv6 that IPv6 cannot work without, on one link: ND (RS, RA, NS, NA, redirect) and MLD. */
static const int nd_types[] = { 133, 134, 135, 136, 137 };
static const int mld_types[] = { 130, 131, 132, 143 };

/* ---- Endpoints ---- */

static bool name_part_ok(const char *s, size_t len)
{
	if (!len || len > ZT_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool zone_name_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return name_part_ok(s, strlen(s));
	return name_part_ok(s, dot - s) && name_part_ok(dot + 1, strlen(dot + 1));
}

static int set_err(const char **err, const char *msg)
{
	if (err)
		*err = msg;
	return -EINVAL;
}

int zt_endpoint_parse(const char *s, struct zt_endpoint *ret, const char **err)
{
	struct zt_endpoint ep = {};

	if (!s || !*s)
		return set_err(err, ERR_ENDPOINT);
	if (!strncmp(s, "iface:", 6)) {
		const char *name = s + 6, *comma = strchr(name, ',');
		size_t len = comma ? (size_t)(comma - name) : strlen(name);
		char buf[IFNAMSIZ];
		struct zt_ifpat pat;

		if (!len)
			return set_err(err, "iface: expects an interface name, as in iface:vweb1 or iface:vweb1,198.51.100.10");
		if (len >= IFNAMSIZ)
			return set_err(err, "interface names are at most 15 bytes");
		memcpy(buf, name, len);
		buf[len] = '\0';
		if (zt_ifpat_parse(buf, &pat, err) < 0)
			return -EINVAL;
		if (pat.wildcard)
			return set_err(err, "iface: expects one interface name, not a pattern");
		snprintf(ep.ifname, sizeof(ep.ifname), "%s", pat.name);
		if (comma) {
			if (zt_addr_parse(comma + 1, &ep.family, ep.addr) < 0)
				return set_err(err, "expected an IPv4 or IPv6 address after iface:NAME,");
			ep.has_addr = true;
		}
	} else if (!strncmp(s, "unit:", 5)) {
		struct zt_unitpat up;

		if (zt_unitpat_parse(s + 5, &up, err) < 0)
			return -EINVAL;
		if (up.glob)
			return set_err(err, "unit: expects one unit name, not a pattern");
		snprintf(ep.unit, sizeof(ep.unit), "%s", up.name);
	} else if (zt_addr_parse(s, &ep.family, ep.addr) == 0) {
		ep.has_addr = true;
	} else if (strchr(s, '/')) {
		return set_err(err, "expected a single address, not a prefix or a port");
	} else if (strlen(s) < sizeof(ep.zone) && zone_name_ok(s)) {
		snprintf(ep.zone, sizeof(ep.zone), "%s", s);
	} else {
		return set_err(err, ERR_ENDPOINT);
	}
	*ret = ep;
	return 0;
}

/* ---- Policy lookups (linear: explain answers one probe at a time) ---- */

struct xctx {
	const struct zt_policy *p;
	const struct zt_explain_env *env;
	struct zt_explanation *e;
	uint8_t family;
	const struct zt_explain_grant *grants;
	size_t n_grants;
	const struct zt_endpoint *from;
};

static struct zt_zone zone_of(enum zt_zone_kind kind, int seg, int sub, int bnd)
{
	return (struct zt_zone){ .kind = kind, .seg = seg, .sub = sub, .bnd = bnd };
}

static bool pats_match(const struct zt_ifpat *v, size_t n, const char *ifname)
{
	if (!ifname || !*ifname)
		return false;
	for (size_t i = 0; i < n; i++)
		if (zt_ifpat_match(&v[i], ifname))
			return true;
	return false;
}

static int seg_of_if(const struct zt_policy *p, const char *ifname)
{
	for (size_t i = 0; ifname && *ifname && i < p->n_segs; i++)
		if (pats_match(p->segs[i].ifs, p->segs[i].n_ifs, ifname))
			return (int)i;
	return -1;
}

static int bnd_of_if(const struct zt_policy *p, const char *ifname)
{
	for (size_t i = 0; ifname && *ifname && i < p->hub.n_boundaries; i++)
		if (pats_match(p->hub.boundaries[i].ifs, p->hub.boundaries[i].n_ifs, ifname))
			return (int)i;
	return -1;
}

static bool in_cidrs(const struct zt_cidr *v, size_t n, uint8_t family, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (zt_cidr_contains_addr(&v[i], family, addr))
			return true;
	return false;
}

static bool is_loopback(uint8_t family, const uint8_t *addr)
{
	static const uint8_t one6[16] = { [15] = 1 };

	if (family == AF_INET)
		return addr[0] == 127;
	return !memcmp(addr, one6, 16);
}

struct lpm {
	int plen;
	const struct zt_cidr *cidr;
	struct zt_zone zone;
};

static void lpm_try(struct lpm *m, const struct zt_cidr *v, size_t n, uint8_t family,
		    const uint8_t *addr, struct zt_zone zone)
{
	for (size_t i = 0; i < n; i++) {
		if ((int)v[i].plen <= m->plen || !zt_cidr_contains_addr(&v[i], family, addr))
			continue;
		m->plen = v[i].plen;
		m->cidr = &v[i];
		m->zone = zone;
	}
}

/* The subnet of segment seg that holds addr (longest prefix), or -1. */
static int subnet_of(const struct zt_policy *p, int seg, uint8_t family, const uint8_t *addr,
		     const struct zt_cidr **pfx)
{
	const struct zt_segment *s = &p->segs[seg];
	struct lpm m = { .plen = -1 };

	for (size_t k = 0; k < s->n_subnets; k++)
		lpm_try(&m, s->subnets[k].addrs, s->subnets[k].n_addrs, family, addr,
			zone_of(ZT_ZONE_SUBNET, seg, (int)k, -1));
	*pfx = m.cidr;
	return m.cidr ? m.zone.sub : -1;
}

/*
 * Longest prefix over the static addresses of segments, subnets and
 * boundaries. A boundary that names interfaces takes part when the packet
 * crosses one of them, or (bound_ok) when no interface was given.
 */
static struct lpm static_match(const struct zt_policy *p, uint8_t family, const uint8_t *addr,
			       const char *ifname, bool bound_ok)
{
	struct lpm m = { .plen = -1, .zone = zone_of(ZT_ZONE_NONE, -1, -1, -1) };

	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];

		lpm_try(&m, s->addrs, s->n_addrs, family, addr, zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1));
		for (size_t k = 0; k < s->n_subnets; k++)
			lpm_try(&m, s->subnets[k].addrs, s->subnets[k].n_addrs, family, addr,
				zone_of(ZT_ZONE_SUBNET, (int)i, (int)k, -1));
	}
	for (size_t i = 0; i < p->hub.n_boundaries; i++) {
		const struct zt_boundary *b = &p->hub.boundaries[i];

		if (b->n_ifs && !bound_ok && !pats_match(b->ifs, b->n_ifs, ifname))
			continue;
		lpm_try(&m, b->addrs, b->n_addrs, family, addr, zone_of(ZT_ZONE_BOUNDARY, -1, -1, (int)i));
	}
	return m;
}

/*
 * Who an address is bound to for anti-spoofing: the longest prefix among
 * segment (and subnet) addresses and boundaries that name interfaces.
 * Subnets answer with their segment. A boundary's 0.0.0.0/0 or ::/0 is
 * the default route: it says where unknown addresses go, not that every
 * address lives behind the uplink (workloads with routed addresses, and
 * Docker bridges under scope: members, would all look spoofed).
 */
static struct lpm static_owner(const struct zt_policy *p, uint8_t family, const uint8_t *addr)
{
	struct lpm m = { .plen = -1, .zone = zone_of(ZT_ZONE_NONE, -1, -1, -1) };

	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];
		struct zt_zone z = zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1);

		lpm_try(&m, s->addrs, s->n_addrs, family, addr, z);
		for (size_t k = 0; k < s->n_subnets; k++)
			lpm_try(&m, s->subnets[k].addrs, s->subnets[k].n_addrs, family, addr, z);
	}
	for (size_t i = 0; i < p->hub.n_boundaries; i++) {
		const struct zt_boundary *b = &p->hub.boundaries[i];

		if (!b->n_ifs)
			continue;
		for (size_t j = 0; j < b->n_addrs; j++)
			if (b->addrs[j].plen)
				lpm_try(&m, &b->addrs[j], 1, family, addr,
					zone_of(ZT_ZONE_BOUNDARY, -1, -1, (int)i));
	}
	return m;
}

static bool env_route(const struct xctx *x, uint8_t family, const uint8_t *addr,
		      char ifname[IFNAMSIZ])
{
	ifname[0] = '\0';
	if (!x->env || !x->env->route)
		return false;
	if (x->env->route(x->env->userdata, family, addr, ifname) < 0)
		return false;
	ifname[IFNAMSIZ - 1] = '\0';
	return ifname[0] != '\0';
}

static void note(struct zt_explanation *e, const char *fmt, ...) _printf_(2, 3);
static void note(struct zt_explanation *e, const char *fmt, ...)
{
	char buf[ZT_EXPLAIN_NOTE_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < e->n_notes; i++)
		if (streq(e->notes[i], buf))
			return;
	if (e->n_notes < ZT_EXPLAIN_NOTES_MAX)
		memcpy(e->notes[e->n_notes++], buf, sizeof(buf));
}

/* ---- Classification (SEMANTICS.md, "Classifying one side of a packet") ---- */

static void classify_in_segment(const struct zt_policy *p, int seg, const struct zt_endpoint *ep,
				struct zt_side *sd)
{
	const struct zt_cidr *pfx = NULL;
	int sub = ep->has_addr ? subnet_of(p, seg, ep->family, ep->addr, &pfx) : -1;

	sd->zone = sub >= 0 ? zone_of(ZT_ZONE_SUBNET, seg, sub, -1)
			    : zone_of(ZT_ZONE_SEGMENT, seg, -1, -1);
	sd->prefix = pfx;
}

/* ff01::/16, ff02::/16, 224.0.0.0/24 and 255.255.255.255: never routed, only delivered here. */
static bool is_link_scope_dst(uint8_t family, const uint8_t *a)
{
	if (family == AF_INET6)
		return a[0] == 0xff && (a[1] & 0x0f) <= 2;
	return (a[0] == 224 && a[1] == 0 && a[2] == 0) ||
	       (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

static void classify(const struct xctx *x, const struct zt_endpoint *ep, bool src,
		     const struct zt_zone *named, struct zt_side *sd)
{
	const struct zt_policy *p = x->p;
	char via[IFNAMSIZ];
	struct lpm m;
	int seg, bnd;

	*sd = (struct zt_side){ .zone = zone_of(ZT_ZONE_WORLD, -1, -1, -1), .how = ZT_CLASS_WORLD };
	snprintf(sd->ifname, sizeof(sd->ifname), "%s", ep->ifname);
	sd->has_addr = ep->has_addr;
	if (ep->has_addr)
		memcpy(sd->addr, ep->addr, sizeof(sd->addr));

	if (named) {
		sd->zone = *named;
		sd->how = ZT_CLASS_NAME;
		return;
	}
	if (ep->unit[0]) {
		char rel[sizeof(ZT_UNIT_SLICE) + sizeof(ep->unit)];

		snprintf(rel, sizeof(rel), "%s/%s", ZT_UNIT_SLICE, ep->unit);
		seg = zt_policy_unit_segment(p, rel);
		sd->zone = seg >= 0 ? zone_of(ZT_ZONE_SEGMENT, seg, -1, -1) : zone_of(ZT_ZONE_HOST, -1, -1, -1);
		sd->how = ZT_CLASS_UNIT;
		return;
	}
	if (streq(ep->ifname, "lo") || (ep->has_addr && is_loopback(ep->family, ep->addr))) {
		sd->zone = zone_of(ZT_ZONE_HOST, -1, -1, -1);
		sd->how = ZT_CLASS_LOOPBACK;
		return;
	}
	/* Link-scope multicast and broadcast delivered to the host count as host (SPEC). */
	if (!ep->ifname[0] && ep->has_addr &&
	    ((!src && is_link_scope_dst(ep->family, ep->addr)) ||
	     (x->env && x->env->is_local && x->env->is_local(x->env->userdata, ep->family, ep->addr)))) {
		sd->zone = zone_of(ZT_ZONE_HOST, -1, -1, -1);
		sd->how = ZT_CLASS_HOST;
		return;
	}

	/* Link-local and unspecified sources say nothing about where they live. */
	if (src && ep->has_addr && zt_addr_is_linklocal_or_unspec(ep->family, ep->addr)) {
		sd->how = ZT_CLASS_LINKLOCAL;
		if ((seg = seg_of_if(p, ep->ifname)) >= 0)
			sd->zone = zone_of(ZT_ZONE_SEGMENT, seg, -1, -1);
		else if ((bnd = bnd_of_if(p, ep->ifname)) >= 0)
			sd->zone = zone_of(ZT_ZONE_BOUNDARY, -1, -1, bnd);
		return;
	}

	if ((seg = seg_of_if(p, ep->ifname)) >= 0) {
		sd->how = ZT_CLASS_INTERFACE;
		classify_in_segment(p, seg, ep, sd);
		return;
	}
	if (!ep->has_addr) {
		/* An interface without an address: a bound boundary by interface alone. */
		if ((bnd = bnd_of_if(p, ep->ifname)) >= 0) {
			sd->zone = zone_of(ZT_ZONE_BOUNDARY, -1, -1, bnd);
			sd->how = ZT_CLASS_INTERFACE;
		}
		return;
	}
	if (env_route(x, ep->family, ep->addr, via) && (seg = seg_of_if(p, via)) >= 0) {
		sd->how = ZT_CLASS_ROUTED;
		snprintf(sd->via, sizeof(sd->via), "%s", via);
		if (!sd->ifname[0])
			snprintf(sd->ifname, sizeof(sd->ifname), "%s", via);
		classify_in_segment(p, seg, ep, sd);
		return;
	}
	m = static_match(p, ep->family, ep->addr, ep->ifname, !ep->ifname[0]);
	if (m.cidr) {
		sd->how = ZT_CLASS_STATIC;
		sd->prefix = m.cidr;
		sd->zone = m.zone;
	}
}

/* ---- Anti-spoofing (source side, given input interface) ---- */

static bool is_router_message(const struct xctx *x)
{
	const struct zt_port *pk = &x->e->pkt;

	if (pk->proto == ZT_PROTO_ICMPV6 && x->family == AF_INET6)
		return pk->icmp_type == 134 || pk->icmp_type == 137;
	if (pk->proto == ZT_PROTO_ICMP && x->family == AF_INET)
		return pk->icmp_type == 5;
	return false;
}

/*
 * May interface IN be a port of a bridge a `bridge:` segment names? Not
 * the bridge itself, nor one a segment or boundary pattern names; offline
 * any other name may be one (table bridge ztseg finds them by name).
 */
static bool may_be_dport(const struct zt_policy *p, const char *in, int member, int bnd)
{
	bool any = false;

	if (!in[0] || member >= 0 || bnd >= 0)
		return false;
	for (size_t i = 0; i < p->n_segs; i++) {
		if (!p->segs[i].bridge[0])
			continue;
		if (streq(in, p->segs[i].bridge))
			return false;
		any = true;
	}
	return any;
}

/*
 * What a bridge: port may send from a link-local or unspecified source
 * (it carries no segment there): DHCP client (udp/67, udp/547), MLD
 * (130-132, 143), RS (133), NS, NA (135, 136).
 */
static bool bridge_ll_allowed(const struct xctx *x)
{
	static const int16_t ok6[] = { 130, 131, 132, 133, 135, 136, 143 };
	const struct zt_port *pk = &x->e->pkt;

	if (pk->proto == ZT_PROTO_UDP && pk->lo == pk->hi)
		return pk->lo == (x->family == AF_INET6 ? 547 : 67);
	if (pk->proto == ZT_PROTO_ICMPV6 && x->family == AF_INET6)
		for (size_t i = 0; i < ELEMENTSOF(ok6); i++)
			if (pk->icmp_type == ok6[i])
				return true;
	return false;
}

static bool spoofed(struct xctx *x, const struct zt_endpoint *ep, bool rpf_applies, bool to_zone)
{
	const struct zt_policy *p = x->p;
	struct zt_explanation *e = x->e;
	const char *in = ep->ifname;
	int member = seg_of_if(p, in), bnd = bnd_of_if(p, in), t;
	char via[IFNAMSIZ];
	bool routed;
	struct lpm own;

	if (!in[0])
		return false;
	if (member >= 0 && is_router_message(x)) {
		e->spoof.kind = ZT_SPOOF_ROUTER_MESSAGE;
		e->spoof.zone = zone_of(ZT_ZONE_SEGMENT, member, -1, -1);
		return true;
	}
	if (!ep->has_addr)
		return false;
	if (zt_addr_is_linklocal_or_unspec(ep->family, ep->addr)) {
		if (!may_be_dport(p, in, member, bnd) || bridge_ll_allowed(x))
			return false;
		e->spoof.kind = ZT_SPOOF_BRIDGE_LINKLOCAL;
		return true;
	}

	own = static_owner(p, ep->family, ep->addr);
	if (own.zone.kind == ZT_ZONE_SEGMENT) {
		const struct zt_segment *s = &p->segs[own.zone.seg];

		/*
		 * A bridge: segment's address from an interface a segment or
		 * boundary pattern names: never a port of its bridge (table
		 * bridge ztseg lets only those claim it; explain cannot know a
		 * port's bridge offline, so any other name may be one). The
		 * bridge itself is where its ports' packets meet the host.
		 */
		if (s->bridge[0] && (member >= 0 || bnd >= 0) && !streq(in, s->bridge)) {
			e->spoof.kind = ZT_SPOOF_SEGMENT_ADDRESS;
			e->spoof.zone = own.zone;
			return true;
		}
		if (s->n_ifs && !pats_match(s->ifs, s->n_ifs, in)) {
			e->spoof.kind = ZT_SPOOF_SEGMENT_ADDRESS;
			e->spoof.zone = own.zone;
			return true;
		}
	} else if (own.zone.kind == ZT_ZONE_BOUNDARY) {
		const struct zt_boundary *b = &p->hub.boundaries[own.zone.bnd];

		if (!pats_match(b->ifs, b->n_ifs, in)) {
			e->spoof.kind = ZT_SPOOF_BOUNDARY_ADDRESS;
			e->spoof.zone = own.zone;
			return true;
		}
	}

	/*
	 * Live, an address routed through a member interface belongs to that
	 * segment as much as a static one (SPEC: "routed or static").
	 */
	routed = env_route(x, ep->family, ep->addr, via);
	t = routed ? seg_of_if(p, via) : -1;
	if (t >= 0 && t != member) {
		e->spoof.kind = ZT_SPOOF_SEGMENT_ADDRESS;
		e->spoof.zone = zone_of(ZT_ZONE_SEGMENT, t, -1, -1);
		snprintf(e->spoof.route, sizeof(e->spoof.route), "%s", via);
		return true;
	}

	if (member >= 0) {
		const struct zt_segment *s = &p->segs[member];
		bool ok = in_cidrs(s->addrs, s->n_addrs, ep->family, ep->addr);

		/* Offline, an address nobody owns is taken as routed through in. */
		if (!ok && x->env && x->env->route)
			ok = t == member;
		else if (!ok)
			ok = own.zone.kind == ZT_ZONE_NONE;
		if (!ok) {
			e->spoof.kind = ZT_SPOOF_MEMBER_INTERFACE;
			e->spoof.zone = zone_of(ZT_ZONE_SEGMENT, member, -1, -1);
			return true;
		}
	}
	if (bnd >= 0) {
		const struct zt_boundary *b = &p->hub.boundaries[bnd];

		if (!in_cidrs(b->addrs, b->n_addrs, ep->family, ep->addr)) {
			e->spoof.kind = ZT_SPOOF_BOUNDARY_INTERFACE;
			e->spoof.zone = zone_of(ZT_ZONE_BOUNDARY, -1, -1, bnd);
			return true;
		}
	}

	/*
	 * Offline there are no routes: the source is routed back through in,
	 * RPF holds. With scope: members only packets that arrive on a zone
	 * interface or go to a zone (a member, or the protected host) are
	 * checked (doc/RULESET.md): a router's other traffic is none of
	 * ztseg's business, but a forged source on its way to a workload is.
	 */
	if (p->hub.scope == ZT_SCOPE_MEMBERS && member < 0 && bnd < 0 && !to_zone)
		rpf_applies = false;
	if (rpf_applies && p->hub.rpf != ZT_RPF_OFF && x->env && x->env->route) {
		bool fail = p->hub.rpf == ZT_RPF_STRICT ? !routed || !streq(via, in) : !routed;

		if (fail) {
			e->spoof.kind = ZT_SPOOF_RPF;
			snprintf(e->spoof.route, sizeof(e->spoof.route), "%s", routed ? via : "");
			return true;
		}
	}
	return false;
}

/* ---- Flows ---- */

static bool is_member_zone(const struct zt_zone *z)
{
	return z->kind == ZT_ZONE_SEGMENT || z->kind == ZT_ZONE_SUBNET;
}

/* A unit segment's zone: the host-local sockets of its units. */
static bool unit_zone(const struct zt_policy *p, const struct zt_zone *z)
{
	return z->kind == ZT_ZONE_SEGMENT && p->segs[z->seg].n_units;
}

/* A hub flow's reference to a segment covers its rest and all its subnets. */
static bool hub_ref_covers(const struct zt_zone *ref, const struct zt_zone *z)
{
	switch (ref->kind) {
	case ZT_ZONE_SEGMENT:
		return is_member_zone(z) && z->seg == ref->seg;
	case ZT_ZONE_SUBNET:
		return z->kind == ZT_ZONE_SUBNET && z->seg == ref->seg && z->sub == ref->sub;
	case ZT_ZONE_BOUNDARY:
		return z->kind == ZT_ZONE_BOUNDARY && z->bnd == ref->bnd;
	case ZT_ZONE_HOST:
	case ZT_ZONE_WORLD:
		return z->kind == ref->kind;
	default:
		return false;
	}
}

/* In a segment rule the segment's own name is its rest only. */
static bool rule_ref_covers(const struct zt_zone *ref, const struct zt_zone *z)
{
	if (ref->kind == ZT_ZONE_SEGMENT)
		return z->kind == ZT_ZONE_SEGMENT && z->seg == ref->seg;
	return hub_ref_covers(ref, z);
}

static bool refs_cover(const struct zt_ref *refs, size_t n, const struct zt_zone *z, bool rule)
{
	for (size_t i = 0; i < n; i++)
		if (rule ? rule_ref_covers(&refs[i].zone, z) : hub_ref_covers(&refs[i].zone, z))
			return true;
	return false;
}

static bool ports_cover(const struct zt_flow *f, const struct zt_port *pkt, uint8_t family)
{
	for (size_t i = 0; i < f->n_ports; i++)
		if (zt_port_covers(&f->ports[i], pkt, family))
			return true;
	return false;
}

static bool kind_encrypting(const struct xctx *x, const char *kind)
{
	return zt_enc_kind_trusted(kind, x->env->encrypting_kinds, SIZE_MAX);
}

struct leg {
	bool ok;
	bool assumed;		/* offline guess about a link kind */
	char why[ZT_EXPLAIN_NOTE_LEN];
};

static void iface_encrypting(const struct xctx *x, const char *ifname, struct leg *l)
{
	const struct zt_hub *h = &x->p->hub;
	const char *kind;

	if (!pats_match(h->enc_ifs, h->n_enc_ifs, ifname)) {
		snprintf(l->why, sizeof(l->why), "%s is not in hub.encrypted-interfaces", ifname);
		return;
	}
	if (!x->env || !x->env->link_kind) {
		l->ok = l->assumed = true;
		return;
	}
	kind = x->env->link_kind(x->env->userdata, ifname);
	if (!kind_encrypting(x, kind)) {
		snprintf(l->why, sizeof(l->why), "%s is a %s link, not an encrypting one",
			 ifname, kind ? kind : "missing");
		return;
	}
	l->ok = true;
}

/*
 * Does this side's leg leave the machine protected? Only boundary and
 * world sides leave it; local workloads and the host need nothing.
 */
static struct leg leg_protected(const struct xctx *x, const struct zt_side *sd, uint8_t family)
{
	const struct zt_policy *p = x->p;
	struct leg l = {};
	char via[IFNAMSIZ];

	if (sd->zone.kind != ZT_ZONE_BOUNDARY && sd->zone.kind != ZT_ZONE_WORLD) {
		l.ok = true;
		return l;
	}
	if (sd->ifname[0]) {
		iface_encrypting(x, sd->ifname, &l);
		return l;
	}
	if (sd->has_addr && env_route(x, family, sd->addr, via)) {
		iface_encrypting(x, via, &l);
		return l;
	}
	if (sd->zone.kind == ZT_ZONE_BOUNDARY && p->hub.boundaries[sd->zone.bnd].n_ifs) {
		const struct zt_boundary *b = &p->hub.boundaries[sd->zone.bnd];
		char pat[IFNAMSIZ + 2];

		/* Bound: the leg crosses one of b's interfaces, so all of them must encrypt. */
		l.ok = true;
		for (size_t i = 0; i < b->n_ifs && l.ok; i++) {
			bool within = false;

			for (size_t j = 0; j < p->hub.n_enc_ifs && !within; j++)
				within = zt_ifpat_within(&p->hub.enc_ifs[j], &b->ifs[i]);
			if (!within) {
				l.ok = false;
				snprintf(l.why, sizeof(l.why), "%s of boundary '%s' is not in hub.encrypted-interfaces",
					 zt_ifpat_fmt(&b->ifs[i], pat, sizeof(pat)), b->name);
			} else if (b->ifs[i].wildcard || !x->env || !x->env->link_kind) {
				l.assumed = true;
			} else {
				iface_encrypting(x, b->ifs[i].name, &l);
			}
		}
		return l;
	}
	snprintf(l.why, sizeof(l.why), "the interface it crosses is unknown; name it with iface:NAME");
	return l;
}

/* Both legs of an encrypted flow; *bad is the unprotected one (0 source, 1 destination). */
static bool flow_encrypted(struct xctx *x, const struct zt_flow *f, struct leg *l, int *bad)
{
	const struct zt_side *sides[2] = { &x->e->from, &x->e->to };
	bool assumed = false;

	*l = (struct leg){ .ok = true };
	if (!f->encrypted)
		return true;
	for (int i = 0; i < 2; i++) {
		*l = leg_protected(x, sides[i], x->family);
		if (!l->ok) {
			*bad = i;
			return false;
		}
		assumed |= l->assumed;
	}
	l->assumed = assumed;
	return true;
}

static const struct zt_flow *match_hub_flow(struct xctx *x)
{
	const struct zt_policy *p = x->p;
	struct zt_explanation *e = x->e;
	bool near_miss = false;

	for (size_t i = 0; i < p->hub.n_flows; i++) {
		const struct zt_flow *f = &p->hub.flows[i];
		struct leg l;
		int bad = 0;

		if (!refs_cover(f->from, f->n_from, &e->from.zone, false) ||
		    !refs_cover(f->to, f->n_to, &e->to.zone, false) ||
		    !ports_cover(f, &e->pkt, x->family))
			continue;
		if (!flow_encrypted(x, f, &l, &bad)) {
			if (!near_miss)
				note(e, "flow '%s' would allow this but is encrypted, and the %s leg is not "
				     "protected: %s", f->name, bad ? "destination" : "source", l.why);
			near_miss = true;
			continue;
		}
		if (l.assumed)
			note(e, "offline, link kinds are unknown: interfaces in hub.encrypted-interfaces are "
			     "taken to be encrypting links (wireguard, xfrm, vti, ip6vti)");
		return f;
	}
	return NULL;
}

static const struct zt_flow *match_rule(struct xctx *x, const struct zt_segment *s)
{
	struct zt_explanation *e = x->e;

	for (size_t i = 0; i < s->n_rules; i++) {
		const struct zt_flow *f = &s->rules[i];

		if (refs_cover(f->from, f->n_from, &e->from.zone, true) &&
		    refs_cover(f->to, f->n_to, &e->to.zone, true) &&
		    ports_cover(f, &e->pkt, x->family))
			return f;
	}
	return NULL;
}

/* ---- The verdict (SEMANTICS.md, "Verdict order") ---- */

/* A grant that covers the probe: the source address itself, a zone of from, one of to, one of the ports. */
static const struct zt_explain_grant *match_grant(struct xctx *x, const struct zt_zone *fz, const struct zt_zone *tz)
{
	const struct zt_endpoint *from = x->from;

	for (size_t i = 0; i < x->n_grants; i++) {
		const struct zt_explain_grant *g = &x->grants[i];
		const struct zt_flow *tf = &g->tmpl->f;
		bool to_ok = false;

		if (!g->hypothetical &&
		    (!from->has_addr || from->family != g->family ||
		     memcmp(from->addr, g->addr, g->family == AF_INET ? 4 : 16) != 0))
			continue;
		for (size_t k = 0; k < tf->n_to; k++)
			to_ok |= (g->to_ref < 0 || g->to_ref == (int)k) && hub_ref_covers(&tf->to[k].zone, tz);
		if (to_ok && refs_cover(tf->from, tf->n_from, fz, false) && ports_cover(tf, &x->e->pkt, x->family))
			return g;
	}
	return NULL;
}

static void decide(struct xctx *x, const struct zt_endpoint *from)
{
	const struct zt_policy *p = x->p;
	struct zt_explanation *e = x->e;
	const struct zt_zone *fz = &e->from.zone, *tz = &e->to.zone;
	bool host = fz->kind == ZT_ZONE_HOST || tz->kind == ZT_ZONE_HOST;
	bool member = is_member_zone(fz) || is_member_zone(tz);
	bool rpf, isolated = false, to_zone;
	const struct zt_flow *f;

	/* Loopback passes unless a unit zone is on either side (its sockets are judged). */
	if (!unit_zone(p, fz) && !unit_zone(p, tz) &&
	    (e->from.how == ZT_CLASS_LOOPBACK || e->to.how == ZT_CLASS_LOOPBACK ||
	     (fz->kind == ZT_ZONE_HOST && tz->kind == ZT_ZONE_HOST))) {
		e->allow = true;
		e->reason = ZT_REASON_LOOPBACK;
		return;
	}

	/* RPF covers what the host forwards, and what it receives when it protects itself. */
	rpf = tz->kind == ZT_ZONE_HOST || unit_zone(p, tz) ? p->hub.protect_host : true;
	to_zone = is_member_zone(tz) || (tz->kind == ZT_ZONE_HOST && p->hub.protect_host);
	if (fz->kind != ZT_ZONE_HOST && !unit_zone(p, fz) && e->from.how != ZT_CLASS_LOOPBACK &&
	    spoofed(x, from, rpf, to_zone)) {
		e->allow = false;
		e->reason = ZT_REASON_SPOOFED;
		return;
	}

	/*
	 * ND and MLD are link-local: they pass to and from the host (the
	 * kernel also wants hop limit 255 for ND, 1 and a link-local or
	 * unspecified source for MLD, which a probe cannot say) and are never
	 * forwarded between zones.
	 */
	if (x->family == AF_INET6 && e->pkt.proto == ZT_PROTO_ICMPV6 && e->pkt.icmp_type >= 0) {
		bool nd = false, mld = false;

		for (size_t i = 0; i < ELEMENTSOF(nd_types); i++)
			nd |= e->pkt.icmp_type == nd_types[i];
		for (size_t i = 0; i < ELEMENTSOF(mld_types); i++)
			mld |= e->pkt.icmp_type == mld_types[i];
		if (mld && fz->kind != ZT_ZONE_HOST && from->has_addr &&
		    !zt_addr_is_linklocal_or_unspec(from->family, from->addr))
			mld = false;	/* not MLD as the host takes it: an ordinary packet */
		if ((nd || mld) && host) {
			e->allow = true;
			e->reason = ZT_REASON_NEIGHBOUR;
			return;
		}
		if ((nd || mld) && (member || p->hub.scope == ZT_SCOPE_ALL)) {
			e->allow = false;
			e->reason = ZT_REASON_LINKLOCAL;
			e->verdict = ZT_DEFAULT_DROP;
			return;
		}
	}

	if (host && !p->hub.protect_host) {
		e->allow = true;
		e->reason = ZT_REASON_HOST_NOT_PROTECTED;
		return;
	}
	if (!host && !member && p->hub.scope == ZT_SCOPE_MEMBERS) {
		e->allow = true;
		e->reason = ZT_REASON_OUT_OF_SCOPE;
		return;
	}

	if ((f = match_hub_flow(x))) {
		e->allow = true;
		e->reason = ZT_REASON_HUB_FLOW;
		e->flow = f;
		return;
	}

	if (is_member_zone(fz) && is_member_zone(tz) && fz->seg == tz->seg) {
		const struct zt_segment *s = &p->segs[fz->seg];

		if (fz->kind == tz->kind && fz->sub == tz->sub) {
			if (!s->isolate) {
				e->allow = true;
				e->reason = ZT_REASON_SAME_ZONE;
				return;
			}
			isolated = true;
		}
		if ((f = match_rule(x, s))) {
			e->allow = true;
			e->reason = ZT_REASON_SEGMENT_RULE;
			e->flow = f;
			return;
		}
	}

	if ((e->grant = match_grant(x, fz, tz))) {
		e->allow = true;
		e->reason = ZT_REASON_JIT;
		return;
	}

	e->allow = false;
	e->reason = isolated ? ZT_REASON_ISOLATED : ZT_REASON_DEFAULT;
	e->verdict = p->hub.dflt;
	e->would_deny = zt_policy_observes(p, fz, tz);
}

/* "mode: observe (segment 'web' ztseg.yaml:14:11, hub.mode ztseg.yaml:5:9)": what decides a deny's fate. */
static void mode_fmt(const struct zt_policy *p, const struct zt_explanation *e, FILE *f)
{
	const struct zt_zone *z[2] = { &e->from.zone, &e->to.zone };
	bool any = false;

	fprintf(f, "mode: %s", e->would_deny ? "observe: would deny, passes" : "enforce");
	for (int i = 0; i < 2; i++) {
		const struct zt_pos *pos;

		if ((z[i]->kind != ZT_ZONE_SEGMENT && z[i]->kind != ZT_ZONE_SUBNET) || z[i]->seg < 0 ||
		    (i == 1 && z[0]->seg == z[1]->seg && (z[0]->kind == ZT_ZONE_SEGMENT || z[0]->kind == ZT_ZONE_SUBNET)))
			continue;
		pos = zt_mode_pos(p, (size_t)z[i]->seg);
		fprintf(f, "%ssegment '%s' %s", any ? ", " : " (", p->segs[z[i]->seg].name,
			zt_segment_mode(p, (size_t)z[i]->seg) == ZT_MODE_OBSERVE ? "observes" : "enforces");
		if (pos->file && pos->line)
			fprintf(f, " %s:%u:%u", pos->file, pos->line, pos->col);
		any = true;
	}
	if (!any)
		fprintf(f, " (no segment: hub.mode %s", p->hub.mode == ZT_MODE_OBSERVE ? "observe" : "enforce");
	if (!any && p->hub.mode_pos.file)
		fprintf(f, " %s:%u:%u", p->hub.mode_pos.file, p->hub.mode_pos.line, p->hub.mode_pos.col);
	fputs(")\n", f);
}

/* Is any segment, or the hub, in observe mode? Then denies say which mode decided. */
static bool policy_observes_any(const struct zt_policy *p)
{
	if (p->hub.mode == ZT_MODE_OBSERVE)
		return true;
	for (size_t i = 0; i < p->n_segs; i++)
		if (zt_segment_mode(p, i) == ZT_MODE_OBSERVE)
			return true;
	return false;
}

static int resolve(const struct zt_policy *p, const struct zt_endpoint *ep, struct zt_zone *ret,
		   struct zt_diags *d)
{
	char sb[ZT_ENDPOINT_NAME_MAX];
	const char *s;

	if (zt_policy_find_zone(p, ep->zone, ret) == 0)
		return 0;
	s = zt_policy_suggest_zone(p, -1, ep->zone, sb, sizeof(sb));
	if (s)
		return zt_diag_error(d, NULL, 0, 0, "unknown zone '%s' (did you mean '%s'?)", ep->zone, s);
	return zt_diag_error(d, NULL, 0, 0, "unknown zone '%s': expected an address, a segment, "
			     "segment.subnet, boundary, host, world or iface:NAME[,ADDRESS]", ep->zone);
}

static bool probe_concrete(const struct zt_port *pkt)
{
	switch (pkt->proto) {
	case ZT_PROTO_TCP:
	case ZT_PROTO_UDP:
	case ZT_PROTO_SCTP:
		return pkt->lo == pkt->hi;
	case ZT_PROTO_ICMP:
	case ZT_PROTO_ICMPV6:
		return true;
	default:
		return false;
	}
}

int zt_explain(const struct zt_policy *p, const struct zt_endpoint *from,
	       const struct zt_endpoint *to, const struct zt_port *pkt,
	       const struct zt_explain_env *env, struct zt_explanation *ret,
	       struct zt_diags *d)
{
	return zt_explain_grants(p, from, to, pkt, env, NULL, 0, ret, d);
}

int zt_explain_grants(const struct zt_policy *p, const struct zt_endpoint *from,
		      const struct zt_endpoint *to, const struct zt_port *pkt,
		      const struct zt_explain_env *env, const struct zt_explain_grant *grants,
		      size_t n_grants, struct zt_explanation *ret, struct zt_diags *d)
{
	struct zt_explanation e = { .pkt = *pkt };
	struct zt_zone fz, tz;
	struct xctx x = { .p = p, .env = env, .e = &e, .grants = grants, .n_grants = n_grants };
	int r = 0, rz;

	if (!probe_concrete(pkt))
		r = zt_diag_error(d, NULL, 0, 0, "the probe must be one packet: tcp/PORT, udp/PORT, "
				  "sctp/PORT, icmp[/TYPE] or icmpv6[/TYPE], not a range or 'any'");
	if (from->has_addr && to->has_addr && from->family != to->family)
		r = zt_diag_error(d, NULL, 0, 0, "the source is %s and the destination %s: one packet "
				  "has one address family", from->family == AF_INET ? "IPv4" : "IPv6",
				  to->family == AF_INET ? "IPv4" : "IPv6");
	if (from->has_addr)
		x.family = from->family;
	else if (to->has_addr)
		x.family = to->family;
	else
		x.family = pkt->proto == ZT_PROTO_ICMPV6 ? AF_INET6 : AF_INET;
	if (pkt->proto == ZT_PROTO_ICMP && x.family != AF_INET)
		r = zt_diag_error(d, NULL, 0, 0, "icmp is IPv4 only; use icmpv6 for IPv6 addresses");
	else if (pkt->proto == ZT_PROTO_ICMPV6 && x.family != AF_INET6)
		r = zt_diag_error(d, NULL, 0, 0, "icmpv6 is IPv6 only; use icmp for IPv4 addresses");
	if (from->zone[0] && (rz = resolve(p, from, &fz, d)) < 0)
		r = rz;
	if (to->zone[0] && (rz = resolve(p, to, &tz, d)) < 0)
		r = r == -ENOMEM ? r : rz;
	if (r < 0)
		return r;

	e.family = x.family;
	classify(&x, from, true, from->zone[0] ? &fz : NULL, &e.from);
	classify(&x, to, false, to->zone[0] ? &tz : NULL, &e.to);
	x.from = from;
	decide(&x, from);
	/*
	 * SPEC §3 consults grants before flows; they only allow, so the verdict
	 * is the same either way. What the order decides is whose connection it
	 * is: one a standing rule allows stays that rule's (its mark, counter
	 * and log), so that a revoke or expiry of the grant never cuts standing
	 * access (doc/RULESET.md "Grants").
	 */
	if (e.allow && (e.reason == ZT_REASON_HUB_FLOW || e.reason == ZT_REASON_SAME_ZONE ||
			e.reason == ZT_REASON_SEGMENT_RULE)) {
		const struct zt_explain_grant *g = match_grant(&x, &e.from.zone, &e.to.zone);

		if (g)
			note(&e, "%s covers it too: the connection is the flow's, a revoke or expiry leaves it",
			     g->what);
	}
	*ret = e;
	return 0;
}

/* ---- Output ---- */

static const char *side_how(const struct zt_side *sd, uint8_t family, char *buf, size_t len)
{
	char a[ZT_CIDR_STRLEN];

	switch (sd->how) {
	case ZT_CLASS_NAME:
		snprintf(buf, len, "named");
		break;
	case ZT_CLASS_HOST:
		snprintf(buf, len, "local address %s", zt_addr_fmt(family, sd->addr, a, sizeof(a)));
		break;
	case ZT_CLASS_LOOPBACK:
		snprintf(buf, len, "loopback");
		break;
	case ZT_CLASS_UNIT:
		snprintf(buf, len, sd->zone.kind == ZT_ZONE_HOST ? "a systemd unit no unit segment lists"
								   : "a socket of a listed systemd unit");
		break;
	case ZT_CLASS_INTERFACE:
		snprintf(buf, len, "interface %s", sd->ifname);
		break;
	case ZT_CLASS_ROUTED:
		snprintf(buf, len, "routed via %s", sd->via);
		break;
	case ZT_CLASS_STATIC:
		snprintf(buf, len, "static %s", zt_cidr_fmt(sd->prefix, a, sizeof(a)));
		break;
	case ZT_CLASS_LINKLOCAL:
		if (sd->ifname[0])
			snprintf(buf, len, "link-local or unspecified source, by interface %s", sd->ifname);
		else
			snprintf(buf, len, "link-local or unspecified source, no interface");
		break;
	default:
		snprintf(buf, len, "no zone claims it");
		break;
	}
	return buf;
}

static void spoof_fmt(const struct zt_policy *p, const struct zt_explanation *e, char *buf,
		      size_t len)
{
	char a[ZT_CIDR_STRLEN];
	const char *in = e->from.ifname;
	const struct zt_zone *z = &e->spoof.zone;

	zt_addr_fmt(e->family, e->from.addr, a, sizeof(a));
	switch (e->spoof.kind) {
	case ZT_SPOOF_SEGMENT_ADDRESS:
		if (e->spoof.route[0])
			snprintf(buf, len, "source %s is routed to segment '%s' (via %s) but arrived on %s",
				 a, p->segs[z->seg].name, e->spoof.route, in);
		else
			snprintf(buf, len, "source %s belongs to segment '%s' but arrived on %s",
				 a, p->segs[z->seg].name, in);
		break;
	case ZT_SPOOF_BOUNDARY_ADDRESS:
		snprintf(buf, len, "source %s belongs to boundary '%s' but arrived on %s",
			 a, p->hub.boundaries[z->bnd].name, in);
		break;
	case ZT_SPOOF_MEMBER_INTERFACE:
		snprintf(buf, len, "source %s is not an address of segment '%s' but arrived on its interface %s",
			 a, p->segs[z->seg].name, in);
		break;
	case ZT_SPOOF_BOUNDARY_INTERFACE:
		snprintf(buf, len, "source %s is not an address of boundary '%s' but arrived on its interface %s",
			 a, p->hub.boundaries[z->bnd].name, in);
		break;
	case ZT_SPOOF_RPF:
		if (e->spoof.route[0])
			snprintf(buf, len, "reverse path: the route back to %s leaves through %s, not %s (rpf: %s)",
				 a, e->spoof.route, in, p->hub.rpf == ZT_RPF_STRICT ? "strict" : "loose");
		else
			snprintf(buf, len, "reverse path: no route back to %s (rpf: %s)",
				 a, p->hub.rpf == ZT_RPF_STRICT ? "strict" : "loose");
		break;
	case ZT_SPOOF_BRIDGE_LINKLOCAL:
		snprintf(buf, len, "link-local or unspecified source %s from %s, which may be a port of a bridge: "
			 "segment's bridge: only DHCP client, ND and MLD pass there", a, in);
		break;
	case ZT_SPOOF_ROUTER_MESSAGE:
		snprintf(buf, len, "%s %s from %s, a member interface of segment '%s'",
			 e->family == AF_INET6 ? "icmpv6" : "icmp",
			 e->pkt.icmp_type == 134 ? "router advertisement" : "redirect",
			 in, p->segs[z->seg].name);
		break;
	default:
		snprintf(buf, len, "spoofed");
		break;
	}
}

static void pos_fmt(const struct zt_pos *pos, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u:%u", pos->file ? pos->file : "?", pos->line, pos->col);
}

int zt_explanation_format(const struct zt_policy *p, const struct zt_explanation *e,
			  FILE *f)
{
	char zb[ZT_ENDPOINT_NAME_MAX], hb[ZT_EXPLAIN_NOTE_LEN], pb[512], pk[64];
	const char *dflt = e->verdict == ZT_DEFAULT_REJECT ? "reject" : "drop";

	fprintf(f, "%s\n", e->allow ? "allow" : e->would_deny ? "would-deny" : "deny");
	fprintf(f, "from: %s (%s)\n", zt_zone_fmt(p, &e->from.zone, zb, sizeof(zb)),
		side_how(&e->from, e->family, hb, sizeof(hb)));
	fprintf(f, "to: %s (%s)\n", zt_zone_fmt(p, &e->to.zone, zb, sizeof(zb)),
		side_how(&e->to, e->family, hb, sizeof(hb)));

	switch (e->reason) {
	case ZT_REASON_LOOPBACK:
		fprintf(f, "by: loopback\n");
		break;
	case ZT_REASON_SPOOFED:
		spoof_fmt(p, e, hb, sizeof(hb));
		fprintf(f, "by: spoofed: %s\n", hb);
		break;
	case ZT_REASON_NEIGHBOUR:
		fprintf(f, "by: neighbour discovery / MLD (%s passes to and from the host)\n",
			zt_port_fmt(&e->pkt, pk, sizeof(pk)));
		break;
	case ZT_REASON_LINKLOCAL:
		fprintf(f, "by: link-local ICMPv6 (%s is never forwarded between zones)\n",
			zt_port_fmt(&e->pkt, pk, sizeof(pk)));
		break;
	case ZT_REASON_OUT_OF_SCOPE:
		fprintf(f, "by: out of scope (scope: members)\n");
		break;
	case ZT_REASON_HOST_NOT_PROTECTED:
		fprintf(f, "by: host not protected (protect-host: false)\n");
		break;
	case ZT_REASON_HUB_FLOW:
		pos_fmt(&e->flow->pos, pb, sizeof(pb));
		fprintf(f, "by: flow '%s' (%s)\n", e->flow->name, pb);
		break;
	case ZT_REASON_SAME_ZONE:
		fprintf(f, "by: same zone %s (segment '%s' does not isolate)\n",
			zt_zone_fmt(p, &e->from.zone, zb, sizeof(zb)), p->segs[e->from.zone.seg].name);
		break;
	case ZT_REASON_SEGMENT_RULE:
		pos_fmt(&e->flow->pos, pb, sizeof(pb));
		fprintf(f, "by: segment '%s' rule '%s' (%s)\n", p->segs[e->flow->seg].name,
			e->flow->name, pb);
		break;
	case ZT_REASON_JIT:
		fprintf(f, "by: %s\n", e->grant->what);
		break;
	case ZT_REASON_ISOLATED:
		fprintf(f, "by: default verdict %s (hub.default; segment '%s' has isolate: true)\n",
			dflt, p->segs[e->from.zone.seg].name);
		break;
	default:
		fprintf(f, "by: default verdict %s (hub.default)\n", dflt);
		break;
	}
	if ((e->reason == ZT_REASON_DEFAULT || e->reason == ZT_REASON_ISOLATED) && policy_observes_any(p))
		mode_fmt(p, e, f);
	for (size_t i = 0; i < e->n_notes; i++)
		fprintf(f, "note: %s\n", e->notes[i]);
	if (fflush(f) == EOF || ferror(f))
		return errno > 0 ? -errno : -EIO;
	return 0;
}
