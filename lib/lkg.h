/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last-known-good: the raw files of the last policy the daemon applied,
 * kept in one file of the state directory, so that a boot with a broken
 * policy on disk can still apply the last good one.
 */
#ifndef ZT_LKG_H
#define ZT_LKG_H

#include "policy.h"
#include "statefile.h"

#define ZT_LKG_FILE "last-known-good"
#define ZT_LKG_MAGIC "ztseg last-known-good 1\n"

/*
 * The bundle: the magic line, then per file "file LEN NAME\n", LEN bytes
 * and "\n", then "end\n". Names are as policy positions use them
 * ("ztseg.yaml", "segments.d/NAME.yaml"). Pure.
 */
int zt_lkg_encode(const struct zt_source *src, size_t n, char **ret, size_t *ret_len);
/*
 * Decode a bundle into owned copies (src[0] is the hub file), within lim
 * (NULL: the defaults). -EBADMSG when it is not a well-formed bundle,
 * -EFBIG when it is over the limits. Pure.
 */
int zt_lkg_decode(const char *buf, size_t len, const struct zt_limits *lim,
		  struct zt_policy_files *ret);

/*
 * Write the bundle into DIR/last-known-good atomically (a temporary file
 * of mode 0600, fsync, rename, fsync of the directory). The directory is
 * created (0700) when missing. Returns 0 or -errno.
 */
int zt_lkg_save(const char *dir, const struct zt_source *src, size_t n);
/*
 * Read DIR/last-known-good: not following links, a regular file owned by
 * root or owner_uid and writable by nobody else. -ENOENT when there is
 * none, -EPERM for wrong ownership or mode, -EBADMSG / -EFBIG as decode.
 */
int zt_lkg_load(const char *dir, const struct zt_limits *lim, uid_t owner_uid,
		struct zt_policy_files *ret);

/* ---- reload --confirm: the pending state, and what was rolled back ---- */

#define ZT_DIGEST_LEN 32
#define ZT_PENDING_FILE "pending-confirm"
#define ZT_PENDING_MAGIC "ztseg pending-confirm 1\n"
#define ZT_ROLLED_BACK_FILE "rolled-back"
#define ZT_ROLLED_BACK_MAGIC "ztseg rolled-back 1\n"

/* SHA-256 of the policy's bundle: its files' names and bytes. */
int zt_policy_digest(const struct zt_source *src, size_t n, uint8_t out[ZT_DIGEST_LEN]);

/*
 * A reload on trial: in force until deadline_usec (CLOCK_REALTIME) unless
 * confirmed; the previous policy's files, to roll back to, are kept with
 * it so that a daemon that dies during the window rolls back at its next
 * start, even with the last-known-good lost.
 */
struct zt_pending {
	uint64_t deadline_usec;
	uint64_t generation;		/* of the policy on trial */
	uid_t uid;			/* who asked */
	uint8_t trial[ZT_DIGEST_LEN];	/* zt_policy_digest() of the policy on trial */
	struct zt_policy_files prev;
};

void zt_pending_clear(struct zt_pending *p);
/*
 * The file: ZT_PENDING_MAGIC, "deadline N\n", "generation N\n", "uid N\n",
 * "trial HEX\n", then the previous policy's bundle (as last-known-good).
 * Pure; decode returns -EBADMSG or -EFBIG as zt_lkg_decode.
 */
int zt_pending_encode(const struct zt_pending *p, const struct zt_source *prev, size_t n, char **ret,
		      size_t *ret_len);
int zt_pending_decode(const char *buf, size_t len, const struct zt_limits *lim, struct zt_pending *ret);
/* DIR/pending-confirm, written atomically and read as last-known-good is. */
int zt_pending_save(const char *dir, const struct zt_pending *p, const struct zt_source *prev, size_t n);
int zt_pending_load(const char *dir, const struct zt_limits *lim, uid_t owner_uid, struct zt_pending *ret);

/*
 * DIR/rolled-back: the digest of a policy that was rolled back for want of
 * a confirmation, and when. A daemon starting with that very policy on
 * disk runs the last-known-good one instead: only an explicit reload
 * applies it again.
 */
int zt_rolled_back_save(const char *dir, const uint8_t digest[ZT_DIGEST_LEN], uint64_t at_usec);
int zt_rolled_back_load(const char *dir, uid_t owner_uid, uint8_t digest[ZT_DIGEST_LEN], uint64_t *ret_at);

#endif
