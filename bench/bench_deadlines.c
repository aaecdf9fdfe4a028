/*
 * bench_deadlines.c - B3: BY/ABY deadlines under overload (BENCHMARKS.md).
 *
 * A discrete-event simulation on a virtual clock. Route hf1 is the
 * hf-1200-hd channel (from its firmware profile: 150 bytes/s, half duplex,
 * 2000 ms per direction change, 120 s maximum transmission); route hf2 is a
 * second, faster route (hf-2400-hd) that carries alternates plus its own
 * background load. The real scheduler (gateway/sched/sched.c) picks every segment
 * at its boundary, exactly as the transfer protocol asks it; deadline,
 * alternate and DSN decisions are the real ones. Each burst on a link
 * costs two direction changes (hand over for the acknowledgement and take
 * the channel back); a message is delivered when its last byte reaches the
 * far gateway.
 *
 * Traffic: Poisson arrivals on hf1 at --load times the link's capacity for
 * --minutes of channel time; priorities over the six STANAG4406 levels;
 * 30 % with BY=300..1800;R, half of those with ARCPT, half of those with
 * ABY = 30..70 % of BY. Sizes 300..4000 bytes, compressing to 35..65 %
 * (the scheduler only knows the 50 % average). Same seed, same traffic for
 * every policy:
 *   skywave   predictive redirects, earliest deadline first in a band
 *   reactive  redirect only when ABY expires (or fail when BY does)
 *   fifo      strict priority, arrival order, no redirect
 *
 * Usage: bench_deadlines [--seed N] [--minutes M] [--load X]
 *                        [--profiles DIR] [--json FILE]
 */
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "gateway/sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEG_RAW 512         /* uncompressed bytes per segment */
#define OVERHEAD 200        /* envelope and framing per message */
#define START_MS 1000000LL

enum policy { POL_SKYWAVE, POL_REACTIVE, POL_FIFO, POL_N };
static const char *const pol_names[POL_N] = { "skywave", "reactive", "fifo" };

enum mstate { M_QUEUED, M_DELIVERED, M_REDIRECTED, M_ALT_DELIVERED,
	M_FAILED, M_ALT_FAILED };

struct msg {
	int route;          /* where the primary goes */
	int band;
	int64_t arrival, by, aby; /* absolute ms, 0 = none */
	bool arcpt, measured;
	int64_t raw;
	int ratio_pct;      /* true compression */
	enum mstate state;
	int64_t done_at;
	bool late;
};

struct traffic {
	struct msg *m;
	size_t n, cap;
};

struct link {
	int route;
	struct predict_link model;
	int64_t busy_until;  /* 0 = idle */
	bool in_seg, turning;
	uint8_t seg_id[QUEUE_ID_LEN];
	int64_t seg_end_bytes; /* sent_bytes after the segment */
	int64_t burst_ms;    /* airtime in the current burst */
};

struct result {
	int late, unresolved, redirected, failed_dsn;
	int arcpt_total, arcpt_in_time;
	int by_total, by_delivered;
	int messages;
	int64_t flash_lat_sum, flash_n;
};

static uint64_t rng_s;

static uint64_t
rnd(void)
{
	uint64_t x = rng_s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double
unif(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int64_t
irange(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1));
}

static void
push(struct traffic *t, const struct msg *m)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->m = xrealloc(t->m, t->cap * sizeof(*t->m));
	}
	t->m[t->n++] = *m;
}

/* STANAG4406 levels -> bands 0..5: Deferred, Routine, Priority,
 * Immediate, Flash, Override. */
static int
draw_band(void)
{
	static const int w[6] = { 10, 40, 25, 15, 8, 2 };
	int r = (int)irange(0, 99), b;

	for (b = 0; b < 6; b++) {
		if (r < w[b])
			return b;
		r -= w[b];
	}
	return 1;
}

