/*
 * control.c - the control socket server (see control.h and
 * docs/control-protocol.md).
 *
 * Owner: the daemon, on the loop thread. One struct control owns the
 * listening pipe, an async handle (log lines from other threads), the ring
 * of recent events and the list of clients. Each client owns its pipe, its
 * input buffer and at most one outstanding action.
 *
 * Client session:
 *
 *          accept
 *            |
 *            v          request line          action (async)
 *   +----> READY --------------------+-----> PENDING ---------+
 *   |        |  ^  status/ping/bad   |   reading paused once  |
 *   |        |  +--------------------+   a line is buffered   |
 *   |        |                                                |
 *   |        | {"op":"events"}          done(): reply, resume |
 *   |        v                                                |
 *   |     STREAM (events written as they happen; input        |
 *   |        |    is read only to see EOF)                    |
 *   |        v                                                |
 *   |     CLOSING <-- EOF, write error, line too long, ------+
 *   |                 output backlog > max_output, server close
 *   +---------------------------------------------------------+
 *
 * Transitions: READY->PENDING in client_dispatch (do_action called),
 * PENDING->READY in control_done, READY->STREAM in client_dispatch,
 * any->CLOSING in client_close / client_end.
 * Invariants: a client is in PENDING iff cl->pending != NULL, and then
 * cl->pending->client == cl; a STREAM client never has a pending action;
 * replies go out in request order (one request at a time per client).
 *
 * Teardown: control_close closes every handle; the struct is freed when
 * nopen == 0 and npending == 0 (an action finishing after its client went
 * away only drops its reply).
 */
#include "gateway/control/control.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_PROTO_VERSION 1
#define CONTROL_LOGQ_MAX 64  /* log lines waiting for the loop thread */
#define CONTROL_READ_CHUNK 4096

struct control_client;

struct control_pending {
	struct control *ctl;
	struct control_client *client; /* NULL once the client has gone */
	struct control_action act;
	json_t *tag;                   /* echoed in the reply, or NULL */
};

struct control_client {
	struct control *ctl;
	uv_pipe_t pipe;
	uv_timer_t idle;     /* closes a silent request connection */
	int nopen;           /* of pipe and idle */
	uv_shutdown_t shutdown;
	struct control_client *prev, *next;
	struct buf in;
	uint64_t serial;
	uid_t uid;
	pid_t pid;
	bool streaming;
	bool closing;
	bool ending;         /* shutting down after the last reply */
	bool reading;
	bool in_process;
	struct control_pending *pending;
};

struct control_logq_item {
	enum gw_log_level level;
	char subsys[STATUS_NAME_MAX];
	char text[STATUS_TEXT_MAX];
};

struct control {
	uv_loop_t *loop;
	uv_pipe_t listener;
	uv_async_t async;
	struct control_ops ops;
	const struct gw_clock *clock;
	char *path;
	dev_t dev;
	ino_t ino;
	size_t max_clients, max_line, max_output;
	uint64_t idle_timeout_ms;
	int log_events_level;
	bool sink_installed;

	struct control_client *clients;
	size_t nclients;
	uint64_t next_serial;

	struct status_event ring[STATUS_EVENTS_MAX];
	size_t ring_head, ring_len;   /* oldest at ring_head */

	size_t nopen;                 /* libuv handles not yet closed */
	size_t npending;              /* actions not yet done */
	bool closing;
	void (*closed_cb)(void *arg);
	void *closed_arg;

	pthread_mutex_t lock;         /* guards logq* (any thread) */
	struct control_logq_item logq[CONTROL_LOGQ_MAX];
	size_t logq_len;
	size_t logq_dropped;
};

static const char *const op_names[] = {
#define CONTROL__OP_NAME(n, s) s,
	CONTROL_OP_MAP(CONTROL__OP_NAME)
#undef CONTROL__OP_NAME
};

const char *
control_op_name(enum control_op op)
{
	return (unsigned)op < GW_ARRAY_LEN(op_names) ? op_names[op] : "?";
}

int
control_op_parse(const char *s)
{
	for (size_t i = 0; s && i < GW_ARRAY_LEN(op_names); i++)
		if (strcmp(op_names[i], s) == 0)
			return (int)i;
	return -1;
}

size_t
control_nclients(const struct control *c)
{
	return c->nclients;
}

/* --- teardown ---------------------------------------------------------- */

static void
control_maybe_free(struct control *c)
{
	if (!c->closing || c->nopen > 0 || c->npending > 0)
		return;
	void (*cb)(void *) = c->closed_cb;
	void *arg = c->closed_arg;
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c);
	if (cb)
		cb(arg);
}

