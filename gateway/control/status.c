/*
 * status.c - the snapshot model and its JSON form (see status.h).
 *
 * Encoding and decoding are driven by one field table per struct
 * ({json name, type, offset, size}), so the two directions cannot drift
 * apart: a field added to a table is both written and read. Arrays of
 * structs (links, bands, ...) and the spark samples are the only members
 * handled by hand.
 *
 * Pure code: no I/O, no globals, no logging.
 */
#include "gateway/control/status.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const link_state_names[] = {
#define STATUS__LS_NAME(n, s) s,
	STATUS_LINK_STATE_MAP(STATUS__LS_NAME)
#undef STATUS__LS_NAME
};
static const char *const risk_action_names[] = {
#define STATUS__RA_NAME(n, s) s,
	STATUS_RISK_ACTION_MAP(STATUS__RA_NAME)
#undef STATUS__RA_NAME
};
static const char *const msg_state_names[] = {
#define STATUS__MS_NAME(n, s) s,
	STATUS_MSG_STATE_MAP(STATUS__MS_NAME)
#undef STATUS__MS_NAME
};

static const char *
name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : "?";
}

static int
parse_of(const char *const *names, size_t n, const char *s)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

const char *
status_link_state_name(enum status_link_state s)
{
	return name_of(link_state_names, GW_ARRAY_LEN(link_state_names),
	    (int)s);
}

int
status_link_state_parse(const char *s)
{
	return parse_of(link_state_names, GW_ARRAY_LEN(link_state_names), s);
}

const char *
status_risk_action_name(enum status_risk_action a)
{
	return name_of(risk_action_names, GW_ARRAY_LEN(risk_action_names),
	    (int)a);
}

int
status_risk_action_parse(const char *s)
{
	return parse_of(risk_action_names, GW_ARRAY_LEN(risk_action_names),
	    s);
}

const char *
status_msg_state_name(enum status_msg_state s)
{
	return name_of(msg_state_names, GW_ARRAY_LEN(msg_state_names), (int)s);
}

int
status_msg_state_parse(const char *s)
{
	return parse_of(msg_state_names, GW_ARRAY_LEN(msg_state_names), s);
}

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t avail)
{
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlongs and surrogates */
	if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0)
		return 0;
	if (n == 3 && p[0] == 0xed && p[1] >= 0xa0)
		return 0;
	if (n == 4 && p[0] == 0xf0 && p[1] < 0x90)
		return 0;
	if (n == 4 && p[0] == 0xf4 && p[1] >= 0x90)
		return 0;
	return n;
}

void
status_strlcpy(char *dst, const char *src, size_t size)
{
	size_t i = 0, n = strlen(src);

	if (size == 0)
		return;
	while (i < n) {
		size_t k = utf8_seq((const unsigned char *)src + i, n - i);
		if (k == 0)
			k = 1; /* copied as is; the encoder cleans it */
		if (i + k > size - 1)
			break;
		i += k;
	}
	memcpy(dst, src, i);
	dst[i] = '\0';
}

/* A JSON string from text that may hold bytes that are not UTF-8. */
static json_t *
json_text(const char *s)
{
	size_t n = strlen(s);
	json_t *j = json_stringn(s, n);

	if (j != NULL)
		return j;
	char *clean = xmalloc(n + 1);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq((const unsigned char *)s + i, n - i);
		if (k == 0 || (k == 1 && s[i] == '\0')) {
			clean[i++] = '?';
			continue;
		}
		memcpy(clean + i, s + i, k);
		i += k;
	}
	clean[n] = '\0';
	j = json_stringn(clean, n);
	free(clean);
	GW_REQUIRE(j != NULL);
	return j;
}

/* --- field tables ------------------------------------------------------ */

enum ftype { F_STR, F_I64, F_INT, F_DBL, F_BOOL, F_LSTATE, F_RACTION,
	F_MSTATE };

struct field {
	const char *name;
	enum ftype type;
	size_t off;
	size_t size; /* F_STR only */
};

#define FS(st, m) { #m, F_STR, offsetof(struct st, m), \
	sizeof(((struct st *)0)->m) }
