/*
 * profile.h - firmware profiles: what a radio modem's firmware looks like
 * from the serial line and on the air, as data.
 *
 * One INI file per modem firmware (firmware-profiles/ *.profile; the format
 * is documented in firmware-profiles/README.md). The same struct prof drives
 * the real link drivers (serial settings, framing, keying, dialogues,
 * capabilities: MTU, rate, duplex) and the simulator (hw-sim/), which also
 * reads the [sim] channel defaults.
 *
 * Parse -> validate -> normalise: prof_load_*() fill a complete, checked
 * struct or return an error naming file:line and the allowed range. Every
 * field is bounded; an unknown section or key is an error; a key set twice
 * is an error (except the ordered dialogue steps, which repeat by design).
 * Profiles are data: no modem names appear in C. Quirks are named flags and
 * dialogue steps.
 *
 * Glossary
 *   air rate     bits per second on the radio channel (not the serial baud)
 *   turnaround   time for a half-duplex link to change direction: the far
 *                side cannot receive until this has passed after our carrier
 *                drops (PTT release, AGC recovery, modem resync)
 *   latency      modem/interleaver delay: a byte handed over at t arrives
 *                at the far modem's serial port no earlier than t + latency
 *                + its airtime
 *   max_tx       longest single transmission the firmware (or regulation)
 *                allows; the link layer bounds its bursts by it
 *   mtu          largest frame the link layer should hand the driver
 *   buffer       the modem's own transmit buffer; when full the modem stops
 *                accepting (flow control)
 *
 * Ownership: the caller owns the struct prof (embedded or on the stack);
 * prof_free() releases whatever the loader allocated and must be called once
 * after a successful load (today the struct has no heap parts; callers still
 * pair load/free so that may change). Read-only after load; any thread.
 */
#ifndef GW_FIRMWARE_PROFILES_PROFILE_H
#define GW_FIRMWARE_PROFILES_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROF_NAME_MAX 48        /* profile name, including NUL */
#define PROF_DESC_MAX 160       /* one-line description, including NUL */
#define PROF_RATES_MAX 16       /* rates a modem can switch between */
#define PROF_STEPS_MAX 24       /* steps per dialogue */
#define PROF_TEXT_MAX 96        /* bytes of one send/expect/abort text */
#define PROF_ABORTS_MAX 8       /* abort strings per dialogue */

/* Enumerations with names, generated from X-macro lists: XX(NAME, "text").
 * The text is the spelling used in profile files. */
#define PROF_PARITY_MAP(XX) \
	XX(NONE, "none") XX(EVEN, "even") XX(ODD, "odd")
#define PROF_FLOW_MAP(XX) \
	XX(NONE, "none") XX(RTSCTS, "rtscts") XX(XONXOFF, "xonxoff")
#define PROF_FRAMING_MAP(XX) \
	XX(RAW, "raw") XX(KISS, "kiss")
#define PROF_DUPLEX_MAP(XX) \
	XX(HALF, "half") XX(FULL, "full")
/* How the transmitter is keyed: not at all (the modem keys itself when it
 * has data), by raising RTS or DTR, or in-band (a command or the KISS
 * framing itself). */
#define PROF_KEYING_MAP(XX) \
	XX(NONE, "none") XX(RTS, "rts") XX(DTR, "dtr") XX(INBAND, "inband")
/* Where the host learns the carrier state: nowhere (assume it is up), the
 * DCD modem line, or in-band result codes (CONNECT / NO CARRIER). */
#define PROF_CARRIER_MAP(XX) \
	XX(NONE, "none") XX(DCD, "dcd") XX(INBAND, "inband")

