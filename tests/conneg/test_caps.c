/*
 * test_caps.c - RFC 2533 filter parser/evaluator table and the capability
 * table behind RCPT ... CONNEG.
 */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conneg.h"

#include <stdbool.h>

struct ev_case {
	const char *filter;
	const char *type, *charset;
	int64_t size, width, height; /* -1 = absent */
	bool want;
};

static const struct ev_case ev_cases[] = {
	{ "(type=text/plain)", "text/plain", NULL, -1, -1, -1, true },
	{ "(type=TEXT/Plain)", "text/plain", NULL, -1, -1, -1, true },
	{ "(type=text/plain)", "text/html", NULL, -1, -1, -1, false },
	{ "(type=\"text/plain\")", "text/plain", NULL, -1, -1, -1, true },
	{ "(type=image/*)", "image/png", NULL, -1, -1, -1, true },
	{ "(type=image/*)", "text/plain", NULL, -1, -1, -1, false },
	{ "(type=[text/plain,image/jpeg])", "image/jpeg", NULL, -1, -1, -1,
	    true },
	{ "(type=[text/plain,image/jpeg])", "image/png", NULL, -1, -1, -1,
	    false },
	{ "(size<=1000)", "text/plain", NULL, 1000, -1, -1, true },
	{ "(size<=1000)", "text/plain", NULL, 1001, -1, -1, false },
	{ "(size>=10)", "text/plain", NULL, 9, -1, -1, false },
	{ "(width=[1..640])", "image/png", NULL, -1, 640, 10, true },
	{ "(width=[1..640])", "image/png", NULL, -1, 641, 10, false },
	{ "(width=[1..640])", "text/plain", NULL, 5, -1, -1, true },
	{ "(!(width>=641))", "image/png", NULL, -1, 700, 10, false },
	{ "(!(width>=641))", "text/plain", NULL, -1, -1, -1, true },
	{ "(!(type=text/html))", "text/html", NULL, -1, -1, -1, false },
	{ "(!(type=text/html))", "text/plain", NULL, -1, -1, -1, true },
	/* rationals: 2150/254 is about 8.46 */
	{ "(width<=2150/254)", "image/png", NULL, -1, 8, 1, true },
	{ "(width<=2150/254)", "image/png", NULL, -1, 9, 1, false },
	{ "(width<=8.5)", "image/png", NULL, -1, 9, 1, false },
	{ "(&(type=text/plain)(charset=[us-ascii,utf-8]))", "text/plain",
	    "UTF-8", 3, -1, -1, true },
	{ "(&(type=text/plain)(charset=[us-ascii,utf-8]))", "text/plain",
	    "iso-8859-1", 3, -1, -1, false },
	{ "(|(&(type=image/jpeg)(size<=5000))(type=text/plain))",
	    "image/jpeg", NULL, 6000, 10, 10, false },
	{ "(|(&(type=image/jpeg)(size<=5000))(type=text/plain))",
	    "image/jpeg", NULL, 4000, 10, 10, true },
	{ "(|(&(type=image/jpeg)(size<=5000))(type=text/plain))",
	    "text/plain", NULL, 99999, -1, -1, true },
	{ "(!(|(type=text/html)(type=image/gif)))", "image/gif", NULL, -1, -1,
	    -1, false },
	{ "(!(&(type=text/html)(size>=100)))", "text/html", NULL, 50, -1, -1,
	    true },
	{ "(!(&(type=text/html)(size>=100)))", "text/html", NULL, 150, -1,
	    -1, false },
	{ "(&(image-file-structure=TIFF-minimal)(color=Binary)"
	  "(|(dpi=204)(dpi=200))(paper-size=[letter,A4]))", "image/tiff",
	    NULL, -1, -1, -1, true },
};

static void
test_eval_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ev_cases) / sizeof(ev_cases[0]); i++) {
		const struct ev_case *c = &ev_cases[i];
		struct caps_filter *f = NULL;
		int rc = caps_filter_parse(c->filter, &f, NULL);
		if (rc != 0)
			fail_msg("case %zu: parse %s -> %d", i, c->filter, rc);
		struct caps_fc fc;
		caps_fc_init(&fc);
		caps_fc_set_str(&fc, "type", c->type);
		if (c->charset)
			caps_fc_set_str(&fc, "charset", c->charset);
		if (c->size >= 0)
			caps_fc_set_num(&fc, "size", c->size);
		if (c->width >= 0)
			caps_fc_set_num(&fc, "width", c->width);
		if (c->height >= 0)
			caps_fc_set_num(&fc, "height", c->height);
		if (caps_filter_match(f, &fc) != c->want)
			fail_msg("case %zu: %s on %s: want %d", i, c->filter,
			    c->type, c->want);
		caps_filter_free(f);
	}
}

static void
test_parse_errors(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "type=text/plain", "(type=text/plain", "(type)",
		"(type==x)", "(&)", "(!)", "(type=[a,b)", "(type=[])",
		"(type=\"x)", "(type=x) junk", "((type=x))", "(=x)",
		"(size<1)",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct caps_filter *f = NULL;
		size_t off = 9999;
		int rc = caps_filter_parse(bad[i], &f, &off);
		if (rc >= 0)
			fail_msg("accepted bad filter \"%s\"", bad[i]);
		assert_null(f);
		assert_true(off <= strlen(bad[i]));
	}
	/* "1/0" is no number, so it reads as a token; a string never
	 * compares <= to a number, so the filter does not hold. */
	{
		struct caps_filter *g = NULL;
		struct caps_fc fc;
		assert_int_equal(caps_filter_parse("(w<=1/0)", &g, NULL), 0);
		caps_fc_init(&fc);
		caps_fc_set_num(&fc, "w", 0);
		assert_false(caps_filter_match(g, &fc));
		caps_filter_free(g);
	}
	char deep[400];
	size_t o = 0;
	for (int i = 0; i < 40; i++)
		deep[o++] = '(', deep[o++] = '!';
	memcpy(deep + o, "(a=1)", 5);
	o += 5;
	for (int i = 0; i < 40; i++)
		deep[o++] = ')';
	deep[o] = '\0';
	struct caps_filter *f = NULL;
	assert_int_equal(caps_filter_parse(deep, &f, NULL), GW_ETOOBIG);
}

