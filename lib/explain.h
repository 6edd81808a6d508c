/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * explain: the reference semantics of doc/SEMANTICS.md. Classifies both
 * sides of one probe packet and says whether the policy allows it, and why.
 */
#ifndef ZT_EXPLAIN_H
#define ZT_EXPLAIN_H

#include <stdio.h>
#include "policy.h"

/* "db.primary": two names and the dot. */
#define ZT_ENDPOINT_NAME_MAX (2 * ZT_NAME_MAX + 2)

/*
 * One side of a probe, as the user wrote it: an address, a zone name
 * ("web", "db.primary", "onprem", "host", "world"), "iface:NAME",
 * "iface:NAME,ADDRESS" or "unit:NAME" (a socket of systemd unit NAME on
 * this host: its unit zone, or host when no unit segment lists it).
 */
struct zt_endpoint {
	char zone[ZT_ENDPOINT_NAME_MAX];	/* a zone name, or "" */
	char ifname[IFNAMSIZ];			/* the interface crossed, or "" when unknown */
	char unit[ZT_UNIT_NAME_MAX + 1];	/* unit:NAME: a host-local socket of that systemd unit, or "" */
	bool has_addr;
	uint8_t family;				/* with has_addr: AF_INET or AF_INET6 */
	uint8_t addr[16];
};

/*
 * Parse an endpoint. On failure returns -EINVAL and, if err is non-NULL,
 * points *err at a static string saying what was expected. Zone names are
 * only checked for shape here; zt_explain() resolves them.
 */
int zt_endpoint_parse(const char *s, struct zt_endpoint *ret, const char **err);

/* Link kinds trusted as encrypting when the environment gives none: zt_enc_kinds_default (links.h). */

/*
 * What the running system knows and a policy file does not. Pass NULL to
 * zt_explain() for offline use: then there are no routes (an
 * "iface:NAME,ADDRESS" address counts as routed through NAME), no local
 * addresses, and link kinds are unknown (an interface matching
 * hub.encrypted-interfaces is assumed to be an encrypting link, and the
 * explanation says so in a note). Any callback may be NULL.
 */
struct zt_explain_env {
	/*
	 * The output interface of the main table's route to addr, written
	 * into ifname; 0, or -ENOENT (or another -errno) when there is none.
	 */
	int (*route)(void *userdata, uint8_t family, const uint8_t *addr,
		     char ifname[IFNAMSIZ]);
	/* The link kind of an interface ("wireguard", "veth"), NULL if unknown. */
	const char *(*link_kind)(void *userdata, const char *ifname);
	/* Is addr one of this host's own addresses? */
	bool (*is_local)(void *userdata, uint8_t family, const uint8_t *addr);
	/* NULL-terminated; NULL means zt_enc_kinds_default. */
	const char *const *encrypting_kinds;
	void *userdata;
};

/* How one side was classified (SEMANTICS.md, "Classifying one side"). */
enum zt_class {
	ZT_CLASS_NONE,
	ZT_CLASS_NAME,		/* the user named the zone ("host" included) */
	ZT_CLASS_HOST,		/* one of the host's own addresses (live) */
	ZT_CLASS_LOOPBACK,	/* lo, 127.0.0.0/8, ::1 */
	ZT_CLASS_INTERFACE,	/* the interface is a member of a segment */
	ZT_CLASS_ROUTED,	/* the address is routed through a member interface */
	ZT_CLASS_STATIC,	/* longest-prefix match over static addresses */
	ZT_CLASS_LINKLOCAL,	/* link-local / unspecified source: by interface only */
	ZT_CLASS_WORLD,		/* nothing else matched */
	ZT_CLASS_UNIT,		/* unit:NAME: the unit segment listing it, or host */
};

struct zt_side {
	struct zt_zone zone;
	enum zt_class how;
	char ifname[IFNAMSIZ];		/* the interface crossed (given, or routed), or "" */
	char via[IFNAMSIZ];		/* ROUTED: the member interface the route leaves through */
	bool has_addr;
	uint8_t addr[16];
	const struct zt_cidr *prefix;	/* the policy prefix that placed it (static, subnet), or NULL */
};

