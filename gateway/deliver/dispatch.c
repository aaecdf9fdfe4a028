/*
 * dispatch.c - local and onward delivery runner (see dispatch.h).
 *
 * Owner: the daemon, on the loop thread. One runner per local route target
 * (and one for unroutable recipients, route ""); each runs this cycle:
 *
 *   IDLE --timer or kick--> SELECTING --work--> LOADING --> READING
 *     ^                         | none                          |
 *     +-------------------------+                               v
 *     +<-- outcomes stored, DSNs queued <-- DELIVERING <-- MARKING
 *
 * A failure of the queue at any step leaves the recipients where they were
 * (or in flight, which the queue returns to queued at the next start), so
 * nothing is lost; the runner goes back to IDLE and tries again later.
 *
 * With a planner (planner.h), MARKING -> DELIVERING first adds the attempt
 * as a planner job on the runner's route and begins its commit: a BY;R
 * message whose deadline has passed is not delivered (the planner fails it
 * 5.4.7 from its timer; the recipients stay in flight until then), and no
 * redirect can race the delivery. Outcomes are reported to the planner
 * once stored. A recipient the queue added by a redirect (parent_rid set)
 * is delivered on its own, with the trace header its primary recorded.
 *
 * Alternate recipients: a permanent failure (5xx at RCPT or after DATA, a
 * local 5.x.x) of a recipient that has an ARCPT is not stored here: the
 * recipient stays in flight and the failure goes to the planner as
 * SCHED_OUT_PERMFAIL with the hop's reply, whose rule 2 redirects it
 * (REDIRECTED + the alternate + the DSN, one transaction). Temporary
 * failures are stored DEFERRED and reported (rules 3-6 may redirect
 * later). An attempt whose outcomes all say the next hop could not be
 * reached marks the route down for the rules, one that got a reply marks
 * it up.
 *
 * Conversion (maildir and lmtp routes only): MARKING --CONPERM/DRUCOF and
 * the caps table knows the recipients--> CONVERTING (conv_run on the
 * thread pool, convert.h; the content buffer belongs to the job until its
 * callback) --converted / nothing to do--> DELIVERING with the result;
 * --no usable form may be made--> every recipient of the attempt gets a
 * DELIVER_FAILED outcome with conv's status (5.6.x) and goes the usual
 * outcome path (FAILED, DSN). smtp: routes are negotiated with the next
 * hop by the onward client instead (smtpc.h, the seed's relay algorithm).
 *
 * Batches (b2f: routes): a B2F station takes up to BATCH_MAX proposals in
 * one block, so such a route's runner (the lead) works up to BATCH_MAX
 * messages at once: on_selected gives each further message of the
 * selection (scheduling order: band, deadline, arrival) to a mate runner
 * of its own, which runs LOADING .. MARKING like the lead; each member
 * then waits (ready) until every member is ready or has dropped out, and
 * all are handed to delivery in the same loop turn, in selection order,
 * so the transport proposes them in one block. The lead selects again
 * only once every mate is idle (until a mate has marked its recipients in
 * flight, another selection would return them again).
 *
 * X.6.4: a success DSN ("delivered", "relayed") owed for a recipient whose
 * content was converted with loss (the local conversion above, the onward
 * client's, or an earlier gateway's: QUEUE_RCPT_LOSSY) carries Status
 * 2.6.4 and names what was converted; failures keep their 5.x.x.
 */
#include "gateway/deliver/dispatch.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/convert.h"
#include "gateway/deliver/deliver.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/dsn.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/sched/planner.h"
#include "gateway/sched/retry.h"
#include "gateway/smtp/received.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNNERS_MAX (ROUTE_LINES_MAX + 1)
#define TICK_MS 2000
#define SELECT_MAX 64
#define BATCH_MAX 5                /* messages per b2f: attempt (a block) */

enum run_state { RUN_IDLE, RUN_SELECTING, RUN_LOADING, RUN_READING,
	RUN_MARKING, RUN_CONVERTING, RUN_DELIVERING, RUN_STORING };

struct runner {
	struct dispatch *d;
	char route[256];           /* target spec, "" for unroutable */
	enum run_state st;
	bool again;                /* kicked while busy: select again */
	uint8_t id[QUEUE_ID_LEN];
	int64_t *rids;             /* recipients of this attempt */
	size_t nrids;
	size_t *idx;               /* their indexes in info.env.rcpts */
	int *attempts;
	struct queue_envelope *env; /* copy of the loaded envelope */
	struct buf content;
	struct queue_change *ch;   /* outcomes to store */
	char (*err)[420];
	char (*status)[16];
	size_t nch;
	int band;
	int proute;                /* planner route, -1: none */
	char *trace;               /* redirect trace header to prepend */
	uint32_t *oidx;            /* per stored outcome: recipient index */
	int *okind;                /* enum sched_outcome, -1: not reported */
	char (*ostatus)[16];
	/* permanent failures of this attempt, for their DSNs once the
	 * FAILED states are stored (NULL entries: other outcomes) */
	struct deliver_outcome **failed;
	/* permanent failures of recipients with an alternate (ARCPT): the
	 * duty to redirect is ours, so the scheduler decides (rule 2); they
	 * stay in flight until its decision is stored */
	size_t *hand;              /* recipient indexes */
	char (*hand_status)[16];
	char (*hand_why)[420];
	size_t nhand;
	/* outcomes of this attempt that reached the next hop (a reply came)
	 * and that could not reach it at all (route down for the rules) */
	size_t nreached, nunreach;
	/* the local conversion of this attempt lost information (X.6.4) */
	bool conv_lossy;
	char conv_detail[300];
	/* batches (b2f: routes): a mate's lead, or NULL; the lead's mates;
	 * a member waiting for the rest of its batch before delivery */
	struct runner *lead;
	struct runner *mate[BATCH_MAX - 1];
	size_t nmates;
	bool ready, batch_more;
};

