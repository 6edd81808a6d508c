/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * render: the plan as nft text, for `ztsegctl show` and for comparing with
 * what emit.c applies. Pure but for writing to the caller's FILE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include "bridge.h"
#include "render.h"

/* Set elements are packed up to here: a long list stays readable in a terminal. */
#define WRAP_COLUMN 80
/* "\t\telements = { " and its continuation "\t\t\t     " both end here. */
#define ELEM_COLUMN 29

/*
 * One formatted value, element or verdict. Every part of one comes from a
 * fixed-size plan field, so a small buffer always holds it.
 */
struct tok {
	char s[512];
	size_t n;
	bool overflow;
};

static void tok_add(struct tok *t, const char *fmt, ...) _printf_(2, 3);
static void tok_add(struct tok *t, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (t->overflow)
		return;
	va_start(ap, fmt);
	k = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(t->s) - t->n)
		t->overflow = true;
	else
		t->n += (size_t)k;
}

static const char *const key_names[] = {
	[ZT_KEY_IIF] = "iif",
	[ZT_KEY_OIF] = "oif",
	[ZT_KEY_IIFNAME] = "iifname",
	[ZT_KEY_OIFNAME] = "oifname",
	[ZT_KEY_IIFKIND] = "meta iifkind",
	[ZT_KEY_OIFKIND] = "meta oifkind",
	[ZT_KEY_IP_SADDR] = "ip saddr",
	[ZT_KEY_IP_DADDR] = "ip daddr",
	[ZT_KEY_IP6_SADDR] = "ip6 saddr",
	[ZT_KEY_IP6_DADDR] = "ip6 daddr",
	[ZT_KEY_L4PROTO] = "meta l4proto",
	[ZT_KEY_TH_DPORT] = "th dport",
	[ZT_KEY_ICMP_TYPE] = "icmp type",
	[ZT_KEY_ICMPV6_TYPE] = "icmpv6 type",
	[ZT_KEY_CT_MARK] = "ct mark",
	[ZT_KEY_CT_STATE] = "ct state",
	[ZT_KEY_CT_DIRECTION] = "ct direction",
	[ZT_KEY_FIB_SADDR_OIFNAME] = "fib saddr oifname",
	[ZT_KEY_FIB_SADDR_IIF_OIF] = "fib saddr . iif oif",
	[ZT_KEY_FIB_SADDR_IIF_OIFNAME] = "fib saddr . iif oifname",
	[ZT_KEY_FIB_SADDR_OIF] = "fib saddr oif",
	[ZT_KEY_FIB_DADDR_TYPE] = "fib daddr type",
	[ZT_KEY_META_IPSEC] = "meta ipsec",
	[ZT_KEY_RT_IPSEC] = "rt ipsec",
	[ZT_KEY_FIB_DADDR_OIFNAME] = "fib daddr oifname",
	[ZT_KEY_IP6_HOPLIMIT] = "ip6 hoplimit",
	[ZT_KEY_SOCKET_CG1] = "socket cgroupv2 level 1",
	[ZT_KEY_SOCKET_CG2] = "socket cgroupv2 level 2",
	[ZT_KEY_META_MARK] = "meta mark",
};

/* `type` names of set keys and data. */
static const char *const type_names[] = {
	[ZT_TYPE_IFNAME] = "ifname",
	[ZT_TYPE_IPV4] = "ipv4_addr",
	[ZT_TYPE_IPV6] = "ipv6_addr",
	[ZT_TYPE_MARK] = "mark",
	[ZT_TYPE_INET_PROTO] = "inet_proto",
	[ZT_TYPE_INET_SERVICE] = "inet_service",
	[ZT_TYPE_ICMP_TYPE] = "icmp_type",
	[ZT_TYPE_ICMPV6_TYPE] = "icmpv6_type",
	[ZT_TYPE_VERDICT] = "verdict",
	[ZT_TYPE_COUNTER] = "counter",
	[ZT_TYPE_CGROUP] = "cgroupsv2",
};

/*
 * `typeof` expressions, for sets whose key has no `type` name: `fib saddr
 * oifname` yields a string, which no datatype name describes. nft has no
 * typeof form for counter data.
 */
