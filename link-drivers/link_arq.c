/*
 * link_arq.c - selective-repeat windows and the SACK codec (see
 * link_arq.h). Owned by one link session, on its thread. No I/O, no time
 * source of its own: times are passed in.
 */
#include "link-drivers/link_arq.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <stdlib.h>
#include <string.h>

void
link_arq_tx_init(struct link_arq_tx *t, uint32_t window)
{
	memset(t, 0, sizeof(*t));
	GW_REQUIRE(window >= 1 && window <= LINK_ARQ_MAX_WINDOW);
	t->window = window;
	t->slot = xcalloc(window, sizeof(*t->slot));
}

void
link_arq_tx_fini(struct link_arq_tx *t)
{
	for (uint32_t i = 0; t->slot && i < t->window; i++)
		buf_fini(&t->slot[i].data);
	free(t->slot);
	t->slot = NULL;
}

void
link_arq_tx_reset(struct link_arq_tx *t)
{
	for (uint32_t i = 0; i < t->window; i++) {
		t->slot[i].state = LINK_ARQ_FREE;
		buf_reset(&t->slot[i].data);
	}
	t->una = t->next = 0;
}

uint32_t
link_arq_tx_inflight(const struct link_arq_tx *t)
{
	return (uint16_t)(t->next - t->una);
}

bool
link_arq_tx_full(const struct link_arq_tx *t)
{
	return link_arq_tx_inflight(t) >= t->window;
}

struct link_arq_slot *
link_arq_tx_slot(struct link_arq_tx *t, uint16_t seq)
{
	return &t->slot[seq % t->window];
}

uint16_t
link_arq_tx_push(struct link_arq_tx *t, const uint8_t *p, size_t n,
    int64_t now_ms)
{
	GW_REQUIRE(!link_arq_tx_full(t));
	uint16_t seq = t->next++;
	struct link_arq_slot *s = link_arq_tx_slot(t, seq);
	buf_reset(&s->data);
	buf_append(&s->data, p, n);
	s->state = LINK_ARQ_QUEUED;
	s->sent_ms = now_ms;
	s->tries = 0;
	return seq;
}

bool
link_arq_tx_next_lost(const struct link_arq_tx *t, uint16_t *seq)
{
	for (uint16_t s = t->una; s != t->next; s++) {
		const struct link_arq_slot *sl = &t->slot[s % t->window];
		if (sl->state == LINK_ARQ_LOST ||
		    sl->state == LINK_ARQ_QUEUED) {
			*seq = s;
			return true;
		}
	}
	return false;
}

static size_t
ack_one(struct link_arq_tx *t, uint16_t seq)
{
	struct link_arq_slot *s = link_arq_tx_slot(t, seq);
	size_t n = 0;
	if (s->state == LINK_ARQ_SENT || s->state == LINK_ARQ_LOST) {
		n = s->data.len;
		s->state = LINK_ARQ_FREE;
		buf_reset(&s->data);
	}
	return n;
}

size_t
link_arq_tx_sack(struct link_arq_tx *t, uint16_t next, const uint8_t *bitmap,
    size_t nbytes, bool all_heard)
{
	size_t acked = 0;
	/* Ignore acknowledgements outside what we have in flight. */
	if (link_seq_diff(next, t->una) < 0 ||
	    link_seq_diff(next, t->next) > 0)
		return 0;
	while (t->una != next)
		acked += ack_one(t, t->una++);
	uint16_t top = next; /* highest seq acknowledged + 1 */
	for (size_t i = 0; i < nbytes * 8; i++) {
		if (!(bitmap[i / 8] & (1u << (i % 8))))
			continue;
		uint16_t seq = (uint16_t)(next + 1 + i);
		if (link_seq_diff(seq, t->next) >= 0)
			break;
		acked += ack_one(t, seq);
		top = (uint16_t)(seq + 1);
	}
	for (uint16_t s = t->una; s != t->next; s++) {
		struct link_arq_slot *sl = link_arq_tx_slot(t, s);
		if (sl->state != LINK_ARQ_SENT)
			continue;
		if (all_heard || link_seq_diff(s, top) < 0)
			sl->state = LINK_ARQ_LOST;
	}
	/* Slide una over slots acknowledged out of order. */
	while (t->una != t->next &&
	    link_arq_tx_slot(t, t->una)->state == LINK_ARQ_FREE)
		t->una++;
	t->acked_bytes += acked;
	return acked;
}