struct dispatch {
	struct dispatch_env env;
	const struct route_table *routes; /* for deliver's targets */
	struct retry_cfg retry;
	struct smtpc_client *smtpc;
	struct deliver *deliver;
	uv_timer_t timer;
	struct runner *run[RUNNERS_MAX];
	size_t nrun;
	int pending;               /* queue requests and jobs in flight */
	bool closing;
	void (*done)(void *);
	void *done_arg;
	struct planner *planner;
};

static void runner_select(struct runner *r);
static void runner_deliver(struct runner *r);
static void batch_go(struct runner *lead);
static bool mates_busy(const struct runner *lead);
static void maybe_closed(struct dispatch *d);

/* A job of this attempt still committing goes back to ready. */
static void
runner_abort_commit(struct runner *r)
{
	struct planner *p = r->d->planner;

	if (p == NULL || r->proute < 0 || r->env == NULL)
		return;
	planner_commit_abort(p, planner_find(p, r->id, r->proute));
}

static void
runner_reset(struct runner *r)
{
	runner_abort_commit(r);
	free(r->trace);
	free(r->oidx);
	free(r->okind);
	free(r->ostatus);
	if (r->failed != NULL)
		for (size_t i = 0; i < r->nrids; i++)
			free(r->failed[i]);
	free(r->failed);
	r->failed = NULL;
	free(r->hand);
	free(r->hand_status);
	free(r->hand_why);
	r->hand = NULL;
	r->hand_status = NULL;
	r->hand_why = NULL;
	r->nhand = 0;
	r->nreached = r->nunreach = 0;
	r->trace = NULL;
	r->oidx = NULL;
	r->okind = NULL;
	r->ostatus = NULL;
	free(r->rids);
	free(r->idx);
	free(r->attempts);
	free(r->ch);
	free(r->err);
	free(r->status);
	r->rids = NULL;
	r->idx = NULL;
	r->attempts = NULL;
	r->ch = NULL;
	r->err = NULL;
	r->status = NULL;
	r->nrids = r->nch = 0;
	r->conv_lossy = false;
	r->conv_detail[0] = '\0';
	if (r->env)
		queue_envelope_free(r->env);
	r->env = NULL;
	buf_reset(&r->content);
}

/* End of one attempt: back to IDLE, and select again if there was more. */
static void
runner_idle(struct runner *r, bool more)
{
	struct dispatch *d = r->d;

	struct runner *lead = r->lead ? r->lead : r;

	runner_reset(r);
	r->st = RUN_IDLE;
	r->ready = false;
	if (d->closing) {
		maybe_closed(d);
		return;
	}
	lead->batch_more |= more;
	if (mates_busy(lead) || lead->st != RUN_IDLE) {
		batch_go(lead); /* the others may wait for this one */
		return;
	}
	if (lead->batch_more || lead->again) {
		lead->again = false;
		lead->batch_more = false;
		runner_select(lead);
	}
}

static void
runner_fail(struct runner *r, const char *what, int err)
{
	GW_LOGW("dispatch", "route=\"%s\" event=attempt_abandoned step=%s "
	    "error=%s", gw_logq(r->route), what, gw_errname(err));
	runner_idle(r, false);
}

/* ---- DSNs --------------------------------------------------------------- */

static void
on_dsn_stored(int status, void *arg)
{
	struct dispatch *d = arg;

	(void)status; /* logged by the front door */
	d->pending--;
	if (d->closing)
		maybe_closed(d);
	else
		dispatch_kick(d);
}

/* Queue one report about recipient outcome o of the runner's message;
 * with done (a FAILED recipient's FAILED -> DSN_QUEUED), in the same
 * transaction as the report, so a failure is never left without the DSN
 * it owes (a crash in between leaves FAILED, which sweep.c finishes at the
 * next start).
 * A success ("delivered", "relayed") after a conversion with loss, here or
 * at an earlier gateway (QUEUE_RCPT_LOSSY), reports 2.6.4 and what was
 * converted (deliver_outcome_dsn). */
static int
send_dsn(struct runner *r, const struct deliver_outcome *o,
    enum dsn_action action, const struct queue_change *done)
{
	struct dispatch *d = r->d;
	const struct queue_rcpt *qr = &r->env->rcpts[o->rcpt];
	struct dsn_rcpt dr = { 0 };
	struct dsn_report rep = { 0 };
	struct queue_envelope *denv = NULL;
	struct buf content = BUF_INIT;
	struct deliver_outcome oc = *o;
	char diag[500], status[16];
	int rc;

