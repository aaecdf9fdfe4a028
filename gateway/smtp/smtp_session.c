/*
 * smtp_session.c - the SMTP server session state machine (sans-I/O; see
 * smtp_session.h for the events and actions).
 *
 * Owner: smtp_server.c (one per connection) or a test. Thread: the loop.
 *
 * States and transitions (function performing each in brackets):
 *
 *   GREETING --greet--> READY --EHLO/HELO--> HELO --MAIL--> MAIL --RCPT ok-->
 *   RCPT --DATA (354)--> DATA --final dot--> COMMIT_WAIT --queue cb--> HELO
 *                                   \--latched error at dot--------> HELO
 *   MAIL|RCPT --BDAT n--> BDAT --chunk read, not LAST--> MAIL|RCPT
 *                              --chunk read, LAST--> COMMIT_WAIT
 *   READY|HELO --BDAT n (sequence error)--> BDAT (discarding n octets)
 *                              --chunk read--> previous state
 *   any command state --RSET/EHLO--> READY|HELO   [tx_reset]
 *   any command state --QUIT--> QUIT; anything --timeout/error limit/
 *   shutdown/refuse/eof--> CLOSING                [session_close]
 *   COMMIT_WAIT --shutdown--> (reply to the commit, then) CLOSING
 *
 * Invariants (smtp_session_check_state):
 *   READY:       no helo name, no transaction.
 *   HELO:        helo name set, no transaction.
 *   MAIL:        transaction open, no recipient accepted.
 *   RCPT:        transaction open, >= 1 recipient accepted.
 *   DATA:        transaction with >= 1 recipient, not chunking.
 *   BDAT:        chunk_left octets still to read (0 only transiently).
 *   COMMIT_WAIT: a submission ticket is outstanding; no input is consumed.
 *   QUIT/CLOSING: closing is set; input is ignored.
 *
 * Pipelining (RFC 2920): _feed consumes every complete command and data
 * block; replies accumulate in `out` and the owner writes them when _feed
 * returns (the input buffer is then drained, or we are waiting on the
 * queue), so groups are answered in one write, in order. Input that arrives
 * behind a final dot waits in `in` until the queue answers; nothing is ever
 * discarded except octets we are told to discard (BDAT after an error) and
 * the remainder of an over-long line, which is answered 500 5.5.2.
 *
 * Errors are data (STYLE 14): a problem found while reading message data is
 * latched in tx->err and answered at the final dot or at the end of the
 * chunk. Enhanced status codes are sent on every 2xx/4xx/5xx reply except
 * the greeting and the EHLO/HELO reply [OURS: also before EHLO, so replies
 * look the same to every client].
 *
 * Replies where the RFCs leave the choice to us [OURS]:
 *   data line over 1000 octets (after unstuffing)  554 5.6.0 at the dot
 *   BY=t;R with t below the advertised minimum      555 5.5.4
 *   MT-PRIORITY below the configured floor          550 5.7.15
 *   priority raised past the client's ceiling       250 2.3.6 "<n> ..."
 *   too many Received headers (loop)                554 5.4.6
 *   untrusted client, domain not ours               550 5.7.1
 *   error limit reached                             421 4.7.0 and close
 *   CONNEG capability lines carry no enhanced code (RFC 4141's form
 *   "250-CONNEG <filter>" is kept so its clients can parse them).
 */
#include "gateway/smtp/smtp_session.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/smtp/received.h"
#include "gateway/smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMTP_OUT_HIGH (256u * 1024u)
/* Longest command line we keep buffering while waiting for its end:
 * 512 + every allowance of smtp_parse.c. */
#define SMTP_CMD_BUFFER_MAX 2048u

static const char *const state_names[] = {
#define SMTP__STATE_NAME(name, str) str,
	SMTP_STATE_MAP(SMTP__STATE_NAME)
#undef SMTP__STATE_NAME
};

const char *
smtp_state_name(enum smtp_state s)
{
	if ((unsigned)s >= SMTP_S__COUNT)
		return "?";
	return state_names[s];
}

/* The mail transaction: alive from MAIL to commit, RSET or error. */
struct smtp_tx {
	struct smtp_mail_args mail;
	int priority;              /* determined value */
	bool priority_changed;     /* reply X.3.6 at MAIL */
	bool priority_changed_dot; /* reply X.3.6 at the final dot */
	int64_t by_deadline;
	int64_t aby_deadline;
	struct queue_rcpt *rcpts;
	size_t nrcpts, cap;
	size_t rcpt_attempts;
	bool chunking;             /* BDAT used */
	struct buf content;
	int64_t size;              /* octets received, incl. ones not kept */
	/* error latch: first problem found in the data */
	int err_code;
	const char *err_enh;
	char err_text[96];
};

struct submit_ticket {
	struct smtp_session *s;    /* NULL once the session is gone */
};

struct smtp_session {
	const struct smtp_session_cfg *cfg;
	const struct smtp_session_io *io;
	void *io_arg;
	char id[24];
	struct sockaddr_storage peer;
	char peer_ip[INET6_ADDRSTRLEN + 8];
	bool trusted;
	int prio_ceiling;

	enum smtp_state state;
	char helo[SMTP_DOMAIN_MAX + 1];
	bool esmtp;
	struct smtp_tx *tx;
	int errors;
	uint64_t messages;

	struct buf in;
	size_t in_off;             /* consumed prefix of in */
	bool skip_line;            /* discarding an over-long command line */
	bool data_skip_line;       /* discarding an over-long data line */
	bool data_prev_crlf;       /* the last data line ended with CRLF */
	struct buf out;

