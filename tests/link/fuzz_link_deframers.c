/* libFuzzer target: the first input byte picks the decoder (byte-stream
 * framing, KISS, AT dialogue), the rest is fed in chunks whose sizes come
 * from the input too. Build: cmake -DSKYWAVE_FUZZ=ON
 * -DCMAKE_C_COMPILER=clang, then ./fuzz_link_deframers. */
#include "common/buf.h"
#include "link-drivers/at_chat.h"
#include "link-drivers/framing.h"
#include "link-drivers/kiss.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fr_cb(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

static int
kiss_cb(void *arg, unsigned port, unsigned cmd, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)port;
	(void)cmd;
	(void)p;
	(void)n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 1;

	if (size < 2)
		return 0;
	if (data[0] % 3 == 0) {
		struct framing_dec d;
		framing_dec_init(&d, 64 + data[1]);
		while (off < size) {
			size_t c = 1 + data[off] % 31;
			if (c > size - off)
				c = size - off;
			framing_dec_feed(&d, data + off, c, fr_cb, NULL);
			off += c;
		}
		framing_dec_flush(&d, fr_cb, NULL);
		framing_dec_fini(&d);
	} else if (data[0] % 3 == 1) {
		struct kiss_dec d;
		kiss_dec_init(&d, 1 + data[1]);
		kiss_dec_feed(&d, data + 1, size - 1, kiss_cb, NULL);
		kiss_dec_fini(&d);
	} else {
		static struct prof_dialogue dlg;
		struct at_chat c;
		memset(&dlg, 0, sizeof(dlg));
		dlg.n_steps = 2;
		dlg.steps[0].kind = PROF_STEP_SEND;
		memcpy(dlg.steps[0].text, "ATD%N\r", 6);
		dlg.steps[0].len = 6;
		dlg.steps[1].kind = PROF_STEP_EXPECT;
		memcpy(dlg.steps[1].text, "CONNECT", 7);
		dlg.steps[1].len = 7;
		dlg.steps[1].timeout_ms = 1000;
		dlg.n_aborts = 1;
		memcpy(dlg.aborts[0], "BUSY", 5);
		at_chat_init(&c);
		at_chat_start(&c, &dlg, "1", 0);
		at_chat_input(&c, data + 1, size - 1, 1);
		at_chat_tick(&c, 2000);
		at_chat_fini(&c);
	}
	return 0;
}
