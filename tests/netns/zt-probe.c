/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zt-probe: the near end of the traffic tests. Runs many TCP, UDP and ICMP
 * probes at once and says for each whether it got through, was refused, or
 * was silently dropped; also a paced ping and a long-lived TCP stream.
 *
 *   zt-probe batch [-w MS] [-c N] < PROBES
 *	PROBES: lines "ID PROTO SRC DST PORT"; PROTO tcp, udp, icmp (an echo
 *	request; PORT is ignored) or spoof (N UDP datagrams from SRC, which
 *	need not be local: a transparent socket; no answer is awaited);
 *	SRC "-" lets the kernel
 *	choose. Prints "ID RESULT MS" per probe, RESULT one of ok, refused
 *	(TCP reset, ICMP port unreachable), reset (the connection was reset
 *	after it opened), unreach (ICMP unreachable: host, net, prohibited),
 *	eperm (a local firewall dropped the packet on output), timeout, sent,
 *	or error-ERRNONAME.
 *   zt-probe stream [-i MS] [-T MS] SRC DST PORT
 *	One TCP connection; sends a numbered line every -i ms (default 100)
 *	for -T ms (default: until SIGTERM/SIGINT). Prints "connected T",
 *	"echo SEQ T" per echoed line, "reset T", "closed T" or "error E T",
 *	and finally "end T sent S echoed E maxgap G" (T in ms since the epoch,
 *	G the longest time in ms without an echo while the stream was up).
 *   zt-probe ping [-i MS] [-c N] [-w MS] SRC DST
 *	N echo requests (default: until SIGTERM/SIGINT), one per -i ms
 *	(default 20), then waits -w ms (default 1000) for late replies;
 *	prints "sent N received M lost L errors E".
 *
 * Results are meant for scripts; exit status 0 unless the tool itself
 * failed (bad arguments, no sockets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBES 100000
#define MAX_INFLIGHT 800	/* well below the fd limit we can raise to */
#define LINE_MAX_LEN 256

enum proto {
	P_TCP,
	P_UDP,
	P_ICMP,
	P_SPOOF,
};

enum state {
	S_PENDING,
	S_CONNECTING,	/* TCP: SYN sent */
	S_WAITING,	/* request sent, waiting for the echo */
	S_DONE,
};

struct probe {
	char id[64];
	enum proto proto;
	struct sockaddr_storage src, dst;
	socklen_t len;
	bool bind_src;
	enum state state;
	int fd;
	int64_t start, deadline;
	char result[48];
	size_t got;		/* TCP: echoed bytes so far */
};

static volatile sig_atomic_t stop;
static const char probe_line[] = "zt-probe\n";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("zt-probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Parse ADDRESS (and PORT) into a sockaddr; returns its length or 0. */
static socklen_t parse_addr(const char *s, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *sin6 = (void *)ss;

		if (inet_pton(AF_INET6, s, &sin6->sin6_addr) != 1)
			return 0;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (void *)ss;

		if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
			return 0;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
}

static const char *classify(int err)
{
	static char buf[48];
	const char *name;

	switch (err) {
	case ECONNREFUSED:
		return "refused";
	case ECONNRESET:
	case EPIPE:
		return "reset";
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EACCES:
	case EHOSTDOWN:
	case ENONET:
		return "unreach";
	case EPERM:
		return "eperm";
	case ETIMEDOUT:
		return "timeout";
	}
	name = strerrorname_np(err);
	snprintf(buf, sizeof(buf), "error-%s", name ? name : "unknown");
	return buf;
}

/* The error an EPOLLERR stands for: the socket error or the queued one. */
static int socket_error(int fd, int family)
{
	int err = 0;
	socklen_t el = sizeof(err);
	char cbuf[512], data[64];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err)
		return err;
	if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
			struct sock_extended_err ee;

			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			return (int)ee.ee_errno;
		}
	}
	return 0;
}

static void finish(struct probe *p, const char *result)
{
	snprintf(p->result, sizeof(p->result), "%s", result);
	p->state = S_DONE;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	printf("%s %s %lld\n", p->id, p->result, (long long)(mono_ms() - p->start));
}