uint32_t
link_arq_tx_expire(struct link_arq_tx *t, int64_t before_ms)
{
	uint32_t n = 0;
	for (uint16_t s = t->una; s != t->next; s++) {
		struct link_arq_slot *sl = link_arq_tx_slot(t, s);
		if (sl->state == LINK_ARQ_SENT && sl->sent_ms <= before_ms) {
			sl->state = LINK_ARQ_LOST;
			n++;
		}
	}
	return n;
}

void
link_arq_rx_init(struct link_arq_rx *r, uint32_t window)
{
	memset(r, 0, sizeof(*r));
	GW_REQUIRE(window >= 1 && window <= LINK_ARQ_MAX_WINDOW);
	r->window = window;
	r->have = xcalloc(window, sizeof(*r->have));
	r->data = xcalloc(window, sizeof(*r->data));
}

void
link_arq_rx_fini(struct link_arq_rx *r)
{
	for (uint32_t i = 0; r->data && i < r->window; i++)
		buf_fini(&r->data[i]);
	free(r->data);
	free(r->have);
	r->data = NULL;
	r->have = NULL;
}

void
link_arq_rx_reset(struct link_arq_rx *r)
{
	for (uint32_t i = 0; i < r->window; i++) {
		r->have[i] = false;
		buf_reset(&r->data[i]);
	}
	r->next = 0;
	r->ack_owed = false;
}

int
link_arq_rx_put(struct link_arq_rx *r, uint16_t seq, const uint8_t *p,
    size_t n)
{
	int16_t d = link_seq_diff(seq, r->next);
	if (d < 0) {
		r->dups++;
		r->ack_owed = true;
		return 0;
	}
	if ((uint32_t)d >= r->window)
		return GW_ERANGE;
	r->ack_owed = true;
	uint32_t i = seq % r->window;
	if (r->have[i]) {
		r->dups++;
		return 0;
	}
	r->have[i] = true;
	buf_reset(&r->data[i]);
	buf_append(&r->data[i], p, n);
	return 1;
}

bool
link_arq_rx_take(struct link_arq_rx *r, struct buf *out)
{
	uint32_t i = r->next % r->window;
	if (!r->have[i])
		return false;
	buf_swap(out, &r->data[i]);
	buf_reset(&r->data[i]);
	r->have[i] = false;
	r->next++;
	return true;
}

void
link_arq_rx_sack(const struct link_arq_rx *r, struct buf *out)
{
	uint8_t bm[LINK_ARQ_MAX_WINDOW / 8];
	size_t nbytes = 0;

	memset(bm, 0, sizeof(bm));
	for (uint32_t k = 1; k < r->window && k <= LINK_ARQ_MAX_WINDOW; k++) {
		uint16_t seq = (uint16_t)(r->next + k);
		if (!r->have[seq % r->window])
			continue;
		bm[(k - 1) / 8] |= (uint8_t)(1u << ((k - 1) % 8));
		nbytes = (k - 1) / 8 + 1;
	}
	buf_append_byte(out, (uint8_t)(r->next >> 8));
	buf_append_byte(out, (uint8_t)r->next);
	buf_append_byte(out, (uint8_t)nbytes);
	buf_append(out, bm, nbytes);
}

int
link_arq_sack_decode(const uint8_t *p, size_t n, uint16_t *next,
    const uint8_t **bitmap, size_t *nbytes)
{
	if (n < 3)
		return GW_EPROTO;
	*next = (uint16_t)((p[0] << 8) | p[1]);
	*nbytes = p[2];
	if (n != 3 + *nbytes)
		return GW_EPROTO;
	*bitmap = p + 3;
	return 0;
}
