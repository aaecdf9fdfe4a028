/*
 * smtpc.c - onward SMTP/LMTP client: sans-I/O session + libuv glue.
 *
 * Purpose: hand one queued message to the next hop of a smtp:/lmtp: route,
 * using what the hop offers (see smtpc.h), and report one outcome per
 * recipient for the scheduler and the DSN code.
 *
 * Ownership: a struct smtpc_sess is owned by whoever created it (the job
 * below, or a test); it borrows the message. A struct smtpc_job is owned by
 * the client from smtpc_client_send() until its callback has run and its
 * handles have closed. The client is owned by the daemon.
 *
 * Thread: the loop thread only.
 *
 * Session state machine (one TCP connection):
 *
 *   CONNECT --connected--> GREETING --220--> EHLO --250--> TX
 *      |                      |              |  \--5xx (SMTP)--> HELO
 *      |                      |              |                   |  \-250-> TX
 *      +--fail/timeout--+     +--not 2xx--+  +--not 2xx/refused--+
 *                       v                 v                      v
 *                     DONE              QUIT <-------------------+
 *
 *   TX: MAIL, RCPT..., [DATA] (one group with PIPELINING)
 *     --354 / BDAT-------------> BODY --all written--> DOT
 *     --MAIL fail / no rcpt ok / DATA fail----------> QUIT
 *   DOT --final reply (LMTP: one per accepted rcpt)--> QUIT --221/EOF--> DONE
 *   any state --EOF / timeout / bad reply--> DONE
 *
 * A negotiated message (CONPERM, or a DRUCOF recipient; SMTP only) takes
 * a detour between EHLO and TX, and may run several transactions:
 *
 *   EHLO --hop has CONNEG--> PROBE: MAIL, RCPT <r> CONNEG..., RSET
 *     |                        |  --MAIL refused------------------> QUIT
 *     |                        +--RSET reply--+
 *     +--no CONNEG: answers NO_CONNEG---------+
 *                                             v
 *              +--------------------> [next group]
 *              |                  a group with capabilities to try?
 *              |              yes /                          \ no
 *              |     NEGOTIATE (the glue runs conv_run;       |
 *              |       smtpc_sess_converted)                  |
 *              |                  \                          /
 *              |                   decide (conneg_relay_decide):
 *              |                   FAIL now; CONVERT / PASS rcpts
 *              |                   of one content -> TX as above
 *              |                          | nothing to send: [next group]
 *              |                          v
 *              +--- DOT final reply(ies), undecided recipients left
 *                   (RSET first when the transaction did not complete)
 *   no recipient left undecided -> QUIT.
 *   Every recipient would fail before any MAIL was sent (a hop with
 *   neither CONNEG nor DRUCOF/CONPERM) -> host refused (5.6.3), QUIT.
 *
 * Functions: send_probe() (PROBE), probe_answer() (each RCPT ... CONNEG
 * reply), probe_done() (NEGOTIATE, or negotiate() at once when no group
 * needs a trial), negotiate() (decide, start_tx()), next_tx() (after a
 * transaction: RSET if needed, then probe_done(), or QUIT). In the glue,
 * job_step() runs job_convert() while the session is in NEGOTIATE; a job
 * whose conversion is running is never closed (job_close waits for
 * on_converted), also when the client is closed.
 *
 * Negotiation invariants: every transaction carries exactly one content
 * (the original, or one group's conversion); each pass through
 * [next group] decides or sends at least one recipient, so it ends; a
 * recipient is sent in at most one transaction.
 *
 * Transitions: sess_enter() is the only place the state changes; it traces
 * old->new at debug level.
 *
 * Invariants (checked by sess_check() after each event):
 *   - CONNECT/GREETING/EHLO/HELO: no MAIL sent, no outcome decided;
 *   - PROBE/NEGOTIATE/TX/BODY/DOT: tx_started (MAIL sent, or an outcome
 *     decided), every pending reply is for a sent command;
 *   - NEGOTIATE: no reply that matters is pending (only ignored ones,
 *     such as the final dot of an empty pipelined transaction) and the
 *     lead recipient has capabilities;
 *   - DONE: end != NONE; with END_DONE every recipient has an outcome, with
 *     END_NEXT_HOST none has and host_err is filled;
 *   - a recipient's outcome, once decided, never changes.
 *
 * A host is left for the next one (END_NEXT_HOST) only before MAIL was
 * sent: a failed connection, a bad greeting or EHLO, or a capability
 * refusal (SIZE, DELIVERBY mode R, 8-bit that cannot be downgraded). After
 * MAIL, the replies decide; a connection lost mid-transaction defers the
 * undecided recipients (4.4.2), never fails them.
 */
#include "gateway/deliver/smtpc.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"
#include "gateway/conneg/convert.h"
#include "gateway/deliver/smtpc_mime.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SUB "smtpc"
#define REPLY_LINE_MAX 2048
#define REPLY_LINES_MAX 100
#define BODY_BLOCK 65536

static const char *const state_names[] = {
#define SMTPC__NAME(n, s) s,
	SMTPC_STATE_MAP(SMTPC__NAME)
#undef SMTPC__NAME
};

const char *
smtpc_state_name(enum smtpc_state s)
{
	return (size_t)s < GW_ARRAY_LEN(state_names) ? state_names[s] : "?";
}

void
smtpc_timeouts_default(struct smtpc_timeouts *t)
{
	t->connect_ms = 30000;
	t->greeting_ms = 300000;
	t->ehlo_ms = 300000;
	t->mail_ms = 300000;
	t->rcpt_ms = 300000;
	t->data_ms = 120000;
	t->block_ms = 180000;
	t->dot_ms = 600000;
	t->quit_ms = 30000;
}

void
smtpc_opts_default(struct smtpc_opts *o, const char *helo_name)
{
	memset(o, 0, sizeof(*o));
	o->helo_name = helo_name;
	smtpc_timeouts_default(&o->to);
	o->chunking = SMTPC_CHUNKING_AUTO;
	o->chunking_min_bytes = 1048576;
	o->max_conns_per_target = 4;
}

/* ---- the session ---- */

enum pend_kind { P_GREETING, P_EHLO, P_HELO, P_MAIL, P_RCPT, P_DATA,
	P_BDAT, P_DOT, P_QUIT, P_PMAIL, P_PRCPT, P_RSET };

struct pend {
	enum pend_kind kind;
	size_t r;           /* P_RCPT, LMTP P_DOT/P_BDAT: request index */
	bool ignore;        /* reply is read but changes nothing */
};

struct reply {
	int code;
	char status[16];    /* enhanced status, "" when absent */
	char text[400];     /* text of the first line after the status */
};

struct smtpc_sess {
	struct smtpc_opts o;
	char helo[256];
	const struct smtpc_msg *m;
	const struct queue_envelope *env;
	const struct gw_clock *clock;
	char peer[280];
	size_t n;                     /* recipients in this request */

	enum smtpc_state state;
	enum smtpc_end end;
	struct deliver_outcome host_err;
	struct deliver_outcome *res;  /* n */
	bool *decided;                /* n */
	bool *accepted;               /* n: RCPT got 2xx */
	size_t naccepted;
	size_t rcpt_next;             /* without PIPELINING: next RCPT */

	struct smtpc_ext ext;
	/* tx_started: MAIL was sent or an outcome decided; the session then
	 * ends END_DONE. decided_any: some recipient has an outcome (a
	 * capability probe starts the session but decides nothing: until
	 * then the hop may still be left for the next one). */
	bool tx_started, decided_any, mail_failed, use_bdat, lmtp;
	int64_t by_left;              /* BY seconds left when MAIL was built */

	/* the content as it goes on the wire (before dot-stuffing) */
	struct buf wire_own;
	const uint8_t *wire;
	size_t wlen;
	size_t body_off;              /* next byte of wire to emit */
	bool bol;                     /* emitting: at the start of a line */

	struct pend *pq;              /* FIFO of replies due */
	size_t pq_head, pq_len, pq_cap;

	struct buf in;                /* unparsed input */
	struct buf out;               /* bytes to write */
	int64_t deadline;
	/* the reply being read */
	int rcode;
	int rlines;
	struct reply cur;
	struct buf rl;                /* the reply's lines, '\n'-separated */

	/* negotiation (CONPERM / DRUCOF), see the top of this file */
	bool nego;                    /* this message is negotiated */
	struct smtpc_answer *ans;     /* n */
	bool *intx;                   /* n: in the current transaction */
	bool *rdrucof;                /* n: RCPT ... DRUCOF */
	size_t last_intx;             /* the current transaction's last */
	size_t lead;                  /* NEGOTIATE: first of the group */
	bool tx_open;                 /* MAIL sent, no final reply yet */
	bool tx_conv, tx_lossy;       /* this transaction: converted */
	char tx_detail[300];
	struct buf conv;              /* the converted content */
};

static void sess_enter(struct smtpc_sess *s, enum smtpc_state st);

static const struct queue_rcpt *
rcpt_of(const struct smtpc_sess *s, size_t r)
{
	size_t i = s->m->rcpts ? s->m->rcpts[r] : r;
	return &s->env->rcpts[i];
}

static size_t
rcpt_index(const struct smtpc_sess *s, size_t r)
{
	return s->m->rcpts ? s->m->rcpts[r] : r;
}

