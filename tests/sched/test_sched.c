/* The scheduler under a virtual clock: ordering across and within bands,
 * the starvation share, holds/backoff/link state, prediction, predicted
 * redirects before ABY/BY, redirects on 5xx / 4xx persistence / ABY expiry
 * / route down, mode R never late, mode N delayed then delivered, T relayed
 * DSNs, no DSN for <>, and no duplicated redirect (seeded random runs). */
#include "tests/lib/testutil.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/sched/sched.h"

#define S 1000LL
#define MINUTE (60 * S)
#define T0 (1000 * S)

struct sim {
	struct clk_virtual clk;
	struct sched *s;
	struct sched_out out;
	int link, alt;
	struct predict_link model;
};

static int64_t
now_of(struct sim *m)
{
	return clk_mono_ms(&m->clk.base);
}

static void
sim_init(struct sim *m, const struct sched_cfg *cfg)
{
	struct predict_link fast;

	memset(m, 0, sizeof(*m));
	clk_virtual_init(&m->clk, T0, 1800000000);
	m->s = sched_new(cfg);
	sched_out_init(&m->out);
	predict_link_default(&m->model);
	m->link = sched_route_add(m->s, "hf1", &m->model);
	fast = m->model;
	fast.rate_bps = fast.max_rate_bps = 1200;
	fast.turnaround_ms = 500;
	m->alt = sched_route_add(m->s, "hf2", &fast);
	assert_int_equal(m->link, 0);
	assert_int_equal(m->alt, 1);
}

static void
sim_fini(struct sim *m)
{
	sched_check(m->s);
	sched_free(m->s);
	sched_out_fini(&m->out);
}

struct job_opts {
	int band;
	int64_t size;
	int64_t by_in;      /* relative to now, 0 = none */
	char mode;
	bool trace;
	int64_t aby_in;
	bool arcpt;
	unsigned notify;
	bool null_sender;
	int nrcpts;
	bool held;
};

static struct sched_job *
add(struct sim *m, int id, int route, const struct job_opts *o)
{
	struct sched_rcpt_spec rc[4];
	struct sched_job_spec sp;
	struct sched_job *j = NULL;
	int i, n = o->nrcpts ? o->nrcpts : 1;

	memset(&sp, 0, sizeof(sp));
	memset(rc, 0, sizeof(rc));
	sp.id[0] = (uint8_t)id;
	sp.id[1] = (uint8_t)(id >> 8);
	sp.id[2] = (uint8_t)(id >> 16);
	sp.route = route;
	sp.band = o->band;
	sp.arrival_ms = now_of(m);
	if (o->by_in) {
		sp.by_ms = now_of(m) + o->by_in;
		sp.by_mode = o->mode ? o->mode : 'R';
		sp.by_trace = o->trace;
	}
	if (o->aby_in)
		sp.aby_ms = now_of(m) + o->aby_in;
	sp.null_sender = o->null_sender;
	sp.size_bytes = o->size ? o->size : 1000;
	sp.held = o->held;
	for (i = 0; i < n; i++) {
		rc[i].idx = (uint32_t)i;
		rc[i].notify = o->notify;
		rc[i].has_arcpt = o->arcpt && i == 0;
	}
	sp.rcpts = rc;
	sp.nrcpts = (size_t)n;
	assert_int_equal(sched_add(m->s, &sp, now_of(m), &j), 0);
	return j;
}

static int
id_of(const struct sched_job *j)
{
	return j->id[0] | j->id[1] << 8 | j->id[2] << 16;
}

static int
did(const struct sched_decision *d)
{
	return d->id[0] | d->id[1] << 8 | d->id[2] << 16;
}

static int
next_id(struct sim *m, int route)
{
	struct sched_job *j = sched_next(m->s, route, now_of(m));

	return j ? id_of(j) : -1;
}

static int64_t
tick(struct sim *m)
{
	int64_t w = sched_tick(m->s, now_of(m), &m->out);

	sched_check(m->s);
	return w;
}

/* Find the first decision for id, or NULL. */
static const struct sched_decision *
find_dec(const struct sim *m, int id)
{
	size_t i;

	for (i = 0; i < m->out.n; i++)
		if (did(&m->out.v[i]) == id)
			return &m->out.v[i];
	return NULL;
}

/* Advance to each wake-up until t (ticking at each). */
static void
run_until(struct sim *m, int64_t t)
{
	int64_t w = tick(m);

	while (w <= t) {
		clk_virtual_set(&m->clk, w);
		w = tick(m);
	}
	clk_virtual_set(&m->clk, t);
	tick(m);
}

/* ---- ordering ---- */

static void
test_order_bands(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sim m;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	add(&m, 1, 0, &(struct job_opts){ .band = 1 });
	clk_virtual_advance(&m.clk, 10);
	add(&m, 2, 0, &(struct job_opts){ .band = 3 });
	clk_virtual_advance(&m.clk, 10);
	add(&m, 3, 0, &(struct job_opts){ .band = 1 });
	clk_virtual_advance(&m.clk, 10);
	add(&m, 4, 0, &(struct job_opts){ .band = 3 });
	tick(&m);
	assert_int_equal(next_id(&m, 0), 2);
	/* Asked again at the next segment boundary: still 2. */
	assert_int_equal(next_id(&m, 0), 2);
	/* A FLASH arrives: it takes the very next segment (preemption). */
	add(&m, 5, 0, &(struct job_opts){ .band = 5 });
	assert_int_equal(next_id(&m, 0), 5);
	sched_remove(m.s, sched_find(m.s, (uint8_t[16]){ 5 }, 0));
	assert_int_equal(next_id(&m, 0), 2);
	sched_remove(m.s, sched_find(m.s, (uint8_t[16]){ 2 }, 0));
	assert_int_equal(next_id(&m, 0), 4);
	sched_remove(m.s, sched_find(m.s, (uint8_t[16]){ 4 }, 0));
	assert_int_equal(next_id(&m, 0), 1);
	sched_remove(m.s, sched_find(m.s, (uint8_t[16]){ 1 }, 0));
	assert_int_equal(next_id(&m, 0), 3);
	sched_remove(m.s, sched_find(m.s, (uint8_t[16]){ 3 }, 0));
	assert_int_equal(next_id(&m, 0), -1);
	/* Other routes are separate. */
	assert_int_equal(next_id(&m, 1), -1);
	assert_null(sched_next(m.s, 7, now_of(&m)));
	sim_fini(&m);
}

