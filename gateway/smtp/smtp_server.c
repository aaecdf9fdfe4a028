/*
 * smtp_server.c - libuv glue for the SMTP server (see smtp_server.h).
 *
 * Owner: the daemon (or a test) owns the struct smtp_server; the server owns
 * its listener and every struct conn. Thread: the loop.
 *
 * A conn embeds two handles (tcp, timer) and a session. Lifecycle:
 *
 *   accepted --(session closing, output written)--> CLOSING --both handles'
 *   close_cb--> freed
 *
 * conn_close() is the one close path; it logs the reason once. Frees happen
 * only in close callbacks (STYLE 17). Reads stop while the session says it
 * does not want input (waiting for the queue with a full input buffer) or
 * while more than CONN_WRITE_HIGH octets are unsent, and resume when that
 * clears. The timer runs the session's command or data timeout; the command
 * timer restarts only when a reply was produced, so a client trickling one
 * octet at a time cannot hold a session open (slowloris); the data timer
 * restarts on every read, as RFC 5321 4.5.3.2 times each data block.
 */
#include "gateway/smtp/smtp_server.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONN_WRITE_HIGH (256u * 1024u)
#define READ_BUF_BYTES (64u * 1024u)

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct smtp_server *srv;
	struct smtp_session *s;
	struct conn *prev, *next;
	struct sockaddr_storage peer;
	int open_handles;
	bool closing;
	bool reading;
	bool counted;             /* counts toward the session limits */
	size_t writes;            /* write requests in flight */
};

struct wreq {
	uv_write_t req;
	uint8_t *data;
};

struct smtp_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	bool listener_open;
	struct queue *q;
	struct smtp_session_cfg cfg;   /* current, owned */
	struct smtp_server_opts opts;  /* copy; strings owned below */
	char *hostname;
	char **domains;
	struct smtp_session_io io;
	struct conn *conns;
	size_t nsessions;
	uint64_t id_prefix;
	uint64_t next_id;
	struct smtp_server_stats stats;
	bool closing;
	void (*done)(void *);
	void *done_arg;
	char rbuf[READ_BUF_BYTES];
	bool rbuf_busy;
	int port;
};

void
smtp_server_opts_init(struct smtp_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->hostname = "localhost";
	o->listen_host = "127.0.0.1";
	o->listen_port = 2525;
	o->max_message_size = 10 * 1024 * 1024;
	o->max_recipients = 100;
	o->max_sessions = 1000;
	o->max_sessions_per_client = 50;
	o->max_errors = 20;
	o->command_timeout_ms = 5 * 60 * 1000;
	o->data_timeout_ms = 3 * 60 * 1000;
	o->deliverby_min_s = 60;
	o->altrecip = true;
	o->conneg = true;
	o->conperm = true;
	o->max_input = 64 * 1024;
}

static int
opts_check(const struct smtp_server_opts *o)
{
	const char *bad = NULL;

	if (o->hostname == NULL || o->hostname[0] == '\0')
		bad = "hostname";
	else if (o->policy == NULL)
		bad = "policy";
	else if (o->max_recipients < 100)
		bad = "max_recipients (>= 100)";
	else if (o->max_sessions < 1 || o->max_sessions_per_client < 1)
		bad = "max_sessions";
	else if (o->max_errors < 1)
		bad = "max_errors";
	else if (o->command_timeout_ms < 1 || o->data_timeout_ms < 1)
		bad = "timeouts";
	else if (o->max_message_size < 0 || o->deliverby_min_s < 0)
		bad = "max_message_size/deliverby_min";
	if (bad != NULL) {
		GW_LOGE("smtp", "event=bad_options field=%s", bad);
		return GW_EINVAL;
	}
	return 0;
}

static void
free_strings(struct smtp_server *srv)
{
	free(srv->hostname);
	srv->hostname = NULL;
	if (srv->domains != NULL) {
		for (char **d = srv->domains; *d != NULL; d++)
			free(*d);
		free(srv->domains);
		srv->domains = NULL;
	}
}

