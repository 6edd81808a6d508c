/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection index (lib/ctindex.h) the daemon keeps from conntrack
 * events, so that a move deletes the moved addresses' connections without
 * a walk of the kernel's whole conntrack hash. Never a stale answer: the
 * index is used only when every event since it was rebuilt was read
 * (no ENOBUFS, no truncated or unparsable message, no entry it could not
 * hold), conntrack events are on (net.netfilter.nf_conntrack_events) and
 * it holds as many entries as the kernel counts in this namespace;
 * otherwise the move walks the table, and that walk rebuilds the index.
 */
#include <fcntl.h>
#include <unistd.h>
#include "ctindex.h"
#include "nl.h"
#include "ztsegd.h"

/* Batches read at once before a move; more means the events outrun us: walk. */
#define DRAIN_BATCHES 64
/* Tries of drain-and-count before a move gives up on the index (connections opening meanwhile). */
#define COUNT_TRIES 3

static void on_ct_event(const struct zt_ct_event *ev, void *userdata)
{
	struct manager *m = userdata;
	struct zt_ct_entry e;

	if (zt_ct_parse_event(ev->nlh, ev->len, &e) < 0) {
		m->ctix_valid = false;
		return;
	}
	if (ev->type == ZT_CT_EVENT_DESTROY)
		zt_ctix_del(m->ctix, &e);
	else if (zt_ctix_add(m->ctix, &e) < 0)
		m->ctix_valid = false;
}

static uint64_t lost(const struct manager *m)
{
	const struct zt_ct_event_stats *s = zt_ctevent_stats(m->ctix_ev);

	return s->overruns + s->malformed;
}

/* Everything queued into the index: 0, -EAGAIN (it keeps coming), -errno of the socket. */
static int drain(struct manager *m)
{
	for (int i = 0; i < DRAIN_BATCHES; i++) {
		int r = zt_ctevent_receive(m->ctix_ev, on_ct_event, m);

		if (r == 0 || r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
	}
	return -EAGAIN;
}

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	bool was = m->ctix_valid && lost(m) == m->ctix_lost;
	int r = zt_ctevent_receive(m->ctix_ev, on_ct_event, m);

	if (r < 0 && r != -EAGAIN)
		log_error("reading conntrack events for the connection index: %s", strerror(-r));
	if (was && !(m->ctix_valid && lost(m) == m->ctix_lost))
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=conntrack-index-lost" }, 1,
			   "conntrack events lost (%llu so far): the next move walks the conntrack table",
			   (unsigned long long)lost(m));
	/* Not again before CTEV_READ_USEC: one wake-up per batch, not per connection; a move drains first. */
	sd_event_source_set_enabled(m->src_ctix, SD_EVENT_OFF);
	sd_event_source_set_time_relative(m->src_ctix_timer, CTEV_READ_USEC);
	sd_event_source_set_enabled(m->src_ctix_timer, SD_EVENT_ONESHOT);
	return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	sd_event_source_set_enabled(m->src_ctix, SD_EVENT_ON);
	return 0;
}

static int keep(const struct zt_ct_entry *e, void *data)
{
	struct manager *m = data;

	if (zt_ctix_add(m->ctix, e) < 0)
		m->ctix_valid = false;
	return 0;
}

