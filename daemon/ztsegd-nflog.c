/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Packets the rules log (NFLOG) written to the journal with their zones,
 * flow and policy line, at most PACKET_RATE a second.
 */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include "explain.h"
#include "ztsegd.h"

/* The log prefixes the compiler gives the rules (lib/compile.c). */
#define PREFIX_DENY "ztseg deny "
#define PREFIX_SPOOF "ztseg spoof "
#define PREFIX_ALLOW "ztseg allow "
#define PREFIX_WOULD_DENY "ztseg would-deny "
#define PREFIX_FEED "ztseg feed "

static const char *ifname_of(struct manager *m, uint32_t ifindex, char *buf, size_t len)
{
	const struct zt_rtnl_link *l = ifindex ? zt_rtnl_state_link(zt_rtnl_state(m->rtnl), (int)ifindex) : NULL;

	if (!ifindex)
		return NULL;
	if (l)
		return l->name;
	snprintf(buf, len, "#%u", ifindex);
	return buf;
}

static const char *proto_name(const struct zt_nflog_packet *pkt, char *buf, size_t len)
{
	const char *name = zt_ip_proto_name(pkt->proto);

	if (name)
		return name;
	snprintf(buf, len, "proto %u", pkt->proto);
	return buf;
}

static const char *pos_fmt(const struct zt_pos *pos, char *buf, size_t len)
{
	if (!pos->file)
		snprintf(buf, len, "?");
	else if (pos->line)
		snprintf(buf, len, "%s:%u", pos->file, pos->line);
	else
		snprintf(buf, len, "%s", pos->file);
	return buf;
}

static const struct zt_pos *zone_pos(const struct zt_policy *p, const struct zt_zone *z)
{
	if ((z->kind == ZT_ZONE_SEGMENT || z->kind == ZT_ZONE_SUBNET) && z->seg >= 0)
		return z->kind == ZT_ZONE_SUBNET && z->sub >= 0 ? &p->segs[z->seg].subnets[z->sub].pos
								 : &p->segs[z->seg].pos;
	if (z->kind == ZT_ZONE_BOUNDARY && z->bnd >= 0)
		return &p->hub.boundaries[z->bnd].pos;
	return &p->hub.pos;
}

static const char *spoof_text(const struct zt_policy *p, const struct zt_explanation *e, char *buf, size_t len)
{
	char zb[ZT_ENDPOINT_NAME_MAX], pb[256];

	zt_zone_fmt(p, &e->spoof.zone, zb, sizeof(zb));
	pos_fmt(zone_pos(p, &e->spoof.zone), pb, sizeof(pb));
	switch (e->spoof.kind) {
	case ZT_SPOOF_SEGMENT_ADDRESS:
		snprintf(buf, len, "an address of segment %s arrived on another interface (%s)", zb, pb);
		break;
	case ZT_SPOOF_BOUNDARY_ADDRESS:
		snprintf(buf, len, "an address of boundary %s arrived on another interface (%s)", zb, pb);
		break;
	case ZT_SPOOF_MEMBER_INTERFACE:
		snprintf(buf, len, "an interface of segment %s carried an address not its own (%s)", zb, pb);
		break;
	case ZT_SPOOF_BOUNDARY_INTERFACE:
		snprintf(buf, len, "an interface of boundary %s carried an address not its own (%s)", zb, pb);
		break;
	case ZT_SPOOF_RPF:
		snprintf(buf, len, "reverse path check failed%s%s (hub.rpf, %s)", e->spoof.route[0] ? ": the route leaves through " : "",
			 e->spoof.route, pos_fmt(&p->hub.pos, pb, sizeof(pb)));
		break;
	case ZT_SPOOF_ROUTER_MESSAGE:
		snprintf(buf, len, "router advertisement or redirect from a member interface (%s)", pb);
		break;
	default:
		snprintf(buf, len, "spoofed");
		break;
	}
	return buf;
}

/* What decided, with the policy line. */
static const char *why_text(const struct zt_policy *p, const struct zt_explanation *e, const char **flow,
			    struct zt_pos *where, char *buf, size_t len)
{
	const char *dflt = e->verdict == ZT_DEFAULT_REJECT ? "reject" : "drop";
	char pb[256];

