/* Modem firmware emulation on a virtual clock: AT dialogue transcripts
 * (OK/ERROR, RING, CONNECT <rate>, BUSY, NO CARRIER on outage and hang-up,
 * "+++" escape), KISS framing and parameters, corrupted frames dropped,
 * buffer full and flow control, profile quirks. */
#include "tests/lib/testutil.h"

#include "hw-sim/sim_link.h"
#include "hw-sim/sim_rng.h"
#include "firmware-profiles/profile.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed;

struct rig {
	struct prof prof;
	struct sim_link *l;
	struct clk_virtual vc;
	struct buf host[2]; /* what each host has read so far */
};

static void
rig_init_params(struct rig *r, const struct sim_channel_params *cp)
{
	clk_virtual_init(&r->vc, 0, 0);
	r->l = sim_link_new(&r->prof, cp, 0);
	buf_init(&r->host[0]);
	buf_init(&r->host[1]);
}

static void
rig_init(struct rig *r, const char *profile, const char *outages)
{
	char err[700];
	struct sim_channel_params cp;

	memset(r, 0, sizeof(*r));
	if (prof_load_named(profile, NULL, &r->prof, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	sim_channel_params_from_prof(&cp, &r->prof, seed);
	if (outages)
		assert_int_equal(sim_channel_parse_outages(&cp, outages), 0);
	rig_init_params(r, &cp);
}

static void
rig_init_text(struct rig *r, const char *text, double ber)
{
	char err[700];
	struct sim_channel_params cp;

	memset(r, 0, sizeof(*r));
	if (prof_load_string(text, "t.profile", &r->prof, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
	sim_channel_params_from_prof(&cp, &r->prof, seed);
	cp.ber = ber;
	rig_init_params(r, &cp);
}

static void
rig_fini(struct rig *r)
{
	sim_link_free(r->l);
	buf_fini(&r->host[0]);
	buf_fini(&r->host[1]);
	prof_free(&r->prof);
}

static int64_t
now(struct rig *r)
{
	return clk_mono_ms(&r->vc.base);
}

static void
drain(struct rig *r)
{
	uint8_t tmp[1024];
	size_t n;

	for (int s = 0; s < 2; s++)
		while ((n = sim_modem_host_read(sim_link_modem(r->l, s), tmp,
		    sizeof(tmp))) > 0)
			buf_append(&r->host[s], tmp, n);
}

/* Run to `until`, event by event. */
static void
run_to(struct rig *r, int64_t until)
{
	for (;;) {
		int64_t next = sim_link_advance(r->l, now(r));
		drain(r);
		if (next > until) {
			clk_virtual_set(&r->vc, until);
			sim_link_advance(r->l, until);
			drain(r);
			return;
		}
		clk_virtual_set(&r->vc, next);
	}
}

static size_t
host_write(struct rig *r, int side, const void *p, size_t n)
{
	size_t acc = sim_modem_host_write(sim_link_modem(r->l, side), now(r),
	    p, n);
	drain(r);
	return acc;
}

static void
host_str(struct rig *r, int side, const char *s)
{
	assert_int_equal(host_write(r, side, s, strlen(s)), strlen(s));
}

/* The host's input since the last call must be exactly want. */
static void
expect_host(struct rig *r, int side, const char *want)
{
	const char *got = buf_cstr(&r->host[side]);
	if (strcmp(got, want) != 0) {
		char a[512], b[512];
		prof_escape(got, r->host[side].len, a, sizeof(a));
		prof_escape(want, strlen(want), b, sizeof(b));
		fail_msg("side %d at %lld ms: got \"%s\", want \"%s\"", side,
		    (long long)now(r), a, b);
	}
	buf_reset(&r->host[side]);
}

static void
test_at_commands(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "hayes-at-9600", NULL);
	struct sim_modem *a = sim_link_modem(r.l, 0);

	assert_int_equal(sim_modem_state(a), SIM_MODEM_CMD);
	host_str(&r, 0, "ATZ\r");
	expect_host(&r, 0, "ATZ\r\r\nOK\r\n");     /* echo is on (E1) */
	host_str(&r, 0, "ATE0\r");
	expect_host(&r, 0, "ATE0\r\r\nOK\r\n");
	host_str(&r, 0, "AT\r");
	expect_host(&r, 0, "\r\nOK\r\n");
	host_str(&r, 0, "ATE0V1Q0X4 &C1 &D2 S0=1\r\n");
	expect_host(&r, 0, "\r\nOK\r\n");
	host_str(&r, 0, "ATS7?\r");
	expect_host(&r, 0, "\r\n000\r\n\r\nOK\r\n");
	host_str(&r, 0, "ATI\r");
	expect_host(&r, 0, "\r\nskywave-sim hayes-at-9600\r\n\r\nOK\r\n");
	host_str(&r, 0, "ATJ\r");
	expect_host(&r, 0, "\r\nERROR\r\n");
	host_str(&r, 0, "HELLO\r");
	expect_host(&r, 0, "\r\nERROR\r\n");
	host_str(&r, 0, "ATO\r");                 /* not connected */
	expect_host(&r, 0, "\r\nERROR\r\n");
	host_str(&r, 0, "AT&Q\r");
	expect_host(&r, 0, "\r\nERROR\r\n");
	/* typed in pieces, with a backspace */
	host_str(&r, 0, "A");
	host_str(&r, 0, "TJ");
	host_str(&r, 0, "\bX1\r");
	expect_host(&r, 0, "\r\nOK\r\n");
	/* numeric result codes */
	host_str(&r, 0, "ATV0\r");
	expect_host(&r, 0, "0\r");
	host_str(&r, 0, "ATJ\r");
	expect_host(&r, 0, "4\r");
	host_str(&r, 0, "ATQ1V1\r");              /* quiet: no result codes */
	expect_host(&r, 0, "");
	host_str(&r, 0, "ATZ\r");                 /* back to E1 V1 Q0 */
	expect_host(&r, 0, "\r\nOK\r\n");
	/* an over-long line is an error */
	char longl[200];
	memset(longl, 'A', sizeof(longl));
	longl[sizeof(longl) - 1] = '\0';
	host_str(&r, 0, "ATE0\r");
	buf_reset(&r.host[0]);
	host_str(&r, 0, longl);
	host_str(&r, 0, "\r");
	expect_host(&r, 0, "\r\nERROR\r\n");
	assert_true(sim_modem_stats(a)->commands >= 14);
	/* the far modem heard nothing */
	expect_host(&r, 1, "");
	rig_fini(&r);
}

static void
echo_off(struct rig *r)
{
	host_str(r, 0, "ATE0\r");
	host_str(r, 1, "ATE0\r");
	expect_host(r, 0, "ATE0\r\r\nOK\r\n");
	expect_host(r, 1, "ATE0\r\r\nOK\r\n");
}

/* Dial from A to B (echo off on both). */
static void
connect_ab(struct rig *r)
{
	int64_t t0 = now(r);
	host_str(r, 0, "ATDT5551234\r");
	expect_host(r, 0, "");
	expect_host(r, 1, "\r\nRING\r\n");
	assert_int_equal(sim_modem_state(sim_link_modem(r->l, 0)),
	    SIM_MODEM_DIALING);
	/* handshake: 1 s plus twice the 50 ms latency */
	run_to(r, t0 + 1099);
	expect_host(r, 0, "");
	run_to(r, t0 + 1100);
	expect_host(r, 0, "\r\nCONNECT 9600\r\n");
	expect_host(r, 1, "\r\nCONNECT 9600\r\n");
	assert_int_equal(sim_modem_state(sim_link_modem(r->l, 0)),
	    SIM_MODEM_ONLINE);
	assert_int_equal(sim_modem_state(sim_link_modem(r->l, 1)),
	    SIM_MODEM_ONLINE);
}

static void
test_at_dial_data_hangup(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "hayes-at-9600", NULL);

	echo_off(&r);
	connect_ab(&r);
	/* data both ways at once (full duplex): 12 bytes = 10 ms + 50 ms */
	int64_t t = now(&r);
	host_str(&r, 0, "hello, world");
	host_str(&r, 1, "HELLO, WORLD");
	/* byte k completes at ceil((k+1) * 5/6) ms: bytes 10 and 11 at 10 */
	run_to(&r, t + 59);
	expect_host(&r, 1, "hello, wor");
	run_to(&r, t + 60);
	expect_host(&r, 1, "ld");
	expect_host(&r, 0, "HELLO, WORLD");
	/* AT commands online are data */
	host_str(&r, 0, "ATH\r");
	run_to(&r, now(&r) + 500);
	expect_host(&r, 1, "ATH\r");
	/* "+++" needs a guard time before and after */
	run_to(&r, now(&r) + 1000);
	host_str(&r, 0, "+++");
	run_to(&r, now(&r) + 999);
	expect_host(&r, 0, "");
	run_to(&r, now(&r) + 1);
	expect_host(&r, 0, "\r\nOK\r\n");
	assert_int_equal(sim_modem_state(sim_link_modem(r.l, 0)),
	    SIM_MODEM_ONLINE_CMD);
	run_to(&r, now(&r) + 100);
	expect_host(&r, 1, "+++");               /* sent as data too */
	/* back online, then escape again and hang up */
	host_str(&r, 0, "ATO\r");
	expect_host(&r, 0, "\r\nCONNECT 9600\r\n");
	run_to(&r, now(&r) + 1000);
	host_str(&r, 0, "+++");
	run_to(&r, now(&r) + 1000);
	expect_host(&r, 0, "\r\nOK\r\n");
	host_str(&r, 0, "ATH0\r");
	expect_host(&r, 0, "\r\nOK\r\n");
	run_to(&r, now(&r) + 100);
	expect_host(&r, 1, "+++\r\nNO CARRIER\r\n");
	assert_int_equal(sim_modem_state(sim_link_modem(r.l, 0)),
	    SIM_MODEM_CMD);
	assert_int_equal(sim_modem_state(sim_link_modem(r.l, 1)),
	    SIM_MODEM_CMD);

	/* "+++" without the guard time is plain data */
	connect_ab(&r);
	host_str(&r, 0, "x+++");
	run_to(&r, now(&r) + 3000);
	expect_host(&r, 0, "");
	expect_host(&r, 1, "x+++");
	/* so is "+++" followed by data within the guard time */
	host_str(&r, 0, "+++");
	run_to(&r, now(&r) + 500);
	host_str(&r, 0, "y");
	run_to(&r, now(&r) + 3000);
	expect_host(&r, 0, "");
	expect_host(&r, 1, "+++y");
	const struct sim_modem_stats *st = sim_modem_stats(
	    sim_link_modem(r.l, 0));
	assert_int_equal(st->connects, 3);
	rig_fini(&r);
}

static void
test_at_busy_and_no_carrier(void **state)
{
	(void)state;
	struct rig r;
	/* an outage from 20 s for 10 s */
	rig_init(&r, "hayes-at-9600", "20s+10s");

	/* the far end is busy */
	echo_off(&r);
	sim_modem_set_busy(sim_link_modem(r.l, 1), true);
	host_str(&r, 0, "ATD1\r");
	expect_host(&r, 0, "\r\nBUSY\r\n");
	expect_host(&r, 1, "");
	sim_modem_set_busy(sim_link_modem(r.l, 1), false);

	/* a key press aborts a dial */
	host_str(&r, 0, "ATD1\r");
	buf_reset(&r.host[1]);
	host_str(&r, 0, " ");
	expect_host(&r, 0, "\r\nNO CARRIER\r\n");

	/* connected, then the outage: NO CARRIER on both ends after 1 s of
	 * lost signal; data queued for the air is lost */
	run_to(&r, 10000);
	buf_reset(&r.host[1]);
	connect_ab(&r);
	run_to(&r, 20000);
	host_str(&r, 0, "lost in the fade");
	run_to(&r, 20999);
	expect_host(&r, 0, "");
	expect_host(&r, 1, "");
	run_to(&r, 21000);
	expect_host(&r, 0, "\r\nNO CARRIER\r\n");
	expect_host(&r, 1, "\r\nNO CARRIER\r\n");
	assert_int_equal(sim_channel_tx_pending(sim_link_channel(r.l), 0), 0);

	/* dialling during the outage: no RING, NO CARRIER after the
	 * handshake time */
	host_str(&r, 0, "ATD1\r");
	expect_host(&r, 1, "");
	run_to(&r, 23000);
	expect_host(&r, 0, "\r\nNO CARRIER\r\n");
	/* after the outage it works again */
	run_to(&r, 31000);
	host_str(&r, 0, "ATD1\r");
	run_to(&r, 33000);
	expect_host(&r, 0, "\r\nCONNECT 9600\r\n");
	expect_host(&r, 1, "\r\nRING\r\n\r\nCONNECT 9600\r\n");
	/* dialling a modem that is already in a call: BUSY */
	host_str(&r, 0, "+");  /* reset the guard bookkeeping: plain data */
	run_to(&r, 35000);
	host_str(&r, 0, "+++");
	run_to(&r, 36000);
	expect_host(&r, 0, "\r\nOK\r\n");
	host_str(&r, 0, "ATD1\r");
	expect_host(&r, 0, "\r\nERROR\r\n"); /* still in a call */
	const struct sim_modem_stats *st = sim_modem_stats(
	    sim_link_modem(r.l, 0));
	assert_int_equal(st->busy, 1);
	assert_int_equal(st->no_carrier, 3);
	rig_fini(&r);
}

/* A KISS frame for port 0 with payload p. */
static void
kiss_frame(struct buf *b, uint8_t cmd, const void *p, size_t n)
{
	const uint8_t *s = p;
	buf_append_byte(b, 0xC0);
	buf_append_byte(b, cmd);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0xC0) {
			buf_append_byte(b, 0xDB);
			buf_append_byte(b, 0xDC);
		} else if (s[i] == 0xDB) {
			buf_append_byte(b, 0xDB);
			buf_append_byte(b, 0xDD);
		} else {
			buf_append_byte(b, s[i]);
		}
	}
	buf_append_byte(b, 0xC0);
}

