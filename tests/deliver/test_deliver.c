/* deliver: the glue. One message with recipients for Maildir, two for the
 * same SMTP target (one transaction), one for a radio link, one without a
 * route; loops (Received count, Delivered-To) fail with 5.4.6; a Maildir
 * that cannot be created defers; callbacks never run inside deliver_start
 * and "done" comes last. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/config.h"
#include "gateway/deliver/deliver.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/route.h"
#include "tests/deliver/deliver_stack.h"
#include "tests/deliver/fakesmtp.h"

#include <dirent.h>
#include <sys/stat.h>

struct got {
	struct deliver_outcome o[16];
	int n;
	int done;
	int outcomes_at_done;
};

static void
on_outcome(void *arg, const struct deliver_outcome *o)
{
	struct got *g = arg;
	assert_int_equal(g->done, 0);
	assert_true(g->n < 16);
	g->o[g->n++] = *o;
}

static void
on_done(void *arg)
{
	struct got *g = arg;
	g->done++;
	g->outcomes_at_done = g->n;
}

static const struct deliver_outcome *
find(const struct got *g, size_t rcpt)
{
	for (int i = 0; i < g->n; i++)
		if (g->o[i].rcpt == rcpt)
			return &g->o[i];
	static const struct deliver_outcome none = { .rcpt = SIZE_MAX };
	fail_msg("no outcome for recipient %zu", rcpt);
	return &none;
}

static size_t
count_new(const char *dir)
{
	char p[1100];
	size_t n = 0;
	snprintf(p, sizeof(p), "%.1000s/new", dir);
	DIR *d = opendir(p);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct world {
	uv_loop_t loop;
	struct fake_smtp fk;
	char *root;
	struct route_line routes[4];
	struct route_table *rt;
	struct smtpc_client *sc;
	struct deliver *d;
};

static void
world_init(struct world *w, int64_t max_received)
{
	char err[300];
	memset(w, 0, sizeof(*w));
	uv_loop_init(&w->loop);
	w->fk.ehlo = "250-fake\r\n250 PIPELINING";
	assert_int_equal(fake_smtp_start(&w->fk, &w->loop), 0);
	w->root = tu_mkdtemp("deliver");
	snprintf(w->routes[0].pattern, 256, "local.test");
	snprintf(w->routes[0].target, 256, "maildir:%s/%%u", w->root);
	snprintf(w->routes[1].pattern, 256, "*.relay.test");
	snprintf(w->routes[1].target, 256, "smtp:127.0.0.1:%d", w->fk.port);
	snprintf(w->routes[2].pattern, 256, "radio.test");
	snprintf(w->routes[2].target, 256, "link:hf1");
	snprintf(w->routes[3].pattern, 256, "broken.test");
	snprintf(w->routes[3].target, 256, "maildir:%s/file/x", w->root);
	assert_int_equal(route_table_new(w->routes, 4, &w->rt, err,
	    sizeof(err)), 0);
	struct smtpc_opts so;
	smtpc_opts_default(&so, "gw.test");
	w->sc = smtpc_client_new(&w->loop, clk_system(), &so);
	struct deliver_opts dopt = { "gw.test", max_received, true };
	w->d = deliver_new(&w->loop, clk_system(), w->rt, w->sc, &dopt);
}

static void
world_fini(struct world *w)
{
	deliver_free(w->d);
	smtpc_client_close(w->sc, NULL, NULL);
	fake_smtp_stop(&w->fk);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	route_table_free(w->rt);
	tu_rmtree(w->root);
	free(w->root);
}

static void
run(struct world *w, struct got *g)
{
	for (int i = 0; i < 20000 && g->done == 0; i++)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_int_equal(g->done, 1);
}

static const char MSG[] = "Subject: glue\r\n\r\nbody\r\n";

static void
test_mixed_recipients(void **state)
{
	(void)state;
	struct world w;
	struct got g = { 0 };
	struct queue_rcpt r[7] = {
		{ .addr = "alice@local.test" },
		{ .addr = "x@a.relay.test" },
		{ .addr = "z@radio.test" },
		{ .addr = "Bob@Local.Test" },
		{ .addr = "y@b.relay.test" },
		{ .addr = "n@unknown.test" },
		{ .addr = "q@broken.test" },
	};
	struct queue_envelope env = { .reverse_path = "s@x.test", .rcpts = r,
		.nrcpts = 7 };
	char path[1024];

	world_init(&w, 100);
	/* A regular file where the Maildir's parent should be. */
	snprintf(path, sizeof(path), "%s/file", w.root);
	assert_int_equal(tu_write_file(path, "x"), 0);
	struct deliver_req req = { &env, (const uint8_t *)MSG, strlen(MSG),
		NULL, 0 };
	assert_int_equal(deliver_start(w.d, &req, on_outcome, on_done, &g), 0);
	assert_int_equal(g.n, 0); /* nothing inside deliver_start */
	assert_int_equal(deliver_active(w.d), 1);
	run(&w, &g);
	assert_int_equal(g.n, 7);
	assert_int_equal(g.outcomes_at_done, 7);
	assert_int_equal(deliver_active(w.d), 0);

	assert_int_equal(find(&g, 0)->action, DELIVER_DELIVERED);
	assert_int_equal(find(&g, 3)->action, DELIVER_DELIVERED);
	snprintf(path, sizeof(path), "%s/alice", w.root);
	assert_int_equal(count_new(path), 1);
	snprintf(path, sizeof(path), "%s/bob", w.root);
	assert_int_equal(count_new(path), 1);

	/* Both relay.test recipients went in one transaction. */
	assert_int_equal(find(&g, 1)->action, DELIVER_RELAYED);
	assert_int_equal(find(&g, 4)->action, DELIVER_RELAYED);
	assert_int_equal(w.fk.messages, 1);
	assert_non_null(strstr(buf_cstr(&w.fk.batches),
	    "MAIL FROM:<s@x.test>|RCPT TO:<x@a.relay.test>|"
	    "RCPT TO:<y@b.relay.test>|DATA"));
	assert_string_equal(buf_cstr(&w.fk.data), MSG);

	const struct deliver_outcome *o = find(&g, 2);
	assert_int_equal(o->action, DELIVER_TO_LINK);
	assert_string_equal(o->link, "hf1");
	o = find(&g, 5);
	assert_int_equal(o->action, DELIVER_FAILED);
	assert_string_equal(o->status, "5.4.4");
	o = find(&g, 6);
	assert_int_equal(o->action, DELIVER_DEFERRED);
	assert_string_equal(o->status, "4.3.0");
	world_fini(&w);
}

