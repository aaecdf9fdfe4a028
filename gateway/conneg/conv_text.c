/*
 * conv_text.c - charset conversion with iconv and a small HTML-to-text
 * renderer for content conversion.
 *
 * Contract: pure; no state survives a call. The HTML renderer is a single
 * pass over the input with a bounded tag-name buffer, so it is linear and
 * cannot be driven into deep recursion by hostile markup.
 */
#include "gateway/conneg/conv_text.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
conv_text_charset(const char *from, const char *to, const uint8_t *in,
    size_t n, struct buf *out, bool translit, bool *lossy)
{
	char tocode[80];
	buf_reset(out);
	if (lossy != NULL)
		*lossy = false;
	if (n > CONV_TEXT_MAX_IN)
		return GW_ETOOBIG;
	int k = snprintf(tocode, sizeof(tocode), "%s%s", to,
	    translit ? "//TRANSLIT" : "");
	if (k < 0 || (size_t)k >= sizeof(tocode))
		return GW_EUNSUPP;
	iconv_t cd = iconv_open(tocode, from);
	if (cd == (iconv_t)-1)
		return GW_EUNSUPP;
	char *ip = (char *)(uintptr_t)in;
	size_t il = n;
	int rc = 0;
	buf_reserve(out, n * 2 + 16);
	for (;;) {
		char *op = (char *)out->data + out->len;
		size_t room = out->cap - out->len;
		size_t r = iconv(cd, il > 0 ? &ip : NULL, &il, &op, &room);
		out->len = (size_t)((uint8_t *)op - out->data);
		if (r != (size_t)-1) {
			if (r > 0 && lossy != NULL)
				*lossy = true; /* irreversible conversions */
			if (il == 0)
				break;
			continue;
		}
		if (errno == E2BIG) {
			buf_reserve(out, out->cap * 2);
			continue;
		}
		if (translit && errno == EILSEQ && il > 0) {
			/* not even an approximation: skip, mark "?" */
			buf_append_byte(out, '?');
			ip++;
			il--;
			if (lossy != NULL)
				*lossy = true;
			continue;
		}
		rc = GW_ERANGE;
		break;
	}
	iconv_close(cd);
	if (rc == 0 && out->data != NULL)
		out->data[out->len] = '\0';
	if (rc < 0)
		buf_reset(out);
	return rc;
}

static const struct {
	const char *name;
	unsigned cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "nbsp", 0xA0 }, { "copy", 0xA9 },
	{ "reg", 0xAE }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
	{ "hellip", 0x2026 }, { "euro", 0x20AC }, { "laquo", 0xAB },
	{ "raquo", 0xBB }, { "rsquo", 0x2019 }, { "lsquo", 0x2018 },
	{ "rdquo", 0x201D }, { "ldquo", 0x201C }, { "bull", 0x2022 },
};

static void
put_utf8(struct buf *b, unsigned cp)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		buf_append_byte(b, (uint8_t)cp);
	} else if (cp < 0x800) {
		buf_append_byte(b, (uint8_t)(0xC0 | (cp >> 6)));
		buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_append_byte(b, (uint8_t)(0xE0 | (cp >> 12)));
		buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
		buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
	} else {
		buf_append_byte(b, (uint8_t)(0xF0 | (cp >> 18)));
		buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
		buf_append_byte(b, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
		buf_append_byte(b, (uint8_t)(0x80 | (cp & 0x3F)));
	}
}

struct render {
	struct buf *out;
	bool space;    /* a space is pending */
	int newlines;  /* line breaks pending (0..2) */
	bool at_start; /* nothing written yet */
};

static void
r_flush(struct render *r)
{
	if (r->at_start) {
		r->newlines = 0;
		r->space = false;
		return;
	}
	if (r->newlines > 0) {
		for (int i = 0; i < r->newlines; i++)
			buf_append_str(r->out, "\r\n");
		r->newlines = 0;
		r->space = false;
	} else if (r->space) {
		buf_append_byte(r->out, ' ');
		r->space = false;
	}
}

static void
r_char(struct render *r, unsigned cp)
{
	if (cp == ' ' || cp == '\t' || cp == '\r' || cp == '\n' ||
	    cp == 0xA0) {
		if (cp != 0xA0) {
			r->space = true;
			return;
		}
	}
	r_flush(r);
	r->at_start = false;
	put_utf8(r->out, cp == 0xA0 ? ' ' : cp);
}

static void
r_break(struct render *r, int n)
{
	if (r->newlines < n)
		r->newlines = n;
}

/* Read one UTF-8 sequence (invalid bytes map to U+FFFD). */
static unsigned
utf8_next(const uint8_t *p, size_t n, size_t *i)
{
	uint8_t c = p[*i];
	unsigned cp;
	int extra;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if ((c & 0xE0) == 0xC0) {
		cp = c & 0x1F;
		extra = 1;
	} else if ((c & 0xF0) == 0xE0) {
		cp = c & 0x0F;
		extra = 2;
	} else if ((c & 0xF8) == 0xF0) {
		cp = c & 0x07;
		extra = 3;
	} else {
		(*i)++;
		return 0xFFFD;
	}
	if (*i + (size_t)extra >= n) {
		*i = n;
		return 0xFFFD;
	}
	for (int k = 1; k <= extra; k++) {
		if ((p[*i + (size_t)k] & 0xC0) != 0x80) {
			(*i)++;
			return 0xFFFD;
		}
		cp = (cp << 6) | (p[*i + (size_t)k] & 0x3F);
	}
	*i += (size_t)extra + 1;
	return cp;
}

