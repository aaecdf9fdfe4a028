/*
 * conv.c - the content conversion engine.
 *
 * Contract: pure (bytes in, bytes and a report out); every GMime object is
 * created and released within conv_run. Thread-safe after conv_init().
 * The rules it applies are stated in conv.h; this file is the walk:
 *
 *   conv_run
 *     parse (GMime) -> walk(root, inherited marks)
 *       multipart/signed|encrypted, pkcs7 -> protected(): judge, keep or
 *                                            omit whole, never convert
 *       multipart/alternative             -> alternative()
 *       other multipart                   -> walk each child
 *       leaf                              -> leaf(): judge, then charset,
 *                                            html->text, image, omission
 *     first failure latches ctx.fail (status); later parts still judged
 *     -> message-size check -> serialise with CRLF
 */
#include "gateway/conneg/conv.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conv_image.h"
#include "gateway/conneg/conv_text.h"

#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void
conv_init(void)
{
	g_mime_init();
}

void
conv_shutdown(void)
{
	g_mime_shutdown();
}

enum perm { PERM_PROHIBITED, PERM_PERMITTED, PERM_OMIT };

struct marks {
	enum perm perm;
	bool critical;
	bool set; /* perm came from a header (own or inherited) */
	const struct caps_filter *convert_to; /* Content-Convert filter */
};

struct ctx {
	const struct conv_policy *pol;
	const struct caps_filter *caps;
	struct conv_report *rep;
	struct caps_filter *owned[64]; /* Content-Convert filters parsed */
	size_t nowned;
	bool changed;
	bool unusable_critical;
	bool sender_refused; /* a usable target was outside Content-Convert */
	const char *fail;
};

static void
note(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
note(struct ctx *c, const char *path, const char *fmt, ...)
{
	char *d = c->rep->detail;
	size_t o = strlen(d), cap = sizeof(c->rep->detail);
	if (o + 8 >= cap)
		return;
	int k = snprintf(d + o, cap - o, "%s%s ", o ? "; " : "", path);
	if (k < 0 || (size_t)k >= cap - o) {
		d[o] = '\0';
		return;
	}
	o += (size_t)k;
	va_list ap;
	va_start(ap, fmt);
	k = vsnprintf(d + o, cap - o, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= cap - o)
		d[o] = '\0';
}

static void
fail(struct ctx *c, const char *status)
{
	/* The most specific reason wins: prohibited (the sender's own
	 * choice) over failed over not supported. */
	if (c->fail == NULL || strcmp(status, "5.6.2") == 0 ||
	    (strcmp(status, "5.6.5") == 0 && strcmp(c->fail, "5.6.3") == 0))
		c->fail = status;
}

static bool
is_protected(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	return g_mime_content_type_is_type(ct, "multipart", "signed") ||
	    g_mime_content_type_is_type(ct, "multipart", "encrypted") ||
	    g_mime_content_type_is_type(ct, "application", "pkcs7-mime") ||
	    g_mime_content_type_is_type(ct, "application", "x-pkcs7-mime");
}

/* Read this object's marks over the inherited ones. */
static struct marks
read_marks(struct ctx *c, GMimeObject *o, const struct marks *in,
    bool want_filter)
{
	struct marks m = *in;
	const char *cc = g_mime_object_get_header(o, "Content-Convert");
	const char *dm = g_mime_object_get_header(o, "Content-Drucof");
	enum perm p_cc = PERM_OMIT, p_dm = PERM_OMIT;
	bool have = false;
	if (cc != NULL) {
		while (*cc == ' ' || *cc == '\t')
			cc++;
		have = true;
		m.convert_to = NULL;
		if (strncasecmp(cc, "NONE", 4) == 0) {
			p_cc = PERM_PROHIBITED;
		} else if (strncasecmp(cc, "ANY", 3) == 0) {
			p_cc = PERM_PERMITTED;
		} else {
			struct caps_filter *f = NULL;
			if (!want_filter) {
				p_cc = PERM_PERMITTED; /* judging only */
			} else if (c->nowned < GW_ARRAY_LEN(c->owned) &&
			    caps_filter_parse(cc, &f, NULL) == 0) {
				c->owned[c->nowned++] = f;
				m.convert_to = f;
				p_cc = PERM_PERMITTED;
			} else {
				/* unreadable permission: none given */
				p_cc = PERM_PROHIBITED;
			}
		}
	}
	if (dm != NULL) {
		while (*dm == ' ' || *dm == '\t')
			dm++;
		have = true;
		if (strncasecmp(dm, "conversion-prohibited", 21) == 0)
			p_dm = PERM_PROHIBITED;
		else if (strncasecmp(dm, "conversion-permitted", 20) == 0)
			p_dm = PERM_PERMITTED;
		else if (strncasecmp(dm, "omission-permitted", 18) == 0)
			p_dm = PERM_OMIT;
		else
			p_dm = PERM_PROHIBITED;
		const char *cr = strcasestr(dm, "critical=");
		if (cr != NULL)
			m.critical = strncasecmp(cr + 9, "no", 2) != 0;
		if (cc == NULL)
			p_cc = p_dm;
	} else if (cc != NULL) {
		p_dm = p_cc;
	}
	if (have) {
		m.perm = p_cc < p_dm ? p_cc : p_dm; /* the stricter */
		m.set = true;
	}
	return m;
}

static char *
mime_type_of(GMimeObject *o)
{
	return g_mime_content_type_get_mime_type(
	    g_mime_object_get_content_type(o));
}

static GByteArray *
decoded(GMimePart *p)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	GMimeStream *ms = g_mime_stream_mem_new();
	if (w != NULL)
		g_mime_data_wrapper_write_to_stream(w, ms);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(
	    GMIME_STREAM_MEM(ms));
	GByteArray *copy = g_byte_array_new();
	g_byte_array_append(copy, ba->data, ba->len);
	g_object_unref(ms);
	return copy;
}

