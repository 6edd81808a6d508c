/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for the strict YAML reader: trees, positions, rejections, limits. */
#include <check.h>
#include <stdio.h>
#include <time.h>
#include "yaml-tree.h"

/*
 * Trees are compared as a compact text form with every position in it:
 * plain scalar L:C:v, quoted L:C:'v', sequence L:C[a,b], mapping L:C{k=v,k=v}.
 */
static void render(FILE *f, const struct zt_node *n)
{
	if (!n) {
		fputs("null", f);
		return;
	}
	fprintf(f, "%u:%u", n->line, n->col);
	switch (n->type) {
	case ZT_NODE_SCALAR:
		ck_assert_uint_eq(strlen(n->value), n->len);
		fprintf(f, n->plain ? ":%s" : ":'%s'", n->value);
		break;
	case ZT_NODE_SEQ:
		fputc('[', f);
		for (size_t i = 0; i < n->n; i++) {
			fputs(i ? "," : "", f);
			render(f, n->items[i]);
		}
		fputc(']', f);
		break;
	case ZT_NODE_MAP:
		fputc('{', f);
		for (size_t i = 0; i < n->n; i++) {
			fputs(i ? "," : "", f);
			ck_assert_int_eq(n->keys[i]->type, ZT_NODE_SCALAR);
			render(f, n->keys[i]);
			fputc('=', f);
			render(f, n->items[i]);
		}
		fputc('}', f);
		break;
	}
}

static char *render_str(const struct zt_node *n)
{
	char *s = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&s, &sz);

	ck_assert_ptr_nonnull(f);
	render(f, n);
	fclose(f);
	return s;
}

/* Parse from an exact-size heap copy, so that ASan sees any read past len. */
static int parse(const char *text, size_t len, const struct zt_yaml_limits *lim,
		 struct zt_node **ret, struct zt_diags *d)
{
	_cleanup_free_ char *buf = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, text, len);
	return zt_yaml_parse("t.yaml", buf, len, lim, ret, d);
}

static const struct {
	const char *text;
	const char *tree;
} valid[] = {
	{ "a: 1\n", "1:1{1:1:a=1:4:1}" },
	/* block style, nested, flow inside block */
	{ "hub:\n  default: drop\n  flows:\n    - { from: web, to: app }\n    - [a, 'b']\n",
	  "1:1{1:1:hub=2:3{2:3:default=2:12:drop,3:3:flows=4:5[4:7{4:9:from=4:15:web,4:20:to=4:24:app},5:7[5:8:a,5:11:'b']]}}" },
	/* flow style */
	{ "{a: [1, 2], b: {c: d}}", "1:1{1:2:a=1:5[1:6:1,1:9:2],1:13:b=1:16{1:17:c=1:20:d}}" },
	{ "[[a], [b, [c]], []]", "1:1[1:2[1:3:a],1:7[1:8:b,1:11[1:12:c]],1:17[]]" },
	{ "a: []\nb: {}\n", "1:1{1:1:a=1:4[],2:1:b=2:4{}}" },
	/* a block sequence at the key's indentation */
	{ "c:\n- x\n- 'y'\n", "1:1{1:1:c=2:1[2:3:x,3:3:'y']}" },
	{ "- a\n- b: c\n  d: e\n", "1:1[1:3:a,2:3{2:3:b=2:6:c,3:3:d=3:6:e}]" },
	/* quoted, block and plain scalars */
	{ "a: 'x'\nb: \"y\"\nc: z\nd: |\n  lit\ne: >-\n  fold\n  ed\n",
	  "1:1{1:1:a=1:4:'x',2:1:b=2:4:'y',3:1:c=3:4:z,4:1:d=4:4:'lit\n',6:1:e=6:4:'fold ed'}" },
	{ "'a': \"1\"\n", "1:1{1:1:'a'=1:6:'1'}" },
	/* empty values sit right after their indicator */
	{ "a:\nb: ~\nc:\n- \n", "1:1{1:1:a=1:3:,2:1:b=2:4:~,3:1:c=4:1[4:2:]}" },
	{ "a: ''\n", "1:1{1:1:a=1:4:''}" },
	/* CRLF line endings count as one line break */
	{ "a: 1\r\nb:\r\n  - x\r\n  - 'y'\r\n", "1:1{1:1:a=1:4:1,2:1:b=3:3[3:5:x,4:5:'y']}" },
	{ "a: |\r\n  x\r\n  y\r\nb: 2\r\n", "1:1{1:1:a=1:4:'x\ny\n',4:1:b=4:4:2}" },
	/* no content */
	{ "", "null" },
	{ "\n\n", "null" },
	{ "# only\n  # comments\n", "null" },
	{ "---\n", "null" },
	{ "--- # nothing\n...\n", "null" },
	/* single documents with markers and directives */
	{ "--- a\n", "1:5:a" },
	{ "--- ''\n", "1:5:''" },
	{ "---\na: 1\n...\n", "2:1{2:1:a=2:4:1}" },
	{ "%YAML 1.1\n---\na: 1\n", "3:1{3:1:a=3:4:1}" },
	/* the same key in different mappings is fine */
	{ "x: {a: 1}\ny: {a: 2}\n", "1:1{1:1:x=1:4{1:5:a=1:8:1},2:1:y=2:4{2:5:a=2:8:2}}" },
	/* columns count characters, not bytes */
	{ "n\xc3\xa9: \"\xc3\xa9\"\nb: 1\n", "1:1{1:1:n\xc3\xa9=1:5:'\xc3\xa9',2:1:b=2:4:1}" },
	/* a byte order mark is not a column */
	{ "\xef\xbb\xbf" "a: 1\n", "1:1{1:1:a=1:4:1}" },
	/* a quoted key that names a NUL-free escape */
	{ "\"a\\tb\": 1\n", "1:1{1:1:'a\tb'=1:9:1}" },
};

