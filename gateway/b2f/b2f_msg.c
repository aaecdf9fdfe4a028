/*
 * b2f_msg.c - Winlink message format <-> RFC 5322/MIME (see b2f_msg.h).
 *
 * Into mail: the Winlink header fields map to their RFC 5322 namesakes
 * (From/To/Cc through the address map, Subject RFC 2047-encoded in the
 * body's charset when it is not ASCII, Date rewritten, Mid as Message-ID);
 * Mbo and Type become X-B2F-Mbo and X-B2F-Type; other X- fields are kept
 * as they are, except the sender-local X-Filepath and X-Unread. A message
 * without File entries is one text/plain part in its charset; with them,
 * multipart/mixed with the text first and each file base64-encoded.
 *
 * Out of mail: GMime parses the message; the first text/plain part that
 * is not an attachment is the body (as UTF-8), every other leaf part
 * becomes a File entry with its decoded bytes.
 */
#include "gateway/b2f/b2f_msg.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <glib.h>
#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEADER_MAX (64 * 1024)
#define RCPTS_MAX 100
#define FILES_MAX 32

void
b2f_msg_init(void)
{
	static bool done;

	if (!done) {
		g_mime_init();
		done = true;
	}
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* 1..12 characters, each a letter, a digit or one of extra. */
static bool
short_token(const char *s, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > 12)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return false;
	return true;
}

/* A callsign, with an SSID or a portable suffix ("N0CALL-1", "N0CALL/P"). */
static bool
valid_call(const char *c)
{
	return short_token(c, "-/");
}

static bool
valid_addr(const char *a)
{
	const char *at = strrchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' || strlen(a) > 300)
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == ',' || *p == '"' || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* A Winlink address (CALL or SMTP:addr) -> mail address. */
static int
map_in(const struct b2f_addrmap *m, const char *w, char *out, size_t len)
{
	char call[64];

	while (*w == ' ')
		w++;
	if (strncasecmp(w, "SMTP:", 5) == 0) {
		snprintf(out, len, "%s", w + 5);
		return valid_addr(out) ? 0 : GW_EINVAL;
	}
	snprintf(call, sizeof(call), "%s", w);
	call[strcspn(call, " ")] = '\0';
	if (!valid_call(call))
		return GW_EINVAL;
	if (m->mycall && strcasecmp(call, m->mycall) == 0 &&
	    m->deliver_to && m->deliver_to[0]) {
		snprintf(out, len, "%s", m->deliver_to);
		return 0;
	}
	lower(call);
	snprintf(out, len, "%s@%s", call, m->domain);
	return 0;
}

int
b2f_addr_to_call(const struct b2f_addrmap *m, const char *addr, char *out,
    size_t outlen)
{
	const char *at = strrchr(addr, '@');
	char call[64];

	if (at != NULL && strcasecmp(at + 1, m->domain) == 0 &&
	    (size_t)(at - addr) < sizeof(call)) {
		memcpy(call, addr, (size_t)(at - addr));
		call[at - addr] = '\0';
		for (char *c = call; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		if (!valid_call(call))
			return GW_EINVAL;
		snprintf(out, outlen, "%s", call);
		return 0;
	}
	if (m->deliver_to && strcasecmp(addr, m->deliver_to) == 0 &&
	    m->mycall) {
		snprintf(out, outlen, "%s", m->mycall);
		return 0;
	}
	if (!valid_addr(addr))
		return GW_EINVAL;
	snprintf(out, outlen, "SMTP:%s", addr);
	return 0;
}

void
b2f_mid_from_id(const uint8_t id[16], char mid[13])
{
	static const char a32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	GChecksum *h = g_checksum_new(G_CHECKSUM_SHA256);
	uint8_t d[32];
	gsize dl = sizeof(d);
	uint64_t v = 0;

	g_checksum_update(h, (const guchar *)"skywave-b2f", 11);
	g_checksum_update(h, id, 16);
	g_checksum_get_digest(h, d, &dl);
	g_checksum_free(h);
	for (int i = 0; i < 8; i++)
		v = v << 8 | d[i];
	for (int i = 0; i < 12; i++) {
		mid[i] = a32[v & 31];
		v >>= 5;
	}
	mid[12] = '\0';
}

static bool safe_mid(const char *mid);

bool
b2f_mid_from_message_id(const uint8_t *msg, size_t n, const char *domain,
    char mid[13])
{
	size_t i = 0;

	while (i < n) {
		const uint8_t *nl = memchr(msg + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - msg) : n, ll = e - i;
		if (ll > 0 && msg[e - 1] == '\r')
			ll--;
		if (ll == 0)
			return false;            /* end of the header */
		if (ll > 11 && strncasecmp((const char *)msg + i,
		    "Message-ID:", 11) == 0) {
			char v[400];
			size_t vl = ll - 11 < sizeof(v) - 1 ? ll - 11 :
			    sizeof(v) - 1;
			memcpy(v, msg + i + 11, vl);
			v[vl] = '\0';
			char *lt = strchr(v, '<'), *at = strrchr(v, '@'),
			    *gt = strrchr(v, '>');
			if (lt == NULL || at == NULL || gt == NULL || at < lt ||
			    gt < at)
				return false;
			*at = '\0';
			*gt = '\0';
			if (strcasecmp(at + 1, domain) != 0 ||
			    !safe_mid(lt + 1))
				return false;
			snprintf(mid, 13, "%s", lt + 1);
			return true;
		}
		i = e + 1;
	}
	return false;
}

void
b2f_inbound_fini(struct b2f_inbound *in)
{
	buf_fini(&in->content);
	free(in->rcpts);
	memset(in, 0, sizeof(*in));
}

static bool
is_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == '\0')
			return false;
	return true;
}

