/*
 * smtp_session.h - one SMTP server session as a sans-I/O state machine.
 *
 * The session never touches a socket, a timer or the queue directly: the
 * owner (smtp_server.c, or a test) feeds it the bytes a client sent, takes
 * the bytes to send from smtp_session_out(), arms the timeout it asks for,
 * and carries out submissions through the io->submit hook. Everything it
 * decides is therefore testable without a network and under a virtual clock.
 *
 * Events in:  smtp_session_greet, _feed (bytes), _timeout, _shutdown,
 *             _refuse, the submit completion (through io->submit's callback).
 * Actions out: bytes in smtp_session_out(); io->wake() when output appeared
 *             outside a _feed call; smtp_session_closing() once the session
 *             wants the connection closed after its output is written;
 *             smtp_session_timeout_ms() for the timer to arm.
 *
 * Thread: the loop thread of its owner. Owner: the creator, which frees it
 * with smtp_session_free() at any time (a submission in flight is orphaned:
 * its completion is ignored, the queue still owns and stores the message).
 */
#ifndef GW_GATEWAY_SMTP_SESSION_H
#define GW_GATEWAY_SMTP_SESSION_H

#include "common/buf.h"
#include "common/clock.h"
#include "gateway/mail/policy.h"
#include "queue/queue_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* XX(NAME, "name") - see the diagram in smtp_session.c. */
#define SMTP_STATE_MAP(XX)               \
	XX(GREETING, "greeting")         \
	XX(READY, "ready")               \
	XX(HELO, "helo")                 \
	XX(MAIL, "mail")                 \
	XX(RCPT, "rcpt")                 \
	XX(DATA, "data")                 \
	XX(BDAT, "bdat")                 \
	XX(COMMIT_WAIT, "commit_wait")   \
	XX(QUIT, "quit")                 \
	XX(CLOSING, "closing")

enum smtp_state {
#define SMTP__STATE_ENUM(name, str) SMTP_S_##name,
	SMTP_STATE_MAP(SMTP__STATE_ENUM)
#undef SMTP__STATE_ENUM
	SMTP_S__COUNT
};

const char *smtp_state_name(enum smtp_state s);

/* May an untrusted client send to this recipient address? (No open relay:
 * true only for routed or local domains.) */
typedef bool (*smtp_accept_fn)(void *arg, const char *addr);
/* CONNEG capabilities of a recipient: an RFC 2533 filter, or NULL when
 * unknown. The string must stay valid until the next call. */
typedef const char *(*smtp_conneg_fn)(void *arg, const char *addr);

/* Settings shared by sessions; owned by the server (or test), which may
 * swap them between commands with smtp_session_set_cfg(). */
struct smtp_session_cfg {
	const char *hostname;
	int64_t max_message_size;       /* octets; 0 = no limit (not advised) */
	size_t max_recipients;          /* >= 100 */
	size_t max_line_extra;          /* octets added to every line limit */
	int max_errors;                 /* error replies before 421 and close */
	int64_t command_timeout_ms;
	int64_t data_timeout_ms;
	int64_t deliverby_min_s;        /* advertised; BY;R below it is 555 */
	const struct policy *policy;    /* required */
	bool altrecip, conneg, conperm; /* advertise ALTRECIP/CONNEG+DRUCOF/
					   CONPERM */
	bool prio_draft;                /* advertise PRIORITY (the seed's
					   draft), mapped by prio_draft_map */
	struct policy_draft prio_draft_map;
	const struct gw_clock *clock;   /* required */
	smtp_accept_fn accept_rcpt;     /* NULL: use accept_domains only */
	void *accept_arg;
	const char *const *accept_domains; /* NULL-terminated, or NULL */
	smtp_conneg_fn conneg_lookup;   /* NULL: plain RCPT reply */
	void *conneg_arg;
	size_t max_input;               /* unprocessed input kept while waiting
					   for a commit before reading stops */
};

struct smtp_session_io {
	/* Same contract as queue_submit(); must call back later, never from
	 * inside the call. */
	int (*submit)(void *io_arg, struct queue_envelope *env,
	    struct buf *content, queue_submit_cb cb, void *cb_arg);
	/* Output is waiting (or the session wants to close) and no _feed call
	 * is on the stack to notice. May be NULL. */
	void (*wake)(void *io_arg);
};

struct smtp_session;

/* peer is copied; id names the session in logs and the Received id. */
struct smtp_session *smtp_session_new(const struct smtp_session_cfg *cfg,
    const struct smtp_session_io *io, void *io_arg,
    const struct sockaddr *peer, const char *id);
void smtp_session_free(struct smtp_session *s);
void smtp_session_set_cfg(struct smtp_session *s,
    const struct smtp_session_cfg *cfg);

/* Send the 220 greeting. */
void smtp_session_greet(struct smtp_session *s);
/* Refuse the connection: 421 <enh> text, then close. */
void smtp_session_refuse(struct smtp_session *s, const char *enh,
    const char *text, const char *reason);
/* Client bytes. Consumes every complete command/data block it can; pipelined
 * input waiting behind a commit is kept, never dropped. */
void smtp_session_feed(struct smtp_session *s, const void *data, size_t len);
/* The client closed its side (any open transaction is dropped). */
void smtp_session_eof(struct smtp_session *s);
/* The timer from smtp_session_timeout_ms() expired: 421 4.4.2 and close. */
void smtp_session_timeout(struct smtp_session *s);
/* Daemon stopping: 421 4.3.2 now, or right after the reply to a commit in
 * flight; then close. */
void smtp_session_shutdown(struct smtp_session *s);

/* Bytes to send; the owner consumes what it has handed to the transport. */
struct buf *smtp_session_out(struct smtp_session *s);
/* True once the session is finished: close after writing its output. */
bool smtp_session_closing(const struct smtp_session *s);
const char *smtp_session_close_reason(const struct smtp_session *s);
/* Timeout for the current wait in ms; 0 = none (waiting for the queue). */
int64_t smtp_session_timeout_ms(const struct smtp_session *s);
/* False while unprocessed input is over cfg->max_input: stop reading. */
bool smtp_session_want_input(const struct smtp_session *s);
enum smtp_state smtp_session_state(const struct smtp_session *s);
const char *smtp_session_id(const struct smtp_session *s);
/* Messages committed in this session. */
uint64_t smtp_session_messages(const struct smtp_session *s);
/* Error replies sent in this session (refused commands). */
int smtp_session_errors(const struct smtp_session *s);

/* Debug check of the per-state invariants; aborts on violation. */
void smtp_session_check_state(const struct smtp_session *s);

#endif
