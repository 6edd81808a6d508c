/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for lib/net.c: CIDRs, addresses, ports and interface patterns. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include "net.h"

/* zt_cidr_parse + zt_cidr_fmt */

static const struct {
	const char *in;
	int rc;
	uint8_t family;
	const char *fmt;	/* formatted result; network address on host bits */
	const char *err;	/* substring of *err on failure */
} cidr_cases[] = {
	{ "192.0.2.0/24", 0, AF_INET, "192.0.2.0/24", NULL },
	{ "192.0.2.7", 0, AF_INET, "192.0.2.7/32", NULL },
	{ "0.0.0.0/0", 0, AF_INET, "0.0.0.0/0", NULL },
	{ "10.0.0.0/8", 0, AF_INET, "10.0.0.0/8", NULL },
	{ "198.51.100.64/26", 0, AF_INET, "198.51.100.64/26", NULL },
	{ "255.255.255.255/32", 0, AF_INET, "255.255.255.255/32", NULL },
	{ "2001:db8::/32", 0, AF_INET6, "2001:db8::/32", NULL },
	{ "2001:DB8::/32", 0, AF_INET6, "2001:db8::/32", NULL },
	{ "2001:db8::1", 0, AF_INET6, "2001:db8::1/128", NULL },
	{ "::/0", 0, AF_INET6, "::/0", NULL },
	{ "fe80::/10", 0, AF_INET6, "fe80::/10", NULL },
	{ "::ffff:192.0.2.0/120", 0, AF_INET6, "::ffff:192.0.2.0/120", NULL },
	{ "2001:db8::/127", 0, AF_INET6, "2001:db8::/127", NULL },
	/* host bits: the error still yields the network address */
	{ "198.51.100.7/24", -EINVAL, AF_INET, "198.51.100.0/24", "host bits" },
	{ "10.1.2.3/8", -EINVAL, AF_INET, "10.0.0.0/8", "host bits" },
	{ "2001:db8::1/64", -EINVAL, AF_INET6, "2001:db8::/64", "host bits" },
	{ "fe80::1/9", -EINVAL, AF_INET6, "fe80::/9", "host bits" },
	{ "1.2.3.4/0", -EINVAL, AF_INET, "0.0.0.0/0", "host bits" },
	/* malformed */
	{ "", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "/24", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "192.0.2.0/", -EINVAL, 0, NULL, "prefix length 0-32" },
	{ "192.0.2.0/33", -EINVAL, 0, NULL, "prefix length 0-32" },
	{ "2001:db8::/129", -EINVAL, 0, NULL, "prefix length 0-128" },
	{ "192.0.2.0/+24", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/-1", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/024", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/ 24", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/24 ", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/24/8", -EINVAL, 0, NULL, "prefix length" },
	{ "192.0.2.0/4294967320", -EINVAL, 0, NULL, "prefix length" },
	{ " 192.0.2.0/24", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "192.0.2.0 /24", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "192.0.2/24", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "192.0.2.256", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "10/8", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "fe80::1%eth0", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "2001:db8:::/32", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "example.com", -EINVAL, 0, NULL, "IPv4 or IPv6" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/1", -EINVAL, 0, NULL, "IPv4 or IPv6" },
};

START_TEST(test_cidr_parse)
{
	char buf[ZT_CIDR_STRLEN];
	struct zt_cidr c;
	const char *err = NULL;
	int r;

	memset(&c, 0xaa, sizeof(c));
	r = zt_cidr_parse(cidr_cases[_i].in, &c, &err);
	ck_assert_msg(r == cidr_cases[_i].rc, "'%s': rc %d, expected %d (%s)",
		      cidr_cases[_i].in, r, cidr_cases[_i].rc, err ? err : "");
	if (cidr_cases[_i].err) {
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, cidr_cases[_i].err), "'%s': err '%s'",
			      cidr_cases[_i].in, err);
	}
	if (cidr_cases[_i].fmt) {
		ck_assert_uint_eq(c.family, cidr_cases[_i].family);
		ck_assert_str_eq(zt_cidr_fmt(&c, buf, sizeof(buf)), cidr_cases[_i].fmt);
		/* positions are the caller's business */
		ck_assert_ptr_null(c.pos.file);
		ck_assert_uint_eq(c.pos.line, 0);
		ck_assert_uint_eq(c.pos.col, 0);
	}
}
END_TEST

