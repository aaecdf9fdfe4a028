/* Driver core under a virtual clock with a fake backend: states, airtime
 * budget and pacing, WRITABLE events, AT dialogues from real profiles,
 * in-band NO CARRIER, reconnect backoff, open timeout, SYNC/KISS framing,
 * hangup at close, deferred free. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "link-drivers/drv.h"
#include "link-drivers/framing.h"
#include "link-drivers/kiss.h"

#include <stdbool.h>
#include <string.h>

/* ---- the fake backend ---------------------------------------------------- */

struct fake {
	struct drv base;
	struct buf wire;        /* everything the device accepted */
	bool auto_up;           /* device_up at open */
	int opens, releases;
	bool closed;
	int64_t last_consume_ms;
};

static bool fake_auto_up = true; /* read by fake_open; set per test */
static bool fake_refuse;         /* the device is full (flow control) */
static struct clk_virtual *fake_slow_clk; /* time passes inside kick */
static struct buf closed_wire;   /* the wire of the last closed fake */

static int
fake_open(struct drv *d)
{
	struct fake *f = (struct fake *)d;

	f->opens++;
	if (f->wire.data == NULL)
		buf_init(&f->wire);
	if (fake_auto_up)
		drv__device_up(d);
	return 0;
}

static void
fake_kick(struct drv *d)
{
	struct fake *f = (struct fake *)d;
	const uint8_t *p;
	size_t n = drv__out_allowance(d, &p);

	if (n == 0 && fake_slow_clk != NULL)
		clk_virtual_advance(fake_slow_clk, 200);
	if (n == 0 || fake_refuse)
		return;
	buf_append(&f->wire, p, n);
	drv__out_consume(d, n);
}

static void
fake_release(struct drv *d)
{
	((struct fake *)d)->releases++;
}

static void
fake_close(struct drv *d)
{
	struct fake *f = (struct fake *)d;

	f->closed = true;
	buf_fini(&closed_wire);
	buf_swap(&closed_wire, &f->wire);
	drv__closed(d); /* synchronously: the core must defer the free */
}

static int fake_dtr = -1;        /* last DTR level set, -1: never */
static int fake_ptt_changes;
static bool fake_ptt;

static void
fake_set_ptt(struct drv *d, bool on)
{
	(void)d;
	fake_ptt = on;
	fake_ptt_changes++;
}

static void
fake_set_dtr(struct drv *d, bool on)
{
	(void)d;
	fake_dtr = on;
}

static const struct drv_class fake_cls = {
	.name = "fake",
	.instance_size = sizeof(struct fake),
	.force_framing = -1,
	.open = fake_open,
	.kick = fake_kick,
	.release = fake_release,
	.close = fake_close,
	.set_ptt = fake_set_ptt,
	.set_dtr = fake_set_dtr,
};

/* ---- the owner ----------------------------------------------------------- */

struct owner {
	enum drv_state states[32];
	int errs[32];
	int64_t state_at[32];
	int nstates;
	struct buf data;
	struct buf frames[64];
	unsigned ports[64];
	int nframes;
	int writable;
	bool closed;
	bool close_in_cb;       /* call drv_close from the next FRAME event */
	struct clk_virtual *clk;
};

static void
on_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct owner *o = arg;

	switch (ev->type) {
	case DRV_EV_STATE:
		assert_true(o->nstates < 32);
		o->states[o->nstates] = ev->state;
		o->errs[o->nstates] = ev->err;
		o->state_at[o->nstates] = o->clk->now_ms;
		o->nstates++;
		break;
	case DRV_EV_DATA:
		buf_append(&o->data, ev->data, ev->len);
		break;
	case DRV_EV_FRAME:
		assert_true(o->nframes < 64);
		buf_init(&o->frames[o->nframes]);
		buf_append(&o->frames[o->nframes], ev->data, ev->len);
		o->ports[o->nframes] = ev->port;
		o->nframes++;
		if (o->close_in_cb) {
			o->close_in_cb = false;
			drv_close(d, NULL, NULL);
		}
		break;
	case DRV_EV_WRITABLE:
		o->writable++;
		break;
	case DRV_EV_CARRIER:
		break;
	}
}

static void
on_closed(struct drv *d, void *arg)
{
	(void)d;
	((struct owner *)arg)->closed = true;
}

