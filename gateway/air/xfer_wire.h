/*
 * xfer_wire.h - the transfer protocol's records and the compact envelope
 * encoding (docs/air-protocol.md s6). Pure codec: no state, no I/O.
 *
 * Inside one direction of a link session the transfer protocol sends a
 * sequence of records (before compression):
 *
 *   record = type:u8 len:varint body[len]
 *
 *   MSG   handle:varint envelope            a message starts (or restarts)
 *   SEG   handle:varint offset:varint data  content at an uncompressed offset
 *   ACK   id[16] status:u8                  committed (0) / duplicate (1)
 *   HAVE  id[16] offset:varint              receiver's durable offset
 *   HAVE_END                                end of the session's HAVE list
 *   NAK   id[16] reason:u8                  content rejected; send again
 *   CAPS_HELD digest[8]                     the peer's capability table
 *                                           this side holds (0: none)
 *   CAPS  digest[8] text                    this side's capability table
 *                                           (empty text: none)
 *   ACKR  first:varint count:varint status:u8   ACK by this session's
 *                                           handles (feature 0x08)
 *
 * varint: unsigned LEB128, at most 10 bytes; signed values zig-zag.
 */
#ifndef GW_GATEWAY_XFER_WIRE_H
#define GW_GATEWAY_XFER_WIRE_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XFER_ID_BYTES 16
#define XFER_SHA_BYTES 32
/* With feature 0x10 the envelope carries the first 16 bytes of the
 * SHA-256 (docs/air-protocol.md s6-s7). */
#define XFER_SHA_SHORT 16
#define XFER_ADDR_MAX 320   /* RFC 5321 path plus slack */
#define XFER_XTEXT_MAX 500  /* ORCPT/ARCPT (RFC 3461 s4.2) */
#define XFER_ENVID_MAX 100
#define XFER_RCPT_MAX 1000
#define XFER_RECORD_MAX (1u << 20)

enum xfer_rec_type {
	XFER_R_MSG = 1,
	XFER_R_SEG = 2,
	XFER_R_ACK = 3,
	XFER_R_HAVE = 4,
	XFER_R_HAVE_END = 5,
	XFER_R_NAK = 6,
	XFER_R_CAPS_HELD = 7,
	XFER_R_CAPS = 8,
	XFER_R_ACKR = 9, /* features 0x08 only: first:varint count:varint
	                    status:u8, the MSGs of this session with handles
	                    first..first+count-1 committed / duplicates */
};
#define XFER_R_LAST XFER_R_ACKR

/* Largest capability table text a CAPS record carries. */
#define XFER_CAPS_MAX (256u << 10)

/* Envelope flags that say something about the whole message. */
enum {
	XFER_ENV_CONPERM = 0x01, /* MAIL ... CONPERM (RFC 4141) */
	/* The content stream is the message in mime_pack form (base64 and
	 * quoted-printable bodies decoded, gateway/air/mime_reencode.h): size
	 * counts the packed stream, orig_size the message; sha256 is always
	 * over the original message. */
	XFER_ENV_PACKED = 0x02,
};

/* Per-recipient content negotiation flags (queue's QUEUE_RCPT_*). */
enum {
	XFER_RC_CONNEG = 0x01, /* RCPT ... CONNEG was given */
	XFER_RC_DRUCOF = 0x02, /* RCPT ... DRUCOF: usable content or fail */
	XFER_RC_LOSSY = 0x04,  /* converted with loss on its way */
};

/* NOTIFY bits (RFC 3461); 0 = parameter absent. */
enum {
	XFER_NOTIFY_NEVER = 0x01,
	XFER_NOTIFY_SUCCESS = 0x02,
	XFER_NOTIFY_FAILURE = 0x04,
	XFER_NOTIFY_DELAY = 0x08,
};

enum xfer_ret { XFER_RET_NONE = 0, XFER_RET_FULL = 1, XFER_RET_HDRS = 2 };

/* BY mode (RFC 2852): R return, N notify; trace flag separate. */
enum { XFER_BY_R = 1, XFER_BY_N = 2, XFER_BY_TRACE = 4 };

