/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctindex.c and the event parser it uses
 * (zt_ct_parse_event): NEW and DESTROY messages crafted with libmnl, NAT
 * (an address only in the reply tuple), host and shorter prefixes, a
 * DESTROY that must match id and tuple, a full index, a tuple too long,
 * and a random add/delete sequence checked against a plain list.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "ctindex.h"

static void put_tuple(struct nlmsghdr *nlh, int type, int fam, const char *src, const char *dst, uint16_t sport,
		      uint16_t dport)
{
	struct nlattr *t = mnl_attr_nest_start(nlh, type), *ip, *pr;
	uint8_t a[16];

	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	inet_pton(fam, src, a);
	mnl_attr_put(nlh, fam == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, fam == AF_INET ? 4 : 16, a);
	inet_pton(fam, dst, a);
	mnl_attr_put(nlh, fam == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, fam == AF_INET ? 4 : 16, a);
	mnl_attr_nest_end(nlh, ip);
	pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, pr);
	mnl_attr_nest_end(nlh, t);
}

/* A NEW or DELETE message: src:sport -> dst:dport, the reply from rsrc (NAT when it is not dst). */
static struct nlmsghdr *craft(char *buf, uint8_t type, int fam, const char *src, const char *dst, const char *rsrc,
			      uint16_t sport, uint32_t id)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, 1024));
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = (uint8_t)fam;
	g->version = NFNETLINK_V0;
	put_tuple(nlh, CTA_TUPLE_ORIG, fam, src, dst, sport, 80);
	put_tuple(nlh, CTA_TUPLE_REPLY, fam, rsrc, src, 80, sport);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(id));
	return nlh;
}

static struct zt_ct_entry entry(char *buf, uint8_t type, int fam, const char *src, const char *dst, const char *rsrc,
				uint16_t sport, uint32_t id)
{
	struct nlmsghdr *nlh = craft(buf, type, fam, src, dst, rsrc, sport, id);
	struct zt_ct_entry e;

	ck_assert_int_eq(zt_ct_parse_event(nlh, nlh->nlmsg_len, &e), 0);
	return e;
}

static struct zt_cidr cidr(const char *s)
{
	struct zt_cidr c;
	const char *err;

	ck_assert_int_eq(zt_cidr_parse(s, &c, &err), 0);
	return c;
}

static ssize_t count(struct zt_ctix *ix, const char *p)
{
	struct zt_cidr c = cidr(p);
	struct zt_ct_entry *e = NULL;
	ssize_t n = zt_ctix_match(ix, &c, 1, &e);

	free(e);
	return n;
}

START_TEST(test_add_match_del)
{
	struct zt_ctix *ix = zt_ctix_new(1000);
	char buf[1024], b2[1024];
	struct zt_ct_entry a = entry(buf, IPCTNL_MSG_CT_NEW, AF_INET, "198.51.100.5", "192.0.2.10", "192.0.2.10", 40000, 1);
	struct zt_ct_entry d;

	ck_assert_int_eq(zt_ctix_add(ix, &a), 0);
	ck_assert_int_eq(zt_ctix_add(ix, &a), 0);	/* again: known */
	ck_assert_uint_eq(zt_ctix_size(ix), 1);
	a = entry(buf, IPCTNL_MSG_CT_NEW, AF_INET, "198.51.100.6", "192.0.2.10", "203.0.113.9", 40001, 2);
	ck_assert_int_eq(zt_ctix_add(ix, &a), 0);
	a = entry(buf, IPCTNL_MSG_CT_NEW, AF_INET6, "2001:db8::5", "2001:db8:1::1", "2001:db8:1::1", 40002, 3);
	ck_assert_int_eq(zt_ctix_add(ix, &a), 0);
	ck_assert_uint_eq(zt_ctix_size(ix), 3);
	ck_assert_int_eq(count(ix, "198.51.100.5/32"), 1);
	ck_assert_int_eq(count(ix, "192.0.2.10/32"), 2);
	/* NAT: 203.0.113.9 only in the reply tuple */
	ck_assert_int_eq(count(ix, "203.0.113.9/32"), 1);
	ck_assert_int_eq(count(ix, "198.51.100.0/24"), 2);
	ck_assert_int_eq(count(ix, "2001:db8::5/128"), 1);
	ck_assert_int_eq(count(ix, "2001:db8::/32"), 1);
	ck_assert_int_eq(count(ix, "198.51.100.7/32"), 0);
	ck_assert_int_eq(count(ix, "0.0.0.0/0"), 2);
	/* two prefixes matching one entry: returned once */
	{
		struct zt_cidr two[2] = { cidr("198.51.100.5/32"), cidr("192.0.2.10/32") };
		struct zt_ct_entry *e = NULL;

		ck_assert_int_eq(zt_ctix_match(ix, two, 2, &e), 2);
		ck_assert(e[0].orig && e[0].orig_len > 0);
		free(e);
	}
	/* a DESTROY with another id is another connection (the tuple reused) */
	d = entry(b2, IPCTNL_MSG_CT_DELETE, AF_INET, "198.51.100.5", "192.0.2.10", "192.0.2.10", 40000, 99);
	zt_ctix_del(ix, &d);
	ck_assert_uint_eq(zt_ctix_size(ix), 3);
	d = entry(b2, IPCTNL_MSG_CT_DELETE, AF_INET, "198.51.100.5", "192.0.2.10", "192.0.2.10", 40000, 1);
	zt_ctix_del(ix, &d);
	ck_assert_uint_eq(zt_ctix_size(ix), 2);
	ck_assert_int_eq(count(ix, "198.51.100.5/32"), 0);
	ck_assert_int_eq(count(ix, "192.0.2.10/32"), 1);
	zt_ctix_del(ix, &d);				/* unknown: nothing */
	ck_assert_uint_eq(zt_ctix_size(ix), 2);
	zt_ctix_clear(ix);
	ck_assert_uint_eq(zt_ctix_size(ix), 0);
	ck_assert_int_eq(count(ix, "0.0.0.0/0"), 0);
	zt_ctix_free(ix);
}
END_TEST

