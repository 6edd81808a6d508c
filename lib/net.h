/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network primitives of the policy language: CIDR prefixes, protocol/port
 * specifications and interface patterns. Pure functions, no I/O.
 */
#ifndef ZT_NET_H
#define ZT_NET_H

#include <net/if.h>
#include <sys/socket.h>
#include "util.h"

/* Where a policy token came from; file points into the policy's file table. */
struct zt_pos {
	const char *file;
	unsigned line, col;
};

struct zt_cidr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t plen;
	uint8_t addr[16];	/* network byte order; IPv4 uses the first 4 */
	struct zt_pos pos;
};

/* An address is a CIDR with plen 32/128. */
#define ZT_ADDR_LEN(family) ((family) == AF_INET ? 4 : 16)
#define ZT_MAX_PLEN(family) ((family) == AF_INET ? 32 : 128)

/*
 * Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (a host prefix).
 * On failure returns -EINVAL and, if err is non-NULL, points *err at a
 * static string saying what was expected. A prefix with host bits set is an
 * error; *err then says so and ret->addr holds the network address so the
 * caller can suggest it.
 */
int zt_cidr_parse(const char *s, struct zt_cidr *ret, const char **err);
/* Parse an address only (no "/len"). */
int zt_addr_parse(const char *s, uint8_t *family, uint8_t addr[16]);
/* "a/len" into buf (at least ZT_CIDR_STRLEN bytes), always with the length. */
#define ZT_CIDR_STRLEN (INET6_ADDRSTRLEN + 5)
const char *zt_cidr_fmt(const struct zt_cidr *c, char *buf, size_t len);
const char *zt_addr_fmt(uint8_t family, const uint8_t *addr, char *buf, size_t len);

bool zt_cidr_contains(const struct zt_cidr *outer, const struct zt_cidr *inner);
bool zt_cidr_contains_addr(const struct zt_cidr *c, uint8_t family, const uint8_t *addr);
bool zt_cidr_overlap(const struct zt_cidr *a, const struct zt_cidr *b);
bool zt_cidr_equal(const struct zt_cidr *a, const struct zt_cidr *b);
/* Total order: family, address, prefix length. */
int zt_cidr_cmp(const struct zt_cidr *a, const struct zt_cidr *b);

/* Link-local (fe80::/10, 169.254.0.0/16) or unspecified (0.0.0.0, ::). */
bool zt_addr_is_linklocal_or_unspec(uint8_t family, const uint8_t *addr);

enum zt_proto {
	ZT_PROTO_ANY,		/* "any": every protocol */
	ZT_PROTO_TCP,
	ZT_PROTO_UDP,
	ZT_PROTO_SCTP,
	ZT_PROTO_ICMP,		/* IPv4 only */
	ZT_PROTO_ICMPV6,	/* IPv6 only */
};

struct zt_port {
	enum zt_proto proto;
	uint16_t lo, hi;	/* tcp/udp/sctp port range; 0-65535 when none given */
	int16_t icmp_type;	/* icmp/icmpv6: type number, -1 for all */
	struct zt_pos pos;
};

/*
 * Parse "tcp/443", "udp/8000-8100", "sctp/9", "tcp" (all ports),
 * "icmp", "icmp/echo-request", "icmp/8", "icmpv6/echo-request", "any".
 * On failure -EINVAL and *err says what was expected.
 */
int zt_port_parse(const char *s, struct zt_port *ret, const char **err);
/* "tcp/443", "tcp/8000-8100", "icmp/echo-request", "any" into buf. */
const char *zt_port_fmt(const struct zt_port *p, char *buf, size_t len);
const char *zt_proto_name(enum zt_proto p);
/* The name of an IP protocol number the policy language knows ("tcp", ..., "icmpv6"), or NULL. */
const char *zt_ip_proto_name(uint8_t num);
/* IPPROTO_* number; 0 for ZT_PROTO_ANY. */
int zt_proto_number(enum zt_proto p);
/* The nft name of an ICMP / ICMPv6 type, or NULL when nft has none. */
const char *zt_icmp_type_name(enum zt_proto p, int type);

/*
 * Does the port spec `rule` cover the concrete packet `pkt` (a single port
 * or ICMP type; lo == hi)? `family` is the packet's family: icmp only
 * matches IPv4, icmpv6 only IPv6.
 */
bool zt_port_covers(const struct zt_port *rule, const struct zt_port *pkt, uint8_t family);

struct zt_ifpat {
	char name[IFNAMSIZ];	/* without the trailing '*' */
	bool wildcard;		/* name was followed by '*': a prefix match */
	struct zt_pos pos;
};

/*
 * Parse an interface pattern: an exact name, or a prefix followed by '*'.
 * Names follow the kernel's rules (1..15 bytes, no '/', ':', whitespace).
 */
int zt_ifpat_parse(const char *s, struct zt_ifpat *ret, const char **err);
const char *zt_ifpat_fmt(const struct zt_ifpat *p, char *buf, size_t len);
bool zt_ifpat_match(const struct zt_ifpat *p, const char *ifname);
/* Could one interface name match both? ("fe*" and "fe1" overlap.) */
bool zt_ifpat_overlap(const struct zt_ifpat *a, const struct zt_ifpat *b);
/* Is every name matched by inner also matched by outer? */
bool zt_ifpat_within(const struct zt_ifpat *outer, const struct zt_ifpat *inner);

#endif
