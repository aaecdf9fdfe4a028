/*
 * test_conv.c - the conversion engine on before/after fixtures: charset,
 * HTML to text, alternatives, omission, images; prohibited and signed
 * parts left alone; failures mapped to 5.6.x codes and carried in a DSN
 * that parses back.
 *
 * Golden outputs are fixtures/<name>.ref; SKYWAVE_REGEN=1 rewrites them.
 */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conv.h"
#include "gateway/conneg/conv_image.h"
#include "gateway/mail/dsn.h"

#include <glib.h>
#include <png.h>
#include <stdbool.h>

static uint8_t *
load(const char *name, size_t *len)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "tests/conneg/fixtures/%s", name);
	char *path = tu_src_path(rel);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	free(path);
	uint8_t *p = malloc(1 << 20);
	*len = fread(p, 1, 1 << 20, f);
	fclose(f);
	return p;
}

struct run {
	struct conv_report rep;
	struct buf out;
	uint8_t *in;
	size_t in_len;
};

static void
run_msg(struct run *r, const uint8_t *msg, size_t len, const char *caps,
    bool conperm, bool drucof)
{
	struct caps_filter *f = NULL;
	if (caps != NULL)
		assert_int_equal(caps_filter_parse(caps, &f, NULL), 0);
	struct conv_policy pol = { conperm, drucof, "near.example",
		1795000000 };
	buf_init(&r->out);
	assert_int_equal(conv_run(msg, len, &pol, f, &r->out, &r->rep), 0);
	if (getenv("CONV_TRACE") != NULL)
		fprintf(stderr, "result %d status %s detail %s\n",
		    r->rep.result, r->rep.status ? r->rep.status : "-",
		    r->rep.detail);
	caps_filter_free(f);
	if (r->rep.result == CONV_CONVERTED) {
		assert_true(r->out.len > 0);
		/* CRLF only */
		for (size_t i = 0; i < r->out.len; i++)
			if (r->out.data[i] == '\n')
				assert_true(i > 0 &&
				    r->out.data[i - 1] == '\r');
	} else {
		assert_int_equal(r->out.len, 0);
	}
}

static void
run(struct run *r, const char *fixture, const char *caps, bool conperm,
    bool drucof)
{
	r->in = load(fixture, &r->in_len);
	run_msg(r, r->in, r->in_len, caps, conperm, drucof);
}

static void
done(struct run *r)
{
	buf_fini(&r->out);
	free(r->in);
	r->in = NULL;
}

static void
golden(const char *name, const struct buf *out)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "tests/conneg/fixtures/%s", name);
	char *path = tu_src_path(rel);
	if (getenv("SKYWAVE_REGEN") != NULL) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(out->data, 1, out->len, f);
		fclose(f);
	}
	free(path);
	size_t len;
	uint8_t *ref = load(name, &len);
	if (len != out->len || memcmp(ref, out->data, len) != 0)
		fail_msg("%s differs from the output:\n%s", name,
		    (const char *)out->data);
	free(ref);
}

static bool
contains(const struct buf *b, const char *s)
{
	return b->data != NULL && strstr((const char *)b->data, s) != NULL;
}

