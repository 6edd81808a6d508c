/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan: a flat, sorted, deterministic description of the one nftables
 * table ztseg owns (chains, sets, maps, counters, rules). The compiler
 * builds it from a validated policy; render (nft text) and emit (libnftnl
 * batch) are its two back ends and must agree. Every rule and element
 * points back to the policy token it came from. See doc/RULESET.md.
 */
#ifndef ZT_PLAN_H
#define ZT_PLAN_H

#include <stddef.h>
#include <string.h>

#include "policy.h"

#define ZT_TABLE_NAME "ztseg"
#define ZT_OBJ_NAME_MAX 32	/* NFT_*_MAXNAMELEN incl. NUL; our names are generated */

/* What a rule loads from the packet or its connection. */
enum zt_key {
	ZT_KEY_IIF,		/* meta iif (ifindex) */
	ZT_KEY_OIF,		/* meta oif (ifindex; 0 in input) */
	ZT_KEY_IIFNAME,
	ZT_KEY_OIFNAME,
	ZT_KEY_IP_SADDR,
	ZT_KEY_IP_DADDR,
	ZT_KEY_IP6_SADDR,
	ZT_KEY_IP6_DADDR,
	ZT_KEY_L4PROTO,		/* meta l4proto */
	ZT_KEY_TH_DPORT,	/* th dport */
	ZT_KEY_ICMP_TYPE,
	ZT_KEY_ICMPV6_TYPE,
	ZT_KEY_CT_MARK,
	ZT_KEY_CT_STATE,
	ZT_KEY_CT_DIRECTION,
	ZT_KEY_FIB_SADDR_OIFNAME,	/* fib saddr oifname */
	ZT_KEY_FIB_SADDR_IIF_OIF,	/* fib saddr . iif oif (strict rpf) */
	ZT_KEY_FIB_SADDR_IIF_OIFNAME,	/* fib saddr . iif oifname: iif's name when the route back uses it, else "" */
	ZT_KEY_FIB_SADDR_OIF,		/* fib saddr oif (loose rpf) */
	ZT_KEY_META_IPSEC,		/* meta ipsec: the packet was decapsulated */
	ZT_KEY_RT_IPSEC,		/* rt ipsec: the route sends it through IPsec */
	ZT_KEY_FIB_DADDR_TYPE,		/* fib daddr type (value: ZT_TYPE_FIB_ADDRTYPE) */
	ZT_KEY_FIB_DADDR_OIFNAME,	/* fib daddr oifname: where the packet is routed to */
	ZT_KEY_IP6_HOPLIMIT,		/* ip6 hoplimit (value: ZT_TYPE_INTEGER) */
	ZT_KEY_SOCKET_CG1,		/* socket cgroupv2 level 1 (value: ZT_TYPE_CGROUP); input/output only */
	ZT_KEY_SOCKET_CG2,		/* socket cgroupv2 level 2 */
	ZT_KEY_META_MARK,		/* meta mark: the packet's mark */
	ZT_KEY_IIFKIND,			/* meta iifkind: the link kind ("bridge"); value an exact IFNAME */
	ZT_KEY_OIFKIND,			/* meta oifkind */
};

/* Set/map key and data types. */
enum zt_type {
	ZT_TYPE_NONE,
	ZT_TYPE_IFNAME,
	ZT_TYPE_FIB_IFNAME,	/* typeof fib saddr oifname */
	ZT_TYPE_IPV4,
	ZT_TYPE_IPV6,
	ZT_TYPE_MARK,
	ZT_TYPE_INET_PROTO,
	ZT_TYPE_INET_SERVICE,
	ZT_TYPE_ICMP_TYPE,
	ZT_TYPE_ICMPV6_TYPE,
	ZT_TYPE_VERDICT,	/* data only */
	ZT_TYPE_COUNTER,	/* data only: objref map */
	ZT_TYPE_IFINDEX,	/* u32 with ZT_KEY_IIF/OIF: 1 is lo in every netns, 0 none (input hook) */
	ZT_TYPE_FIB_ADDRTYPE,	/* u32 RTN_* with ZT_KEY_FIB_DADDR_TYPE: 2 (RTN_LOCAL) is "local" */
	ZT_TYPE_INTEGER,	/* u32 printed in decimal, e.g. a hop limit */
	ZT_TYPE_CGROUP,		/* a cgroup v2 id (u64, host order): `socket cgroupv2 level N` */
};

