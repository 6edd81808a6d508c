/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cgroup v2 for unit zones: layout detection, unit patterns, cgroup ids. See cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "util.h"

#define UNIFIED_ROOT "/sys/fs/cgroup"
#define HYBRID_ROOT "/sys/fs/cgroup/unified"

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. Returns false if it does not fit. */
static bool unescape(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (ch == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			ch = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= len)
			return false;
		buf[o++] = ch;
	}
	buf[o] = '\0';
	return true;
}

/*
 * One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL…] - FSTYPE SRC SUPER".
 * Fills mp (the mount point) when the file system type is cgroup2.
 */
static bool line_cgroup2(const char *line, size_t n, char *mp, size_t len)
{
	const char *f[5] = {}, *end = line + n, *p = line, *sep;
	size_t fl[5] = {};

	for (int i = 0; i < 5; i++) {
		while (p < end && *p == ' ')
			p++;
		f[i] = p;
		while (p < end && *p != ' ')
			p++;
		fl[i] = (size_t)(p - f[i]);
		if (!fl[i])
			return false;
	}
	if (!(sep = memmem(p, (size_t)(end - p), " - ", 3)))
		return false;
	sep += 3;
	if ((size_t)(end - sep) < 8 || memcmp(sep, "cgroup2 ", 8))
		return false;
	return unescape(f[4], fl[4], mp, len);
}

enum zt_cgroup_layout zt_cgroup_parse_mountinfo(const char *text, char *buf, size_t len)
{
	char mp[4096], first[4096] = "";
	bool unified = false, hybrid = false;

	if (len)
		buf[0] = '\0';
	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t n = nl ? (size_t)(nl - l) : strlen(l);

		if (line_cgroup2(l, n, mp, sizeof(mp))) {
			if (!strcmp(mp, UNIFIED_ROOT))
				unified = true;
			else if (!strcmp(mp, HYBRID_ROOT))
				hybrid = true;
			else if (!first[0])
				snprintf(first, sizeof(first), "%s", mp);
		}
		l = nl ? nl + 1 : NULL;
	}
	if (unified || hybrid) {
		const char *root = unified ? UNIFIED_ROOT : HYBRID_ROOT;

		if (strlen(root) < len)
			strcpy(buf, root);
		return unified ? ZT_CGROUP_UNIFIED : ZT_CGROUP_HYBRID;
	}
	if (!first[0])
		return ZT_CGROUP_NONE;
	if (strlen(first) < len)
		strcpy(buf, first);
	return ZT_CGROUP_OTHER;
}

int zt_cgroup_root_detect(char *buf, size_t len, enum zt_cgroup_layout *layout)
{
	_cleanup_free_ char *text = NULL;
	size_t sz = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char chunk[4096];
	size_t n;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *t = realloc(text, sz + n + 1);

		if (!t) {
			fclose(f);
			return -ENOMEM;
		}
		text = t;
		memcpy(text + sz, chunk, n);
		sz += n;
		text[sz] = '\0';
		if (sz > (16u << 20)) {
			fclose(f);
			return -EFBIG;
		}
	}
	fclose(f);
	*layout = zt_cgroup_parse_mountinfo(text ? text : "", buf, len);
	return 0;
}

const char *zt_cgroup_layout_str(enum zt_cgroup_layout l)
{
	switch (l) {
	case ZT_CGROUP_UNIFIED:
		return "unified";
	case ZT_CGROUP_HYBRID:
		return "hybrid";
	case ZT_CGROUP_OTHER:
		return "other";
	default:
		return "none";
	}
}

static bool unit_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == ':' || ch == '-' || ch == '_' || ch == '.' || ch == '\\' || ch == '@';
}

static const char *const unit_suffixes[] = { ".service", ".scope", ".slice", NULL };

