/*
 * drv.c - the driver core: registry, state machine, framing, AT dialogue,
 * bounded output queue and airtime pacer (see drv.h for the contract and
 * the state diagram).
 *
 * Ownership: a struct drv and its struct drv_core are allocated by
 * drv_create and freed here, once drv_close was called, the backend has
 * reported drv__closed and the core's own timer handle has closed, and no
 * core function is on the stack (depth == 0). Single thread: the loop's.
 *
 * Transitions (all through enter_state(), which traces old -> new):
 *   DOWN/ERROR/CARRIER_LOST -> OPENING   drv_open, reconnect timer
 *   OPENING -> DIALING                   drv__device_up with a dialogue
 *   OPENING -> UP, DIALING -> UP         drv__device_up / dialogue done
 *   OPENING/DIALING/UP -> ERROR          drv__device_failed, open timeout,
 *                                        dialogue failure
 *   UP -> CARRIER_LOST                   drv__device_failed(carrier), in-band
 *                                        NO CARRIER, TCP peer close
 *   any -> CLOSING                       drv_close
 *
 * Per-state invariants (check_state):
 *   DOWN, ERROR, CARRIER_LOST: outq empty, deframers empty, chat not
 *     running.
 *   OPENING: outq empty; open_deadline set.
 *   DIALING: chat running.
 *   UP: chat not running.
 *
 * Pacer: air_free_at_ms estimates when the device will have put on air
 * everything handed to it. Bytes move from outq into the device only while
 * the device backlog (air_free_at - now) is below lead_ms, so the kernel
 * and modem buffers never hold more than about lead_ms of airtime; the
 * rest waits in outq, where the owner's budget (high water) bounds it.
 */
#include "link-drivers/drv.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "link-drivers/at_chat.h"
#include "link-drivers/framing.h"
#include "link-drivers/kiss.h"
#include "link-drivers/serial.h"
#include "link-drivers/tcp.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BUFFER_MS 1000
#define DEFAULT_OPEN_TIMEOUT_MS 10000
#define CLOSE_DRAIN_MS 3000
#define DTR_HANGUP_MS 1000
#define NO_CARRIER "NO CARRIER"
#define NO_CARRIER_LEN 10

enum chat_phase { CHAT_NONE, CHAT_INIT, CHAT_DIAL, CHAT_HANGUP };

struct drv_core {
	drv_event_cb cb;
	void *arg;
	enum drv_state state;
	struct drv_caps caps;
	enum drv_framing framing;
	uint32_t buffer_ms, open_timeout_ms;
	int depth;                 /* core frames on the stack */
	struct drv_stats stats;

	/* Output. */
	struct buf outq;           /* wire bytes not yet in the device */
	size_t hiwat, lowat;
	bool lowat_armed;
	size_t want_bytes;         /* wire size of the last refused write */
	int64_t air_free_at_ms;
	int64_t lead_ms;
	bool ptt_on;
	bool stalled;              /* the device refused output: wait for it */

	/* Input. */
	struct framing_dec fdec;
	struct kiss_dec kdec;
	int64_t idle_flush_ms;
	int64_t idle_at_ms;        /* INT64_MAX: nothing pending */
	char nc_win[NO_CARRIER_LEN];
	size_t nc_len;
	bool carrier_hit;

	/* Dialogue. */
	struct at_chat chat;
	enum chat_phase phase;

	/* Timers. */
	uv_timer_t timer;
	bool timer_inited;
	int64_t armed_at_ms;       /* what the uv timer is set for */
	int64_t open_deadline_ms;
	int64_t reconnect_at_ms;
	uint32_t backoff_ms;

	/* Close. */
	bool closing;
	bool close_started;        /* backend close called */
	bool backend_closed, timer_closed;
	int64_t close_deadline_ms;
	int64_t close_not_before_ms; /* DTR held low until then */
	drv_close_cb close_cb;
	void *close_arg;
};

static const char *const state_names[] = {
#define DRV__STATE_NAME(n, s) s,
	DRV_STATE_MAP(DRV__STATE_NAME)
#undef DRV__STATE_NAME
};

const char *
drv_state_name(enum drv_state s)
{
	if ((int)s < 0 || s >= DRV_S__COUNT)
		return "?";
	return state_names[s];
}

/* ---- registry ---------------------------------------------------------- */

void
drv_registry_init(struct drv_registry *r)
{
	memset(r, 0, sizeof(*r));
}

int
drv_register(struct drv_registry *r, const struct drv_class *cls)
{
	GW_REQUIRE(cls != NULL && cls->name != NULL);
	if (drv_find(r, cls->name) != NULL)
		return GW_EEXIST;
	if (r->n >= DRV_REGISTRY_MAX)
		return GW_ELIMIT;
	r->cls[r->n++] = cls;
	return 0;
}

const struct drv_class *
drv_find(const struct drv_registry *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->cls[i]->name, name) == 0)
			return r->cls[i];
	return NULL;
}

void
drv_registry_add_builtin(struct drv_registry *r)
{
	(void)drv_register(r, serial_drv_class());
	(void)drv_register(r, serial_pty_drv_class());
	(void)drv_register(r, serial_kiss_drv_class());
	(void)drv_register(r, tcp_drv_class());
}