static void
test_order_edf(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sim m;
	int pass, want_edf[] = { 3, 2, 4, 1, 5 };
	int want_fifo[] = { 1, 2, 3, 4, 5 };
	int *want, i;

	for (pass = 0; pass < 2; pass++) {
		sched_cfg_default(&cfg);
		cfg.edf = pass == 0;
		cfg.rules.predictive = false;
		want = pass == 0 ? want_edf : want_fifo;
		sim_init(&m, &cfg);
		add(&m, 1, 0, &(struct job_opts){ .band = 2 });
		clk_virtual_advance(&m.clk, 1);
		add(&m, 2, 0, &(struct job_opts){ .band = 2,
		    .by_in = 900 * S, .mode = 'N' });
		clk_virtual_advance(&m.clk, 1);
		add(&m, 3, 0, &(struct job_opts){ .band = 2,
		    .by_in = 600 * S });
		clk_virtual_advance(&m.clk, 1);
		/* Same deadline as 2: arrival breaks the tie. */
		add(&m, 4, 0, &(struct job_opts){ .band = 2,
		    .by_in = 900 * S - 2, .mode = 'N' });
		clk_virtual_advance(&m.clk, 1);
		add(&m, 5, 0, &(struct job_opts){ .band = 2 });
		tick(&m);
		for (i = 0; i < 5; i++) {
			int id = next_id(&m, 0);
			uint8_t key[16] = { 0 };

			assert_int_equal(id, want[i]);
			key[0] = (uint8_t)id;
			sched_remove(m.s, sched_find(m.s, key, 0));
			sched_check(m.s);
		}
		sim_fini(&m);
	}
}

static void
test_starvation_share(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sim m;
	int i, low = 0, pass;

	for (pass = 0; pass < 2; pass++) {
		sched_cfg_default(&cfg);
		cfg.share_n = pass == 0 ? 0 : 4;
		sim_init(&m, &cfg);
		add(&m, 1, 0, &(struct job_opts){ .band = 5 });
		add(&m, 2, 0, &(struct job_opts){ .band = 5 });
		add(&m, 3, 0, &(struct job_opts){ .band = 0 });
		add(&m, 4, 0, &(struct job_opts){ .band = 2 });
		tick(&m);
		low = 0;
		for (i = 1; i <= 40; i++) {
			int id = next_id(&m, 0);

			if (id == 3 || id == 4) {
				low++;
				/* Every 4th slot, to the highest lower band
				 * with work. */
				assert_int_equal(i % 4, 0);
				assert_int_equal(id, 4);
			}
		}
		assert_int_equal(low, pass == 0 ? 0 : 10);
		sim_fini(&m);
	}
}

/* A reload changes the share from the next slot on; sched_edf stays. */
static void
test_reconfigure(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sim m;
	int i, low = 0;

	sched_cfg_default(&cfg);
	cfg.share_n = 0;
	sim_init(&m, &cfg);
	add(&m, 1, 0, &(struct job_opts){ .band = 5 });
	add(&m, 2, 0, &(struct job_opts){ .band = 0 });
	tick(&m);
	for (i = 0; i < 10; i++)
		assert_int_equal(next_id(&m, 0), 1);
	cfg.share_n = 2;
	assert_true(sched_reconfigure(m.s, &cfg));
	for (i = 0; i < 10; i++)
		low += next_id(&m, 0) == 2;
	assert_int_equal(low, 5);
	cfg.edf = !cfg.edf;
	assert_false(sched_reconfigure(m.s, &cfg));
	sched_check(m.s);
	sim_fini(&m);
}

static void
test_hold_backoff_link(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sched_job *a, *b;
	struct sim m;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	a = add(&m, 1, 0, &(struct job_opts){ .band = 4, .held = true });
	b = add(&m, 2, 0, &(struct job_opts){ .band = 1 });
	tick(&m);
	assert_int_equal(a->state, SCHED_JOB_HELD);
	assert_int_equal(next_id(&m, 0), 2);
	sched_hold(m.s, a, false, now_of(&m));
	assert_int_equal(next_id(&m, 0), 1);
	sched_hold(m.s, a, true, now_of(&m));
	sched_check(m.s);
	/* Backoff: not before +90 s, then due again by the tick. */
	sched_defer(m.s, b, now_of(&m) + 90 * S, now_of(&m));
	assert_int_equal(b->state, SCHED_JOB_WAITING);
	assert_int_equal(next_id(&m, 0), -1);
	assert_int_equal(tick(&m), now_of(&m) + 90 * S);
	clk_virtual_advance(&m.clk, 90 * S);
	tick(&m);
	assert_int_equal(b->state, SCHED_JOB_READY);
	assert_int_equal(next_id(&m, 0), 2);
	/* Link down: nothing; throttled: nothing until the time. */
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, now_of(&m));
	assert_int_equal(next_id(&m, 0), -1);
	sched_route_state(m.s, 0, SCHED_LINK_THROTTLED, now_of(&m) + 5 * S,
	    now_of(&m));
	assert_int_equal(next_id(&m, 0), -1);
	assert_true(tick(&m) <= now_of(&m) + 5 * S);
	clk_virtual_advance(&m.clk, 5 * S);
	assert_int_equal(next_id(&m, 0), 2);
	sched_route_state(m.s, 0, SCHED_LINK_UP, 0, now_of(&m));
	assert_int_equal(next_id(&m, 0), 2);
	assert_int_equal(sched_count(m.s), 2);
	/* Duplicates and bad routes are refused. */
	{
		struct sched_rcpt_spec rc = { 0 };
		struct sched_job_spec sp = { .route = 0, .rcpts = &rc,
			.nrcpts = 1 };
		struct sched_job *x;

		sp.id[0] = 2;
		assert_int_equal(sched_add(m.s, &sp, now_of(&m), &x),
		    GW_EEXIST);
		sp.route = 9;
		assert_int_equal(sched_add(m.s, &sp, now_of(&m), &x),
		    GW_ENOENT);
		sp.route = 0;
		sp.nrcpts = 0;
		sp.id[0] = 77;
		assert_int_equal(sched_add(m.s, &sp, now_of(&m), &x),
		    GW_EINVAL);
	}
	assert_int_equal(sched_route_add(m.s, "hf1", &m.model), GW_EEXIST);
	assert_int_equal(sched_route_find(m.s, "hf2"), 1);
	sim_fini(&m);
}

