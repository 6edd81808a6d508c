/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ztsegd: the manager object the daemon's files share, and what each file
 * offers the others. The files call each other in one direction only (see
 * tests/cli/daemon-calls.sh), top first:
 *
 *   ztsegd.c          main: options, then the daemon or one --oneshot step
 *   ztsegd-manager.c  new / setup / start / free, the event sources, reconcile
 *   ztsegd-reload.c   a reload request: load, judge the caller's session, apply, answer
 *   ztsegd-ctl.c      the control socket and its commands
 *   ztsegd-trial.c    reload --confirm: the trial, confirm, rollback
 *   ztsegd-tamper.c   nf_tables monitor, table checks, repair, the watchdog
 *   ztsegd-nflog.c    logged packets
 *   ztsegd-oneshot.c  --oneshot, --check, --remove and the state --oneshot keeps
 *   ztsegd-policy.c   load, compile, apply, last-known-good
 *   ztsegd-sync.c     membership and enc_if per rtnetlink event, conntrack on moves
 *   ztsegd-ctindex.c  the connection index a move looks its connections up in
 *   ztsegd-explain.c  the host as explain sees it; a reload caller's SSH session
 *   ztsegd-grant.c    just-in-time grants: requests, the kernel's elements, expiry, revocation
 *   ztsegd-bans.c     flood bans: learnt from the kernel, journalled, listed, lifted
 *   ztsegd-status.c   the status document, STATUS= and the last error
 *   ztsegd-fdb.c      bridge ports' MACs pinned from static FDB entries; neighbours for status
 *   ztsegd-log.c      the journal
 */
#ifndef ZTSEGD_H
#define ZTSEGD_H

#include <syslog.h>
#include <time.h>
#include <systemd/sd-event.h>
#include <limits.h>
#include "apply.h"
#include "cgroup.h"
#include "conntrack.h"
#include "ctevent.h"
#include "ctl.h"
#include "flowrec.h"
#include "links.h"
#include "lkg.h"
#include "membership.h"
#include "metrics.h"
#include "nflog.h"
#include "nfmon.h"
#include "plan.h"
#include "policy.h"
#include "rtnl.h"
#include "suggest.h"

struct zt_explain_env;
struct zt_explain_grant;
struct zt_grant;
struct flow_sub;
struct pair_count;
struct manager_feeds;
struct zt_endpoint;
struct zt_ban;
struct zt_ctix;
struct fdb_learn;

#define DEFAULT_CONFIG "/etc/ztseg"
#define DEFAULT_STATE_DIR "/var/lib/ztseg"
/* url: feeds, written by ztseg-feeds.service (its StateDirectory=). */
#define DEFAULT_FEEDS_DIR "/var/lib/ztseg-feeds"

/* How often the table's presence is checked (the watchdog's condition). */
#define VERIFY_USEC (1 * ZT_USEC_PER_SEC)
/* Suppressed packet logs are summed up this often. */
#define REPORT_USEC (10 * ZT_USEC_PER_SEC)
/* Someone fighting the daemon over its table gets repairs at this rate. */
#define REPAIR_RATE 10
#define REPAIR_BURST 20
#define REPAIR_RETRY_USEC (200 * 1000)
/* Logged packets written per second (the rules' own limit comes first). */
#define PACKET_RATE 50
#define PACKET_BURST 200

/* Work first, reconciling after everything queued has been read. */
#define PRIO_NETLINK (-10)
#define PRIO_CTL 0
#define PRIO_NFLOG 10
#define PRIO_FLOWLOG 20

