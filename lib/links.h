/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Links for enc_if: the link dump, which links count as encrypted, and the
 * one list of link kinds trusted to encrypt.
 */
#ifndef ZT_LINKS_H
#define ZT_LINKS_H

#include <net/if.h>
#include "net.h"

/* Link kinds that encrypt, when --encrypting-kinds does not say otherwise (zt_enc_kinds_default as text). */
#define ZT_ENC_KINDS_DEFAULT "wireguard,xfrm,vti,ip6vti"
#define ZT_ENC_KINDS_MAX 16
/* The dynamic set the plan leaves for these links' names (compile makes it, apply and ztsegd fill it). */
#define ZT_ENC_IF_SET "enc_if"
#define ZT_LINK_KIND_MAX 32

/* The same list, NULL-terminated. */
extern const char *const zt_enc_kinds_default[];

/*
 * Is a link of this kind trusted to encrypt? kinds: up to n names (a
 * NULL entry ends them early); NULL: zt_enc_kinds_default. A link
 * without a kind ("" or NULL) never is. Pure.
 */
bool zt_enc_kind_trusted(const char *kind, const char *const *kinds, size_t n);

/* One network interface, from an RTM_GETLINK dump. */
struct zt_link {
	char name[IFNAMSIZ];
	char kind[ZT_LINK_KIND_MAX];	/* IFLA_INFO_KIND; "" when none */
	int ifindex;
	int master;			/* IFLA_MASTER: the bridge of a port; 0 for none */
};

/* Every link of the current network namespace. */
int zt_links_dump(struct zt_link **ret, size_t *n);

/*
 * Names of the links that count as encrypted: they match one of pats and
 * their kind is one of kinds (NULL: the default list). Pure. Writes up
 * to max names into out and returns how many matched (which may exceed
 * max).
 */
size_t zt_enc_if_select(const struct zt_link *links, size_t n, const struct zt_ifpat *pats, size_t n_pats,
			const char *const *kinds, size_t n_kinds, char (*out)[IFNAMSIZ], size_t max);

/*
 * Split "wireguard,veth" into at most max kind names (in buf, which it
 * modifies). Returns the count, or -EINVAL for an empty, overlong or
 * malformed entry.
 */
int zt_enc_kinds_parse(char *buf, const char **kinds, size_t max);

#endif
