/*
 * status.h - the operator's snapshot of a running gateway.
 *
 * A plain, bounded value: what the links are doing, what is queued per
 * band, what is on the air, which deadlines are at risk, what is held, and
 * the recent events. The daemon fills one on demand (control_ops.fill_status)
 * from its in-memory state; the control socket sends it as JSON; the
 * `skywave status` command and the console decode it again. Nothing in here
 * points anywhere: a struct status can be copied with memcpy.
 *
 * Glossary:
 *   nominal rate   the profile's air rate, bit/s
 *   measured rate  the link layer's estimate of useful throughput, bit/s
 *   drain          airtime needed to send a band's bytes at the measured rate
 *   slack          deadline minus predicted completion (negative: late)
 *   spark          throughput samples in bytes/s, oldest first, one per
 *                  spark_interval_ms, for the console's sparkline
 *
 * Every array has a fixed maximum; encoders and decoders clamp to it, and
 * strings are truncated to their field (always NUL-terminated).
 *
 * Thread: none of its own; a struct status belongs to whoever holds it.
 */
#ifndef GW_GATEWAY_STATUS_H
#define GW_GATEWAY_STATUS_H

#include "common/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATUS_VERSION 1

#define STATUS_LINKS_MAX 16
#define STATUS_BANDS_MAX 8
#define STATUS_ONAIR_MAX 16
#define STATUS_RISK_MAX 32
#define STATUS_HELD_MAX 32
#define STATUS_EVENTS_MAX 64
#define STATUS_SPARK_MAX 120
#define STATUS_ALERTS_MAX 32

#define STATUS_ID_MAX 48    /* message id: 32 hex digits today */
#define STATUS_NAME_MAX 32  /* link, band, profile short names */
#define STATUS_PEER_MAX 64
#define STATUS_ADDR_MAX 256 /* one address, or a comma-joined list */
#define STATUS_TEXT_MAX 256

/* Link states as the console shows them (the link layer maps its finer
 * states onto these). */
#define STATUS_LINK_STATE_MAP(XX)            \
	XX(DOWN, "down")                     \
	XX(CONNECTING, "connecting")         \
	XX(IDLE, "idle")                     \
	XX(SENDING, "sending")               \
	XX(RECEIVING, "receiving")           \
	XX(TURNAROUND, "turnaround")

enum status_link_state {
#define STATUS__LS_ENUM(n, s) STATUS_LINK_##n,
	STATUS_LINK_STATE_MAP(STATUS__LS_ENUM)
#undef STATUS__LS_ENUM
	STATUS_LINK__COUNT
};

/* What the scheduler does when a deadline is missed, by mode: ARCPT
 * given: redirect to the alternate; BY;R: fail with a 5.4.7 DSN; BY;N: a
 * delayed DSN, and delivery goes on. */
#define STATUS_RISK_ACTION_MAP(XX) \
	XX(NONE, "none")           \
	XX(REDIRECT, "redirect")   \
	XX(FAIL, "fail")           \
	XX(DELAY, "delay")

enum status_risk_action {
#define STATUS__RA_ENUM(n, s) STATUS_RISK_##n,
	STATUS_RISK_ACTION_MAP(STATUS__RA_ENUM)
#undef STATUS__RA_ENUM
	STATUS_RISK__COUNT
};

/* A queued message's state as `skywave queue` shows it. */
#define STATUS_MSG_STATE_MAP(XX)     \
	XX(READY, "ready")           \
	XX(INFLIGHT, "inflight")     \
	XX(DEFERRED, "deferred")     \
	XX(HELD, "held")

enum status_msg_state {
#define STATUS__MS_ENUM(n, s) STATUS_MSG_##n,
	STATUS_MSG_STATE_MAP(STATUS__MS_ENUM)
#undef STATUS__MS_ENUM
	STATUS_MSG__COUNT
};

