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

/* The one list of recipient states. The numbers are stored in the queue
 * database: never renumber. The SQL in queue_db.c writes them with
 * QUEUE_RS_SQL(NAME), so the statements follow this list. */
#define QUEUE_RV_QUEUED 0
#define QUEUE_RV_DEFERRED 1
#define QUEUE_RV_INFLIGHT 2
#define QUEUE_RV_HELD 3
#define QUEUE_RV_RELAYED 4
#define QUEUE_RV_DELIVERED 5
#define QUEUE_RV_REDIRECTED 6
#define QUEUE_RV_FAILED 7
#define QUEUE_RV_DSN_QUEUED 8
#define QUEUE_RV_INCOMING 9

/* XX(NAME, value, "name") */
#define QUEUE_RSTATE_MAP(XX)                    \
	XX(QUEUED, QUEUE_RV_QUEUED, "queued")    \
	XX(DEFERRED, QUEUE_RV_DEFERRED, "deferred") \
	XX(INFLIGHT, QUEUE_RV_INFLIGHT, "inflight") \
	XX(HELD, QUEUE_RV_HELD, "held")          \
	XX(RELAYED, QUEUE_RV_RELAYED, "relayed") \
	XX(DELIVERED, QUEUE_RV_DELIVERED, "delivered") \
	XX(REDIRECTED, QUEUE_RV_REDIRECTED, "redirected") \
	XX(FAILED, QUEUE_RV_FAILED, "failed")    \
	XX(DSN_QUEUED, QUEUE_RV_DSN_QUEUED, "dsn_queued") \
	XX(INCOMING, QUEUE_RV_INCOMING, "incoming")

/* A state's number as an SQL literal: "2" for INFLIGHT. */
#define QUEUE_RS_SQL(name) QUEUE__RS_STR(QUEUE_RV_##name)
#define QUEUE__RS_STR(v) QUEUE__RS_STR2(v)
#define QUEUE__RS_STR2(v) #v

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