static void
test_kiss(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "kiss-tnc-1200", NULL);
	struct sim_modem *a = sim_link_modem(r.l, 0);
	struct buf f = BUF_INIT, want = BUF_INIT;

	assert_int_equal(sim_modem_state(a), SIM_MODEM_KISS);
	assert_int_equal(sim_modem_keyup_ms(a), 300);
	/* PERSIST 255: key up at once (no random CSMA wait) */
	uint8_t p255 = 255;
	kiss_frame(&f, 0x02, &p255, 1);
	assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
	buf_reset(&f);
	/* payload with both special bytes: escaped on the serial line and
	 * on the air, delivered intact */
	const uint8_t pay[] = { 'h', 0xC0, 'i', 0xDB, '!' };
	kiss_frame(&f, 0x00, pay, sizeof(pay));
	assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
	/* air: FEND + 7 escaped payload + 2 CRC (maybe escaped) + FEND =
	 * 11..13 bytes at 1200 bit/s after TXDELAY 300 ms */
	run_to(&r, 300 + 73);
	assert_int_equal(r.host[1].len, 0);
	run_to(&r, 300 + 87);
	kiss_frame(&want, 0x00, pay, sizeof(pay));
	assert_int_equal(r.host[1].len, want.len);
	assert_memory_equal(r.host[1].data, want.data, want.len);
	buf_reset(&r.host[1]);

	/* TXDELAY 100 ms by a KISS command; a second frame in one write */
	buf_reset(&f);
	uint8_t td = 10;
	kiss_frame(&f, 0x01, &td, 1);
	kiss_frame(&f, 0x00, "ab", 2);
	kiss_frame(&f, 0x00, "cd", 2);
	int64_t t0 = now(&r) + 1000;
	run_to(&r, t0);
	assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
	assert_int_equal(sim_modem_keyup_ms(a), 100);
	run_to(&r, t0 + 99);
	assert_int_equal(r.host[1].len, 0);
	run_to(&r, t0 + 1000);
	buf_reset(&want);
	kiss_frame(&want, 0x00, "ab", 2);
	kiss_frame(&want, 0x00, "cd", 2);
	assert_int_equal(r.host[1].len, want.len);
	assert_memory_equal(r.host[1].data, want.data, want.len);
	buf_reset(&r.host[1]);
	assert_int_equal(sim_modem_stats(a)->frames_tx, 3);
	assert_int_equal(sim_modem_stats(sim_link_modem(r.l, 1))->frames_rx,
	    3);
	assert_int_equal(sim_modem_stats(a)->kiss_params, 2);

	/* other KISS parameter commands are taken; another port's frames
	 * are not ours; an oversized frame is dropped */
	buf_reset(&f);
	uint8_t v = 200;
	kiss_frame(&f, 0x02, &v, 1);
	kiss_frame(&f, 0x03, &v, 1);
	kiss_frame(&f, 0x04, &v, 1);
	kiss_frame(&f, 0x05, &v, 1);
	kiss_frame(&f, 0x10, "other port", 10);
	uint8_t big[300];
	memset(big, 'x', sizeof(big));
	kiss_frame(&f, 0x00, big, sizeof(big));
	assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
	run_to(&r, now(&r) + 5000);
	assert_int_equal(r.host[1].len, 0);
	assert_int_equal(sim_modem_stats(a)->kiss_params, 6);
	assert_int_equal(sim_modem_stats(a)->frames_too_long, 1);
	assert_int_equal(sim_modem_stats(a)->frames_tx, 3);

	/* garbage before a frame is ignored (no FEND yet) */
	buf_reset(&f);
	buf_append_str(&f, "noise");
	kiss_frame(&f, 0x00, "ok", 2);
	host_write(&r, 0, f.data, f.len);
	/* (PERSIST 200 and SLOTTIME 2 s from above: allow a few slots) */
	run_to(&r, now(&r) + 30000);
	buf_reset(&want);
	kiss_frame(&want, 0x00, "ok", 2);
	assert_int_equal(r.host[1].len, want.len);
	assert_memory_equal(r.host[1].data, want.data, want.len);

	/* leave KISS mode: C0 FF C0 */
	buf_reset(&f);
	kiss_frame(&f, 0xFF, NULL, 0);
	kiss_frame(&f, 0x00, "zz", 2);
	assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
	assert_int_equal(sim_modem_state(a), SIM_MODEM_KISS_OFF);
	assert_int_equal(sim_modem_stats(a)->frames_tx, 4);
	buf_fini(&f);
	buf_fini(&want);
	rig_fini(&r);
}