/* Poisson arrivals by Bernoulli trials on a 10 ms grid. */
static void
gen_traffic(struct traffic *t, uint64_t seed, int64_t minutes, double load,
    const struct predict_link *l1, const struct predict_link *l2)
{
	double mean_air = OVERHEAD + (300 + 4000) / 2.0 * 0.5;
	double p1 = load * l1->rate_bps / mean_air * 0.01;
	double p2 = 0.4 * l2->rate_bps / mean_air * 0.01;
	int64_t tm, end = START_MS + minutes * 60000;
	struct msg m;

	rng_s = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (tm = START_MS; tm < end; tm += 10) {
		if (unif() < p1) {
			memset(&m, 0, sizeof(m));
			m.route = 0;
			m.measured = true;
			m.band = draw_band();
			m.arrival = tm;
			m.raw = irange(300, 4000);
			m.ratio_pct = (int)irange(35, 65);
			if (irange(0, 99) < 30) {
				int64_t by = irange(300, 1800);

				m.by = tm + by * 1000;
				if (irange(0, 1)) {
					m.arcpt = true;
					if (irange(0, 1))
						m.aby = tm + by * 1000 *
						    irange(30, 70) / 100;
				}
			}
			push(t, &m);
		}
		if (unif() < p2) {
			memset(&m, 0, sizeof(m));
			m.route = 1;
			m.band = (int)irange(0, 2);
			m.arrival = tm;
			m.raw = irange(300, 4000);
			m.ratio_pct = (int)irange(35, 65);
			push(t, &m);
		}
	}
}

static void
set_id(uint8_t id[QUEUE_ID_LEN], size_t i)
{
	memset(id, 0, QUEUE_ID_LEN);
	id[0] = (uint8_t)i;
	id[1] = (uint8_t)(i >> 8);
	id[2] = (uint8_t)(i >> 16);
}

static size_t
get_id(const uint8_t id[QUEUE_ID_LEN])
{
	return (size_t)id[0] | (size_t)id[1] << 8 | (size_t)id[2] << 16;
}

static void
add_job(struct sched *s, size_t i, const struct msg *m, int route,
    int64_t by, bool arcpt, int64_t aby, int64_t now)
{
	struct sched_rcpt_spec rc = { .idx = 0, .notify = 0,
		.has_arcpt = arcpt };
	struct sched_job_spec sp;

	memset(&sp, 0, sizeof(sp));
	set_id(sp.id, i);
	sp.route = route;
	sp.band = m->band;
	sp.priority = m->band * 2 - 4;
	sp.arrival_ms = now;
	sp.by_ms = by;
	sp.by_mode = by ? 'R' : 0;
	sp.aby_ms = aby;
	sp.size_bytes = m->raw;
	sp.rcpts = &rc;
	sp.nrcpts = 1;
	GW_REQUIRE(sched_add(s, &sp, now, NULL) == 0);
}

static void
finish(struct msg *m, enum mstate st, int64_t now)
{
	m->state = st;
	m->done_at = now;
	if ((st == M_DELIVERED || st == M_ALT_DELIVERED) && m->by &&
	    now > m->by)
		m->late = true;
}

static void
handle(struct sched *s, struct traffic *t, struct sched_out *out,
    struct result *res, int alt_route, int64_t now)
{
	size_t k;

