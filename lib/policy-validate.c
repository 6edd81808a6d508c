/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cross-file checks of a loaded policy (SPEC §3, "Who may say what") and
 * resolution of every zone reference. Sized for 100,000 segments: every
 * pairwise check is a sort and a sweep, never all pairs.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include "bridge.h"
#include "policy.h"

/* Suggestions are only worth computing for the errors a user will read. */
#define SUGGEST_MAX 200

struct file_rank {
	const char *name;
	unsigned rank;
};

struct name_ent {
	const char *name;
	struct zt_zone zone;
	unsigned rank;
	const struct zt_pos *pos;
};

/* An interface pattern or a prefix, and the zone that claims it. */
struct claim {
	const struct zt_ifpat *pat;
	const struct zt_cidr *cidr;
	struct zt_zone zone;
	unsigned rank;
	bool reported;		/* one error per token: the first conflict says enough */
};

struct vctx {
	struct zt_policy *p;
	struct zt_diags *d;
	struct file_rank *files;	/* sorted by name */
	size_t n_files;
	struct name_ent *names;		/* segments and boundaries, sorted by name */
	size_t n_names;
	bool *dup;			/* per segment: a repeated definition, already reported */
	size_t n_suggest;
};

static struct zt_zone zone_of(enum zt_zone_kind kind, int seg, int sub, int bnd)
{
	return (struct zt_zone){ .kind = kind, .seg = seg, .sub = sub, .bnd = bnd };
}

static bool zone_eq(const struct zt_zone *a, const struct zt_zone *b)
{
	return a->kind == b->kind && a->seg == b->seg && a->sub == b->sub && a->bnd == b->bnd;
}

/* "segment 'db'", "subnet 'db.primary'", "boundary 'onprem'" */
static const char *zone_desc(const struct zt_policy *p, const struct zt_zone *z,
			     char *buf, size_t len)
{
	switch (z->kind) {
	case ZT_ZONE_SEGMENT:
		snprintf(buf, len, "segment '%s'", p->segs[z->seg].name);
		break;
	case ZT_ZONE_SUBNET:
		snprintf(buf, len, "subnet '%s.%s'", p->segs[z->seg].name,
			 p->segs[z->seg].subnets[z->sub].name);
		break;
	case ZT_ZONE_BOUNDARY:
		snprintf(buf, len, "boundary '%s'", p->hub.boundaries[z->bnd].name);
		break;
	case ZT_ZONE_HOST:
		snprintf(buf, len, "host");
		break;
	default:
		snprintf(buf, len, "world");
		break;
	}
	return buf;
}

#define POS_STRLEN 320
static const char *pos_fmt(const struct zt_pos *pos, char *buf, size_t len)
{
	snprintf(buf, len, "%s:%u:%u", pos->file ? pos->file : "?", pos->line, pos->col);
	return buf;
}

static int err(struct vctx *c, const struct zt_pos *pos, const char *fmt, ...) _printf_(3, 4);
static int err(struct vctx *c, const struct zt_pos *pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(c->d, ZT_SEV_ERROR, pos->file, pos->line, pos->col, fmt, ap);
	va_end(ap);
	return r == -ENOMEM ? r : 0;
}

static int warn(struct vctx *c, const struct zt_pos *pos, const char *fmt, ...) _printf_(3, 4);
static int warn(struct vctx *c, const struct zt_pos *pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(c->d, ZT_SEV_WARNING, pos->file, pos->line, pos->col, fmt, ap);
	va_end(ap);
	return r;
}

/* File order: ztseg.yaml first, then segment files in load order. */
static int file_rank_cmp(const void *a, const void *b)
{
	return strcmp(((const struct file_rank *)a)->name, ((const struct file_rank *)b)->name);
}

static unsigned rank_of(const struct vctx *c, const char *file)
{
	struct file_rank key = { .name = file }, *r;

	if (!file)
		return UINT32_MAX;
	r = bsearch(&key, c->files, c->n_files, sizeof(*c->files), file_rank_cmp);
	return r ? r->rank : UINT32_MAX - 1;
}

/* Is position a (in file rank ra) defined after position b (rank rb)? */
static bool pos_after(unsigned ra, const struct zt_pos *a, unsigned rb, const struct zt_pos *b)
{
	if (ra != rb)
		return ra > rb;
	if (a->line != b->line)
		return a->line > b->line;
	return a->col > b->col;
}

/* ---- Names: duplicates, and lookup for reference resolution ---- */

static int name_cmp(const void *a, const void *b)
{
	const struct name_ent *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	/* Boundaries first, then definitions in policy order. */
	if (x->zone.kind != y->zone.kind)
		return x->zone.kind == ZT_ZONE_BOUNDARY ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->zone.seg < y->zone.seg ? -1 : x->zone.seg > y->zone.seg;
}

