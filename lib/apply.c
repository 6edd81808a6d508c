/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * apply: make table inet ztseg what the plan says in one nf_tables
 * transaction. Each attempt chooses how (whole, or the difference with
 * the table read back or with the plan applied last), builds the batch
 * and sends it; another process's commit in between starts it again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <nettle/sha2.h>
#include <linux/netfilter/nf_tables.h>
#include "apply.h"
#include "bridge.h"
#include "apply-internal.h"
#include "compile-feeds.h"
#include "diff-kernel.h"
#include "diff-plan.h"
#include "ifx.h"

#define RESTARTS_DEFAULT 10
#define ENC_IFS_MAX 4096

/* ---- the plan as applied -------------------------------------------------- */

/*
 * A plan seen with one set's elements replaced: a shallow copy whose sets
 * array and replacement elements alone are its own. The plan as applied
 * (enc_if filled from the links) and a stage (fcnt cut) are such views.
 */
struct plan_view {
	struct zt_plan p;
	struct zt_set *sets;
	struct zt_elem *elems;
};

static void view_clear(struct plan_view *v)
{
	free(v->sets);
	free(v->elems);
	*v = (struct plan_view){};
}

/* plan with room for n elements that replace set si's: the caller fills them, then sets n_elems. */
static int view_make(const struct zt_plan *plan, size_t si, size_t n, struct plan_view *v)
{
	*v = (struct plan_view){ .p = *plan };
	v->sets = malloc(plan->n_sets * sizeof(*v->sets));
	v->elems = calloc(n ? n : 1, sizeof(*v->elems));
	if (!v->sets || !v->elems) {
		view_clear(v);
		return -ENOMEM;
	}
	memcpy(v->sets, plan->sets, plan->n_sets * sizeof(*v->sets));
	v->sets[si].elems = v->elems;
	v->sets[si].esize = 0;
	v->sets[si].n_elems = v->sets[si].cap_elems = 0;
	v->p.sets = v->sets;
	return 0;
}

/*
 * The plan as applied: enc_if and the exact-name twins (ifx.h) filled from
 * one link dump. A shallow copy whose sets array and filled elements alone
 * are its own.
 */
struct eff_plan {
	struct zt_plan p;
	struct zt_set *sets;
	struct zt_elem **owned;
	size_t n_owned;
	size_t n_enc;
	struct zt_bridge_haddr *hown;	/* p.bridge.hown: the host's addresses on bridges */
	char (*bports)[IFNAMSIZ];	/* p.bridge.ports: the host's link names */
	struct zt_bridge_dport *dports;	/* p.bridge.dports: ports of the bridges bridge: segments name */
	struct zt_bridge_pin *pins;	/* p.bridge.pins: what those ports claimed, read back */
};

static void eff_plan_clear(struct eff_plan *e)
{
	for (size_t i = 0; i < e->n_owned; i++)
		free(e->owned[i]);
	free(e->owned);
	free(e->sets);
	free(e->hown);
	free(e->bports);
	free(e->dports);
	free(e->pins);
	*e = (struct eff_plan){};
}

/* Set i of the view gets elems (taken) as its contents and stops being dynamic. */
static int eff_fill(struct eff_plan *e, size_t i, struct zt_elem *elems, size_t n)
{
	if (!e->sets) {
		if (!(e->sets = malloc(e->p.n_sets * sizeof(*e->sets))) ||
		    !(e->owned = calloc(e->p.n_sets, sizeof(*e->owned)))) {
			free(elems);
			return -ENOMEM;
		}
		memcpy(e->sets, e->p.sets, e->p.n_sets * sizeof(*e->sets));
		e->p.sets = e->sets;
	}
	e->owned[e->n_owned++] = elems;
	e->sets[i].elems = elems;
	e->sets[i].esize = 0;
	e->sets[i].n_elems = e->sets[i].cap_elems = n;
	e->sets[i].dynamic = false;
	return 0;
}

