/*
 * queue.c - the queue's asynchronous API and its owner thread.
 *
 * Ownership and threads:
 *   - struct queue is created by queue_open() on the loop thread and freed
 *     by the close callback of its uv_async handle (queue_close()).
 *   - The owner thread (owner_main) holds the only struct queue__db and is
 *     the only caller of SQLite for this queue. The loop thread never calls
 *     SQLite (queue_open waits for the owner thread's result instead).
 *   - Requests (struct req) travel loop -> owner through the mailbox
 *     (q->in_*, under q->mu) and back through q->done_* plus uv_async_send;
 *     a request is owned by whoever holds it, and freed on the loop thread
 *     after its callback has run.
 *
 * Group commit: the owner thread takes every request waiting in the mailbox
 * (at most opts.max_batch) and runs them in ONE transaction, each inside
 * its own savepoint so a failing request is undone alone. One COMMIT (one
 * WAL fsync with synchronous=FULL) then covers them all, and only after it
 * returned are their completions posted. If the COMMIT fails, every request
 * of the batch fails with that code (nothing of them is stored).
 *
 * Owner thread states:
 *
 *   OPENING --ok--> SERVING --stop--> DRAINING --> DONE
 *      |                                 (cancel what waits,
 *      +--error--> DONE                   close the database)
 *
 * Invariants: a request's callback runs exactly once, on the loop thread;
 * no completion of a write is posted before the commit that holds it; after
 * q->closing is set no request enters the mailbox.
 */
#include "queue/queue.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/queue_db.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB "queue"
#define PRUNE_EVERY_S 10
#define PRUNE_ROWS 10000
#define BATCH_BYTES (16u << 20)

#define OP_MAP(XX)                                                     \
	XX(SUBMIT, "submit", 1)                                        \
	XX(SELECT, "select", 0)                                        \
	XX(AHEAD, "bytes_ahead", 0)                                    \
	XX(UPDATE, "update", 1)                                        \
	XX(LOAD, "load", 0)                                            \
	XX(READ, "read", 0)                                            \
	XX(KNOWN, "is_committed", 0)                                   \
	XX(PBEGIN, "partial_begin", 1)                                 \
	XX(PAPPEND, "partial_append", 1)                               \
	XX(POFFSET, "partial_offset", 0)                               \
	XX(PFINISH, "partial_finish", 1)                               \
	XX(PABORT, "partial_abort", 1)                                 \
	XX(MSGOP, "operator", 1)                                       \
	XX(EVENTS, "events", 0)                                        \
	XX(STATS, "stats", 0)                                          \
	XX(HELD, "held", 0)                                            \
	XX(LIST, "list", 0)                                            \
	XX(CHECK, "check", 0)                                          \
	XX(MAXPAGES, "max_pages", 0)

enum op {
#define XX(name, str, w) OP_##name,
	OP_MAP(XX)
#undef XX
};

static const char *const op_names[] = {
#define XX(name, str, w) str,
	OP_MAP(XX)
#undef XX
};

struct req {
	struct req *next;
	enum op op;
	int status;
	int64_t now;
	void *arg;
	union {
		queue_submit_cb submit;
		queue_select_cb select;
		queue_value_cb value;
		queue_status_cb status;
		queue_load_cb load;
		queue_read_cb read;
		queue_events_cb events;
		queue_stats_cb stats;
		queue_held_cb held;
	} cb;
	/* inputs */
	uint8_t id[QUEUE_ID_LEN];
	uint8_t sha[32];
	struct queue_envelope *env;
	struct buf data; /* submit content, append data, read result */
	char *text;      /* route or reason */
	int64_t i1;      /* offset, after, total, max pages */
	size_t max;
	unsigned states; /* list: QUEUE_R_* mask */
	bool flag;
	enum queue__msg_op msgop;
	struct queue_change *ch;
	size_t nch;
	/* outputs */
	int64_t value;
	struct queue_work *work;
	size_t nwork;
	struct queue_msg_info *info;
	struct queue_event *ev;
	size_t nev;
	struct queue_stats stats;
	struct queue_held *held;
	size_t nheld;
};

