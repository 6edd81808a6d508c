/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Just-in-time grants, the pure part: durations, a grant request's
 * arguments checked field by field (every one is hostile), the set
 * elements a grant adds, and the state file's lines.
 */
#include <ctype.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include "grant.h"

int zt_duration_parse(const char *s, uint32_t max, uint32_t *ret, const char **err)
{
	uint64_t total = 0;
	const char *p = s;
	unsigned last = 4;	/* units must come in order h, m, s */

	if (!*s) {
		*err = "empty";
		return -EINVAL;
	}
	while (*p) {
		uint64_t v = 0;
		unsigned unit;
		size_t digits = 0;

		while (isdigit((unsigned char)*p) && digits < 9) {
			v = v * 10 + (uint64_t)(*p++ - '0');
			digits++;
		}
		if (!digits || isdigit((unsigned char)*p)) {
			*err = "expected a number of seconds or a duration such as 90s, 30m, 1h or 1h30m";
			return -EINVAL;
		}
		switch (*p) {
		case 'h': unit = 3; v *= 3600; p++; break;
		case 'm': unit = 2; v *= 60; p++; break;
		case 's': unit = 1; p++; break;
		case '\0':
			unit = 0;
			if (p == s + digits)
				break;
			/* fallthrough */
		default:
			*err = "expected a number of seconds or a duration such as 90s, 30m, 1h or 1h30m";
			return -EINVAL;
		}
		if (unit && unit >= last) {
			*err = "units go from hours to seconds, each once (1h30m)";
			return -EINVAL;
		}
		last = unit;
		total += v;
		if (total > UINT32_MAX)
			break;
	}
	if (total == 0) {
		*err = "a duration is at least 1s";
		return -EINVAL;
	}
	if (total > max) {
		*err = max == ZT_JIT_MAX_SECONDS ? "at most 24h" : "over the limit";
		return -ERANGE;
	}
	*ret = (uint32_t)total;
	return 0;
}

const char *zt_duration_fmt(uint64_t sec, char *buf, size_t len)
{
	uint64_t h = sec / 3600, m = sec / 60 % 60, s = sec % 60;
	size_t o = 0;

	buf[0] = '\0';
	if (h)
		o += (size_t)snprintf(buf + o, len - o, "%" PRIu64 "h", h);
	if (m && o < len)
		o += (size_t)snprintf(buf + o, len - o, "%" PRIu64 "m", m);
	if ((s || !o) && o < len)
		snprintf(buf + o, len - o, "%" PRIu64 "s", s);
	return buf;
}

/* ---- the request ---- */

static bool text_ok(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;	/* an embedded NUL */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

#define FAIL(...)                                                              \
	do {                                                                   \
		snprintf(err, errlen, __VA_ARGS__);                            \
		return -EINVAL;                                                \
	} while (0)

int zt_grant_request_parse(const json_t *args, struct zt_grant_request *ret, char *err, size_t errlen)
{
	struct zt_grant_request q = {};
	const char *key;
	json_t *v;
	bool have_t = false, have_s = false, have_r = false;

	if (!json_is_object(args))
		FAIL("grant: the arguments must be an object");
	json_object_foreach((json_t *)args, key, v) {
		const char *sv = json_is_string(v) ? json_string_value(v) : NULL;
		size_t len = sv ? json_string_length(v) : 0;

		if (streq(key, "template")) {
			if (!sv || !text_ok(sv, len) || !name_ok(sv, ZT_NAME_MAX))
				FAIL("grant: 'template' must be a template name (at most %d bytes)", ZT_NAME_MAX);
			snprintf(q.tmpl, sizeof(q.tmpl), "%s", sv);
			have_t = true;
		} else if (streq(key, "source")) {
			char abuf[INET6_ADDRSTRLEN + 8];
			const char *slash;

			if (!sv || !text_ok(sv, len) || len >= sizeof(abuf))
				FAIL("grant: 'source' must be one IPv4 or IPv6 address");
			memcpy(abuf, sv, len + 1);
			slash = strchr(abuf, '/');
			if (slash) {
				abuf[slash - abuf] = '\0';
				if (zt_addr_parse(abuf, &q.family, q.addr) < 0 ||
				    !streq(slash + 1, q.family == AF_INET ? "32" : "128"))
					FAIL("grant: 'source' is one address (a /32 or /128): a prefix would need an "
					     "interval set on the per-packet path");
			} else if (zt_addr_parse(abuf, &q.family, q.addr) < 0) {
				FAIL("grant: 'source' must be one IPv4 or IPv6 address");
			}
			have_s = true;
		} else if (streq(key, "for")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > ZT_JIT_MAX_SECONDS)
				FAIL("grant: 'for' must be a number of seconds from 1 to %u", ZT_JIT_MAX_SECONDS);
			q.seconds = (uint32_t)json_integer_value(v);
		} else if (streq(key, "to")) {
			if (!sv || !text_ok(sv, len) || !name_ok(sv, sizeof(q.to) - 1))
				FAIL("grant: 'to' must be a zone name");
			snprintf(q.to, sizeof(q.to), "%s", sv);
		} else if (streq(key, "reason")) {
			if (!sv || !len || len > ZT_GRANT_REASON_MAX || !text_ok(sv, len))
				FAIL("grant: 'reason' must be 1 to %d bytes of text without control characters",
				     ZT_GRANT_REASON_MAX);
			memcpy(q.reason, sv, len + 1);
			have_r = true;
		} else {
			FAIL("grant: unknown argument '%.64s' (expected template, source, for, to, reason)", key);
		}
	}
	if (!have_t || !have_s || !have_r)
		FAIL("grant: 'template', 'source' and 'reason' are required");
	*ret = q;
	return 0;
}