/* Copy opts into the server and derive the session settings. */
static void
apply_opts(struct smtp_server *srv, const struct smtp_server_opts *o)
{
	size_t n = 0;

	free_strings(srv);
	srv->opts = *o;
	srv->hostname = xstrdup(o->hostname);
	if (o->accept_domains != NULL) {
		while (o->accept_domains[n] != NULL)
			n++;
		srv->domains = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			srv->domains[i] = xstrdup(o->accept_domains[i]);
	}
	srv->opts.hostname = srv->hostname;
	srv->opts.accept_domains = (const char *const *)srv->domains;

	struct smtp_session_cfg *c = &srv->cfg;
	memset(c, 0, sizeof(*c));
	c->hostname = srv->hostname;
	c->max_message_size = o->max_message_size;
	c->max_recipients = o->max_recipients;
	c->max_line_extra = o->max_line_extra;
	c->max_errors = o->max_errors;
	c->command_timeout_ms = o->command_timeout_ms;
	c->data_timeout_ms = o->data_timeout_ms;
	c->deliverby_min_s = o->deliverby_min_s;
	c->policy = o->policy;
	c->altrecip = o->altrecip;
	c->conneg = o->conneg;
	c->conperm = o->conperm;
	c->prio_draft = o->prio_draft;
	c->prio_draft_map = o->prio_draft_map;
	c->clock = o->clock ? o->clock : clk_system();
	c->accept_rcpt = o->accept_rcpt;
	c->accept_arg = o->accept_arg;
	c->accept_domains = (const char *const *)srv->domains;
	c->conneg_lookup = o->conneg_lookup;
	c->conneg_arg = o->conneg_arg;
	c->max_input = o->max_input ? o->max_input : 64 * 1024;
}

/* ---- connections --------------------------------------------------------- */

static void conn_close(struct conn *c, const char *reason);
static void conn_flush(struct conn *c);

static void
maybe_done(struct smtp_server *srv)
{
	if (!srv->closing || srv->conns != NULL || srv->listener_open)
		return;
	void (*done)(void *) = srv->done;
	void *arg = srv->done_arg;
	free_strings(srv);
	free(srv);
	if (done != NULL)
		done(arg);
}

static void
conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct smtp_server *srv = c->srv;

	if (--c->open_handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted)
		srv->nsessions--;
	if (c->s != NULL) {
		srv->stats.messages += smtp_session_messages(c->s);
		smtp_session_free(c->s);
	}
	free(c);
	maybe_done(srv);
}

static void
conn_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->s != NULL)
		GW_LOGI("smtp", "session=%s event=close reason=\"%s\" "
		    "messages=%llu errors=%d", smtp_session_id(c->s), gw_logq(reason),
		    (unsigned long long)smtp_session_messages(c->s),
		    smtp_session_errors(c->s));
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void
timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->closing)
		return;
	smtp_session_timeout(c->s);
	conn_flush(c);
}

/* Arm the session's timeout: restart it when asked (a reply went out, or
 * message data arrived), else only start it if it is not running. */
static void
conn_arm(struct conn *c, bool restart)
{
	int64_t ms = smtp_session_timeout_ms(c->s);

	if (ms <= 0) {
		uv_timer_stop(&c->timer);
		return;
	}
	if (!restart && uv_is_active((uv_handle_t *)&c->timer))
		return;
	uv_timer_start(&c->timer, timer_cb, (uint64_t)ms, 0);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;
	struct smtp_server *srv = c->srv;

	/* One read buffer per server: the session copies what it keeps. */
	if (srv->rbuf_busy) {
		b->base = NULL;
		b->len = 0;
		return;
	}
	srv->rbuf_busy = true;
	b->base = srv->rbuf;
	b->len = sizeof(srv->rbuf);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);

static void
conn_update_reading(struct conn *c)
{
	bool want = !c->closing && smtp_session_want_input(c->s) &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) <=
	    CONN_WRITE_HIGH;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb,
		    read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

static void
write_cb(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct conn *c = req->handle->data;

	free(w->data);
	free(w);
	c->writes--;
	if (c->closing)
		return;
	if (status != 0) {
		conn_close(c, "write error");
		return;
	}
	if (c->writes == 0 && smtp_session_closing(c->s)) {
		conn_close(c, smtp_session_close_reason(c->s));
		return;
	}
	conn_update_reading(c);
}

