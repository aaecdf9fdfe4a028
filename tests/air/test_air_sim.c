/* Deterministic two-gateway simulation of the air protocol: batches over
 * half- and full-duplex channels with faults, restarts of either side,
 * forged and replayed frames, key and version mismatches. Every run checks
 * the invariant (each message committed exactly once at the far side with
 * identical content, or still queued) and prints its seed. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "tests/air/air_hwchan.h"
#include "tests/lib/xfer_sim.h"

#include <sodium.h>
#include <stdio.h>

static uint64_t g_seed;

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static struct drv_caps
caps_hf(uint32_t rate)
{
	struct drv_caps c = { .mtu_bytes = 1024, .rate_bps = rate,
		.full_duplex = false, .turnaround_ms = 2000, .latency_ms = 0,
		.max_tx_ms = 120000 };
	return c;
}

/* A message of about len bytes: mail-like text or random bytes. */
static void
make_msg(struct xsim *s, int side, uint64_t *r, size_t len, int prio,
    bool random)
{
	struct xfer_env e;
	struct buf b = BUF_INIT;
	xfer_env_init(&e);
	for (int i = 0; i < XFER_ID_BYTES; i++)
		e.id[i] = (uint8_t)rnd(r);
	e.from = xstrdup("ops@field.example");
	e.priority = (int8_t)prio;
	e.by_s = 3600;
	e.by_mode = XFER_BY_R;
	e.envid = xstrdup("QQ314159");
	e.ret = XFER_RET_HDRS;
	xfer_env_add_rcpt(&e, "hq@base.example", XFER_NOTIFY_FAILURE |
	    XFER_NOTIFY_DELAY, "rfc822;hq@base.example",
	    "rfc822;alt@base.example");
	xfer_env_add_rcpt(&e, "log@base.example", 0, NULL, NULL);
	if (random) {
		for (size_t i = 0; i < len; i++)
			buf_append_byte(&b, (uint8_t)rnd(r));
	} else {
		buf_appendf(&b, "Subject: report %llu\r\nFrom: ops@field."
		    "example\r\nTo: hq@base.example\r\n\r\n",
		    (unsigned long long)(rnd(r) % 100000));
		while (b.len < len)
			buf_appendf(&b, "line %llu of the situation report, "
			    "all quiet\r\n", (unsigned long long)(rnd(r) % 977));
		buf_truncate(&b, len);
	}
	xsim_submit(s, side, &e, b.data, b.len);
	xfer_env_fini(&e);
	buf_fini(&b);
}

static bool
both_done(struct xsim *s, void *arg)
{
	(void)arg;
	return xsim_all_done(s, XSIM_A) && xsim_all_done(s, XSIM_B);
}

static void
assert_invariant(struct xsim *s, const char *what)
{
	char why[200];
	if (xsim_check(s, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: invariant broken (seed=%llu): %s\n", what,
		    (unsigned long long)g_seed, why);
		fail();
	}
}

static void
assert_all_delivered(struct xsim *s, const char *what)
{
	assert_invariant(s, what);
	for (int side = 0; side < 2; side++) {
		for (size_t i = 0; i < xsim_sent_count(s, side); i++) {
			if (!xsim_delivered(s, side, i) ||
			    !xsim_sent(s, side, i)->relayed) {
				fprintf(stderr, "%s: side %d msg %zu not done "
				    "(seed=%llu)\n", what, side, i,
				    (unsigned long long)g_seed);
				fail();
			}
		}
	}
}

static struct xsim *
sim_new(struct xsim_config *c)
{
	c->seed = g_seed;
	c->quiet = true;
	if (!c->caps.rate_bps)
		c->caps = caps_hf(2400);
	struct xsim *s = xsim_new(c);
	xsim_start(s);
	return s;
}

static void
test_batch_clean(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed | 1;
	for (int i = 0; i < 20; i++)
		make_msg(s, XSIM_A, &r, 500 + rnd(&r) % 5000, 0, false);
	for (int i = 0; i < 5; i++)
		make_msg(s, XSIM_B, &r, 300 + rnd(&r) % 3000, 0, false);
	make_msg(s, XSIM_A, &r, 0, 0, false); /* empty content */
	assert_true(xsim_run(s, 3600 * 1000, both_done, NULL));
	assert_all_delivered(s, "batch_clean");
	/* Many messages per turn: direction changes independent of count. */
	assert_true(xsim_chan(s)->turns < 12);
	const struct link_stats *ls = link_get_stats(xsim_link(s, XSIM_A));
	assert_int_equal(ls->drop_auth + ls->drop_corrupt, 0);
	assert_true(ls->goodput_bps > 0);
	xsim_free(s);
}


