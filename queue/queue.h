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
#include "common/clock.h"
#include "queue/queue_rcpt.h"
#include "queue/queue_types.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct queue;


/* Store a message. Takes ownership of env and of content's bytes (content is
 * left empty). The callback runs exactly once. Returns 0, or a negative code
 * without calling back (e.g. GW_ECLOSED; GW_EINVAL without recipients), and
 * then env and content remain the caller's. A given non-zero env->id that
 * was already committed fails with GW_EDUP (nothing stored). */
int queue_submit(struct queue *q, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *arg);

/* ------------------------------------------------------------------------
 * Everything below extends the submission contract: opening and closing,
 * the scheduler's queries, recipient transitions, content reads, partial
 * incoming transfers, duplicate suppression, operator actions, events.
 *
 * Threads and ownership (for every asynchronous call below):
 * - Call only from the loop thread that opened the queue. Callbacks run on
 *   that loop thread, exactly once, after the owner thread finished the
 *   request (for writes: after the transaction holding it has committed).
 * - Input strings and arrays are copied before the call returns.
 * - Pointers handed to a callback are valid only during the callback.
 * - A call returns 0 (callback will run) or a negative code without calling
 *   back: GW_ECLOSED once queue_close() was called, GW_EINVAL for bad input.
 * - Pending requests at queue_close() complete with GW_ECANCELED.
 * - Every storage failure is one of GW_ENOSPC (disk or page limit full),
 *   GW_EIO (I/O error), GW_ECORRUPT (database damaged); after ENOSPC/EIO
 *   the failed request is not stored and later requests work again once
 *   the cause is gone. One exception: when the commit's fsync itself fails
 *   the kernel may still have written the data, so the request can show up
 *   after a restart (a possible duplicate, never a loss).
 * Times are wall-clock Unix seconds taken from opts.clock on the loop thread
 * when the request is made.
 * ------------------------------------------------------------------------ */

enum queue_check {
	QUEUE_CHECK_NONE = 0, /* no check at open */
	QUEUE_CHECK_QUICK,    /* PRAGMA quick_check of the whole file */
	QUEUE_CHECK_FULL,     /* PRAGMA integrity_check of the whole file */
	QUEUE_CHECK_STATE,    /* quick_check of every table but the content
	                       * rows (default: the queue's state, in a
	                       * fraction of the time; content is covered end
	                       * to end by SHA-256 and by QUICK/FULL) */
};

struct queue_opts {
	const char *path;            /* database file (created if missing) */
	int64_t dup_retention_s;     /* remember finished ids this long */
	int64_t event_retention_s;   /* keep event log rows this long */
	int64_t max_page_count;      /* test/ops knob: SQLite page limit, 0 = none */
	const struct gw_clock *clock; /* NULL: the system clock */
	enum queue_check check;      /* integrity check at open */
	unsigned max_batch;          /* requests per transaction (group commit) */
	const char *vfs;             /* test/ops knob: SQLite VFS name, NULL =
	                              * the default (fault injection in tests) */
};

#define QUEUE_DUP_RETENTION_DEFAULT_S (7 * 86400)
#define QUEUE_EVENT_RETENTION_DEFAULT_S (7 * 86400)
#define QUEUE_MAX_BATCH_DEFAULT 256u
#define QUEUE_READ_MAX (1u << 20) /* largest queue_read_content maxlen */
#define QUEUE_CHUNK_BYTES 4056u   /* content row size: one 4 KiB page */

/* Defaults: retention 7 days, state check, system clock, no page limit. */
void queue_opts_init(struct queue_opts *o);

/* Open (create, migrate, recover) the queue and start its owner thread.
 * Blocks the caller until the database is open, migrated, recovered (rows
 * in flight back to queued) and checked: call it at start, before the loop
 * serves clients. Returns 0, GW_ECORRUPT (check failed or not a database;
 * the file is left untouched), GW_EVERSION (schema newer than this build),
 * GW_EIO, GW_ENOSPC. */
int queue_open(uv_loop_t *loop, const struct queue_opts *opts,
    struct queue **qp);

/* Stop: requests not yet started complete with GW_ECANCELED, the one in
 * progress finishes, the database is closed, then cb runs on the loop thread
 * and q is freed. */
typedef void (*queue_close_cb)(void *arg);
void queue_close(struct queue *q, queue_close_cb cb, void *arg);

/* Generic completions. */
typedef void (*queue_status_cb)(int status, void *arg);
typedef void (*queue_value_cb)(int status, int64_t value, void *arg);

/* --- scheduler ---------------------------------------------------------- */