struct queue {
	uv_loop_t *loop;
	uv_async_t async;
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cv;
	/* under mu */
	struct req *in_head, *in_tail;
	struct req *done_head, *done_tail;
	bool stop;
	bool thread_done;
	int open_rc;
	bool opened;
	/* loop thread only */
	bool closing;
	bool handle_closed;
	queue_close_cb close_cb;
	void *close_arg;
	const struct gw_clock *clock;
	/* owner thread only */
	struct queue__db *db;
	struct queue_opts opts;
	char *path;
	char *vfs;
	int64_t last_prune;
	int64_t commits, requests;
};

static void
free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

/* --- small public helpers ------------------------------------------------ */

void
queue_opts_init(struct queue_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->dup_retention_s = QUEUE_DUP_RETENTION_DEFAULT_S;
	o->event_retention_s = QUEUE_EVENT_RETENTION_DEFAULT_S;
	o->check = QUEUE_CHECK_STATE;
	o->max_batch = QUEUE_MAX_BATCH_DEFAULT;
}

void
queue_envelope_free(struct queue_envelope *env)
{
	if (env == NULL)
		return;
	free(env->reverse_path);
	free(env->envid);
	free(env->client);
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
		free(env->rcpts[i].arcpt);
		free(env->rcpts[i].route);
	}
	free(env->rcpts);
	free(env);
}

static char *dup_or_null(const char *s);

struct queue_envelope *
queue_envelope_dup(const struct queue_envelope *e)
{
	struct queue_envelope *c = xcalloc(1, sizeof(*c));

	*c = *e;
	c->reverse_path = dup_or_null(e->reverse_path);
	c->envid = dup_or_null(e->envid);
	c->client = dup_or_null(e->client);
	c->rcpts = xcalloc(e->nrcpts ? e->nrcpts : 1, sizeof(*c->rcpts));
	for (size_t i = 0; i < e->nrcpts; i++) {
		c->rcpts[i] = e->rcpts[i];
		c->rcpts[i].addr = dup_or_null(e->rcpts[i].addr);
		c->rcpts[i].orcpt = dup_or_null(e->rcpts[i].orcpt);
		c->rcpts[i].arcpt = dup_or_null(e->rcpts[i].arcpt);
		c->rcpts[i].route = dup_or_null(e->rcpts[i].route);
	}
	return c;
}

