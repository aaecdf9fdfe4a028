/*
 * kiss.h - KISS TNC framing: encoder and decoder (pure).
 *
 * KISS (the "keep it simple, stupid" host-to-TNC protocol of Chepponis and
 * Karn) wraps each frame between FEND bytes. Inside a frame, a FEND data
 * byte is sent as FESC TFEND and a FESC data byte as FESC TFESC; nothing
 * else is escaped. The first byte of a frame is the type byte: the high
 * nibble is the TNC port (0..15), the low nibble the command:
 *
 *   0 data       the rest of the frame is data to send / data received
 *   1 TXDELAY    key-up delay, in 10 ms units
 *   2 P          persistence, 0..255 (transmit with probability (P+1)/256)
 *   3 SlotTime   in 10 ms units
 *   4 TXtail     in 10 ms units (obsolete, still accepted)
 *   5 FullDuplex 0 = half, nonzero = full
 *   6 SetHardware  TNC-specific
 *   0xFF (whole type byte) Return: leave KISS mode
 *
 * Decoder rules (kiss_dec_feed):
 *   - bytes before the first FEND are discarded (counted as garbage);
 *   - FEND FEND (an empty frame) is ignored: TNCs send FEND as a separator
 *     and as a keep-alive;
 *   - FESC followed by anything but TFEND/TFESC is a protocol violation:
 *     that frame is dropped (bad_escape) and decoding resumes at the next
 *     FEND;
 *   - a frame longer than max_frame is dropped (oversize), resuming at the
 *     next FEND, so memory stays bounded whatever arrives.
 * Every frame delivered has at least its type byte.
 */
#ifndef GW_LINK_DRIVERS_KISS_H
#define GW_LINK_DRIVERS_KISS_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define KISS_FEND 0xC0u
#define KISS_FESC 0xDBu
#define KISS_TFEND 0xDCu
#define KISS_TFESC 0xDDu

#define KISS_CMD_DATA 0x0u
#define KISS_CMD_TXDELAY 0x1u
#define KISS_CMD_PERSIST 0x2u
#define KISS_CMD_SLOTTIME 0x3u
#define KISS_CMD_TXTAIL 0x4u
#define KISS_CMD_FULLDUPLEX 0x5u
#define KISS_CMD_SETHW 0x6u
#define KISS_TYPE_RETURN 0xFFu

/* Append FEND type escaped(p[0..n)) FEND to out. port 0..15, cmd 0..15
 * (GW_EINVAL otherwise). */
int kiss_encode(struct buf *out, unsigned port, unsigned cmd, const void *p,
    size_t n);
/* A one-byte parameter frame (TXDELAY, P, SlotTime, TXtail, FullDuplex). */
int kiss_encode_param(struct buf *out, unsigned port, unsigned cmd,
    uint8_t value);
/* The Return frame C0 FF C0. */
void kiss_encode_return(struct buf *out);
/* Milliseconds to KISS 10 ms units, rounded up, clamped to 0..255. */
uint8_t kiss_units_10ms(int64_t ms);

struct kiss_stats {
	uint64_t frames;        /* delivered (any command) */
	uint64_t garbage_bytes; /* before the first FEND */
	uint64_t bad_escape;
	uint64_t oversize;
};

enum kiss_dec_state { KISS_D_HUNT, KISS_D_FRAME, KISS_D_ESC, KISS_D_SKIP };

struct kiss_dec {
	enum kiss_dec_state st;
	struct buf frame;       /* unescaped bytes of the frame so far */
	size_t max_frame;       /* bound, including the type byte */
	struct kiss_stats stats;
};

/* One complete frame: port and cmd from the type byte (cmd 0xF and port 0xF
 * for the Return type byte 0xFF), data after it. Borrowed for the call.
 * Return 0 to go on, nonzero to stop the feed. */
typedef int (*kiss_frame_fn)(void *arg, unsigned port, unsigned cmd,
    const uint8_t *data, size_t n);

void kiss_dec_init(struct kiss_dec *d, size_t max_frame);
void kiss_dec_fini(struct kiss_dec *d);
void kiss_dec_reset(struct kiss_dec *d);
int kiss_dec_feed(struct kiss_dec *d, const uint8_t *p, size_t n,
    kiss_frame_fn fn, void *arg);

#endif
