/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building the plan: the sets the compiler knows, object names, policy
 * positions, and the small helpers every stage uses to add chains, rules,
 * matches, statements, sets, elements and counters.
 */
#include <assert.h>
#include "compile-internal.h"

static const char *const variant_suffix[VARIANTS] = { "", "_s", "_d", "_sd" };

const struct set_def set_defs[N_SETS] = {
	[S_MEMBER_IF] = { "member_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, true, false,
			  "segment interfaces" },
	[S_ZONE_IF] = { "zone_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, true, false,
			"segment and bound boundary interfaces" },
	[S_ROUTE_OWNER] = { "route_owner", { ZT_TYPE_FIB_IFNAME }, 1, ZT_TYPE_VERDICT, true, false,
			    "routed through a member interface: the segment binds the source" },
	[S_OWN4] = { "own4", { ZT_TYPE_IPV4 }, 1, ZT_TYPE_VERDICT, true, false,
		     "static addresses bound to interfaces" },
	[S_OWN6] = { "own6", { ZT_TYPE_IPV6 }, 1, ZT_TYPE_VERDICT, true, false,
		     "static addresses bound to interfaces" },
	[S_SRC_IF] = { "src_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_VERDICT, true, false,
		       "source zone by member interface" },
	[S_SRC_BIF] = { "src_bif", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_VERDICT, true, false,
			"link-local source zone by boundary interface" },
	[S_ZONE_SRC] = { "zone_src", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
			 "source zone chain by zone id (dst4/dst6 give the zone of a static address)" },
	[S_DST4] = { "dst4", { ZT_TYPE_IPV4 }, 1, ZT_TYPE_MARK, true, false,
		     "destination zone by static address" },
	[S_DST6] = { "dst6", { ZT_TYPE_IPV6 }, 1, ZT_TYPE_MARK, true, false,
		     "destination zone by static address" },
	[S_DSTB4] = { "dstb4", { ZT_TYPE_IPV4 }, 1, ZT_TYPE_VERDICT, true, false,
		      "destination owned by a bound boundary" },
	[S_DSTB6] = { "dstb6", { ZT_TYPE_IPV6 }, 1, ZT_TYPE_VERDICT, true, false,
		      "destination owned by a bound boundary" },
	[S_DST_IF] = { "dst_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_MARK, true, false,
		       "destination zone by member interface" },
	[S_SUB_IF] = { "sub_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, true, false,
		       "interfaces of segments with subnets" },
	[S_ENC_IF] = { "enc_if", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
		       "encrypting interfaces named in hub.encrypted-interfaces" },
	[S_FP] = { "fp", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		   ZT_TYPE_MARK, false, false, "flows by zone pair, protocol and port" },
	[S_FR] = { "fr", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		   ZT_TYPE_MARK, true, false, "flows with wide port ranges" },
	[S_FI4] = { "fi4", { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, 2, ZT_TYPE_MARK, false, false,
		    "flows by zone pair and icmp type" },
	[S_FI6] = { "fi6", { ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE }, 2, ZT_TYPE_MARK, false, false,
		    "flows by zone pair and icmpv6 type" },
	[S_FPROTO] = { "fproto", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO }, 2, ZT_TYPE_MARK, false,
		       false, "flows by zone pair and protocol" },
	[S_FANY] = { "fany", { ZT_TYPE_MARK }, 1, ZT_TYPE_MARK, false, false,
		     "flows on any protocol, by zone pair" },
	[S_FPV] = { "fpv", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		    ZT_TYPE_VERDICT, false, false, "checked flows by zone pair, protocol and port" },
	[S_FRV] = { "frv", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		    ZT_TYPE_VERDICT, true, false, "checked flows with wide port ranges" },
	[S_FI4V] = { "fi4v", { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, 2, ZT_TYPE_VERDICT, false, false,
		     "checked flows by zone pair and icmp type" },
	[S_FI6V] = { "fi6v", { ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE }, 2, ZT_TYPE_VERDICT, false, false,
		     "checked flows by zone pair and icmpv6 type" },
	[S_FPROTOV] = { "fprotov", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO }, 2, ZT_TYPE_VERDICT, false,
			false, "checked flows by zone pair and protocol" },
	[S_FANYV] = { "fanyv", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "checked flows on any protocol, by zone pair" },
	[S_OOS] = { "oos", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		    "zone pairs out of scope" },
	[S_FCNT] = { "fcnt", { ZT_TYPE_MARK }, 1, ZT_TYPE_COUNTER, false, false,
		     "flow id to its counter" },
	[S_FP_OUT] = { "fp_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		       ZT_TYPE_MARK, false, false, "host flows by zone pair, protocol and port" },
	[S_FR_OUT] = { "fr_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
		       ZT_TYPE_MARK, true, false, "host flows with wide port ranges" },
	[S_FI4_OUT] = { "fi4_out", { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, 2, ZT_TYPE_MARK, false,
			false, "host flows by zone pair and icmp type" },
	[S_FI6_OUT] = { "fi6_out", { ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE }, 2, ZT_TYPE_MARK, false,
			false, "host flows by zone pair and icmpv6 type" },
	[S_FPROTO_OUT] = { "fproto_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO }, 2, ZT_TYPE_MARK,
			   false, false, "host flows by zone pair and protocol" },
	[S_FANY_OUT] = { "fany_out", { ZT_TYPE_MARK }, 1, ZT_TYPE_MARK, false, false,
			 "host flows on any protocol, by zone pair" },
	[S_FPV_OUT] = { "fpv_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
			ZT_TYPE_VERDICT, false, false, "checked host flows by zone pair, protocol and port" },
	[S_FRV_OUT] = { "frv_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 3,
			ZT_TYPE_VERDICT, true, false, "checked host flows with wide port ranges" },
	[S_FI4V_OUT] = { "fi4v_out", { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, 2, ZT_TYPE_VERDICT, false,
			 false, "checked host flows by zone pair and icmp type" },
	[S_FI6V_OUT] = { "fi6v_out", { ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE }, 2, ZT_TYPE_VERDICT, false,
			 false, "checked host flows by zone pair and icmpv6 type" },
	[S_FPROTOV_OUT] = { "fprotov_out", { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO }, 2, ZT_TYPE_VERDICT,
			    false, false, "checked host flows by zone pair and protocol" },
	[S_FANYV_OUT] = { "fanyv_out", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
			  "checked host flows on any protocol, by zone pair" },
	[S_MEMBER_RT] = { "member_rt", { ZT_TYPE_FIB_IFNAME }, 1, ZT_TYPE_NONE, true, false,
			  "segment interfaces, as fib daddr oifname: packets going to a member" },
	[S_SPK_O] = { "spk_o", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "connection to the side that may send its original-direction ICMP errors" },
	[S_SPK_R] = { "spk_r", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "connection to the side that may send its reply-direction ICMP errors" },
	[S_INST] = { "inst", { ZT_TYPE_MARK }, 1, ZT_TYPE_MARK, false, false,
		     "zone pair ^ flow key to the connection mark, for flows judged in a chain" },
	[S_JIT4] = { "jit4", { ZT_TYPE_IPV4, ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 4,
		     ZT_TYPE_MARK, false, true, "grants: source . zone pair . protocol . port to the grant's mark",
		     true },
	[S_JIT6] = { "jit6", { ZT_TYPE_IPV6, ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, 4,
		     ZT_TYPE_MARK, false, true, "grants: source . zone pair . protocol . port to the grant's mark",
		     true },
	[S_JLIVE] = { "jlive", { ZT_TYPE_MARK }, 1, ZT_TYPE_COUNTER, false, true,
		      "marks of live grants to their counters: their connections pass while they are here", true },
	[S_JSPK_O] = { "jspk_o", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, true,
		       "grant marks to the side that may send their original-direction ICMP errors", true },
	[S_JSPK_R] = { "jspk_r", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, true,
		       "grant marks to the side that may send their reply-direction ICMP errors", true },
	/* Unit zones (compile-units.c, doc/RULESET.md "Unit zones"): ztsegd fills the ucg_* maps. */
	[S_UCG_KNOWN] = { "ucg_known", { ZT_TYPE_CGROUP }, 1, ZT_TYPE_NONE, false, true,
			  "every level-2 cgroup ztsegd has classified (others are denied until it has)" },
	[S_USRC] = { "usrc", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		     "unit zone << 16 to goto from_<unit zone>: the unit opens a connection (compiled)" },
	[S_UCG_LO] = { "ucg_lo", { ZT_TYPE_CGROUP }, 1, ZT_TYPE_MARK, false, true,
		       "unit cgroups to their zone << 16: the source of a loopback connection" },
	[S_ULIN] = { "ulin", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		     "packet-mark tokens to goto lin_<unit zone>: the destination of a loopback connection (compiled)" },
	[S_UCG_MM] = { "ucg_mm", { ZT_TYPE_CGROUP }, 1, ZT_TYPE_MARK, false, true,
		       "unit cgroups to their zone's packet-mark token: the destination of a connection" },
	[S_UMK] = { "umk", { ZT_TYPE_MARK }, 1, ZT_TYPE_MARK, false, false,
		    "packet-mark tokens to unit zone ids (classify_dst in input)" },
	[S_ULOGF] = { "ulogf", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "deny log: unit zone << 16 to jump ulf_<zone>, its log index into the mark bits ztseg owns" },
	[S_ULOGT] = { "ulogt", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "deny log: unit zone to jump ult_<zone>, its log index into the mark bits ztseg owns" },
	[S_SRC_REST] = { "src_rest", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
			 "a member interface's rest id (dst_ifx) to its source chain: goto from_<rest>, or src_suba" },
	/* No twin holds a jump or goto: adding one would make the kernel validate the whole table. */
	[S_ROUTE_OWNX] = { "route_ownx", { ZT_TYPE_FIB_IFNAME }, 1, ZT_TYPE_VERDICT, false, true,
			   "the host's interfaces by exact name: accept for a member's, return for others" },
	[S_ZONE_IFX] = { "zone_ifx", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
			 "the host's interfaces zone_if covers, by exact name (filled from the links)" },
	[S_ZONE_IFN] = { "zone_ifn", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
			 "the host's interfaces zone_if does not cover, by exact name (filled from the links)" },
	[S_MEMBER_IFX] = { "member_ifx", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
			   "the host's interfaces member_if covers, by exact name (filled from the links)" },
	[S_MEMBER_IFN] = { "member_ifn", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
			   "the host's interfaces member_if does not cover, by exact name (filled from the links)" },
	[S_SUB_IFX] = { "sub_ifx", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_NONE, false, true,
			"the host's interfaces sub_if covers, by exact name (filled from the links)" },
	[S_DST_IFX] = { "dst_ifx", { ZT_TYPE_IFNAME }, 1, ZT_TYPE_MARK, false, true,
			"dst_if for the host's member interfaces by exact name (filled from the links)" },
	[S_BR_SRC] = { "br_src", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		       "source bridge port's segment (packet-mark bits) to its source zone chain" },
	[S_BR_DZ] = { "br_dz", { ZT_TYPE_MARK }, 1, ZT_TYPE_MARK, false, false,
		      "destination bridge port's segment (packet-mark bits) to its rest id" },
	[S_BR_DV] = { "br_dv", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		      "destination bridge port's segment: its subnets, or done" },
};

const struct set_def sub_defs[N_SUB] = {
	[SUB_SRC4] = { "sub_src4", { ZT_TYPE_MARK, ZT_TYPE_IPV4 }, 2, ZT_TYPE_VERDICT, true, false,
		       "source subnet by segment rest and address" },
	[SUB_SRC6] = { "sub_src6", { ZT_TYPE_MARK, ZT_TYPE_IPV6 }, 2, ZT_TYPE_VERDICT, true, false,
		       "source subnet by segment rest and address" },
	[SUB_DST4] = { "sub_dst4", { ZT_TYPE_MARK, ZT_TYPE_IPV4 }, 2, ZT_TYPE_MARK, true, false,
		       "destination subnet by segment rest and address" },
	[SUB_DST6] = { "sub_dst6", { ZT_TYPE_MARK, ZT_TYPE_IPV6 }, 2, ZT_TYPE_MARK, true, false,
		       "destination subnet by segment rest and address" },
	[SUB_REST] = { "sub_rest", { ZT_TYPE_MARK }, 1, ZT_TYPE_VERDICT, false, false,
		       "rest of a segment with subnets: its source zone chain" },
};

/* ---- Small open-addressing map, u64 -> u32 (0: absent) ---- */

static size_t u64_slot(const struct u64map *m, uint64_t k)
{
	uint64_t h = k * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 17) & (m->cap - 1);

	while (m->v[i] && m->k[i] != k)
		i = (i + 1) & (m->cap - 1);
	return i;
}

uint32_t u64map_get(const struct u64map *m, uint64_t k)
{
	return m->cap ? m->v[u64_slot(m, k)] : 0;
}

/* Sets k to v (v != 0). */
int u64map_put(struct u64map *m, uint64_t k, uint32_t v)
{
	if (2 * (m->n + 1) > m->cap) {
		struct u64map g = { .cap = m->cap ? 2 * m->cap : 64 };

		if (!(g.k = calloc(g.cap, sizeof(*g.k))) || !(g.v = calloc(g.cap, sizeof(*g.v)))) {
			free(g.k);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i]) {
				size_t j = u64_slot(&g, m->k[i]);

				g.k[j] = m->k[i];
				g.v[j] = m->v[i];
				g.n++;
			}
		free(m->k);
		free(m->v);
		*m = g;
	}
	size_t i = u64_slot(m, k);

	m->n += !m->v[i];
	m->k[i] = k;
	m->v[i] = v;
	return 0;
}

void u64map_free(struct u64map *m)
{
	free(m->k);
	free(m->v);
	*m = (struct u64map){};
}

/* ---- Names ---- */

void name_zone_chain(char buf[ZT_OBJ_NAME_MAX], const char *prefix, uint32_t zone)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "%s_%04x", prefix, zone);
}

void name_flow_chain(char buf[ZT_OBJ_NAME_MAX], uint32_t id, unsigned v)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "f_%08x%s", id, variant_suffix[v]);
}

