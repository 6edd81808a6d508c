/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/nfmon.c: nf_tables notifications crafted with libmnl
 * folded into transactions (ours, someone else's, other tables, deletion,
 * malformed), and, as root, a real foreign change seen in a fresh network
 * namespace.
 */
#include <arpa/inet.h>
#include <check.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/wait.h>
#include "nfmon.h"

static struct nlmsghdr *obj_msg(char *buf, uint16_t type, uint8_t family, const char *table, uint32_t portid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	nlh->nlmsg_pid = portid;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	if (table)
		mnl_attr_put_strz(nlh, 1 /* NFTA_*_TABLE */, table);
	return nlh;
}

static struct nlmsghdr *gen_msg(char *buf, uint32_t genid, uint32_t pid, const char *comm, uint32_t portid)
{
	struct nlmsghdr *nlh = obj_msg(buf, NFT_MSG_NEWGEN, AF_UNSPEC, NULL, portid);

	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(genid));
	if (pid)
		mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(pid));
	if (comm)
		mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, comm);
	return nlh;
}

static int feed(struct zt_nfmon_parser *p, struct nlmsghdr *nlh, struct zt_nfmon_event *ev)
{
	return zt_nfmon_feed(p, nlh, nlh->nlmsg_len, ev);
}

START_TEST(test_foreign_change)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET, "ztseg", 77), &ev), 0);
	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, "ztseg", 77), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 12, 4321, "nft", 77), &ev), 1);
	ck_assert_uint_eq(ev.genid, 12);
	ck_assert_uint_eq(ev.portid, 77);
	ck_assert_uint_eq(ev.pid, 4321);
	ck_assert_str_eq(ev.comm, "nft");
	ck_assert_uint_eq(ev.changes, 2);
	ck_assert(!ev.table_deleted && !ev.mixed);
	/* The next transaction starts afresh. */
	ck_assert_int_eq(feed(&p, gen_msg(buf, 13, 1, "x", 5), &ev), 0);
}
END_TEST

/* Transactions that do not touch table inet ztseg report nothing. */
static const struct {
	uint16_t type;
	uint8_t family;
	const char *table;
} others[] = {
	{ NFT_MSG_NEWRULE, NFPROTO_INET, "filter" },
	{ NFT_MSG_NEWRULE, NFPROTO_IPV4, "filter" },
	{ NFT_MSG_DELTABLE, NFPROTO_BRIDGE, "filter" },
	{ NFT_MSG_DELTABLE, NFPROTO_NETDEV, "ztseg" },
	{ NFT_MSG_GETRULE, NFPROTO_INET, "ztseg" },	/* reads are not changes */
	{ NFT_MSG_NEWCHAIN, NFPROTO_INET, NULL },
};

START_TEST(test_other_tables)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, others[_i].type, others[_i].family, others[_i].table, 9), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 3, 99, "nft", 9), &ev), 0);
}
END_TEST

/* The feed tables ip and ip6 ztseg are ours too: reported, marked feeds, never "deleted". */
START_TEST(test_feed_tables)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_DELTABLE, _i ? NFPROTO_IPV6 : NFPROTO_IPV4, "ztseg", 9), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 3, 99, "nft", 9), &ev), 1);
	ck_assert(ev.feeds);
	ck_assert(!ev.table_deleted);
}
END_TEST

/* Table bridge ztseg (bridged workloads) is ours too: reported as bridge, deleted or changed. */
START_TEST(test_bridge_table)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_DELRULE, NFPROTO_BRIDGE, "ztseg", 9), &ev), 0);
	if (_i)
		ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_DELTABLE, NFPROTO_BRIDGE, "ztseg", 9), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 3, 99, "nft", 9), &ev), 1);
	ck_assert(ev.bridge);
	ck_assert(!ev.inet && !ev.feeds && !ev.table_deleted);
	ck_assert(ev.bridge_deleted == (_i == 1));
	ck_assert_uint_eq(ev.changes, 1 + _i);
	/* One transaction over inet and bridge: both said. */
	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET, "ztseg", 9), &ev), 0);
	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWCHAIN, NFPROTO_BRIDGE, "ztseg", 9), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 4, 99, "nft", 9), &ev), 1);
	ck_assert(ev.bridge && ev.inet && !ev.bridge_deleted);
}
END_TEST

