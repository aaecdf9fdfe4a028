/*
 * link_session.c - the air link session: set-up, authentication, replay
 * protection, half-duplex turns / full-duplex streaming, ARQ, measurement.
 *
 * Owner: the link (gateway link object or a test harness); one thread.
 * Wire format and timers: docs/air-protocol.md. The public contract is in
 * link_session.h.
 *
 * Set-up state machine (link_enter_state performs every change):
 *
 *        link_open (initiator)          ACCEPT ok
 *   IDLE ---------------------> HELLO_SENT ----------> UP
 *    |                           |   |                  ^  |
 *    | link_open (responder)     |   | REJECT, bad       |  | CLOSE, link_reset
 *    v                           |   | ACCEPT, no answer |  v
 *   LISTEN --good HELLO (send ACCEPT)---------------------+ IDLE/LISTEN
 *    |  bad HELLO (send REJECT)   v
 *    +--------------------------> ERROR (reason; a responder keeps
 *                                  listening: a good HELLO still leads UP)
 *
 *   IDLE        nothing sent; no timers.
 *   HELLO_SENT  hello_tries >= 1; timer t_wait armed (answer deadline).
 *   LISTEN      waiting for HELLO; no timers.
 *   UP          keys derived (if keyed), ARQ windows live; exactly one of
 *               turn / waiting holds in half duplex (timer t_wait armed
 *               while waiting).
 *   ERROR       err < 0 and reason set; initiator sends nothing until
 *               link_open; responder answers HELLOs.
 *
 * Half-duplex turn control in UP (one holder at a time):
 *
 *   HOLD  --(nothing left, or burst budget spent)--> send SACK|TURN --> WAIT
 *   HOLD  --(nothing sent, owed or in flight)--> SACK|TURN|IDLE --> OPEN
 *   WAIT  --frame with TURN from peer--> HOLD
 *   WAIT  --TURN|IDLE from peer, nothing to send or owe--> OPEN
 *   OPEN  --data to send (link_poll)--> HOLD (break-in)
 *   OPEN  --a session frame from the peer--> WAIT (the peer broke in)
 *   WAIT  --t_wait passes (reply or gap timeout)--> HOLD as a probe: only
 *           a SACK|TURN goes out, whose answer tells what to resend
 *           (stats.timeouts); after dead_timeouts silent ones in a row
 *           the session is lost (initiator: HELLO again; responder: LISTEN)
 *
 * Frames are dispatched by link_frame_rules[] (type, states in which it is
 * acted on, whether it needs the session checks, handler).
 *
 * Every burst ends with exactly one SACK, which carries the TURN flag: the
 * receiver's single selective acknowledgement for everything it heard,
 * after its own DATA of the same turn.
 */
#include "link-drivers/link_session.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "link-drivers/link_arq.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SEEN_NONCES 16
#define GOODPUT_SAMPLE_BYTES 1024
#define EWMA(old, sample) ((old) ? ((old) * 3 + (sample)) / 4 : (sample))

struct link {
	struct link_config cfg;
	struct link_upper up;
	char identity[LINK_IDENTITY_MAX + 1];
	char peer_want[LINK_IDENTITY_MAX + 1];
	uint8_t key[LINK_KEY_BYTES];
	bool keyed;

	enum link_state st;
	int err;
	char reason[160];

	/* Session. */
	uint8_t nonce_i[LINK_NONCE_BYTES], nonce_r[LINK_NONCE_BYTES];
	uint8_t k_tx[LINK_KEY_BYTES], k_rx[LINK_KEY_BYTES];
	uint8_t version;
	uint16_t dict_id;
	uint32_t features;
	size_t frame_max; /* agreed wire frame size (min of both MTUs) */
	char peer_id[LINK_IDENTITY_MAX + 1];
	uint32_t fctr_tx;
	struct link_replay rwin;
	struct link_arq_tx atx;
	struct link_arq_rx arx;

	/* Pending control frames. */
	bool send_hello, send_accept, send_close;
	int send_reject; /* a LINK_REJ_* or 0 */
	char reject_text[64];
	uint32_t hello_tries;
	uint8_t seen[SEEN_NONCES][LINK_NONCE_BYTES];
	unsigned nseen;

	/* Turn control. */
	bool turn;          /* we may transmit */
	bool closing_burst; /* next frame is the SACK|TURN */
	size_t burst_bytes; /* wire bytes sent in this turn */
	int64_t tx_end_ms;  /* estimated end of our transmission */
	bool open;          /* idle link: no holder, either side may start */
	int64_t t_wait;     /* WAIT/HELLO_SENT deadline, INT64_MAX: none */
	bool heard_in_wait; /* a peer frame arrived since we handed over */
	int64_t handed_ms;  /* tx_end when we handed the turn over */
	int64_t burst_ms;   /* airtime allowed for our next burst */

	/* Full duplex. */
	int64_t t_ack;      /* send a SACK by then */
	uint32_t since_poll;

	uint32_t silent; /* consecutive timeouts without a valid frame */
	int64_t nosession_next; /* responder: next REJECT 5 allowed */
	bool probe;      /* after a timeout: hand the turn straight back */

	/* Measurement. Goodput is acknowledged bytes over the time data was
	 * outstanding (from the first new frame sent with nothing in flight,
	 * or the previous acknowledgement, whichever is later), summed until
	 * GOODPUT_SAMPLE_BYTES are behind it, so idle gaps and the few bytes
	 * of control records at session start do not count as a slow link. */
	int64_t last_sack_ms;
	int64_t busy_since_ms;  /* 0: nothing outstanding */
	uint64_t gp_bytes;      /* acknowledged, not yet in a sample */
	int64_t gp_ms;          /* outstanding time of gp_bytes */
	uint64_t data_frames;
	struct link_stats stats;
	struct buf tmp, rx;
};

const char *
link_state_name(enum link_state s)
{
	switch (s) {
#define LINK__ST_NAME(n, str) \
	case LINK_S_##n:      \
		return str;
		LINK_STATE_MAP(LINK__ST_NAME)
#undef LINK__ST_NAME
	}
	return "?";
}

static int64_t
airtime_ms(const struct link *l, size_t bytes)
{
	uint32_t rate = l->cfg.caps.rate_bps ? l->cfg.caps.rate_bps : 2400;
	return (int64_t)((bytes * 8000 + rate - 1) / rate);
}

static size_t
tag_bytes(const struct link *l)
{
	return l->keyed ? LINK_FRAME_TAG_BYTES : 0;
}

static int64_t
margin(const struct link *l)
{
	return l->cfg.margin_ms;
}

