/* KISS: exact encodings, escaping edge cases, decoder recovery rules. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "link-drivers/kiss.h"

#include <stdbool.h>
#include <string.h>

struct kframe {
	unsigned port, cmd;
	uint8_t data[600];
	size_t n;
};

struct ksink {
	struct kframe f[64];
	size_t n;
};

static int
kcollect(void *arg, unsigned port, unsigned cmd, const uint8_t *p, size_t n)
{
	struct ksink *s = arg;

	assert_true(s->n < GW_ARRAY_LEN(s->f));
	assert_true(n <= sizeof(s->f[0].data));
	s->f[s->n].port = port;
	s->f[s->n].cmd = cmd;
	memcpy(s->f[s->n].data, p, n);
	s->f[s->n].n = n;
	s->n++;
	return 0;
}

static void
expect_bytes(const struct buf *b, const uint8_t *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void
test_encode_exact(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;

	/* Data with both special bytes, port 2. */
	static const uint8_t d1[] = { 'A', 0xC0, 'B', 0xDB, 'C' };
	static const uint8_t w1[] = { 0xC0, 0x20, 'A', 0xDB, 0xDC, 'B', 0xDB,
		0xDD, 'C', 0xC0 };
	assert_int_equal(kiss_encode(&b, 2, KISS_CMD_DATA, d1, sizeof(d1)), 0);
	expect_bytes(&b, w1, sizeof(w1));
	buf_reset(&b);

	/* TXDELAY 500 ms = 50 units on port 0. */
	static const uint8_t w2[] = { 0xC0, 0x01, 50, 0xC0 };
	kiss_encode_param(&b, 0, KISS_CMD_TXDELAY, kiss_units_10ms(500));
	expect_bytes(&b, w2, sizeof(w2));
	buf_reset(&b);

	/* A parameter value that is itself FEND is escaped. */
	static const uint8_t w3[] = { 0xC0, 0x02, 0xDB, 0xDC, 0xC0 };
	kiss_encode_param(&b, 0, KISS_CMD_PERSIST, 0xC0);
	expect_bytes(&b, w3, sizeof(w3));
	buf_reset(&b);

	/* Port 12 data type byte is 0xC0 itself: escaped. */
	static const uint8_t w4[] = { 0xC0, 0xDB, 0xDC, 'x', 0xC0 };
	kiss_encode(&b, 12, KISS_CMD_DATA, "x", 1);
	expect_bytes(&b, w4, sizeof(w4));
	buf_reset(&b);

	static const uint8_t w5[] = { 0xC0, 0xFF, 0xC0 };
	kiss_encode_return(&b);
	expect_bytes(&b, w5, sizeof(w5));
	buf_reset(&b);

	/* Empty data frame. */
	static const uint8_t w6[] = { 0xC0, 0x00, 0xC0 };
	kiss_encode(&b, 0, 0, NULL, 0);
	expect_bytes(&b, w6, sizeof(w6));

	assert_int_equal(kiss_encode(&b, 16, 0, "", 0), GW_EINVAL);
	assert_int_equal(kiss_encode(&b, 0, 16, "", 0), GW_EINVAL);
	assert_int_equal(kiss_units_10ms(0), 0);
	assert_int_equal(kiss_units_10ms(1), 1);
	assert_int_equal(kiss_units_10ms(10), 1);
	assert_int_equal(kiss_units_10ms(11), 2);
	assert_int_equal(kiss_units_10ms(99999), 255);
	buf_fini(&b);
}

