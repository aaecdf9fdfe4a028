/* Transfer protocol codec: envelope round trips, limits, records, and a
 * randomised robustness run of the envelope, record and stream decoders
 * (the fuzz target's work in a unit test). */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/xfer_session.h"
#include "gateway/air/xfer_wire.h"
#include "gateway/conneg/conneg.h"

#include <sodium.h>

static void
fill_env(struct xfer_env *e)
{
	xfer_env_init(e);
	for (int i = 0; i < XFER_ID_BYTES; i++)
		e->id[i] = (uint8_t)(i * 9 + 1);
	e->from = xstrdup("eljefe@example.com");
	e->priority = -9;
	e->ret = XFER_RET_FULL;
	e->envid = xstrdup("QQ314159");
	e->by_s = 120;
	e->by_mode = XFER_BY_R | XFER_BY_TRACE;
	e->aby_s = 60;
	e->size = 123456789;
	for (int i = 0; i < XFER_SHA_BYTES; i++)
		e->sha256[i] = (uint8_t)(0xA0 + i);
	xfer_env_add_rcpt(e, "topbanana@example.net", XFER_NOTIFY_SUCCESS |
	    XFER_NOTIFY_FAILURE, "rfc822;topbanana@example.net",
	    "rfc822;bottom-apple@loc2.example.org");
	xfer_env_add_rcpt(e, "b@y.test", XFER_NOTIFY_NEVER, NULL, NULL);
	xfer_env_add_rcpt(e, "c@y.test", 0, NULL, "rfc822;d@y.test");
}

static void
test_env_roundtrip(void **state)
{
	(void)state;
	struct xfer_env e, d;
	struct buf b = BUF_INIT;
	fill_env(&e);
	xfer_env_encode(&e, &b);
	/* Compact: fixed 16 + 32 bytes plus the text. */
	assert_true(b.len < 16 + 32 + 200);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	assert_memory_equal(d.id, e.id, XFER_ID_BYTES);
	assert_string_equal(d.from, "eljefe@example.com");
	assert_int_equal(d.priority, -9);
	assert_int_equal(d.ret, XFER_RET_FULL);
	assert_string_equal(d.envid, "QQ314159");
	assert_int_equal(d.by_s, 120);
	assert_int_equal(d.by_mode, XFER_BY_R | XFER_BY_TRACE);
	assert_int_equal(d.aby_s, 60);
	assert_int_equal(d.size, 123456789);
	assert_memory_equal(d.sha256, e.sha256, XFER_SHA_BYTES);
	assert_int_equal(d.nrcpt, 3);
	assert_string_equal(d.rcpt[0].arcpt,
	    "rfc822;bottom-apple@loc2.example.org");
	assert_string_equal(d.rcpt[0].orcpt, "rfc822;topbanana@example.net");
	assert_int_equal(d.rcpt[1].notify, XFER_NOTIFY_NEVER);
	assert_null(d.rcpt[1].orcpt);
	assert_null(d.rcpt[2].orcpt);
	assert_string_equal(d.rcpt[2].arcpt, "rfc822;d@y.test");
	xfer_env_fini(&d);

	/* Absent optional fields and the null reverse path. */
	free(e.envid);
	e.envid = NULL;
	e.by_s = e.aby_s = -1;
	free(e.from);
	e.from = xstrdup("");
	e.priority = 9;
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	assert_null(d.envid);
	assert_int_equal(d.by_s, -1);
	assert_int_equal(d.aby_s, -1);
	assert_string_equal(d.from, "");
	assert_int_equal(d.priority, 9);
	xfer_env_fini(&d);

	/* Every truncation fails cleanly; trailing bytes too. */
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(xfer_env_decode(b.data, k, &d), GW_EPROTO);
	buf_append_byte(&b, 0);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	xfer_env_fini(&e);
	buf_fini(&b);
}

static void
test_env_limits(void **state)
{
	(void)state;
	struct xfer_env e, d;
	struct buf b = BUF_INIT;
	fill_env(&e);
	/* NEVER combined with another flag is invalid (RFC 3461). */
	e.rcpt[1].notify = XFER_NOTIFY_NEVER | XFER_NOTIFY_DELAY;
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	e.rcpt[1].notify = 0;
	/* Priority out of range. */
	e.priority = 10;
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	e.priority = 0;
	/* ENVID over 100 characters. */
	free(e.envid);
	char big[102];
	memset(big, 'x', 101);
	big[101] = '\0';
	e.envid = xstrdup(big);
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	/* A control character in an address. */
	free(e.envid);
	e.envid = NULL;
	e.rcpt[0].addr[2] = '\n';
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	xfer_env_fini(&e);
	buf_fini(&b);
}

/* CONPERM and the per-recipient CONNEG/DRUCOF/LOSSY marks cross the air;
 * unknown flag bits are refused. */