static void set_recverr(int fd, int family)
{
	int one = 1;

	if (family == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
}

/* An echo request with the kernel's ping socket filling in the identifier. */
static size_t echo_request(int family, uint16_t seq, char *buf)
{
	if (family == AF_INET) {
		struct icmphdr h = { .type = ICMP_ECHO };

		h.un.echo.sequence = htons(seq);
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), "ztseg-probe-pad!", 16);
		return sizeof(h) + 16;
	} else {
		struct icmp6_hdr h = { .icmp6_type = ICMP6_ECHO_REQUEST };

		h.icmp6_seq = htons(seq);
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), "ztseg-probe-pad!", 16);
		return sizeof(h) + 16;
	}
}

/* Is buf an echo reply; its sequence number in *seq. */
static bool echo_reply(int family, const char *buf, ssize_t n, uint16_t *seq)
{
	if (family == AF_INET) {
		struct icmphdr h;

		if (n < (ssize_t)sizeof(h))
			return false;
		memcpy(&h, buf, sizeof(h));
		*seq = ntohs(h.un.echo.sequence);
		return h.type == ICMP_ECHOREPLY;
	} else {
		struct icmp6_hdr h;

		if (n < (ssize_t)sizeof(h))
			return false;
		memcpy(&h, buf, sizeof(h));
		*seq = ntohs(h.icmp6_seq);
		return h.icmp6_type == ICMP6_ECHO_REPLY;
	}
}

/* A socket of the probe's kind, bound to its source. -errno on failure. */
static int open_probe_socket(int family, enum proto proto,
			     const struct sockaddr_storage *src, bool bind_src)
{
	int type = proto == P_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int ip = 0, one = 1, fd;

	if (proto == P_ICMP)
		ip = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, ip);
	if (fd < 0)
		return -errno;
	if (proto != P_TCP)
		set_recverr(fd, family);
	/*
	 * The source is some other machine's: bind it anyway. IPv4 routing
	 * refuses a foreign source unless the socket is transparent
	 * (FLOWI_FLAG_ANYSRC); freebind alone only lets bind() through.
	 */
	if (proto == P_SPOOF &&
	    (family == AF_INET ? setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one))
			       : setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (bind_src) {
		socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in)
						  : sizeof(struct sockaddr_in6);

		if (bind(fd, (const struct sockaddr *)src, len) < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
	}
	return fd;
}

