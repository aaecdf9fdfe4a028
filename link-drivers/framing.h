/*
 * framing.h - byte-stream framing with resynchronisation (pure).
 *
 * A serial modem in "raw" mode delivers a byte stream with no frame
 * boundaries, and on HF that stream carries bit errors, dropped bytes and
 * noise decoded as data. This module cuts it into frames so that after any
 * garbage the next good frame is found again, and so that a garbled length
 * field can never make the receiver swallow good frames behind it.
 *
 * Wire format (all integers big-endian):
 *
 *   offset size  field
 *   0      2     sync word 0x5A 0xC3
 *   2      2     payload length n, 0..max_payload (receiver's bound)
 *   4      2     header check: CRC-16/CCITT-FALSE over bytes 0..3
 *   6      n     payload
 *   6+n    4     payload check: CRC-32 (IEEE, as zlib's crc32) over payload
 *
 * Overhead: 10 bytes per frame (FRAMING_OVERHEAD).
 *
 * Receiver (framing_dec_feed), a scan over its own buffer:
 *   1. Skip to the next sync word; skipped bytes count as garbage.
 *   2. With 6 bytes: a bad header check, or n > max_payload, means this was
 *      not a frame start: advance ONE byte and scan again.
 *   3. With 6+n+4 bytes: a bad payload check also advances ONE byte (not n),
 *      so a length that passed the header check by chance costs a delay but
 *      never loses the frames inside the bytes it claimed.
 *   4. A good frame is delivered and its bytes are consumed.
 *   5. framing_dec_flush() (idle gap / end of stream) abandons a candidate
 *      still waiting for bytes as in 3, so a garbled length that passed
 *      the header check delays the frames it covered until the next idle
 *      gap and never loses them.
 * Invariants: the buffer never holds more than FRAMING_OVERHEAD+max_payload
 * bytes beyond what one feed brought; every input byte ends up in exactly
 * one of: a delivered frame, garbage_bytes, or the pending buffer.
 *
 * The decoder belongs to its owner (one driver); no I/O, no clock.
 */
#ifndef GW_LINK_DRIVERS_FRAMING_H
#define GW_LINK_DRIVERS_FRAMING_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define FRAMING_SYNC0 0x5Au
#define FRAMING_SYNC1 0xC3u
#define FRAMING_HDR_LEN 6u
#define FRAMING_TRAILER_LEN 4u
#define FRAMING_OVERHEAD (FRAMING_HDR_LEN + FRAMING_TRAILER_LEN)
#define FRAMING_MAX_PAYLOAD 65535u

/* Append one encoded frame for payload p[0..n) to out. n must be at most
 * FRAMING_MAX_PAYLOAD (GW_ETOOBIG otherwise; out is then unchanged). */
int framing_encode(struct buf *out, const void *p, size_t n);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), exposed for tests. */
uint16_t framing_crc16(const uint8_t *p, size_t n);

struct framing_stats {
	uint64_t frames;        /* good frames delivered */
	uint64_t garbage_bytes; /* bytes skipped while searching */
	uint64_t bad_header;    /* sync found, header check/length failed */
	uint64_t bad_payload;   /* header good, payload check failed */
};

struct framing_dec {
	struct buf acc;         /* pending bytes, from a candidate start */
	size_t max_payload;
	struct framing_stats stats;
};

/* Called once per good frame; the bytes are borrowed for the call. Return
 * 0 to go on, nonzero to stop this feed (remaining input is dropped, e.g.
 * because the owner is closing). */
typedef int (*framing_frame_fn)(void *arg, const uint8_t *p, size_t n);

void framing_dec_init(struct framing_dec *d, size_t max_payload);
void framing_dec_fini(struct framing_dec *d);
/* Forget pending bytes (after a carrier loss). Stats are kept. */
void framing_dec_reset(struct framing_dec *d);
/* Feed bytes; delivers every complete good frame in order. Returns 0, or
 * the callback's nonzero value if it stopped the feed. */
int framing_dec_feed(struct framing_dec *d, const uint8_t *p, size_t n,
    framing_frame_fn fn, void *arg);
/* The stream went idle or ended (the driver calls this after an idle gap
 * longer than the modem could pause inside a frame, and at carrier loss):
 * a candidate still waiting for bytes will not complete, so it is abandoned
 * one byte at a time as in rule 3, delivering any good frames behind it,
 * and the incomplete rest is counted as garbage. This is what bounds the
 * cost of a garbled length that passed the header check: the frames it
 * covered come out at the idle gap at the latest. Afterwards nothing is
 * pending. Returns as framing_dec_feed. */
int framing_dec_flush(struct framing_dec *d, framing_frame_fn fn, void *arg);
/* Bytes pending (a partial frame or a partial sync word). */
size_t framing_dec_pending(const struct framing_dec *d);

#endif
