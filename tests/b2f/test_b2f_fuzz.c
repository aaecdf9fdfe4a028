/* The B2F fuzz target (fuzz_b2f.c) on random and mutated inputs for a few
 * seconds under the sanitizers: valid session transcripts, LZHUF payloads
 * and Winlink messages with bytes flipped, cut and repeated. Nothing may
 * crash, hang or leak. Seed: $SKYWAVE_SEED (printed); duration:
 * $B2F_FUZZ_SECONDS (3). */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/xmalloc.h"
#include "gateway/b2f/lzhuf.h"

#include <stdbool.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng;

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

static void
seed_inputs(struct buf *s, int which)
{
	static const char *wl = "Mid: ABCDEF\r\nBody: 5\r\nFile: 3 a.bin\r\n"
	    "From: N1\r\nTo: N0GW\r\nCc: SMTP:x@y.test\r\nSubject: s\r\n"
	    "Date: 2026/12/07 10:00\r\nX-Any: 1\r\n\r\nhello\r\nabc\r\n";
	struct buf z;

	buf_reset(s);
	switch (which) {
	case 0:
		buf_append_byte(s, 0);
		buf_append_str(s, ";FW: N1\r[X-1-B2FHM$]\r;PR: 1\r; N0 DE N1\r");
		buf_init(&z);
		lzhuf_encode((const uint8_t *)wl, strlen(wl), &z);
		buf_appendf(s, "FC EM ABCDEF %zu %zu 0\r", strlen(wl), z.len);
		{
			char line[64];
			unsigned sum = 0;
			snprintf(line, sizeof(line), "FC EM ABCDEF %zu %zu 0",
			    strlen(wl), z.len);
			for (char *p = line; *p; p++)
				sum += (unsigned char)*p;
			sum += '\r';
			buf_appendf(s, "F> %02X\r", (unsigned)(-(int)sum) & 0xff);
		}
		buf_append_byte(s, 1);
		buf_append_byte(s, 4);
		buf_append(s, "t\0" "0\0", 4);
		buf_append_byte(s, 2);
		buf_append_byte(s, (uint8_t)z.len);
		buf_append(s, z.data, z.len);
		{
			unsigned sum = 0;
			for (size_t i = 0; i < z.len; i++)
				sum += z.data[i];
			buf_append_byte(s, 4);
			buf_append_byte(s, (uint8_t)(-(int)sum));
		}
		buf_append_str(s, "FF\rFQ\r");
		buf_fini(&z);
		break;
	case 1:
		buf_append_byte(s, 1);
		buf_append_str(s, "Callsign :\rPassword :\r;PQ: 123\r"
		    "[P-1-B2FHM$]\r; N0 DE N1>\rFS +\rFF\r");
		break;
	case 2:
		buf_append_byte(s, 2);
		lzhuf_encode((const uint8_t *)wl, strlen(wl), s);
		break;
	default:
		buf_append_byte(s, 3);
		buf_append_str(s, wl);
		break;
	}
}

static void
test_fuzz(void **state)
{
	(void)state;
	const char *e = getenv("SKYWAVE_SEED");
	const char *d = getenv("B2F_FUZZ_SECONDS");
	double secs = d ? atof(d) : 3;
	struct buf s, m;
	time_t end = time(NULL) + (time_t)secs;
	long runs = 0;

	rng = e ? strtoull(e, NULL, 10) : (uint64_t)time(NULL);
	if (rng == 0)
		rng = 1;
	printf("seed %llu\n", (unsigned long long)rng);
	buf_init(&s);
	buf_init(&m);
	while (time(NULL) <= end || runs < 200) {
		seed_inputs(&s, (int)(rnd() % 4));
		buf_reset(&m);
		buf_append(&m, s.data, s.len);
		int muts = (int)(rnd() % 8);
		for (int k = 0; k < muts && m.len > 1; k++) {
			size_t at = 1 + rnd() % (m.len - 1);
			switch (rnd() % 4) {
			case 0:
				m.data[at] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1:
				buf_truncate(&m, at);
				break;
			case 2:
				m.data[at] = (uint8_t)rnd();
				break;
			default: {
				uint8_t rep[50];
				size_t rl = m.len - at > 50 ? 50 : m.len - at;
				memcpy(rep, m.data + at, rl);
				buf_append(&m, rep, rl);
				break;
			}
			}
		}
		if (rnd() % 10 == 0) {
			buf_reset(&m);
			size_t n = rnd() % 400;
			for (size_t i = 0; i < n; i++)
				buf_append_byte(&m, (uint8_t)rnd());
		}
		LLVMFuzzerTestOneInput(m.data, m.len);
		runs++;
	}
	printf("%ld runs\n", runs);
	buf_fini(&s);
	buf_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
