/*
 * xfer_session.c - the transfer protocol core (see xfer_session.h and
 * docs/air-protocol.md s6-s8). Owner: the link object of the daemon, or a
 * test/bench harness; one thread.
 *
 * Sender, per outbound message (struct xout):
 *
 *   QUEUED --picked: MSG (+SEG)--> SENDING --last SEG--> SENT --ACK--> gone
 *     ^                              |  ^                   |
 *     +------ link session down -----+  +-- HAVE(off<size) -+
 *   (HAVE sets next_off in any state; NAK sets it to 0.)
 *
 *   Invariants: next_off <= env.size; handle != 0 iff state != QUEUED;
 *   relayed() is called exactly once, on the first ACK.
 *
 * Receiver, per inbound message (struct xin), keyed by id and, inside one
 * session, by the sender's handle:
 *
 *   RECV --have == size, hash ok--> COMMITTING --commit ok--> ACK, gone
 *     ^  \--hash bad: NAK, have = 0       \--commit failed: NAK, gone
 *
 *   Invariants: content.len == have; durable <= have; an id is never both
 *   committed (store) and present here except during COMMITTING.
 *   "hash ok": the SHA-256 of the message (unpacked) matches the
 *   envelope's digest, all 32 bytes, or its first 16 in a session that
 *   agreed on SHA128 (feature 0x10); either way the store is handed the
 *   whole SHA-256 computed here.
 *
 * Stream per direction and link session: records (xfer_wire.h) compressed
 * by one stream of the negotiated codec: a zstd frame primed with the zstd
 * dictionary, or raw deflate with the negotiated preset dictionary. A
 * "round" is what pull produces at once: pending control records, then
 * segments chosen one by one by the scheduler until about seg_bytes of
 * compressed output (seg_ms of airtime; the plaintext bound is seg_bytes
 * times the compression ratio measured so far), then a flush (zstd: end of
 * block; deflate: sync flush), so the receiver can decode everything it got
 * and a higher-priority message waits at most about one round. With
 * deflate, rounds of incompressible content run at level 0 (stored
 * blocks); zstd stores such blocks raw by itself.
 *
 *   codec per session: link_up(codec) -> streams_start: NONE | DEFLATE
 *   (z_stream pair) | ZSTD (ZSTD_CCtx + ZSTD_DCtx, windowLogMax capped);
 *   link_down -> streams_end frees them. A zstd frame that ends inside a
 *   session, a window over XFER_ZSTD_WLOG_MAX, or a corrupt block is a
 *   stream error.
 *
 * Capability publication, per session:
 *
 *   link_up: CAPS_HELD(held) queued before HAVE_END
 *   peer's CAPS_HELD(d): peer_caps = d; if d != local digest, CAPS queued
 *       and peer_caps = local digest (the stream is reliable in-session)
 *   xfer_set_local_caps while up and peer_caps known and different: CAPS
 *   CAPS received: store.caps() == 0 -> held = its digest
 *
 *   Invariant: caps_sent counts at most one CAPS per distinct local digest
 *   per session (peer_caps_known && peer_caps == local after sending).
 */
#include "gateway/air/xfer_session.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/mime_reencode.h"
#include "link-drivers/link_session.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
/* refPrefix_advanced (a full dictionary as the frame's prefix) is in
 * zstd's advanced API; Debian's libzstd exports it. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

enum xout_state { XO_QUEUED, XO_SENDING, XO_SENT };
enum xin_state { XI_RECV, XI_COMMITTING };

struct xout {
	struct xfer_env env;
	enum xout_state st;
	uint64_t handle;
	uint64_t next_off;
	uint64_t arrival;
	int64_t added_ms;
	int incompressible; /* -1 unknown, 0 no, 1 yes */
};

struct xin {
	struct xfer_env env;
	enum xin_state st;
	struct buf content;   /* [0, have) */
	uint64_t durable;
	uint64_t handle;      /* this session's handle, 0: none */
	bool have_sent;       /* a HAVE went out since the last in-sync SEG */
	crypto_hash_sha256_state sha;
	uint64_t hashed;      /* bytes fed to sha */
};

/* A handle of this session that maps to nothing useful: the message was
 * a duplicate or is being committed; its segments are skipped. */
#define XIN_DISCARD ((size_t)-1)

struct hmap {
	uint64_t handle;
	size_t idx; /* into ins, or XIN_DISCARD */
	uint8_t id[XFER_ID_BYTES];
};

struct xfer {
	struct xfer_config cfg;
	struct xfer_store store;
	xfer_sample_fn sample; /* NULL: store.read */
	char name[32];
	int err;

	/* Session. */
	bool up, compress, peer_have_end;
	uint16_t dict_id;
	int codec;            /* enum xfer_codec of this session */
	bool ackr;            /* ACKR agreed: acknowledge by handle ranges */
	size_t sha_len;       /* envelope digest bytes: 16 with SHA128 */
	uint64_t ack_first, ack_n; /* ACKR range not yet in ctl */
	uint8_t ack_st;
	z_stream def, inf;
	bool def_ok, inf_ok;
	ZSTD_CCtx *zc;        /* zstd: this session's outbound frame */
	ZSTD_DCtx *zd;        /* zstd: the peer's frame */
	int cur_level;
	uint64_t next_handle;

	struct xout *outs;
	size_t nout, capout;
	uint64_t arrivals;

	struct xin **ins;
	size_t nin;
	struct hmap *hm;
	size_t nhm;

	struct buf ctl;      /* pending control records (plaintext) */
	struct buf out;      /* compressed bytes ready for the link */
	struct buf inplain;  /* decompressed, unparsed records */
	struct buf tmp, rec;
	struct xfer_cand *cands;
	size_t ncands;
	bool cut; /* end the current frame: an urgent message just ended */
	size_t frame_cap; /* zstd: bytes per pull (frame_ms of airtime) */
	/* The message whose segment went out last (the one on the air now),
	 * for the operator's console; cleared when it leaves or the session
	 * ends. */
	uint8_t cur_id[XFER_ID_BYTES];
	bool has_cur;
	uint64_t ratio_plain, ratio_comp; /* compressed rounds, for sizing */
	struct xfer_stats stats;

	/* Capability publication. */
	struct buf local_caps;     /* our table's text */
	uint64_t local_digest;     /* 0: none */
	uint64_t held_digest;      /* the peer's table we hold; 0: none */
	uint64_t peer_caps;        /* what the peer holds of ours */
	bool peer_caps_known;      /* its CAPS_HELD arrived this session */
	xfer_caps_fn caps_fn;
	void *caps_arg;
};

void
xfer_sha256(uint8_t out[XFER_SHA_BYTES], const uint8_t *p, size_t n)
{
	crypto_hash_sha256(out, p, n);
}

static int64_t
now_ms(const struct xfer *x)
{
	return x->cfg.clock ? clk_mono_ms(x->cfg.clock) : 0;
}

