/*
 * harness.c - fake daemon behind a real control server (see harness.h).
 *
 * Thread: the control server and the fake ops run on the harness loop
 * thread; the test thread talks to them through the socket, or through
 * harness_run for direct calls. The fake's state is guarded by h->lock so
 * the test thread may read the action log.
 */
#include "tests/control/harness.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void
cmd_cb(uv_async_t *a)
{
	struct harness *h = a->data;
	void (*fn)(struct harness *, void *);
	void *arg;

	pthread_mutex_lock(&h->lock);
	fn = h->cmd_fn;
	arg = h->cmd_arg;
	h->cmd_fn = NULL;
	pthread_mutex_unlock(&h->lock);
	if (fn == NULL)
		return;
	fn(h, arg);
	pthread_mutex_lock(&h->lock);
	h->cmd_done = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

static void *
loop_thread(void *arg)
{
	struct harness *h = arg;

	uv_run(&h->loop, UV_RUN_DEFAULT);
	return NULL;
}

int
harness_start(struct harness *h, const char *dir,
    const struct control_opts *opts)
{
	struct control_opts o;
	struct control_ops ops = { h, fake_fill_status, fake_do_action, NULL,
		NULL };
	int rc;

	memset(h, 0, sizeof(*h));
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	snprintf(h->path, sizeof(h->path), "%s/control.sock", dir);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	GW_REQUIRE(uv_loop_init(&h->loop) == 0);
	GW_REQUIRE(uv_async_init(&h->loop, &h->cmd, cmd_cb) == 0);
	h->cmd.data = h;
	h->start_ms = (int64_t)uv_now(&h->loop);
	if (opts)
		o = *opts;
	else {
		memset(&o, 0, sizeof(o));
		o.log_events_level = -1;
	}
	o.path = h->path;
	rc = control_new(&h->loop, &o, &ops, &h->ctl);
	if (rc != 0) {
		uv_close((uv_handle_t *)&h->cmd, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		return rc;
	}
	GW_REQUIRE(pthread_create(&h->thread, NULL, loop_thread, h) == 0);
	return 0;
}

void
harness_run(struct harness *h, void (*fn)(struct harness *, void *),
    void *arg)
{
	pthread_mutex_lock(&h->lock);
	h->cmd_fn = fn;
	h->cmd_arg = arg;
	h->cmd_done = false;
	pthread_mutex_unlock(&h->lock);
	uv_async_send(&h->cmd);
	pthread_mutex_lock(&h->lock);
	while (!h->cmd_done)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

static void
post_fn(struct harness *h, void *arg)
{
	control_post_event(h->ctl, GW_LOG_INFO, "test", "%s",
	    (const char *)arg);
}

void
harness_post(struct harness *h, const char *text)
{
	harness_run(h, post_fn, (void *)(uintptr_t)text);
}

static void
nclients_fn(struct harness *h, void *arg)
{
	*(size_t *)arg = control_nclients(h->ctl);
}

size_t
harness_nclients(struct harness *h)
{
	size_t n = 0;

	harness_run(h, nclients_fn, &n);
	return n;
}

size_t
harness_nactions(struct harness *h)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = h->nactions;
	pthread_mutex_unlock(&h->lock);
	return n;
}

struct fake_action
harness_action(struct harness *h, size_t i)
{
	struct fake_action a;

	pthread_mutex_lock(&h->lock);
	GW_REQUIRE(i < h->nactions);
	a = h->actions[i];
	pthread_mutex_unlock(&h->lock);
	return a;
}

static void
stop_fn(struct harness *h, void *arg)
{
	(void)arg;
	control_close(h->ctl, NULL, NULL);
	uv_close((uv_handle_t *)&h->cmd, NULL);
}

void
harness_stop(struct harness *h)
{
	harness_run(h, stop_fn, NULL);
	pthread_join(h->thread, NULL);
	GW_REQUIRE(uv_loop_close(&h->loop) == 0);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
}

/* --- the fake daemon ---------------------------------------------------- */

void
fake_fill_status(void *arg, struct status *st)
{
	struct harness *h = arg;
	int64_t el = (int64_t)uv_now(&h->loop) - h->start_ms;
	bool held, down;

	pthread_mutex_lock(&h->lock);
	held = h->onair_held;
	down = h->link_down;
	pthread_mutex_unlock(&h->lock);

	snprintf(st->gateway, sizeof(st->gateway), "alpha.test");
	st->uptime_ms = 3723000 + el;
	st->nlinks = 2;
	struct status_link *l = &st->links[0];
	snprintf(l->name, sizeof(l->name), "hf1");
	l->state = down ? STATUS_LINK_DOWN :
	    held ? STATUS_LINK_IDLE : STATUS_LINK_SENDING;
	snprintf(l->profile, sizeof(l->profile), "pactor3");
	snprintf(l->peer, sizeof(l->peer), "bravo.test");
	l->nominal_bps = 2400;
	l->measured_bps = 1870;
	l->tx_bytes = 1234567 + el;
	l->rx_bytes = 20100;
	l->tx_frames = 340 + el / 1000;
	l->rx_frames = 88;
	l->retx_rate = 0.031;
	l->last_good_ms = 2000;
	l->auth_failures = 0;
	l->spark_interval_ms = 5000;
	l->nspark = STATUS_SPARK_MAX;
	for (size_t i = 0; i < l->nspark; i++)
		l->spark[i] = (uint32_t)(120 + 110 * sin((double)(i +
		    (size_t)(el / 5000)) / 4.0));
	l = &st->links[1];
	snprintf(l->name, sizeof(l->name), "vhf2");
	l->state = STATUS_LINK_DOWN;
	snprintf(l->profile, sizeof(l->profile), "kiss-9600");
	snprintf(l->peer, sizeof(l->peer), "charlie.test");
	l->nominal_bps = 9600;
	l->last_good_ms = -1;
	l->auth_failures = 3;
	l->spark_interval_ms = 5000;
	l->nspark = 10;

	static const char *const bands[] = { "flash", "priority", "routine" };
	st->nbands = 3;
	for (size_t i = 0; i < 3; i++) {
		struct status_band *b = &st->bands[i];
		snprintf(b->name, sizeof(b->name), "%s", bands[i]);
		b->messages = (int64_t)(1 + i * 6);
		b->bytes = (int64_t)(2100 + i * 650000);
		b->oldest_age_ms = (int64_t)(12000 + i * 3600000);
		b->drain_ms = (int64_t)(9000 + i * 2800000);
	}

	if (!held) {
		struct status_xfer *x = &st->onair[0];
		st->nonair = 1;
		snprintf(x->id, sizeof(x->id), "%s", FAKE_ONAIR_ID);
		snprintf(x->link, sizeof(x->link), "hf1");
		snprintf(x->sender, sizeof(x->sender), "ops@alpha.test");
		snprintf(x->rcpts, sizeof(x->rcpts),
		    "hq@bravo.test,log@bravo.test");
		x->priority = 2;
		x->bytes_total = FAKE_ONAIR_TOTAL;
		x->bytes_sent = el * FAKE_ONAIR_BPS / 1000 % FAKE_ONAIR_TOTAL;
		x->eta_ms = (x->bytes_total - x->bytes_sent) * 1000 /
		    FAKE_ONAIR_BPS;
	}

	struct status_risk *r = &st->risk[0];
	st->nrisk = 1;
	snprintf(r->id, sizeof(r->id), "%s", FAKE_RISK_ID);
	snprintf(r->sender, sizeof(r->sender), "cmd@alpha.test");
	snprintf(r->kind, sizeof(r->kind), "ABY");
	r->deadline_s = 1795000000;
	r->predicted_s = 1795000670;
	r->slack_ms = -670000;
	r->action = STATUS_RISK_REDIRECT;
	snprintf(r->target, sizeof(r->target), "duty@charlie.test");

	st->nheld = 1;
	struct status_held *hd = &st->held[0];
	snprintf(hd->id, sizeof(hd->id), "%s", FAKE_HELD_ID);
	snprintf(hd->sender, sizeof(hd->sender), "bulk@alpha.test");
	snprintf(hd->rcpts, sizeof(hd->rcpts), "archive@bravo.test");
	hd->priority = -4;
	hd->bytes = 1300000;
	hd->since_s = 1794990000;
	snprintf(hd->by, sizeof(hd->by), "uid=0");
	if (held) {
		hd = &st->held[st->nheld++];
		snprintf(hd->id, sizeof(hd->id), "%s", FAKE_ONAIR_ID);
		snprintf(hd->sender, sizeof(hd->sender), "ops@alpha.test");
		snprintf(hd->rcpts, sizeof(hd->rcpts), "hq@bravo.test");
		hd->priority = 2;
		hd->bytes = FAKE_ONAIR_TOTAL;
		hd->since_s = 1795000000;
		snprintf(hd->by, sizeof(hd->by), "uid=0");
	}
}

struct late {
	uv_timer_t timer;
	control_done_fn done;
	void *token;
	struct harness *h;
	char text[64];
};

static void
late_closed(uv_handle_t *t)
{
	free(t->data);
}

static void
late_cb(uv_timer_t *t)
{
	struct late *l = t->data;
	struct control_result r = { 0, l->text, NULL, 0 };

	l->done(l->token, &r);
	pthread_mutex_lock(&l->h->lock);
	l->h->ndone_late++;
	pthread_mutex_unlock(&l->h->lock);
	uv_close((uv_handle_t *)t, late_closed);
}

static void
finish_later(struct harness *h, uint64_t ms, const char *text,
    control_done_fn done, void *token)
{
	struct late *l = xcalloc(1, sizeof(*l));

	l->done = done;
	l->token = token;
	l->h = h;
	snprintf(l->text, sizeof(l->text), "%s", text);
	uv_timer_init(&h->loop, &l->timer);
	l->timer.data = l;
	uv_timer_start(&l->timer, late_cb, ms, 0);
}

static bool
known_msg(const char *id)
{
	return strcmp(id, FAKE_ONAIR_ID) == 0 || strcmp(id, FAKE_RISK_ID) ==
	    0 || strcmp(id, FAKE_HELD_ID) == 0 || strcmp(id, "m1") == 0 ||
	    strcmp(id, "slow") == 0;
}

static void
fake_msg(struct status_msg *m, const char *id, enum status_msg_state s)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->state = s;
	snprintf(m->sender, sizeof(m->sender), "ops@alpha.test");
	snprintf(m->rcpts, sizeof(m->rcpts), "hq@bravo.test");
	m->nrcpts = 1;
	m->priority = 2;
	snprintf(m->band, sizeof(m->band), "immediate");
	snprintf(m->route, sizeof(m->route), "link:hf1");
	m->bytes = 4200;
	m->age_ms = 65000;
	m->attempts = 1;
	m->next_try_ms = -1;
}

void
fake_do_action(void *arg, const struct control_action *act,
    control_done_fn done, void *token)
{
	struct harness *h = arg;
	struct control_result r = { 0, NULL, NULL, 0 };
	struct status_msg msgs[3];
	char text[320];
	bool link_ok = act->link[0] == '\0' || strcmp(act->link, "hf1") == 0 ||
	    strcmp(act->link, "vhf2") == 0;

	pthread_mutex_lock(&h->lock);
	if (h->nactions < FAKE_ACTIONS_MAX) {
		struct fake_action *a = &h->actions[h->nactions++];
		a->op = act->op;
		memcpy(a->id, act->id, sizeof(a->id));
		memcpy(a->link, act->link, sizeof(a->link));
		memcpy(a->route, act->route, sizeof(a->route));
		a->uid = act->uid;
		a->pid = act->pid;
	}
	if (h->action_log) {
		fprintf(h->action_log, "action op=%s id=%s link=%s route=%s "
		    "uid=%u\n", control_op_name(act->op),
		    act->id[0] ? act->id : "-", act->link[0] ? act->link : "-",
		    act->route[0] ? act->route : "-", (unsigned)act->uid);
		fflush(h->action_log);
	}
	pthread_mutex_unlock(&h->lock);

	if (strcmp(act->id, "slow") == 0) {
		finish_later(h, 300, "slow done", done, token);
		return;
	}
	if (act->id[0] && !known_msg(act->id)) {
		r.err = GW_ENOENT;
		r.text = "no such message";
		if (act->op == CONTROL_OP_SHOW) {
			r.err = 0; /* SHOW answers with an empty result */
			r.text = NULL;
		}
		done(token, &r);
		return;
	}
	if (!link_ok) {
		r.err = GW_ENOENT;
		r.text = "no such link";
		done(token, &r);
		return;
	}
	switch (act->op) {
	case CONTROL_OP_QUEUE:
		fake_msg(&msgs[0], FAKE_ONAIR_ID, STATUS_MSG_INFLIGHT);
		fake_msg(&msgs[1], FAKE_RISK_ID, STATUS_MSG_READY);
		fake_msg(&msgs[2], FAKE_HELD_ID, STATUS_MSG_HELD);
		r.msgs = msgs;
		r.nmsgs = 3;
		r.text = "3 messages";
		break;
	case CONTROL_OP_SHOW:
		fake_msg(&msgs[0], act->id, STATUS_MSG_READY);
		r.msgs = msgs;
		r.nmsgs = 1;
		break;
	case CONTROL_OP_CANCEL:
		finish_later(h, 100, "cancelled; DSN sent to the sender", done,
		    token);
		return;
	case CONTROL_OP_HOLD:
	case CONTROL_OP_RELEASE:
		pthread_mutex_lock(&h->lock);
		if (strcmp(act->id, FAKE_ONAIR_ID) == 0)
			h->onair_held = act->op == CONTROL_OP_HOLD;
		pthread_mutex_unlock(&h->lock);
		snprintf(text, sizeof(text), "%s %s%s",
		    act->op == CONTROL_OP_HOLD ? "held" : "released",
		    act->id[0] ? "message " : "link ",
		    act->id[0] ? act->id : act->link);
		r.text = text;
		break;
	case CONTROL_OP_LINK_DOWN:
	case CONTROL_OP_LINK_UP:
		pthread_mutex_lock(&h->lock);
		if (strcmp(act->link, "hf1") == 0)
			h->link_down = act->op == CONTROL_OP_LINK_DOWN;
		pthread_mutex_unlock(&h->lock);
		snprintf(text, sizeof(text), "link %s %s", act->link,
		    act->op == CONTROL_OP_LINK_DOWN ? "down" : "up");
		r.text = text;
		break;
	case CONTROL_OP_FLUSH:
		r.text = "retrying now";
		break;
	case CONTROL_OP_REQUEUE:
		snprintf(text, sizeof(text), "requeued to %s", act->route);
		r.text = text;
		break;
	default:
		r.err = GW_EUNSUPP;
		break;
	}
	done(token, &r);
}
