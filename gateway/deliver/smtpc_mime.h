/*
 * smtpc_mime.h - content rewrites the onward SMTP client needs before it
 * hands a message to a next hop: the 8BITMIME downgrade (RFC 6152) and the
 * MT-Priority header tunnelling of RFC 6758.
 *
 * Pure functions over a message in memory (RFC 5322, CRLF line ends, no
 * dot-stuffing); no I/O, no logging, any thread.
 */
#ifndef GW_GATEWAY_SMTPC_MIME_H
#define GW_GATEWAY_SMTPC_MIME_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Any octet >= 0x80 in msg. */
bool smtpc_mime_has_8bit(const uint8_t *msg, size_t len);

/* Turn an 8-bit message into a 7-bit one for a next hop without 8BITMIME.
 * Leaf parts carrying 8-bit octets are re-encoded: text/ subtypes as
 * quoted-printable, everything else as base64, with their
 * Content-Transfer-Encoding replaced; multipart and message/rfc822 are
 * walked recursively (their own encoding label becomes 7bit). A message
 * without MIME headers becomes text/plain; charset=unknown-8bit,
 * quoted-printable. The result is appended to out.
 * Returns 0, or GW_EUNSUPP when it cannot be done without changing meaning
 * (8-bit octets in a header section, a part already labelled base64 or
 * quoted-printable that carries raw 8-bit octets, a multipart without a
 * boundary, nesting deeper than 32): the caller then fails with 5.6.3. */
int smtpc_mime_downgrade(const uint8_t *msg, size_t len, struct buf *out);

/* Number of header fields named name (case-insensitive) in the header
 * section of msg. */
size_t smtpc_mime_count_field(const uint8_t *msg, size_t len,
    const char *name);

/* RFC 6758 relay to a hop without MT-PRIORITY: copy msg to out without any
 * MT-Priority field (folded continuations included) and, when add is true,
 * with exactly one "MT-Priority: <prio>" field placed first. Returns the
 * number of fields removed. */
size_t smtpc_mime_set_priority(const uint8_t *msg, size_t len, bool add,
    int prio, struct buf *out);

#endif
