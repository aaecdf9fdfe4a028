/* route: the matching table (exact > longest *.suffix > *; case; trailing
 * dot; file order irrelevant), target parsing, loop counting. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/mail/route.h"

static struct route_table *
table(const struct route_line *r, size_t n)
{
	struct route_table *t = NULL;
	char err[500] = "";
	int rc = route_table_new(r, n, &t, err, sizeof(err));
	if (rc != 0)
		fail_msg("route_table_new: %s", err);
	return t;
}

static void
test_match_table(void **state)
{
	(void)state;
	/* Deliberately in an order where first-match would be wrong. */
	static const struct route_line r[] = {
		{ "*", "smtp:default.test:25", 1 },
		{ "*.org", "link:hf1", 2 },
		{ "*.example.org", "lmtp:127.0.0.1:24", 3 },
		{ "Example.ORG", "maildir:/var/mail/%u", 4 },
		{ "*.deep.example.org", "smtp:deep.test", 5 },
	};
	static const struct { const char *addr, *pattern; } cases[] = {
		{ "a@example.org", "Example.ORG" },
		{ "a@EXAMPLE.org", "Example.ORG" },
		{ "a@example.org.", "Example.ORG" },
		{ "a@x.example.org", "*.example.org" },
		{ "a@x.Deep.example.org", "*.deep.example.org" },
		{ "a@deep.example.org", "*.example.org" },
		{ "a@other.org", "*.org" },
		{ "a@org", "*" },
		{ "a@example.com", "*" },
		{ "postmaster", "*" },
		{ "\"a@b\"@example.org", "Example.ORG" },
		{ "x.example.org", "*.example.org" }, /* a bare domain */
		{ "a@badexample.org", "*.org" },      /* not *.example.org */
	};
	struct route_table *t = table(r, GW_ARRAY_LEN(r));
	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		const char *p = route_lookup_pattern(t, cases[i].addr);
		if (p == NULL || strcmp(p, cases[i].pattern) != 0)
			fail_msg("%s: got %s, want %s", cases[i].addr,
			    p ? p : "(none)", cases[i].pattern);
	}
	const struct route_target *x = route_lookup(t, "u@example.org");
	assert_int_equal(x->kind, ROUTE_MAILDIR);
	assert_string_equal(x->arg, "/var/mail/%u");
	assert_int_equal(x->line, 4);
	x = route_lookup(t, "u@a.example.org");
	assert_int_equal(x->kind, ROUTE_LMTP);
	assert_int_equal(x->hops[0].port, 24);
	x = route_lookup(t, "u@other.org");
	assert_int_equal(x->kind, ROUTE_LINK);
	assert_string_equal(x->arg, "hf1");
	route_table_free(t);
}

static void
test_no_default(void **state)
{
	(void)state;
	static const struct route_line r[] = {
		{ "example.org", "link:a", 1 },
	};
	struct route_table *t = table(r, 1);
	assert_null(route_lookup(t, "a@example.com"));
	assert_null(route_lookup(t, "a@sub.example.org"));
	assert_null(route_lookup(t, "postmaster"));
	assert_non_null(route_lookup(t, "a@example.org"));
	route_table_free(t);
	t = table(NULL, 0);
	assert_null(route_lookup(t, "a@example.org"));
	route_table_free(t);
}

