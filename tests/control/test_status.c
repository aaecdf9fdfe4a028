/*
 * test_status.c - the snapshot model: JSON round trip, strict types,
 * clamping, truncation, and the human formats.
 */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/control/status.h"

/* A snapshot with every field set to something other than its default. */
static void
fill_all(struct status *st)
{
	status_init(st);
	snprintf(st->gateway, sizeof(st->gateway), "alpha.test");
	st->now_s = 1795000000;
	st->uptime_ms = 123456789;
	st->nlinks = STATUS_LINKS_MAX;
	for (size_t i = 0; i < st->nlinks; i++) {
		struct status_link *l = &st->links[i];
		snprintf(l->name, sizeof(l->name), "link%zu", i);
		l->state = (enum status_link_state)(i % STATUS_LINK__COUNT);
		l->held = i % 2;
		snprintf(l->profile, sizeof(l->profile), "profile-%zu", i);
		snprintf(l->peer, sizeof(l->peer), "peer%zu.test", i);
		l->nominal_bps = 2400 + (int64_t)i;
		l->measured_bps = 1800 + (int64_t)i;
		l->tx_bytes = INT64_C(5000000000) + (int64_t)i;
		l->rx_bytes = 77 + (int64_t)i;
		l->tx_frames = 3;
		l->rx_frames = 4;
		l->retx_rate = 0.031 * (double)i;
		l->last_good_ms = i == 0 ? -1 : 2000;
		l->auth_failures = (int64_t)i;
		l->spark_interval_ms = 5000;
		l->nspark = i * 7 % (STATUS_SPARK_MAX + 1);
		for (size_t k = 0; k < l->nspark; k++)
			l->spark[k] = (uint32_t)(k * 1000 + i);
	}
	st->nbands = 6;
	for (size_t i = 0; i < st->nbands; i++) {
		snprintf(st->bands[i].name, sizeof(st->bands[i].name), "b%zu",
		    i);
		st->bands[i].messages = (int64_t)i * 3;
		st->bands[i].bytes = (int64_t)i * 1000;
		st->bands[i].oldest_age_ms = (int64_t)i * 60000;
		st->bands[i].drain_ms = i == 5 ? -1 : (int64_t)i;
	}
	st->nonair = 2;
	for (size_t i = 0; i < st->nonair; i++) {
		struct status_xfer *x = &st->onair[i];
		snprintf(x->id, sizeof(x->id), "%032zx", i + 1);
		snprintf(x->link, sizeof(x->link), "link%zu", i);
		snprintf(x->sender, sizeof(x->sender), "s%zu@a.test", i);
		snprintf(x->rcpts, sizeof(x->rcpts), "r@b.test,\"q u\"@c.test");
		x->priority = -9 + (int)i;
		x->bytes_sent = 100;
		x->bytes_total = 1000;
		x->eta_ms = -1;
	}
	st->nrisk = STATUS_RISK_MAX;
	for (size_t i = 0; i < st->nrisk; i++) {
		struct status_risk *r = &st->risk[i];
		snprintf(r->id, sizeof(r->id), "risk%zu", i);
		snprintf(r->sender, sizeof(r->sender), "x@y.test");
		snprintf(r->kind, sizeof(r->kind), i % 2 ? "BY" : "ABY");
		r->deadline_s = 1795000000;
		r->predicted_s = 1795000100;
		r->slack_ms = -100000;
		r->action = (enum status_risk_action)(i % STATUS_RISK__COUNT);
		snprintf(r->target, sizeof(r->target), "alt@z.test");
	}
	st->nheld = 1;
	snprintf(st->held[0].id, sizeof(st->held[0].id), "h1");
	snprintf(st->held[0].sender, sizeof(st->held[0].sender), "\xc3\xa9"
	    "t\xc3\xa9@fr.test"); /* UTF-8 passes through */
	snprintf(st->held[0].rcpts, sizeof(st->held[0].rcpts), "a@b");
	st->held[0].priority = 4;
	st->held[0].bytes = 9;
	st->held[0].since_s = 1;
	snprintf(st->held[0].by, sizeof(st->held[0].by), "uid=1000");
	st->nevents = STATUS_EVENTS_MAX;
	for (size_t i = 0; i < st->nevents; i++) {
		struct status_event *e = &st->events[i];
		e->time_s = 1795000000 + (int64_t)i;
		snprintf(e->level, sizeof(e->level), "warn");
		snprintf(e->kind, sizeof(e->kind), "link");
		snprintf(e->text, sizeof(e->text), "event %zu with \"quotes\""
		    " and a\nnewline", i);
	}
}