/* Airtime of one full frame: the unit of the gap timers. */
static int64_t
frame_air(const struct link *l)
{
	return airtime_ms(l, (l->frame_max ? l->frame_max :
	    l->cfg.caps.mtu_bytes) + l->cfg.frame_overhead_bytes);
}

static int64_t
gap_ms(const struct link *l)
{
	return 2 * frame_air(l) + (int64_t)l->cfg.caps.latency_ms + margin(l);
}

static bool
half_duplex(const struct link *l)
{
	return !l->cfg.caps.full_duplex;
}

/* Longest burst: the profile's max_tx (0: none; an hour stands for
 * unbounded). */
static int64_t
burst_max_ms(const struct link *l)
{
	return l->cfg.caps.max_tx_ms ? (int64_t)l->cfg.caps.max_tx_ms :
	    3600000;
}

/* The first burst of a session and the first after silence: two
 * turnarounds or two full frames, whichever is longer (never above
 * max_tx). A peer that restarted can answer only when our burst ends, so
 * this bounds the airtime sent into a session that no longer exists. */
static int64_t
burst_short_ms(const struct link *l)
{
	int64_t t = 2 * (int64_t)l->cfg.caps.turnaround_ms;
	if (t < 2 * frame_air(l))
		t = 2 * frame_air(l);
	return t < burst_max_ms(l) ? t : burst_max_ms(l);
}

/* The peer answered a burst: the next may be four times as long. The
 * first burst stays short (the bound above); an answer proves the peer
 * holds the session now, and quadrupling reaches max_tx in three answered
 * bursts instead of five, two direction changes fewer per batch
 * (docs/air-protocol.md s5, measured with bench/run airtime). */
static void
burst_grow(struct link *l)
{
	l->burst_ms = l->burst_ms > burst_max_ms(l) / 4 ? burst_max_ms(l) :
	    4 * l->burst_ms;
}

static void
link_enter_state(struct link *l, enum link_state st, int err,
    const char *reason)
{
	enum link_state old = l->st;
	l->st = st;
	l->err = err;
	if (st != LINK_S_UP && st != LINK_S_HELLO_SENT)
		l->t_wait = INT64_MAX; /* no timers outside set-up and UP */
	if (reason && reason != l->reason)
		snprintf(l->reason, sizeof(l->reason), "%s", reason);
	if (st == LINK_S_ERROR)
		GW_LOGW("link", "id=%s event=state old=%s new=%s err=%s "
		    "reason=\"%s\"", l->identity, link_state_name(old),
		    link_state_name(st), gw_errname(err), l->reason);
	else
		GW_LOGD("link", "id=%s event=state old=%s new=%s", l->identity,
		    link_state_name(old), link_state_name(st));
	if (l->up.state)
		l->up.state(l->up.arg, st, err, reason);
}

struct link *
link_new(const struct link_config *cfg, const struct link_upper *up)
{
	struct link *l = xcalloc(1, sizeof(*l));

	l->cfg = *cfg;
	l->up = *up;
	snprintf(l->identity, sizeof(l->identity), "%s",
	    cfg->identity ? cfg->identity : "");
	snprintf(l->peer_want, sizeof(l->peer_want), "%s",
	    cfg->peer ? cfg->peer : "");
	l->cfg.identity = l->identity;
	l->cfg.peer = NULL;
	if (cfg->key) {
		memcpy(l->key, cfg->key, LINK_KEY_BYTES);
		l->keyed = true;
	}
	l->cfg.key = NULL;
	if (!l->cfg.version_min)
		l->cfg.version_min = 1;
	if (!l->cfg.version_max)
		l->cfg.version_max = l->cfg.version_min;
	if (!l->cfg.setup_tries)
		l->cfg.setup_tries = 5;
	if (!l->cfg.window)
		l->cfg.window = 512;
	if (l->cfg.window > LINK_ARQ_MAX_WINDOW)
		l->cfg.window = LINK_ARQ_MAX_WINDOW;
	if (!l->cfg.margin_ms)
		l->cfg.margin_ms = 1000;
	if (!l->cfg.dead_timeouts)
		l->cfg.dead_timeouts = 4;
	if (l->cfg.caps.mtu_bytes < 64)
		l->cfg.caps.mtu_bytes = 64;
	if (l->cfg.caps.mtu_bytes > LINK_FRAME_MAX_PAYLOAD)
		l->cfg.caps.mtu_bytes = LINK_FRAME_MAX_PAYLOAD;
	if (!l->cfg.caps.rate_bps)
		l->cfg.caps.rate_bps = 2400;
	link_arq_tx_init(&l->atx, l->cfg.window);
	link_arq_rx_init(&l->arx, l->cfg.window);
	l->t_wait = INT64_MAX;
	l->t_ack = INT64_MAX;
	l->st = LINK_S_IDLE;
	return l;
}

void
link_free(struct link *l)
{
	if (!l)
		return;
	link_arq_tx_fini(&l->atx);
	link_arq_rx_fini(&l->arx);
	buf_fini(&l->tmp);
	buf_fini(&l->rx);
	sodium_memzero(l->key, sizeof(l->key));
	sodium_memzero(l->k_tx, sizeof(l->k_tx));
	sodium_memzero(l->k_rx, sizeof(l->k_rx));
	free(l);
}

static void
rnd(struct link *l, uint8_t *p, size_t n)
{
	if (l->cfg.random)
		l->cfg.random(l->cfg.random_arg, p, n);
	else
		randombytes_buf(p, n);
}

static void
session_reset(struct link *l)
{
	link_arq_tx_reset(&l->atx);
	link_arq_rx_reset(&l->arx);
	link_replay_init(&l->rwin);
	l->busy_since_ms = 0;
	l->gp_bytes = 0;
	l->gp_ms = 0;
	l->fctr_tx = 0;
	l->turn = false;
	l->closing_burst = false;
	l->burst_bytes = 0;
	l->t_wait = INT64_MAX;
	l->t_ack = INT64_MAX;
	l->heard_in_wait = false;
	l->send_accept = false;
	l->since_poll = 0;
	l->silent = 0;
	l->open = false;
	l->burst_ms = burst_short_ms(l);
}

int
link_open(struct link *l, int64_t now_ms)
{
	if (l->st == LINK_S_UP || l->st == LINK_S_HELLO_SENT)
		return GW_ESTATE;
	session_reset(l);
	l->tx_end_ms = now_ms;
	if (l->cfg.initiator) {
		rnd(l, l->nonce_i, sizeof(l->nonce_i));
		l->hello_tries = 0;
		l->send_hello = true;
		l->reason[0] = '\0';
		link_enter_state(l, LINK_S_HELLO_SENT, 0, NULL);
	} else {
		link_enter_state(l, LINK_S_LISTEN, 0, NULL);
	}
	return 0;
}

