/* The channel model's properties on a virtual clock: airtime, latency,
 * half-duplex exclusion and turnaround, max transmission, buffer limit,
 * error rates within tolerance for a seed, bursts, fades, outages, and
 * determinism. */
#include "tests/lib/testutil.h"

#include "hw-sim/sim_channel.h"
#include "hw-sim/sim_rng.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed;

static struct sim_channel_params
params(int64_t rate, bool full)
{
	struct sim_channel_params p;
	memset(&p, 0, sizeof(p));
	p.rate_bps = rate;
	p.full_duplex = full;
	p.seed = seed;
	return p;
}

/* What one side received, with arrival times. */
struct rx_log {
	uint8_t *data;
	int64_t *t;
	size_t n, cap;
};

static void
rx_take(struct sim_channel *ch, int side, int64_t now, struct rx_log *l)
{
	uint8_t tmp[4096];
	size_t n;

	while ((n = sim_channel_recv(ch, side, tmp, sizeof(tmp))) > 0) {
		if (l == NULL)
			continue;
		if (l->n + n > l->cap) {
			l->cap = (l->n + n) * 2;
			l->data = xrealloc(l->data, l->cap);
			l->t = xrealloc(l->t, l->cap * sizeof(int64_t));
		}
		memcpy(l->data + l->n, tmp, n);
		for (size_t i = 0; i < n; i++)
			l->t[l->n + i] = now;
		l->n += n;
	}
}

static void
rx_free(struct rx_log *l)
{
	free(l->data);
	free(l->t);
	memset(l, 0, sizeof(*l));
}

/* Run the channel on the virtual clock until `until`, jumping from event
 * to event, logging what each side receives; checks half-duplex exclusion
 * at every step. */
static void
run_until(struct sim_channel *ch, struct clk_virtual *vc, int64_t until,
    struct rx_log *l0, struct rx_log *l1)
{
	const struct sim_channel_params *p = sim_channel_params(ch);

	for (;;) {
		int64_t now = clk_mono_ms(&vc->base);
		int64_t next = sim_channel_advance(ch, now);
		if (!p->full_duplex)
			assert_false(sim_channel_on_air(ch, 0) &&
			    sim_channel_on_air(ch, 1));
		rx_take(ch, 0, now, l0);
		rx_take(ch, 1, now, l1);
		if (next > until) {
			clk_virtual_set(vc, until);
			sim_channel_advance(ch, until);
			rx_take(ch, 0, until, l0);
			rx_take(ch, 1, until, l1);
			return;
		}
		assert_true(next > now);
		clk_virtual_set(vc, next);
	}
}

static uint8_t *
pattern(size_t n)
{
	uint8_t *d = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(i * 7 + 3);
	return d;
}

static void
test_airtime(void **state)
{
	(void)state;
	static const struct {
		int64_t rate, latency;
		size_t n;
	} cases[] = {
		{ 2400, 0, 300 }, { 2400, 0, 1 }, { 1200, 0, 1000 },
		{ 300, 0, 75 }, { 9600, 250, 4800 }, { 75, 0, 10 },
		{ 19200, 10, 2400 }, { 2400, 1000, 7 },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		struct clk_virtual vc;
		clk_virtual_init(&vc, 1000, 0);
		struct sim_channel_params p = params(cases[i].rate, false);
		p.latency_ms = cases[i].latency;
		struct sim_channel *ch = sim_channel_new(&p, 1000);
		uint8_t *d = pattern(cases[i].n);
		struct rx_log l = { 0 };

		assert_int_equal(sim_channel_send(ch, 0, 1000, d, cases[i].n),
		    cases[i].n);
		run_until(ch, &vc, 1000 + 3600000, NULL, &l);
		assert_int_equal(l.n, cases[i].n);
		assert_memory_equal(l.data, d, cases[i].n);
		/* byte k arrives at ceil((k+1) * 8000 / rate) + latency */
		for (size_t k = 0; k < l.n; k++) {
			int64_t want = 1000 + ((int64_t)(k + 1) * 8000 +
			    cases[i].rate - 1) / cases[i].rate +
			    cases[i].latency;
			if (l.t[k] != want)
				fail_msg("rate %lld byte %zu: at %lld, "
				    "want %lld",
				    (long long)cases[i].rate, k,
				    (long long)l.t[k], (long long)want);
		}
		/* airtime = bytes * 8 / rate within rounding */
		double exact = (double)cases[i].n * 8000.0 /
		    (double)cases[i].rate;
		double got = (double)(l.t[l.n - 1] - 1000 - cases[i].latency);
		assert_true(got >= exact && got < exact + 1.0);
		const struct sim_channel_stats *st = sim_channel_stats(ch);
		assert_int_equal(st->side[0].tx_bytes, cases[i].n);
		assert_int_equal(st->side[1].rx_bytes, cases[i].n);
		assert_int_equal(st->side[0].transmissions, 1);
		assert_int_equal(st->turnarounds, 0);
		assert_false(sim_channel_on_air(ch, 0));
		rx_free(&l);
		free(d);
		sim_channel_free(ch);
	}
}

