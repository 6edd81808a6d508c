/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * zb-tool: the benchmark's own traffic and event tools — a TCP echo server,
 * request/response and connect-rate clients, and the "a workload appears"
 * event timer (rtnetlink through libmnl, sockets in several namespaces).
 *
 *   zb-tool serve PORT
 *	Dual-stack TCP echo server: one connection at a time, echoes what it
 *	reads until the peer closes.
 *   zb-tool rr [-t SEC] ADDR PORT
 *	One connection, TCP_NODELAY; one byte out, one byte back, for SEC
 *	seconds (default 2). Prints "rr RATE N" (transactions per second).
 *   zb-tool crr [-t SEC] ADDR PORT
 *	Connect, one byte out, one byte back, close; again, for SEC seconds.
 *	Prints "crr RATE N ERRORS CPU_US" (connections per second; the
 *	client's own CPU time, user + system, in microseconds).
 *   zb-tool event -H NS -W NS -S NS -i IFNAME-PREFIX -a ADDR -g GW -d DST -p PORT
 *		  [-n COUNT] [-o FILE]
 *	COUNT times: create a veth (host side IFNAME-PREFIX<k> in namespace
 *	-H, the peer "eth0" in -W), give the workload ADDR/128 and a default
 *	route via GW (which the host side also gets), bring both ends up,
 *	wait until the kernel runs both (IFF_RUNNING), and last add the
 *	host's route to ADDR over the new interface. Then send UDP datagrams
 *	from the workload to DST:PORT every 100 us until one arrives at a
 *	socket in namespace -S. Per event, prints "k ROUTE_US TOTAL_US UP_US
 *	SENT": from the route's ACK to the arrival, from the start of the
 *	link creation to the arrival, from that start to both ends running,
 *	datagrams sent. Then deletes the link. IPv6 only (the family whose
 *	maps hold the big policy's members).
 *
 *   zb-tool join -H NS -W NS -R NS -r IF -b BRIDGE -i PREFIX -l LEGIT -s SPOOF -t TARGET
 *		 [-n COUNT] [-o FILE]
 *	COUNT times: a new veth joins BRIDGE (`ip link set PREFIX<k> master
 *	BRIDGE up` as one request, timed from just before it) while its
 *	workload sends broadcast ARP requests, one with a spoofed sender
 *	(SPOOF), one with its own (LEGIT), every 20 us; a packet socket on IF
 *	in -R sees what is delivered. Per join: the time to the first LEGIT
 *	frame delivered and the SPOOF frames delivered. No process starts
 *	inside the timed window.
 *
 * Output is for scripts; exit status 0 unless the tool itself failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/if_packet.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 100000

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("zb-tool: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ADDR PORT into a sockaddr of either family. */
static socklen_t parse_sockaddr(const char *addr, const char *port, struct sockaddr_storage *ss)
{
	char *end;
	unsigned long p = strtoul(port, &end, 10);

	memset(ss, 0, sizeof(*ss));
	if (*end || !p || p > 65535)
		die("bad port '%s'", port);
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			die("bad address '%s'", addr);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			die("bad address '%s'", addr);
		return sizeof(*s4);
	}
}

static double parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || !(v > 0) || v > 3600)
		die("bad duration '%s'", s);
	return v;
}

/* ---- serve ---- */

static void serve_conn(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf)), w = 0;

		if (n <= 0)
			return;
		while (w < n) {
			ssize_t k = write(fd, buf + w, (size_t)(n - w));

			if (k <= 0)
				return;
			w += k;
		}
	}
}

static int cmd_serve(int argc, char **argv)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_storage ss;
	int one = 1, zero = 0, fd;

	if (argc != 2)
		die("usage: zb-tool serve PORT");
	parse_sockaddr("::", argv[1], &ss);
	s6.sin6_port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&s6, sizeof(s6)) < 0 || listen(fd, 128) < 0)
		die("bind/listen: %s", strerror(errno));
	for (;;) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		serve_conn(c);
		close(c);
	}
}

/* ---- rr, crr ---- */

