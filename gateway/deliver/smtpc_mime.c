/*
 * smtpc_mime.c - 8BITMIME downgrade and MT-Priority header tunnelling.
 *
 * Purpose: the content changes a relay must make for a next hop that lacks
 * an extension (see smtpc_mime.h). Pure; the caller owns every buffer.
 *
 * The MIME walk is deliberately small: it understands header fields
 * (with folding), Content-Type's type/subtype and boundary parameter, and
 * Content-Transfer-Encoding; it never re-encodes a part that is already
 * 7-bit, and it refuses (GW_EUNSUPP) rather than guess.
 */
#include "gateway/deliver/smtpc_mime.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIME_DEPTH_MAX 32

bool
smtpc_mime_has_8bit(const uint8_t *msg, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (msg[i] & 0x80)
			return true;
	return false;
}

/* Length of the header section including its terminating empty line (or
 * all of msg when there is none), and where the body starts. */
static size_t
header_end(const uint8_t *msg, size_t len, size_t *body)
{
	size_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - msg) + 1 : len;
		size_t ll = end - i;
		if (ll == 2 && msg[i] == '\r')
			ll = 1;
		if (ll == 1 && nl != NULL) { /* the empty line */
			*body = end;
			return i;
		}
		i = end;
	}
	*body = len;
	return len;
}

/* Iterate header fields: [start, end) spans a whole field including its
 * folded continuation lines and final line break. */
static bool
next_field(const uint8_t *h, size_t hlen, size_t *pos, size_t *start,
    size_t *end)
{
	size_t i = *pos;

	if (i >= hlen)
		return false;
	*start = i;
	for (;;) {
		const uint8_t *nl = memchr(h + i, '\n', hlen - i);
		i = nl ? (size_t)(nl - h) + 1 : hlen;
		if (i >= hlen || (h[i] != ' ' && h[i] != '\t'))
			break;
	}
	*end = i;
	*pos = i;
	return true;
}

static bool
field_is(const uint8_t *f, size_t n, const char *name)
{
	size_t nl = strlen(name);
	size_t i = nl;

	if (n <= nl || strncasecmp((const char *)f, name, nl) != 0)
		return false;
	while (i < n && (f[i] == ' ' || f[i] == '\t'))
		i++;
	return i < n && f[i] == ':';
}

size_t
smtpc_mime_count_field(const uint8_t *msg, size_t len, const char *name)
{
	size_t body, hlen = header_end(msg, len, &body), pos = 0, s, e, n = 0;

	while (next_field(msg, hlen, &pos, &s, &e))
		if (field_is(msg + s, e - s, name))
			n++;
	return n;
}

size_t
smtpc_mime_set_priority(const uint8_t *msg, size_t len, bool add, int prio,
    struct buf *out)
{
	size_t body, hlen = header_end(msg, len, &body), pos = 0, s, e;
	size_t removed = 0;

	if (add)
		buf_appendf(out, "MT-Priority: %d\r\n", prio);
	while (next_field(msg, hlen, &pos, &s, &e)) {
		if (field_is(msg + s, e - s, "MT-Priority")) {
			removed++;
			continue;
		}
		buf_append(out, msg + s, e - s);
	}
	buf_append(out, msg + hlen, len - hlen);
	return removed;
}

/* The unfolded value of the first field called name, lower-cased, in dst
 * ("" when absent). */
static bool
field_value(const uint8_t *h, size_t hlen, const char *name, char *dst,
    size_t cap, bool lower)
{
	size_t pos = 0, s, e, o = 0;

	dst[0] = '\0';
	while (next_field(h, hlen, &pos, &s, &e)) {
		if (!field_is(h + s, e - s, name))
			continue;
		const uint8_t *c = memchr(h + s, ':', e - s);
		for (size_t i = (size_t)(c - h) + 1; i < e && o + 1 < cap;
		    i++) {
			char ch = (char)h[i];
			if (ch == '\r' || ch == '\n')
				continue;
			if (ch == '\t')
				ch = ' ';
			dst[o++] = lower ? (char)tolower((unsigned char)ch) :
			    ch;
		}
		dst[o] = '\0';
		/* trim */
		while (o > 0 && dst[o - 1] == ' ')
			dst[--o] = '\0';
		size_t lead = strspn(dst, " ");
		memmove(dst, dst + lead, o - lead + 1);
		return true;
	}
	return false;
}

