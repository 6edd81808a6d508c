/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Looking into struct zt_diags from the unit tests. */
#ifndef ZT_TEST_DIAG_UTIL_H
#define ZT_TEST_DIAG_UTIL_H

#include <stdio.h>
#include "diag.h"

/* Print every diagnostic, for the log of a failing case. */
static inline void diags_dump(const struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		fprintf(stderr, "  | %s\n", s ? s : "?");
	}
}

/* Is there a diagnostic at `loc` ("file:line:col" or "file") whose message contains frag? */
static inline bool has_diag(const struct zt_diags *d, const char *loc, const char *frag)
{
	size_t n = strlen(loc);

	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *s = zt_diag_format(&d->v[i]);

		if (s && !strncmp(s, loc, n) && s[n] == ':' && s[n + 1] == ' ' &&
		    strstr(s + n + 2, frag))
			return true;
	}
	return false;
}

#endif