static void
test_charset(void **state)
{
	(void)state;
	struct run r;
	run(&r, "charset.eml", "(&(type=text/plain)(charset=utf-8))", false,
	    true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_false(r.rep.lossy); /* latin-1 to UTF-8 is exact */
	assert_null(r.rep.status);
	assert_int_equal(r.rep.n_converted, 1);
	assert_true(contains(&r.out, "charset=utf-8"));
	assert_true(contains(&r.out, "Content-Previous: Date "));
	assert_true(contains(&r.out, "By near.example;"));
	assert_true(contains(&r.out, "(charset=iso-8859-1)"));
	assert_true(contains(&r.out, "Content-Features: (&(type=text/plain)"
	    "(charset=utf-8)"));
	assert_true(contains(&r.out, "Subject: charset"));
	golden("charset.ref", &r.out);
	done(&r);
	/* already usable: unchanged, nothing written */
	run(&r, "charset.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	assert_true(r.rep.usable_as_is);
	done(&r);
}

static void
test_html(void **state)
{
	(void)state;
	struct run r;
	run(&r, "html.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_true(r.rep.lossy);
	assert_string_equal(r.rep.status, "2.6.4");
	assert_true(contains(&r.out, "Content-Type: text/plain"));
	assert_true(contains(&r.out, "Weather\r\n\r\nWind & sea: force 5."));
	assert_true(contains(&r.out, "* North\r\n* South"));
	assert_true(contains(&r.out, "the chart <http://wx.example/>"));
	assert_true(contains(&r.out, "End here."));
	assert_false(contains(&r.out, "color:red"));
	assert_false(contains(&r.out, "<p>"));
	golden("html.ref", &r.out);
	done(&r);
}

static void
test_alternative(void **state)
{
	(void)state;
	struct run r;
	run(&r, "alternative.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_false(r.rep.lossy);
	assert_int_equal(r.rep.n_alternatives_dropped, 1);
	assert_true(contains(&r.out, "Plain words."));
	assert_false(contains(&r.out, "Rich"));
	assert_false(contains(&r.out, "Content-Type: multipart/alternative"));
	/* (folded by the writer after "By near.example;") */
	assert_true(contains(&r.out, "Content-Previous: Date Wed, 18 Nov "
	    "2026 11:06:40 +0000; By near.example;"));
	assert_true(contains(&r.out, " (type=multipart/alternative)\r\n"));
	assert_true(contains(&r.out, "Content-Features: (type=text/plain)"));
	golden("alternative.ref", &r.out);
	done(&r);
	/* HTML-only recipient keeps the HTML alternative */
	run(&r, "alternative.eml", "(type=text/html)", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_true(contains(&r.out, "Rich"));
	assert_false(contains(&r.out, "Plain words."));
	assert_true(contains(&r.out, "(type=multipart/alternative)"));
	done(&r);
	/* both usable: nothing to do */
	run(&r, "alternative.eml", "(type=text/*)", false, true);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	assert_true(r.rep.usable_as_is);
	done(&r);
}

static void
test_omission(void **state)
{
	(void)state;
	struct run r;
	run(&r, "omission.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_int_equal(r.rep.n_omitted, 1);
	assert_true(r.rep.lossy);
	assert_true(contains(&r.out, "Report attached."));
	assert_true(contains(&r.out, "Removed: application/pdf"));
	assert_true(contains(&r.out, "file \"report.pdf\""));
	assert_true(contains(&r.out, "Content-Drucof: omission-permitted"));
	assert_false(contains(&r.out, "JVBERi0"));
	golden("omission.ref", &r.out);
	done(&r);
	/* the same attachment without the mark: critical, no converter */
	run(&r, "pdf.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.3");
	done(&r);
	/* non-critical unusable part: delivered as is */
	run(&r, "noncritical.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	assert_true(r.rep.usable_as_is);
	done(&r);
}

static void
test_prohibited_and_signed(void **state)
{
	(void)state;
	struct run r;
	static const char *const prohibited[] = { "prohibited.eml",
		"prohibited-drucof.eml" };
	for (size_t i = 0; i < 2; i++) {
		run(&r, prohibited[i], "(type=text/plain)", false, true);
		assert_int_equal(r.rep.result, CONV_FAILED);
		assert_string_equal(r.rep.status, "5.6.2");
		done(&r);
		run(&r, prohibited[i], "(type=text/plain)", true, false);
		assert_int_equal(r.rep.result, CONV_FAILED);
		assert_string_equal(r.rep.status, "5.6.2");
		done(&r);
	}
	/* signed: never converted */
	run(&r, "signed.eml", "(type=text/plain)", false, true);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.2");
	done(&r);
	run(&r, "signed.eml", "(type=text/html)", false, true);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	assert_true(r.rep.usable_as_is);
	done(&r);
	/* CONPERM alone: an unmarked part may not be converted (RFC 4141) */
	run(&r, "html.eml", "(type=text/plain)", true, false);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.2");
	done(&r);
	/* ... but Content-Convert: ANY permits it */
	run(&r, "conperm-any.eml", "(type=text/plain)", true, false);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_true(contains(&r.out, "Content-Convert: ANY"));
	assert_true(contains(&r.out, "Convert me."));
	done(&r);
	/* the sender asked nothing: never converted */
	run(&r, "html.eml", "(type=text/plain)", false, false);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	assert_false(r.rep.usable_as_is);
	done(&r);
	/* no specific knowledge of the recipient: never converted */
	run(&r, "html.eml", NULL, true, true);
	assert_int_equal(r.rep.result, CONV_UNCHANGED);
	done(&r);
}

static void
test_convert_filter_and_translit(void **state)
{
	(void)state;
	static const char msg[] = "From: a@x\r\nTo: b@y\r\nSubject: t\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "Content-Convert: (charset=[us-ascii,iso-8859-1])\r\n\r\n"
	    "Price: 5 \xe2\x82\xac, caf\xc3\xa9\r\n";
	struct run r;
	/* the recipient takes latin-1 or UTF-8, the sender allows latin-1
	 * or ASCII: the intersection is latin-1, and the euro sign is not
	 * in latin-1, so it is approximated (lossy) */
	run_msg(&r, (const uint8_t *)msg, sizeof(msg) - 1,
	    "(&(type=text/plain)(charset=[iso-8859-1,windows-1252]))", false,
	    true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_true(r.rep.lossy);
	assert_string_equal(r.rep.status, "2.6.4");
	assert_true(contains(&r.out, "charset=iso-8859-1"));
	assert_true(contains(&r.out, "Content-Convert: (charset=[us-ascii,"
	    "iso-8859-1])"));
	assert_true(contains(&r.out, "EUR"));
	assert_false(contains(&r.out, "windows-1252"));
	buf_fini(&r.out);
	/* the sender's filter and the recipient's have nothing in common:
	 * a usable form exists but is not permitted */
	run_msg(&r, (const uint8_t *)msg, sizeof(msg) - 1,
	    "(&(type=text/plain)(charset=windows-1252))", false, true);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.2");
	buf_fini(&r.out);
}

/* ---- images ---- */

static void
make_png(uint32_t w, uint32_t h, struct buf *out)
{
	uint8_t *px = malloc((size_t)w * h * 3);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint8_t *p = px + ((size_t)y * w + x) * 3;
			p[0] = (uint8_t)(x * 255 / w);
			p[1] = (uint8_t)(y * 255 / h);
			p[2] = (uint8_t)((x ^ y) & 0xff);
		}
	png_image pi;
	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	pi.width = w;
	pi.height = h;
	pi.format = PNG_FORMAT_RGB;
	png_alloc_size_t len = (size_t)w * h * 4 + 4096;
	buf_reset(out);
	buf_reserve(out, len);
	assert_true(png_image_write_to_memory(&pi, out->data, &len, 0, px, 0,
	    NULL));
	out->len = len;
	free(px);
}

static bool
want_jpeg(void *arg, const char *type, uint32_t w, uint32_t h, size_t n)
{
	(void)arg;
	(void)w;
	(void)h;
	(void)n;
	return strcmp(type, "image/jpeg") == 0;
}

static void
image_message(const char *type, const struct buf *img, struct buf *msg)
{
	gchar *b64 = g_base64_encode(img->data, img->len);
	buf_reset(msg);
	buf_appendf(msg, "From: a@near.example\r\nTo: b@ship.example\r\n"
	    "Subject: image\r\nMIME-Version: 1.0\r\nContent-Type: "
	    "multipart/mixed; boundary=\"bi\"\r\n\r\n--bi\r\n"
	    "Content-Type: text/plain\r\n\r\nPicture.\r\n--bi\r\n"
	    "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"pic\"\r\n\r\n",
	    type);
	for (size_t i = 0, n = strlen(b64); i < n; i += 76) {
		buf_append(msg, b64 + i, n - i < 76 ? n - i : 76);
		buf_append_str(msg, "\r\n");
	}
	buf_append_str(msg, "--bi--\r\n");
	g_free(b64);
}

/* Find the image part of a converted message and probe it. */
static void
probe_out(const struct buf *out, const char *type, uint32_t *w, uint32_t *h,
    size_t *size)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "Content-Type: %s", type);
	const char *p = strstr((const char *)out->data, needle);
	assert_non_null(p);
	p = strstr(p, "\r\n\r\n");
	assert_non_null(p);
	p += 4;
	const char *e = strstr(p, "\r\n--");
	assert_non_null(e);
	gchar *b64 = g_strndup(p, (gsize)(e - p));
	gsize n = 0;
	guchar *bin = g_base64_decode(b64, &n);
	assert_int_equal(conv_image_probe(type, bin, n, w, h), 0);
	*size = n;
	g_free(bin);
	g_free(b64);
}

static void
test_images(void **state)
{
	(void)state;
	struct buf png = BUF_INIT, jpg = BUF_INIT, msg = BUF_INIT;
	make_png(800, 600, &png);
	const char *t = NULL;
	uint32_t w = 0, h = 0;
	assert_int_equal(conv_image_fit("image/png", png.data, png.len,
	    want_jpeg, NULL, &jpg, &t, &w, &h), 0);
	assert_string_equal(t, "image/jpeg");
	assert_int_equal(w, 800);
	assert_int_equal(h, 600);

	/* JPEG over the recipient's dimensions: reduced, same type */
	struct run r;
	image_message("image/jpeg", &jpg, &msg);
	run_msg(&r, msg.data, msg.len, "(|(type=text/plain)(&(type=image/jpeg)"
	    "(width<=200)(height<=200)(size<=20000)))", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	assert_true(r.rep.lossy);
	assert_string_equal(r.rep.status, "2.6.4");
	size_t size = 0;
	probe_out(&r.out, "image/jpeg", &w, &h, &size);
	assert_true(w <= 200 && h <= 200 && w >= 100);
	assert_true(size <= 20000);
	assert_true(contains(&r.out, "(width=800)(height=600)"));
	buf_fini(&r.out);

	/* PNG for a JPEG-only recipient with a pixel budget */
	image_message("image/png", &png, &msg);
	run_msg(&r, msg.data, msg.len, "(|(type=text/plain)(&(type=image/jpeg)"
	    "(pixels<=50000)))", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	probe_out(&r.out, "image/jpeg", &w, &h, &size);
	assert_true((uint64_t)w * h <= 50000);
	buf_fini(&r.out);

	/* PNG kept PNG when PNG is allowed, within a byte budget */
	run_msg(&r, msg.data, msg.len, "(|(type=text/plain)(&(type=image/png)"
	    "(size<=3000)))", false, true);
	assert_int_equal(r.rep.result, CONV_CONVERTED);
	probe_out(&r.out, "image/png", &w, &h, &size);
	assert_true(size <= 3000 && w < 800);
	buf_fini(&r.out);

	/* impossible budget: conversion failed */
	run_msg(&r, msg.data, msg.len, "(|(type=text/plain)(&(type=image/*)"
	    "(size<=10)))", false, true);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.5");
	buf_fini(&r.out);

	/* corrupt image: conversion failed */
	buf_truncate(&jpg, 200);
	image_message("image/jpeg", &jpg, &msg);
	run_msg(&r, msg.data, msg.len, "(|(type=text/plain)(&(type=image/jpeg)"
	    "(width<=100)))", false, true);
	assert_int_equal(r.rep.result, CONV_FAILED);
	assert_string_equal(r.rep.status, "5.6.5");
	buf_fini(&r.out);
	buf_fini(&png);
	buf_fini(&jpg);
	buf_fini(&msg);
}

/* Every failure code travels in a DSN that parses back. */
static void
test_failure_dsn(void **state)
{
	(void)state;
	struct {
		const char *fixture, *caps, *status;
	} cases[] = {
		{ "prohibited.eml", "(type=text/plain)", "5.6.2" },
		{ "pdf.eml", "(type=text/plain)", "5.6.3" },
		{ "signed.eml", "(type=text/plain)", "5.6.2" },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		struct run r;
		run(&r, cases[i].fixture, cases[i].caps, false, true);
		assert_int_equal(r.rep.result, CONV_FAILED);
		assert_string_equal(r.rep.status, cases[i].status);
		struct queue_envelope orig;
		memset(&orig, 0, sizeof(orig));
		orig.reverse_path = (char *)"a@near.example";
		orig.arrival = 1795000000;
		orig.ret = QUEUE_RET_HDRS;
		char diag[900];
		snprintf(diag, sizeof(diag), "smtp; 554 %s %s",
		    r.rep.status, r.rep.detail);
		struct dsn_rcpt dr = { .final_rcpt = "b@ship.example",
			.action = DSN_FAILED, .status = r.rep.status,
			.diag = diag };
		struct dsn_report rep = { .reporting_mta = "near.example",
			.orig = &orig, .rcpts = &dr, .nrcpts = 1,
			.content = r.in, .content_len = r.in_len,
			.now_s = 1795000100 };
		struct queue_envelope *env = NULL;
		struct buf dsn = BUF_INIT;
		assert_int_equal(dsn_build(&rep, &env, &dsn), 0);
		struct dsn_parsed *p = calloc(1, sizeof(*p));
		assert_int_equal(dsn_parse(dsn.data, dsn.len, p), 0);
		assert_int_equal(p->nrcpts, 1);
		assert_string_equal(p->rcpts[0].status, cases[i].status);
		assert_string_equal(p->rcpts[0].action, "failed");
		assert_non_null(strstr(p->rcpts[0].diag, cases[i].status));
		free(p);
		buf_fini(&dsn);
		queue_envelope_free(env);
		done(&r);
	}
}

static int
teardown(void **state)
{
	(void)state;
	conv_shutdown();
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	conv_init();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_charset),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_alternative),
		cmocka_unit_test(test_omission),
		cmocka_unit_test(test_prohibited_and_signed),
		cmocka_unit_test(test_convert_filter_and_translit),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_failure_dsn),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