void
queue_id_hex(const uint8_t id[QUEUE_ID_LEN], char out[33])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < QUEUE_ID_LEN; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[32] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
queue_id_parse(const char *hex, uint8_t id[QUEUE_ID_LEN])
{
	if (hex == NULL || strlen(hex) != 2 * QUEUE_ID_LEN)
		return GW_EINVAL;
	for (int i = 0; i < QUEUE_ID_LEN; i++) {
		int a = hexval(hex[2 * i]), b = hexval(hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return GW_EINVAL;
		id[i] = (uint8_t)(a << 4 | b);
	}
	return 0;
}

static bool
id_is_zero(const uint8_t id[QUEUE_ID_LEN])
{
	uint8_t acc = 0;

	for (int i = 0; i < QUEUE_ID_LEN; i++)
		acc |= id[i];
	return acc == 0;
}

/* --- requests ------------------------------------------------------------ */

static void
req_free(struct req *r)
{
	queue_envelope_free(r->env);
	buf_fini(&r->data);
	free(r->text);
	for (size_t i = 0; i < r->nch; i++) {
		free_const(r->ch[i].error);
		free_const(r->ch[i].status);
		free_const(r->ch[i].route);
	}
	free(r->ch);
	queue__work_free(r->work, r->nwork);
	queue__msg_info_free(r->info);
	queue__events_free(r->ev, r->nev);
	free(r->held);
	free(r);
}

static struct req *
req_new(struct queue *q, enum op op, void *arg)
{
	struct req *r = xcalloc(1, sizeof(*r));

	r->op = op;
	r->arg = arg;
	r->now = clk_wall_s(q->clock);
	buf_init(&r->data);
	return r;
}

/* Loop thread: hand r to the owner thread. */
static int
req_post(struct queue *q, struct req *r)
{
	if (q->closing) {
		req_free(r);
		return GW_ECLOSED;
	}
	uv_mutex_lock(&q->mu);
	if (q->in_tail)
		q->in_tail->next = r;
	else
		q->in_head = r;
	q->in_tail = r;
	uv_cond_signal(&q->cv);
	uv_mutex_unlock(&q->mu);
	return 0;
}

static void
req_complete(struct req *r)
{
	int st = r->status;

	switch (r->op) {
	case OP_SUBMIT:
		r->cb.submit(st, r->env->id, r->arg);
		break;
	case OP_SELECT:
	case OP_LIST:
		r->cb.select(st, st ? NULL : r->work, st ? 0 : r->nwork,
		    r->arg);
		break;
	case OP_AHEAD:
	case OP_PBEGIN:
	case OP_PAPPEND:
	case OP_POFFSET:
	case OP_MSGOP:
		r->cb.value(st, r->value, r->arg);
		break;
	case OP_UPDATE:
	case OP_KNOWN:
	case OP_PFINISH:
	case OP_PABORT:
	case OP_CHECK:
	case OP_MAXPAGES:
		r->cb.status(st, r->arg);
		break;
	case OP_LOAD:
		r->cb.load(st, st ? NULL : r->info, r->arg);
		break;
	case OP_READ:
		r->cb.read(st, st || r->data.len == 0 ? NULL : r->data.data,
		    st ? 0 : r->data.len, r->value, r->arg);
		break;
	case OP_EVENTS:
		r->cb.events(st, st ? NULL : r->ev, st ? 0 : r->nev, r->arg);
		break;
	case OP_STATS:
		r->cb.stats(st, st ? NULL : &r->stats, r->arg);
		break;
	case OP_HELD:
		r->cb.held(st, st ? NULL : r->held, st ? 0 : r->nheld, r->arg);
		break;
	}
}

/* --- owner thread -------------------------------------------------------- */

static bool
storage_error(int rc)
{
	return rc == GW_ENOSPC || rc == GW_EIO || rc == GW_ECORRUPT ||
	    rc == GW_EINTERNAL || rc == GW_EBUSY;
}

/* Run one request inside the open transaction. Returns 0 to keep its
 * changes (r->status then says how it went) or an error to undo them. */
static int
req_exec(struct queue *q, struct req *r)
{
	struct queue__db *d = q->db;
	int rc = 0;

	switch (r->op) {
	case OP_SUBMIT: {
		uint8_t sha[32];
		crypto_hash_sha256(sha, r->data.data,
		    (unsigned long long)r->data.len);
		rc = queue__db_submit(d, r->env, r->data.data, r->data.len,
		    sha, r->now);
		if (rc == 0 && r->nch)
			rc = queue__db_update(d, r->ch, r->nch, r->now);
		if (rc == 0)
			buf_fini(&r->data); /* stored; drop it early */
		break;
	}
	case OP_SELECT:
		rc = queue__db_select(d, r->text, r->now, r->max, &r->work,
		    &r->nwork);
		break;
	case OP_LIST:
		rc = queue__db_list(d, r->text, (int)r->i1,
		    r->states, r->max, &r->work, &r->nwork);
		break;
	case OP_AHEAD:
		rc = queue__db_bytes_ahead(d, r->text, r->id, &r->value);
		break;
	case OP_UPDATE:
		rc = queue__db_update(d, r->ch, r->nch, r->now);
		break;
	case OP_LOAD:
		rc = queue__db_load(d, r->id, &r->info);
		break;
	case OP_READ:
		rc = queue__db_read(d, r->id, r->i1, r->max, &r->data,
		    &r->value);
		break;
	case OP_KNOWN:
		rc = queue__db_known(d, r->id);
		break;
	case OP_PBEGIN:
		rc = queue__db_partial_begin(d, r->env, r->i1, r->now,
		    &r->value);
		break;
	case OP_PAPPEND:
		rc = queue__db_partial_append(d, r->id, r->i1, r->data.data,
		    r->data.len, r->now, &r->value);
		break;
	case OP_POFFSET:
		rc = queue__db_partial_offset(d, r->id, &r->value);
		break;
	case OP_PFINISH: {
		int verdict = 0;
		rc = queue__db_partial_finish(d, r->id, r->sha, r->now,
		    &verdict);
		if (rc == 0)
			r->status = verdict;
		break;
	}
	case OP_PABORT:
		rc = queue__db_partial_abort(d, r->id, r->now);
		break;
	case OP_MSGOP:
		rc = queue__db_msg_op(d, r->id, r->msgop, r->text, r->now,
		    &r->value);
		break;
	case OP_EVENTS:
		rc = queue__db_events(d, r->i1, r->max, &r->ev, &r->nev);
		break;
	case OP_STATS:
		rc = queue__db_stats(d, &r->stats);
		r->stats.commits = q->commits;
		r->stats.requests = q->requests;
		break;
	case OP_HELD:
		rc = queue__db_held(d, r->max, &r->held, &r->nheld);
		break;
	case OP_CHECK:
		rc = queue__db_check(d, r->flag ? QUEUE_CHECK_FULL :
		    QUEUE_CHECK_QUICK);
		break;
	case OP_MAXPAGES:
		rc = queue__db_set_max_pages(d, r->i1);
		break;
	}
	if (rc && storage_error(rc)) {
		char hex[33];
		queue_id_hex(r->env ? r->env->id : r->id, hex);
		GW_LOGW(SUB, "msg=%s op=%s event=request_failed error=%s", hex,
		    op_names[r->op], gw_errname(rc));
	}
	return rc;
}

static void
batch_fail(struct req *head, struct req *stop_at, int rc)
{
	for (struct req *r = head; r && r != stop_at; r = r->next)
		if (r->status == 0)
			r->status = rc;
}

/* Housekeeping inside a batch's transaction, every PRUNE_EVERY_S: forget
 * finished ids and events past their retention, at most PRUNE_ROWS of
 * each (10,000 per 10 s keeps up with 1,000 messages a second). */
static void
maybe_prune(struct queue *q, int64_t now)
{
	if (now - q->last_prune < PRUNE_EVERY_S)
		return;
	q->last_prune = now;
	if (queue__db_savepoint(q->db) != 0)
		return;
	if (queue__db_prune(q->db, now, q->opts.dup_retention_s,
		q->opts.event_retention_s, PRUNE_ROWS) == 0)
		(void)queue__db_release(q->db);
	else
		queue__db_rollback_to(q->db);
}

/* Run a batch (a list linked by next) in one transaction. */
static void
run_batch(struct queue *q, struct req *head)
{
	struct req *txn_first = head;
	int64_t now = 0;
	int rc;

	for (struct req *r = head; r; r = r->next) {
		if (r->now > now)
			now = r->now;
		q->requests++;
	}
	if ((rc = queue__db_begin(q->db)) != 0) {
		GW_LOGW(SUB, "event=begin_failed error=%s", gw_errname(rc));
		batch_fail(head, NULL, rc);
		return;
	}
	maybe_prune(q, now);
	for (struct req *r = head; r; r = r->next) {
		if (!queue__db_in_txn(q->db)) {
			if ((rc = queue__db_begin(q->db)) != 0) {
				batch_fail(r, NULL, rc);
				return;
			}
			txn_first = r;
		}
		if ((rc = queue__db_savepoint(q->db)) == 0) {
			rc = req_exec(q, r);
			if (rc == 0 && (rc = queue__db_release(q->db)) == 0)
				continue;
		}
		r->status = rc;
		if (queue__db_in_txn(q->db)) {
			queue__db_rollback_to(q->db);
		} else {
			/* SQLite dropped the whole transaction: the requests
			 * before this one in it are lost too. */
			batch_fail(txn_first, r, rc);
		}
	}
	if (!queue__db_in_txn(q->db))
		return;
	if ((rc = queue__db_commit(q->db)) != 0) {
		GW_LOGW(SUB, "event=commit_failed error=%s", gw_errname(rc));
		batch_fail(txn_first, NULL, rc);
	} else {
		q->commits++;
	}
}

static void
owner_open(struct queue *q)
{
	int64_t n = 0, now = clk_wall_s(q->clock);
	int rc;

	rc = queue__db_open(q->path, false, q->opts.max_page_count,
	    q->opts.vfs, &q->db);
	if (rc == 0)
		rc = queue__db_check(q->db, q->opts.check);
	if (rc == 0 && (rc = queue__db_begin(q->db)) == 0) {
		rc = queue__db_recover(q->db, now, &n);
		if (rc == 0)
			rc = queue__db_prune(q->db, now,
			    q->opts.dup_retention_s, q->opts.event_retention_s,
			    PRUNE_ROWS);
		if (rc == 0)
			rc = queue__db_commit(q->db);
		else
			queue__db_rollback(q->db);
	}
	if (rc) {
		GW_LOGE(SUB, "event=open_failed path=%s error=%s", q->path,
		    gw_errname(rc));
		queue__db_close(q->db);
		q->db = NULL;
	} else {
		GW_LOGI(SUB, "event=open path=%s recovered_inflight=%lld",
		    q->path, (long long)n);
		q->last_prune = now;
	}
	uv_mutex_lock(&q->mu);
	q->open_rc = rc;
	q->opened = true;
	uv_cond_broadcast(&q->cv);
	uv_mutex_unlock(&q->mu);
}

static void
owner_main(void *arg)
{
	struct queue *q = arg;
	bool ok;

	owner_open(q);
	if (q->db == NULL)
		return;
	for (;;) {
		struct req *head, *tail, *r;
		unsigned n = 0;

		uv_mutex_lock(&q->mu);
		while (q->in_head == NULL && !q->stop)
			uv_cond_wait(&q->cv, &q->mu);
		ok = !q->stop;
		head = q->in_head;
		if (!ok) {
			/* DRAINING: what waits is canceled. */
			q->in_head = q->in_tail = NULL;
			uv_mutex_unlock(&q->mu);
			for (r = head; r; r = r->next)
				r->status = GW_ECANCELED;
			queue__db_close(q->db);
			q->db = NULL;
			uv_mutex_lock(&q->mu);
		} else {
			/* One batch: up to max_batch requests and about
			 * BATCH_BYTES of content, so a burst of big messages
			 * does not make one huge transaction. */
			size_t bytes = head->data.len;
			for (tail = head; tail->next &&
			     ++n < q->opts.max_batch &&
			     bytes + tail->next->data.len <= BATCH_BYTES;
			     tail = tail->next)
				bytes += tail->next->data.len;
			q->in_head = tail->next;
			if (q->in_head == NULL)
				q->in_tail = NULL;
			tail->next = NULL;
			uv_mutex_unlock(&q->mu);
			run_batch(q, head);
			uv_mutex_lock(&q->mu);
		}
		if (head) {
			for (tail = head; tail->next; tail = tail->next)
				;
			if (q->done_tail)
				q->done_tail->next = head;
			else
				q->done_head = head;
			q->done_tail = tail;
		}
		if (!ok)
			q->thread_done = true;
		uv_mutex_unlock(&q->mu);
		uv_async_send(&q->async);
		if (!ok)
			return;
	}
}

/* --- loop side ----------------------------------------------------------- */

static void
handle_closed(uv_handle_t *h)
{
	struct queue *q = h->data;
	queue_close_cb cb = q->close_cb;
	void *arg = q->close_arg;

	uv_mutex_destroy(&q->mu);
	uv_cond_destroy(&q->cv);
	free(q->path);
	free(q->vfs);
	free(q);
	if (cb)
		cb(arg);
}

static void
async_cb(uv_async_t *h)
{
	struct queue *q = h->data;
	struct req *list, *r;
	bool done;

	uv_mutex_lock(&q->mu);
	list = q->done_head;
	q->done_head = q->done_tail = NULL;
	done = q->thread_done;
	uv_mutex_unlock(&q->mu);
	while ((r = list) != NULL) {
		list = r->next;
		req_complete(r);
		req_free(r);
	}
	if (done && q->closing && !q->handle_closed) {
		q->handle_closed = true;
		uv_thread_join(&q->thread);
		uv_close((uv_handle_t *)&q->async, handle_closed);
	}
}

int
queue_open(uv_loop_t *loop, const struct queue_opts *opts, struct queue **qp)
{
	struct queue *q;
	int rc;

	if (opts == NULL || opts->path == NULL || opts->path[0] == '\0')
		return GW_EINVAL;
	if (sodium_init() < 0)
		return GW_EINTERNAL;
	q = xcalloc(1, sizeof(*q));
	q->loop = loop;
	q->opts = *opts;
	q->path = xstrdup(opts->path);
	q->opts.path = q->path;
	q->vfs = opts->vfs ? xstrdup(opts->vfs) : NULL;
	q->opts.vfs = q->vfs;
	if (q->opts.max_batch == 0)
		q->opts.max_batch = QUEUE_MAX_BATCH_DEFAULT;
	if (q->opts.dup_retention_s <= 0)
		q->opts.dup_retention_s = QUEUE_DUP_RETENTION_DEFAULT_S;
	if (q->opts.event_retention_s <= 0)
		q->opts.event_retention_s = QUEUE_EVENT_RETENTION_DEFAULT_S;
	q->clock = opts->clock ? opts->clock : clk_system();
	GW_REQUIRE(uv_mutex_init(&q->mu) == 0);
	GW_REQUIRE(uv_cond_init(&q->cv) == 0);
	if (uv_thread_create(&q->thread, owner_main, q) != 0) {
		rc = GW_EINTERNAL;
		goto fail;
	}
	/* Start-up only: wait for the owner thread to open the database. */
	uv_mutex_lock(&q->mu);
	while (!q->opened)
		uv_cond_wait(&q->cv, &q->mu);
	rc = q->open_rc;
	uv_mutex_unlock(&q->mu);
	if (rc) {
		uv_thread_join(&q->thread);
		goto fail;
	}
	GW_REQUIRE(uv_async_init(loop, &q->async, async_cb) == 0);
	q->async.data = q;
	*qp = q;
	return 0;
fail:
	uv_mutex_destroy(&q->mu);
	uv_cond_destroy(&q->cv);
	free(q->path);
	free(q->vfs);
	free(q);
	return rc;
}

void
queue_close(struct queue *q, queue_close_cb cb, void *arg)
{
	if (q == NULL || q->closing)
		return;
	q->closing = true;
	q->close_cb = cb;
	q->close_arg = arg;
	uv_mutex_lock(&q->mu);
	q->stop = true;
	uv_cond_signal(&q->cv);
	uv_mutex_unlock(&q->mu);
}

/* --- the API: build a request, post it ----------------------------------- */

int
queue_submit(struct queue *q, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *arg)
{
	return queue_submit_update(q, env, content, NULL, 0, cb, arg);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void
copy_changes(struct req *r, const struct queue_change *ch, size_t n)
{
	r->ch = xcalloc(n, sizeof(*r->ch));
	r->nch = n;
	for (size_t i = 0; i < n; i++) {
		r->ch[i] = ch[i];
		r->ch[i].error = dup_or_null(ch[i].error);
		r->ch[i].status = dup_or_null(ch[i].status);
		r->ch[i].route = dup_or_null(ch[i].route);
	}
}

int
queue_submit_update(struct queue *q, struct queue_envelope *env,
    struct buf *content, const struct queue_change *ch, size_t n,
    queue_submit_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || env == NULL || content == NULL || cb == NULL ||
	    env->nrcpts == 0 || (n && ch == NULL))
		return GW_EINVAL;
	if (q->closing)
		return GW_ECLOSED;
	r = req_new(q, OP_SUBMIT, arg);
	r->cb.submit = cb;
	if (id_is_zero(env->id))
		randombytes_buf(env->id, QUEUE_ID_LEN);
	if (env->arrival == 0)
		env->arrival = r->now;
	r->env = env;
	buf_swap(&r->data, content);
	if (n)
		copy_changes(r, ch, n);
	return req_post(q, r);
}

int
queue_select(struct queue *q, const char *route, size_t max,
    queue_select_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL || max == 0 || max > 100000)
		return GW_EINVAL;
	r = req_new(q, OP_SELECT, arg);
	r->cb.select = cb;
	r->text = xstrdup(route ? route : "");
	r->max = max;
	return req_post(q, r);
}