#define FT(st, m, t) { #m, t, offsetof(struct st, m), 0 }

static const struct field link_fields[] = {
	FS(status_link, name),
	FT(status_link, state, F_LSTATE),
	FT(status_link, held, F_BOOL),
	FS(status_link, profile),
	FS(status_link, peer),
	FT(status_link, nominal_bps, F_I64),
	FT(status_link, measured_bps, F_I64),
	FT(status_link, tx_bytes, F_I64),
	FT(status_link, rx_bytes, F_I64),
	FT(status_link, tx_frames, F_I64),
	FT(status_link, rx_frames, F_I64),
	FT(status_link, retx_rate, F_DBL),
	FT(status_link, last_good_ms, F_I64),
	FT(status_link, auth_failures, F_I64),
	FT(status_link, retransmits, F_I64),
	FT(status_link, turns, F_I64),
	FT(status_link, sessions, F_I64),
	FT(status_link, sessions_lost, F_I64),
	FT(status_link, session_up, F_BOOL),
	FT(status_link, model_bps, F_I64),
	FT(status_link, ratio, F_DBL),
	FT(status_link, down_ms, F_I64),
	FT(status_link, saved_bytes, F_I64),
	FT(status_link, spark_interval_ms, F_I64),
	{ NULL, F_STR, 0, 0 },
};

static const struct field band_fields[] = {
	FS(status_band, name),
	FT(status_band, band, F_INT),
	FT(status_band, messages, F_I64),
	FT(status_band, bytes, F_I64),
	FT(status_band, oldest_age_ms, F_I64),
	FT(status_band, drain_ms, F_I64),
	{ NULL, F_STR, 0, 0 },
};

static const struct field xfer_fields[] = {
	FS(status_xfer, id),
	FS(status_xfer, link),
	FS(status_xfer, sender),
	FS(status_xfer, rcpts),
	FT(status_xfer, priority, F_INT),
	FT(status_xfer, band, F_INT),
	FT(status_xfer, bytes_sent, F_I64),
	FT(status_xfer, bytes_total, F_I64),
	FT(status_xfer, committing, F_BOOL),
	FT(status_xfer, rate_bps, F_I64),
	FT(status_xfer, ahead_bytes, F_I64),
	FT(status_xfer, eta_ms, F_I64),
	{ NULL, F_STR, 0, 0 },
};

static const struct field risk_fields[] = {
	FS(status_risk, id),
	FS(status_risk, sender),
	FS(status_risk, kind),
	FT(status_risk, deadline_s, F_I64),
	FT(status_risk, predicted_s, F_I64),
	FT(status_risk, slack_ms, F_I64),
	FT(status_risk, action, F_RACTION),
	FS(status_risk, status),
	FS(status_risk, target),
	{ NULL, F_STR, 0, 0 },
};

static const struct field held_fields[] = {
	FS(status_held, id),
	FS(status_held, sender),
	FS(status_held, rcpts),
	FT(status_held, priority, F_INT),
	FT(status_held, bytes, F_I64),
	FT(status_held, since_s, F_I64),
	FS(status_held, by),
	{ NULL, F_STR, 0, 0 },
};

static const struct field event_fields[] = {
	FT(status_event, time_s, F_I64),
	FS(status_event, level),
	FS(status_event, kind),
	FS(status_event, text),
	{ NULL, F_STR, 0, 0 },
};

static const struct field alert_fields[] = {
	FS(status_alert, id),
	FS(status_alert, kind),
	FS(status_alert, text),
	FT(status_alert, since_s, F_I64),
	FT(status_alert, cleared_s, F_I64),
	FT(status_alert, acked, F_BOOL),
	FS(status_alert, acked_by),
	{ NULL, F_STR, 0, 0 },
};

static const struct field msg_fields[] = {
	FS(status_msg, id),
	FT(status_msg, state, F_MSTATE),
	FS(status_msg, sender),
	FS(status_msg, rcpts),
	FT(status_msg, nrcpts, F_I64),
	FT(status_msg, priority, F_INT),
	FS(status_msg, band),
	FS(status_msg, route),
	FT(status_msg, bytes, F_I64),
	FT(status_msg, age_ms, F_I64),
	FT(status_msg, deadline_s, F_I64),
	FT(status_msg, attempts, F_I64),
	FT(status_msg, next_try_ms, F_I64),
	FS(status_msg, last_error),
	{ NULL, F_STR, 0, 0 },
};