static void probe_start(int ep, struct probe *p, int spoof_count)
{
	int family = p->dst.ss_family;
	struct epoll_event ev = { .data.ptr = p };
	char buf[64];
	size_t n;
	int i;

	p->start = mono_ms();
	p->fd = open_probe_socket(family, p->proto, &p->src, p->bind_src);
	if (p->fd < 0) {
		int err = -p->fd;

		p->fd = -1;
		if (err == EACCES && p->proto == P_ICMP)
			die("no ICMP echo socket (EACCES): set net.ipv4.ping_group_range");
		finish(p, classify(err));
		return;
	}
	switch (p->proto) {
	case P_SPOOF:
		for (i = 0; i < spoof_count; i++)
			if (sendto(p->fd, probe_line, sizeof(probe_line) - 1, 0,
				   (struct sockaddr *)&p->dst, p->len) < 0) {
				finish(p, classify(errno));
				return;
			}
		finish(p, "sent");
		return;
	case P_TCP:
		if (connect(p->fd, (struct sockaddr *)&p->dst, p->len) < 0 &&
		    errno != EINPROGRESS) {
			finish(p, classify(errno));
			return;
		}
		p->state = S_CONNECTING;
		ev.events = EPOLLOUT | EPOLLIN | EPOLLERR;
		break;
	case P_UDP:
	case P_ICMP:
		if (connect(p->fd, (struct sockaddr *)&p->dst, p->len) < 0) {
			finish(p, classify(errno));
			return;
		}
		if (p->proto == P_UDP) {
			n = sizeof(probe_line) - 1;
			memcpy(buf, probe_line, n);
		} else {
			n = echo_request(family, 1, buf);
		}
		if (send(p->fd, buf, n, 0) < 0) {
			finish(p, classify(errno));
			return;
		}
		p->state = S_WAITING;
		ev.events = EPOLLIN | EPOLLERR;
		break;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void probe_event(int ep, struct probe *p, uint32_t events)
{
	int family = p->dst.ss_family;
	char buf[512];
	ssize_t n;
	uint16_t seq;

	if (p->state == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			finish(p, classify(err));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		if (send(p->fd, probe_line, sizeof(probe_line) - 1, MSG_NOSIGNAL) < 0) {
			finish(p, errno == ECONNRESET || errno == EPIPE ? "reset"
								       : classify(errno));
			return;
		}
		p->state = S_WAITING;
		{
			struct epoll_event ev = { .events = EPOLLIN | EPOLLERR, .data.ptr = p };

			epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
		}
		return;
	}
	if (p->state != S_WAITING)
		return;
	n = recv(p->fd, buf, sizeof(buf), 0);
	if (n < 0) {
		int err = errno;

		if (err == EAGAIN) {
			if (events & EPOLLERR) {
				err = socket_error(p->fd, family);
				if (err)
					finish(p, classify(err));
			}
			return;
		}
		finish(p, p->proto == P_TCP && err == ECONNRESET ? "reset" : classify(err));
		return;
	}
	switch (p->proto) {
	case P_TCP:
		if (n == 0) {
			finish(p, "reset");
			return;
		}
		p->got += (size_t)n;
		if (p->got >= sizeof(probe_line) - 1)
			finish(p, "ok");
		return;
	case P_UDP:
		finish(p, "ok");
		return;
	case P_ICMP:
		if (echo_reply(family, buf, n, &seq))
			finish(p, "ok");
		return;
	case P_SPOOF:
		return;
	}
}

static int parse_proto(const char *s, enum proto *ret)
{
	static const struct {
		const char *name;
		enum proto proto;
	} table[] = {
		{ "tcp", P_TCP }, { "udp", P_UDP }, { "icmp", P_ICMP },
		{ "icmpv6", P_ICMP }, { "spoof", P_SPOOF },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(s, table[i].name) == 0) {
			*ret = table[i].proto;
			return 0;
		}
	return -EINVAL;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_batch(int argc, char **argv)
{
	int timeout = 1000, spoof_count = 3, opt, ep;
	struct probe *probes = NULL;
	size_t np = 0, cap = 0, next = 0, done = 0, inflight = 0, i;
	char line[LINE_MAX_LEN];
	unsigned lineno = 0;

	while ((opt = getopt(argc, argv, "w:c:")) != -1) {
		switch (opt) {
		case 'w':
			timeout = atoi(optarg);
			break;
		case 'c':
			spoof_count = atoi(optarg);
			break;
		default:
			die("usage: zt-probe batch [-w MS] [-c N] < PROBES");
		}
	}
	if (timeout <= 0 || spoof_count <= 0)
		die("-w and -c take positive numbers");

	while (fgets(line, sizeof(line), stdin)) {
		char id[64], proto[16], src[64], dst[64];
		unsigned port;
		struct probe *p;

		lineno++;
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%63s %15s %63s %63s %u", id, proto, src, dst, &port) != 5 ||
		    port > 65535)
			die("stdin:%u: expected 'ID PROTO SRC DST PORT'", lineno);
		if (np == MAX_PROBES)
			die("more than %d probes", MAX_PROBES);
		if (np == cap) {
			cap = cap ? 2 * cap : 256;
			probes = realloc(probes, cap * sizeof(*probes));
			if (!probes)
				die("out of memory");
		}
		p = &probes[np];
		memset(p, 0, sizeof(*p));
		p->fd = -1;
		snprintf(p->id, sizeof(p->id), "%s", id);
		if (parse_proto(proto, &p->proto) < 0)
			die("stdin:%u: unknown protocol '%s'", lineno, proto);
		p->len = parse_addr(dst, p->proto == P_ICMP ? 0 : port, &p->dst);
		if (!p->len)
			die("stdin:%u: bad destination '%s'", lineno, dst);
		if (strcmp(src, "-") != 0) {
			if (!parse_addr(src, 0, &p->src))
				die("stdin:%u: bad source '%s'", lineno, src);
			if (p->src.ss_family != p->dst.ss_family)
				die("stdin:%u: source and destination families differ", lineno);
			p->bind_src = true;
		}
		np++;
	}

	raise_fd_limit();
	setvbuf(stdout, NULL, _IOLBF, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));

	while (done < np) {
		struct epoll_event evs[128];
		int64_t now, wait = -1;
		int n, k;

		while (next < np && inflight < MAX_INFLIGHT) {
			probe_start(ep, &probes[next], spoof_count);
			probes[next].deadline = probes[next].start + timeout;
			if (probes[next].state == S_DONE)
				done++;
			else
				inflight++;
			next++;
		}
		now = mono_ms();
		for (i = 0; i < next; i++) {
			struct probe *p = &probes[i];

			if (p->state == S_DONE)
				continue;
			if (p->deadline <= now) {
				finish(p, "timeout");
				done++;
				inflight--;
				continue;
			}
			if (wait < 0 || p->deadline - now < wait)
				wait = p->deadline - now;
		}
		if (done == np)
			break;
		n = epoll_wait(ep, evs, 128, (int)(wait < 0 ? 1000 : wait));
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (k = 0; k < n; k++) {
			struct probe *p = evs[k].data.ptr;

			if (p->state == S_DONE)
				continue;
			probe_event(ep, p, evs[k].events);
			if (p->state == S_DONE) {
				done++;
				inflight--;
			}
		}
	}
	free(probes);
	return 0;
}

static int cmd_stream(int argc, char **argv)
{
	int interval = 100, duration = -1, opt, fd;
	struct sockaddr_storage src, dst;
	socklen_t len;
	struct pollfd pfd;
	int64_t t0, next_send, last_echo, maxgap = 0;
	unsigned sent = 0, echoed = 0;
	char buf[4096], pending[256];
	size_t plen = 0;
	const char *how = NULL;

	while ((opt = getopt(argc, argv, "i:T:")) != -1) {
		switch (opt) {
		case 'i':
			interval = atoi(optarg);
			break;
		case 'T':
			duration = atoi(optarg);
			break;
		default:
			die("usage: zt-probe stream [-i MS] [-T MS] SRC DST PORT");
		}
	}
	if (argc - optind != 3 || interval <= 0)
		die("usage: zt-probe stream [-i MS] [-T MS] SRC DST PORT");
	len = parse_addr(argv[optind + 1], (unsigned)atoi(argv[optind + 2]), &dst);
	if (!len)
		die("bad destination '%s'", argv[optind + 1]);
	if (strcmp(argv[optind], "-") != 0 && !parse_addr(argv[optind], 0, &src))
		die("bad source '%s'", argv[optind]);
	catch_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = open_probe_socket(dst.ss_family, P_TCP, &src, strcmp(argv[optind], "-") != 0);
	if (fd < 0)
		die("socket: %s", strerror(-fd));
	if (connect(fd, (struct sockaddr *)&dst, len) < 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, 3000) != 1)
		die("connect: timed out");
	{
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err)
			die("connect: %s", strerror(err));
	}
	t0 = mono_ms();
	printf("connected %lld\n", (long long)wall_ms());
	next_send = t0;
	last_echo = t0;

	while (!stop && (duration < 0 || mono_ms() - t0 < duration)) {
		int64_t now = mono_ms();
		ssize_t n;

		if (now >= next_send) {
			char msg[32];
			int m = snprintf(msg, sizeof(msg), "%u\n", sent);

			if (send(fd, msg, (size_t)m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
			    errno != EAGAIN) {
				how = errno == ECONNRESET || errno == EPIPE ? "reset" : "error";
				break;
			}
			sent++;
			next_send += interval;
		}
		pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
		now = mono_ms();
		if (poll(&pfd, 1, (int)(next_send > now ? next_send - now : 0)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			how = "closed";
			break;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			how = errno == ECONNRESET ? "reset" : "error";
			break;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] != '\n') {
				if (plen < sizeof(pending) - 1)
					pending[plen++] = buf[k];
				continue;
			}
			pending[plen] = '\0';
			plen = 0;
			now = mono_ms();
			if (now - last_echo > maxgap)
				maxgap = now - last_echo;
			last_echo = now;
			echoed++;
			printf("echo %s %lld\n", pending, (long long)wall_ms());
		}
	}
	if (!how && mono_ms() - last_echo > maxgap)
		maxgap = mono_ms() - last_echo;
	if (how)
		printf("%s %lld\n", how, (long long)wall_ms());
	printf("end %lld sent %u echoed %u maxgap %lld\n", (long long)wall_ms(),
	       sent, echoed, (long long)maxgap);
	close(fd);
	return 0;
}

