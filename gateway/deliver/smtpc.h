/*
 * smtpc.h - the onward SMTP/LMTP client: one message to one next-hop
 * target (a fallback list of hosts), one outcome per recipient.
 *
 * Two layers:
 *   - struct smtpc_sess, a sans-I/O state machine for one session with one
 *     host. It takes events (connected, bytes in, output drained, EOF,
 *     timeout) with the monotonic time, and yields bytes to send, a
 *     deadline, and at the end either per-recipient outcomes or "this host
 *     will not do, try the next one" with the reason.
 *   - struct smtpc_client, the thin libuv glue: name lookup, connect with a
 *     timeout, walking the fallback list, a connection limit per next-hop
 *     target, reads/writes/timer for one session at a time per job.
 *
 * What the session uses from the next hop's EHLO (LHLO for LMTP) reply:
 *   PIPELINING   MAIL, every RCPT and DATA go as one group (RFC 2920)
 *   SIZE         SIZE= on MAIL; a message over the hop's limit is not sent
 *                to it (552 5.3.4 if no host will take it)
 *   8BITMIME     BODY=8BITMIME; without it 8-bit content is downgraded
 *                (smtpc_mime) or, if impossible, refused with 5.6.3
 *   DSN          NOTIFY/ORCPT/RET/ENVID passed through; without it none are
 *                sent and "relayed" DSNs are flagged where owed (R10)
 *   MT-PRIORITY  MT-PRIORITY=<the original value>; without it the RFC 6758
 *                header rules: every MT-Priority field removed, exactly one
 *                added when a priority was given or a field was removed
 *   DELIVERBY    BY=<seconds left, rounded down>;<mode>[T]. Mode R is never
 *                handed to a hop without DELIVERBY or whose minimum exceeds
 *                the time left: QUIT, next host, else failed 5.3.3 (5.4.7
 *                once the deadline has passed). Mode N goes anywhere.
 *   CHUNKING     BDAT for BINARYMIME, large messages, or on request
 *   ALTRECIP     ARCPT= per recipient and ABY=<seconds left>;R passed on
 *                (the seed slides' extension); without it they are dropped
 *                and the alternate stays this gateway's business
 *   CONPERM      MAIL ... CONPERM for a message that carries it
 *   CONNEG       RCPT ... CONNEG in a capability probe (below)
 *   DRUCOF       RCPT ... DRUCOF where the relay decision passes it on
 *
 * Content negotiation (SMTP only; LMTP is final delivery, where the
 * dispatcher has converted already). A message with CONPERM, or with a
 * recipient that asked DRUCOF, is negotiated per recipient by the seed's
 * relay algorithm (conneg_relay_decide, gateway/conneg/conneg.c):
 *   - hop offers CONNEG: a probe transaction first (MAIL, RCPT ... CONNEG
 *     for the recipients concerned, RSET). Each answer is CAPS_OK (a 2xx
 *     with a parsable "250-CONNEG <filter>" reply), TEMPFAIL (4xx) or
 *     PERMFAIL (5xx, or 2xx without capabilities).
 *   - recipients with capabilities are tried with conv_run, one group
 *     (same capabilities, same DRUCOF) at a time: the session stops in
 *     NEGOTIATE, the glue converts off the loop (convert_start) and hands
 *     the report back (smtpc_sess_converted).
 *   - a probe RCPT refused 5.1.x (no such mailbox or system) fails that
 *     recipient with the hop's own reply: it is not a capability matter.
 *   - each recipient is then PASSed (original content; DRUCOF asserted on
 *     its RCPT and CONPERM on MAIL as decided), CONVERTed (the converted
 *     content; nothing asserted) or FAILed (5.6.2 / 5.6.3 / 5.6.5, or
 *     4.6.3 deferred when the CONNEG query failed 4xx).
 *   - one transaction carries one content: the converted group goes
 *     first; recipients that need other content follow in further
 *     transactions on the same connection (RFC 4141 allows splitting).
 *   - a hop with neither CONNEG nor what a recipient needs (DRUCOF for a
 *     DRUCOF recipient, CONPERM for a CONPERM message): that recipient
 *     fails 5.6.3 without the message being sent; when every recipient
 *     would, the host is refused (5.6.3) and the next one is tried.
 * A converted recipient's outcome carries lossy/conv_detail when the
 * conversion lost information (X.6.4 in the DSNs owed).
 * A message with neither CONPERM nor DRUCOF goes exactly as before: no
 * probe, no CONNEG.
 * The smtpc never redirects to alternate recipients: the scheduler decides
 * that from the outcomes.
 *
 * Thread: the loop thread. The session itself is pure and any one thread
 * may drive it.
 */
#ifndef GW_GATEWAY_SMTPC_H
#define GW_GATEWAY_SMTPC_H

