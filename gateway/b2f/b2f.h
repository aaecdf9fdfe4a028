/*
 * b2f.h - the Winlink B2F endpoint: a telnet-P2P listener that Winlink
 * stations (Pat, ...) connect to, and the agent for b2f: route targets.
 *
 *   station --B2F--> listener --b2f_msg--> submit (queue, like SMTP)
 *   dispatch --deliver--> b2f_send --B2F--> station (its listener, or
 *                                          the session it opened to us)
 *
 * [b2f] keys (the endpoint is off while callsign is empty):
 *   callsign          ""        our station's callsign
 *   listen            ""        "host:port" of the telnet listener, ""
 *                               for none (outbound b2f: routes only)
 *   password          ""        secure login: stations that connect must
 *                               answer our ;PQ challenge with it
 *   domain            "winlink.invalid"  CALL <-> call@domain
 *   deliver_to        ""        mailbox for mail to our own callsign
 *   locator           ""        Maidenhead locator for the handshake
 *   max_message_size  1M        largest message taken from a station
 *   timeout           2m        silence that ends a session
 *   pickup_wait       10m       a message for a station without an address
 *                               waits this long for it to connect, then
 *                               is deferred
 *   linger            1s        at our turn, how long to wait for the
 *                               next queued message for the station
 *   max_sessions      8         B2F sessions at once (in and out); a
 *                               station beyond it is turned away
 *
 * Messages for a station are proposed up to B2F_BLOCK_MAX per block, in
 * skywave's order (band, deadline, arrival); all that b2f_send receives
 * in one loop turn go in the same block. What waited for a station that
 * dials in is handed back untried at its first turn (outcome requeue),
 * for the dispatcher to choose again, and its deferred mail (b2f:CALL
 * routes) is due again at once. b2f:CALL@host:port resolves host
 * (4.4.3 when it has no usable address).
 *
 * A message from a station is answered "+" only when it can be stored
 * ("=" when larger than max_message_size, "-" when already committed:
 * its queue id derives from the MID), counts as received only once the
 * queue committed it, and a transfer cut off is kept (data_dir/b2f) and
 * resumed from its offset when the station proposes it again.
 *
 * Thread: the loop thread. Owner: the daemon.
 */
#ifndef GW_GATEWAY_B2F_H
#define GW_GATEWAY_B2F_H

#include "common/buf.h"
#include "common/cfgtab.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct b2f_cfg {
	char callsign[16];
	char listen[300];
	char password[128];
	char domain[256];
	char deliver_to[320];
	char locator[16];
	int64_t max_message_size;
	int64_t timeout_ms;
	int64_t pickup_wait_ms;
	int64_t linger_ms;
	int64_t max_sessions;
};

extern const struct cfg_field b2f_cfg_fields[];
void b2f_cfg_default(struct b2f_cfg *c);

typedef int (*b2f_submit_fn)(void *arg, struct queue_envelope *env,
    struct buf *content, queue_submit_cb cb, void *cb_arg);

struct policy;

struct b2f_env {
	uv_loop_t *loop;
	struct queue *queue;        /* duplicate checks */
	const struct b2f_cfg *cfg;  /* borrowed for the endpoint's life */
	const char *hostname;
	const char *data_dir;       /* partial transfers under b2f/ */
	const struct policy *policy; /* band for priority 0 */
	b2f_submit_fn submit;       /* the daemon's routed submission */
	void *submit_arg;
	void (*kick)(void *arg);    /* a station connected: look for mail */
	void *kick_arg;
	/* No open relay: without secure login, a station's recipient is
	 * taken only when this says yes (the SMTP server's rule for
	 * untrusted clients); NULL takes every recipient. */
	bool (*accept_rcpt)(void *arg, const char *addr);
	void *accept_arg;
};

struct b2f;

/* Start (listener when cfg->listen is set). Returns 0, GW_EINVAL for a
 * bad listen address, or a libuv bind error. */
int b2f_start(const struct b2f_env *env, struct b2f **out);
/* The listener's port (0 when none). */
int b2f_port(const struct b2f *b);

/* A reload's new policy (the old one may be freed after this). The
 * [b2f] keys themselves take effect at the next start. */
void b2f_set_policy(struct b2f *b, const struct policy *p);

/* deliver_agent_fn for b2f: targets (see deliver.h, smtpc_client_send):
 * converts the message for the station t->arg and offers it there. */
struct route_target;
struct smtpc_msg;
struct deliver_outcome;
int b2f_send(void *agent, const struct route_target *t,
    const struct smtpc_msg *m,
    void (*done)(void *arg, const struct deliver_outcome *o, size_t n),
    void *arg);

/* Stop: sessions are dropped (offered messages deferred), waiting
 * messages deferred; cb once every handle closed. */
void b2f_close(struct b2f *b, void (*cb)(void *), void *arg);

#endif
