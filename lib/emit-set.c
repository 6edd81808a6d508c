/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emit: a set's definition and its elements as nft encodes them (keys,
 * intervals, concatenations, data, the typeof userdata).
 */
#include "emit-internal.h"

static const struct type_info types[] = {
	[ZT_TYPE_IFNAME] = { NFT_TYPE_IFNAME, IFNAMSIZ, BO_HOST },
	[ZT_TYPE_FIB_IFNAME] = { NFT_TYPE_STRING, IFNAMSIZ, BO_HOST },
	[ZT_TYPE_IPV4] = { NFT_TYPE_IPADDR, 4, BO_BIG },
	[ZT_TYPE_IPV6] = { NFT_TYPE_IP6ADDR, 16, BO_BIG },
	[ZT_TYPE_MARK] = { NFT_TYPE_MARK, 4, BO_HOST },
	[ZT_TYPE_INET_PROTO] = { NFT_TYPE_INET_PROTOCOL, 1, BO_BIG },
	[ZT_TYPE_INET_SERVICE] = { NFT_TYPE_INET_SERVICE, 2, BO_BIG },
	[ZT_TYPE_ICMP_TYPE] = { NFT_TYPE_ICMP_TYPE, 1, BO_BIG },
	[ZT_TYPE_ICMPV6_TYPE] = { NFT_TYPE_ICMP6_TYPE, 1, BO_BIG },
	[ZT_TYPE_CGROUP] = { NFT_TYPE_CGROUPV2, 8, BO_HOST },
};

const struct type_info *type_get(enum zt_type t)
{
	if ((size_t)t >= ELEMENTSOF(types) || types[t].len == 0)
		return NULL;
	return &types[t];
}

/* ---- set keys and elements ----------------------------------------------- */

int field_encode(enum zt_type t, const struct zt_value *v, bool big_endian_mark, struct field *f)
{
	const struct type_info *ti = type_get(t);
	uint32_t lo, hi;

	if (!ti)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->len = ti->len;
	switch (t) {
	case ZT_TYPE_IFNAME:
	case ZT_TYPE_FIB_IFNAME: {
		size_t n = strnlen(v->ifpat.name, IFNAMSIZ);

		if (n == 0 || n >= IFNAMSIZ)
			return -EINVAL;
		memcpy(f->lo, v->ifpat.name, n);
		memcpy(f->hi, v->ifpat.name, n);
		/* "vweb*": every name starting with "vweb", padded with 0xff. */
		if (v->ifpat.wildcard)
			memset(f->hi + n, 0xff, IFNAMSIZ - n);
		return 0;
	}
	case ZT_TYPE_IPV4:
	case ZT_TYPE_IPV6: {
		uint8_t family = t == ZT_TYPE_IPV4 ? AF_INET : AF_INET6;

		if (zt_value_family(v) != family || (!v->is_range && v->cidr.plen > ZT_MAX_PLEN(family)))
			return -EINVAL;
		zt_value_addr_bounds(v, f->lo, f->hi);
		if (v->is_range && memcmp(f->lo, f->hi, f->len) >= 0)
			return -EINVAL;
		return 0;
	}
	case ZT_TYPE_MARK:
		/* Host order, but interval concatenations are compared big endian. */
		if (big_endian_mark) {
			uint32_t be = htonl(v->u32);

			memcpy(f->lo, &be, 4);
		} else
			memcpy(f->lo, &v->u32, 4);
		memcpy(f->hi, f->lo, 4);
		return 0;
	case ZT_TYPE_INET_PROTO:
	case ZT_TYPE_ICMP_TYPE:
	case ZT_TYPE_ICMPV6_TYPE:
		if (v->u32 > 255)
			return -EINVAL;
		f->lo[0] = f->hi[0] = (uint8_t)v->u32;
		return 0;
	case ZT_TYPE_CGROUP:
		memcpy(f->lo, &v->u64, 8);
		memcpy(f->hi, f->lo, 8);
		return 0;
	case ZT_TYPE_INET_SERVICE:
		lo = v->u32;
		/* A single port may leave u32_hi at 0 (render.c does the same). */
		hi = v->u32_hi > lo ? v->u32_hi : lo;
		if (hi > 65535)
			return -EINVAL;
		f->lo[0] = (uint8_t)(lo >> 8);
		f->lo[1] = (uint8_t)lo;
		f->hi[0] = (uint8_t)(hi >> 8);
		f->hi[1] = (uint8_t)hi;
		return 0;
	default:
		return -EINVAL;
	}
}

