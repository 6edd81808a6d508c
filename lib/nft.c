/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nf_tables socket: requests, generation ids, and batches sent in one
 * sendmsg with every ACK read back and every error mapped to its source.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include "apply-internal.h"
#include "nft-dump.h"

/* Linux 5.14; missing from older headers. */
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define RECV_BUF (256 * 1024)
/* Room per ACK in the receive buffer: one small skb each (NETLINK_CAP_ACK). */
#define ACK_ROOM 1024
#define SOCKBUF_MAX ((size_t)1 << 30)

int zt_nft_open(struct zt_nft **ret)
{
	struct zt_nft *n = calloc(1, sizeof(*n));
	int one = 1, r;

	if (!n)
		return -ENOMEM;
	n->persist = -1;
	r = zt_nl_open(&n->nl, NETLINK_NETFILTER, 0, RECV_BUF);
	if (r < 0) {
		zt_nft_close(n);
		return r;
	}
	/* Errors carry only the failing header and the kernel's own words and offset. */
	mnl_socket_setsockopt(n->nl.sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->nl.sock, NETLINK_EXT_ACK, &one, sizeof(one));
	*ret = n;
	return 0;
}

struct zt_nft *zt_nft_close(struct zt_nft *n)
{
	if (!n)
		return NULL;
	zt_nl_close(&n->nl);
	free(n);
	return NULL;
}

uint32_t zt_nft_portid(const struct zt_nft *n)
{
	return n->nl.portid;
}

struct zt_nl *zt_nft_nl(struct zt_nft *n)
{
	return &n->nl;
}

int zt_nft_request(struct zt_nft *n, struct nlmsghdr *nlh, zt_nl_cb cb, void *data)
{
	return zt_nl_talk(&n->nl, nlh, cb, data, 0);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return -ENOMEM;
	if (nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return -EINVAL;
	}
	*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return 0;
}

int zt_nft_genid_read(struct zt_nft *n, uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, zt_nft_seq_next(n));

	return zt_nft_request(n, nlh, gen_cb, ret);
}

uint32_t zt_nft_genid(const struct zt_nft *n)
{
	return n->gen_ours;
}

int zt_nft_netns_cookie(struct zt_nft *n, uint64_t *ret)
{
	uint64_t v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(zt_nl_fd(&n->nl), SOL_SOCKET, SO_NETNS_COOKIE, &v, &l) < 0)
		return -errno;
	if (l != sizeof(v) || v == 0)
		return -EPROTO;
	*ret = v;
	return 0;
}

/* ---- the batch: send, read every ACK, map errors ------------------------- */

static int sockbuf_fit(struct zt_nft *n, size_t snd, size_t rcv, struct zt_diags *d)
{
	int fd = zt_nl_fd(&n->nl);

	if (snd > SOCKBUF_MAX || rcv > SOCKBUF_MAX)
		return zt_diag_error(d, NULL, 0, 0, "the batch (%zu bytes) is too large", snd);
	if (snd > n->sndbuf) {
		int v = (int)snd, got = 0;
		socklen_t l = sizeof(got);

		/* SO_SNDBUFFORCE needs CAP_NET_ADMIN in the initial user namespace; SO_SNDBUF obeys wmem_max. */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
		if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &l) < 0)
			return -errno;
		/* The kernel doubles what it is given; a netlink message must fit in it less 32 bytes. */
		if ((size_t)got < snd + 32) {
			zt_diag_error(d, NULL, 0, 0,
				      "the batch of %zu bytes does not fit the socket send buffer (%d bytes); "
				      "SO_SNDBUFFORCE was refused: raise net.core.wmem_max to at least %zu",
				      snd, got, snd);
			return -EMSGSIZE;
		}
		n->sndbuf = snd;
	}
	if (rcv > n->rcvbuf) {
		int v = (int)rcv;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		n->rcvbuf = rcv;
	}
	return 0;
}

static const char *bobj_name(const struct zt_bsrc *s)
{
	switch (s->obj) {
	case ZT_BOBJ_TABLE:
		return "table";
	case ZT_BOBJ_COUNTER:
		return "counter";
	case ZT_BOBJ_SET:
		return "set";
	case ZT_BOBJ_ELEMS:
		return "elements of set";
	case ZT_BOBJ_CHAIN:
		return "chain";
	case ZT_BOBJ_RULE:
		return "rule in chain";
	default:
		return "batch";
	}
}

