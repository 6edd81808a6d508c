/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/conntrack.c: ctnetlink entries crafted with libmnl
 * (parsed, matched against prefixes, turned into delete requests, and
 * refused when malformed), and, as root, a real flush in a fresh network
 * namespace.
 */
#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include "conntrack.h"

struct tuple {
	const char *src, *dst;
	uint16_t sport, dport;
};

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, uint8_t family, const struct tuple *t, int bad_len)
{
	struct nlattr *nt = mnl_attr_nest_start(nlh, type), *ip, *proto;
	uint8_t a[16];
	size_t len = family == AF_INET ? 4 : 16;

	ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	inet_pton(family, t->src, a);
	mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, len - (size_t)bad_len, a);
	inet_pton(family, t->dst, a);
	mnl_attr_put(nlh, family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, len, a);
	mnl_attr_nest_end(nlh, ip);
	proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
	mnl_attr_nest_end(nlh, proto);
	mnl_attr_nest_end(nlh, nt);
}

static struct nlmsghdr *craft(char *buf, uint16_t msg, uint8_t family, const struct tuple *orig,
			      const struct tuple *reply, int bad_len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	if (orig)
		put_tuple(nlh, CTA_TUPLE_ORIG, family, orig, bad_len);
	if (reply)
		put_tuple(nlh, CTA_TUPLE_REPLY, family, reply, 0);
	mnl_attr_put_u32(nlh, CTA_ID, htonl(4242));
	mnl_attr_put_u16(nlh, CTA_ZONE, htons(7));
	return nlh;
}

static struct zt_cidr cidr(const char *s)
{
	struct zt_cidr c;

	ck_assert_int_eq(zt_cidr_parse(s, &c, NULL), 0);
	return c;
}

/* NAT: the reply comes from another address than the original destination. */
static const struct tuple o4 = { "198.51.100.5", "192.0.2.10", 1000, 53 };
static const struct tuple r4 = { "192.0.2.99", "198.51.100.5", 53, 1000 };
static const struct tuple o6 = { "2001:db8::5", "2001:db8:1::10", 1000, 53 };

static const struct {
	const char *pfx;
	bool in;
} match[] = {
	{ "198.51.100.5/32", true },	/* original source */
	{ "192.0.2.10/32", true },	/* original destination */
	{ "192.0.2.96/29", true },	/* the reply's source only (NAT) */
	{ "198.51.100.0/24", true },
	{ "198.51.100.6/32", false },
	{ "203.0.113.0/24", false },
	{ "::/0", false },		/* another family */
};

START_TEST(test_match)
{
	char buf[1024] = {};
	struct nlmsghdr *nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, &r4, 0);
	struct zt_ct_entry e;
	struct zt_cidr c = cidr(match[_i].pfx);

	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert_uint_eq(e.family, AF_INET);
	ck_assert(e.has_id && e.has_zone);
	ck_assert_int_eq(zt_ct_entry_in(&e, &c, 1), match[_i].in);
}
END_TEST

START_TEST(test_ipv6)
{
	char buf[1024] = {};
	struct nlmsghdr *nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET6, &o6, NULL, 0);
	struct zt_ct_entry e;
	struct zt_cidr c[] = { cidr("192.0.2.0/24"), cidr("2001:db8:1::/48") };

	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert(!zt_ct_entry_in(&e, c, 1));
	ck_assert(zt_ct_entry_in(&e, c, 2));
}
END_TEST

