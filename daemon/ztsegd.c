/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd: load the policy, compile it and apply it to the kernel; then,
 * as a daemon, keep it right as workloads come and go (ztsegd-loop.c).
 * --oneshot, --check and --remove do one step and exit.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "apply.h"
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

static int oneshot_apply(struct manager *m)
{
	struct zt_apply_opts o = manager_apply_opts(m, m->cur.policy);
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	struct timespec t0;
	int r;

	r = zt_nft_open(&m->nft);
	if (r < 0) {
		fprintf(stderr, "ztsegd: cannot open a netfilter netlink socket: %s\n", strerror(-r));
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = zt_apply(m->nft, m->cur.plan, &o, &st, &d);
	zt_diags_sort(&d);
	diags_print(m, &d);
	zt_diags_clear(&d);
	if (r < 0) {
		if (r != -EINVAL && r != -EPERM && r != -EMSGSIZE)
			fprintf(stderr, "ztsegd: applying table inet %s failed: %s\n", ZT_TABLE_NAME, strerror(-r));
		return r;
	}
	printf("ztsegd: applied table inet %s: %zu objects, %s %zu, %zu messages (%zu bytes) in %.1f ms%s\n",
	       ZT_TABLE_NAME, st.objects,
	       st.created ? "created" : st.replaced ? "replaced" : "changed", st.changed, st.messages, st.bytes,
	       ms_since(&t0), st.persist ? "" : " (table not owned: kernel without persist, or --no-owner)");
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
