/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit zones: the cgroup ids in the ucg_* maps kept exact as units start,
 * stop and restart. inotify on the cgroup2 root (new level-1 cgroups) and
 * on every level-1 cgroup (their children, the level-2 cgroups that
 * `socket cgroupv2 level 2` looks up): each level-2 cgroup goes into
 * ucg_known, and a unit of a unit segment (system.slice/NAME) into its
 * zone's maps too. Until then the kernel denies its sockets new
 * connections (fail closed, doc/RULESET.md "Unit zones"). On a queue
 * overflow, a reload or a repair: scanned again and refilled in one
 * transaction.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <linux/netfilter/nf_tables.h>

#include "cgroup.h"
#include "emit.h"
#include "nft.h"
#include "ztsegd.h"

#define UNIT_SETS 3
static const char *const unit_sets[UNIT_SETS] = { "ucg_known", "ucg_lo", "ucg_mm" };
#define UNITS_CGROUPS_MAX 65536

static bool units_on(const struct manager *m)
{
	return m->cur.plan && zt_plan_find_set(m->cur.plan, "ucg_known");
}

/* The elements of (id, rel) as the ucg maps hold them, added to b (NEWSETELEM or DESTROYSETELEM). */
static int cg_emit(struct manager *m, struct zt_batch *b, uint64_t id, const char *rel, uint16_t type)
{
	struct zt_unit_elem ue[ZT_UNIT_ELEMS];
	size_t n = zt_units_elems(m->cur.policy, id, rel, ue);
	int r = 0;

	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct zt_set *def = zt_plan_find_set(m->cur.plan, ue[i].set);
		struct zt_set s;
		struct zt_set_enc enc = {};

		if (!def)
			return -ENOENT;
		s = zt_set_with(def, &ue[i].e, 1);
		r = zt_set_encode(&s, &enc);
		if (r >= 0)
			r = zt_emit_elems(b, &s, &enc, NULL, 0, type);
		zt_set_enc_clear(&enc);
	}
	return r;
}

static int commit(struct manager *m, struct zt_batch *b, const char *what)
{
	struct zt_diags d = {};
	int r, err = 0;

	r = zt_nft_batch_commit(m->nft, b, &err, &d);
	if (r < 0)
		log_error("cannot %s unit cgroups in the kernel: %s", what, d.n ? d.v[0].msg : strerror(err ? err : -r));
	zt_diags_clear(&d);
	return r;
}

static struct unit_cg *cg_find(struct manager *m, int wd, const char *name)
{
	for (size_t i = 0; i < m->n_ucg; i++)
		if (m->ucg[i].wd == wd && !strcmp(m->ucg[i].name, name))
			return &m->ucg[i];
	return NULL;
}

static const char *l1_name(const struct manager *m, int wd)
{
	for (size_t i = 0; i < m->n_l1; i++)
		if (m->l1[i].wd == wd)
			return m->l1[i].name;
	return NULL;
}