void name_counter(char buf[ZT_OBJ_NAME_MAX], uint32_t id)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "c_%08x", id);
}

void name_num(char buf[ZT_OBJ_NAME_MAX], const char *prefix, size_t n)
{
	snprintf(buf, ZT_OBJ_NAME_MAX, "%s_%zu", prefix, n);
}

/* ---- Positions: the plan keeps its own copy of the file names ---- */

static int fmap_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct fmap *)a)->in;
	uintptr_t y = (uintptr_t)((const struct fmap *)b)->in;

	return x < y ? -1 : x > y;
}

int files_copy(struct cc *c)
{
	const struct zt_policy *p = c->p;
	struct zt_plan *pl = c->plan;

	if (!p->n_files)
		return 0;
	if (!(pl->files = calloc(p->n_files, sizeof(*pl->files))) ||
	    !(c->fmap = calloc(p->n_files, sizeof(*c->fmap))))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_files; i++) {
		if (!(pl->files[i] = strdup(p->files[i])))
			return -ENOMEM;
		pl->n_files++;
		c->fmap[i] = (struct fmap){ .in = p->files[i], .out = pl->files[i] };
	}
	c->n_fmap = p->n_files;
	qsort(c->fmap, c->n_fmap, sizeof(*c->fmap), fmap_cmp);
	return 0;
}