enum zt_verdict_code {
	ZT_V_NONE,		/* no verdict: continue */
	ZT_V_ACCEPT,
	ZT_V_DROP,
	ZT_V_RETURN,
	ZT_V_JUMP,
	ZT_V_GOTO,
	ZT_V_CONTINUE,		/* explicit "continue" in a verdict map */
};

struct zt_verdict {
	enum zt_verdict_code code;
	char chain[ZT_OBJ_NAME_MAX];	/* JUMP, GOTO */
};

/* An address interval that is no prefix: [lo, hi], network byte order. */
struct zt_addr_range {
	uint8_t family;
	uint8_t lo[16], hi[16];
};

/* A constant: an address, prefix, address range, interface pattern, number or verdict. */
struct zt_value {
	enum zt_type type;
	bool is_range;			/* IPV4, IPV6: .range, not .cidr */
	union {
		struct zt_cidr cidr;	/* IPV4, IPV6: prefix (plen 32/128 for a host) */
		struct zt_addr_range range;	/* IPV4, IPV6 with is_range */
		struct zt_ifpat ifpat;	/* IFNAME, FIB_IFNAME: exact or wildcard */
		uint32_t u32;		/* MARK, INET_PROTO, INET_SERVICE, ICMP(V6)_TYPE */
		struct zt_verdict verdict;
		char counter[ZT_OBJ_NAME_MAX];
		uint64_t u64;		/* CGROUP */
	};
	uint32_t u32_hi;	/* INET_SERVICE range end (== u32 for a single port) */
};

static inline uint8_t zt_value_family(const struct zt_value *v)
{
	return v->is_range ? v->range.family : v->cidr.family;
}

/*
 * The first and last address an IPV4/IPV6 value covers, network byte
 * order; an IPv4 value fills the first 4 bytes and zeroes the rest.
 */
static inline void zt_value_addr_bounds(const struct zt_value *v, uint8_t lo[16], uint8_t hi[16])
{
	unsigned plen = v->cidr.plen, len = zt_value_family(v) == AF_INET ? 4 : 16;

	memset(lo, 0, 16);
	memset(hi, 0, 16);
	if (v->is_range) {
		memcpy(lo, v->range.lo, len);
		memcpy(hi, v->range.hi, len);
		return;
	}
	for (unsigned i = 0; i < len; i++) {
		unsigned bits = plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		lo[i] = v->cidr.addr[i] & mask;
		hi[i] = lo[i] | (uint8_t)~mask;
	}
}

#define ZT_MAX_CONCAT 4

/*
 * key comes last: a compiled plan's sets store each element in
 * zt_elem_size(n_key) bytes, only the key fields its set has (most sets
 * have one of four). Never copy such an element whole (`*e`); reach it
 * with zt_set_elem().
 */
struct zt_elem {
	struct zt_value data;			/* maps */
	struct zt_pos pos;			/* policy source, or file == NULL */
	struct zt_value key[ZT_MAX_CONCAT];	/* one per key field */
};

static inline size_t zt_elem_size(size_t n_key)
{
	return offsetof(struct zt_elem, key) + n_key * sizeof(struct zt_value);
}

struct zt_set {
	char name[ZT_OBJ_NAME_MAX];
	enum zt_type key[ZT_MAX_CONCAT];
	size_t n_key;
	enum zt_type data;	/* ZT_TYPE_NONE for a plain set */
	bool interval;
	bool dynamic;		/* contents owned by apply/daemon (e.g. enc_if): emitted empty */
	bool timeout;		/* flags timeout: elements carry their own (grants) */
	bool eval;		/* flags dynamic: rules add elements (`update @set { … }`) */
	uint32_t size;		/* size N, or 0 */
	uint32_t timeout_sec;	/* the elements' default timeout; 0: none (flood meters) */
	/*
	 * Sorted by key. esize: bytes per element, zt_elem_size(n_key) in a
	 * compiled plan; 0 for an array of whole struct zt_elem (what a set
	 * built by hand, or given other elements, holds). zt_set_elem().
	 */
	void *elems;
	size_t esize;
	size_t n_elems, cap_elems;
	char comment[128];
};

