/*
 * sched.h - the scheduler: which message's next segment goes on which link
 * now, and which deadline, alternate-recipient and expiry decisions are due.
 *
 * A sans-I/O state machine over an in-memory index of queued work (the
 * SQLite queue is the truth; this index is a cache rebuilt from it at start).
 * The unit of work is a *job*: one message on one route, holding that
 * message's recipients on that route. Callers:
 *   - the queue glue adds jobs (sched_add) as recipients become ready and
 *     removes them when the queue resolves them (sched_remove);
 *   - the transfer protocol asks sched_next() at every segment boundary of
 *     a link (that is what gives preemption), reports bytes sent
 *     (sched_progress) and publishes the measured link (sched_route_link,
 *     sched_route_state);
 *   - outcomes come back through sched_report();
 *   - the daemon calls sched_tick() when its one timer fires and re-arms it
 *     for the returned wake-up time.
 * Decisions (redirects, DSNs owed, failures) come out as struct
 * sched_decision records; the caller carries them out (queue updates,
 * sched_redirect_build(), dsn_build()). A recipient resolved by a decision is
 * already gone from the scheduler, so it is never scheduled again: a
 * redirected recipient can never also be delivered to its primary. The
 * transfer protocol checks at each segment boundary that the job it was
 * sending still exists (sched_find) and abandons the partial transfer when
 * it does not; before the final segment it calls sched_commit_begin(), so
 * no decision can race the far end's commit.
 *
 * Typical use (the daemon's glue):
 *
 *   at start:     r = sched_route_add(s, "hf1", &model) per route; for each
 *                 ready message and route: sched_spec_from_envelope(),
 *                 sched_add()
 *   link events:  sched_route_state(); measurements: sched_route_link()
 *   each segment: j = sched_next(s, r, now); send its next segment;
 *                 sched_progress(); before the last one
 *                 sched_commit_begin(); on the answer sched_report()
 *   timer fired:  wake = sched_tick(s, now, &out); carry out out.v[]
 *                 (REDIRECT: sched_redirect_build() + queue_submit();
 *                 dsn set: sched_dsn_build() + queue_submit(); mark the
 *                 recipients in the queue); re-arm the timer for wake
 *
 * Time: every argument named now/..._ms is monotonic milliseconds from the
 * injectable clock (common/clock.h); the scheduler never reads a clock.
 * Thread: the loop thread that owns the struct sched.
 */
#ifndef GW_GATEWAY_SCHED_H
#define GW_GATEWAY_SCHED_H

#include "gateway/mail/dsn.h"
#include "gateway/sched/predict.h"
#include "gateway/sched/retry.h"
#include "gateway/sched/sched_rules.h"
#include "queue/queue_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_BANDS RETRY_BANDS   /* priority bands 0 (lowest) .. 7 */
#define SCHED_ROUTES_MAX 64
#define SCHED_ROUTE_NAME_MAX 64

enum sched_link {
	SCHED_LINK_UP = 0,
	SCHED_LINK_DOWN,
	SCHED_LINK_THROTTLED,   /* up, but not to be used before a time */
};

/* Scheduler configuration. Keys (sched_cfg_fields, [policy]):
 *   sched_starvation_share  0   0 or 2..1000: every Nth segment goes to a
 *                                lower band while one has work (0: strict)
 *   sched_edf               yes earliest deadline first within a band
 *                                (no: arrival order only)
 *   predict_reeval          5s  100ms..10m  re-prediction period while
 *                                deadline work is queued
 *   predict_min_interval    1s  0..1m  a route whose load changed is
 *                                re-predicted at most this often
 * plus sched_rules_cfg_fields and retry_cfg_fields. */
struct sched_cfg {
	int64_t share_n;
	bool edf;
	int64_t reeval_ms;
	int64_t min_interval_ms;
	struct sched_rules_cfg rules;
	struct retry_cfg retry;
};