static void
owner_fini(struct owner *o)
{
	buf_fini(&o->data);
	for (int i = 0; i < o->nframes; i++)
		buf_fini(&o->frames[i]);
}

/* Run the core's timers up to t. */
static void
run_until(struct drv *d, struct clk_virtual *clk, int64_t t)
{
	for (int guard = 0; guard < 100000; guard++) {
		int64_t next = drv_next_deadline_ms(d);
		if (next > t)
			break;
		if (next > clk->now_ms)
			clk_virtual_set(clk, next);
		drv_tick(d);
	}
	clk_virtual_set(clk, t);
	drv_tick(d);
}

static struct prof *
load_prof(const char *text)
{
	static struct prof p;
	char err[256];

	memset(&p, 0, sizeof(p));
	if (prof_load_string(text, "test.profile", &p, err, sizeof(err)) < 0)
		fail_msg("profile: %s", err);
	return &p;
}

static struct prof *
load_named(const char *name)
{
	static struct prof p;
	char err[512], rel[128];
	char *path;

	snprintf(rel, sizeof(rel), "firmware-profiles/%s.profile", name);
	path = tu_src_path(rel);
	memset(&p, 0, sizeof(p));
	if (prof_load_file(path, &p, err, sizeof(err)) < 0)
		fail_msg("profile %s: %s", path, err);
	free(path);
	return &p;
}

struct rig {
	struct drv_registry reg;
	struct clk_virtual clk;
	struct drv_env env;
	struct drv_config cfg;
	struct owner o;
	struct drv *d;
};

static void
rig_init(struct rig *r, const struct prof *p, enum drv_framing fr)
{
	memset(r, 0, sizeof(*r));
	drv_registry_init(&r->reg);
	drv_registry_add_builtin(&r->reg);
	assert_int_equal(drv_register(&r->reg, &fake_cls), 0);
	assert_int_equal(drv_register(&r->reg, &fake_cls), GW_EEXIST);
	clk_virtual_init(&r->clk, 1000, 1700000000);
	r->env.loop = NULL;
	r->env.clock = &r->clk.base;
	r->cfg.prof = p;
	r->cfg.device = "fake0";
	r->cfg.dial_number = "5551234";
	r->cfg.framing = fr;
	r->o.clk = &r->clk;
	fake_auto_up = true;
	fake_refuse = false;
	fake_slow_clk = NULL;
	assert_int_equal(drv_create(&r->reg, "fake", &r->cfg, &r->env,
	    on_event, &r->o, &r->d), 0);
}

/* Close and run the timers until the close callback (the driver is freed
 * by then and must not be touched). */
static void
close_and_wait(struct drv *d, struct clk_virtual *clk, struct owner *o)
{
	drv_close(d, on_closed, o);
	for (int i = 0; i < 100000 && !o->closed; i++) {
		int64_t next = drv_next_deadline_ms(d);
		assert_true(next != INT64_MAX);
		if (next > clk->now_ms)
			clk_virtual_set(clk, next);
		drv_tick(d);
	}
	assert_true(o->closed);
}

static void
rig_close(struct rig *r)
{
	close_and_wait(r->d, &r->clk, &r->o);
}

static void
rig_fini(struct rig *r)
{
	assert_true(r->o.closed);
	owner_fini(&r->o);
}

static const char *plain_2400 =
    "[air]\nrate = 2400\nrates = 1200, 2400\nduplex = half\n"
    "turnaround = 2s\nmtu = 200\nmax_tx = 120s\n[modem]\nbuffer = 16k\n";

/* ---- tests --------------------------------------------------------------- */