static const struct field top_fields[] = {
	FT(status, version, F_INT),
	FS(status, gateway),
	FT(status, now_s, F_I64),
	FT(status, uptime_ms, F_I64),
	FT(status, risk_slack_ms, F_I64),
	{ NULL, F_STR, 0, 0 },
};

static json_t *
fields_encode(const struct field *t, const void *obj, json_t *o)
{
	const char *base = obj;

	if (o == NULL)
		o = json_object();
	for (; t->name; t++) {
		const void *p = base + t->off;
		json_t *v;
		switch (t->type) {
		case F_STR: v = json_text(p); break;
		case F_I64: v = json_integer(*(const int64_t *)p); break;
		case F_INT: v = json_integer(*(const int *)p); break;
		case F_DBL: v = json_real(*(const double *)p); break;
		case F_BOOL: v = json_boolean(*(const bool *)p); break;
		case F_LSTATE:
			v = json_string(status_link_state_name(
			    *(const enum status_link_state *)p));
			break;
		case F_RACTION:
			v = json_string(status_risk_action_name(
			    *(const enum status_risk_action *)p));
			break;
		case F_MSTATE:
			v = json_string(status_msg_state_name(
			    *(const enum status_msg_state *)p));
			break;
		default: v = NULL; break;
		}
		GW_REQUIRE(v != NULL);
		json_object_set_new(o, t->name, v);
	}
	return o;
}

static int
bad(char *err, size_t errlen, const char *where, const char *name,
    const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s%s%s: %s", where, *where ? "." : "",
		    name, what);
	return GW_EPROTO;
}

static int
enum_decode(const json_t *v, int (*parse)(const char *), int *out)
{
	int e;

	if (!json_is_string(v))
		return -1;
	e = parse(json_string_value(v));
	if (e < 0)
		return -1;
	*out = e;
	return 0;
}

static int
fields_decode(const struct field *t, const json_t *o, void *obj,
    const char *where, char *err, size_t errlen)
{
	char *base = obj;

	if (!json_is_object(o))
		return bad(err, errlen, where, "", "not an object");
	for (; t->name; t++) {
		const json_t *v = json_object_get(o, t->name);
		void *p = base + t->off;
		int e;
		if (v == NULL || json_is_null(v))
			continue;
		switch (t->type) {
		case F_STR:
			if (!json_is_string(v))
				return bad(err, errlen, where, t->name,
				    "not a string");
			status_strlcpy(p, json_string_value(v), t->size);
			break;
		case F_I64:
			if (!json_is_integer(v))
				return bad(err, errlen, where, t->name,
				    "not an integer");
			*(int64_t *)p = (int64_t)json_integer_value(v);
			break;
		case F_INT:
			if (!json_is_integer(v) ||
			    json_integer_value(v) < -1000000000 ||
			    json_integer_value(v) > 1000000000)
				return bad(err, errlen, where, t->name,
				    "not a small integer");
			*(int *)p = (int)json_integer_value(v);
			break;
		case F_DBL:
			if (!json_is_number(v))
				return bad(err, errlen, where, t->name,
				    "not a number");
			*(double *)p = json_number_value(v);
			break;
		case F_BOOL:
			if (!json_is_boolean(v))
				return bad(err, errlen, where, t->name,
				    "not a boolean");
			*(bool *)p = json_is_true(v);
			break;
		case F_LSTATE:
			if (enum_decode(v, status_link_state_parse, &e) != 0)
				return bad(err, errlen, where, t->name,
				    "unknown link state");
			*(enum status_link_state *)p =
			    (enum status_link_state)e;
			break;
		case F_RACTION:
			if (enum_decode(v, status_risk_action_parse, &e) != 0)
				return bad(err, errlen, where, t->name,
				    "unknown action");
			*(enum status_risk_action *)p =
			    (enum status_risk_action)e;
			break;
		case F_MSTATE:
			if (enum_decode(v, status_msg_state_parse, &e) != 0)
				return bad(err, errlen, where, t->name,
				    "unknown message state");
			*(enum status_msg_state *)p = (enum status_msg_state)e;
			break;
		}
	}
	return 0;
}

