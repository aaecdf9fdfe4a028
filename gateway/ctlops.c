/*
 * ctlops.c - the daemon's side of the control socket (see ctlops.h).
 *
 * Status comes from memory only (links, transfers on the air) so a
 * snapshot never waits for the queue; actions and inspection go to the
 * queue asynchronously and answer when it has.
 */
#include "gateway/ctlops.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/airlink.h"
#include "gateway/control/control.h"
#include "gateway/control/metrics_http.h"
#include "gateway/control/status.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/monitor.h"
#include "gateway/sched/planner.h"
#include "gateway/sched/predict.h"
#include "gateway/sweep.h"
#include "queue/queue_rcpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct ctlops {
	struct ctlops_env env;
	struct control *ctl;
	/* Messages held by an operator (the console's HELD panel): read
	 * from the queue at start, then kept up to date on each action. */
	struct status_held held[STATUS_HELD_MAX];
	size_t nheld;
	size_t loads;      /* queue loads whose callback is still to come */
	struct sweep *sweep; /* the DSNs of a cancel being queued, or NULL */
	bool sweep_again;  /* another cancel came meanwhile */
	bool closed;       /* control closed: free when loads reach 0 */
	int64_t started_ms;
	void (*done)(void *);
	void *done_arg;
	/* Monitoring: alerts, counters, history (monitor.h), a tick a
	 * second, and the waiting traffic read from the queue by that tick
	 * (the snapshot itself never waits for SQLite). */
	struct monitor *mon;
	int64_t risk_slack_ms;
	uv_timer_t tick;
	bool tick_on;
	bool listing;        /* a queue_list of the waiting rows is running */
	struct qrow *rows;   /* one per (message, route), held ones left out */
	size_t nrows;
	int64_t down_since_ms[STATUS_LINKS_MAX]; /* 0: up */
	struct metrics_http *http;
};

/* One waiting message on one route, from the queue. */
struct qrow {
	uint8_t id[QUEUE_ID_LEN];
	int band;
	int64_t size, arrival;
	char route[STATUS_NAME_MAX * 2];
};

/* One action waiting for the queue. */
struct pending {
	struct ctlops *c;
	enum control_op op;
	control_done_fn done;
	void *token;
	char id[STATUS_ID_MAX];
	char route[STATUS_ADDR_MAX];
	uid_t uid;
	/* trace and id prefixes */
	struct buf trace;
	char match[STATUS_ID_MAX];
	bool ambiguous;
	int64_t after;
	int pages;
	/* queue listing */
	size_t limit;
	struct status_msg *msgs;
	size_t nmsgs;
};

static void fill_msg(struct status_msg *m, const struct queue_msg_info *info,
    const char *hex, int64_t now_s);
static void act_on_id(struct pending *p);
static void trace_start(struct pending *p);

/* Band names: the STANAG 4406 and MIXER levels have names; other bands
 * are named by their priority level. */
static void
band_name(const struct ctlops *c, int band, char *out, size_t len)
{
	static const char *const stanag[] = { "Deferred", "Routine",
		"Priority", "Immediate", "Flash", "Override" };
	static const char *const mixer[] = { "Non-urgent", "Normal",
		"Urgent" };
	const struct policy *pol = c->env.policy ? *c->env.policy : NULL;
	enum policy_prio pp;
	const int *lv;
	size_t n;

	if (pol == NULL) {
		snprintf(out, len, "band %d", band);
		return;
	}
	pp = policy_prio_policy(pol);
	lv = policy_prio_levels(pp, &n);
	if (pp == POLICY_PRIO_STANAG4406 && band >= 0 &&
	    (size_t)band < GW_ARRAY_LEN(stanag))
		snprintf(out, len, "%s", stanag[band]);
	else if (pp == POLICY_PRIO_MIXER && band >= 0 &&
	    (size_t)band < GW_ARRAY_LEN(mixer))
		snprintf(out, len, "%s", mixer[band]);
	else if (band >= 0 && (size_t)band < n)
		snprintf(out, len, "P%+d", lv[band]);
	else
		snprintf(out, len, "band %d", band);
}

static struct airlink *find_link(struct ctlops *c, const char *name);

static void
name_bands(struct ctlops *c)
{
	char name[STATUS_NAME_MAX];

	for (int b = 0; b < SCHED_BANDS; b++) {
		band_name(c, b, name, sizeof(name));
		monitor_set_band_name(c->mon, b, name);
	}
}

/* The predictor's model of route (as the scheduler has it) and whether the
 * route can move traffic now; false when there is no model. */
static bool
route_model(struct ctlops *c, const struct status *st, const char *route,
    struct predict_link *m, bool *up)
{
	*up = true;
	if (route_link_name(route) != NULL) {
		struct airlink *a = find_link(c, route_link_name(route));
		const char *rn;
		if (a == NULL)
			return false;
		airlink_model(a, m, &rn);
		for (size_t i = 0; i < st->nlinks; i++)
			if (strcmp(st->links[i].name, route_link_name(route)) == 0)
				*up = st->links[i].session_up &&
				    !st->links[i].held;
		return true;
	}
	const struct predict_link *pm = c->env.planner ?
	    planner_model(c->env.planner, route) : NULL;
	if (pm != NULL)
		*m = *pm;
	else
		planner_local_model(m);
	return true;
}

