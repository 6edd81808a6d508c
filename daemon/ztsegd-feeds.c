/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Threat feeds in the daemon: each feed file read with distrust (a
 * directory descriptor, O_NOFOLLOW, owner and type checked, size capped
 * before reading, a file that changes while read refused), parsed, and
 * the last good copy kept; the feeds flattened into the maps of `ip
 * ztseg` and `ip6 ztseg`; every change applied as chunks of element
 * deletes and adds in three phases, one time-budgeted commit per turn of
 * the loop so that rtnetlink events are served in between; inotify on
 * the feeds' directories.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netfilter/nf_tables.h>
#include "compile-feeds.h"
#include "conntrack.h"
#include "explain.h"
#include "feed-nft.h"
#include "nl.h"
#include "ztsegd.h"

#define FEED_CHUNK_DEFAULT 64		/* operations per chunk of a difference: the unit commits are made of */
#define FEED_BUDGET_USEC 3000		/* a commit aims at holding the commit lock this long at most */
#define FEED_OPS_MIN 64		/* operations per commit: never fewer (unless the step has fewer) */
#define FEED_OPS_MAX (1u << 20)
#define FEED_SLICE_USEC 1		/* one commit per loop turn: an event waits for one commit at most */
#define PRIO_FEEDS 60			/* after every other event source */
#define FEED_USER "ztseg-feeds"		/* the fetcher's user (ztseg-feeds.service) */
#define FEED_RETRY_MIN_USEC (1 * ZT_USEC_PER_SEC)	/* a failed update is tried again after this, */
#define FEED_RETRY_MAX_USEC (300 * ZT_USEC_PER_SEC)	/* doubling up to this */
/* Ranges added beyond this: every checked connection is checked again (no index of the ranges). */
#define FEED_CUT_ALL 65536

struct feed_st {
	char name[ZT_FEED_NAME_LEN + 1];
	char path[PATH_MAX];		/* file:, or FEEDS-DIR/NAME for url: */
	bool url;
	enum zt_feed_dir dir;
	bool reject, log;
	uint32_t max_age_sec;
	struct zt_feed_limits lim;
	uint32_t id;			/* its interned name */
	struct zt_feed_data data;	/* the last good copy */
	bool have;
	struct stat good;		/* the file as it was when read good */
	uint64_t try_usec;		/* CLOCK_REALTIME of the last attempt */
	bool try_ok;
	char result[1600];
	size_t carved;
	uint64_t packets, bytes;
	struct zt_pos pos;
};

#define N_RMAPS 4
#define N_MAPS 8
/*
 * An update in three phases, so that an address moving between a hash map
 * and an interval map (an exact entry into a prefix, or back) is listed
 * throughout: the hash maps' adds (and changes of feed, and deletes of
 * addresses no version lists, interleaved), then the interval maps'
 * differences, then the hash maps' deletes of addresses a new range covers.
 */
#define N_STEPS 12

/* An update's new layout of an interval map: none, before its first commit (empty shards), after its last. */
enum relay { RELAY_NONE, RELAY_BEFORE, RELAY_AFTER };

struct manager_feeds {
	struct feed_st *v;
	size_t n;
	char (*names)[ZT_FEED_NAME_LEN + 1];
	size_t n_names, cap_names;
	struct zt_cidr *except;
	size_t n_except;
	/*
	 * [family * 2 + dst]: v4 src, v4 dst, v6 src, v6 dst — ranges (the
	 * interval maps); + N_RMAPS: the single addresses of each (the hash maps).
	 */
	struct zt_fset cur[N_MAPS], want[N_MAPS];
	struct zt_fdiff df[N_STEPS];
	size_t at_step, at_chunk;
	size_t ops[2];			/* operations per commit, [exact]: adapted to the budget */
	/*
	 * The shards of each interval map: its layout (ranges of slots) as the
	 * selector in the kernel has it (known: read back or written), and the
	 * update's new one (relay): written before the map's first commit of
	 * the update when its shards are empty (laid out anew, evenly), or
	 * after its last when runs of new elements went to free slots (those
	 * slots emptied first; lib/feed-layout.c).
	 */
	struct zt_flayout lay[N_RMAPS], new_lay[N_RMAPS];
	bool lay_known[N_RMAPS];
	enum relay relay[N_RMAPS];
	size_t split[N_RMAPS];			/* the slots runs took in this update */
	bool flushed[N_RMAPS];			/* RELAY_AFTER: its new slots emptied */
	uint64_t splits;			/* slots runs took since start */
	uint64_t budget_usec;
	bool busy, again, kernel_known, tables;
	char (*gone)[ZT_FEED_NAME_LEN + 1];	/* chains to delete once their elements are gone */
	size_t n_gone, cap_gone;
	int ino_fd;
	int wd[ZT_FEEDS_MAX];
	size_t n_wd;
	sd_event_source *src_ino, *src_work;
	size_t chunk;
	uid_t feed_uid;
	uint64_t t0;			/* CLOCK_MONOTONIC: the update began */
	uint64_t longest_commit_usec, last_update_usec, updates, commits, failures;
	uint64_t applied_usec;		/* CLOCK_REALTIME: the last update's last commit acknowledged; 0: none yet */
	uint64_t read_usec, build_usec;	/* the last update's: files read and parsed; flattened and compared */
	size_t last_adds, last_dels;
	/* the worker (see "the work off the loop") */
	struct job *job;		/* running; NULL: none */
	pthread_t job_thread;
	struct reap *reap;		/* what the update replaced, to free off the loop; NULL: nothing */
	pthread_t reap_thread;
	bool reaping;			/* reap_thread runs, or ran and is not joined */
	int job_fd;			/* eventfd: the worker is done */
	sd_event_source *src_job;
	sd_event_source *src_retry;	/* a failed update tried again (backoff); NULL: never armed */
	uint64_t retry_usec;		/* the next wait; 0: no failure since the last update applied */
	uint64_t retries;
	unsigned fail_jobs;		/* ZTSEGD_FEED_FAIL_JOBS (tests): so many jobs fail as if out of memory */
	uint64_t gen;			/* changes seen: a job of an older one is stale */
	bool whole;			/* the next update flattens whole (cur is not the flattening of the copies) */
	uint64_t policy_gen, taken_policy_gen;	/* reloads seen; the one the update under way was made for */
	bool inc;			/* the last update was made from the changes only */
	bool never_inc;			/* ZTSEGD_FEED_WHOLE=1: every update parses and flattens whole (a reference) */
	struct zt_nl *nl;		/* kept open: the periodic check and the counters (NULL: one per call) */
	struct cutter *cut;		/* connections of newly listed addresses (see "checked again") */
};

static const char *const set_name[N_MAPS] = { ZT_FEED_SET_SRC, ZT_FEED_SET_DST, ZT_FEED_SET_SRC, ZT_FEED_SET_DST,
					      ZT_FEED_SET_XSRC, ZT_FEED_SET_XDST, ZT_FEED_SET_XSRC, ZT_FEED_SET_XDST };

static uint8_t map_family(size_t s)
{
	return s % N_RMAPS < 2 ? AF_INET : AF_INET6;
}

/* Step k: its map and what of the difference it applies. */
static size_t step_map(size_t k)
{
	return k < 4 ? N_RMAPS + k : k < 8 ? k - 4 : N_RMAPS + k - 8;
}

/* The step of interval map s (its whole difference). */
static size_t step_of_map(size_t s)
{
	return 4 + s;
}

static enum zt_fdiff_mode step_mode(size_t k)
{
	return k < 4 ? ZT_FDIFF_KEEP_GONE : k < 8 ? ZT_FDIFF_ALL : ZT_FDIFF_GONE;
}

/*
 * ---- names: a feed's id, its data in the maps, stable across reloads ----
 * names[id] is the feed's name ("" for a free id). At start the ids the
 * kernel's feed_ids holds are taken over (intern with kid), so elements
 * loaded by an earlier daemon keep meaning the same feed.
 */

static int intern_at(struct manager_feeds *F, const char *name, uint32_t kid, uint32_t *id)
{
	size_t free_id = F->n_names;

	for (size_t i = 0; i < F->n_names; i++)
		if (streq(F->names[i], name)) {
			*id = (uint32_t)i;
			return 0;
		} else if (!F->names[i][0] && free_id == F->n_names)
			free_id = i;
	if (strlen(name) > ZT_FEED_NAME_LEN || !name[0]) {
		*id = UINT32_MAX;
		return 0;
	}
	if (kid <= ZT_FEED_ID_MAX && (kid >= F->n_names || !F->names[kid][0]))
		free_id = kid;
	if (free_id > ZT_FEED_ID_MAX) {
		*id = UINT32_MAX;
		return 0;
	}
	if (free_id >= F->n_names) {
		if (ZT_GROW(F->names, F->cap_names, free_id + 1) < 0)
			return -ENOMEM;
		for (size_t i = F->n_names; i <= free_id; i++)
			F->names[i][0] = 0;
		F->n_names = free_id + 1;
	}
	snprintf(F->names[free_id], sizeof(F->names[0]), "%s", name);
	*id = (uint32_t)free_id;
	return 0;
}

static int intern_kid(const char *name, uint32_t kid, uint32_t *id, void *userdata)
{
	return intern_at(userdata, name, kid, id);
}

static int intern(const char *name, uint32_t *id, void *userdata)
{
	return intern_at(userdata, name, UINT32_MAX, id);
}

/* ---- reading a feed file ---- */

/*
 * The file with distrust: opened relative to its directory without
 * following links, a regular file owned by root, the daemon or the
 * fetcher's user, not writable by others, within max_bytes before a byte
 * is read, and unchanged while read.
 */
static bool same_file(const struct stat *a, const struct stat *b);

/* n bytes at off into buf, however many reads it takes: the bytes read (short at the end of the file), or -errno. */
struct part_read {
	int fd;
	char *buf;
	size_t n;
	off_t off;
	ssize_t got;
};