bool field_is_range(const struct field *f)
{
	return memcmp(f->lo, f->hi, f->len) != 0;
}

/* Big-endian increment; false when it wraps (the range ends at the top). */
static bool bytes_inc(uint8_t *p, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++p[i] != 0)
			return true;
	return false;
}

static bool bytes_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static int enc_push(struct zt_set_enc *e, struct nftnl_set_elem *el, size_t plan_elem)
{
	if (ZT_GROW(e->elems, e->cap, e->n + 1) < 0) {
		nftnl_set_elem_free(el);
		return -ENOMEM;
	}
	/* Both arrays share cap: grow the second to the same size. */
	{
		size_t *p = realloc(e->plan_elem, e->cap * sizeof(*p));

		if (!p) {
			nftnl_set_elem_free(el);
			return -ENOMEM;
		}
		e->plan_elem = p;
	}
	e->elems[e->n] = el;
	e->plan_elem[e->n++] = plan_elem;
	return 0;
}

void zt_set_enc_clear(struct zt_set_enc *e)
{
	if (e->set)
		nftnl_set_free(e->set);
	for (size_t i = 0; i < e->n; i++)
		nftnl_set_elem_free(e->elems[i]);
	free(e->elems);
	free(e->plan_elem);
	*e = (struct zt_set_enc){};
}

static int elem_data_set(struct nftnl_set_elem *el, enum zt_type data, const struct zt_value *v)
{
	switch (data) {
	case ZT_TYPE_NONE:
		return 0;
	case ZT_TYPE_MARK:
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_DATA, &v->u32, sizeof(v->u32));
		return 0;
	case ZT_TYPE_COUNTER:
		if (!name_valid(v->counter))
			return -EINVAL;
		nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_OBJREF, v->counter);
		return 0;
	case ZT_TYPE_VERDICT:
		switch (v->verdict.code) {
		case ZT_V_ACCEPT:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NF_ACCEPT);
			return 0;
		case ZT_V_DROP:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, NF_DROP);
			return 0;
		case ZT_V_RETURN:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_RETURN);
			return 0;
		case ZT_V_CONTINUE:
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_CONTINUE);
			return 0;
		case ZT_V_JUMP:
		case ZT_V_GOTO:
			if (!name_valid(v->verdict.chain))
				return -EINVAL;
			nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT,
					       (uint32_t)(v->verdict.code == ZT_V_JUMP ? NFT_JUMP : NFT_GOTO));
			nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, v->verdict.chain);
			return 0;
		default:
			return -EINVAL;
		}
	default:
		return -EINVAL;
	}
}

int enc_elem_new(struct zt_set_enc *e, const uint8_t *key, uint32_t keylen, const uint8_t *key_end,
		 uint32_t flags, enum zt_type data, const struct zt_value *dv, size_t plan_elem)
{
	struct nftnl_set_elem *el = nftnl_set_elem_alloc();
	int r;

	if (!el)
		return -ENOMEM;
	if (flags)
		nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, keylen);
	if (key_end)
		nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key_end, keylen);
	if (dv) {
		r = elem_data_set(el, data, dv);
		if (r < 0) {
			nftnl_set_elem_free(el);
			return r;
		}
	}
	return enc_push(e, el, plan_elem);
}

static int elem_mark_open(struct nftnl_set_elem *el)
{
	_cleanup_(udata_freep) struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(USERDATA_MAX);

	if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN))
		return -ENOMEM;
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	return 0;
}

/* A single-field range for the interval encoding. */
struct range {
	uint8_t lo[16], end[16];	/* end: first value after the range */
	bool open;			/* the range reaches the top: no end element */
	size_t idx;			/* plan element */
};

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	int c = memcmp(x->lo, y->lo, sizeof(x->lo));

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Interval sets of one field, as nft 1.0.6 encodes them: sorted; an
 * interval-end element at 0 unless the first range starts there (lead:
 * these are the set's first ranges); each range as its start (carrying
 * the data) and, unless it reaches the top of the key space, an
 * interval-end element just after it. Anonymous sets are merged first
 * (nft merges overlapping and adjacent ranges there).
 */
