/*
 * sim_modem.c - modem firmware emulation (see sim_modem.h).
 *
 * State machine (one per modem; the personality fixes the reachable part):
 *
 *   raw:   DATA (only state)
 *
 *   at:    CMD --ATD, peer idle--> DIALING --handshake ok--> ONLINE
 *           ^  <--NO CARRIER/BUSY--'                          |  ^
 *           |                                     "+++" guard |  | ATO
 *           |                                                 v  |
 *           '------ATH / ATZ / signal lost 1 s / far ATH--- ONLINE_CMD
 *          (signal loss and a far hang-up also end ONLINE directly)
 *          The called modem goes CMD -> ONLINE when the caller's
 *          handshake completes (auto-answer; it sees RING first).
 *
 *   kiss:  KISS --C0 FF C0--> KISS_OFF
 *
 * Transitions all go through enter_state(). Invariants (check_state()):
 * ONLINE/ONLINE_CMD imply a peer that is ONLINE/ONLINE_CMD too; DIALING
 * implies a dial deadline; raw modems are always DATA, kiss modems KISS or
 * KISS_OFF; host output never exceeds OUT_MAX bytes.
 *
 * Owner: the creator; one thread; pure (no I/O, no logging, no globals).
 */
#include "hw-sim/sim_modem.h"

#include "hw-sim/sim_channel.h"
#include "firmware-profiles/profile.h"
#include "common/buf.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_MAX (1024 * 1024)   /* host output the host has not read */
#define LINE_MAX_ 128           /* AT command line */
#define GUARD_MS 1000           /* "+++" guard time (S12 = 50) */
#define LOSS_MS 1000            /* signal lost this long drops the call */
#define HANDSHAKE_MS 1000       /* dial to CONNECT, plus 2 x latency */

#define KISS_FEND 0xC0
#define KISS_FESC 0xDB
#define KISS_TFEND 0xDC
#define KISS_TFESC 0xDD

enum personality { P_RAW, P_AT, P_KISS };

struct deframer {
	struct buf frame;
	bool in_frame;
	bool esc;
	bool overflow;
	size_t max;
};

struct sim_modem {
	struct prof prof;
	struct sim_channel *ch;
	int side;
	enum personality pers;
	int state;
	struct sim_modem *peer;
	bool busy;
	struct buf out;         /* for the host */
	struct sim_modem_stats st;
	/* at */
	char line[LINE_MAX_ + 1];
	size_t line_len;
	bool line_overflow;
	bool echo, verbose, quiet;
	int64_t dial_deadline;
	int64_t last_host_at;   /* last data byte from the host (ONLINE) */
	int plus_count;
	int64_t plus_at;
	int64_t loss_since;     /* -1: signal fine */
	int64_t rate_bps;
	/* kiss */
	struct deframer host_df, air_df;
	int64_t keyup_ms, txtail_ms;
	int persist;
	int64_t slot_ms;
	bool full_duplex;
};

static const char *const state_names[] = {
#define SIM__MS(n, t) t,
	SIM_MODEM_STATE_MAP(SIM__MS)
#undef SIM__MS
};

const char *
sim_modem_state_name(int state)
{
	if (state < 0 || (size_t)state >= GW_ARRAY_LEN(state_names))
		return "?";
	return state_names[state];
}

static void
check_state(const struct sim_modem *m)
{
	switch (m->pers) {
	case P_RAW:
		GW_REQUIRE(m->state == SIM_MODEM_DATA);
		break;
	case P_KISS:
		GW_REQUIRE(m->state == SIM_MODEM_KISS ||
		    m->state == SIM_MODEM_KISS_OFF);
		break;
	case P_AT:
		if (m->state == SIM_MODEM_DIALING)
			GW_REQUIRE(m->dial_deadline != SIM_NEVER);
		break;
	}
	GW_REQUIRE(m->out.len <= OUT_MAX);
}

static void
enter_state(struct sim_modem *m, int state)
{
	m->state = state;
	check_state(m);
}

/* ---- host output -------------------------------------------------------- */

static void
out_bytes(struct sim_modem *m, const void *p, size_t n)
{
	size_t room = OUT_MAX - m->out.len;

	if (n > room) {
		m->st.host_out_dropped += n - room;
		n = room;
	}
	buf_append(&m->out, p, n);
}

