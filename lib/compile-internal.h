/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The compiler's shared state (struct cc) and what its stages share:
 * private to lib/compile*.c. compile.c drives the stages in order.
 */
#pragma once

#include <netinet/in.h>
#include <stdio.h>
#include "plan.h"

#define ID_WORLD 1
#define ID_HOST 2
#define PRIO_RAW (-300)
#define PRIO_FILTER 0

struct zinfo {
	enum zt_zone_kind kind;		/* SEGMENT: the segment's rest */
	int seg, sub, bnd;
	bool bound;			/* a boundary that names interfaces */
	bool leaves;			/* boundary or world: its leg leaves the machine */
	bool dflt;			/* a bound boundary holding a /0: not every source is its */
	bool unit;			/* a unit segment: its units' host-local sockets (compile-units.c) */
};

enum cflow_kind { CF_HUB, CF_SAME, CF_RULE, CF_OOS };

/* The encrypted-leg variants of a flow chain: bit 0 source leaves, bit 1 destination. */
#define VARIANTS 4

/* Everything that has a flow id, in candidate order. */
struct cflow {
	enum cflow_kind kind;
	const struct zt_flow *f;	/* HUB, RULE */
	int seg;			/* SAME, RULE */
	uint32_t id;			/* names its counter and chains; stable while its text is */
	uint32_t mh;			/* its meaning: text, and the hub settings it depends on */
	uint32_t xk;			/* f_<id> chains: ct mark ^ xk is the inst map's key */
	bool encrypted;
	bool chained;			/* some key reaches it through f_<id> */
	bool flood;			/* a threats.flood flow: limit looks up its connections' marks */
	uint8_t used;			/* bit v: an element targets variant v */
	struct zt_pos pos;
	char desc[96];			/* "flow public-web ztseg.yaml:31" */
	char logname[115];		/* what log prefixes call it: "ztseg allow NAME " fits 127 bytes */
};

/* Interned sequences of u32: chains k_<n>, dzb_<n> and ownb_<n>, numbered as first met. */
struct seqtab {
	uint32_t *pool;
	size_t n_pool, cap_pool;
	struct seq {
		size_t off, len;
	} *v;
	size_t n, cap;
	uint32_t *hash;			/* index + 1; 0 empty */
	size_t n_hash;
};

enum set_id {
	S_MEMBER_IF, S_ZONE_IF, S_ROUTE_OWNER, S_OWN4, S_OWN6, S_SRC_IF, S_SRC_BIF,
	S_ZONE_SRC, S_DST4, S_DST6, S_DSTB4, S_DSTB6,
	S_DST_IF, S_SUB_IF, S_ENC_IF, S_FP, S_FR, S_FI4, S_FI6,
	S_FPROTO, S_FANY, S_FPV, S_FRV, S_FI4V, S_FI6V, S_FPROTOV, S_FANYV, S_OOS, S_FCNT,
	S_FP_OUT, S_FR_OUT, S_FI4_OUT, S_FI6_OUT, S_FPROTO_OUT, S_FANY_OUT,
	S_FPV_OUT, S_FRV_OUT, S_FI4V_OUT, S_FI6V_OUT, S_FPROTOV_OUT, S_FANYV_OUT,
	S_MEMBER_RT, S_SPK_O, S_SPK_R, S_INST, S_JIT4, S_JIT6, S_JLIVE, S_JSPK_O, S_JSPK_R,
	S_UCG_KNOWN, S_USRC, S_UCG_LO, S_ULIN, S_UCG_MM, S_UMK, S_ULOGF, S_ULOGT, S_SRC_REST,
	/* the exact-name twins of the pattern sets (ifx.h): dynamic, filled by apply and ztsegd */
	S_ROUTE_OWNX, S_ZONE_IFX, S_ZONE_IFN, S_MEMBER_IFX, S_MEMBER_IFN, S_SUB_IFX, S_DST_IFX,
	/* bridged workloads (compile-bridge.c) */
	S_BR_SRC, S_BR_DZ, S_BR_DV, N_SETS
};

/*
 * Each flow map has a twin for the keys that need a chain: the mark map
 * (fp) gives the flow id of a key whose first candidate always accepts,
 * and judge counts and accepts it with `counter name ct mark map @fcnt`;
 * the verdict map (fpv) jumps to f_<id>_<variant> or k_<n> where a flow is
 * encrypted (its legs are checked there) or `log: all` logs each flow.
 * One chain per flow would be 20,000 chains at 10,000 segments, and the
 * kernel walks every chain on every commit.
 */