static bool
tag_is(const char *name, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcasecmp(name, *set) == 0)
			return true;
	return false;
}

/* Find attr="value" in a tag's text; copies into out. */
static bool
tag_attr(const char *tag, size_t tl, const char *attr, char *out,
    size_t outlen)
{
	size_t al = strlen(attr);
	for (size_t i = 0; i + al < tl; i++) {
		if (strncasecmp(tag + i, attr, al) != 0 ||
		    (i > 0 && !isspace((unsigned char)tag[i - 1])))
			continue;
		size_t j = i + al;
		while (j < tl && isspace((unsigned char)tag[j]))
			j++;
		if (j >= tl || tag[j] != '=')
			continue;
		j++;
		while (j < tl && isspace((unsigned char)tag[j]))
			j++;
		char q = (j < tl && (tag[j] == '"' || tag[j] == '\'')) ?
		    tag[j++] : 0;
		size_t o = 0;
		while (j < tl && o + 1 < outlen && (q ? tag[j] != q :
		    !isspace((unsigned char)tag[j]) && tag[j] != '>'))
			out[o++] = tag[j++];
		out[o] = '\0';
		return o > 0;
	}
	return false;
}

void
conv_text_html_to_plain(const uint8_t *in, size_t n, struct buf *out)
{
	static const char *const blocks[] = { "p", "div", "table", "tr",
		"h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote",
		"pre", "hr", "center", "form", "dl", "dt", "dd", "body",
		"title", NULL };
	static const char *const skips[] = { "script", "style", "head",
		NULL };
	struct render r = { out, false, 0, true };
	char skip_until[16] = "";
	char href[512] = "";
	buf_reset(out);
	size_t i = 0;
	while (i < n) {
		if (in[i] == '<') {
			size_t j = i + 1;
			/* comments */
			if (n - i >= 4 && memcmp(in + i, "<!--", 4) == 0) {
				const uint8_t *e = NULL;
				for (size_t k = i + 4; k + 2 < n; k++)
					if (memcmp(in + k, "-->", 3) == 0) {
						e = in + k;
						break;
					}
				i = e != NULL ? (size_t)(e - in) + 3 : n;
				continue;
			}
			while (j < n && in[j] != '>')
				j++;
			const char *tag = (const char *)in + i + 1;
			size_t tl = j - i - 1;
			bool closing = tl > 0 && tag[0] == '/';
			size_t ns = closing ? 1 : 0, ne = ns;
			while (ne < tl && (isalnum((unsigned char)tag[ne])))
				ne++;
			char name[16];
			size_t nl = ne - ns < sizeof(name) - 1 ? ne - ns :
			    sizeof(name) - 1;
			memcpy(name, tag + ns, nl);
			name[nl] = '\0';
			i = j < n ? j + 1 : n;
			if (skip_until[0] != '\0') {
				if (closing && strcasecmp(name, skip_until) ==
				    0)
					skip_until[0] = '\0';
				continue;
			}
			if (!closing && tag_is(name, skips)) {
				snprintf(skip_until, sizeof(skip_until), "%s",
				    name);
				continue;
			}
			if (strcasecmp(name, "br") == 0) {
				r_break(&r, 1);
			} else if (strcasecmp(name, "li") == 0 && !closing) {
				r_break(&r, 1);
				r_char(&r, '*');
				r.space = true;
			} else if (tag_is(name, blocks)) {
				r_break(&r, strcasecmp(name, "p") == 0 ||
				    name[0] == 'h' ? 2 : 1);
			} else if (strcasecmp(name, "td") == 0 ||
			    strcasecmp(name, "th") == 0) {
				r.space = true;
			} else if (strcasecmp(name, "a") == 0) {
				if (!closing) {
					if (!tag_attr(tag, tl, "href", href,
					    sizeof(href)))
						href[0] = '\0';
				} else if (href[0] != '\0') {
					r.space = true;
					r_char(&r, '<');
					for (char *h = href; *h; h++)
						r_char(&r, (uint8_t)*h);
					r_char(&r, '>');
					href[0] = '\0';
				}
			} else if (strcasecmp(name, "img") == 0) {
				char alt[256];
				if (tag_attr(tag, tl, "alt", alt,
				    sizeof(alt))) {
					r_char(&r, '[');
					for (char *a = alt; *a; a++)
						r_char(&r, (uint8_t)*a);
					r_char(&r, ']');
				}
			}
			continue;
		}
		if (skip_until[0] != '\0') {
			i++;
			continue;
		}
		if (in[i] == '&') {
			size_t j = i + 1;
			while (j < n && j - i < 12 && in[j] != ';' &&
			    (isalnum(in[j]) || in[j] == '#'))
				j++;
			if (j < n && in[j] == ';' && j > i + 1) {
				char ent[16];
				memcpy(ent, in + i + 1, j - i - 1);
				ent[j - i - 1] = '\0';
				unsigned cp = 0;
				if (ent[0] == '#')
					cp = (unsigned)strtoul(ent + 1 +
					    (ent[1] == 'x' || ent[1] == 'X'),
					    NULL, (ent[1] == 'x' ||
					    ent[1] == 'X') ? 16 : 10);
				else
					for (size_t k = 0;
					    k < GW_ARRAY_LEN(entities); k++)
						if (strcmp(ent,
						    entities[k].name) == 0)
							cp = entities[k].cp;
				if (cp != 0) {
					r_char(&r, cp);
					i = j + 1;
					continue;
				}
			}
		}
		unsigned cp = utf8_next(in, n, &i);
		r_char(&r, cp);
	}
	if (!r.at_start)
		buf_append_str(out, "\r\n");
}