static void
test_registry_and_create(void **state)
{
	(void)state;
	struct drv_registry reg;
	struct drv_config cfg = { 0 };
	struct drv_env env = { NULL, clk_system() };
	struct drv *d = NULL;
	const char *names[] = { "serial", "pty", "kiss", "tcp" };

	drv_registry_init(&reg);
	drv_registry_add_builtin(&reg);
	for (size_t i = 0; i < GW_ARRAY_LEN(names); i++)
		assert_non_null(drv_find(&reg, names[i]));
	assert_null(drv_find(&reg, "sim"));
	cfg.prof = load_prof(plain_2400);
	assert_int_equal(drv_create(&reg, "nope", &cfg, &env, on_event, NULL,
	    &d), GW_ENOENT);
	cfg.device = NULL;
	assert_int_equal(drv_create(&reg, "serial", &cfg, &env, on_event,
	    NULL, &d), GW_ECONFIG);
	cfg.device = "not-a-hostport";
	assert_int_equal(drv_create(&reg, "tcp", &cfg, &env, on_event, NULL,
	    &d), GW_ECONFIG);
	assert_null(d);
	assert_string_equal(drv_state_name(DRV_S_CARRIER_LOST),
	    "carrier-lost");
}

static void
test_budget_and_pacing(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	uint8_t frame[100];
	int accepted = 0, rc;

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	f = (struct fake *)r.d;
	assert_int_equal(drv_write(r.d, "x", 1), GW_ESTATE);
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_state(r.d), DRV_S_UP);
	assert_int_equal(drv_open(r.d), GW_ESTATE);
	assert_int_equal(r.o.nstates, 2);
	assert_int_equal(r.o.states[0], DRV_S_OPENING);
	assert_int_equal(r.o.states[1], DRV_S_UP);
	assert_int_equal(drv_caps(r.d)->rate_bps, 2400);
	assert_int_equal(drv_caps(r.d)->mtu_bytes, 200);
	assert_false(drv_caps(r.d)->full_duplex);
	assert_int_equal(drv_caps(r.d)->turnaround_ms, 2000);
	/* 2400 bit/s = 300 bytes/s: one second of airtime. */
	assert_int_equal(drv_high_water(r.d), 300);
	memset(frame, 'a', sizeof(frame));
	while ((rc = drv_write(r.d, frame, sizeof(frame))) == 0)
		accepted++;
	assert_int_equal(rc, GW_EAGAIN);
	assert_int_equal(accepted, 3);
	assert_true(drv_buffered_bytes(r.d) <= 300);
	assert_true(drv_buffered_ms(r.d) <= 1000 + 4);
	assert_int_equal(drv_writable_bytes(r.d), 0);
	/* The device got only its lead (250 ms = 75 bytes), not all. */
	assert_true(f->wire.len <= 75);
	assert_true(f->wire.len > 0);

	/* Keep the link busy for 20 s: the device never receives more than
	 * the air rate allows plus the lead, and the owner is told when to
	 * write again. */
	int64_t t0 = r.clk.now_ms;
	size_t total = 300;
	while (r.clk.now_ms < t0 + 20000) {
		int w0 = r.o.writable;
		run_until(r.d, &r.clk, r.clk.now_ms + 50);
		if (r.o.writable > w0) {
			assert_true(drv_buffered_bytes(r.d) <= 150);
			while (drv_write(r.d, frame, sizeof(frame)) == 0)
				total += sizeof(frame);
		}
		size_t max_dev = (size_t)((r.clk.now_ms - t0) * 300 / 1000) +
		    75 + 1;
		assert_true(f->wire.len <= max_dev);
		assert_true(drv_buffered_ms(r.d) <= 1000 + 4);
	}
	/* The pipe was kept full: at least 95 % of 20 s of airtime went. */
	assert_true(f->wire.len >= 6000 * 95 / 100);
	assert_true(r.o.writable >= 10);
	struct drv_stats st;
	drv_get_stats(r.d, &st);
	assert_int_equal(st.bytes_out, f->wire.len);
	assert_true(st.refused_writes >= 1);
	rig_close(&r);
	rig_fini(&r);
}

/* A device that stops accepting (flow control) must not make the core
 * spin on its pacer timer; output resumes when the device takes bytes. */
static void
test_flow_control_stall(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	uint8_t frame[100];

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	f = (struct fake *)r.d;
	drv_open(r.d);
	fake_refuse = true;
	memset(frame, 'z', sizeof(frame));
	assert_int_equal(drv_write(r.d, frame, sizeof(frame)), 0);
	assert_int_equal(f->wire.len, 0);
	/* Nothing to wake for while the device is full. */
	int ticks = 0;
	int64_t t0 = r.clk.now_ms;
	while (drv_next_deadline_ms(r.d) <= t0 + 10000 && ticks < 1000) {
		clk_virtual_set(&r.clk, drv_next_deadline_ms(r.d));
		drv_tick(r.d);
		ticks++;
	}
	assert_true(ticks <= 2);
	assert_int_equal(drv_buffered_bytes(r.d), 100);
	/* The device drains (its writable event) and takes the bytes. */
	fake_refuse = false;
	fake_kick(r.d);
	assert_true(f->wire.len > 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 2000);
	assert_int_equal(f->wire.len, 100);
	rig_close(&r);
	rig_fini(&r);
}

