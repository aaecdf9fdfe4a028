/* Band order under the scheduler, in the two-gateway simulation (virtual
 * clock): the sending side's transfer picks through a real struct sched
 * glued as the daemon glues it (airlink.c's pick: the scheduler's choice,
 * else the best job it still holds; the final segment's read calls
 * sched_commit_begin). Checked strictly: for two messages of different
 * bands, the lower may complete at the far side first only when its final
 * segment was read for the air before the higher one was submitted, i.e.
 * when no segment boundary was left at which the higher could preempt it.
 * Every failure prints its seed. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/sched/sched.h"
#include "tests/lib/xfer_sim.h"

#include <stdio.h>
#include <string.h>

static uint64_t g_seed, g_base;

#define NMAX 256

struct glue {
	struct xsim *s;
	struct sched *sc;
	int route;
	size_t n;
	int band[NMAX];
	int64_t submit_ms[NMAX];
	int64_t final_ms[NMAX];  /* final segment read for the air; -1 */
	uint8_t id[NMAX][XFER_ID_BYTES];
};

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int
find(const struct glue *g, const uint8_t *id)
{
	for (size_t i = 0; i < g->n; i++)
		if (memcmp(g->id[i], id, XFER_ID_BYTES) == 0)
			return (int)i;
	return -1;
}

/* airlink.c's pick, over the test's scheduler. */
static int
pick(void *arg, const struct xfer_cand *c, size_t n)
{
	struct glue *g = arg;
	struct sched_job *j = sched_next(g->sc, g->route, xsim_now(g->s));
	int best = -1;

	for (size_t i = 0; j && i < n; i++)
		if (memcmp(c[i].env->id, j->id, XFER_ID_BYTES) == 0)
			return (int)i;
	for (size_t i = 0; i < n; i++) {
		struct sched_job *k = sched_find(g->sc, c[i].env->id,
		    g->route);
		if (k == NULL || (k->state != SCHED_JOB_READY &&
		    k->state != SCHED_JOB_COMMITTING))
			continue;
		if (best < 0 || c[i].env->priority > c[best].env->priority ||
		    (c[i].env->priority == c[best].env->priority &&
		    c[i].arrival < c[best].arrival))
			best = (int)i;
	}
	return best;
}

/* airlink.c's store_read: the read that reaches the end is the final
 * segment going out; the job commits. */
static void
on_read(void *arg, int side, const uint8_t id[XFER_ID_BYTES], uint64_t off,
    size_t len, uint64_t size)
{
	struct glue *g = arg;
	struct sched_job *j = sched_find(g->sc, id, g->route);
	int k = find(g, id);

	(void)side;
	if (j == NULL || k < 0 || off + len < size ||
	    j->state == SCHED_JOB_COMMITTING)
		return;
	sched_commit_begin(g->sc, j, xsim_now(g->s), xsim_now(g->s));
	g->final_ms[k] = xsim_now(g->s);
}

static void
submit(struct glue *g, uint64_t *r, size_t len, int prio)
{
	struct xfer_env e;
	struct buf b = BUF_INIT;
	struct sched_rcpt_spec rs = { .idx = 0 };
	struct sched_job_spec sp;
	struct sched_job *job;
	size_t k = g->n++;

	assert_true(k < NMAX);
	xfer_env_init(&e);
	for (int i = 0; i < XFER_ID_BYTES; i++)
		e.id[i] = (uint8_t)rnd(r);
	e.from = xstrdup("ops@field.example");
	e.priority = (int8_t)prio;
	xfer_env_add_rcpt(&e, "hq@base.example", 0, NULL, NULL);
	buf_appendf(&b, "Subject: report %zu\r\n\r\n", k);
	while (b.len < len)
		buf_appendf(&b, "w%llx w%llx line of the report\r\n",
		    (unsigned long long)(rnd(r) % 100000),
		    (unsigned long long)(rnd(r) % 977));
	buf_truncate(&b, len);
	memcpy(g->id[k], e.id, XFER_ID_BYTES);
	/* MT-PRIORITY -4..4 onto bands 0..7 as the default policy's levels
	 * do, roughly: what matters is that bands differ */
	g->band[k] = prio + 4 > 7 ? 7 : prio + 4;
	g->submit_ms[k] = xsim_now(g->s);
	g->final_ms[k] = -1;
	memset(&sp, 0, sizeof(sp));
	memcpy(sp.id, e.id, XFER_ID_BYTES);
	sp.route = g->route;
	sp.band = g->band[k];
	sp.priority = prio;
	sp.arrival_ms = xsim_now(g->s);
	sp.size_bytes = (int64_t)len;
	sp.rcpts = &rs;
	sp.nrcpts = 1;
	assert_int_equal(sched_add(g->sc, &sp, xsim_now(g->s), &job), 0);
	xsim_submit(g->s, XSIM_A, &e, b.data, b.len);
	xfer_env_fini(&e);
	buf_fini(&b);
}

static bool
a_done(struct xsim *s, void *arg)
{
	(void)arg;
	return xsim_all_done(s, XSIM_A);
}

