/* The zstd codec of the transfer stream (docs/air-protocol.md s7): the
 * features bit picks it only when both gateways offer it (a peer without
 * it gets deflate, both ways); every round is decodable on its own when it
 * arrives; a resume after a fade starts a new frame from the committed
 * offset; a corrupt block, a window over the limit, a frame that ends, a
 * frame made with another dictionary and a deflate stream into a zstd
 * session are stream errors; acknowledgements by handle range, and random bytes
 * never get further; the 16-byte envelope digest (feature 0x10): agreed
 * between new gateways, the full 32 bytes with a peer without it, a digest
 * that does not match NAKed and never committed, resume after a fade. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/xfer_session.h"
#include "link-drivers/link_session.h"
#include "tests/lib/xfer_sim.h"

#include <sodium.h>
#include <zlib.h>
#include <zstd.h>

static uint64_t g_seed;

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Mail-like text of len bytes; the same words recur across messages. */
static void
mail_text(struct buf *b, uint64_t *r, size_t len)
{
	buf_appendf(b, "Received: from field.example by base.example\r\n"
	    "Subject: report %llu\r\nFrom: ops@field.example\r\n"
	    "To: hq@base.example\r\n\r\n", (unsigned long long)(rnd(r) % 1000));
	while (b->len < len)
		buf_appendf(b, "line %llu of the situation report, all quiet "
		    "on sector %llu\r\n", (unsigned long long)(rnd(r) % 977),
		    (unsigned long long)(rnd(r) % 31));
	buf_truncate(b, len);
}

static void
env_make(struct xfer_env *e, uint64_t *r)
{
	xfer_env_init(e);
	for (int i = 0; i < XFER_ID_BYTES; i++)
		e->id[i] = (uint8_t)rnd(r);
	e->from = xstrdup("ops@field.example");
	xfer_env_add_rcpt(e, "hq@base.example", 0, NULL, NULL);
}

static struct drv_caps
caps_hf(void)
{
	struct drv_caps c = { .mtu_bytes = 1024, .rate_bps = 2400,
		.full_duplex = false, .turnaround_ms = 2000,
		.max_tx_ms = 120000 };
	return c;
}

static bool
all_done(struct xsim *s, void *arg)
{
	(void)arg;
	return xsim_all_done(s, XSIM_A) && xsim_all_done(s, XSIM_B);
}

static void
check_all(struct xsim *s, const char *what)
{
	char why[200];
	if (xsim_check(s, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: invariant (seed=%llu): %s\n", what,
		    (unsigned long long)g_seed, why);
		fail();
	}
	for (int side = 0; side < 2; side++)
		for (size_t i = 0; i < xsim_sent_count(s, side); i++)
			if (!xsim_delivered(s, side, i) ||
			    !xsim_sent(s, side, i)->relayed) {
				fprintf(stderr, "%s: side %d msg %zu not done "
				    "(seed=%llu)\n", what, side, i,
				    (unsigned long long)g_seed);
				fail();
			}
}

/* A batch both ways; returns A's compressed output. */
struct batch_out {
	uint64_t plain_a;  /* A's record plaintext */
	uint64_t msgs_a;   /* MSG records A sent */
	uint64_t resumes;  /* partial transfers resumed, both sides */
};

