/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegd: what the daemon's files share — the manager object and logging. */
#ifndef ZTSEGD_H
#define ZTSEGD_H

#include <syslog.h>
#include <systemd/sd-event.h>
#include "apply.h"
#include "ctl.h"
#include "membership.h"
#include "nflog.h"
#include "nfmon.h"
#include "plan.h"
#include "policy.h"
#include "rtnl.h"

struct zt_explain_env;

#define DEFAULT_CONFIG "/etc/ztseg"
#define DEFAULT_STATE_DIR "/var/lib/ztseg"

/* ---- logging (ztsegd-log.c) ---- */

/*
 * Log levels are syslog's (LOG_ERR … LOG_DEBUG). Under journald (stderr is
 * the stream JOURNAL_STREAM names) every line is a journal entry with the
 * given fields ("ZTSEG_EVENT=tamper", ...); otherwise a plain
 * "ztsegd: message" line on stderr.
 */
void log_setup(int max_level);
int log_level_parse(const char *s);
const char *log_level_name(int level);
bool log_on(int prio);
void log_fields(int prio, const char *const *fields, size_t n_fields, const char *fmt, ...)
	_printf_(4, 5);
#define log_error(...) log_fields(LOG_ERR, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_fields(LOG_WARNING, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_fields(LOG_NOTICE, NULL, 0, __VA_ARGS__)
#define log_info(...) log_fields(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_fields(LOG_DEBUG, NULL, 0, __VA_ARGS__)
/* "KEY=value" into one of a few rotating buffers, for the fields of one call. */
const char *log_field(const char *key, const char *fmt, ...) _printf_(2, 3);

/* ---- a policy as loaded, validated and compiled (ztsegd.c) ---- */

struct loaded {
	struct zt_policy_files files;	/* the raw bytes, for last-known-good */
	struct zt_policy *policy;
	struct zt_plan *plan;
};

void loaded_clear(struct loaded *l);

/* ---- the manager ---- */

/* SSH_CONNECTION: "CLIENT-ADDRESS CLIENT-PORT SERVER-ADDRESS SERVER-PORT". */
#define SESSION_MAX 128
/* reload --confirm SECONDS: at most an hour. */
#define CONFIRM_MAX_SECONDS 3600

/* One ztsegctl reload waiting for its outcome, with what it asked for. */
struct reload_req {
	struct zt_ctl_conn *conn;
	unsigned confirm;		/* seconds; 0: no trial */
	bool force;			/* apply even if it cuts the caller's session */
	char session[SESSION_MAX];	/* the caller's SSH_CONNECTION, or "" */
	uid_t uid;
	pid_t pid;
};

struct manager {
	/* configuration */
	const char *config;
	const char *state_dir;
	const char *socket_path;
	const char *socket_group;
	int log_level;
	struct zt_compile_opts copts;
	char kinds_buf[256];
	const char *kinds[ZT_ENC_KINDS_MAX + 1];	/* NULL-terminated */
	size_t n_kinds;			/* 0: the default trusted kinds */
	size_t rcvbuf;			/* rtnetlink receive buffer; 0: the default */
	bool unowned;			/* leave the table without an owner */

	/* the running policy */
	struct loaded cur;
	uint64_t generation;
	enum zt_daemon_state state;
	bool degraded;			/* running the last-known-good policy */
	struct zt_diags disk_diags;	/* errors of the policy on disk (degraded) and the warnings */
	char *last_error;
	uint64_t started_usec;		/* CLOCK_REALTIME */
	uint64_t last_apply_usec;	/* CLOCK_REALTIME */
	uint64_t last_apply_duration_usec;
	bool owned;			/* the table carries our owner flag */
	bool lkg_current;		/* the state directory's last-known-good holds cur's files */

