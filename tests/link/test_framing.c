/* Byte-stream framing: round trips, resynchronisation after garbage,
 * garbled lengths that must not swallow good frames, random bit flips. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "link-drivers/framing.h"

#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 2685821657736338717ULL;
}

/* Collects delivered frames as "len:crc-ish" plus the bytes. */
struct sink {
	struct buf frames[512];
	size_t n;
	int stop_after; /* 0: never */
};

static int
collect(void *arg, const uint8_t *p, size_t n)
{
	struct sink *s = arg;

	assert_true(s->n < GW_ARRAY_LEN(s->frames));
	buf_init(&s->frames[s->n]);
	buf_append(&s->frames[s->n], p, n);
	s->n++;
	if (s->stop_after > 0 && (int)s->n == s->stop_after)
		return 7;
	return 0;
}

static void
sink_free(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		buf_fini(&s->frames[i]);
	s->n = 0;
}

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void
test_encode_layout(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	assert_int_equal(framing_encode(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3 + FRAMING_OVERHEAD);
	assert_int_equal(b.data[0], 0x5A);
	assert_int_equal(b.data[1], 0xC3);
	assert_int_equal(b.data[2], 0);
	assert_int_equal(b.data[3], 3);
	uint16_t hc = framing_crc16(b.data, 4);
	assert_int_equal(b.data[4], hc >> 8);
	assert_int_equal(b.data[5], hc & 0xFF);
	assert_memory_equal(b.data + 6, "abc", 3);
	/* CRC-32 of "abc" is 0x352441C2. */
	assert_int_equal(b.data[9], 0x35);
	assert_int_equal(b.data[10], 0x24);
	assert_int_equal(b.data[11], 0x41);
	assert_int_equal(b.data[12], 0xC2);
	/* CRC-16/CCITT-FALSE check value. */
	assert_int_equal(framing_crc16((const uint8_t *)"123456789", 9),
	    0x29B1);
	buf_fini(&b);
}

static void
test_round_trip_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 2, 5, 6, 255, 256, 1000, 4096 };
	struct framing_dec d;
	struct sink s = { .n = 0 };
	struct buf b = BUF_INIT;
	uint8_t p[4096];

	framing_dec_init(&d, 4096);
	for (size_t i = 0; i < GW_ARRAY_LEN(sizes); i++) {
		fill(p, sizes[i], (uint8_t)i);
		assert_int_equal(framing_encode(&b, p, sizes[i]), 0);
	}
	assert_int_equal(framing_dec_feed(&d, b.data, b.len, collect, &s), 0);
	assert_int_equal(s.n, GW_ARRAY_LEN(sizes));
	for (size_t i = 0; i < GW_ARRAY_LEN(sizes); i++) {
		fill(p, sizes[i], (uint8_t)i);
		assert_int_equal(s.frames[i].len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(s.frames[i].data, p, sizes[i]);
	}
	assert_int_equal(d.stats.garbage_bytes, 0);
	assert_int_equal(framing_dec_pending(&d), 0);
	sink_free(&s);
	/* Byte by byte gives the same frames. */
	for (size_t i = 0; i < b.len; i++)
		framing_dec_feed(&d, b.data + i, 1, collect, &s);
	assert_int_equal(s.n, GW_ARRAY_LEN(sizes));
	assert_int_equal(s.frames[7].len, 1000);
	sink_free(&s);
	framing_dec_fini(&d);
	buf_fini(&b);
	/* Too big to encode. */
	assert_int_equal(framing_encode(&b, p, FRAMING_MAX_PAYLOAD + 1),
	    GW_ETOOBIG);
	assert_int_equal(b.len, 0);
}

/* Table of damaged streams: A, B, C frames with garbage around them. Each
 * row says which frames must come out. */
enum { F_A = 1, F_B = 2, F_C = 4 };

struct resync_case {
	const char *name;
	const char *pre, *between_ab, *between_bc; /* escaped garbage */
	int damage;   /* 0 none; 1 flip a payload bit in A; 2 garble A's
		       * length with a valid header check; 3 cut A short;
		       * 4 flip a header bit in B */
	int want;     /* F_* set */
};

