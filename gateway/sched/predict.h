/*
 * predict.h - completion-time prediction for one route.
 *
 * A route is modelled by what the link layer measures and publishes: the
 * data rate on the channel, the half-duplex turnaround, the longest
 * transmission before the far end must answer, a fixed per-message framing
 * overhead and the compression ratio seen so far. From that, the time for a
 * given amount of queued airtime to get through is
 *
 *   latency + air(bytes) + turnaround * (2 * bursts - 1)
 *
 * where air(bytes) = bytes / rate and bursts = ceil(air / max_burst): each
 * burst costs a turnaround to hand the channel to the far end for its
 * acknowledgement and one to take it back; the last burst's acknowledgement
 * is counted so a completion is one the sender knows about.
 *
 * The scheduler walks its ready work in scheduling order and feeds the
 * cumulative airtime through predict_duration_ms(): one pass, O(n) per route
 * (prefix sums), never O(n^2).
 *
 * Pure functions; no clock, no I/O, thread-agnostic.
 */
#ifndef GW_GATEWAY_PREDICT_H
#define GW_GATEWAY_PREDICT_H

#include <stdbool.h>
#include <stdint.h>

#define PREDICT_NEVER INT64_MAX /* no completion can be predicted */

struct predict_link {
	double rate_bps;          /* measured channel rate, bytes per second
				     (0: unknown, nothing is predicted) */
	double max_rate_bps;      /* best rate the route can reach (nominal
				     air rate); bounds the certain-miss test */
	int64_t turnaround_ms;    /* per direction change, 0 = full duplex */
	int64_t max_burst_ms;     /* longest transmission, 0 = unbounded */
	int64_t latency_ms;       /* fixed cost per completion (non-air
				     routes: connection set-up, local write) */
	int64_t overhead_bytes;   /* envelope and framing per message */
	double ratio;             /* expected compressed/original size, 0..1 */
	double min_ratio;         /* best compression believed possible */
};

/* An hf-1200-hd style default: 150 B/s, 2000 ms turnaround, 120 s bursts,
 * 200 bytes overhead, ratio 0.5, floor 0.1. */
void predict_link_default(struct predict_link *l);

/* Expected airtime bytes to send remaining_bytes of uncompressed content
 * (with the per-message overhead). */
int64_t predict_air_bytes(const struct predict_link *l,
    int64_t remaining_bytes);

/* Time from the moment the link is free until cum_air_bytes of airtime
 * have been sent and acknowledged. PREDICT_NEVER when the rate is unknown. */
int64_t predict_duration_ms(const struct predict_link *l,
    int64_t cum_air_bytes);

/* A certain lower bound on the time to finish remaining_bytes with nothing
 * ahead: best compression at the best rate, no turnaround. A message whose
 * deadline is closer than this cannot make it under any schedule. */
int64_t predict_lower_ms(const struct predict_link *l,
    int64_t remaining_bytes);

/* a + b, saturating at PREDICT_NEVER. */
int64_t predict_add(int64_t a, int64_t b);

#endif
