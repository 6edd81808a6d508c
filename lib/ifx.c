/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The twins of the interface-pattern sets: which twins there are, what
 * each holds for an interface name (looked up in the plan's own pattern
 * sets, exactly as the kernel's interval lookup would), and their elements
 * for a list of names. ifx.h says why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "ifx.h"
#include "util.h"

/* One step of a twin: the first pattern set that covers the name gives its value. */
struct arm {
	const char *set;
	enum zt_verdict_code code;	/* ZT_V_NONE: the set's own data */
	const char *chain;		/* with ZT_V_NONE: goto src_sub in the data becomes goto this */
};

struct twin {
	const char *name;
	struct arm arm[ZT_IFX_ARMS];
	enum zt_verdict_code miss;	/* ZT_V_NONE: no element for a name nothing covers */
	const char *miss_chain;
};

/* Kept in step with the rules in compile-spoof.c and compile-chains.c that use them. */
static const struct twin twins[] = {
	{ "route_ownx", { { "route_owner", ZT_V_NONE, NULL } }, ZT_V_GOTO, "spoof_addr" },
	{ "zone_ifx", { { "zone_if", ZT_V_GOTO, "spoofed" } }, ZT_V_ACCEPT, NULL },
	{ "scope_ifx", { { "member_if", ZT_V_GOTO, "scoped" } }, ZT_V_GOTO, "scope_oif" },
	{ "scope_ofx", { { "member_if", ZT_V_GOTO, "scoped" } }, ZT_V_ACCEPT, NULL },
	{ "src_ifx", { { "src_if", ZT_V_NONE, "src_subx" } }, ZT_V_GOTO, "src_addr" },
	{ "dst_ifx", { { "dst_if", ZT_V_NONE, NULL } }, ZT_V_NONE, NULL },
	{ "dst_ofx", { { "sub_if", ZT_V_GOTO, "dsub" }, { "member_if", ZT_V_RETURN, NULL } }, ZT_V_GOTO, "dst_addr" },
};

static const struct twin *twin_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(twins); i++)
		if (streq(twins[i].name, name))
			return &twins[i];
	return NULL;
}

size_t zt_ifx_sources(const char *set, const char *out[ZT_IFX_ARMS])
{
	const struct twin *t = twin_find(set);
	size_t n = 0;

	for (size_t i = 0; t && i < ZT_IFX_ARMS && t->arm[i].set; i++)
		out[n++] = t->arm[i].set;
	return n;
}

bool zt_ifx_is_twin(const char *set)
{
	return twin_find(set) != NULL;
}

/*
 * The element of pattern set s that covers ifname, as the kernel's
 * interval lookup finds it. The patterns are disjoint (compile drops a
 * pattern another covers) and sorted by name, so the only candidate is
 * the last one not after the name: every pattern that sorts between a
 * wildcard and a name it covers starts with the wildcard's prefix, and
 * would have been dropped.
 */
static const struct zt_elem *pattern_lookup(const struct zt_set *s, const char *ifname)
{
	size_t lo = 0, hi = s->n_elems;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(zt_set_elem(s, mid)->key[0].ifpat.name, ifname) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* An exact name and a wildcard of the same text are never both there; check the two last anyway. */
	for (size_t k = lo; k > 0 && k + 2 > lo; k--)
		if (zt_ifpat_match(&zt_set_elem(s, k - 1)->key[0].ifpat, ifname))
			return zt_set_elem(s, k - 1);
	return NULL;
}

static bool twin_ok(const struct zt_set *s)
{
	return s->n_key == 1 && (s->key[0] == ZT_TYPE_IFNAME || s->key[0] == ZT_TYPE_FIB_IFNAME) && !s->interval;
}

int zt_ifx_value(const struct zt_plan *p, const struct zt_set *s, const char *ifname, struct zt_value *data)
{
	const struct twin *t = twin_find(s->name);

	if (!t || !twin_ok(s))
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(t->arm) && t->arm[i].set; i++) {
		const struct zt_set *src = zt_plan_find_set(p, t->arm[i].set);
		const struct zt_elem *e;

		if (!src || src->n_key != 1 || !src->interval)
			continue;
		if (!(e = pattern_lookup(src, ifname)))
			continue;
		if (t->arm[i].code == ZT_V_NONE) {
			if (src->data != s->data)
				return -EINVAL;
			*data = e->data;
			/* src_sub looks the segment up in dst_if again; src_subx in dst_ifx. */
			if (t->arm[i].chain && data->type == ZT_TYPE_VERDICT && streq(data->verdict.chain, "src_sub"))
				snprintf(data->verdict.chain, sizeof(data->verdict.chain), "%s", t->arm[i].chain);
		} else {
			*data = (struct zt_value){ .type = ZT_TYPE_VERDICT, .verdict.code = t->arm[i].code };
			if (t->arm[i].chain)
				snprintf(data->verdict.chain, sizeof(data->verdict.chain), "%s", t->arm[i].chain);
		}
		return 1;
	}
	if (t->miss == ZT_V_NONE)
		return 0;
	*data = (struct zt_value){ .type = ZT_TYPE_VERDICT, .verdict.code = t->miss };
	if (t->miss_chain)
		snprintf(data->verdict.chain, sizeof(data->verdict.chain), "%s", t->miss_chain);
	return 1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int zt_ifx_elems(const struct zt_plan *p, const struct zt_set *s, const char (*names)[IFNAMSIZ], size_t n,
		 struct zt_elem **ret, size_t *n_ret)
{
	_cleanup_free_ char (*v)[IFNAMSIZ] = NULL;
	_cleanup_free_ struct zt_elem *el = NULL;
	size_t k = 0;
	int r;

	v = calloc(n ? n : 1, sizeof(*v));
	el = calloc(n ? n : 1, sizeof(*el));
	if (!v || !el)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		snprintf(v[i], IFNAMSIZ, "%s", names[i]);
	qsort(v, n, sizeof(*v), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct zt_elem *e = &el[k];

		if (!v[i][0] || (i && streq(v[i], v[i - 1])))
			continue;
		r = zt_ifx_value(p, s, v[i], &e->data);
		if (r < 0)
			return r;
		if (r == 0)
			continue;
		e->key[0].type = s->key[0];
		snprintf(e->key[0].ifpat.name, IFNAMSIZ, "%s", v[i]);
		k++;
	}
	*ret = TAKE_PTR(el);
	*n_ret = k;
	return 0;
}