struct status_link {
	char name[STATUS_NAME_MAX];
	enum status_link_state state;
	bool held;                  /* operator hold on the whole link */
	char profile[STATUS_NAME_MAX * 2];
	char peer[STATUS_PEER_MAX];
	int64_t nominal_bps;
	int64_t measured_bps;       /* 0: not measured yet */
	int64_t tx_bytes, rx_bytes;
	int64_t tx_frames, rx_frames;
	double retx_rate;           /* retransmitted / sent frames, 0..1 */
	int64_t last_good_ms;       /* since the last good frame; -1 never */
	int64_t auth_failures;
	int64_t retransmits;        /* DATA frames sent again */
	int64_t turns;              /* times the turn was handed over */
	int64_t sessions;           /* link sessions established */
	int64_t sessions_lost;      /* sessions lost (peer silent) */
	bool session_up;            /* a link session is established */
	int64_t model_bps;          /* rate the predictor uses, bit/s */
	double ratio;               /* compressed/original seen, 0..1 */
	int64_t down_ms;            /* how long down, -1 up */
	int64_t saved_bytes;        /* stream bytes saved by compression */
	int64_t spark_interval_ms;
	size_t nspark;
	uint32_t spark[STATUS_SPARK_MAX]; /* bytes/s, oldest first */
};

/* Waiting traffic of one band (everything queued, deferred or handed to
 * a link but not on the air now; held messages are in held). */
struct status_band {
	char name[STATUS_NAME_MAX]; /* "Flash", "Routine", "P+3"... */
	int band;                   /* 0 = lowest */
	int64_t messages;
	int64_t bytes;
	int64_t oldest_age_ms;
	int64_t drain_ms;           /* predicted time to send it and what
				       is ahead of it; -1: its link is down
				       or the rate is unknown */
};

struct status_xfer {
	char id[STATUS_ID_MAX];
	char link[STATUS_NAME_MAX];
	char sender[STATUS_ADDR_MAX];
	char rcpts[STATUS_ADDR_MAX]; /* comma-joined, truncated */
	int priority;                /* MT-PRIORITY -9..9 */
	int band;
	int64_t bytes_sent;          /* handed to the link so far */
	int64_t bytes_total;
	bool committing;             /* all sent, far end committing */
	int64_t rate_bps;            /* link rate the ETA uses, bit/s */
	int64_t ahead_bytes;         /* higher-band bytes that preempt it */
	int64_t eta_ms;              /* -1: unknown */
};

struct status_risk {
	char id[STATUS_ID_MAX];
	char sender[STATUS_ADDR_MAX];
	char kind[8];                /* "BY;R", "BY;N" or "ABY" */
	int64_t deadline_s;          /* Unix seconds */
	int64_t predicted_s;         /* predicted completion, Unix seconds */
	int64_t slack_ms;            /* deadline - predicted; < 0 late */
	enum status_risk_action action; /* what a miss does */
	char status[12];             /* FAIL: the DSN's status, "5.4.7" */
	char target[STATUS_ADDR_MAX]; /* ARCPT address for a redirect */
};

/* An operator alert (monitor.h): raised when a threshold is crossed,
 * cleared when it no longer is, acknowledged by an operator. */
struct status_alert {
	char id[STATUS_NAME_MAX * 2]; /* "link_down:hf", "band_age:4" */
	char kind[STATUS_NAME_MAX];  /* link_down, band_age, queue_bytes,
					deadline_missed */
	char text[STATUS_TEXT_MAX];
	int64_t since_s;             /* raised, Unix seconds */
	int64_t cleared_s;           /* 0: still active */
	bool acked;
	char acked_by[STATUS_NAME_MAX]; /* "uid=1000" */
};

struct status_held {
	char id[STATUS_ID_MAX];
	char sender[STATUS_ADDR_MAX];
	char rcpts[STATUS_ADDR_MAX];
	int priority;
	int64_t bytes;
	int64_t since_s;             /* Unix seconds */
	char by[STATUS_NAME_MAX];    /* who held it: "uid=1000" */
};

struct status_event {
	int64_t time_s;              /* Unix seconds */
	char level[8];               /* "err", "warn", "info" */
	char kind[STATUS_NAME_MAX];  /* "link", "redirect", "dsn", "hold"... */
	char text[STATUS_TEXT_MAX];
};

