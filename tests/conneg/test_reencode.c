/*
 * test_reencode.c - lossless re-encoding: canonical vectors, non-canonical
 * bodies refused, and pack/unpack reproducing real messages byte for byte
 * (our fixtures, and every encoded message of spam-2 from bench/cache,
 * which also goes through a conversion pass).
 */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conv.h"

#include <dirent.h>
#include <stdbool.h>

struct vec {
	int cte;
	const char *enc;
	int want; /* 0, GW_ERANGE, GW_ESYNTAX */
	const char *dec;
};

static const struct vec vecs[] = {
	{ MIME_CTE_BASE64, "aGVsbG8=\r\n", 0, "hello" },
	{ MIME_CTE_BASE64, "aGVsbG8=", 0, "hello" },
	{ MIME_CTE_BASE64, "aGVs\r\nbG8=\r\n", 0, "hello" },
	{ MIME_CTE_BASE64, "aGVsbG8", GW_ERANGE, NULL },     /* no padding */
	{ MIME_CTE_BASE64, "aGV\r\nsbG8=\r\n", GW_ERANGE, NULL }, /* 3 */
	{ MIME_CTE_BASE64, "aGVsbG8=\n", GW_ESYNTAX, NULL }, /* bare LF */
	{ MIME_CTE_BASE64, "aGVs*G8=", GW_ESYNTAX, NULL },
	{ MIME_CTE_BASE64, "aGVsbG9=", GW_ERANGE, NULL },    /* stray bits */
	{ MIME_CTE_QP, "Caf=E9\r\n", 0, "Caf\xe9" },
	{ MIME_CTE_QP, "Caf=e9\r\n", GW_ERANGE, NULL },      /* lower hex */
	{ MIME_CTE_QP, "a b=20\r\nc\r\n", 0, "a b \r\nc" },
	{ MIME_CTE_QP, "a b \r\nc\r\n", 0, "a b \r\nc" }, /* literal ws */
	{ MIME_CTE_QP, "a b \r\nc=20\r\nd\r\n", GW_ERANGE, NULL }, /* mixed */
	{ MIME_CTE_QP, "x=3D1\r\n", 0, "x=1" },
	{ MIME_CTE_QP, "x=3\r\n", GW_ESYNTAX, NULL },
	{ MIME_CTE_QP, "x=\r\n", GW_ESYNTAX, NULL },
	/* an encoder that wraps at words: its soft breaks are kept */
	{ MIME_CTE_QP, "Dear Mr. =\r\nVan Lee,\r\nhello=\r\n there\r\n", 0,
	    "Dear Mr. Van Lee,\r\nhello there" },
	/* one that escapes "." every time: reproduced */
	{ MIME_CTE_QP, "v1=2E0 and 2=2E5\r\n", 0, "v1.0 and 2.5" },
	/* ... but not when it does so only sometimes */
	{ MIME_CTE_QP, "v1=2E0 and 2.5\r\n", GW_ERANGE, NULL },
	{ MIME_CTE_BASE64, "\r\naGVsbG8=\r\n\r\n\r\n", 0, "hello" },
};

static void
test_vectors(void **state)
{
	(void)state;
	struct buf dec = BUF_INIT, re = BUF_INIT;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		struct mime_reencode_params p;
		int rc = mime_reencode_check((enum mime_cte)vecs[i].cte,
		    (const uint8_t *)vecs[i].enc, strlen(vecs[i].enc), &dec,
		    &p);
		if (rc != vecs[i].want)
			fail_msg("vector %zu: rc %d want %d", i, rc,
			    vecs[i].want);
		if (rc == 0) {
			assert_int_equal(dec.len, strlen(vecs[i].dec));
			assert_memory_equal(dec.data, vecs[i].dec, dec.len);
			buf_reset(&re);
			mime_reencode_encode(&p, dec.data, dec.len, &re);
			assert_int_equal(re.len, strlen(vecs[i].enc));
			assert_memory_equal(re.data, vecs[i].enc, re.len);
			mime_reencode_params_fini(&p);
		}
	}
	/* long QP line: soft breaks at 76 reproduce */
	struct buf in = BUF_INIT, enc = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_append_byte(&in, (uint8_t)(i % 7 == 0 ? 0xE9 :
		    'a' + i % 26));
	struct mime_reencode_params p;
	memset(&p, 0, sizeof(p));
	p.cte = MIME_CTE_QP;
	p.line_len = 76;
	p.trail_crlf = 1;
	mime_reencode_encode(&p, in.data, in.len, &enc);
	struct mime_reencode_params q;
	assert_int_equal(mime_reencode_check(MIME_CTE_QP, enc.data, enc.len,
	    &dec, &q), 0);
	assert_int_equal(q.line_len, 76);
	assert_memory_equal(dec.data, in.data, in.len);
	mime_reencode_params_fini(&q);
	for (const char *l = (const char *)enc.data; l != NULL;) {
		const char *e = strstr(l, "\r\n");
		assert_true(e == NULL || e - l <= 76);
		l = e ? e + 2 : NULL;
	}
	buf_fini(&in);
	buf_fini(&enc);
	buf_fini(&dec);
	buf_fini(&re);
}