static const struct resync_case cases[] = {
	{ "clean", "", "", "", 0, F_A | F_B | F_C },
	{ "noise before", "\x01\x02\xff\x5a\x00", "", "", 0,
	    F_A | F_B | F_C },
	{ "lone sync0 before", "\x5a\x5a\x5a", "", "", 0, F_A | F_B | F_C },
	{ "fake sync before", "\x5a\xc3\x00\x10\x00\x00", "", "", 0,
	    F_A | F_B | F_C },
	{ "noise between", "", "hello", "\xc3\x5a", 0, F_A | F_B | F_C },
	{ "payload bit flip", "", "", "", 1, F_B | F_C },
	{ "garbled length, valid header", "", "", "", 2, F_B | F_C },
	{ "garbled length and noise", "zz", "\x5a", "\x5a\xc3", 2,
	    F_B | F_C },
	{ "truncated frame", "", "", "", 3, F_B | F_C },
	{ "header bit flip in B", "", "", "", 4, F_A | F_C },
};

static void
test_resync_table(void **state)
{
	(void)state;
	for (size_t ci = 0; ci < GW_ARRAY_LEN(cases); ci++) {
		const struct resync_case *c = &cases[ci];
		struct buf in = BUF_INIT, fa = BUF_INIT, fb = BUF_INIT,
			   fc = BUF_INIT;
		uint8_t pa[40], pb[30], pc[50];
		struct framing_dec d;
		struct sink s = { .n = 0 };

		fill(pa, sizeof(pa), 1);
		fill(pb, sizeof(pb), 2);
		fill(pc, sizeof(pc), 3);
		/* Payloads that contain the sync word themselves. */
		pb[3] = 0x5A;
		pb[4] = 0xC3;
		framing_encode(&fa, pa, sizeof(pa));
		framing_encode(&fb, pb, sizeof(pb));
		framing_encode(&fc, pc, sizeof(pc));
		if (c->damage == 1)
			fa.data[10] ^= 0x10;
		if (c->damage == 2) {
			/* Claims 200 bytes: covers B and C entirely. */
			fa.data[2] = 0;
			fa.data[3] = 200;
			uint16_t hc = framing_crc16(fa.data, 4);
			fa.data[4] = (uint8_t)(hc >> 8);
			fa.data[5] = (uint8_t)hc;
		}
		if (c->damage == 3)
			buf_truncate(&fa, 20);
		if (c->damage == 4)
			fb.data[3] ^= 0x01;
		buf_append_str(&in, c->pre);
		buf_append(&in, fa.data, fa.len);
		buf_append_str(&in, c->between_ab);
		buf_append(&in, fb.data, fb.len);
		buf_append_str(&in, c->between_bc);
		buf_append(&in, fc.data, fc.len);

		for (int mode = 0; mode < 2; mode++) {
			framing_dec_init(&d, 1024);
			if (mode == 0)
				framing_dec_feed(&d, in.data, in.len, collect,
				    &s);
			else
				for (size_t i = 0; i < in.len; i++)
					framing_dec_feed(&d, in.data + i, 1,
					    collect, &s);
			/* End of the transmission. */
			framing_dec_flush(&d, collect, &s);
			assert_int_equal(framing_dec_pending(&d), 0);
			size_t k = 0;
			const struct {
				int bit;
				uint8_t *p;
				size_t n;
			} exp[] = { { F_A, pa, sizeof(pa) },
				{ F_B, pb, sizeof(pb) },
				{ F_C, pc, sizeof(pc) } };
			for (size_t e = 0; e < 3; e++) {
				if (!(c->want & exp[e].bit))
					continue;
				if (k >= s.n)
					fail_msg("%s (mode %d): frame %zu "
					    "missing", c->name, mode, e);
				assert_int_equal(s.frames[k].len, exp[e].n);
				assert_memory_equal(s.frames[k].data,
				    exp[e].p, exp[e].n);
				k++;
			}
			if (k != s.n)
				fail_msg("%s: %zu frames, want %zu", c->name,
				    s.n, k);
			/* Every byte is accounted for. */
			size_t good = 0;
			for (size_t i = 0; i < s.n; i++)
				good += s.frames[i].len + FRAMING_OVERHEAD;
			assert_int_equal(good + d.stats.garbage_bytes +
				framing_dec_pending(&d), in.len);
			sink_free(&s);
			framing_dec_fini(&d);
		}
		buf_fini(&in);
		buf_fini(&fa);
		buf_fini(&fb);
		buf_fini(&fc);
	}
}

