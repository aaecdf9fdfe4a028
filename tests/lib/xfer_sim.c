/*
 * xfer_sim.c - two gateways over a modelled channel under a virtual clock
 * (see xfer_sim.h). Owner: a test or benchmark; one thread.
 *
 * One step of the loop (xsim_step), at virtual time now:
 *   1. store completions due (partial persisted, commit acknowledged);
 *   2. frames due at a receiver go to its link layer;
 *   3. expired link timers are ticked; a link in ERROR after a timeout is
 *      reopened 30 s later (the daemon's reconnect policy);
 *   4. the channel starts the next transmission if it is free;
 *   5. each side pulls frames from its link while its driver holds less
 *      than buffer_ms of airtime.
 * Then time jumps to the earliest pending event.
 */
#include "tests/lib/xfer_sim.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct part {
	struct xfer_env env;
	struct buf content;
};

enum comp_kind { COMP_PARTIAL, COMP_COMMIT };

struct comp {
	int64_t at;
	enum comp_kind kind;
	uint64_t gen;
	uint8_t id[XFER_ID_BYTES];
	uint64_t off;
	struct xfer_env env;
	struct buf data;
};

struct side {
	struct xsim *s;
	int idx;
	uint64_t gen;
	struct link *link;
	struct xfer *xfer;
	xfer_pick_fn pick;
	void *pick_arg;
	xsim_read_fn read_hook;
	void *read_arg;
	int64_t reopen_at;
	/* driver queue */
	struct buf *q;
	size_t qn, qcap;
	int64_t q_air_ms;
	/* store (durable) */
	struct xsim_msg **sent;
	size_t nsent;
	struct xsim_msg **recv;
	size_t nrecv;
	struct part **parts;
	size_t nparts;
	/* volatile */
	struct comp **comps;
	size_t ncomps;
};

struct flight {
	int64_t at;
	int to;
	uint64_t order;
	struct buf frame;
};

struct timed {
	int64_t at;
	void (*fn)(struct xsim *s, void *arg);
	void *arg;
};

struct xsim {
	struct xsim_config cfg;
	struct clk_virtual clock;
	uint64_t rng;
	struct side side[2];
	/* channel */
	int64_t busy_until[2]; /* per direction (full duplex) */
	int64_t hd_busy_until;
	int last_dir;
	int64_t first_air;
	struct flight **fl;
	size_t nfl;
	uint64_t order;
	struct xsim_chan_stats cs;
	struct timed *timed;
	size_t ntimed;
	void (*tap)(void *arg, int side, const uint8_t *p, size_t n);
	void *tap_arg;
	const struct xsim_chan_ops *ops;
	void *ch;
	int64_t ch_next;
	bool ops_any;
	int64_t next_fade_from, next_fade_to;
	uint64_t bits_to_error; /* bit errors: bits left before the next */
	struct buf frame;
};

static uint64_t
rng_u64(struct xsim *s)
{
	uint64_t x = s->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static double
rng_unit(struct xsim *s)
{
	return (double)(rng_u64(s) >> 11) / 9007199254740992.0;
}

static void
sim_random(void *arg, uint8_t *p, size_t n)
{
	struct xsim *s = arg;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_u64(s);
}

int64_t
xsim_now(const struct xsim *s)
{
	return s->clock.now_ms;
}

static int64_t
airtime(const struct xsim *s, size_t bytes)
{
	uint32_t r = s->cfg.caps.rate_bps;
	return (int64_t)((bytes * 8000 + r - 1) / r);
}

/*
 * Store callbacks.
 */

static struct xsim_msg *
find_msg(struct xsim_msg **v, size_t n, const uint8_t *id)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(v[i]->env.id, id, XFER_ID_BYTES) == 0)
			return v[i];
	return NULL;
}

static long
st_sample(void *arg, const uint8_t id[XFER_ID_BYTES], uint64_t off,
    uint8_t *p, size_t len)
{
	struct side *sd = arg;
	struct xsim_msg *m = find_msg(sd->sent, sd->nsent, id);
	if (!m || off > m->content.len)
		return GW_ENOENT;
	size_t n = m->content.len - (size_t)off;
	if (n > len)
		n = len;
	memcpy(p, m->content.data + off, n);
	return (long)n;
}

