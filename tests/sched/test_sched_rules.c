/* The pure rules: deadline / alternate / expiry decisions (table-driven),
 * DELIVERBY relay arithmetic, retry timing, the route model, DSN NOTIFY. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "gateway/mail/dsn.h"
#include "gateway/sched/predict.h"
#include "gateway/sched/retry.h"
#include "gateway/sched/sched_rules.h"

#define NOW 1000000LL
#define S 1000LL
#define MINUTE (60 * S)
#define NEVER PREDICT_NEVER

struct row {
	const char *name;
	int64_t by; char mode; int64_t aby; bool arcpt;
	int64_t pred, lower; int reply; int64_t tf_since, down_since;
	int64_t expire, warn; bool delay_sent, warned;
	bool no_predict, no_alt;
	enum sched_rules_act act; enum sched_cause cause;
	const char *status; int64_t next;
};

/* pred 0 in a row means "no prediction" (PREDICT_NEVER). */
#define R(n, ...) { .name = n, __VA_ARGS__ }
static const struct row rows[] = {
	R("nothing queued with deadlines", .act = SCHED_RULES_NONE,
	    .next = INT64_MAX),
	R("5xx with alternate redirects", .reply = 5, .arcpt = true,
	    .act = SCHED_RULES_REDIRECT, .cause = SCHED_CAUSE_PERMFAIL,
	    .next = INT64_MAX),
	R("5xx without alternate fails with the hop's code", .reply = 5,
	    .act = SCHED_RULES_FAIL, .cause = SCHED_CAUSE_PERMFAIL,
	    .next = INT64_MAX),
	R("BY;R reached fails 5.4.7", .by = NOW, .mode = 'R',
	    .act = SCHED_RULES_FAIL, .cause = SCHED_CAUSE_BY_EXPIRED,
	    .status = "5.4.7", .next = INT64_MAX),
	R("BY;R reached fails even with an alternate", .by = NOW - 1,
	    .mode = 'R', .arcpt = true, .act = SCHED_RULES_FAIL,
	    .cause = SCHED_CAUSE_BY_EXPIRED, .status = "5.4.7",
	    .next = INT64_MAX),
	R("BY;R ahead: wake at the certain-miss instant", .by = NOW + 100 * S,
	    .mode = 'R', .lower = NOW + S, .act = SCHED_RULES_NONE,
	    .next = NOW + 99 * S + 1),
	R("ABY reached redirects", .aby = NOW, .arcpt = true,
	    .act = SCHED_RULES_REDIRECT, .cause = SCHED_CAUSE_ABY_EXPIRED,
	    .next = INT64_MAX),
	R("ABY reached without alternate: nothing", .aby = NOW,
	    .act = SCHED_RULES_NONE, .next = INT64_MAX),
	R("4xx for the persistence redirects", .reply = 4, .arcpt = true,
	    .tf_since = NOW - 30 * MINUTE, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_TEMPFAIL, .next = INT64_MAX),
	R("4xx shorter than the persistence waits", .reply = 4, .arcpt = true,
	    .tf_since = NOW - 29 * MINUTE, .act = SCHED_RULES_NONE,
	    .next = NOW + MINUTE),
	R("route down past the limit redirects", .arcpt = true,
	    .down_since = NOW - 10 * MINUTE, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_ROUTE_DOWN, .next = INT64_MAX),
	R("route down, limit ahead", .arcpt = true,
	    .down_since = NOW - 4 * MINUTE, .act = SCHED_RULES_NONE,
	    .next = NOW + 6 * MINUTE),
	R("predicted past ABY (with margin) redirects", .aby = NOW + 600 * S,
	    .arcpt = true, .pred = NOW + 590 * S, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_PREDICTED, .next = INT64_MAX),
	R("predicted within margin of ABY redirects", .aby = NOW + 600 * S,
	    .arcpt = true, .pred = NOW + 511 * S, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_PREDICTED, .next = INT64_MAX),
	R("predicted in time: wake when the margin would be crossed",
	    .aby = NOW + 600 * S, .arcpt = true, .pred = NOW + 100 * S,
	    .act = SCHED_RULES_NONE, .next = NOW + 410 * S),
	R("prediction off: wait for ABY", .aby = NOW + 600 * S, .arcpt = true,
	    .pred = NOW + 590 * S, .no_predict = true,
	    .act = SCHED_RULES_NONE, .next = NOW + 600 * S),
	R("alternates off: ABY does nothing", .aby = NOW, .arcpt = true,
	    .no_alt = true, .act = SCHED_RULES_NONE, .next = INT64_MAX),
	R("BY;R certainly missed, no alternate: fail now", .by = NOW + 5 * S,
	    .mode = 'R', .lower = NOW + 6 * S, .pred = NOW + 7 * S,
	    .act = SCHED_RULES_FAIL, .cause = SCHED_CAUSE_CERTAIN_MISS,
	    .status = "5.4.7", .next = INT64_MAX),
	R("BY;R only predicted late, no alternate: keep trying",
	    .by = NOW + 50 * S, .mode = 'R', .lower = NOW + 6 * S,
	    .pred = NOW + 70 * S, .act = SCHED_RULES_NONE,
	    .next = NOW + 44 * S + 1),
	R("BY;R certainly missed with alternate: redirect",
	    .by = NOW + 5 * S, .mode = 'R', .arcpt = true,
	    .lower = NOW + 6 * S, .pred = NOW + 6 * S,
	    .act = SCHED_RULES_REDIRECT, .cause = SCHED_CAUSE_PREDICTED,
	    .next = INT64_MAX),
	R("BY;R predicted late with alternate (no ABY): redirect",
	    .by = NOW + 300 * S, .mode = 'R', .arcpt = true,
	    .pred = NOW + 400 * S, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_PREDICTED, .next = INT64_MAX),
	R("BY;N predicted late with alternate (no ABY): lateness allowed",
	    .by = NOW + 300 * S, .mode = 'N', .arcpt = true,
	    .pred = NOW + 400 * S, .act = SCHED_RULES_NONE,
	    .next = NOW + 300 * S),
	R("ABY with unknown prediction waits for ABY", .aby = NOW + 60 * S,
	    .arcpt = true, .act = SCHED_RULES_NONE, .next = NOW + 60 * S),
	R("lifetime over fails 5.4.7", .expire = NOW,
	    .act = SCHED_RULES_FAIL, .cause = SCHED_CAUSE_LIFETIME,
	    .status = "5.4.7", .next = INT64_MAX),
	R("lifetime over with alternate redirects", .expire = NOW,
	    .arcpt = true, .act = SCHED_RULES_REDIRECT,
	    .cause = SCHED_CAUSE_LIFETIME, .next = INT64_MAX),
	R("BY;N reached: delayed 4.4.7", .by = NOW, .mode = 'N',
	    .act = SCHED_RULES_DELAYED, .cause = SCHED_CAUSE_BY_PASSED,
	    .status = "4.4.7", .next = INT64_MAX),
	R("BY;N reached, already told", .by = NOW - 5, .mode = 'N',
	    .delay_sent = true, .expire = NOW + S, .act = SCHED_RULES_NONE,
	    .next = NOW + S),
	R("BY;N negative time: delayed at once", .by = NOW - 30 * S,
	    .mode = 'N', .act = SCHED_RULES_DELAYED,
	    .cause = SCHED_CAUSE_BY_PASSED, .status = "4.4.7",
	    .next = INT64_MAX),
	R("warning time reached", .warn = NOW, .act = SCHED_RULES_DELAYED,
	    .cause = SCHED_CAUSE_DELAY_WARN, .status = "4.4.1",
	    .next = INT64_MAX),
	R("warning with a 4xx uses the hop's code", .warn = NOW, .reply = 4,
	    .tf_since = NOW - S, .act = SCHED_RULES_DELAYED,
	    .cause = SCHED_CAUSE_DELAY_WARN, .status = NULL,
	    .next = INT64_MAX),
	R("warning already sent", .warn = NOW - 1, .warned = true,
	    .act = SCHED_RULES_NONE, .next = INT64_MAX),
	R("earliest of several future times", .by = NOW + 90 * S,
	    .mode = 'N', .warn = NOW + 80 * S, .expire = NOW + 70 * S,
	    .act = SCHED_RULES_NONE, .next = NOW + 70 * S),
};

