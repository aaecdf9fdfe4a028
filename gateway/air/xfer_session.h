/*
 * xfer_session.h - the transfer protocol between two gateways, above one
 * link session (link-drivers/link_session.h): envelopes and content
 * segments at uncompressed offsets, end-to-end SHA-256, commit-then-ack,
 * duplicate suppression by message id, resume from the receiver's offset,
 * preemption at segment granularity, and compression as it goes (one
 * stream per direction and link session, zstd or deflate as negotiated,
 * preset dictionary, flushed at the end of every round; with deflate,
 * incompressible content stored).
 *
 * Sans-I/O. The link layer calls xfer_pull/xfer_pending/xfer_deliver; the
 * owner reports link state (xfer_link_up/xfer_link_down) and storage
 * completions (xfer_partial_done, xfer_commit_done). Storage sits behind
 * struct xfer_store so tests use memory and the daemon the SQLite queue.
 * One xfer per link, symmetric: it sends and receives.
 *
 * Thread: the owner's (loop) thread. Store callbacks are called
 * synchronously from xfer calls and may call the completion functions
 * before returning.
 */
#ifndef GW_GATEWAY_XFER_SESSION_H
#define GW_GATEWAY_XFER_SESSION_H

#include "common/clock.h"
#include "gateway/air/xfer_wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xfer;

/* The storage side. */
struct xfer_store {
	/* Sender: copy content [off, off+len) of message id into p. Returns
	 * bytes copied (len unless at the end) or a negative error. Must not
	 * block: the owner keeps the content of every message it handed to
	 * xfer_out_add readable from memory (or a prefetched cache). */
	long (*read)(void *arg, const uint8_t id[XFER_ID_BYTES], uint64_t off,
	    uint8_t *p, size_t len);
	/* Sender: the far gateway committed id (duplicate: it had it
	 * already); mark its recipients relayed. Called once per id. */
	void (*relayed)(void *arg, const uint8_t id[XFER_ID_BYTES],
	    bool duplicate);
	/* Receiver: was id committed here before? Must not block (the owner
	 * keeps committed ids in memory, loaded at start). */
	bool (*committed)(void *arg, const uint8_t id[XFER_ID_BYTES]);
	/* Receiver: make content [off, off+len) of a partial transfer durable
	 * (env describes it; off == 0 starts it afresh, dropping any older
	 * partial). Completion: xfer_partial_done. */
	void (*partial)(void *arg, const struct xfer_env *env, uint64_t off,
	    const uint8_t *p, size_t len);
	/* Receiver: commit a complete, verified message (one transaction).
	 * content is the message itself: for a packed stream
	 * (XFER_ENV_PACKED) the unpacked octets, whose SHA-256 matched;
	 * env->size still counts the stream (what partial() stored).
	 * Completion: xfer_commit_done. After success, committed(id) must
	 * answer true and the partial may be dropped. */
	void (*commit)(void *arg, const struct xfer_env *env,
	    const uint8_t *content, size_t len);
	void *arg;
};

/* One candidate for the next segment (the scheduler's view). */
struct xfer_cand {
	const struct xfer_env *env;
	uint64_t next_off;    /* next content offset to send */
	uint64_t arrival;     /* order of xfer_out_add */
	bool started;         /* some content already went this session */
};

/* Choose the next message to send a segment of: index into c, or -1 to
 * send nothing now. NULL: highest priority first, then arrival. */
typedef int (*xfer_pick_fn)(void *arg, const struct xfer_cand *c, size_t n);

struct xfer_config {
	const struct gw_clock *clock; /* remaining BY/ABY at send time */
	uint32_t rate_bps;      /* link rate, sizes segments; 0: 2400 */
	uint32_t seg_ms;        /* airtime per segment round; 0: 2000 */
	size_t seg_bytes;       /* plaintext per round; 0: from rate, seg_ms */
	int level;              /* deflate level 1..9; 0: 9 */
	int zstd_level;         /* zstd level 1..19; 0: XFER_ZSTD_LEVEL */
	/* zstd sessions: airtime of one pull (one frame's payload), at
	 * least 256 bytes; 0: XFER_FRAME_MS. Bounds what sits in the driver
	 * ahead of an urgent message (docs/air-protocol.md s7). */
	uint32_t frame_ms;
	xfer_pick_fn pick;
	void *pick_arg;
	const char *name;       /* for logs */
};