static long
st_read(void *arg, const uint8_t id[XFER_ID_BYTES], uint64_t off, uint8_t *p,
    size_t len)
{
	struct side *sd = arg;
	long n = st_sample(arg, id, off, p, len);
	if (n >= 0 && sd->read_hook)
		sd->read_hook(sd->read_arg, sd->idx, id, off, (size_t)n,
		    find_msg(sd->sent, sd->nsent, id)->content.len);
	return n;
}

static void
st_relayed(void *arg, const uint8_t id[XFER_ID_BYTES], bool dup)
{
	struct side *sd = arg;
	struct xsim_msg *m = find_msg(sd->sent, sd->nsent, id);
	(void)dup;
	if (m)
		m->relayed++;
}

static bool
st_committed(void *arg, const uint8_t id[XFER_ID_BYTES])
{
	struct side *sd = arg;
	return find_msg(sd->recv, sd->nrecv, id) != NULL;
}

static struct comp *
comp_new(struct side *sd, enum comp_kind kind, const uint8_t *id)
{
	struct comp *c = xcalloc(1, sizeof(*c));
	c->at = xsim_now(sd->s) + sd->s->cfg.commit_delay_ms;
	c->kind = kind;
	c->gen = sd->gen;
	memcpy(c->id, id, XFER_ID_BYTES);
	xfer_env_init(&c->env);
	sd->comps = xrealloc(sd->comps, (sd->ncomps + 1) * sizeof(*sd->comps));
	sd->comps[sd->ncomps++] = c;
	return c;
}

static void
st_partial(void *arg, const struct xfer_env *env, uint64_t off,
    const uint8_t *p, size_t len)
{
	struct side *sd = arg;
	struct comp *c = comp_new(sd, COMP_PARTIAL, env->id);
	xfer_env_copy(&c->env, env);
	c->off = off;
	buf_append(&c->data, p, len);
}

static struct part *
find_part(struct side *sd, const uint8_t *id, size_t *idx)
{
	for (size_t i = 0; i < sd->nparts; i++) {
		if (memcmp(sd->parts[i]->env.id, id, XFER_ID_BYTES) == 0) {
			if (idx)
				*idx = i;
			return sd->parts[i];
		}
	}
	return NULL;
}

static void
drop_part(struct side *sd, const uint8_t *id)
{
	size_t i;
	struct part *p = find_part(sd, id, &i);
	if (!p)
		return;
	xfer_env_fini(&p->env);
	buf_fini(&p->content);
	free(p);
	memmove(&sd->parts[i], &sd->parts[i + 1],
	    (sd->nparts - i - 1) * sizeof(*sd->parts));
	sd->nparts--;
}

static void
st_commit(void *arg, const struct xfer_env *env, const uint8_t *content,
    size_t len)
{
	struct side *sd = arg;
	/* Durable at once (one transaction); the completion comes later. */
	struct xsim_msg *m = find_msg(sd->recv, sd->nrecv, env->id);
	if (m) {
		m->committed++; /* the invariant check will catch this */
	} else {
		m = xcalloc(1, sizeof(*m));
		xfer_env_copy(&m->env, env);
		buf_append(&m->content, content, len);
		m->committed = 1;
		m->commit_ms = xsim_now(sd->s);
		sd->recv = xrealloc(sd->recv, (sd->nrecv + 1) *
		    sizeof(*sd->recv));
		sd->recv[sd->nrecv++] = m;
	}
	drop_part(sd, env->id);
	comp_new(sd, COMP_COMMIT, env->id);
}

