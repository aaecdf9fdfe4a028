/*
 * b2f.c - libuv glue of the B2F endpoint (see b2f.h).
 *
 * Ownership: struct b2f (the daemon's) owns the listener, every
 * connection and every waiting job. A connection (struct b2f_conn) owns
 * its TCP handle, two timers (silence, linger) and its session; it is
 * freed once its three handles closed and no queue request refers to it
 * (refs). A job (struct b2f_job) is one deliver request: one message for
 * one station; it is owned by the b2f list from b2f_send() until its done
 * callback ran.
 *
 * Connection life:
 *   CONNECTING (outbound) -> RUNNING (session) -> CLOSING -> freed
 * RUNNING feeds the session with what arrives and writes what it leaves;
 * the session's callbacks do the queue work: duplicate checks for the
 * proposals (queue_is_committed), submission of each message received
 * (session told only once committed), our offers from the jobs waiting
 * for the station. Our offers go in skywave's order (band, then deadline,
 * then arrival; b2f_send keeps the job list so): every job handed over in
 * one loop turn (the dispatcher's batch, up to a block) joins the same
 * block. A station that dials in gets, at its first turn, the jobs that
 * waited for it handed back (requeued, not tried), so the dispatcher
 * chooses afresh what is best now, and its mail deferred by an earlier
 * session is made due again. When the session ends, or the peer goes, or the
 * silence timer fires, the connection closes; a message cut off
 * mid-transfer is written to data_dir/b2f/MID.part (thread pool) so the
 * next proposal of it resumes.
 */
#include "gateway/b2f/b2f.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/b2f/b2f_msg.h"
#include "gateway/b2f/b2f_session.h"
#include "gateway/b2f/lzhuf.h"
#include "gateway/deliver/deliver.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SUB "b2f"
#define PARTIALS_MAX 64

#define BC struct b2f_cfg
const struct cfg_field b2f_cfg_fields[] = {
	CFG_STR_F(BC, callsign, "callsign", "", 0,
	    "our Winlink callsign (empty: B2F off)"),
	CFG_STR_F(BC, listen, "listen", "", 0,
	    "telnet-P2P listener host:port (empty: none)"),
	CFG_STR_F(BC, password, "password", "", 0,
	    "secure login password stations must prove (;PQ/;PR)"),
	CFG_STR_F(BC, domain, "domain", "winlink.invalid", 1,
	    "mail domain of callsigns: CALL <-> call@domain"),
	CFG_STR_F(BC, deliver_to, "deliver_to", "", 0,
	    "mailbox for mail addressed to our own callsign"),
	CFG_STR_F(BC, locator, "locator", "", 0,
	    "Maidenhead locator shown in the handshake"),
	CFG_SIZE_F(BC, max_message_size, "max_message_size", "1M", 1024,
	    67108864, "largest message accepted from a station"),
	CFG_DUR_F(BC, timeout_ms, "timeout", "2m", 1000, 3600000,
	    "silence that ends a B2F session"),
	CFG_DUR_F(BC, pickup_wait_ms, "pickup_wait", "10m", 1000, 86400000,
	    "how long mail for a station without an address waits for it"),
	CFG_DUR_F(BC, linger_ms, "linger", "1s", 0, 60000,
	    "at our turn, wait this long for more queued mail"),
	CFG_INT_F(BC, max_sessions, "max_sessions", "8", 1, 256,
	    "B2F sessions at once, inbound and outbound"),
	CFG_END,
};
#undef BC

void
b2f_cfg_default(struct b2f_cfg *c)
{
	char err[200];

	memset(c, 0, sizeof(*c));
	GW_REQUIRE(cfgtab_defaults(b2f_cfg_fields, c, err, sizeof(err)) == 0);
}

struct b2f_job {
	struct b2f *b;
	struct b2f_job *next;
	char call[16];
	char spec[256];
	struct route_hop hop;
	bool has_hop;
	struct b2f_offer offer;
	struct buf payload;
	size_t *rcpts;
	size_t nrcpts;
	void (*done)(void *, const struct deliver_outcome *, size_t);
	void *arg;
	int64_t expires_ms;
	struct b2f_conn *offered_on;   /* offered in this session, or NULL */
	int band;                      /* the order of offers */
	int64_t deadline, arrival;
	bool unreachable;              /* the outcome says the station could
					  not be reached */
	bool requeue;                  /* handed back untried */
};

struct partial {
	char mid[13];
	struct buf data;
	uint32_t csize;
};

struct b2f_conn {
	struct b2f *b;
	struct b2f_conn *next;
	uv_tcp_t tcp;
	uv_timer_t idle, linger;
	uv_connect_t creq;
	uv_getaddrinfo_t gai;
	struct sockaddr_storage addrs[8]; /* outbound: the target's addresses */
	size_t naddrs, ai;           /* ... and the one being tried */
	int handles;                 /* open handles */
	int refs;                    /* queue requests in flight */
	bool closing, connected, outbound;
	char spec[256];              /* outbound: the target */
	char call[16];               /* the station */
	char peer[64];
	struct b2f_session *s;
	struct b2f_job *offered[B2F_BLOCK_MAX];
	size_t noffered;
	bool turn_waiting, lingered, sent_last_turn, returned;
	/* proposals waiting for their duplicate checks */
	struct b2f_proposal props[16];
	char answers[16];
	uint32_t offs[16];
	const uint8_t *pre[16];
	size_t nprops, checks;
	size_t writes;               /* uv_write in flight */
	char resumed[13];            /* MID answered with an offset, or "" */
	int end_err;                 /* how the session ended */
	bool ended;
};

