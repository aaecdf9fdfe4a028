/*
 * retry.c - band-scaled backoff, lifetime and warning times.
 *
 * Contract: pure functions of struct retry_cfg; thread-agnostic. The backoff
 * grows quadratically (base * n^2), which reaches the cap more gently than
 * doubling: on a radio link most deferrals are fades of minutes, and a
 * message should not sit out an hour after three short fades.
 */
#include "gateway/sched/retry.h"

#include "common/err.h"

#include <stdio.h>

#define RC struct retry_cfg
const struct cfg_field retry_cfg_fields[] = {
	CFG_DUR_F(RC, backoff_ms, "retry_backoff", "5m", 10000, 86400000,
	    "first retry backoff of the lowest band"),
	CFG_DUR_F(RC, backoff_max_ms, "retry_backoff_max", "4h", 60000,
	    604800000, "longest retry backoff"),
	CFG_DUR_F(RC, lifetime_ms, "queue_lifetime", "5d", 3600000,
	    2592000000LL, "maximum time in queue of the lowest band"),
	CFG_DUR_F(RC, warn_ms, "delay_warning", "4h", 0, 604800000,
	    "delayed DSN after this long in queue, lowest band (0: off)"),
	CFG_INT_F(RC, band_divisor, "retry_band_divisor", "2", 1, 8,
	    "each band above the lowest divides the three times above by this"),
	CFG_END,
};
#undef RC

void
retry_cfg_default(struct retry_cfg *c)
{
	c->backoff_ms = 5 * 60000;
	c->backoff_max_ms = 4 * 3600000LL;
	c->lifetime_ms = 5 * 86400000LL;
	c->warn_ms = 4 * 3600000LL;
	c->band_divisor = 2;
}

int
retry_cfg_check(const struct retry_cfg *c, char *err, size_t errlen)
{
	const struct cfg_field *f;
	const int64_t *v;

	for (f = retry_cfg_fields; f->key; f++) {
		v = (const int64_t *)(const void *)((const char *)c +
		    f->offset);
		if (*v < f->min || *v > f->max) {
			snprintf(err, errlen, "%s out of range", f->key);
			return GW_ERANGE;
		}
	}
	if (c->backoff_max_ms < c->backoff_ms) {
		snprintf(err, errlen,
		    "retry_backoff_max is shorter than retry_backoff");
		return GW_ERANGE;
	}
	return 0;
}

static int
clamp_band(int band)
{
	if (band < 0)
		return 0;
	if (band >= RETRY_BANDS)
		return RETRY_BANDS - 1;
	return band;
}

/* v divided by divisor once per band step, not below floor (nor above v). */
static int64_t
scale(int64_t v, int64_t divisor, int band, int64_t floor)
{
	int i;

	band = clamp_band(band);
	for (i = 0; i < band && v > floor; i++)
		v /= divisor > 0 ? divisor : 1;
	if (v < floor)
		v = floor;
	return v;
}

int64_t
retry_backoff_ms(const struct retry_cfg *c, int band, int attempts)
{
	int64_t base, n;

	if (attempts <= 0)
		return 0;
	base = scale(c->backoff_ms, c->band_divisor, band,
	    RETRY_BACKOFF_FLOOR_MS < c->backoff_ms ? RETRY_BACKOFF_FLOOR_MS :
	    c->backoff_ms);
	n = attempts > 100000 ? 100000 : attempts;
	if (n * n > c->backoff_max_ms / base)
		return c->backoff_max_ms;
	return base * n * n < c->backoff_max_ms ? base * n * n :
	    c->backoff_max_ms;
}

int64_t
retry_lifetime_ms(const struct retry_cfg *c, int band)
{
	return scale(c->lifetime_ms, c->band_divisor, band,
	    RETRY_LIFETIME_FLOOR_MS < c->lifetime_ms ?
	    RETRY_LIFETIME_FLOOR_MS : c->lifetime_ms);
}

int64_t
retry_warn_ms(const struct retry_cfg *c, int band)
{
	if (c->warn_ms == 0)
		return 0;
	return scale(c->warn_ms, c->band_divisor, band,
	    RETRY_WARN_FLOOR_MS < c->warn_ms ? RETRY_WARN_FLOOR_MS :
	    c->warn_ms);
}