static void
test_half_duplex_turnaround(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(2400, false);
	p.turnaround_ms = 2000;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t *d = pattern(300);
	struct rx_log l0 = { 0 }, l1 = { 0 };

	/* both sides have 300 bytes (1 s of air) at t=0 */
	assert_int_equal(sim_channel_send(ch, 0, 0, d, 300), 300);
	assert_int_equal(sim_channel_send(ch, 1, 0, d, 300), 300);
	sim_channel_advance(ch, 0);
	assert_true(sim_channel_on_air(ch, 0));
	assert_false(sim_channel_on_air(ch, 1));
	/* B hears A's carrier; A hears nothing */
	assert_true(sim_channel_carrier(ch, 1, 0));
	assert_false(sim_channel_carrier(ch, 0, 0));
	run_until(ch, &vc, 60000, &l0, &l1);
	assert_int_equal(l1.n, 300);
	assert_int_equal(l0.n, 300);
	assert_int_equal(l1.t[299], 1000);
	/* B keys up only after A's last byte plus the turnaround */
	assert_int_equal(l0.t[0], 3000 + 4);
	assert_int_equal(l0.t[299], 4000);
	assert_int_equal(sim_channel_stats(ch)->turnarounds, 1);

	/* B sends again: no direction change, no turnaround */
	assert_int_equal(sim_channel_send(ch, 1, 60000, d, 3), 3);
	run_until(ch, &vc, 70000, &l0, &l1);
	assert_int_equal(l0.n, 303);
	assert_int_equal(l0.t[302], 60010);
	assert_int_equal(sim_channel_stats(ch)->turnarounds, 1);
	/* A answers: one more turnaround, counted from B's end + turnaround */
	assert_int_equal(sim_channel_send(ch, 0, 70000, d, 3), 3);
	run_until(ch, &vc, 80000, &l0, &l1);
	assert_int_equal(l1.n, 303);
	assert_int_equal(sim_channel_stats(ch)->turnarounds, 2);

	/* while A is on the air, B's data waits (carrier sense) */
	uint8_t *big = pattern(2400);
	assert_int_equal(sim_channel_send(ch, 0, 80000, big, 2400), 2400);
	assert_int_equal(sim_channel_send(ch, 1, 80001, d, 10), 10);
	run_until(ch, &vc, 87999, &l0, &l1);
	assert_int_equal(l0.n, 303); /* nothing from B yet */
	assert_true(sim_channel_on_air(ch, 0));
	run_until(ch, &vc, 100000, &l0, &l1);
	assert_int_equal(l0.n, 313);
	assert_true(l0.t[303] >= 88000 + 2000);
	free(big);
	rx_free(&l0);
	rx_free(&l1);
	free(d);
	sim_channel_free(ch);
}