#include "common/buf.h"
#include "common/clock.h"
#include "gateway/deliver/deliver.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Client timeouts; RFC 5321 s4.5.3.2 gives the minimums used as defaults
 * (connect is ours: 30 s). */
struct smtpc_timeouts {
	int64_t connect_ms;  /* TCP connect (and name lookup) */
	int64_t greeting_ms; /* 220: 5 min */
	int64_t ehlo_ms;     /* EHLO/LHLO/HELO reply: 5 min */
	int64_t mail_ms;     /* MAIL: 5 min */
	int64_t rcpt_ms;     /* each RCPT: 5 min */
	int64_t data_ms;     /* DATA -> 354: 2 min */
	int64_t block_ms;    /* each block of content written: 3 min */
	int64_t dot_ms;      /* final dot / BDAT LAST -> reply: 10 min */
	int64_t quit_ms;     /* QUIT -> 221 (ours: 30 s) */
};

void smtpc_timeouts_default(struct smtpc_timeouts *t);

enum smtpc_chunking {
	SMTPC_CHUNKING_AUTO = 0, /* BINARYMIME, or len >= chunking_min_bytes */
	SMTPC_CHUNKING_NEVER,
	SMTPC_CHUNKING_ALWAYS,   /* whenever the hop offers CHUNKING */
};

struct smtpc_opts {
	const char *helo_name;     /* our name for EHLO/LHLO */
	bool lmtp;                 /* LHLO, replies per recipient after data */
	struct smtpc_timeouts to;
	enum smtpc_chunking chunking;
	size_t chunking_min_bytes; /* AUTO threshold; 0 = 1 MiB */
	int max_conns_per_target;  /* client: sessions per target; 0 = 4 */
	/* [policy] priority_draft: to a hop that offers the draft's
	 * PRIORITY but not MT-PRIORITY, send PRIORITY= (mapped back by the
	 * table) instead of tunnelling the MT-Priority header */
	bool prio_draft;
	struct policy_draft prio_draft_map;
};

/* Fill opts with defaults (timeouts per RFC 5321, AUTO chunking). */
void smtpc_opts_default(struct smtpc_opts *o, const char *helo_name);

/* One message and the recipients to send it to, all borrowed until the
 * session is freed / the job's callback has run. */
struct smtpc_msg {
	const struct queue_envelope *env;
	const uint8_t *content;    /* RFC 5322 message, CRLF, not stuffed */
	size_t len;
	const size_t *rcpts;       /* indexes into env->rcpts; NULL = all */
	size_t nrcpts;             /* with rcpts == NULL: env->nrcpts */
};

/* What the next hop offered. */
struct smtpc_ext {
	bool esmtp;                /* EHLO/LHLO accepted (not HELO) */
	bool pipelining, eightbit, dsn, chunking, binarymime, enhanced;
	bool size, deliverby, mtprio, conperm, altrecip, conneg, drucof;
	bool prio_draft;           /* the seed draft's PRIORITY */
	int64_t size_max;          /* SIZE parameter, 0 = none given */
	int64_t by_min;            /* DELIVERBY parameter, 0 = none given */
	char prio_profile[24];     /* MT-PRIORITY parameter, "" = none */
};

/* ---- the sans-I/O session ---- */

#define SMTPC_STATE_MAP(XX)                                         \
	XX(CONNECT, "connect")   /* waiting for the TCP connection */ \
	XX(GREETING, "greeting") /* waiting for 220 */                 \
	XX(EHLO, "ehlo")         /* EHLO/LHLO sent */                  \
	XX(HELO, "helo")         /* HELO sent after EHLO 5xx */        \
	XX(PROBE, "probe")       /* MAIL/RCPT CONNEG/RSET replies due */ \
	XX(NEGOTIATE, "negotiate") /* waiting for a trial conversion */ \
	XX(TX, "tx")             /* MAIL/RCPT(/DATA) replies due */    \
	XX(BODY, "body")         /* writing content */                 \
	XX(DOT, "dot")           /* final reply(ies) due */            \
	XX(QUIT, "quit")         /* QUIT sent */                       \
	XX(DONE, "done")         /* finished: read the end result */

enum smtpc_state {
#define SMTPC__ST(n, s) SMTPC_S_##n,
	SMTPC_STATE_MAP(SMTPC__ST)
#undef SMTPC__ST
};

const char *smtpc_state_name(enum smtpc_state s);

enum smtpc_end {
	SMTPC_END_NONE = 0,   /* still running */
	SMTPC_END_NEXT_HOST,  /* this host cannot take it: see host_error */
	SMTPC_END_DONE,       /* every recipient has an outcome */
};

struct smtpc_sess;

/* peer: "host [addr]:port" for Remote-MTA and logs (copied). */
struct smtpc_sess *smtpc_sess_new(const struct smtpc_opts *o,
    const struct smtpc_msg *m, const struct gw_clock *clock,
    const char *peer);