struct b2f {
	struct b2f_env env;
	struct b2f_cfg cfg;
	struct b2f_addrmap map;
	uv_tcp_t listener;
	bool listening;
	uv_timer_t tick;             /* job expiry */
	struct b2f_conn *conns;
	struct b2f_job *jobs;
	struct partial partials[PARTIALS_MAX];
	size_t npartials;
	char dir[600];
	bool closing;
	int handles;
	void (*close_cb)(void *);
	void *close_arg;
};

static void conn_flush(struct b2f_conn *c);
static void conn_close(struct b2f_conn *c, const char *why);
static void b2f_maybe_closed(struct b2f *b);
static void defer_target(struct b2f *b, const char *spec, const char *status,
    const char *what, const char *detail, bool unreachable);
static void conn_dial(struct b2f_conn *c);

static int64_t
now_ms(void)
{
	return (int64_t)(uv_hrtime() / 1000000u);
}

/* ---- partial transfers -------------------------------------------------- */

static struct partial *
partial_find(struct b2f *b, const char *mid)
{
	for (size_t i = 0; i < b->npartials; i++)
		if (strcmp(b->partials[i].mid, mid) == 0)
			return &b->partials[i];
	return NULL;
}

struct pwrite {
	uv_work_t w;
	char path[700];
	uint8_t *data;               /* NULL: remove the file */
	size_t len;
	uint32_t csize;
	int rc;
};

static void
pwrite_work(uv_work_t *w)
{
	struct pwrite *p = w->data;
	char tmp[720];
	int fd;

	p->rc = 0;
	if (p->data == NULL) {
		if (unlink(p->path) != 0 && errno != ENOENT)
			p->rc = -errno;
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", p->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	if (fd < 0) {
		p->rc = -errno;
		return;
	}
	uint8_t hdr[4] = { (uint8_t)p->csize, (uint8_t)(p->csize >> 8),
		(uint8_t)(p->csize >> 16), (uint8_t)(p->csize >> 24) };
	if (write(fd, hdr, 4) != 4 ||
	    write(fd, p->data, p->len) != (ssize_t)p->len || fsync(fd) != 0)
		p->rc = -errno;
	close(fd);
	if (p->rc == 0 && rename(tmp, p->path) != 0)
		p->rc = -errno;
	if (p->rc != 0)
		unlink(tmp);
}

static void
pwrite_done(uv_work_t *w, int status)
{
	struct pwrite *p = w->data;

	(void)status;
	if (p->rc != 0)
		GW_LOGW(SUB, "event=partial_write_failed path=%s err=%s",
		    p->path, gw_errname(p->rc));
	free(p->data);
	free(p);
}

static void
partial_store(struct b2f *b, const char *mid, const uint8_t *d, size_t n,
    uint32_t csize)
{
	struct partial *p = partial_find(b, mid);

	if (p == NULL) {
		if (b->npartials >= PARTIALS_MAX) {
			buf_fini(&b->partials[0].data);
			memmove(&b->partials[0], &b->partials[1],
			    (PARTIALS_MAX - 1) * sizeof(b->partials[0]));
			b->npartials--;
		}
		p = &b->partials[b->npartials++];
		memset(p, 0, sizeof(*p));
		snprintf(p->mid, sizeof(p->mid), "%s", mid);
		buf_init(&p->data);
	}
	buf_reset(&p->data);
	buf_append(&p->data, d, n);
	p->csize = csize;
	if (b->dir[0] == '\0')
		return;
	struct pwrite *w = xcalloc(1, sizeof(*w));
	snprintf(w->path, sizeof(w->path), "%s/%s.part", b->dir, mid);
	w->data = xmalloc(n ? n : 1);
	memcpy(w->data, d, n);
	w->len = n;
	w->csize = csize;
	w->w.data = w;
	uv_queue_work(b->env.loop, &w->w, pwrite_work, pwrite_done);
}

static void
partial_drop(struct b2f *b, const char *mid)
{
	struct partial *p = partial_find(b, mid);

	if (p == NULL)
		return;
	buf_fini(&p->data);
	size_t i = (size_t)(p - b->partials);
	memmove(&b->partials[i], &b->partials[i + 1],
	    (b->npartials - i - 1) * sizeof(b->partials[0]));
	b->npartials--;
	if (b->dir[0] == '\0')
		return;
	struct pwrite *w = xcalloc(1, sizeof(*w));
	snprintf(w->path, sizeof(w->path), "%s/%s.part", b->dir, mid);
	w->w.data = w;
	uv_queue_work(b->env.loop, &w->w, pwrite_work, pwrite_done);
}

