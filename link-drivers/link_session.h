/*
 * link_session.h - the skywave air link layer between two gateways: session
 * set-up (identities, version, capabilities, key check, nonces), framing,
 * authentication and replay protection, half-duplex turn control with
 * bursts and one selective acknowledgement per turn, full-duplex streaming
 * with periodic acknowledgements, and link measurement.
 *
 * Sans-I/O: the owner feeds received frames (link_input) and time
 * (link_tick at link_next_deadline_ms), and pulls frames to transmit
 * (link_poll) whenever the driver below can take more (DRV_EV_WRITABLE, or
 * after any event, including new data handed to the layer above: an idle
 * half-duplex link has no timer and starts a burst only from link_poll). The link layer above is a reliable, ordered byte
 * stream per direction and session: link_poll asks the upper layer for
 * stream bytes at the last moment (upper.pull), and delivers received bytes
 * in order (upper.deliver). A new session (restart of either side, set-up
 * after an error) starts both streams afresh; the transfer protocol above
 * resumes from its own offsets.
 *
 * Thread: one session belongs to the thread that created it; callbacks run
 * synchronously inside link_input/link_poll/link_tick/link_open and may not
 * call link_input/link_poll/link_tick themselves.
 */
#ifndef GW_LINK_DRIVERS_LINK_SESSION_H
#define GW_LINK_DRIVERS_LINK_SESSION_H

#include "common/buf.h"
#include "link-drivers/drv.h"
#include "link-drivers/link_frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct link;

#define LINK_STATE_MAP(XX)                                     \
	XX(IDLE, "idle")             /* created or closed */    \
	XX(HELLO_SENT, "hello-sent") /* initiator awaits ACCEPT */ \
	XX(LISTEN, "listen")         /* responder awaits HELLO */ \
	XX(UP, "up")                 /* session established */  \
	XX(ERROR, "error")           /* set-up failed: reason */

enum link_state {
#define LINK__ST_ENUM(n, s) LINK_S_##n,
	LINK_STATE_MAP(LINK__ST_ENUM)
#undef LINK__ST_ENUM
};

const char *link_state_name(enum link_state s);

/* REJECT reasons (on the wire, docs/air-protocol.md s3). */
enum link_reject {
	LINK_REJ_VERSION = 1, /* no common protocol version */
	LINK_REJ_KEY = 2,     /* link key check failed */
	LINK_REJ_NOKEY = 3,   /* one side has a key, the other none */
	LINK_REJ_PROTO = 4,   /* malformed set-up */
	LINK_REJ_NOSESSION = 5, /* session frames, but no session here (the
	                           responder restarted): set up again */
};

/* Feature bits negotiated at set-up (intersection of both sides). */
enum {
	LINK_FEAT_DEFLATE = 0x01, /* transfer stream compressed with zlib */
	LINK_FEAT_DICT = 0x02,    /* preset dictionary dict_id in use */
	/* transfer stream compressed with zstd and its dictionary 2
	 * (AIR_DICT_ZSTD); takes precedence over DEFLATE when agreed */
	LINK_FEAT_ZSTD = 0x04,
	/* transfer acknowledgements by handle ranges (ACKR records) */
	LINK_FEAT_ACKR = 0x08,
	/* the envelope's end-to-end digest is SHA-256 cut to 128 bits */
	LINK_FEAT_SHA128 = 0x10,
};

#define LINK_IDENTITY_MAX 64
#define LINK_NONCE_BYTES 16

struct link_config {
	struct drv_caps caps;  /* from the profile via drv_caps_from_prof */
	const char *identity;  /* this gateway's name (<= 64 bytes) */
	const char *peer;      /* expected peer identity, or NULL: any */
	/* Pre-shared link key (LINK_KEY_BYTES), or NULL: no tags. */
	const uint8_t *key;
	bool initiator;        /* sends HELLO; else waits for one */
	uint8_t version_min, version_max; /* 0: 1..1 */
	uint16_t dict_id;      /* compression dictionary offered */
	uint32_t features;     /* LINK_FEAT_* offered */
	uint32_t setup_tries;  /* HELLO attempts before ERROR; 0: 5 */
	uint32_t window;       /* frames in flight; 0: 512 */
	uint32_t margin_ms;    /* timer slack; 0: 1000 */
	/* Bytes the driver adds around each frame on the air (byte-stream
	 * framing: 10), for airtime estimates and the burst budget. */
	uint32_t frame_overhead_bytes;
	/* Consecutive timeouts with nothing heard before the session is
	 * declared lost (the initiator then sets up again); 0: 4. */
	uint32_t dead_timeouts;
	/* Randomness for nonces: fills n bytes. NULL: libsodium randombytes.
	 * Tests pass a seeded source so runs reproduce. */
	void (*random)(void *arg, uint8_t *p, size_t n);
	void *random_arg;
};