struct xfer_stats {
	uint64_t plain_out, comp_out;   /* stream bytes before/after deflate */
	uint64_t plain_in;
	uint64_t msgs_sent, msgs_acked, dup_acked, committed, dups_seen;
	uint64_t naks_sent, naks_rcvd, resumes, rewinds;
	uint64_t rounds;                 /* rounds (one flush each) */
	uint64_t stored_rounds;          /* rounds sent at level 0 */
	uint64_t proto_errors;
	uint64_t caps_sent, caps_rcvd, caps_rejected; /* CAPS records */
};

struct xfer *xfer_new(const struct xfer_config *cfg,
    const struct xfer_store *store);
void xfer_free(struct xfer *x);

/* The codec of a link session's transfer stream (docs/air-protocol.md s7).
 * NONE and DEFLATE are 0 and 1, so a bool "compress" still means deflate. */
enum xfer_codec {
	XFER_CODEC_NONE = 0,
	XFER_CODEC_DEFLATE = 1, /* raw deflate, preset dictionary dict_id */
	XFER_CODEC_ZSTD = 2,    /* one zstd frame, dictionary AIR_DICT_ZSTD */
};

/* zstd parameters (measured, docs/air-protocol.md s7). The sender's
 * window is XFER_ZSTD_WLOG (512 KiB: some hundred messages of a batch);
 * a receiver refuses a frame whose window is over XFER_ZSTD_WLOG_MAX
 * (1 MiB), which bounds its memory whatever the peer sends. */
#define XFER_ZSTD_LEVEL 19
#define XFER_ZSTD_WLOG 19
#define XFER_ZSTD_WLOG_MAX 20
#define XFER_FRAME_MS 2500

/* Session option beside the codec: acknowledge by handle ranges (ACKR)
 * instead of one ACK with the 16-byte id per message. */
#define XFER_OPT_ACKR 0x100
/* Session option: the envelope carries the first 16 bytes of the
 * message's SHA-256 instead of all 32 (docs/air-protocol.md s6). */
#define XFER_OPT_SHA128 0x200
#define XFER_CODEC_MASK 0xff

/* The session options the negotiated link features (LINK_FEAT_*) call
 * for: the codec (zstd when agreed, else deflate when agreed, else none)
 * | XFER_OPT_ACKR and | XFER_OPT_SHA128 when agreed. */
int xfer_opts_of(uint32_t link_features);

/* Link glue. up: a fresh link session (opts: an enum xfer_codec, with
 * XFER_OPT_ACKR and XFER_OPT_SHA128 or not; dict_id the deflate dictionary, 0 for none; zstd
 * uses its own). */
void xfer_link_up(struct xfer *x, int opts, uint16_t dict_id);
void xfer_link_down(struct xfer *x);
size_t xfer_pull(struct xfer *x, uint8_t *p, size_t room);
bool xfer_pending(struct xfer *x);
void xfer_deliver(struct xfer *x, const uint8_t *p, size_t n);
/* A stream error (corrupt compressed data, malformed record): the owner
 * must reset the link session. 0 or a GW_E* code. */
int xfer_error(const struct xfer *x);

/* Sender: hand over a message to send (env copied; its by_s/aby_s are the
 * remaining seconds now). GW_EEXIST if id is already queued, GW_ETOOBIG
 * when the envelope is outside the limits of xfer_wire.h (no recipient,
 * more than XFER_RCPT_MAX, or an encoding over XFER_RECORD_MAX). */