START_TEST(test_valid)
{
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	_cleanup_free_ char *got = NULL;
	int r;

	r = parse(valid[_i].text, strlen(valid[_i].text), NULL, &root, &d);
	if (r < 0)
		zt_diags_print(&d, stderr);
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(d.n, 0);
	got = render_str(root);
	ck_assert_str_eq(got, valid[_i].tree);
	zt_node_free(root);
	zt_diags_clear(&d);
}
END_TEST

static const struct {
	const char *text;
	size_t len;		/* 0: strlen(text) */
	struct zt_yaml_limits lim;	/* all zero: the defaults */
	unsigned line, col;
	const char *msg;	/* the whole message */
} invalid[] = {
	/* libyaml's own errors, with its problem mark */
	{ "a: 1\nb: @x\n", 0, {}, 2, 4, "found character that cannot start any token" },
	{ "a: b: c\n", 0, {}, 1, 5, "mapping values are not allowed in this context" },
	{ "a: [1, 2\nb: 3\n", 0, {}, 2, 2,
	  "did not find expected ',' or ']' (while parsing a flow sequence at line 1 column 4)" },
	{ "a: 'x\n", 0, {}, 2, 1,
	  "found unexpected end of stream (while scanning a quoted scalar at line 1 column 4)" },
	{ "a: 1\n...\nb: 2\n", 0, {}, 3, 1, "did not find expected <document start>" },
	/* the reader's: invalid UTF-8 and control characters */
	{ "a: \xff\n", 0, {}, 1, 4, "invalid leading UTF-8 octet (#xFF)" },
	{ "a: 1\nb: 2\nc: \xc3\xa9\xff\n", 0, {}, 3, 5, "invalid leading UTF-8 octet (#xFF)" },
	{ "a: 1\r\nb: \xc3\r\n", 0, {}, 2, 5, "invalid trailing UTF-8 octet (#x0D)" },
	{ "a: x\x01y\n", 0, {}, 1, 5, "control characters are not allowed (#x01)" },
	{ "a: x\0y\n", 7, {}, 1, 5, "control characters are not allowed (#x00)" },
	/* NUL through an escape */
	{ "a: \"x\\0y\"\n", 0, {}, 1, 4, "scalar contains a NUL character" },
	{ "\"\\0\": 1\n", 0, {}, 1, 1, "scalar contains a NUL character" },
	/* anchors and aliases */
	{ "a: &x 1\n", 0, {}, 1, 4, "anchors and aliases are not allowed (found anchor '&x')" },
	{ "a: 1\nb: *x\n", 0, {}, 2, 4, "anchors and aliases are not allowed (found alias '*x')" },
	{ "a: &x\n  b: 1\n", 0, {}, 1, 4, "anchors and aliases are not allowed (found anchor '&x')" },
	{ "- &s [1]\n", 0, {}, 1, 3, "anchors and aliases are not allowed (found anchor '&s')" },
	{ "a: &x !!str 1\n", 0, {}, 1, 4, "anchors and aliases are not allowed (found anchor '&x')" },
	/* the billion-laughs shape stops at its first anchor */
	{ "a: &a [x, x, x, x, x, x, x, x, x]\n"
	  "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	  "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
	  0, {}, 1, 4, "anchors and aliases are not allowed (found anchor '&a')" },
	/* tags, on scalars and collections, in every spelling */
	{ "a: !!str 1\n", 0, {}, 1, 4, "tags are not allowed (found '!!str')" },
	{ "a: !!str &x 1\n", 0, {}, 1, 4, "tags are not allowed (found '!!str')" },
	{ "a: !foo\n  b: 1\n", 0, {}, 1, 4, "tags are not allowed (found '!foo')" },
	{ "a: !!seq [1]\n", 0, {}, 1, 4, "tags are not allowed (found '!!seq')" },
	{ "a: !<tag:x> 1\n", 0, {}, 1, 4, "tags are not allowed (found '!<tag:x>')" },
	{ "a: ! 1\n", 0, {}, 1, 4, "tags are not allowed (found '!')" },
	{ "%TAG !e! tag:example.com,2000:\n---\na: 1\n", 0, {}, 1, 1,
	  "tags are not allowed (found a %TAG directive)" },
	/* one document only */
	{ "a: 1\n---\nb: 2\n", 0, {}, 2, 1, "only one YAML document is allowed" },
	{ "--- a\n--- b\n", 0, {}, 2, 1, "only one YAML document is allowed" },
	{ "a: 1\n...\n---\n", 0, {}, 3, 1, "only one YAML document is allowed" },
	/* duplicate keys, compared as strings whatever the quoting */
	{ "a: 1\na: 2\n", 0, {}, 2, 1, "duplicate key 'a' (first at line 1)" },
	{ "a: 1\n'a': 2\n", 0, {}, 2, 1, "duplicate key 'a' (first at line 1)" },
	{ "x:\n  y: 1\n  z: 2\n  y: 3\n", 0, {}, 4, 3, "duplicate key 'y' (first at line 2)" },
	{ "{a: 1, b: 2, a: 3}", 0, {}, 1, 14, "duplicate key 'a' (first at line 1)" },
	{ "- {a: 1}\n- a: 1\n  a: 2\n", 0, {}, 3, 3, "duplicate key 'a' (first at line 2)" },
	{ "a:\nb:\na:\n", 0, {}, 3, 1, "duplicate key 'a' (first at line 1)" },
	{ "\"\": 1\n\"\": 2\n", 0, {}, 2, 1, "duplicate key '' (first at line 1)" },
	/* control characters in a quoted key are escaped in the message */
	{ "\"a\\tb\": 1\n\"a\\tb\": 2\n", 0, {}, 2, 1, "duplicate key 'a\\x09b' (first at line 1)" },
	/* ... and so are C1 ones (U+009B is a terminal's CSI), which escapes can make */
	{ "\"a\\x9b[2Jb\": 1\n\"a\\x9b[2Jb\": 2\n", 0, {}, 2, 1, "duplicate key 'a\\x9b[2Jb' (first at line 1)" },
	/* keys must be scalars */
	{ "[a]: 1\n", 0, {}, 1, 1, "mapping keys must be plain names (found a sequence)" },
	{ "? [a]\n: 1\n", 0, {}, 1, 3, "mapping keys must be plain names (found a sequence)" },
	{ "{a: 1}: 2\n", 0, {}, 1, 1, "mapping keys must be plain names (found a mapping)" },
	{ "x: {[a]: 1}\n", 0, {}, 1, 5, "mapping keys must be plain names (found a sequence)" },
	/* nesting: the limit passes, one more level fails at its start */
	{ "[[[[a]]]]", 0, { 3, 4096, 100, 100 }, 1, 4, "nesting deeper than 3 levels" },
	{ "a:\n  b:\n    c:\n      d: 1\n", 0, { 3, 4096, 100, 100 }, 4, 7,
	  "nesting deeper than 3 levels" },
	{ "a:\n  - - - x\n", 0, { 3, 4096, 100, 100 }, 2, 7, "nesting deeper than 3 levels" },
	{ "[]", 0, { 0, 4096, 100, 100 }, 1, 1, "nesting deeper than 0 levels" },
	/* entries per collection */
	{ "[1, 2, 3, 4]", 0, { 32, 4096, 3, 100 }, 1, 11, "more than 3 items in one sequence" },
	{ "{a: 1, b: 2, c: 3, d: 4}", 0, { 32, 4096, 3, 100 }, 1, 20, "more than 3 keys in one mapping" },
	{ "- [a, b, c]\n- [d, e, f, g]\n", 0, { 32, 4096, 3, 100 }, 2, 13,
	  "more than 3 items in one sequence" },
	/* scalar size, values and keys */
	{ "a: abcdef\n", 0, { 32, 5, 100, 100 }, 1, 4, "scalar longer than 5 bytes" },
	{ "abcdef: a\n", 0, { 32, 5, 100, 100 }, 1, 1, "scalar longer than 5 bytes" },
	{ "a: \"ab\\u00e9cd\"\n", 0, { 32, 5, 100, 100 }, 1, 4, "scalar longer than 5 bytes" },
	/* nodes per document, keys counted */
	{ "a: [1, 2, 3]", 0, { 32, 4096, 100, 5 }, 1, 11, "more than 5 nodes in the document" },
	{ "{a: 1, b: 2, c: 3}", 0, { 32, 4096, 100, 5 }, 1, 14, "more than 5 nodes in the document" },
};

