/*
 * xfer_wire.c - transfer protocol records and envelope codec (see
 * xfer_wire.h). Pure functions; every length read from the wire is bounded
 * before it is used.
 *
 * Envelope encoding (all inside the compressed stream, so repeated
 * addresses cost little):
 *
 *   id[16] flags:u8 priority:zigzag size:varint sha256[32]
 *     (sha256[16], its first half, in a session that agreed on 0x10)
 *   [by:varint by_mode:u8]   if flags & 1
 *   [aby:varint]             if flags & 2
 *   [envid:str]              if flags & 4
 *                            flags & 8: CONPERM (no field)
 *   [orig_size:varint]       if flags & 16: the stream is packed
 *   ret:u8 from:str nrcpt:varint
 *   rcpt* = addr:str notify:u8 rflags:u8 [orcpt:str] [arcpt:str]
 *     rflags: 1 ORCPT follows, 2 ARCPT follows, 4 CONNEG, 8 DRUCOF,
 *             16 LOSSY
 *   str = len:varint bytes (no NUL inside)
 *
 * A decoder rejects any flag bit it does not know: a peer that sets one
 * means something this side would silently drop.
 */
#include "gateway/air/xfer_wire.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void
xfer_env_init(struct xfer_env *e)
{
	memset(e, 0, sizeof(*e));
	e->by_s = -1;
	e->aby_s = -1;
}

void
xfer_env_fini(struct xfer_env *e)
{
	free(e->from);
	free(e->envid);
	for (size_t i = 0; i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].orcpt);
		free(e->rcpt[i].arcpt);
	}
	free(e->rcpt);
	xfer_env_init(e);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct xfer_rcpt *
xfer_env_add_rcpt(struct xfer_env *e, const char *addr, uint8_t notify,
    const char *orcpt, const char *arcpt)
{
	e->rcpt = xrealloc(e->rcpt, (e->nrcpt + 1) * sizeof(*e->rcpt));
	struct xfer_rcpt *r = &e->rcpt[e->nrcpt++];
	r->addr = xstrdup(addr);
	r->notify = notify;
	r->orcpt = dup_or_null(orcpt);
	r->arcpt = dup_or_null(arcpt);
	r->cflags = 0;
	return r;
}

void
xfer_env_copy(struct xfer_env *dst, const struct xfer_env *src)
{
	*dst = *src;
	dst->from = dup_or_null(src->from);
	dst->envid = dup_or_null(src->envid);
	dst->rcpt = NULL;
	dst->nrcpt = 0;
	for (size_t i = 0; i < src->nrcpt; i++)
		xfer_env_add_rcpt(dst, src->rcpt[i].addr,
		    src->rcpt[i].notify, src->rcpt[i].orcpt,
		    src->rcpt[i].arcpt)->cflags = src->rcpt[i].cflags;
}

void
xfer_put_varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_append_byte(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	buf_append_byte(b, (uint8_t)v);
}

int
xfer_get_varint(const uint8_t **p, size_t *n, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned i = 0; i < 10; i++) {
		if (*n == 0)
			return GW_EPROTO;
		uint8_t c = **p;
		(*p)++;
		(*n)--;
		if (i == 9 && c > 1)
			return GW_EPROTO;
		r |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return GW_EPROTO;
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	xfer_put_varint(b, n);
	buf_append(b, s, n);
}

void
xfer_env_encode(const struct xfer_env *e, struct buf *out)
{
	xfer_env_encode_d(e, out, XFER_SHA_BYTES);
}

void
xfer_env_encode_d(const struct xfer_env *e, struct buf *out, size_t sha_len)
{
	GW_REQUIRE(sha_len == XFER_SHA_SHORT || sha_len == XFER_SHA_BYTES);
	uint8_t flags = 0;
	if (e->by_s >= 0)
		flags |= 1;
	if (e->aby_s >= 0)
		flags |= 2;
	if (e->envid)
		flags |= 4;
	if (e->mflags & XFER_ENV_CONPERM)
		flags |= 8;
	if (e->mflags & XFER_ENV_PACKED)
		flags |= 16;
	buf_append(out, e->id, XFER_ID_BYTES);
	buf_append_byte(out, flags);
	int64_t pr = e->priority;
	xfer_put_varint(out, ((uint64_t)pr << 1) ^ (uint64_t)(pr >> 63));
	xfer_put_varint(out, e->size);
	buf_append(out, e->sha256, sha_len);
	if (flags & 1) {
		xfer_put_varint(out, (uint64_t)e->by_s);
		buf_append_byte(out, e->by_mode);
	}
	if (flags & 2)
		xfer_put_varint(out, (uint64_t)e->aby_s);
	if (flags & 4)
		put_str(out, e->envid);
	if (flags & 16)
		xfer_put_varint(out, e->orig_size);
	buf_append_byte(out, e->ret);
	put_str(out, e->from ? e->from : "");
	xfer_put_varint(out, e->nrcpt);
	for (size_t i = 0; i < e->nrcpt; i++) {
		const struct xfer_rcpt *r = &e->rcpt[i];
		uint8_t rf = (uint8_t)((r->orcpt ? 1 : 0) | (r->arcpt ? 2 : 0) |
		    ((r->cflags & 7u) << 2));
		put_str(out, r->addr);
		buf_append_byte(out, r->notify);
		buf_append_byte(out, rf);
		if (r->orcpt)
			put_str(out, r->orcpt);
		if (r->arcpt)
			put_str(out, r->arcpt);
	}
}

struct rd {
	const uint8_t *p;
	size_t n;
	int bad;
};

