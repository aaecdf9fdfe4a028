/*
 * xfer_sim.h - two skywave gateways in one process: link sessions and
 * transfer protocols over a modelled radio channel under a virtual clock,
 * each with an in-memory store that survives a simulated restart (only
 * what was durable). Used by the air protocol tests (tests/air/) and the
 * airtime/preempt benchmarks; reproducible from a seed.
 *
 * Channel model (small on purpose; hw-sim's full model can replace it
 * behind the same calls): rate, half or full duplex, turnaround cost per
 * change of direction (transmissions are serialised, so there are no
 * collisions), one-way latency, independent bit errors (ber), burst fades
 * and outages (everything on air in the interval is lost), frame drops,
 * and reordering (a frame delayed past later ones). Each side models its
 * driver: frames are pulled from the link layer only while less than
 * buffer_ms of airtime is queued (drv.h's airtime budget).
 *
 * Thread: one; nothing here blocks or touches the real clock.
 */
#ifndef GW_GATEWAY_XFER_SIM_H
#define GW_GATEWAY_XFER_SIM_H

#include "common/buf.h"
#include "gateway/air/xfer_session.h"
#include "link-drivers/link_session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xsim;

#define XSIM_MAX_FADES 32

struct xsim_fade {
	int64_t from_ms, to_ms; /* [from, to): nothing gets through */
};

/* Totals of the channel. */
struct xsim_chan_stats {
	uint64_t air_bytes;     /* every byte put on air, both directions */
	uint64_t turns;         /* changes of direction */
	uint64_t frames, lost, corrupted, reordered;
	int64_t busy_ms;        /* airtime plus turnarounds */
};

/* A pluggable channel (hw-sim's model through an adapter, see
 * tests/air/air_hwchan.h). The simulator owns ch and calls free. */
struct xsim_chan_ops {
	/* side's driver takes one frame at now */
	void (*send)(void *ch, int side, int64_t now, const uint8_t *p,
	    size_t n);
	/* airtime queued below side's link layer, ms */
	int64_t (*buffered_ms)(void *ch, int side, int64_t now);
	/* run to now, hand every received frame to rx; returns the next
	 * time something happens (INT64_MAX: nothing pending) */
	int64_t (*advance)(void *ch, int64_t now, void (*rx)(void *arg,
	    int side, const uint8_t *p, size_t n), void *arg);
	/* drop side's queued bytes (a restart) */
	void (*flush)(void *ch, int side);
	/* air_bytes, turns, frames, lost, corrupted */
	void (*stats)(void *ch, struct xsim_chan_stats *out);
	void (*free)(void *ch);
};

struct xsim_config {
	uint64_t seed;
	/* NULL: the built-in model below; else every channel field but caps
	 * and buffer_ms is the adapter's business. */
	const struct xsim_chan_ops *chan_ops;
	void *chan;
	uint32_t frame_overhead; /* bytes the channel's framing adds */
	struct drv_caps caps;   /* rate, duplex, turnaround, latency, mtu,
	                           max_tx */
	uint32_t buffer_ms;     /* driver airtime budget; 0: 1000 */
	double ber;             /* bit error rate */
	double drop;            /* frame loss probability */
	double reorder;         /* probability a frame is delayed */
	uint32_t reorder_ms;    /* by this much */
	struct xsim_fade fades[XSIM_MAX_FADES];
	size_t nfades;
	/* Random burst fades: mean gap between fades and their length. */
	uint32_t fade_every_ms, fade_len_ms;
	const uint8_t *key;     /* link key for both sides, or NULL */
	const uint8_t *key_b;   /* a different key for B (mismatch tests) */
	uint8_t b_version_min, b_version_max; /* 0: same as A */
	uint32_t commit_delay_ms; /* store completion latency */
	uint16_t dict_id;       /* offered by both; 0: none */
	bool no_compress;       /* do not offer LINK_FEAT_DEFLATE */
	bool zstd;              /* offer LINK_FEAT_ZSTD, _ACKR and _SHA128
	                           (environment SKYWAVE_AIR_CODEC=zstd|deflate
	                           overrides) */
	bool b_no_zstd;         /* ... but not B (a peer without zstd) */
	bool b_no_sha128;       /* B offers zstd and ACKR, not SHA128 */
	size_t seg_bytes;       /* transfer round size; 0: default */
	bool quiet;             /* silence info logs */
};

