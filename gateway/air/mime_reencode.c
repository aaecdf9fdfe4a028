/*
 * mime_reencode.c - byte-exact re-encoding check and the packed form.
 *
 * Contract: pure. The check is "decode, encode canonically, compare": a
 * body is only packed when the comparison is exact, so mime_unpack can
 * never produce different octets from what the sender submitted.
 * GMime is used only to locate leaf bodies (offsets into the caller's
 * buffer); each located body is verified against the buffer before use.
 */
#include "gateway/air/mime_reencode.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static void
b64_encode(const struct mime_reencode_params *p, const uint8_t *d,
    size_t n, struct buf *out)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		char q[4] = { b64[(v >> 18) & 63], b64[(v >> 12) & 63],
			i + 1 < n ? b64[(v >> 6) & 63] : '=',
			i + 2 < n ? b64[v & 63] : '=' };
		if (p->line_len > 0 && col == p->line_len) {
			buf_append(out, "\r\n", 2);
			col = 0;
		}
		buf_append(out, q, 4);
		col += 4;
	}
}

static int
b64_decode(const uint8_t *e, size_t n, struct buf *out,
    struct mime_reencode_params *p)
{
	uint32_t acc = 0;
	int bits = 0, pad = 0;
	size_t first_line = 0;
	bool in_first = true;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = e[i];
		if (c == '\r' && i + 1 < n && e[i + 1] == '\n') {
			in_first = false;
			i++;
			continue;
		}
		if (in_first)
			first_line++;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64_val(c);
		if (v < 0 || pad > 0)
			return GW_ESYNTAX;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_byte(out, (uint8_t)(acc >> bits));
		}
	}
	if (pad > 2)
		return GW_ESYNTAX;
	/* a single line means no wrapping */
	if (in_first)
		p->line_len = 0;
	else if (first_line > 0 && first_line <= 252 && first_line % 4 == 0)
		p->line_len = (uint8_t)first_line;
	else
		return GW_ERANGE;
	return 0;
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool
is_esc(const struct mime_reencode_params *p, uint8_t c)
{
	return (p->esc[c >> 3] >> (c & 7)) & 1;
}

static void
qp_encode(const struct mime_reencode_params *p, const uint8_t *d, size_t n,
    struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0, bi = 0;
	size_t lim = p->line_len;
	for (size_t i = 0; i < n; i++) {
		/* explicit soft breaks (line_len 0) before octet i */
		while (lim == 0 && bi < p->nbreaks && p->breaks[bi] == i) {
			buf_append(out, "=\r\n", 3);
			bi++;
		}
		uint8_t c = d[i];
		if (c == '\r' && i + 1 < n && d[i + 1] == '\n') {
			buf_append(out, "\r\n", 2);
			col = 0;
			i++;
			continue;
		}
		bool soft_next = lim == 0 && bi < p->nbreaks &&
		    p->breaks[bi] == i + 1;
		bool at_end = !soft_next && (i + 1 == n ||
		    (d[i + 1] == '\r' && i + 2 < n && d[i + 2] == '\n'));
		bool ws_lit = (c == ' ' || c == '\t') && p->ws_literal;
		char tok[3];
		size_t tl;
		if (!is_esc(p, c) && ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && (!at_end || ws_lit)))) {
			tok[0] = (char)c;
			tl = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			tl = 3;
		}
		/* room for this token, plus "=" unless the line ends here */
		if (lim > 0 && col > 0 && col + tl + (at_end ? 0 : 1) > lim) {
			buf_append(out, "=\r\n", 3);
			col = 0;
		}
		buf_append(out, tok, tl);
		col += tl;
	}
	while (lim == 0 && bi < p->nbreaks && p->breaks[bi] == n) {
		buf_append(out, "=\r\n", 3);
		bi++;
	}
}

