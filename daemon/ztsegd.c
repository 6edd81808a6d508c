/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd: load the policy, compile it and apply it to the kernel; then,
 * as a daemon, keep it right as workloads come and go (the manager,
 * ztsegd-manager.c). --oneshot, --check and --remove do one step and exit
 * (ztsegd-oneshot.c).
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "version.h"
#include "ztsegd.h"

enum mode { MODE_DAEMON, MODE_ONESHOT, MODE_CHECK, MODE_REMOVE };

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
	       "  --feeds-dir DIR         where ztseg-feeds.service puts url: feeds (default %s)\n"
	       "  --socket PATH           control socket (default %s)\n"
	       "  --socket-group GROUP    group of the control socket (default %s)\n"
	       "  --log-level LEVEL       err, warning, notice, info or debug (default notice)\n"
	       "  --nflog-group N         NFLOG group of logged packets (default %u)\n"
	       "  --encrypting-kinds LIST link kinds that encrypt (default %s)\n"
	       "  --rcvbuf BYTES          rtnetlink receive buffer (default %zu)\n"
	       "  --conntrack-index yes|no  find a move's connections in an index kept from\n"
	       "                          conntrack events (default yes); no: walk the table\n"
	       "  --conntrack-rcvbuf BYTES  its conntrack event receive buffer (default %d)\n"
	       "  --no-owner              leave the table without an owner (as on kernels\n"
	       "                          before 6.9); tampering is then repaired, not refused\n",
	       ZT_TABLE_NAME, ZT_TABLE_NAME, DEFAULT_CONFIG, DEFAULT_STATE_DIR, DEFAULT_FEEDS_DIR, ZT_CTL_DEFAULT_SOCKET,
	       ZT_CTL_SOCKET_GROUP, ZT_COMPILE_OPTS_DEFAULT.log_group, ZT_ENC_KINDS_DEFAULT,
	       ZT_RTNL_RCVBUF_DEFAULT, ZT_CTEVENT_RCVBUF);
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

enum { ARG_CONFIG = 0x100, ARG_STATE_DIR, ARG_FEEDS_DIR, ARG_SOCKET, ARG_SOCKET_GROUP, ARG_LOG_LEVEL, ARG_NFLOG_GROUP,
       ARG_KINDS, ARG_RCVBUF, ARG_CT_INDEX, ARG_CT_RCVBUF, ARG_NO_OWNER, ARG_ONESHOT, ARG_CHECK, ARG_REMOVE, ARG_VERSION };


/* An option with a value (or --no-owner) into m: 0, or -EINVAL after saying why. */
static int parse_setting(int c, const char *arg, struct manager *m)
{
	unsigned long v;
	int r;

	switch (c) {
	case ARG_CONFIG:
		m->config = arg;
		break;
	case ARG_STATE_DIR:
		m->state_dir = arg;
		break;
	case ARG_FEEDS_DIR:
		if (arg[0] != '/' || strlen(arg) > 1024) {
			fprintf(stderr, "ztsegd: --feeds-dir: expected an absolute path\n");
			return -EINVAL;
		}
		m->feeds_dir = arg;
		break;
	case ARG_SOCKET:
		if (!*arg || strlen(arg) >= 108) {
			fprintf(stderr, "ztsegd: --socket: expected a path of at most 107 bytes\n");
			return -EINVAL;
		}
		m->socket_path = arg;
		break;
	case ARG_SOCKET_GROUP:
		m->socket_group = arg;
		break;
	case ARG_LOG_LEVEL:
		r = log_level_parse(arg);
		if (r < 0) {
			fprintf(stderr, "ztsegd: --log-level: unknown level '%s' (err, warning, notice, info, debug)\n",
				arg);
			return -EINVAL;
		}
		m->log_level = r;
		break;
	case ARG_NFLOG_GROUP:
		if (parse_uint(arg, 65535, &v) < 0) {
			fprintf(stderr, "ztsegd: --nflog-group: expected a number 0-65535, not '%s'\n", arg);
			return -EINVAL;
		}
		m->copts.log_group = (unsigned)v;
		break;
	case ARG_KINDS:
		if (strlen(arg) >= sizeof(m->kinds_buf) ||
		    (snprintf(m->kinds_buf, sizeof(m->kinds_buf), "%s", arg),
		     (r = zt_enc_kinds_parse(m->kinds_buf, m->kinds, ZT_ENC_KINDS_MAX)) < 0)) {
			fprintf(stderr, "ztsegd: --encrypting-kinds: expected link kinds separated by commas "
				"(e.g. %s), not '%s'\n", ZT_ENC_KINDS_DEFAULT, arg);
			return -EINVAL;
		}
		m->n_kinds = (size_t)r;
		break;
	case ARG_RCVBUF:
		/* Small enough to force overruns in tests; at most 1 GiB. */
		if (parse_uint(arg, 1ul << 30, &v) < 0 || v < 4096) {
			fprintf(stderr, "ztsegd: --rcvbuf: expected a number of bytes 4096-1073741824, not '%s'\n",
				arg);
			return -EINVAL;
		}
		m->rcvbuf = v;
		break;
	case ARG_CT_INDEX:
		if (!streq(arg, "yes") && !streq(arg, "no")) {
			fprintf(stderr, "ztsegd: --conntrack-index: expected yes or no, not '%s'\n", arg);
			return -EINVAL;
		}
		m->ctix_off = streq(arg, "no");
		break;
	case ARG_CT_RCVBUF:
		/* Small enough to force lost events in tests; at most 1 GiB. */
		if (parse_uint(arg, 1ul << 30, &v) < 0 || v < 4096) {
			fprintf(stderr, "ztsegd: --conntrack-rcvbuf: expected a number of bytes 4096-1073741824, "
				"not '%s'\n", arg);
			return -EINVAL;
		}
		m->ctix_rcvbuf = v;
		break;
	case ARG_NO_OWNER:
		m->unowned = true;
		break;
	default:
		fprintf(stderr, "Try 'ztsegd --help'.\n");
		return -EINVAL;
	}
	return 0;
}

