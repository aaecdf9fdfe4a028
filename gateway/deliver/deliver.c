/*
 * deliver.c - the glue that picks a delivery agent per recipient.
 *
 * Purpose: the scheduler hands over one message and the recipients due now;
 * this module routes each recipient (route.c), groups recipients that share
 * a smtp:/lmtp: target into one onward transaction (smtpc.c), writes one
 * Maildir file per local recipient (maildir.c), marks link recipients
 * DELIVER_TO_LINK, and reports one outcome per recipient.
 *
 * Ownership: struct deliver is owned by the daemon. A struct dl_job is owned
 * by this module from deliver_start() until its done callback has run (in
 * the close callback of the job's timer, so that "done" is always later
 * than deliver_start's return and after every outcome).
 *
 * Thread: the loop thread. Maildir I/O runs on the libuv pool.
 *
 * Job life: START (outcomes decided here are stored) -> timer(0) fires:
 * report stored outcomes, launch agents -> each agent reports -> when no
 * agent is pending: close the timer -> done callback -> free.
 */
#include "gateway/deliver/deliver.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/deliver/maildir.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/route.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUB "deliver"

static const char *const action_names[] = {
	[DELIVER_DELIVERED] = "delivered",
	[DELIVER_RELAYED] = "relayed",
	[DELIVER_DEFERRED] = "deferred",
	[DELIVER_FAILED] = "failed",
	[DELIVER_TO_LINK] = "to_link",
};

const char *
deliver_action_name(enum deliver_action a)
{
	return (size_t)a < GW_ARRAY_LEN(action_names) ? action_names[a] : "?";
}

