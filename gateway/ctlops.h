/*
 * ctlops.h - what skywaved answers on its control socket: the status
 * snapshot from in-memory state and the operator actions carried out on the
 * queue and the links (see docs/control-protocol.md).
 *
 * Thread: the loop thread. Owner: the daemon.
 */
#ifndef GW_GATEWAY_CTLOPS_H
#define GW_GATEWAY_CTLOPS_H

#include "common/clock.h"
#include "queue/queue.h"

#include <stddef.h>
#include <uv.h>

struct airlink;
struct dispatch;
struct planner;
struct ctlops;

struct ctlops_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	struct dispatch *dispatch;
	const struct planner *planner; /* deadlines at risk; may be NULL */
	struct airlink *const *links;
	const size_t *nlinks;        /* the daemon's count, read each time */
	const char *hostname;
	const char *path;            /* socket path */
	const char *group;           /* operator group, "" or NULL: none */
};

/* Create the socket and serve. 0, or the control_new error (logged). */
int ctlops_start(const struct ctlops_env *env, struct ctlops **out);
void ctlops_close(struct ctlops *c, void (*done)(void *), void *arg);

#endif