static const char *const typeof_names[] = {
	[ZT_TYPE_IFNAME] = "meta iifname",
	[ZT_TYPE_FIB_IFNAME] = "fib saddr oifname",
	[ZT_TYPE_IPV4] = "ip saddr",
	[ZT_TYPE_IPV6] = "ip6 saddr",
	[ZT_TYPE_MARK] = "ct mark",
	[ZT_TYPE_INET_PROTO] = "meta l4proto",
	[ZT_TYPE_INET_SERVICE] = "th dport",
	[ZT_TYPE_ICMP_TYPE] = "icmp type",
	[ZT_TYPE_ICMPV6_TYPE] = "icmpv6 type",
	[ZT_TYPE_VERDICT] = "verdict",
};

static const char *const hook_names[] = {
	[ZT_HOOK_PREROUTING] = "prerouting",
	[ZT_HOOK_INPUT] = "input",
	[ZT_HOOK_FORWARD] = "forward",
	[ZT_HOOK_OUTPUT] = "output",
};

/* In the order nft lists them (ascending bits). */
static const struct {
	uint32_t bit;
	const char *name;
} ct_states[] = {
	{ NF_CT_STATE_INVALID_BIT, "invalid" },
	{ NF_CT_STATE_BIT(IP_CT_ESTABLISHED), "established" },
	{ NF_CT_STATE_BIT(IP_CT_RELATED), "related" },
	{ NF_CT_STATE_BIT(IP_CT_NEW), "new" },
	{ NF_CT_STATE_UNTRACKED_BIT, "untracked" },
};

#define TABLE_LOOKUP(tbl, i) ((size_t)(i) < ELEMENTSOF(tbl) ? (tbl)[i] : NULL)

/*
 * Chain, set and counter names appear bare in nft text: they must be nft
 * identifiers. They are generated, so this only guards against a compiler
 * bug producing text that means something else.
 */
