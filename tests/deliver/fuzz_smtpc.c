/* libFuzzer entry (built with -DSKYWAVE_FUZZ=ON under clang) for the two
 * parsers of the onward client that read foreign input: the next hop's
 * replies (smtpc session) and message content (8BITMIME downgrade). The
 * first input byte picks the target. Invariants: a session always ends in
 * a consistent state (its checker aborts otherwise); a downgrade yields
 * 7-bit output or GW_EUNSUPP. Bit 5 of the first byte makes the message
 * negotiated (DRUCOF), so CONNEG replies are parsed too. */
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/deliver/smtpc_mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 262144)
		return 0;
	gw_log_set_stderr(false);
	if (data[0] & 1) {
		struct buf out = BUF_INIT;
		int rc = smtpc_mime_downgrade(data + 1, size - 1, &out);
		if (rc == 0 && smtpc_mime_has_8bit(out.data, out.len))
			abort();
		if (rc != 0 && (rc != GW_EUNSUPP || out.len != 0))
			abort();
		buf_fini(&out);
		return 0;
	}
	static struct queue_rcpt r[2] = { { .addr = "b@y.test" },
		{ .addr = "c@y.test", .notify = QUEUE_NOTIFY_SUCCESS } };
	/* bit 5: b asks DRUCOF (negotiation: probe, CONNEG replies) */
	r[0].flags = (data[0] >> 5) & 1 ? QUEUE_RCPT_DRUCOF : 0;
	struct queue_envelope env = { .reverse_path = "a@x.test", .rcpts = r,
		.nrcpts = 2, .priority = (data[0] >> 1) & 1 ? 3 : 0,
		.by_deadline = (data[0] >> 2) & 1 ? 1800000000 : 0,
		.by_mode = (data[0] >> 3) & 1 ? 'R' : 'N' };
	static const char msg[] = "Subject: f\r\n\r\nbody\r\n";
	struct smtpc_msg m = { &env, (const uint8_t *)msg, sizeof(msg) - 1,
		NULL, 0 };
	struct smtpc_opts o;
	smtpc_opts_default(&o, "fuzz.test");
	o.lmtp = (data[0] >> 4) & 1;
	struct smtpc_sess *s = smtpc_sess_new(&o, &m, clk_system(), "fuzz");
	smtpc_sess_connected(s, 0);
	smtpc_sess_input(s, data + 1, size - 1, 0);
	if (smtpc_sess_state(s) == SMTPC_S_NEGOTIATE)
		smtpc_sess_converted(s, NULL, NULL, 0); /* trial failed */
	buf_reset(smtpc_sess_output(s));
	smtpc_sess_drained(s, 0);
	smtpc_sess_eof(s, 0);
	if (smtpc_sess_state(s) != SMTPC_S_DONE ||
	    smtpc_sess_end(s) == SMTPC_END_NONE)
		abort();
	smtpc_sess_free(s);
	return 0;
}
