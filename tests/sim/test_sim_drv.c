/* The "sim" driver class: link-drivers' driver core over hw-sim's modems
 * on a virtual clock. Raw bytes with airtime and carrier detect, an AT
 * modem dialled by the profile's dialogue (CONNECT, NO CARRIER in an
 * outage), KISS frames through a TNC, and SYNC framing over a noisy
 * channel (frames arrive intact or not at all). */
#include "tests/lib/testutil.h"

#include "hw-sim/sim_drv.h"
#include "hw-sim/sim_rng.h"
#include "link-drivers/drv.h"
#include "firmware-profiles/profile.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed;

struct side {
	struct drv *d;
	struct drv_config cfg;
	enum drv_state state;
	uint32_t up_rate;
	struct buf data;        /* RAW bytes received */
	int64_t last_data_at;
	int frames;
	struct buf frame_bytes; /* concatenated frames received */
	int carrier_on, carrier_off;
	int lost;
	bool closed;
	const struct gw_clock *clock;
};

struct rig {
	struct prof prof;
	struct clk_virtual vc;
	struct drv_registry reg;
	struct drv_env env;
	struct sim_hub *hub;
	struct side s[2];
};

static void
on_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct side *s = arg;
	(void)d;
	switch (ev->type) {
	case DRV_EV_STATE:
		s->state = ev->state;
		if (ev->state == DRV_S_UP)
			s->up_rate = ev->rate_bps;
		if (ev->state == DRV_S_CARRIER_LOST)
			s->lost++;
		break;
	case DRV_EV_DATA:
		buf_append(&s->data, ev->data, ev->len);
		s->last_data_at = clk_mono_ms(s->clock);
		break;
	case DRV_EV_FRAME:
		s->frames++;
		buf_append(&s->frame_bytes, ev->data, ev->len);
		break;
	case DRV_EV_CARRIER:
		if (ev->carrier)
			s->carrier_on++;
		else
			s->carrier_off++;
		break;
	default:
		break;
	}
}

