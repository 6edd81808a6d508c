/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bridged workloads: the table `bridge ztseg` (doc/RULESET.md "Bridges").
 * Ports of a Linux bridge that a segment's interface patterns name are
 * classified there, port by port: the source port's zone and the
 * destination port's zone travel in the packet-mark bits ztseg owns
 * (hub.mark-mask) to the stateful judgment of `inet ztseg`, which
 * br_netfilter runs with the bridge, not the port, as the interface.
 * The table also binds each port to its segment's addresses (IPv4, IPv6,
 * ARP sender, NA target) and to the first source MAC it used, drops DHCP
 * server and router messages from workloads, and drops every frame of a
 * member port that is not untagged ARP, IPv4 or IPv6. Pure: data, nft
 * text and batch messages; the daemon reads br_netfilter's switch.
 */
#ifndef ZT_BRIDGE_H
#define ZT_BRIDGE_H

#include <stdio.h>
#include "diag.h"
#include "emit.h"
#include "plan.h"

struct zt_nl;

#define ZT_BRIDGE_PRIO (-300)

/* The source and destination fields of a mark mask, and a zone index's bits in each. */
struct zt_mark_fields {
	uint32_t mask, src, dst;	/* src | dst == mask */
	unsigned shift;			/* lowest bit of dst */
	unsigned bits;			/* bits per field */
};

void zt_mark_fields(uint32_t mask, struct zt_mark_fields *f);
static inline uint32_t zt_mark_src(const struct zt_mark_fields *f, uint32_t idx)
{
	return idx << (f->shift + f->bits);
}
static inline uint32_t zt_mark_dst(const struct zt_mark_fields *f, uint32_t idx)
{
	return idx << f->shift;
}

/*
 * The bridge index of segment seg (1 …), 0 when it names no interfaces or
 * the mask has no room for it (then its bridge ports are not enforced:
 * status says so). Indices go to segments with interfaces in definition
 * order, skipping values that the unit zones' mark token would alias.
 */
uint32_t zt_bridge_index(const struct zt_policy *p, size_t seg);

/* check: a warning for each segment with interfaces beyond the mark mask's room. */
int zt_bridge_check(const struct zt_policy *p, struct zt_diags *d);

/*
 * The plan's bridge part (plan->bridge): what the table holds. Filled by
 * the compiler (compile-bridge.c); brnf_off by whoever applies it.
 */
int zt_bridge_render(FILE *f, const struct zt_plan_bridge *br);
/* Table bridge ztseg created with everything in it (after zt_bridge_emit_destroy in the batch). */
int zt_bridge_emit(struct zt_batch *b, const struct zt_plan_bridge *br, uint32_t table_flags);
/*
 * The host's own addresses on bridge devices (links of kind "bridge"):
 * no port may claim one in ARP (sender) or an NA (target) — the gateway
 * of the bridge's workloads. zt_bridge_host_dump(): one link and one
 * address dump (lib/bridge-host.c), sorted, without duplicates.
 * zt_bridge_haddrs_norm(): sorts and dedups v in place, returns the count.
 * zt_bridge_emit_hown(): the elements of sets hown4/hownna for v as
 * NEWSETELEM or DESTROYSETELEM (type); flush: DELSETELEM of both sets
 * without elements first (a refill).
 */
int zt_bridge_host_dump(struct zt_bridge_haddr **ret, size_t *n);
size_t zt_bridge_haddrs_norm(struct zt_bridge_haddr *v, size_t n);
int zt_bridge_emit_hown(struct zt_batch *b, const struct zt_bridge_haddr *v, size_t n, uint16_t type, bool flush);

/*
 * The exact-name twins port_srcx / port_dstx: for each of these link
 * names that a member pattern matches, name → goto bs_<rest> / jump
 * bd_<rest>, as NEWSETELEM or DESTROYSETELEM (type); flush: both maps
 * emptied first. An element is a function of the name and the plan
 * alone: one left behind by a deleted link is never wrong, only unused.
 */