/* The connection log (ztsegd-flowlog.c): recent records kept for --since, readers, their queues. */
#define FLOWLOG_RING 8192
#define FLOWLOG_QUEUE_DEFAULT 4096
#define FLOWLOG_QUEUE_MIN 16
#define FLOWLOG_QUEUE_MAX 16384
#define FLOWLOG_READERS_MAX 32
/* Of those, kept for root and ztseg-admin; and at most this many per uid. */
#define FLOWLOG_READERS_RESERVED 8
#define FLOWLOG_READERS_PER_UID 8
/* A reader's socket send buffer: the daemon's queue, not the kernel's, holds what it has not read. */
#define FLOWLOG_SNDBUF (64 * 1024)
/* Connection records written to the journal per second (the rest are counted). */
/*
 * Conntrack events are read at most this often: a wake-up per event (one per
 * connection opened or closed) costs more than reading a batch, and the
 * 32 MiB buffer holds far more than what comes meanwhile.
 */
#define CTEV_READ_USEC (20 * 1000)
#define FLOW_RATE 100
#define FLOW_BURST 500
/* Zone pairs counted for metrics; more are summed into one "other" entry. */
#define PAIR_COUNTS_MAX 4096
#define PRIO_RECONCILE 50

/* ---- logging (ztsegd-log.c) ---- */

/*
 * Log levels are syslog's (LOG_ERR … LOG_DEBUG). Under journald (stderr is
 * the stream JOURNAL_STREAM names) every line is a journal entry with the
 * given fields ("ZTSEG_EVENT=tamper", ...); otherwise a plain
 * "ztsegd: message" line on stderr.
 */
void log_setup(int max_level);
int log_level_parse(const char *s);
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
/* Each diagnostic an entry of its own (event, file, line); errors at prio, warnings at LOG_WARNING. */
void log_diags(int prio, const char *event, const struct zt_diags *d);
/* A CLOCK_REALTIME time as messages give it: "2024-01-02T03:04:05Z". */
const char *log_time(uint64_t usec, char *buf, size_t len);

/* ---- the manager ---- */

