/* smtpc_mime: the 8BITMIME downgrade (text -> quoted-printable, other ->
 * base64, multipart and message/rfc822 walked, refusals for 8-bit headers
 * and mislabelled parts) and RFC 6758 MT-Priority header tunnelling. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/deliver/smtpc_mime.h"

static int
down(const char *in, struct buf *out)
{
	buf_reset(out);
	return smtpc_mime_downgrade((const uint8_t *)in, strlen(in), out);
}

static void
test_seven_bit_untouched(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	const char *m = "Subject: a\r\n\r\nplain\r\n";
	assert_int_equal(down(m, &o), 0);
	assert_string_equal(buf_cstr(&o), m);
	buf_fini(&o);
}

static void
test_text_part_qp(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	const char *m = "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "caf\xc3\xa9 = ok \r\n"
	    "last\r\n";
	assert_int_equal(down(m, &o), 0);
	assert_string_equal(buf_cstr(&o), "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=C3=A9 =3D ok=20\r\n"
	    "last\r\n");
	assert_false(smtpc_mime_has_8bit(o.data, o.len));
	buf_fini(&o);
}

static void
test_non_mime_message(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	const char *m = "Subject: x\r\n\r\nna\xefve\r\n";
	assert_int_equal(down(m, &o), 0);
	assert_string_equal(buf_cstr(&o), "Subject: x\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "na=EFve\r\n");
	buf_fini(&o);
}

static void
test_long_line_soft_breaks(void **state)
{
	(void)state;
	struct buf in = BUF_INIT, o = BUF_INIT;
	buf_append_str(&in, "Content-Type: text/plain\r\n\r\n");
	for (int i = 0; i < 100; i++)
		buf_append_str(&in, "\xc3\xa9");
	buf_append_str(&in, "\r\n");
	assert_int_equal(smtpc_mime_downgrade(in.data, in.len, &o), 0);
	/* Every encoded line stays within 76 characters. */
	const char *p = strstr(buf_cstr(&o), "\r\n\r\n") + 4;
	size_t lines = 0;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e);
		assert_true(e - p <= 76);
		lines++;
		p = e + 2;
	}
	assert_true(lines >= 3);
	buf_fini(&in);
	buf_fini(&o);
}

static void
test_multipart(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	const char *m = "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain; charset=latin1\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "\xe9t\xe9\r\n"
	    "--XX\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "\r\n"
	    "\x80\x81\r\n"
	    "--XX\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: inner\r\n"
	    "\r\n"
	    "\xc3\xa9\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n";
	assert_int_equal(down(m, &o), 0);
	assert_string_equal(buf_cstr(&o), "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain; charset=latin1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "=E9t=E9\r\n"
	    "--XX\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "gIE=\r\n"
	    "--XX\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: inner\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=unknown-8bit\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "=C3=A9\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n");
	assert_false(smtpc_mime_has_8bit(o.data, o.len));
	buf_fini(&o);
}

static void
test_refusals(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	static const char *const bad[] = {
		/* 8-bit in a header */
		"Subject: caf\xc3\xa9\r\n\r\nbody\r\n",
		/* labelled base64 but raw 8-bit */
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64"
		"\r\n\r\n\xff\r\n",
		/* multipart without boundary */
		"Content-Type: multipart/mixed\r\n\r\n\xff\r\n",
		/* "--Bogus" only starts like the delimiter of boundary B: it is
		 * preamble text, and 8-bit preamble cannot be encoded */
		"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
		"--Bogus \xff\r\n--B\r\n\r\nx\r\n--B--\r\n",
		/* 8-bit inside a part's header */
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
		"Content-Type: text/plain; name=\xff\r\n\r\nx\r\n--b--\r\n",
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		buf_append_str(&o, "keep");
		assert_int_equal(smtpc_mime_downgrade((const uint8_t *)bad[i],
		    strlen(bad[i]), &o), GW_EUNSUPP);
		assert_string_equal(buf_cstr(&o), "keep"); /* rolled back */
		buf_reset(&o);
	}
	buf_fini(&o);
}

static void
test_priority_header(void **state)
{
	(void)state;
	struct buf o = BUF_INIT;
	const char *m = "MT-Priority: 2\r\n"
	    "Subject: x\r\n"
	    "mt-priority : 5 (folded\r\n"
	    "  comment)\r\n"
	    "\r\n"
	    "MT-Priority: 9 in the body stays\r\n";
	size_t n = strlen(m);
	assert_int_equal(smtpc_mime_count_field((const uint8_t *)m, n,
	    "MT-Priority"), 2);
	assert_int_equal(smtpc_mime_set_priority((const uint8_t *)m, n, true,
	    3, &o), 2);
	assert_string_equal(buf_cstr(&o), "MT-Priority: 3\r\n"
	    "Subject: x\r\n"
	    "\r\n"
	    "MT-Priority: 9 in the body stays\r\n");
	assert_int_equal(smtpc_mime_count_field(o.data, o.len, "MT-Priority"),
	    1);
	buf_reset(&o);
	assert_int_equal(smtpc_mime_set_priority((const uint8_t *)m, n, false,
	    0, &o), 2);
	assert_int_equal(smtpc_mime_count_field(o.data, o.len, "MT-Priority"),
	    0);
	buf_fini(&o);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mutated MIME messages: a downgrade either yields pure 7-bit output, or
 * refuses with GW_EUNSUPP and leaves out untouched. Never a crash or a
 * sanitizer report. */
static void
test_downgrade_mutations(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_downgrade_mutations") | 1;
	static const char *const pieces[] = {
		"Content-Type: multipart/mixed; boundary=\"B\"\r\n",
		"Content-Type: text/plain\r\n", "Content-Type: message/rfc822\r\n",
		"Content-Type: application/x\r\n",
		"Content-Transfer-Encoding: 8bit\r\n",
		"Content-Transfer-Encoding: base64\r\n", "MIME-Version: 1.0\r\n",
		"\r\n", "--B\r\n", "--B--\r\n", "caf\xc3\xa9\r\n", "\xff",
		"line\r\n", ".\r\n", " folded\r\n", "\n", "\r", "=", "--",
		"Content-Type: multipart/digest; boundary=C\r\n", "--C\r\n",
	};
	struct buf in = BUF_INIT, out = BUF_INIT;
	for (int run = 0; run < 20000; run++) {
		buf_reset(&in);
		int n = (int)(rnd(&seed) % 24);
		for (int i = 0; i < n; i++)
			buf_append_str(&in, pieces[rnd(&seed) %
			    GW_ARRAY_LEN(pieces)]);
		for (int k = (int)(rnd(&seed) % 3); k > 0 && in.len; k--)
			in.data[rnd(&seed) % in.len] = (uint8_t)rnd(&seed);
		buf_reset(&out);
		buf_append_str(&out, "X");
		int rc = smtpc_mime_downgrade(in.data, in.len, &out);
		if (rc == 0) {
			if (smtpc_mime_has_8bit(out.data, out.len))
				fail_msg("8-bit output for run %d:\n%s\n---\n%s", run,
				    buf_cstr(&in), buf_cstr(&out));
		} else {
			assert_int_equal(rc, GW_EUNSUPP);
			assert_int_equal(out.len, 1);
		}
	}
	buf_fini(&in);
	buf_fini(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seven_bit_untouched),
		cmocka_unit_test(test_text_part_qp),
		cmocka_unit_test(test_non_mime_message),
		cmocka_unit_test(test_long_line_soft_breaks),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_priority_header),
		cmocka_unit_test(test_downgrade_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
