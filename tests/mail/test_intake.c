/*
 * test_intake.c - the front door against a real queue in a fresh
 * directory: routing before the commit, waking the right worker after it
 * (and only after a durable commit), and failures stored with their DSN in
 * one transaction - or not at all.
 */
#include "tests/lib/testutil.h"
#include "tests/queue/qtest.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/mail/dsn.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/route.h"

#include <stdio.h>
#include <string.h>

struct fx {
	struct qt qt;
	struct route_table *rt;
	struct intake *in;
	int wake_local;
	int wake_link;
	char last_link[32];
	int wake_all_links;
	bool done;
	int status;
	uint8_t id[QUEUE_ID_LEN]; /* of the last submission */
};

static void
on_link(void *arg, const char *name)
{
	struct fx *f = arg;

	if (name == NULL) {
		f->wake_all_links++;
		return;
	}
	f->wake_link++;
	snprintf(f->last_link, sizeof(f->last_link), "%s", name);
}

static void
on_local(void *arg)
{
	((struct fx *)arg)->wake_local++;
}

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct route_line lines[] = {
		{ "*.far.test", "link:hf1", 1 },
		{ "*", "maildir:/nonexistent/%u", 2 },
	};
	char err[200];

	qt_setup(&f->qt, "intake");
	assert_int_equal(route_table_new(lines, 2, &f->rt, err, sizeof(err)),
	    0);
	struct intake_env ie = { f->qt.q, &f->qt.clock.base, "gw.test" };
	f->in = intake_new(&ie);
	intake_set_routes(f->in, f->rt, NULL);
	intake_set_wake(f->in, on_link, on_local, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(intake_pending(f->in), 0);
	intake_free(f->in);
	route_table_free(f->rt);
	qt_teardown(&f->qt);
	free(f);
	return 0;
}

static void
on_submitted(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct fx *f = arg;

	if (id)
		memcpy(f->id, id, QUEUE_ID_LEN);
	f->status = status;
	f->done = true;
}

static void
on_done(int status, void *arg)
{
	struct fx *f = arg;

	f->status = status;
	f->done = true;
}

static void
wait_done(struct fx *f)
{
	qt_wait(&f->qt, &f->done);
	assert_true(f->done);
	f->done = false;
}

/* An envelope from sender with one recipient per address. */
static struct queue_envelope *
env_to(const char *sender, const char *const *addrs, size_t n)
{
	struct queue_envelope *e = qt_env(3, n, NULL);

	free(e->reverse_path);
	e->reverse_path = xstrdup(sender);
	for (size_t i = 0; i < n; i++) {
		free(e->rcpts[i].addr);
		e->rcpts[i].addr = xstrdup(addrs[i]);
		e->rcpts[i].notify = QUEUE_NOTIFY_FAILURE;
	}
	return e;
}

static size_t
count_on(struct fx *f, const char *route)
{
	int64_t rids[16];
	uint8_t ids[16][QUEUE_ID_LEN];
	size_t n = 0;

	assert_int_equal(qt_select(&f->qt, route, 16, rids, ids, &n), 0);
	return n;
}

static int64_t
first_rid(struct fx *f, const char *route)
{
	int64_t rids[4];
	uint8_t ids[4][QUEUE_ID_LEN];
	size_t n = 0;

	assert_int_equal(qt_select(&f->qt, route, 4, rids, ids, &n), 0);
	assert_true(n >= 1);
	return rids[0];
}

#define BODY "Subject: t\r\n\r\nhi\r\n"
#define LOCAL "maildir:/nonexistent/%u"

/* Submit a message from sender to addrs through the front door and wait
 * for its commit; the fixture's id is the message's. */
static void
submit(struct fx *f, const char *sender, const char *const *addrs, size_t n)
{
	struct queue_envelope *e = env_to(sender, addrs, n);
	struct buf content = BUF_INIT;

	buf_append(&content, BODY, strlen(BODY));
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	wait_done(f);
	buf_fini(&content);
	assert_int_equal(f->status, 0);
}

/* A failure report about the first recipient of a message to addrs, and
 * the FAILED -> DSN_QUEUED changes of rid (nch 2), as a worker makes them. */
struct failure {
	struct queue_envelope *orig;
	struct dsn_rcpt dr;
	struct dsn_report rep;
	struct queue_change ch[2];
};

static void
failure_init(struct failure *fl, const struct fx *f, const char *sender,
    const char *const *addrs, size_t n, int64_t rid)
{
	memset(fl, 0, sizeof(*fl));
	fl->orig = env_to(sender, addrs, n);
	memcpy(fl->orig->id, f->id, QUEUE_ID_LEN);
	fl->dr.final_rcpt = addrs[0];
	fl->dr.action = DSN_FAILED;
	fl->dr.status = "5.1.1";
	fl->dr.diag = "x-skywave; no such mailbox";
	fl->rep.reporting_mta = "gw.test";
	fl->rep.orig = fl->orig;
	fl->rep.rcpts = &fl->dr;
	fl->rep.nrcpts = 1;
	fl->rep.content = (const uint8_t *)BODY;
	fl->rep.content_len = strlen(BODY);
	fl->rep.now_s = 1800000000;
	fl->ch[0].rid = rid;
	fl->ch[0].to = QUEUE_R_FAILED;
	fl->ch[0].error = "no such mailbox";
	fl->ch[0].status = "5.1.1";
	fl->ch[1].rid = rid;
	fl->ch[1].to = QUEUE_R_DSN_QUEUED;
}

