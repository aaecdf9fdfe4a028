/*
 * test_fuzz.c - random and mutated MIME, filters and HTML for a few seconds
 * (run under ASan+UBSan). Invariants: nothing crashes or leaks; conv_run
 * always returns 0 with a consistent report; pack/unpack always gives the
 * input back; a filter that parses can be evaluated.
 *
 * Seed: $SKYWAVE_SEED (printed); duration: $CONNEG_FUZZ_SECONDS (3).
 */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"
#include "gateway/conneg/conv_text.h"

#include <stdbool.h>
#include <time.h>

static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t
rndn(size_t n)
{
	return n == 0 ? 0 : (size_t)(rnd() % n);
}

static const char *const fixtures[] = { "alternative.eml", "charset.eml",
	"conperm-any.eml", "html.eml", "noncritical.eml", "omission.eml",
	"pdf.eml", "prohibited-drucof.eml", "prohibited.eml", "signed.eml" };

static const char *const capsets[] = {
	"(type=text/plain)", "(type=text/*)", "(type=text/html)",
	"(&(type=text/plain)(charset=utf-8))",
	"(|(type=text/plain)(&(type=image/*)(width<=64)(size<=4000)))",
	"(&(type=[text/plain,application/pdf])(message-size<=600))",
	"(!(type=application/*))",
};

static const char *const tokens[] = { "\r\n", "--b1", "--b2--", "--b3\r\n",
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
	"Content-Type: multipart/alternative; boundary=b2\r\n",
	"Content-Type: image/png\r\n", "Content-Type: image/jpeg\r\n",
	"Content-Transfer-Encoding: base64\r\n",
	"Content-Transfer-Encoding: quoted-printable\r\n",
	"Content-Convert: NONE\r\n", "Content-Convert: (type=text/plain\r\n",
	"Content-Drucof: omission-permitted; critical=no\r\n",
	"charset=\"x-unknown\"", "=E9=", "====", "<p>", "&#x110000;",
	"\xff\xfe",
	"multipart/signed", "\r\n\r\n" };

static uint8_t *
load(const char *name, size_t *len)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "tests/conneg/fixtures/%s", name);
	char *path = tu_src_path(rel);
	FILE *f = fopen(path, "rb");
	free(path);
	assert_non_null(f);
	uint8_t *p = malloc(1 << 16);
	*len = fread(p, 1, 1 << 16, f);
	fclose(f);
	return p;
}

static void
mutate(struct buf *m)
{
	int k = 1 + (int)rndn(6);
	for (int i = 0; i < k && m->len > 0; i++) {
		size_t at = rndn(m->len);
		switch (rndn(5)) {
		case 0: /* flip */
			m->data[at] ^= (uint8_t)(1u << rndn(8));
			break;
		case 1: { /* insert a token */
			const char *t = tokens[rndn(GW_ARRAY_LEN(tokens))];
			struct buf n = BUF_INIT;
			buf_append(&n, m->data, at);
			buf_append_str(&n, t);
			buf_append(&n, m->data + at, m->len - at);
			buf_swap(&n, m);
			buf_fini(&n);
			break;
		}
		case 2: /* truncate */
			buf_truncate(m, at);
			break;
		case 3: { /* duplicate a chunk */
			size_t l = rndn(m->len - at + 1);
			if (l > 2000)
				l = 2000;
			struct buf n = BUF_INIT;
			buf_append(&n, m->data, at + l);
			buf_append(&n, m->data + at, m->len - at);
			buf_swap(&n, m);
			buf_fini(&n);
			break;
		}
		default: /* random byte */
			m->data[at] = (uint8_t)rnd();
			break;
		}
	}
}