static void
test_kiss_corrupt_frames_dropped(void **state)
{
	(void)state;
	struct rig r;
	rig_init_text(&r, "[air]\nrate = 9600\nduplex = full\nmtu = 64\n"
	    "[modem]\nframing = kiss\nkeying = inband\n[kiss]\ntxdelay = 0\n",
	    2e-3);
	struct buf f = BUF_INIT, want = BUF_INIT;
	uint8_t pay[40];
	int sent = 200;

	for (int i = 0; i < sent; i++) {
		memset(pay, 'a' + i % 26, sizeof(pay));
		pay[0] = (uint8_t)i;
		buf_reset(&f);
		kiss_frame(&f, 0x00, pay, sizeof(pay));
		assert_int_equal(host_write(&r, 0, f.data, f.len), f.len);
		run_to(&r, now(&r) + 100);
	}
	const struct sim_modem_stats *b = sim_modem_stats(
	    sim_link_modem(r.l, 1));
	printf("kiss: %llu frames good, %llu bad (seed %llu)\n",
	    (unsigned long long)b->frames_rx, (unsigned long long)b->frames_bad,
	    (unsigned long long)seed);
	/* p(frame intact) = (1 - 2e-3)^(~45*8) ~ 0.49 */
	assert_true(b->frames_bad > 40 && b->frames_rx > 40);
	assert_true(b->frames_rx <= (uint64_t)sent);
	/* every frame handed to the host is intact: deframe and check */
	uint64_t seen = 0;
	size_t i = 0, len = r.host[1].len;
	const uint8_t *h = r.host[1].data;
	while (i < len) {
		assert_int_equal(h[i], 0xC0);
		assert_int_equal(h[i + 1], 0x00);
		size_t k = i + 2, o = 0;
		while (h[k] != 0xC0) {
			uint8_t c = h[k++];
			if (c == 0xDB)
				c = h[k++] == 0xDC ? 0xC0 : 0xDB;
			assert_true(o < sizeof(pay));
			pay[o++] = c;
		}
		assert_int_equal(o, sizeof(pay));
		for (size_t j = 1; j < o; j++)
			assert_int_equal(pay[j], 'a' + pay[0] % 26);
		i = k + 1;
		seen++;
	}
	assert_int_equal(seen, b->frames_rx);
	buf_fini(&f);
	buf_fini(&want);
	rig_fini(&r);
}

