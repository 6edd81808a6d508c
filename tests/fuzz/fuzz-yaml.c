/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: arbitrary bytes through the strict YAML reader. */
#include "yaml-tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	int r;

	r = zt_yaml_parse("fuzz.yaml", (const char *)data, size, NULL, &root, &d);
	/* every failure leaves exactly one diagnostic, and no tree */
	if (r == -EINVAL && (d.n_errors != 1 || root))
		__builtin_trap();
	if (r == 0 && d.n)
		__builtin_trap();
	zt_node_free(root);
	zt_diags_clear(&d);
	return 0;
}