START_TEST(test_cidr_parse_misc)
{
	char buf[ZT_CIDR_STRLEN], small[8];
	struct zt_cidr c;
	uint8_t family, addr[16];

	/* err may be NULL */
	ck_assert_int_eq(zt_cidr_parse("nope", &c, NULL), -EINVAL);
	ck_assert_int_eq(zt_cidr_parse(NULL, &c, NULL), -EINVAL);
	ck_assert_int_eq(zt_cidr_parse("192.0.2.1/24", &c, NULL), -EINVAL);

	/* IPv4 leaves bytes 4..15 zero so whole-struct compares are stable */
	ck_assert_int_eq(zt_cidr_parse("192.0.2.0/24", &c, NULL), 0);
	for (unsigned i = 4; i < 16; i++)
		ck_assert_uint_eq(c.addr[i], 0);
	ck_assert_uint_eq(c.plen, 24);

	/* the longest IPv6 text fits ZT_CIDR_STRLEN */
	ck_assert_int_eq(zt_cidr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &c, NULL), 0);
	ck_assert_str_eq(zt_cidr_fmt(&c, buf, sizeof(buf)),
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	/* truncation stays terminated */
	ck_assert_str_eq(zt_cidr_fmt(&c, small, sizeof(small)), "ffff:ff");

	ck_assert_int_eq(zt_addr_parse("2001:db8::5", &family, addr), 0);
	ck_assert_uint_eq(family, AF_INET6);
	ck_assert_str_eq(zt_addr_fmt(family, addr, buf, sizeof(buf)), "2001:db8::5");
	ck_assert_int_eq(zt_addr_parse("203.0.113.9", &family, addr), 0);
	ck_assert_uint_eq(family, AF_INET);
	ck_assert_str_eq(zt_addr_fmt(family, addr, buf, sizeof(buf)), "203.0.113.9");
	ck_assert_int_eq(zt_addr_parse("203.0.113.0/24", &family, addr), -EINVAL);
	ck_assert_int_eq(zt_addr_parse("", &family, addr), -EINVAL);
	ck_assert_int_eq(zt_addr_parse(" ::1", &family, addr), -EINVAL);
}
END_TEST

/* contains / overlap / equal / cmp */

static const struct {
	const char *a, *b;
	bool contains;		/* a contains b */
	bool overlap;
	int cmp;		/* sign of cmp(a, b) */
} rel_cases[] = {
	{ "10.0.0.0/8", "10.1.0.0/16", true, true, -1 },
	{ "10.1.0.0/16", "10.0.0.0/8", false, true, 1 },
	{ "10.0.0.0/8", "10.0.0.0/8", true, true, 0 },
	{ "10.0.0.0/8", "11.0.0.0/8", false, false, -1 },
	{ "0.0.0.0/0", "203.0.113.5", true, true, -1 },
	{ "198.51.100.0/26", "198.51.100.64/26", false, false, -1 },
	{ "198.51.100.0/25", "198.51.100.64/26", true, true, -1 },
	{ "198.51.100.64/28", "198.51.100.64/26", false, true, 1 },
	{ "192.0.2.0/24", "192.0.2.0/25", true, true, -1 },
	{ "192.0.2.128/25", "192.0.2.0/24", false, true, 1 },
	{ "10.0.0.0/9", "10.128.0.0/9", false, false, -1 },
	{ "2001:db8::/32", "2001:db8:1::/48", true, true, -1 },
	{ "2001:db8::/32", "2001:db9::/32", false, false, -1 },
	{ "fe80::/10", "febf::1", true, true, -1 },
	{ "fe80::/10", "fec0::1", false, false, -1 },
	{ "::/0", "2001:db8::1", true, true, -1 },
	/* different families never contain or overlap; AF_INET sorts first */
	{ "0.0.0.0/0", "::/0", false, false, -1 },
	{ "::/0", "0.0.0.0/0", false, false, 1 },
	{ "::ffff:192.0.2.0/120", "192.0.2.0/24", false, false, 1 },
};