/* At 50 bit/s a byte takes 160 ms: longer than a small budget's lead.
 * Output still drains at the air rate, and the core never wakes without
 * moving at least a byte. */
static void
test_slowest_rate_no_spin(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	uint8_t frame[20];
	int ticks = 0;

	rig_init(&r, load_prof("[air]\nrate = 50\nmtu = 16\n"
	    "max_tx = 120s\n"), DRV_FRAMING_RAW);
	r.cfg.buffer_ms = 100;
	f = (struct fake *)r.d;
	drv_open(r.d);
	memset(frame, 3, sizeof(frame));
	assert_int_equal(drv_write(r.d, frame, sizeof(frame)), 0);
	int64_t t0 = r.clk.now_ms;
	while (f->wire.len < sizeof(frame) && ticks < 1000) {
		int64_t next = drv_next_deadline_ms(r.d);
		assert_true(next != INT64_MAX);
		if (next > r.clk.now_ms)
			clk_virtual_set(&r.clk, next);
		size_t before = f->wire.len;
		drv_tick(r.d);
		if (f->wire.len == before && r.o.writable == 0)
			fail_msg("tick at %lld moved nothing",
			    (long long)r.clk.now_ms);
		ticks++;
	}
	assert_int_equal(f->wire.len, sizeof(frame));
	/* 20 bytes at 6.25 bytes/s: about 3.2 s less the lead. */
	assert_true(r.clk.now_ms - t0 >= 2800);
	assert_true(ticks <= 40);
	rig_close(&r);
	rig_fini(&r);
}

/* An owner retrying a refused frame on every DRV_EV_WRITABLE must find
 * room each time: the event waits until that frame fits. */
static void
test_writable_means_it_fits(void **state)
{
	(void)state;
	struct rig r;
	uint8_t small[130], big[190];
	int woken = 0;

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	drv_open(r.d);
	run_until(r.d, &r.clk, r.clk.now_ms + 10);
	memset(small, 1, sizeof(small));
	memset(big, 2, sizeof(big));
	assert_int_equal(drv_write(r.d, small, sizeof(small)), 0);
	/* 130 buffered (<= low water 150) + 190 > 300: refused. */
	assert_int_equal(drv_write(r.d, big, sizeof(big)), GW_EAGAIN);
	int64_t t0 = r.clk.now_ms;
	while (r.clk.now_ms < t0 + 3000) {
		int w0 = r.o.writable;
		int64_t next = drv_next_deadline_ms(r.d);
		assert_true(next > r.clk.now_ms || next == r.clk.now_ms);
		clk_virtual_set(&r.clk, next < t0 + 3000 ? next : t0 + 3000);
		drv_tick(r.d);
		if (r.o.writable > w0) {
			woken++;
			assert_int_equal(drv_write(r.d, big, sizeof(big)), 0);
			break;
		}
	}
	assert_int_equal(woken, 1);
	/* It fits from 110 buffered down: 20 bytes = 67 ms after. */
	assert_true(r.clk.now_ms - t0 >= 60);
	rig_close(&r);
	rig_fini(&r);
}

/* Time passes while the backend runs: room that appears only after it
 * looked is not a refusal, and output keeps flowing. */
static void
test_no_false_stall(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	uint8_t frame[250];

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	f = (struct fake *)r.d;
	drv_open(r.d);
	memset(frame, 9, sizeof(frame));
	assert_int_equal(drv_write(r.d, frame, sizeof(frame)), 0);
	fake_slow_clk = &r.clk;
	/* This write's kick finds no room (the device has its lead); the
	 * fake takes 200 ms to say so. */
	assert_int_equal(drv_write(r.d, frame, 10), 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 5000);
	assert_int_equal(f->wire.len, sizeof(frame) + 10);
	fake_slow_clk = NULL;
	rig_close(&r);
	rig_fini(&r);
}