static uint64_t
run_batch2(bool zstd, bool b_no_zstd, bool b_no_sha128, uint32_t *feat_a,
    uint32_t *feat_b, const struct xsim_fade *fade, struct batch_out *bo)
{
	struct xsim_config c = { .seed = g_seed, .quiet = true,
		.caps = caps_hf(), .dict_id = AIR_DICT_HEADERS, .zstd = zstd,
		.b_no_zstd = b_no_zstd, .b_no_sha128 = b_no_sha128 };
	if (fade) {
		c.fades[0] = *fade;
		c.nfades = 1;
	}
	struct xsim *s = xsim_new(&c);
	xsim_start(s);
	uint64_t r = g_seed | 1;
	for (int i = 0; i < 30; i++) {
		struct xfer_env e;
		struct buf b = BUF_INIT;
		env_make(&e, &r);
		mail_text(&b, &r, 800 + rnd(&r) % 3000);
		xsim_submit(s, i % 5 == 4 ? XSIM_B : XSIM_A, &e, b.data, b.len);
		xfer_env_fini(&e);
		buf_fini(&b);
	}
	assert_true(xsim_run(s, 4 * 3600 * 1000LL, all_done, NULL));
	check_all(s, zstd ? "zstd batch" : "deflate batch");
	*feat_a = link_features(xsim_link(s, XSIM_A));
	*feat_b = link_features(xsim_link(s, XSIM_B));
	const struct xfer_stats *sa = xfer_get_stats(xsim_xfer(s, XSIM_A));
	const struct xfer_stats *sb = xfer_get_stats(xsim_xfer(s, XSIM_B));
	uint64_t comp = sa->comp_out;
	if (bo) {
		bo->plain_a = sa->plain_out;
		bo->msgs_a = sa->msgs_sent;
		bo->resumes = sa->resumes + sb->resumes;
	}
	xsim_free(s);
	return comp;
}

static uint64_t
run_batch(bool zstd, bool b_no_zstd, uint32_t *feat_a, uint32_t *feat_b,
    const struct xsim_fade *fade)
{
	return run_batch2(zstd, b_no_zstd, false, feat_a, feat_b, fade, NULL);
}

static void
test_codec_of(void **state)
{
	(void)state;
	assert_int_equal(xfer_opts_of(0), XFER_CODEC_NONE);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE), XFER_CODEC_DEFLATE);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE | LINK_FEAT_DICT),
	    XFER_CODEC_DEFLATE);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE | LINK_FEAT_DICT |
	    LINK_FEAT_ZSTD), XFER_CODEC_ZSTD);
	assert_int_equal(xfer_opts_of(LINK_FEAT_ZSTD), XFER_CODEC_ZSTD);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE | LINK_FEAT_ZSTD |
	    LINK_FEAT_ACKR), XFER_CODEC_ZSTD | XFER_OPT_ACKR);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE | LINK_FEAT_ACKR),
	    XFER_CODEC_DEFLATE | XFER_OPT_ACKR);
	assert_int_equal(xfer_opts_of(LINK_FEAT_ZSTD | LINK_FEAT_ACKR |
	    LINK_FEAT_SHA128), XFER_CODEC_ZSTD | XFER_OPT_ACKR |
	    XFER_OPT_SHA128);
	assert_int_equal(xfer_opts_of(LINK_FEAT_DEFLATE | LINK_FEAT_SHA128),
	    XFER_CODEC_DEFLATE | XFER_OPT_SHA128);
	/* 0x20 is not ours: it selects nothing */
	assert_int_equal(xfer_opts_of(LINK_FEAT_ZSTD | 0x20), XFER_CODEC_ZSTD);
	assert_int_equal(LINK_FEAT_SHA128, 0x10);
}

/* New peers agree on zstd; a peer without the bit gets deflate with the
 * header dictionary, and the batch crosses both ways either way. */
static void
test_negotiation(void **state)
{
	(void)state;
	uint32_t fa, fb;
	unsetenv("SKYWAVE_AIR_CODEC");
	uint64_t z = run_batch(true, false, &fa, &fb, NULL);
	assert_true(fa & LINK_FEAT_ZSTD);
	assert_true(fb & LINK_FEAT_ZSTD);
	assert_true(fa & fb & LINK_FEAT_ACKR);
	uint64_t d = run_batch(true, true, &fa, &fb, NULL);
	assert_int_equal(fa, LINK_FEAT_DEFLATE | LINK_FEAT_DICT);
	assert_int_equal(fb, LINK_FEAT_DEFLATE | LINK_FEAT_DICT);
	uint64_t d2 = run_batch(false, false, &fa, &fb, NULL);
	assert_int_equal(fa, LINK_FEAT_DEFLATE | LINK_FEAT_DICT);
	assert_int_equal(d2, d); /* the old peer's session is unchanged */
	fprintf(stderr, "negotiation: A's stream zstd %llu, deflate %llu\n",
	    (unsigned long long)z, (unsigned long long)d);
	assert_true(z < d);
}

/* A fade long enough to lose the session: the next session starts a new
 * zstd frame and the transfers resume from the receiver's offsets. */