	*flow = NULL;
	*where = (struct zt_pos){};
	switch (e->reason) {
	case ZT_REASON_SPOOFED:
		*where = *zone_pos(p, &e->spoof.zone);
		return spoof_text(p, e, buf, len);
	case ZT_REASON_HUB_FLOW:
		*flow = e->flow->name;
		*where = e->flow->pos;
		snprintf(buf, len, "flow '%s' (%s)", e->flow->name, pos_fmt(&e->flow->pos, pb, sizeof(pb)));
		return buf;
	case ZT_REASON_SEGMENT_RULE:
		*flow = e->flow->name;
		*where = e->flow->pos;
		snprintf(buf, len, "segment '%s' rule '%s' (%s)", p->segs[e->flow->seg].name, e->flow->name,
			 pos_fmt(&e->flow->pos, pb, sizeof(pb)));
		return buf;
	case ZT_REASON_SAME_ZONE:
		*where = p->segs[e->from.zone.seg].pos;
		snprintf(buf, len, "same zone (%s)", pos_fmt(where, pb, sizeof(pb)));
		return buf;
	case ZT_REASON_ISOLATED:
		*where = p->segs[e->from.zone.seg].pos;
		snprintf(buf, len, "default verdict %s: segment '%s' isolates (%s)", dflt, p->segs[e->from.zone.seg].name,
			 pos_fmt(where, pb, sizeof(pb)));
		return buf;
	case ZT_REASON_DEFAULT:
		*where = p->hub.dflt_pos.file ? p->hub.dflt_pos : p->hub.pos;
		snprintf(buf, len, "default verdict %s (hub.default, %s)", dflt, pos_fmt(where, pb, sizeof(pb)));
		return buf;
	case ZT_REASON_OUT_OF_SCOPE:
		snprintf(buf, len, "out of scope");
		return buf;
	case ZT_REASON_HOST_NOT_PROTECTED:
		snprintf(buf, len, "host not protected");
		return buf;
	case ZT_REASON_NEIGHBOUR:
		snprintf(buf, len, "neighbour discovery");
		return buf;
	case ZT_REASON_LINKLOCAL:
		snprintf(buf, len, "link-local ICMPv6, never forwarded");
		return buf;
	default:
		snprintf(buf, len, "loopback");
		return buf;
	}
}

/* "192.0.2.1:80", "[2001:db8::1]:80", or the address alone. */
static void host_port(uint8_t family, const char *addr, const char *port, char *buf, size_t len)
{
	if (!port[0])
		snprintf(buf, len, "%s", addr);
	else if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", addr, port);
	else
		snprintf(buf, len, "%s:%s", addr, port);
}

/* The flow a "ztseg allow NAME " prefix names: hub flow, "SEG:RULE", "SEG same-zone" or "out-of-scope". */
static const struct zt_flow *flow_by_logname(const struct zt_policy *p, const char *name)
{
	const char *colon = strchr(name, ':');

	if (!colon) {
		for (size_t i = 0; i < p->hub.n_flows; i++)
			if (streq(p->hub.flows[i].name, name))
				return &p->hub.flows[i];
		return NULL;
	}
	for (size_t s = 0; s < p->n_segs; s++) {
		if (strlen(p->segs[s].name) != (size_t)(colon - name) ||
		    strncmp(p->segs[s].name, name, (size_t)(colon - name)) != 0)
			continue;
		for (size_t i = 0; i < p->segs[s].n_rules; i++)
			if (streq(p->segs[s].rules[i].name, colon + 1))
				return &p->segs[s].rules[i];
	}
	return NULL;
}

/* What the log line says of a packet beyond its addresses and why: zones, the segment, the flow. */
struct packet_why {
	char fz[ZT_ENDPOINT_NAME_MAX], tz[ZT_ENDPOINT_NAME_MAX];
	char seg[ZT_NAME_MAX + 1];
	const char *flow;
	struct zt_pos where;
	bool explained;
};

