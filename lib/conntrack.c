/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deleting the conntrack entries of moved addresses: dump the table over
 * ctnetlink, pick the entries with an address in a moved prefix, delete
 * each by its original tuple and id.
 */
#include <arpa/inet.h>
#include <time.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "conntrack.h"
#include "nl.h"

#define RECV_BUF (64 * 1024)
/* One sendmsg of deletes: small, so that the errors it may cause fit the receive buffer. */
#define SEND_CHUNK (16 * 1024)
#define DEL_MSG_MAX 512

struct tuple_ctx {
	uint8_t family;
	struct zt_ct_tuple *t;
	bool bad;
};

static int ip_cb(const struct nlattr *a, void *data)
{
	struct tuple_ctx *c = data;
	struct zt_ct_tuple *t = c->t;

	switch (mnl_attr_get_type(a)) {
	case CTA_IP_V4_SRC:
	case CTA_IP_V4_DST:
		if (mnl_attr_get_payload_len(a) != 4 || c->family != AF_INET) {
			c->bad = true;
			return MNL_CB_OK;
		}
		break;
	case CTA_IP_V6_SRC:
	case CTA_IP_V6_DST:
		if (mnl_attr_get_payload_len(a) != 16 || c->family != AF_INET6) {
			c->bad = true;
			return MNL_CB_OK;
		}
		break;
	default:
		return MNL_CB_OK;
	}
	if (mnl_attr_get_type(a) == CTA_IP_V4_SRC || mnl_attr_get_type(a) == CTA_IP_V6_SRC) {
		memcpy(t->src, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
		t->has_src = true;
	} else {
		memcpy(t->dst, mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
		t->has_dst = true;
	}
	return MNL_CB_OK;
}

static int proto_cb(const struct nlattr *a, void *data)
{
	struct tuple_ctx *c = data;
	struct zt_ct_tuple *t = c->t;
	uint16_t type = mnl_attr_get_type(a);

	switch (type) {
	case CTA_PROTO_NUM:
	case CTA_PROTO_ICMP_TYPE:
	case CTA_PROTO_ICMPV6_TYPE:
		if (mnl_attr_validate(a, MNL_TYPE_U8) < 0) {
			c->bad = true;
		} else if (type == CTA_PROTO_NUM) {
			t->proto = mnl_attr_get_u8(a);
			t->has_proto = true;
		} else {
			t->icmp_type = mnl_attr_get_u8(a);
			t->has_icmp = true;
		}
		break;
	case CTA_PROTO_SRC_PORT:
	case CTA_PROTO_DST_PORT:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0) {
			c->bad = true;
			break;
		}
		if (type == CTA_PROTO_SRC_PORT)
			t->sport = ntohs(mnl_attr_get_u16(a));
		else
			t->dport = ntohs(mnl_attr_get_u16(a));
		t->has_ports = true;
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

static int tuple_cb(const struct nlattr *a, void *data)
{
	struct tuple_ctx *c = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type != CTA_TUPLE_IP && type != CTA_TUPLE_PROTO)
		return MNL_CB_OK;
	if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 ||
	    mnl_attr_parse_nested(a, type == CTA_TUPLE_IP ? ip_cb : proto_cb, c) < 0)
		c->bad = true;
	return MNL_CB_OK;
}

int zt_ct_tuple_parse(const struct nlattr *a, uint8_t family, struct zt_ct_tuple *ret)
{
	struct tuple_ctx c = { .family = family, .t = ret };

	*ret = (struct zt_ct_tuple){};
	if (mnl_attr_validate(a, MNL_TYPE_NESTED) < 0 || mnl_attr_parse_nested(a, tuple_cb, &c) < 0 || c.bad)
		return -EBADMSG;
	return 0;
}

struct parse_ctx {
	struct zt_ct_entry *e;
	bool bad;
};

static int tuple_into(const struct nlattr *a, struct zt_ct_entry *e, int first)
{
	struct zt_ct_tuple t;

	if (zt_ct_tuple_parse(a, e->family, &t) < 0)
		return -EBADMSG;
	if (t.has_src) {
		memcpy(e->addr[first], t.src, sizeof(t.src));
		e->has_addr[first] = true;
	}
	if (t.has_dst) {
		memcpy(e->addr[first + 1], t.dst, sizeof(t.dst));
		e->has_addr[first + 1] = true;
	}
	return 0;
}

static int ct_cb(const struct nlattr *a, void *data)
{
	struct parse_ctx *c = data;
	struct zt_ct_entry *e = c->e;

	switch (mnl_attr_get_type(a)) {
	case CTA_TUPLE_ORIG:
		if (tuple_into(a, e, 0) < 0) {
			c->bad = true;
			break;
		}
		e->orig = a;
		e->orig_len = a->nla_len;
		break;
	case CTA_TUPLE_REPLY:
		if (tuple_into(a, e, 2) < 0)
			c->bad = true;
		break;
	case CTA_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) {
			c->bad = true;
			break;
		}
		e->has_id = true;
		e->id = mnl_attr_get_u32(a);
		break;
	case CTA_ZONE:
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0) {
			c->bad = true;
			break;
		}
		e->has_zone = true;
		e->zone = mnl_attr_get_u16(a);
		break;
	case CTA_LABELS:
		/* Whole 32-bit words; a longer label area than ours: its first 128 bits. */
		if (mnl_attr_get_payload_len(a) % 4) {
			c->bad = true;
			break;
		}
		e->has_labels = true;
		memcpy(e->labels, mnl_attr_get_payload(a),
		       mnl_attr_get_payload_len(a) < sizeof(e->labels) ? mnl_attr_get_payload_len(a) : sizeof(e->labels));
		break;
	}
	return MNL_CB_OK;
}

