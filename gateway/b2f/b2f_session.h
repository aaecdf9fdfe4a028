/*
 * b2f_session.h - one Winlink B2F session (telnet P2P), sans I/O.
 *
 * The session takes the bytes the peer sent (b2f_session_input) and
 * leaves the bytes to send in its output buffer (b2f_session_output); it
 * never touches a socket, a clock or the queue. What needs the rest of the
 * gateway is asked through callbacks, and answered later (the same call
 * or any later one):
 *
 *   on_proposals  the peer proposed messages: answer each with
 *                 b2f_session_answer() (accept, accept from an offset,
 *                 reject as already received, defer)
 *   on_message    an accepted message arrived whole and decompressed:
 *                 store it, then b2f_session_committed(); the session does
 *                 not take its turn (which tells the peer the message was
 *                 received) before every message of the block is
 *                 committed, and a failed commit ends the session
 *   on_turn       our turn to send: b2f_session_offer() with up to
 *                 B2F_BLOCK_MAX messages (none: "FF", or "FQ" when the
 *                 peer has nothing either)
 *   on_outcome    what became of one offered message: sent (the peer
 *                 took its turn after our data), rejected (the peer has
 *                 it already), deferred
 *   on_end        the session is over (FQ, or an error with the reason);
 *                 the glue closes the connection once the output drained
 *
 * Roles: the listener is the master (it prompts "Callsign :" and
 * "Password :", then sends its handshake ending in '>'); the caller is the
 * slave (answers the prompts, sends its handshake and at once its first
 * proposals). With a password, the master challenges the slave with ";PQ"
 * and requires the right ";PR" (b2f_secure_response); as slave we answer a
 * challenge when we have a password. Proposals are type C (LZHUF, see
 * lzhuf.h); our SID advertises B2 without G, so peers do not use gzip.
 *
 * Callbacks run from inside b2f_session_input/_offer/_answer/_committed;
 * they may call those functions again but must not free the session.
 * Ownership: the glue owns the session (b2f_session_new/_free). Offered
 * payloads are copied. Thread: whichever owns it.
 */
#ifndef GW_GATEWAY_B2F_SESSION_H
#define GW_GATEWAY_B2F_SESSION_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define B2F_BLOCK_MAX 5          /* proposals per block */
#define B2F_MID_MAX 12           /* message id characters */
#define B2F_CALL_MAX 16
#define B2F_STX_MAX 250          /* data bytes per STX block we send */
#define B2F_OFFSET_MAX 999999    /* the protocol's largest offset */

enum b2f_answer { B2F_ACCEPT = '+', B2F_REJECT = '-', B2F_DEFER = '=',
	B2F_RESUME = '!' };

enum b2f_result { B2F_SENT = 0, B2F_REJECTED, B2F_DEFERRED };

struct b2f_proposal {
	char type;               /* 'C' (only C is accepted) */
	char mid[B2F_MID_MAX + 1];
	uint32_t size;           /* uncompressed */
	uint32_t csize;          /* compressed payload */
};

struct b2f_offer {
	char mid[B2F_MID_MAX + 1];
	char title[81];          /* ASCII, 1..80 bytes ("" becomes "-") */
	const uint8_t *payload;  /* lzhuf_encode() output; copied */
	size_t csize;
	uint32_t size;           /* uncompressed */
};

struct b2f_session_cbs {
	void (*on_proposals)(void *arg, const struct b2f_proposal *p,
	    size_t n);
	void (*on_message)(void *arg, size_t idx, const char *mid,
	    const uint8_t *msg, size_t len);
	void (*on_turn)(void *arg);
	void (*on_outcome)(void *arg, size_t idx, enum b2f_result r);
	void (*on_end)(void *arg, int err, const char *why);
};

struct b2f_session_cfg {
	bool master;             /* we listen (true) or we called (false) */
	const char *mycall;
	const char *password;    /* secure login, NULL or "" = none */
	uint32_t challenge;      /* master with password: ;PQ value
				    (random, 0..99999999) */
	const char *locator;     /* "" or NULL: none */
	size_t max_message;      /* largest uncompressed message we take */
};

struct b2f_session;

struct b2f_session *b2f_session_new(const struct b2f_session_cfg *cfg,
    const struct b2f_session_cbs *cbs, void *arg);
void b2f_session_free(struct b2f_session *s);

/* Begin: the master sends its login prompt. */
void b2f_session_start(struct b2f_session *s);

/* Bytes from the peer. Returns 0, or the error that ended the session
 * (on_end has been called then; further input is ignored). */
int b2f_session_input(struct b2f_session *s, const uint8_t *p, size_t n);

/* Bytes to send; the caller takes them (buf_reset or consume). */
struct buf *b2f_session_output(struct b2f_session *s);

/* Answer the proposals of the last on_proposals, in order: answers[i] is
 * enum b2f_answer, offsets[i] the resume offset for B2F_RESUME (then
 * prefix[i]/prefix_len[i] are the first offsets[i] payload bytes we keep
 * from before, copied), else ignored. */
void b2f_session_answer(struct b2f_session *s, const char *answers,
    const uint32_t *offsets, const uint8_t *const *prefix, size_t n);

/* Outcome of storing message idx (from on_message): 0 or an error. */
void b2f_session_committed(struct b2f_session *s, size_t idx, int status);

/* Our turn (after on_turn): n offers, 0..B2F_BLOCK_MAX. */
void b2f_session_offer(struct b2f_session *s, const struct b2f_offer *o,
    size_t n);

/* The peer's callsign (from the login or its handshake), "" before. */
const char *b2f_session_remote(const struct b2f_session *s);
/* The calls the peer asked mail for (";FW:"), space-separated, "" none. */
const char *b2f_session_forward(const struct b2f_session *s);

/* A message being received when the session stopped: its id, the
 * compressed bytes so far (prefix included) and the proposal's size.
 * false when none. For resuming in a later session. */
bool b2f_session_partial(const struct b2f_session *s, char mid[13],
    const uint8_t **data, size_t *len, uint32_t *csize);

/* Stop: a dropped connection; pending offers are reported deferred. */
void b2f_session_abort(struct b2f_session *s, const char *why);

/* True once on_end was called. */
bool b2f_session_ended(const struct b2f_session *s);

/* The 8-digit ;PR answer to a ;PQ challenge for password. */
void b2f_secure_response(const char *challenge, const char *password,
    char out[9]);

#endif
