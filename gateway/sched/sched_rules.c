/*
 * sched_rules.c - pure deadline / alternate / expiry rules (see the table in
 * sched_rules.h) and the DELIVERBY relay arithmetic.
 *
 * Contract: no state, no clock, no I/O. Every input is in the struct; the
 * output also says when to look again, so the scheduler arms one timer for
 * the earliest such instant instead of polling.
 */
#include "gateway/sched/sched_rules.h"

#include "common/err.h"
#include "gateway/sched/predict.h"

#include <stdio.h>

static const char *const cause_names[] = {
#define SCHED__CAUSE_NAME(n, s) s,
	SCHED_CAUSE_MAP(SCHED__CAUSE_NAME)
#undef SCHED__CAUSE_NAME
};

const char *
sched_cause_name(enum sched_cause c)
{
	if ((size_t)c >= sizeof(cause_names) / sizeof(cause_names[0]))
		return "unknown";
	return cause_names[c];
}

#define RC struct sched_rules_cfg
const struct cfg_field sched_rules_cfg_fields[] = {
	CFG_BOOL_F(RC, predictive, "altrecip_predict", "yes",
	    "redirect or fail as soon as a deadline is predicted lost"),
	CFG_BOOL_F(RC, alternates, "altrecip_redirect", "yes",
	    "redirect to the alternate recipient (ARCPT) at all"),
	CFG_DUR_F(RC, margin_ms, "predict_margin", "30s", 0, 3600000,
	    "safety margin added to a predicted completion"),
	CFG_INT_F(RC, margin_pct, "predict_margin_percent", "10", 0, 100,
	    "plus this percentage of the time left to the deadline"),
	CFG_DUR_F(RC, tempfail_persist_ms, "altrecip_tempfail_persist", "30m",
	    0, 604800000, "temporary failures this long cause a redirect"),
	CFG_DUR_F(RC, route_down_limit_ms, "altrecip_route_down_limit",
	    "10m", 1000, 86400000, "route down this long causes a redirect"),
	CFG_END,
};
#undef RC

void
sched_rules_cfg_default(struct sched_rules_cfg *c)
{
	c->predictive = true;
	c->alternates = true;
	c->margin_ms = 30000;
	c->margin_pct = 10;
	c->tempfail_persist_ms = 30 * 60000;
	c->route_down_limit_ms = 10 * 60000;
}

int64_t
sched_rules_margin_ms(const struct sched_rules_cfg *cfg, int64_t left_ms)
{
	if (left_ms < 0)
		left_ms = 0;
	return cfg->margin_ms + left_ms / 100 * cfg->margin_pct;
}

static void
later(int64_t *next, int64_t now, int64_t t)
{
	if (t > now && t < *next)
		*next = t;
}

static void
set(struct sched_rules_out *out, enum sched_rules_act act,
    enum sched_cause cause, const char *status)
{
	out->act = act;
	out->cause = cause;
	out->status = status;
}

