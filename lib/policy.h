/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model: what /etc/ztseg/ztseg.yaml and segments.d/ declare,
 * after loading and validation. Every node keeps the position of the
 * token it came from. See ztseg.yaml(5).
 */
#ifndef ZT_POLICY_H
#define ZT_POLICY_H

#include "cgroup.h"
#include "diag.h"
#include "net.h"
#include "yaml-tree.h"

#define ZT_HUB_FILE "ztseg.yaml"
#define ZT_SEGMENTS_DIR "segments.d"

/* Names of segments, subnets, boundaries, delegations and flows. */
#define ZT_NAME_MAX 48

enum zt_default_verdict { ZT_DEFAULT_DROP, ZT_DEFAULT_REJECT };
enum zt_scope { ZT_SCOPE_MEMBERS, ZT_SCOPE_ALL };
enum zt_log { ZT_LOG_NONE, ZT_LOG_DROPS, ZT_LOG_ALL };
enum zt_rpf { ZT_RPF_STRICT, ZT_RPF_LOOSE, ZT_RPF_OFF };
/* enforce, or observe: what would be denied is counted, logged and passed (doc/RULESET.md "Observe mode"). */
enum zt_mode { ZT_MODE_ENFORCE, ZT_MODE_OBSERVE };

enum zt_zone_kind {
	ZT_ZONE_NONE,		/* unresolved */
	ZT_ZONE_WORLD,
	ZT_ZONE_HOST,
	ZT_ZONE_SEGMENT,	/* in a flow: the whole segment; as a classification: its rest */
	ZT_ZONE_SUBNET,
	ZT_ZONE_BOUNDARY,
};

struct zt_zone {
	enum zt_zone_kind kind;
	int seg;		/* SEGMENT, SUBNET: index into policy->segs; else -1 */
	int sub;		/* SUBNET: index into segs[seg].subnets; else -1 */
	int bnd;		/* BOUNDARY: index into hub.boundaries; else -1 */
};

/* A zone named in a flow: "web", "db.primary", "onprem", "host", "world". */
struct zt_ref {
	char *name;
	struct zt_pos pos;
	struct zt_zone zone;	/* filled in by validation */
};

struct zt_flow {
	char *name;		/* given, or generated "from->to" */
	bool named;		/* name given in the policy */
	struct zt_ref *from;
	size_t n_from;
	struct zt_ref *to;
	size_t n_to;
	struct zt_port *ports;
	size_t n_ports;
	bool encrypted;
	bool jit;		/* a jit template's zones and ports (struct zt_jit) */
	int seg;		/* -1 for a hub flow; the segment index for a segment rule */
	struct zt_pos pos;	/* the flow's mapping */
};

struct zt_subnet {
	char *name;
	struct zt_pos pos;
	struct zt_cidr *addrs;
	size_t n_addrs;
};

/* A unit (or pattern) of a unit segment: its zone holds the unit's host-local sockets. */
struct zt_unit {
	struct zt_unitpat pat;
	struct zt_pos pos;
};

struct zt_segment {
	char *name;
	struct zt_pos pos;	/* the segment's key */
	struct zt_ifpat *ifs;
	size_t n_ifs;
	/*
	 * `bridge: NAME` (issue 15): the segment's members are the ports of
	 * bridge NAME whose workloads claim its addresses (doc/RULESET.md
	 * "Docker-style bridges"); never with interfaces. "" when not given.
	 */
	char bridge[IFNAMSIZ];
	struct zt_pos bridge_pos;	/* the `bridge:` value */
	struct zt_cidr *addrs;	/* static addresses */
	size_t n_addrs;
	bool isolate;
	bool flow_log;		/* flow-log: its connections in the connection log */
	struct zt_subnet *subnets;
	size_t n_subnets;
	struct zt_flow *rules;	/* intra-segment rules; refs name subnets or the segment (its rest) */
	size_t n_rules;
	struct zt_unit *units;	/* units: a unit segment has no interfaces, addresses or subnets */
	size_t n_units;
	bool in_hub_file;	/* defined in ztseg.yaml (needs no delegation) */
	int delegation;		/* index into hub.delegations, or -1 */
	bool mode_set;		/* `mode:` given; otherwise hub.mode applies */
	enum zt_mode mode;
	struct zt_pos mode_pos;	/* the `mode:` value, when given */
};

