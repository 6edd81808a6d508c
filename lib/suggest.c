/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegctl suggest's pure half: observations grouped by zone pair,
 * ports collapsed into ranges, printed as hub flows ready to paste.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <time.h>
#include "suggest.h"
#include "util.h"

bool zt_suggest_obs_same(const struct zt_suggest_obs *a, const struct zt_suggest_obs *b)
{
	if (!streq(a->from, b->from) || !streq(a->to, b->to) || a->proto != b->proto || a->port != b->port ||
	    a->wide != b->wide)
		return false;
	return !a->wide || (a->family == b->family && memcmp(a->addr, b->addr, 16) == 0);
}

/* tcp, udp, sctp, icmp, icmpv6: the order ports are listed in. */
static int proto_rank(uint8_t p)
{
	switch (p) {
	case IPPROTO_TCP:
		return 0;
	case IPPROTO_UDP:
		return 1;
	case IPPROTO_SCTP:
		return 2;
	case IPPROTO_ICMP:
		return 3;
	default:
		return 4;
	}
}

static const char *proto_word(uint8_t p)
{
	static const char *const w[] = { "tcp", "udp", "sctp", "icmp", "icmpv6" };

	return w[proto_rank(p)];
}

static int obs_cmp(const void *a, const void *b)
{
	const struct zt_suggest_obs *x = *(const struct zt_suggest_obs *const *)a;
	const struct zt_suggest_obs *y = *(const struct zt_suggest_obs *const *)b;
	int r;

	if (x->wide != y->wide)
		return x->wide ? 1 : -1;
	if ((r = strcmp(x->from, y->from)) || (r = strcmp(x->to, y->to)))
		return r;
	if (proto_rank(x->proto) != proto_rank(y->proto))
		return proto_rank(x->proto) - proto_rank(y->proto);
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

static bool in_segment(const char *zone, const char *seg)
{
	size_t n = strlen(seg);

	return strncmp(zone, seg, n) == 0 && (zone[n] == '\0' || zone[n] == '.');
}

static bool wanted(const struct zt_suggest_obs *o, const struct zt_suggest_opts *opt)
{
	if (opt->since_usec && o->last_usec < opt->since_usec)
		return false;
	return !opt->segment || in_segment(o->from, opt->segment) || in_segment(o->to, opt->segment);
}

/* One port entry of a flow: proto, lo-hi, and the connections it stands for. */
struct entry {
	uint8_t proto;
	uint16_t lo, hi;
	uint64_t count;
};

/* The group's observations (sorted) as entries, consecutive tcp/udp/sctp ports joined. */
static size_t entries_of(struct zt_suggest_obs *const *g, size_t n, struct entry *e)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct zt_suggest_obs *o = g[i];
		bool ports = o->proto == IPPROTO_TCP || o->proto == IPPROTO_UDP || o->proto == IPPROTO_SCTP;

		if (k && e[k - 1].proto == o->proto && e[k - 1].hi == o->port) {
			e[k - 1].count += o->count;	/* the same port from another source */
			continue;
		}
		if (k && ports && e[k - 1].proto == o->proto && e[k - 1].hi + 1 == o->port) {
			e[k - 1].hi = o->port;
			e[k - 1].count += o->count;
			continue;
		}
		e[k++] = (struct entry){ .proto = o->proto, .lo = o->port, .hi = o->port, .count = o->count };
	}
	return k;
}

static void entry_fmt(const struct entry *e, char *buf, size_t len)
{
	if (e->lo == e->hi)
		snprintf(buf, len, "%s/%u", proto_word(e->proto), e->lo);
	else
		snprintf(buf, len, "%s/%u-%u", proto_word(e->proto), e->lo, e->hi);
}

