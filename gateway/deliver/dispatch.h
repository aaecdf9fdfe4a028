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
#include "gateway/deliver/deliver.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/sched/retry.h"
#include "queue/queue.h"

#include <uv.h>

struct dispatch;
struct route_table;
struct planner;
struct conneg_table;
struct intake;

struct dispatch_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	const char *hostname;
	/* The front door: DSNs this runner owes are stored through it. */
	struct intake *intake;
	/* The owner's current capability table (a reload may swap it), for
	 * CONPERM/DRUCOF conversion before final delivery (maildir, lmtp
	 * routes); NULL or *caps NULL: delivered as stored. */
	struct conneg_table *const *caps;
};

/* What the runner takes from the configuration. */
struct dispatch_cfg {
	const struct deliver_cfg *delivery; /* [delivery] */
	struct retry_cfg retry;             /* [policy] retry_* keys */
	int64_t max_received;               /* loop threshold */
	bool prio_draft;                    /* relay PRIORITY= too */
	struct policy_draft prio_draft_map;
	const struct route_line *routes;    /* one runner per local target */
	size_t nroutes;
};

/* Start working the local routes of cfg. routes is borrowed (see
 * dispatch_reconfigure). */
struct dispatch *dispatch_new(const struct dispatch_env *env,
    const struct dispatch_cfg *cfg, const struct route_table *routes);

/* New routes after a reload (the table must outlive the next call). */
void dispatch_reconfigure(struct dispatch *d, const struct dispatch_cfg *cfg,
    const struct route_table *routes);

/* Look at the queue now (a message was committed). */
void dispatch_kick(struct dispatch *d);

/* The scheduler glue (borrowed, may be NULL): local routes become planner
 * routes; each attempt is a planner job (a BY;R recipient whose deadline
 * has passed is not delivered, the planner fails it); outcomes are
 * reported; a redirected recipient is delivered with the redirect trace
 * header its primary recorded. */
void dispatch_set_planner(struct dispatch *d, struct planner *p);

/* The agent for b2f: routes (deliver_set_b2f). */
void dispatch_set_b2f(struct dispatch *d, deliver_agent_fn fn, void *agent);

/* Stop: running deliveries finish (or are deferred), then done(arg). */
void dispatch_close(struct dispatch *d, void (*done)(void *), void *arg);

#endif
