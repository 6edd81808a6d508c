/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection log: a record for each connection ztseg judged. Allowed
 * connections come from conntrack events (NEW, DESTROY with accounting),
 * matched to their flow and zone pair by the connection mark the rules
 * set; denied ones from NFLOG (ztsegd-nflog.c). Records go to a ring that
 * `ztsegctl log --since` reads, to every subscribed reader through a
 * bounded queue of its own (a slow reader loses records and is told how
 * many; the daemon never waits for it), and rate-limited to the journal.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "grant.h"
#include "ztsegd.h"

#define ACCT_PATH "/proc/sys/net/netfilter/nf_conntrack_acct"
/* Retries of one denied connection (SYNs, datagrams) within this time are one record. */
#define DENY_REPEAT_USEC (5 * ZT_USEC_PER_SEC)

struct flow_sub {
	struct manager *m;
	struct flow_sub *next;
	int fd;
	sd_event_source *src;
	struct zt_frameq q;
	struct zt_flowrec_filter filter;
	bool follow;
	bool closing;			/* not following: closed once its queue is written */
	bool armed;			/* waiting for EPOLLOUT: the socket was full */
	uid_t uid;
	pid_t pid;
};

/* ---- accounting ---- */

static int acct_read(void)
{
	char b[8] = "";
	int fd = open(ACCT_PATH, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, b, sizeof(b) - 1);
	close(fd);
	return n > 0 ? b[0] == '1' : -EIO;
}

static int acct_write(bool on)
{
	int fd = open(ACCT_PATH, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, on ? "1\n" : "0\n", 2);
	close(fd);
	return n == 2 ? 0 : -EIO;
}

/* ---- metrics: records by verdict, flow and zone pair ---- */

static bool pair_is(const struct pair_count *p, const struct zt_flowrec *r)
{
	return streq(p->flow, r->flow) && streq(p->from, r->from) && streq(p->to, r->to) &&
	       streq(p->verdict, r->verdict);
}

static struct pair_count *pair_get(struct manager *m, const struct zt_flowrec *r)
{
	static const struct zt_flowrec other = { .verdict = "other", .flow = "other", .from = "other", .to = "other" };
	/* A connection's close follows its open, and busy flows come in runs: the last one first. */
	if (m->pair_last < m->n_pairs && pair_is(&m->pairs[m->pair_last], r))
		return &m->pairs[m->pair_last];
	for (size_t i = 0; i < m->n_pairs; i++)
		if (pair_is(&m->pairs[i], r))
			return &m->pairs[m->pair_last = i];
	if (m->n_pairs >= PAIR_COUNTS_MAX - 1 && r != &other)
		return pair_get(m, &other);
	if (ZT_GROW(m->pairs, m->cap_pairs, m->n_pairs + 1) < 0)
		return NULL;
	m->pairs[m->n_pairs] = (struct pair_count){};
	snprintf(m->pairs[m->n_pairs].verdict, sizeof(m->pairs[0].verdict), "%s", r->verdict);
	snprintf(m->pairs[m->n_pairs].flow, sizeof(m->pairs[0].flow), "%s", r->flow);
	snprintf(m->pairs[m->n_pairs].from, sizeof(m->pairs[0].from), "%s", r->from);
	snprintf(m->pairs[m->n_pairs].to, sizeof(m->pairs[0].to), "%s", r->to);
	return &m->pairs[m->n_pairs++];
}

static void pair_count(struct manager *m, const struct zt_flowrec *r)
{
	struct pair_count *p = pair_get(m, r);

	if (!p)
		return;
	if (r->event != ZT_FLOWREC_CLOSE)
		p->connections++;
	if (r->has_counters) {
		p->packets += r->packets[0] + r->packets[1];
		p->bytes += r->bytes[0] + r->bytes[1];
	}
}

/* ---- readers ---- */

static void sub_free(struct flow_sub *s)
{
	struct manager *m = s->m;

	for (struct flow_sub **pp = &m->flow_subs; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			m->n_flow_subs--;
			break;
		}
	sd_event_source_disable_unref(s->src);
	if (s->fd >= 0)
		close(s->fd);
	zt_frameq_clear(&s->q);
	free(s);
}

