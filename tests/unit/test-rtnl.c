/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of the rtnetlink tracker (lib/rtnl.c) on this host's kernel, read-only. */
#include "rtnl-msgs.h"
#include "rtnl.h"

START_TEST(test_tracker_live)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	const struct zt_rtnl_link *lo;
	int k;

	k = zt_rtnl_open(&r, 0);
	if (k == -EAFNOSUPPORT || k == -EPERM || k == -EACCES)
		return;		/* no rtnetlink in this sandbox */
	ck_assert_int_eq(k, 0);
	ck_assert_int_ge(zt_rtnl_fd(r), 0);
	ck_assert(!zt_rtnl_resync_needed(r));
	lo = zt_rtnl_state_link_by_name(zt_rtnl_state(r), "lo");
	ck_assert_ptr_nonnull(lo);
	ck_assert(lo->flags & IFF_LOOPBACK);
	ck_assert_uint_gt(zt_rtnl_stats(r)->rcvbuf, 0);
	ck_assert_uint_eq(zt_rtnl_take_changes(r),
			  ZT_RTNL_CHANGED_LINKS | ZT_RTNL_CHANGED_ADDRS | ZT_RTNL_CHANGED_ROUTES);
	ck_assert_uint_eq(zt_rtnl_take_changes(r), 0);
	ck_assert_int_ge(zt_rtnl_process(r), 0);
	ck_assert_int_eq(zt_rtnl_resync(r), 0);
	ck_assert_uint_eq(zt_rtnl_stats(r)->resyncs, 1);
	ck_assert_uint_gt(zt_rtnl_generation(r), 1);
	check_consistent(zt_rtnl_state(r));
}
END_TEST

/* A forged unicast from another process is not believed. */
START_TEST(test_tracker_foreign)
{
	_cleanup_rtnl_ struct zt_rtnl *r = NULL;
	struct mnl_socket *nl;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct sockaddr_nl me;
	socklen_t len = sizeof(me);
	struct nlmsghdr *nlh;
	size_t before;

	if (zt_rtnl_open(&r, 4096) < 0)
		return;
	ck_assert_int_eq(getsockname(zt_rtnl_fd(r), (struct sockaddr *)&me, &len), 0);
	before = zt_rtnl_state_n_links(zt_rtnl_state(r));
	nl = mnl_socket_open(NETLINK_ROUTE);
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nlh = newlink(4242, "forged0", "wireguard", IFF_UP);
	to.nl_pid = me.nl_pid;
	if (sendto(mnl_socket_get_fd(nl), nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
		/* Only privileged senders may unicast to another socket. */
		ck_assert_int_eq(errno, EPERM);
		mnl_socket_close(nl);
		return;
	}
	mnl_socket_close(nl);
	ck_assert_int_ge(zt_rtnl_process(r), 0);
	ck_assert_uint_eq(zt_rtnl_stats(r)->foreign, 1);
	ck_assert_ptr_null(zt_rtnl_state_link(zt_rtnl_state(r), 4242));
	ck_assert_uint_eq(zt_rtnl_state_n_links(zt_rtnl_state(r)), before);
	/* The small buffer was asked for; the kernel doubles what it grants. */
	ck_assert_uint_le(zt_rtnl_stats(r)->rcvbuf, 4 * 4096);
}
END_TEST

static Suite *rtnl_suite(void)
{
	Suite *s = suite_create("rtnl");
	TCase *tc;

	tc = tcase_create("tracker");
	tcase_add_test(tc, test_tracker_live);
	tcase_add_test(tc, test_tracker_foreign);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtnl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