static bool
on_air(const struct status *st, const uint8_t id[QUEUE_ID_LEN])
{
	char hex[33];

	queue_id_hex(id, hex);
	for (size_t i = 0; i < st->nonair; i++)
		if (strcmp(st->onair[i].id, hex) == 0)
			return true;
	return false;
}

/* Waiting traffic per band, with the predicted time to drain each band and
 * everything above it on its route(s); and the ETA of what is on the air,
 * counting the higher bands that will preempt it. */
static void
fill_traffic(struct ctlops *c, struct status *st)
{
	struct band_acc {
		int64_t msgs, bytes, oldest, drain;
		bool unknown;
	} acc[SCHED_BANDS];
	int64_t now_s = st->now_s;

	memset(acc, 0, sizeof(acc));
	for (size_t i = 0; i < c->nrows; i++) {
		const struct qrow *r = &c->rows[i];
		struct band_acc *b = &acc[r->band];
		if (on_air(st, r->id))
			continue;
		b->msgs++;
		b->bytes += r->size;
		if (b->oldest == 0 || r->arrival < b->oldest)
			b->oldest = r->arrival;
	}
	/* drain, route by route (rows are sorted by route) */
	for (size_t i = 0; i < c->nrows;) {
		size_t j = i;
		int64_t air[SCHED_BANDS] = { 0 };
		struct predict_link m;
		bool up;
		while (j < c->nrows && strcmp(c->rows[j].route,
		    c->rows[i].route) == 0)
			j++;
		bool known = route_model(c, st, c->rows[i].route, &m, &up);
		bool has[SCHED_BANDS] = { false };
		for (size_t k = i; k < j; k++) {
			if (on_air(st, c->rows[k].id))
				continue;
			air[c->rows[k].band] += predict_air_bytes(&m,
			    c->rows[k].size);
			has[c->rows[k].band] = true;
		}
		int64_t cum = 0;
		for (int b = SCHED_BANDS - 1; b >= 0; b--) {
			cum += air[b];
			if (!has[b])
				continue;
			int64_t d = known && up ? predict_duration_ms(&m, cum) :
						  PREDICT_NEVER;
			if (d == PREDICT_NEVER)
				acc[b].unknown = true;
			else if (d > acc[b].drain)
				acc[b].drain = d;
		}
		for (size_t k = 0; k < st->nonair; k++) {
			struct status_xfer *x = &st->onair[k];
			char rn[STATUS_NAME_MAX * 2];
			int64_t ahead = 0, ahead_bytes = 0;
			snprintf(rn, sizeof(rn), "link:%s", x->link);
			if (strcmp(rn, c->rows[i].route) != 0)
				continue;
			for (int b = SCHED_BANDS - 1; b > x->band; b--)
				ahead += air[b];
			for (size_t r = i; r < j; r++)
				if (c->rows[r].band > x->band)
					ahead_bytes += c->rows[r].size;
			x->ahead_bytes = ahead_bytes;
			x->rate_bps = (int64_t)(m.rate_bps * 8.0);
			int64_t d = up ? predict_duration_ms(&m, ahead +
			    predict_air_bytes(&m, x->bytes_total -
			    x->bytes_sent)) : PREDICT_NEVER;
			x->eta_ms = d == PREDICT_NEVER ? -1 : d;
		}
		i = j;
	}
	/* on the air with nothing waiting on its route */
	for (size_t k = 0; k < st->nonair; k++) {
		struct status_xfer *x = &st->onair[k];
		struct predict_link m;
		char rn[STATUS_NAME_MAX * 2];
		bool up;
		if (x->eta_ms != -1 || x->rate_bps != 0)
			continue;
		snprintf(rn, sizeof(rn), "link:%s", x->link);
		if (!route_model(c, st, rn, &m, &up))
			continue;
		x->rate_bps = (int64_t)(m.rate_bps * 8.0);
		int64_t d = up ? predict_duration_ms(&m, predict_air_bytes(&m,
		    x->bytes_total - x->bytes_sent)) : PREDICT_NEVER;
		x->eta_ms = d == PREDICT_NEVER ? -1 : d;
	}
	st->nbands = 0;
	for (int b = SCHED_BANDS - 1; b >= 0 && st->nbands < STATUS_BANDS_MAX;
	    b--) {
		struct status_band *q;
		if (acc[b].msgs == 0)
			continue;
		q = &st->bands[st->nbands++];
		memset(q, 0, sizeof(*q));
		q->band = b;
		band_name(c, b, q->name, sizeof(q->name));
		q->messages = acc[b].msgs;
		q->bytes = acc[b].bytes;
		q->oldest_age_ms = (now_s - acc[b].oldest) * 1000;
		if (q->oldest_age_ms < 0)
			q->oldest_age_ms = 0;
		q->drain_ms = acc[b].unknown ? -1 : acc[b].drain;
	}
}