static void
test_full_duplex_simultaneous(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(9600, true);
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t *d = pattern(1200);
	struct rx_log l0 = { 0 }, l1 = { 0 };

	sim_channel_send(ch, 0, 0, d, 1200);
	sim_channel_send(ch, 1, 0, d, 1200);
	sim_channel_advance(ch, 0);
	assert_true(sim_channel_on_air(ch, 0) && sim_channel_on_air(ch, 1));
	run_until(ch, &vc, 5000, &l0, &l1);
	assert_int_equal(l0.t[1199], 1000);
	assert_int_equal(l1.t[1199], 1000);
	assert_int_equal(sim_channel_stats(ch)->turnarounds, 0);
	rx_free(&l0);
	rx_free(&l1);
	free(d);
	sim_channel_free(ch);
}

static void
test_max_tx(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(2400, false);
	p.max_tx_ms = 1000;       /* 300 bytes per transmission */
	p.turnaround_ms = 500;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t *d = pattern(1000);
	struct rx_log l1 = { 0 };

	sim_channel_send(ch, 0, 0, d, 1000);
	run_until(ch, &vc, 60000, NULL, &l1);
	const struct sim_channel_stats *st = sim_channel_stats(ch);
	assert_int_equal(l1.n, 1000);
	assert_memory_equal(l1.data, d, 1000);
	assert_int_equal(st->side[0].transmissions, 4);
	assert_int_equal(st->side[0].max_tx_cutoffs, 3);
	/* each transmission lasts at most max_tx; gaps of a turnaround */
	assert_int_equal(l1.t[299], 1000);
	assert_int_equal(l1.t[300], 1500 + 4);
	assert_int_equal(l1.t[999], 3 * 1500 + 100 * 8000 / 2400 + 1);
	assert_true(st->side[0].airtime_ms <= 4 * 1000);

	/* the far side answers in the gap after a cutoff */
	sim_channel_send(ch, 0, 60000, d, 600);
	run_until(ch, &vc, 60500, NULL, &l1);
	uint8_t ack[3] = { 1, 2, 3 };
	sim_channel_send(ch, 1, 60500, ack, 3);
	struct rx_log l0 = { 0 };
	run_until(ch, &vc, 70000, &l0, &l1);
	assert_int_equal(l0.n, 3);
	/* B's 3 bytes went between A's two transmissions */
	assert_true(l0.t[2] < l1.t[l1.n - 1]);
	assert_true(l0.t[0] >= 61000 + 500);
	rx_free(&l0);
	rx_free(&l1);
	free(d);
	sim_channel_free(ch);
}

static void
test_buffer_limit(void **state)
{
	(void)state;
	struct sim_channel_params p = params(2400, false);
	p.buffer_bytes = 1000;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t *d = pattern(1500);

	assert_int_equal(sim_channel_tx_space(ch, 0), 1000);
	assert_int_equal(sim_channel_send(ch, 0, 0, d, 1500), 1000);
	assert_int_equal(sim_channel_stats(ch)->side[0].tx_refused, 500);
	assert_int_equal(sim_channel_tx_space(ch, 0), 0);
	assert_int_equal(sim_channel_send(ch, 0, 0, d, 10), 0);
	/* after 1 s of air, 300 bytes left the buffer */
	sim_channel_advance(ch, 1000);
	assert_int_equal(sim_channel_tx_pending(ch, 0), 700);
	assert_int_equal(sim_channel_tx_space(ch, 0), 300);
	assert_int_equal(sim_channel_send(ch, 0, 1000, d, 500), 300);
	sim_channel_flush_tx(ch, 0);
	assert_int_equal(sim_channel_tx_pending(ch, 0), 0);
	assert_false(sim_channel_on_air(ch, 0));
	free(d);
	sim_channel_free(ch);
}

static int
popcount8(uint8_t x)
{
	return __builtin_popcount(x);
}