/* Members bound to the segment by where they sit (interfaces or a bridge's ports), not by address alone. */
static inline bool zt_seg_bound(const struct zt_segment *s)
{
	return s->n_ifs > 0 || s->bridge[0] != '\0';
}

/*
 * A hub boundary, or a delegation (hub.delegate: the interfaces and
 * addresses a segment file may claim): a name, interfaces, addresses.
 */
struct zt_boundary {
	char *name;
	struct zt_pos pos;
	struct zt_ifpat *ifs;
	size_t n_ifs;
	struct zt_cidr *addrs;
	size_t n_addrs;
	/* A delegation's `mode:`: the most a segment file may observe (observe.c). */
	bool mode_set;
	enum zt_mode mode;
	struct zt_pos mode_pos;
};

/*
 * The packet-mark bits ztseg owns (hub.mark-mask): bridge ports carry
 * their zones there from table bridge ztseg to table inet ztseg
 * (doc/RULESET.md "Bridges"). One run of an even number of bits, at least
 * 4; the upper half holds the source port's zone, the lower the
 * destination's. The default keeps clear of kube-proxy (0x4000, 0x8000),
 * wg-quick (0xca6c) and other users of the low 16 bits.
 */
#define ZT_MARK_MASK_DEFAULT 0xffff0000u


struct zt_hub {
	struct zt_pos pos;
	enum zt_default_verdict dflt;	/* default: drop */
	enum zt_scope scope;		/* default: members */
	enum zt_log log;		/* default: drops */
	enum zt_rpf rpf;		/* default: strict */
	bool protect_host;		/* default: false */
	bool flow_log;			/* flow-log: every connection in the connection log */
	uint32_t mark_mask;		/* mark-mask: the packet-mark bits ztseg owns; 0: ZT_MARK_MASK_DEFAULT */
	struct zt_pos mark_mask_pos;	/* the `mark-mask:` value, or file == NULL */
	enum zt_mode mode;		/* default: enforce; segments without their own `mode:` */
	struct zt_pos mode_pos;		/* the `mode:` value, or file == NULL */
	struct zt_pos dflt_pos;		/* the `default:` value, or file == NULL */
	struct zt_ifpat *enc_ifs;	/* encrypted-interfaces */
	size_t n_enc_ifs;
	struct zt_boundary *boundaries;
	size_t n_boundaries;
	struct zt_boundary *delegations;	/* by segment name; the same shape as a boundary */
	size_t n_delegations;
	struct zt_flow *flows;
	size_t n_flows;
};

static inline uint32_t zt_hub_mark_mask(const struct zt_hub *h)
{
	return h->mark_mask ? h->mark_mask : ZT_MARK_MASK_DEFAULT;
}


/*
 * A just-in-time access template (jit:): what `ztsegctl grant` may open
 * for one source address, for at most max seconds. Grants nothing itself.
 */
#define ZT_JIT_MAX_SECONDS (24u * 3600)
#define ZT_JIT_PORTS_MAX 64		/* tcp/udp/sctp ports a template expands to */
#define ZT_JIT_REQUESTERS_MAX 32
#define ZT_JIT_TEMPLATES_MAX 1024
#define ZT_JIT_GROUP_MAX 32		/* a Unix group name's bytes */
#define ZT_JIT_DEFAULT_REQUESTER "ztseg-admin"

struct zt_jit {
	struct zt_flow f;		/* name, from, to, ports (f.jit set, f.seg -1) */
	uint32_t max_sec;
	uint32_t default_sec;		/* what a grant without --for gets: default, else max */
	char **requesters;		/* Unix group names; default: ztseg-admin */
	size_t n_requesters;
	struct zt_pos pos;
};

/*
 * threats: (SPEC §3): prefixes never limited or banned, and flood limits
 * per destination zone with timed bans (lib/policy-threats.c, which hands
 * blocklists: to lib/policy-feeds.c).
 */