/* Run a batch both ways over a faulty channel, check delivery. */
static void
batch_with(struct xsim_config *c, const char *what, int na, int nb,
    int64_t limit_ms)
{
	struct xsim *s = sim_new(c);
	uint64_t r = g_seed * 3 + 1;
	for (int i = 0; i < na; i++)
		make_msg(s, XSIM_A, &r, 200 + rnd(&r) % 6000, (int)(rnd(&r) % 7) - 3,
		    i % 7 == 3);
	for (int i = 0; i < nb; i++)
		make_msg(s, XSIM_B, &r, 200 + rnd(&r) % 3000, 0, false);
	bool ok = xsim_run(s, limit_ms, both_done, NULL);
	assert_invariant(s, what);
	if (!ok) {
		fprintf(stderr, "%s: not done by %lld ms (seed=%llu) A:%s B:%s\n",
		    what, (long long)limit_ms, (unsigned long long)g_seed,
		    link_state_name(link_state(xsim_link(s, XSIM_A))),
		    link_state_name(link_state(xsim_link(s, XSIM_B))));
		fail();
	}
	assert_all_delivered(s, what);
	xsim_free(s);
}

static void
test_bit_errors(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS, .ber = 2e-5 };
	batch_with(&c, "bit_errors", 15, 5, 4 * 3600 * 1000LL);
}

static void
test_burst_fades(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS,
		.fade_every_ms = 40000, .fade_len_ms = 6000 };
	batch_with(&c, "burst_fades", 15, 5, 6 * 3600 * 1000LL);
}

static void
test_outage_minutes(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS, .nfades = 2,
		.fades = { { 30000, 30000 + 5 * 60000 },
			   { 600000, 600000 + 12 * 60000 } } };
	batch_with(&c, "outage", 25, 5, 6 * 3600 * 1000LL);
}

static void
test_drops_and_reordering(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS, .drop = 0.05,
		.reorder = 0.05, .reorder_ms = 500 };
	batch_with(&c, "drops_reorder", 15, 5, 6 * 3600 * 1000LL);
	struct xsim_config fd = { .dict_id = AIR_DICT_HEADERS, .drop = 0.05,
		.reorder = 0.1, .reorder_ms = 800,
		.caps = { .mtu_bytes = 512, .rate_bps = 19200,
			.full_duplex = true, .latency_ms = 50 } };
	batch_with(&fd, "full_duplex", 20, 20, 3600 * 1000LL);
}

static void
test_profiles(void **state)
{
	(void)state;
	/* hf-1200-hd, hf-300-hd-noisy like channels, a fast FD modem. */
	struct xsim_config a = { .dict_id = AIR_DICT_HEADERS,
		.caps = caps_hf(1200) };
	batch_with(&a, "hf1200", 10, 3, 6 * 3600 * 1000LL);
	struct xsim_config b = { .dict_id = AIR_DICT_HEADERS,
		.caps = caps_hf(300), .ber = 1e-4,
		.fade_every_ms = 120000, .fade_len_ms = 4000 };
	b.caps.turnaround_ms = 4000;
	b.caps.mtu_bytes = 256;
	batch_with(&b, "hf300noisy", 4, 2, 12 * 3600 * 1000LL);
	struct xsim_config cfd = { .no_compress = true,
		.caps = { .mtu_bytes = 256, .rate_bps = 9600,
			.full_duplex = true, .latency_ms = 20 } };
	batch_with(&cfd, "fd_nocompress", 10, 10, 3600 * 1000LL);
}

/* Restart a side when the far side holds a partial transfer of the big
 * message, then again right after a commit (its ACK is lost). */
struct restart_plan {
	int side;
	int done;
};