static void
out_str(struct sim_modem *m, const char *s)
{
	out_bytes(m, s, strlen(s));
}

/* An AT result code, verbose ("\r\nOK\r\n") or numeric ("0\r"). */
static void
result(struct sim_modem *m, int code, const char *text)
{
	char tmp[64];

	if (m->quiet)
		return;
	if (m->verbose)
		snprintf(tmp, sizeof(tmp), "\r\n%s\r\n", text);
	else
		snprintf(tmp, sizeof(tmp), "%d\r", code);
	out_str(m, tmp);
}

static void
result_connect(struct sim_modem *m)
{
	char tmp[48];

	snprintf(tmp, sizeof(tmp), "CONNECT %" PRId64, m->rate_bps);
	result(m, 1, tmp);
	m->st.connects++;
}

/* ---- life cycle --------------------------------------------------------- */

static void
df_init(struct deframer *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	buf_init(&d->frame);
	d->max = max;
}

struct sim_modem *
sim_modem_new(const struct prof *p, struct sim_channel *ch, int side,
    int64_t now_ms)
{
	struct sim_modem *m = xcalloc(1, sizeof(*m));

	m->prof = *p;
	m->ch = ch;
	m->side = side;
	buf_init(&m->out);
	m->echo = true;
	m->verbose = true;
	m->loss_since = -1;
	m->dial_deadline = SIM_NEVER;
	m->last_host_at = now_ms;
	m->rate_bps = p->air.rate_bps;
	if (p->modem.framing == PROF_FRAMING_KISS) {
		m->pers = P_KISS;
		m->state = SIM_MODEM_KISS;
		/* a KISS frame: command byte + payload up to the MTU */
		df_init(&m->host_df, (size_t)p->air.mtu_bytes + 1);
		/* on the air: payload + 2 CRC bytes */
		df_init(&m->air_df, (size_t)p->air.mtu_bytes + 2);
		m->keyup_ms = p->kiss.txdelay_ms;
		m->persist = (int)p->kiss.persist;
		m->slot_ms = p->kiss.slottime_ms;
		m->txtail_ms = p->kiss.txtail_ms;
		m->full_duplex = p->air.duplex == PROF_DUPLEX_FULL;
		sim_channel_set_keyup(ch, side, m->keyup_ms);
		sim_channel_set_csma(ch, side, m->persist, m->slot_ms);
	} else if (p->modem.carrier == PROF_CARRIER_INBAND) {
		m->pers = P_AT;
		m->state = SIM_MODEM_CMD;
	} else {
		m->pers = P_RAW;
		m->state = SIM_MODEM_DATA;
	}
	check_state(m);
	return m;
}

void
sim_modem_free(struct sim_modem *m)
{
	if (m == NULL)
		return;
	buf_fini(&m->out);
	buf_fini(&m->host_df.frame);
	buf_fini(&m->air_df.frame);
	free(m);
}

void
sim_modem_set_peer(struct sim_modem *m, struct sim_modem *peer)
{
	m->peer = peer;
}

void
sim_modem_set_busy(struct sim_modem *m, bool busy)
{
	m->busy = busy;
}

/* ---- AT ----------------------------------------------------------------- */

static bool
connected(const struct sim_modem *m)
{
	return m->state == SIM_MODEM_ONLINE || m->state == SIM_MODEM_ONLINE_CMD;
}

/* End a call on this modem (and its peer when it is the other half). */
static void
drop_call(struct sim_modem *m, bool report)
{
	struct sim_modem *o = m->peer;

	sim_channel_flush_tx(m->ch, m->side);
	enter_state(m, SIM_MODEM_CMD);
	m->loss_since = -1;
	m->plus_count = 0;
	if (report) {
		result(m, 3, "NO CARRIER");
		m->st.no_carrier++;
	}
	if (o && connected(o)) {
		sim_channel_flush_tx(o->ch, o->side);
		enter_state(o, SIM_MODEM_CMD);
		o->loss_since = -1;
		o->plus_count = 0;
		result(o, 3, "NO CARRIER");
		o->st.no_carrier++;
	}
}

