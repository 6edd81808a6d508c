/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy loader: walks the YAML trees of ztseg.yaml and segments.d into
 * struct zt_policy (SPEC §3), reporting every problem with file:line:col.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include "policy.h"
#include "policy-loader.h"

#define STR(x) #x
#define XSTR(x) STR(x)

const char *pl_tok(char *buf, const char *s)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = *s;

		if (o + 8 >= TOK_MAX) {
			strcpy(buf + o, "...");
			return buf;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = c;
		else
			o += sprintf(buf + o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* -EINVAL means "reported, keep going"; anything else stops the load. */
bool pl_fatal(int r)
{
	return r < 0 && r != -EINVAL;
}

int pl_err_at(struct loader *l, const struct zt_node *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(l->d, ZT_SEV_ERROR, l->file, n ? n->line : 0,
			 n ? n->col : 0, fmt, ap);
	va_end(ap);
	return r;
}

struct zt_pos pl_pos_of(const struct loader *l, const struct zt_node *n)
{
	return (struct zt_pos){ .file = l->file, .line = n->line, .col = n->col };
}

static bool is_null(const struct zt_node *n)
{
	return n->type == ZT_NODE_SCALAR && n->plain &&
	       (!n->value[0] || streq(n->value, "~") || !strcasecmp(n->value, "null"));
}

const char *pl_node_kind(const struct zt_node *n)
{
	if (n->type == ZT_NODE_SEQ)
		return "a list";
	if (n->type == ZT_NODE_MAP)
		return "a mapping";
	return is_null(n) ? "an empty value" : "a scalar";
}

/* What a YAML 1.1 reader (PyYAML, Ansible, ...) makes of a plain scalar. */
static const char *yaml11_reading(const struct zt_node *n)
{
	static const char *const bools[] = { "y", "n", "yes", "no", "on", "off",
					     "true", "false" };

	if (!n->plain)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(bools); i++)
		if (!strcasecmp(n->value, bools[i]))
			return "a boolean";
	if (streq(n->value, "~") || !strcasecmp(n->value, "null"))
		return "null";
	return NULL;
}

static bool strv_contains(const char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq(*v, s))
			return true;
	return false;
}

/* Levenshtein distance, case-insensitive, capped: only small ones matter. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (lb >= ELEMENTSOF(row) || (la > lb ? la - lb : lb - la) > 2)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *closest(const char *s, const char *const *cands)
{
	const char *best = NULL;
	size_t bd = 3;

	for (; *cands; cands++) {
		size_t dist = edit_distance(s, *cands);

		if (dist < bd && dist < strlen(*cands)) {
			bd = dist;
			best = *cands;
		}
	}
	return best;
}

static int unknown_key(struct loader *l, const struct zt_node *k, const char *ctx,
		       const char *const *allowed)
{
	char list[256] = "", hint[96] = "";
	const char *near = closest(k->value, allowed);

	for (const char *const *a = allowed; *a; a++) {
		if (a != allowed)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, *a, sizeof(list) - strlen(list) - 1);
	}
	if (near)
		snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
	return pl_err_at(l, k, "unknown key '%s' in %s; expected one of: %s%s",
		      TOK(k->value), ctx, list, hint);
}

/* Report every key of map that is not allowed; reserved ones are future sections. */
int pl_check_keys(struct loader *l, const struct zt_node *map, const char *ctx,
		  const char *const *allowed, const char *const *reserved)
{
	int ret = 0, r;

	for (size_t i = 0; i < map->n; i++) {
		const struct zt_node *k = map->keys[i];

		if (strv_contains(allowed, k->value))
			continue;
		if (strv_contains(reserved, k->value))
			r = pl_err_at(l, k, "'%s' is not implemented yet", k->value);
		else
			r = unknown_key(l, k, ctx, allowed);
		if (pl_fatal(r))
			return r;
		ret = -EINVAL;
	}
	return ret;
}

static int want_map(struct loader *l, const struct zt_node *n, const char *what)
{
	if (n->type == ZT_NODE_MAP)
		return 0;
	return pl_err_at(l, n, "%s: expected a mapping, got %s", what, pl_node_kind(n));
}

int pl_want_scalar(struct loader *l, const struct zt_node *n, const char *what)
{
	if (n->type == ZT_NODE_SCALAR)
		return 0;
	return pl_err_at(l, n, "expected %s, got %s", what, pl_node_kind(n));
}

static bool needs_quotes(const char *s)
{
	return !*s || strpbrk(s, ":*#,[]{}&!|>'\"%@`") || isspace((unsigned char)*s) ||
	       *s == '-' || *s == '?';
}