START_TEST(test_delete_msg)
{
	char buf[1024] = {}, out[512];
	struct nlmsghdr *nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, &r4, 0), *del;
	struct zt_ct_entry e;
	const struct nlattr *a;
	bool orig = false, id = false, zone = false;
	int len;

	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert_int_eq(zt_ct_delete_msg(&e, 9, out, 16), -ENOBUFS);
	len = zt_ct_delete_msg(&e, 9, out, sizeof(out));
	ck_assert_int_gt(len, 0);
	del = (struct nlmsghdr *)out;
	ck_assert_uint_eq(del->nlmsg_len, (unsigned)len);
	ck_assert_uint_eq(del->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE);
	ck_assert_uint_eq(del->nlmsg_seq, 9);
	ck_assert_uint_eq(((struct nfgenmsg *)mnl_nlmsg_get_payload(del))->nfgen_family, AF_INET);
	mnl_attr_for_each(a, del, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_ORIG:
			/* The very bytes the kernel described the entry with. */
			ck_assert_uint_eq(a->nla_len, e.orig_len);
			ck_assert_mem_eq(a, e.orig, e.orig_len);
			orig = true;
			break;
		case CTA_ID:
			ck_assert_uint_eq(ntohl(mnl_attr_get_u32(a)), 4242);
			id = true;
			break;
		case CTA_ZONE:
			ck_assert_uint_eq(ntohs(mnl_attr_get_u16(a)), 7);
			zone = true;
			break;
		default:
			ck_abort_msg("unexpected attribute %u", mnl_attr_get_type(a));
		}
	}
	ck_assert(orig && id && zone);
}
END_TEST

START_TEST(test_unlabel_msg)
{
	char buf[1024] = {}, out[512];
	struct nlmsghdr *nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, &r4, 0), *upd;
	/* bits 120 and 123 of 128, and another tool's bit 3 */
	const uint32_t labels[4] = { 0x8, 0, 0, 0x09000000 }, mask[4] = { 0, 0, 0, 0x0f000000 };
	static const uint32_t zero[4];
	struct zt_ct_entry e;
	const struct nlattr *a;
	bool orig = false, zone = false, lab = false, lmask = false;
	int len;

	mnl_attr_put(nlh, CTA_LABELS, sizeof(labels), labels);
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), 0);
	ck_assert(e.has_labels);
	ck_assert_mem_eq(e.labels, labels, sizeof(labels));
	ck_assert_int_eq(zt_ct_unlabel_msg(&e, mask, 9, out, 32), -ENOBUFS);
	len = zt_ct_unlabel_msg(&e, mask, 9, out, sizeof(out));
	ck_assert_int_gt(len, 0);
	upd = (struct nlmsghdr *)out;
	ck_assert_uint_eq(upd->nlmsg_len, (unsigned)len);
	ck_assert_uint_eq(upd->nlmsg_type, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW);
	/* An update of that entry, never a creation. */
	ck_assert_uint_eq(upd->nlmsg_flags, NLM_F_REQUEST);
	mnl_attr_for_each(a, upd, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_ORIG:
			ck_assert_mem_eq(a, e.orig, e.orig_len);
			orig = true;
			break;
		case CTA_ZONE:
			ck_assert_uint_eq(ntohs(mnl_attr_get_u16(a)), 7);
			zone = true;
			break;
		case CTA_LABELS:
			ck_assert_uint_eq(mnl_attr_get_payload_len(a), sizeof(zero));
			ck_assert_mem_eq(mnl_attr_get_payload(a), zero, sizeof(zero));
			lab = true;
			break;
		case CTA_LABELS_MASK:
			/* Only the bits asked for: another tool's bit 3 is left as it is. */
			ck_assert_uint_eq(mnl_attr_get_payload_len(a), sizeof(mask));
			ck_assert_mem_eq(mnl_attr_get_payload(a), mask, sizeof(mask));
			lmask = true;
			break;
		default:
			ck_abort_msg("unexpected attribute %u", mnl_attr_get_type(a));
		}
	}
	ck_assert(orig && zone && lab && lmask);
}
END_TEST

START_TEST(test_labels_malformed)
{
	char buf[1024] = {};
	struct nlmsghdr *nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, &r4, 0);
	struct zt_ct_entry e;

	/* Not whole 32-bit words. */
	mnl_attr_put(nlh, CTA_LABELS, 3, "abc");
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), -EBADMSG);
}
END_TEST