static int connect_to(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

static bool transact(int fd)
{
	char c = 'x';

	return write(fd, &c, 1) == 1 && read(fd, &c, 1) == 1;
}

static int cmd_client(int argc, char **argv, bool per_conn)
{
	struct sockaddr_storage ss;
	socklen_t len;
	double secs = 2;
	uint64_t t0, t1, end, n = 0, errors = 0;
	int opt, fd = -1;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			die("usage: zb-tool %s [-t SEC] ADDR PORT", argv[0]);
		secs = parse_secs(optarg);
	}
	if (argc - optind != 2)
		die("usage: zb-tool %s [-t SEC] ADDR PORT", argv[0]);
	len = parse_sockaddr(argv[optind], argv[optind + 1], &ss);
	if (!per_conn && (fd = connect_to(&ss, len)) < 0)
		die("connect: %s", strerror(-fd));
	t0 = now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	do {
		/* The clock is read every 64 transactions: a read costs as much as a short one. */
		for (int i = 0; i < 64; i++) {
			if (per_conn) {
				fd = connect_to(&ss, len);
				if (fd < 0) {
					if (++errors > 1000)
						die("connect: %s (%llu errors)", strerror(-fd),
						    (unsigned long long)errors);
					continue;
				}
				if (transact(fd))
					n++;
				else
					errors++;
				close(fd);
			} else {
				if (!transact(fd))
					die("the connection broke after %llu transactions", (unsigned long long)n);
				n++;
			}
		}
		t1 = now_ns();
	} while (t1 < end);
	if (per_conn) {
		/* the client's CPU (user + system, softirqs run in its context included: tick-sampled) */
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("crr %.0f %llu %llu %llu\n", (double)n * 1e9 / (double)(t1 - t0), (unsigned long long)n,
		       (unsigned long long)errors,
		       (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
			       (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
	}
	else
		printf("rr %.0f %llu\n", (double)n * 1e9 / (double)(t1 - t0), (unsigned long long)n);
	return 0;
}

/* ---- event: rtnetlink through libmnl ---- */

struct nl {
	struct mnl_socket *sk;
	unsigned portid, seq;
	char buf[32768];	/* MNL_SOCKET_BUFFER_SIZE is not a constant */
};

static int ns_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	return fd;
}

static void ns_enter(int fd)
{
	if (setns(fd, CLONE_NEWNET) < 0)
		die("setns: %s", strerror(errno));
}

/* A socket of the given kind created inside namespace nsfd; we return to home after. */
static int socket_in(int nsfd, int home, int family, int type)
{
	int fd;

	ns_enter(nsfd);
	fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	ns_enter(home);
	return fd;
}

static void nl_open(struct nl *nl, int nsfd, int home)
{
	ns_enter(nsfd);
	nl->sk = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sk || mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0)
		die("rtnetlink: %s", strerror(errno));
	ns_enter(home);
	nl->portid = mnl_socket_get_portid(nl->sk);
	nl->seq = (unsigned)time(NULL);
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Send, then read until the ACK (or error) of this request; cb sees data replies. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned seq = nlh->nlmsg_seq;
	int r;

	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		die("rtnetlink send: %s", strerror(errno));
	do {
		ssize_t n = mnl_socket_recvfrom(nl->sk, nl->buf, sizeof(nl->buf));

		if (n < 0)
			die("rtnetlink receive: %s", strerror(errno));
		r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
	} while (r > 0 && cb);
	return r < 0 ? -errno : 0;
}

static int ifindex_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWLINK)
		*(int *)data = ifm->ifi_index;
	return MNL_CB_OK;
}

static int flags_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWLINK)
		*(unsigned *)data = ifm->ifi_flags;
	return MNL_CB_OK;
}

/*
 * Wait until the kernel's link watcher has run for the link (IFF_RUNNING):
 * before that its queue discipline drops what is sent, and the watcher
 * waits for RTNL, which anything else on the machine may hold.
 */
static void nl_wait_running(struct nl *nl, int idx)
{
	uint64_t t0 = now_ns();

	for (;;) {
		struct nlmsghdr *nlh = nl_msg(nl, RTM_GETLINK, 0);
		struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
		unsigned flags = 0;

		ifm->ifi_family = AF_UNSPEC;
		ifm->ifi_index = idx;
		if (nl_talk(nl, nlh, flags_cb, &flags) < 0)
			die("link %d vanished", idx);
		if (flags & IFF_RUNNING)
			return;
		if (now_ns() - t0 > 5000000000ull)
			die("link %d not running after 5 s", idx);
		usleep(20);
	}
}

static int lladdr_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *attr;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg))
		if (mnl_attr_get_type(attr) == IFLA_ADDRESS && mnl_attr_get_payload_len(attr) == 6)
			memcpy(data, mnl_attr_get_payload(attr), 6);
	return MNL_CB_OK;
}

