/* Error codes: every GW_E* has a distinct name and message; -errno maps. */
#include "tests/lib/testutil.h"

#include "common/err.h"

#include <errno.h>
#include <string.h>

static void
test_names_and_messages(void **state)
{
	(void)state;
	int count = 0;
	for (int e = GW__EFIRST + 1; e < GW__ELAST; e++) {
		const char *name = gw_errname(e);
		assert_true(strncmp(name, "GW_E", 4) == 0);
		assert_string_not_equal(gw_strerror(e), "unknown error");
		for (int f = e + 1; f < GW__ELAST; f++)
			assert_string_not_equal(name, gw_errname(f));
		count++;
	}
	assert_true(count >= 20);
	assert_string_equal(gw_errname(GW_ENOSPC), "GW_ENOSPC");
	assert_string_equal(gw_strerror(GW_ENOSPC), "no space left on storage");
	assert_true(GW_EINTERNAL < 0);
	assert_true(GW__ELAST <= 0);
}

static void
test_errno_passthrough(void **state)
{
	(void)state;
	assert_string_equal(gw_errname(0), "OK");
	assert_string_equal(gw_errname(-ENOENT), "ENOENT");
	assert_string_equal(gw_strerror(-ENOENT), strerror(ENOENT));
	assert_int_equal(gw_err_from_errno(-ENOSPC), GW_ENOSPC);
	assert_int_equal(gw_err_from_errno(-EDQUOT), GW_ENOSPC);
	assert_int_equal(gw_err_from_errno(-EIO), GW_EIO);
	assert_int_equal(gw_err_from_errno(-EPERM), -EPERM);
	assert_string_equal(gw_strerror(-999999), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_messages),
		cmocka_unit_test(test_errno_passthrough),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
