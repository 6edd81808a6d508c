/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Flow keys: every flow's zone pairs and ports become keys of the flow
 * maps, each with the verdict its candidate flows give it.
 */
#include "compile-internal.h"

/* Set elements the flows may expand to: ~300 bytes each here, more in the kernel. */
#define FLOW_KEYS_MAX 2000000
/* A port range this short goes to the hash map as single ports. */
#define NARROW_PORTS 64
#define PROTOS_MAX 5

enum ecls { E_ANY, E_PROTO, E_TYPE, E_NARROW, E_WIDE };

/* One (zone pair, port entry) of one flow. */
struct ent {
	uint32_t zp;
	uint32_t rank;			/* index into c->flows: candidate order */
	uint8_t cls;			/* enum ecls */
	uint8_t proto;			/* IPPROTO_* */
	uint16_t lo, hi;		/* ports; E_TYPE: the type in lo */
};

struct ents {
	struct ent *v;
	size_t n, cap;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->zp != y->zp)
		return x->zp < y->zp ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->hi < y->hi ? -1 : x->hi > y->hi;
}

/* The finest zones a flow's side names; host only where the host is enforced. */
static int side_zones(const struct cc *c, const struct cflow *cf, bool to, uint32_t **ret, size_t *n_ret)
{
	const struct zt_policy *p = c->p;
	const struct zt_ref *refs = to ? cf->f->to : cf->f->from;
	size_t n_refs = to ? cf->f->n_to : cf->f->n_from, n = 0, cap = 0;
	uint32_t *v = NULL;

	for (size_t i = 0; i < n_refs; i++) {
		const struct zt_zone *z = &refs[i].zone;
		uint32_t first = zone_id(c, z), count = 1;

		if (!first || (z->kind == ZT_ZONE_HOST && !p->hub.protect_host))
			continue;
		/* A hub flow's segment is its rest and every subnet; a rule's is its rest. */
		if (z->kind == ZT_ZONE_SEGMENT && cf->kind == CF_HUB)
			count += (uint32_t)p->segs[z->seg].n_subnets;
		for (uint32_t k = 0; k < count; k++) {
			if (ZT_GROW(v, cap, n) < 0) {
				free(v);
				return -ENOMEM;
			}
			v[n++] = first + k;
		}
	}
	*n_ret = u32_uniq(v, n);
	*ret = v;
	return 0;
}

static struct ent port_ent(const struct zt_port *pt)
{
	struct ent e = { .proto = (uint8_t)zt_proto_number(pt->proto) };

	switch (pt->proto) {
	case ZT_PROTO_TCP:
	case ZT_PROTO_UDP:
	case ZT_PROTO_SCTP:
		e.lo = pt->lo;
		e.hi = pt->hi;
		if (pt->lo == 0 && pt->hi == 65535)
			e.cls = E_PROTO;
		else if ((unsigned)pt->hi - pt->lo < NARROW_PORTS)
			e.cls = E_NARROW;
		else
			e.cls = E_WIDE;
		break;
	case ZT_PROTO_ICMP:
	case ZT_PROTO_ICMPV6:
		e.cls = pt->icmp_type < 0 ? E_PROTO : E_TYPE;
		e.lo = e.hi = pt->icmp_type < 0 ? 0 : (uint16_t)pt->icmp_type;
		break;
	default:
		e.cls = E_ANY;
		break;
	}
	return e;
}

static int ents_push(struct ents *e, struct ent x)
{
	if (ZT_GROW(e->v, e->cap, e->n) < 0)
		return -ENOMEM;
	e->v[e->n++] = x;
	return 0;
}

static int too_many(struct cc *c, const struct zt_pos *pos, const char *what)
{
	return zt_diag_error(c->d, pos->file, pos->line, pos->col,
			     "%s: the flows expand to more than %d set elements (zone pairs "
			     "times ports); name fewer zones or ports per flow", what, FLOW_KEYS_MAX);
}