static void
test_resume_after_fade(void **state)
{
	(void)state;
	uint32_t fa, fb;
	unsetenv("SKYWAVE_AIR_CODEC");
	struct xsim_fade f = { 20000, 20000 + 10 * 60 * 1000 };
	struct batch_out bo;
	run_batch2(true, false, false, &fa, &fb, &f, &bo);
	assert_true(fa & LINK_FEAT_ZSTD);
	/* with the 16-byte digest: a partial transfer continued from the
	 * receiver's offset in the new session and its check passed (the
	 * invariant compares the committed SHA-256, all 32 bytes) */
	assert_true(fa & fb & LINK_FEAT_SHA128);
	if (bo.resumes == 0) {
		fprintf(stderr, "resume: nothing resumed (seed=%llu)\n",
		    (unsigned long long)g_seed);
		fail();
	}
}

/* The 16-byte digest is agreed between new gateways and saves about 16
 * bytes per MSG; a peer that offers zstd and ACKR but
 * not 0x10 gets the full 32-byte SHA-256 and the batch crosses both
 * ways all the same (the invariant checks every committed digest). */
static void
test_sha128_negotiation(void **state)
{
	(void)state;
	uint32_t fa, fb;
	struct batch_out s16, s32;
	unsetenv("SKYWAVE_AIR_CODEC");
	run_batch2(true, false, false, &fa, &fb, NULL, &s16);
	assert_true(fa & fb & LINK_FEAT_SHA128);
	assert_true(fa & fb & LINK_FEAT_ZSTD);
	run_batch2(true, false, true, &fa, &fb, NULL, &s32);
	assert_false(fa & LINK_FEAT_SHA128);
	assert_false(fb & LINK_FEAT_SHA128);
	assert_true(fa & fb & LINK_FEAT_ZSTD);
	assert_true(fa & fb & LINK_FEAT_ACKR);
	assert_int_equal(s16.msgs_a, s32.msgs_a);
	/* 16 bytes per MSG (test_sha128_record); segment boundaries and
	 * acknowledgement runs vary with timing by a few bytes */
	assert_true(s32.plain_a > s16.plain_a + 12 * s16.msgs_a);
}


/* Two transfer sessions back to back, no link layer. */
struct end {
	struct xfer *x;
	int commits;
	uint8_t last_sha[XFER_SHA_BYTES]; /* the committed envelope's digest */
	struct buf last;
	struct buf store; /* the sender's one message */
};

static long
st_read(void *a, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	struct end *e = a;
	(void)id;
	if (off > e->store.len)
		return GW_EINVAL;
	if (len > e->store.len - off)
		len = (size_t)(e->store.len - off);
	memcpy(p, e->store.data + off, len);
	return (long)len;
}
static void
st_rel(void *a, const uint8_t *id, bool dup)
{
	(void)a, (void)id, (void)dup;
}
static bool
st_com(void *a, const uint8_t *id)
{
	(void)a, (void)id;
	return false;
}
static void
st_part(void *a, const struct xfer_env *e, uint64_t off, const uint8_t *p,
    size_t len)
{
	(void)a, (void)e, (void)off, (void)p, (void)len;
}
static void
st_commit(void *a, const struct xfer_env *env, const uint8_t *c, size_t len)
{
	struct end *e = a;
	e->commits++;
	memcpy(e->last_sha, env->sha256, XFER_SHA_BYTES);
	buf_reset(&e->last);
	buf_append(&e->last, c, len);
	xfer_commit_done(e->x, env->id, 0);
}

static void
end_init(struct end *e, int codec)
{
	memset(e, 0, sizeof(*e));
	struct xfer_store st = { st_read, st_rel, st_com, st_part, st_commit,
		e };
	struct xfer_config xc = { .name = "zstd", .seg_bytes = 600 };
	e->x = xfer_new(&xc, &st);
	xfer_link_up(e->x, codec, AIR_DICT_HEADERS);
}

static void
end_fini(struct end *e)
{
	xfer_free(e->x);
	buf_fini(&e->last);
	buf_fini(&e->store);
}