int interval_encode(struct zt_set_enc *e, enum zt_type t, const struct zt_value *vals, size_t stride,
		    size_t n, enum zt_type data, const struct zt_value *dvals, bool merge, bool lead)
{
	_cleanup_free_ struct range *rg = NULL;
	uint32_t len = type_get(t)->len;
	size_t m = 0;
	int r;

	if (n == 0)
		return 0;
	rg = calloc(n, sizeof(*rg));
	if (!rg)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct zt_value *v = (const struct zt_value *)((const char *)vals + i * stride);
		struct field f;

		r = field_encode(t, v, false, &f);
		if (r < 0)
			return r;
		memcpy(rg[i].lo, f.lo, len);
		memcpy(rg[i].end, f.hi, len);
		rg[i].open = !bytes_inc(rg[i].end, len);
		rg[i].idx = i;
	}
	qsort(rg, n, sizeof(*rg), range_cmp);
	if (merge) {
		for (size_t i = 1; i < n; i++) {
			struct range *cur = &rg[m];

			if (!cur->open && memcmp(rg[i].lo, cur->end, len) > 0) {
				rg[++m] = rg[i];
				continue;
			}
			if (rg[i].open || (!cur->open && memcmp(rg[i].end, cur->end, len) > 0)) {
				memcpy(cur->end, rg[i].end, len);
				cur->open = rg[i].open;
			}
		}
		n = m + 1;
	}
	if (lead && !bytes_zero(rg[0].lo, len)) {
		uint8_t zero[16] = {};

		r = enc_elem_new(e, zero, len, NULL, NFT_SET_ELEM_INTERVAL_END, data, NULL, SIZE_MAX);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		const struct zt_value *dv = NULL;

		if (data != ZT_TYPE_NONE)
			dv = (const struct zt_value *)((const char *)dvals + rg[i].idx * stride);
		r = enc_elem_new(e, rg[i].lo, len, NULL, 0, data, dv, rg[i].idx);
		if (r < 0)
			return r;
		/* nft marks a range that reaches the top (it has no end element). */
		if (rg[i].open) {
			r = elem_mark_open(e->elems[e->n - 1]);
			if (r < 0)
				return r;
		} else {
			r = enc_elem_new(e, rg[i].end, len, NULL, NFT_SET_ELEM_INTERVAL_END, data, NULL, rg[i].idx);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Concatenated (or single-field hash) keys: fields padded to 32 bits. Elements [from, to) of s. */
static int concat_encode(struct zt_set_enc *e, const struct zt_set *s, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++) {
		const struct zt_elem *el = zt_set_elem(s, i);
		uint8_t key[KEY_MAX] = {}, key_end[KEY_MAX] = {};
		uint32_t off = 0;
		bool range = false;
		int r;

		for (size_t k = 0; k < s->n_key; k++) {
			struct field f;

			r = field_encode(s->key[k], &el->key[k], s->interval, &f);
			if (r < 0)
				return r;
			range |= field_is_range(&f);
			memcpy(key + off, f.lo, f.len);
			memcpy(key_end + off, f.hi, f.len);
			off += s->n_key > 1 ? round4(f.len) : f.len;
		}
		/* A hash set holds single values only. */
		if (range && !s->interval)
			return -EINVAL;
		r = enc_elem_new(e, key, off, s->interval ? key_end : NULL, 0, s->data, &el->data, i);
		if (r < 0)
			return r;
	}
	return 0;
}

bool udata_typeof_key(struct nftnl_udata_buf *ud, uint8_t type, const struct key_info *ki)
{
	struct nftnl_udata *nest, *data;

	nest = nftnl_udata_nest_start(ud, type);
	if (!nest)
		return false;
	switch (ki->kind) {
	case K_META:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_META))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key))
			return false;
		break;
	case K_PAYLOAD:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_PAYLOAD))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->desc) || !nftnl_udata_put_u32(ud, 1, ki->field))
			return false;
		break;
	case K_CT:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_CT))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key))
			return false;
		break;
	case K_FIB:
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, NFT_EXPR_FIB))
			return false;
		data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
		if (!data || !nftnl_udata_put_u32(ud, 0, ki->key) || !nftnl_udata_put_u32(ud, 1, ki->fib_flags))
			return false;
		break;
	default:
		return false;
	}
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
	return true;
}