void
deliver_outcome_set(struct deliver_outcome *o, enum deliver_action a,
    const char *status, const char *fmt, ...)
{
	va_list ap;
	size_t rcpt = o->rcpt;

	memset(o, 0, sizeof(*o));
	o->rcpt = rcpt;
	o->action = a;
	snprintf(o->status, sizeof(o->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
}

void
deliver_outcome_remote_mta(const struct deliver_outcome *o, char *out,
    size_t len)
{
	size_t n = strcspn(o->remote_mta, " :");

	if (len == 0)
		return;
	out[0] = '\0';
	if (n > 0)
		snprintf(out, len, "dns; %.*s", (int)n, o->remote_mta);
}

void
deliver_outcome_diag(const struct deliver_outcome *o, char *out, size_t len)
{
	if (o->code)
		snprintf(out, len, "smtp; %d %s %s", o->code, o->status,
		    o->text);
	else
		snprintf(out, len, "x-skywave; %s", o->text);
}

void
deliver_outcome_dsn(const struct deliver_outcome *o, bool success,
    bool lossy_before, char *status, size_t slen, char *diag, size_t dlen)
{
	if (success && (o->lossy || lossy_before)) {
		snprintf(status, slen, "2.6.4");
		if (o->lossy && o->conv_detail[0])
			snprintf(diag, dlen, "x-skywave; content converted "
			    "with loss of information: %s", o->conv_detail);
		else if (o->lossy)
			snprintf(diag, dlen, "x-skywave; content converted "
			    "with loss of information");
		else
			snprintf(diag, dlen, "x-skywave; content converted "
			    "with loss of information by an earlier gateway");
		return;
	}
	snprintf(status, slen, "%s", o->status[0] ? o->status :
	    success ? "2.0.0" : "5.0.0");
	deliver_outcome_diag(o, diag, dlen);
}

void
deliver_outcome_from_err(struct deliver_outcome *o, int err, const char *what)
{
	const char *st = "4.3.0";

	if (err == GW_ENOSPC || err == -ENOSPC)
		st = "4.3.1";
	else if (err == -EDQUOT)
		st = "4.2.2";
	deliver_outcome_set(o, DELIVER_DEFERRED, st, "%s: %s", what,
	    gw_strerror(err));
}

static const char *const chunking_names[] = { "auto", "never", "always",
	NULL };

#define DC struct deliver_cfg
const struct cfg_field deliver_cfg_fields[] = {
	CFG_DUR_F(DC, connect_ms, "smtp_connect_timeout", "30s", 1000, 600000,
	    "onward SMTP/LMTP: TCP connect and name lookup"),
	CFG_DUR_F(DC, greeting_ms, "smtp_greeting_timeout", "5m", 1000,
	    3600000, "onward SMTP/LMTP: wait for the 220 greeting"),
	CFG_DUR_F(DC, helo_ms, "smtp_helo_timeout", "5m", 1000, 3600000,
	    "onward SMTP/LMTP: EHLO/LHLO/HELO reply"),
	CFG_DUR_F(DC, mail_ms, "smtp_mail_timeout", "5m", 1000, 3600000,
	    "onward SMTP/LMTP: MAIL reply"),
	CFG_DUR_F(DC, rcpt_ms, "smtp_rcpt_timeout", "5m", 1000, 3600000,
	    "onward SMTP/LMTP: each RCPT reply"),
	CFG_DUR_F(DC, data_init_ms, "smtp_data_init_timeout", "2m", 1000,
	    3600000, "onward SMTP/LMTP: DATA -> 354"),
	CFG_DUR_F(DC, data_block_ms, "smtp_data_block_timeout", "3m", 1000,
	    3600000, "onward SMTP/LMTP: each block of content written"),
	CFG_DUR_F(DC, data_done_ms, "smtp_data_done_timeout", "10m", 1000,
	    7200000, "onward SMTP/LMTP: reply to the final dot or BDAT LAST"),
	CFG_DUR_F(DC, quit_ms, "smtp_quit_timeout", "30s", 1000, 600000,
	    "onward SMTP/LMTP: QUIT -> 221"),
	CFG_INT_F(DC, connection_limit, "smtp_connection_limit", "4", 1, 64,
	    "sessions at once per smtp:/lmtp: route target"),
	CFG_ENUM_F(DC, chunking, "smtp_chunking", "auto", chunking_names,
	    "BDAT: auto (BINARYMIME or large), never, always"),
	CFG_SIZE_F(DC, chunking_min_size, "smtp_chunking_min_size", "1M",
	    1024, 1073741824, "smtp_chunking=auto: BDAT from this size on"),
	CFG_STR_F(DC, helo_name, "smtp_helo_name", "", 0,
	    "our EHLO/LHLO name (empty: the gateway's hostname)"),
	CFG_BOOL_F(DC, maildir_create, "maildir_create", "yes",
	    "create a missing Maildir (no: the recipient is unknown, 5.1.1)"),
	CFG_END,
};
#undef DC

void
deliver_cfg_default(struct deliver_cfg *c)
{
	char err[200];

	memset(c, 0, sizeof(*c));
	GW_REQUIRE(cfgtab_defaults(deliver_cfg_fields, c, err,
	    sizeof(err)) == 0);
}

int
deliver_cfg_set(struct deliver_cfg *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	const struct cfg_field *f = cfgtab_find(deliver_cfg_fields, key);

	if (f == NULL)
		return GW_ENOENT;
	return cfgtab_set(f, c, value, err, errlen);
}

void
deliver_cfg_smtpc(const struct deliver_cfg *c, const char *hostname,
    struct smtpc_opts *o)
{
	smtpc_opts_default(o, c->helo_name[0] ? c->helo_name : hostname);
	o->to.connect_ms = c->connect_ms;
	o->to.greeting_ms = c->greeting_ms;
	o->to.ehlo_ms = c->helo_ms;
	o->to.mail_ms = c->mail_ms;
	o->to.rcpt_ms = c->rcpt_ms;
	o->to.data_ms = c->data_init_ms;
	o->to.block_ms = c->data_block_ms;
	o->to.dot_ms = c->data_done_ms;
	o->to.quit_ms = c->quit_ms;
	o->max_conns_per_target = (int)c->connection_limit;
	o->chunking = (enum smtpc_chunking)c->chunking;
	o->chunking_min_bytes = (size_t)c->chunking_min_size;
}

struct deliver {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	const struct route_table *routes;
	struct smtpc_client *smtpc;
	char hostname[256];
	int64_t max_received;
	bool maildir_create;
	size_t active;
	deliver_agent_fn b2f_send;
	void *b2f_agent;
};

void
deliver_set_b2f(struct deliver *d, deliver_agent_fn fn, void *agent)
{
	d->b2f_send = fn;
	d->b2f_agent = agent;
}

struct dl_group {
	struct route_target t;
	size_t *rcpts;              /* env->rcpts indexes */
	size_t n;
};

struct dl_md {
	struct dl_job *job;
	size_t rcpt;
	char dir[4096];
};

struct dl_job {
	struct deliver *d;
	struct deliver_req req;
	size_t *rcpt_list;          /* owned copy behind req.rcpts */
	deliver_outcome_cb on_outcome;
	deliver_done_cb on_done;
	void *arg;
	uv_timer_t timer;
	struct deliver_outcome *early; /* decided before any agent ran */
	size_t nearly;
	struct dl_group *groups;
	size_t ngroups;
	size_t pending;             /* agents still running */
	bool launched;
	bool closing;
};

struct deliver *
deliver_new(uv_loop_t *loop, const struct gw_clock *clock,
    const struct route_table *routes, struct smtpc_client *smtpc,
    const struct deliver_opts *opts)
{
	struct deliver *d = xcalloc(1, sizeof(*d));

	d->loop = loop;
	d->clock = clock;
	d->routes = routes;
	d->smtpc = smtpc;
	snprintf(d->hostname, sizeof(d->hostname), "%s",
	    opts && opts->hostname ? opts->hostname : "localhost");
	d->max_received = opts ? opts->max_received : 100;
	d->maildir_create = opts ? opts->maildir_create : true;
	return d;
}

void
deliver_free(struct deliver *d)
{
	if (d == NULL)
		return;
	GW_REQUIRE(d->active == 0);
	free(d);
}

size_t
deliver_active(const struct deliver *d)
{
	return d->active;
}

void
deliver_set_routes(struct deliver *d, const struct route_table *routes)
{
	d->routes = routes;
}

static void
job_closed(uv_handle_t *h)
{
	struct dl_job *j = h->data;

	j->d->active--;
	j->on_done(j->arg);
	for (size_t g = 0; g < j->ngroups; g++)
		free(j->groups[g].rcpts);
	free(j->groups);
	free(j->early);
	free(j->rcpt_list);
	free(j);
}

static void
job_maybe_done(struct dl_job *j)
{
	if (j->launched && j->pending == 0 && !j->closing) {
		j->closing = true;
		uv_close((uv_handle_t *)&j->timer, job_closed);
	}
}

static void
report(struct dl_job *j, const struct deliver_outcome *o)
{
	const struct queue_rcpt *q = &j->req.env->rcpts[o->rcpt];

	/* The caller logs the outcome with the message id (log once); this
	 * line is for debugging the agents. */
	GW_LOGD(SUB, "rcpt=<%s> event=outcome action=%s code=%d status=%s "
	    "remote=\"%s\" text=\"%s\"", q->addr,
	    deliver_action_name(o->action), o->code, o->status, gw_logq(o->remote_mta),
	    gw_logq(o->text));
	j->on_outcome(j->arg, o);
}

static void
on_smtpc_done(void *arg, const struct deliver_outcome *o, size_t n)
{
	struct dl_job *j = arg;

	for (size_t i = 0; i < n; i++)
		report(j, &o[i]);
	j->pending--;
	job_maybe_done(j);
}

static void
on_md_done(int status, const char *name, void *arg)
{
	struct dl_md *m = arg;
	struct dl_job *j = m->job;
	struct deliver_outcome o = { .rcpt = m->rcpt };

	if (status == 0) {
		deliver_outcome_set(&o, DELIVER_DELIVERED, "2.0.0",
		    "delivered to Maildir %s as %s", m->dir, name);
	} else if (status == -ENOENT && !j->d->maildir_create) {
		deliver_outcome_set(&o, DELIVER_FAILED, "5.1.1",
		    "mailbox unknown: no Maildir %s", m->dir);
	} else {
		deliver_outcome_from_err(&o, status, "Maildir delivery");
		GW_LOGW(SUB, "rcpt=<%s> event=maildir_error dir=%s error=%s",
		    j->req.env->rcpts[m->rcpt].addr, m->dir,
		    gw_errname(status));
	}
	free(m);
	report(j, &o);
	j->pending--;
	job_maybe_done(j);
}

static void
launch_maildir(struct dl_job *j, const struct dl_group *g, size_t r)
{
	const struct queue_rcpt *q = &j->req.env->rcpts[r];
	struct deliver_outcome o = { .rcpt = r };
	struct dl_md *m = xcalloc(1, sizeof(*m));

	m->job = j;
	m->rcpt = r;
	if (maildir_expand(g->t.arg, q->addr, m->dir, sizeof(m->dir)) != 0) {
		deliver_outcome_set(&o, DELIVER_FAILED, "5.1.3",
		    "local part cannot name a mailbox safely");
		goto now;
	}
	if (maildir_seen_delivered_to(j->req.content, j->req.len, q->addr)) {
		deliver_outcome_set(&o, DELIVER_FAILED, ROUTE_LOOP_STATUS,
		    "mail loop: already delivered to <%s> here", q->addr);
		goto now;
	}
	struct maildir_req mr = {
		.dir = m->dir,
		.rcpt = q->addr,
		.return_path = j->req.env->reverse_path,
		.hostname = j->d->hostname,
		.content = j->req.content,
		.len = j->req.len,
		.create = j->d->maildir_create,
	};
	j->pending++;
	int rc = maildir_deliver(j->d->loop, &mr, on_md_done, m);
	if (rc == 0)
		return;
	j->pending--;
	deliver_outcome_from_err(&o, rc, "Maildir delivery");
now:
	free(m);
	report(j, &o);
}

static void
launch_group(struct dl_job *j, const struct dl_group *g)
{
	if (g->t.kind == ROUTE_MAILDIR) {
		for (size_t i = 0; i < g->n; i++)
			launch_maildir(j, g, g->rcpts[i]);
		return;
	}
	/* smtp / lmtp */
	struct smtpc_msg m = {
		.env = j->req.env,
		.content = j->req.content,
		.len = j->req.len,
		.rcpts = g->rcpts,
		.nrcpts = g->n,
	};
	int rc = g->t.kind == ROUTE_B2F ? (j->d->b2f_send ?
	    j->d->b2f_send(j->d->b2f_agent, &g->t, &m, on_smtpc_done, j) :
	    GW_ECLOSED) : j->d->smtpc ? smtpc_client_send(j->d->smtpc, &g->t,
	    &m, on_smtpc_done, j) : GW_ECLOSED;
	if (rc == 0) {
		j->pending++;
		return;
	}
	for (size_t i = 0; i < g->n; i++) {
		struct deliver_outcome o = { .rcpt = g->rcpts[i] };
		if (g->t.kind == ROUTE_B2F && rc == GW_EPROTO)
			/* the mail cannot be made a Winlink message */
			deliver_outcome_set(&o, DELIVER_FAILED, "5.6.0",
			    "cannot be converted to a Winlink message");
		else
			deliver_outcome_set(&o, DELIVER_DEFERRED, "4.3.2",
			    "onward SMTP client unavailable: %s",
			    gw_strerror(rc));
		report(j, &o);
	}
}

static void
on_start(uv_timer_t *t)
{
	struct dl_job *j = t->data;

	for (size_t i = 0; i < j->nearly; i++)
		report(j, &j->early[i]);
	/* pending guards against a group finishing synchronously */
	j->pending++;
	for (size_t g = 0; g < j->ngroups; g++)
		launch_group(j, &j->groups[g]);
	j->pending--;
	j->launched = true;
	job_maybe_done(j);
}

static struct dl_group *
group_for(struct dl_job *j, const struct route_target *t)
{
	for (size_t g = 0; g < j->ngroups; g++)
		if (j->groups[g].t.kind == t->kind &&
		    strcmp(j->groups[g].t.spec, t->spec) == 0)
			return &j->groups[g];
	j->groups = xrealloc(j->groups, (j->ngroups + 1) *
	    sizeof(*j->groups));
	struct dl_group *g = &j->groups[j->ngroups++];
	memset(g, 0, sizeof(*g));
	g->t = *t;
	g->rcpts = xcalloc(j->req.nrcpts, sizeof(*g->rcpts));
	return g;
}

int
deliver_start(struct deliver *d, const struct deliver_req *req,
    deliver_outcome_cb on_outcome, deliver_done_cb on_done, void *arg)
{
	const struct queue_envelope *env = req->env;

	if (env == NULL || req->content == NULL || on_outcome == NULL ||
	    on_done == NULL)
		return GW_EINVAL;
	size_t n = req->rcpts ? req->nrcpts : env->nrcpts;
	for (size_t i = 0; req->rcpts && i < n; i++)
		if (req->rcpts[i] >= env->nrcpts)
			return GW_EINVAL;

	struct dl_job *j = xcalloc(1, sizeof(*j));
	size_t *list = xcalloc(n ? n : 1, sizeof(*list));
	for (size_t i = 0; i < n; i++)
		list[i] = req->rcpts ? req->rcpts[i] : i;
	j->d = d;
	j->req = *req;
	j->req.rcpts = list;
	j->rcpt_list = list;
	j->req.nrcpts = n;
	j->on_outcome = on_outcome;
	j->on_done = on_done;
	j->arg = arg;
	j->early = xcalloc(n ? n : 1, sizeof(*j->early));

	bool loop = route_is_loop(req->content, req->len, d->max_received);
	for (size_t i = 0; i < n; i++) {
		size_t r = list[i];
		const struct queue_rcpt *q = &env->rcpts[r];
		struct deliver_outcome *o = &j->early[j->nearly];
		struct route_target own;
		const struct route_target *t = NULL;
		char why[400];

		o->rcpt = r;
		if (loop) {
			deliver_outcome_set(o, DELIVER_FAILED,
			    ROUTE_LOOP_STATUS, "mail loop: %zu or more "
			    "Received fields (limit %lld)",
			    route_count_received(req->content, req->len),
			    (long long)d->max_received);
			j->nearly++;
			continue;
		}
		if (q->route && q->route[0]) {
			if (route_target_parse(q->route, &own, why,
			    sizeof(why)) == 0)
				t = &own;
		} else if (d->routes) {
			t = route_lookup(d->routes, q->addr);
		}
		if (t == NULL) {
			deliver_outcome_set(o, DELIVER_FAILED, "5.4.4",
			    "no route to the recipient's domain");
			j->nearly++;
			continue;
		}
		if (t->kind == ROUTE_LINK) {
			deliver_outcome_set(o, DELIVER_TO_LINK, "2.0.0",
			    "routed to link %s", t->arg);
			snprintf(o->link, sizeof(o->link), "%.*s",
			    (int)sizeof(o->link) - 1, t->arg);
			j->nearly++;
			continue;
		}
		struct dl_group *g = group_for(j, t);
		g->rcpts[g->n++] = r;
	}

	d->active++;
	uv_timer_init(d->loop, &j->timer);
	j->timer.data = j;
	uv_timer_start(&j->timer, on_start, 0, 0);
	return 0;
}
