/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A strict YAML reader on libyaml's event API. It builds a small tree in
 * which every node keeps its line and column, and refuses what a policy
 * file never needs: anchors, aliases, tags, several documents, duplicate
 * keys, non-scalar keys, and anything over the configured limits.
 */
#ifndef ZT_YAML_TREE_H
#define ZT_YAML_TREE_H

#include "diag.h"

enum zt_node_type {
	ZT_NODE_SCALAR,
	ZT_NODE_SEQ,
	ZT_NODE_MAP,
};

struct zt_node {
	enum zt_node_type type;
	unsigned line, col;	/* 1-based position of the node's first character */
	/* scalar */
	char *value;		/* NUL-terminated; embedded NULs are rejected */
	size_t len;
	bool plain;		/* an unquoted scalar (may be a YAML 1.1 boolean, null, ...) */
	/* sequence items, or mapping values with keys[i] -> items[i] */
	struct zt_node **items;
	struct zt_node **keys;	/* mapping only: scalar keys */
	size_t n;
};

struct zt_yaml_limits {
	size_t max_depth;	/* nested collections; default 32 */
	size_t max_scalar;	/* bytes per scalar; default 4096 */
	size_t max_entries;	/* items per sequence or pairs per mapping; default 100000 */
	size_t max_nodes;	/* nodes per document; default 1000000 */
};

#define ZT_YAML_LIMITS_DEFAULT                                                 \
	((struct zt_yaml_limits){ .max_depth = 32, .max_scalar = 4096,         \
				  .max_entries = 100000, .max_nodes = 1000000 })

/*
 * Parse one YAML document from buf. `file` names the source in
 * diagnostics. An empty stream (only comments/whitespace) gives *ret ==
 * NULL and returns 0. On error, a diagnostic with line:col is added to d,
 * *ret is untouched and -EINVAL (or -ENOMEM) is returned.
 */
int zt_yaml_parse(const char *file, const char *buf, size_t len,
		  const struct zt_yaml_limits *lim, struct zt_node **ret,
		  struct zt_diags *d);

/* Accepts NULL; returns NULL. */
struct zt_node *zt_node_free(struct zt_node *n);

/* Mapping lookup by key (NULL if absent or n is not a mapping). */
const struct zt_node *zt_node_get(const struct zt_node *map, const char *key);

#endif
