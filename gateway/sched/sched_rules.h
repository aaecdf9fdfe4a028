/*
 * sched_rules.h - the deadline, alternate-recipient and expiry rules, as
 * pure functions (table-driven tests in tests/sched/test_sched_rules.c).
 *
 * sched_rules_decide() looks at one recipient of one queued message at one
 * instant and says what must happen now, if anything, and when to look
 * again. The scheduler (sched.c) calls it on every event and after every
 * prediction; it never decides these things anywhere else.
 *
 * Rules, first match wins (times are monotonic ms, 0 = not set):
 *
 *   1 BY;R deadline reached                FAIL 5.4.7 (no time left for an
 *                                          alternate either, whatever the
 *                                          hop answered)
 *   2 primary's next hop answered 5xx      arcpt ? REDIRECT : FAIL (its code)
 *   3 ABY deadline reached                 arcpt ? REDIRECT
 *   4 4xx for longer than tempfail_persist arcpt ? REDIRECT
 *   5 route down for longer than the limit arcpt ? REDIRECT
 *   6 predicted completion + margin is
 *     past the primary's deadline          arcpt ? REDIRECT    (predictive)
 *     (the primary's deadline is ABY when given, else BY when mode R)
 *   7 BY;R, no arcpt, and even the best
 *     case cannot finish by the deadline   FAIL 5.4.7           (predictive)
 *   8 queue lifetime over                  arcpt ? REDIRECT : FAIL 5.4.7
 *   9 BY;N deadline reached, not yet told  DELAYED 4.4.7, delivery goes on
 *  10 delay-warning time reached           DELAYED 4.4.1 (once)
 *
 * Rule 7 is the "as soon as it is certain to be missed" case. The lower
 * bound behind it assumes nothing queued ahead, the best compression
 * believed possible and the route's best rate, so it is wrong only if
 * the link beats its own nominal rate: a message that needs more airtime
 * than is left cannot be delivered in time by any schedule, and failing it
 * at once tells the sender while there is time to act and frees airtime
 * for messages that can still make their deadlines. A mere *prediction* of
 * lateness (which new load, a better rate or a cancellation can undo) never
 * fails a message: without an alternate it keeps its place until rule 1.
 */
#ifndef GW_GATEWAY_SCHED_RULES_H
#define GW_GATEWAY_SCHED_RULES_H

#include "common/cfgtab.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_CAUSE_MAP(XX)                               \
	XX(NONE, "none")                                  \
	XX(PERMFAIL, "permanent-error")                   \
	XX(BY_EXPIRED, "deliver-by-expired")              \
	XX(ABY_EXPIRED, "alternate-deadline-expired")     \
	XX(TEMPFAIL, "persistent-temporary-error")        \
	XX(ROUTE_DOWN, "route-down")                      \
	XX(PREDICTED, "predicted-late")                   \
	XX(CERTAIN_MISS, "deadline-unreachable")          \
	XX(LIFETIME, "queue-lifetime-expired")            \
	XX(BY_PASSED, "deliver-by-passed")                \
	XX(DELAY_WARN, "delay-warning")                   \
	XX(DELIVERED, "delivered")                        \
	XX(RELAYED, "relayed")

enum sched_cause {
#define SCHED__CAUSE_ENUM(n, s) SCHED_CAUSE_##n,
	SCHED_CAUSE_MAP(SCHED__CAUSE_ENUM)
#undef SCHED__CAUSE_ENUM
};

const char *sched_cause_name(enum sched_cause c);

enum sched_rules_act {
	SCHED_RULES_NONE = 0,
	SCHED_RULES_REDIRECT,  /* to the alternate recipient */
	SCHED_RULES_FAIL,      /* give up: failed DSN */
	SCHED_RULES_DELAYED,   /* delayed DSN, keep trying */
};

/* Policy knobs. Configuration keys (sched_rules_cfg_fields, [policy]):
 *   altrecip_predict          yes  predicted redirects and certain-miss
 *   altrecip_redirect         yes  redirect to ARCPT at all
 *   predict_margin            30s  0..1h  safety margin on predictions
 *   predict_margin_percent    10   0..100 plus this share of the time left
 *   altrecip_tempfail_persist 30m  0..7d  4xx streak before a redirect
 *   altrecip_route_down_limit 10m  1s..1d route down before a redirect */
struct sched_rules_cfg {
	bool predictive;
	bool alternates;
	int64_t margin_ms;
	int64_t margin_pct;
	int64_t tempfail_persist_ms;
	int64_t route_down_limit_ms;
};

extern const struct cfg_field sched_rules_cfg_fields[];
void sched_rules_cfg_default(struct sched_rules_cfg *c);

struct sched_rules_in {
	int64_t now_ms;
	int64_t by_ms;            /* absolute BY deadline, 0 = none */
	char by_mode;             /* 'R', 'N' or 0 */
	int64_t aby_ms;           /* absolute ABY deadline, 0 = none */
	bool has_arcpt;
	int64_t pred_ms;          /* predicted completion, PREDICT_NEVER if
				     unknown (held, no rate) */
	int64_t lower_ms;         /* certain lower bound of completion, or 0 */
	int reply_class;          /* last reply of the primary's hop: 0, 4, 5 */
	int64_t tempfail_since_ms; /* start of the 4xx streak, 0 = none */
	int64_t route_down_since_ms; /* 0 = route up */
	int64_t expire_ms;        /* arrival + queue lifetime, 0 = never */
	int64_t warn_ms;          /* arrival + warning time, 0 = none */
	bool delay_sent;          /* the BY;N delayed DSN went out */
	bool warned;              /* the warning DSN went out */
};

struct sched_rules_out {
	enum sched_rules_act act;
	enum sched_cause cause;
	const char *status;       /* enhanced code for the DSN, or NULL: use
				     the hop's own code (rule 2) */
	int64_t next_ms;          /* when the answer may change with time
				     alone (INT64_MAX: never) */
};

void sched_rules_decide(const struct sched_rules_cfg *cfg,
    const struct sched_rules_in *in, struct sched_rules_out *out);

/* The margin applied to a prediction with left_ms to the deadline. */
int64_t sched_rules_margin_ms(const struct sched_rules_cfg *cfg,
    int64_t left_ms);

/* ---- relaying with DELIVERBY (RFC 2852 s4.1.4) ---- */

/* Whole seconds left to by_ms at now_ms, rounded down (toward minus
 * infinity, so a relayed deadline is never later than ours). */
int64_t sched_rules_by_left_s(int64_t by_ms, int64_t now_ms);

/* May a message with this BY be relayed to a hop that does (or does not)
 * advertise DELIVERBY with hop_min_by_s (0 = none given)? Returns 0, or
 * GW_EPROTO with *status set: "5.4.7" when no time is left for mode R,
 * "5.3.3" when the hop cannot honour mode R. Mode N and no BY always 0. */
int sched_rules_relay_check(char by_mode, int64_t left_s, bool hop_deliverby,
    int64_t hop_min_by_s, const char **status);

/* Format the BY parameter value to relay ("98;R", "-5;NT") into out.
 * Returns 0, or GW_ETOOBIG when it does not fit. */
int sched_rules_by_param(int64_t left_s, char by_mode, bool trace, char *out,
    size_t len);

#endif
