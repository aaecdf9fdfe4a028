/*
 * monitor.c - counters, alerts, history and metrics (see monitor.h).
 *
 * Alert life (struct alert):
 *
 *   (none) --condition true--> ACTIVE --condition false--> CLEARED
 *             ACTIVE --operator ack--> ACTIVE+acked (stays until cleared)
 *   CLEARED is kept for an hour to be seen, then forgotten; a condition
 *   that comes back raises a new alert. deadline_missed has no "false":
 *   it is cleared by its acknowledgement.
 *
 * History: per link a ring of MONITOR_HISTORY_MIN one-minute samples; the
 * tick adds the difference of the link's counters since the last tick to
 * the current minute. Shift totals: a ring of one-minute counts per band.
 *
 * Owner: ctlops (the daemon's control side). Loop thread.
 */
#include "gateway/monitor.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/sched/planner.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALERTS_MAX STATUS_ALERTS_MAX
#define CLEARED_KEEP_S 3600
#define BANDS SCHED_BANDS

enum tally { T_ACCEPTED, T_DELIVERED, T_RELAYED, T_REDIRECTED, T_FAILED,
	T_DELAYED, T__COUNT };
static const char *const tally_names[T__COUNT] = { "accepted", "delivered",
	"relayed", "redirected", "failed", "delayed DSNs" };

struct alert {
	struct status_alert a;
	bool used;
};

struct link_hist {
	char name[STATUS_NAME_MAX];
	struct monitor_sample ring[MONITOR_HISTORY_MIN];
	size_t head, n;                /* oldest at head */
	/* counters at the last tick */
	int64_t tx, rx, frames, retx, turns, auth, saved;
	bool seen;
	int64_t down_since_s;          /* 0: up */
	int64_t saved_total;           /* compression savings since start */
	uint64_t airtime_total_ms;
};

struct minute_tally {
	int64_t start_s;
	uint32_t v[BANDS][T__COUNT];
	int64_t saved_bytes;
};

struct line_counts {
	uint64_t smtp_sessions, smtp_refusals, dsns_queued, setup_failures;
	uint64_t accepted[BANDS], accepted_pending[BANDS];
};

struct monitor {
	struct monitor_cfg cfg;
	int64_t started_s;
	struct alert alerts[ALERTS_MAX];
	struct link_hist *links[STATUS_LINKS_MAX];
	size_t nlinks;
	struct minute_tally *tally;    /* MONITOR_HISTORY_MIN ring */
	size_t thead, tn;
	uint64_t last_counts[BANDS][T__COUNT]; /* planner's, at last tick */
	uint64_t missed_seen, missed_unacked;
	char band_names[BANDS][STATUS_NAME_MAX];
	/* from event lines (any thread that logs): under lock */
	pthread_mutex_t lock;
	struct line_counts lc;
};

struct monitor *
monitor_new(const struct monitor_cfg *cfg, int64_t now_s)
{
	struct monitor *m = xcalloc(1, sizeof(*m));

	m->cfg = *cfg;
	m->started_s = now_s;
	m->tally = xcalloc(MONITOR_HISTORY_MIN, sizeof(*m->tally));
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nlinks; i++)
		free(m->links[i]);
	free(m->tally);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void
monitor_reconfigure(struct monitor *m, const struct monitor_cfg *cfg)
{
	m->cfg = *cfg;
}

void
monitor_set_band_name(struct monitor *m, int band, const char *name)
{
	if (band >= 0 && band < BANDS)
		status_strlcpy(m->band_names[band], name,
		    sizeof(m->band_names[band]));
}

/* --- event lines ------------------------------------------------------- */

struct notable {
	const char *subsys, *event, *kind;
};

static const struct notable notables[] = {
	{ "planner", "redirect", "redirect" },
	{ "planner", "fail", "deadline" },
	{ "planner", "dsn", "dsn" },
	{ "intake", "dsn_queued", "dsn" },
	{ "sweep", "dsn_owed_queued", "dsn" },
	{ "link", "session_up", "link" },
	{ "link", "session_down", "link" },
	{ "link", "session_error", "link" },
	{ "link", "session_retry", "link" },
	{ "link", "session_lost", "link" },
	{ "link", "link_up", "link" },
	{ "link", "link_down", "link" },
	{ "monitor", "alert_raised", "alert" },
	{ "monitor", "alert_cleared", "alert" },
	{ "monitor", "alert_acked", "alert" },
	{ "monitor", "auth_failures", "auth" },
};

