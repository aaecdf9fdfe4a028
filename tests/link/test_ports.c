/* `skywave ports`: usage handling, the listing's two shapes (no ports /
 * a table of existing devices), and the JSON form. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "link-drivers/ports.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static char *
capture(int json)
{
	FILE *f = tmpfile();
	struct buf b = BUF_INIT;
	char tmp[1024];
	size_t n;

	assert_non_null(f);
	assert_int_equal(ports_list(f, json), 0);
	rewind(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	buf_append(&b, "", 0);
	return (char *)buf_detach(&b, &n);
}

static void
test_usage(void **state)
{
	(void)state;
	char a0[] = "ports", bad[] = "--bogus", help[] = "--help";
	char *argv_bad[] = { a0, bad, NULL };
	char *argv_help[] = { a0, help, NULL };

	assert_int_equal(ports_main(2, argv_bad), 2);
	assert_int_equal(ports_main(2, argv_help), 0);
}

static void
test_listing(void **state)
{
	(void)state;
	char *text = capture(0);
	char *save = NULL, *line;
	int rows = 0;

	if (strcmp(text, "no serial ports found\n") == 0) {
		free(text);
		char *j = capture(1);
		assert_string_equal(j, "[]\n");
		free(j);
		return;
	}
	line = strtok_r(text, "\n", &save);
	assert_non_null(line);
	assert_int_equal(strncmp(line, "PORT", 4), 0);
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char dev[256];
		struct stat st;
		assert_int_equal(sscanf(line, "%255s", dev), 1);
		/* Every listed port is a device node that exists. */
		assert_int_equal(stat(dev, &st), 0);
		rows++;
	}
	assert_true(rows > 0);
	free(text);
	char *j = capture(1);
	assert_int_equal(j[0], '[');
	assert_non_null(strstr(j, "\"port\": \"/dev/"));
	assert_string_equal(j + strlen(j) - 2, "]\n");
	free(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_listing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