/* ---- prediction ---- */

static void
walk_cb(const struct sched_job *j, void *arg)
{
	struct order { int ids[8]; int n; } *o = arg;

	o->ids[o->n++] = id_of(j);
}

static void
test_prediction(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sched_job *a, *b, *c;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	/* 10000 bytes -> 200 + 5000 air bytes each. */
	a = add(&m, 1, 0, &(struct job_opts){ .band = 5, .size = 10000,
	    .by_in = 3600 * S, .mode = 'N' });
	b = add(&m, 2, 0, &(struct job_opts){ .band = 2, .size = 10000,
	    .by_in = 3600 * S, .mode = 'N' });
	c = add(&m, 3, 0, &(struct job_opts){ .band = 2, .size = 10000,
	    .by_in = 3000 * S, .mode = 'N' });
	t = now_of(&m);
	tick(&m);
	assert_int_equal(a->pred_ms, t + predict_duration_ms(&m.model, 5200));
	/* c has the earlier deadline, so it goes before b. */
	assert_int_equal(c->pred_ms, t + predict_duration_ms(&m.model, 10400));
	assert_int_equal(b->pred_ms, t + predict_duration_ms(&m.model, 15600));
	assert_int_equal(b->slack_ms, t + 3600 * S - b->pred_ms);
	/* Half of a sent: everyone moves up, at the next re-prediction
	 * (a busy route is re-predicted at most once a second). */
	sched_progress(m.s, a, 5000);
	assert_int_equal(tick(&m), t + S);
	assert_int_equal(a->pred_ms, t + predict_duration_ms(&m.model, 5200));
	clk_virtual_advance(&m.clk, S);
	t = now_of(&m);
	tick(&m);
	assert_int_equal(a->pred_ms, t + predict_duration_ms(&m.model, 2700));
	assert_int_equal(b->pred_ms, t + predict_duration_ms(&m.model, 13100));
	/* Without the interval, at once. */
	sim_fini(&m);
	cfg.min_interval_ms = 0;
	sim_init(&m, &cfg);
	a = add(&m, 1, 0, &(struct job_opts){ .band = 5, .size = 10000,
	    .by_in = 3600 * S, .mode = 'N' });
	b = add(&m, 2, 0, &(struct job_opts){ .band = 2, .size = 10000,
	    .by_in = 3600 * S, .mode = 'N' });
	c = add(&m, 3, 0, &(struct job_opts){ .band = 2, .size = 10000,
	    .by_in = 3000 * S, .mode = 'N' });
	t = now_of(&m);
	tick(&m);
	sched_progress(m.s, a, 5000);
	tick(&m);
	assert_int_equal(a->pred_ms, t + predict_duration_ms(&m.model, 2700));
	/* The measured rate halves: predictions stretch. */
	m.model.rate_bps = 75;
	sched_route_link(m.s, 0, &m.model);
	tick(&m);
	assert_int_equal(b->pred_ms, t + predict_duration_ms(&m.model, 13100));
	/* Throttled for a minute: everything starts a minute later. */
	sched_route_state(m.s, 0, SCHED_LINK_THROTTLED, t + MINUTE, t);
	tick(&m);
	assert_int_equal(a->pred_ms, t + MINUTE +
	    predict_duration_ms(&m.model, 2700));
	/* Held: no prediction. */
	sched_hold(m.s, c, true, t);
	tick(&m);
	assert_int_equal(c->pred_ms, PREDICT_NEVER);
	/* The console sees them in scheduling order, then the rest. */
	{
		struct order { int ids[8]; int n; } o = { { 0 }, 0 };

		sched_walk(m.s, 0, walk_cb, &o);
		assert_int_equal(o.n, 3);
		assert_int_equal(o.ids[0], 1);
		assert_int_equal(o.ids[1], 2);
		assert_int_equal(o.ids[2], 3);
	}
	sim_fini(&m);
}

/* ---- alternates ---- */

/* 400 s of FLASH traffic on hf1, then a PRIORITY message with ARCPT. */
static void
load_flash(struct sim *m, int first, int n)
{
	int i;

	for (i = 0; i < n; i++)
		add(m, first + i, 0, &(struct job_opts){ .band = 5,
		    .size = 40000 });
}

static void
test_predicted_redirect(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sim m;
	int pass;

	for (pass = 0; pass < 3; pass++) {
		sched_cfg_default(&cfg);
		sim_init(&m, &cfg);
		load_flash(&m, 100, 3);
		clk_virtual_advance(&m.clk, 5 * S);
		if (pass == 0)  /* ABY 120 s, BY 600 s */
			add(&m, 1, 0, &(struct job_opts){ .band = 2,
			    .by_in = 600 * S, .aby_in = 120 * S,
			    .arcpt = true });
		else if (pass == 1) /* no ABY: the BY;R deadline */
			add(&m, 1, 0, &(struct job_opts){ .band = 2,
			    .by_in = 300 * S, .arcpt = true });
		else /* BY;N without ABY tolerates lateness: no redirect */
			add(&m, 1, 0, &(struct job_opts){ .band = 2,
			    .by_in = 300 * S, .mode = 'N', .arcpt = true });
		tick(&m);
		d = find_dec(&m, 1);
		if (pass == 2) {
			assert_null(d);
			sim_fini(&m);
			continue;
		}
		assert_non_null(d);
		/* At once, long before the deadline. */
		assert_int_equal(d->act, SCHED_ACT_REDIRECT);
		assert_int_equal(d->cause, SCHED_CAUSE_PREDICTED);
		assert_int_equal(d->at_ms, now_of(&m));
		assert_int_equal(d->by_left_ms, pass == 0 ? 600 * S : 300 * S);
		assert_true(d->dsn);
		assert_int_equal(d->dsn_action, DSN_RELAYED);
		assert_string_equal(d->status, "2.0.0");
		assert_true(d->job_gone);
		assert_int_equal(d->priority, 0);
		assert_null(sched_find(m.s, (uint8_t[16]){ 1 }, 0));
		/* Never scheduled for the primary afterwards, never
		 * decided again (the FLASH load gets its 7.5 min delay
		 * warnings meanwhile). */
		run_until(&m, now_of(&m) + 700 * S);
		{
			size_t k, n1 = 0;

			for (k = 0; k < m.out.n; k++)
				n1 += did(&m.out.v[k]) == 1;
			assert_int_equal(n1, 1);
			assert_int_equal(m.out.n, 4);
		}
		sim_fini(&m);
	}
}

