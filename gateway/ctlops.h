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
struct intake;
struct planner;
struct policy;
struct ctlops;
struct monitor_cfg;

struct ctlops_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	struct intake *intake;       /* routes, policy, waking workers */
	const struct planner *planner; /* deadlines at risk; may be NULL */
	struct airlink *const *links;
	const size_t *nlinks;        /* the daemon's count, read each time */
	const char *hostname;
	const char *path;            /* socket path */
	const char *group;           /* operator group, "" or NULL: none */
	struct policy *const *policy; /* band names; the daemon's, read each
					time (a reload replaces it) */
	const struct monitor_cfg *alerts; /* thresholds (copied) */
	int64_t risk_slack_ms;       /* deadlines panel: slack below this */
	const char *metrics_listen;  /* "host:port" on loopback, "" none */
};

/* Create the socket and serve. 0, or the control_new error (logged). */
int ctlops_start(const struct ctlops_env *env, struct ctlops **out);
void ctlops_close(struct ctlops *c, void (*done)(void *), void *arg);
/* A reload: new alert thresholds and risk slack. */
void ctlops_reconfigure(struct ctlops *c, const struct monitor_cfg *alerts,
    int64_t risk_slack_ms);

#endif