static bool
partial_then_restart(struct xsim *s, void *arg)
{
	struct restart_plan *p = arg;
	if (p->done == 0) {
		/* Mid-transfer: some content of message 0 arrived. */
		const struct xfer_stats *st = xfer_get_stats(xsim_xfer(s,
		    XSIM_B));
		if (st->plain_in > 20000) {
			xsim_restart(s, p->side);
			p->done = 1;
		}
		return false;
	}
	if (p->done == 1) {
		/* Right after B commits something, before A hears the ACK. */
		if (xsim_delivered(s, XSIM_A, 1) &&
		    !xsim_sent(s, XSIM_A, 1)->relayed) {
			xsim_restart(s, p->side);
			p->done = 2;
		}
		return false;
	}
	return both_done(s, NULL);
}

static void
restart_case(int side, const char *what)
{
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS,
		.commit_delay_ms = 300 };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed * 5 + 7;
	make_msg(s, XSIM_A, &r, 60000, 0, false); /* big, text */
	make_msg(s, XSIM_A, &r, 40000, 0, true);  /* big, random */
	for (int i = 0; i < 6; i++)
		make_msg(s, XSIM_A, &r, 500 + rnd(&r) % 2000, 0, false);
	make_msg(s, XSIM_B, &r, 3000, 0, false);
	struct restart_plan p = { side, 0 };
	bool ok = xsim_run(s, 6 * 3600 * 1000LL, partial_then_restart, &p);
	assert_invariant(s, what);
	if (!ok || p.done != 2) {
		fprintf(stderr, "%s: stage %d, not done (seed=%llu)\n", what,
		    p.done, (unsigned long long)g_seed);
		fail();
	}
	assert_all_delivered(s, what);
	/* The message committed just before the restart went across again
	 * and was recognised by its id, not committed twice. */
	const struct xfer_stats *xa = xfer_get_stats(xsim_xfer(s, XSIM_A));
	const struct xfer_stats *xb = xfer_get_stats(xsim_xfer(s, XSIM_B));
	if (side == XSIM_A)
		assert_true(xb->dups_seen >= 1);
	else
		assert_true(xa->dup_acked >= 1);
	xsim_free(s);
}

static void
test_restart_receiver(void **state)
{
	(void)state;
	restart_case(XSIM_B, "restart_receiver");
}

static void
test_restart_sender(void **state)
{
	(void)state;
	restart_case(XSIM_A, "restart_sender");
}

static bool
restart_once(struct xsim *s, void *arg)
{
	struct restart_plan *p = arg;
	if (xfer_get_stats(xsim_xfer(s, XSIM_B))->plain_in > 40000) {
		xsim_restart(s, p->side);
		p->done = 1;
		return true;
	}
	return false;
}

/* The receiver resumes from its durable offset: after B restarts in the
 * middle of a big message, A does not send it all again. */
static void
test_resume_not_restart(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed * 11 + 3;
	make_msg(s, XSIM_A, &r, 120000, 0, true); /* 400 s of air */
	struct restart_plan p = { XSIM_B, 0 };
	assert_true(xsim_run(s, 3600 * 1000LL, restart_once, &p));
	assert_int_equal(p.done, 1);
	int64_t t_restart = xsim_now(s);
	assert_true(xsim_run(s, 6 * 3600 * 1000LL, both_done, NULL));
	assert_all_delivered(s, "resume");
	/* A learned of the restart from B's "no session" answer, not after
	 * four silent timeouts. */
	const struct link_stats *la = link_get_stats(xsim_link(s, XSIM_A));
	assert_true(la->sessions_lost >= 1);
	assert_true(la->sessions >= 2);
	assert_true(la->timeouts < 4);
	(void)t_restart;
	/* Bytes on air stay well below twice the message. */
	const struct xfer_stats *xa = xfer_get_stats(xsim_xfer(s, XSIM_A));
	fprintf(stderr, "resume: air %llu plain_out %llu rewinds %llu\n",
	    (unsigned long long)xsim_chan(s)->air_bytes,
	    (unsigned long long)xa->plain_out,
	    (unsigned long long)xa->rewinds);
	assert_true(xsim_chan(s)->air_bytes < 120000 * 3 / 2);
	xsim_free(s);
}

/* Forged and replayed frames are dropped and counted, never acted on. */
struct tapbuf {
	struct buf last_b_data; /* a DATA frame B sent */
	struct buf hello;       /* A's HELLO */
};