static void
rig_init(struct rig *r, const char *profile, const char *outages,
    double ber)
{
	char err[700];
	struct sim_channel_params cp;

	memset(r, 0, sizeof(*r));
	gw_log_set_stderr(false);
	if (prof_load_named(profile, NULL, &r->prof, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	clk_virtual_init(&r->vc, 1000, 1800000000);
	sim_channel_params_from_prof(&cp, &r->prof, seed);
	if (outages)
		assert_int_equal(sim_channel_parse_outages(&cp, outages), 0);
	if (ber >= 0)
		cp.ber = ber;
	r->hub = sim_hub_new(&r->prof, &cp, 1, NULL, &r->vc.base);
	drv_registry_init(&r->reg);
	assert_int_equal(sim_hub_register(r->hub, &r->reg), 0);
	r->env.loop = NULL;
	r->env.clock = &r->vc.base;
	for (int i = 0; i < 2; i++) {
		buf_init(&r->s[i].data);
		buf_init(&r->s[i].frame_bytes);
		r->s[i].clock = &r->vc.base;
	}
}

static void
side_create(struct rig *r, int i, enum drv_framing framing,
    const char *number)
{
	struct side *s = &r->s[i];

	s->cfg.prof = &r->prof;
	s->cfg.device = i == 0 ? "a0" : "b0";
	s->cfg.dial_number = number;
	s->cfg.framing = framing;
	assert_int_equal(drv_create(&r->reg, "sim", &s->cfg, &r->env,
	    on_event, s, &s->d), 0);
	assert_int_equal(drv_open(s->d), 0);
}

static int64_t
now(struct rig *r)
{
	return clk_mono_ms(&r->vc.base);
}

/* Run the hub and the drivers to `until`, deadline by deadline. */
static void
run_to(struct rig *r, int64_t until)
{
	for (int guard = 0; guard < 10000000; guard++) {
		int64_t t = sim_hub_advance(r->hub);
		for (int i = 0; i < 2; i++) {
			if (r->s[i].d == NULL || r->s[i].closed)
				continue;
			/* a driver is ticked at its deadlines only, as its
			 * own timer would */
			if (drv_next_deadline_ms(r->s[i].d) <= now(r))
				drv_tick(r->s[i].d);
			int64_t dt = drv_next_deadline_ms(r->s[i].d);
			if (dt < t)
				t = dt;
		}
		int64_t h = sim_hub_next_deadline(r->hub);
		if (h < t)
			t = h;
		if (t <= now(r))
			t = now(r) + 1; /* nothing can happen without time */
		if (t > until) {
			clk_virtual_set(&r->vc, until);
			sim_hub_advance(r->hub);
			return;
		}
		clk_virtual_set(&r->vc, t);
	}
	fail_msg("run_to did not converge");
}

static void
closed_cb(struct drv *d, void *arg)
{
	struct side *s = arg;
	(void)d;
	s->closed = true;
}

static void
rig_fini(struct rig *r)
{
	for (int i = 0; i < 2; i++) {
		if (r->s[i].d != NULL) {
			drv_close(r->s[i].d, closed_cb, &r->s[i]);
			run_to(r, now(r) + 30000);
			assert_true(r->s[i].closed);
		}
		buf_fini(&r->s[i].data);
		buf_fini(&r->s[i].frame_bytes);
	}
	sim_hub_free(r->hub);
	prof_free(&r->prof);
}

/* Write all of p through the driver's airtime budget. */
static void
write_paced(struct rig *r, int i, const uint8_t *p, size_t n, size_t chunk)
{
	size_t off = 0;
	int64_t deadline = now(r) + 3600000;

	while (off < n) {
		size_t k = n - off < chunk ? n - off : chunk;
		int rc = drv_write(r->s[i].d, p + off, k);
		if (rc == 0) {
			off += k;
			continue;
		}
		assert_int_equal(rc, GW_EAGAIN);
		run_to(r, now(r) + 50);
		assert_true(now(r) < deadline);
	}
}

static void
test_raw_airtime_and_carrier(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "hf-2400-hd", NULL, -1);
	side_create(&r, 0, DRV_FRAMING_RAW, NULL);
	side_create(&r, 1, DRV_FRAMING_RAW, NULL);
	run_to(&r, now(&r) + 10);
	assert_int_equal(r.s[0].state, DRV_S_UP);
	assert_int_equal(r.s[1].state, DRV_S_UP);
	assert_int_equal(r.s[0].up_rate, 2400);

	size_t n = 1200; /* 4 s of air */
	uint8_t *d = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(i * 13);
	int64_t t0 = now(&r);
	write_paced(&r, 0, d, n, 100);
	run_to(&r, t0 + 20000);
	assert_int_equal(r.s[1].data.len, n);
	assert_memory_equal(r.s[1].data.data, d, n);
	/* the pacer feeds the modem just in time: about 4 s in all */
	int64_t took = r.s[1].last_data_at - t0;
	{
		const struct sim_channel_stats *c0 = sim_channel_stats(
		    sim_link_channel(sim_hub_link(r.hub, 0)));
		printf("raw: 1200 bytes in %lld ms, %llu transmissions, "
		    "%lld ms on air\n", (long long)took,
		    (unsigned long long)c0->side[0].transmissions,
		    (long long)c0->side[0].airtime_ms);
	}
	assert_true(took >= 4000 && took <= 4400);
	/* B's modem raised DCD while A transmitted (perhaps several times
	 * if the pacer left gaps), and dropped it after */
	assert_true(r.s[1].carrier_on >= 1);
	assert_int_equal(r.s[1].carrier_on, r.s[1].carrier_off);
	assert_int_equal(r.s[0].carrier_on, 0);

	/* B answers: a change of direction costs the 2 s turnaround */
	int64_t t1 = now(&r);
	assert_int_equal(drv_write(r.s[1].d, "ok", 2), 0);
	run_to(&r, t1 + 10000);
	assert_int_equal(r.s[0].data.len, 2);
	assert_true(r.s[0].last_data_at - t1 >= 7);
	const struct sim_channel_stats *cs = sim_channel_stats(
	    sim_link_channel(sim_hub_link(r.hub, 0)));
	assert_int_equal(cs->turnarounds, 1);
	free(d);
	rig_fini(&r);
}

static void
test_at_dial_and_no_carrier(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "hayes-at-9600", "60s+20s", -1);
	side_create(&r, 0, DRV_FRAMING_RAW, "5551234");
	run_to(&r, now(&r) + 100);
	assert_int_equal(r.s[0].state, DRV_S_DIALING);
	run_to(&r, now(&r) + 5000);
	assert_int_equal(r.s[0].state, DRV_S_UP);
	assert_int_equal(r.s[0].up_rate, 9600);
	/* the far modem (no driver on it) rang and connected */
	struct sim_modem *b = sim_link_modem(sim_hub_link(r.hub, 0), 1);
	char tmp[256];
	size_t k = sim_modem_host_read(b, tmp, sizeof(tmp) - 1);
	tmp[k] = '\0';
	assert_non_null(strstr(tmp, "RING"));
	assert_non_null(strstr(tmp, "CONNECT 9600"));
	assert_int_equal(sim_modem_state(b), SIM_MODEM_ONLINE);
	/* data to the far host */
	assert_int_equal(drv_write(r.s[0].d, "payload", 7), 0);
	run_to(&r, now(&r) + 1000);
	k = sim_modem_host_read(b, tmp, sizeof(tmp) - 1);
	tmp[k] = '\0';
	assert_string_equal(tmp, "payload");
	/* and back */
	assert_int_equal(sim_modem_host_write(b, now(&r), "reply", 5), 5);
	run_to(&r, now(&r) + 1000);
	assert_int_equal(r.s[0].data.len, 5);
	assert_memory_equal(r.s[0].data.data, "reply", 5);
	/* the outage at 60 s drops the call: NO CARRIER -> CARRIER_LOST */
	run_to(&r, 1000 + 59000);
	assert_int_equal(r.s[0].state, DRV_S_UP);
	run_to(&r, 1000 + 62000);
	assert_int_equal(r.s[0].state, DRV_S_CARRIER_LOST);
	assert_int_equal(r.s[0].lost, 1);
	rig_fini(&r);
}

