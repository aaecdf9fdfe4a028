/*
 * clock.c - system and virtual clocks (see clock.h).
 */
#include "common/clock.h"

#include "common/xmalloc.h"

#include <time.h>

static int64_t
sys_mono_ms(const struct gw_clock *c)
{
	struct timespec ts;

	(void)c;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
sys_wall_s(const struct gw_clock *c)
{
	(void)c;
	return (int64_t)time(NULL);
}

static const struct gw_clock system_clock = { sys_mono_ms, sys_wall_s };

const struct gw_clock *
clk_system(void)
{
	return &system_clock;
}

static int64_t
virt_mono_ms(const struct gw_clock *c)
{
	const struct clk_virtual *v = (const struct clk_virtual *)c;
	return v->now_ms;
}

static int64_t
virt_wall_s(const struct gw_clock *c)
{
	const struct clk_virtual *v = (const struct clk_virtual *)c;
	return v->wall_base_s + v->now_ms / 1000;
}

void
clk_virtual_init(struct clk_virtual *v, int64_t start_ms, int64_t wall_base_s)
{
	v->base.mono_ms = virt_mono_ms;
	v->base.wall_s = virt_wall_s;
	v->now_ms = start_ms;
	v->wall_base_s = wall_base_s;
}

void
clk_virtual_advance(struct clk_virtual *v, int64_t delta_ms)
{
	GW_REQUIRE(delta_ms >= 0);
	v->now_ms += delta_ms;
}

void
clk_virtual_set(struct clk_virtual *v, int64_t t_ms)
{
	if (t_ms > v->now_ms)
		v->now_ms = t_ms;
}