START_TEST(test_invalid)
{
	struct zt_diags d = {};
	struct zt_node *sentinel = (struct zt_node *)&d, *root = sentinel;
	const struct zt_yaml_limits *lim = NULL;
	size_t len = invalid[_i].len ? invalid[_i].len : strlen(invalid[_i].text);
	int r;

	if (invalid[_i].lim.max_scalar)
		lim = &invalid[_i].lim;
	r = parse(invalid[_i].text, len, lim, &root, &d);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_eq(root, sentinel);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(d.n_errors, 1);
	ck_assert_str_eq(d.v[0].file, "t.yaml");
	ck_assert_str_eq(d.v[0].msg, invalid[_i].msg);
	ck_assert_uint_eq(d.v[0].line, invalid[_i].line);
	ck_assert_uint_eq(d.v[0].col, invalid[_i].col);
	zt_diags_clear(&d);
}
END_TEST

/* Exactly at each limit is accepted. */
static const struct {
	const char *text;
	struct zt_yaml_limits lim;
	const char *tree;
} at_limit[] = {
	{ "[[[a]]]", { 3, 4096, 100, 100 }, "1:1[1:2[1:3[1:4:a]]]" },
	{ "a:\n  b:\n    c: 1\n", { 3, 4096, 100, 100 }, "1:1{1:1:a=2:3{2:3:b=3:5{3:5:c=3:8:1}}}" },
	{ "x", { 0, 4096, 100, 100 }, "1:1:x" },
	{ "[1, 2, 3]", { 32, 4096, 3, 100 }, "1:1[1:2:1,1:5:2,1:8:3]" },
	{ "{a: 1, b: 2, c: 3}", { 32, 4096, 3, 100 }, "1:1{1:2:a=1:5:1,1:8:b=1:11:2,1:14:c=1:17:3}" },
	{ "abcde: abcde", { 32, 5, 100, 100 }, "1:1{1:1:abcde=1:8:abcde}" },
	{ "a: [1, 2]", { 32, 4096, 100, 5 }, "1:1{1:1:a=1:4[1:5:1,1:8:2]}" },
};

