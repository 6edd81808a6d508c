/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by every file: cleanup attributes, ownership, arrays. */
#ifndef ZT_UTIL_H
#define ZT_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand ownership of *p to the caller and leave NULL behind. */
#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _tp = (p);                                       \
		(p) = NULL;                                                    \
		_tp;                                                           \
	})

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/*
 * Grow a malloc'd array so that index n fits; *cap tracks the allocation
 * (doubled, by a quarter past 1 MiB); what is added is zeroed. Returns 0
 * or -ENOMEM; the array is unchanged on failure.
 */
int zt_grow(void **array, size_t *cap, size_t n, size_t elem_size);
#define ZT_GROW(arr, cap, n) zt_grow((void **)&(arr), &(cap), (n), sizeof(*(arr)))

/*
 * A large block just allocated, about to be written whole: its pages made
 * present in one call (MADV_POPULATE_WRITE, Linux 5.14) rather than by a
 * page fault each, which costs about a third more here (bench/RESULTS.md,
 * issue 16 session 10). Blocks under 1 MiB and older kernels: nothing.
 */
void zt_prefault(void *p, size_t len);

/* strdup/strndup that return NULL only on allocation failure. */
char *zt_strndup(const char *s, size_t n);

/*
 * DIR/NAME := data, atomically: a temporary file (O_NOFOLLOW, 0600),
 * fsync, rename, fsync of the directory, which is made (0700) when
 * missing. Returns 0 or -errno; nothing half-written is left behind.
 */
int zt_write_atomic(const char *dir, const char *name, const void *data, size_t len);

#endif
