/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection log records: JSON and text, filters, --since, the ring of
 * recent records and the per-reader frame queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "flowrec.h"
#include "net.h"
#include "util.h"

const char *zt_flowrec_event_name(enum zt_flowrec_event e)
{
	switch (e) {
	case ZT_FLOWREC_OPEN:
		return "open";
	case ZT_FLOWREC_CLOSE:
		return "close";
	case ZT_FLOWREC_DENY:
		return "deny";
	}
	return "?";
}

const char *zt_flowrec_proto_name(uint8_t proto, char buf[8])
{
	const char *name = zt_ip_proto_name(proto);

	if (name)
		return name;
	snprintf(buf, 8, "%u", proto);
	return buf;
}

/* RFC 3339, UTC, microseconds: "2026-01-02T03:04:05.123456Z". */
static const char *time_fmt(uint64_t usec, char *buf, size_t len)
{
	time_t t = (time_t)(usec / 1000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(buf, len, "?");
	else
		snprintf(buf + strlen(buf), len - strlen(buf), ".%06uZ", (unsigned)(usec % 1000000));
	return buf;
}

static int set_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, v ? json_string(v) : json_null());
}

json_t *zt_flowrec_json(const struct zt_flowrec *r)
{
	json_t *o = json_object();
	char tb[40], sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], pb[8];
	int e = 0;

	if (!o)
		return NULL;
	zt_addr_fmt(r->family, r->saddr, sa, sizeof(sa));
	zt_addr_fmt(r->family, r->daddr, da, sizeof(da));
	e |= set_str(o, "time", time_fmt(r->time_usec, tb, sizeof(tb)));
	e |= json_object_set_new(o, "seq", json_integer((json_int_t)r->seq));
	e |= set_str(o, "event", zt_flowrec_event_name(r->event));
	e |= set_str(o, "verdict", r->verdict);
	e |= set_str(o, "family", r->family == AF_INET6 ? "ipv6" : "ipv4");
	e |= set_str(o, "proto", zt_flowrec_proto_name(r->proto, pb));
	e |= set_str(o, "src", sa);
	e |= set_str(o, "dst", da);
	if (r->has_ports) {
		e |= json_object_set_new(o, "sport", json_integer(r->sport));
		e |= json_object_set_new(o, "dport", json_integer(r->dport));
	}
	if (r->has_icmp)
		e |= json_object_set_new(o, "icmp_type", json_integer(r->icmp_type));
	e |= set_str(o, "from", r->from[0] ? r->from : NULL);
	e |= set_str(o, "to", r->to[0] ? r->to : NULL);
	e |= set_str(o, "flow", r->flow[0] ? r->flow : NULL);
	if (r->has_counters) {
		e |= json_object_set_new(o, "packets_orig", json_integer((json_int_t)r->packets[0]));
		e |= json_object_set_new(o, "bytes_orig", json_integer((json_int_t)r->bytes[0]));
		e |= json_object_set_new(o, "packets_reply", json_integer((json_int_t)r->packets[1]));
		e |= json_object_set_new(o, "bytes_reply", json_integer((json_int_t)r->bytes[1]));
	}
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void endpoint_fmt(const struct zt_flowrec *r, const uint8_t *addr, uint16_t port, char *buf, size_t len)
{
	char ab[INET6_ADDRSTRLEN];

	zt_addr_fmt(r->family, addr, ab, sizeof(ab));
	if (!r->has_ports)
		snprintf(buf, len, "%s", ab);
	else if (r->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ab, port);
	else
		snprintf(buf, len, "%s:%u", ab, port);
}

