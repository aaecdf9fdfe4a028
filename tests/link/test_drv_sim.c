/* Drivers over skywave-sim's pseudo-terminals, with a real process on each
 * end: our driver on a0, link_echo (or nothing) on b0, the simulator's
 * channel and modem emulation in between, in real time.
 *
 * skywave-sim is looked up as $SKYWAVE_SIM, this build's skywave-sim, then
 * $SKYWAVE_BUILD/hw-sim/skywave-sim, then any $SKYWAVE_SRC/build-* tree;
 * the tests skip when it has not been built. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "link-drivers/drv.h"
#include "link-drivers/serial.h"

#include <errno.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 2685821657736338717ULL;
}

static bool
find_sim(char *out, size_t len)
{
	const char *e = getenv("SKYWAVE_SIM");
	const char *b = getenv("SKYWAVE_BUILD");
	const char *s = getenv("SKYWAVE_SRC");
	char pat[1024];
	glob_t g;
	bool found = false;

	if (e != NULL && access(e, X_OK) == 0) {
		snprintf(out, len, "%s", e);
		return true;
	}
#ifdef SKYWAVE_SIM_PATH
	if (access(SKYWAVE_SIM_PATH, X_OK) == 0) {
		snprintf(out, len, "%s", SKYWAVE_SIM_PATH);
		return true;
	}
#endif
	if (b != NULL) {
		snprintf(out, len, "%s/hw-sim/skywave-sim", b);
		if (access(out, X_OK) == 0)
			return true;
	}
	if (s == NULL)
		return false;
	snprintf(pat, sizeof(pat), "%s/build-*/hw-sim/skywave-sim", s);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc && !found; i++) {
			if (access(g.gl_pathv[i], X_OK) == 0) {
				snprintf(out, len, "%s", g.gl_pathv[i]);
				found = true;
			}
		}
		globfree(&g);
	}
	return found;
}

static pid_t
spawn(char *const argv[], int *out_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Dies with the test, even when a failed assertion skips
		 * the cleanup. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		/* The simulator's own leak report is not ours to judge. */
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static bool
wait_line(int fd, const char *want, int timeout_ms)
{
	char line[256];
	size_t n = 0;
	int64_t end = clk_mono_ms(clk_system()) + timeout_ms;

	while (clk_mono_ms(clk_system()) < end) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		char c;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(fd, &c, 1) != 1)
			return false;
		if (c != '\n') {
			if (n + 1 < sizeof(line))
				line[n++] = c;
			continue;
		}
		line[n] = '\0';
		if (strncmp(line, want, strlen(want)) == 0)
			return true;
		n = 0;
	}
	return false;
}

struct simrig {
	char dir[512], a[600], b[600], prof_path[600];
	pid_t sim;
	int sim_out;
};

static bool
sim_start(struct simrig *r, const char *profile_text, const char *profile,
    char *const extra[])
{
	char simbin[1024];
	char *argv[24];
	int n = 0;
	char *d;

	if (!find_sim(simbin, sizeof(simbin)))
		return false;
	d = tu_mkdtemp("sim");
	snprintf(r->dir, sizeof(r->dir), "%s", d);
	free(d);
	snprintf(r->a, sizeof(r->a), "%s/a0", r->dir);
	snprintf(r->b, sizeof(r->b), "%s/b0", r->dir);
	if (profile_text != NULL) {
		snprintf(r->prof_path, sizeof(r->prof_path), "%s/t.profile",
		    r->dir);
		assert_int_equal(tu_write_file(r->prof_path, profile_text), 0);
	} else {
		char *p = tu_src_path(profile);
		snprintf(r->prof_path, sizeof(r->prof_path), "%s", p);
		free(p);
	}
	static char o_prof[] = "--profile", o_dir[] = "--dir",
		    o_seed[] = "--seed", seed[] = "7";
	argv[n++] = simbin;
	argv[n++] = o_prof;
	argv[n++] = r->prof_path;
	argv[n++] = o_dir;
	argv[n++] = r->dir;
	argv[n++] = o_seed;
	argv[n++] = seed;
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 22; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	r->sim = spawn(argv, &r->sim_out);
	/* It prints the device paths once they exist. */
	if (!wait_line(r->sim_out, "/dev/", 10000))
		fail_msg("skywave-sim did not start");
	for (int i = 0; i < 250; i++) {
		struct stat st;
		if (stat(r->a, &st) == 0 && stat(r->b, &st) == 0)
			break;
		usleep(20000);
	}
	assert_true(serial_is_pty(r->a));
	return true;
}

static void
sim_stop(struct simrig *r)
{
	int st;

	kill(r->sim, SIGTERM);
	waitpid(r->sim, &st, 0);
	close(r->sim_out);
	tu_rmtree(r->dir);
}

/* ---- session ------------------------------------------------------------- */

struct sess {
	uv_loop_t loop;
	uv_timer_t guard;
	struct drv_registry reg;
	struct drv_env env;
	struct drv_config cfg;
	struct prof prof;
	struct drv *d;
	struct buf sent[64];
	int target, nsent, nrecv;
	int ups, carrier_lost, errors;
	enum drv_state stop_on;
	uint32_t up_rate;
	bool closed, timed_out;
	int64_t buffered_ms_max;
};