static void
test_ber(void **state)
{
	(void)state;
	static const double bers[] = { 1e-3, 1e-4, 1e-2 };
	for (size_t k = 0; k < GW_ARRAY_LEN(bers); k++) {
		struct clk_virtual vc;
		clk_virtual_init(&vc, 0, 0);
		struct sim_channel_params p = params(1000000, true);
		p.ber = bers[k];
		struct sim_channel *ch = sim_channel_new(&p, 0);
		size_t n = 250000; /* 2 Mbit */
		uint8_t *d = pattern(n);
		struct rx_log l = { 0 };

		sim_channel_send(ch, 0, 0, d, n);
		run_until(ch, &vc, 10000, NULL, &l);
		assert_int_equal(l.n, n);
		uint64_t flips = 0;
		for (size_t i = 0; i < n; i++)
			flips += (uint64_t)popcount8(l.data[i] ^ d[i]);
		const struct sim_channel_stats *st = sim_channel_stats(ch);
		assert_int_equal(flips, st->side[1].rx_bit_errors);
		double expect = (double)n * 8 * bers[k];
		/* 5 standard deviations of a binomial count */
		double tol = 5 * __builtin_sqrt(expect);
		if ((double)flips < expect - tol ||
		    (double)flips > expect + tol)
			fail_msg("ber %g: %llu flips, expected %.0f +- %.0f "
			    "(seed %llu)", bers[k], (unsigned long long)flips,
			    expect, tol, (unsigned long long)seed);
		/* errors do not leak to the other direction */
		assert_int_equal(st->side[0].rx_bit_errors, 0);
		rx_free(&l);
		free(d);
		sim_channel_free(ch);
	}
}

static void
test_bursts(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	/* the hf-300-hd-noisy model: 2 s bursts every 200 s at 1e-2 */
	struct sim_channel_params p = params(300, false);
	p.burst_ber = 1e-2;
	p.burst_interval_ms = 200000;
	p.burst_length_ms = 2000;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	int64_t hours = 12, end = hours * 3600000;
	uint8_t *d = pattern(375);    /* 10 s of air per chunk */
	struct rx_log l = { 0 };
	uint64_t clusters = 0, got = 0;
	int64_t last = -1000000;

	/* keep the channel busy, compare each chunk as it arrives */
	for (int64_t t = 0; t < end; t += 10000) {
		assert_int_equal(sim_channel_send(ch, 0, t, d, 375), 375);
		run_until(ch, &vc, t + 10000, NULL, &l);
		for (size_t i = 0; i < l.n; i++) {
			if (l.data[i] != d[(got + i) % 375]) {
				/* errors closer than 10 s form one cluster */
				if (l.t[i] - last > 10000)
					clusters++;
				last = l.t[i];
			}
		}
		got += l.n;
		rx_free(&l);
	}
	const struct sim_channel_stats *st = sim_channel_stats(ch);
	double bits = (double)got * 8;
	double ber = (double)st->side[1].rx_bit_errors / bits;
	printf("bursts: %llu bursts, %llu bit errors, %llu clusters, "
	    "ber %.3g (seed %llu)\n", (unsigned long long)st->bursts,
	    (unsigned long long)st->side[1].rx_bit_errors,
	    (unsigned long long)clusters, ber, (unsigned long long)seed);
	assert_int_equal(got, (uint64_t)(end / 10000) * 375);
	/* ~216 bursts expected; the long-run BER is about 1e-4 */
	assert_true(st->bursts > 150 && st->bursts < 290);
	assert_true(ber > 0.55e-4 && ber < 1.6e-4);
	/* errors come in clusters, no more of them than bursts */
	assert_true(clusters > 0 && clusters <= st->bursts);
	free(d);
	sim_channel_free(ch);
}

