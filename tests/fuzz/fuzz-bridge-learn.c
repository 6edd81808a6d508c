/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer harness over lib/bridge-learn.c: any bytes as a datagram of
 * neighbour messages (the bridges' FDBs and neighbour tables, as the
 * kernel or anyone able to reach the socket might send them), each walked
 * as ztsegd does, parsed, judged and applied to a store.
 */
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include "bridge-learn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int one(const struct nlmsghdr *nlh, void *data)
{
	struct zt_bl_store *s = data;
	struct zt_bl_msg m;

	if (zt_bl_parse(nlh, nlh->nlmsg_len, &m) < 0)
		return 0;
	(void)zt_bl_fdb_pins(&m);
	(void)zt_bl_neigh_usable(&m);
	return zt_bl_apply(s, &m) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_bl_store s = {};
	/* aligned, as a receive buffer is */
	uint32_t *buf = malloc(size + 4);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	(void)zt_bl_walk(buf, size, one, &s);
	zt_bl_store_clear(&s);
	free(buf);
	return 0;
}