/* ---- small helpers ----------------------------------------------------- */

void
drv_caps_from_prof(const struct prof *p, struct drv_caps *out)
{
	memset(out, 0, sizeof(*out));
	out->mtu_bytes = (uint32_t)p->air.mtu_bytes;
	out->rate_bps = (uint32_t)p->air.rate_bps;
	out->full_duplex = p->air.duplex == PROF_DUPLEX_FULL;
	out->turnaround_ms = (uint32_t)p->air.turnaround_ms;
	out->latency_ms = (uint32_t)p->air.latency_ms;
	out->max_tx_ms = (uint32_t)p->air.max_tx_ms;
}

int64_t
drv__now_ms(const struct drv *d)
{
	return clk_mono_ms(d->env->clock);
}

bool
drv__closing(const struct drv *d)
{
	return d->core->closing;
}

/* Airtime of n bytes at the current rate, rounded up. */
static int64_t
airtime_ms(const struct drv_core *c, size_t n)
{
	return ((int64_t)n * 8000 + c->caps.rate_bps - 1) / c->caps.rate_bps;
}

static size_t
bytes_in_ms(const struct drv_core *c, int64_t ms)
{
	if (ms <= 0)
		return 0;
	return (size_t)(ms * (int64_t)c->caps.rate_bps / 8000);
}

static int64_t
backlog_ms(const struct drv *d)
{
	int64_t b = d->core->air_free_at_ms - drv__now_ms(d);

	return b > 0 ? b : 0;
}

/* Wire bytes for one payload of n bytes in the current framing (worst
 * case for KISS: every byte escaped). */
static size_t
wire_size(const struct drv_core *c, size_t n)
{
	switch (c->framing) {
	case DRV_FRAMING_SYNC:
		return n + FRAMING_OVERHEAD;
	case DRV_FRAMING_KISS:
		return 2 * n + 4;
	default:
		return n;
	}
}

static void
compute_marks(struct drv_core *c)
{
	size_t frame = wire_size(c, c->caps.mtu_bytes);
	size_t budget = bytes_in_ms(c, c->buffer_ms);

	c->hiwat = budget > frame ? budget : frame;
	c->lowat = c->hiwat / 2;
	/* The device may hold a quarter of the budget, at least 50 ms, so the
	 * pacer wakes a few times a second at most. */
	c->lead_ms = c->buffer_ms / 4;
	if (c->lead_ms < 50)
		c->lead_ms = 50;
	if (c->lead_ms < 2 * airtime_ms(c, 1))
		c->lead_ms = 2 * airtime_ms(c, 1);
	c->idle_flush_ms = 1000 + c->caps.latency_ms + airtime_ms(c, 32);
}

/* ---- entry/leave and the timer ---------------------------------------- */

/* Buffered bytes at or below which DRV_EV_WRITABLE fires: low water, and
 * low enough that the write refused last time fits (0: only when empty),
 * so an owner retrying the same frame is never woken in vain. */
static size_t
writable_level(const struct drv_core *c)
{
	size_t lvl = c->lowat;

	if (c->want_bytes > 0) {
		size_t fit = c->want_bytes < c->hiwat ?
		    c->hiwat - c->want_bytes : 0;
		if (fit < lvl)
			lvl = fit;
	}
	return lvl;
}

static void timer_cb(uv_timer_t *t);
static void core_tick(struct drv *d);
static void close_progress(struct drv *d);

static void
enter(struct drv *d)
{
	d->core->depth++;
}

static void
free_now(struct drv *d)
{
	struct drv_core *c = d->core;
	drv_close_cb cb = c->close_cb;
	void *arg = c->close_arg;

	if (cb != NULL)
		cb(d, arg);
	buf_fini(&c->outq);
	framing_dec_fini(&c->fdec);
	kiss_dec_fini(&c->kdec);
	at_chat_fini(&c->chat);
	free(c);
	free(d);
}

int64_t
drv_next_deadline_ms(const struct drv *d)
{
	const struct drv_core *c = d->core;
	int64_t t = INT64_MAX, now;

	if (c->close_started)
		return INT64_MAX;
	if (c->state == DRV_S_OPENING && c->open_deadline_ms < t)
		t = c->open_deadline_ms;
	if (c->reconnect_at_ms < t)
		t = c->reconnect_at_ms;
	if (at_chat_deadline(&c->chat) < t)
		t = at_chat_deadline(&c->chat);
	if (c->idle_at_ms < t)
		t = c->idle_at_ms;
	if (c->closing && c->close_deadline_ms < t)
		t = c->close_deadline_ms;
	if (c->closing && c->close_not_before_ms > drv__now_ms(d) &&
	    c->close_not_before_ms < t)
		t = c->close_not_before_ms;
	now = drv__now_ms(d);
	/* Pacer: wake when the device backlog has halved below the lead,
	 * and not before at least one byte fits (slow rates). */
	if (c->outq.len > 0 && !c->stalled) {
		int64_t p = c->air_free_at_ms - c->lead_ms / 2;
		int64_t one = c->air_free_at_ms - c->lead_ms +
		    airtime_ms(c, 1);
		if (one > p)
			p = one;
		if (p < t)
			t = p < now ? now : p;
	}
	/* Writable: when buffered airtime reaches low water. */
	if (c->lowat_armed && c->state == DRV_S_UP && !c->stalled) {
		size_t b = drv_buffered_bytes(d), lvl = writable_level(c);
		int64_t w = b > lvl ? now + 10 + airtime_ms(c, b - lvl) : now;
		if (w < t)
			t = w;
	}
	/* Transmitter key release after the last byte went out. */
	if (c->ptt_on && c->air_free_at_ms < t)
		t = c->air_free_at_ms;
	return t;
}

