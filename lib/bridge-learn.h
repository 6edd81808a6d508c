/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What ztsegd learns about bridge ports over rtnetlink (doc/RULESET.md
 * "Bindings learned from the kernel"): the bridges' forwarding databases
 * (AF_BRIDGE neighbour messages) and the neighbour tables of the bridge
 * devices (AF_INET, AF_INET6). Pure: a parser that trusts nothing of a
 * message, the rule of which entries are trusted, a small store of what
 * was learned, and the batch messages that pin a port's MAC in table
 * bridge ztseg (sets pmac and phas). The socket is the daemon's
 * (daemon/ztsegd-bridge-learn.c).
 */
#ifndef ZT_BRIDGE_LEARN_H
#define ZT_BRIDGE_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>

struct nlmsghdr;
struct zt_batch;

/*
 * A pinned MAC's lifetime in pmac/phas (a year): pins are written again
 * on every apply that rewrites the table and whenever the daemon starts,
 * and removed by the daemon when the entry or the port goes away, so the
 * timeout only matters if the daemon is gone for a year. Status tells a
 * pin from a first-frame binding (30 minutes) by it.
 */
#define ZT_BRIDGE_PIN_TIMEOUT_MS (365ull * 24 * 3600 * 1000)

/* One neighbour message as parsed: every field checked, nothing trusted yet. */
struct zt_bl_msg {
	bool del;		/* RTM_DELNEIGH */
	uint8_t family;		/* AF_BRIDGE (an FDB entry), AF_INET, AF_INET6 */
	int ifindex;		/* ndm_ifindex: the port (FDB) or the device (neighbour) */
	int master;		/* NDA_MASTER: the bridge of an FDB entry; 0 when absent */
	uint16_t state;		/* ndm_state (NUD_*) */
	uint8_t flags;		/* ndm_flags (NTF_*) */
	bool has_mac;
	uint8_t mac[6];		/* NDA_LLADDR */
	bool has_addr;
	uint8_t addr[16];	/* NDA_DST: 4 bytes (AF_INET) or 16 */
	bool has_vlan;
	uint16_t vlan;		/* NDA_VLAN */
};

/*
 * Parse one message of len bytes (at most nlh->nlmsg_len is read, and
 * only when len covers it). 0: parsed into *m; -ENOENT: not a neighbour
 * message of a family ztseg learns from (skip it); -EBADMSG: malformed
 * (truncated header or attribute, an attribute of the wrong size, an
 * ifindex out of range, an address of the wrong length for the family).
 */
int zt_bl_parse(const struct nlmsghdr *nlh, size_t len, struct zt_bl_msg *m);

/*
 * Each whole message of a datagram (len bytes) to cb, in order; lengths
 * are checked in size_t (mnl_nlmsg_ok() casts nlmsg_len to int: a forged
 * 2^31 passes it). Returns the messages handed over, -EBADMSG when bytes
 * were left that form no message (those before were handed over), or
 * what cb returned (< 0).
 */
int zt_bl_walk(const void *buf, size_t len, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/*
 * Whether an FDB entry pins its port's MAC: an entry of a bridge
 * (NDA_MASTER, not the bridge's own device, not NTF_SELF: a device's own
 * table), unicast and not zero, added by an administrator or a manager
 * such as libvirt (static: NUD_NOARP, or extern_learn), and not a local
 * entry (NUD_PERMANENT: the port's or bridge's own MAC). Dynamic entries
 * are not pins: they were learned from frames ztseg already let through
 * (learning runs after the bridge prerouting hook), or before ztseg ran.
 */
bool zt_bl_fdb_pins(const struct zt_bl_msg *m);

/*
 * Whether a neighbour entry says which address a MAC uses: AF_INET or
 * AF_INET6 with an address and a MAC, in a state that has a link-layer
 * address (not INCOMPLETE, FAILED or NONE), unicast and not zero.
 */
bool zt_bl_neigh_usable(const struct zt_bl_msg *m);

/*
 * A pinned MAC, from a static FDB entry: kept under the kernel's key of the
 * entry, (bridge, MAC, VLAN), with the port it is on as its value, so that
 * a message about the entry finds it whichever port it names.
 */
#define ZT_BL_NO_VLAN 0xffff
struct zt_bl_pin {
	int ifindex, master;
	uint16_t vlan;		/* NDA_VLAN, or ZT_BL_NO_VLAN */
	uint8_t mac[6];
};

/*
 * A neighbour entry of a device: (ifindex, family, address) → MAC, and
 * whether an administrator or a manager such as libvirt set it
 * (zt_bl_neigh_fixed): only such an entry on a bridge, with a static FDB
 * entry of its MAC, pre-pins an address to a port of a bridge: segment.
 */
struct zt_bl_neigh {
	int ifindex;
	uint8_t family;
	bool fixed;
	uint8_t addr[16];
	uint8_t mac[6];
};

/*
 * Whether a usable neighbour entry was set by hand, not learned from the
 * wire: NUD_PERMANENT or NUD_NOARP (`ip neigh add … nud permanent|noarp`,
 * libvirt's static leases). A squatter's ARP reply or NA makes dynamic
 * entries (REACHABLE, STALE, DELAY, PROBE) only.
 */
bool zt_bl_neigh_fixed(const struct zt_bl_msg *m);

/* What was learned; bounded (ZT_BL_MAX of each), linear (a host's ports and neighbours). */
#define ZT_BL_MAX 65536
struct zt_bl_store {
	struct zt_bl_pin *pins;
	size_t n_pins, cap_pins;
	struct zt_bl_neigh *neigh;
	size_t n_neigh, cap_neigh;
	uint64_t ignored;	/* entries not trusted or of no use */
	uint64_t full;		/* entries refused because the store was full */
	uint64_t roamed;	/* static entries that moved to another port: unpinned */
	uint64_t fixed_changes;	/* neighbour changes that involved a fixed entry (added, removed, changed) */
};

/*
 * Apply one parsed message: a pin added or removed, a neighbour entry
 * added, changed or removed (an entry that stops being usable is
 * removed). Returns 1 when the store changed, 0 when not, -ENOMEM.
 */
int zt_bl_apply(struct zt_bl_store *s, const struct zt_bl_msg *m);
/* Everything of a device gone (RTM_DELLINK; the kernel's own deletions may come later). */
bool zt_bl_forget_ifindex(struct zt_bl_store *s, int ifindex);
void zt_bl_store_clear(struct zt_bl_store *s);

/*
 * Batch messages for table bridge ztseg (the caller's transaction):
 * pin port's MAC (pmac: port . mac, phas: port, each with
 * ZT_BRIDGE_PIN_TIMEOUT_MS; destroyed first, so an element the packet
 * path or an earlier pin made is replaced, not kept with its timeout);
 * unpin one (port . mac); and forget a port (phas: port, and each of the
 * given MACs of it). Destroys (NFT_MSG_DESTROYSETELEM) never fail on a
 * missing element.
 */
int zt_bl_emit_pin(struct zt_batch *b, const char *port, const uint8_t mac[6]);
int zt_bl_emit_unpin(struct zt_batch *b, const char *port, const uint8_t mac[6]);
int zt_bl_emit_forget(struct zt_batch *b, const char *port);

/* "aa:bb:cc:dd:ee:ff" into buf (18 bytes). */
const char *zt_bl_mac_fmt(const uint8_t mac[6], char buf[18]);

#endif
