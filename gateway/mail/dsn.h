/*
 * dsn.h - delivery status notifications (RFC 3461, RFC 3464, RFC 2852).
 *
 * Three things:
 *   dsn_owed()   whether a DSN of a given action is owed for one recipient
 *                (NOTIFY rules, the null reverse path, trace and redirects);
 *   dsn_build()  a multipart/report; report-type=delivery-status message
 *                about one original message, ready for queue_submit():
 *                a struct queue_envelope with the null reverse path, the
 *                original sender as its one recipient, NOTIFY=NEVER (never a
 *                DSN about a DSN), the original's priority and band, and the
 *                content in a buf;
 *   dsn_parse()  a parser for such reports (tests, and DSNs coming back).
 *
 * Content uses CRLF line ends (wire form, as the queue stores it).
 * Pure functions: no clock (times are passed in), no I/O; thread-agnostic.
 */
#ifndef GW_GATEWAY_DSN_H
#define GW_GATEWAY_DSN_H

#include "common/buf.h"
#include "queue/queue_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSN_ACTION_MAP(XX)          \
	XX(FAILED, "failed")        \
	XX(DELAYED, "delayed")      \
	XX(DELIVERED, "delivered")  \
	XX(RELAYED, "relayed")      \
	XX(EXPANDED, "expanded")

enum dsn_action {
#define DSN__ACTION_ENUM(n, s) DSN_##n,
	DSN_ACTION_MAP(DSN__ACTION_ENUM)
#undef DSN__ACTION_ENUM
};

const char *dsn_action_name(enum dsn_action a);
/* Parse an action name (case-insensitive); 0 or GW_EINVAL. */
int dsn_action_parse(const char *s, enum dsn_action *out);

/* Why the DSN would be sent, which changes the NOTIFY rule. */
enum dsn_why {
	DSN_WHY_NORMAL = 0, /* RFC 3461: FAILURE / DELAY / SUCCESS asked */
	DSN_WHY_TRACE,      /* BY...T or mode N to a hop without DELIVERBY:
			       "relayed" unless NEVER (RFC 2852 s4.1.4) */
	DSN_WHY_REDIRECT,   /* redirect to the alternate recipient: owed
			       with FAILURE or SUCCESS or no NOTIFY */
};

/*
 * True if a DSN with action a is owed for a recipient with these NOTIFY bits
 * (QUEUE_NOTIFY_*, 0 = not given) of a message whose reverse path is
 * null_sender ("<>": never, whatever else).
 *   failed:    NOTIFY absent or FAILURE
 *   delayed:   NOTIFY absent or DELAY (RFC 3461: absent allows DELAY)
 *   delivered, relayed: SUCCESS (or the why rules above)
 */
bool dsn_owed(bool null_sender, unsigned notify, enum dsn_action a,
    enum dsn_why why);

/* One recipient group of a report. Strings are borrowed. */
struct dsn_rcpt {
	const char *final_rcpt;   /* address, without angle brackets */
	const char *orcpt;        /* ORCPT "type;xtext" as given, or NULL */
	enum dsn_action action;
	const char *status;       /* enhanced code "5.4.7" */
	const char *diag;         /* "smtp; 550 5.1.1 ..." or NULL */
	const char *remote_mta;   /* "dns; host" or NULL */
	int64_t last_attempt_s;   /* 0 = omit */
	int64_t will_retry_until_s; /* delayed only; 0 = omit */
	const char *alternate;    /* X-Skywave-Alternate-Recipient, or NULL */
	const char *redirect_cause; /* X-Skywave-Redirect-Cause, or NULL */
};

/* What a report is about. All borrowed; orig is the original envelope
 * (reverse path, ENVID, RET, arrival, BY, priority, band). */
struct dsn_report {
	const char *reporting_mta;      /* our host name */
	const char *received_from_mta;  /* "dns; name" or NULL */
	const struct queue_envelope *orig;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	const uint8_t *content;         /* original message, CRLF lines */
	size_t content_len;
	int64_t now_s;                  /* Date: and the boundary */
};

/*
 * Build the report. Recipients are included as given (filter with
 * dsn_owed() first). On success *env_out is a new envelope (caller owns;
 * queue_submit() takes it) and out holds the content (appended).
 * Returns 0; GW_ENOENT when no DSN may be sent (null reverse path, or no
 * recipients); GW_EINVAL for a missing reporting MTA or original.
 *
 * Returned content: a failed report carries message/rfc822 (the whole
 * original) only with RET=FULL, else text/rfc822-headers; other actions
 * always carry headers only (RET applies to failures, RFC 3461).
 */
int dsn_build(const struct dsn_report *r, struct queue_envelope **env_out,
    struct buf *out);

/* RFC 5322 date-time "Mon, 23 Nov 2026 21:30:00 +0000" (UTC). */
void dsn_format_date(int64_t t_s, char *out, size_t len);

/* Decode xtext ("b+40y" -> "b@y") into out; 0 or GW_ESYNTAX. */
int dsn_xtext_decode(const char *in, char *out, size_t len);

/* ---- parser ---- */

#define DSN_PARSE_RCPTS_MAX 64

struct dsn_parsed_rcpt {
	char original_rcpt[512];   /* "rfc822;addr" or "" */
	char final_rcpt[512];
	char action[16];
	char status[16];
	char diag[512];
	char remote_mta[256];
	char last_attempt[64];
	char will_retry_until[64];
	char alternate[512];
	char redirect_cause[64];
};

struct dsn_parsed {
	char from[256], to[256], subject[256];
	char report_type[64];       /* from the top Content-Type */
	char reporting_mta[256];
	char envid[128];
	char arrival_date[64];
	char deliver_by_date[64];
	char received_from_mta[256];
	char returned_type[64];     /* third part's content type, or "" */
	size_t returned_len;        /* bytes of the third part's body */
	char human[1024];           /* first part's text (truncated) */
	struct dsn_parsed_rcpt rcpts[DSN_PARSE_RCPTS_MAX];
	size_t nrcpts;
};

/* Parse a report built by dsn_build() (or any well-formed RFC 3464
 * report). Returns 0, or GW_ESYNTAX when it is not a delivery-status
 * multipart/report. */
int dsn_parse(const uint8_t *p, size_t len, struct dsn_parsed *out);

#endif