static void
test_reactive_redirect_at_aby(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	cfg.rules.predictive = false;
	sim_init(&m, &cfg);
	load_flash(&m, 100, 3);
	t = now_of(&m);
	add(&m, 1, 0, &(struct job_opts){ .band = 2, .by_in = 600 * S,
	    .aby_in = 120 * S, .arcpt = true });
	run_until(&m, t + 119999);
	assert_null(find_dec(&m, 1));
	run_until(&m, t + 120 * S);
	d = find_dec(&m, 1);
	assert_non_null(d);
	assert_int_equal(d->act, SCHED_ACT_REDIRECT);
	assert_int_equal(d->cause, SCHED_CAUSE_ABY_EXPIRED);
	assert_int_equal(d->at_ms, t + 120 * S);
	assert_int_equal(d->by_left_ms, 480 * S);
	sim_fini(&m);
}

static void
test_redirect_on_5xx_and_4xx(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sched_job *j;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	j = add(&m, 1, 0, &(struct job_opts){ .band = 2, .arcpt = true,
	    .nrcpts = 2, .notify = QUEUE_NOTIFY_FAILURE });
	tick(&m);
	/* rcpt 0 has the alternate, rcpt 1 has none. */
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_PERMFAIL, "5.1.1",
	    0, now_of(&m), &m.out), 0);
	assert_int_equal(m.out.n, 1);
	d = &m.out.v[0];
	assert_int_equal(d->act, SCHED_ACT_REDIRECT);
	assert_int_equal(d->cause, SCHED_CAUSE_PERMFAIL);
	assert_int_equal(d->rcpt_idx, 0);
	assert_false(d->job_gone);
	/* The same recipient cannot be reported (or redirected) again. */
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_PERMFAIL, "5.1.1",
	    0, now_of(&m), &m.out), GW_ENOENT);
	assert_int_equal(sched_report(m.s, j, 1, SCHED_OUT_PERMFAIL, "5.2.2",
	    0, now_of(&m), &m.out), 0);
	d = &m.out.v[1];
	assert_int_equal(d->act, SCHED_ACT_FAIL);
	assert_string_equal(d->status, "5.2.2");
	assert_true(d->dsn);
	assert_int_equal(d->dsn_action, DSN_FAILED);
	assert_true(d->job_gone);
	assert_int_equal(sched_count(m.s), 0);

	/* 4xx: backoff, and a redirect once the streak lasts 30 min. */
	sched_out_reset(&m.out);
	j = add(&m, 2, 0, &(struct job_opts){ .band = 2, .arcpt = true });
	t = now_of(&m);
	tick(&m);
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_TEMPFAIL, "4.4.1",
	    0, t, &m.out), 0);
	assert_int_equal(m.out.n, 0);
	assert_int_equal(j->attempts, 1);
	assert_int_equal(j->state, SCHED_JOB_WAITING);
	assert_int_equal(j->not_before_ms, t + 75 * S); /* band 2: 5m/4 */
	run_until(&m, t + 75 * S);
	assert_int_equal(next_id(&m, 0), 2);
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_TEMPFAIL, "4.4.1",
	    0, now_of(&m), &m.out), 0);
	assert_int_equal(j->not_before_ms, t + 75 * S + 300 * S);
	run_until(&m, t + 30 * MINUTE - 1);
	assert_null(find_dec(&m, 2));
	run_until(&m, t + 30 * MINUTE);
	d = find_dec(&m, 2);
	assert_non_null(d);
	assert_int_equal(d->act, SCHED_ACT_REDIRECT);
	assert_int_equal(d->cause, SCHED_CAUSE_TEMPFAIL);
	assert_int_equal(d->at_ms, t + 30 * MINUTE);
	sim_fini(&m);
}

/* SCHED_OUT_FAILED: the owner failed a recipient itself (no alternate
 * duty here); it is closed without a decision to carry out, and the job
 * goes once its last recipient is resolved. */
static void
test_failed_by_owner(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sched_job *j;
	struct sim m;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	j = add(&m, 7, 0, &(struct job_opts){ .band = 2, .nrcpts = 2 });
	tick(&m);
	assert_int_equal(sched_report(m.s, j, 1, SCHED_OUT_FAILED, "5.1.1", 0,
	    now_of(&m), &m.out), 0);
	assert_int_equal(m.out.n, 1);
	d = &m.out.v[0];
	assert_int_equal(d->act, SCHED_ACT_CLOSED);
	assert_false(d->dsn);
	assert_false(d->job_gone);
	assert_int_equal(sched_report(m.s, j, 1, SCHED_OUT_FAILED, "5.1.1", 0,
	    now_of(&m), &m.out), GW_ENOENT);
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_DELIVERED, NULL, 0,
	    now_of(&m), &m.out), 0);
	assert_true(m.out.v[1].job_gone);
	assert_int_equal(sched_count(m.s), 0);
	sim_fini(&m);
}

static void
test_redirect_route_down(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	add(&m, 1, 0, &(struct job_opts){ .band = 2, .arcpt = true });
	add(&m, 2, 0, &(struct job_opts){ .band = 2 });
	add(&m, 3, 1, &(struct job_opts){ .band = 2, .arcpt = true });
	tick(&m);
	t = now_of(&m);
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, t);
	run_until(&m, t + 10 * MINUTE - 1);
	assert_int_equal(m.out.n, 0);
	run_until(&m, t + 10 * MINUTE);
	assert_int_equal(m.out.n, 1);
	d = find_dec(&m, 1);
	assert_int_equal(d->act, SCHED_ACT_REDIRECT);
	assert_int_equal(d->cause, SCHED_CAUSE_ROUTE_DOWN);
	assert_int_equal(d->at_ms, t + 10 * MINUTE);
	/* Job 2 has no alternate and waits; job 3's route is up. */
	assert_non_null(sched_find(m.s, (uint8_t[16]){ 2 }, 0));
	assert_non_null(sched_find(m.s, (uint8_t[16]){ 3 }, 1));
	/* Up again before the limit: no redirect. */
	sched_out_reset(&m.out);
	add(&m, 4, 0, &(struct job_opts){ .band = 2, .arcpt = true });
	sched_route_state(m.s, 0, SCHED_LINK_UP, 0, now_of(&m));
	tick(&m);
	t = now_of(&m);
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, t);
	run_until(&m, t + 5 * MINUTE);
	sched_route_state(m.s, 0, SCHED_LINK_UP, 0, now_of(&m));
	run_until(&m, t + 20 * MINUTE);
	assert_null(find_dec(&m, 4));
	sim_fini(&m);
}