static void
test_big_frame_when_empty(void **state)
{
	(void)state;
	struct rig r;
	uint8_t big[200];

	/* 300 bit/s: the budget (37 bytes) is smaller than one frame. */
	rig_init(&r, load_prof("[air]\nrate = 300\nmtu = 200\n"
	    "max_tx = 120s\n"), DRV_FRAMING_SYNC);
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_high_water(r.d), 200 + FRAMING_OVERHEAD);
	memset(big, 1, sizeof(big));
	assert_int_equal(drv_write(r.d, big, 200), 0);
	assert_int_equal(drv_write(r.d, big, 1), GW_EAGAIN);
	uint8_t toobig[201] = { 0 };
	run_until(r.d, &r.clk, r.clk.now_ms + 60000);
	assert_int_equal(drv_write(r.d, toobig, sizeof(toobig)), GW_ETOOBIG);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_sync_frames_both_ways(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	struct framing_dec dec;
	struct buf in = BUF_INIT;

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_SYNC);
	f = (struct fake *)r.d;
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_write(r.d, "hello", 5), 0);
	assert_int_equal(drv_write(r.d, "world!", 6), 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 2000);
	/* What reached the device is two frames in skywave framing. */
	framing_dec_init(&dec, 256);
	assert_int_equal(f->wire.len, 5 + 6 + 2 * FRAMING_OVERHEAD);
	framing_dec_fini(&dec);

	/* Input: garbage, a frame, a frame with a garbled length that passed
	 * the header check, then a good frame; the idle flush delivers it. */
	buf_append_str(&in, "noise");
	framing_encode(&in, "one", 3);
	size_t bad = in.len;
	framing_encode(&in, "xx", 2);
	in.data[bad + 3] = 90; /* claims 90 bytes */
	uint16_t hc = framing_crc16(in.data + bad, 4);
	in.data[bad + 4] = (uint8_t)(hc >> 8);
	in.data[bad + 5] = (uint8_t)hc;
	framing_encode(&in, "two", 3);
	drv__input(r.d, in.data, in.len);
	assert_int_equal(r.o.nframes, 1);
	assert_memory_equal(r.o.frames[0].data, "one", 3);
	run_until(r.d, &r.clk, r.clk.now_ms + 5000);
	assert_int_equal(r.o.nframes, 2);
	assert_int_equal(r.o.frames[1].len, 3);
	assert_memory_equal(r.o.frames[1].data, "two", 3);
	struct drv_stats st;
	drv_get_stats(r.d, &st);
	assert_int_equal(st.frames_in, 2);
	assert_true(st.garbage_bytes >= 5);
	buf_fini(&in);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_kiss_profile(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;
	struct buf in = BUF_INIT;

	rig_init(&r, load_named("kiss-tnc-1200"), DRV_FRAMING_PROFILE);
	f = (struct fake *)r.d;
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_state(r.d), DRV_S_UP);
	/* Parameter frames first: TXDELAY 300 ms = 30, P 63, slot 10,
	 * TXtail 3, half duplex. */
	static const uint8_t params[] = { 0xC0, 0x01, 30, 0xC0, 0xC0, 0x02,
		63, 0xC0, 0xC0, 0x03, 10, 0xC0, 0xC0, 0x04, 3, 0xC0, 0xC0, 0x05,
		0, 0xC0 };
	assert_true(f->wire.len >= sizeof(params));
	assert_memory_equal(f->wire.data, params, sizeof(params));
	buf_reset(&f->wire);
	static const uint8_t payload[] = { 'a', 0xC0, 'b' };
	assert_int_equal(drv_write(r.d, payload, sizeof(payload)), 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 1000);
	static const uint8_t wire[] = { 0xC0, 0x00, 'a', 0xDB, 0xDC, 'b',
		0xC0 };
	assert_int_equal(f->wire.len, sizeof(wire));
	assert_memory_equal(f->wire.data, wire, sizeof(wire));
	/* From the TNC: a data frame on port 0 and a non-data frame that is
	 * ignored. */
	kiss_encode(&in, 0, KISS_CMD_DATA, "rx", 2);
	kiss_encode(&in, 0, KISS_CMD_SETHW, "zz", 2);
	drv__input(r.d, in.data, in.len);
	assert_int_equal(r.o.nframes, 1);
	assert_memory_equal(r.o.frames[0].data, "rx", 2);
	/* Close sends the KISS Return frame (quirk kiss_exit_on_close). */
	buf_reset(&f->wire);
	close_and_wait(r.d, &r.clk, &r.o);
	static const uint8_t ret[] = { 0xC0, 0xFF, 0xC0 };
	assert_int_equal(closed_wire.len, 3);
	assert_memory_equal(closed_wire.data, ret, 3);
	buf_fini(&in);
	owner_fini(&r.o);
}

