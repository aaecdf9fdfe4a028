/*
 * lzhuf.c - LZHUF (FBB B1 / Winlink B2F "C" compression), see lzhuf.h.
 *
 * The format, as both ends must agree on it:
 *
 *   Window    a 2048-byte ring. Before the first byte, ring positions
 *             0..N-F-1 hold spaces and the write position r is N-F
 *             (F = 60, the longest match).
 *   Symbols   0..255 are literals; 256..313 are matches of length
 *             symbol - 253 (3..60 bytes). Each symbol is coded with an
 *             adaptive Huffman tree over the 314 symbols: every leaf
 *             starts at frequency 1, the tree is updated after each symbol
 *             (sibling property kept by swapping), and when the root's
 *             frequency reaches 0x8000 all frequencies are halved and the
 *             tree rebuilt.
 *   Position  after a match symbol, the distance back minus one (0..2047):
 *             its upper 5 bits with a fixed prefix code of 3 to 8 bits
 *             (1 code of 3 bits, 3 of 4, 8 of 5, 12 of 6, 24 of 7, 16 of
 *             8, assigned in increasing order), then its lower 6 bits as
 *             they are. Bits are written most significant first; the last
 *             byte is padded with zeros.
 *
 * The encoder here finds matches with hash chains (greedy); any encoder
 * that follows the format above decodes the same, so it need not pick the
 * matches another implementation would.
 */
#include "gateway/b2f/lzhuf.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define N 2048
#define F 60
#define THRESHOLD 2
#define N_CHAR (256 - THRESHOLD + F)  /* 314 symbols */
#define T (N_CHAR * 2 - 1)            /* tree nodes */
#define R (T - 1)                     /* root */
#define MAX_FREQ 0x8000

uint16_t
lzhuf_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 :
			    crc << 1);
	}
	return crc;
}

/* ---- the adaptive Huffman tree ------------------------------------------ */

struct huff {
	unsigned freq[T + 1];   /* freq[T] is a sentinel larger than any */
	int prnt[T + N_CHAR];   /* parent of node; leaves at T + symbol */
	int son[T];             /* first child (the second is son + 1), or
				   T + symbol for a leaf */
};

static void
huff_start(struct huff *h)
{
	int i, j;

	for (i = 0; i < N_CHAR; i++) {
		h->freq[i] = 1;
		h->son[i] = i + T;
		h->prnt[i + T] = i;
	}
	for (i = 0, j = N_CHAR; j <= R; i += 2, j++) {
		h->freq[j] = h->freq[i] + h->freq[i + 1];
		h->son[j] = i;
		h->prnt[i] = h->prnt[i + 1] = j;
	}
	h->freq[T] = 0xffff;
	h->prnt[R] = 0;
}

/* Halve every leaf's frequency and rebuild the internal nodes in order. */
static void
huff_rebuild(struct huff *h)
{
	int i, j, k;

	for (i = 0, j = 0; i < T; i++)
		if (h->son[i] >= T) {
			h->freq[j] = (h->freq[i] + 1) / 2;
			h->son[j] = h->son[i];
			j++;
		}
	for (i = 0, j = N_CHAR; j < T; i += 2, j++) {
		unsigned f = h->freq[i] + h->freq[i + 1];
		h->freq[j] = f;
		for (k = j - 1; f < h->freq[k]; k--)
			;
		k++;
		memmove(&h->freq[k + 1], &h->freq[k],
		    (size_t)(j - k) * sizeof(h->freq[0]));
		h->freq[k] = f;
		memmove(&h->son[k + 1], &h->son[k],
		    (size_t)(j - k) * sizeof(h->son[0]));
		h->son[k] = i;
	}
	for (i = 0; i < T; i++) {
		k = h->son[i];
		if (k >= T)
			h->prnt[k] = i;
		else
			h->prnt[k] = h->prnt[k + 1] = i;
	}
}

/* Count one more c and restore the sibling property. */
static void
huff_update(struct huff *h, int c)
{
	int i, j, l;
	unsigned k;

	if (h->freq[R] == MAX_FREQ)
		huff_rebuild(h);
	c = h->prnt[c + T];
	do {
		k = ++h->freq[c];
		l = c + 1;
		if (k > h->freq[l]) {
			while (k > h->freq[++l])
				;
			l--;
			h->freq[c] = h->freq[l];
			h->freq[l] = k;
			i = h->son[c];
			h->prnt[i] = l;
			if (i < T)
				h->prnt[i + 1] = l;
			j = h->son[l];
			h->son[l] = i;
			h->prnt[j] = c;
			if (j < T)
				h->prnt[j + 1] = c;
			h->son[c] = j;
			c = l;
		}
	} while ((c = h->prnt[c]) != 0);
}

