/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nf_tables side the daemon watches and reads: notifications of every
 * committed transaction (who changed table inet ztseg, for drift), the
 * table's presence and owner, and its named counters.
 */
#ifndef ZT_NFMON_H
#define ZT_NFMON_H

#include "nft-dump.h"
#include "plan.h"

struct nlmsghdr;

/* The kernel's TASK_COMM_LEN and a NUL to spare. */
#define ZT_NFMON_COMM_MAX 17
/* Asked for (SO_RCVBUFFORCE) when zt_nfmon_open() is given 0: a full apply notifies every object. */
#define ZT_NFMON_RCVBUF_DEFAULT ((size_t)32 << 20)

/* One committed transaction that touched table inet ztseg (or ip, ip6, bridge ztseg). */
struct zt_nfmon_event {
	uint32_t genid;			/* the generation it made (NFTA_GEN_ID) */
	uint32_t portid;		/* the committing socket (the notifications' nlmsg_pid) */
	uint32_t pid;			/* its process (NFTA_GEN_PROC_PID); 0 when not said */
	char comm[ZT_NFMON_COMM_MAX];	/* and its name (NFTA_GEN_PROC_NAME); "" when not said */
	unsigned changes;		/* notifications about objects of table inet ztseg */
	bool table_deleted;		/* one of them was DELTABLE */
	bool feeds;			/* it touched table ip or ip6 ztseg (the feeds) */
	bool bridge;			/* it touched table bridge ztseg (bridged workloads) */
	bool bridge_deleted;		/* and deleted it */
	bool inet;			/* it touched table inet ztseg */
	bool mixed;			/* from more than one socket (cannot happen: commits are serialised) */
};

/* Pure: folds a stream of notifications into transactions. */
struct zt_nfmon_parser {
	unsigned changes;
	uint32_t portid;
	bool table_deleted, mixed, seen, feeds, bridge, bridge_deleted, inet;
};

/*
 * Feed one nf_tables notification (at most len bytes). Returns 1 with *ret
 * filled when it is the NEWGEN that ends a transaction which touched our
 * table, 0 otherwise (another table, or nothing to report yet), -EBADMSG
 * when malformed (the parser is reset).
 */
int zt_nfmon_feed(struct zt_nfmon_parser *p, const struct nlmsghdr *nlh, size_t len,
		  struct zt_nfmon_event *ret);
void zt_nfmon_parser_reset(struct zt_nfmon_parser *p);

struct zt_nfmon_stats {
	uint64_t messages;
	uint64_t transactions;		/* of our table, ours included */
	uint64_t overruns;		/* ENOBUFS: notifications were lost */
	uint64_t malformed;
	uint64_t quiet_windows;		/* zt_nfmon_quiet(m, true) calls that left the group */
	size_t rcvbuf;
};

struct zt_nfmon;

/* A non-blocking socket subscribed to NFNLGRP_NFTABLES; rcvbuf 0: the default. */
int zt_nfmon_open(size_t rcvbuf, struct zt_nfmon **ret);
/* Accepts NULL; returns NULL. */
struct zt_nfmon *zt_nfmon_free(struct zt_nfmon *m);
static inline void zt_nfmon_freep(struct zt_nfmon **m)
{
	zt_nfmon_free(*m);
}
#define _cleanup_nfmon_ _cleanup_(zt_nfmon_freep)

int zt_nfmon_fd(const struct zt_nfmon *m);

/*
 * Leave the notification group (on) around one's own large commits, whose
 * notifications the kernel would otherwise build one per object, and join
 * it again (off). What others commit meanwhile is not notified: compare
 * the generation id after (zt_nft_genid_read) to find out.
 */
int zt_nfmon_quiet(struct zt_nfmon *m, bool on);
const struct zt_nfmon_stats *zt_nfmon_stats(const struct zt_nfmon *m);

/*
 * Read what is queued (a bounded number of datagrams per call; the fd
 * stays readable for the rest) and call cb for every transaction that
 * touched our table. Returns how many, -ENOBUFS after an overrun
 * (counted; something may have been missed: look at the table), or
 * -errno.
 */
int zt_nfmon_process(struct zt_nfmon *m, void (*cb)(const struct zt_nfmon_event *ev, void *userdata),
		     void *userdata);

/* ---- reading the table ---- */


/* Is table inet ztseg there, and whose is it? */
int zt_nft_table_read(struct zt_nft_table_info *ret);
/* The same for table bridge ztseg. */
int zt_nft_bridge_table_read(struct zt_nft_table_info *ret);

struct zt_nft_counter {
	char name[ZT_OBJ_NAME_MAX];
	uint64_t packets, bytes;
};

/*
 * The named counters of table inet ztseg, sorted by name (at most
 * ZT_NFT_COUNTERS_MAX). -ENOENT when the table is not there.
 */
#define ZT_NFT_COUNTERS_MAX 1000000
int zt_nft_counters_read(struct zt_nft_counter **ret, size_t *ret_n);
/* Binary search in what zt_nft_counters_read() returned; NULL when absent. */
const struct zt_nft_counter *zt_nft_counter_find(const struct zt_nft_counter *v, size_t n,
						 const char *name);

#endif
