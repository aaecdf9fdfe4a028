/*
 * bench_queue.c - the queue alone: commit rate, footprint, scale.
 *
 *   bench_queue commitrate DIR [producers] [messages] [size]
 *       producers closed-loop clients (each submits, waits for its commit
 *       callback, submits again), fsync on (WAL, synchronous=FULL).
 *       Prints {"producers","messages","size","msgs_per_s","p50_ms",
 *       "p99_ms"}.
 *   bench_queue fill DIR COUNT SIZE
 *       Adds COUNT messages of SIZE bytes (mixed bands, 30 % with a BY
 *       deadline, two routes) as fast as group commit allows.
 *   bench_queue open DIR [state|quick|none|full]
 *       In a fresh process: time queue_open (recovery + check), then one
 *       selection, one segment read and one airtime query, then sample
 *       RSS (steady) and its high-water mark (peak); then a queue_stats
 *       (a full scan, as the console's summary would do) and the peak
 *       again. Prints {"startup_s","rss_steady_kb","rss_peak_kb",
 *       "rss_peak_with_stats_kb","db_bytes","messages","content_bytes"}.
 *   bench_queue probe DIR SAMPLES
 *       Median microseconds of: enqueue (one 4 KB submit to its commit
 *       callback, alone), next (select the next recipient on a route and
 *       read its first 1 KB segment), ahead (airtime-ahead query).
 *       Prints {"enqueue_us","next_us","ahead_us"}.
 *
 * Everything runs through the public asynchronous API on a libuv loop, as
 * the daemon would use it.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#define NOW_BASE 1800000000

struct bench {
	uv_loop_t loop;
	struct queue *q;
	char path[4096];
	uint64_t rng;
	/* commitrate / fill */
	long target, submitted, done;
	size_t size;
	double *lat_ms;
	uint64_t *t_sub;
	int outstanding, max_outstanding;
};

static uint64_t
rnd(struct bench *b)
{
	uint64_t x = b->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	b->rng = x;
	return x;
}

static double
now_s(void)
{
	return (double)uv_hrtime() / 1e9;
}

static void
open_q(struct bench *b, const char *dir, enum queue_check check)
{
	struct queue_opts o;
	int rc;

	snprintf(b->path, sizeof(b->path), "%s/queue.db", dir);
	queue_opts_init(&o);
	o.path = b->path;
	o.check = check;
	uv_loop_init(&b->loop);
	if ((rc = queue_open(&b->loop, &o, &b->q)) != 0) {
		fprintf(stderr, "bench_queue: open %s: %s\n", b->path,
		    gw_errname(rc));
		exit(1);
	}
}

static void
close_q(struct bench *b)
{
	queue_close(b->q, NULL, NULL);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	uv_loop_close(&b->loop);
}

static struct queue_envelope *
make_env(struct bench *b)
{
	struct queue_envelope *e = xcalloc(1, sizeof(*e));
	uint64_t r = rnd(b);

	e->reverse_path = xstrdup("bench@a.test");
	e->band = (int)(r % 6);
	e->priority = e->band;
	if (r % 10 < 3) {
		e->by_deadline = NOW_BASE + 300 + (int64_t)((r >> 8) % 3600);
		e->by_mode = 'R';
	}
	e->client = xstrdup("bench [127.0.0.1]");
	e->nrcpts = 1;
	e->rcpts = xcalloc(1, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("user@far.test");
	e->rcpts[0].route = xstrdup((r >> 20) % 4 ? "hf1" : "hf2");
	return e;
}

static void
make_content(struct bench *b, struct buf *c, size_t size)
{
	/* incompressible bytes: the figures do not depend on compression */
	buf_reserve(c, size);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t x = rnd(b);
		memcpy(c->data + i, &x, size - i < 8 ? size - i : 8);
	}
	c->len = size;
}

static void submit_next(struct bench *b, long slot);

struct slot {
	struct bench *b;
	long slot;
};

static void
submit_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct slot *s = arg;
	struct bench *b = s->b;

	(void)id;
	if (status != 0) {
		fprintf(stderr, "bench_queue: submit: %s\n",
		    gw_errname(status));
		exit(1);
	}
	if (b->lat_ms && b->done < b->target)
		b->lat_ms[b->done] =
		    (double)(uv_hrtime() - b->t_sub[s->slot]) / 1e6;
	b->done++;
	b->outstanding--;
	if (b->submitted < b->target)
		submit_next(b, s->slot);
	free(s);
}

