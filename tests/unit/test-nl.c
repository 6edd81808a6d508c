/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for lib/nl.c: datagrams crafted with libmnl walked through a
 * conversation (multipart, DONE, ACKs and errors, sequence and port
 * checks, interrupted dumps), and real conversations with rtnetlink in
 * the test's own network namespace (no privilege needed): a link dump,
 * an error ACK, a forged unicast skipped, a dump cut short and drained,
 * queued ACKs read back and an overrun reported.
 */
#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/socket.h>
#include "nl.h"

#define SEQ 4242
#define PORT 777

struct seen {
	unsigned n;
	int fail_at;		/* fail with -ENOMEM at this message (1-based); 0: never */
	bool lo;
};

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	struct seen *s = data;

	if (++s->n == (unsigned)s->fail_at)
		return -ENOMEM;
	return 0;
}

/* Appends a message of type at off in buf; returns the new length. */
static size_t put(char *buf, size_t off, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + off);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = pid;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
	return off + nlh->nlmsg_len;
}

static size_t put_err(char *buf, size_t off, int error, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + off);
	struct nlmsgerr *e;

	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = PORT;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));
	e->error = error;
	return off + nlh->nlmsg_len;
}

static size_t put_done(char *buf, size_t off, int error)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + off);
	int *p;

	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = SEQ;
	nlh->nlmsg_pid = PORT;
	p = mnl_nlmsg_put_extra_header(nlh, sizeof(*p));
	*p = error;
	return off + nlh->nlmsg_len;
}

START_TEST(test_multipart)
{
	struct seen s = {};
	struct zt_nl_reply r = { .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s };
	char buf[1024] = {};
	size_t len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);

	len = put(buf, len, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
	/* Two messages, no end yet: more to come. */
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), 1);
	ck_assert_uint_eq(s.n, 2);
	ck_assert(!r.ended);
	/* The next datagram: one more and DONE. */
	len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
	len = put_done(buf, len, 0);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert(r.ended);
	/* A dump that failed half-way says so in its DONE. */
	len = put_done(buf, 0, -EMSGSIZE);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -EMSGSIZE);
}
END_TEST

START_TEST(test_checks)
{
	struct seen s = {};
	struct zt_nl_reply r = { .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s };
	char buf[1024] = {};
	size_t len;

	/* Another request's answer: refused, not taken for ours. */
	len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ + 1, PORT);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -EPROTO);
	/* Another socket's. */
	len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT + 1);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -ESRCH);
	ck_assert_uint_eq(s.n, 0);
	/* Sequence and port 0 (notifications) pass. */
	len = put(buf, 0, RTM_NEWLINK, 0, 0, 0);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), 1);
	ck_assert_uint_eq(s.n, 1);
	/* A handler's error stops the walk with it. */
	s = (struct seen){ .fail_at = 1 };
	len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
	len = put(buf, len, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -ENOMEM);
	ck_assert_uint_eq(s.n, 1);
}
END_TEST

/*
 * Lengths that do not fit the datagram: mnl_nlmsg_ok() compares in int and
 * takes 2^31 for a negative length, then mnl_nlmsg_next() leaps out of the
 * buffer. The walk must refuse, having handed over only the whole messages.
 */
START_TEST(test_forged_length)
{
	static const uint32_t forged[] = { 0x80000000u, 0xfffffff0u, 1024, 8 };
	struct seen s = {};
	struct zt_nl_reply r = { .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s };
	char buf[1024] __attribute__((aligned(8))) = {};
	size_t l1 = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT), len, left;

	for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		len = put(buf, l1, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
		((struct nlmsghdr *)(buf + l1))->nlmsg_len = forged[i];
		s.n = 0;
		ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -EBADMSG);
		ck_assert_uint_eq(s.n, 1);
		/* the walker alone: one message, then a tail left over */
		left = len;
		ck_assert(zt_nlmsg_ok((const struct nlmsghdr *)buf, left));
		ck_assert_ptr_eq(zt_nlmsg_next((const struct nlmsghdr *)buf, &left), buf + l1);
		ck_assert(!zt_nlmsg_ok((const struct nlmsghdr *)(buf + l1), left));
		ck_assert_uint_eq(left, len - l1);
	}
	/* three bytes of tail after a whole message */
	s.n = 0;
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, l1 + 3), -EBADMSG);
	ck_assert_uint_eq(s.n, 1);
}
END_TEST

