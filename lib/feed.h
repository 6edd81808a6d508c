/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Threat-intelligence feeds (threats.blocklists): a feed file strictly
 * parsed into address ranges (feed-parse.c), the feeds of a policy
 * flattened into one labelled interval list per family and direction with
 * threats.except carved out, and the difference of two such lists cut
 * into chunks that each keep every address's verdict exact (feed-diff.c).
 * Pure: no I/O, no clock.
 */
#ifndef ZT_FEED_H
#define ZT_FEED_H

#include <stdatomic.h>
#include "diag.h"
#include "net.h"

typedef unsigned __int128 zt_u128;

/* One entry of a feed file: an inclusive range, host byte order. */
struct zt_feed_e4 {
	uint32_t lo, hi;
	uint32_t line;
};
struct zt_feed_e6 {
	zt_u128 lo, hi;
	uint32_t line;
};

/* Defaults (ztseg.yaml(5)): refuse beyond these. */
#define ZT_FEED_MAX_BYTES_DEFAULT (256u << 20)	/* a feed file */
#define ZT_FEED_LINE_MAX 512			/* a line, comments included */
#define ZT_FEED_MAX_BAD_PCT_DEFAULT 1		/* bad lines, % of the lines with an entry */
#define ZT_FEED_MAX_SHRINK_PCT_DEFAULT 50	/* entries lost at once, % of the last good copy */
#define ZT_FEED_SHRINK_MIN 100			/* the shrink guard starts at this many entries */
#define ZT_FEED_MIN_PLEN4 8			/* no entry wider than a /8 (IPv4) */
#define ZT_FEED_MIN_PLEN6 16			/* or a /16 (IPv6) */
#define ZT_FEED_DIAGS_MAX 20			/* bad lines reported one by one */

struct zt_feed_limits {
	uint64_t max_bytes;
	unsigned max_bad_pct;
	unsigned max_shrink_pct;
	size_t prev_entries;		/* the last good copy's entries; 0: none */
};

/*
 * Entries by width: tier k holds those whose span (hi - lo) has at most 8k
 * bits, so that the entries meeting an address range are found by a binary
 * search per tier, looking back at most the tier's widest span.
 */
#define ZT_FEED_TIERS 17

/* A bad line: its number and where it starts in the file. */
struct zt_feed_bad {
	uint32_t line;
	uint64_t off;
};

/*
 * A parsed feed: its entries sorted by tier, then (lo, hi, line); its bad
 * lines, in order; and, once the caller hands them over
 * (zt_feed_data_keep), the very bytes it was parsed from, so that the next
 * version of the file is parsed only where its bytes differ
 * (zt_feed_parse_inc).
 */
struct zt_feed_data {
	struct zt_feed_e4 *e4;
	size_t n4, cap4;
	struct zt_feed_e6 *e6;
	size_t n6, cap6;
	size_t t4[ZT_FEED_TIERS + 1], t6[ZT_FEED_TIERS + 1];	/* tier k: e4[t4[k] .. t4[k + 1]) */
	struct zt_feed_bad *badv;	/* every bad line, in line order (bad of them) */
	size_t capbad;
	size_t lines, bad;
	char *text;			/* the file's bytes (owned); NULL: not kept, the next version parsed whole */
	size_t text_len;
};

/* What one version of a feed adds and removes against the one before: entries, sorted by tier. */
struct zt_feed_delta {
	struct zt_feed_e4 *add4, *del4;
	size_t nadd4, ndel4;
	struct zt_feed_e6 *add6, *del6;
	size_t nadd6, ndel6;
};

void zt_feed_delta_clear(struct zt_feed_delta *dl);

/*
 * The calling thread's cancel flag (NULL: none). Once it is set, the long
 * loops of the parse, the flattening, the cut and the differences stop
 * within ZT_FEED_CANCEL_EVERY steps and return -ECANCELED (their inputs
 * as they were, their outputs to be discarded).
 */
#define ZT_FEED_CANCEL_EVERY 65536
void zt_feed_cancel_on(const atomic_bool *flag);
const atomic_bool *zt_feed_cancel_flag(void);
bool zt_feed_cancelled(void);

void zt_feed_data_clear(struct zt_feed_data *f);
/* f keeps text, the len bytes it was just parsed from, exactly (owned from now on; its old text freed). */
void zt_feed_data_keep(struct zt_feed_data *f, char *text, size_t len);