static int check_names(struct vctx *c)
{
	struct zt_policy *p = c->p;
	char pb[POS_STRLEN];
	int r;

	c->n_names = p->n_segs + p->hub.n_boundaries;
	if (!c->n_names)
		return 0;
	if (!(c->names = calloc(c->n_names, sizeof(*c->names))))
		return -ENOMEM;
	if (p->n_segs && !(c->dup = calloc(p->n_segs, sizeof(*c->dup))))
		return -ENOMEM;
	for (size_t i = 0; i < p->hub.n_boundaries; i++)
		c->names[i] = (struct name_ent){
			.name = p->hub.boundaries[i].name,
			.zone = zone_of(ZT_ZONE_BOUNDARY, -1, -1, (int)i),
			.rank = rank_of(c, p->hub.boundaries[i].pos.file),
			.pos = &p->hub.boundaries[i].pos,
		};
	for (size_t i = 0; i < p->n_segs; i++)
		c->names[p->hub.n_boundaries + i] = (struct name_ent){
			.name = p->segs[i].name,
			.zone = zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1),
			.rank = rank_of(c, p->segs[i].pos.file),
			.pos = &p->segs[i].pos,
		};
	qsort(c->names, c->n_names, sizeof(*c->names), name_cmp);

	for (size_t i = 0, first = 0; i < c->n_names; i++) {
		const struct name_ent *e = &c->names[i], *f;

		if (i == 0 || strcmp(e->name, c->names[i - 1].name))
			first = i;
		f = &c->names[first];
		if (i == first)
			continue;
		/* Boundaries cannot repeat: they are keys of one YAML mapping. */
		if (e->zone.kind != ZT_ZONE_SEGMENT)
			continue;
		/* Checking a repeat's claims again would only repeat this error. */
		c->dup[e->zone.seg] = true;
		if (f->zone.kind == ZT_ZONE_BOUNDARY)
			r = err(c, e->pos, "segment '%s' has the name of boundary '%s' (%s)",
				e->name, f->name, pos_fmt(f->pos, pb, sizeof(pb)));
		else
			r = err(c, e->pos, "segment '%s' is already defined at %s",
				e->name, pos_fmt(f->pos, pb, sizeof(pb)));
		if (r)
			return r;
	}
	return 0;
}

static const struct name_ent *find_name(const struct vctx *c, const char *name)
{
	size_t lo = 0, hi = c->n_names;

	/* Lower bound, so the first definition of a name is the one used. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(c->names[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->n_names && streq(c->names[lo].name, name))
		return &c->names[lo];
	return NULL;
}

/* ---- Did you mean ---- */

#define SUGGEST_NAME_MAX (2 * ZT_NAME_MAX + 2)

/* Levenshtein distance, giving up (returning limit + 1) beyond limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t prev[SUGGEST_NAME_MAX + 1], cur[SUGGEST_NAME_MAX + 1];

	if (la > SUGGEST_NAME_MAX || lb > SUGGEST_NAME_MAX)
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t best;

		cur[0] = i;
		best = cur[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? sub : del;
			if (ins < cur[j])
				cur[j] = ins;
			if (cur[j] < best)
				best = cur[j];
		}
		if (best > limit)
			return limit + 1;
		memcpy(prev, cur, (lb + 1) * sizeof(*prev));
	}
	return prev[lb];
}

struct suggest {
	const char *name;
	size_t limit, best;
	char out[SUGGEST_NAME_MAX];
};

static void suggest_try(struct suggest *s, const char *cand)
{
	size_t dist = edit_distance(s->name, cand, s->limit);

	/* Ties go to the candidate that sorts first, so output is stable. */
	if (dist > s->limit || dist > s->best ||
	    (dist == s->best && strcmp(cand, s->out) >= 0))
		return;
	s->best = dist;
	snprintf(s->out, sizeof(s->out), "%s", cand);
}

const char *zt_policy_suggest_zone(const struct zt_policy *p, int seg, const char *name,
				   char *buf, size_t len)
{
	struct suggest s = { .name = name, .best = SIZE_MAX };
	size_t n = strlen(name);
	char full[SUGGEST_NAME_MAX];

	/* A third of the length, at least 2, but never half of a short name ("web" is not "db"). */
	s.limit = n / 3 > 2 ? n / 3 : 2;
	if (s.limit > n / 2)
		s.limit = n / 2;
	if (!s.limit)
		return NULL;
	if (seg >= 0) {
		const struct zt_segment *sg = &p->segs[seg];

		suggest_try(&s, sg->name);
		for (size_t j = 0; j < sg->n_subnets; j++)
			suggest_try(&s, sg->subnets[j].name);
	} else {
		suggest_try(&s, "host");
		suggest_try(&s, "world");
		for (size_t i = 0; i < p->hub.n_boundaries; i++)
			suggest_try(&s, p->hub.boundaries[i].name);
		for (size_t i = 0; i < p->n_segs; i++) {
			const struct zt_segment *sg = &p->segs[i];

			suggest_try(&s, sg->name);
			for (size_t j = 0; j < sg->n_subnets; j++) {
				snprintf(full, sizeof(full), "%s.%s", sg->name, sg->subnets[j].name);
				suggest_try(&s, full);
			}
		}
	}
	if (s.best == SIZE_MAX || !len)
		return NULL;
	snprintf(buf, len, "%s", s.out);
	return buf;
}

/* The named hub flow closest to name, as for zones. */
const char *zt_policy_suggest_flow(const struct zt_policy *p, const char *name, char *buf, size_t len)
{
	struct suggest s = { .name = name, .best = SIZE_MAX };
	size_t n = strlen(name);

	s.limit = n / 3 > 2 ? n / 3 : 2;
	s.limit = s.limit > n / 2 ? n / 2 : s.limit;
	for (size_t i = 0; s.limit && i < p->hub.n_flows; i++)
		if (p->hub.flows[i].named)
			suggest_try(&s, p->hub.flows[i].name);
	if (s.best == SIZE_MAX || !len)
		return NULL;
	snprintf(buf, len, "%s", s.out);
	return buf;
}