enum { XSIM_A = 0, XSIM_B = 1 };

/* A message known to one side's store. */
struct xsim_msg {
	struct xfer_env env;
	struct buf content;
	int relayed;        /* sender: relayed() calls */
	int committed;      /* receiver: commits */
	int64_t submit_ms, commit_ms;
	bool at_sender;
};

struct xsim *xsim_new(const struct xsim_config *cfg);
void xsim_free(struct xsim *s);

/* Start both links (A initiates). */
void xsim_start(struct xsim *s);
/* Queue a message at side for the other side (content copied). Returns the
 * message's index in that side's sent list. */
size_t xsim_submit(struct xsim *s, int side, const struct xfer_env *env,
    const uint8_t *content, size_t len);
/* Run until t_ms of virtual time, or until done(s, arg) is true (checked
 * after every event). Returns true when done stopped it. */
bool xsim_run(struct xsim *s, int64_t t_ms,
    bool (*done)(struct xsim *s, void *arg), void *arg);
/* Drop side's volatile state (link, transfer, pending completions) and
 * rebuild it from its store, as after kill -9 and a restart. */
void xsim_restart(struct xsim *s, int side);
/* Deliver raw bytes to side's link layer now (forged or replayed frames). */
void xsim_inject(struct xsim *s, int side, const uint8_t *p, size_t n);
/* Every frame side transmits is also handed to tap (for replay tests). */
void xsim_set_tap(struct xsim *s, void (*tap)(void *arg, int side,
    const uint8_t *p, size_t n), void *arg);
/* Schedule fn at t_ms (one at a time per call site; used for submits at a
 * later time). */
void xsim_at(struct xsim *s, int64_t t_ms, void (*fn)(struct xsim *s,
    void *arg), void *arg);

/* The scheduler hook of side's transfer (kept across restarts). */
void xsim_set_pick(struct xsim *s, int side, xfer_pick_fn pick, void *arg);
/* Called for every content read side's transfer makes for the air
 * (store.read: off, len read, the message's size), as the daemon's glue
 * sees them; the compressibility sample is not one (xfer_set_sample).
 * Kept across restarts; NULL: none. */
typedef void (*xsim_read_fn)(void *arg, int side,
    const uint8_t id[XFER_ID_BYTES], uint64_t off, size_t len,
    uint64_t size);
void xsim_set_read_hook(struct xsim *s, int side, xsim_read_fn fn,
    void *arg);

int64_t xsim_now(const struct xsim *s);
struct link *xsim_link(struct xsim *s, int side);
struct xfer *xsim_xfer(struct xsim *s, int side);
const struct xsim_chan_stats *xsim_chan(struct xsim *s);
/* Time of the first byte on air (-1: none yet). */
int64_t xsim_first_air_ms(const struct xsim *s);

/* Messages side sent (as submitted) and received (committed). */
size_t xsim_sent_count(const struct xsim *s, int side);
const struct xsim_msg *xsim_sent(const struct xsim *s, int side, size_t i);
/* The committed copy at the far side of side's i-th sent message, or
 * NULL. */
const struct xsim_msg *xsim_delivered(const struct xsim *s, int side,
    size_t i);
/* true when every message side sent was committed at the far side and
 * relayed at side. */
bool xsim_all_done(struct xsim *s, int side);

/* The invariant: every message sent is either committed exactly once at
 * the far side with identical envelope id, size, SHA-256 (all 32 bytes,
 * whatever the envelope carried on the air) and content, or still
 * queued (not relayed) at the sender; relayed only after commit, at most
 * once. Returns 0 or -1 with a description in why. */
int xsim_check(const struct xsim *s, char *why, size_t cap);

#endif
