/*
 * sweep.h - at start, finish the failures that a stop or crash left half
 * done.
 *
 * A recipient in FAILED means "a DSN may still be owed": the runners move
 * it on to DSN_QUEUED in the same transaction that queues its DSN, so a
 * FAILED row found at start is one whose report never got stored (a crash
 * between the two, or a queue error at the time). The sweep lists them
 * (queue_list), and message by message builds one failure DSN for the
 * recipients that are owed one (dsn_owed), from the status and reason the
 * queue recorded, and stores it together with FAILED -> DSN_QUEUED for
 * every FAILED recipient of the message (intake_fail, the front door,
 * so the report is routed like any other); when
 * none is owed the recipients just move on. The message is then collected
 * by the queue once nothing else is left to do for it.
 *
 * Owner: the daemon, on the loop thread. One pass, messages one at a time
 * (a start-up job: it never competes with the runners for the queue
 * beyond one request at a time). The done callback runs once, also after
 * errors (which are logged; the rows stay FAILED for the next start).
 */
#ifndef GW_GATEWAY_SWEEP_H
#define GW_GATEWAY_SWEEP_H

#include "common/clock.h"

#include <stddef.h>
#include <uv.h>

struct intake;
struct queue;

struct sweep_env {
	uv_loop_t *loop;
	struct queue *queue;
	struct intake *intake;     /* routes and stores the DSNs */
	const struct gw_clock *clock;
	const char *hostname;      /* Reporting-MTA; borrowed for the pass */
};

/* Called once at the end: recipients moved on, DSNs queued. The pass is
 * freed right after it returns (forget the handle). */
typedef void (*sweep_done_cb)(void *arg, size_t rcpts, size_t dsns);

struct sweep;

/* Start a pass. 0 (done will be called), or an error from the queue (done
 * is not called). */
int sweep_start(const struct sweep_env *env, sweep_done_cb done, void *arg,
    struct sweep **out);
/* Before done: stop caring; done is not called any more, and the pass
 * frees itself when its queue request in progress completes (the queue
 * completes every request, also when it closes). */
void sweep_cancel(struct sweep *s);

#endif