void
link_reset(struct link *l, int64_t now_ms, const char *reason)
{
	(void)now_ms;
	bool was_up = l->st == LINK_S_UP;
	session_reset(l);
	l->send_hello = false;
	l->send_reject = 0;
	l->send_close = false;
	if (was_up || l->st == LINK_S_HELLO_SENT || l->st == LINK_S_LISTEN) {
		snprintf(l->reason, sizeof(l->reason), "%s",
		    reason ? reason : "reset");
		link_enter_state(l, LINK_S_IDLE, GW_ECLOSED, l->reason);
	}
}

void
link_close(struct link *l, int64_t now_ms, const char *reason)
{
	if (l->st == LINK_S_UP) {
		l->send_close = true;
		snprintf(l->reason, sizeof(l->reason), "%s",
		    reason ? reason : "closed");
		return;
	}
	link_reset(l, now_ms, reason);
}

/*
 * Output.
 */

/* Encode a frame into out and account for it. */
static void
emit(struct link *l, int64_t now, struct buf *out, uint8_t type,
    uint8_t flags, uint16_t seq, const uint8_t *p, size_t n,
    const uint8_t *key)
{
	struct link_frame f = { .type = type, .flags = flags,
		.fctr = ++l->fctr_tx, .seq = seq, .payload = p, .len = n };
	size_t wire = link_frame_wire_bytes(n, key != NULL);
	size_t air = wire + l->cfg.frame_overhead_bytes;

	buf_reset(out);
	buf_reserve(out, wire);
	size_t got = link_frame_encode(&f, key, out->data, wire);
	GW_REQUIRE(got == wire);
	out->len = got;
	out->data[got] = '\0';

	int64_t start = now > l->tx_end_ms ? now : l->tx_end_ms;
	if (half_duplex(l) && l->burst_bytes == 0 && type != LINK_FT_HELLO)
		start += l->cfg.caps.turnaround_ms;
	l->tx_end_ms = start + airtime_ms(l, air);
	l->burst_bytes += air;
	l->stats.frames_out++;
	l->stats.wire_bytes_out += wire;
}

static void
put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n > 255)
		n = 255;
	buf_append_byte(b, (uint8_t)n);
	buf_append(b, s, n);
}

static void
put16(struct buf *b, uint32_t v)
{
	buf_append_byte(b, (uint8_t)(v >> 8));
	buf_append_byte(b, (uint8_t)v);
}

static void
put32(struct buf *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b, v & 0xffff);
}

static void
hello_key(const struct link *l, uint8_t out[LINK_KEY_BYTES])
{
	link_kdf(out, l->key, "skywave hello", NULL, 0, NULL, 0);
}

static void
derive_keys(struct link *l)
{
	uint8_t i2r[LINK_KEY_BYTES], r2i[LINK_KEY_BYTES];
	if (!l->keyed)
		return;
	link_kdf(i2r, l->key, "skywave i2r", l->nonce_i, LINK_NONCE_BYTES,
	    l->nonce_r, LINK_NONCE_BYTES);
	link_kdf(r2i, l->key, "skywave r2i", l->nonce_i, LINK_NONCE_BYTES,
	    l->nonce_r, LINK_NONCE_BYTES);
	memcpy(l->k_tx, l->cfg.initiator ? i2r : r2i, LINK_KEY_BYTES);
	memcpy(l->k_rx, l->cfg.initiator ? r2i : i2r, LINK_KEY_BYTES);
	sodium_memzero(i2r, sizeof(i2r));
	sodium_memzero(r2i, sizeof(r2i));
}

static const uint8_t *
txkey(const struct link *l)
{
	return l->keyed ? l->k_tx : NULL;
}

size_t
link_payload_max(const struct link *l)
{
	size_t fm = l->frame_max ? l->frame_max : l->cfg.caps.mtu_bytes;
	return fm - LINK_FRAME_HDR_BYTES - LINK_FRAME_CRC_BYTES - tag_bytes(l);
}

static void
arm_wait_after_turn(struct link *l)
{
	/* The peer's first frame must start within turnaround + latency; a
	 * peer that lost our TURN frame takes the turn after its gap timer,
	 * so wait longer than that gap plus one frame (docs s5). */
	int64_t ta = l->cfg.caps.turnaround_ms;
	if ((int64_t)l->stats.turnaround_ms > ta)
		ta = l->stats.turnaround_ms; /* measured slower */
	l->handed_ms = l->tx_end_ms;
	l->heard_in_wait = false;
	l->t_wait = l->tx_end_ms + ta +
	    2 * (int64_t)l->cfg.caps.latency_ms + gap_ms(l) + frame_air(l) +
	    margin(l);
}

static int
poll_setup(struct link *l, int64_t now, struct buf *out)
{
	if (l->send_reject) {
		buf_reset(&l->tmp);
		buf_append_byte(&l->tmp, (uint8_t)l->send_reject);
		buf_append_byte(&l->tmp, l->cfg.version_min);
		buf_append_byte(&l->tmp, l->cfg.version_max);
		put_str(&l->tmp, l->reject_text);
		l->send_reject = 0;
		l->burst_bytes = 0;
		emit(l, now, out, LINK_FT_REJECT, LINK_FL_TURN, 0,
		    l->tmp.data, l->tmp.len, NULL);
		l->fctr_tx = 0;
		l->burst_bytes = 0;
		return 1;
	}
	if (l->st == LINK_S_HELLO_SENT && l->send_hello) {
		uint8_t hk[LINK_KEY_BYTES];
		buf_reset(&l->tmp);
		buf_append_byte(&l->tmp, l->cfg.version_min);
		buf_append_byte(&l->tmp, l->cfg.version_max);
		put16(&l->tmp, l->cfg.caps.mtu_bytes);
		put16(&l->tmp, l->cfg.dict_id);
		put32(&l->tmp, l->cfg.features);
		buf_append(&l->tmp, l->nonce_i, LINK_NONCE_BYTES);
		put_str(&l->tmp, l->identity);
		if (l->keyed)
			hello_key(l, hk);
		l->fctr_tx = 0;
		l->burst_bytes = 0;
		emit(l, now, out, LINK_FT_HELLO, LINK_FL_TURN, 0, l->tmp.data,
		    l->tmp.len, l->keyed ? hk : NULL);
		sodium_memzero(hk, sizeof(hk));
		l->fctr_tx = 0;
		l->burst_bytes = 0;
		l->send_hello = false;
		l->hello_tries++;
		l->t_wait = l->tx_end_ms + l->cfg.caps.turnaround_ms +
		    2 * (int64_t)l->cfg.caps.latency_ms + frame_air(l) +
		    2 * margin(l);
		return 1;
	}
	return 0;
}

