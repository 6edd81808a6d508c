/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * render: hand-built plans against their exact nft text. Whether nft
 * accepts the text is tests/cli/show.sh's job (it needs a namespace).
 */
#include <check.h>
#include <stdio.h>
#include <time.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include "render.h"

/* A rule's matches and statements (plan.h: arrays of exactly n_match, n_stmt). */
#define MATCHES(...) ((struct zt_match[]){ __VA_ARGS__ })
#define STMTS(...) ((struct zt_stmt[]){ __VA_ARGS__ })

/* Constants of each type, as the compiler fills them in. */
#define IFP(n, w) { .type = ZT_TYPE_IFNAME, .ifpat = { .name = n, .wildcard = w } }
#define FIBIF(n, w) { .type = ZT_TYPE_FIB_IFNAME, .ifpat = { .name = n, .wildcard = w } }
#define V4(a, b, c, d, len) \
	{ .type = ZT_TYPE_IPV4, .cidr = { .family = AF_INET, .plen = len, .addr = { a, b, c, d } } }
#define V6(len, ...) \
	{ .type = ZT_TYPE_IPV6, .cidr = { .family = AF_INET6, .plen = len, .addr = { __VA_ARGS__ } } }
#define V4B(a, b, c, d) { a, b, c, d }
#define V6B(...) { __VA_ARGS__ }
#define MARK(x) { .type = ZT_TYPE_MARK, .u32 = x }
#define PROTO(x) { .type = ZT_TYPE_INET_PROTO, .u32 = x }
#define PORT(x) { .type = ZT_TYPE_INET_SERVICE, .u32 = x, .u32_hi = x }
#define PORTS(lo, hi) { .type = ZT_TYPE_INET_SERVICE, .u32 = lo, .u32_hi = hi }
#define ICMP(x) { .type = ZT_TYPE_ICMP_TYPE, .u32 = x }
#define ICMP6(x) { .type = ZT_TYPE_ICMPV6_TYPE, .u32 = x }
#define VERD(c, ch) { .type = ZT_TYPE_VERDICT, .verdict = { .code = c, .chain = ch } }
#define CNT(n) { .type = ZT_TYPE_COUNTER, .counter = n }

/* Matches and statements. */
#define M_EQ(k, ...) { .op = ZT_M_EQ, .key = { k }, .n_key = 1, .value = __VA_ARGS__ }
#define M_NE(k, ...) { .op = ZT_M_NE, .key = { k }, .n_key = 1, .value = __VA_ARGS__ }
#define M_SET(k, s) { .op = ZT_M_IN_SET, .key = { k }, .n_key = 1, .set = s }
#define M_NOTSET(k, s) { .op = ZT_M_NOT_IN_SET, .key = { k }, .n_key = 1, .set = s }
#define M_ANON(k, t, arr) \
	{ .op = ZT_M_IN_ANON, .key = { k }, .n_key = 1, \
	  .anon = { .type = t, .v = arr, .n = ELEMENTSOF(arr) } }
#define M_STATE(mask) { .op = ZT_M_CT_STATE, .ct_state = mask }
#define M_REPLY { .op = ZT_M_CT_DIR_REPLY }
#define M_MISSING(k) { .op = ZT_M_MISSING, .key = { k }, .n_key = 1 }
#define M_EXISTS(k) { .op = ZT_M_EXISTS, .key = { k }, .n_key = 1 }
#define S_V(c) { .kind = ZT_S_VERDICT, .verdict = { .code = c } }
#define S_VC(c, ch) { .kind = ZT_S_VERDICT, .verdict = { .code = c, .chain = ch } }
#define S_CNT(n) { .kind = ZT_S_COUNTER_NAMED, .counter = n }

#define EST (NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED))

static struct zt_value anon_unspec6[] = { V6(128), V6(10, 0xfe, 0x80) };
static struct zt_value anon_unspec4[] = { V4(0, 0, 0, 0, 32), V4(169, 254, 0, 0, 16) };
static struct zt_value anon_ra[] = { ICMP6(134), ICMP6(137) };
static struct zt_value anon_if[] = { IFP("vweb", true), IFP("vweb0", false) };
static struct zt_value anon_ports[] = { PORT(22), PORTS(8000, 8100) };
static struct zt_value anon_bad[] = { IFP("a\"b", false) };