/* The snapshot without alerts (the tick evaluates them from it). */
static void
fill_core(struct ctlops *c, struct status *st)
{
	size_t n = *c->env.nlinks;
	int64_t now = clk_mono_ms(c->env.clock);

	status_strlcpy(st->gateway, c->env.hostname, sizeof(st->gateway));
	st->now_s = clk_wall_s(c->env.clock);
	st->uptime_ms = now - c->started_ms;
	st->risk_slack_ms = c->risk_slack_ms;
	for (size_t i = 0; i < n && i < STATUS_LINKS_MAX; i++) {
		struct status_link *l = &st->links[st->nlinks++];
		struct predict_link m;
		const char *rn;
		airlink_fill_status(c->env.links[i], l, st->onair,
		    &st->nonair, STATUS_ONAIR_MAX);
		airlink_model(c->env.links[i], &m, &rn);
		l->model_bps = (int64_t)(m.rate_bps * 8.0);
		l->ratio = m.ratio;
		if (l->session_up) {
			c->down_since_ms[i] = 0;
			l->down_ms = -1;
		} else {
			if (c->down_since_ms[i] == 0)
				c->down_since_ms[i] = now;
			l->down_ms = now - c->down_since_ms[i];
		}
	}
	fill_traffic(c, st);
	if (c->env.planner)
		st->nrisk = planner_fill_risk(c->env.planner, st->risk,
		    STATUS_RISK_MAX, c->risk_slack_ms);
	memcpy(st->held, c->held, c->nheld * sizeof(c->held[0]));
	st->nheld = c->nheld;
}

static void
fill_status(void *arg, struct status *st)
{
	struct ctlops *c = arg;

	fill_core(c, st);
	monitor_fill(c->mon, st);
}

static void ctlops_free(struct ctlops *c);

static int
qrow_cmp(const void *a, const void *b)
{
	const struct qrow *x = a, *y = b;
	int r = strcmp(x->route, y->route);

	return r ? r : memcmp(x->id, y->id, QUEUE_ID_LEN);
}