/* A ctnetlink message of an IP family, NEW (or also DELETE: an event's DESTROY). */
static int msg_family(const struct nlmsghdr *nlh, size_t len, bool del_too, uint8_t *ret)
{
	const struct nfgenmsg *g;

	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
		return -EBADMSG;
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW) &&
	    !(del_too && nlh->nlmsg_type == ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE)))
		return -ENOMSG;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return -EBADMSG;
	g = mnl_nlmsg_get_payload(nlh);
	if (g->nfgen_family != AF_INET && g->nfgen_family != AF_INET6)
		return -ENOMSG;
	*ret = g->nfgen_family;
	return 0;
}

int zt_ct_msg_family(const struct nlmsghdr *nlh, size_t len, uint8_t *ret)
{
	return msg_family(nlh, len, false, ret);
}

static int parse_entry(const struct nlmsghdr *nlh, size_t len, bool del_too, struct zt_ct_entry *ret)
{
	struct zt_ct_entry e = {};
	struct parse_ctx c = { .e = &e };
	int r = msg_family(nlh, len, del_too, &e.family);

	if (r < 0)
		return r;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), ct_cb, &c) < 0 || c.bad || !e.orig)
		return -EBADMSG;
	*ret = e;
	return 0;
}

int zt_ct_parse(const struct nlmsghdr *nlh, size_t len, struct zt_ct_entry *ret)
{
	return parse_entry(nlh, len, false, ret);
}

int zt_ct_parse_event(const struct nlmsghdr *nlh, size_t len, struct zt_ct_entry *ret)
{
	return parse_entry(nlh, len, true, ret);
}

bool zt_ct_entry_in(const struct zt_ct_entry *e, const struct zt_cidr *pfx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (pfx[i].family != e->family)
			continue;
		for (size_t k = 0; k < 4; k++)
			if (e->has_addr[k] && zt_cidr_contains_addr(&pfx[i], e->family, e->addr[k]))
				return true;
	}
	return false;
}

/*
 * A request of type about e, in buf (need bytes, zeroed): its original
 * tuple exactly as the kernel described it, then its zone; no ACK (the
 * kernel handles the message before sendmsg returns and queues only
 * errors). NULL when it does not fit in len.
 */