static void *part_read(void *userdata)
{
	struct part_read *p = userdata;
	size_t got = 0;

	while (got < p->n) {
		ssize_t k = pread(p->fd, p->buf + got, p->n - got, p->off + (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			p->got = -errno;
			return NULL;
		}
		if (!k)
			break;
		got += (size_t)k;
	}
	p->got = (ssize_t)got;
	return NULL;
}

/*
 * n bytes of fd into buf. A large file is read in two halves at once (a
 * thread takes the second): most of a read is the copy into fresh pages
 * and their faults, which the second core halves. The bytes read, or -errno.
 */
#define FEED_READ_SPLIT (8u << 20)
static ssize_t read_all(int fd, char *buf, size_t n)
{
	struct part_read a = { fd, buf, n, 0, 0 }, b = {};
	pthread_t t;
	bool two = false;

	if (n >= FEED_READ_SPLIT) {
		b = (struct part_read){ fd, buf + n / 2, n - n / 2, (off_t)(n / 2), 0 };
		a.n = n / 2;
		two = pthread_create(&t, NULL, part_read, &b) == 0;
		if (!two)
			a.n = n;
	}
	part_read(&a);
	if (two)
		pthread_join(t, NULL);
	if (a.got < 0 || (two && b.got < 0))
		return a.got < 0 ? a.got : b.got;
	/* A first half read short: the file shrank while read (the second half's bytes say nothing then). */
	if (two && (size_t)a.got < a.n)
		return a.got;
	return a.got + (two ? b.got : 0);
}

static int feed_read(uid_t feed_uid, const char *path, const struct zt_feed_limits *lim, const struct stat *same,
		     char **ret, size_t *ret_len, struct stat *ret_st, char *why, size_t why_len)
{
	char dir[PATH_MAX], base[PATH_MAX];
	_cleanup_free_ char *buf = NULL;
	struct stat st, st2;
	int dfd, fd, r = 0;
	size_t got = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(why, why_len, "cannot open its directory: %s", strerror(errno));
		return -errno;
	}
	fd = openat(dfd, basename(base), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	close(dfd);
	if (fd < 0) {
		snprintf(why, why_len, "%s", r == -ELOOP ? "is a symbolic link: refused" : strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(why, why_len, "cannot stat: %s", strerror(-r));
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(why, why_len, "not a regular file: refused");
	} else if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != feed_uid) {
		r = -EPERM;
		snprintf(why, why_len, "owned by uid %u, not root, the daemon or %s: refused", (unsigned)st.st_uid,
			 FEED_USER);
	} else if (st.st_mode & S_IWOTH) {
		r = -EPERM;
		snprintf(why, why_len, "writable by others: refused");
	} else if ((uint64_t)st.st_size > lim->max_bytes) {
		r = -EFBIG;
		snprintf(why, why_len, "feed refused: %lld bytes, more than the limit of %llu (max-size)",
			 (long long)st.st_size, (unsigned long long)lim->max_bytes);
	} else if (same && same_file(&st, same))
		r = 1;		/* the file of the last good copy: not read again */
	if (r) {
		close(fd);
		return r;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	zt_prefault(buf, (size_t)st.st_size + 1);
	/* One byte more than announced: a file that grows while read is caught. */
	{
		ssize_t k = read_all(fd, buf, (size_t)st.st_size + 1);

		if (k < 0)
			r = (int)k;
		else
			got = (size_t)k;
	}
	if (r >= 0 && fstat(fd, &st2) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		snprintf(why, why_len, "read error: %s", strerror(-r));
		return r;
	}
	if (got != (size_t)st.st_size || st2.st_size != st.st_size || st2.st_mtim.tv_sec != st.st_mtim.tv_sec ||
	    st2.st_mtim.tv_nsec != st.st_mtim.tv_nsec) {
		snprintf(why, why_len, "the file changed while it was read (%zu bytes read, %lld announced): refused",
			 got, (long long)st.st_size);
		return -EAGAIN;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	*ret_st = st;
	return 0;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The kept socket (F->nl allocated) opened; left NULL when it cannot be: each request opens its own. */
static void feeds_nl_open(struct manager_feeds *F)
{
	if (F->nl && zt_nl_open(F->nl, NETLINK_NETFILTER, SOCK_CLOEXEC, 64 * 1024) < 0) {
		zt_nl_close(F->nl);
		free(F->nl);
		F->nl = NULL;
	}
}

/*
 * After any error on the kept socket: closed and opened anew, as tamper's
 * table_read does (a reply left unread would fail the next request).
 */
static void feeds_nl_reopen(struct manager_feeds *F)
{
	if (!F->nl)
		return;
	zt_nl_close(F->nl);
	feeds_nl_open(F);
}

/*
 * ---- the work off the loop ----
 * Reading, parsing, flattening and comparing a million entries takes a
 * few hundred ms: a worker thread does it, one job at a time, while the
 * loop serves events. The job reads the feeds' last good copies and the
 * maps as the kernel holds them (F->cur) but writes only its own result;
 * the loop leaves those alone while a job runs (a reload, a repair or the
 * end first wait for it: job_abort) and takes the result over when the
 * worker says so on an eventfd. A result begun before the latest change
 * (a feed replaced again, a reload) is stale: dropped, and a job made anew.
 */
struct job_feed {
	/* in */
	char name[ZT_FEED_NAME_LEN + 1];
	char path[PATH_MAX];
	struct zt_feed_limits lim;
	const struct zt_feed_data *prev;	/* the last good copy (NULL: none); read only */
	bool whole;				/* parsed whole even with a prev */
	struct stat good;
	struct zt_feed_src src;
	/* out: 1 a new copy in data, 0 the file as it was, <0 refused (the last good copy stays) */
	int status;
	struct zt_feed_data data;
	struct zt_feed_delta delta;
	bool inc;
	struct stat st;
	uint64_t try_usec;
	char result[1600];
	struct zt_diags d;
};

struct job {
	uint64_t gen, policy_gen;
	struct job_feed *v;
	size_t n;
	struct zt_cidr *except;
	size_t n_except;
	const struct zt_fset *cur;		/* F->cur: read only */
	struct zt_flayout lay[N_RMAPS];
	bool whole;				/* flatten whole (cur is not the flattening of the prev copies) */
	size_t chunk;
	uid_t feed_uid;
	atomic_bool cancel;
	bool fail;				/* ZTSEGD_FEED_FAIL_JOBS: fails with -ENOMEM */
	int efd;
	/* out */
	int r;
	bool inc;				/* the maps were made from the changes */
	struct zt_fset want[N_MAPS];
	struct zt_fdiff df[N_STEPS];
	enum relay relay[N_RMAPS];
	struct zt_flayout new_lay[N_RMAPS];
	size_t split[N_RMAPS];
	uint64_t read_usec, build_usec;
};

static void job_free(struct job *J)
{
	if (!J)
		return;
	for (size_t i = 0; i < J->n; i++) {
		zt_feed_data_clear(&J->v[i].data);
		zt_feed_delta_clear(&J->v[i].delta);
		zt_diags_clear(&J->v[i].d);
	}
	for (size_t s = 0; s < N_MAPS; s++)
		zt_fset_clear(&J->want[s]);
	for (size_t k = 0; k < N_STEPS; k++)
		zt_fdiff_clear(&J->df[k]);
	free(J->v);
	free(J->except);
	free(J);
}

/* Read and parse one feed (worker). */
static void job_feed_load(struct job *J, struct job_feed *f)
{
	_cleanup_free_ char *buf = NULL;
	char why[256] = "";
	size_t len = 0;
	int r;

	f->try_usec = now_usec(CLOCK_REALTIME);
	r = feed_read(J->feed_uid, f->path, &f->lim, f->prev ? &f->good : NULL, &buf, &len, &f->st, why, sizeof(why));
	if (r == 1) {
		f->status = 0;
		return;
	}
	if (r < 0) {
		snprintf(f->result, sizeof(f->result), "%.1000s: %.400s%s", f->path, why,
			 f->prev ? "; the last good copy stays in force" : "");
		f->status = r;
		return;
	}
	f->d.max = ZT_FEED_DIAGS_MAX + 4;
	f->lim.prev_entries = f->prev ? f->prev->n4 + f->prev->n6 : 0;
	r = zt_feed_parse_inc(f->path, buf, len, &f->lim, f->whole ? NULL : f->prev, &f->data, &f->delta, &f->inc, &f->d);
	if (r < 0) {
		snprintf(f->result, sizeof(f->result), "%s", f->d.n_errors && f->d.n ? f->d.v[f->d.n - 1].msg : strerror(-r));
		for (size_t i = 0; i < f->d.n; i++)
			if (f->d.v[i].sev == ZT_SEV_ERROR)
				snprintf(f->result, sizeof(f->result), "%.1000s:%u: %.500s", f->path, f->d.v[i].line,
					 f->d.v[i].msg);
		f->status = r;
		return;
	}
	snprintf(f->result, sizeof(f->result), "ok: %zu entries (%zu IPv4, %zu IPv6), %zu bad line%s skipped",
		 f->data.n4 + f->data.n6, f->data.n4, f->data.n6, f->data.bad, f->data.bad == 1 ? "" : "s");
	/* Its bytes stay with the copy: the next version is compared with them. */
	zt_feed_data_keep(&f->data, TAKE_PTR(buf), len);
	f->status = 1;
}

/* The maps the feeds make, and the difference from what the kernel holds (worker). */
static int job_build(struct job *J)
{
	struct zt_feed_src src[ZT_FEEDS_MAX];
	struct zt_fwins wins[N_RMAPS] = {};
	const zt_u128 *bounds[N_RMAPS];
	size_t n_bounds[N_RMAPS];
	int r = -EAGAIN;

	for (size_t i = 0; i < J->n; i++) {
		struct job_feed *f = &J->v[i];

		src[i] = f->src;
		src[i].changed = f->status == 1;
		src[i].data = f->status == 1 ? &f->data : f->prev;
		src[i].delta = f->status == 1 && f->inc ? &f->delta : NULL;
	}
	for (size_t s = 0; s < N_RMAPS; s++) {
		bounds[s] = J->lay[s].lo;
		n_bounds[s] = J->lay[s].n;
		J->relay[s] = RELAY_NONE;
	}
	if (!J->whole) {
		r = zt_feeds_flatten_inc(src, J->n, J->except, J->n_except, J->cur, bounds, n_bounds, J->want, wins);
		/* A map that was empty gets its shards laid out anew (below): made whole. */
		for (size_t s = 0; s < N_RMAPS && r >= 0; s++)
			if (!J->cur[s].n && J->want[s].n >= ZT_FEED_SHARDS * 8)
				r = -EAGAIN;
		J->inc = r >= 0;
	}
	if (r == -EAGAIN) {
		for (size_t s = 0; s < N_RMAPS; s++)
			zt_fwins_clear(&wins[s]);
		r = zt_feeds_flatten(src, J->n, J->except, J->n_except, J->want);
		/*
		 * An interval map whose shards are empty gets ranges that share its
		 * new elements out evenly over ZT_FEED_SHARDS slots (a first load, or
		 * after the map emptied); a map with elements keeps its layout but
		 * for what zt_flayout_plan() changes (below): an address in the
		 * kernel never changes slot. The new elements are cut at the ranges.
		 */
		for (size_t s = 0; s < N_RMAPS && r >= 0; s++) {
			zt_u128 b[ZT_FEED_SHARDS];

			if (!J->cur[s].n && J->want[s].n >= ZT_FEED_SHARDS * 8 &&
			    zt_fset_bounds(&J->want[s], ZT_FEED_SHARDS, b) >= 0) {
				zt_flayout_set(&J->new_lay[s], b, ZT_FEED_SHARDS);
				if (!zt_flayout_eq(&J->new_lay[s], &J->lay[s]))
					J->relay[s] = RELAY_BEFORE;
			}
			r = zt_fset_cut(&J->want[s], J->relay[s] ? J->new_lay[s].lo : J->lay[s].lo,
					J->relay[s] ? J->new_lay[s].n : J->lay[s].n);
		}
	}
	for (size_t k = 0; k < N_STEPS && r >= 0; k++)
		r = zt_fset_diff_win(&J->cur[step_map(k)], &J->want[step_map(k)], J->chunk, step_mode(k),
				     J->inc ? &wins[step_map(k) % N_RMAPS] : NULL, &J->df[k]);
	/*
	 * A hash map's deletes of addresses the new version lists nowhere (not
	 * in its interval map either) go with its adds, a chunk of deletes
	 * before each chunk of adds, rather than after every map's adds: a
	 * replaced feed then keeps the map's size level, and the kernel does not
	 * resize its hash table twice (grow past 75 %, shrink under 30 %) per
	 * update. Those inside a new range still wait for it (the last steps).
	 * Only for a large change (deletes of an eighth of the map or more): a
	 * small one crosses no resize threshold, and its deletes all after the
	 * adds cost less (a 1% change: 90-99 ms against 109-111 interleaved).
	 */
	for (size_t x = 0; x < N_RMAPS && r >= 0; x++) {
		struct zt_fdiff early, late, mixed;
		size_t keep = x, gone = 8 + x;

		if (!J->df[gone].n || J->df[gone].n < J->cur[N_RMAPS + x].n / 8)
			continue;
		r = zt_fdiff_gone_split(&J->df[gone], &J->cur[N_RMAPS + x], &J->want[x], J->chunk, &early, &late);
		if (r < 0)
			break;
		r = zt_fdiff_interleave(&J->df[keep], &early, &mixed);
		zt_fdiff_clear(&early);
		if (r < 0) {
			zt_fdiff_clear(&late);
			break;
		}
		zt_fdiff_clear(&J->df[keep]);
		zt_fdiff_clear(&J->df[gone]);
		J->df[keep] = mixed;
		J->df[gone] = late;
	}
	/*
	 * A map with elements whose update adds enough that a run of them could
	 * overfill a slot: its layout planned (runs in gaps to free slots; no
	 * cut needed: no element crosses the new ranges).
	 */
	for (size_t s = 0; s < N_RMAPS && r >= 0; s++) {
		size_t share = J->want[s].n / ZT_FEED_SHARDS;

		if (share < ZT_FLAYOUT_MIN_SHARE)
			share = ZT_FLAYOUT_MIN_SHARE;
		J->split[s] = 0;
		if (J->relay[s] || !J->cur[s].n || !J->lay[s].n || J->df[step_of_map(s)].adds < 2 * share)
			continue;
		r = zt_flayout_plan(&J->lay[s], &J->cur[s], &J->want[s], ZT_FEED_SLOTS, ZT_FEED_SHARDS, &J->new_lay[s],
				    &J->split[s]);
		if (r > 0)
			J->relay[s] = RELAY_AFTER;
	}
	for (size_t i = 0; i < J->n; i++)
		J->v[i].src.carved = src[i].carved;
	for (size_t s = 0; s < N_RMAPS; s++)
		zt_fwins_clear(&wins[s]);
	return r;
}

static void *job_run(void *userdata)
{
	struct job *J = userdata;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC), one = 1;

	J->r = 0;
	/* job_abort sets it: the parse, flattening and differences stop within a few ms. */
	zt_feed_cancel_on(&J->cancel);
	for (size_t i = 0; i < J->n && !atomic_load(&J->cancel); i++)
		job_feed_load(J, &J->v[i]);
	J->read_usec = now_usec(CLOCK_MONOTONIC) - t0;
	t0 = now_usec(CLOCK_MONOTONIC);
	if (atomic_load(&J->cancel))
		J->r = -ECANCELED;
	else if (J->fail)
		J->r = -ENOMEM;
	else
		J->r = job_build(J);
	J->build_usec = now_usec(CLOCK_MONOTONIC) - t0;
	/* The loop joins the thread when it reads this. */
	if (write(J->efd, &one, sizeof(one)) < 0)
		J->r = J->r < 0 ? J->r : -errno;
	return NULL;
}

/* The job of the feeds as they are now; started on the worker. */
static int job_start(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	struct job *J = calloc(1, sizeof(*J));
	int r;

	if (!J || !(J->v = calloc(F->n ? F->n : 1, sizeof(*J->v))))
		goto oom;
	J->n = F->n;
	J->gen = F->gen;
	J->policy_gen = F->policy_gen;
	J->cur = F->cur;
	J->whole = F->whole || F->never_inc;
	J->chunk = F->chunk;
	J->feed_uid = F->feed_uid;
	J->efd = F->job_fd;
	J->fail = F->fail_jobs > 0;
	F->fail_jobs -= J->fail;
	atomic_init(&J->cancel, false);
	memcpy(J->lay, F->lay, sizeof(J->lay));
	if (F->n_except) {
		if (!(J->except = calloc(F->n_except, sizeof(*J->except))))
			goto oom;
		memcpy(J->except, F->except, F->n_except * sizeof(*J->except));
		J->n_except = F->n_except;
	}
	for (size_t i = 0; i < F->n; i++) {
		struct feed_st *f = &F->v[i];
		struct job_feed *jf = &J->v[i];

		snprintf(jf->name, sizeof(jf->name), "%s", f->name);
		snprintf(jf->path, sizeof(jf->path), "%s", f->path);
		jf->lim = f->lim;
		jf->prev = f->have ? &f->data : NULL;
		jf->whole = F->never_inc;
		jf->good = f->good;
		jf->src = (struct zt_feed_src){ .id = f->id, .src = f->dir != ZT_FEED_OUT, .dst = f->dir != ZT_FEED_IN,
						.carved = f->carved };
	}
	r = pthread_create(&F->job_thread, NULL, job_run, J);
	if (r) {
		job_free(J);
		return -r;
	}
	F->job = J;
	return 0;
oom:
	job_free(J);
	return -ENOMEM;
}

/*
 * The copies and maps an update replaces (tens of MB at a million entries):
 * freeing them gives the memory back to the system (blocks of 1 MiB and
 * more are mappings of their own, see ztsegd.c), and the munmaps take
 * milliseconds that an rtnetlink event must not wait for, so a
 * short-lived thread does it once the update is applied.
 */
struct reap {
	struct zt_feed_data *data;
	size_t n_data, cap_data;
	struct zt_fset *sets;
	size_t n_sets, cap_sets;
};

static void reap_free(struct reap *r)
{
	for (size_t i = 0; i < r->n_data; i++)
		zt_feed_data_clear(&r->data[i]);
	for (size_t i = 0; i < r->n_sets; i++)
		zt_fset_clear(&r->sets[i]);
	free(r->data);
	free(r->sets);
	free(r);
}

static void *reap_run(void *userdata)
{
	reap_free(userdata);
	return NULL;
}

static struct reap *reap_get(struct manager_feeds *F)
{
	if (!F->reap)
		F->reap = calloc(1, sizeof(*F->reap));
	return F->reap;
}

/* d handed over (left empty): freed off the loop, or here when no room is left. */
static void reap_data(struct manager_feeds *F, struct zt_feed_data *d)
{
	struct reap *r = reap_get(F);

	if (r && ZT_GROW(r->data, r->cap_data, r->n_data + 1) >= 0)
		r->data[r->n_data++] = *d;
	else
		zt_feed_data_clear(d);
	*d = (struct zt_feed_data){};
}

static void reap_set(struct manager_feeds *F, struct zt_fset *s)
{
	struct reap *r = reap_get(F);
	uint8_t family = s->family;

	if (r && ZT_GROW(r->sets, r->cap_sets, r->n_sets + 1) >= 0)
		r->sets[r->n_sets++] = *s;
	else
		zt_fset_clear(s);
	*s = (struct zt_fset){ .family = family };
}

/* What was handed over, freed by a thread (here, without one). */
static void reap_go(struct manager_feeds *F)
{
	struct reap *r = TAKE_PTR(F->reap);

	if (F->reaping) {
		pthread_join(F->reap_thread, NULL);	/* the last one: done long ago */
		F->reaping = false;
	}
	if (!r)
		return;
	if (pthread_create(&F->reap_thread, NULL, reap_run, r) == 0)
		F->reaping = true;
	else
		reap_run(r);
}

/*
 * ---- connections checked again ----
 * A direction of an established connection, once checked, carries its
 * label bit and meets no lookup again (doc/RULESET.md, "Checked once per
 * connection and direction"). Once an update that listed something is
 * applied, a thread dumps conntrack and clears those bits on every
 * connection with an address (NAT included) in what the update added, so
 * that its next packet in each direction meets the lookups: cut if its
 * peer is now listed. The dump walks the kernel's whole hash table, which
 * an rtnetlink event must not wait for. Updates applied while a pass runs
 * leave their ranges to the next pass of the same thread.
 */
struct cutter {
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* stop set */
	struct zt_feed_cut next;	/* ranges for the next pass */
	bool all;			/* the next pass clears the bits of every connection */
	bool running, joinable, stop;
	pthread_t thread;
	uint64_t passes, changed, failures, last_usec;	/* under lock */
};

static bool cut_match(const struct zt_ct_entry *e, void *data)
{
	const struct zt_feed_cut *c = data;

	if (!c)
		return true;
	for (size_t i = 0; i < 4; i++)
		if (e->has_addr[i] && zt_feed_cut_has(c, e->family, e->addr[i]))
			return true;
	return false;
}

/* A pause before a pass is tried again, cut short by the daemon's end. */
static void sleep_usec(uint64_t usec, struct cutter *k)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(usec / ZT_USEC_PER_SEC);
	ts.tv_nsec += (long)(usec % ZT_USEC_PER_SEC) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->lock);
	while (!k->stop && pthread_cond_timedwait(&k->wake, &k->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&k->lock);
}

static void *cut_run(void *userdata)
{
	struct cutter *k = userdata;
	uint64_t wait = ZT_USEC_PER_SEC;
	uint32_t mask[4];

	zt_feeds_label_mask(mask);
	for (;;) {
		struct zt_feed_cut c;
		struct zt_ct_stats st = {};
		bool all;
		uint64_t t = now_usec(CLOCK_MONOTONIC);
		int r;

		pthread_mutex_lock(&k->lock);
		if (k->stop || (!zt_feed_cut_count(&k->next) && !k->all)) {
			k->running = false;
			pthread_mutex_unlock(&k->lock);
			return NULL;
		}
		c = k->next;
		all = k->all;
		k->next = (struct zt_feed_cut){};
		k->all = false;
		pthread_mutex_unlock(&k->lock);
		r = all ? 0 : zt_feed_cut_build(&c);
		if (r >= 0)
			r = zt_ct_unlabel(mask, cut_match, all ? NULL : &c, &st);
		if (r < 0 && !all) {
			/* Fail closed: every connection checked again rather than a listed peer's let through. */
			log_warning("feeds: cannot check the connections of newly listed addresses (%s): checking all of them again",
				    strerror(-r));
			r = zt_ct_unlabel(mask, cut_match, NULL, &st);
		}
		t = now_usec(CLOCK_MONOTONIC) - t;
		zt_feed_cut_clear(&c);
		pthread_mutex_lock(&k->lock);
		k->passes++;
		k->changed += st.deleted;
		k->failures += r < 0;
		k->last_usec = t;
		/* A failed pass is owed: all of them, after 1 s, the wait doubling up to 5 min (an update's pass joins it). */
		if (r < 0)
			k->all = !k->stop;
		pthread_mutex_unlock(&k->lock);
		if (r < 0) {
			log_error("feeds: cannot make established connections be checked again: %s; trying again in %" PRIu64
				  " s", strerror(-r), (uint64_t)(wait / ZT_USEC_PER_SEC));
			sleep_usec(wait, k);
			wait = wait * 2 > FEED_RETRY_MAX_USEC ? FEED_RETRY_MAX_USEC : wait * 2;
			continue;
		}
		wait = ZT_USEC_PER_SEC;
		if (st.deleted)
			log_info("feeds: %" PRIu64 " established connections to be checked again (%s, %" PRIu64
				 " looked at, %.1f ms)", st.deleted, all ? "all" : "an address newly listed", st.scanned,
				 (double)t / 1000.0);
	}
}

/* The ranges the update's adds list (before its differences are cleared), to a pass. */
static void cut_start(struct manager_feeds *F)
{
	struct cutter *k = F->cut;
	struct zt_feed_cut c = {};
	size_t adds = 0;
	bool all;
	int r = 0;

	if (!k)
		return;
	for (size_t st = 0; st < N_STEPS; st++)
		adds += F->df[st].adds;
	pthread_mutex_lock(&k->lock);
	/* Nothing listed, and no pass owed (the first after start, or one that failed). */
	if (!adds && !k->all) {
		pthread_mutex_unlock(&k->lock);
		return;
	}
	pthread_mutex_unlock(&k->lock);
	all = adds > FEED_CUT_ALL;
	for (size_t st = 0; st < N_STEPS && !all && r >= 0; st++) {
		const struct zt_fset *w = &F->want[step_map(st)];

		for (size_t i = 0; i < F->df[st].n && r >= 0; i++) {
			const struct zt_fop *op = &F->df[st].ops[i];

			if (!op->add || op->idx >= w->n)
				continue;
			if (w->family == AF_INET)
				r = zt_feed_cut_add(&c, AF_INET, w->v4[op->idx].lo, w->v4[op->idx].hi);
			else
				r = zt_feed_cut_add(&c, AF_INET6, w->v6[op->idx].lo, w->v6[op->idx].hi);
		}
	}
	pthread_mutex_lock(&k->lock);
	if (r < 0 || all)
		k->all = true;
	for (size_t f = 0; f < 2 && !k->all && r >= 0; f++)
		for (size_t i = 0; i < c.f[f].n && r >= 0; i++)
			r = zt_feed_cut_add(&k->next, f ? AF_INET6 : AF_INET, c.f[f].lo[i], c.f[f].hi[i]);
	if (r < 0)
		k->all = true;
	if (!k->running) {
		if (k->joinable)
			pthread_join(k->thread, NULL);	/* stopped: returns at once */
		k->joinable = k->running = pthread_create(&k->thread, NULL, cut_run, k) == 0;
		/* No thread: the pass stays owed, made with the next update's (the event loop never waits for one). */
		if (!k->running) {
			zt_feed_cut_clear(&k->next);
			k->all = true;
			log_error("feeds: no thread to make established connections be checked again: after the next update");
		}
	}
	pthread_mutex_unlock(&k->lock);
	zt_feed_cut_clear(&c);
}

static void cut_free(struct cutter *k)
{
	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_broadcast(&k->wake);
	pthread_mutex_unlock(&k->lock);
	if (k->joinable)
		pthread_join(k->thread, NULL);
	zt_feed_cut_clear(&k->next);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/* A running job waited for and dropped (before the loop changes what it reads). */
static void job_abort(struct manager_feeds *F)
{
	uint64_t x;

	if (!F->job)
		return;
	atomic_store(&F->job->cancel, true);
	pthread_join(F->job_thread, NULL);
	while (read(F->job_fd, &x, sizeof(x)) > 0)
		;
	job_free(F->job);
	F->job = NULL;
}

static void update_begin(struct manager *m);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	m->feeds->retries++;
	update_begin(m);
	return 0;
}

/*
 * An update that failed before its commits (no memory, no thread, a
 * reload cut short): tried again, whole, after a wait that doubles up to
 * FEED_RETRY_MAX_USEC, so that new entries are not left unenforced until
 * the fetcher writes the file again. Any update begun meanwhile does it.
 */
static void retry_arm(struct manager *m, const char *what, int err)
{
	struct manager_feeds *F = m->feeds;
	uint64_t wait;
	int r;

	F->whole = true;
	F->retry_usec = F->retry_usec ? F->retry_usec * 2 : FEED_RETRY_MIN_USEC;
	if (F->retry_usec > FEED_RETRY_MAX_USEC)
		F->retry_usec = FEED_RETRY_MAX_USEC;
	wait = F->retry_usec;
	if (F->src_retry)
		r = sd_event_source_set_time_relative(F->src_retry, wait);
	else
		r = sd_event_add_time_relative(m->event, &F->src_retry, CLOCK_MONOTONIC, wait, ZT_USEC_PER_SEC / 10,
					       on_retry, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(F->src_retry, SD_EVENT_ONESHOT);
	if (r >= 0)
		r = sd_event_source_set_priority(F->src_retry, PRIO_FEEDS);
	if (r < 0)
		log_error("feeds: %s: %s; cannot arm the retry (%s): the feeds are updated at their next change",
			  what, strerror(err), strerror(-r));
	else
		log_error("feeds: %s: %s; tried again in %.0f s", what, strerror(err), (double)wait / ZT_USEC_PER_SEC);
}

/* Begin an update of the maps: a job, unless one runs or commits are under way (then after them). */
static void update_begin(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	int r;

	if (F->busy || F->job) {
		F->again = true;
		return;
	}
	F->again = false;
	if (F->src_retry)
		sd_event_source_set_enabled(F->src_retry, SD_EVENT_OFF);
	r = job_start(m);
	if (r < 0)
		retry_arm(m, "cannot start the update", -r);
}

/* A change the running job did not see: its result, when it comes, is stale. */
static void feeds_changed(struct manager *m)
{
	m->feeds->gen++;
	update_begin(m);
}

/* The job's result taken over: the feeds' new copies, the maps to reach, the commits begun. */
static void job_take(struct manager *m, struct job *J)
{
	struct manager_feeds *F = m->feeds;

	for (size_t i = 0; i < J->n && i < F->n; i++) {
		struct job_feed *jf = &J->v[i];
		struct feed_st *f = &F->v[i];

		f->try_usec = jf->try_usec;
		log_diags(LOG_WARNING, "feed-line", &jf->d);
		if (jf->status < 0) {
			f->try_ok = false;
			snprintf(f->result, sizeof(f->result), "%s", jf->result);
			log_fields(LOG_WARNING, (const char *[]){ "ZTSEG_EVENT=feed-refused", log_field("ZTSEG_FEED", "%s", f->name) },
				   2, jf->d.n ? "feed '%s' refused: %s" : "feed '%s': %s", f->name, f->result);
		} else if (jf->status > 0) {
			bool had = f->have;

			reap_data(F, &f->data);
			f->data = jf->data;
			jf->data = (struct zt_feed_data){};
			f->have = true;
			f->good = jf->st;
			f->try_ok = true;
			snprintf(f->result, sizeof(f->result), "%s", jf->result);
			if (had)
				log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=feed-updated",
					   log_field("ZTSEG_FEED", "%s", f->name) }, 2, "feed '%s': %s%s", f->name, f->result,
					   jf->inc ? " (changed lines parsed)" : "");
		}
		f->carved = jf->src.carved;
	}
	F->read_usec = J->read_usec;
	F->build_usec = J->build_usec;
	F->taken_policy_gen = J->policy_gen;
	F->inc = J->inc;
	for (size_t s = 0; s < N_MAPS; s++) {
		zt_fset_clear(&F->want[s]);
		F->want[s] = J->want[s];
		J->want[s] = (struct zt_fset){ .family = map_family(s) };
	}
	for (size_t k = 0; k < N_STEPS; k++) {
		zt_fdiff_clear(&F->df[k]);
		F->df[k] = J->df[k];
		J->df[k] = (struct zt_fdiff){};
	}
	memcpy(F->relay, J->relay, sizeof(F->relay));
	memcpy(F->new_lay, J->new_lay, sizeof(F->new_lay));
	memcpy(F->split, J->split, sizeof(F->split));
	memset(F->flushed, 0, sizeof(F->flushed));
	F->busy = true;
	F->at_step = F->at_chunk = 0;
	F->t0 = now_usec(CLOCK_MONOTONIC);
	F->last_adds = F->last_dels = 0;
	sd_event_source_set_enabled(F->src_work, SD_EVENT_ON);
}

static int on_job(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	struct manager_feeds *F = m->feeds;
	struct job *J = F->job;
	uint64_t x;

	if (read(fd, &x, sizeof(x)) < 0 || !J)
		return 0;
	pthread_join(F->job_thread, NULL);
	F->job = NULL;
	if (J->gen != F->gen) {
		/* Begun before the latest change: dropped, and made anew. */
		log_info("feeds: the update under way was overtaken by a change to the feeds: its result dropped, made anew");
		job_free(J);
		update_begin(m);
		return 0;
	}
	if (J->r < 0) {
		int r = J->r;

		job_free(J);
		retry_arm(m, "cannot compute the update", -r);
		return 0;
	}
	job_take(m, J);
	job_free(J);
	return 0;
}

/* Chains of feeds gone from the policy, now that nothing jumps to them. */
static void gone_delete(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r;

	if (!F->n_gone)
		return;
	r = zt_nft_batch_start(m->nft, &b);
	for (size_t i = 0; i < F->n_gone && r >= 0; i++) {
		uint32_t id = UINT32_MAX;

		if (intern(F->gone[i], &id, F) >= 0 && id != UINT32_MAX)
			r = zt_feeds_emit_chain_del(b, F->gone[i], id);
	}
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, NULL, &d);
	if (r < 0)
		log_warning("feeds: cannot delete the chains of removed feeds: %s", d.n ? d.v[0].msg : strerror(-r));
	zt_diags_clear(&d);
	free(F->gone);
	F->gone = NULL;
	F->n_gone = F->cap_gone = 0;
}