/* Move whatever a has to b, pull by pull; returns bytes moved. */
static size_t
pump(struct end *a, struct end *b)
{
	uint8_t p[700];
	size_t n, tot = 0;
	while ((n = xfer_pull(a->x, p, sizeof(p))) > 0) {
		xfer_deliver(b->x, p, n);
		tot += n;
	}
	return tot;
}

/* Each round is decodable when it arrives: a message of several rounds
 * commits as soon as the last round's bytes are delivered, with nothing
 * held back in either codec's buffers. */
static void
test_rounds_decodable(void **state)
{
	(void)state;
	uint64_t r = g_seed | 3;
	struct end a, b;
	end_init(&a, XFER_CODEC_ZSTD);
	end_init(&b, XFER_CODEC_ZSTD);
	pump(&a, &b);
	pump(&b, &a); /* HAVE_END both ways */
	struct xfer_env e;
	env_make(&e, &r);
	for (int k = 0; k < 400; k++) /* less compressible text */
		buf_appendf(&a.store, "%016llx ", (unsigned long long)rnd(&r));
	e.size = a.store.len;
	xfer_sha256(e.sha256, a.store.data, a.store.len);
	assert_int_equal(xfer_out_add(a.x, &e), 0);
	xfer_env_fini(&e);
	/* Whenever everything the sender compressed has been delivered,
	 * the receiver has decoded everything the sender fed in: every
	 * round ends with a flush. One byte a time: a pull makes a new
	 * round only when the last one is out, and the decoder takes its
	 * input in any pieces. */
	uint8_t p[1];
	size_t n, rounds = 0;
	uint64_t moved = xfer_get_stats(a.x)->comp_out; /* HAVE_END */
	while ((n = xfer_pull(a.x, p, sizeof(p))) > 0) {
		xfer_deliver(b.x, p, n);
		moved += n;
		assert_int_equal(xfer_error(b.x), 0);
		const struct xfer_stats *sa = xfer_get_stats(a.x);
		if (moved == sa->comp_out) {
			assert_int_equal(xfer_get_stats(b.x)->plain_in,
			    sa->plain_out);
			rounds++;
		}
	}
	assert_int_equal(b.commits, 1);
	assert_true(rounds > 1);
	assert_int_equal(b.last.len, a.store.len);
	assert_memory_equal(b.last.data, a.store.data, a.store.len);
	pump(&b, &a); /* the ACK */
	assert_int_equal(xfer_out_count(a.x), 0);
	end_fini(&a);
	end_fini(&b);
}

/* Acknowledgements by handle range: twenty commits in a row cost one
 * ACKR record instead of twenty ACKs with ids, and the sender forgets
 * every message; an ACKR in a session that did not agree on it is a
 * stream error (duplicates acknowledged by handle run in the restart
 * tests of the air simulations, test_air_sim_zstd). */
static size_t
ack_bytes(int opts)
{
	uint64_t r = g_seed | 7;
	struct end a, b;
	end_init(&a, opts);
	end_init(&b, opts);
	pump(&a, &b);
	pump(&b, &a);
	uint64_t b0 = xfer_get_stats(b.x)->plain_out;
	mail_text(&a.store, &r, 900);
	for (int i = 0; i < 20; i++) {
		struct xfer_env e;
		env_make(&e, &r);
		e.size = a.store.len;
		xfer_sha256(e.sha256, a.store.data, a.store.len);
		assert_int_equal(xfer_out_add(a.x, &e), 0);
		xfer_env_fini(&e);
	}
	pump(&a, &b);
	assert_int_equal(b.commits, 20);
	pump(&b, &a);
	assert_int_equal(xfer_out_count(a.x), 0);
	assert_int_equal(xfer_get_stats(a.x)->msgs_acked, 20);
	assert_int_equal(xfer_error(a.x) | xfer_error(b.x), 0);
	size_t n = (size_t)(xfer_get_stats(b.x)->plain_out - b0);
	end_fini(&a);
	end_fini(&b);
	return n;
}

