/*
 * lzhuf.h - the LZHUF compression of FBB's B1 protocol, as Winlink's B2F
 * carries it ("FC" proposals): LZSS over a 2048-byte window (matches of 3
 * to 60 bytes) whose literals and match lengths are coded with an adaptive
 * Huffman tree, match positions with a fixed prefix code.
 *
 * The B2F payload of one message is
 *
 *   crc16 (2 bytes, little-endian)  CRC-16/XMODEM over everything after it
 *   length (4 bytes, little-endian) uncompressed size in bytes
 *   stream                          the LZHUF bit stream
 *
 * lzhuf_encode()/lzhuf_decode() produce and check that whole payload.
 * Pure code: no I/O, no logging, no state between calls; any thread.
 */
#ifndef GW_GATEWAY_LZHUF_H
#define GW_GATEWAY_LZHUF_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define LZHUF_HEADER_LEN 6

/* CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection). */
uint16_t lzhuf_crc16(const uint8_t *p, size_t n);

/* Append the B2F payload (CRC, length, stream) of in[0..n) to out. */
void lzhuf_encode(const uint8_t *in, size_t n, struct buf *out);

/* Decode a whole payload into out (appended). max_len bounds the announced
 * length (a payload announcing more is refused before any work). Returns 0,
 * GW_ECORRUPT (short header, CRC mismatch, a stream that ends early or
 * points outside the window), or GW_ETOOBIG. */
int lzhuf_decode(const uint8_t *in, size_t n, size_t max_len,
    struct buf *out);

/* The uncompressed length a payload announces (header only); GW_ECORRUPT
 * when n < LZHUF_HEADER_LEN. */
int lzhuf_announced_len(const uint8_t *in, size_t n, uint32_t *len);

#endif
