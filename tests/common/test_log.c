/* Logging: levels, per-subsystem debug gating, one line per event. */
#include "tests/lib/testutil.h"

#include "common/log.h"

#include <string.h>

struct cap {
	int n;
	char last[512];
	enum gw_log_level level;
};

static void
sink(enum gw_log_level level, const char *subsys, const char *line, void *arg)
{
	struct cap *c = arg;
	(void)subsys;
	c->n++;
	c->level = level;
	snprintf(c->last, sizeof(c->last), "%s", line);
}

static void
test_levels_and_debug(void **state)
{
	(void)state;
	struct cap c = { 0 };
	gw_log_set_stderr(false);
	gw_log_set_sink(sink, &c);
	gw_log_set_ident("t");
	gw_log_set_level(GW_LOG_WARN);
	GW_LOGI("smtp", "event=x");
	assert_int_equal(c.n, 0);
	GW_LOGW("smtp", "id=%d event=warned", 7);
	assert_int_equal(c.n, 1);
	assert_non_null(strstr(c.last, " warn smtp: id=7 event=warned"));
	assert_null(strchr(c.last, '\n'));
	GW_LOGD("queue", "event=dbg");
	assert_int_equal(c.n, 1);
	gw_log_set_debug("smtp,queue");
	assert_true(gw_log_debug_enabled("queue"));
	assert_false(gw_log_debug_enabled("que"));
	GW_LOGD("queue", "event=dbg");
	assert_int_equal(c.n, 2);
	assert_int_equal(c.level, GW_LOG_DEBUG);
	gw_log_set_debug("all");
	assert_true(gw_log_debug_enabled("anything"));
	gw_log_set_debug("");
	assert_false(gw_log_debug_enabled("smtp"));
	/* an over-long event is truncated to one line, not split */
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	GW_LOGE("smtp", "v=%s", big);
	assert_int_equal(c.n, 3);
	gw_log_set_sink(NULL, NULL);
	gw_log_set_stderr(true);
}

static void
test_level_parse(void **state)
{
	(void)state;
	enum gw_log_level l;
	assert_int_equal(gw_log_level_parse("debug", &l), 0);
	assert_int_equal(l, GW_LOG_DEBUG);
	assert_int_equal(gw_log_level_parse("ERROR", &l), 0);
	assert_int_equal(l, GW_LOG_ERR);
	assert_true(gw_log_level_parse("loud", &l) < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_and_debug),
		cmocka_unit_test(test_level_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