/* ---- Delegations ---- */

struct deleg_ent {
	const char *name;
	size_t idx;
};

static int deleg_cmp(const void *a, const void *b)
{
	const struct deleg_ent *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* "vdb1*, vdb2*" — cut with "..." when the list does not fit. */
static const char *deleg_ifs_fmt(const struct zt_boundary *dg, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < dg->n_ifs && o < len; i++) {
		char pat[IFNAMSIZ + 2];

		zt_ifpat_fmt(&dg->ifs[i], pat, sizeof(pat));
		if (o + strlen(pat) + 6 >= len) {
			snprintf(buf + o, len - o, "%s...", i ? ", " : "");
			break;
		}
		o += snprintf(buf + o, len - o, "%s%s", i ? ", " : "", pat);
	}
	if (!dg->n_ifs)
		snprintf(buf, len, "no interfaces");
	return buf;
}

static const char *cidrs_fmt(const struct zt_cidr *v, size_t n, const char *none,
			     char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		char cb[ZT_CIDR_STRLEN];

		zt_cidr_fmt(&v[i], cb, sizeof(cb));
		if (o + strlen(cb) + 6 >= len) {
			snprintf(buf + o, len - o, "%s...", i ? ", " : "");
			break;
		}
		o += snprintf(buf + o, len - o, "%s%s", i ? ", " : "", cb);
	}
	if (!n)
		snprintf(buf, len, "%s", none);
	return buf;
}

static bool cidr_within_any(const struct zt_cidr *v, size_t n, const struct zt_cidr *c)
{
	for (size_t i = 0; i < n; i++)
		if (zt_cidr_contains(&v[i], c))
			return true;
	return false;
}

static int check_segment_claims(struct vctx *c, struct zt_segment *s,
				const struct zt_boundary *dg)
{
	char list[256], a[ZT_CIDR_STRLEN], pat[IFNAMSIZ + 2];
	int r;

	for (size_t i = 0; dg && i < s->n_ifs; i++) {
		bool ok = false;

		for (size_t j = 0; j < dg->n_ifs && !ok; j++)
			ok = zt_ifpat_within(&dg->ifs[j], &s->ifs[i]);
		if (ok)
			continue;
		r = err(c, &s->ifs[i].pos, "interface pattern '%s' is outside the delegation of '%s' (%s)",
			zt_ifpat_fmt(&s->ifs[i], pat, sizeof(pat)), s->name,
			deleg_ifs_fmt(dg, list, sizeof(list)));
		if (r)
			return r;
	}
	if (dg && s->bridge[0]) {
		/* a bridge: segment claims the bridge's ports: the delegation must name the bridge */
		struct zt_ifpat br = {};
		bool ok = false;

		snprintf(br.name, sizeof(br.name), "%s", s->bridge);
		for (size_t j = 0; j < dg->n_ifs && !ok; j++)
			ok = zt_ifpat_within(&dg->ifs[j], &br);
		if (!ok && (r = err(c, &s->bridge_pos, "bridge '%s' is outside the delegation of '%s' (%s)", s->bridge,
				    s->name, deleg_ifs_fmt(dg, list, sizeof(list)))))
			return r;
	}
	for (size_t i = 0; dg && i < s->n_addrs; i++) {
		if (cidr_within_any(dg->addrs, dg->n_addrs, &s->addrs[i]))
			continue;
		r = err(c, &s->addrs[i].pos, "address %s is outside the delegation of '%s' (%s)",
			zt_cidr_fmt(&s->addrs[i], a, sizeof(a)), s->name,
			cidrs_fmt(dg->addrs, dg->n_addrs, "no addresses", list, sizeof(list)));
		if (r)
			return r;
	}
	for (size_t k = 0; k < s->n_subnets; k++) {
		const struct zt_subnet *sn = &s->subnets[k];

		for (size_t i = 0; i < sn->n_addrs; i++) {
			const struct zt_cidr *ca = &sn->addrs[i];

			/* One error per token: the delegation first, then the segment. */
			if (dg && !cidr_within_any(dg->addrs, dg->n_addrs, ca))
				r = err(c, &ca->pos, "subnet '%s.%s' address %s is outside the delegation of '%s' (%s)",
					s->name, sn->name, zt_cidr_fmt(ca, a, sizeof(a)), s->name,
					cidrs_fmt(dg->addrs, dg->n_addrs, "no addresses", list, sizeof(list)));
			else if (s->n_addrs && !cidr_within_any(s->addrs, s->n_addrs, ca))
				r = err(c, &ca->pos, "subnet '%s.%s' %s is outside segment '%s' addresses (%s)",
					s->name, sn->name, zt_cidr_fmt(ca, a, sizeof(a)), s->name,
					cidrs_fmt(s->addrs, s->n_addrs, "none", list, sizeof(list)));
			else
				r = 0;
			if (r)
				return r;
		}
	}
	if (s->n_subnets && !s->n_addrs) {
		r = err(c, &s->pos, "segment '%s' has subnets but no addresses; subnets divide the segment's addresses",
			s->name);
		if (r)
			return r;
	}
	return 0;
}