static int sign(int v)
{
	return (v > 0) - (v < 0);
}

START_TEST(test_cidr_relations)
{
	struct zt_cidr a, b;

	ck_assert_int_eq(zt_cidr_parse(rel_cases[_i].a, &a, NULL), 0);
	ck_assert_int_eq(zt_cidr_parse(rel_cases[_i].b, &b, NULL), 0);
	ck_assert_msg(zt_cidr_contains(&a, &b) == rel_cases[_i].contains,
		      "contains(%s, %s)", rel_cases[_i].a, rel_cases[_i].b);
	ck_assert_msg(zt_cidr_overlap(&a, &b) == rel_cases[_i].overlap,
		      "overlap(%s, %s)", rel_cases[_i].a, rel_cases[_i].b);
	ck_assert_msg(zt_cidr_overlap(&b, &a) == rel_cases[_i].overlap,
		      "overlap(%s, %s)", rel_cases[_i].b, rel_cases[_i].a);
	ck_assert_msg(zt_cidr_equal(&a, &b) == (rel_cases[_i].cmp == 0),
		      "equal(%s, %s)", rel_cases[_i].a, rel_cases[_i].b);
	ck_assert_msg(sign(zt_cidr_cmp(&a, &b)) == rel_cases[_i].cmp,
		      "cmp(%s, %s)", rel_cases[_i].a, rel_cases[_i].b);
	ck_assert_int_eq(sign(zt_cidr_cmp(&b, &a)), -rel_cases[_i].cmp);
}
END_TEST

START_TEST(test_cidr_equal_ignores_pos)
{
	struct zt_cidr a, b;

	ck_assert_int_eq(zt_cidr_parse("192.0.2.0/24", &a, NULL), 0);
	ck_assert_int_eq(zt_cidr_parse("192.0.2.0/24", &b, NULL), 0);
	b.pos.file = "x.yaml";
	b.pos.line = 3;
	ck_assert(zt_cidr_equal(&a, &b));
	ck_assert_int_eq(zt_cidr_cmp(&a, &b), 0);
	/* same address, shorter prefix sorts first */
	ck_assert_int_eq(zt_cidr_parse("192.0.2.0/23", &b, NULL), 0);
	ck_assert_int_gt(zt_cidr_cmp(&a, &b), 0);
	ck_assert(!zt_cidr_equal(&a, &b));
}
END_TEST

static const struct {
	const char *cidr, *addr;
	bool in;
} caddr_cases[] = {
	{ "198.51.100.0/24", "198.51.100.255", true },
	{ "198.51.100.0/24", "198.51.101.0", false },
	{ "198.51.100.5", "198.51.100.5", true },
	{ "198.51.100.5", "198.51.100.4", false },
	{ "0.0.0.0/0", "1.2.3.4", true },
	{ "0.0.0.0/0", "::1", false },
	{ "2001:db8::/64", "2001:db8::ffff", true },
	{ "2001:db8::/64", "2001:db8:0:1::", false },
	{ "::/0", "192.0.2.1", false },
};

START_TEST(test_cidr_contains_addr)
{
	struct zt_cidr c;
	uint8_t family, addr[16];

	ck_assert_int_eq(zt_cidr_parse(caddr_cases[_i].cidr, &c, NULL), 0);
	ck_assert_int_eq(zt_addr_parse(caddr_cases[_i].addr, &family, addr), 0);
	ck_assert_msg(zt_cidr_contains_addr(&c, family, addr) == caddr_cases[_i].in,
		      "%s in %s", caddr_cases[_i].addr, caddr_cases[_i].cidr);
}
END_TEST

static const struct {
	const char *addr;
	bool ll;
} ll_cases[] = {
	{ "169.254.0.1", true },
	{ "169.254.255.255", true },
	{ "169.253.255.255", false },
	{ "169.255.0.0", false },
	{ "0.0.0.0", true },
	{ "0.0.0.1", false },
	{ "192.0.2.1", false },
	{ "fe80::1", true },
	{ "febf:ffff::1", true },
	{ "fec0::1", false },
	{ "fe00::1", false },
	{ "::", true },
	{ "::1", false },
	{ "2001:db8::1", false },
	{ "::ffff:169.254.0.1", false },
};