/* Start-up only (before the loop serves anyone): read what a stop left. */
static void
partials_load(struct b2f *b)
{
	DIR *d = opendir(b->dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && b->npartials < PARTIALS_MAX) {
		size_t l = strlen(e->d_name);
		char path[900];
		if (l < 6 || l > 17 || strcmp(e->d_name + l - 5, ".part"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (f == NULL)
			continue;
		uint8_t hdr[4], chunk[4096];
		struct partial *p = &b->partials[b->npartials];
		memset(p, 0, sizeof(*p));
		buf_init(&p->data);
		if (fread(hdr, 1, 4, f) == 4) {
			size_t k;
			p->csize = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 |
			    (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
			while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
				buf_append(&p->data, chunk, k);
			snprintf(p->mid, sizeof(p->mid), "%.*s",
			    (int)(l - 5), e->d_name);
			if (p->data.len > 0 && p->data.len < p->csize) {
				b->npartials++;
				fclose(f);
				continue;
			}
		}
		buf_fini(&p->data);
		fclose(f);
	}
	closedir(d);
}

/* ---- jobs --------------------------------------------------------------- */

static void
job_finish(struct b2f_job *j, enum deliver_action a, const char *status,
    const char *text)
{
	struct b2f *b = j->b;
	struct deliver_outcome *o = xcalloc(j->nrcpts ? j->nrcpts : 1,
	    sizeof(*o));

	for (struct b2f_job **pp = &b->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	for (size_t i = 0; i < j->nrcpts; i++) {
		o[i].rcpt = j->rcpts[i];
		deliver_outcome_set(&o[i], a, status, "%s", text);
		o[i].unreachable = j->unreachable;
		o[i].requeue = j->requeue;
		snprintf(o[i].remote_mta, sizeof(o[i].remote_mta), "%s",
		    j->call);
	}
	GW_LOGI(SUB, "mid=%s call=%s event=outcome action=%s text=\"%s\"",
	    j->offer.mid, j->call, deliver_action_name(a), text);
	j->done(j->arg, o, j->nrcpts);
	free(o);
	buf_fini(&j->payload);
	free(j->rcpts);
	free(j);
}

static void
on_tick(uv_timer_t *t)
{
	struct b2f *b = t->data;
	int64_t now = now_ms();

	for (struct b2f_job *j = b->jobs, *n; j; j = n) {
		n = j->next;
		if (j->offered_on == NULL && j->expires_ms <= now) {
			char why[120];
			snprintf(why, sizeof(why), "Winlink station %s did "
			    "not connect in time", j->call);
			job_finish(j, DELIVER_DEFERRED, "4.4.1", why);
		}
	}
}

/* ---- connections: I/O ---------------------------------------------------- */

static void
on_conn_handle_closed(uv_handle_t *h)
{
	struct b2f_conn *c = h->data;
	struct b2f *b = c->b;

	if (--c->handles > 0 || c->refs > 0)
		return;
	for (struct b2f_conn **pp = &b->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	b2f_session_free(c->s);
	free(c);
	b2f_maybe_closed(b);
}

static void
conn_unref(struct b2f_conn *c)
{
	if (--c->refs == 0 && c->handles == 0) {
		c->handles = 1;
		on_conn_handle_closed((uv_handle_t *)&c->idle);
	}
}

static int connect_out(struct b2f *b, const struct b2f_job *j);

/* An outbound session is over, and jobs for its target still wait (handed
 * over after its last turn): after a clean end, call again; after a lost
 * session, defer them (the backoff stops a station that hangs up at once
 * from being called in a loop). */
static void
conn_leftovers(struct b2f_conn *c, const char *why)
{
	const struct b2f_job *first = NULL;

	for (const struct b2f_job *j = c->b->jobs; j && !first; j = j->next)
		if (j->offered_on == NULL && strcmp(j->spec, c->spec) == 0)
			first = j;
	if (first == NULL)
		return;
	if (c->ended && c->end_err == 0 && connect_out(c->b, first) == 0)
		return;
	defer_target(c->b, c->spec, "4.4.2", "lost the session with", why,
	    false);
}

static void
conn_close(struct b2f_conn *c, const char *why)
{
	char mid[13];
	const uint8_t *d;
	size_t n;
	uint32_t csize;

	if (c->closing)
		return;
	c->closing = true;
	if (!b2f_session_ended(c->s))
		b2f_session_abort(c->s, why);
	/* only a connection lost mid-transfer leaves a part worth keeping;
	 * after a protocol error the bytes are not to be trusted */
	if ((!c->ended || c->end_err == GW_ECLOSED) &&
	    b2f_session_partial(c->s, mid, &d, &n, &csize)) {
		GW_LOGI(SUB, "call=%s mid=%s event=partial_kept bytes=%zu "
		    "of=%u", c->call, mid, n, csize);
		partial_store(c->b, mid, d, n, csize);
	}
	GW_LOGI(SUB, "call=%s peer=%s event=close reason=\"%s\"",
	    c->call[0] ? c->call : "?", c->peer, why);
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->linger, on_conn_handle_closed);
	if (c->outbound && c->connected && !c->b->closing)
		conn_leftovers(c, why);
}

struct wreq {
	uv_write_t w;
	struct b2f_conn *c;
	uint8_t *data;
};

static void
on_written(uv_write_t *w, int status)
{
	struct wreq *r = w->data;
	struct b2f_conn *c = r->c;

	free(r->data);
	free(r);
	c->writes--;
	if (status < 0) {
		conn_close(c, "write failed");
	} else if (b2f_session_ended(c->s) && c->writes == 0) {
		conn_close(c, "session over");
	}
	conn_unref(c);
}

static void
conn_flush(struct b2f_conn *c)
{
	struct buf *o = b2f_session_output(c->s);

	if (c->closing)
		return;
	if (o->len > 0 && c->connected) {
		struct wreq *r = xcalloc(1, sizeof(*r));
		size_t n;
		r->c = c;
		r->data = buf_detach(o, &n);
		r->w.data = r;
		uv_buf_t ub = uv_buf_init((char *)r->data, (unsigned)n);
		if (uv_write(&r->w, (uv_stream_t *)&c->tcp, &ub, 1,
		    on_written) != 0) {
			free(r->data);
			free(r);
			conn_close(c, "write failed");
			return;
		}
		c->writes++;
		c->refs++;
	}
	if (b2f_session_ended(c->s) && c->writes == 0)
		conn_close(c, "session over");
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *ub)
{
	(void)h;
	(void)hint;
	ub->base = xmalloc(16384);
	ub->len = 16384;
}

static void
on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *ub)
{
	struct b2f_conn *c = st->data;

	if (n > 0 && !c->closing) {
		uv_timer_again(&c->idle);
		b2f_session_input(c->s, (const uint8_t *)ub->base, (size_t)n);
		conn_flush(c);
	} else if (n < 0 && !c->closing) {
		conn_close(c, n == UV_EOF ? "peer closed" : uv_strerror((int)n));
	}
	free(ub->base);
}

static void
on_idle(uv_timer_t *t)
{
	conn_close(t->data, "silence timeout");
}

/* ---- the session's callbacks --------------------------------------------- */

static void
in_id(const char *mid, uint8_t id[QUEUE_ID_LEN])
{
	GChecksum *h = g_checksum_new(G_CHECKSUM_SHA256);
	uint8_t d[32];
	gsize dl = sizeof(d);

	g_checksum_update(h, (const guchar *)"skywave-b2f-in:", 15);
	g_checksum_update(h, (const guchar *)mid, strlen(mid));
	g_checksum_get_digest(h, d, &dl);
	g_checksum_free(h);
	memcpy(id, d, QUEUE_ID_LEN);
}

struct check {
	struct b2f_conn *c;
	size_t i;
};

static void
answer_if_ready(struct b2f_conn *c)
{
	if (c->checks > 0 || c->closing)
		return;
	/* the partials may have moved while the checks ran */
	for (size_t i = 0; i < c->nprops; i++) {
		if (c->answers[i] != B2F_RESUME)
			continue;
		struct partial *pt = partial_find(c->b, c->props[i].mid);
		if (pt == NULL || pt->csize != c->props[i].csize ||
		    pt->data.len >= pt->csize) {
			c->answers[i] = B2F_ACCEPT;
			continue;
		}
		c->offs[i] = (uint32_t)pt->data.len;
		c->pre[i] = pt->data.data;
		snprintf(c->resumed, sizeof(c->resumed), "%s",
		    c->props[i].mid);
	}
	b2f_session_answer(c->s, c->answers, c->offs, c->pre, c->nprops);
	conn_flush(c);
}

static void
on_checked(int status, void *arg)
{
	struct check *k = arg;
	struct b2f_conn *c = k->c;

	if (status == GW_EDUP) {
		c->answers[k->i] = B2F_REJECT;
		GW_LOGI(SUB, "call=%s mid=%s event=refused reason=duplicate",
		    c->call, c->props[k->i].mid);
	} else if (status != 0) {
		c->answers[k->i] = B2F_DEFER;
	}
	free(k);
	c->checks--;
	answer_if_ready(c);
	conn_unref(c);
}

static void
s_proposals(void *arg, const struct b2f_proposal *p, size_t n)
{
	struct b2f_conn *c = arg;
	struct b2f *b = c->b;

	if (c->call[0] == '\0')
		snprintf(c->call, sizeof(c->call), "%s",
		    b2f_session_remote(c->s));
	if (n > 16)
		n = 16;
	c->nprops = n;
	c->checks = 1;               /* guard while we start the checks */
	for (size_t i = 0; i < n; i++) {
		c->props[i] = p[i];
		c->answers[i] = B2F_ACCEPT;
		c->offs[i] = 0;
		c->pre[i] = NULL;
		for (size_t k = 0; k < i; k++)
			if (strcmp(p[k].mid, p[i].mid) == 0)
				c->answers[i] = B2F_DEFER;
		if ((int64_t)p[i].size > b->cfg.max_message_size) {
			c->answers[i] = B2F_DEFER;
			GW_LOGW(SUB, "call=%s mid=%s event=deferred "
			    "reason=too_big size=%u", c->call, p[i].mid,
			    p[i].size);
		}
		struct partial *pt = partial_find(b, p[i].mid);
		if (pt && c->answers[i] == B2F_ACCEPT &&
		    pt->csize == p[i].csize && pt->data.len < p[i].csize) {
			c->answers[i] = B2F_RESUME;
			c->offs[i] = (uint32_t)pt->data.len;
			c->pre[i] = pt->data.data;
		}
		if (c->answers[i] == B2F_DEFER || b->env.queue == NULL)
			continue;
		uint8_t id[QUEUE_ID_LEN];
		in_id(p[i].mid, id);
		struct check *k = xcalloc(1, sizeof(*k));
		k->c = c;
		k->i = i;
		if (queue_is_committed(b->env.queue, id, on_checked, k) != 0) {
			free(k);
			c->answers[i] = B2F_DEFER;
			continue;
		}
		c->checks++;
		c->refs++;
	}
	c->checks--;
	answer_if_ready(c);
}

struct commit {
	struct b2f_conn *c;
	size_t idx;
	char mid[13];
};

static void
on_committed(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct commit *k = arg;
	struct b2f_conn *c = k->c;

	(void)id;
	if (status == GW_EDUP)
		status = 0;
	if (status == 0) {
		GW_LOGI(SUB, "call=%s mid=%s event=received", c->call, k->mid);
		partial_drop(c->b, k->mid);
	} else {
		GW_LOGW(SUB, "call=%s mid=%s event=not_stored err=%s",
		    c->call, k->mid, gw_errname(status));
	}
	if (!c->closing) {
		b2f_session_committed(c->s, k->idx, status);
		conn_flush(c);
	}
	free(k);
	conn_unref(c);
}

static void
s_message(void *arg, size_t idx, const char *mid, const uint8_t *msg,
    size_t len)
{
	struct b2f_conn *c = arg;
	struct b2f *b = c->b;
	struct b2f_inbound in;
	char err[300];
	int rc;

	rc = b2f_msg_to_mail(msg, len, &b->map, (int64_t)time(NULL), &in,
	    err, sizeof(err));
	if (rc != 0) {
		GW_LOGW(SUB, "call=%s mid=%s event=unusable reason=\"%s\"",
		    c->call, mid, err);
		b2f_inbound_fini(&in);
		b2f_session_committed(c->s, idx, rc);
		return;
	}
	struct queue_envelope *env = xcalloc(1, sizeof(*env));
	in_id(mid, env->id);
	env->reverse_path = xstrdup(in.from);
	env->priority = 0;
	env->band = b->env.policy ? policy_band(b->env.policy, 0) : 0;
	env->arrival = (int64_t)time(NULL);
	env->body = QUEUE_BODY_8BITMIME;
	char client[128];
	snprintf(client, sizeof(client), "%s (B2F) [%s]", c->call, c->peer);
	env->client = xstrdup(client);
	env->rcpts = xcalloc(in.nrcpts, sizeof(*env->rcpts));
	for (size_t i = 0; i < in.nrcpts; i++) {
		/* a station that proved the password may send anywhere */
		if (b->cfg.password[0] == '\0' && b->env.accept_rcpt &&
		    !b->env.accept_rcpt(b->env.accept_arg, in.rcpts[i])) {
			GW_LOGW(SUB, "call=%s mid=%s rcpt=<%s> "
			    "event=rcpt_refused reason=\"no route of its own "
			    "(relaying denied)\"", c->call, mid, in.rcpts[i]);
			continue;
		}
		env->rcpts[env->nrcpts++].addr = xstrdup(in.rcpts[i]);
	}
	if (env->nrcpts == 0) {
		queue_envelope_free(env);
		b2f_inbound_fini(&in);
		b2f_session_committed(c->s, idx, GW_EAUTH);
		return;
	}
	struct commit *k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->idx = idx;
	snprintf(k->mid, sizeof(k->mid), "%s", mid);
	rc = b->env.submit(b->env.submit_arg, env, &in.content, on_committed,
	    k);
	b2f_inbound_fini(&in);
	if (rc != 0) {
		queue_envelope_free(env);
		free(k);
		GW_LOGW(SUB, "call=%s mid=%s event=not_stored err=%s",
		    c->call, mid, gw_errname(rc));
		b2f_session_committed(c->s, idx, rc);
		return;
	}
	c->refs++;
}

static bool
job_for(const struct b2f_conn *c, const struct b2f_job *j)
{
	return j->offered_on == NULL && strcasecmp(j->call, c->call) == 0;
}

/* A station dialled in: its mail deferred by an earlier session (the
 * station said "later", or the session ended before it took it) is due
 * again now, not at the end of its backoff. */
static void
on_due_again(int status, void *arg)
{
	struct b2f_conn *c = arg;

	if (status != 0)
		GW_LOGW(SUB, "call=%s event=redue_failed err=%s", c->call,
		    gw_errname(status));
	else if (c->b->env.kick && !c->closing)
		c->b->env.kick(c->b->env.kick_arg);
	conn_unref(c);
}

static void
on_deferred_listed(int status, const struct queue_work *w, size_t n,
    void *arg)
{
	struct b2f_conn *c = arg;
	struct queue_change *ch = xcalloc(n ? n : 1, sizeof(*ch));
	size_t k = 0;

	for (size_t i = 0; status == 0 && !c->closing && i < n; i++) {
		struct route_target t;
		char why[200];
		if (w[i].route == NULL || w[i].state != QUEUE_R_DEFERRED ||
		    route_target_parse(w[i].route, &t, why, sizeof(why)) != 0 ||
		    t.kind != ROUTE_B2F || t.nhops > 0 ||
		    strcasecmp(t.arg, c->call) != 0)
			continue;
		ch[k].rid = w[i].rid;
		ch[k++].to = QUEUE_R_QUEUED;
	}
	if (k > 0 && queue_update(c->b->env.queue, ch, k, on_due_again,
	    c) == 0) {
		GW_LOGI(SUB, "call=%s event=deferred_due_again rcpts=%zu",
		    c->call, k);
		c->refs++;
	}
	free(ch);
	conn_unref(c);
}

static void
redue_deferred(struct b2f_conn *c)
{
	if (c->b->env.queue == NULL ||
	    queue_list(c->b->env.queue, NULL, -1, 1u << QUEUE_R_DEFERRED,
	    10000, on_deferred_listed, c) != 0)
		return;
	c->refs++;
}

/* Our turn: offer what waits for this station, up to a block, in the
 * job list's order (skywave's: job_before). */
static void
offer_now(struct b2f_conn *c)
{
	struct b2f_offer o[B2F_BLOCK_MAX];
	size_t n = 0;

	c->turn_waiting = false;
	uv_timer_stop(&c->linger);
	for (struct b2f_job *j = c->b->jobs; j && n < B2F_BLOCK_MAX;
	    j = j->next) {
		if (!job_for(c, j))
			continue;
		j->offered_on = c;
		c->offered[n] = j;
		o[n] = j->offer;
		o[n].payload = j->payload.data;
		o[n].csize = j->payload.len;
		n++;
	}
	c->noffered = n;
	c->sent_last_turn = n > 0;
	b2f_session_offer(c->s, o, n);
}

static void
on_linger(uv_timer_t *t)
{
	struct b2f_conn *c = t->data;

	if (c->turn_waiting && !c->closing) {
		offer_now(c);
		conn_flush(c);
	}
}

static void
s_turn(void *arg)
{
	struct b2f_conn *c = arg;
	bool have = false;

	if (c->call[0] == '\0')
		snprintf(c->call, sizeof(c->call), "%s",
		    b2f_session_remote(c->s));
	/* A station that dialled in: what waited for it was chosen when it
	 * was handed over; give it back (untried) so the dispatcher hands
	 * over what is first in the queue now (during the linger below). */
	if (!c->outbound && !c->returned && c->b->cfg.linger_ms > 0) {
		c->returned = true;
		redue_deferred(c);
		for (struct b2f_job *j = c->b->jobs, *n; j; j = n) {
			n = j->next;
			if (!job_for(c, j) || j->has_hop)
				continue;
			j->requeue = true;
			job_finish(j, DELIVER_DEFERRED, "4.4.0", "handed back "
			    "untried: the station connected, the queue "
			    "chooses again");
		}
	}
	for (struct b2f_job *j = c->b->jobs; j && !have; j = j->next)
		have = job_for(c, j);
	/* nothing yet: the dispatcher may be bringing more (first turn, or
	 * we just sent some) */
	if (!have && c->b->cfg.linger_ms > 0 &&
	    (!c->lingered || c->sent_last_turn)) {
		c->lingered = true;
		c->sent_last_turn = false;
		c->turn_waiting = true;
		if (c->b->env.kick)
			c->b->env.kick(c->b->env.kick_arg);
		uv_timer_start(&c->linger, on_linger,
		    (uint64_t)c->b->cfg.linger_ms, 0);
		return;
	}
	offer_now(c);
}

static void
s_outcome(void *arg, size_t idx, enum b2f_result r)
{
	struct b2f_conn *c = arg;
	struct b2f_job *j;
	char text[160];

	if (idx >= c->noffered || (j = c->offered[idx]) == NULL)
		return;
	c->offered[idx] = NULL;
	j->offered_on = NULL;
	switch (r) {
	case B2F_SENT:
		snprintf(text, sizeof(text), "handed to Winlink station %s "
		    "as %s", j->call, j->offer.mid);
		job_finish(j, DELIVER_RELAYED, "2.0.0", text);
		break;
	case B2F_REJECTED:
		snprintf(text, sizeof(text), "Winlink station %s already has "
		    "%s", j->call, j->offer.mid);
		job_finish(j, DELIVER_RELAYED, "2.0.0", text);
		break;
	default:
		/* deferred by the station, or the session ended before the
		 * station took it: the dispatcher tries again later */
		snprintf(text, sizeof(text), "Winlink station %s did not take "
		    "%s in this session", j->call, j->offer.mid);
		job_finish(j, DELIVER_DEFERRED, "4.4.0", text);
		break;
	}
}

static void
s_end(void *arg, int err, const char *why)
{
	struct b2f_conn *c = arg;

	c->ended = true;
	c->end_err = err;
	/* a resumed message that failed its checks starts again from 0 */
	if (err != 0 && err != GW_ECLOSED && c->resumed[0])
		partial_drop(c->b, c->resumed);
	if (err == 0)
		GW_LOGI(SUB, "call=%s event=session_done", c->call);
	else
		GW_LOGW(SUB, "call=%s event=session_failed err=%s "
		    "reason=\"%s\"", c->call, gw_errname(err), why);
}

static const struct b2f_session_cbs session_cbs = { s_proposals, s_message,
	s_turn, s_outcome, s_end };

static struct b2f_conn *
conn_new(struct b2f *b, bool master)
{
	struct b2f_conn *c = xcalloc(1, sizeof(*c));
	struct b2f_session_cfg sc = {
		.master = master,
		.mycall = b->cfg.callsign,
		.password = master ? b->cfg.password : NULL,
		.locator = b->cfg.locator,
		.max_message = (size_t)b->cfg.max_message_size,
	};
	uint8_t r[4];

	GW_REQUIRE(uv_random(NULL, NULL, r, sizeof(r), 0, NULL) == 0);
	sc.challenge = ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 |
	    (uint32_t)r[2] << 8 | r[3]) % 100000000u;
	c->b = b;
	c->outbound = !master;
	c->s = b2f_session_new(&sc, &session_cbs, c);
	uv_tcp_init(b->env.loop, &c->tcp);
	uv_timer_init(b->env.loop, &c->idle);
	uv_timer_init(b->env.loop, &c->linger);
	c->tcp.data = c->idle.data = c->linger.data = c;
	c->handles = 3;
	c->next = b->conns;
	b->conns = c;
	return c;
}

static void
conn_run(struct b2f_conn *c)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);

	c->connected = true;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			uv_ip4_name((struct sockaddr_in *)&ss, c->peer,
			    sizeof(c->peer));
		else
			uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer,
			    sizeof(c->peer));
	}
	uv_timer_start(&c->idle, on_idle, (uint64_t)c->b->cfg.timeout_ms,
	    (uint64_t)c->b->cfg.timeout_ms);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	b2f_session_start(c->s);
	conn_flush(c);
}

