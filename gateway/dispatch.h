/*
 * dispatch.h - the daemon's runner for mail that leaves this gateway by a
 * route other than a radio link: local Maildir delivery, onward SMTP/LMTP,
 * and recipients no route covers (failed 5.4.4). It also writes the DSNs
 * that these outcomes owe.
 *
 *   queue --select(route)--> dispatch --deliver_start--> maildir | smtpc
 *   queue <--recipient outcome, DSN-- dispatch <--outcomes--
 *
 * Each local route is worked one message at a time (a Maildir or a next hop
 * gains nothing from more), a b2f: route up to five at once (the messages
 * of one B2F proposal block, in scheduling order); routes run side by
 * side. Temporary failures are
 * deferred with the band's backoff.
 *
 * Thread: the loop thread. Owner: the daemon.
 */
#ifndef GW_GATEWAY_DISPATCH_H
#define GW_GATEWAY_DISPATCH_H

#include "common/clock.h"
#include "gateway/config.h"
#include "queue/queue.h"

#include <uv.h>

struct dispatch;
struct route_table;
struct policy;
struct planner;
struct conneg_table;

struct dispatch_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	const char *hostname;
	/* The owner's current capability table (a reload may swap it), for
	 * CONPERM/DRUCOF conversion before final delivery (maildir, lmtp
	 * routes); NULL or *caps NULL: delivered as stored. */
	struct conneg_table *const *caps;
};

/* Start working the local routes of cfg. routes/policy are borrowed (see
 * dispatch_reconfigure). */
struct dispatch *dispatch_new(const struct dispatch_env *env,
    const struct config *cfg, const struct route_table *routes,
    const struct policy *policy);

/* New routes after a reload (the table must outlive the next call). */
void dispatch_reconfigure(struct dispatch *d, const struct config *cfg,
    const struct route_table *routes, const struct policy *policy);

/* Look at the queue now (a message was committed). */
void dispatch_kick(struct dispatch *d);

/* Store a message whose recipients are routed by the current table (the
 * route is the target spec, e.g. "link:hf1", "maildir:/var/mail/%u"), then
 * wake the runners. Same contract as queue_submit. */
int dispatch_submit(struct dispatch *d, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *arg);

/* The same, plus n recipient changes in the same transaction
 * (queue_submit_update): e.g. a DSN and the original's FAILED -> DSN_QUEUED
 * or REDIRECTED. */
int dispatch_submit_update(struct dispatch *d, struct queue_envelope *env,
    struct buf *content, const struct queue_change *ch, size_t n,
    queue_submit_cb cb, void *arg);

/* The route target spec the current table gives addr ("maildir:...",
 * "link:hf1"), or NULL when no route covers it. Valid until the next
 * reconfigure. */
const char *dispatch_route_for(const struct dispatch *d, const char *addr);
/* Does a configured [route] line have this (non-link) target? A message
 * requeued onto any other target would wait for a runner nobody starts. */
bool dispatch_serves(const struct dispatch *d, const char *spec);
/* The policy in force (band names for the operator's tool). */
const struct policy *dispatch_policy(const struct dispatch *d);

/* Wake whatever works route spec (a local runner or a link). */
void dispatch_kick_route(struct dispatch *d, const char *spec);

/* The scheduler glue (borrowed, may be NULL): local routes become planner
 * routes; each attempt is a planner job (a BY;R recipient whose deadline
 * has passed is not delivered, the planner fails it); outcomes are
 * reported; a redirected recipient is delivered with the redirect trace
 * header its primary recorded. */
void dispatch_set_planner(struct dispatch *d, struct planner *p);

/* The agent for b2f: routes (deliver_set_b2f). */
void dispatch_set_b2f(struct dispatch *d, deliver_agent_fn fn, void *agent);

/* Called when a link-routed message was committed (wake that link). */
typedef void (*dispatch_link_kick_fn)(void *arg, const char *link_name);
void dispatch_set_link_kick(struct dispatch *d, dispatch_link_kick_fn fn,
    void *arg);

/* Stop: running deliveries finish (or are deferred), then done(arg). */
void dispatch_close(struct dispatch *d, void (*done)(void *), void *arg);

#endif