struct xfer_rcpt {
	char *addr;   /* forward path without <> */
	uint8_t notify;
	char *orcpt;  /* "rfc822;x@y" as received (xtext), or NULL */
	char *arcpt;  /* alternate recipient, same form, or NULL */
	uint8_t cflags; /* XFER_RC_* */
};

/* The envelope of one message. Owner: whoever filled it; free with
 * xfer_env_fini. Strings are NUL-terminated heap copies. Deadlines travel
 * as remaining seconds: by_s/aby_s < 0 means absent. */
struct xfer_env {
	uint8_t id[XFER_ID_BYTES];
	char *from;      /* reverse path without <>; "" for the null path */
	int8_t priority; /* MT-PRIORITY -9..9 */
	uint8_t ret;     /* enum xfer_ret */
	char *envid;     /* ENVID xtext or NULL */
	int64_t by_s;    /* remaining BY seconds, or -1 */
	uint8_t by_mode; /* XFER_BY_* */
	int64_t aby_s;   /* remaining ABY seconds, or -1 */
	uint64_t size;   /* content stream length, uncompressed */
	uint8_t sha256[XFER_SHA_BYTES]; /* of the original message */
	uint8_t mflags;  /* XFER_ENV_* */
	uint64_t orig_size; /* with XFER_ENV_PACKED: the message's length */
	size_t nrcpt;
	struct xfer_rcpt *rcpt;
};

/* Packed content: the largest message length a packed stream of size
 * octets may stand for. Decoding shrinks base64 by a quarter and QP by up
 * to five sixths (an escaped octet per short line); the slack covers empty
 * lines kept around bodies. The sender packs only within this bound and
 * the receiver refuses an envelope beyond it, so the two never disagree. */
static inline bool
xfer_pack_orig_ok(uint64_t size, uint64_t orig_size)
{
	return size <= UINT64_MAX / 16 && orig_size <= 8 * size + 65536;
}

void xfer_env_init(struct xfer_env *e);
void xfer_env_fini(struct xfer_env *e);
/* Deep copy (dst is initialised by the call). */
void xfer_env_copy(struct xfer_env *dst, const struct xfer_env *src);
/* Append a recipient (strings copied; orcpt/arcpt may be NULL; cflags
 * 0, set it on the returned entry's field afterwards). */
struct xfer_rcpt *xfer_env_add_rcpt(struct xfer_env *e, const char *addr,
    uint8_t notify, const char *orcpt, const char *arcpt);

/* Append the envelope encoding to out. */
void xfer_env_encode(const struct xfer_env *e, struct buf *out);
/* Decode exactly n bytes; 0, or GW_EPROTO (malformed, trailing bytes,
 * limits exceeded). On error e is left empty (initialised). */
int xfer_env_decode(const uint8_t *p, size_t n, struct xfer_env *e);
/* The same with the envelope's digest cut to sha_len bytes (XFER_SHA_SHORT
 * or XFER_SHA_BYTES): encode sends the first sha_len bytes of e->sha256,
 * decode fills them and leaves the rest of e->sha256 zero. */
void xfer_env_encode_d(const struct xfer_env *e, struct buf *out,
    size_t sha_len);
int xfer_env_decode_d(const uint8_t *p, size_t n, struct xfer_env *e,
    size_t sha_len);

/* varints */
void xfer_put_varint(struct buf *b, uint64_t v);
/* Reads one varint from *p (n bytes left); 0 or GW_EPROTO. Advances. */
int xfer_get_varint(const uint8_t **p, size_t *n, uint64_t *v);

/* Record framing: append a record header for a body of len bytes. */
void xfer_rec_begin(struct buf *b, uint8_t type, size_t len);
/* Parse one record at the start of p[0..n): 1 with type/body/len and the
 * total bytes consumed in *used; 0 when more bytes are needed; GW_EPROTO
 * when malformed (unknown type, oversized). */
int xfer_rec_parse(const uint8_t *p, size_t n, uint8_t *type,
    const uint8_t **body, size_t *len, size_t *used);

#endif