/* Hand the session's output to the socket; close when it is finished. */
static void
conn_flush(struct conn *c)
{
	struct buf *out = smtp_session_out(c->s);

	bool replied = out->len > 0;

	if (c->closing)
		return;
	if (replied) {
		struct wreq *w = xmalloc(sizeof(*w));
		size_t len;
		uv_buf_t b;

		w->data = buf_detach(out, &len);
		b = uv_buf_init((char *)w->data, (unsigned)len);
		if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1,
		    write_cb) != 0) {
			free(w->data);
			free(w);
			conn_close(c, "write failed");
			return;
		}
		c->writes++;
	}
	if (smtp_session_closing(c->s)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
		uv_timer_stop(&c->timer);
		if (c->writes == 0)
			conn_close(c, smtp_session_close_reason(c->s));
		return;
	}
	conn_arm(c, replied);
	conn_update_reading(c);
}

static void
read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = st->data;
	struct smtp_server *srv = c->srv;

	if (b->base == srv->rbuf)
		srv->rbuf_busy = false;
	if (c->closing)
		return;
	if (nread == UV_ENOBUFS)
		return; /* retried on the next loop iteration */
	if (nread < 0) {
		smtp_session_eof(c->s);
		conn_close(c, nread == UV_EOF ? "client closed" :
		    uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	smtp_session_feed(c->s, b->base, (size_t)nread);
	enum smtp_state stt = smtp_session_state(c->s);
	if (stt == SMTP_S_DATA || stt == SMTP_S_BDAT)
		conn_arm(c, true);
	conn_flush(c);
}

static void
session_wake(void *arg)
{
	conn_flush(arg);
}

static size_t
count_client(const struct smtp_server *srv, const struct sockaddr *sa)
{
	size_t n = 0;

	for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
		const struct sockaddr *p = (const struct sockaddr *)&c->peer;

		if (c->closing || !c->counted || p->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET &&
		    memcmp(&((const struct sockaddr_in *)(const void *)p)->sin_addr,
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    4) == 0)
			n++;
		else if (sa->sa_family == AF_INET6 &&
		    memcmp(&((const struct sockaddr_in6 *)(const void *)p)->
		    sin6_addr, &((const struct sockaddr_in6 *)(const void *)
		    sa)->sin6_addr, 16) == 0)
			n++;
	}
	return n;
}

static void
accept_cb(uv_stream_t *ls, int status)
{
	struct smtp_server *srv = ls->data;
	struct conn *c;
	char id[24];
	int len = sizeof(struct sockaddr_storage);

	if (status != 0 || srv->closing) {
		GW_LOGW("smtp", "event=accept_error error=%s",
		    uv_strerror(status));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	uv_tcp_init(srv->loop, &c->tcp);
	uv_timer_init(srv->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, "accept failed");
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &len);
	snprintf(id, sizeof(id), "%08llx%08llx",
	    (unsigned long long)(srv->id_prefix & 0xffffffffu),
	    (unsigned long long)(++srv->next_id & 0xffffffffu));
	c->s = smtp_session_new(&srv->cfg, &srv->io, c,
	    (const struct sockaddr *)&c->peer, id);
	srv->stats.connections++;

	size_t per = count_client(srv, (const struct sockaddr *)&c->peer);
	if (srv->nsessions >= srv->opts.max_sessions) {
		srv->stats.refused++;
		smtp_session_refuse(c->s, "4.7.0", "too many connections, "
		    "try again later", "session limit");
	} else if (per >= srv->opts.max_sessions_per_client) {
		srv->stats.refused++;
		smtp_session_refuse(c->s, "4.7.0", "too many connections "
		    "from your address, try again later",
		    "per-client session limit");
	} else {
		c->counted = true;
		srv->nsessions++;
		char ip[INET6_ADDRSTRLEN] = "?";
		const struct sockaddr *pa = (const struct sockaddr *)&c->peer;
		if (pa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)pa)->sin_addr, ip, sizeof(ip));
		else if (pa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)pa)->sin6_addr, ip, sizeof(ip));
		GW_LOGI("smtp", "session=%s event=connect peer=%s sessions=%zu",
		    id, ip, srv->nsessions);
		smtp_session_greet(c->s);
	}
	conn_flush(c);
}