static void
test_rules_table(void **state)
{
	(void)state;
	struct sched_rules_cfg cfg;
	struct sched_rules_in in;
	struct sched_rules_out out;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];

		sched_rules_cfg_default(&cfg);
		cfg.predictive = !w->no_predict;
		cfg.alternates = !w->no_alt;
		memset(&in, 0, sizeof(in));
		in.now_ms = NOW;
		in.by_ms = w->by;
		in.by_mode = w->mode;
		in.aby_ms = w->aby;
		in.has_arcpt = w->arcpt;
		in.pred_ms = w->pred ? w->pred : NEVER;
		in.lower_ms = w->lower;
		in.reply_class = w->reply;
		in.tempfail_since_ms = w->tf_since;
		in.route_down_since_ms = w->down_since;
		in.expire_ms = w->expire;
		in.warn_ms = w->warn;
		in.delay_sent = w->delay_sent;
		in.warned = w->warned;
		sched_rules_decide(&cfg, &in, &out);
		print_message("row %zu: %s\n", i, w->name);
		assert_int_equal(out.act, w->act);
		if (w->act != SCHED_RULES_NONE)
			assert_int_equal(out.cause, w->cause);
		if (w->status)
			assert_string_equal(out.status, w->status);
		else
			assert_null(out.status);
		assert_int_equal(out.next_ms, w->next);
	}
}