	if (r->conv_lossy && !oc.lossy) {
		oc.lossy = true;
		snprintf(oc.conv_detail, sizeof(oc.conv_detail), "%s",
		    r->conv_detail);
	}
	deliver_outcome_dsn(&oc, action == DSN_DELIVERED ||
	    action == DSN_RELAYED, (qr->flags & QUEUE_RCPT_LOSSY) != 0,
	    status, sizeof(status), diag, sizeof(diag));
	dr.final_rcpt = qr->addr;
	dr.orcpt = qr->orcpt;
	dr.action = action;
	dr.status = status;
	dr.diag = diag;
	dr.remote_mta = NULL;
	dr.last_attempt_s = clk_wall_s(d->env.clock);
	rep.reporting_mta = d->env.hostname;
	rep.orig = r->env;
	rep.rcpts = &dr;
	rep.nrcpts = 1;
	rep.content = r->content.data;
	rep.content_len = r->content.len;
	rep.now_s = clk_wall_s(d->env.clock);
	rc = dsn_build(&rep, &denv, &content);
	if (rc != 0) {
		buf_fini(&content);
		return rc; /* GW_ENOENT: none may be sent (null reverse path) */
	}
	rc = intake_fail_built(d->env.intake, denv, &content, done,
	    done ? 1 : 0, r->env->id, on_dsn_stored, d);
	buf_fini(&content);
	if (rc != 0) {
		char hex[33];
		queue_id_hex(r->id, hex);
		GW_LOGE("dispatch", "event=dsn_refused dsn_for=%s error=%s",
		    hex, gw_errname(rc));
		queue_envelope_free(denv);
	} else {
		d->pending++;
	}
	return rc;
}

/* ---- one attempt ------------------------------------------------------ */

/* Tell the planner what the stored outcomes were, and hand it the
 * permanent failures it must decide (r->hand). A permanent failure stored
 * here (FAILED, with its DSN) only closes the recipient's record
 * (SCHED_OUT_FAILED). */
static void
report_outcomes(struct runner *r)
{
	struct planner *p = r->d->planner;

	if (p == NULL || r->proute < 0)
		return;
	for (size_t i = 0; i < r->nch; i++) {
		if (r->okind[i] < 0)
			continue;
		planner_report(p, r->id, r->proute, r->oidx[i],
		    r->okind[i] == SCHED_OUT_PERMFAIL ? SCHED_OUT_FAILED :
		    (enum sched_outcome)r->okind[i],
		    r->ostatus[i][0] ? r->ostatus[i] : NULL, 0);
	}
	for (size_t i = 0; i < r->nhand; i++) {
		planner_note_reply(p, r->id, r->proute, (uint32_t)r->hand[i],
		    r->hand_why[i]);
		planner_report(p, r->id, r->proute, (uint32_t)r->hand[i],
		    SCHED_OUT_PERMFAIL, r->hand_status[i][0] ?
		    r->hand_status[i] : NULL, 0);
	}
}

/* Is the alternate-recipient duty for this failed recipient ours to carry
 * out? It is whenever the recipient has an ARCPT and the scheduler knows
 * the attempt: a hop that accepted the ARCPT took the duty only if the
 * transaction then succeeded (it did not: this is a failure). */
static bool
alt_duty_here(const struct runner *r, const struct queue_rcpt *qr)
{
	const struct planner *p = r->d->planner;

	return p != NULL && r->proute >= 0 && qr->arcpt != NULL &&
	    planner_alternates(p) &&
	    planner_find(p, r->id, r->proute) != NULL;
}

static void
on_failures_finished(int status, void *arg)
{
	struct dispatch *d = arg;

	d->pending--;
	if (status != 0)
		GW_LOGE("dispatch", "event=failure_finish_failed error=%s "
		    "note=\"left FAILED for the start-up sweep\"",
		    gw_errname(status));
	if (d->closing)
		maybe_closed(d);
}

/* The FAILED outcomes are stored: queue each one's DSN with its FAILED ->
 * DSN_QUEUED, or (none owed) just move them on, so their message can be
 * collected once nothing else is left to do for it. */
static void
finish_failures(struct runner *r)
{
	struct dispatch *d = r->d;
	bool null_sender = r->env->reverse_path == NULL ||
	    r->env->reverse_path[0] == '\0';
	struct queue_change *mv = xcalloc(r->nch ? r->nch : 1, sizeof(*mv));
	size_t nmv = 0;

	for (size_t i = 0; i < r->nch; i++) {
		const struct deliver_outcome *o = r->failed[i];
		struct queue_change done = { 0 };
		if (o == NULL)
			continue;
		done.rid = r->ch[i].rid;
		done.to = QUEUE_R_DSN_QUEUED;
		if (dsn_owed(null_sender, r->env->rcpts[o->rcpt].notify,
			DSN_FAILED, DSN_WHY_NORMAL) &&
		    send_dsn(r, o, DSN_FAILED, &done) != GW_ENOENT)
			continue; /* queued with it, or refused (logged) */
		mv[nmv++] = done;
	}
	if (nmv > 0) {
		int rc = queue_update(d->env.queue, mv, nmv,
		    on_failures_finished, d);
		if (rc != 0)
			GW_LOGE("dispatch", "event=failure_finish_failed "
			    "error=%s", gw_errname(rc));
		else
			d->pending++;
	}
	free(mv);
}