static void
on_accept(uv_stream_t *srv, int status)
{
	struct b2f *b = srv->data;

	if (status < 0 || b->closing)
		return;
	struct b2f_conn *c = conn_new(b, true);
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c, "accept failed");
		return;
	}
	size_t live = 0;
	for (struct b2f_conn *k = b->conns; k; k = k->next)
		live += !k->closing;
	if ((int64_t)live > b->cfg.max_sessions) {
		GW_LOGW(SUB, "event=refused reason=\"max_sessions %lld "
		    "reached\"", (long long)b->cfg.max_sessions);
		conn_close(c, "too many sessions");
		return;
	}
	GW_LOGI(SUB, "event=accepted");
	conn_run(c);
}

static void
on_connected(uv_connect_t *req, int status)
{
	struct b2f_conn *c = req->data;

	if (c->closing)
		return;
	if (status < 0) {
		GW_LOGW(SUB, "call=%s target=%s event=connect_failed err=%s",
		    c->call, c->spec, uv_strerror(status));
		if (c->ai + 1 < c->naddrs && !c->b->closing) {
			/* the next address, on a fresh connection */
			struct b2f_conn *n = conn_new(c->b, false);
			memcpy(n->spec, c->spec, sizeof(n->spec));
			memcpy(n->call, c->call, sizeof(n->call));
			memcpy(n->addrs, c->addrs, sizeof(n->addrs));
			n->naddrs = c->naddrs;
			n->ai = c->ai + 1;
			conn_close(c, "connect failed, next address");
			conn_dial(n);
			return;
		}
		/* the jobs for this target are deferred now */
		defer_target(c->b, c->spec, "4.4.1", "cannot connect to",
		    uv_strerror(status), true);
		conn_close(c, "connect failed");
		return;
	}
	GW_LOGI(SUB, "call=%s target=%s event=connected", c->call, c->spec);
	conn_run(c);
}

