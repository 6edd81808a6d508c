/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watching and reading nf_tables: every commit is notified to
 * NFNLGRP_NFTABLES, each message naming the sending socket and the last
 * (NEWGEN) the process; short dumps read the table and its counters.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include "nfmon.h"
#include "nl.h"

#define RECV_BUF (256 * 1024)
/* Datagrams per zt_nfmon_process() call: a commit storm cannot hold the loop. */
#define BATCH_DGRAMS 64

/* Table name: attribute 1 of every object message (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, ...). */
#define NFTA_ANY_TABLE 1

void zt_nfmon_parser_reset(struct zt_nfmon_parser *p)
{
	*p = (struct zt_nfmon_parser){};
}

struct gen_attrs {
	uint32_t genid, pid;
	char comm[ZT_NFMON_COMM_MAX];
	bool bad;
};

static int gen_cb(const struct nlattr *a, void *data)
{
	struct gen_attrs *g = data;

	switch (mnl_attr_get_type(a)) {
	case NFTA_GEN_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			g->bad = true;
		else
			g->genid = ntohl(mnl_attr_get_u32(a));
		break;
	case NFTA_GEN_PROC_PID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			g->bad = true;
		else
			g->pid = ntohl(mnl_attr_get_u32(a));
		break;
	case NFTA_GEN_PROC_NAME: {
		size_t n = mnl_attr_get_payload_len(a);
		const char *s = mnl_attr_get_payload(a);

		/* The process picks its own name: keep what fits, printable only. */
		n = strnlen(s, n);
		if (n >= sizeof(g->comm))
			n = sizeof(g->comm) - 1;
		for (size_t i = 0; i < n; i++)
			g->comm[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
		g->comm[n] = '\0';
		break;
	}
	}
	return MNL_CB_OK;
}

struct tbl_attr {
	const struct nlattr *name;
};

static int tbl_cb(const struct nlattr *a, void *data)
{
	struct tbl_attr *t = data;

	if (mnl_attr_get_type(a) == NFTA_ANY_TABLE)
		t->name = a;
	return MNL_CB_OK;
}

int zt_nfmon_feed(struct zt_nfmon_parser *p, const struct nlmsghdr *nlh, size_t len,
		  struct zt_nfmon_event *ret)
{
	const struct nfgenmsg *g;
	uint16_t type;

	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		goto bad;
	if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
		return 0;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		goto bad;
	g = mnl_nlmsg_get_payload(nlh);
	type = nlh->nlmsg_type & 0xff;

	if (type == NFT_MSG_NEWGEN) {
		struct gen_attrs ga = {};
		bool report = p->changes > 0;

		if (mnl_attr_parse(nlh, sizeof(*g), gen_cb, &ga) < 0 || ga.bad)
			goto bad;
		if (report)
			*ret = (struct zt_nfmon_event){
				.genid = ga.genid,
				.portid = p->seen ? p->portid : nlh->nlmsg_pid,
				.pid = ga.pid,
				.changes = p->changes,
				.table_deleted = p->table_deleted,
				.feeds = p->feeds,
				.bridge = p->bridge,
				.bridge_deleted = p->bridge_deleted,
				.inet = p->inet,
				.mixed = p->mixed,
			};
		if (report)
			memcpy(ret->comm, ga.comm, sizeof(ret->comm));
		zt_nfmon_parser_reset(p);
		return report;
	}
	switch (type) {
	case NFT_MSG_GETTABLE:
	case NFT_MSG_GETCHAIN:
	case NFT_MSG_GETRULE:
	case NFT_MSG_GETSET:
	case NFT_MSG_GETSETELEM:
	case NFT_MSG_GETGEN:
	case NFT_MSG_TRACE:
	case NFT_MSG_GETOBJ:
	case NFT_MSG_GETOBJ_RESET:
	case NFT_MSG_GETFLOWTABLE:
		return 0;
	}
	if (g->nfgen_family == NFPROTO_INET || g->nfgen_family == NFPROTO_IPV4 || g->nfgen_family == NFPROTO_IPV6 ||
	    g->nfgen_family == NFPROTO_BRIDGE) {
		struct tbl_attr t = {};
		const char *name;

		if (mnl_attr_parse(nlh, sizeof(*g), tbl_cb, &t) < 0)
			goto bad;
		if (!t.name || mnl_attr_validate(t.name, MNL_TYPE_NUL_STRING) < 0)
			return 0;
		name = mnl_attr_get_str(t.name);
		if (!streq(name, ZT_TABLE_NAME))
			return 0;
		if (p->seen && p->portid != nlh->nlmsg_pid)
			p->mixed = true;
		if (!p->seen) {
			p->portid = nlh->nlmsg_pid;
			p->seen = true;
		}
		p->changes++;
		if (g->nfgen_family == NFPROTO_BRIDGE)
			p->bridge = true;
		else if (g->nfgen_family != NFPROTO_INET)
			p->feeds = true;
		else
			p->inet = true;
		if (type == NFT_MSG_DELTABLE && g->nfgen_family == NFPROTO_INET)
			p->table_deleted = true;
		if (type == NFT_MSG_DELTABLE && g->nfgen_family == NFPROTO_BRIDGE)
			p->bridge_deleted = true;
	}
	return 0;
bad:
	zt_nfmon_parser_reset(p);
	return -EBADMSG;
}

struct zt_nfmon {
	struct zt_nl nl;
	struct zt_nfmon_parser parser;
	struct zt_nfmon_stats stats;
	bool quiet;		/* out of the group (zt_nfmon_quiet) */
};

int zt_nfmon_open(size_t rcvbuf, struct zt_nfmon **ret)
{
	struct zt_nfmon *m = calloc(1, sizeof(*m));
	int group = NFNLGRP_NFTABLES, v, fd, r;
	socklen_t l = sizeof(v);

	if (!m)
		return -ENOMEM;
	r = zt_nl_open(&m->nl, NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK, RECV_BUF);
	if (r < 0)
		goto fail;
	fd = zt_nl_fd(&m->nl);
	if (mnl_socket_setsockopt(m->nl.sock, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		r = -errno;
		goto fail;
	}
	if (!rcvbuf)
		rcvbuf = ZT_NFMON_RCVBUF_DEFAULT;
	v = rcvbuf > INT32_MAX / 2 ? INT32_MAX / 2 : (int)rcvbuf;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0)
		m->stats.rcvbuf = (size_t)v;
	*ret = m;
	return 0;
fail:
	zt_nfmon_free(m);
	return r;
}

int zt_nfmon_quiet(struct zt_nfmon *m, bool on)
{
	int group = NFNLGRP_NFTABLES;

	if (on == m->quiet)
		return 0;
	if (mnl_socket_setsockopt(m->nl.sock, on ? NETLINK_DROP_MEMBERSHIP : NETLINK_ADD_MEMBERSHIP, &group,
				  sizeof(group)) < 0)
		return -errno;
	m->quiet = on;
	m->stats.quiet_windows += on;
	return 0;
}

struct zt_nfmon *zt_nfmon_free(struct zt_nfmon *m)
{
	if (!m)
		return NULL;
	zt_nl_close(&m->nl);
	free(m);
	return NULL;
}

int zt_nfmon_fd(const struct zt_nfmon *m)
{
	return zt_nl_fd(&m->nl);
}

const struct zt_nfmon_stats *zt_nfmon_stats(const struct zt_nfmon *m)
{
	return &m->stats;
}

int zt_nfmon_process(struct zt_nfmon *m, void (*cb)(const struct zt_nfmon_event *ev, void *userdata),
		     void *userdata)
{
	int found = 0;

	for (unsigned d = 0; d < BATCH_DGRAMS; d++) {
		uint32_t sender;
		bool trunc;
		ssize_t len = zt_nl_recv(&m->nl, MSG_DONTWAIT, &sender, &trunc);
		const struct nlmsghdr *nlh;
		size_t rest;

		if (len == -EINTR)
			continue;
		if (len == -EAGAIN)
			break;
		if (len == -ENOBUFS) {
			m->stats.overruns++;
			/* A transaction cut in the middle cannot be judged. */
			zt_nfmon_parser_reset(&m->parser);
			return -ENOBUFS;
		}
		if (len < 0)
			return (int)len;
		/* Only the kernel speaks on this group. */
		if (sender != 0)
			continue;
		rest = (size_t)len;
		for (nlh = (const struct nlmsghdr *)m->nl.buf; zt_nlmsg_ok(nlh, rest);
		     nlh = zt_nlmsg_next(nlh, &rest)) {
			struct zt_nfmon_event ev;
			int r;

			m->stats.messages++;
			r = zt_nfmon_feed(&m->parser, nlh, (size_t)rest, &ev);
			if (r < 0)
				m->stats.malformed++;
			if (r > 0) {
				m->stats.transactions++;
				found++;
				if (cb)
					cb(&ev, userdata);
			}
		}
		if (rest) {
			/* a tail that is no message: what it belonged to cannot be judged */
			m->stats.malformed++;
			zt_nfmon_parser_reset(&m->parser);
		}
	}
	return found;
}

/* ---- reading the table ---- */

static int table_read(uint16_t nfproto, struct zt_nft_table_info *ret)
{
	struct zt_nl nl;
	int r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r >= 0)
		r = zt_nft_table_get_family(&nl, nfproto, ret);
	zt_nl_close(&nl);
	return r;
}