void
sched_rules_decide(const struct sched_rules_cfg *cfg,
    const struct sched_rules_in *in, struct sched_rules_out *out)
{
	int64_t now = in->now_ms, next = INT64_MAX, dl = 0, t;
	bool alt = in->has_arcpt && cfg->alternates;
	bool mode_r = in->by_ms != 0 && (in->by_mode == 'R' ||
	    in->by_mode == 'r');

	set(out, SCHED_RULES_NONE, SCHED_CAUSE_NONE, NULL);

	/* 1: BY;R reached: nothing can be done in time any more, not even
	 * by an alternate (whatever the hop answered). */
	if (mode_r) {
		if (now >= in->by_ms) {
			set(out, SCHED_RULES_FAIL, SCHED_CAUSE_BY_EXPIRED,
			    "5.4.7");
			goto done;
		}
		later(&next, now, in->by_ms);
	}
	/* 2: permanent failure of the primary. */
	if (in->reply_class == 5) {
		if (alt)
			set(out, SCHED_RULES_REDIRECT, SCHED_CAUSE_PERMFAIL,
			    NULL);
		else
			set(out, SCHED_RULES_FAIL, SCHED_CAUSE_PERMFAIL, NULL);
		goto done;
	}
	if (alt) {
		/* 3: ABY reached. */
		if (in->aby_ms != 0) {
			if (now >= in->aby_ms) {
				set(out, SCHED_RULES_REDIRECT,
				    SCHED_CAUSE_ABY_EXPIRED, NULL);
				goto done;
			}
			later(&next, now, in->aby_ms);
		}
		/* 4: a streak of temporary failures. */
		if (in->reply_class == 4 && in->tempfail_since_ms != 0) {
			t = in->tempfail_since_ms + cfg->tempfail_persist_ms;
			if (now >= t) {
				set(out, SCHED_RULES_REDIRECT,
				    SCHED_CAUSE_TEMPFAIL, NULL);
				goto done;
			}
			later(&next, now, t);
		}
		/* 5: the route has been down too long. */
		if (in->route_down_since_ms != 0) {
			t = in->route_down_since_ms + cfg->route_down_limit_ms;
			if (now >= t) {
				set(out, SCHED_RULES_REDIRECT,
				    SCHED_CAUSE_ROUTE_DOWN, NULL);
				goto done;
			}
			later(&next, now, t);
		}
		/* 6: predicted to miss the primary's deadline. */
		if (in->aby_ms != 0)
			dl = in->aby_ms;
		if (mode_r && (dl == 0 || in->by_ms < dl))
			dl = in->by_ms;
		if (cfg->predictive && dl != 0 &&
		    in->pred_ms != PREDICT_NEVER) {
			int64_t m = sched_rules_margin_ms(cfg, dl - now);

			if (predict_add(in->pred_ms, m) > dl) {
				set(out, SCHED_RULES_REDIRECT,
				    SCHED_CAUSE_PREDICTED, NULL);
				goto done;
			}
			/* With the same queue ahead, it crosses here. */
			later(&next, now, dl - m - (in->pred_ms - now));
		}
	}
	/* 7: BY;R certainly missed and nobody to redirect to. */
	if (cfg->predictive && mode_r && !alt && in->lower_ms != 0) {
		if (in->lower_ms > in->by_ms) {
			set(out, SCHED_RULES_FAIL, SCHED_CAUSE_CERTAIN_MISS,
			    "5.4.7");
			goto done;
		}
		later(&next, now, in->by_ms - (in->lower_ms - now) + 1);
	}
	/* 8: queue lifetime. */
	if (in->expire_ms != 0) {
		if (now >= in->expire_ms) {
			if (alt)
				set(out, SCHED_RULES_REDIRECT,
				    SCHED_CAUSE_LIFETIME, NULL);
			else
				set(out, SCHED_RULES_FAIL,
				    SCHED_CAUSE_LIFETIME, "5.4.7");
			goto done;
		}
		later(&next, now, in->expire_ms);
	}
	/* 9: BY;N reached: tell the sender once, keep going. */
	if (in->by_ms != 0 && !mode_r && !in->delay_sent) {
		if (now >= in->by_ms) {
			set(out, SCHED_RULES_DELAYED, SCHED_CAUSE_BY_PASSED,
			    "4.4.7");
			goto done;
		}
		later(&next, now, in->by_ms);
	}
	/* 10: the ordinary delay warning. */
	if (in->warn_ms != 0 && !in->warned && !in->delay_sent) {
		if (now >= in->warn_ms) {
			set(out, SCHED_RULES_DELAYED, SCHED_CAUSE_DELAY_WARN,
			    in->reply_class == 4 ? NULL : "4.4.1");
			goto done;
		}
		later(&next, now, in->warn_ms);
	}
done:
	out->next_ms = out->act == SCHED_RULES_NONE ? next : INT64_MAX;
}

int64_t
sched_rules_by_left_s(int64_t by_ms, int64_t now_ms)
{
	int64_t d = by_ms - now_ms;

	if (d >= 0)
		return d / 1000;
	return -((-d + 999) / 1000);
}

int
sched_rules_relay_check(char by_mode, int64_t left_s, bool hop_deliverby,
    int64_t hop_min_by_s, const char **status)
{
	*status = NULL;
	if (by_mode != 'R' && by_mode != 'r')
		return 0;
	if (left_s <= 0) {
		*status = "5.4.7";
		return GW_EPROTO;
	}
	if (!hop_deliverby || (hop_min_by_s > 0 && hop_min_by_s > left_s)) {
		*status = "5.3.3";
		return GW_EPROTO;
	}
	return 0;
}

int
sched_rules_by_param(int64_t left_s, char by_mode, bool trace, char *out,
    size_t len)
{
	int n;

	if (left_s > 999999999)
		left_s = 999999999;
	if (left_s < -999999999)
		left_s = -999999999;
	n = snprintf(out, len, "%lld;%c%s", (long long)left_s,
	    by_mode == 'r' || by_mode == 'R' ? 'R' : 'N', trace ? "T" : "");
	if (n < 0 || (size_t)n >= len)
		return GW_ETOOBIG;
	return 0;
}