static void
handle_closed(uv_handle_t *h)
{
	struct control *c = h->data;

	c->nopen--;
	control_maybe_free(c);
}

static void
client_closed(uv_handle_t *h)
{
	struct control_client *cl = h->data;
	struct control *c = cl->ctl;

	c->nopen--;
	if (--cl->nopen > 0)
		return;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	c->nclients--;
	buf_fini(&cl->in);
	free(cl);
	control_maybe_free(c);
}

static void
client_close(struct control_client *cl, const char *why)
{
	if (cl->closing)
		return;
	cl->closing = true;
	GW_LOGD("control", "client=%llu event=close reason=%s",
	    (unsigned long long)cl->serial, why);
	if (cl->pending) {
		cl->pending->client = NULL;
		cl->pending = NULL;
	}
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
	uv_close((uv_handle_t *)&cl->idle, client_closed);
}

static void
client_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct control_client *cl = req->data;

	(void)status;
	client_close(cl, "ended");
}

/* Close after everything queued has been written. */
static void
client_end(struct control_client *cl)
{
	if (cl->closing || cl->ending)
		return;
	cl->ending = true;
	if (cl->reading) {
		uv_read_stop((uv_stream_t *)&cl->pipe);
		cl->reading = false;
	}
	cl->shutdown.data = cl;
	if (uv_shutdown(&cl->shutdown, (uv_stream_t *)&cl->pipe,
	    client_shutdown_cb) != 0)
		client_close(cl, "shutdown failed");
}

static void
idle_cb(uv_timer_t *t)
{
	struct control_client *cl = t->data;

	if (cl->closing)
		return;
	if (cl->ending) { /* a peer that never reads its last reply */
		client_close(cl, "shutdown timed out");
		return;
	}
	if (cl->streaming)
		return;
	if (cl->pending) { /* the daemon is still working on it */
		uv_timer_again(&cl->idle);
		return;
	}
	GW_LOGD("control", "client=%llu event=idle_timeout",
	    (unsigned long long)cl->serial);
	client_close(cl, "idle");
}

/* (Re)start the idle clock; a stream never times out (it is meant to sit
 * and listen), everything else must send a request now and then. */
static void
client_touch(struct control_client *cl)
{
	if (cl->closing || cl->ending)
		return;
	if (cl->streaming) {
		uv_timer_stop(&cl->idle);
		return;
	}
	uv_timer_start(&cl->idle, idle_cb, cl->ctl->idle_timeout_ms,
	    cl->ctl->idle_timeout_ms);
}

/* --- output ------------------------------------------------------------ */

struct control_wreq {
	uv_write_t req;
	struct control_client *cl;
	size_t len;
	char data[];
};

static void
write_cb(uv_write_t *req, int status)
{
	struct control_wreq *w = (struct control_wreq *)req;

	if (status < 0 && status != UV_ECANCELED)
		client_close(w->cl, "write error");
	free(w);
}

static void
client_send_raw(struct control_client *cl, const char *s, size_t n)
{
	struct control_wreq *w;
	uv_buf_t b;

	if (cl->closing || cl->ending)
		return;
	w = xmalloc(sizeof(*w) + n + 1);
	w->cl = cl;
	w->len = n + 1;
	memcpy(w->data, s, n);
	w->data[n] = '\n';
	b = uv_buf_init(w->data, (unsigned)w->len);
	if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, write_cb) !=
	    0) {
		free(w);
		client_close(cl, "write failed");
		return;
	}
	if (uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe) >
	    cl->ctl->max_output) {
		GW_LOGW("control", "client=%llu uid=%u event=drop "
		    "reason=slow-reader backlog=%zu",
		    (unsigned long long)cl->serial, (unsigned)cl->uid,
		    uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe));
		client_close(cl, "too slow");
	}
}

/* Send o as one line and drop the reference. */
static void
client_send(struct control_client *cl, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	GW_REQUIRE(s != NULL);
	client_send_raw(cl, s, strlen(s));
	free(s);
	json_decref(o);
}

static json_t *
reply_new(bool ok, json_t *tag)
{
	json_t *o = json_object();

	json_object_set_new(o, "ok", json_boolean(ok));
	if (tag)
		json_object_set(o, "tag", tag);
	return o;
}

