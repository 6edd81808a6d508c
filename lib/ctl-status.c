/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The status document: built by the daemon as JSON (`ztsegctl status
 * --json` prints it as is), and printed as text by ztsegctl from the JSON
 * it received.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <time.h>
#include "ctl-proto.h"
#include "ctl-status.h"
#include "escape.h"

const char *zt_daemon_state_name(enum zt_daemon_state s)
{
	switch (s) {
	case ZT_DAEMON_STARTING:
		return "starting";
	case ZT_DAEMON_RUNNING:
		return "running";
	case ZT_DAEMON_DEGRADED:
		return "degraded";
	case ZT_DAEMON_RELOADING:
		return "reloading";
	case ZT_DAEMON_STOPPING:
		return "stopping";
	}
	return "unknown";
}

/* json_object_set_new() steals v even when it fails, so a NULL v is the only leak-free check. */
static int set_new(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int append_new(json_t *a, json_t *v)
{
	if (!v)
		return -ENOMEM;
	return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* RFC 3339 UTC with milliseconds, or null for 0 (never). */
static json_t *json_time(uint64_t usec)
{
	time_t sec = (time_t)(usec / ZT_USEC_PER_SEC);
	char buf[64];
	struct tm tm;
	size_t n;

	if (!usec)
		return json_null();
	if (!gmtime_r(&sec, &tm))
		return json_null();
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return json_null();
	snprintf(buf + n, sizeof(buf) - n, ".%03uZ", (unsigned)(usec % ZT_USEC_PER_SEC / 1000));
	return json_string(buf);
}

static json_t *json_cidr(const struct zt_cidr *c)
{
	char buf[ZT_CIDR_STRLEN];

	return json_string(zt_cidr_fmt(c, buf, sizeof(buf)));
}

static json_t *json_pos(const struct zt_pos *p)
{
	char *s = NULL;
	json_t *j;

	if (!p->file)
		return json_null();
	if (asprintf(&s, "%s:%u", p->file, p->line) < 0)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

/* Diagnostics of one severity, without the "warning: " prefix the array's name makes redundant. */
static json_t *json_diags(const struct zt_diags *d, enum zt_severity sev)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; d && i < d->n; i++) {
		struct zt_diag dg = d->v[i];
		_cleanup_free_ char *s = NULL;

		if (dg.sev != sev)
			continue;
		dg.sev = ZT_SEV_ERROR;
		s = zt_diag_format(&dg);
		if (!s || append_new(a, json_string(s)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

static json_t *status_daemon(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_new(o, "state", json_string(zt_daemon_state_name(st->state))) < 0 ||
	    set_new(o, "pid", json_integer(st->pid)) < 0 ||
	    set_new(o, "version", json_str_or_null(st->version)) < 0 ||
	    set_new(o, "config_dir", json_str_or_null(st->config_dir)) < 0 ||
	    set_new(o, "started", json_time(st->started_usec)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_policy(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object();

	if (!o || set_new(o, "generation", json_u64(st->generation)) < 0 ||
	    set_new(o, "last_apply", json_time(st->last_apply_usec)) < 0 ||
	    set_new(o, "last_apply_duration_usec",
		    st->last_apply_usec ? json_u64(st->last_apply_duration_usec) : json_null()) < 0 ||
	    set_new(o, "last_error", json_str_or_null(st->last_error)) < 0 ||
	    set_new(o, "errors", json_diags(st->diags, ZT_SEV_ERROR)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_events(const struct zt_status_events *e)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "rtnetlink_overruns", json_u64(e->rtnl_overruns),
			 "resyncs", json_u64(e->resyncs),
			 "nflog_overruns", json_u64(e->nflog_overruns),
			 "spoofed", json_u64(e->spoofed),
			 "tamper", json_u64(e->tamper),
			 "repairs", json_u64(e->repairs),
			 "reloads", json_u64(e->reloads),
			 "reload_failures", json_u64(e->reload_failures),
			 "rollbacks", json_u64(e->rollbacks));
}

static json_t *status_segment(const struct zt_status_segment *sg)
{
	_cleanup_json_ json_t *o = json_object(), *pats = json_array(), *ifs = json_array(),
			      *all = json_array(), *stat = json_array(), *routed = json_array();

	if (!o || !pats || !ifs || !all || !stat || !routed)
		return NULL;
	for (size_t i = 0; i < sg->n_patterns; i++) {
		char buf[IFNAMSIZ + 2];

		if (append_new(pats, json_string(zt_ifpat_fmt(&sg->patterns[i], buf,
								sizeof(buf)))) < 0)
			return NULL;
	}
	for (size_t i = 0; i < sg->n_interfaces; i++)
		if (append_new(ifs, json_string(sg->interfaces[i])) < 0)
			return NULL;
	for (size_t i = 0; i < sg->n_addrs; i++)
		if (append_new(stat, json_cidr(&sg->addrs[i])) < 0 ||
		    append_new(all, json_cidr(&sg->addrs[i])) < 0)
			return NULL;
	for (size_t i = 0; i < sg->n_routed; i++) {
		const struct zt_status_routed *ra = &sg->routed[i];
		char ifname[IFNAMSIZ];

		/* The name comes from the kernel's IFLA_IFNAME: bound it all the same. */
		memcpy(ifname, ra->ifname, sizeof(ifname));
		ifname[IFNAMSIZ - 1] = '\0';
		if (append_new(all, json_cidr(&ra->addr)) < 0 ||
		    append_new(routed, json_pack("{s:o, s:s}", "address", json_cidr(&ra->addr),
						 "interface", ifname)) < 0)
			return NULL;
	}
	if (set_new(o, "name", json_str_or_null(sg->name)) < 0 ||
	    set_new(o, "patterns", TAKE_PTR(pats)) < 0 ||
	    set_new(o, "interfaces", TAKE_PTR(ifs)) < 0 ||
	    set_new(o, "addresses", TAKE_PTR(all)) < 0 ||
	    set_new(o, "static_addresses", TAKE_PTR(stat)) < 0 ||
	    set_new(o, "routed_addresses", TAKE_PTR(routed)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *json_refs(const struct zt_ref *r, size_t n)
{
	_cleanup_json_ json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (append_new(a, json_str_or_null(r[i].name)) < 0)
			return NULL;
	return TAKE_PTR(a);
}

static json_t *status_flow(const struct zt_status_flow *f)
{
	_cleanup_json_ json_t *o = json_object(), *ports = json_array();

	if (!o || !ports)
		return NULL;
	for (size_t i = 0; i < f->n_ports; i++) {
		char buf[64];

		if (append_new(ports, json_string(zt_port_fmt(&f->ports[i], buf, sizeof(buf)))) < 0)
			return NULL;
	}
	if (set_new(o, "name", json_str_or_null(f->name)) < 0 ||
	    set_new(o, "segment", json_str_or_null(f->segment)) < 0 ||
	    set_new(o, "from", json_refs(f->from, f->n_from)) < 0 ||
	    set_new(o, "to", json_refs(f->to, f->n_to)) < 0 ||
	    set_new(o, "ports", TAKE_PTR(ports)) < 0 ||
	    set_new(o, "encrypted", json_boolean(f->encrypted)) < 0 ||
	    set_new(o, "packets", f->have_counters ? json_u64(f->packets) : json_null()) < 0 ||
	    set_new(o, "bytes", f->have_counters ? json_u64(f->bytes) : json_null()) < 0 ||
	    set_new(o, "source", json_pos(&f->pos)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_drops(const struct zt_status *st)
{
	_cleanup_json_ json_t *o = json_object(), *reasons = json_array();
	uint64_t packets = 0, bytes = 0;

	if (!o || !reasons)
		return NULL;
	for (size_t i = 0; i < st->n_drops; i++) {
		const struct zt_status_counter *c = &st->drops[i];

		packets += c->packets;
		bytes += c->bytes;
		if (append_new(reasons, json_pack("{s:o, s:o, s:o}", "name",
						  json_str_or_null(c->name), "packets",
						  json_u64(c->packets), "bytes",
						  json_u64(c->bytes))) < 0)
			return NULL;
	}
	if (set_new(o, "packets", json_u64(packets)) < 0 ||
	    set_new(o, "bytes", json_u64(bytes)) < 0 ||
	    set_new(o, "reasons", TAKE_PTR(reasons)) < 0)
		return NULL;
	return TAKE_PTR(o);
}

static json_t *status_confirm(const struct zt_status_confirm *c)
{
	if (!c)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:i}", "generation", json_u64(c->generation),
			 "deadline", json_time(c->deadline_usec), "seconds_left", json_u64(c->seconds_left),
			 "uid", json_u64(c->uid), "pid", (int)c->pid);
}

static json_t *status_untracked(const struct zt_status *st)
{
	_cleanup_json_ json_t *a = json_array();

	if (!st->untrack_known)
		return json_null();
	if (!a)
		return NULL;
	for (size_t i = 0; i < st->n_untrack; i++) {
		const struct zt_status_untrack *u = &st->untrack[i];

		if (append_new(a, json_pack("{s:o, s:o, s:o, s:o, s:o, s:i}", "family",
					    json_str_or_null(u->family), "table", json_str_or_null(u->table),
					    "chain", json_str_or_null(u->chain), "via", json_str_or_null(u->via),
					    "hook", json_str_or_null(u->hook), "priority", (int)u->priority)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}

int zt_status_build(const struct zt_status *st, json_t **ret)
{
	_cleanup_json_ json_t *o = json_object(), *segs = json_array(), *flows = json_array();

	if (!o || !segs || !flows)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_segments; i++)
		if (append_new(segs, status_segment(&st->segments[i])) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < st->n_flows; i++)
		if (append_new(flows, status_flow(&st->flows[i])) < 0)
			return -ENOMEM;
	if (set_new(o, "daemon", status_daemon(st)) < 0 ||
	    set_new(o, "policy", status_policy(st)) < 0 ||
	    set_new(o, "events", status_events(&st->events)) < 0 ||
	    set_new(o, "segments", TAKE_PTR(segs)) < 0 ||
	    set_new(o, "flows", TAKE_PTR(flows)) < 0 ||
	    set_new(o, "drops", status_drops(st)) < 0 ||
	    set_new(o, "confirmation", status_confirm(st->confirm)) < 0 ||
	    set_new(o, "untracked", status_untracked(st)) < 0 ||
	    set_new(o, "control", json_pack("{s:o}", "refused", json_u64(st->ctl_refused))) < 0 ||
	    set_new(o, "warnings", json_diags(st->diags, ZT_SEV_WARNING)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

/* ---- status table ---- */

/* Display width in characters, counting UTF-8 lead bytes only. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

struct table {
	size_t ncols;
	const char *const *head;
	const bool *right;	/* right-aligned columns (numbers) */
	char **cells;		/* row-major, escaped */
	size_t n, cap;
	int err;
};

/* Add a row; cells are raw text (NULL prints as "-"). */
static void table_row(struct table *t, ...)
{
	va_list ap;

	if (t->err)
		return;
	if (ZT_GROW(t->cells, t->cap, t->n + t->ncols - 1) < 0) {
		t->err = -ENOMEM;
		return;
	}
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = va_arg(ap, const char *);

		t->cells[t->n + i] = zt_escape(s ? s : "-");
		if (!t->cells[t->n + i])
			t->err = -ENOMEM;
	}
	va_end(ap);
	t->n += t->ncols;
}

/* Very long cells (a segment with 2,000 interfaces) do not widen the whole column. */
#define TABLE_COL_MAX 40

static void table_print(struct table *t, FILE *f)
{
	size_t w[12] = {};

	for (size_t c = 0; c < t->ncols && c < ELEMENTSOF(w); c++) {
		w[c] = text_width(t->head[c]);
		for (size_t i = c; i < t->n; i += t->ncols) {
			size_t x = text_width(t->cells[i]);

			if (x > TABLE_COL_MAX)
				x = TABLE_COL_MAX;
			if (x > w[c])
				w[c] = x;
		}
	}
	for (size_t i = 0; i < t->n + t->ncols; i += t->ncols) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = i == 0 ? t->head[c] : t->cells[i - t->ncols + c];
			size_t x = text_width(s), pad = x < w[c] ? w[c] - x : 0;
			bool last = c + 1 == t->ncols;

			if (t->right[c])
				fprintf(f, "%*s%s", (int)pad, "", s);
			else
				fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
			if (!last)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
}

static void table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* Print the table after intro unless building it failed; free it either way. */
static int table_flush(struct table *t, FILE *f, const char *intro)
{
	int r = t->err;

	if (!r) {
		fputs(intro, f);
		table_print(t, f);
	}
	table_clear(t);
	return r;
}

/* Field accessors that tolerate anything: the document came over a socket. */
static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_null(v))
		return "-";
	return json_is_string(v) ? json_string_value(v) : "?";
}

static const char *jnum(const json_t *o, const char *key, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_null(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "?");
	return buf;
}

/* A JSON array of strings joined with sep into a malloc'd string. */
static char *jjoin(const json_t *o, const char *key, const char *sep)
{
	const json_t *a = json_object_get(o, key), *e;
	char *r = NULL;
	size_t i, len = 0;
	FILE *m;

	if (!json_is_array(a))
		return strdup("?");
	if (json_array_size(a) == 0)
		return strdup("-");
	m = open_memstream(&r, &len);
	if (!m)
		return NULL;
	json_array_foreach(a, i, e)
		fprintf(m, "%s%s", i ? sep : "", json_is_string(e) ? json_string_value(e) : "?");
	if (fclose(m) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void print_line(FILE *f, const char *label, const char *value)
{
	_cleanup_free_ char *v = zt_escape(value);

	fprintf(f, "%s%s\n", label, v ? v : "?");
}

static void print_list(FILE *f, const char *title, const json_t *a)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return;
	fprintf(f, "\n%s:\n", title);
	json_array_foreach(a, i, e) {
		_cleanup_free_ char *s = zt_escape(json_is_string(e) ? json_string_value(e) : "?");

		if (s)
			fprintf(f, "  %s\n", s);
	}
}

/* A reload on trial: the line an administrator must not miss. */
static int format_confirm(const json_t *st, FILE *f)
{
	const json_t *c = json_object_get(st, "confirmation");
	_cleanup_free_ char *line = NULL;
	char n[2][32];

	if (!json_is_object(c))
		return 0;
	if (asprintf(&line, "generation %s is on trial: it rolls back at %s (in %s s) unless "
			    "ztsegctl confirm comes first",
		     jnum(c, "generation", n[0], sizeof(n[0])), jstr(c, "deadline"),
		     jnum(c, "seconds_left", n[1], sizeof(n[1]))) < 0)
		return -ENOMEM;
	print_line(f, "confirm:    ", line);
	return 0;
}

/* Other tables that untrack traffic: ztseg's conntrack-based rules never see it as it is. */
static int format_untracked(const json_t *st, FILE *f)
{
	static const char *const head[] = { "UNTRACKED BY", "CHAIN", "HOOK", "PRIORITY", "NOTRACK IN" };
	static const bool right[] = { false, false, false, true, false };
	struct table t = { .ncols = 5, .head = head, .right = right };
	const json_t *u = json_object_get(st, "untracked"), *e;
	size_t i;

	if (json_is_null(u)) {
		fputs("\nforeign tables: not known (the ruleset could not be read)\n", f);
		return 0;
	}
	if (!json_is_array(u) || json_array_size(u) == 0)
		return 0;
	json_array_foreach(u, i, e) {
		_cleanup_free_ char *tbl = NULL;
		char pr[32];

		if (asprintf(&tbl, "table %s %s", jstr(e, "family"), jstr(e, "table")) < 0) {
			t.err = -ENOMEM;
			break;
		}
		table_row(&t, tbl, jstr(e, "chain"), jstr(e, "hook"), jnum(e, "priority", pr, sizeof(pr)),
			  jstr(e, "via"));
	}
	return table_flush(&t, f, "\nforeign tables untrack traffic on ztseg's hooks (untracked packets "
			   "skip every connection-based rule):\n");
}

static int format_header(const json_t *st, FILE *f)
{
	const json_t *dm = json_object_get(st, "daemon"), *pol = json_object_get(st, "policy"),
		     *ev = json_object_get(st, "events"), *dur;
	_cleanup_free_ char *line = NULL;
	char n[9][32];

	if (asprintf(&line, "%s, pid %s, version %s, config %s", jstr(dm, "state"),
		     jnum(dm, "pid", n[0], sizeof(n[0])), jstr(dm, "version"),
		     jstr(dm, "config_dir")) < 0)
		return -ENOMEM;
	print_line(f, "ztsegd:     ", line);
	free(TAKE_PTR(line));

	dur = json_object_get(pol, "last_apply_duration_usec");
	if (json_is_integer(dur))
		snprintf(n[1], sizeof(n[1]), "%.1f ms", (double)json_integer_value(dur) / 1000.0);
	else
		snprintf(n[1], sizeof(n[1]), "-");
	if (asprintf(&line, "generation %s, applied %s (took %s)",
		     jnum(pol, "generation", n[0], sizeof(n[0])), jstr(pol, "last_apply"),
		     n[1]) < 0)
		return -ENOMEM;
	print_line(f, "policy:     ", line);
	free(TAKE_PTR(line));
	print_line(f, "last error: ", json_is_string(json_object_get(pol, "last_error"))
					     ? jstr(pol, "last_error") : "none");

	if (asprintf(&line, "%s rtnetlink overruns, %s resyncs, %s nflog overruns, "
			    "%s spoofed, %s tamper, %s repairs, %s reloads (%s failed, %s rolled back)",
		     jnum(ev, "rtnetlink_overruns", n[0], 32), jnum(ev, "resyncs", n[1], 32),
		     jnum(ev, "nflog_overruns", n[2], 32), jnum(ev, "spoofed", n[3], 32),
		     jnum(ev, "tamper", n[4], 32), jnum(ev, "repairs", n[5], 32),
		     jnum(ev, "reloads", n[6], 32), jnum(ev, "reload_failures", n[7], 32),
		     jnum(ev, "rollbacks", n[8], 32)) < 0)
		return -ENOMEM;
	print_line(f, "events:     ", line);
	return format_confirm(st, f);
}

static int format_segments(const json_t *st, FILE *f)
{
	static const char *const head[] = { "SEGMENT", "MEMBER", "KIND" };
	static const bool right[] = { false, false, false };
	struct table t = { .ncols = 3, .head = head, .right = right };
	const json_t *segs = json_object_get(st, "segments"), *sg, *e;
	size_t i, j;

	if (!json_is_array(segs) || json_array_size(segs) == 0) {
		fputs("\nno segments\n", f);
		return 0;
	}
	json_array_foreach(segs, i, sg) {
		const char *name = jstr(sg, "name");
		const json_t *routed = json_object_get(sg, "routed_addresses");
		size_t before = t.n;

		json_array_foreach(json_object_get(sg, "patterns"), j, e)
			table_row(&t, name, json_string_value(e), "pattern");
		json_array_foreach(json_object_get(sg, "interfaces"), j, e)
			table_row(&t, name, json_string_value(e), "interface");
		json_array_foreach(json_object_get(sg, "static_addresses"), j, e)
			table_row(&t, name, json_string_value(e), "static");
		json_array_foreach(routed, j, e) {
			_cleanup_free_ char *kind = NULL;

			if (asprintf(&kind, "routed via %s", jstr(e, "interface")) < 0) {
				t.err = -ENOMEM;
				break;
			}
			table_row(&t, name, jstr(e, "address"), kind);
		}
		if (t.n == before)
			table_row(&t, name, NULL, "no members");
	}
	/* The segment's name only on its first row. */
	if (!t.err) {
		_cleanup_free_ char *prev = NULL;

		for (size_t k = 0; k < t.n; k += t.ncols) {
			if (prev && streq(prev, t.cells[k])) {
				t.cells[k][0] = '\0';
				continue;
			}
			free(prev);
			prev = strdup(t.cells[k]);
			if (!prev) {
				t.err = -ENOMEM;
				break;
			}
		}
	}
	return table_flush(&t, f, "\n");
}

static int format_flows(const json_t *st, FILE *f)
{
	static const char *const head[] = { "FLOW", "FROM", "TO", "PORTS", "PACKETS", "BYTES",
					    "SOURCE" };
	static const bool right[] = { false, false, false, false, true, true, false };
	struct table t = { .ncols = 7, .head = head, .right = right };
	const json_t *flows = json_object_get(st, "flows"), *fl;
	size_t i;

	if (!json_is_array(flows) || json_array_size(flows) == 0) {
		fputs("\nno flows\n", f);
		return 0;
	}
	json_array_foreach(flows, i, fl) {
		_cleanup_free_ char *from = jjoin(fl, "from", ","), *to = jjoin(fl, "to", ","),
				    *ports = jjoin(fl, "ports", ","), *name = NULL;
		const char *seg = jstr(fl, "segment");
		char pk[32], by[32];

		if (!from || !to || !ports) {
			t.err = -ENOMEM;
			break;
		}
		/* A segment rule is named after its segment, like its chain. */
		if (json_is_string(json_object_get(fl, "segment")) &&
		    asprintf(&name, "%s/%s", seg, jstr(fl, "name")) < 0) {
			t.err = -ENOMEM;
			break;
		}
		table_row(&t, name ? name : jstr(fl, "name"), from, to, ports,
			  jnum(fl, "packets", pk, sizeof(pk)), jnum(fl, "bytes", by, sizeof(by)),
			  jstr(fl, "source"));
	}
	return table_flush(&t, f, "\n");
}

/* The live grants (ztsegd adds "grants" to status when the policy has jit templates). */
static int format_grants(const json_t *st, FILE *f)
{
	static const char *const head[] = { "GRANT", "TEMPLATE", "SOURCE", "TO", "USER", "EXPIRES", "PACKETS",
					    "BYTES" };
	static const bool right[] = { false, false, false, false, false, false, true, true };
	struct table t = { .ncols = 8, .head = head, .right = right };
	const json_t *grants = json_object_get(st, "grants"), *g;
	size_t i;

	if (!json_is_array(grants) || json_array_size(grants) == 0)
		return 0;
	json_array_foreach(grants, i, g) {
		char id[32], pk[32], by[32];

		table_row(&t, jnum(g, "id", id, sizeof(id)), jstr(g, "template"), jstr(g, "source"), jstr(g, "to"),
			  jstr(g, "user"), jstr(g, "expires"), jnum(g, "packets", pk, sizeof(pk)),
			  jnum(g, "bytes", by, sizeof(by)));
	}
	return table_flush(&t, f, "\n");
}

/* Unit zones (ztsegd adds "unit_zones" when the policy has units): each unit's cgroup id and state. */
static int format_units(const json_t *st, FILE *f)
{
	static const char *const head[] = { "UNIT ZONE", "UNIT", "CGROUP ID", "STATE" };
	static const bool right[] = { false, false, true, false };
	struct table t = { .ncols = 4, .head = head, .right = right };
	const json_t *uz = json_object_get(st, "unit_zones"), *u;
	char id[32], n[32], mx[32];
	size_t i;

	if (!json_is_object(uz))
		return 0;
	fprintf(f, "unit zones: cgroup2 at %s (%s layout), %s cgroups classified, last change enforced in %s us "
		   "(max %s)\n", jstr(uz, "cgroup_root"), jstr(uz, "layout"), jnum(uz, "cgroups", n, sizeof(n)),
		jnum(uz, "last_usec", id, sizeof(id)), jnum(uz, "max_usec", mx, sizeof(mx)));
	json_array_foreach(json_object_get(uz, "units"), i, u)
		table_row(&t, jstr(u, "zone"), jstr(u, "unit"), jnum(u, "cgroup_id", id, sizeof(id)), jstr(u, "state"));
	return table_flush(&t, f, "\n");
}

/* Learned baselines (ztsegd adds "anomaly" when the policy watches flows): the open episodes. */
static int format_anomaly(const json_t *st, FILE *f)
{
	static const char *const head[] = { "ANOMALY", "BASELINE/s", "PEAK/s", "ACTION", "TOP SOURCES" };
	static const bool right[] = { false, true, true, false, false };
	struct table t = { .ncols = 5, .head = head, .right = right };
	const json_t *an = json_object_get(st, "anomaly"), *e;
	char n[32], o[32], b[32], p[32];
	size_t i;

	if (!json_is_object(an))
		return 0;
	fprintf(f, "learned baselines: %s flows watched, %s episodes open, %s opened since start, %s samples\n",
		jnum(an, "series", n, sizeof(n)), jnum(an, "open", o, sizeof(o)), jnum(an, "opened", b, sizeof(b)),
		jnum(an, "samples", p, sizeof(p)));
	json_array_foreach(json_object_get(an, "episodes"), i, e) {
		snprintf(b, sizeof(b), "%.2f", json_number_value(json_object_get(e, "baseline")));
		snprintf(p, sizeof(p), "%.2f", json_number_value(json_object_get(e, "peak")));
		table_row(&t, jstr(e, "flow"), b, p, jstr(e, "action"), jstr(e, "top_sources"));
	}
	return table_flush(&t, f, "\n");
}

/*
 * "ADDR (from) ADDR (from)" of a bridge port's array key ("learned": its
 * learned bindings; "claimed": a bridge: segment's port's claims, issue
 * 15); none when the array is empty: none_str (NULL or "-", copied).
 */
static char *from_join(const json_t *o, const char *key, const char *none_str)
{
	const json_t *a = json_object_get(o, key), *e;
	char *r = NULL;
	size_t i, len = 0;
	FILE *m;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return none_str ? strdup(none_str) : NULL;
	m = open_memstream(&r, &len);
	if (!m)
		return NULL;
	json_array_foreach(a, i, e)
		fprintf(m, "%s%s (%s)", i ? " " : "", jstr(e, "address"), jstr(e, "from"));
	if (fclose(m) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

/* Bridged workloads (ztsegd adds "bridge_ports" when segments name bridge ports): each port. */
static int format_bridge(const json_t *st, FILE *f)
{
	static const char *const head[] = { "BRIDGE PORT", "BRIDGE", "SEGMENT", "MAC BOUND", "FROM", "FOR", "LEFT",
					    "ADDRESSES", "LEARNED" };
	static const bool right[] = { false, false, false, false, false, true, true, false, false };
	struct table t = { .ncols = 9, .head = head, .right = right };
	const json_t *ports = json_object_get(st, "bridge_ports"), *e;
	size_t i;

	if (!json_is_array(ports) || json_array_size(ports) == 0)
		return 0;
	json_array_foreach(ports, i, e) {
		_cleanup_free_ char *claims = from_join(e, "claimed", NULL),
				    *addrs = claims ? NULL : jjoin(e, "addresses", " "), *learned = from_join(e, "learned", "-");
		const char *cls = jstr(e, "classification");
		char fr[32], left[32];

		jnum(e, "bound_seconds", fr, sizeof(fr));
		jnum(e, "binding_expires_seconds", left, sizeof(left));
		if (strcmp(fr, "-") != 0)
			strncat(fr, " s", sizeof(fr) - strlen(fr) - 1);
		if (strcmp(left, "-") != 0)
			strncat(left, " s", sizeof(left) - strlen(left) - 1);
		table_row(&t, jstr(e, "port"), jstr(e, "bridge"),
			  strcmp(cls, "member") == 0 ? jstr(e, "segment")
			  : strcmp(cls, "unclaimed") == 0 ? "(no address claimed yet)" : "(not a member: by address)",
			  jstr(e, "mac"), json_object_get(e, "mac_from") ? jstr(e, "mac_from") : "-", fr, left,
			  claims ? claims : addrs ? addrs : "?",
			  learned ? learned : "?");
	}
	return table_flush(&t, f, "\n");
}

static int format_drops(const json_t *st, FILE *f)
{
	static const char *const head[] = { "DROPS", "PACKETS", "BYTES" };
	static const bool right[] = { false, true, true };
	struct table t = { .ncols = 3, .head = head, .right = right };
	const json_t *drops = json_object_get(st, "drops"), *e;
	char pk[32], by[32];
	size_t i;

	if (!json_is_object(drops))
		return 0;
	json_array_foreach(json_object_get(drops, "reasons"), i, e)
		table_row(&t, jstr(e, "name"), jnum(e, "packets", pk, sizeof(pk)),
			  jnum(e, "bytes", by, sizeof(by)));
	table_row(&t, "total", jnum(drops, "packets", pk, sizeof(pk)),
		  jnum(drops, "bytes", by, sizeof(by)));
	return table_flush(&t, f, "\n");
}

/* Observe mode: which segments observe, and what would be denied per zone pair (with the deciding lines). */
static int format_observe(const json_t *st, FILE *f)
{
	static const char *const head[] = { "WOULD DENY FROM", "TO", "PACKETS", "BYTES", "POLICY", "MODE" };
	static const bool right[] = { false, false, true, true, false, false };
	struct table t = { .ncols = 6, .head = head, .right = right };
	const json_t *obs = json_object_get(st, "observe"), *e;
	char pk[32], by[32];
	bool any = false;
	size_t i;

	if (!json_is_object(obs) || !json_is_true(json_object_get(obs, "observing")))
		return 0;
	fprintf(f, "\nobserve mode: hub.mode %s; segments observing:", jstr(obs, "hub_mode"));
	json_array_foreach(json_object_get(st, "segments"), i, e) {
		if (!json_is_string(json_object_get(e, "mode")) || strcmp(jstr(e, "mode"), "observe") != 0)
			continue;
		_cleanup_free_ char *n = zt_escape(jstr(e, "name"));

		fprintf(f, " %s", n ? n : "?");
		any = true;
	}
	fprintf(f, "%s\ncompleted would-deny connection kinds recorded: %s (ztsegctl suggest)\n", any ? "" : " none",
		jnum(obs, "completed", pk, sizeof(pk)));
	json_array_foreach(json_object_get(obs, "would_deny"), i, e)
		table_row(&t, jstr(e, "from"), jstr(e, "to"), jnum(e, "packets", pk, sizeof(pk)),
			  jnum(e, "bytes", by, sizeof(by)), jstr(e, "policy"), jstr(e, "mode"));
	if (!t.n) {
		fputs("no would-deny traffic seen\n", f);
		return 0;
	}
	return table_flush(&t, f, "");
}

int zt_status_format(const json_t *status, FILE *f)
{
	int r;

	if (!json_is_object(status))
		return -EBADMSG;
	r = format_header(status, f);
	if (r == 0)
		r = format_segments(status, f);
	if (r == 0)
		r = format_flows(status, f);
	if (r == 0)
		r = format_grants(status, f);
	if (r == 0)
		r = format_units(status, f);
	if (r == 0)
		r = format_anomaly(status, f);
	if (r == 0)
		r = format_bridge(status, f);
	if (r == 0)
		r = format_drops(status, f);
	if (r == 0)
		r = format_observe(status, f);
	if (r == 0)
		r = format_untracked(status, f);
	if (r == 0) {
		print_list(f, "errors in the policy on disk",
			   json_object_get(json_object_get(status, "policy"), "errors"));
		print_list(f, "warnings", json_object_get(status, "warnings"));
	}
	return r;
}