static void
test_by_relay(void **state)
{
	(void)state;
	const char *st;
	char b[32];

	assert_int_equal(sched_rules_by_left_s(NOW + 98999, NOW), 98);
	assert_int_equal(sched_rules_by_left_s(NOW + 1000, NOW), 1);
	assert_int_equal(sched_rules_by_left_s(NOW + 999, NOW), 0);
	assert_int_equal(sched_rules_by_left_s(NOW, NOW), 0);
	assert_int_equal(sched_rules_by_left_s(NOW - 1, NOW), -1);
	assert_int_equal(sched_rules_by_left_s(NOW - 1000, NOW), -1);
	assert_int_equal(sched_rules_by_left_s(NOW - 1001, NOW), -2);

	/* RFC 2852 example: BY=120;R, 22 s pass, relayed BY=98;R (R2). */
	assert_int_equal(sched_rules_relay_check('R', 98, true, 60, &st), 0);
	assert_null(st);
	/* R1: hop's minimum above what is left. */
	assert_int_equal(sched_rules_relay_check('R', 120, true, 240, &st),
	    GW_EPROTO);
	assert_string_equal(st, "5.3.3");
	/* R3: hop without DELIVERBY never gets mode R. */
	assert_int_equal(sched_rules_relay_check('R', 120, false, 0, &st),
	    GW_EPROTO);
	assert_string_equal(st, "5.3.3");
	/* R5: nothing left. */
	assert_int_equal(sched_rules_relay_check('R', 0, true, 0, &st),
	    GW_EPROTO);
	assert_string_equal(st, "5.4.7");
	/* R4: mode N goes anywhere, even late. */
	assert_int_equal(sched_rules_relay_check('N', -30, false, 0, &st), 0);
	assert_int_equal(sched_rules_relay_check(0, 0, false, 0, &st), 0);

	assert_int_equal(sched_rules_by_param(98, 'R', false, b, sizeof(b)), 0);
	assert_string_equal(b, "98;R");
	assert_int_equal(sched_rules_by_param(-5, 'N', true, b, sizeof(b)), 0);
	assert_string_equal(b, "-5;NT");
	assert_int_equal(sched_rules_by_param(98, 'R', true, b, 4),
	    GW_ETOOBIG);
	assert_string_equal(sched_cause_name(SCHED_CAUSE_PREDICTED),
	    "predicted-late");
}

static void
test_retry(void **state)
{
	(void)state;
	struct retry_cfg c;
	char err[128];

	retry_cfg_default(&c);
	assert_int_equal(retry_cfg_check(&c, err, sizeof(err)), 0);
	assert_int_equal(retry_backoff_ms(&c, 0, 0), 0);
	assert_int_equal(retry_backoff_ms(&c, 0, 1), 5 * MINUTE);
	assert_int_equal(retry_backoff_ms(&c, 0, 2), 20 * MINUTE);
	assert_int_equal(retry_backoff_ms(&c, 0, 3), 45 * MINUTE);
	assert_int_equal(retry_backoff_ms(&c, 0, 10), 4 * 60 * MINUTE);
	assert_int_equal(retry_backoff_ms(&c, 0, 1000000), 4 * 60 * MINUTE);
	assert_int_equal(retry_backoff_ms(&c, 1, 1), 150 * S);
	/* Higher bands back off less, never below the floor. */
	assert_int_equal(retry_backoff_ms(&c, 5, 1), 10 * S);
	assert_int_equal(retry_backoff_ms(&c, 99, 1), 10 * S);
	assert_true(retry_backoff_ms(&c, 4, 2) < retry_backoff_ms(&c, 2, 2));
	assert_int_equal(retry_lifetime_ms(&c, 0), 5 * 86400 * S);
	assert_int_equal(retry_lifetime_ms(&c, 1), 5 * 43200 * S);
	assert_int_equal(retry_lifetime_ms(&c, 5), 5 * 86400 * S / 32);
	assert_int_equal(retry_lifetime_ms(&c, 7), 3600 * S);
	assert_int_equal(retry_warn_ms(&c, 0), 4 * 60 * MINUTE);
	assert_int_equal(retry_warn_ms(&c, 5), 4 * 60 * MINUTE / 32);
	assert_int_equal(retry_warn_ms(&c, 7), 5 * MINUTE);
	c.warn_ms = 0;
	assert_int_equal(retry_warn_ms(&c, 3), 0);
	c.band_divisor = 1;
	assert_int_equal(retry_backoff_ms(&c, 6, 1), 5 * MINUTE);
	c.backoff_max_ms = MINUTE;
	assert_int_equal(retry_cfg_check(&c, err, sizeof(err)), GW_ERANGE);
	retry_cfg_default(&c);
	c.lifetime_ms = 100;
	assert_int_equal(retry_cfg_check(&c, err, sizeof(err)), GW_ERANGE);
	assert_non_null(strstr(err, "queue_lifetime"));
}

