/* Firmware profiles: every field, every error kind with file:line, the
 * shipped profiles, lookup, dialogue encoding and the check command. */
#include "tests/lib/testutil.h"

#include "firmware-profiles/prof_check.h"
#include "firmware-profiles/profile.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A minimal valid profile; cases append or replace sections. */
static const char *const base =
	"[air]\n"
	"rate = 2400\n";

static struct prof *
load_ok(const char *text)
{
	struct prof *p = xcalloc(1, sizeof(*p));
	char err[700] = "";
	int rc = prof_load_string(text, "t.profile", p, err, sizeof(err));
	if (rc != 0)
		fail_msg("unexpected error %d: %s\n--\n%s", rc, err, text);
	return p;
}

/* Load text that must fail with code at line, the message containing
 * want (and "t.profile:LINE: "). */
static void
load_bad(const char *text, int code, int line, const char *want)
{
	struct prof p;
	char err[700] = "", prefix[64];
	int rc = prof_load_string(text, "t.profile", &p, err, sizeof(err));

	if (rc != code || strstr(err, want) == NULL)
		fail_msg("want %d \"%s\", got %d \"%s\"\n--\n%s", code,
		    want, rc, err, text);
	if (line > 0) {
		snprintf(prefix, sizeof(prefix), "t.profile:%d: ", line);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("want prefix \"%s\", got \"%s\"", prefix, err);
	}
	/* a failed load leaves the struct zeroed */
	assert_int_equal(p.air.rate_bps, 0);
	assert_int_equal(p.name[0], '\0');
}

static void
test_defaults(void **state)
{
	(void)state;
	struct prof *p = load_ok(base);
	assert_string_equal(p->name, "t");
	assert_int_equal(p->serial.baud, 9600);
	assert_int_equal(p->serial.data_bits, 8);
	assert_int_equal(p->serial.parity, PROF_PARITY_NONE);
	assert_int_equal(p->serial.stop_bits, 1);
	assert_int_equal(p->serial.flow, PROF_FLOW_NONE);
	assert_int_equal(p->air.rate_bps, 2400);
	assert_int_equal(p->air.n_rates, 1);
	assert_int_equal(p->air.rates_bps[0], 2400);
	assert_int_equal(p->air.duplex, PROF_DUPLEX_HALF);
	assert_int_equal(p->air.turnaround_ms, 0);
	assert_int_equal(p->air.max_tx_ms, 120000);
	assert_int_equal(p->air.mtu_bytes, 256);
	assert_int_equal(p->modem.framing, PROF_FRAMING_RAW);
	assert_int_equal(p->modem.keying, PROF_KEYING_NONE);
	assert_int_equal(p->modem.carrier, PROF_CARRIER_NONE);
	assert_int_equal(p->modem.buffer_bytes, 4096);
	assert_int_equal(p->kiss.txdelay_ms, 500);
	assert_int_equal(p->kiss.persist, 63);
	assert_int_equal(p->init.n_steps, 0);
	assert_false(p->quirks.echo);
	assert_true(p->sim.ber == 0.0);
	assert_int_equal(p->sim.holdover_ms, 20);
	assert_string_equal(p->path, "t.profile");
	prof_free(p);
	free(p);
}

