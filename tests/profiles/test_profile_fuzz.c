/* Robustness of the profile parser: random mutations of valid profiles
 * for a bounded time (SKYWAVE_FUZZ_SECONDS, default 3) under the
 * sanitizers. Every input must either load into a struct that satisfies
 * the validator's invariants, or fail with a message naming the file. */
#include "tests/lib/testutil.h"

#include "firmware-profiles/profile.h"
#include "hw-sim/sim_rng.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const dict[] = {
	"[profile]", "[serial]", "[air]", "[modem]", "[kiss]", "[quirks]",
	"[sim]", "[init]", "[dial]", "[hangup]", "rate = ", "rates = ",
	"mtu = ", "buffer = ", "send = ", "expect = ", "abort = ", "timeout = ",
	"pause = ", "\\x", "\\", "\"", "%N", "%%", "=", ";", "#", "\n", "\r",
	"ms", "s", "k", "M", "1e-4", "99999999999999999999", "-1", "0",
	"framing = kiss", "duplex = full", "carrier = inband", "\xff\xfe",
	"\t", " ", "name = ", "[", "]",
};

static int
check_invariants(const struct prof *p)
{
	if (p->air.n_rates < 1 || p->air.n_rates > PROF_RATES_MAX)
		return 0;
	if (!prof_rate_allowed(p, p->air.rate_bps))
		return 0;
	for (int i = 1; i < p->air.n_rates; i++)
		if (p->air.rates_bps[i] <= p->air.rates_bps[i - 1])
			return 0;
	if (p->air.mtu_bytes > p->modem.buffer_bytes)
		return 0;
	if (p->air.duplex == PROF_DUPLEX_FULL && p->air.turnaround_ms != 0)
		return 0;
	if (p->name[0] == '\0' || strlen(p->name) >= sizeof(p->name))
		return 0;
	const struct prof_dialogue *d[3] = { &p->init, &p->dial, &p->hangup };
	for (int i = 0; i < 3; i++) {
		if (d[i]->n_steps < 0 || d[i]->n_steps > PROF_STEPS_MAX)
			return 0;
		for (int k = 0; k < d[i]->n_steps; k++)
			if (d[i]->steps[k].len >= PROF_TEXT_MAX)
				return 0;
	}
	return 1;
}

static void
mutate(struct sim_rng *r, struct buf *b)
{
	int ops = 1 + (int)(sim_rng_next(r) % 6);

	for (int k = 0; k < ops; k++) {
		size_t pos = b->len ? sim_rng_next(r) % (b->len + 1) : 0;
		switch (sim_rng_next(r) % 5) {
		case 0: /* flip a byte */
			if (b->len && pos < b->len)
				b->data[pos] ^=
				    (uint8_t)(1u << (sim_rng_next(r) % 8));
			break;
		case 1: { /* insert a dictionary token */
			const char *t =
			    dict[sim_rng_next(r) % GW_ARRAY_LEN(dict)];
			struct buf nb = BUF_INIT;
			buf_append(&nb, b->data, pos);
			buf_append_str(&nb, t);
			buf_append(&nb, b->data + pos, b->len - pos);
			buf_swap(&nb, b);
			buf_fini(&nb);
			break;
		}
		case 2: { /* delete a range */
			size_t n = sim_rng_next(r) % 16;
			if (pos + n > b->len)
				n = b->len - pos;
			memmove(b->data + pos, b->data + pos + n,
			    b->len - pos - n);
			buf_truncate(b, b->len - n);
			break;
		}
		case 3: { /* duplicate a chunk */
			size_t n = sim_rng_next(r) % 64;
			if (pos + n > b->len)
				n = b->len - pos;
			uint8_t *copy = xmemdup(b->data + pos, n ? n : 1);
			struct buf nb = BUF_INIT;
			buf_append(&nb, b->data, pos + n);
			buf_append(&nb, copy, n);
			buf_append(&nb, b->data + pos + n, b->len - pos - n);
			buf_swap(&nb, b);
			buf_fini(&nb);
			free(copy);
			break;
		}
		default: /* a random byte */
			if (b->len && pos < b->len)
				b->data[pos] = (uint8_t)sim_rng_next(r);
			break;
		}
	}
	if (b->len > 16384)
		buf_truncate(b, 16384);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;

	assert_non_null(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(&b, tmp, n);
	fclose(f);
	size_t len;
	uint8_t *d = buf_detach(&b, &len);
	return (char *)d;
}

static void
test_mutations(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_profile_fuzz");
	const char *env = getenv("SKYWAVE_FUZZ_SECONDS");
	double secs = env ? atof(env) : 3.0;
	struct sim_rng r;
	char *dir = tu_src_path("firmware-profiles");
	char *seeds[32];
	int nseeds = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL && nseeds < 32) {
		size_t l = strlen(e->d_name);
		if (l > 8 && strcmp(e->d_name + l - 8, ".profile") == 0) {
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			seeds[nseeds++] = slurp(path);
		}
	}
	closedir(d);
	assert_true(nseeds > 0);
	sim_rng_seed(&r, seed, 0);

	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long runs = 0, loaded = 0;
	struct prof *p = xcalloc(1, sizeof(*p));
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) +
		    (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > secs)
			break;
		struct buf b = BUF_INIT;
		buf_append_str(&b, seeds[sim_rng_next(&r) % (uint64_t)nseeds]);
		mutate(&r, &b);
		char err[700] = "";
		int rc = prof_load_string(buf_cstr(&b), "fuzz.profile", p, err,
		    sizeof(err));
		if (rc == 0) {
			loaded++;
			if (!check_invariants(p))
				fail_msg("invariant broken (seed %llu run %ld):"
				    "\n%s", (unsigned long long)seed, runs,
				    buf_cstr(&b));
			prof_free(p);
		} else {
			if (rc >= 0 || strncmp(err, "fuzz.profile", 12) != 0)
				fail_msg("bad error (seed %llu run %ld): %d "
				    "\"%s\"", (unsigned long long)seed, runs,
				    rc, err);
		}
		buf_fini(&b);
		runs++;
	}
	printf("fuzz: %ld inputs, %ld loaded, seed %llu\n", runs, loaded,
	    (unsigned long long)seed);
	assert_true(runs > 100);
	assert_true(loaded > 0); /* mutations are not all fatal */
	free(p);
	for (int i = 0; i < nseeds; i++)
		free(seeds[i]);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