/* A TNC put into KISS mode by its init dialogue gets the KISS parameters
 * only after the dialogue, in KISS framing. */
static void
test_kiss_after_init(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;

	rig_init(&r, load_prof("[air]\nrate = 1200\nmtu = 128\n"
	    "[modem]\nframing = kiss\nkeying = inband\n"
	    "[init]\ntimeout = 2s\nsend = KISS ON\\r\nexpect = OK\n"),
	    DRV_FRAMING_PROFILE);
	f = (struct fake *)r.d;
	drv_open(r.d);
	assert_int_equal(drv_state(r.d), DRV_S_DIALING);
	assert_string_equal(buf_cstr(&f->wire), "KISS ON\r");
	drv__input(r.d, (const uint8_t *)"KISS ON\r\nOK\r\n", 14);
	assert_int_equal(drv_state(r.d), DRV_S_UP);
	assert_true(f->wire.len > 8);
	assert_int_equal(f->wire.data[8], 0xC0);
	assert_int_equal(f->wire.data[9], KISS_CMD_TXDELAY);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_hayes_dialogue(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;

	rig_init(&r, load_named("hayes-at-9600"), DRV_FRAMING_RAW);
	f = (struct fake *)r.d;
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_state(r.d), DRV_S_DIALING);
	assert_int_equal(f->wire.len, 4);
	assert_memory_equal(f->wire.data, "ATZ\r", 4);
	assert_int_equal(drv_write(r.d, "x", 1), GW_ESTATE);
	drv__input(r.d, (const uint8_t *)"ATZ\r\r\nOK\r\n", 10);
	drv__input(r.d, (const uint8_t *)"\r\nOK\r\n", 6);
	assert_int_equal(drv_state(r.d), DRV_S_DIALING);
	assert_true(strstr(buf_cstr(&f->wire), "ATDT5551234\r") != NULL);
	drv__input(r.d, (const uint8_t *)"\r\nCONNECT 2400\r\n", 16);
	assert_int_equal(drv_state(r.d), DRV_S_UP);
	assert_int_equal(drv_caps(r.d)->rate_bps, 2400);
	assert_int_equal(drv_high_water(r.d), 512); /* the MTU exceeds 1 s */
	/* Data flows raw; the modem's in-band NO CARRIER drops the link. */
	drv__input(r.d, (const uint8_t *)"payload", 7);
	assert_int_equal(r.o.data.len, 7);
	drv__input(r.d, (const uint8_t *)"\r\nNO CAR", 8);
	drv__input(r.d, (const uint8_t *)"RIER\r\n", 6);
	assert_int_equal(drv_state(r.d), DRV_S_CARRIER_LOST);
	assert_int_equal(f->releases, 1);
	/* No reconnect configured: stays down until the owner opens. */
	run_until(r.d, &r.clk, r.clk.now_ms + 60000);
	assert_int_equal(drv_state(r.d), DRV_S_CARRIER_LOST);
	assert_int_equal(drv_open(r.d), 0);
	assert_int_equal(drv_state(r.d), DRV_S_DIALING);
	assert_int_equal(f->opens, 2);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_dial_busy_and_backoff(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, load_named("hayes-at-9600"), DRV_FRAMING_RAW);
	r.cfg.reconnect_min_ms = 1000;
	r.cfg.reconnect_max_ms = 4000;
	assert_int_equal(drv_open(r.d), 0);
	/* Each attempt: init OK OK, then BUSY. */
	for (int attempt = 0; attempt < 5; attempt++) {
		assert_int_equal(drv_state(r.d), DRV_S_DIALING);
		drv__input(r.d, (const uint8_t *)"OK\r\nOK\r\n", 8);
		drv__input(r.d, (const uint8_t *)"BUSY\r\n", 6);
		assert_int_equal(drv_state(r.d), DRV_S_CARRIER_LOST);
		run_until(r.d, &r.clk, drv_next_deadline_ms(r.d));
	}
	/* OPENING times: backoff 1 s, 2 s, 4 s, 4 s (capped). */
	int64_t gaps[4];
	int k = 0;
	for (int i = 1; i < r.o.nstates && k < 4; i++)
		if (r.o.states[i] == DRV_S_OPENING &&
		    r.o.states[i - 1] == DRV_S_CARRIER_LOST) {
			int64_t prev = 0;
			for (int j = i - 1; j >= 0; j--)
				if (r.o.states[j] == DRV_S_CARRIER_LOST) {
					prev = r.o.state_at[j];
					break;
				}
			gaps[k++] = r.o.state_at[i] - prev;
		}
	assert_int_equal(k, 4);
	assert_int_equal(gaps[0], 1000);
	assert_int_equal(gaps[1], 2000);
	assert_int_equal(gaps[2], 4000);
	assert_int_equal(gaps[3], 4000);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_dialogue_timeout_and_open_timeout(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, load_named("hayes-at-9600"), DRV_FRAMING_RAW);
	assert_int_equal(drv_open(r.d), 0);
	int64_t t0 = r.clk.now_ms;
	run_until(r.d, &r.clk, t0 + 1999);
	assert_int_equal(drv_state(r.d), DRV_S_DIALING);
	run_until(r.d, &r.clk, t0 + 2000);
	assert_int_equal(drv_state(r.d), DRV_S_ERROR);
	assert_int_equal(r.o.errs[r.o.nstates - 1], GW_ETIMEDOUT);
	rig_close(&r);
	rig_fini(&r);

	/* A device that never comes up: the open deadline. */
	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	r.cfg.open_timeout_ms = 700;
	fake_auto_up = false;
	assert_int_equal(drv_open(r.d), 0);
	t0 = r.clk.now_ms;
	run_until(r.d, &r.clk, t0 + 699);
	assert_int_equal(drv_state(r.d), DRV_S_OPENING);
	run_until(r.d, &r.clk, t0 + 700);
	assert_int_equal(drv_state(r.d), DRV_S_ERROR);
	assert_int_equal(r.o.errs[r.o.nstates - 1], GW_ETIMEDOUT);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_hangup_at_close(void **state)
{
	(void)state;
	struct rig r;
	struct fake *f;

	rig_init(&r, load_named("hayes-at-9600"), DRV_FRAMING_RAW);
	f = (struct fake *)r.d;
	drv_open(r.d);
	/* Both dialogues and the first data bytes in one read. */
	drv__input(r.d, (const uint8_t *)"OK\r\nOK\r\nCONNECT 9600\r\nhi",
	    24);
	assert_int_equal(drv_state(r.d), DRV_S_UP);
	assert_int_equal(r.o.data.len, 2);
	assert_memory_equal(r.o.data.data, "hi", 2);
	buf_reset(&f->wire);
	int n0 = r.o.nstates;
	drv_close(r.d, on_closed, &r.o);
	/* pause 1 s, "+++", pause 1 s, expect OK */
	run_until(r.d, &r.clk, r.clk.now_ms + 999);
	assert_int_equal(f->wire.len, 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 1);
	assert_string_equal(buf_cstr(&f->wire), "+++");
	run_until(r.d, &r.clk, r.clk.now_ms + 1000);
	drv__input(r.d, (const uint8_t *)"\r\nOK\r\n", 6);
	assert_string_equal(buf_cstr(&f->wire), "+++ATH0\r");
	assert_false(r.o.closed);
	drv__input(r.d, (const uint8_t *)"\r\nOK\r\n", 6);
	assert_true(r.o.closed); /* freed: do not touch r.d again */
	assert_int_equal(r.o.nstates, n0); /* no events after close */
	owner_fini(&r.o);
}

/* Keying by RTS: the transmitter is keyed when bytes go to the modem and
 * released once their airtime has passed. */
static void
test_ptt_keying(void **state)
{
	(void)state;
	struct rig r;
	uint8_t frame[60];

	rig_init(&r, load_prof("[air]\nrate = 2400\nmtu = 64\n"
	    "[modem]\nkeying = rts\n"), DRV_FRAMING_RAW);
	fake_ptt = false;
	fake_ptt_changes = 0;
	drv_open(r.d);
	assert_false(fake_ptt);
	memset(frame, 7, sizeof(frame));
	int64_t t0 = r.clk.now_ms;
	assert_int_equal(drv_write(r.d, frame, sizeof(frame)), 0);
	assert_true(fake_ptt);
	/* 60 bytes at 300 bytes/s: 200 ms on air. */
	run_until(r.d, &r.clk, t0 + 199);
	assert_true(fake_ptt);
	run_until(r.d, &r.clk, t0 + 200);
	assert_false(fake_ptt);
	assert_int_equal(fake_ptt_changes, 2);
	rig_close(&r);
	rig_fini(&r);

	/* Without keying in the profile the lines are left alone. */
	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_RAW);
	fake_ptt_changes = 0;
	drv_open(r.d);
	assert_int_equal(drv_write(r.d, frame, sizeof(frame)), 0);
	run_until(r.d, &r.clk, r.clk.now_ms + 1000);
	assert_int_equal(fake_ptt_changes, 0);
	rig_close(&r);
	rig_fini(&r);
}

