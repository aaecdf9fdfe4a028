/*
 * fakesmtp.c - the scripted test server (see fakesmtp.h).
 */
#include "tests/deliver/fakesmtp.h"

#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum fmode { F_CMD, F_DATA, F_BDAT };

struct fake_conn {
	uv_tcp_t tcp;
	struct fake_smtp *f;
	struct buf in;
	enum fmode mode;
	size_t bdat_left;
	bool bdat_last;
	int accepted;           /* RCPTs accepted in this transaction */
	bool closing;
	struct fake_conn *next;
};

struct fwrite {
	uv_write_t w;
	char *p;
};

static void
on_written(uv_write_t *w, int status)
{
	struct fwrite *fw = (struct fwrite *)w;
	(void)status;
	free(fw->p);
	free(fw);
}

static void
on_conn_closed(uv_handle_t *h)
{
	struct fake_conn *c = h->data;
	struct fake_smtp *f = c->f;

	for (struct fake_conn **pp = &f->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	f->cur_conc--;
	buf_fini(&c->in);
	free(c);
}

static void
conn_close(struct fake_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* Send a reply (lines separated by CRLF, no final CRLF). */
static void
say(struct fake_conn *c, const char *text)
{
	struct fwrite *fw;
	size_t n = strlen(text);
	const char *p = text;

	if (c->closing || n == 0)
		return;
	while (*p) {
		const char *e = strstr(p, "\r\n");
		size_t l = e ? (size_t)(e - p) : strlen(p);
		buf_appendf(&c->f->transcript, "S: %.*s\n", (int)l, p);
		p += l;
		if (e)
			p += 2;
	}
	fw = xmalloc(sizeof(*fw));
	fw->p = xmalloc(n + 3);
	memcpy(fw->p, text, n);
	memcpy(fw->p + n, "\r\n", 3);
	uv_buf_t b = uv_buf_init(fw->p, (unsigned)n + 2);
	if (uv_write(&fw->w, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
		free(fw->p);
		free(fw);
	}
}

static const char *
hook(struct fake_conn *c, const char *cmd, int nth)
{
	return c->f->reply ? c->f->reply(c->f, cmd, nth) : NULL;
}

static void
finish_message(struct fake_conn *c, const char *what)
{
	struct fake_smtp *f = c->f;
	int n = f->lmtp ? c->accepted : 1;

	f->messages++;
	buf_append(&f->all, f->data.data, f->data.len);
	buf_append_str(&f->all, "\n.\n");
	for (int i = 0; i < n; i++) {
		const char *r = hook(c, what, i);
		say(c, r ? r : "250 2.0.0 queued as FAKE");
	}
	c->accepted = 0;
}

/* Does the RCPT command carry the CONNEG parameter? */
static bool
conneg_query(const char *l)
{
	const char *gt = strchr(l, '>');

	for (const char *p = gt ? gt + 1 : l; (p = strcasestr(p, "CONNEG"));
	    p += 6)
		if (p[-1] == ' ' && (p[6] == '\0' || p[6] == ' '))
			return true;
	return false;
}

/* The RFC 4141 reply to RCPT ... CONNEG (see fakesmtp.h), or NULL. */
static const char *
conneg_answer(struct fake_smtp *f, const char *l, struct buf *out)
{
	const char *lt = strchr(l, '<'), *gt = strchr(l, '>');
	char addr[256];
	const char *caps;
	size_t split = f->conneg_split ? f->conneg_split : 24;

	if (f->conneg_reply)
		return f->conneg_reply;
	if (f->conneg_caps == NULL || lt == NULL || gt == NULL || gt < lt)
		return NULL;
	snprintf(addr, sizeof(addr), "%.*s", (int)(gt - lt - 1), lt + 1);
	caps = f->conneg_caps(f, addr);
	if (caps == NULL)
		return NULL;
	buf_append_str(out, "250-2.1.5 ok");
	for (size_t n = strlen(caps); n > 0;) {
		size_t k = n > split ? split : n;
		buf_appendf(out, "\r\n250%cCONNEG %.*s", k == n ? ' ' : '-',
		    (int)k, caps);
		caps += k;
		n -= k;
	}
	return buf_cstr(out);
}

static void
on_command(struct fake_conn *c, const char *l)
{
	struct fake_smtp *f = c->f;
	const char *r = hook(c, l, 0);

	buf_appendf(&f->transcript, "C: %s\n", l);
	if (strncasecmp(l, "EHLO", 4) == 0 || strncasecmp(l, "LHLO", 4) == 0) {
		say(c, r ? r : f->ehlo ? f->ehlo : "250 fake.test");
	} else if (strncasecmp(l, "HELO", 4) == 0) {
		say(c, r ? r : "250 fake.test");
	} else if (strncasecmp(l, "MAIL", 4) == 0) {
		c->accepted = 0;
		buf_reset(&f->data);
		say(c, r ? r : "250 2.1.0 ok");
	} else if (strncasecmp(l, "RCPT", 4) == 0) {
		struct buf cn = BUF_INIT;
		const char *rr = r;
		if (rr == NULL && conneg_query(l)) {
			f->conneg_queries++;
			rr = conneg_answer(f, l, &cn);
		}
		if (rr == NULL)
			rr = "250 2.1.5 ok";
		if (rr[0] == '2')
			c->accepted++;
		say(c, rr);
		buf_fini(&cn);
	} else if (strncasecmp(l, "DATA", 4) == 0) {
		const char *rr = r ? r : c->accepted ? "354 go ahead" :
		    "554 5.5.1 no valid recipients";
		if (rr[0] == '3') {
			c->mode = F_DATA;
			buf_reset(&f->data);
		}
		say(c, rr);
	} else if (strncasecmp(l, "BDAT", 4) == 0) {
		c->bdat_left = strtoul(l + 5, NULL, 10);
		c->bdat_last = strstr(l, "LAST") != NULL;
		c->mode = F_BDAT;
	} else if (strncasecmp(l, "QUIT", 4) == 0) {
		say(c, r ? r : "221 2.0.0 bye");
		conn_close(c);
	} else if (strncasecmp(l, "RSET", 4) == 0) {
		c->accepted = 0;
		say(c, r ? r : "250 2.0.0 ok");
	} else {
		say(c, r ? r : "500 5.5.1 unknown");
	}
}

static void
process(struct fake_conn *c)
{
	struct fake_smtp *f = c->f;
	bool first = true;

	while (!c->closing) {
		if (c->mode == F_BDAT) {
			size_t k = c->in.len < c->bdat_left ? c->in.len :
			    c->bdat_left;
			if (k == 0 && c->bdat_left > 0)
				break;
			buf_append(&f->data, c->in.data, k);
			buf_consume(&c->in, k);
			c->bdat_left -= k;
			if (c->bdat_left > 0)
				break;
			c->mode = F_CMD;
			buf_appendf(&f->transcript, "C: <%zu octets>\n",
			    f->data.len);
			if (c->bdat_last)
				finish_message(c, "BDAT");
			else
				say(c, "250 2.0.0 chunk ok");
			continue;
		}
		uint8_t *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) :
		    NULL;
		if (nl == NULL)
			break;
		size_t ll = (size_t)(nl - c->in.data), take = ll + 1;
		if (ll > 0 && c->in.data[ll - 1] == '\r')
			ll--;
		char *line = xstrndup((const char *)c->in.data, ll);
		buf_consume(&c->in, take);
		if (c->mode == F_DATA) {
			if (strcmp(line, ".") == 0) {
				c->mode = F_CMD;
				buf_appendf(&f->transcript, "C: .\n");
				finish_message(c, ".");
			} else {
				const char *p = line[0] == '.' ? line + 1 :
				    line;
				buf_append_str(&f->data, p);
				buf_append_str(&f->data, "\r\n");
			}
		} else {
			buf_appendf(&f->batches, "%s%s", first ? "" : "|",
			    line);
			first = false;
			on_command(c, line);
		}
		free(line);
	}
	if (!first)
		buf_append_byte(&f->batches, '\n');
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	(void)h;
	b->base = xmalloc(hint);
	b->len = hint;
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct fake_conn *c = s->data;

	if (n > 0 && !c->closing) {
		buf_append(&c->in, b->base, (size_t)n);
		process(c);
	} else if (n < 0) {
		conn_close(c);
	}
	free(b->base);
}

static void
free_conn_cb(uv_handle_t *h)
{
	struct fake_conn *c = h->data;
	buf_fini(&c->in);
	free(c);
}

static void
on_connection(uv_stream_t *srv, int status)
{
	struct fake_smtp *f = srv->data;
	struct fake_conn *c;

	if (status != 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->f = f;
	buf_init(&c->in);
	uv_tcp_init(f->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, free_conn_cb);
		return;
	}
	c->next = f->clients;
	f->clients = c;
	f->conns++;
	if (++f->cur_conc > f->max_conc)
		f->max_conc = f->cur_conc;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	const char *g = f->greeting ? f->greeting : "220 fake.test ESMTP";
	say(c, g);
}

int
fake_smtp_start(struct fake_smtp *f, uv_loop_t *loop)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int rc;

	f->loop = loop;
	buf_init(&f->transcript);
	buf_init(&f->batches);
	buf_init(&f->data);
	buf_init(&f->all);
	uv_tcp_init(loop, &f->srv);
	f->srv.data = f;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	if ((rc = uv_tcp_bind(&f->srv, (const struct sockaddr *)&sa, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&f->srv, 16, on_connection)) != 0)
		return rc;
	uv_tcp_getsockname(&f->srv, (struct sockaddr *)&ss, &len);
	f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

void
fake_smtp_stop(struct fake_smtp *f)
{
	if (f->stopped)
		return;
	f->stopped = true;
	uv_close((uv_handle_t *)&f->srv, NULL);
	for (struct fake_conn *c = f->clients; c; c = c->next)
		conn_close(c);
	buf_fini(&f->transcript);
	buf_fini(&f->batches);
	buf_fini(&f->data);
	buf_fini(&f->all);
}
