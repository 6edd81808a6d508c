/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Array growth and string helpers. */
#include "util.h"

int zt_grow(void **array, size_t *cap, size_t n, size_t elem_size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap : 4;
	while (ncap <= n) {
		if (ncap > SIZE_MAX / 2 / elem_size)
			return -ENOMEM;
		ncap *= 2;
	}
	p = realloc(*array, ncap * elem_size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + *cap * elem_size, 0, (ncap - *cap) * elem_size);
	*array = p;
	*cap = ncap;
	return 0;
}

char *zt_strndup(const char *s, size_t n)
{
	char *r = malloc(n + 1);

	if (!r)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}
