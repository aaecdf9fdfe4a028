/*
 * predict.c - the route model behind deadline prediction.
 *
 * Contract: pure arithmetic over struct predict_link (see predict.h for the
 * formula). Rounding is upward everywhere, so predictions err late, which is
 * the safe side for a redirect decision; the lower bound rounds downward.
 */
#include "gateway/sched/predict.h"

/* No libm: ceil and floor of non-negative doubles by truncation. */
static double
up(double x)
{
	double t;

	if (x > 9e15)
		return x;
	t = (double)(int64_t)x;
	return t < x ? t + 1.0 : t;
}

static double
down(double x)
{
	if (x > 9e15)
		return x;
	return (double)(int64_t)x;
}

void
predict_link_default(struct predict_link *l)
{
	l->rate_bps = 150.0;
	l->max_rate_bps = 150.0;
	l->turnaround_ms = 2000;
	l->max_burst_ms = 120000;
	l->latency_ms = 0;
	l->overhead_bytes = 200;
	l->ratio = 0.5;
	l->min_ratio = 0.1;
}

int64_t
predict_add(int64_t a, int64_t b)
{
	if (a >= PREDICT_NEVER - b)
		return PREDICT_NEVER;
	return a + b;
}

int64_t
predict_air_bytes(const struct predict_link *l, int64_t remaining_bytes)
{
	double r = l->ratio > 0 && l->ratio <= 1.0 ? l->ratio : 1.0;

	if (remaining_bytes < 0)
		remaining_bytes = 0;
	return l->overhead_bytes + (int64_t)up((double)remaining_bytes * r);
}

int64_t
predict_duration_ms(const struct predict_link *l, int64_t cum_air_bytes)
{
	double air_ms;
	int64_t bursts, t;

	if (!(l->rate_bps > 0))
		return PREDICT_NEVER;
	air_ms = up((double)cum_air_bytes * 1000.0 / l->rate_bps);
	if (air_ms > 1e15)
		return PREDICT_NEVER;
	t = l->latency_ms + (int64_t)air_ms;
	if (l->turnaround_ms > 0) {
		bursts = 1;
		if (l->max_burst_ms > 0)
			bursts = ((int64_t)air_ms + l->max_burst_ms - 1) /
			    l->max_burst_ms;
		if (bursts < 1)
			bursts = 1;
		t += l->turnaround_ms * (2 * bursts - 1);
	}
	return t;
}

int64_t
predict_lower_ms(const struct predict_link *l, int64_t remaining_bytes)
{
	double rate = l->max_rate_bps > l->rate_bps ? l->max_rate_bps :
	    l->rate_bps;
	double r = l->min_ratio > 0 && l->min_ratio <= 1.0 ? l->min_ratio :
	    0.0;

	if (!(rate > 0))
		return 0;
	if (remaining_bytes < 0)
		remaining_bytes = 0;
	return l->latency_ms + (int64_t)down(((double)l->overhead_bytes +
	    (double)remaining_bytes * r) * 1000.0 / rate);
}