static void
test_loop_by_received_count(void **state)
{
	(void)state;
	struct world w;
	struct got g = { 0 };
	struct queue_rcpt r[2] = { { .addr = "alice@local.test" },
		{ .addr = "x@a.relay.test" } };
	struct queue_envelope env = { .reverse_path = "s@x.test", .rcpts = r,
		.nrcpts = 2 };
	struct buf m = BUF_INIT;

	world_init(&w, 5);
	for (int i = 0; i < 5; i++)
		buf_appendf(&m, "Received: from h%d by h%d; now\r\n", i, i + 1);
	buf_append_str(&m, MSG);
	struct deliver_req req = { &env, m.data, m.len, NULL, 0 };
	assert_int_equal(deliver_start(w.d, &req, on_outcome, on_done, &g), 0);
	run(&w, &g);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(find(&g, i)->action, DELIVER_FAILED);
		assert_string_equal(find(&g, i)->status, "5.4.6");
	}
	assert_int_equal(w.fk.conns, 0);
	char path[1024];
	snprintf(path, sizeof(path), "%s/alice", w.root);
	assert_int_equal(count_new(path), 0);
	buf_fini(&m);
	world_fini(&w);
}

static void
test_delivered_to_loop_and_subset(void **state)
{
	(void)state;
	struct world w;
	struct got g = { 0 };
	struct queue_rcpt r[3] = { { .addr = "alice@local.test" },
		{ .addr = "bob@local.test" }, { .addr = "carol@local.test" } };
	struct queue_envelope env = { .reverse_path = "", .rcpts = r,
		.nrcpts = 3 };
	const char *m = "Delivered-To: alice@local.test\r\n"
	    "Subject: again\r\n\r\nx\r\n";
	size_t subset[2] = { 0, 2 };

	world_init(&w, 100);
	struct deliver_req req = { &env, (const uint8_t *)m, strlen(m),
		subset, 2 };
	assert_int_equal(deliver_start(w.d, &req, on_outcome, on_done, &g), 0);
	run(&w, &g);
	assert_int_equal(g.n, 2); /* only the requested recipients */
	assert_int_equal(find(&g, 0)->action, DELIVER_FAILED);
	assert_string_equal(find(&g, 0)->status, "5.4.6");
	assert_int_equal(find(&g, 2)->action, DELIVER_DELIVERED);
	/* An out-of-range index is refused without callbacks. */
	size_t bad[1] = { 3 };
	struct deliver_req breq = { &env, (const uint8_t *)m, strlen(m), bad,
		1 };
	assert_int_equal(deliver_start(w.d, &breq, on_outcome, on_done, &g),
	    GW_EINVAL);
	world_fini(&w);
}