/* The waiting rows, one per recipient: keep one per (message, route). */
static void
on_rows(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct ctlops *c = arg;
	struct qrow *rows;
	size_t k = 0;

	c->loads--;
	c->listing = false;
	if (c->closed) {
		if (c->loads == 0)
			ctlops_free(c);
		return;
	}
	if (status != 0)
		return; /* the last rows stay; the next tick tries again */
	rows = n ? xcalloc(n, sizeof(*rows)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (w[i].state == QUEUE_R_HELD)
			continue;
		struct qrow *r = &rows[k++];
		memcpy(r->id, w[i].id, QUEUE_ID_LEN);
		r->band = w[i].band < 0 ? 0 : w[i].band >= SCHED_BANDS ?
		    SCHED_BANDS - 1 : w[i].band;
		r->size = w[i].size;
		r->arrival = w[i].arrival;
		status_strlcpy(r->route, w[i].route ? w[i].route : "",
		    sizeof(r->route));
	}
	if (k > 1)
		qsort(rows, k, sizeof(*rows), qrow_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (u == 0 || qrow_cmp(&rows[u - 1], &rows[i]) != 0)
			rows[u++] = rows[i];
	free(c->rows);
	c->rows = rows;
	c->nrows = u;
}

static void
on_tick(uv_timer_t *t)
{
	struct ctlops *c = t->data;
	struct status *st;

	if (c->closed)
		return;
	if (!c->listing && c->env.queue != NULL &&
	    queue_list(c->env.queue, NULL, -1, QUEUE_LIST_WAITING, 10000,
		on_rows, c) == 0) {
		c->listing = true;
		c->loads++;
	}
	st = xmalloc(sizeof(*st));
	status_init(st);
	fill_core(c, st);
	monitor_tick(c->mon, st, c->env.planner ?
	    planner_get_counts(c->env.planner) : NULL, st->now_s);
	free(st);
}

/* The Prometheus text of a fresh snapshot (control op and HTTP). */
static void
metrics_text(void *arg, struct buf *out)
{
	struct ctlops *c = arg;
	struct status *st = xmalloc(sizeof(*st));

	status_init(st);
	fill_status(c, st);
	monitor_metrics(c->mon, st, c->env.planner ?
	    planner_get_counts(c->env.planner) : NULL, out);
	free(st);
}

static void
on_log(void *arg, enum gw_log_level level, const char *subsys,
    const char *text)
{
	struct ctlops *c = arg;

	(void)level;
	monitor_count(c->mon, subsys, text);
}

static void
held_remove(struct ctlops *c, const char *id)
{
	for (size_t i = 0; i < c->nheld; i++) {
		if (strcmp(c->held[i].id, id) != 0)
			continue;
		memmove(&c->held[i], &c->held[i + 1],
		    (c->nheld - i - 1) * sizeof(c->held[0]));
		c->nheld--;
		return;
	}
}

struct held_load {
	struct ctlops *c;
	char id[STATUS_ID_MAX];
	uid_t uid;
	bool at_start;  /* held before this daemon started */
	int64_t since;  /* at_start: when and why, from the queue's log */
	char reason[64];
};

/* Who held a message that was held before start: the reason the queue
 * logged with the hold ("operator uid=N"). */
static void
held_by_from_reason(const char *reason, char *out, size_t len)
{
	static const char pfx[] = "operator ";
	if (strncmp(reason, pfx, sizeof(pfx) - 1) == 0)
		reason += sizeof(pfx) - 1;
	status_strlcpy(out, reason[0] ? reason : "?", len);
}

/* After a hold (or at start): describe the held message for the status
 * snapshot. */
static void
on_held_loaded(int status, const struct queue_msg_info *info, void *arg)
{
	struct held_load *hl = arg;
	struct ctlops *c = hl->c;
	struct status_held *h;
	struct status_msg m;

	c->loads--;
	if (status == 0 && !c->closed && c->nheld < STATUS_HELD_MAX) {
		held_remove(c, hl->id);
		fill_msg(&m, info, hl->id, clk_wall_s(c->env.clock));
		h = &c->held[c->nheld++];
		memset(h, 0, sizeof(*h));
		status_strlcpy(h->id, hl->id, sizeof(h->id));
		status_strlcpy(h->sender, m.sender, sizeof(h->sender));
		status_strlcpy(h->rcpts, m.rcpts, sizeof(h->rcpts));
		h->priority = m.priority;
		h->bytes = m.bytes;
		if (hl->at_start) {
			h->since_s = hl->since;
			held_by_from_reason(hl->reason, h->by, sizeof(h->by));
		} else {
			h->since_s = clk_wall_s(c->env.clock);
			snprintf(h->by, sizeof(h->by), "uid=%ld",
			    (long)hl->uid);
		}
	}
	free(hl);
	if (c->closed && c->loads == 0)
		ctlops_free(c);
}

/* Describe one held message (queue_load); false when the load could not
 * be started. */
static bool
held_load_start(struct ctlops *c, const uint8_t id[QUEUE_ID_LEN], uid_t uid,
    const struct queue_held *before)
{
	struct held_load *hl = xcalloc(1, sizeof(*hl));
	hl->c = c;
	hl->uid = uid;
	if (before != NULL) {
		hl->at_start = true;
		hl->since = before->since;
		status_strlcpy(hl->reason, before->reason, sizeof(hl->reason));
	}
	queue_id_hex(id, hl->id);
	if (queue_load(c->env.queue, id, on_held_loaded, hl) != 0) {
		free(hl);
		return false;
	}
	c->loads++;
	return true;
}

/* At start: the messages held before this daemon started. */
static void
on_held_listed(int status, const struct queue_held *h, size_t n, void *arg)
{
	struct ctlops *c = arg;

	c->loads--;
	if (status != 0)
		GW_LOGW("daemon", "event=held_list_failed error=%s",
		    gw_errname(status));
	for (size_t i = 0; status == 0 && !c->closed && i < n; i++)
		held_load_start(c, h[i].id, 0, &h[i]);
	if (status == 0 && n > 0)
		GW_LOGI("daemon", "event=held_listed messages=%zu", n);
	if (c->closed && c->loads == 0)
		ctlops_free(c);
}

static void
answer(struct pending *p, int err, const char *text)
{
	struct control_result r = { err, text, p->msgs, p->nmsgs };

	p->done(p->token, &r);
	free(p->msgs);
	free(p);
}

static void start_sweep(struct ctlops *c);

static void
on_swept(void *arg, size_t rcpts, size_t dsns)
{
	struct ctlops *c = arg;

	(void)rcpts;
	(void)dsns;
	c->sweep = NULL;
	if (c->sweep_again)
		start_sweep(c);
}

/* A cancel leaves its recipients FAILED: queue the DSNs they owe (and let
 * the message be collected) now, with the same pass as at start. */
static void
start_sweep(struct ctlops *c)
{
	struct sweep_env se = { c->env.loop, c->env.queue, c->env.intake,
		c->env.clock, c->env.hostname };
	int rc;

	if (c->sweep != NULL) {
		c->sweep_again = true;
		return;
	}
	c->sweep_again = false;
	rc = sweep_start(&se, on_swept, c, &c->sweep);
	if (rc != 0) {
		c->sweep = NULL;
		GW_LOGW("daemon", "event=cancel_dsn_not_started error=%s "
		    "note=\"sent at the next start\"", gw_errname(rc));
	}
}

static void
on_value(int status, int64_t value, void *arg)
{
	struct pending *p = arg;
	char text[200];

	if (status == GW_ENOENT) {
		answer(p, status, "no such message");
		return;
	}
	if (status == GW_ESTATE) {
		answer(p, status, "no recipient of that message is in a state "
				  "that allows it");
		return;
	}
	if (status != 0) {
		answer(p, status, gw_strerror(status));
		return;
	}
	snprintf(text, sizeof(text), "%s: %lld recipient%s of %s",
	    control_op_name(p->op), (long long)value, value == 1 ? "" : "s",
	    p->id);
	if (p->op == CONTROL_OP_HOLD) {
		uint8_t id[QUEUE_ID_LEN];
		if (queue_id_parse(p->id, id) == 0)
			held_load_start(p->c, id, p->uid, NULL);
	} else {
		held_remove(p->c, p->id);
	}
	if (p->op == CONTROL_OP_CANCEL && p->c->env.intake != NULL)
		start_sweep(p->c);
	if (p->c->env.intake)
		intake_wake_all(p->c->env.intake);
	answer(p, 0, text);
}

static void
fill_msg(struct status_msg *m, const struct queue_msg_info *info,
    const char *hex, int64_t now_s)
{
	const struct queue_envelope *e = &info->env;
	size_t used = 0;

	memset(m, 0, sizeof(*m));
	status_strlcpy(m->id, hex, sizeof(m->id));
	status_strlcpy(m->sender, e->reverse_path, sizeof(m->sender));
	m->nrcpts = (int64_t)e->nrcpts;
	m->state = STATUS_MSG_READY;
	m->next_try_ms = -1;
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct queue_rcpt_status *st = &info->st[i];
		int n = snprintf(m->rcpts + used, sizeof(m->rcpts) - used,
		    "%s%s", i ? "," : "", e->rcpts[i].addr);
		if (n > 0 && (size_t)n < sizeof(m->rcpts) - used)
			used += (size_t)n;
		if (st->state == QUEUE_R_INFLIGHT)
			m->state = STATUS_MSG_INFLIGHT;
		else if (st->state == QUEUE_R_HELD)
			m->state = STATUS_MSG_HELD;
		else if (st->state == QUEUE_R_DEFERRED &&
		    m->state == STATUS_MSG_READY)
			m->state = STATUS_MSG_DEFERRED;
		if (st->attempts > m->attempts)
			m->attempts = st->attempts;
		if (st->last_error)
			status_strlcpy(m->last_error, st->last_error,
			    sizeof(m->last_error));
		if (st->next_attempt > now_s)
			m->next_try_ms = (st->next_attempt - now_s) * 1000;
		if (e->rcpts[i].route && m->route[0] == '\0')
			status_strlcpy(m->route, e->rcpts[i].route,
			    sizeof(m->route));
		if (st->deadline && (!m->deadline_s ||
			st->deadline < m->deadline_s))
			m->deadline_s = st->deadline;
	}
	m->priority = e->priority;
	snprintf(m->band, sizeof(m->band), "%d", e->band);
	m->bytes = info->size;
	m->age_ms = (now_s - e->arrival) * 1000;
}