static void
rearm(struct drv *d)
{
	struct drv_core *c = d->core;
	int64_t t, now;

	if (!c->timer_inited || c->close_started)
		return;
	t = drv_next_deadline_ms(d);
	if (t == INT64_MAX) {
		uv_timer_stop(&c->timer);
		c->armed_at_ms = INT64_MAX;
		return;
	}
	if (t == c->armed_at_ms && uv_is_active((uv_handle_t *)&c->timer))
		return;
	now = drv__now_ms(d);
	c->armed_at_ms = t;
	uv_timer_start(&c->timer, timer_cb, (uint64_t)(t > now ? t - now : 0),
	    0);
}

#ifndef NDEBUG
/* Per-state invariants (see the top of this file); debug builds check
 * them whenever the core returns to its caller. */
static void
check_state(const struct drv *d)
{
	const struct drv_core *c = d->core;
	bool chat_running = c->chat.status == AT_CHAT_RUNNING;

	assert(c->depth == 0);
	switch (c->state) {
	case DRV_S_DOWN:
	case DRV_S_ERROR:
	case DRV_S_CARRIER_LOST:
		assert(c->outq.len == 0);
		assert(!chat_running && c->phase == CHAT_NONE);
		assert(framing_dec_pending(&c->fdec) == 0);
		break;
	case DRV_S_OPENING:
		assert(c->outq.len == 0);
		assert(c->open_deadline_ms != INT64_MAX);
		break;
	case DRV_S_DIALING:
		assert(chat_running);
		assert(c->phase == CHAT_INIT || c->phase == CHAT_DIAL);
		break;
	case DRV_S_UP:
		assert(!chat_running && c->phase == CHAT_NONE);
		break;
	case DRV_S_CLOSING:
		assert(c->closing);
		break;
	default:
		assert(!"unknown state");
	}
	assert(c->closing == (c->state == DRV_S_CLOSING));
	(void)chat_running;
}
#else
#define check_state(d) ((void)0)
#endif

static void
leave(struct drv *d)
{
	struct drv_core *c = d->core;

	GW_REQUIRE(c->depth > 0);
	if (--c->depth > 0)
		return;
	if (c->closing && !c->close_started) {
		c->depth++;
		close_progress(d);
		c->depth--;
	}
	if (c->close_started && c->backend_closed && c->timer_closed) {
		free_now(d);
		return;
	}
	check_state(d);
	rearm(d);
}

static void
timer_cb(uv_timer_t *t)
{
	struct drv *d = t->data;

	d->core->armed_at_ms = INT64_MAX;
	enter(d);
	core_tick(d);
	leave(d);
}

void
drv_tick(struct drv *d)
{
	enter(d);
	core_tick(d);
	leave(d);
}

/* ---- events and states ------------------------------------------------- */

static void
emit(struct drv *d, struct drv_event *ev)
{
	struct drv_core *c = d->core;

	if (c->closing)
		return;
	c->cb(d, ev, c->arg);
}

static void
enter_state(struct drv *d, enum drv_state s, int err, const char *reason)
{
	struct drv_core *c = d->core;
	struct drv_event ev;

	if (c->state == s)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = DRV_EV_STATE;
	ev.old_state = c->state;
	ev.state = s;
	ev.err = err;
	ev.reason = reason;
	ev.rate_bps = c->caps.rate_bps;
	GW_LOGD("drv", "drv=%s device=%s state=%s->%s error=%s reason=\"%s\"",
	    d->cls->name, d->cfg->device ? d->cfg->device : "-",
	    drv_state_name(c->state), drv_state_name(s),
	    err ? gw_errname(err) : "0", gw_logq(reason ? reason : ""));
	c->state = s;
	if (s == DRV_S_UP)
		c->lowat_armed = true; /* tell the owner it may write */
	emit(d, &ev);
}

static void
set_ptt(struct drv *d, bool on)
{
	struct drv_core *c = d->core;

	if (c->ptt_on == on || d->cls->set_ptt == NULL)
		return;
	if (d->cfg->prof->modem.keying != PROF_KEYING_RTS &&
	    d->cfg->prof->modem.keying != PROF_KEYING_DTR)
		return;
	c->ptt_on = on;
	d->cls->set_ptt(d, on);
}

/* Offer queued output to the backend. A kick that moved nothing although
 * the pacer allowed it means the device is full (EAGAIN, a write still in
 * flight, flow control): the core then stops waking for the pacer until
 * the backend, told by its own writable event, takes bytes again, so a
 * flow-controlled modem does not make the loop spin. */
