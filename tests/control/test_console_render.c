/*
 * test_console_render.c - the console layout as a pure function of
 * (snapshot, UI state, size): 80x24, 200x60, crowded and tiny terminals,
 * selection, prompts, hostile text.
 */
#include "tests/lib/testutil.h"

#include "common/xmalloc.h"
#include "gateway/cli/console_render.h"

#define ONAIR_ID "3f2a9c0e11d84b7a9e5c2d1f0a6b8c4d"
#define RISK_ID "9c1d77e2a0b34f5c8d6e1a2b3c4d5e6f"

static void
snapshot(struct status *st)
{
	status_init(st);
	snprintf(st->gateway, sizeof(st->gateway), "alpha.test");
	st->now_s = 1795000000; /* 2026-11-18T11:06:40Z */
	st->uptime_ms = 3723000;
	st->nlinks = 2;
	struct status_link *l = &st->links[0];
	snprintf(l->name, sizeof(l->name), "hf1");
	l->state = STATUS_LINK_SENDING;
	snprintf(l->profile, sizeof(l->profile), "pactor3");
	snprintf(l->peer, sizeof(l->peer), "bravo.test");
	l->nominal_bps = 2400;
	l->measured_bps = 1870;
	l->tx_bytes = 1234567;
	l->rx_bytes = 20100;
	l->tx_frames = 340;
	l->rx_frames = 88;
	l->retx_rate = 0.031;
	l->last_good_ms = 2000;
	l->nspark = STATUS_SPARK_MAX;
	for (size_t i = 0; i < l->nspark; i++)
		l->spark[i] = (uint32_t)(i % 10 == 0 ? 0 : 30 * (i % 10));
	l = &st->links[1];
	snprintf(l->name, sizeof(l->name), "vhf2");
	l->state = STATUS_LINK_DOWN;
	l->held = true;
	l->nominal_bps = 9600;
	l->last_good_ms = -1;
	l->auth_failures = 3;
	st->nbands = 2;
	snprintf(st->bands[0].name, sizeof(st->bands[0].name), "flash");
	st->bands[0].messages = 1;
	st->bands[0].bytes = 2100;
	st->bands[0].oldest_age_ms = 12000;
	st->bands[0].drain_ms = 9000;
	snprintf(st->bands[1].name, sizeof(st->bands[1].name), "routine");
	st->bands[1].messages = 13;
	st->bands[1].bytes = 1300000;
	st->bands[1].oldest_age_ms = 3720000;
	st->bands[1].drain_ms = -1;
	st->nonair = 1;
	struct status_xfer *x = &st->onair[0];
	snprintf(x->id, sizeof(x->id), ONAIR_ID);
	snprintf(x->link, sizeof(x->link), "hf1");
	snprintf(x->sender, sizeof(x->sender), "ops@alpha.test");
	snprintf(x->rcpts, sizeof(x->rcpts), "hq@bravo.test");
	x->priority = 2;
	x->bytes_sent = 27000;
	x->bytes_total = 60000;
	x->eta_ms = 55000;
	st->nrisk = 1;
	struct status_risk *r = &st->risk[0];
	snprintf(r->id, sizeof(r->id), RISK_ID);
	snprintf(r->kind, sizeof(r->kind), "ABY");
	snprintf(r->sender, sizeof(r->sender), "cmd@alpha.test");
	r->deadline_s = 1795000000;
	r->predicted_s = 1795000670;
	r->slack_ms = -670000;
	r->action = STATUS_RISK_REDIRECT;
	snprintf(r->target, sizeof(r->target), "duty@charlie.test");
}

static struct status_event logv[40];

static void
view_init(struct console_view *v, const struct status *st)
{
	memset(v, 0, sizeof(*v));
	v->st = st;
	v->conn_text = "connected";
	for (size_t i = 0; i < GW_ARRAY_LEN(logv); i++) {
		logv[i].time_s = 1795000000 + (int64_t)i;
		snprintf(logv[i].level, sizeof(logv[i].level), i % 7 ? "info" :
		    "warn");
		snprintf(logv[i].kind, sizeof(logv[i].kind), "link");
		snprintf(logv[i].text, sizeof(logv[i].text), "event number %zu",
		    i);
	}
	v->log = logv;
	v->nlog = GW_ARRAY_LEN(logv);
}

/* Row text, and the first row containing needle (or -1). */
static char rowbuf[4096];

static const char *
row(const struct console_grid *g, int r)
{
	console_grid_row(g, r, rowbuf, sizeof(rowbuf));
	return rowbuf;
}

static int
find(const struct console_grid *g, const char *needle)
{
	for (int r = 0; r < g->h; r++)
		if (strstr(row(g, r), needle))
			return r;
	return -1;
}

static void
dump(const struct console_grid *g)
{
	for (int r = 0; r < g->h; r++)
		print_message("|%s\n", row(g, r));
}