static void
on_loaded(int status, const struct queue_msg_info *info, void *arg)
{
	struct pending *p = arg;

	if (status != 0) {
		answer(p, status, status == GW_ENOENT ? "no such message" :
							gw_strerror(status));
		return;
	}
	p->msgs = xcalloc(1, sizeof(*p->msgs));
	p->nmsgs = 1;
	fill_msg(p->msgs, info, p->id, clk_wall_s(p->c->env.clock));
	answer(p, 0, NULL);
}

/* The waiting recipients of every route in selection order (queued,
 * deferred, in flight, held), one row each. */
static void
on_listed(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct pending *p = arg;
	int64_t now = clk_wall_s(p->c->env.clock);

	if (status != 0) {
		answer(p, status, gw_strerror(status));
		return;
	}
	p->msgs = n ? xcalloc(n, sizeof(*p->msgs)) : NULL;
	for (size_t i = 0; i < n && p->nmsgs < p->limit; i++) {
		struct status_msg *m = &p->msgs[p->nmsgs++];
		char hex[33];
		queue_id_hex(w[i].id, hex);
		status_strlcpy(m->id, hex, sizeof(m->id));
		status_strlcpy(m->rcpts, w[i].addr, sizeof(m->rcpts));
		status_strlcpy(m->sender, w[i].sender ? w[i].sender : "",
		    sizeof(m->sender));
		status_strlcpy(m->last_error, w[i].last_error ?
		    w[i].last_error : "", sizeof(m->last_error));
		m->priority = w[i].priority;
		m->nrcpts = 1;
		switch (w[i].state) {
		case QUEUE_R_DEFERRED:
			m->state = STATUS_MSG_DEFERRED;
			break;
		case QUEUE_R_INFLIGHT:
			m->state = STATUS_MSG_INFLIGHT;
			break;
		case QUEUE_R_HELD:
			m->state = STATUS_MSG_HELD;
			break;
		default:
			m->state = STATUS_MSG_READY;
			break;
		}
		snprintf(m->band, sizeof(m->band), "%d", w[i].band);
		status_strlcpy(m->route, w[i].route && w[i].route[0] ?
		    w[i].route : "(unrouted)", sizeof(m->route));
		m->bytes = w[i].size;
		m->age_ms = (now - w[i].arrival) * 1000;
		m->deadline_s = w[i].deadline;
		m->attempts = w[i].attempts;
		m->next_try_ms = w[i].state == QUEUE_R_DEFERRED &&
		    w[i].next_attempt > now ?
		    (w[i].next_attempt - now) * 1000 : -1;
	}
	answer(p, 0, NULL);
}

static int queue_action(struct pending *p);

/* A message the operator acts on may be on the air: take it off first
 * (its recipients go back to queued), then act on the queue. */
static void
on_withdrawn(int status, void *arg)
{
	struct pending *p = arg;
	int rc;

	if (status != 0) {
		answer(p, status, "could not take the message off the air");
		return;
	}
	rc = queue_action(p);
	if (rc != 0)
		answer(p, rc, gw_strerror(rc));
}

