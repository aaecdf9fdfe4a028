/* libFuzzer target for the B2F parsers: the first input byte picks
 *   0  a master session (our listener) fed the rest after a good login:
 *      handshake lines, proposals, answers, SOH/STX/EOT blocks
 *   1  a slave session (our call out) fed the rest from the start
 *   2  the LZHUF decoder on a whole payload
 *   3  the Winlink message parser (into mail), and back out of mail
 *   cmake -DSKYWAVE_FUZZ=ON -DCMAKE_C_COMPILER=clang; ./fuzz_b2f corpus/
 * Also driven by test_b2f_fuzz (random and mutated inputs) in the suite. */
#include "common/buf.h"
#include "common/err.h"
#include "gateway/b2f/b2f_msg.h"
#include "gateway/b2f/b2f_session.h"
#include "gateway/b2f/lzhuf.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
f_props(void *arg, const struct b2f_proposal *p, size_t n)
{
	char a[32];
	uint32_t off[32] = { 0 };
	const uint8_t *pre[32] = { 0 };
	static const uint8_t zeros[64];

	for (size_t i = 0; i < n && i < 32; i++) {
		a[i] = "+-=!"[(p[i].mid[0] + i) & 3];
		off[i] = p[i].csize < 64 ? p[i].csize / 2 : 10;
		pre[i] = zeros;
	}
	b2f_session_answer(arg, a, off, pre, n < 32 ? n : 32);
}

static void
f_msg(void *arg, size_t idx, const char *mid, const uint8_t *m, size_t n)
{
	struct b2f_addrmap map = { "N0GW", "winlink.test", "ops@x.test",
		"gw" };
	struct b2f_inbound in;
	char err[200];

	(void)mid;
	if (b2f_msg_to_mail(m, n, &map, 0, &in, err, sizeof(err)) == 0)
		b2f_inbound_fini(&in);
	b2f_session_committed(arg, idx, (idx & 1) ? 0 : GW_EIO);
}

static void
f_turn(void *arg)
{
	static const uint8_t text[] = "Mid: FUZZ\r\nBody: 2\r\n\r\nhi";
	static struct buf z;
	struct b2f_offer o = { .mid = "FUZZMID", .title = "t" };

	if (z.len == 0)
		lzhuf_encode(text, sizeof(text) - 1, &z);
	o.payload = z.data;
	o.csize = z.len;
	o.size = sizeof(text) - 1;
	b2f_session_offer(arg, &o, 1);
}

static void
f_outcome(void *arg, size_t idx, enum b2f_result r)
{
	(void)arg, (void)idx, (void)r;
}

static void
f_end(void *arg, int err, const char *why)
{
	(void)arg, (void)err, (void)why;
}

static struct b2f_session *cur;

static void
fw_props(void *arg, const struct b2f_proposal *p, size_t n)
{
	(void)arg;
	f_props(cur, p, n);
}
static void
fw_msg(void *arg, size_t idx, const char *mid, const uint8_t *m, size_t n)
{
	(void)arg;
	f_msg(cur, idx, mid, m, n);
}
static void
fw_turn(void *arg)
{
	(void)arg;
	f_turn(cur);
}

static const struct b2f_session_cbs cbs = { fw_props, fw_msg, fw_turn,
	f_outcome, f_end };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0] & 3;
	data++;
	size--;
	b2f_msg_init();
	if (sel <= 1) {
		struct b2f_session_cfg c = { .master = sel == 0,
			.mycall = "N0GW", .password = (size & 1) ? "PW" : "",
			.challenge = 12345678, .max_message = 65536 };
		cur = b2f_session_new(&c, &cbs, NULL);
		b2f_session_start(cur);
		if (sel == 0)
			b2f_session_input(cur, (const uint8_t *)"N1\r\r", 4);
		/* in pieces, as TCP delivers */
		for (size_t i = 0; i < size;) {
			size_t k = 1 + data[i] % 64;
			if (k > size - i)
				k = size - i;
			b2f_session_input(cur, data + i, k);
			buf_reset(b2f_session_output(cur));
			i += k;
		}
		b2f_session_abort(cur, "end of input");
		b2f_session_free(cur);
		cur = NULL;
	} else if (sel == 2) {
		struct buf out;
		buf_init(&out);
		(void)lzhuf_decode(data, size, 1 << 20, &out);
		buf_fini(&out);
	} else {
		struct b2f_addrmap map = { "N0GW", "winlink.test",
			"ops@x.test", "gw" };
		struct b2f_inbound in;
		char err[200], title[81];
		if (b2f_msg_to_mail(data, size, &map, 0, &in, err,
		    sizeof(err)) == 0) {
			struct buf w;
			buf_init(&w);
			(void)b2f_msg_from_mail(in.content.data, in.content.len,
			    "ABC", in.from, "N1", &map, 0, &w, title);
			buf_fini(&w);
			b2f_inbound_fini(&in);
		}
	}
	return 0;
}