static void
emit_sack(struct link *l, int64_t now, struct buf *out, uint8_t flags)
{
	buf_reset(&l->tmp);
	link_arq_rx_sack(&l->arx, &l->tmp);
	l->arx.ack_owed = false;
	l->t_ack = INT64_MAX;
	emit(l, now, out, LINK_FT_SACK, flags, 0, l->tmp.data, l->tmp.len,
	    txkey(l));
}

/* One DATA frame: a retransmission first, else fresh upper-layer bytes.
 * room_wire bounds the frame's wire size. Returns 1 if a frame was made. */
static int
emit_data(struct link *l, int64_t now, struct buf *out, size_t room_wire,
    uint8_t flags)
{
	size_t over = link_frame_wire_bytes(0, l->keyed);
	uint16_t seq;

	if (room_wire <= over)
		return 0;
	if (link_arq_tx_next_lost(&l->atx, &seq)) {
		struct link_arq_slot *s = link_arq_tx_slot(&l->atx, seq);
		if (s->data.len + over > room_wire)
			return 0;
		if (s->tries) {
			l->stats.retransmits++;
			l->stats.retx_bytes += s->data.len + over;
		}
		s->tries++;
		buf_swap(&l->rx, &s->data); /* borrow without copying */
		emit(l, now, out, LINK_FT_DATA, flags, seq, l->rx.data,
		    l->rx.len, txkey(l));
		buf_swap(&l->rx, &s->data);
		s->state = LINK_ARQ_SENT;
		s->sent_ms = l->tx_end_ms;
		l->data_frames++;
		return 1;
	}
	if (link_arq_tx_full(&l->atx) || !l->up.pull)
		return 0;
	size_t room = room_wire - over;
	if (room > link_payload_max(l))
		room = link_payload_max(l);
	buf_reset(&l->tmp);
	buf_reserve(&l->tmp, room);
	size_t n = l->up.pull(l->up.arg, l->tmp.data, room);
	if (n == 0)
		return 0;
	GW_REQUIRE(n <= room);
	l->stats.stream_bytes_out += n;
	if (link_arq_tx_inflight(&l->atx) == 0 || l->busy_since_ms == 0)
		l->busy_since_ms = now > 0 ? now : 1;
	seq = link_arq_tx_push(&l->atx, l->tmp.data, n, now);
	struct link_arq_slot *s = link_arq_tx_slot(&l->atx, seq);
	s->tries = 1;
	emit(l, now, out, LINK_FT_DATA, flags, seq, s->data.data, s->data.len,
	    txkey(l));
	s->state = LINK_ARQ_SENT;
	s->sent_ms = l->tx_end_ms;
	l->data_frames++;
	return 1;
}

static bool
has_lost(const struct link *l)
{
	uint16_t seq;
	return link_arq_tx_next_lost(&l->atx, &seq);
}

static void take_turn(struct link *l, int64_t now);

/* Nothing to send, to acknowledge or to wait for. */
static bool
quiet(const struct link *l)
{
	return !l->arx.ack_owed && link_arq_tx_inflight(&l->atx) == 0 &&
	    !(l->up.pending && l->up.pending(l->up.arg));
}

static int
poll_half(struct link *l, int64_t now, struct buf *out)
{
	if (l->open && !quiet(l)) {
		/* break in on an idle link: after silence, start short */
		take_turn(l, now);
		l->burst_ms = burst_short_ms(l);
	}
	if (!l->turn)
		return 0;
	/* The burst allowance (slow start, below), 2 % below max_tx: the
	 * modem's own pauses and framing we were not told about must not
	 * make it cut the burst. */
	uint32_t rate = l->cfg.caps.rate_bps ? l->cfg.caps.rate_bps : 2400;
	size_t budget = (size_t)((uint64_t)l->burst_ms * rate / 8000 *
	    49 / 50);
	size_t sack_reserve = link_frame_wire_bytes(3 + l->cfg.window / 8,
	    l->keyed) + l->cfg.frame_overhead_bytes;

	if (l->probe) {
		l->probe = false;
		l->closing_burst = true;
	}
	if (!l->closing_burst) {
		size_t used = l->burst_bytes + sack_reserve;
		size_t room = budget > used ? budget - used : 0;
		room = room > l->cfg.frame_overhead_bytes ?
		    room - l->cfg.frame_overhead_bytes : 0;
		if (room > l->frame_max)
			room = l->frame_max;
		if (emit_data(l, now, out, room, 0))
			return 1;
		/* A lost frame that emit_data did not resend is one the
		 * budget left has no room for: it goes in the next burst. */
		bool more = !has_lost(l) &&
		    l->up.pending && l->up.pending(l->up.arg) &&
		    !link_arq_tx_full(&l->atx);
		bool budget_left = budget > used + link_frame_wire_bytes(64,
		    l->keyed);
		if (more && budget_left)
			return 0; /* waiting for the upper layer, keep turn */
		bool worth = l->burst_bytes > 0 || l->arx.ack_owed ||
		    link_arq_tx_inflight(&l->atx) > 0 || more;
		if (!worth) {
			/* Nothing at all: say so and let the link go idle;
			 * whoever has data first starts the next burst. */
			emit_sack(l, now, out, LINK_FL_TURN | LINK_FL_IDLE);
			l->turn = false;
			l->open = true;
			l->burst_bytes = 0;
			l->t_wait = INT64_MAX;
			l->stats.turns++;
			return 1;
		}
		l->closing_burst = true;
	}
	emit_sack(l, now, out, LINK_FL_TURN);
	l->closing_burst = false;
	l->turn = false;
	l->burst_bytes = 0;
	l->stats.turns++;
	arm_wait_after_turn(l);
	return 1;
}

static int
poll_full(struct link *l, int64_t now, struct buf *out)
{
	if (l->arx.ack_owed && now >= l->t_ack) {
		emit_sack(l, now, out, 0);
		return 1;
	}
	bool last = false;
	uint8_t flags = 0;
	if (++l->since_poll >= l->cfg.window / 4 ||
	    !(l->up.pending && l->up.pending(l->up.arg)))
		last = true;
	if (last)
		flags |= LINK_FL_POLL;
	if (emit_data(l, now, out, l->frame_max, flags)) {
		if (last)
			l->since_poll = 0;
		return 1;
	}
	l->since_poll--;
	return 0;
}