static struct zt_frame *frame_of(json_t *j)
{
	_cleanup_free_ char *buf = NULL;
	struct zt_frame *f;
	size_t len;

	if (!j || zt_ctl_frame_encode(j, ZT_CTL_REPLY_MAX, &buf, &len) < 0) {
		if (j)
			json_decref(j);
		return NULL;
	}
	json_decref(j);
	f = zt_frame_new(buf, len);
	return f;
}

/* Tell the reader what it lost, as soon as there is room for the notice. */
static void sub_notice(struct flow_sub *s)
{
	struct zt_frame *f;

	if (!s->q.lost || s->q.n >= s->q.cap)
		return;
	f = frame_of(json_pack("{s:I}", "lost", (json_int_t)s->q.lost));
	if (f && zt_frameq_push(&s->q, f, true))
		s->q.lost = 0;
	zt_frame_unref(f);
}

/* EPOLLOUT only while the socket is full: a reader that keeps up costs no epoll_ctl. */
static void sub_events(struct flow_sub *s)
{
	sd_event_source_set_io_events(s->src, EPOLLIN | EPOLLRDHUP | (s->q.n ? EPOLLOUT : 0));
	s->armed = s->q.n;
}

/* Frames per sendmsg: one system call for a batch of records. */
#define WRITE_BATCH 64

/* Write what the socket takes. false: the reader is gone (freed). */
static bool sub_write(struct flow_sub *s)
{
	while (s->q.n) {
		struct iovec iov[WRITE_BATCH];
		struct msghdr msg = { .msg_iov = iov };
		size_t off;
		ssize_t n;

		zt_frameq_head(&s->q, &off);
		for (size_t i = 0; i < WRITE_BATCH && i < s->q.n; i++) {
			struct zt_frame *f = zt_frameq_at(&s->q, i);

			iov[i] = (struct iovec){ .iov_base = f->data + (i ? 0 : off), .iov_len = f->len - (i ? 0 : off) };
			msg.msg_iovlen++;
		}
		n = sendmsg(s->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			sub_free(s);
			return false;
		}
		zt_frameq_advance(&s->q, (size_t)n);
		if (!s->q.n)
			sub_notice(s);
	}
	if (!s->q.n && s->closing) {
		sub_free(s);
		return false;
	}
	sub_events(s);
	return true;
}

static int on_sub(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct flow_sub *s = userdata;

	if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		char b[256];
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

		/* A reader only reads: end of file, an error or talk end it. */
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || n > 0 || (revents & (EPOLLHUP | EPOLLERR))) {
			sub_free(s);
			return 0;
		}
	}
	if (revents & EPOLLOUT)
		sub_write(s);
	return 0;
}

static json_t *record_frame_json(const struct zt_flowrec *r)
{
	json_t *rec = zt_flowrec_json(r);

	return rec ? json_pack("{s:o}", "record", rec) : NULL;
}

/* One record to every reader that wants it: formatted once, queued by reference. */
static void publish(struct manager *m, const struct zt_flowrec *r)
{
	struct zt_frame *f = NULL;
	struct flow_sub *next;

	for (struct flow_sub *s = m->flow_subs; s; s = next) {
		next = s->next;
		if (!s->follow || !zt_flowrec_match(&s->filter, r))
			continue;
		if (!f && !(f = frame_of(record_frame_json(r))))
			return;
		sub_notice(s);
		if (!zt_frameq_push(&s->q, f, false))
			m->flow_reader_lost++;
	}
	zt_frame_unref(f);
}

/* After a batch of events: what each reader was queued goes out in one sendmsg. */
static void flush(struct manager *m)
{
	struct flow_sub *next;

	for (struct flow_sub *s = m->flow_subs; s; s = next) {
		next = s->next;
		if (s->q.n && !s->armed)
			sub_write(s);
	}
}

