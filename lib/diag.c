/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Collecting and printing diagnostics. */
#include <stdio.h>
#include <stdlib.h>
#include "diag.h"

int zt_diag_addv(struct zt_diags *d, enum zt_severity sev, const char *file,
		 unsigned line, unsigned col, const char *fmt, va_list ap)
{
	struct zt_diag *dg;
	size_t max = d->max ? d->max : ZT_DIAG_MAX_DEFAULT;
	int ret = sev == ZT_SEV_ERROR ? -EINVAL : 0;

	if (sev == ZT_SEV_ERROR)
		d->n_errors++;
	else
		d->n_warnings++;
	if (d->n >= max) {
		d->truncated = true;
		return ret;
	}
	if (ZT_GROW(d->v, d->cap, d->n) < 0)
		return -ENOMEM;
	dg = &d->v[d->n];
	memset(dg, 0, sizeof(*dg));
	dg->sev = sev;
	dg->line = line;
	dg->col = col;
	if (file && !(dg->file = strdup(file)))
		return -ENOMEM;
	if (vasprintf(&dg->msg, fmt, ap) < 0) {
		free(dg->file);
		return -ENOMEM;
	}
	d->n++;
	return ret;
}

int zt_diag_add(struct zt_diags *d, enum zt_severity sev, const char *file,
		unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(d, sev, file, line, col, fmt, ap);
	va_end(ap);
	return r;
}

char *zt_diag_format(const struct zt_diag *dg)
{
	const char *w = dg->sev == ZT_SEV_WARNING ? "warning: " : "";
	char *s = NULL;
	int r;

	/* A line without a column (a feed file's line): file:line: message. */
	if (dg->file && dg->line && !dg->col)
		r = asprintf(&s, "%s:%u: %s%s", dg->file, dg->line, w, dg->msg);
	else if (dg->file && dg->line)
		r = asprintf(&s, "%s:%u:%u: %s%s", dg->file, dg->line, dg->col, w, dg->msg);
	else if (dg->file)
		r = asprintf(&s, "%s: %s%s", dg->file, w, dg->msg);
	else
		r = asprintf(&s, "%s%s", w, dg->msg);
	return r < 0 ? NULL : s;
}

void zt_diag_print(const struct zt_diag *dg, FILE *f)
{
	_cleanup_free_ char *s = zt_diag_format(dg);

	if (s)
		fprintf(f, "%s\n", s);
}

void zt_diags_print(const struct zt_diags *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++)
		zt_diag_print(&d->v[i], f);
	if (d->truncated)
		fprintf(f, "too many diagnostics, %zu not shown\n",
			d->n_errors + d->n_warnings - d->n);
}

static int diag_cmp(const struct zt_diag *x, const struct zt_diag *y)
{
	int c;

	/* Diagnostics without a file (whole-policy) sort last. */
	if (!x->file != !y->file)
		return x->file ? -1 : 1;
	if (x->file && (c = strcmp(x->file, y->file)))
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return 0;
}

/* Insertion sort: stable, and the list is capped at a few hundred entries. */
void zt_diags_sort(struct zt_diags *d)
{
	for (size_t i = 1; i < d->n; i++) {
		struct zt_diag t = d->v[i];
		size_t j = i;

		while (j > 0 && diag_cmp(&d->v[j - 1], &t) > 0) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = t;
	}
}

void zt_diags_clear(struct zt_diags *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	*d = (struct zt_diags){ .max = d->max };
}
