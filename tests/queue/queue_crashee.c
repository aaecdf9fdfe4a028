/*
 * queue_crashee.c - the process the crash test kills.
 *
 *   queue_crashee run DB SEED
 *       Submits a stream of messages (20 in flight, sizes from 100 bytes to
 *       300 KB, two recipients each) and, only from the commit callback,
 *       prints "<id-hex> <sha256-hex> <len>" for each with one write(2).
 *       Now and then it delivers what is queued (in flight, then delivered)
 *       so finished messages are deleted and their ids remembered. At the
 *       same time it receives partial transfers (fixed ids, sizes and
 *       contents per transfer number), resuming an unfinished one from its
 *       committed offset: "O <id-hex> <offset>" after each append's
 *       callback, the usual ack line after its finish. Runs until killed
 *       (or 120 s).
 *   queue_crashee verify DB ACKFILE
 *       Opens the queue (recovery and quick check must succeed), then with
 *       the read-only tool path checks that every line of ACKFILE is either
 *       present, complete and intact (stored and recomputed SHA-256 equal
 *       to the acknowledged one, right length, both recipients) or was
 *       finished; that every message present is whole (nothing
 *       half-written visible); and that the queue's own cross-table
 *       invariants hold (queue_tool_audit); that no partial transfer lost
 *       an acknowledged append. Exit 0 when all holds.
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
	/* the partial transfer stream: transfer pk, content p_data */
	uint64_t pk;
	uint8_t pid[QUEUE_ID_LEN];
	uint8_t *p_data;
	size_t p_total;
	int64_t p_off;
	bool submitting;
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
static void partial_probe(struct crashee *c);

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

/* --- partial transfers: transfer k has a fixed id, size and content, so a
 * restarted crashee finds where the previous one got to and resumes. --- */

static void
partial_setup(struct crashee *c)
{
	uint64_t r = c->pk * 0x9e3779b97f4a7c15ull + 1;

	memset(c->pid, 0, QUEUE_ID_LEN);
	memcpy(c->pid, "PARTIAL", 7);
	memcpy(c->pid + 8, &c->pk, sizeof(c->pk));
	c->p_total = 1000 + (size_t)(c->pk * 7919 % 300000);
	free(c->p_data);
	c->p_data = xmalloc(c->p_total);
	for (size_t i = 0; i < c->p_total; i++)
		c->p_data[i] = (uint8_t)(next_rand(&r) >> 24);
}

static void
say(const char *line, size_t n)
{
	if (write(1, line, n) != (ssize_t)n)
		exit(4);
}

static void
partial_finish_cb(int status, void *arg)
{
	struct crashee *c = arg;
	char line[160], idh[33], shah[65];
	uint8_t sha[32];

	if (status != 0) {
		fprintf(stderr, "crashee: partial finish: %s\n",
		    gw_errname(status));
		exit(3);
	}
	crypto_hash_sha256(sha, c->p_data, c->p_total);
	hex(c->pid, QUEUE_ID_LEN, idh);
	hex(sha, 32, shah);
	say(line, (size_t)snprintf(line, sizeof(line), "%s %s %zu\n", idh,
			  shah, c->p_total));
	c->pk++;
	partial_probe(c);
}

static void partial_append(struct crashee *c);

static void
partial_append_cb(int status, int64_t value, void *arg)
{
	struct crashee *c = arg;
	char line[96], idh[33];

	if (status != 0) {
		fprintf(stderr, "crashee: partial append: %s\n",
		    gw_errname(status));
		exit(3);
	}
	c->p_off = value;
	hex(c->pid, QUEUE_ID_LEN, idh);
	say(line, (size_t)snprintf(line, sizeof(line), "O %s %lld\n", idh,
			  (long long)value));
	/* the submit stream starts once the transfer has moved, so short
	 * runs make progress on both */
	if (!c->submitting) {
		c->submitting = true;
		for (int i = 0; i < INFLIGHT; i++)
			submit_one(c);
	}
	partial_append(c);
}