static void
test_ack_ranges(void **state)
{
	(void)state;
	size_t by_id = ack_bytes(XFER_CODEC_ZSTD);
	size_t by_range = ack_bytes(XFER_CODEC_ZSTD | XFER_OPT_ACKR);
	fprintf(stderr, "acks: by id %zu bytes, by range %zu\n", by_id,
	    by_range);
	assert_int_equal(by_id, 20 * (2 + XFER_ID_BYTES + 1));
	assert_true(by_range <= 6);
	/* deflate sessions may agree on it too */
	assert_true(ack_bytes(XFER_CODEC_DEFLATE | XFER_OPT_ACKR) <= 6);

	/* not agreed: refused */
	struct end x;
	end_init(&x, XFER_CODEC_NONE);
	static const uint8_t rec[] = { XFER_R_ACKR, 3, 1, 1, 0 };
	xfer_deliver(x.x, rec, sizeof(rec));
	assert_int_equal(xfer_error(x.x), GW_EPROTO);
	end_fini(&x);
	/* agreed: malformed ones refused, unknown handles ignored */
	static const uint8_t bad[][6] = {
		{ XFER_R_ACKR, 3, 0, 1, 0 },   /* handle 0 */
		{ XFER_R_ACKR, 3, 1, 0, 0 },   /* count 0 */
		{ XFER_R_ACKR, 3, 1, 1, 2 },   /* status 2 */
		{ XFER_R_ACKR, 4, 1, 1, 0, 0 }, /* trailing byte */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		end_init(&x, XFER_CODEC_NONE | XFER_OPT_ACKR);
		xfer_deliver(x.x, bad[i], (size_t)bad[i][1] + 2);
		assert_int_equal(xfer_error(x.x), GW_EPROTO);
		end_fini(&x);
	}
	end_init(&x, XFER_CODEC_NONE | XFER_OPT_ACKR);
	static const uint8_t ok[] = { XFER_R_ACKR, 3, 9, 100, 1 };
	xfer_deliver(x.x, ok, sizeof(ok));
	assert_int_equal(xfer_error(x.x), 0);
	end_fini(&x);
}

/* Feed raw bytes to a fresh zstd receiver; returns its error. */
static int
feed_zstd(const uint8_t *p, size_t n)
{
	struct end b;
	end_init(&b, XFER_CODEC_ZSTD);
	xfer_deliver(b.x, p, n);
	int err = xfer_error(b.x);
	end_fini(&b);
	return err;
}

/* A frame of the records "HAVE_END" made with the given parameters. */
static size_t
frame(uint8_t *out, size_t cap, int wlog, int dict, bool end)
{
	static const uint8_t rec[] = { 5, 0 }; /* HAVE_END */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t dl;
	const uint8_t *d = air_dict_get(AIR_DICT_ZSTD, &dl);
	assert_non_null(c);
	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, wlog);
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	uint8_t *copy = xmalloc(dl);
	memcpy(copy, d, dl);
	if (dict > 1) /* the same bytes under another id (header bytes 4..7) */
		copy[4] = (uint8_t)dict;
	if (dict)
		assert_false(ZSTD_isError(ZSTD_CCtx_loadDictionary(c, copy,
		    dl)));
	free(copy);
	ZSTD_inBuffer in = { rec, sizeof(rec), 0 };
	ZSTD_outBuffer ob = { out, cap, 0 };
	size_t left = ZSTD_compressStream2(c, &ob, &in, end ? ZSTD_e_end :
	    ZSTD_e_flush);
	assert_false(ZSTD_isError(left));
	assert_int_equal(left, 0);
	ZSTD_freeCCtx(c);
	return ob.pos;
}

