/*
 * bench_preempt.c - B2: urgent traffic behind bulk (BENCHMARKS.md).
 *
 *   bench_preempt [JSON_OUT] [SEG_BYTES] [FLASH_AT_MS] [SPREAD_S]
 *
 * On hw-sim's channel model for the firmware profile hf-2400-hd (2400 bit/s,
 * half duplex, 2000 ms turnaround, 120 s maximum transmission, MTU 1024),
 * both gateways in one process (xfer_sim): a 1 MB routine message of random
 * bytes is submitted to A at t=0, a 1 KB FLASH text message at t=60 s.
 * Measured in one run of each variant:
 *   skywave     segments chosen just in time (preemption at a round
 *               boundary): FLASH latency from submission at A to commit
 *               at B, and the bulk message's completion;
 *   no-flash    the bulk alone (for the "no more than 2 % later" goal);
 *   whole       whole-message sending: a message once started is sent to
 *               the end before anything else (the scheduler's pick never
 *               switches), the baseline.
 * With SPREAD_S the FLASH message is also submitted at every second from
 * flash_at_ms to flash_at_ms + SPREAD_S in separate runs and the worst and
 * mean latency are printed (the position inside a round and a frame at the
 * moment of arrival varies).
 */
#include "common/buf.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "tests/air/air_hwchan.h"
#include "tests/lib/xfer_sim.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BULK_BYTES (1024 * 1024)
#define FLASH_BYTES 1024

static int64_t flash_at_ms = 60000;

struct run {
	struct xsim *s;
	size_t seg;
	bool whole;
	bool flash_sent;
};

static int
pick_whole(void *arg, const struct xfer_cand *c, size_t n)
{
	(void)arg;
	/* Finish what was started; otherwise priority, then arrival. */
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (c[i].started)
			return (int)i;
		if (best < 0 || c[i].env->priority > c[best].env->priority ||
		    (c[i].env->priority == c[best].env->priority &&
		    c[i].arrival < c[best].arrival))
			best = (int)i;
	}
	return best;
}

static void
submit(struct xsim *s, uint8_t tag, int prio, const uint8_t *p, size_t n)
{
	struct xfer_env e;
	xfer_env_init(&e);
	memset(e.id, tag, sizeof(e.id));
	e.from = xstrdup("ops@field.example");
	e.priority = (int8_t)prio;
	xfer_env_add_rcpt(&e, "hq@base.example", 0, NULL, NULL);
	xsim_submit(s, XSIM_A, &e, p, n);
	xfer_env_fini(&e);
}

static void
flash_cb(struct xsim *s, void *arg)
{
	struct buf b = BUF_INIT;
	(void)arg;
	buf_append_str(&b, "From: ops@field.example\r\nTo: hq@base.example\r\n"
	    "Subject: FLASH contact report\r\nMT-Priority: 4\r\n\r\n");
	while (b.len < FLASH_BYTES)
		buf_appendf(&b, "Grid %zu: contact at %zu, moving north\r\n",
		    b.len * 7 % 1000, b.len % 977);
	buf_truncate(&b, FLASH_BYTES);
	submit(s, 0xF1, 4, b.data, b.len);
	buf_fini(&b);
}

static bool
done(struct xsim *s, void *arg)
{
	struct run *r = arg;
	return xsim_all_done(s, XSIM_A) && (!r->flash_sent ||
	    xsim_sent_count(s, XSIM_A) == 2);
}

struct result {
	double flash_s, bulk_s;
};