static void
partial_append(struct crashee *c)
{
	if (c->p_off == (int64_t)c->p_total) {
		uint8_t sha[32];
		crypto_hash_sha256(sha, c->p_data, c->p_total);
		if (queue_partial_finish(c->q, c->pid, sha, partial_finish_cb,
			c) != 0)
			exit(3);
		return;
	}
	size_t n = 2000 + (size_t)(next_rand(&c->rng) % 60000);
	if (n > c->p_total - (size_t)c->p_off)
		n = c->p_total - (size_t)c->p_off;
	if (queue_partial_append(c->q, c->pid, c->p_off,
		c->p_data + c->p_off, n, partial_append_cb, c) != 0)
		exit(3);
}

static void
partial_begin_cb(int status, int64_t value, void *arg)
{
	struct crashee *c = arg;

	if (status != 0) {
		fprintf(stderr, "crashee: partial begin: %s\n",
		    gw_errname(status));
		exit(3);
	}
	c->p_off = value;
	partial_append(c);
}

static void
partial_known_cb(int status, void *arg)
{
	struct crashee *c = arg;

	if (status == GW_EDUP) { /* finished before: next transfer */
		c->pk++;
		partial_probe(c);
		return;
	}
	if (status != 0)
		exit(3);
	struct queue_envelope *e = xcalloc(1, sizeof(*e));
	memcpy(e->id, c->pid, QUEUE_ID_LEN);
	e->reverse_path = xstrdup("far@b.test");
	e->band = 1;
	e->client = xstrdup("far gateway");
	e->nrcpts = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	for (int i = 0; i < 2; i++) {
		e->rcpts[i].addr = xstrdup(i ? "d@x.test" : "c@x.test");
		e->rcpts[i].route = xstrdup("crash");
	}
	if (queue_partial_begin(c->q, e, (int64_t)c->p_total,
		partial_begin_cb, c) != 0)
		exit(3);
}

static void
partial_offset_cb(int status, int64_t value, void *arg)
{
	struct crashee *c = arg;

	if (status == 0) { /* resume where the committed offset is */
		c->p_off = value;
		partial_append(c);
	} else if (status == GW_EDUP) {
		c->pk++;
		partial_probe(c);
	} else if (status == GW_ENOENT) {
		if (queue_is_committed(c->q, c->pid, partial_known_cb, c) != 0)
			exit(3);
	} else {
		exit(3);
	}
}

/* Find the first transfer not finished yet and continue it. */
static void
partial_probe(struct crashee *c)
{
	partial_setup(c);
	if (queue_partial_offset(c->q, c->pid, partial_offset_cb, c) != 0)
		exit(3);
}

static void
stop_cb(uv_timer_t *t)
{
	(void)t;
	_exit(0); /* no leak report: a stopped crashee is done */
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
	partial_probe(&c);
	uv_run(&c.loop, UV_RUN_DEFAULT);
	return 0;
}

struct vstate {
	struct queue_tool *t;
	long present, finished, whole, offsets;
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
		long long off;
		uint8_t id[QUEUE_ID_LEN], sha[32], got[32];
		struct queue_msg_info *m;
		if (strchr(line, '\n') == NULL)
			break; /* torn last line: not acknowledged */
		if (sscanf(line, "O %63s %lld", idh, &off) == 2) {
			/* an acknowledged append: the partial keeps at least
			 * that much, unless it has been finished since */
			if (queue_id_parse(idh, id) != 0) {
				v.bad++;
				continue;
			}
			rc = queue_tool_load(v.t, id, &m);
			if (rc == 0) {
				if (!m->complete && m->size < off) {
					fprintf(stderr, "verify: %s: partial "
							"went back from %lld "
							"to %lld\n",
					    idh, off, (long long)m->size);
					v.bad++;
				}
				queue_tool_msg_free(m);
			} else if (queue_tool_is_committed(v.t, id) !=
			    GW_EDUP) {
				fprintf(stderr, "verify: %s: partial LOST\n",
				    idh);
				v.bad++;
			}
			v.offsets++;
			continue;
		}
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
	if (queue_tool_stats(v.t, &st) != 0 || st.partials > 1 ||
	    st.rcpts[QUEUE_R_INFLIGHT] != 0) {
		fprintf(stderr, "verify: stats: partials or in flight left\n");
		v.bad++;
	}
	queue_tool_close(v.t);
	printf("verify: acked_present=%ld acked_finished=%ld whole=%ld "
	       "offsets=%ld bad=%d\n",
	    v.present, v.finished, v.whole, v.offsets, v.bad);
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