/* boundary parameter of a Content-Type value (original case kept). */
static bool
ct_boundary(const char *ct, char *out, size_t cap)
{
	const char *p = ct;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ')
			p++;
		if (strncasecmp(p, "boundary", 8) != 0)
			continue;
		const char *q = p + 8;
		while (*q == ' ')
			q++;
		if (*q != '=')
			continue;
		q++;
		while (*q == ' ')
			q++;
		size_t o = 0;
		if (*q == '"') {
			q++;
			while (*q && *q != '"' && o + 1 < cap) {
				if (*q == '\\' && q[1])
					q++;
				out[o++] = *q++;
			}
		} else {
			while (*q && *q != ';' && *q != ' ' && o + 1 < cap)
				out[o++] = *q++;
		}
		out[o] = '\0';
		return o > 0;
	}
	return false;
}

static void
qp_encode(const uint8_t *p, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(p + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - p) : len;
		size_t ll = end - i;
		bool crlf = nl != NULL;
		int col = 0;

		if (ll > 0 && p[end - 1] == '\r')
			ll--;
		for (size_t k = 0; k < ll; k++) {
			uint8_t c = p[i + k];
			bool last = k + 1 == ll;
			char enc[4];
			int n;

			if ((c >= 33 && c <= 126 && c != '=') ||
			    ((c == ' ' || c == '\t') && !last)) {
				enc[0] = (char)c;
				n = 1;
			} else {
				enc[0] = '=';
				enc[1] = hex[c >> 4];
				enc[2] = hex[c & 15];
				n = 3;
			}
			if (col + n > 75) {
				buf_append_str(out, "=\r\n");
				col = 0;
			}
			buf_append(out, enc, (size_t)n);
			col += n;
		}
		if (crlf)
			buf_append_str(out, "\r\n");
		i = crlf ? end + 1 : len;
	}
}

static void
b64_encode(const uint8_t *p, size_t len, struct buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int col = 0;
	bool nl = len > 0 && p[len - 1] == '\n';

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t n = len - i >= 3 ? 3 : len - i;
		char q[4];

		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = n > 1 ? tab[(v >> 6) & 63] : '=';
		q[3] = n > 2 ? tab[v & 63] : '=';
		if (col >= 76) {
			buf_append_str(out, "\r\n");
			col = 0;
		}
		buf_append(out, q, 4);
		col += 4;
	}
	/* The last line ends like the original body did: a part's final
	 * CRLF belongs to the boundary delimiter that follows it. */
	if (nl)
		buf_append_str(out, "\r\n");
}

/* Copy the header section without Content-Transfer-Encoding, then add one
 * with cte (NULL: add none) and, for a top-level non-MIME message, the
 * MIME fields. The empty line is not written. */
static void
copy_headers(const uint8_t *h, size_t hlen, const char *cte, bool add_mime,
    struct buf *out)
{
	size_t pos = 0, s, e;

	while (next_field(h, hlen, &pos, &s, &e))
		if (!field_is(h + s, e - s, "Content-Transfer-Encoding"))
			buf_append(out, h + s, e - s);
	if (add_mime)
		buf_append_str(out, "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=unknown-8bit\r\n");
	if (cte)
		buf_appendf(out, "Content-Transfer-Encoding: %s\r\n", cte);
}

static int entity(const uint8_t *m, size_t len, bool top, bool digest,
    int depth, struct buf *out);

/* A boundary delimiter line: "--" boundary ["--"] then only white space
 * up to the line end (RFC 2046 s5.1.1). */
static bool
is_delimiter(const uint8_t *l, size_t n, const char *boundary, size_t bl,
    bool *is_close)
{
	size_t i = 2 + bl;

	if (n < i || l[0] != '-' || l[1] != '-' ||
	    memcmp(l + 2, boundary, bl) != 0)
		return false;
	*is_close = n >= i + 2 && l[i] == '-' && l[i + 1] == '-';
	if (*is_close)
		i += 2;
	for (; i < n; i++)
		if (l[i] != ' ' && l[i] != '\t' && l[i] != '\r' &&
		    l[i] != '\n')
			return false;
	return true;
}