START_TEST(test_linklocal)
{
	uint8_t family, addr[16];

	ck_assert_int_eq(zt_addr_parse(ll_cases[_i].addr, &family, addr), 0);
	ck_assert_msg(zt_addr_is_linklocal_or_unspec(family, addr) == ll_cases[_i].ll,
		      "%s", ll_cases[_i].addr);
}
END_TEST

/* zt_port_parse + zt_port_fmt */

static const struct {
	const char *in;
	int rc;
	enum zt_proto proto;
	uint16_t lo, hi;
	int icmp_type;
	const char *fmt;	/* NULL: same as in */
	const char *err;
} port_cases[] = {
	{ "any", 0, ZT_PROTO_ANY, 0, 65535, -1, NULL, NULL },
	{ "tcp", 0, ZT_PROTO_TCP, 0, 65535, -1, NULL, NULL },
	{ "udp", 0, ZT_PROTO_UDP, 0, 65535, -1, NULL, NULL },
	{ "sctp", 0, ZT_PROTO_SCTP, 0, 65535, -1, NULL, NULL },
	{ "tcp/443", 0, ZT_PROTO_TCP, 443, 443, -1, NULL, NULL },
	{ "udp/53", 0, ZT_PROTO_UDP, 53, 53, -1, NULL, NULL },
	{ "sctp/9", 0, ZT_PROTO_SCTP, 9, 9, -1, NULL, NULL },
	{ "tcp/1", 0, ZT_PROTO_TCP, 1, 1, -1, NULL, NULL },
	{ "tcp/65535", 0, ZT_PROTO_TCP, 65535, 65535, -1, NULL, NULL },
	{ "tcp/8000-8100", 0, ZT_PROTO_TCP, 8000, 8100, -1, NULL, NULL },
	{ "udp/1-65535", 0, ZT_PROTO_UDP, 1, 65535, -1, NULL, NULL },
	{ "tcp/22-22", 0, ZT_PROTO_TCP, 22, 22, -1, "tcp/22", NULL },
	{ "icmp", 0, ZT_PROTO_ICMP, 0, 0, -1, NULL, NULL },
	{ "icmpv6", 0, ZT_PROTO_ICMPV6, 0, 0, -1, NULL, NULL },
	{ "icmp/echo-request", 0, ZT_PROTO_ICMP, 0, 0, 8, NULL, NULL },
	{ "icmp/8", 0, ZT_PROTO_ICMP, 0, 0, 8, "icmp/echo-request", NULL },
	{ "icmp/0", 0, ZT_PROTO_ICMP, 0, 0, 0, "icmp/echo-reply", NULL },
	{ "icmp/255", 0, ZT_PROTO_ICMP, 0, 0, 255, NULL, NULL },
	{ "icmp/address-mask-reply", 0, ZT_PROTO_ICMP, 0, 0, 18, NULL, NULL },
	{ "icmpv6/echo-request", 0, ZT_PROTO_ICMPV6, 0, 0, 128, NULL, NULL },
	{ "icmpv6/128", 0, ZT_PROTO_ICMPV6, 0, 0, 128, "icmpv6/echo-request", NULL },
	{ "icmpv6/nd-neighbor-solicit", 0, ZT_PROTO_ICMPV6, 0, 0, 135, NULL, NULL },
	{ "icmpv6/mld-listener-reduction", 0, ZT_PROTO_ICMPV6, 0, 0, 132,
	  "icmpv6/mld-listener-done", NULL },
	{ "icmpv6/8", 0, ZT_PROTO_ICMPV6, 0, 0, 8, NULL, NULL },
	/* errors */
	{ "", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "TCP/443", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "http", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "443", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "tcp443", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "any/80", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ " tcp/443", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "tcp /443", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "tcp/", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/0", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/65536", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/99999999999999999999", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/+443", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/-443", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/ 443", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/443 ", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/0443", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/https", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/8100-8000", -EINVAL, 0, 0, 0, 0, NULL, "LOW <= HIGH" },
	{ "tcp/0-10", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/10-", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/1-2-3", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "tcp/443/1", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "udp/53,54", -EINVAL, 0, 0, 0, 0, NULL, "port 1-65535" },
	{ "icmp/", -EINVAL, 0, 0, 0, 0, NULL, "ICMP type" },
	{ "icmp/256", -EINVAL, 0, 0, 0, 0, NULL, "ICMP type" },
	{ "icmp/-1", -EINVAL, 0, 0, 0, 0, NULL, "ICMP type" },
	{ "icmp/Echo-Request", -EINVAL, 0, 0, 0, 0, NULL, "ICMP type" },
	{ "icmp/nd-neighbor-solicit", -EINVAL, 0, 0, 0, 0, NULL, "ICMP type" },
	{ "icmpv6/source-quench", -EINVAL, 0, 0, 0, 0, NULL, "ICMPv6 type" },
	{ "icmpv6/1000", -EINVAL, 0, 0, 0, 0, NULL, "ICMPv6 type" },
	{ "icmp6", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
	{ "ipv6-icmp", -EINVAL, 0, 0, 0, 0, NULL, "PROTO/PORT" },
};

START_TEST(test_port_parse)
{
	char buf[64];
	struct zt_port p;
	const char *err = NULL;
	int r;

	memset(&p, 0xaa, sizeof(p));
	r = zt_port_parse(port_cases[_i].in, &p, &err);
	ck_assert_msg(r == port_cases[_i].rc, "'%s': rc %d, expected %d (%s)",
		      port_cases[_i].in, r, port_cases[_i].rc, err ? err : "");
	if (r < 0) {
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, port_cases[_i].err), "'%s': err '%s'",
			      port_cases[_i].in, err);
		return;
	}
	ck_assert_int_eq(p.proto, port_cases[_i].proto);
	ck_assert_uint_eq(p.lo, port_cases[_i].lo);
	ck_assert_uint_eq(p.hi, port_cases[_i].hi);
	ck_assert_int_eq(p.icmp_type, port_cases[_i].icmp_type);
	ck_assert_ptr_null(p.pos.file);
	ck_assert_uint_eq(p.pos.line, 0);
	ck_assert_str_eq(zt_port_fmt(&p, buf, sizeof(buf)),
			 port_cases[_i].fmt ? port_cases[_i].fmt : port_cases[_i].in);
}
END_TEST