static uint8_t *
slurp(const char *path, size_t *len, bool crlf)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	int c, prev = 0;
	while ((c = fgetc(f)) != EOF) {
		if (crlf && c == '\n' && prev != '\r')
			buf_append_byte(&b, '\r');
		buf_append_byte(&b, (uint8_t)c);
		prev = c;
	}
	fclose(f);
	return buf_detach(&b, len);
}

static void
round_trip(const uint8_t *m, size_t len, struct mime_pack_stats *tot)
{
	struct buf packed = BUF_INIT, back = BUF_INIT;
	struct mime_pack_stats st;
	mime_pack(m, len, &packed, &st);
	assert_int_equal(mime_unpack(packed.data, packed.len, &back), 0);
	assert_int_equal(back.len, len);
	assert_memory_equal(back.data, m, len);
	if (st.parts_packed > 0)
		assert_true(packed.len < len);
	tot->parts += st.parts;
	tot->parts_packed += st.parts_packed;
	tot->parts_identical += st.parts_identical;
	tot->enc_packed += st.enc_packed;
	tot->dec_packed += st.dec_packed;
	buf_fini(&packed);
	buf_fini(&back);
}

static void
test_fixtures(void **state)
{
	(void)state;
	static const char *const names[] = { "omission.eml", "charset.eml",
		"pdf.eml", "html.eml", "signed.eml" };
	struct mime_pack_stats tot;
	memset(&tot, 0, sizeof(tot));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), "tests/conneg/fixtures/%s",
		    names[i]);
		char *path = tu_src_path(rel);
		size_t len;
		uint8_t *m = slurp(path, &len, false);
		assert_non_null(m);
		round_trip(m, len, &tot);
		free(m);
		free(path);
	}
	/* omission.eml's PDF (base64) and charset.eml (QP) are canonical,
	 * but too small to be worth packing */
	assert_true(tot.parts >= 3);
	assert_true(tot.parts_identical >= 2);
	/* a 3000-octet attachment in 76-column base64 travels decoded */
	struct buf m = BUF_INIT;
	buf_append_str(&m, "From: a@x\r\nSubject: att\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n"
	    "Content-Type: text/plain\r\n\r\nSee attached.\r\n--q\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	struct buf bin = BUF_INIT, enc = BUF_INIT;
	for (int i = 0; i < 3000; i++)
		buf_append_byte(&bin, (uint8_t)(i * 7 + (i >> 5)));
	struct mime_reencode_params bp;
	memset(&bp, 0, sizeof(bp));
	bp.cte = MIME_CTE_BASE64;
	bp.line_len = 76;
	bp.trail_crlf = 1;
	mime_reencode_encode(&bp, bin.data, bin.len, &enc);
	buf_append(&m, enc.data, enc.len);
	buf_append_str(&m, "--q--\r\n");
	struct mime_pack_stats one;
	memset(&one, 0, sizeof(one));
	round_trip(m.data, m.len, &one);
	assert_int_equal(one.parts_packed, 1);
	struct buf packed = BUF_INIT;
	mime_pack(m.data, m.len, &packed, NULL);
	assert_true(packed.len + 900 < m.len); /* 4/3 and the CRLFs gone */
	buf_fini(&packed);
	buf_fini(&m);
	buf_fini(&bin);
	buf_fini(&enc);
	/* corrupt packed forms are refused, not misread */
	struct buf out = BUF_INIT;
	static const uint8_t bad1[] = { 7, 1, 'x' };
	static const uint8_t bad2[] = { 0, 5, 'x' };
	static const uint8_t bad3[] = { 1, 3, 0, 1, 'x' };
	assert_int_equal(mime_unpack(bad1, sizeof(bad1), &out), GW_ECORRUPT);
	assert_int_equal(mime_unpack(bad2, sizeof(bad2), &out), GW_ECORRUPT);
	assert_int_equal(mime_unpack(bad3, sizeof(bad3), &out), GW_ECORRUPT);
	buf_fini(&out);
}