static void error_report(struct zt_acks *a, const struct zt_bsrc *s, int err, const char *ext, uint32_t off)
{
	const char *what = ext && *ext ? ext : strerror(err);
	struct zt_pos pos = s ? s->pos : (struct zt_pos){};
	char obj[256];

	if (a->quiet)
		return;
	if (!s) {
		zt_diag_error(a->d, NULL, 0, 0, "kernel rejected the transaction: %s", what);
		return;
	}
	switch (s->obj) {
	case ZT_BOBJ_BATCH:
		if (err == EPERM)
			what = "table inet " ZT_TABLE_NAME " is owned by another process (a running ztsegd?)";
		snprintf(obj, sizeof(obj), "the transaction");
		break;
	case ZT_BOBJ_TABLE:
		if (err == EPERM)
			what = "it is owned by another process (a running ztsegd?)";
		snprintf(obj, sizeof(obj), "table inet %s", ZT_TABLE_NAME);
		break;
	case ZT_BOBJ_RULE:
		if (s->anon)
			snprintf(obj, sizeof(obj), "a set of rule %zu in chain %s", s->rule + 1, s->chain);
		else if (s->msg_type == NFT_MSG_DELRULE)
			snprintf(obj, sizeof(obj), "flushing chain %s", s->name);
		else
			snprintf(obj, sizeof(obj), "rule %zu in chain %s%s%s%s", s->rule + 1, s->chain,
				 s->comment && *s->comment ? " (" : "", s->comment ? s->comment : "",
				 s->comment && *s->comment ? ")" : "");
		break;
	case ZT_BOBJ_SET:
	case ZT_BOBJ_ELEMS:
		if (s->anon) {
			snprintf(obj, sizeof(obj), "a set of rule %zu in chain %s", s->rule + 1, s->chain);
			break;
		}
		/* Point at the element the kernel named, when it did. */
		if (s->obj == ZT_BOBJ_ELEMS && off && a->plan) {
			size_t pe = zt_batch_elem_at(a->b, s, off);
			const struct zt_set *set = zt_plan_find_set(a->plan, s->name);

			if (set && pe < set->n_elems && zt_set_elem(set, pe)->pos.file) {
				pos = zt_set_elem(set, pe)->pos;
				snprintf(obj, sizeof(obj), "an element of set %s", s->name);
				break;
			}
		}
		snprintf(obj, sizeof(obj), "%s %s", bobj_name(s), s->name);
		break;
	default:
		snprintf(obj, sizeof(obj), "%s %s", bobj_name(s), s->name);
		break;
	}
	zt_diag_error(a->d, pos.file, pos.file ? pos.line : 0, pos.file ? pos.col : 0, "kernel rejected %s: %s",
		      obj, what);
}

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct zt_acks *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct zt_bsrc *s = zt_batch_find(a->b, e->msg.nlmsg_seq);
	const char *ext = NULL;
	uint32_t off = 0;

	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t hdr = sizeof(*e);
		const struct nlattr *attr;

		/* Without NETLINK_CAP_ACK the failing message follows the header. */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			hdr += e->msg.nlmsg_len - sizeof(e->msg);
		mnl_attr_for_each(attr, nlh, MNL_ALIGN(hdr)) {
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
				ext = mnl_attr_get_str(attr);
			else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS &&
				 mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
				off = mnl_attr_get_u32(attr);
		}
	}
	if (s) {
		size_t i = (size_t)(s - a->b->src);

		if (a->seen[i]++ == 0)
			a->n_acks++;
	}
	if (e->error == 0)
		return 0;
	a->n_errors++;
	if (!a->first_err)
		a->first_err = -e->error;
	if (-e->error == ERESTART && s && s->obj == ZT_BOBJ_BATCH) {
		a->restart = 1;
		return 0;
	}
	error_report(a, s, -e->error, ext, off);
	return 0;
}

/*
 * One sendmsg for the whole batch; the kernel handles it before sendmsg
 * returns and queues an ACK (or error) for every message, so reading until
 * the queue is empty reads them all.
 */
int zt_nft_batch_send(struct zt_nft *n, const struct zt_batch *b, const struct zt_plan *plan, bool quiet,
		      struct zt_acks *a, struct zt_diags *d)
{
	size_t expected = 0;
	int r;