/* The jobs waiting for outbound target spec cannot go now: deferred,
 * the station unreachable. */
static void
defer_target(struct b2f *b, const char *spec, const char *status,
    const char *what, const char *detail, bool unreachable)
{
	for (struct b2f_job *j = b->jobs, *n; j; j = n) {
		n = j->next;
		if (j->offered_on != NULL || strcmp(j->spec, spec) != 0)
			continue;
		char why[400];
		snprintf(why, sizeof(why), "%s Winlink station %s at %s: %s",
		    what, j->call, j->hop.host, detail);
		j->unreachable = unreachable;
		job_finish(j, DELIVER_DEFERRED, status, why);
	}
}

/* Connect to the address c->ai of the target. */
static void
conn_dial(struct b2f_conn *c)
{
	c->creq.data = c;
	int rc = uv_tcp_connect(&c->creq, &c->tcp,
	    (struct sockaddr *)&c->addrs[c->ai], on_connected);
	if (rc != 0) {
		defer_target(c->b, c->spec, "4.4.1", "cannot connect to",
		    uv_strerror(rc), true);
		conn_close(c, "connect failed");
	}
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct b2f_conn *c = req->data;

	for (struct addrinfo *a = res; status == 0 && a &&
	    c->naddrs < sizeof(c->addrs) / sizeof(c->addrs[0]);
	    a = a->ai_next)
		if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
		    a->ai_addrlen <= sizeof(c->addrs[0]))
			memcpy(&c->addrs[c->naddrs++], a->ai_addr,
			    a->ai_addrlen);
	uv_freeaddrinfo(res);
	if (!c->closing && c->naddrs == 0) {
		GW_LOGW(SUB, "call=%s target=%s event=lookup_failed err=%s",
		    c->call, c->spec, status ? uv_strerror(status) :
		    "no address");
		defer_target(c->b, c->spec, "4.4.3", "no usable address for",
		    status ? uv_strerror(status) : "no address", true);
		conn_close(c, "no address");
	} else if (!c->closing) {
		conn_dial(c);
	}
	conn_unref(c);
}

