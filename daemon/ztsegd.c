/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd: load the policy, compile it and apply it to the kernel. For now
 * the one-shot modes (--oneshot, --check, --remove); the long-running
 * daemon will run the same load → compile → apply path from its loop.
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

#define DEFAULT_CONFIG "/etc/ztseg"
#define DEFAULT_STATE_DIR "/var/lib/ztseg"

enum log_level { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

static const char *const log_levels[] = {
	[LOG_ERR] = "err",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

enum mode { MODE_NONE, MODE_ONESHOT, MODE_CHECK, MODE_REMOVE };

/* What the daemon knows; the same object will carry its loop, sockets and state. */
struct manager {
	const char *config;
	const char *state_dir;
	enum log_level log_level;
	struct zt_compile_opts copts;
	char kinds_buf[256];
	const char *kinds[ZT_ENC_KINDS_MAX];
	size_t n_kinds;			/* 0: the default trusted kinds */

	struct zt_policy *policy;
	struct zt_plan *plan;
	struct zt_nft *nft;		/* the owning socket; kept open by the daemon */
};

static void manager_clear(struct manager *m)
{
	m->plan = zt_plan_free(m->plan);
	m->policy = zt_policy_free(m->policy);
	m->nft = zt_nft_close(m->nft);
}

/* Diagnostics name files relative to the config dir; print paths the user can open. */
static void diags_print(const struct manager *m, const struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct zt_diag dg = d->v[i];
		char *path = NULL;

		if (dg.sev == ZT_SEV_WARNING && m->log_level < LOG_WARNING)
			continue;
		if (dg.file && dg.file[0] != '/' && asprintf(&path, "%s/%s", m->config, dg.file) >= 0)
			dg.file = path;
		zt_diag_print(&dg, stderr);
		free(path);
	}
	if (d->truncated)
		fprintf(stderr, "ztsegd: too many diagnostics, %zu not shown\n", d->n_errors + d->n_warnings - d->n);
}

/* Load and compile the policy: every diagnostic printed, the plan kept in m. */
static int manager_load(struct manager *m)
{
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	struct zt_plan *plan = NULL;
	int r;

	r = zt_policy_load_dir(m->config, NULL, getuid(), &p, &d);
	if (r >= 0)
		r = zt_compile(p, &m->copts, &plan, &d);
	zt_diags_sort(&d);
	diags_print(m, &d);
	if (r < 0 && (r != -EINVAL || d.n_errors == 0))
		fprintf(stderr, "ztsegd: %s: cannot load the policy: %s\n", m->config, strerror(-r));
	zt_diags_clear(&d);
	if (r < 0) {
		zt_plan_free(plan);
		zt_policy_free(p);
		return r;
	}
	zt_plan_free(m->plan);
	zt_policy_free(m->policy);
	m->policy = p;
	m->plan = plan;
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Apply m->plan through the owning socket (opened on first use). */
static int manager_apply(struct manager *m)
{
	struct zt_apply_opts o = {
		.enc_pats = m->policy->hub.enc_ifs,
		.n_enc_pats = m->policy->hub.n_enc_ifs,
		.enc_kinds = m->n_kinds ? m->kinds : NULL,
		.n_enc_kinds = m->n_kinds,
	};
	struct zt_apply_stats st = {};
	struct zt_diags d = {};
	struct timespec t0;
	int r;

	if (!m->nft) {
		r = zt_nft_open(&m->nft);
		if (r < 0) {
			fprintf(stderr, "ztsegd: cannot open a netfilter netlink socket: %s\n", strerror(-r));
			return r;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = zt_apply(m->nft, m->plan, &o, &st, &d);
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
	       ms_since(&t0), st.persist ? "" : " (kernel without persist: table not owned)");
	return 0;
}

static int manager_remove(struct manager *m)
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
	printf("Usage: ztsegd [OPTIONS] --oneshot | --check | --remove\n"
	       "       ztsegd --version | --help\n"
	       "\n"
	       "Zero Trust segmentation: compile /etc/ztseg into the nftables table inet %s.\n"
	       "\n"
	       "Modes:\n"
	       "  --oneshot               load, compile and apply the policy, then exit\n"
	       "  --check                 load and compile the policy only\n"
	       "  --remove                delete table inet %s\n"
	       "\n"
	       "Options:\n"
	       "  --config DIR            policy directory (default %s)\n"
	       "  --state-dir DIR         state directory (default %s)\n"
	       "  --log-level LEVEL       err, warning, notice, info or debug (default notice)\n"
	       "  --nflog-group N         NFLOG group of logged packets (default %u)\n"
	       "  --encrypting-kinds LIST link kinds that encrypt (default %s)\n",
	       ZT_TABLE_NAME, ZT_TABLE_NAME, DEFAULT_CONFIG, DEFAULT_STATE_DIR, ZT_COMPILE_OPTS_DEFAULT.log_group,
	       ZT_ENC_KINDS_DEFAULT);
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

enum { ARG_CONFIG = 0x100, ARG_STATE_DIR, ARG_LOG_LEVEL, ARG_NFLOG_GROUP, ARG_KINDS, ARG_ONESHOT, ARG_CHECK,
       ARG_REMOVE, ARG_VERSION };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "nflog-group", required_argument, NULL, ARG_NFLOG_GROUP },
		{ "encrypting-kinds", required_argument, NULL, ARG_KINDS },
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
		.log_level = LOG_NOTICE,
		.copts = ZT_COMPILE_OPTS_DEFAULT,
	};
	enum mode mode = MODE_NONE;
	unsigned long v;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		enum mode set = MODE_NONE;

		switch (c) {
		case ARG_CONFIG:
			m.config = optarg;
			break;
		case ARG_STATE_DIR:
			m.state_dir = optarg;
			break;
		case ARG_LOG_LEVEL: {
			bool found = false;

			for (size_t i = 0; i < ELEMENTSOF(log_levels); i++)
				if (streq(optarg, log_levels[i])) {
					m.log_level = (enum log_level)i;
					found = true;
				}
			if (!found) {
				fprintf(stderr, "ztsegd: --log-level: unknown level '%s' (err, warning, notice, info, debug)\n",
					optarg);
				return 2;
			}
			break;
		}
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
			     (r = zt_enc_kinds_parse(m.kinds_buf, m.kinds, ELEMENTSOF(m.kinds))) < 0)) {
				fprintf(stderr, "ztsegd: --encrypting-kinds: expected link kinds separated by commas "
					"(e.g. %s), not '%s'\n", ZT_ENC_KINDS_DEFAULT, optarg);
				return 2;
			}
			m.n_kinds = (size_t)r;
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
		if (set != MODE_NONE) {
			if (mode != MODE_NONE && mode != set) {
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
	if (mode == MODE_NONE) {
		/* The long-running daemon comes with the event loop; say so rather than pretend. */
		fprintf(stderr, "ztsegd: choose --oneshot, --check or --remove (the daemon mode is not there yet)\n"
			"Try 'ztsegd --help'.\n");
		return 2;
	}

	switch (mode) {
	case MODE_CHECK:
		r = manager_load(&m);
		if (r >= 0)
			printf("ztsegd: %s: policy valid\n", m.config);
		break;
	case MODE_ONESHOT:
		r = manager_load(&m);
		if (r >= 0)
			r = manager_apply(&m);
		break;
	case MODE_REMOVE:
		r = manager_remove(&m);
		break;
	default:
		r = -EINVAL;
		break;
	}
	manager_clear(&m);
	return r < 0 ? 1 : 0;
}
