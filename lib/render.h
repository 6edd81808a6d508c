/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * render: the plan as nft text (`ztsegctl show`), one `table inet ztseg`
 * block that `nft -f` loads as it is. emit.c is the other back end.
 */
#ifndef ZT_RENDER_H
#define ZT_RENDER_H

#include <stdio.h>
#include "plan.h"

/*
 * Write the plan to f as one `table inet ztseg { ... }` block: counters,
 * then sets and maps, then chains (hooked ones among the rest), each in
 * plan order: the order emit creates them in, which `nft list` shows.
 * Rules carry their policy source as `comment "..."`. Comments and log
 * prefixes are made safe for nft's quoted strings, which have no escapes
 * ('"' becomes '\'', a backslash '/', anything but printable ASCII '?',
 * and '$' too in a log prefix, where nft expands variables), and cut to
 * what nft accepts. Dynamic sets are written empty. Set elements are
 * wrapped at 80 columns, map elements go one a line; the cost is linear
 * (100k elements take milliseconds). Nothing precedes the table: callers
 * add their own header comment lines.
 *
 * Writes through f's buffer only (the caller owns f and flushes it).
 * Returns 0; -EINVAL if the plan holds something nft text cannot express
 * (an unknown enum value, a generated name that is not an nft identifier,
 * an interface name containing '"', an empty rule), in which case the
 * output is incomplete; -EIO if writing to f failed.
 */
int zt_render(const struct zt_plan *plan, FILE *f);

#endif