static int
qp_decode(const uint8_t *e, size_t n, struct buf *out,
    struct mime_reencode_params *p)
{
	size_t col = 0, maxcol = 0, cap = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = e[i];
		if (c == '\r' && i + 1 < n && e[i + 1] == '\n') {
			buf_append(out, "\r\n", 2);
			if (col > maxcol)
				maxcol = col;
			col = 0;
			i++;
			continue;
		}
		if (c == '=') {
			if (i + 2 >= n)
				return GW_ESYNTAX;
			if (e[i + 1] == '\r' && e[i + 2] == '\n') {
				col++; /* the "=" counts */
				if (col > maxcol)
					maxcol = col;
				col = 0;
				i += 2;
				if (p->nbreaks == cap) {
					cap = cap ? cap * 2 : 16;
					p->breaks = xrealloc(p->breaks,
					    cap * sizeof(*p->breaks));
				}
				p->breaks[p->nbreaks++] = out->len;
				continue;
			}
			int h = hexval(e[i + 1]), l = hexval(e[i + 2]);
			if (h < 0 || l < 0)
				return GW_ESYNTAX;
			uint8_t v = (uint8_t)(h << 4 | l);
			/* escaped where a literal was allowed: remember the
			 * octet (trailing white space is decided later) */
			if (v >= 33 && v <= 126 && v != '=')
				p->esc[v >> 3] |= (uint8_t)(1u << (v & 7));
			buf_append_byte(out, v);
			col += 3;
			i += 2;
			continue;
		}
		if (c == '\r' || c == '\n')
			return GW_ERANGE; /* bare line ends: not canonical */
		/* literal white space ending a line: that encoder's habit */
		if ((c == ' ' || c == '\t') && (i + 1 == n ||
		    (e[i + 1] == '\r' && i + 2 < n && e[i + 2] == '\n')))
			p->ws_literal = true;
		buf_append_byte(out, c);
		col++;
	}
	if (col > maxcol)
		maxcol = col;
	if (maxcol > 255)
		maxcol = 255;
	p->line_len = (uint8_t)(maxcol < 4 ? 76 : maxcol);
	return 0;
}

void
mime_reencode_params_fini(struct mime_reencode_params *p)
{
	free(p->breaks);
	p->breaks = NULL;
	p->nbreaks = 0;
}

static bool
reproduces(const struct mime_reencode_params *p, const struct buf *dec,
    const uint8_t *enc, size_t len)
{
	struct buf re = BUF_INIT;
	mime_reencode_encode(p, dec->data, dec->len, &re);
	bool same = re.len == len && (len == 0 || memcmp(re.data, enc,
	    len) == 0);
	buf_fini(&re);
	return same;
}

int
mime_reencode_check(enum mime_cte cte, const uint8_t *enc, size_t len,
    struct buf *out, struct mime_reencode_params *p)
{
	buf_reset(out);
	memset(p, 0, sizeof(*p));
	p->cte = cte;
	/* leading and trailing empty lines are counted, not decoded */
	const uint8_t *b = enc;
	size_t n = len;
	while (n >= 2 && b[0] == '\r' && b[1] == '\n' && p->lead_crlf < 255) {
		b += 2;
		n -= 2;
		p->lead_crlf++;
	}
	while (n >= 2 && b[n - 2] == '\r' && b[n - 1] == '\n' &&
	    p->trail_crlf < 255) {
		n -= 2;
		p->trail_crlf++;
	}
	int rc = cte == MIME_CTE_BASE64 ? b64_decode(b, n, out, p) :
	    cte == MIME_CTE_QP ? qp_decode(b, n, out, p) : GW_EINVAL;
	if (rc == 0) {
		if (reproduces(p, out, enc, len)) {
			if (cte == MIME_CTE_QP)
				mime_reencode_params_fini(p); /* not needed */
			return 0;
		}
		rc = GW_ERANGE;
		if (cte == MIME_CTE_QP) {
			/* the sender's encoder wrapped its own way: keep its
			 * soft breaks explicitly */
			uint8_t ll = p->line_len;
			p->line_len = 0;
			if (reproduces(p, out, enc, len))
				return 0;
			p->line_len = ll;
		}
	}
	mime_reencode_params_fini(p);
	buf_reset(out);
	return rc;
}

void
mime_reencode_encode(const struct mime_reencode_params *p, const uint8_t *dec,
    size_t len, struct buf *out)
{
	for (unsigned i = 0; i < p->lead_crlf; i++)
		buf_append(out, "\r\n", 2);
	if (p->cte == MIME_CTE_BASE64)
		b64_encode(p, dec, len, out);
	else
		qp_encode(p, dec, len, out);
	for (unsigned i = 0; i < p->trail_crlf; i++)
		buf_append(out, "\r\n", 2);
}

/* ---- packing ---- */

