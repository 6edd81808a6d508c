/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test driver for lib/rtnl.c and lib/membership.c (tests/netns/rtnl.sh):
 * follows rtnetlink in its namespace, prints membership changes, and
 * writes its state on SIGUSR1.
 *
 *   zt-rtnl-watch -o SNAPSHOT [-b RCVBUF] [-c POLICY-DIR]
 *
 * stdout gets "+if SEG NAME", "-pfx SEG PREFIX", "+enc NAME KIND" … lines as
 * the membership changes, and "resync" after each overrun. On SIGUSR1 it
 * catches up with every queued event, then writes SNAPSHOT (atomically):
 *   stats K=V …
 *   link IFINDEX NAME KIND|- MASTER|0
 *   addr IFNAME ADDR/PLEN
 *   route TYPE DST/PLEN IFNAME|-
 *   member SEG IFNAME / routed SEG PREFIX / enc NAME KIND / warning TEXT
 * SIGTERM or SIGINT ends it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include "membership.h"
#include "rtnl.h"

struct watch {
	struct zt_rtnl *r;
	struct zt_policy *policy;
	struct zt_membership *m;
	const char *snapshot;
};

static const char *route_type(uint8_t t)
{
	switch (t) {
	case RTN_UNICAST: return "unicast";
	case RTN_BLACKHOLE: return "blackhole";
	case RTN_UNREACHABLE: return "unreachable";
	case RTN_PROHIBIT: return "prohibit";
	case RTN_THROW: return "throw";
	case RTN_LOCAL: return "local";
	case RTN_BROADCAST: return "broadcast";
	case RTN_ANYCAST: return "anycast";
	case RTN_MULTICAST: return "multicast";
	default: return "other";
	}
}

static const char *ifname(const struct zt_rtnl_state *s, int ifindex, char *buf, size_t len)
{
	const struct zt_rtnl_link *l = ifindex ? zt_rtnl_state_link(s, ifindex) : NULL;

	if (!ifindex)
		return "-";
	if (!l)
		snprintf(buf, len, "#%d", ifindex);
	return l ? l->name : buf;
}

struct out {
	FILE *f;
	const struct zt_rtnl_state *s;
};

static int link_out(const struct zt_rtnl_link *l, void *u)
{
	struct out *o = u;

	fprintf(o->f, "link %d %s %s %d\n", l->ifindex, l->name, *l->kind ? l->kind : "-", l->master);
	return 0;
}

static int addr_out(const struct zt_rtnl_addr *a, void *u)
{
	struct out *o = u;
	char b[ZT_CIDR_STRLEN], n[IFNAMSIZ + 12];

	fprintf(o->f, "addr %s %s\n", ifname(o->s, a->ifindex, n, sizeof(n)),
		zt_cidr_fmt(&a->addr, b, sizeof(b)));
	return 0;
}

static int route_out(const struct zt_rtnl_route *rt, void *u)
{
	struct out *o = u;
	char b[ZT_CIDR_STRLEN], n[IFNAMSIZ + 12];

	fprintf(o->f, "route %s %s %s\n", route_type(rt->type), zt_cidr_fmt(&rt->dst, b, sizeof(b)),
		ifname(o->s, rt->oif, n, sizeof(n)));
	return 0;
}

static int write_snapshot(const struct watch *w)
{
	const struct zt_rtnl_stats *st = zt_rtnl_stats(w->r);
	struct out o = { .s = zt_rtnl_state(w->r) };
	char tmp[4096], b[512];

	snprintf(tmp, sizeof(tmp), "%s.tmp", w->snapshot);
	o.f = fopen(tmp, "we");
	if (!o.f)
		return -errno;
	fprintf(o.f,
		"stats messages=%llu malformed=%llu foreign=%llu overruns=%llu resyncs=%llu "
		"dump_retries=%llu route_redumps=%llu generation=%llu rcvbuf=%zu\n",
		(unsigned long long)st->messages, (unsigned long long)st->malformed,
		(unsigned long long)st->foreign, (unsigned long long)st->overruns,
		(unsigned long long)st->resyncs, (unsigned long long)st->dump_retries,
		(unsigned long long)st->route_redumps, (unsigned long long)zt_rtnl_generation(w->r),
		st->rcvbuf);
	zt_rtnl_state_foreach_link(o.s, link_out, &o);
	zt_rtnl_state_foreach_addr(o.s, addr_out, &o);
	zt_rtnl_state_foreach_route(o.s, route_out, &o);
	for (size_t i = 0; w->m && i < w->m->n_segs; i++) {
		const struct zt_segment_members *sm = &w->m->segs[i];

		for (size_t j = 0; j < sm->n_ifs; j++)
			fprintf(o.f, "member %s %s\n", sm->name, sm->ifs[j].name);
		for (size_t j = 0; j < sm->n_routed; j++)
			fprintf(o.f, "routed %s %s\n", sm->name, zt_cidr_fmt(&sm->routed[j], b, sizeof(b)));
	}
	for (size_t i = 0; w->m && i < w->m->n_enc; i++)
		fprintf(o.f, "enc %s %s\n", w->m->enc[i].name, *w->m->enc[i].kind ? w->m->enc[i].kind : "-");
	for (size_t i = 0; w->m && i < w->m->n_warnings; i++)
		fprintf(o.f, "warning %s\n", zt_member_warning_fmt(&w->m->warnings[i], b, sizeof(b)));
	fprintf(o.f, "end\n");
	if (fclose(o.f) != 0 || rename(tmp, w->snapshot) < 0)
		return -errno;
	return 0;
}