#define PROF__ENUM(prefix, name, text) PROF_##prefix##_##name,
#define PROF__PAR(n, t) PROF__ENUM(PARITY, n, t)
#define PROF__FLO(n, t) PROF__ENUM(FLOW, n, t)
#define PROF__FRA(n, t) PROF__ENUM(FRAMING, n, t)
#define PROF__DUP(n, t) PROF__ENUM(DUPLEX, n, t)
#define PROF__KEY(n, t) PROF__ENUM(KEYING, n, t)
#define PROF__CAR(n, t) PROF__ENUM(CARRIER, n, t)
enum prof_parity { PROF_PARITY_MAP(PROF__PAR) };
enum prof_flow { PROF_FLOW_MAP(PROF__FLO) };
enum prof_framing { PROF_FRAMING_MAP(PROF__FRA) };
enum prof_duplex { PROF_DUPLEX_MAP(PROF__DUP) };
enum prof_keying { PROF_KEYING_MAP(PROF__KEY) };
enum prof_carrier { PROF_CARRIER_MAP(PROF__CAR) };
#undef PROF__PAR
#undef PROF__FLO
#undef PROF__FRA
#undef PROF__DUP
#undef PROF__KEY
#undef PROF__CAR
#undef PROF__ENUM

/* Names as written in profile files ("rtscts"); "?" when out of range. */
const char *prof_parity_name(int v);
const char *prof_flow_name(int v);
const char *prof_framing_name(int v);
const char *prof_duplex_name(int v);
const char *prof_keying_name(int v);
const char *prof_carrier_name(int v);

/* [serial]: the host side of the modem. */
struct prof_serial {
	int64_t baud;           /* bit/s on the wire; a standard rate */
	int64_t data_bits;      /* 5..8 */
	int parity;             /* enum prof_parity */
	int64_t stop_bits;      /* 1..2 */
	int flow;               /* enum prof_flow */
};

/* [air]: the radio channel as the modem presents it. */
struct prof_air {
	int64_t rate_bps;       /* current (default) air rate */
	int64_t rates_bps[PROF_RATES_MAX]; /* ascending; includes rate_bps */
	int n_rates;            /* >= 1 */
	int duplex;             /* enum prof_duplex */
	int64_t turnaround_ms;  /* direction change cost (half duplex) */
	int64_t latency_ms;     /* interleaver + modem delay, one way */
	int64_t max_tx_ms;      /* longest single transmission */
	int64_t mtu_bytes;      /* largest frame handed to the driver */
};

/* [modem]: framing, keying, carrier and buffering. */
struct prof_modem {
	int framing;            /* enum prof_framing */
	int keying;             /* enum prof_keying */
	int carrier;            /* enum prof_carrier */
	int64_t buffer_bytes;   /* modem transmit buffer */
};

/* [kiss]: TNC parameters sent as KISS commands (framing = kiss). Times are
 * in ms here; on the wire KISS counts 10 ms units. */
struct prof_kiss {
	int64_t port;           /* KISS port nibble, 0..15 */
	int64_t txdelay_ms;     /* key-up to first data, 0..2550 */
	int64_t persist;        /* p-persistence 0..255 (p = (v+1)/256) */
	int64_t slottime_ms;    /* 0..2550 */
	int64_t txtail_ms;      /* 0..2550 */
};

/* [quirks]: named deviations from the textbook behaviour. */
struct prof_quirks {
	bool echo;              /* echoes command-mode input (ignores ATE0) */
	bool seven_bit;         /* data path is not 8-bit clean */
	bool flush_on_carrier_loss; /* drops its tx buffer when carrier goes */
	bool hangup_by_dtr;     /* hang up by dropping DTR, not a dialogue */
	bool kiss_exit_on_close; /* send KISS "return" (C0 FF C0) at close */
	bool busy_means_channel; /* BUSY = channel occupied, retry later */
};

/* [sim]: channel defaults for the simulator (ignored by real drivers). */
struct prof_sim {
	double ber;             /* background random bit error rate, 0..0.5 */
	double burst_ber;       /* bit error rate inside a burst, 0..0.5 */
	int64_t burst_interval_ms; /* mean time between bursts; 0 = none */
	int64_t burst_length_ms;   /* mean burst duration */
	int64_t fade_interval_ms;  /* mean time between fades; 0 = none */
	int64_t fade_length_ms;    /* mean fade (signal lost) duration */
	int64_t holdover_ms;    /* a modem whose buffer runs dry stays keyed
				 * this long for more data before it unkeys */
};

/* Dialogue steps ([init], [dial], [hangup]), run in file order. */
enum prof_step_kind {
	PROF_STEP_SEND,         /* write text to the modem */
	PROF_STEP_EXPECT,       /* wait up to timeout_ms for text to arrive */
	PROF_STEP_PAUSE,        /* wait timeout_ms, sending nothing */
};