static int eff_enc(struct eff_plan *e, size_t k, const struct zt_link *links, size_t n_links,
		   const struct zt_apply_opts *o)
{
	_cleanup_free_ char (*names)[IFNAMSIZ] = NULL;
	struct zt_elem *el;
	size_t found;

	if (e->p.sets[k].n_key != 1 || e->p.sets[k].key[0] != ZT_TYPE_IFNAME)
		return -EINVAL;
	names = calloc(ENC_IFS_MAX, sizeof(*names));
	if (!names)
		return -ENOMEM;
	found = zt_enc_if_select(links, n_links, o->enc_pats, o->n_enc_pats, o->enc_kinds, o->n_enc_kinds, names,
				 ENC_IFS_MAX);
	if (found > ENC_IFS_MAX)
		return -E2BIG;
	if (!(el = calloc(found ? found : 1, sizeof(*el))))
		return -ENOMEM;
	for (size_t i = 0; i < found; i++) {
		el[i].key[0].type = ZT_TYPE_IFNAME;
		snprintf(el[i].key[0].ifpat.name, IFNAMSIZ, "%s", names[i]);
	}
	e->n_enc = found;
	return eff_fill(e, k, el, found);
}

/*
 * dports: every link whose master is a bridge a bridge: segment names and
 * whose name no pattern names; pins: those the table holds now for these
 * ports (a table written anew keeps what its ports claimed; a port gone
 * loses its pins, so its address is free for its successor).
 */
static int eff_dports(struct eff_plan *e, const struct zt_link *links, size_t n_links)
{
	_cleanup_free_ struct zt_bridge_pin *pins = NULL;
	size_t n_pins = 0, k = 0, np = 0;
	int r;

	if (!(e->dports = calloc(n_links ? n_links : 1, sizeof(*e->dports))))
		return -ENOMEM;
	for (size_t i = 0; i < n_links; i++) {
		const char *br = NULL;

		for (size_t j = 0; links[i].master && j < n_links && !br; j++)
			if (links[j].ifindex == links[i].master)
				br = links[j].name;
		if (!br || !zt_bridge_dport_of(&e->p.bridge, links[i].name, br))
			continue;
		snprintf(e->dports[k].port, IFNAMSIZ, "%s", links[i].name);
		snprintf(e->dports[k++].bridge, IFNAMSIZ, "%s", br);
	}
	e->p.bridge.dports = e->dports;
	e->p.bridge.n_dports = k;
	r = zt_bridge_pins_read(NULL, &pins, &n_pins);
	if (r == -ENOENT)
		return 0;	/* no table, or one without pin sets yet: nothing claimed */
	if (r < 0) {
		/*
		 * Unreadable (a dump interrupted again and again, a message it
		 * cannot parse, too many): a table written without its pins
		 * would let every port claim again, a squatter first (review h15
		 * #5). Write nothing: the old table stays, the apply fails.
		 */
		return r;
	}
	if (!(e->pins = calloc(n_pins ? n_pins : 1, sizeof(*e->pins))))
		return -ENOMEM;
	for (size_t i = 0; i < n_pins; i++) {
		bool there = false;

		for (size_t j = 0; j < k && !there; j++)
			there = streq(pins[i].port, e->dports[j].port);
		if (there)
			e->pins[np++] = pins[i];
	}
	e->p.bridge.pins = e->pins;
	e->p.bridge.n_pins = np;
	return 0;
}

