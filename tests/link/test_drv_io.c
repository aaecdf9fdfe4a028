/* Drivers on real devices, with a real process on each end:
 *   - the termios backend on a pty pair this test creates (posix_openpt)
 *     with a forked echo process on the master; hang-up detection;
 *   - pacing at the profile's air rate on a real pty;
 *   - "serial" (automatic backend) over a socat pty pair, through the
 *     symlinks socat makes, with link_echo (another driver) on the far end;
 *   - the same over skywave-sim when it has been built;
 *   - the TCP driver against a loopback echo server this test runs,
 *     including peer close -> carrier lost -> reconnect, and refusal. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "link-drivers/drv.h"
#include "link-drivers/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define NFRAMES_MAX 400

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

/* ---- a session: send frames, expect them echoed in order ----------------- */

struct sess {
	uv_loop_t loop;
	uv_timer_t guard;
	struct drv_registry reg;
	struct drv_env env;
	struct drv_config cfg;
	struct prof prof;
	struct drv *d;
	struct buf sent[NFRAMES_MAX];
	int target, nsent, nrecv;
	size_t raw_expect, raw_got;    /* raw framing: bytes */
	struct buf raw_in;
	int ups, errors, carrier_lost, writable;
	int last_err;
	char last_reason[160];
	bool stop_when_done;
	bool closed;
	bool timed_out;
	size_t max_buffered;
	int64_t t_up, t_done;
	int close_server_after;        /* tcp: server drops after N frames */
};

static void
sess_fill(struct sess *s)
{
	if (drv_state(s->d) != DRV_S_UP)
		return;
	while (s->nsent < s->target) {
		struct buf *b = &s->sent[s->nsent];
		int rc;

		if (b->data == NULL) {
			size_t n = 1 + rng() % s->prof.air.mtu_bytes;
			buf_init(b);
			for (size_t i = 0; i < n; i++)
				buf_append_byte(b, (uint8_t)rng());
		}
		rc = drv_write(s->d, b->data, b->len);
		if (rc == GW_EAGAIN)
			break;
		assert_int_equal(rc, 0);
		s->nsent++;
		size_t bb = drv_buffered_bytes(s->d);
		if (bb > s->max_buffered)
			s->max_buffered = bb;
	}
}