START_TEST(test_at_limit)
{
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	_cleanup_free_ char *got = NULL;

	ck_assert_int_eq(parse(at_limit[_i].text, strlen(at_limit[_i].text),
			       &at_limit[_i].lim, &root, &d), 0);
	got = render_str(root);
	ck_assert_str_eq(got, at_limit[_i].tree);
	zt_node_free(root);
	zt_diags_clear(&d);
}
END_TEST

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * times + tl + 1);

	ck_assert_ptr_nonnull(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * ul, unit, ul);
	memcpy(s + ul * times, tail, tl + 1);
	return s;
}

/*
 * libyaml has no nesting limit and slows down quadratically with deep flow
 * nesting; the reader must stop at the 33rd level right away. The time
 * bound is loose on purpose (sanitizer builds); it takes a few ms.
 */
static const struct {
	const char *unit;
	unsigned col;
} deep[] = {
	{ "[", 33 },
	{ "{a: ", 129 },
	{ "- ", 65 },
};

START_TEST(test_deep)
{
	_cleanup_free_ char *text = repeat(deep[_i].unit, 10000, "x");
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	double t;
	int r;

	t = now_ms();
	r = parse(text, strlen(text), NULL, &root, &d);
	t = now_ms() - t;
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_str_eq(d.v[0].msg, "nesting deeper than 32 levels");
	ck_assert_uint_eq(d.v[0].line, 1);
	ck_assert_uint_eq(d.v[0].col, deep[_i].col);
	ck_assert_msg(t < 1000, "10,000 levels took %.1f ms", t);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_default_depth)
{
	_cleanup_free_ char *open32 = repeat("[", 32, ""), *close32 = repeat("]", 32, "");
	_cleanup_free_ char *ok = NULL, *bad = NULL;
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	const struct zt_node *n;
	unsigned depth = 0;

	ck_assert_int_ge(asprintf(&ok, "%s%s", open32, close32), 0);
	ck_assert_int_ge(asprintf(&bad, "[%s%s]", open32, close32), 0);
	ck_assert_int_eq(parse(ok, strlen(ok), NULL, &root, &d), 0);
	for (n = root; n && n->type == ZT_NODE_SEQ; n = n->n ? n->items[0] : NULL)
		depth++;
	ck_assert_uint_eq(depth, 32);
	root = zt_node_free(root);
	ck_assert_ptr_null(root);

	ck_assert_int_eq(parse(bad, strlen(bad), NULL, &root, &d), -EINVAL);
	ck_assert_uint_eq(d.v[0].col, 33);
	zt_diags_clear(&d);
}
END_TEST