static void
test_buffer_full_flow_control(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "hf-2400-hd", NULL);
	size_t n = 40000; /* more than one 120 s transmission */
	uint8_t *d = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)i;

	assert_int_equal(sim_modem_state(sim_link_modem(r.l, 0)),
	    SIM_MODEM_DATA);
	/* the 16k modem buffer takes 16384 bytes, then stops accepting */
	assert_int_equal(host_write(&r, 0, d, n), 16384);
	assert_int_equal(host_write(&r, 0, d + 16384, n - 16384), 0);
	/* one second of air at 2400 bit/s makes room for 300 more */
	run_to(&r, 1000);
	assert_int_equal(host_write(&r, 0, d + 16384, n - 16384), 300);
	/* keep the buffer topped up: everything arrives, in order, in
	 * transmissions of at most 120 s */
	size_t off = 16684;
	while (off < n) {
		off += host_write(&r, 0, d + off, n - off);
		run_to(&r, now(&r) + 1000);
	}
	run_to(&r, now(&r) + 120000);
	assert_int_equal(r.host[1].len, n);
	assert_memory_equal(r.host[1].data, d, n);
	/* one transmission per 120 s at most */
	const struct sim_channel_stats *cs = sim_channel_stats(
	    sim_link_channel(r.l));
	assert_true(cs->side[0].max_tx_cutoffs >= 1);
	free(d);
	rig_fini(&r);

	/* KISS: takes bytes only while a whole worst-case frame fits */
	rig_init(&r, "kiss-tnc-1200", NULL);
	struct buf f = BUF_INIT;
	uint8_t pay[200];
	memset(pay, 0x55, sizeof(pay));
	for (int i = 0; i < 20; i++)
		kiss_frame(&f, 0x00, pay, sizeof(pay));
	size_t acc = host_write(&r, 0, f.data, f.len);
	assert_true(acc < f.len);
	assert_true(acc >= 3 * 203); /* 2k buffer: a few frames */
	assert_true(sim_channel_tx_pending(sim_link_channel(r.l), 0) <= 2048);
	/* the rest goes later, nothing is lost */
	size_t off2 = acc;
	while (off2 < f.len) {
		run_to(&r, now(&r) + 500);
		off2 += host_write(&r, 0, f.data + off2, f.len - off2);
	}
	run_to(&r, now(&r) + 60000);
	assert_int_equal(r.host[1].len, f.len);
	assert_int_equal(sim_modem_stats(sim_link_modem(r.l, 1))->frames_rx,
	    20);
	buf_fini(&f);
	rig_fini(&r);
}