/* Each recipient gets its route before the commit, and each worker is
 * woken once, after it. */
static void
test_submit_routes_and_wakes(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@x.far.test", "b@local.test", "c@y.far.test" };
	struct queue_envelope *e = env_to("s@local.test", to, 3);
	struct buf content = BUF_INIT;

	buf_append(&content, BODY, strlen(BODY));
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	assert_int_equal(intake_pending(f->in), 1);
	/* nothing is woken before the commit is durable */
	assert_int_equal(f->wake_local + f->wake_link, 0);
	wait_done(f);
	buf_fini(&content);
	assert_int_equal(f->status, 0);
	assert_int_equal(f->wake_local, 1);
	assert_int_equal(f->wake_link, 1); /* hf1 once, for two recipients */
	assert_string_equal(f->last_link, "hf1");
	assert_int_equal(count_on(f, "link:hf1"), 2);
	assert_int_equal(count_on(f, LOCAL), 1);
	assert_string_equal(intake_route_for(f->in, "z@q.far.test"),
	    "link:hf1");
	assert_true(intake_serves(f->in, LOCAL));
	assert_false(intake_serves(f->in, "link:hf1"));
	assert_false(intake_serves(f->in, "smtp:elsewhere:25"));
}

/* A failure and the DSN it owes are one transaction; the DSN is routed to
 * the sender like any message and its worker woken. */
static void
test_fail_with_dsn(void **state)
{
	struct fx *f = *state;
	/* two recipients, so the message stays after one is settled */
	const char *to[] = { "a@local.test", "b@local.test" };
	struct failure fl;

	submit(f, "s@z.far.test", to, 2);
	int64_t rid = first_rid(f, LOCAL);
	assert_int_equal(qt_update1(&f->qt, rid, QUEUE_R_INFLIGHT, NULL), 0);
	failure_init(&fl, f, "s@z.far.test", to, 2, rid);
	f->wake_link = 0;
	assert_int_equal(intake_fail(f->in, &fl.rep, fl.ch, 2, on_done, f), 0);
	wait_done(f);
	assert_int_equal(f->status, 0);
	/* the DSN went to the sender's route, and that link was woken */
	assert_int_equal(count_on(f, "link:hf1"), 1);
	assert_int_equal(f->wake_link, 1);
	assert_string_equal(f->last_link, "hf1");
	/* the original's recipient is settled in the same transaction */
	int64_t rids[2];
	int states[2];
	size_t n = 2;
	assert_int_equal(qt_states(&f->qt, fl.orig->id, rids, states, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(states[i], rids[i] == rid ?
		    QUEUE_R_DSN_QUEUED : QUEUE_R_QUEUED);
	queue_envelope_free(fl.orig);
}

/* Changes that the queue refuses store nothing: no DSN without its
 * change, and nobody is woken. */
static void
test_fail_refused_stores_nothing(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@local.test" };
	struct failure fl;

	submit(f, "s@z.far.test", to, 1);
	int64_t rid = first_rid(f, LOCAL);
	failure_init(&fl, f, "s@z.far.test", to, 1, rid);
	f->wake_link = f->wake_local = 0;
	/* QUEUED -> DSN_QUEUED is not a legal transition */
	assert_int_equal(intake_fail(f->in, &fl.rep, &fl.ch[1], 1, on_done,
	    f), 0);
	wait_done(f);
	assert_int_equal(f->status, GW_ESTATE);
	assert_int_equal(count_on(f, "link:hf1"), 0); /* no DSN stored */
	assert_int_equal(f->wake_link + f->wake_local, 0);
	assert_int_equal(count_on(f, LOCAL), 1);
	queue_envelope_free(fl.orig);
}

/* A null reverse path may not get a DSN: only the changes are stored. */
static void
test_fail_null_sender(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@local.test" };
	struct failure fl;

	submit(f, "", to, 1);
	int64_t rid = first_rid(f, LOCAL);
	assert_int_equal(qt_update1(&f->qt, rid, QUEUE_R_INFLIGHT, NULL), 0);
	failure_init(&fl, f, "", to, 1, rid);
	assert_int_equal(intake_fail(f->in, &fl.rep, fl.ch, 2, on_done, f), 0);
	wait_done(f);
	assert_int_equal(f->status, 0);
	assert_int_equal(count_on(f, LOCAL), 0);
	assert_int_equal(count_on(f, "link:hf1"), 0);
	assert_int_equal(count_on(f, ""), 0);
	/* nothing to store at all is refused at once */
	assert_int_equal(intake_fail_built(f->in, NULL, NULL, NULL, 0, NULL,
	    on_done, f), GW_ENOENT);
	assert_false(f->done);
	queue_envelope_free(fl.orig);
}

/* After quiesce (workers closing) commits complete but wake nobody. */
static void
test_quiesce(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@x.far.test" };

	intake_quiesce(f->in);
	submit(f, "s@local.test", to, 1);
	intake_wake_all(f->in);
	intake_wake(f->in, "link:hf1");
	assert_int_equal(f->wake_link + f->wake_local + f->wake_all_links, 0);
	assert_int_equal(count_on(f, "link:hf1"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_routes_and_wakes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_with_dsn, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_fail_refused_stores_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_null_sender, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quiesce, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
