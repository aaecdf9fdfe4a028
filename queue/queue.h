/*
 * queue.h - the durable mail queue: public, asynchronous API for the loop
 * thread.
 *
 * The queue is the product's promise: a message that got 250 is never lost.
 * One owner thread holds the only sqlite3 connection; the loop thread sends
 * requests and gets completions back through uv_async (callbacks always run on
 * the loop thread that opened the queue). No SQLite call ever runs on the loop
 * thread.
 *
 * This header fixes the submission contract used by the SMTP front end and
 * the transfer protocol; the queue module owns and extends the rest.
 */
#ifndef GW_QUEUE_QUEUE_H
#define GW_QUEUE_QUEUE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

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

struct queue;

/* Completion of queue_submit, on the loop thread. status is 0 once one
 * transaction holding the message, its content and every recipient has
 * committed durably; GW_ENOSPC (SMTP: 452 4.3.1), GW_EIO (451 4.3.0) or
 * GW_ECANCELED (queue closing) otherwise, and then nothing was stored. */
typedef void (*queue_submit_cb)(int status, const uint8_t id[QUEUE_ID_LEN],
    void *arg);

/* Store a message. Takes ownership of env and of content's bytes (content is
 * left empty). The callback runs exactly once. Returns 0, or a negative code
 * without calling back (e.g. GW_ECLOSED). */
int queue_submit(struct queue *q, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *arg);

#endif
