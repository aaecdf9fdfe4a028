/*
 * sim_channel.c - the channel model (see sim_channel.h for what it models,
 * the per-side state machine and its invariants).
 *
 * Transitions:
 *   IDLE -> ON_AIR     start_tx(): queue non-empty, the far side not on
 *                      the air (half duplex), ready_at reached, csma won
 *   ON_AIR -> HOLDING  complete_byte(): queue empty, holdover > 0
 *   HOLDING -> ON_AIR  resume(): data queued before the holdover ended
 *   HOLDING -> IDLE    end_tx() at the end of the holdover
 *   ON_AIR -> IDLE     end_tx(): queue empty without holdover; cutoff():
 *                      the next byte would pass max_tx
 * HOLDING is ON_AIR with holding set: the carrier stays up. Byte timing
 * counts bits from the first data bit of the transmission, idle fill
 * included, so a transmission fed in small pieces keeps exact airtime.
 * Events are processed in time order (earliest first; ties: deliveries,
 * completions, then key-ups, and side 0 before side 1 except that a side
 * that did not transmit last goes first), so the random streams are drawn
 * in the same order however often advance() is called.
 *
 * Owner: the creator; one thread; pure (no I/O, no logging, no globals).
 */
#include "hw-sim/sim_channel.h"

#include "hw-sim/sim_rng.h"
#include "firmware-profiles/profile.h"
#include "common/buf.h"
#include "common/cfgtab.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A random on/off process: windows [start, end) with exponential gaps and
 * lengths, generated lazily in time order. */
struct proc {
	int64_t mean_gap_ms, mean_len_ms;
	int64_t start, end;     /* current or next window */
	int64_t counted;        /* start of the last window counted */
	struct sim_rng rng;
};

struct inflight {
	int64_t t;              /* arrival at the receiver */
	uint8_t byte;
};

struct side {
	struct buf txq;         /* queued for the air; txq_off already sent */
	size_t txq_off;
	int64_t queued_at;      /* when txq last became non-empty */
	bool on_air;
	int64_t keyed_at;       /* key-up time of the current transmission */
	int64_t data_at;        /* keyed_at + keyup: first bit */
	int64_t bits;           /* bit times used since data_at (idle too) */
	bool holding;           /* keyed, queue empty, waiting for data */
	int64_t hold_until;
	int64_t rate_bps;       /* rate of this transmission */
	int64_t ready_at;       /* earliest next key-up */
	int64_t keyup_ms;
	int persist;            /* 255 = always transmit */
	int64_t slot_ms;
	struct inflight *fly;   /* toward the other side, in arrival order */
	size_t fly_head, fly_len, fly_cap;
	struct buf rx;          /* delivered to this side */
};

struct sim_channel {
	struct sim_channel_params p;
	int64_t epoch;
	int64_t now;
	int64_t rate_bps;
	int last_tx;            /* side that transmitted last, or -1 */
	struct side s[2];
	struct proc burst, fade;
	struct sim_rng err_rng, csma_rng;
	struct sim_channel_stats st;
};

/* ---- random processes ------------------------------------------------- */

static void
proc_init(struct proc *pr, int64_t gap, int64_t len, uint64_t seed,
    uint64_t stream, int64_t epoch)
{
	memset(pr, 0, sizeof(*pr));
	pr->mean_gap_ms = gap;
	pr->mean_len_ms = len;
	sim_rng_seed(&pr->rng, seed, stream);
	pr->counted = INT64_MIN;
	if (gap <= 0 || len <= 0) {
		pr->start = pr->end = SIM_NEVER;
		return;
	}
	pr->start = epoch + sim_rng_exp_ms(&pr->rng, gap);
	pr->end = pr->start + sim_rng_exp_ms(&pr->rng, len);
}

/* Move the window so that t < end, counting each window entered. Calls
 * come in non-decreasing t. */
static void
proc_at(struct proc *pr, int64_t t, uint64_t *counter)
{
	if (pr->start == SIM_NEVER)
		return;
	for (;;) {
		if (t >= pr->start && pr->counted != pr->start) {
			pr->counted = pr->start;
			(*counter)++;
		}
		if (t < pr->end)
			return;
		pr->start = pr->end + sim_rng_exp_ms(&pr->rng, pr->mean_gap_ms);
		pr->end = pr->start + sim_rng_exp_ms(&pr->rng, pr->mean_len_ms);
	}
}