static void nl_lladdr(struct nl *nl, int idx, uint8_t mac[6])
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = idx;
	if (nl_talk(nl, nlh, lladdr_cb, mac) < 0)
		die("link %d vanished", idx);
}

/* A permanent neighbour entry, as routed-model CNIs give workloads for their gateway. */
static void nl_neigh6_add(struct nl *nl, int idx, const struct in6_addr *a, const uint8_t mac[6])
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	int r;

	nd->ndm_family = AF_INET6;
	nd->ndm_ifindex = idx;
	nd->ndm_state = NUD_PERMANENT;
	mnl_attr_put(nlh, NDA_DST, sizeof(*a), a);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("neighbour: %s", strerror(-r));
}

static int nl_ifindex(struct nl *nl, const char *name)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int idx = 0;

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (nl_talk(nl, nlh, ifindex_cb, &idx) < 0 || !idx)
		die("no link %s", name);
	return idx;
}

static void nl_veth_add(struct nl *nl, const char *name, const char *peer, int peer_ns)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *info, *data, *pnest;
	struct ifinfomsg *pifm;
	int r;

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	pnest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_ns);
	mnl_attr_nest_end(nlh, pnest);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("veth %s: %s", name, strerror(-r));
}

static void nl_link_up(struct nl *nl, int idx)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int r;

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = idx;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("link up: %s", strerror(-r));
}

static void nl_link_del(struct nl *nl, int idx)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int r;

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = idx;
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("link delete: %s", strerror(-r));
}

static void nl_addr6_add(struct nl *nl, int idx, const struct in6_addr *a)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	int r;

	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = 128;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_index = (unsigned)idx;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(*a), a);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(*a), a);
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("address: %s", strerror(-r));
}

/* dst/dst_len over idx, via gw when not NULL. */
static void nl_route6_add(struct nl *nl, int idx, const struct in6_addr *dst, unsigned dst_len,
			  const struct in6_addr *gw)
{
	struct nlmsghdr *nlh = nl_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int r;

	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = (unsigned char)dst_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (dst_len)
		mnl_attr_put(nlh, RTA_DST, sizeof(*dst), dst);
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, sizeof(*gw), gw);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)idx);
	if ((r = nl_talk(nl, nlh, NULL, NULL)) < 0)
		die("route: %s", strerror(-r));
}

static void parse6(const char *s, struct in6_addr *a)
{
	if (inet_pton(AF_INET6, s, a) != 1)
		die("bad IPv6 address '%s'", s);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return sorted[i < n ? i : n - 1];
}

