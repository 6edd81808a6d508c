/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd: load the policy, compile it and apply it to the kernel; then,
 * as a daemon, keep it right as workloads come and go (ztsegd-loop.c).
 * --oneshot, --check and --remove do one step and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "apply.h"
#include "lkg.h"
#include "plan.h"
#include "policy.h"
#include "version.h"
#include "ztsegd.h"

enum mode { MODE_DAEMON, MODE_ONESHOT, MODE_CHECK, MODE_REMOVE };

void loaded_clear(struct loaded *l)
{
	l->plan = zt_plan_free(l->plan);
	l->policy = zt_policy_free(l->policy);
	zt_policy_files_clear(&l->files);
}

int diags_under(const char *dir, struct zt_diags *d)
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

int manager_load_files(const struct manager *m, struct zt_policy_files *files, struct loaded *ret,
		       struct zt_diags *d)
{
	struct loaded l = { .files = *files };
	int r;

	*files = (struct zt_policy_files){};
	r = zt_policy_load_sources(l.files.src, l.files.n, NULL, &l.policy, d);
	if (r >= 0)
		r = zt_compile(l.policy, &m->copts, &l.plan, d);
	if (r < 0) {
		loaded_clear(&l);
		return r;
	}
	*ret = l;
	return 0;
}

int manager_load_dir(const struct manager *m, const char *dir, struct loaded *ret, struct zt_diags *d)
{
	struct zt_policy_files files = {};
	int r;

	/* The files' owner may be root or the daemon's own user. */
	r = zt_policy_read_dir(dir, NULL, getuid(), &files, d);
	if (r < 0)
		return r;
	return manager_load_files(m, &files, ret, d);
}

struct zt_apply_opts manager_apply_opts(const struct manager *m, const struct zt_policy *p)
{
	return (struct zt_apply_opts){
		.enc_pats = p->hub.enc_ifs,
		.n_enc_pats = p->hub.n_enc_ifs,
		.enc_kinds = m->n_kinds ? m->kinds : NULL,
		.n_enc_kinds = m->n_kinds,
		.unowned = m->unowned,
	};
}

/* Diagnostics as files the user can open; warnings only at warning level and above. */
static void diags_print(const struct manager *m, struct zt_diags *d)
{
	diags_under(m->config, d);
	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].sev == ZT_SEV_WARNING && m->log_level < LOG_WARNING)
			continue;
		zt_diag_print(&d->v[i], stderr);
	}
	if (d->truncated)
		fprintf(stderr, "ztsegd: too many diagnostics, %zu not shown\n", d->n_errors + d->n_warnings - d->n);
}

/* Load and compile the policy: every diagnostic printed, the result kept in m. */
static int oneshot_load(struct manager *m)
{
	struct zt_diags d = {};
	int r;

	r = manager_load_dir(m, m->config, &m->cur, &d);
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
		r = manager_load_files(m, &files, ret, &d);
		why = NULL;
	}
	zt_policy_files_clear(&files);
	zt_diags_clear(&d);
	if (r < 0 && r != -ENOENT && why)
		fprintf(stderr, "ztsegd: ignoring %s/%s: %s; comparing with the table instead\n", m->state_dir,
			APPLIED_POLICY_FILE, why);
	return r;
}

static int oneshot_apply(struct manager *m)
{
	struct zt_apply_opts o = manager_apply_opts(m, m->cur.policy);
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
	loaded_clear(&old);
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
	printf("ztsegd: applied table inet %s: %zu objects, %s %zu, %zu messages (%zu bytes) in %.1f ms%s%s%s\n",
	       ZT_TABLE_NAME, st.objects,
	       st.created ? "created" : st.replaced ? "replaced" : "changed", st.changed, st.messages, st.bytes,
	       ms_since(&t0), st.path == ZT_APPLY_DIGEST ? " (unchanged since our last apply: nothing sent)" :
	       st.path == ZT_APPLY_DUMP ? " (compared with the table read back)" :
	       st.path == ZT_APPLY_PLAN ? " (compared with the plan applied last)" : "",
	       st.persist ? "" : " (table not owned: kernel without persist, or --no-owner)",
	       st.restarts ? " (the ruleset changed meanwhile: applied again)" : "");
	return 0;
}

