/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One netlink conversation: a request and every answer to it, or what is
 * queued on a socket, with the sender, sequence and port-id checks in one
 * place. Every socket of the library that asks the kernel talks this way.
 */
#ifndef ZT_NL_H
#define ZT_NL_H

#include <sys/types.h>
#include "util.h"

struct nlmsghdr;
struct mnl_socket;

/* A bound netlink socket, its port id, its last sequence number and a receive buffer. */
struct zt_nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char *buf;
	size_t buf_size;
	uint64_t foreign;	/* datagrams from other processes, skipped */
};

/*
 * Open and bind (automatic port id) a socket of the netlink bus (NETLINK_ROUTE,
 * NETLINK_NETFILTER) with SOCK_* flags, and a receive buffer of buf_size
 * bytes; the sequence numbers start at the clock. 0 or -errno; on failure
 * nl is left for zt_nl_close().
 */
int zt_nl_open(struct zt_nl *nl, int bus, int sock_flags, size_t buf_size);
/* Accepts a zeroed or half-opened nl. */
void zt_nl_close(struct zt_nl *nl);
int zt_nl_fd(const struct zt_nl *nl);

/*
 * One datagram into nl->buf (recvmsg with flags). Returns its length or
 * -errno (-ENOBUFS: the socket overran and messages were lost: whatever
 * it mirrors must be read again). *ret_sender: the sending port (0: the
 * kernel; UINT32_MAX when not said); *ret_trunc: it did not fit.
 */
ssize_t zt_nl_recv(struct zt_nl *nl, int flags, uint32_t *ret_sender, bool *ret_trunc);

/* What a multicast reader lost: ENOBUFS overruns, datagrams cut short. */
struct zt_nl_losses {
	uint64_t overruns;
	uint64_t malformed;
};

/*
 * A multicast reader's turn: at most batch datagrams already queued (never
 * blocks; a flood cannot hold the loop, the fd stays readable), each from
 * the kernel handed to datagram, which returns how many items it held.
 * ENOBUFS and truncation are counted in losses and reading goes on; other
 * processes' datagrams are skipped. Returns the items, or -errno of the socket.
 */
int zt_nl_receive_batch(struct zt_nl *nl, int batch, struct zt_nl_losses *losses,
			int (*datagram)(const void *buf, size_t len, void *userdata), void *userdata);

/* A message handler: 0 or more to go on, -errno to stop the conversation with that error. */
typedef int (*zt_nl_cb)(const struct nlmsghdr *nlh, void *data);

/* zt_nl_talk() flags */
enum {
	/*
	 * An interrupted dump (NLM_F_DUMP_INTR: the kernel's object changed
	 * while it was dumped) is read to its end and reported as ZT_NL_INTR;
	 * without it the conversation stops there with -EINTR.
	 */
	ZT_NL_F_READ_INTR = 1 << 0,
};

#define ZT_NL_INTR 1

/* What one datagram of a conversation said; zt_nl_talk() walks each one through it. Pure. */
struct zt_nl_reply {
	uint32_t seq;		/* the request's; messages with another (not 0) are refused */
	uint32_t portid;	/* ours; messages for another (not 0) are refused */
	zt_nl_cb cb;		/* every data message; NULL: ignored */
	void *data;
	unsigned flags;		/* ZT_NL_F_* */
	bool intr;		/* out: NLM_F_DUMP_INTR seen */
	bool ended;		/* out: the datagram held the end (DONE or ERROR) */
};

/*
 * Walk one datagram: data messages to cb, NLMSG_DONE (with an error
 * payload: -errno) and NLMSG_ERROR (an error: -errno; an ACK: the end)
 * end it. Returns 1 when more is to come, 0 at the end, -EPROTO for
 * another sequence number, -ESRCH for another port, -EINTR for an
 * interrupted dump (unless ZT_NL_F_READ_INTR), -EBADMSG for a malformed
 * message, or what cb returned.
 */
int zt_nl_reply_walk(struct zt_nl_reply *r, const void *buf, size_t len);

/*
 * Send req (its nlmsg_seq set: ++nl->seq) and hand every answer to cb
 * until the kernel is done: NLMSG_DONE of a dump, the ACK of NLM_F_ACK,
 * or the one reply of a plain request. Datagrams from other processes
 * are skipped (counted). When it stops early (cb failed, the dump was
 * interrupted) the rest of the dump is read and dropped, so none of it is
 * taken for the answer to the next request. Returns 0, ZT_NL_INTR (see
 * ZT_NL_F_READ_INTR), an error ACK's -errno, or another -errno.
 */
int zt_nl_talk(struct zt_nl *nl, struct nlmsghdr *req, zt_nl_cb cb, void *data, unsigned flags);

/*
 * Send len bytes of requests (a batch, deletes without ACKs) in one
 * sendmsg. -EMSGSIZE when they do not fit the send buffer.
 */
int zt_nl_send(struct zt_nl *nl, const void *buf, size_t len);

/*
 * Read what is queued, without waiting, until nothing is: the ACKs and
 * errors the kernel queued for requests before sendmsg returned. Every
 * NLMSG_ERROR message for our port (any sequence) goes to ack_cb; other
 * messages are skipped. Returns 0 once the queue is empty, -ENOBUFS when
 * some were lost (the receive buffer overran; the queue is read to its
 * end all the same, so nothing stale is left), -EBADMSG for a malformed
 * message, what ack_cb returned (<0), or -errno.
 */
int zt_nl_drain(struct zt_nl *nl, zt_nl_cb ack_cb, void *data);

/*
 * Walking the messages of one datagram: for (left = len; zt_nlmsg_ok(m,
 * left); m = zt_nlmsg_next(m, &left)). mnl_nlmsg_ok() compares in int, so a
 * nlmsg_len of 2^31 or more passes as negative and mnl_nlmsg_next() leaps
 * out of the buffer; these compare in size_t. After the walk, left is 0
 * unless the datagram ended in something that is no whole message (the
 * last message's missing padding aside).
 */
bool zt_nlmsg_ok(const struct nlmsghdr *nlh, size_t left);
const struct nlmsghdr *zt_nlmsg_next(const struct nlmsghdr *nlh, size_t *left);

#endif