/*
 * Parse a feed file's bytes. Every bad line is a `file:line: message`
 * error in d (at most ZT_FEED_DIAGS_MAX, then a count); a line's content
 * appears only as a bounded, escaped excerpt. Returns 0 (bad lines within
 * the limit are reported as warnings and skipped), -EINVAL when the feed is
 * refused (too many bad lines, shrinks too much; the reason is the last
 * error in d), or -ENOMEM.
 */
int zt_feed_parse(const char *file, const char *buf, size_t len, const struct zt_feed_limits *lim,
		  struct zt_feed_data *ret, struct zt_diags *d);
/*
 * The same result as zt_feed_parse, the same diagnostics in the same order,
 * but lines byte for byte equal to a line of prev's text (aligned in order;
 * bad lines are parsed again) are not parsed: their entries are prev's,
 * renumbered. *delta: the entries removed and added (when *inc); *inc
 * false: the file was parsed whole (no prev, prev without its text, or too
 * few lines kept).
 */
int zt_feed_parse_inc(const char *file, const char *buf, size_t len, const struct zt_feed_limits *lim,
		      const struct zt_feed_data *prev, struct zt_feed_data *ret, struct zt_feed_delta *delta, bool *inc,
		      struct zt_diags *d);
/* The widest span tier k may hold. */
zt_u128 zt_feed_tier_span(size_t k);
/* The first entry of f's tier k (family) starting at or after v (host order). */
size_t zt_feed_tier_from(const struct zt_feed_data *f, uint8_t family, size_t k, zt_u128 v);
/* A prefix as a range, host order: its first address; *hi its last. */
zt_u128 zt_feed_cidr_range(const struct zt_cidr *c, zt_u128 *hi);

/* One kernel element: a range of one feed (its index in the policy), host order. */
struct zt_fel4 {
	uint32_t lo, hi;
	uint32_t feed;
};
struct zt_fel6 {
	zt_u128 lo, hi;
	uint32_t feed;
};

/* What the kernel holds for one family and direction: sorted, disjoint. */
struct zt_fset {
	uint8_t family;
	struct zt_fel4 *v4;
	struct zt_fel6 *v6;
	size_t n, cap;
};

void zt_fset_clear(struct zt_fset *s);
int zt_fset_copy(struct zt_fset *dst, const struct zt_fset *src);
/* Element i of src appended to dst (of the same family; the caller keeps the order). */
int zt_fset_append(struct zt_fset *dst, const struct zt_fset *src, size_t i);

/*
 * Add the ranges of feed `feed` to s below what s already holds (earlier
 * feeds win an overlap), minus the except prefixes of s's family. Entries
 * overlapping an except prefix are counted into *carved.
 */
int zt_fset_add_feed(struct zt_fset *s, const struct zt_feed_data *f, uint32_t feed,
		     const struct zt_cidr *except, size_t n_except, size_t *carved);

/*
 * Move s's single-address elements (lo == hi: a /32, a /128) into *exact
 * (cleared first; the hash maps), leaving the ranges in s (the interval
 * maps); both sorted and disjoint still, and shrunk to fit.
 */
int zt_fset_split(struct zt_fset *s, struct zt_fset *exact);
/*
 * Shards: an interval map split by address range into n maps (each commit
 * then costs the shards it touches, not the whole map). bounds[k] is the
 * first address of shard k; bounds[0] is 0, strictly increasing.
 */
size_t zt_fset_shard_of(const zt_u128 *bounds, size_t n, zt_u128 a);
/* Cut s's elements where they cross a shard's start: every element then lies in one shard. */
int zt_fset_cut(struct zt_fset *s, const zt_u128 *bounds, size_t n);
/* Bounds that give each of n shards about as many of s's elements: -EINVAL when s has fewer than n. */
int zt_fset_bounds(const struct zt_fset *s, size_t n, zt_u128 *bounds);
/* Bounds that split the family's address space evenly (the tables' first layout, before any element). */
void zt_fset_bounds_even(uint8_t family, size_t n, zt_u128 *bounds);
/* The arrays of s down to its elements (no spare capacity). */
void zt_fset_shrink(struct zt_fset *s);

/*
 * A map's shard layout as its selector holds it (lib/feed-layout.c): n
 * address ranges, range i from lo[i] to lo[i + 1] - 1 (the last to the
 * top), looked up in the map of slot slot[i]. lo[0] is 0, lo strictly
 * increasing, no two neighbours of one slot; a slot may own several
 * ranges, and slots no range names are free.
 */