static void
kick(struct drv *d)
{
	struct drv_core *c = d->core;
	const uint8_t *p;
	uint64_t before = c->stats.bytes_out;
	size_t allowed;

	if (c->outq.len == 0 || c->close_started)
		return;
	/* Measured before the call: time moves on during it, and room that
	 * appeared only afterwards is no refusal. */
	allowed = drv__out_allowance(d, &p);
	d->cls->kick(d);
	if (allowed > 0 && c->outq.len > 0 && c->stats.bytes_out == before)
		c->stalled = true;
}

static void
reset_io(struct drv *d)
{
	struct drv_core *c = d->core;

	buf_reset(&c->outq);
	c->stalled = false;
	framing_dec_reset(&c->fdec);
	kiss_dec_reset(&c->kdec);
	c->idle_at_ms = INT64_MAX;
	c->nc_len = 0;
	c->air_free_at_ms = 0;
	c->lowat_armed = false;
	c->want_bytes = 0;
	if (c->ptt_on && d->cls->set_ptt != NULL)
		d->cls->set_ptt(d, false);
	c->ptt_on = false;
}

/* The device failed: release it, report, maybe schedule a reconnect. */
static void
fail(struct drv *d, int err, bool carrier, const char *reason)
{
	struct drv_core *c = d->core;
	int64_t now = drv__now_ms(d);

	if (c->closing) {
		/* A failure during the close drain ends the drain. */
		c->close_deadline_ms = now;
		return;
	}
	c->stats.failures++;
	at_chat_abort(&c->chat, err, reason);
	c->phase = CHAT_NONE;
	reset_io(d);
	d->cls->release(d);
	if (d->cfg->reconnect_min_ms > 0) {
		if (c->backoff_ms == 0)
			c->backoff_ms = d->cfg->reconnect_min_ms;
		c->reconnect_at_ms = now + c->backoff_ms;
		c->backoff_ms *= 2;
		if (d->cfg->reconnect_max_ms > 0 &&
		    c->backoff_ms > d->cfg->reconnect_max_ms)
			c->backoff_ms = d->cfg->reconnect_max_ms;
	}
	enter_state(d, carrier ? DRV_S_CARRIER_LOST : DRV_S_ERROR, err,
	    reason);
}

static void
start_open(struct drv *d)
{
	struct drv_core *c = d->core;
	int rc;

	c->reconnect_at_ms = INT64_MAX;
	c->buffer_ms = d->cfg->buffer_ms ? d->cfg->buffer_ms :
	    DEFAULT_BUFFER_MS;
	c->open_timeout_ms = d->cfg->open_timeout_ms ?
	    d->cfg->open_timeout_ms : DEFAULT_OPEN_TIMEOUT_MS;
	c->open_deadline_ms = drv__now_ms(d) + c->open_timeout_ms;
	c->caps.rate_bps = (uint32_t)d->cfg->prof->air.rate_bps;
	compute_marks(c);
	enter_state(d, DRV_S_OPENING, 0, NULL);
	rc = d->cls->open(d);
	if (rc < 0 && c->state == DRV_S_OPENING)
		fail(d, rc, false, "open failed");
}

/* The modem is ready for data. A TNC gets its KISS parameters now, after
 * any init dialogue (which may be what put it into KISS mode), and before
 * the state changes, so they bypass the airtime pacer: they are for the
 * TNC, not for the air. */
static void
go_up(struct drv *d)
{
	struct drv_core *c = d->core;
	const struct prof *p = d->cfg->prof;

	if (c->framing == DRV_FRAMING_KISS) {
		unsigned port = (unsigned)p->kiss.port;

		kiss_encode_param(&c->outq, port, KISS_CMD_TXDELAY,
		    kiss_units_10ms(p->kiss.txdelay_ms));
		kiss_encode_param(&c->outq, port, KISS_CMD_PERSIST,
		    (uint8_t)p->kiss.persist);
		kiss_encode_param(&c->outq, port, KISS_CMD_SLOTTIME,
		    kiss_units_10ms(p->kiss.slottime_ms));
		kiss_encode_param(&c->outq, port, KISS_CMD_TXTAIL,
		    kiss_units_10ms(p->kiss.txtail_ms));
		kiss_encode_param(&c->outq, port, KISS_CMD_FULLDUPLEX,
		    p->air.duplex == PROF_DUPLEX_FULL ? 1 : 0);
		kick(d);
	}
	c->phase = CHAT_NONE;
	c->backoff_ms = 0;
	enter_state(d, DRV_S_UP, 0, NULL);
}

/* Send the dialogue's output bytes as they are (no framing). */
static void
flush_chat_output(struct drv *d)
{
	struct drv_core *c = d->core;

	if (c->chat.out.len == 0)
		return;
	buf_append(&c->outq, c->chat.out.data, c->chat.out.len);
	buf_reset(&c->chat.out);
	kick(d);
}