struct xfer *
xfer_new(const struct xfer_config *cfg, const struct xfer_store *store)
{
	struct xfer *x = xcalloc(1, sizeof(*x));
	x->cfg = *cfg;
	x->store = *store;
	snprintf(x->name, sizeof(x->name), "%s", cfg->name ? cfg->name : "");
	x->cfg.name = x->name;
	if (!x->cfg.rate_bps)
		x->cfg.rate_bps = 2400;
	if (!x->cfg.seg_ms)
		x->cfg.seg_ms = 2000;
	if (!x->cfg.seg_bytes)
		x->cfg.seg_bytes = (size_t)x->cfg.rate_bps / 8 *
		    x->cfg.seg_ms / 1000;
	if (x->cfg.seg_bytes < 128)
		x->cfg.seg_bytes = 128;
	if (!x->cfg.frame_ms)
		x->cfg.frame_ms = XFER_FRAME_MS;
	x->frame_cap = (size_t)x->cfg.rate_bps / 8 * x->cfg.frame_ms / 1000;
	if (x->frame_cap < 256)
		x->frame_cap = 256;
	if (!x->cfg.level)
		x->cfg.level = 9;
	if (x->cfg.zstd_level <= 0 || x->cfg.zstd_level > ZSTD_maxCLevel())
		x->cfg.zstd_level = XFER_ZSTD_LEVEL;
	x->sha_len = XFER_SHA_BYTES;
	return x;
}

static void
xin_free(struct xin *in)
{
	if (!in)
		return;
	xfer_env_fini(&in->env);
	buf_fini(&in->content);
	free(in);
}

static void
streams_end(struct xfer *x)
{
	if (x->def_ok)
		deflateEnd(&x->def);
	if (x->inf_ok)
		inflateEnd(&x->inf);
	x->def_ok = x->inf_ok = false;
	ZSTD_freeCCtx(x->zc);
	ZSTD_freeDCtx(x->zd);
	x->zc = NULL;
	x->zd = NULL;
}

int
xfer_opts_of(uint32_t f)
{
	int o = (f & LINK_FEAT_ZSTD) ? XFER_CODEC_ZSTD :
	    (f & LINK_FEAT_DEFLATE) ? XFER_CODEC_DEFLATE : XFER_CODEC_NONE;
	if (f & LINK_FEAT_ACKR)
		o |= XFER_OPT_ACKR;
	if (f & LINK_FEAT_SHA128)
		o |= XFER_OPT_SHA128;
	return o;
}

void
xfer_free(struct xfer *x)
{
	if (!x)
		return;
	streams_end(x);
	for (size_t i = 0; i < x->nout; i++)
		xfer_env_fini(&x->outs[i].env);
	free(x->outs);
	for (size_t i = 0; i < x->nin; i++)
		xin_free(x->ins[i]);
	free(x->ins);
	free(x->hm);
	free(x->cands);
	buf_fini(&x->ctl);
	buf_fini(&x->out);
	buf_fini(&x->inplain);
	buf_fini(&x->tmp);
	buf_fini(&x->rec);
	buf_fini(&x->local_caps);
	free(x);
}

int
xfer_error(const struct xfer *x)
{
	return x->err;
}

const struct xfer_stats *
xfer_get_stats(const struct xfer *x)
{
	return &x->stats;
}

int
xfer_check_state(const struct xfer *x)
{
	for (size_t i = 0; i < x->nout; i++) {
		const struct xout *o = &x->outs[i];
		if (GW_FAILS_ASSERT(o->next_off <= o->env.size) ||
		    GW_FAILS_ASSERT((o->st == XO_QUEUED) == (o->handle == 0)))
			return GW_EINTERNAL;
		for (size_t k = i + 1; k < x->nout; k++)
			if (GW_FAILS_ASSERT(memcmp(o->env.id, x->outs[k].env.id,
			    XFER_ID_BYTES) != 0))
				return GW_EINTERNAL;
	}
	for (size_t i = 0; i < x->nin; i++) {
		const struct xin *in = x->ins[i];
		if (GW_FAILS_ASSERT(in->content.len <= in->env.size) ||
		    GW_FAILS_ASSERT(in->durable <= in->content.len) ||
		    GW_FAILS_ASSERT(in->st == XI_RECV ||
		    in->content.len == in->env.size))
			return GW_EINTERNAL;
	}
	if (GW_FAILS_ASSERT(x->up || (x->out.len == 0 && x->ctl.len == 0 &&
	    x->ack_n == 0)))
		return GW_EINTERNAL;
	if (GW_FAILS_ASSERT((x->local_digest == 0) ==
	    (x->local_caps.len == 0)) ||
	    GW_FAILS_ASSERT(x->up || !x->peer_caps_known))
		return GW_EINTERNAL;
	return 0;
}

size_t
xfer_codec_bytes(const struct xfer *x)
{
	if (x->codec == XFER_CODEC_ZSTD)
		return ZSTD_sizeof_CCtx(x->zc) + ZSTD_sizeof_DCtx(x->zd);
	if (x->codec == XFER_CODEC_DEFLATE) /* zconf.h: windowBits 15, memLevel 9 */
		return ((size_t)1 << 17) + ((size_t)1 << 18) +
		    ((size_t)1 << 15) + 7 * 1024;
	return 0;
}

void
xfer_set_sample(struct xfer *x, xfer_sample_fn fn)
{
	x->sample = fn;
}

void
xfer_set_pick(struct xfer *x, xfer_pick_fn pick, void *arg)
{
	x->cfg.pick = pick;
	x->cfg.pick_arg = arg;
}

size_t
xfer_out_count(const struct xfer *x)
{
	return x->nout;
}

int
xfer_out_current(const struct xfer *x, uint8_t id[XFER_ID_BYTES],
    uint64_t *next_off, bool *all_sent)
{
	if (!x->up || !x->has_cur)
		return GW_ENOENT;
	for (size_t i = 0; i < x->nout; i++) {
		const struct xout *o = &x->outs[i];
		if (memcmp(o->env.id, x->cur_id, XFER_ID_BYTES) != 0)
			continue;
		if (o->st == XO_QUEUED)
			return GW_ENOENT;
		memcpy(id, o->env.id, XFER_ID_BYTES);
		*next_off = o->next_off;
		*all_sent = o->st == XO_SENT;
		return 0;
	}
	return GW_ENOENT;
}

static void
fail(struct xfer *x, const char *why)
{
	if (!x->err)
		GW_LOGW("xfer", "link=%s event=stream-error reason=\"%s\"",
		    x->name, why);
	x->err = GW_EPROTO;
	x->stats.proto_errors++;
}

/*
 * Control records.
 */

/* The pending ACKR range into ctl (before anything else goes there, so
 * control records keep their order). */