static struct result
run(bool flash, bool whole, size_t seg)
{
	uint8_t *bulk = xmalloc(BULK_BYTES);
	uint64_t st = 12345;
	for (size_t i = 0; i < BULK_BYTES; i++) {
		st ^= st << 13;
		st ^= st >> 7;
		st ^= st << 17;
		bulk[i] = (uint8_t)st;
	}
	struct xsim_config c = {
		.seed = 7,
		.dict_id = AIR_DICT_HEADERS,
		.seg_bytes = seg,
		.quiet = true,
		.zstd = true, /* as skywave negotiates with a skywave peer */
	};
	char dir[4096], err[512];
	const char *src = getenv("SKYWAVE_SRC");
	snprintf(dir, sizeof(dir), "%s/firmware-profiles", src ? src : ".");
	if (air_hwchan_from_profile(&c, "hf-2400-hd", dir, c.seed, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "bench_preempt: profile: %s\n", err);
		exit(2);
	}
	struct run r = { .seg = seg, .whole = whole, .flash_sent = flash };
	struct xsim *s = xsim_new(&c);
	r.s = s;
	submit(s, 0xB0, -2, bulk, BULK_BYTES);
	if (whole)
		xsim_set_pick(s, XSIM_A, pick_whole, NULL);
	if (flash)
		xsim_at(s, flash_at_ms, flash_cb, NULL);
	xsim_start(s);
	if (!xsim_run(s, 6LL * 3600 * 1000, done, &r)) {
		fprintf(stderr, "bench_preempt: not done in 6 h\n");
		exit(1);
	}
	char why[200];
	if (xsim_check(s, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_preempt: invariant: %s\n", why);
		exit(1);
	}
	struct result res = { -1, -1 };
	const struct xsim_msg *b = xsim_delivered(s, XSIM_A, 0);
	res.bulk_s = (double)b->commit_ms / 1000.0;
	if (flash) {
		const struct xsim_msg *f = xsim_delivered(s, XSIM_A, 1);
		res.flash_s = (double)(f->commit_ms - flash_at_ms) / 1000.0;
	}
	xsim_free(s);
	free(bulk);
	return res;
}

int
main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	size_t seg = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 0;
	if (argc > 3)
		flash_at_ms = strtoll(argv[3], NULL, 10);
	int spread = argc > 4 ? atoi(argv[4]) : 0;
	double worst = 0, sum = 0;
	int64_t base = flash_at_ms;
	for (int k = 0; k < spread; k++) {
		flash_at_ms = base + (int64_t)k * 1000;
		struct result x = run(true, false, seg);
		sum += x.flash_s;
		if (x.flash_s > worst)
			worst = x.flash_s;
	}
	flash_at_ms = base;
	struct result sw = run(true, false, seg);
	struct result nf = run(false, false, seg);
	struct result wh = run(true, true, seg);

	printf("B2 preempt: 1 MB random routine at t=0, 1 KB FLASH at t=60 s, "
	    "hf-2400-hd\n");
	printf("%-10s %16s %12s\n", "variant", "flash_latency_s", "bulk_done_s");
	printf("%-10s %16.1f %12.1f\n", "skywave", sw.flash_s, sw.bulk_s);
	printf("%-10s %16s %12.1f\n", "no-flash", "-", nf.bulk_s);
	printf("%-10s %16.1f %12.1f\n", "whole", wh.flash_s, wh.bulk_s);
	printf("FLASH latency %.1f s; bulk %.2f %% later than "
	    "without FLASH (goal <= 2 %%); whole-message FLASH latency %.1f s\n",
	    sw.flash_s, (sw.bulk_s / nf.bulk_s - 1.0) * 100.0, wh.flash_s);
	if (spread)
		printf("FLASH submitted at each second of %d from %.0f s: worst "
		    "%.1f s (goal <= 5), mean %.1f s\n", spread, (double)base / 1000.0,
		    worst, sum / spread);
	if (argc > 1) {
		FILE *f = fopen(argv[1], "w");
		if (!f) {
			perror(argv[1]);
			return 2;
		}
		fprintf(f, "{\"flash_latency_s\": %.2f, \"bulk_done_s\": %.1f, "
		    "\"whole_flash_latency_s\": %.1f, "
		    "\"bulk_done_noflash_s\": %.1f, \"whole_bulk_done_s\": "
		    "%.1f", sw.flash_s, sw.bulk_s, wh.flash_s, nf.bulk_s,
		    wh.bulk_s);
		if (spread)
			fprintf(f, ", \"flash_arrivals\": %d, "
			    "\"flash_worst_s\": %.2f, \"flash_mean_s\": %.2f",
			    spread, worst, sum / spread);
		fprintf(f, "}\n");
		fclose(f);
	}
	return 0;
}
