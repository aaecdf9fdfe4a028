/*
 * sim_rng.h - the simulator's seeded pseudo-random generator.
 *
 * xoshiro256** (Blackman and Vigna), its 256-bit state filled from one
 * 64-bit seed by splitmix64, as its authors recommend. Small, fast, and
 * reproducible everywhere: the same seed gives the same channel.
 *
 * Owner: embedded in whatever needs an independent stream (the channel
 * keeps one per random process, so that e.g. the burst schedule does not
 * change when more bytes are sent). Not thread-safe; no globals.
 */
#ifndef GW_HW_SIM_SIM_RNG_H
#define GW_HW_SIM_SIM_RNG_H

#include <stdint.h>

struct sim_rng {
	uint64_t s[4];
};

/* splitmix64 step: advances *state, returns the next output. */
uint64_t sim_splitmix64(uint64_t *state);
/* Seed a generator; stream distinguishes independent streams from one
 * seed (it is mixed into the splitmix64 state). */
void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform double in [0, 1). */
double sim_rng_uniform(struct sim_rng *r);
/* Exponentially distributed with the given mean (>= 0), rounded to ms and
 * at least 1 when mean > 0. */
int64_t sim_rng_exp_ms(struct sim_rng *r, int64_t mean_ms);
/* True with probability p. */
int sim_rng_chance(struct sim_rng *r, double p);

#endif