static void
ack_flush(struct xfer *x)
{
	if (!x->ack_n)
		return;
	buf_reset(&x->rec);
	xfer_put_varint(&x->rec, x->ack_first);
	xfer_put_varint(&x->rec, x->ack_n);
	buf_append_byte(&x->rec, x->ack_st);
	xfer_rec_begin(&x->ctl, XFER_R_ACKR, x->rec.len);
	buf_append(&x->ctl, x->rec.data, x->rec.len);
	x->ack_n = 0;
}

static void ctl_id_rec(struct xfer *x, uint8_t type, const uint8_t *id,
    uint64_t v, bool v_is_byte);

/* Acknowledge the message the peer announced as handle in this session
 * (0: unknown here, e.g. a commit that completes after a new session
 * began), status 0 committed / 1 duplicate. With ACKR consecutive handles
 * of one status become one record. */
static void
ack_send(struct xfer *x, uint64_t handle, const uint8_t *id, uint8_t st)
{
	if (!x->ackr || !x->up || handle == 0) {
		ctl_id_rec(x, XFER_R_ACK, id, st, true);
		return;
	}
	if (x->ack_n && st == x->ack_st && handle == x->ack_first + x->ack_n) {
		x->ack_n++;
		return;
	}
	ack_flush(x);
	x->ack_first = handle;
	x->ack_n = 1;
	x->ack_st = st;
}

static void
ctl_id_rec(struct xfer *x, uint8_t type, const uint8_t *id, uint64_t v,
    bool v_is_byte)
{
	ack_flush(x);
	buf_reset(&x->rec);
	buf_append(&x->rec, id, XFER_ID_BYTES);
	if (v_is_byte)
		buf_append_byte(&x->rec, (uint8_t)v);
	else
		xfer_put_varint(&x->rec, v);
	xfer_rec_begin(&x->ctl, type, x->rec.len);
	buf_append(&x->ctl, x->rec.data, x->rec.len);
}

static void
put_u64be(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64be(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Queue our table for the peer (it holds another digest). */
static void
caps_send(struct xfer *x)
{
	uint8_t d[8];
	ack_flush(x);
	put_u64be(d, x->local_digest);
	xfer_rec_begin(&x->ctl, XFER_R_CAPS, 8 + x->local_caps.len);
	buf_append(&x->ctl, d, 8);
	buf_append(&x->ctl, x->local_caps.data, x->local_caps.len);
	x->peer_caps = x->local_digest;
	x->stats.caps_sent++;
	GW_LOGI("xfer", "link=%s event=caps_publish digest=%016llx bytes=%zu",
	    x->name, (unsigned long long)x->local_digest, x->local_caps.len);
}

void
xfer_set_local_caps(struct xfer *x, const char *text, size_t len,
    uint64_t digest)
{
	if (text == NULL || len > XFER_CAPS_MAX) {
		if (text != NULL)
			GW_LOGW("xfer", "link=%s event=caps_too_big bytes=%zu "
			    "max=%u", x->name, len, XFER_CAPS_MAX);
		len = 0;
		digest = 0;
	}
	if (len == 0)
		digest = 0;
	buf_reset(&x->local_caps);
	buf_append(&x->local_caps, text, len);
	x->local_digest = digest;
	if (x->up && x->peer_caps_known && x->peer_caps != digest)
		caps_send(x);
}

void
xfer_set_caps_cb(struct xfer *x, xfer_caps_fn fn, void *arg)
{
	x->caps_fn = fn;
	x->caps_arg = arg;
}

void
xfer_set_held_caps(struct xfer *x, uint64_t digest)
{
	x->held_digest = digest;
}

uint64_t
xfer_held_caps(const struct xfer *x)
{
	return x->held_digest;
}

/*
 * Session.
 */

static void
set_dict(struct xfer *x, bool deflate_side)
{
	size_t len;
	const uint8_t *d = air_dict_get(x->dict_id, &len);
	if (!d)
		return;
	if (deflate_side)
		GW_REQUIRE(deflateSetDictionary(&x->def, d, (uInt)len) == Z_OK);
	else
		GW_REQUIRE(inflateSetDictionary(&x->inf, d, (uInt)len) == Z_OK);
}

/* zstd: one frame per direction and session, primed with the zstd
 * dictionary as a prefix (a prefix serves exactly one frame, which is all a
 * session has, and costs no second copy of the match tables). */
static void
zstd_start(struct xfer *x)
{
	size_t dl;
	const uint8_t *d = air_dict_get(AIR_DICT_ZSTD, &dl);
	x->zc = ZSTD_createCCtx();
	x->zd = ZSTD_createDCtx();
	GW_REQUIRE(x->zc && x->zd && d);
	ZSTD_CCtx *c = x->zc;
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(c,
	    ZSTD_c_compressionLevel, x->cfg.zstd_level)));
	/* The level's own tables are sized for unknown (large) inputs; the
	 * window of a batch and tables that fit a small box instead. */
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog,
	    XFER_ZSTD_WLOG)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_chainLog,
	    XFER_ZSTD_WLOG - 1)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog,
	    XFER_ZSTD_WLOG - 2)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_setParameter(c,
	    ZSTD_c_checksumFlag, 0)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_CCtx_refPrefix_advanced(c, d, dl,
	    ZSTD_dct_fullDict)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_DCtx_setParameter(x->zd,
	    ZSTD_d_windowLogMax, XFER_ZSTD_WLOG_MAX)));
	GW_REQUIRE(!ZSTD_isError(ZSTD_DCtx_refPrefix_advanced(x->zd, d, dl,
	    ZSTD_dct_fullDict)));
}

static void
streams_start(struct xfer *x)
{
	streams_end(x);
	if (!x->compress)
		return;
	if (x->codec == XFER_CODEC_ZSTD) {
		zstd_start(x);
		return;
	}
	memset(&x->def, 0, sizeof(x->def));
	memset(&x->inf, 0, sizeof(x->inf));
	GW_REQUIRE(deflateInit2(&x->def, x->cfg.level, Z_DEFLATED, -15, 9,
	    Z_DEFAULT_STRATEGY) == Z_OK);
	GW_REQUIRE(inflateInit2(&x->inf, -15) == Z_OK);
	x->def_ok = x->inf_ok = true;
	x->cur_level = x->cfg.level;
	set_dict(x, true);
	set_dict(x, false);
}