/* --- whole snapshot ---------------------------------------------------- */

void
status_init(struct status *st)
{
	memset(st, 0, sizeof(*st));
	st->version = STATUS_VERSION;
}

#define ARRAY_ENCODE(o, key, tab, arr, n)                                   \
	do {                                                                \
		json_t *a_ = json_array();                                  \
		for (size_t i_ = 0; i_ < (n); i_++)                         \
			json_array_append_new(a_,                           \
			    fields_encode(tab, &(arr)[i_], NULL));          \
		json_object_set_new(o, key, a_);                            \
	} while (0)

json_t *
status_to_json(const struct status *st)
{
	json_t *o = fields_encode(top_fields, st, NULL);
	json_t *links = json_array();

	for (size_t i = 0; i < st->nlinks && i < STATUS_LINKS_MAX; i++) {
		const struct status_link *l = &st->links[i];
		json_t *lo = fields_encode(link_fields, l, NULL);
		json_t *sp = json_array();
		for (size_t k = 0; k < l->nspark && k < STATUS_SPARK_MAX; k++)
			json_array_append_new(sp, json_integer(l->spark[k]));
		json_object_set_new(lo, "spark", sp);
		json_array_append_new(links, lo);
	}
	json_object_set_new(o, "links", links);
#define CLAMP(n, max) ((n) < (max) ? (n) : (max))
	ARRAY_ENCODE(o, "bands", band_fields, st->bands,
	    CLAMP(st->nbands, STATUS_BANDS_MAX));
	ARRAY_ENCODE(o, "onair", xfer_fields, st->onair,
	    CLAMP(st->nonair, STATUS_ONAIR_MAX));
	ARRAY_ENCODE(o, "risk", risk_fields, st->risk,
	    CLAMP(st->nrisk, STATUS_RISK_MAX));
	ARRAY_ENCODE(o, "held", held_fields, st->held,
	    CLAMP(st->nheld, STATUS_HELD_MAX));
	ARRAY_ENCODE(o, "events", event_fields, st->events,
	    CLAMP(st->nevents, STATUS_EVENTS_MAX));
	ARRAY_ENCODE(o, "alerts", alert_fields, st->alerts,
	    CLAMP(st->nalerts, STATUS_ALERTS_MAX));
	return o;
}

/* Decode the array member key of o into arr (elements of size esz), at most
 * max; sets *n. A missing member is an empty array. */
static int
array_decode(const json_t *o, const char *key, const struct field *tab,
    void *arr, size_t esz, size_t max, size_t *n, char *err, size_t errlen)
{
	const json_t *a = json_object_get(o, key);
	size_t i;
	int rc;

	*n = 0;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return bad(err, errlen, "", key, "not an array");
	for (i = 0; i < json_array_size(a) && i < max; i++) {
		void *e = (char *)arr + i * esz;
		rc = fields_decode(tab, json_array_get(a, i), e, key, err,
		    errlen);
		if (rc != 0)
			return rc;
		*n = i + 1;
	}
	return 0;
}