static void
put_varint(struct buf *b, uint64_t v)
{
	while (v >= 0x80) {
		buf_append_byte(b, (uint8_t)(v | 0x80));
		v >>= 7;
	}
	buf_append_byte(b, (uint8_t)v);
}

static int
get_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*i >= len)
			return GW_ECORRUPT;
		uint8_t c = p[(*i)++];
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return GW_ECORRUPT;
}

struct span {
	size_t off, len;
	bool qp;
};

struct scan {
	const uint8_t *msg;
	size_t len;
	struct span *s;
	size_t n, cap;
	struct mime_pack_stats *st;
};

static void
scan_part(GMimeObject *parent, GMimeObject *part, gpointer arg)
{
	(void)parent;
	struct scan *sc = arg;
	if (!GMIME_IS_PART(part))
		return;
	GMimePart *mp = GMIME_PART(part);
	GMimeContentEncoding e = g_mime_part_get_content_encoding(mp);
	if (e != GMIME_CONTENT_ENCODING_BASE64 &&
	    e != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
		return;
	GMimeDataWrapper *w = g_mime_part_get_content(mp);
	if (w == NULL)
		return;
	GMimeStream *s = g_mime_data_wrapper_get_stream(w);
	if (s == NULL || s->bound_start < 0 || s->bound_end < s->bound_start ||
	    (uint64_t)s->bound_end > sc->len)
		return;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap ? sc->cap * 2 : 8;
		sc->s = xrealloc(sc->s, sc->cap * sizeof(*sc->s));
	}
	sc->s[sc->n].off = (size_t)s->bound_start;
	sc->s[sc->n].len = (size_t)(s->bound_end - s->bound_start);
	sc->s[sc->n].qp = e == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
	sc->n++;
}

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static void
raw(struct buf *out, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	buf_append_byte(out, 0);
	put_varint(out, n);
	buf_append(out, p, n);
}

void
mime_pack(const uint8_t *msg, size_t len, struct buf *out,
    struct mime_pack_stats *st)
{
	struct mime_pack_stats dummy;
	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	buf_reset(out);
	struct scan sc = { msg, len, NULL, 0, 0, st };
	/* GMime reads a copy; offsets refer to the same octets. */
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(
	    (const char *)msg, len);
	GMimeParser *pr = g_mime_parser_new_with_stream(stream);
	GMimeMessage *m = g_mime_parser_construct_message(pr, NULL);
	if (m != NULL) {
		g_mime_message_foreach(m, scan_part, &sc);
		GMimeObject *root = g_mime_message_get_mime_part(m);
		if (root != NULL && GMIME_IS_PART(root))
			scan_part(NULL, root, &sc);
		g_object_unref(m);
	}
	g_object_unref(pr);
	g_object_unref(stream);
	if (sc.n > 1)
		qsort(sc.s, sc.n, sizeof(*sc.s), span_cmp);
	size_t at = 0;
	struct buf dec = BUF_INIT, rec = BUF_INIT;
	for (size_t i = 0; i < sc.n; i++) {
		const struct span *sp = &sc.s[i];
		if (sp->off < at || (i > 0 && sp->off == sc.s[i - 1].off))
			continue; /* the same part seen twice, or overlap */
		st->parts++;
		if (sp->qp)
			st->parts_qp++;
		else
			st->parts_b64++;
		st->enc_bytes += sp->len;
		struct mime_reencode_params p;
		int rc = mime_reencode_check(sp->qp ? MIME_CTE_QP :
		    MIME_CTE_BASE64, msg + sp->off, sp->len, &dec, &p);
		if (rc < 0)
			continue;
		st->parts_identical++;
		/* the record, built aside: kept only when it is shorter */
		buf_reset(&rec);
		buf_append_byte(&rec, (uint8_t)p.cte);
		buf_append_byte(&rec, p.line_len);
		buf_append_byte(&rec, p.lead_crlf);
		buf_append_byte(&rec, p.trail_crlf);
		if (p.cte == MIME_CTE_QP) {
			buf_append_byte(&rec, p.ws_literal ? 1 : 0);
			size_t ne = 0;
			for (unsigned c = 0; c < 256; c++)
				ne += is_esc(&p, (uint8_t)c);
			put_varint(&rec, ne);
			for (unsigned c = 0; c < 256; c++)
				if (is_esc(&p, (uint8_t)c))
					buf_append_byte(&rec, (uint8_t)c);
			if (p.line_len == 0) {
				put_varint(&rec, p.nbreaks);
				for (size_t k = 0; k < p.nbreaks; k++)
					put_varint(&rec, p.breaks[k] - (k ?
					    p.breaks[k - 1] : 0));
			}
		}
		put_varint(&rec, dec.len);
		buf_append(&rec, dec.data, dec.len);
		/* + the raw record split around it: 1 + varint octets */
		if (rec.len + 11 >= sp->len) {
			mime_reencode_params_fini(&p);
			continue;
		}
		raw(out, msg + at, sp->off - at);
		buf_append(out, rec.data, rec.len);
		mime_reencode_params_fini(&p);
		at = sp->off + sp->len;
		st->parts_packed++;
		st->enc_packed += sp->len;
		st->dec_packed += dec.len;
	}
	raw(out, msg + at, len - at);
	buf_fini(&dec);
	buf_fini(&rec);
	free(sc.s);
}