static int check_delegations(struct vctx *c)
{
	struct zt_policy *p = c->p;
	_cleanup_free_ struct deleg_ent *v = NULL;
	size_t n = p->hub.n_delegations;
	int r;

	if (n && !(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = (struct deleg_ent){ .name = p->hub.delegations[i].name, .idx = i };
	if (n)
		qsort(v, n, sizeof(*v), deleg_cmp);
	for (size_t i = 0; i < p->n_segs; i++) {
		struct zt_segment *s = &p->segs[i];
		const struct zt_boundary *dg = NULL;

		s->delegation = -1;
		if (c->dup[i])
			continue;
		if (!s->in_hub_file) {
			struct deleg_ent key = { .name = s->name, .idx = 0 }, *e = NULL;
			size_t lo = 0, hi = n;

			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;

				if (deleg_cmp(&v[mid], &key) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo < n && streq(v[lo].name, s->name))
				e = &v[lo];
			if (!e) {
				r = err(c, &s->pos, "segment '%s' is not delegated: add hub.delegate.%s in %s",
					s->name, s->name, ZT_HUB_FILE);
				if (r)
					return r;
			} else {
				s->delegation = (int)e->idx;
				dg = &p->hub.delegations[e->idx];
			}
		}
		r = check_segment_claims(c, s, dg);
		if (r)
			return r;
	}
	return 0;
}

/* ---- Interface patterns ---- */

static int pat_claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int r = strcmp(x->pat->name, y->pat->name);

	if (r)
		return r;
	if (x->pat->wildcard != y->pat->wildcard)
		return x->pat->wildcard ? 1 : -1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->pat->pos.line != y->pat->pos.line)
		return x->pat->pos.line < y->pat->pos.line ? -1 : 1;
	return x->pat->pos.col < y->pat->pos.col ? -1 : x->pat->pos.col > y->pat->pos.col;
}

static int pat_conflict(struct vctx *c, struct claim *x, struct claim *y)
{
	struct claim *later = x, *earlier = y;
	char pa[IFNAMSIZ + 2], pb[IFNAMSIZ + 2], zb[128], ps[POS_STRLEN];

	if (pos_after(y->rank, &y->pat->pos, x->rank, &x->pat->pos)) {
		later = y;
		earlier = x;
	}
	if (later->reported)
		return 0;
	later->reported = true;
	return err(c, &later->pat->pos, "interface pattern '%s' overlaps '%s' of %s (%s)",
		   zt_ifpat_fmt(later->pat, pa, sizeof(pa)),
		   zt_ifpat_fmt(earlier->pat, pb, sizeof(pb)),
		   zone_desc(c->p, &earlier->zone, zb, sizeof(zb)),
		   pos_fmt(&earlier->pat->pos, ps, sizeof(ps)));
}

static void add_pats(struct claim *v, size_t *n, const struct zt_ifpat *pats, size_t np,
		     struct zt_zone zone, unsigned rank)
{
	for (size_t i = 0; i < np; i++)
		v[(*n)++] = (struct claim){ .pat = &pats[i], .zone = zone, .rank = rank };
}

/*
 * Two patterns overlap only if one's name is a prefix of the other's (or
 * they are equal). Sorted by name, every name starting with P's name
 * follows P contiguously, so each pattern only meets the patterns it can
 * overlap: the work is the number of prefix relations, not n².
 */
static int check_ifpats(struct vctx *c)
{
	struct zt_policy *p = c->p;
	_cleanup_free_ struct claim *v = NULL;
	size_t n = 0, total = 0;
	char pa[IFNAMSIZ + 2];
	int r;

	for (size_t i = 0; i < p->hub.n_boundaries; i++)
		total += p->hub.boundaries[i].n_ifs;
	for (size_t i = 0; i < p->n_segs; i++)
		total += p->segs[i].n_ifs;
	if (!total)
		return 0;
	if (!(v = calloc(total, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < p->hub.n_boundaries; i++) {
		const struct zt_boundary *b = &p->hub.boundaries[i];

		add_pats(v, &n, b->ifs, b->n_ifs, zone_of(ZT_ZONE_BOUNDARY, -1, -1, (int)i),
			 rank_of(c, b->pos.file));
	}
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];

		if (c->dup[i])
			continue;
		add_pats(v, &n, s->ifs, s->n_ifs, zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1),
			 rank_of(c, s->pos.file));
	}

	/* Loopback always passes; a zone claiming lo would promise what it cannot keep. */
	for (size_t i = 0; i < n; i++) {
		char zb[128];

		if (!zt_ifpat_match(v[i].pat, "lo"))
			continue;
		r = err(c, &v[i].pat->pos, "interface pattern '%s' of %s matches the loopback interface lo",
			zt_ifpat_fmt(v[i].pat, pa, sizeof(pa)), zone_desc(p, &v[i].zone, zb, sizeof(zb)));
		if (r)
			return r;
	}

	qsort(v, n, sizeof(*v), pat_claim_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct zt_ifpat *pi = v[i].pat;
		size_t plen = strlen(pi->name);

		/* A repeat of the previous pattern in the same zone adds nothing to scan. */
		if (i && zone_eq(&v[i].zone, &v[i - 1].zone) &&
		    v[i - 1].pat->wildcard == pi->wildcard && streq(v[i - 1].pat->name, pi->name))
			continue;
		for (size_t j = i + 1; j < n; j++) {
			const struct zt_ifpat *pj = v[j].pat;

			if (pi->wildcard ? strncmp(pj->name, pi->name, plen) : !streq(pj->name, pi->name))
				break;
			if (zone_eq(&v[i].zone, &v[j].zone) || !zt_ifpat_overlap(pi, pj))
				continue;
			r = pat_conflict(c, &v[i], &v[j]);
			if (r)
				return r;
			/* Past the cap nobody sees more; do not spend n² on a broken file. */
			if (c->d->truncated)
				return 0;
		}
	}
	return 0;
}

