/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The difference with the table as read back: plan and kernel objects in
 * canonical forms (text for rules and set definitions, byte strings for
 * elements), compared by name; counters and unchanged objects are kept.
 */
#include <stdio.h>
#include <string.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include "diff-kernel.h"
#include "grant.h"

static void hex_put(FILE *f, const void *p, uint32_t len)
{
	const uint8_t *b = p;

	for (uint32_t i = 0; i < len; i++)
		fprintf(f, "%02x", b[i]);
}

static void elem_canon(FILE *f, struct nftnl_set_elem *e)
{
	uint32_t len;
	const void *p;

	fprintf(f, "f%u k", nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
			   nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) : 0);
	p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	if (p)
		hex_put(f, p, len);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &len);
		fputs("-", f);
		hex_put(f, p, len);
	}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		fprintf(f, " v%d:%s", (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT),
			nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
	else if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
		fprintf(f, " v%d", (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_DATA)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len);
		fputs(" d", f);
		hex_put(f, p, len);
	}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_OBJREF))
		fprintf(f, " o%s", nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_OBJREF));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
		p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);
		fputs(" u", f);
		hex_put(f, p, len);
	}
}

static char *elem_str(struct nftnl_set_elem *e)
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	if (!f)
		return NULL;
	elem_canon(f, e);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted canonical strings of a list of elements. */
static char **elems_strv(struct nftnl_set_elem **el, size_t n)
{
	char **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = elem_str(el[i]);
		if (!v[i]) {
			strv_free(v, n);
			return NULL;
		}
	}
	qsort(v, n, sizeof(*v), strp_cmp);
	return v;
}

/* What makes two sets the same definition (the kernel adds nothing we compare). */
static void set_def_canon(FILE *f, struct nftnl_set *s)
{
	uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS), len;
	const void *ud;

	fprintf(f, "f%x t%x l%u", flags, nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (flags & NFT_SET_MAP) {
		uint32_t dt = nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE);

		/* The kernel sizes verdict data itself. */
		fprintf(f, " d%x", dt);
		if (dt != NFT_DATA_VERDICT)
			fprintf(f, "/%u", nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN));
	}
	if (flags & NFT_SET_OBJECT)
		fprintf(f, " o%u", nftnl_set_get_u32(s, NFTNL_SET_OBJ_TYPE));
	/* Flood sets: their bound and default timeout (0 is left out by both sides). */
	if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE) && nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE))
		fprintf(f, " s%u", nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE));
	if (nftnl_set_is_set(s, NFTNL_SET_TIMEOUT) && nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT))
		fprintf(f, " T%llu", (unsigned long long)nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT));
	ud = nftnl_set_get_data(s, NFTNL_SET_USERDATA, &len);
	if (ud && nftnl_set_is_set(s, NFTNL_SET_USERDATA)) {
		fputs(" u", f);
		hex_put(f, ud, len);
	}
}

static char *set_def_str(struct nftnl_set *s)
{
	char *str = NULL;
	size_t len;
	FILE *f = open_memstream(&str, &len);

	if (!f)
		return NULL;
	set_def_canon(f, s);
	if (fclose(f) != 0) {
		free(str);
		return NULL;
	}
	return str;
}

/* An anonymous set: its definition and its sorted elements. */
static char *anon_str(struct nftnl_set *s, struct nftnl_set_elem **el, size_t n)
{
	char **v = elems_strv(el, n);
	char *str = NULL;
	size_t len;
	FILE *f;

	if (!v)
		return NULL;
	f = open_memstream(&str, &len);
	if (f) {
		set_def_canon(f, s);
		for (size_t i = 0; i < n; i++)
			fprintf(f, " {%s}", v[i]);
		if (fclose(f) != 0) {
			free(str);
			str = NULL;
		}
	}
	strv_free(v, n);
	return str;
}