static struct nlmsghdr *tuple_msg(const struct zt_ct_entry *e, uint8_t type, uint32_t seq, void *buf, size_t len,
				  size_t need)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	need += mnl_nlmsg_size(sizeof(*g)) + MNL_ALIGN(e->orig_len) + MNL_ALIGN(sizeof(struct nlattr) + 2);
	if (need > len || !e->orig)
		return NULL;
	nlh = mnl_nlmsg_put_header(memset(buf, 0, need));
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = e->family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	memcpy((char *)nlh + nlh->nlmsg_len, e->orig, e->orig_len);
	nlh->nlmsg_len += MNL_ALIGN(e->orig_len);
	if (e->has_zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, e->zone);
	return nlh;
}

int zt_ct_delete_msg(const struct zt_ct_entry *e, uint32_t seq, void *buf, size_t len)
{
	struct nlmsghdr *nlh = tuple_msg(e, IPCTNL_MSG_CT_DELETE, seq, buf, len, MNL_ALIGN(sizeof(struct nlattr) + 4));

	if (!nlh)
		return -ENOBUFS;
	/* Its id too: a new connection that reuses the tuple meanwhile is left alone. */
	if (e->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, e->id);
	return (int)nlh->nlmsg_len;
}

int zt_ct_unlabel_msg(const struct zt_ct_entry *e, const uint32_t mask[4], uint32_t seq, void *buf, size_t len)
{
	static const uint32_t zero[4];
	/* IPCTNL_MSG_CT_NEW without NLM_F_CREATE: the entry of that tuple is changed, none made. */
	struct nlmsghdr *nlh = tuple_msg(e, IPCTNL_MSG_CT_NEW, seq, buf, len,
					 2 * MNL_ALIGN(sizeof(struct nlattr) + sizeof(zero)));

	if (!nlh)
		return -ENOBUFS;
	/* The bits of mask set to zero, every other bit as it is. */
	mnl_attr_put(nlh, CTA_LABELS, sizeof(zero), zero);
	mnl_attr_put(nlh, CTA_LABELS_MASK, 4 * sizeof(*mask), mask);
	return (int)nlh->nlmsg_len;
}

/* The delete requests of one pass, built during the dump. */
struct pass {
	const struct zt_cidr *pfx;
	size_t n_pfx;
	struct zt_ct_stats *st;
	char *msgs;
	size_t len, cap;
	size_t n_msgs;
	uint32_t seq;
	bool full;			/* hit ZT_CT_PASS_MAX: another pass follows */
	zt_ct_keep_cb keep;		/* every entry not deleted, or NULL */
	void *keep_data;
	int keep_err;
	const uint32_t *unlabel;	/* not NULL: these label bits cleared (match), no delete */
	zt_ct_match_fn match;
	void *match_data;
};

/* A delete request for e at the end of p's messages: 0, -ENOMEM. */
static int pass_add(struct pass *p, const struct zt_ct_entry *e)
{
	char buf[DEL_MSG_MAX];
	int len = p->unlabel ? zt_ct_unlabel_msg(e, p->unlabel, ++p->seq, buf, sizeof(buf))
			     : zt_ct_delete_msg(e, ++p->seq, buf, sizeof(buf));

	if (len < 0)
		return 0;
	if (p->len + (size_t)len > p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64 * 1024;
		char *m = realloc(p->msgs, cap);

		if (!m)
			return -ENOMEM;
		p->msgs = m;
		p->cap = cap;
	}
	memcpy(p->msgs + p->len, buf, (size_t)len);
	p->len += (size_t)len;
	p->n_msgs++;
	return 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct pass *p = data;
	struct zt_ct_entry e;

	if (zt_ct_parse(nlh, nlh->nlmsg_len, &e) < 0)
		return 0;
	p->st->scanned++;
	if (p->unlabel) {
		bool carries = false;

		for (size_t w = 0; w < 4; w++)
			carries |= (e.labels[w] & p->unlabel[w]) != 0;
		if (!carries || !p->match(&e, p->match_data))
			return 0;
	} else if (!zt_ct_entry_in(&e, p->pfx, p->n_pfx)) {
		if (p->keep && !p->keep_err)
			p->keep_err = p->keep(&e, p->keep_data);
		return 0;
	}
	p->st->matched++;
	if (p->n_msgs >= ZT_CT_PASS_MAX) {
		p->full = true;
		return 0;
	}
	return pass_add(p, &e);
}

