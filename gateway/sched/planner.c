/*
 * planner.c - the scheduler inside skywaved (see planner.h).
 *
 * Owner: the daemon, on the loop thread. The struct sched is the decision
 * maker; this file only translates between it and the queue.
 *
 * Planner states:
 *
 *   RUNNING --planner_close--> CLOSING --last queue request done--> CLOSED
 *
 *   RUNNING  jobs are added, the timer runs, decisions are carried out.
 *   CLOSING  the timer is stopped; calls from links and runners are
 *            ignored; queue requests already made complete.
 *   CLOSED   done() was called; only planner_free() is legal.
 *
 * Job records (struct pjob), one per sched job:
 *
 *   planner_add --> ALIVE --decision job_gone, planner_forget--> freed
 *
 * Invariants: every pjob has exactly one sched job with the same (id,
 * route) and vice versa; pending counts the queue requests not yet
 * completed; decisions are carried out only in on_timer().
 */
#include "gateway/sched/planner.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/control/status.h"
#include "gateway/mail/dsn.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/route.h"
#include "gateway/sched/sched_dsn.h"
#include "gateway/sched/sched_redirect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FULL_CONTENT_MAX (1u << 20) /* RET=FULL kept up to this size */

enum planner_state { PL_RUNNING, PL_CLOSING, PL_CLOSED };

struct pjob {
	struct pjob *next;
	uint8_t id[QUEUE_ID_LEN];
	int route;
	struct queue_envelope *env;  /* copy */
	int64_t *rid_of;             /* per env recipient, 0 = not ours */
	char **why;                  /* per env recipient: the hop's last
					reply, for the redirect trace */
	struct buf content;          /* headers, or all for RET=FULL */
};

struct owner {
	planner_resolved_fn fn;
	void *arg;
};

struct planner {
	struct planner_env env;
	struct sched_cfg cfg;
	struct sched *s;
	struct intake *intake;     /* the front door, borrowed */
	uv_timer_t timer;
	int64_t armed_ms;            /* when the timer fires, INT64_MAX: off */
	struct sched_out out;        /* decisions from reports, for the tick */
	struct pjob *jobs;
	struct owner owners[SCHED_ROUTES_MAX];
	bool link_route[SCHED_ROUTES_MAX];
	enum planner_state st;
	int pending;
	bool timer_closed;
	void (*done)(void *);
	void *done_arg;
	struct planner_counts counts;
};

static int64_t
now_ms(const struct planner *p)
{
	return clk_mono_ms(p->env.clock);
}

/* ---- envelopes --------------------------------------------------------- */



/* Length of the header section including the blank line, or len. */
static size_t
header_len(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < len && p[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* ---- job records ------------------------------------------------------- */

static struct pjob *
pjob_find(const struct planner *p, const uint8_t *id, int route)
{
	for (struct pjob *j = p->jobs; j; j = j->next)
		if (j->route == route && memcmp(j->id, id, QUEUE_ID_LEN) == 0)
			return j;
	return NULL;
}

static void
pjob_free(struct planner *p, struct pjob *pj)
{
	for (struct pjob **pp = &p->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == pj) {
			*pp = pj->next;
			break;
		}
	}
	for (size_t i = 0; pj->why && i < pj->env->nrcpts; i++)
		free(pj->why[i]);
	free(pj->why);
	queue_envelope_free(pj->env);
	free(pj->rid_of);
	buf_fini(&pj->content);
	free(pj);
}

/* ---- timer ------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void
arm(struct planner *p, int64_t at)
{
	int64_t now = now_ms(p);

	if (p->st != PL_RUNNING)
		return;
	if (at == INT64_MAX)
		return; /* nothing to wait for (an earlier poke stays armed) */
	if (at < now)
		at = now;
	if (p->armed_ms != INT64_MAX && p->armed_ms <= at &&
	    uv_is_active((uv_handle_t *)&p->timer))
		return;
	p->armed_ms = at;
	uv_timer_start(&p->timer, on_timer, (uint64_t)(at - now), 0);
}