int
status_from_json(const json_t *j, struct status *st, char *err, size_t errlen)
{
	const json_t *links;
	int rc;

	status_init(st);
	st->version = 0;
	rc = fields_decode(top_fields, j, st, "", err, errlen);
	if (rc != 0)
		return rc;
	if (st->version > STATUS_VERSION)
		return bad(err, errlen, "", "version", "newer than supported");
	links = json_object_get(j, "links");
	if (links != NULL && !json_is_null(links)) {
		if (!json_is_array(links))
			return bad(err, errlen, "", "links", "not an array");
		for (size_t i = 0;
		    i < json_array_size(links) && i < STATUS_LINKS_MAX; i++) {
			struct status_link *l = &st->links[i];
			const json_t *lo = json_array_get(links, i);
			const json_t *sp;
			rc = fields_decode(link_fields, lo, l, "links", err,
			    errlen);
			if (rc != 0)
				return rc;
			sp = json_object_get(lo, "spark");
			if (sp != NULL && !json_is_array(sp))
				return bad(err, errlen, "links", "spark",
				    "not an array");
			for (size_t k = 0; sp && k < json_array_size(sp) &&
			    k < STATUS_SPARK_MAX; k++) {
				const json_t *v = json_array_get(sp, k);
				if (!json_is_integer(v) ||
				    json_integer_value(v) < 0 ||
				    json_integer_value(v) > UINT32_MAX)
					return bad(err, errlen, "links",
					    "spark", "bad sample");
				l->spark[k] = (uint32_t)json_integer_value(v);
				l->nspark = k + 1;
			}
			st->nlinks = i + 1;
		}
	}
	rc = array_decode(j, "bands", band_fields, st->bands,
	    sizeof(st->bands[0]), STATUS_BANDS_MAX, &st->nbands, err, errlen);
	if (rc == 0)
		rc = array_decode(j, "onair", xfer_fields, st->onair,
		    sizeof(st->onair[0]), STATUS_ONAIR_MAX, &st->nonair, err,
		    errlen);
	if (rc == 0)
		rc = array_decode(j, "risk", risk_fields, st->risk,
		    sizeof(st->risk[0]), STATUS_RISK_MAX, &st->nrisk, err,
		    errlen);
	if (rc == 0)
		rc = array_decode(j, "held", held_fields, st->held,
		    sizeof(st->held[0]), STATUS_HELD_MAX, &st->nheld, err,
		    errlen);
	if (rc == 0)
		rc = array_decode(j, "events", event_fields, st->events,
		    sizeof(st->events[0]), STATUS_EVENTS_MAX, &st->nevents,
		    err, errlen);
	if (rc == 0)
		rc = array_decode(j, "alerts", alert_fields, st->alerts,
		    sizeof(st->alerts[0]), STATUS_ALERTS_MAX, &st->nalerts,
		    err, errlen);
	return rc;
}

json_t *
status_msg_to_json(const struct status_msg *m)
{
	return fields_encode(msg_fields, m, NULL);
}

int
status_msg_from_json(const json_t *j, struct status_msg *m, char *err,
    size_t errlen)
{
	memset(m, 0, sizeof(*m));
	return fields_decode(msg_fields, j, m, "", err, errlen);
}

/* --- throughput sampler ------------------------------------------------ */

void
status_sampler_init(struct status_sampler *s, int64_t interval_ms,
    int64_t now_ms)
{
	GW_REQUIRE(interval_ms > 0);
	memset(s, 0, sizeof(*s));
	s->interval_ms = interval_ms;
	s->slot_start_ms = now_ms;
}

static void
sampler_push(struct status_sampler *s, uint32_t v)
{
	if (s->n < STATUS_SPARK_MAX) {
		s->ring[(s->head + s->n) % STATUS_SPARK_MAX] = v;
		s->n++;
	} else {
		s->ring[s->head] = v;
		s->head = (s->head + 1) % STATUS_SPARK_MAX;
	}
}

/* Close every slot that ended at or before now_ms. */
static void
sampler_roll(struct status_sampler *s, int64_t now_ms)
{
	int64_t slots;

	if (now_ms < s->slot_start_ms + s->interval_ms)
		return;
	slots = (now_ms - s->slot_start_ms) / s->interval_ms;
	uint64_t rate = s->slot_bytes * 1000 / (uint64_t)s->interval_ms;
	sampler_push(s, rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate);
	/* idle slots after a gap; more than a ring's worth is all zeros */
	for (int64_t i = 1; i < slots && i <= STATUS_SPARK_MAX; i++)
		sampler_push(s, 0);
	s->slot_start_ms += slots * s->interval_ms;
	s->slot_bytes = 0;
}

void
status_sampler_add(struct status_sampler *s, int64_t now_ms, uint64_t bytes)
{
	sampler_roll(s, now_ms);
	s->slot_bytes += bytes;
}

