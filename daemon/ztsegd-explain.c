/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The host as explain sees it from inside the daemon (routes, link kinds,
 * local addresses from the rtnetlink state), and what a policy makes of
 * the SSH session a ztsegctl reload came from.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <linux/rtnetlink.h>
#include "explain.h"
#include "ztsegd.h"

/* ---- the live environment ---- */

struct route_ctx {
	uint8_t family;
	const uint8_t *addr;
	bool found;
	struct zt_rtnl_route best;	/* a copy: the walk's route may be a temporary */
};

static int route_cb(const struct zt_rtnl_route *rt, void *userdata)
{
	struct route_ctx *c = userdata;

	if (rt->table != RT_TABLE_MAIN || !zt_cidr_contains_addr(&rt->dst, c->family, c->addr))
		return 0;
	/* Longest prefix, then the lowest metric: what the kernel would pick. */
	if (!c->found || rt->dst.plen > c->best.dst.plen ||
	    (rt->dst.plen == c->best.dst.plen && rt->priority < c->best.priority)) {
		c->best = *rt;
		c->found = true;
	}
	return 0;
}

static int env_route(void *userdata, uint8_t family, const uint8_t *addr, char ifname[IFNAMSIZ])
{
	struct manager *m = userdata;
	const struct zt_rtnl_state *s = zt_rtnl_state(m->rtnl);
	struct route_ctx c = { .family = family, .addr = addr };
	const struct zt_rtnl_link *l;

	zt_rtnl_state_foreach_route(s, route_cb, &c);
	if (!c.found || c.best.type != RTN_UNICAST || !c.best.oif)
		return -ENOENT;
	l = zt_rtnl_state_link(s, c.best.oif);
	if (!l)
		return -ENOENT;
	snprintf(ifname, IFNAMSIZ, "%s", l->name);
	return 0;
}

static const char *env_link_kind(void *userdata, const char *ifname)
{
	struct manager *m = userdata;
	const struct zt_rtnl_link *l = zt_rtnl_state_link_by_name(zt_rtnl_state(m->rtnl), ifname);

	return l ? l->kind : NULL;
}

struct local_ctx {
	uint8_t family;
	const uint8_t *addr;
};

static int local_cb(const struct zt_rtnl_addr *a, void *userdata)
{
	struct local_ctx *c = userdata;

	return a->addr.family == c->family && memcmp(a->addr.addr, c->addr, ZT_ADDR_LEN(c->family)) == 0;
}

static bool env_is_local(void *userdata, uint8_t family, const uint8_t *addr)
{
	struct manager *m = userdata;
	struct local_ctx c = { .family = family, .addr = addr };

	return zt_rtnl_state_foreach_addr(zt_rtnl_state(m->rtnl), local_cb, &c) > 0;
}

void manager_explain_env(struct manager *m, struct zt_explain_env *env)
{
	*env = (struct zt_explain_env){
		.route = env_route,
		.link_kind = env_link_kind,
		.is_local = env_is_local,
		.encrypting_kinds = m->n_kinds ? m->kinds : NULL,
		.userdata = m,
	};
}

/* ---- a reload caller's SSH session ---- */


/* A port of 1..65535 in decimal, nothing else. */
static bool port_parse(const char *s, unsigned *ret)
{
	unsigned v = 0;

	if (!*s || *s == '0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (unsigned)(*s - '0')) > 65535)
			return false;
	}
	*ret = v;
	return true;
}

/* The line of explain's text that starts with prefix, without it and its newline. */
static void line_of(const char *text, const char *prefix, char *out, size_t len)
{
	const char *p = text;

	out[0] = '\0';
	while (p && *p) {
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			const char *e = strchr(p, '\n');
			size_t k = e ? (size_t)(e - p) : strlen(p);

			k -= strlen(prefix);
			snprintf(out, len, "%.*s", (int)(k < len ? k : len - 1), p + strlen(prefix));
			return;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
}

/*
 * Would policy p keep the SSH session described by session (SSH_CONNECTION
 * of the ztsegctl that asked)? Its packets come from the client's address
 * through the interface the route back leaves by, to the host's port.
 * -EINVAL when the text is not SSH_CONNECTION's shape.
 */
int manager_explain_session(struct manager *m, const struct zt_policy *p, const char *session,
			    struct session_verdict *ret)
{
	char buf[SESSION_MAX], *tok[5] = {}, *save = NULL, port_s[16], zone[256];
	struct zt_endpoint from = {}, to = {};
	struct zt_explain_env env;
	struct zt_explanation e;
	struct zt_diags d = {};
	struct zt_port pkt;
	_cleanup_free_ char *text = NULL;
	const char *err = NULL;
	unsigned cport, sport;
	size_t n = 0, tlen = 0;
	FILE *f;
	int r;

	*ret = (struct session_verdict){};
	if (strlen(session) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", session);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (n == ELEMENTSOF(tok))
			return -EINVAL;
		tok[n++] = t;
	}
	if (n != 4 || !port_parse(tok[1], &cport) || !port_parse(tok[3], &sport))
		return -EINVAL;
	/* An IPv6 zone ("%eth0") says nothing the route does not. */
	if (strchr(tok[0], '%'))
		*strchr(tok[0], '%') = '\0';
	if (inet_pton(AF_INET, tok[0], from.addr) == 1) {
		from.family = AF_INET;
	} else if (inet_pton(AF_INET6, tok[0], from.addr) == 1) {
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

		from.family = AF_INET6;
		/* sshd on a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
		if (memcmp(from.addr, mapped, sizeof(mapped)) == 0) {
			memmove(from.addr, from.addr + 12, 4);
			memset(from.addr + 4, 0, 12);
			from.family = AF_INET;
		}
	} else {
		return -EINVAL;
	}
	from.has_addr = true;
	manager_explain_env(m, &env);
	if (env.route && env.route(env.userdata, from.family, from.addr, from.ifname) < 0)
		from.ifname[0] = '\0';
	snprintf(to.zone, sizeof(to.zone), "host");
	snprintf(port_s, sizeof(port_s), "tcp/%u", sport);
	if (zt_port_parse(port_s, &pkt, &err) < 0)
		return -EINVAL;
	r = zt_explain(p, &from, &to, &pkt, &env, &e, &d);
	zt_diags_clear(&d);
	if (r < 0)
		return r;
	f = open_memstream(&text, &tlen);
	if (!f)
		return -ENOMEM;
	r = zt_explanation_format(p, &e, f);
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0)
		return r;
	line_of(text, "from: ", zone, sizeof(zone));
	line_of(text, "by: ", ret->by, sizeof(ret->by));
	snprintf(ret->what, sizeof(ret->what), "your SSH session from %s (%s) to the host's tcp/%u", tok[0],
		 zone[0] ? zone : "?", sport);
	ret->known = true;
	ret->allow = e.allow || e.would_deny;	/* observe mode: it passes */
	return 0;
}