static int cmd_ping(int argc, char **argv)
{
	int interval = 20, count = -1, linger = 1000, opt, fd, family;
	struct sockaddr_storage src, dst;
	socklen_t len;
	unsigned sent = 0, received = 0, errors = 0;
	uint8_t *seen;
	int64_t next_send, end = -1;

	while ((opt = getopt(argc, argv, "i:c:w:")) != -1) {
		switch (opt) {
		case 'i':
			interval = atoi(optarg);
			break;
		case 'c':
			count = atoi(optarg);
			break;
		case 'w':
			linger = atoi(optarg);
			break;
		default:
			die("usage: zt-probe ping [-i MS] [-c N] [-w MS] SRC DST");
		}
	}
	if (argc - optind != 2 || interval <= 0 || linger < 0)
		die("usage: zt-probe ping [-i MS] [-c N] [-w MS] SRC DST");
	len = parse_addr(argv[optind + 1], 0, &dst);
	if (!len)
		die("bad destination '%s'", argv[optind + 1]);
	if (strcmp(argv[optind], "-") != 0 && !parse_addr(argv[optind], 0, &src))
		die("bad source '%s'", argv[optind]);
	family = dst.ss_family;
	catch_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = open_probe_socket(family, P_ICMP, &src, strcmp(argv[optind], "-") != 0);
	if (fd < 0)
		die("ICMP socket: %s (is net.ipv4.ping_group_range set?)", strerror(-fd));
	if (connect(fd, (struct sockaddr *)&dst, len) < 0)
		die("connect: %s", strerror(errno));
	/* 16-bit sequence numbers: one bit per number seen. */
	seen = calloc(65536, 1);
	if (!seen)
		die("out of memory");
	next_send = mono_ms();

	for (;;) {
		int64_t now = mono_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[512];
		ssize_t n;
		uint16_t seq;

		if (end < 0 && (stop || (count >= 0 && (int)sent >= count)))
			end = now + linger;
		if (end >= 0 && (now >= end || received == sent))
			break;
		if (end < 0 && now >= next_send) {
			size_t m = echo_request(family, (uint16_t)sent, buf);

			if (send(fd, buf, m, 0) < 0)
				errors++;
			sent++;
			next_send += interval;
			/* 65536 in flight would alias sequence numbers. */
			if (sent == 65536)
				stop = 1;
		}
		now = mono_ms();
		if (poll(&pfd, 1, (int)((end >= 0 ? end : next_send) > now
				       ? (end >= 0 ? end : next_send) - now : 0)) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				errors++;
			continue;
		}
		if (echo_reply(family, buf, n, &seq) && !seen[seq]) {
			seen[seq] = 1;
			received++;
		}
	}
	printf("sent %u received %u lost %u errors %u\n", sent, received,
	       sent - received, errors);
	free(seen);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: zt-probe batch|stream|ping ...");
	if (strcmp(argv[1], "batch") == 0)
		return cmd_batch(argc - 1, argv + 1);
	if (strcmp(argv[1], "stream") == 0)
		return cmd_stream(argc - 1, argv + 1);
	if (strcmp(argv[1], "ping") == 0)
		return cmd_ping(argc - 1, argv + 1);
	die("unknown command '%s' (batch, stream, ping)", argv[1]);
}
