/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The netlink conversation: send a request, read its answers until the
 * kernel is done, check who sent them and what they answer; and read a
 * batch's queued ACKs without waiting.
 */
#include <stdio.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include "nl.h"

int zt_nl_open(struct zt_nl *nl, int bus, int sock_flags, size_t buf_size)
{
	*nl = (struct zt_nl){ .buf_size = buf_size };
	nl->buf = malloc(buf_size);
	if (!nl->buf)
		return -ENOMEM;
	nl->sock = mnl_socket_open2(bus, sock_flags);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

void zt_nl_close(struct zt_nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	free(nl->buf);
	*nl = (struct zt_nl){};
}

int zt_nl_fd(const struct zt_nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

ssize_t zt_nl_recv(struct zt_nl *nl, int flags, uint32_t *ret_sender, bool *ret_trunc)
{
	struct sockaddr_nl sa = {};
	struct iovec iov = { .iov_base = nl->buf, .iov_len = nl->buf_size };
	struct msghdr msg = { .msg_name = &sa, .msg_namelen = sizeof(sa), .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = recvmsg(zt_nl_fd(nl), &msg, flags);

	if (n < 0)
		return -errno;
	*ret_trunc = msg.msg_flags & MSG_TRUNC;
	/* Unicasts from other processes can be forged; only the kernel (0) counts. */
	*ret_sender = msg.msg_namelen == sizeof(sa) && sa.nl_family == AF_NETLINK ? sa.nl_pid : UINT32_MAX;
	return n;
}

int zt_nl_receive_batch(struct zt_nl *nl, int batch, struct zt_nl_losses *losses,
			int (*datagram)(const void *buf, size_t len, void *userdata), void *userdata)
{
	int total = 0;

	for (int i = 0; i < batch; i++) {
		uint32_t sender;
		bool trunc;
		ssize_t n = zt_nl_recv(nl, MSG_DONTWAIT, &sender, &trunc);

		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			return total;
		/* The kernel dropped messages for us: note it and read on. */
		if (n == -ENOBUFS) {
			losses->overruns++;
			continue;
		}
		if (n < 0)
			return (int)n;
		/* Multicasts come from the kernel; a process's unicast is none of ours. */
		if (sender != 0) {
			nl->foreign++;
			continue;
		}
		/* The datagram's tail is lost. */
		if (trunc)
			losses->malformed++;
		total += datagram(nl->buf, (size_t)n, userdata);
	}
	return total;
}

static int error_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	return e->error < 0 ? e->error : -e->error;
}

bool zt_nlmsg_ok(const struct nlmsghdr *nlh, size_t left)
{
	return left >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= left;
}

const struct nlmsghdr *zt_nlmsg_next(const struct nlmsghdr *nlh, size_t *left)
{
	size_t step = NLMSG_ALIGN((size_t)nlh->nlmsg_len);

	if (step >= *left) {
		*left = 0;
		return nlh;
	}
	*left -= step;
	return (const struct nlmsghdr *)((const char *)nlh + step);
}

int zt_nl_reply_walk(struct zt_nl_reply *r, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	size_t left = len;
	int k;

	for (; zt_nlmsg_ok(nlh, left); nlh = zt_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_pid && r->portid && nlh->nlmsg_pid != r->portid)
			return -ESRCH;
		if (nlh->nlmsg_seq && r->seq && nlh->nlmsg_seq != r->seq)
			return -EPROTO;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
			r->intr = true;
			if (!(r->flags & ZT_NL_F_READ_INTR))
				return -EINTR;
		}
		switch (nlh->nlmsg_type) {
		case NLMSG_NOOP:
		case NLMSG_OVERRUN:
			continue;
		case NLMSG_ERROR:
			r->ended = true;
			return error_msg(nlh);
		case NLMSG_DONE:
			r->ended = true;
			/* A dump that failed half-way says so here. */
			if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int) && *(const int *)mnl_nlmsg_get_payload(nlh) < 0)
				return *(const int *)mnl_nlmsg_get_payload(nlh);
			return 0;
		}
		if (nlh->nlmsg_type < NLMSG_MIN_TYPE || !r->cb)
			continue;
		k = r->cb(nlh, r->data);
		if (k < 0)
			return k;
	}
	/* a length past the datagram's end, or a tail that is no message */
	return left ? -EBADMSG : 1;
}