/* Conntrack events on in this namespace (0 turns them off for new connections)? */
static bool events_on(void)
{
	char c = '0';
	int fd = open("/proc/sys/net/netfilter/nf_conntrack_events", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = '0';
	close(fd);
	return c != '0';
}

/*
 * Walk the table (deleting the connections of the n prefixes, none for a
 * plain rebuild) and make the index what the walk saw, the events read
 * before and after it applied in order: trusted unless one was lost since.
 */
static int rebuild(struct manager *m, const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st)
{
	int r, d;

	d = drain(m);
	m->ctix_lost = lost(m);
	zt_ctix_clear(m->ctix);
	m->ctix_valid = d == 0 && events_on();
	r = zt_ct_flush_prefixes_keep(pfx, n, st, keep, m);
	if (r < 0)
		m->ctix_valid = false;
	if (drain(m) < 0 || lost(m) != m->ctix_lost)
		m->ctix_valid = false;
	m->ctix_rebuilds++;
	return r;
}

/*
 * The kept socket closed and opened anew, after any error on it: a reply
 * left unread (an overrun, an answer cut short) would otherwise be taken
 * for the answer to every later request (tamper's table_read does the
 * same). NULL when it cannot be opened: each request opens its own.
 */
static void ctix_nl_reopen(struct manager *m)
{
	if (!m->ctix_nl)
		return;
	m->ctix_nl_reopens++;
	zt_nl_close(m->ctix_nl);
	if (zt_ct_open(m->ctix_nl) < 0) {
		free(m->ctix_nl);
		m->ctix_nl = NULL;
	}
}

/* Can the index answer now: everything read, nothing lost, as many entries as the kernel counts? */
static bool trusted(struct manager *m)
{
	for (int i = 0; i < COUNT_TRIES; i++) {
		int64_t count;

		if (drain(m) < 0 || !m->ctix_valid || lost(m) != m->ctix_lost || !events_on())
			return false;
		if (zt_ct_count_on(m->ctix_nl, &count) < 0) {
			ctix_nl_reopen(m);
			return false;
		}
		if ((size_t)count == zt_ctix_size(m->ctix))
			return true;
	}
	return false;
}

int manager_ctindex_flush(struct manager *m, const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st)
{
	_cleanup_free_ struct zt_ct_entry *e = NULL;
	uint64_t unread;
	ssize_t k;
	int r;

	if (!m->ctix)
		return zt_ct_flush_prefixes(pfx, n, st);
	if (!trusted(m)) {
		m->ctix_walks++;
		return rebuild(m, pfx, n, st);
	}
	k = zt_ctix_match(m->ctix, pfx, n, &e);
	if (k < 0) {
		m->ctix_walks++;
		return rebuild(m, pfx, n, st);
	}
	st->matched += (uint64_t)k;
	st->indexed++;
	m->ctix_hits++;
	/* Their DESTROY events take them out of the index. */
	unread = st->unread;
	r = zt_ct_delete_entries_on(m->ctix_nl, e, (size_t)k, st);
	if (r < 0 || st->unread != unread)
		ctix_nl_reopen(m);
	return r;
}

void manager_ctindex_stop(struct manager *m)
{
	m->src_ctix = sd_event_source_disable_unref(m->src_ctix);
	m->src_ctix_timer = sd_event_source_disable_unref(m->src_ctix_timer);
	m->ctix_ev = zt_ctevent_free(m->ctix_ev);
	m->ctix = zt_ctix_free(m->ctix);
	m->ctix_valid = false;
	if (m->ctix_nl) {
		zt_nl_close(m->ctix_nl);
		free(m->ctix_nl);
		m->ctix_nl = NULL;
	}
}

void manager_ctindex_start(struct manager *m)
{
	int r;

	if (m->ctix_off || !m->event)
		return;
	m->ctix = zt_ctix_new(CTIX_MAX);
	/* A socket for the moves' requests, kept: without it each move opens and closes one. */
	if ((m->ctix_nl = calloc(1, sizeof(*m->ctix_nl))) && zt_ct_open(m->ctix_nl) < 0) {
		free(m->ctix_nl);
		m->ctix_nl = NULL;
	}
	r = m->ctix ? zt_ctevent_open(m->ctix_rcvbuf ? (int)m->ctix_rcvbuf : ZT_CTEVENT_RCVBUF, &m->ctix_ev) : -ENOMEM;
	if (r >= 0)
		r = sd_event_add_io(m->event, &m->src_ctix, zt_ctevent_fd(m->ctix_ev), EPOLLIN, on_readable, m);
	if (r >= 0)
		r = sd_event_source_set_priority(m->src_ctix, PRIO_FLOWLOG);
	if (r >= 0)
		r = sd_event_add_time_relative(m->event, &m->src_ctix_timer, CLOCK_MONOTONIC, CTEV_READ_USEC, 1000,
					       on_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->src_ctix_timer, SD_EVENT_OFF);
	if (r >= 0)
		r = rebuild(m, NULL, 0, NULL);
	if (r < 0) {
		log_warning("no connection index (%s): a move walks the conntrack table", strerror(-r));
		manager_ctindex_stop(m);
		return;
	}
	log_info("connection index on: %zu connections (conntrack events read)", zt_ctix_size(m->ctix));
}