	for (k = 0; k < out->n; k++) {
		const struct sched_decision *d = &out->v[k];
		struct msg *m = &t->m[get_id(d->id)];
		int64_t left_s;

		switch (d->act) {
		case SCHED_ACT_REDIRECT:
			res->redirected += m->measured;
			/* The copy: remaining BY rounded down, no ARCPT, the
			 * alternate's own route. */
			left_s = sched_rules_by_left_s(m->by, now);
			if (m->by && left_s <= 0) {
				finish(m, M_ALT_FAILED, now);
				res->failed_dsn += m->measured;
				break;
			}
			m->state = M_REDIRECTED;
			add_job(s, get_id(d->id), m, alt_route,
			    m->by ? now + left_s * 1000 : 0, false, 0, now);
			break;
		case SCHED_ACT_FAIL:
			finish(m, d->route == m->route ? M_FAILED :
			    M_ALT_FAILED, now);
			if (d->dsn)
				res->failed_dsn += m->measured;
			break;
		case SCHED_ACT_RELAYED:
		case SCHED_ACT_DELIVERED:
			finish(m, d->route == m->route ? M_DELIVERED :
			    M_ALT_DELIVERED, now);
			break;
		case SCHED_ACT_DELAYED:
		case SCHED_ACT_CLOSED: /* the bench reports no owner failures */
			break;
		}
	}
	sched_out_reset(out);
}

/* The link finished what it was doing at now. */
static void
link_done(struct sched *s, struct link *l, struct traffic *t,
    struct sched_out *out, int64_t now)
{
	struct sched_job *j;

	if (l->turning) {
		l->turning = false;
		l->busy_until = 0;
		l->burst_ms = 0;
		return;
	}
	if (!l->in_seg)
		return;
	l->in_seg = false;
	l->busy_until = 0;
	/* Failed or redirected meanwhile: the segment was wasted. */
	j = sched_find(s, l->seg_id, l->route);
	if (j == NULL)
		return;
	if (l->seg_end_bytes >= j->size_bytes)
		sched_report(s, j, 0, SCHED_OUT_RELAYED, NULL, 0, now, out);
	else
		sched_progress(s, j, l->seg_end_bytes);
	(void)t;
}

/* Start the link's next activity if it is idle. */
static void
link_start(struct sched *s, struct link *l, struct traffic *t, int64_t now)
{
	struct sched_job *j;
	const struct msg *m;
	int64_t raw, air, ms;

	if (l->busy_until != 0)
		return;
	for (;;) {
		if (l->burst_ms >= l->model.max_burst_ms)
			j = NULL;
		else
			j = sched_next(s, l->route, now);
		if (j == NULL) {
			if (l->burst_ms > 0) {
				/* End of burst: acknowledgement and back. */
				l->turning = true;
				l->busy_until = now +
				    2 * l->model.turnaround_ms;
			}
			return;
		}
		m = &t->m[get_id(j->id)];
		raw = j->size_bytes - j->sent_bytes;
		if (raw > SEG_RAW)
			raw = SEG_RAW;
		air = raw * m->ratio_pct / 100 +
		    (j->sent_bytes == 0 ? OVERHEAD : 0);
		ms = (int64_t)((double)air * 1000.0 / l->model.rate_bps) + 1;
		/* The final segment: from here the far end decides, and
		 * it must land before a BY;R deadline. */
		if (j->sent_bytes + raw >= j->size_bytes &&
		    sched_commit_begin(s, j, now + ms, now) != 0)
			continue;
		break;
	}
	memcpy(l->seg_id, j->id, QUEUE_ID_LEN);
	l->seg_end_bytes = j->sent_bytes + raw;
	l->in_seg = true;
	l->busy_until = now + ms;
	l->burst_ms += ms;
}