static void
test_every_field(void **state)
{
	(void)state;
	const char *text =
	    "[profile]\n"
	    "name = every-field_1.0\n"
	    "description = all of them\n"
	    "[serial]\n"
	    "baud = 19200\n"
	    "data_bits = 7\n"
	    "parity = EVEN\n"
	    "stop_bits = 2\n"
	    "flow = xonxoff\n"
	    "[air]\n"
	    "rate = 1200\n"
	    "rates = 300,600, 1200 ,2400\n"
	    "duplex = half\n"
	    "turnaround = 1.5s\n";
	/* durations are integers with a unit: 1.5s is a bad value */
	load_bad(text, GW_EINVAL, 14, "air.turnaround: bad value \"1.5s\"");

	text =
	    "[profile]\n"
	    "name = every-field_1.0\n"
	    "description = all of them\n"
	    "[serial]\n"
	    "baud = 19200\n"
	    "data_bits = 7\n"
	    "parity = EVEN\n"
	    "stop_bits = 2\n"
	    "flow = xonxoff\n"
	    "[air]\n"
	    "rate = 1200\n"
	    "rates = 300,600, 1200 ,2400\n"
	    "duplex = half\n"
	    "turnaround = 1500ms\n"
	    "latency = 2s\n"
	    "max_tx = 2m\n"
	    "mtu = 1k\n"
	    "[modem]\n"
	    "framing = kiss\n"
	    "keying = inband\n"
	    "carrier = dcd\n"
	    "buffer = 8k\n"
	    "[kiss]\n"
	    "port = 3\n"
	    "txdelay = 250ms\n"
	    "persist = 127\n"
	    "slottime = 50ms\n"
	    "txtail = 20ms\n"
	    "[quirks]\n"
	    "echo = yes\n"
	    "seven_bit = on\n"
	    "flush_on_carrier_loss = true\n"
	    "hangup_by_dtr = 1\n"
	    "kiss_exit_on_close = yes\n"
	    "busy_means_channel = yes\n"
	    "[sim]\n"
	    "ber = 1e-5\n"
	    "burst_ber = 0.02\n"
	    "burst_interval = 1m\n"
	    "burst_length = 3s\n"
	    "fade_interval = 10m\n"
	    "fade_length = 20s\n"
	    "holdover = 50ms\n";
	struct prof *p = load_ok(text);
	assert_string_equal(p->name, "every-field_1.0");
	assert_string_equal(p->description, "all of them");
	assert_int_equal(p->serial.baud, 19200);
	assert_int_equal(p->serial.data_bits, 7);
	assert_int_equal(p->serial.parity, PROF_PARITY_EVEN);
	assert_int_equal(p->serial.stop_bits, 2);
	assert_int_equal(p->serial.flow, PROF_FLOW_XONXOFF);
	assert_int_equal(p->air.rate_bps, 1200);
	assert_int_equal(p->air.n_rates, 4);
	assert_int_equal(p->air.rates_bps[0], 300);
	assert_int_equal(p->air.rates_bps[3], 2400);
	assert_int_equal(p->air.turnaround_ms, 1500);
	assert_int_equal(p->air.latency_ms, 2000);
	assert_int_equal(p->air.max_tx_ms, 120000);
	assert_int_equal(p->air.mtu_bytes, 1024);
	assert_int_equal(p->modem.framing, PROF_FRAMING_KISS);
	assert_int_equal(p->modem.keying, PROF_KEYING_INBAND);
	assert_int_equal(p->modem.carrier, PROF_CARRIER_DCD);
	assert_int_equal(p->modem.buffer_bytes, 8192);
	assert_int_equal(p->kiss.port, 3);
	assert_int_equal(p->kiss.txdelay_ms, 250);
	assert_int_equal(p->kiss.persist, 127);
	assert_int_equal(p->kiss.slottime_ms, 50);
	assert_int_equal(p->kiss.txtail_ms, 20);
	assert_true(p->quirks.echo);
	assert_true(p->quirks.seven_bit);
	assert_true(p->quirks.flush_on_carrier_loss);
	assert_true(p->quirks.hangup_by_dtr);
	assert_true(p->quirks.kiss_exit_on_close);
	assert_true(p->quirks.busy_means_channel);
	assert_true(p->sim.ber > 0.99e-5 && p->sim.ber < 1.01e-5);
	assert_true(p->sim.burst_ber > 0.0199 && p->sim.burst_ber < 0.0201);
	assert_int_equal(p->sim.burst_interval_ms, 60000);
	assert_int_equal(p->sim.burst_length_ms, 3000);
	assert_int_equal(p->sim.fade_interval_ms, 600000);
	assert_int_equal(p->sim.fade_length_ms, 20000);
	assert_int_equal(p->sim.holdover_ms, 50);
	assert_true(prof_rate_allowed(p, 600));
	assert_false(prof_rate_allowed(p, 4800));
	assert_string_equal(prof_parity_name(p->serial.parity), "even");
	assert_string_equal(prof_flow_name(p->serial.flow), "xonxoff");
	assert_string_equal(prof_framing_name(p->modem.framing), "kiss");
	assert_string_equal(prof_duplex_name(PROF_DUPLEX_FULL), "full");
	assert_string_equal(prof_keying_name(p->modem.keying), "inband");
	assert_string_equal(prof_carrier_name(p->modem.carrier), "dcd");
	assert_string_equal(prof_carrier_name(99), "?");
	prof_free(p);
	free(p);
}

