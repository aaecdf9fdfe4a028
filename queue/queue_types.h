/*
 * queue_types.h - the queue's value types: message ids, envelopes,
 * recipients and recipient changes, without the asynchronous API (no
 * libuv), so the sans-I/O cores (SMTP session, scheduler, DSN builder,
 * transfer protocol) can use them and stay free of the event loop.
 * queue.h includes this header.
 */
#ifndef GW_QUEUE_QUEUE_TYPES_H
#define GW_QUEUE_QUEUE_TYPES_H

#include "queue/queue_rcpt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QUEUE_ID_LEN 16 /* 128-bit message id */

/* RCPT NOTIFY bits (RFC 3461); 0 means NOTIFY was not given. */
#define QUEUE_NOTIFY_NEVER 0x1u
#define QUEUE_NOTIFY_SUCCESS 0x2u
#define QUEUE_NOTIFY_FAILURE 0x4u
#define QUEUE_NOTIFY_DELAY 0x8u

enum queue_ret { QUEUE_RET_NONE = 0, QUEUE_RET_FULL, QUEUE_RET_HDRS };
enum queue_body { QUEUE_BODY_7BIT = 0, QUEUE_BODY_8BITMIME,
	QUEUE_BODY_BINARYMIME };

/* Per-recipient flags. */
#define QUEUE_RCPT_CONNEG 0x1u  /* RCPT ... CONNEG was given */
#define QUEUE_RCPT_DRUCOF 0x2u  /* RCPT ... DRUCOF was given */
/* The content was converted with loss of information on its way (by this
 * gateway or an earlier one): success and relayed DSNs report X.6.4. */
#define QUEUE_RCPT_LOSSY 0x4u

struct queue_rcpt {
	char *addr;       /* forward-path without angle brackets */
	unsigned notify;  /* QUEUE_NOTIFY_* bits, 0 = not given */
	char *orcpt;      /* "addr-type;xtext" exactly as given, or NULL */
	char *arcpt;      /* alternate "addr-type;xtext" as given, or NULL */
	unsigned flags;   /* QUEUE_RCPT_* */
	char *route;      /* route name, or NULL (routing decides later) */
};

/* The envelope of one message. All strings are heap-owned by the struct;
 * queue_envelope_free() frees them. Times are wall-clock Unix seconds. */
struct queue_envelope {
	uint8_t id[QUEUE_ID_LEN];   /* filled by queue_submit if all zero */
	char *reverse_path;         /* "" for the null path <> */
	int priority;               /* MT-PRIORITY value as determined, -9..9 */
	int band;                   /* band the policy mapped it to, 0 = lowest */
	int64_t by_deadline;        /* absolute deliver-by time, 0 = no BY */
	char by_mode;               /* 'R' or 'N' (0 without BY) */
	bool by_trace;              /* BY ...T */
	int64_t aby_deadline;       /* absolute ABY deadline, 0 = none */
	char *envid;                /* ENVID xtext as given, or NULL */
	enum queue_ret ret;
	enum queue_body body;
	int64_t size_declared;      /* SIZE= value, 0 if not given */
	int64_t arrival;            /* arrival time */
	char *client;               /* "helo-name [ip]" of the submitting peer */
	bool conperm;               /* MAIL ... CONPERM */
	struct queue_rcpt *rcpts;
	size_t nrcpts;
};

void queue_envelope_free(struct queue_envelope *env); /* frees env too */
/* A deep copy (free it with queue_envelope_free). */
struct queue_envelope *queue_envelope_dup(const struct queue_envelope *e);

/* One transition. to decides which fields matter:
 *   INFLIGHT                attempts + 1
 *   DEFERRED                next_attempt, error, status (e.g. "4.4.1")
 *   RELAYED, DELIVERED      status (optional)
 *   FAILED                  error, status (DSN owed)
 *   DSN_QUEUED              -
 *   REDIRECTED              error (why), route (the alternate's route): adds
 *                           a recipient for the ARCPT address, queued, with
 *                           the BY deadline and without an alternate
 *   HELD, QUEUED            route (QUEUED only: non-NULL moves the recipient)
 */
struct queue_change {
	int64_t rid;
	enum queue_rstate to;
	int64_t next_attempt;
	const char *error;
	const char *status;
	const char *route;
};

/* Completion of queue_submit, on the loop thread. status is 0 once one
 * transaction holding the message, its content and every recipient has
 * committed durably; GW_ENOSPC (SMTP: 452 4.3.1), GW_EIO (451 4.3.0) or
 * GW_ECANCELED (queue closing) otherwise, and then nothing was stored. */
typedef void (*queue_submit_cb)(int status, const uint8_t id[QUEUE_ID_LEN],
    void *arg);

/* Hex form of an id: 32 lower-case digits plus NUL. */
void queue_id_hex(const uint8_t id[QUEUE_ID_LEN], char out[33]);
/* Parse 32 hex digits; 0 or GW_EINVAL. */
int queue_id_parse(const char *hex, uint8_t id[QUEUE_ID_LEN]);

#endif