/* A name not from the policy's file table (a hand-built policy): copy it once. */
static const char *file_adopt(struct cc *c, const char *f)
{
	struct zt_plan *pl = c->plan;
	char **nv;

	for (size_t i = 0; i < pl->n_files; i++)
		if (streq(pl->files[i], f))
			return pl->files[i];
	if (!(nv = realloc(pl->files, (pl->n_files + 1) * sizeof(*nv)))) {
		c->oom = true;
		return NULL;
	}
	pl->files = nv;
	if (!(nv[pl->n_files] = strdup(f))) {
		c->oom = true;
		return NULL;
	}
	return nv[pl->n_files++];
}

struct zt_pos pos_of(struct cc *c, const struct zt_pos *pos)
{
	struct zt_pos r = *pos;
	struct fmap key = { .in = pos->file }, *m;

	if (!pos->file)
		return r;
	if (pos->file != c->last_in) {
		m = c->n_fmap ? bsearch(&key, c->fmap, c->n_fmap, sizeof(*c->fmap), fmap_cmp) : NULL;
		c->last_in = pos->file;
		c->last_out = m ? m->out : file_adopt(c, pos->file);
	}
	r.file = c->last_out;
	return r;
}

const char *src_str(const struct zt_pos *pos, char *buf, size_t len)
{
	snprintf(buf, len, "%s", pos->file ? pos->file : "?");
	return buf;
}

