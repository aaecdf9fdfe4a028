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
#include "queue/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define AIRLINK_PATH_MAX 512

/* The radio drivers a [link] may name; the names are link-drivers' backend
 * names, in this order (one table: airlink_driver_names). */
enum airlink_driver { AIRLINK_DRV_SERIAL = 0, AIRLINK_DRV_PTY,
	AIRLINK_DRV_KISS, AIRLINK_DRV_TCP, AIRLINK_DRV_SIM };
/* Indexed by enum airlink_driver, NULL-terminated (a config enum table). */
extern const char *const airlink_driver_names[];

/* One [link NAME] section. */
struct airlink_cfg {
	char name[32];
	int line;                  /* line of the first key of [link NAME] */
	int driver;                /* enum airlink_driver */
	char device[AIRLINK_PATH_MAX]; /* tty path, or host:port for tcp */
	char profile[AIRLINK_PATH_MAX]; /* profile name or file */
	char peer[64];             /* far gateway's identity */
	char key_file[AIRLINK_PATH_MAX]; /* pre-shared key, "" = none */
	bool enabled;
	bool pack;                 /* lossless re-encoding on the air */
};

/* A link's pre-shared key file: 64 hex digits (white space ignored). 0, or
 * GW_ECONFIG with why set. The same check runs in config_load() (so
 * --check-config refuses what the daemon would) and at link start. */
#define AIRLINK_KEY_BYTES 32u
int airlink_load_key(const char *path, uint8_t key[AIRLINK_KEY_BYTES],
    char *why, size_t whylen);

struct airlink;
struct drv_registry;
struct planner;
struct conneg_table;
struct intake;

struct airlink_env {
	uv_loop_t *loop;
	const struct gw_clock *clock;
	struct queue *queue;
	const struct drv_registry *drivers;
	const char *identity;              /* this gateway's name */
	/* The front door (borrowed): received mail is routed, banded and
	 * its workers woken through it; conversion failures are stored with
	 * their DSNs through it. */
	struct intake *intake;
	struct planner *planner;           /* borrowed; NULL: none */
	/* Content conversion before the air hop (CONPERM/DRUCOF): the
	 * owner's current capability table, read at each use (a reload may
	 * swap it); NULL, or *caps NULL: messages go as stored. */
	struct conneg_table *const *caps;
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
    const struct airlink_cfg *cfg, struct airlink **out);

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
