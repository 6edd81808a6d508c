/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Tests of lib/cgroup.c: cgroup2 layout detection, unit patterns and what they may match, cgroup ids. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cgroup.h"
#include "plan.h"
#include "policy.h"

/* ---- layout ---- */

#define MI_V1 "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
#define MI_HYB "35 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:14 - cgroup2 cgroup2 rw\n"
#define MI_UNI "25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
#define MI_TMPFS "24 20 0:21 / /sys/fs/cgroup rw,relatime shared:3 - tmpfs tmpfs rw,mode=755\n"
#define MI_ODD "40 20 0:40 / /mnt/my\\040cg rw,relatime - cgroup2 none rw\n"
#define MI_OPT "41 20 0:41 / /mnt/x rw shared:2 master:1 - cgroup2 cgroup2 rw\n"

START_TEST(test_layout)
{
	char b[256];

	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_TMPFS MI_V1 MI_HYB, b, sizeof(b)), ZT_CGROUP_HYBRID);
	ck_assert_str_eq(b, "/sys/fs/cgroup/unified");
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_UNI, b, sizeof(b)), ZT_CGROUP_UNIFIED);
	ck_assert_str_eq(b, "/sys/fs/cgroup");
	/* both mounted: the unified root wins */
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_HYB MI_UNI, b, sizeof(b)), ZT_CGROUP_UNIFIED);
	ck_assert_str_eq(b, "/sys/fs/cgroup");
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_TMPFS MI_V1, b, sizeof(b)), ZT_CGROUP_NONE);
	ck_assert_str_eq(b, "");
	ck_assert_int_eq(zt_cgroup_parse_mountinfo("", b, sizeof(b)), ZT_CGROUP_NONE);
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_ODD, b, sizeof(b)), ZT_CGROUP_OTHER);
	ck_assert_str_eq(b, "/mnt/my cg");
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_OPT, b, sizeof(b)), ZT_CGROUP_OTHER);
	ck_assert_str_eq(b, "/mnt/x");
	/* a type named like cgroup2 in the wrong field, truncated and garbage lines */
	ck_assert_int_eq(zt_cgroup_parse_mountinfo("1 2 3 4 /a - cgroup2\n1 2 3 /b\n\n- cgroup2 x\n", b,
						   sizeof(b)), ZT_CGROUP_NONE);
	ck_assert_int_eq(zt_cgroup_parse_mountinfo("1 2 3 4 /cgroup2 rw - ext4 cgroup2 rw\n", b, sizeof(b)),
			 ZT_CGROUP_NONE);
	/* too small a buffer: the layout, an empty path */
	ck_assert_int_eq(zt_cgroup_parse_mountinfo(MI_HYB, b, 4), ZT_CGROUP_HYBRID);
	ck_assert_str_eq(b, "");
	ck_assert_str_eq(zt_cgroup_layout_str(ZT_CGROUP_HYBRID), "hybrid");
}
END_TEST

START_TEST(test_detect)
{
	enum zt_cgroup_layout l = ZT_CGROUP_OTHER;
	char b[256];

	ck_assert_int_eq(zt_cgroup_root_detect(b, sizeof(b), &l), 0);
	if (l == ZT_CGROUP_UNIFIED || l == ZT_CGROUP_HYBRID) {
		char p[300];

		snprintf(p, sizeof(p), "%s/cgroup.procs", b);
		ck_assert_int_eq(access(p, F_OK), 0);
	}
}
END_TEST

/* ---- unit patterns ---- */

static const struct {
	const char *s;
	bool ok, glob;
	const char *name;
} pat_cases[] = {
	{ "api.service", true, false, "api.service" },
	{ "system.slice/api.service", true, false, "api.service" },
	{ "backup-*.service", true, true, "backup-*.service" },
	{ "worker.slice", true, false, "worker.slice" },
	{ "getty@tty1.service", true, false, "getty@tty1.service" },
	{ "x.scope", true, false, "x.scope" },
	{ "db?.service", true, true, "db?.service" },
	{ "", false, false, NULL },
	{ "api", false, false, NULL },
	{ "api.socket", false, false, NULL },
	{ "api.timer", false, false, NULL },
	{ ".service", false, false, NULL },
	{ "system.slice", false, false, NULL },
	{ "system.slice/", false, false, NULL },
	{ "user.slice/user-1000.slice/user@1000.service/api.service", false, false, NULL },
	{ "system.slice/x.service/api.service", false, false, NULL },
	{ "../api.service", false, false, NULL },
	{ "a b.service", false, false, NULL },
	{ "a\n.service", false, false, NULL },
	{ "[ab].service", false, false, NULL },
	{ "*", false, false, NULL },
};