static char *many_keys(size_t n, const char *last)
{
	char *s = NULL;
	size_t sz = 0;
	FILE *f = open_memstream(&s, &sz);

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "key%zu: %zu\n", i, i);
	fputs(last, f);
	fclose(f);
	return s;
}

START_TEST(test_many_keys)
{
	_cleanup_free_ char *text = many_keys(50000, "");
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	const struct zt_node *v;
	double t;

	t = now_ms();
	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), 0);
	t = now_ms() - t;
	ck_assert_msg(t < 5000, "50,000 keys took %.1f ms", t);
	ck_assert_int_eq(root->type, ZT_NODE_MAP);
	ck_assert_uint_eq(root->n, 50000);
	v = zt_node_get(root, "key49999");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v->value, "49999");
	ck_assert_uint_eq(v->line, 50000);
	ck_assert_uint_eq(v->col, 11);
	zt_node_free(root);
}
END_TEST

START_TEST(test_many_keys_dup_last)
{
	_cleanup_free_ char *text = many_keys(50000, "key0: x\n");
	struct zt_diags d = {};
	struct zt_node *root = NULL;

	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), -EINVAL);
	ck_assert_str_eq(d.v[0].msg, "duplicate key 'key0' (first at line 1)");
	ck_assert_uint_eq(d.v[0].line, 50001);
	zt_diags_clear(&d);
}
END_TEST

START_TEST(test_too_many_keys)
{
	_cleanup_free_ char *text = many_keys(100001, "");
	struct zt_diags d = {};
	struct zt_node *root = NULL;

	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), -EINVAL);
	ck_assert_str_eq(d.v[0].msg, "more than 100000 keys in one mapping");
	ck_assert_uint_eq(d.v[0].line, 100001);
	ck_assert_uint_eq(d.v[0].col, 1);
	zt_diags_clear(&d);
}
END_TEST