#define ZT_FLOOD_MAX 64			/* flood entries */
#define ZT_FLOOD_BAN_MAX (7u * 24 * 3600)	/* the longest ban */
#define ZT_FLOOD_SET_MAX 1048576u	/* max-sources, max-bans */
#define ZT_FLOOD_SET_DEFAULT 65536u
#define ZT_EXCEPT_MAX 4096

enum zt_flood_scope { ZT_FLOOD_SCOPE_ZONE, ZT_FLOOD_SCOPE_ALL };

struct zt_flood {
	struct zt_ref *to;		/* destination zones; with flow: only the flow's connections to them */
	size_t n_to;
	char *flow;			/* flow: a named hub flow's connections only; NULL for a zone limit */
	struct zt_pos flow_pos;
	int flow_idx;			/* index into hub.flows, resolved; -1 without flow */
	uint32_t rate;			/* per-source: new connections per unit; 0 none */
	uint32_t unit;			/* seconds per unit: 1, 60, 3600, 86400 */
	uint32_t burst;			/* default: rate */
	uint32_t conns;			/* connections: concurrent per source; 0 none */
	uint32_t ban_sec;		/* ban: 0 = limit only */
	uint8_t plen4, plen6;		/* source-prefix: 32 and 64 by default */
	bool ban_spoofable;		/* ban world and unbound-boundary sources too */
	enum zt_flood_scope scope;	/* ban-scope: to the zones, or everywhere */
	uint32_t max_sources;		/* meter size per family */
	uint32_t max_bans;		/* ban set size per family */
	struct zt_pos pos;		/* the entry's mapping */
	struct zt_pos rate_pos, conns_pos;
};

/*
 * threats.blocklists (SPEC §3, lib/policy-feeds.c): threat feeds, checked
 * before any flow on every packet the host receives, forwards or sends.
 */
#define ZT_FEED_NAME_LEN 24		/* a feed's name: [a-z0-9_-], at most this long */
#define ZT_FEEDS_MAX 64

enum zt_feed_dir { ZT_FEED_BOTH, ZT_FEED_IN, ZT_FEED_OUT };

struct zt_blocklist {
	char name[ZT_FEED_NAME_LEN + 1];
	char *file;			/* file: an absolute path; NULL for url: */
	char *url;			/* url: fetched by `ztsegctl feeds fetch` into STATE/feeds/NAME */
	enum zt_feed_dir dir;
	bool reject;			/* action: reject (else drop) */
	bool log;			/* log: true — NFLOG records naming the feed */
	uint32_t max_age_sec;		/* max-age; 0: none */
	unsigned max_bad_pct, max_shrink_pct;
	uint64_t max_bytes;
	struct zt_pos pos;
};

/*
 * threats.anomaly (SPEC §3, lib/policy-anomaly.c): a learned baseline of a
 * named hub flow's new connections per second, the episodes that open when
 * it is exceeded, and what the daemon does then (lib/anomaly.c,
 * daemon/ztsegd-anomaly.c).
 */
#define ZT_ANOMALY_MAX 64

enum zt_mitigate { ZT_MITIGATE_ALERT, ZT_MITIGATE_RATE_LIMIT, ZT_MITIGATE_BAN_TOP };

struct zt_anomaly {
	char *flow;			/* a named hub flow (or NULL with to:) */
	struct zt_pos flow_pos;
	int flow_idx;			/* index into hub.flows, resolved */
	struct zt_ref *to;		/* or a zone: the new connections of every hub flow into it (one ref) */
	uint32_t sensitivity;		/* standard deviations over the mean */
	uint32_t min_rate;		/* new connections per min_unit seconds: below it, never an episode */
	uint32_t min_unit;
	uint32_t samples;		/* consecutive samples over the threshold that open an episode */
	uint32_t clear;			/* consecutive samples back under it that close one */
	uint32_t interval_sec;		/* sampling interval */
	uint32_t learn_sec;		/* learning period: no episode before the baseline has seen it */
	bool hourly;			/* a baseline per hour of day (UTC) */
	bool bytes;			/* series: bytes (established bytes per second) instead of connections */
	enum zt_mitigate mitigate;
	uint32_t limit;			/* rate-limit: per source, this multiple of the baseline's mean */
	uint32_t top;			/* ban-top-sources: how many sources */
	uint32_t ban_sec;		/* ban-top-sources: the bans' timeout in the kernel (the daemon lifts them at close) */
	struct zt_pos pos;
};

