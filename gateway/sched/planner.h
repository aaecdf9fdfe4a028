/*
 * planner.h - the daemon's scheduler glue: one struct sched per skywaved,
 * fed from the queue by the links (airlink.c) and the local runners
 * (dispatch.c), ticked by one timer, its decisions carried out through the
 * queue.
 *
 *   airlink, dispatch --planner_add/report/commit--> planner --> sched
 *   planner --tick: REDIRECT, FAIL, DELAYED...--> intake_fail_built
 *             (DSN + recipient change, one transaction), owner's
 *             resolved() callback
 *
 * Routes: "link:NAME" for each radio link (modelled from the profile, then
 * from the link's measured goodput), and each local route target as
 * configured ("maildir:...", "smtp:..."), modelled as fast and near.
 *
 * Jobs: a job is one message on one route with the recipients the caller
 * holds for it (queue rids). The planner keeps a copy of the envelope, the
 * rid of each recipient and the original's headers (or whole content for
 * RET=FULL) so decisions can be carried out and reported without reading
 * the queue again.
 *
 * Decisions are carried out only from the planner's timer (never inside a
 * caller's call), so an owner never sees its state change under it:
 *   REDIRECT  recipient -> REDIRECTED (the queue adds the alternate,
 *             queued, on the alternate's own route from the route table);
 *             the trace header (sched_redirect.h) is stored as the
 *             primary's last error, and dispatch prepends it when it
 *             delivers the alternate; the DSN is queued in the same
 *             transaction. A BY;R with no whole second left fails 5.4.7.
 *   FAIL      recipient -> FAILED -> DSN_QUEUED with the DSN, one
 *             transaction (straight to DSN_QUEUED when none is owed).
 *   DELAYED   a delayed DSN is queued; the recipient stays.
 *   RELAYED   on a link route, a relayed DSN when one is owed (trace).
 *   DELIVERED nothing (dispatch reports its own deliveries).
 * After a REDIRECT or FAIL the route's owner is told (resolved callback)
 * so it can abandon what it holds for that message.
 *
 * Thread: the loop thread. Owner: the daemon (planner_new .. planner_close
 * .. planner_free after the loop ended).
 */
#ifndef GW_GATEWAY_PLANNER_H
#define GW_GATEWAY_PLANNER_H

#include "common/clock.h"
#include "gateway/sched/predict.h"
#include "gateway/sched/sched.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct planner;
struct intake;
struct status_risk;

struct planner_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	const char *hostname;            /* reporting MTA of DSNs, trace */
	const struct sched_cfg *cfg;     /* copied */
};

struct planner *planner_new(const struct planner_env *env);
/* Where alternates are routed and DSNs submitted (borrowed; NULL stops
 * decisions that need it). */
/* The front door through which decisions are stored (borrowed). */
void planner_set_intake(struct planner *p, struct intake *in);
/* SIGHUP: the new [policy] scheduler keys apply from the next decision
 * (sched_reconfigure; sched_edf only at restart, which is logged). */
void planner_reconfigure(struct planner *p, const struct sched_cfg *cfg);

/* Find or add a route. Returns the route number or a GW_E* code. */
int planner_route(struct planner *p, const char *name,
    const struct predict_link *model);
/* The model used for local (non-air) routes. */
void planner_local_model(struct predict_link *l);
void planner_route_link(struct planner *p, int route,
    const struct predict_link *model);
void planner_route_state(struct planner *p, int route, enum sched_link st);

/* Told after a REDIRECT or FAIL resolved recipients of (id, route). */
typedef void (*planner_resolved_fn)(void *arg,
    const uint8_t id[QUEUE_ID_LEN], int route);
void planner_set_owner(struct planner *p, int route, planner_resolved_fn fn,
    void *arg);

/* Add the job for recipients idx[0..n) (indexes into env->rcpts, queue
 * rids rids[0..n)) of a message on route, or return the existing one with
 * those rids recorded. content/len: the original message (kept: headers,
 * or all of it for RET=FULL). Returns the job or NULL (bad route, closing). */
struct sched_job *planner_add(struct planner *p, int route,
    const struct queue_envelope *env, const int64_t *rids, const size_t *idx,
    size_t n, const uint8_t *content, size_t len);
struct sched_job *planner_find(const struct planner *p,
    const uint8_t id[QUEUE_ID_LEN], int route);
/* The owner gives the job up (its recipients went back to the queue). */
void planner_forget(struct planner *p, const uint8_t id[QUEUE_ID_LEN],
    int route);

/* When remaining_bytes of content handed to route now would be held by
 * the far end (monotonic ms, from the route's current model). */
int64_t planner_eta_ms(const struct planner *p, int route,
    int64_t remaining_bytes);

/* Transfer-protocol hooks (see sched.h). */
struct sched_job *planner_next(struct planner *p, int route);
void planner_progress(struct planner *p, struct sched_job *job,
    int64_t sent);
/* 0; GW_ETIMEDOUT: BY;R would be late, or the job is set aside past its
 * deadline (do not send the end / do not deliver); GW_ESTATE: not ready
 * (held, backing off, already committing). */
int planner_commit_begin(struct planner *p, struct sched_job *job,
    int64_t done_ms);
void planner_commit_abort(struct planner *p, struct sched_job *job);
/* An outcome for one recipient (by index in the message). Decisions are
 * carried out at the next tick. */
void planner_report(struct planner *p, const uint8_t id[QUEUE_ID_LEN],
    int route, uint32_t rcpt_idx, enum sched_outcome outcome,
    const char *status, unsigned hop_flags);

/* Are alternate recipients honoured ([policy] altrecip_redirect)? */
bool planner_alternates(const struct planner *p);

/* The hop's last reply for one recipient ("550 5.1.1 no such user", or
 * why a local decision was made), recorded before planner_report() so a
 * redirect's trace header names the cause's detail. */
void planner_note_reply(struct planner *p, const uint8_t id[QUEUE_ID_LEN],
    int route, uint32_t rcpt_idx, const char *text);

/* For the console: deadline jobs of every route whose slack (deadline -
 * predicted completion) is below slack_below_ms (or that cannot be
 * predicted), with what a miss does, up to max entries; returns how many
 * were written. */
size_t planner_fill_risk(const struct planner *p, struct status_risk *out,
    size_t max, int64_t slack_below_ms);

/* Outcomes decided since start, per band (0..SCHED_BANDS-1), and deadline
 * outcomes: met = relayed or delivered by its BY (or with only an ABY),
 * missed = BY;R failed, BY;N passed (delayed DSN), or redirected because
 * the (A)BY deadline was reached (a redirect ahead of a predicted miss is
 * not a miss). */
struct planner_counts {
	uint64_t relayed[SCHED_BANDS], delivered[SCHED_BANDS];
	uint64_t redirected[SCHED_BANDS], failed[SCHED_BANDS];
	uint64_t delayed_dsn[SCHED_BANDS];
	uint64_t deadline_met, deadline_missed;
};
const struct planner_counts *planner_get_counts(const struct planner *p);
/* The model a route is predicted with (NULL: no such route). */
const struct predict_link *planner_model(const struct planner *p,
    const char *route);

/* Stop the timer and take no more work; done(arg) once the queue requests
 * the planner made have completed. Callers may still call in (ignored). */
void planner_close(struct planner *p, void (*done)(void *), void *arg);
/* Free after the close completed (and the loop stopped using it). */
void planner_free(struct planner *p);

#endif