void
xfer_link_up(struct xfer *x, int opts, uint16_t dict_id)
{
	int codec = opts & XFER_CODEC_MASK;
	x->up = true;
	x->err = 0;
	x->ackr = (opts & XFER_OPT_ACKR) != 0;
	x->sha_len = (opts & XFER_OPT_SHA128) ? XFER_SHA_SHORT :
	    XFER_SHA_BYTES;
	x->ack_n = 0;
	x->codec = codec == XFER_CODEC_ZSTD ? XFER_CODEC_ZSTD :
	    codec ? XFER_CODEC_DEFLATE : XFER_CODEC_NONE;
	x->compress = x->codec != XFER_CODEC_NONE;
	x->dict_id = x->codec == XFER_CODEC_DEFLATE ? dict_id : 0;
	x->peer_have_end = false;
	x->next_handle = 1;
	streams_start(x);
	buf_reset(&x->ctl);
	buf_reset(&x->out);
	buf_reset(&x->inplain);
	x->nhm = 0;
	for (size_t i = 0; i < x->nout; i++) {
		x->outs[i].st = XO_QUEUED;
		x->outs[i].handle = 0;
		x->outs[i].next_off = 0; /* until the peer's HAVE says more */
	}
	/* Our resume list: every partial transfer we hold. */
	for (size_t i = 0; i < x->nin; i++) {
		struct xin *in = x->ins[i];
		in->handle = 0;
		in->have_sent = false;
		if (in->st == XI_RECV && in->content.len > 0)
			ctl_id_rec(x, XFER_R_HAVE, in->env.id, in->content.len,
			    false);
	}
	/* Which of the peer's capability tables we hold: it sends its own
	 * only when that differs. */
	uint8_t d[8];
	put_u64be(d, x->held_digest);
	xfer_rec_begin(&x->ctl, XFER_R_CAPS_HELD, 8);
	buf_append(&x->ctl, d, 8);
	x->peer_caps_known = false;
	xfer_rec_begin(&x->ctl, XFER_R_HAVE_END, 0);
}

void
xfer_link_down(struct xfer *x)
{
	x->up = false;
	x->ack_n = 0;
	streams_end(x);
	buf_reset(&x->ctl);
	buf_reset(&x->out);
	buf_reset(&x->inplain);
	x->nhm = 0;
	x->peer_caps_known = false;
	x->has_cur = false;
	for (size_t i = 0; i < x->nout; i++) {
		x->outs[i].st = XO_QUEUED;
		x->outs[i].handle = 0;
	}
}

/*
 * Sender.
 */

static struct xout *
out_find(struct xfer *x, const uint8_t *id)
{
	for (size_t i = 0; i < x->nout; i++)
		if (memcmp(x->outs[i].env.id, id, XFER_ID_BYTES) == 0)
			return &x->outs[i];
	return NULL;
}

int
xfer_out_add(struct xfer *x, const struct xfer_env *env)
{
	if (out_find(x, env->id))
		return GW_EEXIST;
	/* The MSG record must fit a record (the receiver's bound). */
	buf_reset(&x->tmp);
	xfer_env_encode(env, &x->tmp);
	if (x->tmp.len + 16 > XFER_RECORD_MAX || env->nrcpt == 0 ||
	    env->nrcpt > XFER_RCPT_MAX)
		return GW_ETOOBIG;
	if (x->nout == x->capout) {
		x->capout = x->capout ? x->capout * 2 : 16;
		x->outs = xrealloc(x->outs, x->capout * sizeof(*x->outs));
	}
	struct xout *o = &x->outs[x->nout++];
	memset(o, 0, sizeof(*o));
	xfer_env_copy(&o->env, env);
	o->st = XO_QUEUED;
	o->arrival = x->arrivals++;
	o->added_ms = now_ms(x);
	o->incompressible = -1;
	return 0;
}

static void
out_del(struct xfer *x, struct xout *o)
{
	size_t i = (size_t)(o - x->outs);
	if (x->has_cur && memcmp(x->cur_id, o->env.id, XFER_ID_BYTES) == 0)
		x->has_cur = false;
	xfer_env_fini(&o->env);
	memmove(&x->outs[i], &x->outs[i + 1],
	    (x->nout - i - 1) * sizeof(*x->outs));
	x->nout--;
}

int
xfer_out_remove(struct xfer *x, const uint8_t id[XFER_ID_BYTES])
{
	struct xout *o = out_find(x, id);
	if (!o)
		return GW_ENOENT;
	out_del(x, o);
	return 0;
}

static int
default_pick(const struct xfer_cand *c, size_t n)
{
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (best < 0 || c[i].env->priority > c[best].env->priority ||
		    (c[i].env->priority == c[best].env->priority &&
		    c[i].arrival < c[best].arrival))
			best = (int)i;
	}
	return best;
}

/* The message to send next (index into outs), or -1. */
static long
pick_next(struct xfer *x)
{
	if (!x->up || !x->peer_have_end || x->err)
		return -1;
	if (x->ncands < x->nout) {
		x->cands = xrealloc(x->cands, x->nout * sizeof(*x->cands));
		x->ncands = x->nout;
	}
	size_t map[64], n = 0;
	size_t *mp = map;
	size_t *heap = NULL;
	if (x->nout > GW_ARRAY_LEN(map))
		mp = heap = xmalloc(x->nout * sizeof(*heap));
	for (size_t i = 0; i < x->nout; i++) {
		struct xout *o = &x->outs[i];
		if (o->st == XO_SENT)
			continue;
		x->cands[n].env = &o->env;
		x->cands[n].next_off = o->next_off;
		x->cands[n].arrival = o->arrival;
		x->cands[n].started = o->st == XO_SENDING;
		mp[n++] = i;
	}
	int k = -1;
	if (n)
		k = x->cfg.pick ? x->cfg.pick(x->cfg.pick_arg, x->cands, n) :
		    default_pick(x->cands, n);
	long r = (k >= 0 && (size_t)k < n) ? (long)mp[k] : -1;
	free(heap);
	return r;
}

static int
is_incompressible(struct xfer *x, struct xout *o)
{
	if (x->codec == XFER_CODEC_ZSTD)
		return 0; /* zstd stores incompressible blocks raw itself */
	if (o->incompressible >= 0)
		return o->incompressible;
	uint8_t sample[4096];
	size_t want = o->env.size < sizeof(sample) ? (size_t)o->env.size :
	    sizeof(sample);
	xfer_sample_fn rd = x->sample ? x->sample : x->store.read;
	long got = want ? rd(x->store.arg, o->env.id, 0, sample, want) : 0;
	o->incompressible = 0;
	if (got >= 512) {
		uLongf dl = compressBound((uLong)got);
		uint8_t *d = xmalloc(dl);
		if (compress2(d, &dl, sample, (uLong)got, 1) == Z_OK &&
		    dl * 10 > (uLongf)got * 9)
			o->incompressible = 1;
		free(d);
	}
	return o->incompressible;
}

static void
zstd_feed(struct xfer *x, const uint8_t *p, size_t n, ZSTD_EndDirective op)
{
	ZSTD_inBuffer in = { p, n, 0 };
	for (;;) {
		buf_reserve(&x->out, ZSTD_CStreamOutSize());
		ZSTD_outBuffer ob = { x->out.data + x->out.len,
			x->out.cap - x->out.len, 0 };
		size_t left = ZSTD_compressStream2(x->zc, &ob, &in, op);
		GW_REQUIRE(!ZSTD_isError(left));
		x->out.len += ob.pos;
		x->out.data[x->out.len] = '\0';
		x->stats.comp_out += ob.pos;
		if (op == ZSTD_e_continue ? in.pos == in.size : left == 0)
			break;
	}
}

