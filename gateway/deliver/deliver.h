/*
 * deliver.h - onward delivery of one message: choose the agent per recipient
 * (onward SMTP, LMTP, Maildir) and report one outcome per recipient.
 *
 * The first half of this header is the outcome vocabulary shared by the
 * delivery agents (smtpc, maildir) and read by the scheduler and the DSN
 * code; the second half is the glue.
 *
 * Glossary:
 *   delivered  final delivery done (Maildir, LMTP 2xx)
 *   relayed    handed to an onward SMTP server that took responsibility
 *   deferred   temporary failure: try again later (4xx, local trouble)
 *   failed     permanent failure: a "failed" DSN is due (5xx, policy)
 *   to_link    the route sends this recipient over a radio link; the
 *              scheduler hands it to the transfer protocol, not us
 *
 * Thread: everything runs on the loop thread; callbacks too.
 */
#ifndef GW_GATEWAY_DELIVER_H
#define GW_GATEWAY_DELIVER_H

#include "common/cfgtab.h"
#include "common/clock.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum deliver_action {
	DELIVER_DELIVERED = 0,
	DELIVER_RELAYED,
	DELIVER_DEFERRED,
	DELIVER_FAILED,
	DELIVER_TO_LINK,
};

const char *deliver_action_name(enum deliver_action a);

/* The outcome for one recipient. For DSNs: Status is `status`; the
 * Diagnostic-Code and Remote-MTA fields come from deliver_outcome_diag()
 * and deliver_outcome_remote_mta() below. */
struct deliver_outcome {
	size_t rcpt;               /* index into env->rcpts */
	enum deliver_action action;
	int code;                  /* SMTP/LMTP reply code; 0 = decided here */
	char status[16];           /* enhanced status, e.g. "5.3.3" */
	char text[400];            /* reply text (after the status) or why */
	char remote_mta[280];      /* "host [addr]:port" that answered, or "" */
	/* A "relayed" DSN is owed to the sender for this recipient: NOTIFY had
	 * SUCCESS and the next hop lacks DSN (RFC 3461 s6.2.1), or BY had the
	 * trace flag T (RFC 2852 s4.1.4), or a BY mode-N message went to a hop
	 * without DELIVERBY before its deadline; never with NOTIFY=NEVER. */
	bool dsn_relayed;
	/* What the next hop lacked (replies from a hop only), for the
	 * scheduler's SCHED_HOP_NO_DSN / SCHED_HOP_NO_DELIVERBY flags. */
	bool hop_no_dsn;
	bool hop_no_deliverby;
	/* The next hop could not be reached at all: no usable address, the
	 * connection refused or timed out, no greeting (no reply came). The
	 * scheduler counts the route down while every attempt ends so. */
	bool unreachable;
	/* DELIVER_DEFERRED only: not attempted at all (a transport gave the
	 * message back before trying it): the recipient returns to the
	 * queue due at once, no backoff, nothing reported. */
	bool requeue;
	char link[32];             /* DELIVER_TO_LINK: the link name */
	/* The content this recipient got was converted here with loss of
	 * information (conv report "lossy"); conv_detail says what was
	 * converted ("1 text/html -> text/plain; ..."), "" when unknown. */
	bool lossy;
	char conv_detail[300];
};