static void journal(struct manager *m, const struct zt_flowrec *r)
{
	char line[512], pb[8], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];

	if (r->event == ZT_FLOWREC_DENY || !log_on(LOG_INFO) ||
	    !zt_ratelimit_test(&m->flow_rl, now_usec(CLOCK_MONOTONIC)))
		return;
	zt_flowrec_text(r, line, sizeof(line));
	zt_addr_fmt(r->family, r->saddr, sa, sizeof(sa));
	zt_addr_fmt(r->family, r->daddr, da, sizeof(da));
	log_fields(LOG_INFO,
		   (const char *[]){ log_field("ZTSEG_EVENT", "connection-%s", zt_flowrec_event_name(r->event)),
				     log_field("ZTSEG_VERDICT", "%s", r->verdict),
				     log_field("ZTSEG_SRC_ZONE", "%s", r->from), log_field("ZTSEG_DST_ZONE", "%s", r->to),
				     r->flow[0] ? log_field("ZTSEG_FLOW", "%s", r->flow) : NULL,
				     log_field("ZTSEG_PROTO", "%s", zt_flowrec_proto_name(r->proto, pb)),
				     log_field("ZTSEG_SRC", "%s", sa), log_field("ZTSEG_DST", "%s", da),
				     r->has_ports ? log_field("ZTSEG_SPORT", "%u", r->sport) : NULL,
				     r->has_ports ? log_field("ZTSEG_DPORT", "%u", r->dport) : NULL,
				     r->has_counters ? log_field("ZTSEG_PACKETS", "%llu/%llu",
								 (unsigned long long)r->packets[0],
								 (unsigned long long)r->packets[1]) : NULL,
				     r->has_counters ? log_field("ZTSEG_BYTES", "%llu/%llu",
								 (unsigned long long)r->bytes[0],
								 (unsigned long long)r->bytes[1]) : NULL },
		   12, "connection %s", line + strcspn(line, " ") + 1);
}

static void record(struct manager *m, struct zt_flowrec *r)
{
	r->seq = ++m->flow_seq;
	r->time_usec = now_usec(CLOCK_REALTIME);
	m->flow_records++;
	zt_flowring_push(&m->flow_ring, r);
	pair_count(m, r);
	if (m->flow_subs)
		publish(m, r);
	journal(m, r);
}

/* ---- conntrack events ---- */

/* A zone as records name it: a unit zone by its unit (unit:NAME) when that is known. */
static void zone_name(struct manager *m, uint32_t zone, char *buf, size_t len)
{
	const struct zt_plan *pl = m->cur.plan;
	char u[ZT_PLAN_ZONE_NAME_MAX];

	if (manager_units_name(m, zone, u, sizeof(u)) > 0 && snprintf(buf, len, "unit:%s", u) < (int)len)
		return;
	snprintf(buf, len, "%s", zone < pl->n_zone_names ? pl->zone_names[zone] : "?");
}

static void on_ct_event(const struct zt_ct_event *ev, void *userdata)
{
	struct manager *m = userdata;
	const struct zt_plan *pl = m->cur.plan;
	const struct zt_plan_mark *pm;
	struct zt_flowrec r = {
		.event = ev->type == ZT_CT_EVENT_NEW ? ZT_FLOWREC_OPEN : ZT_FLOWREC_CLOSE,
		.verdict = "allow", .family = ev->family, .proto = ev->proto,
		.has_ports = ev->has_ports, .sport = ev->sport, .dport = ev->dport,
		.has_icmp = ev->has_icmp, .icmp_type = ev->icmp_type,
		.has_counters = ev->type == ZT_CT_EVENT_DESTROY && ev->has_counters,
		.packets = { ev->packets[0], ev->packets[1] }, .bytes = { ev->bytes[0], ev->bytes[1] },
	};

	if (!pl || !(ev->mark & 0x80000000u)) {
		/* No flow's mark: a grant's (bit 31 clear, bit 15 set), or a connection ztseg did not judge. */
		if (!pl || !zt_mark_is_grant(ev->mark) || !m->cur.policy->hub.flow_log)
			return;
		snprintf(r.flow, sizeof(r.flow), "grant:%u", zt_grant_id_of(ev->mark));
	} else if ((pm = zt_plan_find_mark(pl, ev->mark))) {
		if (!pm->log)
			return;
		snprintf(r.flow, sizeof(r.flow), "%s", pl->flow_names[pm->flow].name);
		zone_name(m, pm->from, r.from, sizeof(r.from));
		zone_name(m, pm->to, r.to, sizeof(r.to));
	} else {
		/* A mark of a policy before the last reload whose connection lives on. */
		m->flow_unmatched++;
		return;
	}
	memcpy(r.saddr, ev->saddr, 16);
	memcpy(r.daddr, ev->daddr, 16);
	record(m, &r);
}