static void update_done(struct manager *m, bool ok)
{
	struct manager_feeds *F = m->feeds;

	F->busy = false;
	sd_event_source_set_enabled(F->src_work, SD_EVENT_OFF);
	F->last_update_usec = now_usec(CLOCK_MONOTONIC) - F->t0;
	F->updates++;
	/* Applied, or stopped part way (the adds made so far are listed): their connections checked again. */
	cut_start(F);
	for (size_t k = 0; k < N_STEPS; k++)
		zt_fdiff_clear(&F->df[k]);
	if (ok) {
		F->applied_usec = now_usec(CLOCK_REALTIME);
		for (size_t s = 0; s < N_MAPS; s++) {
			reap_set(F, &F->cur[s]);
			F->cur[s] = F->want[s];
			F->want[s] = (struct zt_fset){ .family = F->cur[s].family };
		}
		/* A reload during this update may have left elements of gone feeds: after the next. */
		if (!F->again)
			gone_delete(m);
		if (F->last_adds || F->last_dels)
			log_fields(LOG_NOTICE, (const char *[]){ "ZTSEG_EVENT=feeds-applied" }, 1,
				   "feeds applied: %zu ranges added, %zu removed in %.1f ms (longest commit so far %.1f ms; "
				   "before, off the event loop: files read and parsed %.1f ms, %s %.1f ms)",
				   F->last_adds, F->last_dels, (double)F->last_update_usec / 1000.0,
				   (double)F->longest_commit_usec / 1000.0, (double)F->read_usec / 1000.0,
				   F->inc ? "the changed windows flattened and compared" : "flattened whole and compared",
				   (double)F->build_usec / 1000.0);
		/* The last copies' and maps' predecessors back to the system, off the loop. */
		reap_go(F);
		F->read_usec = 0;
		/* The maps are now the flattening of the copies, unless a reload came meanwhile. */
		F->whole = F->policy_gen != F->taken_policy_gen;
		F->retry_usec = 0;
	} else {
		F->failures++;
		F->kernel_known = false;
		F->whole = true;
		F->again = false;
		reap_go(F);
		return;
	}
	if (F->again)
		update_begin(m);
}