int
queue_list(struct queue *q, const char *route, int band, unsigned states,
    size_t max, queue_select_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL || max == 0 || max > 10000)
		return GW_EINVAL;
	r = req_new(q, OP_LIST, arg);
	r->cb.select = cb;
	r->i1 = band < 0 ? -1 : band;
	r->states = states;
	r->text = route ? xstrdup(route) : NULL;
	r->max = max;
	return req_post(q, r);
}

static struct req *
id_req(struct queue *q, enum op op, const uint8_t id[QUEUE_ID_LEN],
    void *arg)
{
	struct req *r = req_new(q, op, arg);

	memcpy(r->id, id, QUEUE_ID_LEN);
	return r;
}

int
queue_bytes_ahead(struct queue *q, const char *route,
    const uint8_t id[QUEUE_ID_LEN], queue_value_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_AHEAD, id, arg);
	r->cb.value = cb;
	r->text = xstrdup(route ? route : "");
	return req_post(q, r);
}

int
queue_update(struct queue *q, const struct queue_change *ch, size_t n,
    queue_status_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || ch == NULL || n == 0 || cb == NULL)
		return GW_EINVAL;
	r = req_new(q, OP_UPDATE, arg);
	r->cb.status = cb;
	copy_changes(r, ch, n);
	return req_post(q, r);
}