	*a = (struct zt_acks){ .b = b, .plan = plan, .d = d, .quiet = quiet };
	a->seen = calloc(b->n_src ? b->n_src : 1, 1);
	if (!a->seen)
		return -ENOMEM;
	n->nl.seq = b->seq;
	for (size_t i = 0; i < b->n_src; i++)
		if (b->src[i].obj != ZT_BOBJ_BATCH)
			expected++;
	r = sockbuf_fit(n, b->len, expected * ACK_ROOM + 256 * 1024, d);
	if (r < 0)
		return r;
	r = zt_nl_send(&n->nl, b->buf, b->len);
	if (r == -EMSGSIZE)
		zt_diag_error(d, NULL, 0, 0, "the batch of %zu bytes does not fit the socket send buffer; "
			      "raise net.core.wmem_max", b->len);
	if (r < 0)
		return r;
	r = zt_nl_drain(&n->nl, ack_cb, a);
	if (r == -ENOBUFS)
		zt_diag_error(d, NULL, 0, 0, "lost kernel acknowledgements (receive buffer overrun); "
			      "the outcome is unknown: apply again");
	/* Not an ACK of ours, or one too short to be any. */
	if (r == -ESRCH)
		r = -EBADMSG;
	if (r < 0)
		return r;
	if (a->restart || a->n_errors)
		return 0;
	if (a->n_acks != expected && !quiet) {
		zt_diag_error(d, NULL, 0, 0, "the kernel acknowledged %zu of %zu messages", a->n_acks, expected);
		return -EPROTO;
	}
	return 0;
}

int zt_acks_result(int r, const struct zt_acks *a)
{
	if (r >= 0 && a->restart)
		return -ERESTART;
	if (r >= 0 && a->n_errors)
		return a->first_err == EPERM ? -EPERM : -EINVAL;
	return r;
}

void zt_acks_clear(struct zt_acks *a)
{
	free(a->seen);
	a->seen = NULL;
}

/* ---- persist probe -------------------------------------------------------- */

int zt_nft_has_persist(struct zt_nft *n)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_nft_table_info t;
	struct zt_diags d = {};
	struct zt_acks a = {};
	int r;

	if (n->persist >= 0)
		return n->persist;
	r = zt_nft_table_get(&n->nl, &t);
	if (r < 0)
		return r;
	if (t.present && (t.flags & NFT_TABLE_F_PERSIST)) {
		n->persist = 1;
		return 1;
	}
	/*
	 * A batch without BATCH_END is checked and thrown away: ask for the
	 * table as a full replace would create it, and see if the kernel knows
	 * the flag. Nothing is committed.
	 */
	r = zt_nft_batch_start(n, &b);
	if (r >= 0 && t.present)
		r = zt_emit_table_del(b);
	if (r >= 0)
		r = zt_emit_table(b, NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST);
	if (r < 0)
		return r;
	r = zt_nft_batch_send(n, b, NULL, true, &a, &d);
	if (r >= 0) {
		/* The NEWTABLE message: EOPNOTSUPP for an unknown flag. */
		n->persist = a.seen[b->n_src - 1] && a.first_err != EOPNOTSUPP;
		if (a.first_err && a.first_err != EOPNOTSUPP)
			r = -a.first_err;
	}
	zt_acks_clear(&a);
	zt_diags_clear(&d);
	return r < 0 ? r : n->persist;
}

/* ---- the caller's own transactions ---------------------------------------- */

int zt_nft_batch_start(struct zt_nft *n, struct zt_batch **ret)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	int r;

	r = zt_batch_new(zt_nft_seq_next(n), &b);
	if (r >= 0)
		r = zt_batch_begin(b, 0);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

int zt_nft_batch_commit(struct zt_nft *n, struct zt_batch *b, int *ret_err, struct zt_diags *d)
{
	struct zt_acks a = {};
	int r;

	r = zt_batch_end(b);
	if (r < 0)
		return r;
	r = zt_nft_batch_send(n, b, NULL, false, &a, d);
	r = zt_acks_result(r, &a);
	if (ret_err)
		*ret_err = a.first_err;
	zt_acks_clear(&a);
	/*
	 * Still the only one to have committed since our last apply? Then the
	 * next apply may diff plan against plan (this batch touches only
	 * what the caller owns: dynamic sets).
	 */
	if (n->gen_ours) {
		uint32_t after;

		if (zt_nft_genid_read(n, &after) < 0 ||
		    !(after == n->gen_ours || (r >= 0 && after == zt_gen_next(n->gen_ours))))
			n->gen_ours = 0;
		else
			n->gen_ours = after;
	}
	return r;
}