/*
 * Chunks [c, c_end) of step k's map in one transaction: 0, or -errno
 * (logged). *ret_usec: how long the commit took.
 */
static int chunk_commit(struct manager *m, size_t k, size_t c, size_t c_end, uint64_t *ret_usec)
{
	size_t s = step_map(k);
	struct manager_feeds *F = m->feeds;
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_diags d = {};
	uint64_t t;
	int r;

	uint32_t g0 = 0, g1 = 0;

	r = zt_nft_batch_start(m->nft, &b);
	if (r >= 0)
		r = zt_feeds_emit_chunks(b, s % 2, s >= N_RMAPS ? NULL : F->relay[s] ? &F->new_lay[s] : &F->lay[s],
					 &F->cur[s], &F->want[s], &F->df[k], c, c_end);
	/*
	 * Out of the notification group meanwhile: the kernel then builds no
	 * notification per element. A commit of someone else in that window
	 * shows in the generation ids: then the tables are checked.
	 */
	if (r >= 0 && m->nfmon && zt_nfmon_quiet(m->nfmon, true) >= 0)
		zt_nft_genid_read(m->nft, &g0);
	t = now_usec(CLOCK_MONOTONIC);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, NULL, &d);
	t = now_usec(CLOCK_MONOTONIC) - t;
	if (g0) {
		zt_nft_genid_read(m->nft, &g1);
		zt_nfmon_quiet(m->nfmon, false);
		if (g1 != g0 + (r >= 0)) {
			m->want_repair = true;
			manager_dirty(m);
		}
	}
	F->commits++;
	*ret_usec = t;
	if (t > F->longest_commit_usec)
		F->longest_commit_usec = t;
	if (r < 0)
		log_fields(LOG_ERR, (const char *[]){ "ZTSEG_EVENT=feeds-failed" }, 1,
			   "feeds: an element batch of map %s %s was refused: %s", map_family(s) == AF_INET ? "ip" : "ip6",
			   set_name[s],
			   d.n ? d.v[0].msg : strerror(-r));
	zt_diags_clear(&d);
	return r;
}

