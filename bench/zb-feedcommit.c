/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What one commit of feed elements costs the kernel (issue 16): an
 * interval map of N IPv4 /32 ranges in table ip t (made by
 * bench/feed-commit.sh), loaded in chunks, then commits of 1024 ranges
 * scattered over it. Verdict data (`: verdict`, as listed_src/listed_dst
 * were before issue 16's session 5c) or mark data (`: mark`, as they are): a map whose elements jump to chains makes
 * the kernel validate every element at each commit.
 *   zb-feedcommit SET verdict|mark N CHUNK CHANGES
 * Prints "load_ms longest_commit_ms" then one change's ms per line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define ELEMS_PER_MSG 256

static struct mnl_socket *nl;
static uint32_t seq = 1;
static char buf[64 << 20];

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "zb-feedcommit: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* count ranges [base + i*step, +1] of set, one transaction; its time from send to the last ACK */
static double commit(const char *set, bool verdict, bool interval, uint32_t base, uint32_t step, uint32_t count)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	char rb[MNL_SOCKET_BUFFER_SIZE];
	uint32_t last;
	double t0;
	bool done = false;

	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	for (uint32_t i0 = 0; i0 < count; i0 += ELEMS_PER_MSG) {
		struct nftnl_set *s = nftnl_set_alloc();
		struct nlmsghdr *nlh;

		if (!s)
			die("nftnl_set_alloc");
		nftnl_set_set_str(s, NFTNL_SET_TABLE, "t");
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		for (uint32_t i = i0; i < count && i < i0 + ELEMS_PER_MSG; i++) {
			uint32_t lo = htonl(base + i * step), end = htonl(base + i * step + 1), one = 1;
			struct nftnl_set_elem *x = nftnl_set_elem_alloc(), *y = nftnl_set_elem_alloc();

			if (!x || !y)
				die("nftnl_set_elem_alloc");
			nftnl_set_elem_set(x, NFTNL_SET_ELEM_KEY, &lo, 4);
			if (verdict) {
				nftnl_set_elem_set_u32(x, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
				nftnl_set_elem_set_str(x, NFTNL_SET_ELEM_CHAIN, "feed");
			} else {
				nftnl_set_elem_set(x, NFTNL_SET_ELEM_DATA, &one, 4);
			}
			nftnl_set_elem_add(s, x);
			if (interval) {
				nftnl_set_elem_set(y, NFTNL_SET_ELEM_KEY, &end, 4);
				nftnl_set_elem_set_u32(y, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
				nftnl_set_elem_add(s, y);
			} else {
				nftnl_set_elem_free(y);
			}
		}
		nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWSETELEM, NFPROTO_IPV4,
					    NLM_F_CREATE | NLM_F_ACK, seq++);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		if (!mnl_nlmsg_batch_next(b))
			die("batch full");
	}
	last = seq - 1;
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	t0 = now_ms();
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b)) < 0)
		die("send");
	while (!done) {
		ssize_t n = mnl_socket_recvfrom(nl, rb, sizeof(rb));
		int len = (int)n;

		if (n <= 0)
			die("recv");
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)rb; mnl_nlmsg_ok(h, len);
		     h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);

				if (e->error) {
					errno = -e->error;
					die("commit");
				}
			}
			if (h->nlmsg_seq >= last)
				done = true;
		}
	}
	mnl_nlmsg_batch_stop(b);
	return now_ms() - t0;
}

int main(int argc, char **argv)
{
	const uint32_t base = 0x01000000;
	uint32_t n, chunk, changes;
	double total = 0, longest = 0;
	int sz = 256 << 20;
	bool verdict, interval;

	if (argc != 6) {
		fprintf(stderr, "usage: zb-feedcommit SET verdict|mark N CHUNK CHANGES\n");
		return 2;
	}
	verdict = !strcmp(argv[2], "verdict");
	interval = strcmp(argv[2], "hash") != 0;
	n = (uint32_t)strtoul(argv[3], NULL, 10);
	chunk = (uint32_t)strtoul(argv[4], NULL, 10);
	changes = (uint32_t)strtoul(argv[5], NULL, 10);
	if (!n || !chunk || n > (1u << 22))
		return 2;
	if (!(nl = mnl_socket_open(NETLINK_NETFILTER)) || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink");
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	for (uint32_t i = 0; i < n; i += chunk) {
		double t = commit(argv[1], verdict, interval, base + i * 4, 4, n - i < chunk ? n - i : chunk);

		total += t;
		if (t > longest)
			longest = t;
	}
	printf("%.1f %.1f\n", total, longest);
	/* new ranges between the loaded ones (offset 2), spread over the whole map */
	for (uint32_t k = 0; k < changes; k++)
		printf("%.1f\n", commit(argv[1], verdict, interval, base + 2 + k * 8, (n / 1024) * 4, 1024));
	return 0;
}
