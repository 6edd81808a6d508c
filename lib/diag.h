/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Diagnostics: user-facing errors and warnings travel as data (file, line,
 * column, message). Library code never prints; the programs decide.
 */
#ifndef ZT_DIAG_H
#define ZT_DIAG_H

#include <stdarg.h>
#include <stdio.h>
#include "util.h"

enum zt_severity {
	ZT_SEV_ERROR,
	ZT_SEV_WARNING,
};

struct zt_diag {
	enum zt_severity sev;
	char *file;		/* relative to the config dir; NULL if none */
	unsigned line, col;	/* 1-based; 0 when the message is about a whole file */
	char *msg;
};

#define ZT_DIAG_MAX_DEFAULT 100

struct zt_diags {
	struct zt_diag *v;
	size_t n, cap;
	size_t max;		/* stop recording beyond this many (0: default) */
	size_t n_errors, n_warnings;
	bool truncated;		/* more diagnostics were produced than recorded */
};

/*
 * Record a diagnostic. Returns -EINVAL for an error (so a caller can
 * `return zt_diag_error(...)`), 0 for a warning, -ENOMEM on allocation
 * failure.
 */
int zt_diag_add(struct zt_diags *d, enum zt_severity sev, const char *file,
		unsigned line, unsigned col, const char *fmt, ...) _printf_(6, 7);
int zt_diag_addv(struct zt_diags *d, enum zt_severity sev, const char *file,
		 unsigned line, unsigned col, const char *fmt, va_list ap)
	_printf_(6, 0);

#define zt_diag_error(d, file, line, col, ...)                                 \
	zt_diag_add((d), ZT_SEV_ERROR, (file), (line), (col), __VA_ARGS__)
#define zt_diag_warning(d, file, line, col, ...)                               \
	zt_diag_add((d), ZT_SEV_WARNING, (file), (line), (col), __VA_ARGS__)

/* "file:line:col: message", "file: message" or "message"; warnings get "warning: ". */
void zt_diag_print(const struct zt_diag *dg, FILE *f);
void zt_diags_print(const struct zt_diags *d, FILE *f);
/* Format one diagnostic into a malloc'd string (same format as print). */
char *zt_diag_format(const struct zt_diag *dg);

/* Sort by file, line, column (stable) so output is deterministic. */
void zt_diags_sort(struct zt_diags *d);
void zt_diags_clear(struct zt_diags *d);

#endif