static void
tap(void *arg, int side, const uint8_t *p, size_t n)
{
	struct tapbuf *t = arg;
	struct link_frame f;
	if (link_frame_decode(p, n, &f) != 0)
		return;
	if (side == XSIM_B && f.type == LINK_FT_DATA) {
		buf_reset(&t->last_b_data);
		buf_append(&t->last_b_data, p, n);
	}
	if (side == XSIM_A && f.type == LINK_FT_HELLO && !t->hello.len)
		buf_append(&t->hello, p, n);
}

static void
test_forged_and_replayed(void **state)
{
	(void)state;
	uint8_t key[LINK_KEY_BYTES];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 17 + 3);
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS, .key = key };
	struct xsim *s = sim_new(&c);
	struct tapbuf t = { BUF_INIT, BUF_INIT };
	xsim_set_tap(s, tap, &t);
	uint64_t r = g_seed * 13 + 5;
	for (int i = 0; i < 5; i++)
		make_msg(s, XSIM_A, &r, 2000, 0, false);
	for (int i = 0; i < 3; i++)
		make_msg(s, XSIM_B, &r, 2000, 0, false);
	assert_true(xsim_run(s, 3600 * 1000LL, both_done, NULL));
	assert_int_equal(link_state(xsim_link(s, XSIM_A)), LINK_S_UP);
	assert_true(t.last_b_data.len > 0 && t.hello.len > 0);

	const struct link_stats *sa = link_get_stats(xsim_link(s, XSIM_A));
	const struct link_stats *sb = link_get_stats(xsim_link(s, XSIM_B));
	uint64_t in_a = xfer_get_stats(xsim_xfer(s, XSIM_A))->plain_in;

	/* Replay of a DATA frame B sent: the counter was seen. */
	uint64_t rep = sa->drop_replay;
	xsim_inject(s, XSIM_A, t.last_b_data.data, t.last_b_data.len);
	assert_int_equal(sa->drop_replay, rep + 1);

	/* A forgery: a fresh counter and a valid CRC, but no key. */
	struct link_frame f;
	assert_int_equal(link_frame_decode(t.last_b_data.data,
	    t.last_b_data.len, &f), 0);
	uint8_t fake_key[LINK_KEY_BYTES] = { 9 };
	struct link_frame g = f;
	g.fctr = f.fctr + 1000;
	g.payload = (const uint8_t *)"forged content forged content";
	g.len = 29;
	uint8_t out[2048];
	size_t n = link_frame_encode(&g, fake_key, out, sizeof(out));
	uint64_t au = sa->drop_auth;
	xsim_inject(s, XSIM_A, out, n);
	assert_int_equal(sa->drop_auth, au + 1);
	/* Without a tag at all. */
	n = link_frame_encode(&g, NULL, out, sizeof(out));
	xsim_inject(s, XSIM_A, out, n);
	assert_int_equal(sa->drop_auth, au + 2);
	/* Corrupted and truncated. */
	uint64_t co = sa->drop_corrupt, pr = sa->drop_proto;
	memcpy(out, t.last_b_data.data, t.last_b_data.len);
	out[12] ^= 1;
	xsim_inject(s, XSIM_A, out, t.last_b_data.len);
	xsim_inject(s, XSIM_A, t.last_b_data.data, 9);
	assert_int_equal(sa->drop_corrupt, co + 1);
	assert_int_equal(sa->drop_proto, pr + 1);
	/* A replayed HELLO does not tear B's session down. */
	uint64_t rb = sb->drop_replay, sess = sb->sessions;
	xsim_inject(s, XSIM_B, t.hello.data, t.hello.len);
	assert_int_equal(sb->drop_replay, rb + 1);
	assert_int_equal(sb->sessions, sess);
	assert_int_equal(link_state(xsim_link(s, XSIM_B)), LINK_S_UP);
	/* Nothing reached the transfer layer. */
	assert_int_equal(xfer_get_stats(xsim_xfer(s, XSIM_A))->plain_in, in_a);
	/* And traffic still flows afterwards. */
	make_msg(s, XSIM_A, &r, 3000, 2, false);
	assert_true(xsim_run(s, xsim_now(s) + 3600 * 1000LL, both_done, NULL));
	assert_all_delivered(s, "forged");
	buf_fini(&t.last_b_data);
	buf_fini(&t.hello);
	xsim_free(s);
}