	/* BDAT */
	uint64_t chunk_left;
	bool chunk_last;
	bool chunk_discard;        /* the chunk is read and dropped */
	enum smtp_state chunk_return; /* state after a discarded chunk */
	int chunk_code;            /* reply decided when BDAT was read */
	const char *chunk_enh;
	const char *chunk_text;

	struct submit_ticket *ticket;
	bool shutdown_pending;
	bool closing;
	const char *close_reason;
	bool in_feed;
};

static void process(struct smtp_session *s);

/* ---- output -------------------------------------------------------------- */

static void
reply_line(struct smtp_session *s, int code, bool last, const char *enh,
    const char *text)
{
	buf_appendf(&s->out, "%03d%c", code, last ? ' ' : '-');
	if (enh != NULL)
		buf_appendf(&s->out, "%s ", enh);
	buf_appendf(&s->out, "%s\r\n", text);
}

static void reply(struct smtp_session *s, int code, const char *enh,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
session_close(struct smtp_session *s, const char *reason)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_reason = reason;
	s->state = SMTP_S_CLOSING;
}

static void
reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	reply_line(s, code, true, enh, text);
}

/* An error reply to a command; counts against max_errors. */
static void
reply_err(struct smtp_session *s, int code, const char *enh, const char *text)
{
	reply_line(s, code, true, enh, text);
	if (++s->errors >= s->cfg->max_errors && !s->closing) {
		reply(s, 421, "4.7.0", "%s too many errors, closing",
		    s->cfg->hostname);
		GW_LOGI("smtp", "session=%s event=error_limit errors=%d",
		    s->id, s->errors);
		session_close(s, "too many errors");
	}
}

static void
enter_state(struct smtp_session *s, enum smtp_state to)
{
	if (s->state == to)
		return;
	GW_LOGD("smtp", "session=%s state=%s->%s", s->id,
	    smtp_state_name(s->state), smtp_state_name(to));
	s->state = to;
}

/* ---- transaction --------------------------------------------------------- */

static void
rcpt_fini(struct queue_rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->arcpt);
	free(r->route);
}

static void
tx_free(struct smtp_tx *tx)
{
	if (tx == NULL)
		return;
	for (size_t i = 0; i < tx->nrcpts; i++)
		rcpt_fini(&tx->rcpts[i]);
	free(tx->rcpts);
	buf_fini(&tx->content);
	free(tx);
}

/* Drop the transaction; back to HELO (or READY before EHLO). */
static void
tx_reset(struct smtp_session *s)
{
	tx_free(s->tx);
	s->tx = NULL;
	if (!s->closing)
		enter_state(s, s->helo[0] ? SMTP_S_HELO : SMTP_S_READY);
}

static void
tx_latch(struct smtp_tx *tx, int code, const char *enh, const char *text)
{
	if (tx->err_code != 0)
		return;
	tx->err_code = code;
	tx->err_enh = enh;
	snprintf(tx->err_text, sizeof(tx->err_text), "%s", text);
	buf_fini(&tx->content); /* nothing more is kept */
}

/* Keep n octets of message content, enforcing the size limit. */
static void
tx_content(struct smtp_session *s, const void *p, size_t n)
{
	struct smtp_tx *tx = s->tx;

	tx->size += (int64_t)n;
	if (tx->err_code != 0)
		return;
	if (s->cfg->max_message_size > 0 &&
	    tx->size > s->cfg->max_message_size) {
		tx_latch(tx, 552, "5.3.4", "message size exceeds fixed limit");
		return;
	}
	buf_append(&tx->content, p, n);
}

/* ---- envelope ------------------------------------------------------------ */

/* Frees an envelope we built and still own (submission refused). */
static void
env_free_own(struct queue_envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++)
		rcpt_fini(&env->rcpts[i]);
	free(env->rcpts);
	free(env->reverse_path);
	free(env->envid);
	free(env->client);
	free(env);
}

static struct queue_envelope *
tx_envelope(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct queue_envelope *env = xcalloc(1, sizeof(*env));
	char client[SMTP_DOMAIN_MAX + INET6_ADDRSTRLEN + 16];

	env->reverse_path = xstrdup(tx->mail.path);
	env->priority = tx->priority;
	env->band = policy_band(s->cfg->policy, tx->priority);
	env->by_deadline = tx->by_deadline;
	env->by_mode = tx->mail.has_by ? tx->mail.by_mode : 0;
	env->by_trace = tx->mail.has_by && tx->mail.by_trace;
	env->aby_deadline = tx->aby_deadline;
	env->envid = tx->mail.has_envid ? xstrdup(tx->mail.envid) : NULL;
	env->ret = tx->mail.ret == SMTP_RET_FULL ? QUEUE_RET_FULL :
	    tx->mail.ret == SMTP_RET_HDRS ? QUEUE_RET_HDRS : QUEUE_RET_NONE;
	env->body = tx->mail.body == SMTP_BODY_8BITMIME ? QUEUE_BODY_8BITMIME :
	    tx->mail.body == SMTP_BODY_BINARYMIME ? QUEUE_BODY_BINARYMIME :
	    QUEUE_BODY_7BIT;
	env->size_declared = tx->mail.has_size ? tx->mail.size : 0;
	env->arrival = clk_wall_s(s->cfg->clock);
	snprintf(client, sizeof(client), "%s [%s]", s->helo, s->peer_ip);
	env->client = xstrdup(client);
	env->conperm = tx->mail.conperm;
	env->rcpts = tx->rcpts;
	env->nrcpts = tx->nrcpts;
	tx->rcpts = NULL;
	tx->nrcpts = tx->cap = 0;
	return env;
}

/* ---- the final dot / last chunk ------------------------------------------ */