static void
apply_partial(struct side *sd, struct comp *c)
{
	struct part *p = find_part(sd, c->id, NULL);
	if (find_msg(sd->recv, sd->nrecv, c->id))
		return; /* committed meanwhile */
	if (!p) {
		if (c->off != 0)
			return; /* the start was never durable */
		p = xcalloc(1, sizeof(*p));
		xfer_env_copy(&p->env, &c->env);
		sd->parts = xrealloc(sd->parts, (sd->nparts + 1) *
		    sizeof(*sd->parts));
		sd->parts[sd->nparts++] = p;
	}
	if (c->off > p->content.len)
		return; /* an earlier piece was lost */
	buf_truncate(&p->content, (size_t)c->off);
	buf_append(&p->content, c->data.data, c->data.len);
	if (sd->gen == c->gen && sd->xfer)
		xfer_partial_done(sd->xfer, c->id, p->content.len);
}

static void
comp_free(struct comp *c)
{
	xfer_env_fini(&c->env);
	buf_fini(&c->data);
	free(c);
}

/* Run due completions; true if any ran. */
static bool
run_comps(struct side *sd, int64_t now)
{
	bool any = false;
	for (size_t i = 0; i < sd->ncomps;) {
		struct comp *c = sd->comps[i];
		if (c->at > now) {
			i++;
			continue;
		}
		memmove(&sd->comps[i], &sd->comps[i + 1],
		    (sd->ncomps - i - 1) * sizeof(*sd->comps));
		sd->ncomps--;
		any = true;
		if (c->gen == sd->gen) {
			if (c->kind == COMP_PARTIAL)
				apply_partial(sd, c);
			else if (sd->xfer)
				xfer_commit_done(sd->xfer, c->id, 0);
		}
		comp_free(c);
	}
	return any;
}

/*
 * Link glue.
 */

static size_t
up_pull(void *arg, uint8_t *p, size_t room)
{
	struct side *sd = arg;
	return xfer_pull(sd->xfer, p, room);
}

static bool
up_pending(void *arg)
{
	struct side *sd = arg;
	return xfer_pending(sd->xfer);
}

static void
up_deliver(void *arg, const uint8_t *p, size_t n)
{
	struct side *sd = arg;
	xfer_deliver(sd->xfer, p, n);
}

static void
up_state(void *arg, enum link_state st, int err, const char *reason)
{
	struct side *sd = arg;
	(void)reason;
	if (st == LINK_S_UP) {
		uint32_t f = link_features(sd->link);
		xfer_link_up(sd->xfer, xfer_opts_of(f),
		    (f & LINK_FEAT_DICT) ? link_dict_id(sd->link) : 0);
	} else {
		xfer_link_down(sd->xfer);
		if (st == LINK_S_ERROR && err == GW_ETIMEDOUT)
			sd->reopen_at = xsim_now(sd->s) + 30000;
	}
}

static void
side_build(struct side *sd)
{
	struct xsim *s = sd->s;
	struct xfer_store store = { st_read, st_relayed, st_committed,
		st_partial, st_commit, sd };
	struct xfer_config xc = {
		.clock = &s->clock.base,
		.rate_bps = s->cfg.caps.rate_bps,
		.seg_bytes = s->cfg.seg_bytes,
		.name = sd->idx ? "B" : "A",
		.pick = sd->pick,
		.pick_arg = sd->pick_arg,
	};
	sd->xfer = xfer_new(&xc, &store);
	xfer_set_sample(sd->xfer, st_sample);
	for (size_t i = 0; i < sd->nsent; i++)
		if (!sd->sent[i]->relayed)
			xfer_out_add(sd->xfer, &sd->sent[i]->env);
	for (size_t i = 0; i < sd->nparts; i++)
		xfer_in_restore(sd->xfer, &sd->parts[i]->env,
		    sd->parts[i]->content.data, sd->parts[i]->content.len);

	struct link_config lc = {
		.caps = s->cfg.caps,
		.identity = sd->idx ? "gw-b" : "gw-a",
		.key = sd->idx && s->cfg.key_b ? s->cfg.key_b : s->cfg.key,
		.initiator = sd->idx == XSIM_A,
		.dict_id = s->cfg.dict_id,
		.features = (s->cfg.no_compress ? 0u : LINK_FEAT_DEFLATE) |
		    (s->cfg.dict_id ? LINK_FEAT_DICT : 0u) |
		    (s->cfg.zstd && !s->cfg.no_compress &&
		    !(sd->idx == XSIM_B && s->cfg.b_no_zstd) ?
		    LINK_FEAT_ZSTD | LINK_FEAT_ACKR |
		    (sd->idx == XSIM_B && s->cfg.b_no_sha128 ? 0u :
		    LINK_FEAT_SHA128) : 0u),
		.random = sim_random,
		.random_arg = s,
		.frame_overhead_bytes = s->cfg.frame_overhead,
	};
	if (sd->idx == XSIM_B && s->cfg.b_version_min) {
		lc.version_min = s->cfg.b_version_min;
		lc.version_max = s->cfg.b_version_max;
	}
	struct link_upper up = { up_pull, up_pending, up_deliver, up_state,
		sd };
	sd->link = link_new(&lc, &up);
	sd->reopen_at = INT64_MAX;
}

