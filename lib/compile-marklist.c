/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plan's list of connection marks with what each means (flow, zone
 * pair, whether the connection log wants it): the daemon reads a conntrack
 * event's mark back into a flow log record with it. Not part of the table.
 */
#include "compile-internal.h"

static bool zone_logs(const struct cc *c, uint32_t id)
{
	const struct zinfo *z = &c->zones[id];

	return z->seg >= 0 && (z->kind == ZT_ZONE_SEGMENT || z->kind == ZT_ZONE_SUBNET) &&
	       c->p->segs[z->seg].flow_log;
}

static void refs_join(const struct zt_ref *v, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++) {
		int k = snprintf(buf + o, len - o, "%s%s", i ? "," : "", v[i].name);

		if (k < 0)
			break;
		o += (size_t)k;
	}
}

static void flow_name(const struct cc *c, const struct cflow *cf, struct zt_plan_flow_name *ret)
{
	snprintf(ret->name, sizeof(ret->name), "%s", cf->logname);
	name_counter(ret->counter, cf->id);
	if (cf->f) {
		refs_join(cf->f->from, cf->f->n_from, ret->from, sizeof(ret->from));
		refs_join(cf->f->to, cf->f->n_to, ret->to, sizeof(ret->to));
	}
	if ((cf->kind == CF_RULE || cf->kind == CF_SAME) && cf->seg >= 0) {
		snprintf(ret->segment, sizeof(ret->segment), "%s", c->p->segs[cf->seg].name);
		if (cf->kind == CF_SAME) {
			snprintf(ret->from, sizeof(ret->from), "%s", ret->segment);
			snprintf(ret->to, sizeof(ret->to), "%s", ret->segment);
		}
	}
}

static int mark_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct zt_plan_mark *)a)->mark, y = ((const struct zt_plan_mark *)b)->mark;

	return x < y ? -1 : x > y;
}

int marks_export(struct cc *c)
{
	struct zt_plan *pl = c->plan;
	size_t n = c->n_inst + (c->oos != SIZE_MAX);

	pl->flow_names = calloc(c->n_flows + 1, sizeof(*pl->flow_names));
	pl->zone_names = calloc(c->n_zones + 1, sizeof(*pl->zone_names));
	pl->marks = calloc(n + 1, sizeof(*pl->marks));
	if (!pl->flow_names || !pl->zone_names || !pl->marks)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_flows; i++)
		flow_name(c, &c->flows[i], &pl->flow_names[i]);
	pl->n_flow_names = c->n_flows;
	for (uint32_t id = 1; id <= c->n_zones; id++)
		zone_name(c, id, pl->zone_names[id], sizeof(pl->zone_names[id]));
	pl->n_zone_names = c->n_zones + 1;
	for (size_t i = 0; i < c->n_inst; i++) {
		const struct inst *in = &c->inst[i];
		uint32_t from = in->zp >> 16, to = in->zp & 0xffff;

		pl->marks[i] = (struct zt_plan_mark){
			.mark = in->id, .flow = in->flow, .from = from, .to = to,
			.log = c->p->hub.flow_log || zone_logs(c, from) || zone_logs(c, to),
		};
	}
	if (c->oos != SIZE_MAX)
		pl->marks[c->n_inst] = (struct zt_plan_mark){ .mark = c->oos_id, .flow = (uint32_t)c->oos,
							      .log = c->p->hub.flow_log };
	pl->n_marks = n;
	qsort(pl->marks, n, sizeof(*pl->marks), mark_cmp);
	return 0;
}