static void
test_kiss_frames(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "kiss-tnc-1200", NULL, -1);
	side_create(&r, 0, DRV_FRAMING_PROFILE, NULL);
	side_create(&r, 1, DRV_FRAMING_PROFILE, NULL);
	run_to(&r, now(&r) + 100);
	assert_int_equal(r.s[0].state, DRV_S_UP);
	/* the driver sent the profile's KISS parameters to the TNC */
	struct sim_modem *a = sim_link_modem(sim_hub_link(r.hub, 0), 0);
	assert_int_equal(sim_modem_stats(a)->kiss_params, 5);
	assert_int_equal(sim_modem_keyup_ms(a), 300);
	const char *msgs[] = { "first frame", "second \xc0 with FEND",
		"third \xdb with FESC" };
	for (int i = 0; i < 3; i++)
		write_paced(&r, 0, (const uint8_t *)msgs[i], strlen(msgs[i]),
		    strlen(msgs[i]));
	run_to(&r, now(&r) + 30000);
	assert_int_equal(r.s[1].frames, 3);
	struct buf want = BUF_INIT;
	for (int i = 0; i < 3; i++)
		buf_append_str(&want, msgs[i]);
	assert_int_equal(r.s[1].frame_bytes.len, want.len);
	assert_memory_equal(r.s[1].frame_bytes.data, want.data, want.len);
	buf_fini(&want);
	rig_fini(&r);
}