static void
submit_next(struct bench *b, long slot)
{
	struct buf c = BUF_INIT;
	struct slot *s = xcalloc(1, sizeof(*s));

	s->b = b;
	s->slot = slot;
	make_content(b, &c, b->size);
	if (b->t_sub)
		b->t_sub[slot] = uv_hrtime();
	if (queue_submit(b->q, make_env(b), &c, submit_cb, s) != 0)
		exit(1);
	buf_fini(&c);
	b->submitted++;
	b->outstanding++;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int
cmd_commitrate(const char *dir, int producers, long messages, size_t size)
{
	struct bench b = { 0 };
	double t0, t1;

	b.rng = 0x9e3779b97f4a7c15ull;
	open_q(&b, dir, QUEUE_CHECK_NONE);
	b.target = messages;
	b.size = size;
	b.lat_ms = xcalloc((size_t)messages, sizeof(double));
	b.t_sub = xcalloc((size_t)producers, sizeof(uint64_t));
	t0 = now_s();
	for (int i = 0; i < producers && b.submitted < b.target; i++)
		submit_next(&b, i);
	while (b.done < b.target)
		uv_run(&b.loop, UV_RUN_ONCE);
	t1 = now_s();
	close_q(&b);
	qsort(b.lat_ms, (size_t)messages, sizeof(double), cmp_double);
	printf("{\"producers\": %d, \"messages\": %ld, \"size\": %zu, "
	       "\"msgs_per_s\": %.0f, \"p50_ms\": %.2f, \"p99_ms\": %.2f}\n",
	    producers, messages, size, (double)messages / (t1 - t0),
	    b.lat_ms[messages / 2], b.lat_ms[messages * 99 / 100]);
	free(b.lat_ms);
	free(b.t_sub);
	return 0;
}

static int
cmd_fill(const char *dir, long count, size_t size)
{
	struct bench b = { 0 };
	double t0;

	b.rng = 0x2545f4914f6cdd1dull ^ (uint64_t)count ^ uv_hrtime();
	open_q(&b, dir, QUEUE_CHECK_NONE);
	b.target = count;
	b.size = size;
	t0 = now_s();
	/* keep about two batches waiting so every commit carries a full one */
	for (long i = 0; i < 512 && b.submitted < b.target; i++)
		submit_next(&b, i);
	while (b.done < b.target)
		uv_run(&b.loop, UV_RUN_ONCE);
	fprintf(stderr, "bench_queue: filled %ld x %zu B in %.1f s\n", count,
	    size, now_s() - t0);
	close_q(&b);
	return 0;
}

struct probe {
	bool done;
	int status;
	int64_t value;
	uint8_t id[QUEUE_ID_LEN];
	bool have;
	size_t len;
};

static void
p_select_cb(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct probe *p = arg;
	p->status = status;
	p->have = n > 0;
	if (n)
		memcpy(p->id, w[0].id, QUEUE_ID_LEN);
	p->done = true;
}

static void
p_read_cb(int status, const uint8_t *data, size_t len, int64_t total,
    void *arg)
{
	struct probe *p = arg;
	(void)data;
	(void)total;
	p->status = status;
	p->len = len;
	p->done = true;
}

static void
p_value_cb(int status, int64_t value, void *arg)
{
	struct probe *p = arg;
	p->status = status;
	p->value = value;
	p->done = true;
}

static void
p_submit_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct probe *p = arg;
	p->status = status;
	memcpy(p->id, id, QUEUE_ID_LEN);
	p->done = true;
}

static void
wait_p(struct bench *b, struct probe *p)
{
	while (!p->done)
		uv_run(&b->loop, UV_RUN_ONCE);
	if (p->status != 0) {
		fprintf(stderr, "bench_queue: probe: %s\n",
		    gw_errname(p->status));
		exit(1);
	}
}

/* One "pick the next segment": selection, then its first 1 KB. */
static void
next_segment(struct bench *b, const char *route, uint8_t id[QUEUE_ID_LEN])
{
	struct probe p = { 0 };

	if (queue_select(b->q, route, 1, p_select_cb, &p) != 0)
		exit(1);
	wait_p(b, &p);
	if (!p.have) {
		fprintf(stderr, "bench_queue: nothing to select\n");
		exit(1);
	}
	memcpy(id, p.id, QUEUE_ID_LEN);
	p.done = false;
	if (queue_read_content(b->q, id, 0, 1024, p_read_cb, &p) != 0)
		exit(1);
	wait_p(b, &p);
}

static long
rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return v;
}