/* The rule's verdict from its log prefix; -ENOMSG for another group member's packet. */
static int packet_verdict(const struct zt_nflog_packet *pkt, const char **ret_verdict, int *ret_prio,
			  char lname[ZT_NFLOG_PREFIX_MAX])
{
	lname[0] = '\0';
	if (strncmp(pkt->prefix, PREFIX_DENY, strlen(PREFIX_DENY)) == 0) {
		*ret_verdict = "deny";
		*ret_prio = LOG_NOTICE;
	} else if (strncmp(pkt->prefix, PREFIX_WOULD_DENY, strlen(PREFIX_WOULD_DENY)) == 0) {
		*ret_verdict = "would-deny";	/* observe mode: passed */
		*ret_prio = LOG_NOTICE;
	} else if (strncmp(pkt->prefix, PREFIX_SPOOF, strlen(PREFIX_SPOOF)) == 0) {
		*ret_verdict = "spoof";
		*ret_prio = LOG_NOTICE;
	} else if (strncmp(pkt->prefix, PREFIX_ALLOW, strlen(PREFIX_ALLOW)) == 0) {
		size_t n;

		*ret_verdict = "allow";
		*ret_prio = LOG_INFO;
		snprintf(lname, ZT_NFLOG_PREFIX_MAX, "%s", pkt->prefix + strlen(PREFIX_ALLOW));
		n = strlen(lname);
		while (n && lname[n - 1] == ' ')
			lname[--n] = '\0';
	} else {
		return -ENOMSG;
	}
	return 0;
}

/*
 * The unit zones on the packet's sides. While a connection is judged its
 * mark holds the zone pair (source << 16 | destination; bit 31 clear), and
 * a packet to a unit's socket carries its zone's token in the packet mark
 * (doc/RULESET.md "Unit zones"); NFLOG sends the connection's mark only
 * where the kernel has CONFIG_NETFILTER_NETLINK_GLUE_CT, so the deny rule
 * writes each side's unit zone, as its log index (zt_unit_log_index()),
 * into the packet-mark bits ztseg owns (hub.mark-mask). Each side: 1 a unit named, 0 a unit
 * zone's segment named (several of its units run), -1 no unit zone.
 */
struct packet_units {
	int from, to;
	char fu[ZT_UNIT_NAME_MAX + 1], tu[ZT_UNIT_NAME_MAX + 1];
};

static void packet_units(struct manager *m, const struct zt_nflog_packet *pkt, bool deny, struct packet_units *u)
{
	const struct zt_policy *p = m->cur.policy;
	uint32_t pair = pkt->has_ct_mark ? pkt->ct_mark : 0, fz = 0, tz = 0;

	u->from = u->to = -1;
	if (!pkt->has_ct_mark && deny && p) {
		/* The deny rule writes the unit zones' log indices into the mark bits ztseg owns. */
		fz = zt_unit_log_zone(p, pkt->mark, true);
		tz = zt_unit_log_zone(p, pkt->mark, false);
	} else if ((pkt->mark & 0xffff0000u) == ZT_UNIT_TOKEN && pkt->hook == NF_INET_LOCAL_IN) {
		tz = pkt->mark & 0xffffu;
	} else if (!(pair & 0x80000000u)) {
		fz = pair >> 16;
		tz = pair & 0xffffu;
	}
	if (fz && (u->from = manager_units_name(m, fz, u->fu, sizeof(u->fu))) < 0)
		u->from = -1;
	if (tz && (u->to = manager_units_name(m, tz, u->tu, sizeof(u->tu))) < 0)
		u->to = -1;
}

/* One side of the question that is a unit zone: the unit (unit:NAME) or its segment. */
static void unit_endpoint(int k, const char *name, struct zt_endpoint *ep)
{
	*ep = (struct zt_endpoint){};
	if (k > 0)
		snprintf(ep->unit, sizeof(ep->unit), "%s", name);
	else
		snprintf(ep->zone, sizeof(ep->zone), "%.*s", (int)sizeof(ep->zone) - 1, name);	/* a segment name fits */
}

