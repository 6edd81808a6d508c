/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl: what the verb files share with the verb table in ztsegctl.c. */
#ifndef ZTSEGCTL_H
#define ZTSEGCTL_H

#include <stdio.h>
#include "policy.h"

#define CTL_DEFAULT_CONFIG "/etc/ztseg"
#define CTL_DEFAULT_SOCKET "/run/ztseg/ztsegd.sock"

/* Exit statuses shared by every verb (ztsegctl(8), EXIT STATUS). */
enum {
	CTL_EXIT_OK = 0,	/* success; explain: allowed */
	CTL_EXIT_NO = 1,	/* the operation said no: invalid policy, denied, failure */
	CTL_EXIT_USAGE = 2,	/* bad command line */
};

/* Options given before the verb. */
struct ctl {
	const char *socket;	/* the daemon's control socket, for the verbs that talk to it */
};

/*
 * A verb gets its own arguments with argv[0] set to "ztsegctl VERB", so
 * getopt's messages name the verb; it returns the exit status.
 */
int check_main(struct ctl *ctl, int argc, char **argv);
int explain_main(struct ctl *ctl, int argc, char **argv);
int show_main(struct ctl *ctl, int argc, char **argv);
int status_main(struct ctl *ctl, int argc, char **argv);
int reload_main(struct ctl *ctl, int argc, char **argv);
int confirm_main(struct ctl *ctl, int argc, char **argv);
int grant_main(struct ctl *ctl, int argc, char **argv);
int grants_main(struct ctl *ctl, int argc, char **argv);
int revoke_main(struct ctl *ctl, int argc, char **argv);
int log_main(struct ctl *ctl, int argc, char **argv);
int metrics_main(struct ctl *ctl, int argc, char **argv);
int bans_main(struct ctl *ctl, int argc, char **argv);
int unban_main(struct ctl *ctl, int argc, char **argv);
int anomalies_main(struct ctl *ctl, int argc, char **argv);
int suggest_main(struct ctl *ctl, int argc, char **argv);
int feeds_main(struct ctl *ctl, int argc, char **argv);
#define CTL_DEFAULT_FEEDS_DIR "/var/lib/ztseg-feeds"
struct zt_endpoint;
/* explain offline: 1 after printing the feed that denies the packet, 0 for none. */
int feeds_explain_offline(const struct zt_policy *p, const struct zt_endpoint *from, const struct zt_endpoint *to,
			  const char *argv0);
/* ztsegctl feeds fetch (ztsegctl-fetch.c): argv[0] is "fetch". */
int feeds_fetch_main(int argc, char **argv);

/* explain --live: ask the daemon at ctl->socket; the exit status of explain. */
int explain_live(struct ctl *ctl, const char *argv0, const char *from, const char *to, const char *port);
/* The errors of a failed call to the daemon on stderr, "ztsegctl VERB: ...". */
struct zt_diags;
void ctl_call_errors(const char *argv0, const struct zt_diags *d);

/*
 * Load the policy in dir and print every diagnostic, warnings included, to
 * stderr, sorted, as "DIR/FILE:LINE:COL: message"; d keeps the counts.
 * Returns 0 with *ret set, or a negative errno after printing why.
 */
int ctl_policy_load(const char *dir, struct zt_policy **ret, struct zt_diags *d);

/* A diagnostic's file as the user would open it: dir joined with the relative name. */
void ctl_diags_print(const char *dir, const struct zt_diags *d, FILE *f);

#endif