#define ZT_FLAYOUT_MAX 512
/* A slot's even share is never taken below this many elements (a small map is not split). */
#define ZT_FLAYOUT_MIN_SHARE 256
struct zt_flayout {
	size_t n;
	zt_u128 lo[ZT_FLAYOUT_MAX];
	uint16_t slot[ZT_FLAYOUT_MAX];
};

/* n ranges starting at bounds[] (zt_fset_bounds, _even), range i in slot i. */
void zt_flayout_set(struct zt_flayout *l, const zt_u128 *bounds, size_t n);
size_t zt_flayout_slot_of(const struct zt_flayout *l, zt_u128 a);
bool zt_flayout_eq(const struct zt_flayout *a, const struct zt_flayout *b);
/* As described above, with every slot under n_slots. */
bool zt_flayout_valid(const struct zt_flayout *l, size_t n_slots);
/*
 * The layout for an update of a map from cur (in the kernel, laid out as
 * old) to want (both cut at old's bounds), into *ret: slots that hold
 * nothing in either give their ranges to a neighbour; a run of want's
 * elements that overlaps no element of cur, with none of cur between
 * them, of at least two even shares (want's elements / n_base, at least
 * ZT_FLAYOUT_MIN_SHARE) in a slot that would hold more than four, gets
 * ranges of its own in free slots, at most two shares each (as many as
 * there are free slots that old does not name; none is taken from old).
 * Every element of cur keeps its slot, and no element of either version
 * crosses a new range's start. An empty cur keeps old. 1: changed, 0: not,
 * -ENOMEM. *split (may be NULL): the slots the runs took.
 */
int zt_flayout_plan(const struct zt_flayout *old, const struct zt_fset *cur, const struct zt_fset *want,
		    size_t n_slots, size_t n_base, struct zt_flayout *ret, size_t *split);

/* The element of s holding addr (host order for v4, network bytes for v6), or -1. */
ssize_t zt_fset_find(const struct zt_fset *s, const uint8_t *addr);

/* An element to add or delete; chunks never split an overlapping del/add pair. */
struct zt_fop {
	bool add;
	size_t idx;			/* into the new (add) or old (del) set */
};

struct zt_fdiff {
	struct zt_fop *ops;		/* per chunk: deletes first, then adds */
	size_t n, cap;
	size_t *chunk_end;		/* ops[chunk_end[i-1] .. chunk_end[i]) is chunk i */
	size_t n_chunks, cap_chunks;
	size_t adds, dels;
};

void zt_fdiff_clear(struct zt_fdiff *df);

/*
 * Which operations a difference holds. An old element is *gone* when it
 * overlaps no element of new. ZT_FDIFF_ALL: every add and delete;
 * ZT_FDIFF_KEEP_GONE: all but the deletes of gone elements; ZT_FDIFF_GONE:
 * only those. Applied KEEP_GONE first and GONE last, a map's addresses
 * that move to another map (an exact address into a prefix, or back) stay
 * where they were until the other map holds them.
 */
enum zt_fdiff_mode { ZT_FDIFF_ALL, ZT_FDIFF_KEEP_GONE, ZT_FDIFF_GONE };
/*
 * old → new: the elements to delete and to add, in chunks of about
 * `chunk` operations. Each chunk, applied in one transaction, leaves every
 * address listed in both versions listed and every address in neither
 * unlisted: a deleted element and an added one that overlap share a chunk.
 */
int zt_fset_diff(const struct zt_fset *old, const struct zt_fset *new, size_t chunk, enum zt_fdiff_mode mode,
		 struct zt_fdiff *ret);

/*
 * Windows of the address space where two versions of a map may differ:
 * sorted, disjoint, and no element of either version crosses an edge.
 */
struct zt_fwin {
	zt_u128 lo, hi;
};
struct zt_fwins {
	struct zt_fwin *v;
	size_t n, cap;
};
/* zt_fset_diff where old and new differ only inside w's windows (NULL: anywhere): the same operations and chunks. */
int zt_fset_diff_win(const struct zt_fset *old, const struct zt_fset *new, size_t chunk, enum zt_fdiff_mode mode,
		     const struct zt_fwins *w, struct zt_fdiff *ret);
/*
 * The deletes of a ZT_FDIFF_GONE difference of old (in address order) into
 * those whose element overlaps an element of cover (late) and the others
 * (early), each in chunks of `chunk` deletes. A single address gone from a
 * hash map and not in the new version's interval map (cover) is listed by
 * neither version: it may go at any time, with the adds (ztsegd-feeds.c).
 * 0, -ENOMEM, -EINVAL (an add in gone).
 */