static struct airlink *find_link(struct ctlops *c, const char *name);

/* A requeue goes only to a target something serves: a configured link
 * (link:NAME) or the target of a [route] line; else the answer says so
 * and nothing changes. */
static bool
requeue_target_ok(struct ctlops *c, const char *route, struct pending *p)
{
	char msg[400];

	const char *link = route_link_name(route);
	if (link != NULL) {
		if (find_link(c, link) != NULL)
			return true;
		size_t o = (size_t)snprintf(msg, sizeof(msg), "no link named "
		    "\"%.64s\" (configured:", link);
		for (size_t i = 0; i < *c->env.nlinks && o < sizeof(msg); i++)
			o += (size_t)snprintf(msg + o, sizeof(msg) - o, " %s",
			    airlink_name(c->env.links[i]));
		if (*c->env.nlinks == 0 && o < sizeof(msg))
			o += (size_t)snprintf(msg + o, sizeof(msg) - o,
			    " none");
		if (o < sizeof(msg))
			snprintf(msg + o, sizeof(msg) - o, ")");
		answer(p, GW_EINVAL, msg);
		return false;
	}
	if (intake_serves(c->env.intake, route))
		return true;
	snprintf(msg, sizeof(msg), "route \"%.200s\" is not the target of "
	    "any [route] line (give link:NAME or a configured smtp:, lmtp: "
	    "or maildir: target)", route);
	answer(p, GW_EINVAL, msg);
	return false;
}

static struct airlink *
find_link(struct ctlops *c, const char *name)
{
	for (size_t i = 0; i < *c->env.nlinks; i++)
		if (strcmp(airlink_name(c->env.links[i]), name) == 0)
			return c->env.links[i];
	return NULL;
}

static void
do_action(void *arg, const struct control_action *act, control_done_fn done,
    void *token)
{
	struct ctlops *c = arg;
	struct pending *p = xcalloc(1, sizeof(*p));
	uint8_t id[QUEUE_ID_LEN];
	int rc = 0;

	p->c = c;
	p->op = act->op;
	p->done = done;
	p->token = token;
	status_strlcpy(p->id, act->id, sizeof(p->id));
	status_strlcpy(p->route, act->route, sizeof(p->route));
	p->uid = act->uid;

	if (act->op == CONTROL_OP_LINK_DOWN || act->op == CONTROL_OP_LINK_UP ||
	    ((act->op == CONTROL_OP_HOLD || act->op == CONTROL_OP_RELEASE ||
		 act->op == CONTROL_OP_FLUSH) && act->link[0])) {
		struct airlink *a = find_link(c, act->link);
		if (a == NULL) {
			answer(p, GW_ENOENT, "no such link");
			return;
		}
		if (act->op == CONTROL_OP_FLUSH) {
			airlink_kick(a);
			answer(p, 0, "link flushed");
			return;
		}
		bool up = act->op == CONTROL_OP_LINK_UP ||
		    act->op == CONTROL_OP_RELEASE;
		airlink_set_enabled(a, up);
		answer(p, 0, up ? "link up" : "link down");
		return;
	}
	if (act->op == CONTROL_OP_ACK) {
		rc = monitor_ack(c->mon, act->id, act->uid,
		    clk_wall_s(c->env.clock));
		answer(p, rc, rc == GW_ENOENT ? "no such active alert" :
		    rc == GW_ESTATE ? "already acknowledged" :
		    "alert acknowledged");
		return;
	}
	if (act->op == CONTROL_OP_METRICS || act->op == CONTROL_OP_HISTORY ||
	    act->op == CONTROL_OP_REPORT) {
		struct buf out = BUF_INIT;
		if (act->op == CONTROL_OP_METRICS) {
			metrics_text(c, &out);
		} else {
			struct status *st = xmalloc(sizeof(*st));
			status_init(st);
			fill_status(c, st);
			if (act->op == CONTROL_OP_HISTORY)
				monitor_history_text(c->mon, st->now_s, &out);
			else
				monitor_report_text(c->mon, st,
				    c->env.planner ? planner_get_counts(
				    c->env.planner) : NULL, act->since_s,
				    st->now_s, &out);
			free(st);
		}
		answer(p, 0, buf_cstr(&out));
		buf_fini(&out);
		return;
	}
	if (act->op == CONTROL_OP_QUEUE) {
		p->limit = act->limit ? act->limit : 100;
		int band = -1;
		if (act->band[0] != '\0') {
			const struct policy *pol =
			    intake_policy(c->env.intake);
			band = pol ? policy_band_parse(pol, act->band) : -1;
			if (band < 0) {
				char msg[300];
				size_t o = (size_t)snprintf(msg, sizeof(msg),
				    "band: a band name or number (0 = lowest):");
				for (int b = 0; pol && b <
				    policy_band_count(pol) && o < sizeof(msg);
				    b++)
					o += (size_t)snprintf(msg + o,
					    sizeof(msg) - o, " %d=%s", b,
					    policy_band_name(pol, b));
				answer(p, GW_EINVAL, msg);
				return;
			}
		}
		rc = queue_list(c->env.queue, NULL, band, QUEUE_LIST_WAITING,
		    p->limit, on_listed, p);
		if (rc != 0)
			answer(p, rc, gw_strerror(rc));
		return;
	}
	if (act->op == CONTROL_OP_FLUSH && act->id[0] == '\0') {
		if (c->env.intake)
			intake_wake_all(c->env.intake);
		answer(p, 0, "queue flushed");
		return;
	}
	if (act->op == CONTROL_OP_TRACE || queue_id_parse(act->id, id) != 0) {
		/* a trace, or an id given by a prefix: read the event log */
		trace_start(p);
		return;
	}
	act_on_id(p);
}

