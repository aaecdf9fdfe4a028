/*
 * queue_crashee.c - the process the crash test kills.
 *
 *   queue_crashee run DB SEED
 *       Submits a stream of messages (20 in flight, sizes from 100 bytes to
 *       300 KB, two recipients each) and, only from the commit callback,
 *       prints "<id-hex> <sha256-hex> <len>" for each with one write(2).
 *       Now and then it delivers what is queued (in flight, then delivered)
 *       so finished messages are deleted and their ids remembered. Runs
 *       until killed (or 120 s).
 *   queue_crashee verify DB ACKFILE
 *       Opens the queue (recovery and quick check must succeed), then with
 *       the read-only tool path checks that every line of ACKFILE is either
 *       present, complete and intact (stored and recomputed SHA-256 equal
 *       to the acknowledged one, right length, both recipients) or was
 *       finished; that every message present is whole (nothing
 *       half-written visible); and that the queue's own cross-table
 *       invariants hold (queue_tool_audit). Exit 0 when all holds.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue.h"
#include "queue/queue_tool.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define INFLIGHT 20

struct crashee {
	uv_loop_t loop;
	struct queue *q;
	uint64_t rng;
	uint64_t acked;
	bool delivering;
	uv_timer_t stop_timer;
};

static uint64_t
next_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void submit_one(struct crashee *c);

static void
hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

struct sub {
	struct crashee *c;
	uint8_t sha[32];
	size_t len;
};

static void
update_cb(int status, void *arg)
{
	struct crashee *c = arg;
	if (status != 0) {
		fprintf(stderr, "crashee: update failed: %s\n",
		    gw_errname(status));
		exit(3);
	}
	c->delivering = false;
}

static void
select_cb(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct crashee *c = arg;
	struct queue_change *ch;

	if (status != 0) {
		fprintf(stderr, "crashee: select failed: %s\n",
		    gw_errname(status));
		exit(3);
	}
	if (n == 0) {
		c->delivering = false;
		return;
	}
	/* in flight, then delivered, in one atomic update */
	ch = xcalloc(2 * n, sizeof(*ch));
	for (size_t i = 0; i < n; i++) {
		ch[i].rid = w[i].rid;
		ch[i].to = QUEUE_R_INFLIGHT;
		ch[n + i].rid = w[i].rid;
		ch[n + i].to = QUEUE_R_DELIVERED;
		ch[n + i].status = "2.0.0";
	}
	if (queue_update(c->q, ch, 2 * n, update_cb, c) != 0)
		exit(3);
	free(ch);
}

static void
submit_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct sub *s = arg;
	struct crashee *c = s->c;
	char line[160], idh[33], shah[65];

	if (status != 0) {
		fprintf(stderr, "crashee: submit failed: %s\n",
		    gw_errname(status));
		exit(3);
	}
	hex(id, QUEUE_ID_LEN, idh);
	hex(s->sha, 32, shah);
	int n = snprintf(line, sizeof(line), "%s %s %zu\n", idh, shah, s->len);
	if (write(1, line, (size_t)n) != n)
		exit(4);
	free(s);
	c->acked++;
	if (c->acked % 64 == 0 && !c->delivering) {
		c->delivering = true;
		if (queue_select(c->q, "crash", 100, select_cb, c) != 0)
			exit(3);
	}
	submit_one(c);
}

static void
submit_one(struct crashee *c)
{
	struct queue_envelope *e = xcalloc(1, sizeof(*e));
	struct sub *s = xcalloc(1, sizeof(*s));
	struct buf b = BUF_INIT;
	uint64_t r = next_rand(&c->rng);
	size_t len;

	if (r % 100 < 70)
		len = 100 + (size_t)(r >> 8) % 8000;
	else if (r % 100 < 95)
		len = 8000 + (size_t)(r >> 8) % 92000;
	else
		len = 100000 + (size_t)(r >> 8) % 200000;
	buf_reserve(&b, len);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t x = next_rand(&c->rng);
		size_t k = len - i < 8 ? len - i : 8;
		memcpy(b.data + i, &x, k);
	}
	b.len = len;
	crypto_hash_sha256(s->sha, b.data, len);
	s->c = c;
	s->len = len;
	e->reverse_path = xstrdup("crash@a.test");
	e->band = (int)(r % 4);
	e->client = xstrdup("crashee");
	e->nrcpts = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	for (int i = 0; i < 2; i++) {
		e->rcpts[i].addr = xstrdup(i ? "b@x.test" : "a@x.test");
		e->rcpts[i].route = xstrdup("crash");
	}
	if (queue_submit(c->q, e, &b, submit_cb, s) != 0)
		exit(3);
	buf_fini(&b);
}

static void
stop_cb(uv_timer_t *t)
{
	(void)t;
	exit(0);
}

static int
run(const char *db, uint64_t seed)
{
	struct crashee c = { 0 };
	struct queue_opts o;

	queue_opts_init(&o);
	o.path = db;
	o.check = QUEUE_CHECK_NONE;
	c.rng = seed | 1;
	uv_loop_init(&c.loop);
	int rc = queue_open(&c.loop, &o, &c.q);
	if (rc) {
		fprintf(stderr, "crashee: open: %s\n", gw_errname(rc));
		return 2;
	}
	uv_timer_init(&c.loop, &c.stop_timer);
	uv_timer_start(&c.stop_timer, stop_cb, 120000, 0);
	for (int i = 0; i < INFLIGHT; i++)
		submit_one(&c);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	return 0;
}