static bool
proc_in(struct proc *pr, int64_t t, uint64_t *counter)
{
	proc_at(pr, t, counter);
	return pr->start != SIM_NEVER && t >= pr->start;
}

/* ---- params ----------------------------------------------------------- */

void
sim_channel_params_from_prof(struct sim_channel_params *cp,
    const struct prof *p, uint64_t seed)
{
	memset(cp, 0, sizeof(*cp));
	cp->rate_bps = p->air.rate_bps;
	cp->full_duplex = p->air.duplex == PROF_DUPLEX_FULL;
	cp->turnaround_ms = p->air.turnaround_ms;
	cp->latency_ms = p->air.latency_ms;
	cp->max_tx_ms = p->air.max_tx_ms;
	cp->holdover_ms = p->sim.holdover_ms;
	cp->buffer_bytes = p->modem.buffer_bytes;
	cp->ber = p->sim.ber;
	cp->burst_ber = p->sim.burst_ber;
	cp->burst_interval_ms = p->sim.burst_interval_ms;
	cp->burst_length_ms = p->sim.burst_length_ms;
	cp->fade_interval_ms = p->sim.fade_interval_ms;
	cp->fade_length_ms = p->sim.fade_length_ms;
	cp->seed = seed;
}

int
sim_channel_parse_outages(struct sim_channel_params *cp, const char *s)
{
	char tmp[1024], *save = NULL;

	if (strlen(s) >= sizeof(tmp))
		return GW_ERANGE;
	snprintf(tmp, sizeof(tmp), "%s", s);
	cp->n_outages = 0;
	for (char *t = strtok_r(tmp, ",", &save); t;
	    t = strtok_r(NULL, ",", &save)) {
		char *plus = strchr(t, '+');
		int64_t a, d;
		while (*t == ' ')
			t++;
		if (plus == NULL)
			return GW_EINVAL;
		*plus = '\0';
		if (cfg_parse_duration_ms(t, &a) != 0 ||
		    cfg_parse_duration_ms(plus + 1, &d) != 0 || d <= 0)
			return GW_EINVAL;
		if (cp->n_outages >= SIM_OUTAGES_MAX)
			return GW_ERANGE;
		cp->outages[cp->n_outages].start_ms = a;
		cp->outages[cp->n_outages].dur_ms = d;
		cp->n_outages++;
	}
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

struct sim_channel *
sim_channel_new(const struct sim_channel_params *cp, int64_t now_ms)
{
	struct sim_channel *ch = xcalloc(1, sizeof(*ch));

	GW_REQUIRE(cp->rate_bps > 0);
	ch->p = *cp;
	ch->epoch = now_ms;
	ch->now = now_ms;
	ch->rate_bps = cp->rate_bps;
	ch->last_tx = -1;
	for (int i = 0; i < 2; i++) {
		buf_init(&ch->s[i].txq);
		buf_init(&ch->s[i].rx);
		ch->s[i].ready_at = now_ms;
		ch->s[i].persist = 255;
	}
	proc_init(&ch->burst, cp->burst_interval_ms, cp->burst_length_ms,
	    cp->seed, 1, now_ms);
	proc_init(&ch->fade, cp->fade_interval_ms, cp->fade_length_ms,
	    cp->seed, 2, now_ms);
	sim_rng_seed(&ch->err_rng, cp->seed, 3);
	sim_rng_seed(&ch->csma_rng, cp->seed, 4);
	return ch;
}

void
sim_channel_free(struct sim_channel *ch)
{
	if (ch == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		buf_fini(&ch->s[i].txq);
		buf_fini(&ch->s[i].rx);
		free(ch->s[i].fly);
	}
	free(ch);
}

/* ---- helpers ------------------------------------------------------------ */

static size_t
txq_len(const struct side *s)
{
	return s->txq.len - s->txq_off;
}

static bool
in_outage(const struct sim_channel *ch, int64_t t)
{
	for (int i = 0; i < ch->p.n_outages; i++) {
		int64_t a = ch->epoch + ch->p.outages[i].start_ms;
		if (t >= a && t < a + ch->p.outages[i].dur_ms)
			return true;
	}
	return false;
}

static bool
signal_ok_at(struct sim_channel *ch, int64_t t)
{
	if (in_outage(ch, t))
		return false;
	return !proc_in(&ch->fade, t, &ch->st.fades);
}

/* Completion time of the next byte of side s's transmission. */
static int64_t
next_completion(const struct side *s)
{
	int64_t bits = s->bits + 8;
	return s->data_at + (bits * 1000 + s->rate_bps - 1) / s->rate_bps;
}

static void
fly_push(struct side *s, int64_t t, uint8_t b)
{
	if (s->fly_head + s->fly_len == s->fly_cap) {
		if (s->fly_head > 0) {
			memmove(s->fly, s->fly + s->fly_head,
			    s->fly_len * sizeof(*s->fly));
			s->fly_head = 0;
		} else {
			s->fly_cap = s->fly_cap ? s->fly_cap * 2 : 256;
			s->fly = xrealloc(s->fly, s->fly_cap * sizeof(*s->fly));
		}
	}
	s->fly[s->fly_head + s->fly_len].t = t;
	s->fly[s->fly_head + s->fly_len].byte = b;
	s->fly_len++;
}

static void
end_tx(struct sim_channel *ch, int si, int64_t t)
{
	struct side *s = &ch->s[si];
	struct side *o = &ch->s[1 - si];

	s->on_air = false;
	s->holding = false;
	ch->st.side[si].airtime_ms += t - s->keyed_at;
	if (!ch->p.full_duplex) {
		int64_t ready = t + ch->p.latency_ms + ch->p.turnaround_ms;
		if (o->ready_at < ready)
			o->ready_at = ready;
	}
	if (txq_len(s) == 0) {
		buf_reset(&s->txq);
		s->txq_off = 0;
	} else if (s->txq_off > 4096) {
		buf_consume(&s->txq, s->txq_off);
		s->txq_off = 0;
	}
}

/* The next byte would pass max_tx: unkey at t, and let the far side
 * answer first (the sender waits a turnaround). */
static void
cutoff(struct sim_channel *ch, int si, int64_t t)
{
	struct side *s = &ch->s[si];
	int64_t ready = t + (ch->p.full_duplex ? 0 :
	    ch->p.latency_ms + ch->p.turnaround_ms);

	ch->st.side[si].max_tx_cutoffs++;
	end_tx(ch, si, t);
	if (s->ready_at < ready)
		s->ready_at = ready;
	s->queued_at = t;
}

/* Data arrived while holding at now: continue the transmission, the
 * idle time counted as fill bits. */
static void
resume(struct sim_channel *ch, int si, int64_t now)
{
	struct side *s = &ch->s[si];
	int64_t idle = (now - s->data_at) * s->rate_bps / 1000;

	s->holding = false;
	if (idle > s->bits)
		s->bits = idle;
	if (ch->p.max_tx_ms > 0 && next_completion(s) - s->keyed_at >
	    ch->p.max_tx_ms)
		cutoff(ch, si, now);
}

/* One byte of side si finishes its airtime at t. */
static void
complete_byte(struct sim_channel *ch, int si, int64_t t)
{
	struct side *s = &ch->s[si];
	struct side *o = &ch->s[1 - si];
	struct sim_side_stats *rs = &ch->st.side[1 - si];
	uint8_t b = s->txq.data[s->txq_off++];

	s->bits += 8;
	ch->st.side[si].tx_bytes++;
	if (s->txq_off >= 65536 && s->txq_off >= txq_len(s)) {
		/* compact while transmitting (amortised: at most as many
		 * bytes move as were sent) */
		buf_consume(&s->txq, s->txq_off);
		s->txq_off = 0;
	}
	if (!signal_ok_at(ch, t)) {
		rs->rx_lost_bytes++;
	} else {
		double p = proc_in(&ch->burst, t, &ch->st.bursts) ?
		    ch->p.burst_ber : ch->p.ber;
		if (p > 0.0) {
			uint8_t flips = 0;
			for (int i = 0; i < 8; i++)
				if (sim_rng_chance(&ch->err_rng, p))
					flips |= (uint8_t)(1u << i);
			if (flips) {
				b ^= flips;
				rs->rx_errored_bytes++;
				rs->rx_bit_errors +=
				    (uint64_t)__builtin_popcount(flips);
			}
		}
		if (ch->p.latency_ms == 0) {
			buf_append_byte(&o->rx, b);
			rs->rx_bytes++;
		} else {
			fly_push(s, t + ch->p.latency_ms, b);
		}
	}
	if (txq_len(s) == 0) {
		if (ch->p.holdover_ms > 0) {
			s->holding = true;
			s->hold_until = t + ch->p.holdover_ms;
		} else {
			end_tx(ch, si, t);
		}
		return;
	}
	if (ch->p.max_tx_ms > 0 && next_completion(s) - s->keyed_at >
	    ch->p.max_tx_ms)
		cutoff(ch, si, t);
}

/* Can side si key up, and when? SIM_NEVER if not now. */
static int64_t
start_time(const struct sim_channel *ch, int si)
{
	const struct side *s = &ch->s[si];

	if (s->on_air || txq_len(s) == 0)
		return SIM_NEVER;
	if (!ch->p.full_duplex && ch->s[1 - si].on_air)
		return SIM_NEVER;
	return s->queued_at > s->ready_at ? s->queued_at : s->ready_at;
}

static void
start_tx(struct sim_channel *ch, int si, int64_t t)
{
	struct side *s = &ch->s[si];

	if (s->persist < 255 && ch->p.full_duplex == false &&
	    sim_rng_uniform(&ch->csma_rng) >= (s->persist + 1) / 256.0) {
		/* csma: lost the draw, try again one slot later */
		s->ready_at = t + (s->slot_ms > 0 ? s->slot_ms : 10);
		return;
	}
	if (!ch->p.full_duplex && ch->last_tx >= 0 && ch->last_tx != si)
		ch->st.turnarounds++;
	ch->last_tx = si;
	s->on_air = true;
	s->keyed_at = t;
	s->data_at = t + s->keyup_ms;
	s->bits = 0;
	s->holding = false;
	s->rate_bps = ch->rate_bps;
	ch->st.side[si].transmissions++;
}

int64_t
sim_channel_advance(struct sim_channel *ch, int64_t now_ms)
{
	for (;;) {
		int64_t best = SIM_NEVER;
		int kind = -1, who = -1;

		/* deliveries first, then completions, then key-ups */
		for (int i = 0; i < 2; i++) {
			struct side *s = &ch->s[i];
			if (s->fly_len && s->fly[s->fly_head].t < best) {
				best = s->fly[s->fly_head].t;
				kind = 0;
				who = i;
			}
		}
		for (int i = 0; i < 2; i++) {
			const struct side *s = &ch->s[i];
			int64_t t;
			if (!s->on_air)
				continue;
			t = s->holding ? s->hold_until : next_completion(s);
			if (t < best) {
				best = t;
				kind = s->holding ? 3 : 1;
				who = i;
			}
		}
		int first = ch->last_tx == 0 ? 1 : 0;
		for (int k = 0; k < 2; k++) {
			int i = k == 0 ? first : 1 - first;
			int64_t t = start_time(ch, i);
			if (t < best) {
				best = t;
				kind = 2;
				who = i;
			}
		}
		if (best > now_ms) {
			if (ch->now < now_ms)
				ch->now = now_ms;
			return best;
		}
		if (best > ch->now)
			ch->now = best;
		if (kind == 0) {
			struct side *s = &ch->s[who];
			buf_append_byte(&ch->s[1 - who].rx,
			    s->fly[s->fly_head].byte);
			ch->st.side[1 - who].rx_bytes++;
			s->fly_head++;
			if (--s->fly_len == 0)
				s->fly_head = 0;
		} else if (kind == 1) {
			complete_byte(ch, who, ch->now);
		} else if (kind == 3) {
			end_tx(ch, who, ch->now);
		} else {
			start_tx(ch, who, ch->now);
		}
	}
}

/* ---- the API ------------------------------------------------------------ */

size_t
sim_channel_tx_space(const struct sim_channel *ch, int side)
{
	size_t pend = txq_len(&ch->s[side]);

	if (ch->p.buffer_bytes <= 0)
		return SIZE_MAX;
	return pend >= (size_t)ch->p.buffer_bytes ? 0 :
	    (size_t)ch->p.buffer_bytes - pend;
}

size_t
sim_channel_tx_pending(const struct sim_channel *ch, int side)
{
	return txq_len(&ch->s[side]);
}

size_t
sim_channel_send(struct sim_channel *ch, int side, int64_t now_ms,
    const void *data, size_t n)
{
	struct side *s = &ch->s[side];
	size_t room;

	GW_REQUIRE(side == 0 || side == 1);
	sim_channel_advance(ch, now_ms);
	room = sim_channel_tx_space(ch, side);
	if (n > room) {
		ch->st.side[side].tx_refused += n - room;
		n = room;
	}
	if (n == 0)
		return 0;
	if (txq_len(s) == 0 && !s->on_air)
		s->queued_at = now_ms;
	buf_append(&s->txq, data, n);
	if (s->on_air && s->holding)
		resume(ch, side, now_ms);
	return n;
}

void
sim_channel_flush_tx(struct sim_channel *ch, int side)
{
	struct side *s = &ch->s[side];

	if (s->on_air) {
		/* the byte on the air is lost with the rest: unkey now */
		end_tx(ch, side, ch->now);
	}
	buf_reset(&s->txq);
	s->txq_off = 0;
	s->bits = 0;
}

size_t
sim_channel_recv(struct sim_channel *ch, int side, void *buf, size_t cap)
{
	struct buf *rx = &ch->s[side].rx;
	size_t n = rx->len < cap ? rx->len : cap;

	if (n == 0)
		return 0;
	memcpy(buf, rx->data, n);
	buf_consume(rx, n);
	return n;
}

size_t
sim_channel_rx_available(const struct sim_channel *ch, int side)
{
	return ch->s[side].rx.len;
}

bool
sim_channel_on_air(const struct sim_channel *ch, int side)
{
	return ch->s[side].on_air;
}

bool
sim_channel_signal_ok(struct sim_channel *ch, int64_t now_ms)
{
	return signal_ok_at(ch, now_ms);
}

int64_t
sim_channel_signal_next_change(struct sim_channel *ch, int64_t now_ms)
{
	int64_t best = SIM_NEVER;

	for (int i = 0; i < ch->p.n_outages; i++) {
		int64_t a = ch->epoch + ch->p.outages[i].start_ms;
		int64_t b = a + ch->p.outages[i].dur_ms;
		if (a > now_ms && a < best)
			best = a;
		if (b > now_ms && b < best)
			best = b;
	}
	proc_at(&ch->fade, now_ms, &ch->st.fades);
	if (ch->fade.start != SIM_NEVER) {
		int64_t f = ch->fade.start > now_ms ? ch->fade.start :
		    ch->fade.end;
		if (f < best)
			best = f;
	}
	return best;
}

bool
sim_channel_carrier(struct sim_channel *ch, int side, int64_t now_ms)
{
	return ch->s[1 - side].on_air && signal_ok_at(ch, now_ms);
}

void
sim_channel_set_keyup(struct sim_channel *ch, int side, int64_t ms)
{
	ch->s[side].keyup_ms = ms < 0 ? 0 : ms;
}

void
sim_channel_set_csma(struct sim_channel *ch, int side, int persist,
    int64_t slot_ms)
{
	ch->s[side].persist = persist < 0 ? 0 : persist > 255 ? 255 : persist;
	ch->s[side].slot_ms = slot_ms;
}

void
sim_channel_set_rate(struct sim_channel *ch, int64_t rate_bps)
{
	GW_REQUIRE(rate_bps > 0);
	ch->rate_bps = rate_bps; /* takes effect at the next key-up */
}

const struct sim_channel_stats *
sim_channel_stats(const struct sim_channel *ch)
{
	return &ch->st;
}

const struct sim_channel_params *
sim_channel_params(const struct sim_channel *ch)
{
	return &ch->p;
}