/* Call the station of job j: resolve its host (a name or an address),
 * then try each address in turn (on_connected). */
static int
connect_out(struct b2f *b, const struct b2f_job *j)
{
	struct addrinfo hints;
	char port[8];

	struct b2f_conn *c = conn_new(b, false);
	snprintf(c->spec, sizeof(c->spec), "%s", j->spec);
	snprintf(c->call, sizeof(c->call), "%s", j->call);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", (unsigned)j->hop.port);
	c->gai.data = c;
	int rc = uv_getaddrinfo(b->env.loop, &c->gai, on_resolved,
	    j->hop.host, port, &hints);
	if (rc != 0) {
		conn_close(c, "lookup failed");
		return GW_EIO;
	}
	c->refs++;
	return 0;
}

/* ---- the delivery agent ------------------------------------------------- */

/* Does a go before b? Higher band first, then the earlier deadline (none
 * last), then the earlier arrival; equal ones keep their hand-over
 * order. */
static bool
job_before(const struct b2f_job *a, const struct b2f_job *b)
{
	if (a->band != b->band)
		return a->band > b->band;
	if (a->deadline != b->deadline)
		return b->deadline == 0 || (a->deadline != 0 &&
		    a->deadline < b->deadline);
	return a->arrival < b->arrival;
}