/*
 * A ctnetlink request without attributes (a dump, the statistics), its
 * answers run through cb until the kernel says it is done.
 */
static int ct_request(struct zt_nl *nl, uint8_t type, uint16_t flags, uint8_t family, zt_nl_cb cb, void *data)
{
	char req[MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg))];
	/* libmnl 1.0.4 leaves padding as it finds it: send zeros. */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	return zt_nl_talk(nl, nlh, cb, data, 0);
}

static int err_cb(const struct nlmsghdr *nlh, void *data)
{
	struct pass *p = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (e->error == 0)
		return 0;
	/* Counted against deleted when sent; move it where it belongs. */
	p->st->deleted--;
	if (e->error == -ENOENT)
		p->st->gone++;
	else
		p->st->failed++;
	return 0;
}

/*
 * Deletes in a few sendmsg calls, each followed by the errors the kernel
 * queued for it before sendmsg returned. ENOBUFS while reading them: some
 * errors were lost; the deletes happened regardless.
 */
static int send_deletes(struct zt_nl *nl, struct pass *p)
{
	size_t off = 0;

	while (off < p->len) {
		size_t end = off;
		int r;

		/* Whole messages only, up to the chunk size (at least one). */
		while (end < p->len) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)(p->msgs + end);

			if (end > off && end + h->nlmsg_len - off > SEND_CHUNK)
				break;
			end += h->nlmsg_len;
		}
		r = zt_nl_send(nl, p->msgs + off, end - off);
		if (r < 0)
			return r;
		for (size_t o = off; o < end; o += ((const struct nlmsghdr *)(p->msgs + o))->nlmsg_len)
			p->st->deleted++;
		off = end;
		if (zt_nl_drain(nl, err_cb, p) < 0)
			p->st->unread++;
	}
	return 0;
}

static int stats_cb(const struct nlattr *a, void *data)
{
	int64_t *entries = data;

	if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_ENTRIES && mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*entries = ntohl(mnl_attr_get_u32(a));
	return MNL_CB_OK;
}

static int stats_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		mnl_attr_parse(nlh, sizeof(struct nfgenmsg), stats_cb, data);
	return 0;
}

/* The connections of this namespace (IPCTNL_MSG_CT_GET_STATS): a number, no walk. */
static int64_t ct_entries(struct zt_nl *nl)
{
	int64_t entries = -1;
	int r = ct_request(nl, IPCTNL_MSG_CT_GET_STATS, NLM_F_ACK, AF_UNSPEC, stats_msg_cb, &entries);

	return r < 0 ? r : entries;
}

int zt_ct_flush_prefixes(const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st)
{
	return zt_ct_flush_prefixes_keep(pfx, n, st, NULL, NULL);
}

/*
 * The dumps of a pass like tmpl over family (AF_UNSPEC: both), and the
 * requests each built; another while the last was cut at ZT_CT_PASS_MAX.
 */