static void
client_error(struct control_client *cl, json_t *tag, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
client_error(struct control_client *cl, json_t *tag, const char *fmt,
    ...)
{
	char msg[300];
	va_list ap;
	json_t *o = reply_new(false, tag);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(o, "error", json_string(msg));
	client_send(cl, o);
}

/* --- events ------------------------------------------------------------ */

static json_t *
event_json(const struct status_event *e)
{
	struct status st;
	json_t *all, *ev;

	/* One encoder for events: the snapshot's. */
	status_init(&st);
	st.events[0] = *e;
	st.nevents = 1;
	all = status_to_json(&st);
	ev = json_array_get(json_object_get(all, "events"), 0);
	json_incref(ev);
	json_decref(all);
	return ev;
}

static void
event_add(struct control *c, const struct status_event *e)
{
	size_t slot;
	json_t *line;
	char *s;

	if (c->ring_len < STATUS_EVENTS_MAX) {
		slot = (c->ring_head + c->ring_len) % STATUS_EVENTS_MAX;
		c->ring_len++;
	} else {
		slot = c->ring_head;
		c->ring_head = (c->ring_head + 1) % STATUS_EVENTS_MAX;
	}
	c->ring[slot] = *e;

	line = json_object();
	json_object_set_new(line, "event", event_json(e));
	s = json_dumps(line, JSON_COMPACT);
	GW_REQUIRE(s != NULL);
	json_decref(line);
	for (struct control_client *cl = c->clients, *nx; cl; cl = nx) {
		nx = cl->next; /* client_send_raw may close cl (not free it) */
		if (cl->streaming)
			client_send_raw(cl, s, strlen(s));
	}
	free(s);
}

static void
event_fill(struct status_event *e, const struct control *c,
    enum gw_log_level level, const char *kind, const char *text)
{
	memset(e, 0, sizeof(*e));
	e->time_s = clk_wall_s(c->clock);
	status_strlcpy(e->level, gw_log_level_name(level), sizeof(e->level));
	status_strlcpy(e->kind, kind, sizeof(e->kind));
	status_strlcpy(e->text, text, sizeof(e->text));
}

void
control_post_event(struct control *c, enum gw_log_level level,
    const char *kind, const char *fmt, ...)
{
	struct status_event e;
	char text[STATUS_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	event_fill(&e, c, level, kind, text);
	event_add(c, &e);
}

void
control_log_sink(enum gw_log_level level, const char *subsys,
    const char *line, void *arg)
{
	struct control *c = arg;
	const char *text;
	char head[STATUS_NAME_MAX + 4];

	const char *kind = subsys;

	/* No logging in here: we are inside gw_log. */
	if (c == NULL || level > GW_LOG_INFO)
		return;
	snprintf(head, sizeof(head), " %s: ", subsys);
	text = strstr(line, head);
	text = text ? text + strlen(head) : line;
	if (c->ops.on_log)
		c->ops.on_log(c->ops.arg, level, subsys, text);
	if (strcmp(subsys, "control") == 0)
		return;
	if ((int)level > c->log_events_level && (c->ops.notable == NULL ||
	    !c->ops.notable(subsys, text, &kind)))
		return;
	pthread_mutex_lock(&c->lock);
	if (c->logq_len < CONTROL_LOGQ_MAX) {
		struct control_logq_item *it = &c->logq[c->logq_len++];
		it->level = level;
		status_strlcpy(it->subsys, kind, sizeof(it->subsys));
		status_strlcpy(it->text, text, sizeof(it->text));
	} else {
		c->logq_dropped++;
	}
	pthread_mutex_unlock(&c->lock);
	uv_async_send(&c->async);
}

static void
async_cb(uv_async_t *h)
{
	struct control *c = h->data;
	struct control_logq_item items[CONTROL_LOGQ_MAX];
	size_t n, dropped;

	if (c->closing)
		return;
	pthread_mutex_lock(&c->lock);
	n = c->logq_len;
	memcpy(items, c->logq, n * sizeof(items[0]));
	dropped = c->logq_dropped;
	c->logq_len = 0;
	c->logq_dropped = 0;
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; i < n; i++) {
		struct status_event e;
		event_fill(&e, c, items[i].level, items[i].subsys,
		    items[i].text);
		event_add(c, &e);
	}
	if (dropped)
		control_post_event(c, GW_LOG_WARN, "control",
		    "%zu log events dropped", dropped);
}

/* --- requests ---------------------------------------------------------- */

enum arg_kind { ARG_ID, ARG_LINK, ARG_ROUTE, ARG_BAND };

static bool
arg_char_ok(enum arg_kind k, unsigned char ch)
{
	if (ch >= 'a' && ch <= 'z')
		return true;
	if (ch >= '0' && ch <= '9')
		return true;
	if (ch == '-' || ch == '_' || ch == '.')
		return true;
	if (ch >= 'A' && ch <= 'Z')
		return true;
	if (k == ARG_ID && ch == ':')
		return true;
	/* a route is one printable token: "link:hf2", "smtp:host:25" */
	return k == ARG_ROUTE && ch > 0x20 && ch < 0x7f;
}

/* Copy member key of req into out[size]. Returns 1 if present and valid,
 * 0 if absent, -1 (with *why) if present and bad. */
static int
get_arg(const json_t *req, const char *key, enum arg_kind k, char *out,
    size_t size, const char **why)
{
	const json_t *v = json_object_get(req, key);
	const char *s;
	size_t n;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		*why = "must be a string";
		return -1;
	}
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n >= size) {
		*why = n == 0 ? "is empty" : "is too long";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!arg_char_ok(k, (unsigned char)s[i])) {
			*why = "has characters that are not allowed";
			return -1;
		}
	memcpy(out, s, n + 1);
	return 1;
}