/* Something changed: tick soon (a few ms batch the changes of one event). */
static void
poke(struct planner *p)
{
	arm(p, now_ms(p) + 5);
}

/* ---- carrying out decisions --------------------------------------------- */

struct req {
	struct planner *p;
	char what[16];
	char hex[33];
	char *alt_route;   /* kick this route once stored */
	char *error;       /* kept alive until the call returns */
};

static void
req_done(struct req *r, int status)
{
	struct planner *p = r->p;

	p->pending--;
	if (status != 0)
		GW_LOGE("planner", "msg=%s event=%s_store_failed error=%s",
		    r->hex, r->what, gw_errname(status));
	else if (r->alt_route && p->intake && p->st == PL_RUNNING)
		intake_wake(p->intake, r->alt_route);
	free(r->alt_route);
	free(r->error);
	free(r);
	if (p->st == PL_CLOSING && p->pending == 0 && p->timer_closed) {
		p->st = PL_CLOSED;
		if (p->done)
			p->done(p->done_arg);
	}
}

static void
on_req_status(int status, void *arg)
{
	req_done(arg, status);
}

static struct req *
req_new(struct planner *p, const char *what, const uint8_t *id)
{
	struct req *r = xcalloc(1, sizeof(*r));

	r->p = p;
	snprintf(r->what, sizeof(r->what), "%s", what);
	queue_id_hex(id, r->hex);
	return r;
}

/* Build the DSN for decision d about pj (0 with env/content, or an error
 * when none is owed or it cannot be built). */
static int
build_dsn(struct planner *p, const struct pjob *pj,
    const struct sched_decision *d, struct queue_envelope **denv,
    struct buf *content)
{
	struct sched_dsn_in in = { 0 };

	in.dec = d;
	in.ndec = 1;
	in.env = pj->env;
	in.content = pj->content.len ? pj->content.data : NULL;
	in.content_len = pj->content.len;
	in.reporting_mta = p->env.hostname;
	in.now_s = clk_wall_s(p->env.clock);
	if (d->rcpt_idx < pj->env->nrcpts)
		in.detail = pj->why[d->rcpt_idx];
	return sched_dsn_build(&in, denv, content);
}

/* Store changes ch[0..n) with the DSN for d (if owed) in one transaction. */
static void
store(struct planner *p, const struct pjob *pj,
    const struct sched_decision *d, struct queue_change *ch, size_t n,
    struct req *r)
{
	struct queue_envelope *denv = NULL;
	struct buf content = BUF_INIT;
	int rc = GW_ENOENT;

	if (p->intake == NULL) {
		rc = GW_ESTATE;
	} else {
		if (d->dsn && build_dsn(p, pj, d, &denv, &content) != 0)
			denv = NULL;
		rc = intake_fail_built(p->intake, denv, &content, ch, n,
		    pj->id, on_req_status, r);
		if (rc != 0 && denv != NULL)
			queue_envelope_free(denv);
	}
	buf_fini(&content);
	if (rc != 0) {
		GW_LOGE("planner", "msg=%s event=%s_refused error=%s", r->hex,
		    r->what, gw_errname(rc));
		free(r->alt_route);
		free(r->error);
		free(r);
		return;
	}
	p->pending++;
}

static void
do_fail(struct planner *p, const struct pjob *pj,
    const struct sched_decision *d, int64_t rid)
{
	struct queue_change ch[2];
	struct req *r = req_new(p, "fail", pj->id);

	memset(ch, 0, sizeof(ch));
	r->error = xstrdup(sched_dsn_cause_text(d->cause));
	ch[0].rid = rid;
	ch[0].to = QUEUE_R_FAILED;
	ch[0].error = r->error;
	ch[0].status = d->status;
	ch[1].rid = rid;
	ch[1].to = QUEUE_R_DSN_QUEUED;
	GW_LOGI("planner", "msg=%s rcpt=<%s> event=fail status=%s cause=%s "
	    "dsn=%s", r->hex, pj->env->rcpts[d->rcpt_idx].addr, d->status,
	    sched_cause_name(d->cause), d->dsn ? "yes" : "no");
	store(p, pj, d, ch, 2, r);
}

