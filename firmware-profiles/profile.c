/*
 * profile.c - firmware profile parser, validator and lookup (see profile.h).
 *
 * Flow: zero + table defaults -> one pass over the INI text (every key
 * checked against the field table, or a dialogue/list handler, with its
 * line recorded) -> cross-field validation (rates, MTU vs buffer and max
 * transmission, burst/fade pairs, KISS 10 ms units, dial placeholders) ->
 * normalisation (rate list, name from the file name). Every error names
 * file:line; parsing goes on after an error so a check reports them all.
 *
 * Pure: no I/O except reading the file; no logging (callers log). Any thread.
 */
#include "firmware-profiles/profile.h"

#include "common/cfgtab.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#ifndef SKYWAVE_PROFILE_SRC_DIR
#define SKYWAVE_PROFILE_SRC_DIR ""
#endif
#ifndef SKYWAVE_PROFILE_INSTALL_DIR
#define SKYWAVE_PROFILE_INSTALL_DIR "/usr/local/share/skywave/profiles"
#endif

/* ---- enum names ----------------------------------------------------- */

#define PROF__TEXT(n, t) t,
static const char *const parity_names[] = { PROF_PARITY_MAP(PROF__TEXT) NULL };
static const char *const flow_names[] = { PROF_FLOW_MAP(PROF__TEXT) NULL };
static const char *const framing_names[] = { PROF_FRAMING_MAP(PROF__TEXT)
	NULL };
static const char *const duplex_names[] = { PROF_DUPLEX_MAP(PROF__TEXT) NULL };
static const char *const keying_names[] = { PROF_KEYING_MAP(PROF__TEXT) NULL };
static const char *const carrier_names[] = { PROF_CARRIER_MAP(PROF__TEXT)
	NULL };
#undef PROF__TEXT

static const char *
enum_name(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n - 1 ? names[v] : "?";
}

#define NAME_FN(fn, tab) \
	const char *fn(int v) { return enum_name(tab, sizeof(tab) / \
	    sizeof(tab[0]), v); }
NAME_FN(prof_parity_name, parity_names)
NAME_FN(prof_flow_name, flow_names)
NAME_FN(prof_framing_name, framing_names)
NAME_FN(prof_duplex_name, duplex_names)
NAME_FN(prof_keying_name, keying_names)
NAME_FN(prof_carrier_name, carrier_names)
#undef NAME_FN

/* ---- the field table -------------------------------------------------- */