/* An action on one message, p->id being a whole id. */
static void
act_on_id(struct pending *p)
{
	struct ctlops *c = p->c;
	uint8_t id[QUEUE_ID_LEN];
	int rc;

	if (queue_id_parse(p->id, id) != 0) {
		answer(p, GW_EINVAL, "bad message id (want 32 hex digits)");
		return;
	}
	if (p->op == CONTROL_OP_SHOW) {
		rc = queue_load(c->env.queue, id, on_loaded, p);
		if (rc != 0)
			answer(p, rc, gw_strerror(rc));
		return;
	}
	if (p->op == CONTROL_OP_HOLD || p->op == CONTROL_OP_CANCEL ||
	    p->op == CONTROL_OP_REQUEUE) {
		if (p->op == CONTROL_OP_REQUEUE && p->route[0] == '\0') {
			answer(p, GW_EINVAL, "requeue needs a route");
			return;
		}
		if (p->op == CONTROL_OP_REQUEUE &&
		    !requeue_target_ok(c, p->route, p))
			return;
		for (size_t i = 0; i < *c->env.nlinks; i++)
			if (airlink_withdraw(c->env.links[i], id, on_withdrawn,
				p) == 0)
				return;
	}
	rc = queue_action(p);
	if (rc != 0)
		answer(p, rc, gw_strerror(rc));
}

/* --- trace and id prefixes: the queue's event log ---------------------- */

#define TRACE_PAGE 5000
#define TRACE_PAGES_MAX 200   /* a million events at most */