/* ---- Plan building ---- */

int chain_new(struct cc *c, const char *name, enum zt_hook hook, int prio)
{
	struct zt_plan *pl = c->plan;
	struct zt_chain *ch;

	if (ZT_GROW(pl->chains, pl->cap_chains, pl->n_chains) < 0)
		return -ENOMEM;
	ch = &pl->chains[pl->n_chains];
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	ch->hook = hook;
	ch->prio = prio;
	return (int)pl->n_chains++;
}

/* Valid until the next rule_new() on the same chain. */
struct zt_rule *rule_new(struct cc *c, int ci, const char *comment)
{
	struct zt_chain *ch = &c->plan->chains[ci];
	struct zt_rule *r;

	/*
	 * Most chains hold one to three rules and there may be 100,000
	 * chains: grow from one, not from ZT_GROW's four.
	 */
	if (ch->n_rules == ch->cap_rules) {
		size_t cap = ch->cap_rules ? 2 * ch->cap_rules : 1;

		if (!(r = reallocarray(ch->rules, cap, sizeof(*r))))
			return NULL;
		ch->rules = r;
		ch->cap_rules = cap;
	}
	r = &ch->rules[ch->n_rules++];
	memset(r, 0, sizeof(*r));
	snprintf(r->comment, sizeof(r->comment), "%s", comment);
	return r;
}