static void
at_reset(struct sim_modem *m)
{
	if (connected(m))
		drop_call(m, false);
	m->echo = true;
	m->verbose = true;
	m->quiet = false;
	m->rate_bps = m->prof.air.rate_bps;
}

static void
at_dial(struct sim_modem *m, int64_t now)
{
	struct sim_modem *o = m->peer;
	int64_t lat = sim_channel_params(m->ch)->latency_ms;

	if (o == NULL || o->pers != P_AT) {
		result(m, 3, "NO CARRIER");
		m->st.no_carrier++;
		return;
	}
	if (o->busy || o->state != SIM_MODEM_CMD) {
		result(m, 7, "BUSY");
		m->st.busy++;
		return;
	}
	m->dial_deadline = now + HANDSHAKE_MS + 2 * lat;
	enter_state(m, SIM_MODEM_DIALING);
	if (sim_channel_signal_ok(m->ch, now))
		result(o, 2, "RING");
}

static void
at_dial_done(struct sim_modem *m, int64_t now)
{
	struct sim_modem *o = m->peer;

	m->dial_deadline = SIM_NEVER;
	if (o == NULL || o->state != SIM_MODEM_CMD || o->busy ||
	    !sim_channel_signal_ok(m->ch, now)) {
		enter_state(m, SIM_MODEM_CMD);
		result(m, 3, "NO CARRIER");
		m->st.no_carrier++;
		return;
	}
	/* both ends agree on the caller's rate */
	o->rate_bps = m->rate_bps;
	sim_channel_set_rate(m->ch, m->rate_bps);
	enter_state(m, SIM_MODEM_ONLINE);
	enter_state(o, SIM_MODEM_ONLINE);
	m->last_host_at = o->last_host_at = now;
	m->plus_count = o->plus_count = 0;
	result_connect(m);
	result_connect(o);
}

/* Digits after a command letter; *pp advances. -1 when none. */
static long
at_num(const char **pp)
{
	const char *p = *pp;
	long v = 0;
	int n = 0;

	while (isdigit((unsigned char)*p) && n < 6) {
		v = v * 10 + (*p - '0');
		p++;
		n++;
	}
	*pp = p;
	return n ? v : -1;
}

/* Run one command line (without the terminating CR). */
static void
at_line(struct sim_modem *m, int64_t now, const char *line)
{
	const char *p = line;
	bool ok = true;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return;
	if (toupper((unsigned char)p[0]) != 'A' ||
	    toupper((unsigned char)p[1]) != 'T') {
		result(m, 4, "ERROR");
		return;
	}
	m->st.commands++;
	p += 2;
	while (*p && ok) {
		int c = toupper((unsigned char)*p++);
		long v;
		if (c == ' ')
			continue;
		switch (c) {
		case 'D':
			if (m->state != SIM_MODEM_CMD) {
				ok = false;
				break;
			}
			at_dial(m, now);
			return; /* the rest of the line is the number */
		case 'H':
			at_num(&p);
			if (connected(m))
				drop_call(m, false);
			break;
		case 'O':
			at_num(&p);
			if (m->state != SIM_MODEM_ONLINE_CMD) {
				ok = false;
				break;
			}
			enter_state(m, SIM_MODEM_ONLINE);
			m->last_host_at = now;
			m->plus_count = 0;
			result_connect(m);
			return;
		case 'Z':
			at_num(&p);
			at_reset(m);
			break;
		case 'E':
			v = at_num(&p);
			m->echo = v == 1;
			break;
		case 'V':
			v = at_num(&p);
			m->verbose = v == 1;
			break;
		case 'Q':
			v = at_num(&p);
			m->quiet = v == 1;
			break;
		case 'I':
			at_num(&p);
			out_str(m, "\r\nskywave-sim ");
			out_str(m, m->prof.name);
			out_str(m, "\r\n");
			break;
		case 'X': case 'L': case 'M': case 'B':
			at_num(&p);
			break;
		case '&':
			c = toupper((unsigned char)*p);
			if (c == '\0' || !strchr("CDFKW", c)) {
				ok = false;
				break;
			}
			p++;
			at_num(&p);
			if (c == 'F')
				at_reset(m);
			break;
		case 'S':
			if (at_num(&p) < 0) {
				ok = false;
				break;
			}
			if (*p == '=') {
				p++;
				at_num(&p);
			} else if (*p == '?') {
				p++;
				out_str(m, "\r\n000\r\n");
			}
			break;
		default:
			ok = false;
			break;
		}
	}
	if (ok)
		result(m, 0, "OK");
	else
		result(m, 4, "ERROR");
}