int
b2f_send(void *agent, const struct route_target *t,
    const struct smtpc_msg *m,
    void (*done)(void *arg, const struct deliver_outcome *o, size_t n),
    void *arg)
{
	struct b2f *b = agent;
	struct buf wl;
	char mid[13];
	int rc;

	if (b == NULL || b->closing || b->cfg.callsign[0] == '\0')
		return GW_ECLOSED;
	if (t->kind != ROUTE_B2F)
		return GW_EINVAL;
	if (!b2f_mid_from_message_id(m->content, m->len, b->cfg.domain, mid))
		b2f_mid_from_id(m->env->id, mid);
	struct b2f_job *j = xcalloc(1, sizeof(*j));
	j->b = b;
	snprintf(j->call, sizeof(j->call), "%.15s", t->arg);
	snprintf(j->spec, sizeof(j->spec), "%s", t->spec);
	if (t->nhops > 0) {
		j->hop = t->hops[0];
		j->has_hop = true;
	}
	buf_init(&wl);
	buf_init(&j->payload);
	rc = b2f_msg_from_mail(m->content, m->len, mid, m->env->reverse_path,
	    j->call, &b->map, (int64_t)time(NULL), &wl, j->offer.title);
	if (rc != 0) {
		buf_fini(&wl);
		free(j);
		return rc;
	}
	snprintf(j->offer.mid, sizeof(j->offer.mid), "%s", mid);
	j->offer.size = (uint32_t)wl.len;
	lzhuf_encode(wl.data, wl.len, &j->payload);
	buf_fini(&wl);
	size_t n = m->rcpts ? m->nrcpts : m->env->nrcpts;
	j->rcpts = xcalloc(n ? n : 1, sizeof(*j->rcpts));
	for (size_t i = 0; i < n; i++)
		j->rcpts[i] = m->rcpts ? m->rcpts[i] : i;
	j->nrcpts = n;
	j->done = done;
	j->arg = arg;
	j->expires_ms = now_ms() + (j->has_hop ? b->cfg.timeout_ms :
	    b->cfg.pickup_wait_ms);
	j->band = m->env->band;
	j->deadline = m->env->by_deadline;
	if (m->env->aby_deadline > 0 && (j->deadline == 0 ||
	    m->env->aby_deadline < j->deadline))
		j->deadline = m->env->aby_deadline;
	j->arrival = m->env->arrival;
	/* skywave's order: after every job that goes first */
	struct b2f_job **pp = &b->jobs;
	while (*pp && !job_before(j, *pp))
		pp = &(*pp)->next;
	j->next = *pp;
	*pp = j;
	GW_LOGI(SUB, "mid=%s call=%s event=queued size=%u compressed=%zu",
	    mid, j->call, j->offer.size, j->payload.len);

	/* a session with the station waiting for its turn takes it as soon
	 * as the loop turn is over: with whatever else is handed over in it
	 * (the rest of the dispatcher's batch) */
	for (struct b2f_conn *c = b->conns; c; c = c->next)
		if (!c->closing && !b2f_session_ended(c->s) &&
		    c->turn_waiting &&
		    strcasecmp(c->call, j->call) == 0) {
			uv_timer_start(&c->linger, on_linger, 0, 0);
			return 0;
		}
	if (!j->has_hop)
		return 0;
	for (struct b2f_conn *c = b->conns; c; c = c->next)
		if (!c->closing && !b2f_session_ended(c->s) && c->outbound &&
		    strcmp(c->spec, j->spec) == 0)
			return 0;  /* offered at that session's next turn */
	if (connect_out(b, j) != 0) {
		*pp = j->next;
		buf_fini(&j->payload);
		free(j->rcpts);
		free(j);
		return GW_EINVAL;
	}
	return 0;
}

