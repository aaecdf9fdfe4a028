/*
 * sim_link.c - a channel plus its two modems (see sim_link.h).
 * Owner: the creator; one thread; pure.
 */
#include "hw-sim/sim_link.h"

#include "firmware-profiles/profile.h"
#include "common/xmalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

struct sim_link {
	struct sim_channel *ch;
	struct sim_modem *m[2];
};

struct sim_link *
sim_link_new(const struct prof *p, const struct sim_channel_params *cp,
    int64_t now_ms)
{
	struct sim_link *l = xcalloc(1, sizeof(*l));

	l->ch = sim_channel_new(cp, now_ms);
	for (int i = 0; i < 2; i++)
		l->m[i] = sim_modem_new(p, l->ch, i, now_ms);
	sim_modem_set_peer(l->m[0], l->m[1]);
	sim_modem_set_peer(l->m[1], l->m[0]);
	return l;
}

void
sim_link_free(struct sim_link *l)
{
	if (l == NULL)
		return;
	sim_modem_free(l->m[0]);
	sim_modem_free(l->m[1]);
	sim_channel_free(l->ch);
	free(l);
}

struct sim_channel *
sim_link_channel(struct sim_link *l)
{
	return l->ch;
}

struct sim_modem *
sim_link_modem(struct sim_link *l, int side)
{
	return l->m[side];
}

int64_t
sim_link_advance(struct sim_link *l, int64_t now_ms)
{
	int64_t next = sim_channel_advance(l->ch, now_ms);

	for (int i = 0; i < 2; i++) {
		int64_t t = sim_modem_step(l->m[i], now_ms);
		if (t < next)
			next = t;
	}
	/* a modem step may have queued air bytes (none today) or flushed */
	int64_t t = sim_channel_advance(l->ch, now_ms);
	return t < next ? t : next;
}

void
sim_link_format_stats(struct sim_link *l, char *out, size_t outlen)
{
	const struct sim_channel_stats *s = sim_channel_stats(l->ch);
	const struct sim_modem_stats *a = sim_modem_stats(l->m[0]);
	const struct sim_modem_stats *b = sim_modem_stats(l->m[1]);

	snprintf(out, outlen,
	    "a_tx_bytes=%" PRIu64 " b_tx_bytes=%" PRIu64
	    " a_rx_bytes=%" PRIu64 " b_rx_bytes=%" PRIu64
	    " a_rx_lost=%" PRIu64 " b_rx_lost=%" PRIu64
	    " a_bit_errors=%" PRIu64 " b_bit_errors=%" PRIu64
	    " a_tx_refused=%" PRIu64 " b_tx_refused=%" PRIu64
	    " a_frames_tx=%" PRIu64 " b_frames_tx=%" PRIu64
	    " a_frames_rx=%" PRIu64 " b_frames_rx=%" PRIu64
	    " a_frames_bad=%" PRIu64 " b_frames_bad=%" PRIu64
	    " a_state=%s b_state=%s"
	    " turnarounds=%" PRIu64 " bursts=%" PRIu64 " fades=%" PRIu64,
	    s->side[0].tx_bytes, s->side[1].tx_bytes,
	    s->side[0].rx_bytes, s->side[1].rx_bytes,
	    s->side[0].rx_lost_bytes, s->side[1].rx_lost_bytes,
	    s->side[0].rx_bit_errors, s->side[1].rx_bit_errors,
	    s->side[0].tx_refused, s->side[1].tx_refused,
	    a->frames_tx, b->frames_tx, a->frames_rx, b->frames_rx,
	    a->frames_bad, b->frames_bad,
	    sim_modem_state_name(sim_modem_state(l->m[0])),
	    sim_modem_state_name(sim_modem_state(l->m[1])),
	    s->turnarounds, s->bursts, s->fades);
}