/* Finds the canonical form of the anonymous set a lookup names. */
struct anon_resolver {
	/* kernel side */
	const struct zt_kstate *k;
	char **k_anon;			/* per k->sets, NULL unless anonymous */
	/* plan side */
	const struct zt_rule_enc *enc;
	char **e_anon;			/* per enc->anon */
};

static const char *anon_resolve(const struct anon_resolver *ar, struct nftnl_expr *e)
{
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

	if (ar->k) {
		for (size_t i = 0; i < ar->k->n_sets; i++)
			if (ar->k_anon[i] && streq(nftnl_set_get_str(ar->k->sets[i].set, NFTNL_SET_NAME), name))
				return ar->k_anon[i];
		return NULL;
	}
	if (ar->enc && nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_SET_ID)) {
		uint32_t id = nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SET_ID);

		for (size_t i = 0; i < ar->enc->n_anon; i++)
			if (nftnl_set_get_u32(ar->enc->anon[i].set, NFTNL_SET_ID) == id)
				return ar->e_anon[i];
	}
	return NULL;
}

/*
 * A rule as text: libnftnl's rendering of each expression (anonymous set
 * names replaced by their contents, which differ in name only) and its
 * comment. Lookups and object references are written here: libnftnl also
 * prints what only a request carries (set ids).
 */
static int rule_canon(FILE *f, struct nftnl_rule *r, const struct anon_resolver *ar)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	char buf[4096];
	uint32_t len;
	const void *ud;

	if (!it)
		return -ENOMEM;
	while ((e = nftnl_expr_iter_next(it))) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		if (name && streq(name, "lookup")) {
			const char *set = nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET);

			fprintf(f, "[lookup r%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG));
			if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_DREG))
				fprintf(f, " d%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_DREG));
			/* The kernel reports flags 0 that the request left out. */
			if (nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) && nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS))
				fprintf(f, " f%u", nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS));
			if (set && strncmp(set, "__set", 5) == 0) {
				const char *a = anon_resolve(ar, e);

				if (!a) {
					nftnl_expr_iter_destroy(it);
					return -ENOENT;
				}
				fprintf(f, " {%s}]", a);
			} else
				fprintf(f, " @%s]", set ? set : "");
			continue;
		}
		/* libnftnl prints an objref map's set id, which only a request has. */
		if (name && streq(name, "objref")) {
			if (nftnl_expr_is_set(e, NFTNL_EXPR_OBJREF_SET_NAME))
				fprintf(f, "[objref r%u @%s]", nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_SET_SREG),
					nftnl_expr_get_str(e, NFTNL_EXPR_OBJREF_SET_NAME));
			else
				fprintf(f, "[objref t%u %s]", nftnl_expr_get_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE),
					nftnl_expr_get_str(e, NFTNL_EXPR_OBJREF_IMM_NAME));
			continue;
		}
		nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
		/* The kernel reports a dynset's timeout 0 that a request to a set without timeouts cannot carry. */
		if (name && streq(name, "dynset")) {
			char *t = strstr(buf, " timeout 0ms");

			if (t)
				memmove(t, t + 12, strlen(t + 12) + 1);
		}
		fprintf(f, "[%s]", buf);
	}
	nftnl_expr_iter_destroy(it);
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &len);
	if (ud && nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
		fputs(" u", f);
		hex_put(f, ud, len);
	}
	fputc('\n', f);
	return 0;
}

/* ---- comparing plan and kernel -------------------------------------------- */

/* Kernel objects by name, for lookups that stay fast with thousands of chains. */
struct name_idx {
	const char *name;
	size_t i;
};

static int name_idx_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

static size_t name_idx_find(const struct name_idx *v, size_t n, const char *name)
{
	struct name_idx key = { .name = name };
	const struct name_idx *hit = bsearch(&key, v, n, sizeof(*v), name_idx_cmp);

	return hit ? hit->i : SIZE_MAX;
}