static void
test_outages(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 5000, 0);
	struct sim_channel_params p = params(2400, false);
	assert_int_equal(sim_channel_parse_outages(&p, "10s+5s, 30s+500ms"),
	    0);
	assert_int_equal(p.n_outages, 2);
	assert_int_equal(p.outages[1].start_ms, 30000);
	assert_int_equal(p.outages[1].dur_ms, 500);
	struct sim_channel *ch = sim_channel_new(&p, 5000);
	size_t n = 40 * 300; /* 40 s of air from t = 0 */
	uint8_t *d = pattern(n);
	struct rx_log l = { 0 };

	sim_channel_send(ch, 0, 5000, d, n);
	run_until(ch, &vc, 5000 + 12000, NULL, &l);
	/* in the outage: no signal, no carrier, nothing arrives */
	assert_false(sim_channel_signal_ok(ch, 5000 + 12000));
	assert_false(sim_channel_carrier(ch, 1, 5000 + 12000));
	assert_true(sim_channel_on_air(ch, 0)); /* A still transmits */
	assert_int_equal(sim_channel_signal_next_change(ch, 5000 + 12000),
	    5000 + 15000);
	size_t before = l.n;
	run_until(ch, &vc, 5000 + 14999, NULL, &l);
	assert_int_equal(l.n, before);
	run_until(ch, &vc, 5000 + 60000, NULL, &l);
	assert_true(sim_channel_signal_ok(ch, 5000 + 60000));
	const struct sim_channel_stats *st = sim_channel_stats(ch);
	/* 5.5 s of lost air at 300 bytes/s */
	assert_true(st->side[1].rx_lost_bytes >= 1648 &&
	    st->side[1].rx_lost_bytes <= 1652);
	assert_int_equal(l.n + st->side[1].rx_lost_bytes, n);
	for (size_t i = 0; i < l.n; i++) {
		int64_t rel = l.t[i] - 5000;
		assert_false(rel >= 10000 && rel < 15000);
		assert_false(rel >= 30000 && rel < 30500);
	}
	/* bad outage specs */
	assert_int_equal(sim_channel_parse_outages(&p, "10s"), GW_EINVAL);
	assert_int_equal(sim_channel_parse_outages(&p, "x+1s"), GW_EINVAL);
	assert_int_equal(sim_channel_parse_outages(&p, "1s+0s"), GW_EINVAL);
	rx_free(&l);
	free(d);
	sim_channel_free(ch);
}

static void
test_fades(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(300, true);
	p.fade_interval_ms = 60000;
	p.fade_length_ms = 5000;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	int64_t end = 10 * 3600000;
	size_t n = (size_t)(end / 1000 * 300 / 8);
	uint8_t *d = pattern(n);

	sim_channel_send(ch, 0, 0, d, n);
	run_until(ch, &vc, end + 10000, NULL, NULL);
	const struct sim_channel_stats *st = sim_channel_stats(ch);
	double lost = (double)st->side[1].rx_lost_bytes / (double)n;
	printf("fades: %llu fades, %.3f of bytes lost (seed %llu)\n",
	    (unsigned long long)st->fades, lost, (unsigned long long)seed);
	/* ~554 fades of 5 s in 10 h; ~7.7 % of the time */
	assert_true(st->fades > 400 && st->fades < 700);
	assert_true(lost > 0.05 && lost < 0.11);
	assert_int_equal(st->side[1].rx_bytes + st->side[1].rx_lost_bytes, n);
	free(d);
	sim_channel_free(ch);
}

static void
test_keyup_and_csma(void **state)
{
	(void)state;
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(1200, false);
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t b[15] = { 0 };
	struct rx_log l = { 0 };

	sim_channel_set_keyup(ch, 0, 300);
	sim_channel_send(ch, 0, 0, b, 15);
	run_until(ch, &vc, 10000, NULL, &l);
	assert_int_equal(l.t[0], 300 + 7);
	assert_int_equal(l.t[14], 300 + 100);
	/* p-persistence 0 (p = 1/256) with 10 ms slots: key-up waits some
	 * slots on average; with persist 255 it does not */
	sim_channel_set_keyup(ch, 0, 0);
	sim_channel_set_csma(ch, 0, 0, 10);
	int64_t total = 0;
	for (int i = 0; i < 20; i++) {
		int64_t t0 = clk_mono_ms(&vc.base);
		sim_channel_send(ch, 0, t0, b, 1);
		rx_free(&l);
		run_until(ch, &vc, t0 + 600000, NULL, &l);
		assert_int_equal(l.n, 1);
		assert_int_equal((l.t[0] - t0 - 7) % 10, 0);
		total += l.t[0] - t0 - 7;
	}
	/* mean wait ~ 255 slots of 10 ms */
	assert_true(total / 20 > 500 && total / 20 < 6000);
	rx_free(&l);
	sim_channel_free(ch);
}