static void
submit_done(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct submit_ticket *t = arg;
	struct smtp_session *s = t->s;
	char hex[33];

	free(t);
	if (s == NULL)
		return; /* the client went away; the queue has the outcome */
	s->ticket = NULL;
	GW_REQUIRE(s->state == SMTP_S_COMMIT_WAIT);
	if (status == 0) {
		queue_id_hex(id, hex);
		s->messages++;
		GW_LOGI("smtp", "session=%s msg=%s event=queued size=%lld "
		    "rcpts=%zu priority=%d band=%d", s->id, hex,
		    (long long)s->tx->size, s->tx->rcpt_attempts,
		    s->tx->priority, policy_band(s->cfg->policy,
		    s->tx->priority));
		if (s->tx->priority_changed_dot)
			reply(s, 250, "2.3.6", "%d is the priority assigned; "
			    "queued as %s", s->tx->priority, hex);
		else
			reply(s, 250, "2.0.0", "Ok: queued as %s", hex);
	} else if (status == GW_ENOSPC) {
		reply_err(s, 452, "4.3.1", "insufficient system storage");
	} else if (status == GW_ECANCELED) {
		reply(s, 421, "4.3.2", "%s service shutting down",
		    s->cfg->hostname);
		session_close(s, "queue closing");
	} else {
		GW_LOGW("smtp", "session=%s event=submit_failed error=%s", s->id,
		    gw_errname(status));
		reply_err(s, 451, "4.3.0", "local error in processing, "
		    "try again later");
	}
	tx_reset(s);
	if (s->shutdown_pending && !s->closing) {
		reply(s, 421, "4.3.2", "%s service shutting down",
		    s->cfg->hostname);
		session_close(s, "shutdown");
	}
	process(s);
	if (s->io->wake != NULL)
		s->io->wake(s->io_arg);
}

/* The message is complete (dot or BDAT LAST): reply with the latched error,
 * or check the header section and submit. */
static void
finish_message(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;
	struct received_scan scan;
	const struct policy *pol = s->cfg->policy;

	if (tx->err_code != 0) {
		reply_err(s, tx->err_code, tx->err_enh, tx->err_text);
		tx_reset(s);
		return;
	}
	received_scan(tx->content.data, tx->content.len, &scan);
	if (scan.received >= policy_max_received(pol)) {
		GW_LOGW("smtp", "session=%s event=loop received=%d", s->id,
		    scan.received);
		reply_err(s, 554, "5.4.6", "too many Received headers: "
		    "mail loop detected");
		tx_reset(s);
		return;
	}
	/* RFC 6758 4a: exactly one valid MT-Priority header stands in for a
	 * missing MAIL parameter; it is capped like the parameter. */
	if (!tx->mail.has_priority && scan.mt_priority == 1 &&
	    scan.mt_priority_valid == 1) {
		int p = scan.priority;

		if (p > s->prio_ceiling)
			p = s->prio_ceiling;
		if (p < policy_min_priority(pol)) {
			reply_err(s, 550, "5.7.15", "priority level is too low");
			tx_reset(s);
			return;
		}
		tx->priority = p;
		tx->priority_changed_dot = p != scan.priority;
	}
	int64_t lim = policy_size_limit(pol, tx->priority);
	if (lim > 0 && tx->size > lim) {
		reply_err(s, 552, "5.7.16", "message is too big for the "
		    "specified priority");
		tx_reset(s);
		return;
	}

	struct received_info ri = {
		.helo = s->helo,
		.peer_ip = s->peer_ip,
		.by = s->cfg->hostname,
		.with = s->esmtp ? "ESMTP" : "SMTP",
		.id = s->id,
		.for_addr = tx->nrcpts == 1 ? tx->rcpts[0].addr : NULL,
		.has_priority = true,
		.priority = tx->priority,
		.when = clk_wall_s(s->cfg->clock),
	};
	struct buf content = BUF_INIT;
	buf_reserve(&content, tx->content.len + 512);
	received_format(&content, &ri);
	buf_append(&content, tx->content.data, tx->content.len);
	buf_fini(&tx->content);

	struct queue_envelope *env = tx_envelope(s);
	struct submit_ticket *t = xmalloc(sizeof(*t));
	t->s = s;
	s->ticket = t;
	enter_state(s, SMTP_S_COMMIT_WAIT);
	int rc = s->io->submit(s->io_arg, env, &content, submit_done, t);
	if (rc != 0) {
		s->ticket = NULL;
		free(t);
		env_free_own(env);
		buf_fini(&content);
		GW_LOGW("smtp", "session=%s event=submit_refused error=%s",
		    s->id, gw_errname(rc));
		if (rc == GW_ECLOSED || rc == GW_ECANCELED) {
			reply(s, 421, "4.3.2", "%s service shutting down",
			    s->cfg->hostname);
			session_close(s, "queue closed");
		} else if (rc == GW_ENOSPC) {
			reply_err(s, 452, "4.3.1", "insufficient system storage");
		} else {
			reply_err(s, 451, "4.3.0", "local error in processing");
		}
		tx_reset(s);
	}
	buf_fini(&content);
}

/* ---- commands ------------------------------------------------------------ */