int zt_fdiff_gone_split(const struct zt_fdiff *gone, const struct zt_fset *old, const struct zt_fset *cover,
			size_t chunk, struct zt_fdiff *early, struct zt_fdiff *late);
/*
 * a's chunks with b's between them, in order, each whole: before each
 * chunk of a, b's next chunks until b has given as many operations as a
 * so far; the rest of b at the end. For operations that overlap nothing
 * of the other (b: deletes of elements no version of a lists), so that a
 * map's size stays level while one is replaced by the other.
 */
int zt_fdiff_interleave(const struct zt_fdiff *a, const struct zt_fdiff *b, struct zt_fdiff *ret);

/*
 * The maps of the feeds (the daemon's layout): [family * 2 + dst] v4 src,
 * v4 dst, v6 src, v6 dst — ranges, cut at their shard bounds; + 4: the
 * single addresses of each.
 */
#define ZT_FMAPS_R 4
#define ZT_FMAPS 8

/* A feed as the flattening sees it. */
struct zt_feed_src {
	const struct zt_feed_data *data;	/* NULL: not loaded (lists nothing) */
	const struct zt_feed_delta *delta;	/* what changed since the maps were made; NULL: unknown */
	bool changed;				/* data differs from what the maps were made of */
	uint32_t id;
	bool src, dst;				/* lists sources (in, both), destinations (out, both) */
	size_t carved;				/* out (in: its count when the maps were made) */
};

/* All maps from the feeds (policy order), uncut: the first feed listing an address wins, except carved out. */
int zt_feeds_flatten(struct zt_feed_src *v, size_t n, const struct zt_cidr *except, size_t n_except,
		     struct zt_fset want[ZT_FMAPS]);
/*
 * The same maps (cut at bounds[s], n_bounds[s] each) made from cur — the
 * maps of the feeds before their deltas, cut at the same bounds — by
 * making anew only the windows of the address space the deltas touch.
 * wins[s]: those windows of map s and its single addresses (s + 4).
 * -EAGAIN: a changed feed without a delta (the caller flattens whole).
 */
int zt_feeds_flatten_inc(struct zt_feed_src *v, size_t n, const struct zt_cidr *except, size_t n_except,
			 const struct zt_fset cur[ZT_FMAPS], const zt_u128 *const bounds[ZT_FMAPS_R],
			 const size_t n_bounds[ZT_FMAPS_R], struct zt_fset want[ZT_FMAPS], struct zt_fwins wins[ZT_FMAPS_R]);
void zt_fwins_clear(struct zt_fwins *w);

/* The entry of a feed containing addr with the lowest line (the first in the file): index into e4/e6, or -1. */
ssize_t zt_feed_find(const struct zt_feed_data *f, uint8_t family, const uint8_t *addr);
/* An address (network order: 4 bytes for AF_INET, 16 for AF_INET6) as a value, host order. */
zt_u128 zt_feed_addr_value(uint8_t family, const uint8_t *addr);

/*
 * The ranges an update listed (added elements, of any map), searchable by
 * address: whose connections are to be checked again (ztsegd-feeds.c,
 * feed-cut.c). Per family, sorted by lo once built; hi_max[i] is the
 * highest hi of ranges 0..i, so that one binary search answers.
 */
struct zt_feed_cut {
	struct {
		zt_u128 *lo, *hi;
		size_t n, cap;
	} f[2];				/* [0] IPv4, [1] IPv6 */
	bool built;
};

/* Another range [lo, hi] of family (host order): 0 or -ENOMEM. */
int zt_feed_cut_add(struct zt_feed_cut *c, uint8_t family, zt_u128 lo, zt_u128 hi);
/* Sorted for zt_feed_cut_has(): 0 or -ENOMEM. */
int zt_feed_cut_build(struct zt_feed_cut *c);
/* Does some range hold addr (network order) of family? */
bool zt_feed_cut_has(const struct zt_feed_cut *c, uint8_t family, const uint8_t *addr);
size_t zt_feed_cut_count(const struct zt_feed_cut *c);
void zt_feed_cut_clear(struct zt_feed_cut *c);
/* Format entry i of the family's list as "a/len" or "a-b" into buf. */
const char *zt_feed_entry_fmt(const struct zt_feed_data *f, uint8_t family, size_t i, char *buf, size_t len);

#endif