static void
side_drop_volatile(struct side *sd)
{
	link_free(sd->link);
	sd->link = NULL;
	xfer_free(sd->xfer);
	sd->xfer = NULL;
	for (size_t i = 0; i < sd->qn; i++)
		buf_fini(&sd->q[i]);
	sd->qn = 0;
	sd->q_air_ms = 0;
	if (sd->s->ops)
		sd->s->ops->flush(sd->s->ch, sd->idx);
	for (size_t i = 0; i < sd->ncomps; i++)
		comp_free(sd->comps[i]);
	sd->ncomps = 0;
	sd->gen++;
}

struct xsim *
xsim_new(const struct xsim_config *cfg)
{
	struct xsim *s = xcalloc(1, sizeof(*s));
	s->cfg = *cfg;
	if (!s->cfg.buffer_ms)
		s->cfg.buffer_ms = 1000;
	if (!s->cfg.caps.rate_bps)
		s->cfg.caps.rate_bps = 2400;
	if (!s->cfg.caps.mtu_bytes)
		s->cfg.caps.mtu_bytes = 1024;
	if (!s->cfg.reorder_ms)
		s->cfg.reorder_ms = 3000;
	/* SKYWAVE_AIR_CODEC=zstd|deflate runs a test suite with either codec
	 * (ctest registers the air simulations under both). */
	const char *codec = getenv("SKYWAVE_AIR_CODEC");
	if (codec && strcmp(codec, "zstd") == 0)
		s->cfg.zstd = true;
	else if (codec && strcmp(codec, "deflate") == 0)
		s->cfg.zstd = false;
	s->rng = cfg->seed * 0x9E3779B97F4A7C15ULL + 1;
	s->ops = cfg->chan_ops;
	s->ch = cfg->chan;
	s->ch_next = INT64_MAX;
	clk_virtual_init(&s->clock, 0, 1800000000);
	s->last_dir = -1;
	s->first_air = -1;
	s->next_fade_from = s->next_fade_to = -1;
	if (cfg->ber > 0)
		s->bits_to_error = 1 + (uint64_t)(rng_unit(s) * 2.0 / cfg->ber);
	if (cfg->quiet)
		gw_log_set_level(GW_LOG_WARN);
	for (int i = 0; i < 2; i++) {
		s->side[i].s = s;
		s->side[i].idx = i;
		side_build(&s->side[i]);
	}
	return s;
}

static void
msgs_free(struct xsim_msg **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		xfer_env_fini(&v[i]->env);
		buf_fini(&v[i]->content);
		free(v[i]);
	}
	free(v);
}

void
xsim_free(struct xsim *s)
{
	if (!s)
		return;
	for (int i = 0; i < 2; i++) {
		struct side *sd = &s->side[i];
		side_drop_volatile(sd);
		free(sd->q);
		free(sd->comps);
		msgs_free(sd->sent, sd->nsent);
		msgs_free(sd->recv, sd->nrecv);
		for (size_t k = 0; k < sd->nparts; k++) {
			xfer_env_fini(&sd->parts[k]->env);
			buf_fini(&sd->parts[k]->content);
			free(sd->parts[k]);
		}
		free(sd->parts);
	}
	for (size_t i = 0; i < s->nfl; i++) {
		buf_fini(&s->fl[i]->frame);
		free(s->fl[i]);
	}
	free(s->fl);
	free(s->timed);
	buf_fini(&s->frame);
	if (s->ops)
		s->ops->free(s->ch);
	free(s);
}

