/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Just-in-time grants (jit: templates, `ztsegctl grant`): durations, the
 * grant's connection mark, a grant request validated, the set elements a
 * grant adds, and the state file's lines. Pure: no I/O, no clock.
 * doc/RULESET.md "Grants" says how the kernel holds them.
 */
#ifndef ZT_GRANT_H
#define ZT_GRANT_H

#include <sys/types.h>
#include <jansson.h>
#include "plan.h"

/*
 * A grant's connection marks: bit 31 clear (no flow mark has it clear)
 * and bit 15 set (no zone pair, and no zone id, has it set: zone ids stay
 * below 0x8000); the id in bits 30..16 and 14..8, and in bits 7..0 the
 * pair: which from entry and which to entry of the template the
 * connection's zones are in (from index * number of to entries + to
 * index), so that the speaker maps know who may send its ICMP errors. A
 * grant has one mark per pair; all of them are (mark & ZT_GRANT_MARK_MASK)
 * == zt_grant_mark(id, 0). Mark 0 (a connection no rule marked) is no
 * grant: ids start at 1.
 */
#define ZT_GRANT_ID_MAX ((1u << 22) - 1)
#define ZT_GRANT_PAIRS_MAX 256u
#define ZT_GRANT_MARK_MASK 0xffffff00u

static inline uint32_t zt_grant_mark(uint32_t id, uint32_t pair)
{
	return ((id >> 7) << 16 & 0x7fff0000u) | 0x8000u | (id & 0x7fu) << 8 | (pair & 0xffu);
}

static inline bool zt_mark_is_grant(uint32_t mark)
{
	return (mark & 0x80008000u) == 0x8000u;
}

static inline uint32_t zt_grant_id_of(uint32_t mark)
{
	return (mark & 0x7fff0000u) >> 9 | (mark & 0x7f00u) >> 8;
}

static inline uint32_t zt_grant_pair_of(uint32_t mark)
{
	return mark & 0xffu;
}

/* A grant's named counter: g_<id hex>; 0, or -EINVAL when name is no grant's counter. */
void zt_grant_counter_name(uint32_t id, char buf[static 16]);
int zt_grant_counter_id(const char *name, uint32_t *id);

/* "90s", "30m", "1h", "1h30m", "2h5m10s"; a bare number is seconds. 1 .. max. */
int zt_duration_parse(const char *s, uint32_t max, uint32_t *ret, const char **err);
/* "1h30m", "45s", "0s" into buf. */
const char *zt_duration_fmt(uint64_t sec, char *buf, size_t len);

#define ZT_GRANT_REASON_MAX 256
#define ZT_GRANT_USER_MAX 32

/* One grant, as the daemon keeps it and its state file records it. */
struct zt_grant {
	uint32_t id;
	char tmpl[ZT_NAME_MAX + 1];
	uint32_t meaning;		/* the template's meaning when granted (zt_plan_jit) */
	uint8_t family;
	uint8_t addr[16];
	char to[2 * ZT_NAME_MAX + 2];	/* one of the template's to zones, or "" for all */
	uint64_t granted_usec;		/* CLOCK_REALTIME */
	uint64_t expires_usec;		/* CLOCK_REALTIME; never moves later */
	uid_t uid;
	pid_t pid;
	char user[ZT_GRANT_USER_MAX + 1];
	char reason[ZT_GRANT_REASON_MAX + 1];
};

/* What `grant` asks (the control request's args), validated. */
struct zt_grant_request {
	char tmpl[ZT_NAME_MAX + 1];
	uint8_t family;
	uint8_t addr[16];
	uint32_t seconds;		/* 0: the template's default */
	char to[2 * ZT_NAME_MAX + 2];	/* "" for all */
	char reason[ZT_GRANT_REASON_MAX + 1];
};

/*
 * The args of a grant request: template (a name), source (one address,
 * optionally /32 or /128), reason (1..256 printable bytes), optional for
 * (seconds, 1..86400) and to (a zone name). Every field is checked, and
 * unknown ones are refused. 0, or -EINVAL with a message in err.
 */
int zt_grant_request_parse(const json_t *args, struct zt_grant_request *ret, char *err, size_t errlen);

/* The template named name in plan (or policy), or NULL. */
const struct zt_plan_jit *zt_plan_find_jit(const struct zt_plan *plan, const char *name);
const struct zt_jit *zt_policy_find_jit(const struct zt_policy *p, const char *name);

/* Index of the template's to entry named to, -1 for "" (all), -2 when it has none of that name. */
int zt_jit_to_ref(const struct zt_jit *t, const char *to);

/*
 * The jit4/jit6 elements of grant g of template t (restricted to its to
 * entry to_ref, or all for -1): source address . zone pair . protocol .
 * port -> the grant's mark, one per source zone of from, destination
 * zone and port. *ret is allocated; an element's key and data are what
 * zt_set_encode() takes for the plan's jit set of g's family.
 */
int zt_grant_elems(const struct zt_plan_jit *t, const struct zt_grant *g, int to_ref,
		   struct zt_elem **ret, size_t *n_ret);

/*
 * A grant's per-pair elements (one per from entry and to entry, or only
 * to entry to_ref when it is >= 0; see zt_grant_mark()): in jlive, its
 * mark to its counter g_<id>; in jspk_o / jspk_r, its mark to the side
 * that may send ICMP errors about its replies / its original packets
 * (pairs whose side is the host have none). *ret is allocated.
 */
enum zt_grant_map { ZT_GRANT_LIVE, ZT_GRANT_SPK_O, ZT_GRANT_SPK_R };
int zt_grant_pair_elems(const struct zt_plan_jit *t, const struct zt_grant *g, int to_ref,
			enum zt_grant_map map, struct zt_elem **ret, size_t *n_ret);

/*
 * The state file: one line per grant, fields separated by spaces, the
 * free texts (user, reason) %-escaped:
 *   grant ID TEMPLATE MEANING ADDRESS TO|- GRANTED EXPIRES UID PID USER REASON
 * zt_grant_line() writes one (with the newline) into a malloc'ed string;
 * zt_grant_line_parse() reads one back with distrust: 0 or -EINVAL.
 */
char *zt_grant_line(const struct zt_grant *g);
int zt_grant_line_parse(const char *line, struct zt_grant *ret);

#endif
