/*
 * conv.h - the content conversion engine (RFC 4141 CONPERM/CONNEG and
 * DRUCOF semantics).
 *
 * Pure: message bytes + the sender's permission + the recipient's
 * capabilities in, new message bytes + a report out. GMime parses and
 * writes MIME; this module decides what may change and how.
 *
 * Per-part marks (a mark on a multipart applies to its children unless
 * they carry their own):
 *   Content-Convert: ANY | NONE | <RFC 2533 filter>    (RFC 4141)
 *       NONE prohibits conversion; ANY permits any; a filter permits
 *       only target forms that satisfy it.
 *   Content-Drucof: <mark> [; critical=yes|no]          (skywave)
 *       mark = conversion-prohibited | conversion-permitted |
 *              omission-permitted
 *       omission-permitted also permits conversion (omission is the most
 *       lossy conversion there is). critical defaults to yes.
 *   When both headers speak, the stricter wins. Unmarked parts: under
 *   DRUCOF conversion is permitted (the sender asked for usable content);
 *   under CONPERM alone it is not (RFC 4141: no Content-Convert, no
 *   conversion).
 *
 * Choices, least lossy first, for each leaf part the recipient cannot use
 * (containers are not judged themselves):
 *   multipart/alternative: keep the most preferred alternative usable as
 *       is, else the first (most preferred) that converts; drop the others
 *   text/ *: another charset (iconv, exact), then the same approximated
 *   text/html: plain text (then charsets as above)
 *   image/jpeg, image/png: smaller / recompressed / other type
 *   omission-permitted: replaced by a short text/plain note
 * Never converted: conversion-prohibited parts, and everything inside
 * multipart/signed, multipart/encrypted or application/pkcs7-mime (the
 * protection cannot be re-applied); such a part may only be omitted whole.
 * A converted part gets Content-Features (its new form) and
 * Content-Previous ("Date <date>; By <host>; <old form>"); its
 * Content-Convert and Content-Drucof are carried unchanged. The part kept
 * from a multipart/alternative records "(type=multipart/alternative)" as
 * its previous form.
 *
 * Features used in capability filters: type, charset (text), size (octets
 * of the decoded part), width, height, pixels (images), message-size
 * (octets of the whole message, judged after conversion).
 */
#ifndef GW_GATEWAY_CONV_H
#define GW_GATEWAY_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct caps_filter;

/* Process-wide GMime setup; call once at start and once at exit (also in
 * tests, so one-time allocations are released). Counted: nested calls are
 * fine. */
void conv_init(void);
void conv_shutdown(void);

struct conv_policy {
	bool conperm;          /* MAIL ... CONPERM */
	bool drucof;           /* RCPT ... DRUCOF for this recipient */
	const char *by_domain; /* our host name, for Content-Previous */
	int64_t now_s;         /* Unix seconds, for Content-Previous */
};

enum conv_result {
	CONV_UNCHANGED, /* nothing to do (or not permitted to do anything) */
	CONV_CONVERTED, /* out holds the converted message */
	CONV_FAILED     /* report.status says why (5.6.2 / 5.6.3 / 5.6.5) */
};

struct conv_report {
	enum conv_result result;
	bool usable_as_is;   /* every critical part already usable */
	bool lossy;          /* information was lost: report X.6.4 */
	const char *status;  /* failure code, or "2.6.4" after a lossy
				conversion, or NULL */
	unsigned n_converted, n_omitted, n_alternatives_dropped;
	char detail[768];    /* "1.2 text/html -> text/plain; ..." */
};

#define CONV_MAX_MESSAGE (64u << 20)
#define CONV_MAX_DEPTH 24

/*
 * Convert msg (CRLF lines) for one recipient whose capabilities are caps.
 * With caps NULL (nothing specific known) or neither CONPERM nor DRUCOF
 * the result is CONV_UNCHANGED and nothing is converted. On
 * CONV_CONVERTED out receives the new message (reset first, CRLF lines);
 * otherwise out is left empty. Returns 0 (see rep), or GW_ETOOBIG for a
 * message over CONV_MAX_MESSAGE.
 */
int conv_run(const uint8_t *msg, size_t len, const struct conv_policy *pol,
    const struct caps_filter *caps, struct buf *out, struct conv_report *rep);

#endif