void
xsim_start(struct xsim *s)
{
	link_open(s->side[XSIM_B].link, xsim_now(s));
	link_open(s->side[XSIM_A].link, xsim_now(s));
}

size_t
xsim_submit(struct xsim *s, int side, const struct xfer_env *env,
    const uint8_t *content, size_t len)
{
	struct side *sd = &s->side[side];
	struct xsim_msg *m = xcalloc(1, sizeof(*m));
	xfer_env_copy(&m->env, env);
	m->env.size = len;
	xfer_sha256(m->env.sha256, content, len);
	buf_append(&m->content, content, len);
	m->submit_ms = xsim_now(s);
	m->at_sender = true;
	sd->sent = xrealloc(sd->sent, (sd->nsent + 1) * sizeof(*sd->sent));
	sd->sent[sd->nsent++] = m;
	GW_REQUIRE(xfer_out_add(sd->xfer, &m->env) == 0);
	return sd->nsent - 1;
}

void
xsim_restart(struct xsim *s, int side)
{
	struct side *sd = &s->side[side];
	side_drop_volatile(sd);
	side_build(sd);
	link_open(sd->link, xsim_now(s));
}

void
xsim_inject(struct xsim *s, int side, const uint8_t *p, size_t n)
{
	link_input(s->side[side].link, xsim_now(s), p, n);
}

void
xsim_set_tap(struct xsim *s, void (*tap)(void *arg, int side,
    const uint8_t *p, size_t n), void *arg)
{
	s->tap = tap;
	s->tap_arg = arg;
}

void
xsim_at(struct xsim *s, int64_t t_ms, void (*fn)(struct xsim *s, void *arg),
    void *arg)
{
	s->timed = xrealloc(s->timed, (s->ntimed + 1) * sizeof(*s->timed));
	s->timed[s->ntimed].at = t_ms;
	s->timed[s->ntimed].fn = fn;
	s->timed[s->ntimed].arg = arg;
	s->ntimed++;
}

void
xsim_set_read_hook(struct xsim *s, int side, xsim_read_fn fn, void *arg)
{
	s->side[side].read_hook = fn;
	s->side[side].read_arg = arg;
}

void
xsim_set_pick(struct xsim *s, int side, xfer_pick_fn pick, void *arg)
{
	s->side[side].pick = pick;
	s->side[side].pick_arg = arg;
	xfer_set_pick(s->side[side].xfer, pick, arg);
}

struct link *
xsim_link(struct xsim *s, int side)
{
	return s->side[side].link;
}

struct xfer *
xsim_xfer(struct xsim *s, int side)
{
	return s->side[side].xfer;
}

const struct xsim_chan_stats *
xsim_chan(struct xsim *s)
{
	if (s->ops)
		s->ops->stats(s->ch, &s->cs);
	return &s->cs;
}

int64_t
xsim_first_air_ms(const struct xsim *s)
{
	return s->first_air;
}

size_t
xsim_sent_count(const struct xsim *s, int side)
{
	return s->side[side].nsent;
}

const struct xsim_msg *
xsim_sent(const struct xsim *s, int side, size_t i)
{
	return s->side[side].sent[i];
}

const struct xsim_msg *
xsim_delivered(const struct xsim *s, int side, size_t i)
{
	const struct side *far = &s->side[!side];
	return find_msg(far->recv, far->nrecv, s->side[side].sent[i]->env.id);
}

bool
xsim_all_done(struct xsim *s, int side)
{
	for (size_t i = 0; i < s->side[side].nsent; i++)
		if (!s->side[side].sent[i]->relayed)
			return false;
	return true;
}