static void
test_key_mismatch(void **state)
{
	(void)state;
	uint8_t ka[LINK_KEY_BYTES] = { 1 }, kb[LINK_KEY_BYTES] = { 2 };
	struct xsim_config c = { .key = ka, .key_b = kb };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed;
	make_msg(s, XSIM_A, &r, 1000, 0, false);
	xsim_run(s, 120 * 1000, NULL, NULL);
	struct link *a = xsim_link(s, XSIM_A), *b = xsim_link(s, XSIM_B);
	assert_int_equal(link_state(a), LINK_S_ERROR);
	assert_int_equal(link_error(a), GW_EAUTH);
	assert_non_null(strstr(link_reason(a), "key"));
	assert_int_equal(link_state(b), LINK_S_ERROR);
	assert_true(link_get_stats(b)->drop_auth >= 1);
	assert_invariant(s, "key_mismatch");
	assert_int_equal(xsim_sent(s, XSIM_A, 0)->relayed, 0);
	xsim_free(s);

	/* A key on one side only. */
	struct xsim_config c2 = { .key = ka, .key_b = NULL };
	c2.key = NULL;
	c2.key_b = kb;
	s = sim_new(&c2);
	xsim_run(s, 120 * 1000, NULL, NULL);
	assert_int_equal(link_state(xsim_link(s, XSIM_A)), LINK_S_ERROR);
	assert_non_null(strstr(link_reason(xsim_link(s, XSIM_A)), "key"));
	xsim_free(s);
}

static void
test_version_mismatch(void **state)
{
	(void)state;
	struct xsim_config c = { .b_version_min = 2, .b_version_max = 3 };
	struct xsim *s = sim_new(&c);
	xsim_run(s, 120 * 1000, NULL, NULL);
	struct link *a = xsim_link(s, XSIM_A);
	assert_int_equal(link_state(a), LINK_S_ERROR);
	assert_int_equal(link_error(a), GW_EVERSION);
	assert_non_null(strstr(link_reason(a), "2..3"));
	assert_int_equal(link_state(xsim_link(s, XSIM_B)), LINK_S_ERROR);
	xsim_free(s);
}

/* The peer never answers: a clear error, not a hang. */
static void
test_no_answer(void **state)
{
	(void)state;
	struct xsim_config c = { .nfades = 1,
		.fades = { { 0, 3600 * 1000 } } };
	struct xsim *s = sim_new(&c);
	xsim_run(s, 10 * 60 * 1000, NULL, NULL);
	struct link *a = xsim_link(s, XSIM_A);
	/* ERROR, or already retrying after the reconnect delay. */
	assert_true(link_get_stats(a)->timeouts >= 5);
	assert_non_null(strstr(link_reason(a), "no answer"));
	xsim_free(s);
}

/* Seeds in a loop: short batches with everything at once. */
static void
test_many_seeds(void **state)
{
	(void)state;
	uint64_t base = g_seed;
	for (uint64_t k = 0; k < 6; k++) {
		g_seed = base + k * 7919;
		struct xsim_config c = { .dict_id = AIR_DICT_HEADERS,
			.ber = 1e-5, .drop = 0.02, .reorder = 0.02,
			.fade_every_ms = 90000, .fade_len_ms = 5000,
			.commit_delay_ms = (uint32_t)(k * 200) };
		batch_with(&c, "many_seeds", 8, 4, 6 * 3600 * 1000LL);
	}
	g_seed = base;
}


/* The same over hw-sim's byte-level channel model with skywave's
 * byte-stream framing: bit errors and error bursts inside frames, fades,
 * an outage, carrier sense and max_tx cut-off. */
static struct xsim *
hw_sim_new(struct xsim_config *c, struct sim_channel_params *cp)
{
	c->seed = g_seed;
	c->quiet = true;
	if (!c->caps.rate_bps)
		c->caps = caps_hf(2400);
	air_hwchan_attach(c, cp);
	struct xsim *s = xsim_new(c);
	xsim_start(s);
	return s;
}

