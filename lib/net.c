/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CIDR, address, protocol/port and interface-pattern primitives of the
 * policy language: strict parsers, formatters and set relations.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include "net.h"

#define ERR_CIDR "expected an IPv4 or IPv6 address with an optional /prefix-length"
#define ERR_PLEN4 "expected an IPv4 prefix length 0-32"
#define ERR_PLEN6 "expected an IPv6 prefix length 0-128"
#define ERR_HOSTBITS "host bits set: the address is not the start of its prefix"
#define ERR_PORT                                                               \
	"expected PROTO/PORT, PROTO/LOW-HIGH (tcp, udp, sctp), icmp[/TYPE], "  \
	"icmpv6[/TYPE] or any"
#define ERR_PORTNUM "expected a port 1-65535 or a range LOW-HIGH with LOW <= HIGH"
#define ERR_ICMP "expected an ICMP type 0-255 or an nft icmp type name such as echo-request"
#define ERR_ICMPV6 "expected an ICMPv6 type 0-255 or an nft icmpv6 type name such as echo-request"
#define ERR_IFPAT "expected an interface name, or a prefix followed by '*'"
#define ERR_IFSTAR "'*' alone would match every interface, lo and uplinks included; give a prefix such as \"veth*\""
#define ERR_IFSTARPOS "'*' may only end an interface pattern"
#define ERR_IFLEN "interface names are at most 15 bytes"
/* '"' and '\\' are legal in kernel names but nft text cannot quote them. */
#define ERR_IFCHAR "interface names may not contain '/', ':', '\"', '\\\\', whitespace or non-printable characters"
#define ERR_IFDOT "\".\" and \"..\" are not valid interface names"

static void set_err(const char **err, const char *msg)
{
	if (err)
		*err = msg;
}

/*
 * A decimal number without sign, spaces or leading zeros (the last because
 * "010" reads as octal to some tools; inet_pton rejects it in IPv4 for the
 * same reason). s..end is the text; the value must not exceed max.
 */
static int parse_uint(const char *s, const char *end, unsigned long max,
		      unsigned long *ret)
{
	unsigned long v = 0;

	if (s >= end || (*s == '0' && end - s > 1))
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

int zt_addr_parse(const char *s, uint8_t *family, uint8_t addr[16])
{
	uint8_t buf[16] = {};

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, buf) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, buf) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	memcpy(addr, buf, sizeof(buf));
	return 0;
}

/* Clear the bits after plen; returns true if any was set. */
static bool mask_host_bits(uint8_t family, uint8_t plen, uint8_t *addr)
{
	bool changed = false;
	unsigned i;

	for (i = 0; i < ZT_ADDR_LEN(family); i++) {
		unsigned bits = plen > i * 8 ? plen - i * 8 : 0;
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		if (addr[i] & ~mask)
			changed = true;
		addr[i] &= mask;
	}
	return changed;
}

