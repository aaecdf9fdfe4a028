/* Time-bounded random-input robustness of the deframers and the AT engine
 * (run under ASan/UBSan): random and mutated streams, random chunking, and
 * the invariants that must hold whatever arrives. Seconds per target:
 * $SKYWAVE_FUZZ_SECONDS (default 2). The seed is printed. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "link-drivers/at_chat.h"
#include "link-drivers/framing.h"
#include "link-drivers/kiss.h"

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

static int64_t
budget_ms(void)
{
	const char *s = getenv("SKYWAVE_FUZZ_SECONDS");
	int64_t v = s ? atoll(s) : 2;

	return (v > 0 ? v : 2) * 1000;
}

/* A stream: random bytes biased toward the special values, valid encoded
 * frames, and valid frames with a few bits flipped. */
static void
make_stream(struct buf *out, int kiss)
{
	int pieces = 1 + (int)(rng() % 20);

	for (int i = 0; i < pieces; i++) {
		uint8_t p[600];
		size_t n = rng() % sizeof(p), start = out->len;
		for (size_t j = 0; j < n; j++) {
			unsigned r = (unsigned)(rng() % 16);
			p[j] = r == 0 ? 0x5A : r == 1 ? 0xC3 : r == 2 ? 0xC0 :
			    r == 3 ? 0xDB : r == 4 ? 0xDC : r == 5 ? 0xDD :
			    (uint8_t)rng();
		}
		switch (rng() % 3) {
		case 0:
			buf_append(out, p, n);
			break;
		default:
			if (kiss)
				kiss_encode(out, (unsigned)(rng() % 16), 0, p,
				    n);
			else
				framing_encode(out, p, n);
			if (rng() % 2 && out->len > start) {
				size_t at = start + rng() % (out->len - start);
				out->data[at] ^= (uint8_t)(1u << rng() % 8);
			}
			break;
		}
	}
}

struct fstat {
	size_t good_bytes;
	size_t max;
};

static int
fr_cb(void *arg, const uint8_t *p, size_t n)
{
	struct fstat *f = arg;

	(void)p;
	assert_true(n <= f->max);
	f->good_bytes += n + FRAMING_OVERHEAD;
	return 0;
}

static void
test_fuzz_framing(void **state)
{
	(void)state;
	int64_t end = clk_mono_ms(clk_system()) + budget_ms();
	long rounds = 0;

	rng_state = tu_seed("test_fuzz_framing") | 1;
	while (clk_mono_ms(clk_system()) < end) {
		struct framing_dec d;
		struct fstat f = { 0, 16 + rng() % 600 };
		struct buf in = BUF_INIT;
		size_t fed = 0;

		framing_dec_init(&d, f.max);
		for (int k = 0; k < 8; k++) {
			buf_reset(&in);
			make_stream(&in, 0);
			for (size_t off = 0; off < in.len;) {
				size_t c = 1 + rng() % 97;
				if (c > in.len - off)
					c = in.len - off;
				framing_dec_feed(&d, in.data + off, c, fr_cb,
				    &f);
				fed += c;
				off += c;
				assert_true(framing_dec_pending(&d) <=
				    f.max + FRAMING_OVERHEAD);
				if (rng() % 50 == 0)
					framing_dec_flush(&d, fr_cb, &f);
			}
		}
		framing_dec_flush(&d, fr_cb, &f);
		assert_int_equal(framing_dec_pending(&d), 0);
		/* Every byte: in a good frame or counted as garbage. */
		assert_int_equal(f.good_bytes + d.stats.garbage_bytes, fed);
		framing_dec_fini(&d);
		buf_fini(&in);
		rounds++;
	}
	fprintf(stderr, "framing: %ld rounds\n", rounds);
}

static int
kiss_cb(void *arg, unsigned port, unsigned cmd, const uint8_t *p, size_t n)
{
	size_t max = *(size_t *)arg;

	(void)p;
	assert_true(port <= 15 && cmd <= 15);
	assert_true(n + 1 <= max);
	return 0;
}