static int cmd_event(int argc, char **argv)
{
	const char *host = NULL, *wl = NULL, *srv = NULL, *prefix = NULL, *out = NULL;
	const char *addr = NULL, *gw = NULL, *dst = NULL, *port = NULL;
	struct in6_addr a, g;
	struct sockaddr_storage ds;
	struct sockaddr_in6 bind6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct nl nh = {}, nw = {};
	unsigned long count = 1000;
	uint64_t *route_ns, *total_ns, *up_ns;
	size_t done = 0;
	int opt, home, hfd, wfd, sfd, rx;
	bool static_neigh = false;
	FILE *o = stdout;

	while ((opt = getopt(argc, argv, "H:W:S:i:a:g:d:p:n:o:N")) != -1) {
		switch (opt) {
		case 'N': static_neigh = true; break;
		case 'H': host = optarg; break;
		case 'W': wl = optarg; break;
		case 'S': srv = optarg; break;
		case 'i': prefix = optarg; break;
		case 'a': addr = optarg; break;
		case 'g': gw = optarg; break;
		case 'd': dst = optarg; break;
		case 'p': port = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		default: die("bad option");
		}
	}
	if (!host || !wl || !srv || !prefix || !addr || !gw || !dst || !port || !count || count > MAX_EVENTS)
		die("usage: zb-tool event -H NS -W NS -S NS -i PREFIX -a ADDR -g GW -d DST -p PORT [-n N] [-o FILE]");
	if (strlen(prefix) > IFNAMSIZ - 7)
		die("interface prefix '%s' too long", prefix);
	parse6(addr, &a);
	parse6(gw, &g);
	parse_sockaddr(dst, port, &ds);
	if (ds.ss_family != AF_INET6)
		die("event: IPv6 destinations only");
	bind6.sin6_port = ((struct sockaddr_in6 *)&ds)->sin6_port;
	if (out && !(o = fopen(out, "w")))
		die("%s: %s", out, strerror(errno));
	route_ns = calloc(count, sizeof(*route_ns));
	total_ns = calloc(count, sizeof(*total_ns));
	up_ns = calloc(count, sizeof(*up_ns));
	if (!route_ns || !total_ns || !up_ns)
		die("out of memory");

	hfd = ns_open(host);
	wfd = ns_open(wl);
	sfd = ns_open(srv);
	/* Live in the host's test namespace: nothing here may touch the one we came from. */
	ns_enter(hfd);
	home = hfd;
	nl_open(&nh, hfd, home);
	nl_open(&nw, wfd, home);
	rx = socket_in(sfd, home, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK);
	if (bind(rx, (struct sockaddr *)&bind6, sizeof(bind6)) < 0)
		die("bind: %s", strerror(errno));

	for (unsigned long k = 0; k < count; k++) {
		char name[IFNAMSIZ], buf[64];
		uint64_t t0, t_up, t_route, t_rx = 0, next;
		unsigned sent = 0;
		int hidx, widx, tx;

		snprintf(name, sizeof(name), "%s%lu", prefix, 10000 + k % 90000);
		/* A new socket each time: a new source port, so a new conntrack entry. */
		tx = socket_in(wfd, home, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK);

		t0 = now_ns();
		nl_veth_add(&nh, name, "eth0", wfd);
		hidx = nl_ifindex(&nh, name);
		widx = nl_ifindex(&nw, "eth0");
		nl_addr6_add(&nh, hidx, &g);
		nl_link_up(&nh, hidx);
		nl_addr6_add(&nw, widx, &a);
		nl_link_up(&nw, widx);
		nl_route6_add(&nw, widx, &g, 128, NULL);
		nl_route6_add(&nw, widx, &g, 0, &g);
		if (static_neigh) {
			uint8_t mac[6] = {};

			nl_lladdr(&nh, hidx, mac);
			nl_neigh6_add(&nw, widx, &g, mac);
		}
		nl_wait_running(&nh, hidx);
		nl_wait_running(&nw, widx);
		t_up = now_ns();
		nl_route6_add(&nh, hidx, &a, 128, NULL);
		t_route = now_ns();

		next = t_route;
		while (!t_rx && now_ns() - t_route < 2000000000ull) {
			struct pollfd p = { .fd = rx, .events = POLLIN };
			uint64_t t = now_ns();

			if (t >= next) {
				snprintf(buf, sizeof(buf), "%lu", k);
				if (sendto(tx, buf, strlen(buf), 0, (struct sockaddr *)&ds, sizeof(struct sockaddr_in6)) > 0)
					sent++;
				next = t + 100000;
			}
			if (poll(&p, 1, 0) > 0 || ppoll(&p, 1, &(struct timespec){ .tv_nsec = 20000 }, NULL) > 0) {
				ssize_t n;

				while ((n = recv(rx, buf, sizeof(buf) - 1, 0)) > 0) {
					buf[n] = 0;
					if (strtoul(buf, NULL, 10) == k && !t_rx)
						t_rx = now_ns();
				}
			}
		}
		close(tx);
		nl_link_del(&nh, hidx);
		if (!t_rx) {
			fprintf(o, "%lu - - - %u\n", k, sent);
			continue;
		}
		route_ns[done] = t_rx - t_route;
		total_ns[done] = t_rx - t0;
		up_ns[done] = t_up - t0;
		done++;
		fprintf(o, "%lu %.1f %.1f %.1f %u\n", k, (double)(t_rx - t_route) / 1e3, (double)(t_rx - t0) / 1e3,
			(double)(t_up - t0) / 1e3, sent);
	}
	if (o != stdout)
		fclose(o);
	if (!done)
		die("no event's packet arrived");
	qsort(route_ns, done, sizeof(*route_ns), u64_cmp);
	qsort(total_ns, done, sizeof(*total_ns), u64_cmp);
	qsort(up_ns, done, sizeof(*up_ns), u64_cmp);
	printf("events %zu of %lu route-to-packet-us p50 %.1f p99 %.1f max %.1f link-to-packet-us p50 %.1f p99 %.1f max %.1f"
	       " link-to-running-us p50 %.1f p99 %.1f\n",
	       done, count, (double)pct(route_ns, done, 0.5) / 1e3, (double)pct(route_ns, done, 0.99) / 1e3,
	       (double)route_ns[done - 1] / 1e3, (double)pct(total_ns, done, 0.5) / 1e3,
	       (double)pct(total_ns, done, 0.99) / 1e3, (double)total_ns[done - 1] / 1e3,
	       (double)pct(up_ns, done, 0.5) / 1e3, (double)pct(up_ns, done, 0.99) / 1e3);
	free(route_ns);
	free(total_ns);
	free(up_ns);
	return 0;
}

