/*
 * sim_rng.c - splitmix64 and xoshiro256** from their published
 * definitions (see sim_rng.h). Pure; no globals.
 */
#include "hw-sim/sim_rng.h"

#include <math.h>

uint64_t
sim_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t st = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = sim_splitmix64(&st);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
sim_rng_uniform(struct sim_rng *r)
{
	/* the top 53 bits as a fraction of 2^53 */
	return (double)(sim_rng_next(r) >> 11) * 0x1.0p-53;
}

int64_t
sim_rng_exp_ms(struct sim_rng *r, int64_t mean_ms)
{
	if (mean_ms <= 0)
		return 0;
	double v = -(double)mean_ms * log(1.0 - sim_rng_uniform(r));
	if (v > 1e15)
		v = 1e15;
	int64_t ms = (int64_t)(v + 0.5);
	return ms < 1 ? 1 : ms;
}

int
sim_rng_chance(struct sim_rng *r, double p)
{
	if (p <= 0.0)
		return 0;
	return sim_rng_uniform(r) < p;
}
