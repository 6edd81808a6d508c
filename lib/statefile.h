/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's state files (last-known-good, a reload on trial, one rolled
 * back, ztsegd --oneshot's record of what it applied): one reader that
 * trusts them no more than the policy directory, and the strict line
 * parsers their formats share. They are written with zt_write_atomic().
 */
#ifndef ZT_STATEFILE_H
#define ZT_STATEFILE_H

#include <stdio.h>
#include <sys/types.h>
#include "util.h"

/*
 * Read DIR/NAME whole: not following links, a regular file owned by root
 * or owner_uid that neither group nor others can write, at most max
 * bytes. -ENOENT when there is none; -EPERM for a link, another kind of
 * file, the wrong owner or mode; -EFBIG over max; -EBADMSG when it changed
 * while read (a writer renames, never rewrites). *ret_why (if non-NULL)
 * says what is wrong in words; static or strerror()'s, valid until the
 * next call.
 */
int zt_state_read(const char *dir, const char *name, size_t max, uid_t owner_uid, char **ret,
		  size_t *ret_len, const char **ret_why);

/* Remove DIR/NAME: 1 removed, 0 there was none, -errno. */
int zt_state_remove(const char *dir, const char *name);

/*
 * "KEY VALUE\n" at buf + *off, VALUE a decimal without sign or leading
 * zeros of at most 20 digits that fits in uint64_t; *off is advanced past
 * the line.
 */
bool zt_state_dec_line(const char *buf, size_t len, size_t *off, const char *key, uint64_t *ret);
/* "KEY HEX\n" at buf + *off, HEX exactly 2 * n lowercase digits into out[n]; *off advanced. */
bool zt_state_hex_line(const char *buf, size_t len, size_t *off, const char *key, uint8_t *out,
		       size_t n);
/* n bytes as 2 * n lowercase hex digits. */
void zt_state_hex_put(FILE *f, const uint8_t *v, size_t n);

#endif