/* The value of key=... in text (up to a space), copied into out. */
static bool
kv(const char *text, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = text; (p = strstr(p, key)) != NULL; p += kl) {
		if ((p != text && p[-1] != ' ') || p[kl] != '=')
			continue;
		p += kl + 1;
		size_t n = strcspn(p, " ");
		if (n >= len)
			n = len - 1;
		memcpy(out, p, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

bool
monitor_notable(const char *subsys, const char *text, const char **kind)
{
	char ev[40];

	if (!kv(text, "event", ev, sizeof(ev)))
		return false;
	for (size_t i = 0; i < GW_ARRAY_LEN(notables); i++) {
		if (strcmp(notables[i].subsys, subsys) == 0 &&
		    strcmp(notables[i].event, ev) == 0) {
			if (kind)
				*kind = notables[i].kind;
			return true;
		}
	}
	return false;
}

/* Rings of MONITOR_HISTORY_MIN minutes, oldest at *head, *n in use: the
 * newest slot, and a new slot at the end (dropping the oldest when full). */
static size_t
ring_newest(size_t head, size_t n)
{
	return (head + n - 1) % MONITOR_HISTORY_MIN;
}

static size_t
ring_push(size_t *head, size_t *n)
{
	size_t i;

	if (*n < MONITOR_HISTORY_MIN)
		return (*head + (*n)++) % MONITOR_HISTORY_MIN;
	i = *head;
	*head = (*head + 1) % MONITOR_HISTORY_MIN;
	return i;
}

static struct minute_tally *
tally_at(struct monitor *m, int64_t now_s)
{
	int64_t start = now_s - now_s % 60;
	struct minute_tally *t;

	if (m->tn > 0 && m->tally[ring_newest(m->thead, m->tn)].start_s ==
	    start)
		return &m->tally[ring_newest(m->thead, m->tn)];
	t = &m->tally[ring_push(&m->thead, &m->tn)];
	memset(t, 0, sizeof(*t));
	t->start_s = start;
	return t;
}

void
monitor_count(struct monitor *m, const char *subsys, const char *text)
{
	char ev[40], v[24];
	struct line_counts *c = &m->lc;

	if (!kv(text, "event", ev, sizeof(ev)))
		return;
	pthread_mutex_lock(&m->lock);
	if (strcmp(subsys, "smtp") == 0) {
		if (strcmp(ev, "connect") == 0)
			c->smtp_sessions++;
		else if (strcmp(ev, "close") == 0 && kv(text, "errors", v,
		    sizeof(v)))
			c->smtp_refusals += strtoull(v, NULL, 10);
		else if (strcmp(ev, "queued") == 0) {
			long b = kv(text, "band", v, sizeof(v)) ?
			    strtol(v, NULL, 10) : 0;
			if (b < 0)
				b = 0;
			if (b >= BANDS)
				b = BANDS - 1;
			c->accepted[b]++;
			c->accepted_pending[b]++;
		}
	} else if (strcmp(subsys, "dispatch") == 0 &&
	    strcmp(ev, "dsn_queued") == 0) {
		c->dsns_queued++;
	} else if (strcmp(subsys, "link") == 0 &&
	    strcmp(ev, "session_error") == 0) {
		c->setup_failures++;
	}
	pthread_mutex_unlock(&m->lock);
}

static void
line_counts(struct monitor *m, struct line_counts *out, bool take_pending)
{
	pthread_mutex_lock(&m->lock);
	*out = m->lc;
	if (take_pending)
		memset(m->lc.accepted_pending, 0,
		    sizeof(m->lc.accepted_pending));
	pthread_mutex_unlock(&m->lock);
}

/* --- alerts ------------------------------------------------------------ */

static struct alert *
alert_find(struct monitor *m, const char *id, bool active_only)
{
	for (size_t i = 0; i < ALERTS_MAX; i++) {
		struct alert *a = &m->alerts[i];
		if (a->used && strcmp(a->a.id, id) == 0 &&
		    (!active_only || a->a.cleared_s == 0))
			return a;
	}
	return NULL;
}

static void
alert_raise(struct monitor *m, const char *id, const char *kind,
    int64_t now_s, const char *text)
{
	struct alert *slot = NULL;

	if (alert_find(m, id, true) != NULL)
		return;
	for (size_t i = 0; i < ALERTS_MAX && !slot; i++)
		if (!m->alerts[i].used)
			slot = &m->alerts[i];
	for (size_t i = 0; i < ALERTS_MAX && !slot; i++) /* oldest cleared */
		if (m->alerts[i].a.cleared_s != 0 && (slot == NULL ||
		    m->alerts[i].a.cleared_s < slot->a.cleared_s))
			slot = &m->alerts[i];
	if (slot == NULL)
		return; /* all active: the log still says it */
	memset(slot, 0, sizeof(*slot));
	slot->used = true;
	status_strlcpy(slot->a.id, id, sizeof(slot->a.id));
	status_strlcpy(slot->a.kind, kind, sizeof(slot->a.kind));
	status_strlcpy(slot->a.text, text, sizeof(slot->a.text));
	slot->a.since_s = now_s;
	GW_LOGW("monitor", "alert=%s event=alert_raised text=\"%s\"", id, gw_logq(text));
}

static void
alert_clear(struct monitor *m, const char *id, int64_t now_s)
{
	struct alert *a = alert_find(m, id, true);

	if (a == NULL)
		return;
	a->a.cleared_s = now_s;
	GW_LOGI("monitor", "alert=%s event=alert_cleared after_s=%" PRId64,
	    id, now_s - a->a.since_s);
}

static void
alert_set(struct monitor *m, bool on, const char *id, const char *kind,
    int64_t now_s, const char *text)
{
	if (on)
		alert_raise(m, id, kind, now_s, text);
	else
		alert_clear(m, id, now_s);
}

int
monitor_ack(struct monitor *m, const char *id, uid_t uid, int64_t now_s)
{
	struct alert *a = alert_find(m, id, true);

	if (a == NULL)
		return GW_ENOENT;
	if (a->a.acked)
		return GW_ESTATE;
	a->a.acked = true;
	snprintf(a->a.acked_by, sizeof(a->a.acked_by), "uid=%ld", (long)uid);
	GW_LOGI("monitor", "alert=%s event=alert_acked uid=%ld", id,
	    (long)uid);
	/* an occurrence, not a condition: acknowledged is done with */
	if (strcmp(a->a.kind, "deadline_missed") == 0)
		alert_clear(m, id, now_s);
	return 0;
}

void
monitor_fill(const struct monitor *m, struct status *st)
{
	st->nalerts = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ALERTS_MAX; i++) {
			const struct alert *a = &m->alerts[i];
			if (!a->used || (a->a.cleared_s == 0) != (pass == 0))
				continue;
			if (pass == 1 && st->now_s - a->a.cleared_s >
			    CLEARED_KEEP_S)
				continue;
			st->alerts[st->nalerts++] = a->a;
		}
}

/* --- tick: alerts, history, tallies ------------------------------------ */

static struct link_hist *
hist_of(struct monitor *m, const char *name)
{
	for (size_t i = 0; i < m->nlinks; i++)
		if (strcmp(m->links[i]->name, name) == 0)
			return m->links[i];
	if (m->nlinks >= STATUS_LINKS_MAX)
		return NULL;
	struct link_hist *h = xcalloc(1, sizeof(*h));
	status_strlcpy(h->name, name, sizeof(h->name));
	m->links[m->nlinks++] = h;
	return h;
}

static struct monitor_sample *
sample_at(struct link_hist *h, int64_t now_s)
{
	int64_t start = now_s - now_s % 60;
	struct monitor_sample *s;

	if (h->n > 0 && h->ring[ring_newest(h->head, h->n)].start_s == start)
		return &h->ring[ring_newest(h->head, h->n)];
	s = &h->ring[ring_push(&h->head, &h->n)];
	memset(s, 0, sizeof(*s));
	s->start_s = start;
	return s;
}

static uint32_t
delta(int64_t now, int64_t *last)
{
	int64_t d = now - *last;

	*last = now;
	return d > 0 && d < UINT32_MAX ? (uint32_t)d : 0;
}

static void
tick_link(struct monitor *m, const struct status_link *l, int64_t now_s,
    struct minute_tally *t)
{
	struct link_hist *h = hist_of(m, l->name);
	struct monitor_sample *s;
	char id[STATUS_NAME_MAX * 2], text[STATUS_TEXT_MAX];
	uint32_t dtx, dauth;

	if (h == NULL)
		return;
	if (!h->seen) { /* counters from before the first tick */
		h->seen = true;
		h->tx = l->tx_bytes;
		h->rx = l->rx_bytes;
		h->frames = l->tx_frames;
		h->retx = l->retransmits;
		h->turns = l->turns;
		h->auth = l->auth_failures;
		h->saved = l->saved_bytes;
	}
	s = sample_at(h, now_s);
	dtx = delta(l->tx_bytes, &h->tx);
	s->tx_bytes += dtx;
	s->rx_bytes += delta(l->rx_bytes, &h->rx);
	s->frames += delta(l->tx_frames, &h->frames);
	s->retransmits += delta(l->retransmits, &h->retx);
	s->turns += delta(l->turns, &h->turns);
	uint32_t dsaved = delta(l->saved_bytes, &h->saved);
	h->saved_total += dsaved;
	t->saved_bytes += dsaved;
	if (l->nominal_bps > 0) {
		uint32_t air = (uint32_t)((uint64_t)dtx * 8000 /
		    (uint64_t)l->nominal_bps);
		s->airtime_ms += air;
		h->airtime_total_ms += air;
	}
	dauth = delta(l->auth_failures, &h->auth);
	if (dauth > 0)
		GW_LOGW("monitor", "link=%s event=auth_failures new=%u "
		    "total=%" PRId64, l->name, dauth, l->auth_failures);

	/* down: no link session (held by the operator included) */
	if (l->session_up) {
		h->down_since_s = 0;
	} else {
		if (h->down_since_s == 0)
			h->down_since_s = now_s;
		s->down_s++;
	}
	snprintf(id, sizeof(id), "link_down:%s", l->name);
	bool down = h->down_since_s != 0 && m->cfg.link_down_ms > 0 &&
	    (now_s - h->down_since_s) * 1000 >= m->cfg.link_down_ms;
	snprintf(text, sizeof(text), "link %s down for more than %" PRId64
	    "s%s", l->name, m->cfg.link_down_ms / 1000,
	    l->held ? " (held by the operator)" : "");
	alert_set(m, down, id, "link_down", now_s, text);
}

void
monitor_tick(struct monitor *m, const struct status *st,
    const struct planner_counts *counts, int64_t now_s)
{
	struct minute_tally *t = tally_at(m, now_s);
	char id[STATUS_NAME_MAX * 2], text[STATUS_TEXT_MAX], a[32], b[32];
	int64_t bytes = 0;

	for (size_t i = 0; i < st->nlinks; i++)
		tick_link(m, &st->links[i], now_s, t);

	for (size_t i = 0; i < st->nbands; i++) {
		const struct status_band *q = &st->bands[i];
		bytes += q->bytes;
	}
	for (int band = 0; band < BANDS; band++) {
		const struct status_band *q = NULL;
		for (size_t i = 0; i < st->nbands; i++)
			if (st->bands[i].band == band)
				q = &st->bands[i];
		snprintf(id, sizeof(id), "band_age:%d", band);
		bool old = q != NULL && m->cfg.band_age_ms > 0 &&
		    q->messages > 0 && q->oldest_age_ms > m->cfg.band_age_ms;
		snprintf(text, sizeof(text), "band %s: oldest waiting message "
		    "older than %s", q ? q->name : "?",
		    status_fmt_ms(m->cfg.band_age_ms, a, sizeof(a)));
		alert_set(m, old, id, "band_age", now_s, text);
	}
	snprintf(text, sizeof(text), "%s waiting, more than %s",
	    status_fmt_bytes(bytes, a, sizeof(a)),
	    status_fmt_bytes(m->cfg.queue_bytes, b, sizeof(b)));
	alert_set(m, m->cfg.queue_bytes > 0 && bytes > m->cfg.queue_bytes,
	    "queue_bytes", "queue_bytes", now_s, text);

	struct line_counts lc;
	line_counts(m, &lc, true);
	for (int band = 0; band < BANDS; band++)
		t->v[band][T_ACCEPTED] += (uint32_t)lc.accepted_pending[band];
	if (counts == NULL)
		return;
	const uint64_t *src[T__COUNT] = { NULL, counts->delivered,
		counts->relayed, counts->redirected, counts->failed,
		counts->delayed_dsn };
	for (int k = 1; k < T__COUNT; k++)
		for (int band = 0; band < BANDS; band++) {
			uint64_t d = src[k][band] - m->last_counts[band][k];
			t->v[band][k] += (uint32_t)d;
			m->last_counts[band][k] = src[k][band];
		}
	if (counts->deadline_missed > m->missed_seen) {
		struct alert *al = alert_find(m, "deadline_missed", true);
		if (al == NULL)
			m->missed_unacked = 0;
		m->missed_unacked += counts->deadline_missed - m->missed_seen;
		snprintf(text, sizeof(text), "%" PRIu64 " deadline%s missed",
		    m->missed_unacked, m->missed_unacked == 1 ? "" : "s");
		if (al != NULL)
			status_strlcpy(al->a.text, text, sizeof(al->a.text));
		else if (m->cfg.deadline_missed)
			alert_raise(m, "deadline_missed", "deadline_missed",
			    now_s, text);
		m->missed_seen = counts->deadline_missed;
	}
}

/* --- metrics ----------------------------------------------------------- */

static void
label_value(struct buf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_appendf(out, "\\%c", *v);
		else if (*v == '\n')
			buf_append_str(out, "\\n");
		else
			buf_append_byte(out, (uint8_t)*v);
	}
}

