/* lzhuf: the CRC-16 check value, round trips of text, binary, empty and
 * long inputs (window wrap, the tree rebuild at 0x8000), payloads that
 * Pat 0.13.1 compressed (fixtures captured from its telnet listener),
 * and corrupt payloads refused without output. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/b2f/lzhuf.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
roundtrip(const uint8_t *in, size_t n, size_t *clen)
{
	struct buf c, d;

	buf_init(&c);
	buf_init(&d);
	lzhuf_encode(in, n, &c);
	assert_true(c.len >= LZHUF_HEADER_LEN);
	assert_int_equal(lzhuf_decode(c.data, c.len, n, &d), 0);
	assert_int_equal(d.len, n);
	if (n > 0)
		assert_memory_equal(d.data, in, n);
	if (clen)
		*clen = c.len;
	buf_fini(&c);
	buf_fini(&d);
}

static void
test_crc(void **state)
{
	(void)state;
	/* the CRC-16/XMODEM check value */
	assert_int_equal(lzhuf_crc16((const uint8_t *)"123456789", 9),
	    0x31c3);
	assert_int_equal(lzhuf_crc16(NULL, 0), 0);
}

/* A fixed vector of our encoder (guards the bit layout against change;
 * Pat decodes this stream, test_b2f_pat). */
static void
test_golden(void **state)
{
	(void)state;
	static const char text[] = "Hello N0CALL,\r\nthis is a test. this is a "
	    "test. this is a test.\r\n73\r\n";
	static const uint8_t want[] = {
		0x11, 0x88, 0x44, 0x00, 0x00, 0x00, 0xea, 0x7c, 0x7f, 0x18,
		0x7f, 0xbd, 0x67, 0x6b, 0x79, 0xcf, 0xe6, 0xf6, 0x2f, 0x37,
		0x19, 0x9c, 0xb0, 0x07, 0xd3, 0xeb, 0xff, 0xc1, 0x8c, 0x01,
		0x7b, 0x6b, 0xdc, 0x62, 0x5a, 0xd5, 0xdd, 0x59, 0xc4, 0x03,
		0xee, 0xae, 0x78, 0x7b, 0xfa, 0x34, 0x00,
	};
	struct buf c, d;

	buf_init(&c);
	buf_init(&d);
	lzhuf_encode((const uint8_t *)text, strlen(text), &c);
	assert_int_equal(c.len, sizeof(want));
	assert_memory_equal(c.data, want, sizeof(want));
	assert_int_equal(lzhuf_decode(want, sizeof(want), 100, &d), 0);
	assert_int_equal(d.len, strlen(text));
	assert_memory_equal(d.data, text, d.len);
	buf_fini(&c);
	buf_fini(&d);
}

static void
test_roundtrips(void **state)
{
	(void)state;
	size_t clen;
	const char *text = "Hello N0CALL,\r\nthis is a test. this is a test. "
	    "this is a test.\r\n73\r\n";

	roundtrip(NULL, 0, &clen);
	assert_int_equal(clen, LZHUF_HEADER_LEN);
	roundtrip((const uint8_t *)"a", 1, NULL);
	roundtrip((const uint8_t *)text, strlen(text), &clen);
	assert_true(clen < strlen(text) + LZHUF_HEADER_LEN);

	/* spaces match into the ring's initial contents; long runs; every
	 * byte value; random data; sizes past the window and the rebuild */
	static const size_t sizes[] = { 59, 60, 61, 2047, 2048, 2049, 70000,
		300000 };
	srand(4711);
	for (size_t s = 0; s < GW_ARRAY_LEN(sizes); s++) {
		size_t n = sizes[s];
		uint8_t *b = xmalloc(n);
		for (int kind = 0; kind < 4; kind++) {
			for (size_t i = 0; i < n; i++)
				b[i] = kind == 0 ? ' ' :
				    kind == 1 ? (uint8_t)i :
				    kind == 2 ? (uint8_t)rand() :
				    (uint8_t)"abcabd   xyz\r\n"[rand() % 14];
			roundtrip(b, n, &clen);
			if (kind == 0)
				assert_true(clen < n / 8 + 64);
		}
		free(b);
	}
}