static void
test_env_conneg_flags(void **state)
{
	(void)state;
	struct xfer_env e, d, c;
	struct buf b = BUF_INIT;
	fill_env(&e);
	e.mflags = XFER_ENV_CONPERM;
	e.rcpt[0].cflags = XFER_RC_CONNEG | XFER_RC_DRUCOF;
	e.rcpt[1].cflags = XFER_RC_LOSSY;
	e.rcpt[2].cflags = XFER_RC_DRUCOF | XFER_RC_LOSSY;
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.mflags, XFER_ENV_CONPERM);
	assert_int_equal(d.rcpt[0].cflags, XFER_RC_CONNEG | XFER_RC_DRUCOF);
	assert_int_equal(d.rcpt[1].cflags, XFER_RC_LOSSY);
	assert_int_equal(d.rcpt[2].cflags, XFER_RC_DRUCOF | XFER_RC_LOSSY);
	/* The optional fields around them are intact. */
	assert_string_equal(d.rcpt[0].orcpt, "rfc822;topbanana@example.net");
	assert_string_equal(d.rcpt[2].arcpt, "rfc822;d@y.test");
	assert_string_equal(d.envid, "QQ314159");
	/* A copy keeps them. */
	xfer_env_copy(&c, &d);
	assert_int_equal(c.mflags, XFER_ENV_CONPERM);
	assert_int_equal(c.rcpt[2].cflags, XFER_RC_DRUCOF | XFER_RC_LOSSY);
	xfer_env_fini(&c);
	xfer_env_fini(&d);

	/* Without them nothing is set (and the encoding is as before). */
	struct buf b0 = BUF_INIT;
	e.mflags = 0;
	for (size_t i = 0; i < e.nrcpt; i++)
		e.rcpt[i].cflags = 0;
	xfer_env_encode(&e, &b0);
	assert_int_equal(b0.len, b.len);
	assert_int_equal(xfer_env_decode(b0.data, b0.len, &d), 0);
	assert_int_equal(d.mflags, 0);
	for (size_t i = 0; i < d.nrcpt; i++)
		assert_int_equal(d.rcpt[i].cflags, 0);
	xfer_env_fini(&d);
	buf_fini(&b0);

	/* Unknown envelope flag bits (offset 16 holds the flag byte). */
	for (unsigned bit = 0x10; bit <= 0x80; bit <<= 1) {
		buf_reset(&b);
		xfer_env_encode(&e, &b);
		b.data[XFER_ID_BYTES] |= (uint8_t)bit;
		assert_int_equal(xfer_env_decode(b.data, b.len, &d),
		    GW_EPROTO);
	}
	/* Unknown recipient flag bits: with a last recipient without
	 * ORCPT/ARCPT, the last byte is its rflags. */
	xfer_env_add_rcpt(&e, "z@y.test", 0, NULL, NULL);
	for (unsigned bit = 0x20; bit <= 0x80; bit <<= 1) {
		buf_reset(&b);
		xfer_env_encode(&e, &b);
		assert_int_equal(b.data[b.len - 1], 0);
		b.data[b.len - 1] = (uint8_t)bit;
		assert_int_equal(xfer_env_decode(b.data, b.len, &d),
		    GW_EPROTO);
	}
	/* and the known ones in that byte decode */
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	b.data[b.len - 1] = 0x1c;
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	assert_int_equal(d.rcpt[3].cflags, XFER_RC_CONNEG | XFER_RC_DRUCOF |
	    XFER_RC_LOSSY);
	xfer_env_fini(&d);
	xfer_env_fini(&e);
	buf_fini(&b);
}