static void
t_round_trip(void **state)
{
	struct status *a = xmalloc(sizeof(*a)), *b = xmalloc(sizeof(*b));
	json_t *j, *k;
	char *text, err[100];

	(void)state;
	fill_all(a);
	j = status_to_json(a);
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	assert_null(strchr(text, '\n')); /* one line on the wire */
	k = json_loads(text, 0, NULL);
	assert_non_null(k);
	assert_int_equal(status_from_json(k, b, err, sizeof(err)), 0);
	/* every byte, padding and unused slots included (all zeroed) */
	assert_memory_equal(a, b, sizeof(*a));
	free(text);
	json_decref(j);
	json_decref(k);
	free(a);
	free(b);
}

static void
t_msg_round_trip(void **state)
{
	struct status_msg a, b;
	json_t *j;

	(void)state;
	memset(&a, 0, sizeof(a));
	snprintf(a.id, sizeof(a.id), "0123abcd");
	a.state = STATUS_MSG_DEFERRED;
	snprintf(a.sender, sizeof(a.sender), "s@a.test");
	snprintf(a.rcpts, sizeof(a.rcpts), "r@b.test");
	a.nrcpts = 1;
	a.priority = 6;
	snprintf(a.band, sizeof(a.band), "override");
	snprintf(a.route, sizeof(a.route), "link:hf1");
	a.bytes = 1;
	a.age_ms = 2;
	a.deadline_s = 3;
	a.attempts = 4;
	a.next_try_ms = 5;
	snprintf(a.last_error, sizeof(a.last_error), "451 4.4.1 no answer");
	j = status_msg_to_json(&a);
	assert_int_equal(status_msg_from_json(j, &b, NULL, 0), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	json_decref(j);
}

static void
t_strict_types(void **state)
{
	static const char *const bad[] = {
		"{\"gateway\":5}",
		"{\"now_s\":\"soon\"}",
		"{\"version\":99}",
		"{\"links\":{}}",
		"{\"links\":[{\"state\":\"exploded\"}]}",
		"{\"links\":[{\"held\":1}]}",
		"{\"links\":[{\"spark\":[1,-2]}]}",
		"{\"links\":[{\"retx_rate\":\"x\"}]}",
		"{\"risk\":[{\"action\":\"panic\"}]}",
		"{\"onair\":[7]}",
		"[]",
	};
	struct status *st = xmalloc(sizeof(*st));
	char err[100];

	(void)state;
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		json_t *j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		err[0] = '\0';
		if (status_from_json(j, st, err, sizeof(err)) != GW_EPROTO)
			fail_msg("accepted %s", bad[i]);
		assert_true(err[0] != '\0');
		json_decref(j);
	}
	free(st);
}

static void
t_lenient(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	json_t *j = json_loads("{\"version\":1,\"future_member\":[1],"
	    "\"links\":[{\"name\":\"hf1\",\"whatever\":true}]}", 0, NULL);

	(void)state;
	assert_int_equal(status_from_json(j, st, NULL, 0), 0);
	assert_int_equal(st->nlinks, 1);
	assert_string_equal(st->links[0].name, "hf1");
	assert_int_equal(st->links[0].state, STATUS_LINK_DOWN); /* default */
	assert_int_equal(st->nbands, 0);
	json_decref(j);

	/* arrays are clamped to their maximum */
	j = json_object();
	json_t *a = json_array();
	for (int i = 0; i < STATUS_LINKS_MAX + 5; i++)
		json_array_append_new(a, json_pack("{s:s}", "name", "x"));
	json_object_set_new(j, "links", a);
	assert_int_equal(status_from_json(j, st, NULL, 0), 0);
	assert_int_equal(st->nlinks, STATUS_LINKS_MAX);
	json_decref(j);
	free(st);
}

static void
t_strings(void **state)
{
	struct status *st = xmalloc(sizeof(*st)), *back = xmalloc(
	    sizeof(*back));
	char small[6];
	json_t *j;

	(void)state;
	/* truncation never splits a UTF-8 sequence */
	status_strlcpy(small, "ab\xc3\xa9\xc3\xa9", sizeof(small));
	assert_string_equal(small, "ab\xc3\xa9");
	status_strlcpy(small, "abcd\xe2\x82\xac", sizeof(small));
	assert_string_equal(small, "abcd");

	/* bytes that are not UTF-8 are replaced, not dropped or fatal */
	status_init(st);
	st->nheld = 1;
	snprintf(st->held[0].sender, sizeof(st->held[0].sender),
	    "b\xff\xfe" "d@x.test");
	j = status_to_json(st);
	assert_int_equal(status_from_json(j, back, NULL, 0), 0);
	assert_string_equal(back->held[0].sender, "b??d@x.test");
	json_decref(j);

	/* over-long strings from the wire are truncated to the field */
	char longid[200];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	j = json_pack("{s:[{s:s}]}", "onair", "id", longid);
	assert_int_equal(status_from_json(j, back, NULL, 0), 0);
	assert_int_equal(strlen(back->onair[0].id), STATUS_ID_MAX - 1);
	json_decref(j);
	free(st);
	free(back);
}