static void
cmd_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	bool ehlo = c->verb == SMTP_V_EHLO;
	const struct smtp_session_cfg *cfg = s->cfg;

	if (c->arglen == 0) {
		reply_err(s, 501, "5.5.4", ehlo ? "syntax: EHLO domain" :
		    "syntax: HELO domain");
		return;
	}
	if (c->arglen > SMTP_DOMAIN_MAX || !smtp_helo_valid(c->arg,
	    c->arglen)) {
		reply_err(s, 501, "5.5.4", "invalid domain name");
		return;
	}
	tx_free(s->tx);
	s->tx = NULL;
	memcpy(s->helo, c->arg, c->arglen);
	s->helo[c->arglen] = '\0';
	s->esmtp = ehlo;
	enter_state(s, SMTP_S_HELO);
	if (!ehlo) {
		reply_line(s, 250, true, NULL, cfg->hostname);
		return;
	}
	char line[64];
	reply_line(s, 250, false, NULL, cfg->hostname);
	reply_line(s, 250, false, NULL, "PIPELINING");
	snprintf(line, sizeof(line), "SIZE %lld",
	    (long long)cfg->max_message_size);
	reply_line(s, 250, false, NULL, line);
	reply_line(s, 250, false, NULL, "8BITMIME");
	reply_line(s, 250, false, NULL, "ENHANCEDSTATUSCODES");
	reply_line(s, 250, false, NULL, "DSN");
	if (cfg->deliverby_min_s > 0) {
		snprintf(line, sizeof(line), "DELIVERBY %lld",
		    (long long)cfg->deliverby_min_s);
		reply_line(s, 250, false, NULL, line);
	} else {
		reply_line(s, 250, false, NULL, "DELIVERBY");
	}
	snprintf(line, sizeof(line), "MT-PRIORITY %s",
	    policy_prio_name(policy_prio_policy(cfg->policy)));
	reply_line(s, 250, false, NULL, line);
	reply_line(s, 250, false, NULL, "CHUNKING");
	bool more = cfg->altrecip || cfg->conperm || cfg->conneg ||
	    cfg->prio_draft;
	reply_line(s, 250, !more, NULL, "BINARYMIME");
	if (cfg->altrecip)
		reply_line(s, 250, !cfg->conperm && !cfg->conneg &&
		    !cfg->prio_draft, NULL, "ALTRECIP");
	if (cfg->conperm)
		reply_line(s, 250, !cfg->conneg && !cfg->prio_draft, NULL,
		    "CONPERM");
	if (cfg->conneg) {
		reply_line(s, 250, false, NULL, "CONNEG");
		reply_line(s, 250, !cfg->prio_draft, NULL, "DRUCOF");
	}
	if (cfg->prio_draft)
		reply_line(s, 250, true, NULL, "PRIORITY");
}

static unsigned
session_ext(const struct smtp_session *s)
{
	/* After HELO no extension was offered: every parameter is unknown. */
	if (!s->esmtp)
		return 0;
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	    SMTP_EXT_DELIVERBY | SMTP_EXT_MTPRIORITY | SMTP_EXT_CHUNKING |
	    SMTP_EXT_BINARYMIME;

	if (s->cfg->altrecip)
		ext |= SMTP_EXT_ALTRECIP;
	if (s->cfg->conperm)
		ext |= SMTP_EXT_CONPERM;
	if (s->cfg->prio_draft)
		ext |= SMTP_EXT_PRIODRAFT;
	if (s->cfg->conneg)
		ext |= SMTP_EXT_CONNEG;
	return ext;
}

static void
cmd_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_mail_args m;
	struct smtp_perr e;
	const struct smtp_session_cfg *cfg = s->cfg;
	bool changed = false;
	int prio;

	if (smtp_parse_mail(c->arg, c->arglen, session_ext(s), &m, &e) != 0) {
		reply_err(s, e.code, e.enh, e.text);
		return;
	}
	if (m.has_size && cfg->max_message_size > 0 &&
	    m.size > cfg->max_message_size) {
		reply_err(s, 552, "5.3.4", "message size exceeds fixed "
		    "maximum message size");
		return;
	}
	if (m.has_by && m.by_mode == 'R' && m.by_time < cfg->deliverby_min_s) {
		char t[80];
		snprintf(t, sizeof(t), "BY time below the minimum of %lld "
		    "seconds", (long long)cfg->deliverby_min_s);
		reply_err(s, 555, "5.5.4", t);
		return;
	}
	if (m.has_draft && m.has_priority) {
		reply_err(s, 501, "5.5.4", "PRIORITY and MT-PRIORITY together");
		return;
	}
	if (m.has_draft) {
		/* the draft's value, onto RFC 6710's scale by the table */
		m.has_priority = true;
		m.priority = policy_draft_to_mt(&cfg->prio_draft_map, m.draft);
	}
	prio = m.has_priority ? m.priority : 0;
	if (m.has_priority && prio < policy_min_priority(cfg->policy)) {
		reply_err(s, 550, "5.7.15", "priority level is too low");
		return;
	}
	/* Never honour more than the client's ceiling (RFC 6710 4.1). */
	if (prio > s->prio_ceiling) {
		prio = s->prio_ceiling;
		changed = true;
	}
	int64_t lim = policy_size_limit(cfg->policy, prio);
	if (m.has_size && lim > 0 && m.size > lim) {
		reply_err(s, 552, "5.7.16", "message is too big for the "
		    "specified priority");
		return;
	}

	struct smtp_tx *tx = xcalloc(1, sizeof(*tx));
	int64_t now = clk_wall_s(cfg->clock);
	tx->mail = m;
	tx->priority = prio;
	tx->priority_changed = changed;
	if (m.has_by)
		tx->by_deadline = now + m.by_time;
	if (m.has_aby)
		tx->aby_deadline = now + m.aby_time;
	s->tx = tx;
	enter_state(s, SMTP_S_MAIL);
	if (changed)
		reply(s, 250, "2.3.6", "%d priority lowered: not authorised",
		    prio);
	else
		reply(s, 250, "2.1.0", "Sender <%s> OK", m.path);
}

static bool
domain_listed(const char *const *list, const char *dom)
{
	for (; list != NULL && *list != NULL; list++) {
		const char *pat = *list;

		if (pat[0] == '*' && pat[1] == '.') {
			size_t pl = strlen(pat + 1), dl = strlen(dom);
			if (dl > pl && strcasecmp(dom + dl - pl, pat + 1) == 0)
				return true;
		} else if (strcasecmp(pat, dom) == 0) {
			return true;
		}
	}
	return false;
}