/* The slots of interval map s that the update's new layout names and the one in the kernel does not. */
static size_t new_slots(const struct manager_feeds *F, size_t s, uint16_t *ret)
{
	bool named[ZT_FEED_SLOTS] = {};
	size_t n = 0;

	for (size_t i = 0; F->lay_known[s] && i < F->lay[s].n; i++)
		named[F->lay[s].slot[i]] = true;
	for (size_t i = 0; i < F->new_lay[s].n; i++)
		if (!named[F->new_lay[s].slot[i]]) {
			named[F->new_lay[s].slot[i]] = true;
			ret[n++] = F->new_lay[s].slot[i];
		}
	return n;
}

/*
 * Interval map s's new layout: flush (true) empties the slots it takes
 * anew (whatever a hand or an update cut short left there; no packet
 * reaches them yet); then, or on its own, the selector's elements replaced
 * (one interval map: the kernel switches it at once). RELAY_BEFORE does
 * both in one transaction (its shards are empty), RELAY_AFTER flushes
 * before the map's first commit and switches after its last.
 */
static int selector_commit(struct manager *m, size_t s, bool flush, bool sel)
{
	struct manager_feeds *F = m->feeds;
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_diags d = {};
	uint16_t fresh[ZT_FEED_SLOTS];
	size_t n_fresh = new_slots(F, s, fresh);
	int r = zt_nft_batch_start(m->nft, &b);

	for (size_t i = 0; flush && i < n_fresh && r >= 0; i++)
		r = zt_feeds_emit_slot_flush(b, map_family(s), s % 2, fresh[i]);
	if (r >= 0 && sel)
		r = zt_feeds_emit_selector(b, map_family(s), s % 2, F->lay_known[s] ? &F->lay[s] : NULL, &F->new_lay[s]);
	if (r >= 0 && (sel || n_fresh))
		r = zt_nft_batch_commit(m->nft, b, NULL, &d);
	if (r < 0)
		log_error("feeds: cannot set the shards of map %s %s: %s", map_family(s) == AF_INET ? "ip" : "ip6",
			  set_name[s], d.n ? d.v[0].msg : strerror(-r));
	else if (sel) {
		if (F->relay[s] == RELAY_AFTER)
			log_info("feeds: map %s %s: %zu new slot%s for runs of new ranges (%zu ranges now)",
				 map_family(s) == AF_INET ? "ip" : "ip6", set_name[s], F->split[s], F->split[s] == 1 ? "" : "s",
				 F->new_lay[s].n);
		else
			log_debug("feeds: map %s %s: %d shards laid out for its %zu ranges",
				  map_family(s) == AF_INET ? "ip" : "ip6", set_name[s], ZT_FEED_SHARDS, F->want[s].n);
		F->splits += F->split[s];
		F->lay[s] = F->new_lay[s];
		F->lay_known[s] = true;
		F->relay[s] = RELAY_NONE;
	}
	zt_diags_clear(&d);
	return r;
}

/*
 * The operations of the next commit, adapted to the time budget: a commit
 * well under it lets the next carry twice as many, one over it scales them
 * down in proportion (never below FEED_OPS_MIN: an interval map's commit
 * also costs time in proportion to the whole map, which fewer operations
 * would only pay more often).
 */
static void ops_adapt(struct manager_feeds *F, bool exact, size_t ops, uint64_t usec)
{
	size_t *o = &F->ops[exact];

	if (usec > F->budget_usec && ops >= *o / 2) {
		size_t n = (size_t)((double)ops * (double)F->budget_usec / (double)usec);

		*o = n < FEED_OPS_MIN ? FEED_OPS_MIN : n;
	} else if (usec < F->budget_usec / 2 && ops >= *o / 2 && *o < FEED_OPS_MAX)
		*o *= 2;
}