static void
on_outcomes_stored(int status, void *arg)
{
	struct runner *r = arg;

	r->d->pending--;
	if (status != 0) {
		GW_LOGE("dispatch", "route=\"%s\" event=outcome_store_failed "
		    "error=%s", gw_logq(r->route), gw_errname(status));
	} else {
		finish_failures(r);
		report_outcomes(r);
	}
	runner_idle(r, status == 0);
}

static size_t
rid_slot(const struct runner *r, size_t rcpt_index)
{
	for (size_t i = 0; i < r->nrids; i++)
		if (r->idx[i] == rcpt_index)
			return i;
	return SIZE_MAX;
}

static void
on_outcome(void *arg, const struct deliver_outcome *o)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;
	size_t k = rid_slot(r, o->rcpt);
	struct queue_change *c;
	const struct queue_rcpt *qr;
	bool null_sender;
	char hex[33];

	if (k == SIZE_MAX)
		return;
	qr = &r->env->rcpts[o->rcpt];
	queue_id_hex(r->id, hex);
	if (o->unreachable)
		r->nunreach++;
	else if (o->code != 0)
		r->nreached++;
	if (o->action == DELIVER_FAILED && alt_duty_here(r, qr)) {
		char why[420];
		size_t h = r->nhand++;
		deliver_outcome_diag(o, why, sizeof(why));
		r->hand[h] = o->rcpt;
		snprintf(r->hand_status[h], sizeof(r->hand_status[0]), "%s",
		    o->status);
		/* the Diagnostic-Code: "smtp; 550 5.1.1 text" */
		snprintf(r->hand_why[h], sizeof(r->hand_why[0]), "%s", why);
		GW_LOGI("dispatch", "msg=%s rcpt=<%s> event=failed_alternate "
		    "status=%s text=\"%s\" note=\"the scheduler redirects to "
		    "the ARCPT\"", hex, qr->addr, o->status[0] ? o->status :
		    "-", gw_logq(o->text));
		return;
	}
	null_sender = r->env->reverse_path == NULL ||
	    r->env->reverse_path[0] == '\0';
	c = &r->ch[r->nch];
	c->rid = r->rids[k];
	snprintf(r->err[r->nch], sizeof(r->err[0]), "%s", o->text);
	snprintf(r->status[r->nch], sizeof(r->status[0]), "%s", o->status);
	c->error = r->err[r->nch];
	c->status = r->status[r->nch][0] ? r->status[r->nch] : NULL;
	r->oidx[r->nch] = (uint32_t)o->rcpt;
	r->okind[r->nch] = -1;
	snprintf(r->ostatus[r->nch], sizeof(r->ostatus[0]), "%s", o->status);
	switch (o->action) {
	case DELIVER_DELIVERED:
		r->okind[r->nch] = SCHED_OUT_DELIVERED;
		c->to = QUEUE_R_DELIVERED;
		if (dsn_owed(null_sender, qr->notify, DSN_DELIVERED,
			DSN_WHY_NORMAL))
			send_dsn(r, o, DSN_DELIVERED, NULL);
		break;
	case DELIVER_RELAYED:
		r->okind[r->nch] = SCHED_OUT_RELAYED;
		c->to = QUEUE_R_RELAYED;
		if (o->dsn_relayed &&
		    dsn_owed(null_sender, qr->notify, DSN_RELAYED,
			DSN_WHY_TRACE))
			send_dsn(r, o, DSN_RELAYED, NULL);
		break;
	case DELIVER_DEFERRED:
		if (o->requeue) {
			c->to = QUEUE_R_QUEUED; /* not tried: due at once */
			break;
		}
		r->okind[r->nch] = SCHED_OUT_TEMPFAIL;
		c->to = QUEUE_R_DEFERRED;
		c->next_attempt = clk_wall_s(d->env.clock) +
		    retry_backoff_ms(&d->retry, r->band,
			r->attempts[k] + 1) / 1000;
		break;
	case DELIVER_FAILED:
		/* FAILED is stored with the other outcomes; then the DSN
		 * (when owed) and FAILED -> DSN_QUEUED go in one transaction
		 * (finish_failures). */
		r->okind[r->nch] = SCHED_OUT_PERMFAIL;
		c->to = QUEUE_R_FAILED;
		r->failed[r->nch] = xmalloc(sizeof(*o));
		*r->failed[r->nch] = *o;
		break;
	case DELIVER_TO_LINK:
		/* Only an unrouted recipient whose domain gained a link
		 * route by a reload gets here; an operator requeue moves it
		 * (skywave requeue ID link:NAME). */
		c->to = QUEUE_R_DEFERRED;
		c->next_attempt = clk_wall_s(d->env.clock) + 300;
		break;
	}
	GW_LOGI("dispatch", "msg=%s rcpt=<%s> event=%s status=%s text=\"%s\"",
	    hex, qr->addr, deliver_action_name(o->action),
	    o->status[0] ? o->status : "-", gw_logq(o->text));
	r->nch++;
}

/* An SMTP/LMTP route is down for the scheduler's rules (route down past
 * altrecip_route_down_limit redirects) while its attempts cannot reach any
 * of its hosts, and up again as soon as one answers. */
static void
runner_route_state(struct runner *r)
{
	struct planner *p = r->d->planner;

	if (p == NULL || r->proute < 0)
		return;
	if (r->nreached > 0)
		planner_route_state(p, r->proute, SCHED_LINK_UP);
	else if (r->nunreach > 0)
		planner_route_state(p, r->proute, SCHED_LINK_DOWN);
}