/* A form of a part: the collection the filter is judged on. */
struct form {
	struct caps_fc fc;
	char type[128];
	char charset[64];
	bool dims_unknown; /* an image whose header could not be read */
};

/* Does the recipient accept this form? An image of unknown size must be
 * acceptable at any size (it is judged at 1x1 and at 100000x100000). */
static bool
judge(const struct caps_filter *caps, struct form *f)
{
	if (!f->dims_unknown)
		return caps_filter_match(caps, &f->fc);
	bool ok = true;
	static const int64_t dims[] = { 1, 100000 };
	for (size_t i = 0; i < 2 && ok; i++) {
		caps_fc_set_num(&f->fc, "width", dims[i]);
		caps_fc_set_num(&f->fc, "height", dims[i]);
		caps_fc_set_num(&f->fc, "pixels", dims[i] * dims[i]);
		ok = caps_filter_match(caps, &f->fc);
	}
	caps_fc_unset(&f->fc, "width");
	caps_fc_unset(&f->fc, "height");
	caps_fc_unset(&f->fc, "pixels");
	return ok;
}

static void
form_init(struct form *f, const char *type, const char *charset,
    size_t size)
{
	caps_fc_init(&f->fc);
	f->dims_unknown = false;
	f->charset[0] = '\0';
	snprintf(f->type, sizeof(f->type), "%s", type);
	caps_fc_set_str(&f->fc, "type", f->type);
	if (charset != NULL) {
		snprintf(f->charset, sizeof(f->charset), "%s", charset);
		caps_fc_set_str(&f->fc, "charset", f->charset);
	}
	caps_fc_set_num(&f->fc, "size", (int64_t)size);
}

static bool
target_ok(struct ctx *c, const struct marks *m, const struct caps_fc *fc)
{
	if (!caps_filter_match(c->caps, fc))
		return false;
	if (m->convert_to != NULL && !caps_filter_match(m->convert_to, fc)) {
		c->sender_refused = true;
		return false;
	}
	return true;
}

