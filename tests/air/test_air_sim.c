/* Deterministic two-gateway simulation of the air protocol: batches over
 * half- and full-duplex channels with faults, restarts of either side,
 * forged and replayed frames, key and version mismatches. Every run checks
 * the invariant (each message committed exactly once at the far side with
 * identical content, or still queued) and prints its seed. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "gateway/air_dict.h"
#include "gateway/xfer_sim.h"
#include "common/xmalloc.h"

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
	assert_true(xsim_run(s, 3600 * 1000, both_done, NULL));
	assert_all_delivered(s, "batch_clean");
	/* Many messages per turn: direction changes independent of count. */
	assert_true(xsim_chan(s)->turns < 12);
	const struct link_stats *ls = link_get_stats(xsim_link(s, XSIM_A));
	assert_int_equal(ls->drop_auth + ls->drop_corrupt, 0);
	assert_true(ls->goodput_bps > 0);
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