/* A long duplicate key is quoted in part only. */
START_TEST(test_long_key_shown_short)
{
	_cleanup_free_ char *key = repeat("x", 4000, "");
	_cleanup_free_ char *text = NULL;
	struct zt_diags d = {};
	struct zt_node *root = NULL;

	/* explicit keys: libyaml limits implicit ones to 1024 characters */
	ck_assert_int_ge(asprintf(&text, "? %s\n: 1\n? %s\n: 2\n", key, key), 0);
	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), -EINVAL);
	ck_assert_str_eq(d.v[0].msg, "duplicate key 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (first at line 1)");
	zt_diags_clear(&d);
}
END_TEST

/* The buffer is not NUL-terminated: only len bytes count. */
START_TEST(test_len_bounds_input)
{
	const char text[] = "a: 1\nb: 2\n";
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	_cleanup_free_ char *got = NULL;

	ck_assert_int_eq(parse(text, 4, NULL, &root, &d), 0);
	got = render_str(root);
	ck_assert_str_eq(got, "1:1{1:1:a=1:4:1}");
	zt_node_free(root);
}
END_TEST

/* The diagnostic prints the way users see it. */
START_TEST(test_format)
{
	const char text[] = "version: 1\nhub:\n  default: drop\n  lg: `x\n";
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	_cleanup_free_ char *s = NULL;

	ck_assert_int_eq(zt_yaml_parse("ztseg.yaml", text, strlen(text), NULL,
				       &root, &d), -EINVAL);
	s = zt_diag_format(&d.v[0]);
	ck_assert_str_eq(s, "ztseg.yaml:4:7: found character that cannot start any token");
	zt_diags_clear(&d);
}
END_TEST

static const char spec_hub[] =
	"# /etc/ztseg/ztseg.yaml — the hub, maintained by the security team\n"
	"version: 1\n"
	"hub:\n"
	"  default: drop                 # drop | reject\n"
	"  scope: members\n"
	"  log: drops\n"
	"  rpf: strict\n"
	"  protect-host: true\n"
	"  encrypted-interfaces: [\"wg*\"]\n"
	"  boundaries:\n"
	"    onprem:   { addresses: [203.0.113.0/24], interfaces: [\"wg-onprem\"] }\n"
	"    internet: { addresses: [0.0.0.0/0, \"::/0\"] }\n"
	"  delegate:\n"
	"    web: { interfaces: [\"vweb*\"], addresses: [198.51.100.0/26] }\n"
	"    db:  { interfaces: [\"vdb*\"],  addresses: [198.51.100.64/26] }\n"
	"  flows:\n"
	"    - { name: public-web, from: internet, to: web.front, ports: [tcp/80, tcp/443] }\n"
	"    - { from: web, to: app, ports: [tcp/8080] }\n"
	"    - { from: onprem, to: db.primary, ports: [tcp/5432], encrypted: true }\n"
	"    - { from: [web, app, db], to: host, ports: [udp/53, tcp/53] }\n"
	"    - { from: host, to: internet, ports: [udp/53, tcp/443, udp/123] }\n"
	"    - { from: onprem, to: host, ports: [tcp/22] }\n"
	"segments:\n"
	"  app:\n"
	"    interfaces: [\"vapp*\"]\n";

