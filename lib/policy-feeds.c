/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * threats.blocklists in ztseg.yaml (SPEC §3): the threat feeds. Called by
 * zt_policy_load_threats() (policy-threats.c, which also parses `except`,
 * the prefixes never blocked). Every problem at file:line:col.
 * ztseg.yaml(5) says what each key takes.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "feed.h"
#include "policy.h"
#include "policy-loader.h"

static bool scalar(const struct zt_node *n)
{
	return n->type == ZT_NODE_SCALAR;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ZT_FEED_NAME_LEN || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

/* "30s", "15m", "12h", "1d", "2w" or plain seconds; at most 366 days. */
static int duration_parse(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v, mul = 1;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	case 'w': mul = 7 * 86400; break;
	default: return -EINVAL;
	}
	if (v == 0 || v > 366ull * 86400 / mul)
		return -EINVAL;
	*ret = (uint32_t)(v * mul);
	return 0;
}

/* "5%" or "5": 0–100. */
static int pct_parse(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if ((*end && !(end[0] == '%' && !end[1])) || v > 100)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* "64M", "1G", "500K" or bytes: 1 KiB to 4 GiB. */
static int size_parse(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v, mul = 1;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || (*end && end[1]))
		return -EINVAL;
	switch (*end) {
	case '\0': break;
	case 'K': mul = 1ull << 10; break;
	case 'M': mul = 1ull << 20; break;
	case 'G': mul = 1ull << 30; break;
	default: return -EINVAL;
	}
	if (v > (4ull << 30) / mul || v * mul < 1024)
		return -EINVAL;
	*ret = v * mul;
	return 0;
}

static int path_check(struct loader *l, const struct zt_node *v)
{
	const char *s = v->value;

	if (s[0] != '/' || strlen(s) >= 1024 || strstr(s, "/../") || strstr(s, "/./") ||
	    (strlen(s) >= 3 && streq(s + strlen(s) - 3, "/..")) || s[strlen(s) - 1] == '/')
		return pl_err_at(l, v, "threats.blocklists: file: expected an absolute path to a file, got '%s'", TOK(s));
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return pl_err_at(l, v, "threats.blocklists: file: control characters in the path");
	return 0;
}

static int url_check(struct loader *l, const struct zt_node *v)
{
	const char *s = v->value;

	if ((strncmp(s, "https://", 8) && strncmp(s, "http://", 7)) || strlen(s) >= 2048 || strlen(s) < 10)
		return pl_err_at(l, v, "threats.blocklists: url: expected an https:// (or http://) URL, got '%s'", TOK(s));
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return pl_err_at(l, v, "threats.blocklists: url: spaces, control or non-ASCII characters in the URL");
	return 0;
}

static int one_key(struct loader *l, struct zt_blocklist *b, const struct zt_node *k, const struct zt_node *v)
{
	const char *key = k->value;

	if (!scalar(v))
		return pl_err_at(l, v, "threats.blocklists: %s: expected a scalar, got %s", TOK(key), pl_node_kind(v));
	if (streq(key, "name")) {
		if (!name_ok(v->value))
			return pl_err_at(l, v, "threats.blocklists: name: expected at most %d of a-z, 0-9, '-' and '_' starting with a letter or digit, got '%s'",
				      ZT_FEED_NAME_LEN, TOK(v->value));
		snprintf(b->name, sizeof(b->name), "%s", v->value);
	} else if (streq(key, "file")) {
		if (path_check(l, v))
			return -EINVAL;
		if (!(b->file = strdup(v->value)))
			return -ENOMEM;
	} else if (streq(key, "url")) {
		if (url_check(l, v))
			return -EINVAL;
		if (!(b->url = strdup(v->value)))
			return -ENOMEM;
	} else if (streq(key, "direction")) {
		if (streq(v->value, "both"))
			b->dir = ZT_FEED_BOTH;
		else if (streq(v->value, "in"))
			b->dir = ZT_FEED_IN;
		else if (streq(v->value, "out"))
			b->dir = ZT_FEED_OUT;
		else
			return pl_err_at(l, v, "threats.blocklists: direction: expected in, out or both, got '%s'", TOK(v->value));
	} else if (streq(key, "action")) {
		if (!streq(v->value, "drop") && !streq(v->value, "reject"))
			return pl_err_at(l, v, "threats.blocklists: action: expected drop or reject, got '%s'", TOK(v->value));
		b->reject = streq(v->value, "reject");
	} else if (streq(key, "log")) {
		if (!streq(v->value, "true") && !streq(v->value, "false"))
			return pl_err_at(l, v, "threats.blocklists: log: expected true or false, got '%s'", TOK(v->value));
		b->log = streq(v->value, "true");
	} else if (streq(key, "max-age")) {
		if (duration_parse(v->value, &b->max_age_sec) < 0)
			return pl_err_at(l, v, "threats.blocklists: max-age: expected a duration such as 12h or 1d (at most 366d), got '%s'", TOK(v->value));
	} else if (streq(key, "max-bad")) {
		if (pct_parse(v->value, &b->max_bad_pct) < 0)
			return pl_err_at(l, v, "threats.blocklists: max-bad: expected a share such as 1%%, got '%s'", TOK(v->value));
	} else if (streq(key, "max-shrink")) {
		if (pct_parse(v->value, &b->max_shrink_pct) < 0)
			return pl_err_at(l, v, "threats.blocklists: max-shrink: expected a share such as 50%%, got '%s'", TOK(v->value));
	} else if (streq(key, "max-size")) {
		if (size_parse(v->value, &b->max_bytes) < 0)
			return pl_err_at(l, v, "threats.blocklists: max-size: expected a size such as 64M (1K to 4G), got '%s'", TOK(v->value));
	} else {
		return pl_err_at(l, k, "threats.blocklists: unknown key '%s'; expected one of: name, file, url, direction, action, log, max-age, max-bad, max-shrink, max-size",
			      TOK(key));
	}
	return 0;
}