START_TEST(test_dump_intr)
{
	struct seen s = {};
	struct zt_nl_reply r = { .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s };
	char buf[1024] = {};
	size_t len = put(buf, 0, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);

	len = put(buf, len, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, SEQ, PORT);
	len = put(buf, len, RTM_NEWLINK, NLM_F_MULTI, SEQ, PORT);
	/* By default the conversation stops at the interrupted message. */
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -EINTR);
	ck_assert_uint_eq(s.n, 1);
	ck_assert(r.intr);
	/* Asked to read on: every message, and the flag reported. */
	s = (struct seen){};
	r = (struct zt_nl_reply){ .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s, .flags = ZT_NL_F_READ_INTR };
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), 1);
	ck_assert_uint_eq(s.n, 3);
	ck_assert(r.intr);
}
END_TEST

START_TEST(test_acks)
{
	struct seen s = {};
	struct zt_nl_reply r = { .seq = SEQ, .portid = PORT, .cb = count_cb, .data = &s };
	char buf[1024] = {};
	size_t len;

	/* An error ACK: its errno. */
	len = put_err(buf, 0, -ENOENT, SEQ);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), -ENOENT);
	ck_assert(r.ended);
	/* A reply and its ACK: the end. */
	r.ended = false;
	len = put(buf, 0, RTM_NEWLINK, 0, SEQ, PORT);
	len = put_err(buf, len, 0, SEQ);
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, len), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert(r.ended);
	/* An error message too short to say anything. */
	len = put(buf, 0, NLMSG_ERROR, 0, SEQ, PORT);
	((struct nlmsghdr *)buf)->nlmsg_len = NLMSG_HDRLEN + 2;
	ck_assert_int_eq(zt_nl_reply_walk(&r, buf, NLMSG_HDRLEN + 4), -EBADMSG);
}
END_TEST

/* ---- with the kernel: rtnetlink in our own namespace ---- */

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct seen *s = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	s->n++;
	if (nlh->nlmsg_type == RTM_NEWLINK && ifi->ifi_index == 1)
		s->lo = true;
	return s->fail_at && s->n == (unsigned)s->fail_at ? -ENOMEM : 0;
}

static struct nlmsghdr *getlink(char *buf, struct zt_nl *nl, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(buf, 0, MNL_SOCKET_BUFFER_SIZE));
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static void open_route(struct zt_nl *nl)
{
	int r = zt_nl_open(nl, NETLINK_ROUTE, SOCK_CLOEXEC, 64 * 1024);

	ck_assert_msg(r == 0, "NETLINK_ROUTE: %s", strerror(-r));
}

START_TEST(test_kernel_dump)
{
	struct zt_nl nl;
	struct seen s = {};
	char buf[MNL_SOCKET_BUFFER_SIZE];

	open_route(&nl);
	/* A dump: every link, ended by NLMSG_DONE. */
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_DUMP, 0), link_cb, &s, 0), 0);
	ck_assert(s.lo);
	/* A plain request: its one reply. */
	s = (struct seen){};
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, 0, 1), link_cb, &s, 0), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert(s.lo);
	/* With NLM_F_ACK: the reply, then the ACK ends it. */
	s = (struct seen){};
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_ACK, 1), link_cb, &s, 0), 0);
	ck_assert_uint_eq(s.n, 1);
	/* An error ACK: -errno. */
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_ACK, 0x7ffffff0), link_cb, &s, 0), -ENODEV);
	zt_nl_close(&nl);
}
END_TEST

START_TEST(test_kernel_forged)
{
	struct zt_nl nl, other;
	struct seen s = {};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *fake;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	size_t len;

	open_route(&nl);
	open_route(&other);
	/* Another process's unicast, dressed as the answer: skipped. */
	memset(buf, 0, sizeof(buf));
	len = put(buf, 0, RTM_NEWLINK, 0, nl.seq + 1, nl.portid);
	fake = (struct nlmsghdr *)buf;
	to.nl_pid = nl.portid;
	ck_assert_int_eq(sendto(zt_nl_fd(&other), fake, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_DUMP, 0), link_cb, &s, 0), 0);
	ck_assert(s.lo);
	ck_assert_uint_eq(nl.foreign, 1);
	zt_nl_close(&other);
	zt_nl_close(&nl);
}
END_TEST