static void
test_length_bound(void **state)
{
	(void)state;
	struct framing_dec d;
	struct sink s = { .n = 0 };
	struct buf b = BUF_INIT;
	uint8_t p[300];

	fill(p, sizeof(p), 9);
	framing_dec_init(&d, 256);
	framing_encode(&b, p, 300); /* longer than this receiver takes */
	framing_encode(&b, p, 100);
	framing_dec_feed(&d, b.data, b.len, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.frames[0].len, 100);
	assert_true(d.stats.bad_header >= 1);
	/* The pending buffer never exceeds one maximal frame. */
	assert_true(framing_dec_pending(&d) <= 256 + FRAMING_OVERHEAD);
	sink_free(&s);
	framing_dec_fini(&d);
	buf_fini(&b);
}

static void
test_stop_feed(void **state)
{
	(void)state;
	struct framing_dec d;
	struct sink s = { .n = 0, .stop_after = 1 };
	struct buf b = BUF_INIT;

	framing_dec_init(&d, 64);
	framing_encode(&b, "one", 3);
	framing_encode(&b, "two", 3);
	assert_int_equal(framing_dec_feed(&d, b.data, b.len, collect, &s), 7);
	assert_int_equal(s.n, 1);
	assert_int_equal(framing_dec_pending(&d), 0);
	sink_free(&s);
	framing_dec_fini(&d);
	buf_fini(&b);
}

/* Random frames, random bit flips in some of them, random chunking: every
 * frame that was not touched comes out, in order, and nothing else. */
static void
test_random_bit_flips(void **state)
{
	(void)state;
	rng_state = tu_seed("test_random_bit_flips") | 1;
	for (int round = 0; round < 200; round++) {
		struct buf in = BUF_INIT;
		struct buf payload[40];
		bool intact[40];
		size_t nf = 1 + rng() % 40;
		struct framing_dec d;
		struct sink s = { .n = 0 };

		for (size_t i = 0; i < nf; i++) {
			size_t n = rng() % 300, start = in.len;
			buf_init(&payload[i]);
			for (size_t j = 0; j < n; j++)
				buf_append_byte(&payload[i],
				    (rng() % 4 == 0) ? 0x5A : (uint8_t)rng());
			if (rng() % 5 == 0) { /* garbage between frames */
				size_t g = rng() % 20;
				for (size_t j = 0; j < g; j++)
					buf_append_byte(&in, rng() % 3 == 0 ?
					    0x5A : rng() % 2 ? 0xC3 :
					    (uint8_t)rng());
				start = in.len;
			}
			framing_encode(&in, payload[i].data, n);
			intact[i] = true;
			if (rng() % 4 == 0) {
				size_t flips = 1 + rng() % 3;
				uint8_t *orig = xmemdup(in.data + start,
				    in.len - start);
				for (size_t f = 0; f < flips; f++) {
					size_t at = start + rng() %
					    (in.len - start);
					in.data[at] ^= (uint8_t)(1u << rng() %
					    8);
				}
				/* Two flips of one bit cancel out. */
				intact[i] = memcmp(orig, in.data + start,
				    in.len - start) == 0;
				free(orig);
			}
		}
		framing_dec_init(&d, 512);
		for (size_t off = 0; off < in.len;) {
			size_t c = 1 + rng() % 64;
			if (c > in.len - off)
				c = in.len - off;
			framing_dec_feed(&d, in.data + off, c, collect, &s);
			off += c;
		}
		framing_dec_flush(&d, collect, &s);
		size_t k = 0;
		for (size_t i = 0; i < nf; i++) {
			if (!intact[i])
				continue;
			if (k >= s.n)
				fail_msg("round %d: intact frame %zu lost",
				    round, i);
			assert_int_equal(s.frames[k].len, payload[i].len);
			if (payload[i].len)
				assert_memory_equal(s.frames[k].data,
				    payload[i].data, payload[i].len);
			k++;
		}
		assert_int_equal(k, s.n);
		for (size_t i = 0; i < nf; i++)
			buf_fini(&payload[i]);
		sink_free(&s);
		framing_dec_fini(&d);
		buf_fini(&in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_resync_table),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_stop_feed),
		cmocka_unit_test(test_random_bit_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