/* zt_port_covers */

static const struct {
	const char *rule, *pkt;
	uint8_t family;
	bool covers;
} cover_cases[] = {
	{ "any", "tcp/22", AF_INET, true },
	{ "any", "icmpv6/128", AF_INET6, true },
	{ "any", "any", AF_INET, true },
	{ "tcp", "tcp/22", AF_INET6, true },
	{ "tcp/22", "tcp/22", AF_INET, true },
	{ "tcp/22", "tcp/23", AF_INET, false },
	{ "tcp/22", "udp/22", AF_INET, false },
	{ "udp/53", "tcp/53", AF_INET, false },
	{ "tcp/8000-8100", "tcp/8000", AF_INET, true },
	{ "tcp/8000-8100", "tcp/8100", AF_INET, true },
	{ "tcp/8000-8100", "tcp/8101", AF_INET, false },
	{ "tcp/8000-8100", "tcp/7999", AF_INET, false },
	{ "sctp/9", "sctp/9", AF_INET6, true },
	{ "tcp", "any", AF_INET, false },
	{ "icmp", "any", AF_INET, false },
	{ "icmp", "icmp/8", AF_INET, true },
	{ "icmp", "icmp/8", AF_INET6, false },
	{ "icmp/echo-request", "icmp/8", AF_INET, true },
	{ "icmp/echo-request", "icmp/0", AF_INET, false },
	{ "icmpv6", "icmpv6/128", AF_INET6, true },
	{ "icmpv6", "icmpv6/128", AF_INET, false },
	{ "icmpv6/echo-request", "icmpv6/128", AF_INET6, true },
	{ "icmpv6/echo-request", "icmpv6/129", AF_INET6, false },
	{ "icmp/8", "icmpv6/8", AF_INET6, false },
	{ "icmpv6/128", "icmp/128", AF_INET, false },
	/* a query for "all ICMP types" is covered only by a rule for all */
	{ "icmp/8", "icmp", AF_INET, false },
	{ "icmp", "icmp", AF_INET, true },
};