/* One recipient ready for work, as selection returns it. */
struct queue_work {
	int64_t rid;                /* recipient row id (stable) */
	uint8_t id[QUEUE_ID_LEN];   /* its message */
	int band;
	int64_t deadline;           /* effective deadline, 0 = none */
	int64_t size;               /* content bytes */
	int64_t arrival;
	enum queue_rstate state;    /* QUEUE_R_QUEUED or QUEUE_R_DEFERRED
				       (queue_list: also INFLIGHT, HELD) */
	int attempts;
	const char *addr;
	const char *route;          /* queue_list only (else NULL) */
	int64_t next_attempt;       /* queue_list only: deferred until */
	/* queue_list of waiting states only (else NULL / 0): */
	const char *sender;         /* the message's reverse path */
	int priority;               /* its MT-PRIORITY value */
	const char *last_error;     /* the recipient's last error, or NULL */
};
typedef void (*queue_select_cb)(int status, const struct queue_work *w,
    size_t n, void *arg);

/* Up to max recipients on route ("" = not yet routed) that may be worked on
 * now: queued, or deferred with next attempt due; never held or in flight.
 * Order: band descending, then earliest effective deadline (none last), then
 * arrival (message order), then recipient order. The effective deadline of a
 * recipient is its ABY deadline if it has an alternate, else the BY
 * deadline, whichever is earlier when both apply. */
int queue_select(struct queue *q, const char *route, size_t max,
    queue_select_cb cb, void *arg);

/* Listing: up to max (1..10000) recipients whose state is in states (a
 * mask of 1 << QUEUE_R_*; 0 = QUEUE_LIST_WAITING) on route (NULL: every
 * route) in band (< 0: every band), in the selection order above. For the
 * operator's `skywave queue list`, and the start-up sweep of FAILED
 * recipients whose DSN is still owed. */
#define QUEUE_LIST_WAITING ((1u << QUEUE_R_QUEUED) | (1u << QUEUE_R_DEFERRED) | \
	(1u << QUEUE_R_INFLIGHT) | (1u << QUEUE_R_HELD))
int queue_list(struct queue *q, const char *route, int band,
    unsigned states, size_t max, queue_select_cb cb, void *arg);

/* Content bytes of the messages that are ahead of message id on route in
 * the selection order (pending: queued, deferred or in flight; not held),
 * each message counted once. value is the byte count; GW_ENOENT when the
 * message has no pending recipient on route. Cost: O(bands) plus the
 * messages ahead within the message's own band and deadline. */
int queue_bytes_ahead(struct queue *q, const char *route,
    const uint8_t id[QUEUE_ID_LEN], queue_value_cb cb, void *arg);

/* --- recipient transitions (struct queue_change: queue_types.h) -------- */

/* Apply n changes atomically: all or none. GW_ESTATE (and a log line) if
 * any is illegal per queue_rcpt.h, GW_ENOENT for an unknown rid, GW_EINVAL
 * for a redirect without an alternate. */
int queue_update(struct queue *q, const struct queue_change *ch, size_t n,
    queue_status_cb cb, void *arg);

/* queue_submit plus n recipient changes in the same transaction, all or
 * nothing: e.g. a DSN message and its originals' FAILED -> DSN_QUEUED, so
 * a crash can neither lose the DSN nor send it twice. Errors as for
 * queue_submit and queue_update. */
int queue_submit_update(struct queue *q, struct queue_envelope *env,
    struct buf *content, const struct queue_change *ch, size_t n,
    queue_submit_cb cb, void *arg);

/* --- messages ----------------------------------------------------------- */

/* Where one recipient stands. */
struct queue_rcpt_status {
	int64_t rid;
	enum queue_rstate state;
	int attempts;
	int64_t next_attempt;
	int64_t deadline;           /* effective deadline, 0 = none */
	const char *last_error;     /* or NULL */
	const char *last_status;    /* enhanced status code, or NULL */
	int64_t parent_rid;         /* redirected from this rid, 0 = original */
};

/* A stored message: env.rcpts[i] and st[i] describe recipient i. */
struct queue_msg_info {
	struct queue_envelope env;
	const struct queue_rcpt_status *st;
	int64_t size;               /* content bytes stored */
	int64_t total;              /* expected content bytes */
	bool complete;              /* false: a partial incoming transfer */
	uint8_t sha256[32];         /* valid when complete */
};
typedef void (*queue_load_cb)(int status, const struct queue_msg_info *m,
    void *arg);
int queue_load(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_load_cb cb, void *arg);

/* Read up to maxlen (<= QUEUE_READ_MAX) content bytes at offset. Only the
 * stored rows covering the range are read (incremental blob I/O); data is
 * NULL/len 0 at or past the end. total is the message's content size. */
typedef void (*queue_read_cb)(int status, const uint8_t *data, size_t len,
    int64_t total, void *arg);
int queue_read_content(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, size_t maxlen, queue_read_cb cb, void *arg);