/* After each dialogue step: move to the next phase, UP, or failure. */
static void
chat_progress(struct drv *d, enum at_chat_status st)
{
	struct drv_core *c = d->core;
	const struct prof *p = d->cfg->prof;
	int64_t now = drv__now_ms(d);

	flush_chat_output(d);
	if (st == AT_CHAT_RUNNING)
		return;
	if (c->phase == CHAT_HANGUP) {
		c->phase = CHAT_NONE;
		return;
	}
	if (st == AT_CHAT_FAILED) {
		char reason[200];
		int abort = c->chat.abort_index;
		bool carrier;

		snprintf(reason, sizeof(reason), "%s dialogue: %s",
		    c->phase == CHAT_INIT ? "init" : "dial", c->chat.reason);
		/* NO CARRIER / BUSY while dialling: the modem works, the
		 * channel or the far end does not. */
		carrier = c->phase == CHAT_DIAL && abort >= 0;
		fail(d, c->chat.err, carrier, reason);
		return;
	}
	if (c->chat.connect_rate > 0 && prof_rate_allowed(p,
	    c->chat.connect_rate))
		c->caps.rate_bps = c->chat.connect_rate;
	if (c->phase == CHAT_INIT && p->dial.n_steps > 0) {
		c->phase = CHAT_DIAL;
		st = at_chat_start(&c->chat, &p->dial, d->cfg->dial_number,
		    now);
		chat_progress(d, st);
		return;
	}
	compute_marks(c);
	go_up(d);
}

void
drv__device_up(struct drv *d)
{
	struct drv_core *c = d->core;
	const struct prof *p = d->cfg->prof;
	enum at_chat_status st;

	enter(d);
	if (c->state != DRV_S_OPENING || c->closing)
		goto out;
	c->stats.opens++;
	c->open_deadline_ms = INT64_MAX;
	if (p->init.n_steps > 0 || p->dial.n_steps > 0) {
		const struct prof_dialogue *dlg = p->init.n_steps > 0 ?
		    &p->init : &p->dial;

		c->phase = p->init.n_steps > 0 ? CHAT_INIT : CHAT_DIAL;
		c->chat.default_timeout_ms = c->open_timeout_ms;
		enter_state(d, DRV_S_DIALING, 0, NULL);
		st = at_chat_start(&c->chat, dlg, d->cfg->dial_number,
		    drv__now_ms(d));
		chat_progress(d, st);
	} else {
		go_up(d);
	}
out:
	leave(d);
}

void
drv__device_failed(struct drv *d, int err, bool carrier, const char *reason)
{
	enter(d);
	if (d->core->state == DRV_S_OPENING ||
	    d->core->state == DRV_S_DIALING || d->core->state == DRV_S_UP ||
	    d->core->closing)
		fail(d, err, carrier, reason);
	leave(d);
}

void
drv__carrier(struct drv *d, bool on)
{
	struct drv_event ev;

	enter(d);
	if (d->core->state == DRV_S_UP) {
		memset(&ev, 0, sizeof(ev));
		ev.type = DRV_EV_CARRIER;
		ev.state = DRV_S_UP;
		ev.carrier = on;
		emit(d, &ev);
	}
	leave(d);
}

void
drv__set_rate(struct drv *d, uint32_t rate_bps)
{
	if (rate_bps == 0)
		return;
	d->core->caps.rate_bps = rate_bps;
	compute_marks(d->core);
}

/* ---- input ------------------------------------------------------------- */

static int
on_sync_frame(void *arg, const uint8_t *p, size_t n)
{
	struct drv *d = arg;
	struct drv_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = DRV_EV_FRAME;
	ev.state = d->core->state;
	ev.data = p;
	ev.len = n;
	d->core->stats.frames_in++;
	emit(d, &ev);
	return d->core->state == DRV_S_UP && !d->core->closing ? 0 : 1;
}

static int
on_kiss_frame(void *arg, unsigned port, unsigned cmd, const uint8_t *p,
    size_t n)
{
	struct drv *d = arg;
	struct drv_event ev;

	if (cmd != KISS_CMD_DATA)
		return 0; /* TNCs send only data frames; ignore the rest */
	memset(&ev, 0, sizeof(ev));
	ev.type = DRV_EV_FRAME;
	ev.state = d->core->state;
	ev.data = p;
	ev.len = n;
	ev.port = port;
	d->core->stats.frames_in++;
	emit(d, &ev);
	return d->core->state == DRV_S_UP && !d->core->closing ? 0 : 1;
}

/* Keep the last bytes seen so "NO CARRIER" split across reads is found. */
static bool
scan_no_carrier(struct drv_core *c, const uint8_t *p, size_t n)
{
	char tmp[2 * NO_CARRIER_LEN];
	size_t k, take;
	bool hit;

	take = n < NO_CARRIER_LEN ? n : NO_CARRIER_LEN;
	hit = memmem(p, n, NO_CARRIER, NO_CARRIER_LEN) != NULL;
	if (!hit) {
		memcpy(tmp, c->nc_win, c->nc_len);
		memcpy(tmp + c->nc_len, p, take);
		hit = memmem(tmp, c->nc_len + take, NO_CARRIER,
		    NO_CARRIER_LEN) != NULL;
	}
	/* Window = last NO_CARRIER_LEN - 1 bytes of (window + p). */
	memcpy(tmp, c->nc_win, c->nc_len);
	k = c->nc_len;
	if (n >= NO_CARRIER_LEN - 1) {
		memcpy(c->nc_win, p + n - (NO_CARRIER_LEN - 1),
		    NO_CARRIER_LEN - 1);
		c->nc_len = NO_CARRIER_LEN - 1;
	} else {
		memcpy(tmp + k, p, n);
		k += n;
		take = k < NO_CARRIER_LEN - 1 ? k : NO_CARRIER_LEN - 1;
		memcpy(c->nc_win, tmp + k - take, take);
		c->nc_len = take;
	}
	return hit;
}

