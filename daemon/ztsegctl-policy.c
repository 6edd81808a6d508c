/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ztsegctl: loading a policy directory and printing its diagnostics where the user looks. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ztsegctl.h"

/*
 * The library names files relative to the config dir ("segments.d/db.yaml");
 * the user gave the dir on the command line and wants a path to open:
 * "policy/segments.d/db.yaml". A diagnostic about the directory itself
 * (named as given, or ".") or about the policy as a whole names the
 * directory.
 */
static char *path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir);
	char *s;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (!file || !*file || streq(file, ".") || streq(file, dir))
		return zt_strndup(dir, n);
	if (n == 0 || file[0] == '/' || (n == 1 && dir[0] == '.'))
		return strdup(file);
	if (asprintf(&s, "%.*s%s%s", (int)n, dir, dir[n - 1] == '/' ? "" : "/", file) < 0)
		return NULL;
	return s;
}

void ctl_diags_print(const char *dir, const struct zt_diags *d, FILE *f)
{
	for (size_t i = 0; i < d->n; i++) {
		_cleanup_free_ char *path = path_join(dir, d->v[i].file);
		struct zt_diag dg = d->v[i];

		/* Out of memory: the relative name is better than nothing. */
		if (path)
			dg.file = path;
		zt_diag_print(&dg, f);
	}
	if (d->truncated)
		fprintf(f, "too many diagnostics, %zu not shown\n",
			d->n_errors + d->n_warnings - d->n);
}

int ctl_policy_load(const char *dir, struct zt_policy **ret, struct zt_diags *d)
{
	int r;

	r = zt_policy_load_dir(dir, NULL, getuid(), ret, d);
	zt_diags_sort(d);
	ctl_diags_print(dir, d, stderr);
	/* -EINVAL: the diagnostics say it all; anything else, say what failed. */
	if (r < 0 && (r != -EINVAL || d->n_errors == 0))
		fprintf(stderr, "%s: cannot load the policy: %s\n", dir, strerror(-r));
	return r < 0 ? r : 0;
}