/* ---- join: a port joins a bridge; time to its first enforced frame ---- */

struct arpf {
	uint8_t dst[6], src[6];
	uint16_t type;
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t op;
	uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

static void arp_frame(struct arpf *f, const uint8_t mac[6], const char *sender, const char *target)
{
	memset(f, 0, sizeof(*f));
	memset(f->dst, 0xff, 6);
	memcpy(f->src, mac, 6);
	f->type = htons(0x0806);
	f->htype = htons(1);
	f->ptype = htons(0x0800);
	f->hlen = 6;
	f->plen = 4;
	f->op = htons(1);
	memcpy(f->sha, mac, 6);
	if (inet_pton(AF_INET, sender, f->spa) != 1 || inet_pton(AF_INET, target, f->tpa) != 1)
		die("bad IPv4 address");
}

static int packet_socket_in(int nsfd, int home, int idx, bool nonblock)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(0x0806), .sll_ifindex = idx };
	int fd;

	ns_enter(nsfd);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), htons(0x0806));
	if (fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0)
		die("packet socket: %s", strerror(errno));
	ns_enter(home);
	return fd;
}

/*
 * COUNT times: a veth (host side PREFIX<k> in -H, "eth0" in -W, up, its
 * host side down and in no bridge) is made, then — timed from just before
 * the request — `ip link set PREFIX<k> master BRIDGE up` as one
 * RTM_NEWLINK, after which the workload sends pairs of broadcast ARP
 * requests every 20 us from its own MAC: one claiming SPOOF (another
 * segment's address), one with LEGIT (its own). A packet socket in -R on
 * -r counts them. Per join: the time to the first LEGIT frame received,
 * and how many SPOOF frames were received (until 10 ms after). Prints
 * "join k US SPOOF_RX PAIRS" per join to -o and a summary line.
 */