static void
fmt_date(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	if (strftime(out, len, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
		out[0] = '\0';
}

static void
copy_header(GMimeObject *from, GMimeObject *to, const char *name)
{
	const char *v = g_mime_object_get_header(from, name);
	if (v != NULL)
		g_mime_object_set_header(to, name, v, NULL);
}

/* A new part carrying data, with the marks and Content-Previous/-Features
 * recorded. Returns a new reference. */
static GMimeObject *
new_part(struct ctx *c, GMimeObject *old, const struct form *oldf,
    const struct form *newf, const uint8_t *data, size_t len)
{
	char sub[128], *slash;
	snprintf(sub, sizeof(sub), "%s", newf->type);
	slash = strchr(sub, '/');
	if (slash != NULL)
		*slash++ = '\0';
	GMimePart *np = g_mime_part_new_with_type(sub, slash ? slash : "");
	GMimeStream *s = g_mime_stream_mem_new_with_buffer((const char *)data,
	    len);
	GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(np, w);
	g_object_unref(w);
	g_object_unref(s);
	GMimeObject *o = GMIME_OBJECT(np);
	if (newf->charset[0] != '\0')
		g_mime_object_set_content_type_parameter(o, "charset",
		    newf->charset);
	g_mime_part_set_content_encoding(np,
	    g_mime_part_get_best_content_encoding(np,
	    GMIME_ENCODING_CONSTRAINT_7BIT));
	if (old != NULL) {
		copy_header(old, o, "Content-Disposition");
		copy_header(old, o, "Content-ID");
		copy_header(old, o, "Content-Description");
		copy_header(old, o, "Content-Convert");
		copy_header(old, o, "Content-Drucof");
	}
	char feat[512], prev[700], date[64];
	if (caps_fc_format(&newf->fc, feat, sizeof(feat)) == 0)
		g_mime_object_set_header(o, "Content-Features", feat, NULL);
	if (oldf != NULL && caps_fc_format(&oldf->fc, feat,
	    sizeof(feat)) == 0) {
		fmt_date(c->pol->now_s, date, sizeof(date));
		snprintf(prev, sizeof(prev), "Date %s; By %s; %s", date,
		    c->pol->by_domain ? c->pol->by_domain : "localhost",
		    feat);
		g_mime_object_set_header(o, "Content-Previous", prev, NULL);
	}
	return o;
}

/* The part kept from a multipart/alternative stands for the whole: record
 * the form it replaced (RFC 4141 Content-Previous) and its own form. */
static void
mark_kept_alternative(struct ctx *c, GMimeObject *keep, const char *mt)
{
	char feat[160], prev[300], date[64];
	fmt_date(c->pol->now_s, date, sizeof(date));
	snprintf(prev, sizeof(prev),
	    "Date %s; By %s; (type=multipart/alternative)", date,
	    c->pol->by_domain ? c->pol->by_domain : "localhost");
	if (g_mime_object_get_header(keep, "Content-Previous") == NULL)
		g_mime_object_set_header(keep, "Content-Previous", prev, NULL);
	if (g_mime_object_get_header(keep, "Content-Features") == NULL) {
		snprintf(feat, sizeof(feat), "(type=%s)", mt);
		g_mime_object_set_header(keep, "Content-Features", feat, NULL);
	}
}

/* Plainest first: us-ascii only succeeds (exactly) when the text is
 * ASCII; then UTF-8, which holds everything. */
static const char *const charsets[] = { "us-ascii", "utf-8", "iso-8859-1",
	"iso-8859-15", "windows-1252" };

/* Try the charsets (exact, then approximated) for text already in UTF-8
 * (or in `from`). Returns a new part or NULL. */
static GMimeObject *
try_charsets(struct ctx *c, GMimeObject *old, const struct form *oldf,
    const char *type, const char *from, const uint8_t *text, size_t n,
    const struct marks *m, const char *path, bool *lossy)
{
	struct buf b = BUF_INIT;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < GW_ARRAY_LEN(charsets); i++) {
			bool lost = false;
			if (conv_text_charset(from, charsets[i], text, n, &b,
			    pass == 1, &lost) < 0)
				continue;
			struct form nf;
			form_init(&nf, type, charsets[i], b.len);
			if (!target_ok(c, m, &nf.fc))
				continue;
			GMimeObject *o = new_part(c, old, oldf, &nf, b.data,
			    b.len);
			if (lost)
				*lossy = true;
			note(c, path, "%s; charset=%s -> %s; charset=%s%s",
			    oldf->type, oldf->charset[0] ? oldf->charset :
			    "us-ascii", type, charsets[i],
			    lost ? " (approximated)" : "");
			buf_fini(&b);
			return o;
		}
	}
	buf_fini(&b);
	return NULL;
}

struct img_arg {
	struct ctx *c;
	const struct marks *m;
};