/* Which arguments each op takes. */
#define NEED_ID 0x01u
#define NEED_LINK 0x02u
#define NEED_ROUTE 0x04u
#define NEED_ID_OR_LINK 0x08u  /* exactly one of id, link */
#define MAY_ID_OR_LINK 0x10u   /* at most one of id, link */
#define MAY_BAND 0x20u

static unsigned
op_args(enum control_op op)
{
	switch (op) {
	case CONTROL_OP_SHOW: return NEED_ID;
	case CONTROL_OP_HOLD:
	case CONTROL_OP_RELEASE: return NEED_ID_OR_LINK;
	case CONTROL_OP_CANCEL: return NEED_ID;
	case CONTROL_OP_FLUSH: return MAY_ID_OR_LINK;
	case CONTROL_OP_REQUEUE: return NEED_ID | NEED_ROUTE;
	case CONTROL_OP_LINK_DOWN:
	case CONTROL_OP_LINK_UP: return NEED_LINK;
	case CONTROL_OP_QUEUE: return MAY_BAND;
	case CONTROL_OP_ACK: return NEED_ID;
	case CONTROL_OP_TRACE: return NEED_ID;
	default: return 0;
	}
}

/* Fill act from req; on error returns a message for the client. */
static const char *
parse_action(const json_t *req, enum control_op op, struct control_action *a,
    char *msg, size_t msglen)
{
	unsigned need = op_args(op);
	const char *why = NULL;
	int has_id, has_link, has_route, has_band;

	has_id = get_arg(req, "id", ARG_ID, a->id, sizeof(a->id), &why);
	if (has_id < 0)
		goto bad_id;
	has_link = get_arg(req, "link", ARG_LINK, a->link, sizeof(a->link),
	    &why);
	if (has_link < 0) {
		snprintf(msg, msglen, "\"link\" %s", why);
		return msg;
	}
	has_route = get_arg(req, "route", ARG_ROUTE, a->route,
	    sizeof(a->route), &why);
	if (has_route < 0) {
		snprintf(msg, msglen, "\"route\" %s", why);
		return msg;
	}
	has_band = get_arg(req, "band", ARG_BAND, a->band, sizeof(a->band),
	    &why);
	if (has_band < 0) {
		snprintf(msg, msglen, "\"band\" %s", why);
		return msg;
	}
	if ((need & NEED_ID) && !has_id)
		return "\"id\" is required";
	if ((need & NEED_LINK) && !has_link)
		return "\"link\" is required";
	if ((need & NEED_ROUTE) && !has_route)
		return "\"route\" is required";
	if ((need & NEED_ID_OR_LINK) && has_id + has_link != 1)
		return "give exactly one of \"id\" or \"link\"";
	if ((need & MAY_ID_OR_LINK) && has_id + has_link > 1)
		return "give at most one of \"id\" or \"link\"";
	if (!(need & (NEED_ID | NEED_ID_OR_LINK | MAY_ID_OR_LINK)) && has_id)
		return "\"id\" is not used by this op";
	if (!(need & (NEED_LINK | NEED_ID_OR_LINK | MAY_ID_OR_LINK)) &&
	    has_link)
		return "\"link\" is not used by this op";
	if (!(need & NEED_ROUTE) && has_route)
		return "\"route\" is not used by this op";
	if (!(need & MAY_BAND) && has_band)
		return "\"band\" is not used by this op";
	a->limit = 0;
	if (op == CONTROL_OP_QUEUE) {
		const json_t *l = json_object_get(req, "limit");
		a->limit = 100;
		if (l != NULL && (!json_is_integer(l) ||
		    json_integer_value(l) < 1 ||
		    json_integer_value(l) > 10000))
			return "\"limit\" must be an integer 1..10000";
		if (l != NULL)
			a->limit = (size_t)json_integer_value(l);
	}
	a->since_s = 0;
	if (op == CONTROL_OP_REPORT) {
		const json_t *v = json_object_get(req, "since");
		if (v != NULL && (!json_is_integer(v) ||
		    json_integer_value(v) < 0))
			return "\"since\" must be Unix seconds (an integer)";
		if (v != NULL)
			a->since_s = (int64_t)json_integer_value(v);
	}
	return NULL;
bad_id:
	snprintf(msg, msglen, "\"id\" %s", why);
	return msg;
}