/* Does this datagram hold the end of the conversation with seq? */
static bool datagram_ends(const void *buf, size_t len, uint32_t seq)
{
	const struct nlmsghdr *m = buf;
	size_t left = len;

	for (; zt_nlmsg_ok(m, left); m = zt_nlmsg_next(m, &left))
		if (m->nlmsg_seq == seq && (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR))
			return true;
	return false;
}

/* The rest of a dump we stopped reading: read and dropped up to its end. */
static void dump_drain(struct zt_nl *nl, uint32_t seq)
{
	for (;;) {
		uint32_t sender;
		bool trunc;
		ssize_t len = zt_nl_recv(nl, 0, &sender, &trunc);

		if (len == -EINTR)
			continue;
		if (len <= 0)
			return;
		if (sender == 0 && datagram_ends(nl->buf, (size_t)len, seq))
			return;
	}
}

int zt_nl_talk(struct zt_nl *nl, struct nlmsghdr *req, zt_nl_cb cb, void *data, unsigned flags)
{
	struct zt_nl_reply r = { .seq = req->nlmsg_seq, .portid = nl->portid, .cb = cb, .data = data, .flags = flags };
	bool dump = req->nlmsg_flags & NLM_F_DUMP, one = !(req->nlmsg_flags & (NLM_F_DUMP | NLM_F_ACK));

	if (mnl_socket_sendto(nl->sock, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		uint32_t sender;
		bool trunc;
		ssize_t len = zt_nl_recv(nl, 0, &sender, &trunc);
		int k;

		if (len == -EINTR)
			continue;
		if (len < 0)
			return (int)len;
		if (sender != 0) {
			nl->foreign++;
			continue;
		}
		if (trunc)
			return -EMSGSIZE;
		r.ended = false;
		k = zt_nl_reply_walk(&r, nl->buf, (size_t)len);
		if (k < 0) {
			/* Unless this datagram ended the dump, the rest is still to come. */
			if (dump && !r.ended && !datagram_ends(nl->buf, (size_t)len, r.seq))
				dump_drain(nl, r.seq);
			return k;
		}
		if (k == 0 || one)
			return r.intr ? ZT_NL_INTR : 0;
	}
}

int zt_nl_send(struct zt_nl *nl, const void *buf, size_t len)
{
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_name = &snl, .msg_namelen = sizeof(snl), .msg_iov = &iov, .msg_iovlen = 1 };

	for (;;) {
		if (sendmsg(zt_nl_fd(nl), &msg, 0) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int zt_nl_drain(struct zt_nl *nl, zt_nl_cb ack_cb, void *data)
{
	bool overrun = false;

	for (;;) {
		uint32_t sender;
		bool trunc;
		ssize_t len = zt_nl_recv(nl, MSG_DONTWAIT, &sender, &trunc);
		const struct nlmsghdr *m;
		size_t left;
		int k;

		if (len == -EINTR)
			continue;
		if (len == -EAGAIN || len == -EWOULDBLOCK)
			return overrun ? -ENOBUFS : 0;
		/* Reported before what is still queued: read on, or a kept socket keeps stale answers. */
		if (len == -ENOBUFS) {
			overrun = true;
			continue;
		}
		if (len < 0)
			return (int)len;
		if (sender != 0) {
			nl->foreign++;
			continue;
		}
		left = (size_t)len;
		for (m = (const struct nlmsghdr *)nl->buf; zt_nlmsg_ok(m, left); m = zt_nlmsg_next(m, &left)) {
			if (m->nlmsg_type != NLMSG_ERROR)
				continue;
			if (m->nlmsg_pid && m->nlmsg_pid != nl->portid)
				return -ESRCH;
			if (m->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
				return -EBADMSG;
			k = ack_cb(m, data);
			if (k < 0)
				return k;
		}
		if (left)
			return -EBADMSG;
	}
}