static int flow_ents(struct cc *c, size_t rank, struct ents *out)
{
	const struct cflow *cf = &c->flows[rank];
	_cleanup_free_ uint32_t *from = NULL, *to = NULL;
	size_t n_from = 0, n_to = 0;
	int r;

	if (cf->kind == CF_SAME) {
		const struct zt_segment *sg = &c->p->segs[cf->seg];

		for (size_t k = 0; k <= sg->n_subnets; k++) {
			uint32_t z = c->rest[cf->seg] + (uint32_t)k;

			if ((r = ents_push(out, (struct ent){ .zp = z << 16 | z, .rank = (uint32_t)rank,
							      .cls = E_ANY })) < 0)
				return r;
		}
		return 0;
	}
	if ((r = side_zones(c, cf, false, &from, &n_from)) < 0 ||
	    (r = side_zones(c, cf, true, &to, &n_to)) < 0)
		return r;
	if (n_from && n_to && cf->f->n_ports &&
	    (n_from * n_to > FLOW_KEYS_MAX / cf->f->n_ports ||
	     out->n + n_from * n_to * cf->f->n_ports > FLOW_KEYS_MAX))
		return too_many(c, &cf->f->pos, cf->desc);
	for (size_t i = 0; i < n_from; i++)
		for (size_t j = 0; j < n_to; j++)
			for (size_t k = 0; k < cf->f->n_ports; k++) {
				struct ent e = port_ent(&cf->f->ports[k]);

				e.zp = from[i] << 16 | to[j];
				e.rank = (uint32_t)rank;
				if ((r = ents_push(out, e)) < 0)
					return r;
			}
	return 0;
}

/* A lookup key in one of the flow maps. */
enum kkind { K_ANY, K_PROTO, K_TYPE, K_PORT, K_RANGE };

struct fkey {
	enum kkind kind;
	uint8_t proto;
	uint16_t lo, hi;
};

static unsigned pair_variant(const struct cc *c, uint32_t zp)
{
	return (c->zones[zp >> 16].leaves ? 1u : 0u) | (c->zones[zp & 0xffff].leaves ? 2u : 0u);
}

/*
 * A key's verdict from its candidates (every flow covering it, in order):
 * `goto f_<id>` when the first one always accepts; otherwise `jump`, so that
 * when every encryption check fails the lookup in judge falls through and
 * finally reaches deny. Candidates after one that always accepts are dead.
 */
static int key_verdict(struct cc *c, uint32_t zp, uint32_t *cand, size_t n, struct zt_value *data,
		       struct zt_pos *pos)
{
	unsigned v = pair_variant(c, zp);
	char name[ZT_OBJ_NAME_MAX];
	size_t m = 0, idx;
	int r;

	*pos = pos_of(c, &c->flows[cand[0]].pos);
	/* The first candidate always accepts and logs nothing: its mark, no chain (S_V_DELTA). */
	if ((!c->flows[cand[0]].encrypted || !v) && c->p->hub.log != ZT_LOG_ALL) {
		uint32_t ix;

		if ((r = inst_ref(c, cand[0], zp, false, &ix)) < 0)
			return r;
		*data = v_u32(ZT_TYPE_MARK, ix);
		return 0;
	}
	while (m < n) {
		struct cflow *cf = &c->flows[cand[m]];
		bool enc = cf->encrypted && v;
		uint32_t ix;

		if ((r = inst_ref(c, cand[m++], zp, true, &ix)) < 0)
			return r;
		cf->used |= (uint8_t)(1u << (enc ? v : 0));
		if (!enc)
			break;
	}
	if (!c->flows[cand[0]].encrypted || !v || m == 1) {
		name_flow_chain(name, c->flows[cand[0]].id, c->flows[cand[0]].encrypted ? v : 0);
		*data = v_verdict(c->flows[cand[0]].encrypted && v ? ZT_V_JUMP : ZT_V_GOTO, name);
		return 0;
	}
	/* The sequence is the pair's variant, then the candidates: chain k_<n>. */
	memmove(cand + 1, cand, m * sizeof(*cand));
	cand[0] = v;
	r = seq_intern(&c->kseq, cand, m + 1, &idx);
	memmove(cand, cand + 1, m * sizeof(*cand));
	if (r < 0)
		return r;
	name_num(name, "k", idx);
	*data = v_verdict(ZT_V_JUMP, name);
	return 0;
}