START_TEST(test_kernel_cut_short)
{
	struct zt_nl nl;
	struct seen s = { .fail_at = 1 };
	char buf[MNL_SOCKET_BUFFER_SIZE];

	open_route(&nl);
	/* A handler failed at the first link: its error, the dump's rest drained ... */
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_DUMP, 0), link_cb, &s, 0), -ENOMEM);
	/* ... so the next request gets its own answer, not the old dump's. */
	s = (struct seen){};
	ck_assert_int_eq(zt_nl_talk(&nl, getlink(buf, &nl, NLM_F_DUMP, 0), link_cb, &s, 0), 0);
	ck_assert(s.lo);
	zt_nl_close(&nl);
}
END_TEST

struct acks {
	unsigned ok, err;
};

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct acks *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (e->error)
		a->err++;
	else
		a->ok++;
	return 0;
}

START_TEST(test_kernel_drain)
{
	struct zt_nl nl;
	struct acks a = {};
	char buf[3 * MNL_SOCKET_BUFFER_SIZE], *at = buf;
	size_t len = 0;

	open_route(&nl);
	/* Three requests in one sendmsg: two ACKed, one refused; their replies skipped. */
	for (int i = 0; i < 3; i++) {
		struct nlmsghdr *nlh = getlink(at, &nl, NLM_F_ACK, i == 1 ? 0x7ffffff0 : 1);

		len += nlh->nlmsg_len;
		at += nlh->nlmsg_len;
	}
	ck_assert_int_eq(zt_nl_send(&nl, buf, len), 0);
	ck_assert_int_eq(zt_nl_drain(&nl, ack_cb, &a), 0);
	ck_assert_uint_eq(a.ok, 2);
	ck_assert_uint_eq(a.err, 1);
	zt_nl_close(&nl);
}
END_TEST

START_TEST(test_kernel_overrun)
{
	struct zt_nl nl;
	struct acks a = {};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int small = 1, large = 256 * 1024;
	int r = 0;

	open_route(&nl);
	/* A receive buffer of a few hundred bytes (the kernel's minimum): the answers overrun it. */
	ck_assert_int_eq(setsockopt(zt_nl_fd(&nl), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	for (int i = 0; i < 64; i++) {
		struct nlmsghdr *nlh = getlink(buf, &nl, NLM_F_ACK, 1);

		ck_assert_int_eq(zt_nl_send(&nl, nlh, nlh->nlmsg_len), 0);
	}
	r = zt_nl_drain(&nl, ack_cb, &a);
	ck_assert_int_eq(r, -ENOBUFS);
	/*
	 * The drain read on past the overrun: nothing stale is left, so a
	 * request on the same (kept) socket gets its own answer, not -EPROTO
	 * from an old one (the buffer made large again: its answer fits).
	 */
	ck_assert_int_eq(setsockopt(zt_nl_fd(&nl), SOL_SOCKET, SO_RCVBUF, &large, sizeof(large)), 0);
	for (int i = 0; i < 3; i++) {
		struct nlmsghdr *nlh = getlink(buf, &nl, NLM_F_ACK, 1);

		ck_assert_int_eq(zt_nl_talk(&nl, nlh, NULL, NULL, 0), 0);
	}
	zt_nl_close(&nl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nl");
	TCase *tc = tcase_create("walk");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_multipart);
	tcase_add_test(tc, test_checks);
	tcase_add_test(tc, test_forged_length);
	tcase_add_test(tc, test_dump_intr);
	tcase_add_test(tc, test_acks);
	suite_add_tcase(s, tc);
	tc = tcase_create("kernel");
	tcase_add_test(tc, test_kernel_dump);
	tcase_add_test(tc, test_kernel_forged);
	tcase_add_test(tc, test_kernel_cut_short);
	tcase_add_test(tc, test_kernel_drain);
	tcase_add_test(tc, test_kernel_overrun);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