/* A conversion pass over a real message: whatever its MIME, conv_run
 * answers with a consistent report, and a converted message is CRLF text
 * that packs and unpacks back too. */
static void
convert_real(const uint8_t *m, size_t len, const struct caps_filter *caps,
    unsigned *converted)
{
	struct conv_policy pol = { false, true, "near.example", 1795000000 };
	struct conv_report rep;
	struct buf out = BUF_INIT;
	assert_int_equal(conv_run(m, len, &pol, caps, &out, &rep), 0);
	switch (rep.result) {
	case CONV_CONVERTED:
		assert_true(out.len > 0);
		assert_true(out.len >= 2 &&
		    memcmp(out.data + out.len - 2, "\r\n", 2) == 0);
		(*converted)++;
		struct mime_pack_stats st;
		memset(&st, 0, sizeof(st));
		round_trip(out.data, out.len, &st);
		break;
	case CONV_FAILED:
		assert_non_null(rep.status);
		assert_true(rep.status[0] == '5' && rep.status[2] == '6');
		assert_int_equal(out.len, 0);
		break;
	case CONV_UNCHANGED:
		assert_int_equal(out.len, 0);
		break;
	}
	buf_fini(&out);
}

/*
 * Real messages with attachments: every spam-2 message that has a base64
 * or quoted-printable body travels packed and comes back byte for byte,
 * and survives a conversion pass for a text-only recipient. The corpus is
 * fetched by scripts/fetch-corpus.sh (scripts/test.sh runs it and sets
 * SKYWAVE_CORPUS_REQUIRED=1 when it succeeded: then its absence fails).
 */
static void
test_corpus(void **state)
{
	(void)state;
	char *dir = tu_src_path("bench/cache/package/data/spam-2");
	DIR *d = opendir(dir);
	if (d == NULL) {
		const char *req = getenv("SKYWAVE_CORPUS_REQUIRED");
		if (req != NULL && strcmp(req, "1") == 0)
			fail_msg("spam-2 corpus absent (%s)", dir);
		printf("spam-2 corpus absent (%s): skipped "
		    "(scripts/fetch-corpus.sh fetches it)\n", dir);
		free(dir);
		skip();
	}
	struct caps_filter *caps = NULL;
	assert_int_equal(caps_filter_parse("(&(type=[text/plain,image/jpeg])"
	    "(width<=320)(message-size<=20000))", &caps, NULL), 0);
	struct mime_pack_stats tot;
	memset(&tot, 0, sizeof(tot));
	struct dirent *de;
	int n = 0, nenc = 0;
	unsigned converted = 0;
	while ((de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".txt") != 0)
			continue;
		char path[1024];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		size_t len;
		uint8_t *m = slurp(path, &len, true);
		if (m == NULL)
			continue;
		n++;
		size_t before = tot.parts;
		round_trip(m, len, &tot);
		if (tot.parts > before) {
			nenc++;
			convert_real(m, len, caps, &converted);
		}
		free(m);
	}
	closedir(d);
	free(dir);
	caps_filter_free(caps);
	printf("corpus: %d messages, %d with encoded parts (%zu parts, "
	    "%zu re-encode exactly, %zu packed, %zu -> %zu octets), "
	    "%u converted for a text-only recipient\n", n, nenc, tot.parts,
	    tot.parts_identical, tot.parts_packed, tot.enc_packed,
	    tot.dec_packed, converted);
	assert_true(n >= 1000);
	assert_true(nenc >= 100);
	assert_true(tot.parts_packed > 0);
	assert_true(tot.dec_packed < tot.enc_packed);
	assert_true(converted > 0);
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
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