static int on_work(sd_event_source *src, void *userdata)
{
	struct manager *m = userdata;
	struct manager_feeds *F = m->feeds;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);

	while (F->at_step < N_STEPS && now_usec(CLOCK_MONOTONIC) - t0 < FEED_SLICE_USEC) {
		struct zt_fdiff *df = &F->df[F->at_step];
		bool exact = step_map(F->at_step) >= N_RMAPS;
		size_t c_end = F->at_chunk, from, ops;
		uint64_t usec = 0;

		size_t s = step_map(F->at_step);
		enum relay rl = exact ? RELAY_NONE : F->relay[s];

		/* A new layout: before the map's first commit, or its slots emptied then and the switch after its last. */
		if ((!F->at_chunk && rl == RELAY_BEFORE) || (!F->at_chunk && rl == RELAY_AFTER && !F->flushed[s]) ||
		    (F->at_chunk >= df->n_chunks && rl == RELAY_AFTER)) {
			bool sw = rl == RELAY_BEFORE || F->flushed[s];

			if (selector_commit(m, s, rl == RELAY_BEFORE || !F->flushed[s], sw) < 0) {
				update_done(m, false);
				/* the maps as the kernel has them are read back and the difference made anew */
				m->want_repair = m->want_feeds_repair = true;
				manager_dirty(m);
				return 0;
			}
			F->flushed[s] = true;
			continue;
		}
		if (F->at_chunk >= df->n_chunks) {
			F->last_adds += df->adds;
			F->last_dels += df->dels;
			F->at_step++;
			F->at_chunk = 0;
			continue;
		}
		/* Whole chunks (each keeps the verdicts exact) up to the operations the budget allows. */
		from = F->at_chunk ? df->chunk_end[F->at_chunk - 1] : 0;
		do
			c_end++;
		while (c_end < df->n_chunks && df->chunk_end[c_end] - from <= F->ops[exact]);
		ops = df->chunk_end[c_end - 1] - from;
		if (chunk_commit(m, F->at_step, F->at_chunk, c_end, &usec) < 0) {
			update_done(m, false);
			m->want_repair = m->want_feeds_repair = true;
			manager_dirty(m);
			return 0;
		}
		if (usec > 2 * F->budget_usec)
			log_debug("feeds: a commit of %zu operations into map %s %s%s took %.1f ms (budget %.1f ms)", ops,
				  map_family(step_map(F->at_step)) == AF_INET ? "ip" : "ip6", set_name[step_map(F->at_step)],
				  exact ? "" : "_r*", (double)usec / 1000.0, (double)F->budget_usec / 1000.0);
		ops_adapt(F, exact, ops, usec);
		F->at_chunk = c_end;
	}
	if (F->at_step >= N_STEPS)
		update_done(m, true);
	return 0;
}

/* ---- inotify ---- */

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	struct manager_feeds *F = m->feeds;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (!ev->len)
				continue;
			for (size_t i = 0; i < F->n; i++) {
				char tmp[PATH_MAX];

				snprintf(tmp, sizeof(tmp), "%s", F->v[i].path);
				changed |= streq(basename(tmp), ev->name);
			}
		}
	}
	/* The worker reads it (and finds whether it changed at all). */
	if (changed)
		feeds_changed(m);
	return 0;
}

static void watches_set(struct manager_feeds *F)
{
	for (size_t i = 0; i < F->n_wd; i++)
		inotify_rm_watch(F->ino_fd, F->wd[i]);
	F->n_wd = 0;
	for (size_t i = 0; i < F->n && F->n_wd < ZT_FEEDS_MAX; i++) {
		char dir[PATH_MAX];
		int wd;

		snprintf(dir, sizeof(dir), "%s", F->v[i].path);
		wd = inotify_add_watch(F->ino_fd, dirname(dir),
				       IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ATTRIB | IN_ONLYDIR);
		if (wd < 0)
			log_warning("feed '%s': cannot watch %s: %s", F->v[i].name, dir, strerror(errno));
		else
			F->wd[F->n_wd++] = wd;
	}
}

/* ---- setup, apply ---- */

static int feeds_new(struct manager *m)
{
	struct manager_feeds *F = calloc(1, sizeof(*F));
	const char *e = getenv("ZTSEGD_FEED_CHUNK"), *b = getenv("ZTSEGD_FEED_BUDGET_USEC");
	struct passwd *pw = getpwnam(FEED_USER);
	int r;

	if (!F)
		return -ENOMEM;
	m->feeds = F;
	for (size_t s = 0; s < N_MAPS; s++)
		F->cur[s].family = F->want[s].family = map_family(s);
	F->chunk = FEED_CHUNK_DEFAULT;
	F->budget_usec = b && atoi(b) > 0 ? (uint64_t)atoi(b) : FEED_BUDGET_USEC;
	/* A first guess; each commit then adapts it. ZTSEGD_FEED_CHUNK: a fixed number (the bench's one-transaction load). */
	F->ops[0] = FEED_OPS_MIN;
	F->ops[1] = FEED_OPS_MIN * 4;
	if (e && atoi(e) > 0) {
		F->ops[0] = F->ops[1] = (size_t)atoi(e);
		F->budget_usec = UINT64_MAX / 4;
	}
	F->feed_uid = pw ? pw->pw_uid : (uid_t)-1;
	F->whole = true;
	F->never_inc = getenv("ZTSEGD_FEED_WHOLE") && streq(getenv("ZTSEGD_FEED_WHOLE"), "1");
	if ((e = getenv("ZTSEGD_FEED_FAIL_JOBS")) && atoi(e) > 0)
		F->fail_jobs = (unsigned)atoi(e);
	F->job_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (F->job_fd < 0)
		return -errno;
	if (!(F->cut = calloc(1, sizeof(*F->cut))))
		return -ENOMEM;
	pthread_mutex_init(&F->cut->lock, NULL);
	pthread_cond_init(&F->cut->wake, NULL);
	/*
	 * The first update after start clears the bits of every connection:
	 * a daemon that ended between its commits and their pass left
	 * elements listed whose connections still pass unchecked, and its
	 * successor reads them back as no change.
	 */
	F->cut->all = true;
	F->nl = calloc(1, sizeof(*F->nl));
	feeds_nl_open(F);
	F->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (F->ino_fd < 0 || F->job_fd < 0)
		return -errno;
	r = sd_event_add_io(m->event, &F->src_job, F->job_fd, EPOLLIN, on_job, m);
	if (r >= 0)
		r = sd_event_source_set_priority(F->src_job, PRIO_FEEDS);
	if (r < 0)
		return r;
	r = sd_event_add_io(m->event, &F->src_ino, F->ino_fd, EPOLLIN, on_inotify, m);
	if (r >= 0)
		r = sd_event_source_set_priority(F->src_ino, PRIO_FEEDS);
	if (r >= 0)
		r = sd_event_add_defer(m->event, &F->src_work, on_work, m);
	if (r >= 0)
		r = sd_event_source_set_priority(F->src_work, PRIO_FEEDS);
	if (r >= 0)
		r = sd_event_source_set_enabled(F->src_work, SD_EVENT_OFF);
	return r;
}

static void feed_st_free(struct feed_st *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		zt_feed_data_clear(&v[i].data);
	free(v);
}

/* The policy's feeds, keeping the last good copy of those whose source stayed. */
static int feeds_from_policy(struct manager *m, const struct zt_threats *t, struct feed_st **ret)
{
	struct manager_feeds *F = m->feeds;
	struct feed_st *v = calloc(t->n_blocklists ? t->n_blocklists : 1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->n_blocklists; i++) {
		const struct zt_blocklist *b = &t->blocklists[i];
		struct feed_st *f = &v[i];

		snprintf(f->name, sizeof(f->name), "%s", b->name);
		if (b->file)
			snprintf(f->path, sizeof(f->path), "%s", b->file);
		else
			snprintf(f->path, sizeof(f->path), "%.2000s/%s", m->feeds_dir ? m->feeds_dir : DEFAULT_FEEDS_DIR,
				 b->name);
		f->url = b->url != NULL;
		f->dir = b->dir;
		f->reject = b->reject;
		f->log = b->log;
		f->max_age_sec = b->max_age_sec;
		f->lim = (struct zt_feed_limits){ .max_bytes = b->max_bytes, .max_bad_pct = b->max_bad_pct,
						 .max_shrink_pct = b->max_shrink_pct };
		f->pos = b->pos;
		if ((r = intern(f->name, &f->id, F)) < 0) {
			feed_st_free(v, i);
			return r;
		}
		for (size_t k = 0; k < F->n; k++)
			if (streq(F->v[k].name, f->name) && streq(F->v[k].path, f->path) && F->v[k].have) {
				f->data = F->v[k].data;
				F->v[k].data = (struct zt_feed_data){};
				f->have = true;
				f->good = F->v[k].good;
				f->try_usec = F->v[k].try_usec;
				f->try_ok = F->v[k].try_ok;
				snprintf(f->result, sizeof(f->result), "%s", F->v[k].result);
			}
	}
	*ret = v;
	return 0;
}

/* The skeleton in one transaction; fresh: both tables destroyed first. */
static int skeleton_commit(struct manager *m, struct zt_feed_rule *rules, size_t n, bool fresh, struct zt_diags *d)
{
	struct manager_feeds *F = m->feeds;
	const struct zt_flayout *lay[N_RMAPS] = {};
	_cleanup_batch_ struct zt_batch *b = NULL;
	int err = 0;
	uint32_t flags = !m->unowned && zt_nft_has_persist(m->nft) > 0 ? NFT_TABLE_F_OWNER | NFT_TABLE_F_PERSIST : 0;
	int r = zt_nft_batch_start(m->nft, &b);

	if (r >= 0 && fresh) {
		r = zt_feeds_emit_destroy(b);
		for (size_t i = 0; i < n; i++)
			rules[i].keep = false;
	}
	/* Selectors not known to hold a layout (new tables, or made anew): even ranges; no shard holds an element yet. */
	for (size_t s = 0; s < N_RMAPS; s++) {
		zt_u128 even[ZT_FEED_SHARDS];

		if (fresh)
			F->lay_known[s] = false;
		if (!F->lay_known[s]) {
			zt_fset_bounds_even(map_family(s), ZT_FEED_SHARDS, even);
			zt_flayout_set(&F->new_lay[s], even, ZT_FEED_SHARDS);
			lay[s] = &F->new_lay[s];
		}
	}
	if (r >= 0)
		r = zt_feeds_emit_skeleton(b, flags, rules, n, m->copts.log_group, m->copts.log_rate, m->copts.log_burst,
					   lay);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, &err, d);
	for (size_t s = 0; s < N_RMAPS && r >= 0; s++)
		if (lay[s]) {
			F->lay[s] = *lay[s];
			F->lay_known[s] = true;
		}
	/* The kernel's reason, so that the caller can tell "exists in another layout". */
	return r == -EINVAL && err > 0 ? -err : r;
}

