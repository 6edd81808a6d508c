/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Last-known-good: the raw files of the last policy the daemon applied,
 * kept in one file of the state directory, so that a boot with a broken
 * policy on disk can still apply the last good one.
 */
#ifndef ZT_LKG_H
#define ZT_LKG_H

#include "policy.h"

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

#endif