/* RFC 2047 B-encoding when needed. */
static void
append_text_field(struct buf *o, const char *name, const char *v,
    const char *charset)
{
	size_t n = strlen(v);

	if (is_ascii(v, n)) {
		buf_appendf(o, "%s: %s\r\n", name, v);
		return;
	}
	gchar *b = g_base64_encode((const guchar *)v, n);
	buf_appendf(o, "%s: =?%s?B?%s?=\r\n", name, charset, b);
	g_free(b);
}

/* Body text as a MIME leaf: 7bit/8bit when it is CRLF lines of at most
 * 998 bytes without NUL, else base64. */
/* "Content-Transfer-Encoding: base64", the blank line, then b in lines
 * of 76. */
static void
append_base64(struct buf *o, const uint8_t *b, size_t n)
{
	buf_append_str(o, "Content-Transfer-Encoding: base64\r\n\r\n");
	gchar *e = g_base64_encode(b, n);
	for (size_t i = 0, el = strlen(e); i < el; i += 76) {
		buf_append(o, e + i, el - i < 76 ? el - i : 76);
		buf_append_str(o, "\r\n");
	}
	g_free(e);
}

static void
append_text_part(struct buf *o, const uint8_t *b, size_t n,
    const char *charset)
{
	bool lines_ok = true, ascii = true;
	size_t ll = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = b[i];
		if (c >= 0x80)
			ascii = false;
		if (c == '\0' || ll > 998 ||
		    (c == '\r' && (i + 1 >= n || b[i + 1] != '\n')) ||
		    (c == '\n' && (i == 0 || b[i - 1] != '\r')))
			lines_ok = false;
		ll = c == '\n' ? 0 : ll + 1;
	}
	buf_appendf(o, "Content-Type: text/plain; charset=%s\r\n", charset);
	if (lines_ok) {
		buf_appendf(o, "Content-Transfer-Encoding: %s\r\n\r\n",
		    ascii ? "7bit" : "8bit");
		buf_append(o, b, n);
		if (n > 0 && b[n - 1] != '\n')
			buf_append_str(o, "\r\n");
		return;
	}
	append_base64(o, b, n);
}

static void
append_file_part(struct buf *o, const char *name, const uint8_t *b,
    size_t n)
{
	char safe[128];
	size_t j = 0;

	for (const char *p = name; *p && j + 1 < sizeof(safe); p++)
		safe[j++] = (*p == '"' || *p == '\\' || *p == '/' ||
		    (unsigned char)*p < ' ') ? '_' : *p;
	safe[j] = '\0';
	if (j == 0)
		snprintf(safe, sizeof(safe), "attachment");
	buf_appendf(o, "Content-Type: application/octet-stream; "
	    "name=\"%s\"\r\n", safe);
	buf_appendf(o, "Content-Disposition: attachment; "
	    "filename=\"%s\"\r\n", safe);
	append_base64(o, b, n);
}

struct wl_file {
	size_t size;
	char name[128];
	size_t at;
};

static bool
safe_mid(const char *mid)
{
	return short_token(mid, "_-");
}