/* A policy as loaded, validated and compiled. */
struct loaded {
	struct zt_policy_files files;	/* the raw bytes, for last-known-good */
	struct zt_policy *policy;
	struct zt_plan *plan;
};

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
	const char *feeds_dir;
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
	bool brnf_off;			/* the last apply found br_netfilter off (table bridge ztseg drops) */
	bool lkg_current;		/* the state directory's last-known-good holds cur's files */

	/* the kernel */
	struct zt_nft *nft;		/* the owning socket */
	struct zt_rtnl *rtnl;
	struct zt_membership *members;
	uint64_t members_generation;	/* the policy generation members tracks (kept current by events) */
	char (*enc)[IFNAMSIZ];		/* enc_if as we filled it, sorted */
	size_t n_enc;
	char (*ifx)[IFNAMSIZ];		/* the link names the exact-name twins hold (ifx.h), sorted */
	size_t n_ifx;
	struct zt_bridge_haddr *hown;	/* the host's addresses on bridges as sets hown4/hownna hold them */
	size_t n_hown;
	bool hown_refill;		/* an apply wrote table bridge ztseg, or an update failed: refill */
	struct manager_dport *dports;	/* ports of bridge: segments' bridges as dport/dpb_ hold them (ztsegd-dport.c) */
	size_t n_dports;
	bool dport_refill;		/* an apply wrote table bridge ztseg, or an update failed: write them all */
	struct zt_nfmon *nfmon;
	struct zt_nflog *nflog;
	struct zt_ctl_server *ctl;

	/* the loop */
	sd_event *event;
	sd_event_source *src_rtnl, *src_nfmon, *src_nflog, *src_ctl, *src_defer;
	sd_event_source *src_verify, *src_ctl_timer, *src_repair_timer, *src_report;
	bool have_watchdog, watchdog_on, watchdog_was_off;

	/* work for the next reconcile pass */
	bool want_reload, want_repair, want_members, want_feeds_repair;
	uint64_t event_usec;		/* when the first unhandled rtnetlink event woke us (monotonic) */
	struct reload_req *reload_waiting;	/* ztsegctl reload callers waiting for the outcome */
	size_t n_reload_waiting, cap_reload_waiting;

	struct manager_prefull *prefull;	/* the running plan compiled whole during a reload (ztsegd-policy.c) */

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

	/* just-in-time grants (ztsegd-grant.c) */
	struct zt_grant *grants;
	size_t n_grants, cap_grants;
	uint32_t grant_next_id;
	sd_event_source *src_grant_timer, *src_grant_save;
	uint64_t grants_granted, grants_refused, grants_revoked, grants_expired;
	uint64_t grant_sweep_usec;	/* CLOCK_REALTIME: retry deleting gone grants' counters */

	/* unit zones (ztsegd-units.c): the cgroup2 tree watched, level-2 cgroups classified */
	int units_ino, units_rootfd, units_rootwd;	/* -1: none */
	char units_root[256];
	enum zt_cgroup_layout units_layout;
	sd_event_source *src_units;
	struct unit_cg {
		int wd;			/* the level-1 cgroup's watch */
		uint64_t id;
		char name[NAME_MAX + 1];
	} *ucg;
	size_t n_ucg, cap_ucg;
	struct unit_l1 {
		int wd;
		char name[NAME_MAX + 1];
	} *l1;
	size_t n_l1, cap_l1;
	uint64_t units_events, units_refills, units_last_usec, units_max_usec;
	/* learned baselines (ztsegd-anomaly.c): series, episodes; opaque */
	struct anomaly *anomaly;
	sd_event_source *src_anomaly;
	/* flood bans (ztsegd-bans.c): as last read from the kernel */
	struct zt_ban *bans;
	size_t n_bans;
	sd_event_source *src_bans;
	uint64_t bans_seen, bans_expired, bans_lifted;
	uint64_t bans_poll_usec, bans_poll_max_usec;	/* the last and the longest read of the ban maps, journal included */
	uint64_t bans_made;		/* counter flood_bans at the last read */
	uint64_t bans_gen;		/* the policy generation of the last read */
	uint64_t bans_read_usec;	/* CLOCK_MONOTONIC of the last read */
	uint64_t bans_due_usec;		/* the first known ban's expiry: read then */
	uint64_t bans_reads;
	bool bans_dirty;		/* read at the next poll (start, unban) */
	/* observe mode (ztsegd-observe.c): completed would-deny connections, counted */
	struct zt_suggest_obs *obs;
	size_t n_obs, cap_obs;
	uint64_t *ct_seen;		/* the connections the last scan counted (sorted keys) */
	size_t n_ct_seen;
	uint64_t observe_scans, observe_dropped;
	sd_event_source *src_observe;

	/* the connection log (ztsegd-flowlog.c) */
	struct zt_ctevent *ctev;
	sd_event_source *src_ctev, *src_ctev_timer;
	bool flowlog_on;		/* conntrack events read (flow-log: true somewhere) */
	bool acct_set;			/* we turned nf_conntrack_acct on */
	struct zt_flowring flow_ring;
	uint64_t flow_seq;
	struct flow_sub *flow_subs;	/* a list */
	size_t n_flow_subs;
	uint64_t flow_records, flow_reader_lost, flow_unmatched;
	struct zt_ratelimit flow_rl;
	struct { uint8_t key[40]; uint64_t usec; } deny_seen[256];	/* repeats of one denied connection */
	struct pair_count *pairs;	/* records by verdict, flow and zone pair, for metrics */
	size_t n_pairs, cap_pairs, pair_last;

	/* the connection index (ztsegd-ctindex.c) */
	bool ctix_off;			/* --conntrack-index no: moves walk the conntrack table */
	size_t ctix_rcvbuf;		/* --conntrack-rcvbuf; 0: ZT_CTEVENT_RCVBUF */
	struct zt_ctevent *ctix_ev;
	struct zt_ctix *ctix;
	struct zt_nl *ctix_nl;		/* kept open: a move's count and deletes (zt_ct_count_on) */
	struct zt_nl *verify_nl;	/* kept open: the periodic check's table reads */
	sd_event_source *src_ctix, *src_ctix_timer;
	bool ctix_valid;		/* every event since the last rebuild went into the index */
	uint64_t ctix_lost;		/* events lost (overruns, malformed) when it was rebuilt */
	uint64_t ctix_hits, ctix_walks, ctix_rebuilds;
	uint64_t ctix_nl_reopens;	/* the kept socket reopened after an error on it */

	/* bridge bindings learned from the kernel (ztsegd-fdb.c) */
	struct fdb_learn *fdb;
	bool want_fdb;		/* FDB/neighbour events, or links changed: pins to write */
	bool fdb_table_new;		/* table bridge ztseg was written anew: its pins are gone */

	/* metrics (ztsegd-metrics.c) */
	struct zt_histogram apply_hist, reload_hist, event_lag_hist;
	uint64_t applies_ok, applies_failed;
	bool last_apply_ok;
	/* threat feeds (ztsegd-feeds.c) */
	struct manager_feeds *feeds;

	/* counters for status */
	struct zt_status_events events;
	uint64_t ct_flushes, ct_deleted, enc_updates;
	char status_line[512];		/* the last STATUS= sent */
};