static bool
img_fits(void *arg, const char *type, uint32_t w, uint32_t h, size_t bytes)
{
	struct img_arg *a = arg;
	struct form f;
	form_init(&f, type, NULL, bytes == CONV_IMAGE_SIZE_UNKNOWN ? 0 :
	    bytes);
	if (bytes == CONV_IMAGE_SIZE_UNKNOWN)
		caps_fc_unset(&f.fc, "size");
	caps_fc_set_num(&f.fc, "width", w);
	caps_fc_set_num(&f.fc, "height", h);
	caps_fc_set_num(&f.fc, "pixels", (int64_t)w * h);
	return target_ok(a->c, a->m, &f.fc);
}

static GMimeObject *
omission_note(struct ctx *c, GMimeObject *old, const char *type,
    size_t size, const char *path)
{
	char text[600];
	const char *fn = GMIME_IS_PART(old) ?
	    g_mime_part_get_filename(GMIME_PART(old)) : NULL;
	snprintf(text, sizeof(text),
	    "A part of this message was removed in transit by %s because\r\n"
	    "the recipient cannot use it and the sender allowed omission.\r\n"
	    "Removed: %s, %zu octets%s%s%s.\r\n",
	    c->pol->by_domain ? c->pol->by_domain : "a mail gateway", type,
	    size, fn ? ", file \"" : "", fn ? fn : "", fn ? "\"" : "");
	struct form of, nf;
	form_init(&of, type, NULL, size);
	form_init(&nf, "text/plain", "us-ascii", strlen(text));
	GMimeObject *o = new_part(c, NULL, &of, &nf, (const uint8_t *)text,
	    strlen(text));
	copy_header(old, o, "Content-Drucof");
	g_mime_object_set_header(o, "Content-Description",
	    "omitted part", NULL);
	note(c, path, "%s omitted", type);
	c->rep->n_omitted++;
	c->rep->lossy = true;
	return o;
}

/* Describe a leaf as it is. Fills data (decoded, caller frees) for
 * GMimeParts. */
static void
describe(GMimeObject *o, struct form *f, GByteArray **data)
{
	char *mt = mime_type_of(o);
	const char *cs = g_mime_object_get_content_type_parameter(o,
	    "charset");
	bool text = strncasecmp(mt, "text/", 5) == 0;
	*data = NULL;
	size_t size = 0;
	if (GMIME_IS_PART(o)) {
		*data = decoded(GMIME_PART(o));
		size = (*data)->len;
	} else {
		/* message/rfc822 and others: judged by type and size */
		GMimeStream *ms = g_mime_stream_null_new();
		g_mime_object_write_to_stream(o, NULL, ms);
		size = (size_t)g_mime_stream_length(ms);
		g_object_unref(ms);
	}
	form_init(f, mt, text ? (cs ? cs : "us-ascii") : NULL, size);
	if (*data != NULL && conv_image_supported(mt)) {
		uint32_t w = 0, h = 0;
		if (conv_image_probe(mt, (*data)->data, (*data)->len, &w,
		    &h) == 0) {
			caps_fc_set_num(&f->fc, "width", w);
			caps_fc_set_num(&f->fc, "height", h);
			caps_fc_set_num(&f->fc, "pixels", (int64_t)w * h);
		} else {
			f->dims_unknown = true;
		}
	}
	g_free(mt);
}

/* Judge a subtree without changing it: are all critical leaves usable?
 * strict: a multipart/alternative needs every alternative usable (else
 * one usable alternative is enough). */
static bool
usable(struct ctx *c, GMimeObject *o, const struct marks *in, int depth,
    bool strict)
{
	struct marks m = read_marks(c, o, in, false);
	if (depth > CONV_MAX_DEPTH)
		return false;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		GMimeContentType *ct = g_mime_object_get_content_type(o);
		int n = g_mime_multipart_get_count(mp);
		if (g_mime_content_type_is_type(ct, "multipart", "signed")) {
			/* the signed content; the signature is metadata */
			return n < 1 || usable(c,
			    g_mime_multipart_get_part(mp, 0), &m, depth + 1,
			    strict);
		}
		if (g_mime_content_type_is_type(ct, "multipart",
		    "encrypted")) {
			struct form f;
			form_init(&f, "multipart/encrypted", NULL, 0);
			caps_fc_unset(&f.fc, "size");
			return !m.critical || caps_filter_match(c->caps, &f.fc);
		}
		if (g_mime_content_type_is_type(ct, "multipart",
		    "alternative")) {
			int ok = 0;
			for (int i = n - 1; i >= 0; i--)
				if (usable(c, g_mime_multipart_get_part(mp, i),
				    &m, depth + 1, strict))
					ok++;
			return strict ? ok == n : (ok > 0 || n == 0);
		}
		for (int i = 0; i < n; i++)
			if (!usable(c, g_mime_multipart_get_part(mp, i), &m,
			    depth + 1, strict))
				return false;
		return true;
	}
	if (!m.critical)
		return true;
	struct form f;
	GByteArray *data;
	describe(o, &f, &data);
	if (data != NULL)
		g_byte_array_unref(data);
	return judge(c->caps, &f);
}