/*
 * The tables' skeleton for the new feeds; chains of feeds that stay as they
 * were are kept. Maps of another layout (the verdict maps of ztseg before
 * feed_ids: NEWSET says EEXIST) or base chains of another priority (-300
 * before the label bits: NEWCHAIN says EOPNOTSUPP) are replaced by
 * destroying both tables and creating them anew in one transaction; the
 * elements then load again.
 */
static int skeleton_apply(struct manager *m, const struct feed_st *v, size_t n)
{
	struct manager_feeds *F = m->feeds;
	struct zt_feed_rule rules[ZT_FEEDS_MAX];
	struct zt_diags d = {};
	int r;

	for (size_t i = 0; i < n; i++) {
		rules[i] = (struct zt_feed_rule){ .name = v[i].name, .id = v[i].id, .reject = v[i].reject, .log = v[i].log,
						  .src = v[i].dir != ZT_FEED_OUT, .dst = v[i].dir != ZT_FEED_IN };
		for (size_t k = 0; k < F->n && F->tables; k++)
			if (streq(F->v[k].name, v[i].name) && F->v[k].reject == v[i].reject && F->v[k].log == v[i].log)
				rules[i].keep = true;
	}
	r = skeleton_commit(m, rules, n, false, &d);
	if (r == -EEXIST || r == -EOPNOTSUPP) {
		log_notice("feeds: tables ip/ip6 %s have %s of another layout: creating them anew, the entries load again",
			   ZT_TABLE_NAME, r == -EEXIST ? "maps" : "base chains");
		zt_diags_clear(&d);
		r = skeleton_commit(m, rules, n, true, &d);
		if (r >= 0) {
			for (size_t s = 0; s < N_MAPS; s++) {
				zt_fset_clear(&F->cur[s]);
				F->cur[s].family = map_family(s);
			}
			free(F->gone);
			F->gone = NULL;
			F->n_gone = F->cap_gone = 0;
			F->kernel_known = true;
		}
	}
	if (r < 0)
		log_error("feeds: cannot create tables ip/ip6 %s: %s", ZT_TABLE_NAME, d.n ? d.v[0].msg : strerror(-r));
	else
		F->tables = true;
	zt_diags_clear(&d);
	return r;
}

static int fel4_cmp(const void *x, const void *y)
{
	const struct zt_fel4 *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int fel6_cmp(const void *x, const void *y)
{
	const struct zt_fel6 *a = x, *b = y;

	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/*
 * Interval map s: its selector's layout and the elements of the slots it
 * names, in address order, or -ENOENT (no usable selector: empty). An
 * element outside its slot's ranges is no layout the daemon writes: the
 * map is refused as another layout (-EEXIST). Slots the layout does not
 * name are not read (emptied before they take ranges).
 */
static int shards_read(struct manager_feeds *F, size_t s, struct zt_fset *ret)
{
	char name[ZT_OBJ_NAME_MAX];
	bool named[ZT_FEED_SLOTS] = {};
	int r = zt_feeds_selector_read(map_family(s), set_name[s], ZT_FEED_SLOTS, &F->lay[s]);

	F->lay_known[s] = r >= 0;
	if (r < 0)
		return r == -ENOMEM ? r : -ENOENT;
	for (size_t i = 0; i < F->lay[s].n; i++)
		named[F->lay[s].slot[i]] = true;
	for (size_t k = 0; k < ZT_FEED_SLOTS && r >= 0; k++) {
		struct zt_fset sh = {};

		if (!named[k])
			continue;
		snprintf(name, sizeof(name), "%s_r%zu", set_name[s], k);
		r = zt_feeds_set_read(map_family(s), name, false, intern_kid, F, &sh);
		if (r == -ENOENT)
			r = 0;
		for (size_t i = 0; i < sh.n && r >= 0; i++) {
			zt_u128 lo = sh.family == AF_INET ? sh.v4[i].lo : sh.v6[i].lo;
			zt_u128 hi = sh.family == AF_INET ? sh.v4[i].hi : sh.v6[i].hi;

			if (zt_flayout_slot_of(&F->lay[s], lo) != k ||
			    zt_fset_shard_of(F->lay[s].lo, F->lay[s].n, lo) != zt_fset_shard_of(F->lay[s].lo, F->lay[s].n, hi))
				r = -EEXIST;
			else
				r = zt_fset_append(ret, &sh, i);
		}
		zt_fset_clear(&sh);
	}
	/* Slots read one after the other are in address order unless a slot owns ranges apart. */
	for (size_t i = 1; r >= 0 && i < ret->n; i++)
		if (ret->family == AF_INET ? ret->v4[i].lo < ret->v4[i - 1].lo : ret->v6[i].lo < ret->v6[i - 1].lo) {
			if (ret->family == AF_INET)
				qsort(ret->v4, ret->n, sizeof(*ret->v4), fel4_cmp);
			else
				qsort(ret->v6, ret->n, sizeof(*ret->v6), fel6_cmp);
			break;
		}
	if (r < 0) {
		zt_fset_clear(ret);
		F->lay_known[s] = false;
	}
	return r;
}

/* The maps as the kernel holds them (a dump: at start and after someone else changed them). */
static int kernel_read(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	int r = 0;

	/*
	 * A map not there (a table of an older layout): empty; its elements
	 * load again. An interval map: its selector's bounds, then its shards
	 * one after the other (in address order).
	 */
	for (size_t s = 0; s < N_MAPS && r >= 0; s++) {
		struct zt_fset k = { .family = map_family(s) };

		if (s >= N_RMAPS)
			r = zt_feeds_set_read(map_family(s), set_name[s], true, intern_kid, F, &k);
		else
			r = shards_read(F, s, &k);
		if (r == -ENOENT) {
			k = (struct zt_fset){ .family = map_family(s) };
			r = 0;
		}
		if (r >= 0) {
			zt_fset_clear(&F->cur[s]);
			F->cur[s] = k;
		}
	}
	if (r >= 0)
		F->kernel_known = true;
	return r;
}

/* No feeds in the policy: both tables go (their elements with them) in one transaction. */
static int feeds_drop_tables(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	_cleanup_batch_ struct zt_batch *b = NULL;
	struct zt_diags d = {};
	int r = zt_nft_batch_start(m->nft, &b);

	if (r >= 0)
		r = zt_feeds_emit_destroy(b);
	if (r >= 0)
		r = zt_nft_batch_commit(m->nft, b, NULL, &d);
	zt_diags_clear(&d);
	if (r >= 0) {
		for (size_t s = 0; s < N_MAPS; s++)
			zt_fset_clear(&F->cur[s]);
		for (size_t s = 0; s < N_RMAPS; s++)
			F->lay_known[s] = false;
		F->tables = false;
		F->kernel_known = true;
	}
	return r;
}

int manager_feeds_apply(struct manager *m)
{
	const struct zt_threats *t = &m->cur.policy->threats;
	struct manager_feeds *F;
	struct feed_st *v = NULL;
	int r;

	if (!m->feeds && (r = feeds_new(m)) < 0)
		return r;
	F = m->feeds;
	/* The worker reads the copies and the maps this changes: it finishes first, its result dropped. */
	job_abort(F);
	F->gen++;
	F->policy_gen++;
	F->whole = true;
	/* The kernel's ids first, so that the policy's feeds keep the ids their elements carry. */
	if (!F->kernel_known) {
		zt_feeds_ids_read(AF_INET, intern_kid, F);
		zt_feeds_ids_read(AF_INET6, intern_kid, F);
	}
	if ((r = feeds_from_policy(m, t, &v)) < 0) {
		/* The job aborted above was the feeds' update: it is made again (the feeds as they were). */
		retry_arm(m, "cannot take the policy's feeds", -r);
		return r;
	}
	free(F->except);
	F->except = NULL;
	F->n_except = 0;
	if (t->n_except && (F->except = calloc(t->n_except, sizeof(*F->except)))) {
		memcpy(F->except, t->except, t->n_except * sizeof(*F->except));
		F->n_except = t->n_except;
	}
	/* Feeds gone: their chains go once no element jumps to them. */
	for (size_t k = 0; k < F->n; k++) {
		bool stays = false;

		for (size_t i = 0; i < t->n_blocklists; i++)
			stays |= streq(v[i].name, F->v[k].name);
		if (!stays && ZT_GROW(F->gone, F->cap_gone, F->n_gone + 1) >= 0)
			snprintf(F->gone[F->n_gone++], sizeof(F->gone[0]), "%s", F->v[k].name);
	}
	if (!t->n_blocklists && !F->busy) {
		feed_st_free(F->v, F->n);
		F->v = v;
		F->n = 0;
		free(F->gone);
		F->gone = NULL;
		F->n_gone = F->cap_gone = 0;
		watches_set(F);
		return feeds_drop_tables(m);
	}
	if (!F->kernel_known && (r = kernel_read(m)) < 0)
		log_warning("feeds: cannot read the maps back (%s): loading them whole", strerror(-r));
	r = skeleton_apply(m, v, t->n_blocklists);
	feed_st_free(F->v, F->n);
	F->v = v;
	F->n = t->n_blocklists;
	watches_set(F);
	if (r < 0)
		return r;
	update_begin(m);
	return 0;
}

/* ---- what operators see ---- */

static void on_counter(const char *feed, uint64_t packets, uint64_t bytes, void *userdata)
{
	struct manager_feeds *F = userdata;

	for (size_t i = 0; i < F->n; i++)
		if (streq(F->v[i].name, feed)) {
			F->v[i].packets += packets;
			F->v[i].bytes += bytes;
		}
}

static void counters_read(struct manager_feeds *F)
{
	for (size_t i = 0; i < F->n; i++)
		F->v[i].packets = F->v[i].bytes = 0;
	if (!F->tables)
		return;
	if (zt_feeds_counters_read(F->nl, AF_INET, on_counter, F) < 0 ||
	    zt_feeds_counters_read(F->nl, AF_INET6, on_counter, F) < 0)
		feeds_nl_reopen(F);
}

static const char *dir_name(enum zt_feed_dir d)
{
	return d == ZT_FEED_IN ? "in" : d == ZT_FEED_OUT ? "out" : "both";
}

static json_t *feed_json(const struct feed_st *f, uint64_t now)
{
	char t1[64] = "", t2[64] = "";
	uint64_t mt = f->have ? (uint64_t)f->good.st_mtim.tv_sec * ZT_USEC_PER_SEC : 0;
	uint64_t age = mt && now > mt ? (now - mt) / ZT_USEC_PER_SEC : 0;
	bool stale = f->max_age_sec && (!f->have || age > f->max_age_sec);

	if (mt)
		log_time(mt, t1, sizeof(t1));
	if (f->try_usec)
		log_time(f->try_usec, t2, sizeof(t2));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:s, s:I, s:I, s:b, s:I, s:I, s:I}",
			 "name", f->name, "source", f->url ? "url" : "file", "path", f->path,
			 "direction", dir_name(f->dir), "action", f->reject ? "reject" : "drop", "enforced", f->have,
			 "entries", (json_int_t)(f->data.n4 + f->data.n6), "ipv4", (json_int_t)f->data.n4,
			 "ipv6", (json_int_t)f->data.n6, "bad_lines", (json_int_t)f->data.bad,
			 "updated", t1, "last_attempt", t2, "last_ok", f->try_ok, "result", f->result,
			 "age_seconds", (json_int_t)age, "max_age_seconds", (json_int_t)f->max_age_sec,
			 "stale", stale, "carved", (json_int_t)f->carved, "packets", (json_int_t)f->packets,
			 "bytes", (json_int_t)f->bytes);
}

