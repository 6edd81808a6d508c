/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Text safe to print on a terminal or write to a log: names that come
 * from outside (interface names, policy names, a client's arguments) may
 * carry control bytes that redraw a terminal or forge a log line.
 */
#ifndef ZT_ESCAPE_H
#define ZT_ESCAPE_H

#include <stddef.h>

/*
 * Copy src into dst (of len bytes, len > 0), with C0 control characters,
 * DEL and the C1 controls as UTF-8 encodes them (0xc2 0x80..0x9f) written
 * as \xNN. Always NUL-terminates; an escape that does not fit whole is
 * left out, with what follows it. Returns the length src needs escaped
 * (like snprintf), so a return >= len means dst was cut short.
 */
size_t zt_escape_to(char *dst, size_t len, const char *src);

/* The same into a malloc'd string; NULL only when out of memory. */
char *zt_escape(const char *src);

#endif