static GMimeObject *walk(struct ctx *c, GMimeObject *o,
    const struct marks *in, const char *path, int depth);

/* Convert one leaf; returns a replacement (new ref) or NULL to keep. */
static GMimeObject *
leaf(struct ctx *c, GMimeObject *o, const struct marks *m, const char *path)
{
	struct form f;
	GByteArray *data;
	describe(o, &f, &data);
	GMimeObject *res = NULL;
	if (judge(c->caps, &f))
		goto done;
	if (m->critical)
		c->unusable_critical = true;
	if (m->perm == PERM_PROHIBITED) {
		note(c, path, "%s unusable, conversion prohibited", f.type);
		if (m->critical)
			fail(c, "5.6.2");
		goto done;
	}
	bool tried = false, lossy = false;
	bool text = strncasecmp(f.type, "text/", 5) == 0;
	c->sender_refused = false;
	if (data != NULL && text) {
		tried = true;
		const char *from = f.charset[0] ? f.charset : "us-ascii";
		/* same type, other charset */
		res = try_charsets(c, o, &f, f.type, from, data->data,
		    data->len, m, path, &lossy);
		if (res == NULL && strcasecmp(f.type, "text/html") == 0) {
			struct buf u = BUF_INIT, t = BUF_INIT;
			bool lost = false;
			if (conv_text_charset(from, "utf-8", data->data,
			    data->len, &u, true, &lost) == 0) {
				conv_text_html_to_plain(u.data, u.len, &t);
				lossy = true;
				res = try_charsets(c, o, &f, "text/plain",
				    "utf-8", t.data, t.len, m, path, &lossy);
			}
			buf_fini(&u);
			buf_fini(&t);
		}
	} else if (data != NULL && conv_image_supported(f.type)) {
		tried = true;
		struct buf out = BUF_INIT;
		struct img_arg ia = { c, m };
		const char *nt = NULL;
		uint32_t w = 0, h = 0;
		int rc = conv_image_fit(f.type, data->data, data->len,
		    img_fits, &ia, &out, &nt, &w, &h);
		if (rc == 0) {
			struct form nf;
			form_init(&nf, nt, NULL, out.len);
			caps_fc_set_num(&nf.fc, "width", w);
			caps_fc_set_num(&nf.fc, "height", h);
			caps_fc_set_num(&nf.fc, "pixels", (int64_t)w * h);
			res = new_part(c, o, &f, &nf, out.data, out.len);
			if (strcmp(nt, f.type) != 0)
				g_mime_part_set_filename(GMIME_PART(res),
				    strcmp(nt, "image/png") == 0 ?
				    "image.png" : "image.jpg");
			lossy = true;
			note(c, path, "%s %zu octets -> %s %ux%u %zu octets",
			    f.type, (size_t)data->len, nt, w, h, out.len);
		}
		buf_fini(&out);
	}
	if (res != NULL) {
		c->rep->n_converted++;
		if (lossy)
			c->rep->lossy = true;
	} else if (m->perm == PERM_OMIT) {
		res = omission_note(c, o, f.type, data ? data->len : 0, path);
	} else if (m->critical && c->sender_refused) {
		/* we could have made a usable form, but not one the sender's
		 * Content-Convert allows */
		note(c, path, "%s unusable, the usable forms are not permitted",
		    f.type);
		fail(c, "5.6.2");
	} else if (m->critical) {
		note(c, path, "%s unusable, %s", f.type, tried ?
		    "conversion failed" : "no conversion available");
		fail(c, tried ? "5.6.5" : "5.6.3");
	}
done:
	if (data != NULL)
		g_byte_array_unref(data);
	return res;
}