static void
test_sync_frames_over_noise(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "los-19200", NULL, 2e-4);
	side_create(&r, 0, DRV_FRAMING_SYNC, NULL);
	side_create(&r, 1, DRV_FRAMING_SYNC, NULL);
	run_to(&r, now(&r) + 10);
	int sent = 200;
	uint8_t f[200];
	for (int i = 0; i < sent; i++) {
		memset(f, (uint8_t)i, sizeof(f));
		write_paced(&r, 0, f, sizeof(f), sizeof(f));
	}
	run_to(&r, now(&r) + 60000);
	struct drv_stats st;
	drv_get_stats(r.s[1].d, &st);
	printf("sync: %d of %d frames intact, %llu bad, %llu garbage bytes "
	    "(seed %llu)\n", r.s[1].frames, sent,
	    (unsigned long long)st.bad_frames,
	    (unsigned long long)st.garbage_bytes, (unsigned long long)seed);
	/* p(frame intact) ~ (1 - 2e-4)^(8 * ~210) ~ 0.71 */
	assert_true(r.s[1].frames > sent / 2 && r.s[1].frames < sent);
	assert_true(st.bad_frames + st.garbage_bytes > 0);
	/* every delivered frame is one of ours, intact, in order */
	assert_int_equal(r.s[1].frame_bytes.len, (size_t)r.s[1].frames * 200);
	int last = -1;
	for (int k = 0; k < r.s[1].frames; k++) {
		const uint8_t *p = r.s[1].frame_bytes.data + k * 200;
		for (int j = 1; j < 200; j++)
			assert_int_equal(p[j], p[0]);
		assert_true((int)p[0] > last);
		last = p[0];
	}
	rig_fini(&r);
}

static void
test_devices(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "los-19200", NULL, -1);
	struct drv *d;
	struct drv_config cfg = { 0 };
	struct side s = { 0 };
	s.clock = &r.vc.base;
	cfg.prof = &r.prof;
	cfg.device = "c0";
	assert_int_equal(drv_create(&r.reg, "sim", &cfg, &r.env, on_event, &s,
	    &d), GW_ECONFIG);
	cfg.device = "a99";
	assert_int_equal(drv_create(&r.reg, "sim", &cfg, &r.env, on_event, &s,
	    &d), GW_ECONFIG);
	/* a link the hub does not have: the open fails */
	cfg.device = "a3";
	assert_int_equal(drv_create(&r.reg, "sim", &cfg, &r.env, on_event, &s,
	    &d), 0);
	assert_int_equal(drv_open(d), 0);
	assert_int_equal(s.state, DRV_S_ERROR);
	drv_close(d, closed_cb, &s);
	run_to(&r, now(&r) + 10);
	assert_true(s.closed);
	/* one driver per end */
	side_create(&r, 0, DRV_FRAMING_RAW, NULL);
	struct side s2 = { 0 };
	s2.clock = &r.vc.base;
	cfg.device = "a0";
	assert_int_equal(drv_create(&r.reg, "sim", &cfg, &r.env, on_event, &s2,
	    &d), 0);
	assert_int_equal(drv_open(d), 0);
	assert_int_equal(s2.state, DRV_S_ERROR);
	drv_close(d, closed_cb, &s2);
	run_to(&r, now(&r) + 10);
	assert_int_equal(r.s[0].state, DRV_S_UP);
	rig_fini(&r);
}

/* Half duplex: A sends frames as its budget allows (on WRITABLE), B
 * echoes each frame it gets; every frame comes back intact, the turns
 * cost turnarounds. */
struct echo_rig {
	struct rig *r;
	struct buf sent[64];
	int target, nsent, nrecv;
};

static void
echo_fill(struct echo_rig *e, struct sim_rng *rng)
{
	struct drv *a = e->r->s[0].d;

	while (drv_state(a) == DRV_S_UP && e->nsent < e->target) {
		struct buf *b = &e->sent[e->nsent];
		if (b->data == NULL) {
			size_t n = 1 + sim_rng_next(rng) % 200;
			for (size_t i = 0; i < n; i++)
				buf_append_byte(b, (uint8_t)sim_rng_next(rng));
		}
		if (drv_write(a, b->data, b->len) != 0)
			break;
		e->nsent++;
	}
}

