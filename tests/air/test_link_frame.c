/* Link frame codec: CRC-32C check values, round trips, corruption and
 * truncation detection, tags, replay window, and a randomised robustness
 * run of the decoder over garbage and mutated frames. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "link-drivers/link_frame.h"

#include <sodium.h>

static const uint8_t key_a[LINK_KEY_BYTES] = { 1, 2, 3, 4, 5 };
static const uint8_t key_b[LINK_KEY_BYTES] = { 1, 2, 3, 4, 6 };

static uint32_t
crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

static void
test_crc32c_vectors(void **state)
{
	(void)state;
	/* The standard check value and RFC 3720 B.4 style vectors. */
	assert_int_equal(link_crc32c(0, "123456789", 9), 0xE3069283u);
	uint8_t zeros[32] = { 0 }, ones[32];
	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(link_crc32c(0, zeros, 32), 0x8A9136AAu);
	assert_int_equal(link_crc32c(0, ones, 32), 0x62A8AB43u);
	/* Chaining equals one pass. */
	uint32_t c = link_crc32c(0, "12345", 5);
	assert_int_equal(link_crc32c(c, "6789", 4), 0xE3069283u);
	/* Every table entry against a bitwise CRC from the definition. */
	for (unsigned i = 0; i < 256; i++) {
		uint8_t b = (uint8_t)i;
		assert_int_equal(link_crc32c(0, &b, 1), crc_bitwise(&b, 1));
	}
	uint8_t msg[300];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(link_crc32c(0, msg, sizeof(msg)),
	    crc_bitwise(msg, sizeof(msg)));
}

static size_t
mk(uint8_t *out, size_t cap, uint8_t type, uint8_t flags, uint32_t fctr,
    uint16_t seq, const void *pl, size_t len, const uint8_t *key)
{
	struct link_frame f = { .type = type, .flags = flags, .fctr = fctr,
		.seq = seq, .payload = pl, .len = len };
	return link_frame_encode(&f, key, out, cap);
}

static void
test_roundtrip(void **state)
{
	(void)state;
	uint8_t out[256];
	struct link_frame f;
	size_t n = mk(out, sizeof(out), LINK_FT_DATA, LINK_FL_TURN, 77, 513,
	    "hello", 5, NULL);
	assert_int_equal(n, link_frame_wire_bytes(5, false));
	assert_int_equal(n, 19);
	assert_int_equal(link_frame_decode(out, n, &f), 0);
	assert_int_equal(f.type, LINK_FT_DATA);
	assert_int_equal(f.flags, LINK_FL_TURN);
	assert_int_equal(f.fctr, 77);
	assert_int_equal(f.seq, 513);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "hello", 5);
	assert_int_equal(link_frame_verify(out, n, &f, key_a), GW_EAUTH);

	n = mk(out, sizeof(out), LINK_FT_SACK, 0, 1, 0, "", 0, key_a);
	assert_int_equal(n, 10 + 16 + 4);
	assert_int_equal(link_frame_decode(out, n, &f), 0);
	assert_true(f.flags & LINK_FL_TAG);
	assert_int_equal(link_frame_verify(out, n, &f, key_a), 0);
	assert_int_equal(link_frame_verify(out, n, &f, key_b), GW_EAUTH);

	/* Too small a buffer, too long a payload. */
	assert_int_equal(mk(out, 18, LINK_FT_DATA, 0, 1, 0, "hello", 5, NULL),
	    0);
	struct link_frame big = { .type = LINK_FT_DATA, .len = 70000,
		.payload = out };
	assert_int_equal(link_frame_encode(&big, NULL, out, sizeof(out)), 0);
}

static void
test_corruption_detected(void **state)
{
	(void)state;
	uint8_t out[128], tmp[128];
	struct link_frame f;
	size_t n = mk(out, sizeof(out), LINK_FT_DATA, 0, 5, 9,
	    "0123456789abcdef", 16, key_a);
	/* Every single-bit flip is caught (CRC, or length for the len
	 * field). */
	for (size_t i = 0; i < n * 8; i++) {
		memcpy(tmp, out, n);
		tmp[i / 8] ^= (uint8_t)(1u << (i % 8));
		int rc = link_frame_decode(tmp, n, &f);
		assert_true(rc == GW_ECORRUPT || rc == GW_EPROTO);
	}
	/* Truncation at every length. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(link_frame_decode(out, k, &f), GW_EPROTO);
	/* A forgery with a fixed-up CRC fails the tag. */
	memcpy(tmp, out, n);
	tmp[12] ^= 0x20;
	uint32_t c = link_crc32c(0, tmp, n - 4);
	tmp[n - 4] = (uint8_t)(c >> 24);
	tmp[n - 3] = (uint8_t)(c >> 16);
	tmp[n - 2] = (uint8_t)(c >> 8);
	tmp[n - 1] = (uint8_t)c;
	assert_int_equal(link_frame_decode(tmp, n, &f), 0);
	assert_int_equal(link_frame_verify(tmp, n, &f, key_a), GW_EAUTH);
}