static GMimeObject *
alternative(struct ctx *c, GMimeObject *o, const struct marks *m,
    const char *path, int depth)
{
	GMimeMultipart *mp = GMIME_MULTIPART(o);
	int n = g_mime_multipart_get_count(mp);
	if (n == 0)
		return NULL;
	bool all = true;
	int best = -1;
	for (int i = n - 1; i >= 0; i--) {
		if (usable(c, g_mime_multipart_get_part(mp, i), m,
		    depth + 1, false)) {
			if (best < 0)
				best = i;
		} else {
			all = false;
		}
	}
	if (all)
		return NULL;
	if (m->perm == PERM_PROHIBITED) {
		if (best >= 0)
			return NULL; /* a usable form is already there */
		note(c, path, "multipart/alternative unusable, conversion "
		    "prohibited");
		if (m->critical)
			fail(c, "5.6.2");
		c->unusable_critical |= m->critical;
		return NULL;
	}
	if (best >= 0) {
		GMimeObject *keep = g_mime_multipart_get_part(mp, best);
		g_object_ref(keep);
		char *mt = mime_type_of(keep);
		note(c, path, "multipart/alternative -> %s (dropped %d)", mt,
		    n - 1);
		c->rep->n_alternatives_dropped += (unsigned)(n - 1);
		mark_kept_alternative(c, keep, mt);
		g_free(mt);
		return keep;
	}
	/* None usable as is: convert the most preferred that converts. */
	c->unusable_critical |= m->critical;
	const char *saved = c->fail;
	for (int i = n - 1; i >= 0; i--) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);
		char sub[64];
		snprintf(sub, sizeof(sub), "%s.%d", path, i + 1);
		c->fail = NULL;
		GMimeObject *r = walk(c, child, m, sub, depth + 1);
		if (c->fail == NULL) {
			c->fail = saved;
			if (r == NULL) {
				r = child;
				g_object_ref(r);
			}
			c->rep->n_alternatives_dropped += (unsigned)(n - 1);
			char *kmt = mime_type_of(r);
			mark_kept_alternative(c, r, kmt);
			g_free(kmt);
			note(c, path, "multipart/alternative: kept part %d",
			    i + 1);
			return r;
		}
		if (r != NULL)
			g_object_unref(r);
	}
	/* keep the last (most specific) failure */
	return NULL;
}

static GMimeObject *
protected_part(struct ctx *c, GMimeObject *o, const struct marks *m,
    const char *path, int depth)
{
	if (usable(c, o, m, depth, false))
		return NULL;
	char *mt = mime_type_of(o);
	GMimeObject *res = NULL;
	c->unusable_critical |= m->critical;
	if (m->perm == PERM_OMIT) {
		GMimeStream *ns = g_mime_stream_null_new();
		g_mime_object_write_to_stream(o, NULL, ns);
		size_t size = (size_t)g_mime_stream_length(ns);
		g_object_unref(ns);
		res = omission_note(c, o, mt, size, path);
	} else if (m->critical) {
		note(c, path, "%s unusable, protected content is not "
		    "converted", mt);
		fail(c, "5.6.2");
	}
	g_free(mt);
	return res;
}

static GMimeObject *
walk(struct ctx *c, GMimeObject *o, const struct marks *in, const char *path,
    int depth)
{
	struct marks m = read_marks(c, o, in, true);
	if (depth > CONV_MAX_DEPTH) {
		note(c, path, "nesting too deep");
		fail(c, "5.6.5");
		return NULL;
	}
	if (is_protected(o))
		return protected_part(c, o, &m, path, depth);
	if (!GMIME_IS_MULTIPART(o))
		return leaf(c, o, &m, path);
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	if (g_mime_content_type_is_type(ct, "multipart", "alternative"))
		return alternative(c, o, &m, path, depth);
	GMimeMultipart *mp = GMIME_MULTIPART(o);
	int n = g_mime_multipart_get_count(mp);
	for (int i = 0; i < n; i++) {
		char sub[64];
		snprintf(sub, sizeof(sub), "%s.%d", path, i + 1);
		GMimeObject *r = walk(c, g_mime_multipart_get_part(mp, i), &m,
		    sub, depth + 1);
		if (r != NULL) {
			GMimeObject *old = g_mime_multipart_replace(mp, i, r);
			g_object_unref(old);
			g_object_unref(r);
			c->changed = true;
		}
	}
	return NULL;
}

