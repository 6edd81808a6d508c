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

/*
 * How a twin follows its pattern set: the names it covers (IN), the names
 * it does not (OUT), the set's data for a name it covers (DATA), or accept
 * for a name it covers and return for one it does not (SELF).
 */
enum twin_kind { TW_IN, TW_OUT, TW_DATA, TW_SELF };

struct twin {
	const char *name;
	const char *src;
	enum twin_kind kind;
};

/* Kept in step with the rules in compile-spoof.c and compile-chains.c that use them. */
static const struct twin twins[] = {
	{ "route_ownx", "route_owner", TW_SELF },
	{ "zone_ifx", "zone_if", TW_IN },
	{ "zone_ifn", "zone_if", TW_OUT },
	{ "member_ifx", "member_if", TW_IN },
	{ "member_ifn", "member_if", TW_OUT },
	{ "sub_ifx", "sub_if", TW_IN },
	{ "dst_ifx", "dst_if", TW_DATA },
};

static const struct twin *twin_find(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(twins); i++)
		if (streq(twins[i].name, name))
			return &twins[i];
	return NULL;
}

const char *zt_ifx_source(const char *set)
{
	const struct twin *t = twin_find(set);

	return t ? t->src : NULL;
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

static bool twin_ok(const struct twin *t, const struct zt_set *s)
{
	if (s->n_key != 1 || !(s->key[0] == ZT_TYPE_IFNAME || s->key[0] == ZT_TYPE_FIB_IFNAME) || s->interval)
		return false;
	if (t->kind == TW_SELF)
		return s->data == ZT_TYPE_VERDICT;
	return t->kind == TW_DATA ? s->data != ZT_TYPE_NONE : s->data == ZT_TYPE_NONE;
}

int zt_ifx_value(const struct zt_plan *p, const struct zt_set *s, const char *ifname, struct zt_value *data)
{
	const struct twin *t = twin_find(s->name);
	const struct zt_set *src;
	const struct zt_elem *e = NULL;

	if (!t || !twin_ok(t, s))
		return -EINVAL;
	src = zt_plan_find_set(p, t->src);
	if (src && src->n_key == 1 && src->interval)
		e = pattern_lookup(src, ifname);
	*data = (struct zt_value){ .type = ZT_TYPE_NONE };
	switch (t->kind) {
	case TW_IN:
		return e != NULL;
	case TW_OUT:
		return e == NULL;
	case TW_DATA:
		if (!e)
			return 0;
		if (src->data != s->data)
			return -EINVAL;
		*data = e->data;
		return 1;
	case TW_SELF:
		*data = (struct zt_value){ .type = ZT_TYPE_VERDICT, .verdict.code = e ? ZT_V_ACCEPT : ZT_V_RETURN };
		return 1;
	}
	return -EINVAL;
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