int zt_flowrec_text(const struct zt_flowrec *r, char *buf, size_t len)
{
	char tb[40], src[INET6_ADDRSTRLEN + 8], dst[INET6_ADDRSTRLEN + 8], pb[8], cnt[128] = "";
	int n;

	endpoint_fmt(r, r->saddr, r->sport, src, sizeof(src));
	endpoint_fmt(r, r->daddr, r->dport, dst, sizeof(dst));
	if (r->has_counters)
		snprintf(cnt, sizeof(cnt), " packets %" PRIu64 "/%" PRIu64 " bytes %" PRIu64 "/%" PRIu64, r->packets[0],
			 r->packets[1], r->bytes[0], r->bytes[1]);
	n = snprintf(buf, len, "%s %s %s %s %s -> %s %s -> %s %s%s%s", time_fmt(r->time_usec, tb, sizeof(tb)),
		     r->verdict, zt_flowrec_event_name(r->event), zt_flowrec_proto_name(r->proto, pb), src, dst,
		     r->from[0] ? r->from : "?", r->to[0] ? r->to : "?", r->flow[0] ? "flow " : "default",
		     r->flow, cnt);
	return n < 0 ? -EINVAL : n;
}

/* "web" matches web, web.front, ...; "web.front" only itself. */
static bool zone_match(const char *want, const char *zone)
{
	size_t n = strlen(want);

	return strncmp(want, zone, n) == 0 && (zone[n] == '\0' || (zone[n] == '.' && !strchr(want, '.')));
}

bool zt_flowrec_match(const struct zt_flowrec_filter *f, const struct zt_flowrec *r)
{
	if (f->zone[0] && !zone_match(f->zone, r->from) && !zone_match(f->zone, r->to))
		return false;
	if (f->flow[0] && !(r->flow[0] ? streq(f->flow, r->flow) : streq(f->flow, "default")))
		return false;
	if (f->verdict[0] && !streq(f->verdict, r->verdict))
		return false;
	return r->time_usec >= f->since_usec;
}

static int filter_str(const json_t *args, const char *key, char *buf, size_t len, const char **why)
{
	const json_t *v = json_object_get(args, key);
	const char *s;

	if (!v)
		return 0;
	s = json_string_value(v);
	if (!s || strlen(s) >= len || strpbrk(s, "\n\r\t ")) {
		*why = key;
		return -EINVAL;
	}
	snprintf(buf, len, "%s", s);
	return 0;
}