static void
sess_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct sess *s = arg;

	(void)d;
	switch (ev->type) {
	case DRV_EV_STATE:
		if (ev->state == DRV_S_UP) {
			s->ups++;
			s->t_up = (int64_t)uv_now(&s->loop);
			sess_fill(s);
		} else if (ev->state == DRV_S_ERROR) {
			s->errors++;
		} else if (ev->state == DRV_S_CARRIER_LOST) {
			s->carrier_lost++;
		}
		/* Frames in flight died with the connection: resend them
		 * after the next UP, as a link layer would. */
		if (ev->state == DRV_S_ERROR ||
		    ev->state == DRV_S_CARRIER_LOST)
			s->nsent = s->nrecv;
		if (ev->err) {
			s->last_err = ev->err;
			snprintf(s->last_reason, sizeof(s->last_reason), "%s",
			    ev->reason ? ev->reason : "");
		}
		if (ev->state != DRV_S_UP && ev->state != DRV_S_OPENING &&
		    ev->state != DRV_S_DIALING && s->stop_when_done)
			uv_stop(&s->loop);
		break;
	case DRV_EV_FRAME:
		if (s->nrecv >= s->nsent)
			fail_msg("frame %d arrived, only %d sent", s->nrecv,
			    s->nsent);
		assert_int_equal(ev->len, s->sent[s->nrecv].len);
		assert_memory_equal(ev->data, s->sent[s->nrecv].data, ev->len);
		s->nrecv++;
		if (s->nrecv == s->target) {
			s->t_done = (int64_t)uv_now(&s->loop);
			uv_stop(&s->loop);
		}
		break;
	case DRV_EV_DATA:
		buf_append(&s->raw_in, ev->data, ev->len);
		s->raw_got += ev->len;
		if (s->raw_expect > 0 && s->raw_got >= s->raw_expect) {
			s->t_done = (int64_t)uv_now(&s->loop);
			uv_stop(&s->loop);
		}
		break;
	case DRV_EV_WRITABLE:
		s->writable++;
		sess_fill(s);
		break;
	case DRV_EV_CARRIER:
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
sess_closed(struct drv *d, void *arg)
{
	(void)d;
	((struct sess *)arg)->closed = true;
}

static char *
write_profile(const char *dir, const char *name, const char *text)
{
	size_t len = strlen(dir) + strlen(name) + 16;
	char *path = xmalloc(len);

	snprintf(path, len, "%s/%s.profile", dir, name);
	assert_int_equal(tu_write_file(path, text), 0);
	return path;
}

static const char *fast_profile =
    "[profile]\nname = fast\n[serial]\nbaud = 115200\n"
    "[air]\nrate = 115200\nduplex = full\nmtu = 256\nmax_tx = 120s\n"
    "[modem]\nbuffer = 16k\n";

static void
sess_init(struct sess *s, const char *prof_path, const char *cls,
    const char *device, enum drv_framing fr, int target)
{
	char err[512];

	memset(s, 0, sizeof(*s));
	assert_int_equal(uv_loop_init(&s->loop), 0);
	if (prof_load_file(prof_path, &s->prof, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	drv_registry_init(&s->reg);
	drv_registry_add_builtin(&s->reg);
	s->env.loop = &s->loop;
	s->env.clock = clk_system();
	s->cfg.prof = &s->prof;
	s->cfg.device = device;
	s->cfg.framing = fr;
	s->target = target;
	buf_init(&s->raw_in);
	assert_int_equal(drv_create(&s->reg, cls, &s->cfg, &s->env,
	    sess_event, s, &s->d), 0);
	uv_timer_init(&s->loop, &s->guard);
	s->guard.data = s;
}

/* Run until stopped or timeout_ms passed; returns false on timeout. */
static bool
sess_run(struct sess *s, uint64_t timeout_ms)
{
	s->timed_out = false;
	uv_timer_start(&s->guard, guard_cb, timeout_ms, 0);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&s->guard);
	return !s->timed_out;
}

static void
sess_fini(struct sess *s)
{
	if (s->d != NULL) {
		drv_close(s->d, sess_closed, s);
		s->d = NULL;
	}
	uv_close((uv_handle_t *)&s->guard, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	assert_true(s->closed);
	assert_int_equal(uv_loop_close(&s->loop), 0);
	for (int i = 0; i < NFRAMES_MAX; i++)
		buf_fini(&s->sent[i]);
	buf_fini(&s->raw_in);
	prof_free(&s->prof);
}

/* ---- pty pair made here, forked echo on the master ----------------------- */

static pid_t
fork_echo(int master)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t b[4096];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			ssize_t n = read(master, b, sizeof(b));
			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				_exit(0);
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(master, b + off,
				    (size_t)(n - off));
				if (w < 0) {
					if (errno == EINTR || errno == EAGAIN)
						continue;
					_exit(1);
				}
				off += w;
			}
		}
	}
	return pid;
}

static int
open_pty_pair(char *slave, size_t len)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	assert_int_equal(ptsname_r(m, slave, len), 0);
	return m;
}

