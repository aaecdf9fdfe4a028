/*
 * clock.h - the injectable clock.
 *
 * Decisions use monotonic milliseconds (clk_mono_ms); storage and logs use
 * wall-clock Unix seconds (clk_wall_s). Everything that decides on time takes
 * a const struct gw_clock * so the simulator's virtual clock can stand in for
 * the real one: hours of HF traffic run in seconds, reproducibly.
 *
 * Thread: the system clock may be read from any thread; a virtual clock
 * belongs to the thread that advances it.
 */
#ifndef GW_COMMON_CLOCK_H
#define GW_COMMON_CLOCK_H

#include <stdint.h>

struct gw_clock {
	int64_t (*mono_ms)(const struct gw_clock *c);
	int64_t (*wall_s)(const struct gw_clock *c);
};

static inline int64_t
clk_mono_ms(const struct gw_clock *c)
{
	return c->mono_ms(c);
}

static inline int64_t
clk_wall_s(const struct gw_clock *c)
{
	return c->wall_s(c);
}

/* The real clock (CLOCK_MONOTONIC, CLOCK_REALTIME). */
const struct gw_clock *clk_system(void);

/* A virtual clock: time moves only when the owner advances it. Wall time is
 * wall_base_s plus the elapsed virtual seconds. */
struct clk_virtual {
	struct gw_clock base; /* first: a struct clk_virtual * is a clock */
	int64_t now_ms;
	int64_t wall_base_s;
};

void clk_virtual_init(struct clk_virtual *v, int64_t start_ms,
    int64_t wall_base_s);
/* Advance by delta_ms (>= 0). */
void clk_virtual_advance(struct clk_virtual *v, int64_t delta_ms);
/* Jump to t_ms if it is later than now (never goes back). */
void clk_virtual_set(struct clk_virtual *v, int64_t t_ms);

#endif
