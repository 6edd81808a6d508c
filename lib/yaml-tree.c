/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A strict YAML reader: libyaml's event stream becomes a small tree of
 * positioned nodes, and whatever a policy never needs is refused on the spot.
 */
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <yaml.h>
#include "yaml-tree.h"

/* How much of a user string a diagnostic quotes (bytes of input). */
#define SHOW_MAX 40
/* room for \xNN escapes, "..." and a tag's "!<" ">" */
#define SHOW_BUF (SHOW_MAX * 4 + 8)

/* An open collection, from its start event to its end event. */
struct frame {
	struct zt_node *node;
	size_t cap_items, cap_keys;
	bool want_value;	/* mapping: the next node is the value of keys[n - 1] */
	/*
	 * Mapping: a balanced tree (glibc's tsearch is red-black) of the
	 * keys seen so far. Unlike an unkeyed hash it cannot be driven
	 * quadratic by crafted keys.
	 */
	void *seen;
};

struct reader {
	const char *file;
	const char *buf;
	size_t len;
	struct zt_yaml_limits lim;
	struct zt_diags *d;
	struct frame *stack;
	size_t depth, cap_stack;
	size_t n_nodes;
	unsigned n_docs;
	struct zt_node *root;
};

static void node_freep(struct zt_node **p)
{
	zt_node_free(*p);
}

static unsigned mark_line(const yaml_mark_t *m)
{
	return m->line + 1 > UINT_MAX ? UINT_MAX : (unsigned)m->line + 1;
}

static unsigned mark_col(const yaml_mark_t *m)
{
	return m->column + 1 > UINT_MAX ? UINT_MAX : (unsigned)m->column + 1;
}

/*
 * Quote at most SHOW_MAX bytes of s for a message: keys and anchors come
 * from the user and may hold control characters or be very long.
 */
static const char *show(char out[static SHOW_BUF], const char *s, size_t len)
{
	size_t n = len, o = 0;

	if (n > SHOW_MAX) {
		n = SHOW_MAX;
		/* do not cut a UTF-8 sequence in half */
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c == 0x7f)
			o += sprintf(out + o, "\\x%02x", c);
		/* C1 controls (U+0080..U+009F) are as dangerous on a terminal: "\x9b" is CSI. */
		else if (c == 0xc2 && i + 1 < n && ((unsigned char)s[i + 1] & 0xe0) == 0x80)
			o += sprintf(out + o, "\\x%02x", (unsigned char)s[++i]);
		else
			out[o++] = c;
	}
	if (n < len)
		o += sprintf(out + o, "...");
	out[o] = '\0';
	return out;
}

/* Give back the tag as written: libyaml has resolved "!!str" and "!<x>". */
static const char *show_tag(char out[static SHOW_BUF], const char *tag)
{
	static const char core[] = "tag:yaml.org,2002:";
	char tmp[SHOW_BUF];

	if (tag[0] == '!')
		return show(out, tag, strlen(tag));
	if (!strncmp(tag, core, sizeof(core) - 1)) {
		tag += sizeof(core) - 1;
		snprintf(out, SHOW_BUF, "!!%s", show(tmp, tag, strlen(tag)));
	} else {
		snprintf(out, SHOW_BUF, "!<%s>", show(tmp, tag, strlen(tag)));
	}
	return out;
}

static int yaml_error(struct reader *rd, const yaml_parser_t *p)
{
	unsigned line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return -ENOMEM;
	case YAML_READER_ERROR:
		/*
		 * The reader reports a byte offset, not a mark; libyaml counts
		 * columns in characters, so do the same.
		 */
		line = col = 1;
		for (size_t i = 0; i < p->problem_offset && i < rd->len; i++) {
			unsigned char c = rd->buf[i];

			if (c == '\n' || (c == '\r' && (i + 1 >= rd->len ||
							rd->buf[i + 1] != '\n'))) {
				line++;
				col = 1;
			} else if ((c & 0xc0) != 0x80 && c != '\r') {
				col++;
			}
		}
		if (p->problem_value >= 0)
			return zt_diag_error(rd->d, rd->file, line, col,
					     "%s (#x%02X)", p->problem,
					     (unsigned)p->problem_value);
		return zt_diag_error(rd->d, rd->file, line, col, "%s",
				     p->problem);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		line = mark_line(&p->problem_mark);
		col = mark_col(&p->problem_mark);
		/* The context is worth its words only where it points elsewhere. */
		if (p->context && (p->context_mark.line != p->problem_mark.line ||
				   p->context_mark.column != p->problem_mark.column))
			return zt_diag_error(rd->d, rd->file, line, col,
					     "%s (%s at line %u column %u)",
					     p->problem, p->context,
					     mark_line(&p->context_mark),
					     mark_col(&p->context_mark));
		return zt_diag_error(rd->d, rd->file, line, col, "%s",
				     p->problem ? p->problem : "invalid YAML");
	default:
		return zt_diag_error(rd->d, rd->file, 0, 0, "%s",
				     p->problem ? p->problem : "invalid YAML");
	}
}