static inline uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * ZT_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Work is marked (m->want_*): run the reconcile pass once the loop is idle. */
static inline void manager_dirty(struct manager *m)
{
	if (m->src_defer)
		sd_event_source_set_enabled(m->src_defer, SD_EVENT_ONESHOT);
}

/* ztsegd-manager.c */
/* The manager with the defaults; the caller sets the configuration fields. */
int manager_new(struct manager **ret);
/* Accepts NULL; returns NULL. Leaves the table in place (fail closed). */
struct manager *manager_free(struct manager *m);
static inline void manager_freep(struct manager **m)
{
	manager_free(*m);
}
#define _cleanup_manager_ _cleanup_(manager_freep)
/* The event loop and the kernel sockets: rtnetlink, the nf_tables monitor, the owning socket. */
int manager_setup(struct manager *m);
/* The policy applied, membership, NFLOG, the event sources and the control socket; READY=1. */
int manager_start(struct manager *m);

/* ztsegd-reload.c */
/* The reload the queue (or SIGHUP) asks for; a request with options comes alone. */
void manager_reload_queued(struct manager *m);
/* Reload callers (v, n) get the outcome: d's errors, or ok with result (stolen). v is freed. */
void manager_reload_reply(struct manager *m, struct reload_req *v, size_t n, const struct zt_diags *d,
			  json_t *result);

/* ztsegd-ctl.c: the control socket (ours, or systemd's) and its commands. */
int manager_ctl_setup(struct manager *m);
/* Make progress on a connection after its deferred reply was queued. */
void manager_ctl_kick(struct manager *m, struct zt_ctl_conn *c);

/* ztsegd-trial.c */
/* On trial: record in the state directory what a rollback (or a restart) goes back to. */
int manager_trial_record(struct manager *m, const struct loaded *l, const struct reload_req *opt,
			 struct zt_pending *pd, struct zt_diags *d);
/* The trial's policy was applied: the running one becomes the one to roll back to. */
void manager_trial_begin(struct manager *m, const struct reload_req *opt, uint64_t t0, uint64_t deadline_rt);
/* Make the policy on trial final: 0, -ENOENT when none is, -errno. */
int manager_trial_confirm(struct manager *m, uid_t uid, pid_t pid);
/* Back to the policy before the trial (if there is one). */
int manager_trial_rollback(struct manager *m, const char *why);
int manager_trial_on_timer(sd_event_source *s, uint64_t usec, void *userdata);
/* A trial the last daemon left: its previous policy in m->cur (1), or none (0). */
int manager_trial_startup_pending(struct manager *m);
/* The policy in m->cur was rolled back unconfirmed: the last-known-good instead (1), or not (0). */
int manager_trial_startup_rolled_back(struct manager *m);