/* What the session tells the layer above. */
struct link_upper {
	/* Copy up to room stream bytes to send into p; return the count (0:
	 * nothing to send now). Called at the last moment, frame by frame. */
	size_t (*pull)(void *arg, uint8_t *p, size_t room);
	/* true when pull would return bytes (decides whether to keep or hand
	 * over an idle turn). */
	bool (*pending)(void *arg);
	/* Stream bytes received, in order, exactly once per session. */
	void (*deliver)(void *arg, const uint8_t *p, size_t n);
	/* Session state changed. UP: a fresh session (both streams start
	 * empty); leaving UP: both streams are gone. err/reason set for ERROR
	 * and for a session lost. */
	void (*state)(void *arg, enum link_state st, int err,
	    const char *reason);
	void *arg;
};

/* Link measurement, published for the scheduler and the console. */
struct link_stats {
	uint64_t frames_out, frames_in, wire_bytes_out, wire_bytes_in;
	uint64_t stream_bytes_out;  /* new upper-layer bytes sent */
	uint64_t stream_bytes_in;   /* upper-layer bytes delivered */
	uint64_t acked_bytes;       /* upper-layer bytes acknowledged */
	uint64_t retransmits;       /* DATA frames sent again */
	uint64_t retx_bytes;        /* their wire bytes */
	uint64_t turns;             /* times this side handed the turn over */
	uint64_t timeouts;          /* turns or acks taken back on a timer */
	uint64_t sessions;          /* sessions established */
	uint64_t sessions_lost;     /* peer went silent */
	/* Dropped and counted, never acted on: */
	uint64_t drop_corrupt;  /* CRC failed */
	uint64_t drop_proto;    /* truncated, malformed, wrong version */
	uint64_t drop_auth;     /* tag missing or wrong */
	uint64_t drop_replay;   /* counter already seen or too old */
	uint64_t drop_state;    /* not acceptable in this state */
	uint64_t dup_frames;    /* DATA already received (not an attack) */
	/* Estimates (exponentially weighted): */
	uint32_t goodput_bps;      /* acknowledged stream bits per second */
	uint32_t retrans_permille; /* retransmitted / sent DATA frames */
	uint32_t turnaround_ms;    /* measured direction change cost */
	uint32_t rtt_ms;           /* send to acknowledgement */
};

/* Create a session (IDLE). cfg is copied (key and identity too). */
struct link *link_new(const struct link_config *cfg,
    const struct link_upper *up);
void link_free(struct link *l);

/* Start: the initiator sends HELLO, the responder listens. 0 or
 * GW_ESTATE. */
int link_open(struct link *l, int64_t now_ms);
/* Orderly close: a CLOSE frame is queued (if UP) and the session goes IDLE
 * once it was polled. */
void link_close(struct link *l, int64_t now_ms, const char *reason);

/* One frame from the driver (any garbage is dropped and counted). */
void link_input(struct link *l, int64_t now_ms, const uint8_t *p, size_t n);
/* The next frame to transmit, appended to out (which is reset first).
 * Returns 1 with a frame, 0 when nothing is to be sent now. */
int link_poll(struct link *l, int64_t now_ms, struct buf *out);
/* Timers: call link_tick at or after link_next_deadline_ms (INT64_MAX:
 * none armed). */
int64_t link_next_deadline_ms(const struct link *l);
void link_tick(struct link *l, int64_t now_ms);

/* The driver lost carrier or failed: the session is gone (UP -> IDLE and
 * set-up restarts on link_open). */
void link_reset(struct link *l, int64_t now_ms, const char *reason);

/* Debug checker of the per-state invariants (link_session.c's header):
 * 0, or GW_EINTERNAL after logging the first one that does not hold. */
int link_check_state(const struct link *l);

enum link_state link_state(const struct link *l);
/* Reason of the last ERROR or session loss ("" if none). */
const char *link_reason(const struct link *l);
int link_error(const struct link *l);
const struct link_stats *link_get_stats(const struct link *l);
/* Negotiated values (valid while UP). */
uint16_t link_dict_id(const struct link *l);
uint32_t link_features(const struct link *l);
const char *link_peer_identity(const struct link *l);
/* true while this side may transmit (half duplex: holds the turn). */
bool link_has_turn(const struct link *l);
/* What the channel is doing now, for the operator (session UP only):
 *   TX    our transmission is on the air, or we hold the turn with data
 *         in flight
 *   RX    the far end holds the turn and we have heard it
 *   TURN  we handed the turn over and wait for the far end to answer
 *   IDLE  nobody has anything to send (or we hold an empty turn)
 *   NONE  no session */
enum link_activity { LINK_ACT_NONE = 0, LINK_ACT_IDLE, LINK_ACT_TX,
	LINK_ACT_RX, LINK_ACT_TURN };
enum link_activity link_activity(const struct link *l, int64_t now_ms);
/* Largest upper-layer payload per DATA frame. */
size_t link_payload_max(const struct link *l);

#endif
