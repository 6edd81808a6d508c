/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy loader's own helpers, shared by its files (policy-load.c and
 * the sections it hands off, such as policy-jit.c): the loader's state,
 * diagnostics at file:line:col, and the checks every section uses.
 * Not a public interface: policy.h is.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include "policy.h"
#include "yaml-tree.h"

/*
 * Values quoted in messages come from untrusted files: show printable
 * ASCII only and cut long ones, so a diagnostic stays one readable line.
 */
#define TOK_MAX 72
#define TOK(s) pl_tok((char[TOK_MAX]){ 0 }, (s))

struct loader {
	struct zt_policy *p;
	struct zt_diags *d;
	const struct zt_limits *lim;
	const char *file;	/* points into p->files */
	bool hub_file;
	bool seg_limit_hit;
	size_t segs_cap;
};

const char *pl_tok(char *buf, const char *s);
/* -EINVAL means "reported, keep going"; anything else stops the load. */
bool pl_fatal(int r);
int pl_err_at(struct loader *l, const struct zt_node *n, const char *fmt, ...) _printf_(3, 4);
struct zt_pos pl_pos_of(const struct loader *l, const struct zt_node *n);
const char *pl_node_kind(const struct zt_node *n);
int pl_check_keys(struct loader *l, const struct zt_node *map, const char *ctx,
		  const char *const *allowed, const char *const *reserved);
int pl_want_scalar(struct loader *l, const struct zt_node *n, const char *what);
int pl_want_seq(struct loader *l, const struct zt_node *n, const char *key, const char *what);
int pl_check_name(struct loader *l, const struct zt_node *n, const char *kind, bool reserved);
int pl_load_refs(struct loader *l, const struct zt_node *n, const char *key, struct zt_ref **ret, size_t *n_ret);
int pl_load_ports(struct loader *l, const struct zt_node *n, struct zt_port **ret, size_t *n_ret);

/* policy-jit.c: the hub file's jit: templates */
int pl_load_jit(struct loader *l, const struct zt_node *n);