void
status_sampler_fill(struct status_sampler *s, int64_t now_ms,
    struct status_link *l)
{
	sampler_roll(s, now_ms);
	l->spark_interval_ms = s->interval_ms;
	l->nspark = s->n;
	for (size_t i = 0; i < s->n; i++)
		l->spark[i] = s->ring[(s->head + i) % STATUS_SPARK_MAX];
}

/* --- human formats ----------------------------------------------------- */

char *
status_fmt_bytes(int64_t bytes, char *out, size_t len)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1000 && bytes > -1000) {
		snprintf(out, len, "%" PRId64 " B", bytes);
		return out;
	}
	v /= 1000.0;
	while ((v >= 999.95 || v <= -999.95) && u + 1 < GW_ARRAY_LEN(unit)) {
		v /= 1000.0;
		u++;
	}
	snprintf(out, len, "%.1f %s", v, unit[u]);
	return out;
}

char *
status_fmt_ms(int64_t ms, char *out, size_t len)
{
	const char *sign = ms < 0 ? "-" : "";
	int64_t a = ms == INT64_MIN ? INT64_MAX : ms < 0 ? -ms : ms;
	int64_t s = a / 1000;

	if (a < 1000)
		snprintf(out, len, "%s%" PRId64 "ms", sign, a);
	else if (s < 60)
		snprintf(out, len, "%s%" PRId64 "s", sign, s);
	else if (s < 3600)
		snprintf(out, len, "%s%" PRId64 "m%02" PRId64 "s", sign,
		    s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%s%" PRId64 "h%02" PRId64 "m", sign,
		    s / 3600, s / 60 % 60);
	else
		snprintf(out, len, "%s%" PRId64 "d%02" PRId64 "h", sign,
		    s / 86400, s / 3600 % 24);
	return out;
}

char *
status_fmt_bps(int64_t bps, char *out, size_t len)
{
	if (bps < 10000)
		snprintf(out, len, "%" PRId64 " b/s", bps);
	else if (bps < 10000000)
		snprintf(out, len, "%.1f kb/s", (double)bps / 1000.0);
	else
		snprintf(out, len, "%.1f Mb/s", (double)bps / 1e6);
	return out;
}

static void
fmt_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, len, "-");
		return;
	}
	strftime(out, len, "%H:%M:%SZ", &tm);
}