	/* the kernel */
	struct zt_nft *nft;		/* the owning socket */
	struct zt_rtnl *rtnl;
	struct zt_membership *members;
	uint64_t members_generation;	/* the policy generation members tracks (kept current by events) */
	char (*enc)[IFNAMSIZ];		/* enc_if as we filled it, sorted */
	size_t n_enc, cap_enc;
	struct zt_nfmon *nfmon;
	struct zt_nflog *nflog;
	struct zt_ctl_server *ctl;

	/* the loop */
	sd_event *event;
	sd_event_source *src_rtnl, *src_nfmon, *src_nflog, *src_ctl, *src_defer;
	sd_event_source *src_verify, *src_ctl_timer, *src_repair_timer, *src_report;
	bool have_watchdog, watchdog_on, watchdog_was_off;

	/* work for the next reconcile pass */
	bool want_reload, want_repair, want_members, want_status;
	uint64_t event_usec;		/* when the first unhandled rtnetlink event woke us (monotonic) */
	struct reload_req *reload_waiting;	/* ztsegctl reload callers waiting for the outcome */
	size_t n_reload_waiting, cap_reload_waiting;

	/* reload --confirm: the policy on trial is m->cur; this is what it rolls back to */
	bool pending;
	struct loaded rollback;
	struct zt_diags rollback_diags;	/* its warnings */
	bool rollback_lkg_current;
	uint64_t pending_deadline;	/* CLOCK_MONOTONIC */
	uint64_t pending_deadline_rt;	/* CLOCK_REALTIME, for status and the state file */
	uint64_t pending_seconds;
	uid_t pending_uid;
	pid_t pending_pid;
	sd_event_source *src_confirm;
	bool startup_rolled_back;	/* started with a trial's rollback: its record goes once applied */
	struct zt_ratelimit repair_rl, packet_rl;

	/* counters for status */
	struct zt_status_events events;
	uint64_t ct_flushes, ct_deleted, enc_updates;
	char status_line[512];		/* the last STATUS= sent */
};

/* ztsegd.c: load the policy in dir (or from files, taken over) and compile it. */
int manager_load_dir(const struct manager *m, const char *dir, struct loaded *ret, struct zt_diags *d);
int manager_load_files(const struct manager *m, struct zt_policy_files *files, struct loaded *ret,
		       struct zt_diags *d);
/* Diagnostics name files relative to dir: make them paths the user can open. */
int diags_under(const char *dir, struct zt_diags *d);
/* The apply options of a policy. */
struct zt_apply_opts manager_apply_opts(const struct manager *m, const struct zt_policy *p);

/* ztsegd-loop.c */
int manager_run(struct manager *m);
/* Make the policy on trial final: 0, -ENOENT when none is, -errno. */
int manager_confirm(struct manager *m, uid_t uid, pid_t pid);
void manager_clear(struct manager *m);
void manager_dirty(struct manager *m);
/* Make progress on a connection after its deferred reply was queued. */
void manager_conn_kick(struct manager *m, struct zt_ctl_conn *c);
uint64_t now_usec(clockid_t clock);

/* ztsegd-ctl.c: the control socket's commands and the status document. */
extern const struct zt_ctl_command manager_commands[];
extern const size_t manager_n_commands;
int manager_status_json(struct manager *m, json_t **ret);
/* Reload callers (v, n) get the outcome: d's errors, or ok with result (stolen). v is freed. */
void manager_reload_reply(struct manager *m, struct reload_req *v, size_t n, const struct zt_diags *d,
			  json_t *result);
/* What the new policy makes of the SSH session a reload came from (ztsegd-ctl.c). */
struct session_verdict {
	bool known;			/* the session was given and understood */
	bool allow;
	char what[512];			/* "from 192.0.2.10 (internet, interface uplink0) to the host's tcp/22" */
	char by[256];			/* explain's "by:" */
};
int session_judge(struct manager *m, const struct zt_policy *p, const char *session,
		  struct session_verdict *ret);

/* ztsegd-nflog.c: logged packets, and what explain --live knows of the host. */
void manager_nflog_packet(const struct zt_nflog_packet *pkt, void *userdata);
void manager_explain_env(struct manager *m, struct zt_explain_env *env);

#endif