/* A typeof entry with only the expression kind: concatenations, verdicts. */
static bool udata_typeof_bare(struct nftnl_udata_buf *ud, uint8_t type, uint32_t expr)
{
	struct nftnl_udata *nest, *data;

	nest = nftnl_udata_nest_start(ud, type);
	if (!nest || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_TYPEOF_EXPR, expr))
		return false;
	data = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_TYPEOF_DATA);
	if (!data)
		return false;
	nftnl_udata_nest_end(ud, data);
	nftnl_udata_nest_end(ud, nest);
	return true;
}

/*
 * set NAME { type K [. K…] [: D]; [flags interval;] [comment "…";] }
 * map route_owner { typeof fib saddr oifname : verdict; flags interval; }
 */
static int named_set_def(const struct zt_set *s, struct nftnl_set *ns)
{
	_cleanup_(udata_freep) struct nftnl_udata_buf *ud_holder = NULL;
	uint8_t field_len[NFT_REG32_COUNT] = {};
	uint32_t flags = 0, key_type = 0, key_len = 0;
	bool use_typeof = false;
	struct nftnl_udata_buf *ud;

	if (!name_valid(s->name) || s->n_key == 0 || s->n_key > ZT_MAX_CONCAT)
		return -EINVAL;
	for (size_t i = 0; i < s->n_key; i++) {
		const struct type_info *ti = type_get(s->key[i]);

		if (!ti)
			return -EINVAL;
		if (s->key[i] == ZT_TYPE_FIB_IFNAME)
			use_typeof = true;
		key_type = (key_type << NFT_TYPE_BITS) | ti->dtype;
		key_len += s->n_key > 1 ? round4(ti->len) : ti->len;
		field_len[i] = (uint8_t)ti->len;
	}
	if (use_typeof && s->n_key > 1)
		return -EINVAL;

	nftnl_set_set_str(ns, NFTNL_SET_TABLE, ZT_TABLE_NAME);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, s->name);
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (s->interval)
		flags |= NFT_SET_INTERVAL;
	if (s->timeout)
		flags |= NFT_SET_TIMEOUT;
	if (s->eval)
		flags |= NFT_SET_EVAL;
	if (s->size)
		nftnl_set_set_u32(ns, NFTNL_SET_DESC_SIZE, s->size);
	if (s->timeout_sec)
		nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, (uint64_t)s->timeout_sec * 1000);
	if (s->n_key > 1)
		flags |= NFT_SET_CONCAT;
	switch (s->data) {
	case ZT_TYPE_NONE:
		break;
	case ZT_TYPE_COUNTER:
		flags |= NFT_SET_OBJECT;
		break;
	case ZT_TYPE_MARK:
	case ZT_TYPE_VERDICT:
		flags |= NFT_SET_MAP;
		break;
	default:
		return -EINVAL;
	}
	/* nft marks a concatenation only where it is an interval (pipapo) set. */
	if (!s->interval)
		flags &= ~NFT_SET_CONCAT;
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, key_len);
	if (s->data == ZT_TYPE_VERDICT) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 0);
	} else if (s->data == ZT_TYPE_MARK) {
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_TYPE, NFT_TYPE_MARK);
		nftnl_set_set_u32(ns, NFTNL_SET_DATA_LEN, 4);
	} else if (s->data == ZT_TYPE_COUNTER)
		nftnl_set_set_u32(ns, NFTNL_SET_OBJ_TYPE, NFT_OBJECT_COUNTER);
	if (s->interval && s->n_key > 1)
		nftnl_set_set_data(ns, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));

	ud = ud_holder = nftnl_udata_buf_alloc(USERDATA_MAX);
	if (!ud)
		return -ENOMEM;
	/* Byte orders: nft's, with 0 ("invalid") for concatenations and verdicts. */
	if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER,
				 s->n_key > 1 ? BO_INVALID : (uint32_t)type_get(s->key[0])->byteorder))
		return -ENOMEM;
	if ((s->data == ZT_TYPE_MARK || s->data == ZT_TYPE_VERDICT) &&
	    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, s->data == ZT_TYPE_MARK ? BO_HOST : BO_INVALID))
		return -ENOMEM;
	if (use_typeof) {
		if (!udata_typeof_key(ud, NFTNL_UDATA_SET_KEY_TYPEOF, key_get(ZT_KEY_FIB_SADDR_OIFNAME)))
			return -ENOMEM;
		if (s->data == ZT_TYPE_VERDICT && !udata_typeof_bare(ud, NFTNL_UDATA_SET_DATA_TYPEOF, NFT_EXPR_VERDICT))
			return -ENOMEM;
		if (s->data == ZT_TYPE_MARK && !udata_typeof_key(ud, NFTNL_UDATA_SET_DATA_TYPEOF, key_get(ZT_KEY_CT_MARK)))
			return -ENOMEM;
	} else if (s->n_key > 1 && !udata_typeof_bare(ud, NFTNL_UDATA_SET_KEY_TYPEOF, NFT_EXPR_CONCAT))
		return -ENOMEM;
	if (s->data != ZT_TYPE_NONE && !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0))
		return -ENOMEM;
	if (s->comment[0]) {
		char c[ZT_NFT_STR_MAX + 1];

		if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_SET_COMMENT,
					  zt_nft_str(c, s->comment, sizeof(s->comment), ZT_NFT_COMMENT)))
			return -ENOMEM;
	}
	nftnl_set_set_data(ns, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
	return 0;
}

