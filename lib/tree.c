/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Walking and searching glibc tsearch() trees (lib/tree.h). */
#include <search.h>
#include <stddef.h>
#include "tree.h"

struct walk {
	int (*fn)(const void *item, void *userdata);
	void *userdata;
	int r;
};

static void walk_action(const void *nodep, VISIT which, void *closure)
{
	struct walk *w = closure;

	if (w->r || (which != postorder && which != leaf))
		return;
	w->r = w->fn(*(void *const *)nodep, w->userdata);
}

int zt_tree_walk(const void *root, int (*fn)(const void *item, void *userdata), void *userdata)
{
	struct walk w = { .fn = fn, .userdata = userdata };

	/* twalk_r() cannot stop early: the callback turns into a no-op instead. */
	if (root)
		twalk_r(root, walk_action, &w);
	return w.r;
}

void *zt_tree_find(void *const *root, const void *key, int (*cmp)(const void *, const void *))
{
	void *const *p = tfind(key, root, cmp);

	return p ? *p : NULL;
}
