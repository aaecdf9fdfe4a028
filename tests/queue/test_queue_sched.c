/*
 * test_queue_sched.c - selection order (bands, deadlines, arrival), due
 * times, airtime ahead, every recipient transition (legal and refused),
 * redirects, operator actions, the event log, finishing and duplicate
 * suppression, recovery of in-flight rows at open.
 */
#include "tests/queue/qtest.h"

#include <sqlite3.h>
#include <stdio.h>

#define NOW 1800000000

static void
sub(struct qt *t, int band, int64_t by, const char *route, size_t len,
    uint8_t id[QUEUE_ID_LEN])
{
	struct queue_envelope *e = qt_env(band, 1, route);
	uint8_t data[8192];
	memset(data, 'a' + band, sizeof(data));
	e->by_deadline = by;
	e->by_mode = by ? 'R' : 0;
	assert_true(len <= sizeof(data));
	assert_int_equal(qt_submit(t, e, data, len, id), 0);
}

static void
test_order(void **state)
{
	struct qt t;
	uint8_t a[QUEUE_ID_LEN], b[QUEUE_ID_LEN], c[QUEUE_ID_LEN],
	    d[QUEUE_ID_LEN], e[QUEUE_ID_LEN], f[QUEUE_ID_LEN],
	    other[QUEUE_ID_LEN];
	uint8_t ids[16][QUEUE_ID_LEN];
	int64_t rids[16];
	size_t n;
	(void)state;

	qt_setup(&t, "qorder");
	/* arrival order: a..f; expected selection: band 4 first (f), then
	 * band 2 by deadline (d at +100, b at +500, then c without
	 * deadline), then band 0 by arrival (a, e). */
	sub(&t, 0, 0, "hf1", 100, a);
	sub(&t, 2, NOW + 500, "hf1", 100, b);
	sub(&t, 2, 0, "hf1", 100, c);
	sub(&t, 2, NOW + 100, "hf1", 100, d);
	sub(&t, 0, 0, "hf1", 100, e);
	sub(&t, 4, 0, "hf1", 100, f);
	sub(&t, 6, 0, "other", 100, other);
	assert_int_equal(qt_select(&t, "hf1", 16, rids, ids, &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(ids[0], f, QUEUE_ID_LEN);
	assert_memory_equal(ids[1], d, QUEUE_ID_LEN);
	assert_memory_equal(ids[2], b, QUEUE_ID_LEN);
	assert_memory_equal(ids[3], c, QUEUE_ID_LEN);
	assert_memory_equal(ids[4], a, QUEUE_ID_LEN);
	assert_memory_equal(ids[5], e, QUEUE_ID_LEN);
	/* max is respected */
	assert_int_equal(qt_select(&t, "hf1", 2, rids, ids, &n), 0);
	assert_int_equal(n, 2);
	/* routes are separate; unrouted is "" */
	assert_int_equal(qt_select(&t, "other", 16, rids, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(ids[0], other, QUEUE_ID_LEN);
	assert_int_equal(qt_select(&t, "", 16, rids, ids, &n), 0);
	assert_int_equal(n, 0);
	qt_teardown(&t);
}

static void
test_aby_deadline_orders(void **state)
{
	struct qt t;
	uint8_t x[QUEUE_ID_LEN], y[QUEUE_ID_LEN];
	uint8_t ids[4][QUEUE_ID_LEN];
	int64_t rids[4];
	size_t n;
	(void)state;

	qt_setup(&t, "qaby");
	sub(&t, 2, NOW + 300, "hf1", 10, x);
	/* y: later BY but an earlier ABY with an alternate: ABY counts */
	struct queue_envelope *e = qt_env(2, 1, "hf1");
	e->by_deadline = NOW + 900;
	e->aby_deadline = NOW + 200;
	e->rcpts[0].arcpt = xstrdup("rfc822;alt@y.test");
	assert_int_equal(qt_submit(&t, e, "z", 1, y), 0);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(ids[0], y, QUEUE_ID_LEN);
	/* ABY without an alternate does not count */
	qt_teardown(&t);
}

static void
test_due_and_held_excluded(void **state)
{
	struct qt t;
	uint8_t a[QUEUE_ID_LEN], b[QUEUE_ID_LEN], c[QUEUE_ID_LEN];
	uint8_t ids[4][QUEUE_ID_LEN];
	int64_t rids[4], r_a, r_b;
	size_t n;
	int64_t v;
	(void)state;

	qt_setup(&t, "qdue");
	sub(&t, 0, 0, "hf1", 10, a);
	sub(&t, 0, 0, "hf1", 10, b);
	sub(&t, 0, 0, "hf1", 10, c);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 3);
	r_a = rids[0];
	r_b = rids[1];
	/* a: in flight -> deferred for 60 s; b held; c stays */
	assert_int_equal(qt_update1(&t, r_a, QUEUE_R_INFLIGHT, NULL), 0);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 2); /* in flight is never selected */
	assert_int_equal(qt_update1(&t, r_a, QUEUE_R_DEFERRED, NULL), 0);
	assert_int_equal(qt_value(&t, QT_HOLD, b, "looks odd", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(ids[0], c, QUEUE_ID_LEN);
	/* 61 s later a is due again, and first (arrival order) */
	clk_virtual_advance(&t.clock, 61000);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rids[0], r_a);
	/* release b: back in order */
	assert_int_equal(qt_value(&t, QT_RELEASE, b, NULL, &v), 0);
	assert_int_equal(qt_select(&t, "hf1", 4, rids, ids, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rids[1], r_b);
	/* release of something not held changes nothing */
	assert_int_equal(qt_value(&t, QT_RELEASE, b, NULL, &v), GW_ESTATE);
	qt_teardown(&t);
}

struct listres {
	bool done;
	int status;
	size_t n;
	int64_t rid[8];
	int state[8];
	int64_t next[8];
	char route[8][16];
};

static void
list_cb(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct listres *r = arg;
	r->status = status;
	r->n = n;
	for (size_t i = 0; i < n && i < 8; i++) {
		r->rid[i] = w[i].rid;
		r->state[i] = (int)w[i].state;
		r->next[i] = w[i].next_attempt;
		snprintf(r->route[i], sizeof(r->route[i]), "%s",
		    w[i].route ? w[i].route : "?");
	}
	r->done = true;
}

static void
list(struct qt *t, const char *route, int band, unsigned states,
    struct listres *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(queue_list(t->q, route, band, states, 8, list_cb, r),
	    0);
	qt_wait(t, &r->done);
	assert_int_equal(r->status, 0);
}

/* The operator's listing: every waiting state (deferred ones whatever
 * their time, held, in flight) across routes in selection order; filters
 * by route, band and state (FAILED for the start-up DSN sweep). */
static void
test_list(void **state)
{
	struct qt t;
	uint8_t a[QUEUE_ID_LEN], b[QUEUE_ID_LEN], c[QUEUE_ID_LEN];
	uint8_t d[QUEUE_ID_LEN], e[QUEUE_ID_LEN];
	int64_t rids[4], v;
	int states[4];
	size_t n;
	struct listres r;
	(void)state;

	qt_setup(&t, "qlist");
	sub(&t, 0, 0, "hf1", 10, a);
	sub(&t, 2, 0, "hf1", 10, b);
	sub(&t, 0, 0, "local", 10, c);
	sub(&t, 1, 0, "hf1", 10, d);
	sub(&t, 0, 0, "hf1", 10, e);
	assert_int_equal(qt_states(&t, a, rids, states, &n), 0);
	int64_t ra = rids[0];
	assert_int_equal(qt_update1(&t, ra, QUEUE_R_INFLIGHT, NULL), 0);
	assert_int_equal(qt_update1(&t, ra, QUEUE_R_DEFERRED, NULL), 0);
	assert_int_equal(qt_value(&t, QT_HOLD, d, "wait", &v), 0);
	assert_int_equal(qt_value(&t, QT_CANCEL, e, "gone", &v), 0);
	assert_int_equal(qt_states(&t, b, rids, states, &n), 0);
	int64_t rb = rids[0];
	assert_int_equal(qt_update1(&t, rb, QUEUE_R_INFLIGHT, NULL), 0);

	list(&t, NULL, -1, 0, &r);
	assert_int_equal(r.n, 4); /* e failed: not waiting */
	assert_int_equal(r.rid[0], rb); /* band 2 first, in flight */
	assert_int_equal(r.state[0], QUEUE_R_INFLIGHT);
	assert_int_equal(r.state[1], QUEUE_R_HELD); /* d, band 1 */
	assert_int_equal(r.rid[2], ra); /* a deferred, not yet due */
	assert_int_equal(r.state[2], QUEUE_R_DEFERRED);
	assert_true(r.next[2] > 0);
	assert_string_equal(r.route[2], "hf1");
	assert_string_equal(r.route[3], "local");
	list(&t, "hf1", -1, QUEUE_LIST_WAITING, &r);
	assert_int_equal(r.n, 3);
	list(&t, NULL, 0, 0, &r);
	assert_int_equal(r.n, 2);
	list(&t, NULL, 5, 0, &r);
	assert_int_equal(r.n, 0);
	list(&t, NULL, -1, 1u << QUEUE_R_FAILED, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.state[0], QUEUE_R_FAILED);
	assert_int_equal(queue_list(t.q, NULL, -1, 0, 0, list_cb, &r),
	    GW_EINVAL);
	qt_teardown(&t);
}

static int64_t
sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* A version 1 database (no partial indexes) is migrated at open, keeps
 * its messages, and the FAILED listing uses the new index. */
static void
test_migrate_v1(void **state)
{
	struct qt t;
	uint8_t a[QUEUE_ID_LEN];
	int64_t v;
	struct listres r;
	sqlite3 *db;
	(void)state;

	qt_setup(&t, "qmigr");
	sub(&t, 0, 0, "hf1", 10, a);
	assert_int_equal(qt_value(&t, QT_CANCEL, a, "gone", &v), 0);
	qt_close(&t);
	assert_int_equal(sql_int(t.path, "PRAGMA user_version"), 2);
	assert_int_equal(sqlite3_open(t.path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP INDEX rcpt_held;"
	    "DROP INDEX rcpt_failed; PRAGMA user_version = 1;", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(qt_reopen(&t), 0);
	list(&t, NULL, -1, 1u << QUEUE_R_FAILED, &r);
	assert_int_equal(r.n, 1);
	qt_close(&t);
	assert_int_equal(sql_int(t.path, "PRAGMA user_version"), 2);
	assert_int_equal(sql_int(t.path, "SELECT count(*) FROM sqlite_master"
	    " WHERE name IN ('rcpt_held', 'rcpt_failed')"), 2);
	assert_int_equal(qt_reopen(&t), 0);
	qt_teardown(&t);
}

/* Deferred recipients not yet due never hide the work that is ready, and
 * due ones take their place in the order (band first). */
static void
test_many_deferred(void **state)
{
	struct qt t;
	int64_t rids[64];
	uint8_t ids[64][QUEUE_ID_LEN];
	uint8_t low[QUEUE_ID_LEN];
	size_t n;
	const int ndef = 40;
	(void)state;

	qt_setup(&t, "qdeferred");
	for (int i = 0; i < ndef; i++)
		sub(&t, 5, 0, "hf1", 10, ids[0]);
	assert_int_equal(qt_select(&t, "hf1", 64, rids, ids, &n), 0);
	assert_int_equal(n, (size_t)ndef);
	int64_t first = rids[0];
	/* all band-5 recipients deferred for 60 s */
	for (int i = 0; i < ndef; i++) {
		assert_int_equal(qt_update1(&t, rids[i], QUEUE_R_INFLIGHT, NULL),
		    0);
		assert_int_equal(qt_update1(&t, rids[i], QUEUE_R_DEFERRED, NULL),
		    0);
	}
	sub(&t, 0, 0, "hf1", 10, low);
	assert_int_equal(qt_select(&t, "hf1", 1, rids, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(ids[0], low, QUEUE_ID_LEN);
	/* once due, the band-5 ones come before the band-0 one again */
	clk_virtual_advance(&t.clock, 61000);
	assert_int_equal(qt_select(&t, "hf1", 64, rids, ids, &n), 0);
	assert_int_equal(n, (size_t)ndef + 1);
	assert_int_equal(rids[0], first);
	assert_memory_equal(ids[ndef], low, QUEUE_ID_LEN);
	/* a small max takes the best of both lists */
	assert_int_equal(qt_select(&t, "hf1", 3, rids, ids, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rids[0], first);
	qt_teardown(&t);
}

/* Every (from, to) pair: legal ones succeed, the rest are refused with
 * GW_ESTATE and change nothing. */
static int
drive_to(struct qt *t, int64_t rid, enum queue_rstate s)
{
	switch (s) {
	case QUEUE_R_QUEUED:
		return 0;
	case QUEUE_R_INFLIGHT:
	case QUEUE_R_HELD:
		return qt_update1(t, rid, s, NULL);
	case QUEUE_R_DEFERRED:
	case QUEUE_R_RELAYED:
	case QUEUE_R_DELIVERED:
	case QUEUE_R_FAILED:
	case QUEUE_R_REDIRECTED: {
		int rc = qt_update1(t, rid, QUEUE_R_INFLIGHT, NULL);
		return rc ? rc : qt_update1(t, rid, s, NULL);
	}
	case QUEUE_R_DSN_QUEUED: {
		int rc = qt_update1(t, rid, QUEUE_R_FAILED, NULL);
		return rc ? rc : qt_update1(t, rid, s, NULL);
	}
	default:
		return GW_EINVAL;
	}
}

static void
test_every_transition(void **state)
{
	struct qt t;
	(void)state;

	qt_setup(&t, "qtrans");
	for (int from = 0; from < QUEUE_R__COUNT; from++) {
		if (from == QUEUE_R_INCOMING)
			continue; /* covered by the partial tests */
		for (int to = 0; to < QUEUE_R__COUNT; to++) {
			uint8_t id[QUEUE_ID_LEN];
			int64_t rids[4];
			int states[4];
			size_t n;
			/* two recipients so a final state does not finish
			 * (and delete) the message */
			struct queue_envelope *e = qt_env(0, 2, "hf1");
			e->rcpts[0].arcpt = xstrdup("rfc822;alt+2Bx@y.test");
			assert_int_equal(qt_submit(&t, e, "m", 1, id), 0);
			assert_int_equal(qt_states(&t, id, rids, states, &n),
			    0);
			assert_int_equal(drive_to(&t, rids[0],
					     (enum queue_rstate)from),
			    0);
			int rc = qt_update1(&t, rids[0], (enum queue_rstate)to,
			    NULL);
			bool legal = queue_rcpt_may((enum queue_rstate)from,
			    (enum queue_rstate)to);
			if (legal && rc != 0)
				fail_msg("%s -> %s: %s",
				    queue_rstate_name(from),
				    queue_rstate_name(to), gw_errname(rc));
			if (!legal && rc != GW_ESTATE)
				fail_msg("%s -> %s not refused: %d",
				    queue_rstate_name(from),
				    queue_rstate_name(to), rc);
			assert_int_equal(qt_states(&t, id, rids, states, &n),
			    0);
			assert_int_equal(states[0], legal ? to : from);
			assert_int_equal(states[1], QUEUE_R_QUEUED);
		}
	}
	qt_teardown(&t);
}

struct st_res {
	bool *done;
	int st;
};

static void
st_cb(int status, void *arg)
{
	struct st_res *r = arg;
	r->st = status;
	*r->done = true;
}

static void
test_update_all_or_nothing(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4];
	int states[4];
	size_t n;
	bool done = false;
	(void)state;

	qt_setup(&t, "qatomic");
	assert_int_equal(qt_submit(&t, qt_env(0, 2, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	struct queue_change ch[2] = {
		{ .rid = rids[0], .to = QUEUE_R_INFLIGHT },
		{ .rid = rids[1], .to = QUEUE_R_DELIVERED }, /* illegal */
	};
	struct st_res r = { &done, 0 };
	assert_int_equal(queue_update(t.q, ch, 2, st_cb, &r), 0);
	qt_wait(&t, &done);
	assert_int_equal(r.st, GW_ESTATE);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(states[0], QUEUE_R_QUEUED);
	assert_int_equal(states[1], QUEUE_R_QUEUED);
	/* unknown rid */
	assert_int_equal(qt_update1(&t, 999999, QUEUE_R_INFLIGHT, NULL),
	    GW_ENOENT);
	qt_teardown(&t);
}


static void
test_redirect(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4];
	int states[4];
	size_t n;
	uint8_t ids[4][QUEUE_ID_LEN];
	int64_t srids[4];
	(void)state;

	qt_setup(&t, "qredirect");
	struct queue_envelope *e = qt_env(2, 2, "hf1");
	e->by_deadline = NOW + 900;
	e->aby_deadline = NOW + 300;
	e->rcpts[0].arcpt = xstrdup("rfc822;alt+2Bone@y.test");
	assert_int_equal(qt_submit(&t, e, "body", 4, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	/* no alternate: refused as invalid */
	assert_int_equal(qt_update1(&t, rids[1], QUEUE_R_REDIRECTED, "fast"),
	    GW_EINVAL);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_REDIRECTED, "fast"),
	    0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(states[0], QUEUE_R_REDIRECTED);
	assert_int_equal(states[2], QUEUE_R_QUEUED);
	/* the new recipient is on the alternate route, with the BY deadline */
	assert_int_equal(qt_select(&t, "fast", 4, srids, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(srids[0], rids[2]);
	qt_teardown(&t);
}

struct loaded {
	bool done;
	char addr[64];
	int64_t parent, deadline;
};

static void
load_alt_cb(int status, const struct queue_msg_info *m, void *arg)
{
	struct loaded *l = arg;
	assert_int_equal(status, 0);
	snprintf(l->addr, sizeof(l->addr), "%s", m->env.rcpts[2].addr);
	l->parent = m->st[2].parent_rid;
	l->deadline = m->st[2].deadline;
	assert_null(m->env.rcpts[2].arcpt);
	l->done = true;
}

static void
test_redirect_copy(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4];
	int states[4];
	size_t n;
	struct loaded l = { 0 };
	(void)state;

	qt_setup(&t, "qredir2");
	struct queue_envelope *e = qt_env(2, 2, "hf1");
	e->by_deadline = NOW + 900;
	e->aby_deadline = NOW + 300;
	e->rcpts[0].arcpt = xstrdup("rfc822;alt+2Bone@y.test");
	assert_int_equal(qt_submit(&t, e, "body", 4, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_INFLIGHT, NULL), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_REDIRECTED, "fast"),
	    0);
	assert_int_equal(queue_load(t.q, id, load_alt_cb, &l), 0);
	qt_wait(&t, &l.done);
	assert_string_equal(l.addr, "alt+one@y.test");
	assert_int_equal(l.parent, rids[0]);
	assert_int_equal(l.deadline, NOW + 900);
	qt_teardown(&t);
}

static void
test_airtime(void **state)
{
	struct qt t;
	uint8_t lo1[QUEUE_ID_LEN], lo2[QUEUE_ID_LEN], hi[QUEUE_ID_LEN],
	    mid_dl[QUEUE_ID_LEN], two[QUEUE_ID_LEN], x[QUEUE_ID_LEN];
	int64_t bytes, v;
	(void)state;

	qt_setup(&t, "qairtime");
	sub(&t, 0, 0, "hf1", 1000, lo1);
	sub(&t, 0, 0, "hf1", 2000, lo2);
	sub(&t, 4, 0, "hf1", 300, hi);
	sub(&t, 0, NOW + 50, "hf1", 70, mid_dl);
	/* a message with two recipients on the route counts once */
	struct queue_envelope *e = qt_env(4, 2, "hf1");
	uint8_t data[500];
	memset(data, 1, sizeof(data));
	assert_int_equal(qt_submit(&t, e, data, sizeof(data), two), 0);
	sub(&t, 2, 0, "other", 4000, x); /* another route: not counted */

	assert_int_equal(qt_ahead(&t, "hf1", hi, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(qt_ahead(&t, "hf1", two, &bytes), 0);
	assert_int_equal(bytes, 300);
	/* band 0: both band-4 messages, then the deadline one, then arrival */
	assert_int_equal(qt_ahead(&t, "hf1", mid_dl, &bytes), 0);
	assert_int_equal(bytes, 800);
	assert_int_equal(qt_ahead(&t, "hf1", lo1, &bytes), 0);
	assert_int_equal(bytes, 870);
	assert_int_equal(qt_ahead(&t, "hf1", lo2, &bytes), 0);
	assert_int_equal(bytes, 1870);
	assert_int_equal(qt_ahead(&t, "hf1", x, &bytes), GW_ENOENT);
	assert_int_equal(qt_ahead(&t, "other", x, &bytes), 0);
	assert_int_equal(bytes, 0);
	/* held messages are not ahead; released ones are again */
	assert_int_equal(qt_value(&t, QT_HOLD, hi, NULL, &v), 0);
	assert_int_equal(qt_ahead(&t, "hf1", lo2, &bytes), 0);
	assert_int_equal(bytes, 1570);
	assert_int_equal(qt_value(&t, QT_RELEASE, hi, NULL, &v), 0);
	assert_int_equal(qt_ahead(&t, "hf1", lo2, &bytes), 0);
	assert_int_equal(bytes, 1870);
	/* requeue to another route moves the bytes */
	assert_int_equal(qt_value(&t, QT_REQUEUE, two, "other", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(qt_ahead(&t, "hf1", lo2, &bytes), 0);
	assert_int_equal(bytes, 1370);
	assert_int_equal(qt_ahead(&t, "other", x, &bytes), 0);
	assert_int_equal(bytes, 500);
	/* survives a reopen (aggregates are stored) */
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	assert_int_equal(qt_ahead(&t, "hf1", lo2, &bytes), 0);
	assert_int_equal(bytes, 1370);
	qt_teardown(&t);
}

struct bulk {
	int done;
	uint8_t ids[2600][QUEUE_ID_LEN];
};

static void
bulk_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct bulk *b = arg;
	assert_int_equal(status, 0);
	memcpy(b->ids[b->done++], id, QUEUE_ID_LEN);
}

/* A band with more messages than one scan side covers: the answer is the
 * same whichever side the computation takes. */
static void
test_airtime_big_band(void **state)
{
	struct qt t;
	struct bulk *b = xcalloc(1, sizeof(*b));
	int64_t bytes;
	const int n = 2600;
	(void)state;

	qt_setup(&t, "qairbig");
	for (int i = 0; i < n; i++) {
		struct buf c = BUF_INIT;
		struct queue_envelope *e = qt_env(1, 1, "hf1");
		buf_append(&c, "0123456789", (size_t)(1 + i % 10));
		assert_int_equal(queue_submit(t.q, e, &c, bulk_cb, b), 0);
		buf_fini(&c);
	}
	while (b->done < n)
		uv_run(&t.loop, UV_RUN_ONCE);
	/* ids were acknowledged in submission order (one owner thread) */
	int probes[] = { 0, 1, 1000, 1999, 2000, 2001, 2599 };
	for (size_t k = 0; k < GW_ARRAY_LEN(probes); k++) {
		int i = probes[k];
		int64_t want = 0;
		for (int j = 0; j < i; j++)
			want += 1 + j % 10;
		assert_int_equal(qt_ahead(&t, "hf1", b->ids[i], &bytes), 0);
		assert_int_equal(bytes, want);
	}
	free(b);
	qt_teardown(&t);
}

static void
test_cancel_and_finish(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4], v, bytes;
	int states[4];
	size_t n;
	(void)state;

	qt_setup(&t, "qcancel");
	assert_int_equal(qt_submit(&t, qt_env(0, 2, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_INFLIGHT, NULL), 0);
	/* cancel skips the recipient in flight */
	assert_int_equal(qt_value(&t, QT_CANCEL, id, "operator said so", &v),
	    0);
	assert_int_equal(v, 1);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(states[0], QUEUE_R_INFLIGHT);
	assert_int_equal(states[1], QUEUE_R_FAILED);
	/* finish both: relayed, DSN queued -> the message is gone, its id
	 * remembered */
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_RELAYED, NULL), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[1], QUEUE_R_DSN_QUEUED, NULL),
	    0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), GW_ENOENT);
	assert_int_equal(qt_value(&t, QT_KNOWN, id, NULL, NULL), GW_EDUP);
	assert_int_equal(qt_ahead(&t, "hf1", id, &bytes), GW_ENOENT);
	assert_int_equal(qt_value(&t, QT_HOLD, id, NULL, &v), GW_ENOENT);
	/* resubmitting the id is refused */
	struct queue_envelope *e = qt_env(0, 1, "hf1");
	memcpy(e->id, id, QUEUE_ID_LEN);
	assert_int_equal(qt_submit(&t, e, "m", 1, NULL), GW_EDUP);
	qt_teardown(&t);
}

struct subres {
	bool done;
	int status;
};

static void
subupd_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct subres *r = arg;
	(void)id;
	r->status = status;
	r->done = true;
}

/* A DSN and the FAILED -> DSN_QUEUED of the originals in one transaction;
 * an illegal change undoes the submit as well. */
static void
test_submit_with_update(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4];
	int states[4];
	size_t n;
	(void)state;

	qt_setup(&t, "qsubupd");
	assert_int_equal(qt_submit(&t, qt_env(0, 2, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_FAILED, NULL), 0);
	struct queue_change ch[2] = {
		{ .rid = rids[0], .to = QUEUE_R_DSN_QUEUED },
		{ .rid = rids[1], .to = QUEUE_R_DSN_QUEUED }, /* illegal */
	};
	struct subres r = { 0 };
	struct buf b = BUF_INIT;
	buf_append_str(&b, "DSN body");
	assert_int_equal(queue_submit_update(t.q, qt_env(0, 1, "local"), &b,
			     ch, 2, subupd_cb, &r),
	    0);
	qt_wait(&t, &r.done);
	assert_int_equal(r.status, GW_ESTATE);
	uint8_t ids[4][QUEUE_ID_LEN];
	assert_int_equal(qt_select(&t, "local", 4, rids + 2, ids, &n), 0);
	assert_int_equal(n, 0); /* the DSN was not stored either */
	memset(&r, 0, sizeof(r));
	buf_append_str(&b, "DSN body");
	assert_int_equal(queue_submit_update(t.q, qt_env(0, 1, "local"), &b,
			     ch, 1, subupd_cb, &r),
	    0);
	qt_wait(&t, &r.done);
	assert_int_equal(r.status, 0);
	buf_fini(&b);
	assert_int_equal(qt_select(&t, "local", 4, rids + 2, ids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(states[0], QUEUE_R_DSN_QUEUED);
	assert_int_equal(states[1], QUEUE_R_QUEUED);
	qt_teardown(&t);
}

static void
test_dup_retention(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4];
	int states[4];
	size_t n;
	(void)state;

	qt_setup(&t, "qretention");
	qt_close(&t);
	t.opts.dup_retention_s = 3600;
	assert_int_equal(qt_reopen(&t), 0);
	assert_int_equal(qt_submit(&t, qt_env(0, 1, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_INFLIGHT, NULL), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_DELIVERED, NULL), 0);
	clk_virtual_advance(&t.clock, 3000 * 1000);
	assert_int_equal(qt_value(&t, QT_KNOWN, id, NULL, NULL), GW_EDUP);
	/* past the retention it is forgotten (pruned at open or later) */
	clk_virtual_advance(&t.clock, 1000 * 1000);
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	assert_int_equal(qt_value(&t, QT_KNOWN, id, NULL, NULL), 0);
	qt_teardown(&t);
}

static void
test_recovery(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4], srids[4];
	uint8_t ids[4][QUEUE_ID_LEN];
	int states[4];
	size_t n;
	(void)state;

	qt_setup(&t, "qrecover");
	assert_int_equal(qt_submit(&t, qt_env(0, 2, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_INFLIGHT, NULL), 0);
	assert_int_equal(qt_update1(&t, rids[1], QUEUE_R_HELD, NULL), 0);
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(states[0], QUEUE_R_QUEUED);
	assert_int_equal(states[1], QUEUE_R_HELD);
	assert_int_equal(qt_select(&t, "hf1", 4, srids, ids, &n), 0);
	assert_int_equal(n, 1);
	qt_teardown(&t);
}

struct evs {
	bool done;
	size_t n;
	char kinds[16][32];
	int news[16];
	int64_t last;
};

static void
events_cb(int status, const struct queue_event *ev, size_t n, void *arg)
{
	struct evs *e = arg;
	assert_int_equal(status, 0);
	for (size_t i = 0; i < n && i < 16; i++) {
		snprintf(e->kinds[i], sizeof(e->kinds[i]), "%s", ev[i].kind);
		e->news[i] = ev[i].new_state;
		e->last = ev[i].eid;
	}
	e->n = n;
	e->done = true;
}

static void
test_events(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t rids[4], v;
	int states[4];
	size_t n;
	struct evs e = { 0 };
	(void)state;

	qt_setup(&t, "qevents");
	assert_int_equal(qt_submit(&t, qt_env(0, 1, "hf1"), "m", 1, id), 0);
	assert_int_equal(qt_states(&t, id, rids, states, &n), 0);
	assert_int_equal(qt_value(&t, QT_HOLD, id, "why", &v), 0);
	assert_int_equal(qt_update1(&t, rids[0], QUEUE_R_DELIVERED, NULL),
	    GW_ESTATE); /* refused: no event */
	assert_int_equal(queue_events(t.q, 0, 16, events_cb, &e), 0);
	qt_wait(&t, &e.done);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.kinds[0], "queued");
	assert_string_equal(e.kinds[1], "state");
	assert_int_equal(e.news[1], QUEUE_R_HELD);
	/* paging: nothing after the last one */
	int64_t last = e.last;
	memset(&e, 0, sizeof(e));
	assert_int_equal(queue_events(t.q, last, 16, events_cb, &e), 0);
	qt_wait(&t, &e.done);
	assert_int_equal(e.n, 0);
	qt_teardown(&t);
}

static void
stats_cb(int status, const struct queue_stats *s, void *arg)
{
	struct queue_stats *out = arg;
	assert_int_equal(status, 0);
	*out = *s;
	out->messages += 1000000; /* mark done */
}

static void
test_stats(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	struct queue_stats s = { 0 };
	(void)state;

	qt_setup(&t, "qstats");
	assert_int_equal(qt_submit(&t, qt_env(0, 3, "hf1"), "hello", 5, id),
	    0);
	assert_int_equal(queue_stats(t.q, stats_cb, &s), 0);
	while (s.messages < 1000000)
		uv_run(&t.loop, UV_RUN_ONCE);
	assert_int_equal(s.messages, 1000001);
	assert_int_equal(s.content_bytes, 5);
	assert_int_equal(s.rcpts[QUEUE_R_QUEUED], 3);
	assert_true(s.db_bytes > 0);
	qt_teardown(&t);
}

static void
test_names(void **state)
{
	(void)state;
	for (int i = 0; i < QUEUE_R__COUNT; i++)
		assert_int_equal(queue_rstate_parse(queue_rstate_name(i)), i);
	assert_string_equal(queue_rstate_name(99), "?");
	assert_int_equal(queue_rstate_parse("nope"), -1);
	uint8_t id[QUEUE_ID_LEN], back[QUEUE_ID_LEN];
	char hex[33];
	for (int i = 0; i < QUEUE_ID_LEN; i++)
		id[i] = (uint8_t)(i * 17);
	queue_id_hex(id, hex);
	assert_int_equal(queue_id_parse(hex, back), 0);
	assert_memory_equal(id, back, QUEUE_ID_LEN);
	assert_int_equal(queue_id_parse("zz", back), GW_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_aby_deadline_orders),
		cmocka_unit_test(test_due_and_held_excluded),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_migrate_v1),
		cmocka_unit_test(test_many_deferred),
		cmocka_unit_test(test_every_transition),
		cmocka_unit_test(test_update_all_or_nothing),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_redirect_copy),
		cmocka_unit_test(test_airtime),
		cmocka_unit_test(test_airtime_big_band),
		cmocka_unit_test(test_cancel_and_finish),
		cmocka_unit_test(test_submit_with_update),
		cmocka_unit_test(test_dup_retention),
		cmocka_unit_test(test_recovery),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