int xfer_out_add(struct xfer *x, const struct xfer_env *env);
/* Sender: withdraw a message (cancelled, redirected); 0 or GW_ENOENT. */
int xfer_out_remove(struct xfer *x, const uint8_t id[XFER_ID_BYTES]);
size_t xfer_out_count(const struct xfer *x);
/* Sender, for the console: the message whose segment went out last while
 * the session is up (the one on the air now). Its id, the content offset
 * handed to the link so far and whether all of it was sent (waiting for
 * the far end's commit). 0, or GW_ENOENT when nothing is being sent. */
int xfer_out_current(const struct xfer *x, uint8_t id[XFER_ID_BYTES],
    uint64_t *next_off, bool *all_sent);

/* Receiver: after a restart, a partial transfer from the store: content
 * [0, len) is durable. */
void xfer_in_restore(struct xfer *x, const struct xfer_env *env,
    const uint8_t *content, uint64_t len);
void xfer_partial_done(struct xfer *x, const uint8_t id[XFER_ID_BYTES],
    uint64_t durable_off);
void xfer_commit_done(struct xfer *x, const uint8_t id[XFER_ID_BYTES],
    int err);

/*
 * Capability publication (docs/air-protocol.md s6). At every session start
 * each side announces, next to its HAVE list, the digest of the peer's
 * table it holds (CAPS_HELD); a side whose own table has another digest
 * sends it (CAPS), once per session and again when it changes. So a table
 * that did not change costs 10 bytes a session, and one that did crosses
 * once.
 *
 * xfer_set_local_caps: this side's own table (copied; text NULL / len 0
 * and digest 0: none). Called at start and after a reload; when the
 * session is up and the peer holds another digest, the table is sent in
 * the next round. xfer_set_held_caps: the digest of the peer's table this
 * side holds (0: none), e.g. loaded from disk at start; updated by the
 * xfer itself when the caps callback takes a new table.
 */
void xfer_set_local_caps(struct xfer *x, const char *text, size_t len,
    uint64_t digest);
/* The peer published its capability table (conneg_table_format text, not
 * NUL-terminated; len 0: it has none) with its digest. Return 0 when the
 * table was taken; then this side holds digest and announces it at the
 * next session start. A negative return (bad table) keeps the old one.
 * Without a callback (the default) a published table is ignored. */
typedef int (*xfer_caps_fn)(void *arg, uint64_t digest, const uint8_t *text,
    size_t len);
void xfer_set_caps_cb(struct xfer *x, xfer_caps_fn fn, void *arg);
void xfer_set_held_caps(struct xfer *x, uint64_t digest);
uint64_t xfer_held_caps(const struct xfer *x);

const struct xfer_stats *xfer_get_stats(const struct xfer *x);
/* Heap bytes the codec of the current session holds (both directions;
 * zstd's contexts as the library reports them, zlib's estimated from its
 * documented formula); 0 when down or uncompressed. */
size_t xfer_codec_bytes(const struct xfer *x);
/* Debug checker of the invariants in xfer_session.c's header: 0, or
 * GW_EINTERNAL after logging the first one that does not hold. */
int xfer_check_state(const struct xfer *x);
/* Replace the scheduler hook (NULL: the default policy). */
void xfer_set_pick(struct xfer *x, xfer_pick_fn pick, void *arg);
/* The copy used for a look at the content (the compressibility sample,
 * at most 4 KiB from offset 0), with store.arg; same contract as
 * store.read. It puts nothing on the air, so an owner that counts reads as
 * progress or as the final segment going out gives one that does not.
 * NULL (the default): store.read. */
typedef long (*xfer_sample_fn)(void *arg, const uint8_t id[XFER_ID_BYTES],
    uint64_t off, uint8_t *p, size_t len);
void xfer_set_sample(struct xfer *x, xfer_sample_fn fn);

/* SHA-256 helper for callers building envelopes. */
void xfer_sha256(uint8_t out[XFER_SHA_BYTES], const uint8_t *p, size_t n);

#endif
