/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cgroup v2 for unit zones (issue 20): where the cgroup2 hierarchy is
 * mounted (unified at /sys/fs/cgroup, or hybrid at /sys/fs/cgroup/unified),
 * unit names and patterns, which cgroup paths a unit name may match (only
 * system.slice/NAME: never a cgroup under user@UID.service or any other
 * delegated subtree), and a cgroup's id (what `socket cgroupv2 level N`
 * compares). The parsers and the matcher are pure; zt_cgroup_id_at() and
 * zt_cgroup_root_detect() read the system.
 */
#ifndef ZT_CGROUP_H
#define ZT_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_UNIT_NAME_MAX 255	/* systemd's UNIT_NAME_MAX - 1 */
#define ZT_UNIT_SLICE "system.slice"

enum zt_cgroup_layout {
	ZT_CGROUP_NONE,		/* no cgroup2 mount */
	ZT_CGROUP_UNIFIED,	/* cgroup2 at /sys/fs/cgroup */
	ZT_CGROUP_HYBRID,	/* cgroup2 at /sys/fs/cgroup/unified (v1 controllers beside it) */
	ZT_CGROUP_OTHER,	/* cgroup2 mounted somewhere else only */
};

/*
 * The cgroup2 mount point in /proc/self/mountinfo text: the unified
 * layout's /sys/fs/cgroup if it is cgroup2, else the hybrid layout's
 * /sys/fs/cgroup/unified, else the first cgroup2 mount. Mount points are
 * unescaped (\040 is a space). Returns the layout; buf gets the mount
 * point ("" for ZT_CGROUP_NONE, and when it does not fit buf).
 */
enum zt_cgroup_layout zt_cgroup_parse_mountinfo(const char *text, char *buf, size_t len);

/* The same for this system (reads /proc/self/mountinfo). -errno on a read error. */
int zt_cgroup_root_detect(char *buf, size_t len, enum zt_cgroup_layout *layout);

const char *zt_cgroup_layout_str(enum zt_cgroup_layout l);

/*
 * A unit name or pattern as written in `units:`: "api.service",
 * "backup-*.service", "worker.slice", or the explicit path
 * "system.slice/api.service" (the same thing). Only the unit types that
 * own a cgroup (.service, .scope, .slice); systemd's unit-name characters
 * (ASCII letters, digits, ":-_.\@"); '*' and '?' as glob characters, and
 * not in the suffix. *err says what is wrong.
 */
struct zt_unitpat {
	char name[ZT_UNIT_NAME_MAX + 1];	/* without "system.slice/" */
	bool glob;				/* has '*' or '?' */
};

int zt_unitpat_parse(const char *s, struct zt_unitpat *ret, const char **err);

/*
 * Does the pattern match the cgroup at `rel` (relative to the cgroup2
 * root, no leading '/')? Only "system.slice/NAME" with NAME one path
 * component can match: a cgroup of that name under user.slice, under
 * user@UID.service or nested anywhere below a unit never does.
 */
bool zt_unitpat_match(const struct zt_unitpat *p, const char *rel);

/* Could one unit name match both patterns? (overlap means a unit is in two zones) */
bool zt_unitpat_overlap(const struct zt_unitpat *a, const struct zt_unitpat *b);

/*
 * The id of the cgroup directory `name` under dirfd: what the kernel
 * reports as the cgroup id (name_to_handle_at's 8-byte handle on cgroup2,
 * the kernfs node id; the inode number where handles are refused).
 * 0 and -errno on failure.
 */
int zt_cgroup_id_at(int dirfd, const char *name, uint64_t *id);

#endif