static int walk(const struct pass *tmpl, uint8_t family)
{
	struct zt_nl nl;
	int r, big = 4 << 20;

	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);
	if (r < 0)
		goto out;
	/* A dump of a busy table comes faster than small buffers take it. */
	if (setsockopt(zt_nl_fd(&nl), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(zt_nl_fd(&nl), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	/*
	 * A dump walks every bucket of the kernel's hash table, which all
	 * namespaces share (262144 buckets: ~10 ms, however few entries are
	 * ours); the count of this namespace's entries costs one message.
	 * Nothing to do in an empty table (an entry made after the count
	 * was made after the change: it is judged as things are now).
	 * A refused question (an old kernel) leaves the walk to find out.
	 */
	if (ct_entries(&nl) == 0) {
		tmpl->st->empty++;
		goto out;
	}
	for (unsigned passes = 0; r >= 0 && passes < 64; passes++) {
		struct pass p = *tmpl;

		p.seq = (uint32_t)time(NULL);
		r = ct_request(&nl, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family, dump_cb, &p);
		if (r >= 0)
			r = send_deletes(&nl, &p);
		if (r >= 0 && p.keep_err < 0)
			r = p.keep_err;
		free(p.msgs);
		if (!p.full)
			break;
	}
	tmpl->st->walks++;
out:
	zt_nl_close(&nl);
	return r;
}

int zt_ct_flush_prefixes_keep(const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st, zt_ct_keep_cb keep,
			      void *keep_data)
{
	struct zt_ct_stats dummy = {};
	struct pass p = { .pfx = pfx, .n_pfx = n, .st = st ? st : &dummy, .keep = keep, .keep_data = keep_data };
	bool v4 = false, v6 = false;

	if (n == 0 && !keep)
		return 0;
	for (size_t i = 0; i < n; i++) {
		v4 |= pfx[i].family == AF_INET;
		v6 |= pfx[i].family == AF_INET6;
	}
	/* One walk for both families: the table is one, whatever the family asked (all of it for keep). */
	return walk(&p, (v4 && v6) || keep ? AF_UNSPEC : v4 ? AF_INET : AF_INET6);
}

int zt_ct_unlabel(const uint32_t mask[4], zt_ct_match_fn match, void *data, struct zt_ct_stats *st)
{
	struct zt_ct_stats dummy = {};
	struct pass p = { .st = st ? st : &dummy, .unlabel = mask, .match = match, .match_data = data };

	return walk(&p, AF_UNSPEC);
}

int zt_ct_open(struct zt_nl *nl)
{
	int r = zt_nl_open(nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r < 0)
		zt_nl_close(nl);
	return r;
}

int zt_ct_delete_entries_on(struct zt_nl *on, const struct zt_ct_entry *e, size_t n, struct zt_ct_stats *st)
{
	struct zt_ct_stats dummy = {};
	struct pass p = { .st = st ? st : &dummy, .seq = (uint32_t)time(NULL) };
	struct zt_nl nl = {};
	int r = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = pass_add(&p, &e[i]);
	if (r >= 0 && on)
		r = send_deletes(on, &p);
	else if (r >= 0)
		r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);
	if (r >= 0 && !on)
		r = send_deletes(&nl, &p);
	if (!on)
		zt_nl_close(&nl);	/* accepts a half-opened one: no socket left open when zt_nl_open failed */
	free(p.msgs);
	return r;
}

int zt_ct_delete_entries(const struct zt_ct_entry *e, size_t n, struct zt_ct_stats *st)
{
	return zt_ct_delete_entries_on(NULL, e, n, st);
}

int zt_ct_count_on(struct zt_nl *on, int64_t *ret)
{
	int64_t v;

	if (!on)
		return zt_ct_count(ret);
	v = ct_entries(on);
	if (v < 0)
		return (int)v;
	*ret = v;
	return 0;
}

int zt_ct_count(int64_t *ret)
{
	struct zt_nl nl;
	int64_t v;
	int r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);

	if (r < 0)
		return r;
	v = ct_entries(&nl);
	zt_nl_close(&nl);
	if (v < 0)
		return (int)v;
	*ret = v;
	return 0;
}

int zt_ct_flush_mark(uint32_t mark, uint32_t mask)
{
	char req[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
	struct nfgenmsg *g;
	struct zt_nl nl;
	int r;

	r = zt_nl_open(&nl, NETLINK_NETFILTER, SOCK_CLOEXEC, RECV_BUF);
	if (r < 0)
		return r;
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl.seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	r = zt_nl_talk(&nl, nlh, NULL, NULL, 0);
	zt_nl_close(&nl);
	/* Nothing to delete is no failure. */
	return r == -ENOENT ? 0 : r;
}