int manager_feeds_status(struct manager *m, json_t *status)
{
	struct manager_feeds *F = m->feeds;
	uint64_t now = now_usec(CLOCK_REALTIME);
	json_t *a = json_array(), *u;
	size_t ranges = 0;

	if (!a)
		return -ENOMEM;
	if (F) {
		counters_read(F);
		for (size_t i = 0; i < F->n; i++)
			if (json_array_append_new(a, feed_json(&F->v[i], now)) < 0) {
				json_decref(a);
				return -ENOMEM;
			}
		for (size_t s = 0; s < N_MAPS; s++)
			ranges += F->cur[s].n;
	}
	u = json_pack("{s:b, s:b, s:b, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I}", "busy", F && (F->busy || F->job),
		      "working", F && F->job, "last_incremental", F && F->inc,
		      "kernel_ranges", (json_int_t)ranges,
		      "longest_commit_ms", F ? (double)F->longest_commit_usec / 1000.0 : 0.0,
		      "last_update_ms", F ? (double)F->last_update_usec / 1000.0 : 0.0,
		      "last_added", (json_int_t)(F ? F->last_adds : 0), "last_removed", (json_int_t)(F ? F->last_dels : 0),
		      "updates", (json_int_t)(F ? F->updates : 0), "commits", (json_int_t)(F ? F->commits : 0),
		      "failures", (json_int_t)(F ? F->failures : 0),
		      "last_applied_usec", (json_int_t)(F ? F->applied_usec : 0));
	if (u && F && F->cut) {
		struct cutter *k = F->cut;
		json_t *c;

		pthread_mutex_lock(&k->lock);
		c = json_pack("{s:b, s:I, s:I, s:I, s:f}", "running", k->running, "passes", (json_int_t)k->passes,
			      "connections", (json_int_t)k->changed, "failures", (json_int_t)k->failures,
			      "last_ms", (double)k->last_usec / 1000.0);
		pthread_mutex_unlock(&k->lock);
		if (!c || json_object_set_new(u, "rechecks", c) < 0) {
			json_decref(u);
			return -ENOMEM;
		}
	}
	if (u && F) {
		/* The shard layouts: ranges and slots per interval map, and the slots runs of new ranges took. */
		json_t *l = json_object();

		for (size_t s = 0; l && s < N_RMAPS; s++) {
			bool named[ZT_FEED_SLOTS] = {};
			size_t slots = 0;
			char key[32];

			for (size_t i = 0; F->lay_known[s] && i < F->lay[s].n; i++)
				if (!named[F->lay[s].slot[i]]) {
					named[F->lay[s].slot[i]] = true;
					slots++;
				}
			snprintf(key, sizeof(key), "%s %s", map_family(s) == AF_INET ? "ip" : "ip6", set_name[s]);
			if (json_object_set_new(l, key, json_pack("{s:I, s:I}", "ranges",
					(json_int_t)(F->lay_known[s] ? F->lay[s].n : 0), "slots", (json_int_t)slots)) < 0) {
				json_decref(l);
				l = NULL;
			}
		}
		if (!l || json_object_set_new(u, "shards", l) < 0 ||
		    json_object_set_new(u, "slots_split", json_integer((json_int_t)F->splits)) < 0) {
			json_decref(u);
			return -ENOMEM;
		}
	}
	if (!u || json_object_set_new(status, "feeds", a) < 0 || json_object_set_new(status, "feed_updates", u) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * Which feeds list addr, in policy order, and which one the kernel's map
 * gives it (the first that lists it, unless threats.except carves it out).
 */
int manager_feeds_test(struct manager *m, uint8_t family, const uint8_t *addr, json_t **ret)
{
	struct manager_feeds *F = m->feeds;
	json_t *a = json_array();
	bool except = false;

	if (!a)
		return -ENOMEM;
	for (size_t i = 0; F && i < F->n_except; i++)
		except |= zt_cidr_contains_addr(&F->except[i], family, addr);
	for (size_t i = 0; F && i < F->n; i++) {
		const struct feed_st *f = &F->v[i];
		ssize_t e = f->have ? zt_feed_find(&f->data, family, addr) : -1;
		char ent[128];

		if (e < 0)
			continue;
		zt_feed_entry_fmt(&f->data, family, (size_t)e, ent, sizeof(ent));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:s}", "feed", f->name, "entry", ent,
						   "file", f->path,
						   "line", (json_int_t)(family == AF_INET ? f->data.e4[e].line : f->data.e6[e].line),
						   "direction", dir_name(f->dir)));
	}
	*ret = json_pack("{s:o, s:b}", "listed", a, "except", except);
	return *ret ? 0 : -ENOMEM;
}

/*
 * explain: a feed that denies this packet before any flow. 1 with the
 * reason in buf ("deny: threat feed 'NAME' (entry P, FILE:LINE)"), 0 for none.
 */
int manager_feeds_explain(struct manager *m, const struct zt_endpoint *from, const struct zt_endpoint *to, char *buf,
			  size_t len)
{
	struct manager_feeds *F = m->feeds;

	for (size_t i = 0; F && i < F->n; i++) {
		const struct feed_st *f = &F->v[i];

		for (int side = 0; side < 2 && f->have; side++) {
			const struct zt_endpoint *ep = side ? to : from;
			bool except = false;
			char ent[128];
			ssize_t e;

			if (!ep->has_addr || (side == 0 && f->dir == ZT_FEED_OUT) || (side == 1 && f->dir == ZT_FEED_IN))
				continue;
			for (size_t k = 0; k < F->n_except; k++)
				except |= zt_cidr_contains_addr(&F->except[k], ep->family, ep->addr);
			if (except || (e = zt_feed_find(&f->data, ep->family, ep->addr)) < 0)
				continue;
			zt_feed_entry_fmt(&f->data, ep->family, (size_t)e, ent, sizeof(ent));
			snprintf(buf, len, "deny: threat feed '%s' (entry %s, %s:%u) — listed %s, checked before any flow\n",
				 f->name, ent, f->path, ep->family == AF_INET ? f->data.e4[e].line : f->data.e6[e].line,
				 side ? "destination" : "source");
			return 1;
		}
	}
	return 0;
}

/* The periodic check: the tables there and ours; never a dump of the maps. */
bool manager_feeds_verify(struct manager *m)
{
	struct manager_feeds *F = m->feeds;
	struct zt_nft_table_info ti;

	if (!F || !F->tables)
		return true;
	for (int i = 0; i < 2; i++) {
		/* An error on the kept socket: reopened, and asked once more (not a check skipped). */
		if (zt_feeds_table_read(F->nl, i ? AF_INET6 : AF_INET, &ti) < 0 &&
		    (feeds_nl_reopen(F), zt_feeds_table_read(F->nl, i ? AF_INET6 : AF_INET, &ti) < 0))
			return true;
		if (!ti.present || (m->owned && ti.has_owner && ti.owner != zt_nft_portid(m->nft)) ||
		    (m->owned && !ti.has_owner))
			return false;
	}
	return true;
}

/* Someone else changed or deleted the feed tables: read the maps back and restore them. */
void manager_feeds_repair(struct manager *m)
{
	struct manager_feeds *F = m->feeds;

	if (!F || !F->n)
		return;
	if (F->busy) {
		F->again = true;
		return;
	}
	job_abort(F);
	F->kernel_known = false;
	F->tables = false;
	if (manager_feeds_apply(m) < 0)
		log_error("feeds: cannot restore tables ip/ip6 %s", ZT_TABLE_NAME);
}

void manager_feeds_free(struct manager *m)
{
	struct manager_feeds *F = m->feeds;

	if (!F)
		return;
	job_abort(F);
	cut_free(F->cut);
	if (F->reaping)
		pthread_join(F->reap_thread, NULL);
	if (F->reap)
		reap_free(F->reap);
	sd_event_source_disable_unref(F->src_retry);
	sd_event_source_unref(F->src_ino);
	sd_event_source_unref(F->src_work);
	sd_event_source_unref(F->src_job);
	if (F->ino_fd >= 0)
		close(F->ino_fd);
	if (F->job_fd >= 0)
		close(F->job_fd);
	if (F->nl) {
		zt_nl_close(F->nl);
		free(F->nl);
	}
	feed_st_free(F->v, F->n);
	for (size_t s = 0; s < N_MAPS; s++) {
		zt_fset_clear(&F->cur[s]);
		zt_fset_clear(&F->want[s]);
	}
	for (size_t k = 0; k < N_STEPS; k++)
		zt_fdiff_clear(&F->df[k]);
	free(F->names);
	free(F->except);
	free(F->gone);
	free(F);
	m->feeds = NULL;
}