/* ztsegd-tamper.c */
void manager_tamper_repair(struct manager *m);
/* Watchdog pings while the loop turns and the table is verified. */
void manager_tamper_watchdog(struct manager *m, bool on);
int manager_tamper_on_nfmon(sd_event_source *s, int fd, uint32_t revents, void *userdata);
int manager_tamper_on_verify(sd_event_source *s, uint64_t usec, void *userdata);
void manager_tamper_close(struct manager *m);
int manager_tamper_on_repair_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* ztsegd-nflog.c: logged packets. */
/* Bind the rules' NFLOG group; without it (warned) packets are not written. */
void manager_nflog_open(struct manager *m);
void manager_nflog_packet(const struct zt_nflog_packet *pkt, void *userdata);
int manager_nflog_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
int manager_nflog_on_report(sd_event_source *s, uint64_t usec, void *userdata);

/* ztsegd-metrics.c */
/* Prometheus text of everything the daemon counts, with the kernel's counters read now. */
int manager_metrics_text(struct manager *m, char **ret, size_t *ret_len);
/* Reload durations, for ztseg_reload_duration_seconds. */
void manager_metrics_reload(struct manager *m, uint64_t usec);

/* ztsegd-ctindex.c: the connection index (none with --conntrack-index no). */
/* Entries it holds at most (about 200 bytes each); more connections and a move walks. */
#define CTIX_MAX (128 * 1024)
void manager_ctindex_start(struct manager *m);
void manager_ctindex_stop(struct manager *m);
/* Delete the connections of the prefixes: from the index when it can be trusted, else a walk. */
int manager_ctindex_flush(struct manager *m, const struct zt_cidr *pfx, size_t n, struct zt_ct_stats *st);

/* ztsegd-flowlog.c: the connection log. */
void manager_flowlog_init(struct manager *m);
/* After the policy changed: conntrack events and accounting on or off as flow-log says. */
void manager_flowlog_sync(struct manager *m);
/* A denied (or spoofed) packet NFLOG reported, with the zones explain gave it. */
void manager_flowlog_deny(struct manager *m, const struct zt_nflog_packet *pkt, const char *verdict,
			  const char *from, const char *to, const char *flow);