static void
on_delivered(void *arg)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;
	int rc;

	d->pending--;
	r->st = RUN_STORING;
	runner_route_state(r);
	if (r->nch == 0) {
		report_outcomes(r);
		runner_idle(r, true);
		return;
	}
	rc = queue_update(d->env.queue, r->ch, r->nch, on_outcomes_stored, r);
	if (rc != 0) {
		runner_fail(r, "store", rc);
		return;
	}
	d->pending++;
}

/* ---- conversion before final delivery (CONPERM / DRUCOF) -------------- */

static void
on_converted(const struct convert_result *res, void *arg)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;
	const struct queue_rcpt *qr0;
	struct conneg_relay_in in = { 0 };
	struct conneg_relay_out dec;
	char hex[33];

	d->pending--;
	buf_swap(&r->content, res->orig);
	if (d->closing) {
		/* in flight now; they return to queued at the next start */
		runner_idle(r, false);
		return;
	}
	queue_id_hex(r->id, hex);
	if (res->rc != 0) {
		GW_LOGW("dispatch", "msg=%s event=convert_error error=%s "
		    "action=deliver_as_stored", hex, gw_errname(res->rc));
		runner_deliver(r);
		return;
	}
	qr0 = &r->env->rcpts[r->idx[0]];
	in.drucof = (qr0->flags & QUEUE_RCPT_DRUCOF) != 0;
	in.conperm = r->env->conperm;
	in.caps_known = true;
	in.hop = CONNEG_HOP_NO_CONNEG; /* final delivery: nobody after us */
	conneg_relay_set_conv(&in, &res->rep);
	conneg_relay_decide(&in, &dec);
	/* CONPERM, like DRUCOF, asks for a usable result or none (RFC 4141:
	 * the originator requires): the decision's failure stands. */
	switch (dec.action) {
	case CONNEG_CONVERT:
		GW_LOGI("dispatch", "msg=%s event=converted size=%zu "
		    "new_size=%zu lossy=%s detail=\"%s\"", hex, r->content.len,
		    res->out->len, res->rep.lossy ? "yes" : "no",
		    gw_logq(res->rep.detail));
		buf_swap(&r->content, res->out);
		r->conv_lossy = res->rep.lossy;
		snprintf(r->conv_detail, sizeof(r->conv_detail), "%.*s",
		    (int)sizeof(r->conv_detail) - 1, res->rep.detail);
		break;
	case CONNEG_FAIL:
		/* every recipient of the attempt fails, through the same
		 * outcome path (FAILED + DSN) as a refused delivery */
		for (size_t i = 0; i < r->nrids; i++) {
			struct deliver_outcome o;
			memset(&o, 0, sizeof(o));
			o.rcpt = r->idx[i];
			o.action = DELIVER_FAILED;
			snprintf(o.status, sizeof(o.status), "%s", dec.status);
			snprintf(o.text, sizeof(o.text), "content conversion: "
			    "%.60s: %.300s", strcmp(dec.status, "5.6.2") == 0 ?
			    "conversion required and prohibited" : dec.why,
			    res->rep.detail);
			on_outcome(r, &o);
		}
		d->pending++; /* on_delivered takes it back */
		on_delivered(r);
		return;
	case CONNEG_PASS:
		GW_LOGI("dispatch", "msg=%s event=convert_pass reason=\"%s\"",
		    hex, gw_logq(dec.why));
		break;
	}
	runner_deliver(r);
}

/* Start a conversion when the route delivers finally (maildir, lmtp), the
 * sender asked (CONPERM / DRUCOF) and the table knows every recipient of
 * the attempt with one entry; false: deliver as stored. */
static bool
runner_convert(struct runner *r)
{
	struct dispatch *d = r->d;
	struct conneg_table *t = d->env.caps ? *d->env.caps : NULL;
	const struct queue_rcpt *qr0;
	struct conv_policy pol = { 0 };
	const char *filter;
	bool drucof;

	if (t == NULL || r->nrids == 0 ||
	    (strncmp(r->route, "maildir:", 8) != 0 &&
	    strncmp(r->route, "lmtp:", 5) != 0))
		return false;
	qr0 = &r->env->rcpts[r->idx[0]];
	drucof = (qr0->flags & QUEUE_RCPT_DRUCOF) != 0;
	if (!r->env->conperm && !drucof)
		return false;
	filter = conneg_lookup(t, qr0->addr);
	if (filter == NULL)
		return false;
	for (size_t i = 1; i < r->nrids; i++) {
		const struct queue_rcpt *qr = &r->env->rcpts[r->idx[i]];
		if (conneg_lookup(t, qr->addr) != filter ||
		    ((qr->flags & QUEUE_RCPT_DRUCOF) != 0) != drucof)
			return false;
	}
	pol.conperm = r->env->conperm;
	pol.drucof = drucof;
	pol.by_domain = d->env.hostname;
	pol.now_s = clk_wall_s(d->env.clock);
	if (convert_start(d->env.loop, &r->content, &pol, filter,
	    on_converted, r) != 0)
		return false;
	r->st = RUN_CONVERTING;
	d->pending++;
	return true;
}

