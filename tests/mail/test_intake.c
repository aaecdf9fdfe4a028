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

/* Each recipient gets its route before the commit, and each worker is
 * woken once, after it. */
static void
test_submit_routes_and_wakes(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@x.far.test", "b@local.test", "c@y.far.test" };
	struct queue_envelope *e = env_to("s@local.test", to, 3);
	struct buf content = BUF_INIT;

	buf_append(&content, "Subject: t\r\n\r\nhi\r\n", 18);
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
	assert_int_equal(count_on(f, "maildir:/nonexistent/%u"), 1);
	assert_string_equal(intake_route_for(f->in, "z@q.far.test"),
	    "link:hf1");
	assert_true(intake_serves(f->in, "maildir:/nonexistent/%u"));
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
	struct queue_envelope *e = env_to("s@z.far.test", to, 2);
	struct buf content = BUF_INIT;
	uint8_t id[QUEUE_ID_LEN];

	buf_append(&content, "Subject: t\r\n\r\nhi\r\n", 18);
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	wait_done(f);
	buf_fini(&content);
	int64_t rid = first_rid(f, "maildir:/nonexistent/%u");
	assert_int_equal(qt_update1(&f->qt, rid, QUEUE_R_INFLIGHT, NULL), 0);

	/* what the failing worker holds: the envelope and the content */
	struct queue_envelope *orig = env_to("s@z.far.test", to, 2);
	memcpy(id, f->id, QUEUE_ID_LEN);
	memcpy(orig->id, id, QUEUE_ID_LEN);
	f->wake_link = 0;
	struct dsn_rcpt dr = { .final_rcpt = "a@local.test",
		.action = DSN_FAILED, .status = "5.1.1",
		.diag = "x-skywave; no such mailbox" };
	struct dsn_report rep = { .reporting_mta = "gw.test", .orig = orig,
		.rcpts = &dr, .nrcpts = 1,
		.content = (const uint8_t *)"Subject: t\r\n\r\nhi\r\n",
		.content_len = 18, .now_s = 1800000000 };
	struct queue_change ch[2] = {
		{ .rid = rid, .to = QUEUE_R_FAILED, .error = "no such mailbox",
		  .status = "5.1.1" },
		{ .rid = rid, .to = QUEUE_R_DSN_QUEUED },
	};
	assert_int_equal(intake_fail(f->in, &rep, ch, 2, on_done, f), 0);
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
	assert_int_equal(qt_states(&f->qt, id, rids, states, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(states[i], rids[i] == rid ?
		    QUEUE_R_DSN_QUEUED : QUEUE_R_QUEUED);
	queue_envelope_free(orig);
}

/* Changes that the queue refuses store nothing: no DSN without its
 * change, and nobody is woken. */
static void
test_fail_refused_stores_nothing(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@local.test" };
	struct queue_envelope *e = env_to("s@z.far.test", to, 1);
	struct buf content = BUF_INIT;

	buf_append(&content, "Subject: t\r\n\r\nhi\r\n", 18);
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	wait_done(f);
	buf_fini(&content);
	int64_t rid = first_rid(f, "maildir:/nonexistent/%u");
	f->wake_link = f->wake_local = 0;

	const char *to2[] = { "a@local.test" };
	struct queue_envelope *orig = env_to("s@z.far.test", to2, 1);
	struct dsn_rcpt dr = { .final_rcpt = "a@local.test",
		.action = DSN_FAILED, .status = "5.1.1" };
	struct dsn_report rep = { .reporting_mta = "gw.test", .orig = orig,
		.rcpts = &dr, .nrcpts = 1, .now_s = 1800000000 };
	/* QUEUED -> DSN_QUEUED is not a legal transition */
	struct queue_change ch = { .rid = rid, .to = QUEUE_R_DSN_QUEUED };
	assert_int_equal(intake_fail(f->in, &rep, &ch, 1, on_done, f), 0);
	wait_done(f);
	assert_int_equal(f->status, GW_ESTATE);
	assert_int_equal(count_on(f, "link:hf1"), 0); /* no DSN stored */
	assert_int_equal(f->wake_link + f->wake_local, 0);
	assert_int_equal(count_on(f, "maildir:/nonexistent/%u"), 1);
	queue_envelope_free(orig);
}

/* A null reverse path may not get a DSN: only the changes are stored. */
static void
test_fail_null_sender(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@local.test" };
	struct queue_envelope *e = env_to("", to, 1);
	struct buf content = BUF_INIT;

	buf_append(&content, "Subject: t\r\n\r\nhi\r\n", 18);
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	wait_done(f);
	buf_fini(&content);
	int64_t rid = first_rid(f, "maildir:/nonexistent/%u");
	assert_int_equal(qt_update1(&f->qt, rid, QUEUE_R_INFLIGHT, NULL), 0);

	const char *to2[] = { "a@local.test" };
	struct queue_envelope *orig = env_to("", to2, 1);
	struct dsn_rcpt dr = { .final_rcpt = "a@local.test",
		.action = DSN_FAILED, .status = "5.1.1" };
	struct dsn_report rep = { .reporting_mta = "gw.test", .orig = orig,
		.rcpts = &dr, .nrcpts = 1, .now_s = 1800000000 };
	struct queue_change ch[2] = {
		{ .rid = rid, .to = QUEUE_R_FAILED, .error = "x",
		  .status = "5.1.1" },
		{ .rid = rid, .to = QUEUE_R_DSN_QUEUED },
	};
	assert_int_equal(intake_fail(f->in, &rep, ch, 2, on_done, f), 0);
	wait_done(f);
	assert_int_equal(f->status, 0);
	assert_int_equal(count_on(f, "maildir:/nonexistent/%u"), 0);
	assert_int_equal(count_on(f, "link:hf1"), 0);
	assert_int_equal(count_on(f, ""), 0);
	/* nothing to store at all is refused at once */
	assert_int_equal(intake_fail_built(f->in, NULL, NULL, NULL, 0, NULL,
	    on_done, f), GW_ENOENT);
	assert_false(f->done);
	queue_envelope_free(orig);
}

/* After quiesce (workers closing) commits complete but wake nobody. */
static void
test_quiesce(void **state)
{
	struct fx *f = *state;
	const char *to[] = { "a@x.far.test" };
	struct queue_envelope *e = env_to("s@local.test", to, 1);
	struct buf content = BUF_INIT;

	intake_quiesce(f->in);
	buf_append(&content, "Subject: t\r\n\r\nhi\r\n", 18);
	assert_int_equal(intake_submit(f->in, e, &content, NULL, 0,
	    on_submitted, f), 0);
	wait_done(f);
	buf_fini(&content);
	assert_int_equal(f->status, 0);
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