/* One bad value per field: the error names the key, the value and the
 * allowed range, at the right line. */
struct bad_case {
	const char *section, *line;
	int code;
	const char *want;
};

static const struct bad_case bad_values[] = {
	{ "profile", "name = has space", GW_EINVAL, "profile.name: bad name" },
	{ "serial", "baud = 9601", GW_EINVAL, "not a standard rate" },
	{ "serial", "baud = 10", GW_ERANGE, "(allowed: 50..4000000)" },
	{ "serial", "baud = fast", GW_EINVAL, "bad value \"fast\"" },
	{ "serial", "data_bits = 9", GW_ERANGE, "(allowed: 5..8)" },
	{ "serial", "parity = mark", GW_EINVAL, "(allowed: none|even|odd)" },
	{ "serial", "stop_bits = 3", GW_ERANGE, "(allowed: 1..2)" },
	{ "serial", "flow = dsrdtr", GW_EINVAL,
	  "(allowed: none|rtscts|xonxoff)" },
	{ "air", "rates = 300,,x", GW_EINVAL, "air.rates: bad rate \"x\"" },
	{ "air", "rates = 20", GW_ERANGE, "air.rates: rate 20 out of range" },
	{ "air", "rates = 2400,1200", GW_EINVAL, "ascending" },
	{ "air", "rates = 1200,1200", GW_EINVAL, "without repeats" },
	{ "air", "rates = ,", GW_EINVAL, "air.rates: empty list" },
	{ "air", "rates = 100,200,300,400,500,600,700,800,900,1000,1100,1200,"
	  "1300,1400,1500,1600,2400", GW_ERANGE, "more than 16 rates" },
	{ "air", "duplex = simplex", GW_EINVAL, "(allowed: half|full)" },
	{ "air", "turnaround = 61s", GW_ERANGE, "(allowed: 0s..1m)" },
	{ "air", "latency = 31s", GW_ERANGE, "(allowed: 0s..30s)" },
	{ "air", "max_tx = 50ms", GW_ERANGE, "(allowed: 100ms..1d)" },
	{ "air", "mtu = 8", GW_ERANGE, "(allowed: 16..64k)" },
	{ "air", "mtu = 1x", GW_EINVAL, "air.mtu: bad value" },
	{ "modem", "framing = hdlc", GW_EINVAL, "(allowed: raw|kiss)" },
	{ "modem", "keying = vox", GW_EINVAL,
	  "(allowed: none|rts|dtr|inband)" },
	{ "modem", "carrier = cts", GW_EINVAL, "(allowed: none|dcd|inband)" },
	{ "modem", "buffer = 32", GW_ERANGE, "(allowed: 64..16M)" },
	{ "kiss", "port = 16", GW_ERANGE, "(allowed: 0..15)" },
	{ "kiss", "txdelay = 3s", GW_ERANGE, "(allowed: 0s..2550ms)" },
	{ "kiss", "txdelay = 15ms", GW_EINVAL, "not a multiple of 10 ms" },
	{ "kiss", "persist = 256", GW_ERANGE, "(allowed: 0..255)" },
	{ "kiss", "slottime = 5ms", GW_EINVAL,
	  "kiss.slottime: 5 ms is not a multiple" },
	{ "kiss", "txtail = 2551ms", GW_ERANGE, "kiss.txtail: out of range" },
	{ "quirks", "echo = maybe", GW_EINVAL, "(allowed: yes|no)" },
	{ "quirks", "seven_bit = 2", GW_EINVAL, "quirks.seven_bit" },
	{ "quirks", "flush_on_carrier_loss = x", GW_EINVAL, "yes|no" },
	{ "quirks", "hangup_by_dtr = x", GW_EINVAL, "quirks.hangup_by_dtr" },
	{ "quirks", "kiss_exit_on_close = x", GW_EINVAL, "kiss_exit" },
	{ "quirks", "busy_means_channel = x", GW_EINVAL, "busy_means" },
	{ "sim", "ber = 0.6", GW_ERANGE, "sim.ber: out of range \"0.6\"" },
	{ "sim", "ber = -1e-3", GW_ERANGE, "(allowed: 0..0.5" },
	{ "sim", "ber = lots", GW_EINVAL, "sim.ber: bad value" },
	{ "sim", "ber = nan", GW_EINVAL, "sim.ber: bad value" },
	{ "sim", "burst_ber = 1", GW_ERANGE, "sim.burst_ber" },
	{ "sim", "burst_interval = 2d", GW_ERANGE, "(allowed: 0s..1d)" },
	{ "sim", "burst_length = 2h", GW_ERANGE, "(allowed: 0s..1h)" },
	{ "sim", "fade_interval = -1", GW_EINVAL, "sim.fade_interval" },
	{ "sim", "fade_length = 1y", GW_EINVAL, "sim.fade_length" },
	{ "sim", "holdover = 2s", GW_ERANGE, "(allowed: 0s..1s)" },
	{ "serial", "nonsense = 1", GW_EINVAL,
	  "unknown key \"nonsense\" in [serial]" },
	{ "radio", "rate = 1", GW_EINVAL, "unknown section [radio]" },
	{ "init", "wait = 1s", GW_EINVAL, "unknown key \"wait\" in [init]" },
	{ "init", "send = \"AT", GW_ESYNTAX, "unbalanced quote" },
	{ "init", "send = AT\\", GW_ESYNTAX, "trailing backslash" },
	{ "init", "send = AT\\q", GW_ESYNTAX, "unknown escape \\q" },
	{ "init", "send = AT\\x4", GW_ESYNTAX, "two hex digits" },
	{ "init", "send = \"\"", GW_EINVAL, "empty text" },
	{ "init", "expect = "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  GW_ERANGE, "text longer than 95 bytes" },
	{ "init", "send = ATDT%N", GW_EINVAL, "bad placeholder \"%N\"" },
	{ "dial", "send = ATDT%X", GW_EINVAL, "bad placeholder \"%X\"" },
	{ "dial", "timeout = 50ms", GW_ERANGE, "(allowed: 100ms..10m)" },
	{ "dial", "timeout = soon", GW_EINVAL, "dial.timeout: bad value" },
	{ "hangup", "pause = 2m", GW_ERANGE, "(allowed: 10ms..1m)" },
	{ "hangup", "abort = \\x00", GW_EINVAL, "NUL bytes not allowed" },
};