int zt_unitpat_parse(const char *s, struct zt_unitpat *ret, const char **err)
{
	const char *name = s, *suffix = NULL;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (!strncmp(s, ZT_UNIT_SLICE "/", sizeof(ZT_UNIT_SLICE)))
		name = s + sizeof(ZT_UNIT_SLICE);
	n = strlen(name);
	if (!n) {
		*err = "a unit name is empty";
		return -EINVAL;
	}
	if (n > ZT_UNIT_NAME_MAX) {
		*err = "a unit name is longer than 255 bytes";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '/') {
			*err = "a unit is NAME or system.slice/NAME: no other cgroup path can be listed "
			       "(nested and delegated cgroups are never unit zones)";
			return -EINVAL;
		}
		if (name[i] == '*' || name[i] == '?')
			ret->glob = true;
		else if (!unit_char(name[i])) {
			*err = "a unit name has only ASCII letters, digits, ':', '-', '_', '.', '\\', '@' "
			       "and the glob characters '*' and '?'";
			return -EINVAL;
		}
	}
	for (size_t i = 0; unit_suffixes[i]; i++) {
		size_t sl = strlen(unit_suffixes[i]);

		if (n > sl && !strcmp(name + n - sl, unit_suffixes[i]))
			suffix = name + n - sl;
	}
	if (!suffix) {
		*err = "a unit name ends in .service, .scope or .slice (the unit types that own a cgroup)";
		return -EINVAL;
	}
	if (!strcmp(name, ZT_UNIT_SLICE)) {
		*err = "system.slice itself is not a unit zone: name the units in it";
		return -EINVAL;
	}
	memcpy(ret->name, name, n + 1);
	return 0;
}

bool zt_unitpat_match(const struct zt_unitpat *p, const char *rel)
{
	const char *name;

	if (strncmp(rel, ZT_UNIT_SLICE "/", sizeof(ZT_UNIT_SLICE)))
		return false;
	name = rel + sizeof(ZT_UNIT_SLICE);
	if (!*name || strchr(name, '/'))
		return false;
	if (!p->glob)
		return !strcmp(p->name, name);
	return fnmatch(p->name, name, FNM_PATHNAME | FNM_NOESCAPE) == 0;
}

/* The literal text before the first glob character, and after the last. */
static void literal_ends(const struct zt_unitpat *p, size_t *pre, size_t *suf)
{
	size_t n = strlen(p->name), i = 0, j = n;

	while (i < n && p->name[i] != '*' && p->name[i] != '?')
		i++;
	while (j > 0 && p->name[j - 1] != '*' && p->name[j - 1] != '?')
		j--;
	*pre = i;
	*suf = p->glob ? n - j : n;
}

bool zt_unitpat_overlap(const struct zt_unitpat *a, const struct zt_unitpat *b)
{
	size_t ap, as, bp, bs, na = strlen(a->name), nb = strlen(b->name), k;

	if (!a->glob && !b->glob)
		return !strcmp(a->name, b->name);
	if (!a->glob)
		return fnmatch(b->name, a->name, FNM_NOESCAPE) == 0;
	if (!b->glob)
		return fnmatch(a->name, b->name, FNM_NOESCAPE) == 0;
	/* Two globs: conservative. They may overlap unless their literal ends disagree. */
	literal_ends(a, &ap, &as);
	literal_ends(b, &bp, &bs);
	k = ap < bp ? ap : bp;
	if (memcmp(a->name, b->name, k))
		return false;
	k = as < bs ? as : bs;
	return !memcmp(a->name + na - k, b->name + nb - k, k);
}

int zt_cgroup_id_at(int dirfd, const char *name, uint64_t *id)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + 64];
	} h;
	struct stat st;
	int mnt;

	*id = 0;
	h.fh.handle_bytes = 64;
	if (name_to_handle_at(dirfd, name, &h.fh, &mnt, 0) == 0 && h.fh.handle_bytes == 8) {
		memcpy(id, h.fh.f_handle, 8);
		return *id ? 0 : -EINVAL;
	}
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	*id = (uint64_t)st.st_ino;
	return 0;
}