int zt_flowrec_filter_from_json(const json_t *args, struct zt_flowrec_filter *ret, const char **why)
{
	const char *key;
	json_t *v;
	int r;

	*ret = (struct zt_flowrec_filter){};
	json_object_foreach((json_t *)args, key, v) {
		if (!streq(key, "zone") && !streq(key, "flow") && !streq(key, "verdict") && !streq(key, "since") &&
		    !streq(key, "follow")) {
			*why = key;
			return -EINVAL;
		}
	}
	if ((r = filter_str(args, "zone", ret->zone, sizeof(ret->zone), why)) < 0 ||
	    (r = filter_str(args, "flow", ret->flow, sizeof(ret->flow), why)) < 0 ||
	    (r = filter_str(args, "verdict", ret->verdict, sizeof(ret->verdict), why)) < 0)
		return r;
	if ((v = json_object_get(args, "since"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			*why = "since";
			return -EINVAL;
		}
		ret->since_usec = (uint64_t)json_integer_value(v);
	}
	return 0;
}

json_t *zt_flowrec_filter_json(const struct zt_flowrec_filter *f)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if ((f->zone[0] && json_object_set_new(o, "zone", json_string(f->zone))) ||
	    (f->flow[0] && json_object_set_new(o, "flow", json_string(f->flow))) ||
	    (f->verdict[0] && json_object_set_new(o, "verdict", json_string(f->verdict))) ||
	    (f->since_usec && json_object_set_new(o, "since", json_integer((json_int_t)f->since_usec)))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int zt_flowrec_since_parse(const char *s, uint64_t now_usec, uint64_t *ret)
{
	char *end;
	unsigned long long v;
	uint64_t mul;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '@') {
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(s + 1, &end, 10);
		if (errno || *end || v > UINT64_MAX / 1000000)
			return -EINVAL;
		*ret = v * 1000000;
		return 0;
	}
	if (strlen(s) == 20 && s[4] == '-' && s[10] == 'T' && s[19] == 'Z') {
		struct tm tm = {};
		const char *e = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
		time_t t;

		if (!e || *e || (t = timegm(&tm)) < 0)
			return -EINVAL;
		*ret = (uint64_t)t * 1000000;
		return 0;
	}
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (streq(end, "s") || !*end)
		mul = 1;
	else if (streq(end, "m"))
		mul = 60;
	else if (streq(end, "h"))
		mul = 3600;
	else if (streq(end, "d"))
		mul = 86400;
	else
		return -EINVAL;
	if (v > UINT64_MAX / 1000000 / mul)
		return -EINVAL;
	v *= mul * 1000000;
	*ret = v > now_usec ? 0 : now_usec - v;
	return 0;
}

/* ---- ring ---- */

int zt_flowring_init(struct zt_flowring *ring, size_t cap)
{
	*ring = (struct zt_flowring){};
	if (!cap || !(ring->v = calloc(cap, sizeof(*ring->v))))
		return -ENOMEM;
	ring->cap = cap;
	return 0;
}

void zt_flowring_clear(struct zt_flowring *ring)
{
	free(ring->v);
	*ring = (struct zt_flowring){};
}

void zt_flowring_push(struct zt_flowring *ring, const struct zt_flowrec *r)
{
	if (!ring->cap)
		return;
	if (ring->n == ring->cap) {
		ring->v[ring->head] = *r;
		ring->head = (ring->head + 1) % ring->cap;
		return;
	}
	ring->v[(ring->head + ring->n) % ring->cap] = *r;
	ring->n++;
}

const struct zt_flowrec *zt_flowring_at(const struct zt_flowring *ring, size_t i)
{
	return i < ring->n ? &ring->v[(ring->head + i) % ring->cap] : NULL;
}

/* ---- frames and queues ---- */

struct zt_frame *zt_frame_new(const void *data, size_t len)
{
	struct zt_frame *f = malloc(sizeof(*f) + len);

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = len;
	memcpy(f->data, data, len);
	return f;
}

struct zt_frame *zt_frame_ref(struct zt_frame *f)
{
	f->refs++;
	return f;
}

struct zt_frame *zt_frame_unref(struct zt_frame *f)
{
	if (f && --f->refs == 0)
		free(f);
	return NULL;
}

int zt_frameq_init(struct zt_frameq *q, size_t cap)
{
	*q = (struct zt_frameq){};
	if (cap < 2 || !(q->v = calloc(cap, sizeof(*q->v))))
		return cap < 2 ? -EINVAL : -ENOMEM;
	q->cap = cap;
	return 0;
}

void zt_frameq_clear(struct zt_frameq *q)
{
	for (size_t i = 0; i < q->n; i++)
		zt_frame_unref(q->v[(q->head + i) % q->cap]);
	free(q->v);
	*q = (struct zt_frameq){};
}

bool zt_frameq_push(struct zt_frameq *q, struct zt_frame *f, bool notice)
{
	if (q->n >= q->cap - (notice ? 0 : 1)) {
		if (!notice) {
			q->lost++;
			q->lost_total++;
		}
		return false;
	}
	q->v[(q->head + q->n) % q->cap] = zt_frame_ref(f);
	q->n++;
	return true;
}

struct zt_frame *zt_frameq_head(const struct zt_frameq *q, size_t *ret_off)
{
	if (!q->n)
		return NULL;
	*ret_off = q->off;
	return q->v[q->head];
}

struct zt_frame *zt_frameq_at(const struct zt_frameq *q, size_t i)
{
	return i < q->n ? q->v[(q->head + i) % q->cap] : NULL;
}

void zt_frameq_advance(struct zt_frameq *q, size_t n)
{
	while (n && q->n) {
		size_t left = q->v[q->head]->len - q->off, k = n < left ? n : left;

		q->off += k;
		n -= k;
		if (q->off < q->v[q->head]->len)
			return;
		zt_frame_unref(q->v[q->head]);
		q->v[q->head] = NULL;
		q->head = (q->head + 1) % q->cap;
		q->n--;
		q->off = 0;
	}
}