/* ---- DELIVERBY ---- */

static void
test_mode_n_delayed_then_delivered(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sched_job *j;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	t = now_of(&m);
	j = add(&m, 1, 0, &(struct job_opts){ .band = 2, .by_in = 60 * S,
	    .mode = 'N', .notify = QUEUE_NOTIFY_DELAY |
	    QUEUE_NOTIFY_FAILURE });
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, t);
	run_until(&m, t + 60 * S);
	d = find_dec(&m, 1);
	assert_non_null(d);
	assert_int_equal(d->act, SCHED_ACT_DELAYED);
	assert_int_equal(d->cause, SCHED_CAUSE_BY_PASSED);
	assert_string_equal(d->status, "4.4.7");
	assert_int_equal(d->at_ms, t + 60 * S);
	assert_true(d->dsn);
	assert_false(d->job_gone);
	/* Delivery goes on; only one delayed DSN. */
	run_until(&m, t + 5 * MINUTE);
	assert_int_equal(m.out.n, 1);
	sched_route_state(m.s, 0, SCHED_LINK_UP, 0, now_of(&m));
	assert_int_equal(next_id(&m, 0), 1);
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_RELAYED, NULL,
	    SCHED_HOP_NO_DELIVERBY, now_of(&m), &m.out), 0);
	d = &m.out.v[1];
	assert_int_equal(d->act, SCHED_ACT_RELAYED);
	/* Mode N to a hop without DELIVERBY: relayed DSN (RFC 2852). */
	assert_true(d->dsn);
	assert_true(d->job_gone);

	/* NOTIFY without DELAY: the decision is made, no DSN owed. */
	sched_out_reset(&m.out);
	add(&m, 2, 0, &(struct job_opts){ .band = 2, .by_in = 10 * S,
	    .mode = 'N', .notify = QUEUE_NOTIFY_FAILURE });
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, now_of(&m));
	run_until(&m, now_of(&m) + 20 * S);
	d = find_dec(&m, 2);
	assert_non_null(d);
	assert_false(d->dsn);
	sim_fini(&m);
}

static void
test_trace_and_null_sender(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sched_job *j;
	int64_t by5;
	struct sim m;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	/* BY;RT, NOTIFY absent: a relayed DSN. */
	j = add(&m, 1, 0, &(struct job_opts){ .band = 2, .by_in = 600 * S,
	    .trace = true, .nrcpts = 2 });
	tick(&m);
	sched_report(m.s, j, 0, SCHED_OUT_RELAYED, "2.0.0", 0, now_of(&m),
	    &m.out);
	assert_true(m.out.v[0].dsn);
	assert_int_equal(m.out.v[0].dsn_action, DSN_RELAYED);
	/* ... unless NOTIFY=NEVER. */
	j->rcpts[1].notify = QUEUE_NOTIFY_NEVER;
	sched_report(m.s, j, 1, SCHED_OUT_RELAYED, "2.0.0", 0, now_of(&m),
	    &m.out);
	assert_false(m.out.v[1].dsn);
	/* No trace, DSN-capable hop: the hop reports, not us. */
	sched_out_reset(&m.out);
	j = add(&m, 2, 0, &(struct job_opts){ .band = 2, .by_in = 600 * S,
	    .notify = QUEUE_NOTIFY_SUCCESS });
	sched_report(m.s, j, 0, SCHED_OUT_RELAYED, NULL, 0, now_of(&m),
	    &m.out);
	assert_false(m.out.v[0].dsn);
	/* ... but a hop without DSN: relayed DSN for SUCCESS (R10). */
	j = add(&m, 3, 0, &(struct job_opts){ .band = 2,
	    .notify = QUEUE_NOTIFY_SUCCESS });
	sched_report(m.s, j, 0, SCHED_OUT_RELAYED, NULL, SCHED_HOP_NO_DSN,
	    now_of(&m), &m.out);
	assert_true(m.out.v[1].dsn);
	/* Local delivery with SUCCESS: delivered DSN. */
	j = add(&m, 4, 0, &(struct job_opts){ .band = 2,
	    .notify = QUEUE_NOTIFY_SUCCESS });
	sched_report(m.s, j, 0, SCHED_OUT_DELIVERED, NULL, 0, now_of(&m),
	    &m.out);
	assert_true(m.out.v[2].dsn);
	assert_int_equal(m.out.v[2].dsn_action, DSN_DELIVERED);

	/* Reverse path <>: decisions are made, no DSN is ever owed. */
	sched_out_reset(&m.out);
	by5 = now_of(&m) + 30 * S;
	j = add(&m, 5, 0, &(struct job_opts){ .band = 2, .null_sender = true,
	    .by_in = 30 * S, .mode = 'R', .trace = true, .nrcpts = 2,
	    .arcpt = true, .notify = QUEUE_NOTIFY_SUCCESS |
	    QUEUE_NOTIFY_FAILURE });
	sched_report(m.s, j, 0, SCHED_OUT_PERMFAIL, "5.1.1", 0, now_of(&m),
	    &m.out);
	assert_int_equal(m.out.v[0].act, SCHED_ACT_REDIRECT);
	assert_false(m.out.v[0].dsn);
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, now_of(&m));
	run_until(&m, now_of(&m) + 31 * S);
	assert_int_equal(m.out.n, 2);
	assert_int_equal(m.out.v[1].act, SCHED_ACT_FAIL);
	/* Failed as soon as certain: less time left than the best-case
	 * airtime (2 s) of the message itself. */
	assert_int_equal(m.out.v[1].cause, SCHED_CAUSE_CERTAIN_MISS);
	assert_true(m.out.v[1].at_ms < by5);
	assert_false(m.out.v[1].dsn);
	sim_fini(&m);
}