/* Elements [from, from + n) of s into e, numbered as in s. */
static int elems_encode(const struct zt_set *s, size_t from, size_t n, struct zt_set_enc *e)
{
	size_t n0 = e->n;
	int r;

	if (!(s->interval && s->n_key == 1))
		return concat_encode(e, s, from, from + n);
	/* s is sorted by key, so a slice's ranges all follow the slice before: only the first leads. */
	r = interval_encode(e, s->key[0], zt_set_elem(s, from)->key, zt_set_esize(s), n, s->data,
			    &zt_set_elem(s, from)->data, false, from == 0);
	for (size_t j = n0; r >= 0 && j < e->n; j++)
		if (e->plan_elem[j] != SIZE_MAX)
			e->plan_elem[j] += from;
	return r;
}

int zt_set_encode(const struct zt_set *s, struct zt_set_enc *ret)
{
	struct zt_set_enc e = {};
	int r;

	e.set = nftnl_set_alloc();
	if (!e.set)
		return -ENOMEM;
	r = named_set_def(s, e.set);
	if (r < 0)
		goto fail;
	if (s->n_elems && !s->elems) {
		r = -EINVAL;
		goto fail;
	}
	if (!s->dynamic && s->n_elems) {
		r = elems_encode(s, 0, s->n_elems, &e);
		if (r < 0)
			goto fail;
	}
	*ret = e;
	return 0;
fail:
	zt_set_enc_clear(&e);
	return r;
}

int zt_set_encode_slice(const struct zt_set *s, size_t from, size_t n, struct zt_set_enc *ret)
{
	struct zt_set_enc e = {};
	int r;

	*ret = e;
	if (!s->elems || from > s->n_elems || n > s->n_elems - from)
		return -EINVAL;
	if (!n)
		return 0;
	r = elems_encode(s, from, n, &e);
	if (r < 0) {
		zt_set_enc_clear(&e);
		return r;
	}
	*ret = e;
	return 0;
}

int zt_emit_plan_elems(struct zt_batch *b, const struct zt_plan *plan, const char *name, struct zt_elem *elems,
		       size_t n, uint64_t timeout_ms, uint16_t type)
{
	const struct zt_set *def = zt_plan_find_set(plan, name);
	struct zt_set s;
	struct zt_set_enc enc = {};
	int r;

	if (!def)
		return -ENOENT;
	if (!n)
		return 0;
	s = zt_set_with(def, elems, n);
	r = zt_set_encode(&s, &enc);
	for (size_t i = 0; r >= 0 && type == NFT_MSG_NEWSETELEM && s.timeout && i < enc.n; i++)
		nftnl_set_elem_set_u64(enc.elems[i], NFTNL_SET_ELEM_TIMEOUT, timeout_ms ? timeout_ms : 1);
	if (r >= 0)
		r = zt_emit_elems(b, &s, &enc, NULL, 0, type);
	zt_set_enc_clear(&enc);
	return r;
}