static void print_diff(const struct zt_membership_diff *d)
{
	char b[ZT_CIDR_STRLEN];

	for (size_t i = 0; i < d->n_if_del; i++)
		printf("-if %s %s\n", d->if_del[i].seg, d->if_del[i].ifname);
	for (size_t i = 0; i < d->n_if_add; i++)
		printf("+if %s %s\n", d->if_add[i].seg, d->if_add[i].ifname);
	for (size_t i = 0; i < d->n_pfx_del; i++)
		printf("-pfx %s %s\n", d->pfx_del[i].seg, zt_cidr_fmt(&d->pfx_del[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_pfx_add; i++)
		printf("+pfx %s %s\n", d->pfx_add[i].seg, zt_cidr_fmt(&d->pfx_add[i].prefix, b, sizeof(b)));
	for (size_t i = 0; i < d->n_enc_del; i++)
		printf("-enc %s %s\n", d->enc_del[i].name, d->enc_del[i].kind);
	for (size_t i = 0; i < d->n_enc_add; i++)
		printf("+enc %s %s\n", d->enc_add[i].name, d->enc_add[i].kind);
	fflush(stdout);
}

/* What the daemon will do each loop turn: recompute, diff, hand on the batch. */
static int update_membership(struct watch *w)
{
	_cleanup_membership_diff_ struct zt_membership_diff *d = NULL;
	struct zt_membership *m = NULL;
	int k;

	if (!zt_rtnl_take_changes(w->r) || !w->policy)
		return 0;
	k = zt_membership_compute(zt_rtnl_state(w->r), w->policy, &m);
	if (k < 0)
		return k;
	k = zt_membership_diff(w->m, m, &d);
	if (k < 0) {
		zt_membership_free(m);
		return k;
	}
	print_diff(d);
	zt_membership_free(w->m);
	w->m = m;
	return 0;
}

static int on_rtnl(struct watch *w)
{
	int k = zt_rtnl_process(w->r);

	if (k < 0)
		return k;
	if (zt_rtnl_resync_needed(w->r)) {
		k = zt_rtnl_resync(w->r);
		if (k < 0 && k != -EAGAIN)
			return k;
		printf("resync\n");
		fflush(stdout);
	}
	return update_membership(w);
}

/* Everything the kernel has queued so far, applied. */
static int catch_up(struct watch *w)
{
	for (;;) {
		struct pollfd p = { .fd = zt_rtnl_fd(w->r), .events = POLLIN };
		int k = poll(&p, 1, 0);

		if (k < 0 && errno != EINTR)
			return -errno;
		if (k <= 0 && !zt_rtnl_resync_needed(w->r))
			return 0;
		k = on_rtnl(w);
		if (k < 0)
			return k;
	}
}

int main(int argc, char **argv)
{
	struct watch w = {};
	const char *policy_dir = NULL;
	size_t rcvbuf = 0;
	sigset_t mask;
	int sfd, k, c;

	while ((c = getopt(argc, argv, "b:c:o:")) != -1) {
		switch (c) {
		case 'b':
			rcvbuf = strtoul(optarg, NULL, 0);
			break;
		case 'c':
			policy_dir = optarg;
			break;
		case 'o':
			w.snapshot = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s -o SNAPSHOT [-b RCVBUF] [-c POLICY-DIR]\n", argv[0]);
			return 2;
		}
	}
	if (!w.snapshot) {
		fprintf(stderr, "%s: -o SNAPSHOT is required\n", argv[0]);
		return 2;
	}
	if (policy_dir) {
		struct zt_limits lim = ZT_LIMITS_DEFAULT;
		struct zt_diags d = {};

		k = zt_policy_load_dir(policy_dir, &lim, geteuid(), &w.policy, &d);
		zt_diags_print(&d, stderr);
		zt_diags_clear(&d);
		if (k < 0)
			return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}
	k = zt_rtnl_open(&w.r, rcvbuf);
	if (k < 0) {
		fprintf(stderr, "zt_rtnl_open: %s\n", strerror(-k));
		return 1;
	}
	k = update_membership(&w);
	if (k >= 0)
		k = write_snapshot(&w);

	while (k >= 0) {
		struct pollfd p[2] = {
			{ .fd = zt_rtnl_fd(w.r), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
			k = errno == EINTR ? 0 : -errno;
			continue;
		}
		if (p[0].revents)
			k = on_rtnl(&w);
		if (k < 0 || !p[1].revents)
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGUSR1)
			break;
		k = catch_up(&w);
		if (k >= 0)
			k = write_snapshot(&w);
	}
	if (k < 0)
		fprintf(stderr, "zt-rtnl-watch: %s\n", strerror(-k));
	zt_membership_free(w.m);
	zt_policy_free(w.policy);
	zt_rtnl_free(w.r);
	close(sfd);
	return k < 0 ? 1 : 0;
}