static int eff_plan_make(const struct zt_plan *plan, const struct zt_apply_opts *o, struct eff_plan *e)
{
	_cleanup_free_ struct zt_link *links = NULL;
	_cleanup_free_ char (*names)[IFNAMSIZ] = NULL;
	size_t n_links = 0, n_sets = plan->n_sets;
	bool want = false;
	int r;

	*e = (struct eff_plan){ .p = *plan };
	/* br_netfilter off in this namespace: bridged member traffic would skip inet ztseg; drop it */
	e->p.bridge.brnf_off = plan->bridge.n_segs && (zt_bridge_nf_call(false) == 0 || zt_bridge_nf_call(true) == 0);
	/* the host's own addresses on bridges: hown4/hownna, written with the table (ztsegd keeps them) */
	if (plan->bridge.n_segs) {
		r = zt_bridge_host_dump(&e->hown, &e->p.bridge.n_hown);
		if (r < 0)
			return r;
		e->p.bridge.hown = e->hown;
	}
	for (size_t i = 0; i < n_sets; i++)
		want |= plan->sets[i].dynamic && (zt_ifx_is_twin(plan->sets[i].name) ||
						  (streq(plan->sets[i].name, ZT_ENC_IF_SET) && o->n_enc_pats));
	if (!want && !plan->bridge.n_segs)
		return 0;
	r = zt_links_dump(&links, &n_links);
	if (r < 0)
		return r;
	if (!(names = calloc(n_links ? n_links : 1, sizeof(*names))))
		return -ENOMEM;
	for (size_t i = 0; i < n_links; i++)
		memcpy(names[i], links[i].name, IFNAMSIZ);
	/* the bridge's exact-name twins port_srcx/port_dstx, written with the table */
	if (plan->bridge.n_segs) {
		if (!(e->bports = calloc(n_links ? n_links : 1, sizeof(*e->bports))))
			return -ENOMEM;
		memcpy(e->bports, names, n_links * sizeof(*names));
		e->p.bridge.ports = (const char (*)[IFNAMSIZ])e->bports;
		e->p.bridge.n_ports = n_links;
	}
	/* issue 15: the ports of bridge: segments' bridges, and the pins they hold now */
	if (zt_bridge_has_dsegs(&plan->bridge) && (r = eff_dports(e, links, n_links)) < 0) {
		eff_plan_clear(e);
		return r;
	}
	for (size_t i = 0; i < n_sets && r >= 0; i++) {
		const struct zt_set *s = &plan->sets[i];
		struct zt_elem *el = NULL;
		size_t n = 0;

		if (!s->dynamic)
			continue;
		if (streq(s->name, ZT_ENC_IF_SET) && o->n_enc_pats)
			r = eff_enc(e, i, links, n_links, o);
		else if (zt_ifx_is_twin(s->name) && (r = zt_ifx_elems(plan, s, names, n_links, &el, &n)) >= 0)
			r = eff_fill(e, i, el, n);
	}
	if (r < 0)
		eff_plan_clear(e);
	return r;
}

/* ---- the digest of what was applied ------------------------------------- */