static void
run_openpt_echo(const char *cls, bool via_symlink)
{
	char *dir = tu_mkdtemp("pty");
	char *pp = write_profile(dir, "fast", fast_profile);
	char slave[128], link[512];
	const char *dev = slave;
	struct sess s;
	pid_t child;
	int m, st;

	m = open_pty_pair(slave, sizeof(slave));
	assert_true(serial_is_pty(slave));
	if (via_symlink) {
		snprintf(link, sizeof(link), "%s/modem0", dir);
		assert_int_equal(symlink(slave, link), 0);
		assert_true(serial_is_pty(link));
		dev = link;
	}
	child = fork_echo(m);
	close(m); /* only the child holds the master now */

	sess_init(&s, pp, cls, dev, DRV_FRAMING_SYNC, 200);
	s.stop_when_done = true;
	assert_int_equal(drv_open(s.d), 0);
	if (!sess_run(&s, 20000))
		fail_msg("%s: %d of %d frames echoed", cls, s.nrecv, s.target);
	assert_int_equal(s.ups, 1);
	assert_int_equal(s.nrecv, 200);
	assert_string_equal(serial_backend_name(s.d), "termios");
	assert_true(s.max_buffered <= drv_high_water(s.d));

	/* The far process dies: the driver sees the hang-up. */
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	if (!sess_run(&s, 5000))
		fail_msg("hang-up not detected");
	assert_int_equal(drv_state(s.d), DRV_S_ERROR);
	if (strstr(s.last_reason, "hung up") == NULL)
		fail_msg("reason \"%s\" err %d", s.last_reason, s.last_err);
	sess_fini(&s);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

static void
test_openpt_pty_class(void **state)
{
	(void)state;
	rng_state = tu_seed("test_openpt_pty_class") | 1;
	run_openpt_echo("pty", false);
}

static void
test_openpt_serial_auto_symlink(void **state)
{
	(void)state;
	rng_state = tu_seed("test_openpt_serial_auto_symlink") | 1;
	run_openpt_echo("serial", true);
	assert_false(serial_is_pty("/dev/null"));
}

/* Raw bytes at 19200 bit/s: the driver paces the device at the air rate,
 * so 4800 bytes take at least 2 s minus the device lead (250 ms). */
static void
test_pacing_on_real_pty(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("pace");
	char *pp = write_profile(dir, "r19200",
	    "[serial]\nbaud = 115200\n[air]\nrate = 19200\nduplex = full\n"
	    "mtu = 256\nmax_tx = 120s\n[modem]\nbuffer = 16k\n");
	char slave[128];
	struct sess s;
	int m = open_pty_pair(slave, sizeof(slave));
	pid_t child = fork_echo(m);
	int st;

	close(m);
	rng_state = 99;
	sess_init(&s, pp, "pty", slave, DRV_FRAMING_RAW, 0);
	s.raw_expect = 4800;
	/* Feed raw chunks from the WRITABLE events. */
	s.target = 4800 / 240;
	for (int i = 0; i < s.target; i++) {
		buf_init(&s.sent[i]);
		for (int j = 0; j < 240; j++)
			buf_append_byte(&s.sent[i], (uint8_t)rng());
	}
	assert_int_equal(drv_open(s.d), 0);
	if (!sess_run(&s, 20000))
		fail_msg("only %zu of 4800 bytes came back", s.raw_got);
	int64_t took = s.t_done - s.t_up;
	fprintf(stderr, "4800 bytes at 19200 bit/s took %lld ms, max "
	    "buffered %zu (high water %zu)\n", (long long)took,
	    s.max_buffered, drv_high_water(s.d));
	assert_true(took >= 2000 - 250 - 50);
	assert_true(took < 15000);
	assert_true(s.max_buffered <= drv_high_water(s.d));
	assert_true(s.writable >= 3);
	/* Bytes came back in order. */
	for (int i = 0; i < s.target; i++)
		assert_memory_equal(s.raw_in.data + i * 240, s.sent[i].data,
		    240);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	sess_fini(&s);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

/* ---- two processes over a pty pair made by socat or skywave-sim ---------- */

static pid_t
spawn(char *const argv[], int *out_fd)
{
	int p[2] = { -1, -1 };
	pid_t pid;

	if (out_fd != NULL)
		assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Dies with the test, even when a failed assertion skips
		 * the cleanup. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (out_fd != NULL) {
			dup2(p[1], 1);
			close(p[0]);
			close(p[1]);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out_fd != NULL) {
		close(p[1]);
		*out_fd = p[0];
	}
	return pid;
}

/* Read lines from fd until one starts with want (or timeout). */
static bool
wait_line(int fd, const char *want, char *line, size_t len, int timeout_ms)
{
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
			if (n + 1 < len)
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

static bool
wait_path(const char *path, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 20; i++) {
		struct stat st;
		if (stat(path, &st) == 0)
			return true;
		usleep(20000);
	}
	return false;
}

/* Our driver on end a, link_echo on end b. */
static void
two_process_echo(const char *a, const char *b, const char *pp,
    const char *framing, enum drv_framing fr, int nframes)
{
	char echo[] = LINK_ECHO_PATH, cls[] = "serial", secs[] = "30";
	char bb[512], ppb[512], fb[16];
	char line[256];
	struct sess s;
	int out, st;

	snprintf(bb, sizeof(bb), "%s", b);
	snprintf(ppb, sizeof(ppb), "%s", pp);
	snprintf(fb, sizeof(fb), "%s", framing);
	char *argv[] = { echo, cls, bb, ppb, fb, secs, NULL };
	pid_t peer = spawn(argv, &out);
	if (!wait_line(out, "ready", line, sizeof(line), 10000))
		fail_msg("link_echo did not come up on %s", b);

	sess_init(&s, pp, "serial", a, fr, nframes);
	s.stop_when_done = true;
	assert_int_equal(drv_open(s.d), 0);
	if (!sess_run(&s, 30000))
		fail_msg("%d of %d frames echoed", s.nrecv, s.target);
	assert_int_equal(s.nrecv, nframes);
	sess_fini(&s);

	/* The peer ends when its device hangs up or its time runs out; it
	 * reports how many frames it echoed. */
	kill(peer, SIGTERM);
	waitpid(peer, &st, 0);
	close(out);
}

static void
test_socat_two_processes(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("socat");
	char *pp = write_profile(dir, "fast", fast_profile);
	char a[512], b[512], pa[600], pb[600];
	int st;

	if (access("/usr/bin/socat", X_OK) != 0) {
		free(pp);
		tu_rmtree(dir);
		free(dir);
		skip();
	}
	rng_state = tu_seed("test_socat_two_processes") | 1;
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(pa, sizeof(pa), "pty,raw,echo=0,link=%s", a);
	snprintf(pb, sizeof(pb), "pty,raw,echo=0,link=%s", b);
	char *argv[] = { (char *)"socat", pa, pb, NULL };
	pid_t socat = spawn(argv, NULL);
	assert_true(wait_path(a, 5000) && wait_path(b, 5000));
	assert_true(serial_is_pty(a));
	two_process_echo(a, b, pp, "sync", DRV_FRAMING_SYNC, 150);
	kill(socat, SIGTERM);
	waitpid(socat, &st, 0);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

/* A real UART through libserialport, when this machine has one we may
 * open (skipped otherwise): the driver comes up on the libserialport
 * backend, writes go out paced, and close releases everything. */
static void
test_uart_via_libserialport(void **state)
{
	(void)state;
	static const char *cands[] = { "/dev/ttyS0", "/dev/ttyUSB0",
		"/dev/ttyACM0" };
	const char *dev = NULL;
	char *dir = tu_mkdtemp("uart");
	char *pp = write_profile(dir, "u", "[serial]\nbaud = 9600\n"
	    "[air]\nrate = 9600\nmtu = 64\n");
	struct sess s;

	for (size_t i = 0; i < GW_ARRAY_LEN(cands) && dev == NULL; i++)
		if (access(cands[i], R_OK | W_OK) == 0 &&
		    !serial_is_pty(cands[i]))
			dev = cands[i];
	if (dev == NULL) {
		free(pp);
		tu_rmtree(dir);
		free(dir);
		skip();
	}
	rng_state = 5;
	sess_init(&s, pp, "serial", dev, DRV_FRAMING_SYNC, 3);
	assert_int_equal(drv_open(s.d), 0);
	sess_run(&s, 300);
	if (drv_state(s.d) != DRV_S_UP) {
		/* A node without hardware behind it. */
		fprintf(stderr, "%s: %s (%s)\n", dev,
		    drv_state_name(drv_state(s.d)), s.last_reason);
	} else {
		assert_string_equal(serial_backend_name(s.d),
		    "libserialport");
		assert_int_equal(s.nsent, 3);
	}
	sess_fini(&s);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

/* ---- TCP ----------------------------------------------------------------- */

struct srv {
	uv_tcp_t listener;
	uv_tcp_t *conn;
	int accepted;
	size_t echoed_bytes;
	size_t drop_after_bytes;   /* close the first connection after */
	bool dropped;
};

static void
srv_alloc(uv_handle_t *h, size_t sug, uv_buf_t *b)
{
	(void)h;
	b->base = xmalloc(sug);
	b->len = sug;
}

static void
srv_free_conn(uv_handle_t *h)
{
	free(h);
}

struct wreq {
	uv_write_t req;
	char *data;
};

static void
srv_write_done(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status;
	free(w->data);
	free(w);
}

static void
srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct srv *sv = st->data;

	if (n < 0) {
		free(b->base);
		if (!uv_is_closing((uv_handle_t *)st))
			uv_close((uv_handle_t *)st, srv_free_conn);
		if (sv->conn == (uv_tcp_t *)st)
			sv->conn = NULL;
		return;
	}
	if (n == 0) {
		free(b->base);
		return;
	}
	struct wreq *w = xmalloc(sizeof(*w));
	w->data = b->base;
	uv_buf_t wb = uv_buf_init(b->base, (unsigned)n);
	uv_write(&w->req, st, &wb, 1, srv_write_done);
	sv->echoed_bytes += (size_t)n;
	if (!sv->dropped && sv->drop_after_bytes > 0 &&
	    sv->echoed_bytes >= sv->drop_after_bytes) {
		sv->dropped = true;
		uv_close((uv_handle_t *)st, srv_free_conn);
		sv->conn = NULL;
	}
}

static void
srv_conn(uv_stream_t *l, int status)
{
	struct srv *sv = l->data;
	uv_tcp_t *c;

	assert_int_equal(status, 0);
	c = xmalloc(sizeof(*c));
	uv_tcp_init(l->loop, c);
	c->data = sv;
	assert_int_equal(uv_accept(l, (uv_stream_t *)c), 0);
	sv->accepted++;
	sv->conn = c;
	uv_read_start((uv_stream_t *)c, srv_alloc, srv_read);
}

static void
srv_start(struct srv *sv, uv_loop_t *loop, int port)
{
	struct sockaddr_in sa;

	memset(sv, 0, sizeof(*sv));
	uv_tcp_init(loop, &sv->listener);
	sv->listener.data = sv;
	uv_ip4_addr("127.0.0.1", port, &sa);
	assert_int_equal(uv_tcp_bind(&sv->listener,
	    (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&sv->listener, 8, srv_conn),
	    0);
}

static void
srv_stop(struct srv *sv)
{
	if (sv->conn != NULL) {
		uv_close((uv_handle_t *)sv->conn, srv_free_conn);
		sv->conn = NULL;
	}
	uv_close((uv_handle_t *)&sv->listener, NULL);
}

static void
test_tcp_echo_and_reconnect(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("tcp");
	char *pp = write_profile(dir, "fast", fast_profile);
	char dev[64];
	struct srv sv;
	struct sess s;

	rng_state = tu_seed("test_tcp_echo_and_reconnect") | 1;
	int port = tu_free_port();
	snprintf(dev, sizeof(dev), "127.0.0.1:%d", port);
	sess_init(&s, pp, "tcp", dev, DRV_FRAMING_SYNC, 100);
	srv_start(&sv, &s.loop, port);
	s.cfg.reconnect_min_ms = 50;
	s.cfg.reconnect_max_ms = 200;
	assert_int_equal(drv_open(s.d), 0);
	if (!sess_run(&s, 20000))
		fail_msg("tcp: %d of %d echoed", s.nrecv, s.target);
	assert_int_equal(s.nrecv, 100);
	assert_int_equal(sv.accepted, 1);

	/* The server drops the connection in the middle of the next frames:
	 * carrier lost, the driver reconnects on its own, the frames that
	 * died with the connection are resent and all 200 come back in
	 * order. */
	sv.drop_after_bytes = sv.echoed_bytes + 1000;
	s.target = 200;
	sess_fill(&s);
	if (!sess_run(&s, 20000))
		fail_msg("tcp: %d of %d echoed after reconnect", s.nrecv,
		    s.target);
	assert_int_equal(s.nrecv, 200);
	assert_int_equal(s.carrier_lost, 1);
	assert_int_equal(s.ups, 2);
	assert_int_equal(sv.accepted, 2);
	srv_stop(&sv);
	sess_fini(&s);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

static void
test_tcp_refused_backoff(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("tcp");
	char *pp = write_profile(dir, "fast", fast_profile);
	char dev[64];
	struct sess s;

	snprintf(dev, sizeof(dev), "127.0.0.1:%d", tu_free_port());
	sess_init(&s, pp, "tcp", dev, DRV_FRAMING_SYNC, 0);
	s.cfg.reconnect_min_ms = 40;
	s.cfg.reconnect_max_ms = 160;
	assert_int_equal(drv_open(s.d), 0);
	sess_run(&s, 900);
	/* 40 + 80 + 160 + 160 + ... within 900 ms: about 7 attempts (fewer
	 * on a loaded machine, never many more). */
	assert_true(s.errors >= 3);
	assert_true(s.errors <= 8);
	assert_int_equal(s.ups, 0);
	assert_int_equal(s.last_err, UV_ECONNREFUSED);
	sess_fini(&s);
	free(pp);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openpt_pty_class),
		cmocka_unit_test(test_openpt_serial_auto_symlink),
		cmocka_unit_test(test_pacing_on_real_pty),
		cmocka_unit_test(test_socat_two_processes),
		cmocka_unit_test(test_uart_via_libserialport),
		cmocka_unit_test(test_tcp_echo_and_reconnect),
		cmocka_unit_test(test_tcp_refused_backoff),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