/* No open relay: an untrusted client may only name accepted domains. */
static bool
rcpt_allowed(const struct smtp_session *s, const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (s->trusted || at == NULL) /* <postmaster> has no domain */
		return true;
	if (s->cfg->accept_rcpt != NULL &&
	    s->cfg->accept_rcpt(s->cfg->accept_arg, addr))
		return true;
	return domain_listed(s->cfg->accept_domains, at + 1);
}

static void
cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_rcpt_args r;
	struct smtp_perr e;
	struct smtp_tx *tx = s->tx;

	tx->rcpt_attempts++;
	if (tx->nrcpts >= s->cfg->max_recipients) {
		/* An implementation limit: 452, not counted as an error. */
		reply_line(s, 452, true, "4.5.3", "too many recipients");
		return;
	}
	if (smtp_parse_rcpt(c->arg, c->arglen, session_ext(s), &r, &e) != 0) {
		reply_err(s, e.code, e.enh, e.text);
		return;
	}
	if (!rcpt_allowed(s, r.path)) {
		reply_err(s, 550, "5.7.1", "relaying denied");
		return;
	}
	if (r.has_arcpt) {
		/* The alternate is a recipient too: same relay rule. */
		char alt[SMTP_ORCPT_MAX + 1];
		const char *semi = strchr(r.arcpt, ';');
		if (smtp_xtext_decode(semi + 1, strlen(semi + 1), alt,
		    sizeof(alt)) < 0) {
			reply_err(s, 501, "5.5.4", "bad ARCPT value");
			return;
		}
		if (!rcpt_allowed(s, alt)) {
			reply_err(s, 550, "5.7.1", "relaying to the alternate "
			    "recipient denied");
			return;
		}
	}
	if (tx->nrcpts == tx->cap) {
		tx->cap = tx->cap ? tx->cap * 2 : 4;
		tx->rcpts = xrealloc(tx->rcpts, tx->cap * sizeof(*tx->rcpts));
	}
	struct queue_rcpt *q = &tx->rcpts[tx->nrcpts++];
	memset(q, 0, sizeof(*q));
	q->addr = xstrdup(r.path);
	q->notify = r.notify;
	q->orcpt = r.has_orcpt ? xstrdup(r.orcpt) : NULL;
	q->arcpt = r.has_arcpt ? xstrdup(r.arcpt) : NULL;
	q->flags = (r.conneg ? QUEUE_RCPT_CONNEG : 0u) |
	    (r.drucof ? QUEUE_RCPT_DRUCOF : 0u);
	enter_state(s, SMTP_S_RCPT);

	const char *caps = NULL;
	if (r.conneg && s->cfg->conneg_lookup != NULL)
		caps = s->cfg->conneg_lookup(s->cfg->conneg_arg, r.path);
	if (caps == NULL) {
		reply(s, 250, "2.1.5", "Recipient <%s> OK", r.path);
		return;
	}
	/* RFC 4141: the normal text first, then CONNEG lines. A long filter
	 * is split over lines of at most 400 octets. */
	char first[400];
	snprintf(first, sizeof(first), "Recipient <%s> OK", r.path);
	reply_line(s, 250, false, "2.1.5", first);
	size_t n = strlen(caps);
	do {
		size_t piece = n > 400 ? 400 : n;
		char line[416];
		snprintf(line, sizeof(line), "CONNEG %.*s", (int)piece, caps);
		caps += piece;
		n -= piece;
		reply_line(s, 250, n == 0, NULL, line);
	} while (n > 0);
}

static void
cmd_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_tx *tx = s->tx;

	if (tx->chunking) {
		reply_err(s, 503, "5.5.1", "DATA after BDAT in one "
		    "transaction");
		return;
	}
	if (tx->mail.body == SMTP_BODY_BINARYMIME) {
		reply_err(s, 503, "5.5.1", "BODY=BINARYMIME requires BDAT");
		return;
	}
	if (tx->nrcpts == 0) {
		if (tx->rcpt_attempts > 0)
			reply_err(s, 554, "5.5.1", "no valid recipients");
		else
			reply_err(s, 503, "5.5.1", "need RCPT before DATA");
		return;
	}
	s->data_prev_crlf = true;
	enter_state(s, SMTP_S_DATA);
	reply_line(s, 354, true, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_bdat(struct smtp_session *s, const struct smtp_cmd *c)
{
	uint64_t size;
	bool last;

	if (smtp_parse_bdat(c->arg, c->arglen, &size, &last) != 0) {
		/* Unknown length: nothing can be skipped; the octets that
		 * follow are read as commands (RFC 3030 leaves no choice). */
		reply_err(s, 501, "5.5.4", "syntax: BDAT size [LAST]");
		return;
	}
	s->chunk_left = size;
	s->chunk_last = last;
	s->chunk_discard = true;
	s->chunk_return = s->state;
	s->chunk_code = 0;
	if (s->state == SMTP_S_READY || s->state == SMTP_S_HELO) {
		s->chunk_code = 503;
		s->chunk_enh = "5.5.1";
		s->chunk_text = s->state == SMTP_S_READY ?
		    "send EHLO or HELO first" : "need MAIL before BDAT";
	} else if (!(session_ext(s) & SMTP_EXT_CHUNKING)) {
		/* RFC 3030: BDAT only where CHUNKING was offered (EHLO) */
		s->chunk_code = 503;
		s->chunk_enh = "5.5.1";
		s->chunk_text = "BDAT needs CHUNKING, which HELO does not "
		    "offer: send EHLO";
	} else if (s->tx->nrcpts == 0) {
		s->chunk_code = 554;
		s->chunk_enh = "5.5.1";
		s->chunk_text = "no valid recipients";
	} else {
		s->chunk_discard = false;
		s->tx->chunking = true;
	}
	enter_state(s, SMTP_S_BDAT);
}

static void
cmd_rset(struct smtp_session *s, const struct smtp_cmd *c)
{
	tx_reset(s);
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct smtp_session *s, const struct smtp_cmd *c)
{
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtp_session *s, const struct smtp_cmd *c)
{
	reply(s, 221, "2.0.0", "%s closing connection", s->cfg->hostname);
	tx_reset(s);
	enter_state(s, SMTP_S_QUIT);
	session_close(s, "quit");
}

static void
cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (c->arglen == 0) {
		reply_err(s, 501, "5.5.4", "syntax: VRFY address");
		return;
	}
	reply(s, 252, "2.5.0", "cannot VRFY user, but will accept message");
}