static void
t_80x24(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct console_view v;
	struct console_grid g;
	int r;

	(void)state;
	snapshot(st);
	view_init(&v, st);
	console_grid_init(&g, 80, 24);
	console_render(&v, &g);
	dump(&g);
	assert_non_null(strstr(row(&g, 0), "skywave console  alpha.test  "
	    "11:06:40Z  up 1h02m"));
	assert_non_null(strstr(row(&g, 0), "connected"));
	assert_string_equal(row(&g, 1), "LINKS (2, 1 down)");
	/* the links panel has the focus: its first item is selected */
	assert_true(strncmp(row(&g, 2), "> hf1      SENDING         pactor3 ->"
	    " bravo.test", 48) == 0);
	assert_non_null(strstr(row(&g, 3), "tx 1.2 MB/340f  rx 20.1 kB/88f"
	    "  retx 3.1%  last 2s  auth 0"));
	assert_non_null(strstr(row(&g, 4), "DOWN       HELD"));
	assert_non_null(strstr(row(&g, 5), "last never  auth 3"));
	/* the sparkline is ASCII without unicode */
	assert_non_null(strstr(row(&g, 3), "#"));
	r = find(&g, "QUEUE (14 msgs waiting, 1.3 MB)");
	assert_int_equal(r, 6);
	assert_non_null(strstr(row(&g, 7), "flash"));
	assert_non_null(strstr(row(&g, 8), "drain - (link down)"));
	r = find(&g, "ON AIR");
	assert_int_equal(r, 9);
	assert_non_null(strstr(row(&g, 10), "3f2a9c0e11d8  P+2 hf1"));
	assert_null(strstr(row(&g, 10), ONAIR_ID)); /* short id at 80 */
	/* 45% of a 34-column bar is 15 '#' */
	assert_non_null(strstr(row(&g, 11),
	    "[###############...................]"));
	assert_non_null(strstr(row(&g, 11), "45%  27.0 kB / 60.0 kB  ETA 55s"));
	r = find(&g, "DEADLINES AT RISK");
	assert_int_equal(r, 12);
	/* clipped at the right edge */
	assert_string_equal(row(&g, 13), "  9c1d77e2a0b3  ABY  11:06:40Z slack"
	    " -11m10s LATE  -> redirect to duty@charlie.t");
	assert_int_equal(find(&g, "HELD  none"), 14);
	assert_int_equal(find(&g, "EVENTS"), 15);
	/* the newest events fill the rest, newest at the bottom */
	assert_non_null(strstr(row(&g, 21), "event number 39"));
	assert_non_null(strstr(row(&g, 16), "event number 34"));
	assert_string_equal(row(&g, 22), "");
	assert_non_null(strstr(row(&g, 23), "q quit  Tab panel"));
	for (r = 0; r < 24; r++)
		assert_true(strlen(row(&g, r)) <= 80 * 3);
	console_grid_fini(&g);
	free(st);
}

static void
t_200x60(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct console_view v;
	struct console_grid g;
	int r;

	(void)state;
	snapshot(st);
	view_init(&v, st);
	v.unicode = true;
	console_grid_init(&g, 200, 60);
	console_render(&v, &g);
	dump(&g);
	/* one row per link: state, counters and sparkline together */
	r = find(&g, "hf1      SENDING");
	assert_int_equal(r, 2);
	assert_non_null(strstr(row(&g, r), "SENDING"));
	assert_non_null(strstr(row(&g, r), "retx 3.1%"));
	assert_non_null(strstr(row(&g, r), "\xe2\x96\x88")); /* full block */
	assert_int_equal(find(&g, "  vhf2"), 3);
	/* whole ids, bar and figures on one row */
	r = find(&g, ONAIR_ID);
	assert_true(r > 0);
	assert_non_null(strstr(row(&g, r), "ops@alpha.test -> hq@bravo.test"));
	assert_non_null(strstr(row(&g, r), "45%  27.0 kB / 60.0 kB  ETA 55s"));
	r = find(&g, RISK_ID);
	assert_true(r > 0);
	assert_non_null(strstr(row(&g, r), "predicted 11:17:50Z"));
	/* every event fits at this size */
	assert_true(find(&g, "event number 0") > 0);
	assert_true(find(&g, "event number 39") > 0);
	assert_int_equal(find(&g, "q quit"), 59);
	console_grid_fini(&g);
	free(st);
}

/* More than fits: every panel keeps its header, the rest says how many
 * are hidden, and the selection stays visible. */
