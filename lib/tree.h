/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Two helpers over glibc's tsearch() trees that it lacks: a walk that can stop, a find. */
#ifndef ZT_TREE_H
#define ZT_TREE_H

/*
 * Visit the items of root in order; a callback returning non-zero stops
 * the walk and that value is returned.
 */
int zt_tree_walk(const void *root, int (*fn)(const void *item, void *userdata), void *userdata);
/* The item equal to key, or NULL. */
void *zt_tree_find(void *const *root, const void *key, int (*cmp)(const void *, const void *));

#endif