static void client_process(struct control_client *cl);
static void client_update_reading(struct control_client *cl);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

/* Inspection only: not logged as an operator action. */
static bool
control_op_reads(enum control_op op)
{
	return op == CONTROL_OP_QUEUE || op == CONTROL_OP_SHOW ||
	    op == CONTROL_OP_METRICS || op == CONTROL_OP_HISTORY ||
	    op == CONTROL_OP_REPORT || op == CONTROL_OP_TRACE;
}

static void
control_done(void *token, const struct control_result *r)
{
	struct control_pending *p = token;
	struct control *c = p->ctl;
	struct control_client *cl = p->client;
	const struct control_action *a = &p->act;
	const char *text = r->text ? r->text : (r->err ? gw_strerror(r->err) :
	    "done");

	GW_REQUIRE(c->npending > 0);
	c->npending--;
	if (!control_op_reads(a->op)) {
		/* Who did what: one line per action, and an event. */
		gw_log(r->err ? GW_LOG_WARN : GW_LOG_INFO, "control",
		    "op=%s id=%s link=%s route=%s uid=%u pid=%ld result=%s "
		    "text=\"%s\"", control_op_name(a->op),
		    a->id[0] ? a->id : "-", a->link[0] ? a->link : "-",
		    a->route[0] ? a->route : "-", (unsigned)a->uid,
		    (long)a->pid, r->err ? gw_errname(r->err) : "ok", gw_logq(text));
		if (!c->closing)
			control_post_event(c,
			    r->err ? GW_LOG_WARN : GW_LOG_INFO, "operator",
			    "uid %u %s%s%s%s%s: %s%s", (unsigned)a->uid,
			    control_op_name(a->op), a->id[0] ? " " : "",
			    a->id, a->link[0] ? " link " : "", a->link,
			    r->err ? "failed: " : "", text);
	}
	if (cl != NULL) {
		json_t *o = reply_new(r->err == 0, p->tag);
		if (r->err) {
			json_object_set_new(o, "error", json_string(text));
			json_object_set_new(o, "code",
			    json_string(gw_errname(r->err)));
		} else {
			json_object_set_new(o, "text", json_string(text));
		}
		if (r->err == 0 && a->op == CONTROL_OP_QUEUE) {
			json_t *arr = json_array();
			for (size_t i = 0; i < r->nmsgs && i < a->limit; i++)
				json_array_append_new(arr,
				    status_msg_to_json(&r->msgs[i]));
			json_object_set_new(o, "messages", arr);
		}
		if (r->err == 0 && a->op == CONTROL_OP_SHOW) {
			if (r->nmsgs == 0) {
				json_decref(o);
				o = reply_new(false, p->tag);
				json_object_set_new(o, "error",
				    json_string("no such message"));
				json_object_set_new(o, "code",
				    json_string(gw_errname(GW_ENOENT)));
			} else {
				json_object_set_new(o, "message",
				    status_msg_to_json(&r->msgs[0]));
			}
		}
		client_send(cl, o);
		cl->pending = NULL;
		client_touch(cl);
		client_process(cl);
	}
	json_decref(p->tag);
	free(p);
	control_maybe_free(c);
}

static void
do_status(struct control_client *cl, json_t *tag)
{
	struct control *c = cl->ctl;
	struct status *st = xmalloc(sizeof(*st));
	json_t *o;

	status_init(st);
	if (c->ops.fill_status)
		c->ops.fill_status(c->ops.arg, st);
	st->version = STATUS_VERSION;
	if (st->now_s == 0)
		st->now_s = clk_wall_s(c->clock);
	st->nevents = c->ring_len;
	for (size_t i = 0; i < c->ring_len; i++)
		st->events[i] = c->ring[(c->ring_head + i) % STATUS_EVENTS_MAX];
	o = reply_new(true, tag);
	json_object_set_new(o, "status", status_to_json(st));
	free(st);
	client_send(cl, o);
}