/* The packet as explain's question: from, to and port, on the hooks and interfaces it was seen. */
static void packet_question(const struct zt_nflog_packet *pkt, const char *iif, const char *oif,
			    const struct packet_units *u, struct zt_endpoint *from, struct zt_endpoint *to,
			    struct zt_port *port)
{
	*from = (struct zt_endpoint){};
	*to = (struct zt_endpoint){};
	*port = (struct zt_port){ .icmp_type = -1 };
	if (pkt->hook == NF_INET_LOCAL_OUT) {
		snprintf(from->zone, sizeof(from->zone), "host");
	} else {
		from->has_addr = true;
		from->family = pkt->family;
		memcpy(from->addr, pkt->saddr, 16);
		if (iif && iif[0] != '#')
			snprintf(from->ifname, sizeof(from->ifname), "%.*s", IFNAMSIZ - 1, iif);
	}
	if (pkt->hook == NF_INET_LOCAL_IN) {
		snprintf(to->zone, sizeof(to->zone), "host");
	} else {
		to->has_addr = true;
		to->family = pkt->family;
		memcpy(to->addr, pkt->daddr, 16);
		if (oif && oif[0] != '#')
			snprintf(to->ifname, sizeof(to->ifname), "%.*s", IFNAMSIZ - 1, oif);
	}
	/* A unit's socket is its unit zone, whatever the addresses (loopback too). */
	if (u->from >= 0)
		unit_endpoint(u->from, u->fu, from);
	if (u->to >= 0)
		unit_endpoint(u->to, u->tu, to);
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		port->proto = pkt->proto == IPPROTO_TCP ? ZT_PROTO_TCP : pkt->proto == IPPROTO_UDP ? ZT_PROTO_UDP
												   : ZT_PROTO_SCTP;
		port->lo = port->hi = pkt->dport;
		break;
	default:
		port->proto = pkt->proto == IPPROTO_ICMP ? ZT_PROTO_ICMP : ZT_PROTO_ICMPV6;
		port->icmp_type = pkt->icmp_type;
		break;
	}
}

/* Classify both sides as the rules did: the reference semantics with the live routes. */
static void packet_explain(struct manager *m, const struct zt_policy *p, const struct zt_nflog_packet *pkt,
			   const char *verdict, const char *iif, const char *oif, const struct packet_units *u,
			   struct packet_why *w, char *why, size_t why_len)
{
	struct zt_endpoint from, to;
	struct zt_port port;
	struct zt_explain_env env;
	struct zt_explanation e;
	struct zt_diags d = {};

	packet_question(pkt, iif, oif, u, &from, &to, &port);
	manager_explain_env(m, &env);
	if (zt_explain(p, &from, &to, &port, &env, &e, &d) == 0) {
		w->explained = true;
		zt_zone_fmt(p, &e.from.zone, w->fz, sizeof(w->fz));
		zt_zone_fmt(p, &e.to.zone, w->tz, sizeof(w->tz));
		if (u->from > 0 && snprintf(w->fz, sizeof(w->fz), "unit:%s", u->fu) >= (int)sizeof(w->fz))
			zt_zone_fmt(p, &e.from.zone, w->fz, sizeof(w->fz));
		if (u->to > 0 && snprintf(w->tz, sizeof(w->tz), "unit:%s", u->tu) >= (int)sizeof(w->tz))
			zt_zone_fmt(p, &e.to.zone, w->tz, sizeof(w->tz));
		why_text(p, &e, &w->flow, &w->where, why, why_len);
		if ((e.from.zone.kind == ZT_ZONE_SEGMENT || e.from.zone.kind == ZT_ZONE_SUBNET) && e.from.zone.seg >= 0)
			snprintf(w->seg, sizeof(w->seg), "%s", p->segs[e.from.zone.seg].name);
		else if ((e.to.zone.kind == ZT_ZONE_SEGMENT || e.to.zone.kind == ZT_ZONE_SUBNET) && e.to.zone.seg >= 0)
			snprintf(w->seg, sizeof(w->seg), "%s", p->segs[e.to.zone.seg].name);
		/* The kernel's word is final; say so when the reference disagrees. */
		if ((verdict[0] == 'a') != e.allow || (verdict[0] == 's') != (e.reason == ZT_REASON_SPOOFED) ||
		    (verdict[0] == 'w') != e.would_deny) {
			char again[512];

			snprintf(again, sizeof(again), "%s%s (explain says %s by %s)",
				 verdict[0] == 'd' ? "hub.default: " : "", verdict[0] == 'd' ? "its flow is gone" : verdict,
				 e.allow ? "allow" : e.would_deny ? "would-deny" : "deny", why);
			snprintf(why, why_len, "%s", again);
			if (verdict[0] == 'd')
				w->where = p->hub.pos;
		} else if (verdict[0] == 'w') {
			char mb[512], pb[256];

			snprintf(mb, sizeof(mb), "%s; passed: observe mode (%s)", why,
				 pos_fmt(zt_mode_pos(p, e.from.zone.seg >= 0 ? (size_t)e.from.zone.seg :
						      e.to.zone.seg >= 0 ? (size_t)e.to.zone.seg : SIZE_MAX), pb, sizeof(pb)));
			snprintf(why, why_len, "%s", mb);
		}
	}
	zt_diags_clear(&d);
}