/* what: the plural of the items, e.g. "interface patterns". */
int pl_want_seq(struct loader *l, const struct zt_node *n, const char *key,
		const char *what)
{
	const char *q;

	if (n->type == ZT_NODE_SEQ)
		return 0;
	if (n->type != ZT_NODE_SCALAR || is_null(n))
		return pl_err_at(l, n, "%s: expected a list of %s, got %s", key, what,
			      pl_node_kind(n));
	q = needs_quotes(n->value) ? "\"" : "";
	return pl_err_at(l, n, "%s: expected a list of %s, got a scalar; write [%s%s%s]",
		      key, what, q, TOK(n->value), q);
}

/* NULL when s is a valid name, else what is wrong with it. */
static const char *name_problem(const char *s, size_t len)
{
	if (!len)
		return "a name cannot be empty";
	if (len > ZT_NAME_MAX)
		return "names are at most " XSTR(ZT_NAME_MAX) " bytes";
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return "names start with a lowercase letter";
	for (size_t i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return "names use only lowercase letters, digits, '_' and '-'";
	return NULL;
}

static int yaml11_check(struct loader *l, const struct zt_node *n)
{
	const char *as = yaml11_reading(n);

	if (!as)
		return 0;
	return pl_err_at(l, n, "'%s' is read as %s by YAML 1.1 tools; quote it or choose another name",
		      TOK(n->value), as);
}

/* kind: "segment", "subnet", ... ; reserved: refuse "host" and "world". */
int pl_check_name(struct loader *l, const struct zt_node *n, const char *kind,
		  bool reserved)
{
	const char *why;
	int r;

	if ((r = yaml11_check(l, n)))
		return r;
	if (n->len > ZT_NAME_MAX)
		return pl_err_at(l, n, "%s name '%s' is %zu bytes, over the limit of %d",
			      kind, TOK(n->value), n->len, ZT_NAME_MAX);
	if ((why = name_problem(n->value, n->len)))
		return pl_err_at(l, n, "invalid %s name '%s': %s", kind, TOK(n->value), why);
	if (reserved && (streq(n->value, "host") || streq(n->value, "world")))
		return pl_err_at(l, n, "'%s' is reserved and cannot name a %s", n->value, kind);
	return 0;
}

/* A zone reference: "web", "db.primary", a boundary, "host" or "world". */
static int check_zone_ref(struct loader *l, const struct zt_node *n)
{
	const char *dot = memchr(n->value, '.', n->len), *why;
	int r;

	if ((r = yaml11_check(l, n)))
		return r;
	if (!dot) {
		why = name_problem(n->value, n->len);
	} else {
		why = name_problem(n->value, dot - n->value);
		if (!why)
			why = name_problem(dot + 1, n->len - (dot + 1 - n->value));
	}
	if (why)
		return pl_err_at(l, n, "invalid zone '%s': %s; a zone is a segment, "
			      "segment.subnet, boundary, host or world", TOK(n->value), why);
	return 0;
}

static int load_bool(struct loader *l, const struct zt_node *n, const char *key, bool *ret)
{
	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "%s: expected true or false, got %s", key, pl_node_kind(n));
	/* Only YAML 1.2's two spellings: "yes"/"on" mean different things to different tools. */
	if (n->plain && streq(n->value, "true"))
		*ret = true;
	else if (n->plain && streq(n->value, "false"))
		*ret = false;
	else
		return pl_err_at(l, n, "%s: expected true or false, got %s'%s'", key,
			      n->plain ? "" : "quoted ", TOK(n->value));
	return 0;
}

static int load_enum(struct loader *l, const struct zt_node *n, const char *key,
		     const char *const *names, int *ret)
{
	char list[128] = "";

	for (int i = 0; names[i]; i++) {
		if (n->type == ZT_NODE_SCALAR && streq(n->value, names[i])) {
			*ret = i;
			return 0;
		}
		if (i)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
	}
	if (n->type != ZT_NODE_SCALAR)
		return pl_err_at(l, n, "%s: expected one of: %s, got %s", key, list, pl_node_kind(n));
	return pl_err_at(l, n, "%s: invalid value '%s'; expected one of: %s", key,
		      TOK(n->value), list);
}

static const char *const mode_names[] = { "enforce", "observe", NULL };

/* mode: enforce | observe, and where it was said (observe mode, lib/observe.c). */
static int load_mode(struct loader *l, const struct zt_node *n, enum zt_mode *mode, bool *set,
		     struct zt_pos *pos)
{
	int e, r = load_enum(l, n, "mode", mode_names, &e);

	if (r)
		return r;
	*mode = e;
	*pos = pl_pos_of(l, n);
	if (set)
		*set = true;
	return 0;
}

static int load_version(struct loader *l, const struct zt_node *n)
{
	if (n->type != ZT_NODE_SCALAR || !n->plain || !streq(n->value, "1"))
		return pl_err_at(l, n, "expected version: 1");
	l->p->version = 1;
	return 0;
}

