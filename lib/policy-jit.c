/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hub file's jit: templates (SPEC §3, issue 17): names, zones, ports,
 * durations and requester groups, each problem at file:line:col. What a
 * template may grant is checked later, with the zones, in policy-validate.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "grant.h"
#include "policy-loader.h"
#include "util.h"

static const char *const jit_keys[] = { "name", "from", "to", "ports", "max", "default",
					 "requesters", NULL };

static int load_duration(struct loader *l, const struct zt_node *n, const char *key, uint32_t *ret)
{
	const char *why = NULL;

	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "%s: expected a duration such as 30m or 1h, got %s", key, pl_node_kind(n));
	if (zt_duration_parse(n->value, ZT_JIT_MAX_SECONDS, ret, &why) < 0)
		return pl_err_at(l, n, "%s: invalid duration '%s': %s", key, TOK(n->value), why);
	return 0;
}

static int load_requesters(struct loader *l, const struct zt_node *n, struct zt_jit *t)
{
	if (pl_want_seq(l, n, "requesters", "Unix group names"))
		return -EINVAL;
	if (!n->n)
		return pl_err_at(l, n, "requesters: expected at least one Unix group");
	if (n->n > ZT_JIT_REQUESTERS_MAX)
		return pl_err_at(l, n, "requesters: at most %d groups", ZT_JIT_REQUESTERS_MAX);
	if (!(t->requesters = calloc(n->n, sizeof(*t->requesters))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		bool ok = it->type == ZT_NODE_SCALAR && it->len && it->len <= ZT_JIT_GROUP_MAX &&
			  strlen(it->value) == it->len && it->value[0] != '-';

		for (size_t k = 0; ok && k < it->len; k++)
			ok = isalnum((unsigned char)it->value[k]) || strchr("_-.", it->value[k]) ||
			     (k == it->len - 1 && it->value[k] == '$');
		if (!ok)
			return pl_err_at(l, it, "requesters: '%s' is not a Unix group name (letters, digits, '_', '-', '.', at most %d bytes)",
				      it->type == ZT_NODE_SCALAR ? TOK(it->value) : "?", ZT_JIT_GROUP_MAX);
		if (!(t->requesters[t->n_requesters++] = strdup(it->value)))
			return -ENOMEM;
	}
	return 0;
}

static int load_jit_one(struct loader *l, const struct zt_node *n, struct zt_jit *t)
{
	static const char *const required[] = { "name", "from", "to", "ports", "max" };
	const struct zt_node *v;
	int r, ret = 0;

	t->pos = t->f.pos = pl_pos_of(l, n);
	t->f.seg = -1;
	t->f.jit = true;
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "jit: expected a template such as { name: admin-ssh, from: onprem, to: db, ports: [tcp/22], max: 1h }, got %s",
			      pl_node_kind(n));
	r = pl_check_keys(l, n, "a jit template", jit_keys, NULL);
	if (pl_fatal(r))
		return r;
	ret = r;
	for (size_t i = 0; i < ELEMENTSOF(required); i++) {
		if (zt_node_get(n, required[i]))
			continue;
		r = pl_err_at(l, n, "missing required key '%s' in a jit template", required[i]);
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->value;

		v = n->items[i];
		r = 0;
		if (streq(key, "name")) {
			r = pl_want_scalar(l, v, "a template name");
			if (!r)
				r = pl_check_name(l, v, "jit template", false);
			if (!r) {
				t->f.named = true;
				if (!(t->f.name = strdup(v->value)))
					return -ENOMEM;
			}
		} else if (streq(key, "from")) {
			r = pl_load_refs(l, v, "from", &t->f.from, &t->f.n_from);
		} else if (streq(key, "to")) {
			r = pl_load_refs(l, v, "to", &t->f.to, &t->f.n_to);
		} else if (streq(key, "ports")) {
			r = pl_load_ports(l, v, &t->f.ports, &t->f.n_ports);
		} else if (streq(key, "max")) {
			r = load_duration(l, v, "max", &t->max_sec);
		} else if (streq(key, "default")) {
			r = load_duration(l, v, "default", &t->default_sec);
		} else if (streq(key, "requesters")) {
			r = load_requesters(l, v, t);
		}
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (!t->n_requesters) {
		/* requesters: may have failed after its array was made */
		free(t->requesters);
		if (!(t->requesters = calloc(1, sizeof(*t->requesters))) ||
		    !(t->requesters[0] = strdup(ZT_JIT_DEFAULT_REQUESTER)))
			return -ENOMEM;
		t->n_requesters = 1;
	}
	return ret;
}

int pl_load_jit(struct loader *l, const struct zt_node *n)
{
	struct zt_policy *p = l->p;
	int r, ret = 0;

	if ((r = pl_want_seq(l, n, "jit", "templates")))
		return r;
	if (!n->n)
		return 0;
	if (p->jit)
		return pl_err_at(l, n, "jit: given twice");
	if (n->n > ZT_JIT_TEMPLATES_MAX)
		return pl_err_at(l, n, "jit: at most %d templates", ZT_JIT_TEMPLATES_MAX);
	if (!(p->jit = calloc(n->n, sizeof(*p->jit))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		r = load_jit_one(l, n->items[i], &p->jit[i]);
		p->n_jit++;
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}
