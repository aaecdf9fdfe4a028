/* Growable buffer: growth, NUL invariant, consume, detach, edge cases. */
#include "tests/lib/testutil.h"

#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

static void
test_empty(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	assert_string_equal(buf_cstr(&b), "");
	buf_consume(&b, 10); /* consuming from empty is harmless */
	assert_int_equal(b.len, 0);
	buf_append(&b, "", 0);
	assert_non_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.data[0], '\0');
	buf_fini(&b);
	assert_null(b.data);
	buf_fini(&b); /* twice is fine */
}

static void
test_growth_keeps_nul(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	for (int i = 0; i < 10000; i++) {
		buf_append_byte(&b, (uint8_t)('a' + i % 26));
		assert_true(b.len <= b.cap);
		assert_int_equal(b.data[b.len], '\0');
	}
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[9999], 'a' + 9999 % 26);
	buf_fini(&b);
}

static void
test_binary_and_printf(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const uint8_t bin[4] = { 0, 1, 0, 2 };
	buf_append(&b, bin, 4);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, bin, 4);
	buf_reset(&b);
	buf_appendf(&b, "%s=%d", "x", 42);
	buf_appendf(&b, " %0500d", 7); /* longer than the first allocation */
	assert_int_equal(b.len, 4 + 501);
	assert_true(strncmp(buf_cstr(&b), "x=42 000", 8) == 0);
	buf_fini(&b);
}

static void
test_consume_truncate_detach(void **state)
{
	(void)state;
	struct buf b = BUF_INIT, c = BUF_INIT;
	buf_append_str(&b, "hello world");
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "world");
	buf_consume(&b, 5);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_append_str(&b, "abcdef");
	buf_truncate(&b, 3);
	assert_string_equal(buf_cstr(&b), "abc");
	buf_append_str(&c, "zz");
	buf_swap(&b, &c);
	assert_string_equal(buf_cstr(&b), "zz");
	assert_string_equal(buf_cstr(&c), "abc");
	size_t len;
	uint8_t *p = buf_detach(&c, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(p, "abc", 3);
	assert_null(c.data);
	assert_int_equal(c.len, 0);
	free(p);
	buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_growth_keeps_nul),
		cmocka_unit_test(test_binary_and_printf),
		cmocka_unit_test(test_consume_truncate_detach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