/* The control command log: a subscription on c (handed over). */
int manager_flowlog_subscribe(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
/* Metrics: the records counted by verdict, flow and zone pair. */
struct pair_count {
	char verdict[ZT_FLOWREC_VERDICT_MAX];
	char flow[ZT_FLOWREC_FLOW_MAX];
	char from[ZT_FLOWREC_ZONE_MAX], to[ZT_FLOWREC_ZONE_MAX];
	uint64_t connections;
	uint64_t packets, bytes;	/* from the records of closed connections */
};
void manager_flowlog_report(struct manager *m);
void manager_flowlog_free(struct manager *m);

/* ztsegd-oneshot.c: one step and exit; errors on stderr. */
int manager_oneshot_load(struct manager *m);
int manager_oneshot_apply(struct manager *m);
int manager_oneshot_remove(struct manager *m);

/* ztsegd-policy.c */
void manager_policy_clear(struct loaded *l);
/* Load the policy in dir (or from files, taken over) and compile it. */
int manager_policy_load_dir(const struct manager *m, const char *dir, struct loaded *ret, struct zt_diags *d);
int manager_policy_load_files(const struct manager *m, struct zt_policy_files *files, struct loaded *ret,
			      struct zt_diags *d);
/* The last-known-good policy into m->cur; errors logged. */
int manager_policy_load_lkg(struct manager *m);
/* Diagnostics name files relative to dir: make them paths the user can open. */
int manager_policy_diags_under(const char *dir, struct zt_diags *d);
/* The apply options of a policy. */
struct zt_apply_opts manager_policy_apply_opts(const struct manager *m, const struct zt_policy *p);
/*
 * The running plan compiled whole (it is kept slim) in a thread, while the
 * caller loads and compiles a new policy; manager_policy_apply() takes it.
 * The running policy must stay as it is until then, or until dropped.
 */
void manager_policy_prefull(struct manager *m);
void manager_policy_prefull_drop(struct manager *m);
/* Apply l: diffed against m->cur when l is a new policy, else compared with the table. */
int manager_policy_apply(struct manager *m, const struct loaded *l, struct zt_apply_stats *st, struct zt_diags *d);
/* Keep the warnings of a policy that loaded (its errors are none); d is taken. */
void manager_policy_keep_warnings(struct manager *m, struct zt_diags *d);
void manager_policy_lkg_save(struct manager *m);
/* Once a start, reload, repair, rollback or confirmation is done: the heap pages glibc keeps, given back. */
void manager_policy_trim(struct manager *m);

/* ztsegd-sync.c */
/*
 * Membership from the kernel state and the policy, against the last one:
 * logged, enc_if kept exact and (unless baseline) the connections of
 * prefixes that moved forgotten.
 */
int manager_sync_members(struct manager *m, bool baseline);
/*
 * enc_if (ZT_LINKS_ENC), the exact-name twins (ZT_LINKS_IFX, lib/ifx.h)
 * and the ports of bridge: segments (ZT_LINKS_DPORT, ztsegd-dport.c) to
 * the links, in one transaction (each commit costs the kernel a walk of
 * every chain): the difference, or (refill) enc_if and the twins flushed
 * and filled anew. The number of bridge ports written, or a negative
 * errno.
 */
#define ZT_LINKS_ENC 1u
#define ZT_LINKS_IFX 2u
#define ZT_LINKS_DPORT 4u
int manager_sync_links(struct manager *m, unsigned what, bool refill);

/* ztsegd-ifx.c */
/* A sorted list of interface names the kernel holds, and what to send to bring it to want. */
struct names_change {
	char (*want)[IFNAMSIZ];
	size_t n_want;
	char (*add)[IFNAMSIZ];
	size_t n_add;
	char (*del)[IFNAMSIZ];
	size_t n_del;
};
int manager_ifx_names_diff(struct names_change *c, char (*have)[IFNAMSIZ], size_t n_have);
void manager_ifx_names_clear(struct names_change *c);
/* The twins' part of manager_sync_links(): prepare, emit into its batch, and once committed, done. */
int manager_ifx_prepare(struct manager *m, bool refill, struct names_change *c);
int manager_ifx_emit(struct manager *m, struct zt_batch *b, const struct names_change *c, bool refill);
void manager_ifx_done(struct manager *m, struct names_change *c);

/* ztsegd-dport.c */
/* A port of a bridge that a bridge: segment names (issue 15), as the kernel's sets hold it. */
struct manager_dport {
	struct zt_bridge_dport d;
	int ifindex;
};
/*
 * dport/dportd/dpb_<brk> to the links; a port gone loses its claimed
 * addresses (pin4/pin6 …). The number of ports added and removed (what
 * was committed), or a negative errno.
 */
int manager_dport_sync(struct manager *m, bool refill);
/* A difference of those ports, from prepare to done. */
struct dport_change {
	struct manager_dport *want;	/* every port now: the state once done */
	size_t n_want;
	struct zt_bridge_dport *add, *del;
	size_t n_add, n_del;
	struct zt_bridge_pin *pins;	/* what the ports gone had claimed */
	size_t n_pins;
	bool refill;			/* every port written again */
	bool off;			/* no bridge: segment: nothing to keep */
};
/*
 * manager_dport_sync() in parts, for a transaction of manager_sync_links():
 * prepare (an error is logged and leaves the state as it was), emit into
 * the batch, and done with the commit's result (which frees the change;
 * a failure makes the next prepare write every port again), which
 * returns the number of ports written.
 */
int manager_dport_prepare(struct manager *m, bool refill, struct dport_change *c);
int manager_dport_emit(struct manager *m, struct zt_batch *b, const struct dport_change *c);
int manager_dport_done(struct manager *m, struct dport_change *c, int r);
void manager_dport_clear(struct dport_change *c);

/* ztsegd-hown.c */
/*
 * Sets hown4/hownna of table bridge ztseg to the host's addresses on
 * bridges: the difference, or refilled. The number of addresses written
 * (added and removed, or all of them when refilled), or a negative errno.
 */
int manager_hown_sync(struct manager *m, bool refill);
int manager_sync_on_rtnl(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* ztsegd-explain.c */
/* What explain knows of the host: routes, link kinds, local addresses. */
void manager_explain_env(struct manager *m, struct zt_explain_env *env);
/* What policy p makes of the SSH session a reload came from. */
struct session_verdict {
	bool known;			/* the session was given and understood */
	bool allow;
	char what[512];			/* "from 192.0.2.10 (internet, interface uplink0) to the host's tcp/22" */
	char by[256];			/* explain's "by:" */
};
int manager_explain_session(struct manager *m, const struct zt_policy *p, const char *session,
			    struct session_verdict *ret);

/* ztsegd-bans.c */
/* The bans the kernel holds now are known; their set is read once a second from then on. */
int manager_bans_start(struct manager *m);
/* The control commands bans and unban (unban is changes_state: authorized like reload). */
int manager_bans_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
int manager_bans_unban(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
/* explain --live: 1 and what to say when e's source is banned towards e's destination. */
struct zt_explanation;
int manager_bans_explain(struct manager *m, const struct zt_explanation *e, char *buf, size_t len);
/* status: "bans" (active, banned, expired, lifted) when the policy has flood limits. */
int manager_bans_status(struct manager *m, json_t *status);
void manager_bans_free(struct manager *m);

/* ztsegd-anomaly.c: learned baselines, episodes and their mitigations */
int manager_anomaly_start(struct manager *m);
/* After an apply (reload, repair): entries to series, open episodes' mitigations put back. */
void manager_anomaly_sync(struct manager *m);
int manager_anomaly_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
int manager_anomaly_status(struct manager *m, json_t *status);
/* Anomaly bans where flood bans are shown: ztsegctl bans (appended to arr), unban, explain --live. */
int manager_anomaly_bans_json(struct manager *m, json_t *arr);
int manager_anomaly_unban(struct manager *m, uint8_t family, const uint8_t addr[16], size_t *hit);
int manager_anomaly_explain(struct manager *m, const struct zt_explanation *e, bool ban, char *buf, size_t len);
void manager_anomaly_free(struct manager *m);

/* ztsegd-grant.c */
/* After the first apply: the grants of the last run that the kernel still holds; timers. */
int manager_grant_start(struct manager *m);
/* After a reload or repair: grants whose template changed meaning revoked, the rest rewritten. */
void manager_grant_sync(struct manager *m);
/* The table was written anew: every grant's elements back, with what is left of its time. */
void manager_grant_readd(struct manager *m);
/* Revoke grants whose source no longer classifies into the template's from. */
void manager_grant_check_sources(struct manager *m, const struct zt_explain_env *env);
/* The control commands grant, grants and revoke. */
int manager_grant_request(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req,
			  const struct zt_explain_env *env);
int manager_grant_list(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
int manager_grant_revoke(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
/* status: "grants" and "grant_events" into status. */
int manager_grant_status(struct manager *m, json_t *status);
/* The live grants as explain takes them (*ret allocated). */
int manager_grant_explain_list(struct manager *m, struct zt_explain_grant **ret, size_t *n_ret);
/* --remove: the state file goes with the table. */
void manager_grant_remove_state(struct manager *m);
void manager_grant_free(struct manager *m);

/* ztsegd-units.c */
/* After the first apply: detect the cgroup2 layout, watch it, fill the ucg_* maps. */
int manager_units_start(struct manager *m);
/* After a reload or repair: the maps refilled for the plan now running. */
void manager_units_sync(struct manager *m);
/* status: "unit_zones": each unit's zone, cgroup id and state; the watch's numbers. */
int manager_units_status(struct manager *m, json_t *status);
/*
 * What a log record calls unit zone `zone`: 1 with the unit's name in buf
 * (the segment lists one unit by name, or only one of its units runs), 0
 * with the segment's name (several run), -ENOENT when no unit zone has that id.
 */
int manager_units_name(struct manager *m, uint32_t zone, char *buf, size_t len);
void manager_units_free(struct manager *m);
/* ztsegd-observe.c */
/* The scan timer: completed would-deny connections from conntrack, every 2 s while something observes. */
int manager_observe_start(struct manager *m);
int manager_observe_scan(struct manager *m);
/* The control command suggest: the observations the running policy does not allow yet. */
int manager_observe_suggest(struct manager *m, struct zt_ctl_conn *c, const struct zt_ctl_request *req);
/* status: each segment's "mode", and "observe" (would-deny zone pairs with their counters). */
int manager_observe_status(struct manager *m, json_t *status);
void manager_observe_free(struct manager *m);

/* ztsegd-feeds.c */
/* The policy's feeds: files read, tables ip/ip6 ztseg made, the maps brought to them chunk by chunk. */
int manager_feeds_apply(struct manager *m);
/* status: "feeds" and "feed_updates" into status. */
int manager_feeds_status(struct manager *m, json_t *status);
/* ztsegctl feeds test ADDR: which feeds list addr. */
int manager_feeds_test(struct manager *m, uint8_t family, const uint8_t *addr, json_t **ret);
/* explain: 1 and the reason in buf when a feed denies the packet before any flow. */
int manager_feeds_explain(struct manager *m, const struct zt_endpoint *from, const struct zt_endpoint *to,
			  char *buf, size_t len);
/* The feed tables are there and ours (no map is read). */
bool manager_feeds_verify(struct manager *m);
/* Restore the feed tables after someone else changed them. */
void manager_feeds_repair(struct manager *m);
void manager_feeds_free(struct manager *m);

/* ztsegd-fdb.c */
/* Follow the bridges' FDBs and neighbour tables (RTNLGRP_NEIGH): dump, subscribe, pin. */
int manager_fdb_start(struct manager *m);
void manager_fdb_free(struct manager *m);
/* Pins written and removed as the FDB and the links now say (the reconcile pass). */
void manager_fdb_sync(struct manager *m);
/* --oneshot: pins from one dump of the FDBs, after the apply. */
int manager_fdb_oneshot(struct manager *m);
/* Status: the neighbour entries on bridge whose MAC is one of macs, appended to learned. */
/* Whether ztsegd wrote this address claim from a static FDB and a fixed neighbour entry (issue 15). */
bool manager_fdb_prepinned(struct manager *m, const struct zt_bridge_pin *p);
/* The pre-pins written again at the next sync (the table was repaired). */
void manager_fdb_prepin_refill(struct manager *m);
int manager_fdb_port_json(struct manager *m, const struct zt_rtnl_link *port, const struct zt_rtnl_link *bridge,
			     const uint8_t (*macs)[6], size_t n_macs, json_t *learned);

/* ztsegd-status.c */
int manager_status_json(struct manager *m, json_t **ret);
/* Each bridge port: its classification, segment, bound MAC and addresses ("bridge_ports"). */
int manager_status_bridge(struct manager *m, json_t *status);
/* STATUS= (and extra, e.g. "READY=1") to systemd when it changed or extra is given. */
void manager_status_notify(struct manager *m, const char *extra);
void manager_status_set_error(struct manager *m, const char *fmt, ...) _printf_(2, 3);

#endif
