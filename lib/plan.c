/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan: freeing it, slimming it and making it whole again, counting
 * its objects, finding them by name (every array of a plan is sorted by
 * name, see plan.h), and its strings as nft quotes them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "plan.h"
#include "util.h"

static void chain_clear(struct zt_chain *c)
{
	for (size_t i = 0; i < c->n_rules; i++) {
		for (size_t j = 0; j < c->rules[i].n_match; j++)
			free(c->rules[i].match[j].anon.v);
		free(c->rules[i].match);
		free(c->rules[i].stmt);
	}
	free(c->rules);
}

struct zt_plan *zt_plan_free(struct zt_plan *plan)
{
	if (!plan)
		return NULL;
	for (size_t i = 0; i < plan->n_sets; i++)
		free(plan->sets[i].elems);
	for (size_t i = 0; i < plan->n_chains; i++)
		chain_clear(&plan->chains[i]);
	for (size_t i = 0; i < plan->n_files; i++)
		free(plan->files[i]);
	free(plan->files);
	for (size_t i = 0; i < plan->n_jit; i++) {
		free(plan->jit[i].src);
		free(plan->jit[i].dst);
		free(plan->jit[i].dst_ref);
		free(plan->jit[i].src_ref);
		free(plan->jit[i].spk_from);
		free(plan->jit[i].spk_to);
		free(plan->jit[i].ports);
	}
	free(plan->jit);
	free(plan->marks);
	free(plan->flow_names);
	free(plan->zone_names);
	free(plan->flood);
	for (size_t i = 0; i < plan->n_anomaly; i++)
		free(plan->anomaly[i].marks);
	free(plan->anomaly);
	free(plan->observe.zones);
	for (size_t i = 0; i < plan->bridge.n_segs; i++) {
		free(plan->bridge.segs[i].ifs);
		free(plan->bridge.segs[i].addrs);
	}
	free(plan->bridge.segs);
	free(plan->bridge.bnd_ifs);
	free(plan->sets);
	free(plan->chains);
	free(plan->counters);
	free(plan);
	return NULL;
}

size_t zt_plan_count_objects(const struct zt_plan *p)
{
	size_t n = 1 + p->n_counters + p->n_sets + p->n_chains;

	if (p->slim)
		return p->slim_objects;
	for (size_t i = 0; i < p->n_sets; i++)
		n += p->sets[i].dynamic ? 0 : p->sets[i].n_elems;
	for (size_t i = 0; i < p->n_chains; i++)
		n += p->chains[i].n_rules;
	return n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t fnv_name(uint64_t h, const char *name, size_t n)
{
	h = fnv(h, name, strlen(name) + 1);
	return fnv(h, &n, sizeof(n));
}

uint64_t zt_plan_shape(const struct zt_plan *plan)
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (plan->slim)
		return plan->slim_shape;
	for (size_t i = 0; i < plan->n_counters; i++)
		h = fnv_name(h, plan->counters[i].name, 0);
	for (size_t i = 0; i < plan->n_sets; i++)
		h = fnv_name(h, plan->sets[i].name, plan->sets[i].n_elems);
	for (size_t i = 0; i < plan->n_chains; i++)
		h = fnv_name(h, plan->chains[i].name, plan->chains[i].n_rules);
	return h;
}

static bool kept(const char *name, const char *const keep[])
{
	for (size_t i = 0; keep && keep[i]; i++)
		if (streq(keep[i], name))
			return true;
	return false;
}

void zt_plan_slim(struct zt_plan *plan, const char *const keep[])
{
	if (plan->slim)
		return;
	plan->slim_objects = zt_plan_count_objects(plan);
	plan->slim_shape = zt_plan_shape(plan);
	plan->slim = true;
	for (size_t i = 0; i < plan->n_sets; i++) {
		struct zt_set *s = &plan->sets[i];

		if (kept(s->name, keep))
			continue;
		free(s->elems);
		s->elems = NULL;
		s->n_elems = s->cap_elems = 0;
	}
	for (size_t i = 0; i < plan->n_chains; i++) {
		chain_clear(&plan->chains[i]);
		plan->chains[i].rules = NULL;
		plan->chains[i].n_rules = plan->chains[i].cap_rules = 0;
	}
}

/* A position of full's, pointing into full's copies of the file names, to plan's copy of the same name. */
struct fptr {
	const char *from, *to;
};

