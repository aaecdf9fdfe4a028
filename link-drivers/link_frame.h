/*
 * link_frame.h - skywave air link frames: codec, CRC-32C, authentication
 * tag, replay window. Pure functions; no state beyond what the caller
 * passes in. The wire layout is specified in docs/air-protocol.md s2:
 *
 *   off  size  field
 *   0    1     version (high nibble, LINK_FRAME_VERSION) | type (low nibble)
 *   1    1     flags (LINK_FL_*)
 *   2    4     fctr   per-direction frame counter, big endian (replay window)
 *   6    2     seq    DATA: data sequence number; other types: 0
 *   8    2     len    payload length
 *   10   len   payload
 *   ..   16    tag    keyed BLAKE2b-128 over header+payload (LINK_FL_TAG)
 *   ..   4     crc    CRC-32C (Castagnoli) over everything before it
 *
 * Glossary: fctr counts every frame a side sends in one link session
 * (retransmissions get a new fctr), seq numbers DATA frames for the ARQ
 * (a retransmission keeps its seq).
 */
#ifndef GW_LINK_DRIVERS_LINK_FRAME_H
#define GW_LINK_DRIVERS_LINK_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_FRAME_VERSION 1u
#define LINK_FRAME_HDR_BYTES 10u
#define LINK_FRAME_TAG_BYTES 16u
#define LINK_FRAME_CRC_BYTES 4u
#define LINK_KEY_BYTES 32u
/* Largest payload the codec accepts (len is 16 bits; the session limits it
 * further to the profile MTU). */
#define LINK_FRAME_MAX_PAYLOAD 65535u

#define LINK_FRAME_TYPE_MAP(XX)                                 \
	XX(HELLO, 1, "hello")   /* set-up request */            \
	XX(ACCEPT, 2, "accept") /* set-up answer */             \
	XX(REJECT, 3, "reject") /* set-up refused: reason */    \
	XX(DATA, 4, "data")     /* ARQ data, carries seq */     \
	XX(SACK, 5, "sack")     /* selective acknowledgement */ \
	XX(CLOSE, 6, "close")   /* orderly end of session */

enum link_frame_type {
#define LINK__FT_ENUM(n, v, s) LINK_FT_##n = v,
	LINK_FRAME_TYPE_MAP(LINK__FT_ENUM)
#undef LINK__FT_ENUM
};

const char *link_frame_type_name(unsigned type);

enum {
	LINK_FL_TAG = 0x01,  /* an authentication tag precedes the CRC */
	LINK_FL_TURN = 0x02, /* last frame of a burst: the peer may send */
	LINK_FL_POLL = 0x04, /* full duplex: please acknowledge now */
	LINK_FL_IDLE = 0x04, /* half duplex, on SACK|TURN: nothing to send,
	                        the link goes idle (either side may start) */
	LINK_FL__KNOWN = 0x07,
};

/* A decoded (or to-be-encoded) frame. payload points into the caller's
 * buffer (decode) or is borrowed (encode). */
struct link_frame {
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint32_t fctr;
	uint16_t seq;
	const uint8_t *payload;
	size_t len;
};

/* CRC-32C (reflected polynomial 0x82F63B78, init and final xor ~0).
 * Chain calls by passing the previous result; start with 0. */
uint32_t link_crc32c(uint32_t crc, const void *p, size_t n);

/* Wire size of a frame with len payload bytes, with or without a tag. */
size_t link_frame_wire_bytes(size_t len, bool tagged);

/* Encode f into out (cap bytes). With key != NULL the TAG flag is set and a
 * tag computed with key; with NULL the flag is cleared. Returns the number
 * of bytes written, or 0 when cap is too small or len > max. */
size_t link_frame_encode(const struct link_frame *f,
    const uint8_t key[LINK_KEY_BYTES], uint8_t *out, size_t cap);

/* Decode p[0..n) in place. Checks, in this order: length (GW_EPROTO for a
 * truncated or oversized frame, also len fields disagreeing with n), CRC
 * (GW_ECORRUPT), version (GW_EVERSION; f->version and f->type are set so
 * the caller can answer), unknown flags or type (GW_EPROTO). The tag is
 * NOT checked here: see link_frame_verify. Returns 0 on success. */
int link_frame_decode(const uint8_t *p, size_t n, struct link_frame *f);

/* Check the tag of a decoded frame (p, n as given to decode) with key.
 * 0, or GW_EAUTH when the tag is missing or wrong. Constant time. */
int link_frame_verify(const uint8_t *p, size_t n, const struct link_frame *f,
    const uint8_t key[LINK_KEY_BYTES]);

/*
 * Replay window over fctr (64 frames wide, as in IPsec): a counter is
 * fresh if above the highest seen, or within 64 below it and not yet seen.
 * Check before acting, commit only after the tag verified.
 */
struct link_replay {
	uint32_t top;  /* highest counter committed; 0: none */
	uint64_t seen; /* bit i: counter top - i was committed */
};

void link_replay_init(struct link_replay *w);
/* true when ctr is fresh (not a replay, not too old, not 0). */
bool link_replay_check(const struct link_replay *w, uint32_t ctr);
void link_replay_commit(struct link_replay *w, uint32_t ctr);

/* Keyed BLAKE2b-256 key derivation: out = H(key, label | a | b). Used for
 * per-session, per-direction keys and the set-up proofs. */
void link_kdf(uint8_t out[LINK_KEY_BYTES], const uint8_t key[LINK_KEY_BYTES],
    const char *label, const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen);

#endif