static struct name_idx *chains_idx(const struct zt_kstate *k)
{
	struct name_idx *v = calloc(k->n_chains + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < k->n_chains; i++)
		v[i] = (struct name_idx){ nftnl_chain_get_str(k->chains[i], NFTNL_CHAIN_NAME), i };
	qsort(v, k->n_chains, sizeof(*v), name_idx_cmp);
	return v;
}

static struct name_idx *objs_idx(const struct zt_kstate *k)
{
	struct name_idx *v = calloc(k->n_objs + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < k->n_objs; i++)
		v[i] = (struct name_idx){ nftnl_obj_get_str(k->objs[i], NFTNL_OBJ_NAME), i };
	qsort(v, k->n_objs, sizeof(*v), name_idx_cmp);
	return v;
}

void zt_kernel_diff_clear(struct zt_kernel_diff *df, const struct zt_plan *p, const struct zt_kstate *k)
{
	if (df->set_enc)
		for (size_t i = 0; i < p->n_sets; i++)
			zt_set_enc_clear(&df->set_enc[i]);
	if (df->kset_rm)
		for (size_t i = 0; i < k->n_sets; i++)
			free(df->kset_rm[i]);
	zt_pflags_clear(&df->pf, p);
	free(df->set_enc);
	free(df->kchain_del);
	free(df->kset_del);
	free(df->kobj_del);
	free(df->kset_rm);
	free(df->n_kset_rm);
	free(df->kset_of);
	*df = (struct zt_kernel_diff){};
}

static size_t kset_find(const struct zt_kstate *k, const char *name)
{
	for (size_t i = 0; i < k->n_sets; i++)
		if (streq(nftnl_set_get_str(k->sets[i].set, NFTNL_SET_NAME), name))
			return i;
	return SIZE_MAX;
}

/* The plan's rules of one chain as text. */
static int plan_chain_canon(const struct zt_plan *p, const struct zt_chain *c, char **ret)
{
	char *str = NULL;
	size_t len;
	FILE *f;
	int r = 0;

	f = open_memstream(&str, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; r >= 0 && i < c->n_rules; i++) {
		struct zt_rule_enc enc = {};
		char *anon[ZT_RULE_MAX_MATCH] = {};
		struct anon_resolver ar = { .enc = &enc, .e_anon = anon };

		r = zt_rule_encode(p, c, i, NULL, &enc);
		if (r < 0)
			break;
		for (size_t a = 0; r >= 0 && a < enc.n_anon; a++) {
			anon[a] = anon_str(enc.anon[a].set, enc.anon[a].elems, enc.anon[a].n);
			if (!anon[a])
				r = -ENOMEM;
		}
		if (r >= 0)
			r = rule_canon(f, enc.rule, &ar);
		for (size_t a = 0; a < enc.n_anon; a++)
			free(anon[a]);
		zt_rule_enc_clear(&enc);
	}
	if (fclose(f) != 0 && r >= 0)
		r = -ENOMEM;
	if (r < 0) {
		free(str);
		return r;
	}
	*ret = str;
	return 0;
}

