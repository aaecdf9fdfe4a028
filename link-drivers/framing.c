/*
 * framing.c - byte-stream framing with resynchronisation (see framing.h for
 * the wire format and the receiver's rules).
 *
 * Pure: no I/O, no clock, no logging. Owner: the driver core (drv.c) that
 * embeds a struct framing_dec; single-threaded.
 */
#include "link-drivers/framing.h"

#include "common/err.h"

#include <stdbool.h>
#include <string.h>
#include <zlib.h>

uint16_t
framing_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;
	size_t i;
	int b;

	for (i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
					     : (uint16_t)(crc << 1);
	}
	return crc;
}

static uint32_t
payload_crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

int
framing_encode(struct buf *out, const void *p, size_t n)
{
	uint8_t h[FRAMING_HDR_LEN], t[FRAMING_TRAILER_LEN];
	uint16_t hc;
	uint32_t pc;

	if (n > FRAMING_MAX_PAYLOAD)
		return GW_ETOOBIG;
	h[0] = FRAMING_SYNC0;
	h[1] = FRAMING_SYNC1;
	h[2] = (uint8_t)(n >> 8);
	h[3] = (uint8_t)n;
	hc = framing_crc16(h, 4);
	h[4] = (uint8_t)(hc >> 8);
	h[5] = (uint8_t)hc;
	pc = payload_crc(p, n);
	t[0] = (uint8_t)(pc >> 24);
	t[1] = (uint8_t)(pc >> 16);
	t[2] = (uint8_t)(pc >> 8);
	t[3] = (uint8_t)pc;
	buf_reserve(out, n + FRAMING_OVERHEAD);
	buf_append(out, h, sizeof(h));
	if (n > 0)
		buf_append(out, p, n);
	buf_append(out, t, sizeof(t));
	return 0;
}

void
framing_dec_init(struct framing_dec *d, size_t max_payload)
{
	buf_init(&d->acc);
	d->max_payload = max_payload > FRAMING_MAX_PAYLOAD ?
	    FRAMING_MAX_PAYLOAD : max_payload;
	memset(&d->stats, 0, sizeof(d->stats));
}

void
framing_dec_fini(struct framing_dec *d)
{
	buf_fini(&d->acc);
}

void
framing_dec_reset(struct framing_dec *d)
{
	buf_reset(&d->acc);
}

size_t
framing_dec_pending(const struct framing_dec *d)
{
	return d->acc.len;
}

/* Index of the next sync word at or after off; a lone SYNC0 as the very
 * last byte is returned too (it may be the start of one). len if none. */
static size_t
find_sync(const uint8_t *a, size_t len, size_t off)
{
	const uint8_t *q;

	while (off < len) {
		q = memchr(a + off, FRAMING_SYNC0, len - off);
		if (q == NULL)
			return len;
		off = (size_t)(q - a);
		if (off + 1 == len || a[off + 1] == FRAMING_SYNC1)
			return off;
		off++;
	}
	return len;
}

/* Deliver every good frame in the buffer. When flush is set, a candidate
 * that is still incomplete is abandoned (one byte at a time, so frames
 * inside the bytes it claimed are still found) and an incomplete tail is
 * dropped. */
static int
scan(struct framing_dec *d, framing_frame_fn fn, void *arg, bool flush)
{
	size_t off = 0, len, plen, s;
	const uint8_t *a;
	uint32_t want;
	int rc = 0;

	a = d->acc.data;
	len = d->acc.len;
	for (;;) {
		s = find_sync(a, len, off);
		d->stats.garbage_bytes += s - off;
		off = s;
		if (len - off < FRAMING_HDR_LEN) {
			if (flush) {
				d->stats.garbage_bytes += len - off;
				off = len;
			}
			break;
		}
		plen = (size_t)a[off + 2] << 8 | a[off + 3];
		if (framing_crc16(a + off, 4) !=
			(uint16_t)(a[off + 4] << 8 | a[off + 5]) ||
		    plen > d->max_payload) {
			d->stats.bad_header++;
			d->stats.garbage_bytes++;
			off++;
			continue;
		}
		if (len - off < FRAMING_OVERHEAD + plen) {
			if (!flush)
				break;
			d->stats.garbage_bytes++;
			off++;
			continue;
		}
		want = (uint32_t)a[off + 6 + plen] << 24 |
		    (uint32_t)a[off + 7 + plen] << 16 |
		    (uint32_t)a[off + 8 + plen] << 8 | a[off + 9 + plen];
		if (payload_crc(a + off + FRAMING_HDR_LEN, plen) != want) {
			d->stats.bad_payload++;
			d->stats.garbage_bytes++;
			off++;
			continue;
		}
		d->stats.frames++;
		rc = fn(arg, a + off + FRAMING_HDR_LEN, plen);
		off += FRAMING_OVERHEAD + plen;
		if (rc != 0) {
			off = len;
			break;
		}
	}
	buf_consume(&d->acc, off);
	return rc;
}

int
framing_dec_feed(struct framing_dec *d, const uint8_t *p, size_t n,
    framing_frame_fn fn, void *arg)
{
	if (n > 0)
		buf_append(&d->acc, p, n);
	return scan(d, fn, arg, false);
}

int
framing_dec_flush(struct framing_dec *d, framing_frame_fn fn, void *arg)
{
	return scan(d, fn, arg, true);
}