static void
test_predict(void **state)
{
	(void)state;
	struct predict_link l;

	predict_link_default(&l);
	assert_int_equal(predict_air_bytes(&l, 1000), 700);
	assert_int_equal(predict_air_bytes(&l, -5), 200);
	/* 700 B at 150 B/s = 4667 ms, one burst: + 1 turnaround. */
	assert_int_equal(predict_duration_ms(&l, 700), 4667 + 2000);
	/* 240 s of air = two 120 s bursts: 3 turnarounds. */
	assert_int_equal(predict_duration_ms(&l, 36000), 240000 + 6000);
	assert_int_equal(predict_duration_ms(&l, 36001), 240007 + 10000);
	assert_int_equal(predict_lower_ms(&l, 1000), 2000);
	l.turnaround_ms = 0;
	assert_int_equal(predict_duration_ms(&l, 150), 1000);
	l.rate_bps = 0;
	assert_int_equal(predict_duration_ms(&l, 150), PREDICT_NEVER);
	assert_int_equal(predict_add(PREDICT_NEVER - 5, 10), PREDICT_NEVER);
	assert_int_equal(predict_add(5, 10), 15);
}

static void
test_dsn_owed(void **state)
{
	(void)state;
	const unsigned F = QUEUE_NOTIFY_FAILURE, D = QUEUE_NOTIFY_DELAY,
	    Su = QUEUE_NOTIFY_SUCCESS, N = QUEUE_NOTIFY_NEVER;
	static const struct {
		bool null; unsigned notify; enum dsn_action a;
		enum dsn_why why; bool owed;
	} t[] = {
		{ false, 0, DSN_FAILED, DSN_WHY_NORMAL, true },
		{ false, 0, DSN_DELAYED, DSN_WHY_NORMAL, true },
		{ false, 0, DSN_DELIVERED, DSN_WHY_NORMAL, false },
		{ false, 0, DSN_RELAYED, DSN_WHY_NORMAL, false },
		{ false, 0x4, DSN_FAILED, DSN_WHY_NORMAL, true },
		{ false, 0x2, DSN_FAILED, DSN_WHY_NORMAL, false },
		{ false, 0x8, DSN_DELAYED, DSN_WHY_NORMAL, true },
		{ false, 0x4, DSN_DELAYED, DSN_WHY_NORMAL, false },
		{ false, 0x2, DSN_DELIVERED, DSN_WHY_NORMAL, true },
		{ false, 0x1, DSN_FAILED, DSN_WHY_NORMAL, false },
		{ false, 0x1, DSN_RELAYED, DSN_WHY_TRACE, false },
		{ false, 0, DSN_RELAYED, DSN_WHY_TRACE, true },
		{ false, 0x8, DSN_RELAYED, DSN_WHY_TRACE, true },
		{ false, 0, DSN_RELAYED, DSN_WHY_REDIRECT, true },
		{ false, 0x8, DSN_RELAYED, DSN_WHY_REDIRECT, false },
		{ false, 0x2, DSN_RELAYED, DSN_WHY_REDIRECT, true },
		{ true, 0, DSN_FAILED, DSN_WHY_NORMAL, false },
		{ true, 0x2, DSN_DELIVERED, DSN_WHY_NORMAL, false },
		{ true, 0, DSN_RELAYED, DSN_WHY_TRACE, false },
		{ true, 0, DSN_RELAYED, DSN_WHY_REDIRECT, false },
	};
	size_t i;

	(void)F; (void)D; (void)Su; (void)N;
	assert_int_equal(QUEUE_NOTIFY_NEVER, 0x1);
	assert_int_equal(QUEUE_NOTIFY_SUCCESS, 0x2);
	assert_int_equal(QUEUE_NOTIFY_FAILURE, 0x4);
	assert_int_equal(QUEUE_NOTIFY_DELAY, 0x8);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("row %zu\n", i);
		assert_int_equal(dsn_owed(t[i].null, t[i].notify, t[i].a,
		    t[i].why), t[i].owed);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_table),
		cmocka_unit_test(test_by_relay),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_predict),
		cmocka_unit_test(test_dsn_owed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