static void
cmd_expn(struct smtp_session *s, const struct smtp_cmd *c)
{
	reply_err(s, 502, "5.5.1", "EXPN not implemented");
}

static void
cmd_help(struct smtp_session *s, const struct smtp_cmd *c)
{
	reply(s, 214, "2.0.0", "skywave SMTP: see RFC 5321");
}

/* The command table: verb, the states it is allowed in, flags, handler,
 * and the text of the 503 when it comes out of order.
 *   NOARG    arguments get 501 5.5.4 (RFC 5321 4.3.2: DATA, RSET, QUIT)
 *   GROUPEND ends a pipelined group (RFC 2920 3.1); the owner writes the
 *            replies when the input is drained, which for these commands is
 *            right away since a conforming client sends nothing after them
 *            until it has the reply */
#define ST(x) (1u << SMTP_S_##x)
#define CMD_STATES (ST(READY) | ST(HELO) | ST(MAIL) | ST(RCPT))
#define CMDF_NOARG 0x1u
#define CMDF_GROUPEND 0x2u

static const struct smtp_cmd_def {
	enum smtp_verb verb;
	unsigned states;
	unsigned flags;
	void (*handler)(struct smtp_session *, const struct smtp_cmd *);
	const char *seq_text;
} cmd_table[] = {
	{ SMTP_V_EHLO, CMD_STATES, CMDF_GROUPEND, cmd_helo, NULL },
	{ SMTP_V_HELO, CMD_STATES, CMDF_GROUPEND, cmd_helo, NULL },
	{ SMTP_V_MAIL, ST(HELO), 0, cmd_mail, "nested MAIL command" },
	{ SMTP_V_RCPT, ST(MAIL) | ST(RCPT), 0, cmd_rcpt,
	    "need MAIL before RCPT" },
	{ SMTP_V_DATA, ST(MAIL) | ST(RCPT), CMDF_NOARG | CMDF_GROUPEND,
	    cmd_data, "need MAIL before DATA" },
	{ SMTP_V_BDAT, CMD_STATES, 0, cmd_bdat, NULL },
	{ SMTP_V_RSET, CMD_STATES, CMDF_NOARG, cmd_rset, NULL },
	{ SMTP_V_NOOP, CMD_STATES, CMDF_GROUPEND, cmd_noop, NULL },
	{ SMTP_V_QUIT, CMD_STATES, CMDF_NOARG | CMDF_GROUPEND, cmd_quit,
	    NULL },
	{ SMTP_V_VRFY, CMD_STATES, CMDF_GROUPEND, cmd_vrfy, NULL },
	{ SMTP_V_EXPN, CMD_STATES, CMDF_GROUPEND, cmd_expn, NULL },
	{ SMTP_V_HELP, CMD_STATES, CMDF_GROUPEND, cmd_help, NULL },
};

static void
dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	size_t limit = SMTP_LINE_MAX + s->cfg->max_line_extra;

	smtp_parse_cmd(line, len, &c);
	if (c.verb == SMTP_V_MAIL || c.verb == SMTP_V_RCPT)
		limit += smtp_line_allowance(c.arg, c.arglen);
	if (len + 2 > limit) {
		reply_err(s, 500, "5.5.2", "line too long");
		return;
	}
	if (len == 0) {
		reply_err(s, 500, "5.5.2", "empty command");
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];
		if (ch == 0 || ch >= 0x80 || (ch < 32 && ch != '\t')) {
			reply_err(s, 500, "5.5.2", "invalid character in "
			    "command");
			return;
		}
	}
	if (c.verb == SMTP_V_UNKNOWN) {
		reply_err(s, 500, "5.5.1", "command unrecognized");
		return;
	}
	for (size_t i = 0; i < GW_ARRAY_LEN(cmd_table); i++) {
		const struct smtp_cmd_def *d = &cmd_table[i];

		if (d->verb != c.verb)
			continue;
		if ((d->flags & CMDF_NOARG) && c.has_arg) {
			char t[40];
			snprintf(t, sizeof(t), "%s takes no argument",
			    smtp_verb_name(c.verb));
			reply_err(s, 501, "5.5.4", t);
			return;
		}
		if (!(d->states & (1u << s->state))) {
			const char *t = s->state == SMTP_S_READY ?
			    "send EHLO or HELO first" : d->seq_text;
			reply_err(s, 503, "5.5.1", t ? t : "bad sequence");
			return;
		}
		d->handler(s, &c);
		return;
	}
	reply_err(s, 502, "5.5.1", "command not implemented");
}

/* ---- input --------------------------------------------------------------- */