static void
input_up(struct drv *d, const uint8_t *p, size_t n)
{
	struct drv_core *c = d->core;
	struct drv_event ev;
	uint64_t garbage_before = c->fdec.stats.garbage_bytes +
	    c->kdec.stats.garbage_bytes;
	bool nc = false;

	if (d->cfg->prof->modem.carrier == PROF_CARRIER_INBAND)
		nc = scan_no_carrier(c, p, n);
	switch (c->framing) {
	case DRV_FRAMING_SYNC:
		framing_dec_feed(&c->fdec, p, n, on_sync_frame, d);
		c->idle_at_ms = framing_dec_pending(&c->fdec) > 0 ?
		    drv__now_ms(d) + c->idle_flush_ms : INT64_MAX;
		break;
	case DRV_FRAMING_KISS:
		kiss_dec_feed(&c->kdec, p, n, on_kiss_frame, d);
		break;
	default:
		memset(&ev, 0, sizeof(ev));
		ev.type = DRV_EV_DATA;
		ev.state = c->state;
		ev.data = p;
		ev.len = n;
		emit(d, &ev);
		break;
	}
	/* In framed modes the modem's own words arrive outside frames, so
	 * they count only if the deframer skipped bytes in this read: text
	 * inside a good frame never drops the link. */
	if (nc && c->framing != DRV_FRAMING_RAW &&
	    c->fdec.stats.garbage_bytes + c->kdec.stats.garbage_bytes ==
	    garbage_before)
		nc = false;
	if (nc && c->state == DRV_S_UP && !c->closing)
		fail(d, GW_ECLOSED, true, "modem reported NO CARRIER");
}

void
drv__input(struct drv *d, const uint8_t *p, size_t n)
{
	struct drv_core *c = d->core;

	if (n == 0)
		return;
	enter(d);
	c->stats.bytes_in += n;
	if (c->closing) {
		if (c->phase == CHAT_HANGUP)
			chat_progress(d, at_chat_input(&c->chat, p, n,
			    drv__now_ms(d)));
	} else {
		/* One read may end one dialogue, start the next and carry
		 * the first data bytes after CONNECT. */
		while (n > 0 && c->state == DRV_S_DIALING && !c->closing) {
			enum at_chat_status st = at_chat_input(&c->chat, p, n,
			    drv__now_ms(d));
			size_t used = c->chat.used;

			p += used;
			n -= used;
			chat_progress(d, st);
			if (GW_FAILS_ASSERT(used > 0 ||
			    c->state != DRV_S_DIALING))
				break;
		}
		if (n > 0 && c->state == DRV_S_UP && !c->closing)
			input_up(d, p, n);
	}
	leave(d);
}

/* ---- output ------------------------------------------------------------ */

size_t
drv_buffered_bytes(const struct drv *d)
{
	const struct drv_core *c = d->core;

	return c->outq.len + bytes_in_ms(c, backlog_ms(d));
}

int64_t
drv_buffered_ms(const struct drv *d)
{
	const struct drv_core *c = d->core;

	return airtime_ms(c, c->outq.len) + backlog_ms(d);
}

size_t
drv_writable_bytes(const struct drv *d)
{
	const struct drv_core *c = d->core;
	size_t b = drv_buffered_bytes(d), room, over;

	if (c->state != DRV_S_UP || c->closing)
		return 0;
	if (b == 0)
		room = c->hiwat;
	else
		room = b >= c->hiwat ? 0 : c->hiwat - b;
	over = wire_size(c, 0);
	if (room <= over)
		return 0;
	room -= over;
	if (c->framing == DRV_FRAMING_KISS)
		room /= 2;
	return room > c->caps.mtu_bytes && c->framing != DRV_FRAMING_RAW ?
	    c->caps.mtu_bytes : room;
}

size_t
drv_high_water(const struct drv *d)
{
	return d->core->hiwat;
}

int
drv_write(struct drv *d, const void *p, size_t n)
{
	struct drv_core *c = d->core;
	size_t b, wire;
	int rc = 0;

	if (c->state != DRV_S_UP || c->closing)
		return GW_ESTATE;
	if (c->framing != DRV_FRAMING_RAW && n > c->caps.mtu_bytes)
		return GW_ETOOBIG;
	b = drv_buffered_bytes(d);
	wire = wire_size(c, n);
	if (b > 0 && b + wire > c->hiwat) {
		c->stats.refused_writes++;
		c->lowat_armed = true;
		c->want_bytes = wire;
		return GW_EAGAIN;
	}
	c->want_bytes = 0;
	enter(d);
	switch (c->framing) {
	case DRV_FRAMING_SYNC:
		rc = framing_encode(&c->outq, p, n);
		break;
	case DRV_FRAMING_KISS:
		rc = kiss_encode(&c->outq, (unsigned)d->cfg->prof->kiss.port,
		    KISS_CMD_DATA, p, n);
		break;
	default:
		buf_append(&c->outq, p, n);
		break;
	}
	if (rc == 0) {
		c->stats.frames_out++;
		if (drv_buffered_bytes(d) > c->lowat)
			c->lowat_armed = true;
		kick(d);
	}
	leave(d);
	return rc;
}