/* The command line into m and *ret_mode: 1 to go on, 0 when done (--help, --version), -EINVAL. */
static int parse_argv(int argc, char **argv, struct manager *m, enum mode *ret_mode)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "feeds-dir", required_argument, NULL, ARG_FEEDS_DIR },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "socket-group", required_argument, NULL, ARG_SOCKET_GROUP },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "nflog-group", required_argument, NULL, ARG_NFLOG_GROUP },
		{ "encrypting-kinds", required_argument, NULL, ARG_KINDS },
		{ "rcvbuf", required_argument, NULL, ARG_RCVBUF },
		{ "conntrack-index", required_argument, NULL, ARG_CT_INDEX },
		{ "conntrack-rcvbuf", required_argument, NULL, ARG_CT_RCVBUF },
		{ "no-owner", no_argument, NULL, ARG_NO_OWNER },
		{ "oneshot", no_argument, NULL, ARG_ONESHOT },
		{ "check", no_argument, NULL, ARG_CHECK },
		{ "remove", no_argument, NULL, ARG_REMOVE },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	enum mode mode = MODE_DAEMON;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		enum mode set = MODE_DAEMON;

		switch (c) {
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
			if (parse_setting(c, optarg, m) < 0)
				return -EINVAL;
			break;
		}
		if (set != MODE_DAEMON) {
			if (mode != MODE_DAEMON && mode != set) {
				fprintf(stderr, "ztsegd: --oneshot, --check and --remove exclude each other\n");
				return -EINVAL;
			}
			mode = set;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ztsegd: unexpected argument '%s'\nTry 'ztsegd --help'.\n", argv[optind]);
		return -EINVAL;
	}
	*ret_mode = mode;
	return 1;
}

int main(int argc, char **argv)
{
	_cleanup_manager_ struct manager *m = NULL;
	enum mode mode = MODE_DAEMON;
	int r;

	r = manager_new(&m);
	if (r < 0) {
		fprintf(stderr, "ztsegd: %s\n", strerror(-r));
		return 1;
	}
	r = parse_argv(argc, argv, m, &mode);
	if (r <= 0)
		return r < 0 ? 2 : 0;
	switch (mode) {
	case MODE_DAEMON:
		/*
		 * Blocks of 1 MiB and more (a feed's copies and maps, tens of MB at a
		 * million entries) are mappings of their own, unmapped when freed.
		 * glibc would otherwise raise this threshold after the first such free
		 * and keep the next copies in a heap that fragments: the daemon stayed
		 * 20 MB larger with a 1M-entry feed (bench/RESULTS.md, threat feeds).
		 */
		mallopt(M_MMAP_THRESHOLD, 1 << 20);
		log_setup(m->log_level);
		r = manager_setup(m);
		if (r >= 0)
			r = manager_start(m);
		if (r >= 0) {
			r = sd_event_loop(m->event);
			if (r < 0)
				log_error("event loop failed: %s", strerror(-r));
		}
		break;
	case MODE_CHECK:
		r = manager_oneshot_load(m);
		if (r >= 0)
			printf("ztsegd: %s: policy valid\n", m->config);
		break;
	case MODE_ONESHOT:
		r = manager_oneshot_load(m);
		if (r >= 0)
			r = manager_oneshot_apply(m);
		break;
	case MODE_REMOVE:
		r = manager_oneshot_remove(m);
		break;
	default:
		r = -EINVAL;
		break;
	}
	return r < 0 ? 1 : 0;
}