static void
do_redirect(struct planner *p, const struct pjob *pj,
    struct sched_decision *d, int64_t rid)
{
	const struct queue_rcpt *qr = &pj->env->rcpts[d->rcpt_idx];
	struct sched_redirect sr = { 0 };
	struct queue_envelope *copy = NULL;
	struct buf hdr = BUF_INIT;
	struct queue_change ch = { 0 };
	char alt[512];
	const char *route;
	struct req *r;
	int rc;

	sr.orig = pj->env;
	sr.rcpt = d->rcpt_idx;
	sr.cause = d->cause;
	sr.by_left_ms = d->by_left_ms;
	sr.now_s = clk_wall_s(p->env.clock);
	sr.reporting_mta = p->env.hostname;
	sr.detail = pj->why[d->rcpt_idx];
	if (sr.detail && strstr(sr.detail, "; ") != NULL)
		sr.detail = strstr(sr.detail, "; ") + 2; /* "smtp; 550 ..." */
	rc = sched_redirect_build(&sr, &copy, &hdr);
	if (copy)
		queue_envelope_free(copy);
	if (rc == 0)
		rc = sched_redirect_alt_addr(qr->arcpt, alt, sizeof(alt));
	if (rc != 0) {
		buf_fini(&hdr);
		/* No whole second left (or no usable alternate): the
		 * recipient fails as a BY;R past its deadline would. */
		d->act = SCHED_ACT_FAIL;
		snprintf(d->status, sizeof(d->status), "%s",
		    rc == GW_ETIMEDOUT ? "5.4.7" : "5.1.3");
		d->dsn_action = DSN_FAILED;
		d->dsn = dsn_owed(pj->env->reverse_path == NULL ||
		    pj->env->reverse_path[0] == '\0', qr->notify, DSN_FAILED,
		    DSN_WHY_NORMAL);
		do_fail(p, pj, d, rid);
		return;
	}
	route = p->intake ? intake_route_for(p->intake, alt) : NULL;
	r = req_new(p, "redirect", pj->id);
	r->error = xstrdup(buf_cstr(&hdr));
	r->alt_route = route ? xstrdup(route) : NULL;
	buf_fini(&hdr);
	ch.rid = rid;
	ch.to = QUEUE_R_REDIRECTED;
	ch.error = r->error;
	ch.route = route ? route : "";
	GW_LOGI("planner", "msg=%s rcpt=<%s> event=redirect to=<%s> route=%s "
	    "cause=%s by_left_ms=%lld dsn=%s", r->hex, qr->addr, alt,
	    route ? route : "-", sched_cause_name(d->cause),
	    (long long)d->by_left_ms, d->dsn ? "yes" : "no");
	store(p, pj, d, &ch, 1, r);
}

static void
do_dsn_only(struct planner *p, const struct pjob *pj,
    const struct sched_decision *d)
{
	struct req *r = req_new(p, "dsn", pj->id);

	GW_LOGI("planner", "msg=%s rcpt=<%s> event=dsn action=%s status=%s "
	    "cause=%s", r->hex, pj->env->rcpts[d->rcpt_idx].addr,
	    dsn_action_name(d->dsn_action), d->status,
	    sched_cause_name(d->cause));
	store(p, pj, d, NULL, 0, r);
}

/* The operator's counters (planner_counts): outcomes, and deadline
 * outcomes of recipients that had a BY or ABY. */