static void
test_hwsim_clean(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	c.caps = caps_hf(2400);
	struct sim_channel_params cp = air_hwchan_params(&c, g_seed);
	struct xsim *s = hw_sim_new(&c, &cp);
	uint64_t r = g_seed | 1;
	for (int i = 0; i < 20; i++)
		make_msg(s, XSIM_A, &r, 500 + rnd(&r) % 5000, 0, false);
	for (int i = 0; i < 4; i++)
		make_msg(s, XSIM_B, &r, 300 + rnd(&r) % 3000, 0, false);
	assert_true(xsim_run(s, 3600 * 1000, both_done, NULL));
	assert_all_delivered(s, "hwsim_clean");
	assert_true(xsim_chan(s)->turns < 12);
	xsim_free(s);
}

static void
test_hwsim_faults(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	c.caps = caps_hf(2400);
	struct sim_channel_params cp = air_hwchan_params(&c, g_seed);
	cp.ber = 1e-5;
	cp.burst_ber = 1e-3;
	cp.burst_interval_ms = 60000;
	cp.burst_length_ms = 2000;
	cp.fade_interval_ms = 120000;
	cp.fade_length_ms = 5000;
	cp.outages[0].start_ms = 100000;
	cp.outages[0].dur_ms = 3 * 60000;
	cp.n_outages = 1;
	struct xsim *s = hw_sim_new(&c, &cp);
	uint64_t r = g_seed * 17 + 1;
	for (int i = 0; i < 15; i++)
		make_msg(s, XSIM_A, &r, 500 + rnd(&r) % 12000,
		    (int)(rnd(&r) % 5) - 2, i % 3 == 1);
	for (int i = 0; i < 4; i++)
		make_msg(s, XSIM_B, &r, 300 + rnd(&r) % 3000, 0, false);
	bool ok = xsim_run(s, 8 * 3600 * 1000LL, both_done, NULL);
	assert_invariant(s, "hwsim_faults");
	if (!ok) {
		fprintf(stderr, "hwsim_faults: not done (seed=%llu)\n",
		    (unsigned long long)g_seed);
		fail();
	}
	assert_all_delivered(s, "hwsim_faults");
	/* The faults did hit traffic and were repaired. */
	const struct link_stats *la = link_get_stats(xsim_link(s, XSIM_A));
	const struct link_stats *lb = link_get_stats(xsim_link(s, XSIM_B));
	assert_true(xsim_chan(s)->lost + xsim_chan(s)->corrupted > 0);
	assert_true(la->retransmits + la->timeouts + lb->retransmits +
	    lb->timeouts > 0);
	xsim_free(s);
}

static void
test_hwsim_restarts(void **state)
{
	(void)state;
	for (int side = 0; side < 2; side++) {
		struct xsim_config c = { .dict_id = AIR_DICT_HEADERS,
			.commit_delay_ms = 200 };
		c.caps = caps_hf(2400);
		struct sim_channel_params cp = air_hwchan_params(&c, g_seed);
		cp.ber = 5e-6;
		struct xsim *s = hw_sim_new(&c, &cp);
		uint64_t r = g_seed * 5 + 7;
		make_msg(s, XSIM_A, &r, 60000, 0, false);
		make_msg(s, XSIM_A, &r, 40000, 0, true);
		for (int i = 0; i < 6; i++)
			make_msg(s, XSIM_A, &r, 500 + rnd(&r) % 2000, 0, false);
		make_msg(s, XSIM_B, &r, 3000, 0, false);
		struct restart_plan p = { side, 0 };
		bool ok = xsim_run(s, 8 * 3600 * 1000LL, partial_then_restart,
		    &p);
		assert_invariant(s, "hwsim_restart");
		if (!ok || p.done != 2) {
			fprintf(stderr, "hwsim_restart side %d: stage %d "
			    "(seed=%llu)\n", side, p.done,
			    (unsigned long long)g_seed);
			fail();
		}
		assert_all_delivered(s, "hwsim_restart");
		xsim_free(s);
	}
}


/* A batch both ways over every firmware profile's own channel (its rate,
 * duplex, turnaround, MTU, max_tx and [sim] faults). */
