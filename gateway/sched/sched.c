/*
 * sched.c - the scheduler state machine and its in-memory index.
 *
 * Ownership: struct sched owns every struct sched_job (and its recipient
 * array); callers hold borrowed pointers (see sched.h). Loop thread only.
 * The queue is the truth; this index is rebuilt from it at start.
 *
 * Index:
 *   routes[r].ready[b]  a treap per route and band of READY jobs ordered by
 *                       (deadline, arrival, seq): earliest deadline first,
 *                       no-deadline jobs after them in arrival order
 *                       (with edf off: arrival order only);
 *   waiting             one treap of WAITING jobs by (not_before, seq);
 *   events              one treap of jobs by (next_event, seq): the next
 *                       instant at which a rule may fire for the job;
 *   hash                (id, route) -> job; routes[r].jobs lists them all.
 * sched_next() is O(log n); sched_tick() pops due entries in O(log n) each
 * and re-predicts only routes whose load, rate or state changed (or whose
 * re-prediction period ran out), in one O(n) in-order pass per route.
 *
 * Job state machine:
 *
 *                 sched_add
 *                     |
 *       hold  +-------v-------+  defer(t > now)   +-----------+
 *   +---------|     READY     |------------------>|  WAITING  |
 *   |         +---------------+<------------------+-----------+
 *   v            ^    |    ^     tick: t <= now      |     |
 * +------+ release|   |    |                          |     | hold
 * | HELD |-------+   |    +--------------------------+     v
 * +------+           | sched_next sees BY;R passed        (HELD)
 *                    v
 *              +-----------+  rules: redirect or fail every
 *              |  DOOMED   |  recipient (at once when predictive,
 *              +-----------+  else at ABY / BY) -------------> freed
 *                    ^
 *                    | commit_begin: final segment would land late
 *              +-----+-----+  sched_report (answer) ----------> freed
 *  READY ----->| COMMITTING|  or back to READY (4xx/5xx left some
 *  commit_begin+-----------+  recipient, or sched_commit_abort)
 *
 *   any state --(sched_remove, or a decision resolving the last
 *                recipient)--> freed
 *
 * Transitions: READY<->WAITING in sched_defer/sched_report (backoff) and
 * sched_tick; READY/WAITING<->HELD in sched_hold; READY->DOOMED in
 * sched_next (BY;R passed) and sched_commit_begin (would land late);
 * READY<->COMMITTING in sched_commit_begin/sched_commit_abort/sched_report;
 * job_free from sched_remove, sched_report and job_eval.
 *
 * Invariants (checked by sched_check):
 *   - READY    <=> in routes[route].ready[band], counted in nready[band];
 *     WAITING  <=> in waiting; HELD and DOOMED are in neither.
 *   - routes[r].air[b] = sum of air_bytes over READY and WAITING jobs of
 *     route r and band b.
 *   - in_events <=> next_event_ms != INT64_MAX <=> in the events treap.
 *   - nactive = number of ACTIVE recipients >= 1 (a job with none is freed
 *     at once), so a resolved recipient is never scheduled again.
 *   - DOOMED jobs are in the events treap; COMMITTING jobs are not (no
 *     rule is applied while the far end decides).
 */
#include "gateway/sched/sched.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_TICK_MAX 4096 /* rule evaluations per tick, at most */

struct sched_route {
	bool used;
	char name[SCHED_ROUTE_NAME_MAX];
	struct predict_link link;
	enum sched_link state;
	int64_t down_since_ms;
	int64_t throttle_until_ms;
	struct sched__node *ready[SCHED_BANDS];
	size_t nready[SCHED_BANDS];
	int64_t air[SCHED_BANDS];
	int64_t slots;           /* consecutive top-band slots (share) */
	bool dirty;              /* re-predict at the next tick */
	int64_t last_pred_ms;    /* time of the last prediction */
	int64_t eval_ms;         /* periodic re-prediction due */
	size_t ntracked;         /* jobs with a deadline or an alternate */
	struct sched_job *tracked; /* ... listed here */
	struct sched_job *jobs;
	size_t njobs;
};

struct sched {
	struct sched_cfg cfg;
	struct sched_route routes[SCHED_ROUTES_MAX];
	struct sched__node *waiting;
	struct sched__node *events;
	struct sched_job **hash;
	size_t hsize;
	size_t njobs;
	uint64_t seq;
};

#define SC struct sched_cfg
const struct cfg_field sched_cfg_fields[] = {
	CFG_INT_F(SC, share_n, "sched_starvation_share", "0", 0, 1000,
	    "every Nth segment to a lower band with work (0: strict)"),
	CFG_BOOL_F(SC, edf, "sched_edf", "yes",
	    "earliest deadline first within a band"),
	CFG_DUR_F(SC, reeval_ms, "predict_reeval", "5s", 100, 600000,
	    "re-prediction period while deadline work is queued"),
	CFG_DUR_F(SC, min_interval_ms, "predict_min_interval", "1s", 0, 60000,
	    "shortest interval between re-predictions of a busy route"),
	CFG_END,
};
#undef SC

void
sched_cfg_default(struct sched_cfg *c)
{
	c->share_n = 0;
	c->edf = true;
	c->reeval_ms = 5000;
	c->min_interval_ms = 1000;
	sched_rules_cfg_default(&c->rules);
	retry_cfg_default(&c->retry);
}

int
sched_cfg_set(struct sched_cfg *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct cfg_field *f;

	if ((f = cfgtab_find(sched_cfg_fields, key)) != NULL)
		return cfgtab_set(f, c, value, err, errlen);
	if ((f = cfgtab_find(sched_rules_cfg_fields, key)) != NULL)
		return cfgtab_set(f, &c->rules, value, err, errlen);
	if ((f = cfgtab_find(retry_cfg_fields, key)) != NULL)
		return cfgtab_set(f, &c->retry, value, err, errlen);
	return GW_ENOENT;
}