static void
do_events(struct control_client *cl, const json_t *req, json_t *tag)
{
	struct control *c = cl->ctl;
	const json_t *b = json_object_get(req, "backlog");
	size_t backlog = 0;
	json_t *o;

	if (b != NULL && (!json_is_integer(b) || json_integer_value(b) < 0 ||
	    json_integer_value(b) > STATUS_EVENTS_MAX)) {
		client_error(cl, tag, "\"backlog\" must be an integer 0..%d",
		    STATUS_EVENTS_MAX);
		return;
	}
	if (b != NULL)
		backlog = (size_t)json_integer_value(b);
	if (backlog > c->ring_len)
		backlog = c->ring_len;
	o = reply_new(true, tag);
	json_object_set_new(o, "stream", json_string("events"));
	client_send(cl, o);
	cl->streaming = true;
	for (size_t i = c->ring_len - backlog; i < c->ring_len; i++) {
		json_t *line = json_object();
		json_object_set_new(line, "event", event_json(
		    &c->ring[(c->ring_head + i) % STATUS_EVENTS_MAX]));
		client_send(cl, line);
	}
}

static void
client_dispatch(struct control_client *cl, const char *line, size_t n)
{
	struct control *c = cl->ctl;
	json_error_t jerr;
	json_t *req, *tag = NULL;
	const json_t *opv;
	int op;

	req = json_loadb(line, n, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		client_error(cl, NULL, "malformed JSON: %s (column %d)",
		    jerr.text, jerr.column);
		return;
	}
	if (!json_is_object(req)) {
		client_error(cl, NULL, "a request must be a JSON object");
		goto out;
	}
	tag = json_object_get(req, "tag");
	if (tag != NULL && !json_is_string(tag) && !json_is_integer(tag)) {
		client_error(cl, NULL, "\"tag\" must be a string or integer");
		goto out;
	}
	opv = json_object_get(req, "op");
	if (!json_is_string(opv)) {
		client_error(cl, tag, "\"op\" is required (a string)");
		goto out;
	}
	op = control_op_parse(json_string_value(opv));
	if (op < 0) {
		client_error(cl, tag, "unknown op \"%.40s\"",
		    json_string_value(opv));
		goto out;
	}
	switch ((enum control_op)op) {
	case CONTROL_OP_PING: {
		json_t *o = reply_new(true, tag);
		json_object_set_new(o, "version",
		    json_integer(CONTROL_PROTO_VERSION));
		json_object_set_new(o, "uid", json_integer(cl->uid));
		json_object_set_new(o, "clients",
		    json_integer((json_int_t)c->nclients));
		client_send(cl, o);
		break;
	}
	case CONTROL_OP_STATUS:
		do_status(cl, tag);
		break;
	case CONTROL_OP_EVENTS:
		do_events(cl, req, tag);
		break;
	default: {
		struct control_pending *p = xcalloc(1, sizeof(*p));
		char msg[120];
		const char *why;

		p->act.op = (enum control_op)op;
		p->act.uid = cl->uid;
		p->act.pid = cl->pid;
		why = parse_action(req, p->act.op, &p->act, msg, sizeof(msg));
		if (why != NULL) {
			client_error(cl, tag, "%s: %s", control_op_name(
			    p->act.op), why);
			free(p);
			break;
		}
		if (c->ops.do_action == NULL) {
			client_error(cl, tag, "%s: not supported",
			    control_op_name(p->act.op));
			free(p);
			break;
		}
		p->ctl = c;
		p->client = cl;
		p->tag = tag ? json_incref(tag) : NULL;
		cl->pending = p;
		c->npending++;
		/* done may run before this returns */
		c->ops.do_action(c->ops.arg, &p->act, control_done, p);
		break;
	}
	}
out:
	json_decref(req);
}

/* The session invariants (see the diagram at the top). */
static void
client_check_state(const struct control_client *cl)
{
	GW_REQUIRE(cl->pending == NULL || cl->pending->client == cl);
	GW_REQUIRE(!(cl->streaming && cl->pending != NULL));
	GW_REQUIRE(cl->in.len <= cl->in.cap);
}