START_TEST(test_spec_example)
{
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	const struct zt_node *hub, *n;

	ck_assert_int_eq(parse(spec_hub, strlen(spec_hub), NULL, &root, &d), 0);
	ck_assert_int_eq(root->type, ZT_NODE_MAP);
	ck_assert_uint_eq(root->n, 3);
	hub = zt_node_get(root, "hub");
	ck_assert_ptr_nonnull(hub);
	ck_assert_uint_eq(hub->line, 4);
	ck_assert_uint_eq(hub->col, 3);

	n = zt_node_get(hub, "flows");
	ck_assert_int_eq(n->type, ZT_NODE_SEQ);
	ck_assert_uint_eq(n->n, 6);
	n = zt_node_get(n->items[2], "encrypted");
	ck_assert_str_eq(n->value, "true");
	ck_assert(n->plain);
	ck_assert_uint_eq(n->line, 19);
	ck_assert_uint_eq(n->col, 69);

	n = zt_node_get(zt_node_get(zt_node_get(hub, "boundaries"), "internet"),
			"addresses");
	ck_assert_uint_eq(n->n, 2);
	ck_assert(n->items[0]->plain);
	ck_assert_str_eq(n->items[1]->value, "::/0");
	ck_assert(!n->items[1]->plain);
	ck_assert_uint_eq(n->items[1]->line, 12);
	ck_assert_uint_eq(n->items[1]->col, 40);

	n = zt_node_get(root, "version");
	ck_assert_str_eq(n->value, "1");
	ck_assert_uint_eq(n->line, 2);
	ck_assert_uint_eq(n->col, 10);
	ck_assert_uint_eq(root->keys[0]->line, 2);
	ck_assert_uint_eq(root->keys[0]->col, 1);
	zt_node_free(root);
}
END_TEST

START_TEST(test_node_get)
{
	const char text[] = "a: 1\nb: [x]\nc:\n";
	struct zt_diags d = {};
	struct zt_node *root = NULL;
	const struct zt_node *n;

	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), 0);
	ck_assert_str_eq(zt_node_get(root, "a")->value, "1");
	ck_assert_int_eq(zt_node_get(root, "b")->type, ZT_NODE_SEQ);
	n = zt_node_get(root, "c");
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_eq(n->len, 0);
	ck_assert(n->plain);
	ck_assert_ptr_null(zt_node_get(root, "d"));
	ck_assert_ptr_null(zt_node_get(root, ""));
	ck_assert_ptr_null(zt_node_get(root, NULL));
	ck_assert_ptr_null(zt_node_get(zt_node_get(root, "b"), "x"));
	ck_assert_ptr_null(zt_node_get(zt_node_get(root, "a"), "1"));
	ck_assert_ptr_null(zt_node_get(NULL, "a"));
	ck_assert_ptr_null(zt_node_free(root));
	ck_assert_ptr_null(zt_node_free(NULL));
}
END_TEST

/* Errors found late free the whole tree built so far (LeakSanitizer checks). */
START_TEST(test_error_after_content)
{
	_cleanup_free_ char *body = many_keys(1000, "");
	_cleanup_free_ char *text = NULL;
	struct zt_diags d = {};
	struct zt_node *root = NULL;

	ck_assert_int_ge(asprintf(&text, "%sx:\n  y: [a, {b: c, d: [e, {f: &g h}]}]\n", body), 0);
	ck_assert_int_eq(parse(text, strlen(text), NULL, &root, &d), -EINVAL);
	ck_assert_uint_eq(d.v[0].line, 1002);
	ck_assert_uint_eq(d.v[0].col, 28);
	zt_diags_clear(&d);

	/* an error while a key waits for its value */
	ck_assert_int_eq(parse("a: {b: [c", 9, NULL, &root, &d), -EINVAL);
	ck_assert_uint_eq(d.n, 1);
	zt_diags_clear(&d);
}
END_TEST

static Suite *yaml_tree_suite(void)
{
	Suite *s = suite_create("yaml-tree");
	TCase *tc;

	tc = tcase_create("valid");
	tcase_add_loop_test(tc, test_valid, 0, ELEMENTSOF(valid));
	tcase_add_loop_test(tc, test_at_limit, 0, ELEMENTSOF(at_limit));
	tcase_add_test(tc, test_len_bounds_input);
	tcase_add_test(tc, test_spec_example);
	tcase_add_test(tc, test_node_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("invalid");
	tcase_add_loop_test(tc, test_invalid, 0, ELEMENTSOF(invalid));
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_long_key_shown_short);
	tcase_add_test(tc, test_error_after_content);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_set_tags(tc, "slow");	/* left out of the valgrind run: ASan covers them */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_deep, 0, ELEMENTSOF(deep));
	tcase_add_test(tc, test_default_depth);
	tcase_add_test(tc, test_many_keys);
	tcase_add_test(tc, test_many_keys_dup_last);
	tcase_add_test(tc, test_too_many_keys);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(yaml_tree_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