static void
test_round_trip_specials(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct kiss_dec d;
	struct ksink s = { .n = 0 };
	uint8_t all[512];

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	static const uint8_t tricky[][4] = {
		{ 0xC0, 0xC0, 0xC0, 0xC0 }, { 0xDB, 0xDB, 0xDB, 0xDB },
		{ 0xDB, 0xDC, 0xDB, 0xDD }, { 0xDC, 0xDD, 0xC0, 0xDB },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(tricky); i++)
		kiss_encode(&b, (unsigned)i, 0, tricky[i], 4);
	kiss_encode(&b, 15, 0, all, sizeof(all));
	kiss_dec_init(&d, 1024);
	/* Split at every possible point: byte by byte. */
	for (size_t i = 0; i < b.len; i++)
		kiss_dec_feed(&d, b.data + i, 1, kcollect, &s);
	assert_int_equal(s.n, GW_ARRAY_LEN(tricky) + 1);
	for (size_t i = 0; i < GW_ARRAY_LEN(tricky); i++) {
		assert_int_equal(s.f[i].port, i);
		assert_int_equal(s.f[i].cmd, 0);
		assert_int_equal(s.f[i].n, 4);
		assert_memory_equal(s.f[i].data, tricky[i], 4);
	}
	assert_int_equal(s.f[4].port, 15);
	assert_int_equal(s.f[4].n, sizeof(all));
	assert_memory_equal(s.f[4].data, all, sizeof(all));
	assert_int_equal(d.stats.bad_escape, 0);
	assert_int_equal(d.stats.garbage_bytes, 0);
	kiss_dec_fini(&d);
	buf_fini(&b);
}

struct dec_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want[4]; /* data of each frame (type byte stripped) */
	size_t nwant;
	uint64_t garbage, bad_escape, oversize;
};

#define S(x) x, sizeof(x) - 1
static const struct dec_case dcases[] = {
	{ "garbage before first FEND", S("xyz\xc0\x00hi\xc0"), { "hi" }, 1,
	    3, 0, 0 },
	{ "empty frames ignored", S("\xc0\xc0\xc0\x00" "a\xc0\xc0"), { "a" },
	    1, 0, 0, 0 },
	{ "bad escape drops frame only",
	    S("\xc0\x00" "a\xdb" "b\xc0\x00ok\xc0"), { "ok" }, 1, 0, 1, 0 },
	{ "FESC then FEND ends bad frame",
	    S("\xc0\x00" "a\xdb\xc0\x00ok\xc0"), { "ok" }, 1, 0, 1, 0 },
	{ "oversize dropped, next kept",
	    S("\xc0\x00" "0123456789ABCDEF\xc0\x00" "short\xc0"), { "short" },
	    1, 0, 0, 1 },
	{ "unterminated frame waits", S("\xc0\x00" "abc"), { NULL }, 0, 0, 0,
	    0 },
	{ "type byte only", S("\xc0\x00\xc0"), { "" }, 1, 0, 0, 0 },
};

static void
test_decoder_rules(void **state)
{
	(void)state;
	for (size_t ci = 0; ci < GW_ARRAY_LEN(dcases); ci++) {
		const struct dec_case *c = &dcases[ci];
		struct kiss_dec d;
		struct ksink s = { .n = 0 };

		kiss_dec_init(&d, 10);
		kiss_dec_feed(&d, (const uint8_t *)c->in, c->len, kcollect, &s);
		if (s.n != c->nwant)
			fail_msg("%s: %zu frames, want %zu", c->name, s.n,
			    c->nwant);
		for (size_t i = 0; i < c->nwant; i++) {
			assert_int_equal(s.f[i].n, strlen(c->want[i]));
			assert_memory_equal(s.f[i].data, c->want[i],
			    s.f[i].n);
		}
		assert_int_equal(d.stats.garbage_bytes, c->garbage);
		assert_int_equal(d.stats.bad_escape, c->bad_escape);
		assert_int_equal(d.stats.oversize, c->oversize);
		kiss_dec_fini(&d);
	}
}

static void
test_return_and_params_decode(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct kiss_dec d;
	struct ksink s = { .n = 0 };

	kiss_encode_param(&b, 3, KISS_CMD_SLOTTIME, 10);
	kiss_encode_return(&b);
	kiss_dec_init(&d, 16);
	kiss_dec_feed(&d, b.data, b.len, kcollect, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.f[0].port, 3);
	assert_int_equal(s.f[0].cmd, KISS_CMD_SLOTTIME);
	assert_int_equal(s.f[0].n, 1);
	assert_int_equal(s.f[0].data[0], 10);
	assert_int_equal(s.f[1].port, 15);
	assert_int_equal(s.f[1].cmd, 15);
	assert_int_equal(s.f[1].n, 0);
	kiss_dec_fini(&d);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_exact),
		cmocka_unit_test(test_round_trip_specials),
		cmocka_unit_test(test_decoder_rules),
		cmocka_unit_test(test_return_and_params_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