/* Feed plaintext into the stream (or straight out when not
 * compressing). flush: zlib's Z_NO_FLUSH, Z_BLOCK or Z_SYNC_FLUSH; with
 * zstd anything but Z_NO_FLUSH ends the block. */
static void
def_feed(struct xfer *x, const uint8_t *p, size_t n, int flush)
{
	x->stats.plain_out += n;
	if (!x->compress) {
		buf_append(&x->out, p, n);
		x->stats.comp_out += n;
		return;
	}
	if (x->codec == XFER_CODEC_ZSTD) {
		zstd_feed(x, p, n, flush == Z_NO_FLUSH ? ZSTD_e_continue :
		    ZSTD_e_flush);
		return;
	}
	x->def.next_in = (Bytef *)(uintptr_t)p;
	x->def.avail_in = (uInt)n;
	do {
		buf_reserve(&x->out, 4096);
		x->def.next_out = x->out.data + x->out.len;
		x->def.avail_out = (uInt)(x->out.cap - x->out.len);
		int rc = deflate(&x->def, flush);
		GW_REQUIRE(rc == Z_OK || rc == Z_BUF_ERROR);
		size_t made = (size_t)(x->out.cap - x->out.len) -
		    x->def.avail_out;
		x->out.len += made;
		x->out.data[x->out.len] = '\0';
		x->stats.comp_out += made;
	} while (x->def.avail_in > 0 || x->def.avail_out == 0);
}

static void
set_level(struct xfer *x, int level)
{
	if (x->codec != XFER_CODEC_DEFLATE || level == x->cur_level)
		return;
	/* At a round boundary no input is pending, so deflateParams only
	 * ends the current block. */
	buf_reserve(&x->out, 256);
	x->def.next_in = NULL;
	x->def.avail_in = 0;
	x->def.next_out = x->out.data + x->out.len;
	x->def.avail_out = (uInt)(x->out.cap - x->out.len);
	int rc = deflateParams(&x->def, level, Z_DEFAULT_STRATEGY);
	GW_REQUIRE(rc == Z_OK);
	size_t made = (size_t)(x->out.cap - x->out.len) - x->def.avail_out;
	x->out.len += made;
	x->out.data[x->out.len] = '\0';
	x->stats.comp_out += made;
	x->cur_level = level;
}

static void
emit_rec(struct xfer *x, uint8_t type, const struct buf *body)
{
	buf_reset(&x->tmp);
	xfer_rec_begin(&x->tmp, type, body->len);
	buf_append(&x->tmp, body->data, body->len);
	def_feed(x, x->tmp.data, x->tmp.len, Z_NO_FLUSH);
}

static int64_t
remaining(int64_t s, int64_t elapsed_ms)
{
	if (s < 0)
		return -1;
	int64_t r = s - elapsed_ms / 1000;
	return r < 0 ? 0 : r;
}

static void
emit_msg(struct xfer *x, struct xout *o)
{
	struct xfer_env e = o->env; /* shallow: only the deadlines change */
	int64_t el = now_ms(x) - o->added_ms;
	e.by_s = remaining(o->env.by_s, el);
	e.aby_s = remaining(o->env.aby_s, el);
	o->handle = x->next_handle++;
	buf_reset(&x->rec);
	xfer_put_varint(&x->rec, o->handle);
	xfer_env_encode_d(&e, &x->rec, x->sha_len);
	emit_rec(x, XFER_R_MSG, &x->rec);
	o->st = XO_SENDING;
	x->stats.msgs_sent++;
}

/* Plaintext per compressed round: comp bytes of output at the ratio seen
 * so far (3 until measured, clamped to 1..8). */
static size_t
round_bound(const struct xfer *x, size_t comp)
{
	uint64_t r10 = 30;
	if (x->ratio_comp > 0)
		r10 = x->ratio_plain * 10 / x->ratio_comp;
	if (r10 < 10)
		r10 = 10;
	if (r10 > 80)
		r10 = 80;
	return (size_t)((uint64_t)comp * r10 / 10);
}

/* Compressed bytes one round should make when want bytes are still needed
 * for the frame being built. Deflate: seg_bytes (seg_ms of airtime). zstd:
 * just what the frame still takes, at most twice seg_bytes, so a frame
 * costs about one flush and almost nothing is left over ahead of a message
 * that arrives while the frame is on the air. */
static size_t
round_target(const struct xfer *x, size_t want)
{
	if (x->codec != XFER_CODEC_ZSTD)
		return x->cfg.seg_bytes;
	size_t cap = 2 * x->cfg.seg_bytes;
	if (want > cap)
		want = cap;
	return want < 64 ? 64 : want;
}

/* One round into x->out; false when there was nothing to send. want: the
 * bytes the caller still needs (round_target). */
static bool
produce_round(struct xfer *x, size_t want)
{
	size_t plain = 0, out0 = x->out.len;
	uint64_t plain0 = x->stats.plain_out;
	bool any = false;
	int round_level = -1;
	size_t bound = x->cfg.seg_bytes;

	if (!x->up || x->err)
		return false;
	ack_flush(x);
	for (;;) {
		long i = pick_next(x);
		if (i < 0)
			break;
		struct xout *o = &x->outs[i];
		int lvl = is_incompressible(x, o) ? 0 : x->cfg.level;
		if (round_level >= 0 && lvl != round_level)
			break; /* keep one level per round */
		if (round_level < 0) {
			set_level(x, lvl);
			round_level = lvl;
			if (lvl == 0)
				x->stats.stored_rounds++;
			else if (x->compress)
				bound = round_bound(x, round_target(x, want));
			out0 = x->out.len;
		}
		if (!any && x->ctl.len) {
			def_feed(x, x->ctl.data, x->ctl.len, Z_NO_FLUSH);
			buf_reset(&x->ctl);
		}
		any = true;
		if (o->st == XO_QUEUED)
			emit_msg(x, o);
		uint64_t left = o->env.size - o->next_off;
		size_t chunk = bound > plain ? bound - plain : 0;
		if (chunk < 64)
			chunk = 64;
		if (chunk > left)
			chunk = (size_t)left;
		if (chunk) {
			buf_reset(&x->rec);
			xfer_put_varint(&x->rec, o->handle);
			xfer_put_varint(&x->rec, o->next_off);
			size_t hdr = x->rec.len;
			buf_reserve(&x->rec, chunk);
			long got = x->store.read(x->store.arg, o->env.id,
			    o->next_off, x->rec.data + hdr, chunk);
			if (got <= 0) {
				GW_LOGW("xfer", "link=%s event=read-failed "
				    "err=%ld", x->name, got);
				out_del(x, o);
				continue;
			}
			x->rec.len = hdr + (size_t)got;
			emit_rec(x, XFER_R_SEG, &x->rec);
			memcpy(x->cur_id, o->env.id, XFER_ID_BYTES);
			x->has_cur = true;
			o->next_off += (uint64_t)got;
			plain += (size_t)got;
		}
		plain += 16;
		if (o->next_off >= o->env.size) {
			o->st = XO_SENT;
			/* The end of a message that outranks what comes next
			 * should not wait for the frame to fill with it. */
			long nx = pick_next(x);
			if (nx < 0 || x->outs[nx].env.priority <
			    o->env.priority) {
				x->cut = true;
				break;
			}
		}
		if (plain >= bound)
			break;
	}
	if (!any && x->ctl.len) {
		def_feed(x, x->ctl.data, x->ctl.len, Z_NO_FLUSH);
		buf_reset(&x->ctl);
		any = true;
	}
	if (any)
		x->stats.rounds++;
	if (any && x->compress) {
		/* A stored round ends byte-aligned already: Z_BLOCK makes
		 * it all decodable without the empty block of a sync flush.
		 * (zstd: both end the block.) */
		def_feed(x, NULL, 0, round_level == 0 ? Z_BLOCK :
		    Z_SYNC_FLUSH);
		if (round_level > 0) {
			x->ratio_plain += x->stats.plain_out - plain0;
			x->ratio_comp += x->out.len - out0;
		}
	}
	return any;
}