extern const struct cfg_field sched_cfg_fields[];
void sched_cfg_default(struct sched_cfg *c);
/* Set one key of any of the three tables (sched_cfg_fields,
 * sched_rules_cfg_fields, retry_cfg_fields) from configuration text.
 * Returns 0; GW_ENOENT for a key none of them has; GW_EINVAL / GW_ERANGE
 * with a message in err (from cfgtab_set). */
int sched_cfg_set(struct sched_cfg *c, const char *key, const char *value,
    char *err, size_t errlen);
/* Cross-field checks after all keys are set: 0 or GW_ERANGE with err. */
int sched_cfg_check(const struct sched_cfg *c, char *err, size_t errlen);

/* One recipient as the caller describes it. */
struct sched_rcpt_spec {
	uint32_t idx;        /* index of the recipient in the message */
	unsigned notify;     /* QUEUE_NOTIFY_* bits */
	bool has_arcpt;      /* an alternate recipient was given */
};

/* One job as the caller describes it. Times are monotonic ms; 0 = none. */
struct sched_job_spec {
	uint8_t id[QUEUE_ID_LEN];
	int route;
	int band;            /* 0..SCHED_BANDS-1 (clamped) */
	int priority;        /* MT-PRIORITY value, carried into decisions */
	int64_t arrival_ms;
	int64_t by_ms;
	char by_mode;        /* 'R', 'N', 0 */
	bool by_trace;
	int64_t aby_ms;
	bool null_sender;    /* reverse path <>: no DSN is ever owed */
	int64_t size_bytes;  /* uncompressed content size */
	int64_t sent_bytes;  /* already acknowledged by the far end */
	int attempts;        /* failed attempts so far */
	int64_t not_before_ms; /* backoff: not to be sent before, 0 = now */
	bool held;           /* operator hold */
	const struct sched_rcpt_spec *rcpts;
	size_t nrcpts;       /* >= 1 */
};

/* Fill spec from a queued envelope for the recipients rcpt_idx[0..n) that
 * routing sent to route. rcpts must have room for n entries (spec borrows
 * it). Wall-clock deadlines are converted with (now_ms, now_wall_s). */
void sched_spec_from_envelope(struct sched_job_spec *spec,
    struct sched_rcpt_spec *rcpts, const struct queue_envelope *env,
    int route, const size_t *rcpt_idx, size_t n, int64_t size_bytes,
    int64_t now_ms, int64_t now_wall_s);

enum sched_rcpt_state { SCHED_RCPT_ACTIVE = 0, SCHED_RCPT_RESOLVED };

struct sched_rcpt {
	uint32_t idx;
	unsigned notify;
	bool has_arcpt;
	enum sched_rcpt_state state;
	int reply_class;          /* last reply of the primary's hop 0/4/5 */
	char reply_status[12];    /* its enhanced code */
	int64_t tempfail_since_ms;
	bool delay_sent, warned;
};

/* Job states: see the diagram in sched.c. */
enum sched_job_state { SCHED_JOB_READY = 0, SCHED_JOB_WAITING,
	SCHED_JOB_HELD, SCHED_JOB_DOOMED, SCHED_JOB_COMMITTING };

struct sched__node {
	struct sched__node *l, *r;
	uint64_t prio;
	int64_t k1, k2;
	uint64_t seq;
};

/* Owned by the scheduler; callers read it and pass it back, never write.
 * The pointer is valid until sched_remove(), or until a decision resolved
 * its last recipient (sched_tick/sched_report say so: job_gone). */
struct sched_job {
	struct sched__node qnode; /* private; first, so a node is its job */
	uint8_t id[QUEUE_ID_LEN];
	int route, band, priority;
	int64_t arrival_ms, by_ms, aby_ms;
	char by_mode;
	bool by_trace, null_sender;
	int64_t size_bytes, sent_bytes;
	int attempts;
	int64_t not_before_ms;
	enum sched_job_state state;
	int64_t pred_ms;          /* predicted completion (kept for jobs with
				     BY, ABY or ARCPT), PREDICT_NEVER */
	int64_t slack_ms;         /* deadline - pred (INT64_MAX: no deadline) */
	struct sched_rcpt *rcpts;
	size_t nrcpts, nactive;
	/* private */
	uint64_t seq;
	int64_t air_bytes;        /* counted in the route's band totals */
	int64_t next_event_ms;
	struct sched__node enode;
	struct sched_job *hnext, *rprev, *rnext;
	bool in_events;
	bool tracked;             /* on the route's tracked list */
	bool alt;                 /* an active recipient has an ARCPT */
	struct sched_job *tprev, *tnext;
	int64_t commit_done_ms;   /* COMMITTING: expected far-end commit */
};