int rule_verdict(struct cc *c, int ci, const char *comment, enum zt_verdict_code code, const char *chain)
{
	struct zt_rule *r = rule_new(c, ci, comment);

	if (!r)
		return -ENOMEM;
	s_verdict(r, code, chain);
	return 0;
}

int rule_vmap1(struct cc *c, int ci, const char *comment, enum zt_key key, const char *set)
{
	struct zt_rule *r = rule_new(c, ci, comment);

	if (!r)
		return -ENOMEM;
	s_vmap1(r, key, set);
	return 0;
}

/*
 * Grow one of a rule's arrays by one zeroed entry. When that fails the
 * rule is marked (zt_compile() returns -ENOMEM) and the caller writes into
 * `sink`, a scratch entry nothing reads, so the many void builders below
 * need no error path of their own.
 */
static void *rule_grow(struct zt_rule *r, void **v, size_t *n, size_t max, size_t size, void *sink)
{
	void *p;

	assert(*n < max);
	if (r->oom || !(p = realloc(*v, (*n + 1) * size))) {
		r->oom = true;
		memset(sink, 0, size);
		return sink;
	}
	*v = p;
	p = (char *)p + (*n)++ * size;
	memset(p, 0, size);
	return p;
}

struct zt_match *m_next(struct zt_rule *r, enum zt_match_op op, enum zt_key key)
{
	static _Thread_local struct zt_match sink;
	struct zt_match *m = rule_grow(r, (void **)&r->match, &r->n_match, ZT_RULE_MAX_MATCH,
				       sizeof(*m), &sink);

	m->op = op;
	m->key[0] = key;
	m->n_key = 1;
	return m;
}

void m_set(struct zt_rule *r, bool negate, enum zt_key key, const char *set)
{
	struct zt_match *m = m_next(r, negate ? ZT_M_NOT_IN_SET : ZT_M_IN_SET, key);

	snprintf(m->set, sizeof(m->set), "%s", set);
}

void m_eq(struct zt_rule *r, enum zt_key key, enum zt_type type, uint32_t v)
{
	struct zt_match *m = m_next(r, ZT_M_EQ, key);

	m->value = (struct zt_value){ .type = type, .u32 = v, .u32_hi = v };
}

void m_ne(struct zt_rule *r, enum zt_key key, enum zt_type type, uint32_t v)
{
	struct zt_match *m = m_next(r, ZT_M_NE, key);

	m->value = (struct zt_value){ .type = type, .u32 = v, .u32_hi = v };
}

void m_flag(struct zt_rule *r, enum zt_match_op op, enum zt_key key)
{
	m_next(r, op, key);
}

void m_ct_state(struct zt_rule *r, uint32_t mask)
{
	m_next(r, ZT_M_CT_STATE, ZT_KEY_CT_STATE)->ct_state = mask;
}