static inline size_t zt_set_esize(const struct zt_set *s)
{
	return s->esize ? s->esize : sizeof(struct zt_elem);
}

/*
 * The set def with other contents: n whole elements (not packed), to be
 * emitted (not dynamic). What the daemon sends for one of the plan's sets.
 */
static inline struct zt_set zt_set_with(const struct zt_set *def, struct zt_elem *elems, size_t n)
{
	struct zt_set s = *def;

	s.elems = elems;
	s.esize = 0;
	s.n_elems = s.cap_elems = n;
	s.dynamic = false;
	return s;
}

/* Element i of s (s may be const: the plan's owner decides). */
static inline struct zt_elem *zt_set_elem(const struct zt_set *s, size_t i)
{
	return (struct zt_elem *)((char *)s->elems + i * zt_set_esize(s));
}

/* Anonymous set used inline in a rule: `iifname { "vweb*", "vweb0" }`. */
struct zt_anon {
	enum zt_type type;
	bool interval;
	struct zt_value *v;
	size_t n;
};

enum zt_match_op {
	ZT_M_EQ,		/* key == value */
	ZT_M_NE,		/* key != value */
	ZT_M_IN_SET,		/* keys in @set (named) */
	ZT_M_NOT_IN_SET,
	ZT_M_IN_ANON,		/* key in { … } */
	ZT_M_CT_STATE,		/* ct state in mask (bits NF_CT_STATE_*) */
	ZT_M_CT_DIR_REPLY,	/* ct direction reply */
	ZT_M_MISSING,		/* fib … missing / meta ipsec missing / rt ipsec missing */
	ZT_M_EXISTS,
};

struct zt_match {
	enum zt_match_op op;
	enum zt_key key[ZT_MAX_CONCAT];
	size_t n_key;
	struct zt_value value;		/* EQ, NE */
	char set[ZT_OBJ_NAME_MAX];	/* IN_SET, NOT_IN_SET */
	struct zt_anon anon;		/* IN_ANON */
	uint32_t ct_state;		/* CT_STATE */
	uint8_t plen;			/* IN_SET, NOT_IN_SET of one address key: masked to plen bits (0: not) */
	uint32_t mmask;			/* EQ, NE of ZT_KEY_META_MARK: `meta mark & mmask` (0: the whole mark) */
};

enum zt_stmt_kind {
	ZT_S_COUNTER_NAMED,	/* counter name "x" */
	ZT_S_COUNTER_MAP,	/* counter name KEYS map @set */
	ZT_S_CT_MARK_SET,	/* ct mark set VALUE */
	ZT_S_CT_MARK_SET_MAP,	/* ct mark set KEYS map @set */
	ZT_S_META_MARK_SET_MAP,	/* meta mark set KEYS map @set */
	ZT_S_META_MARK_FROM_CT,	/* meta mark set ct mark */
	ZT_S_META_MARK_BITS,	/* meta mark set meta mark & MMASK | U32: only the bits ztseg owns change */
	ZT_S_CT_MARK_OR,	/* ct mark set ct mark | VALUE */
	ZT_S_CT_MARK_XOR,	/* ct mark set ct mark ^ VALUE */
	ZT_S_LOG,		/* limit rate R/second burst B packets log group G prefix P */
	ZT_S_VMAP,		/* KEYS vmap @set */
	ZT_S_REJECT_TCP_RST,	/* reject with tcp reset (rule also needs l4proto tcp) */
	ZT_S_REJECT_ICMPX,	/* reject with icmpx admin-prohibited */
	ZT_S_VERDICT,
	ZT_S_SET_UPDATE_COUNTER,	/* update @set { KEYS counter }: an element per key, each counting */
	/* Dynamic sets (flood limits), keyed by one source address masked to plen bits: */
	ZT_S_METER,		/* update @set { KEY limit rate over RATE/UNIT burst BURST packets } */
	ZT_S_CONNLIMIT,		/* add @set { KEY ct count over COUNT } */
	ZT_S_BAN_ADD,		/* add @set { KEY timeout T counter : U32 } */
};