static void time_fmt(uint64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (!usec || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

static int addr_cmp(const void *a, const void *b)
{
	const struct zt_suggest_obs *x = *(const struct zt_suggest_obs *const *)a;
	const struct zt_suggest_obs *y = *(const struct zt_suggest_obs *const *)b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

/* A wide source's addresses, each once: "192.0.2.7/32", "2001:db8::7/128". */
static void addrs_write(FILE *f, struct zt_suggest_obs *const *g, size_t n)
{
	_cleanup_free_ struct zt_suggest_obs **v = calloc(n, sizeof(*v));
	char ab[INET6_ADDRSTRLEN];
	bool first = true;

	if (!v)
		return;
	memcpy(v, g, n * sizeof(*v));
	qsort(v, n, sizeof(*v), addr_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && addr_cmp(&v[i], &v[i - 1]) == 0)
			continue;
		inet_ntop(v[i]->family, v[i]->addr, ab, sizeof(ab));
		fprintf(f, "%s\"%s/%u\"", first ? "" : ", ", ab, v[i]->family == AF_INET ? 32 : 128);
		first = false;
	}
}

/* Zone names come from the policy (or are refused by zt_suggest_obs_from_json): plain YAML. */
static void group_write(FILE *f, struct zt_suggest_obs *const *g, size_t n, struct entry *e,
			const struct zt_suggest_opts *opt)
{
	size_t k = entries_of(g, n, e);
	uint64_t total = 0, last = 0;
	char pb[32], tb[32];
	int ind = (int)opt->indent;

	for (size_t i = 0; i < n; i++) {
		total += g[i]->count;
		last = g[i]->last_usec > last ? g[i]->last_usec : last;
	}
	time_fmt(last, tb, sizeof(tb));
	fprintf(f, "%*s# %s -> %s: %" PRIu64 " connection%s (", ind, "", g[0]->from, g[0]->to, total,
		total == 1 ? "" : "s");
	for (size_t i = 0; i < k; i++) {
		entry_fmt(&e[i], pb, sizeof(pb));
		fprintf(f, "%s%s: %" PRIu64, i ? ", " : "", pb, e[i].count);
	}
	fprintf(f, "), last seen %s\n", tb);
	if (g[0]->wide) {
		fprintf(f, "%*s# %s admits every address: no flow from it is suggested, only the sources seen:\n",
			ind, "", g[0]->from);
		fprintf(f, "%*s#   a boundary under hub.boundaries: { addresses: [", ind, "");
		addrs_write(f, g, n);
		fprintf(f, "] }\n%*s#   and a flow from it: ", ind, "");
	} else {
		fprintf(f, "%*s", ind, "");
	}
	fprintf(f, "- { from: %s, to: %s, ports: [", g[0]->wide ? "<that boundary>" : g[0]->from, g[0]->to);
	for (size_t i = 0; i < k; i++) {
		entry_fmt(&e[i], pb, sizeof(pb));
		fprintf(f, "%s%s", i ? ", " : "", pb);
	}
	fputs("] }\n", f);
}

int zt_suggest_format(const struct zt_suggest_obs *v, size_t n, const struct zt_suggest_opts *o, FILE *f)
{
	_cleanup_free_ struct zt_suggest_obs **p = calloc(n + 1, sizeof(*p));
	_cleanup_free_ struct entry *e = calloc(n + 1, sizeof(*e));
	struct zt_suggest_opts opt = *o;
	char tb[32];
	size_t k = 0;
	int flows = 0;

	if (!p || !e)
		return -ENOMEM;
	if (!opt.indent || opt.indent > 32)
		opt.indent = 4;
	for (size_t i = 0; i < n; i++)
		if (wanted(&v[i], &opt))
			p[k++] = (struct zt_suggest_obs *)&v[i];
	qsort(p, k, sizeof(*p), obs_cmp);
	fputs("# ztsegctl suggest: flows that would allow the would-deny connections seen in\n"
	      "# observe mode that completed (a reply came; TCP: the handshake finished)", f);
	if (opt.since_usec) {
		time_fmt(opt.since_usec, tb, sizeof(tb));
		fprintf(f, " since %s", tb);
	}
	if (opt.segment)
		fprintf(f, ", to or from segment %s", opt.segment);
	fputs(".\n# Paste the flows under hub.flows in ztseg.yaml, then run ztsegctl check.\n", f);
	if (!k)
		fputs("# None: nothing observed would be denied in enforce mode.\n", f);
	for (size_t i = 0, j; i < k; i = j) {
		for (j = i + 1; j < k && p[j]->wide == p[i]->wide && streq(p[j]->from, p[i]->from) &&
				streq(p[j]->to, p[i]->to); j++)
			;
		group_write(f, &p[i], j - i, e, &opt);
		flows += !p[i]->wide;
	}
	if (fflush(f) == EOF || ferror(f))
		return errno > 0 ? -errno : -EIO;
	return flows;
}

json_t *zt_suggest_obs_json(const struct zt_suggest_obs *o)
{
	char ab[INET6_ADDRSTRLEN] = "";
	json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:b, s:I, s:I, s:I}", "from", o->from, "to", o->to, "proto",
			      o->proto, "port", o->port, "wide", o->wide, "count", (json_int_t)o->count, "first",
			      (json_int_t)o->first_usec, "last", (json_int_t)o->last_usec);

	/* Only a wide source is kept by address. */
	if (j && o->wide && (!inet_ntop(o->family, o->addr, ab, sizeof(ab)) ||
			     json_object_set_new(j, "source", json_string(ab)) < 0)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool zone_text_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= ZT_ENDPOINT_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

int zt_suggest_obs_from_json(const json_t *j, struct zt_suggest_obs *ret)
{
	struct zt_suggest_obs o = {};
	const char *from, *to, *src = NULL;
	json_int_t proto, port, count, first, last;
	int wide;

	if (json_unpack((json_t *)j, "{s:s, s:s, s:I, s:I, s:b, s?s, s:I, s:I, s:I}", "from", &from, "to", &to,
			"proto", &proto, "port", &port, "wide", &wide, "source", &src, "count", &count, "first",
			&first, "last", &last) < 0)
		return -EBADMSG;
	/* Names go into YAML as they are: only what a zone name may hold. */
	if (!zone_text_ok(from) || !zone_text_ok(to) || port < 0 || port > 65535 || count < 0 || first < 0 ||
	    last < 0)
		return -EBADMSG;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP && proto != IPPROTO_ICMP &&
	    proto != IPPROTO_ICMPV6)
		return -EBADMSG;
	snprintf(o.from, sizeof(o.from), "%s", from);
	snprintf(o.to, sizeof(o.to), "%s", to);
	o.proto = (uint8_t)proto;
	o.port = (uint16_t)port;
	o.wide = wide;
	o.count = (uint64_t)count;
	o.first_usec = (uint64_t)first;
	o.last_usec = (uint64_t)last;
	if (o.wide) {
		if (!src)
			return -EBADMSG;
		if (inet_pton(AF_INET, src, o.addr) == 1)
			o.family = AF_INET;
		else if (inet_pton(AF_INET6, src, o.addr) == 1)
			o.family = AF_INET6;
		else
			return -EBADMSG;
	}
	*ret = o;
	return 0;
}