static int load_one(struct loader *l, const struct zt_node *n, struct zt_blocklist *b)
{
	int r, ret = 0;

	*b = (struct zt_blocklist){ .log = true, .max_bad_pct = ZT_FEED_MAX_BAD_PCT_DEFAULT,
				    .max_shrink_pct = ZT_FEED_MAX_SHRINK_PCT_DEFAULT,
				    .max_bytes = ZT_FEED_MAX_BYTES_DEFAULT,
				    .pos = { l->file, n->line, n->col } };
	if (n->type != ZT_NODE_MAP)
		return pl_err_at(l, n, "threats.blocklists: expected a mapping with name and file or url, got %s", pl_node_kind(n));
	for (size_t i = 0; i < n->n; i++) {
		r = one_key(l, b, n->keys[i], n->items[i]);
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	if (ret)
		return ret;
	if (!b->name[0])
		return pl_err_at(l, n, "threats.blocklists: missing required key 'name'");
	if (!b->file == !b->url)
		return pl_err_at(l, n, "threats.blocklists: feed '%s': expected exactly one of file and url", b->name);
	for (struct zt_blocklist *o = l->p->threats.blocklists; o < b; o++)
		if (streq(o->name, b->name))
			return pl_err_at(l, n, "threats.blocklists: feed '%s' defined twice (first at line %u)", b->name,
				      o->pos.line);
	return 0;
}

int zt_policy_load_blocklists(struct zt_policy *p, const char *file, const struct zt_node *n, struct zt_diags *d)
{
	struct loader l = { .p = p, .file = file, .d = d };
	struct zt_threats *t = &p->threats;
	int r, ret = 0;

	if (t->blocklists)
		return pl_err_at(&l, n, "threats.blocklists: given twice");
	if (n->type != ZT_NODE_SEQ)
		return pl_err_at(&l, n, "threats.blocklists: expected a list of feeds, got %s", pl_node_kind(n));
	if (n->n > ZT_FEEDS_MAX)
		return pl_err_at(&l, n, "threats.blocklists: at most %d feeds", ZT_FEEDS_MAX);
	if (n->n && !(t->blocklists = calloc(n->n, sizeof(*t->blocklists))))
		return -ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		r = load_one(&l, n->items[i], &t->blocklists[i]);
		t->n_blocklists++;
		if (pl_fatal(r))
			return r;
		ret = r ? r : ret;
	}
	return ret;
}

void zt_blocklists_free(struct zt_threats *t)
{
	for (size_t i = 0; i < t->n_blocklists; i++) {
		free(t->blocklists[i].file);
		free(t->blocklists[i].url);
	}
	free(t->blocklists);
	t->blocklists = NULL;
	t->n_blocklists = 0;
}