int
queue_load(struct queue *q, const uint8_t id[QUEUE_ID_LEN], queue_load_cb cb,
    void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_LOAD, id, arg);
	r->cb.load = cb;
	return req_post(q, r);
}

int
queue_read_content(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, queue_read_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL || offset < 0 ||
	    maxlen > QUEUE_READ_MAX)
		return GW_EINVAL;
	r = id_req(q, OP_READ, id, arg);
	r->cb.read = cb;
	r->i1 = offset;
	r->max = maxlen;
	return req_post(q, r);
}

int
queue_is_committed(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_status_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_KNOWN, id, arg);
	r->cb.status = cb;
	return req_post(q, r);
}

int
queue_partial_begin(struct queue *q, struct queue_envelope *env,
    int64_t total, queue_value_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || env == NULL || cb == NULL || total < 0 ||
	    env->nrcpts == 0 || id_is_zero(env->id))
		return GW_EINVAL;
	if (q->closing)
		return GW_ECLOSED;
	r = req_new(q, OP_PBEGIN, arg);
	r->cb.value = cb;
	if (env->arrival == 0)
		env->arrival = r->now;
	r->env = env;
	r->i1 = total;
	return req_post(q, r);
}

int
queue_partial_append(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, const void *data, size_t len, queue_value_cb cb,
    void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL || offset < 0 ||
	    (len && data == NULL))
		return GW_EINVAL;
	r = id_req(q, OP_PAPPEND, id, arg);
	r->cb.value = cb;
	r->i1 = offset;
	buf_append(&r->data, data, len);
	return req_post(q, r);
}

