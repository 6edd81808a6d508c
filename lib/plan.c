/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan: freeing it, finding its objects by name (every array of a
 * plan is sorted by name, see plan.h), and its strings as nft quotes them.
 */
#include <stdlib.h>
#include <string.h>
#include "plan.h"

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
