/*
 * sim_channel.h - the simulated radio channel between two modems.
 *
 * A pure model driven by the caller's clock: every call takes "now" (ms,
 * monotonic, never decreasing) and nothing sleeps. sim_channel_advance()
 * runs the model up to now and returns the next time something will happen
 * (a byte completes, a side may key up, a delayed byte arrives), so a
 * virtual-clock test jumps straight there and the real-time runner arms one
 * timer. The same seed and the same sequence of calls give the same channel.
 *
 * What it models, per direction (side 0 = A, side 1 = B):
 *   rate        a byte takes 8000 / rate_bps ms of air; byte k of a
 *               transmission completes at keyup + ceil((k+1) * 8000 / rate)
 *   half duplex a side cannot key up while the other is on the air (carrier
 *               sense); after the other side unkeys it waits latency +
 *               turnaround. Each change of direction counts a turnaround.
 *   max_tx      a transmission is cut after max_tx; the sender must then
 *               wait a turnaround, which lets the far side answer first
 *   keyup       per side key-up delay before the first byte (KISS TXDELAY)
 *   holdover    a side whose queue runs dry stays keyed holdover ms; bytes
 *               that come in time continue the transmission
 *   csma        optional p-persistence per side (KISS PERSIST/SLOTTIME)
 *   latency     a byte reaches the far receiver latency ms after its
 *               airtime ends
 *   errors      each bit flips with probability ber, or burst_ber inside
 *               an error burst (bursts: exponential gaps and lengths)
 *   fades       random periods of lost signal (exponential gaps/lengths)
 *   outages     scheduled periods of lost signal [start, start + dur)
 *               relative to the channel's creation time
 *   Bytes whose airtime ends in a fade or an outage are lost.
 *
 * State machine per side:
 *
 *     IDLE --data queued, channel free, ready_at reached, csma ok--> ON_AIR
 *     ON_AIR --queue empty at a byte boundary--> HOLDING (holdover > 0)
 *     HOLDING --data queued--> ON_AIR (same transmission, no key-up)
 *     HOLDING --holdover passed--> IDLE
 *     ON_AIR --queue empty (holdover 0), or max_tx reached--> IDLE
 *
 *   Invariants: in half duplex at most one side is ON_AIR; a side's tx
 *   queue holds at most buffer_bytes (when set); time never goes back.
 *
 * Ownership: the creator owns the channel (sim_channel_new/_free). One
 * thread. Libraries don't log; counters are in sim_channel_stats().
 */
#ifndef GW_HW_SIM_SIM_CHANNEL_H
#define GW_HW_SIM_SIM_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct prof;

#define SIM_NEVER INT64_MAX
#define SIM_OUTAGES_MAX 32

struct sim_window {
	int64_t start_ms;       /* relative to channel creation */
	int64_t dur_ms;
};

struct sim_channel_params {
	int64_t rate_bps;       /* > 0 */
	bool full_duplex;
	int64_t turnaround_ms;
	int64_t latency_ms;
	int64_t max_tx_ms;      /* 0 = unlimited */
	int64_t holdover_ms;    /* stay keyed this long when the queue runs
				 * dry; data in time continues the same
				 * transmission (no new key-up) */
	int64_t buffer_bytes;   /* per side tx queue limit; 0 = unlimited */
	double ber;             /* background bit error rate */
	double burst_ber;       /* bit error rate inside bursts */
	int64_t burst_interval_ms; /* mean gap between bursts; 0 = none */
	int64_t burst_length_ms;
	int64_t fade_interval_ms;  /* mean gap between fades; 0 = none */
	int64_t fade_length_ms;
	struct sim_window outages[SIM_OUTAGES_MAX];
	int n_outages;
	uint64_t seed;
};

struct sim_side_stats {
	uint64_t tx_bytes;      /* bytes that went on the air */
	uint64_t rx_bytes;      /* bytes delivered to this side's receiver */
	uint64_t rx_lost_bytes; /* bytes for this side lost in fades/outages */
	uint64_t rx_bit_errors; /* bits flipped in bytes for this side */
	uint64_t rx_errored_bytes;
	uint64_t transmissions; /* key-ups */
	uint64_t max_tx_cutoffs;
	uint64_t tx_refused;    /* bytes refused: buffer full */
	int64_t airtime_ms;     /* time on the air */
};

struct sim_channel_stats {
	struct sim_side_stats side[2];
	uint64_t turnarounds;   /* changes of direction */
	uint64_t bursts;        /* error bursts begun */
	uint64_t fades;         /* fades begun */
};

struct sim_channel;

/* Fill params from a profile's [air], [modem] and [sim] sections. */
void sim_channel_params_from_prof(struct sim_channel_params *cp,
    const struct prof *p, uint64_t seed);

/* Parse "START+DUR,START+DUR..." (durations as in profiles: "90s+30s")
 * into cp->outages. Returns 0 or GW_EINVAL/GW_ERANGE. */
int sim_channel_parse_outages(struct sim_channel_params *cp, const char *s);

struct sim_channel *sim_channel_new(const struct sim_channel_params *cp,
    int64_t now_ms);
void sim_channel_free(struct sim_channel *ch);

/* Run the model up to now; returns the next event time (> now) or
 * SIM_NEVER when nothing is pending. */
int64_t sim_channel_advance(struct sim_channel *ch, int64_t now_ms);

/* Queue bytes for transmission from side (advances to now first).
 * Returns how many were accepted (fewer when the buffer is full). */
size_t sim_channel_send(struct sim_channel *ch, int side, int64_t now_ms,
    const void *data, size_t n);
/* Room left in side's tx queue (SIZE_MAX when unlimited). */
size_t sim_channel_tx_space(const struct sim_channel *ch, int side);
size_t sim_channel_tx_pending(const struct sim_channel *ch, int side);
/* Drop side's queued, not yet transmitted bytes. */
void sim_channel_flush_tx(struct sim_channel *ch, int side);

/* Take up to cap received bytes for side. */
size_t sim_channel_recv(struct sim_channel *ch, int side, void *buf,
    size_t cap);
size_t sim_channel_rx_available(const struct sim_channel *ch, int side);

bool sim_channel_on_air(const struct sim_channel *ch, int side);
/* The signal gets through at now (no fade, no outage). now must not be
 * earlier than the last advance. */
bool sim_channel_signal_ok(struct sim_channel *ch, int64_t now_ms);
/* Next time after now at which signal_ok may change (SIM_NEVER if none). */
int64_t sim_channel_signal_next_change(struct sim_channel *ch, int64_t now_ms);
/* side hears the far side's carrier: the far side is on the air and the
 * signal gets through. */
bool sim_channel_carrier(struct sim_channel *ch, int side, int64_t now_ms);

void sim_channel_set_keyup(struct sim_channel *ch, int side, int64_t ms);
/* persist 0..255 (p = (persist+1)/256; 255 = always), slot in ms. */
void sim_channel_set_csma(struct sim_channel *ch, int side, int persist,
    int64_t slot_ms);
/* Change the air rate (e.g. a modem that connected at a lower rate). */
void sim_channel_set_rate(struct sim_channel *ch, int64_t rate_bps);

const struct sim_channel_stats *sim_channel_stats(
    const struct sim_channel *ch);
const struct sim_channel_params *sim_channel_params(
    const struct sim_channel *ch);

#endif