struct vstate {
	struct queue_tool *t;
	long present, finished, whole;
	int bad;
};

static int
check_whole(const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct vstate *v = arg;
	struct queue_msg_info *m;
	uint8_t sha[32];
	char idh[33];
	int rc;

	queue_id_hex(id, idh);
	if ((rc = queue_tool_load(v->t, id, &m)) != 0) {
		fprintf(stderr, "verify: %s: load: %s\n", idh, gw_errname(rc));
		v->bad++;
		return 0;
	}
	rc = queue_tool_hash(v->t, id, sha);
	if (!m->complete || rc != 0 || m->size != m->total ||
	    memcmp(sha, m->sha256, 32) != 0 || m->env.nrcpts != 2) {
		fprintf(stderr, "verify: %s: half-written (complete=%d "
				"hash=%s size=%lld total=%lld rcpts=%zu)\n",
		    idh, m->complete, gw_errname(rc), (long long)m->size,
		    (long long)m->total, m->env.nrcpts);
		v->bad++;
	}
	v->whole++;
	queue_tool_msg_free(m);
	return 0;
}

static int
verify(const char *db, const char *ackfile)
{
	struct vstate v = { 0 };
	struct queue_opts o;
	struct queue *q;
	uv_loop_t loop;
	char line[256];
	FILE *f;
	int rc;

	/* 1. the queue opens: recovery runs, quick check passes */
	queue_opts_init(&o);
	o.path = db;
	o.check = QUEUE_CHECK_QUICK;
	uv_loop_init(&loop);
	if ((rc = queue_open(&loop, &o, &q)) != 0) {
		fprintf(stderr, "verify: open: %s\n", gw_errname(rc));
		return 1;
	}
	queue_close(q, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);

	if ((rc = queue_tool_open(db, &v.t)) != 0) {
		fprintf(stderr, "verify: tool open: %s\n", gw_errname(rc));
		return 1;
	}
	/* 2. every acknowledged message is there and intact, or finished */
	if ((f = fopen(ackfile, "r")) == NULL) {
		perror(ackfile);
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		char idh[64], shah[128];
		size_t len;
		uint8_t id[QUEUE_ID_LEN], sha[32], got[32];
		struct queue_msg_info *m;
		if (strchr(line, '\n') == NULL)
			break; /* torn last line: not acknowledged */
		if (sscanf(line, "%63s %127s %zu", idh, shah, &len) != 3 ||
		    queue_id_parse(idh, id) != 0 || strlen(shah) != 64) {
			fprintf(stderr, "verify: bad ack line: %s", line);
			v.bad++;
			continue;
		}
		for (int i = 0; i < 32; i++)
			sscanf(shah + 2 * i, "%2hhx", &sha[i]);
		rc = queue_tool_load(v.t, id, &m);
		if (rc == GW_ENOENT) {
			if (queue_tool_is_committed(v.t, id) == GW_EDUP) {
				v.finished++;
				continue;
			}
			fprintf(stderr, "verify: %s: LOST\n", idh);
			v.bad++;
			continue;
		}
		if (rc) {
			fprintf(stderr, "verify: %s: %s\n", idh,
			    gw_errname(rc));
			v.bad++;
			continue;
		}
		rc = queue_tool_hash(v.t, id, got);
		if (!m->complete || m->size != (int64_t)len || rc != 0 ||
		    memcmp(m->sha256, sha, 32) != 0 ||
		    memcmp(got, sha, 32) != 0) {
			fprintf(stderr, "verify: %s: DAMAGED\n", idh);
			v.bad++;
		}
		v.present++;
		queue_tool_msg_free(m);
	}
	fclose(f);
	/* 3. nothing half-written is visible */
	if ((rc = queue_tool_foreach(v.t, check_whole, &v)) != 0) {
		fprintf(stderr, "verify: foreach: %s\n", gw_errname(rc));
		v.bad++;
	}
	if ((rc = queue_tool_audit(v.t)) != 0) {
		fprintf(stderr, "verify: audit: %s\n", gw_errname(rc));
		v.bad++;
	}
	struct queue_stats st;
	if (queue_tool_stats(v.t, &st) != 0 || st.partials != 0 ||
	    st.rcpts[QUEUE_R_INFLIGHT] != 0) {
		fprintf(stderr, "verify: stats: partials or in flight left\n");
		v.bad++;
	}
	queue_tool_close(v.t);
	printf("verify: acked_present=%ld acked_finished=%ld whole=%ld "
	       "bad=%d\n",
	    v.present, v.finished, v.whole, v.bad);
	return v.bad ? 1 : 0;
}

int
main(int argc, char **argv)
{
	gw_log_set_level(GW_LOG_WARN);
	if (sodium_init() < 0)
		return 2;
	if (argc == 4 && strcmp(argv[1], "run") == 0)
		return run(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2], argv[3]);
	fprintf(stderr, "usage: queue_crashee run DB SEED | verify DB ACKS\n");
	return 64;
}