/* ---- Static addresses ---- */

static int cidr_claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int r = zt_cidr_cmp(x->cidr, y->cidr);

	if (r)
		return r;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->cidr->pos.line != y->cidr->pos.line)
		return x->cidr->pos.line < y->cidr->pos.line ? -1 : 1;
	return x->cidr->pos.col < y->cidr->pos.col ? -1 : x->cidr->pos.col > y->cidr->pos.col;
}

static int cidr_conflict(struct vctx *c, struct claim *x, struct claim *y, const char *what)
{
	struct claim *later = x, *earlier = y;
	char a[ZT_CIDR_STRLEN], b[ZT_CIDR_STRLEN], zb[128], ps[POS_STRLEN];

	if (pos_after(y->rank, &y->cidr->pos, x->rank, &x->cidr->pos)) {
		later = y;
		earlier = x;
	}
	if (later->reported)
		return 0;
	later->reported = true;
	return err(c, &later->cidr->pos, "address %s %s %s of %s (%s)",
		   zt_cidr_fmt(later->cidr, a, sizeof(a)), what,
		   zt_cidr_fmt(earlier->cidr, b, sizeof(b)),
		   zone_desc(c->p, &earlier->zone, zb, sizeof(zb)),
		   pos_fmt(&earlier->cidr->pos, ps, sizeof(ps)));
}

/*
 * Sorted by (family, address, length), a prefix is followed by every prefix
 * it contains; a stack of the prefixes still "open" holds, innermost on
 * top, exactly those that contain the current one.
 */
static int sweep_overlaps(struct vctx *c, struct claim *v, size_t n, const char *what)
{
	struct claim *stack[129];
	size_t depth = 0;
	int r;

	qsort(v, n, sizeof(*v), cidr_claim_cmp);
	for (size_t i = 0; i < n; i++) {
		while (depth && !zt_cidr_contains(stack[depth - 1]->cidr, v[i].cidr))
			depth--;
		for (size_t k = depth; k > 0; k--) {
			if (zone_eq(&stack[k - 1]->zone, &v[i].zone))
				continue;
			r = cidr_conflict(c, stack[k - 1], &v[i], what);
			if (r)
				return r;
			break;
		}
		/* Equal prefixes of one zone need one stack slot, and the depth stays <= 129. */
		if (depth && zt_cidr_equal(stack[depth - 1]->cidr, v[i].cidr))
			continue;
		if (depth < ELEMENTSOF(stack))
			stack[depth++] = &v[i];
	}
	return 0;
}

static int check_addresses(struct vctx *c)
{
	struct zt_policy *p = c->p;
	_cleanup_free_ struct claim *v = NULL;
	size_t n = 0, total = 0;
	int r;

	for (size_t i = 0; i < p->hub.n_boundaries; i++)
		total += p->hub.boundaries[i].n_addrs;
	for (size_t i = 0; i < p->n_segs; i++) {
		total += p->segs[i].n_addrs;
		for (size_t k = 0; k < p->segs[i].n_subnets; k++)
			total += p->segs[i].subnets[k].n_addrs;
	}
	if (!total)
		return 0;
	if (!(v = calloc(total, sizeof(*v))))
		return -ENOMEM;

	/* Segments against segments: their subnets sit inside them and are checked below. */
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];
		unsigned rank = rank_of(c, s->pos.file);

		if (c->dup[i])
			continue;
		for (size_t j = 0; j < s->n_addrs; j++)
			v[n++] = (struct claim){ .cidr = &s->addrs[j], .rank = rank,
						 .zone = zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1) };
	}
	r = sweep_overlaps(c, v, n, "overlaps");
	if (r)
		return r;

	/* Subnets of one segment against each other. */
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];
		unsigned rank = rank_of(c, s->pos.file);

		if (c->dup[i])
			continue;
		n = 0;
		for (size_t k = 0; k < s->n_subnets; k++)
			for (size_t j = 0; j < s->subnets[k].n_addrs; j++)
				v[n++] = (struct claim){ .cidr = &s->subnets[k].addrs[j], .rank = rank,
							 .zone = zone_of(ZT_ZONE_SUBNET, (int)i, (int)k, -1) };
		r = sweep_overlaps(c, v, n, "overlaps");
		if (r)
			return r;
	}

	/*
	 * The same prefix in two zones leaves longest-prefix classification
	 * without an answer. Segment pairs were reported above.
	 */
	n = 0;
	for (size_t i = 0; i < p->hub.n_boundaries; i++) {
		const struct zt_boundary *b = &p->hub.boundaries[i];
		unsigned rank = rank_of(c, b->pos.file);

		for (size_t j = 0; j < b->n_addrs; j++)
			v[n++] = (struct claim){ .cidr = &b->addrs[j], .rank = rank,
						 .zone = zone_of(ZT_ZONE_BOUNDARY, -1, -1, (int)i) };
	}
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];
		unsigned rank = rank_of(c, s->pos.file);

		if (c->dup[i])
			continue;
		for (size_t j = 0; j < s->n_addrs; j++)
			v[n++] = (struct claim){ .cidr = &s->addrs[j], .rank = rank,
						 .zone = zone_of(ZT_ZONE_SEGMENT, (int)i, -1, -1) };
		for (size_t k = 0; k < s->n_subnets; k++)
			for (size_t j = 0; j < s->subnets[k].n_addrs; j++)
				v[n++] = (struct claim){ .cidr = &s->subnets[k].addrs[j], .rank = rank,
							 .zone = zone_of(ZT_ZONE_SUBNET, (int)i, (int)k, -1) };
	}
	qsort(v, n, sizeof(*v), cidr_claim_cmp);
	for (size_t i = 1, first = 0; i < n; i++) {
		struct claim *f, *e = &v[i];

		if (!zt_cidr_equal(v[i - 1].cidr, e->cidr)) {
			first = i;
			continue;
		}
		/*
		 * Report against the first earlier claim of another zone; a
		 * pathological group of one prefix is bounded by the cap.
		 */
		for (size_t k = first; k < i && k < first + 16; k++) {
			f = &v[k];
			if (zone_eq(&f->zone, &e->zone))
				continue;
			/* Two segments, or two subnets of one segment: already an overlap. */
			if (f->zone.kind == e->zone.kind && f->zone.kind != ZT_ZONE_BOUNDARY &&
			    (f->zone.kind == ZT_ZONE_SEGMENT || f->zone.seg == e->zone.seg))
				continue;
			r = cidr_conflict(c, f, e, "is also");
			if (r)
				return r;
			break;
		}
	}
	return 0;
}

