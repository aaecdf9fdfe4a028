/*
 * mime_reencode.h - lossless re-encoding of base64 / quoted-printable
 * bodies, so they can cross the air decoded.
 *
 * A body qualifies only when decoding it and encoding it again with the
 * canonical encoder below (parameters inferred from the body itself)
 * reproduces the original octets exactly; the recipient then receives the
 * identical message (DKIM signatures stay valid) and no permission is
 * needed.
 *
 * Both encodings may be preceded by lead_crlf and followed by trail_crlf
 * empty-line CRLFs (counted, at most 255), which many mailers leave.
 * Canonical base64: RFC 2045 alphabet with "=" padding, lines of exactly
 * line_len characters (a multiple of 4; 0 = one line) joined by CRLF, the
 * last line shorter.
 * Canonical quoted-printable: octets 33..126 except "=" literal, CRLF in the
 * data kept as a hard line break, space and tab literal except before a
 * line break or at the end (then =20 / =09, unless ws_literal: some
 * encoders leave it literal), everything else =XX in upper
 * case, and also octets listed in esc (a sender's encoder that escapes more
 * than it must, e.g. "." or "!", does so every time); a soft break "=" CRLF
 * is put in where the next item would make the line longer than line_len
 * (counting the "="), or, when the sender's encoder wrapped some other way
 * (at word boundaries, say), exactly where it did (line_len 0, breaks).
 *
 * Packed form (what the air hop would carry): a sequence of records
 *     raw:    0x00 varint(len) octets
 *     base64: 0x01 line_len(1) lead_crlf(1) trail_crlf(1) varint(len) data
 *     qp:     0x02 line_len(1) lead_crlf(1) trail_crlf(1)
 *             ws_literal(1) varint(n) n escaped octets
 *             [line_len 0: varint(k) k varint gaps between soft breaks]
 *             varint(len) data
 * mime_unpack rebuilds the original message octet for octet.
 */
#ifndef GW_GATEWAY_MIME_REENCODE_H
#define GW_GATEWAY_MIME_REENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

enum mime_cte { MIME_CTE_BASE64 = 1, MIME_CTE_QP = 2 };

struct mime_reencode_params {
	enum mime_cte cte;
	uint8_t line_len;       /* QP: 0 = soft breaks listed in breaks */
	uint8_t lead_crlf, trail_crlf;
	uint8_t esc[32];        /* QP: octets the sender always escaped */
	bool ws_literal;        /* QP: white space ending a line is left
				   literal (the sender's encoder did so) */
	size_t *breaks;         /* QP, line_len 0: decoded offsets of soft
				   breaks, ascending (owned) */
	size_t nbreaks;
};

/* Free what a check or an unpack left in p. */
void mime_reencode_params_fini(struct mime_reencode_params *p);

/* Decode enc and check the canonical re-encoding. Returns 0 (decoded in
 * out, reset first; params in *p), GW_ERANGE (valid but not canonical:
 * send as is) or GW_ESYNTAX (not valid for the encoding). */
int mime_reencode_check(enum mime_cte cte, const uint8_t *enc, size_t len,
    struct buf *out, struct mime_reencode_params *p);

/* The canonical encoding of dec (appended to out). */
void mime_reencode_encode(const struct mime_reencode_params *p,
    const uint8_t *dec, size_t len, struct buf *out);

struct mime_pack_stats {
	size_t parts;        /* base64/QP leaf parts seen */
	size_t parts_b64, parts_qp;
	size_t parts_identical; /* that re-encode byte for byte */
	size_t parts_packed; /* of those, the ones that travel decoded (the
				record is shorter than the encoded body) */
	size_t enc_bytes;    /* encoded octets of all such parts */
	size_t enc_packed;   /* encoded octets of the packed ones */
	size_t dec_packed;   /* their decoded octets */
};

/* Pack a message (GMime finds the parts; conv_init() must have run).
 * out is reset; st (optional) is filled. Always succeeds for any input:
 * a message with nothing to pack becomes one raw record. */
void mime_pack(const uint8_t *msg, size_t len, struct buf *out,
    struct mime_pack_stats *st);

/* Rebuild the message. 0, or GW_ECORRUPT for a malformed packed form. */
int mime_unpack(const uint8_t *p, size_t len, struct buf *out);
/* The same, refusing (GW_ETOOBIG) a result longer than max: the output is
 * checked after each record, so at most max plus one record's expansion is
 * ever held (a receiver passes the length the envelope announced). */
int mime_unpack_max(const uint8_t *p, size_t len, size_t max,
    struct buf *out);

#endif