static void
test_rcpt_route_override(void **state)
{
	(void)state;
	struct world w;
	struct got g = { 0 };
	char target[700], dir[600];

	world_init(&w, 100);
	snprintf(dir, sizeof(dir), "%s/override", w.root);
	snprintf(target, sizeof(target), "maildir:%s", dir);
	struct queue_rcpt r[1] = { { .addr = "n@unknown.test",
		.route = target } };
	struct queue_envelope env = { .reverse_path = "s@x.test", .rcpts = r,
		.nrcpts = 1 };
	struct deliver_req req = { &env, (const uint8_t *)MSG, strlen(MSG),
		NULL, 0 };
	assert_int_equal(deliver_start(w.d, &req, on_outcome, on_done, &g), 0);
	run(&w, &g);
	assert_int_equal(find(&g, 0)->action, DELIVER_DELIVERED);
	assert_int_equal(count_new(dir), 1);
	world_fini(&w);
}

static void
test_cfg_table(void **state)
{
	(void)state;
	struct deliver_cfg c;
	struct smtpc_opts o;
	char err[300] = "";

	deliver_cfg_default(&c);
	deliver_cfg_smtpc(&c, "gw.example", &o);
	/* The defaults are the RFC 5321 client minimums. */
	assert_int_equal(o.to.greeting_ms, 300000);
	assert_int_equal(o.to.ehlo_ms, 300000);
	assert_int_equal(o.to.mail_ms, 300000);
	assert_int_equal(o.to.rcpt_ms, 300000);
	assert_int_equal(o.to.data_ms, 120000);
	assert_int_equal(o.to.block_ms, 180000);
	assert_int_equal(o.to.dot_ms, 600000);
	assert_int_equal(o.max_conns_per_target, 4);
	assert_int_equal(o.chunking, SMTPC_CHUNKING_AUTO);
	assert_int_equal(o.chunking_min_bytes, 1048576);
	assert_string_equal(o.helo_name, "gw.example");

	assert_int_equal(deliver_cfg_set(&c, "smtp_data_done_timeout", "20m",
	    err, sizeof(err)), 0);
	assert_int_equal(deliver_cfg_set(&c, "SMTP_CHUNKING", "never", err,
	    sizeof(err)), 0);
	assert_int_equal(deliver_cfg_set(&c, "smtp_helo_name", "relay.test",
	    err, sizeof(err)), 0);
	deliver_cfg_smtpc(&c, "gw.example", &o);
	assert_int_equal(o.to.dot_ms, 1200000);
	assert_int_equal(o.chunking, SMTPC_CHUNKING_NEVER);
	assert_string_equal(o.helo_name, "relay.test");

	assert_int_equal(deliver_cfg_set(&c, "smtp_connection_limit", "0",
	    err, sizeof(err)), GW_ERANGE);
	assert_non_null(strstr(err, "1..64"));
	assert_true(deliver_cfg_set(&c, "smtp_chunking", "sometimes", err,
	    sizeof(err)) < 0);
	assert_int_equal(deliver_cfg_set(&c, "no_such_key", "1", err,
	    sizeof(err)), GW_ENOENT);
}

static void
stack_closed(void *arg)
{
	(*(int *)arg)++;
}

/* The stack from a configuration: routes compiled (a bad one reported
 * with its line), Maildir delivery through it, a route reload, close. */