int
xsim_check(const struct xsim *s, char *why, size_t cap)
{
	for (int side = 0; side < 2; side++) {
		const struct side *sd = &s->side[side];
		const struct side *far = &s->side[!side];
		for (size_t i = 0; i < sd->nsent; i++) {
			const struct xsim_msg *m = sd->sent[i];
			const struct xsim_msg *r = find_msg(far->recv,
			    far->nrecv, m->env.id);
			if (m->relayed > 1) {
				snprintf(why, cap, "side %d msg %zu relayed "
				    "%d times", side, i, m->relayed);
				return -1;
			}
			if (m->relayed && !r) {
				snprintf(why, cap, "side %d msg %zu relayed "
				    "but never committed", side, i);
				return -1;
			}
			if (!r)
				continue;
			if (r->committed != 1) {
				snprintf(why, cap, "side %d msg %zu committed "
				    "%d times", side, i, r->committed);
				return -1;
			}
			if (r->content.len != m->content.len ||
			    memcmp(r->content.data, m->content.data,
			    m->content.len) != 0 ||
			    r->env.nrcpt != m->env.nrcpt ||
			    strcmp(r->env.from, m->env.from) != 0 ||
			    memcmp(r->env.sha256, m->env.sha256,
			    XFER_SHA_BYTES) != 0) {
				snprintf(why, cap, "side %d msg %zu differs "
				    "at the far side", side, i);
				return -1;
			}
		}
		if (far->nrecv > sd->nsent) {
			snprintf(why, cap, "side %d: far side committed %zu "
			    "of %zu sent", side, far->nrecv, sd->nsent);
			return -1;
		}
	}
	return 0;
}

/*
 * Channel.
 */

static bool
in_fade(struct xsim *s, int64_t from, int64_t to)
{
	for (size_t i = 0; i < s->cfg.nfades; i++)
		if (from < s->cfg.fades[i].to_ms &&
		    to > s->cfg.fades[i].from_ms)
			return true;
	if (s->cfg.fade_every_ms) {
		while (s->next_fade_to < from) {
			/* Uniform on [0, 2 * mean): the mean is what the
			 * tests control; no libm needed. */
			int64_t gap = (int64_t)(rng_unit(s) * 2.0 *
			    s->cfg.fade_every_ms);
			s->next_fade_from = (s->next_fade_to < 0 ? 0 :
			    s->next_fade_to) + gap;
			s->next_fade_to = s->next_fade_from +
			    s->cfg.fade_len_ms;
		}
		if (from < s->next_fade_to && to > s->next_fade_from)
			return true;
	}
	return false;
}

static void
q_push(struct side *sd, const struct buf *f)
{
	if (sd->qn == sd->qcap) {
		sd->qcap = sd->qcap ? sd->qcap * 2 : 16;
		sd->q = xrealloc(sd->q, sd->qcap * sizeof(*sd->q));
	}
	buf_init(&sd->q[sd->qn]);
	buf_append(&sd->q[sd->qn], f->data, f->len);
	sd->qn++;
	sd->q_air_ms += airtime(sd->s, f->len);
}

static void
transmit(struct xsim *s, int from, int64_t now)
{
	struct side *sd = &s->side[from];
	struct buf f = sd->q[0];
	memmove(&sd->q[0], &sd->q[1], (sd->qn - 1) * sizeof(*sd->q));
	sd->qn--;
	int64_t air = airtime(s, f.len);
	sd->q_air_ms -= air;

	bool hd = !s->cfg.caps.full_duplex;
	int64_t start = now;
	if (hd && s->last_dir >= 0 && s->last_dir != from) {
		start += s->cfg.caps.turnaround_ms;
		s->cs.turns++;
	}
	int64_t end = start + air;
	if (hd)
		s->hd_busy_until = end;
	else
		s->busy_until[from] = end;
	s->last_dir = from;
	if (s->first_air < 0)
		s->first_air = start;
	s->cs.busy_ms += end - now;
	s->cs.air_bytes += f.len;
	s->cs.frames++;
	if (s->tap)
		s->tap(s->tap_arg, from, f.data, f.len);

	if (in_fade(s, start, end) || rng_unit(s) < s->cfg.drop) {
		s->cs.lost++;
		buf_fini(&f);
		return;
	}
	if (s->cfg.ber > 0) {
		/* Bits between errors: uniform on [1, 2 / ber], mean 1/ber. */
		uint64_t bits = (uint64_t)f.len * 8;
		bool hit = false;
		while (s->bits_to_error < bits) {
			size_t bit = (size_t)s->bits_to_error;
			f.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			hit = true;
			s->bits_to_error += 1 + (uint64_t)(rng_unit(s) * 2.0 /
			    s->cfg.ber);
		}
		s->bits_to_error -= bits;
		s->cs.corrupted += hit;
	}
	struct flight *fl = xcalloc(1, sizeof(*fl));
	fl->at = end + s->cfg.caps.latency_ms;
	if (s->cfg.reorder > 0 && rng_unit(s) < s->cfg.reorder) {
		fl->at += s->cfg.reorder_ms;
		s->cs.reordered++;
	}
	fl->to = !from;
	fl->order = s->order++;
	fl->frame = f;
	s->fl = xrealloc(s->fl, (s->nfl + 1) * sizeof(*s->fl));
	s->fl[s->nfl++] = fl;
}