int zt_cidr_parse(const char *s, struct zt_cidr *ret, const char **err)
{
	char abuf[INET6_ADDRSTRLEN];
	struct zt_cidr c = {};
	const char *slash;
	unsigned long plen;
	size_t alen;

	if (!s) {
		set_err(err, ERR_CIDR);
		return -EINVAL;
	}
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(abuf)) {
		set_err(err, ERR_CIDR);
		return -EINVAL;
	}
	memcpy(abuf, s, alen);
	abuf[alen] = '\0';
	if (zt_addr_parse(abuf, &c.family, c.addr) < 0) {
		set_err(err, ERR_CIDR);
		return -EINVAL;
	}

	if (slash) {
		if (parse_uint(slash + 1, slash + 1 + strlen(slash + 1),
			       ZT_MAX_PLEN(c.family), &plen) < 0) {
			set_err(err, c.family == AF_INET ? ERR_PLEN4 : ERR_PLEN6);
			return -EINVAL;
		}
	} else {
		plen = ZT_MAX_PLEN(c.family);
	}
	c.plen = (uint8_t)plen;

	if (mask_host_bits(c.family, c.plen, c.addr)) {
		/* Hand back the network address so the caller can suggest it. */
		*ret = c;
		set_err(err, ERR_HOSTBITS);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

const char *zt_addr_fmt(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (!len)
		return buf;
	if ((family != AF_INET && family != AF_INET6) ||
	    !inet_ntop(family, addr, tmp, sizeof(tmp)))
		snprintf(buf, len, "(invalid)");
	else
		snprintf(buf, len, "%s", tmp);
	return buf;
}

const char *zt_cidr_fmt(const struct zt_cidr *c, char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (!len)
		return buf;
	if (c->family != AF_INET && c->family != AF_INET6) {
		snprintf(buf, len, "(invalid)");
		return buf;
	}
	zt_addr_fmt(c->family, c->addr, tmp, sizeof(tmp));
	snprintf(buf, len, "%s/%u", tmp, c->plen);
	return buf;
}

/* Do a and b agree on their first plen bits? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned full = plen / 8, rest = plen % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff00 >> rest);
	return ((a[full] ^ b[full]) & mask) == 0;
}

static bool family_valid(uint8_t family)
{
	return family == AF_INET || family == AF_INET6;
}

bool zt_cidr_contains(const struct zt_cidr *outer, const struct zt_cidr *inner)
{
	if (outer->family != inner->family || !family_valid(outer->family))
		return false;
	if (outer->plen > inner->plen)
		return false;
	return prefix_equal(outer->addr, inner->addr, outer->plen);
}

bool zt_cidr_contains_addr(const struct zt_cidr *c, uint8_t family, const uint8_t *addr)
{
	if (c->family != family || !family_valid(family))
		return false;
	return prefix_equal(c->addr, addr, c->plen);
}

bool zt_cidr_overlap(const struct zt_cidr *a, const struct zt_cidr *b)
{
	if (a->family != b->family || !family_valid(a->family))
		return false;
	return prefix_equal(a->addr, b->addr, a->plen < b->plen ? a->plen : b->plen);
}

bool zt_cidr_equal(const struct zt_cidr *a, const struct zt_cidr *b)
{
	return zt_cidr_cmp(a, b) == 0;
}

int zt_cidr_cmp(const struct zt_cidr *a, const struct zt_cidr *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	/* Only the family's bytes: IPv4 leaves the other 12 unspecified. */
	r = memcmp(a->addr, b->addr, ZT_ADDR_LEN(a->family));
	if (r)
		return r < 0 ? -1 : 1;
	if (a->plen != b->plen)
		return a->plen < b->plen ? -1 : 1;
	return 0;
}

bool zt_addr_is_linklocal_or_unspec(uint8_t family, const uint8_t *addr)
{
	static const uint8_t zero[16];

	switch (family) {
	case AF_INET:
		return (addr[0] == 169 && addr[1] == 254) || !memcmp(addr, zero, 4);
	case AF_INET6:
		return (addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80) ||
		       !memcmp(addr, zero, 16);
	default:
		return false;
	}
}

struct icmp_type {
	uint8_t type;
	const char *name;
};

/*
 * The symbolic names nft(8) accepts ("nft describe icmp type"), so a policy
 * type renders into the ruleset unchanged. Where nft has two names for one
 * number the first is the one nft prints.
 */
static const struct icmp_type icmp_types[] = {
	{ 0, "echo-reply" },
	{ 3, "destination-unreachable" },
	{ 4, "source-quench" },
	{ 5, "redirect" },
	{ 8, "echo-request" },
	{ 9, "router-advertisement" },
	{ 10, "router-solicitation" },
	{ 11, "time-exceeded" },
	{ 12, "parameter-problem" },
	{ 13, "timestamp-request" },
	{ 14, "timestamp-reply" },
	{ 15, "info-request" },
	{ 16, "info-reply" },
	{ 17, "address-mask-request" },
	{ 18, "address-mask-reply" },
};

static const struct icmp_type icmpv6_types[] = {
	{ 1, "destination-unreachable" },
	{ 2, "packet-too-big" },
	{ 3, "time-exceeded" },
	{ 4, "parameter-problem" },
	{ 128, "echo-request" },
	{ 129, "echo-reply" },
	{ 130, "mld-listener-query" },
	{ 131, "mld-listener-report" },
	{ 132, "mld-listener-done" },
	{ 132, "mld-listener-reduction" },
	{ 133, "nd-router-solicit" },
	{ 134, "nd-router-advert" },
	{ 135, "nd-neighbor-solicit" },
	{ 136, "nd-neighbor-advert" },
	{ 137, "nd-redirect" },
	{ 138, "router-renumbering" },
	{ 141, "ind-neighbor-solicit" },
	{ 142, "ind-neighbor-advert" },
	{ 143, "mld2-listener-report" },
};

static const struct icmp_type *icmp_table(enum zt_proto p, size_t *n)
{
	switch (p) {
	case ZT_PROTO_ICMP:
		*n = ELEMENTSOF(icmp_types);
		return icmp_types;
	case ZT_PROTO_ICMPV6:
		*n = ELEMENTSOF(icmpv6_types);
		return icmpv6_types;
	default:
		*n = 0;
		return NULL;
	}
}