static void
on_marked(int status, void *arg)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;

	d->pending--;
	if (status != 0) {
		runner_fail(r, "mark", status);
		return;
	}
	if (d->closing) {
		/* in flight now; they return to queued at the next start */
		runner_idle(r, false);
		return;
	}
	if (d->planner && r->proute >= 0) {
		struct sched_job *job = planner_add(d->planner, r->proute,
		    r->env, r->rids, r->idx, r->nrids, r->content.data,
		    r->content.len);
		int64_t done = clk_mono_ms(d->env.clock) + 2000;
		if (job && planner_commit_begin(d->planner, job, done) ==
		    GW_ETIMEDOUT) {
			char hex[33];
			queue_id_hex(r->id, hex);
			GW_LOGW("dispatch", "msg=%s route=\"%s\" "
			    "event=not_delivered reason=\"BY;R deadline "
			    "passed\"", hex, gw_logq(r->route));
			runner_idle(r, true);
			return;
		}
	}
	/* Trace fields on top, newest first: a redirect's trace, then the
	 * Received field of the radio hop the message arrived over. */
	struct buf top = BUF_INIT;
	char idhex[33];
	queue_id_hex(r->id, idhex);
	if (r->trace)
		buf_append_str(&top, r->trace);
	received_air(&top, r->env->client, d->env.hostname, idhex,
	    r->env->priority, r->env->arrival);
	if (top.len > 0) {
		buf_append(&top, r->content.data, r->content.len);
		buf_swap(&top, &r->content);
	}
	buf_fini(&top);
	r->ch = xcalloc(r->nrids, sizeof(*r->ch));
	r->err = xcalloc(r->nrids, sizeof(*r->err));
	r->status = xcalloc(r->nrids, sizeof(*r->status));
	r->oidx = xcalloc(r->nrids, sizeof(*r->oidx));
	r->okind = xcalloc(r->nrids, sizeof(*r->okind));
	r->ostatus = xcalloc(r->nrids, sizeof(*r->ostatus));
	r->failed = xcalloc(r->nrids, sizeof(*r->failed));
	r->hand = xcalloc(r->nrids, sizeof(*r->hand));
	r->hand_status = xcalloc(r->nrids, sizeof(*r->hand_status));
	r->hand_why = xcalloc(r->nrids, sizeof(*r->hand_why));
	if (!runner_convert(r))
		runner_deliver(r);
}

static void deliver_now(struct runner *r);

/* Hand the content to delivery (RUN_DELIVERING); a member of a batch
 * first waits for the rest of it (batch_go). */
static void
runner_deliver(struct runner *r)
{
	struct runner *lead = r->lead ? r->lead : r;

	if (r->lead == NULL && r->nmates == 0) {
		deliver_now(r);
		return;
	}
	r->ready = true;
	batch_go(lead);
}

/* Is a mate of this lead still working? */
static bool
mates_busy(const struct runner *lead)
{
	for (size_t i = 0; i < lead->nmates; i++)
		if (lead->mate[i]->st != RUN_IDLE)
			return true;
	return false;
}

/* Once every member of the batch is ready or has dropped out, hand the
 * ready ones to delivery, in selection order, in this loop turn. */
static void
batch_go(struct runner *lead)
{
	struct runner *m[BATCH_MAX];
	size_t n = 0;

	m[n++] = lead;
	for (size_t i = 0; i < lead->nmates; i++)
		m[n++] = lead->mate[i];
	for (size_t i = 0; i < n; i++)
		if (m[i]->st != RUN_IDLE && !m[i]->ready)
			return;
	if (lead->d->closing) {
		/* in flight; back to queued at the next start */
		for (size_t i = 0; i < n; i++) {
			if (!m[i]->ready)
				continue;
			m[i]->ready = false;
			runner_reset(m[i]);
			m[i]->st = RUN_IDLE;
		}
		maybe_closed(lead->d); /* may free the runners */
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!m[i]->ready)
			continue;
		m[i]->ready = false;
		deliver_now(m[i]);
	}
}

/* Delivery of one attempt's message (RUN_DELIVERING). */
static void
deliver_now(struct runner *r)
{
	struct dispatch *d = r->d;
	struct deliver_req req;
	int rc;

	r->st = RUN_DELIVERING;
	memset(&req, 0, sizeof(req));
	req.env = r->env;
	req.content = r->content.data;
	req.len = r->content.len;
	req.rcpts = r->idx;
	req.nrcpts = r->nrids;
	rc = deliver_start(d->deliver, &req, on_outcome, on_delivered, r);
	if (rc != 0) {
		runner_fail(r, "deliver", rc);
		return;
	}
	d->pending++;
}

static void on_read(int status, const uint8_t *data, size_t len,
    int64_t total, void *arg);

static void
read_more(struct runner *r)
{
	int rc = queue_read_content(r->d->env.queue, r->id,
	    (int64_t)r->content.len, QUEUE_READ_MAX, on_read, r);
	if (rc != 0) {
		runner_fail(r, "read", rc);
		return;
	}
	r->d->pending++;
}