static void
test_quirks(void **state)
{
	(void)state;
	struct rig r;
	/* a 7-bit data path */
	rig_init_text(&r, "[air]\nrate = 9600\n[quirks]\nseven_bit = yes\n", 0);
	uint8_t d[4] = { 0x41, 0xC1, 0xFF, 0x80 };
	assert_int_equal(host_write(&r, 0, d, 4), 4);
	run_to(&r, 1000);
	assert_int_equal(r.host[1].len, 4);
	assert_memory_equal(r.host[1].data, "\x41\x41\x7f\x00", 4);
	rig_fini(&r);

	/* flush on carrier loss: a raw modem drops its buffer in a fade */
	char err[700];
	memset(&r, 0, sizeof(r));
	assert_int_equal(prof_load_string("[air]\nrate = 300\n[quirks]\n"
	    "flush_on_carrier_loss = yes\n", "q.profile", &r.prof, err,
	    sizeof(err)), 0);
	struct sim_channel_params cp;
	sim_channel_params_from_prof(&cp, &r.prof, seed);
	assert_int_equal(sim_channel_parse_outages(&cp, "2s+1s"), 0);
	rig_init_params(&r, &cp);
	uint8_t big[3000];
	memset(big, 'q', sizeof(big));
	assert_int_equal(host_write(&r, 0, big, sizeof(big)), sizeof(big));
	run_to(&r, 10000);
	/* bytes ending before 2 s got through (74: the 75th ends at 2000,
	 * inside the outage); the rest was dropped with the buffer */
	assert_int_equal(r.host[1].len, 74);
	assert_int_equal(sim_channel_tx_pending(sim_link_channel(r.l), 0), 0);
	rig_fini(&r);

	/* an echoing modem echoes even after ATE0 */
	rig_init_text(&r, "[air]\nrate = 2400\nduplex = full\n[modem]\n"
	    "carrier = inband\n[dial]\nsend = ATD%N\\r\nexpect = CONNECT\n"
	    "[quirks]\necho = yes\n", 0);
	host_str(&r, 0, "ATE0\r");
	buf_reset(&r.host[0]);
	host_str(&r, 0, "AT\r");
	expect_host(&r, 0, "AT\r\r\nOK\r\n");
	rig_fini(&r);
}