static void
test_quirks(void **state)
{
	(void)state;
	struct rig r;
	struct drv *d = NULL;

	/* A 7-bit data path cannot carry SYNC or KISS frames. */
	rig_init(&r, load_prof("[air]\nrate = 1200\nmtu = 64\n"
	    "[quirks]\nseven_bit = yes\nhangup_by_dtr = yes\n"),
	    DRV_FRAMING_RAW);
	r.cfg.framing = DRV_FRAMING_SYNC;
	assert_int_equal(drv_create(&r.reg, "fake", &r.cfg, &r.env, on_event,
	    &r.o, &d), GW_ECONFIG);
	assert_null(d);
	/* Hang-up by DTR: dropped at close, held a second, no dialogue. */
	drv_open(r.d);
	fake_dtr = -1;
	int64_t t0 = r.clk.now_ms;
	drv_close(r.d, on_closed, &r.o);
	assert_int_equal(fake_dtr, 0);
	assert_false(r.o.closed);
	while (!r.o.closed) {
		clk_virtual_set(&r.clk, drv_next_deadline_ms(r.d));
		drv_tick(r.d);
	}
	assert_int_equal(r.clk.now_ms - t0, 1000);
	owner_fini(&r.o);
}

static void
test_close_inside_callback(void **state)
{
	(void)state;
	struct rig r;
	struct buf in = BUF_INIT;

	rig_init(&r, load_prof(plain_2400), DRV_FRAMING_SYNC);
	drv_open(r.d);
	framing_encode(&in, "a", 1);
	framing_encode(&in, "b", 1);
	r.o.close_in_cb = true;
	/* The fake closes synchronously: the core must not free while the
	 * input call is on the stack, and must stop delivering frames. */
	drv__input(r.d, in.data, in.len);
	assert_int_equal(r.o.nframes, 1);
	buf_fini(&in);
	owner_fini(&r.o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_and_create),
		cmocka_unit_test(test_budget_and_pacing),
		cmocka_unit_test(test_flow_control_stall),
		cmocka_unit_test(test_slowest_rate_no_spin),
		cmocka_unit_test(test_writable_means_it_fits),
		cmocka_unit_test(test_no_false_stall),
		cmocka_unit_test(test_big_frame_when_empty),
		cmocka_unit_test(test_sync_frames_both_ways),
		cmocka_unit_test(test_kiss_profile),
		cmocka_unit_test(test_kiss_after_init),
		cmocka_unit_test(test_hayes_dialogue),
		cmocka_unit_test(test_dial_busy_and_backoff),
		cmocka_unit_test(test_dialogue_timeout_and_open_timeout),
		cmocka_unit_test(test_hangup_at_close),
		cmocka_unit_test(test_ptt_keying),
		cmocka_unit_test(test_quirks),
		cmocka_unit_test(test_close_inside_callback),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	buf_fini(&closed_wire);
	return rc;
}
