/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness over the whole offline pipeline: loader, validator,
 * compiler and renderer. The input is split at "\n---8<---\n" markers into
 * the hub file and up to seven segment files, so cross-file rules
 * (delegation, "hub:" in a spoke, duplicate segments) are reached too.
 */
#include <stdio.h>
#include "plan.h"
#include "policy.h"
#include "render.h"

#define SEP "\n---8<---\n"
#define MAX_FILES 8

static const char *const names[MAX_FILES] = {
	"ztseg.yaml", "segments.d/a.yaml", "segments.d/b.yaml", "segments.d/c.yaml",
	"segments.d/d.yaml", "segments.d/e.yaml", "segments.d/f.yaml", "segments.d/g.yaml",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_source src[MAX_FILES];
	struct zt_diags d = {};
	struct zt_policy *p = NULL;
	struct zt_plan *plan = NULL;
	const char *buf = (const char *)data, *end = buf + size;
	size_t n = 0;

	while (n < MAX_FILES) {
		const char *sep = memmem(buf, (size_t)(end - buf), SEP, strlen(SEP));

		src[n].name = names[n];
		src[n].buf = buf;
		src[n].len = sep ? (size_t)(sep - buf) : (size_t)(end - buf);
		n++;
		if (!sep)
			break;
		buf = sep + strlen(SEP);
	}

	if (zt_policy_load_sources(src, n, NULL, &p, &d) == 0) {
		/* A valid policy must compile and render without crashing. */
		if (zt_compile(p, NULL, &plan, &d) == 0) {
			FILE *f = fopen("/dev/null", "w");

			if (f) {
				zt_render(plan, f);
				fclose(f);
			}
		}
	}
	for (size_t i = 0; i < d.n; i++)
		if (d.v[i].sev == ZT_SEV_ERROR && !d.v[i].msg)
			__builtin_trap();
	zt_plan_free(plan);
	zt_policy_free(p);
	zt_diags_clear(&d);
	return 0;
}