size_t
xfer_pull(struct xfer *x, uint8_t *p, size_t room)
{
	/* zstd: a frame holds at most frame_ms of airtime, so what is
	 * queued below the link ahead of an urgent message stays short. */
	if (x->codec == XFER_CODEC_ZSTD && room > x->frame_cap)
		room = x->frame_cap;
	x->cut = false;
	/* zstd: when a round leaves less than a third of the frame, the
	 * frame goes as it is: a somewhat short frame costs less than the
	 * flush of one more small round (measured, docs/air-protocol.md s7). */
	size_t slack = x->codec == XFER_CODEC_ZSTD ? room / 3 : 0;
	while (x->out.len < room && !x->cut &&
	    (x->out.len == 0 || room - x->out.len > slack) &&
	    produce_round(x, room - x->out.len))
		;
	size_t n = x->out.len < room ? x->out.len : room;
	if (n == 0)
		return 0;
	memcpy(p, x->out.data, n);
	buf_consume(&x->out, n);
	return n;
}

bool
xfer_pending(struct xfer *x)
{
	if (!x->up || x->err)
		return false;
	return x->out.len > 0 || x->ctl.len > 0 || x->ack_n > 0 ||
	    pick_next(x) >= 0;
}

/*
 * Receiver.
 */

static struct xin *
in_find(struct xfer *x, const uint8_t *id, size_t *idx)
{
	for (size_t i = 0; i < x->nin; i++) {
		if (memcmp(x->ins[i]->env.id, id, XFER_ID_BYTES) == 0) {
			if (idx)
				*idx = i;
			return x->ins[i];
		}
	}
	return NULL;
}

static struct xin *
in_add(struct xfer *x, const struct xfer_env *env)
{
	struct xin *in = xcalloc(1, sizeof(*in));
	xfer_env_copy(&in->env, env);
	crypto_hash_sha256_init(&in->sha);
	x->ins = xrealloc(x->ins, (x->nin + 1) * sizeof(*x->ins));
	x->ins[x->nin++] = in;
	return in;
}

static void
in_del(struct xfer *x, struct xin *in)
{
	for (size_t i = 0; i < x->nin; i++) {
		if (x->ins[i] != in)
			continue;
		memmove(&x->ins[i], &x->ins[i + 1],
		    (x->nin - i - 1) * sizeof(*x->ins));
		x->nin--;
		break;
	}
	/* Handle map entries re-find their xin by id (on_seg). */
	xin_free(in);
}

static void
in_reset(struct xin *in)
{
	buf_reset(&in->content);
	in->durable = 0;
	in->hashed = 0;
	crypto_hash_sha256_init(&in->sha);
}

void
xfer_in_restore(struct xfer *x, const struct xfer_env *env,
    const uint8_t *content, uint64_t len)
{
	struct xin *in = in_find(x, env->id, NULL);
	if (!in)
		in = in_add(x, env);
	in_reset(in);
	if (len > env->size)
		len = env->size;
	buf_append(&in->content, content, (size_t)len);
	in->durable = len;
}

void
xfer_partial_done(struct xfer *x, const uint8_t id[XFER_ID_BYTES],
    uint64_t durable_off)
{
	struct xin *in = in_find(x, id, NULL);
	if (in && durable_off > in->durable && durable_off <= in->content.len)
		in->durable = durable_off;
}

void
xfer_commit_done(struct xfer *x, const uint8_t id[XFER_ID_BYTES], int err)
{
	struct xin *in = in_find(x, id, NULL);
	if (!in || in->st != XI_COMMITTING)
		return;
	if (err < 0) {
		GW_LOGW("xfer", "link=%s event=commit-failed err=%s", x->name,
		    gw_errname(err));
		ctl_id_rec(x, XFER_R_NAK, id, 2, true);
		x->stats.naks_sent++;
	} else {
		ack_send(x, in->handle, id, 0);
		x->stats.committed++;
	}
	in_del(x, in);
}

static struct hmap *
hm_find(struct xfer *x, uint64_t handle)
{
	for (size_t i = 0; i < x->nhm; i++)
		if (x->hm[i].handle == handle)
			return &x->hm[i];
	return NULL;
}

static void
hm_add(struct xfer *x, uint64_t handle, const uint8_t *id, size_t idx)
{
	x->hm = xrealloc(x->hm, (x->nhm + 1) * sizeof(*x->hm));
	x->hm[x->nhm].handle = handle;
	x->hm[x->nhm].idx = idx;
	memcpy(x->hm[x->nhm].id, id, XFER_ID_BYTES);
	x->nhm++;
}

static void complete(struct xfer *x, struct xin *in);