static void
test_targets(void **state)
{
	(void)state;
	struct route_target t;
	char err[400];

	assert_int_equal(route_target_parse("smtp:a.test:2525,127.0.0.1,"
	    "[::1]:26", &t, err, sizeof(err)), 0);
	assert_int_equal(t.kind, ROUTE_SMTP);
	assert_int_equal(t.nhops, 3);
	assert_string_equal(t.hops[0].host, "a.test");
	assert_int_equal(t.hops[0].port, 2525);
	assert_string_equal(t.hops[1].host, "127.0.0.1");
	assert_int_equal(t.hops[1].port, 25);
	assert_string_equal(t.hops[2].host, "::1");
	assert_int_equal(t.hops[2].port, 26);
	assert_int_equal(route_target_parse("lmtp:h", &t, err, sizeof(err)),
	    0);
	assert_int_equal(t.hops[0].port, 24);
	/* Winlink stations: waiting for the call, or at its listener */
	assert_int_equal(route_target_parse("b2f:n1pat", &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t.kind, ROUTE_B2F);
	assert_string_equal(t.arg, "N1PAT");
	assert_int_equal(t.nhops, 0);
	assert_int_equal(route_target_parse("b2f:N2PAT@127.0.0.1:8775", &t,
	    err, sizeof(err)), 0);
	assert_string_equal(t.arg, "N2PAT");
	assert_int_equal(t.nhops, 1);
	assert_string_equal(t.hops[0].host, "127.0.0.1");
	assert_int_equal(t.hops[0].port, 8775);
	assert_int_equal(route_target_parse("b2f:N2PAT@pat.test", &t, err,
	    sizeof(err)), 0);
	assert_int_equal(t.hops[0].port, 8774);

	static const char *const bad[] = {
		"b2f:", "b2f:@h:1", "b2f:N1/X", "b2f:TOOLONGCALLSIGN",
		"b2f:N1@h:0",
		"smtp:", "smtp:a:0", "smtp:a:65536", "smtp:a:x", "smtp:a b:25",
		"smtp:a,,b", "lmtp:a:24,b:24", "link:a/b", "maildir:/x/%q",
		"ftp:x", "smtp:[::1", "smtp:a:25,b:25,c:25,d:25,e:25,f:25,"
		"g:25,h:25,i:25",
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		if (route_target_parse(bad[i], &t, err, sizeof(err)) !=
		    GW_EINVAL)
			fail_msg("accepted bad target %s", bad[i]);
		assert_non_null(strstr(err, "allowed"));
	}
}

static void
test_table_errors(void **state)
{
	(void)state;
	struct route_table *t = NULL;
	char err[400] = "";
	static const struct route_line dup[] = {
		{ "*.a.test", "link:x", 3 },
		{ "*.A.TEST", "link:y", 7 },
	};
	assert_int_equal(route_table_new(dup, 2, &t, err, sizeof(err)),
	    GW_EINVAL);
	assert_null(t);
	assert_non_null(strstr(err, "line 7"));
	static const struct route_line badt[] = {
		{ "a.test", "smtp:a:99999", 9 },
	};
	assert_int_equal(route_table_new(badt, 1, &t, err, sizeof(err)),
	    GW_EINVAL);
	assert_non_null(strstr(err, "line 9"));
}

static void
test_loop_count(void **state)
{
	(void)state;
	const char *m = "Received: from a by b; x\r\n"
	    "received : not counted (space before colon is obsolete)\r\n"
	    "RECEIVED: from c by d;\r\n y\r\n"
	    "Subject: Received: no\r\n"
	    "\r\n"
	    "Received: in the body, not counted\r\n";
	size_t n = strlen(m);
	assert_int_equal(route_count_received((const uint8_t *)m, n), 2);
	assert_false(route_is_loop((const uint8_t *)m, n, 3));
	assert_true(route_is_loop((const uint8_t *)m, n, 2));

	/* 100 hops at the default threshold: a loop; 99: not. */
	struct buf b = BUF_INIT;
	for (int i = 0; i < 99; i++)
		buf_appendf(&b, "Received: from h%d by h%d; now\r\n", i, i + 1);
	buf_append_str(&b, "\r\nbody\r\n");
	assert_false(route_is_loop(b.data, b.len, 100));
	buf_reset(&b);
	for (int i = 0; i < 100; i++)
		buf_appendf(&b, "Received: from h%d by h%d; now\r\n", i, i + 1);
	assert_true(route_is_loop(b.data, b.len, 100));
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_no_default),
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_table_errors),
		cmocka_unit_test(test_loop_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