static void
fill(struct sess *s)
{
	while (drv_state(s->d) == DRV_S_UP && s->nsent < s->target) {
		struct buf *b = &s->sent[s->nsent];
		if (b->data == NULL) {
			size_t n = 1 + rng() % 200;
			buf_init(b);
			for (size_t i = 0; i < n; i++)
				buf_append_byte(b, (uint8_t)rng());
		}
		if (drv_write(s->d, b->data, b->len) != 0)
			break;
		s->nsent++;
		if (drv_buffered_ms(s->d) > s->buffered_ms_max)
			s->buffered_ms_max = drv_buffered_ms(s->d);
	}
}

static void
on_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct sess *s = arg;

	(void)d;
	switch (ev->type) {
	case DRV_EV_STATE:
		if (ev->state == DRV_S_UP) {
			s->ups++;
			s->up_rate = ev->rate_bps;
			fill(s);
		}
		if (ev->state == DRV_S_CARRIER_LOST)
			s->carrier_lost++;
		if (ev->state == DRV_S_ERROR)
			s->errors++;
		if (ev->state == DRV_S_ERROR || ev->state == DRV_S_CARRIER_LOST)
			s->nsent = s->nrecv;
		if (ev->state == s->stop_on)
			uv_stop(&s->loop);
		break;
	case DRV_EV_FRAME:
		assert_true(s->nrecv < s->nsent);
		assert_int_equal(ev->len, s->sent[s->nrecv].len);
		assert_memory_equal(ev->data, s->sent[s->nrecv].data, ev->len);
		if (++s->nrecv == s->target)
			uv_stop(&s->loop);
		break;
	case DRV_EV_WRITABLE:
		fill(s);
		break;
	default:
		break;
	}
}

static void
guard_cb(uv_timer_t *t)
{
	struct sess *s = t->data;

	s->timed_out = true;
	uv_stop(&s->loop);
}

static void
closed_cb(struct drv *d, void *arg)
{
	(void)d;
	((struct sess *)arg)->closed = true;
}

static void
sess_init(struct sess *s, const char *prof_path, const char *dev,
    enum drv_framing fr, int target)
{
	char err[512];