enum sched_act {
	SCHED_ACT_REDIRECT,   /* send a copy to the alternate (see
				 sched_redirect.h); primary resolved */
	SCHED_ACT_FAIL,       /* primary resolved as failed */
	SCHED_ACT_DELAYED,    /* still queued; a delayed DSN may be owed */
	SCHED_ACT_RELAYED,    /* resolved: handed to the next hop */
	SCHED_ACT_DELIVERED,  /* resolved: delivered locally */
	SCHED_ACT_CLOSED,     /* resolved by its owner (SCHED_OUT_FAILED):
				 nothing to carry out */
};

struct sched_decision {
	enum sched_act act;
	enum sched_cause cause;
	uint8_t id[QUEUE_ID_LEN];
	int route;
	uint32_t rcpt_idx;
	int priority, band;
	char status[12];       /* enhanced status for the DSN */
	bool dsn;              /* a DSN is owed to the sender (dsn_owed) */
	enum dsn_action dsn_action;
	int64_t at_ms;
	int64_t by_left_ms;    /* REDIRECT: BY time left for the copy,
				  0 = the message had no BY */
	bool job_gone;         /* this resolved the job's last recipient */
};

/* A growable list of decisions plus the next wake-up. Owner: caller. */
struct sched_out {
	struct sched_decision *v;
	size_t n, cap;
	int64_t wake_ms;       /* INT64_MAX: nothing to wait for */
};

void sched_out_init(struct sched_out *o);
void sched_out_reset(struct sched_out *o);
void sched_out_fini(struct sched_out *o);

struct sched;

struct sched *sched_new(const struct sched_cfg *cfg);
/* A reload: the new share, re-evaluation periods, rules and retry keys
 * apply from the next decision on (deadlines already set for queued jobs
 * stay). sched_edf keeps its value: the queued jobs are ordered by it;
 * returns false when cfg asked to change it (it applies at restart). */
bool sched_reconfigure(struct sched *s, const struct sched_cfg *cfg);
void sched_free(struct sched *s);

/* Routes. A route is a link (airtime-bound) or an onward path (local
 * delivery, SMTP) modelled with a high rate and a latency. Returns the route
 * number (>= 0), or GW_EEXIST / GW_ELIMIT. */
int sched_route_add(struct sched *s, const char *name,
    const struct predict_link *l);
int sched_route_find(const struct sched *s, const char *name);
/* Publish a new measurement (rate, ratio, turnaround). Marks the route for
 * re-prediction. GW_ENOENT for a bad route. */
int sched_route_link(struct sched *s, int route, const struct predict_link *l);
/* Link state. THROTTLED takes until_ms (no segment before it). */
int sched_route_state(struct sched *s, int route, enum sched_link st,
    int64_t until_ms, int64_t now);
const struct predict_link *sched_route_model(const struct sched *s,
    int route);

/* Add a job. Returns 0 and *out; GW_EEXIST when (id, route) is queued;
 * GW_ENOENT for a bad route; GW_EINVAL for a spec without recipients. */
int sched_add(struct sched *s, const struct sched_job_spec *spec, int64_t now,
    struct sched_job **out);
struct sched_job *sched_find(const struct sched *s,
    const uint8_t id[QUEUE_ID_LEN], int route);
/* Forget a job (the queue resolved or cancelled it). */
void sched_remove(struct sched *s, struct sched_job *job);
/* Operator hold / release. */
void sched_hold(struct sched *s, struct sched_job *job, bool hold,
    int64_t now);
