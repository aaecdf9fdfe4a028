/*
 * metrics_http.c - the loopback metrics listener (see metrics_http.h).
 *
 * Connection life (struct mconn):
 *
 *   READING --request head complete--> WRITING --written--> CLOSING
 *   READING --over 4 KiB, EOF, error or 10 s--> CLOSING
 *
 * Every connection has a tcp handle and a timer; the struct is freed when
 * both have closed. The listener is freed when it and every connection
 * have closed.
 */
#include "gateway/control/metrics_http.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ_MAX 4096
#define CONN_MAX 16
#define CONN_TIMEOUT_MS 10000

struct mconn {
	struct mconn *next;
	struct metrics_http *h;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	char in[REQ_MAX];
	size_t inlen;
	struct buf out;
	int open;           /* handles not yet closed */
	bool closing, writing;
};

struct metrics_http {
	uv_loop_t *loop;
	uv_tcp_t listener;
	metrics_http_fn fn;
	void *arg;
	struct mconn *conns;
	size_t nconns;
	int open;
	bool closing;
	void (*done)(void *);
	void *done_arg;
};

int
metrics_http_parse(const char *listen, char *host, size_t hostlen, int *port)
{
	const char *colon, *h = listen;
	size_t n;
	char *end;
	long p;

	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');
		if (rb == NULL || rb[1] != ':')
			return GW_EINVAL;
		h = listen + 1;
		n = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL)
			return GW_EINVAL;
		n = (size_t)(colon - listen);
	}
	if (n == 0 || n >= hostlen)
		return GW_EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return GW_EINVAL;
	*port = (int)p;
	if (strcmp(host, "::1") != 0 && strncmp(host, "127.", 4) != 0)
		return GW_EINVAL; /* loopback only */
	return 0;
}

static void
maybe_free(struct metrics_http *h)
{
	if (!h->closing || h->open > 0 || h->conns != NULL)
		return;
	void (*done)(void *) = h->done;
	void *arg = h->done_arg;
	free(h);
	if (done)
		done(arg);
}

static void
conn_closed(uv_handle_t *hd)
{
	struct mconn *c = hd->data;
	struct metrics_http *h = c->h;

	if (--c->open > 0)
		return;
	for (struct mconn **pp = &h->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	h->nconns--;
	buf_fini(&c->out);
	free(c);
	maybe_free(h);
}

static void
conn_close(struct mconn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void
on_written(uv_write_t *w, int status)
{
	struct mconn *c = w->data;

	(void)status;
	c->writing = false;
	conn_close(c);
}

static void
respond(struct mconn *c, int code, const char *reason, const char *type,
    const struct buf *body)
{
	size_t blen = body ? body->len : strlen(reason) + 1;
	uv_buf_t b;

	buf_appendf(&c->out, "HTTP/1.0 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", code, reason,
	    type, blen);
	if (body)
		buf_append(&c->out, body->data, body->len);
	else
		buf_appendf(&c->out, "%s\n", reason);
	uv_read_stop((uv_stream_t *)&c->tcp);
	b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
	c->wr.data = c;
	c->writing = true;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		c->writing = false;
		conn_close(c);
	}
}

static void
handle_request(struct mconn *c)
{
	char method[8], path[256];
	size_t sp1, sp2;

	sp1 = strcspn(c->in, " ");
	if (sp1 == 0 || sp1 >= sizeof(method) || c->in[sp1] != ' ') {
		respond(c, 400, "Bad Request", "text/plain", NULL);
		return;
	}
	memcpy(method, c->in, sp1);
	method[sp1] = '\0';
	sp2 = strcspn(c->in + sp1 + 1, " \r\n");
	if (sp2 == 0 || sp2 >= sizeof(path)) {
		respond(c, 400, "Bad Request", "text/plain", NULL);
		return;
	}
	memcpy(path, c->in + sp1 + 1, sp2);
	path[sp2] = '\0';
	path[strcspn(path, "?")] = '\0';
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond(c, 405, "Method Not Allowed", "text/plain", NULL);
		return;
	}
	if (strcmp(path, "/metrics") != 0) {
		respond(c, 404, "Not Found", "text/plain", NULL);
		return;
	}
	struct buf body = BUF_INIT;
	c->h->fn(c->h->arg, &body);
	if (strcmp(method, "HEAD") == 0)
		body.len = 0;
	respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    &body);
	buf_fini(&body);
}

static void
alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *b)
{
	struct mconn *c = hd->data;

	(void)suggested;
	b->base = c->in + c->inlen;
	b->len = sizeof(c->in) - 1 - c->inlen;
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct mconn *c = s->data;

	(void)b;
	if (c->closing || c->writing)
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n")) {
		handle_request(c);
		return;
	}
	if (c->inlen >= sizeof(c->in) - 1)
		respond(c, 431, "Request Header Fields Too Large", "text/plain",
		    NULL);
}

static void
on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct metrics_http *h = server->data;
	struct mconn *c;

	if (status != 0 || h->closing)
		return;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	uv_tcp_init(h->loop, &c->tcp);
	uv_timer_init(h->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open = 2;
	c->next = h->conns;
	h->conns = c;
	h->nconns++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    h->nconns > CONN_MAX) {
		conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, on_timeout, CONN_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void
listener_closed(uv_handle_t *hd)
{
	struct metrics_http *h = hd->data;

	h->open--;
	maybe_free(h);
}

int
metrics_http_start(uv_loop_t *loop, const char *listen, metrics_http_fn fn,
    void *arg, struct metrics_http **out)
{
	struct sockaddr_storage ss;
	struct metrics_http *h;
	char host[64];
	int port, rc;

	rc = metrics_http_parse(listen, host, sizeof(host), &port);
	if (rc != 0)
		return rc;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
		return GW_EINVAL;
	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->fn = fn;
	h->arg = arg;
	uv_tcp_init(loop, &h->listener);
	h->listener.data = h;
	h->open = 1;
	rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&h->listener, 16, on_connection);
	if (rc != 0) {
		h->closing = true;
		uv_close((uv_handle_t *)&h->listener, listener_closed);
		return rc;
	}
	GW_LOGI("metrics", "event=listening listen=%s", listen);
	*out = h;
	return 0;
}

void
metrics_http_close(struct metrics_http *h, void (*done)(void *), void *arg)
{
	h->closing = true;
	h->done = done;
	h->done_arg = arg;
	for (struct mconn *c = h->conns; c; c = c->next)
		conn_close(c);
	uv_close((uv_handle_t *)&h->listener, listener_closed);
}
