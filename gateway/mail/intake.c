/*
 * intake.c - the front door of the queue (see intake.h).
 *
 * Each submission carries a small context to its commit callback: the
 * caller's callback, and the routes to wake (copied, since the queue owns
 * the envelope once it accepted it).
 */
#include "gateway/mail/intake.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAKE_LINKS_MAX 8

struct intake {
	struct intake_env env;
	const struct route_table *routes;
	const struct policy *policy;
	intake_link_wake_fn wake_link;
	intake_local_wake_fn wake_local;
	void *wake_arg;
	bool quiet;
	size_t pending;
};

struct commit_ctx {
	struct intake *in;
	queue_submit_cb submit_cb; /* intake_submit */
	intake_done_cb done_cb;    /* intake_fail */
	void *arg;
	bool dsn;                  /* a DSN about for_id */
	uint8_t for_id[QUEUE_ID_LEN];
	bool local;                /* a non-link route to wake */
	size_t nlinks;
	char links[WAKE_LINKS_MAX][32];
};

struct intake *
intake_new(const struct intake_env *env)
{
	struct intake *in = xcalloc(1, sizeof(*in));

	in->env = *env;
	return in;
}

void
intake_set_routes(struct intake *in, const struct route_table *rt,
    const struct policy *pol)
{
	in->routes = rt;
	in->policy = pol;
}

void
intake_set_wake(struct intake *in, intake_link_wake_fn link,
    intake_local_wake_fn local, void *arg)
{
	in->wake_link = link;
	in->wake_local = local;
	in->wake_arg = arg;
}

void
intake_route(const struct intake *in, struct queue_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct route_target *t;
		if (env->rcpts[i].route)
			continue;
		t = in->routes ? route_lookup(in->routes, env->rcpts[i].addr) :
		    NULL;
		if (t)
			env->rcpts[i].route = xstrdup(t->spec);
	}
}

int
intake_band(const struct intake *in, int priority)
{
	return in->policy ? policy_band(in->policy, priority) : 0;
}

const char *
intake_route_for(const struct intake *in, const char *addr)
{
	const struct route_target *t =
	    in->routes ? route_lookup(in->routes, addr) : NULL;

	return t ? t->spec : NULL;
}

bool
intake_serves(const struct intake *in, const char *spec)
{
	return in->routes && route_link_name(spec) == NULL &&
	    route_table_has_target(in->routes, spec);
}

const struct policy *
intake_policy(const struct intake *in)
{
	return in->policy;
}

void
intake_wake(const struct intake *in, const char *spec)
{
	if (in->quiet || spec == NULL)
		return;
	if (route_link_name(spec) != NULL) {
		if (in->wake_link)
			in->wake_link(in->wake_arg, route_link_name(spec));
	} else if (in->wake_local) {
		in->wake_local(in->wake_arg);
	}
}

/* Note the routes of env to wake after its commit. */
static void
ctx_note_routes(struct commit_ctx *c, const struct queue_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		const char *rt = env->rcpts[i].route;
		const char *link = route_link_name(rt);
		if (rt == NULL)
			continue;
		if (link == NULL) {
			c->local = true;
			continue;
		}
		bool seen = false;
		for (size_t k = 0; k < c->nlinks && !seen; k++)
			seen = strcmp(c->links[k], link) == 0;
		if (!seen && c->nlinks < WAKE_LINKS_MAX)
			snprintf(c->links[c->nlinks++], sizeof(c->links[0]),
			    "%s", link);
	}
}

static void
ctx_wake(const struct commit_ctx *c)
{
	const struct intake *in = c->in;

	if (in->quiet)
		return;
	if (c->local && in->wake_local)
		in->wake_local(in->wake_arg);
	for (size_t i = 0; i < c->nlinks && in->wake_link; i++)
		in->wake_link(in->wake_arg, c->links[i]);
}

void
intake_wake_routes(const struct intake *in, const struct queue_envelope *env)
{
	struct commit_ctx c = { 0 };

	c.in = (struct intake *)(uintptr_t)in;
	ctx_note_routes(&c, env);
	ctx_wake(&c);
}