/* Duplicate suppression: status GW_EDUP if id was committed (still queued,
 * or finished within the retention), else 0. queue_submit with such an id
 * also fails with GW_EDUP and stores nothing. */
int queue_is_committed(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_status_cb cb, void *arg);

/* --- partial incoming transfers ----------------------------------------- */

/* A transfer from the far gateway, stored as it arrives so it resumes after
 * a restart of either side. Invisible to selection until finished.
 * begin: takes env (id required, recipients with routes); value is the
 *   committed offset (0, or where an earlier begin got to). GW_EDUP if the
 *   id was already committed.
 * append: data at offset; offset must equal the committed offset (else
 *   GW_ESTATE with value = committed offset); value is the new offset.
 * offset: value = committed offset, GW_ENOENT if unknown.
 * finish: content complete; its SHA-256 must equal sha256 and its size the
 *   total given at begin. One transaction turns it into a queued message
 *   (recipients queued). GW_ECORRUPT on a mismatch: the partial is dropped
 *   and the sender starts again. GW_ESTATE if bytes are missing.
 * abort: drop it. */
int queue_partial_begin(struct queue *q, struct queue_envelope *env,
    int64_t total, queue_value_cb cb, void *arg);
int queue_partial_append(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    int64_t offset, const void *data, size_t len, queue_value_cb cb,
    void *arg);
int queue_partial_offset(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_value_cb cb, void *arg);
int queue_partial_finish(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const uint8_t sha256[32], queue_status_cb cb, void *arg);
int queue_partial_abort(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_status_cb cb, void *arg);

/* --- operator actions --------------------------------------------------- */

/* Each acts on every recipient of message id for which the transition is
 * legal and leaves the others alone; value is how many changed. GW_ENOENT:
 * no such message; GW_ESTATE: no recipient could change.
 * hold: queued/deferred -> held.  release: held -> queued (due now).
 * cancel: queued/deferred/held -> failed (DSN owed) with reason.
 * requeue: queued/deferred/held -> queued on route, due now. */
int queue_hold(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *reason, queue_value_cb cb, void *arg);
int queue_release(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    queue_value_cb cb, void *arg);
int queue_cancel(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *reason, queue_value_cb cb, void *arg);
int queue_requeue(struct queue *q, const uint8_t id[QUEUE_ID_LEN],
    const char *route, queue_value_cb cb, void *arg);

/* --- event log, statistics, checks -------------------------------------- */

/* One row of the event log (state changes with reasons). */
struct queue_event {
	int64_t eid;                /* increasing */
	int64_t time;
	uint8_t id[QUEUE_ID_LEN];   /* message */
	int64_t rid;                /* recipient, 0 for message events */
	const char *kind;           /* "queued", "state", "partial", ... */
	int old_state;              /* enum queue_rstate, -1 if none */
	int new_state;
	const char *reason;         /* or NULL */
};
typedef void (*queue_events_cb)(int status, const struct queue_event *ev,
    size_t n, void *arg);
/* Up to max events with eid > after, oldest first. */
int queue_events(struct queue *q, int64_t after, size_t max,
    queue_events_cb cb, void *arg);

struct queue_stats {
	int64_t messages;           /* complete messages */
	int64_t partials;           /* partial incoming transfers */
	int64_t content_bytes;      /* content of complete messages */
	int64_t rcpts[QUEUE_R__COUNT]; /* recipients per state */
	int64_t db_bytes;           /* page_count * page_size */
	int64_t commits;            /* transactions committed since open */
	int64_t requests;           /* requests run since open */
};
typedef void (*queue_stats_cb)(int status, const struct queue_stats *s,
    void *arg);
int queue_stats(struct queue *q, queue_stats_cb cb, void *arg);

/* Messages with at least one recipient held by an operator, oldest first,
 * with when and why the latest hold was made (from the event log; 0 and ""
 * if the log no longer has it). The control socket's held list is rebuilt
 * from this at start. */
struct queue_held {
	uint8_t id[QUEUE_ID_LEN];
	int64_t since;
	char reason[64];            /* e.g. "operator uid=0" (truncated) */
};
typedef void (*queue_held_cb)(int status, const struct queue_held *h,
    size_t n, void *arg);
/* Up to max (1..10000) messages. */
int queue_held(struct queue *q, size_t max, queue_held_cb cb, void *arg);

/* Run PRAGMA quick_check (full: integrity_check) over the whole file.
 * GW_ECORRUPT if it reports anything (each finding is logged); nothing is
 * repaired. */
int queue_check(struct queue *q, bool full, queue_status_cb cb, void *arg);

/* Test/ops knob: change the SQLite page limit (0 = lift it). */
int queue_set_max_pages(struct queue *q, int64_t max_pages,
    queue_status_cb cb, void *arg);


#endif
