/*
 * kiss.c - KISS encoder and decoder (see kiss.h for the rules).
 *
 * Decoder state machine:
 *
 *   HUNT --FEND--> FRAME --FESC--> ESC --TFEND/TFESC--> FRAME
 *                  | ^  \--FEND: deliver if non-empty, stay FRAME
 *                  | |   ESC --other--> SKIP (bad_escape)
 *                  | +-- SKIP --FEND--> FRAME
 *                  +--frame > max_frame--> SKIP (oversize)
 *
 * Invariants: in HUNT and SKIP the frame buffer is empty; in FRAME/ESC it
 * holds at most max_frame bytes. Pure; owner: the driver core.
 */
#include "link-drivers/kiss.h"

#include "common/err.h"

#include <string.h>

static void
put_escaped(struct buf *out, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == KISS_FEND) {
			buf_append_byte(out, KISS_FESC);
			buf_append_byte(out, KISS_TFEND);
		} else if (p[i] == KISS_FESC) {
			buf_append_byte(out, KISS_FESC);
			buf_append_byte(out, KISS_TFESC);
		} else {
			buf_append_byte(out, p[i]);
		}
	}
}

int
kiss_encode(struct buf *out, unsigned port, unsigned cmd, const void *p,
    size_t n)
{
	uint8_t type;

	if (port > 15 || cmd > 15)
		return GW_EINVAL;
	type = (uint8_t)(port << 4 | cmd);
	buf_reserve(out, n + 4);
	buf_append_byte(out, KISS_FEND);
	put_escaped(out, &type, 1);
	put_escaped(out, p, n);
	buf_append_byte(out, KISS_FEND);
	return 0;
}

int
kiss_encode_param(struct buf *out, unsigned port, unsigned cmd,
    uint8_t value)
{
	return kiss_encode(out, port, cmd, &value, 1);
}

void
kiss_encode_return(struct buf *out)
{
	static const uint8_t ret[] = { KISS_FEND, KISS_TYPE_RETURN, KISS_FEND };

	buf_append(out, ret, sizeof(ret));
}

uint8_t
kiss_units_10ms(int64_t ms)
{
	int64_t u;

	if (ms <= 0)
		return 0;
	u = (ms + 9) / 10;
	return u > 255 ? 255 : (uint8_t)u;
}

void
kiss_dec_init(struct kiss_dec *d, size_t max_frame)
{
	d->st = KISS_D_HUNT;
	buf_init(&d->frame);
	d->max_frame = max_frame < 1 ? 1 : max_frame;
	memset(&d->stats, 0, sizeof(d->stats));
}

void
kiss_dec_fini(struct kiss_dec *d)
{
	buf_fini(&d->frame);
}

void
kiss_dec_reset(struct kiss_dec *d)
{
	d->st = KISS_D_HUNT;
	buf_reset(&d->frame);
}

static int
deliver(struct kiss_dec *d, kiss_frame_fn fn, void *arg)
{
	const uint8_t *f = d->frame.data;
	size_t n = d->frame.len;
	unsigned port, cmd;
	int rc;

	if (n == 0)
		return 0;
	port = f[0] >> 4;
	cmd = f[0] & 0x0Fu;
	d->stats.frames++;
	rc = fn(arg, port, cmd, f + 1, n - 1);
	buf_reset(&d->frame);
	return rc;
}

static void
add_byte(struct kiss_dec *d, uint8_t c)
{
	if (d->frame.len >= d->max_frame) {
		d->stats.oversize++;
		buf_reset(&d->frame);
		d->st = KISS_D_SKIP;
		return;
	}
	buf_append_byte(&d->frame, c);
}

int
kiss_dec_feed(struct kiss_dec *d, const uint8_t *p, size_t n,
    kiss_frame_fn fn, void *arg)
{
	size_t i;
	uint8_t c;
	int rc;

	for (i = 0; i < n; i++) {
		c = p[i];
		switch (d->st) {
		case KISS_D_HUNT:
			if (c == KISS_FEND)
				d->st = KISS_D_FRAME;
			else
				d->stats.garbage_bytes++;
			break;
		case KISS_D_SKIP:
			if (c == KISS_FEND)
				d->st = KISS_D_FRAME;
			break;
		case KISS_D_FRAME:
			if (c == KISS_FEND) {
				rc = deliver(d, fn, arg);
				if (rc != 0)
					return rc;
			} else if (c == KISS_FESC) {
				d->st = KISS_D_ESC;
			} else {
				add_byte(d, c);
			}
			break;
		case KISS_D_ESC:
			if (c == KISS_TFEND || c == KISS_TFESC) {
				d->st = KISS_D_FRAME;
				add_byte(d, c == KISS_TFEND ? KISS_FEND :
				    KISS_FESC);
			} else {
				d->stats.bad_escape++;
				buf_reset(&d->frame);
				/* A FEND right after FESC ends the bad frame
				 * and starts the next one. */
				d->st = c == KISS_FEND ? KISS_D_FRAME :
				    KISS_D_SKIP;
			}
			break;
		}
	}
	return 0;
}