static void
count(struct planner *p, const struct pjob *pj, const struct sched_decision *d)
{
	struct planner_counts *c = &p->counts;
	bool deadline = pj->env->by_deadline != 0 ||
	    pj->env->aby_deadline != 0;
	int b = d->band < 0 ? 0 : d->band >= SCHED_BANDS ? SCHED_BANDS - 1 :
							  d->band;

	switch (d->act) {
	case SCHED_ACT_REDIRECT:
		c->redirected[b]++;
		/* a redirect before the deadline (predicted late) is the
		 * alternate doing its job, not a miss */
		if (d->cause == SCHED_CAUSE_ABY_EXPIRED ||
		    d->cause == SCHED_CAUSE_BY_EXPIRED)
			c->deadline_missed++;
		break;
	case SCHED_ACT_FAIL:
		c->failed[b]++;
		if (d->cause == SCHED_CAUSE_BY_EXPIRED ||
		    d->cause == SCHED_CAUSE_CERTAIN_MISS)
			c->deadline_missed++;
		break;
	case SCHED_ACT_DELAYED:
		if (d->cause == SCHED_CAUSE_BY_PASSED) {
			c->deadline_missed++;
			c->delayed_dsn[b]++;
		} else if (d->dsn) {
			c->delayed_dsn[b]++;
		}
		break;
	case SCHED_ACT_RELAYED:
	case SCHED_ACT_DELIVERED:
		if (d->act == SCHED_ACT_RELAYED)
			c->relayed[b]++;
		else
			c->delivered[b]++;
		if (deadline && (pj->env->by_deadline == 0 ||
		    clk_wall_s(p->env.clock) <= pj->env->by_deadline))
			c->deadline_met++;
		break;
	case SCHED_ACT_CLOSED: /* failed by its owner, DSN sent there */
		c->failed[b]++;
		break;
	}
}

const struct planner_counts *
planner_get_counts(const struct planner *p)
{
	return &p->counts;
}

const struct predict_link *
planner_model(const struct planner *p, const char *route)
{
	int r = sched_route_find(p->s, route);

	return r < 0 ? NULL : sched_route_model(p->s, r);
}

static void
carry_out(struct planner *p, struct sched_decision *d)
{
	struct pjob *pj = pjob_find(p, d->id, d->route);
	int64_t rid;
	bool resolved = false;

	if (pj == NULL || d->rcpt_idx >= pj->env->nrcpts)
		return;
	rid = pj->rid_of[d->rcpt_idx];
	count(p, pj, d);
	switch (d->act) {
	case SCHED_ACT_REDIRECT:
		if (rid)
			do_redirect(p, pj, d, rid);
		resolved = true;
		break;
	case SCHED_ACT_FAIL:
		if (rid)
			do_fail(p, pj, d, rid);
		resolved = true;
		break;
	case SCHED_ACT_DELAYED:
		if (d->dsn)
			do_dsn_only(p, pj, d);
		break;
	case SCHED_ACT_RELAYED:
		if (d->dsn && p->link_route[d->route])
			do_dsn_only(p, pj, d);
		break;
	case SCHED_ACT_DELIVERED:
	case SCHED_ACT_CLOSED:
		break;
	}
	if (d->job_gone)
		pjob_free(p, pj);
	if (resolved && p->owners[d->route].fn)
		p->owners[d->route].fn(p->owners[d->route].arg, d->id,
		    d->route);
}

static void
on_timer(uv_timer_t *t)
{
	struct planner *p = t->data;
	struct sched_out out;
	int64_t wake;

	p->armed_ms = INT64_MAX;
	if (p->st != PL_RUNNING)
		return;
	/* Decisions from reports first, in the order they were made. */
	out = p->out;
	sched_out_init(&p->out);
	wake = sched_tick(p->s, now_ms(p), &out);
	for (size_t i = 0; i < out.n; i++)
		carry_out(p, &out.v[i]);
	sched_out_fini(&out);
	arm(p, wake);
}

/* ---- public ------------------------------------------------------------ */

struct planner *
planner_new(const struct planner_env *env)
{
	struct planner *p = xcalloc(1, sizeof(*p));

	p->env = *env;
	p->cfg = *env->cfg;
	p->s = sched_new(&p->cfg);
	sched_out_init(&p->out);
	uv_timer_init(env->loop, &p->timer);
	p->timer.data = p;
	p->armed_ms = INT64_MAX;
	p->st = PL_RUNNING;
	return p;
}

void
planner_set_intake(struct planner *p, struct intake *in)
{
	p->intake = in;
}