struct prof_step {
	int kind;               /* enum prof_step_kind */
	char text[PROF_TEXT_MAX]; /* unescaped bytes; NUL-terminated */
	size_t len;             /* bytes in text (may contain NUL bytes) */
	int64_t timeout_ms;     /* EXPECT: deadline; PAUSE: duration */
	int line;               /* line in the profile file */
};

/* In SEND text, the two bytes "%N" stand for the number/address to dial
 * (from the link configuration); "%%" is a literal '%'. The loader keeps
 * them as written; prof_expand() substitutes. */
struct prof_dialogue {
	struct prof_step steps[PROF_STEPS_MAX];
	int n_steps;
	/* Texts that fail the dialogue at once when seen while an EXPECT step
	 * waits ("NO CARRIER", "BUSY", "ERROR"). */
	char aborts[PROF_ABORTS_MAX][PROF_TEXT_MAX];
	int n_aborts;
};

struct prof {
	char name[PROF_NAME_MAX];
	char description[PROF_DESC_MAX];
	struct prof_serial serial;
	struct prof_air air;
	struct prof_modem modem;
	struct prof_kiss kiss;
	struct prof_quirks quirks;
	struct prof_sim sim;
	struct prof_dialogue init;
	struct prof_dialogue dial;
	struct prof_dialogue hangup;
	char path[512];         /* where it was loaded from (messages) */
};

/* Load and validate a profile. On failure returns GW_ENOENT (cannot open),
 * GW_ESYNTAX, GW_EINVAL or GW_ERANGE and writes "file:line: message" (the
 * first error; parsing goes on so the count is exact) into err; *out is then
 * left zeroed and needs no prof_free(). */
int prof_load_file(const char *path, struct prof *out, char *err,
    size_t errlen);
/* The same from text; path is used in messages only. */
int prof_load_string(const char *text, const char *path, struct prof *out,
    char *err, size_t errlen);
/* Release what a successful load allocated. Safe on a zeroed struct. */
void prof_free(struct prof *p);

/* Validate a file and report every error, not only the first: fn is called
 * once per error with "file:line: message". Returns the error count (0 when
 * the profile is good; a file that cannot be opened counts as one). */
typedef void (*prof_error_fn)(const char *msg, void *arg);
int prof_check_file(const char *path, prof_error_fn fn, void *arg);

/* Resolve a profile name or path to a file path.
 *   - a value containing '/' is a path, used as is; so is one ending in
 *     ".profile" that exists (else it is looked up by its NAME as below);
 *   - otherwise NAME.profile is looked up in dir (if not NULL), then in
 *     $SKYWAVE_PROFILE_DIR, then the source tree's firmware-profiles/ (build
 *     time), then the installed profile directory.
 * Returns 0 with the path in out, GW_ENOENT (err lists where it looked) or
 * GW_EINVAL for a bad name. */
int prof_find(const char *name_or_path, const char *dir, char *out,
    size_t outlen, char *err, size_t errlen);
/* prof_find() then prof_load_file(). */
int prof_load_named(const char *name_or_path, const char *dir,
    struct prof *out, char *err, size_t errlen);

/* Airtime in ms of n bytes at the current air rate (8 bits a byte, rounded
 * up), not counting turnaround or latency. */
int64_t prof_airtime_ms(const struct prof *p, size_t n);
/* Bytes that fit in ms of airtime at the current rate (rounded down). */
size_t prof_bytes_in_ms(const struct prof *p, int64_t ms);
/* True if rate_bps is one of the rates the modem can switch between. */
bool prof_rate_allowed(const struct prof *p, int64_t rate_bps);

/* Expand a SEND step's text: "%N" -> number, "%%" -> '%'. Returns the
 * length written (< outlen, NUL-terminated) or GW_ETOOBIG. */
int prof_expand(const struct prof_step *s, const char *number, char *out,
    size_t outlen);

/* Escape bytes for display or for writing back into a profile ("\r",
 * "\x1b"). Always NUL-terminates; truncates. */
void prof_escape(const char *bytes, size_t n, char *out, size_t outlen);

/* `skywave profile check FILE` is prof_check_main() in prof_check.h. */

#endif