START_TEST(test_pattern)
{
	struct zt_unitpat p;
	const char *err = NULL;
	int r = zt_unitpat_parse(pat_cases[_i].s, &p, &err);

	ck_assert_msg((r == 0) == pat_cases[_i].ok, "'%s': %d", pat_cases[_i].s, r);
	if (r) {
		ck_assert_ptr_nonnull(err);
		return;
	}
	ck_assert_str_eq(p.name, pat_cases[_i].name);
	ck_assert(p.glob == pat_cases[_i].glob);
}
END_TEST

START_TEST(test_pattern_long)
{
	char s[400];
	struct zt_unitpat p;
	const char *err = NULL;

	memset(s, 'a', sizeof(s));
	strcpy(s + 247, ".service");	/* 255 bytes */
	ck_assert_int_eq(zt_unitpat_parse(s, &p, &err), 0);
	memset(s, 'a', sizeof(s));
	strcpy(s + 248, ".service");	/* 256 */
	ck_assert_int_eq(zt_unitpat_parse(s, &p, &err), -EINVAL);
}
END_TEST

static struct zt_unitpat pat(const char *s)
{
	struct zt_unitpat p;
	const char *err;

	ck_assert_int_eq(zt_unitpat_parse(s, &p, &err), 0);
	return p;
}

START_TEST(test_match)
{
	struct zt_unitpat api = pat("api.service"), bk = pat("backup-*.service");

	ck_assert(zt_unitpat_match(&api, "system.slice/api.service"));
	ck_assert(!zt_unitpat_match(&api, "system.slice/api.service/child"));
	ck_assert(!zt_unitpat_match(&api, "user.slice/user-1000.slice/user@1000.service/api.service"));
	ck_assert(!zt_unitpat_match(&api, "user.slice/api.service"));
	ck_assert(!zt_unitpat_match(&api, "api.service"));
	ck_assert(!zt_unitpat_match(&api, "system.slice/x.service/api.service"));
	ck_assert(!zt_unitpat_match(&api, "system.slice/"));
	ck_assert(!zt_unitpat_match(&api, "system.slicex/api.service"));
	ck_assert(!zt_unitpat_match(&api, "system.slice/api.servicex"));
	ck_assert(zt_unitpat_match(&bk, "system.slice/backup-nightly.service"));
	ck_assert(zt_unitpat_match(&bk, "system.slice/backup-.service"));
	ck_assert(!zt_unitpat_match(&bk, "system.slice/backup-a/b.service"));
	ck_assert(!zt_unitpat_match(&bk, "system.slice/backup-x.scope"));
	ck_assert(!zt_unitpat_match(&bk, "user.slice/user-1000.slice/user@1000.service/backup-x.service"));
}
END_TEST

START_TEST(test_overlap)
{
	struct zt_unitpat a = pat("api.service"), a2 = pat("system.slice/api.service"),
			  b = pat("backup-*.service"), b2 = pat("backup-db*.service"), c = pat("*.scope"),
			  d = pat("backup-db.service"), e = pat("db.service"), g = pat("b*.service");

	ck_assert(zt_unitpat_overlap(&a, &a2));
	ck_assert(!zt_unitpat_overlap(&a, &e));
	ck_assert(zt_unitpat_overlap(&b, &b2));
	ck_assert(zt_unitpat_overlap(&b, &d));
	ck_assert(zt_unitpat_overlap(&d, &b2));
	ck_assert(!zt_unitpat_overlap(&b, &c));
	ck_assert(!zt_unitpat_overlap(&a, &b));
	ck_assert(zt_unitpat_overlap(&g, &b));
	ck_assert(!zt_unitpat_overlap(&g, &a));
}
END_TEST

/* ---- ids ---- */

START_TEST(test_id)
{
	char dir[] = "/tmp/zt-cg-XXXXXX";
	uint64_t id = 0, id2 = 0;
	struct stat st;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0);
	ck_assert_int_eq(mkdirat(fd, "a", 0700), 0);
	ck_assert_int_eq(zt_cgroup_id_at(fd, "a", &id), 0);
	ck_assert(id != 0);
	ck_assert_int_eq(zt_cgroup_id_at(fd, "a", &id2), 0);
	ck_assert(id == id2);
	ck_assert_int_lt(zt_cgroup_id_at(fd, "missing", &id2), 0);
	ck_assert(id2 == 0);
	/* not a directory (on a file system without 8-byte handles) */
	close(openat(fd, "f", O_CREAT | O_WRONLY, 0600));
	ck_assert_int_eq(fstatat(fd, "f", &st, 0), 0);
	unlinkat(fd, "f", 0);
	unlinkat(fd, "a", AT_REMOVEDIR);
	close(fd);
	rmdir(dir);
}
END_TEST