static void
test_bad_values(void **state)
{
	(void)state;
	char text[1024];

	for (size_t i = 0; i < GW_ARRAY_LEN(bad_values); i++) {
		const struct bad_case *c = &bad_values[i];
		/* base is 2 lines; the section header is line 3 */
		snprintf(text, sizeof(text), "%s[%s]\n%s\n", base, c->section,
		    c->line);
		load_bad(text, c->code, 4, c->want);
	}
}

static void
test_structure_errors(void **state)
{
	(void)state;
	load_bad("rate = 1\n[air]\nrate = 2400\n", GW_EINVAL, 1,
	    "key \"rate\" outside any section");
	load_bad("[air]\nrate = 2400\nrate = 1200\n", GW_EINVAL, 3,
	    "duplicate key \"rate\" in [air] (first set on line 2)");
	load_bad("[air]\nrate = 2400\n[AIR]\nRATE = 1200\n", GW_EINVAL, 4,
	    "duplicate key");
	load_bad("[air]\nrate = 2400\nthis is not ini\n", GW_ESYNTAX, 3,
	    "malformed line");
	load_bad("[air\nrate = 2400\n", GW_ESYNTAX, 1, "malformed line");
	char longline[400];
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "description = ", 14);
	longline[sizeof(longline) - 1] = '\0';
	char text[600];
	snprintf(text, sizeof(text), "[profile]\n%s\n", longline);
	load_bad(text, GW_ESYNTAX, 2, "line too long");
	/* an unknown section is reported once, at its first key */
	struct prof p;
	char err[700];
	assert_int_equal(prof_load_string("[x]\na = 1\nb = 2\n", "t.profile",
	    &p, err, sizeof(err)), GW_EINVAL);
	assert_string_equal(err, "t.profile:2: unknown section [x] (allowed: "
	    "profile, serial, air, modem, kiss, quirks, sim, init, dial, "
	    "hangup)");
	/* a file that is not there */
	assert_int_equal(prof_load_file("/nonexistent/x.profile", &p, err,
	    sizeof(err)), GW_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/x.profile: cannot open"));
}

