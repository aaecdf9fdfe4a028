/*
 * main_sim.c - skywave-sim: simulated radio modems on pseudo-terminals.
 *
 * For each link pair it creates two pseudo-terminals (A and B). A real
 * process opens the slave device of each as if it were a serial port to a
 * radio modem; between them runs the same channel and modem model the
 * tests use in-process (sim_link), here in real time on a libuv loop:
 *
 *   client A <-> /dev/pts/N (slave) | master fd <-uv_poll-> sim_modem A
 *                                     sim_channel (rate, half duplex,
 *                                     turnaround, errors, outages)
 *   client B <-> /dev/pts/M (slave) | master fd <-uv_poll-> sim_modem B
 *
 * One uv_timer per link is armed for the model's next deadline; nothing
 * sleeps. Flow control: bytes read from a master that the modem does not
 * accept (its buffer is full) are held, and reading stops until they are
 * taken, so the client's writes back up in the pty as they would behind
 * CTS. The slave ends are kept open (raw termios) so that a client may
 * close and reopen its device.
 *
 * Output: the device paths on stdout at start, one per line (a0, b0, a1,
 * b1, ...), then nothing more on stdout. Counters go to stderr as one
 * key=value log line per link on SIGUSR1 and every --stats-interval.
 * SIGTERM/SIGINT stop it; the --dir symlinks are removed.
 *
 * Owner: main; one loop thread; no globals (the state is one struct simd
 * that main allocates).
 */
#include "hw-sim/sim_link.h"

#include "firmware-profiles/profile.h"
#include "common/cfgtab.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define LINKS_MAX 16
#define IN_MAX 4096

struct simd;

struct end {
	struct simd_link *lk;
	int side;
	int master, slave;
	char path[128];
	char link_path[PATH_MAX];
	uv_poll_t poll;
	bool poll_init;
	int poll_events;
	uint8_t in[IN_MAX];     /* read from the client, not yet accepted */
	size_t in_len;
	uint8_t out[IN_MAX];    /* for the client, not yet written */
	size_t out_len;
	bool hup;
};

struct simd_link {
	struct simd *sd;
	int index;
	struct sim_link *l;
	struct end e[2];
	uv_timer_t timer;
};

struct simd {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct prof prof;
	struct simd_link links[LINKS_MAX];
	int n_links;
	uv_signal_t sig_term, sig_int, sig_usr1;
	uv_timer_t stats_timer;
	int64_t stats_interval_ms;
	int closing;
};

static void service(struct simd_link *lk);
static void on_poll(uv_poll_t *h, int status, int events);

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: skywave-sim [options]\n"
	    "  --profile NAME|FILE   firmware profile (default hf-2400-hd)\n"
	    "  --profile-dir DIR     where to look up profile names first\n"
	    "  --links N             link pairs, 1..%d (default 1)\n"
	    "  --ber X               background bit error rate (0..0.5)\n"
	    "  --burst BER,GAP,LEN   error bursts: rate inside, mean gap and "
	    "length\n"
	    "  --fade GAP,LEN        random fades (signal lost): mean gap, "
	    "length\n"
	    "  --outage S+D[,S+D..]  scheduled outages from start "
	    "(e.g. 30s+10s)\n"
	    "  --busy                AT modems on side B answer BUSY\n"
	    "  --seed N              random seed (default: from the clock)\n"
	    "  --stats               log counters on SIGUSR1\n"
	    "  --stats-interval DUR  log counters every DUR\n"
	    "  --dir DIR             create symlinks DIR/a0, DIR/b0, ...\n"
	    "  --die-with-parent     stop when the parent process exits\n"
	    "Prints the device paths (a0, b0, a1, b1, ...) one per line, then\n"
	    "runs until SIGTERM or SIGINT.\n", LINKS_MAX);
}

static int64_t
now_ms(const struct simd *sd)
{
	return clk_mono_ms(sd->clock);
}

/* ---- pseudo-terminals ---------------------------------------------------- */