static void
test_bad_streams(void **state)
{
	(void)state;
	uint8_t f[512];
	size_t n;
	/* in step: a flushed frame with the dictionary and our window */
	n = frame(f, sizeof(f), XFER_ZSTD_WLOG, true, false);
	assert_int_equal(feed_zstd(f, n), 0);
	/* a window larger than a receiver takes: refused, not allocated */
	n = frame(f, sizeof(f), 27, true, false);
	assert_int_equal(feed_zstd(f, n), GW_EPROTO);
	/* another zstd dictionary (id 3) */
	n = frame(f, sizeof(f), XFER_ZSTD_WLOG, 3, false);
	assert_int_equal(ZSTD_getDictID_fromFrame(f, n), 3);
	assert_int_equal(feed_zstd(f, n), GW_EPROTO);
	/* the frame ends: a session has one frame */
	n = frame(f, sizeof(f), XFER_ZSTD_WLOG, true, true);
	assert_int_equal(feed_zstd(f, n), GW_EPROTO);
	/* a block compressed against the dictionary, corrupted */
	struct end a, b;
	uint64_t r = g_seed | 5;
	end_init(&a, XFER_CODEC_ZSTD);
	end_init(&b, XFER_CODEC_ZSTD);
	struct xfer_env e;
	env_make(&e, &r);
	mail_text(&a.store, &r, 3000);
	e.size = a.store.len;
	xfer_sha256(e.sha256, a.store.data, a.store.len);
	xfer_deliver(a.x, f, frame(f, sizeof(f), XFER_ZSTD_WLOG, true,
	    false)); /* the peer's HAVE_END */
	assert_int_equal(xfer_out_add(a.x, &e), 0);
	xfer_env_fini(&e);
	uint8_t p[8192];
	size_t got = xfer_pull(a.x, p, sizeof(p));
	assert_true(got > 40);
	/* the frame names its dictionary */
	assert_int_equal(ZSTD_getDictID_fromFrame(p, got), AIR_DICT_ZSTD);
	for (size_t i = 20; i < got; i += 7)
		p[i] ^= 0x5a;
	xfer_deliver(b.x, p, got);
	assert_int_equal(xfer_error(b.x), GW_EPROTO);
	assert_int_equal(b.commits, 0);
	end_fini(&a);
	end_fini(&b);
	/* a raw deflate stream into a zstd session */
	uint8_t z[64];
	uLongf zl = sizeof(z);
	static const uint8_t rec[] = { 5, 0 };
	assert_int_equal(compress2(z, &zl, rec, sizeof(rec), 9), Z_OK);
	assert_int_equal(feed_zstd(z, zl), GW_EPROTO);
	/* random bytes, a byte at a time */
	for (int k = 0; k < 200; k++) {
		uint8_t g[64];
		for (size_t i = 0; i < sizeof(g); i++)
			g[i] = (uint8_t)rnd(&r);
		if (k % 2) { /* behind a good frame header */
			size_t h = frame(f, sizeof(f), XFER_ZSTD_WLOG, true,
			    false);
			memcpy(f + h, g, sizeof(g));
			(void)feed_zstd(f, h + sizeof(g));
		} else {
			(void)feed_zstd(g, sizeof(g));
		}
	}
}

/* One message from a to b under opts, with the envelope's digest
 * damaged at byte flip (-1: intact); pumped back and forth a few times.
 * Returns b's commits; *naks: NAKs b sent. */
static int
digest_case(int opts, int flip, size_t *naks, uint8_t sha[XFER_SHA_BYTES],
    uint8_t committed[XFER_SHA_BYTES])
{
	uint64_t r = g_seed | 9;
	struct end a, b;
	end_init(&a, opts);
	end_init(&b, opts);
	pump(&a, &b);
	pump(&b, &a);
	struct xfer_env e;
	env_make(&e, &r);
	mail_text(&a.store, &r, 2500);
	e.size = a.store.len;
	xfer_sha256(e.sha256, a.store.data, a.store.len);
	memcpy(sha, e.sha256, XFER_SHA_BYTES);
	if (flip >= 0)
		e.sha256[flip] ^= 0x01;
	assert_int_equal(xfer_out_add(a.x, &e), 0);
	xfer_env_fini(&e);
	for (int k = 0; k < 3; k++) { /* NAK, resend from 0, NAK, ... */
		pump(&a, &b);
		pump(&b, &a);
	}
	assert_int_equal(xfer_error(a.x) | xfer_error(b.x), 0);
	*naks = (size_t)xfer_get_stats(b.x)->naks_sent;
	int commits = b.commits;
	memcpy(committed, b.last_sha, XFER_SHA_BYTES);
	/* not committed: still the sender's, never relayed */
	assert_int_equal(xfer_out_count(a.x), commits ? 0 : 1);
	end_fini(&a);
	end_fini(&b);
	return commits;
}