/* A level-2 cgroup NAME under the level-1 cgroup watched as wd: recorded, its elements into b. */
static int cg_add(struct manager *m, struct zt_batch *b, int wd, const char *name)
{
	const char *parent = l1_name(m, wd);
	char rel[2 * NAME_MAX + 2];
	uint64_t id;
	int dfd, r;

	if (!parent || cg_find(m, wd, name) || strlen(name) > NAME_MAX)
		return 0;
	if (m->n_ucg >= UNITS_CGROUPS_MAX)
		return -E2BIG;
	snprintf(rel, sizeof(rel), "%s/%s", parent, name);
	dfd = openat(m->units_rootfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	r = zt_cgroup_id_at(dfd, name, &id);
	close(dfd);
	if (r < 0)
		return r;	/* gone already */
	if (ZT_GROW(m->ucg, m->cap_ucg, m->n_ucg) < 0)
		return -ENOMEM;
	m->ucg[m->n_ucg] = (struct unit_cg){ .wd = wd, .id = id };
	snprintf(m->ucg[m->n_ucg].name, sizeof(m->ucg[m->n_ucg].name), "%s", name);
	m->n_ucg++;
	log_debug("unit cgroups: %s is %" PRIu64, rel, id);
	return b ? cg_emit(m, b, id, rel, NFT_MSG_NEWSETELEM) : 0;
}

static void cg_del(struct manager *m, struct zt_batch *b, int wd, const char *name)
{
	struct unit_cg *c = cg_find(m, wd, name);
	const char *parent = l1_name(m, wd);
	char rel[2 * NAME_MAX + 2];

	if (!c)
		return;
	snprintf(rel, sizeof(rel), "%s/%s", parent ? parent : "", name);
	log_debug("unit cgroups: %s (%" PRIu64 ") is gone", rel, c->id);
	if (b)
		cg_emit(m, b, c->id, rel, ZT_NFT_MSG_DESTROYSETELEM);
	*c = m->ucg[--m->n_ucg];
}

/* Every child directory of the level-1 cgroup watched as wd. */
static int l1_scan(struct manager *m, struct zt_batch *b, int wd)
{
	const char *parent = l1_name(m, wd);
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (!parent)
		return 0;
	fd = openat(m->units_rootfd, parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (r >= 0 && (de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			if ((r = cg_add(m, b, wd, de->d_name)) == -ENOENT)
				r = 0;
	closedir(d);
	return r;
}

/* Watch the level-1 cgroup name and take its children. */
static int l1_add(struct manager *m, struct zt_batch *b, const char *name)
{
	char path[PATH_MAX];
	int wd;

	if (strlen(name) > NAME_MAX)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", m->units_root, name);
	wd = inotify_add_watch(m->units_ino, path, IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW |
						    IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO);
	if (wd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (!l1_name(m, wd)) {
		if (ZT_GROW(m->l1, m->cap_l1, m->n_l1) < 0)
			return -ENOMEM;
		m->l1[m->n_l1].wd = wd;
		snprintf(m->l1[m->n_l1].name, sizeof(m->l1[m->n_l1].name), "%s", name);
		m->n_l1++;
	}
	return l1_scan(m, b, wd);
}

static void l1_del(struct manager *m, struct zt_batch *b, int wd)
{
	for (size_t i = m->n_ucg; i-- > 0;)
		if (m->ucg[i].wd == wd)
			cg_del(m, b, wd, m->ucg[i].name);
	for (size_t i = 0; i < m->n_l1; i++)
		if (m->l1[i].wd == wd) {
			m->l1[i] = m->l1[--m->n_l1];
			break;
		}
}

/* Forget everything and take the tree again: every map flushed and filled in one transaction. */
static int units_refill(struct manager *m)
{
	struct zt_batch *b = NULL;
	struct dirent *de;
	DIR *d;
	int fd, r;

	m->n_ucg = 0;
	m->n_l1 = 0;
	if (!units_on(m) || m->units_rootfd < 0)
		return 0;
	r = zt_nft_batch_start(m->nft, &b);
	for (size_t i = 0; r >= 0 && i < UNIT_SETS; i++)
		r = zt_emit_set_flush(b, unit_sets[i]);
	fd = r >= 0 ? dup(m->units_rootfd) : -1;
	if (fd >= 0 && (d = fdopendir(fd))) {
		rewinddir(d);
		while (r >= 0 && (de = readdir(d)))
			if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				r = l1_add(m, b, de->d_name);
		closedir(d);
	} else if (fd >= 0)
		close(fd);
	if (r >= 0)
		r = commit(m, b, "fill");
	zt_batch_free(b);
	if (r >= 0)
		log_fields(LOG_INFO, (const char *[]){ "ZTSEG_EVENT=units" }, 1,
			   "unit zones: %zu cgroups below %s (%s layout) classified", m->n_ucg, m->units_root,
			   zt_cgroup_layout_str(m->units_layout));
	return r;
}

static int units_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)];
	struct zt_batch *b = NULL;
	bool overflow = false;
	uint64_t t0 = now_usec(CLOCK_MONOTONIC);
	size_t events = 0;
	ssize_t n;
	int r;

	(void)s;
	(void)revents;
	if (!units_on(m))
		return 0;
	if (zt_nft_batch_start(m->nft, &b) < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			bool root = ev->wd == m->units_rootwd;

			p += sizeof(*ev) + ev->len;
			events++;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_IGNORED)) {
				if (!root)
					l1_del(m, b, ev->wd);
				continue;
			}
			if (!ev->len || !(ev->mask & IN_ISDIR))
				continue;
			r = 0;
			if (ev->mask & (IN_CREATE | IN_MOVED_TO))
				r = root ? l1_add(m, b, ev->name) : cg_add(m, b, ev->wd, ev->name);
			else if (!root)
				cg_del(m, b, ev->wd, ev->name);
			if (r < 0 && r != -ENOENT)
				overflow = true;
		}
	}
	if (!overflow) {
		r = commit(m, b, "update");
		overflow = r < 0;
	}
	zt_batch_free(b);
	if (overflow) {
		units_refill(m);
		m->units_refills++;
	}
	m->units_events += events;
	m->units_last_usec = now_usec(CLOCK_MONOTONIC) - t0;
	if (m->units_last_usec > m->units_max_usec)
		m->units_max_usec = m->units_last_usec;
	log_debug("unit cgroups: %zu events enforced in %.3f ms", events, (double)m->units_last_usec / 1000.0);
	return 0;
}