static void
run(enum policy pol, const struct traffic *src, const struct predict_link *l1,
    const struct predict_link *l2, int64_t minutes, struct result *res)
{
	struct sched_cfg cfg;
	struct sched *s;
	struct sched_out out;
	struct traffic t;
	struct link links[2];
	struct clk_virtual clk;
	int64_t now, next, wake, end;
	size_t ai = 0, i;
	int k;

	t.n = t.cap = src->n;
	t.m = xmemdup(src->m, src->n * sizeof(*src->m));
	sched_cfg_default(&cfg);
	if (pol != POL_SKYWAVE)
		cfg.rules.predictive = false;
	if (pol == POL_FIFO) {
		cfg.edf = false;
		cfg.rules.alternates = false;
	}
	s = sched_new(&cfg);
	sched_out_init(&out);
	memset(links, 0, sizeof(links));
	links[0].model = *l1;
	links[1].model = *l2;
	links[0].route = sched_route_add(s, "hf1", l1);
	links[1].route = sched_route_add(s, "hf2", l2);
	clk_virtual_init(&clk, START_MS, 1800000000);
	/* Long enough for every deadline to pass after the last arrival. */
	end = START_MS + minutes * 60000 + 2 * 3600000LL;
	wake = START_MS;

	for (;;) {
		now = clk_mono_ms(&clk.base);
		while (ai < t.n && t.m[ai].arrival <= now) {
			struct msg *m = &t.m[ai];

			add_job(s, ai, m, m->route, m->by, m->arcpt, m->aby,
			    now);
			ai++;
		}
		for (k = 0; k < 2; k++)
			if (links[k].busy_until != 0 &&
			    links[k].busy_until <= now)
				link_done(s, &links[k], &t, &out, now);
		handle(s, &t, &out, res, links[1].route, now);
		wake = sched_tick(s, now, &out);
		handle(s, &t, &out, res, links[1].route, now);
		for (k = 0; k < 2; k++)
			link_start(s, &links[k], &t, now);
		/* A new job from a redirect may need a prompt first look. */
		wake = sched_tick(s, now, &out);
		handle(s, &t, &out, res, links[1].route, now);

		next = wake;
		if (ai < t.n && t.m[ai].arrival < next)
			next = t.m[ai].arrival;
		for (k = 0; k < 2; k++)
			if (links[k].busy_until != 0 &&
			    links[k].busy_until < next)
				next = links[k].busy_until;
		if (next <= now)
			next = now + 1;
		if (next > end || next == INT64_MAX)
			break;
		clk_virtual_set(&clk, next);
	}

	for (i = 0; i < t.n; i++) {
		const struct msg *m = &t.m[i];
		bool delivered = m->state == M_DELIVERED ||
		    m->state == M_ALT_DELIVERED;

		if (!m->measured)
			continue;
		res->messages++;
		res->late += m->late;
		if (m->band == 4 && m->state == M_DELIVERED) {
			res->flash_lat_sum += m->done_at - m->arrival;
			res->flash_n++;
		}
		if (m->by == 0)
			continue;
		res->by_total++;
		res->by_delivered += delivered && !m->late;
		if (m->done_at == 0 || m->done_at > m->by ||
		    m->state == M_QUEUED || m->state == M_REDIRECTED)
			res->unresolved++;
		if (m->arcpt) {
			res->arcpt_total++;
			res->arcpt_in_time += delivered && m->done_at <= m->by;
		}
	}
	sched_free(s);
	sched_out_fini(&out);
	free(t.m);
}

static void
model_from(const char *name, const char *dir, double fallback_bps,
    struct predict_link *l)
{
	struct prof p;
	char err[256];

	predict_link_default(l);
	l->overhead_bytes = OVERHEAD;
	l->ratio = 0.5;
	l->min_ratio = 0.35;
	if (prof_load_named(name, dir, &p, err, sizeof(err)) == 0) {
		l->rate_bps = l->max_rate_bps = (double)p.air.rate_bps / 8.0;
		l->turnaround_ms = p.air.turnaround_ms;
		l->max_burst_ms = p.air.max_tx_ms;
	} else {
		fprintf(stderr, "deadlines: %s (using built-in %s)\n", err,
		    name);
		l->rate_bps = l->max_rate_bps = fallback_bps;
	}
}

