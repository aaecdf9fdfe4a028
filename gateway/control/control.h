/*
 * control.h - the operator's control socket inside skywaved.
 *
 * A Unix domain stream socket speaking line-based JSON (one request object
 * per line, one reply object per line; docs/control-protocol.md is the
 * reference). Requests: a status snapshot, a stream of events, queue
 * inspection, and operator actions (hold, release, cancel, flush, requeue,
 * link down/up).
 *
 * Authorisation is the socket file's permissions: it is created with mode
 * 0660 (configurable) and, when a group is given, owned by that group, so
 * only root, the daemon's user and members of the operator group can
 * connect. Every action is logged with the peer's uid and pid
 * (SO_PEERCRED) and posted as an event.
 *
 * The module knows nothing of the queue, links or scheduler: the daemon
 * supplies struct control_ops. fill_status is synchronous (in-memory state
 * only, never SQLite); do_action may finish at once or later (after a
 * queue round trip) by calling done exactly once with the token.
 *
 * Thread: everything here runs on the loop thread, except control_log_sink
 * which may be called from any thread (the queue owner logs too).
 *
 * Ownership: the daemon creates the server with control_new and ends it
 * with control_close; the struct is freed after the last libuv handle has
 * closed AND every do_action has called done (an action's token stays
 * valid until then, even if its client has gone).
 */
#ifndef GW_GATEWAY_CONTROL_H
#define GW_GATEWAY_CONTROL_H

#include "common/clock.h"
#include "common/log.h"
#include "gateway/control/status.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct control;

/* Requests; names are the protocol's "op" values. */
#define CONTROL_OP_MAP(XX)                 \
	XX(PING, "ping")                   \
	XX(STATUS, "status")               \
	XX(EVENTS, "events")               \
	XX(QUEUE, "queue")                 \
	XX(SHOW, "show")                   \
	XX(HOLD, "hold")                   \
	XX(RELEASE, "release")             \
	XX(CANCEL, "cancel")               \
	XX(FLUSH, "flush")                 \
	XX(REQUEUE, "requeue")             \
	XX(LINK_DOWN, "link_down")         \
	XX(LINK_UP, "link_up")             \
	XX(ACK, "ack")                     \
	XX(METRICS, "metrics")             \
	XX(HISTORY, "history")             \
	XX(REPORT, "report")               \
	XX(TRACE, "trace")

enum control_op {
#define CONTROL__OP_ENUM(n, s) CONTROL_OP_##n,
	CONTROL_OP_MAP(CONTROL__OP_ENUM)
#undef CONTROL__OP_ENUM
	CONTROL_OP__COUNT
};

const char *control_op_name(enum control_op op);
int control_op_parse(const char *s); /* -1 unknown */

/* One request handed to do_action (QUEUE, SHOW and the actions). Fields
 * not given are "". Borrowed: valid only during the do_action call. */
struct control_action {
	enum control_op op;
	char id[STATUS_ID_MAX];       /* message id */
	char link[STATUS_NAME_MAX];   /* link name */
	char route[STATUS_ADDR_MAX];  /* requeue target, route syntax */
	char band[STATUS_NAME_MAX];   /* QUEUE: only this band ("" all) */
	size_t limit;                 /* QUEUE: at most this many */
	int64_t since_s;              /* REPORT: from (Unix s), 0 start */
	uid_t uid;                    /* who asked (SO_PEERCRED) */
	pid_t pid;
};

/* The outcome. text is a short human sentence ("held 1 message"); on error
 * it says why ("no such message"). msgs/nmsgs carry QUEUE and SHOW results
 * and are copied before done returns. */
struct control_result {
	int err;                      /* 0 or a negative GW_E* / -errno */
	const char *text;             /* may be NULL */
	const struct status_msg *msgs;
	size_t nmsgs;
};

typedef void (*control_done_fn)(void *token, const struct control_result *r);

struct control_ops {
	void *arg;
	/* Fill st (already status_init'ed) from in-memory state. Leave
	 * st->events empty: the server adds its own ring of recent events. */
	void (*fill_status)(void *arg, struct status *st);
	/* Carry out act; call done(token, result) exactly once, now or later
	 * on the loop thread. NULL: every action answers "not supported". */
	void (*do_action)(void *arg, const struct control_action *act,
	    control_done_fn done, void *token);
	/* Optional. Every log line at info or worse, on the thread that
	 * logged (counters; must not log). */
	void (*on_log)(void *arg, enum gw_log_level level, const char *subsys,
	    const char *text);
	/* Optional, pure, any thread: an info line that is an event too
	 * (sets *kind). */
	bool (*notable)(const char *subsys, const char *text,
	    const char **kind);
};

struct control_opts {
	const char *path;          /* socket path (required) */
	const char *group;         /* operator group name or number, or NULL */
	unsigned mode;             /* socket file mode; 0 means 0660 */
	size_t max_clients;        /* 0 means 16 */
	size_t max_line;           /* request line bytes; 0 means 4096 */
	size_t max_output;         /* unsent bytes per client before it is
				      dropped as too slow; 0 means 1 MiB */
	uint64_t idle_timeout_ms;  /* a request connection silent this long
				      is closed (streams never); 0: 10 min */
	int log_events_level;      /* < 0: none; else log lines at this level
				      or more severe become events (installs
				      control_log_sink; see below) */
	const struct gw_clock *clock; /* NULL: the system clock */
};

/* Create the socket at opts->path and start listening. A stale socket file
 * (nobody listening) is replaced; the new one is bound under a temporary
 * name, given its mode and group, and renamed into place, so it is never
 * reachable with looser permissions. On failure nothing is left behind.
 * Returns 0 and *out, or
 *   GW_EBUSY    another server answers on that path
 *   GW_EEXIST   the path exists and is not a socket (left alone)
 *   GW_ENOENT   unknown group
 *   GW_ETOOBIG  path longer than a sockaddr_un allows
 *   -errno      bind/listen/chmod/chown/rename failed
 * Runs blocking file-system calls (and a group lookup): call it at start or
 * reload, not in the middle of traffic. */
int control_new(uv_loop_t *loop, const struct control_opts *opts,
    const struct control_ops *ops, struct control **out);

/* Post an event: added to the ring of recent events (the snapshot's
 * "events") and written to every events-stream client. Loop thread. */
void control_post_event(struct control *c, enum gw_log_level level,
    const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A gw_log sink (gw_log_set_sink(control_log_sink, c)) that turns log
 * lines at opts->log_events_level or more severe into events. Safe from
 * any thread; never logs. control_new installs it when log_events_level
 * >= 0 and control_close removes it. */
void control_log_sink(enum gw_log_level level, const char *subsys,
    const char *line, void *arg);

/* Number of connected clients (tests, status). */
size_t control_nclients(const struct control *c);

/* Stop: close the listener and every client, unlink the socket file (if it
 * is still the one we made), and free once everything has closed and no
 * action is outstanding; then closed_cb(arg) if not NULL. */
void control_close(struct control *c, void (*closed_cb)(void *arg),
    void *arg);

#endif