START_TEST(test_id_cgroup2)
{
	enum zt_cgroup_layout l;
	char root[256];
	uint64_t id = 0;
	struct stat st;
	int fd;

	ck_assert_int_eq(zt_cgroup_root_detect(root, sizeof(root), &l), 0);
	if (l == ZT_CGROUP_NONE || !root[0])
		return;
	ck_assert((fd = open(root, O_RDONLY | O_DIRECTORY)) >= 0);
	/* the root cgroup's id is 1 on 64-bit kernfs; any child's id is its inode */
	if (fstatat(fd, "init.scope", &st, 0) == 0 && S_ISDIR(st.st_mode)) {
		ck_assert_int_eq(zt_cgroup_id_at(fd, "init.scope", &id), 0);
		ck_assert(id == (uint64_t)st.st_ino);
	}
	ck_assert_int_eq(zt_cgroup_id_at(fd, ".", &id), 0);
	ck_assert(id != 0);
	close(fd);
}
END_TEST

/* ---- compiled unit zones ---- */

static const char units_yaml[] =
	"version: 1\nhub:\n  protect-host: true\n  boundaries:\n    office: { interfaces: [eth0], addresses: [198.51.100.0/24] }\n"
	"  flows:\n    - { from: api, to: db, ports: [tcp/5432] }\n"
	"segments:\n  web: { interfaces: [\"vweb*\"] }\n  api: { units: [api.service] }\n"
	"  db: { units: [\"db-*.service\"] }\n";