size_t
drv__out_allowance(struct drv *d, const uint8_t **p)
{
	struct drv_core *c = d->core;
	int64_t room_ms = c->lead_ms - backlog_ms(d);
	size_t n;

	*p = c->outq.data;
	if (c->outq.len == 0)
		return 0;
	n = bytes_in_ms(c, room_ms);
	/* Dialogue text goes at once: the modem is in command mode. */
	if (c->state != DRV_S_UP)
		n = c->outq.len;
	return n < c->outq.len ? n : c->outq.len;
}

void
drv__out_consume(struct drv *d, size_t n)
{
	struct drv_core *c = d->core;
	int64_t now;

	if (n == 0)
		return;
	GW_REQUIRE(n <= c->outq.len);
	enter(d);
	now = drv__now_ms(d);
	buf_consume(&c->outq, n);
	c->stats.bytes_out += n;
	c->stalled = false;
	if (c->state == DRV_S_UP) {
		if (c->air_free_at_ms < now)
			c->air_free_at_ms = now;
		c->air_free_at_ms += airtime_ms(c, n);
		set_ptt(d, true);
	}
	leave(d);
}

/* ---- the tick ---------------------------------------------------------- */

static void
timer_close_cb(uv_handle_t *h)
{
	struct drv *d = h->data;

	enter(d);
	d->core->timer_closed = true;
	leave(d);
}

static void
finish_close(struct drv *d)
{
	struct drv_core *c = d->core;

	if (c->close_started)
		return;
	c->close_started = true;
	if (c->timer_inited)
		uv_close((uv_handle_t *)&c->timer, timer_close_cb);
	else
		c->timer_closed = true;
	d->cls->close(d);
}

/* Closing: push out what is queued (hangup text, KISS Return), wait for
 * the dialogue and for the device to have sent it, then close. */
static void
close_progress(struct drv *d)
{
	struct drv_core *c = d->core;

	if (c->close_started)
		return;
	kick(d);
	if ((c->phase != CHAT_HANGUP && c->outq.len == 0 &&
		backlog_ms(d) == 0 &&
		drv__now_ms(d) >= c->close_not_before_ms) ||
	    drv__now_ms(d) >= c->close_deadline_ms)
		finish_close(d);
}

static void
core_tick(struct drv *d)
{
	struct drv_core *c = d->core;
	int64_t now = drv__now_ms(d);
	size_t b;

	if (c->close_started)
		return;
	if (c->closing) {
		if (c->phase == CHAT_HANGUP)
			chat_progress(d, at_chat_tick(&c->chat, now));
		close_progress(d);
		return;
	}
	if (c->state == DRV_S_OPENING && now >= c->open_deadline_ms) {
		fail(d, GW_ETIMEDOUT, false, "open timed out");
		return;
	}
	if (c->reconnect_at_ms <= now && (c->state == DRV_S_ERROR ||
	    c->state == DRV_S_CARRIER_LOST)) {
		start_open(d);
		return;
	}
	if (c->state == DRV_S_DIALING) {
		chat_progress(d, at_chat_tick(&c->chat, now));
		if (c->state != DRV_S_DIALING)
			return;
	}
	if (c->idle_at_ms <= now) {
		c->idle_at_ms = INT64_MAX;
		framing_dec_flush(&c->fdec, on_sync_frame, d);
	}
	/* Unkey once everything handed over is on air (a stalled device
	 * with output still queued is not transmitting either). */
	if (c->ptt_on && c->air_free_at_ms <= now)
		set_ptt(d, false);
	kick(d);
	if (c->lowat_armed && c->state == DRV_S_UP) {
		b = drv_buffered_bytes(d);
		if (b <= writable_level(c)) {
			struct drv_event ev;

			c->lowat_armed = false;
			memset(&ev, 0, sizeof(ev));
			ev.type = DRV_EV_WRITABLE;
			ev.state = c->state;
			emit(d, &ev);
		}
	}
}

/* ---- lifecycle --------------------------------------------------------- */