/* Every kernel chain's rules as text, in kernel order (one pass over the rules). */
static int kernel_chain_canons(const struct zt_kstate *k, const struct name_idx *cidx, char ***ret)
{
	char **canon = calloc(k->n_chains + 1, sizeof(*canon));
	size_t *len = calloc(k->n_chains + 1, sizeof(*len));
	FILE **f = calloc(k->n_chains + 1, sizeof(*f));
	char **k_anon = calloc(k->n_sets + 1, sizeof(*k_anon));
	struct anon_resolver ar = { .k = k, .k_anon = k_anon };
	int r = 0;

	if (!canon || !len || !f || !k_anon)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < k->n_sets; i++)
		if (nftnl_set_get_u32(k->sets[i].set, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS) {
			k_anon[i] = anon_str(k->sets[i].set, k->sets[i].el, k->sets[i].n);
			if (!k_anon[i])
				r = -ENOMEM;
		}
	for (size_t c = 0; r >= 0 && c < k->n_chains; c++) {
		f[c] = open_memstream(&canon[c], &len[c]);
		if (!f[c])
			r = -ENOMEM;
	}
	for (size_t i = 0; r >= 0 && i < k->n_rules; i++) {
		size_t c = name_idx_find(cidx, k->n_chains, nftnl_rule_get_str(k->rules[i], NFTNL_RULE_CHAIN));

		if (c != SIZE_MAX)
			r = rule_canon(f[c], k->rules[i], &ar);
	}
	for (size_t c = 0; f && c < k->n_chains; c++)
		if (f[c] && fclose(f[c]) != 0 && r >= 0)
			r = -ENOMEM;
	strv_free(k_anon, k->n_sets);
	free(f);
	free(len);
	if (r < 0) {
		strv_free(canon, k->n_chains);
		return r;
	}
	*ret = canon;
	return 0;
}

static bool chain_def_equal(const struct zt_chain *c, struct nftnl_chain *kc)
{
	static const uint32_t hooks[] = {
		[ZT_HOOK_PREROUTING] = NF_INET_PRE_ROUTING,
		[ZT_HOOK_INPUT] = NF_INET_LOCAL_IN,
		[ZT_HOOK_FORWARD] = NF_INET_FORWARD,
		[ZT_HOOK_OUTPUT] = NF_INET_LOCAL_OUT,
	};
	bool base = nftnl_chain_is_set(kc, NFTNL_CHAIN_HOOKNUM);

	if (c->hook == ZT_HOOK_NONE || (size_t)c->hook >= ELEMENTSOF(hooks))
		return !base;
	return base && nftnl_chain_get_u32(kc, NFTNL_CHAIN_HOOKNUM) == hooks[c->hook] &&
	       nftnl_chain_get_s32(kc, NFTNL_CHAIN_PRIO) == c->prio &&
	       nftnl_chain_is_set(kc, NFTNL_CHAIN_TYPE) && streq(nftnl_chain_get_str(kc, NFTNL_CHAIN_TYPE), "filter") &&
	       nftnl_chain_get_u32(kc, NFTNL_CHAIN_POLICY) == NF_ACCEPT;
}

/*
 * An element as the bytes that make it what it is (flags, key, key end,
 * verdict, data, object reference, user data), each length-prefixed: two
 * elements are the same exactly when these are. No stdio per element.
 */
struct eblob {
	size_t idx;		/* in the list it was made from */
	size_t len;
	uint8_t b[];
};

static uint8_t *eblob_put(uint8_t *at, uint8_t tag, const void *p, uint32_t len)
{
	*at++ = tag;
	memcpy(at, &len, sizeof(len));
	at += sizeof(len);
	if (len)
		memcpy(at, p, len);
	return at + len;
}

static struct eblob *eblob_make(struct nftnl_set_elem *e, size_t idx)
{
	static const uint16_t attrs[] = { NFTNL_SET_ELEM_KEY, NFTNL_SET_ELEM_KEY_END, NFTNL_SET_ELEM_DATA,
					  NFTNL_SET_ELEM_USERDATA };
	const void *p[ELEMENTSOF(attrs)] = {};
	uint32_t l[ELEMENTSOF(attrs)] = {}, flags = 0, verdict = 0;
	const char *chain = NULL, *objref = NULL;
	size_t len = 2 * (1 + sizeof(uint32_t)) + 2 * sizeof(uint32_t);
	struct eblob *b;
	uint8_t *at;

	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
	for (size_t a = 0; a < ELEMENTSOF(attrs); a++)
		if (nftnl_set_elem_is_set(e, attrs[a])) {
			p[a] = nftnl_set_elem_get(e, attrs[a], &l[a]);
			if (!p[a])
				l[a] = 0;
			len += 1 + sizeof(uint32_t) + l[a];
		}
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT))
		verdict = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_OBJREF))
		objref = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_OBJREF);
	len += (chain ? strlen(chain) : 0) + (objref ? strlen(objref) : 0);
	b = malloc(sizeof(*b) + len);
	if (!b)
		return NULL;
	b->idx = idx;
	at = b->b;
	memcpy(at, &flags, sizeof(flags));
	at += sizeof(flags);
	memcpy(at, &verdict, sizeof(verdict));
	at += sizeof(verdict);
	for (size_t a = 0; a < ELEMENTSOF(attrs); a++)
		if (p[a] || l[a] || nftnl_set_elem_is_set(e, attrs[a]))
			at = eblob_put(at, (uint8_t)(a + 1), p[a], l[a]);
	at = eblob_put(at, 'c', chain, chain ? (uint32_t)strlen(chain) : 0);
	at = eblob_put(at, 'o', objref, objref ? (uint32_t)strlen(objref) : 0);
	b->len = (size_t)(at - b->b);
	return b;
}