/* The LF of the first CRLF in p[0..n), or NULL. */
static const char *
find_crlf(const char *p, size_t n)
{
	size_t scan = 0;

	while (scan < n) {
		const char *c = memchr(p + scan, '\n', n - scan);
		if (c == NULL)
			return NULL;
		if (c > p && c[-1] == '\r')
			return c;
		scan = (size_t)(c - p) + 1;
	}
	return NULL;
}

/* One command line, if complete. Returns octets consumed, 0 if more input
 * is needed. Over-long lines are discarded as they arrive. A command line
 * ends only at CRLF (RFC 5321 s2.3.8): a bare LF or CR is a character of
 * the line, which the parser refuses (one reply for the whole line, never
 * two commands). */
static size_t
feed_command(struct smtp_session *s, const char *p, size_t n)
{
	const char *nl = find_crlf(p, n);

	if (s->skip_line) {
		if (nl == NULL) {
			/* keep a trailing CR: it may start the CRLF */
			return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
		}
		s->skip_line = false;
		reply_err(s, 500, "5.5.2", "line too long");
		return (size_t)(nl - p) + 1;
	}
	if (nl == NULL) {
		if (n > SMTP_CMD_BUFFER_MAX + s->cfg->max_line_extra) {
			s->skip_line = true;
			return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
		}
		return 0;
	}
	size_t len = (size_t)(nl - p) - 1;
	dispatch(s, p, len);
	return len + 2;
}

/* DATA: complete lines; dot-unstuffing; the lone dot ends it.
 *
 * A line of content ends at CRLF or at a bare LF (clients that write LF
 * line ends, as Python's smtplib does with bytes); it is stored with CRLF.
 * The line limit (998 octets, RFC 5321 s4.5.3.1.6) counts the octets
 * between line ends after that normalisation. The end of the data is a
 * line holding only "." ended by CRLF after a line ended by CRLF: a dot
 * between bare line ends is content, so a second message can never be
 * smuggled past us (or past a hop that reads line ends more strictly). */
static size_t
feed_data(struct smtp_session *s, const char *p, size_t n)
{
	size_t off = 0;

	while (off < n && s->state == SMTP_S_DATA) {
		const char *q = p + off;
		size_t avail = n - off;
		const char *nl = memchr(q, '\n', avail);

		if (s->data_skip_line) {
			if (nl == NULL) {
				s->tx->size += (int64_t)avail;
				return n;
			}
			s->tx->size += (int64_t)(nl - q) + 1;
			s->data_skip_line = false;
			s->data_prev_crlf = nl > q && nl[-1] == '\r';
			off += (size_t)(nl - q) + 1;
			continue;
		}
		if (nl == NULL) {
			if (avail > SMTP_TEXT_LINE_MAX) {
				tx_latch(s->tx, 554, "5.6.0", "message has a "
				    "line longer than 998 octets");
				s->data_skip_line = true;
				continue;
			}
			return off; /* wait for the rest of the line */
		}
		bool crlf = nl > q && nl[-1] == '\r';
		size_t textlen = (size_t)(nl - q) - (crlf ? 1 : 0);
		bool prev_crlf = s->data_prev_crlf;

		off += (size_t)(nl - q) + 1;
		s->data_prev_crlf = crlf;
		if (textlen == 1 && q[0] == '.' && crlf && prev_crlf) {
			finish_message(s);
			return off;
		}
		if (q[0] == '.' && textlen > 0) {
			q++;
			textlen--;
		}
		if (textlen + 2 > SMTP_TEXT_LINE_MAX)
			tx_latch(s->tx, 554, "5.6.0", "message has a line "
			    "longer than 998 octets");
		tx_content(s, q, textlen);
		tx_content(s, "\r\n", 2);
	}
	return off;
}

static size_t
feed_chunk(struct smtp_session *s, const char *p, size_t n)
{
	size_t take = n < s->chunk_left ? n : (size_t)s->chunk_left;

	if (!s->chunk_discard)
		tx_content(s, p, take);
	s->chunk_left -= take;
	if (s->chunk_left > 0)
		return take;
	/* Chunk complete: the reply decided at BDAT, or the outcome. */
	if (s->chunk_discard) {
		enter_state(s, s->chunk_return);
		reply_err(s, s->chunk_code, s->chunk_enh, s->chunk_text);
		return take;
	}
	enter_state(s, s->tx->nrcpts ? SMTP_S_RCPT : SMTP_S_MAIL);
	if (s->chunk_last) {
		finish_message(s);
	} else if (s->tx->err_code != 0) {
		/* The client must stop; it will RSET. */
		reply_err(s, s->tx->err_code, s->tx->err_enh,
		    s->tx->err_text);
	} else {
		reply(s, 250, "2.0.0", "%lld octets received",
		    (long long)s->tx->size);
	}
	return take;
}

static void
process(struct smtp_session *s)
{
	while (!s->closing && s->state != SMTP_S_COMMIT_WAIT) {
		const char *p = (const char *)s->in.data + s->in_off;
		size_t n = s->in.len - s->in_off, used;
		enum smtp_state before = s->state;

		if (n == 0 && !(s->state == SMTP_S_BDAT && s->chunk_left == 0))
			break;
		switch (s->state) {
		case SMTP_S_DATA:
			used = feed_data(s, p, n);
			break;
		case SMTP_S_BDAT:
			used = feed_chunk(s, p, n);
			break;
		default:
			used = feed_command(s, p, n);
			break;
		}
		s->in_off += used;
		if (used == 0 && s->state == before)
			break; /* needs more input */
	}
	if (s->closing) {
		buf_reset(&s->in);
		s->in_off = 0;
		return;
	}
	/* Compact: keep only the unconsumed tail. */
	if (s->in_off > 0) {
		buf_consume(&s->in, s->in_off);
		s->in_off = 0;
	}
}