void zt_sha256(const void *data, size_t len, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

/* The plan's whole-table batch (sequence numbers from 0), hashed: what a full apply would send. */
static int plan_digest(const struct zt_plan *p, uint32_t flags, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	int r;

	r = zt_batch_new(0, &b);
	if (r >= 0)
		r = zt_emit_plan(b, p, flags);
	if (r < 0)
		return r;
	zt_sha256(b->buf, b->len, out);
	return 0;
}

/*
 * The applied digest: from the caller's seed, the flags and what apply
 * itself put into the plan (the links in enc_if: sets dynamic in the
 * compiled plan and filled in p); without a seed, the batch's.
 */
static int apply_digest(const struct zt_apply_opts *o, const struct zt_plan *base, const struct zt_plan *p,
			uint32_t flags, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t len = ZT_APPLY_DIGEST_LEN + 5, at = 0;

	if (!o->digest_seed)
		return plan_digest(p, flags, out);
	for (size_t i = 0; i < p->n_sets && i < base->n_sets; i++)
		if (base->sets[i].dynamic && !p->sets[i].dynamic)
			len += ZT_OBJ_NAME_MAX + 8 + p->sets[i].n_elems * IFNAMSIZ;
	/* table bridge ztseg's sets apply fills: the host's addresses on bridges, the link names */
	len += p->bridge.n_hown * sizeof(*p->bridge.hown) + p->bridge.n_ports * IFNAMSIZ +
	       p->bridge.n_dports * 2 * IFNAMSIZ;
	buf = calloc(1, len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, o->digest_seed, ZT_APPLY_DIGEST_LEN);
	at = ZT_APPLY_DIGEST_LEN;
	for (unsigned i = 0; i < 4; i++)
		buf[at++] = (uint8_t)(flags >> (24 - 8 * i));
	buf[at++] = p->bridge.brnf_off;	/* what apply read from br_netfilter's switches */
	for (size_t i = 0; i < p->n_sets && i < base->n_sets; i++) {
		const struct zt_set *s = &p->sets[i];

		if (!base->sets[i].dynamic || s->dynamic)
			continue;
		memcpy(buf + at, s->name, strnlen(s->name, ZT_OBJ_NAME_MAX));
		at += ZT_OBJ_NAME_MAX;
		for (unsigned b = 0; b < 8; b++)
			buf[at++] = (uint8_t)((uint64_t)s->n_elems >> (56 - 8 * b));
		for (size_t e = 0; e < s->n_elems; e++, at += IFNAMSIZ) {
			const char *name = zt_set_elem(s, e)->key[0].ifpat.name;

			memcpy(buf + at, name, strnlen(name, IFNAMSIZ));
		}
	}
	if (p->bridge.n_hown) {
		memcpy(buf + at, p->bridge.hown, p->bridge.n_hown * sizeof(*p->bridge.hown));
		at += p->bridge.n_hown * sizeof(*p->bridge.hown);
	}
	for (size_t i = 0; i < p->bridge.n_ports; i++, at += IFNAMSIZ)
		memcpy(buf + at, p->bridge.ports[i], strnlen(p->bridge.ports[i], IFNAMSIZ));
	for (size_t i = 0; i < p->bridge.n_dports; i++, at += 2 * IFNAMSIZ) {
		memcpy(buf + at, p->bridge.dports[i].port, strnlen(p->bridge.dports[i].port, IFNAMSIZ));
		memcpy(buf + at + IFNAMSIZ, p->bridge.dports[i].bridge, strnlen(p->bridge.dports[i].bridge, IFNAMSIZ));
	}
	zt_sha256(buf, at, out);
	return 0;
}

/* ---- one attempt: choose, build, send ------------------------------------ */

const char *zt_apply_path_name(enum zt_apply_path p)
{
	switch (p) {
	case ZT_APPLY_FULL:
		return "full";
	case ZT_APPLY_DUMP:
		return "table read back";
	case ZT_APPLY_PLAN:
		return "previous plan";
	case ZT_APPLY_DIGEST:
		return "digest";
	}
	return "?";
}

/* The generation after our commit at genid; quiet: whether notifications were off meanwhile. */
static void gen_after_commit(struct zt_nft *n, uint32_t genid, bool sent, bool quiet, struct zt_apply_stats *st)
{
	uint32_t after;

	if (zt_nft_genid_read(n, &after) < 0) {
		n->gen_ours = st->genid = 0;
		st->foreign = quiet;
		return;
	}
	/* Ours moved it by one (an empty transaction does not move it). */
	if (after == (sent ? zt_gen_next(genid) : genid) || (sent && after == genid)) {
		n->gen_ours = st->genid = after;
		return;
	}
	n->gen_ours = st->genid = 0;
	st->foreign = quiet;
}

/*
 * Take an orphaned table back: a transaction of its own that changes only
 * the flags, because the kernel refuses a flags update together with base
 * chains added or deleted in the same transaction (EINVAL, measured). It
 * carries the generation the dump was taken at, so that a change by
 * someone else in between restarts the whole apply.
 */
static int table_claim(struct zt_nft *n, uint32_t flags, uint32_t *genid, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_acks a = {};
	uint32_t after;
	int r;

	r = zt_batch_new(zt_nft_seq_next(n), &b);
	if (r >= 0)
		r = zt_batch_begin(b, *genid);
	if (r >= 0)
		r = zt_emit_table(b, flags);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r < 0)
		return r;
	r = zt_nft_batch_send(n, b, NULL, false, &a, d);
	r = zt_acks_result(r, &a);
	zt_acks_clear(&a);
	if (r < 0)
		return r;
	r = zt_nft_genid_read(n, &after);
	if (r < 0)
		return r;
	/* Ours was the only commit since the dump, or the dump is stale. */
	if (after != zt_gen_next(*genid))
		return -ERESTART;
	*genid = after;
	return 0;
}

/* What one attempt found and chose. */
struct attempt {
	enum zt_apply_path path;
	uint32_t genid;			/* the kernel's when we looked; the batch carries it */
	uint32_t flags;			/* the table's flags we want */
	struct zt_kstate k;		/* k.table always; its objects on ZT_APPLY_DUMP */
	struct zt_kernel_diff kd;	/* ZT_APPLY_DUMP */
	struct zt_plan_diff pd;		/* ZT_APPLY_PLAN */
	uint64_t bridge_hash;		/* table bridge ztseg of this plan */
	bool bridge_changed;		/* it differs from what this handle last wrote */
	uint8_t digest[ZT_APPLY_DIGEST_LEN];	/* ZT_APPLY_DIGEST */
};

static void attempt_clear(struct attempt *at, const struct zt_plan *p)
{
	zt_kernel_diff_clear(&at->kd, p, &at->k);
	zt_plan_diff_clear(&at->pd, p);
	zt_kstate_clear(&at->k);
}