/* ---- References ---- */

static int resolve_hub_ref(const struct vctx *c, const char *name, struct zt_zone *ret)
{
	const struct zt_policy *p = c->p;
	const char *dot = strchr(name, '.');
	const struct name_ent *e;

	if (streq(name, "host")) {
		*ret = zone_of(ZT_ZONE_HOST, -1, -1, -1);
		return 0;
	}
	if (streq(name, "world")) {
		*ret = zone_of(ZT_ZONE_WORLD, -1, -1, -1);
		return 0;
	}
	if (dot) {
		char seg[ZT_NAME_MAX + 1];
		size_t len = dot - name;

		if (len > ZT_NAME_MAX)
			return -ENOENT;
		memcpy(seg, name, len);
		seg[len] = '\0';
		e = find_name(c, seg);
		if (!e || e->zone.kind != ZT_ZONE_SEGMENT)
			return -ENOENT;
		for (size_t k = 0; k < p->segs[e->zone.seg].n_subnets; k++)
			if (streq(p->segs[e->zone.seg].subnets[k].name, dot + 1)) {
				*ret = zone_of(ZT_ZONE_SUBNET, e->zone.seg, (int)k, -1);
				return 0;
			}
		return -ENOENT;
	}
	e = find_name(c, name);
	if (!e)
		return -ENOENT;
	*ret = e->zone;
	return 0;
}

/* In a rule, the segment's own name is its rest; other names are its subnets. */
static int resolve_rule_ref(const struct zt_policy *p, int seg, const char *name,
			    struct zt_zone *ret)
{
	const struct zt_segment *s = &p->segs[seg];

	if (streq(name, s->name)) {
		*ret = zone_of(ZT_ZONE_SEGMENT, seg, -1, -1);
		return 0;
	}
	for (size_t k = 0; k < s->n_subnets; k++)
		if (streq(s->subnets[k].name, name)) {
			*ret = zone_of(ZT_ZONE_SUBNET, seg, (int)k, -1);
			return 0;
		}
	return -ENOENT;
}

static int unknown_ref(struct vctx *c, const struct zt_flow *f, const struct zt_ref *ref)
{
	const struct zt_policy *p = c->p;
	char sb[SUGGEST_NAME_MAX];
	const char *what = f->jit ? "jit template" : f->seg < 0 ? "flow" : "rule";
	const char *s = NULL;
	struct zt_zone z;

	if (f->seg >= 0 && resolve_hub_ref(c, ref->name, &z) == 0) {
		char zb[128];

		return err(c, &ref->pos, "rule '%s': unknown zone '%s': a rule names a subnet of "
			   "segment '%s' or '%s' itself (its rest); flows with %s belong in hub.flows",
			   f->name, ref->name, p->segs[f->seg].name, p->segs[f->seg].name,
			   zone_desc(p, &z, zb, sizeof(zb)));
	}

	if (c->n_suggest < SUGGEST_MAX) {
		c->n_suggest++;
		s = zt_policy_suggest_zone(p, f->seg, ref->name, sb, sizeof(sb));
	}
	if (s)
		return err(c, &ref->pos, "%s '%s': unknown zone '%s' (did you mean '%s'?)",
			   what, f->name, ref->name, s);
	if (f->seg < 0)
		return err(c, &ref->pos, "%s '%s': unknown zone '%s', expected a segment, "
			   "segment.subnet, boundary, host or world", what, f->name, ref->name);
	return err(c, &ref->pos, "%s '%s': unknown zone '%s', expected a subnet of segment '%s' "
		   "or '%s' itself (its rest); flows between segments belong in hub.flows",
		   what, f->name, ref->name, p->segs[f->seg].name, p->segs[f->seg].name);
}