/* ---- start and stop ----------------------------------------------------- */

static int
split_hostport(const char *s, char *host, size_t hl, int *port)
{
	const char *colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= hl)
		return GW_EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (host[0] == '[') {
		size_t l = strlen(host);
		if (l < 2 || host[l - 1] != ']')
			return GW_EINVAL;
		memmove(host, host + 1, l - 2);
		host[l - 2] = '\0';
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return GW_EINVAL;
	*port = (int)p;
	return 0;
}

int
b2f_start(const struct b2f_env *env, struct b2f **out)
{
	struct b2f *b = xcalloc(1, sizeof(*b));
	int rc;

	b->env = *env;
	b->cfg = *env->cfg;
	b->env.cfg = NULL;         /* copied: a reload frees the original */
	for (char *p = b->cfg.callsign; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	b->map.mycall = b->cfg.callsign;
	b->map.domain = b->cfg.domain;
	b->map.deliver_to = b->cfg.deliver_to;
	b->map.hostname = env->hostname;
	b2f_msg_init();
	b->env.data_dir = NULL;
	if (env->data_dir && env->data_dir[0]) {
		snprintf(b->dir, sizeof(b->dir), "%s/b2f", env->data_dir);
		if (mkdir(b->dir, 0750) != 0 && errno != EEXIST)
			b->dir[0] = '\0';
		else
			partials_load(b);
	}
	uv_timer_init(env->loop, &b->tick);
	b->tick.data = b;
	b->handles = 1;
	uv_timer_start(&b->tick, on_tick, 1000, 1000);
	if (b->cfg.listen[0] && b->cfg.callsign[0]) {
		char host[256];
		int port;
		struct sockaddr_storage ss;
		if (split_hostport(b->cfg.listen, host, sizeof(host),
		    &port) != 0 ||
		    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
		    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)) {
			rc = GW_EINVAL;
			goto fail;
		}
		uv_tcp_init(env->loop, &b->listener);
		b->listener.data = b;
		b->handles++;
		b->listening = true;
		rc = uv_tcp_bind(&b->listener, (struct sockaddr *)&ss, 0);
		if (rc == 0)
			rc = uv_listen((uv_stream_t *)&b->listener, 16,
			    on_accept);
		if (rc != 0)
			goto fail;
		GW_LOGI(SUB, "event=listening addr=%s port=%d call=%s",
		    host, b2f_port(b), b->cfg.callsign);
	}
	*out = b;
	return 0;
fail:
	*out = NULL;
	b->closing = true;
	b2f_close(b, NULL, NULL);
	return rc;
}

void
b2f_set_policy(struct b2f *b, const struct policy *p)
{
	b->env.policy = p;
}

int
b2f_port(const struct b2f *b)
{
	struct sockaddr_storage ss;
	int l = sizeof(ss);

	if (b == NULL || !b->listening ||
	    uv_tcp_getsockname(&b->listener, (struct sockaddr *)&ss, &l) != 0)
		return 0;
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
on_b2f_handle_closed(uv_handle_t *h)
{
	struct b2f *b = h->data;

	b->handles--;
	b2f_maybe_closed(b);
}

static void
b2f_maybe_closed(struct b2f *b)
{
	if (!b->closing || b->handles > 0 || b->conns != NULL)
		return;
	for (size_t i = 0; i < b->npartials; i++)
		buf_fini(&b->partials[i].data);
	void (*cb)(void *) = b->close_cb;
	void *arg = b->close_arg;
	free(b);
	if (cb)
		cb(arg);
}

void
b2f_close(struct b2f *b, void (*cb)(void *), void *arg)
{
	if (b == NULL) {
		if (cb)
			cb(arg);
		return;
	}
	b->closing = true;
	b->close_cb = cb;
	b->close_arg = arg;
	for (struct b2f_conn *c = b->conns; c; c = c->next)
		conn_close(c, "shutting down");
	while (b->jobs)
		job_finish(b->jobs, DELIVER_DEFERRED, "4.3.2",
		    "gateway shutting down");
	if (b->listening)
		uv_close((uv_handle_t *)&b->listener, on_b2f_handle_closed);
	uv_close((uv_handle_t *)&b->tick, on_b2f_handle_closed);
}