static long long
file_size(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void
p_stats_cb(int status, const struct queue_stats *s, void *arg)
{
	struct queue_stats *out = arg;
	if (status != 0)
		exit(1);
	*out = *s;
	out->partials = -1000; /* mark done */
}

static int
cmd_open(const char *dir, enum queue_check check)
{
	struct bench b = { 0 };
	struct probe p = { 0 };
	struct queue_stats st = { 0 };
	uint8_t id[QUEUE_ID_LEN];
	char wal[4200];
	double t0, t1;
	long steady, peak, peak_stats;

	t0 = now_s();
	open_q(&b, dir, check);
	t1 = now_s();
	next_segment(&b, "hf1", id);
	if (queue_bytes_ahead(b.q, "hf1", id, p_value_cb, &p) != 0)
		exit(1);
	wait_p(&b, &p);
	steady = rss_kb("VmRSS:");
	peak = rss_kb("VmHWM:");
	/* counts for the report (a full scan, after the RSS sample) */
	if (queue_stats(b.q, p_stats_cb, &st) != 0)
		exit(1);
	while (st.partials != -1000)
		uv_run(&b.loop, UV_RUN_ONCE);
	peak_stats = rss_kb("VmHWM:");
	close_q(&b);
	snprintf(wal, sizeof(wal), "%s-wal", b.path);
	printf("{\"startup_s\": %.3f, \"rss_steady_kb\": %ld, "
	       "\"rss_peak_kb\": %ld, \"rss_peak_with_stats_kb\": %ld, "
	       "\"db_bytes\": %lld, \"messages\": %lld, "
	       "\"content_bytes\": %lld}\n",
	    t1 - t0, steady, peak, peak_stats,
	    file_size(b.path) + file_size(wal), (long long)st.messages,
	    (long long)st.content_bytes);
	return 0;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

static int
cmd_probe(const char *dir, int samples)
{
	struct bench b = { 0 };
	double *enq = xcalloc((size_t)samples, sizeof(double));
	double *nxt = xcalloc((size_t)samples, sizeof(double));
	double *ahd = xcalloc((size_t)samples, sizeof(double));

	b.rng = 0x1234567ull ^ uv_hrtime();
	open_q(&b, dir, QUEUE_CHECK_NONE);
	for (int i = 0; i < samples; i++) {
		struct probe p = { 0 };
		struct buf c = BUF_INIT;
		uint8_t id[QUEUE_ID_LEN];
		uint64_t t;

		make_content(&b, &c, 4096);
		t = uv_hrtime();
		if (queue_submit(b.q, make_env(&b), &c, p_submit_cb, &p) != 0)
			exit(1);
		wait_p(&b, &p);
		enq[i] = (double)(uv_hrtime() - t) / 1e3;
		buf_fini(&c);

		t = uv_hrtime();
		next_segment(&b, "hf1", id);
		nxt[i] = (double)(uv_hrtime() - t) / 1e3;

		/* airtime ahead of the message just queued (a typical one,
		 * somewhere in the middle of its band) */
		memcpy(id, p.id, QUEUE_ID_LEN);
		memset(&p, 0, sizeof(p));
		t = uv_hrtime();
		if (queue_bytes_ahead(b.q, "hf1", id, p_value_cb, &p) != 0)
			exit(1);
		while (!p.done)
			uv_run(&b.loop, UV_RUN_ONCE);
		if (p.status != 0 && p.status != GW_ENOENT)
			exit(1);
		ahd[i] = (double)(uv_hrtime() - t) / 1e3;
	}
	close_q(&b);
	printf("{\"enqueue_us\": %.0f, \"next_us\": %.0f, \"ahead_us\": %.0f}\n",
	    median(enq, samples), median(nxt, samples), median(ahd, samples));
	free(enq);
	free(nxt);
	free(ahd);
	return 0;
}

int
main(int argc, char **argv)
{
	gw_log_set_level(GW_LOG_WARN);
	if (argc >= 3 && strcmp(argv[1], "commitrate") == 0)
		return cmd_commitrate(argv[2], argc > 3 ? atoi(argv[3]) : 20,
		    argc > 4 ? atol(argv[4]) : 5000,
		    argc > 5 ? (size_t)atol(argv[5]) : 4096);
	if (argc == 5 && strcmp(argv[1], "fill") == 0)
		return cmd_fill(argv[2], atol(argv[3]), (size_t)atol(argv[4]));
	if (argc >= 3 && strcmp(argv[1], "open") == 0) {
		enum queue_check c = QUEUE_CHECK_STATE;
		if (argc > 3 && strcmp(argv[3], "none") == 0)
			c = QUEUE_CHECK_NONE;
		if (argc > 3 && strcmp(argv[3], "quick") == 0)
			c = QUEUE_CHECK_QUICK;
		if (argc > 3 && strcmp(argv[3], "full") == 0)
			c = QUEUE_CHECK_FULL;
		return cmd_open(argv[2], c);
	}
	if (argc >= 3 && strcmp(argv[1], "probe") == 0)
		return cmd_probe(argv[2], argc > 3 ? atoi(argv[3]) : 101);
	fprintf(stderr, "usage: bench_queue commitrate|fill|open|probe DIR "
			"...\n");
	return 64;
}