static void
test_half_duplex_echo(void **state)
{
	(void)state;
	struct rig r;
	struct echo_rig e = { 0 };
	struct sim_rng rng;

	sim_rng_seed(&rng, seed, 5);
	rig_init(&r, "hf-2400-hd", NULL, -1);
	e.r = &r;
	e.target = 12;
	side_create(&r, 0, DRV_FRAMING_SYNC, NULL);
	side_create(&r, 1, DRV_FRAMING_SYNC, NULL);
	run_to(&r, now(&r) + 10);
	int64_t t0 = now(&r);
	/* drive: A refills whenever it may; B echoes what it got */
	int b_seen = 0;
	size_t b_off = 0;
	while (now(&r) - t0 < 600000 && r.s[0].frames < e.target) {
		echo_fill(&e, &rng);
		while (b_seen < r.s[1].frames) {
			/* frames are concatenated in frame_bytes; sizes from
			 * what A sent, in order */
			size_t n = e.sent[b_seen].len;
			if (drv_write(r.s[1].d, r.s[1].frame_bytes.data + b_off,
			    n) != 0)
				break;
			b_off += n;
			b_seen++;
		}
		run_to(&r, now(&r) + 100);
	}
	const struct sim_channel_stats *cs = sim_channel_stats(
	    sim_link_channel(sim_hub_link(r.hub, 0)));
	printf("half-duplex echo: %d of %d frames back in %lld ms, "
	    "%llu turnarounds (seed %llu)\n", r.s[0].frames, e.target,
	    (long long)(now(&r) - t0), (unsigned long long)cs->turnarounds,
	    (unsigned long long)seed);
	assert_int_equal(r.s[1].frames, e.target);
	assert_int_equal(r.s[0].frames, e.target);
	size_t off = 0;
	for (int i = 0; i < e.target; i++) {
		assert_memory_equal(r.s[0].frame_bytes.data + off,
		    e.sent[i].data, e.sent[i].len);
		off += e.sent[i].len;
		buf_fini(&e.sent[i]);
	}
	assert_true(cs->turnarounds >= 1);
	rig_fini(&r);
}

/* The hub on a real libuv loop: it arms its own timer. */
static void
test_real_time(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct prof prof;
	char err[700];
	struct sim_channel_params cp;
	struct drv_registry reg;
	struct drv_env env = { &loop, clk_system() };
	struct side s[2];
	const char *dev[2] = { "a0", "b0" };

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(prof_load_named("los-19200", NULL, &prof, err,
	    sizeof(err)), 0);
	sim_channel_params_from_prof(&cp, &prof, seed);
	struct sim_hub *hub = sim_hub_new(&prof, &cp, 1, &loop, clk_system());
	drv_registry_init(&reg);
	assert_int_equal(sim_hub_register(hub, &reg), 0);
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		buf_init(&s[i].data);
		buf_init(&s[i].frame_bytes);
		s[i].clock = clk_system();
		s[i].cfg.prof = &prof;
		s[i].cfg.device = dev[i];
		s[i].cfg.framing = DRV_FRAMING_RAW;
		assert_int_equal(drv_create(&reg, "sim", &s[i].cfg, &env,
		    on_event, &s[i], &s[i].d), 0);
		assert_int_equal(drv_open(s[i].d), 0);
		assert_int_equal(s[i].state, DRV_S_UP);
	}
	/* 240 bytes at 19200 bit/s: 100 ms of air */
	uint8_t d[240];
	memset(d, 0x5a, sizeof(d));
	int64_t t0 = clk_mono_ms(clk_system());
	assert_int_equal(drv_write(s[0].d, d, sizeof(d)), 0);
	while (s[1].data.len < sizeof(d) &&
	    clk_mono_ms(clk_system()) - t0 < 5000)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(s[1].data.len, sizeof(d));
	int64_t took = s[1].last_data_at - t0;
	printf("real time: 240 bytes in %lld ms\n", (long long)took);
	assert_true(took >= 95 && took < 600);
	for (int i = 0; i < 2; i++)
		drv_close(s[i].d, closed_cb, &s[i]);
	while (!s[0].closed || !s[1].closed)
		uv_run(&loop, UV_RUN_ONCE);
	sim_hub_free(hub);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (int i = 0; i < 2; i++) {
		buf_fini(&s[i].data);
		buf_fini(&s[i].frame_bytes);
	}
	prof_free(&prof);
}

int
main(void)
{
	seed = tu_seed("test_sim_drv");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw_airtime_and_carrier),
		cmocka_unit_test(test_at_dial_and_no_carrier),
		cmocka_unit_test(test_kiss_frames),
		cmocka_unit_test(test_sync_frames_over_noise),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_half_duplex_echo),
		cmocka_unit_test(test_real_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