/* Do not send before until_ms (backoff). */
void sched_defer(struct sched *s, struct sched_job *job, int64_t until_ms,
    int64_t now);
/* sent_bytes of the content have been acknowledged by the far end. */
void sched_progress(struct sched *s, struct sched_job *job,
    int64_t sent_bytes);

/* The job whose next segment should go on route now, or NULL (route down or
 * throttled, or nothing ready). Strict priority between bands, except
 * that with a starvation share every Nth call goes to the highest lower
 * band with work; earliest deadline, then arrival, within a band. A BY;R
 * job past its deadline is never returned (it is set aside for the next
 * tick to fail). */
struct sched_job *sched_next(struct sched *s, int route, int64_t now);

/*
 * The transfer protocol is about to hand the job's final segment to the
 * link; done_ms is when the far end will hold all of it (and commit). From
 * then on the far end decides the outcome: no redirect or expiry is decided
 * for the job until sched_report() brings the answer, or
 * sched_commit_abort() says the link failed first. This is what keeps a
 * redirect from racing a delivery (never both).
 * Returns 0; GW_ETIMEDOUT when the job is BY;R and done_ms is past its
 * deadline: the segment must not be sent, the job is set aside and the
 * rules resolve it (redirect, or fail 5.4.7); GW_ESTATE when the job is
 * not READY.
 */
int sched_commit_begin(struct sched *s, struct sched_job *job,
    int64_t done_ms, int64_t now);
/* The final segment was not acknowledged (link lost): back to READY. */
void sched_commit_abort(struct sched *s, struct sched_job *job, int64_t now);

/* Outcome of an attempt for one recipient (rcpt_idx as in the message). */
enum sched_outcome {
	SCHED_OUT_DELIVERED,  /* delivered locally (final) */
	SCHED_OUT_RELAYED,    /* accepted by the next hop */
	SCHED_OUT_TEMPFAIL,   /* 4xx: retry after backoff */
	SCHED_OUT_PERMFAIL,   /* 5xx: the rules decide (redirect to the
				 ARCPT, or fail with the hop's code) */
	SCHED_OUT_FAILED,     /* failed for good and already stored as such
				 by the owner, with its DSN (no alternate
				 duty here): resolve, decide nothing */
};
/* Relay facts for SCHED_OUT_RELAYED. */
#define SCHED_HOP_NO_DSN 0x1u       /* the hop does not speak DSN */
#define SCHED_HOP_NO_DELIVERBY 0x2u /* the hop does not speak DELIVERBY */

/* Report an outcome; decisions are appended to out. status is the hop's
 * enhanced code ("5.1.1") or NULL. Returns 0, or GW_ENOENT when the
 * recipient is not (or no longer) active in job. */
int sched_report(struct sched *s, struct sched_job *job, uint32_t rcpt_idx,
    enum sched_outcome outcome, const char *status, unsigned hop_flags,
    int64_t now, struct sched_out *out);

/* Run everything due at now: backoffs ending, re-prediction of routes whose
 * load, rate or state changed (or whose period ran out), deadline rules.
 * Appends decisions to out and sets out->wake_ms; returns it too. Work per
 * call is bounded (4096 rule evaluations besides re-prediction); a wake-up
 * at or before now means more is due: call again after the loop has
 * served other events. Re-prediction is one O(n) pass over a route. */
int64_t sched_tick(struct sched *s, int64_t now, struct sched_out *out);

/* For the console: every job of route in scheduling order (READY by band
 * and deadline), then the others, with pred_ms / slack_ms as of the last
 * tick. fn must not change the scheduler. */
typedef void (*sched_walk_fn)(const struct sched_job *job, void *arg);
void sched_walk(const struct sched *s, int route, sched_walk_fn fn,
    void *arg);

/* Counts, for the console and tests. */
size_t sched_count(const struct sched *s);
size_t sched_route_count(const struct sched *s, int route, int band);

/* Debug: check every invariant listed in sched.c; aborts on violation. */
void sched_check(const struct sched *s);

#endif