void
status_format_text(const struct status *st, struct buf *out)
{
	char a[32], b[32], c[32], d[32];

	fmt_time(st->now_s, a, sizeof(a));
	buf_appendf(out, "gateway %s at %s, up %s\n", st->gateway[0] ?
	    st->gateway : "-", a, status_fmt_ms(st->uptime_ms, b, sizeof(b)));
	buf_appendf(out, "\nlinks:%s\n", st->nlinks ? "" : " none");
	for (size_t i = 0; i < st->nlinks; i++) {
		const struct status_link *l = &st->links[i];
		buf_appendf(out, "  %-10s %-10s%s profile=%s peer=%s\n",
		    l->name, status_link_state_name(l->state),
		    l->held ? " HELD" : "", l->profile[0] ? l->profile : "-",
		    l->peer[0] ? l->peer : "-");
		status_fmt_bps(l->nominal_bps, a, sizeof(a));
		status_fmt_bps(l->measured_bps, b, sizeof(b));
		buf_appendf(out, "             rate nominal=%s measured=%s "
		    "retx=%.1f%% auth_failures=%" PRId64 " last_good=%s\n", a,
		    b, l->retx_rate * 100.0, l->auth_failures,
		    l->last_good_ms < 0 ? "never" :
		    status_fmt_ms(l->last_good_ms, c, sizeof(c)));
		status_fmt_bytes(l->tx_bytes, a, sizeof(a));
		status_fmt_bytes(l->rx_bytes, b, sizeof(b));
		buf_appendf(out, "             tx %s in %" PRId64 " frames, "
		    "rx %s in %" PRId64 " frames\n", a, l->tx_frames, b,
		    l->rx_frames);
	}
	buf_appendf(out, "\nalerts:%s\n", st->nalerts ? "" : " none");
	for (size_t i = 0; i < st->nalerts; i++) {
		const struct status_alert *al = &st->alerts[i];
		fmt_time(al->since_s, a, sizeof(a));
		buf_appendf(out, "  %-7s %-20s since %s  %s%s%s\n",
		    al->cleared_s ? "cleared" : al->acked ? "acked" : "ACTIVE",
		    al->id, a, al->text, al->acked ? "  ack by " : "",
		    al->acked ? al->acked_by : "");
	}
	buf_appendf(out, "\nqueue (waiting):%s\n", st->nbands ? "" :
	    " nothing");
	for (size_t i = 0; i < st->nbands; i++) {
		const struct status_band *q = &st->bands[i];
		buf_appendf(out, "  %-10s %6" PRId64 " msg%s %10s  oldest %-8s"
		    " drain %s\n", q->name, q->messages,
		    q->messages == 1 ? " " : "s",
		    status_fmt_bytes(q->bytes, a, sizeof(a)),
		    status_fmt_ms(q->oldest_age_ms, b, sizeof(b)),
		    q->drain_ms < 0 ? "- (link down)" :
		    status_fmt_ms(q->drain_ms, c, sizeof(c)));
	}
	buf_appendf(out, "\non air:%s\n", st->nonair ? "" : " nothing");
	for (size_t i = 0; i < st->nonair; i++) {
		const struct status_xfer *x = &st->onair[i];
		int pct = x->bytes_total > 0 ?
		    (int)(x->bytes_sent * 100 / x->bytes_total) : 0;
		buf_appendf(out, "  %s link=%s prio=%d from=%s to=%s\n", x->id,
		    x->link, x->priority, x->sender, x->rcpts);
		buf_appendf(out, "    %s of %s (%d%%) eta %s at %s\n",
		    status_fmt_bytes(x->bytes_sent, a, sizeof(a)),
		    status_fmt_bytes(x->bytes_total, b, sizeof(b)), pct,
		    x->committing ? "committing" : x->eta_ms < 0 ? "?" :
		    status_fmt_ms(x->eta_ms, c, sizeof(c)),
		    status_fmt_bps(x->rate_bps, d, sizeof(d)));
	}
	buf_appendf(out, "\ndeadlines at risk (slack under %s):%s\n",
	    status_fmt_ms(st->risk_slack_ms, d, sizeof(d)), st->nrisk ? "" :
	    " none");
	for (size_t i = 0; i < st->nrisk; i++) {
		const struct status_risk *r = &st->risk[i];
		fmt_time(r->deadline_s, a, sizeof(a));
		fmt_time(r->predicted_s, b, sizeof(b));
		buf_appendf(out, "  %s %s=%s predicted=%s slack=%s on_miss=%s"
		    "%s%s%s%s\n", r->id, r->kind[0] ? r->kind : "BY", a, b,
		    r->slack_ms == INT64_MIN ? "?" :
		    status_fmt_ms(r->slack_ms, c, sizeof(c)),
		    status_risk_action_name(r->action),
		    r->status[0] ? " status=" : "", r->status,
		    r->target[0] ? " to=" : "", r->target);
	}
	buf_appendf(out, "\nheld:%s\n", st->nheld ? "" : " none");
	for (size_t i = 0; i < st->nheld; i++) {
		const struct status_held *h = &st->held[i];
		fmt_time(h->since_s, a, sizeof(a));
		buf_appendf(out, "  %s prio=%d %s from=%s since=%s by=%s\n",
		    h->id, h->priority, status_fmt_bytes(h->bytes, d,
		    sizeof(d)), h->sender, a, h->by[0] ? h->by : "-");
	}
	buf_appendf(out, "\nrecent events:%s\n", st->nevents ? "" : " none");
	for (size_t i = 0; i < st->nevents; i++) {
		const struct status_event *e = &st->events[i];
		fmt_time(e->time_s, a, sizeof(a));
		buf_appendf(out, "  %s %-5s %-8s %s\n", a, e->level, e->kind,
		    e->text);
	}
}