const char *zt_icmp_type_name(enum zt_proto p, int type)
{
	const struct icmp_type *t;
	size_t i, n;

	t = icmp_table(p, &n);
	for (i = 0; i < n; i++)
		if (t[i].type == type)
			return t[i].name;
	return NULL;
}

static int icmp_type_parse(enum zt_proto p, const char *s, int16_t *ret)
{
	const struct icmp_type *t;
	unsigned long v;
	size_t i, n;

	if (parse_uint(s, s + strlen(s), 255, &v) == 0) {
		*ret = (int16_t)v;
		return 0;
	}
	t = icmp_table(p, &n);
	for (i = 0; i < n; i++)
		if (streq(t[i].name, s)) {
			*ret = t[i].type;
			return 0;
		}
	return -EINVAL;
}

static const char *const proto_names[] = {
	[ZT_PROTO_ANY] = "any",
	[ZT_PROTO_TCP] = "tcp",
	[ZT_PROTO_UDP] = "udp",
	[ZT_PROTO_SCTP] = "sctp",
	[ZT_PROTO_ICMP] = "icmp",
	[ZT_PROTO_ICMPV6] = "icmpv6",
};

const char *zt_proto_name(enum zt_proto p)
{
	if ((unsigned)p >= ELEMENTSOF(proto_names))
		return NULL;
	return proto_names[p];
}

const char *zt_ip_proto_name(uint8_t num)
{
	for (enum zt_proto p = ZT_PROTO_TCP; p < ELEMENTSOF(proto_names); p++)
		if (zt_proto_number(p) == num)
			return zt_proto_name(p);
	return NULL;
}

int zt_proto_number(enum zt_proto p)
{
	switch (p) {
	case ZT_PROTO_ANY:
		return 0;
	case ZT_PROTO_TCP:
		return IPPROTO_TCP;
	case ZT_PROTO_UDP:
		return IPPROTO_UDP;
	case ZT_PROTO_SCTP:
		return IPPROTO_SCTP;
	case ZT_PROTO_ICMP:
		return IPPROTO_ICMP;
	case ZT_PROTO_ICMPV6:
		return IPPROTO_ICMPV6;
	}
	return -EINVAL;
}

static bool proto_has_ports(enum zt_proto p)
{
	return p == ZT_PROTO_TCP || p == ZT_PROTO_UDP || p == ZT_PROTO_SCTP;
}

static bool proto_is_icmp(enum zt_proto p)
{
	return p == ZT_PROTO_ICMP || p == ZT_PROTO_ICMPV6;
}