static void
on_msg(struct xfer *x, const uint8_t *p, size_t n)
{
	uint64_t handle;
	struct xfer_env env;
	if (xfer_get_varint(&p, &n, &handle) < 0 || handle == 0 ||
	    hm_find(x, handle) || xfer_env_decode_d(p, n, &env,
	    x->sha_len) < 0) {
		fail(x, "bad MSG record");
		return;
	}
	size_t idx;
	struct xin *in = in_find(x, env.id, &idx);
	if ((!in || in->st != XI_COMMITTING) &&
	    x->store.committed(x->store.arg, env.id)) {
		/* Committed before; its ACK was lost. */
		x->stats.dups_seen++;
		ack_send(x, handle, env.id, 1);
		hm_add(x, handle, env.id, XIN_DISCARD);
		if (in)
			in_del(x, in);
		xfer_env_fini(&env);
		return;
	}
	if (in && in->st == XI_COMMITTING) {
		hm_add(x, handle, env.id, XIN_DISCARD);
		xfer_env_fini(&env);
		return;
	}
	if (in && (in->env.size != env.size || in->env.mflags != env.mflags ||
	    in->env.orig_size != env.orig_size ||
	    memcmp(in->env.sha256, env.sha256, x->sha_len) != 0)) {
		in_reset(in); /* not the content we hold: start over */
		xfer_env_fini(&in->env);
		xfer_env_copy(&in->env, &env);
	}
	if (!in) {
		in = in_add(x, &env);
		idx = x->nin - 1;
	} else {
		/* Keep the freshest envelope (deadlines moved on). */
		xfer_env_fini(&in->env);
		xfer_env_copy(&in->env, &env);
		if (in->content.len > 0) {
			char hex[2 * XFER_ID_BYTES + 1];
			for (int i = 0; i < XFER_ID_BYTES; i++)
				snprintf(hex + 2 * i, 3, "%02x", env.id[i]);
			GW_LOGI("xfer", "link=%s msg=%s event=resume have=%zu "
			    "size=%llu packed=%s", x->name, hex,
			    in->content.len, (unsigned long long)env.size,
			    (env.mflags & XFER_ENV_PACKED) ? "yes" : "no");
			x->stats.resumes++;
		}
	}
	in->handle = handle;
	in->have_sent = false;
	hm_add(x, handle, env.id, idx);
	xfer_env_fini(&env);
	if (in->env.size == 0 && in->st == XI_RECV)
		complete(x, in); /* no segments will come */
}

static void
complete(struct xfer *x, struct xin *in)
{
	uint8_t sha[XFER_SHA_BYTES];
	struct buf orig = BUF_INIT;
	const uint8_t *msg = in->content.data;
	size_t len = in->content.len;
	bool ok = true;

	if (in->env.mflags & XFER_ENV_PACKED) {
		/* The stream is the packed form: the message is what it
		 * unpacks to, and the hash is checked on that. */
		ok = mime_unpack_max(in->content.data, in->content.len,
		    (size_t)in->env.orig_size, &orig) == 0 &&
		    orig.len == in->env.orig_size;
		msg = orig.data;
		len = orig.len;
		if (ok)
			xfer_sha256(sha, msg, len);
	} else {
		if (in->content.len > in->hashed)
			crypto_hash_sha256_update(&in->sha, in->content.data +
			    in->hashed, in->content.len - in->hashed);
		in->hashed = in->content.len;
		crypto_hash_sha256_final(&in->sha, sha);
	}
	/* With SHA128 the envelope holds the first 16 bytes of the digest;
	 * once they match, the store gets the whole SHA-256 computed here
	 * over the octets it stores. */
	if (!ok || memcmp(sha, in->env.sha256, x->sha_len) != 0) {
		GW_LOGW("xfer", "link=%s event=hash-mismatch size=%llu "
		    "packed=%s", x->name, (unsigned long long)in->env.size,
		    (in->env.mflags & XFER_ENV_PACKED) ? (ok ? "yes" :
		    "unpack-failed") : "no");
		ctl_id_rec(x, XFER_R_NAK, in->env.id, 1, true);
		x->stats.naks_sent++;
		in_reset(in);
		buf_fini(&orig);
		return;
	}
	memcpy(in->env.sha256, sha, XFER_SHA_BYTES);
	in->st = XI_COMMITTING;
	x->store.commit(x->store.arg, &in->env, msg ? msg : in->content.data,
	    len);
	buf_fini(&orig);
}

static void
on_seg(struct xfer *x, const uint8_t *p, size_t n)
{
	uint64_t handle, off;
	if (xfer_get_varint(&p, &n, &handle) < 0 ||
	    xfer_get_varint(&p, &n, &off) < 0) {
		fail(x, "bad SEG record");
		return;
	}
	struct hmap *h = hm_find(x, handle);
	if (!h) {
		fail(x, "SEG for an unknown handle");
		return;
	}
	if (h->idx == XIN_DISCARD)
		return;
	struct xin *in = h->idx < x->nin ? x->ins[h->idx] : NULL;
	if (!in || memcmp(in->env.id, h->id, XFER_ID_BYTES) != 0) {
		in = in_find(x, h->id, &h->idx);
		if (!in) {
			h->idx = XIN_DISCARD;
			return;
		}
	}
	if (in->st != XI_RECV)
		return;
	uint64_t have = in->content.len;
	if (off + n > in->env.size) {
		fail(x, "SEG beyond the message size");
		return;
	}
	if (off > have || off + n <= have) {
		/* A gap (we lost what came before, e.g. after a restart) or
		 * data we hold already (the sender restarted): tell the
		 * sender where we are, once until it catches up. */
		if (!in->have_sent && !(n == 0 && off == have)) {
			ctl_id_rec(x, XFER_R_HAVE, in->env.id, have, false);
			in->have_sent = true;
		}
		return;
	}
	in->have_sent = false;
	size_t skip = (size_t)(have - off);
	buf_append(&in->content, p + skip, n - skip);
	x->store.partial(x->store.arg, &in->env, have, p + skip, n - skip);
	if (in->content.len == in->env.size)
		complete(x, in);
}

static void
on_caps_held(struct xfer *x, const uint8_t *p, size_t n)
{
	if (n != 8) {
		fail(x, "bad CAPS_HELD");
		return;
	}
	if (x->peer_caps_known) {
		/* once per session: a second one would have us send the
		 * table again and again */
		fail(x, "second CAPS_HELD in a session");
		return;
	}
	x->peer_caps = get_u64be(p);
	x->peer_caps_known = true;
	if (x->peer_caps != x->local_digest)
		caps_send(x);
}

static void
on_caps(struct xfer *x, const uint8_t *p, size_t n)
{
	if (n < 8 || n - 8 > XFER_CAPS_MAX) {
		fail(x, "bad CAPS");
		return;
	}
	uint64_t d = get_u64be(p);
	if ((d == 0) != (n == 8)) {
		fail(x, "bad CAPS digest");
		return;
	}
	x->stats.caps_rcvd++;
	if (x->caps_fn == NULL)
		return;
	if (x->caps_fn(x->caps_arg, d, p + 8, n - 8) < 0) {
		x->stats.caps_rejected++;
		return;
	}
	x->held_digest = d;
}

/* The peer committed (or had) our messages of handles [first,
 * first+count) of this session. */
static void
on_ackr(struct xfer *x, const uint8_t *p, size_t n)
{
	uint64_t first, count;
	if (!x->ackr || xfer_get_varint(&p, &n, &first) < 0 ||
	    xfer_get_varint(&p, &n, &count) < 0 || n != 1 || p[0] > 1 ||
	    first == 0 || count == 0 || first > UINT64_MAX - count) {
		fail(x, x->ackr ? "bad ACKR" : "ACKR without the feature");
		return;
	}
	bool dup = p[0] == 1;
	for (size_t i = 0; i < x->nout;) {
		struct xout *o = &x->outs[i];
		if (o->handle < first || o->handle - first >= count) {
			i++;
			continue;
		}
		x->stats.msgs_acked++;
		x->stats.dup_acked += dup;
		uint8_t idc[XFER_ID_BYTES];
		memcpy(idc, o->env.id, XFER_ID_BYTES);
		out_del(x, o); /* the next one moved into slot i */
		x->store.relayed(x->store.arg, idc, dup);
	}
}

