/*
 * retry.h - retry, expiry and delay-warning timing per priority band.
 *
 * Pure arithmetic on a struct of parameters; no clock, no I/O. Band 0 is the
 * lowest priority band; every band above it divides the lowest band's
 * backoff, queue lifetime and delay-warning time by band_divisor (RFC 6710
 * s5: retry and expiry timers MAY be shorter for higher priority), never
 * below a fixed floor.
 *
 * Configuration keys (retry_cfg_fields, all in the [policy] section):
 *   retry_backoff        5m   10s..1d   first backoff, lowest band
 *   retry_backoff_max    4h   1m..7d    cap on any backoff
 *   queue_lifetime       5d   1h..30d   lowest band's maximum time in queue
 *   delay_warning        4h   0..7d     delayed DSN after this long (0: off)
 *   retry_band_divisor   2    1..8      divisor applied once per band step
 */
#ifndef GW_GATEWAY_RETRY_H
#define GW_GATEWAY_RETRY_H

#include "common/cfgtab.h"

#include <stddef.h>
#include <stdint.h>

#define RETRY_BANDS 8              /* bands 0..7 */
#define RETRY_BACKOFF_FLOOR_MS 10000
#define RETRY_LIFETIME_FLOOR_MS 3600000
#define RETRY_WARN_FLOOR_MS 300000

struct retry_cfg {
	int64_t backoff_ms;      /* first backoff of band 0 */
	int64_t backoff_max_ms;  /* cap on every backoff */
	int64_t lifetime_ms;     /* band 0 maximum queue lifetime */
	int64_t warn_ms;         /* band 0 delayed-DSN warning, 0 = off */
	int64_t band_divisor;    /* per band step */
};

/* The field table (offsets into struct retry_cfg) for the configuration. */
extern const struct cfg_field retry_cfg_fields[];

/* Fill c with the defaults above. */
void retry_cfg_default(struct retry_cfg *c);
/* 0, or GW_ERANGE with a message when a value is out of bounds or the
 * cap is below the first backoff. */
int retry_cfg_check(const struct retry_cfg *c, char *err, size_t errlen);

/* Backoff before attempt number attempts+1 after attempts failures
 * (attempts >= 1): base(band) * attempts^2, capped at backoff_max_ms.
 * attempts <= 0 gives 0. Bands outside 0..RETRY_BANDS-1 are clamped. */
int64_t retry_backoff_ms(const struct retry_cfg *c, int band, int attempts);
/* Maximum time in queue for band. */
int64_t retry_lifetime_ms(const struct retry_cfg *c, int band);
/* Delayed-DSN warning time for band, 0 = no warning. */
int64_t retry_warn_ms(const struct retry_cfg *c, int band);

#endif