static void
t_formats(void **state)
{
	static const struct {
		int64_t v;
		const char *bytes, *ms;
	} cases[] = {
		{ 0, "0 B", "0ms" },
		{ 999, "999 B", "999ms" },
		{ 1000, "1.0 kB", "1s" },
		{ 1250, "1.2 kB", "1s" },
		{ 65000, "65.0 kB", "1m05s" },
		{ 999999, "1.0 MB", "16m39s" },
		{ 7260000, "7.3 MB", "2h01m" },
		{ 266400000, "266.4 MB", "3d02h" },
		{ -12000, "-12.0 kB", "-12s" },
	};
	char a[32], b[32];

	(void)state;
	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		assert_string_equal(status_fmt_bytes(cases[i].v, a, sizeof(a)),
		    cases[i].bytes);
		assert_string_equal(status_fmt_ms(cases[i].v, b, sizeof(b)),
		    cases[i].ms);
	}
	assert_string_equal(status_fmt_bps(2400, a, sizeof(a)), "2400 b/s");
	assert_string_equal(status_fmt_bps(19200, a, sizeof(a)), "19.2 kb/s");
}

static void
t_sampler(void **state)
{
	struct status_sampler s;
	struct status_link l;

	(void)state;
	memset(&l, 0, sizeof(l));
	status_sampler_init(&s, 1000, 50000);
	status_sampler_add(&s, 50100, 300);
	status_sampler_add(&s, 50900, 200);   /* slot 1: 500 B in 1 s */
	status_sampler_add(&s, 51500, 1000);  /* slot 2 */
	status_sampler_fill(&s, 51999, &l);   /* slot 2 not finished */
	assert_int_equal(l.nspark, 1);
	assert_int_equal(l.spark[0], 500);
	assert_int_equal(l.spark_interval_ms, 1000);
	status_sampler_fill(&s, 55000, &l);   /* slot 2 + three idle */
	assert_int_equal(l.nspark, 5);
	assert_int_equal(l.spark[1], 1000);
	assert_int_equal(l.spark[2], 0);
	assert_int_equal(l.spark[4], 0);
	/* the slot that started at 55000 is open; a long gap is all zeros
	 * and the ring keeps the newest STATUS_SPARK_MAX */
	status_sampler_add(&s, 55010, 7000);
	status_sampler_fill(&s, 56000, &l);
	assert_int_equal(l.spark[l.nspark - 1], 7000);
	status_sampler_fill(&s, 56000 + 1000000, &l);
	assert_int_equal(l.nspark, STATUS_SPARK_MAX);
	for (size_t i = 0; i < l.nspark; i++)
		assert_int_equal(l.spark[i], 0);
	status_sampler_add(&s, 56000 + 1000000, 2000);
	status_sampler_fill(&s, 56000 + 1001000, &l);
	assert_int_equal(l.spark[STATUS_SPARK_MAX - 1], 2000);
}

static void
t_text(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct buf out = BUF_INIT;
	const char *s;

	(void)state;
	fill_all(st);
	status_format_text(st, &out);
	s = buf_cstr(&out);
	assert_non_null(strstr(s, "gateway alpha.test"));
	assert_non_null(strstr(s, "link1      connecting HELD"));
	assert_non_null(strstr(s, "risk0 ABY="));
	assert_non_null(strstr(s, "on_miss=redirect to=alt@z.test"));
	assert_non_null(strstr(s, "\non air:\n"));
	buf_fini(&out);
	status_init(st);
	status_format_text(st, &out);
	assert_non_null(strstr(buf_cstr(&out), "links: none"));
	assert_non_null(strstr(buf_cstr(&out), "on air: nothing"));
	buf_fini(&out);
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_round_trip),
		cmocka_unit_test(t_msg_round_trip),
		cmocka_unit_test(t_strict_types),
		cmocka_unit_test(t_lenient),
		cmocka_unit_test(t_strings),
		cmocka_unit_test(t_formats),
		cmocka_unit_test(t_sampler),
		cmocka_unit_test(t_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