int
queue_partial_offset(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_value_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_POFFSET, id, arg);
	r->cb.value = cb;
	return req_post(q, r);
}

int
queue_partial_finish(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const uint8_t sha256[32], queue_status_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || sha256 == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_PFINISH, id, arg);
	r->cb.status = cb;
	memcpy(r->sha, sha256, 32);
	return req_post(q, r);
}

int
queue_partial_abort(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_status_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_PABORT, id, arg);
	r->cb.status = cb;
	return req_post(q, r);
}

static int
msg_op(struct queue *q, const uint8_t id[QUEUE_ID_LEN], enum queue__msg_op op,
    const char *text, queue_value_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || id == NULL || cb == NULL)
		return GW_EINVAL;
	r = id_req(q, OP_MSGOP, id, arg);
	r->cb.value = cb;
	r->msgop = op;
	r->text = dup_or_null(text);
	return req_post(q, r);
}

int
queue_hold(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *reason, queue_value_cb cb, void *arg)
{
	return msg_op(q, id, QUEUE__OP_HOLD, reason, cb, arg);
}

int
queue_release(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_value_cb cb, void *arg)
{
	return msg_op(q, id, QUEUE__OP_RELEASE, NULL, cb, arg);
}

int
queue_cancel(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *reason, queue_value_cb cb, void *arg)
{
	return msg_op(q, id, QUEUE__OP_CANCEL, reason, cb, arg);
}

