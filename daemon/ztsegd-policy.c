/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd's policy: loaded, validated and compiled from the directory or
 * from saved files, applied to the kernel, and saved as last-known-good.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "ifx.h"
#include "ztsegd.h"

void manager_policy_clear(struct loaded *l)
{
	l->plan = zt_plan_free(l->plan);
	l->policy = zt_policy_free(l->policy);
	zt_policy_files_clear(&l->files);
}

int manager_policy_diags_under(const char *dir, struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		char *path;

		if (!d->v[i].file || d->v[i].file[0] == '/')
			continue;
		if (asprintf(&path, "%s/%s", dir, d->v[i].file) < 0)
			return -ENOMEM;
		free(d->v[i].file);
		d->v[i].file = path;
	}
	return 0;
}

int manager_policy_load_files(const struct manager *m, struct zt_policy_files *files, struct loaded *ret,
			      struct zt_diags *d)
{
	struct loaded l = { .files = *files };
	int r;

	*files = (struct zt_policy_files){};
	r = zt_policy_load_sources(l.files.src, l.files.n, NULL, &l.policy, d);
	if (r >= 0)
		r = zt_compile(l.policy, &m->copts, &l.plan, d);
	if (r < 0) {
		manager_policy_clear(&l);
		return r;
	}
	*ret = l;
	return 0;
}

int manager_policy_load_dir(const struct manager *m, const char *dir, struct loaded *ret, struct zt_diags *d)
{
	struct zt_policy_files files = {};
	int r;

	/* The files' owner may be root or the daemon's own user. */
	r = zt_policy_read_dir(dir, NULL, getuid(), &files, d);
	if (r < 0)
		return r;
	return manager_policy_load_files(m, &files, ret, d);
}

int manager_policy_load_lkg(struct manager *m)
{
	struct zt_policy_files files = {};
	struct zt_diags d = {};
	int r;

	r = zt_lkg_load(m->state_dir, NULL, getuid(), &files);
	if (r < 0) {
		log_error("there is no usable last-known-good policy in %s/%s (%s)", m->state_dir, ZT_LKG_FILE,
			  strerror(-r));
		return r;
	}
	r = manager_policy_load_files(m, &files, &m->cur, &d);
	if (r < 0) {
		log_diags(LOG_ERR, "policy-error", &d);
		log_error("the last-known-good policy in %s/%s does not load", m->state_dir, ZT_LKG_FILE);
	}
	zt_diags_clear(&d);
	return r;
}

struct zt_apply_opts manager_policy_apply_opts(const struct manager *m, const struct zt_policy *p)
{
	return (struct zt_apply_opts){
		.enc_pats = p->hub.enc_ifs,
		.n_enc_pats = p->hub.n_enc_ifs,
		.enc_kinds = m->n_kinds ? m->kinds : NULL,
		.n_enc_kinds = m->n_kinds,
		.unowned = m->unowned,
	};
}

/* Out of the notification group around our own large commits (see ZT_APPLY_QUIET_MIN). */
static void nfmon_quiet(bool on, void *userdata)
{
	struct manager *m = userdata;
	int r = zt_nfmon_quiet(m->nfmon, on);

	if (r < 0)
		log_warning("cannot %s the nf_tables notification group: %s", on ? "leave" : "rejoin", strerror(-r));
}

/*
 * The running plan whole again, compiled in a thread while a reload loads
 * and compiles the new policy: the two compiles overlap on a machine with
 * two CPUs (330 ms at 10,000 segments, off a reload's critical path).
 * Compile is pure: the thread reads the running policy and the compile
 * options, which nothing changes before manager_policy_apply() joins it
 * (or a failed reload drops it), and writes only its own plan.
 */
struct manager_prefull {
	pthread_t thread;
	const struct zt_policy *policy;
	struct zt_compile_opts opts;
	struct zt_plan *full;
	int r;
	uint64_t usec;
};

static void *prefull_run(void *arg)
{
	struct manager_prefull *f = arg;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	struct zt_diags d = {};

	f->r = zt_compile(f->policy, &f->opts, &f->full, &d);
	zt_diags_clear(&d);
	f->usec = now_usec(CLOCK_MONOTONIC) - t0;
	return NULL;
}

void manager_policy_prefull(struct manager *m)
{
	struct manager_prefull *f;
	int r;

	if (m->prefull || !m->cur.policy || !m->cur.plan || !m->cur.plan->slim)
		return;
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	*f = (struct manager_prefull){ .policy = m->cur.policy, .opts = m->copts };
	r = pthread_create(&f->thread, NULL, prefull_run, f);
	if (r != 0) {
		/* compiled in line when the apply needs it */
		log_debug("cannot start a thread for the running plan: %s", strerror(r));
		free(f);
		return;
	}
	m->prefull = f;
}

/* The thread joined; its plan if it compiled p, else NULL (and *r its error). */
static struct zt_plan *prefull_take(struct manager *m, const struct zt_policy *p, int *r)
{
	struct manager_prefull *f = TAKE_PTR(m->prefull);
	struct zt_plan *full = NULL;

	if (!f)
		return NULL;
	pthread_join(f->thread, NULL);
	if (f->policy == p) {
		full = TAKE_PTR(f->full);
		*r = f->r;
		log_debug("the running policy's plan compiled again (kept slim between applies) in %.1f ms, "
			  "beside the new policy's load", (double)f->usec / 1000.0);
	}
	zt_plan_free(f->full);
	free(f);
	return full;
}

void manager_policy_prefull_drop(struct manager *m)
{
	int r = 0;

	zt_plan_free(prefull_take(m, NULL, &r));
}