/*
 * The table's flags, and whether a difference is possible at all: the
 * kernel's table must take our flags as an update (the same persist bit,
 * which cannot be toggled; the owner bit ours already or free to take).
 */
static int choose_flags(struct zt_nft *n, const struct zt_apply_opts *o, struct attempt *at,
			struct zt_apply_stats *st, bool *full, struct zt_diags *d)
{
	const struct zt_nft_table_info *t = &at->k.table;
	int persist;

	if (t->present && (t->flags & NFT_TABLE_F_OWNER) && t->has_owner && t->owner != zt_nft_portid(n)) {
		zt_diag_error(d, NULL, 0, 0, "table inet %s is owned by another process (netlink port %u): "
			      "a running ztsegd applies changes itself (reload it)", ZT_TABLE_NAME, t->owner);
		return -EPERM;
	}
	persist = zt_nft_has_persist(n);
	if (persist < 0)
		return persist;
	/* Without persist an owned table dies with its owner: that would fail open. */
	at->flags = persist && !o->unowned ? NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST : 0;
	st->persist = persist && !o->unowned;
	*full = o->replace || !t->present || (t->flags & NFT_TABLE_F_PERSIST) != (at->flags & NFT_TABLE_F_PERSIST) ||
		(!persist && (t->flags & NFT_TABLE_F_OWNER));
	return 0;
}

/*
 * How this attempt applies p (base: as compiled, before enc_if was
 * filled): the whole table, nothing (the digest says it is there), the
 * difference with the previous plan while nothing was committed since,
 * or the difference with the table read back. Whatever cannot be
 * compared is replaced whole.
 */
static int apply_choose(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
			const struct zt_apply_opts *o, struct attempt *at, struct zt_apply_stats *st,
			struct zt_diags *d)
{
	bool full, same_gen;
	int r;

	at->path = ZT_APPLY_FULL;
	r = zt_nft_genid_read(n, &at->genid);
	if (r >= 0)
		r = zt_nft_table_get(&n->nl, &at->k.table);
	if (r >= 0)
		r = choose_flags(n, o, at, st, &full, d);
	if (r < 0 || full)
		return r;
	/* Nothing committed in this namespace since the caller's last apply: the table is its plan. */
	same_gen = o->prev_genid && at->genid == o->prev_genid;
	if (same_gen && o->prev_digest) {
		r = apply_digest(o, base, p, at->flags, at->digest);
		if (r < 0)
			return r;
		if (memcmp(at->digest, o->prev_digest, sizeof(at->digest)) == 0) {
			at->path = ZT_APPLY_DIGEST;
			return 0;
		}
	}
	if (same_gen && o->prev_plan) {
		r = zt_plan_diff_compute(o->prev_plan, base, p, o->refill_filled, &at->pd);
		if (r >= 0) {
			at->path = ZT_APPLY_PLAN;
			return 0;
		}
		if (r != -ENOTUNIQ)
			return r;
		zt_plan_diff_clear(&at->pd, p);
	}
	r = zt_kstate_dump(&n->nl, &at->k);
	/* Someone committed while we read (NLM_F_DUMP_INTR): read again. */
	if (r == -EINTR)
		return -ERESTART;
	if (r >= 0)
		r = zt_kernel_diff_compute(p, &at->k, &at->kd);
	if (r == -ENOMEM)
		return r;
	at->path = r >= 0 ? ZT_APPLY_DUMP : ZT_APPLY_FULL;
	return 0;
}