static void
glue_init(struct glue *g, uint64_t seed)
{
	struct xsim_config c = { 0 };
	struct sched_cfg scfg;
	struct predict_link pl = { .rate_bps = 300, .max_rate_bps = 300,
		.turnaround_ms = 2000, .max_burst_ms = 120000,
		.overhead_bytes = 200, .ratio = 0.5, .min_ratio = 0.1 };

	memset(g, 0, sizeof(*g));
	c.seed = seed;
	c.quiet = true;
	c.caps = (struct drv_caps){ .mtu_bytes = 1024, .rate_bps = 2400,
		.full_duplex = false, .turnaround_ms = 2000,
		.max_tx_ms = 120000 };
	g->s = xsim_new(&c);
	sched_cfg_default(&scfg);
	g->sc = sched_new(&scfg);
	g->route = sched_route_add(g->sc, "link:r", &pl);
	assert_true(g->route >= 0);
	xsim_set_pick(g->s, XSIM_A, pick, g);
	xsim_set_read_hook(g->s, XSIM_A, on_read, g);
	xsim_start(g->s);
}

static void
glue_fini(struct glue *g)
{
	xsim_free(g->s);
	sched_free(g->sc);
}

/* Every pair of different bands in order, or excused; returns the number
 * of pairs checked. */
static size_t
check_order(struct glue *g, const char *what)
{
	size_t pairs = 0;
	char why[200];

	if (xsim_check(g->s, why, sizeof(why)) != 0) {
		fprintf(stderr, "%s: invariant broken (seed=%llu): %s\n", what,
		    (unsigned long long)g_seed, why);
		fail();
	}
	for (size_t h = 0; h < g->n; h++) {
		for (size_t l = 0; l < g->n; l++) {
			if (g->band[h] <= g->band[l])
				continue;
			const struct xsim_msg *mh = xsim_delivered(g->s,
			    XSIM_A, h);
			const struct xsim_msg *ml = xsim_delivered(g->s,
			    XSIM_A, l);
			assert_non_null(mh);
			assert_non_null(ml);
			pairs++;
			if (mh->commit_ms <= ml->commit_ms)
				continue;
			if (g->final_ms[l] >= 0 &&
			    g->final_ms[l] < g->submit_ms[h])
				continue; /* nothing left to preempt */
			fprintf(stderr, "%s: band %d message %zu (%zu bytes, "
			    "submitted at %lld) completed at %lld, after band "
			    "%d message %zu (final segment at %lld, completed "
			    "at %lld) (seed=%llu)\n", what, g->band[h], h,
			    mh->content.len, (long long)g->submit_ms[h],
			    (long long)mh->commit_ms, g->band[l], l,
			    (long long)g->final_ms[l],
			    (long long)ml->commit_ms,
			    (unsigned long long)g_seed);
			fail();
		}
	}
	return pairs;
}

/* N messages of random priority and size submitted at once behind an idle
 * link. */
static void
burst_case(uint64_t seed, size_t n)
{
	struct glue g;
	uint64_t r = seed | 1;

	g_seed = seed;
	glue_init(&g, seed);
	xsim_run(g.s, 10000, NULL, NULL); /* set up, idle */
	for (size_t i = 0; i < n; i++)
		submit(&g, &r, 1024 + (size_t)(rnd(&r) % 7169),
		    (int)(rnd(&r) % 9) - 4);
	if (!xsim_run(g.s, 4 * 3600 * 1000, a_done, NULL)) {
		fprintf(stderr, "burst: not all delivered (seed=%llu)\n",
		    (unsigned long long)seed);
		fail();
	}
	assert_true(check_order(&g, "burst") > 0);
	glue_fini(&g);
}

static void
test_burst_in_band_order(void **state)
{
	(void)state;
	uint64_t base = g_base;
	for (uint64_t k = 0; k < 6; k++)
		burst_case(base + k, k == 5 ? 214 : 60);
}

struct late {
	struct glue *g;
	uint64_t *r;
	int prio;
	size_t len;
};

static void
submit_late(struct xsim *s, void *arg)
{
	struct late *lt = arg;
	(void)s;
	submit(lt->g, lt->r, lt->len, lt->prio);
}

/* Higher bands arriving during a lower one's transfer, while others of
 * every band wait: each must overtake everything below it at the next
 * segment boundary. */
static void
test_arrival_preempts(void **state)
{
	(void)state;
	uint64_t seed = g_base + 100;
	uint64_t r = seed | 1;
	struct glue g;
	struct late l1 = { &g, &r, 4, 1800 }, l2 = { &g, &r, 1, 3000 };

	g_seed = seed;
	glue_init(&g, seed);
	xsim_run(g.s, 10000, NULL, NULL);
	submit(&g, &r, 60000, -4);
	for (int i = 0; i < 10; i++)
		submit(&g, &r, 1024 + (size_t)(rnd(&r) % 7169),
		    (int)(rnd(&r) % 5) - 4);
	xsim_at(g.s, xsim_now(g.s) + 30000, submit_late, &l1);
	xsim_run(g.s, xsim_now(g.s) + 60000, NULL, NULL);
	xsim_at(g.s, xsim_now(g.s) + 1000, submit_late, &l2);
	if (!xsim_run(g.s, 4 * 3600 * 1000, a_done, NULL)) {
		fprintf(stderr, "preempt: not all delivered (seed=%llu)\n",
		    (unsigned long long)seed);
		fail();
	}
	check_order(&g, "preempt");
	/* the urgent one did not wait for the 60 KB routine message */
	assert_true(xsim_delivered(g.s, XSIM_A, 11)->commit_ms <
	    xsim_delivered(g.s, XSIM_A, 0)->commit_ms);
	glue_fini(&g);
}

int
main(void)
{
	g_base = tu_seed("test_air_order");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_in_band_order),
		cmocka_unit_test(test_arrival_preempts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
