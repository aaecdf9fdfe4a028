/*
 * queue_rcpt.c - the recipient state machine (see queue_rcpt.h).
 *
 * Pure functions, no state; used by the owner thread (queue_db.c) to vet
 * every change before it is written, and by tools to print names.
 *
 *   submit                       partial_finish
 *     |      INCOMING --------------------+
 *     v                                   v
 *   QUEUED <------------------------------+----------------------+
 *     |  ^                                 \ release, requeue     |
 *     |  | abort, recovery at open          \                     |
 *     |  |                                 HELD <--hold-- QUEUED, |
 *take v  |                                                DEFERRED |
 *   INFLIGHT --done--> RELAYED | DELIVERED (final)                |
 *     |  |  \                                                     |
 *     |  |   +--alternate--> REDIRECTED (final; adds a QUEUED      |
 *     |  |                   recipient for the ARCPT address)     |
 *     |  +--tempfail--> DEFERRED --take when due--> INFLIGHT      |
 *     |                    +------requeue, flush------------------+
 *     +--permfail--> FAILED --DSN queued--> DSN_QUEUED (final)
 *
 *   Also: QUEUED, DEFERRED --cancel, expiry--> FAILED; HELD --cancel-->
 *   FAILED; QUEUED, DEFERRED --redirect before the deadline-->
 *   REDIRECTED; QUEUED --requeue--> QUEUED on another route.
 *
 * Transitions (operation in queue_db.c that performs it):
 *   QUEUED     -> INFLIGHT     queue_update: scheduler takes it
 *   QUEUED     -> QUEUED       queue_requeue / queue_update with a route
 *   QUEUED     -> HELD         queue_hold
 *   QUEUED     -> FAILED       queue_cancel, expiry (queue_update)
 *   QUEUED     -> REDIRECTED   queue_update: deadline cannot be met
 *   DEFERRED   -> INFLIGHT     queue_update: retry is due
 *   DEFERRED   -> QUEUED       queue_requeue, flush (queue_update)
 *   DEFERRED   -> HELD|FAILED|REDIRECTED   as for QUEUED
 *   INFLIGHT   -> RELAYED      queue_update: far gateway committed it
 *   INFLIGHT   -> DELIVERED    queue_update: final delivery done
 *   INFLIGHT   -> DEFERRED     queue_update: temporary failure
 *   INFLIGHT   -> FAILED       queue_update: permanent failure
 *   INFLIGHT   -> REDIRECTED   queue_update: primary failed, alternate
 *   INFLIGHT   -> QUEUED       recovery at open; attempt aborted
 *   HELD       -> QUEUED       queue_release, queue_requeue
 *   HELD       -> FAILED       queue_cancel
 *   FAILED     -> DSN_QUEUED   queue_update: the DSN is queued
 *   INCOMING   -> QUEUED       queue_partial_finish (internal only)
 *
 * Invariants per state:
 *   QUEUED      eligible for selection once next_attempt <= now (0 = now).
 *   DEFERRED    attempts >= 1 when reached from INFLIGHT; next_attempt set;
 *               last_error/last_status describe the failure.
 *   INFLIGHT    owned by one attempt; never selected; reverts to QUEUED at
 *               open (nothing survives a restart in flight).
 *   HELD        never selected; only an operator (release/cancel/requeue)
 *               moves it.
 *   FAILED      a DSN is owed; the message content is kept for it.
 *   INCOMING    belongs to an unfinished partial transfer; invisible to
 *               selection, airtime and operator actions.
 *   final       RELAYED, DELIVERED, REDIRECTED, DSN_QUEUED: no further
 *               change; once every recipient of a message is final the
 *               message and its content are deleted and its id is kept for
 *               duplicate suppression.
 */
#include "queue/queue_rcpt.h"

#include <string.h>

static const char *const rstate_names[] = {
#define XX(name, val, str) [val] = str,
	QUEUE_RSTATE_MAP(XX)
#undef XX
};

#define B(s) (1u << QUEUE_R_##s)

/* allowed[from] = mask of legal targets */
static const unsigned allowed[QUEUE_R__COUNT] = {
	[QUEUE_R_QUEUED] = B(INFLIGHT) | B(QUEUED) | B(HELD) | B(FAILED) |
	    B(REDIRECTED),
	[QUEUE_R_DEFERRED] = B(INFLIGHT) | B(QUEUED) | B(HELD) | B(FAILED) |
	    B(REDIRECTED),
	[QUEUE_R_INFLIGHT] = B(RELAYED) | B(DELIVERED) | B(DEFERRED) |
	    B(FAILED) | B(REDIRECTED) | B(QUEUED),
	[QUEUE_R_HELD] = B(QUEUED) | B(FAILED),
	[QUEUE_R_RELAYED] = 0,
	[QUEUE_R_DELIVERED] = 0,
	[QUEUE_R_REDIRECTED] = 0,
	[QUEUE_R_FAILED] = B(DSN_QUEUED),
	[QUEUE_R_DSN_QUEUED] = 0,
	[QUEUE_R_INCOMING] = B(QUEUED),
};

#undef B

const char *
queue_rstate_name(int state)
{
	if (state < 0 || state >= QUEUE_R__COUNT)
		return "?";
	return rstate_names[state];
}

int
queue_rstate_parse(const char *name)
{
	for (int i = 0; i < QUEUE_R__COUNT; i++)
		if (strcmp(rstate_names[i], name) == 0)
			return i;
	return -1;
}

bool
queue_rcpt_may(enum queue_rstate from, enum queue_rstate to)
{
	if ((int)from < 0 || from >= QUEUE_R__COUNT || (int)to < 0 ||
	    to >= QUEUE_R__COUNT)
		return false;
	return (allowed[from] & (1u << to)) != 0;
}

bool
queue_rstate_final(enum queue_rstate s)
{
	return s == QUEUE_R_RELAYED || s == QUEUE_R_DELIVERED ||
	    s == QUEUE_R_REDIRECTED || s == QUEUE_R_DSN_QUEUED;
}

bool
queue_rstate_pending(enum queue_rstate s)
{
	return s == QUEUE_R_QUEUED || s == QUEUE_R_DEFERRED ||
	    s == QUEUE_R_INFLIGHT;
}
