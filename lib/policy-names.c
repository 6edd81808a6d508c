/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Generated flow names (SPEC §3): an unnamed flow is called "from->to";
 * repeats get "#2", "#3" in policy order. Given names cannot contain '>'
 * or '#', so the two never collide. Called by the loader (policy-load.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"

/* One side of a generated name; long lists are cut to keep names readable. */
static void side_name(char *buf, size_t len, const struct zt_ref *refs, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	if (!n) {
		snprintf(buf, len, "?");
		return;
	}
	for (size_t i = 0; i < n && o < len; i++) {
		size_t need = strlen(refs[i].name) + (i ? 1 : 0);

		if (i && o + need + 4 >= len) {
			snprintf(buf + o, len - o, ",...");
			return;
		}
		o += snprintf(buf + o, len - o, "%s%s", i ? "," : "", refs[i].name);
	}
}

struct gen_name {
	const char *name;
	size_t idx;
};

static int gen_name_cmp(const void *a, const void *b)
{
	const struct gen_name *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int zt_policy_name_flows(struct zt_flow *flows, size_t n)
{
	_cleanup_free_ struct gen_name *v = NULL;
	const char *base = NULL;
	size_t nv = 0;

	if (!n)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char from[72], to[72];

		if (flows[i].named)
			continue;
		side_name(from, sizeof(from), flows[i].from, flows[i].n_from);
		side_name(to, sizeof(to), flows[i].to, flows[i].n_to);
		if (asprintf(&flows[i].name, "%s->%s", from, to) < 0) {
			flows[i].name = NULL;
			return -ENOMEM;
		}
		v[nv++] = (struct gen_name){ .name = flows[i].name, .idx = i };
	}
	qsort(v, nv, sizeof(*v), gen_name_cmp);
	/* The first of a run keeps its name, so `base` stays valid while later ones change. */
	for (size_t i = 0, run = 0; i < nv; i++) {
		struct zt_flow *f = &flows[v[i].idx];
		char *s;

		if (!base || !streq(v[i].name, base)) {
			base = v[i].name;
			run = 1;
			continue;
		}
		if (asprintf(&s, "%s#%zu", base, ++run) < 0)
			return -ENOMEM;
		free(f->name);
		f->name = s;
	}
	return 0;
}