int
main(int argc, char **argv)
{
	uint64_t seed = 20261123;
	int64_t minutes = 30;
	double load = 1.2;
	const char *json = NULL, *pdir = NULL;
	static char dirbuf[600];
	struct predict_link l1, l2;
	struct traffic tr = { NULL, 0, 0 };
	struct result res[POL_N];
	struct timespec w0, w1;
	double wall;
	int i, p;
	FILE *f;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--minutes") == 0 && i + 1 < argc)
			minutes = strtoll(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--load") == 0 && i + 1 < argc)
			load = strtod(argv[++i], NULL);
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else if (strcmp(argv[i], "--profiles") == 0 && i + 1 < argc)
			pdir = argv[++i];
		else {
			fprintf(stderr, "usage: bench_deadlines [--seed N] "
			    "[--minutes M] [--load X] [--profiles DIR] "
			    "[--json FILE]\n");
			return 64;
		}
	}
	if (pdir == NULL && getenv("SKYWAVE_SRC")) {
		snprintf(dirbuf, sizeof(dirbuf), "%s/firmware-profiles",
		    getenv("SKYWAVE_SRC"));
		pdir = dirbuf;
	}
	model_from("hf-1200-hd", pdir, 150.0, &l1);
	model_from("hf-2400-hd", pdir, 300.0, &l2);
	gen_traffic(&tr, seed, minutes, load, &l1, &l2);

	clock_gettime(CLOCK_MONOTONIC, &w0);
	memset(res, 0, sizeof(res));
	for (p = 0; p < POL_N; p++)
		run((enum policy)p, &tr, &l1, &l2, minutes, &res[p]);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	wall = (double)(w1.tv_sec - w0.tv_sec) +
	    (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;

	printf("B3 deadlines: hf1 %.0f B/s half duplex %lld ms turnaround, "
	    "alternates on hf2 %.0f B/s; load %.2fx for %lld min; seed %llu\n",
	    l1.rate_bps, (long long)l1.turnaround_ms, l2.rate_bps, load,
	    (long long)minutes, (unsigned long long)seed);
	printf("%d messages on hf1, %d with BY;R, %d of them with ARCPT\n\n",
	    res[0].messages, res[0].by_total, res[0].arcpt_total);
	printf("%-9s %6s %10s %10s %10s %15s %12s %12s\n", "policy", "late",
	    "unresolved", "redirected", "failed_dsn", "reached_in_time",
	    "BY_in_time", "flash_lat_s");
	for (p = 0; p < POL_N; p++) {
		struct result *r = &res[p];

		printf("%-9s %6d %10d %10d %10d %15.4f %12d %12.1f\n",
		    pol_names[p], r->late, r->unresolved, r->redirected,
		    r->failed_dsn, r->arcpt_total ? (double)r->arcpt_in_time /
		    r->arcpt_total : 1.0, r->by_delivered, r->flash_n ?
		    (double)r->flash_lat_sum / (double)r->flash_n / 1000.0 :
		    0.0);
	}
	printf("\nwall time %.2f s for the three runs\n", wall);

	if (json) {
		if ((f = fopen(json, "w")) == NULL) {
			perror(json);
			return 1;
		}
		fprintf(f, "{\n  \"seed\": %llu, \"minutes\": %lld, "
		    "\"load\": %.2f, \"messages\": %d, \"with_by\": %d, "
		    "\"with_arcpt\": %d, \"wall_s\": %.3f",
		    (unsigned long long)seed, (long long)minutes, load,
		    res[0].messages, res[0].by_total, res[0].arcpt_total,
		    wall);
		for (p = 0; p < POL_N; p++) {
			struct result *r = &res[p];

			fprintf(f, ",\n  \"%s\": { \"late_deliveries\": %d, "
			    "\"unresolved\": %d, \"redirected\": %d, "
			    "\"failed_dsn\": %d, \"reached_in_time\": %.4f, "
			    "\"by_delivered_in_time\": %d }", pol_names[p],
			    r->late, r->unresolved, r->redirected,
			    r->failed_dsn, r->arcpt_total ?
			    (double)r->arcpt_in_time / r->arcpt_total : 1.0,
			    r->by_delivered);
		}
		fprintf(f, "\n}\n");
		fclose(f);
	}
	free(tr.m);
	return 0;
}