/* ---- the position prefix code ------------------------------------------- */

struct pos_code {
	uint8_t len[64];        /* code length for upper bits i */
	uint8_t code[64];       /* code, left-aligned in 8 bits */
	uint8_t dlen[256];      /* by the next 8 bits: length, value */
	uint8_t dval[256];
};

static void
pos_code_init(struct pos_code *pc)
{
	static const int counts[] = { 1, 3, 8, 12, 24, 16 }; /* lengths 3..8 */
	unsigned code = 0;      /* canonical, as an 8-bit prefix */
	int i = 0;

	for (int li = 0; li < 6; li++) {
		int len = li + 3;
		for (int c = 0; c < counts[li]; c++, i++) {
			pc->len[i] = (uint8_t)len;
			pc->code[i] = (uint8_t)code;
			for (unsigned b = 0; b < (1u << (8 - len)); b++) {
				pc->dlen[code + b] = (uint8_t)len;
				pc->dval[code + b] = (uint8_t)i;
			}
			code += 1u << (8 - len);
		}
	}
}

/* ---- bit output and input ----------------------------------------------- */

struct bitw {
	struct buf *out;
	uint32_t acc;
	int nacc;
};

static void
bits_put(struct bitw *w, unsigned nbits, uint32_t v)
{
	while (nbits > 0) {
		unsigned take = nbits > 16 ? 16 : nbits;
		nbits -= take;
		w->acc = (w->acc << take) | ((v >> nbits) & ((1u << take) - 1));
		w->nacc += (int)take;
		while (w->nacc >= 8) {
			w->nacc -= 8;
			buf_append_byte(w->out, (uint8_t)(w->acc >> w->nacc));
		}
		w->acc &= (1u << w->nacc) - 1;
	}
}

static void
bits_flush(struct bitw *w)
{
	if (w->nacc > 0)
		buf_append_byte(w->out, (uint8_t)(w->acc << (8 - w->nacc)));
	w->nacc = 0;
	w->acc = 0;
}

struct bitr {
	const uint8_t *p;
	size_t n;
	size_t pos;             /* bits consumed */
};

static unsigned
bit_get(struct bitr *r)
{
	size_t byte = r->pos >> 3;
	unsigned b = byte < r->n ? (r->p[byte] >> (7 - (r->pos & 7))) & 1 : 0;

	r->pos++;
	return b;
}

static unsigned
bits_get(struct bitr *r, int n)
{
	unsigned v = 0;

	while (n-- > 0)
		v = (v << 1) | bit_get(r);
	return v;
}

/* ---- encoder ------------------------------------------------------------ */

#define HASH_BITS 12
#define CHAIN_MAX 128

struct enc {
	struct huff h;
	struct pos_code pc;
	struct bitw w;
	int stack[T];
};

static void
enc_symbol(struct enc *e, int c)
{
	int depth = 0;

	/* the path from the leaf to the root, then out from the root */
	for (int k = e->h.prnt[c + T]; k != R; k = e->h.prnt[k])
		e->stack[depth++] = k & 1;
	while (depth > 0)
		bits_put(&e->w, 1, (uint32_t)e->stack[--depth]);
	huff_update(&e->h, c);
}

static void
enc_position(struct enc *e, unsigned pos)
{
	unsigned hi = pos >> 6;

	bits_put(&e->w, e->pc.len[hi], (uint32_t)e->pc.code[hi] >>
	    (8 - e->pc.len[hi]));
	bits_put(&e->w, 6, pos & 0x3f);
}

static unsigned
hash3(const uint8_t *p)
{
	return ((unsigned)p[0] << 8 ^ (unsigned)p[1] << 4 ^ p[2]) &
	    ((1u << HASH_BITS) - 1);
}