static void
test_version_and_type(void **state)
{
	(void)state;
	uint8_t out[64];
	struct link_frame f;
	size_t n = mk(out, sizeof(out), LINK_FT_HELLO, 0, 1, 0, "x", 1, NULL);
	out[0] = (uint8_t)((2u << 4) | LINK_FT_HELLO);
	uint32_t c = link_crc32c(0, out, n - 4);
	out[n - 4] = (uint8_t)(c >> 24);
	out[n - 3] = (uint8_t)(c >> 16);
	out[n - 2] = (uint8_t)(c >> 8);
	out[n - 1] = (uint8_t)c;
	assert_int_equal(link_frame_decode(out, n, &f), GW_EVERSION);
	assert_int_equal(f.version, 2);
	assert_int_equal(f.type, LINK_FT_HELLO);

	n = mk(out, sizeof(out), 9, 0, 1, 0, "x", 1, NULL);
	assert_int_equal(link_frame_decode(out, n, &f), GW_EPROTO);
	n = mk(out, sizeof(out), LINK_FT_DATA, 0x40, 1, 0, "x", 1, NULL);
	assert_int_equal(link_frame_decode(out, n, &f), GW_EPROTO);
	assert_string_equal(link_frame_type_name(LINK_FT_SACK), "sack");
	assert_string_equal(link_frame_type_name(15), "unknown");
}

static void
test_replay_window(void **state)
{
	(void)state;
	struct link_replay w;
	link_replay_init(&w);
	assert_false(link_replay_check(&w, 0));
	assert_true(link_replay_check(&w, 1));
	link_replay_commit(&w, 1);
	assert_false(link_replay_check(&w, 1));
	link_replay_commit(&w, 5);
	assert_true(link_replay_check(&w, 3)); /* reordered, fresh */
	link_replay_commit(&w, 3);
	assert_false(link_replay_check(&w, 3));
	assert_false(link_replay_check(&w, 5));
	assert_true(link_replay_check(&w, 4));
	link_replay_commit(&w, 100);
	assert_false(link_replay_check(&w, 36)); /* too old */
	assert_true(link_replay_check(&w, 37));
	link_replay_commit(&w, 1000);
	assert_false(link_replay_check(&w, 100));
	assert_true(link_replay_check(&w, 1001));
}

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
test_decoder_robustness(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_link_frame_robustness") | 1;
	uint8_t buf[600], frame[600];
	struct link_frame f;
	unsigned ok = 0;
	for (int it = 0; it < 200000; it++) {
		size_t n = rng_next(&seed) % sizeof(buf);
		if (it % 2) {
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng_next(&seed);
		} else {
			/* A valid frame with a few random mutations. */
			uint8_t pl[512];
			size_t len = rng_next(&seed) % 512;
			for (size_t i = 0; i < len; i++)
				pl[i] = (uint8_t)rng_next(&seed);
			n = mk(frame, sizeof(frame),
			    (uint8_t)(1 + rng_next(&seed) % 6), 0,
			    (uint32_t)rng_next(&seed), 0, pl, len,
			    (it & 2) ? key_a : NULL);
			memcpy(buf, frame, n);
			int muts = (int)(rng_next(&seed) % 3);
			for (int m = 0; m < muts && n; m++)
				buf[rng_next(&seed) % n] ^=
				    (uint8_t)(1 + rng_next(&seed) % 255);
			if (rng_next(&seed) % 4 == 0 && n)
				n = rng_next(&seed) % n;
		}
		int rc = link_frame_decode(buf, n, &f);
		if (rc == 0) {
			ok++;
			assert_true(f.len + 14 <= n);
			assert_true(f.payload >= buf &&
			    f.payload + f.len <= buf + n);
			(void)link_frame_verify(buf, n, &f, key_a);
		} else {
			assert_true(rc == GW_EPROTO || rc == GW_ECORRUPT ||
			    rc == GW_EVERSION);
		}
	}
	assert_true(ok > 10000); /* unmutated valid frames did decode */
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_corruption_detected),
		cmocka_unit_test(test_version_and_type),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_decoder_robustness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