static int
unpack_qp(const uint8_t *p, size_t len, size_t *i,
    struct mime_reencode_params *prm)
{
	uint64_t ne, nb;
	if (*i >= len || p[*i] > 1)
		return GW_ECORRUPT;
	prm->ws_literal = p[(*i)++] == 1;
	if (get_varint(p, len, i, &ne) < 0 || ne > 256 || ne > len - *i)
		return GW_ECORRUPT;
	for (uint64_t k = 0; k < ne; k++) {
		uint8_t c = p[(*i)++];
		prm->esc[c >> 3] |= (uint8_t)(1u << (c & 7));
	}
	if (prm->line_len != 0)
		return prm->line_len < 4 ? GW_ECORRUPT : 0;
	/* every break costs at least one octet: bounds the allocation */
	if (get_varint(p, len, i, &nb) < 0 || nb > len - *i)
		return GW_ECORRUPT;
	prm->breaks = xmalloc((size_t)(nb ? nb : 1) * sizeof(*prm->breaks));
	uint64_t at = 0;
	for (uint64_t k = 0; k < nb; k++) {
		uint64_t d;
		if (get_varint(p, len, i, &d) < 0 || d > SIZE_MAX - at)
			return GW_ECORRUPT;
		at += d;
		prm->breaks[prm->nbreaks++] = (size_t)at;
	}
	return 0;
}

int
mime_unpack(const uint8_t *p, size_t len, struct buf *out)
{
	return mime_unpack_max(p, len, SIZE_MAX, out);
}

int
mime_unpack_max(const uint8_t *p, size_t len, size_t max, struct buf *out)
{
	size_t i = 0;
	buf_reset(out);
	while (i < len) {
		uint8_t t = p[i++];
		struct mime_reencode_params prm;
		memset(&prm, 0, sizeof(prm));
		prm.cte = MIME_CTE_BASE64;
		if (t == MIME_CTE_BASE64 || t == MIME_CTE_QP) {
			if (len - i < 3)
				return GW_ECORRUPT;
			prm.cte = (enum mime_cte)t;
			prm.line_len = p[i++];
			prm.lead_crlf = p[i++];
			prm.trail_crlf = p[i++];
			if (t == MIME_CTE_BASE64 && prm.line_len % 4 != 0)
				return GW_ECORRUPT;
			if (t == MIME_CTE_QP &&
			    unpack_qp(p, len, &i, &prm) < 0) {
				mime_reencode_params_fini(&prm);
				return GW_ECORRUPT;
			}
		} else if (t != 0) {
			return GW_ECORRUPT;
		}
		uint64_t n;
		if (get_varint(p, len, &i, &n) < 0 || n > len - i) {
			mime_reencode_params_fini(&prm);
			return GW_ECORRUPT;
		}
		if (prm.nbreaks > 0 && prm.breaks[prm.nbreaks - 1] > n) {
			mime_reencode_params_fini(&prm);
			return GW_ECORRUPT;
		}
		if (t == 0)
			buf_append(out, p + i, (size_t)n);
		else
			mime_reencode_encode(&prm, p + i, (size_t)n, out);
		mime_reencode_params_fini(&prm);
		i += (size_t)n;
		if (out->len > max)
			return GW_ETOOBIG;
	}
	return 0;
}