static int error_at(struct reader *rd, const yaml_event_t *ev, const char *fmt,
		    ...) _printf_(3, 4);
static int error_at(struct reader *rd, const yaml_event_t *ev, const char *fmt,
		    ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = zt_diag_addv(rd->d, ZT_SEV_ERROR, rd->file, mark_line(&ev->start_mark),
			 mark_col(&ev->start_mark), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Node properties. A node may carry both an anchor and a tag, and the
 * event has one mark for both: name the one the mark points at.
 */
static int check_properties(struct reader *rd, const yaml_event_t *ev,
			    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	char s[SHOW_BUF];
	size_t i = ev->start_mark.index;

	if (anchor && tag && i < rd->len && rd->buf[i] == '!')
		anchor = NULL;
	if (anchor)
		return error_at(rd, ev,
				"anchors and aliases are not allowed (found anchor '&%s')",
				show(s, (const char *)anchor,
				     strlen((const char *)anchor)));
	if (tag)
		return error_at(rd, ev, "tags are not allowed (found '%s')",
				show_tag(s, (const char *)tag));
	return 0;
}

static const char *kind_name(enum zt_node_type t)
{
	switch (t) {
	case ZT_NODE_SEQ:
		return "a sequence";
	case ZT_NODE_MAP:
		return "a mapping";
	default:
		return "a scalar";
	}
}

static int key_cmp(const void *a, const void *b)
{
	/* NUL bytes are refused, so strcmp is exact equality. */
	return strcmp(((const struct zt_node *)a)->value,
		      ((const struct zt_node *)b)->value);
}

static void noop_free(void *p _unused_)
{
}

static int new_node(struct reader *rd, const yaml_event_t *ev,
		    enum zt_node_type type, struct zt_node **ret)
{
	struct zt_node *n;

	if (rd->n_nodes >= rd->lim.max_nodes)
		return error_at(rd, ev, "more than %zu nodes in the document",
				rd->lim.max_nodes);
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->type = type;
	n->line = mark_line(&ev->start_mark);
	n->col = mark_col(&ev->start_mark);
	rd->n_nodes++;
	*ret = n;
	return 0;
}

/* Hang node into the open collection (or make it the root); takes it either way. */
static int attach(struct reader *rd, const yaml_event_t *ev, struct zt_node *node)
{
	_cleanup_(node_freep) struct zt_node *n = node;
	struct frame *f;
	struct zt_node *c;
	void *found;

	if (rd->depth == 0) {
		rd->root = TAKE_PTR(n);
		return 0;
	}
	f = &rd->stack[rd->depth - 1];
	c = f->node;

	if (c->type == ZT_NODE_SEQ) {
		if (c->n >= rd->lim.max_entries)
			return error_at(rd, ev,
					"more than %zu items in one sequence",
					rd->lim.max_entries);
		if (ZT_GROW(c->items, f->cap_items, c->n) < 0)
			return -ENOMEM;
		c->items[c->n++] = TAKE_PTR(n);
		return 0;
	}

	if (f->want_value) {
		c->items[c->n - 1] = TAKE_PTR(n);
		f->want_value = false;
		return 0;
	}

	/* on_collection_start() has refused collections as keys */
	if (c->n >= rd->lim.max_entries)
		return error_at(rd, ev, "more than %zu keys in one mapping",
				rd->lim.max_entries);
	found = tsearch(n, &f->seen, key_cmp);
	if (!found)
		return -ENOMEM;
	if (*(struct zt_node **)found != n) {
		const struct zt_node *first = *(struct zt_node **)found;
		char s[SHOW_BUF];

		return error_at(rd, ev, "duplicate key '%s' (first at line %u)",
				show(s, n->value, n->len), first->line);
	}
	if (ZT_GROW(c->keys, f->cap_keys, c->n) < 0 ||
	    ZT_GROW(c->items, f->cap_items, c->n) < 0) {
		tdelete(n, &f->seen, key_cmp);
		return -ENOMEM;
	}
	/* n counts the pair already; items[n - 1] stays NULL until its value. */
	c->keys[c->n] = TAKE_PTR(n);
	c->items[c->n++] = NULL;
	f->want_value = true;
	return 0;
}

static int on_scalar(struct reader *rd, const yaml_event_t *ev)
{
	_cleanup_(node_freep) struct zt_node *n = NULL;
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	int r;

	r = check_properties(rd, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (r < 0)
		return r;
	if (len > rd->lim.max_scalar)
		return error_at(rd, ev, "scalar longer than %zu bytes",
				rd->lim.max_scalar);
	/* A "\0" escape in a quoted scalar would truncate it silently. */
	if (memchr(v, '\0', len))
		return error_at(rd, ev, "scalar contains a NUL character");
	r = new_node(rd, ev, ZT_NODE_SCALAR, &n);
	if (r < 0)
		return r;
	n->value = zt_strndup(v, len);
	if (!n->value)
		return -ENOMEM;
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return attach(rd, ev, TAKE_PTR(n));
}

static int on_collection_start(struct reader *rd, const yaml_event_t *ev,
			       enum zt_node_type type)
{
	struct zt_node *n = NULL;
	const yaml_char_t *anchor, *tag;
	struct frame *top = rd->depth ? &rd->stack[rd->depth - 1] : NULL;
	int r;

	if (type == ZT_NODE_SEQ) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	} else {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	}
	r = check_properties(rd, ev, anchor, tag);
	if (r < 0)
		return r;
	/* Said before the depth limit: it is the real mistake in `[[[...]]]: x`. */
	if (top && top->node->type == ZT_NODE_MAP && !top->want_value)
		return error_at(rd, ev,
				"mapping keys must be plain names (found %s)",
				kind_name(type));
	/*
	 * Stop at the start event: libyaml has no nesting limit of its own,
	 * and deep flow nesting makes it quadratic.
	 */
	if (rd->depth >= rd->lim.max_depth)
		return error_at(rd, ev, "nesting deeper than %zu levels",
				rd->lim.max_depth);
	if (ZT_GROW(rd->stack, rd->cap_stack, rd->depth) < 0)
		return -ENOMEM;
	r = new_node(rd, ev, type, &n);
	if (r < 0)
		return r;
	r = attach(rd, ev, n);
	if (r < 0)
		return r;
	/* attach() put n into the tree, which owns it from here on. */
	rd->stack[rd->depth++] = (struct frame){ .node = n };
	return 0;
}

static void frame_close(struct frame *f)
{
	tdestroy(f->seen, noop_free);
	f->seen = NULL;
}

static int on_event(struct reader *rd, const yaml_event_t *ev)
{
	char s[SHOW_BUF];

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++rd->n_docs > 1)
			return error_at(rd, ev, "only one YAML document is allowed");
		if (ev->data.document_start.tag_directives.start !=
		    ev->data.document_start.tag_directives.end)
			return error_at(rd, ev,
					"tags are not allowed (found a %%TAG directive)");
		return 0;
	case YAML_ALIAS_EVENT:
		return error_at(rd, ev,
				"anchors and aliases are not allowed (found alias '*%s')",
				show(s, (const char *)ev->data.alias.anchor,
				     strlen((const char *)ev->data.alias.anchor)));
	case YAML_SCALAR_EVENT:
		return on_scalar(rd, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_collection_start(rd, ev, ZT_NODE_SEQ);
	case YAML_MAPPING_START_EVENT:
		return on_collection_start(rd, ev, ZT_NODE_MAP);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (rd->depth > 0)
			frame_close(&rd->stack[--rd->depth]);
		return 0;
	default:
		return 0;
	}
}

int zt_yaml_parse(const char *file, const char *buf, size_t len,
		  const struct zt_yaml_limits *lim, struct zt_node **ret,
		  struct zt_diags *d)
{
	struct reader rd = {
		.file = file,
		.buf = buf,
		.len = len,
		.lim = lim ? *lim : ZT_YAML_LIMITS_DEFAULT,
		.d = d,
	};
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);

	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = yaml_error(&rd, &parser);
			break;
		}
		r = on_event(&rd, &ev);
		done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (r < 0)
			break;
	}
	yaml_parser_delete(&parser);

	while (rd.depth > 0)
		frame_close(&rd.stack[--rd.depth]);
	free(rd.stack);
	if (r < 0) {
		zt_node_free(rd.root);
		return r;
	}

	/* A bare `---` yields one empty plain scalar: no content at all. */
	if (rd.root && rd.root->type == ZT_NODE_SCALAR && rd.root->plain &&
	    rd.root->len == 0)
		rd.root = zt_node_free(rd.root);
	*ret = rd.root;
	return 0;
}

struct zt_node *zt_node_free(struct zt_node *n)
{
	if (!n)
		return NULL;
	/* Recursion is bounded by the reader's depth limit. */
	for (size_t i = 0; i < n->n; i++) {
		zt_node_free(n->items[i]);
		if (n->keys)
			zt_node_free(n->keys[i]);
	}
	free(n->items);
	free(n->keys);
	free(n->value);
	free(n);
	return NULL;
}

const struct zt_node *zt_node_get(const struct zt_node *map, const char *key)
{
	if (!map || map->type != ZT_NODE_MAP || !key)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (streq(map->keys[i]->value, key))
			return map->items[i];
	return NULL;
}
