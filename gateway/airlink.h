/*
 * airlink.h - one radio link inside skywaved: the firmware profile, the
 * driver, the air link session and the transfer protocol, joined to the
 * SQLite queue.
 *
 *   queue --select/load/read--> airlink --xfer_out_add--> xfer --> link --> drv
 *   queue <--partial/finish---- airlink <--store.commit--- xfer <-- link <-- drv
 *
 * Sending: recipients routed "link:NAME" are selected from the queue in
 * scheduling order (band, deadline, arrival), their message is loaded into
 * memory, the recipients go in flight, and the message is handed to the
 * transfer protocol, which picks the next segment at the last moment (so a
 * higher band preempts at the next segment boundary). When the far gateway
 * has committed the message, the recipients become relayed.
 *
 * With a planner (planner.h) the link is the planner route "link:NAME":
 * each message handed to the transfer protocol is a planner job; the
 * transfer's pick asks the scheduler for the next segment (band, deadline,
 * arrival, BY;R never past its deadline); before the final segment is read
 * for the air the commit begins (a BY;R message that the far end could not
 * hold by its deadline is withdrawn instead); the far end's commit is
 * reported as relayed; measured goodput, compression ratio and session
 * state are published. When the planner redirects or fails a recipient the
 * message is withdrawn from the transfer and its other recipients go back
 * to the queue.
 *
 * Capabilities: the link publishes this gateway's own capability table
 * (the owner's caps_file) to the far gateway, and keeps the table the far
 * gateway published (docs/air-protocol.md s6), persisted in data_dir as
 * "peer-caps-NAME" (written atomically off the loop) and loaded at start,
 * so it survives restarts and outages. Conversion before the air hop looks
 * a recipient up in the far table first, then in the owner's table.
 *
 * Receiving: each received segment is made durable as a partial transfer
 * (queue_partial_*), and the complete, SHA-256-checked message becomes a
 * queued message with its recipients routed by this gateway's route table,
 * in one transaction, before the far side gets its acknowledgement. A
 * retransmission of a committed message is recognised by its id.
 *
 * Thread: the loop thread. Owner: the daemon (one per [link NAME]).
 */
#ifndef GW_GATEWAY_AIRLINK_H
#define GW_GATEWAY_AIRLINK_H

#include "common/clock.h"
#include "gateway/config.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct airlink;
struct drv_registry;
struct route_table;
struct policy;
struct planner;
struct conneg_table;
struct dispatch;

struct airlink_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	const struct drv_registry *drivers;
	const char *identity;              /* this gateway's name */
	/* Routes for received mail; may be swapped on reload (see below). */
	const struct route_table *routes;
	const struct policy *policy;       /* priority -> band */
	/* Called after received mail was committed, so the owner can run
	 * local delivery at once. */
	void (*received)(void *arg);
	void *arg;
	struct planner *planner;           /* borrowed; NULL: none */
	/* Content conversion before the air hop (CONPERM/DRUCOF): the
	 * owner's current capability table, read at each use (a reload may
	 * swap it); NULL, or *caps NULL: messages go as stored. */
	struct conneg_table *const *caps;
	/* Where a recipient failed by conversion gets its DSN queued
	 * (borrowed); NULL: failed without a DSN. */
	struct dispatch *dispatch;
	/* Where the far gateway's capability table is kept (copied at
	 * start); NULL: kept in memory only. */
	const char *data_dir;
	/* Do not send base64/QP bodies decoded (mime_pack); for comparison
	 * runs. Default false: packing is on. */
	bool no_pack;
};

/* Create and start a link (driver opens, session set-up follows). The
 * config entry is copied. Returns 0, or GW_ECONFIG with a logged reason
 * (profile not found, bad key file, unknown driver). */
int airlink_start(const struct airlink_env *env,
    const struct config_link *cfg, struct airlink **out);

/* Route table and policy for received mail (after a reload). */
void airlink_set_routes(struct airlink *a, const struct route_table *rt,
    const struct policy *pol);

/* The owner's capability table (*env.caps) changed (reload): publish it
 * to the far gateway if it differs from what the far side holds. */
void airlink_caps_changed(struct airlink *a);

/* The far gateway's published filter for addr (RFC 2533 text), or NULL
 * when its table does not know addr or none was received. Valid until
 * control returns to the loop (a new table may replace it). */
const char *airlink_caps_lookup(const struct airlink *a, const char *addr);

/* Look at the queue now (new mail was committed for this link). */
void airlink_kick(struct airlink *a);

/* The console's view: the link's row, and up to max messages on the air
 * (appended at onair[*n]). */
struct status_link;
struct status_xfer;
void airlink_fill_status(struct airlink *a, struct status_link *l,
    struct status_xfer *onair, size_t *n, size_t max);
/* The route model the scheduler predicts this link with (profile, then
 * measured rate, turnaround and compression), and its route name
 * ("link:NAME", borrowed). */
struct predict_link;
void airlink_model(struct airlink *a, struct predict_link *m,
    const char **route);

/* Operator: take message id off the air (at the next segment boundary);
 * its recipients on this link are parked (deferred for an hour, so the
 * link does not take it again) until the operator's queue action, then
 * done(status, arg) runs. GW_ENOENT (no callback) when the link is not sending it. */
int airlink_withdraw(struct airlink *a, const uint8_t id[QUEUE_ID_LEN],
    void (*done)(int status, void *arg), void *arg);

/* Operator: take the link down (driver closed until up) or bring it up. */
void airlink_set_enabled(struct airlink *a, bool on);
const char *airlink_name(const struct airlink *a);

/* Stop: the session closes, the driver closes (hang-up dialogue), queue
 * requests in flight complete, then done(arg) runs and a is freed.
 * Recipients still in flight go back to queued at the next start. */
void airlink_close(struct airlink *a, void (*done)(void *), void *arg);

#endif