static void
test_cross_field(void **state)
{
	(void)state;
	load_bad("[air]\nrate = 2400\nrates = 300, 1200\n", GW_EINVAL, 3,
	    "air.rate: 2400 is not in air.rates");
	load_bad("[air]\nduplex = full\nturnaround = 1s\n", GW_EINVAL, 3,
	    "air.turnaround: must be 0 with air.duplex = full");
	load_bad("[air]\nmtu = 8k\n[modem]\nbuffer = 4k\n", GW_EINVAL, 4,
	    "air.mtu: 8192 bytes exceeds modem.buffer (4096 bytes)");
	load_bad("[air]\nrate = 300\nmtu = 4k\nmax_tx = 100ms\n[modem]\n"
	    "buffer = 4k\n", GW_EINVAL, 4,
	    "air.max_tx: 100 ms is shorter than one air.mtu frame at "
	    "air.rate (109227 ms)");
	load_bad("[modem]\nframing = kiss\nkeying = rts\n", GW_EINVAL, 3,
	    "a KISS TNC keys itself");
	load_bad("[sim]\nburst_interval = 10s\nburst_ber = 0.1\n", GW_EINVAL,
	    2, "sim.burst_length: must be > 0");
	load_bad("[sim]\nburst_interval = 10s\nburst_length = 20s\n"
	    "burst_ber = 0.1\n", GW_EINVAL, 3,
	    "shorter than sim.burst_interval");
	load_bad("[sim]\nburst_interval = 10s\nburst_length = 1s\n", GW_EINVAL,
	    2, "sim.burst_ber: must be > 0 when bursts are enabled");
	load_bad("[sim]\nfade_interval = 10s\n", GW_EINVAL, 2,
	    "sim.fade_length: must be > 0");
	load_bad("[dial]\nexpect = CONNECT\n", GW_EINVAL, 2,
	    "[dial]: has no send step");
	load_bad("[modem]\ncarrier = inband\n", GW_EINVAL, 2,
	    "modem.carrier: inband needs a [dial] dialogue");
}

struct collected {
	int n;
	char msgs[16][200];
};

static void
collect(const char *msg, void *arg)
{
	struct collected *c = arg;
	if (c->n < 16)
		snprintf(c->msgs[c->n], sizeof(c->msgs[0]), "%s", msg);
	c->n++;
}

static void
test_check_reports_every_error(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("prof");
	char path[600];
	snprintf(path, sizeof(path), "%s/many.profile", dir);
	assert_int_equal(tu_write_file(path,
	    "[serial]\n"
	    "baud = 9601\n"       /* 2: not standard (validation) */
	    "data_bits = 12\n"    /* 3: range */
	    "[air]\n"
	    "bogus = 1\n"         /* 5: unknown key */
	    "mtu = 2\n"           /* 6: range */
	    "[kiss]\n"
	    "txdelay = 15ms\n"),  /* 8: 10 ms units (validation) */
	    0);
	struct collected c = { 0 };
	assert_int_equal(prof_check_file(path, collect, &c), 5);
	const int lines[] = { 3, 5, 6, 2, 8 };
	for (int i = 0; i < 5; i++) {
		char want[700];
		snprintf(want, sizeof(want), "%s:%d: ", path, lines[i]);
		if (strncmp(c.msgs[i], want, strlen(want)) != 0)
			fail_msg("error %d: want %s..., got %s", i, want,
			    c.msgs[i]);
	}
	/* the good ones report nothing */
	char *good = tu_src_path("firmware-profiles/hf-2400-hd.profile");
	c.n = 0;
	assert_int_equal(prof_check_file(good, collect, &c), 0);
	assert_int_equal(c.n, 0);
	free(good);
	tu_rmtree(dir);
	free(dir);
}