void
lzhuf_encode(const uint8_t *in, size_t n, struct buf *out)
{
	struct enc *e = xcalloc(1, sizeof(*e));
	size_t pre = N - F, total = pre + n, head_at = out->len;
	/* the text with the ring's initial spaces in front */
	uint8_t *t = xmalloc(total + 1);
	int32_t *head = xmalloc(sizeof(int32_t) << HASH_BITS);
	int32_t *prev = xmalloc(sizeof(int32_t) * (total + 1));
	uint8_t hdr[LZHUF_HEADER_LEN] = { 0, 0, (uint8_t)n,
		(uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24) };

	memset(t, ' ', pre);
	if (n > 0)
		memcpy(t + pre, in, n);
	for (size_t i = 0; i < (1u << HASH_BITS); i++)
		head[i] = -1;
	huff_start(&e->h);
	pos_code_init(&e->pc);
	e->w.out = out;
	buf_append(out, hdr, sizeof(hdr));

	size_t inserted = 0;    /* positions [0, inserted) are in the chains */
	size_t cur = pre;
	while (cur < total) {
		size_t best = 0, bestd = 0, lim = total - cur;

		if (lim > F)
			lim = F;
		/* insert every position up to cur whose 3 bytes are known */
		while (inserted < cur && inserted + 3 <= total) {
			unsigned hv = hash3(t + inserted);
			prev[inserted] = head[hv];
			head[hv] = (int32_t)inserted;
			inserted++;
		}
		if (lim > THRESHOLD) {
			int32_t p = head[hash3(t + cur)];
			for (int chain = 0; p >= 0 && chain < CHAIN_MAX;
			    chain++, p = prev[p]) {
				size_t d = cur - (size_t)p, l = 0;
				if (d >= N)
					break;
				while (l < lim && t[p + l] == t[cur + l])
					l++;
				if (l > best) {
					best = l;
					bestd = d;
					if (l == lim)
						break;
				}
			}
		}
		if (best > THRESHOLD) {
			enc_symbol(e, (int)(255 - THRESHOLD + best));
			enc_position(e, (unsigned)(bestd - 1));
			cur += best;
		} else {
			enc_symbol(e, t[cur]);
			cur++;
		}
	}
	bits_flush(&e->w);
	uint16_t crc = lzhuf_crc16(out->data + head_at + 2,
	    out->len - head_at - 2);
	out->data[head_at] = (uint8_t)crc;
	out->data[head_at + 1] = (uint8_t)(crc >> 8);
	free(prev);
	free(head);
	free(t);
	free(e);
}

/* ---- decoder ------------------------------------------------------------ */

int
lzhuf_announced_len(const uint8_t *in, size_t n, uint32_t *len)
{
	if (n < LZHUF_HEADER_LEN)
		return GW_ECORRUPT;
	*len = (uint32_t)in[2] | (uint32_t)in[3] << 8 |
	    (uint32_t)in[4] << 16 | (uint32_t)in[5] << 24;
	return 0;
}

int
lzhuf_decode(const uint8_t *in, size_t n, size_t max_len, struct buf *out)
{
	uint32_t len;
	int rc = lzhuf_announced_len(in, n, &len);

	if (rc != 0)
		return rc;
	if (lzhuf_crc16(in + 2, n - 2) != (uint16_t)(in[0] | in[1] << 8))
		return GW_ECORRUPT;
	if (len > max_len)
		return GW_ETOOBIG;

	struct huff *h = xmalloc(sizeof(*h));
	struct pos_code pc;
	uint8_t ring[N];
	struct bitr br = { in + LZHUF_HEADER_LEN, n - LZHUF_HEADER_LEN, 0 };
	size_t r = N - F, count = 0, start = out->len;

	memset(ring, ' ', N - F);
	memset(ring + N - F, 0, F);
	huff_start(h);
	pos_code_init(&pc);
	buf_reserve(out, len);
	rc = 0;
	while (count < len) {
		int c = h->son[R];
		while (c < T)
			c = h->son[c + (int)bit_get(&br)];
		c -= T;
		huff_update(h, c);
		if (c < 256) {
			buf_append_byte(out, (uint8_t)c);
			ring[r++] = (uint8_t)c;
			r &= N - 1;
			count++;
		} else {
			unsigned b = bits_get(&br, 8);
			unsigned pos = (unsigned)pc.dval[b] << 6 |
			    ((b << (pc.dlen[b] - 2) |
			    bits_get(&br, pc.dlen[b] - 2)) & 0x3f);
			size_t i = (r - pos - 1) & (N - 1);
			size_t j = (size_t)c - 255 + THRESHOLD;
			if (j > len - count) {
				rc = GW_ECORRUPT;
				break;
			}
			for (size_t k = 0; k < j; k++) {
				uint8_t ch = ring[(i + k) & (N - 1)];
				buf_append_byte(out, ch);
				ring[r++] = ch;
				r &= N - 1;
			}
			count += j;
		}
		if (br.pos > br.n * 8) {
			rc = GW_ECORRUPT;
			break;
		}
	}
	free(h);
	if (rc != 0)
		buf_truncate(out, start);
	return rc;
}