static void
serialise(GMimeMessage *msg, struct buf *out)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo,
	    GMIME_NEWLINE_FORMAT_DOS);
	GMimeStream *ms = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(GMIME_OBJECT(msg), fo, ms);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(
	    GMIME_STREAM_MEM(ms));
	buf_reset(out);
	buf_append(out, ba->data, ba->len);
	/* SMTP needs the last line ended (a kept alternative may not be) */
	if (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0)
		buf_append_str(out, "\r\n");
	g_object_unref(ms);
	g_mime_format_options_free(fo);
}

static bool
size_ok(struct ctx *c, size_t len)
{
	struct caps_fc fc;
	caps_fc_init(&fc);
	caps_fc_set_num(&fc, "message-size", (int64_t)len);
	return caps_filter_match(c->caps, &fc);
}

int
conv_run(const uint8_t *msg, size_t len, const struct conv_policy *pol,
    const struct caps_filter *caps, struct buf *out, struct conv_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->result = CONV_UNCHANGED;
	buf_reset(out);
	if (len > CONV_MAX_MESSAGE)
		return GW_ETOOBIG;
	if (caps == NULL)
		return 0;
	struct ctx c;
	memset(&c, 0, sizeof(c));
	c.pol = pol;
	c.caps = caps;
	c.rep = rep;

	GMimeStream *st = g_mime_stream_mem_new_with_buffer(
	    (const char *)msg, len);
	GMimeParser *pr = g_mime_parser_new_with_stream(st);
	GMimeMessage *m = g_mime_parser_construct_message(pr, NULL);
	g_object_unref(pr);
	g_object_unref(st);
	GMimeObject *root = m != NULL ? g_mime_message_get_mime_part(m) : NULL;
	struct marks top = { PERM_PROHIBITED, true, false, NULL };
	if (pol->drucof)
		top.perm = PERM_PERMITTED;
	if (root == NULL) {
		/* Nothing MIME can read; judge as opaque text. */
		struct caps_fc fc;
		caps_fc_init(&fc);
		caps_fc_set_str(&fc, "type", "text/plain");
		caps_fc_set_num(&fc, "message-size", (int64_t)len);
		rep->usable_as_is = caps_filter_match(caps, &fc);
		if (!rep->usable_as_is && (pol->drucof || pol->conperm)) {
			rep->result = CONV_FAILED;
			rep->status = "5.6.5";
			note(&c, "1", "message not readable as MIME");
		}
		if (m != NULL)
			g_object_unref(m);
		return 0;
	}
	/* Usable as is: the recipient can use the message unchanged (one
	 * usable alternative is enough). Even then, with permission,
	 * unusable alternatives are dropped (they cost airtime). */
	rep->usable_as_is = usable(&c, root, &top, 0, false) &&
	    size_ok(&c, len);
	if (!pol->drucof && !pol->conperm)
		goto out;
	if (usable(&c, root, &top, 0, true) && size_ok(&c, len))
		goto out;
	GMimeObject *r = walk(&c, root, &top, "1", 0);
	if (r != NULL) {
		g_mime_message_set_mime_part(m, r);
		g_object_unref(r);
		c.changed = true;
	}
	if (c.fail != NULL) {
		rep->result = CONV_FAILED;
		rep->status = c.fail;
		rep->lossy = false;
		goto out;
	}
	if (!c.changed) {
		/* only non-critical parts were unusable: usable for DRUCOF */
		rep->usable_as_is = true;
		goto out;
	}
	serialise(m, out);
	if (!size_ok(&c, out->len)) {
		buf_reset(out);
		rep->result = CONV_FAILED;
		rep->status = "5.6.3";
		note(&c, "1", "message still over the recipient's size");
		goto out;
	}
	rep->result = CONV_CONVERTED;
	if (rep->lossy)
		rep->status = "2.6.4";
out:
	for (size_t i = 0; i < c.nowned; i++)
		caps_filter_free(c.owned[i]);
	g_object_unref(m);
	return 0;
}