/* A packet a threat feed dropped: the feed, and the entry that listed it. */
static void feed_packet(struct manager *m, const struct zt_nflog_packet *pkt)
{
	char feed[ZT_NFLOG_PREFIX_MAX], why[1400] = "", sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], pb[24];
	struct zt_endpoint from = { .has_addr = true, .family = pkt->family },
			   to = { .has_addr = true, .family = pkt->family };
	size_t n;

	if (!log_on(LOG_NOTICE) || !zt_ratelimit_test(&m->packet_rl, now_usec(CLOCK_MONOTONIC)))
		return;
	snprintf(feed, sizeof(feed), "%s", pkt->prefix + strlen(PREFIX_FEED));
	n = strlen(feed);
	while (n && feed[n - 1] == ' ')
		feed[--n] = '\0';
	if (pkt->family != AF_INET && pkt->family != AF_INET6)
		return;
	memcpy(from.addr, pkt->saddr, 16);
	memcpy(to.addr, pkt->daddr, 16);
	if (manager_feeds_explain(m, &from, &to, why, sizeof(why)) <= 0)
		snprintf(why, sizeof(why), "deny: threat feed '%s'", feed);
	n = strlen(why);
	while (n && why[n - 1] == '\n')
		why[--n] = '\0';
	zt_addr_fmt(pkt->family, pkt->saddr, sa, sizeof(sa));
	zt_addr_fmt(pkt->family, pkt->daddr, da, sizeof(da));
	log_fields(LOG_NOTICE,
		   (const char *[]){ "ZTSEG_EVENT=packet", "ZTSEG_VERDICT=deny", log_field("ZTSEG_FEED", "%s", feed),
				     log_field("ZTSEG_SRC", "%s", sa), log_field("ZTSEG_DST", "%s", da) },
		   5, "deny %s %s -> %s: %s", proto_name(pkt, pb, sizeof(pb)), sa, da, why);
}