START_TEST(test_port_covers)
{
	struct zt_port rule, pkt;

	ck_assert_int_eq(zt_port_parse(cover_cases[_i].rule, &rule, NULL), 0);
	ck_assert_int_eq(zt_port_parse(cover_cases[_i].pkt, &pkt, NULL), 0);
	ck_assert_msg(zt_port_covers(&rule, &pkt, cover_cases[_i].family) ==
			      cover_cases[_i].covers,
		      "covers(%s, %s, %s)", cover_cases[_i].rule, cover_cases[_i].pkt,
		      cover_cases[_i].family == AF_INET ? "ipv4" : "ipv6");
}
END_TEST

START_TEST(test_proto_and_icmp_names)
{
	char buf[32];
	struct zt_port p = { .proto = ZT_PROTO_ICMP, .icmp_type = 42 };

	ck_assert_int_eq(zt_proto_number(ZT_PROTO_ANY), 0);
	ck_assert_int_eq(zt_proto_number(ZT_PROTO_TCP), IPPROTO_TCP);
	ck_assert_int_eq(zt_proto_number(ZT_PROTO_UDP), IPPROTO_UDP);
	ck_assert_int_eq(zt_proto_number(ZT_PROTO_SCTP), IPPROTO_SCTP);
	ck_assert_int_eq(zt_proto_number(ZT_PROTO_ICMP), IPPROTO_ICMP);
	ck_assert_int_eq(zt_proto_number(ZT_PROTO_ICMPV6), IPPROTO_ICMPV6);
	ck_assert_str_eq(zt_proto_name(ZT_PROTO_ANY), "any");
	ck_assert_str_eq(zt_proto_name(ZT_PROTO_SCTP), "sctp");
	ck_assert_str_eq(zt_proto_name(ZT_PROTO_ICMPV6), "icmpv6");
	ck_assert_ptr_null(zt_proto_name((enum zt_proto)99));

	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMP, 8), "echo-request");
	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMP, 3), "destination-unreachable");
	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMPV6, 1), "destination-unreachable");
	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMPV6, 134), "nd-router-advert");
	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMPV6, 137), "nd-redirect");
	ck_assert_str_eq(zt_icmp_type_name(ZT_PROTO_ICMPV6, 143), "mld2-listener-report");
	ck_assert_ptr_null(zt_icmp_type_name(ZT_PROTO_ICMP, 1));
	ck_assert_ptr_null(zt_icmp_type_name(ZT_PROTO_ICMP, 128));
	ck_assert_ptr_null(zt_icmp_type_name(ZT_PROTO_ICMPV6, 8));
	ck_assert_ptr_null(zt_icmp_type_name(ZT_PROTO_ICMP, -1));
	ck_assert_ptr_null(zt_icmp_type_name(ZT_PROTO_TCP, 8));

	/* an unnamed type prints as a number */
	ck_assert_str_eq(zt_port_fmt(&p, buf, sizeof(buf)), "icmp/42");
	/* truncation stays terminated */
	ck_assert_int_eq(zt_port_parse("tcp/8000-8100", &p, NULL), 0);
	ck_assert_str_eq(zt_port_fmt(&p, buf, 6), "tcp/8");
}
END_TEST

/* Every name in each table parses back to its number and prints as nft does. */
START_TEST(test_icmp_roundtrip)
{
	static const enum zt_proto protos[] = { ZT_PROTO_ICMP, ZT_PROTO_ICMPV6 };
	char in[32], out[64];
	struct zt_port p;
	unsigned named = 0;

	for (unsigned k = 0; k < ELEMENTSOF(protos); k++)
		for (int t = 0; t < 256; t++) {
			const char *name = zt_icmp_type_name(protos[k], t);

			snprintf(in, sizeof(in), "%s/%d", zt_proto_name(protos[k]), t);
			ck_assert_int_eq(zt_port_parse(in, &p, NULL), 0);
			ck_assert_int_eq(p.icmp_type, t);
			zt_port_fmt(&p, out, sizeof(out));
			if (!name)
				continue;
			named++;
			snprintf(in, sizeof(in), "%s/%s", zt_proto_name(protos[k]), name);
			ck_assert_str_eq(out, in);
			ck_assert_int_eq(zt_port_parse(in, &p, NULL), 0);
			ck_assert_int_eq(p.icmp_type, t);
		}
	/* 15 ICMP names, 18 ICMPv6 numbers (132 has two names) */
	ck_assert_uint_eq(named, 15 + 18);
}
END_TEST