static void
rfc5322_date(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

static void
add_rcpt(struct b2f_inbound *out, const char *a)
{
	for (size_t i = 0; i < out->nrcpts; i++)
		if (strcasecmp(out->rcpts[i], a) == 0)
			return;
	if (out->nrcpts >= RCPTS_MAX)
		return;
	snprintf(out->rcpts[out->nrcpts++], sizeof(out->rcpts[0]), "%s", a);
}

int
b2f_msg_to_mail(const uint8_t *w, size_t n, const struct b2f_addrmap *m,
    int64_t now, struct b2f_inbound *out, char *err, size_t errlen)
{
	struct wl_file files[FILES_MAX];
	size_t nfiles = 0, i = 0, body_len = 0;
	bool have_body = false;
	char charset[64] = "ISO-8859-1", date[64] = "", subject[1024] = "";
	char mbo[64] = "", type[64] = "";
	struct buf hdr, to, cc;
	int rc = GW_EPROTO;

	memset(out, 0, sizeof(*out));
	buf_init(&out->content);
	out->rcpts = xcalloc(RCPTS_MAX, sizeof(*out->rcpts));
	buf_init(&hdr);
	buf_init(&to);
	buf_init(&cc);

	/* header */
	for (;;) {
		const uint8_t *nl = memchr(w + i, '\n', n - i);
		if (nl == NULL || (size_t)(nl - w) > HEADER_MAX) {
			snprintf(err, errlen, "no end of the header section");
			goto out;
		}
		size_t e = (size_t)(nl - w), ll = e - i;
		if (ll > 0 && w[e - 1] == '\r')
			ll--;
		char line[1100];
		if (ll >= sizeof(line)) {
			snprintf(err, errlen, "header line too long");
			goto out;
		}
		memcpy(line, w + i, ll);
		line[ll] = '\0';
		i = e + 1;
		if (ll == 0)
			break;
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;       /* tolerate junk lines */
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *name = line;
		if (strcasecmp(name, "Mid") == 0) {
			snprintf(out->mid, sizeof(out->mid), "%.12s", v);
		} else if (strcasecmp(name, "Body") == 0) {
			body_len = strtoul(v, NULL, 10);
			have_body = true;
		} else if (strcasecmp(name, "File") == 0) {
			char *sp = strchr(v, ' ');
			if (nfiles >= FILES_MAX || sp == NULL) {
				snprintf(err, errlen, "bad File entry");
				goto out;
			}
			files[nfiles].size = strtoul(v, NULL, 10);
			snprintf(files[nfiles].name,
			    sizeof(files[nfiles].name), "%s", sp + 1);
			nfiles++;
		} else if (strcasecmp(name, "Content-Type") == 0) {
			const char *cs = strcasestr(v, "charset=");
			if (cs) {
				cs += 8;
				size_t k = strcspn(cs, "; \"");
				if (*cs == '"')
					k = strcspn(++cs, "\"");
				if (k > 0 && k < sizeof(charset)) {
					memcpy(charset, cs, k);
					charset[k] = '\0';
				}
			}
		} else if (strcasecmp(name, "Date") == 0) {
			snprintf(date, sizeof(date), "%s", v);
		} else if (strcasecmp(name, "Subject") == 0) {
			snprintf(subject, sizeof(subject), "%s", v);
		} else if (strcasecmp(name, "Mbo") == 0) {
			snprintf(mbo, sizeof(mbo), "%s", v);
		} else if (strcasecmp(name, "Type") == 0) {
			snprintf(type, sizeof(type), "%s", v);
		} else if (strcasecmp(name, "From") == 0) {
			if (map_in(m, v, out->from, sizeof(out->from)) != 0) {
				snprintf(err, errlen, "bad From \"%s\"", v);
				goto out;
			}
		} else if (strcasecmp(name, "To") == 0 ||
		    strcasecmp(name, "Cc") == 0) {
			char a[320];
			if (map_in(m, v, a, sizeof(a)) != 0)
				continue;       /* an address we cannot use */
			add_rcpt(out, a);
			struct buf *l = strcasecmp(name, "To") == 0 ? &to : &cc;
			buf_appendf(l, "%s%s", l->len ? ", " : "", a);
		} else if (strncasecmp(name, "X-", 2) == 0) {
			if (strcasecmp(name, "X-Filepath") == 0 ||
			    strcasecmp(name, "X-Unread") == 0)
				continue;
			if (is_ascii(v, strlen(v)))
				buf_appendf(&hdr, "%s: %s\r\n", name, v);
		}
		/* Content-Transfer-Encoding and other fields: the part
		 * headers below replace them */
	}
	if (!safe_mid(out->mid)) {
		snprintf(err, errlen, "missing or bad Mid");
		goto out;
	}
	if (!have_body || body_len > n - i) {
		snprintf(err, errlen, "Body count beyond the message");
		goto out;
	}
	if (out->nrcpts == 0) {
		snprintf(err, errlen, "no usable recipient");
		goto out;
	}
	size_t at = i + body_len;
	for (size_t f = 0; f < nfiles; f++) {
		if (n - at >= 2 && w[at] == '\r' && w[at + 1] == '\n')
			at += 2;
		if (files[f].size > n - at) {
			snprintf(err, errlen, "File %s beyond the message",
			    files[f].name);
			goto out;
		}
		files[f].at = at;
		at += files[f].size;
	}

	/* the mail */
	struct buf *o = &out->content;
	char d[64];
	int Y, M, D, h, mi;
	rfc5322_date(now, d, sizeof(d));
	buf_appendf(o, "Received: from %s (Winlink B2F)\r\n\tby %s (skywave) "
	    "with B2F id %s;\r\n\t%s\r\n", mbo[0] ? mbo : "unknown",
	    m->hostname ? m->hostname : "localhost", out->mid, d);
	if (sscanf(date, "%d/%d/%d %d:%d", &Y, &M, &D, &h, &mi) == 5 &&
	    Y >= 1970 && M >= 1 && M <= 12 && D >= 1 && D <= 31 &&
	    h >= 0 && h < 24 && mi >= 0 && mi < 60) {
		struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1,
			.tm_mday = D, .tm_hour = h, .tm_min = mi };
		rfc5322_date((int64_t)timegm(&tm), d, sizeof(d));
	}
	buf_appendf(o, "Date: %s\r\n", d);
	buf_appendf(o, "Message-ID: <%s@%s>\r\n", out->mid, m->domain);
	if (out->from[0])
		buf_appendf(o, "From: <%s>\r\n", out->from);
	if (to.len)
		buf_appendf(o, "To: %s\r\n", buf_cstr(&to));
	if (cc.len)
		buf_appendf(o, "Cc: %s\r\n", buf_cstr(&cc));
	append_text_field(o, "Subject", subject, charset);
	if (mbo[0] && is_ascii(mbo, strlen(mbo)))
		buf_appendf(o, "X-B2F-Mbo: %s\r\n", mbo);
	if (type[0] && is_ascii(type, strlen(type)))
		buf_appendf(o, "X-B2F-Type: %s\r\n", type);
	buf_append(o, hdr.data, hdr.len);
	buf_append_str(o, "MIME-Version: 1.0\r\n");
	if (nfiles == 0) {
		append_text_part(o, w + i, body_len, charset);
	} else {
		char bnd[64];
		snprintf(bnd, sizeof(bnd), "=_b2f_%s_%zu", out->mid, n);
		buf_appendf(o, "Content-Type: multipart/mixed; "
		    "boundary=\"%s\"\r\n\r\n", bnd);
		buf_append_str(o, "This is a MIME message.\r\n");
		buf_appendf(o, "\r\n--%s\r\n", bnd);
		append_text_part(o, w + i, body_len, charset);
		for (size_t f = 0; f < nfiles; f++) {
			buf_appendf(o, "\r\n--%s\r\n", bnd);
			append_file_part(o, files[f].name, w + files[f].at,
			    files[f].size);
		}
		buf_appendf(o, "\r\n--%s--\r\n", bnd);
	}
	if (out->from[0] == '\0')
		out->from[0] = '\0';    /* no From: the null reverse path */
	rc = 0;
out:
	buf_fini(&hdr);
	buf_fini(&to);
	buf_fini(&cc);
	if (rc != 0) {
		b2f_inbound_fini(out);
		buf_init(&out->content);
	}
	return rc;
}