static void
on_read(int status, const uint8_t *data, size_t len, int64_t total,
    void *arg)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;
	struct queue_change *ch;
	int rc;

	d->pending--;
	if (status != 0) {
		runner_fail(r, "read", status);
		return;
	}
	buf_append(&r->content, data, len);
	if (len > 0 && (int64_t)r->content.len < total) {
		read_more(r);
		return;
	}
	if (d->closing) {
		runner_idle(r, false);
		return;
	}
	r->st = RUN_MARKING;
	ch = xcalloc(r->nrids, sizeof(*ch));
	for (size_t i = 0; i < r->nrids; i++) {
		ch[i].rid = r->rids[i];
		ch[i].to = QUEUE_R_INFLIGHT;
	}
	rc = queue_update(d->env.queue, ch, r->nrids, on_marked, r);
	free(ch);
	if (rc != 0) {
		runner_fail(r, "mark", rc);
		return;
	}
	d->pending++;
}


static void
on_loaded(int status, const struct queue_msg_info *m, void *arg)
{
	struct runner *r = arg;
	size_t keep = 0;

	r->d->pending--;
	if (status != 0 || !m->complete) {
		runner_fail(r, "load", status ? status : GW_ESTATE);
		return;
	}
	r->env = queue_envelope_dup(&m->env);
	r->idx = xcalloc(r->nrids, sizeof(*r->idx));
	/* map each selected rid to its recipient index */
	for (size_t i = 0; i < r->nrids; i++) {
		for (size_t j = 0; j < m->env.nrcpts; j++) {
			if (m->st[j].rid == r->rids[i]) {
				r->rids[keep] = r->rids[i];
				r->attempts[keep] = r->attempts[i];
				r->idx[keep++] = j;
				break;
			}
		}
	}
	r->nrids = keep;
	/* A recipient added by a redirect goes on its own, with the trace
	 * header its primary recorded (prepended once content is read). */
	for (size_t i = 0; i < r->nrids; i++) {
		const struct queue_rcpt_status *st = &m->st[r->idx[i]];
		if (st->parent_rid == 0)
			continue;
		for (size_t j = 0; j < m->env.nrcpts; j++) {
			const char *e = m->st[j].last_error;
			if (m->st[j].rid != st->parent_rid || e == NULL ||
			    strncmp(e, "Alternate-Recipient-Redirect:", 29) != 0)
				continue;
			r->trace = xstrdup(e);
			r->rids[0] = r->rids[i];
			r->attempts[0] = r->attempts[i];
			r->idx[0] = r->idx[i];
			r->nrids = 1;
			break;
		}
		if (r->trace)
			break;
	}
	if (r->nrids == 0) {
		runner_idle(r, true);
		return;
	}
	r->st = RUN_READING;
	read_more(r);
}

/* A b2f: lead: the next messages of the selection (after its own, in
 * scheduling order) go to mates, up to BATCH_MAX messages in all. */
static void
batch_start(struct runner *lead, const struct queue_work *w, size_t n)
{
	struct dispatch *d = lead->d;
	size_t k = 0;

	for (size_t i = 0; i < n && k < BATCH_MAX - 1; i++) {
		bool seen = memcmp(w[i].id, lead->id, QUEUE_ID_LEN) == 0;
		for (size_t j = 0; j < k && !seen; j++)
			seen = memcmp(w[i].id, lead->mate[j]->id,
			    QUEUE_ID_LEN) == 0;
		if (seen)
			continue;
		if (k == lead->nmates) {
			struct runner *m = xcalloc(1, sizeof(*m));
			m->d = d;
			m->lead = lead;
			snprintf(m->route, sizeof(m->route), "%s",
			    lead->route);
			buf_init(&m->content);
			lead->mate[lead->nmates++] = m;
		}
		struct runner *m = lead->mate[k++];
		memcpy(m->id, w[i].id, QUEUE_ID_LEN);
		m->band = w[i].band;
		m->proute = lead->proute;
		m->rids = xcalloc(n, sizeof(*m->rids));
		m->attempts = xcalloc(n, sizeof(*m->attempts));
		for (size_t j = i; j < n; j++) {
			if (memcmp(w[j].id, m->id, QUEUE_ID_LEN) != 0)
				continue;
			m->attempts[m->nrids] = w[j].attempts;
			m->rids[m->nrids++] = w[j].rid;
		}
		m->st = RUN_LOADING;
		if (queue_load(d->env.queue, m->id, on_loaded, m) != 0) {
			runner_fail(m, "load", GW_EIO);
			continue;
		}
		d->pending++;
	}
}

static void
on_selected(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct runner *r = arg;
	struct dispatch *d = r->d;
	int rc;

	d->pending--;
	if (status != 0) {
		runner_fail(r, "select", status);
		return;
	}
	if (n == 0 || d->closing) {
		runner_idle(r, false);
		return;
	}
	/* The first message in scheduling order, all its selected rcpts. */
	memcpy(r->id, w[0].id, QUEUE_ID_LEN);
	r->band = w[0].band;
	r->rids = xcalloc(n, sizeof(*r->rids));
	r->attempts = xcalloc(n, sizeof(*r->attempts));
	for (size_t i = 0; i < n; i++) {
		if (memcmp(w[i].id, r->id, QUEUE_ID_LEN) != 0)
			continue;
		r->attempts[r->nrids] = w[i].attempts;
		r->rids[r->nrids++] = w[i].rid;
	}
	r->st = RUN_LOADING;
	rc = queue_load(d->env.queue, r->id, on_loaded, r);
	if (rc != 0) {
		runner_fail(r, "load", rc);
		return;
	}
	d->pending++;
	if (strncmp(r->route, "b2f:", 4) == 0)
		batch_start(r, w, n);
}