static void
test_dialogues(void **state)
{
	(void)state;
	const char *text =
	    "[profile]\nname = d\n"
	    "[modem]\ncarrier = inband\n"
	    "[init]\n"
	    "abort = ERROR\n"
	    "send = ATZ\\r\n"            /* 7 */
	    "expect = OK\n"              /* 8: default timeout 5 s */
	    "timeout = 2s\n"
	    "send = \"AT E0 \\x3b\\s\"\n" /* 10: quotes keep blanks */
	    "expect = OK\n"              /* 11: 2 s */
	    "[dial]\n"
	    "abort = NO CARRIER\n"
	    "abort = BUSY\n"
	    "timeout = 60s\n"
	    "send = ATDT%N\\r\n"
	    "expect = CONNECT\n"
	    "[hangup]\n"
	    "pause = 1s\n"
	    "send = +++\n"
	    "pause = 1s\n"
	    "send = ATH0\\r\\n\\t\\\\\\\"\n"
	    "expect = OK\n";
	struct prof *p = load_ok(text);
	assert_int_equal(p->init.n_steps, 4);
	assert_int_equal(p->init.n_aborts, 1);
	assert_string_equal(p->init.aborts[0], "ERROR");
	assert_int_equal(p->init.steps[0].kind, PROF_STEP_SEND);
	assert_int_equal(p->init.steps[0].len, 4);
	assert_memory_equal(p->init.steps[0].text, "ATZ\r", 4);
	assert_int_equal(p->init.steps[0].line, 7);
	assert_int_equal(p->init.steps[1].kind, PROF_STEP_EXPECT);
	assert_string_equal(p->init.steps[1].text, "OK");
	assert_int_equal(p->init.steps[1].timeout_ms, 5000);
	assert_int_equal(p->init.steps[1].line, 8);
	assert_string_equal(p->init.steps[2].text, "AT E0 ; ");
	assert_int_equal(p->init.steps[3].timeout_ms, 2000);
	assert_int_equal(p->dial.n_steps, 2);
	assert_int_equal(p->dial.n_aborts, 2);
	assert_string_equal(p->dial.aborts[1], "BUSY");
	assert_int_equal(p->dial.steps[1].timeout_ms, 60000);
	assert_int_equal(p->hangup.n_steps, 5);
	assert_int_equal(p->hangup.steps[0].kind, PROF_STEP_PAUSE);
	assert_int_equal(p->hangup.steps[0].timeout_ms, 1000);
	assert_string_equal(p->hangup.steps[3].text, "ATH0\r\n\t\\\"");

	char out[64];
	assert_int_equal(prof_expand(&p->dial.steps[0], "5551234", out,
	    sizeof(out)), 12);
	assert_string_equal(out, "ATDT5551234\r");
	assert_int_equal(prof_expand(&p->dial.steps[0], NULL, out, sizeof(out)),
	    5);
	assert_string_equal(out, "ATDT\r");
	assert_int_equal(prof_expand(&p->dial.steps[0], "5551234", out, 8),
	    GW_ETOOBIG);
	struct prof_step pct = { .kind = PROF_STEP_SEND, .text = "a%%b",
		.len = 4 };
	assert_int_equal(prof_expand(&pct, "x", out, sizeof(out)), 3);
	assert_string_equal(out, "a%b");

	/* escape round trip */
	char esc[128];
	prof_escape(p->hangup.steps[3].text, p->hangup.steps[3].len, esc,
	    sizeof(esc));
	assert_string_equal(esc, "ATH0\\r\\n\\t\\\\\\\"");
	prof_escape("\x01;\xff", 3, esc, sizeof(esc));
	assert_string_equal(esc, "\\x01\\x3b\\xff");
	prof_escape("abcdef", 6, esc, 4);
	assert_string_equal(esc, "abc");
	prof_free(p);
	free(p);

	/* step and abort limits */
	char big[8192];
	size_t o = (size_t)snprintf(big, sizeof(big), "[init]\n");
	for (int i = 0; i < PROF_STEPS_MAX + 1; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "send = AT\n");
	load_bad(big, GW_ERANGE, 2 + PROF_STEPS_MAX, "more than 24 steps");
	o = (size_t)snprintf(big, sizeof(big), "[dial]\nsend = x\n");
	for (int i = 0; i < PROF_ABORTS_MAX + 1; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "abort = E\n");
	load_bad(big, GW_ERANGE, 3 + PROF_ABORTS_MAX, "more than 8 abort");
}