/* ---- mail -> Winlink ---------------------------------------------------- */

struct collect {
	struct buf body;
	bool have_body;
	struct buf files;        /* the file bytes, in order */
	struct buf names;        /* "File: size name\r\n" lines */
	int nfiles;
};

static void
collect_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	struct collect *c = data;
	(void)parent;

	if (!GMIME_IS_PART(part))
		return;
	GMimePart *p = GMIME_PART(part);
	GMimeContentType *ct = g_mime_object_get_content_type(part);
	bool attach = g_mime_part_is_attachment(p);
	if (!c->have_body && !attach && GMIME_IS_TEXT_PART(part) &&
	    g_mime_content_type_is_type(ct, "text", "plain")) {
		char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
		if (t != NULL) {
			/* LF or CRLF in, CRLF out */
			for (const char *q = t; *q; q++) {
				if (*q == '\n' && (q == t || q[-1] != '\r'))
					buf_append_byte(&c->body, '\r');
				buf_append_byte(&c->body, (uint8_t)*q);
			}
			g_free(t);
		}
		c->have_body = true;
		return;
	}
	if (c->nfiles >= FILES_MAX)
		return;
	GMimeDataWrapper *dw = g_mime_part_get_content(p);
	if (dw == NULL)
		return;
	GMimeStream *ms = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(dw, ms);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(
	    GMIME_STREAM_MEM(ms));
	const char *fn = g_mime_part_get_filename(p);
	char name[128];
	if (fn && fn[0]) {
		size_t j = 0;
		const char *base = strrchr(fn, '/');
		for (const char *q = base ? base + 1 : fn; *q && j < 60; q++)
			name[j++] = (unsigned char)*q < ' ' ? '_' : *q;
		name[j] = '\0';
	} else {
		snprintf(name, sizeof(name), "part%d.%s", c->nfiles + 1,
		    g_mime_content_type_is_type(ct, "text", "html") ?
		    "html" : "bin");
	}
	buf_appendf(&c->names, "File: %u %s\r\n", ba->len, name);
	buf_append_str(&c->files, "\r\n");
	buf_append(&c->files, ba->data, ba->len);
	c->nfiles++;
	g_object_unref(ms);
}