/* Interface patterns */

static const struct {
	const char *in;
	int rc;
	const char *name;
	bool wildcard;
	const char *err;
} ifpat_cases[] = {
	{ "eth0", 0, "eth0", false, NULL },
	{ "vweb*", 0, "vweb", true, NULL },
	{ "wg-onprem", 0, "wg-onprem", false, NULL },
	{ "lo", 0, "lo", false, NULL },
	{ "a", 0, "a", false, NULL },
	{ "123456789012345", 0, "123456789012345", false, NULL },
	{ "123456789012345*", 0, "123456789012345", true, NULL },
	{ "br.100", 0, "br.100", false, NULL },
	{ "...", 0, "...", false, NULL },
	{ ".*", 0, ".", true, NULL },
	{ "veth_a@b", 0, "veth_a@b", false, NULL },
	{ "", -EINVAL, NULL, false, "interface name" },
	{ "*", -EINVAL, NULL, false, "every interface" },
	{ "**", -EINVAL, NULL, false, "'*'" },
	{ "v*eth", -EINVAL, NULL, false, "'*'" },
	{ "*eth", -EINVAL, NULL, false, "'*'" },
	{ "veth**", -EINVAL, NULL, false, "'*'" },
	{ "1234567890123456", -EINVAL, NULL, false, "15 bytes" },
	{ "1234567890123456*", -EINVAL, NULL, false, "15 bytes" },
	{ ".", -EINVAL, NULL, false, "\".\"" },
	{ "..", -EINVAL, NULL, false, "\"..\"" },
	{ "eth0:1", -EINVAL, NULL, false, "':'" },
	{ "a/b", -EINVAL, NULL, false, "'/'" },
	{ "eth 0", -EINVAL, NULL, false, "whitespace" },
	{ " eth0", -EINVAL, NULL, false, "whitespace" },
	{ "eth0\t", -EINVAL, NULL, false, "whitespace" },
	{ "eth\n*", -EINVAL, NULL, false, "whitespace" },
	{ "eth\x7f", -EINVAL, NULL, false, "non-printable" },
	{ "eth\xc3\xa9", -EINVAL, NULL, false, "non-printable" },
	{ "we\"b*", -EINVAL, NULL, false, "'\"'" },
	{ "web\\*", -EINVAL, NULL, false, "'\\\\'" },
};

START_TEST(test_ifpat_parse)
{
	char buf[IFNAMSIZ + 1];
	struct zt_ifpat p;
	const char *err = NULL;
	int r;

	memset(&p, 0xaa, sizeof(p));
	r = zt_ifpat_parse(ifpat_cases[_i].in, &p, &err);
	ck_assert_msg(r == ifpat_cases[_i].rc, "'%s': rc %d, expected %d (%s)",
		      ifpat_cases[_i].in, r, ifpat_cases[_i].rc, err ? err : "");
	if (r < 0) {
		ck_assert_ptr_nonnull(err);
		ck_assert_msg(strstr(err, ifpat_cases[_i].err), "'%s': err '%s'",
			      ifpat_cases[_i].in, err);
		return;
	}
	ck_assert_str_eq(p.name, ifpat_cases[_i].name);
	ck_assert(p.wildcard == ifpat_cases[_i].wildcard);
	ck_assert_ptr_null(p.pos.file);
	ck_assert_str_eq(zt_ifpat_fmt(&p, buf, sizeof(buf)), ifpat_cases[_i].in);
}
END_TEST

static const struct {
	const char *pat, *ifname;
	bool match;
} ifmatch_cases[] = {
	{ "eth0", "eth0", true },
	{ "eth0", "eth01", false },
	{ "eth0", "eth", false },
	{ "eth*", "eth", true },
	{ "eth*", "eth0", true },
	{ "eth*", "et", false },
	{ "eth*", "veth0", false },
	{ "vweb*", "vweb-a1", true },
	{ "Eth*", "eth0", false },
};