/* The batch of the chosen path, begun at the generation we looked at. */
static int apply_build(struct zt_nft *n, const struct zt_plan *p, const struct zt_apply_opts *o,
		       struct attempt *at, struct zt_batch **ret, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	const struct zt_nft_table_info *t = &at->k.table;
	int r = 0;

	if (at->path != ZT_APPLY_FULL && t->flags != at->flags)
		r = table_claim(n, at->flags, &at->genid, d);
	if (r >= 0)
		r = zt_batch_new(zt_nft_seq_next(n), &b);
	if (r >= 0)
		r = zt_batch_begin(b, at->genid);
	/* table bridge ztseg is small: written anew, in the same transaction, whenever it changes */
	at->bridge_hash = zt_bridge_hash(&p->bridge);
	at->bridge_changed = at->path == ZT_APPLY_FULL || at->bridge_hash != n->bridge_hash;
	if (r >= 0 && at->bridge_changed)
		r = zt_bridge_emit_destroy(b);
	if (r >= 0 && at->path == ZT_APPLY_FULL) {
		if (t->present)
			r = zt_emit_table_del(b);
		if (r >= 0)
			r = zt_emit_plan(b, p, at->flags);
	} else if (r >= 0 && at->path == ZT_APPLY_PLAN)
		r = zt_plan_diff_emit(b, o->prev_plan, p, &at->pd);
	else if (r >= 0)
		r = zt_kernel_diff_emit(b, p, &at->k, &at->kd);
	if (r >= 0 && at->path != ZT_APPLY_FULL && at->bridge_changed)
		r = zt_bridge_emit(b, &p->bridge, at->flags);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r == -EINVAL && b)
		zt_diag_error(d, NULL, 0, 0, "internal error: the plan holds something nft cannot express%s%s",
			      b->invalid[0] ? ": " : "", b->invalid);
	if (r < 0)
		return r;
	n->nl.seq = b->seq;
	*ret = TAKE_PTR(b);
	return 0;
}

/* Send the batch unless it changes nothing; the generation after, and the digest. */
static int apply_send(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
		      const struct zt_apply_opts *o, const struct attempt *at, const struct zt_batch *b,
		      struct zt_apply_stats *st, struct zt_diags *d)
{
	bool full = at->path == ZT_APPLY_FULL, quiet;
	struct zt_acks a = {};
	int r = 0;

	st->created = !at->k.table.present;
	st->replaced = full && at->k.table.present;
	st->changed = full ? zt_plan_count_objects(p) : at->path == ZT_APPLY_PLAN ? at->pd.changed : at->kd.changed;
	/* table bridge ztseg is not diffed: not counted in changed, sent whole when it differs */
	st->bridge_sent = !full && at->bridge_changed;
	st->bridge_written = at->bridge_changed && p->bridge.n_segs;
	if (!full && st->changed == 0 && !st->bridge_sent) {
		/* Nothing to change: nothing to send. */
		st->messages = st->bytes = 0;
		gen_after_commit(n, at->genid, false, false, st);
	} else {
		st->messages = b->n_src;
		st->bytes = b->len;
		quiet = o->quiet && b->n_src >= ZT_APPLY_QUIET_MIN;
		if (quiet)
			o->quiet(true, o->userdata);
		r = zt_nft_batch_send(n, b, p, false, &a, d);
		r = zt_acks_result(r, &a);
		zt_acks_clear(&a);
		if (quiet)
			o->quiet(false, o->userdata);
		if (r >= 0) {
			gen_after_commit(n, at->genid, true, quiet, st);
			n->bridge_hash = at->bridge_hash;
		} else {
			n->bridge_hash = 0;
			n->gen_ours = 0;
			/* A restart under a quiet window: someone committed unseen. */
			if (quiet && r == -ERESTART)
				st->foreign = true;
		}
	}
	if (r >= 0 && o->want_digest) {
		r = apply_digest(o, base, p, at->flags, st->digest);
		st->have_digest = r >= 0;
	}
	return r;
}

void zt_apply_bridge_forget(struct zt_nft *n)
{
	n->bridge_hash = 0;
}

/* The same plan at the same generation: nothing to send. */
static void apply_unchanged(struct zt_nft *n, const struct zt_apply_opts *o, const struct attempt *at,
			    struct zt_apply_stats *st)
{
	st->created = st->replaced = false;
	st->messages = st->bytes = st->changed = 0;
	st->genid = n->gen_ours = at->genid;
	memcpy(st->digest, at->digest, sizeof(st->digest));
	st->have_digest = o->want_digest;
}

static int apply_once(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
		      const struct zt_apply_opts *o, struct zt_apply_stats *st, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct attempt at = {};
	int r;

	r = apply_choose(n, p, base, o, &at, st, d);
	st->path = at.path;
	if (r >= 0 && at.path == ZT_APPLY_DIGEST)
		apply_unchanged(n, o, &at, st);
	else if (r >= 0) {
		r = apply_build(n, p, o, &at, &b, d);
		if (r >= 0)
			r = apply_send(n, p, base, o, &at, b, st, d);
	}
	attempt_clear(&at, p);
	return r;
}

/* ---- staging new connection marks ------------------------------------------ */