static int cmd_join(int argc, char **argv)
{
	const char *host = NULL, *wl = NULL, *rxns = NULL, *rxif = NULL, *bridge = NULL, *prefix = NULL;
	const char *legit = NULL, *spoof = NULL, *target = NULL, *out = NULL;
	unsigned long count = 100;
	struct nl nh = {}, nw = {}, nr = {};
	uint64_t *lat, spoofed_total = 0, pairs_total = 0;
	size_t done = 0, timeouts = 0;
	int opt, home, hfd, wfd, rfd, rx, bidx;
	FILE *o = NULL;

	while ((opt = getopt(argc, argv, "H:W:R:r:b:i:l:s:t:n:o:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'W': wl = optarg; break;
		case 'R': rxns = optarg; break;
		case 'r': rxif = optarg; break;
		case 'b': bridge = optarg; break;
		case 'i': prefix = optarg; break;
		case 'l': legit = optarg; break;
		case 's': spoof = optarg; break;
		case 't': target = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'o': out = optarg; break;
		default: die("bad option");
		}
	}
	if (!host || !wl || !rxns || !rxif || !bridge || !prefix || !legit || !spoof || !target || !count ||
	    count > MAX_EVENTS)
		die("usage: zb-tool join -H NS -W NS -R NS -r IF -b BRIDGE -i PREFIX -l LEGIT -s SPOOF -t TARGET [-n N] [-o FILE]");
	if (out && !(o = fopen(out, "we")))
		die("%s: %s", out, strerror(errno));
	home = ns_open("/proc/self/ns/net");
	hfd = ns_open(host);
	wfd = ns_open(wl);
	rfd = ns_open(rxns);
	nl_open(&nh, hfd, home);
	nl_open(&nw, wfd, home);
	nl_open(&nr, rfd, home);
	bidx = nl_ifindex(&nh, bridge);
	rx = packet_socket_in(rfd, home, nl_ifindex(&nr, rxif), true);
	if (!(lat = calloc(count, sizeof(*lat))))
		die("out of memory");
	for (unsigned long k = 0; k < count; k++) {
		char name[IFNAMSIZ];
		uint8_t mac[6], buf[2048];
		struct arpf fs, fl;
		struct nlmsghdr *nlh;
		struct ifinfomsg *ifm;
		uint64_t t0, first = 0, stop = 0, spoof_rx = 0, pairs = 0;
		int hidx, widx, tx, r;
		unsigned seq;

		snprintf(name, sizeof(name), "%s%lu", prefix, k);
		nl_veth_add(&nh, name, "eth0", wfd);
		hidx = nl_ifindex(&nh, name);
		widx = nl_ifindex(&nw, "eth0");
		nl_link_up(&nw, widx);
		nl_lladdr(&nw, widx, mac);
		tx = packet_socket_in(wfd, home, widx, false);
		arp_frame(&fs, mac, spoof, target);
		arp_frame(&fl, mac, legit, target);
		while (recv(rx, buf, sizeof(buf), 0) > 0)
			;
		/* ip link set NAME master BRIDGE up: one request, processed before sendto returns */
		nlh = nl_msg(&nh, RTM_NEWLINK, 0);
		ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
		ifm->ifi_family = AF_UNSPEC;
		ifm->ifi_index = hidx;
		ifm->ifi_flags = IFF_UP;
		ifm->ifi_change = IFF_UP;
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)bidx);
		seq = nlh->nlmsg_seq;
		t0 = now_ns();
		if (mnl_socket_sendto(nh.sk, nlh, nlh->nlmsg_len) < 0)
			die("rtnetlink send: %s", strerror(errno));
		for (;;) {
			uint64_t t;
			ssize_t n;

			if (send(tx, &fs, sizeof(fs), 0) < 0 || send(tx, &fl, sizeof(fl), 0) < 0)
				if (errno != ENETDOWN && errno != ENOBUFS)
					die("send: %s", strerror(errno));
			pairs++;
			while ((n = recv(rx, buf, sizeof(buf), 0)) >= (ssize_t)sizeof(struct arpf)) {
				const struct arpf *f = (const struct arpf *)buf;

				if (memcmp(f->src, mac, 6) || f->type != htons(0x0806))
					continue;
				if (!memcmp(f->spa, fs.spa, 4))
					spoof_rx++;
				else if (!memcmp(f->spa, fl.spa, 4) && !first)
					first = now_ns();
			}
			t = now_ns();
			if (first && !stop)
				stop = t + 10000000ull;
			if ((stop && t >= stop) || t - t0 > 2000000000ull)
				break;
			usleep(20);
		}
		/* the ACK of the join */
		{
			ssize_t n = mnl_socket_recvfrom(nh.sk, nh.buf, sizeof(nh.buf));

			if (n < 0 || (r = mnl_cb_run(nh.buf, (size_t)n, seq, nh.portid, NULL, NULL)) < 0)
				die("join %s: %s", name, strerror(errno));
		}
		close(tx);
		nl_link_del(&nh, hidx);
		if (!first) {
			timeouts++;
			if (o)
				fprintf(o, "join %lu timeout %llu %llu\n", k, (unsigned long long)spoof_rx,
					(unsigned long long)pairs);
			continue;
		}
		lat[done++] = first - t0;
		spoofed_total += spoof_rx;
		pairs_total += pairs;
		if (o)
			fprintf(o, "join %lu %.1f %llu %llu\n", k, (double)(first - t0) / 1e3, (unsigned long long)spoof_rx,
				(unsigned long long)pairs);
	}
	if (o)
		fclose(o);
	if (!done)
		die("no join reached its first frame");
	qsort(lat, done, sizeof(*lat), u64_cmp);
	printf("joins %zu of %lu timeouts %zu join-to-first-frame-us p50 %.1f p99 %.1f max %.1f spoofed-delivered %llu pairs %llu\n",
	       done, count, timeouts, (double)pct(lat, done, 0.5) / 1e3, (double)pct(lat, done, 0.99) / 1e3,
	       (double)lat[done - 1] / 1e3, (unsigned long long)spoofed_total, (unsigned long long)pairs_total);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		die("usage: zb-tool serve|rr|crr|event|join ...");
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rr"))
		return cmd_client(argc - 1, argv + 1, false);
	if (!strcmp(argv[1], "crr"))
		return cmd_client(argc - 1, argv + 1, true);
	if (!strcmp(argv[1], "event"))
		return cmd_event(argc - 1, argv + 1);
	if (!strcmp(argv[1], "join"))
		return cmd_join(argc - 1, argv + 1);
	die("unknown command '%s'", argv[1]);
}