START_TEST(test_ifpat_match)
{
	struct zt_ifpat p;

	ck_assert_int_eq(zt_ifpat_parse(ifmatch_cases[_i].pat, &p, NULL), 0);
	ck_assert_msg(zt_ifpat_match(&p, ifmatch_cases[_i].ifname) ==
			      ifmatch_cases[_i].match,
		      "%s ~ %s", ifmatch_cases[_i].pat, ifmatch_cases[_i].ifname);
	ck_assert(!zt_ifpat_match(&p, NULL));
}
END_TEST

static const struct {
	const char *a, *b;
	bool overlap;
	bool a_within_b;	/* every name b matches, a matches: within(a, b) */
	bool b_within_a;
} ifrel_cases[] = {
	{ "fe*", "fe1", true, true, false },
	{ "fe1", "fe1", true, true, true },
	{ "fe1", "fe2", false, false, false },
	{ "fe*", "fe*", true, true, true },
	{ "fe*", "f*", true, false, true },
	{ "fe*", "fx*", false, false, false },
	{ "fe*", "f", false, false, false },
	{ "fe*", "fe", true, true, false },
	{ "vweb*", "vdb*", false, false, false },
	{ "wg*", "wg-onprem", true, true, false },
	{ "veth1", "veth10", false, false, false },
	{ "veth1*", "veth10", true, true, false },
	/* a 15-byte prefix can match one name only */
	{ "123456789012345*", "123456789012345", true, true, true },
	{ "12345678901234*", "12345678901234", true, true, false },
};

START_TEST(test_ifpat_relations)
{
	struct zt_ifpat a, b;

	ck_assert_int_eq(zt_ifpat_parse(ifrel_cases[_i].a, &a, NULL), 0);
	ck_assert_int_eq(zt_ifpat_parse(ifrel_cases[_i].b, &b, NULL), 0);
	ck_assert_msg(zt_ifpat_overlap(&a, &b) == ifrel_cases[_i].overlap,
		      "overlap(%s, %s)", ifrel_cases[_i].a, ifrel_cases[_i].b);
	ck_assert_msg(zt_ifpat_overlap(&b, &a) == ifrel_cases[_i].overlap,
		      "overlap(%s, %s)", ifrel_cases[_i].b, ifrel_cases[_i].a);
	ck_assert_msg(zt_ifpat_within(&a, &b) == ifrel_cases[_i].a_within_b,
		      "within(%s, %s)", ifrel_cases[_i].a, ifrel_cases[_i].b);
	ck_assert_msg(zt_ifpat_within(&b, &a) == ifrel_cases[_i].b_within_a,
		      "within(%s, %s)", ifrel_cases[_i].b, ifrel_cases[_i].a);
}
END_TEST

static Suite *net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc;

	tc = tcase_create("cidr");
	tcase_add_loop_test(tc, test_cidr_parse, 0, ELEMENTSOF(cidr_cases));
	tcase_add_test(tc, test_cidr_parse_misc);
	tcase_add_loop_test(tc, test_cidr_relations, 0, ELEMENTSOF(rel_cases));
	tcase_add_test(tc, test_cidr_equal_ignores_pos);
	tcase_add_loop_test(tc, test_cidr_contains_addr, 0, ELEMENTSOF(caddr_cases));
	tcase_add_loop_test(tc, test_linklocal, 0, ELEMENTSOF(ll_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("port");
	tcase_add_loop_test(tc, test_port_parse, 0, ELEMENTSOF(port_cases));
	tcase_add_loop_test(tc, test_port_covers, 0, ELEMENTSOF(cover_cases));
	tcase_add_test(tc, test_proto_and_icmp_names);
	tcase_add_test(tc, test_icmp_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("ifpat");
	tcase_add_loop_test(tc, test_ifpat_parse, 0, ELEMENTSOF(ifpat_cases));
	tcase_add_loop_test(tc, test_ifpat_match, 0, ELEMENTSOF(ifmatch_cases));
	tcase_add_loop_test(tc, test_ifpat_relations, 0, ELEMENTSOF(ifrel_cases));
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
