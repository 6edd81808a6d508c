/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Watching and reading nf_tables: every commit is notified to
 * NFNLGRP_NFTABLES, each message naming the sending socket and the last
 * (NEWGEN) the process; short dumps read the table and its counters.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/object.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include "nfmon.h"

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
	if (g->nfgen_family == NFPROTO_INET) {
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
		if (type == NFT_MSG_DELTABLE)
			p->table_deleted = true;
	}
	return 0;
bad:
	zt_nfmon_parser_reset(p);
	return -EBADMSG;
}

struct zt_nfmon {
	struct mnl_socket *nl;
	struct zt_nfmon_parser parser;
	struct zt_nfmon_stats stats;
	char *buf;
	bool quiet;		/* out of the group (zt_nfmon_quiet) */
};

int zt_nfmon_open(size_t rcvbuf, struct zt_nfmon **ret)
{
	struct zt_nfmon *m = calloc(1, sizeof(*m));
	int group = NFNLGRP_NFTABLES, v, fd, flags, r;
	socklen_t l = sizeof(v);

	if (!m)
		return -ENOMEM;
	m->buf = malloc(RECV_BUF);
	if (!m->buf) {
		r = -ENOMEM;
		goto fail;
	}
	m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->nl) {
		r = -errno;
		goto fail;
	}
	fd = mnl_socket_get_fd(m->nl);
	if (mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
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
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
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
	if (mnl_socket_setsockopt(m->nl, on ? NETLINK_DROP_MEMBERSHIP : NETLINK_ADD_MEMBERSHIP, &group,
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
	if (m->nl)
		mnl_socket_close(m->nl);
	free(m->buf);
	free(m);
	return NULL;
}

int zt_nfmon_fd(const struct zt_nfmon *m)
{
	return mnl_socket_get_fd(m->nl);
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
		struct sockaddr_nl sa;
		socklen_t sl = sizeof(sa);
		ssize_t len = recvfrom(mnl_socket_get_fd(m->nl), m->buf, RECV_BUF, MSG_DONTWAIT,
				       (struct sockaddr *)&sa, &sl);
		const struct nlmsghdr *nlh;
		int rest;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == ENOBUFS) {
				m->stats.overruns++;
				/* A transaction cut in the middle cannot be judged. */
				zt_nfmon_parser_reset(&m->parser);
				return -ENOBUFS;
			}
			return -errno;
		}
		/* Only the kernel speaks on this group. */
		if (sl != sizeof(sa) || sa.nl_pid != 0)
			continue;
		rest = (int)len;
		for (nlh = (const struct nlmsghdr *)m->buf; mnl_nlmsg_ok(nlh, rest);
		     nlh = mnl_nlmsg_next(nlh, &rest)) {
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
	}
	return found;
}

/* ---- reading the table ---- */

struct req {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	char *buf;
};

static int req_open(struct req *q)
{
	q->buf = malloc(RECV_BUF);
	if (!q->buf)
		return -ENOMEM;
	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!q->nl)
		return -errno;
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	q->portid = mnl_socket_get_portid(q->nl);
	q->seq = (uint32_t)time(NULL);
	return 0;
}

static void req_close(struct req *q)
{
	if (q->nl)
		mnl_socket_close(q->nl);
	free(q->buf);
}

static int req_dump(struct req *q, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(q->nl, q->buf, RECV_BUF);
		int r;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		r = mnl_cb_run(q->buf, (size_t)len, nlh->nlmsg_seq, q->portid, cb, data);
		if (r == MNL_CB_STOP)
			return 0;
		if (r < 0)
			return errno ? -errno : -ENOMEM;
	}
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct zt_nft_table_info *ti = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0 && nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET &&
	    nftnl_table_is_set(t, NFTNL_TABLE_NAME) && streq(nftnl_table_get_str(t, NFTNL_TABLE_NAME), ZT_TABLE_NAME)) {
		ti->present = true;
		ti->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
		if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER)) {
			ti->has_owner = true;
			ti->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
		}
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int zt_nft_table_read(struct zt_nft_table_info *ret)
{
	struct zt_nft_table_info ti = {};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct req q = {};
	struct nlmsghdr *nlh;
	int r;

	r = req_open(&q);
	if (r >= 0) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_DUMP, ++q.seq);
		r = req_dump(&q, nlh, table_cb, &ti);
	}
	req_close(&q);
	if (r < 0)
		return r;
	*ret = ti;
	return 0;
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
	int r = MNL_CB_OK;

	if (!o)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME) ||
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER)
		goto out;
	name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME);
	if (strlen(name) >= ZT_OBJ_NAME_MAX)
		goto out;
	if (c->n >= ZT_NFT_COUNTERS_MAX || ZT_GROW(c->v, c->cap, c->n + 1) < 0) {
		r = MNL_CB_ERROR;
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
	struct req q = {};
	struct nlmsghdr *nlh;
	int r;

	/* libmnl leaves attribute padding as it finds it: send zeros. */
	memset(buf, 0, sizeof(buf));
	r = req_open(&q);
	if (r >= 0) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_DUMP, ++q.seq);
		mnl_attr_put_strz(nlh, NFTA_OBJ_TABLE, ZT_TABLE_NAME);
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
		r = req_dump(&q, nlh, obj_cb, &c);
	}
	req_close(&q);
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