int
queue_requeue(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *route, queue_value_cb cb, void *arg)
{
	return msg_op(q, id, QUEUE__OP_REQUEUE, route ? route : "", cb, arg);
}

int
queue_events(struct queue *q, int64_t after, size_t max, queue_events_cb cb,
    void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL || max == 0 || max > 100000)
		return GW_EINVAL;
	r = req_new(q, OP_EVENTS, arg);
	r->cb.events = cb;
	r->i1 = after;
	r->max = max;
	return req_post(q, r);
}

int
queue_stats(struct queue *q, queue_stats_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL)
		return GW_EINVAL;
	r = req_new(q, OP_STATS, arg);
	r->cb.stats = cb;
	return req_post(q, r);
}

int
queue_held(struct queue *q, size_t max, queue_held_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL || max == 0 || max > 10000)
		return GW_EINVAL;
	r = req_new(q, OP_HELD, arg);
	r->cb.held = cb;
	r->max = max;
	return req_post(q, r);
}

int
queue_check(struct queue *q, bool full, queue_status_cb cb, void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL)
		return GW_EINVAL;
	r = req_new(q, OP_CHECK, arg);
	r->cb.status = cb;
	r->flag = full;
	return req_post(q, r);
}

int
queue_set_max_pages(struct queue *q, int64_t max_pages, queue_status_cb cb,
    void *arg)
{
	struct req *r;

	if (q == NULL || cb == NULL || max_pages < 0)
		return GW_EINVAL;
	r = req_new(q, OP_MAXPAGES, arg);
	r->cb.status = cb;
	r->i1 = max_pages;
	return req_post(q, r);
}