enum zt_reason {
	ZT_REASON_LOOPBACK,
	ZT_REASON_SPOOFED,
	ZT_REASON_NEIGHBOUR,		/* ICMPv6 neighbour discovery / MLD to or from the host */
	ZT_REASON_LINKLOCAL,		/* ICMPv6 ND / MLD between zones: never forwarded */
	ZT_REASON_OUT_OF_SCOPE,
	ZT_REASON_HOST_NOT_PROTECTED,
	ZT_REASON_HUB_FLOW,
	ZT_REASON_SAME_ZONE,
	ZT_REASON_SEGMENT_RULE,
	ZT_REASON_DEFAULT,
	ZT_REASON_ISOLATED,		/* same zone, but the segment isolates: hub.default */
	ZT_REASON_JIT,			/* a just-in-time grant no standing flow or rule allows (SPEC: grants, then flows) */
};

/*
 * A grant explain takes into account: the daemon's live ones, or offline
 * a hypothetical one (`--grant TEMPLATE`) for whatever source the probe has.
 */
struct zt_explain_grant {
	const struct zt_jit *tmpl;
	int to_ref;			/* the template's to entry it is restricted to; -1: all */
	bool hypothetical;		/* any source address */
	uint8_t family;
	uint8_t addr[16];
	char what[640];			/* "jit grant 7 'admin-ssh' for 192.0.2.10 until …" */
};

enum zt_spoof {
	ZT_SPOOF_NONE,
	ZT_SPOOF_SEGMENT_ADDRESS,	/* a segment's address arrived on another interface */
	ZT_SPOOF_BOUNDARY_ADDRESS,	/* a bound boundary's address arrived on another interface */
	ZT_SPOOF_MEMBER_INTERFACE,	/* a member interface carried a foreign address */
	ZT_SPOOF_BOUNDARY_INTERFACE,	/* a bound boundary's interface carried a foreign address */
	ZT_SPOOF_RPF,			/* reverse path check failed */
	ZT_SPOOF_ROUTER_MESSAGE,	/* RA or redirect from a member interface */
	ZT_SPOOF_BRIDGE_LINKLOCAL,	/* link-local/unspecified source from a bridge: port: not DHCP client/ND/MLD */
};

#define ZT_EXPLAIN_NOTES_MAX 4
#define ZT_EXPLAIN_NOTE_LEN 832	/* a grant's what (640) and some words */

struct zt_explanation {
	bool allow;
	/* !allow by DEFAULT or ISOLATED, and every segment involved observes: it passes (observe mode) */
	bool would_deny;
	enum zt_reason reason;
	uint8_t family;			/* AF_INET or AF_INET6 */
	struct zt_port pkt;
	struct zt_side from, to;
	const struct zt_flow *flow;	/* HUB_FLOW, SEGMENT_RULE: what decided */
	const struct zt_explain_grant *grant;	/* JIT: the grant that decided */
	enum zt_default_verdict verdict;	/* DEFAULT, ISOLATED */
	struct {
		enum zt_spoof kind;
		struct zt_zone zone;	/* the segment or boundary concerned */
		char route[IFNAMSIZ];	/* where the route to the source leaves (live), or "" */
	} spoof;
	/* Assumptions made, and near misses worth knowing about. */
	char notes[ZT_EXPLAIN_NOTES_MAX][ZT_EXPLAIN_NOTE_LEN];
	size_t n_notes;
};

/*
 * Decide one probe: pkt must be concrete (tcp/udp/sctp with one port,
 * icmp/icmpv6 with or without a type). The family comes from the
 * addresses; with none it is IPv6 for icmpv6 and IPv4 otherwise. env is
 * NULL offline. Returns 0 with *ret filled in, or -EINVAL with the
 * problem in d (unknown zone, mixed families, a probe that is not
 * concrete), or -ENOMEM. Allocates nothing; the explanation points into
 * p (flow, prefixes) and is valid as long as p is.
 */
int zt_explain(const struct zt_policy *p, const struct zt_endpoint *from,
	       const struct zt_endpoint *to, const struct zt_port *pkt,
	       const struct zt_explain_env *env, struct zt_explanation *ret,
	       struct zt_diags *d);

/* zt_explain() with grants (live, or hypothetical offline); the explanation may point into grants. */
int zt_explain_grants(const struct zt_policy *p, const struct zt_endpoint *from,
		      const struct zt_endpoint *to, const struct zt_port *pkt,
		      const struct zt_explain_env *env, const struct zt_explain_grant *grants,
		      size_t n_grants, struct zt_explanation *ret, struct zt_diags *d);

/*
 * Write the explanation as lines: "allow" or "deny" first, then
 * "from: ZONE (HOW)", "to: ZONE (HOW)", "by: WHAT", and "note: ..." lines.
 * Returns 0 or -errno from the stream.
 */
int zt_explanation_format(const struct zt_policy *p, const struct zt_explanation *e,
			  FILE *f);

#endif