static void
test_warning_and_lifetime(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sim m;
	int64_t t;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	t = now_of(&m);
	add(&m, 1, 0, &(struct job_opts){ .band = 0 });
	add(&m, 2, 0, &(struct job_opts){ .band = 3, .arcpt = true });
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, t);
	/* Band 3 with an alternate: route-down redirect after 10 min. */
	run_until(&m, t + 10 * MINUTE);
	assert_int_equal(m.out.n, 1);
	assert_int_equal(m.out.v[0].cause, SCHED_CAUSE_ROUTE_DOWN);
	/* Band 0: warning at 4 h (once), failure at 5 d. */
	run_until(&m, t + 4 * 60 * MINUTE - 1);
	assert_int_equal(m.out.n, 1);
	run_until(&m, t + 4 * 60 * MINUTE);
	assert_int_equal(m.out.n, 2);
	assert_int_equal(m.out.v[1].act, SCHED_ACT_DELAYED);
	assert_int_equal(m.out.v[1].cause, SCHED_CAUSE_DELAY_WARN);
	assert_true(m.out.v[1].dsn);
	run_until(&m, t + 5 * 24 * 60 * MINUTE);
	assert_int_equal(m.out.n, 3);
	assert_int_equal(m.out.v[2].act, SCHED_ACT_FAIL);
	assert_int_equal(m.out.v[2].cause, SCHED_CAUSE_LIFETIME);
	assert_string_equal(m.out.v[2].status, "5.4.7");
	assert_int_equal(sched_count(m.s), 0);
	sim_fini(&m);
}

/* ---- the final segment ---- */

static void
test_commit(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	const struct sched_decision *d;
	struct sched_job *j;
	struct sim m;
	int64_t t;
	int pass;

	sched_cfg_default(&cfg);
	sim_init(&m, &cfg);
	t = now_of(&m);
	/* In flight to the far end when ABY passes: no redirect races the
	 * delivery. */
	j = add(&m, 1, 0, &(struct job_opts){ .band = 2, .by_in = 600 * S,
	    .aby_in = 60 * S, .arcpt = true });
	tick(&m);
	assert_int_equal(sched_commit_begin(m.s, j, t + 70 * S, t), 0);
	assert_int_equal(j->state, SCHED_JOB_COMMITTING);
	assert_null(sched_next(m.s, 0, t));
	run_until(&m, t + 70 * S);
	assert_int_equal(m.out.n, 0);
	assert_int_equal(sched_report(m.s, j, 0, SCHED_OUT_RELAYED, NULL, 0,
	    now_of(&m), &m.out), 0);
	assert_int_equal(m.out.n, 1);
	assert_int_equal(m.out.v[0].act, SCHED_ACT_RELAYED);
	/* The link drops first: back to READY, and ABY has passed. */
	sched_out_reset(&m.out);
	t = now_of(&m);
	j = add(&m, 2, 0, &(struct job_opts){ .band = 2, .by_in = 600 * S,
	    .aby_in = 60 * S, .arcpt = true });
	tick(&m);
	assert_int_equal(sched_commit_begin(m.s, j, t + 10 * S, t), 0);
	assert_int_equal(sched_commit_begin(m.s, j, t + 10 * S, t),
	    GW_ESTATE);
	run_until(&m, t + 65 * S);
	assert_int_equal(m.out.n, 0);
	sched_commit_abort(m.s, j, now_of(&m));
	tick(&m);
	d = find_dec(&m, 2);
	assert_non_null(d);
	assert_int_equal(d->act, SCHED_ACT_REDIRECT);
	assert_int_equal(d->cause, SCHED_CAUSE_ABY_EXPIRED);
	/* The far end refuses (5xx): back from COMMITTING, then decided. */
	sched_out_reset(&m.out);
	j = add(&m, 3, 0, &(struct job_opts){ .band = 2 });
	tick(&m);
	assert_int_equal(sched_commit_begin(m.s, j, now_of(&m) + S,
	    now_of(&m)), 0);
	sched_report(m.s, j, 0, SCHED_OUT_PERMFAIL, "5.7.1", 0, now_of(&m),
	    &m.out);
	assert_int_equal(m.out.v[0].act, SCHED_ACT_FAIL);
	assert_string_equal(m.out.v[0].status, "5.7.1");
	sim_fini(&m);

	/* A final segment that would land after BY;R is refused; the job is
	 * resolved at once when predictive, else at the deadline. */
	for (pass = 0; pass < 3; pass++) {
		sched_cfg_default(&cfg);
		cfg.rules.predictive = pass != 2;
		sim_init(&m, &cfg);
		t = now_of(&m);
		j = add(&m, 4, 0, &(struct job_opts){ .band = 2,
		    .by_in = 300 * S, .arcpt = pass == 1 });
		tick(&m);
		assert_int_equal(m.out.n, 0);
		assert_int_equal(sched_commit_begin(m.s, j, t + 300 * S, t),
		    GW_ETIMEDOUT);
		assert_null(sched_next(m.s, 0, t));
		tick(&m);
		if (pass == 2) {
			assert_int_equal(m.out.n, 0);
			run_until(&m, t + 300 * S);
		}
		assert_int_equal(m.out.n, 1);
		d = &m.out.v[0];
		assert_int_equal(d->act, pass == 1 ? SCHED_ACT_REDIRECT :
		    SCHED_ACT_FAIL);
		assert_int_equal(d->cause, pass == 0 ?
		    SCHED_CAUSE_CERTAIN_MISS : pass == 1 ?
		    SCHED_CAUSE_PREDICTED : SCHED_CAUSE_BY_EXPIRED);
		assert_int_equal(d->at_ms, pass == 2 ? t + 300 * S : t);
		sim_fini(&m);
	}
}

/* ---- configuration ---- */

