/*
 * intake.h - the front door of the queue. Every message that enters this
 * gateway's queue comes through here, whoever made it: the SMTP server
 * (mail from a client), the link's receiver (mail from the far gateway),
 * the B2F endpoint, the planner (redirected copies, DSNs), the delivery
 * runner and the start-up sweep (DSNs). The front door
 *
 *   1. routes it: each recipient without a route gets the target of the
 *      current route table ("link:hf1", "smtp:relay:25", "maildir:...");
 *   2. commits it, with the recipient changes it settles (a DSN and the
 *      original's FAILED -> DSN_QUEUED, or REDIRECTED) in one transaction;
 *   3. wakes the worker that serves each route once the commit is durable:
 *      a link by name, or the local delivery runner.
 *
 * Workers register their wake-up call; nobody calls up into the daemon.
 *
 *   smtp_server / airlink / b2f / planner / dispatch / sweep
 *         |  intake_submit, intake_fail
 *         v
 *      intake --queue_submit[_update] / queue_update--> queue
 *         |  on commit
 *         v
 *      wake(link NAME) | wake(local)
 *
 * Thread: the loop thread. Owner: the daemon; every module borrows it.
 */
#ifndef GW_GATEWAY_MAIL_INTAKE_H
#define GW_GATEWAY_MAIL_INTAKE_H

#include "common/buf.h"
#include "common/clock.h"
#include "gateway/mail/dsn.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>

struct intake;
struct route_table;
struct policy;

struct intake_env {
	struct queue *queue;
	const struct gw_clock *clock;
	const char *hostname; /* reporting MTA of the DSNs it builds */
};

struct intake *intake_new(const struct intake_env *env);

/* The route table and policy in force (borrowed; after a reload the new
 * ones, which must outlive the next call). */
void intake_set_routes(struct intake *in, const struct route_table *rt,
    const struct policy *pol);

/* Who to wake when a message for a route was committed. link(arg, name)
 * for "link:NAME" routes (name NULL: every link), local(arg) for every
 * other kind. */
typedef void (*intake_link_wake_fn)(void *arg, const char *link_name);
typedef void (*intake_local_wake_fn)(void *arg);
void intake_set_wake(struct intake *in, intake_link_wake_fn link,
    intake_local_wake_fn local, void *arg);

/* Route env's unrouted recipients by the current table (also used by the
 * link's receiver before it stores a message piece by piece). */
void intake_route(const struct intake *in, struct queue_envelope *env);
/* The band the policy gives an MT-PRIORITY (0 without a policy). */
int intake_band(const struct intake *in, int priority);
/* The route target spec for addr, or NULL when no route covers it. */
const char *intake_route_for(const struct intake *in, const char *addr);
/* Is spec the target of a configured [route] line that is not a link? */
bool intake_serves(const struct intake *in, const char *spec);
/* The policy in force (band names for the operator's tool); may be NULL. */
const struct policy *intake_policy(const struct intake *in);

/* Wake whatever works route spec; every route of env. */
void intake_wake(const struct intake *in, const char *spec);
void intake_wake_routes(const struct intake *in,
    const struct queue_envelope *env);
/* Every worker: the local runner and all links (link name NULL). */
void intake_wake_all(const struct intake *in);

/* Route and store a message, with n recipient changes in the same
 * transaction (n may be 0), then wake its workers. Same contract as
 * queue_submit_update: on 0 the queue owns env and cb runs once. */
int intake_submit(struct intake *in, struct queue_envelope *env,
    struct buf *content, const struct queue_change *ch, size_t n,
    queue_submit_cb cb, void *arg);

/* Settle recipients and queue the DSN they owe in one transaction: the
 * one way a failure (or a redirect) is stored. rep (may be NULL or name no
 * recipient: no DSN owed) is built with dsn_build(); a report that may not
 * be sent (null reverse path) stores only ch. cb(status, arg) runs once
 * the transaction is durable (or failed). Returns 0, or an error with
 * nothing stored and cb not called. */
typedef void (*intake_done_cb)(int status, void *arg);
int intake_fail(struct intake *in, const struct dsn_report *rep,
    const struct queue_change *ch, size_t n, intake_done_cb cb, void *arg);
/* The same with a DSN already built about message for_id (dsn may be
 * NULL: ch only); the queue owns dsn on 0, the caller keeps it otherwise.
 * Every DSN stored is logged "event=dsn_queued msg=DSN dsn_for=ORIGINAL",
 * so one id greps a message's whole life. */
int intake_fail_built(struct intake *in, struct queue_envelope *dsn,
    struct buf *content, const struct queue_change *ch, size_t n,
    const uint8_t for_id[QUEUE_ID_LEN], intake_done_cb cb, void *arg);

/* Submissions whose commit has not been answered yet. */
size_t intake_pending(const struct intake *in);

/* Stop waking workers (they are closing); commits still complete. */
void intake_quiesce(struct intake *in);
void intake_free(struct intake *in);

#endif