int
sched_cfg_check(const struct sched_cfg *c, char *err, size_t errlen)
{
	if (c->share_n == 1) {
		snprintf(err, errlen, "sched_starvation_share must be 0 "
		    "(strict) or 2..1000");
		return GW_ERANGE;
	}
	return retry_cfg_check(&c->retry, err, errlen);
}

/* ---- treap ---- */

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int
node_cmp(const struct sched__node *a, const struct sched__node *b)
{
	if (a->k1 != b->k1)
		return a->k1 < b->k1 ? -1 : 1;
	if (a->k2 != b->k2)
		return a->k2 < b->k2 ? -1 : 1;
	if (a->seq != b->seq)
		return a->seq < b->seq ? -1 : 1;
	return 0;
}

static struct sched__node *
treap_insert(struct sched__node *root, struct sched__node *n)
{
	struct sched__node *c;

	if (root == NULL) {
		n->l = n->r = NULL;
		return n;
	}
	if (node_cmp(n, root) < 0) {
		root->l = treap_insert(root->l, n);
		if (root->l->prio > root->prio) {
			c = root->l;
			root->l = c->r;
			c->r = root;
			return c;
		}
	} else {
		root->r = treap_insert(root->r, n);
		if (root->r->prio > root->prio) {
			c = root->r;
			root->r = c->l;
			c->l = root;
			return c;
		}
	}
	return root;
}

static struct sched__node *
treap_merge(struct sched__node *a, struct sched__node *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	if (a->prio > b->prio) {
		a->r = treap_merge(a->r, b);
		return a;
	}
	b->l = treap_merge(a, b->l);
	return b;
}

static struct sched__node *
treap_remove(struct sched__node *root, struct sched__node *n)
{
	int c;

	GW_REQUIRE(root != NULL);
	c = node_cmp(n, root);
	if (c == 0) {
		GW_REQUIRE(root == n);
		return treap_merge(n->l, n->r);
	}
	if (c < 0)
		root->l = treap_remove(root->l, n);
	else
		root->r = treap_remove(root->r, n);
	return root;
}

static struct sched__node *
treap_min(struct sched__node *root)
{
	if (root == NULL)
		return NULL;
	while (root->l != NULL)
		root = root->l;
	return root;
}

/* sched_walk and the qnode casts rely on this. */
_Static_assert(offsetof(struct sched_job, qnode) == 0,
    "a job's queue node is its first member");

#define JOB_OF(node, member) \
	((struct sched_job *)(void *)((char *)(node) - \
	    offsetof(struct sched_job, member)))

/* ---- helpers ---- */

static struct sched_route *
route_get(struct sched *s, int route)
{
	if (route < 0 || route >= SCHED_ROUTES_MAX || !s->routes[route].used)
		return NULL;
	return &s->routes[route];
}

static bool
job_has_arcpt(const struct sched_job *j)
{
	size_t i;

	for (i = 0; i < j->nrcpts; i++)
		if (j->rcpts[i].state == SCHED_RCPT_ACTIVE &&
		    j->rcpts[i].has_arcpt)
			return true;
	return false;
}

static bool
job_tracked(const struct sched_job *j)
{
	return j->by_ms != 0 || j->aby_ms != 0 || job_has_arcpt(j);
}

/* The deadline that orders the job within its band. */
static int64_t
job_deadline(const struct sched_job *j)
{
	int64_t d = INT64_MAX;

	if (j->by_ms != 0)
		d = j->by_ms;
	if (j->aby_ms != 0 && j->aby_ms < d && job_has_arcpt(j))
		d = j->aby_ms;
	return d;
}

static size_t
hash_slot(const struct sched *s, const uint8_t *id, int route)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		h = (h ^ id[i]) * 1099511628211ULL;
	h = (h ^ (uint64_t)(unsigned)route) * 1099511628211ULL;
	return (size_t)(h & (s->hsize - 1));
}

static void
hash_grow(struct sched *s)
{
	struct sched_job **old = s->hash, *j, *nx;
	size_t oldn = s->hsize, i, k;

	s->hsize = oldn ? oldn * 2 : 64;
	s->hash = xcalloc(s->hsize, sizeof(*s->hash));
	for (i = 0; i < oldn; i++)
		for (j = old[i]; j != NULL; j = nx) {
			nx = j->hnext;
			k = hash_slot(s, j->id, j->route);
			j->hnext = s->hash[k];
			s->hash[k] = j;
		}
	free(old);
}

static void
set_event(struct sched *s, struct sched_job *j, int64_t t)
{
	if (j->in_events ? t == j->next_event_ms : t == INT64_MAX)
		return;
	if (j->in_events)
		s->events = treap_remove(s->events, &j->enode);
	j->in_events = false;
	j->next_event_ms = t;
	if (t != INT64_MAX) {
		j->enode.k1 = t;
		j->enode.k2 = 0;
		j->enode.seq = j->seq;
		j->enode.prio = mix64(j->seq ^ 0x5555);
		s->events = treap_insert(s->events, &j->enode);
		j->in_events = true;
	}
}

/* Take the job out of the ready or waiting treap (and the air totals). */
static void
job_unqueue(struct sched *s, struct sched_job *j)
{
	struct sched_route *r = &s->routes[j->route];

	if (j->state == SCHED_JOB_READY) {
		r->ready[j->band] = treap_remove(r->ready[j->band], &j->qnode);
		r->nready[j->band]--;
		r->air[j->band] -= j->air_bytes;
	} else if (j->state == SCHED_JOB_WAITING) {
		s->waiting = treap_remove(s->waiting, &j->qnode);
		r->air[j->band] -= j->air_bytes;
	}
	r->dirty = true;
}

/* Put the job where its state says, deciding READY or WAITING by time.
 * held: keep it HELD. */