static int on_ctev(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_ctevent_receive(m->ctev, on_ct_event, m);

	flush(m);
	if (r < 0 && r != -EAGAIN)
		log_error("reading conntrack events: %s", strerror(-r));
	/* Not again before CTEV_READ_USEC: what comes meanwhile is read in one batch. */
	sd_event_source_set_enabled(m->src_ctev, SD_EVENT_OFF);
	sd_event_source_set_time_relative(m->src_ctev_timer, CTEV_READ_USEC);
	sd_event_source_set_enabled(m->src_ctev_timer, SD_EVENT_ONESHOT);
	return 0;
}

static int on_ctev_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	sd_event_source_set_enabled(m->src_ctev, SD_EVENT_ON);
	return 0;
}

static bool policy_logs(const struct zt_policy *p)
{
	if (!p)
		return false;
	if (p->hub.flow_log)
		return true;
	for (size_t i = 0; i < p->n_segs; i++)
		if (p->segs[i].flow_log)
			return true;
	return false;
}

static void flowlog_stop(struct manager *m)
{
	m->src_ctev = sd_event_source_disable_unref(m->src_ctev);
	m->src_ctev_timer = sd_event_source_disable_unref(m->src_ctev_timer);
	m->ctev = zt_ctevent_free(m->ctev);
	m->flowlog_on = false;
	if (m->acct_set && acct_write(false) == 0)
		m->acct_set = false;
}

void manager_flowlog_sync(struct manager *m)
{
	bool want = policy_logs(m->cur.policy);
	int r;

	if (want == m->flowlog_on || !m->event)
		return;
	if (!want) {
		flowlog_stop(m);
		log_info("connection log off: conntrack events no longer read");
		return;
	}
	/* Accounting first: entries made before it have no counters. */
	r = acct_read();
	if (r == 0) {
		r = acct_write(true);
		if (r == 0)
			m->acct_set = true;
	}
	if (r < 0)
		log_warning("cannot turn on net.netfilter.nf_conntrack_acct (%s): connection records carry no "
			    "byte counts", strerror(-r));
	r = zt_ctevent_open(ZT_CTEVENT_RCVBUF, &m->ctev);
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->src_ctev, zt_ctevent_fd(m->ctev), EPOLLIN, on_ctev, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_ctev, PRIO_FLOWLOG);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->src_ctev_timer, CLOCK_MONOTONIC, CTEV_READ_USEC, 1000,
					       on_ctev_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_ctev_timer, SD_EVENT_OFF);
	if (r < 0) {
		log_warning("cannot read conntrack events (%s): allowed connections are not logged", strerror(-r));
		flowlog_stop(m);
		return;
	}
	m->flowlog_on = true;
	log_info("connection log on: conntrack events read, accounting on");
}

/* ---- denies (NFLOG) ---- */

/* The same denied connection again (a retransmitted SYN): no new record. */
static bool deny_repeat(struct manager *m, const struct zt_nflog_packet *pkt, uint64_t now)
{
	uint8_t key[40] = {};
	uint32_t h = 2166136261u;

	memcpy(key, pkt->saddr, 16);
	memcpy(key + 16, pkt->daddr, 16);
	key[32] = pkt->family;
	key[33] = pkt->proto;
	memcpy(key + 34, &pkt->sport, 2);
	memcpy(key + 36, &pkt->dport, 2);
	key[38] = pkt->icmp_type;
	for (size_t i = 0; i < sizeof(key); i++)
		h = (h ^ key[i]) * 16777619u;
	h %= ELEMENTSOF(m->deny_seen);
	if (memcmp(m->deny_seen[h].key, key, sizeof(key)) == 0 && now - m->deny_seen[h].usec < DENY_REPEAT_USEC)
		return true;
	memcpy(m->deny_seen[h].key, key, sizeof(key));
	m->deny_seen[h].usec = now;
	return false;
}