struct zt_threats {
	struct zt_pos pos;
	struct zt_anomaly *anomaly;
	size_t n_anomaly;
	struct zt_cidr *except;
	size_t n_except;
	struct zt_flood *flood;
	size_t n_flood;
	struct zt_blocklist *blocklists;
	size_t n_blocklists;
};

struct zt_policy {
	unsigned version;
	struct zt_hub hub;
	struct zt_threats threats;
	struct zt_jit *jit;		/* templates, in policy order */
	size_t n_jit;
	struct zt_segment *segs;	/* in definition order: ztseg.yaml, then segments.d lexically */
	size_t n_segs;
	char **files;			/* names as used in positions ("ztseg.yaml", "segments.d/db.yaml") */
	size_t n_files;
};

struct zt_limits {
	size_t max_file_size;	/* bytes per file; default 1 MiB */
	size_t max_total_size;	/* bytes over all files; default 64 MiB */
	size_t max_files;	/* files in segments.d; default 4096 */
	size_t max_segments;	/* default 100000 */
	struct zt_yaml_limits yaml;
};

#define ZT_LIMITS_DEFAULT                                                      \
	((struct zt_limits){ .max_file_size = 1 << 20,                         \
			     .max_total_size = 64 << 20,                       \
			     .max_files = 4096,                                \
			     .max_segments = 100000,                           \
			     .yaml = ZT_YAML_LIMITS_DEFAULT })

/* One policy file's contents. */
struct zt_source {
	const char *name;	/* "ztseg.yaml" or "segments.d/NAME.yaml" */
	const char *buf;
	size_t len;
};

/*
 * Parse, build and validate a policy from in-memory files. src[0] is the
 * hub file (ztseg.yaml); the rest are segment files, in the order given.
 * Every error found is added to d (up to its cap). Returns 0 and a policy
 * with every reference resolved, or -EINVAL (errors in d) / -ENOMEM.
 * Warnings may be added on success.
 */
int zt_policy_load_sources(const struct zt_source *src, size_t n,
			   const struct zt_limits *lim, struct zt_policy **ret,
			   struct zt_diags *d);

/*
 * Read DIR/ztseg.yaml and DIR/segments.d/ *.yaml (lexical order), checking
 * ownership and permissions of every file and directory on descriptors
 * opened without following symbolic links, and the size limits; then
 * zt_policy_load_sources(). `owner_uid` is the one non-root owner allowed
 * (the process's own uid).
 */
int zt_policy_load_dir(const char *dir, const struct zt_limits *lim,
		       uid_t owner_uid, struct zt_policy **ret,
		       struct zt_diags *d);

/* The raw files of a policy directory, as zt_policy_load_dir() reads them. */
struct zt_policy_files {
	struct zt_source *src;	/* src[0] is the hub file; names and buffers are owned */
	size_t n;
};

/*
 * Only the reading half of zt_policy_load_dir(): the same checks, the
 * files' bytes kept (the daemon saves what it applied as last-known-good).
 * Returns 0, or -EINVAL with the problems in d, or -errno.
 */
int zt_policy_read_dir(const char *dir, const struct zt_limits *lim, uid_t owner_uid,
		       struct zt_policy_files *ret, struct zt_diags *d);
void zt_policy_files_clear(struct zt_policy_files *f);

/* Cross-checks of SPEC §3 on a built policy; resolves every zt_ref. */
int zt_policy_validate(struct zt_policy *p, struct zt_diags *d);

/* Accepts NULL; returns NULL. */
struct zt_policy *zt_policy_free(struct zt_policy *p);

static inline void zt_policy_freep(struct zt_policy **p)
{
	zt_policy_free(*p);
}
#define _cleanup_policy_ _cleanup_(zt_policy_freep)