/* `key { v… }`: the values are copied. */
int m_anon(struct zt_rule *r, enum zt_key key, enum zt_type type, bool interval,
	   const struct zt_value *v, size_t n)
{
	struct zt_match *m = m_next(r, ZT_M_IN_ANON, key);

	if (r->oom)
		return -ENOMEM;
	m->anon = (struct zt_anon){ .type = type, .interval = interval };
	if (!(m->anon.v = calloc(n ? n : 1, sizeof(*v))))
		return -ENOMEM;
	if (n)
		memcpy(m->anon.v, v, n * sizeof(*v));
	m->anon.n = n;
	return 0;
}

struct zt_stmt *s_next(struct zt_rule *r, enum zt_stmt_kind kind)
{
	static _Thread_local struct zt_stmt sink;
	struct zt_stmt *s = rule_grow(r, (void **)&r->stmt, &r->n_stmt, ZT_RULE_MAX_STMT, sizeof(*s), &sink);

	s->kind = kind;
	return s;
}

void s_verdict(struct zt_rule *r, enum zt_verdict_code code, const char *chain)
{
	struct zt_stmt *s = s_next(r, ZT_S_VERDICT);

	s->verdict.code = code;
	if (chain)
		snprintf(s->verdict.chain, sizeof(s->verdict.chain), "%s", chain);
}

static void s_keys(struct zt_stmt *s, const enum zt_key *keys, size_t n, const char *set)
{
	assert(n <= ZT_MAX_CONCAT);
	memcpy(s->key, keys, n * sizeof(*keys));
	s->n_key = n;
	snprintf(s->set, sizeof(s->set), "%s", set);
}

void s_vmap(struct zt_rule *r, const enum zt_key *keys, size_t n, const char *set)
{
	s_keys(s_next(r, ZT_S_VMAP), keys, n, set);
}

void s_vmap1(struct zt_rule *r, enum zt_key key, const char *set)
{
	s_vmap(r, &key, 1, set);
}

void s_mark_map(struct zt_rule *r, const enum zt_key *keys, size_t n, const char *set)
{
	s_keys(s_next(r, ZT_S_CT_MARK_SET_MAP), keys, n, set);
}

void s_mark_map1(struct zt_rule *r, enum zt_key key, const char *set)
{
	s_mark_map(r, &key, 1, set);
}

void s_counter_map(struct zt_rule *r, enum zt_key key, const char *set)
{
	s_keys(s_next(r, ZT_S_COUNTER_MAP), &key, 1, set);
}

void s_counter(struct zt_rule *r, const char *name)
{
	struct zt_stmt *s = s_next(r, ZT_S_COUNTER_NAMED);

	snprintf(s->counter, sizeof(s->counter), "%s", name);
}

void s_mark(struct zt_rule *r, enum zt_stmt_kind kind, uint32_t v)
{
	s_next(r, kind)->u32 = v;
}

void s_log(const struct cc *c, struct zt_rule *r, const char *prefix)
{
	struct zt_stmt *s = s_next(r, ZT_S_LOG);

	s->log_group = c->o.log_group;
	s->log_rate = c->o.log_rate;
	s->log_burst = c->o.log_burst;
	snprintf(s->log_prefix, sizeof(s->log_prefix), "%s", prefix);
}

/* A set of the plan from its definition; returns its index. */
int set_add(struct cc *c, const struct set_def *def, const char *name)
{
	struct zt_plan *pl = c->plan;
	struct zt_set *s;

	if (ZT_GROW(pl->sets, pl->cap_sets, pl->n_sets) < 0)
		return -ENOMEM;
	s = &pl->sets[pl->n_sets];
	snprintf(s->name, sizeof(s->name), "%s", name);
	memcpy(s->key, def->key, def->n_key * sizeof(def->key[0]));
	s->n_key = def->n_key;
	s->data = def->data;
	s->interval = def->interval;
	s->dynamic = def->dynamic;
	s->timeout = def->timeout;
	s->eval = def->eval;
	s->size = def->size;
	snprintf(s->comment, sizeof(s->comment), "%s", def->comment);
	return (int)pl->n_sets++;
}

int set_new(struct cc *c, enum set_id id)
{
	int si = set_add(c, &set_defs[id], set_defs[id].name);

	if (si < 0)
		return si;
	c->set[id] = si;
	return 0;
}