/*
 * One zone pair's entries, sorted by ent_cmp(), with what makes a key's
 * candidates cheap to find: a flow can list tens of thousands of ports,
 * and scanning them all for each of its keys would be quadratic.
 */
struct grp {
	const struct ent *g;
	size_t n;
	size_t *run;			/* where each rank's entries start; run[n_runs] == n */
	size_t n_runs;
	uint16_t *hmax;			/* per entry: the highest hi so far within its rank, class, protocol */
};

/* The first of e[0..n) (one rank) that sorts after (cls, proto, lo). */
static size_t ent_after(const struct ent *e, size_t n, uint8_t cls, uint8_t proto, uint16_t lo)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		const struct ent *x = &e[m];
		bool le = x->cls != cls ? x->cls < cls : x->proto != proto ? x->proto < proto : x->lo <= lo;

		if (le)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

/*
 * Does one rank's entries e[0..n) cover k? `any` covers every key; a
 * protocol every key of it but `any`; an icmp type its own key; a port
 * range the port keys and range pieces it contains.
 */
static bool run_covers(const struct ent *e, const uint16_t *hmax, size_t n, const struct fkey *k)
{
	size_t i;

	if (e[0].cls == E_ANY)
		return true;
	if (k->kind == K_ANY)
		return false;
	i = ent_after(e, n, E_PROTO, k->proto, UINT16_MAX);
	if (i && e[i - 1].cls == E_PROTO && e[i - 1].proto == k->proto)
		return true;
	if (k->kind == K_TYPE) {
		i = ent_after(e, n, E_TYPE, k->proto, k->lo);
		return i && e[i - 1].cls == E_TYPE && e[i - 1].proto == k->proto && e[i - 1].lo == k->lo;
	}
	if (k->kind != K_PORT && k->kind != K_RANGE)
		return false;
	for (uint8_t cls = E_NARROW; cls <= E_WIDE; cls++) {
		i = ent_after(e, n, cls, k->proto, k->lo);
		if (i && e[i - 1].cls == cls && e[i - 1].proto == k->proto && hmax[i - 1] >= k->hi)
			return true;
	}
	return false;
}

/*
 * The candidates for k, in rank order, up to the first that always
 * accepts: key_verdict() reads no further, and stopping there keeps a
 * pair of many flows from costing each key all of them.
 */
static size_t candidates(const struct cc *c, const struct grp *gr, const struct fkey *k, uint32_t *cand)
{
	unsigned v = pair_variant(c, gr->g[0].zp);
	size_t m = 0;

	for (size_t r = 0; r < gr->n_runs; r++) {
		const struct ent *e = gr->g + gr->run[r];

		if (!run_covers(e, gr->hmax + gr->run[r], gr->run[r + 1] - gr->run[r], k))
			continue;
		cand[m++] = e->rank;
		if (!(c->flows[e->rank].encrypted && v))
			break;
	}
	return m;
}