/* ---- public -------------------------------------------------------------- */

struct smtp_session *
smtp_session_new(const struct smtp_session_cfg *cfg,
    const struct smtp_session_io *io, void *io_arg,
    const struct sockaddr *peer, const char *id)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	GW_REQUIRE(cfg->policy != NULL && cfg->clock != NULL);
	s->cfg = cfg;
	s->io = io;
	s->io_arg = io_arg;
	snprintf(s->id, sizeof(s->id), "%s", id);
	strcpy(s->peer_ip, "unknown");
	if (peer != NULL && peer->sa_family == AF_INET) {
		memcpy(&s->peer, peer, sizeof(struct sockaddr_in));
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    peer)->sin_addr, s->peer_ip, sizeof(s->peer_ip));
	} else if (peer != NULL && peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)peer;
		char a[INET6_ADDRSTRLEN];

		memcpy(&s->peer, peer, sizeof(struct sockaddr_in6));
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12],
			    s->peer_ip, sizeof(s->peer_ip));
		else
			snprintf(s->peer_ip, sizeof(s->peer_ip), "IPv6:%s", a);
	}
	smtp_session_set_cfg(s, cfg);
	s->state = SMTP_S_GREETING;
	return s;
}

void
smtp_session_set_cfg(struct smtp_session *s, const struct smtp_session_cfg *cfg)
{
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer;

	s->cfg = cfg;
	s->trusted = policy_is_trusted(cfg->policy, sa);
	s->prio_ceiling = policy_max_priority(cfg->policy, sa);
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	if (s->ticket != NULL)
		s->ticket->s = NULL; /* orphan the submission */
	tx_free(s->tx);
	buf_fini(&s->in);
	buf_fini(&s->out);
	free(s);
}

void
smtp_session_greet(struct smtp_session *s)
{
	GW_REQUIRE(s->state == SMTP_S_GREETING);
	buf_appendf(&s->out, "220 %s ESMTP skywave\r\n", s->cfg->hostname);
	enter_state(s, SMTP_S_READY);
}

void
smtp_session_refuse(struct smtp_session *s, const char *enh, const char *text,
    const char *reason)
{
	reply(s, 421, enh, "%s %s", s->cfg->hostname, text);
	session_close(s, reason);
}

void
smtp_session_feed(struct smtp_session *s, const void *data, size_t len)
{
	if (s->closing || s->state == SMTP_S_GREETING)
		return;
	buf_append(&s->in, data, len);
	process(s);
}

void
smtp_session_eof(struct smtp_session *s)
{
	if (s->tx != NULL && s->state != SMTP_S_COMMIT_WAIT)
		tx_reset(s);
	session_close(s, "client closed");
}

void
smtp_session_timeout(struct smtp_session *s)
{
	if (s->closing || s->state == SMTP_S_COMMIT_WAIT)
		return;
	reply(s, 421, "4.4.2", "%s timeout exceeded, closing connection",
	    s->cfg->hostname);
	tx_reset(s);
	session_close(s, s->state == SMTP_S_DATA || s->state == SMTP_S_BDAT ?
	    "data timeout" : "command timeout");
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	if (s->closing)
		return;
	if (s->state == SMTP_S_COMMIT_WAIT) {
		s->shutdown_pending = true;
		return;
	}
	reply(s, 421, "4.3.2", "%s service shutting down", s->cfg->hostname);
	tx_reset(s);
	session_close(s, "shutdown");
}

struct buf *
smtp_session_out(struct smtp_session *s)
{
	return &s->out;
}

bool
smtp_session_closing(const struct smtp_session *s)
{
	return s->closing;
}

const char *
smtp_session_close_reason(const struct smtp_session *s)
{
	return s->close_reason ? s->close_reason : "";
}

int64_t
smtp_session_timeout_ms(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_COMMIT_WAIT:
		return 0;
	case SMTP_S_DATA:
	case SMTP_S_BDAT:
		return s->cfg->data_timeout_ms;
	default:
		return s->cfg->command_timeout_ms;
	}
}

bool
smtp_session_want_input(const struct smtp_session *s)
{
	return s->in.len - s->in_off <= s->cfg->max_input &&
	    s->out.len <= SMTP_OUT_HIGH;
}

enum smtp_state
smtp_session_state(const struct smtp_session *s)
{
	return s->state;
}

const char *
smtp_session_id(const struct smtp_session *s)
{
	return s->id;
}

int
smtp_session_errors(const struct smtp_session *s)
{
	return s->errors;
}

uint64_t
smtp_session_messages(const struct smtp_session *s)
{
	return s->messages;
}

void
smtp_session_check_state(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_S_READY:
		GW_REQUIRE(s->tx == NULL && s->helo[0] == '\0');
		break;
	case SMTP_S_HELO:
		GW_REQUIRE(s->tx == NULL && s->helo[0] != '\0');
		break;
	case SMTP_S_MAIL:
		GW_REQUIRE(s->tx != NULL && s->tx->nrcpts == 0);
		break;
	case SMTP_S_RCPT:
		GW_REQUIRE(s->tx != NULL && s->tx->nrcpts > 0);
		break;
	case SMTP_S_DATA:
		GW_REQUIRE(s->tx != NULL && s->tx->nrcpts > 0 &&
		    !s->tx->chunking);
		break;
	case SMTP_S_BDAT:
		GW_REQUIRE(s->chunk_discard || s->tx != NULL);
		break;
	case SMTP_S_COMMIT_WAIT:
		GW_REQUIRE(s->ticket != NULL && s->tx != NULL);
		break;
	case SMTP_S_QUIT:
	case SMTP_S_CLOSING:
		GW_REQUIRE(s->closing);
		break;
	default:
		break;
	}
}