/*
 * One transaction is not atomic for a packet when it changes an interval
 * set: the kernel swaps such a set's contents while it commits, after the
 * new rules are visible, so a packet judged in that window can meet the new
 * rules with the old addresses (seen in tests/netns/revoke.sh under load:
 * a revoked connection re-judged with its old zone got the new policy's
 * mark for that zone, and kept it). So connection marks new to the table
 * do not go live with the rest: a first transaction applies the new plan
 * with only the fcnt elements the table has already, and a second adds the
 * others to fcnt, a hash map whose elements change atomically. A
 * connection judged in the window meets a mark fcnt does not hold and is
 * denied, then judged again; no stale judgement is kept.
 */
#define FCNT "fcnt"

struct stage {
	struct plan_view v;
	size_t withheld;
};

static void stage_clear(struct stage *s)
{
	view_clear(&s->v);
	s->withheld = 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The marks fcnt holds now: the previous plan's, or the kernel's; none without a table. */
static int live_marks(struct zt_nft *n, const struct zt_apply_opts *o, uint32_t **ret, size_t *n_ret)
{
	const struct zt_set *old = o->prev_plan ? zt_plan_find_set(o->prev_plan, FCNT) : NULL;
	_cleanup_free_ uint32_t *v = NULL;
	struct zt_kset ks = {};
	size_t k = 0;
	int r = 0;

	*ret = NULL;
	*n_ret = 0;
	if (!o->prev_plan) {
		r = zt_kset_dump(&n->nl, FCNT, &ks);
		if (r == -ENOENT) {
			zt_kset_clear(&ks);
			return 0;
		}
	}
	if (r >= 0 && !(v = calloc((old ? old->n_elems : ks.n) + 1, sizeof(*v))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && old && i < old->n_elems; i++)
		v[k++] = zt_set_elem(old, i)->key[0].u32;
	for (size_t i = 0; r >= 0 && !old && i < ks.n; i++) {
		uint32_t len = 0;
		const void *key = nftnl_set_elem_get(ks.el[i], NFTNL_SET_ELEM_KEY, &len);

		if (key && len == sizeof(uint32_t))
			memcpy(&v[k++], key, sizeof(uint32_t));
	}
	zt_kset_clear(&ks);
	if (r < 0)
		return r;
	qsort(v, k, sizeof(*v), u32_cmp);
	*ret = TAKE_PTR(v);
	*n_ret = k;
	return 0;
}

/* p with fcnt cut to the marks in live (sorted); s->withheld says how many it lacks. */
static int stage_make(const struct zt_plan *p, const uint32_t *live, size_t n_live, struct stage *s)
{
	const struct zt_set *f = zt_plan_find_set(p, FCNT);
	size_t fi, k = 0;
	int r;

	*s = (struct stage){ .v.p = *p };
	if (!f)
		return 0;
	fi = (size_t)(f - p->sets);
	if ((r = view_make(p, fi, f->n_elems, &s->v)) < 0)
		return r;
	for (size_t i = 0; i < f->n_elems; i++) {
		const struct zt_elem *e = zt_set_elem(f, i);
		uint32_t key = e->key[0].u32;

		/* the view's elements are whole and zeroed; the plan's packed */
		if (bsearch(&key, live, n_live, sizeof(*live), u32_cmp))
			memcpy(&s->v.elems[k++], e, zt_elem_size(f->n_key));
	}
	s->withheld = f->n_elems - k;
	s->v.sets[fi].n_elems = s->v.sets[fi].cap_elems = k;
	return 0;
}

static void stats_add(struct zt_apply_stats *to, const struct zt_apply_stats *from)
{
	to->changed += from->changed;
	to->messages += from->messages;
	to->bytes += from->bytes;
	to->restarts += from->restarts;
	to->foreign |= from->foreign;
	/* table bridge ztseg goes with the first stage: the second finds it written */
	to->bridge_sent |= from->bridge_sent;
	to->bridge_written |= from->bridge_written;
}

static int apply_retry(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
		       const struct zt_apply_opts *o, struct zt_apply_stats *st, struct zt_diags *d);

/*
 * The stage, then the plan as the difference with the stage (only fcnt
 * elements added). Nothing to withhold (a first apply, or no new marks):
 * the plan alone.
 */
static int apply_staged(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
			const struct zt_apply_opts *o, struct zt_apply_stats *st, struct zt_diags *d)
{
	_cleanup_free_ uint32_t *live = NULL;
	struct zt_apply_opts o2 = *o;
	struct zt_apply_stats st1 = *st;
	struct stage s = {}, sb = {};
	size_t n_live = 0;
	int r;

	r = live_marks(n, o, &live, &n_live);
	/* The plan as applied (enc_if filled) and as the caller has it (what differences compare) alike. */
	if (r >= 0 && n_live)
		r = stage_make(p, live, n_live, &s);
	if (r >= 0 && s.withheld)
		r = stage_make(base, live, n_live, &sb);
	if (r < 0 || !s.withheld) {
		stage_clear(&s);
		stage_clear(&sb);
		return r < 0 ? r : apply_retry(n, p, base, o, st, d);
	}
	o2.want_digest = false;
	r = apply_retry(n, &s.v.p, &sb.v.p, &o2, &st1, d);
	if (r >= 0) {
		o2 = *o;
		o2.prev_plan = &sb.v.p;
		o2.prev_genid = st1.genid;
		o2.prev_digest = NULL;
		r = apply_retry(n, p, base, &o2, st, d);
		/* Reported as the stage went: the second step only adds marks. */
		stats_add(st, &st1);
		st->created = st1.created;
		st->replaced = st1.replaced;
		st->path = st1.path;
	}
	stage_clear(&s);
	stage_clear(&sb);
	return r;
}

/* Someone else committed between our dump and our batch: look again. */
static int apply_retry(struct zt_nft *n, const struct zt_plan *p, const struct zt_plan *base,
		       const struct zt_apply_opts *o, struct zt_apply_stats *st, struct zt_diags *d)
{
	unsigned max = o->max_restarts ? o->max_restarts : RESTARTS_DEFAULT;
	int r;

	for (;;) {
		bool foreign = st->foreign;

		r = apply_once(n, p, base, o, st, d);
		st->foreign |= foreign;
		if (r != -ERESTART || st->restarts >= max)
			break;
		st->restarts++;
	}
	if (r == -ERESTART)
		zt_diag_error(d, NULL, 0, 0, "the ruleset kept changing while applying (%u attempts)", st->restarts + 1);
	return r;
}

int zt_apply(struct zt_nft *n, const struct zt_plan *plan, const struct zt_apply_opts *opts,
	     struct zt_apply_stats *stats, struct zt_diags *d)
{
	struct zt_apply_opts o = opts ? *opts : (struct zt_apply_opts){};
	struct zt_apply_stats st = {};
	struct eff_plan e = {};
	int r;

	/* A slim plan has lost what it writes and what a diff compares (zt_plan_unslim() first). */
	if (plan->slim || (o.prev_plan && o.prev_plan->slim))
		return -EINVAL;
	r = eff_plan_make(plan, &o, &e);
	if (r < 0) {
		zt_diag_error(d, NULL, 0, 0, "cannot fill the sets of interface names (%s, the exact-name maps): %s",
			      ZT_ENC_IF_SET, strerror(-r));
		return r;
	}
	st.objects = zt_plan_count_objects(&e.p);
	st.enc_ifs = e.n_enc;
	st.brnf_off = e.p.bridge.brnf_off;
	r = apply_staged(n, &e.p, plan, &o, &st, d);
	if (r < 0)
		n->gen_ours = 0;
	eff_plan_clear(&e);
	if (stats)
		*stats = st;
	return r;
}

int zt_apply_remove(struct zt_nft *n, struct zt_diags *d)
{
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_nft_table_info t;
	struct zt_acks a = {};
	int r;

	r = zt_nft_table_get(&n->nl, &t);
	if (r < 0)
		return r;
	r = zt_nft_batch_start(n, &b);
	/* The feed tables go in the same transaction (DESTROY: no error when absent). */
	if (r >= 0 && t.present)
		r = zt_emit_table_del(b);
	if (r >= 0)
		r = zt_feeds_emit_destroy(b);
	if (r >= 0)
		r = zt_bridge_emit_destroy(b);
	if (r >= 0)
		r = zt_batch_end(b);
	if (r < 0)
		return r;
	r = zt_nft_batch_send(n, b, NULL, false, &a, d);
	/* ENOENT: someone deleted it meanwhile. */
	if (r >= 0 && a.n_errors)
		r = -a.first_err;
	zt_acks_clear(&a);
	return r >= 0 && !t.present ? -ENOENT : r;
}