/* Keys are "section.key"; the loader joins the INI section and key. */
#define P struct prof
static const struct cfg_field prof_fields[] = {
	CFG_STR_F(P, name, "profile.name", "", 0,
	    "profile name (default: the file name without .profile)"),
	CFG_STR_F(P, description, "profile.description", "", 0,
	    "what the profile models, one line"),

	CFG_INT_F(P, serial.baud, "serial.baud", "9600", 50, 4000000,
	    "serial line speed in bit/s (a standard rate)"),
	CFG_INT_F(P, serial.data_bits, "serial.data_bits", "8", 5, 8,
	    "data bits per character"),
	CFG_ENUM_F(P, serial.parity, "serial.parity", "none", parity_names,
	    "parity bit"),
	CFG_INT_F(P, serial.stop_bits, "serial.stop_bits", "1", 1, 2,
	    "stop bits"),
	CFG_ENUM_F(P, serial.flow, "serial.flow", "none", flow_names,
	    "flow control on the serial line"),

	CFG_INT_F(P, air.rate_bps, "air.rate", "2400", 50, 10000000,
	    "air rate in bit/s"),
	CFG_ENUM_F(P, air.duplex, "air.duplex", "half", duplex_names,
	    "half: one side transmits at a time; full: both at once"),
	CFG_DUR_F(P, air.turnaround_ms, "air.turnaround", "0", 0, 60000,
	    "cost of a change of direction (half duplex)"),
	CFG_DUR_F(P, air.latency_ms, "air.latency", "0", 0, 30000,
	    "interleaver and modem delay, one way"),
	CFG_DUR_F(P, air.max_tx_ms, "air.max_tx", "120s", 100, 86400000,
	    "longest single transmission"),
	CFG_SIZE_F(P, air.mtu_bytes, "air.mtu", "256", 16, 65536,
	    "largest frame handed to the modem"),

	CFG_ENUM_F(P, modem.framing, "modem.framing", "raw", framing_names,
	    "raw byte stream or KISS frames"),
	CFG_ENUM_F(P, modem.keying, "modem.keying", "none", keying_names,
	    "how the transmitter is keyed"),
	CFG_ENUM_F(P, modem.carrier, "modem.carrier", "none", carrier_names,
	    "where carrier detect comes from"),
	CFG_SIZE_F(P, modem.buffer_bytes, "modem.buffer", "4k", 64, 16777216,
	    "modem transmit buffer; full = stops accepting"),

	CFG_INT_F(P, kiss.port, "kiss.port", "0", 0, 15, "KISS port"),
	CFG_DUR_F(P, kiss.txdelay_ms, "kiss.txdelay", "500ms", 0, 2550,
	    "KISS TXDELAY: key-up to data, in 10 ms steps"),
	CFG_INT_F(P, kiss.persist, "kiss.persist", "63", 0, 255,
	    "KISS p-persistence, p = (v + 1) / 256"),
	CFG_DUR_F(P, kiss.slottime_ms, "kiss.slottime", "100ms", 0, 2550,
	    "KISS slot time, in 10 ms steps"),
	CFG_DUR_F(P, kiss.txtail_ms, "kiss.txtail", "0ms", 0, 2550,
	    "KISS TXTAIL, in 10 ms steps"),

	CFG_BOOL_F(P, quirks.echo, "quirks.echo", "no",
	    "echoes command-mode input"),
	CFG_BOOL_F(P, quirks.seven_bit, "quirks.seven_bit", "no",
	    "data path is not 8-bit clean"),
	CFG_BOOL_F(P, quirks.flush_on_carrier_loss,
	    "quirks.flush_on_carrier_loss", "no",
	    "drops its transmit buffer when the carrier goes"),
	CFG_BOOL_F(P, quirks.hangup_by_dtr, "quirks.hangup_by_dtr", "no",
	    "hang up by dropping DTR"),
	CFG_BOOL_F(P, quirks.kiss_exit_on_close, "quirks.kiss_exit_on_close",
	    "no", "leave KISS mode (C0 FF C0) when closing"),
	CFG_BOOL_F(P, quirks.busy_means_channel, "quirks.busy_means_channel",
	    "no", "BUSY means the channel is occupied: retry later"),

	CFG_DUR_F(P, sim.burst_interval_ms, "sim.burst_interval", "0", 0,
	    86400000, "mean time between error bursts (0: none)"),
	CFG_DUR_F(P, sim.burst_length_ms, "sim.burst_length", "0", 0, 3600000,
	    "mean error burst duration"),
	CFG_DUR_F(P, sim.fade_interval_ms, "sim.fade_interval", "0", 0,
	    86400000, "mean time between fades (0: none)"),
	CFG_DUR_F(P, sim.fade_length_ms, "sim.fade_length", "0", 0, 3600000,
	    "mean fade duration (signal lost)"),
	CFG_DUR_F(P, sim.holdover_ms, "sim.holdover", "20ms", 0, 1000,
	    "time a modem stays keyed waiting for more data"),
	CFG_END,
};
#undef P

/* Keys handled outside the table: [air] rates, [sim] ber/burst_ber, and the
 * dialogue sections. */
enum extra_key { X_RATES, X_BER, X_BURST_BER, X_N };
static const char *const extra_keys[X_N] = { "air.rates", "sim.ber",
	"sim.burst_ber" };

#define NFIELDS (sizeof(prof_fields) / sizeof(prof_fields[0]) - 1)
#define DEFAULT_EXPECT_MS 5000
#define EXPECT_MIN_MS 100
#define EXPECT_MAX_MS 600000
#define PAUSE_MAX_MS 60000

static const int64_t std_bauds[] = { 50, 75, 110, 134, 150, 200, 300, 600,
	1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
	460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000,
	2500000, 3000000, 3500000, 4000000 };

struct load_ctx {
	struct prof *p;
	const char *file;
	char *err;
	size_t errlen;
	prof_error_fn fn;
	void *arg;
	int nerr;
	int first_code;
	int field_line[NFIELDS];     /* 0 = not set in the file */
	int extra_line[X_N];
	int section_line[3];         /* [init], [dial], [hangup] seen at */
	int64_t expect_ms[3];        /* current timeout per dialogue */
	char bad_section[64];        /* last unknown section reported */
};