static void
runner_select(struct runner *r)
{
	struct dispatch *d = r->d;
	int rc;

	if (r->st != RUN_IDLE || mates_busy(r)) {
		r->again = true;
		return;
	}
	r->st = RUN_SELECTING;
	rc = queue_select(d->env.queue, r->route, SELECT_MAX, on_selected, r);
	if (rc != 0) {
		r->st = RUN_IDLE;
		return;
	}
	d->pending++;
}

void
dispatch_kick(struct dispatch *d)
{
	if (d->closing)
		return;
	for (size_t i = 0; i < d->nrun; i++)
		runner_select(d->run[i]);
}

static void
on_tick(uv_timer_t *t)
{
	dispatch_kick(t->data);
}

/* ---- set-up ------------------------------------------------------------ */

/* Make the runner's route a planner route (not the unroutable one). */
static void
runner_plan(struct runner *r)
{
	struct predict_link m;

	if (r->d->planner == NULL || r->route[0] == '\0' || r->proute >= 0)
		return;
	planner_local_model(&m);
	r->proute = planner_route(r->d->planner, r->route, &m);
	if (r->proute < 0)
		r->proute = -1;
}

static void
add_runner(struct dispatch *d, const char *route)
{
	for (size_t i = 0; i < d->nrun; i++)
		if (strcmp(d->run[i]->route, route) == 0)
			return;
	if (d->nrun >= RUNNERS_MAX)
		return;
	struct runner *r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->proute = -1;
	snprintf(r->route, sizeof(r->route), "%s", route);
	buf_init(&r->content);
	d->run[d->nrun++] = r;
	runner_plan(r);
}

static void
build_runners(struct dispatch *d, const struct dispatch_cfg *cfg)
{
	add_runner(d, ""); /* unroutable: delivery fails them with 5.4.4 */
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (route_link_name(cfg->routes[i].target) == NULL)
			add_runner(d, cfg->routes[i].target);
}

struct dispatch *
dispatch_new(const struct dispatch_env *env, const struct dispatch_cfg *cfg,
    const struct route_table *routes)
{
	struct dispatch *d = xcalloc(1, sizeof(*d));
	struct smtpc_opts so;
	struct deliver_opts dopt;

	d->env = *env;
	d->routes = routes;
	d->retry = cfg->retry;
	deliver_cfg_smtpc(cfg->delivery, env->hostname, &so);
	so.prio_draft = cfg->prio_draft;
	so.prio_draft_map = cfg->prio_draft_map;
	d->smtpc = smtpc_client_new(env->loop, env->clock, &so);
	dopt.hostname = env->hostname;
	dopt.max_received = cfg->max_received;
	dopt.maildir_create = cfg->delivery->maildir_create;
	d->deliver = deliver_new(env->loop, env->clock, routes, d->smtpc,
	    &dopt);
	build_runners(d, cfg);
	uv_timer_init(env->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, on_tick, 100, TICK_MS);
	return d;
}

void
dispatch_reconfigure(struct dispatch *d, const struct dispatch_cfg *cfg,
    const struct route_table *routes)
{
	d->routes = routes;
	d->retry = cfg->retry;
	build_runners(d, cfg);
	/* The old table is freed by the caller right after this: deliver must
	 * let go of it now (running jobs hold copies of their targets). */
	deliver_set_routes(d->deliver, routes);
}

void
dispatch_set_planner(struct dispatch *d, struct planner *p)
{
	d->planner = p;
	for (size_t i = 0; i < d->nrun; i++) {
		d->run[i]->proute = -1;
		runner_plan(d->run[i]);
	}
}

void
dispatch_set_b2f(struct dispatch *d, deliver_agent_fn fn, void *agent)
{
	deliver_set_b2f(d->deliver, fn, agent);
}

static void
on_smtpc_closed(void *arg)
{
	struct dispatch *d = arg;

	d->smtpc = NULL;
	maybe_closed(d);
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct dispatch *d = h->data;

	d->timer.data = NULL;
	maybe_closed(d);
}

static void
maybe_closed(struct dispatch *d)
{
	if (!d->closing || d->pending > 0 || d->smtpc != NULL ||
	    d->timer.data != NULL)
		return;
	for (size_t i = 0; i < d->nrun; i++)
		if (d->run[i]->st != RUN_IDLE || mates_busy(d->run[i]))
			return;
	for (size_t i = 0; i < d->nrun; i++) {
		for (size_t k = 0; k < d->run[i]->nmates; k++) {
			runner_reset(d->run[i]->mate[k]);
			buf_fini(&d->run[i]->mate[k]->content);
			free(d->run[i]->mate[k]);
		}
		runner_reset(d->run[i]);
		buf_fini(&d->run[i]->content);
		free(d->run[i]);
	}
	d->nrun = 0;
	deliver_free(d->deliver);
	void (*done)(void *) = d->done;
	void *arg = d->done_arg;
	free(d);
	if (done)
		done(arg);
}

void
dispatch_close(struct dispatch *d, void (*done)(void *), void *arg)
{
	if (d->closing)
		return;
	d->closing = true;
	d->done = done;
	d->done_arg = arg;
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, on_timer_closed);
	/* running SMTP jobs end deferred; their callbacks still run */
	smtpc_client_close(d->smtpc, on_smtpc_closed, d);
}