static int fptr_cmp(const void *a, const void *b)
{
	const struct fptr *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

static void pos_remap(struct zt_pos *pos, const struct fptr *v, size_t n)
{
	const struct fptr key = { .from = pos->file }, *f;

	if (!pos->file)
		return;
	f = bsearch(&key, v, n, sizeof(*v), fptr_cmp);
	pos->file = f ? f->to : NULL;
}

static bool same_names(const struct zt_plan *a, const struct zt_plan *b)
{
	if (a->n_sets != b->n_sets || a->n_chains != b->n_chains || a->n_files != b->n_files)
		return false;
	for (size_t i = 0; i < a->n_sets; i++)
		if (!streq(a->sets[i].name, b->sets[i].name))
			return false;
	for (size_t i = 0; i < a->n_chains; i++)
		if (!streq(a->chains[i].name, b->chains[i].name))
			return false;
	for (size_t i = 0; i < a->n_files; i++)
		if (!streq(a->files[i], b->files[i]))
			return false;
	return true;
}

int zt_plan_unslim(struct zt_plan *plan, struct zt_plan *full)
{
	struct fptr *map;

	if (!plan->slim)
		return 0;
	if (full->slim || zt_plan_shape(full) != plan->slim_shape || !same_names(plan, full))
		return -ESTALE;
	if (!(map = calloc(plan->n_files ? plan->n_files : 1, sizeof(*map))))
		return -ENOMEM;
	for (size_t i = 0; i < plan->n_files; i++)
		map[i] = (struct fptr){ .from = full->files[i], .to = plan->files[i] };
	qsort(map, plan->n_files, sizeof(*map), fptr_cmp);
	/* Every element and rule of full's, its positions pointed at plan's copies of the file names. */
	for (size_t i = 0; i < plan->n_sets; i++) {
		struct zt_set *s = &plan->sets[i], *f = &full->sets[i];

		for (size_t k = 0; k < f->n_elems; k++)
			pos_remap(&zt_set_elem(f, k)->pos, map, plan->n_files);
		free(s->elems);
		s->elems = f->elems;
		s->n_elems = f->n_elems;
		s->cap_elems = f->cap_elems;
		f->elems = NULL;
		f->n_elems = f->cap_elems = 0;
	}
	for (size_t i = 0; i < plan->n_chains; i++) {
		struct zt_chain *c = &plan->chains[i], *f = &full->chains[i];

		for (size_t k = 0; k < f->n_rules; k++)
			pos_remap(&f->rules[k].pos, map, plan->n_files);
		c->rules = f->rules;
		c->n_rules = f->n_rules;
		c->cap_rules = f->cap_rules;
		f->rules = NULL;
		f->n_rules = f->cap_rules = 0;
	}
	free(map);
	plan->slim = false;
	return 0;
}

/* Binary search by the name at name_off in each element of a sorted array. */
static const void *find_by_name(const void *base, size_t n, size_t size, size_t name_off,
				const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = (const char *)base + mid * size;
		int r = strcmp(name, p + name_off);

		if (!r)
			return p;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct zt_set *zt_plan_find_set(const struct zt_plan *plan, const char *name)
{
	return find_by_name(plan->sets, plan->n_sets, sizeof(*plan->sets),
			    offsetof(struct zt_set, name), name);
}

const struct zt_chain *zt_plan_find_chain(const struct zt_plan *plan, const char *name)
{
	return find_by_name(plan->chains, plan->n_chains, sizeof(*plan->chains),
			    offsetof(struct zt_chain, name), name);
}

/*
 * nft's quoted strings have no escapes: a double quote would end the
 * string and a backslash garble it, so they become an apostrophe and a
 * slash; control and non-ASCII bytes become '?', and so does '$' in a log
 * prefix, where it starts a variable.
 */
const char *zt_nft_str(char buf[static ZT_NFT_STR_MAX + 1], const char *s, size_t size,
		       enum zt_nft_str kind)
{
	size_t max = kind == ZT_NFT_LOG_PREFIX ? ZT_NFT_STR_MAX - 1 : ZT_NFT_STR_MAX;
	size_t n = strnlen(s, size);

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			c = '\'';
		else if (c == '\\')
			c = '/';
		else if (c < ' ' || c >= 0x7f || (kind == ZT_NFT_LOG_PREFIX && c == '$'))
			c = '?';
		buf[i] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static int mark_cmp(const void *key, const void *elem)
{
	uint32_t a = *(const uint32_t *)key, b = ((const struct zt_plan_mark *)elem)->mark;

	return a < b ? -1 : a > b;
}

const struct zt_plan_mark *zt_plan_find_mark(const struct zt_plan *plan, uint32_t mark)
{
	return plan->n_marks ? bsearch(&mark, plan->marks, plan->n_marks, sizeof(*plan->marks), mark_cmp) : NULL;
}
