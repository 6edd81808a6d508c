/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zt-serve: the far end of the traffic tests. Listens on TCP and UDP ports
 * on IPv4 and IPv6, echoes what it receives, and can record every arrival.
 *
 *   zt-serve [-t PORTS] [-u PORTS] [-r FILE] [-d PIDFILE]
 *
 * PORTS is a comma-separated list ("22,53,8000"). TCP connections are echoed
 * byte for byte until the peer closes; UDP datagrams are echoed from the
 * address they were sent to. -r appends one line per accepted connection or
 * datagram: "tcp|udp SRC SPORT DST DPORT". -d detaches once every socket is
 * bound and writes the server's pid to PIDFILE, so that the caller knows
 * the ports are open when it returns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PORTS 64
#define MAX_CONNS 4096

/* What an epoll event's data points at. */
enum kind {
	KIND_TCP_LISTEN,
	KIND_TCP_CONN,
	KIND_UDP,
};

struct sock {
	enum kind kind;
	int fd;
};

static int record_fd = -1;
static int nconns;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("zt-serve: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int parse_ports(const char *s, unsigned short *ports, int max)
{
	int n = 0;

	while (*s) {
		char *end;
		unsigned long p = strtoul(s, &end, 10);

		if (end == s || p == 0 || p > 65535 || (*end && *end != ','))
			die("bad port list '%s'", s);
		if (n == max)
			die("more than %d ports", max);
		ports[n++] = (unsigned short)p;
		s = *end ? end + 1 : end;
	}
	return n;
}

/* A v4-mapped v6 address prints as the plain v4 address. */
static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len,
		     unsigned *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, len);
		*port = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, len);
		*port = ntohs(sin6->sin6_port);
	}
}

static void record(const char *proto, const struct sockaddr_storage *src,
		   const struct sockaddr_storage *dst)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], line[160];
	unsigned sp, dp;
	int n;

	if (record_fd < 0)
		return;
	fmt_addr(src, s, sizeof(s), &sp);
	fmt_addr(dst, d, sizeof(d), &dp);
	n = snprintf(line, sizeof(line), "%s %s %u %s %u\n", proto, s, sp, d, dp);
	/* One write per line on an O_APPEND fd: readers never see half a line. */
	if (write(record_fd, line, (size_t)n) < 0)
		die("record: %s", strerror(errno));
}

static void add(int ep, enum kind kind, int fd)
{
	struct sock *s = malloc(sizeof(*s));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!s)
		die("out of memory");
	s->kind = kind;
	s->fd = fd;
	ev.data.ptr = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void drop(int ep, struct sock *s)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	if (s->kind == KIND_TCP_CONN)
		nconns--;
	free(s);
}