static bool name_ok(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == 0 || n >= ZT_OBJ_NAME_MAX || n == size)
		return false;
	if (!(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if (!(c == '_' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') ||
		      (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/*
 * nft's quoted strings have no escapes at all, so a '"' cannot be written;
 * and "name\*" would mean a literal '*' instead of a prefix match.
 */
static bool ifname_ok(const struct zt_ifpat *p)
{
	size_t n = strnlen(p->name, sizeof(p->name));

	if (n == 0 || n == sizeof(p->name))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p->name[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '*')
			return false;
	}
	return !(p->wildcard && p->name[n - 1] == '\\');
}

/* s as an nft quoted string: zt_nft_str() decides its bytes, for emit.c too. */
static void quoted_write(FILE *f, const char *s, size_t size, enum zt_nft_str kind)
{
	char buf[ZT_NFT_STR_MAX + 1];

	fprintf(f, "\"%s\"", zt_nft_str(buf, s, size, kind));
}

static const char *proto_name(uint32_t p)
{
	switch (p) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "ipv6-icmp";
	case 132:
		return "sctp";
	default:
		return NULL;
	}
}

static int verdict_fmt(struct tok *t, const struct zt_verdict *v)
{
	switch (v->code) {
	case ZT_V_ACCEPT:
		tok_add(t, "accept");
		return 0;
	case ZT_V_DROP:
		tok_add(t, "drop");
		return 0;
	case ZT_V_RETURN:
		tok_add(t, "return");
		return 0;
	case ZT_V_CONTINUE:
		tok_add(t, "continue");
		return 0;
	case ZT_V_JUMP:
	case ZT_V_GOTO:
		if (!name_ok(v->chain, sizeof(v->chain)))
			return -EINVAL;
		tok_add(t, "%s %s", v->code == ZT_V_JUMP ? "jump" : "goto", v->chain);
		return 0;
	default:
		return -EINVAL;
	}
}

static int cidr_fmt(struct tok *t, uint8_t family, const struct zt_cidr *c)
{
	char a[INET6_ADDRSTRLEN];

	if (c->family != family || c->plen > ZT_MAX_PLEN(family) ||
	    !inet_ntop(family, c->addr, a, sizeof(a)))
		return -EINVAL;
	if (c->plen == ZT_MAX_PLEN(family))
		tok_add(t, "%s", a);
	else
		tok_add(t, "%s/%u", a, c->plen);
	return 0;
}

/* 192.0.2.1-192.0.2.9: nft's range syntax in interval sets. */
static int range_fmt(struct tok *t, uint8_t family, const struct zt_addr_range *r)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];

	if (r->family != family || memcmp(r->lo, r->hi, ZT_ADDR_LEN(family)) >= 0 ||
	    !inet_ntop(family, r->lo, lo, sizeof(lo)) || !inet_ntop(family, r->hi, hi, sizeof(hi)))
		return -EINVAL;
	tok_add(t, "%s-%s", lo, hi);
	return 0;
}

static int icmp_fmt(struct tok *t, enum zt_proto p, uint32_t type)
{
	const char *name;

	if (type > 255)
		return -EINVAL;
	name = zt_icmp_type_name(p, (int)type);
	if (name)
		tok_add(t, "%s", name);
	else
		tok_add(t, "%u", type);
	return 0;
}

/* A constant of the given type, as nft writes it. */
static int value_fmt(struct tok *t, enum zt_type type, const struct zt_value *v)
{
	const char *s;

	switch (type) {
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME:
		if (!ifname_ok(&v->ifpat))
			return -EINVAL;
		tok_add(t, "\"%s%s\"", v->ifpat.name, v->ifpat.wildcard ? "*" : "");
		return 0;
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		uint8_t family = type == ZT_TYPE_IPV4 ? AF_INET : AF_INET6;

		return v->is_range ? range_fmt(t, family, &v->range) : cidr_fmt(t, family, &v->cidr);
	}
	case ZT_TYPE_MARK:
		tok_add(t, "0x%08x", v->u32);
		return 0;
	case ZT_TYPE_INET_PROTO:
		if (v->u32 > 255)
			return -EINVAL;
		s = proto_name(v->u32);
		if (s)
			tok_add(t, "%s", s);
		else
			tok_add(t, "%u", v->u32);
		return 0;
	case ZT_TYPE_INET_SERVICE:
		if (v->u32 > 65535 || v->u32_hi > 65535)
			return -EINVAL;
		/* A single port may leave u32_hi at 0. */
		if (v->u32_hi > v->u32)
			tok_add(t, "%u-%u", v->u32, v->u32_hi);
		else
			tok_add(t, "%u", v->u32);
		return 0;
	case ZT_TYPE_FIB_ADDRTYPE: {
		/* nft's fib_addr_type names, indexed by RTN_*. */
		static const char *const addrtype[] = {
			"unspec", "unicast", "local", "broadcast", "anycast",
			"multicast", "blackhole", "unreachable", "prohibit",
		};

		if (v->u32 >= ELEMENTSOF(addrtype))
			return -EINVAL;
		tok_add(t, "%s", addrtype[v->u32]);
		return 0;
	}
	case ZT_TYPE_INTEGER:
		tok_add(t, "%u", v->u32);
		return 0;
	case ZT_TYPE_CGROUP:
		tok_add(t, "%llu", (unsigned long long)v->u64);
		return 0;
	case ZT_TYPE_ICMP_TYPE:
		return icmp_fmt(t, ZT_PROTO_ICMP, v->u32);
	case ZT_TYPE_ICMPV6_TYPE:
		return icmp_fmt(t, ZT_PROTO_ICMPV6, v->u32);
	case ZT_TYPE_VERDICT:
		return verdict_fmt(t, &v->verdict);
	case ZT_TYPE_COUNTER:
		if (!name_ok(v->counter, sizeof(v->counter)))
			return -EINVAL;
		tok_add(t, "\"%s\"", v->counter);
		return 0;
	default:
		return -EINVAL;
	}
}

