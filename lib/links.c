/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The links of the namespace (one RTM_GETLINK dump: names and kinds) and
 * the choice of those that count as encrypted for enc_if.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include "links.h"
#include "nl.h"

#define RECV_BUF (256 * 1024)
#define LINKS_MAX 65536

const char *const zt_enc_kinds_default[] = { "wireguard", "xfrm", "vti", "ip6vti", NULL };

bool zt_enc_kind_trusted(const char *kind, const char *const *kinds, size_t n)
{
	if (!kinds) {
		kinds = zt_enc_kinds_default;
		n = SIZE_MAX;
	}
	if (!kind || !*kind)
		return false;
	for (size_t i = 0; i < n && kinds[i]; i++)
		if (streq(kinds[i], kind))
			return true;
	return false;
}

struct links_ctx {
	struct zt_link *v;
	size_t n, cap;
};

static int linkinfo_cb(const struct nlattr *attr, void *data)
{
	const char **kind = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
		*kind = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct links_ctx *c = data;
	const struct nlattr *attr;
	const char *name = NULL, *kind = NULL;
	const struct ifinfomsg *ifi;
	uint32_t master = 0;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	ifi = mnl_nlmsg_get_payload(nlh);
	mnl_attr_for_each(attr, nlh, sizeof(struct ifinfomsg)) {
		if (mnl_attr_get_type(attr) == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0)
			name = mnl_attr_get_str(attr);
		else if (mnl_attr_get_type(attr) == IFLA_LINKINFO)
			mnl_attr_parse_nested(attr, linkinfo_cb, &kind);
		else if (mnl_attr_get_type(attr) == IFLA_MASTER && mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			master = mnl_attr_get_u32(attr);
	}
	if (!name || strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return 0;
	if (c->n >= LINKS_MAX)
		return -E2BIG;
	if (ZT_GROW(c->v, c->cap, c->n + 1) < 0)
		return -ENOMEM;
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	snprintf(c->v[c->n].name, sizeof(c->v[c->n].name), "%s", name);
	if (kind)
		snprintf(c->v[c->n].kind, sizeof(c->v[c->n].kind), "%s", kind);
	c->v[c->n].ifindex = ifi->ifi_index;
	c->v[c->n].master = master <= INT32_MAX ? (int)master : 0;
	c->n++;
	return 0;
}

int zt_links_dump(struct zt_link **ret, size_t *n)
{
	struct links_ctx c = {};
	struct zt_nl nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	char req[MNL_SOCKET_BUFFER_SIZE];
	int r;

	r = zt_nl_open(&nl, NETLINK_ROUTE, SOCK_CLOEXEC, RECV_BUF);
	if (r >= 0) {
		/* libmnl 1.0.4 leaves attribute padding as it finds it: send zeros. */
		nlh = mnl_nlmsg_put_header(memset(req, 0, sizeof(req)));
		nlh->nlmsg_type = RTM_GETLINK;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		nlh->nlmsg_seq = ++nl.seq;
		ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
		ifm->ifi_family = AF_UNSPEC;
		r = zt_nl_talk(&nl, nlh, link_cb, &c, 0);
	}
	zt_nl_close(&nl);
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*n = c.n;
	return 0;
}

size_t zt_enc_if_select(const struct zt_link *links, size_t n, const struct zt_ifpat *pats, size_t n_pats,
			const char *const *kinds, size_t n_kinds, char (*out)[IFNAMSIZ], size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		bool named = false;

		for (size_t p = 0; p < n_pats && !named; p++)
			named = zt_ifpat_match(&pats[p], links[i].name);
		/* A plain interface merely called wg0 does not encrypt anything. */
		if (!named || !zt_enc_kind_trusted(links[i].kind, kinds, n_kinds))
			continue;
		if (found < max)
			snprintf(out[found], IFNAMSIZ, "%s", links[i].name);
		found++;
	}
	return found;
}

int zt_enc_kinds_parse(char *buf, const char **kinds, size_t max)
{
	size_t n = 0;
	char *p = buf;

	if (!buf || !*buf)
		return -EINVAL;
	for (;;) {
		char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= ZT_LINK_KIND_MAX || n >= max)
			return -EINVAL;
		for (size_t i = 0; i < len; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
			      p[i] == '-' || p[i] == '.'))
				return -EINVAL;
		kinds[n++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return (int)n;
}
