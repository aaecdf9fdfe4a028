/*
 * b2f_msg.h - Winlink message format <-> RFC 5322/MIME.
 *
 * A Winlink message is a header of "Name: value" lines (Mid, Date
 * "YYYY/MM/DD HH:MM" UTC, Type, From, To and Cc (repeated), Subject, Mbo,
 * Body: byte count of the body, File: "size name" per attachment,
 * Content-Type with the body's charset, and anything else, X- fields
 * included), an empty line, the body, then for each File: CRLF and the
 * file's bytes, and a final CRLF.
 *
 * Addresses: a bare callsign CALL is the address call@DOMAIN (lower case;
 * the [b2f] domain); our own callsign is the configured mailbox
 * (deliver_to); "SMTP:user@host" is user@host. Back the other way an
 * address in DOMAIN is its callsign and anything else is "SMTP:addr".
 *
 * The B2F message id is kept as Message-ID <MID@DOMAIN>, and such a
 * message carried on to another station keeps its MID; any other message
 * gets the MID that b2f_mid_from_id() derives from its queue id, so every
 * attempt of the same message proposes the same MID (duplicate refusal and
 * resume work across sessions).
 *
 * Pure code (GMime for parsing MIME); any thread once GMime is
 * initialised (b2f_msg_init).
 */
#ifndef GW_GATEWAY_B2F_MSG_H
#define GW_GATEWAY_B2F_MSG_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct b2f_addrmap {
	const char *mycall;      /* our callsign, upper case */
	const char *domain;      /* callsign <-> call@domain */
	const char *deliver_to;  /* where mail for mycall goes */
	const char *hostname;    /* ours, for the Received field */
};

/* A Winlink message turned into mail. Owned by the caller. */
struct b2f_inbound {
	struct buf content;      /* RFC 5322, CRLF */
	char from[320];          /* the reverse path */
	char (*rcpts)[320];
	size_t nrcpts;
	char mid[13];
};

void b2f_msg_init(void);

/* Winlink -> mail. Returns 0, or GW_EPROTO with the reason in err (no
 * Mid, Body count beyond the data, a File that does not fit, no usable
 * recipient, a header section over 64 KiB). now: Unix seconds for the
 * Received field. */
int b2f_msg_to_mail(const uint8_t *w, size_t n, const struct b2f_addrmap *m,
    int64_t now, struct b2f_inbound *out, char *err, size_t errlen);
void b2f_inbound_fini(struct b2f_inbound *in);

/* Mail -> Winlink, for the station to_call. reverse_path is the
 * envelope sender ("" for <>). The subject (ASCII, for the B2F title)
 * goes to title. Returns 0 or GW_EPROTO when the mail cannot be parsed. */
int b2f_msg_from_mail(const uint8_t *msg, size_t n, const char *mid,
    const char *reverse_path, const char *to_call,
    const struct b2f_addrmap *m, int64_t now, struct buf *out,
    char title[81]);

/* The 12-character MID for a 16-byte queue id (base32 of its digest). */
void b2f_mid_from_id(const uint8_t id[16], char mid[13]);

/* The MID a message already had: its Message-ID is <MID@domain> (as
 * b2f_msg_to_mail writes it) with a valid MID. true and mid filled, else
 * false. Keeps a Winlink message's id when skywave carries it on to
 * another station, so that station can refuse it as a duplicate. */
bool b2f_mid_from_message_id(const uint8_t *msg, size_t n,
    const char *domain, char mid[13]);

/* addr in the b2f domain -> its callsign (upper case); else "SMTP:addr".
 * 0, or GW_EINVAL when it is neither. */
int b2f_addr_to_call(const struct b2f_addrmap *m, const char *addr,
    char *out, size_t outlen);

#endif