static void
test_stack_from_config(void **state)
{
	(void)state;
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	struct deliver_stack st;
	uv_loop_t loop;
	char err[400] = "";
	char *root = tu_mkdtemp("stack");
	int closed = 0;

	uv_loop_init(&loop);
	snprintf(cfg->gw.hostname, sizeof(cfg->gw.hostname), "unit.test");
	cfg->policy.max_received = 50;
	snprintf(cfg->routes[0].pattern, 256, "*");
	snprintf(cfg->routes[0].target, 256, "smtp:a.test:99999");
	cfg->routes[0].line = 12;
	cfg->nroutes = 1;
	assert_int_equal(deliver_stack_open(&st, &loop, clk_system(), cfg,
	    NULL, err, sizeof(err)), GW_EINVAL);
	assert_non_null(strstr(err, "line 12"));

	snprintf(cfg->routes[0].target, 256, "maildir:%s/a", root);
	assert_int_equal(deliver_stack_open(&st, &loop, clk_system(), cfg,
	    NULL, err, sizeof(err)), 0);
	struct queue_rcpt r[1] = { { .addr = "u@x.test" } };
	struct queue_envelope env = { .reverse_path = "", .rcpts = r,
		.nrcpts = 1 };
	struct deliver_req req = { &env, (const uint8_t *)MSG, strlen(MSG),
		NULL, 0 };
	struct got g = { 0 };
	assert_int_equal(deliver_start(st.d, &req, on_outcome, on_done, &g),
	    0);
	for (int i = 0; i < 20000 && !g.done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(find(&g, 0)->action, DELIVER_DELIVERED);
	assert_non_null(strstr(find(&g, 0)->text, "unit.test"));
	char p[700];
	snprintf(p, sizeof(p), "%s/a", root);
	assert_int_equal(count_new(p), 1);

	/* Reload: a new table, the old one freed; delivery follows it. */
	struct route_line nr = { "*", "", 1 };
	snprintf(nr.target, sizeof(nr.target), "maildir:%s/b", root);
	struct route_table *t2 = NULL;
	assert_int_equal(route_table_new(&nr, 1, &t2, err, sizeof(err)), 0);
	deliver_set_routes(st.d, t2);
	route_table_free(st.routes);
	st.routes = t2;
	memset(&g, 0, sizeof(g));
	assert_int_equal(deliver_start(st.d, &req, on_outcome, on_done, &g),
	    0);
	for (int i = 0; i < 20000 && !g.done; i++)
		uv_run(&loop, UV_RUN_ONCE);
	snprintf(p, sizeof(p), "%s/b", root);
	assert_int_equal(count_new(p), 1);

	deliver_stack_close(&st, stack_closed, &closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 1);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(cfg);
	tu_rmtree(root);
	free(root);
}

static void
test_dsn_fields(void **state)
{
	(void)state;
	struct deliver_outcome o = { 0 };
	char b[200];

	o.code = 550;
	snprintf(o.status, sizeof(o.status), "5.1.1");
	snprintf(o.text, sizeof(o.text), "no such user");
	snprintf(o.remote_mta, sizeof(o.remote_mta), "mx.y.test [10.0.0.1]:25");
	deliver_outcome_remote_mta(&o, b, sizeof(b));
	assert_string_equal(b, "dns; mx.y.test");
	deliver_outcome_diag(&o, b, sizeof(b));
	assert_string_equal(b, "smtp; 550 5.1.1 no such user");
	snprintf(o.remote_mta, sizeof(o.remote_mta), "127.0.0.1:2525");
	deliver_outcome_remote_mta(&o, b, sizeof(b));
	assert_string_equal(b, "dns; 127.0.0.1");
	deliver_outcome_set(&o, DELIVER_FAILED, "5.4.6", "mail loop");
	deliver_outcome_remote_mta(&o, b, sizeof(b));
	assert_string_equal(b, "");
	deliver_outcome_diag(&o, b, sizeof(b));
	assert_string_equal(b, "x-skywave; mail loop");
}

int
main(void)
{
	gw_log_set_level(GW_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixed_recipients),
		cmocka_unit_test(test_loop_by_received_count),
		cmocka_unit_test(test_delivered_to_loop_and_subset),
		cmocka_unit_test(test_rcpt_route_override),
		cmocka_unit_test(test_cfg_table),
		cmocka_unit_test(test_dsn_fields),
		cmocka_unit_test(test_stack_from_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
