/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Control characters as \xNN, for the terminal and the journal. */
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"

size_t zt_escape_to(char *dst, size_t len, const char *src)
{
	size_t need = 0, at = 0;
	bool cut = false;

	for (const unsigned char *q = (const unsigned char *)src; *q; q++) {
		char esc[5];
		const char *out = esc;
		size_t n;

		if (*q < 0x20 || *q == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", *q);
			n = 4;
		} else if (*q == 0xc2 && q[1] >= 0x80 && q[1] <= 0x9f) {
			/* A C1 control: as dangerous to a terminal as its 8-bit form. */
			snprintf(esc, sizeof(esc), "\\x%02x", q[1]);
			n = 4;
			q++;
		} else {
			out = (const char *)q;
			n = 1;
		}
		if (!cut && at + n < len) {
			memcpy(dst + at, out, n);
			at += n;
		} else {
			cut = true;
		}
		need += n;
	}
	if (len)
		dst[at] = '\0';
	return need;
}

char *zt_escape(const char *src)
{
	size_t n = zt_escape_to(NULL, 0, src);
	char *r = malloc(n + 1);

	if (r)
		zt_escape_to(r, n + 1, src);
	return r;
}