static void
one_message(const struct buf *m)
{
	struct caps_filter *f = NULL;
	assert_int_equal(caps_filter_parse(capsets[rndn(GW_ARRAY_LEN(
	    capsets))], &f, NULL), 0);
	struct conv_policy pol = { rnd() & 1, rnd() & 1, "fuzz.example",
		1795000000 };
	struct buf out = BUF_INIT;
	struct conv_report rep;
	assert_int_equal(conv_run(m->data, m->len, &pol, f, &out, &rep), 0);
	if (rep.result == CONV_CONVERTED) {
		assert_true(out.len > 0);
		assert_true(pol.conperm || pol.drucof);
	} else {
		assert_int_equal(out.len, 0);
	}
	if (rep.result == CONV_FAILED)
		assert_true(strcmp(rep.status, "5.6.2") == 0 ||
		    strcmp(rep.status, "5.6.3") == 0 ||
		    strcmp(rep.status, "5.6.5") == 0);
	caps_filter_free(f);
	/* pack/unpack must always give the input back */
	struct buf packed = BUF_INIT;
	mime_pack(m->data, m->len, &packed, NULL);
	assert_int_equal(mime_unpack(packed.data, packed.len, &out), 0);
	assert_int_equal(out.len, m->len);
	if (m->len > 0)
		assert_memory_equal(out.data, m->data, m->len);
	/* a damaged packed form is refused or decodes to something */
	if (packed.len > 0) {
		packed.data[rndn(packed.len)] ^= (uint8_t)rnd();
		(void)mime_unpack(packed.data, packed.len, &out);
	}
	buf_fini(&packed);
	buf_fini(&out);
}

static void
one_filter(void)
{
	static const char alpha[] = "()&|!=<>[],.. \"/*abcdeftxyz0123456789-";
	char s[64];
	size_t n = rndn(sizeof(s) - 1);
	for (size_t i = 0; i < n; i++)
		s[i] = alpha[rndn(sizeof(alpha) - 1)];
	s[n] = '\0';
	struct caps_filter *f = NULL;
	if (caps_filter_parse(s, &f, NULL) == 0) {
		struct caps_fc fc;
		caps_fc_init(&fc);
		caps_fc_set_str(&fc, "a", "x");
		caps_fc_set_num(&fc, "b", (int64_t)rndn(100));
		(void)caps_filter_match(f, &fc);
		caps_filter_free(f);
	} else {
		assert_null(f);
	}
	/* and as a capability table line */
	char line[96], err[128];
	snprintf(line, sizeof(line), "a@b %s\n  %s\n", s, s + n / 2);
	struct conneg_table *t = NULL;
	if (conneg_table_parse("fuzz", line, &t, err, sizeof(err)) == 0)
		conneg_table_free(t);
}

static void
one_text(void)
{
	uint8_t s[256];
	size_t n = rndn(sizeof(s));
	for (size_t i = 0; i < n; i++)
		s[i] = rndn(4) == 0 ? (uint8_t)"<>&;#/"[rndn(6)] :
		    (uint8_t)rnd();
	struct buf out = BUF_INIT;
	conv_text_html_to_plain(s, n, &out);
	bool lossy;
	(void)conv_text_charset("utf-8", "iso-8859-1", s, n, &out,
	    rnd() & 1, &lossy);
	buf_fini(&out);
}

static void
test_fuzz(void **state)
{
	(void)state;
	rng = tu_seed("test_conneg_fuzz") | 1;
	const char *env = getenv("CONNEG_FUZZ_SECONDS");
	double secs = env != NULL ? atof(env) : 3.0;
	struct buf base[GW_ARRAY_LEN(fixtures)];
	for (size_t i = 0; i < GW_ARRAY_LEN(fixtures); i++) {
		size_t len;
		uint8_t *p = load(fixtures[i], &len);
		buf_init(&base[i]);
		buf_append(&base[i], p, len);
		free(p);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned iters = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double el = (double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (el >= secs)
			break;
		struct buf m = BUF_INIT;
		const struct buf *b = &base[rndn(GW_ARRAY_LEN(fixtures))];
		buf_append(&m, b->data, b->len);
		mutate(&m);
		one_message(&m);
		buf_fini(&m);
		one_filter();
		one_text();
		iters++;
	}
	printf("fuzz: %u iterations\n", iters);
	assert_true(iters > 10);
	for (size_t i = 0; i < GW_ARRAY_LEN(fixtures); i++)
		buf_fini(&base[i]);
}

static int
setup(void **state)
{
	(void)state;
	conv_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	conv_shutdown();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