START_TEST(test_units_compiled)
{
	struct zt_source src = { "ztseg.yaml", units_yaml, sizeof(units_yaml) - 1 };
	struct zt_limits lim = ZT_LIMITS_DEFAULT;
	struct zt_compile_opts o = ZT_COMPILE_OPTS_DEFAULT;
	struct zt_policy *p = NULL;
	struct zt_plan *plan = NULL;
	struct zt_diags d = {};
	struct zt_unit_elem ue[ZT_UNIT_ELEMS];
	const struct zt_set *umk;
	size_t n;

	ck_assert_int_eq(zt_policy_load_sources(&src, 1, &lim, &p, &d), 0);
	ck_assert_int_eq(zt_compile(p, &o, &plan, &d), 0);
	/* world 1, host 2, office 3, web 4, api 5, db 6 */
	ck_assert_uint_eq(zt_unit_zone_id(p, 1), 5);
	ck_assert_uint_eq(zt_unit_zone_id(p, 2), 6);
	ck_assert_ptr_nonnull(zt_plan_find_set(plan, "ucg_known"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "lo_in"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "lo_out"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "lin_0005"));
	ck_assert_ptr_nonnull(zt_plan_find_chain(plan, "lin_0006"));
	ck_assert_ptr_null(zt_plan_find_chain(plan, "lin_0004"));
	ck_assert_ptr_nonnull((umk = zt_plan_find_set(plan, "umk")));
	ck_assert_uint_eq(umk->n_elems, 2);
	ck_assert_uint_eq(zt_set_elem(umk, 0)->key[0].u32, ZT_UNIT_TOKEN | 5);
	/*
	 * deny: before the log rule, only the mark bits ztseg owns (0xffff0000)
	 * are cleared and get the unit zones' log indices (NFLOG names unit
	 * zones); after it they are cleared again; the whole mark is never set.
	 */
	{
		const struct zt_chain *deny = zt_plan_find_chain(plan, "deny"), *ch;
		const struct zt_set *lg;
		int cleared = -1, logged = -1, recleared = -1, f = -1, t = -1;

		ck_assert_ptr_nonnull(deny);
		for (size_t i = 0; i < deny->n_rules; i++)
			for (size_t k = 0; k < deny->rules[i].n_stmt; k++) {
				const struct zt_stmt *s = &deny->rules[i].stmt[k];

				ck_assert_int_ne(s->kind, ZT_S_META_MARK_FROM_CT);
				if (s->kind == ZT_S_META_MARK_BITS) {
					ck_assert_uint_eq(s->mmask, 0x0000ffffu);
					ck_assert_uint_eq(s->u32, 0);
					*(cleared < 0 ? &cleared : &recleared) = (int)i;
				}
				if (s->kind == ZT_S_LOG)
					logged = (int)i;
				if (s->kind == ZT_S_VMAP && streq(s->set, "ulogf")) {
					ck_assert_uint_eq(s->mmask, 0xffff0000u);
					f = (int)i;
				}
				if (s->kind == ZT_S_VMAP && streq(s->set, "ulogt")) {
					ck_assert_uint_eq(s->mmask, 0x8000ffffu);
					t = (int)i;
				}
			}
		ck_assert(cleared >= 0 && cleared < f && f < t && t < logged && logged < recleared);
		ck_assert_ptr_nonnull((lg = zt_plan_find_set(plan, "ulogf")));
		ck_assert_uint_eq(lg->n_elems, 2);
		ck_assert_uint_eq(zt_set_elem(lg, 0)->key[0].u32, 5u << 16);
		ck_assert_str_eq(zt_set_elem(lg, 0)->data.verdict.chain, "ulf_0005");
		ck_assert_ptr_nonnull((lg = zt_plan_find_set(plan, "ulogt")));
		ck_assert_uint_eq(zt_set_elem(lg, 1)->key[0].u32, 6u);
		ck_assert_str_eq(zt_set_elem(lg, 1)->data.verdict.chain, "ult_0006");
		ck_assert_ptr_nonnull((ch = zt_plan_find_chain(plan, "ulf_0005")));
		ck_assert_uint_eq(ch->rules[0].stmt[0].u32, 1u << 24);
		ck_assert_uint_eq(ch->rules[0].stmt[0].mmask, 0xffffffffu);
		ck_assert_ptr_nonnull((ch = zt_plan_find_chain(plan, "ult_0006")));
		ck_assert_uint_eq(ch->rules[0].stmt[0].u32, 2u << 16);
		/* the reader's inverse; another user's bits (0x4000) do not matter */
		ck_assert_uint_eq(zt_unit_log_index(p, 0), 0);
		ck_assert_uint_eq(zt_unit_log_index(p, 1), 1);
		ck_assert_uint_eq(zt_unit_log_index(p, 2), 2);
		ck_assert_uint_eq(zt_unit_log_zone(p, 0x01024000u, true), 5);
		ck_assert_uint_eq(zt_unit_log_zone(p, 0x01024000u, false), 6);
		ck_assert_uint_eq(zt_unit_log_zone(p, 0x00004000u, true), 0);
		ck_assert_uint_eq(zt_unit_log_zone(p, 0x03000000u, true), 0);
	}
	/* the compiled vmaps: zone << 16 -> from_<zone>, token -> lin_<zone> */
	ck_assert_ptr_nonnull((umk = zt_plan_find_set(plan, "usrc")));
	ck_assert_uint_eq(umk->n_elems, 2);
	ck_assert_uint_eq(zt_set_elem(umk, 1)->key[0].u32, 6u << 16);
	ck_assert_str_eq(zt_set_elem(umk, 1)->data.verdict.chain, "from_0006");
	ck_assert_ptr_nonnull((umk = zt_plan_find_set(plan, "ulin")));
	ck_assert_uint_eq(umk->n_elems, 2);
	ck_assert_uint_eq(zt_set_elem(umk, 1)->key[0].u32, ZT_UNIT_TOKEN | 6);
	ck_assert_str_eq(zt_set_elem(umk, 1)->data.verdict.chain, "lin_0006");
	/* a listed unit: three maps, marks only (no verdict: no table validation per restart) */
	n = zt_units_elems(p, 4242, "system.slice/db-main.service", ue);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(ue[0].set, "ucg_known");
	ck_assert(ue[0].e.key[0].u64 == 4242);
	ck_assert_str_eq(ue[1].set, "ucg_lo");
	ck_assert_uint_eq(ue[1].e.data.u32, 6u << 16);
	ck_assert_str_eq(ue[2].set, "ucg_mm");
	ck_assert_uint_eq(ue[2].e.data.u32, ZT_UNIT_TOKEN | 6);
	/* a cgroup of the same name elsewhere, or an unlisted unit: known, nothing else */
	ck_assert_uint_eq(zt_units_elems(p, 7, "user.slice/user-1000.slice", ue), 1);
	ck_assert_uint_eq(zt_units_elems(p, 8, "system.slice/other.service", ue), 1);
	ck_assert_int_eq(zt_policy_unit_segment(p, "user.slice/user-1000.slice/user@1000.service/api.service"), -1);
	ck_assert_int_eq(zt_policy_unit_segment(p, "system.slice/api.service"), 1);
	zt_plan_free(plan);
	zt_policy_free(p);
	zt_diags_clear(&d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_detect);
	tcase_add_loop_test(tc, test_pattern, 0, sizeof(pat_cases) / sizeof(pat_cases[0]));
	tcase_add_test(tc, test_pattern_long);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_overlap);
	tcase_add_test(tc, test_id);
	tcase_add_test(tc, test_id_cgroup2);
	tcase_add_test(tc, test_units_compiled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