static int port_range_parse(const char *s, uint16_t *lo, uint16_t *hi)
{
	const char *dash = strchr(s, '-'), *end = s + strlen(s);
	unsigned long a, b;

	if (parse_uint(s, dash ? dash : end, 65535, &a) < 0 || a == 0)
		return -EINVAL;
	if (dash) {
		if (parse_uint(dash + 1, end, 65535, &b) < 0 || b < a)
			return -EINVAL;
	} else {
		b = a;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

int zt_port_parse(const char *s, struct zt_port *ret, const char **err)
{
	struct zt_port p = { .lo = 0, .hi = 65535, .icmp_type = -1 };
	const char *slash, *arg = NULL;
	size_t plen;
	unsigned i;

	if (!s) {
		set_err(err, ERR_PORT);
		return -EINVAL;
	}
	slash = strchr(s, '/');
	plen = slash ? (size_t)(slash - s) : strlen(s);
	if (slash)
		arg = slash + 1;

	for (i = 0; i < ELEMENTSOF(proto_names); i++)
		if (strlen(proto_names[i]) == plen && !strncmp(s, proto_names[i], plen))
			break;
	if (i == ELEMENTSOF(proto_names) || (i == ZT_PROTO_ANY && arg)) {
		set_err(err, ERR_PORT);
		return -EINVAL;
	}
	p.proto = (enum zt_proto)i;

	if (proto_has_ports(p.proto) && arg) {
		if (port_range_parse(arg, &p.lo, &p.hi) < 0) {
			set_err(err, ERR_PORTNUM);
			return -EINVAL;
		}
	} else if (proto_is_icmp(p.proto)) {
		p.lo = p.hi = 0;
		if (arg && icmp_type_parse(p.proto, arg, &p.icmp_type) < 0) {
			set_err(err, p.proto == ZT_PROTO_ICMP ? ERR_ICMP : ERR_ICMPV6);
			return -EINVAL;
		}
	}
	*ret = p;
	return 0;
}

const char *zt_port_fmt(const struct zt_port *p, char *buf, size_t len)
{
	const char *name = zt_proto_name(p->proto), *tname;

	if (!len)
		return buf;
	if (!name)
		snprintf(buf, len, "(invalid)");
	else if (proto_has_ports(p->proto) && p->lo == 0 && p->hi == 65535)
		snprintf(buf, len, "%s", name);
	else if (proto_has_ports(p->proto) && p->lo == p->hi)
		snprintf(buf, len, "%s/%u", name, p->lo);
	else if (proto_has_ports(p->proto))
		snprintf(buf, len, "%s/%u-%u", name, p->lo, p->hi);
	else if (proto_is_icmp(p->proto) && p->icmp_type >= 0) {
		tname = zt_icmp_type_name(p->proto, p->icmp_type);
		if (tname)
			snprintf(buf, len, "%s/%s", name, tname);
		else
			snprintf(buf, len, "%s/%d", name, p->icmp_type);
	} else
		snprintf(buf, len, "%s", name);
	return buf;
}

bool zt_port_covers(const struct zt_port *rule, const struct zt_port *pkt, uint8_t family)
{
	if (rule->proto == ZT_PROTO_ANY)
		return true;
	if (rule->proto != pkt->proto)
		return false;
	switch (rule->proto) {
	case ZT_PROTO_TCP:
	case ZT_PROTO_UDP:
	case ZT_PROTO_SCTP:
		return rule->lo <= pkt->lo && pkt->lo <= rule->hi;
	case ZT_PROTO_ICMP:
	case ZT_PROTO_ICMPV6:
		/* nft's "icmp" is IPv4 only and "icmpv6" IPv6 only. */
		if (family != (rule->proto == ZT_PROTO_ICMP ? AF_INET : AF_INET6))
			return false;
		return rule->icmp_type < 0 || rule->icmp_type == pkt->icmp_type;
	default:
		return false;
	}
}

/* The kernel's dev_valid_name(), limited further to printable ASCII. */
static const char *ifname_check(const char *s, size_t len)
{
	size_t i;

	if (len >= IFNAMSIZ)
		return ERR_IFLEN;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '*')
			return ERR_IFSTARPOS;
		if (ch <= ' ' || ch >= 0x7f || ch == '/' || ch == ':' || ch == '"' || ch == '\\')
			return ERR_IFCHAR;
	}
	return NULL;
}

int zt_ifpat_parse(const char *s, struct zt_ifpat *ret, const char **err)
{
	struct zt_ifpat p = {};
	const char *msg;
	size_t len;

	if (!s || !*s) {
		set_err(err, ERR_IFPAT);
		return -EINVAL;
	}
	len = strlen(s);
	if (s[len - 1] == '*') {
		p.wildcard = true;
		len--;
		if (len == 0) {
			set_err(err, ERR_IFSTAR);
			return -EINVAL;
		}
	}
	msg = ifname_check(s, len);
	/* "." and ".." are invalid names but fine as the start of one. */
	if (!msg && !p.wildcard && (streq(s, ".") || streq(s, "..")))
		msg = ERR_IFDOT;
	if (msg) {
		set_err(err, msg);
		return -EINVAL;
	}
	memcpy(p.name, s, len);
	p.name[len] = '\0';
	*ret = p;
	return 0;
}

const char *zt_ifpat_fmt(const struct zt_ifpat *p, char *buf, size_t len)
{
	if (len)
		snprintf(buf, len, "%s%s", p->name, p->wildcard ? "*" : "");
	return buf;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool zt_ifpat_match(const struct zt_ifpat *p, const char *ifname)
{
	if (!ifname)
		return false;
	return p->wildcard ? has_prefix(ifname, p->name) : streq(ifname, p->name);
}

bool zt_ifpat_overlap(const struct zt_ifpat *a, const struct zt_ifpat *b)
{
	if (!a->wildcard && !b->wildcard)
		return streq(a->name, b->name);
	if (!a->wildcard)
		return has_prefix(a->name, b->name);
	if (!b->wildcard)
		return has_prefix(b->name, a->name);
	return has_prefix(a->name, b->name) || has_prefix(b->name, a->name);
}

bool zt_ifpat_within(const struct zt_ifpat *outer, const struct zt_ifpat *inner)
{
	if (outer->wildcard)
		return has_prefix(inner->name, outer->name);
	/*
	 * An exact name holds a wildcard only when the prefix is already
	 * IFNAMSIZ-1 long: then the pattern can match that one name alone.
	 */
	if (inner->wildcard && strlen(inner->name) < IFNAMSIZ - 1)
		return false;
	return streq(outer->name, inner->name);
}