static void
test_varint_and_records(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	uint64_t vals[] = { 0, 1, 127, 128, 300, 1u << 20, UINT64_MAX };
	for (size_t i = 0; i < GW_ARRAY_LEN(vals); i++)
		xfer_put_varint(&b, vals[i]);
	const uint8_t *p = b.data;
	size_t n = b.len;
	for (size_t i = 0; i < GW_ARRAY_LEN(vals); i++) {
		uint64_t v;
		assert_int_equal(xfer_get_varint(&p, &n, &v), 0);
		assert_true(v == vals[i]);
	}
	assert_int_equal(n, 0);
	uint8_t over[11];
	memset(over, 0xff, sizeof(over));
	p = over;
	n = sizeof(over);
	uint64_t v;
	assert_int_equal(xfer_get_varint(&p, &n, &v), GW_EPROTO);

	buf_reset(&b);
	xfer_rec_begin(&b, XFER_R_SEG, 3);
	buf_append(&b, "abc", 3);
	uint8_t type;
	const uint8_t *body;
	size_t len, used;
	for (size_t k = 0; k < b.len; k++)
		assert_int_equal(xfer_rec_parse(b.data, k, &type, &body, &len,
		    &used), 0);
	assert_int_equal(xfer_rec_parse(b.data, b.len, &type, &body, &len,
	    &used), 1);
	assert_int_equal(type, XFER_R_SEG);
	assert_int_equal(len, 3);
	assert_int_equal(used, b.len);
	b.data[0] = 77;
	assert_int_equal(xfer_rec_parse(b.data, b.len, &type, &body, &len,
	    &used), GW_EPROTO);
	/* The capability records are known types. */
	b.data[0] = XFER_R_CAPS_HELD;
	assert_int_equal(xfer_rec_parse(b.data, b.len, &type, &body, &len,
	    &used), 1);
	b.data[0] = XFER_R_CAPS;
	assert_int_equal(xfer_rec_parse(b.data, b.len, &type, &body, &len,
	    &used), 1);
	b.data[0] = XFER_R_LAST + 1;
	assert_int_equal(xfer_rec_parse(b.data, b.len, &type, &body, &len,
	    &used), GW_EPROTO);
	buf_fini(&b);
}

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Stubs for a receiving transfer fed garbage. */
static long
rd(void *a, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	(void)a, (void)id, (void)off, (void)p, (void)len;
	return GW_ENOENT;
}
static void
rel(void *a, const uint8_t *id, bool dup)
{
	(void)a, (void)id, (void)dup;
}
static bool
com(void *a, const uint8_t *id)
{
	(void)a, (void)id;
	return false;
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

static void
test_decoder_robustness(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_xfer_wire_robustness") | 1;
	struct xfer_env e, d;
	struct buf good = BUF_INIT;
	uint8_t buf[512];
	fill_env(&e);
	xfer_env_encode(&e, &good);
	unsigned ok = 0;
	for (int it = 0; it < 100000; it++) {
		size_t n;
		if (it % 2) {
			n = rng(&seed) % sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng(&seed);
		} else {
			n = good.len;
			memcpy(buf, good.data, n);
			int m = 1 + (int)(rng(&seed) % 3);
			for (int k = 0; k < m; k++)
				buf[rng(&seed) % n] = (uint8_t)rng(&seed);
		}
		if (xfer_env_decode(buf, n, &d) == 0) {
			ok++;
			assert_true(d.nrcpt >= 1 && d.nrcpt <= XFER_RCPT_MAX);
			assert_true(d.priority >= -9 && d.priority <= 9);
			xfer_env_fini(&d);
		}
		uint8_t type;
		const uint8_t *body;
		size_t len, used;
		int rc = xfer_rec_parse(buf, n, &type, &body, &len, &used);
		assert_true(rc >= -1000 && rc <= 1);
		if (rc == 1)
			assert_true(used <= n && body + len <= buf + n);
	}
	assert_true(ok > 100); /* mutations of unchecked bytes still decode */

	/* A receiving transfer fed random streams latches an error or
	 * ignores, never crashes; uncompressed and compressed. */
	struct xfer_store st = { rd, rel, com, part, commit, NULL };
	struct xfer_config xc = { .name = "fuzz" };

	/* The sender refuses envelopes outside the limits. */
	struct xfer *xs = xfer_new(&xc, &st);
	assert_int_equal(xfer_out_add(xs, &e), 0);
	assert_int_equal(xfer_out_add(xs, &e), GW_EEXIST);
	struct xfer_env none;
	xfer_env_init(&none);
	none.from = xstrdup("");
	assert_int_equal(xfer_out_add(xs, &none), GW_ETOOBIG);
	assert_int_equal(xfer_out_count(xs), 1);
	assert_int_equal(xfer_out_remove(xs, e.id), 0);
	assert_int_equal(xfer_out_remove(xs, e.id), GW_ENOENT);
	xfer_env_fini(&none);
	xfer_free(xs);
	gw_log_set_stderr(false);
	for (int it = 0; it < 2000; it++) {
		struct xfer *x = xfer_new(&xc, &st);
		xfer_set_caps_cb(x, caps_parse, NULL);
		xfer_link_up(x, it % 2, 0);
		for (int k = 0; k < 4; k++) {
			size_t n = rng(&seed) % sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng(&seed);
			if (k == 0 && n > 2 && it % 4 == 0) {
				buf[0] = XFER_R_MSG;
				buf[1] = (uint8_t)(n - 2 < 127 ? n - 2 : 127);
			}
			xfer_deliver(x, buf, n);
		}
		xfer_free(x);
	}
	gw_log_set_stderr(true);
	xfer_env_fini(&e);
	buf_fini(&good);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_roundtrip),
		cmocka_unit_test(test_env_limits),
		cmocka_unit_test(test_env_conneg_flags),
		cmocka_unit_test(test_varint_and_records),
		cmocka_unit_test(test_decoder_robustness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