static void
job_enqueue(struct sched *s, struct sched_job *j, bool held, int64_t now)
{
	struct sched_route *r = &s->routes[j->route];

	j->qnode.seq = j->seq;
	j->qnode.prio = mix64(j->seq);
	r->dirty = true;
	if (held) {
		j->state = SCHED_JOB_HELD;
		return;
	}
	if (j->not_before_ms > now) {
		j->state = SCHED_JOB_WAITING;
		j->qnode.k1 = j->not_before_ms;
		j->qnode.k2 = 0;
		s->waiting = treap_insert(s->waiting, &j->qnode);
		r->air[j->band] += j->air_bytes;
		return;
	}
	j->state = SCHED_JOB_READY;
	j->qnode.k1 = s->cfg.edf ? job_deadline(j) : 0;
	j->qnode.k2 = j->arrival_ms;
	r->ready[j->band] = treap_insert(r->ready[j->band], &j->qnode);
	r->nready[j->band]++;
	r->air[j->band] += j->air_bytes;
}

/* Recount the job in its route's tracked count after recipients changed. */
static void
job_retrack(struct sched *s, struct sched_job *j)
{
	struct sched_route *r = &s->routes[j->route];
	bool t = job_tracked(j);

	j->alt = job_has_arcpt(j);
	if (t == j->tracked)
		return;
	if (t) {
		j->tprev = NULL;
		j->tnext = r->tracked;
		if (r->tracked)
			r->tracked->tprev = j;
		r->tracked = j;
		r->ntracked++;
	} else {
		if (j->tprev)
			j->tprev->tnext = j->tnext;
		else
			r->tracked = j->tnext;
		if (j->tnext)
			j->tnext->tprev = j->tprev;
		j->tprev = j->tnext = NULL;
		r->ntracked--;
	}
	j->tracked = t;
}

static void
job_free(struct sched *s, struct sched_job *j)
{
	struct sched_route *r = &s->routes[j->route];
	struct sched_job **pp;
	size_t k;

	job_unqueue(s, j);
	set_event(s, j, INT64_MAX);
	k = hash_slot(s, j->id, j->route);
	for (pp = &s->hash[k]; *pp != j; pp = &(*pp)->hnext)
		GW_REQUIRE(*pp != NULL);
	*pp = j->hnext;
	if (j->rprev)
		j->rprev->rnext = j->rnext;
	else
		r->jobs = j->rnext;
	if (j->rnext)
		j->rnext->rprev = j->rprev;
	r->njobs--;
	if (j->tracked) {
		if (j->tprev)
			j->tprev->tnext = j->tnext;
		else
			r->tracked = j->tnext;
		if (j->tnext)
			j->tnext->tprev = j->tprev;
		r->ntracked--;
	}
	s->njobs--;
	free(j->rcpts);
	free(j);
}

/* Re-key after the deadline or band order may have changed. */
static void
job_requeue(struct sched *s, struct sched_job *j, int64_t now)
{
	bool held = j->state == SCHED_JOB_HELD;

	if (j->state == SCHED_JOB_DOOMED || j->state == SCHED_JOB_COMMITTING)
		return;
	job_unqueue(s, j);
	job_enqueue(s, j, held, now);
}

static struct sched_decision *
out_push(struct sched_out *o)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 16;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	memset(&o->v[o->n], 0, sizeof(o->v[0]));
	return &o->v[o->n++];
}