/* Command-mode input: echo, collect a line, run it at CR. */
static void
at_cmd_input(struct sim_modem *m, int64_t now, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (m->echo || m->prof.quirks.echo)
			out_bytes(m, &c, 1);
		if (c == '\n')
			continue;
		if (c == '\r') {
			m->line[m->line_len] = '\0';
			if (m->line_overflow)
				result(m, 4, "ERROR");
			else
				at_line(m, now, m->line);
			m->line_len = 0;
			m->line_overflow = false;
			/* a dial or ATO changes state: the rest is data for
			 * the new state only once online; drop it here */
			if (m->state != SIM_MODEM_CMD &&
			    m->state != SIM_MODEM_ONLINE_CMD)
				return;
			continue;
		}
		if (c == 8 || c == 127) {
			if (m->line_len)
				m->line_len--;
			continue;
		}
		if (m->line_len >= LINE_MAX_)
			m->line_overflow = true;
		else
			m->line[m->line_len++] = (char)c;
	}
}

/* Online data from the host, watching for the "+++" escape. */
static size_t
at_data_input(struct sim_modem *m, int64_t now, const uint8_t *p, size_t n)
{
	size_t acc = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (m->prof.quirks.seven_bit)
			c &= 0x7f;
		if (sim_channel_send(m->ch, m->side, now, &c, 1) == 0)
			break;
		acc++;
		if (c == '+' && m->plus_count < 3 &&
		    (m->plus_count > 0 || now - m->last_host_at >= GUARD_MS)) {
			m->plus_count++;
			m->plus_at = now;
		} else {
			m->plus_count = 0;
		}
		m->last_host_at = now;
	}
	return acc;
}

/* ---- KISS ------------------------------------------------------------ */

/* CRC-16/X.25 (the HDLC frame check sequence): reflected polynomial
 * 0x8408, initial 0xFFFF, complemented. */
static uint16_t
crc16_x25(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) :
			    (uint16_t)(crc >> 1);
	}
	return (uint16_t)~crc;
}

static void
kiss_escape(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == KISS_FEND) {
			buf_append_byte(b, KISS_FESC);
			buf_append_byte(b, KISS_TFEND);
		} else if (p[i] == KISS_FESC) {
			buf_append_byte(b, KISS_FESC);
			buf_append_byte(b, KISS_TFESC);
		} else {
			buf_append_byte(b, p[i]);
		}
	}
}

/* Feed one byte; returns true when a complete, non-empty frame is in
 * d->frame (the caller resets it). Frames over d->max are discarded
 * (*too_long set). */
static bool
df_byte(struct deframer *d, uint8_t c, bool *too_long)
{
	if (c == KISS_FEND) {
		bool done = d->in_frame && d->frame.len > 0 && !d->overflow;
		if (d->overflow)
			*too_long = true;
		d->in_frame = true;
		d->esc = false;
		d->overflow = false;
		if (!done)
			buf_reset(&d->frame);
		return done;
	}
	if (!d->in_frame)
		return false;
	if (d->esc) {
		d->esc = false;
		if (c == KISS_TFEND)
			c = KISS_FEND;
		else if (c == KISS_TFESC)
			c = KISS_FESC;
		/* else: protocol error; keep the byte (as TNCs do) */
	} else if (c == KISS_FESC) {
		d->esc = true;
		return false;
	}
	if (d->frame.len >= d->max) {
		d->overflow = true;
		return false;
	}
	buf_append_byte(&d->frame, c);
	return false;
}

/* Worst-case air bytes for one frame: FEND + escaped(payload + CRC) + FEND */
static size_t
kiss_air_worst(const struct sim_modem *m)
{
	return 2 * ((size_t)m->prof.air.mtu_bytes + 2) + 2;
}