static int load_ifs(struct loader *l, const struct zt_node *n, const char *key,
		    struct zt_ifpat **ret, size_t *n_ret)
{
	int r, ret_r = 0;

	if ((r = pl_want_seq(l, n, key, "interface patterns")))
		return r;
	if (!n->n)
		return 0;
	if (!(*ret = calloc(n->n, sizeof(**ret))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		struct zt_ifpat *pat = &(*ret)[*n_ret];
		const char *why = NULL;

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "%s: expected an interface pattern, got %s", key,
				   pl_node_kind(it));
		else if (zt_ifpat_parse(it->value, pat, &why) < 0)
			r = pl_err_at(l, it, "invalid interface pattern '%s': %s",
				   TOK(it->value), why ? why : "malformed");
		else
			r = 0;
		if (pl_fatal(r))
			return r;
		if (r) {
			ret_r = r;
			continue;
		}
		pat->pos = pl_pos_of(l, it);
		(*n_ret)++;
	}
	return ret_r;
}

/*
 * "198.51.100.65/26" is a common slip; if s is a well-formed prefix whose
 * only fault is set host bits, put the network address into buf.
 */
static bool network_of(const char *s, char *buf, size_t len)
{
	const char *slash = strrchr(s, '/');
	char abuf[ZT_CIDR_STRLEN];
	uint8_t fam, addr[16];
	unsigned long plen;
	bool host_bits = false;
	char *end;

	if (!slash || (size_t)(slash - s) >= sizeof(abuf) ||
	    !isdigit((unsigned char)slash[1]))
		return false;
	memcpy(abuf, s, slash - s);
	abuf[slash - s] = '\0';
	if (zt_addr_parse(abuf, &fam, addr) < 0)
		return false;
	errno = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (errno || *end || plen > ZT_MAX_PLEN(fam))
		return false;
	for (unsigned i = 0; i < ZT_ADDR_LEN(fam); i++) {
		unsigned bits = plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		host_bits |= addr[i] & ~mask;
		addr[i] &= mask;
	}
	if (!host_bits)
		return false;
	snprintf(buf, len, "%s/%lu", zt_addr_fmt(fam, addr, abuf, sizeof(abuf)), plen);
	return true;
}

static int load_cidrs(struct loader *l, const struct zt_node *n, const char *key,
		      bool nonempty, struct zt_cidr **ret, size_t *n_ret)
{
	int r, ret_r = 0;

	if ((r = pl_want_seq(l, n, key, "addresses")))
		return r;
	if (!n->n)
		return nonempty ? pl_err_at(l, n, "%s: expected at least one address", key) : 0;
	if (!(*ret = calloc(n->n, sizeof(**ret))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		struct zt_cidr *c = &(*ret)[*n_ret];
		char net[ZT_CIDR_STRLEN];
		const char *why = NULL;

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "%s: expected an address or prefix, got %s", key,
				   pl_node_kind(it));
		else if (zt_cidr_parse(it->value, c, &why) == 0)
			r = 0;
		else if (network_of(it->value, net, sizeof(net)))
			r = pl_err_at(l, it, "%s has host bits set; did you mean %s?",
				   TOK(it->value), net);
		else
			r = pl_err_at(l, it, "invalid address '%s': %s", TOK(it->value),
				   why ? why : "malformed");
		if (pl_fatal(r))
			return r;
		if (r) {
			ret_r = r;
			continue;
		}
		c->pos = pl_pos_of(l, it);
		(*n_ret)++;
	}
	return ret_r;
}

int pl_load_refs(struct loader *l, const struct zt_node *n, const char *key,
		 struct zt_ref **ret, size_t *n_ret)
{
	const struct zt_node *const *items = &n;
	size_t count = 1;
	int r, ret_r = 0;

	if (n->type == ZT_NODE_SEQ) {
		items = (const struct zt_node *const *)n->items;
		count = n->n;
	}
	if (n->type == ZT_NODE_MAP || (n->type == ZT_NODE_SCALAR && !n->len) || !count)
		return pl_err_at(l, n, "%s: expected a zone name or a non-empty list of zone names, got %s",
			      key, n->type == ZT_NODE_SEQ ? "an empty list" : pl_node_kind(n));
	if (!(*ret = calloc(count, sizeof(**ret))))
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		const struct zt_node *it = items[i];
		struct zt_ref *ref = &(*ret)[*n_ret];

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "%s: expected a zone name, got %s", key, pl_node_kind(it));
		else
			r = check_zone_ref(l, it);
		if (pl_fatal(r))
			return r;
		if (r) {
			ret_r = r;
			continue;
		}
		if (!(ref->name = strdup(it->value)))
			return -ENOMEM;
		ref->pos = pl_pos_of(l, it);
		ref->zone = (struct zt_zone){ .kind = ZT_ZONE_NONE, .seg = -1, .sub = -1, .bnd = -1 };
		(*n_ret)++;
	}
	return ret_r;
}