static void
test_cfg(void **state)
{
	(void)state;
	struct sched_cfg a, b;
	char err[160];

	/* The tables' defaults are the C defaults. */
	sched_cfg_default(&a);
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(cfgtab_defaults(sched_cfg_fields, &b, err,
	    sizeof(err)), 0);
	assert_int_equal(cfgtab_defaults(sched_rules_cfg_fields, &b.rules,
	    err, sizeof(err)), 0);
	assert_int_equal(cfgtab_defaults(retry_cfg_fields, &b.retry, err,
	    sizeof(err)), 0);
	assert_int_equal(a.share_n, b.share_n);
	assert_int_equal(a.edf, b.edf);
	assert_int_equal(a.reeval_ms, b.reeval_ms);
	assert_int_equal(a.min_interval_ms, b.min_interval_ms);
	assert_int_equal(a.rules.predictive, b.rules.predictive);
	assert_int_equal(a.rules.alternates, b.rules.alternates);
	assert_int_equal(a.rules.margin_ms, b.rules.margin_ms);
	assert_int_equal(a.rules.margin_pct, b.rules.margin_pct);
	assert_int_equal(a.rules.tempfail_persist_ms,
	    b.rules.tempfail_persist_ms);
	assert_int_equal(a.rules.route_down_limit_ms,
	    b.rules.route_down_limit_ms);
	assert_int_equal(a.retry.backoff_ms, b.retry.backoff_ms);
	assert_int_equal(a.retry.backoff_max_ms, b.retry.backoff_max_ms);
	assert_int_equal(a.retry.lifetime_ms, b.retry.lifetime_ms);
	assert_int_equal(a.retry.warn_ms, b.retry.warn_ms);
	assert_int_equal(a.retry.band_divisor, b.retry.band_divisor);

	assert_int_equal(sched_cfg_set(&a, "sched_starvation_share", "8",
	    err, sizeof(err)), 0);
	assert_int_equal(a.share_n, 8);
	assert_int_equal(sched_cfg_set(&a, "altrecip_route_down_limit", "15m",
	    err, sizeof(err)), 0);
	assert_int_equal(a.rules.route_down_limit_ms, 15 * MINUTE);
	assert_int_equal(sched_cfg_set(&a, "queue_lifetime", "2d", err,
	    sizeof(err)), 0);
	assert_int_equal(a.retry.lifetime_ms, 2 * 86400 * S);
	assert_int_equal(sched_cfg_set(&a, "altrecip_predict", "no", err,
	    sizeof(err)), 0);
	assert_false(a.rules.predictive);
	assert_int_equal(sched_cfg_set(&a, "no_such_key", "1", err,
	    sizeof(err)), GW_ENOENT);
	assert_int_equal(sched_cfg_set(&a, "predict_margin_percent", "101",
	    err, sizeof(err)), GW_ERANGE);
	assert_int_equal(sched_cfg_check(&a, err, sizeof(err)), 0);
	a.share_n = 1;
	assert_int_equal(sched_cfg_check(&a, err, sizeof(err)), GW_ERANGE);
}

/* ---- randomised link simulation ---- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static int64_t
urand(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

#define NJOBS 300

struct outcome {
	int64_t by;      /* absolute, 0 none */
	char mode;
	bool arcpt;
	int resolved;    /* resolution decisions for rcpt 0 */
	bool redirected, delivered, failed;
	int64_t at;
};

static void
record(struct outcome *oc, const struct sched_out *out, size_t from)
{
	size_t i;

	for (i = from; i < out->n; i++) {
		const struct sched_decision *d = &out->v[i];
		struct outcome *o = &oc[did(d)];

		assert_int_equal(d->rcpt_idx, 0);
		if (d->act == SCHED_ACT_DELAYED)
			continue;
		o->resolved++;
		o->at = d->at_ms;
		if (d->act == SCHED_ACT_REDIRECT)
			o->redirected = true;
		else if (d->act == SCHED_ACT_FAIL)
			o->failed = true;
		else
			o->delivered = true;
		/* A BY;R outcome is always decided by its deadline. */
		if (o->mode == 'R')
			assert_true(d->at_ms <= o->by);
		/* Never delivered after a BY;R deadline. */
		if (o->mode == 'R' && d->act == SCHED_ACT_RELAYED)
			assert_true(d->at_ms < o->by);
	}
}

/* Drive hf1 segment by segment for 2 hours of channel time with seeded
 * arrivals, 5xx answers and outages. */
static void
random_run(uint64_t seed, bool predictive)
{
	struct sched_cfg cfg;
	struct outcome *oc = xcalloc(NJOBS + 1, sizeof(*oc));
	struct sim m;
	int64_t next_arrival, end, seg_ms, outage_end = 0;
	int nid = 1, i;
	size_t seen = 0;

	rng_state = seed | 1;
	sched_cfg_default(&cfg);
	cfg.rules.predictive = predictive;
	cfg.share_n = (int64_t)(seed % 3 == 0 ? 5 : 0);
	sim_init(&m, &cfg);
	next_arrival = now_of(&m);
	end = now_of(&m) + 2 * 3600 * S;
	while (now_of(&m) < end) {
		struct sched_job *j;
		int64_t t = now_of(&m), w;

		while (next_arrival <= t && nid <= NJOBS) {
			struct job_opts o = { .band = (int)urand(0, 5),
				.size = urand(300, 6000) };
			if (urand(0, 9) < 4) {
				o.by_in = urand(60, 900) * S;
				o.mode = urand(0, 3) ? 'R' : 'N';
				o.arcpt = urand(0, 1);
				if (o.arcpt && urand(0, 1))
					o.aby_in = o.by_in / 2;
			} else {
				o.arcpt = urand(0, 9) == 0;
			}
			oc[nid].by = o.by_in ? t + o.by_in : 0;
			oc[nid].mode = o.by_in ? o.mode : 0;
			oc[nid].arcpt = o.arcpt;
			add(&m, nid++, 0, &o);
			next_arrival = t + urand(1, 40) * S;
		}
		if (outage_end == 0 && urand(0, 2000) == 0) {
			sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, t);
			outage_end = t + urand(60, 900) * S;
		} else if (outage_end != 0 && t >= outage_end) {
			sched_route_state(m.s, 0, SCHED_LINK_UP, 0, t);
			outage_end = 0;
		}
		w = tick(&m);
		record(oc, &m.out, seen);
		seen = m.out.n;
		j = sched_next(m.s, 0, t);
		if (j == NULL) {
			int64_t until = next_arrival;

			if (w < until)
				until = w;
			if (outage_end && outage_end < until)
				until = outage_end;
			if (until <= t)
				until = t + 1;
			clk_virtual_set(&m.clk, until);
			continue;
		}
		{
			uint8_t id[16];
			int64_t left = j->size_bytes - j->sent_bytes;
			int64_t seg = left < 512 ? left : 512;
			int64_t sent = j->sent_bytes + seg;
			bool last = sent >= j->size_bytes;

			memcpy(id, j->id, 16);
			/* Compressed at the modelled ratio, 150 B/s. */
			seg_ms = (seg / 2 + (last ? 200 : 0)) * 1000 / 150 + 1;
			/* The final segment: the far end decides from here,
			 * and it must land before a BY;R deadline. */
			if (last && sched_commit_begin(m.s, j, t + seg_ms,
			    t) != 0)
				continue;
			/* Decisions due during the segment come first, each
			 * at its time: a message failed or redirected
			 * meanwhile is not delivered. */
			run_until(&m, t + seg_ms);
			record(oc, &m.out, seen);
			seen = m.out.n;
			j = sched_find(m.s, id, 0);
			if (j == NULL)
				continue;
			if (last) {
				if (urand(0, 30) == 0)
					sched_report(m.s, j, 0,
					    SCHED_OUT_PERMFAIL, "5.1.1", 0,
					    now_of(&m), &m.out);
				else
					sched_report(m.s, j, 0,
					    SCHED_OUT_RELAYED, NULL, 0,
					    now_of(&m), &m.out);
				record(oc, &m.out, seen);
				seen = m.out.n;
			} else {
				sched_progress(m.s, j, sent);
			}
		}
	}
	/* Let every deadline pass. */
	sched_route_state(m.s, 0, SCHED_LINK_DOWN, 0, now_of(&m));
	run_until(&m, now_of(&m) + 3600 * S);
	record(oc, &m.out, seen);
	{
		int nred = 0, nfail = 0, ndel = 0;

		for (i = 1; i < nid; i++) {
			nred += oc[i].redirected;
			nfail += oc[i].failed;
			ndel += oc[i].delivered;
		}
		print_message("seed %llu predictive=%d: %d jobs, %d delivered,"
		    " %d redirected, %d failed\n", (unsigned long long)seed,
		    predictive, nid - 1, ndel, nred, nfail);
		/* The run must exercise every outcome. */
		assert_true(ndel > 0 && nred + nfail > 0);
	}
	for (i = 1; i < nid; i++) {
		/* Never resolved twice (a redirect is never duplicated, a
		 * redirected message is never delivered). */
		assert_true(oc[i].resolved <= 1);
		assert_false(oc[i].redirected && oc[i].delivered);
		if (oc[i].mode == 'R')
			assert_int_equal(oc[i].resolved, 1);
		if (oc[i].redirected)
			assert_true(oc[i].arcpt);
	}
	sim_fini(&m);
	free(oc);
}

