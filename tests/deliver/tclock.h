/*
 * tclock.h - the SMTP client tests' clock: a fixed wall time and a
 * monotonic time the test sets by hand (the sans-I/O session), or the
 * system's (with real sockets under libuv).
 */
#ifndef GW_TESTS_DELIVER_TCLOCK_H
#define GW_TESTS_DELIVER_TCLOCK_H

#include "common/clock.h"

#include <stdbool.h>
#include <stdint.h>

struct tclock {
	struct gw_clock base;
	bool real_mono;
	int64_t mono;
	int64_t wall;
};

static inline int64_t
tc_mono(const struct gw_clock *c)
{
	const struct tclock *t = (const struct tclock *)c;
	return t->real_mono ? clk_mono_ms(clk_system()) : t->mono;
}

static inline int64_t
tc_wall(const struct gw_clock *c)
{
	return ((const struct tclock *)c)->wall;
}

static inline void
tclock_init(struct tclock *t, bool real_mono)
{
	t->base.mono_ms = tc_mono;
	t->base.wall_s = tc_wall;
	t->real_mono = real_mono;
	t->mono = 1000000;
	t->wall = 1800000000;
}

#endif
