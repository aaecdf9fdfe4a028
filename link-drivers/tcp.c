/*
 * tcp.c - the TCP driver backend (see tcp.h).
 *
 * Ownership: struct tcp_drv is the driver instance (allocated by drv.c).
 * Each connection attempt is a heap struct tcp_conn holding the resolver
 * request, the uv_tcp_t, the connect and write requests and the read
 * buffer. release() detaches the current conn and starts closing it; the
 * conn frees itself once its last callback has run (libuv calls back
 * cancelled requests too), so a late callback never touches a reused or
 * freed driver. close() waits for every detached conn before drv__closed.
 * Loop thread only.
 *
 * Conn states:
 *   RESOLVING --addr--> CONNECTING --ok--> CONNECTED
 *        \__________________\_____failure____> (device failed)
 *   any --release--> DETACHED --last callback--> freed
 */
#include "link-drivers/tcp.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_BUF 16384

struct tcp_drv;

struct tcp_conn {
	struct tcp_drv *owner;
	bool detached;
	bool gai_busy, connect_busy, write_busy, tcp_inited, tcp_closed;
	bool connected;
	uv_getaddrinfo_t gai;
	uv_tcp_t tcp;
	uv_connect_t creq;
	uv_write_t wreq;
	uint8_t *wbuf;
	uint8_t rbuf[READ_BUF];
};

struct tcp_drv {
	struct drv base;          /* first: the core allocates us */
	struct tcp_conn *conn;    /* current attempt, or NULL */
	int pending;              /* detached conns not yet freed */
	bool closing;
	char host[256];
	char port[16];
};

int
tcp_split_hostport(const char *s, char *host, size_t hostlen, char *port,
    size_t portlen)
{
	const char *colon, *hs = s, *he;
	size_t hl, pl;

	if (s[0] == '[') {
		he = strchr(s, ']');
		if (he == NULL || he[1] != ':')
			return GW_EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return GW_EINVAL;
		he = colon;
	}
	hl = (size_t)(he - hs);
	pl = strlen(colon + 1);
	if (hl == 0 || hl >= hostlen || pl == 0 || pl >= portlen ||
	    strspn(colon + 1, "0123456789") != pl)
		return GW_EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl + 1);
	return 0;
}

/* ---- conn lifetime ------------------------------------------------------ */

static void
conn_maybe_free(struct tcp_conn *k)
{
	struct tcp_drv *t = k->owner;

	if (!k->detached || k->gai_busy || k->connect_busy || k->write_busy ||
	    (k->tcp_inited && !k->tcp_closed))
		return;
	free(k->wbuf);
	free(k);
	GW_REQUIRE(t->pending > 0);
	if (--t->pending == 0 && t->closing)
		drv__closed(&t->base);
}

static void
tcp_closed_cb(uv_handle_t *h)
{
	struct tcp_conn *k = h->data;

	k->tcp_closed = true;
	conn_maybe_free(k);
}

static void
conn_detach(struct tcp_drv *t)
{
	struct tcp_conn *k = t->conn;

	if (k == NULL)
		return;
	t->conn = NULL;
	k->detached = true;
	t->pending++;
	if (k->gai_busy)
		uv_cancel((uv_req_t *)&k->gai);
	if (k->tcp_inited && !uv_is_closing((uv_handle_t *)&k->tcp))
		uv_close((uv_handle_t *)&k->tcp, tcp_closed_cb);
	conn_maybe_free(k);
}

/* ---- I/O ---------------------------------------------------------------- */

static void tcp_kick(struct drv *d);

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct tcp_conn *k = h->data;

	(void)suggested;
	*b = uv_buf_init((char *)k->rbuf, sizeof(k->rbuf));
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct tcp_conn *k = s->data;
	struct tcp_drv *t = k->owner;

	(void)b;
	if (k->detached || t->closing)
		return;
	if (nread > 0) {
		drv__input(&t->base, k->rbuf, (size_t)nread);
	} else if (nread == UV_EOF) {
		drv__device_failed(&t->base, GW_ECLOSED, true,
		    "peer closed the connection");
	} else if (nread < 0) {
		drv__device_failed(&t->base, (int)nread, true,
		    "connection lost");
	}
}

static void
write_cb(uv_write_t *req, int status)
{
	struct tcp_conn *k = req->data;
	struct tcp_drv *t = k->owner;

	k->write_busy = false;
	free(k->wbuf);
	k->wbuf = NULL;
	if (k->detached) {
		conn_maybe_free(k);
		return;
	}
	if (status < 0) {
		drv__device_failed(&t->base, status, true, "write failed");
		return;
	}
	tcp_kick(&t->base);
}