static void
kiss_host_frame(struct sim_modem *m, int64_t now, const uint8_t *f, size_t n)
{
	uint8_t cmd = f[0];
	int type = cmd & 0x0F;

	if (cmd == 0xFF) {
		enter_state(m, SIM_MODEM_KISS_OFF);
		return;
	}
	if ((cmd >> 4) != m->prof.kiss.port)
		return; /* another port of a multi-port TNC: not ours */
	if (type == 0) {
		struct buf air = BUF_INIT;
		uint16_t crc = crc16_x25(f + 1, n - 1);
		uint8_t cb[2] = { (uint8_t)(crc & 0xFF), (uint8_t)(crc >> 8) };
		buf_append_byte(&air, KISS_FEND);
		kiss_escape(&air, f + 1, n - 1);
		kiss_escape(&air, cb, 2);
		buf_append_byte(&air, KISS_FEND);
		/* space was checked before the frame's bytes were accepted */
		size_t sent = sim_channel_send(m->ch, m->side, now, air.data,
		    air.len);
		GW_REQUIRE(sent == air.len);
		m->st.frames_tx++;
		buf_fini(&air);
		return;
	}
	if (n < 2)
		return;
	m->st.kiss_params++;
	switch (type) {
	case 1:
		m->keyup_ms = f[1] * 10;
		sim_channel_set_keyup(m->ch, m->side, m->keyup_ms);
		break;
	case 2:
		m->persist = f[1];
		sim_channel_set_csma(m->ch, m->side, m->persist, m->slot_ms);
		break;
	case 3:
		m->slot_ms = f[1] * 10;
		sim_channel_set_csma(m->ch, m->side, m->persist, m->slot_ms);
		break;
	case 4:
		m->txtail_ms = f[1] * 10;
		break;
	case 5:
		m->full_duplex = f[1] != 0;
		break;
	default:
		m->st.kiss_params--;
		break;
	}
}

static size_t
kiss_input(struct sim_modem *m, int64_t now, const uint8_t *p, size_t n)
{
	size_t acc = 0;

	if (m->state == SIM_MODEM_KISS_OFF)
		return n;
	for (; acc < n; acc++) {
		bool too_long = false;
		/* flow control: only take bytes while a whole frame fits */
		if (!m->host_df.in_frame || m->host_df.frame.len == 0) {
			if (sim_channel_tx_space(m->ch, m->side) <
			    kiss_air_worst(m))
				break;
		}
		if (df_byte(&m->host_df, p[acc], &too_long)) {
			kiss_host_frame(m, now, m->host_df.frame.data,
			    m->host_df.frame.len);
			buf_reset(&m->host_df.frame);
			if (m->state == SIM_MODEM_KISS_OFF)
				return n;
		}
		if (too_long)
			m->st.frames_too_long++;
	}
	return acc;
}

static void
kiss_air_byte(struct sim_modem *m, uint8_t c)
{
	bool too_long = false;

	if (!df_byte(&m->air_df, c, &too_long)) {
		if (too_long)
			m->st.frames_bad++;
		return;
	}
	const uint8_t *f = m->air_df.frame.data;
	size_t n = m->air_df.frame.len;
	if (n < 3 || crc16_x25(f, n - 2) !=
	    (uint16_t)(f[n - 2] | (f[n - 1] << 8))) {
		m->st.frames_bad++;
	} else if (m->state == SIM_MODEM_KISS) {
		struct buf k = BUF_INIT;
		buf_append_byte(&k, KISS_FEND);
		buf_append_byte(&k, (uint8_t)(m->prof.kiss.port << 4));
		kiss_escape(&k, f, n - 2);
		buf_append_byte(&k, KISS_FEND);
		out_bytes(m, k.data, k.len);
		buf_fini(&k);
		m->st.frames_rx++;
	}
	buf_reset(&m->air_df.frame);
}

/* ---- the API --------------------------------------------------------- */

