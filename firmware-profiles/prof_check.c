/*
 * prof_check.c - `skywave profile check FILE...` (see prof_check.h).
 *
 * Resolves each argument with prof_find(), reports every error of every
 * file (not only the first), and prints a one-line summary of each good
 * profile so an operator sees what the gateway will believe about the
 * modem. Runs in the caller's thread; writes to stdout/stderr only.
 */
#include "firmware-profiles/prof_check.h"

#include "firmware-profiles/profile.h"
#include "common/xmalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65

static void
print_error(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "%s\n", msg);
}

static void
print_summary(const struct prof *p)
{
	printf("OK %s: name=%s rate=%" PRId64 " rates=", p->path, p->name,
	    p->air.rate_bps);
	for (int i = 0; i < p->air.n_rates; i++)
		printf("%s%" PRId64, i ? "," : "", p->air.rates_bps[i]);
	printf(" duplex=%s turnaround_ms=%" PRId64 " latency_ms=%" PRId64
	    " max_tx_ms=%" PRId64 " mtu=%" PRId64 " framing=%s keying=%s"
	    " carrier=%s buffer=%" PRId64 " serial=%" PRId64 "/%" PRId64
	    "%c%" PRId64 " flow=%s dialogue=%d/%d/%d\n",
	    prof_duplex_name(p->air.duplex), p->air.turnaround_ms,
	    p->air.latency_ms, p->air.max_tx_ms, p->air.mtu_bytes,
	    prof_framing_name(p->modem.framing),
	    prof_keying_name(p->modem.keying),
	    prof_carrier_name(p->modem.carrier), p->modem.buffer_bytes,
	    p->serial.baud, p->serial.data_bits,
	    "NEO"[p->serial.parity % 3], p->serial.stop_bits,
	    prof_flow_name(p->serial.flow), p->init.n_steps, p->dial.n_steps,
	    p->hangup.n_steps);
}

int
prof_check_main(int argc, char **argv)
{
	int status = EX_OK_;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: %s FILE|NAME...\n"
		    "  checks firmware profiles; prints OK and a summary or "
		    "file:line errors\n", argc > 0 ? argv[0] : "check");
		return argc < 2 ? EX_USAGE_ : EX_OK_;
	}
	for (int i = 1; i < argc; i++) {
		char path[512], err[700];
		struct prof *p;

		if (prof_find(argv[i], NULL, path, sizeof(path), err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			status = EX_DATAERR_;
			continue;
		}
		if (prof_check_file(path, print_error, NULL) > 0) {
			status = EX_DATAERR_;
			continue;
		}
		p = xcalloc(1, sizeof(*p));
		if (prof_load_file(path, p, err, sizeof(err)) == 0) {
			print_summary(p);
			prof_free(p);
		} else {
			fprintf(stderr, "%s\n", err);
			status = EX_DATAERR_;
		}
		free(p);
	}
	fflush(stdout);
	return status;
}
