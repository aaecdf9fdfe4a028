/* libFuzzer target for the air protocol's decoders: link frames (codec and
 * a keyed session in LISTEN and in UP), transfer envelopes, records, and a
 * receiving transfer stream (uncompressed, deflate and zstd; the zstd
 * decoder's window is capped at XFER_ZSTD_WLOG_MAX, so memory stays
 * bounded whatever the frame header claims).
 *   cmake -DSKYWAVE_FUZZ=ON -DCMAKE_C_COMPILER=clang; ./fuzz_air corpus/
 * The first input byte picks the target (for the stream: bit 2 deflate,
 * bit 4 zstd, bit 3 the deflate dictionary). */
#include "common/log.h"
#include "gateway/air/xfer_session.h"
#include "gateway/air/xfer_wire.h"
#include "gateway/conneg/conneg.h"
#include "link-drivers/link_frame.h"
#include "link-drivers/link_session.h"

#include <sodium.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long
rd(void *a, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	(void)a, (void)id, (void)off, (void)p, (void)len;
	return -1;
}
static void
rel(void *a, const uint8_t *id, bool dup)
{
	(void)a, (void)id, (void)dup;
}
static bool
com(void *a, const uint8_t *id)
{
	(void)a;
	return id[0] & 1;
}
static void
part(void *a, const struct xfer_env *e, uint64_t off, const uint8_t *p,
    size_t len)
{
	(void)a, (void)e, (void)off, (void)p, (void)len;
}
static void
commit(void *a, const struct xfer_env *e, const uint8_t *c, size_t len)
{
	(void)a, (void)e, (void)c, (void)len;
}

/* A published capability table goes through the real parser. */
static int
caps_parse(void *a, uint64_t digest, const uint8_t *text, size_t len)
{
	struct conneg_table *t = NULL;
	struct buf b = BUF_INIT;
	char err[200];
	(void)a, (void)digest;
	buf_append(&b, text, len);
	int rc = conneg_table_parse("fuzz", buf_cstr(&b), &t, err, sizeof(err));
	conneg_table_free(t);
	buf_fini(&b);
	return rc;
}

static size_t
pull(void *arg, uint8_t *p, size_t room)
{
	(void)arg, (void)p, (void)room;
	return 0;
}

static bool
pending(void *arg)
{
	(void)arg;
	return false;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[LINK_KEY_BYTES] = { 3 };
	if (size < 1)
		return 0;
	if (sodium_init() < 0)
		return 0;
	gw_log_set_stderr(false);
	uint8_t sel = data[0];
	data++;
	size--;
	switch (sel % 4) {
	case 0: {
		struct link_frame f;
		if (link_frame_decode(data, size, &f) == 0)
			(void)link_frame_verify(data, size, &f, key);
		struct link_config c = { .caps = { .mtu_bytes = 1024,
			.rate_bps = 2400, .max_tx_ms = 120000 },
			.identity = "fz", .key = (sel & 4) ? key : NULL };
		struct link_upper up = { pull, pending, NULL, NULL, NULL };
		struct link *l = link_new(&c, &up);
		struct buf out = BUF_INIT;
		link_open(l, 0);
		/* Split the input into frames at 0x7e bytes. */
		size_t start = 0;
		for (size_t i = 0; i <= size; i++) {
			if (i == size || data[i] == 0x7e) {
				link_input(l, (int64_t)i, data + start,
				    i - start);
				while (link_poll(l, (int64_t)i, &out) == 1)
					;
				link_tick(l, (int64_t)i * 1000);
				start = i + 1;
			}
		}
		buf_fini(&out);
		link_free(l);
		break;
	}
	case 1: {
		struct xfer_env e;
		if (xfer_env_decode(data, size, &e) == 0)
			xfer_env_fini(&e);
		if (xfer_env_decode_d(data, size, &e, XFER_SHA_SHORT) == 0)
			xfer_env_fini(&e);
		break;
	}
	case 2: {
		uint8_t type;
		const uint8_t *body;
		size_t len, used, pos = 0;
		while (pos < size && xfer_rec_parse(data + pos, size - pos,
		    &type, &body, &len, &used) == 1)
			pos += used;
		break;
	}
	default: {
		struct xfer_store st = { rd, rel, com, part, commit, NULL };
		struct xfer_config xc = { .name = "fuzz" };
		struct xfer *x = xfer_new(&xc, &st);
		xfer_set_caps_cb(x, caps_parse, NULL);
		xfer_link_up(x, (sel & 16) ? XFER_CODEC_ZSTD : (sel & 4) != 0,
		    (sel & 8) ? 1 : 0);
		xfer_deliver(x, data, size);
		uint8_t out[512];
		(void)xfer_pull(x, out, sizeof(out));
		xfer_free(x);
	}
	}
	return 0;
}