int
link_poll(struct link *l, int64_t now_ms, struct buf *out)
{
	buf_reset(out);
	if (poll_setup(l, now_ms, out))
		return 1;
	if (l->st != LINK_S_UP)
		return 0;
	if (l->send_accept) {
		buf_reset(&l->tmp);
		buf_append_byte(&l->tmp, l->version);
		put16(&l->tmp, (uint32_t)l->frame_max);
		put16(&l->tmp, l->dict_id);
		put32(&l->tmp, l->features);
		buf_append(&l->tmp, l->nonce_i, LINK_NONCE_BYTES);
		buf_append(&l->tmp, l->nonce_r, LINK_NONCE_BYTES);
		put_str(&l->tmp, l->identity);
		l->send_accept = false;
		emit(l, now_ms, out, LINK_FT_ACCEPT, 0, 0, l->tmp.data,
		    l->tmp.len, txkey(l));
		return 1;
	}
	if (l->send_close) {
		buf_reset(&l->tmp);
		put_str(&l->tmp, l->reason);
		emit(l, now_ms, out, LINK_FT_CLOSE, LINK_FL_TURN, 0,
		    l->tmp.data, l->tmp.len, txkey(l));
		l->send_close = false;
		char why[160];
		snprintf(why, sizeof(why), "%s", l->reason);
		session_reset(l);
		link_enter_state(l, LINK_S_IDLE, GW_ECLOSED, why);
		return 1;
	}
	return half_duplex(l) ? poll_half(l, now_ms, out) :
	    poll_full(l, now_ms, out);
}

/*
 * Timers.
 */

int64_t
link_next_deadline_ms(const struct link *l)
{
	int64_t t = l->t_wait;
	if (l->st == LINK_S_UP && !half_duplex(l)) {
		if (l->t_ack < t)
			t = l->t_ack;
		if (link_arq_tx_inflight(&l->atx)) {
			int64_t rto = 2 * frame_air(l) +
			    2 * (int64_t)l->cfg.caps.latency_ms + margin(l) +
			    2 * (int64_t)l->stats.rtt_ms;
			int64_t oldest = INT64_MAX;
			for (uint16_t s = l->atx.una; s != l->atx.next; s++) {
				const struct link_arq_slot *sl =
				    &l->atx.slot[s % l->atx.window];
				if (sl->state == LINK_ARQ_SENT &&
				    sl->sent_ms < oldest)
					oldest = sl->sent_ms;
			}
			if (oldest != INT64_MAX && oldest + rto < t)
				t = oldest + rto;
		}
	}
	return t;
}

static void
take_turn(struct link *l, int64_t now)
{
	l->turn = true;
	l->open = false;
	l->closing_burst = false;
	l->burst_bytes = 0;
	l->t_wait = INT64_MAX;
}

/* The peer has been silent too long, or says it has no session: drop
 * ours; the initiator sets up again at once, the responder listens. */
static void
session_lost(struct link *l, int64_t now)
{
	l->stats.sessions_lost++;
	if (l->silent >= l->cfg.dead_timeouts)
		snprintf(l->reason, sizeof(l->reason),
		    "peer silent after %u timeouts", l->cfg.dead_timeouts);
	else
		snprintf(l->reason, sizeof(l->reason),
		    "peer has no session (it restarted)");
	session_reset(l);
	GW_LOGW("link", "id=%s event=session-lost reason=\"%s\"",
	    l->identity, l->reason);
	l->tx_end_ms = now;
	if (l->cfg.initiator) {
		rnd(l, l->nonce_i, sizeof(l->nonce_i));
		l->hello_tries = 0;
		l->send_hello = true;
		link_enter_state(l, LINK_S_HELLO_SENT, GW_ETIMEDOUT, l->reason);
	} else {
		link_enter_state(l, LINK_S_LISTEN, GW_ETIMEDOUT, l->reason);
	}
}

void
link_tick(struct link *l, int64_t now_ms)
{
	if (l->st == LINK_S_HELLO_SENT && now_ms >= l->t_wait) {
		l->t_wait = INT64_MAX;
		if (l->hello_tries >= l->cfg.setup_tries) {
			snprintf(l->reason, sizeof(l->reason),
			    "no answer from peer after %u hellos",
			    l->hello_tries);
			link_enter_state(l, LINK_S_ERROR, GW_ETIMEDOUT,
			    l->reason);
			return;
		}
		l->send_hello = true;
		l->stats.timeouts++;
		return;
	}
	if (l->st != LINK_S_UP)
		return;
	if (half_duplex(l)) {
		if (!l->turn && now_ms >= l->t_wait) {
			/* The peer's reply (or the end of its burst) never
			 * came: take the turn back and resend. */
			l->stats.timeouts++;
			if (++l->silent >= l->cfg.dead_timeouts) {
				session_lost(l, now_ms);
				return;
			}
			/* Do not resend a whole burst into silence: ask for
			 * the peer's SACK first (a SACK|TURN of our own),
			 * and start short again. */
			take_turn(l, now_ms);
			l->probe = true;
			l->burst_ms = burst_short_ms(l);
		}
		return;
	}
	if (link_arq_tx_inflight(&l->atx)) {
		int64_t rto = 2 * frame_air(l) +
		    2 * (int64_t)l->cfg.caps.latency_ms + margin(l) +
		    2 * (int64_t)l->stats.rtt_ms;
		if (link_arq_tx_expire(&l->atx, now_ms - rto)) {
			l->stats.timeouts++;
			if (++l->silent >= l->cfg.dead_timeouts)
				session_lost(l, now_ms);
		}
	}
}

/*
 * Input.
 */