static void
test_fc_format(void **state)
{
	(void)state;
	struct caps_fc fc;
	char out[128];
	caps_fc_init(&fc);
	caps_fc_set_str(&fc, "type", "image/png");
	caps_fc_set_num(&fc, "width", 320);
	caps_fc_set_num(&fc, "width", 160); /* replaces */
	assert_int_equal(caps_fc_format(&fc, out, sizeof(out)), 0);
	assert_string_equal(out, "(&(type=image/png)(width=160))");
	/* the formatted description is itself a filter that it satisfies */
	struct caps_filter *f = NULL;
	assert_int_equal(caps_filter_parse(out, &f, NULL), 0);
	assert_true(caps_filter_match(f, &fc));
	caps_fc_set_num(&fc, "width", 161);
	assert_false(caps_filter_match(f, &fc));
	caps_filter_free(f);
	assert_int_equal(caps_fc_format(&fc, out, 10), GW_ETOOBIG);
}

static void
test_table(void **state)
{
	(void)state;
	const char *text =
	    "# skywave capability table\n"
	    "alice@ship.example  (&(type=[text/plain,image/jpeg])\n"
	    "                       (size<=20000))\n"
	    "\n"
	    "@ship.example       (type=text/plain)\n"
	    "*                   (type=text/*)\r\n";
	struct conneg_table *t = NULL;
	char err[256] = "";
	assert_int_equal(conneg_table_parse("caps.conf", text, &t, err,
	    sizeof(err)), 0);
	assert_int_equal(conneg_table_count(t), 3);
	assert_string_equal(conneg_lookup(t, "Alice@Ship.Example"),
	    "(&(type=[text/plain,image/jpeg])(size<=20000))");
	assert_string_equal(conneg_lookup(t, "bob@ship.example"),
	    "(type=text/plain)");
	assert_string_equal(conneg_lookup(t, "carol@elsewhere.example"),
	    "(type=text/*)");
	/* publication: format, parse on the other side, same answers */
	struct buf pub = BUF_INIT;
	conneg_table_format(t, &pub);
	struct conneg_table *peer = NULL;
	assert_int_equal(conneg_table_parse("peer", buf_cstr(&pub), &peer,
	    err, sizeof(err)), 0);
	assert_int_equal(conneg_table_count(peer), 3);
	assert_string_equal(conneg_lookup(peer, "bob@ship.example"),
	    "(type=text/plain)");
	assert_true(conneg_table_digest(peer) == conneg_table_digest(t));
	conneg_table_free(peer);
	assert_int_equal(conneg_table_parse("peer", "* (type=text/html)\n",
	    &peer, err, sizeof(err)), 0);
	assert_true(conneg_table_digest(peer) != conneg_table_digest(t));
	conneg_table_free(peer);
	buf_fini(&pub);
	const struct caps_filter *f = conneg_lookup_filter(t,
	    "alice@ship.example");
	assert_non_null(f);
	struct caps_fc fc;
	caps_fc_init(&fc);
	caps_fc_set_str(&fc, "type", "image/jpeg");
	caps_fc_set_num(&fc, "size", 30000);
	assert_false(caps_filter_match(f, &fc));
	conneg_table_free(t);

	/* without "*", unknown recipients get NULL (plain RCPT reply) */
	assert_int_equal(conneg_table_parse("c", "@a.example (type=x)\n", &t,
	    err, sizeof(err)), 0);
	assert_null(conneg_lookup(t, "x@b.example"));
	conneg_table_free(t);

	struct {
		const char *text, *err;
	} bad[] = {
		{ "a@b (type=x\n", "caps.conf:1: bad filter" },
		{ "x\n", "caps.conf:1: expected" },
		{ "  (type=x)\n", "caps.conf:1: continuation" },
		{ "#c\nnoat (type=x)\n", "caps.conf:2: bad key" },
		{ "a@b (type=x)\n\nA@B (type=y)\n", "caps.conf:3: duplicate" },
		{ "a@b (type=x)\n  (junk\n", "caps.conf:1: bad filter" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		t = NULL;
		assert_int_equal(conneg_table_parse("caps.conf", bad[i].text,
		    &t, err, sizeof(err)), GW_ECONFIG);
		assert_null(t);
		if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
			fail_msg("case %zu: got \"%s\"", i, err);
	}
	/* file loading */
	char *dir = tu_mkdtemp("caps");
	char path[512];
	snprintf(path, sizeof(path), "%s/caps.conf", dir);
	assert_int_equal(tu_write_file(path, "* (type=text/plain)\n"), 0);
	assert_int_equal(conneg_table_load(path, &t, err, sizeof(err)), 0);
	assert_string_equal(conneg_lookup(t, "z@z"), "(type=text/plain)");
	conneg_table_free(t);
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	assert_true(conneg_table_load(path, &t, err, sizeof(err)) < 0);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_table),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_fc_format),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