int pl_load_ports(struct loader *l, const struct zt_node *n, struct zt_port **ret,
		  size_t *n_ret)
{
	int r, ret_r = 0;

	if ((r = pl_want_seq(l, n, "ports", "ports such as [tcp/443]")))
		return r;
	if (!n->n)
		return pl_err_at(l, n, "ports: expected at least one port such as tcp/443");
	if (!(*ret = calloc(n->n, sizeof(**ret))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		struct zt_port *port = &(*ret)[*n_ret];
		const char *why = NULL;

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "ports: expected a port such as tcp/443, got %s",
				   pl_node_kind(it));
		else if (zt_port_parse(it->value, port, &why) < 0)
			r = pl_err_at(l, it, "invalid port '%s': %s", TOK(it->value),
				   why ? why : "malformed");
		else
			r = 0;
		if (pl_fatal(r))
			return r;
		if (r) {
			ret_r = r;
			continue;
		}
		port->pos = pl_pos_of(l, it);
		(*n_ret)++;
	}
	return ret_r;
}

static const char *const hub_flow_keys[] = { "name", "from", "to", "ports", "encrypted", NULL };
static const char *const rule_keys[] = { "name", "from", "to", "ports", NULL };

static int load_flow(struct loader *l, const struct zt_node *n, int seg,
		     const char *ctx, struct zt_flow *f)
{
	static const char *const required[] = { "from", "to", "ports" };
	const struct zt_node *v;
	int r, ret = 0;

	f->seg = seg;
	f->pos = pl_pos_of(l, n);
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "%s: expected a mapping such as { from: web, to: app, ports: [tcp/8080] }, got %s",
			      ctx, pl_node_kind(n));
	r = pl_check_keys(l, n, ctx, seg < 0 ? hub_flow_keys : rule_keys, NULL);
	if (pl_fatal(r))
		return r;
	ret = r;
	for (size_t i = 0; i < ELEMENTSOF(required); i++) {
		if (zt_node_get(n, required[i]))
			continue;
		r = pl_err_at(l, n, "missing required key '%s' in %s", required[i], ctx);
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	if ((v = zt_node_get(n, "name"))) {
		f->named = true;
		r = pl_want_scalar(l, v, "a flow name");
		if (!r)
			r = pl_check_name(l, v, "flow", false);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		if (!r && !(f->name = strdup(v->value)))
			return -ENOMEM;
	}
	if ((v = zt_node_get(n, "from"))) {
		r = pl_load_refs(l, v, "from", &f->from, &f->n_from);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((v = zt_node_get(n, "to"))) {
		r = pl_load_refs(l, v, "to", &f->to, &f->n_to);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((v = zt_node_get(n, "ports"))) {
		r = pl_load_ports(l, v, &f->ports, &f->n_ports);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (seg < 0 && (v = zt_node_get(n, "encrypted"))) {
		r = load_bool(l, v, "encrypted", &f->encrypted);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static int load_flows(struct loader *l, const struct zt_node *n, int seg,
		      struct zt_flow **ret, size_t *n_ret)
{
	const char *key = seg < 0 ? "flows" : "rules";
	char ctx[128];
	int r, ret_r = 0;

	if ((r = pl_want_seq(l, n, key, seg < 0 ? "flows" : "rules")))
		return r;
	if (!n->n)
		return 0;
	if (!(*ret = calloc(n->n, sizeof(**ret))))
		return -ENOMEM;
	if (seg < 0)
		snprintf(ctx, sizeof(ctx), "a hub flow");
	else
		snprintf(ctx, sizeof(ctx), "a rule of segment '%s'", TOK(l->p->segs[seg].name));
	for (size_t i = 0; i < n->n; i++) {
		r = load_flow(l, n->items[i], seg, ctx, &(*ret)[i]);
		(*n_ret)++;
		if (pl_fatal(r))
			return r;
		ret_r = r ? r : ret_r;
	}
	if (ret_r)
		return ret_r;
	return zt_policy_name_flows(*ret, *n_ret);
}

static const char *const subnet_keys[] = { "addresses", NULL };

static int load_subnets(struct loader *l, const struct zt_node *n, struct zt_segment *seg)
{
	int r, ret = 0;

	if ((r = want_map(l, n, "subnets")))
		return r;
	if (!n->n)
		return 0;
	if (!(seg->subnets = calloc(n->n, sizeof(*seg->subnets))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *k = n->keys[i], *v = n->items[i], *a;
		struct zt_subnet *sub = &seg->subnets[seg->n_subnets++];
		char ctx[160];

		if (!(sub->name = strdup(k->value)))
			return -ENOMEM;
		sub->pos = pl_pos_of(l, k);
		snprintf(ctx, sizeof(ctx), "subnet '%s.%s'", TOK(seg->name), TOK(k->value));
		r = pl_check_name(l, k, "subnet", false);
		/* In the segment's rules its own name is its rest: the subnet could never be named. */
		if (!r && streq(k->value, seg->name))
			r = pl_err_at(l, k, "subnet '%s.%s' has the name of its segment, which its rules use "
				   "for the segment's rest; choose another name", TOK(seg->name), TOK(k->value));
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		if ((r = want_map(l, v, ctx))) {
			if (pl_fatal(r))
				return r;
			ret = r;
			continue;
		}
		r = pl_check_keys(l, v, ctx, subnet_keys, NULL);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		if ((a = zt_node_get(v, "addresses")))
			r = load_cidrs(l, a, "addresses", true, &sub->addrs, &sub->n_addrs);
		else
			r = pl_err_at(l, k, "missing required key 'addresses' in %s", ctx);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static const char *const segment_keys[] = { "interfaces", "addresses", "isolate",
					    "subnets", "rules", "mode", "flow-log", "units", "bridge", NULL };

/* units: [api.service, "backup-*.service"] (cgroup.h) */
static int load_units(struct loader *l, const struct zt_node *n, struct zt_segment *seg)
{
	int r, ret = 0;

	if ((r = pl_want_seq(l, n, "units", "unit names")))
		return r;
	if (!n->n)
		return 0;
	if (!(seg->units = calloc(n->n, sizeof(*seg->units))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *it = n->items[i];
		struct zt_unit *u = &seg->units[seg->n_units];
		const char *why = NULL;

		if (it->type != ZT_NODE_SCALAR)
			r = pl_err_at(l, it, "units: expected a unit name, got %s", pl_node_kind(it));
		else if (zt_unitpat_parse(it->value, &u->pat, &why) < 0)
			r = pl_err_at(l, it, "invalid unit '%s': %s", TOK(it->value), why ? why : "malformed");
		else
			r = 0;
		if (pl_fatal(r))
			return r;
		if (r) {
			ret = r;
			continue;
		}
		u->pos = pl_pos_of(l, it);
		seg->n_units++;
	}
	return ret;
}

static bool empty_list(const struct zt_node *n)
{
	return !n || (n->type == ZT_NODE_SEQ && !n->n);
}

/* flow-log: true (hub or segment): the connection log (issue 22); one key, one bool. */
static int load_flow_log(struct loader *l, const struct zt_node *n, bool *ret)
{
	const struct zt_node *v = zt_node_get(n, "flow-log");

	return v ? load_bool(l, v, "flow-log", ret) : 0;
}

/*
 * bridge: NAME (issue 15): a bridge device's name (a valid interface name,
 * no pattern), only beside `addresses` — the addresses are how its ports
 * are told apart — and never with `interfaces`.
 */
static int load_bridge(struct loader *l, const struct zt_node *k, const struct zt_node *n, struct zt_segment *seg)
{
	const struct zt_node *v = zt_node_get(n, "bridge"), *ifs = zt_node_get(n, "interfaces");
	struct zt_ifpat pat;
	const char *why = NULL;
	int r;

	if (v->type != ZT_NODE_SCALAR)
		return pl_err_at(l, v, "bridge: expected a bridge's interface name, got %s", pl_node_kind(v));
	if (zt_ifpat_parse(v->value, &pat, &why) < 0)
		return pl_err_at(l, v, "bridge: invalid interface name '%s': %s", TOK(v->value),
				 why ? why : "malformed");
	if (pat.wildcard)
		return pl_err_at(l, v, "bridge: expected one bridge's name, not a pattern ('%s')", TOK(v->value));
	if (ifs)
		return pl_err_at(l, ifs, "segment '%s' has a bridge: it may not have interfaces (its members are "
				 "the ports of %s that hold its addresses)", TOK(k->value), pat.name);
	if (empty_list(zt_node_get(n, "addresses"))) {
		r = pl_err_at(l, v, "segment '%s' has a bridge but no addresses: its members are the ports of %s "
			      "that hold its addresses", TOK(k->value), pat.name);
		if (r)
			return r;
	}
	snprintf(seg->bridge, sizeof(seg->bridge), "%s", pat.name);
	seg->bridge_pos = pl_pos_of(l, v);
	return 0;
}

static int load_segment(struct loader *l, const struct zt_node *k, const struct zt_node *n,
			int idx)
{
	struct zt_segment *seg = &l->p->segs[idx];
	const struct zt_node *ifs, *addrs, *v;
	char ctx[96];
	int r, ret = 0;

	snprintf(ctx, sizeof(ctx), "segment '%s'", TOK(k->value));
	if ((r = want_map(l, n, ctx)))
		return r;
	r = pl_check_keys(l, n, ctx, segment_keys, NULL);
	if (pl_fatal(r))
		return r;
	ret = r;
	ifs = zt_node_get(n, "interfaces");
	addrs = zt_node_get(n, "addresses");
	if ((v = zt_node_get(n, "units"))) {
		/* A unit zone is its units' sockets: an address or interface would be a second, different membership. */
		if (!empty_list(ifs) || !empty_list(addrs) || zt_node_get(n, "subnets")) {
			r = pl_err_at(l, k, "segment '%s' has units: it may not have interfaces, addresses or subnets "
				   "(a unit zone is its units' host-local sockets)", TOK(k->value));
			if (pl_fatal(r))
				return r;
			ret = r;
		}
		r = load_units(l, v, seg);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		if (!seg->n_units && !r) {
			r = pl_err_at(l, v, "segment '%s': units is empty", TOK(k->value));
			if (pl_fatal(r))
				return r;
			ret = r;
		}
	} else if (zt_node_get(n, "bridge")) {
		r = load_bridge(l, k, n, seg);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	} else if (empty_list(ifs) && empty_list(addrs)) {
		r = pl_err_at(l, k, "segment '%s' has neither interfaces nor addresses",
			   TOK(k->value));
		if (pl_fatal(r))
			return r;
		ret = r;
	}
	if (ifs) {
		r = load_ifs(l, ifs, "interfaces", &seg->ifs, &seg->n_ifs);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (addrs) {
		r = load_cidrs(l, addrs, "addresses", false, &seg->addrs, &seg->n_addrs);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((v = zt_node_get(n, "isolate"))) {
		r = load_bool(l, v, "isolate", &seg->isolate);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((v = zt_node_get(n, "mode"))) {
		r = load_mode(l, v, &seg->mode, &seg->mode_set, &seg->mode_pos);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	r = load_flow_log(l, n, &seg->flow_log);
	if (pl_fatal(r))
		return r;
	ret = r ? r : ret;
	if ((v = zt_node_get(n, "subnets"))) {
		r = load_subnets(l, v, seg);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((v = zt_node_get(n, "rules"))) {
		r = load_flows(l, v, idx, &seg->rules, &seg->n_rules);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static int load_segments(struct loader *l, const struct zt_node *n)
{
	struct zt_policy *p = l->p;
	int r, ret = 0;

	if ((r = want_map(l, n, "segments")))
		return r;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *k = n->keys[i];
		struct zt_segment *seg;

		if (p->n_segs >= l->lim->max_segments) {
			if (l->seg_limit_hit)
				return -EINVAL;
			l->seg_limit_hit = true;
			return pl_err_at(l, k, "more than %zu segments", l->lim->max_segments);
		}
		if (ZT_GROW(p->segs, l->segs_cap, p->n_segs) < 0)
			return -ENOMEM;
		seg = &p->segs[p->n_segs++];
		seg->delegation = -1;
		seg->in_hub_file = l->hub_file;
		seg->pos = pl_pos_of(l, k);
		if (!(seg->name = strdup(k->value)))
			return -ENOMEM;
		r = pl_check_name(l, k, "segment", true);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		r = load_segment(l, k, n->items[i], p->n_segs - 1);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

/*
 * hub.boundaries and hub.delegate: mappings of names to `addresses` and
 * `interfaces`, loaded alike into struct zt_boundary.
 */
struct ifaddrs_kind {
	const char *key;		/* the hub's key */
	const char *what;		/* one entry, in messages */
	const char *name_kind;		/* pl_check_name()'s kind for the entry's name */
	const char *const *keys;
	bool need_addrs;
};

static const char *const boundary_keys[] = { "addresses", "interfaces", NULL };
static const char *const delegation_keys[] = { "interfaces", "addresses", "mode", NULL };

static const struct ifaddrs_kind boundaries_kind = {
	"boundaries", "boundary", "boundary", boundary_keys, true,
};
/* A delegation names the segment it is for. */
static const struct ifaddrs_kind delegations_kind = {
	"delegate", "delegation", "segment", delegation_keys, false,
};

/* One entry's body: a mapping of `addresses` and `interfaces`. */
static int load_ifaddrs(struct loader *l, const struct zt_node *k, const struct zt_node *v,
			const char *ctx, const struct ifaddrs_kind *kind, struct zt_boundary *b)
{
	const struct zt_node *x;
	int r, ret = 0;

	if ((r = want_map(l, v, ctx)))
		return r;
	r = pl_check_keys(l, v, ctx, kind->keys, NULL);
	if (pl_fatal(r))
		return r;
	ret = r ? r : ret;
	if ((x = zt_node_get(v, "addresses")))
		r = load_cidrs(l, x, "addresses", kind->need_addrs, &b->addrs, &b->n_addrs);
	else if (kind->need_addrs)
		r = pl_err_at(l, k, "missing required key 'addresses' in %s", ctx);
	else
		r = 0;
	if (pl_fatal(r))
		return r;
	ret = r ? r : ret;
	if ((x = zt_node_get(v, "interfaces"))) {
		r = load_ifs(l, x, "interfaces", &b->ifs, &b->n_ifs);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if ((x = zt_node_get(v, "mode"))) {
		r = load_mode(l, x, &b->mode, &b->mode_set, &b->mode_pos);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static int load_ifaddrs_map(struct loader *l, const struct zt_node *n,
			    const struct ifaddrs_kind *kind, struct zt_boundary **v, size_t *n_v)
{
	int r, ret = 0;

	if ((r = want_map(l, n, kind->key)))
		return r;
	if (!n->n)
		return 0;
	if (!(*v = calloc(n->n, sizeof(**v))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		const struct zt_node *k = n->keys[i];
		struct zt_boundary *b = &(*v)[(*n_v)++];
		char ctx[96];

		snprintf(ctx, sizeof(ctx), "%s '%s'", kind->what, TOK(k->value));
		if (!(b->name = strdup(k->value)))
			return -ENOMEM;
		b->pos = pl_pos_of(l, k);
		r = pl_check_name(l, k, kind->name_kind, true);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
		r = load_ifaddrs(l, k, n->items[i], ctx, kind, b);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static const char *const hub_keys[] = { "default", "scope", "log", "rpf", "protect-host",
					"encrypted-interfaces", "boundaries", "delegate",
					"flows", "mode", "flow-log", "mark-mask", NULL };
static const char *const default_names[] = { "drop", "reject", NULL };
static const char *const scope_names[] = { "members", "all", NULL };
static const char *const log_names[] = { "none", "drops", "all", NULL };
static const char *const rpf_names[] = { "strict", "loose", "off", NULL };

/* hub.mark-mask: one contiguous run of an even number (4 to 32) of bits, as 0x… or decimal. */
static int load_mark_mask(struct loader *l, const struct zt_node *n, struct zt_hub *hub)
{
	unsigned long long v;
	unsigned lo, bits;
	char *end;

	if (n->type != ZT_NODE_SCALAR || !n->plain || !n->value[0] || n->value[0] == '-' || n->value[0] == '+')
		return pl_err_at(l, n, "mark-mask: expected a bit mask such as 0xffff0000");
	errno = 0;
	v = strtoull(n->value, &end, 0);
	if (errno || *end || v == 0 || v > 0xffffffffull)
		return pl_err_at(l, n, "mark-mask: invalid value '%s'; expected a 32-bit mask such as 0xffff0000",
				 TOK(n->value));
	lo = (unsigned)__builtin_ctzll(v);
	bits = (unsigned)__builtin_popcountll(v);
	if (((v >> lo) & ((v >> lo) + 1)) != 0 || bits < 4 || bits % 2)
		return pl_err_at(l, n, "mark-mask: '%s' is not one run of an even number of bits (at least 4), "
				 "e.g. 0xffff0000 or 0x00ff0000", TOK(n->value));
	hub->mark_mask = (uint32_t)v;
	hub->mark_mask_pos = pl_pos_of(l, n);
	return 0;
}

static int load_hub(struct loader *l, const struct zt_node *n)
{
	struct zt_hub *hub = &l->p->hub;
	const struct zt_node *v;
	int r, ret, e;

	hub->pos = pl_pos_of(l, n);
	if ((r = want_map(l, n, "hub")))
		return r;
	ret = pl_check_keys(l, n, "hub", hub_keys, NULL);
	if (pl_fatal(ret))
		return ret;
	for (size_t i = 0; i < n->n; i++) {
		const char *key = n->keys[i]->value;

		v = n->items[i];
		r = 0;
		if (streq(key, "default")) {
			if (!(r = load_enum(l, v, key, default_names, &e))) {
				hub->dflt = e;
				hub->dflt_pos = pl_pos_of(l, v);
			}
		} else if (streq(key, "mode")) {
			r = load_mode(l, v, &hub->mode, NULL, &hub->mode_pos);
		} else if (streq(key, "scope")) {
			if (!(r = load_enum(l, v, key, scope_names, &e)))
				hub->scope = e;
		} else if (streq(key, "log")) {
			if (!(r = load_enum(l, v, key, log_names, &e)))
				hub->log = e;
		} else if (streq(key, "rpf")) {
			if (!(r = load_enum(l, v, key, rpf_names, &e)))
				hub->rpf = e;
		} else if (streq(key, "protect-host")) {
			r = load_bool(l, v, key, &hub->protect_host);
		} else if (streq(key, "encrypted-interfaces")) {
			r = load_ifs(l, v, key, &hub->enc_ifs, &hub->n_enc_ifs);
		} else if (streq(key, "boundaries")) {
			r = load_ifaddrs_map(l, v, &boundaries_kind, &l->p->hub.boundaries,
					     &l->p->hub.n_boundaries);
		} else if (streq(key, "delegate")) {
			r = load_ifaddrs_map(l, v, &delegations_kind, &l->p->hub.delegations,
					     &l->p->hub.n_delegations);
		} else if (streq(key, "flows")) {
			r = load_flows(l, v, -1, &hub->flows, &hub->n_flows);
		} else if (streq(key, "flow-log")) {
			r = load_flow_log(l, n, &hub->flow_log);
		} else if (streq(key, "mark-mask")) {
			r = load_mark_mask(l, v, hub);
		}
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

static const char *const hub_file_keys[] = { "version", "hub", "jit", "threats", "segments", NULL };
static const char *const segment_file_keys[] = { "version", "segments", NULL };

static int load_file(struct loader *l, const struct zt_node *root)
{
	bool have_version = false;
	int r, ret = 0;

	if (!root) {
		if (l->hub_file)
			return pl_err_at(l, NULL, "file is empty; expected version: 1");
		return 0;
	}
	if (root->type != ZT_NODE_MAP)
		return pl_err_at(l, root, "expected a mapping with %s at the top level, got %s",
			      l->hub_file ? "version, hub and segments" : "segments",
			      pl_node_kind(root));
	for (size_t i = 0; i < root->n; i++) {
		const struct zt_node *k = root->keys[i], *v = root->items[i];

		if (streq(k->value, "version")) {
			have_version = true;
			r = load_version(l, v);
		} else if (streq(k->value, "segments")) {
			r = load_segments(l, v);
		} else if (streq(k->value, "hub") && l->hub_file) {
			r = load_hub(l, v);
		} else if (streq(k->value, "hub")) {
			r = pl_err_at(l, k, "'hub' is only allowed in " ZT_HUB_FILE
				   ": a segment file cannot open paths between segments");
		} else if (streq(k->value, "jit") && l->hub_file) {
			r = pl_load_jit(l, v);
		} else if (streq(k->value, "jit")) {
			r = pl_err_at(l, k, "'jit' is only allowed in " ZT_HUB_FILE
				   ": a segment file cannot open paths between segments");
		} else if (streq(k->value, "threats") && l->hub_file) {
			r = zt_policy_load_threats(l->p, l->file, v, l->d);
		} else if (streq(k->value, "threats")) {
			r = pl_err_at(l, k, "'threats' is only allowed in " ZT_HUB_FILE
				   ": a segment file cannot change what the whole host blocks, limits or bans");
		} else {
			r = unknown_key(l, k, "the top level",
					l->hub_file ? hub_file_keys : segment_file_keys);
		}
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (l->hub_file && !have_version)
		ret = pl_err_at(l, root, "missing required key 'version'; expected version: 1");
	return ret;
}

static void node_freep(struct zt_node **n)
{
	zt_node_free(*n);
}

int zt_policy_load_sources(const struct zt_source *src, size_t n,
			   const struct zt_limits *lim, struct zt_policy **ret,
			   struct zt_diags *d)
{
	const struct zt_limits dflt = ZT_LIMITS_DEFAULT;
	_cleanup_policy_ struct zt_policy *p = NULL;
	size_t errors = d->n_errors;
	struct loader l;
	int r;

	if (!lim)
		lim = &dflt;
	if (!n)
		return zt_diag_error(d, ZT_HUB_FILE, 0, 0, "no such file");
	if (!(p = calloc(1, sizeof(*p))) || !(p->files = calloc(n, sizeof(*p->files))))
		return -ENOMEM;
	p->hub.log = ZT_LOG_DROPS;
	l = (struct loader){ .p = p, .d = d, .lim = lim };
	for (size_t i = 0; i < n; i++) {
		_cleanup_(node_freep) struct zt_node *root = NULL;

		if (!(p->files[i] = strdup(src[i].name)))
			return -ENOMEM;
		p->n_files++;
		l.file = p->files[i];
		l.hub_file = i == 0;
		/* Without a hub: section, hub-wide messages still name the hub file. */
		if (l.hub_file)
			p->hub.pos = (struct zt_pos){ .file = l.file };
		r = zt_yaml_parse(l.file, src[i].buf, src[i].len, &lim->yaml, &root, d);
		if (pl_fatal(r))
			return r;
		if (r)
			continue;
		r = load_file(&l, root);
		if (pl_fatal(r))
			return r;
	}
	if (d->n_errors > errors)
		return -EINVAL;
	r = zt_policy_validate(p, d);
	if (r >= 0 && d->n_errors == errors)
		r = zt_policy_check_threats(p, d);
	if (d->n_errors > errors)
		return -EINVAL;
	if (r < 0)
		return r;
	*ret = TAKE_PTR(p);
	return 0;
}
