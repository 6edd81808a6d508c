/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/ctevent.c: conntrack NEW and DESTROY events crafted
 * with libmnl (IPv4 and IPv6, counters, ICMP), and hostile ones (short
 * attributes, missing tuple, wrong family, forged lengths), which must be
 * refused without reading past the message.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "ctevent.h"

struct craft {
	uint8_t type;			/* IPCTNL_MSG_CT_NEW or _DELETE */
	uint8_t family;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	int icmp_type;			/* -1: none */
	uint32_t mark;
	bool counters;
	uint64_t pk[2], by[2];
	bool no_tuple, short_mark, short_port, bad_counter, v4_in_v6;
};

static struct nlmsghdr *craft(char *buf, const struct craft *c)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	uint8_t a[16];

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | c->type;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = c->family;
	g->version = NFNETLINK_V0;
	if (!c->no_tuple) {
		struct nlattr *t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG), *ip, *pr;
		int fam = c->v4_in_v6 ? AF_INET : c->family;

		ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		inet_pton(fam, c->src, a);
		mnl_attr_put(nlh, fam == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, fam == AF_INET ? 4 : 16, a);
		inet_pton(fam, c->dst, a);
		mnl_attr_put(nlh, fam == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, fam == AF_INET ? 4 : 16, a);
		mnl_attr_nest_end(nlh, ip);
		pr = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
		mnl_attr_put_u8(nlh, CTA_PROTO_NUM, c->proto);
		if (c->icmp_type >= 0) {
			mnl_attr_put_u8(nlh, c->family == AF_INET ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE,
					(uint8_t)c->icmp_type);
		} else if (c->short_port) {
			mnl_attr_put_u8(nlh, CTA_PROTO_SRC_PORT, 1);
		} else {
			mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(c->sport));
			mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(c->dport));
		}
		mnl_attr_nest_end(nlh, pr);
		mnl_attr_nest_end(nlh, t);
	}
	if (c->short_mark)
		mnl_attr_put_u16(nlh, CTA_MARK, 1);
	else
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(c->mark));
	mnl_attr_put_u32(nlh, CTA_ID, htonl(0x1234));
	if (c->counters) {
		for (int d = 0; d < 2; d++) {
			struct nlattr *n = mnl_attr_nest_start(nlh, d ? CTA_COUNTERS_REPLY : CTA_COUNTERS_ORIG);

			if (c->bad_counter)
				mnl_attr_put_u32(nlh, CTA_COUNTERS_PACKETS, 1);
			else
				mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(c->pk[d]));
			mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(c->by[d]));
			mnl_attr_nest_end(nlh, n);
		}
	}
	return nlh;
}