/* A digest that does not match the content is refused (NAK 1) every time
 * and the message is never committed, in both digest lengths; with the
 * 16-byte digest the store still gets the whole SHA-256, computed by the
 * receiver over the octets it stores; without 0x10 all 32 bytes are
 * checked. */
static void
test_sha128_mismatch(void **state)
{
	(void)state;
	uint8_t sha[XFER_SHA_BYTES], got[XFER_SHA_BYTES];
	size_t naks;
	int o16 = XFER_CODEC_ZSTD | XFER_OPT_ACKR | XFER_OPT_SHA128;
	int o32 = XFER_CODEC_ZSTD | XFER_OPT_ACKR;

	assert_int_equal(digest_case(o16, -1, &naks, sha, got), 1);
	assert_int_equal(naks, 0);
	assert_memory_equal(got, sha, XFER_SHA_BYTES);
	for (int flip = 0; flip < XFER_SHA_SHORT; flip += 5) {
		assert_int_equal(digest_case(o16, flip, &naks, sha, got), 0);
		assert_true(naks >= 2); /* each attempt refused */
		assert_int_equal(digest_case(o32, flip, &naks, sha, got), 0);
		assert_true(naks >= 2);
	}
	/* the second half never travels with 0x10: not what is checked,
	 * and not what is stored */
	assert_int_equal(digest_case(o16, 20, &naks, sha, got), 1);
	assert_memory_equal(got, sha, XFER_SHA_BYTES);
	/* without 0x10 it travels and is checked */
	assert_int_equal(digest_case(o32, 20, &naks, sha, got), 0);
	assert_true(naks >= 2);
	assert_int_equal(digest_case(o32, XFER_SHA_BYTES - 1, &naks, sha,
	    got), 0);
	/* deflate sessions may agree on it too */
	assert_int_equal(digest_case(XFER_CODEC_DEFLATE | XFER_OPT_SHA128, 3,
	    &naks, sha, got), 0);
	assert_int_equal(digest_case(XFER_CODEC_DEFLATE | XFER_OPT_SHA128, -1,
	    &naks, sha, got), 1);
}

/* A MSG record is exactly 16 bytes shorter with 0x10, and a receiver
 * decodes it only with the length its session agreed on. */
static void
test_sha128_record(void **state)
{
	(void)state;
	uint64_t r = g_seed | 11;
	struct xfer_env e, d;
	struct buf b16 = BUF_INIT, b32 = BUF_INIT;
	env_make(&e, &r);
	e.size = 1234;
	for (int i = 0; i < XFER_SHA_BYTES; i++)
		e.sha256[i] = (uint8_t)(0x40 + i);
	xfer_env_encode_d(&e, &b16, XFER_SHA_SHORT);
	xfer_env_encode(&e, &b32);
	assert_int_equal(b32.len - b16.len, XFER_SHA_BYTES - XFER_SHA_SHORT);
	assert_int_equal(xfer_env_decode_d(b16.data, b16.len, &d,
	    XFER_SHA_SHORT), 0);
	assert_memory_equal(d.sha256, e.sha256, XFER_SHA_SHORT);
	for (int i = XFER_SHA_SHORT; i < XFER_SHA_BYTES; i++)
		assert_int_equal(d.sha256[i], 0);
	assert_int_equal(d.size, 1234);
	assert_string_equal(d.from, e.from);
	xfer_env_fini(&d);
	/* the wrong length for the session: malformed, not misread */
	assert_int_equal(xfer_env_decode_d(b16.data, b16.len, &d,
	    XFER_SHA_BYTES), GW_EPROTO);
	assert_int_equal(xfer_env_decode_d(b32.data, b32.len, &d,
	    XFER_SHA_SHORT), GW_EPROTO);
	xfer_env_fini(&e);
	buf_fini(&b16);
	buf_fini(&b32);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	gw_log_set_level(GW_LOG_WARN);
	g_seed = tu_seed("test_xfer_zstd");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_of),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_resume_after_fade),
		cmocka_unit_test(test_rounds_decodable),
		cmocka_unit_test(test_bad_streams),
		cmocka_unit_test(test_ack_ranges),
		cmocka_unit_test(test_sha128_negotiation),
		cmocka_unit_test(test_sha128_mismatch),
		cmocka_unit_test(test_sha128_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