static void
run_once(uint64_t s, uint8_t **out, size_t *n, struct sim_channel_stats *st)
{
	struct clk_virtual vc;
	clk_virtual_init(&vc, 0, 0);
	struct sim_channel_params p = params(2400, false);
	p.seed = s;
	p.ber = 1e-3;
	p.burst_ber = 0.05;
	p.burst_interval_ms = 20000;
	p.burst_length_ms = 1000;
	p.fade_interval_ms = 30000;
	p.fade_length_ms = 2000;
	p.turnaround_ms = 100;
	struct sim_channel *ch = sim_channel_new(&p, 0);
	uint8_t *d = pattern(60000);
	struct rx_log l = { 0 };
	/* irregular traffic in both directions, advanced unevenly */
	for (int i = 0; i < 200; i++) {
		int64_t t = clk_mono_ms(&vc.base);
		sim_channel_send(ch, i % 3 == 0, t, d + i * 100, 100 + i % 7);
		run_until(ch, &vc, t + 333 + (i % 5) * 97, NULL, &l);
	}
	run_until(ch, &vc, clk_mono_ms(&vc.base) + 600000, NULL, &l);
	*out = l.data;
	*n = l.n;
	*st = *sim_channel_stats(ch);
	free(l.t);
	free(d);
	sim_channel_free(ch);
}

static void
test_determinism(void **state)
{
	(void)state;
	uint8_t *a, *b, *c;
	size_t na, nb, nc;
	struct sim_channel_stats sa, sb, sc;

	run_once(seed, &a, &na, &sa);
	run_once(seed, &b, &nb, &sb);
	run_once(seed + 1, &c, &nc, &sc);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	assert_true(na != nc || memcmp(a, c, na) != 0 ||
	    sa.side[1].rx_bit_errors != sc.side[1].rx_bit_errors);
	free(a);
	free(b);
	free(c);
}

static void
test_rng(void **state)
{
	(void)state;
	/* splitmix64 from state 0: the published first outputs */
	uint64_t st = 0;
	assert_true(sim_splitmix64(&st) == 0xe220a8397b1dcdafULL);
	assert_true(sim_splitmix64(&st) == 0x6e789e6aa1b965f4ULL);
	assert_true(sim_splitmix64(&st) == 0x06c45d188009454fULL);
	/* xoshiro256** from a fixed state: uniform and exponential sanity */
	struct sim_rng r;
	sim_rng_seed(&r, 42, 0);
	double sum = 0, esum = 0;
	for (int i = 0; i < 100000; i++) {
		double u = sim_rng_uniform(&r);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
		esum += (double)sim_rng_exp_ms(&r, 1000);
	}
	assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
	assert_true(esum / 100000 > 980 && esum / 100000 < 1020);
	assert_int_equal(sim_rng_exp_ms(&r, 0), 0);
	assert_false(sim_rng_chance(&r, 0.0));
}

int
main(void)
{
	seed = tu_seed("test_sim_channel");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_airtime),
		cmocka_unit_test(test_half_duplex_turnaround),
		cmocka_unit_test(test_full_duplex_simultaneous),
		cmocka_unit_test(test_max_tx),
		cmocka_unit_test(test_buffer_limit),
		cmocka_unit_test(test_ber),
		cmocka_unit_test(test_bursts),
		cmocka_unit_test(test_outages),
		cmocka_unit_test(test_fades),
		cmocka_unit_test(test_keyup_and_csma),
		cmocka_unit_test(test_determinism),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