/* ---- templates and elements ---- */

const struct zt_plan_jit *zt_plan_find_jit(const struct zt_plan *plan, const char *name)
{
	for (size_t i = 0; plan && i < plan->n_jit; i++)
		if (streq(plan->jit[i].name, name))
			return &plan->jit[i];
	return NULL;
}

const struct zt_jit *zt_policy_find_jit(const struct zt_policy *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_jit; i++)
		if (p->jit[i].f.name && streq(p->jit[i].f.name, name))
			return &p->jit[i];
	return NULL;
}

int zt_jit_to_ref(const struct zt_jit *t, const char *to)
{
	if (!to || !*to)
		return -1;
	for (size_t i = 0; i < t->f.n_to; i++)
		if (streq(t->f.to[i].name, to))
			return (int)i;
	return -2;
}

int zt_grant_elems(const struct zt_plan_jit *t, const struct zt_grant *g, int to_ref,
		   struct zt_elem **ret, size_t *n_ret)
{
	size_t n = 0, cap = t->n_src * t->n_dst * t->n_ports;
	struct zt_elem *v;
	enum zt_type at = g->family == AF_INET ? ZT_TYPE_IPV4 : ZT_TYPE_IPV6;

	if (g->family != AF_INET && g->family != AF_INET6)
		return -EINVAL;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t s = 0; s < t->n_src; s++)
		for (size_t d = 0; d < t->n_dst; d++) {
			if (to_ref >= 0 && t->dst_ref[d] != to_ref)
				continue;
			for (size_t k = 0; k < t->n_ports; k++) {
				struct zt_elem *el = &v[n++];

				el->key[0].type = at;
				el->key[0].cidr.family = g->family;
				el->key[0].cidr.plen = g->family == AF_INET ? 32 : 128;
				memcpy(el->key[0].cidr.addr, g->addr, g->family == AF_INET ? 4 : 16);
				el->key[1] = (struct zt_value){ .type = ZT_TYPE_MARK,
								.u32 = t->src[s] << 16 | t->dst[d] };
				el->key[2] = (struct zt_value){ .type = ZT_TYPE_INET_PROTO, .u32 = t->ports[k].proto };
				el->key[3] = (struct zt_value){ .type = ZT_TYPE_INET_SERVICE, .u32 = t->ports[k].port,
								.u32_hi = t->ports[k].port };
				el->data = (struct zt_value){ .type = ZT_TYPE_MARK,
							      .u32 = zt_grant_mark(g->id, (uint32_t)(t->src_ref[s] * t->n_to +
													    t->dst_ref[d])) };
			}
		}
	*ret = v;
	*n_ret = n;
	return 0;
}

int zt_grant_pair_elems(const struct zt_plan_jit *t, const struct zt_grant *g, int to_ref,
			enum zt_grant_map map, struct zt_elem **ret, size_t *n_ret)
{
	struct zt_elem *v = calloc(t->n_from * t->n_to + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t f = 0; f < t->n_from; f++)
		for (size_t k = 0; k < t->n_to; k++) {
			uint32_t pair = (uint32_t)(f * t->n_to + k);
			const struct zt_value *side = map == ZT_GRANT_SPK_O ? &t->spk_from[f] : &t->spk_to[k];

			if ((to_ref >= 0 && (size_t)to_ref != k) || pair >= ZT_GRANT_PAIRS_MAX ||
			    (map != ZT_GRANT_LIVE && side->type == ZT_TYPE_NONE))
				continue;
			v[n].key[0] = (struct zt_value){ .type = ZT_TYPE_MARK, .u32 = zt_grant_mark(g->id, pair) };
			if (map == ZT_GRANT_LIVE) {
				v[n].data.type = ZT_TYPE_COUNTER;
				zt_grant_counter_name(g->id, v[n].data.counter);
			} else {
				v[n].data = *side;
			}
			n++;
		}
	*ret = v;
	*n_ret = n;
	return 0;
}