static void
load_error(struct load_ctx *c, int code, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
load_error(struct load_ctx *c, int code, int line, const char *fmt, ...)
{
	va_list ap;
	char msg[512], full[700];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(full, sizeof(full), "%s:%d: %s", c->file, line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", c->file, msg);
	if (c->nerr == 0) {
		snprintf(c->err, c->errlen, "%s", full);
		c->first_code = code;
	}
	c->nerr++;
	if (c->fn)
		c->fn(full, c->arg);
}

/* ---- escapes ---------------------------------------------------------- */

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Unescape a dialogue text: optional surrounding double quotes (to keep
 * leading or trailing blanks; a '"' inside is then written \"),
 * \r \n \t \s(space) \\ \" \xHH. Returns length, or a negative
 * code with why[] set. */
static int
unescape(const char *in, char *out, size_t outlen, char *why, size_t whylen)
{
	size_t n = strlen(in), o = 0;
	const char *s = in, *end = in + n;

	if (n >= 1 && in[0] == '"') {
		/* quoted: must end in a quote that is not escaped */
		size_t bs = 0;
		while (n >= 3 + bs && in[n - 2 - bs] == '\\')
			bs++;
		if (n < 2 || in[n - 1] != '"' || bs % 2 == 1) {
			snprintf(why, whylen, "unbalanced quote in %s", in);
			return GW_ESYNTAX;
		}
		s++;
		end--;
	}
	while (s < end) {
		int ch = (unsigned char)*s++;
		if (ch == '\\') {
			if (s >= end) {
				snprintf(why, whylen, "trailing backslash");
				return GW_ESYNTAX;
			}
			int e = (unsigned char)*s++;
			switch (e) {
			case 'r': ch = '\r'; break;
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 's': ch = ' '; break;
			case '\\': ch = '\\'; break;
			case '"': ch = '"'; break;
			case 'x': {
				int h = s < end ?
				    hexval((unsigned char)s[0]) : -1;
				int l = s + 1 < end ?
				    hexval((unsigned char)s[1]) : -1;
				if (h < 0 || l < 0) {
					snprintf(why, whylen,
					    "\\x needs two hex digits");
					return GW_ESYNTAX;
				}
				ch = h * 16 + l;
				s += 2;
				break;
			}
			default:
				snprintf(why, whylen,
				    "unknown escape \\%c (allowed: \\r \\n \\t "
				    "\\s \\\\ \\\" \\xHH)", e);
				return GW_ESYNTAX;
			}
		}
		if (o + 1 >= outlen) {
			snprintf(why, whylen, "text longer than %zu bytes",
			    outlen - 1);
			return GW_ERANGE;
		}
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	if (o == 0) {
		snprintf(why, whylen, "empty text");
		return GW_EINVAL;
	}
	return (int)o;
}

void
prof_escape(const char *bytes, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)bytes[i];
		char tmp[8];
		if (ch == '\r')
			snprintf(tmp, sizeof(tmp), "\\r");
		else if (ch == '\n')
			snprintf(tmp, sizeof(tmp), "\\n");
		else if (ch == '\t')
			snprintf(tmp, sizeof(tmp), "\\t");
		else if (ch == '\\')
			snprintf(tmp, sizeof(tmp), "\\\\");
		else if (ch == '"')
			snprintf(tmp, sizeof(tmp), "\\\"");
		else if (ch < 0x20 || ch >= 0x7f || ch == ';' || ch == '#')
			snprintf(tmp, sizeof(tmp), "\\x%02x", ch);
		else
			snprintf(tmp, sizeof(tmp), "%c", ch);
		size_t tl = strlen(tmp);
		if (o + tl >= outlen)
			break;
		memcpy(out + o, tmp, tl);
		o += tl;
	}
	out[o] = '\0';
}

/* ---- key handlers ----------------------------------------------------- */

static int
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return GW_EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(v))
		return GW_EINVAL;
	if (v < lo || v > hi)
		return GW_ERANGE;
	*out = v;
	return 0;
}