/* Walk a multipart body: preamble, parts, epilogue. */
static int
multipart(const uint8_t *b, size_t len, const char *boundary, bool digest,
    int depth, struct buf *out)
{
	size_t bl = strlen(boundary), i = 0, part = SIZE_MAX;
	bool closed = false;

	while (i < len || (part != SIZE_MAX && !closed)) {
		const uint8_t *nl = i < len ? memchr(b + i, '\n', len - i) :
		    NULL;
		size_t end = i >= len ? len : nl ? (size_t)(nl - b) + 1 : len;
		bool is_close = false;
		bool delim = i < len && !closed &&
		    is_delimiter(b + i, end - i, boundary, bl, &is_close);

		if (i >= len || delim) {
			if (part != SIZE_MAX) {
				/* The CRLF before a delimiter belongs to it. */
				size_t pe = i;
				if (pe >= part + 2 && b[pe - 2] == '\r' &&
				    b[pe - 1] == '\n')
					pe -= 2;
				else if (pe > part && b[pe - 1] == '\n')
					pe -= 1;
				int rc = entity(b + part, pe - part, false,
				    digest, depth + 1, out);
				if (rc != 0)
					return rc;
				buf_append(out, b + pe, i - pe);
			}
			if (i >= len)
				break;
			buf_append(out, b + i, end - i);
			part = end;
			if (is_close) {
				closed = true;
				part = SIZE_MAX;
			}
		} else if (part == SIZE_MAX) {
			/* preamble or epilogue: kept only if 7-bit */
			if (smtpc_mime_has_8bit(b + i, end - i))
				return GW_EUNSUPP;
			buf_append(out, b + i, end - i);
		}
		i = end;
	}
	return 0;
}

static int
entity(const uint8_t *m, size_t len, bool top, bool digest, int depth,
    struct buf *out)
{
	size_t body, hlen = header_end(m, len, &body);
	char ct[1024], cte[128], bnd[256];
	bool has_ct, has_mv;

	if (depth > MIME_DEPTH_MAX)
		return GW_EUNSUPP;
	if (!smtpc_mime_has_8bit(m, len)) {
		buf_append(out, m, len);
		return 0;
	}
	if (smtpc_mime_has_8bit(m, hlen))
		return GW_EUNSUPP;
	has_ct = field_value(m, hlen, "Content-Type", ct, sizeof(ct), false);
	field_value(m, hlen, "Content-Transfer-Encoding", cte, sizeof(cte),
	    true);
	has_mv = field_value(m, hlen, "MIME-Version", bnd, sizeof(bnd), true);
	if (!has_ct)
		snprintf(ct, sizeof(ct), "%s",
		    digest ? "message/rfc822" : "text/plain");
	if (strcmp(cte, "base64") == 0 || strcmp(cte, "quoted-printable") == 0)
		return GW_EUNSUPP; /* says encoded, holds raw 8-bit octets */

	if (strncasecmp(ct, "multipart/", 10) == 0) {
		if (!ct_boundary(ct, bnd, sizeof(bnd)))
			return GW_EUNSUPP;
		copy_headers(m, hlen, cte[0] ? "7bit" : NULL, false, out);
		buf_append(out, m + hlen, body - hlen);
		return multipart(m + body, len - body, bnd,
		    strncasecmp(ct, "multipart/digest", 16) == 0, depth, out);
	}
	if (strncasecmp(ct, "message/rfc822", 14) == 0) {
		copy_headers(m, hlen, cte[0] ? "7bit" : NULL, false, out);
		buf_append(out, m + hlen, body - hlen);
		return entity(m + body, len - body, true, false, depth + 1,
		    out);
	}
	if (strncasecmp(ct, "message/", 8) == 0 ||
	    strncasecmp(ct, "multipart/", 10) == 0)
		return GW_EUNSUPP; /* other message types may not be encoded */
	bool text = strncasecmp(ct, "text/", 5) == 0;
	copy_headers(m, hlen, text ? "quoted-printable" : "base64",
	    top && !has_mv && !has_ct, out);
	buf_append(out, m + hlen, body - hlen);
	if (hlen == len && body == len)
		buf_append_str(out, "\r\n"); /* no header/body separator */
	if (text)
		qp_encode(m + body, len - body, out);
	else
		b64_encode(m + body, len - body, out);
	return 0;
}

int
smtpc_mime_downgrade(const uint8_t *msg, size_t len, struct buf *out)
{
	size_t mark = out->len;
	int rc = entity(msg, len, true, false, 0, out);

	if (rc != 0)
		buf_truncate(out, mark);
	return rc;
}