void
planner_reconfigure(struct planner *p, const struct sched_cfg *cfg)
{
	bool edf = p->cfg.edf;

	if (!sched_reconfigure(p->s, cfg))
		GW_LOGW("planner", "event=reconfigure note=\"sched_edf takes "
		    "effect at the next restart\"");
	p->cfg = *cfg;
	p->cfg.edf = edf;
	GW_LOGI("planner", "event=reconfigured share=%lld reeval_ms=%lld",
	    (long long)cfg->share_n, (long long)cfg->reeval_ms);
	arm(p, now_ms(p)); /* decide again under the new keys */
}

void
planner_local_model(struct predict_link *l)
{
	memset(l, 0, sizeof(*l));
	l->rate_bps = 1e6;
	l->max_rate_bps = 1e6;
	l->latency_ms = 2000;
	l->ratio = 1.0;
	l->min_ratio = 1.0;
}

int
planner_route(struct planner *p, const char *name,
    const struct predict_link *model)
{
	int r = sched_route_find(p->s, name);

	if (r >= 0)
		return r;
	r = sched_route_add(p->s, name, model);
	if (r >= 0) {
		p->link_route[r] = route_link_name(name) != NULL;
		/* a link starts down until its session is up; local routes
		 * are up */
		if (p->link_route[r])
			sched_route_state(p->s, r, SCHED_LINK_DOWN, 0,
			    now_ms(p));
	}
	return r;
}

void
planner_route_link(struct planner *p, int route,
    const struct predict_link *model)
{
	if (p->st != PL_RUNNING || route < 0)
		return;
	sched_route_link(p->s, route, model);
	poke(p);
}

void
planner_route_state(struct planner *p, int route, enum sched_link st)
{
	if (p->st != PL_RUNNING || route < 0)
		return;
	sched_route_state(p->s, route, st, 0, now_ms(p));
	poke(p);
}

void
planner_set_owner(struct planner *p, int route, planner_resolved_fn fn,
    void *arg)
{
	if (route < 0 || route >= SCHED_ROUTES_MAX)
		return;
	p->owners[route].fn = fn;
	p->owners[route].arg = arg;
}

struct sched_job *
planner_add(struct planner *p, int route, const struct queue_envelope *env,
    const int64_t *rids, const size_t *idx, size_t n, const uint8_t *content,
    size_t len)
{
	struct sched_job_spec spec;
	struct sched_rcpt_spec *rs;
	struct sched_job *job = NULL;
	struct pjob *pj;
	int rc;

	if (p->st != PL_RUNNING || route < 0 || n == 0)
		return NULL;
	pj = pjob_find(p, env->id, route);
	if (pj != NULL) {
		for (size_t i = 0; i < n; i++)
			if (idx[i] < pj->env->nrcpts)
				pj->rid_of[idx[i]] = rids[i];
		return sched_find(p->s, env->id, route);
	}
	rs = xcalloc(n, sizeof(*rs));
	sched_spec_from_envelope(&spec, rs, env, route, idx, n,
	    (int64_t)len, now_ms(p), clk_wall_s(p->env.clock));
	rc = sched_add(p->s, &spec, now_ms(p), &job);
	free(rs);
	if (rc != 0) {
		char hex[33];
		queue_id_hex(env->id, hex);
		GW_LOGW("planner", "msg=%s event=add_failed error=%s", hex,
		    gw_errname(rc));
		return NULL;
	}
	pj = xcalloc(1, sizeof(*pj));
	memcpy(pj->id, env->id, QUEUE_ID_LEN);
	pj->route = route;
	pj->env = queue_envelope_dup(env);
	pj->rid_of = xcalloc(env->nrcpts ? env->nrcpts : 1,
	    sizeof(*pj->rid_of));
	pj->why = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(*pj->why));
	for (size_t i = 0; i < n; i++)
		if (idx[i] < env->nrcpts)
			pj->rid_of[idx[i]] = rids[i];
	buf_init(&pj->content);
	if (content && len) {
		size_t keep = env->ret == QUEUE_RET_FULL &&
		    len <= FULL_CONTENT_MAX ? len : header_len(content, len);
		buf_append(&pj->content, content, keep);
	}
	pj->next = p->jobs;
	p->jobs = pj;
	poke(p);
	return job;
}