static bool
channel_step(struct xsim *s, int64_t now)
{
	bool hd = !s->cfg.caps.full_duplex;
	bool any = false;
	if (hd) {
		if (now < s->hd_busy_until)
			return false;
		int first = s->last_dir >= 0 ? s->last_dir : XSIM_A;
		for (int k = 0; k < 2; k++) {
			int d = k == 0 ? first : !first;
			if (s->side[d].qn) {
				transmit(s, d, now);
				return true;
			}
		}
		return false;
	}
	for (int d = 0; d < 2; d++) {
		if (now >= s->busy_until[d] && s->side[d].qn) {
			transmit(s, d, now);
			any = true;
		}
	}
	return any;
}

static int64_t
buffered_ms(struct xsim *s, int side, int64_t now)
{
	if (s->ops)
		return s->ops->buffered_ms(s->ch, side, now);
	int64_t b = s->side[side].q_air_ms;
	int64_t until = s->cfg.caps.full_duplex ? s->busy_until[side] :
	    (s->last_dir == side ? s->hd_busy_until : 0);
	if (until > now)
		b += until - now;
	return b;
}

static void
check_xfer_error(struct side *sd, int64_t now)
{
	if (sd->xfer && xfer_error(sd->xfer) && sd->link &&
	    link_state(sd->link) == LINK_S_UP) {
		link_reset(sd->link, now, "transfer stream error");
		link_open(sd->link, now);
	}
}

static void
ops_rx(void *arg, int side, const uint8_t *p, size_t n)
{
	struct xsim *s = arg;
	link_input(s->side[side].link, xsim_now(s), p, n);
	check_xfer_error(&s->side[side], xsim_now(s));
	s->ops_any = true;
}

static void
hand_down(struct xsim *s, int side, int64_t now)
{
	if (!s->ops) {
		q_push(&s->side[side], &s->frame);
		return;
	}
	if (s->first_air < 0)
		s->first_air = now;
	if (s->tap)
		s->tap(s->tap_arg, side, s->frame.data, s->frame.len);
	s->ops->send(s->ch, side, now, s->frame.data, s->frame.len);
}