/* Zeroed; valid until the next elem_new_at() on the same set. */
struct zt_elem *elem_new_at(struct cc *c, int si)
{
	struct zt_set *s = &c->plan->sets[si];
	struct zt_elem *v = s->elems;

	/* Whole elements while compiling: plan_sort() packs them at the end. */
	assert(!s->esize);
	/* zt_grow() zeroes what it adds, and elements are never taken back. */
	if (ZT_GROW(v, s->cap_elems, s->n_elems) < 0)
		return NULL;
	s->elems = v;
	return &v[s->n_elems++];
}

struct zt_elem *elem_new(struct cc *c, enum set_id id)
{
	return elem_new_at(c, c->set[id]);
}

int counter_new(struct cc *c, const char *name, const char *comment)
{
	struct zt_plan *pl = c->plan;
	struct zt_counter *k;

	if (ZT_GROW(pl->counters, pl->cap_counters, pl->n_counters) < 0)
		return -ENOMEM;
	k = &pl->counters[pl->n_counters++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->comment, sizeof(k->comment), "%s", comment);
	return 0;
}

struct zt_value v_u32(enum zt_type type, uint32_t v)
{
	return (struct zt_value){ .type = type, .u32 = v, .u32_hi = v };
}

struct zt_value v_verdict(enum zt_verdict_code code, const char *chain)
{
	struct zt_value v = { .type = ZT_TYPE_VERDICT, .verdict.code = code };

	snprintf(v.verdict.chain, sizeof(v.verdict.chain), "%s", chain);
	return v;
}

struct zt_value v_zone_goto(const char *prefix, uint32_t zone)
{
	char name[ZT_OBJ_NAME_MAX];

	name_zone_chain(name, prefix, zone);
	return v_verdict(ZT_V_GOTO, name);
}

/* An interface pattern as a value; positions travel in the element, not here. */
struct zt_value v_ifpat(enum zt_type type, const struct zt_ifpat *p)
{
	struct zt_value v = { .type = type, .ifpat = *p };

	v.ifpat.pos = (struct zt_pos){};
	return v;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t u32_uniq(uint32_t *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), u32_cmp);
	for (size_t i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* ---- Sequence interning ---- */

static uint32_t seq_hash(const uint32_t *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 4; b++) {
			h ^= (s[i] >> (8 * b)) & 0xff;
			h *= 16777619u;
		}
	return h;
}

static bool seq_eq(const struct seqtab *t, size_t i, const uint32_t *s, size_t n)
{
	return t->v[i].len == n && !memcmp(t->pool + t->v[i].off, s, n * sizeof(*s));
}

static int seq_rehash(struct seqtab *t)
{
	size_t n = t->n_hash ? t->n_hash * 2 : 64;
	uint32_t *h = calloc(n, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = seq_hash(t->pool + t->v[i].off, t->v[i].len) & (n - 1);

		while (h[j])
			j = (j + 1) & (n - 1);
		h[j] = (uint32_t)(i + 1);
	}
	free(t->hash);
	t->hash = h;
	t->n_hash = n;
	return 0;
}

/* The index of s in t, added if new: numbering follows first appearance. */
int seq_intern(struct seqtab *t, const uint32_t *s, size_t n, size_t *ret)
{
	size_t j;

	if ((t->n + 1) * 2 > t->n_hash && seq_rehash(t) < 0)
		return -ENOMEM;
	for (j = seq_hash(s, n) & (t->n_hash - 1); t->hash[j]; j = (j + 1) & (t->n_hash - 1))
		if (seq_eq(t, t->hash[j] - 1, s, n)) {
			*ret = t->hash[j] - 1;
			return 0;
		}
	if (ZT_GROW(t->v, t->cap, t->n) < 0 ||
	    (n && ZT_GROW(t->pool, t->cap_pool, t->n_pool + n - 1) < 0))
		return -ENOMEM;
	memcpy(t->pool + t->n_pool, s, n * sizeof(*s));
	t->v[t->n] = (struct seq){ .off = t->n_pool, .len = n };
	t->n_pool += n;
	t->hash[j] = (uint32_t)(t->n + 1);
	*ret = t->n++;
	return 0;
}

void seq_free(struct seqtab *t)
{
	free(t->pool);
	free(t->v);
	free(t->hash);
}