/* Handle the complete lines in the input buffer, one request at a time. */
static void
client_process(struct control_client *cl)
{
	struct control *c = cl->ctl;

	if (cl->in_process)
		return;
	client_check_state(cl);
	cl->in_process = true;
	while (!cl->closing && !cl->ending && cl->pending == NULL) {
		char *data = (char *)cl->in.data;
		char *nl;
		size_t n;

		if (cl->streaming) {
			buf_reset(&cl->in); /* a stream reads only for EOF */
			break;
		}
		nl = data ? memchr(data, '\n', cl->in.len) : NULL;
		if (nl == NULL) {
			if (cl->in.len > c->max_line) {
				client_error(cl, NULL, "request line longer "
				    "than %zu bytes", c->max_line);
				client_end(cl);
			}
			break;
		}
		n = (size_t)(nl - data);
		if (n > c->max_line) {
			client_error(cl, NULL, "request line longer than %zu "
			    "bytes", c->max_line);
			client_end(cl);
			break;
		}
		if (n > 0 && data[n - 1] == '\r')
			n--;
		if (n > 0)
			client_dispatch(cl, data, n);
		if (!cl->closing)
			buf_consume(&cl->in, (size_t)(nl - data) + 1);
	}
	cl->in_process = false;
	client_update_reading(cl);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct control_client *cl = h->data;

	(void)suggested;
	buf_reserve(&cl->in, CONTROL_READ_CHUNK);
	*b = uv_buf_init((char *)cl->in.data + cl->in.len,
	    (unsigned)(cl->in.cap - cl->in.len));
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct control_client *cl = s->data;

	(void)b;
	if (cl->closing)
		return;
	if (nread < 0) {
		client_close(cl, nread == UV_EOF ? "eof" : "read error");
		return;
	}
	cl->in.len += (size_t)nread;
	cl->in.data[cl->in.len] = '\0';
	client_process(cl);
	client_touch(cl);
}

/* Backpressure: while an action is outstanding, read only until a further
 * line (or more than a line's worth) is buffered. */
static void
client_update_reading(struct control_client *cl)
{
	const struct control *c = cl->ctl;
	bool want;

	if (cl->closing || cl->ending)
		return;
	want = !(cl->pending != NULL && (cl->in.len > c->max_line ||
	    (cl->in.len > 0 && memchr(cl->in.data, '\n', cl->in.len))));
	if (want && !cl->reading) {
		if (uv_read_start((uv_stream_t *)&cl->pipe, alloc_cb,
		    read_cb) != 0) {
			client_close(cl, "read start failed");
			return;
		}
		cl->reading = true;
	} else if (!want && cl->reading) {
		uv_read_stop((uv_stream_t *)&cl->pipe);
		cl->reading = false;
	}
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct control *c = server->data;
	struct control_client *cl;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (status < 0 || c->closing) {
		if (status < 0)
			GW_LOGW("control", "event=accept_error error=%s",
			    uv_strerror(status));
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->ctl = c;
	cl->serial = ++c->next_serial;
	buf_init(&cl->in);
	GW_REQUIRE(uv_pipe_init(c->loop, &cl->pipe, 0) == 0);
	cl->pipe.data = cl;
	GW_REQUIRE(uv_timer_init(c->loop, &cl->idle) == 0);
	cl->idle.data = cl;
	cl->nopen = 2;
	c->nopen += 2;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) != 0) {
		client_close(cl, "accept failed");
		return;
	}
	cl->uid = (uid_t)-1;
	cl->pid = 0;
	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		cl->uid = cred.uid;
		cl->pid = cred.pid;
	}
	client_touch(cl);
	if (c->nclients > c->max_clients) {
		GW_LOGW("control", "client=%llu uid=%u pid=%ld event=refused "
		    "reason=too-many-clients max=%zu",
		    (unsigned long long)cl->serial, (unsigned)cl->uid,
		    (long)cl->pid, c->max_clients);
		client_error(cl, NULL, "too many clients (at most %zu)",
		    c->max_clients);
		client_end(cl);
		return;
	}
	GW_LOGD("control", "client=%llu uid=%u pid=%ld event=connect",
	    (unsigned long long)cl->serial, (unsigned)cl->uid, (long)cl->pid);
	client_process(cl);
}

/* --- socket file ------------------------------------------------------- */

static int
resolve_group(const char *group, gid_t *gid)
{
	char *end;
	struct group gr, *res = NULL;
	char buf[4096];
	long v;

	v = strtol(group, &end, 10);
	if (*group && *end == '\0' && v >= 0) {
		*gid = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 ||
	    res == NULL)
		return GW_ENOENT;
	*gid = gr.gr_gid;
	return 0;
}

/* Is a server answering on path? 0 no (absent or stale), 1 yes, <0 error. */
static int
probe_socket(const char *path)
{
	struct sockaddr_un sa;
	struct stat sb;
	int fd, rc;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return GW_EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS)
		rc = 1;
	else if (errno == ECONNREFUSED || errno == ENOENT)
		rc = 0;
	else
		rc = -errno;
	close(fd);
	return rc;
}