static bool
xsim_step(struct xsim *s)
{
	int64_t now = xsim_now(s);
	bool any = false;

	for (size_t i = 0; i < s->ntimed;) {
		if (s->timed[i].at <= now) {
			struct timed t = s->timed[i];
			memmove(&s->timed[i], &s->timed[i + 1],
			    (s->ntimed - i - 1) * sizeof(*s->timed));
			s->ntimed--;
			t.fn(s, t.arg);
			any = true;
		} else {
			i++;
		}
	}
	for (int i = 0; i < 2; i++)
		any |= run_comps(&s->side[i], now);
	if (s->ops) {
		s->ops_any = false;
		s->ch_next = s->ops->advance(s->ch, now, ops_rx, s);
		any |= s->ops_any;
	}
	/* Deliveries in arrival order (built-in channel). */
	for (;;) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < s->nfl; i++)
			if (s->fl[i]->at <= now && (best == SIZE_MAX ||
			    s->fl[i]->at < s->fl[best]->at ||
			    (s->fl[i]->at == s->fl[best]->at &&
			    s->fl[i]->order < s->fl[best]->order)))
				best = i;
		if (best == SIZE_MAX)
			break;
		struct flight *fl = s->fl[best];
		memmove(&s->fl[best], &s->fl[best + 1],
		    (s->nfl - best - 1) * sizeof(*s->fl));
		s->nfl--;
		link_input(s->side[fl->to].link, now, fl->frame.data,
		    fl->frame.len);
		check_xfer_error(&s->side[fl->to], now);
		buf_fini(&fl->frame);
		free(fl);
		any = true;
	}
	for (int i = 0; i < 2; i++) {
		struct side *sd = &s->side[i];
		int64_t dl = link_next_deadline_ms(sd->link);
		if (dl <= now) {
			link_tick(sd->link, now);
			/* Progress only if the timer moved (a "send now" wish
			 * waits for the driver to drain). */
			any |= link_next_deadline_ms(sd->link) != dl;
		}
		if (sd->reopen_at <= now) {
			sd->reopen_at = INT64_MAX;
			if (link_state(sd->link) == LINK_S_ERROR) {
				link_reset(sd->link, now, "reconnect");
				link_open(sd->link, now);
			}
			any = true;
		}
	}
	for (int i = 0; i < 2; i++) {
		struct side *sd = &s->side[i];
		while (buffered_ms(s, i, now) < (int64_t)s->cfg.buffer_ms &&
		    link_poll(sd->link, now, &s->frame) == 1) {
			hand_down(s, i, now);
			any = true;
		}
	}
	if (!s->ops) {
		any |= channel_step(s, now);
	} else {
		s->ops_any = false;
		s->ch_next = s->ops->advance(s->ch, now, ops_rx, s);
		any |= s->ops_any;
	}
	return any;
}

/* Every step ends with the state checkers of both sides' machines. */
static void
check_states(struct xsim *s)
{
	for (int i = 0; i < 2; i++) {
		GW_REQUIRE(link_check_state(s->side[i].link) == 0);
		GW_REQUIRE(xfer_check_state(s->side[i].xfer) == 0);
	}
}

static int64_t
next_event(struct xsim *s)
{
	int64_t t = s->ops ? s->ch_next : INT64_MAX;
	for (size_t i = 0; i < s->ntimed; i++)
		if (s->timed[i].at < t)
			t = s->timed[i].at;
	for (size_t i = 0; i < s->nfl; i++)
		if (s->fl[i]->at < t)
			t = s->fl[i]->at;
	for (int i = 0; i < 2; i++) {
		struct side *sd = &s->side[i];
		int64_t d = link_next_deadline_ms(sd->link);
		if (d < t)
			t = d;
		if (sd->reopen_at < t)
			t = sd->reopen_at;
		for (size_t k = 0; k < sd->ncomps; k++)
			if (sd->comps[k]->at < t)
				t = sd->comps[k]->at;
		if (sd->qn) {
			int64_t b = s->cfg.caps.full_duplex ?
			    s->busy_until[i] : s->hd_busy_until;
			if (b < t)
				t = b;
		}
		/* The driver wants more when its buffer drains below the
		 * budget. */
		int64_t until = s->cfg.caps.full_duplex ? s->busy_until[i] :
		    (s->last_dir == i ? s->hd_busy_until : 0);
		int64_t drain = until - (int64_t)s->cfg.buffer_ms +
		    s->side[i].q_air_ms;
		if (until > xsim_now(s) && drain < t)
			t = drain;
	}
	return t;
}

bool
xsim_run(struct xsim *s, int64_t t_ms, bool (*done)(struct xsim *s,
    void *arg), void *arg)
{
	for (;;) {
		int guard = 0;
		while (xsim_step(s)) {
			check_states(s);
			if (done && done(s, arg))
				return true;
			GW_REQUIRE(++guard < 1000000);
		}
		if (done && done(s, arg))
			return true;
		int64_t t = next_event(s);
		if (t <= xsim_now(s))
			t = xsim_now(s) + 1;
		if (t > t_ms) {
			clk_virtual_set(&s->clock, t_ms);
			return false;
		}
		clk_virtual_set(&s->clock, t);
	}
}