#define S_V_DELTA (S_FPV - S_FP)

/*
 * The host's own connections (output hook) look up maps of their own: the
 * kernel validates every chain a map's verdicts reach against every hook
 * that reaches the map, and refuses `meta ipsec` (an encrypted source leg,
 * f_<id>_s) under output. Host-sourced keys never need that check.
 */
#define S_OUT_DELTA (S_FP_OUT - S_FP)

struct set_def {
	const char *name;
	enum zt_type key[ZT_MAX_CONCAT];
	size_t n_key;
	enum zt_type data;
	bool interval, dynamic;
	const char *comment;
	bool timeout;
	bool eval;			/* flags dynamic */
	uint32_t size;
};

/*
 * One subnet map per family and direction, keyed by the segment's rest id
 * and the address (an interval concatenation): a packet on one of a
 * segment's interfaces is in one of *its* subnets or its rest
 * (doc/SEMANTICS.md), never in another segment's subnet. One map, not one
 * per segment: the kernel looks sets up by name in a list, so thousands of
 * them make every rule that names one, and every new set, cost more.
 */
enum { SUB_SRC4, SUB_SRC6, SUB_DST4, SUB_DST6, SUB_REST, N_SUB };

struct fmap {
	const char *in, *out;
};

struct u64map {
	uint64_t *k;
	uint32_t *v;
	size_t n, cap;			/* cap: a power of two, or 0 */
};

/*
 * A connection's mark once a flow allowed it: one per flow and zone pair,
 * so that an ICMP error can be checked against the side it claims to come
 * from, and so that a reload that changes what the pair means (its zones'
 * addresses or interfaces, the hub settings) leaves no stale connection.
 */
struct inst {
	uint32_t flow;			/* index into flows */
	uint32_t zp;			/* src zone << 16 | dst zone */
	uint32_t id;			/* 0x80000000 | hash; unique in the plan */
	bool chained;			/* reached through f_<flow id>: needs an inst element */
};

struct cc {
	const struct zt_policy *p;
	struct zt_compile_opts o;
	struct zt_diags *d;
	struct zt_plan *plan;
	int set[N_SETS];		/* index into plan->sets, or -1 */
	int sub[N_SUB];			/* the subnet maps, or -1 while no segment has subnets */
	struct zinfo *zones;		/* by id; [0] unused */
	uint32_t *zh;			/* by id: the zone's meaning (doc/RULESET.md, "Revocation") */
	uint32_t allpats;		/* every segment interface pattern, hashed */
	uint32_t glob;			/* hub settings every connection's meaning depends on */
	struct inst *inst;		/* (flow, zone pair): what ct mark holds once allowed */
	size_t n_inst, cap_inst;
	struct u64map imap;		/* (flow << 32 | zone pair) -> index into inst + 1 */
	bool *spk;			/* by id: an ICMP error's side (spk_o, spk_r): own_<id> is needed */
	bool spk_any;
	bool abyt;		/* threats.anomaly series: bytes: map abyt exists (anomaly_build) */
	size_t n_zones;			/* the highest id */
	uint32_t *rest;			/* by segment: its rest's id, subnets follow */
	struct cflow *flows;
	size_t n_flows;
	size_t oos;			/* index into flows, or SIZE_MAX */
	uint32_t oos_id;		/* the out-of-scope connections' mark */
	struct seqtab kseq, dzb, ownb;
	size_t n_keys;
	bool all_segs_have_ifs;
	struct zt_pos hub;		/* hub: in the hub file, or the hub file itself */
	char hubpos[64];		/* "ztseg.yaml:24" */
	struct fmap *fmap;		/* policy file name -> plan copy, by pointer */
	size_t n_fmap;
	const char *last_in, *last_out;
	bool oom;			/* sticky: a position could not be copied */
	/* observe mode (compile-observe.c) */
	uint8_t *oclass;		/* by id: OC_ENFORCE, OC_OBSERVE (a segment's), OC_NONE (no segment) */
	int wobs, wobs_n;		/* the plan's sets wobs and wobs_n, or -1 */
};

enum { OC_ENFORCE, OC_OBSERVE, OC_NONE };

/* An own4/own6 label from OWNB_LABEL up stands for chain ownb_<label - OWNB_LABEL> (label_own()). */
#define OWNB_LABEL 0x10000u