static void
test_capabilities(void **state)
{
	(void)state;
	struct prof *p = load_ok(base);
	assert_int_equal(prof_airtime_ms(p, 300), 1000);
	assert_int_equal(prof_airtime_ms(p, 1), 4); /* 3.33 rounded up */
	assert_int_equal(prof_airtime_ms(p, 0), 0);
	assert_int_equal(prof_bytes_in_ms(p, 1000), 300);
	assert_int_equal(prof_bytes_in_ms(p, 3), 0);
	assert_int_equal(prof_bytes_in_ms(p, -5), 0);
	prof_free(p);
	free(p);
}

static void
test_name_from_file(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("prof");
	char path[600];
	struct prof p;
	char err[700];
	snprintf(path, sizeof(path), "%s/my-modem.profile", dir);
	assert_int_equal(tu_write_file(path, "[air]\nrate = 1200\n"), 0);
	assert_int_equal(prof_load_file(path, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "my-modem");
	assert_string_equal(p.path, path);
	prof_free(&p);
	tu_rmtree(dir);
	free(dir);
}

static void
test_find(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("prof");
	char path[600], out[600], err[700];
	struct prof p;

	snprintf(path, sizeof(path), "%s/local.profile", dir);
	assert_int_equal(tu_write_file(path, "[air]\nrate = 300\n"), 0);
	/* bare name in the given directory */
	assert_int_equal(prof_find("local", dir, out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, path);
	/* a path is used as is */
	assert_int_equal(prof_find(path, NULL, out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, path);
	assert_int_equal(prof_find("./nope.profile", NULL, out, sizeof(out),
	    err, sizeof(err)), GW_ENOENT);
	/* NAME.profile that is not in the current directory: by NAME */
	assert_int_equal(prof_find("local.profile", dir, out, sizeof(out),
	    err, sizeof(err)), 0);
	assert_string_equal(out, path);
	assert_int_equal(prof_find("nope.profile", dir, out, sizeof(out),
	    err, sizeof(err)), GW_ENOENT);
	/* the environment directory */
	setenv("SKYWAVE_PROFILE_DIR", dir, 1);
	assert_int_equal(prof_find("local", NULL, out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, path);
	unsetenv("SKYWAVE_PROFILE_DIR");
	/* shipped profiles by name (source tree at build time) */
	assert_int_equal(prof_load_named("hf-2400-hd", NULL, &p, err,
	    sizeof(err)), 0);
	assert_string_equal(p.name, "hf-2400-hd");
	prof_free(&p);
	assert_int_equal(prof_find("no-such-modem", dir, out, sizeof(out), err,
	    sizeof(err)), GW_ENOENT);
	assert_non_null(strstr(err, "not found (looked in: "));
	assert_non_null(strstr(err, dir));
	assert_int_equal(prof_load_named("no-such-modem", dir, &p, err,
	    sizeof(err)), GW_ENOENT);
	assert_int_equal(prof_find("bad name", dir, out, sizeof(out), err,
	    sizeof(err)), GW_EINVAL);
	assert_int_equal(prof_find("..", dir, out, sizeof(out), err,
	    sizeof(err)), GW_EINVAL);
	assert_int_equal(prof_find("", dir, out, sizeof(out), err,
	    sizeof(err)), GW_EINVAL);
	tu_rmtree(dir);
	free(dir);
}

/* Every shipped profile loads, and those BENCHMARKS.md names carry its
 * values. */
static void
test_shipped_profiles(void **state)
{
	(void)state;
	char *dir = tu_src_path("firmware-profiles");
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 9 || strcmp(e->d_name + l - 8, ".profile") != 0)
			continue;
		char path[1024], err[700];
		struct prof p;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (prof_load_file(path, &p, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		/* the name matches the file name */
		assert_int_equal(strncmp(p.name, e->d_name, l - 8), 0);
		assert_int_equal(strlen(p.name), l - 8);
		assert_true(p.description[0] != '\0');
		prof_free(&p);
		n++;
	}
	closedir(d);
	assert_true(n >= 6);

	static const struct {
		const char *name;
		int64_t rate, turn;
		int duplex, framing;
	} want[] = {
#define H PROF_DUPLEX_HALF
#define RAW PROF_FRAMING_RAW
		{ "hf-2400-hd", 2400, 2000, H, RAW },
		{ "hf-1200-hd", 1200, 2000, H, RAW },
		{ "hf-300-hd-noisy", 300, 4000, H, RAW },
		{ "kiss-tnc-1200", 1200, 300, H, PROF_FRAMING_KISS },
		{ "hayes-at-9600", 9600, 0, PROF_DUPLEX_FULL, RAW },
		{ "los-19200", 19200, 20, H, RAW },
#undef H
#undef RAW
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(want); i++) {
		struct prof p;
		char err[700];
		assert_int_equal(prof_load_named(want[i].name, NULL, &p, err,
		    sizeof(err)), 0);
		assert_int_equal(p.air.rate_bps, want[i].rate);
		assert_int_equal(p.air.turnaround_ms, want[i].turn);
		assert_int_equal(p.air.duplex, want[i].duplex);
		assert_int_equal(p.modem.framing, want[i].framing);
		if (strncmp(want[i].name, "hf-", 3) == 0)
			assert_int_equal(p.air.max_tx_ms, 120000);
		prof_free(&p);
	}
	/* the noisy profile's long-run BER is about 1e-4 */
	struct prof p;
	char err[700];
	assert_int_equal(prof_load_named("hf-300-hd-noisy", NULL, &p, err,
	    sizeof(err)), 0);
	double avg = p.sim.ber + p.sim.burst_ber *
	    (double)p.sim.burst_length_ms / (double)p.sim.burst_interval_ms;
	assert_true(avg > 0.9e-4 && avg < 1.1e-4);
	/* the AT modem has the dialogues the driver runs */
	assert_int_equal(prof_load_named("hayes-at-9600", NULL, &p, err,
	    sizeof(err)), 0);
	assert_true(p.init.n_steps > 0 && p.dial.n_steps > 0 &&
	    p.hangup.n_steps > 0);
	assert_int_equal(p.modem.carrier, PROF_CARRIER_INBAND);
	assert_true(p.air.n_rates > 1);
	free(dir);
}

static void
test_check_main(void **state)
{
	(void)state;
	char *dir = tu_mkdtemp("prof");
	char bad[600];
	snprintf(bad, sizeof(bad), "%s/bad.profile", dir);
	assert_int_equal(tu_write_file(bad, "[air]\nrate = 0\n"), 0);
	char *good = tu_src_path("firmware-profiles/kiss-tnc-1200.profile");

	/* keep the test output readable: silence the command's output */
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	FILE *null = fopen("/dev/null", "w");
	assert_non_null(null);
	dup2(fileno(null), 1);
	dup2(fileno(null), 2);
	char *a1[] = { "check", good, NULL };
	char *a2[] = { "check", good, bad, NULL };
	char *a3[] = { "check", NULL };
	char *a4[] = { "check", "no-such-modem", NULL };
	char *a5[] = { "check", "hf-1200-hd", NULL };
	int r1 = prof_check_main(2, a1);
	int r2 = prof_check_main(3, a2);
	int r3 = prof_check_main(1, a3);
	int r4 = prof_check_main(2, a4);
	int r5 = prof_check_main(2, a5);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	fclose(null);
	assert_int_equal(r1, 0);
	assert_int_equal(r2, 65);
	assert_int_equal(r3, 64);
	assert_int_equal(r4, 65);
	assert_int_equal(r5, 0);
	free(good);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_cross_field),
		cmocka_unit_test(test_check_reports_every_error),
		cmocka_unit_test(test_dialogues),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_name_from_file),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_check_main),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