/* Fill an outcome decided locally (code 0). */
void deliver_outcome_set(struct deliver_outcome *o, enum deliver_action a,
    const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The RFC 3464 fields of an outcome, for dsn_build(): Remote-MTA as
 * "dns; host" (empty when the outcome was decided here), and the
 * Diagnostic-Code as "smtp; 550 5.1.1 text" for a reply, or
 * "x-skywave; text" for a local decision. Both truncate to len. */
void deliver_outcome_remote_mta(const struct deliver_outcome *o, char *out,
    size_t len);
void deliver_outcome_diag(const struct deliver_outcome *o, char *out,
    size_t len);

/* The Status and Diagnostic-Code of a DSN about outcome o (RFC 3464).
 * success is true for a "delivered" or "relayed" report. When the content
 * was converted with loss on its way (o->lossy here, or lossy_before: the
 * recipient's QUEUE_RCPT_LOSSY flag from an earlier gateway), a success
 * reports 2.6.4 (RFC 3463 X.6.4, conversion with loss performed) and the
 * diagnostic names what was converted; failures keep their own codes.
 * Otherwise status is o->status ("2.0.0" / "5.0.0" when empty) and diag
 * deliver_outcome_diag()'s text. Both truncate to their lengths. */
void deliver_outcome_dsn(const struct deliver_outcome *o, bool success,
    bool lossy_before, char *status, size_t slen, char *diag, size_t dlen);

/* Map a negative local error (GW_E* or -errno) to a deferred/failed outcome:
 * GW_ENOSPC/ENOSPC -> deferred 4.3.1, EDQUOT -> deferred 4.2.2,
 * EACCES/EPERM/EROFS -> deferred 4.3.0, anything else -> deferred 4.3.0. */
void deliver_outcome_from_err(struct deliver_outcome *o, int err,
    const char *what);

/* ---- configuration ---- */

/* Delivery settings, one table for the daemon's config loader (suggested
 * section [delivery]; every key has a default, so the section is optional):
 *   smtp_connect_timeout     30s   1s..10m   TCP connect (and lookup)
 *   smtp_greeting_timeout    5m    1s..1h    220 greeting   (RFC 5321: 5m)
 *   smtp_helo_timeout        5m    1s..1h    EHLO/LHLO/HELO (5m)
 *   smtp_mail_timeout        5m    1s..1h    MAIL           (5m)
 *   smtp_rcpt_timeout        5m    1s..1h    each RCPT      (5m)
 *   smtp_data_init_timeout   2m    1s..1h    DATA -> 354    (2m)
 *   smtp_data_block_timeout  3m    1s..1h    each block     (3m)
 *   smtp_data_done_timeout   10m   1s..2h    final reply    (10m)
 *   smtp_quit_timeout        30s   1s..10m   QUIT -> 221
 *   smtp_connection_limit    4     1..64     sessions per smtp:/lmtp: target
 *   smtp_chunking            auto  auto|never|always   use BDAT
 *   smtp_chunking_min_size   1M    1k..1G    auto: BDAT from this size on
 *   smtp_helo_name           ""    our EHLO name ("" = [gateway] hostname)
 *   maildir_create           yes   create a missing Maildir (no: a
 *                                  recipient without one fails 5.1.1,
 *                                  "mailbox unknown")
 * Test and lab setups may shorten timeouts below the RFC minimums. */
struct deliver_cfg {
	int64_t connect_ms, greeting_ms, helo_ms, mail_ms, rcpt_ms;
	int64_t data_init_ms, data_block_ms, data_done_ms, quit_ms;
	int64_t connection_limit;
	int chunking;              /* enum smtpc_chunking */
	int64_t chunking_min_size;
	char helo_name[256];
	bool maildir_create;       /* create a missing Maildir; no: 5.1.1 */
};

extern const struct cfg_field deliver_cfg_fields[];
void deliver_cfg_default(struct deliver_cfg *c);
/* Set one key from configuration text: 0, GW_ENOENT (not ours), or
 * GW_EINVAL / GW_ERANGE with a message naming the allowed values. */
int deliver_cfg_set(struct deliver_cfg *c, const char *key,
    const char *value, char *err, size_t errlen);

struct smtpc_opts;
/* The onward client's options from c; hostname is used when
 * c->helo_name is empty. o->helo_name points into c or hostname. */
void deliver_cfg_smtpc(const struct deliver_cfg *c, const char *hostname,
    struct smtpc_opts *o);

/* ---- the glue ---- */

struct route_table;
struct smtpc_client;

struct deliver_opts {
	const char *hostname;      /* our name: EHLO, Maildir file names */
	int64_t max_received;      /* loop threshold (config_policy) */
	bool maildir_create;       /* deliver_cfg.maildir_create */
};

struct deliver;

/* A delivery context. Borrows loop, clock, routes and the SMTP client (the
 * daemon owns them and keeps them alive until deliver_free). */
struct deliver *deliver_new(uv_loop_t *loop, const struct gw_clock *clock,
    const struct route_table *routes, struct smtpc_client *smtpc,
    const struct deliver_opts *opts);
/* Only once no job is running (a job in flight trips GW_REQUIRE). */
void deliver_free(struct deliver *d);

/* One outcome: called once per recipient of the request, on the loop
 * thread, in no particular order; o is valid only during the call. */
typedef void (*deliver_outcome_cb)(void *arg, const struct deliver_outcome *o);
/* All outcomes were reported; the request's borrowed data may be freed. */
typedef void (*deliver_done_cb)(void *arg);

struct deliver_req {
	const struct queue_envelope *env; /* borrowed until done */
	const uint8_t *content;    /* RFC 5322 message, CRLF; borrowed */
	size_t len;
	const size_t *rcpts;       /* which env->rcpts to deliver; NULL = all */
	size_t nrcpts;
};

/* Deliver one message. Recipients are grouped by route target (the rcpt's
 * own route, if set, is a target spec that overrides the table); each group
 * goes to its agent. A loop (route_is_loop) fails every recipient with
 * 5.4.6; an unroutable recipient fails with 5.4.4; a link target gives
 * DELIVER_TO_LINK. Returns 0 (callbacks will follow, done last, never
 * before this returns) or GW_EINVAL for a malformed request. */
int deliver_start(struct deliver *d, const struct deliver_req *req,
    deliver_outcome_cb on_outcome, deliver_done_cb on_done, void *arg);

/* Jobs still running. */
size_t deliver_active(const struct deliver *d);

/* The agent for b2f: targets (b2f.h), with the contract of
 * smtpc_client_send(); NULL fn defers b2f recipients (4.3.2). */
struct smtpc_msg;
struct route_target;
typedef int (*deliver_agent_fn)(void *agent, const struct route_target *t,
    const struct smtpc_msg *m,
    void (*done)(void *arg, const struct deliver_outcome *o, size_t n),
    void *arg);
void deliver_set_b2f(struct deliver *d, deliver_agent_fn fn, void *agent);

/* Use a new route table from now on (configuration reload). Running jobs
 * keep the targets they copied; the old table may be freed after this. */
void deliver_set_routes(struct deliver *d, const struct route_table *routes);

#endif