/* What an element's label becomes in a map. */
enum dkind { D_NONE, D_MARK, D_OWN, D_FROM, D_SRC_OR_FROM, D_SRC_ADDR, D_DZB };

/*
 * The four unspecified and link-local source prefixes (::, fe80::/10,
 * 0.0.0.0, 169.254.0.0/16), classified by interface only: `ip6 saddr ::`,
 * each its own rule. A plain compare is cheaper than a lookup in an
 * anonymous set, and every packet passes spoof.
 */
#define N_UNSPEC 4

/* compile-plan.c */
extern const struct set_def set_defs[N_SETS];
extern const struct set_def sub_defs[N_SUB];
uint32_t u64map_get(const struct u64map *m, uint64_t k);
int u64map_put(struct u64map *m, uint64_t k, uint32_t v);
void u64map_free(struct u64map *m);
void name_zone_chain(char buf[ZT_OBJ_NAME_MAX], const char *prefix, uint32_t zone);
void name_flow_chain(char buf[ZT_OBJ_NAME_MAX], uint32_t id, unsigned v);
void name_counter(char buf[ZT_OBJ_NAME_MAX], uint32_t id);
void name_num(char buf[ZT_OBJ_NAME_MAX], const char *prefix, size_t n);
int files_copy(struct cc *c);
struct zt_pos pos_of(struct cc *c, const struct zt_pos *pos);
/*
 * Where an object comes from, for a kernel comment: its file, no line. A
 * line moves with every edit above it, and a rule whose comment changed is
 * rewritten (a counter keeps the comment it was made with).
 */
const char *src_str(const struct zt_pos *pos, char *buf, size_t len);
int chain_new(struct cc *c, const char *name, enum zt_hook hook, int prio);
struct zt_rule *rule_new(struct cc *c, int ci, const char *comment);
/* A rule that is one verdict (`goto deny`) or one verdict map (`ct mark vmap @spk_o`): 0 or -ENOMEM. */
int rule_verdict(struct cc *c, int ci, const char *comment, enum zt_verdict_code code, const char *chain);
int rule_vmap1(struct cc *c, int ci, const char *comment, enum zt_key key, const char *set);
struct zt_match *m_next(struct zt_rule *r, enum zt_match_op op, enum zt_key key);
void m_set(struct zt_rule *r, bool negate, enum zt_key key, const char *set);
void m_eq(struct zt_rule *r, enum zt_key key, enum zt_type type, uint32_t v);
void m_ne(struct zt_rule *r, enum zt_key key, enum zt_type type, uint32_t v);
void m_flag(struct zt_rule *r, enum zt_match_op op, enum zt_key key);
void m_ct_state(struct zt_rule *r, uint32_t mask);
int m_anon(struct zt_rule *r, enum zt_key key, enum zt_type type, bool interval,
	   const struct zt_value *v, size_t n);
struct zt_stmt *s_next(struct zt_rule *r, enum zt_stmt_kind kind);
void s_verdict(struct zt_rule *r, enum zt_verdict_code code, const char *chain);
void s_vmap(struct zt_rule *r, const enum zt_key *keys, size_t n, const char *set);
void s_vmap1(struct zt_rule *r, enum zt_key key, const char *set);
void s_mark_map(struct zt_rule *r, const enum zt_key *keys, size_t n, const char *set);
void s_mark_map1(struct zt_rule *r, enum zt_key key, const char *set);
void s_counter_map(struct zt_rule *r, enum zt_key key, const char *set);
void s_counter(struct zt_rule *r, const char *name);
void s_mark(struct zt_rule *r, enum zt_stmt_kind kind, uint32_t v);
void s_log(const struct cc *c, struct zt_rule *r, const char *prefix);
int set_add(struct cc *c, const struct set_def *def, const char *name);
int set_new(struct cc *c, enum set_id id);
struct zt_elem *elem_new_at(struct cc *c, int si);
struct zt_elem *elem_new(struct cc *c, enum set_id id);
int counter_new(struct cc *c, const char *name, const char *comment);
struct zt_value v_u32(enum zt_type type, uint32_t v);
struct zt_value v_verdict(enum zt_verdict_code code, const char *chain);
struct zt_value v_zone_goto(const char *prefix, uint32_t zone);
struct zt_value v_ifpat(enum zt_type type, const struct zt_ifpat *p);
size_t u32_uniq(uint32_t *v, size_t n);
int seq_intern(struct seqtab *t, const uint32_t *s, size_t n, size_t *ret);
void seq_free(struct seqtab *t);