struct sched_job *
planner_find(const struct planner *p, const uint8_t id[QUEUE_ID_LEN],
    int route)
{
	if (route < 0)
		return NULL;
	return sched_find(p->s, id, route);
}

void
planner_forget(struct planner *p, const uint8_t id[QUEUE_ID_LEN], int route)
{
	struct sched_job *job = planner_find(p, id, route);
	struct pjob *pj = pjob_find(p, id, route);

	if (job)
		sched_remove(p->s, job);
	if (pj)
		pjob_free(p, pj);
}

int64_t
planner_eta_ms(const struct planner *p, int route, int64_t remaining_bytes)
{
	const struct predict_link *l = sched_route_model(p->s, route);
	int64_t d;

	if (l == NULL)
		return now_ms(p);
	d = predict_duration_ms(l, predict_air_bytes(l, remaining_bytes));
	return d == PREDICT_NEVER ? PREDICT_NEVER : now_ms(p) + d;
}

struct sched_job *
planner_next(struct planner *p, int route)
{
	if (p->st != PL_RUNNING || route < 0)
		return NULL;
	return sched_next(p->s, route, now_ms(p));
}

void
planner_progress(struct planner *p, struct sched_job *job, int64_t sent)
{
	if (p->st == PL_RUNNING && job)
		sched_progress(p->s, job, sent);
}

int
planner_commit_begin(struct planner *p, struct sched_job *job,
    int64_t done_ms)
{
	int rc;

	if (p->st != PL_RUNNING || job == NULL)
		return 0;
	/* set aside (BY;R past its deadline): never sent, the rules fail
	 * or redirect it */
	if (job->state == SCHED_JOB_DOOMED)
		return GW_ETIMEDOUT;
	rc = sched_commit_begin(p->s, job, done_ms, now_ms(p));
	if (rc == GW_ETIMEDOUT) {
		char hex[33];
		queue_id_hex(job->id, hex);
		GW_LOGW("planner", "msg=%s event=end_withheld reason=\"BY;R "
		    "deadline before the far end could commit\"", hex);
		poke(p);
	}
	return rc;
}

void
planner_commit_abort(struct planner *p, struct sched_job *job)
{
	if (p->st != PL_RUNNING || job == NULL ||
	    job->state != SCHED_JOB_COMMITTING)
		return;
	sched_commit_abort(p->s, job, now_ms(p));
	poke(p);
}

void
planner_report(struct planner *p, const uint8_t id[QUEUE_ID_LEN], int route,
    uint32_t rcpt_idx, enum sched_outcome outcome, const char *status,
    unsigned hop_flags)
{
	struct sched_job *job;

	if (p->st != PL_RUNNING || (job = planner_find(p, id, route)) == NULL)
		return;
	if (sched_report(p->s, job, rcpt_idx, outcome, status, hop_flags,
		now_ms(p), &p->out) == 0)
		poke(p);
}

bool
planner_alternates(const struct planner *p)
{
	return p->cfg.rules.alternates;
}

void
planner_note_reply(struct planner *p, const uint8_t id[QUEUE_ID_LEN],
    int route, uint32_t rcpt_idx, const char *text)
{
	struct pjob *pj;

	if (p->st != PL_RUNNING || (pj = pjob_find(p, id, route)) == NULL ||
	    rcpt_idx >= pj->env->nrcpts)
		return;
	free(pj->why[rcpt_idx]);
	pj->why[rcpt_idx] = text && *text ? xstrdup(text) : NULL;
}

/* ---- console ------------------------------------------------------------ */

struct risk_walk {
	const struct planner *p;
	struct status_risk *out;
	size_t n, max;
	int64_t now_ms, now_s;
	int64_t slack_below_ms;
};

static int64_t
to_wall(const struct risk_walk *w, int64_t ms)
{
	return w->now_s + (ms - w->now_ms) / 1000;
}