void manager_flowlog_deny(struct manager *m, const struct zt_nflog_packet *pkt, const char *verdict,
			  const char *from, const char *to, const char *flow)
{
	struct zt_flowrec r = {
		.event = ZT_FLOWREC_DENY, .family = pkt->family, .proto = pkt->proto,
		.has_ports = pkt->has_ports, .sport = pkt->sport, .dport = pkt->dport,
		.has_icmp = pkt->has_icmp, .icmp_type = pkt->icmp_type,
	};

	if ((pkt->family != AF_INET && pkt->family != AF_INET6) ||
	    deny_repeat(m, pkt, now_usec(CLOCK_MONOTONIC)))
		return;
	snprintf(r.verdict, sizeof(r.verdict), "%s", verdict);
	snprintf(r.from, sizeof(r.from), "%s", from && !streq(from, "?") ? from : "");
	snprintf(r.to, sizeof(r.to), "%s", to && !streq(to, "?") ? to : "");
	snprintf(r.flow, sizeof(r.flow), "%s", flow ? flow : "");
	memcpy(r.saddr, pkt->saddr, 16);
	memcpy(r.daddr, pkt->daddr, 16);
	record(m, &r);
	flush(m);
}

/* ---- the log command ---- */

int manager_flowlog_subscribe(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req)
{
	_cleanup_free_ struct flow_sub *s = NULL;
	_cleanup_json_ json_t *args = json_deep_copy(req->args);
	const json_t *v;
	const char *why = NULL;
	size_t cap = FLOWLOG_QUEUE_DEFAULT, first, matched = 0, n_uid = 0;
	int sndbuf = FLOWLOG_SNDBUF, r, fd = -1;
	struct zt_frame *f;

	if (!args || !(s = calloc(1, sizeof(*s))))
		return -ENOMEM;
	s->m = m;
	s->fd = -1;
	s->follow = json_is_true(json_object_get(args, "follow"));
	if ((v = json_object_get(args, "follow")) && !json_is_boolean(v))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "log: 'follow' must be true or false");
	if ((v = json_object_get(args, "queue"))) {
		if (!json_is_integer(v) || json_integer_value(v) < FLOWLOG_QUEUE_MIN ||
		    json_integer_value(v) > FLOWLOG_QUEUE_MAX)
			return zt_ctl_conn_reply_errorf(c, req->now_usec, "log: 'queue' must be a number from %d to %d",
							FLOWLOG_QUEUE_MIN, FLOWLOG_QUEUE_MAX);
		cap = (size_t)json_integer_value(v);
		json_object_del(args, "queue");
	}
	if (zt_flowrec_filter_from_json(args, &s->filter, &why) < 0)
		return zt_ctl_conn_reply_errorf(c, req->now_usec,
						"log: bad argument '%.32s' (expected zone, flow, verdict: words; since: "
						"microseconds; follow; queue)", why ? why : "?");
	/* Readers, however many a user opens, cannot keep an administrator's out. */
	for (struct flow_sub *o = m->flow_subs; o; o = o->next)
		n_uid += o->uid == req->peer->uid;
	if (n_uid >= FLOWLOG_READERS_PER_UID)
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "log: too many readers for uid %u (%d)",
						(unsigned)req->peer->uid, FLOWLOG_READERS_PER_UID);
	if (m->n_flow_subs >= FLOWLOG_READERS_MAX ||
	    (m->n_flow_subs >= FLOWLOG_READERS_MAX - FLOWLOG_READERS_RESERVED && !zt_ctl_conn_authorized(c)))
		return zt_ctl_conn_reply_errorf(c, req->now_usec, "log: too many readers (%d)", FLOWLOG_READERS_MAX);
	if ((r = zt_frameq_init(&s->q, cap)) < 0)
		return r;
	s->uid = req->peer->uid;
	s->pid = req->peer->pid;
	/* What the ring holds for this reader: without -f all of it, with -f only what --since asks for. */
	for (size_t i = 0; i < m->flow_ring.n; i++)
		matched += zt_flowrec_match(&s->filter, zt_flowring_at(&m->flow_ring, i));
	if (s->follow && !s->filter.since_usec)
		matched = 0;
	f = frame_of(zt_ctl_reply_ok_new(json_pack("{s:b, s:I, s:I, s:I}", "follow", s->follow, "records",
						   (json_int_t)(matched < cap - 2 ? matched : cap - 2), "skipped",
						   (json_int_t)(matched < cap - 2 ? 0 : matched - (cap - 2)),
						   "queue", (json_int_t)cap)));
	if (!f) {
		zt_frameq_clear(&s->q);
		return -ENOMEM;
	}
	zt_frameq_push(&s->q, f, true);
	zt_frame_unref(f);
	/* The newest of them that fit the queue (two slots kept: the end or a notice). */
	first = matched > cap - 2 ? matched - (cap - 2) : 0;
	for (size_t i = 0, k = 0; matched && i < m->flow_ring.n; i++) {
		const struct zt_flowrec *rec = zt_flowring_at(&m->flow_ring, i);

		if (!zt_flowrec_match(&s->filter, rec) || k++ < first)
			continue;
		if ((f = frame_of(record_frame_json(rec))))
			zt_frameq_push(&s->q, f, false);
		zt_frame_unref(f);
	}
	if (!s->follow) {
		if ((f = frame_of(json_pack("{s:b}", "end", 1))))
			zt_frameq_push(&s->q, f, true);
		zt_frame_unref(f);
		s->closing = true;
	}
	r = zt_ctl_conn_handoff(c, &fd);
	if (r < 0) {
		zt_frameq_clear(&s->q);
		return r;
	}
	s->fd = fd;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	s->armed = true;	/* the reply and the held records go out when the socket takes them */
	r = sd_event_add_io(m->event, &s->src, fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT, on_sub, s);
	if (r >= 0)
		r = sd_event_source_set_priority(s->src, PRIO_FLOWLOG);
	if (r < 0) {
		zt_frameq_clear(&s->q);
		close(fd);
		return 0;	/* handed over: the connection is done either way */
	}
	s->next = m->flow_subs;
	m->flow_subs = s;
	m->n_flow_subs++;
	log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=log-reader", log_field("ZTSEG_UID", "%u", (unsigned)s->uid),
		   log_field("ZTSEG_PID", "%d", (int)s->pid) }, 3,
		   "connection log reader: uid %u, pid %d%s", (unsigned)s->uid, (int)s->pid,
		   s->follow ? ", following" : "");
	TAKE_PTR(s);
	return 0;
}

/* ---- setup and the report ---- */

void manager_flowlog_init(struct manager *m)
{
	m->flow_rl = ZT_RATELIMIT_INIT(FLOW_RATE, FLOW_BURST);
	if (zt_flowring_init(&m->flow_ring, FLOWLOG_RING) < 0)
		log_warning("no memory for the connection log's ring: --since finds nothing");
}

void manager_flowlog_report(struct manager *m)
{
	uint64_t n = zt_ratelimit_take_suppressed(&m->flow_rl);

	if (n)
		log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=connections-suppressed" }, 1,
			   "%llu connection records not written to the journal (more than %u per second); "
			   "ztsegctl log has them all", (unsigned long long)n, FLOW_RATE);
}

void manager_flowlog_free(struct manager *m)
{
	while (m->flow_subs)
		sub_free(m->flow_subs);
	flowlog_stop(m);
	zt_flowring_clear(&m->flow_ring);
	free(m->pairs);
	m->pairs = NULL;
	m->n_pairs = m->cap_pairs = 0;
}