static int resolve_refs(struct vctx *c, struct zt_flow *f, struct zt_ref *refs, size_t n)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		if (f->seg < 0)
			r = resolve_hub_ref(c, refs[i].name, &refs[i].zone);
		else
			r = resolve_rule_ref(c->p, f->seg, refs[i].name, &refs[i].zone);
		if (!r)
			continue;
		refs[i].zone = zone_of(ZT_ZONE_NONE, -1, -1, -1);
		r = unknown_ref(c, f, &refs[i]);
		if (r)
			return r;
	}
	return 0;
}

struct flow_name {
	const struct zt_flow *f;
	size_t idx;
};

static int flow_name_cmp(const void *a, const void *b)
{
	const struct flow_name *x = a, *y = b;
	int r = strcmp(x->f->name, y->f->name);

	return r ? r : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

static int check_flows(struct vctx *c, struct zt_flow *flows, size_t n)
{
	_cleanup_free_ struct flow_name *v = NULL;
	size_t nv = 0;
	char pb[POS_STRLEN];
	int r;

	for (size_t i = 0; i < n; i++) {
		r = resolve_refs(c, &flows[i], flows[i].from, flows[i].n_from);
		if (!r)
			r = resolve_refs(c, &flows[i], flows[i].to, flows[i].n_to);
		if (r)
			return r;
	}
	if (!n)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (flows[i].named && flows[i].name)
			v[nv++] = (struct flow_name){ .f = &flows[i], .idx = i };
	qsort(v, nv, sizeof(*v), flow_name_cmp);
	for (size_t i = 1, first = 0; i < nv; i++) {
		if (!streq(v[i].f->name, v[first].f->name)) {
			first = i;
			continue;
		}
		r = err(c, &v[i].f->pos, "%s name '%s' is already used at %s",
			v[i].f->seg < 0 ? "flow" : "rule", v[i].f->name,
			pos_fmt(&v[first].f->pos, pb, sizeof(pb)));
		if (r)
			return r;
	}
	return 0;
}

/* ---- jit templates ---- */

static int check_jit(struct vctx *c)
{
	struct zt_policy *p = c->p;
	char pb[POS_STRLEN];
	int r;

	for (size_t i = 0; i < p->n_jit; i++) {
		struct zt_jit *t = &p->jit[i];
		size_t ports = 0;

		if (!t->f.name)
			continue;
		r = resolve_refs(c, &t->f, t->f.from, t->f.n_from);
		if (!r)
			r = resolve_refs(c, &t->f, t->f.to, t->f.n_to);
		if (r)
			return r;
		for (size_t j = 0; j < i; j++)
			if (p->jit[j].f.name && streq(p->jit[j].f.name, t->f.name) &&
			    (r = err(c, &t->pos, "jit template name '%s' is already used at %s", t->f.name,
				     pos_fmt(&p->jit[j].pos, pb, sizeof(pb)))))
				return r;
		for (size_t j = 0; j < t->f.n_from; j++)
			if (t->f.from[j].zone.kind == ZT_ZONE_HOST &&
			    (r = err(c, &t->f.from[j].pos, "jit template '%s': from: a grant is for a source address "
				     "that reaches this host, so 'host' cannot be in from", t->f.name)))
				return r;
		for (size_t j = 0; j < t->f.n_ports; j++) {
			const struct zt_port *pt = &t->f.ports[j];
			bool ok = (pt->proto == ZT_PROTO_TCP || pt->proto == ZT_PROTO_UDP ||
				   pt->proto == ZT_PROTO_SCTP) && !(pt->lo == 0 && pt->hi == 65535);

			if (!ok && (r = err(c, &pt->pos, "jit template '%s': ports: a grant opens tcp, udp or sctp "
					    "ports or ranges (tcp/22, udp/5000-5010), not a whole protocol", t->f.name)))
				return r;
			if (ok)
				ports += (size_t)pt->hi - pt->lo + 1;
		}
		if (ports > ZT_JIT_PORTS_MAX &&
		    (r = err(c, &t->pos, "jit template '%s': ports cover %zu ports; a template opens at most %d",
			     t->f.name, ports, ZT_JIT_PORTS_MAX)))
			return r;
		/* A grant's connection marks hold the pair (from entry, to entry) in 8 bits (zt_grant_mark). */
		if (t->f.n_from * t->f.n_to > 256 &&
		    (r = err(c, &t->pos, "jit template '%s': %zu from entries times %zu to entries is over 256; "
			     "split it into several templates", t->f.name, t->f.n_from, t->f.n_to)))
			return r;
		if (t->default_sec > t->max_sec && t->max_sec &&
		    (r = err(c, &t->pos, "jit template '%s': default (%us) is longer than max (%us)",
			     t->f.name, t->default_sec, t->max_sec)))
			return r;
	}
	return 0;
}

/* ---- Warnings ---- */

static bool cidr_is_everything(const struct zt_cidr *a)
{
	return a->plen == 0;
}

static bool refs_have(const struct zt_ref *v, size_t n, enum zt_zone_kind kind)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].zone.kind == kind)
			return true;
	return false;
}

/*
 * Without a strict reverse-path check nothing ties an unbound boundary's
 * addresses to an interface: whoever sends with such a source address,
 * from any interface, is that boundary. (0/0 alone claims nothing more
 * than "anyone", and has a warning of its own.)
 */