static void
on_ctl(struct xfer *x, uint8_t type, const uint8_t *p, size_t n)
{
	if (type == XFER_R_ACKR) {
		on_ackr(x, p, n);
		return;
	}
	if (type == XFER_R_CAPS_HELD) {
		on_caps_held(x, p, n);
		return;
	}
	if (type == XFER_R_CAPS) {
		on_caps(x, p, n);
		return;
	}
	if (type == XFER_R_HAVE_END) {
		if (n != 0)
			fail(x, "bad HAVE_END");
		x->peer_have_end = true;
		return;
	}
	if (n < XFER_ID_BYTES + 1) {
		fail(x, "short control record");
		return;
	}
	const uint8_t *id = p;
	p += XFER_ID_BYTES;
	n -= XFER_ID_BYTES;
	struct xout *o = out_find(x, id);
	switch (type) {
	case XFER_R_ACK:
		if (n != 1) {
			fail(x, "bad ACK");
			return;
		}
		if (!o)
			return; /* acknowledged before */
		x->stats.msgs_acked++;
		x->stats.dup_acked += p[0] == 1;
		uint8_t idc[XFER_ID_BYTES];
		memcpy(idc, id, XFER_ID_BYTES);
		out_del(x, o);
		x->store.relayed(x->store.arg, idc, p[0] == 1);
		return;
	case XFER_R_HAVE: {
		uint64_t off;
		if (xfer_get_varint(&p, &n, &off) < 0 || n != 0) {
			fail(x, "bad HAVE");
			return;
		}
		if (!o)
			return;
		if (off > o->env.size)
			off = o->env.size;
		if (off < o->next_off)
			x->stats.rewinds++;
		o->next_off = off;
		if (o->st == XO_SENT && off < o->env.size)
			o->st = XO_SENDING;
		if (o->st == XO_SENDING && off == o->env.size)
			o->st = XO_SENT;
		return;
	}
	case XFER_R_NAK:
		if (n != 1) {
			fail(x, "bad NAK");
			return;
		}
		x->stats.naks_rcvd++;
		if (!o)
			return;
		o->next_off = 0;
		if (o->st == XO_SENT)
			o->st = XO_SENDING;
		if (p[0] == 2) { /* commit failed there: offer again */
			o->st = XO_QUEUED;
			o->handle = 0;
		}
		return;
	default:
		fail(x, "unknown record");
	}
}

static void
parse_records(struct xfer *x)
{
	size_t pos = 0;
	while (!x->err && pos < x->inplain.len) {
		uint8_t type;
		const uint8_t *body;
		size_t len, used;
		int rc = xfer_rec_parse(x->inplain.data + pos,
		    x->inplain.len - pos, &type, &body, &len, &used);
		if (rc < 0) {
			fail(x, "malformed record");
			break;
		}
		if (rc == 0)
			break;
		pos += used;
		switch (type) {
		case XFER_R_MSG:
			on_msg(x, body, len);
			break;
		case XFER_R_SEG:
			on_seg(x, body, len);
			break;
		default:
			on_ctl(x, type, body, len);
		}
	}
	buf_consume(&x->inplain, pos);
}

/* Decode n bytes of the peer's zstd frame into inplain, parsing records
 * as the plaintext grows; -1 after a stream error. */
static int
zstd_inflate(struct xfer *x, const uint8_t *p, size_t n, size_t *before)
{
	ZSTD_inBuffer in = { p, n, 0 };
	for (;;) {
		buf_reserve(&x->inplain, 16384);
		ZSTD_outBuffer ob = { x->inplain.data + x->inplain.len,
			x->inplain.cap - x->inplain.len, 0 };
		size_t rc = ZSTD_decompressStream(x->zd, &ob, &in);
		x->inplain.len += ob.pos;
		x->inplain.data[x->inplain.len] = '\0';
		if (ZSTD_isError(rc)) {
			fail(x, ZSTD_getErrorCode(rc) ==
			    ZSTD_error_frameParameter_windowTooLarge ?
			    "zstd window over the limit" :
			    ZSTD_getErrorCode(rc) == ZSTD_error_dictionary_wrong ?
			    "stream needs an unknown dictionary" :
			    "corrupt compressed stream");
			return -1;
		}
		if (rc == 0) {
			/* the frame ended: a session has one frame only */
			fail(x, "zstd frame ended inside the session");
			return -1;
		}
		if (x->inplain.len > XFER_RECORD_MAX * 2) {
			x->stats.plain_in += x->inplain.len - *before;
			parse_records(x);
			*before = x->inplain.len;
			if (x->err)
				return -1;
		}
		/* Done when the input is used up and the decoder had room
		 * to spare (nothing more is held back for us). */
		if (in.pos == in.size && ob.pos < ob.size)
			break;
	}
	return 0;
}

void
xfer_deliver(struct xfer *x, const uint8_t *p, size_t n)
{
	if (!x->up || x->err)
		return;
	size_t before = x->inplain.len;
	if (!x->compress) {
		buf_append(&x->inplain, p, n);
	} else if (x->codec == XFER_CODEC_ZSTD) {
		if (zstd_inflate(x, p, n, &before) < 0)
			return;
	} else {
		x->inf.next_in = (Bytef *)(uintptr_t)p;
		x->inf.avail_in = (uInt)n;
		while (x->inf.avail_in > 0) {
			buf_reserve(&x->inplain, 16384);
			x->inf.next_out = x->inplain.data + x->inplain.len;
			x->inf.avail_out = (uInt)(x->inplain.cap -
			    x->inplain.len);
			int rc = inflate(&x->inf, Z_SYNC_FLUSH);
			size_t made = (size_t)(x->inplain.cap -
			    x->inplain.len) - x->inf.avail_out;
			x->inplain.len += made;
			x->inplain.data[x->inplain.len] = '\0';
			if (rc == Z_NEED_DICT) {
				fail(x, "stream needs an unknown dictionary");
				return;
			}
			if (rc != Z_OK && rc != Z_BUF_ERROR) {
				fail(x, "corrupt compressed stream");
				return;
			}
			if (rc == Z_BUF_ERROR && made == 0)
				break;
			if (x->inplain.len > XFER_RECORD_MAX * 2) {
				x->stats.plain_in += x->inplain.len - before;
				parse_records(x);
				before = x->inplain.len;
			}
		}
	}
	x->stats.plain_in += x->inplain.len - before;
	parse_records(x);
}

