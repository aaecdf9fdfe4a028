/*
 * at_chat.h - the modem dialogue engine (pure state machine).
 *
 * Runs one dialogue of a firmware profile ([init], [dial] or [hangup]: a
 * list of SEND / EXPECT / PAUSE steps plus abort texts, struct
 * prof_dialogue) against a modem's byte stream. The engine takes bytes in
 * and the time now, and produces bytes to send, a deadline, and an outcome;
 * the driver core (drv.c) does the I/O and arms the timer.
 *
 * Matching rules:
 *   - Input is cut into lines at CR or LF; empty lines are skipped. Lines
 *     longer than AT_CHAT_LINE_MAX keep their first AT_CHAT_LINE_MAX bytes.
 *   - An EXPECT step matches when a completed line contains its text (with
 *     leading/trailing CR/LF of the text ignored) anywhere in it. Echoed
 *     commands therefore do not match "OK". If the text ends in a character
 *     that is neither a letter nor a digit (a prompt such as "login:" or
 *     ">"), the unfinished line is checked too, since prompts never end
 *     their line.
 *   - Abort texts (NO CARRIER, BUSY, ERROR, ...) are checked on every
 *     completed line while the dialogue runs, before the EXPECT text; a hit
 *     fails the dialogue with that text as the reason.
 *   - A matched line containing "CONNECT" followed by digits gives the
 *     connect rate ("CONNECT 2400", "CONNECT 1200/ARQ"); plain "CONNECT"
 *     gives rate 0 (unknown).
 *   - SEND text is expanded ("%N" -> the number to dial) and queued at once;
 *     PAUSE waits its timeout_ms; EXPECT waits at most its timeout_ms
 *     (the engine's default_timeout_ms when the step has 0).
 *
 * States:
 *
 *   IDLE --at_chat_start--> RUNNING --last step done--> DONE
 *                              |--abort text / timeout--> FAILED
 *
 *   RUNNING: step < n_steps; the current step is an EXPECT or a PAUSE
 *            (SEND steps complete immediately); deadline_ms is set.
 *   DONE/FAILED: terminal until the next at_chat_start; deadline INT64_MAX.
 *
 * Owner: the driver core; single thread; no I/O, no clock of its own.
 */
#ifndef GW_LINK_DRIVERS_AT_CHAT_H
#define GW_LINK_DRIVERS_AT_CHAT_H

#include "common/buf.h"
#include "firmware-profiles/profile.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AT_CHAT_LINE_MAX 255
#define AT_CHAT_NUMBER_MAX 64

enum at_chat_status {
	AT_CHAT_IDLE = 0,
	AT_CHAT_RUNNING,
	AT_CHAT_DONE,
	AT_CHAT_FAILED,
};

/* Trace: one line per event ("send \"ATZ\\r\"", "recv \"OK\"",
 * "match step=2 \"OK\"", "fail ..."), for logs and golden transcripts. */
typedef void (*at_chat_trace_fn)(void *arg, const char *line);

struct at_chat {
	const struct prof_dialogue *dlg; /* borrowed while running */
	char number[AT_CHAT_NUMBER_MAX];
	int step;                  /* index of the current step */
	enum at_chat_status status;
	int64_t deadline_ms;       /* INT64_MAX when nothing waits */
	int64_t default_timeout_ms;
	char line[AT_CHAT_LINE_MAX + 1];
	size_t line_len;
	uint32_t connect_rate;     /* from CONNECT <rate>, 0 if none */
	int err;                   /* FAILED: GW_ETIMEDOUT, GW_EPROTO (abort
				    * text), GW_ETOOBIG (expansion) */
	int abort_index;           /* FAILED by an abort text: its index */
	char reason[160];          /* FAILED: human-readable */
	size_t used;               /* bytes the last at_chat_input consumed:
				    * less than given when the dialogue ended
				    * inside the input (the rest is data) */
	struct buf out;            /* bytes to write to the modem */
	at_chat_trace_fn trace;
	void *trace_arg;
};

void at_chat_init(struct at_chat *c);
void at_chat_fini(struct at_chat *c);
void at_chat_set_trace(struct at_chat *c, at_chat_trace_fn fn, void *arg);

/* Start dlg (borrowed until DONE/FAILED) at time now_ms; number may be
 * NULL. Runs leading SEND steps at once. Returns the status (an empty
 * dialogue is DONE at once). */
enum at_chat_status at_chat_start(struct at_chat *c,
    const struct prof_dialogue *dlg, const char *number, int64_t now_ms);
/* Bytes read from the modem. Returns the status; c->used tells how many
 * were consumed (input after the line that ended the dialogue, and a CR LF
 * ending that line, is left for the caller). */
enum at_chat_status at_chat_input(struct at_chat *c, const uint8_t *p,
    size_t n, int64_t now_ms);
/* Time passed: fires an expired EXPECT (FAILED) or PAUSE (next step). */
enum at_chat_status at_chat_tick(struct at_chat *c, int64_t now_ms);
/* Give up (the device went away): FAILED with err and reason. */
void at_chat_abort(struct at_chat *c, int err, const char *reason);

static inline int64_t
at_chat_deadline(const struct at_chat *c)
{
	return c->deadline_ms;
}

#endif