void manager_nflog_packet(const struct zt_nflog_packet *pkt, void *userdata)
{
	struct manager *m = userdata;
	const struct zt_policy *p = m->cur.policy;
	char lname[ZT_NFLOG_PREFIX_MAX], ib[24], ob[24], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], pb[24];
	char ports[2][8] = { "", "" }, why[512] = "", wb[256], src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8];
	struct packet_why w = { .fz = "?", .tz = "?" };
	struct packet_units u;
	const char *verdict, *iif, *oif, *proto;
	bool journal, record;
	int prio;

	if (strncmp(pkt->prefix, PREFIX_FEED, strlen(PREFIX_FEED)) == 0) {
		feed_packet(m, pkt);
		return;
	}
	if (packet_verdict(pkt, &verdict, &prio, lname) < 0)
		return;		/* another group member's packet */
	/* Denies are also connection log records (allowed connections come from conntrack). */
	record = verdict[0] != 'a';
	journal = log_on(prio) && zt_ratelimit_test(&m->packet_rl, now_usec(CLOCK_MONOTONIC));
	if (!journal && !record)
		return;
	iif = ifname_of(m, pkt->iif, ib, sizeof(ib));
	oif = ifname_of(m, pkt->oif, ob, sizeof(ob));
	if (pkt->family != AF_INET && pkt->family != AF_INET6) {
		if (journal)
			log_fields(prio, (const char *[]){ "ZTSEG_EVENT=packet", log_field("ZTSEG_VERDICT", "%s", verdict) }, 2,
			   "%s packet (not IP) in %s out %s", verdict, iif ? iif : "-", oif ? oif : "-");
		return;
	}
	zt_addr_fmt(pkt->family, pkt->saddr, sa, sizeof(sa));
	zt_addr_fmt(pkt->family, pkt->daddr, da, sizeof(da));
	proto = proto_name(pkt, pb, sizeof(pb));
	if (pkt->has_ports) {
		snprintf(ports[0], sizeof(ports[0]), "%u", pkt->sport);
		snprintf(ports[1], sizeof(ports[1]), "%u", pkt->dport);
	}
	if (p && (pkt->has_ports || pkt->has_icmp) &&
	    (pkt->proto == IPPROTO_TCP || pkt->proto == IPPROTO_UDP || pkt->proto == IPPROTO_SCTP ||
	     pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6)) {
		packet_units(m, pkt, verdict[0] == 'd', &u);
		packet_explain(m, p, pkt, verdict, iif, oif, &u, &w, why, sizeof(why));
	}
	if (lname[0]) {
		const struct zt_flow *f = p ? flow_by_logname(p, lname) : NULL;

		w.flow = f ? f->name : lname;
		if (f)
			w.where = f->pos;
		if (!w.explained || !why[0])
			snprintf(why, sizeof(why), "flow '%s' (%s)", lname, f ? pos_fmt(&f->pos, wb, sizeof(wb)) : "?");
	}
	if (!why[0])
		snprintf(why, sizeof(why), "%s", verdict[0] == 's' ? "anti-spoofing" : "hub.default");
	if (record)
		manager_flowlog_deny(m, pkt, verdict, w.fz, w.tz, w.flow);
	if (!journal)
		return;

	host_port(pkt->family, sa, ports[0], src, sizeof(src));
	host_port(pkt->family, da, ports[1], dst, sizeof(dst));
	log_fields(prio,
		   (const char *[]){ "ZTSEG_EVENT=packet", log_field("ZTSEG_VERDICT", "%s", verdict),
				     log_field("ZTSEG_SRC_ZONE", "%s", w.fz), log_field("ZTSEG_DST_ZONE", "%s", w.tz),
				     w.seg[0] ? log_field("ZTSEG_SEGMENT", "%s", w.seg) : NULL,
				     w.flow ? log_field("ZTSEG_FLOW", "%s", w.flow) : NULL,
				     w.where.file ? log_field("ZTSEG_POLICY", "%s", pos_fmt(&w.where, wb, sizeof(wb))) : NULL,
				     log_field("ZTSEG_PROTO", "%s", proto), log_field("ZTSEG_SRC", "%s", sa),
				     log_field("ZTSEG_DST", "%s", da),
				     ports[1][0] ? log_field("ZTSEG_DPORT", "%s", ports[1]) : NULL,
				     iif ? log_field("ZTSEG_IIF", "%s", iif) : NULL,
				     oif ? log_field("ZTSEG_OIF", "%s", oif) : NULL },
		   13, "%s %s %s -> %s%s%s%s%s: %s -> %s, %s", verdict, proto, src, dst, iif ? " in " : "",
		   iif ? iif : "", oif ? " out " : "", oif ? oif : "", w.fz, w.tz, why);
}

/* ---- the loop's side ---- */

void manager_nflog_open(struct manager *m)
{
	/* The connection's mark names the unit zones of a logged packet. */
	struct zt_nflog_config nc = { .group = (uint16_t)m->copts.log_group, .conntrack = true };
	int r;

	r = zt_nflog_open(&nc, &m->nflog);
	if (r >= 0 && !zt_nflog_conntrack(m->nflog))
		log_debug("NFLOG without connections (no NETLINK_GLUE_CT): unit zones from the packet mark");
	if (r < 0)
		log_warning("cannot read NFLOG group %u (%s): logged packets will not be written", nc.group,
			    r == -EPERM ? "another process has bound it, or no CAP_NET_ADMIN" : strerror(-r));
}

int manager_nflog_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nflog_receive(m->nflog, manager_nflog_packet, m);

	if (r < 0 && r != -EAGAIN)
		log_error("reading NFLOG: %s", strerror(-r));
	return 0;
}

int manager_nflog_on_report(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t n = zt_ratelimit_take_suppressed(&m->packet_rl);

	sd_event_source_set_time_relative(s, REPORT_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	manager_flowlog_report(m);
	if (n)
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=packets-suppressed" }, 1,
			   "%llu logged packets not written (more than %u per second)", (unsigned long long)n,
			   PACKET_RATE);
	return 0;
}