int manager_units_start(struct manager *m)
{
	int r;

	if (!units_on(m) || m->units_ino >= 0)
		return 0;
	r = zt_cgroup_root_detect(m->units_root, sizeof(m->units_root), &m->units_layout);
	if (r < 0 || m->units_layout == ZT_CGROUP_NONE || !m->units_root[0]) {
		/* No cgroup2: nothing can be classified; every level-2 socket stays denied. */
		log_warning("unit zones: no cgroup2 hierarchy is mounted; unit zones match nothing");
		return 0;
	}
	m->units_ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->units_ino < 0)
		return -errno;
	m->units_rootfd = open(m->units_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->units_rootfd < 0)
		return -errno;
	m->units_rootwd = inotify_add_watch(m->units_ino, m->units_root, IN_CREATE | IN_DELETE | IN_ONLYDIR |
										  IN_MOVED_TO | IN_MOVED_FROM);
	if (m->units_rootwd < 0)
		return -errno;
	if (m->event && (r = sd_event_add_io(m->event, &m->src_units, m->units_ino, EPOLLIN, units_on_io, m)) < 0)
		return r;
	return units_refill(m);
}

void manager_units_sync(struct manager *m)
{
	if (!units_on(m)) {
		m->n_ucg = m->n_l1 = 0;
		return;
	}
	if (m->units_rootfd < 0) {
		manager_units_start(m);
		return;
	}
	/* The watches stay (adding one again gives the same wd); the maps are refilled for the new plan. */
	units_refill(m);
}

int manager_units_status(struct manager *m, json_t *status)
{
	json_t *zones = json_array(), *u;
	char rel[2 * NAME_MAX + 2];

	if (!zones)
		return -ENOMEM;
	for (size_t i = 0; units_on(m) && i < m->n_ucg; i++) {
		const char *parent = l1_name(m, m->ucg[i].wd);
		int seg;

		snprintf(rel, sizeof(rel), "%s/%s", parent ? parent : "", m->ucg[i].name);
		if ((seg = zt_policy_unit_segment(m->cur.policy, rel)) < 0)
			continue;
		u = json_pack("{s:s, s:s, s:I, s:s}", "zone", m->cur.policy->segs[seg].name, "unit", m->ucg[i].name,
			      "cgroup_id", (json_int_t)m->ucg[i].id, "state", "enforced");
		if (!u || json_array_append_new(zones, u) < 0) {
			json_decref(zones);
			return -ENOMEM;
		}
	}
	u = json_pack("{s:o, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "units", zones, "cgroup_root", m->units_root,
		      "layout", zt_cgroup_layout_str(m->units_layout), "cgroups", (json_int_t)m->n_ucg,
		      "events", (json_int_t)m->units_events, "refills", (json_int_t)m->units_refills,
		      "last_usec", (json_int_t)m->units_last_usec, "max_usec", (json_int_t)m->units_max_usec);
	if (!u || json_object_set_new(status, "unit_zones", u) < 0)
		return -ENOMEM;
	return 0;
}

int manager_units_name(struct manager *m, uint32_t zone, char *buf, size_t len)
{
	const struct zt_policy *p = m->cur.policy;
	const struct zt_segment *sg = NULL;
	char rel[2 * NAME_MAX + 2];
	const char *found = NULL;
	size_t running = 0;
	int seg = -1;

	for (size_t s = 0; p && s < p->n_segs && !sg; s++)
		if (p->segs[s].n_units && zt_unit_zone_id(p, (int)s) == zone)
			sg = &p->segs[seg = (int)s];
	if (!sg)
		return -ENOENT;
	/* One unit named exactly: the zone is that unit. */
	if (sg->n_units == 1 && !sg->units[0].pat.glob)
		found = sg->units[0].pat.name;
	/* Patterns or several units: the one running, if only one is. */
	for (size_t i = 0; !found && units_on(m) && i < m->n_ucg && running < 2; i++) {
		const char *parent = l1_name(m, m->ucg[i].wd);

		snprintf(rel, sizeof(rel), "%s/%s", parent ? parent : "", m->ucg[i].name);
		if (zt_policy_unit_segment(p, rel) == seg) {
			found = m->ucg[i].name;
			running++;
		}
	}
	/* A name too long for the record's field: the segment's. */
	if (found && (running < 2) && (size_t)snprintf(buf, len, "%s", found) < len)
		return 1;
	snprintf(buf, len, "%s", sg->name);
	return 0;
}

void manager_units_free(struct manager *m)
{
	m->src_units = sd_event_source_disable_unref(m->src_units);
	if (m->units_ino >= 0)
		close(m->units_ino);
	if (m->units_rootfd >= 0)
		close(m->units_rootfd);
	m->units_ino = -1;
	m->units_rootfd = -1;
	free(m->ucg);
	free(m->l1);
	m->ucg = NULL;
	m->l1 = NULL;
}