static bool
is_hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f') ||
		    (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

static void
fmt_wall(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(out, len, "-");
	else
		strftime(out, len, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void
on_trace_events(int status, const struct queue_event *ev, size_t n,
    void *arg)
{
	struct pending *p = arg;
	size_t plen = strlen(p->id);

	if (status != 0) {
		buf_fini(&p->trace);
		answer(p, status, gw_strerror(status));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char hex[33], when[32];
		queue_id_hex(ev[i].id, hex);
		if (strncasecmp(hex, p->id, plen) != 0)
			continue;
		if (p->match[0] == '\0')
			status_strlcpy(p->match, hex, sizeof(p->match));
		else if (strcmp(p->match, hex) != 0)
			p->ambiguous = true;
		if (p->ambiguous)
			continue;
		fmt_wall(ev[i].time, when, sizeof(when));
		buf_appendf(&p->trace, "%s  %-8s", when, ev[i].kind ?
		    ev[i].kind : "?");
		if (ev[i].rid)
			buf_appendf(&p->trace, " rcpt#%lld", (long long)ev[i].rid);
		if (ev[i].old_state >= 0 || ev[i].new_state >= 0)
			buf_appendf(&p->trace, " %s -> %s", ev[i].old_state >= 0 ?
			    queue_rstate_name(ev[i].old_state) : "-",
			    ev[i].new_state >= 0 ?
			    queue_rstate_name(ev[i].new_state) : "-");
		if (ev[i].reason && ev[i].reason[0])
			buf_appendf(&p->trace, "  %s", ev[i].reason);
		buf_append_str(&p->trace, "\n");
	}
	if (n > 0)
		p->after = ev[n - 1].eid;
	if (n == TRACE_PAGE && ++p->pages < TRACE_PAGES_MAX &&
	    queue_events(p->c->env.queue, p->after, TRACE_PAGE,
		on_trace_events, p) == 0)
		return;
	if (p->match[0] == '\0') {
		buf_fini(&p->trace);
		answer(p, GW_ENOENT, "no such message");
		return;
	}
	if (p->ambiguous) {
		buf_fini(&p->trace);
		answer(p, GW_EINVAL, "ambiguous id prefix: more than one "
		    "message matches");
		return;
	}
	status_strlcpy(p->id, p->match, sizeof(p->id));
	if (p->op != CONTROL_OP_TRACE) {
		buf_fini(&p->trace);
		act_on_id(p);
		return;
	}
	struct buf out = BUF_INIT;
	buf_appendf(&out, "message %s on %s\n", p->id, p->c->env.hostname);
	buf_append(&out, p->trace.data, p->trace.len);
	buf_fini(&p->trace);
	answer(p, 0, buf_cstr(&out));
	buf_fini(&out);
}

/* Find the message p->id names (whole id or unique prefix of 4+ hex
 * digits) in the event log; for a trace, collect its life there. */
static void
trace_start(struct pending *p)
{
	int rc;

	if (!is_hex_prefix(p->id)) {
		answer(p, GW_EINVAL, "bad message id (want 32 hex digits, or "
		    "a unique prefix of 4 or more)");
		return;
	}
	buf_init(&p->trace);
	rc = queue_events(p->c->env.queue, 0, TRACE_PAGE, on_trace_events, p);
	if (rc != 0) {
		buf_fini(&p->trace);
		answer(p, rc, gw_strerror(rc));
	}
}

/* The queue side of an action on message p->id. */
static int
queue_action(struct pending *p)
{
	struct ctlops *c = p->c;
	uint8_t id[QUEUE_ID_LEN];
	char reason[96];
	int rc;

	if (queue_id_parse(p->id, id) != 0)
		return GW_EINVAL;
	snprintf(reason, sizeof(reason), "operator uid=%ld", (long)p->uid);
	switch (p->op) {
	case CONTROL_OP_HOLD:
		rc = queue_hold(c->env.queue, id, reason, on_value, p);
		break;
	case CONTROL_OP_RELEASE:
	case CONTROL_OP_FLUSH:
		rc = queue_release(c->env.queue, id, on_value, p);
		break;
	case CONTROL_OP_CANCEL:
		rc = queue_cancel(c->env.queue, id, reason, on_value, p);
		break;
	case CONTROL_OP_REQUEUE:
		rc = queue_requeue(c->env.queue, id, p->route, on_value, p);
		break;
	default:
		rc = GW_EUNSUPP;
		break;
	}
	return rc;
}

int
ctlops_start(const struct ctlops_env *env, struct ctlops **out)
{
	struct ctlops *c = xcalloc(1, sizeof(*c));
	struct control_opts o = { 0 };
	struct control_ops ops = { c, fill_status, do_action, on_log,
		monitor_notable };
	struct monitor_cfg mc = { 0 };
	int rc;

	c->env = *env;
	c->started_ms = clk_mono_ms(env->clock);
	if (env->alerts)
		mc = *env->alerts;
	c->mon = monitor_new(&mc, clk_wall_s(env->clock));
	c->risk_slack_ms = env->risk_slack_ms;
	name_bands(c);
	o.path = env->path;
	o.group = env->group && env->group[0] ? env->group : NULL;
	o.log_events_level = GW_LOG_WARN;
	o.clock = env->clock;
	rc = control_new(env->loop, &o, &ops, &c->ctl);
	if (rc != 0) {
		GW_LOGE("daemon", "event=control_failed path=%s error=%s",
		    env->path, gw_errname(rc));
		monitor_free(c->mon);
		free(c);
		return rc;
	}
	uv_timer_init(env->loop, &c->tick);
	c->tick.data = c;
	uv_timer_start(&c->tick, on_tick, 0, 1000);
	c->tick_on = true;
	if (env->metrics_listen && env->metrics_listen[0]) {
		rc = metrics_http_start(env->loop, env->metrics_listen,
		    metrics_text, c, &c->http);
		if (rc != 0) {
			GW_LOGE("daemon", "event=metrics_listen_failed "
			    "listen=%s error=%s", env->metrics_listen,
			    gw_strerror(rc));
			c->http = NULL;
		}
	}
	GW_LOGI("daemon", "event=control_listening path=%s", env->path);
	if (env->queue != NULL &&
	    queue_held(env->queue, STATUS_HELD_MAX, on_held_listed, c) == 0)
		c->loads++;
	*out = c;
	return 0;
}

static void
ctlops_free(struct ctlops *c)
{
	free(c->rows);
	monitor_free(c->mon);
	free(c);
}

void
ctlops_reconfigure(struct ctlops *c, const struct monitor_cfg *alerts,
    int64_t risk_slack_ms)
{
	monitor_reconfigure(c->mon, alerts);
	c->risk_slack_ms = risk_slack_ms;
	name_bands(c);
}

static void
on_tick_closed(uv_handle_t *h)
{
	struct ctlops *c = h->data;

	c->loads--;
	if (c->closed && c->loads == 0)
		ctlops_free(c);
}

static void
on_http_closed(void *arg)
{
	struct ctlops *c = arg;

	c->loads--;
	if (c->closed && c->loads == 0)
		ctlops_free(c);
}

/* The control socket is closed; queue loads may still be under way (the
 * queue closes after us): the last of them frees c. */
static void
on_closed(void *arg)
{
	struct ctlops *c = arg;
	void (*done)(void *) = c->done;
	void *darg = c->done_arg;

	c->closed = true;
	if (c->sweep != NULL) {
		sweep_cancel(c->sweep);
		c->sweep = NULL;
	}
	if (c->loads == 0)
		ctlops_free(c);
	if (done)
		done(darg);
}

void
ctlops_close(struct ctlops *c, void (*done)(void *), void *arg)
{
	c->done = done;
	c->done_arg = arg;
	if (c->tick_on) {
		c->tick_on = false;
		uv_timer_stop(&c->tick);
		c->loads++;
		uv_close((uv_handle_t *)&c->tick, on_tick_closed);
	}
	if (c->http != NULL) {
		c->loads++;
		metrics_http_close(c->http, on_http_closed, c);
		c->http = NULL;
	}
	control_close(c->ctl, on_closed, c);
}