static int warn_unbound_sources(struct vctx *c)
{
	const struct zt_policy *p = c->p;
	const char *rpf = p->hub.rpf == ZT_RPF_LOOSE ? "loose" : "off";

	if (p->hub.rpf == ZT_RPF_STRICT)
		return 0;
	for (size_t i = 0; i < p->hub.n_flows; i++) {
		const struct zt_flow *f = &p->hub.flows[i];

		for (size_t j = 0; j < f->n_from; j++) {
			const struct zt_zone *z = &f->from[j].zone;
			const struct zt_boundary *b;
			char a[ZT_CIDR_STRLEN];
			size_t k;
			int r;

			if (z->kind != ZT_ZONE_BOUNDARY || z->bnd < 0 || (size_t)z->bnd >= p->hub.n_boundaries)
				continue;
			b = &p->hub.boundaries[z->bnd];
			if (b->n_ifs)
				continue;
			for (k = 0; k < b->n_addrs && cidr_is_everything(&b->addrs[k]); k++)
				;
			if (k == b->n_addrs)
				continue;
			r = warn(c, &f->pos, "flow '%s': with rpf: %s, from: %s (a boundary without "
				 "interfaces) means from anyone who claims its addresses (%s%s), on any "
				 "interface; bind '%s' to its interfaces: [...] or use rpf: strict",
				 f->name, rpf, b->name, zt_cidr_fmt(&b->addrs[k], a, sizeof(a)),
				 b->n_addrs > 1 ? ", ..." : "", b->name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int check_warnings(struct vctx *c)
{
	struct zt_policy *p = c->p;
	bool host_out = false, host_in = false;
	int r;

	for (size_t i = 0; i < p->hub.n_flows; i++) {
		host_out |= refs_have(p->hub.flows[i].from, p->hub.flows[i].n_from, ZT_ZONE_HOST);
		host_in |= refs_have(p->hub.flows[i].to, p->hub.flows[i].n_to, ZT_ZONE_HOST);
	}
	if (p->hub.protect_host && !host_out) {
		r = warn(c, &p->hub.pos, "protect-host is on but no flow has from: host; "
			 "the host's own DNS, NTP and updates will be dropped");
		if (r < 0)
			return r;
	}
	/* The silent lock-out: the reload that applies this cuts the SSH session it came from. */
	if (p->hub.protect_host && !host_in) {
		r = warn(c, &p->hub.pos, "protect-host is on but no flow has to: host; nothing may "
			 "reach this machine, and SSH sessions to it (yours too) are cut when this "
			 "policy is applied; add e.g. { from: office, to: host, ports: [tcp/22] }, "
			 "and apply with ztsegctl reload --confirm SECONDS");
		if (r < 0)
			return r;
	}
	r = warn_unbound_sources(c);
	if (r >= 0)
		r = zt_bridge_check(p, c->d);
	if (r < 0)
		return r;
	/* Unlike a boundary's, a segment's 0/0 binds: the outside world would be the segment. */
	for (size_t i = 0; i < p->n_segs; i++) {
		const struct zt_segment *s = &p->segs[i];

		for (size_t j = 0; j < s->n_addrs; j++) {
			char a[ZT_CIDR_STRLEN];

			if (!cidr_is_everything(&s->addrs[j]))
				continue;
			r = warn(c, &s->addrs[j].pos, "segment '%s' claims every address (%s): sources "
				 "arriving on any other interface are dropped as spoofed, and every "
				 "destination counts as '%s'; the outside world belongs in a boundary",
				 s->name, zt_cidr_fmt(&s->addrs[j], a, sizeof(a)), s->name);
			if (r < 0)
				return r;
		}
	}
	for (size_t i = 0; i < p->hub.n_boundaries; i++) {
		const struct zt_boundary *b = &p->hub.boundaries[i];

		if (b->n_ifs)
			continue;
		for (size_t j = 0; j < b->n_addrs; j++) {
			if (!cidr_is_everything(&b->addrs[j]))
				continue;
			r = warn(c, &b->addrs[j].pos, "boundary '%s' matches every address on every "
				 "interface; bind it to the uplink with interfaces: [...] so spoofed "
				 "sources cannot claim it", b->name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int zt_policy_validate(struct zt_policy *p, struct zt_diags *d)
{
	_cleanup_free_ struct file_rank *files = NULL;
	_cleanup_free_ struct name_ent *names = NULL;
	_cleanup_free_ bool *dup = NULL;
	struct vctx c = { .p = p, .d = d };
	size_t errors = d->n_errors;
	int r;

	if (p->n_files && !(files = calloc(p->n_files, sizeof(*files))))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_files; i++)
		files[i] = (struct file_rank){ .name = p->files[i], .rank = (unsigned)i };
	if (p->n_files)
		qsort(files, p->n_files, sizeof(*files), file_rank_cmp);
	c.files = files;
	c.n_files = p->n_files;

	r = check_names(&c);
	names = c.names;
	dup = c.dup;
	if (!r)
		r = check_delegations(&c);
	if (!r)
		r = check_ifpats(&c);
	if (!r)
		r = check_addresses(&c);
	if (!r)
		r = check_flows(&c, p->hub.flows, p->hub.n_flows);
	for (size_t i = 0; !r && i < p->n_segs; i++)
		r = check_flows(&c, p->segs[i].rules, p->segs[i].n_rules);
	if (!r)
		r = check_jit(&c);
	if (!r && (r = zt_policy_check_units(p, d)) == -EINVAL)
		r = 0;
	if (!r)
		r = zt_policy_check_modes(p, d);
	if (!r)
		r = check_warnings(&c);
	if (r < 0)
		return r;
	return d->n_errors > errors ? -EINVAL : 0;
}