static void
head(struct buf *out, const char *name, const char *type, const char *help)
{
	buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
band_labels(struct buf *out, const struct status_band *q)
{
	buf_appendf(out, "{band=\"%d\",name=\"", q->band);
	label_value(out, q->name);
	buf_append_str(out, "\"}");
}

#define LINK_METRIC(mname, type, help, expr)                              \
	do {                                                             \
		head(out, mname, type, help);                             \
		for (size_t i_ = 0; i_ < st->nlinks; i_++) {             \
			const struct status_link *l = &st->links[i_];    \
			buf_appendf(out, "%s{link=\"", mname);            \
			label_value(out, l->name);                       \
			buf_appendf(out, "\"} %.6g\n", (double)(expr));  \
		}                                                        \
	} while (0)

#define BAND_METRIC(mname, type, help, expr)                              \
	do {                                                             \
		head(out, mname, type, help);                             \
		for (size_t i_ = 0; i_ < st->nbands; i_++) {             \
			const struct status_band *q = &st->bands[i_];    \
			buf_append_str(out, mname);                       \
			band_labels(out, q);                             \
			buf_appendf(out, " %.6g\n", (double)(expr));     \
		}                                                        \
	} while (0)

static void
per_band_counter(struct buf *out, const char *name, const char *help,
    const uint64_t *v)
{
	head(out, name, "counter", help);
	for (int b = 0; b < BANDS; b++)
		buf_appendf(out, "%s{band=\"%d\"} %" PRIu64 "\n", name, b, v[b]);
}

static void
scalar(struct buf *out, const char *name, const char *type, const char *help,
    double v)
{
	head(out, name, type, help);
	buf_appendf(out, "%s %.6g\n", name, v);
}

void
monitor_metrics(struct monitor *m, const struct status *st,
    const struct planner_counts *counts, struct buf *out)
{
	struct line_counts lc;

	line_counts(m, &lc, false);
	scalar(out, "skywave_uptime_seconds", "gauge",
	    "Seconds since the daemon started.", st->uptime_ms / 1000.0);

	BAND_METRIC("skywave_queue_messages", "gauge",
	    "Messages waiting per priority band (not on the air, not held).",
	    q->messages);
	BAND_METRIC("skywave_queue_bytes", "gauge",
	    "Bytes waiting per priority band.", q->bytes);
	BAND_METRIC("skywave_queue_oldest_age_seconds", "gauge",
	    "Age of the oldest waiting message per band.",
	    q->oldest_age_ms / 1000.0);
	BAND_METRIC("skywave_queue_drain_seconds", "gauge",
	    "Predicted time to send a band and what is ahead of it "
	    "(-1: link down or rate unknown).",
	    q->drain_ms < 0 ? -1.0 : q->drain_ms / 1000.0);
	scalar(out, "skywave_held_messages", "gauge",
	    "Messages held by an operator.", (double)st->nheld);
	scalar(out, "skywave_onair_messages", "gauge",
	    "Messages being transmitted now.", (double)st->nonair);

	LINK_METRIC("skywave_link_up", "gauge",
	    "1 when a link session is established.", l->session_up ? 1 : 0);
	LINK_METRIC("skywave_link_held", "gauge",
	    "1 when the operator took the link down.", l->held ? 1 : 0);
	head(out, "skywave_link_state", "gauge",
	    "The link's state (1 for the current one).");
	for (size_t i = 0; i < st->nlinks; i++)
		for (int s = 0; s < STATUS_LINK__COUNT; s++) {
			buf_append_str(out, "skywave_link_state{link=\"");
			label_value(out, st->links[i].name);
			buf_appendf(out, "\",state=\"%s\"} %d\n",
			    status_link_state_name((enum status_link_state)s),
			    st->links[i].state == (enum status_link_state)s);
		}
	LINK_METRIC("skywave_link_down_seconds", "gauge",
	    "Seconds without a link session (0 when up).",
	    l->down_ms < 0 ? 0 : l->down_ms / 1000.0);
	LINK_METRIC("skywave_link_nominal_bytes_per_second", "gauge",
	    "The profile's air rate.", l->nominal_bps / 8.0);
	LINK_METRIC("skywave_link_measured_bytes_per_second", "gauge",
	    "Measured goodput (0: not measured yet).",
	    l->measured_bps / 8.0);
	LINK_METRIC("skywave_link_model_bytes_per_second", "gauge",
	    "Rate the scheduler predicts with.", l->model_bps / 8.0);
	LINK_METRIC("skywave_link_compression_ratio", "gauge",
	    "Compressed over original bytes sent.", l->ratio);
	LINK_METRIC("skywave_link_transmit_bytes_total", "counter",
	    "Bytes sent on the air.", l->tx_bytes);
	LINK_METRIC("skywave_link_receive_bytes_total", "counter",
	    "Bytes received from the air.", l->rx_bytes);
	LINK_METRIC("skywave_link_transmit_frames_total", "counter",
	    "Frames sent.", l->tx_frames);
	LINK_METRIC("skywave_link_receive_frames_total", "counter",
	    "Frames received.", l->rx_frames);
	LINK_METRIC("skywave_link_retransmissions_total", "counter",
	    "Data frames sent again.", l->retransmits);
	LINK_METRIC("skywave_link_retransmission_ratio", "gauge",
	    "Retransmitted over sent data frames.", l->retx_rate);
	LINK_METRIC("skywave_link_turnarounds_total", "counter",
	    "Times the turn was handed to the far end.", l->turns);
	LINK_METRIC("skywave_link_sessions_total", "counter",
	    "Link sessions established.", l->sessions);
	LINK_METRIC("skywave_link_sessions_lost_total", "counter",
	    "Link sessions lost.", l->sessions_lost);
	LINK_METRIC("skywave_link_auth_failures_total", "counter",
	    "Frames dropped for a bad or missing authentication tag.",
	    l->auth_failures);

	if (counts != NULL) {
		scalar(out, "skywave_deadlines_met_total", "counter",
		    "Recipients with a deadline relayed or delivered in time.",
		    (double)counts->deadline_met);
		scalar(out, "skywave_deadlines_missed_total", "counter",
		    "Deadlines missed (failed, delayed or redirected).",
		    (double)counts->deadline_missed);
		per_band_counter(out, "skywave_redirects_total",
		    "Recipients redirected to their alternate.",
		    counts->redirected);
		per_band_counter(out, "skywave_failed_total",
		    "Recipients failed by the scheduler.", counts->failed);
		per_band_counter(out, "skywave_delayed_dsns_total",
		    "Delayed DSNs decided.", counts->delayed_dsn);
		per_band_counter(out, "skywave_relayed_total",
		    "Recipients relayed over a link.", counts->relayed);
		per_band_counter(out, "skywave_delivered_total",
		    "Recipients delivered locally.", counts->delivered);
	}
	scalar(out, "skywave_dsns_queued_total", "counter",
	    "DSNs queued to senders.", (double)lc.dsns_queued);
	scalar(out, "skywave_link_setup_failures_total", "counter",
	    "Link session set-ups that failed.", (double)lc.setup_failures);
	scalar(out, "skywave_smtp_sessions_total", "counter",
	    "SMTP sessions accepted.", (double)lc.smtp_sessions);
	scalar(out, "skywave_smtp_refusals_total", "counter",
	    "SMTP commands refused with an error reply.",
	    (double)lc.smtp_refusals);
	per_band_counter(out, "skywave_smtp_accepted_total",
	    "Messages accepted over SMTP.", lc.accepted);

	head(out, "skywave_alert_active", "gauge",
	    "Active alerts (1), by id and kind; acked says whether an "
	    "operator acknowledged it.");
	for (size_t i = 0; i < st->nalerts; i++) {
		const struct status_alert *a = &st->alerts[i];
		if (a->cleared_s != 0)
			continue;
		buf_append_str(out, "skywave_alert_active{alert=\"");
		label_value(out, a->id);
		buf_append_str(out, "\",kind=\"");
		label_value(out, a->kind);
		buf_appendf(out, "\",acked=\"%s\"} 1\n", a->acked ? "yes" :
								     "no");
	}
}

/* --- history and report ------------------------------------------------ */

size_t
monitor_history(const struct monitor *m, const char *link, int64_t span_s,
    int64_t now_s, struct monitor_sample *out, size_t max)
{
	const struct link_hist *h = NULL;
	size_t n = 0;

	for (size_t i = 0; i < m->nlinks; i++)
		if (strcmp(m->links[i]->name, link) == 0)
			h = m->links[i];
	if (h == NULL)
		return 0;
	for (size_t i = 0; i < h->n; i++) {
		const struct monitor_sample *s =
		    &h->ring[(h->head + i) % MONITOR_HISTORY_MIN];
		if (s->start_s + 60 <= now_s - span_s)
			continue;
		if (n == max) { /* keep the newest */
			memmove(out, out + 1, (max - 1) * sizeof(*out));
			n--;
		}
		out[n++] = *s;
	}
	return n;
}

/* A bar chart of values v[0..n) in width columns with its scale. */
static void
bars(struct buf *out, const double *v, size_t n, const char *unit)
{
	static const char *const lv[] = { " ", "\u2581", "\u2582", "\u2583",
		"\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
	double max = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	buf_append_str(out, "    |");
	for (size_t i = 0; i < n; i++) {
		int k = max > 0 ? (int)(v[i] / max * 8.0 + 0.5) : 0;
		if (k == 0 && v[i] > 0)
			k = 1;
		buf_append_str(out, lv[k]);
	}
	buf_appendf(out, "| max %.0f %s\n", max, unit);
}

static void
history_span(struct buf *out, const struct monitor *m, const char *name,
    int64_t span_s, int64_t now_s, const char *label)
{
	struct monitor_sample *s = xcalloc(MONITOR_HISTORY_MIN, sizeof(*s));
	size_t n = monitor_history(m, name, span_s, now_s, s,
	    MONITOR_HISTORY_MIN);
	uint64_t tx = 0, frames = 0, retx = 0, turns = 0, air = 0, down = 0;
	size_t cols = 60, per = (size_t)(span_s / 60) / cols;
	double v[60] = { 0 };
	int64_t first = now_s - now_s % 60 - (int64_t)(cols * per - 1) * 60;
	char a[32], b[32], c[32];

	if (per == 0)
		per = 1;
	for (size_t i = 0; i < n; i++) {
		tx += s[i].tx_bytes;
		frames += s[i].frames;
		retx += s[i].retransmits;
		turns += s[i].turns;
		air += s[i].airtime_ms;
		down += s[i].down_s;
		int64_t col = (s[i].start_s - first) / 60 / (int64_t)per;
		if (col >= 0 && col < (int64_t)cols)
			v[col] += s[i].tx_bytes * 8.0 / (60.0 * (double)per);
	}
	buf_appendf(out, "  last %s: sent %s, retransmissions %.1f%%, "
	    "turnarounds %" PRIu64 ", airtime %s, down %s\n", label,
	    status_fmt_bytes((int64_t)tx, a, sizeof(a)),
	    frames ? retx * 100.0 / (double)frames : 0.0, turns,
	    status_fmt_ms((int64_t)air, b, sizeof(b)),
	    status_fmt_ms((int64_t)down * 1000, c, sizeof(c)));
	buf_appendf(out, "    throughput, one column per %s:\n",
	    per == 1 ? "minute" : per == 24 ? "24 minutes" : "interval");
	bars(out, v, cols, "b/s");
	free(s);
}

void
monitor_history_text(const struct monitor *m, int64_t now_s, struct buf *out)
{
	if (m->nlinks == 0)
		buf_append_str(out, "no links\n");
	for (size_t i = 0; i < m->nlinks; i++) {
		buf_appendf(out, "link %s\n", m->links[i]->name);
		history_span(out, m, m->links[i]->name, 3600, now_s, "hour");
		history_span(out, m, m->links[i]->name, 86400, now_s, "day");
	}
}

void
monitor_report_text(const struct monitor *m, const struct status *st,
    const struct planner_counts *counts, int64_t since_s, int64_t now_s,
    struct buf *out)
{
	uint64_t tot[BANDS][T__COUNT];
	int64_t saved = 0, from = since_s > m->started_s ? since_s :
							    m->started_s;
	char a[32], b[32], c[32];

	(void)counts;
	memset(tot, 0, sizeof(tot));
	for (size_t i = 0; i < m->tn; i++) {
		const struct minute_tally *t =
		    &m->tally[(m->thead + i) % MONITOR_HISTORY_MIN];
		if (t->start_s + 60 <= from)
			continue;
		for (int band = 0; band < BANDS; band++)
			for (int k = 0; k < T__COUNT; k++)
				tot[band][k] += t->v[band][k];
		saved += t->saved_bytes;
	}
	time_t tt = (time_t)from;
	struct tm tm;
	char when[32] = "-";
	if (gmtime_r(&tt, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	buf_appendf(out, "skywave report for %s since %s (%s)\n\n",
	    st->gateway[0] ? st->gateway : "-", when,
	    status_fmt_ms((now_s - from) * 1000, a, sizeof(a)));
	buf_appendf(out, "%-10s", "band");
	for (int k = 0; k < T__COUNT; k++)
		buf_appendf(out, " %12s", tally_names[k]);
	buf_append_str(out, "\n");
	uint64_t sum[T__COUNT] = { 0 };
	for (int band = BANDS - 1; band >= 0; band--) {
		bool any = false;
		for (int k = 0; k < T__COUNT; k++)
			any |= tot[band][k] != 0;
		if (!any)
			continue;
		const char *name = m->band_names[band][0] ?
		    m->band_names[band] : NULL;
		char nb[16];
		snprintf(nb, sizeof(nb), "%d", band);
		buf_appendf(out, "%-10s", name ? name : nb);
		for (int k = 0; k < T__COUNT; k++) {
			buf_appendf(out, " %12" PRIu64, tot[band][k]);
			sum[k] += tot[band][k];
		}
		buf_append_str(out, "\n");
	}
	buf_appendf(out, "%-10s", "total");
	for (int k = 0; k < T__COUNT; k++)
		buf_appendf(out, " %12" PRIu64, sum[k]);
	buf_append_str(out, "\n\nlinks:\n");
	for (size_t i = 0; i < m->nlinks; i++) {
		const struct link_hist *h = m->links[i];
		uint64_t air = 0, tx = 0, down = 0;
		for (size_t k = 0; k < h->n; k++) {
			const struct monitor_sample *s =
			    &h->ring[(h->head + k) % MONITOR_HISTORY_MIN];
			if (s->start_s + 60 <= from)
				continue;
			air += s->airtime_ms;
			tx += s->tx_bytes;
			down += s->down_s;
		}
		buf_appendf(out, "  %-10s airtime %s, sent %s, down %s\n",
		    h->name, status_fmt_ms((int64_t)air, a, sizeof(a)),
		    status_fmt_bytes((int64_t)tx, b, sizeof(b)),
		    status_fmt_ms((int64_t)down * 1000, c, sizeof(c)));
	}
	buf_appendf(out, "\nbytes saved by compression: %s\n",
	    status_fmt_bytes(saved, a, sizeof(a)));
}