struct zt_stmt {
	enum zt_stmt_kind kind;
	enum zt_key key[ZT_MAX_CONCAT];	/* COUNTER_MAP, CT_MARK_SET_MAP, VMAP */
	size_t n_key;
	char set[ZT_OBJ_NAME_MAX];
	char counter[ZT_OBJ_NAME_MAX];	/* COUNTER_NAMED */
	uint32_t u32;			/* CT_MARK_SET, CT_MARK_OR, META_MARK_BITS (the bits set) */
	struct zt_verdict verdict;	/* VERDICT */
	unsigned log_group, log_rate, log_burst;
	char log_prefix[128];
	uint8_t plen;			/* METER, CONNLIMIT, BAN_ADD: the source prefix */
	uint32_t rate, unit, burst;	/* METER: unit in seconds */
	uint32_t count;			/* CONNLIMIT: the cap; BAN_ADD: the data (ZT_BAN_REASON_*) */
	uint32_t timeout_sec;		/* BAN_ADD */
	uint32_t mmask;			/* VMAP, CT_MARK_SET_MAP of ZT_KEY_META_MARK (VMAP: or ZT_KEY_CT_MARK) alone:
					 * `meta mark & mmask` (0: all); META_MARK_BITS: the bits kept */
};

#define ZT_RULE_MAX_MATCH 4
#define ZT_RULE_MAX_STMT 4

/*
 * match and stmt are arrays of exactly n_match and n_stmt (a plan holds
 * tens of thousands of rules, most with no match and one statement), each
 * owned by the rule and freed with its plan. oom: the compiler could not
 * grow one of them (zt_compile() fails with -ENOMEM).
 */
struct zt_rule {
	struct zt_match *match;
	size_t n_match;
	struct zt_stmt *stmt;
	size_t n_stmt;
	bool oom;
	char comment[128];	/* policy source, e.g. "flow public-web ztseg.yaml:31" */
	struct zt_pos pos;	/* that source's token, for kernel errors; file NULL if none */
};

enum zt_hook { ZT_HOOK_NONE, ZT_HOOK_PREROUTING, ZT_HOOK_INPUT, ZT_HOOK_FORWARD, ZT_HOOK_OUTPUT };

struct zt_chain {
	char name[ZT_OBJ_NAME_MAX];
	enum zt_hook hook;	/* NONE: a regular chain */
	int prio;		/* -300 raw, 0 filter */
	struct zt_rule *rules;
	size_t n_rules, cap_rules;
};

struct zt_counter {
	char name[ZT_OBJ_NAME_MAX];
	char comment[128];
};

/* A tcp/udp/sctp port a jit template covers. */
struct zt_jit_port {
	uint8_t proto;		/* IPPROTO_* */
	uint16_t port;
};

/*
 * A jit template as compiled: the zones and ports one grant of it adds
 * elements for (doc/RULESET.md "Grants"). Ids are this plan's zone ids.
 */
struct zt_plan_jit {
	char name[ZT_NAME_MAX + 1];
	uint32_t meaning;	/* its text and its zones' meanings: grants survive while it stays */
	uint32_t *src;		/* finest zones its from covers */
	uint16_t *src_ref;	/* per src: the index of the from entry it came from */
	size_t n_src;
	uint32_t *dst;		/* finest zones its to covers */
	uint16_t *dst_ref;	/* per dst: the index of the to entry it came from */
	size_t n_dst;
	size_t n_from, n_to;	/* its from and to entries: a grant's pairs (zt_grant_mark) */
	/*
	 * Per from / to entry: who may send ICMP errors for a connection from
	 * (to) it: `goto own_<zone>`, `goto spk_any`, or ZT_TYPE_NONE (host,
	 * which speaks in output). The grant's jspk_o / jspk_r elements.
	 */
	struct zt_value *spk_from, *spk_to;
	struct zt_jit_port *ports;
	size_t n_ports;
};

/*
 * What a connection mark means, for the connection log and metrics (not
 * part of the table): the flow that allowed the connection and its zone
 * pair. Indexes into the plan's flow and zone name arrays.
 */
struct zt_plan_mark {
	uint32_t mark;
	uint32_t flow;		/* index into flow_names */
	uint32_t from, to;	/* indexes into zone_names; 0 "" (out of scope) */
	bool log;		/* flow-log is on for the hub or a segment of either zone */
};