static void
t_crowded(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct console_view v;
	struct console_grid g;
	char target[64];
	int r;

	(void)state;
	snapshot(st);
	st->nonair = 5;
	for (size_t i = 1; i < 5; i++) {
		st->onair[i] = st->onair[0];
		snprintf(st->onair[i].id, sizeof(st->onair[i].id),
		    "%032zx", i);
	}
	st->nheld = 6;
	for (size_t i = 0; i < 6; i++)
		snprintf(st->held[i].id, sizeof(st->held[i].id), "held%zu", i);
	view_init(&v, st);
	v.focus = CONSOLE_P_ONAIR;
	v.sel[CONSOLE_P_ONAIR] = 4;
	console_grid_init(&g, 80, 24);
	console_render(&v, &g);
	dump(&g);
	assert_true(find(&g, "LINKS") >= 0);
	assert_true(find(&g, "QUEUE") >= 0);
	assert_true(find(&g, "ON AIR  +") >= 0);
	assert_true(find(&g, "DEADLINES AT RISK") >= 0);
	assert_true(find(&g, "HELD  +") >= 0);
	assert_true(find(&g, "EVENTS") >= 0);
	/* the selected transfer is shown, with the marker */
	r = find(&g, "> 000000000000");
	assert_true(r > 0);
	console_target(&v, CONSOLE_P_ONAIR, target, sizeof(target));
	assert_string_equal(target, "00000000000000000000000000000004");
	/* a selection past the end clamps to the last item */
	v.sel[CONSOLE_P_HELD] = 99;
	console_target(&v, CONSOLE_P_HELD, target, sizeof(target));
	assert_string_equal(target, "held5");
	v.focus = CONSOLE_P_LINKS;
	console_target(&v, CONSOLE_P_RISK, target, sizeof(target));
	assert_string_equal(target, RISK_ID);
	console_grid_fini(&g);
	free(st);
}

static void
t_prompt_result_scroll(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct console_view v;
	struct console_grid g;

	(void)state;
	snapshot(st);
	view_init(&v, st);
	v.prompt = "Hold message 3f2a9c0e11d8? (y/n)";
	v.result = "hold: held message x";
	v.log_scroll = 10;
	console_grid_init(&g, 80, 24);
	console_render(&v, &g);
	assert_string_equal(row(&g, 23), " Hold message 3f2a9c0e11d8? (y/n)");
	assert_int_equal(g.cells[23 * 80 + 40].attr, CONSOLE_A_PROMPT);
	assert_string_equal(row(&g, 22), " hold: held message x");
	assert_int_equal(g.cells[22 * 80 + 1].attr, CONSOLE_A_GOOD);
	assert_true(find(&g, "EVENTS (scrolled back 10)") > 0);
	assert_true(find(&g, "event number 29") > 0);
	assert_int_equal(find(&g, "event number 30"), -1);
	/* scrolling past the start stops at the oldest */
	v.log_scroll = 1000;
	console_render(&v, &g);
	assert_true(find(&g, "event number 0") > 0);
	console_grid_fini(&g);
	free(st);
}

static void
t_hostile_and_tiny(void **state)
{
	struct status *st = xmalloc(sizeof(*st));
	struct console_view v;
	struct console_grid g;
	static const int sizes[][2] = { { 1, 1 }, { 10, 3 }, { 20, 5 },
		{ 40, 10 }, { 80, 24 }, { 119, 30 }, { 120, 30 },
		{ 300, 100 } };

	(void)state;
	snapshot(st);
	/* escape sequences from the wire are shown, not obeyed */
	snprintf(st->onair[0].sender, sizeof(st->onair[0].sender),
	    "evil\x1b[2J\r\n@x");
	view_init(&v, st);
	for (size_t i = 0; i < GW_ARRAY_LEN(sizes); i++) {
		console_grid_init(&g, sizes[i][0], sizes[i][1]);
		console_render(&v, &g);
		for (int k = 0; k < g.w * g.h; k++)
			assert_true(g.cells[k].ch >= 0x20);
		console_grid_fini(&g);
	}
	console_grid_init(&g, 80, 24);
	console_render(&v, &g);
	assert_true(find(&g, "evil?[2J??@x") > 0);
	/* disconnected: the reason shows even when it is long */
	v.conn_text = "DISCONNECTED: skywaved is not running (no control "
	    "socket answering at var/control.sock)";
	console_render(&v, &g);
	assert_non_null(strstr(row(&g, 0), "up 1h02m  DISCONNECTED: skywaved"));
	/* no snapshot yet */
	v.st = NULL;
	console_render(&v, &g);
	assert_true(find(&g, "waiting for skywaved") > 0);
	assert_string_equal(row(&g, 12), "  DISCONNECTED: skywaved is not "
	    "running (no control socket answering at var/co");
	assert_string_equal(row(&g, 13), "  ntrol.sock)");
	console_grid_fini(&g);
	free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_80x24),
		cmocka_unit_test(t_200x60),
		cmocka_unit_test(t_crowded),
		cmocka_unit_test(t_prompt_result_scroll),
		cmocka_unit_test(t_hostile_and_tiny),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