START_TEST(test_deleted)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_DELRULE, NFPROTO_INET, "ztseg", 8), &ev), 0);
	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_DELTABLE, NFPROTO_INET, "ztseg", 8), &ev), 0);
	/* An old kernel without the process attributes. */
	ck_assert_int_eq(feed(&p, gen_msg(buf, 40, 0, NULL, 8), &ev), 1);
	ck_assert(ev.table_deleted);
	ck_assert_uint_eq(ev.pid, 0);
	ck_assert_str_eq(ev.comm, "");
}
END_TEST

START_TEST(test_comm_sanitised)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET, "ztseg", 8), &ev), 0);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 2, 5, "a\033[31mbcdefghijklmnopq", 8), &ev), 1);
	ck_assert_str_eq(ev.comm, "a?[31mbcdefghijk");
}
END_TEST

START_TEST(test_malformed)
{
	struct zt_nfmon_parser p = {};
	struct zt_nfmon_event ev;
	char buf[512];
	struct nlmsghdr *nlh;

	ck_assert_int_eq(feed(&p, obj_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET, "ztseg", 8), &ev), 0);
	/* A generation id of two bytes: refused, and the half-seen transaction forgotten. */
	nlh = obj_msg(buf, NFT_MSG_NEWGEN, AF_UNSPEC, NULL, 8);
	mnl_attr_put_u16(nlh, NFTA_GEN_ID, 1);
	ck_assert_int_eq(feed(&p, nlh, &ev), -EBADMSG);
	ck_assert_int_eq(feed(&p, gen_msg(buf, 2, 5, "nft", 8), &ev), 0);
	/* Longer than the buffer. */
	nlh = obj_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET, "ztseg", 8);
	ck_assert_int_eq(zt_nfmon_feed(&p, nlh, nlh->nlmsg_len - 1, &ev), -EBADMSG);
}
END_TEST

/* ---- as root: a table created by someone else, seen by the monitor ---- */

static int make_table(const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct mnl_nlmsg_batch *b;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int r = 0;

	if (!nl || !t || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -1;
	memset(buf, 0, sizeof(buf));	/* libmnl leaves attribute padding as it finds it */
	b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), 1);
	mnl_nlmsg_batch_next(b);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nlh = nftnl_table_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWTABLE, NFPROTO_INET,
					  NLM_F_CREATE | NLM_F_ACK, 2);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(b);
	nftnl_batch_end(mnl_nlmsg_batch_current(b), 3);
	mnl_nlmsg_batch_next(b);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0 ||
	    mnl_socket_recvfrom(nl, buf, sizeof(buf)) < 0)
		r = -1;
	mnl_nlmsg_batch_stop(b);
	nftnl_table_free(t);
	mnl_socket_close(nl);
	return r;
}

static void count_cb(const struct zt_nfmon_event *ev, void *userdata)
{
	struct zt_nfmon_event *last = userdata;

	*last = *ev;
}

START_TEST(test_kernel)
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct zt_nfmon *m = NULL;
		struct zt_nfmon_event last = {};
		struct zt_nft_table_info ti;
		struct pollfd pfd;
		int n = 0;

		if (unshare(CLONE_NEWNET) < 0) {
			fprintf(stderr, "kernel test skipped: no network namespace of our own\n");
			_exit(77);
		}
		if (zt_nfmon_open(0, &m) < 0) {
			fprintf(stderr, "kernel test skipped: no nf_tables notifications here\n");
			_exit(77);
		}
		if (zt_nft_table_read(&ti) < 0 || ti.present)
			_exit(2);
		if (make_table("other") < 0 || make_table("ztseg") < 0)
			_exit(3);
		pfd = (struct pollfd){ .fd = zt_nfmon_fd(m), .events = POLLIN };
		while (n < 1 && poll(&pfd, 1, 1000) > 0)
			n += zt_nfmon_process(m, count_cb, &last);
		/* One transaction of ours among two; ours is a process of this name and pid. */
		if (n != 1 || last.pid != (uint32_t)getpid() || last.changes != 1)
			_exit(4);
		if (zt_nft_table_read(&ti) < 0 || !ti.present)
			_exit(5);
		zt_nfmon_free(m);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) != 77)
		ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nfmon");
	TCase *tc = tcase_create("parser");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_foreign_change);
	tcase_add_loop_test(tc, test_other_tables, 0, ELEMENTSOF(others));
	tcase_add_loop_test(tc, test_feed_tables, 0, 2);
	tcase_add_loop_test(tc, test_bridge_table, 0, 2);
	tcase_add_test(tc, test_deleted);
	tcase_add_test(tc, test_comm_sanitised);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernel");
	tcase_add_test(tc, test_kernel);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