START_TEST(test_malformed)
{
	char buf[1024] = {};
	struct nlmsghdr *nlh;
	struct zt_ct_entry e;

	/* An IPv4 address of three bytes. */
	nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, NULL, 1);
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), -EBADMSG);
	/* No original tuple. */
	nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, NULL, &r4, 0);
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), -EBADMSG);
	/* Shorter than it says. */
	nlh = craft(buf, IPCTNL_MSG_CT_NEW, AF_INET, &o4, NULL, 0);
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len - 1, &e), -EBADMSG);
	/* Not an entry. */
	nlh = craft(buf, IPCTNL_MSG_CT_DELETE, AF_INET, &o4, NULL, 0);
	ck_assert_int_eq(zt_ct_parse(nlh, nlh->nlmsg_len, &e), -ENOMSG);
}
END_TEST

/* ---- as root: a real flush in a namespace of our own ---- */

static int ct_request(uint16_t msg, uint16_t flags, const struct tuple *o, const struct tuple *r, int *count)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;
	int ret = 0;

	/* Attribute padding goes to the kernel as it is in buf. */
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = 1;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_INET;
	if (o) {
		put_tuple(nlh, CTA_TUPLE_ORIG, AF_INET, o, 0);
		put_tuple(nlh, CTA_TUPLE_REPLY, AF_INET, r, 0);
		mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(600));
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		ret = -errno;
	for (*count = 0; ret == 0;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		const struct nlmsghdr *m;
		int rest = (int)n;

		if (n < 0) {
			ret = -errno;
			break;
		}
		for (m = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(m, rest); m = mnl_nlmsg_next(m, &rest)) {
			if (m->nlmsg_type == NLMSG_DONE)
				goto out;
			if (m->nlmsg_type == NLMSG_ERROR) {
				ret = ((const struct nlmsgerr *)mnl_nlmsg_get_payload(m))->error;
				goto out;
			}
			(*count)++;
		}
	}
out:
	mnl_socket_close(nl);
	return ret;
}

START_TEST(test_kernel_flush)
{
	static const struct tuple a = { "198.51.100.5", "192.0.2.10", 1000, 53 };
	static const struct tuple ar = { "192.0.2.10", "198.51.100.5", 53, 1000 };
	static const struct tuple b = { "198.51.100.6", "192.0.2.10", 1000, 53 };
	static const struct tuple br = { "192.0.2.10", "198.51.100.6", 53, 1000 };
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;		/* the kernel half needs root; the rest ran */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct zt_cidr moved;
		struct zt_ct_stats st = {};
		int n = 0, k;

		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "kernel test skipped: no network namespace of our own\n");
			_exit(77);
		}
		zt_cidr_parse("198.51.100.5/32", &moved, NULL);
		k = ct_request(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, &a, &ar, &n);
		if (k == -EOPNOTSUPP || k == -ENOENT || k == -EPROTONOSUPPORT) {
			fprintf(stderr, "kernel test skipped: no conntrack here (%s)\n", strerror(-k));
			_exit(77);
		}
		if (k < 0 || ct_request(IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL, &b, &br, &n) < 0)
			_exit(2);
		if (zt_ct_flush_prefixes(&moved, 1, &st) < 0 || st.deleted != 1 || st.scanned != 2)
			_exit(3);
		/* The other connection stays. */
		if (ct_request(IPCTNL_MSG_CT_GET, NLM_F_DUMP, NULL, NULL, &n) < 0 || n != 1)
			_exit(4);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		return;
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conntrack");
	TCase *tc = tcase_create("messages");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_match, 0, ELEMENTSOF(match));
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_delete_msg);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_unlabel_msg);
	tcase_add_test(tc, test_labels_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernel");
	tcase_add_test(tc, test_kernel_flush);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