static void
test_fuzz_kiss(void **state)
{
	(void)state;
	int64_t end = clk_mono_ms(clk_system()) + budget_ms();
	long rounds = 0;

	rng_state = tu_seed("test_fuzz_kiss") | 1;
	while (clk_mono_ms(clk_system()) < end) {
		struct kiss_dec d;
		size_t max = 1 + rng() % 700;
		struct buf in = BUF_INIT;

		kiss_dec_init(&d, max);
		make_stream(&in, 1);
		for (size_t off = 0; off < in.len;) {
			size_t c = 1 + rng() % 64;
			if (c > in.len - off)
				c = in.len - off;
			kiss_dec_feed(&d, in.data + off, c, kiss_cb, &max);
			off += c;
			assert_true(d.frame.len <= max);
		}
		kiss_dec_fini(&d);
		buf_fini(&in);
		rounds++;
	}
	fprintf(stderr, "kiss: %ld rounds\n", rounds);
}

static void
test_fuzz_at_chat(void **state)
{
	(void)state;
	static const char *words[] = { "OK", "CONNECT", "CONNECT 2400",
		"NO CARRIER", "BUSY", "ERROR", "RING", "cmd:", ">", "AT",
		"\r", "\n", "\r\n", "%N", "%%", "CONNECT 99999999999" };
	int64_t end = clk_mono_ms(clk_system()) + budget_ms();
	long rounds = 0;

	rng_state = tu_seed("test_fuzz_at_chat") | 1;
	while (clk_mono_ms(clk_system()) < end) {
		struct prof_dialogue dlg;
		struct at_chat c;
		int64_t now = 0;

		memset(&dlg, 0, sizeof(dlg));
		dlg.n_steps = (int)(rng() % PROF_STEPS_MAX);
		for (int i = 0; i < dlg.n_steps; i++) {
			struct prof_step *s = &dlg.steps[i];
			const char *w = words[rng() % GW_ARRAY_LEN(words)];
			s->kind = (int)(rng() % 3);
			s->len = strlen(w);
			memcpy(s->text, w, s->len);
			s->timeout_ms = (int64_t)(rng() % 3000);
		}
		dlg.n_aborts = (int)(rng() % 3);
		for (int i = 0; i < dlg.n_aborts; i++)
			snprintf(dlg.aborts[i], PROF_TEXT_MAX, "%s",
			    words[3 + rng() % 3]);
		at_chat_init(&c);
		enum at_chat_status st = at_chat_start(&c, &dlg, "123", now);
		for (int k = 0; k < 50 && st == AT_CHAT_RUNNING; k++) {
			uint8_t b[300];
			size_t n = rng() % sizeof(b);
			for (size_t j = 0; j < n; j++)
				b[j] = rng() % 4 ? (uint8_t)words[rng() %
				    GW_ARRAY_LEN(words)][0] : (uint8_t)rng();
			now += (int64_t)(rng() % 500);
			if (rng() % 4) {
				st = at_chat_input(&c, b, n, now);
				assert_true(c.used <= n);
				/* Only a finished dialogue leaves bytes. */
				if (st == AT_CHAT_RUNNING)
					assert_int_equal(c.used, n);
			} else {
				st = at_chat_tick(&c, now);
			}
			assert_true(c.line_len <= AT_CHAT_LINE_MAX);
			if (st == AT_CHAT_RUNNING)
				assert_true(at_chat_deadline(&c) != INT64_MAX);
			else
				assert_true(at_chat_deadline(&c) == INT64_MAX);
		}
		if (st == AT_CHAT_FAILED)
			assert_true(c.err < 0 && c.reason[0] != '\0');
		at_chat_fini(&c);
		rounds++;
	}
	fprintf(stderr, "at_chat: %ld rounds\n", rounds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz_framing),
		cmocka_unit_test(test_fuzz_kiss),
		cmocka_unit_test(test_fuzz_at_chat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