/* A fixture file (tests/b2f/fixtures/NAME). */
static uint8_t *
slurp(const char *name, size_t *n)
{
	char rel[256], *path;
	uint8_t *p;

	snprintf(rel, sizeof(rel), "tests/b2f/fixtures/%s", name);
	path = tu_src_path(rel);
	p = (uint8_t *)tu_read_file(path, n);
	free(path);
	return p;
}

/* The header lines of a Winlink message without its X- fields (Pat adds
 * X-Filepath on the wire, and the outbox copy has none). */
static void
strip_x(const uint8_t *p, size_t n, struct buf *out)
{
	size_t i = 0;
	bool hdr = true;

	while (i < n) {
		const uint8_t *nl = memchr(p + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - p) + 1 : n;
		if (hdr && e - i <= 2)
			hdr = false;
		if (!(hdr && e - i > 2 && p[i] == 'X' && p[i + 1] == '-'))
			buf_append(out, p + i, e - i);
		i = e;
	}
}

static void
test_pat_vectors(void **state)
{
	(void)state;
	static const char *mids[] = { "U5ZADIBM5RKU", "6EOEZZKLDQ3S" };

	for (size_t m = 0; m < GW_ARRAY_LEN(mids); m++) {
		char name[64];
		size_t zn, on;
		struct buf d, a, b, re;
		uint32_t announced;

		snprintf(name, sizeof(name), "pat-%s.lzh", mids[m]);
		uint8_t *z = slurp(name, &zn);
		snprintf(name, sizeof(name), "%s.outbox", mids[m]);
		uint8_t *o = slurp(name, &on);
		buf_init(&d);
		buf_init(&a);
		buf_init(&b);
		buf_init(&re);
		assert_int_equal(lzhuf_announced_len(z, zn, &announced), 0);
		assert_int_equal(lzhuf_decode(z, zn, 1 << 20, &d), 0);
		assert_int_equal(d.len, announced);
		strip_x(d.data, d.len, &a);
		strip_x(o, on, &b);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
		/* ours decodes back to the same, and is not larger than Pat's
		 * by more than a few bytes */
		lzhuf_encode(d.data, d.len, &re);
		assert_true(re.len <= zn + zn / 10 + 8);
		buf_reset(&a);
		assert_int_equal(lzhuf_decode(re.data, re.len, 1 << 20, &a), 0);
		assert_int_equal(a.len, d.len);
		assert_memory_equal(a.data, d.data, d.len);

		/* a bound below the announced length refuses it */
		buf_reset(&a);
		assert_int_equal(lzhuf_decode(z, zn, announced - 1, &a),
		    GW_ETOOBIG);
		assert_int_equal(a.len, 0);
		buf_fini(&d);
		buf_fini(&a);
		buf_fini(&b);
		buf_fini(&re);
		free(z);
		free(o);
	}
}

static void
test_corrupt(void **state)
{
	(void)state;
	const char *text = "Subject: corrupt me\r\n\r\nsome words, some words\r\n";
	struct buf c, d;

	buf_init(&c);
	buf_init(&d);
	lzhuf_encode((const uint8_t *)text, strlen(text), &c);
	assert_int_equal(lzhuf_decode(c.data, 5, 1000, &d), GW_ECORRUPT);
	for (size_t i = 0; i < c.len; i++) {
		c.data[i] ^= 0x10;
		assert_int_equal(lzhuf_decode(c.data, c.len, 1000, &d),
		    GW_ECORRUPT);
		assert_int_equal(d.len, 0);
		c.data[i] ^= 0x10;
	}
	/* truncated stream with a CRC made to match: ends early */
	size_t n = c.len - 3;
	uint16_t crc = lzhuf_crc16(c.data + 2, n - 2);
	c.data[0] = (uint8_t)crc;
	c.data[1] = (uint8_t)(crc >> 8);
	assert_int_equal(lzhuf_decode(c.data, n, 1000, &d), GW_ECORRUPT);
	assert_int_equal(d.len, 0);
	buf_fini(&c);
	buf_fini(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_roundtrips),
		cmocka_unit_test(test_pat_vectors),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