size_t
sim_modem_host_write(struct sim_modem *m, int64_t now_ms, const void *data,
    size_t n)
{
	const uint8_t *p = data;
	size_t acc = 0;

	sim_channel_advance(m->ch, now_ms);
	switch (m->pers) {
	case P_RAW:
		if (m->prof.quirks.seven_bit) {
			for (; acc < n; acc++) {
				uint8_t c = p[acc] & 0x7f;
				if (sim_channel_send(m->ch, m->side, now_ms, &c,
				    1) == 0)
					break;
			}
		} else {
			acc = sim_channel_send(m->ch, m->side, now_ms, p, n);
		}
		break;
	case P_KISS:
		acc = kiss_input(m, now_ms, p, n);
		break;
	case P_AT:
		while (acc < n) {
			if (m->state == SIM_MODEM_ONLINE) {
				size_t k = at_data_input(m, now_ms, p + acc,
				    n - acc);
				acc += k;
				if (k == 0 || m->state == SIM_MODEM_ONLINE)
					break;
			} else if (m->state == SIM_MODEM_DIALING) {
				/* any byte aborts a dial */
				m->dial_deadline = SIM_NEVER;
				enter_state(m, SIM_MODEM_CMD);
				result(m, 3, "NO CARRIER");
				m->st.no_carrier++;
				acc = n;
			} else {
				at_cmd_input(m, now_ms, p + acc, n - acc);
				acc = n;
			}
		}
		break;
	}
	m->st.host_in_bytes += acc;
	check_state(m);
	return acc;
}

size_t
sim_modem_host_read(struct sim_modem *m, void *buf, size_t cap)
{
	size_t n = m->out.len < cap ? m->out.len : cap;

	if (n == 0)
		return 0;
	memcpy(buf, m->out.data, n);
	buf_consume(&m->out, n);
	m->st.host_out_bytes += n;
	return n;
}

size_t
sim_modem_host_pending(const struct sim_modem *m)
{
	return m->out.len;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int64_t
sim_modem_step(struct sim_modem *m, int64_t now_ms)
{
	uint8_t tmp[512];
	size_t n;
	int64_t next = SIM_NEVER;

	while ((n = sim_channel_recv(m->ch, m->side, tmp, sizeof(tmp))) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (m->pers == P_KISS) {
				kiss_air_byte(m, tmp[i]);
			} else if (m->state == SIM_MODEM_DATA ||
			    m->state == SIM_MODEM_ONLINE) {
				uint8_t c = tmp[i];
				if (m->prof.quirks.seven_bit)
					c &= 0x7f;
				out_bytes(m, &c, 1);
			} else {
				m->st.rx_discarded++;
			}
		}
	}
	if (m->pers == P_AT) {
		if (m->state == SIM_MODEM_DIALING) {
			if (now_ms >= m->dial_deadline)
				at_dial_done(m, now_ms);
			else
				next = m->dial_deadline;
		}
		if (m->state == SIM_MODEM_ONLINE && m->plus_count == 3) {
			if (now_ms - m->plus_at >= GUARD_MS &&
			    m->last_host_at == m->plus_at) {
				m->plus_count = 0;
				enter_state(m, SIM_MODEM_ONLINE_CMD);
				result(m, 0, "OK");
			} else {
				next = min64(next, m->plus_at + GUARD_MS);
			}
		}
		if (connected(m)) {
			if (sim_channel_signal_ok(m->ch, now_ms)) {
				m->loss_since = -1;
				next = min64(next,
				    sim_channel_signal_next_change(m->ch,
				    now_ms));
			} else {
				if (m->loss_since < 0)
					m->loss_since = now_ms;
				if (now_ms - m->loss_since >= LOSS_MS)
					drop_call(m, true);
				else
					next = min64(next,
					    m->loss_since + LOSS_MS);
			}
		}
	} else if (m->prof.quirks.flush_on_carrier_loss &&
	    !sim_channel_signal_ok(m->ch, now_ms)) {
		sim_channel_flush_tx(m->ch, m->side);
		next = min64(next, sim_channel_signal_next_change(m->ch,
		    now_ms));
	}
	check_state(m);
	return next;
}

int
sim_modem_state(const struct sim_modem *m)
{
	return m->state;
}

int64_t
sim_modem_keyup_ms(const struct sim_modem *m)
{
	return m->keyup_ms;
}

const struct sim_modem_stats *
sim_modem_stats(const struct sim_modem *m)
{
	return &m->st;
}