struct smtpc_sess *
smtpc_sess_new(const struct smtpc_opts *o, const struct smtpc_msg *m,
    const struct gw_clock *clock, const char *peer)
{
	struct smtpc_sess *s = xcalloc(1, sizeof(*s));

	s->o = *o;
	snprintf(s->helo, sizeof(s->helo), "%s",
	    o->helo_name && *o->helo_name ? o->helo_name : "localhost");
	s->o.helo_name = s->helo;
	if (s->o.chunking_min_bytes == 0)
		s->o.chunking_min_bytes = 1048576;
	s->m = m;
	s->env = m->env;
	s->clock = clock;
	snprintf(s->peer, sizeof(s->peer), "%s", peer ? peer : "");
	s->n = m->rcpts ? m->nrcpts : m->env->nrcpts;
	s->res = xcalloc(s->n ? s->n : 1, sizeof(*s->res));
	s->decided = xcalloc(s->n ? s->n : 1, sizeof(*s->decided));
	s->accepted = xcalloc(s->n ? s->n : 1, sizeof(*s->accepted));
	s->ans = xcalloc(s->n ? s->n : 1, sizeof(*s->ans));
	s->intx = xcalloc(s->n ? s->n : 1, sizeof(*s->intx));
	s->rdrucof = xcalloc(s->n ? s->n : 1, sizeof(*s->rdrucof));
	s->lead = SIZE_MAX;
	s->pq_cap = s->n + 8;
	s->pq = xcalloc(s->pq_cap, sizeof(*s->pq));
	s->lmtp = o->lmtp;
	s->state = SMTPC_S_CONNECT;
	s->deadline = clk_mono_ms(clock) + s->o.to.connect_ms;
	buf_init(&s->wire_own);
	buf_init(&s->in);
	buf_init(&s->out);
	buf_init(&s->rl);
	buf_init(&s->conv);
	for (size_t r = 0; r < s->n; r++)
		s->res[r].rcpt = rcpt_index(s, r);
	return s;
}

void
smtpc_sess_free(struct smtpc_sess *s)
{
	if (s == NULL)
		return;
	buf_fini(&s->wire_own);
	buf_fini(&s->in);
	buf_fini(&s->out);
	buf_fini(&s->rl);
	buf_fini(&s->conv);
	for (size_t r = 0; r < s->n; r++)
		free(s->ans[r].caps);
	free(s->ans);
	free(s->intx);
	free(s->rdrucof);
	free(s->pq);
	free(s->res);
	free(s->decided);
	free(s->accepted);
	free(s);
}

struct buf *
smtpc_sess_output(struct smtpc_sess *s)
{
	return &s->out;
}

int64_t
smtpc_sess_deadline(const struct smtpc_sess *s)
{
	return s->state == SMTPC_S_DONE ? -1 : s->deadline;
}

enum smtpc_state
smtpc_sess_state(const struct smtpc_sess *s)
{
	return s->state;
}

enum smtpc_end
smtpc_sess_end(const struct smtpc_sess *s)
{
	return s->end;
}

const struct smtpc_ext *
smtpc_sess_ext(const struct smtpc_sess *s)
{
	return &s->ext;
}

const struct deliver_outcome *
smtpc_sess_outcomes(const struct smtpc_sess *s, size_t *n)
{
	*n = s->n;
	return s->res;
}

const struct deliver_outcome *
smtpc_sess_host_error(const struct smtpc_sess *s)
{
	return &s->host_err;
}

static void
sess_check(const struct smtpc_sess *s)
{
	size_t nd = 0;

	for (size_t r = 0; r < s->n; r++)
		nd += s->decided[r];
	switch (s->state) {
	case SMTPC_S_CONNECT:
	case SMTPC_S_GREETING:
	case SMTPC_S_EHLO:
	case SMTPC_S_HELO:
		GW_REQUIRE(!s->tx_started && nd == 0);
		break;
	case SMTPC_S_PROBE:
	case SMTPC_S_TX:
	case SMTPC_S_BODY:
	case SMTPC_S_DOT:
		GW_REQUIRE(s->tx_started);
		break;
	case SMTPC_S_NEGOTIATE:
		GW_REQUIRE(s->tx_started);
		GW_REQUIRE(s->lead < s->n && s->ans[s->lead].caps != NULL);
		for (size_t i = 0; i < s->pq_len; i++)
			GW_REQUIRE(s->pq[(s->pq_head + i) % s->pq_cap].ignore);
		break;
	case SMTPC_S_QUIT:
		break;
	case SMTPC_S_DONE:
		GW_REQUIRE(s->end != SMTPC_END_NONE);
		GW_REQUIRE(s->end != SMTPC_END_DONE || nd == s->n);
		GW_REQUIRE(s->end != SMTPC_END_NEXT_HOST || nd == 0);
		break;
	}
}

static void
sess_enter(struct smtpc_sess *s, enum smtpc_state st)
{
	GW_LOGD(SUB, "peer=%s event=state from=%s to=%s", s->peer,
	    smtpc_state_name(s->state), smtpc_state_name(st));
	s->state = st;
}

static void
pq_push(struct smtpc_sess *s, enum pend_kind k, size_t r, bool ignore)
{
	if (s->pq_len == s->pq_cap) {
		/* grow, unrolling the ring */
		struct pend *np = xcalloc(s->pq_cap * 2, sizeof(*np));
		for (size_t i = 0; i < s->pq_len; i++)
			np[i] = s->pq[(s->pq_head + i) % s->pq_cap];
		free(s->pq);
		s->pq = np;
		s->pq_head = 0;
		s->pq_cap *= 2;
	}
	s->pq[(s->pq_head + s->pq_len) % s->pq_cap] =
	    (struct pend){ k, r, ignore };
	s->pq_len++;
}

static bool
pq_pop(struct smtpc_sess *s, struct pend *p)
{
	if (s->pq_len == 0)
		return false;
	*p = s->pq[s->pq_head];
	s->pq_head = (s->pq_head + 1) % s->pq_cap;
	s->pq_len--;
	return true;
}