static int grp_init(struct grp *gr, const struct ent *g, size_t n)
{
	*gr = (struct grp){ .g = g, .n = n };
	if (!(gr->run = calloc(n + 1, sizeof(*gr->run))) || !(gr->hmax = calloc(n, sizeof(*gr->hmax))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		bool same = i && g[i].rank == g[i - 1].rank;

		if (!same)
			gr->run[gr->n_runs++] = i;
		if (same && g[i].cls == g[i - 1].cls && g[i].proto == g[i - 1].proto &&
		    gr->hmax[i - 1] > g[i].hi)
			gr->hmax[i] = gr->hmax[i - 1];
		else
			gr->hmax[i] = g[i].hi;
	}
	gr->run[gr->n_runs] = n;
	return 0;
}

static void grp_done(struct grp *gr)
{
	free(gr->run);
	free(gr->hmax);
}

static int key_add(struct cc *c, enum set_id set, const struct fkey *k, const struct grp *gr,
		   uint32_t *cand)
{
	uint32_t zp = gr->g[0].zp;
	struct zt_value data;
	struct zt_pos pos;
	struct zt_elem *el;
	size_t m = candidates(c, gr, k, cand);
	int r;

	if (!m)
		return 0;
	if (++c->n_keys > FLOW_KEYS_MAX)
		return too_many(c, &c->hub, "hub.flows");
	if ((r = key_verdict(c, zp, cand, m, &data, &pos)) < 0)
		return r;
	if (data.type == ZT_TYPE_VERDICT)
		set += S_V_DELTA;
	/* the host's and its units' connections to elsewhere are judged in output */
	if (zone_local(c, zp >> 16) && !zone_local(c, zp & 0xffff))
		set += S_OUT_DELTA;
	/* Wide ranges: neighbours with one verdict or flow id become one interval. */
	if (set == S_FR || set == S_FR_OUT || set == S_FRV || set == S_FRV_OUT) {
		struct zt_set *s = &c->plan->sets[c->set[set]];

		el = s->n_elems ? zt_set_elem(s, s->n_elems - 1) : NULL;
		if (el && el->key[0].u32 == zp && el->key[1].u32 == k->proto &&
		    el->key[2].u32_hi + 1 == k->lo && value_sort_cmp(&el->data, &data) == 0) {
			el->key[2].u32_hi = k->hi;
			c->n_keys--;
			return 0;
		}
	}
	if (!(el = elem_new(c, set)))
		return -ENOMEM;
	el->key[0] = v_u32(ZT_TYPE_MARK, zp);
	switch (k->kind) {
	case K_PROTO:
		el->key[1] = v_u32(ZT_TYPE_INET_PROTO, k->proto);
		break;
	case K_TYPE:
		el->key[1] = v_u32(k->proto == IPPROTO_ICMP ? ZT_TYPE_ICMP_TYPE : ZT_TYPE_ICMPV6_TYPE,
				   k->lo);
		break;
	case K_PORT:
	case K_RANGE:
		el->key[1] = v_u32(ZT_TYPE_INET_PROTO, k->proto);
		el->key[2] = v_u32(ZT_TYPE_INET_SERVICE, k->lo);
		el->key[2].u32_hi = k->hi;
		break;
	default:
		break;
	}
	el->data = data;
	el->pos = pos;
	return 0;
}

struct pport {
	uint8_t proto;
	uint16_t port;
};

static int pport_cmp(const void *a, const void *b)
{
	const struct pport *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

/* Wide ranges of one protocol: the pieces between their ends, each covered or not. */
static int wide_keys(struct cc *c, uint8_t proto, const struct grp *gr, uint32_t *cand)
{
	_cleanup_free_ uint32_t *cuts = NULL;
	const struct ent *g = gr->g;
	size_t n_cuts = 0;
	int r;

	if (!(cuts = calloc(2 * gr->n, sizeof(*cuts))))
		return -ENOMEM;
	for (size_t i = 0; i < gr->n; i++)
		if (g[i].cls == E_WIDE && g[i].proto == proto) {
			cuts[n_cuts++] = g[i].lo;
			cuts[n_cuts++] = (uint32_t)g[i].hi + 1;
		}
	n_cuts = u32_uniq(cuts, n_cuts);
	for (size_t i = 0; i + 1 < n_cuts; i++) {
		struct fkey k = { K_RANGE, proto, (uint16_t)cuts[i], (uint16_t)(cuts[i + 1] - 1) };

		if ((r = key_add(c, S_FR, &k, gr, cand)) < 0)
			return r;
	}
	return 0;
}

static int pair_keys_grp(struct cc *c, const struct grp *gr, uint32_t *cand)
{
	const struct ent *g = gr->g;
	size_t n = gr->n;
	static const uint8_t protos[PROTOS_MAX] = { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP,
						    IPPROTO_ICMPV6, IPPROTO_SCTP };
	_cleanup_free_ struct pport *pp = NULL;
	_cleanup_free_ uint32_t *types = NULL;
	size_t n_pp = 0, cap_pp = 0, n_types = 0;
	bool any = false, proto[PROTOS_MAX] = {}, wide[PROTOS_MAX] = {};
	int r;

	if (!(types = calloc(n, sizeof(*types))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = &g[i];

		for (size_t j = 0; j < PROTOS_MAX; j++) {
			if (protos[j] != e->proto)
				continue;
			proto[j] |= e->cls == E_PROTO;
			wide[j] |= e->cls == E_WIDE;
		}
		any |= e->cls == E_ANY;
		if (e->cls == E_TYPE)
			types[n_types++] = (uint32_t)e->proto << 16 | e->lo;
		if (e->cls != E_NARROW)
			continue;
		for (uint32_t port = e->lo; port <= e->hi; port++) {
			if (ZT_GROW(pp, cap_pp, n_pp) < 0)
				return -ENOMEM;
			pp[n_pp++] = (struct pport){ e->proto, (uint16_t)port };
		}
	}
	if (n_pp)
		qsort(pp, n_pp, sizeof(*pp), pport_cmp);
	for (size_t i = 0; i < n_pp; i++) {
		struct fkey k = { K_PORT, pp[i].proto, pp[i].port, pp[i].port };

		if (i && !pport_cmp(&pp[i], &pp[i - 1]))
			continue;
		if ((r = key_add(c, S_FP, &k, gr, cand)) < 0)
			return r;
	}
	for (size_t j = 0; j < PROTOS_MAX; j++)
		if (wide[j] && (r = wide_keys(c, protos[j], gr, cand)) < 0)
			return r;
	n_types = u32_uniq(types, n_types);
	for (size_t i = 0; i < n_types; i++) {
		struct fkey k = { K_TYPE, (uint8_t)(types[i] >> 16), (uint16_t)types[i],
				  (uint16_t)types[i] };

		if ((r = key_add(c, k.proto == IPPROTO_ICMP ? S_FI4 : S_FI6, &k, gr, cand)) < 0)
			return r;
	}
	for (size_t j = 0; j < PROTOS_MAX; j++) {
		struct fkey k = { K_PROTO, protos[j], 0, 0 };

		if (proto[j] && (r = key_add(c, S_FPROTO, &k, gr, cand)) < 0)
			return r;
	}
	if (any) {
		struct fkey k = { K_ANY, 0, 0, 0 };

		if ((r = key_add(c, S_FANY, &k, gr, cand)) < 0)
			return r;
	}
	return 0;
}

static int pair_keys(struct cc *c, const struct ent *g, size_t n, uint32_t *cand)
{
	struct grp gr;
	int r = grp_init(&gr, g, n);

	if (!r)
		r = pair_keys_grp(c, &gr, cand);
	grp_done(&gr);
	return r;
}

int flows_keys(struct cc *c)
{
	struct ents e = {};
	_cleanup_free_ uint32_t *cand = NULL;
	size_t max_group = 0;
	int r = 0;

	for (size_t i = 0; i < c->n_flows && !r; i++)
		if (i != c->oos)
			r = flow_ents(c, i, &e);
	if (!r && e.n) {
		qsort(e.v, e.n, sizeof(*e.v), ent_cmp);
		for (size_t i = 0, j; i < e.n; i = j) {
			for (j = i; j < e.n && e.v[j].zp == e.v[i].zp; j++)
				;
			if (j - i > max_group)
				max_group = j - i;
		}
		/* Room for the pair's variant in front, for interning. */
		if (!(cand = calloc(max_group + 1, sizeof(*cand))))
			r = -ENOMEM;
		for (size_t i = 0, j; !r && i < e.n; i = j) {
			for (j = i; j < e.n && e.v[j].zp == e.v[i].zp; j++)
				;
			r = pair_keys(c, e.v + i, j - i, cand);
		}
	}
	free(e.v);
	return r;
}

/* scope: members — pairs with no segment side (world, boundaries) are not judged. */
int oos_keys(struct cc *c)
{
	size_t nz = 2 + c->p->hub.n_boundaries;

	if (c->oos == SIZE_MAX)
		return 0;
	for (uint32_t a = 1; a <= nz; a++) {
		if (a == ID_HOST)
			continue;
		for (uint32_t b = 1; b <= nz; b++) {
			struct zt_elem *el;

			if (b == ID_HOST)
				continue;
			if (++c->n_keys > FLOW_KEYS_MAX)
				return too_many(c, &c->hub, "hub.boundaries");
			if (!(el = elem_new(c, S_OOS)))
				return -ENOMEM;
			el->key[0] = v_u32(ZT_TYPE_MARK, a << 16 | b);
			el->data = v_verdict(ZT_V_GOTO, "out_of_scope");
			el->pos = pos_of(c, &c->hub);
		}
	}
	return 0;
}