START_TEST(test_new_v4)
{
	char buf[1024];
	struct craft c = { .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "198.51.100.2",
			   .dst = "198.51.100.130", .proto = IPPROTO_TCP, .sport = 40000, .dport = 8080,
			   .icmp_type = -1, .mark = 0x80001234 };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct zt_ct_event e;
	uint8_t a[4];

	ck_assert_int_eq(zt_ctevent_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert_int_eq(e.type, ZT_CT_EVENT_NEW);
	ck_assert_int_eq(e.family, AF_INET);
	ck_assert_int_eq(e.proto, IPPROTO_TCP);
	ck_assert(e.has_ports);
	ck_assert_uint_eq(e.sport, 40000);
	ck_assert_uint_eq(e.dport, 8080);
	ck_assert_uint_eq(e.mark, 0x80001234);
	ck_assert_uint_eq(e.id, 0x1234);
	ck_assert(!e.has_counters);
	inet_pton(AF_INET, "198.51.100.130", a);
	ck_assert_int_eq(memcmp(e.daddr, a, 4), 0);
}
END_TEST

START_TEST(test_destroy_v6_counters)
{
	char buf[1024];
	struct craft c = { .type = IPCTNL_MSG_CT_DELETE, .family = AF_INET6, .src = "2001:db8::1",
			   .dst = "2001:db8::2", .proto = IPPROTO_UDP, .sport = 5353, .dport = 53,
			   .icmp_type = -1, .mark = 7, .counters = true, .pk = { 3, 2 },
			   .by = { 180, 0xffffffffffull } };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct zt_ct_event e;
	uint8_t a[16];

	ck_assert_int_eq(zt_ctevent_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert_int_eq(e.type, ZT_CT_EVENT_DESTROY);
	ck_assert(e.has_counters);
	ck_assert_uint_eq(e.packets[0], 3);
	ck_assert_uint_eq(e.packets[1], 2);
	ck_assert_uint_eq(e.bytes[0], 180);
	ck_assert_uint_eq(e.bytes[1], 0xffffffffffull);
	inet_pton(AF_INET6, "2001:db8::1", a);
	ck_assert_int_eq(memcmp(e.saddr, a, 16), 0);
}
END_TEST

START_TEST(test_icmp)
{
	char buf[1024];
	struct craft c = { .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2",
			   .proto = IPPROTO_ICMP, .icmp_type = 8 };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct zt_ct_event e;

	ck_assert_int_eq(zt_ctevent_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert(e.has_icmp);
	ck_assert(!e.has_ports);
	ck_assert_uint_eq(e.icmp_type, 8);
}
END_TEST

static const struct craft bad_cases[] = {
	{ .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2", .icmp_type = -1,
	  .no_tuple = true },
	{ .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2", .icmp_type = -1,
	  .short_mark = true },
	{ .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2", .icmp_type = -1,
	  .proto = IPPROTO_TCP, .short_port = true },
	{ .type = IPCTNL_MSG_CT_DELETE, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2", .icmp_type = -1,
	  .counters = true, .bad_counter = true },
	/* IPv4 addresses in an IPv6 event: 4 bytes where 16 belong. */
	{ .type = IPCTNL_MSG_CT_NEW, .family = AF_INET6, .src = "192.0.2.1", .dst = "192.0.2.2", .icmp_type = -1,
	  .v4_in_v6 = true },
};

START_TEST(test_malformed)
{
	char buf[1024];
	struct nlmsghdr *nlh = craft(buf, &bad_cases[_i]);
	struct zt_ct_event e;

	ck_assert_int_eq(zt_ctevent_parse(nlh, nlh->nlmsg_len, &e), -EBADMSG);
}
END_TEST

START_TEST(test_other_and_truncated)
{
	char buf[1024];
	struct craft c = { .type = IPCTNL_MSG_CT_NEW, .family = AF_INET, .src = "192.0.2.1", .dst = "192.0.2.2",
			   .proto = IPPROTO_TCP, .sport = 1, .dport = 2, .icmp_type = -1 };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct zt_ct_event e;
	uint32_t len = nlh->nlmsg_len;

	/* The buffer is shorter than the message says; a length below a header. */
	ck_assert_int_eq(zt_ctevent_parse(nlh, len - 1, &e), -EBADMSG);
	nlh->nlmsg_len = 8;
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -EBADMSG);
	nlh->nlmsg_len = 0xffffffffu;
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -EBADMSG);
	/* Only the header and no nfgenmsg. */
	nlh->nlmsg_len = sizeof(*nlh);
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -EBADMSG);
	nlh->nlmsg_len = len;
	/* Another subsystem, another message type, another family: not an event of ours. */
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | IPCTNL_MSG_CT_NEW;
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -ENOMSG);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -ENOMSG);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
	((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family = AF_BRIDGE;
	ck_assert_int_eq(zt_ctevent_parse(nlh, len, &e), -ENOMSG);
}
END_TEST

/* Random bytes where attributes should be: refused or parsed, never a crash (ASan/valgrind watch). */
START_TEST(test_fuzz)
{
	/* Zeroed: libmnl 1.0.4 leaves attribute padding unwritten, and a mutated length may read it. */
	char buf[1024] = { 0 };
	struct craft c = { .type = IPCTNL_MSG_CT_DELETE, .family = AF_INET6, .src = "2001:db8::1",
			   .dst = "2001:db8::2", .proto = IPPROTO_TCP, .sport = 1, .dport = 2, .icmp_type = -1,
			   .counters = true };
	struct nlmsghdr *nlh = craft(buf, &c);
	struct zt_ct_event e;
	unsigned seed = (unsigned)_i * 2654435761u;
	size_t hdr = mnl_nlmsg_size(sizeof(struct nfgenmsg));

	for (size_t k = 0; k < 8; k++) {
		seed = seed * 1103515245u + 12345u;
		((uint8_t *)nlh)[hdr + seed % (nlh->nlmsg_len - hdr)] = (uint8_t)(seed >> 16);
	}
	/* An exact-size copy: reading past the message is an invalid read under ASan and valgrind. */
	struct nlmsghdr *m = malloc(nlh->nlmsg_len);

	ck_assert_ptr_nonnull(m);
	memcpy(m, nlh, nlh->nlmsg_len);
	(void)zt_ctevent_parse(m, m->nlmsg_len, &e);
	free(m);
}
END_TEST

static Suite *ctevent_suite(void)
{
	Suite *s = suite_create("ctevent");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_new_v4);
	tcase_add_test(tc, test_destroy_v6_counters);
	tcase_add_test(tc, test_icmp);
	tcase_add_loop_test(tc, test_malformed, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_other_and_truncated);
	tcase_add_loop_test(tc, test_fuzz, 0, 300);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctevent_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