static void
test_hwsim_every_profile(void **state)
{
	(void)state;
	static const char *names[] = { "hf-2400-hd", "hf-1200-hd",
		"hf-300-hd-noisy", "kiss-tnc-1200", "los-19200",
		"hayes-at-9600" };
	char *dir = tu_src_path("firmware-profiles");
	for (size_t k = 0; k < GW_ARRAY_LEN(names); k++) {
		struct xsim_config c = { .dict_id = AIR_DICT_HEADERS,
			.seed = g_seed, .quiet = true };
		char err[256];
		if (air_hwchan_from_profile(&c, names[k], dir, g_seed, err,
		    sizeof(err)) < 0) {
			fprintf(stderr, "profile %s: %s\n", names[k], err);
			fail();
		}
		struct xsim *s = xsim_new(&c);
		xsim_start(s);
		uint64_t r = g_seed + k;
		int n = c.caps.rate_bps < 1000 ? 3 : 8;
		for (int i = 0; i < n; i++)
			make_msg(s, XSIM_A, &r, 300 + rnd(&r) % 3000, 0, false);
		for (int i = 0; i < n / 2; i++)
			make_msg(s, XSIM_B, &r, 300 + rnd(&r) % 2000, 0, false);
		bool ok = xsim_run(s, 12 * 3600 * 1000LL, both_done, NULL);
		assert_invariant(s, names[k]);
		if (!ok) {
			fprintf(stderr, "profile %s: not done (seed=%llu)\n",
			    names[k], (unsigned long long)g_seed);
			fail();
		}
		assert_all_delivered(s, names[k]);
		xsim_free(s);
	}
	free(dir);
}


/* An idle half-duplex link goes quiet (no turn passing back and forth),
 * and whichever side gets mail first breaks in at once. */
static void
test_idle_quiet_and_break_in(void **state)
{
	(void)state;
	for (int side = 0; side < 2; side++) {
		struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
		c.caps = caps_hf(2400);
		struct sim_channel_params cp = air_hwchan_params(&c, g_seed);
		struct xsim *s = hw_sim_new(&c, &cp);
		uint64_t r = g_seed + 99;
		make_msg(s, XSIM_A, &r, 2000, 0, false);
		make_msg(s, XSIM_B, &r, 2000, 0, false);
		assert_true(xsim_run(s, 3600 * 1000, both_done, NULL));
		xsim_run(s, xsim_now(s) + 60 * 1000, NULL, NULL);
		uint64_t frames = xsim_chan(s)->frames;
		/* Ten quiet minutes: nothing on the air. */
		xsim_run(s, xsim_now(s) + 600 * 1000, NULL, NULL);
		assert_int_equal(xsim_chan(s)->frames, frames);
		assert_int_equal(link_next_deadline_ms(xsim_link(s, XSIM_A)),
		    INT64_MAX);
		/* Mail at either side goes out at once. */
		int64_t t0 = xsim_now(s);
		make_msg(s, side, &r, 1000, 4, false);
		assert_true(xsim_run(s, t0 + 3600 * 1000, both_done, NULL));
		const struct xsim_msg *d = xsim_delivered(s, side,
		    xsim_sent_count(s, side) - 1);
		assert_non_null(d);
		assert_true(d->commit_ms - t0 < 10000);
		assert_all_delivered(s, "idle_break_in");
		xsim_free(s);
	}
}

/* Dead air after the far side restarts: A learns of it when its burst
 * ends (half duplex: nothing reaches a transmitter), and bursts start
 * short after set-up, so a restart early in a session costs a short burst
 * and two turnarounds, not max_tx. */
struct dead_air {
	int64_t restart_ms, resumed_ms;
	uint64_t sessions0;
	int stage;
};

static bool
restart_early(struct xsim *s, void *arg)
{
	struct dead_air *d = arg;
	const struct link_stats *la = link_get_stats(xsim_link(s, XSIM_A));
	if (d->stage == 0 && xfer_get_stats(xsim_xfer(s, XSIM_B))->plain_in >
	    0) {
		/* A's first data burst is on the air */
		d->restart_ms = xsim_now(s);
		d->sessions0 = la->sessions;
		xsim_restart(s, XSIM_B);
		d->stage = 1;
	} else if (d->stage == 1 && la->sessions > d->sessions0 &&
	    link_state(xsim_link(s, XSIM_A)) == LINK_S_UP) {
		d->resumed_ms = xsim_now(s);
		d->stage = 2;
	}
	return d->stage == 2 && both_done(s, NULL);
}