static char *render(const struct zt_plan *plan, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	*ret = zt_render(plan, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

/* ---- rules ------------------------------------------------------------ */

struct rule_case {
	const char *name;
	struct zt_rule rule;
	const char *want;	/* the rule's line without indentation; NULL: -EINVAL */
};

static const struct rule_case rule_cases[] = {
	{ "iif lo", { .match = MATCHES(M_EQ(ZT_KEY_IIF, IFP("lo", false))), .n_match = 1,
		      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "iif \"lo\" accept" },
	{ "oif 0 (input hook)",
	  { .match = MATCHES(M_EQ(ZT_KEY_OIF, MARK(0))), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_CT_MARK_SET, .u32 = 2 }, S_V(ZT_V_RETURN)), .n_stmt = 2 },
	  "oif 0 ct mark set 0x00000002 return" },
	{ "oif lo", { .match = MATCHES(M_EQ(ZT_KEY_OIF, IFP("lo", false))), .n_match = 1,
		      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "oif \"lo\" accept" },
	{ "iifname wildcard", { .match = MATCHES(M_EQ(ZT_KEY_IIFNAME, IFP("vweb", true))), .n_match = 1,
				.stmt = STMTS(S_V(ZT_V_DROP)), .n_stmt = 1 },
	  "iifname \"vweb*\" drop" },
	{ "oifname !=", { .match = MATCHES(M_NE(ZT_KEY_OIFNAME, IFP("vdb1", false))), .n_match = 1,
			  .stmt = STMTS(S_V(ZT_V_CONTINUE)), .n_stmt = 1 },
	  "oifname != \"vdb1\" continue" },
	{ "ip saddr prefix", { .match = MATCHES(M_EQ(ZT_KEY_IP_SADDR, V4(192, 0, 2, 0, 24))), .n_match = 1,
			       .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip saddr 192.0.2.0/24 accept" },
	{ "ip daddr host", { .match = MATCHES(M_NE(ZT_KEY_IP_DADDR, V4(192, 0, 2, 1, 32))), .n_match = 1,
			     .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip daddr != 192.0.2.1 accept" },
	{ "ip6 saddr prefix",
	  { .match = MATCHES(M_EQ(ZT_KEY_IP6_SADDR, V6(32, 0x20, 0x01, 0x0d, 0xb8))), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip6 saddr 2001:db8::/32 accept" },
	{ "ip6 daddr host",
	  { .match = MATCHES(M_EQ(ZT_KEY_IP6_DADDR, V6(128, 0x20, 0x01, 0x0d, 0xb8, [15] = 1))),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip6 daddr 2001:db8::1 accept" },
	{ "l4proto tcp reject", { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(6))), .n_match = 1,
				  .stmt = STMTS({ .kind = ZT_S_REJECT_TCP_RST }), .n_stmt = 1 },
	  "meta l4proto tcp reject with tcp reset" },
	{ "l4proto names", { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(17)), M_NE(ZT_KEY_L4PROTO, PROTO(132)),
					M_NE(ZT_KEY_L4PROTO, PROTO(1)), M_NE(ZT_KEY_L4PROTO, PROTO(58))),
			     .n_match = 4, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta l4proto udp meta l4proto != sctp meta l4proto != icmp meta l4proto != ipv6-icmp accept" },
	{ "l4proto number", { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(47))), .n_match = 1,
			      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta l4proto 47 accept" },
	{ "th dport range", { .match = MATCHES(M_EQ(ZT_KEY_TH_DPORT, PORTS(8000, 8100))), .n_match = 1,
			      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "th dport 8000-8100 accept" },
	{ "th dport single, hi unset",
	  { .match = MATCHES(M_EQ(ZT_KEY_TH_DPORT, { .type = ZT_TYPE_INET_SERVICE, .u32 = 443 })),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "th dport 443 accept" },
	{ "icmp type named", { .match = MATCHES(M_EQ(ZT_KEY_ICMP_TYPE, ICMP(8))), .n_match = 1,
			       .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "icmp type echo-request accept" },
	{ "icmpv6 type numbered", { .match = MATCHES(M_EQ(ZT_KEY_ICMPV6_TYPE, ICMP6(200))), .n_match = 1,
				    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "icmpv6 type 200 accept" },
	{ "ct mark", { .match = MATCHES(M_EQ(ZT_KEY_CT_MARK, MARK(0x50001))), .n_match = 1,
		       .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ct mark 0x00050001 accept" },
	{ "established",
	  { .match = MATCHES(M_STATE(EST)), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_COUNTER_MAP, .key = { ZT_KEY_CT_MARK }, .n_key = 1, .set = "fcnt" },
		      S_V(ZT_V_ACCEPT)), .n_stmt = 2 },
	  "ct state established,related counter name ct mark map @fcnt accept" },
	{ "invalid", { .match = MATCHES(M_STATE(NF_CT_STATE_INVALID_BIT)), .n_match = 1,
		       .stmt = STMTS(S_CNT("invalid"), S_V(ZT_V_DROP)), .n_stmt = 2 },
	  "ct state invalid counter name \"invalid\" drop" },
	{ "every ct state",
	  { .match = MATCHES(M_STATE(NF_CT_STATE_UNTRACKED_BIT | NF_CT_STATE_BIT(IP_CT_NEW) | EST |
			       NF_CT_STATE_INVALID_BIT)), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ct state invalid,established,related,new,untracked accept" },
	{ "reply", { .match = MATCHES(M_REPLY), .n_match = 1, .stmt = STMTS(S_VC(ZT_V_GOTO, "deny")), .n_stmt = 1 },
	  "ct direction reply goto deny" },
	{ "rpf strict",
	  { .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "zone_if"), M_MISSING(ZT_KEY_FIB_SADDR_IIF_OIF)),
	    .n_match = 2, .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "iifname @zone_if fib saddr . iif oif missing goto spoofed" },
	{ "rpf loose", { .match = MATCHES(M_MISSING(ZT_KEY_FIB_SADDR_OIF)), .n_match = 1,
			 .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "fib saddr oif missing goto spoofed" },
	{ "route owner",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_FIB_SADDR_OIFNAME }, .n_key = 1,
			.set = "route_owner" }), .n_stmt = 1 },
	  "fib saddr oifname vmap @route_owner" },
	{ "encrypted source leg",
	  { .match = MATCHES(M_NOTSET(ZT_KEY_IIFNAME, "enc_if"), M_MISSING(ZT_KEY_META_IPSEC)),
	    .n_match = 2, .stmt = STMTS(S_V(ZT_V_RETURN)), .n_stmt = 1 },
	  "iifname != @enc_if meta ipsec missing return" },
	{ "encrypted destination leg",
	  { .match = MATCHES(M_NOTSET(ZT_KEY_OIFNAME, "enc_if"), M_MISSING(ZT_KEY_RT_IPSEC)),
	    .n_match = 2, .stmt = STMTS(S_V(ZT_V_RETURN)), .n_stmt = 1 },
	  "oifname != @enc_if rt ipsec missing return" },
	{ "ipsec exists",
	  { .match = MATCHES(M_EXISTS(ZT_KEY_META_IPSEC), M_EXISTS(ZT_KEY_RT_IPSEC)), .n_match = 2,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta ipsec exists rt ipsec exists accept" },
	{ "fib oifname exists (kernel refuses)", { .match = MATCHES(M_EXISTS(ZT_KEY_FIB_SADDR_OIFNAME)), .n_match = 1,
				  .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  NULL },
	{ "anon unspecified v6",
	  { .match = MATCHES(M_ANON(ZT_KEY_IP6_SADDR, ZT_TYPE_IPV6, anon_unspec6)), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip6 saddr { ::, fe80::/10 } accept" },
	{ "anon unspecified v4",
	  { .match = MATCHES(M_ANON(ZT_KEY_IP_SADDR, ZT_TYPE_IPV4, anon_unspec4)), .n_match = 1,
	    .stmt = STMTS(S_VC(ZT_V_GOTO, "src_ifonly")), .n_stmt = 1 },
	  "ip saddr { 0.0.0.0, 169.254.0.0/16 } goto src_ifonly" },
	{ "anon icmpv6 types",
	  { .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "member_if"),
		       M_ANON(ZT_KEY_ICMPV6_TYPE, ZT_TYPE_ICMPV6_TYPE, anon_ra)), .n_match = 2,
	    .stmt = STMTS(S_VC(ZT_V_GOTO, "spoofed")), .n_stmt = 1 },
	  "iifname @member_if icmpv6 type { nd-router-advert, nd-redirect } goto spoofed" },
	{ "anon ifnames", { .match = MATCHES(M_ANON(ZT_KEY_IIFNAME, ZT_TYPE_IFNAME, anon_if)), .n_match = 1,
			    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "iifname { \"vweb*\", \"vweb0\" } accept" },
	{ "anon ports",
	  { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(6)),
		       M_ANON(ZT_KEY_TH_DPORT, ZT_TYPE_INET_SERVICE, anon_ports)), .n_match = 2,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "meta l4proto tcp th dport { 22, 8000-8100 } accept" },
	{ "both sides outside members",
	  { .match = MATCHES(M_NOTSET(ZT_KEY_IIFNAME, "member_if"), M_NOTSET(ZT_KEY_OIFNAME, "member_if")),
	    .n_match = 2, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "iifname != @member_if oifname != @member_if accept" },
	{ "ct mark or", { .stmt = STMTS({ .kind = ZT_S_CT_MARK_OR, .u32 = 0x50000 }), .n_stmt = 1 },
	  "ct mark set ct mark | 0x00050000" },
	{ "ct mark xor", { .stmt = STMTS({ .kind = ZT_S_CT_MARK_XOR, .u32 = 0x8a41c3d2 }), .n_stmt = 1 },
	  "ct mark set ct mark ^ 0x8a41c3d2" },
	{ "meta mark from ct", { .stmt = STMTS({ .kind = ZT_S_META_MARK_FROM_CT }), .n_stmt = 1 },
	  "meta mark set ct mark" },
	{ "meta mark bits kept and set",
	  { .stmt = STMTS({ .kind = ZT_S_META_MARK_BITS, .mmask = 0x0000ffff, .u32 = 0x01000000 }), .n_stmt = 1 },
	  "meta mark set meta mark & 0x0000ffff | 0x01000000" },
	{ "meta mark bits set", { .stmt = STMTS({ .kind = ZT_S_META_MARK_BITS, .mmask = 0xffffffff, .u32 = 0x00020000 }), .n_stmt = 1 },
	  "meta mark set meta mark | 0x00020000" },
	{ "meta mark bits cleared", { .stmt = STMTS({ .kind = ZT_S_META_MARK_BITS, .mmask = 0x0000ffff }), .n_stmt = 1 },
	  "meta mark set meta mark & 0x0000ffff" },
	{ "ct mark masked vmap",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK }, .n_key = 1, .set = "ulogt", .mmask = 0x8000ffff }),
	    .n_stmt = 1 },
	  "ct mark & 0x8000ffff vmap @ulogt" },
	{ "going to a member",
	  { .match = MATCHES(M_SET(ZT_KEY_FIB_DADDR_OIFNAME, "member_rt")), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_DROP)), .n_stmt = 1 },
	  "fib daddr oifname @member_rt drop" },
	{ "hop limit",
	  { .match = MATCHES(M_EQ(ZT_KEY_IP6_HOPLIMIT, { .type = ZT_TYPE_INTEGER, .u32 = 255 })), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 },
	  "ip6 hoplimit 255 accept" },
	{ "ct mark map",
	  { .stmt = STMTS({ .kind = ZT_S_CT_MARK_SET_MAP, .key = { ZT_KEY_IP_DADDR }, .n_key = 1,
			.set = "dst4" }), .n_stmt = 1 },
	  "ct mark set ip daddr map @dst4" },
	{ "subnet mark map",
	  { .match = MATCHES(M_SET(ZT_KEY_OIFNAME, "sub_if")), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_CT_MARK_SET_MAP, .key = { ZT_KEY_IP6_DADDR }, .n_key = 1,
			.set = "sub_dst6" }), .n_stmt = 1 },
	  "oifname @sub_if ct mark set ip6 daddr map @sub_dst6" },
	{ "fp",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_L4PROTO, ZT_KEY_TH_DPORT },
			.n_key = 3, .set = "fp" }), .n_stmt = 1 },
	  "ct mark . meta l4proto . th dport vmap @fp" },
	{ "fi4",
	  { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(1))), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_ICMP_TYPE }, .n_key = 2,
			.set = "fi4" }), .n_stmt = 1 },
	  "meta l4proto icmp ct mark . icmp type vmap @fi4" },
	{ "fi6",
	  { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(58))), .n_match = 1,
	    .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK, ZT_KEY_ICMPV6_TYPE }, .n_key = 2,
			.set = "fi6" }), .n_stmt = 1 },
	  "meta l4proto ipv6-icmp ct mark . icmpv6 type vmap @fi6" },
	{ "src vmaps",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_IIFNAME }, .n_key = 1, .set = "src_if" }),
	    .n_stmt = 1 },
	  "iifname vmap @src_if" },
	{ "log rate limited",
	  { .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 27, .log_rate = 10, .log_burst = 20,
			.log_prefix = "ztseg deny " }), .n_stmt = 1 },
	  "limit rate 10/second burst 20 packets log group 27 prefix \"ztseg deny \"" },
	{ "log no burst, no prefix",
	  { .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 3, .log_rate = 5 }), .n_stmt = 1 },
	  "limit rate 5/second log group 3" },
	{ "log unlimited", { .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 0 }), .n_stmt = 1 },
	  "log group 0" },
	{ "log prefix sanitized",
	  { .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 1, .log_prefix = "a$b\"c\\d\n" }), .n_stmt = 1 },
	  "log group 1 prefix \"a?b'c/d?\"" },
	{ "reject icmpx", { .stmt = STMTS({ .kind = ZT_S_REJECT_ICMPX }), .n_stmt = 1 },
	  "reject with icmpx admin-prohibited" },
	{ "deny chain body",
	  { .stmt = STMTS(S_CNT("drops"), S_V(ZT_V_DROP)), .n_stmt = 2 }, "counter name \"drops\" drop" },
	{ "jump", { .stmt = STMTS(S_VC(ZT_V_JUMP, "f_80000001")), .n_stmt = 1 }, "jump f_80000001" },
	{ "goto", { .stmt = STMTS(S_VC(ZT_V_GOTO, "k_1")), .n_stmt = 1 }, "goto k_1" },
	{ "no verdict", { .stmt = STMTS(S_CNT("c_80000001"), S_V(ZT_V_NONE)), .n_stmt = 2 },
	  "counter name \"c_80000001\"" },
	{ "leading no verdict", { .stmt = STMTS(S_V(ZT_V_NONE), S_V(ZT_V_ACCEPT)), .n_stmt = 2 },
	  "accept" },
	{ "comment", { .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
		       .comment = "flow public-web ztseg.yaml:31" },
	  "accept comment \"flow public-web ztseg.yaml:31\"" },
	{ "comment escaped", { .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
			       .comment = "a\"b\\c\td$e #f\x7f\xc3\xa9" },
	  "accept comment \"a'b/c?d$e #f???\"" },
	{ "comment of 127 bytes",
	  { .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1,
	    .comment = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde" },
	  "accept comment \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"" },

	/* What nft text cannot say, or a compiler bug would produce. */
	{ "empty rule", { .comment = "x" }, NULL },
	{ "only no verdict", { .stmt = STMTS(S_V(ZT_V_NONE)), .n_stmt = 1 }, NULL },
	{ "eq without key", { .match = MATCHES({ .op = ZT_M_EQ, .value = MARK(1) }), .n_match = 1,
			      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "unknown key", { .match = MATCHES(M_EQ((enum zt_key)99, MARK(1))), .n_match = 1,
			   .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "unknown op", { .match = MATCHES({ .op = (enum zt_match_op)99 }), .n_match = 1,
			  .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "unknown stmt", { .stmt = STMTS({ .kind = (enum zt_stmt_kind)99 }), .n_stmt = 1 }, NULL },
	{ "unknown verdict", { .stmt = STMTS(S_V((enum zt_verdict_code)99)), .n_stmt = 1 }, NULL },
	{ "too many matches", { .n_match = ZT_RULE_MAX_MATCH + 1 }, NULL },
	{ "bad set name", { .match = MATCHES(M_SET(ZT_KEY_IIFNAME, "a b")), .n_match = 1,
			    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "empty set name", { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_CT_MARK }, .n_key = 1 }),
			      .n_stmt = 1 }, NULL },
	{ "bad chain name", { .stmt = STMTS(S_VC(ZT_V_JUMP, "web api")), .n_stmt = 1 }, NULL },
	{ "chain name starts with digit", { .stmt = STMTS(S_VC(ZT_V_GOTO, "1x")), .n_stmt = 1 }, NULL },
	{ "bad counter name", { .stmt = STMTS(S_CNT("c\"")), .n_stmt = 1 }, NULL },
	{ "ifname with quote", { .match = MATCHES(M_EQ(ZT_KEY_IIFNAME, IFP("a\"b", false))), .n_match = 1,
				 .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "wildcard ending in backslash",
	  { .match = MATCHES(M_EQ(ZT_KEY_IIFNAME, IFP("a\\", true))), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "empty ifname", { .match = MATCHES(M_EQ(ZT_KEY_IIFNAME, IFP("", false))), .n_match = 1,
			    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "anon with bad ifname",
	  { .match = MATCHES(M_ANON(ZT_KEY_IIFNAME, ZT_TYPE_IFNAME, anon_bad)), .n_match = 1,
	    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "empty anon", { .match = MATCHES({ .op = ZT_M_IN_ANON, .key = { ZT_KEY_IIFNAME }, .n_key = 1,
				       .anon = { .type = ZT_TYPE_IFNAME } }), .n_match = 1,
			  .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "v4 value of family v6",
	  { .match = MATCHES(M_EQ(ZT_KEY_IP_SADDR, { .type = ZT_TYPE_IPV4, .cidr = { .family = AF_INET6 } })),
	    .n_match = 1, .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "prefix too long", { .match = MATCHES(M_EQ(ZT_KEY_IP_SADDR, V4(1, 2, 3, 4, 33))), .n_match = 1,
			       .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "port too big", { .match = MATCHES(M_EQ(ZT_KEY_TH_DPORT, PORT(70000))), .n_match = 1,
			    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "icmp type too big", { .match = MATCHES(M_EQ(ZT_KEY_ICMP_TYPE, ICMP(256))), .n_match = 1,
				 .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "proto too big", { .match = MATCHES(M_EQ(ZT_KEY_L4PROTO, PROTO(256))), .n_match = 1,
			     .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "value without type", { .match = MATCHES(M_EQ(ZT_KEY_CT_MARK, { .u32 = 1 })), .n_match = 1,
				  .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "ct state empty", { .match = MATCHES(M_STATE(0)), .n_match = 1,
			      .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "ct state unknown bit", { .match = MATCHES(M_STATE(1u << 20)), .n_match = 1,
				    .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 }, NULL },
	{ "rpf key inside a concatenation",
	  { .stmt = STMTS({ .kind = ZT_S_VMAP, .key = { ZT_KEY_FIB_SADDR_IIF_OIF, ZT_KEY_CT_MARK },
			.n_key = 2, .set = "x" }), .n_stmt = 1 }, NULL },
	{ "log group too big", { .stmt = STMTS({ .kind = ZT_S_LOG, .log_group = 70000 }), .n_stmt = 1 },
	  NULL },
};

/* A plan of one regular chain "c" holding the rule. */
START_TEST(test_rule)
{
	const struct rule_case *tc = &rule_cases[_i];
	struct zt_rule rule = tc->rule;
	struct zt_chain chain = { .name = "c", .rules = &rule, .n_rules = 1, .cap_rules = 1 };
	struct zt_plan plan = { .chains = &chain, .n_chains = 1 };
	_cleanup_free_ char *out = NULL, *want = NULL;
	int r;

	out = render(&plan, &r);
	if (!tc->want) {
		ck_assert_msg(r == -EINVAL, "%s: got %d, output:\n%s", tc->name, r, out);
		return;
	}
	ck_assert_msg(r == 0, "%s: render failed: %d", tc->name, r);
	ck_assert_int_ge(asprintf(&want, "table inet ztseg {\n\tchain c {\n\t\t%s\n\t}\n}\n", tc->want), 0);
	ck_assert_msg(streq(out, want), "%s:\n got: %s\nwant: %s", tc->name, out, want);
}
END_TEST

/* ---- sets and maps ---------------------------------------------------- */

static struct zt_elem e_member_if[] = {
	{ .key = { IFP("vdb", true) } }, { .key = { IFP("vweb0", false) } },
};
static struct zt_elem e_route_owner[] = {
	{ .key = { FIBIF("vweb", true) }, .data = VERD(ZT_V_GOTO, "own_0005") },
};
static struct zt_elem e_own4[] = {
	{ .key = { V4(198, 51, 100, 0, 26) }, .data = VERD(ZT_V_GOTO, "own_0005") },
	{ .key = { V4(198, 51, 100, 77, 32) }, .data = VERD(ZT_V_JUMP, "k_1") },
};
static struct zt_elem e_own6[] = {
	{ .key = { V6(64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1) }, .data = VERD(ZT_V_GOTO, "own_0005") },
	{ .key = { V6(128, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 2, [15] = 9) }, .data = VERD(ZT_V_RETURN, "") },
};
static struct zt_elem e_dst4[] = {
	{ .key = { V4(198, 51, 100, 0, 26) }, .data = MARK(5) },
	{ .key = { V4(203, 0, 113, 0, 24) }, .data = MARK(0x7fff) },
};
static struct zt_elem e_fp[] = {
	{ .key = { MARK(0x00050006), PROTO(6), PORT(443) }, .data = VERD(ZT_V_GOTO, "f_80000001") },
	{ .key = { MARK(0x00050006), PROTO(17), PORT(53) }, .data = VERD(ZT_V_JUMP, "k_0") },
	{ .key = { MARK(0x00050006), PROTO(132), PORT(9) }, .data = VERD(ZT_V_DROP, "") },
};
static struct zt_elem e_fr[] = {
	{ .key = { MARK(0x00050006), PROTO(6), PORTS(8000, 9000) }, .data = VERD(ZT_V_GOTO, "f_8000abcd") },
};
static struct zt_elem e_fi4[] = {
	{ .key = { MARK(0x00050006), ICMP(8) }, .data = VERD(ZT_V_GOTO, "f_80000002") },
	{ .key = { MARK(0x00050006), ICMP(42) }, .data = VERD(ZT_V_ACCEPT, "") },
};
static struct zt_elem e_fi6[] = {
	{ .key = { MARK(0x00050006), ICMP6(128) }, .data = VERD(ZT_V_CONTINUE, "") },
};
static struct zt_elem e_fproto[] = {
	{ .key = { MARK(0x00020001), PROTO(1) }, .data = VERD(ZT_V_GOTO, "f_80000003") },
	{ .key = { MARK(0x00020001), PROTO(58) }, .data = VERD(ZT_V_GOTO, "f_80000003") },
};
static struct zt_elem e_fcnt[] = {
	{ .key = { MARK(0x80000001) }, .data = CNT("c_80000001") },
};
static struct zt_elem e_dst_if[] = {
	{ .key = { IFP("va", true) }, .data = MARK(5) },
	{ .key = { IFP("vb", true) }, .data = MARK(6) },
};
#define R4(a, b) { .type = ZT_TYPE_IPV4, .is_range = true, .range = { .family = AF_INET, .lo = a, .hi = b } }
#define R6(a, b) { .type = ZT_TYPE_IPV6, .is_range = true, .range = { .family = AF_INET6, .lo = a, .hi = b } }
static struct zt_elem e_ranges4[] = {
	{ .key = { R4(V4B(0, 0, 0, 0), V4B(198, 51, 99, 255)) }, .data = MARK(4) },
	{ .key = { V4(198, 51, 100, 0, 28) }, .data = MARK(5) },
	{ .key = { R4(V4B(198, 51, 100, 16), V4B(198, 51, 100, 63)) }, .data = MARK(6) },
};
static struct zt_elem e_sub6[] = {
	{ .key = { MARK(7), R6(V6B(0x20, 0x01, 0x0d, 0xb8, [15] = 1), V6B(0x20, 0x01, 0x0d, 0xb8, [15] = 9)) },
	  .data = MARK(8) },
};
static struct zt_elem e_bad_range[] = {
	{ .key = { R4(V4B(198, 51, 100, 9), V4B(198, 51, 100, 1)) }, .data = MARK(4) },
};
static struct zt_elem e_short[] = {
	{ .key = { PORT(1) } }, { .key = { PORT(2) } }, { .key = { PORT(3) } },
};
static struct zt_elem e_enc_if[] = {
	{ .key = { IFP("wg0", false) } },
};
static struct zt_elem e_bad_data[] = {
	{ .key = { MARK(1) }, .data = VERD(ZT_V_NONE, "") },
};

struct set_case {
	const char *name;
	struct zt_set set;
	struct zt_elem *elems;
	size_t n_elems;
	const char *want;	/* the set's block without its outer tab; NULL: -EINVAL */
};

#define ELEMS(arr) arr, ELEMENTSOF(arr)

static const struct set_case set_cases[] = {
	{ "ifname interval set",
	  { .name = "member_if", .key = { ZT_TYPE_IFNAME }, .n_key = 1, .interval = true,
	    .comment = "segment interfaces" }, ELEMS(e_member_if),
	  "set member_if {\n\t\ttype ifname\n\t\tflags interval\n\t\tcomment \"segment interfaces\"\n"
	  "\t\telements = { \"vdb*\", \"vweb0\" }\n\t}" },
	{ "fib typeof map",
	  { .name = "route_owner", .key = { ZT_TYPE_FIB_IFNAME }, .n_key = 1,
	    .data = ZT_TYPE_VERDICT, .interval = true }, ELEMS(e_route_owner),
	  "map route_owner {\n\t\ttypeof fib saddr oifname : verdict\n\t\tflags interval\n"
	  "\t\telements = { \"vweb*\" : goto own_0005 }\n\t}" },
	{ "fib typeof concatenation",
	  { .name = "x", .key = { ZT_TYPE_FIB_IFNAME, ZT_TYPE_IPV4, ZT_TYPE_INET_PROTO }, .n_key = 3,
	    .data = ZT_TYPE_MARK }, NULL, 0,
	  "map x {\n\t\ttypeof fib saddr oifname . ip saddr . meta l4proto : ct mark\n\t}" },
	{ "v4 verdict map",
	  { .name = "own4", .key = { ZT_TYPE_IPV4 }, .n_key = 1, .data = ZT_TYPE_VERDICT,
	    .interval = true }, ELEMS(e_own4),
	  "map own4 {\n\t\ttype ipv4_addr : verdict\n\t\tflags interval\n"
	  "\t\telements = { 198.51.100.0/26 : goto own_0005,\n"
	  "\t\t\t     198.51.100.77 : jump k_1 }\n\t}" },
	{ "v6 verdict map",
	  { .name = "own6", .key = { ZT_TYPE_IPV6 }, .n_key = 1, .data = ZT_TYPE_VERDICT,
	    .interval = true }, ELEMS(e_own6),
	  "map own6 {\n\t\ttype ipv6_addr : verdict\n\t\tflags interval\n"
	  "\t\telements = { 2001:db8:0:1::/64 : goto own_0005,\n"
	  "\t\t\t     2001:db8:0:2::9 : return }\n\t}" },
	{ "mark map",
	  { .name = "dst4", .key = { ZT_TYPE_IPV4 }, .n_key = 1, .data = ZT_TYPE_MARK,
	    .interval = true }, ELEMS(e_dst4),
	  "map dst4 {\n\t\ttype ipv4_addr : mark\n\t\tflags interval\n"
	  "\t\telements = { 198.51.100.0/26 : 0x00000005,\n"
	  "\t\t\t     203.0.113.0/24 : 0x00007fff }\n\t}" },
	{ "fp concatenation",
	  { .name = "fp", .key = { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, .n_key = 3,
	    .data = ZT_TYPE_VERDICT }, ELEMS(e_fp),
	  "map fp {\n\t\ttype mark . inet_proto . inet_service : verdict\n"
	  "\t\telements = { 0x00050006 . tcp . 443 : goto f_80000001,\n"
	  "\t\t\t     0x00050006 . udp . 53 : jump k_0,\n"
	  "\t\t\t     0x00050006 . sctp . 9 : drop }\n\t}" },
	{ "fr port ranges",
	  { .name = "fr", .key = { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO, ZT_TYPE_INET_SERVICE }, .n_key = 3,
	    .data = ZT_TYPE_VERDICT, .interval = true }, ELEMS(e_fr),
	  "map fr {\n\t\ttype mark . inet_proto . inet_service : verdict\n\t\tflags interval\n"
	  "\t\telements = { 0x00050006 . tcp . 8000-9000 : goto f_8000abcd }\n\t}" },
	{ "icmp types",
	  { .name = "fi4", .key = { ZT_TYPE_MARK, ZT_TYPE_ICMP_TYPE }, .n_key = 2,
	    .data = ZT_TYPE_VERDICT }, ELEMS(e_fi4),
	  "map fi4 {\n\t\ttype mark . icmp_type : verdict\n"
	  "\t\telements = { 0x00050006 . echo-request : goto f_80000002,\n"
	  "\t\t\t     0x00050006 . 42 : accept }\n\t}" },
	{ "icmpv6 types",
	  { .name = "fi6", .key = { ZT_TYPE_MARK, ZT_TYPE_ICMPV6_TYPE }, .n_key = 2,
	    .data = ZT_TYPE_VERDICT }, ELEMS(e_fi6),
	  "map fi6 {\n\t\ttype mark . icmpv6_type : verdict\n"
	  "\t\telements = { 0x00050006 . echo-request : continue }\n\t}" },
	{ "protocols",
	  { .name = "fproto", .key = { ZT_TYPE_MARK, ZT_TYPE_INET_PROTO }, .n_key = 2,
	    .data = ZT_TYPE_VERDICT }, ELEMS(e_fproto),
	  "map fproto {\n\t\ttype mark . inet_proto : verdict\n"
	  "\t\telements = { 0x00020001 . icmp : goto f_80000003,\n"
	  "\t\t\t     0x00020001 . ipv6-icmp : goto f_80000003 }\n\t}" },
	{ "counter map",
	  { .name = "fcnt", .key = { ZT_TYPE_MARK }, .n_key = 1, .data = ZT_TYPE_COUNTER },
	  ELEMS(e_fcnt),
	  "map fcnt {\n\t\ttype mark : counter\n\t\telements = { 0x80000001 : \"c_80000001\" }\n\t}" },
	{ "map: one element a line",
	  { .name = "dst_if", .key = { ZT_TYPE_IFNAME }, .n_key = 1, .data = ZT_TYPE_MARK,
	    .interval = true }, ELEMS(e_dst_if),
	  "map dst_if {\n\t\ttype ifname : mark\n\t\tflags interval\n"
	  "\t\telements = { \"va*\" : 0x00000005,\n\t\t\t     \"vb*\" : 0x00000006 }\n\t}" },
	{ "address ranges: a-b where no prefix fits",
	  { .name = "dst4", .key = { ZT_TYPE_IPV4 }, .n_key = 1, .data = ZT_TYPE_MARK, .interval = true },
	  ELEMS(e_ranges4),
	  "map dst4 {\n\t\ttype ipv4_addr : mark\n\t\tflags interval\n"
	  "\t\telements = { 0.0.0.0-198.51.99.255 : 0x00000004,\n"
	  "\t\t\t     198.51.100.0/28 : 0x00000005,\n"
	  "\t\t\t     198.51.100.16-198.51.100.63 : 0x00000006 }\n\t}" },
	{ "address range in a concatenation",
	  { .name = "sub_dst6", .key = { ZT_TYPE_MARK, ZT_TYPE_IPV6 }, .n_key = 2, .data = ZT_TYPE_MARK,
	    .interval = true }, ELEMS(e_sub6),
	  "map sub_dst6 {\n\t\ttype mark . ipv6_addr : mark\n\t\tflags interval\n"
	  "\t\telements = { 0x00000007 . 2001:db8::1-2001:db8::9 : 0x00000008 }\n\t}" },
	{ "a range that ends before it starts", { .name = "dst4", .key = { ZT_TYPE_IPV4 }, .n_key = 1,
						   .data = ZT_TYPE_MARK, .interval = true },
	  ELEMS(e_bad_range), NULL },
	{ "set: packed",
	  { .name = "ports", .key = { ZT_TYPE_INET_SERVICE }, .n_key = 1 }, ELEMS(e_short),
	  "set ports {\n\t\ttype inet_service\n\t\telements = { 1, 2, 3 }\n\t}" },
	{ "dynamic set is empty",
	  { .name = "enc_if", .key = { ZT_TYPE_IFNAME }, .n_key = 1, .dynamic = true },
	  ELEMS(e_enc_if), "set enc_if {\n\t\ttype ifname\n\t}" },
	{ "comment escaped",
	  { .name = "s", .key = { ZT_TYPE_MARK }, .n_key = 1, .comment = "\"x\"\n" }, NULL, 0,
	  "set s {\n\t\ttype mark\n\t\tcomment \"'x'?\"\n\t}" },
	{ "counter data with typeof", { .name = "m", .key = { ZT_TYPE_FIB_IFNAME }, .n_key = 1,
					.data = ZT_TYPE_COUNTER }, NULL, 0, NULL },
	{ "no key", { .name = "m", .data = ZT_TYPE_VERDICT }, NULL, 0, NULL },
	{ "verdict as key", { .name = "m", .key = { ZT_TYPE_VERDICT }, .n_key = 1 }, NULL, 0, NULL },
	{ "ifname as data", { .name = "m", .key = { ZT_TYPE_MARK }, .n_key = 1,
			      .data = ZT_TYPE_IFNAME }, NULL, 0, NULL },
	{ "bad name", { .name = "my set", .key = { ZT_TYPE_MARK }, .n_key = 1 }, NULL, 0, NULL },
	{ "no verdict as data", { .name = "m", .key = { ZT_TYPE_MARK }, .n_key = 1,
				  .data = ZT_TYPE_VERDICT }, ELEMS(e_bad_data), NULL },
};

START_TEST(test_set)
{
	const struct set_case *tc = &set_cases[_i];
	struct zt_set set = tc->set;
	struct zt_plan plan = { .sets = &set, .n_sets = 1 };
	_cleanup_free_ char *out = NULL, *want = NULL;
	int r;

	set.elems = tc->elems;
	set.n_elems = set.cap_elems = tc->n_elems;
	out = render(&plan, &r);
	if (!tc->want) {
		ck_assert_msg(r == -EINVAL, "%s: got %d, output:\n%s", tc->name, r, out);
		return;
	}
	ck_assert_msg(r == 0, "%s: render failed: %d", tc->name, r);
	ck_assert_int_ge(asprintf(&want, "table inet ztseg {\n\t%s\n}\n", tc->want), 0);
	ck_assert_msg(streq(out, want), "%s:\n got: %s\nwant: %s", tc->name, out, want);
}
END_TEST

/* ---- chains, counters, the whole table --------------------------------- */

struct chain_case {
	enum zt_hook hook;
	int prio;
	const char *want;	/* the chain's header line; NULL: -EINVAL */
};

static const struct chain_case chain_cases[] = {
	{ ZT_HOOK_PREROUTING, -300, "type filter hook prerouting priority raw; policy accept;" },
	{ ZT_HOOK_INPUT, 0, "type filter hook input priority filter; policy accept;" },
	{ ZT_HOOK_FORWARD, 0, "type filter hook forward priority filter; policy accept;" },
	{ ZT_HOOK_OUTPUT, 0, "type filter hook output priority filter; policy accept;" },
	{ ZT_HOOK_OUTPUT, 10, "type filter hook output priority 10; policy accept;" },
	{ ZT_HOOK_FORWARD, -5, "type filter hook forward priority -5; policy accept;" },
	{ (enum zt_hook)99, 0, NULL },
};

START_TEST(test_base_chain)
{
	const struct chain_case *tc = &chain_cases[_i];
	struct zt_rule rule = { .stmt = STMTS(S_V(ZT_V_ACCEPT)), .n_stmt = 1 };
	struct zt_chain chain = { .name = "b", .hook = tc->hook, .prio = tc->prio,
				  .rules = &rule, .n_rules = 1 };
	struct zt_plan plan = { .chains = &chain, .n_chains = 1 };
	_cleanup_free_ char *out = NULL, *want = NULL;
	int r;

	out = render(&plan, &r);
	if (!tc->want) {
		ck_assert_int_eq(r, -EINVAL);
		return;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_int_ge(asprintf(&want, "table inet ztseg {\n\tchain b {\n\t\t%s\n\t\taccept\n\t}\n}\n",
				  tc->want), 0);
	ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_empty_plan)
{
	struct zt_plan plan = {};
	_cleanup_free_ char *out = NULL;
	int r;

	out = render(&plan, &r);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(out, "table inet ztseg {\n}\n");
}
END_TEST

/* Counters, then sets, then chains, each in plan order, a blank line apart. */
START_TEST(test_whole_table)
{
	struct zt_counter counters[] = {
		{ .name = "c_80000001", .comment = "flow web-to-app ztseg.yaml:3" },
		{ .name = "drops" },
	};
	struct zt_elem elems[] = { { .key = { MARK(0x80000001) }, .data = CNT("c_80000001") } };
	struct zt_set sets[] = {
		{ .name = "fcnt", .key = { ZT_TYPE_MARK }, .n_key = 1, .data = ZT_TYPE_COUNTER,
		  .elems = elems, .n_elems = 1 },
		{ .name = "enc_if", .key = { ZT_TYPE_IFNAME }, .n_key = 1, .dynamic = true },
	};
	struct zt_rule fwd[] = {
		{ .match = MATCHES(M_STATE(EST)), .n_match = 1,
		  .stmt = STMTS({ .kind = ZT_S_COUNTER_MAP, .key = { ZT_KEY_CT_MARK }, .n_key = 1,
			      .set = "fcnt" }, S_V(ZT_V_ACCEPT)), .n_stmt = 2,
		  .comment = "established" },
		{ .stmt = STMTS(S_VC(ZT_V_GOTO, "deny")), .n_stmt = 1 },
	};
	struct zt_rule deny[] = {
		{ .stmt = STMTS(S_CNT("drops"), S_V(ZT_V_DROP)), .n_stmt = 2, .comment = "hub.default" },
	};
	struct zt_chain chains[] = {
		{ .name = "forward", .hook = ZT_HOOK_FORWARD, .rules = fwd, .n_rules = 2 },
		{ .name = "deny", .rules = deny, .n_rules = 1 },
		{ .name = "empty" },
	};
	struct zt_plan plan = { .counters = counters, .n_counters = 2, .sets = sets, .n_sets = 2,
				.chains = chains, .n_chains = 3 };
	_cleanup_free_ char *out = NULL;
	int r;

	out = render(&plan, &r);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(out,
		"table inet ztseg {\n"
		"\tcounter c_80000001 {\n"
		"\t\tcomment \"flow web-to-app ztseg.yaml:3\"\n"
		"\t}\n"
		"\n"
		"\tcounter drops {\n"
		"\t}\n"
		"\n"
		"\tmap fcnt {\n"
		"\t\ttype mark : counter\n"
		"\t\telements = { 0x80000001 : \"c_80000001\" }\n"
		"\t}\n"
		"\n"
		"\tset enc_if {\n"
		"\t\ttype ifname\n"
		"\t}\n"
		"\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tct state established,related counter name ct mark map @fcnt accept comment \"established\"\n"
		"\t\tgoto deny\n"
		"\t}\n"
		"\n"
		"\tchain deny {\n"
		"\t\tcounter name \"drops\" drop comment \"hub.default\"\n"
		"\t}\n"
		"\n"
		"\tchain empty {\n"
		"\t}\n"
		"}\n");
}
END_TEST

/*
 * Chains in plan order (by name), hooked or not: nft lists chains in the
 * order they were created, and emit creates them in plan order.
 */
START_TEST(test_chain_order)
{
	struct zt_chain chains[] = {
		{ .name = "a" },
		{ .name = "forward", .hook = ZT_HOOK_FORWARD },
		{ .name = "input", .hook = ZT_HOOK_INPUT },
		{ .name = "output", .hook = ZT_HOOK_OUTPUT },
		{ .name = "spoof", .hook = ZT_HOOK_PREROUTING, .prio = -300 },
		{ .name = "z" },
	};
	struct zt_plan plan = { .chains = chains, .n_chains = ELEMENTSOF(chains) };
	_cleanup_free_ char *out = NULL;
	int r;

	out = render(&plan, &r);
	ck_assert_int_eq(r, 0);
	ck_assert_str_eq(out,
		"table inet ztseg {\n"
		"\tchain a {\n"
		"\t}\n\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t}\n\n"
		"\tchain input {\n"
		"\t\ttype filter hook input priority filter; policy accept;\n"
		"\t}\n\n"
		"\tchain output {\n"
		"\t\ttype filter hook output priority filter; policy accept;\n"
		"\t}\n\n"
		"\tchain spoof {\n"
		"\t\ttype filter hook prerouting priority raw; policy accept;\n"
		"\t}\n\n"
		"\tchain z {\n"
		"\t}\n"
		"}\n");
}
END_TEST

START_TEST(test_bad_counter_name)
{
	struct zt_counter c = { .name = "9lives" };
	struct zt_plan plan = { .counters = &c, .n_counters = 1 };
	_cleanup_free_ char *out = NULL;
	int r;

	out = render(&plan, &r);
	ck_assert_int_eq(r, -EINVAL);
}
END_TEST

/* A plan that claims entries but has no array is a bug, not a crash. */
START_TEST(test_missing_arrays)
{
	struct zt_plan plan = { .n_sets = 1 };
	struct zt_set set = { .name = "s", .key = { ZT_TYPE_MARK }, .n_key = 1, .n_elems = 3 };
	struct zt_chain chain = { .name = "c", .n_rules = 2 };
	_cleanup_free_ char *o1 = NULL, *o2 = NULL, *o3 = NULL;
	int r;

	o1 = render(&plan, &r);
	ck_assert_int_eq(r, -EINVAL);
	plan = (struct zt_plan){ .sets = &set, .n_sets = 1 };
	o2 = render(&plan, &r);
	ck_assert_int_eq(r, -EINVAL);
	plan = (struct zt_plan){ .chains = &chain, .n_chains = 1 };
	o3 = render(&plan, &r);
	ck_assert_int_eq(r, -EINVAL);
}
END_TEST

START_TEST(test_write_error)
{
	struct zt_plan plan = {};
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		return;	/* no /dev/full in this sandbox: nothing to test */
	/* Unbuffered, so the first write already fails. */
	setvbuf(f, NULL, _IONBF, 0);
	ck_assert_int_eq(zt_render(&plan, f), -EIO);
	fclose(f);
}
END_TEST

/* ---- large plans -------------------------------------------------------- */

static void big_set_fill(struct zt_set *s, size_t n, bool map)
{
	*s = (struct zt_set){ .name = "dst4", .key = { ZT_TYPE_IPV4 }, .n_key = 1,
			      .data = map ? ZT_TYPE_VERDICT : ZT_TYPE_NONE, .interval = true };
	s->elems = calloc(n, sizeof(struct zt_elem));
	ck_assert_ptr_nonnull(s->elems);
	s->n_elems = s->cap_elems = n;
	for (size_t i = 0; i < n; i++) {
		struct zt_elem *e = zt_set_elem(s, i);

		e->key[0] = (struct zt_value)V4(10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 32);
		e->data = (struct zt_value)VERD(ZT_V_GOTO, "from_0004");
		if (i % 3 == 0)
			e->data.verdict.code = ZT_V_JUMP;
	}
}

/* Wrapped at 80 columns (tabs of 8), every element there, in order. */
START_TEST(test_wrapping)
{
	struct zt_set set;
	struct zt_plan plan = { .sets = &set, .n_sets = 1 };
	_cleanup_free_ char *out = NULL;
	size_t n = 1000, seen = 0, lines = 0;
	char *save = NULL;
	int r;

	big_set_fill(&set, n, false);
	out = render(&plan, &r);
	ck_assert_int_eq(r, 0);
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t col = 0;

		for (const char *p = line; *p; p++)
			col = *p == '\t' ? (col / 8 + 1) * 8 : col + 1;
		ck_assert_msg(col <= 80, "line of %zu columns: %s", col, line);
		lines++;
		for (const char *p = line; (p = strstr(p, "10.")); p++) {
			char want[32];

			snprintf(want, sizeof(want), "10.%u.%u.%u", (unsigned)(seen >> 16) & 255,
				 (unsigned)(seen >> 8) & 255, (unsigned)seen & 255);
			ck_assert_msg(strncmp(p, want, strlen(want)) == 0 &&
				      (p[strlen(want)] == ',' || p[strlen(want)] == ' '),
				      "element %zu: %.30s", seen, p);
			p += strlen(want) - 1;
			seen++;
		}
	}
	ck_assert_uint_eq(seen, n);
	/* Several elements a line, not one. */
	ck_assert_uint_lt(lines, n / 3);
	free(set.elems);
}
END_TEST

START_TEST(test_large_plan_is_fast)
{
	struct zt_set set;
	struct zt_plan plan = { .sets = &set, .n_sets = 1 };
	struct timespec t0, t1;
	FILE *f = fopen("/dev/null", "w");
	double s;

	ck_assert_ptr_nonnull(f);
	big_set_fill(&set, 100000, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(zt_render(&plan, f), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fclose(f);
	free(set.elems);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* ~30 ms here; generous for sanitizers and busy machines. */
	ck_assert_msg(s < 3.0, "100k elements took %.3f s", s);
}
END_TEST

/* The one quoting rule render and emit share: lengths by kind, the same replacements. */
START_TEST(test_nft_str)
{
	char long_s[200], buf[ZT_NFT_STR_MAX + 1];

	memset(long_s, 'x', sizeof(long_s));
	ck_assert_uint_eq(strlen(zt_nft_str(buf, long_s, sizeof(long_s), ZT_NFT_COMMENT)), 128);
	ck_assert_uint_eq(strlen(zt_nft_str(buf, long_s, sizeof(long_s), ZT_NFT_LOG_PREFIX)), 127);
	ck_assert_str_eq(zt_nft_str(buf, "a$b\"c\\d\n\xc3", 16, ZT_NFT_COMMENT), "a$b'c/d??");
	ck_assert_str_eq(zt_nft_str(buf, "a$b\"c\\d\n\xc3", 16, ZT_NFT_LOG_PREFIX), "a?b'c/d??");
	ck_assert_str_eq(zt_nft_str(buf, "abcdef", 3, ZT_NFT_COMMENT), "abc");
}
END_TEST

static Suite *render_suite(void)
{
	Suite *s = suite_create("render");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_loop_test(tc, test_rule, 0, ELEMENTSOF(rule_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("sets");
	tcase_add_loop_test(tc, test_set, 0, ELEMENTSOF(set_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_base_chain, 0, ELEMENTSOF(chain_cases));
	tcase_add_test(tc, test_empty_plan);
	tcase_add_test(tc, test_whole_table);
	tcase_add_test(tc, test_chain_order);
	tcase_add_test(tc, test_bad_counter_name);
	tcase_add_test(tc, test_missing_arrays);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_nft_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_set_tags(tc, "slow");	/* left out of the valgrind run: ASan covers them */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wrapping);
	tcase_add_test(tc, test_large_plan_is_fast);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(render_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