/*
 * The known zone name closest to `name` ("did you mean"), written into buf
 * (at least 2 * ZT_NAME_MAX + 2 bytes); NULL when none is close. With
 * seg >= 0 the candidates are that segment's own name and its subnets (as
 * segment rules name them); otherwise every zone a hub flow can name.
 * Implemented in policy-validate.c.
 */
const char *zt_policy_suggest_flow(const struct zt_policy *p, const char *name, char *buf, size_t len);
const char *zt_policy_suggest_zone(const struct zt_policy *p, int seg, const char *name,
				   char *buf, size_t len);

/*
 * threats: in the hub file (lib/policy-threats.c): load the mapping (errors
 * file:line:col in d; -EINVAL reported, other negative values fatal), and
 * resolve and cross-check it once the zones are known.
 */
int zt_policy_load_threats(struct zt_policy *p, const char *file, const struct zt_node *n,
			   struct zt_diags *d);
int zt_policy_check_threats(struct zt_policy *p, struct zt_diags *d);
void zt_threats_free(struct zt_threats *t);
/* A segment's mode: its own `mode:`, else hub.mode (lib/observe.c). */
enum zt_mode zt_segment_mode(const struct zt_policy *p, size_t seg);
/*
 * Would a connection from zone a to zone b pass as would-deny, were no
 * flow to allow it? Only when every segment it touches observes; with no
 * segment on either side (host, boundaries, world) hub.mode decides.
 */
bool zt_policy_observes(const struct zt_policy *p, const struct zt_zone *a, const struct zt_zone *b);
/* Where the policy says what decides a would-deny: the segment's, its delegation's or hub's `mode:`. */
const struct zt_pos *zt_mode_pos(const struct zt_policy *p, size_t seg);
/*
 * A segment file may not observe unless the hub lets it: `mode: observe`
 * there needs its delegation's mode (or hub.mode) to be observe. After
 * delegations are resolved; errors into d. Implemented in observe.c.
 */
int zt_policy_check_modes(const struct zt_policy *p, struct zt_diags *d);
/*
 * threats.blocklists (lib/policy-feeds.c), called by zt_policy_load_threats()
 * for its `blocklists` key; errors file:line:col in d. zt_threats_free()
 * calls zt_blocklists_free().
 */
int zt_policy_load_blocklists(struct zt_policy *p, const char *file, const struct zt_node *n,
			      struct zt_diags *d);
void zt_blocklists_free(struct zt_threats *t);
/* threats.anomaly (lib/policy-anomaly.c), called like zt_policy_load_blocklists(); resolved by the check. */
int zt_policy_load_anomaly(struct zt_policy *p, const char *file, const struct zt_node *n, struct zt_diags *d);
int zt_policy_check_anomaly(struct zt_policy *p, struct zt_diags *d);
void zt_anomaly_free(struct zt_threats *t);
const char *zt_mitigate_name(enum zt_mitigate m);

/*
 * Name the unnamed flows of one list "from->to", "from->to#2", ... in
 * policy order (lib/policy-names.c); -ENOMEM.
 */
int zt_policy_name_flows(struct zt_flow *flows, size_t n);

/* Zone lookup by name ("web", "db.primary", "onprem", "host", "world"). */
int zt_policy_find_zone(const struct zt_policy *p, const char *name, struct zt_zone *ret);
/* Does zone a cover b: the same zone, or a segment and one of its subnets (policy-threats.c)? */
bool zt_zone_covers(const struct zt_zone *a, const struct zt_zone *b);
/* "web", "db.primary", "onprem", "host", "world" into buf. */
const char *zt_zone_fmt(const struct zt_policy *p, const struct zt_zone *z, char *buf, size_t len);

/* Unit segments (policy-units.c). */
bool zt_policy_has_units(const struct zt_policy *p);
/* protect-host, hub file only, no unit in two zones: 0 or -EINVAL (errors in d) / -ENOMEM. */
int zt_policy_check_units(const struct zt_policy *p, struct zt_diags *d);
/* The unit segment whose units match the cgroup at rel ("system.slice/api.service"), or -1. */
int zt_policy_unit_segment(const struct zt_policy *p, const char *rel);

#endif