static void
send_line(struct smtpc_sess *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
send_line(struct smtpc_sess *s, const char *fmt, ...)
{
	va_list ap;
	size_t mark = s->out.len;

	va_start(ap, fmt);
	buf_vappendf(&s->out, fmt, ap);
	va_end(ap);
	GW_LOGD(SUB, "peer=%s event=send line=\"%.*s\"", s->peer,
	    (int)(s->out.len - mark), gw_logq((const char *)s->out.data + mark));
	buf_append_str(&s->out, "\r\n");
}

/* Outcome from a reply, for recipient r. */
static void
decide_reply(struct smtpc_sess *s, size_t r, const struct reply *rp,
    bool final_delivery)
{
	struct deliver_outcome *o = &s->res[r];
	const struct queue_rcpt *q = rcpt_of(s, r);

	if (s->decided[r])
		return;
	s->decided[r] = true;
	s->decided_any = true;
	o->code = rp->code;
	snprintf(o->text, sizeof(o->text), "%s", rp->text);
	snprintf(o->remote_mta, sizeof(o->remote_mta), "%s", s->peer);
	if (rp->status[0])
		snprintf(o->status, sizeof(o->status), "%s", rp->status);
	else
		snprintf(o->status, sizeof(o->status), "%d.0.0",
		    rp->code / 100 == 2 || rp->code / 100 == 5 ?
		    rp->code / 100 : 4);
	switch (rp->code / 100) {
	case 2:
		o->action = final_delivery ? DELIVER_DELIVERED :
		    DELIVER_RELAYED;
		break;
	case 5:
		o->action = DELIVER_FAILED;
		break;
	default:
		o->action = DELIVER_DEFERRED;
		if (o->status[0] != '4')
			o->status[0] = '4';
		break;
	}
	o->lossy = s->intx[r] && s->tx_conv && s->tx_lossy;
	if (o->lossy)
		snprintf(o->conv_detail, sizeof(o->conv_detail), "%s",
		    s->tx_detail);
	o->dsn_relayed = false;
	o->hop_no_dsn = !s->ext.dsn;
	o->hop_no_deliverby = !s->ext.deliverby;
	if (o->action == DELIVER_RELAYED && !(q->notify & QUEUE_NOTIFY_NEVER)) {
		if (!s->ext.dsn && (q->notify & QUEUE_NOTIFY_SUCCESS))
			o->dsn_relayed = true; /* RFC 3461 s6.2.1 (R10) */
		if (s->env->by_deadline != 0 && s->env->by_trace)
			o->dsn_relayed = true; /* RFC 2852 trace (R6) */
		if (s->env->by_deadline != 0 && s->env->by_mode == 'N' &&
		    !s->ext.deliverby && s->by_left > 0)
			o->dsn_relayed = true; /* BY N to a non-DELIVERBY hop */
	}
}

static void
decide_local(struct smtpc_sess *s, size_t r, enum deliver_action a,
    const char *status, const char *text)
{
	if (s->decided[r])
		return;
	s->decided[r] = true;
	s->decided_any = true;
	s->tx_started = true; /* an outcome: the session ends END_DONE */
	deliver_outcome_set(&s->res[r], a, status, "%s", text);
	snprintf(s->res[r].remote_mta, sizeof(s->res[r].remote_mta), "%s",
	    s->peer);
}

static void
decide_all_reply(struct smtpc_sess *s, const struct reply *rp,
    bool only_accepted)
{
	for (size_t r = 0; r < s->n; r++)
		if (s->intx[r] && (!only_accepted || s->accepted[r]))
			decide_reply(s, r, rp, s->lmtp);
}

static void
finish(struct smtpc_sess *s)
{
	if (s->end == SMTPC_END_NONE)
		s->end = s->tx_started ? SMTPC_END_DONE : SMTPC_END_NEXT_HOST;
	if (s->end == SMTPC_END_DONE)
		for (size_t r = 0; r < s->n; r++)
			decide_local(s, r, DELIVER_DEFERRED, "4.4.2",
			    "session ended without a reply");
	sess_enter(s, SMTPC_S_DONE);
}

static void
host_error(struct smtpc_sess *s, int code, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
host_error(struct smtpc_sess *s, int code, const char *status,
    const char *fmt, ...)
{
	struct deliver_outcome *o = &s->host_err;
	va_list ap;

	memset(o, 0, sizeof(*o));
	o->code = code;
	if (status[0] == '5')
		o->action = DELIVER_FAILED;
	else
		o->action = DELIVER_DEFERRED;
	snprintf(o->status, sizeof(o->status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(o->text, sizeof(o->text), fmt, ap);
	va_end(ap);
	snprintf(o->remote_mta, sizeof(o->remote_mta), "%s", s->peer);
	o->unreachable = code == 0 && (s->state == SMTPC_S_CONNECT ||
	    s->state == SMTPC_S_GREETING);
	s->end = SMTPC_END_NEXT_HOST;
}

static void
host_error_reply(struct smtpc_sess *s, const struct reply *rp)
{
	const char *st = rp->status[0] ? rp->status :
	    rp->code / 100 == 5 ? "5.0.0" : "4.0.0";
	host_error(s, rp->code, st, "%s", rp->text);
}

static void
send_quit(struct smtpc_sess *s, int64_t now)
{
	send_line(s, "QUIT");
	pq_push(s, P_QUIT, 0, true);
	s->deadline = now + s->o.to.quit_ms;
	sess_enter(s, SMTPC_S_QUIT);
}

/* EHLO keyword lines -> s->ext. */
static void
parse_ext(struct smtpc_sess *s)
{
	const char *p = buf_cstr(&s->rl);

	memset(&s->ext, 0, sizeof(s->ext));
	s->ext.esmtp = true;
	/* the first line is the hop's name, not a keyword */
	p = strchr(p, '\n');
	p = p ? p + 1 : "";
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char kw[64], arg[128] = "";
		size_t k = 0;

		while (k < n && k + 1 < sizeof(kw) && p[k] != ' ') {
			kw[k] = (char)toupper((unsigned char)p[k]);
			k++;
		}
		kw[k] = '\0';
		if (k < n) {
			size_t a = k + 1, an = n - a;
			if (an >= sizeof(arg))
				an = sizeof(arg) - 1;
			memcpy(arg, p + a, an);
			arg[an] = '\0';
		}
		if (strcmp(kw, "PIPELINING") == 0)
			s->ext.pipelining = true;
		else if (strcmp(kw, "8BITMIME") == 0)
			s->ext.eightbit = true;
		else if (strcmp(kw, "DSN") == 0)
			s->ext.dsn = true;
		else if (strcmp(kw, "CHUNKING") == 0)
			s->ext.chunking = true;
		else if (strcmp(kw, "BINARYMIME") == 0)
			s->ext.binarymime = true;
		else if (strcmp(kw, "ENHANCEDSTATUSCODES") == 0)
			s->ext.enhanced = true;
		else if (strcmp(kw, "SIZE") == 0) {
			s->ext.size = true;
			s->ext.size_max = strtoll(arg, NULL, 10);
			if (s->ext.size_max < 0)
				s->ext.size_max = 0;
		} else if (strcmp(kw, "DELIVERBY") == 0) {
			s->ext.deliverby = true;
			s->ext.by_min = strtoll(arg, NULL, 10);
			if (s->ext.by_min < 0)
				s->ext.by_min = 0;
		} else if (strcmp(kw, "ALTRECIP") == 0) {
			s->ext.altrecip = true;
		} else if (strcmp(kw, "CONPERM") == 0) {
			s->ext.conperm = true;
		} else if (strcmp(kw, "CONNEG") == 0) {
			s->ext.conneg = true;
		} else if (strcmp(kw, "DRUCOF") == 0) {
			s->ext.drucof = true;
		} else if (strcmp(kw, "PRIORITY") == 0) {
			s->ext.prio_draft = true;
		} else if (strcmp(kw, "MT-PRIORITY") == 0) {
			s->ext.mtprio = true;
			snprintf(s->ext.prio_profile,
			    sizeof(s->ext.prio_profile), "%.*s",
			    (int)sizeof(s->ext.prio_profile) - 1, arg);
		}
		p += n;
		if (*p == '\n')
			p++;
	}
}

static const char *
notify_text(unsigned bits, char *out, size_t cap)
{
	out[0] = '\0';
	if (bits & QUEUE_NOTIFY_NEVER) {
		snprintf(out, cap, "NEVER");
		return out;
	}
	size_t o = 0;
	static const struct { unsigned bit; const char *name; } t[] = {
		{ QUEUE_NOTIFY_SUCCESS, "SUCCESS" },
		{ QUEUE_NOTIFY_FAILURE, "FAILURE" },
		{ QUEUE_NOTIFY_DELAY, "DELAY" },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(t); i++)
		if (bits & t[i].bit)
			o += (size_t)snprintf(out + o, cap - o, "%s%s",
			    o ? "," : "", t[i].name);
	return out;
}

static void
send_rcpt(struct smtpc_sess *s, size_t r)
{
	const struct queue_rcpt *q = rcpt_of(s, r);
	char params[1400] = "", nt[40];
	size_t o = 0;

	if (s->ext.dsn) {
		unsigned bits = q->notify;
		/* RFC 2852 s4.1.4: BY N onto a hop without DELIVERBY but with
		 * DSN asks for delay notices too. */
		if (s->env->by_deadline != 0 && s->env->by_mode == 'N' &&
		    !s->ext.deliverby && !(bits & QUEUE_NOTIFY_NEVER))
			bits = bits ? bits | QUEUE_NOTIFY_DELAY :
			    QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
		if (bits)
			o += (size_t)snprintf(params + o, sizeof(params) - o,
			    " NOTIFY=%s", notify_text(bits, nt, sizeof(nt)));
		if (q->orcpt && o < sizeof(params))
			o += (size_t)snprintf(params + o, sizeof(params) - o,
			    " ORCPT=%s", q->orcpt);
	}
	if (s->ext.altrecip && q->arcpt && o < sizeof(params))
		o += (size_t)snprintf(params + o, sizeof(params) - o,
		    " ARCPT=%s", q->arcpt);
	if (s->rdrucof[r] && s->ext.drucof && o < sizeof(params))
		o += (size_t)snprintf(params + o, sizeof(params) - o,
		    " DRUCOF");
	send_line(s, "RCPT TO:<%s>%s", q->addr, params);
	pq_push(s, P_RCPT, r, false);
}

/* The hop cannot take this transaction: before any outcome, leave the
 * host (the next one may); later (a further transaction of a negotiated
 * message), the recipients of this transaction get the reason. */
static void
refuse(struct smtpc_sess *s, int code, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
refuse(struct smtpc_sess *s, int code, const char *status,
    const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!s->decided_any) {
		host_error(s, code, status, "%s", text);
		return;
	}
	for (size_t r = 0; r < s->n; r++)
		if (s->intx[r])
			decide_local(s, r, status[0] == '5' ? DELIVER_FAILED :
			    DELIVER_DEFERRED, status, text);
}

/* A hop that speaks the seed draft's PRIORITY (and not MT-PRIORITY) and we
 * are configured to speak it too. */
static bool
draft_hop(const struct smtpc_sess *s)
{
	return s->o.prio_draft && s->ext.prio_draft && !s->ext.mtprio;
}

/* Prepare the wire content for this hop and refuse the hop if it cannot
 * take the message. Returns true when the transaction may start. */
static bool
prepare(struct smtpc_sess *s)
{
	const struct queue_envelope *env = s->env;
	const uint8_t *c = s->tx_conv ? s->conv.data : s->m->content;
	size_t len = s->tx_conv ? s->conv.len : s->m->len;
	struct buf tmp = BUF_INIT;

	buf_reset(&s->wire_own);

	/* DELIVERBY (RFC 2852 s4.1.4). */
	s->by_left = 0;
	if (env->by_deadline != 0) {
		s->by_left = env->by_deadline - clk_wall_s(s->clock);
		if (env->by_mode == 'R' && s->by_left <= 0) {
			for (size_t r = 0; r < s->n; r++)
				decide_local(s, r, DELIVER_FAILED, "5.4.7",
				    "delivery time expired (BY mode R)");
			s->end = SMTPC_END_DONE;
			return false;
		}
		if (env->by_mode == 'R' && !s->lmtp && !s->ext.deliverby) {
			refuse(s, 0, "5.3.3", "next hop does not support "
			    "DELIVERBY; BY mode R must not be relayed to it");
			return false;
		}
		if (env->by_mode == 'R' && !s->lmtp && s->ext.by_min > 0 &&
		    s->ext.by_min > s->by_left) {
			refuse(s, 0, "5.3.3", "next hop's minimum BY time "
			    "%" PRId64 " s exceeds the %" PRId64 " s left",
			    s->ext.by_min, s->by_left);
			return false;
		}
	}

	/* CONPERM (RFC 4141 s3): a CONPERM message over SMTP is always
	 * negotiated (negotiate()), which sends it to a hop without CONPERM
	 * only once the duty to convert is done. LMTP is final delivery,
	 * where the conversion has already been decided. */
	GW_REQUIRE(!env->conperm || s->lmtp || s->nego);

	/* MT-PRIORITY tunnelling (RFC 6758) for a hop without it. */
	if (!s->ext.mtprio && !draft_hop(s)) {
		size_t had = smtpc_mime_count_field(c, len, "MT-Priority");
		if (had > 0 || env->priority != 0) {
			smtpc_mime_set_priority(c, len, true, env->priority,
			    &s->wire_own);
			c = s->wire_own.data;
			len = s->wire_own.len;
		}
	}

	/* 8BITMIME / BINARYMIME. */
	bool eight = env->body != QUEUE_BODY_7BIT ||
	    smtpc_mime_has_8bit(c, len);
	bool binary = env->body == QUEUE_BODY_BINARYMIME;
	bool can_binary = s->ext.binarymime && s->ext.chunking;
	if (eight && ((binary && !can_binary) ||
	    (!binary && !s->ext.eightbit))) {
		if (smtpc_mime_has_8bit(c, len) || binary) {
			int rc = smtpc_mime_downgrade(c, len, &tmp);
			if (rc != 0) {
				buf_fini(&tmp);
				refuse(s, 0, "5.6.3", "8-bit content "
				    "cannot be converted to 7 bits and the "
				    "next hop lacks %s", binary ?
				    "BINARYMIME" : "8BITMIME");
				return false;
			}
			buf_swap(&tmp, &s->wire_own);
			buf_fini(&tmp);
			c = s->wire_own.data;
			len = s->wire_own.len;
		}
		eight = false;
		binary = false;
	}
	s->wire = c;
	s->wlen = len;

	/* SIZE (RFC 1870): do not offer it to a hop that will refuse it. */
	if (s->ext.size && s->ext.size_max > 0 &&
	    (int64_t)len > s->ext.size_max) {
		refuse(s, 552, "5.3.4", "message size %zu exceeds the "
		    "next hop's fixed maximum of %" PRId64, len,
		    s->ext.size_max);
		return false;
	}

	s->use_bdat = s->ext.chunking && (binary ||
	    s->o.chunking == SMTPC_CHUNKING_ALWAYS ||
	    (s->o.chunking == SMTPC_CHUNKING_AUTO &&
	    len >= s->o.chunking_min_bytes));
	if (s->o.chunking == SMTPC_CHUNKING_NEVER && !binary)
		s->use_bdat = false;

	/* The MAIL command. */
	char p[1200] = "";
	size_t o = 0;
#define ADDP(...) \
	o += (size_t)snprintf(p + o, o < sizeof(p) ? sizeof(p) - o : 0, \
	    __VA_ARGS__)
	if (s->ext.size)
		ADDP(" SIZE=%zu", len);
	if (binary)
		ADDP(" BODY=BINARYMIME");
	else if (eight)
		ADDP(" BODY=8BITMIME");
	if (s->ext.dsn) {
		if (env->ret == QUEUE_RET_FULL)
			ADDP(" RET=FULL");
		else if (env->ret == QUEUE_RET_HDRS)
			ADDP(" RET=HDRS");
		if (env->envid)
			ADDP(" ENVID=%s", env->envid);
	}
	if (draft_hop(s) && (env->priority != 0 ||
	    smtpc_mime_count_field(c, len, "MT-Priority") > 0))
		ADDP(" PRIORITY=%d", policy_mt_to_draft(&s->o.prio_draft_map,
		    env->priority));
	if (s->ext.mtprio && (env->priority != 0 ||
	    smtpc_mime_count_field(c, len, "MT-Priority") > 0))
		ADDP(" MT-PRIORITY=%d", env->priority);
	if (env->conperm && s->ext.conperm)
		ADDP(" CONPERM");
	/* ABY only matters with an ARCPT in this transaction: a copy
	 * redirected here, or a group without alternates, goes without. */
	bool any_arcpt = false;
	for (size_t r = 0; r < s->n; r++)
		if (s->intx[r] && rcpt_of(s, r)->arcpt != NULL)
			any_arcpt = true;
	if (env->aby_deadline != 0 && s->ext.altrecip && any_arcpt) {
		int64_t aby = env->aby_deadline - clk_wall_s(s->clock);
		ADDP(" ABY=%" PRId64 ";R", aby > 0 ? aby : 1);
	}
	if (env->by_deadline != 0 && s->ext.deliverby)
		ADDP(" BY=%" PRId64 ";%c%s", s->by_left,
		    env->by_mode == 'R' ? 'R' : 'N', env->by_trace ? "T" : "");
#undef ADDP
	if (o >= sizeof(p)) {
		/* Only a corrupt envelope gets here (ENVID is at most 100
		 * characters on the way in): fail it rather than truncate. */
		for (size_t r = 0; r < s->n; r++)
			decide_local(s, r, DELIVER_FAILED, "5.5.4",
			    "MAIL parameters too long");
		s->end = SMTPC_END_DONE;
		return false;
	}
	s->tx_started = true;
	s->tx_open = true;
	send_line(s, "MAIL FROM:<%s>%s", env->reverse_path ?
	    env->reverse_path : "", p);
	pq_push(s, P_MAIL, 0, false);
	return true;
}

static void next_tx(struct smtpc_sess *s, int64_t now);
static size_t parse_status(const char *t, int code, char *out, size_t cap);

/* The next recipient of the current transaction from r on, or n. */
static size_t
next_intx(const struct smtpc_sess *s, size_t r)
{
	while (r < s->n && !s->intx[r])
		r++;
	return r;
}

/* One transaction for the recipients marked intx (MAIL, RCPT..., DATA). */
static void
start_tx(struct smtpc_sess *s, int64_t now)
{
	s->naccepted = 0;
	s->mail_failed = false;
	memset(s->accepted, 0, (s->n ? s->n : 1) * sizeof(*s->accepted));
	s->last_intx = 0;
	for (size_t r = 0; r < s->n; r++)
		if (s->intx[r])
			s->last_intx = r;
	if (!prepare(s)) {
		if (s->end == SMTPC_END_NONE)
			next_tx(s, now); /* refused this one: the others */
		else
			send_quit(s, now);
		return;
	}
	sess_enter(s, SMTPC_S_TX);
	s->deadline = now + s->o.to.mail_ms;
	if (s->ext.pipelining) {
		for (size_t r = next_intx(s, 0); r < s->n;
		    r = next_intx(s, r + 1))
			send_rcpt(s, r);
		s->rcpt_next = s->n;
		if (!s->use_bdat) {
			send_line(s, "DATA");
			pq_push(s, P_DATA, 0, false);
		}
		/* One group: the whole group shares the longest wait. */
		s->deadline = now + s->o.to.mail_ms + s->o.to.rcpt_ms;
	}
}

static bool
needs_nego(const struct smtpc_sess *s, size_t r)
{
	return s->env->conperm ||
	    (rcpt_of(s, r)->flags & QUEUE_RCPT_DRUCOF) != 0;
}

/* Recipients r and l are tried together: same capabilities, same DRUCOF
 * (CONPERM is per message). */
static bool
same_group(const struct smtpc_sess *s, size_t r, size_t l)
{
	return s->ans[r].caps != NULL && s->ans[l].caps != NULL &&
	    strcmp(s->ans[r].caps, s->ans[l].caps) == 0 &&
	    (rcpt_of(s, r)->flags & QUEUE_RCPT_DRUCOF) ==
	    (rcpt_of(s, l)->flags & QUEUE_RCPT_DRUCOF);
}

/* The first undecided recipient whose capabilities still need a trial
 * conversion, or SIZE_MAX. */
static size_t
find_lead(const struct smtpc_sess *s)
{
	for (size_t r = 0; r < s->n; r++)
		if (!s->decided[r] && needs_nego(s, r) &&
		    s->ans[r].hop == CONNEG_HOP_CAPS_OK)
			return r;
	return SIZE_MAX;
}

enum nstep { N_SKIP, N_LATER, N_ORIG, N_CONV, N_FAIL };

/* Decide every undecided recipient that can be decided now (rep: the
 * trial for the lead's group, or NULL), fail those that must fail, and
 * start a transaction for one content. */
static void
negotiate(struct smtpc_sess *s, const struct conv_report *rep, int64_t now)
{
	enum nstep *st = xcalloc(s->n, sizeof(*st));
	struct conneg_relay_out *dec = xcalloc(s->n, sizeof(*dec));
	size_t nundecided = 0, nfail = 0, first_fail = SIZE_MAX;
	bool any_conv = false;

	for (size_t r = 0; r < s->n; r++) {
		struct conneg_relay_in in;
		const struct smtpc_answer *a = &s->ans[r];

		s->intx[r] = false;
		s->rdrucof[r] = false;
		if (s->decided[r]) {
			st[r] = N_SKIP;
			continue;
		}
		nundecided++;
		if (!needs_nego(s, r)) {
			st[r] = N_ORIG;
			continue;
		}
		if (a->asked && a->code / 100 == 5 &&
		    strncmp(a->status, "5.1.", 4) == 0) {
			/* the mailbox, not the capabilities: the hop's own
			 * answer decides, as the real RCPT would */
			struct reply rp = { .code = a->code };
			snprintf(rp.status, sizeof(rp.status), "%s",
			    a->status);
			snprintf(rp.text, sizeof(rp.text), "%s", a->text);
			decide_reply(s, r, &rp, false);
			st[r] = N_SKIP;
			nundecided--;
			continue;
		}
		memset(&in, 0, sizeof(in));
		in.drucof = (rcpt_of(s, r)->flags & QUEUE_RCPT_DRUCOF) != 0;
		in.conperm = s->env->conperm;
		in.hop = (enum conneg_hop_caps)a->hop;
		in.caps_known = a->hop == CONNEG_HOP_CAPS_OK;
		in.hop_drucof = s->ext.drucof;
		in.hop_conperm = s->ext.conperm;
		if (in.caps_known) {
			if (s->lead == SIZE_MAX || !same_group(s, r, s->lead)) {
				st[r] = N_LATER;
				continue;
			}
			if (rep != NULL)
				conneg_relay_set_conv(&in, rep);
			else
				in.conv_fail_status = "5.6.5";
		}
		conneg_relay_decide(&in, &dec[r]);
		switch (dec[r].action) {
		case CONNEG_PASS:
			st[r] = N_ORIG;
			s->rdrucof[r] = dec[r].assert_drucof;
			break;
		case CONNEG_CONVERT:
			st[r] = N_CONV;
			any_conv = true;
			break;
		case CONNEG_FAIL:
			st[r] = N_FAIL;
			nfail++;
			if (first_fail == SIZE_MAX)
				first_fail = r;
			break;
		}
	}
	if (!s->tx_started && nfail > 0 && nfail == nundecided) {
		/* Nothing may go to this hop: leave it (another may). */
		host_error(s, 0, dec[first_fail].status, "content "
		    "negotiation: %s", dec[first_fail].why);
		free(st);
		free(dec);
		send_quit(s, now);
		return;
	}
	for (size_t r = 0; r < s->n; r++) {
		const struct smtpc_answer *a = &s->ans[r];
		struct buf why = BUF_INIT;

		if (st[r] != N_FAIL)
			continue;
		buf_appendf(&why, "content negotiation: %s",
		    strcmp(dec[r].status, "5.6.2") == 0 ?
		    "conversion required and prohibited" : dec[r].why);
		if (a->asked && a->hop != CONNEG_HOP_CAPS_OK)
			buf_appendf(&why, " (RCPT ... CONNEG answered %d%s%s)",
			    a->code, a->status[0] ? " " : "", a->status);
		if (rep != NULL && rep->detail[0] &&
		    a->hop == CONNEG_HOP_CAPS_OK)
			buf_appendf(&why, ": %s", rep->detail);
		decide_local(s, r, dec[r].status[0] == '4' ?
		    DELIVER_DEFERRED : DELIVER_FAILED, dec[r].status,
		    buf_cstr(&why));
		buf_fini(&why);
	}
	/* One content per transaction: the conversion first. */
	size_t nsend = 0;
	for (size_t r = 0; r < s->n; r++) {
		s->intx[r] = any_conv ? st[r] == N_CONV : st[r] == N_ORIG;
		nsend += s->intx[r];
	}
	s->tx_conv = any_conv;
	s->tx_lossy = any_conv && rep != NULL && rep->lossy;
	snprintf(s->tx_detail, sizeof(s->tx_detail), "%.*s",
	    (int)sizeof(s->tx_detail) - 1,
	    any_conv && rep != NULL ? rep->detail : "");
	s->lead = SIZE_MAX;
	free(st);
	free(dec);
	if (any_conv)
		GW_LOGI(SUB, "peer=%s event=converted rcpts=%zu lossy=%s "
		    "size=%zu new_size=%zu", s->peer, nsend,
		    s->tx_lossy ? "yes" : "no", s->m->len, s->conv.len);
	if (nsend > 0)
		start_tx(s, now);
	else
		next_tx(s, now);
}

/* The probe is over (or was not needed): a trial conversion, or decide. */
static void
probe_done(struct smtpc_sess *s, int64_t now)
{
	s->lead = find_lead(s);
	if (s->lead != SIZE_MAX) {
		sess_enter(s, SMTPC_S_NEGOTIATE);
		s->deadline = now + s->o.to.rcpt_ms;
		return;
	}
	negotiate(s, NULL, now);
}

/* After a transaction (or none): the recipients still undecided go in the
 * next one, else QUIT. */
static void
next_tx(struct smtpc_sess *s, int64_t now)
{
	bool more = false;

	for (size_t r = 0; r < s->n && !more; r++)
		more = !s->decided[r];
	for (size_t r = 0; r < s->n; r++)
		s->intx[r] = false;
	if (!more || !s->nego || s->end != SMTPC_END_NONE) {
		send_quit(s, now);
		return;
	}
	if (s->tx_open) {
		/* the transaction did not complete: end it first */
		send_line(s, "RSET");
		pq_push(s, P_RSET, 0, false);
		s->deadline = now + s->o.to.mail_ms;
		sess_enter(s, SMTPC_S_TX);
		return;
	}
	probe_done(s, now);
}

static void
send_probe_rcpt(struct smtpc_sess *s, size_t r)
{
	send_line(s, "RCPT TO:<%s> CONNEG", rcpt_of(s, r)->addr);
	pq_push(s, P_PRCPT, r, false);
	s->ans[r].asked = true;
}

/* The next recipient to probe from r on, or n. */
static size_t
next_probe(const struct smtpc_sess *s, size_t r)
{
	while (r < s->n && !needs_nego(s, r))
		r++;
	return r;
}

/* MAIL, RCPT ... CONNEG for each recipient concerned, RSET. */
static void
send_probe(struct smtpc_sess *s, int64_t now)
{
	const struct queue_envelope *env = s->env;

	s->tx_started = true;
	sess_enter(s, SMTPC_S_PROBE);
	send_line(s, "MAIL FROM:<%s>%s", env->reverse_path ?
	    env->reverse_path : "", env->conperm && s->ext.conperm ?
	    " CONPERM" : "");
	pq_push(s, P_PMAIL, 0, false);
	s->deadline = now + s->o.to.mail_ms;
	if (!s->ext.pipelining)
		return;
	for (size_t r = next_probe(s, 0); r < s->n; r = next_probe(s, r + 1))
		send_probe_rcpt(s, r);
	s->rcpt_next = s->n;
	send_line(s, "RSET");
	pq_push(s, P_RSET, 0, false);
	s->deadline = now + s->o.to.mail_ms + s->o.to.rcpt_ms;
}

/* Record what the hop answered to RCPT <r> CONNEG (lines in s->rl). */
static void
probe_answer(struct smtpc_sess *s, size_t r, const struct reply *rp)
{
	struct smtpc_answer *a = &s->ans[r];
	struct buf caps = BUF_INIT;
	const char *p = buf_cstr(&s->rl);

	a->code = rp->code;
	snprintf(a->status, sizeof(a->status), "%s", rp->status);
	snprintf(a->text, sizeof(a->text), "%.*s", (int)sizeof(a->text) - 1,
	    rp->text);
	free(a->caps);
	a->caps = NULL;
	if (rp->code / 100 == 4) {
		a->hop = CONNEG_HOP_CAPS_TEMPFAIL;
		return;
	}
	a->hop = CONNEG_HOP_CAPS_PERMFAIL;
	if (rp->code / 100 != 2)
		return;
	/* RFC 4141: "250-CONNEG <filter piece>" lines after the first; a
	 * long filter is split over several, joined as they come. */
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char st[16], line[REPLY_LINE_MAX + 1];
		size_t skip;

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		skip = parse_status(line, rp->code, st, sizeof(st));
		if (strncasecmp(line + skip, "CONNEG", 6) == 0 &&
		    (line[skip + 6] == ' ' || line[skip + 6] == '\0'))
			buf_append_str(&caps, line + skip + 6 +
			    (line[skip + 6] == ' '));
		p += n;
		if (*p == '\n')
			p++;
	}
	if (caps.len > 0 && caps.len <= CAPS_FILTER_MAX_LEN) {
		struct caps_filter *f = NULL;
		if (caps_filter_parse(buf_cstr(&caps), &f, NULL) == 0) {
			a->hop = CONNEG_HOP_CAPS_OK;
			a->caps = xstrdup(buf_cstr(&caps));
		}
		caps_filter_free(f);
	}
	buf_fini(&caps);
}

/* After EHLO/HELO: the first transaction, or the negotiation first. */
static void
begin_tx(struct smtpc_sess *s, int64_t now)
{
	if (s->n == 0) {
		s->end = SMTPC_END_DONE;
		send_quit(s, now);
		return;
	}
	s->nego = false;
	for (size_t r = 0; r < s->n && !s->lmtp; r++)
		s->nego = s->nego || needs_nego(s, r);
	if (!s->nego) {
		for (size_t r = 0; r < s->n; r++)
			s->intx[r] = true;
		start_tx(s, now);
		return;
	}
	if (s->ext.conneg) {
		send_probe(s, now);
		return;
	}
	for (size_t r = 0; r < s->n; r++)
		s->ans[r].hop = CONNEG_HOP_NO_CONNEG;
	negotiate(s, NULL, now);
}

/* Emit the next block of content (dot-stuffed for DATA). */
static void
emit_block(struct smtpc_sess *s, int64_t now)
{
	size_t end = s->body_off + BODY_BLOCK;

	if (end > s->wlen)
		end = s->wlen;
	if (s->use_bdat) {
		buf_append(&s->out, s->wire + s->body_off, end - s->body_off);
	} else {
		size_t start = s->body_off;
		for (size_t i = s->body_off; i < end; i++) {
			if (s->bol && s->wire[i] == '.') {
				buf_append(&s->out, s->wire + start,
				    i - start);
				buf_append_byte(&s->out, '.');
				start = i;
			}
			s->bol = s->wire[i] == '\n';
		}
		buf_append(&s->out, s->wire + start, end - start);
	}
	s->body_off = end;
	s->deadline = now + s->o.to.block_ms;
	if (s->body_off < s->wlen)
		return;
	/* All content is out: the terminator, then wait for the replies. */
	if (!s->use_bdat) {
		if (s->wlen > 0 && s->wire[s->wlen - 1] != '\n')
			buf_append_str(&s->out, "\r\n");
		buf_append_str(&s->out, ".\r\n");
	}
	enum pend_kind k = s->use_bdat ? P_BDAT : P_DOT;
	if (s->lmtp) {
		for (size_t r = 0; r < s->n; r++)
			if (s->accepted[r])
				pq_push(s, k, r, false);
	} else {
		pq_push(s, k, 0, false);
	}
	s->deadline = now + s->o.to.dot_ms;
	sess_enter(s, SMTPC_S_DOT);
}

static void
start_body(struct smtpc_sess *s, int64_t now)
{
	s->body_off = 0;
	s->bol = true;
	if (s->use_bdat)
		send_line(s, "BDAT %zu LAST", s->wlen);
	sess_enter(s, SMTPC_S_BODY);
	emit_block(s, now);
}

/* After the last RCPT reply (no pipelining, or BDAT): go on or give up. */
static void
after_rcpts(struct smtpc_sess *s, int64_t now)
{
	if (s->naccepted == 0) {
		next_tx(s, now);
		return;
	}
	if (s->use_bdat) {
		start_body(s, now);
	} else if (!s->ext.pipelining) {
		send_line(s, "DATA");
		pq_push(s, P_DATA, 0, false);
		s->deadline = now + s->o.to.data_ms;
	}
}

static void
on_reply(struct smtpc_sess *s, const struct reply *rp, int64_t now)
{
	struct pend p;
	bool ok = rp->code / 100 == 2;

	if (!pq_pop(s, &p)) {
		/* A reply nobody asked for: the peer is confused. */
		GW_LOGW(SUB, "peer=%s event=unexpected_reply code=%d", s->peer,
		    rp->code);
		if (!s->tx_started)
			host_error(s, 0, "4.5.0", "unexpected reply %d %s",
			    rp->code, rp->text);
		finish(s);
		return;
	}
	if (p.ignore) {
		if (p.kind == P_QUIT)
			finish(s);
		return;
	}
	switch (p.kind) {
	case P_GREETING:
		if (!ok) {
			host_error_reply(s, rp);
			send_quit(s, now);
			return;
		}
		send_line(s, "%s %s", s->lmtp ? "LHLO" : "EHLO", s->helo);
		pq_push(s, P_EHLO, 0, false);
		s->deadline = now + s->o.to.ehlo_ms;
		sess_enter(s, SMTPC_S_EHLO);
		return;
	case P_EHLO:
		if (ok) {
			parse_ext(s);
			begin_tx(s, now);
		} else if (!s->lmtp && rp->code / 100 == 5) {
			send_line(s, "HELO %s", s->helo);
			pq_push(s, P_HELO, 0, false);
			s->deadline = now + s->o.to.ehlo_ms;
			sess_enter(s, SMTPC_S_HELO);
		} else {
			host_error_reply(s, rp);
			send_quit(s, now);
		}
		return;
	case P_HELO:
		if (ok) {
			memset(&s->ext, 0, sizeof(s->ext));
			begin_tx(s, now);
		} else {
			host_error_reply(s, rp);
			send_quit(s, now);
		}
		return;
	case P_MAIL:
		if (!ok) {
			s->mail_failed = true;
			s->tx_open = false;
			decide_all_reply(s, rp, false);
			if (!s->ext.pipelining)
				next_tx(s, now);
			/* else: the RCPT/DATA replies still come; ignored */
			return;
		}
		if (!s->ext.pipelining) {
			size_t r = next_intx(s, 0);
			send_rcpt(s, r);
			s->rcpt_next = next_intx(s, r + 1);
			s->deadline = now + s->o.to.rcpt_ms;
		}
		return;
	case P_RCPT:
		if (!s->mail_failed) {
			if (ok) {
				s->accepted[p.r] = true;
				s->naccepted++;
			} else {
				decide_reply(s, p.r, rp, false);
			}
		}
		if (!s->ext.pipelining && s->rcpt_next < s->n) {
			send_rcpt(s, s->rcpt_next);
			s->rcpt_next = next_intx(s, s->rcpt_next + 1);
			s->deadline = now + s->o.to.rcpt_ms;
			return;
		}
		if (p.r == s->last_intx) { /* the last RCPT reply */
			if (s->ext.pipelining && !s->use_bdat) {
				/* DATA is on its way; its reply decides. */
				s->deadline = now + s->o.to.data_ms;
				return;
			}
			if (s->mail_failed) {
				next_tx(s, now);
				return;
			}
			after_rcpts(s, now);
		}
		return;
	case P_DATA:
		if (rp->code == 354) {
			if (s->mail_failed || s->naccepted == 0) {
				/* RFC 2920: nothing to send, end it. */
				buf_append_str(&s->out, ".\r\n");
				pq_push(s, P_DOT, 0, true);
				s->tx_open = false;
				next_tx(s, now);
				return;
			}
			start_body(s, now);
			return;
		}
		if (!s->mail_failed && rp->code / 100 < 4) {
			/* 2xx/3xx other than 354 to DATA: nothing was sent,
			 * so it cannot count as taken. */
			for (size_t r = 0; r < s->n; r++)
				if (s->accepted[r])
					decide_local(s, r, DELIVER_DEFERRED,
					    "4.5.0", "unexpected reply to DATA");
		} else if (!s->mail_failed) {
			decide_all_reply(s, rp, true);
		}
		next_tx(s, now);
		return;
	case P_BDAT:
	case P_DOT:
		if (s->lmtp)
			decide_reply(s, p.r, rp, true);
		else
			decide_all_reply(s, rp, true);
		if (s->pq_len == 0) {
			s->tx_open = false;
			next_tx(s, now);
		}
		return;
	case P_QUIT:
		finish(s);
		return;
	case P_PMAIL:
		if (!ok) {
			/* the real MAIL would fare no better */
			s->mail_failed = true;
			s->tx_open = false;
			for (size_t r = 0; r < s->n; r++)
				decide_reply(s, r, rp, false);
			if (!s->ext.pipelining)
				send_quit(s, now);
			/* else: the RCPT/RSET replies still come */
			return;
		}
		if (!s->ext.pipelining) {
			size_t r = next_probe(s, 0);
			send_probe_rcpt(s, r);
			s->rcpt_next = next_probe(s, r + 1);
			s->deadline = now + s->o.to.rcpt_ms;
		}
		return;
	case P_PRCPT:
		if (!s->mail_failed)
			probe_answer(s, p.r, rp);
		if (!s->ext.pipelining) {
			if (s->rcpt_next < s->n) {
				send_probe_rcpt(s, s->rcpt_next);
				s->rcpt_next = next_probe(s, s->rcpt_next + 1);
				s->deadline = now + s->o.to.rcpt_ms;
				return;
			}
			send_line(s, "RSET");
			pq_push(s, P_RSET, 0, false);
			s->deadline = now + s->o.to.mail_ms;
		}
		return;
	case P_RSET:
		/* its code changes nothing: a MAIL that follows finds out */
		if (s->state == SMTPC_S_PROBE && s->mail_failed) {
			send_quit(s, now);
			return;
		}
		s->tx_open = false;
		probe_done(s, now);
		return;
	}
}

/* Parse "d.d.d " at the start of text for a reply of code. */
static size_t
parse_status(const char *t, int code, char *out, size_t cap)
{
	size_t i = 0, parts = 0, digits = 0;

	if (t[0] != (char)('0' + code / 100) || t[1] != '.')
		return 0;
	for (i = 0; t[i]; i++) {
		if (isdigit((unsigned char)t[i])) {
			if (++digits > 3)
				return 0;
		} else if (t[i] == '.' && digits > 0 && parts < 2) {
			parts++;
			digits = 0;
		} else {
			break;
		}
	}
	if (parts != 2 || digits == 0 || (t[i] != ' ' && t[i] != '\0') ||
	    i >= cap)
		return 0;
	memcpy(out, t, i);
	out[i] = '\0';
	return t[i] == ' ' ? i + 1 : i;
}

static void
protocol_error(struct smtpc_sess *s, const char *why)
{
	GW_LOGW(SUB, "peer=%s event=protocol_error state=%s why=\"%s\"",
	    s->peer, smtpc_state_name(s->state), gw_logq(why));
	if (!s->tx_started && s->end == SMTPC_END_NONE)
		host_error(s, 0, "4.5.0", "protocol error: %s", why);
	finish(s);
}

/* One reply line (without CRLF). */
static void
on_line(struct smtpc_sess *s, const char *l, size_t n, int64_t now)
{
	if (n < 3 || !isdigit((unsigned char)l[0]) ||
	    !isdigit((unsigned char)l[1]) || !isdigit((unsigned char)l[2]) ||
	    (n > 3 && l[3] != ' ' && l[3] != '-') || l[0] < '2' ||
	    l[0] > '5') {
		protocol_error(s, "malformed reply line");
		return;
	}
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	bool more = n > 3 && l[3] == '-';
	const char *text = n > 4 ? l + 4 : "";
	char tl[REPLY_LINE_MAX + 1];

	snprintf(tl, sizeof(tl), "%.*s", (int)(n > 4 ? n - 4 : 0), text);
	if (s->rlines == 0) {
		s->rcode = code;
		memset(&s->cur, 0, sizeof(s->cur));
		s->cur.code = code;
		size_t skip = parse_status(tl, code, s->cur.status,
		    sizeof(s->cur.status));
		/* Reply text is kept to the outcome's size (DSN diagnostics
		 * need no more). */
		snprintf(s->cur.text, sizeof(s->cur.text), "%.*s",
		    (int)sizeof(s->cur.text) - 1, tl + skip);
		buf_reset(&s->rl);
	} else if (code != s->rcode) {
		protocol_error(s, "reply code changed within a reply");
		return;
	}
	buf_append_str(&s->rl, tl);
	buf_append_byte(&s->rl, '\n');
	if (++s->rlines > REPLY_LINES_MAX) {
		protocol_error(s, "reply has too many lines");
		return;
	}
	if (more)
		return;
	s->rlines = 0;
	GW_LOGD(SUB, "peer=%s event=reply code=%d status=%s text=\"%s\"",
	    s->peer, s->cur.code, s->cur.status, gw_logq(s->cur.text));
	struct reply rp = s->cur;
	on_reply(s, &rp, now);
}

void
smtpc_sess_connected(struct smtpc_sess *s, int64_t now)
{
	if (s->state != SMTPC_S_CONNECT)
		return;
	pq_push(s, P_GREETING, 0, false);
	s->deadline = now + s->o.to.greeting_ms;
	sess_enter(s, SMTPC_S_GREETING);
	sess_check(s);
}

void
smtpc_sess_connect_failed(struct smtpc_sess *s, int err, int64_t now)
{
	(void)now;
	if (s->state != SMTPC_S_CONNECT)
		return;
	host_error(s, 0, "4.4.1", "cannot connect: %s", gw_strerror(err));
	finish(s);
	sess_check(s);
}

void
smtpc_sess_lookup_failed(struct smtpc_sess *s, int err, int64_t now)
{
	(void)now;
	if (s->state != SMTPC_S_CONNECT)
		return;
	/* libuv's lookup errors (UV_EAI_*) are not errno values */
	host_error(s, 0, "4.4.3", "no usable address for %s: %s", s->peer,
	    err <= -3000 && err > -3100 ? uv_strerror(err) :
	    gw_strerror(err));
	finish(s);
	sess_check(s);
}

void
smtpc_sess_input(struct smtpc_sess *s, const uint8_t *p, size_t n,
    int64_t now)
{
	if (s->state == SMTPC_S_DONE || s->state == SMTPC_S_CONNECT)
		return;
	buf_append(&s->in, p, n);
	while (s->state != SMTPC_S_DONE) {
		const uint8_t *nl = memchr(s->in.data, '\n', s->in.len);
		if (nl == NULL) {
			if (s->in.len > REPLY_LINE_MAX)
				protocol_error(s, "reply line too long");
			break;
		}
		size_t ll = (size_t)(nl - s->in.data);
		size_t take = ll + 1;
		if (ll > 0 && s->in.data[ll - 1] == '\r')
			ll--;
		if (ll > REPLY_LINE_MAX) {
			protocol_error(s, "reply line too long");
			break;
		}
		char line[REPLY_LINE_MAX + 1];
		memcpy(line, s->in.data, ll);
		line[ll] = '\0';
		buf_consume(&s->in, take);
		on_line(s, line, ll, now);
	}
	sess_check(s);
}

void
smtpc_sess_drained(struct smtpc_sess *s, int64_t now)
{
	if (s->state == SMTPC_S_BODY && s->out.len == 0)
		emit_block(s, now);
	sess_check(s);
}

void
smtpc_sess_eof(struct smtpc_sess *s, int64_t now)
{
	(void)now;
	if (s->state == SMTPC_S_DONE)
		return;
	if (s->state != SMTPC_S_QUIT) {
		GW_LOGI(SUB, "peer=%s event=connection_lost state=%s", s->peer,
		    smtpc_state_name(s->state));
		if (!s->tx_started && s->end == SMTPC_END_NONE)
			host_error(s, 0, "4.4.2", "connection lost in %s",
			    smtpc_state_name(s->state));
		for (size_t r = 0; r < s->n && s->tx_started; r++)
			decide_local(s, r, DELIVER_DEFERRED, "4.4.2",
			    "connection lost before the final reply");
	}
	finish(s);
	sess_check(s);
}

void
smtpc_sess_timeout(struct smtpc_sess *s, int64_t now)
{
	if (s->state == SMTPC_S_DONE || now < s->deadline)
		return;
	GW_LOGI(SUB, "peer=%s event=timeout state=%s", s->peer,
	    smtpc_state_name(s->state));
	if (s->state == SMTPC_S_CONNECT) {
		host_error(s, 0, "4.4.1", "connect timed out");
	} else if (s->state != SMTPC_S_QUIT) {
		if (!s->tx_started && s->end == SMTPC_END_NONE)
			host_error(s, 0, "4.4.2", "timed out in %s",
			    smtpc_state_name(s->state));
		for (size_t r = 0; r < s->n && s->tx_started; r++)
			decide_local(s, r, DELIVER_DEFERRED, "4.4.2",
			    "timed out waiting for the next hop");
	}
	finish(s);
	sess_check(s);
}

const struct smtpc_answer *
smtpc_sess_answer(const struct smtpc_sess *s, size_t r)
{
	GW_REQUIRE(r < s->n);
	return &s->ans[r];
}

const char *
smtpc_sess_conv_caps(const struct smtpc_sess *s, struct conv_policy *pol)
{
	if (s->state != SMTPC_S_NEGOTIATE)
		return NULL;
	memset(pol, 0, sizeof(*pol));
	pol->conperm = s->env->conperm;
	pol->drucof = (rcpt_of(s, s->lead)->flags & QUEUE_RCPT_DRUCOF) != 0;
	pol->by_domain = s->helo;
	pol->now_s = clk_wall_s(s->clock);
	return s->ans[s->lead].caps;
}

void
smtpc_sess_converted(struct smtpc_sess *s, const struct conv_report *rep,
    struct buf *out, int64_t now)
{
	if (s->state != SMTPC_S_NEGOTIATE)
		return;
	buf_reset(&s->conv);
	if (rep != NULL && rep->result == CONV_CONVERTED && out != NULL)
		buf_swap(&s->conv, out);
	else if (rep != NULL && rep->result == CONV_CONVERTED) {
		/* converted bytes missing: treat it as a failed conversion */
		rep = NULL;
	}
	negotiate(s, rep, now);
	sess_check(s);
}

/* ---- the libuv glue ---- */

struct hopq {
	char key[260];
	int active;
	struct smtpc_job *wait_head, *wait_tail;
	struct hopq *next;
};

struct smtpc_job {
	struct smtpc_client *c;
	struct route_target t;
	struct smtpc_msg m;
	struct smtpc_opts o;
	smtpc_done_cb cb;
	void *arg;
	struct hopq *hq;
	size_t hop;                 /* current index into t.hops */
	struct smtpc_sess *sess;
	struct deliver_outcome last_err;
	bool have_err;
	bool aborted;

	uv_getaddrinfo_t gai;
	uv_connect_t conn;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	struct buf wbuf;            /* bytes in flight */
	bool writing;
	bool gai_busy, conn_busy, tcp_open, timer_open;
	bool conv_busy;             /* a trial conversion is running */
	int closing;                /* handles still to close */
	uint8_t rbuf[16384];
	char peer[280];

	struct smtpc_job *next;     /* client list / wait list */
};

struct smtpc_client {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct smtpc_opts o;
	char helo[256];
	struct hopq *hops;
	struct smtpc_job *jobs;     /* running */
	size_t nactive, nwaiting;
	bool closing;
	int busy;                   /* inside a user callback */
	void (*close_cb)(void *);
	void *close_arg;
};

static void job_attempt(struct smtpc_job *j);
static void job_step(struct smtpc_job *j);
static void client_maybe_free(struct smtpc_client *c);

struct smtpc_client *
smtpc_client_new(uv_loop_t *loop, const struct gw_clock *clock,
    const struct smtpc_opts *opts)
{
	struct smtpc_client *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->clock = clock;
	c->o = *opts;
	snprintf(c->helo, sizeof(c->helo), "%s",
	    opts->helo_name ? opts->helo_name : "localhost");
	c->o.helo_name = c->helo;
	if (c->o.max_conns_per_target <= 0)
		c->o.max_conns_per_target = 4;
	return c;
}

size_t
smtpc_client_active(const struct smtpc_client *c)
{
	return c->nactive;
}

size_t
smtpc_client_waiting(const struct smtpc_client *c)
{
	return c->nwaiting;
}

static struct hopq *
hopq_get(struct smtpc_client *c, const char *key)
{
	for (struct hopq *h = c->hops; h; h = h->next)
		if (strcmp(h->key, key) == 0)
			return h;
	struct hopq *h = xcalloc(1, sizeof(*h));
	snprintf(h->key, sizeof(h->key), "%s", key);
	h->next = c->hops;
	c->hops = h;
	return h;
}

static void
job_link(struct smtpc_job *j)
{
	j->next = j->c->jobs;
	j->c->jobs = j;
	j->c->nactive++;
	j->hq->active++;
}

static void
job_unlink(struct smtpc_job *j)
{
	for (struct smtpc_job **pp = &j->c->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	j->c->nactive--;
	j->hq->active--;
}

/* The whole job is over: report, free, let a waiting job start. */
static void
job_finish(struct smtpc_job *j, const struct deliver_outcome *outs, size_t n)
{
	struct smtpc_client *c = j->c;
	struct hopq *hq = j->hq;

	job_unlink(j);
	c->busy++;
	j->cb(j->arg, outs, n);
	c->busy--;
	buf_fini(&j->wbuf);
	free(j);
	if (hq->wait_head && hq->active < c->o.max_conns_per_target &&
	    !c->closing) {
		struct smtpc_job *w = hq->wait_head;
		hq->wait_head = w->next;
		if (hq->wait_head == NULL)
			hq->wait_tail = NULL;
		c->nwaiting--;
		job_link(w);
		job_attempt(w);
	}
	client_maybe_free(c);
}

static void
job_fail_all(struct smtpc_job *j, const struct deliver_outcome *why)
{
	size_t n = j->m.rcpts ? j->m.nrcpts : j->m.env->nrcpts;
	struct deliver_outcome *outs = xcalloc(n ? n : 1, sizeof(*outs));

	for (size_t r = 0; r < n; r++) {
		outs[r] = *why;
		outs[r].rcpt = j->m.rcpts ? j->m.rcpts[r] : r;
		outs[r].dsn_relayed = false;
	}
	job_finish(j, outs, n);
	free(outs);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct smtpc_job *j = h->data;

	if (--j->closing > 0)
		return;
	/* Session over and handles gone: next host, or the end. */
	struct smtpc_sess *s = j->sess;
	j->sess = NULL;
	enum smtpc_end end = s ? smtpc_sess_end(s) : SMTPC_END_NEXT_HOST;
	if (s && end == SMTPC_END_NEXT_HOST) {
		j->last_err = *smtpc_sess_host_error(s);
		j->have_err = true;
	}
	if (s && end == SMTPC_END_DONE) {
		size_t n;
		const struct deliver_outcome *o = smtpc_sess_outcomes(s, &n);
		struct deliver_outcome *copy = xmemdup(o, n ? n * sizeof(*o) :
		    1);
		smtpc_sess_free(s);
		job_finish(j, copy, n);
		free(copy);
		return;
	}
	smtpc_sess_free(s);
	j->hop++;
	if (j->hop < j->t.nhops && !j->aborted) {
		job_attempt(j);
		return;
	}
	if (j->aborted) {
		struct deliver_outcome why;
		deliver_outcome_set(&why, DELIVER_DEFERRED, "4.3.2",
		    "delivery stopped: gateway shutting down");
		job_fail_all(j, &why);
		return;
	}
	job_fail_all(j, &j->last_err);
}

static void
job_close(struct smtpc_job *j)
{
	/* A running conversion holds j: its callback closes. */
	if (j->closing > 0 || j->conv_busy)
		return;
	j->closing = 0;
	if (j->tcp_open) {
		j->closing++;
		j->tcp_open = false;
		uv_close((uv_handle_t *)&j->tcp, on_handle_closed);
	}
	if (j->timer_open) {
		j->closing++;
		j->timer_open = false;
		uv_close((uv_handle_t *)&j->timer, on_handle_closed);
	}
	GW_REQUIRE(j->closing > 0);
}

static void
on_timer(uv_timer_t *t)
{
	struct smtpc_job *j = t->data;

	if (j->closing || j->sess == NULL)
		return;
	smtpc_sess_timeout(j->sess, clk_mono_ms(j->c->clock));
	job_step(j);
}

static void on_write(uv_write_t *w, int status);

static void
on_converted(const struct convert_result *res, void *arg)
{
	struct smtpc_job *j = arg;
	int64_t now = clk_mono_ms(j->c->clock);

	j->conv_busy = false;
	if (j->sess == NULL)
		return;
	if (smtpc_sess_state(j->sess) == SMTPC_S_NEGOTIATE) {
		if (res->rc != 0)
			GW_LOGW(SUB, "target=%s event=convert_error error=%s",
			    j->t.spec, gw_errname(res->rc));
		smtpc_sess_converted(j->sess, res->rc == 0 ? &res->rep : NULL,
		    res->out, now);
	}
	job_step(j);
}

/* The session waits for a trial conversion: run it on the pool. */
static void
job_convert(struct smtpc_job *j)
{
	struct conv_policy pol;
	const char *caps = smtpc_sess_conv_caps(j->sess, &pol);
	struct buf in = BUF_INIT;
	int rc;

	buf_append(&in, j->m.content, j->m.len);
	rc = convert_start(j->c->loop, &in, &pol, caps, on_converted, j);
	buf_fini(&in);
	if (rc == 0) {
		j->conv_busy = true;
		return;
	}
	GW_LOGW(SUB, "target=%s event=convert_error error=%s", j->t.spec,
	    gw_errname(rc));
	smtpc_sess_converted(j->sess, NULL, NULL, clk_mono_ms(j->c->clock));
}

/* After every event: write what the session produced, arm the timer, or
 * close when the session is over. */
static void
job_step(struct smtpc_job *j)
{
	struct smtpc_sess *s = j->sess;
	struct buf *out = smtpc_sess_output(s);

	if (j->closing)
		return;
	while (smtpc_sess_state(s) == SMTPC_S_NEGOTIATE && !j->conv_busy)
		job_convert(j);
	if (out->len > 0 && !j->writing && j->tcp_open) {
		uv_buf_t b;
		buf_swap(&j->wbuf, out);
		buf_reset(out);
		b = uv_buf_init((char *)j->wbuf.data, (unsigned)j->wbuf.len);
		int rc = uv_write(&j->wr, (uv_stream_t *)&j->tcp, &b, 1,
		    on_write);
		if (rc != 0) {
			smtpc_sess_eof(s, clk_mono_ms(j->c->clock));
		} else {
			j->writing = true;
		}
	}
	if (smtpc_sess_state(s) == SMTPC_S_DONE) {
		/* A lookup cannot be interrupted by closing a handle: ask for
		 * it to be cancelled; on_resolved comes back here. A pending
		 * connect is cancelled by closing the TCP handle. A write in
		 * flight (the QUIT) is allowed to finish. */
		if (j->gai_busy)
			uv_cancel((uv_req_t *)&j->gai);
		else if (!j->writing || j->conn_busy)
			job_close(j);
		return;
	}
	int64_t dl = smtpc_sess_deadline(s);
	if (dl >= 0) {
		int64_t now = clk_mono_ms(j->c->clock);
		uv_timer_start(&j->timer, on_timer,
		    (uint64_t)(dl > now ? dl - now : 0), 0);
	}
}

static void
on_write(uv_write_t *w, int status)
{
	struct smtpc_job *j = w->data;

	j->writing = false;
	buf_reset(&j->wbuf);
	if (j->sess == NULL)
		return;
	if (status < 0 && smtpc_sess_state(j->sess) != SMTPC_S_DONE)
		smtpc_sess_eof(j->sess, clk_mono_ms(j->c->clock));
	else
		smtpc_sess_drained(j->sess, clk_mono_ms(j->c->clock));
	job_step(j);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct smtpc_job *j = h->data;
	(void)hint;
	*b = uv_buf_init((char *)j->rbuf, sizeof(j->rbuf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	struct smtpc_job *j = st->data;
	int64_t now = clk_mono_ms(j->c->clock);

	if (j->closing || j->sess == NULL)
		return;
	if (nread < 0) {
		uv_read_stop(st);
		smtpc_sess_eof(j->sess, now);
	} else if (nread > 0) {
		smtpc_sess_input(j->sess, (const uint8_t *)b->base,
		    (size_t)nread, now);
	}
	job_step(j);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct smtpc_job *j = req->data;
	int64_t now = clk_mono_ms(j->c->clock);

	j->conn_busy = false;
	if (j->sess == NULL)
		return;
	if (smtpc_sess_state(j->sess) == SMTPC_S_DONE) {
		job_step(j); /* timed out or aborted meanwhile */
		return;
	}
	if (status != 0) {
		smtpc_sess_connect_failed(j->sess, status, now);
	} else {
		smtpc_sess_connected(j->sess, now);
		uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read);
	}
	job_step(j);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct smtpc_job *j = req->data;
	int64_t now = clk_mono_ms(j->c->clock);
	const struct route_hop *hop = &j->t.hops[j->hop];

	j->gai_busy = false;
	if (j->sess == NULL || smtpc_sess_state(j->sess) == SMTPC_S_DONE ||
	    j->aborted) {
		uv_freeaddrinfo(res);
		if (j->sess && smtpc_sess_state(j->sess) != SMTPC_S_DONE)
			smtpc_sess_connect_failed(j->sess, GW_ECANCELED, now);
		if (j->sess)
			job_step(j);
		return;
	}
	if (status != 0 || res == NULL) {
		uv_freeaddrinfo(res);
		smtpc_sess_lookup_failed(j->sess, status ? status :
		    GW_ENOENT, now);
		job_step(j);
		return;
	}
	char ip[64] = "";
	if (res->ai_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, ip,
		    sizeof(ip));
	else
		uv_ip4_name((const struct sockaddr_in *)res->ai_addr, ip,
		    sizeof(ip));
	snprintf(j->peer, sizeof(j->peer), "%.200s [%.46s]:%u", hop->host,
	    ip, (unsigned)hop->port);
	/* The session was created with the configured name; now we know the
	 * address, so start a fresh one that names it. */
	smtpc_sess_free(j->sess);
	j->sess = smtpc_sess_new(&j->o, &j->m, j->c->clock, j->peer);
	int rc = uv_tcp_connect(&j->conn, &j->tcp, res->ai_addr, on_connect);
	uv_freeaddrinfo(res);
	if (rc != 0) {
		smtpc_sess_connect_failed(j->sess, rc, now);
	} else {
		j->conn_busy = true;
	}
	job_step(j);
}

/* Start a session with host j->hop. */
static void
job_attempt(struct smtpc_job *j)
{
	struct smtpc_client *c = j->c;
	const struct route_hop *hop = &j->t.hops[j->hop];
	char port[8];
	struct addrinfo hints;

	snprintf(j->peer, sizeof(j->peer), "%s:%u", hop->host,
	    (unsigned)hop->port);
	j->sess = smtpc_sess_new(&j->o, &j->m, c->clock, j->peer);
	uv_tcp_init(c->loop, &j->tcp);
	uv_timer_init(c->loop, &j->timer);
	j->tcp.data = j;
	j->timer.data = j;
	j->conn.data = j;
	j->gai.data = j;
	j->wr.data = j;
	j->tcp_open = j->timer_open = true;
	j->writing = false;
	j->closing = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	snprintf(port, sizeof(port), "%u", (unsigned)hop->port);
	GW_LOGD(SUB, "target=%s event=attempt host=%s", j->t.spec, j->peer);
	int rc = uv_getaddrinfo(c->loop, &j->gai, on_resolved, hop->host, port,
	    &hints);
	if (rc != 0) {
		smtpc_sess_connect_failed(j->sess, rc,
		    clk_mono_ms(c->clock));
	} else {
		j->gai_busy = true;
	}
	job_step(j);
}

int
smtpc_client_send(struct smtpc_client *c, const struct route_target *target,
    const struct smtpc_msg *m, smtpc_done_cb cb, void *arg)
{
	if (c->closing)
		return GW_ECLOSED;
	if ((target->kind != ROUTE_SMTP && target->kind != ROUTE_LMTP) ||
	    target->nhops == 0 || m->env == NULL)
		return GW_EINVAL;
	struct smtpc_job *j = xcalloc(1, sizeof(*j));
	j->c = c;
	j->t = *target;
	j->m = *m;
	j->o = c->o;
	j->o.lmtp = target->kind == ROUTE_LMTP;
	j->cb = cb;
	j->arg = arg;
	buf_init(&j->wbuf);
	j->hq = hopq_get(c, target->spec);
	if (j->hq->active >= c->o.max_conns_per_target) {
		if (j->hq->wait_tail)
			j->hq->wait_tail->next = j;
		else
			j->hq->wait_head = j;
		j->hq->wait_tail = j;
		c->nwaiting++;
		return 0;
	}
	job_link(j);
	job_attempt(j);
	return 0;
}

static void
client_maybe_free(struct smtpc_client *c)
{
	if (!c->closing || c->jobs != NULL || c->nwaiting > 0 || c->busy)
		return;
	void (*cb)(void *) = c->close_cb;
	void *arg = c->close_arg;
	while (c->hops) {
		struct hopq *h = c->hops;
		c->hops = h->next;
		free(h);
	}
	free(c);
	if (cb)
		cb(arg);
}

void
smtpc_client_close(struct smtpc_client *c, void (*cb)(void *), void *arg)
{
	struct deliver_outcome why;

	c->closing = true;
	c->close_cb = cb;
	c->close_arg = arg;
	deliver_outcome_set(&why, DELIVER_DEFERRED, "4.3.2",
	    "delivery stopped: gateway shutting down");
	/* Waiting jobs never started: report them now. */
	for (struct hopq *h = c->hops; h; h = h->next) {
		while (h->wait_head) {
			struct smtpc_job *w = h->wait_head;
			h->wait_head = w->next;
			c->nwaiting--;
			size_t n = w->m.rcpts ? w->m.nrcpts : w->m.env->nrcpts;
			struct deliver_outcome *outs =
			    xcalloc(n ? n : 1, sizeof(*outs));
			for (size_t r = 0; r < n; r++) {
				outs[r] = why;
				outs[r].rcpt = w->m.rcpts ? w->m.rcpts[r] : r;
			}
			c->busy++;
			w->cb(w->arg, outs, n);
			c->busy--;
			free(outs);
			buf_fini(&w->wbuf);
			free(w);
		}
		h->wait_tail = NULL;
	}
	/* Running jobs: end their sessions; the close callbacks report. */
	for (struct smtpc_job *j = c->jobs; j; j = j->next) {
		j->aborted = true;
		if (j->sess && smtpc_sess_state(j->sess) != SMTPC_S_DONE) {
			smtpc_sess_timeout(j->sess, INT64_MAX);
		}
		if (j->gai_busy)
			uv_cancel((uv_req_t *)&j->gai);
		if (!j->closing && !j->writing && !j->conn_busy &&
		    !j->gai_busy)
			job_close(j);
		else if (j->tcp_open && !j->closing && !j->gai_busy) {
			/* a write or connect is pending: closing the handle
			 * cancels it and its callback runs first */
			job_close(j);
		}
	}
	client_maybe_free(c);
}
