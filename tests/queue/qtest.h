/*
 * qtest.h - helpers shared by the queue tests: a loop, a queue in a fresh
 * directory, envelopes, and waiting for callbacks.
 */
#ifndef GW_TESTS_QUEUE_QTEST_H
#define GW_TESTS_QUEUE_QTEST_H

#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "queue/queue.h"

#include <uv.h>

struct qt {
	uv_loop_t loop;
	struct queue *q;
	char dir[512];
	char path[600];
	struct clk_virtual clock;
	struct queue_opts opts;
	bool no_audit; /* teardown skips the invariant audit */
};

/* Fresh directory, virtual clock at wall 1800000000, queue opened. */
void qt_setup(struct qt *t, const char *tag);
/* Open again on the same path (after qt_close). */
int qt_reopen(struct qt *t);
void qt_close(struct qt *t);
/* Close, audit the database's invariants (unless no_audit), free, remove
 * the directory. */
void qt_teardown(struct qt *t);
/* Run the loop until *flag becomes true (or 10 s of wall time). */
void qt_wait(struct qt *t, const bool *flag);

/* An envelope with n recipients addr "r<i>@x.test" on route, band. */
struct queue_envelope *qt_env(int band, size_t n, const char *route);

/* Synchronous wrappers (run the loop until done); return the status. */
int qt_submit(struct qt *t, struct queue_envelope *env, const void *data,
    size_t len, uint8_t id[QUEUE_ID_LEN]);
int qt_select(struct qt *t, const char *route, size_t max,
    int64_t *rids, uint8_t (*ids)[QUEUE_ID_LEN], size_t *n);
int qt_update1(struct qt *t, int64_t rid, enum queue_rstate to,
    const char *route);
int qt_value(struct qt *t, int op, const uint8_t id[QUEUE_ID_LEN],
    const char *text, int64_t *value);
struct queue_msg_info;
/* Loads into a heap copy of the interesting bits: rid and state per rcpt. */
int qt_states(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t *rids,
    int *states, size_t *n);
int qt_read(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t off,
    size_t max, struct buf *out, int64_t *total);
int qt_ahead(struct qt *t, const char *route, const uint8_t id[QUEUE_ID_LEN],
    int64_t *bytes);

enum { QT_HOLD, QT_RELEASE, QT_CANCEL, QT_REQUEUE, QT_KNOWN };

#endif