void smtpc_sess_free(struct smtpc_sess *s);

/* Events, each with the monotonic time now (ms). */
void smtpc_sess_connected(struct smtpc_sess *s, int64_t now);
void smtpc_sess_connect_failed(struct smtpc_sess *s, int err, int64_t now);
/* The next hop's name gave no usable address (lookup failed): 4.4.3. */
void smtpc_sess_lookup_failed(struct smtpc_sess *s, int err, int64_t now);
void smtpc_sess_input(struct smtpc_sess *s, const uint8_t *p, size_t n,
    int64_t now);
void smtpc_sess_drained(struct smtpc_sess *s, int64_t now);
void smtpc_sess_eof(struct smtpc_sess *s, int64_t now);
void smtpc_sess_timeout(struct smtpc_sess *s, int64_t now);

/* Actions: bytes to write (take them with buf_swap/buf_reset), and the
 * absolute deadline (ms) for the current wait, or -1. */
struct buf *smtpc_sess_output(struct smtpc_sess *s);
int64_t smtpc_sess_deadline(const struct smtpc_sess *s);

enum smtpc_state smtpc_sess_state(const struct smtpc_sess *s);
enum smtpc_end smtpc_sess_end(const struct smtpc_sess *s);
const struct smtpc_ext *smtpc_sess_ext(const struct smtpc_sess *s);
/* END_DONE: one outcome per recipient, in request order. */
const struct deliver_outcome *smtpc_sess_outcomes(const struct smtpc_sess *s,
    size_t *n);
/* END_NEXT_HOST: why this host was left (rcpt field unused). */
const struct deliver_outcome *smtpc_sess_host_error(
    const struct smtpc_sess *s);

/* What the next hop answered to RCPT ... CONNEG for one recipient. */
struct smtpc_answer {
	bool asked;                /* RCPT ... CONNEG was sent */
	int hop;                   /* enum conneg_hop_caps */
	int code;                  /* the reply code, 0 = not asked */
	char status[16];           /* its enhanced status, or "" */
	char text[200];            /* its text (first line, after status) */
	char *caps;                /* CAPS_OK: the filter text, else NULL */
};

/* Recipient r's answer (meaningful once the probe is over). */
const struct smtpc_answer *smtpc_sess_answer(const struct smtpc_sess *s,
    size_t r);

struct conv_policy;
struct conv_report;
/* SMTPC_S_NEGOTIATE: the capabilities (RFC 2533 filter text, valid until
 * the next event) of the group to try a conversion for, and the policy to
 * convert under (conperm, drucof, by_domain = our EHLO name, now_s); NULL
 * in any other state. */
const char *smtpc_sess_conv_caps(const struct smtpc_sess *s,
    struct conv_policy *pol);
/* The trial's result for that group: rep, or NULL when the conversion
 * could not run (then treated as failed 5.6.5); with rep->result ==
 * CONV_CONVERTED the converted message is taken from *out (swapped). The
 * session decides and goes on (MAIL of the next transaction, or QUIT). */
void smtpc_sess_converted(struct smtpc_sess *s, const struct conv_report *rep,
    struct buf *out, int64_t now);

/* ---- the libuv client ---- */

struct smtpc_client;

/* Borrows loop and clock; copies opts (helo_name too). */
struct smtpc_client *smtpc_client_new(uv_loop_t *loop,
    const struct gw_clock *clock, const struct smtpc_opts *opts);
/* Abort running and waiting jobs (their recipients are deferred 4.3.2 and
 * callbacks still run), then free once every handle has closed; cb (may be
 * NULL) runs after that, on the loop thread, and before this returns when
 * nothing was running. Called from inside a job callback, the free waits
 * until that callback has returned. */
void smtpc_client_close(struct smtpc_client *c, void (*cb)(void *),
    void *arg);

/* Called once with one outcome per recipient, in request order. */
typedef void (*smtpc_done_cb)(void *arg, const struct deliver_outcome *o,
    size_t n);

/* Send m to target (ROUTE_SMTP or ROUTE_LMTP; copied). Hosts are tried in
 * order until one takes the transaction; when none does, every recipient
 * gets the last host's reason (a connection failure defers with 4.4.1).
 * Trial conversions of a negotiated message run on the loop's thread pool
 * (convert_start); the job waits for them before it ends.
 * The LMTP/SMTP choice follows target->kind. Returns 0 (cb runs later,
 * exactly once) or GW_EINVAL / GW_ECLOSED without calling back. */
int smtpc_client_send(struct smtpc_client *c,
    const struct route_target *target, const struct smtpc_msg *m,
    smtpc_done_cb cb, void *arg);

/* Sessions open / jobs waiting for a free connection slot. */
size_t smtpc_client_active(const struct smtpc_client *c);
size_t smtpc_client_waiting(const struct smtpc_client *c);

#endif