static uint64_t
rd_varint(struct rd *r)
{
	uint64_t v = 0;
	if (r->bad || xfer_get_varint(&r->p, &r->n, &v) < 0)
		r->bad = 1;
	return v;
}

static uint8_t
rd_u8(struct rd *r)
{
	if (r->bad || r->n < 1) {
		r->bad = 1;
		return 0;
	}
	r->n--;
	return *r->p++;
}

static void
rd_bytes(struct rd *r, uint8_t *out, size_t n)
{
	if (r->bad || r->n < n) {
		r->bad = 1;
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->n -= n;
}

/* A string of at most max bytes, printable ASCII or UTF-8 (no controls,
 * no NUL). */
static char *
rd_str(struct rd *r, size_t max, bool allow_empty)
{
	uint64_t n = rd_varint(r);
	if (r->bad || n > max || n > r->n || (!allow_empty && n == 0)) {
		r->bad = 1;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (r->p[i] < 0x20 || r->p[i] == 0x7f) {
			r->bad = 1;
			return NULL;
		}
	}
	char *s = xstrndup((const char *)r->p, (size_t)n);
	r->p += n;
	r->n -= n;
	return s;
}

int
xfer_env_decode(const uint8_t *p, size_t n, struct xfer_env *e)
{
	return xfer_env_decode_d(p, n, e, XFER_SHA_BYTES);
}

int
xfer_env_decode_d(const uint8_t *p, size_t n, struct xfer_env *e,
    size_t sha_len)
{
	struct rd r = { p, n, 0 };

	GW_REQUIRE(sha_len == XFER_SHA_SHORT || sha_len == XFER_SHA_BYTES);
	xfer_env_init(e);
	rd_bytes(&r, e->id, XFER_ID_BYTES);
	uint8_t flags = rd_u8(&r);
	uint64_t zz = rd_varint(&r);
	int64_t pr = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
	if (flags & ~0x1fu || pr < -9 || pr > 9)
		r.bad = 1;
	if (flags & 8)
		e->mflags |= XFER_ENV_CONPERM;
	if (flags & 16)
		e->mflags |= XFER_ENV_PACKED;
	e->priority = (int8_t)pr;
	e->size = rd_varint(&r);
	rd_bytes(&r, e->sha256, sha_len);
	if (flags & 1) {
		uint64_t by = rd_varint(&r);
		e->by_s = by > INT32_MAX ? (r.bad = 1, 0) : (int64_t)by;
		e->by_mode = rd_u8(&r);
		if (e->by_mode & ~7u)
			r.bad = 1;
	}
	if (flags & 2) {
		uint64_t aby = rd_varint(&r);
		e->aby_s = aby > INT32_MAX ? (r.bad = 1, 0) : (int64_t)aby;
	}
	if (flags & 4)
		e->envid = rd_str(&r, XFER_ENVID_MAX, false);
	if (flags & 16) {
		e->orig_size = rd_varint(&r);
		if (!xfer_pack_orig_ok(e->size, e->orig_size))
			r.bad = 1;
	}
	e->ret = rd_u8(&r);
	if (e->ret > XFER_RET_HDRS)
		r.bad = 1;
	e->from = rd_str(&r, XFER_ADDR_MAX, true);
	uint64_t nr = rd_varint(&r);
	if (nr == 0 || nr > XFER_RCPT_MAX)
		r.bad = 1;
	for (uint64_t i = 0; !r.bad && i < nr; i++) {
		char *addr = rd_str(&r, XFER_ADDR_MAX, false);
		uint8_t notify = rd_u8(&r), rf = rd_u8(&r);
		char *orcpt = NULL, *arcpt = NULL;
		if (rf & ~0x1fu || notify & ~0x0fu ||
		    ((notify & XFER_NOTIFY_NEVER) &&
		    notify != XFER_NOTIFY_NEVER))
			r.bad = 1;
		if (rf & 1)
			orcpt = rd_str(&r, XFER_XTEXT_MAX, false);
		if (rf & 2)
			arcpt = rd_str(&r, XFER_XTEXT_MAX, false);
		if (!r.bad)
			xfer_env_add_rcpt(e, addr, notify, orcpt,
			    arcpt)->cflags = (uint8_t)(rf >> 2);
		free(addr);
		free(orcpt);
		free(arcpt);
	}
	if (r.bad || r.n != 0) {
		xfer_env_fini(e);
		return GW_EPROTO;
	}
	return 0;
}

void
xfer_rec_begin(struct buf *b, uint8_t type, size_t len)
{
	buf_append_byte(b, type);
	xfer_put_varint(b, len);
}

int
xfer_rec_parse(const uint8_t *p, size_t n, uint8_t *type,
    const uint8_t **body, size_t *len, size_t *used)
{
	if (n < 2)
		return 0;
	*type = p[0];
	if (*type < XFER_R_MSG || *type > XFER_R_LAST)
		return GW_EPROTO;
	const uint8_t *q = p + 1;
	size_t m = n - 1;
	uint64_t l;
	/* An incomplete varint at the end of the buffer is "need more"
	 * unless it is already too long to be valid. */
	size_t k = 0;
	while (k < m && k < 10 && (q[k] & 0x80))
		k++;
	if (k == m)
		return k >= 10 ? GW_EPROTO : 0;
	if (xfer_get_varint(&q, &m, &l) < 0 || l > XFER_RECORD_MAX)
		return GW_EPROTO;
	if (m < l)
		return 0;
	*body = q;
	*len = (size_t)l;
	*used = (size_t)(q - p) + (size_t)l;
	return 1;
}