static void
tcp_kick(struct drv *d)
{
	struct tcp_drv *t = (struct tcp_drv *)d;
	struct tcp_conn *k = t->conn;
	const uint8_t *p;
	uv_buf_t b;
	size_t n;
	int rc;

	if (k == NULL || !k->connected || k->write_busy || t->closing)
		return;
	n = drv__out_allowance(d, &p);
	if (n == 0)
		return;
	k->wbuf = xmemdup(p, n);
	b = uv_buf_init((char *)k->wbuf, (unsigned)n);
	k->wreq.data = k;
	rc = uv_write(&k->wreq, (uv_stream_t *)&k->tcp, &b, 1, write_cb);
	if (rc < 0) {
		free(k->wbuf);
		k->wbuf = NULL;
		drv__device_failed(d, rc, true, "write failed");
		return;
	}
	k->write_busy = true;
	/* Handed to the kernel in order; the pacer counts it from now. */
	drv__out_consume(d, n);
}

static void
connect_cb(uv_connect_t *req, int status)
{
	struct tcp_conn *k = req->data;
	struct tcp_drv *t = k->owner;
	int rc;

	k->connect_busy = false;
	if (k->detached) {
		conn_maybe_free(k);
		return;
	}
	if (status < 0) {
		drv__device_failed(&t->base, status, false,
		    "connect failed");
		return;
	}
	rc = uv_read_start((uv_stream_t *)&k->tcp, alloc_cb, read_cb);
	if (rc < 0) {
		drv__device_failed(&t->base, rc, false, "read start failed");
		return;
	}
	k->connected = true;
	uv_tcp_nodelay(&k->tcp, 1);
	drv__device_up(&t->base);
}

static int
conn_connect(struct tcp_drv *t, struct tcp_conn *k,
    const struct sockaddr *sa)
{
	int rc;

	rc = uv_tcp_init(t->base.env->loop, &k->tcp);
	if (rc < 0)
		return rc;
	k->tcp.data = k;
	k->tcp_inited = true;
	k->creq.data = k;
	rc = uv_tcp_connect(&k->creq, &k->tcp, sa, connect_cb);
	if (rc < 0)
		return rc;
	k->connect_busy = true;
	return 0;
}

static void
gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct tcp_conn *k = req->data;
	struct tcp_drv *t = k->owner;
	int rc;

	k->gai_busy = false;
	if (k->detached) {
		uv_freeaddrinfo(res);
		conn_maybe_free(k);
		return;
	}
	if (status < 0 || res == NULL) {
		uv_freeaddrinfo(res);
		drv__device_failed(&t->base, status < 0 ? status : GW_ENOENT,
		    false, "cannot resolve host");
		return;
	}
	rc = conn_connect(t, k, res->ai_addr);
	uv_freeaddrinfo(res);
	if (rc < 0)
		drv__device_failed(&t->base, rc, false, "connect failed");
}

static int
tcp_open(struct drv *d)
{
	struct tcp_drv *t = (struct tcp_drv *)d;
	struct tcp_conn *k;
	struct sockaddr_storage ss;
	struct addrinfo hints;
	int rc;

	rc = tcp_split_hostport(d->cfg->device, t->host, sizeof(t->host),
	    t->port, sizeof(t->port));
	if (rc < 0)
		return GW_ECONFIG;
	k = xcalloc(1, sizeof(*k));
	k->owner = t;
	t->conn = k;
	if (uv_ip4_addr(t->host, atoi(t->port),
		(struct sockaddr_in *)&ss) == 0 ||
	    uv_ip6_addr(t->host, atoi(t->port),
		(struct sockaddr_in6 *)&ss) == 0)
		return conn_connect(t, k, (const struct sockaddr *)&ss);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	k->gai.data = k;
	rc = uv_getaddrinfo(d->env->loop, &k->gai, gai_cb, t->host, t->port,
	    &hints);
	if (rc < 0)
		return rc;
	k->gai_busy = true;
	return 0;
}

static void
tcp_release(struct drv *d)
{
	conn_detach((struct tcp_drv *)d);
}

static void
tcp_close(struct drv *d)
{
	struct tcp_drv *t = (struct tcp_drv *)d;

	t->closing = true;
	conn_detach(t);
	if (t->pending == 0)
		drv__closed(d);
}

static int
tcp_check(const struct drv_config *cfg)
{
	char h[256], p[16];

	if (cfg->device == NULL || tcp_split_hostport(cfg->device, h,
	    sizeof(h), p, sizeof(p)) < 0)
		return GW_ECONFIG;
	return 0;
}

static const struct drv_class tcp_cls = {
	.name = "tcp",
	.instance_size = sizeof(struct tcp_drv),
	.force_framing = -1,
	.check = tcp_check,
	.open = tcp_open,
	.kick = tcp_kick,
	.release = tcp_release,
	.close = tcp_close,
	.set_ptt = NULL,
};

const struct drv_class *
tcp_drv_class(void)
{
	return &tcp_cls;
}
