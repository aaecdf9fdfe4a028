/*
 * received.h - the trace header the SMTP server prepends (RFC 5321 4.4) and
 * the header scan it needs at the final dot (loop count, RFC 6758
 * MT-Priority header).
 *
 *   Received: from <helo> ([<ip>])
 *   	by <host> (skywave) with <ESMTP|SMTP> id <session-id>
 *   	for <rcpt> PRIORITY <n>;
 *   	<RFC 5322 date-time, +0000>
 *
 * "for" appears only with exactly one recipient (no recipient list leaks);
 * PRIORITY is RFC 6710's Additional-Registered-Clause and comes after
 * with/id/for. Pure functions; no state, any thread.
 */
#ifndef GW_GATEWAY_RECEIVED_H
#define GW_GATEWAY_RECEIVED_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct received_info {
	const char *helo;      /* EHLO/HELO argument (validated) */
	const char *peer_ip;   /* "192.0.2.1" or "IPv6:2001:db8::1" */
	const char *by;        /* our host name */
	const char *with;      /* "ESMTP", "SMTP" */
	const char *id;        /* session id */
	const char *for_addr;  /* the single recipient, or NULL */
	bool has_priority;
	int priority;
	int64_t when;          /* Unix seconds */
};

/* Append the header (CRLF line ends, folded) to out. */
void received_format(struct buf *out, const struct received_info *r);

/*
 * The trace field of the air hop, for a message that arrived over a radio
 * link: its queue envelope's client is "<peer> (link <name>)" (set by
 * airlink.c on commit). The gateway that delivers or forwards such a
 * message prepends
 *
 *   Received: from <peer> by <by> (skywave) with X-SKYWAVE-AIR
 *   	id <id> (link <name>) PRIORITY <n>;
 *   	<arrival, RFC 5322 date-time>
 *
 * built from the stored envelope only, so every copy made from it carries
 * the same octets (a resumed transfer sends the bytes it started with).
 * Appends to out and returns true; false (nothing appended) for a message
 * that did not arrive over the air.
 */
bool received_air(struct buf *out, const char *client, const char *by,
    const char *id, int priority, int64_t arrival);

/* RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 21:22:14 +0000";
 * locale-independent. out must hold 32 bytes. */
void received_date(int64_t t, char out[32]);

/* What the header section of a message says. */
struct received_scan {
	int received;          /* Received: fields */
	int mt_priority;       /* MT-Priority: fields */
	int mt_priority_valid; /* of those, syntactically valid */
	int priority;          /* value of the last valid one */
	size_t header_len;     /* octets up to and incl. the empty line */
};

/* Scan the header section of msg (CRLF or LF line ends, folded fields);
 * stops at the first empty line or at end. */
void received_scan(const uint8_t *msg, size_t len, struct received_scan *out);

#endif
