/*
 * air_hwchan.h - hw-sim's channel model (hw-sim/sim_channel.h) as an
 * xfer_sim channel: link frames go through skywave's byte-stream framing
 * (link-drivers/framing.h, as a raw-mode serial modem would carry them)
 * into the simulated radio channel, which models rate, half duplex with
 * carrier sense, turnaround, latency, max_tx cut-off, bit errors, error
 * bursts, fades and outages byte by byte; received bytes are deframed
 * (resynchronising after garbage) and handed to the link layer.
 *
 * Header-only so the air tests and the air benchmarks (which link
 * skywave_sim as well as skywave_gateway) share it; gateway/ itself does
 * not depend on hw-sim.
 */
#ifndef GW_TESTS_AIR_HWCHAN_H
#define GW_TESTS_AIR_HWCHAN_H

#include "common/buf.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "hw-sim/sim_channel.h"
#include "link-drivers/drv.h"
#include "link-drivers/framing.h"
#include "tests/lib/xfer_sim.h"

#include <stdlib.h>
#include <string.h>

struct air_hwchan {
	struct sim_channel *ch;
	struct framing_dec dec[2];
	struct buf enc;
	int64_t rate_bps;
	uint64_t frames_sent;
	int64_t last_rx[2];
	void (*rx)(void *arg, int side, const uint8_t *p, size_t n);
	void *rx_arg;
	int rx_side;
};

static inline void
air_hwchan_send(void *ch, int side, int64_t now, const uint8_t *p, size_t n)
{
	struct air_hwchan *h = ch;
	buf_reset(&h->enc);
	framing_encode(&h->enc, p, n);
	sim_channel_send(h->ch, side, now, h->enc.data, h->enc.len);
	h->frames_sent++;
}

static inline int64_t
air_hwchan_buffered_ms(void *ch, int side, int64_t now)
{
	struct air_hwchan *h = ch;
	(void)now;
	size_t pend = sim_channel_tx_pending(h->ch, side);
	return (int64_t)((pend * 8000 + (size_t)h->rate_bps - 1) /
	    (size_t)h->rate_bps);
}

static inline int
air_hwchan_frame(void *arg, const uint8_t *p, size_t n)
{
	struct air_hwchan *h = arg;
	h->rx(h->rx_arg, h->rx_side, p, n);
	return 0;
}

static inline int64_t
air_hwchan_advance(void *ch, int64_t now, void (*rx)(void *arg, int side,
    const uint8_t *p, size_t n), void *arg)
{
	struct air_hwchan *h = ch;
	uint8_t b[4096];
	int64_t next = sim_channel_advance(h->ch, now);
	h->rx = rx;
	h->rx_arg = arg;
	for (int side = 0; side < 2; side++) {
		h->rx_side = side;
		size_t n;
		while ((n = sim_channel_recv(h->ch, side, b, sizeof(b))) > 0) {
			h->last_rx[side] = now;
			framing_dec_feed(&h->dec[side], b, n, air_hwchan_frame,
			    h);
		}
		/* An idle gap ends whatever candidate frame is pending. */
		if (framing_dec_pending(&h->dec[side]) &&
		    now - h->last_rx[side] > 500 &&
		    !sim_channel_carrier(h->ch, side, now))
			framing_dec_flush(&h->dec[side], air_hwchan_frame, h);
		else if (framing_dec_pending(&h->dec[side]) &&
		    now + 600 < next)
			next = now + 600;
	}
	return next == SIM_NEVER ? INT64_MAX : next;
}

static inline void
air_hwchan_flush(void *ch, int side)
{
	struct air_hwchan *h = ch;
	sim_channel_flush_tx(h->ch, side);
}

