/* Table-driven fields: every type, defaults, bounds, and INI line numbers. */
#include "tests/lib/testutil.h"

#include "common/cfgtab.h"
#include "common/err.h"

#include <string.h>

struct demo {
	bool flag;
	int64_t count;
	int64_t wait_ms;
	int64_t size;
	char name[16];
	int mode;
};

static const char *const modes[] = { "fast", "slow", NULL };

static const struct cfg_field tab[] = {
	CFG_BOOL_F(struct demo, flag, "flag", "yes", "a flag"),
	CFG_INT_F(struct demo, count, "count", "10", 1, 100, "a count"),
	CFG_DUR_F(struct demo, wait_ms, "wait", "30s", 1000, 3600000, "a wait"),
	CFG_SIZE_F(struct demo, size, "size", "64k", 1024, 1048576, "a size"),
	CFG_STR_F(struct demo, name, "name", "gw", 1, "a name"),
	CFG_ENUM_F(struct demo, mode, "mode", "slow", modes, "a mode"),
	CFG_END,
};

static void
test_defaults(void **state)
{
	(void)state;
	struct demo d;
	char err[256];
	memset(&d, 0xff, sizeof(d));
	assert_int_equal(cfgtab_defaults(tab, &d, err, sizeof(err)), 0);
	assert_true(d.flag);
	assert_int_equal(d.count, 10);
	assert_int_equal(d.wait_ms, 30000);
	assert_int_equal(d.size, 65536);
	assert_string_equal(d.name, "gw");
	assert_int_equal(d.mode, 1);
}

static int
set(struct demo *d, const char *key, const char *value, char *err)
{
	const struct cfg_field *f = cfgtab_find(tab, key);
	if (f == NULL)
		return GW_ENOENT;
	return cfgtab_set(f, d, value, err, 256);
}

static void
test_every_type(void **state)
{
	(void)state;
	struct demo d;
	char err[256];
	cfgtab_defaults(tab, &d, err, sizeof(err));

	assert_int_equal(set(&d, "FLAG", "off", err), 0);
	assert_false(d.flag);
	assert_int_equal(set(&d, "flag", "maybe", err), GW_EINVAL);
	assert_non_null(strstr(err, "yes|no"));

	assert_int_equal(set(&d, "count", "100", err), 0);
	assert_int_equal(d.count, 100);
	assert_int_equal(set(&d, "count", "101", err), GW_ERANGE);
	assert_non_null(strstr(err, "1..100"));
	assert_int_equal(set(&d, "count", "0", err), GW_ERANGE);
	assert_int_equal(set(&d, "count", "12abc", err), GW_EINVAL);
	assert_int_equal(set(&d, "count", "", err), GW_EINVAL);
	assert_int_equal(set(&d, "count", "99999999999999999999", err),
	    GW_ERANGE);
	assert_int_equal(d.count, 100); /* unchanged by failures */

	assert_int_equal(set(&d, "wait", "250ms", err), GW_ERANGE);
	assert_int_equal(set(&d, "wait", "2m", err), 0);
	assert_int_equal(d.wait_ms, 120000);
	assert_int_equal(set(&d, "wait", "5", err), 0);
	assert_int_equal(d.wait_ms, 5000);
	assert_int_equal(set(&d, "wait", "1h", err), 0);
	assert_int_equal(set(&d, "wait", "2h", err), GW_ERANGE);
	assert_non_null(strstr(err, "1s..1h"));
	assert_int_equal(set(&d, "wait", "5x", err), GW_EINVAL);
	assert_int_equal(set(&d, "wait", "-5s", err), GW_EINVAL);

	assert_int_equal(set(&d, "size", "1M", err), 0);
	assert_int_equal(d.size, 1048576);
	assert_int_equal(set(&d, "size", "1025k", err), GW_ERANGE);
	assert_int_equal(set(&d, "size", "1023", err), GW_ERANGE);
	assert_non_null(strstr(err, "1k..1M"));

	assert_int_equal(set(&d, "name", "abcdefghijklmno", err), 0);
	assert_int_equal(set(&d, "name", "abcdefghijklmnop", err), GW_ERANGE);
	assert_int_equal(set(&d, "name", "", err), GW_ERANGE);
	assert_string_equal(d.name, "abcdefghijklmno");

	assert_int_equal(set(&d, "mode", "FAST", err), 0);
	assert_int_equal(d.mode, 0);
	assert_int_equal(set(&d, "mode", "medium", err), GW_EINVAL);
	assert_non_null(strstr(err, "fast|slow"));

	assert_null(cfgtab_find(tab, "nosuch"));

	char out[64];
	cfgtab_format(cfgtab_find(tab, "wait"), &d, out, sizeof(out));
	assert_string_equal(out, "1h");
	cfgtab_format(cfgtab_find(tab, "size"), &d, out, sizeof(out));
	assert_string_equal(out, "1M");
	cfgtab_format(cfgtab_find(tab, "mode"), &d, out, sizeof(out));
	assert_string_equal(out, "fast");
}

struct seen {
	int n;
	char keys[8][64];
	int lines[8];
};

static int
handler(void *user, const char *section, const char *key, const char *value,
    int lineno)
{
	struct seen *s = user;
	if (s->n < 8) {
		snprintf(s->keys[s->n], 64, "%s/%s=%s", section, key, value);
		s->lines[s->n] = lineno;
	}
	s->n++;
	return strcmp(key, "bad") == 0 ? GW_EINVAL : 0;
}

static void
test_ini_lines(void **state)
{
	(void)state;
	struct seen s = { 0 };
	char err[256] = "";
	const char *text = "# comment\n"
			   "[gateway]\n"
			   "a = 1\n"
			   "\n"
			   "   b = two words ; inline comment\n"
			   "[link hf1]\n"
			   "c=3\n";
	assert_int_equal(cfg_ini_parse_string(text, "t.conf", handler, &s, err,
			     sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "gateway/a=1");
	assert_int_equal(s.lines[0], 3);
	assert_string_equal(s.keys[1], "gateway/b=two words");
	assert_int_equal(s.lines[1], 5);
	assert_string_equal(s.keys[2], "link hf1/c=3");
	assert_int_equal(s.lines[2], 7);

	memset(&s, 0, sizeof(s));
	assert_int_equal(cfg_ini_parse_string("[x]\nok=1\nthis is not ini\n",
			     "t.conf", handler, &s, err, sizeof(err)),
	    GW_ESYNTAX);
	assert_non_null(strstr(err, "t.conf:3:"));

	memset(&s, 0, sizeof(s));
	assert_int_equal(cfg_ini_parse_string("[x]\nbad=1\nok=2\n", "t.conf",
			     handler, &s, err, sizeof(err)),
	    GW_EINVAL);
	assert_int_equal(s.n, 2); /* parsing went on after the error */

	char longl[400];
	memset(longl, 'v', sizeof(longl));
	memcpy(longl, "[x]\nk=", 6);
	longl[sizeof(longl) - 2] = '\n';
	longl[sizeof(longl) - 1] = '\0';
	memset(&s, 0, sizeof(s));
	assert_int_equal(cfg_ini_parse_string(longl, "t.conf", handler, &s, err,
			     sizeof(err)),
	    GW_ESYNTAX);
	assert_non_null(strstr(err, "t.conf:2: line too long"));

	assert_int_equal(cfg_ini_parse_file("/nonexistent/x.conf", handler, &s,
			     err, sizeof(err)),
	    GW_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.conf"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_ini_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