int
drv_create(const struct drv_registry *r, const char *name,
    const struct drv_config *cfg, const struct drv_env *env,
    drv_event_cb cb, void *arg, struct drv **out)
{
	const struct drv_class *cls = drv_find(r, name);
	const struct prof *p;
	struct drv_core *c;
	struct drv *d;
	int rc;

	*out = NULL;
	if (cls == NULL)
		return GW_ENOENT;
	GW_REQUIRE(cls->instance_size >= sizeof(struct drv));
	if (cfg == NULL || cfg->prof == NULL || env == NULL ||
	    env->clock == NULL || cb == NULL)
		return GW_EINVAL;
	p = cfg->prof;
	if (p->air.rate_bps <= 0 || p->air.mtu_bytes <= 0 ||
	    p->air.mtu_bytes > FRAMING_MAX_PAYLOAD)
		return GW_ECONFIG;
	if (p->quirks.seven_bit && (cfg->framing == DRV_FRAMING_SYNC ||
	    cfg->framing == DRV_FRAMING_KISS || cls->force_framing ==
	    DRV_FRAMING_KISS || (cfg->framing == DRV_FRAMING_PROFILE &&
	    p->modem.framing == PROF_FRAMING_KISS)))
		return GW_ECONFIG;
	if (cls->check != NULL && (rc = cls->check(cfg)) < 0)
		return rc;
	d = xcalloc(1, cls->instance_size);
	c = xcalloc(1, sizeof(*c));
	d->cls = cls;
	d->cfg = cfg;
	d->env = env;
	d->core = c;
	c->cb = cb;
	c->arg = arg;
	c->state = DRV_S_DOWN;
	drv_caps_from_prof(p, &c->caps);
	if (cls->force_framing >= 0)
		c->framing = (enum drv_framing)cls->force_framing;
	else if (cfg->framing != DRV_FRAMING_PROFILE)
		c->framing = cfg->framing;
	else
		c->framing = p->modem.framing == PROF_FRAMING_KISS ?
		    DRV_FRAMING_KISS : DRV_FRAMING_RAW;
	c->buffer_ms = cfg->buffer_ms ? cfg->buffer_ms : DEFAULT_BUFFER_MS;
	c->open_timeout_ms = cfg->open_timeout_ms ? cfg->open_timeout_ms :
	    DEFAULT_OPEN_TIMEOUT_MS;
	buf_init(&c->outq);
	framing_dec_init(&c->fdec, c->caps.mtu_bytes);
	kiss_dec_init(&c->kdec, c->caps.mtu_bytes + 1);
	at_chat_init(&c->chat);
	c->idle_at_ms = INT64_MAX;
	c->reconnect_at_ms = INT64_MAX;
	c->open_deadline_ms = INT64_MAX;
	c->close_deadline_ms = INT64_MAX;
	c->armed_at_ms = INT64_MAX;
	compute_marks(c);
	if (env->loop != NULL) {
		uv_timer_init(env->loop, &c->timer);
		c->timer.data = d;
		c->timer_inited = true;
	}
	*out = d;
	return 0;
}

int
drv_open(struct drv *d)
{
	struct drv_core *c = d->core;

	if (c->closing || (c->state != DRV_S_DOWN &&
	    c->state != DRV_S_ERROR && c->state != DRV_S_CARRIER_LOST))
		return GW_ESTATE;
	enter(d);
	start_open(d);
	leave(d);
	return 0;
}

void
drv_close(struct drv *d, drv_close_cb cb, void *arg)
{
	struct drv_core *c = d->core;
	const struct prof *p = d->cfg->prof;
	bool was_up = c->state == DRV_S_UP;

	GW_REQUIRE(!c->closing);
	enter(d);
	c->close_cb = cb;
	c->close_arg = arg;
	c->closing = true;
	at_chat_abort(&c->chat, GW_ECANCELED, "closing");
	c->phase = CHAT_NONE;
	c->state = DRV_S_CLOSING; /* no event: the owner asked for it */
	c->close_deadline_ms = drv__now_ms(d) + CLOSE_DRAIN_MS;
	if (was_up && c->framing == DRV_FRAMING_KISS &&
	    p->quirks.kiss_exit_on_close)
		kiss_encode_return(&c->outq);
	if (was_up && p->quirks.hangup_by_dtr && d->cls->set_dtr != NULL) {
		d->cls->set_dtr(d, false);
		c->close_not_before_ms = drv__now_ms(d) + DTR_HANGUP_MS;
	} else if (was_up && p->hangup.n_steps > 0) {
		int64_t total = 0;
		int i;

		for (i = 0; i < p->hangup.n_steps; i++)
			total += p->hangup.steps[i].timeout_ms;
		c->close_deadline_ms = drv__now_ms(d) + total +
		    airtime_ms(c, c->outq.len) + CLOSE_DRAIN_MS;
		c->phase = CHAT_HANGUP;
		chat_progress(d, at_chat_start(&c->chat, &p->hangup,
		    d->cfg->dial_number, drv__now_ms(d)));
	}
	if (!was_up) {
		buf_reset(&c->outq);
		c->air_free_at_ms = 0;
	}
	leave(d);
}

void
drv__closed(struct drv *d)
{
	enter(d);
	d->core->backend_closed = true;
	leave(d);
}

/* ---- accessors --------------------------------------------------------- */

enum drv_state
drv_state(const struct drv *d)
{
	return d->core->state;
}

const struct drv_caps *
drv_caps(const struct drv *d)
{
	return &d->core->caps;
}

const char *
drv_class_name(const struct drv *d)
{
	return d->cls->name;
}

void
drv_get_stats(const struct drv *d, struct drv_stats *out)
{
	const struct drv_core *c = d->core;

	*out = c->stats;
	out->garbage_bytes = c->fdec.stats.garbage_bytes +
	    c->kdec.stats.garbage_bytes;
	out->bad_frames = c->fdec.stats.bad_header +
	    c->fdec.stats.bad_payload + c->kdec.stats.bad_escape +
	    c->kdec.stats.oversize;
}