static int oneshot_remove(struct manager *m)
{
	struct zt_diags d = {};
	int r;

	r = zt_nft_open(&m->nft);
	if (r < 0) {
		fprintf(stderr, "ztsegd: cannot open a netfilter netlink socket: %s\n", strerror(-r));
		return r;
	}
	r = zt_apply_remove(m->nft, &d);
	diags_print(m, &d);
	zt_diags_clear(&d);
	if (r == -ENOENT) {
		printf("ztsegd: no table inet %s to remove\n", ZT_TABLE_NAME);
		return 0;
	}
	if (r < 0) {
		if (r != -EPERM)
			fprintf(stderr, "ztsegd: removing table inet %s failed: %s\n", ZT_TABLE_NAME, strerror(-r));
		return r;
	}
	printf("ztsegd: removed table inet %s\n", ZT_TABLE_NAME);
	return 0;
}

static void help(void)
{
	printf("Usage: ztsegd [OPTIONS]                 run the daemon (in the foreground)\n"
	       "       ztsegd [OPTIONS] --oneshot | --check | --remove\n"
	       "       ztsegd --version | --help\n"
	       "\n"
	       "Zero Trust segmentation: compile /etc/ztseg into the nftables table inet %s\n"
	       "and keep it right as workloads come, go and move.\n"
	       "\n"
	       "Modes:\n"
	       "  --oneshot               load, compile and apply the policy, then exit\n"
	       "  --check                 load and compile the policy only\n"
	       "  --remove                delete table inet %s\n"
	       "\n"
	       "Options:\n"
	       "  --config DIR            policy directory (default %s)\n"
	       "  --state-dir DIR         state directory (default %s)\n"
	       "  --socket PATH           control socket (default %s)\n"
	       "  --socket-group GROUP    group of the control socket (default %s)\n"
	       "  --log-level LEVEL       err, warning, notice, info or debug (default notice)\n"
	       "  --nflog-group N         NFLOG group of logged packets (default %u)\n"
	       "  --encrypting-kinds LIST link kinds that encrypt (default %s)\n"
	       "  --rcvbuf BYTES          rtnetlink receive buffer (default %zu)\n"
	       "  --no-owner              leave the table without an owner (as on kernels\n"
	       "                          before 6.9); tampering is then repaired, not refused\n",
	       ZT_TABLE_NAME, ZT_TABLE_NAME, DEFAULT_CONFIG, DEFAULT_STATE_DIR, ZT_CTL_DEFAULT_SOCKET,
	       ZT_CTL_SOCKET_GROUP, ZT_COMPILE_OPTS_DEFAULT.log_group, ZT_ENC_KINDS_DEFAULT,
	       ZT_RTNL_RCVBUF_DEFAULT);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

enum { ARG_CONFIG = 0x100, ARG_STATE_DIR, ARG_SOCKET, ARG_SOCKET_GROUP, ARG_LOG_LEVEL, ARG_NFLOG_GROUP,
       ARG_KINDS, ARG_RCVBUF, ARG_NO_OWNER, ARG_ONESHOT, ARG_CHECK, ARG_REMOVE, ARG_VERSION };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "nflog-group", required_argument, NULL, ARG_NFLOG_GROUP },
		{ "encrypting-kinds", required_argument, NULL, ARG_KINDS },
		{ "rcvbuf", required_argument, NULL, ARG_RCVBUF },
		{ "no-owner", no_argument, NULL, ARG_NO_OWNER },
		{ "oneshot", no_argument, NULL, ARG_ONESHOT },
		{ "check", no_argument, NULL, ARG_CHECK },
		{ "remove", no_argument, NULL, ARG_REMOVE },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct manager m = {
		.config = DEFAULT_CONFIG,
		.state_dir = DEFAULT_STATE_DIR,
		.socket_path = ZT_CTL_DEFAULT_SOCKET,
		.socket_group = ZT_CTL_SOCKET_GROUP,
		.log_level = LOG_NOTICE,
		.copts = ZT_COMPILE_OPTS_DEFAULT,
	};
	enum mode mode = MODE_DAEMON;
	unsigned long v;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		enum mode set = MODE_DAEMON;

		switch (c) {
		case ARG_CONFIG:
			m.config = optarg;
			break;
		case ARG_STATE_DIR:
			m.state_dir = optarg;
			break;
		case ARG_SOCKET:
			if (!*optarg || strlen(optarg) >= 108) {
				fprintf(stderr, "ztsegd: --socket: expected a path of at most 107 bytes\n");
				return 2;
			}
			m.socket_path = optarg;
			break;
		case ARG_SOCKET_GROUP:
			m.socket_group = optarg;
			break;
		case ARG_LOG_LEVEL:
			r = log_level_parse(optarg);
			if (r < 0) {
				fprintf(stderr, "ztsegd: --log-level: unknown level '%s' (err, warning, notice, info, debug)\n",
					optarg);
				return 2;
			}
			m.log_level = r;
			break;
		case ARG_NFLOG_GROUP:
			if (parse_uint(optarg, 65535, &v) < 0) {
				fprintf(stderr, "ztsegd: --nflog-group: expected a number 0-65535, not '%s'\n", optarg);
				return 2;
			}
			m.copts.log_group = (unsigned)v;
			break;
		case ARG_KINDS:
			if (strlen(optarg) >= sizeof(m.kinds_buf) ||
			    (snprintf(m.kinds_buf, sizeof(m.kinds_buf), "%s", optarg),
			     (r = zt_enc_kinds_parse(m.kinds_buf, m.kinds, ZT_ENC_KINDS_MAX)) < 0)) {
				fprintf(stderr, "ztsegd: --encrypting-kinds: expected link kinds separated by commas "
					"(e.g. %s), not '%s'\n", ZT_ENC_KINDS_DEFAULT, optarg);
				return 2;
			}
			m.n_kinds = (size_t)r;
			break;
		case ARG_RCVBUF:
			/* Small enough to force overruns in tests; at most 1 GiB. */
			if (parse_uint(optarg, 1ul << 30, &v) < 0 || v < 4096) {
				fprintf(stderr, "ztsegd: --rcvbuf: expected a number of bytes 4096-1073741824, not '%s'\n",
					optarg);
				return 2;
			}
			m.rcvbuf = v;
			break;
		case ARG_NO_OWNER:
			m.unowned = true;
			break;
		case ARG_ONESHOT:
			set = MODE_ONESHOT;
			break;
		case ARG_CHECK:
			set = MODE_CHECK;
			break;
		case ARG_REMOVE:
			set = MODE_REMOVE;
			break;
		case ARG_VERSION:
			printf("ztsegd %s\n", ZTSEG_VERSION);
			return 0;
		case 'h':
			help();
			return 0;
		default:
			fprintf(stderr, "Try 'ztsegd --help'.\n");
			return 2;
		}
		if (set != MODE_DAEMON) {
			if (mode != MODE_DAEMON && mode != set) {
				fprintf(stderr, "ztsegd: --oneshot, --check and --remove exclude each other\n");
				return 2;
			}
			mode = set;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztsegd: unexpected argument '%s'\nTry 'ztsegd --help'.\n", argv[optind]);
		return 2;
	}

	switch (mode) {
	case MODE_DAEMON:
		log_setup(m.log_level);
		r = manager_run(&m);
		break;
	case MODE_CHECK:
		r = oneshot_load(&m);
		if (r >= 0)
			printf("ztsegd: %s: policy valid\n", m.config);
		break;
	case MODE_ONESHOT:
		r = oneshot_load(&m);
		if (r >= 0)
			r = oneshot_apply(&m);
		break;
	case MODE_REMOVE:
		r = oneshot_remove(&m);
		break;
	default:
		r = -EINVAL;
		break;
	}
	manager_clear(&m);
	return r < 0 ? 1 : 0;
}
