/*
 * link_arq.h - selective-repeat ARQ bookkeeping for the air link: the send
 * window (frames kept until acknowledged, marked lost, resent), the receive
 * window (reordering, duplicate detection, in-order delivery) and the SACK
 * payload codec. Pure data structures; link_session.c decides when.
 *
 * Sequence numbers are 16 bits and wrap; the window is at most
 * LINK_ARQ_MAX_WINDOW (< 32768) so "before/after" is well defined by the
 * signed 16-bit difference.
 *
 * SACK payload (docs/air-protocol.md s4):
 *   u16 next    every seq before next was received
 *   u8  nbytes  bitmap length (0..LINK_ARQ_MAX_WINDOW/8, trailing zero
 *               bytes trimmed)
 *   bitmap      bit i (byte i/8, LSB first) = seq next+1+i was received
 */
#ifndef GW_LINK_DRIVERS_LINK_ARQ_H
#define GW_LINK_DRIVERS_LINK_ARQ_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_ARQ_MAX_WINDOW 2040u /* bitmap fits in 255 bytes */

static inline int16_t
link_seq_diff(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(a - b);
}

enum link_arq_slot_state {
	LINK_ARQ_FREE = 0,
	LINK_ARQ_SENT,  /* on the air, not acknowledged */
	LINK_ARQ_LOST,  /* to be resent */
	LINK_ARQ_QUEUED /* built, never sent yet */
};

struct link_arq_slot {
	enum link_arq_slot_state state;
	struct buf data;
	int64_t sent_ms;
	uint32_t tries;
};

/* Send side. Owner: the link session. Invariants: slots for seq in
 * [una, next) are not FREE except when acked out of order; next - una <=
 * window. */
struct link_arq_tx {
	uint16_t una, next;
	uint32_t window;
	struct link_arq_slot *slot; /* window entries, index seq % window */
	uint64_t acked_bytes;       /* payload bytes acknowledged, total */
	uint64_t resent_frames;
};

void link_arq_tx_init(struct link_arq_tx *t, uint32_t window);
void link_arq_tx_fini(struct link_arq_tx *t);
/* Frames in flight (una..next). */
uint32_t link_arq_tx_inflight(const struct link_arq_tx *t);
bool link_arq_tx_full(const struct link_arq_tx *t);
/* Store a new payload under seq next (which is returned and advanced).
 * Requires !full. */
uint16_t link_arq_tx_push(struct link_arq_tx *t, const uint8_t *p, size_t n,
    int64_t now_ms);
/* The oldest LOST slot, or false. */
bool link_arq_tx_next_lost(const struct link_arq_tx *t, uint16_t *seq);
struct link_arq_slot *link_arq_tx_slot(struct link_arq_tx *t, uint16_t seq);
/* Apply a SACK. Returns payload bytes newly acknowledged. With
 * all_heard (half duplex: the peer's SACK closes its turn, so it has heard
 * everything we sent before it) every SENT slot not acknowledged becomes
 * LOST; otherwise only holes below the highest acknowledged seq do. */
size_t link_arq_tx_sack(struct link_arq_tx *t, uint16_t next,
    const uint8_t *bitmap, size_t nbytes, bool all_heard);
/* Mark every SENT slot sent at or before before_ms LOST (timeouts).
 * Returns how many. */
uint32_t link_arq_tx_expire(struct link_arq_tx *t, int64_t before_ms);
/* Forget everything (session reset). */
void link_arq_tx_reset(struct link_arq_tx *t);

/* Receive side. */
struct link_arq_rx {
	uint16_t next; /* next seq to deliver */
	uint32_t window;
	bool *have;
	struct buf *data;
	bool ack_owed;
	uint64_t dups;
};

void link_arq_rx_init(struct link_arq_rx *r, uint32_t window);
void link_arq_rx_fini(struct link_arq_rx *r);
void link_arq_rx_reset(struct link_arq_rx *r);
/* Accept one DATA frame. Returns 1 if stored, 0 if a duplicate, GW_ERANGE
 * when beyond the window. Marks an ack owed in every case but the last. */
int link_arq_rx_put(struct link_arq_rx *r, uint16_t seq, const uint8_t *p,
    size_t n);
/* Move the next in-order payload into out (replacing its contents) and
 * advance; false when the next seq has not arrived. */
bool link_arq_rx_take(struct link_arq_rx *r, struct buf *out);
/* Encode the SACK payload for the current state into out (appends). */
void link_arq_rx_sack(const struct link_arq_rx *r, struct buf *out);

/* Parse a SACK payload; 0 or GW_EPROTO. bitmap borrows from p. */
int link_arq_sack_decode(const uint8_t *p, size_t n, uint16_t *next,
    const uint8_t **bitmap, size_t *nbytes);

#endif
