/*
 * queue_rcpt.h - the recipient state machine of the queue.
 *
 * Every recipient row carries one of these states. The values are stored in
 * the database: never renumber, only append. The diagram, the transitions
 * (with the operation performing each) and the per-state invariants are in
 * queue_rcpt.c; queue_rcpt_may() is the one place that says what is legal.
 */
#ifndef GW_QUEUE_QUEUE_RCPT_H
#define GW_QUEUE_QUEUE_RCPT_H

#include <stdbool.h>

/* XX(NAME, value, "name") */
#define QUEUE_RSTATE_MAP(XX)                    \
	XX(QUEUED, 0, "queued")                 \
	XX(DEFERRED, 1, "deferred")             \
	XX(INFLIGHT, 2, "inflight")             \
	XX(HELD, 3, "held")                     \
	XX(RELAYED, 4, "relayed")               \
	XX(DELIVERED, 5, "delivered")           \
	XX(REDIRECTED, 6, "redirected")         \
	XX(FAILED, 7, "failed")                 \
	XX(DSN_QUEUED, 8, "dsn_queued")         \
	XX(INCOMING, 9, "incoming")

enum queue_rstate {
#define QUEUE__RS_ENUM(name, val, str) QUEUE_R_##name = val,
	QUEUE_RSTATE_MAP(QUEUE__RS_ENUM)
#undef QUEUE__RS_ENUM
	QUEUE_R__COUNT
};

/* "queued", ... or "?" for a value outside the enum. */
const char *queue_rstate_name(int state);
/* Parse a name; returns the state or -1. */
int queue_rstate_parse(const char *name);

/* True if from -> to is a legal transition. */
bool queue_rcpt_may(enum queue_rstate from, enum queue_rstate to);

/* No further work will ever be done for the recipient. */
bool queue_rstate_final(enum queue_rstate s);

/* Counts as queued on its route for airtime accounting (queued, deferred,
 * in flight). */
bool queue_rstate_pending(enum queue_rstate s);

#endif