/* Create the listening socket at path with plain system calls, so that a
 * failure leaves nothing behind (no libuv handle to close). Returns the fd
 * or a negative error; dev and ino identify the file we made. */
static int
make_listener(const char *path, unsigned mode, bool has_gid, gid_t gid,
    dev_t *dev, ino_t *ino)
{
	struct sockaddr_un sa;
	char tmp[sizeof(sa.sun_path)];
	struct stat sb;
	int fd, rc = 0;

	if (strlen(path) + 24 >= sizeof(sa.sun_path))
		return GW_ETOOBIG;
	rc = probe_socket(path);
	if (rc == 1)
		return GW_EBUSY;
	if (rc < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	if (unlink(tmp) != 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, tmp, strlen(tmp) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (chmod(tmp, mode) != 0)
		rc = -errno;
	if (rc == 0 && has_gid && chown(tmp, (uid_t)-1, gid) != 0)
		rc = -errno;
	if (rc == 0 && listen(fd, 16) != 0)
		rc = -errno;
	/* rename replaces a stale socket atomically */
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0 && lstat(path, &sb) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		close(fd);
		return rc;
	}
	*dev = sb.st_dev;
	*ino = sb.st_ino;
	return fd;
}

int
control_new(uv_loop_t *loop, const struct control_opts *opts,
    const struct control_ops *ops, struct control **out)
{
	struct control *c;
	gid_t gid = 0;
	bool has_gid = false;
	unsigned mode = opts->mode ? opts->mode : 0660;
	dev_t dev;
	ino_t ino;
	int fd, rc;

	*out = NULL;
	if (opts->path == NULL || opts->path[0] == '\0')
		return GW_EINVAL;
	if (opts->group && opts->group[0]) {
		rc = resolve_group(opts->group, &gid);
		if (rc != 0)
			return rc;
		has_gid = true;
	}
	fd = make_listener(opts->path, mode, has_gid, gid, &dev, &ino);
	if (fd < 0)
		return fd;

	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->ops = *ops;
	c->clock = opts->clock ? opts->clock : clk_system();
	c->path = xstrdup(opts->path);
	c->dev = dev;
	c->ino = ino;
	c->max_clients = opts->max_clients ? opts->max_clients : 16;
	c->max_line = opts->max_line ? opts->max_line : 4096;
	c->max_output = opts->max_output ? opts->max_output : 1u << 20;
	c->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms :
	    600000;
	c->log_events_level = opts->log_events_level;
	pthread_mutex_init(&c->lock, NULL);
	GW_REQUIRE(uv_async_init(loop, &c->async, async_cb) == 0);
	c->async.data = c;
	c->nopen++;
	GW_REQUIRE(uv_pipe_init(loop, &c->listener, 0) == 0);
	c->listener.data = c;
	c->nopen++;
	rc = uv_pipe_open(&c->listener, fd);
	if (rc != 0)
		close(fd); /* not adopted by the handle */
	else
		rc = uv_listen((uv_stream_t *)&c->listener, 16, connection_cb);
	if (rc != 0) {
		/* Not expected with a fresh listening socket. The struct is
		 * released by the loop once its handles have closed. */
		GW_LOGE("control", "event=listen_error path=%s error=%s",
		    c->path, uv_strerror(rc));
		control_close(c, NULL, NULL);
		return rc;
	}
	if (c->log_events_level >= 0) {
		gw_log_set_sink(control_log_sink, c);
		c->sink_installed = true;
	}
	GW_LOGI("control", "event=listen path=%s mode=%04o group=%s",
	    c->path, mode, has_gid ? opts->group : "-");
	*out = c;
	return 0;
}

void
control_close(struct control *c, void (*closed_cb)(void *arg), void *arg)
{
	struct stat sb;

	if (c->closing)
		return;
	c->closing = true;
	c->closed_cb = closed_cb;
	c->closed_arg = arg;
	if (c->sink_installed) {
		gw_log_set_sink(NULL, NULL);
		c->sink_installed = false;
	}
	/* Remove the socket file only if it is still the one we made. */
	if (lstat(c->path, &sb) == 0 && sb.st_dev == c->dev &&
	    sb.st_ino == c->ino)
		unlink(c->path);
	uv_close((uv_handle_t *)&c->listener, handle_closed);
	uv_close((uv_handle_t *)&c->async, handle_closed);
	for (struct control_client *cl = c->clients; cl; cl = cl->next)
		client_close(cl, "server stopping");
}