/* Random operations on the index; every invariant checked after each. */
static void
test_random_ops(void **state)
{
	(void)state;
	struct sched_cfg cfg;
	struct sched_job *live[64];
	int live_id[64], live_route[64];
	struct sim m;
	int nlive = 0, op, k, next = 1, r;
	size_t i, j;

	rng_state = tu_seed("test_random_ops") | 1;
	sched_cfg_default(&cfg);
	cfg.share_n = 3;
	cfg.min_interval_ms = 0;
	sim_init(&m, &cfg);
	for (op = 0; op < 4000; op++) {
		r = (int)urand(0, 11);
		k = nlive ? (int)urand(0, nlive - 1) : 0;
		if (r <= 2 && nlive < 64) {
			struct job_opts o = { .band = (int)urand(0, 7),
				.size = urand(100, 20000),
				.nrcpts = (int)urand(1, 3),
				.held = urand(0, 9) == 0 };
			if (urand(0, 1)) {
				o.by_in = urand(30, 900) * S;
				o.mode = urand(0, 1) ? 'R' : 'N';
				o.arcpt = urand(0, 1);
				if (o.arcpt && urand(0, 1))
					o.aby_in = o.by_in / 2;
			}
			live_id[nlive] = next;
			live_route[nlive] = (int)urand(0, 1);
			live[nlive] = add(&m, next++, live_route[nlive], &o);
			nlive++;
		} else if (nlive == 0) {
			continue;
		} else if (r == 3) {
			sched_remove(m.s, live[k]);
			nlive--;
			live[k] = live[nlive];
			live_id[k] = live_id[nlive];
			live_route[k] = live_route[nlive];
		} else if (r == 4) {
			sched_hold(m.s, live[k], urand(0, 1), now_of(&m));
		} else if (r == 5) {
			sched_defer(m.s, live[k], now_of(&m) + urand(0, 60) * S,
			    now_of(&m));
		} else if (r == 6) {
			sched_progress(m.s, live[k], urand(0,
			    live[k]->size_bytes));
		} else if (r == 7) {
			if (sched_commit_begin(m.s, live[k], now_of(&m) +
			    urand(1, 20) * S, now_of(&m)) == 0 && urand(0, 1))
				sched_commit_abort(m.s, live[k], now_of(&m));
		} else if (r == 8) {
			sched_report(m.s, live[k], (uint32_t)urand(0, 2),
			    (enum sched_outcome)urand(0, 3), NULL, 0,
			    now_of(&m), &m.out);
		} else if (r == 9) {
			sched_route_state(m.s, (int)urand(0, 1),
			    (enum sched_link)urand(0, 2),
			    now_of(&m) + urand(0, 30) * S, now_of(&m));
		} else if (r == 10) {
			(void)sched_next(m.s, (int)urand(0, 1), now_of(&m));
		} else {
			clk_virtual_advance(&m.clk, urand(0, 20) * S);
			tick(&m);
		}
		/* Forget jobs the scheduler resolved (decisions say so). */
		for (i = 0; i < m.out.n; i++) {
			if (!m.out.v[i].job_gone)
				continue;
			for (j = 0; j < (size_t)nlive; j++)
				if (live_id[j] == did(&m.out.v[i]) &&
				    live_route[j] == m.out.v[i].route) {
					nlive--;
					live[j] = live[nlive];
					live_id[j] = live_id[nlive];
					live_route[j] = live_route[nlive];
					break;
				}
		}
		sched_out_reset(&m.out);
		sched_check(m.s);
		assert_int_equal(sched_count(m.s), (size_t)nlive);
	}
	sim_fini(&m);
}

static void
test_random_never_late(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_random_never_late");
	int k;

	for (k = 0; k < 4; k++)
		random_run(seed + (uint64_t)k, k % 2 == 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_bands),
		cmocka_unit_test(test_order_edf),
		cmocka_unit_test(test_starvation_share),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_hold_backoff_link),
		cmocka_unit_test(test_prediction),
		cmocka_unit_test(test_predicted_redirect),
		cmocka_unit_test(test_reactive_redirect_at_aby),
		cmocka_unit_test(test_redirect_on_5xx_and_4xx),
		cmocka_unit_test(test_failed_by_owner),
		cmocka_unit_test(test_redirect_route_down),
		cmocka_unit_test(test_mode_n_delayed_then_delivered),
		cmocka_unit_test(test_trace_and_null_sender),
		cmocka_unit_test(test_warning_and_lifetime),
		cmocka_unit_test(test_commit),
		cmocka_unit_test(test_cfg),
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_random_never_late),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