static void
test_stats_line(void **state)
{
	(void)state;
	struct rig r;
	rig_init(&r, "los-19200", NULL);
	host_str(&r, 0, "abc");
	host_str(&r, 1, "de");
	run_to(&r, 5000);
	char line[1024];
	sim_link_format_stats(r.l, line, sizeof(line));
	assert_non_null(strstr(line, "a_tx_bytes=3 b_tx_bytes=2"));
	assert_non_null(strstr(line, "a_rx_bytes=2 b_rx_bytes=3"));
	assert_non_null(strstr(line, "turnarounds=1"));
	assert_non_null(strstr(line, "a_state=data"));
	assert_string_equal(sim_modem_state_name(99), "?");
	rig_fini(&r);
}

/* Random host input (AT text, KISS bytes, noise) into every kind of
 * modem at random times: nothing crashes, states stay valid (the modem
 * checks its invariants at each step), output stays bounded. */
static void
test_random_input(void **state)
{
	(void)state;
	static const char *const profiles[] = { "hayes-at-9600",
		"kiss-tnc-1200", "hf-300-hd-noisy", "los-19200" };
	static const char *const words[] = { "AT", "ATD1\r", "ATH\r", "+++",
		"ATO\r", "ATZ\r", "\r", "ATE1V0\r", "ATS7=9\r", "\xc0",
		"\xdb", "\xc0\x00", "\xc0\x01\x05\xc0", "\xc0\xff\xc0",
		"ATQ1\r", "AT&F\r", "x" };
	struct sim_rng rng;
	sim_rng_seed(&rng, seed, 77);

	for (size_t pi = 0; pi < GW_ARRAY_LEN(profiles); pi++) {
		struct rig r;
		rig_init(&r, profiles[pi], "30s+5s");
		for (int step = 0; step < 3000; step++) {
			int side = (int)(sim_rng_next(&rng) & 1);
			uint8_t tmp[64];
			size_t n;
			if (sim_rng_next(&rng) % 3 == 0) {
				n = 1 + sim_rng_next(&rng) % sizeof(tmp);
				for (size_t i = 0; i < n; i++)
					tmp[i] = (uint8_t)sim_rng_next(&rng);
			} else {
				const char *w = words[sim_rng_next(&rng) %
				    GW_ARRAY_LEN(words)];
				n = strlen(w);
				memcpy(tmp, w, n);
			}
			host_write(&r, side, tmp, n);
			run_to(&r, now(&r) + (int64_t)(sim_rng_next(&rng) %
			    400));
			buf_reset(&r.host[0]);
			buf_reset(&r.host[1]);
			for (int k = 0; k < 2; k++) {
				int st = sim_modem_state(sim_link_modem(r.l,
				    k));
				assert_true(st >= SIM_MODEM_DATA &&
				    st <= SIM_MODEM_KISS_OFF);
			}
		}
		rig_fini(&r);
	}
}