int
b2f_msg_from_mail(const uint8_t *msg, size_t n, const char *mid,
    const char *reverse_path, const char *to_call,
    const struct b2f_addrmap *m, int64_t now, struct buf *out,
    char title[81])
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(
	    (const char *)msg, n);
	GMimeParser *pr = g_mime_parser_new_with_stream(st);
	GMimeMessage *gm = g_mime_parser_construct_message(pr, NULL);
	struct collect c;
	char from[330], d[32];
	int64_t when = now;

	g_object_unref(pr);
	g_object_unref(st);
	if (gm == NULL)
		return GW_EPROTO;
	memset(&c, 0, sizeof(c));
	buf_init(&c.body);
	buf_init(&c.files);
	buf_init(&c.names);
	g_mime_message_foreach(gm, collect_part, &c);

	const char *subj = g_mime_message_get_subject(gm);
	GDateTime *dt = g_mime_message_get_date(gm);
	if (dt != NULL)
		when = g_date_time_to_unix(dt);
	time_t tt = (time_t)when;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(d, sizeof(d), "%Y/%m/%d %H:%M", &tm);
	if (reverse_path == NULL || reverse_path[0] == '\0' ||
	    b2f_addr_to_call(m, reverse_path, from, sizeof(from)) != 0)
		snprintf(from, sizeof(from), "%s", m->mycall);

	buf_appendf(out, "Mid: %s\r\n", mid);
	buf_appendf(out, "Body: %zu\r\n", c.body.len);
	buf_append_str(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_append_str(out, "Content-Type: text/plain; charset=UTF-8\r\n");
	buf_appendf(out, "Date: %s\r\n", d);
	buf_append(out, c.names.data, c.names.len);
	buf_appendf(out, "From: %s\r\n", from);
	buf_appendf(out, "Mbo: %s\r\n", m->mycall);
	if (subj == NULL)
		subj = "";
	/* one line, no control characters */
	char s1[400];
	size_t j = 0;
	for (const char *q = subj; *q && j + 1 < sizeof(s1); q++)
		s1[j++] = (unsigned char)*q < ' ' ? ' ' : *q;
	s1[j] = '\0';
	append_text_field(out, "Subject", s1, "UTF-8");
	buf_appendf(out, "To: %s\r\n", to_call);
	buf_append_str(out, "Type: Private\r\n\r\n");
	buf_append(out, c.body.data, c.body.len);
	if (c.nfiles > 0) {
		buf_append(out, c.files.data, c.files.len);
		buf_append_str(out, "\r\n");
	}
	/* the B2F title: ASCII only */
	j = 0;
	for (const char *q = s1; *q && j < 80; q++)
		title[j++] = (unsigned char)*q < 0x80 ? *q : '?';
	title[j] = '\0';
	buf_fini(&c.body);
	buf_fini(&c.files);
	buf_fini(&c.names);
	g_object_unref(gm);
	return 0;
}