int zt_bridge_emit_ports(struct zt_batch *b, const struct zt_plan_bridge *br, const char (*names)[IFNAMSIZ],
			 size_t n, uint16_t type, bool flush);

/*
 * Docker-style bridges (issue 15, lib/bridge-dport.c): segments declared
 * by `bridge: NAME`. Their ports (random names) are found by ztsegd and
 * apply: a link whose master is NAME and whose name no member pattern
 * matches. Each claims its addresses by ARP/ND (the first claim pins
 * the address to the port: sets pin4/pin6, claimed4/6, has4/6).
 */
bool zt_bridge_has_dsegs(const struct zt_plan_bridge *br);
/* set dpb_<brk>: the ports of one bridge */
void zt_bridge_dpb_name(char buf[ZT_OBJ_NAME_MAX], uint32_t brk);
/* The bridge: segment group a port of bridge `bridge` falls in (NULL: none, or a pattern names the port). */
const struct zt_plan_bridge_seg *zt_bridge_dport_of(const struct zt_plan_bridge *br, const char *port,
						    const char *bridge);
/* dport (→ goto member), dportd (→ goto dd) and dpb_<brk> elements for v, as NEWSETELEM or DESTROYSETELEM. */
int zt_bridge_emit_dports(struct zt_batch *b, const struct zt_plan_bridge *br, const struct zt_bridge_dport *v,
			  size_t n, uint16_t type);
/* pin4/pin6, claimed4/6 and has4/6 elements for v, as NEWSETELEM or DESTROYSETELEM. */
int zt_bridge_emit_pins(struct zt_batch *b, const struct zt_bridge_pin *v, size_t n, uint16_t type);
/* Add each pin's port to ps_<rest> of the segment that holds its address (a table written anew). */
int zt_bridge_emit_ps(struct zt_batch *b, const struct zt_plan_bridge *br, const struct zt_bridge_pin *v, size_t n);
/*
 * Every pin the kernel holds (pin4 and pin6); -ENOENT when the table or the
 * sets are not there. Read on `on` (zt_nft_nl()), or on a socket of its own
 * when that is NULL.
 */
int zt_bridge_pins_read(struct zt_nl *on, struct zt_bridge_pin **ret, size_t *n);

/* What zt_bridge_emit() would write, hashed (never 0): whether an apply must write it again. */
uint64_t zt_bridge_hash(const struct zt_plan_bridge *br);
/* Table bridge ztseg away if it exists (NFT_MSG_DESTROYTABLE, kernel 6.3+). */
int zt_bridge_emit_destroy(struct zt_batch *b);

/*
 * br_netfilter's switches in this network namespace: 1 on, 0 off, -errno
 * when unreadable (no bridge support). Both must be on for bridged IPv4
 * and IPv6 to meet `inet ztseg`.
 */
int zt_bridge_nf_call(bool v6);

/* A port's MAC binding: 30 minutes from its first frame (set pmac's timeout). */
#define ZT_BRIDGE_MAC_TIMEOUT_MS (30u * 60 * 1000)

/* A MAC a member port bound (set pmac of table bridge ztseg; bridge-read.c). */
struct zt_bridge_mac {
	char port[IFNAMSIZ];
	uint8_t mac[6];
	uint64_t timeout_ms;	/* the binding's lifetime */
	uint64_t expires_ms;	/* what is left of it */
};
/* Every bound MAC (malloc'd array); -ENOENT when table or set is not there. On `on`, as zt_bridge_pins_read(). */
int zt_bridge_macs_read(struct zt_nl *on, struct zt_bridge_mac **ret, size_t *ret_n);
/* The binding of one port; NULL when it has none. Linear. */
const struct zt_bridge_mac *zt_bridge_mac_find(const struct zt_bridge_mac *v, size_t n, const char *port);

#endif