static void
test_restart_dead_air(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed * 13 + 5;
	struct dead_air d = { 0 };
	for (int i = 0; i < 8; i++)
		make_msg(s, XSIM_A, &r, 20000, 0, true); /* 530 s of air */
	bool ok = xsim_run(s, 6 * 3600 * 1000LL, restart_early, &d);
	assert_invariant(s, "dead_air");
	if (!ok) {
		fprintf(stderr, "dead_air: stage %d, not done (seed=%llu)\n",
		    d.stage, (unsigned long long)g_seed);
		fail();
	}
	assert_all_delivered(s, "dead_air");
	/* hf-2400: short burst 2 frames (6.9 s), grown once by then (13.8
	 * s), then the turnaround, B's REJECT, the turnaround, HELLO and
	 * ACCEPT: well under 30 s, where max_tx alone is 120 s. */
	int64_t dt = d.resumed_ms - d.restart_ms;
	printf("dead_air: resumed %lld ms after the restart\n", (long long)dt);
	if (dt > 30000) {
		fprintf(stderr, "dead_air: resumed after %lld ms (seed=%llu)\n",
		    (long long)dt, (unsigned long long)g_seed);
		fail();
	}
	xsim_free(s);
}

/* The far side restarts every 2-20 s of channel time for ten minutes:
 * every session starts with short bursts, so messages keep crossing
 * (with 2 s turnarounds a set-up costs about three of them, so a session
 * of ten seconds carries little), and each crosses exactly once. */
struct churn {
	uint64_t r;
	int64_t next_ms, until_ms;
	int restarts;
};

static bool
churn_step(struct xsim *s, void *arg)
{
	struct churn *c = arg;
	if (xsim_now(s) >= c->next_ms && xsim_now(s) < c->until_ms) {
		xsim_restart(s, XSIM_B);
		c->restarts++;
		c->next_ms = xsim_now(s) + 2000 + (int64_t)(rnd(&c->r) %
		    18000);
	}
	return xsim_now(s) >= c->until_ms;
}

static void
test_restart_churn(void **state)
{
	(void)state;
	struct xsim_config c = { .dict_id = AIR_DICT_HEADERS };
	struct xsim *s = sim_new(&c);
	uint64_t r = g_seed * 19 + 3;
	for (int i = 0; i < 60; i++)
		make_msg(s, XSIM_A, &r, 1000 + rnd(&r) % 3000, 0, false);
	struct churn ch = { g_seed | 1, 10000, 610000, 0 };
	xsim_run(s, 700000, churn_step, &ch);
	size_t crossed = 0;
	for (size_t i = 0; i < xsim_sent_count(s, XSIM_A); i++)
		if (xsim_delivered(s, XSIM_A, i))
			crossed++;
	printf("churn: %d restarts in 10 min, %zu of 60 messages crossed\n",
	    ch.restarts, crossed);
	assert_invariant(s, "churn");
	bool ok = xsim_run(s, 6 * 3600 * 1000LL, both_done, NULL);
	if (!ok || crossed == 0) {
		fprintf(stderr, "churn: %zu crossed during the restarts, done "
		    "%d (seed=%llu)\n", crossed, ok,
		    (unsigned long long)g_seed);
		fail();
	}
	assert_all_delivered(s, "churn");
	xsim_free(s);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	g_seed = tu_seed("test_air_sim");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_clean),
		cmocka_unit_test(test_bit_errors),
		cmocka_unit_test(test_burst_fades),
		cmocka_unit_test(test_outage_minutes),
		cmocka_unit_test(test_drops_and_reordering),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_restart_receiver),
		cmocka_unit_test(test_restart_sender),
		cmocka_unit_test(test_resume_not_restart),
		cmocka_unit_test(test_forged_and_replayed),
		cmocka_unit_test(test_key_mismatch),
		cmocka_unit_test(test_version_mismatch),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_many_seeds),
		cmocka_unit_test(test_hwsim_clean),
		cmocka_unit_test(test_hwsim_faults),
		cmocka_unit_test(test_hwsim_restarts),
		cmocka_unit_test(test_hwsim_every_profile),
		cmocka_unit_test(test_idle_quiet_and_break_in),
		cmocka_unit_test(test_restart_dead_air),
		cmocka_unit_test(test_restart_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