#define ZT_PLAN_FLOW_NAME_MAX 115	/* "NAME", "SEG:RULE", "SEG same-zone", "out-of-scope" */
#define ZT_PLAN_ZONE_NAME_MAX 98	/* "segment.subnet" (ZT_ENDPOINT_NAME_MAX) */

struct zt_plan_flow_name {
	char name[ZT_PLAN_FLOW_NAME_MAX];
	char counter[ZT_OBJ_NAME_MAX];	/* its named counter */
	char from[128], to[128];	/* its from and to as written, joined by "," (may be cut short) */
	char segment[ZT_NAME_MAX + 1];	/* a segment rule's or same-zone's segment, or "" */
};

/*
 * A flood limit as compiled (doc/RULESET.md "Flood limits"): its id names
 * its sets (fm4_<id>, ban4_<id>, …) and stays while its meaning does, so
 * that bans survive reloads that keep the limit, and go when it goes.
 */
#define ZT_BAN_REASON_RATE 1u
#define ZT_BAN_REASON_CONNS 2u

struct zt_plan_flood {
	uint32_t id;
	char zones[256];		/* "web, db.primary": its to, as written */
	char limit[96];			/* "per-source 200/second burst 400, connections 100" */
	struct zt_pos pos;
	uint8_t plen4, plen6;
	uint32_t ban_sec;		/* 0: limit only */
	bool scope_all;
	char ban4[ZT_OBJ_NAME_MAX], ban6[ZT_OBJ_NAME_MAX];	/* "" without ban */
};

/*
 * threats.anomaly as compiled (lib/compile-anomaly.c, doc/RULESET.md
 * "Anomaly episodes"): what the daemon samples and the objects its
 * mitigations fill. Not part of the table.
 */
struct zt_plan_anomaly {
	uint32_t id;
	size_t entry;				/* index into policy threats.anomaly */
	char flow[105];				/* the series: the hub flow's name, or to:ZONE */
	struct zt_pos pos;
	int mitigate;				/* enum zt_mitigate */
	char counter[ZT_OBJ_NAME_MAX];		/* ac_<id>: the flow's new connections, before any mitigation */
	bool bytes;				/* series: bytes: the daemon samples bytes of bcounter */
	char bcounter[ZT_OBJ_NAME_MAX];		/* ay_<id> (bytes): the flow's established bytes (map abyt); else "" */
	char tiers[ZT_OBJ_NAME_MAX];		/* at_<id> (rate-limit): mark to goto ar_<id>_<k>; else "" */
	char ban4[ZT_OBJ_NAME_MAX], ban6[ZT_OBJ_NAME_MAX];	/* ab4_/ab6_<id> (ban-top-sources); else "" */
	uint32_t *marks;			/* the flow's connection marks, sorted */
	size_t n_marks;
};

/*
 * Observe mode as compiled (doc/RULESET.md "Observe mode"): the dynamic
 * set whose elements are the zone pairs of live would-deny connections,
 * each with its counter, and which zone each id of this plan is.
 */
struct zt_plan_observe {
	char set[ZT_OBJ_NAME_MAX];	/* "wd_<meaning>", or "" when nothing observes */
	struct zt_zone *zones;		/* by zone id; [0] unused */
	size_t n_zones;			/* the highest id */
};

/* A segment whose interfaces may be bridge ports (lib/bridge.h, doc/RULESET.md "Bridges"). */
struct zt_plan_bridge_seg {
	uint32_t idx;			/* its bridge index (1 …): its bits in the mark fields */
	uint32_t rest;			/* its rest's zone id: names its chains */
	struct zt_ifpat *ifs;		/* its patterns, none inside another */
	size_t n_ifs;
	struct zt_cidr *addrs;		/* its static addresses (every subnet's is inside) */
	size_t n_addrs;
	char bridge[IFNAMSIZ];		/* `bridge: NAME` (issue 15); "" for a segment of patterns */
	uint32_t brk;			/* bridge: the rest of the first segment on NAME: names set dpb_<brk> */
};

/*
 * A port of a bridge that `bridge:` segments name, which no pattern names
 * (sets dport, dportd, dpb_<brk>; filled by apply's link dump and ztsegd).
 */
struct zt_bridge_dport {
	char port[IFNAMSIZ];
	char bridge[IFNAMSIZ];
};

