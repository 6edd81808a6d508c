/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd --oneshot, --check and --remove: one step, errors on stderr; and
 * what --oneshot keeps of what it applied last, so that the next one in
 * the same namespace need not read the table back.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "ztsegd.h"

static void diags_print(const struct manager *m, struct zt_diags *d)
{
	manager_policy_diags_under(m->config, d);
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].sev == ZT_SEV_WARNING && m->log_level < LOG_WARNING)
			continue;
		zt_diag_print(&d->v[i], stderr);
	}
	if (d->truncated)
		fprintf(stderr, "ztsegd: too many diagnostics, %zu not shown\n", d->n_errors + d->n_warnings - d->n);
}

/* Load and compile the policy: every diagnostic printed, the result kept in m. */
int manager_oneshot_load(struct manager *m)
{
	struct zt_diags d = {};
	int r;

	r = manager_policy_load_dir(m, m->config, &m->cur, &d);
	zt_diags_sort(&d);
	diags_print(m, &d);
	if (r < 0 && (r != -EINVAL || d.n_errors == 0))
		fprintf(stderr, "ztsegd: %s: cannot load the policy: %s\n", m->config, strerror(-r));
	zt_diags_clear(&d);
	return r;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * ---- what --oneshot applied last (STATE_DIR/applied, applied-policy) ----
 *
 * Written atomically after every successful --oneshot: the network
 * namespace (boot id and SO_NETNS_COOKIE: never reused while the system
 * runs), the generation id the kernel reported after our commit, the
 * digest of what was applied and the seed it was made from (this
 * program, the compile options, the policy's files: plan_seed()), and
 * those files themselves (applied-policy, a last-known-good bundle).
 *
 * The next --oneshot in the same namespace that finds the kernel still at
 * that generation (nobody committed anything since) knows the table is
 * exactly what it applied: the same digest, nothing to send; another
 * policy, the files recompiled (when they still give the recorded seed)
 * and the two plans compared, without reading the table back. Anything
 * else (another namespace, any foreign commit) compares with the table.
 * The files are read as hostile input.
 */
#define APPLIED_FILE "applied"
#define APPLIED_POLICY_FILE "applied-policy"
#define APPLIED_MAGIC "ztseg applied 2\n"
#define APPLIED_MAX 512
#define BOOT_ID_LEN 36

struct applied_state {
	char boot[BOOT_ID_LEN + 1];
	uint64_t netns;
	uint32_t genid;
	uint8_t digest[ZT_APPLY_DIGEST_LEN];
	uint8_t seed[ZT_APPLY_DIGEST_LEN];
};

static int boot_id_read(char out[BOOT_ID_LEN + 1])
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	char buf[BOOT_ID_LEN + 2];
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	if (n != BOOT_ID_LEN + 1 || buf[BOOT_ID_LEN] != '\n')
		return -EBADMSG;
	memcpy(out, buf, BOOT_ID_LEN);
	out[BOOT_ID_LEN] = '\0';
	return 0;
}

/* Where we are: the boot and the namespace the socket lives in. */
static int applied_here(struct zt_nft *n, struct applied_state *ret)
{
	int r = boot_id_read(ret->boot);

	if (r >= 0)
		r = zt_nft_netns_cookie(n, &ret->netns);
	return r;
}

/* "KEY VALUE\n" at *p with VALUE of 1..max characters from set; advances *p. */
static const char *field_take(const char **p, const char *end, const char *key, const char *set, size_t max,
			      size_t *ret_len)
{
	size_t kl = strlen(key), len = 0;
	const char *v;

	if ((size_t)(end - *p) < kl + 1 || memcmp(*p, key, kl) != 0 || (*p)[kl] != ' ')
		return NULL;
	v = *p + kl + 1;
	while (v + len < end && len <= max && v[len] && strchr(set, v[len]))
		len++;
	if (len == 0 || len > max || v + len >= end || v[len] != '\n')
		return NULL;
	*p = v + len + 1;
	*ret_len = len;
	return v;
}

static int dec_parse(const char *v, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t x = 0;

	/* No sign, no leading zeros, no overflow. */
	if (len > 1 && v[0] == '0')
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (x > (max - (uint64_t)(v[i] - '0')) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*ret = x;
	return 0;
}

static bool hex_take(const char **p, const char *end, const char *key, uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	size_t l;
	const char *v = field_take(p, end, key, "0123456789abcdef", 2 * ZT_APPLY_DIGEST_LEN, &l);

	if (!v || l != 2 * ZT_APPLY_DIGEST_LEN)
		return false;
	for (size_t i = 0; i < ZT_APPLY_DIGEST_LEN; i++) {
		unsigned hi = (unsigned)(v[2 * i] <= '9' ? v[2 * i] - '0' : v[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(v[2 * i + 1] <= '9' ? v[2 * i + 1] - '0' : v[2 * i + 1] - 'a' + 10);

		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Pure: the file's bytes. -EBADMSG with *why saying what is wrong. */
static int applied_parse(const char *buf, size_t len, struct applied_state *ret, const char **why)
{
	const char *p = buf, *end = buf + len, *v;
	struct applied_state s = {};
	uint64_t x;
	size_t l;

	*why = "not a ztseg state file (first line)";
	if (len < strlen(APPLIED_MAGIC) || memcmp(buf, APPLIED_MAGIC, strlen(APPLIED_MAGIC)) != 0)
		return -EBADMSG;
	p += strlen(APPLIED_MAGIC);
	*why = "line 2: expected \"boot <boot id>\"";
	v = field_take(&p, end, "boot", "0123456789abcdef-", BOOT_ID_LEN, &l);
	if (!v || l != BOOT_ID_LEN)
		return -EBADMSG;
	memcpy(s.boot, v, l);
	*why = "line 3: expected \"netns <cookie>\"";
	v = field_take(&p, end, "netns", "0123456789", 20, &l);
	if (!v || dec_parse(v, l, UINT64_MAX, &s.netns) < 0 || s.netns == 0)
		return -EBADMSG;
	*why = "line 4: expected \"genid <1..4294967295>\"";
	v = field_take(&p, end, "genid", "0123456789", 10, &l);
	if (!v || dec_parse(v, l, UINT32_MAX, &x) < 0 || x == 0)
		return -EBADMSG;
	s.genid = (uint32_t)x;
	*why = "line 5: expected \"digest <64 hex digits>\"";
	if (!hex_take(&p, end, "digest", s.digest))
		return -EBADMSG;
	*why = "line 6: expected \"seed <64 hex digits>\"";
	if (!hex_take(&p, end, "seed", s.seed))
		return -EBADMSG;
	*why = "trailing bytes after the seed";
	if (p != end)
		return -EBADMSG;
	*why = NULL;
	*ret = s;
	return 0;
}

/* DIR/applied, well formed; errors are printed (the apply then compares with the table). */
static int applied_load(const char *dir, struct applied_state *ret)
{
	_cleanup_free_ char *buf = NULL;
	const char *why = NULL;
	size_t len = 0;
	int r;

	r = zt_state_read(dir, APPLIED_FILE, APPLIED_MAX, getuid(), &buf, &len, &why);
	if (r == -ENOENT)
		return r;
	if (r >= 0)
		r = applied_parse(buf, len, ret, &why);
	if (r < 0)
		fprintf(stderr, "ztsegd: ignoring %s/%s: %s; comparing with the table instead\n", dir, APPLIED_FILE,
			r == -EFBIG && streq(why, "too large") ? "larger than 512 bytes" : why);
	return r;
}

static int applied_save(const char *dir, const struct applied_state *s)
{
	char buf[APPLIED_MAX];
	int len;

	len = snprintf(buf, sizeof(buf), APPLIED_MAGIC "boot %s\nnetns %" PRIu64 "\ngenid %" PRIu32 "\ndigest ",
		       s->boot, s->netns, s->genid);
	if (len < 0 || (size_t)len + 4 * ZT_APPLY_DIGEST_LEN + 8 >= sizeof(buf))
		return -EINVAL;
	for (size_t i = 0; i < ZT_APPLY_DIGEST_LEN; i++)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "%02x", s->digest[i]);
	len += snprintf(buf + len, sizeof(buf) - (size_t)len, "\nseed ");
	for (size_t i = 0; i < ZT_APPLY_DIGEST_LEN; i++)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "%02x", s->seed[i]);
	buf[len++] = '\n';
	return zt_write_atomic(dir, APPLIED_FILE, buf, (size_t)len);
}

static void applied_forget(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0)
		unlinkat(dfd, APPLIED_FILE, 0);
}

/*
 * What a plan is a function of: this program (its executable's bytes),
 * the compile options and the policy's files, names and bytes.
 */
static int plan_seed(const struct manager *m, const struct zt_policy_files *files,
		     uint8_t out[ZT_APPLY_DIGEST_LEN])
{
	static const char tag[16] = "ztseg plan 1";
	_cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *exe = NULL, *buf = NULL;
	const uint32_t opts[] = { m->copts.log_group, m->copts.log_rate, m->copts.log_burst };
	size_t len = sizeof(tag) + ZT_APPLY_DIGEST_LEN + sizeof(opts), at = 0, got = 0;
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > (1 << 30))
		return -EBADF;
	exe = malloc((size_t)st.st_size);
	if (!exe)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, exe + got, (size_t)st.st_size - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	for (size_t i = 0; i < files->n; i++)
		len += strlen(files->src[i].name) + 1 + 8 + files->src[i].len;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, tag, sizeof(tag));
	at = sizeof(tag);
	zt_sha256(exe, got, buf + at);
	at += ZT_APPLY_DIGEST_LEN;
	for (size_t i = 0; i < ELEMENTSOF(opts); i++)
		for (unsigned b = 0; b < 4; b++)
			buf[at++] = (uint8_t)(opts[i] >> (24 - 8 * b));
	for (size_t i = 0; i < files->n; i++) {
		const struct zt_source *src = &files->src[i];
		size_t nl = strlen(src->name) + 1;

		memcpy(buf + at, src->name, nl);
		at += nl;
		for (unsigned b = 0; b < 8; b++)
			buf[at++] = (uint8_t)((uint64_t)src->len >> (56 - 8 * b));
		memcpy(buf + at, src->buf, src->len);
		at += src->len;
	}
	zt_sha256(buf, at, out);
	return 0;
}

/*
 * The policy applied last, compiled again: only when its files still give
 * the recorded seed (the same files, options and program), so that the
 * plan is the one applied. Quietly nothing otherwise (the table is read).
 */
static int applied_plan(const struct manager *m, const struct applied_state *prev, struct loaded *ret)
{
	const struct zt_limits lim = ZT_LIMITS_DEFAULT;
	struct zt_policy_files files = {};
	_cleanup_free_ char *buf = NULL;
	struct zt_diags d = {};
	uint8_t seed[ZT_APPLY_DIGEST_LEN];
	const char *why = NULL;
	size_t len = 0, max = lim.max_total_size + (lim.max_files + 2) * (size_t)4096 + 64;
	int r;

	r = zt_state_read(m->state_dir, APPLIED_POLICY_FILE, max, getuid(), &buf, &len, &why);
	if (r >= 0) {
		r = zt_lkg_decode(buf, len, NULL, &files);
		why = r < 0 ? "not a well-formed policy bundle" : NULL;
	}
	if (r >= 0)
		r = plan_seed(m, &files, seed);
	/* Not what was applied (or another program): not a reason to complain, just to read the table. */
	if (r >= 0 && memcmp(seed, prev->seed, sizeof(seed)) != 0) {
		r = -ESTALE;
		why = NULL;
	}
	if (r >= 0) {
		r = manager_policy_load_files(m, &files, ret, &d);
		why = NULL;
	}
	zt_policy_files_clear(&files);
	zt_diags_clear(&d);
	if (r < 0 && r != -ENOENT && why)
		fprintf(stderr, "ztsegd: ignoring %s/%s: %s; comparing with the table instead\n", m->state_dir,
			APPLIED_POLICY_FILE, why);
	return r;
}

int manager_oneshot_apply(struct manager *m)
{
	struct zt_apply_opts o = manager_policy_apply_opts(m, m->cur.policy);
	struct zt_apply_stats st = {};
	struct applied_state here = {}, prev = {};
	struct loaded old = {};
	struct zt_diags d = {};
	struct timespec t0;
	bool located, have_prev = false;
	uint32_t genid;
	int r;

	r = zt_nft_open(&m->nft);
	if (r < 0) {
		fprintf(stderr, "ztsegd: cannot open a netfilter netlink socket: %s\n", strerror(-r));
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Without a boot id or namespace cookie (kernel < 5.14) there is no state to trust. */
	located = applied_here(m->nft, &here) >= 0 && plan_seed(m, &m->cur.files, here.seed) >= 0;
	if (located && applied_load(m->state_dir, &prev) >= 0 && streq(prev.boot, here.boot) &&
	    prev.netns == here.netns) {
		have_prev = true;
		o.prev_genid = prev.genid;
		o.prev_digest = prev.digest;
	}
	/* Another policy, and nothing committed since ours: compare the plans. */
	if (have_prev && memcmp(prev.seed, here.seed, sizeof(here.seed)) != 0 &&
	    zt_nft_genid_read(m->nft, &genid) >= 0 && genid == prev.genid && applied_plan(m, &prev, &old) >= 0) {
		o.prev_plan = old.plan;
		o.refill_filled = true;
	}
	o.want_digest = located;
	o.digest_seed = located ? here.seed : NULL;
	r = zt_apply(m->nft, m->cur.plan, &o, &st, &d);
	manager_policy_clear(&old);
	zt_diags_sort(&d);
	diags_print(m, &d);
	zt_diags_clear(&d);
	if (r < 0) {
		if (located)
			applied_forget(m->state_dir);
		if (r != -EINVAL && r != -EPERM && r != -EMSGSIZE)
			fprintf(stderr, "ztsegd: applying table inet %s failed: %s\n", ZT_TABLE_NAME, strerror(-r));
		return r;
	}
	if (located && st.genid && st.have_digest) {
		_cleanup_free_ char *bundle = NULL;
		size_t blen = 0;

		here.genid = st.genid;
		memcpy(here.digest, st.digest, sizeof(here.digest));
		/* The files first: a record names only what is there. */
		r = 0;
		if (!have_prev || memcmp(prev.seed, here.seed, sizeof(here.seed)) != 0) {
			r = zt_lkg_encode(m->cur.files.src, m->cur.files.n, &bundle, &blen);
			if (r >= 0)
				r = zt_write_atomic(m->state_dir, APPLIED_POLICY_FILE, bundle, blen);
		}
		if (r >= 0)
			r = applied_save(m->state_dir, &here);
		if (r < 0) {
			applied_forget(m->state_dir);
			fprintf(stderr, "ztsegd: cannot record the applied generation in %s/%s: %s\n", m->state_dir,
				APPLIED_FILE, strerror(-r));
		}
	} else if (located) {
		/* Someone committed right after us: what we applied is not known to be there. */
		applied_forget(m->state_dir);
	}
	/* Unit zones: the cgroups there are now, once (no daemon follows them: new ones stay denied). */
	if ((r = manager_units_start(m)) < 0)
		fprintf(stderr, "ztsegd: cannot classify the cgroups for unit zones: %s\n", strerror(-r));
	printf("ztsegd: applied table inet %s: %zu objects, %s %zu, %zu messages (%zu bytes) in %.1f ms%s%s%s\n",
	       ZT_TABLE_NAME, st.objects,
	       st.created ? "created" : st.replaced ? "replaced" : "changed", st.changed, st.messages, st.bytes,
	       ms_since(&t0), st.path == ZT_APPLY_DIGEST ? " (unchanged since our last apply: nothing sent)" :
	       st.path == ZT_APPLY_DUMP ? " (compared with the table read back)" :
	       st.path == ZT_APPLY_PLAN ? " (compared with the plan applied last)" : "",
	       st.persist ? "" : " (table not owned: kernel without persist, or --no-owner)",
	       st.restarts ? " (the ruleset changed meanwhile: applied again)" : "");
	if (st.bridge_sent)
		printf("ztsegd: %s table bridge %s (it is not read back: written whole whenever it may differ)\n",
		       st.bridge_written ? "wrote" : "deleted", ZT_TABLE_NAME);
	/* MACs of member ports pinned from the bridges' static FDB entries, once */
	if ((r = manager_fdb_oneshot(m)) < 0)
		fprintf(stderr, "ztsegd: cannot pin bridge port MACs from the FDB: %s\n", strerror(-r));
	return 0;
}

int manager_oneshot_remove(struct manager *m)
{
	struct zt_diags d = {};
	bool said;
	int r;

	r = zt_nft_open(&m->nft);
	if (r < 0) {
		fprintf(stderr, "ztsegd: cannot open a netfilter netlink socket: %s\n", strerror(-r));
		return r;
	}
	r = zt_apply_remove(m->nft, &d);
	said = d.n > 0;
	diags_print(m, &d);
	zt_diags_clear(&d);
	if (r == -ENOENT) {
		printf("ztsegd: no table inet %s to remove\n", ZT_TABLE_NAME);
		return 0;
	}
	/* -EPERM with a diagnostic: the table's owner refused; without one, we lack CAP_NET_ADMIN. */
	if (r < 0 && (r != -EPERM || !said))
		fprintf(stderr, "ztsegd: removing table inet %s failed: %s%s\n", ZT_TABLE_NAME, strerror(-r),
			r == -EPERM ? " (CAP_NET_ADMIN is needed)" : "");
	if (r < 0)
		return r;
	manager_grant_remove_state(m);
	printf("ztsegd: removed table inet %s\n", ZT_TABLE_NAME);
	return 0;
}