static speed_t
baud_const(int64_t baud)
{
	static const struct { int64_t b; speed_t s; } tab[] = {
		{ 300, B300 }, { 600, B600 }, { 1200, B1200 }, { 2400, B2400 },
		{ 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
		{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
		{ 230400, B230400 },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(tab); i++)
		if (tab[i].b == baud)
			return tab[i].s;
	return B9600;
}

static int
open_pty(struct end *e, int64_t baud)
{
	struct termios t;
	const char *name;

	e->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (e->master < 0)
		return -errno;
	if (grantpt(e->master) != 0 || unlockpt(e->master) != 0 ||
	    (name = ptsname(e->master)) == NULL)
		return -errno;
	snprintf(e->path, sizeof(e->path), "%s", name);
	/* hold the slave open, raw, so clients may come and go */
	e->slave = open(e->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (e->slave < 0)
		return -errno;
	if (tcgetattr(e->slave, &t) != 0)
		return -errno;
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	cfsetispeed(&t, baud_const(baud));
	cfsetospeed(&t, baud_const(baud));
	if (tcsetattr(e->slave, TCSANOW, &t) != 0)
		return -errno;
	/* raw on the master side too (no translation of what we write) */
	if (tcgetattr(e->master, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(e->master, TCSANOW, &t);
	}
	return 0;
}

/* ---- I/O ----------------------------------------------------------------- */

static void
set_poll(struct end *e)
{
	int ev = 0;

	if (e->lk->sd->closing)
		return;
	if (e->in_len == 0 && !e->hup)
		ev |= UV_READABLE;
	if (e->out_len > 0)
		ev |= UV_WRITABLE;
	if (ev == e->poll_events)
		return;
	e->poll_events = ev;
	if (ev)
		uv_poll_start(&e->poll, ev, on_poll);
	else
		uv_poll_stop(&e->poll);
}

static void
flush_out(struct end *e)
{
	struct sim_modem *m = sim_link_modem(e->lk->l, e->side);

	for (;;) {
		if (e->out_len == 0)
			e->out_len = sim_modem_host_read(m, e->out,
			    sizeof(e->out));
		if (e->out_len == 0)
			return;
		ssize_t w = write(e->master, e->out, e->out_len);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				e->out_len = 0; /* client gone: drop */
			return;
		}
		memmove(e->out, e->out + w, e->out_len - (size_t)w);
		e->out_len -= (size_t)w;
		if (e->out_len > 0)
			return;
	}
}

static void
offer_in(struct end *e, int64_t now)
{
	struct sim_modem *m = sim_link_modem(e->lk->l, e->side);

	if (e->in_len == 0)
		return;
	size_t acc = sim_modem_host_write(m, now, e->in, e->in_len);
	memmove(e->in, e->in + acc, e->in_len - acc);
	e->in_len -= acc;
}

static void
read_in(struct end *e, int64_t now)
{
	ssize_t r;

	if (e->in_len > 0)
		return;
	r = read(e->master, e->in, sizeof(e->in));
	if (r > 0) {
		e->in_len = (size_t)r;
		offer_in(e, now);
	} else if (r < 0 && errno == EIO) {
		/* no client has the slave open (cannot happen while we hold
		 * it, but be safe): stop reading until written to */
		e->hup = true;
	}
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct end *e = h->data;

	if (e->lk->sd->closing)
		return;
	if (status < 0) {
		gw_log(GW_LOG_WARN, "sim", "link=%d side=%c event=poll_error "
		    "err=%s", e->lk->index, "ab"[e->side], uv_strerror(status));
		return;
	}
	if (events & UV_READABLE)
		read_in(e, now_ms(e->lk->sd));
	if (events & UV_WRITABLE)
		flush_out(e);
	service(e->lk);
}

static void
on_timer(uv_timer_t *t)
{
	struct simd_link *lk = t->data;

	if (lk->sd->closing)
		return;
	service(lk);
}

/* Run the model to now, move bytes, re-arm polls and the timer. */
static void
service(struct simd_link *lk)
{
	int64_t now = now_ms(lk->sd);
	int64_t next = sim_link_advance(lk->l, now);

	for (int i = 0; i < 2; i++) {
		struct end *e = &lk->e[i];
		offer_in(e, now);
		flush_out(e);
	}
	/* what was offered may have changed the model's plans */
	int64_t n2 = sim_link_advance(lk->l, now);
	if (n2 < next)
		next = n2;
	for (int i = 0; i < 2; i++) {
		struct end *e = &lk->e[i];
		flush_out(e);
		if (e->in_len > 0 && next > now + 50)
			next = now + 50; /* retry held input */
		set_poll(e);
	}
	if (sim_modem_host_pending(sim_link_modem(lk->l, 0)) ||
	    sim_modem_host_pending(sim_link_modem(lk->l, 1)))
		if (next > now + 50)
			next = now + 50;
	if (next == SIM_NEVER) {
		uv_timer_stop(&lk->timer);
		return;
	}
	uv_update_time(lk->sd->loop);
	uv_timer_start(&lk->timer, on_timer,
	    (uint64_t)(next > now ? next - now : 0), 0);
}

/* ---- stats, signals, shutdown ---------------------------------------- */

static void
log_stats(struct simd *sd)
{
	char line[2048];

	for (int i = 0; i < sd->n_links; i++) {
		const struct simd_link *lk = &sd->links[i];
		sim_link_format_stats(lk->l, line, sizeof(line));
		gw_log(GW_LOG_INFO, "sim", "link=%d profile=%s %s "
		    "a_poll=%s%s b_poll=%s%s a_held=%zu b_held=%zu "
		    "a_unwritten=%zu b_unwritten=%zu", i, sd->prof.name, line,
		    lk->e[0].poll_events & UV_READABLE ? "r" : "-",
		    lk->e[0].poll_events & UV_WRITABLE ? "w" : "-",
		    lk->e[1].poll_events & UV_READABLE ? "r" : "-",
		    lk->e[1].poll_events & UV_WRITABLE ? "w" : "-",
		    lk->e[0].in_len, lk->e[1].in_len, lk->e[0].out_len,
		    lk->e[1].out_len);
	}
}

static void
on_stats_timer(uv_timer_t *t)
{
	log_stats(t->data);
}

static void
on_close(uv_handle_t *h)
{
	(void)h;
}

static void
shutdown_all(struct simd *sd)
{
	if (sd->closing)
		return;
	sd->closing = 1;
	for (int i = 0; i < sd->n_links; i++) {
		struct simd_link *lk = &sd->links[i];
		uv_close((uv_handle_t *)&lk->timer, on_close);
		for (int s = 0; s < 2; s++) {
			if (lk->e[s].poll_init)
				uv_close((uv_handle_t *)&lk->e[s].poll,
				    on_close);
			if (lk->e[s].link_path[0])
				unlink(lk->e[s].link_path);
		}
	}
	uv_close((uv_handle_t *)&sd->sig_term, on_close);
	uv_close((uv_handle_t *)&sd->sig_int, on_close);
	uv_close((uv_handle_t *)&sd->sig_usr1, on_close);
	uv_close((uv_handle_t *)&sd->stats_timer, on_close);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct simd *sd = s->data;

	if (signum == SIGUSR1) {
		log_stats(sd);
		return;
	}
	gw_log(GW_LOG_INFO, "sim", "event=stop signal=%d", signum);
	log_stats(sd);
	shutdown_all(sd);
}

/* ---- options ----------------------------------------------------------- */

static int
parse_pair(const char *s, int64_t *a, int64_t *b)
{
	char tmp[128];
	char *comma;

	if (strlen(s) >= sizeof(tmp))
		return GW_EINVAL;
	snprintf(tmp, sizeof(tmp), "%s", s);
	comma = strchr(tmp, ',');
	if (comma == NULL)
		return GW_EINVAL;
	*comma = '\0';
	if (cfg_parse_duration_ms(tmp, a) != 0 ||
	    cfg_parse_duration_ms(comma + 1, b) != 0 || *a <= 0 || *b <= 0 ||
	    *b >= *a)
		return GW_EINVAL;
	return 0;
}

static int
parse_rate(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= 0.0 && v <= 0.5))
		return GW_EINVAL;
	*out = v;
	return 0;
}

/* Release everything main made (also on early exits) and return code. */
static int
finish(struct simd *sd, int code)
{
	for (int i = 0; i < LINKS_MAX; i++) {
		struct simd_link *lk = &sd->links[i];
		for (int s = 0; s < 2; s++) {
			if (lk->e[s].master > 0)
				close(lk->e[s].master);
			if (lk->e[s].slave > 0)
				close(lk->e[s].slave);
			if (lk->e[s].link_path[0])
				unlink(lk->e[s].link_path);
		}
		sim_link_free(lk->l);
	}
	prof_free(&sd->prof);
	free(sd);
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "profile-dir", required_argument, NULL, 'P' },
		{ "links", required_argument, NULL, 'n' },
		{ "ber", required_argument, NULL, 'e' },
		{ "burst", required_argument, NULL, 'u' },
		{ "fade", required_argument, NULL, 'f' },
		{ "outage", required_argument, NULL, 'o' },
		{ "busy", no_argument, NULL, 'B' },
		{ "seed", required_argument, NULL, 's' },
		{ "stats", no_argument, NULL, 'S' },
		{ "stats-interval", required_argument, NULL, 'i' },
		{ "dir", required_argument, NULL, 'd' },
		{ "die-with-parent", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct simd *sd = xcalloc(1, sizeof(*sd));
	const char *profile = "hf-2400-hd", *profile_dir = NULL;
	const char *outage = NULL, *dir = NULL, *burst = NULL, *fade = NULL;
	double ber = -1.0;
	bool busy = false, seed_set = false;
	uint64_t seed = 0;
	int64_t links = 1;
	char err[700];
	int ch, rc;

	gw_log_set_ident("skywave-sim");
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p': profile = optarg; break;
		case 'P': profile_dir = optarg; break;
		case 'n':
			if (cfg_parse_int(optarg, &links) != 0 || links < 1 ||
			    links > LINKS_MAX) {
				fprintf(stderr, "skywave-sim: --links: 1..%d\n",
				    LINKS_MAX);
				return finish(sd, 64);
			}
			break;
		case 'e':
			if (parse_rate(optarg, &ber) != 0) {
				fprintf(stderr, "skywave-sim: --ber: 0..0.5\n");
				return finish(sd, 64);
			}
			break;
		case 'u': burst = optarg; break;
		case 'f': fade = optarg; break;
		case 'o': outage = optarg; break;
		case 'B': busy = true; break;
		case 's': {
			char *end;
			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (*optarg == '\0' || *end != '\0' || errno != 0) {
				fprintf(stderr,
				    "skywave-sim: --seed: a number\n");
				return finish(sd, 64);
			}
			seed_set = true;
			break;
		}
		case 'S': break; /* SIGUSR1 always logs counters */
		case 'i':
			if (cfg_parse_duration_ms(optarg,
			    &sd->stats_interval_ms) != 0 ||
			    sd->stats_interval_ms < 100) {
				fprintf(stderr,
				    "skywave-sim: --stats-interval: "
				    "a duration of at least 100ms\n");
				return finish(sd, 64);
			}
			break;
		case 'd': dir = optarg; break;
		case 'D':
			/* a test that dies must not leave simulators behind */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 ||
			    getppid() == 1)
				return finish(sd, 0);
			break;
		case 'h': usage(stdout); return finish(sd, 0);
		default: usage(stderr); return finish(sd, 64);
		}
	}
	if (optind != argc) {
		usage(stderr);
		return finish(sd, 64);
	}
	if ((rc = prof_load_named(profile, profile_dir, &sd->prof, err,
	    sizeof(err))) != 0) {
		fprintf(stderr, "skywave-sim: %s\n", err);
		return finish(sd, rc == GW_ENOENT ? 66 : 65);
	}
	if (!seed_set) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec ^
		    (uint64_t)getpid();
	}

	struct sim_channel_params cp;
	sim_channel_params_from_prof(&cp, &sd->prof, seed);
	if (ber >= 0.0)
		cp.ber = ber;
	if (burst) {
		char tmp[128], *c;
		snprintf(tmp, sizeof(tmp), "%s", burst);
		c = strchr(tmp, ',');
		if (c != NULL)
			*c = '\0';
		if (c == NULL || parse_rate(tmp, &cp.burst_ber) != 0 ||
		    parse_pair(c + 1, &cp.burst_interval_ms,
		    &cp.burst_length_ms) != 0) {
			fprintf(stderr, "skywave-sim: --burst BER,GAP,LEN "
			    "(e.g. 1e-2,200s,2s; LEN < GAP)\n");
			return finish(sd, 64);
		}
	}
	if (fade && parse_pair(fade, &cp.fade_interval_ms,
	    &cp.fade_length_ms) != 0) {
		fprintf(stderr, "skywave-sim: --fade GAP,LEN (e.g. 10m,20s; "
		    "LEN < GAP)\n");
		return finish(sd, 64);
	}
	if (outage && sim_channel_parse_outages(&cp, outage) != 0) {
		fprintf(stderr, "skywave-sim: --outage START+DUR[,...] "
		    "(e.g. 30s+10s,2m+500ms; at most %d)\n", SIM_OUTAGES_MAX);
		return finish(sd, 64);
	}
	if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "skywave-sim: %s: %s\n", dir, strerror(errno));
		return finish(sd, 73);
	}

	signal(SIGPIPE, SIG_IGN);
	sd->loop = uv_default_loop();
	sd->clock = clk_system();
	sd->n_links = (int)links;
	int64_t t0 = now_ms(sd);
	for (int i = 0; i < sd->n_links; i++) {
		struct simd_link *lk = &sd->links[i];
		struct sim_channel_params lcp = cp;
		lcp.seed = seed + (uint64_t)i;
		lk->sd = sd;
		lk->index = i;
		lk->l = sim_link_new(&sd->prof, &lcp, t0);
		if (busy)
			sim_modem_set_busy(sim_link_modem(lk->l, 1), true);
		uv_timer_init(sd->loop, &lk->timer);
		lk->timer.data = lk;
		for (int s = 0; s < 2; s++) {
			struct end *e = &lk->e[s];
			e->lk = lk;
			e->side = s;
			if ((rc = open_pty(e, sd->prof.serial.baud)) != 0) {
				fprintf(stderr, "skywave-sim: pty: %s\n",
				    gw_strerror(rc));
				return finish(sd, 71);
			}
			uv_poll_init(sd->loop, &e->poll, e->master);
			e->poll.data = e;
			e->poll_init = true;
			e->poll_events = UV_READABLE;
			uv_poll_start(&e->poll, UV_READABLE, on_poll);
			if (dir) {
				snprintf(e->link_path, sizeof(e->link_path),
				    "%s/%c%d", dir, "ab"[s], i);
				unlink(e->link_path);
				if (symlink(e->path, e->link_path) != 0) {
					fprintf(stderr, "skywave-sim: %s: %s\n",
					    e->link_path, strerror(errno));
					e->link_path[0] = '\0';
				}
			}
		}
	}
	uv_signal_init(sd->loop, &sd->sig_term);
	uv_signal_init(sd->loop, &sd->sig_int);
	uv_signal_init(sd->loop, &sd->sig_usr1);
	sd->sig_term.data = sd->sig_int.data = sd->sig_usr1.data = sd;
	uv_signal_start(&sd->sig_term, on_signal, SIGTERM);
	uv_signal_start(&sd->sig_int, on_signal, SIGINT);
	uv_signal_start(&sd->sig_usr1, on_signal, SIGUSR1);
	uv_timer_init(sd->loop, &sd->stats_timer);
	sd->stats_timer.data = sd;
	if (sd->stats_interval_ms > 0)
		uv_timer_start(&sd->stats_timer, on_stats_timer,
		    (uint64_t)sd->stats_interval_ms,
		    (uint64_t)sd->stats_interval_ms);

	for (int i = 0; i < sd->n_links; i++)
		for (int s = 0; s < 2; s++)
			printf("%s\n", sd->links[i].e[s].path);
	fflush(stdout);
	gw_log(GW_LOG_INFO, "sim", "event=start profile=%s links=%d seed=%"
	    PRIu64 " rate=%" PRId64 " duplex=%s ber=%g outages=%d",
	    sd->prof.name, sd->n_links, seed, cp.rate_bps,
	    cp.full_duplex ? "full" : "half", cp.ber, cp.n_outages);

	uv_run(sd->loop, UV_RUN_DEFAULT);
	uv_loop_close(sd->loop);
	return finish(sd, 0);
}