/* An address a port of a bridge: segment claimed (sets pin4/pin6, claimed4/6, has4/6). */
struct zt_bridge_pin {
	char port[IFNAMSIZ];
	uint8_t family;			/* AF_INET, AF_INET6 */
	uint8_t addr[16];
	bool no_has;			/* emit: leave has4/has6 alone (the port holds another address) */
};

/* One of the host's own addresses on a bridge device (sets hown4, hownna of table bridge ztseg). */
struct zt_bridge_haddr {
	uint8_t family;			/* AF_INET, AF_INET6 */
	uint8_t addr[16];
};

struct zt_plan_bridge {
	uint32_t mask;			/* hub.mark-mask */
	struct zt_plan_bridge_seg *segs;	/* by index order; none: no table bridge ztseg */
	size_t n_segs;
	bool brnf_off;			/* br_netfilter does not call the inet hooks: fail closed */
	/*
	 * The host's addresses on bridges, filled by apply from an address
	 * dump (never by the compiler; not owned by the plan, not part of
	 * zt_bridge_hash()): ztsegd keeps the sets to them between applies.
	 */
	const struct zt_bridge_haddr *hown;
	size_t n_hown;
	/*
	 * The host's link names, filled by apply from a link dump the same
	 * way: the elements of the exact-name twins port_srcx / port_dstx
	 * (a hash lookup for a known member port; the interval maps by
	 * pattern stay the fallback for any other name).
	 */
	const char (*ports)[IFNAMSIZ];
	size_t n_ports;
	/*
	 * Issue 15, filled by apply the same way (never by the compiler, not
	 * part of zt_bridge_hash()): the ports of the bridges `bridge:`
	 * segments name, from its link dump, and the pins the table held
	 * before it is written anew, kept for the ports still there.
	 */
	/* boundary patterns: a port they name is never a bridge: segment's (an uplink in the bridge) */
	struct zt_ifpat *bnd_ifs;
	size_t n_bnd_ifs;
	const struct zt_bridge_dport *dports;
	size_t n_dports;
	const struct zt_bridge_pin *pins;
	size_t n_pins;
};

struct zt_plan {
	/*
	 * Each array is sorted by name (strcmp), base chains included: a base
	 * chain is just a chain with a hook. Back ends create every chain
	 * before any rule (rules jump forward); render prints the hooked
	 * chains first for the reader, emit may keep array order.
	 */
	struct zt_counter *counters;
	size_t n_counters, cap_counters;
	struct zt_set *sets;
	size_t n_sets, cap_sets;
	struct zt_chain *chains;
	size_t n_chains, cap_chains;
	uint32_t table_flags;	/* informational: apply decides owner/persist */
	unsigned log_group;
	struct zt_plan_jit *jit;	/* templates in policy order; not part of the table */
	size_t n_jit;
	struct zt_plan_mark *marks;	/* sorted by mark; zt_plan_find_mark() */
	size_t n_marks;
	struct zt_plan_flow_name *flow_names;
	size_t n_flow_names;
	char (*zone_names)[ZT_PLAN_ZONE_NAME_MAX];	/* [0] is "" */
	size_t n_zone_names;
	struct zt_plan_flood *flood;	/* flood limits in policy order; not part of the table */
	size_t n_flood;
	struct zt_plan_anomaly *anomaly;	/* threats.anomaly in policy order; not part of the table */
	size_t n_anomaly;
	struct zt_plan_observe observe;
	struct zt_plan_bridge bridge;	/* table bridge ztseg; not part of inet ztseg */
	/* Copies of the policy's file names: every pos.file in the plan points here. */
	char **files;
	size_t n_files;
	/* zt_plan_slim(): most element arrays and every rule freed; what it had, for the count and the check */
	bool slim;
	size_t slim_objects;
	uint64_t slim_shape;
};

struct zt_compile_opts {
	unsigned log_group;	/* NFLOG group; default 27 */
	unsigned log_rate;	/* packets/second per log rule; default 10 */
	unsigned log_burst;	/* default 20 */
};

#define ZT_COMPILE_OPTS_DEFAULT ((struct zt_compile_opts){ .log_group = 27, .log_rate = 10, .log_burst = 20 })