struct status {
	int version;                 /* STATUS_VERSION */
	char gateway[STATUS_PEER_MAX];
	int64_t now_s;               /* when the snapshot was taken */
	int64_t uptime_ms;
	int64_t risk_slack_ms;       /* risk lists slack below this */
	size_t nlinks, nbands, nonair, nrisk, nheld, nevents, nalerts;
	struct status_link links[STATUS_LINKS_MAX];
	struct status_band bands[STATUS_BANDS_MAX];
	struct status_xfer onair[STATUS_ONAIR_MAX];
	struct status_risk risk[STATUS_RISK_MAX];
	struct status_held held[STATUS_HELD_MAX];
	struct status_event events[STATUS_EVENTS_MAX]; /* oldest first */
	struct status_alert alerts[STATUS_ALERTS_MAX];
};

/* One message in the queue (`skywave queue list|show`). */
struct status_msg {
	char id[STATUS_ID_MAX];
	enum status_msg_state state;
	char sender[STATUS_ADDR_MAX];
	char rcpts[STATUS_ADDR_MAX];
	int64_t nrcpts;
	int priority;
	char band[STATUS_NAME_MAX];
	char route[STATUS_ADDR_MAX];
	int64_t bytes;
	int64_t age_ms;
	int64_t deadline_s;          /* 0: none */
	int64_t attempts;
	int64_t next_try_ms;         /* -1: not scheduled */
	char last_error[STATUS_TEXT_MAX];
};

/* Throughput samples for a link's sparkline, kept by the daemon per link:
 * bytes moved are summed into fixed slots of interval_ms; finished slots
 * become bytes/s samples in a ring of STATUS_SPARK_MAX. Slots with no
 * traffic count as 0, however long the gap. Pure; the caller passes the
 * (monotonic) time. */
struct status_sampler {
	int64_t interval_ms;
	int64_t slot_start_ms;     /* start of the slot being filled */
	uint64_t slot_bytes;
	size_t head, n;            /* ring: oldest at head */
	uint32_t ring[STATUS_SPARK_MAX];
};

void status_sampler_init(struct status_sampler *s, int64_t interval_ms,
    int64_t now_ms);
/* Count bytes moved (either direction) at now_ms. */
void status_sampler_add(struct status_sampler *s, int64_t now_ms,
    uint64_t bytes);
/* Close the slots finished by now_ms and copy the samples, oldest first,
 * into l->spark / l->nspark / l->spark_interval_ms. */
void status_sampler_fill(struct status_sampler *s, int64_t now_ms,
    struct status_link *l);

/* Zero a snapshot and set its version. */
void status_init(struct status *st);

/* Encode; returns a new reference (never NULL). Strings that are not valid
 * UTF-8 have their bad bytes replaced by '?'. */
json_t *status_to_json(const struct status *st);
/* Decode into *st (fully overwritten). Unknown members are ignored, missing
 * ones take their zero default, arrays are clamped to their maximum.
 * Returns 0, or GW_EPROTO with a message in err when a member has the wrong
 * type or the version is newer than STATUS_VERSION. */
int status_from_json(const json_t *j, struct status *st, char *err,
    size_t errlen);

json_t *status_msg_to_json(const struct status_msg *m);
int status_msg_from_json(const json_t *j, struct status_msg *m, char *err,
    size_t errlen);

/* Names (never NULL; "?" out of range) and parsing (-1 unknown). */
const char *status_link_state_name(enum status_link_state s);
int status_link_state_parse(const char *s);
const char *status_risk_action_name(enum status_risk_action a);
int status_risk_action_parse(const char *s);
const char *status_msg_state_name(enum status_msg_state s);
int status_msg_state_parse(const char *s);

/* Short human formats shared by `skywave status` and the console; each
 * writes at most len-1 bytes and returns out. */
/* 1234 -> "1.2 kB", 999 -> "999 B" (decimal units) */
char *status_fmt_bytes(int64_t bytes, char *out, size_t len);
/* ms -> "850ms", "12s", "4m05s", "2h10m", "3d04h"; negative: "-12s";
 * -1 as unknown is the caller's business. */
char *status_fmt_ms(int64_t ms, char *out, size_t len);
/* bit/s -> "2400 b/s", "9.6 kb/s" */
char *status_fmt_bps(int64_t bps, char *out, size_t len);

/* A plain-text report for `skywave status` (one section per panel). */
void status_format_text(const struct status *st, struct buf *out);

/* Copy src into dst[size] truncating at a UTF-8 boundary. */
void status_strlcpy(char *dst, const char *src, size_t size);

#endif