int zt_nft_table_read(struct zt_nft_table_info *ret)
{
	return table_read(NFPROTO_INET, ret);
}

int zt_nft_bridge_table_read(struct zt_nft_table_info *ret)
{
	return table_read(NFPROTO_BRIDGE, ret);
}

struct counters_ctx {
	struct zt_nft_counter *v;
	size_t n, cap;
};

static int obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counters_ctx *c = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	const char *name;
	int r = 0;

	if (!o)
		return -ENOMEM;
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME) ||
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		goto out;
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	if (strlen(name) >= ZT_OBJ_NAME_MAX)
		goto out;
	if (c->n >= ZT_NFT_COUNTERS_MAX || ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
		r = c->n >= ZT_NFT_COUNTERS_MAX ? -E2BIG : -ENOMEM;
		goto out;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	snprintf(c->v[c->n].name, sizeof(c->v[c->n].name), "%s", name);
	c->v[c->n].packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
	c->v[c->n].bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
	c->n++;
out:
	nftnl_obj_free(o);
	return r;
}

static int counter_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zt_nft_counter *)a)->name, ((const struct zt_nft_counter *)b)->name);
}

int zt_nft_counters_read(struct zt_nft_counter **ret, size_t *ret_n)
{
	struct counters_ctx c = {};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct zt_nl nl;
	struct nlmsghdr *nlh;
	int r;

	/* libmnl leaves attribute padding as it finds it: send zeros. */
	memset(buf, 0, sizeof(buf));
	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);
	if (r >= 0) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_DUMP, ++nl.seq);
		mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
		r = zt_nl_talk(&nl, nlh, obj_cb, &c, 0);
	}
	zt_nl_close(&nl);
	if (r < 0) {
		free(c.v);
		return r;
	}
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), counter_cmp);
	*ret = c.v;
	*ret_n = c.n;
	return 0;
}

const struct zt_nft_counter *zt_nft_counter_find(const struct zt_nft_counter *v, size_t n,
						 const char *name)
{
	struct zt_nft_counter key = {};

	if (!v || strlen(name) >= sizeof(key.name))
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, v, n, sizeof(*v), counter_cmp);
}