/* `key1 . key2`; a fib rpf key holds a " . " of its own and stands alone. */
static int keys_write(FILE *f, const enum zt_key *keys, size_t n)
{
	if (n == 0 || n > ZT_MAX_CONCAT)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *name = TABLE_LOOKUP(key_names, keys[i]);

		if (!name || (n > 1 && (keys[i] == ZT_KEY_FIB_SADDR_IIF_OIF || keys[i] == ZT_KEY_FIB_SADDR_IIF_OIFNAME)))
			return -EINVAL;
		if (i)
			fputs(" . ", f);
		fputs(name, f);
	}
	return 0;
}

/*
 * One source address, masked to plen bits when that is less than all of
 * it: `ip saddr`, `ip6 saddr & ffff:ffff:ffff:ffff::` (a flood limit's key).
 */
static int src_masked_write(FILE *f, enum zt_key key, uint8_t plen)
{
	uint8_t family = key == ZT_KEY_IP_SADDR ? AF_INET : AF_INET6;
	unsigned full = family == AF_INET ? 32 : 128;
	uint8_t m[16] = {};
	char buf[INET6_ADDRSTRLEN];
	int r;

	if (key != ZT_KEY_IP_SADDR && key != ZT_KEY_IP6_SADDR)
		return -EINVAL;
	if ((r = keys_write(f, &key, 1)) < 0)
		return r;
	if (!plen || plen >= full)
		return 0;
	for (unsigned i = 0; i < plen; i++)
		m[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	fprintf(f, " & %s", zt_addr_fmt(family, m, buf, sizeof(buf)));
	return 0;
}

static const char *unit_name(uint32_t sec)
{
	return sec == 1 ? "second" : sec == 60 ? "minute" : sec == 3600 ? "hour" : sec == 86400 ? "day" : NULL;
}

/* update @fm4_x { ip saddr limit rate over 10/second burst 20 packets } and the like. */
static int dynset_write(FILE *f, const struct zt_stmt *s)
{
	int r;

	if (!name_ok(s->set, sizeof(s->set)) || s->n_key != 1)
		return -EINVAL;
	fprintf(f, "%s @%s { ", s->kind == ZT_S_METER ? "update" : "add", s->set);
	if ((r = src_masked_write(f, s->key[0], s->plen)) < 0)
		return r;
	switch (s->kind) {
	case ZT_S_METER:
		if (!unit_name(s->unit) || !s->rate)
			return -EINVAL;
		fprintf(f, " limit rate over %u/%s burst %u packets }", s->rate, unit_name(s->unit), s->burst);
		return 0;
	case ZT_S_CONNLIMIT:
		fprintf(f, " ct count over %u }", s->count);
		return 0;
	case ZT_S_BAN_ADD:
		fprintf(f, " timeout %us counter : 0x%08x }", s->timeout_sec, s->count);
		return 0;
	default:
		return -EINVAL;
	}
}

static int tok_write(FILE *f, const struct tok *t)
{
	if (t->overflow)
		return -EINVAL;
	fwrite(t->s, 1, t->n, f);
	return 0;
}

/* A compared value; interface indexes (`oif 0`) are plain numbers. */
static int match_value_write(FILE *f, enum zt_key key, const struct zt_value *v)
{
	struct tok t = {};
	int r;

	if ((key == ZT_KEY_IIF || key == ZT_KEY_OIF) && v->type != ZT_TYPE_IFNAME)
		tok_add(&t, "%u", v->u32);
	else {
		r = value_fmt(&t, v->type, v);
		if (r < 0)
			return r;
	}
	return tok_write(f, &t);
}

static int anon_write(FILE *f, const struct zt_anon *a)
{
	if (a->n == 0 || !a->v)
		return -EINVAL;
	fputs("{ ", f);
	for (size_t i = 0; i < a->n; i++) {
		struct tok t = {};
		int r;

		r = value_fmt(&t, a->type, &a->v[i]);
		if (r < 0)
			return r;
		if (i)
			fputs(", ", f);
		r = tok_write(f, &t);
		if (r < 0)
			return r;
	}
	fputs(" }", f);
	return 0;
}

static int ct_state_write(FILE *f, uint32_t mask)
{
	uint32_t known = 0;
	bool first = true;

	for (size_t i = 0; i < ELEMENTSOF(ct_states); i++)
		known |= ct_states[i].bit;
	if (mask == 0 || (mask & ~known))
		return -EINVAL;
	fputs("ct state ", f);
	for (size_t i = 0; i < ELEMENTSOF(ct_states); i++) {
		if (!(mask & ct_states[i].bit))
			continue;
		if (!first)
			putc(',', f);
		fputs(ct_states[i].name, f);
		first = false;
	}
	return 0;
}

static int match_write(FILE *f, const struct zt_match *m)
{
	int r;

	switch (m->op) {
	case ZT_M_CT_STATE:
		return ct_state_write(f, m->ct_state);
	case ZT_M_CT_DIR_REPLY:
		fputs("ct direction reply", f);
		return 0;
	case ZT_M_MISSING:
	case ZT_M_EXISTS:
		/* The kernel knows presence only for fib's oif and the ipsec flags. */
		if (m->n_key != 1 || !(m->key[0] == ZT_KEY_FIB_SADDR_IIF_OIF ||
				       m->key[0] == ZT_KEY_FIB_SADDR_OIF ||
				       m->key[0] == ZT_KEY_META_IPSEC || m->key[0] == ZT_KEY_RT_IPSEC))
			return -EINVAL;
		break;
	case ZT_M_EQ:
	case ZT_M_NE:
		/* A concatenation needs a concatenated value: not in the plan's vocabulary. */
		if (m->n_key != 1)
			return -EINVAL;
		break;
	case ZT_M_IN_SET:
	case ZT_M_NOT_IN_SET:
		if (!name_ok(m->set, sizeof(m->set)))
			return -EINVAL;
		break;
	case ZT_M_IN_ANON:
		if (m->n_key != 1)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}

	if (m->plen && m->n_key == 1 && (m->op == ZT_M_IN_SET || m->op == ZT_M_NOT_IN_SET))
		r = src_masked_write(f, m->key[0], m->plen);
	else
		r = keys_write(f, m->key, m->n_key);
	if (r < 0)
		return r;
	if (m->mmask && m->n_key == 1 && m->key[0] == ZT_KEY_META_MARK) {
		fprintf(f, " & 0x%08x", m->mmask);
		/* nft needs the operator after a mask: `meta mark & 0xff000000 == 0x01000000` */
		if (m->op == ZT_M_EQ)
			fputs(" ==", f);
	}

	switch (m->op) {
	case ZT_M_EQ:
		putc(' ', f);
		return match_value_write(f, m->key[0], &m->value);
	case ZT_M_NE:
		fputs(" != ", f);
		return match_value_write(f, m->key[0], &m->value);
	case ZT_M_IN_SET:
		fprintf(f, " @%s", m->set);
		return 0;
	case ZT_M_NOT_IN_SET:
		fprintf(f, " != @%s", m->set);
		return 0;
	case ZT_M_IN_ANON:
		putc(' ', f);
		return anon_write(f, &m->anon);
	case ZT_M_MISSING:
		fputs(" missing", f);
		return 0;
	case ZT_M_EXISTS:
		fputs(" exists", f);
		return 0;
	default:
		return -EINVAL;
	}
}

/* `KEYS map @set` / `KEYS vmap @set`. */
static int lookup_write(FILE *f, const struct zt_stmt *s, const char *kind)
{
	int r;

	if (!name_ok(s->set, sizeof(s->set)))
		return -EINVAL;
	r = keys_write(f, s->key, s->n_key);
	if (r < 0)
		return r;
	if (s->mmask && s->n_key == 1 && (s->key[0] == ZT_KEY_META_MARK || s->key[0] == ZT_KEY_CT_MARK))
		fprintf(f, " & 0x%08x", s->mmask);
	fprintf(f, " %s @%s", kind, s->set);
	return 0;
}

/* Returns 1 if something was written, 0 for a "no verdict" statement. */
static int stmt_write(FILE *f, const struct zt_stmt *s)
{
	struct tok t = {};
	int r;

	switch (s->kind) {
	case ZT_S_COUNTER_NAMED:
		if (!name_ok(s->counter, sizeof(s->counter)))
			return -EINVAL;
		fprintf(f, "counter name \"%s\"", s->counter);
		return 1;
	case ZT_S_COUNTER_MAP:
		fputs("counter name ", f);
		r = lookup_write(f, s, "map");
		return r < 0 ? r : 1;
	case ZT_S_CT_MARK_SET:
		fprintf(f, "ct mark set 0x%08x", s->u32);
		return 1;
	case ZT_S_CT_MARK_SET_MAP:
		fputs("ct mark set ", f);
		r = lookup_write(f, s, "map");
		return r < 0 ? r : 1;
	case ZT_S_META_MARK_SET_MAP:
		fputs("meta mark set ", f);
		r = lookup_write(f, s, "map");
		return r < 0 ? r : 1;
	case ZT_S_META_MARK_FROM_CT:
		fputs("meta mark set ct mark", f);
		return 1;
	case ZT_S_META_MARK_BITS:
		if (s->u32 && s->mmask != 0xffffffffu)
			fprintf(f, "meta mark set meta mark & 0x%08x | 0x%08x", s->mmask, s->u32);
		else if (s->u32)
			fprintf(f, "meta mark set meta mark | 0x%08x", s->u32);
		else
			fprintf(f, "meta mark set meta mark & 0x%08x", s->mmask);
		return 1;
	case ZT_S_CT_MARK_OR:
		fprintf(f, "ct mark set ct mark | 0x%08x", s->u32);
		return 1;
	case ZT_S_CT_MARK_XOR:
		fprintf(f, "ct mark set ct mark ^ 0x%08x", s->u32);
		return 1;
	case ZT_S_LOG:
		if (s->log_rate) {
			fprintf(f, "limit rate %u/second ", s->log_rate);
			if (s->log_burst)
				fprintf(f, "burst %u packets ", s->log_burst);
		}
		if (s->log_group > 65535)
			return -EINVAL;
		fprintf(f, "log group %u", s->log_group);
		if (s->log_prefix[0]) {
			fputs(" prefix ", f);
			quoted_write(f, s->log_prefix, sizeof(s->log_prefix), ZT_NFT_LOG_PREFIX);
		}
		return 1;
	case ZT_S_VMAP:
		r = lookup_write(f, s, "vmap");
		return r < 0 ? r : 1;
	case ZT_S_SET_UPDATE_COUNTER:
		/* update @wd_1234abcd { ct mark counter } */
		if (!name_ok(s->set, sizeof(s->set)))
			return -EINVAL;
		fprintf(f, "update @%s { ", s->set);
		if ((r = keys_write(f, s->key, s->n_key)) < 0)
			return r;
		fputs(" counter }", f);
		return 1;
	case ZT_S_REJECT_TCP_RST:
		fputs("reject with tcp reset", f);
		return 1;
	case ZT_S_REJECT_ICMPX:
		fputs("reject with icmpx admin-prohibited", f);
		return 1;
	case ZT_S_METER:
	case ZT_S_CONNLIMIT:
	case ZT_S_BAN_ADD:
		r = dynset_write(f, s);
		return r < 0 ? r : 1;
	case ZT_S_VERDICT:
		if (s->verdict.code == ZT_V_NONE)
			return 0;
		r = verdict_fmt(&t, &s->verdict);
		if (r < 0)
			return r;
		r = tok_write(f, &t);
		return r < 0 ? r : 1;
	default:
		return -EINVAL;
	}
}

static int rule_write(FILE *f, const struct zt_rule *rule)
{
	size_t written = 0;
	int r;

	if (rule->n_match > ZT_RULE_MAX_MATCH || rule->n_stmt > ZT_RULE_MAX_STMT)
		return -EINVAL;
	fputs("\t\t", f);
	for (size_t i = 0; i < rule->n_match; i++) {
		if (written++)
			putc(' ', f);
		r = match_write(f, &rule->match[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < rule->n_stmt; i++) {
		/* A "no verdict" statement writes nothing: no separator either. */
		if (rule->stmt[i].kind == ZT_S_VERDICT && rule->stmt[i].verdict.code == ZT_V_NONE)
			continue;
		if (written++)
			putc(' ', f);
		r = stmt_write(f, &rule->stmt[i]);
		if (r < 0)
			return r;
	}
	/* nft has no empty rule; a rule of only a comment is a syntax error. */
	if (!written)
		return -EINVAL;
	if (rule->comment[0]) {
		fputs(" comment ", f);
		quoted_write(f, rule->comment, sizeof(rule->comment), ZT_NFT_COMMENT);
	}
	putc('\n', f);
	return 0;
}

static void comment_line_write(FILE *f, const char *comment, size_t size)
{
	if (!comment[0])
		return;
	fputs("\t\tcomment ", f);
	quoted_write(f, comment, size, ZT_NFT_COMMENT);
	putc('\n', f);
}

static int counter_write(FILE *f, const struct zt_counter *c)
{
	if (!name_ok(c->name, sizeof(c->name)))
		return -EINVAL;
	fprintf(f, "\tcounter %s {\n", c->name);
	comment_line_write(f, c->comment, sizeof(c->comment));
	fputs("\t}\n", f);
	return 0;
}

/* Key and data types are valid for a set; returns whether `typeof` is needed. */
static int set_types_check(const struct zt_set *s)
{
	bool use_typeof = false;

	if (s->n_key == 0 || s->n_key > ZT_MAX_CONCAT)
		return -EINVAL;
	for (size_t i = 0; i < s->n_key; i++) {
		switch (s->key[i]) {
		case ZT_TYPE_FIB_IFNAME:
			use_typeof = true;
			break;
		case ZT_TYPE_IFNAME:
		case ZT_TYPE_IPV4:
		case ZT_TYPE_IPV6:
		case ZT_TYPE_MARK:
		case ZT_TYPE_INET_PROTO:
		case ZT_TYPE_INET_SERVICE:
		case ZT_TYPE_ICMP_TYPE:
		case ZT_TYPE_ICMPV6_TYPE:
		case ZT_TYPE_CGROUP:
			break;
		default:
			return -EINVAL;
		}
	}
	switch (s->data) {
	case ZT_TYPE_NONE:
	case ZT_TYPE_MARK:
	case ZT_TYPE_VERDICT:
		break;
	case ZT_TYPE_COUNTER:
		if (use_typeof)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	return use_typeof;
}

static int elem_fmt(struct tok *t, const struct zt_set *s, const struct zt_elem *e)
{
	int r;

	for (size_t i = 0; i < s->n_key; i++) {
		if (i)
			tok_add(t, " . ");
		r = value_fmt(t, s->key[i], &e->key[i]);
		if (r < 0)
			return r;
	}
	if (s->data != ZT_TYPE_NONE) {
		tok_add(t, " : ");
		r = value_fmt(t, s->data, &e->data);
		if (r < 0)
			return r;
	}
	return t->overflow ? -EINVAL : 0;
}

/*
 * `elements = { a, b,` wrapped, continuation lines aligned under the first;
 * a map gets one element a line, so keys and their data read as a table.
 */
static int elems_write(FILE *f, const struct zt_set *s)
{
	size_t col = ELEM_COLUMN;
	bool one_a_line = s->data != ZT_TYPE_NONE;

	fputs("\t\telements = { ", f);
	for (size_t i = 0; i < s->n_elems; i++) {
		struct tok t = {};
		int r;

		r = elem_fmt(&t, s, zt_set_elem(s, i));
		if (r < 0)
			return r;
		if (i) {
			/* Room for ", ELEM," on this line? */
			if (one_a_line || col + 2 + t.n + 1 > WRAP_COLUMN) {
				fputs(",\n\t\t\t     ", f);
				col = ELEM_COLUMN;
			} else {
				fputs(", ", f);
				col += 2;
			}
		}
		fwrite(t.s, 1, t.n, f);
		col += t.n;
	}
	fputs(" }\n", f);
	return 0;
}

static int set_write(FILE *f, const struct zt_set *s)
{
	const char *const *names;
	int use_typeof;

	if (!name_ok(s->name, sizeof(s->name)))
		return -EINVAL;
	use_typeof = set_types_check(s);
	if (use_typeof < 0)
		return use_typeof;
	names = use_typeof ? typeof_names : type_names;

	fprintf(f, "\t%s %s {\n\t\t%s ", s->data == ZT_TYPE_NONE ? "set" : "map", s->name,
		use_typeof ? "typeof" : "type");
	for (size_t i = 0; i < s->n_key; i++)
		fprintf(f, "%s%s", i ? " . " : "", names[s->key[i]]);
	if (s->data != ZT_TYPE_NONE)
		fprintf(f, " : %s", names[s->data]);
	putc('\n', f);
	if (s->size)
		fprintf(f, "\t\tsize %u\n", s->size);
	if (s->interval || s->timeout || s->eval)
		fprintf(f, "\t\tflags %s%s%s%s%s\n", s->interval ? "interval" : "",
			s->interval && s->timeout ? ", " : "", s->timeout ? "timeout" : "",
			(s->interval || s->timeout) && s->eval ? ", " : "", s->eval ? "dynamic" : "");
	if (s->timeout_sec)
		fprintf(f, "\t\ttimeout %us\n", s->timeout_sec);
	comment_line_write(f, s->comment, sizeof(s->comment));
	/* apply and the daemon own a dynamic set's contents. */
	if (!s->dynamic && s->n_elems) {
		int r;

		if (!s->elems)
			return -EINVAL;
		r = elems_write(f, s);
		if (r < 0)
			return r;
	}
	fputs("\t}\n", f);
	return 0;
}

static void prio_write(FILE *f, int prio)
{
	/* The names nft lists for the inet family's standard priorities. */
	if (prio == -300)
		fputs("raw", f);
	else if (prio == 0)
		fputs("filter", f);
	else
		fprintf(f, "%d", prio);
}

static int chain_write(FILE *f, const struct zt_chain *c)
{
	if (!name_ok(c->name, sizeof(c->name)) || (c->n_rules && !c->rules))
		return -EINVAL;
	fprintf(f, "\tchain %s {\n", c->name);
	if (c->hook != ZT_HOOK_NONE) {
		const char *hook = TABLE_LOOKUP(hook_names, c->hook);

		if (!hook)
			return -EINVAL;
		fprintf(f, "\t\ttype filter hook %s priority ", hook);
		prio_write(f, c->prio);
		fputs("; policy accept;\n", f);
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		int r = rule_write(f, &c->rules[i]);

		if (r < 0)
			return r;
	}
	fputs("\t}\n", f);
	return 0;
}

int zt_render(const struct zt_plan *plan, FILE *f)
{
	bool first = true;
	int r = 0;

	if ((plan->n_counters && !plan->counters) || (plan->n_sets && !plan->sets) ||
	    (plan->n_chains && !plan->chains))
		return -EINVAL;

	fputs("table inet " ZT_TABLE_NAME " {\n", f);
	/* A blank line between objects, as `nft list` does. */
	for (size_t i = 0; r >= 0 && i < plan->n_counters; i++, first = false) {
		if (!first)
			putc('\n', f);
		r = counter_write(f, &plan->counters[i]);
	}
	for (size_t i = 0; r >= 0 && i < plan->n_sets; i++, first = false) {
		if (!first)
			putc('\n', f);
		r = set_write(f, &plan->sets[i]);
	}
	/*
	 * Plan order, hooked chains among the rest: `nft list` shows chains
	 * in the order they were created, and emit creates them in plan
	 * order, so this is what makes the two back ends list the same.
	 */
	for (size_t i = 0; r >= 0 && i < plan->n_chains; i++, first = false) {
		if (!first)
			putc('\n', f);
		r = chain_write(f, &plan->chains[i]);
	}
	if (r < 0)
		return r;
	fputs("}\n", f);
	/* Bridged workloads: table bridge ztseg, when a segment names interfaces (lib/bridge.c). */
	if (plan->bridge.n_segs) {
		putc('\n', f);
		if ((r = zt_bridge_render(f, &plan->bridge)) < 0)
			return r;
	}
	return ferror(f) ? -EIO : 0;
}