	memset(s, 0, sizeof(*s));
	if (getenv("SKYWAVE_TEST_DEBUG"))
		gw_log_set_debug("drv");
	uv_loop_init(&s->loop);
	if (prof_load_file(prof_path, &s->prof, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	drv_registry_init(&s->reg);
	drv_registry_add_builtin(&s->reg);
	s->env.loop = &s->loop;
	s->env.clock = clk_system();
	s->cfg.prof = &s->prof;
	s->cfg.device = dev;
	s->cfg.framing = fr;
	s->cfg.dial_number = "5551234";
	s->target = target;
	s->stop_on = DRV_S__COUNT;
	assert_int_equal(drv_create(&s->reg, "serial", &s->cfg, &s->env,
	    on_event, s, &s->d), 0);
	uv_timer_init(&s->loop, &s->guard);
	s->guard.data = s;
}

static bool
sess_run(struct sess *s, uint64_t ms)
{
	s->timed_out = false;
	uv_timer_start(&s->guard, guard_cb, ms, 0);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&s->guard);
	return !s->timed_out;
}

static void
sess_fini(struct sess *s)
{
	drv_close(s->d, closed_cb, s);
	uv_close((uv_handle_t *)&s->guard, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	assert_true(s->closed);
	assert_int_equal(uv_loop_close(&s->loop), 0);
	for (size_t i = 0; i < GW_ARRAY_LEN(s->sent); i++)
		buf_fini(&s->sent[i]);
	prof_free(&s->prof);
}

static pid_t
start_echo_fr(const char *dev, const char *prof_path, const char *framing,
    int *out)
{
	char echo[] = LINK_ECHO_PATH, cls[] = "serial", fr[16],
	     secs[] = "60", devb[600], pb[600];

	snprintf(fr, sizeof(fr), "%s", framing);
	snprintf(devb, sizeof(devb), "%s", dev);
	snprintf(pb, sizeof(pb), "%s", prof_path);
	char *argv[] = { echo, cls, devb, pb, fr, secs, NULL };
	pid_t pid = spawn(argv, out);
	if (!wait_line(*out, "ready", 15000))
		fail_msg("link_echo did not come up on %s", dev);
	return pid;
}

static pid_t
start_echo(const char *dev, const char *prof_path, int *out)
{
	return start_echo_fr(dev, prof_path, "sync", out);
}

static void
stop_echo(pid_t pid, int out)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	close(out);
}

/* ---- tests --------------------------------------------------------------- */

static void
test_sim_full_duplex_echo(void **state)
{
	(void)state;
	struct simrig r;
	struct sess s;
	int eo;

	if (!sim_start(&r, "[profile]\nname = t\n[serial]\nbaud = 115200\n"
	    "[air]\nrate = 19200\nduplex = full\nmtu = 256\nmax_tx = 120s\n"
	    "[modem]\nbuffer = 16k\n", NULL, NULL))
		skip();
	rng_state = tu_seed("test_sim_full_duplex_echo") | 1;
	pid_t echo = start_echo(r.b, r.prof_path, &eo);
	sess_init(&s, r.prof_path, r.a, DRV_FRAMING_SYNC, 60);
	drv_open(s.d);
	if (!sess_run(&s, 30000))
		fail_msg("%d of %d frames echoed through skywave-sim",
		    s.nrecv, s.target);
	assert_int_equal(s.nrecv, 60);
	assert_true(s.buffered_ms_max <= 1000 + 150);
	sess_fini(&s);
	stop_echo(echo, eo);
	sim_stop(&r);
}

static void
test_sim_half_duplex_hf(void **state)
{
	(void)state;
	struct simrig r;
	struct sess s;
	int eo;

	/* The hf-2400-hd class with a shorter turnaround to keep the test
	 * short: A's burst, a turn, B's echo. */
	if (!sim_start(&r, "[profile]\nname = t\n[serial]\nbaud = 9600\n"
	    "[air]\nrate = 2400\nduplex = half\nturnaround = 500ms\n"
	    "mtu = 256\nmax_tx = 120s\n[modem]\nbuffer = 16k\n", NULL, NULL))
		skip();
	rng_state = tu_seed("test_sim_half_duplex_hf") | 1;
	pid_t echo = start_echo(r.b, r.prof_path, &eo);
	sess_init(&s, r.prof_path, r.a, DRV_FRAMING_SYNC, 6);
	drv_open(s.d);
	if (!sess_run(&s, 45000)) {
		struct drv_stats st;
		drv_get_stats(s.d, &st);
		fail_msg("%d of %d frames echoed over half duplex (sent %d, "
		    "state %s, out %llu bytes, in %llu, buffered %zu, "
		    "refused %llu)", s.nrecv, s.target, s.nsent,
		    drv_state_name(drv_state(s.d)),
		    (unsigned long long)st.bytes_out,
		    (unsigned long long)st.bytes_in, drv_buffered_bytes(s.d),
		    (unsigned long long)st.refused_writes);
	}
	assert_int_equal(s.nrecv, 6);
	/* About one second of airtime below us at 2400 bit/s. */
	assert_true(s.buffered_ms_max <= 1000 + 900);
	sess_fini(&s);
	stop_echo(echo, eo);
	sim_stop(&r);
}

/* KISS TNCs on both ends (the kiss-tnc-1200 profile): parameters at
 * start, data frames through the simulated TNCs and channel. */
static void
test_sim_kiss_tnc(void **state)
{
	(void)state;
	struct simrig r;
	struct sess s;
	int eo;

	if (!sim_start(&r, NULL, "firmware-profiles/kiss-tnc-1200.profile",
	    NULL))
		skip();
	rng_state = tu_seed("test_sim_kiss_tnc") | 1;
	pid_t echo = start_echo_fr(r.b, r.prof_path, "profile", &eo);
	sess_init(&s, r.prof_path, r.a, DRV_FRAMING_PROFILE, 4);
	drv_open(s.d);
	if (!sess_run(&s, 45000))
		fail_msg("%d of %d KISS frames echoed", s.nrecv, s.target);
	assert_int_equal(s.nrecv, 4);
	sess_fini(&s);
	stop_echo(echo, eo);
	sim_stop(&r);
}

static void
test_sim_hayes_dial_outage_redial(void **state)
{
	(void)state;
	struct simrig r;
	struct sess s;
	static char o_out[] = "--outage", o_val[] = "4s+3s";
	char *extra[] = { o_out, o_val, NULL };

	if (!sim_start(&r, NULL, "firmware-profiles/hayes-at-9600.profile",
	    extra))
		skip();
	sess_init(&s, r.prof_path, r.a, DRV_FRAMING_RAW, 0);
	s.cfg.reconnect_min_ms = 500;
	s.cfg.reconnect_max_ms = 1000;
	s.stop_on = DRV_S_UP;
	drv_open(s.d);
	if (!sess_run(&s, 20000))
		fail_msg("the AT dialogue did not reach UP");
	assert_int_equal(s.up_rate, 9600);
	/* The outage makes the modem say NO CARRIER; the driver redials
	 * until the channel is back. */
	s.stop_on = DRV_S_CARRIER_LOST;
	if (!sess_run(&s, 20000))
		fail_msg("no carrier loss during the outage");
	s.stop_on = DRV_S_UP;
	if (!sess_run(&s, 30000))
		fail_msg("no redial after the outage");
	assert_true(s.ups >= 2);
	sess_fini(&s);
	sim_stop(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_full_duplex_echo),
		cmocka_unit_test(test_sim_half_duplex_hf),
		cmocka_unit_test(test_sim_kiss_tnc),
		cmocka_unit_test(test_sim_hayes_dial_outage_redial),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
