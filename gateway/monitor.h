/*
 * monitor.h - what an operator is warned about and what a monitoring
 * system scrapes: counters taken from the daemon's event lines, alerts
 * with thresholds, per-link history, shift totals, and the Prometheus
 * text exposition of all of it.
 *
 * Glossary:
 *   notable    an event line the console shows although it is below warn
 *              (redirects, DSNs, deadline outcomes, link changes, alerts)
 *   alert      a condition with a threshold from the configuration:
 *                link_down:NAME     no link session for alert_link_down
 *                band_age:N         band N's oldest waiting message is
 *                                   older than alert_band_age
 *                queue_bytes        waiting bytes above alert_queue_bytes
 *                deadline_missed    a deadline was missed (stays until it
 *                                   is acknowledged)
 *              raised (logged at warn), cleared when the condition ends
 *              (logged), acknowledged by an operator (logged with uid).
 *              A threshold of 0 turns that alert off.
 *   history    per link, one sample a minute for the last day: bytes
 *              sent, retransmissions, turnarounds, airtime, seconds down
 *
 * Pure bookkeeping: no I/O of its own, no clock (callers pass the time).
 * Logging: alerts are logged here (subsystem "monitor"), nothing else.
 * Thread: the loop thread, except monitor_notable (pure) and
 * monitor_count (locked), which any thread may call.
 */
#ifndef GW_GATEWAY_MONITOR_H
#define GW_GATEWAY_MONITOR_H

#include "common/buf.h"
#include "gateway/control/status.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct planner_counts;

struct monitor_cfg {
	int64_t link_down_ms;    /* 0: off */
	int64_t band_age_ms;     /* 0: off */
	int64_t queue_bytes;     /* 0: off */
	bool deadline_missed;
};

#define MONITOR_HISTORY_MIN 1440 /* one day of one-minute samples */

/* One minute of one link. */
struct monitor_sample {
	int64_t start_s;         /* Unix seconds, start of the minute */
	uint32_t tx_bytes, rx_bytes;
	uint32_t frames, retransmits, turns;
	uint32_t airtime_ms;     /* our transmissions at the nominal rate */
	uint32_t down_s;         /* seconds without a link session */
};

struct monitor;

struct monitor *monitor_new(const struct monitor_cfg *cfg, int64_t now_s);
void monitor_free(struct monitor *m);
void monitor_reconfigure(struct monitor *m, const struct monitor_cfg *cfg);
/* The name of a band in the report ("Flash"); unnamed bands by number. */
void monitor_set_band_name(struct monitor *m, int band, const char *name);

/* Whether an event line (subsystem, text after "subsys: ") is notable;
 * *kind gets the event kind to show ("redirect", "dsn", "deadline",
 * "link", "alert", ...). Pure, any thread. */
bool monitor_notable(const char *subsys, const char *text,
    const char **kind);
/* Count an event line (every line at info or worse; called from the log
 * sink on whichever thread logged: counters are under a lock). */
void monitor_count(struct monitor *m, const char *subsys, const char *text);

/* Once a second with a fresh snapshot (alerts not filled): raise and
 * clear alerts, sample history, notice authentication failures.
 * counts may be NULL. */
void monitor_tick(struct monitor *m, const struct status *st,
    const struct planner_counts *counts, int64_t now_s);
/* Acknowledge alert id: 0, GW_ENOENT (no such active alert) or
 * GW_ESTATE (already acknowledged). */
int monitor_ack(struct monitor *m, const char *id, uid_t uid,
    int64_t now_s);
/* Copy the alerts (active first, then those cleared in the last hour)
 * into st->alerts. */
void monitor_fill(const struct monitor *m, struct status *st);

/* Prometheus text format 0.0.4 of a snapshot (with its alerts), the
 * monitor's counters and the planner's. */
void monitor_metrics(struct monitor *m, const struct status *st,
    const struct planner_counts *counts, struct buf *out);

/* The history of link name over the last span_s seconds, newest last;
 * returns how many samples were copied (at most max). */
size_t monitor_history(const struct monitor *m, const char *link,
    int64_t span_s, int64_t now_s, struct monitor_sample *out, size_t max);
/* A readable history: per link, the last hour and day (throughput with
 * its scale, retransmission rate, turnarounds, airtime, outages). */
void monitor_history_text(const struct monitor *m, int64_t now_s,
    struct buf *out);
/* Shift totals per band since since_s (or since start): accepted,
 * delivered, relayed, redirected, failed, delayed DSNs; and per link
 * airtime and bytes saved by compression. */
void monitor_report_text(const struct monitor *m, const struct status *st,
    const struct planner_counts *counts, int64_t since_s, int64_t now_s,
    struct buf *out);

#endif