static void
risk_one(const struct sched_job *job, void *arg)
{
	struct risk_walk *w = arg;
	const struct pjob *pj;
	struct status_risk *r;
	const char *arcpt = NULL;
	int64_t dl;
	bool aby;

	if (w->n >= w->max || (job->by_ms == 0 && job->aby_ms == 0))
		return;
	pj = pjob_find(w->p, job->id, job->route);
	for (size_t i = 0; pj && i < job->nrcpts; i++) {
		const struct queue_rcpt *q;
		if (job->rcpts[i].state != SCHED_RCPT_ACTIVE ||
		    job->rcpts[i].idx >= pj->env->nrcpts)
			continue;
		q = &pj->env->rcpts[job->rcpts[i].idx];
		if (q->arcpt && q->arcpt[0]) {
			arcpt = q->arcpt;
			break;
		}
	}
	aby = arcpt && job->aby_ms != 0;
	dl = aby ? job->aby_ms : job->by_ms;
	if (dl == 0)
		return;
	if (job->pred_ms != PREDICT_NEVER &&
	    dl - job->pred_ms >= w->slack_below_ms)
		return; /* ample slack: not at risk */
	r = &w->out[w->n++];
	memset(r, 0, sizeof(*r));
	queue_id_hex(job->id, r->id);
	if (pj)
		status_strlcpy(r->sender, pj->env->reverse_path ?
		    pj->env->reverse_path : "", sizeof(r->sender));
	snprintf(r->kind, sizeof(r->kind), "%s", aby ? "ABY" :
	    job->by_mode == 'R' ? "BY;R" : "BY;N");
	r->deadline_s = to_wall(w, dl);
	r->predicted_s = job->pred_ms == PREDICT_NEVER ? 0 :
	    to_wall(w, job->pred_ms);
	r->slack_ms = job->pred_ms == PREDICT_NEVER ? INT64_MIN :
	    dl - job->pred_ms;
	/* What a miss does (sched_rules): the alternate first, else by the
	 * BY mode. */
	if (arcpt && (aby || job->by_mode == 'R')) {
		char alt[STATUS_ADDR_MAX];
		r->action = STATUS_RISK_REDIRECT;
		if (sched_redirect_alt_addr(arcpt, alt, sizeof(alt)) == 0)
			status_strlcpy(r->target, alt, sizeof(r->target));
	} else if (job->by_mode == 'R') {
		r->action = STATUS_RISK_FAIL;
		snprintf(r->status, sizeof(r->status), "5.4.7");
	} else {
		r->action = STATUS_RISK_DELAY;
		snprintf(r->status, sizeof(r->status), "4.4.7");
	}
}

size_t
planner_fill_risk(const struct planner *p, struct status_risk *out,
    size_t max, int64_t slack_below_ms)
{
	struct risk_walk w = { p, out, 0, max, now_ms(p),
		clk_wall_s(p->env.clock), slack_below_ms };

	for (int r = 0; r < SCHED_ROUTES_MAX && w.n < max; r++) {
		if (sched_route_model(p->s, r) == NULL)
			break;
		sched_walk(p->s, r, risk_one, &w);
	}
	return w.n;
}

/* ---- close ------------------------------------------------------------- */

static void
on_timer_closed(uv_handle_t *h)
{
	struct planner *p = h->data;

	p->timer_closed = true;
	if (p->st == PL_CLOSING && p->pending == 0) {
		p->st = PL_CLOSED;
		if (p->done)
			p->done(p->done_arg);
	}
}

void
planner_close(struct planner *p, void (*done)(void *), void *arg)
{
	if (p->st != PL_RUNNING)
		return;
	p->st = PL_CLOSING;
	p->done = done;
	p->done_arg = arg;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}

void
planner_free(struct planner *p)
{
	if (p == NULL)
		return;
	GW_REQUIRE(p->st != PL_CLOSING);
	if (p->st == PL_RUNNING) /* never closed: the timer must not fire */
		GW_REQUIRE(!uv_is_active((uv_handle_t *)&p->timer));
	while (p->jobs)
		pjob_free(p, p->jobs);
	sched_out_fini(&p->out);
	sched_free(p->s);
	free(p);
}