static void
copy_status(char *dst, const char *src, const char *fallback)
{
	const char *v = src && *src ? src : fallback;
	size_t n = strlen(v);

	if (n > 11)
		n = 11;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static struct sched_decision *
emit(struct sched_out *out, const struct sched_job *j,
    const struct sched_rcpt *rc, enum sched_act act, enum sched_cause cause,
    int64_t now)
{
	struct sched_decision *d = out_push(out);

	d->act = act;
	d->cause = cause;
	memcpy(d->id, j->id, QUEUE_ID_LEN);
	d->route = j->route;
	d->rcpt_idx = rc->idx;
	d->priority = j->priority;
	d->band = j->band;
	d->at_ms = now;
	return d;
}

/* Resolve one recipient; returns true if that was the job's last. */
static bool
rcpt_resolve(struct sched_job *j, struct sched_rcpt *rc)
{
	GW_REQUIRE(rc->state == SCHED_RCPT_ACTIVE && j->nactive > 0);
	rc->state = SCHED_RCPT_RESOLVED;
	return --j->nactive == 0;
}

/* Apply the rules to every active recipient of j at now; emits decisions;
 * frees j if none is left. Returns false if j was freed. */
static bool
job_eval(struct sched *s, struct sched_job *j, int64_t now,
    struct sched_out *out)
{
	struct sched_route *r = &s->routes[j->route];
	struct sched_rules_in in;
	struct sched_rules_out ro;
	struct sched_decision *d = NULL;
	int64_t next = INT64_MAX, dl_before = job_deadline(j);
	bool last = false;
	size_t i;

	if (j->state == SCHED_JOB_COMMITTING) {
		/* The far end decides; the answer comes by sched_report. */
		set_event(s, j, INT64_MAX);
		return true;
	}
	memset(&in, 0, sizeof(in));
	in.now_ms = now;
	in.by_ms = j->by_ms;
	in.by_mode = j->by_mode;
	in.aby_ms = j->aby_ms;
	in.pred_ms = j->pred_ms;
	in.lower_ms = predict_add(now,
	    predict_lower_ms(&r->link, j->size_bytes - j->sent_bytes));
	if (j->state == SCHED_JOB_DOOMED) {
		/* Set aside: it cannot be delivered in time. */
		in.pred_ms = PREDICT_NEVER - 1;
		in.lower_ms = PREDICT_NEVER - 1;
	}
	in.route_down_since_ms = r->state == SCHED_LINK_DOWN ?
	    r->down_since_ms : 0;
	in.expire_ms = predict_add(j->arrival_ms,
	    retry_lifetime_ms(&s->cfg.retry, j->band));
	if (retry_warn_ms(&s->cfg.retry, j->band) != 0)
		in.warn_ms = predict_add(j->arrival_ms,
		    retry_warn_ms(&s->cfg.retry, j->band));
	for (i = 0; i < j->nrcpts && !last; i++) {
		struct sched_rcpt *rc = &j->rcpts[i];

		if (rc->state != SCHED_RCPT_ACTIVE)
			continue;
		in.has_arcpt = rc->has_arcpt;
		in.reply_class = rc->reply_class;
		in.tempfail_since_ms = rc->tempfail_since_ms;
		in.delay_sent = rc->delay_sent;
		in.warned = rc->warned;
		sched_rules_decide(&s->cfg.rules, &in, &ro);
		switch (ro.act) {
		case SCHED_RULES_NONE:
			if (ro.next_ms < next)
				next = ro.next_ms;
			continue;
		case SCHED_RULES_REDIRECT:
			d = emit(out, j, rc, SCHED_ACT_REDIRECT, ro.cause, now);
			copy_status(d->status, "2.0.0", "2.0.0");
			d->dsn_action = DSN_RELAYED;
			d->dsn = dsn_owed(j->null_sender, rc->notify,
			    DSN_RELAYED, DSN_WHY_REDIRECT);
			d->by_left_ms = j->by_ms ? j->by_ms - now : 0;
			last = rcpt_resolve(j, rc);
			break;
		case SCHED_RULES_FAIL:
			d = emit(out, j, rc, SCHED_ACT_FAIL, ro.cause, now);
			copy_status(d->status, ro.status ? ro.status :
			    rc->reply_status, "5.0.0");
			d->dsn_action = DSN_FAILED;
			d->dsn = dsn_owed(j->null_sender, rc->notify,
			    DSN_FAILED, DSN_WHY_NORMAL);
			last = rcpt_resolve(j, rc);
			break;
		case SCHED_RULES_DELAYED:
			d = emit(out, j, rc, SCHED_ACT_DELAYED, ro.cause, now);
			copy_status(d->status, ro.status ? ro.status :
			    rc->reply_status, "4.0.0");
			d->dsn_action = DSN_DELAYED;
			d->dsn = dsn_owed(j->null_sender, rc->notify,
			    DSN_DELAYED, DSN_WHY_NORMAL);
			if (ro.cause == SCHED_CAUSE_BY_PASSED)
				rc->delay_sent = true;
			else
				rc->warned = true;
			/* Look again: the next rule may be due later. */
			i--;
			continue;
		}
	}
	if (last) {
		d->job_gone = true;
		job_free(s, j);
		return false;
	}
	job_retrack(s, j);
	if (job_deadline(j) != dl_before)
		job_requeue(s, j, now);
	/* A DOOMED job stays set aside until a rule resolves it; it always
	 * has a future event (its BY;R deadline at the latest). */
	GW_REQUIRE(j->state != SCHED_JOB_DOOMED || next != INT64_MAX);
	set_event(s, j, next);
	return true;
}

/* ---- public: lifecycle ---- */

void
sched_out_init(struct sched_out *o)
{
	memset(o, 0, sizeof(*o));
	o->wake_ms = INT64_MAX;
}

void
sched_out_reset(struct sched_out *o)
{
	o->n = 0;
	o->wake_ms = INT64_MAX;
}

void
sched_out_fini(struct sched_out *o)
{
	free(o->v);
	sched_out_init(o);
}

struct sched *
sched_new(const struct sched_cfg *cfg)
{
	struct sched *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	hash_grow(s);
	return s;
}

bool
sched_reconfigure(struct sched *s, const struct sched_cfg *cfg)
{
	bool edf = s->cfg.edf;

	s->cfg = *cfg;
	s->cfg.edf = edf;
	return cfg->edf == edf;
}

void
sched_free(struct sched *s)
{
	int r;

	if (s == NULL)
		return;
	for (r = 0; r < SCHED_ROUTES_MAX; r++)
		while (s->routes[r].jobs != NULL)
			job_free(s, s->routes[r].jobs);
	free(s->hash);
	free(s);
}

int
sched_route_add(struct sched *s, const char *name,
    const struct predict_link *l)
{
	int r;

	if (strlen(name) >= SCHED_ROUTE_NAME_MAX)
		return GW_EINVAL;
	if (sched_route_find(s, name) >= 0)
		return GW_EEXIST;
	for (r = 0; r < SCHED_ROUTES_MAX; r++)
		if (!s->routes[r].used)
			break;
	if (r == SCHED_ROUTES_MAX)
		return GW_ELIMIT;
	memset(&s->routes[r], 0, sizeof(s->routes[r]));
	s->routes[r].used = true;
	memcpy(s->routes[r].name, name, strlen(name) + 1);
	s->routes[r].link = *l;
	s->routes[r].state = SCHED_LINK_UP;
	return r;
}

int
sched_route_find(const struct sched *s, const char *name)
{
	int r;

	for (r = 0; r < SCHED_ROUTES_MAX; r++)
		if (s->routes[r].used && strcmp(s->routes[r].name, name) == 0)
			return r;
	return GW_ENOENT;
}

const struct predict_link *
sched_route_model(const struct sched *s, int route)
{
	if (route < 0 || route >= SCHED_ROUTES_MAX || !s->routes[route].used)
		return NULL;
	return &s->routes[route].link;
}

int
sched_route_link(struct sched *s, int route, const struct predict_link *l)
{
	struct sched_route *r = route_get(s, route);
	struct sched_job *j;
	bool resize;
	int64_t a;

	if (r == NULL)
		return GW_ENOENT;
	resize = l->ratio != r->link.ratio ||
	    l->overhead_bytes != r->link.overhead_bytes;
	r->link = *l;
	r->dirty = true;
	if (!resize)
		return 0;
	for (j = r->jobs; j != NULL; j = j->rnext) {
		a = predict_air_bytes(l, j->size_bytes - j->sent_bytes);
		if (j->state == SCHED_JOB_READY ||
		    j->state == SCHED_JOB_WAITING)
			r->air[j->band] += a - j->air_bytes;
		j->air_bytes = a;
	}
	return 0;
}

int
sched_route_state(struct sched *s, int route, enum sched_link st,
    int64_t until_ms, int64_t now)
{
	struct sched_route *r = route_get(s, route);

	if (r == NULL)
		return GW_ENOENT;
	if (st == SCHED_LINK_DOWN && r->state != SCHED_LINK_DOWN)
		r->down_since_ms = now > 0 ? now : 1;
	if (st != SCHED_LINK_DOWN)
		r->down_since_ms = 0;
	r->throttle_until_ms = st == SCHED_LINK_THROTTLED ? until_ms : 0;
	r->state = st;
	r->dirty = true;
	return 0;
}

/* ---- public: jobs ---- */

void
sched_spec_from_envelope(struct sched_job_spec *spec,
    struct sched_rcpt_spec *rcpts, const struct queue_envelope *env,
    int route, const size_t *rcpt_idx, size_t n, int64_t size_bytes,
    int64_t now_ms, int64_t now_wall_s)
{
	size_t i;

	memset(spec, 0, sizeof(*spec));
	memcpy(spec->id, env->id, QUEUE_ID_LEN);
	spec->route = route;
	spec->band = env->band;
	spec->priority = env->priority;
	spec->arrival_ms = now_ms + (env->arrival - now_wall_s) * 1000;
	if (env->by_deadline != 0) {
		spec->by_ms = now_ms + (env->by_deadline - now_wall_s) * 1000;
		if (spec->by_ms == 0)
			spec->by_ms = -1;
		spec->by_mode = env->by_mode;
		spec->by_trace = env->by_trace;
	}
	if (env->aby_deadline != 0) {
		spec->aby_ms = now_ms + (env->aby_deadline - now_wall_s) *
		    1000;
		if (spec->aby_ms == 0)
			spec->aby_ms = -1;
	}
	spec->null_sender = env->reverse_path == NULL ||
	    env->reverse_path[0] == '\0';
	spec->size_bytes = size_bytes;
	for (i = 0; i < n; i++) {
		const struct queue_rcpt *q = &env->rcpts[rcpt_idx[i]];

		rcpts[i].idx = (uint32_t)rcpt_idx[i];
		rcpts[i].notify = q->notify;
		rcpts[i].has_arcpt = q->arcpt != NULL && q->arcpt[0] != '\0';
	}
	spec->rcpts = rcpts;
	spec->nrcpts = n;
}

int
sched_add(struct sched *s, const struct sched_job_spec *spec, int64_t now,
    struct sched_job **out)
{
	struct sched_route *r = route_get(s, spec->route);
	struct sched_job *j;
	size_t i, k;

	if (out)
		*out = NULL;
	if (r == NULL)
		return GW_ENOENT;
	if (spec->nrcpts == 0 || spec->rcpts == NULL)
		return GW_EINVAL;
	if (sched_find(s, spec->id, spec->route) != NULL)
		return GW_EEXIST;
	j = xcalloc(1, sizeof(*j));
	memcpy(j->id, spec->id, QUEUE_ID_LEN);
	j->route = spec->route;
	j->band = spec->band < 0 ? 0 : spec->band >= SCHED_BANDS ?
	    SCHED_BANDS - 1 : spec->band;
	j->priority = spec->priority;
	j->arrival_ms = spec->arrival_ms;
	j->by_ms = spec->by_ms;
	j->by_mode = spec->by_ms ? spec->by_mode : 0;
	if (j->by_mode == 'r')
		j->by_mode = 'R';
	if (j->by_mode == 'n')
		j->by_mode = 'N';
	j->by_trace = spec->by_trace;
	j->aby_ms = spec->aby_ms;
	j->null_sender = spec->null_sender;
	j->size_bytes = spec->size_bytes;
	j->sent_bytes = spec->sent_bytes;
	j->attempts = spec->attempts;
	j->not_before_ms = spec->not_before_ms;
	j->pred_ms = PREDICT_NEVER;
	j->slack_ms = INT64_MAX;
	j->next_event_ms = INT64_MAX;
	j->seq = ++s->seq;
	j->rcpts = xcalloc(spec->nrcpts, sizeof(*j->rcpts));
	for (i = 0; i < spec->nrcpts; i++) {
		j->rcpts[i].idx = spec->rcpts[i].idx;
		j->rcpts[i].notify = spec->rcpts[i].notify;
		j->rcpts[i].has_arcpt = spec->rcpts[i].has_arcpt;
	}
	j->nrcpts = j->nactive = spec->nrcpts;
	j->air_bytes = predict_air_bytes(&r->link,
	    j->size_bytes - j->sent_bytes);

	if (s->njobs + 1 > s->hsize)
		hash_grow(s);
	k = hash_slot(s, j->id, j->route);
	j->hnext = s->hash[k];
	s->hash[k] = j;
	j->rnext = r->jobs;
	if (r->jobs)
		r->jobs->rprev = j;
	r->jobs = j;
	r->njobs++;
	j->tracked = false;
	job_retrack(s, j);
	s->njobs++;
	job_enqueue(s, j, spec->held, now);
	/* First look at the rules at the next tick. */
	set_event(s, j, now);
	if (out)
		*out = j;
	return 0;
}

struct sched_job *
sched_find(const struct sched *s, const uint8_t id[QUEUE_ID_LEN], int route)
{
	struct sched_job *j;

	for (j = s->hash[hash_slot(s, id, route)]; j != NULL; j = j->hnext)
		if (j->route == route && memcmp(j->id, id, QUEUE_ID_LEN) == 0)
			return j;
	return NULL;
}

void
sched_remove(struct sched *s, struct sched_job *job)
{
	job_free(s, job);
}

void
sched_hold(struct sched *s, struct sched_job *job, bool hold, int64_t now)
{
	if (job->state == SCHED_JOB_DOOMED ||
	    job->state == SCHED_JOB_COMMITTING)
		return;
	if (hold == (job->state == SCHED_JOB_HELD))
		return;
	job_unqueue(s, job);
	job_enqueue(s, job, hold, now);
	if (hold)
		job->pred_ms = PREDICT_NEVER;
}

void
sched_defer(struct sched *s, struct sched_job *job, int64_t until_ms,
    int64_t now)
{
	job->not_before_ms = until_ms;
	if (job->state == SCHED_JOB_READY || job->state == SCHED_JOB_WAITING)
		job_requeue(s, job, now);
}

void
sched_progress(struct sched *s, struct sched_job *job, int64_t sent_bytes)
{
	struct sched_route *r = &s->routes[job->route];
	int64_t a;

	job->sent_bytes = sent_bytes;
	a = predict_air_bytes(&r->link, job->size_bytes - sent_bytes);
	if (job->state == SCHED_JOB_READY || job->state == SCHED_JOB_WAITING)
		r->air[job->band] += a - job->air_bytes;
	job->air_bytes = a;
	r->dirty = true;
}

struct sched_job *
sched_next(struct sched *s, int route, int64_t now)
{
	struct sched_route *r = route_get(s, route);
	struct sched__node *n;
	struct sched_job *j;
	int top, low, b;

	if (r == NULL || r->state == SCHED_LINK_DOWN)
		return NULL;
	if (r->state == SCHED_LINK_THROTTLED) {
		if (now < r->throttle_until_ms)
			return NULL;
		r->state = SCHED_LINK_UP;
		r->throttle_until_ms = 0;
	}
	for (;;) {
		for (top = SCHED_BANDS - 1; top >= 0; top--)
			if (r->nready[top] > 0)
				break;
		if (top < 0)
			return NULL;
		b = top;
		if (s->cfg.share_n > 1) {
			for (low = top - 1; low >= 0; low--)
				if (r->nready[low] > 0)
					break;
			if (low < 0) {
				r->slots = 0;
			} else if (++r->slots >= s->cfg.share_n) {
				r->slots = 0;
				b = low;
			}
		}
		n = treap_min(r->ready[b]);
		if (n == NULL) /* nready says otherwise: cannot happen */
			return NULL;
		j = JOB_OF(n, qnode);
		if (j->by_mode == 'R' && now >= j->by_ms) {
			/* Never send after a BY;R deadline; the tick fails
			 * it with 5.4.7. */
			job_unqueue(s, j);
			j->state = SCHED_JOB_DOOMED;
			set_event(s, j, now);
			continue;
		}
		return j;
	}
}

int
sched_commit_begin(struct sched *s, struct sched_job *job, int64_t done_ms,
    int64_t now)
{
	if (job->state != SCHED_JOB_READY)
		return GW_ESTATE;
	job_unqueue(s, job);
	if (job->by_mode == 'R' && done_ms >= job->by_ms) {
		job->state = SCHED_JOB_DOOMED;
		set_event(s, job, now);
		return GW_ETIMEDOUT;
	}
	job->state = SCHED_JOB_COMMITTING;
	job->commit_done_ms = done_ms;
	set_event(s, job, INT64_MAX);
	return 0;
}

void
sched_commit_abort(struct sched *s, struct sched_job *job, int64_t now)
{
	if (job->state != SCHED_JOB_COMMITTING)
		return;
	job_enqueue(s, job, false, now);
	set_event(s, job, now);
}

/* A reported outcome resolved rc: d says whether that was the job's last
 * (then the job is freed). */
static void
resolve_reported(struct sched *s, struct sched_job *job,
    struct sched_rcpt *rc, struct sched_decision *d)
{
	if (rcpt_resolve(job, rc)) {
		d->job_gone = true;
		job_free(s, job);
	} else {
		job_retrack(s, job);
	}
}

int
sched_report(struct sched *s, struct sched_job *job, uint32_t rcpt_idx,
    enum sched_outcome outcome, const char *status, unsigned hop_flags,
    int64_t now, struct sched_out *out)
{
	struct sched_rcpt *rc = NULL;
	struct sched_decision *d;
	enum dsn_why why = DSN_WHY_NORMAL;
	size_t i;

	for (i = 0; i < job->nrcpts; i++)
		if (job->rcpts[i].idx == rcpt_idx &&
		    job->rcpts[i].state == SCHED_RCPT_ACTIVE)
			rc = &job->rcpts[i];
	if (rc == NULL)
		return GW_ENOENT;
	if (job->state == SCHED_JOB_COMMITTING &&
	    (outcome == SCHED_OUT_TEMPFAIL || outcome == SCHED_OUT_PERMFAIL))
		job_enqueue(s, job, false, now);
	switch (outcome) {
	case SCHED_OUT_DELIVERED:
	case SCHED_OUT_RELAYED:
		d = emit(out, job, rc, outcome == SCHED_OUT_DELIVERED ?
		    SCHED_ACT_DELIVERED : SCHED_ACT_RELAYED,
		    outcome == SCHED_OUT_DELIVERED ? SCHED_CAUSE_DELIVERED :
		    SCHED_CAUSE_RELAYED, now);
		copy_status(d->status, status, "2.0.0");
		if (outcome == SCHED_OUT_DELIVERED) {
			d->dsn_action = DSN_DELIVERED;
			d->dsn = dsn_owed(job->null_sender, rc->notify,
			    DSN_DELIVERED, DSN_WHY_NORMAL);
		} else {
			d->dsn_action = DSN_RELAYED;
			if (job->by_trace || (job->by_mode == 'N' &&
			    (hop_flags & SCHED_HOP_NO_DELIVERBY)))
				why = DSN_WHY_TRACE;
			/* A DSN-capable hop takes over the duty to report
			 * success; only trace or a non-DSN hop make us. */
			d->dsn = (why == DSN_WHY_TRACE ||
			    (hop_flags & SCHED_HOP_NO_DSN)) &&
			    dsn_owed(job->null_sender, rc->notify,
			    DSN_RELAYED, why);
		}
		resolve_reported(s, job, rc, d);
		return 0;
	case SCHED_OUT_TEMPFAIL:
		rc->reply_class = 4;
		copy_status(rc->reply_status, status, "4.0.0");
		if (rc->tempfail_since_ms == 0)
			rc->tempfail_since_ms = now > 0 ? now : 1;
		/* One attempt may report several recipients. */
		if (job->not_before_ms <= now) {
			job->attempts++;
			sched_defer(s, job, now + retry_backoff_ms(
			    &s->cfg.retry, job->band, job->attempts), now);
		}
		break;
	case SCHED_OUT_PERMFAIL:
		rc->reply_class = 5;
		copy_status(rc->reply_status, status, "5.0.0");
		break;
	case SCHED_OUT_FAILED:
		d = emit(out, job, rc, SCHED_ACT_CLOSED, SCHED_CAUSE_PERMFAIL,
		    now);
		copy_status(d->status, status, "5.0.0");
		resolve_reported(s, job, rc, d);
		return 0;
	}
	job_eval(s, job, now, out);
	return 0;
}

/* ---- prediction ---- */

struct walk {
	struct sched *s;
	struct sched_route *r;
	int64_t start, cum;
	int64_t num, den;   /* share inflation num/den */
};

static void
set_pred(struct sched_job *j, int64_t pred)
{
	int64_t dl = job_deadline(j);

	j->pred_ms = pred;
	if (dl == INT64_MAX || pred == PREDICT_NEVER)
		j->slack_ms = dl == INT64_MAX ? INT64_MAX : INT64_MIN;
	else
		j->slack_ms = dl - pred;
}

static void
walk_ready(struct walk *w, struct sched__node *n)
{
	struct sched_job *j;
	int64_t eff;

	while (n != NULL) {
		walk_ready(w, n->l);
		j = JOB_OF(n, qnode);
		w->cum += j->air_bytes;
		if (j->tracked) {
			eff = w->cum / w->den * w->num + w->cum % w->den *
			    w->num / w->den;
			set_pred(j, predict_add(w->start,
			    predict_duration_ms(&w->r->link, eff)));
		}
		n = n->r;
	}
}

static void
route_predict(struct sched *s, struct sched_route *r, int64_t now,
    struct sched_out *out)
{
	struct walk w;
	struct sched_job *j, *nx;
	int64_t ahead[SCHED_BANDS + 1], sum = 0, st;
	int b, low;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.r = r;
	w.start = now;
	if (r->state == SCHED_LINK_THROTTLED && r->throttle_until_ms > now)
		w.start = r->throttle_until_ms;
	if (r->state == SCHED_LINK_DOWN) {
		/* Assume it is back when the down limit runs out: anything
		 * later is caught by the route-down rule itself. */
		st = r->down_since_ms + s->cfg.rules.route_down_limit_ms;
		w.start = st > now ? st : now;
	}
	ahead[SCHED_BANDS] = 0;
	for (b = SCHED_BANDS - 1; b >= 0; b--) {
		sum += r->air[b];
		ahead[b] = sum;
	}
	for (b = SCHED_BANDS - 1; b >= 0; b--) {
		w.num = w.den = 1;
		if (s->cfg.share_n > 1) {
			for (low = b - 1; low >= 0; low--)
				if (r->nready[low] > 0)
					break;
			if (low >= 0) {
				/* One slot in N goes below this band. */
				w.num = s->cfg.share_n;
				w.den = s->cfg.share_n - 1;
			}
		}
		walk_ready(&w, r->ready[b]);
	}
	for (j = r->tracked; j != NULL; j = j->tnext) {
		if (j->state == SCHED_JOB_WAITING) {
			st = j->not_before_ms > w.start ? j->not_before_ms :
			    w.start;
			set_pred(j, predict_add(st, predict_duration_ms(
			    &r->link, ahead[j->band])));
		} else if (j->state == SCHED_JOB_COMMITTING) {
			set_pred(j, j->commit_done_ms > now ?
			    j->commit_done_ms : now);
		} else if (j->state != SCHED_JOB_READY) {
			set_pred(j, PREDICT_NEVER);
		}
	}
	r->dirty = false;
	r->last_pred_ms = now;
	r->eval_ms = now + s->cfg.reeval_ms;
	/* Only the prediction rule (an alternate's) depends on them. */
	for (j = r->tracked; j != NULL; j = nx) {
		nx = j->tnext;
		if (j->alt && j->state != SCHED_JOB_DOOMED)
			job_eval(s, j, now, out);
	}
}

int64_t
sched_tick(struct sched *s, int64_t now, struct sched_out *out)
{
	struct sched__node *n;
	struct sched_job *j;
	struct sched_route *r;
	int64_t wake = INT64_MAX;
	int i, budget = SCHED_TICK_MAX;

	while ((n = treap_min(s->waiting)) != NULL && n->k1 <= now) {
		j = JOB_OF(n, qnode);
		job_requeue(s, j, now);
	}
	/* Bounded work per tick (a rebuilt index makes every job due at
	 * once): the rest is due again at once, after the loop has run. */
	while ((n = treap_min(s->events)) != NULL && n->k1 <= now &&
	    budget-- > 0) {
		j = JOB_OF(n, enode);
		set_event(s, j, INT64_MAX);
		job_eval(s, j, now, out);
	}
	for (i = 0; i < SCHED_ROUTES_MAX; i++) {
		r = &s->routes[i];
		if (!r->used || r->ntracked == 0)
			continue;
		if ((r->dirty && (r->last_pred_ms == 0 || now >=
		    r->last_pred_ms + s->cfg.min_interval_ms)) ||
		    now >= r->eval_ms)
			route_predict(s, r, now, out);
	}
	if ((n = treap_min(s->events)) != NULL && n->k1 < wake)
		wake = n->k1;
	if ((n = treap_min(s->waiting)) != NULL && n->k1 < wake)
		wake = n->k1;
	for (i = 0; i < SCHED_ROUTES_MAX; i++) {
		r = &s->routes[i];
		if (!r->used)
			continue;
		if (r->state == SCHED_LINK_THROTTLED &&
		    r->throttle_until_ms > now && r->throttle_until_ms < wake)
			wake = r->throttle_until_ms;
		if (r->ntracked > 0 && r->eval_ms < wake)
			wake = r->eval_ms;
		if (r->ntracked > 0 && r->dirty &&
		    r->last_pred_ms + s->cfg.min_interval_ms < wake)
			wake = r->last_pred_ms + s->cfg.min_interval_ms;
	}
	out->wake_ms = wake;
	return wake;
}

/* ---- introspection ---- */

static void
walk_tree(const struct sched__node *n, sched_walk_fn fn, void *arg)
{
	while (n != NULL) {
		walk_tree(n->l, fn, arg);
		fn((const struct sched_job *)(const void *)n, arg);
		n = n->r;
	}
}

void
sched_walk(const struct sched *s, int route, sched_walk_fn fn, void *arg)
{
	const struct sched_route *r;
	const struct sched_job *j;
	int b;

	if (route < 0 || route >= SCHED_ROUTES_MAX || !s->routes[route].used)
		return;
	r = &s->routes[route];
	for (b = SCHED_BANDS - 1; b >= 0; b--)
		walk_tree(r->ready[b], fn, arg);
	for (j = r->jobs; j != NULL; j = j->rnext)
		if (j->state != SCHED_JOB_READY)
			fn(j, arg);
}

size_t
sched_count(const struct sched *s)
{
	return s->njobs;
}

size_t
sched_route_count(const struct sched *s, int route, int band)
{
	if (route < 0 || route >= SCHED_ROUTES_MAX || !s->routes[route].used ||
	    band < 0 || band >= SCHED_BANDS)
		return 0;
	return s->routes[route].nready[band];
}

static size_t
check_tree(const struct sched__node *n, const struct sched__node *lo,
    const struct sched__node *hi)
{
	if (n == NULL)
		return 0;
	GW_REQUIRE(lo == NULL || node_cmp(lo, n) < 0);
	GW_REQUIRE(hi == NULL || node_cmp(n, hi) < 0);
	GW_REQUIRE(n->l == NULL || n->l->prio <= n->prio);
	GW_REQUIRE(n->r == NULL || n->r->prio <= n->prio);
	return 1 + check_tree(n->l, lo, n) + check_tree(n->r, n, hi);
}

void
sched_check(const struct sched *s)
{
	size_t total = 0, nwait = 0, nwait_seen = 0, nev = 0, nev_seen = 0;
	size_t ready[SCHED_BANDS], i, act, tracked;
	int64_t air[SCHED_BANDS];
	const struct sched_route *r;
	const struct sched_job *j;
	int ri, b;

	nwait = check_tree(s->waiting, NULL, NULL);
	nev = check_tree(s->events, NULL, NULL);
	for (ri = 0; ri < SCHED_ROUTES_MAX; ri++) {
		r = &s->routes[ri];
		if (!r->used) {
			GW_REQUIRE(r->jobs == NULL);
			continue;
		}
		memset(ready, 0, sizeof(ready));
		memset(air, 0, sizeof(air));
		tracked = 0;
		for (i = 0, j = r->jobs; j != NULL; j = j->rnext, i++) {
			GW_REQUIRE(j->route == ri);
			GW_REQUIRE(sched_find(s, j->id, ri) == j);
			for (act = 0, b = 0; (size_t)b < j->nrcpts; b++)
				act += j->rcpts[b].state == SCHED_RCPT_ACTIVE;
			GW_REQUIRE(act == j->nactive && act > 0);
			GW_REQUIRE(j->in_events ==
			    (j->next_event_ms != INT64_MAX));
			nev_seen += j->in_events;
			tracked += job_tracked(j);
			GW_REQUIRE(j->tracked == job_tracked(j));
			GW_REQUIRE(j->alt == job_has_arcpt(j));
			if (j->state == SCHED_JOB_READY) {
				ready[j->band]++;
				air[j->band] += j->air_bytes;
			} else if (j->state == SCHED_JOB_WAITING) {
				nwait_seen++;
				air[j->band] += j->air_bytes;
			} else if (j->state == SCHED_JOB_DOOMED) {
				GW_REQUIRE(j->in_events);
			} else if (j->state == SCHED_JOB_COMMITTING) {
				GW_REQUIRE(!j->in_events);
			}
		}
		GW_REQUIRE(i == r->njobs);
		GW_REQUIRE(tracked == r->ntracked);
		for (i = 0, j = r->tracked; j != NULL; j = j->tnext, i++) {
			GW_REQUIRE(j->tracked && j->route == ri);
			GW_REQUIRE(j->tnext == NULL || j->tnext->tprev == j);
		}
		GW_REQUIRE(i == r->ntracked);
		total += r->njobs;
		for (b = 0; b < SCHED_BANDS; b++) {
			GW_REQUIRE(ready[b] == r->nready[b]);
			GW_REQUIRE(check_tree(r->ready[b], NULL, NULL) ==
			    ready[b]);
			GW_REQUIRE(air[b] == r->air[b]);
		}
	}
	GW_REQUIRE(total == s->njobs);
	GW_REQUIRE(nwait == nwait_seen);
	GW_REQUIRE(nev == nev_seen);
}