/*
 * Unit zones (compile-units.c). A unit zone's id is its segment's rest id
 * (zone ids are assigned in definition order). For one cgroup of
 * system.slice (id, "system.slice/NAME"), the elements ztsegd adds:
 * ucg_known always; ucg_lo and ucg_mm when a unit segment lists it. Only
 * data, never a verdict: a verdict element would make the kernel validate
 * the whole table on every commit (milliseconds with 1,000 unit zones);
 * the compiled maps usrc and ulin turn the marks into gotos.
 * ZT_UNIT_TOKEN | zone is the packet mark input leaves for classify_dst.
 */
#define ZT_UNIT_TOKEN 0x7a740000u
#define ZT_UNIT_ELEMS 3
struct zt_unit_elem {
	const char *set;
	struct zt_elem e;
};
uint32_t zt_unit_zone_id(const struct zt_policy *p, int seg);
/*
 * The deny log's unit zones (NFLOG carries the packet mark, not the
 * connection's): the deny chain writes each side's log index into the
 * hub.mark-mask fields (source, destination) of the packet mark, every
 * other bit kept. A unit segment's index: 1 … in policy order among the
 * unit segments, 0 beyond the field's room (its denies are logged without
 * the unit's name). zt_unit_log_zone() is the reader's inverse (0: none).
 */
uint32_t zt_unit_log_index(const struct zt_policy *p, int seg);
uint32_t zt_unit_log_zone(const struct zt_policy *p, uint32_t mark, bool src);
size_t zt_units_elems(const struct zt_policy *p, uint64_t id, const char *rel,
		      struct zt_unit_elem out[ZT_UNIT_ELEMS]);

/* Pure: the same policy and options always give the same plan. */
int zt_compile(const struct zt_policy *p, const struct zt_compile_opts *opts,
	       struct zt_plan **ret, struct zt_diags *d);
struct zt_plan *zt_plan_free(struct zt_plan *plan);

/*
 * A plan kept between applies, slimmed: the elements of every set not in
 * keep (a NULL-terminated list of names) and every rule are freed; the
 * definitions stay, and zt_plan_count_objects() still counts what was
 * there. Only zt_plan_unslim() makes it whole again, with a plan compiled
 * anew from the same policy and options (compile is pure): it takes that
 * plan's elements and rules if its shape (zt_plan_shape()) is the one
 * recorded, -ESTALE otherwise (full is left as it was). Apply and the plan
 * diff refuse a slim plan (-EINVAL). ztsegd keeps its running plan so
 * (daemon/ztsegd-policy.c): at 10,000 segments the elements and rules are
 * about 90 of the plan's 100 MB, and only a reload reads them.
 */
void zt_plan_slim(struct zt_plan *plan, const char *const keep[]);
/* The objects it writes: the table, counters, sets, chains, static elements and rules (a slim plan: before). */
size_t zt_plan_count_objects(const struct zt_plan *p);
int zt_plan_unslim(struct zt_plan *plan, struct zt_plan *full);
/* Every counter's, set's and chain's name, and how many elements and rules (FNV-1a); a slim plan's own. */
uint64_t zt_plan_shape(const struct zt_plan *plan);

/* Lookups by name (binary search); NULL if absent. */
const struct zt_set *zt_plan_find_set(const struct zt_plan *plan, const char *name);
const struct zt_chain *zt_plan_find_chain(const struct zt_plan *plan, const char *name);
const struct zt_plan_mark *zt_plan_find_mark(const struct zt_plan *plan, uint32_t mark);

/* What a plan string is to nft, which decides how long it may be. */
enum zt_nft_str {
	ZT_NFT_COMMENT,		/* ≤ 128 bytes (NFTNL_UDATA_COMMENT_MAXLEN): nft refuses longer */
	ZT_NFT_LOG_PREFIX,	/* ≤ 127 (NF_LOG_PREFIXLEN - 1): nft 1.0.6 overruns its stack on longer */
};
#define ZT_NFT_STR_MAX 128

/*
 * The bytes of a comment or log prefix inside nft's quoted strings, which
 * render writes between quotes and emit hands the kernel: one rule, so the
 * two back ends agree. s is read up to size bytes; buf gets the result,
 * NUL-terminated, and is returned.
 */
const char *zt_nft_str(char buf[static ZT_NFT_STR_MAX + 1], const char *s, size_t size,
		       enum zt_nft_str kind);

#endif
