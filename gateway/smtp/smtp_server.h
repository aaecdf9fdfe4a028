/*
 * smtp_server.h - the SMTP listener: libuv glue around smtp_session.
 *
 * The server owns the listening socket and one connection object per client
 * (a uv_tcp_t, a uv_timer_t and a struct smtp_session). It never reads the
 * configuration file: the daemon maps its keys onto struct smtp_server_opts.
 *
 * Limits enforced here: sessions in total and per client address (421 4.7.0
 * and close), command/data timeouts (421 4.4.2 and close), reads bounded
 * (a session whose unprocessed input or unsent output is over its limit is
 * not read until it drains). Every connection ends in one close path that
 * logs the reason.
 *
 * Thread: everything runs on the loop thread passed to smtp_server_start;
 * callbacks (done) run there too.
 */
#ifndef GW_GATEWAY_SMTP_SERVER_H
#define GW_GATEWAY_SMTP_SERVER_H

#include "common/clock.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/smtp_session.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The queue_submit() signature, for a stand-in (tests, benchmarks). */
typedef int (*smtp_submit_fn)(void *arg, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *cb_arg);

struct smtp_server_opts {
	const char *hostname;          /* greeting, EHLO, Received (required) */
	const char *listen_host;       /* numeric IPv4/IPv6, e.g. "127.0.0.1" */
	int listen_port;               /* 0: any free port (smtp_server_port) */
	int64_t max_message_size;      /* octets, advertised in SIZE */
	size_t max_recipients;         /* >= 100 (RFC 5321 4.5.3.1.8) */
	size_t max_line_extra;         /* octets added to every line limit */
	size_t max_sessions;           /* in total */
	size_t max_sessions_per_client; /* per client IP address */
	int max_errors;                /* error replies before 421 and close */
	int64_t command_timeout_ms;
	int64_t data_timeout_ms;
	int64_t deliverby_min_s;       /* advertised DELIVERBY minimum */
	const struct policy *policy;   /* required; borrowed, see reconfigure */
	bool altrecip;                 /* advertise ALTRECIP (default on) */
	bool conneg;                   /* advertise CONNEG + DRUCOF (on) */
	bool conperm;                  /* advertise CONPERM (on) */
	bool prio_draft;               /* advertise PRIORITY (off) */
	struct policy_draft prio_draft_map; /* its ranges (copied) */
	const struct gw_clock *clock;  /* NULL: the system clock */
	/* No open relay: what untrusted clients may send to. */
	smtp_accept_fn accept_rcpt;    /* e.g. a route table lookup */
	void *accept_arg;
	const char *const *accept_domains; /* NULL-terminated; "*.x" = suffix */
	/* CONNEG answers (NULL: the plain RCPT reply). */
	smtp_conneg_fn conneg_lookup;
	void *conneg_arg;
	/* Submission: NULL = queue_submit() on the queue given to start. */
	smtp_submit_fn submit;
	void *submit_arg;
	size_t max_input;              /* input kept per session while it
					  waits for the queue (default 64 KB) */
};

/* Defaults: 10 MB, 100 recipients, 1000 sessions, 50 per client, 20 errors,
 * 5 min command and 3 min data timeouts, DELIVERBY 60, ALTRECIP, CONNEG and
 * CONPERM on, system clock, 127.0.0.1:2525. */
void smtp_server_opts_init(struct smtp_server_opts *o);

struct smtp_server;

/* Bind and listen. q may be NULL only when opts->submit is set. Returns 0,
 * GW_EINVAL (bad options: message names the field in the log) or a negative
 * libuv/errno code from bind/listen. */
int smtp_server_start(uv_loop_t *loop, const struct smtp_server_opts *opts,
    struct queue *q, struct smtp_server **out);

/* The bound port (useful with listen_port 0). */
int smtp_server_port(const struct smtp_server *srv);

/* Stop listening, end every session with 421 4.3.2 (a session waiting for
 * the queue gets its 250/4xx first), close all connections, free the server,
 * then call done(arg). Nothing is half-written: a message is either
 * committed and answered or never submitted. */
void smtp_server_close(struct smtp_server *srv, void (*done)(void *),
    void *arg);

/* New limits and policy, applied from the next command of every session.
 * The listener address is not changed (restart needed). The previous
 * opts->policy may be freed once this returns 0. Returns 0 or GW_EINVAL. */
int smtp_server_reconfigure(struct smtp_server *srv,
    const struct smtp_server_opts *opts);

struct smtp_server_stats {
	uint64_t connections;     /* accepted since start */
	uint64_t refused;         /* turned away by session limits */
	uint64_t messages;        /* committed */
	size_t sessions;          /* open now */
};
void smtp_server_stats(const struct smtp_server *srv,
    struct smtp_server_stats *out);

#endif