/* ---- golden transcripts: tests/sim/at/NAME.in -> NAME.ref ---------- */

/* Unescape \r \n \t \\ \xHH. */
static size_t
unesc(const char *in, uint8_t *out, size_t cap)
{
	size_t o = 0;

	for (const char *p = in; *p && o < cap; p++) {
		if (*p != '\\' || p[1] == '\0') {
			out[o++] = (uint8_t)*p;
			continue;
		}
		p++;
		switch (*p) {
		case 'r': out[o++] = '\r'; break;
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'x': {
			unsigned v = 0;
			sscanf(p + 1, "%2x", &v);
			out[o++] = (uint8_t)v;
			p += 2;
			break;
		}
		default: out[o++] = (uint8_t)*p; break;
		}
	}
	return o;
}

static void
log_io(struct buf *log, int64_t t, int side, const char *dir,
    const void *p, size_t n)
{
	char esc[2048];

	if (n == 0)
		return;
	prof_escape(p, n, esc, sizeof(esc));
	buf_appendf(log, "[%lld] %c%s %s\n", (long long)t, "ab"[side], dir,
	    esc);
}

/* Read what each host got, logged with the time. */
static void
collect_log(struct rig *r, struct buf *log)
{
	uint8_t tmp[1024];
	size_t n;

	for (int s = 0; s < 2; s++)
		while ((n = sim_modem_host_read(sim_link_modem(r->l, s), tmp,
		    sizeof(tmp))) > 0)
			log_io(log, now(r), s, "<", tmp, n);
}