/*
 * The plan of a policy whole again (lib/plan.h, zt_plan_slim): compiled
 * anew from the same policy and options (in a thread already, when
 * manager_policy_prefull() started one for it). Compile is pure, and the
 * new plan's shape must be the one recorded: -ESTALE otherwise.
 */
static int policy_full(struct manager *m, const struct zt_policy *p, struct zt_plan *plan)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	struct zt_plan *full = NULL;
	struct zt_diags d = {};
	int r = 0;

	if (!plan || !plan->slim)
		return 0;
	full = prefull_take(m, p, &r);
	if (!full && r >= 0) {
		r = zt_compile(p, &m->copts, &full, &d);
		if (r >= 0)
			log_debug("the running policy's plan compiled again (kept slim between applies) in %.1f ms",
				  (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
	}
	if (r >= 0)
		r = zt_plan_unslim(plan, full);
	zt_plan_free(full);
	zt_diags_clear(&d);
	if (r < 0)
		log_warning("cannot compile the running policy's plan again: %s", strerror(-r));
	return r;
}

/*
 * A new policy (l is not m->cur) is diffed against the running one while
 * nothing else has committed since our last commit; the running one
 * again (repair, start) is compared with the table as the kernel has it.
 */
int manager_policy_apply(struct manager *m, const struct loaded *l, struct zt_apply_stats *st, struct zt_diags *d)
{
	struct zt_apply_opts o = manager_policy_apply_opts(m, l->policy);
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	int r;

	r = policy_full(m, l->policy, l->plan);
	if (r < 0)
		return r;
	/* Without the running plan whole, compared with the table as the kernel has it. */
	if (l != &m->cur && m->cur.plan && policy_full(m, m->cur.policy, m->cur.plan) >= 0) {
		o.prev_plan = m->cur.plan;
		o.prev_genid = zt_nft_genid(m->nft);
	}
	if (m->nfmon) {
		o.quiet = nfmon_quiet;
		o.userdata = m;
	}
	r = zt_apply(m->nft, l->plan, &o, st, d);
	if (r >= 0 && st->foreign) {
		/* Someone committed while we were not listening: as if notified. */
		m->events.tamper++;
		log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=tamper" }, 1,
			   "another process committed to nf_tables while we were not listening (our own commit): "
			   "checking table inet %s", ZT_TABLE_NAME);
		if (m->src_defer) {
			m->want_repair = true;
			manager_dirty(m);
		} else {
			/* Starting: no loop yet; compare with the table now. */
			struct zt_apply_stats st2 = {};

			o.prev_plan = NULL;
			o.quiet = NULL;
			r = zt_apply(m->nft, l->plan, &o, &st2, d);
			st->changed += st2.changed;
		}
	}
	if (r >= 0) {
		m->last_apply_usec = now_usec(CLOCK_REALTIME);
		m->last_apply_duration_usec = now_usec(CLOCK_MONOTONIC) - t0;
		m->owned = st->persist;
		m->brnf_off = st->brnf_off;
		if (st->bridge_sent || st->bridge_written) {
			/* pmac and phas are empty again: the pins are written anew */
			m->fdb_table_new = true;
			m->want_fdb = true;
		}
		/* apply wrote hown4/hownna from its own dump: ours is refilled at the next sync */
		m->hown_refill |= st->bridge_written;
		m->dport_refill |= st->bridge_written;
		zt_histogram_observe(&m->apply_hist, (double)m->last_apply_duration_usec / 1e6);
	}
	/* For metrics: a refused policy never reached the kernel; this did, or failed there. */
	m->last_apply_ok = r >= 0;
	if (r >= 0)
		m->applies_ok++;
	else
		m->applies_failed++;
	return r;
}

void manager_policy_keep_warnings(struct manager *m, struct zt_diags *d)
{
	zt_diags_clear(&m->disk_diags);
	m->disk_diags = *d;
	*d = (struct zt_diags){};
}

void manager_policy_lkg_save(struct manager *m)
{
	int r = zt_lkg_save(m->state_dir, m->cur.files.src, m->cur.files.n);

	m->lkg_current = r >= 0;
	if (r < 0)
		log_warning("cannot save the last-known-good policy in %s: %s", m->state_dir, strerror(-r));
}

/*
 * The running plan (and a trial's rollback plan) kept slim until the next
 * apply needs it whole (lib/plan.h): between applies the daemon reads only
 * the elements of the exact-name twins' pattern sets (ztsegd-ifx.c, per
 * link event) and of fcnt (status), and no rule.
 */
static void policy_slim(struct zt_plan *plan)
{
	const char *keep[16] = { "fcnt" };
	size_t n = 1;

	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_sets && n < ELEMENTSOF(keep) - 1; i++) {
		const char *src = zt_ifx_source(plan->sets[i].name);

		if (src)
			keep[n++] = src;
	}
	zt_plan_slim(plan, keep);
}

/*
 * A full apply allocates its plan, batch and scratch by the hundred MB
 * (10,000 segments), and a reload, a rollback or a confirmation frees a
 * whole plan; glibc keeps what is freed in its heaps, so the daemon
 * stayed about 130 MB above what it holds (bench/RESULTS.md, issue 13).
 * Called once such work is done (start, reload refused or applied, a
 * repair that wrote, rollback, confirm), never per event: a trim walks
 * every arena. The plans kept are slimmed first.
 */
void manager_policy_trim(struct manager *m)
{
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	policy_slim(m->cur.plan);
	policy_slim(m->rollback.plan);
	malloc_trim(0);
	log_debug("plans slimmed, memory freed by the apply given back in %.1f ms",
		  (double)(now_usec(CLOCK_MONOTONIC) - t0) / 1000.0);
}