static inline void
air_hwchan_stats(void *ch, struct xsim_chan_stats *out)
{
	struct air_hwchan *h = ch;
	const struct sim_channel_stats *st = sim_channel_stats(h->ch);
	out->air_bytes = st->side[0].tx_bytes + st->side[1].tx_bytes;
	out->turns = st->turnarounds;
	out->frames = h->frames_sent;
	out->lost = st->side[0].rx_lost_bytes + st->side[1].rx_lost_bytes;
	out->corrupted = st->side[0].rx_errored_bytes +
	    st->side[1].rx_errored_bytes;
	out->busy_ms = st->side[0].airtime_ms + st->side[1].airtime_ms;
}

static inline void
air_hwchan_free(void *ch)
{
	struct air_hwchan *h = ch;
	sim_channel_free(h->ch);
	framing_dec_fini(&h->dec[0]);
	framing_dec_fini(&h->dec[1]);
	buf_fini(&h->enc);
	free(h);
}

static const struct xsim_chan_ops air_hwchan_ops = {
	air_hwchan_send, air_hwchan_buffered_ms, air_hwchan_advance,
	air_hwchan_flush, air_hwchan_stats, air_hwchan_free,
};

/* Plug hw-sim's channel with params cp into c (caps must already describe
 * the same link: rate, duplex, turnaround, latency, max_tx, mtu). */
static inline void
air_hwchan_attach(struct xsim_config *c, const struct sim_channel_params *cp)
{
	struct air_hwchan *h = xcalloc(1, sizeof(*h));
	h->ch = sim_channel_new(cp, 0);
	h->rate_bps = cp->rate_bps;
	framing_dec_init(&h->dec[0], FRAMING_MAX_PAYLOAD);
	framing_dec_init(&h->dec[1], FRAMING_MAX_PAYLOAD);
	c->chan_ops = &air_hwchan_ops;
	c->chan = h;
	c->frame_overhead = FRAMING_OVERHEAD;
}

/* hw-sim parameters matching an xsim config's caps. */
static inline struct sim_channel_params
air_hwchan_params(const struct xsim_config *c, uint64_t seed)
{
	struct sim_channel_params cp;
	memset(&cp, 0, sizeof(cp));
	cp.rate_bps = c->caps.rate_bps;
	cp.full_duplex = c->caps.full_duplex;
	cp.turnaround_ms = c->caps.turnaround_ms;
	cp.latency_ms = c->caps.latency_ms;
	cp.max_tx_ms = c->caps.max_tx_ms;
	cp.seed = seed;
	return cp;
}

/* Load firmware profile name (from dir or the usual places), take the
 * link capabilities and the channel model (its [sim] faults included) from
 * it, and plug the channel into c. 0 or the loader's error (err filled). */
static inline int air_hwchan_from_profile_clean(struct xsim_config *c,
    const char *name, const char *dir, uint64_t seed, bool clean, char *err,
    size_t errlen);

static inline int
air_hwchan_from_profile(struct xsim_config *c, const char *name,
    const char *dir, uint64_t seed, char *err, size_t errlen)
{
	return air_hwchan_from_profile_clean(c, name, dir, seed, false, err,
	    errlen);
}

/* The same; with clean, the profile's [sim] errors, fades and outages are
 * left out (the same channel without its faults). */
static inline int
air_hwchan_from_profile_clean(struct xsim_config *c, const char *name,
    const char *dir, uint64_t seed, bool clean, char *err, size_t errlen)
{
	struct prof p;
	struct sim_channel_params cp;
	int rc = prof_load_named(name, dir, &p, err, errlen);
	if (rc < 0)
		return rc;
	drv_caps_from_prof(&p, &c->caps);
	sim_channel_params_from_prof(&cp, &p, seed);
	cp.buffer_bytes = 0; /* the driver model keeps ~1 s queued anyway */
	if (clean) {
		cp.ber = cp.burst_ber = 0;
		cp.burst_interval_ms = cp.fade_interval_ms = 0;
		cp.n_outages = 0;
	}
	air_hwchan_attach(c, &cp);
	prof_free(&p);
	return 0;
}

#endif