struct rd {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static uint8_t
rd8(struct rd *r)
{
	if (r->n < 1) {
		r->bad = true;
		return 0;
	}
	r->n--;
	return *r->p++;
}

static uint32_t
rd16(struct rd *r)
{
	uint32_t v = (uint32_t)rd8(r) << 8;
	return v | rd8(r);
}

static uint32_t
rd32(struct rd *r)
{
	uint32_t v = rd16(r) << 16;
	return v | rd16(r);
}

static void
rdbytes(struct rd *r, uint8_t *out, size_t n)
{
	if (r->n < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->n -= n;
}

static void
rdstr(struct rd *r, char *out, size_t cap)
{
	size_t n = rd8(r);
	if (r->bad || r->n < n || n + 1 > cap) {
		r->bad = true;
		out[0] = '\0';
		return;
	}
	memcpy(out, r->p, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			r->bad = true;
	r->p += n;
	r->n -= n;
}

static void
reject(struct link *l, int why, const char *text)
{
	if (l->st == LINK_S_UP)
		return; /* a live session is not torn down by a bad hello */
	l->send_reject = why;
	snprintf(l->reject_text, sizeof(l->reject_text), "%s", text);
	snprintf(l->reason, sizeof(l->reason), "rejected peer hello: %s",
	    text);
	link_enter_state(l, LINK_S_ERROR,
	    why == LINK_REJ_VERSION ? GW_EVERSION :
	    why == LINK_REJ_PROTO ? GW_EPROTO : GW_EAUTH, l->reason);
}

static bool
nonce_seen(const struct link *l, const uint8_t *n)
{
	for (unsigned i = 0; i < l->nseen && i < SEEN_NONCES; i++)
		if (memcmp(l->seen[i], n, LINK_NONCE_BYTES) == 0)
			return true;
	return false;
}

static void
on_hello(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	struct rd r = { f->payload, f->len, false };
	uint8_t vmin = rd8(&r), vmax = rd8(&r);
	uint32_t mtu = rd16(&r), dict = rd16(&r), feat = rd32(&r);
	uint8_t nonce[LINK_NONCE_BYTES];
	char id[LINK_IDENTITY_MAX + 1];

	rdbytes(&r, nonce, sizeof(nonce));
	rdstr(&r, id, sizeof(id));
	if (l->cfg.initiator) {
		l->stats.drop_state++;
		return;
	}
	if (r.bad || r.n != 0 || mtu < 64) {
		l->stats.drop_proto++;
		return;
	}
	/* Key check before anything else is believed. */
	bool tagged = (f->flags & LINK_FL_TAG) != 0;
	if (l->keyed && tagged) {
		uint8_t hk[LINK_KEY_BYTES];
		hello_key(l, hk);
		int rc = link_frame_verify(p, n, f, hk);
		sodium_memzero(hk, sizeof(hk));
		if (rc < 0) {
			l->stats.drop_auth++;
			reject(l, LINK_REJ_KEY, "link key mismatch");
			return;
		}
	} else if (l->keyed != tagged) {
		l->stats.drop_auth++;
		reject(l, LINK_REJ_NOKEY, l->keyed ?
		    "peer has no link key" : "no link key configured here");
		return;
	}
	bool same = l->st == LINK_S_UP &&
	    memcmp(nonce, l->nonce_i, LINK_NONCE_BYTES) == 0;
	if (same && l->rwin.top > 0) {
		/* The initiator has spoken in this session, so it had our
		 * ACCEPT: this HELLO is a replay. */
		l->stats.drop_replay++;
		return;
	}
	if (!same && nonce_seen(l, nonce)) {
		l->stats.drop_replay++;
		return;
	}
	/* (same && nothing heard yet: our ACCEPT was lost; accept again
	 * with a fresh responder nonce, which starts a fresh session.) */
	if (vmax < l->cfg.version_min || vmin > l->cfg.version_max ||
	    vmin > vmax) {
		reject(l, LINK_REJ_VERSION, "no common protocol version");
		return;
	}
	if (l->peer_want[0] && strcmp(l->peer_want, id) != 0) {
		reject(l, LINK_REJ_PROTO, "unexpected peer identity");
		return;
	}
	if (!same) {
		memcpy(l->seen[l->nseen % SEEN_NONCES], nonce,
		    LINK_NONCE_BYTES);
		l->nseen++;
	}
	bool was_up = l->st == LINK_S_UP;
	session_reset(l);
	memcpy(l->nonce_i, nonce, LINK_NONCE_BYTES);
	rnd(l, l->nonce_r, LINK_NONCE_BYTES);
	derive_keys(l);
	l->version = vmax < l->cfg.version_max ? vmax : l->cfg.version_max;
	l->frame_max = mtu < l->cfg.caps.mtu_bytes ? mtu :
	    l->cfg.caps.mtu_bytes;
	l->features = feat & l->cfg.features;
	l->dict_id = dict == l->cfg.dict_id ? l->cfg.dict_id : 0;
	if (!l->dict_id)
		l->features &= ~(uint32_t)LINK_FEAT_DICT;
	snprintf(l->peer_id, sizeof(l->peer_id), "%s", id);
	l->send_accept = true;
	take_turn(l, now);
	l->stats.sessions++;
	if (was_up)
		GW_LOGI("link", "id=%s event=restart peer=%s", l->identity,
		    id);
	GW_LOGI("link", "id=%s event=up peer=%s version=%u frame=%zu dict=%u "
	    "features=%#x keyed=%d", l->identity, id, l->version, l->frame_max,
	    l->dict_id, l->features, l->keyed);
	l->reason[0] = '\0';
	link_enter_state(l, LINK_S_UP, 0, NULL);
}

static void
on_accept(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	struct rd r = { f->payload, f->len, false };
	uint8_t ver = rd8(&r);
	uint32_t fmax = rd16(&r), dict = rd16(&r), feat = rd32(&r);
	uint8_t echo[LINK_NONCE_BYTES];
	char id[LINK_IDENTITY_MAX + 1];

	if (l->st != LINK_S_HELLO_SENT) {
		l->stats.drop_state++;
		return;
	}
	rdbytes(&r, echo, sizeof(echo));
	rdbytes(&r, l->nonce_r, LINK_NONCE_BYTES);
	rdstr(&r, id, sizeof(id));
	if (r.bad || r.n != 0 || fmax < 64 ||
	    fmax > l->cfg.caps.mtu_bytes) {
		l->stats.drop_proto++;
		return;
	}
	if (memcmp(echo, l->nonce_i, LINK_NONCE_BYTES) != 0) {
		l->stats.drop_replay++; /* an answer to another hello */
		return;
	}
	bool tagged = (f->flags & LINK_FL_TAG) != 0;
	if (l->keyed != tagged) {
		l->stats.drop_auth++;
		link_enter_state(l, LINK_S_ERROR, GW_EAUTH,
		    "peer accepted without a link key");
		return;
	}
	derive_keys(l);
	if (l->keyed && link_frame_verify(p, n, f, l->k_rx) < 0) {
		l->stats.drop_auth++;
		return; /* forged accept: keep waiting for the real one */
	}
	if (ver < l->cfg.version_min || ver > l->cfg.version_max) {
		link_enter_state(l, LINK_S_ERROR, GW_EVERSION,
		    "peer chose an unsupported version");
		return;
	}
	if (l->peer_want[0] && strcmp(l->peer_want, id) != 0) {
		link_enter_state(l, LINK_S_ERROR, GW_EPROTO,
		    "unexpected peer identity");
		return;
	}
	link_replay_init(&l->rwin);
	link_replay_commit(&l->rwin, f->fctr);
	l->version = ver;
	l->frame_max = fmax;
	l->dict_id = (uint16_t)dict;
	l->features = feat & l->cfg.features;
	snprintf(l->peer_id, sizeof(l->peer_id), "%s", id);
	l->turn = false;
	l->t_wait = now + gap_ms(l);
	l->heard_in_wait = true;
	l->stats.sessions++;
	GW_LOGI("link", "id=%s event=up peer=%s version=%u frame=%zu dict=%u "
	    "features=%#x keyed=%d", l->identity, id, l->version, l->frame_max,
	    l->dict_id, l->features, l->keyed);
	l->reason[0] = '\0';
	link_enter_state(l, LINK_S_UP, 0, NULL);
}

static void session_lost(struct link *l, int64_t now);

static void
on_reject(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	(void)p;
	(void)n;
	struct rd r = { f->payload, f->len, false };
	uint8_t why = rd8(&r), vmin = rd8(&r), vmax = rd8(&r);
	char text[64];
	rdstr(&r, text, sizeof(text));
	(void)text;
	if (l->st == LINK_S_UP && !r.bad && why == LINK_REJ_NOSESSION &&
	    l->cfg.initiator && (half_duplex(l) ? !l->turn &&
	    !l->heard_in_wait : l->silent > 0)) {
		/* The responder lost our session (it restarted) and nothing
		 * valid came from it since: set up again now rather than
		 * after dead_timeouts. Unauthenticated, so it is believed
		 * only while the peer is silent anyway. */
		session_lost(l, now);
		return;
	}
	if (l->st != LINK_S_HELLO_SENT || r.bad ||
	    why == LINK_REJ_NOSESSION) {
		l->stats.drop_state++;
		return;
	}
	char msg[160];
	int err = GW_EPROTO;
	switch (why) {
	case LINK_REJ_VERSION:
		snprintf(msg, sizeof(msg), "peer speaks protocol versions "
		    "%u..%u, we speak %u..%u", vmin, vmax,
		    l->cfg.version_min, l->cfg.version_max);
		err = GW_EVERSION;
		break;
	case LINK_REJ_KEY:
		snprintf(msg, sizeof(msg), "peer rejected our link key "
		    "(key mismatch)");
		err = GW_EAUTH;
		break;
	case LINK_REJ_NOKEY:
		snprintf(msg, sizeof(msg), "link key configured on one side "
		    "only");
		err = GW_EAUTH;
		break;
	default:
		snprintf(msg, sizeof(msg), "peer rejected set-up (reason %u)",
		    why);
	}
	l->t_wait = INT64_MAX;
	link_enter_state(l, LINK_S_ERROR, err, msg);
}

static void
on_sack(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	(void)p;
	(void)n;
	uint16_t next;
	const uint8_t *bm;
	size_t nb;
	if (link_arq_sack_decode(f->payload, f->len, &next, &bm, &nb) < 0) {
		l->stats.drop_proto++;
		return;
	}
	bool all_heard = half_duplex(l) && !l->turn &&
	    (f->flags & LINK_FL_TURN);
	size_t acked = link_arq_tx_sack(&l->atx, next, bm, nb, all_heard);
	l->stats.acked_bytes = l->atx.acked_bytes;
	if (acked) {
		int64_t from = l->last_sack_ms > l->busy_since_ms ?
		    l->last_sack_ms : l->busy_since_ms;
		if (from > 0 && now > from) {
			l->gp_bytes += acked;
			l->gp_ms += now - from;
		}
		if (l->gp_bytes >= GOODPUT_SAMPLE_BYTES && l->gp_ms > 0) {
			uint64_t bps = l->gp_bytes * 8000 / (uint64_t)l->gp_ms;
			l->stats.goodput_bps = (uint32_t)EWMA(
			    (uint64_t)l->stats.goodput_bps, bps);
			l->gp_bytes = 0;
			l->gp_ms = 0;
		}
		int64_t rtt = half_duplex(l) ? now - l->handed_ms : 0;
		if (rtt > 0)
			l->stats.rtt_ms = (uint32_t)EWMA(
			    (int64_t)l->stats.rtt_ms, rtt);
	}
	l->last_sack_ms = now;
	if (link_arq_tx_inflight(&l->atx) == 0)
		l->busy_since_ms = 0;
	if (l->data_frames)
		l->stats.retrans_permille = (uint32_t)(l->stats.retransmits *
		    1000 / l->data_frames);
}

static void
deliver_ready(struct link *l)
{
	while (link_arq_rx_take(&l->arx, &l->rx)) {
		l->stats.stream_bytes_in += l->rx.len;
		if (l->up.deliver && l->rx.len)
			l->up.deliver(l->up.arg, l->rx.data, l->rx.len);
	}
}

static void
on_data(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	(void)p;
	(void)n;
	int rc = link_arq_rx_put(&l->arx, f->seq, f->payload, f->len);
	if (rc == 0)
		l->stats.dup_frames++;
	else if (rc < 0)
		l->stats.drop_proto++;
	deliver_ready(l);
	if (!half_duplex(l)) {
		if (f->flags & LINK_FL_POLL)
			l->t_ack = now;
		else if (l->t_ack == INT64_MAX)
			l->t_ack = now + margin(l) / 4 + 2 * frame_air(l);
	}
}

static void
on_close(struct link *l, int64_t now, const uint8_t *p, size_t n,
    const struct link_frame *f)
{
	struct rd r = { f->payload, f->len, false };
	char text[LINK_IDENTITY_MAX + 1];
	(void)now;
	(void)p;
	(void)n;
	rdstr(&r, text, sizeof(text));
	session_reset(l);
	snprintf(l->reason, sizeof(l->reason), "peer closed the session: %s",
	    r.bad ? "?" : text);
	link_enter_state(l, l->cfg.initiator ? LINK_S_IDLE : LINK_S_LISTEN,
	    GW_ECLOSED, l->reason);
}

/*
 * What each frame type does, and in which states it is acted on (anything
 * else is dropped and counted in drop_state). Session frames first pass
 * the replay window and the tag check.
 */
typedef void (*link_frame_fn)(struct link *l, int64_t now, const uint8_t *p,
    size_t n, const struct link_frame *f);

#define LINK_ST(s) (1u << LINK_S_##s)

static const struct link_frame_rule {
	uint8_t type;
	unsigned states;
	bool session;
	link_frame_fn fn;
} link_frame_rules[] = {
	{ LINK_FT_HELLO, LINK_ST(LISTEN) | LINK_ST(UP) | LINK_ST(ERROR), false,
	    on_hello },
	{ LINK_FT_ACCEPT, LINK_ST(HELLO_SENT), false, on_accept },
	{ LINK_FT_REJECT, LINK_ST(HELLO_SENT) | LINK_ST(UP), false,
	    on_reject },
	{ LINK_FT_DATA, LINK_ST(UP), true, on_data },
	{ LINK_FT_SACK, LINK_ST(UP), true, on_sack },
	{ LINK_FT_CLOSE, LINK_ST(UP), true, on_close },
};

void
link_input(struct link *l, int64_t now_ms, const uint8_t *p, size_t n)
{
	struct link_frame f;
	int rc = link_frame_decode(p, n, &f);
	const struct link_frame_rule *rule = NULL;

	l->stats.frames_in++;
	l->stats.wire_bytes_in += n;
	if (rc == GW_ECORRUPT) {
		l->stats.drop_corrupt++;
		return;
	}
	if (rc == GW_EVERSION && f.type == LINK_FT_HELLO && !l->cfg.initiator &&
	    l->st != LINK_S_UP) {
		/* A peer speaking another frame version: tell it which we
		 * speak, in our format, instead of staying silent. */
		l->stats.drop_proto++;
		reject(l, LINK_REJ_VERSION, "unsupported frame version");
		return;
	}
	if (rc < 0) {
		l->stats.drop_proto++;
		return;
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(link_frame_rules); i++)
		if (link_frame_rules[i].type == f.type)
			rule = &link_frame_rules[i];
	if (!rule) {
		l->stats.drop_proto++;
		return;
	}
	if (!(rule->states & (1u << l->st))) {
		l->stats.drop_state++;
		if (rule->session && l->st == LINK_S_LISTEN &&
		    !l->cfg.initiator && now_ms >= l->nosession_next &&
		    (!half_duplex(l) || (f.flags & LINK_FL_TURN))) {
			/* We restarted; the initiator still thinks it has a
			 * session. Tell it (at most every 10 s), in half
			 * duplex when its burst ends: it hears nothing while
			 * it transmits. */
			l->send_reject = LINK_REJ_NOSESSION;
			snprintf(l->reject_text, sizeof(l->reject_text),
			    "no session");
			l->nosession_next = now_ms + 10000;
		}
		return;
	}
	if (!rule->session) {
		rule->fn(l, now_ms, p, n, &f);
		return;
	}
	if (!link_replay_check(&l->rwin, f.fctr)) {
		l->stats.drop_replay++;
		return;
	}
	if (l->keyed && link_frame_verify(p, n, &f, l->k_rx) < 0) {
		l->stats.drop_auth++;
		return;
	}
	if (!l->keyed && (f.flags & LINK_FL_TAG)) {
		l->stats.drop_auth++;
		return;
	}
	link_replay_commit(&l->rwin, f.fctr);
	l->silent = 0;

	if (half_duplex(l) && !l->turn) {
		bool was_open = l->open;
		l->open = false; /* the peer broke in, or answers */
		if (!l->heard_in_wait && !was_open) {
			int64_t t = now_ms - l->handed_ms -
			    airtime_ms(l, n) - (int64_t)l->cfg.caps.latency_ms;
			if (t >= 0)
				l->stats.turnaround_ms = (uint32_t)EWMA(
				    (int64_t)l->stats.turnaround_ms, t);
		}
		l->heard_in_wait = true;
		l->t_wait = now_ms + gap_ms(l);
	}
	rule->fn(l, now_ms, p, n, &f);
	if (l->st == LINK_S_UP && half_duplex(l) &&
	    (f.flags & LINK_FL_TURN) && !l->turn) {
		if ((f.flags & LINK_FL_IDLE) && quiet(l)) {
			l->open = true; /* both idle: nobody holds the turn */
			l->t_wait = INT64_MAX;
		} else {
			/* the peer answered our burst: the next may be
			 * longer */
			if (l->heard_in_wait)
				burst_grow(l);
			take_turn(l, now_ms);
		}
	}
}

int
link_check_state(const struct link *l)
{
	if (GW_FAILS_ASSERT(link_arq_tx_inflight(&l->atx) <= l->atx.window))
		return GW_EINTERNAL;
	switch (l->st) {
	case LINK_S_IDLE:
	case LINK_S_LISTEN:
		if (GW_FAILS_ASSERT(l->t_wait == INT64_MAX))
			return GW_EINTERNAL;
		break;
	case LINK_S_HELLO_SENT:
		if (GW_FAILS_ASSERT(l->send_hello || l->t_wait != INT64_MAX))
			return GW_EINTERNAL;
		break;
	case LINK_S_UP:
		if (GW_FAILS_ASSERT(l->frame_max >= 64) ||
		    GW_FAILS_ASSERT(l->frame_max <= l->cfg.caps.mtu_bytes))
			return GW_EINTERNAL;
		/* Half duplex: exactly one of holding the turn or waiting
		 * with a timer armed. */
		if (half_duplex(l) && l->open &&
		    (GW_FAILS_ASSERT(!l->turn) ||
		    GW_FAILS_ASSERT(l->t_wait == INT64_MAX)))
			return GW_EINTERNAL;
		if (half_duplex(l) && !l->open &&
		    GW_FAILS_ASSERT(l->turn == (l->t_wait == INT64_MAX)))
			return GW_EINTERNAL;
		for (uint16_t s = l->atx.una; s != l->atx.next; s++) {
			const struct link_arq_slot *sl =
			    &l->atx.slot[s % l->atx.window];
			if (GW_FAILS_ASSERT(s != l->atx.una ||
			    sl->state != LINK_ARQ_FREE))
				return GW_EINTERNAL;
		}
		break;
	case LINK_S_ERROR:
		if (GW_FAILS_ASSERT(l->err < 0 && l->reason[0] != '\0') ||
		    GW_FAILS_ASSERT(l->t_wait == INT64_MAX))
			return GW_EINTERNAL;
		break;
	}
	return 0;
}

enum link_state
link_state(const struct link *l)
{
	return l->st;
}

const char *
link_reason(const struct link *l)
{
	return l->reason;
}

int
link_error(const struct link *l)
{
	return l->err;
}

const struct link_stats *
link_get_stats(const struct link *l)
{
	return &l->stats;
}

uint16_t
link_dict_id(const struct link *l)
{
	return l->dict_id;
}

uint32_t
link_features(const struct link *l)
{
	return l->features;
}

const char *
link_peer_identity(const struct link *l)
{
	return l->peer_id;
}

enum link_activity
link_activity(const struct link *l, int64_t now_ms)
{
	if (l->st != LINK_S_UP)
		return LINK_ACT_NONE;
	if (l->tx_end_ms > now_ms)
		return LINK_ACT_TX; /* our transmission is still on the air */
	if (!half_duplex(l))
		return link_arq_tx_inflight(&l->atx) > 0 ? LINK_ACT_TX :
							   LINK_ACT_IDLE;
	if (l->turn)
		return l->burst_bytes > 0 || link_arq_tx_inflight(&l->atx) > 0 ?
		    LINK_ACT_TX : LINK_ACT_IDLE;
	if (l->open)
		return LINK_ACT_IDLE;
	/* the far end holds the turn: hearing it, or waiting for it */
	return l->heard_in_wait ? LINK_ACT_RX : LINK_ACT_TURN;
}

bool
link_has_turn(const struct link *l)
{
	return l->st == LINK_S_UP && (!half_duplex(l) || l->turn);
}