static void listener_closed(uv_handle_t *h);

static int
submit_queue(void *arg, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *cb_arg)
{
	struct conn *c = arg;
	struct smtp_server *srv = c->srv;

	if (srv->opts.submit != NULL)
		return srv->opts.submit(srv->opts.submit_arg, env, content, cb,
		    cb_arg);
	return queue_submit(srv->q, env, content, cb, cb_arg);
}

/* ---- public -------------------------------------------------------------- */

int
smtp_server_start(uv_loop_t *loop, const struct smtp_server_opts *opts,
    struct queue *q, struct smtp_server **out)
{
	struct sockaddr_storage sa;
	int rc;

	if (opts_check(opts) != 0 || (q == NULL && opts->submit == NULL))
		return GW_EINVAL;
	if (uv_ip4_addr(opts->listen_host, opts->listen_port,
	    (struct sockaddr_in *)&sa) != 0 &&
	    uv_ip6_addr(opts->listen_host, opts->listen_port,
	    (struct sockaddr_in6 *)&sa) != 0) {
		GW_LOGE("smtp", "event=bad_options field=listen_host value=%s",
		    opts->listen_host);
		return GW_EINVAL;
	}
	struct smtp_server *srv = xcalloc(1, sizeof(*srv));
	srv->loop = loop;
	srv->q = q;
	srv->io.submit = submit_queue;
	srv->io.wake = session_wake;
	apply_opts(srv, opts);
	if (sodium_init() >= 0)
		srv->id_prefix = randombytes_random();
	uv_tcp_init(loop, &srv->listener);
	srv->listener.data = srv;
	srv->listener_open = true;
	rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, 511, accept_cb);
	if (rc != 0) {
		GW_LOGE("smtp", "event=listen_failed host=%s port=%d error=%s",
		    opts->listen_host, opts->listen_port, uv_strerror(rc));
		/* freed by listener_closed once libuv lets go of it */
		srv->closing = true;
		uv_close((uv_handle_t *)&srv->listener, listener_closed);
		return rc;
	}
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen);
	srv->port = ntohs(bound.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&bound)->sin_port :
	    ((struct sockaddr_in6 *)&bound)->sin6_port);
	GW_LOGI("smtp", "event=listening host=%s port=%d", opts->listen_host,
	    srv->port);
	*out = srv;
	return 0;
}

int
smtp_server_port(const struct smtp_server *srv)
{
	return srv->port;
}

static void
listener_closed(uv_handle_t *h)
{
	struct smtp_server *srv = h->data;

	srv->listener_open = false;
	maybe_done(srv);
}

void
smtp_server_close(struct smtp_server *srv, void (*done)(void *), void *arg)
{
	GW_REQUIRE(!srv->closing);
	srv->closing = true;
	srv->done = done;
	srv->done_arg = arg;
	GW_LOGI("smtp", "event=stopping sessions=%zu", srv->nsessions);
	for (struct conn *c = srv->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->closing)
			continue;
		smtp_session_shutdown(c->s);
		conn_flush(c);
	}
	uv_close((uv_handle_t *)&srv->listener, listener_closed);
}

int
smtp_server_reconfigure(struct smtp_server *srv,
    const struct smtp_server_opts *opts)
{
	struct smtp_server_opts o = *opts;

	if (opts_check(opts) != 0)
		return GW_EINVAL;
	/* the listener stays; keep the bound address in the copy */
	o.listen_host = srv->opts.listen_host;
	o.listen_port = srv->opts.listen_port;
	apply_opts(srv, &o);
	for (struct conn *c = srv->conns; c != NULL; c = c->next)
		if (c->s != NULL)
			smtp_session_set_cfg(c->s, &srv->cfg);
	GW_LOGI("smtp", "event=reconfigured max_sessions=%zu "
	    "max_message_size=%lld", srv->opts.max_sessions,
	    (long long)srv->opts.max_message_size);
	return 0;
}

void
smtp_server_stats(const struct smtp_server *srv, struct smtp_server_stats *out)
{
	*out = srv->stats;
	out->sessions = srv->nsessions;
	for (const struct conn *c = srv->conns; c != NULL; c = c->next)
		if (c->s != NULL)
			out->messages += smtp_session_messages(c->s);
}