/* compile-zones.c */
const char *zone_name(const struct cc *c, uint32_t id, char *buf, size_t len);
uint32_t zone_id(const struct cc *c, const struct zt_zone *z);
int zones_build(struct cc *c);
const struct zt_pos *zone_pos(const struct cc *c, uint32_t id);
void zone_desc(struct cc *c, uint32_t id, char *buf, size_t len);
uint32_t fnv_add(uint32_t h, const void *p, size_t n);
uint32_t fnv_u32(uint32_t h, uint32_t v);
uint32_t pats_hash(uint32_t h, const struct zt_ifpat *p, size_t n);
int flows_build(struct cc *c);

/* compile-marks.c */
int meanings_build(struct cc *c);
int inst_ref(struct cc *c, uint32_t flow, uint32_t zp, bool chained, uint32_t *ret);
int counters_build(struct cc *c);

/* compile-ifaces.c */
struct zt_value data_of(const struct cc *c, enum dkind k, uint32_t label);
int interfaces_build(struct cc *c);
int m_pats(struct zt_rule *r, enum zt_key key, const struct zt_ifpat *pats, size_t n);
const struct zt_ifpat *zone_pats(const struct cc *c, uint32_t id, size_t *n);

/* compile-addrs.c */
int zone_src_elems(struct cc *c);
int subnet_rests(struct cc *c);
int addresses_family(struct cc *c, uint8_t family);

/* compile-keys.c */
int flows_keys(struct cc *c);
int oos_keys(struct cc *c);
/* compile-marklist.c: the plan's marks, flow and zone names (after counters_build). */
int marks_export(struct cc *c);

/* compile-spoof.c */
int chain_spoofed(struct cc *c);
int chain_own(struct cc *c, uint32_t id);
int chain_own_fail(struct cc *c);
/* compile-chains.c: deny for an ICMP error own_fail refuses */
int chain_deny_err(struct cc *c);
void m_unspec_src(struct zt_rule *r, unsigned i);
int chain_spoof(struct cc *c);
int chain_rpf_fail(struct cc *c);
int chain_ownb(struct cc *c, size_t n);

/* compile-jit.c */
int refs_ids(struct cc *c, const struct zt_ref *refs, size_t n, uint32_t **ret, uint16_t **ret_ref,
	     size_t *n_ret);
int jit_build(struct cc *c);
bool spk_target(struct cc *c, uint32_t id, struct zt_value *ret);
void jit_rules(struct cc *c, int ci, bool established);
int jit_related(struct cc *c, int ci, bool reply);

/* compile-units.c */
static inline bool zone_local(const struct cc *c, uint32_t id)
{
	return id == ID_HOST || c->zones[id].unit;
}
uint32_t units_hash(uint32_t h, const struct zt_segment *s);
int units_chains(struct cc *c);
int units_output(struct cc *c, int ci, bool early);
int units_input(struct cc *c, int ci, bool early);
int units_classify_dst(struct cc *c, int ci);
int units_deny_log(struct cc *c, int ci, const char *what);

/* compile-bridge.c */
int bridge_build(struct cc *c);
static inline bool bridge_on(const struct cc *c)
{
	return c->plan->bridge.n_segs > 0;
}
uint32_t bridge_src_bits(const struct cc *c, uint32_t zone);
int bridge_classify_src(struct cc *c, int ci);
int bridge_classify_dst(struct cc *c, int ci);
int bridge_scope(struct cc *c, int ci, const char *what);
int bridge_forward_nd(struct cc *c, int ci);
int bridge_spoof(struct cc *c, int ci);
int bridge_spk(struct cc *c, int ci, uint32_t zone);

/* compile-flood.c */
int flood_build(struct cc *c);
int flood_rules(struct cc *c, int ci);
int flood_flow_rule(struct cc *c, int ci);
int flood_rules_except(struct cc *c, int ci);
/* compile-anomaly.c */
int anomaly_build(struct cc *c);

/* compile-chains.c */
/* meta l4proto { icmp, ipv6-icmp } */
int m_icmp_any(struct zt_rule *r);
int chains_build(struct cc *c);

/* compile-observe.c */
int observe_build(struct cc *c);
bool observe_on(const struct cc *c);
int observe_from(struct cc *c, int ci, uint32_t id, const char *what);
void observe_established(struct cc *c, int ci);
int observe_chains(struct cc *c);

/* compile.c */
int value_sort_cmp(const struct zt_value *a, const struct zt_value *b);