START_TEST(test_full_and_long)
{
	struct zt_ctix *ix = zt_ctix_new(2);
	char buf[1024];
	struct zt_ct_entry e;

	for (uint32_t i = 0; i < 2; i++) {
		e = entry(buf, IPCTNL_MSG_CT_NEW, AF_INET, "198.51.100.5", "192.0.2.10", "192.0.2.10", (uint16_t)(1000 + i), i);
		ck_assert_int_eq(zt_ctix_add(ix, &e), 0);
	}
	e = entry(buf, IPCTNL_MSG_CT_NEW, AF_INET, "198.51.100.5", "192.0.2.10", "192.0.2.10", 3000, 7);
	ck_assert_int_eq(zt_ctix_add(ix, &e), -E2BIG);
	e.orig_len = ZT_CTIX_ORIG_MAX + 1;
	ck_assert_int_eq(zt_ctix_add(ix, &e), -E2BIG);
	e.orig = NULL;
	ck_assert_int_eq(zt_ctix_add(ix, &e), -EINVAL);
	zt_ctix_free(ix);
	ck_assert_ptr_null(zt_ctix_free(NULL));
}
END_TEST

/* Thousands of random adds and deletes (slots reused, buckets grown) against a plain list. */
START_TEST(test_random)
{
	enum { N = 3000 };
	struct zt_ctix *ix = zt_ctix_new(100000);
	static bool live[N];
	char buf[1024], src[32], rs[32];

	memset(live, 0, sizeof(live));
	srand(7);
	for (int step = 0; step < 20000; step++) {
		int i = rand() % N;
		struct zt_ct_entry e;

		snprintf(src, sizeof(src), "198.51.100.%d", i % 200);
		snprintf(rs, sizeof(rs), "203.0.113.%d", i % 50);
		e = entry(buf, live[i] ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW, AF_INET, src, "192.0.2.1", rs,
			  (uint16_t)(1024 + i), (uint32_t)i * 7919u);
		if (live[i])
			zt_ctix_del(ix, &e);
		else
			ck_assert_int_eq(zt_ctix_add(ix, &e), 0);
		live[i] = !live[i];
	}
	for (int a = 0; a < 200; a += 17) {
		int want = 0;

		for (int i = 0; i < N; i++)
			want += live[i] && i % 200 == a;
		snprintf(src, sizeof(src), "198.51.100.%d/32", a);
		ck_assert_int_eq(count(ix, src), want);
	}
	for (int a = 0; a < 50; a += 7) {
		int want = 0;

		for (int i = 0; i < N; i++)
			want += live[i] && i % 50 == a;
		snprintf(rs, sizeof(rs), "203.0.113.%d/32", a);
		ck_assert_int_eq(count(ix, rs), want);
	}
	{
		int want = 0;

		for (int i = 0; i < N; i++)
			want += live[i];
		ck_assert_uint_eq(zt_ctix_size(ix), (size_t)want);
		ck_assert_int_eq(count(ix, "192.0.2.1/32"), want);
		ck_assert_int_eq(count(ix, "198.51.100.0/24"), want);
	}
	zt_ctix_free(ix);
}
END_TEST

static Suite *ctindex_suite(void)
{
	Suite *s = suite_create("ctindex");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_add_match_del);
	tcase_add_test(tc, test_full_and_long);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctindex_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