static void
log_dsn(const struct commit_ctx *c, int status, const uint8_t *id)
{
	char hex[33] = "-", orig[33];

	if (id)
		queue_id_hex(id, hex);
	queue_id_hex(c->for_id, orig);
	if (status == 0)
		GW_LOGI("intake", "event=dsn_queued msg=%s dsn_for=%s", hex,
		    orig);
	else if (status == GW_ESTATE)
		/* the FAILED -> DSN_QUEUED change is allowed once: another
		 * path (the start-up sweep) queued this failure's DSN first,
		 * and this copy was rolled back with it */
		GW_LOGI("intake", "event=dsn_already_queued dsn_for=%s", orig);
	else
		GW_LOGE("intake", "event=dsn_store_failed dsn_for=%s error=%s",
		    orig, gw_errname(status));
}

void
intake_wake_all(const struct intake *in)
{
	if (in->quiet)
		return;
	if (in->wake_local)
		in->wake_local(in->wake_arg);
	if (in->wake_link)
		in->wake_link(in->wake_arg, NULL);
}

static void
on_committed(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct commit_ctx *c = arg;

	c->in->pending--;
	if (c->dsn)
		log_dsn(c, status, id);
	if (c->submit_cb)
		c->submit_cb(status, id, c->arg);
	else if (c->done_cb)
		c->done_cb(status, c->arg);
	if (status == 0)
		ctx_wake(c);
	free(c);
}

static void
on_updated(int status, void *arg)
{
	on_committed(status, NULL, arg);
}

static struct commit_ctx *
ctx_new(struct intake *in)
{
	struct commit_ctx *c = xcalloc(1, sizeof(*c));

	c->in = in;
	return c;
}

static int
ctx_started(struct commit_ctx *c, int rc)
{
	if (rc != 0)
		free(c);
	else
		c->in->pending++;
	return rc;
}

int
intake_submit(struct intake *in, struct queue_envelope *env,
    struct buf *content, const struct queue_change *ch, size_t n,
    queue_submit_cb cb, void *arg)
{
	struct commit_ctx *c = ctx_new(in);
	int rc;

	c->submit_cb = cb;
	c->arg = arg;
	intake_route(in, env);
	ctx_note_routes(c, env);
	if (n > 0)
		rc = queue_submit_update(in->env.queue, env, content, ch, n,
		    on_committed, c);
	else
		rc = queue_submit(in->env.queue, env, content, on_committed,
		    c);
	return ctx_started(c, rc);
}

int
intake_fail_built(struct intake *in, struct queue_envelope *dsn,
    struct buf *content, const struct queue_change *ch, size_t n,
    const uint8_t for_id[QUEUE_ID_LEN], intake_done_cb cb, void *arg)
{
	struct commit_ctx *c = ctx_new(in);
	int rc;

	c->done_cb = cb;
	c->arg = arg;
	if (dsn == NULL) {
		if (n == 0) {
			free(c);
			return GW_ENOENT;
		}
		return ctx_started(c, queue_update(in->env.queue, ch, n,
		    on_updated, c));
	}
	c->dsn = true;
	if (for_id)
		memcpy(c->for_id, for_id, QUEUE_ID_LEN);
	intake_route(in, dsn);
	ctx_note_routes(c, dsn);
	if (n > 0)
		rc = queue_submit_update(in->env.queue, dsn, content, ch, n,
		    on_committed, c);
	else
		rc = queue_submit(in->env.queue, dsn, content, on_committed,
		    c);
	return ctx_started(c, rc);
}

int
intake_fail(struct intake *in, const struct dsn_report *rep,
    const struct queue_change *ch, size_t n, intake_done_cb cb, void *arg)
{
	struct queue_envelope *dsn = NULL;
	struct buf content = BUF_INIT;
	int rc;

	if (rep != NULL && rep->nrcpts > 0) {
		rc = dsn_build(rep, &dsn, &content);
		if (rc != 0 && rc != GW_ENOENT) {
			buf_fini(&content);
			return rc;
		}
		/* GW_ENOENT: none may be sent (null reverse path) */
	}
	rc = intake_fail_built(in, dsn, &content, ch, n,
	    dsn ? rep->orig->id : NULL, cb, arg);
	if (rc != 0 && dsn != NULL)
		queue_envelope_free(dsn);
	buf_fini(&content);
	return rc;
}

size_t
intake_pending(const struct intake *in)
{
	return in->pending;
}

void
intake_quiesce(struct intake *in)
{
	in->quiet = true;
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	if (in->pending > 0)
		GW_LOGW("intake", "event=free_pending pending=%zu",
		    in->pending);
	free(in);
}