void zt_grant_counter_name(uint32_t id, char buf[static 16])
{
	snprintf(buf, 16, "g_%" PRIx32, id);
}

int zt_grant_counter_id(const char *name, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (strncmp(name, "g_", 2) || !isxdigit((unsigned char)name[2]))
		return -EINVAL;
	errno = 0;
	v = strtoul(name + 2, &end, 16);
	if (errno || *end || v < 1 || v > ZT_GRANT_ID_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

/* ---- the state file ---- */

/* Free text as one field: bytes outside printable ASCII, '%' and ' ' as %XX. */
static void esc(FILE *f, const char *s)
{
	if (!*s) {
		fputs("%", f);
		return;
	}
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= 0x20 || ch >= 0x7f || ch == '%')
			fprintf(f, "%%%02X", ch);
		else
			fputc(ch, f);
	}
}

static int unesc(const char *s, size_t len, char *out, size_t max)
{
	size_t o = 0;

	if (len == 1 && s[0] == '%') {
		out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned x;

		if (o >= max)
			return -EINVAL;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len + 0 || sscanf(s + i + 1, "%2X", &x) != 1 || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2]) || x == 0)
			return -EINVAL;
		out[o++] = (char)x;
		i += 2;
	}
	out[o] = '\0';
	return 0;
}

char *zt_grant_line(const struct zt_grant *g)
{
	char *buf = NULL, abuf[ZT_CIDR_STRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "grant %" PRIu32 " %s %" PRIu32 " %s %s %" PRIu64 " %" PRIu64 " %u %d ", g->id, g->tmpl,
		g->meaning, zt_addr_fmt(g->family, g->addr, abuf, sizeof(abuf)), g->to[0] ? g->to : "-",
		g->granted_usec, g->expires_usec, (unsigned)g->uid, (int)g->pid);
	esc(f, g->user);
	fputc(' ', f);
	esc(f, g->reason);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int zt_grant_line_parse(const char *line, struct zt_grant *ret)
{
	struct zt_grant g = {};
	const char *f[12];
	size_t fl[12], n = 0;
	char tmp[64];
	unsigned long long u;
	char *end;

	for (const char *p = line; *p && *p != '\n';) {
		const char *q = p;

		while (*q && *q != ' ' && *q != '\n')
			q++;
		if (n == 12 || q == p)
			return -EINVAL;
		f[n] = p;
		fl[n++] = (size_t)(q - p);
		p = *q == ' ' ? q + 1 : q;
	}
	if (n != 12 || fl[0] != 5 || memcmp(f[0], "grant", 5) != 0)
		return -EINVAL;
#define NUM(i, max, dst)                                                       \
	do {                                                                   \
		if (fl[i] >= sizeof(tmp) || !isdigit((unsigned char)f[i][0]))  \
			return -EINVAL;                                        \
		memcpy(tmp, f[i], fl[i]);                                      \
		tmp[fl[i]] = '\0';                                             \
		errno = 0;                                                     \
		u = strtoull(tmp, &end, 10);                                   \
		if (errno || *end || u > (max))                                \
			return -EINVAL;                                        \
		dst = u;                                                       \
	} while (0)
	NUM(1, ZT_GRANT_ID_MAX, g.id);
	if (!g.id || fl[2] > ZT_NAME_MAX)
		return -EINVAL;
	memcpy(g.tmpl, f[2], fl[2]);
	if (!name_ok(g.tmpl, ZT_NAME_MAX))
		return -EINVAL;
	NUM(3, UINT32_MAX, g.meaning);
	if (fl[4] >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, f[4], fl[4]);
	tmp[fl[4]] = '\0';
	if (zt_addr_parse(tmp, &g.family, g.addr) < 0)
		return -EINVAL;
	if (!(fl[5] == 1 && f[5][0] == '-')) {
		if (fl[5] >= sizeof(g.to))
			return -EINVAL;
		memcpy(g.to, f[5], fl[5]);
		if (!name_ok(g.to, sizeof(g.to) - 1))
			return -EINVAL;
	}
	NUM(6, UINT64_MAX, g.granted_usec);
	NUM(7, UINT64_MAX, g.expires_usec);
	NUM(8, UINT32_MAX - 1, g.uid);
	NUM(9, INT32_MAX, g.pid);
#undef NUM
	if (unesc(f[10], fl[10], g.user, ZT_GRANT_USER_MAX) < 0 ||
	    unesc(f[11], fl[11], g.reason, ZT_GRANT_REASON_MAX) < 0)
		return -EINVAL;
	*ret = g;
	return 0;
}
