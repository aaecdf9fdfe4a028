/* qtest.c - helpers for the queue tests (see qtest.h). */
#include "tests/queue/qtest.h"

#include "queue/queue_tool.h"

#include <stdio.h>
#include <unistd.h>

void
qt_setup(struct qt *t, const char *tag)
{
	memset(t, 0, sizeof(*t));
	char *dir = tu_mkdtemp(tag);
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	free(dir);
	snprintf(t->path, sizeof(t->path), "%s/queue.db", t->dir);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	clk_virtual_init(&t->clock, 0, 1800000000);
	queue_opts_init(&t->opts);
	t->opts.path = t->path;
	t->opts.clock = &t->clock.base;
	assert_int_equal(qt_reopen(t), 0);
}

int
qt_reopen(struct qt *t)
{
	return queue_open(&t->loop, &t->opts, &t->q);
}

static void
closed_cb(void *arg)
{
	*(bool *)arg = true;
}

void
qt_close(struct qt *t)
{
	bool done = false;

	if (t->q == NULL)
		return;
	queue_close(t->q, closed_cb, &done);
	qt_wait(t, &done);
	t->q = NULL;
}

void
qt_teardown(struct qt *t)
{
	qt_close(t);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	if (!t->no_audit && access(t->path, F_OK) == 0) {
		struct queue_tool *tool;
		assert_int_equal(queue_tool_open(t->path, &tool), 0);
		assert_int_equal(queue_tool_audit(tool), 0);
		queue_tool_close(tool);
	}
	tu_rmtree(t->dir);
}

void
qt_wait(struct qt *t, const bool *flag)
{
	uint64_t start = uv_hrtime();

	while (!*flag) {
		uv_run(&t->loop, UV_RUN_ONCE);
		if (uv_hrtime() - start > 10000000000ull)
			fail_msg("timed out waiting for the queue");
	}
}

struct queue_envelope *
qt_env(int band, size_t n, const char *route)
{
	struct queue_envelope *e = xcalloc(1, sizeof(*e));

	e->reverse_path = xstrdup("sender@a.test");
	e->band = band;
	e->priority = band;
	e->client = xstrdup("client.test [127.0.0.1]");
	e->rcpts = xcalloc(n ? n : 1, sizeof(*e->rcpts));
	e->nrcpts = n;
	for (size_t i = 0; i < n; i++) {
		char a[64];
		snprintf(a, sizeof(a), "r%zu@x.test", i);
		e->rcpts[i].addr = xstrdup(a);
		e->rcpts[i].route = route ? xstrdup(route) : NULL;
	}
	return e;
}

struct res {
	bool done;
	int status;
	int64_t value;
	uint8_t id[QUEUE_ID_LEN];
	int64_t *rids;
	uint8_t (*ids)[QUEUE_ID_LEN];
	int *states;
	size_t n;
	struct buf *out;
	int64_t total;
};

static void
submit_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct res *r = arg;
	r->status = status;
	memcpy(r->id, id, QUEUE_ID_LEN);
	r->done = true;
}

int
qt_submit(struct qt *t, struct queue_envelope *env, const void *data,
    size_t len, uint8_t id[QUEUE_ID_LEN])
{
	struct res r = { 0 };
	struct buf b = BUF_INIT;

	buf_append(&b, data, len);
	assert_int_equal(queue_submit(t->q, env, &b, submit_cb, &r), 0);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
	qt_wait(t, &r.done);
	if (id)
		memcpy(id, r.id, QUEUE_ID_LEN);
	return r.status;
}

static void
select_cb(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct res *r = arg;
	r->status = status;
	for (size_t i = 0; i < n; i++) {
		if (r->rids)
			r->rids[i] = w[i].rid;
		if (r->ids)
			memcpy(r->ids[i], w[i].id, QUEUE_ID_LEN);
	}
	r->n = n;
	r->done = true;
}

int
qt_select(struct qt *t, const char *route, size_t max, int64_t *rids,
    uint8_t (*ids)[QUEUE_ID_LEN], size_t *n)
{
	struct res r = { 0 };

	r.rids = rids;
	r.ids = ids;
	assert_int_equal(queue_select(t->q, route, max, select_cb, &r), 0);
	qt_wait(t, &r.done);
	*n = r.n;
	return r.status;
}

static void
status_cb(int status, void *arg)
{
	struct res *r = arg;
	r->status = status;
	r->done = true;
}

int
qt_update1(struct qt *t, int64_t rid, enum queue_rstate to, const char *route)
{
	struct res r = { 0 };
	struct queue_change ch = { 0 };

	ch.rid = rid;
	ch.to = to;
	ch.route = route;
	ch.next_attempt = clk_wall_s(&t->clock.base) + 60;
	ch.error = "test";
	ch.status = "4.0.0";
	assert_int_equal(queue_update(t->q, &ch, 1, status_cb, &r), 0);
	qt_wait(t, &r.done);
	return r.status;
}

static void
value_cb(int status, int64_t value, void *arg)
{
	struct res *r = arg;
	r->status = status;
	r->value = value;
	r->done = true;
}

int
qt_value(struct qt *t, int op, const uint8_t id[QUEUE_ID_LEN],
    const char *text, int64_t *value)
{
	struct res r = { 0 };
	int rc = 0;

	switch (op) {
	case QT_HOLD:
		rc = queue_hold(t->q, id, text, value_cb, &r);
		break;
	case QT_RELEASE:
		rc = queue_release(t->q, id, value_cb, &r);
		break;
	case QT_CANCEL:
		rc = queue_cancel(t->q, id, text, value_cb, &r);
		break;
	case QT_REQUEUE:
		rc = queue_requeue(t->q, id, text, value_cb, &r);
		break;
	case QT_KNOWN:
		rc = queue_is_committed(t->q, id, status_cb, &r);
		break;
	}
	assert_int_equal(rc, 0);
	qt_wait(t, &r.done);
	if (value)
		*value = r.value;
	return r.status;
}

static void
load_cb(int status, const struct queue_msg_info *m, void *arg)
{
	struct res *r = arg;
	r->status = status;
	r->n = 0;
	if (m) {
		for (size_t i = 0; i < m->env.nrcpts; i++) {
			r->rids[i] = m->st[i].rid;
			r->states[i] = (int)m->st[i].state;
		}
		r->n = m->env.nrcpts;
	}
	r->done = true;
}

int
qt_states(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t *rids,
    int *states, size_t *n)
{
	struct res r = { 0 };

	r.rids = rids;
	r.states = states;
	assert_int_equal(queue_load(t->q, id, load_cb, &r), 0);
	qt_wait(t, &r.done);
	*n = r.n;
	return r.status;
}

static void
read_cb(int status, const uint8_t *data, size_t len, int64_t total,
    void *arg)
{
	struct res *r = arg;
	r->status = status;
	r->total = total;
	if (len)
		buf_append(r->out, data, len);
	r->done = true;
}

int
qt_read(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t off,
    size_t max, struct buf *out, int64_t *total)
{
	struct res r = { 0 };

	r.out = out;
	assert_int_equal(queue_read_content(t->q, id, off, max, read_cb, &r),
	    0);
	qt_wait(t, &r.done);
	if (total)
		*total = r.total;
	return r.status;
}

int
qt_ahead(struct qt *t, const char *route, const uint8_t id[QUEUE_ID_LEN],
    int64_t *bytes)
{
	struct res r = { 0 };

	assert_int_equal(queue_bytes_ahead(t->q, route, id, value_cb, &r), 0);
	qt_wait(t, &r.done);
	*bytes = r.value;
	return r.status;
}