static int eblob_cmp(const void *x, const void *y)
{
	const struct eblob *a = *(struct eblob *const *)x, *b = *(struct eblob *const *)y;
	int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static void eblobs_free(struct eblob **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Sorted blobs of a list of elements. */
static struct eblob **eblobs(struct nftnl_set_elem **el, size_t n)
{
	struct eblob **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		v[i] = eblob_make(el[i], i);
		if (!v[i]) {
			eblobs_free(v, n);
			return NULL;
		}
	}
	qsort(v, n, sizeof(*v), eblob_cmp);
	return v;
}

/* Elements: a multiset comparison; hash sets also get the delta. */
static int set_elems_diff(struct zt_kernel_diff *df, size_t i, const struct zt_set *s, struct zt_kset *ks)
{
	struct zt_set_enc *enc = &df->set_enc[i];
	struct eblob **want = eblobs(enc->elems, enc->n), **have = NULL;
	size_t kj = df->kset_of[i], x = 0, y = 0;
	bool same;
	int r = 0;

	if (!want)
		return -ENOMEM;
	have = eblobs(ks->el, ks->n);
	if (!have) {
		eblobs_free(want, enc->n);
		return -ENOMEM;
	}
	same = enc->n == ks->n;
	for (size_t e = 0; same && e < enc->n; e++)
		same = eblob_cmp(&want[e], &have[e]) == 0;
	if (same)
		goto out;
	df->changed++;
	if (s->interval) {
		/* Interval sets are replaced whole: the kernel refuses partial overlap edits. */
		df->pf.set_refill[i] = true;
		goto out;
	}
	/* Hash sets: remove what is not wanted, add what is missing; both sorted. */
	df->pf.set_add[i] = calloc(enc->n + 1, sizeof(size_t));
	df->kset_rm[kj] = calloc(ks->n + 1, sizeof(struct nftnl_set_elem *));
	if (!df->pf.set_add[i] || !df->kset_rm[kj]) {
		r = -ENOMEM;
		goto out;
	}
	while (x < enc->n || y < ks->n) {
		int c = x == enc->n ? 1 : y == ks->n ? -1 : eblob_cmp(&want[x], &have[y]);

		if (c < 0)
			df->pf.set_add[i][df->pf.n_set_add[i]++] = want[x++]->idx;
		else if (c > 0)
			df->kset_rm[kj][df->n_kset_rm[kj]++] = ks->el[have[y++]->idx];
		else
			x++, y++;
	}
out:
	eblobs_free(want, enc->n);
	eblobs_free(have, ks->n);
	return r;
}

/* Counters: by name. A changed comment keeps the counter and its values. */
static void diff_counters(const struct zt_plan *p, const struct zt_kstate *k, const struct name_idx *oidx,
			  struct zt_kernel_diff *df)
{
	bool grants = zt_plan_find_set(p, "jlive") != NULL;

	/* A grant's counter (g_<id>) is the daemon's, like jlive's elements that point at it. */
	for (size_t j = 0; j < k->n_objs; j++) {
		uint32_t id;

		df->kobj_del[j] = !grants || zt_grant_counter_id(nftnl_obj_get_str(k->objs[j], NFTNL_OBJ_NAME), &id) < 0;
	}
	for (size_t i = 0; i < p->n_counters; i++) {
		size_t j = name_idx_find(oidx, k->n_objs, p->counters[i].name);

		df->pf.counter_new[i] = j == SIZE_MAX;
		df->changed += j == SIZE_MAX;
		if (j != SIZE_MAX)
			df->kobj_del[j] = false;
	}
	for (size_t j = 0; j < k->n_objs; j++)
		df->changed += df->kobj_del[j];
}

/* Sets: definition, then elements. */
static int diff_sets(const struct zt_plan *p, struct zt_kstate *k, struct zt_kernel_diff *df)
{
	int r;

	for (size_t i = 0; i < p->n_sets; i++) {
		const struct zt_set *s = &p->sets[i];
		size_t ki = kset_find(k, s->name);
		char *want, *have;

		r = zt_set_encode(s, &df->set_enc[i]);
		if (r < 0)
			return r;
		df->kset_of[i] = ki;
		if (ki == SIZE_MAX) {
			df->pf.set_new[i] = true;
			df->changed++;
			continue;
		}
		want = set_def_str(df->set_enc[i].set);
		have = set_def_str(k->sets[ki].set);
		if (!want || !have) {
			free(want);
			free(have);
			return -ENOMEM;
		}
		df->pf.set_recreate[i] = !streq(want, have);
		free(want);
		free(have);
		if (df->pf.set_recreate[i]) {
			df->changed++;
			continue;
		}
		/* The daemon owns a dynamic set's contents: leave them. */
		if (s->dynamic)
			continue;
		r = set_elems_diff(df, i, s, &k->sets[ki]);
		if (r < 0)
			return r;
	}
	for (size_t j = 0; j < k->n_sets; j++) {
		const char *name = nftnl_set_get_str(k->sets[j].set, NFTNL_SET_NAME);

		if (nftnl_set_get_u32(k->sets[j].set, NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS)
			continue;
		df->kset_del[j] = zt_plan_find_set(p, name) == NULL;
		df->changed += df->kset_del[j];
	}
	return 0;
}

/* Chains: definition, then their rules as text. */
static int diff_chains(const struct zt_plan *p, const struct zt_kstate *k, const struct name_idx *cidx,
		       struct zt_kernel_diff *df)
{
	char **kcanon = NULL;
	int r = kernel_chain_canons(k, cidx, &kcanon);

	if (r < 0)
		return r;
	for (size_t j = 0; j < k->n_chains; j++)
		df->kchain_del[j] = true;
	for (size_t i = 0; r >= 0 && i < p->n_chains; i++) {
		const struct zt_chain *c = &p->chains[i];
		size_t kc = name_idx_find(cidx, k->n_chains, c->name);
		char *want = NULL;

		if (kc != SIZE_MAX)
			df->kchain_del[kc] = false;
		if (kc == SIZE_MAX) {
			df->pf.chain_new[i] = df->pf.chain_rules[i] = true;
			df->changed += 1 + c->n_rules;
			continue;
		}
		if (!chain_def_equal(c, k->chains[kc])) {
			df->pf.chain_recreate[i] = df->pf.chain_rules[i] = true;
			df->changed += 1 + c->n_rules;
			continue;
		}
		r = plan_chain_canon(p, c, &want);
		if (r < 0)
			break;
		if (!streq(want, kcanon[kc])) {
			df->pf.chain_rules[i] = true;
			df->changed += c->n_rules;
		}
		free(want);
		if (!df->pf.chain_rules[i])
			df->pf.chain_rules[i] = zt_chain_uses_remade_set(&df->pf, p, c);
	}
	for (size_t j = 0; r >= 0 && j < k->n_chains; j++)
		df->changed += df->kchain_del[j];
	strv_free(kcanon, k->n_chains);
	return r;
}

int zt_kernel_diff_compute(const struct zt_plan *p, struct zt_kstate *k, struct zt_kernel_diff *df)
{
	_cleanup_free_ struct name_idx *oidx = NULL, *cidx = NULL;
	int r;

#define ALLOC(f, n) ((df->f = calloc((n) + 1, sizeof(*df->f))) != NULL)
	if (zt_pflags_alloc(&df->pf, p) < 0 || !ALLOC(set_enc, p->n_sets) || !ALLOC(kchain_del, k->n_chains) ||
	    !ALLOC(kset_del, k->n_sets) || !ALLOC(kobj_del, k->n_objs) || !ALLOC(kset_rm, k->n_sets) ||
	    !ALLOC(n_kset_rm, k->n_sets) || !ALLOC(kset_of, p->n_sets))
		return -ENOMEM;
#undef ALLOC
	oidx = objs_idx(k);
	cidx = chains_idx(k);
	if (!oidx || !cidx)
		return -ENOMEM;
	diff_counters(p, k, oidx, df);
	r = diff_sets(p, k, df);
	if (r >= 0)
		r = diff_chains(p, k, cidx, df);
	return r;
}

static const char *kchain_name(const void *objs, size_t j)
{
	return nftnl_chain_get_str(((struct nftnl_chain *const *)objs)[j], NFTNL_CHAIN_NAME);
}

static const char *kset_name(const void *objs, size_t j)
{
	return nftnl_set_get_str(((const struct zt_kset *)objs)[j].set, NFTNL_SET_NAME);
}

static const char *kobj_name(const void *objs, size_t j)
{
	return nftnl_obj_get_str(((struct nftnl_obj *const *)objs)[j], NFTNL_OBJ_NAME);
}

/* One set of the difference with the table read back. */
static int diff_set_emit(struct zt_batch *b, const struct zt_plan *p, size_t i, const void *d)
{
	const struct zt_kernel_diff *df = d;
	const struct zt_set *s = &p->sets[i];
	int r = 0;

	if (df->pf.set_recreate[i]) {
		r = zt_emit_set_del(b, s->name);
		if (r >= 0)
			r = zt_emit_set(b, s);
	} else if (df->pf.set_new[i])
		r = zt_emit_set(b, s);
	else if (df->pf.set_refill[i]) {
		r = zt_emit_set_flush(b, s->name);
		if (r >= 0 && df->set_enc[i].n)
			r = zt_emit_elems(b, s, &df->set_enc[i], NULL, 0, NFT_MSG_NEWSETELEM);
	} else if (df->kset_of[i] != SIZE_MAX && (df->n_kset_rm[df->kset_of[i]] || df->pf.n_set_add[i])) {
		size_t kj = df->kset_of[i], nrm = df->n_kset_rm[kj];

		if (nrm)
			r = zt_emit_elems_del(b, s, df->kset_rm[kj], nrm);
		if (r >= 0 && df->pf.n_set_add[i])
			r = zt_emit_elems(b, s, &df->set_enc[i], df->pf.set_add[i], df->pf.n_set_add[i],
					  NFT_MSG_NEWSETELEM);
	}
	return r;
}

int zt_kernel_diff_emit(struct zt_batch *b, const struct zt_plan *p, const struct zt_kstate *k,
			const struct zt_kernel_diff *df)
{
	const struct zt_delta d = {
		.pf = &df->pf,
		.chains = { df->kchain_del, k->n_chains, kchain_name, k->chains },
		.sets = { df->kset_del, k->n_sets, kset_name, k->sets },
		.counters = { df->kobj_del, k->n_objs, kobj_name, k->objs },
		.set_emit = diff_set_emit, .df = df,
	};

	return zt_delta_emit(b, p, &d);
}
