/* Clocks: the system clock moves forward; the virtual clock only on demand. */
#include "tests/lib/testutil.h"

#include "common/clock.h"

static void
test_system(void **state)
{
	(void)state;
	const struct gw_clock *c = clk_system();
	int64_t a = clk_mono_ms(c), b = clk_mono_ms(c);
	assert_true(b >= a);
	assert_true(clk_wall_s(c) > 1700000000);
}

static void
test_virtual(void **state)
{
	(void)state;
	struct clk_virtual v;
	clk_virtual_init(&v, 5000, 1800000000);
	const struct gw_clock *c = &v.base;
	assert_int_equal(clk_mono_ms(c), 5000);
	assert_int_equal(clk_wall_s(c), 1800000005);
	clk_virtual_advance(&v, 3600 * 1000);
	assert_int_equal(clk_mono_ms(c), 5000 + 3600000);
	clk_virtual_set(&v, 10); /* never goes back */
	assert_int_equal(clk_mono_ms(c), 5000 + 3600000);
	clk_virtual_set(&v, 9000000);
	assert_int_equal(clk_mono_ms(c), 9000000);
	assert_int_equal(clk_wall_s(c), 1800009000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system),
		cmocka_unit_test(test_virtual),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