static void
on_rates(struct load_ctx *c, const char *value, int line)
{
	struct prof_air *a = &c->p->air;
	char tmp[256];
	char *save = NULL;
	int n = 0;

	if (strlen(value) >= sizeof(tmp)) {
		load_error(c, GW_ERANGE, line, "air.rates: list too long");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", value);
	for (char *t = strtok_r(tmp, ", \t", &save); t;
	    t = strtok_r(NULL, ", \t", &save)) {
		int64_t v;
		if (cfg_parse_int(t, &v) != 0) {
			load_error(c, GW_EINVAL, line,
			    "air.rates: bad rate \"%s\" (allowed: bit/s "
			    "50..10000000, comma separated)", t);
			return;
		}
		if (v < 50 || v > 10000000) {
			load_error(c, GW_ERANGE, line,
			    "air.rates: rate %" PRId64
			    " out of range (allowed: 50..10000000)", v);
			return;
		}
		if (n >= PROF_RATES_MAX) {
			load_error(c, GW_ERANGE, line,
			    "air.rates: more than %d rates", PROF_RATES_MAX);
			return;
		}
		if (n > 0 && v <= a->rates_bps[n - 1]) {
			load_error(c, GW_EINVAL, line,
			    "air.rates: rates must be ascending without "
			    "repeats (%" PRId64 " after %" PRId64 ")", v,
			    a->rates_bps[n - 1]);
			return;
		}
		a->rates_bps[n++] = v;
	}
	if (n == 0) {
		load_error(c, GW_EINVAL, line, "air.rates: empty list");
		return;
	}
	a->n_rates = n;
}

static void
on_extra(struct load_ctx *c, int which, const char *value, int line)
{
	double *dst = which == X_BER ? &c->p->sim.ber : &c->p->sim.burst_ber;
	int rc;

	if (which == X_RATES) {
		on_rates(c, value, line);
		return;
	}
	rc = parse_double(value, 0.0, 0.5, dst);
	if (rc != 0)
		load_error(c, rc, line, "%s: %s \"%s\" (allowed: 0..0.5, "
		    "e.g. 1e-4)", extra_keys[which],
		    rc == GW_ERANGE ? "out of range" : "bad value", value);
}

static const char *const dialogue_names[3] = { "init", "dial", "hangup" };

static struct prof_dialogue *
dialogue_of(struct prof *p, int i)
{
	return i == 0 ? &p->init : i == 1 ? &p->dial : &p->hangup;
}

static void
on_dialogue(struct load_ctx *c, int di, const char *key, const char *value,
    int line)
{
	struct prof_dialogue *d = dialogue_of(c->p, di);
	const char *sec = dialogue_names[di];
	char why[200];
	int64_t ms = 0;
	int n;

	if (c->section_line[di] == 0)
		c->section_line[di] = line;
	if (strcasecmp(key, "timeout") == 0 || strcasecmp(key, "pause") == 0) {
		bool pause = tolower((unsigned char)key[0]) == 'p';
		int64_t lo = pause ? 10 : EXPECT_MIN_MS;
		int64_t hi = pause ? PAUSE_MAX_MS : EXPECT_MAX_MS;
		int rc = cfg_parse_duration_ms(value, &ms);
		if (rc != 0 || ms < lo || ms > hi) {
			load_error(c, rc == GW_EINVAL ? GW_EINVAL : GW_ERANGE,
			    line, "%s.%s: %s \"%s\" (allowed: %s)", sec, key,
			    rc == GW_EINVAL ? "bad value" : "out of range",
			    value, pause ? "10ms..1m" : "100ms..10m");
			return;
		}
		if (!pause) {
			c->expect_ms[di] = ms;
			return;
		}
	}
	if (strcasecmp(key, "abort") == 0) {
		if (d->n_aborts >= PROF_ABORTS_MAX) {
			load_error(c, GW_ERANGE, line,
			    "%s.abort: more than %d abort texts", sec,
			    PROF_ABORTS_MAX);
			return;
		}
		n = unescape(value, d->aborts[d->n_aborts], PROF_TEXT_MAX, why,
		    sizeof(why));
		if (n < 0) {
			load_error(c, n, line, "%s.abort: %s", sec, why);
			return;
		}
		if ((size_t)n != strlen(d->aborts[d->n_aborts])) {
			load_error(c, GW_EINVAL, line,
			    "%s.abort: NUL bytes not allowed", sec);
			return;
		}
		d->n_aborts++;
		return;
	}
	bool is_send = strcasecmp(key, "send") == 0;
	bool is_expect = strcasecmp(key, "expect") == 0;
	bool is_pause = strcasecmp(key, "pause") == 0;
	if (!is_send && !is_expect && !is_pause) {
		load_error(c, GW_EINVAL, line,
		    "unknown key \"%s\" in [%s] (allowed: send, expect, "
		    "timeout, pause, abort)", key, sec);
		return;
	}
	if (d->n_steps >= PROF_STEPS_MAX) {
		load_error(c, GW_ERANGE, line, "[%s]: more than %d steps", sec,
		    PROF_STEPS_MAX);
		return;
	}
	struct prof_step *s = &d->steps[d->n_steps];
	memset(s, 0, sizeof(*s));
	s->line = line;
	if (is_pause) {
		s->kind = PROF_STEP_PAUSE;
		s->timeout_ms = ms;
		d->n_steps++;
		return;
	}
	n = unescape(value, s->text, sizeof(s->text), why, sizeof(why));
	if (n < 0) {
		load_error(c, n, line, "%s.%s: %s", sec, key, why);
		return;
	}
	s->len = (size_t)n;
	s->kind = is_send ? PROF_STEP_SEND : PROF_STEP_EXPECT;
	s->timeout_ms = is_send ? 0 : c->expect_ms[di];
	if (is_send) {
		/* only %N (in [dial]) and %% are placeholders */
		for (size_t i = 0; i < s->len; i++) {
			if (s->text[i] != '%')
				continue;
			char nx = i + 1 < s->len ? s->text[i + 1] : '\0';
			if (nx == '%') {
				i++;
			} else if (nx == 'N' && di == 1) {
				i++;
			} else {
				load_error(c, GW_EINVAL, line,
				    "%s.send: bad placeholder \"%%%c\" "
				    "(allowed: %%N in [dial], %%%%)", sec,
				    nx ? nx : ' ');
				return;
			}
		}
	}
	d->n_steps++;
}

static int
ini_handler(void *user, const char *section, const char *key,
    const char *value, int line)
{
	struct load_ctx *c = user;
	char full[128];
	int rc;

	for (int i = 0; i < 3; i++) {
		if (strcasecmp(section, dialogue_names[i]) == 0) {
			on_dialogue(c, i, key, value, line);
			return 0;
		}
	}
	static const char *const sections[] = { "profile", "serial", "air",
		"modem", "kiss", "quirks", "sim", NULL };
	bool known = false;
	for (int i = 0; sections[i]; i++)
		if (strcasecmp(section, sections[i]) == 0)
			known = true;
	if (!known) {
		if (strcasecmp(c->bad_section, section) != 0 ||
		    section[0] == '\0') {
			snprintf(c->bad_section, sizeof(c->bad_section), "%s",
			    section);
			if (section[0] == '\0')
				load_error(c, GW_EINVAL, line,
				    "key \"%s\" outside any section", key);
			else
				load_error(c, GW_EINVAL, line,
				    "unknown section [%s] (allowed: profile, "
				    "serial, air, modem, kiss, quirks, sim, "
				    "init, dial, hangup)", section);
		}
		return 0;
	}
	rc = snprintf(full, sizeof(full), "%s.%s", section, key);
	if (rc < 0 || (size_t)rc >= sizeof(full)) {
		load_error(c, GW_EINVAL, line, "key too long");
		return 0;
	}
	for (char *q = full; *q; q++)
		*q = (char)tolower((unsigned char)*q);

	int *seen = NULL;
	const struct cfg_field *f = cfgtab_find(prof_fields, full);
	int xi = -1;
	if (f) {
		seen = &c->field_line[f - prof_fields];
	} else {
		for (int i = 0; i < X_N; i++)
			if (strcmp(full, extra_keys[i]) == 0)
				xi = i;
		if (xi < 0) {
			load_error(c, GW_EINVAL, line,
			    "unknown key \"%s\" in [%s]", key, section);
			return 0;
		}
		seen = &c->extra_line[xi];
	}
	if (*seen) {
		load_error(c, GW_EINVAL, line,
		    "duplicate key \"%s\" in [%s] (first set on line %d)", key,
		    section, *seen);
		return 0;
	}
	*seen = line;
	if (xi >= 0) {
		on_extra(c, xi, value, line);
		return 0;
	}
	char msg[400];
	rc = cfgtab_set(f, c->p, value, msg, sizeof(msg));
	if (rc != 0)
		load_error(c, rc, line, "%s", msg);
	return 0;
}

/* ---- validation -------------------------------------------------------- */

static int
line_of(const struct load_ctx *c, const char *key)
{
	const struct cfg_field *f = cfgtab_find(prof_fields, key);

	if (f)
		return c->field_line[f - prof_fields];
	for (int i = 0; i < X_N; i++)
		if (strcmp(key, extra_keys[i]) == 0)
			return c->extra_line[i];
	return 0;
}

/* The later of two keys' lines (the one that made the pair wrong). */
static int
line_of2(const struct load_ctx *c, const char *a, const char *b)
{
	int la = line_of(c, a), lb = line_of(c, b);
	return la > lb ? la : lb;
}

static bool
valid_name(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

static void
validate(struct load_ctx *c)
{
	struct prof *p = c->p;
	bool std = false;

	if (p->name[0] && !valid_name(p->name))
		load_error(c, GW_EINVAL, line_of(c, "profile.name"),
		    "profile.name: bad name \"%s\" (allowed: letters, digits, "
		    "'-', '_', '.')", p->name);
	for (size_t i = 0; i < sizeof(std_bauds) / sizeof(std_bauds[0]); i++)
		if (p->serial.baud == std_bauds[i])
			std = true;
	if (!std)
		load_error(c, GW_EINVAL, line_of(c, "serial.baud"),
		    "serial.baud: %" PRId64 " is not a standard rate (allowed: "
		    "50, 75, 110, ... 9600, 19200, 38400, 57600, 115200, ... "
		    "4000000)", p->serial.baud);
	if (p->air.n_rates > 0) {
		bool found = false;
		for (int i = 0; i < p->air.n_rates; i++)
			if (p->air.rates_bps[i] == p->air.rate_bps)
				found = true;
		if (!found)
			load_error(c, GW_EINVAL,
			    line_of2(c, "air.rate", "air.rates"),
			    "air.rate: %" PRId64 " is not in air.rates",
			    p->air.rate_bps);
	}
	if (p->air.duplex == PROF_DUPLEX_FULL && p->air.turnaround_ms > 0)
		load_error(c, GW_EINVAL,
		    line_of2(c, "air.duplex", "air.turnaround"),
		    "air.turnaround: must be 0 with air.duplex = full");
	if (p->air.mtu_bytes > p->modem.buffer_bytes)
		load_error(c, GW_EINVAL, line_of2(c, "air.mtu", "modem.buffer"),
		    "air.mtu: %" PRId64 " bytes exceeds modem.buffer (%" PRId64
		    " bytes); the modem must hold one frame", p->air.mtu_bytes,
		    p->modem.buffer_bytes);
	/* one MTU-sized frame must fit in one transmission */
	int64_t frame_ms = (p->air.mtu_bytes * 8 * 1000 + p->air.rate_bps - 1) /
	    p->air.rate_bps;
	if (frame_ms > p->air.max_tx_ms)
		load_error(c, GW_EINVAL, line_of2(c, "air.mtu", "air.max_tx"),
		    "air.max_tx: %" PRId64 " ms is shorter than one air.mtu "
		    "frame at air.rate (%" PRId64 " ms)", p->air.max_tx_ms,
		    frame_ms);
	static const char *const kiss_times[] = { "kiss.txdelay",
		"kiss.slottime", "kiss.txtail" };
	const int64_t kv[] = { p->kiss.txdelay_ms, p->kiss.slottime_ms,
		p->kiss.txtail_ms };
	for (int i = 0; i < 3; i++)
		if (kv[i] % 10 != 0)
			load_error(c, GW_EINVAL, line_of(c, kiss_times[i]),
			    "%s: %" PRId64 " ms is not a multiple of 10 ms "
			    "(KISS counts 10 ms units)", kiss_times[i], kv[i]);
	if (p->modem.framing == PROF_FRAMING_KISS &&
	    p->modem.keying != PROF_KEYING_NONE &&
	    p->modem.keying != PROF_KEYING_INBAND)
		load_error(c, GW_EINVAL,
		    line_of2(c, "modem.framing", "modem.keying"),
		    "modem.keying: a KISS TNC keys itself (allowed with "
		    "framing = kiss: none, inband)");
	if (p->sim.burst_interval_ms > 0 &&
	    (p->sim.burst_length_ms == 0 ||
	    p->sim.burst_length_ms >= p->sim.burst_interval_ms))
		load_error(c, GW_EINVAL,
		    line_of2(c, "sim.burst_interval", "sim.burst_length"),
		    "sim.burst_length: must be > 0 and shorter than "
		    "sim.burst_interval");
	if (p->sim.burst_interval_ms > 0 && p->sim.burst_ber == 0.0)
		load_error(c, GW_EINVAL,
		    line_of2(c, "sim.burst_interval", "sim.burst_ber"),
		    "sim.burst_ber: must be > 0 when bursts are enabled");
	if (p->sim.fade_interval_ms > 0 &&
	    (p->sim.fade_length_ms == 0 ||
	    p->sim.fade_length_ms >= p->sim.fade_interval_ms))
		load_error(c, GW_EINVAL,
		    line_of2(c, "sim.fade_interval", "sim.fade_length"),
		    "sim.fade_length: must be > 0 and shorter than "
		    "sim.fade_interval");
	if (p->dial.n_steps > 0) {
		bool has_send = false;
		for (int i = 0; i < p->dial.n_steps; i++)
			if (p->dial.steps[i].kind == PROF_STEP_SEND)
				has_send = true;
		if (!has_send)
			load_error(c, GW_EINVAL, c->section_line[1],
			    "[dial]: has no send step");
	}
	if (p->modem.carrier == PROF_CARRIER_INBAND && p->dial.n_steps == 0)
		load_error(c, GW_EINVAL, line_of(c, "modem.carrier"),
		    "modem.carrier: inband needs a [dial] dialogue that "
		    "expects the connect message");
}

static void
normalise(struct prof *p, const char *path)
{
	if (p->air.n_rates == 0) {
		p->air.rates_bps[0] = p->air.rate_bps;
		p->air.n_rates = 1;
	}
	if (p->name[0] == '\0') {
		const char *b = strrchr(path, '/');
		b = b ? b + 1 : path;
		size_t n = strlen(b);
		if (n > 8 && strcmp(b + n - 8, ".profile") == 0)
			n -= 8;
		if (n >= sizeof(p->name))
			n = sizeof(p->name) - 1;
		memcpy(p->name, b, n);
		p->name[n] = '\0';
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
}

static int
load(const char *path, const char *text, struct prof *out, char *err,
    size_t errlen, prof_error_fn fn, void *arg, int *nerr)
{
	struct load_ctx c;
	char ini_err[600];
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.p = out;
	c.file = path;
	c.err = err;
	c.errlen = errlen;
	c.fn = fn;
	c.arg = arg;
	for (int i = 0; i < 3; i++)
		c.expect_ms[i] = DEFAULT_EXPECT_MS;
	if (errlen)
		err[0] = '\0';
	ini_err[0] = '\0';
	rc = cfgtab_defaults(prof_fields, out, ini_err, sizeof(ini_err));
	if (rc != 0) {
		load_error(&c, GW_EINTERNAL, 0, "bad built-in default: %s",
		    ini_err);
		goto fail;
	}
	if (text)
		rc = cfg_ini_parse_string(text, path, ini_handler, &c, ini_err,
		    sizeof(ini_err));
	else
		rc = cfg_ini_parse_file(path, ini_handler, &c, ini_err,
		    sizeof(ini_err));
	if (rc != 0 && ini_err[0]) {
		/* reader-level error (cannot open, syntax, line too long):
		 * the message already names file:line */
		/* a malformed line makes later messages suspect: it is the
		 * error to show first (the reader finds it only at the end) */
		c.first_code = rc;
		snprintf(err, errlen, "%s", ini_err);
		c.nerr++;
		if (fn)
			fn(ini_err, arg);
		if (rc == GW_ENOENT)
			goto fail;
	}
	validate(&c); /* also after parse errors: report them all */
	if (c.nerr > 0)
		goto fail;
	normalise(out, path);
	if (nerr)
		*nerr = 0;
	return 0;
fail:
	if (nerr)
		*nerr = c.nerr;
	memset(out, 0, sizeof(*out));
	return c.first_code ? c.first_code : GW_EINVAL;
}

int
prof_load_file(const char *path, struct prof *out, char *err, size_t errlen)
{
	return load(path, NULL, out, err, errlen, NULL, NULL, NULL);
}

int
prof_load_string(const char *text, const char *path, struct prof *out,
    char *err, size_t errlen)
{
	return load(path, text, out, err, errlen, NULL, NULL, NULL);
}

void
prof_free(struct prof *p)
{
	/* No heap parts today; keep callers honest about pairing. */
	(void)p;
}

int
prof_check_file(const char *path, prof_error_fn fn, void *arg)
{
	struct prof *p = xcalloc(1, sizeof(*p));
	char err[700];
	int n = 0;

	if (load(path, NULL, p, err, sizeof(err), fn, arg, &n) == 0)
		prof_free(p);
	free(p);
	return n;
}

/* ---- lookup ------------------------------------------------------------ */

static bool
is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
prof_find(const char *name_or_path, const char *dir, char *out, size_t outlen,
    char *err, size_t errlen)
{
	const char *env = getenv("SKYWAVE_PROFILE_DIR");
	const char *dirs[4] = { dir, env, SKYWAVE_PROFILE_SRC_DIR,
		SKYWAVE_PROFILE_INSTALL_DIR };
	size_t n = strlen(name_or_path);
	char tried[1024];
	size_t used = 0;

	if (n == 0) {
		snprintf(err, errlen, "empty profile name");
		return GW_EINVAL;
	}
	bool suffix = n > 8 && strcmp(name_or_path + n - 8, ".profile") == 0;
	if (suffix && strchr(name_or_path, '/') == NULL &&
	    !is_file(name_or_path)) {
		/* "NAME.profile" not in the current directory: look it up
		 * by NAME */
		char name[PROF_NAME_MAX + 8];
		if (n - 8 >= PROF_NAME_MAX) {
			snprintf(err, errlen, "bad profile name \"%s\"",
			    name_or_path);
			return GW_EINVAL;
		}
		memcpy(name, name_or_path, n - 8);
		name[n - 8] = '\0';
		return prof_find(name, dir, out, outlen, err, errlen);
	}
	if (strchr(name_or_path, '/') || suffix) {
		int w = snprintf(out, outlen, "%s", name_or_path);
		if (w < 0 || (size_t)w >= outlen) {
			snprintf(err, errlen, "profile path too long");
			return GW_EINVAL;
		}
		if (!is_file(out)) {
			snprintf(err, errlen, "%s: no such profile file",
			    name_or_path);
			return GW_ENOENT;
		}
		return 0;
	}
	if (!valid_name(name_or_path) || name_or_path[0] == '.') {
		snprintf(err, errlen, "bad profile name \"%s\"", name_or_path);
		return GW_EINVAL;
	}
	tried[0] = '\0';
	for (int i = 0; i < 4; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		int w = snprintf(out, outlen, "%s/%s.profile", dirs[i],
		    name_or_path);
		if (w < 0 || (size_t)w >= outlen)
			continue;
		if (is_file(out))
			return 0;
		w = snprintf(tried + used, sizeof(tried) - used, "%s%s",
		    used ? ", " : "", dirs[i]);
		if (w > 0 && (size_t)w < sizeof(tried) - used)
			used += (size_t)w;
	}
	snprintf(err, errlen, "profile \"%s\" not found (looked in: %s)",
	    name_or_path, used ? tried : "nowhere");
	out[0] = '\0';
	return GW_ENOENT;
}

int
prof_load_named(const char *name_or_path, const char *dir, struct prof *out,
    char *err, size_t errlen)
{
	char path[512];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = prof_find(name_or_path, dir, path, sizeof(path), err, errlen);
	if (rc != 0)
		return rc;
	return prof_load_file(path, out, err, errlen);
}

/* ---- capabilities ------------------------------------------------------ */

int64_t
prof_airtime_ms(const struct prof *p, size_t n)
{
	int64_t bits = (int64_t)n * 8;
	return (bits * 1000 + p->air.rate_bps - 1) / p->air.rate_bps;
}

size_t
prof_bytes_in_ms(const struct prof *p, int64_t ms)
{
	if (ms <= 0)
		return 0;
	return (size_t)(ms * p->air.rate_bps / 8000);
}

bool
prof_rate_allowed(const struct prof *p, int64_t rate_bps)
{
	for (int i = 0; i < p->air.n_rates; i++)
		if (p->air.rates_bps[i] == rate_bps)
			return true;
	return false;
}

int
prof_expand(const struct prof_step *s, const char *number, char *out,
    size_t outlen)
{
	size_t o = 0, nl = number ? strlen(number) : 0;

	for (size_t i = 0; i < s->len; i++) {
		const char *src = &s->text[i];
		size_t take = 1;
		if (s->text[i] == '%' && i + 1 < s->len) {
			if (s->text[i + 1] == '%') {
				i++;
			} else if (s->text[i + 1] == 'N') {
				src = number ? number : "";
				take = nl;
				i++;
			}
		}
		if (o + take >= outlen)
			return GW_ETOOBIG;
		memcpy(out + o, src, take);
		o += take;
	}
	if (o >= outlen)
		return GW_ETOOBIG;
	out[o] = '\0';
	return (int)o;
}