static void
run_logged(struct rig *r, int64_t until, struct buf *log)
{
	for (;;) {
		int64_t next = sim_link_advance(r->l, now(r));
		collect_log(r, log);
		if (next > until) {
			clk_virtual_set(&r->vc, until);
			sim_link_advance(r->l, until);
			collect_log(r, log);
			return;
		}
		clk_virtual_set(&r->vc, next);
	}
}

static void
run_transcript(const char *in_path, struct buf *log)
{
	FILE *f = fopen(in_path, "r");
	char line[512], profile[64] = "", outage[128] = "";
	struct rig r;
	bool started = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strncmp(line, "profile ", 8) == 0) {
			snprintf(profile, sizeof(profile), "%s", line + 8);
			continue;
		}
		if (strncmp(line, "outage ", 7) == 0) {
			snprintf(outage, sizeof(outage), "%s", line + 7);
			continue;
		}
		if (!started) {
			rig_init(&r, profile, outage[0] ? outage : NULL);
			started = true;
		}
		if (strncmp(line, "busy b ", 7) == 0) {
			sim_modem_set_busy(sim_link_modem(r.l, 1),
			    strcmp(line + 7, "on") == 0);
			buf_appendf(log, "[%lld] %s\n", (long long)now(&r),
			    line);
		} else if ((line[0] == 'a' || line[0] == 'b') &&
		    line[1] == '>' && line[2] == ' ') {
			uint8_t bytes[512];
			int side = line[0] == 'b';
			size_t n = unesc(line + 3, bytes, sizeof(bytes));
			size_t acc = sim_modem_host_write(
			    sim_link_modem(r.l, side), now(&r), bytes, n);
			log_io(log, now(&r), side, ">", bytes, acc);
			collect_log(&r, log);
		} else if (strncmp(line, "wait ", 5) == 0) {
			run_logged(&r, now(&r) + atoll(line + 5), log);
		} else {
			fail_msg("%s: bad line \"%s\"", in_path, line);
		}
	}
	fclose(f);
	assert_true(started);
	rig_fini(&r);
}

static void
test_golden_transcripts(void **state)
{
	(void)state;
	char *dir = tu_src_path("tests/sim/at");
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	bool update = getenv("SKYWAVE_UPDATE_GOLDEN") != NULL;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l < 4 || strcmp(e->d_name + l - 3, ".in") != 0)
			continue;
		char in[1024], ref[1024];
		snprintf(in, sizeof(in), "%s/%s", dir, e->d_name);
		snprintf(ref, sizeof(ref), "%s/%.*s.ref", dir, (int)(l - 3),
		    e->d_name);
		struct buf log = BUF_INIT;
		run_transcript(in, &log);
		if (update) {
			assert_int_equal(tu_write_file(ref, buf_cstr(&log)), 0);
		} else {
			FILE *f = fopen(ref, "r");
			struct buf want = BUF_INIT;
			char tmp[1024];
			size_t k;
			if (f == NULL)
				fail_msg("%s missing (SKYWAVE_UPDATE_GOLDEN=1 "
				    "writes it)", ref);
			while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
				buf_append(&want, tmp, k);
			fclose(f);
			if (strcmp(buf_cstr(&want), buf_cstr(&log)) != 0)
				fail_msg("%s differs; got:\n%s", ref,
				    buf_cstr(&log));
			buf_fini(&want);
		}
		buf_fini(&log);
		n++;
	}
	closedir(d);
	free(dir);
	assert_true(n >= 3);
}

int
main(void)
{
	seed = tu_seed("test_sim_modem");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_at_commands),
		cmocka_unit_test(test_at_dial_data_hangup),
		cmocka_unit_test(test_at_busy_and_no_carrier),
		cmocka_unit_test(test_kiss),
		cmocka_unit_test(test_kiss_corrupt_frames_dropped),
		cmocka_unit_test(test_buffer_full_flow_control),
		cmocka_unit_test(test_quirks),
		cmocka_unit_test(test_stats_line),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_golden_transcripts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