static int open_socket(int family, int type, unsigned short port)
{
	int one = 1;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss = { 0 };
	socklen_t len;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
		if (type == SOCK_DGRAM &&
		    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
			die("IP_PKTINFO: %s", strerror(errno));
	} else {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
		/* Separate v4 sockets answer IPv4; this one is IPv6 only. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			die("IPV6_V6ONLY: %s", strerror(errno));
		if (type == SOCK_DGRAM &&
		    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
			die("IPV6_RECVPKTINFO: %s", strerror(errno));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		die("bind %s/%u (%s): %s", type == SOCK_STREAM ? "tcp" : "udp",
		    port, family == AF_INET ? "IPv4" : "IPv6", strerror(errno));
	if (type == SOCK_STREAM && listen(fd, 1024) < 0)
		die("listen: %s", strerror(errno));
	return fd;
}

static void tcp_accept(int ep, int lfd)
{
	for (;;) {
		struct sockaddr_storage src, dst;
		socklen_t sl = sizeof(src), dl = sizeof(dst);
		int fd = accept4(lfd, (struct sockaddr *)&src, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EAGAIN || errno == ECONNABORTED)
				return;
			die("accept: %s", strerror(errno));
		}
		if (getsockname(fd, (struct sockaddr *)&dst, &dl) == 0)
			record("tcp", &src, &dst);
		if (nconns >= MAX_CONNS) {
			close(fd);
			continue;
		}
		nconns++;
		add(ep, KIND_TCP_CONN, fd);
	}
}

static void tcp_echo(int ep, struct sock *s)
{
	char buf[4096];
	ssize_t n = read(s->fd, buf, sizeof(buf));

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		drop(ep, s);
		return;
	}
	/* The probes send a line at a time, far below any socket buffer. */
	if (send(s->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
		drop(ep, s);
}

/*
 * Answer from the address the datagram was sent to, whatever the route
 * back would pick, so that the prober's connected socket accepts it.
 */
static void udp_echo(int fd)
{
	for (;;) {
		char buf[2048], cbuf[256];
		struct sockaddr_storage src, dst = { 0 };
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = {
			.msg_name = &src, .msg_namelen = sizeof(src),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;
		ssize_t n = recvmsg(fd, &mh, 0);

		if (n < 0)
			return;
		dst.ss_family = src.ss_family;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo *pi = (void *)CMSG_DATA(c);
				struct sockaddr_in *sin = (void *)&dst;

				sin->sin_addr = pi->ipi_addr;
				pi->ipi_spec_dst = pi->ipi_addr;
				pi->ipi_ifindex = 0;
			} else if (c->cmsg_level == IPPROTO_IPV6 &&
				   c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo *pi = (void *)CMSG_DATA(c);
				struct sockaddr_in6 *sin6 = (void *)&dst;

				sin6->sin6_addr = pi->ipi6_addr;
				pi->ipi6_ifindex = 0;
			}
		}
		{
			struct sockaddr_storage local;
			socklen_t ll = sizeof(local);

			if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0) {
				if (dst.ss_family == AF_INET)
					((struct sockaddr_in *)&dst)->sin_port =
						((struct sockaddr_in *)&local)->sin_port;
				else
					((struct sockaddr_in6 *)&dst)->sin6_port =
						((struct sockaddr_in6 *)&local)->sin6_port;
			}
		}
		record("udp", &src, &dst);
		iov.iov_len = (size_t)n;
		mh.msg_flags = 0;
		sendmsg(fd, &mh, MSG_DONTWAIT);
	}
}

static void detach(const char *pidfile)
{
	pid_t pid = fork();
	FILE *f;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		f = fopen(pidfile, "w");
		if (!f)
			die("%s: %s", pidfile, strerror(errno));
		fprintf(f, "%d\n", (int)pid);
		if (fclose(f) != 0)
			die("%s: %s", pidfile, strerror(errno));
		_exit(0);
	}
	setsid();
	{
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned short tports[MAX_PORTS], uports[MAX_PORTS];
	int nt = 0, nu = 0, i, f, opt, ep;
	const char *pidfile = NULL;
	static const int families[] = { AF_INET, AF_INET6 };

	while ((opt = getopt(argc, argv, "t:u:r:d:h")) != -1) {
		switch (opt) {
		case 't':
			nt = parse_ports(optarg, tports, MAX_PORTS);
			break;
		case 'u':
			nu = parse_ports(optarg, uports, MAX_PORTS);
			break;
		case 'r':
			record_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (record_fd < 0)
				die("%s: %s", optarg, strerror(errno));
			break;
		case 'd':
			pidfile = optarg;
			break;
		default:
			fprintf(stderr, "usage: zt-serve [-t PORTS] [-u PORTS] [-r FILE] [-d PIDFILE]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc || nt + nu == 0)
		die("nothing to listen on (-t, -u)");

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (f = 0; f < 2; f++) {
		for (i = 0; i < nt; i++)
			add(ep, KIND_TCP_LISTEN, open_socket(families[f], SOCK_STREAM, tports[i]));
		for (i = 0; i < nu; i++)
			add(ep, KIND_UDP, open_socket(families[f], SOCK_DGRAM, uports[i]));
	}
	if (pidfile)
		detach(pidfile);

	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			struct sock *s = evs[i].data.ptr;

			switch (s->kind) {
			case KIND_TCP_LISTEN:
				tcp_accept(ep, s->fd);
				break;
			case KIND_TCP_CONN:
				tcp_echo(ep, s);
				break;
			case KIND_UDP:
				udp_echo(s->fd);
				break;
			}
		}
	}
}
