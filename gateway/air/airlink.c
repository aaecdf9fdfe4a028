/*
 * airlink.c - one radio link in the daemon (see airlink.h).
 *
 * Owner: the daemon, on the loop thread. The objects below it are sans-I/O
 * state machines (link session, transfer protocol) driven from here with
 * the driver's events and one uv_timer for their deadlines.
 *
 * Outgoing message life (struct out_msg):
 *
 *   LOADING --queue_load--> READING --content read--> PACKING
 *   READING --CONPERM/DRUCOF and the caps table knows the recipients-->
 *   CONVERTING --converted, usable or nothing to do--> PACKING
 *   PACKING --packed form checked (or not worth it)--> MARKING
 *   CONVERTING --no usable form may be made--> FAILING --recipients
 *   FAILED with their DSN queued--> (freed)
 *   MARKING --recipients in flight--> SENDING --far side committed-->
 *   RELAYING --recipients relayed--> (freed)
 *   SENDING --planner redirected/failed a recipient--> (withdrawn from
 *   the transfer, active recipients back to queued, freed)
 *   any step failing --> (freed; the recipients stay or return to queued
 *   at the next start, so nothing is lost)
 *
 * Conversion (CONVERTING): conv_run() for the message's recipients on the
 * thread pool (convert.h); the content buffer belongs to the job until its
 * callback. It runs only when every recipient of the out_msg has the same
 * capability entry and the same DRUCOF flag (else the message goes as
 * stored). The converted bytes replace the content, and the transfer
 * envelope's size and SHA-256 are computed from them, so what the far
 * side verifies is what went on the air.
 *
 * Packing (PACKING): mime_pack on the thread pool (the content buffer
 * belongs to the job until its callback); the packed form is used when it
 * is shorter and mime_unpack gives back the content octet for octet. Then
 * the transfer reads the packed buffer (offsets count packed octets) and
 * the envelope says PACKED, with size = packed length, orig_size and the
 * SHA-256 of the content. Content (the original) stays for DSNs and the
 * planner.
 *
 * Planner job of an out_msg: added when it enters SENDING (before the
 * transfer can pick it), resolved by the relayed report, forgotten when
 * it is withdrawn. The job is looked up by (id, route) every time, never
 * kept: a decision may free it.
 *
 * Content negotiation flags cross the air in the envelope: CONPERM, and
 * per recipient CONNEG, DRUCOF and LOSSY. After a conversion here the
 * converted-for recipients lose DRUCOF (usable content was made) and gain
 * LOSSY when information was lost.
 *
 * Capability tables (struct airlink's peer_caps): ours is published by the
 * transfer protocol (xfer_set_local_caps, at start and on reload); the far
 * gateway's arrives in on_peer_caps, is parsed (a bad one is logged and
 * ignored), replaces the old one and is saved to data_dir by a thread-pool
 * job: write a temporary file, fsync, rename, fsync the directory. Saves
 * run one at a time; a newer table waiting behind a save replaces any
 * older one waiting (only the newest is written).
 *
 * Incoming message (struct in_msg): storage operations for one message run
 * strictly in order (BEGIN, APPEND..., COMMIT), one at a time, because the
 * queue's partial-transfer API needs each append at the committed offset.
 * The acknowledgement to the far side (xfer_commit_done) is given only in
 * the completion of the committing transaction.
 */
#include "gateway/air/airlink.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "firmware-profiles/profile.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/air/xfer_session.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/convert.h"
#include "gateway/control/status.h"
#include "gateway/mail/dsn.h"
#include "gateway/mail/intake.h"
#include "gateway/mail/policy.h"
#include "gateway/mail/route.h"
#include "gateway/sched/planner.h"
#include "gateway/smtp/received.h"
#include "link-drivers/drv.h"
#include "link-drivers/framing.h"
#include "link-drivers/link_session.h"

#include <ctype.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_MAX 32          /* messages handed to the transfer protocol */
#define SELECT_MAX 64       /* recipients per queue selection */
#define FEED_INTERVAL_MS 1000
#define COMMITTED_RING 256  /* ids committed by this run, for dup checks */
#define SETUP_RETRY_MS 30000            /* session set-up failed: peer silent */
#define SETUP_RETRY_MISMATCH_MS 300000  /* key or version mismatch */

enum out_state { OM_LOADING, OM_READING, OM_CONVERTING, OM_FAILING,
	OM_PACKING, OM_MARKING, OM_SENDING, OM_RELAYING };

struct out_msg {
	struct out_msg *next;
	struct airlink *a;
	uint8_t id[QUEUE_ID_LEN];
	enum out_state st;
	int band;
	int64_t *rids;
	size_t nrids;
	struct buf content;        /* the message as the far side stores it */
	struct buf packed;         /* its mime_pack form, when that travels */
	int64_t total;
	struct xfer_env xenv;
	bool dup;
	uint64_t sent;             /* highest content offset read for air */
	struct queue_envelope *qenv; /* copy of the loaded envelope */
	size_t *idx;               /* recipient index of each of rids */
	char *trace;               /* redirect trace header to prepend */
};

enum in_op_kind { IN_BEGIN, IN_APPEND, IN_COMMIT };

struct in_op {
	struct in_op *next;
	enum in_op_kind kind;
	uint64_t off;
	struct buf data;
	struct xfer_env env;
	int step; /* progress inside a multi-request operation */
};

struct in_msg {
	struct in_msg *next;
	struct airlink *a;
	uint8_t id[QUEUE_ID_LEN];
	struct in_op *head, *tail;
	bool busy;
	bool dup;       /* the queue already has it committed */
	bool begun;     /* a partial transfer exists */
	int64_t anchor_s; /* when its envelope first arrived (wall clock) */
};

struct airlink {
	struct airlink_env env;
	struct airlink_cfg cfg;
	char route[48];            /* "link:NAME" */
	struct prof prof;
	bool prof_loaded;
	struct drv_config dcfg;
	struct drv_env denv;
	struct drv *drv;
	struct link *link;
	struct xfer *xfer;
	uint8_t key[LINK_KEY_BYTES];
	bool has_key;
	uv_timer_t timer;          /* link session deadlines */
	uv_timer_t feed_timer;     /* queue polling */
	struct buf frame;          /* a frame the driver refused for now */
	bool frame_pending;
	struct out_msg *outs;
	size_t nouts;
	bool selecting;
	struct in_msg *ins;
	uint8_t committed[COMMITTED_RING][QUEUE_ID_LEN];
	size_t ncommitted;
	bool drv_closing;          /* drv_close called, close_cb not yet */
	int pending;               /* queue requests in flight */
	int handles;               /* open uv handles + driver */
	bool closing;
	void (*done)(void *);
	void *done_arg;
	enum link_state lstate;
	int64_t retry_at_ms;       /* set-up is tried again after an ERROR */
	struct status_sampler spark;  /* wire bytes both ways, per slot */
	uint64_t spark_seen;          /* wire bytes already counted */
	bool enabled;
	int64_t last_good_ms;
	uint64_t relayed, received;
	int proute;                   /* planner route, -1: no planner */
	/* The far gateway's capability table and its persistence. */
	struct conneg_table *peer_caps; /* NULL: none received */
	uint64_t peer_digest;         /* 0: none */
	char caps_path[AIRLINK_PATH_MAX + 64]; /* "" : not persisted */
	bool caps_saving;             /* a save job is running */
	bool caps_save_next;          /* save again when it is done */
	bool cfg_pack;                /* send base64/QP bodies decoded */
};

static void pump(struct airlink *a);
static void feed(struct airlink *a);
static void out_pack_or_mark(struct out_msg *o);
static void maybe_finish_close(struct airlink *a);

static int64_t
now_ms(const struct airlink *a)
{
	return clk_mono_ms(a->env.clock);
}

static void
id_hex(const uint8_t id[QUEUE_ID_LEN], char out[33])
{
	queue_id_hex(id, out);
}

/* ---- outgoing --------------------------------------------------------- */

static struct out_msg *
out_find(struct airlink *a, const uint8_t *id)
{
	for (struct out_msg *o = a->outs; o; o = o->next)
		if (memcmp(o->id, id, QUEUE_ID_LEN) == 0)
			return o;
	return NULL;
}

static void
out_free(struct airlink *a, struct out_msg *o)
{
	for (struct out_msg **pp = &a->outs; *pp; pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			a->nouts--;
			break;
		}
	}
	buf_fini(&o->content);
	buf_fini(&o->packed);
	xfer_env_fini(&o->xenv);
	if (o->qenv)
		queue_envelope_free(o->qenv);
	free(o->idx);
	free(o->trace);
	free(o->rids);
	free(o);
}

static void
out_drop(struct out_msg *o, const char *why, int err)
{
	char hex[33];

	id_hex(o->id, hex);
	GW_LOGW("link", "link=%s msg=%s event=send_dropped reason=\"%s\" "
	    "error=%s", o->a->cfg.name, hex, why, gw_errname(err));
	out_free(o->a, o);
}

static void
on_relayed_marked(int status, void *arg)
{
	struct out_msg *o = arg;
	struct airlink *a = o->a;
	char hex[33];

	a->pending--;
	id_hex(o->id, hex);
	if (status != 0)
		GW_LOGE("link", "link=%s msg=%s event=mark_relayed_failed "
		    "error=%s", a->cfg.name, hex, gw_errname(status));
	else
		GW_LOGI("link", "link=%s msg=%s event=relayed rcpts=%zu "
		    "duplicate=%s", a->cfg.name, hex, o->nrids,
		    o->dup ? "yes" : "no");
	a->relayed++;
	out_free(a, o);
	if (a->closing)
		maybe_finish_close(a);
	else
		feed(a);
}

/* The far gateway committed the message: its recipients are relayed. */
static void
store_relayed(void *arg, const uint8_t id[XFER_ID_BYTES], bool duplicate)
{
	struct airlink *a = arg;
	struct out_msg *o = out_find(a, id);
	struct queue_change *ch;
	int rc;

	if (o == NULL || o->st != OM_SENDING)
		return;
	o->st = OM_RELAYING;
	o->dup = duplicate;
	if (a->env.planner && o->idx) {
		for (size_t i = 0; i < o->nrids; i++)
			planner_report(a->env.planner, o->id, a->proute,
			    (uint32_t)o->idx[i], SCHED_OUT_RELAYED, "2.0.0", 0);
	}
	ch = xcalloc(o->nrids, sizeof(*ch));
	for (size_t i = 0; i < o->nrids; i++) {
		ch[i].rid = o->rids[i];
		ch[i].to = QUEUE_R_RELAYED;
		ch[i].status = "2.0.0";
	}
	rc = queue_update(a->env.queue, ch, o->nrids, on_relayed_marked, o);
	free(ch);
	if (rc != 0)
		out_drop(o, "queue refused the relayed mark", rc);
	else
		a->pending++;
}

/* What goes on the air for o: the packed form when there is one. */
static const struct buf *
air_form(const struct out_msg *o)
{
	return (o->xenv.mflags & XFER_ENV_PACKED) ? &o->packed : &o->content;
}

/* What goes on the air for o, with len cut to what it holds from off;
 * NULL when off is past its end. */
static const struct buf *
air_slice(const struct out_msg *o, uint64_t off, size_t *len)
{
	const struct buf *w = air_form(o);

	if (off > w->len)
		return NULL;
	if (*len > w->len - off)
		*len = (size_t)(w->len - off);
	return w;
}

/* The transfer looks at the content (its compressibility sample): a copy,
 * nothing goes on the air, so no progress and no final segment. */
static long
store_sample(void *arg, const uint8_t id[XFER_ID_BYTES], uint64_t off,
    uint8_t *p, size_t len)
{
	struct out_msg *o = out_find(arg, id);
	const struct buf *w = o ? air_slice(o, off, &len) : NULL;

	if (w == NULL)
		return GW_ENOENT;
	memcpy(p, w->data + off, len);
	return (long)len;
}

static long
store_read(void *arg, const uint8_t id[XFER_ID_BYTES], uint64_t off,
    uint8_t *p, size_t len)
{
	struct airlink *a = arg;
	struct out_msg *o = out_find(a, id);
	const struct buf *w = o ? air_slice(o, off, &len) : NULL;

	if (w == NULL)
		return GW_ENOENT;
	if (a->env.planner && o->st == OM_SENDING) {
		struct planner *pl = a->env.planner;
		struct sched_job *job = planner_find(pl, o->id, a->proute);
		planner_progress(pl, job, (int64_t)off);
		/* The end of the message is about to go on the air: from
		 * here the far end decides (no redirect may race it), and a
		 * BY;R message it could not hold in time is withdrawn. */
		if (job && off + len >= w->len &&
		    job->state != SCHED_JOB_COMMITTING) {
			char hex[33];
			if (planner_commit_begin(pl, job, planner_eta_ms(pl,
			    a->proute, (int64_t)len)) == GW_ETIMEDOUT)
				return GW_ETIMEDOUT;
			id_hex(o->id, hex);
			GW_LOGI("link", "link=%s msg=%s event=final_segment "
			    "off=%llu", a->cfg.name, hex,
			    (unsigned long long)off);
		}
	}
	memcpy(p, w->data + off, len);
	if (off + len > o->sent)
		o->sent = off + len;
	return (long)len;
}

static void
on_inflight_marked(int status, void *arg)
{
	struct out_msg *o = arg;
	struct airlink *a = o->a;
	char hex[33];
	int rc;

	a->pending--;
	if (a->closing) {
		out_free(a, o);
		maybe_finish_close(a);
		return;
	}
	if (status != 0) {
		out_drop(o, "recipients could not go in flight", status);
		return;
	}
	if (a->env.planner)
		planner_add(a->env.planner, a->proute, o->qenv, o->rids, o->idx,
		    o->nrids, o->content.data, o->content.len);
	rc = xfer_out_add(a->xfer, &o->xenv);
	if (rc != 0) {
		if (a->env.planner)
			planner_forget(a->env.planner, o->id, a->proute);
		out_drop(o, "transfer refused the message", rc);
		return;
	}
	o->st = OM_SENDING;
	id_hex(o->id, hex);
	GW_LOGI("link", "link=%s msg=%s event=sending size=%lld air_size=%llu "
	    "packed=%s priority=%d rcpts=%zu", a->cfg.name, hex,
	    (long long)o->total, (unsigned long long)o->xenv.size,
	    (o->xenv.mflags & XFER_ENV_PACKED) ? "yes" : "no",
	    o->xenv.priority, o->nrids);
	pump(a);
}

static void
out_mark_inflight(struct out_msg *o)
{
	struct airlink *a = o->a;
	struct queue_change *ch = xcalloc(o->nrids, sizeof(*ch));
	int rc;

	o->st = OM_MARKING;
	for (size_t i = 0; i < o->nrids; i++) {
		ch[i].rid = o->rids[i];
		ch[i].to = QUEUE_R_INFLIGHT;
	}
	rc = queue_update(a->env.queue, ch, o->nrids, on_inflight_marked, o);
	free(ch);
	if (rc != 0)
		out_drop(o, "queue refused the in-flight mark", rc);
	else
		a->pending++;
}

/* ---- lossless re-encoding for the air (mime_pack) --------------------- */

/* Below this a message has no base64/QP body worth the thread-pool trip. */
#define PACK_MIN_BYTES 1024

struct pack_job {
	uv_work_t req;
	struct out_msg *o;
	struct buf msg;     /* the content: moved in, handed back */
	struct buf packed;
	bool use;           /* shorter, and unpacks to msg octet for octet */
	struct mime_pack_stats st;
};

/* Thread pool: GMime finds the bodies; the packed form is used only when
 * it is shorter and mime_unpack gives back exactly the original. */
static void
pack_work(uv_work_t *req)
{
	struct pack_job *j = req->data;
	struct buf back = BUF_INIT;

	mime_pack(j->msg.data, j->msg.len, &j->packed, &j->st);
	if (j->st.parts_packed == 0 || j->packed.len >= j->msg.len ||
	    !xfer_pack_orig_ok(j->packed.len, j->msg.len))
		return; /* (beyond what a receiver accepts: send as is) */
	j->use = mime_unpack_max(j->packed.data, j->packed.len, j->msg.len,
	    &back) == 0 &&
	    back.len == j->msg.len &&
	    memcmp(back.data, j->msg.data, back.len) == 0;
	buf_fini(&back);
}

static void
pack_done(uv_work_t *req, int status)
{
	struct pack_job *j = req->data;
	struct out_msg *o = j->o;
	struct airlink *a = o->a;
	char hex[33];

	a->pending--;
	buf_swap(&o->content, &j->msg);
	if (a->closing) {
		buf_fini(&j->msg);
		buf_fini(&j->packed);
		free(j);
		out_free(a, o);
		maybe_finish_close(a);
		return;
	}
	id_hex(o->id, hex);
	if (status == 0 && j->use) {
		buf_swap(&o->packed, &j->packed);
		o->xenv.mflags |= XFER_ENV_PACKED;
		o->xenv.orig_size = o->content.len;
		o->xenv.size = o->packed.len;
		GW_LOGI("link", "link=%s msg=%s event=packed size=%zu "
		    "packed=%zu parts=%zu", a->cfg.name, hex, o->content.len,
		    o->packed.len, j->st.parts_packed);
	} else if (j->st.parts_identical > 0 && status == 0) {
		GW_LOGD("link", "link=%s msg=%s event=pack_skipped "
		    "reason=\"no shorter form\"", a->cfg.name, hex);
	}
	buf_fini(&j->msg);
	buf_fini(&j->packed);
	free(j);
	out_mark_inflight(o);
}

/* Pack for the air when it may pay, then MARKING. The recipient still
 * gets the identical octets, so no permission is needed. */
static void
out_pack_or_mark(struct out_msg *o)
{
	struct airlink *a = o->a;
	struct pack_job *j;
	int rc;

	o->xenv.mflags &= (uint8_t)~XFER_ENV_PACKED;
	o->xenv.orig_size = 0;
	buf_reset(&o->packed);
	if (!a->cfg_pack || o->content.len < PACK_MIN_BYTES) {
		out_mark_inflight(o);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->o = o;
	j->req.data = j;
	buf_init(&j->msg);
	buf_init(&j->packed);
	buf_swap(&j->msg, &o->content);
	o->st = OM_PACKING;
	rc = uv_queue_work(a->env.loop, &j->req, pack_work, pack_done);
	if (rc != 0) {
		buf_swap(&j->msg, &o->content);
		buf_fini(&j->msg);
		free(j);
		out_mark_inflight(o);
		return;
	}
	a->pending++;
}

/* ---- conversion before the air hop (CONPERM / DRUCOF) ----------------- */

static void
out_conv_done(struct out_msg *o, int status)
{
	struct airlink *a = o->a;
	char hex[33];

	a->pending--;
	id_hex(o->id, hex);
	if (status != 0)
		GW_LOGE("link", "link=%s msg=%s event=convert_fail_store_failed "
		    "error=%s", a->cfg.name, hex, gw_errname(status));
	out_free(a, o);
	if (a->closing)
		maybe_finish_close(a);
	else
		feed(a);
}

static void
on_conv_fail_stored(int status, void *arg)
{
	out_conv_done(arg, status);
}

/* No usable form may be made: every recipient of o fails with status, and
 * the sender gets a DSN where one is owed (in the same transaction). */
static void
out_conv_fail(struct out_msg *o, const char *status, const char *why,
    const char *detail)
{
	struct airlink *a = o->a;
	const struct queue_envelope *e = o->qenv;
	bool null_sender = e->reverse_path == NULL || e->reverse_path[0] == '\0';
	struct dsn_rcpt *dr = xcalloc(o->nrids, sizeof(*dr));
	struct queue_change *ch = xcalloc(2 * o->nrids, sizeof(*ch));
	int64_t now = clk_wall_s(a->env.clock);
	size_t ndr = 0;
	char diag[1000], hex[33];
	struct dsn_report rep = { 0 };
	int rc;

	o->st = OM_FAILING;
	id_hex(o->id, hex);
	snprintf(diag, sizeof(diag), "x-skywave; content conversion: %s%s%s",
	    why, detail[0] ? ": " : "", detail);
	for (size_t i = 0; i < o->nrids; i++) {
		const struct queue_rcpt *qr = &e->rcpts[o->idx[i]];
		ch[2 * i].rid = o->rids[i];
		ch[2 * i].to = QUEUE_R_FAILED;
		ch[2 * i].error = why;
		ch[2 * i].status = status;
		ch[2 * i + 1].rid = o->rids[i];
		ch[2 * i + 1].to = QUEUE_R_DSN_QUEUED;
		GW_LOGI("link", "link=%s msg=%s rcpt=<%s> event=convert_failed "
		    "status=%s reason=\"%s\"", a->cfg.name, hex, qr->addr,
		    status, why);
		if (!dsn_owed(null_sender, qr->notify, DSN_FAILED,
		    DSN_WHY_NORMAL))
			continue;
		dr[ndr].final_rcpt = qr->addr;
		dr[ndr].orcpt = qr->orcpt;
		dr[ndr].action = DSN_FAILED;
		dr[ndr].status = status;
		dr[ndr].diag = diag;
		dr[ndr].last_attempt_s = now;
		ndr++;
	}
	rep.reporting_mta = a->env.identity;
	rep.orig = e;
	rep.rcpts = dr;
	rep.nrcpts = ndr;
	rep.content = o->content.data;
	rep.content_len = o->content.len;
	rep.now_s = now;
	rc = intake_fail(a->env.intake, &rep, ch, 2 * o->nrids,
	    on_conv_fail_stored, o);
	free(ch);
	free(dr);
	if (rc != 0)
		out_drop(o, "queue refused the conversion failure", rc);
	else
		a->pending++;
}

/* The RFC 3463 wording of conv's failure codes (the relay decision's text
 * is generic). */
static const char *
status_text(const char *status, const char *why)
{
	if (strcmp(status, "5.6.2") == 0)
		return "conversion required and prohibited";
	if (strcmp(status, "5.6.3") == 0)
		return "conversion required but not supported";
	if (strcmp(status, "5.6.5") == 0)
		return "conversion failed";
	return why;
}

static bool
out_drucof(const struct out_msg *o)
{
	return (o->qenv->rcpts[o->idx[0]].flags & QUEUE_RCPT_DRUCOF) != 0;
}

static void
on_converted(const struct convert_result *res, void *arg)
{
	struct out_msg *o = arg;
	struct airlink *a = o->a;
	struct conneg_relay_in in = { 0 };
	struct conneg_relay_out d;
	char hex[33];

	a->pending--;
	buf_swap(&o->content, res->orig);
	if (a->closing) {
		out_free(a, o);
		maybe_finish_close(a);
		return;
	}
	id_hex(o->id, hex);
	if (res->rc != 0) {
		GW_LOGW("link", "link=%s msg=%s event=convert_error error=%s "
		    "action=send_as_stored", a->cfg.name, hex,
		    gw_errname(res->rc));
		out_pack_or_mark(o);
		return;
	}
	in.drucof = out_drucof(o);
	in.conperm = o->qenv->conperm;
	in.caps_known = true;
	/* The far gateway runs the same conversions against the same table
	 * (it published it): what cannot be made usable here fails here,
	 * before it costs airtime. CONPERM, like DRUCOF, asks for a usable
	 * result or none (RFC 4141: the originator requires). */
	in.hop = CONNEG_HOP_NO_CONNEG;
	conneg_relay_set_conv(&in, &res->rep);
	conneg_relay_decide(&in, &d);
	switch (d.action) {
	case CONNEG_CONVERT:
		GW_LOGI("link", "link=%s msg=%s event=converted size=%zu "
		    "new_size=%zu lossy=%s detail=\"%s\"", a->cfg.name, hex,
		    o->content.len, res->out->len,
		    res->rep.lossy ? "yes" : "no", res->rep.detail);
		buf_swap(&o->content, res->out);
		o->total = (int64_t)o->content.len;
		o->xenv.size = o->content.len;
		xfer_sha256(o->xenv.sha256, o->content.data, o->content.len);
		/* Usable content was made for these recipients: nothing is
		 * left to assert (seed s4); a loss travels for the DSNs. */
		for (size_t i = 0; i < o->xenv.nrcpt; i++) {
			struct xfer_rcpt *r = &o->xenv.rcpt[i];
			if (!d.assert_drucof)
				r->cflags &= (uint8_t)~XFER_RC_DRUCOF;
			if (res->rep.lossy)
				r->cflags |= XFER_RC_LOSSY;
		}
		break;
	case CONNEG_FAIL:
		out_conv_fail(o, d.status, status_text(d.status, d.why),
		    res->rep.detail);
		return;
	case CONNEG_PASS:
		GW_LOGI("link", "link=%s msg=%s event=convert_pass "
		    "reason=\"%s\"", a->cfg.name, hex, d.why);
		break;
	}
	out_pack_or_mark(o);
}

/* What a recipient routed over this link can use: the far gateway's
 * published table first, then our own caps_file. NULL: nothing known. */
static const char *
caps_for(const struct airlink *a, const char *addr)
{
	const char *f = airlink_caps_lookup(a, addr);
	struct conneg_table *t = a->env.caps ? *a->env.caps : NULL;

	if (f == NULL && t != NULL)
		f = conneg_lookup(t, addr);
	return f;
}

/* Convert first when the sender asked (CONPERM / DRUCOF) and a table
 * knows the recipients; else straight to MARKING. */
static void
out_convert_or_mark(struct out_msg *o)
{
	struct airlink *a = o->a;
	const struct queue_envelope *e = o->qenv;
	const char *filter = NULL;
	struct conv_policy pol = { 0 };
	bool drucof;
	char hex[33];
	int rc;

	if (o->nrids == 0)
		goto as_is;
	drucof = out_drucof(o);
	if (!e->conperm && !drucof)
		goto as_is;
	filter = caps_for(a, e->rcpts[o->idx[0]].addr);
	if (filter == NULL)
		goto as_is; /* nothing specific known: no conversion */
	for (size_t i = 1; i < o->nrids; i++) {
		const struct queue_rcpt *qr = &e->rcpts[o->idx[i]];
		if (caps_for(a, qr->addr) != filter ||
		    ((qr->flags & QUEUE_RCPT_DRUCOF) != 0) != drucof) {
			id_hex(o->id, hex);
			GW_LOGI("link", "link=%s msg=%s event=convert_skipped "
			    "reason=\"recipients differ\"", a->cfg.name, hex);
			goto as_is;
		}
	}
	pol.conperm = e->conperm;
	pol.drucof = drucof;
	pol.by_domain = a->env.identity;
	pol.now_s = clk_wall_s(a->env.clock);
	o->st = OM_CONVERTING;
	rc = convert_start(a->env.loop, &o->content, &pol, filter,
	    on_converted, o);
	if (rc == 0) {
		a->pending++;
		return;
	}
	id_hex(o->id, hex);
	GW_LOGW("link", "link=%s msg=%s event=convert_error error=%s "
	    "action=send_as_stored", a->cfg.name, hex, gw_errname(rc));
as_is:
	out_pack_or_mark(o);
}

static void on_content(int status, const uint8_t *data, size_t len,
    int64_t total, void *arg);

static void
out_read_more(struct out_msg *o)
{
	int rc = queue_read_content(o->a->env.queue, o->id,
	    (int64_t)o->content.len, QUEUE_READ_MAX, on_content, o);
	if (rc != 0)
		out_drop(o, "content read refused", rc);
	else
		o->a->pending++;
}

static void
on_content(int status, const uint8_t *data, size_t len, int64_t total,
    void *arg)
{
	struct out_msg *o = arg;
	struct airlink *a = o->a;

	a->pending--;
	if (a->closing) {
		out_free(a, o);
		maybe_finish_close(a);
		return;
	}
	if (status != 0) {
		out_drop(o, "content read failed", status);
		return;
	}
	buf_append(&o->content, data, len);
	o->total = total;
	if (len > 0 && (int64_t)o->content.len < total) {
		out_read_more(o);
		return;
	}
	if ((int64_t)o->content.len != total) {
		out_drop(o, "content shorter than recorded", GW_ECORRUPT);
		return;
	}
	/* Trace fields on top, newest first: a redirected copy's trace, then
	 * the Received field of the radio hop it arrived over (received.h;
	 * the same octets every time, so a resume fits). Hash again. */
	struct buf top = BUF_INIT;
	char idhex[33];
	id_hex(o->id, idhex);
	if (o->trace)
		buf_append_str(&top, o->trace);
	received_air(&top, o->qenv->client, a->env.identity, idhex,
	    o->qenv->priority, o->qenv->arrival);
	if (top.len > 0) {
		buf_append(&top, o->content.data, o->content.len);
		buf_swap(&top, &o->content);
		o->total = (int64_t)o->content.len;
		o->xenv.size = o->content.len;
		xfer_sha256(o->xenv.sha256, o->content.data, o->content.len);
	}
	buf_fini(&top);
	out_convert_or_mark(o);
}

static bool
rid_wanted(const struct out_msg *o, int64_t rid)
{
	for (size_t i = 0; i < o->nrids; i++)
		if (o->rids[i] == rid)
			return true;
	return false;
}

static int64_t
remaining_s(int64_t deadline, int64_t now)
{
	if (deadline == 0)
		return -1;
	return deadline > now ? deadline - now : 0;
}



static void
on_loaded(int status, const struct queue_msg_info *m, void *arg)
{
	struct out_msg *o = arg;
	struct airlink *a = o->a;
	const struct queue_envelope *e;
	int64_t now = clk_wall_s(a->env.clock);

	a->pending--;
	if (a->closing) {
		out_free(a, o);
		maybe_finish_close(a);
		return;
	}
	if (status != 0 || !m->complete) {
		out_drop(o, "message could not be loaded",
		    status ? status : GW_ESTATE);
		return;
	}
	e = &m->env;
	xfer_env_init(&o->xenv);
	memcpy(o->xenv.id, o->id, XFER_ID_BYTES);
	o->xenv.from = xstrdup(e->reverse_path ? e->reverse_path : "");
	o->xenv.priority = (int8_t)e->priority;
	o->xenv.ret = (uint8_t)(e->ret == QUEUE_RET_FULL ? XFER_RET_FULL :
	    e->ret == QUEUE_RET_HDRS ? XFER_RET_HDRS : XFER_RET_NONE);
	o->xenv.envid = e->envid ? xstrdup(e->envid) : NULL;
	o->xenv.by_s = remaining_s(e->by_deadline, now);
	o->xenv.by_mode = (uint8_t)((e->by_mode == 'R' ? XFER_BY_R :
	    e->by_mode == 'N' ? XFER_BY_N : 0) |
	    (e->by_trace ? XFER_BY_TRACE : 0));
	o->xenv.aby_s = remaining_s(e->aby_deadline, now);
	o->xenv.size = (uint64_t)m->size;
	memcpy(o->xenv.sha256, m->sha256, XFER_SHA_BYTES);
	if (e->conperm)
		o->xenv.mflags |= XFER_ENV_CONPERM;
	/* A recipient the queue added by a redirect goes on its own, with
	 * the trace header its primary recorded and without ABY. */
	for (size_t i = 0; i < e->nrcpts && o->trace == NULL; i++) {
		const char *te = NULL;
		if (m->st[i].parent_rid == 0 || !rid_wanted(o, m->st[i].rid))
			continue;
		for (size_t j = 0; j < e->nrcpts; j++)
			if (m->st[j].rid == m->st[i].parent_rid)
				te = m->st[j].last_error;
		if (te == NULL || strncmp(te, "Alternate-Recipient-Redirect:",
		    29) != 0)
			continue;
		o->trace = xstrdup(te);
		o->rids[0] = m->st[i].rid;
		o->nrids = 1;
		o->xenv.aby_s = -1;
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (!rid_wanted(o, m->st[i].rid))
			continue;
		unsigned f = e->rcpts[i].flags;
		xfer_env_add_rcpt(&o->xenv, e->rcpts[i].addr,
		    (uint8_t)e->rcpts[i].notify, e->rcpts[i].orcpt,
		    e->rcpts[i].arcpt)->cflags = (uint8_t)(
		    ((f & QUEUE_RCPT_CONNEG) ? XFER_RC_CONNEG : 0) |
		    ((f & QUEUE_RCPT_DRUCOF) ? XFER_RC_DRUCOF : 0) |
		    ((f & QUEUE_RCPT_LOSSY) ? XFER_RC_LOSSY : 0));
	}
	if (o->xenv.nrcpt == 0) {
		out_drop(o, "no recipient left for this link", GW_ESTATE);
		return;
	}
	/* rids in message order, with their recipient indexes */
	{
		size_t k = 0;
		o->idx = xcalloc(o->nrids, sizeof(*o->idx));
		for (size_t i = 0; i < e->nrcpts; i++) {
			if (!rid_wanted(o, m->st[i].rid))
				continue;
			o->rids[k] = m->st[i].rid;
			o->idx[k++] = i;
		}
		o->nrids = k;
	}
	o->qenv = queue_envelope_dup(e);
	o->st = OM_READING;
	out_read_more(o);
}

static int
min_band(const struct airlink *a)
{
	int b = 1 << 30;

	for (const struct out_msg *o = a->outs; o; o = o->next)
		if (o->band < b)
			b = o->band;
	return b;
}

static void
on_selected(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct airlink *a = arg;

	a->pending--;
	a->selecting = false;
	if (a->closing) {
		maybe_finish_close(a);
		return;
	}
	if (status != 0) {
		GW_LOGW("link", "link=%s event=select_failed error=%s",
		    a->cfg.name, gw_errname(status));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct out_msg *o = out_find(a, w[i].id);
		if (o != NULL) {
			/* another recipient of a message being loaded */
			if (o->st == OM_LOADING && !rid_wanted(o, w[i].rid)) {
				o->rids = xrealloc(o->rids,
				    (o->nrids + 1) * sizeof(*o->rids));
				o->rids[o->nrids++] = w[i].rid;
			}
			continue;
		}
		/* Bounded in memory, but a higher band always gets in: it
		 * must be able to preempt what is on the air. */
		if (a->nouts >= OUT_MAX && w[i].band <= min_band(a))
			continue;
		o = xcalloc(1, sizeof(*o));
		o->a = a;
		memcpy(o->id, w[i].id, QUEUE_ID_LEN);
		o->band = w[i].band;
		o->rids = xmalloc(sizeof(*o->rids));
		o->rids[0] = w[i].rid;
		o->nrids = 1;
		o->st = OM_LOADING;
		o->next = a->outs;
		a->outs = o;
		a->nouts++;
		int rc = queue_load(a->env.queue, o->id, on_loaded, o);
		if (rc != 0)
			out_drop(o, "load refused", rc);
		else
			a->pending++;
	}
}

/* ---- the planner ------------------------------------------------------ */

/* xfer's pick: the scheduler's choice when it is on hand; otherwise (the
 * chosen message is still loading) the best candidate the scheduler still
 * holds as ready, by priority then arrival. A candidate the scheduler no
 * longer holds, holds aside, or a BY;R past its deadline is never sent.
 * Called at every segment boundary and by xfer_pending(), so it must stay
 * cheap and must not start queue work. */
static int
pick(void *arg, const struct xfer_cand *c, size_t n)
{
	struct airlink *a = arg;
	struct planner *p = a->env.planner;
	struct sched_job *j = planner_next(p, a->proute);
	int64_t now = now_ms(a);
	int best = -1;

	for (size_t i = 0; j && i < n; i++)
		if (memcmp(c[i].env->id, j->id, QUEUE_ID_LEN) == 0)
			return (int)i;
	for (size_t i = 0; i < n; i++) {
		struct sched_job *k = planner_find(p, c[i].env->id, a->proute);
		if (k == NULL || (k->state != SCHED_JOB_READY &&
		    k->state != SCHED_JOB_COMMITTING))
			continue;
		if (k->by_mode == 'R' && k->by_ms != 0 && k->by_ms <= now)
			continue;
		if (best < 0 || c[i].env->priority > c[best].env->priority ||
		    (c[i].env->priority == c[best].env->priority &&
		    c[i].arrival < c[best].arrival))
			best = (int)i;
	}
	return best;
}

static void
on_requeued(int status, void *arg)
{
	struct airlink *a = arg;

	a->pending--;
	if (status != 0)
		GW_LOGW("link", "link=%s event=requeue_failed error=%s",
		    a->cfg.name, gw_errname(status));
	if (a->closing)
		maybe_finish_close(a);
	else
		feed(a);
}

/* The planner redirected or failed recipients of message id on this link:
 * withdraw the message from the transfer; recipients still active go back
 * to the queue (a new job is made when they are selected again). */
static void
on_resolved(void *arg, const uint8_t id[QUEUE_ID_LEN], int route)
{
	struct airlink *a = arg;
	struct out_msg *o = out_find(a, id);
	struct sched_job *job;
	struct queue_change *ch;
	size_t n = 0;
	char hex[33];

	(void)route;
	if (o == NULL || o->st != OM_SENDING)
		return;
	xfer_out_remove(a->xfer, o->id);
	job = planner_find(a->env.planner, o->id, a->proute);
	ch = xcalloc(o->nrids, sizeof(*ch));
	for (size_t i = 0; job && i < job->nrcpts; i++) {
		if (job->rcpts[i].state != SCHED_RCPT_ACTIVE)
			continue;
		for (size_t k = 0; k < o->nrids; k++) {
			if (o->idx[k] != job->rcpts[i].idx)
				continue;
			ch[n].rid = o->rids[k];
			ch[n].to = QUEUE_R_QUEUED;
			n++;
		}
	}
	planner_forget(a->env.planner, o->id, a->proute);
	id_hex(o->id, hex);
	GW_LOGI("link", "link=%s msg=%s event=withdrawn requeued=%zu",
	    a->cfg.name, hex, n);
	if (n > 0) {
		int rc = queue_update(a->env.queue, ch, n, on_requeued, a);
		if (rc == 0)
			a->pending++;
	}
	free(ch);
	out_free(a, o);
}

struct withdraw {
	struct airlink *a;
	void (*done)(int status, void *arg);
	void *arg;
};

static void
on_withdrawn(int status, void *arg)
{
	struct withdraw *w = arg;
	struct airlink *a = w->a;

	a->pending--;
	w->done(status, w->arg);
	free(w);
	if (a->closing)
		maybe_finish_close(a);
}

int
airlink_withdraw(struct airlink *a, const uint8_t id[QUEUE_ID_LEN],
    void (*done)(int status, void *arg), void *arg)
{
	struct out_msg *o = out_find(a, id);
	struct queue_change *ch;
	struct withdraw *w;
	char hex[33];
	int rc;

	if (a->closing || o == NULL || o->st != OM_SENDING)
		return GW_ENOENT;
	xfer_out_remove(a->xfer, o->id);
	planner_forget(a->env.planner, o->id, a->proute);
	/* Parked as deferred (not selectable for an hour) rather than queued,
	 * so the link cannot take it again before the operator's hold,
	 * cancel or requeue reaches the queue. */
	ch = xcalloc(o->nrids, sizeof(*ch));
	for (size_t i = 0; i < o->nrids; i++) {
		ch[i].rid = o->rids[i];
		ch[i].to = QUEUE_R_DEFERRED;
		ch[i].next_attempt = clk_wall_s(a->env.clock) + 3600;
		ch[i].error = "taken off the air by the operator";
		ch[i].status = "4.3.2";
	}
	w = xcalloc(1, sizeof(*w));
	w->a = a;
	w->done = done;
	w->arg = arg;
	rc = queue_update(a->env.queue, ch, o->nrids, on_withdrawn, w);
	free(ch);
	id_hex(o->id, hex);
	GW_LOGI("link", "link=%s msg=%s event=withdrawn by=operator",
	    a->cfg.name, hex);
	out_free(a, o);
	if (rc != 0) {
		free(w);
		return rc;
	}
	a->pending++;
	return 0;
}

/* The route model from the profile, then from what the link measured. */
static void
link_model(struct airlink *a, struct predict_link *m)
{
	const struct link_stats *ls = link_get_stats(a->link);
	const struct xfer_stats *xs = xfer_get_stats(a->xfer);
	double nominal = (double)a->prof.air.rate_bps / 8.0;

	predict_link_default(m);
	/* The measured rate once there is enough behind it, kept within
	 * 5..100 % of the air rate so one bad estimate cannot swing every
	 * prediction on the route. */
	m->rate_bps = nominal;
	if (ls->goodput_bps > 0 && ls->acked_bytes >= 4096) {
		double g = ls->goodput_bps / 8.0;
		m->rate_bps = g < nominal * 0.05 ? nominal * 0.05 :
		    g > nominal ? nominal : g;
	}
	m->max_rate_bps = nominal;
	m->turnaround_ms = ls->turnaround_ms > 0 ? ls->turnaround_ms :
	    a->prof.air.turnaround_ms;
	m->max_burst_ms = a->prof.air.max_tx_ms;
	m->latency_ms = a->prof.air.latency_ms;
	if (xs->plain_out > 8192 && xs->comp_out > 0)
		m->ratio = (double)xs->comp_out / (double)xs->plain_out;
	if (m->ratio > 1.0)
		m->ratio = 1.0;
	if (m->min_ratio > m->ratio)
		m->min_ratio = m->ratio;
}

static void
publish_link(struct airlink *a)
{
	struct predict_link m;

	if (a->env.planner == NULL || a->proute < 0)
		return;
	link_model(a, &m);
	planner_route_link(a->env.planner, a->proute, &m);
}

/* Before the link session exists: the profile alone. */
static void
link_model_prof(struct airlink *a, struct predict_link *m)
{
	double nominal = (double)a->prof.air.rate_bps / 8.0;

	predict_link_default(m);
	m->rate_bps = nominal;
	m->max_rate_bps = nominal;
	m->turnaround_ms = a->prof.air.turnaround_ms;
	m->max_burst_ms = a->prof.air.max_tx_ms;
	m->latency_ms = a->prof.air.latency_ms;
}

/* Look for new work for this link. */
static void
feed(struct airlink *a)
{
	int rc;

	/* A link the operator (or [link] enabled = no) keeps down takes
	 * nothing: its messages stay queued, held for it like a held link. */
	if (a->closing || a->selecting || !a->enabled)
		return;
	a->selecting = true;
	rc = queue_select(a->env.queue, a->route, SELECT_MAX, on_selected, a);
	if (rc != 0) {
		a->selecting = false;
		GW_LOGW("link", "link=%s event=select_refused error=%s",
		    a->cfg.name, gw_errname(rc));
		return;
	}
	a->pending++;
}

static void
on_feed_timer(uv_timer_t *t)
{
	struct airlink *a = t->data;

	if (a->drv && drv_state(a->drv) == DRV_S_UP &&
	    link_state(a->link) == LINK_S_ERROR && now_ms(a) >= a->retry_at_ms) {
		GW_LOGI("link", "link=%s event=session_retry", a->cfg.name);
		link_open(a->link, now_ms(a));
		pump(a);
	}
	publish_link(a);
	feed(a);
}

/* ---- incoming --------------------------------------------------------- */

static bool
was_committed(const struct airlink *a, const uint8_t *id)
{
	size_t n = a->ncommitted < COMMITTED_RING ? a->ncommitted :
						    COMMITTED_RING;
	for (size_t i = 0; i < n; i++)
		if (memcmp(a->committed[i], id, QUEUE_ID_LEN) == 0)
			return true;
	return false;
}

static void
note_committed(struct airlink *a, const uint8_t *id)
{
	memcpy(a->committed[a->ncommitted % COMMITTED_RING], id, QUEUE_ID_LEN);
	a->ncommitted++;
}

static bool
store_committed(void *arg, const uint8_t id[XFER_ID_BYTES])
{
	/* Ids committed earlier than this run are caught by the queue itself
	 * (GW_EDUP at begin or submit), which is acknowledged as a
	 * duplicate: never delivered twice either way. */
	return was_committed(arg, id);
}

/* A queue envelope for received mail, routed by this gateway's table. */
static struct queue_envelope *
qenv_from_xenv(struct airlink *a, const struct xfer_env *x, int64_t anchor)
{
	struct queue_envelope *e = xcalloc(1, sizeof(*e));
	/* Remaining BY/ABY seconds count from when the envelope arrived, not
	 * from the commit: on HF a message can spend minutes on the air. The
	 * earliest arrival is used, which errs towards an earlier deadline. */
	int64_t now = anchor;
	char client[160];

	memcpy(e->id, x->id, QUEUE_ID_LEN);
	e->reverse_path = xstrdup(x->from ? x->from : "");
	e->priority = x->priority;
	e->band = intake_band(a->env.intake, x->priority);
	if (x->by_s >= 0 || (x->by_mode & (XFER_BY_R | XFER_BY_N))) {
		e->by_deadline = now + (x->by_s > 0 ? x->by_s : 0);
		e->by_mode = (x->by_mode & XFER_BY_R) ? 'R' : 'N';
		e->by_trace = (x->by_mode & XFER_BY_TRACE) != 0;
		if (e->by_deadline == 0)
			e->by_deadline = 1;
	}
	if (x->aby_s >= 0)
		e->aby_deadline = now + x->aby_s;
	e->envid = x->envid ? xstrdup(x->envid) : NULL;
	e->ret = x->ret == XFER_RET_FULL ? QUEUE_RET_FULL :
	    x->ret == XFER_RET_HDRS ? QUEUE_RET_HDRS : QUEUE_RET_NONE;
	e->body = QUEUE_BODY_8BITMIME;
	e->conperm = (x->mflags & XFER_ENV_CONPERM) != 0;
	e->arrival = now;
	snprintf(client, sizeof(client), "%s (link %s)",
	    a->cfg.peer[0] ? a->cfg.peer : "peer", a->cfg.name);
	e->client = xstrdup(client);
	e->rcpts = xcalloc(x->nrcpt ? x->nrcpt : 1, sizeof(*e->rcpts));
	e->nrcpts = x->nrcpt;
	for (size_t i = 0; i < x->nrcpt; i++) {
		struct queue_rcpt *r = &e->rcpts[i];
		r->addr = xstrdup(x->rcpt[i].addr);
		r->notify = x->rcpt[i].notify;
		r->orcpt = x->rcpt[i].orcpt ? xstrdup(x->rcpt[i].orcpt) : NULL;
		r->arcpt = x->rcpt[i].arcpt ? xstrdup(x->rcpt[i].arcpt) : NULL;
		r->flags =
		    ((x->rcpt[i].cflags & XFER_RC_CONNEG) ? QUEUE_RCPT_CONNEG :
		    0) | ((x->rcpt[i].cflags & XFER_RC_DRUCOF) ?
		    QUEUE_RCPT_DRUCOF : 0) | ((x->rcpt[i].cflags &
		    XFER_RC_LOSSY) ? QUEUE_RCPT_LOSSY : 0);
	}
	intake_route(a->env.intake, e);
	return e;
}

static struct in_msg *
in_get(struct airlink *a, const uint8_t *id)
{
	struct in_msg *m;

	for (m = a->ins; m; m = m->next)
		if (memcmp(m->id, id, QUEUE_ID_LEN) == 0)
			return m;
	m = xcalloc(1, sizeof(*m));
	m->a = a;
	m->anchor_s = clk_wall_s(a->env.clock);
	memcpy(m->id, id, QUEUE_ID_LEN);
	m->next = a->ins;
	a->ins = m;
	return m;
}

static void
in_free_if_idle(struct airlink *a, struct in_msg *m)
{
	if (m->busy || m->head)
		return;
	for (struct in_msg **pp = &a->ins; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			free(m);
			return;
		}
	}
}

static void
in_push(struct in_msg *m, struct in_op *op)
{
	if (m->tail)
		m->tail->next = op;
	else
		m->head = op;
	m->tail = op;
}

static void in_run(struct in_msg *m);

/* Drop the finished head operation. */
static void
in_pop(struct in_msg *m)
{
	struct in_op *op = m->head;

	m->head = op->next;
	if (m->head == NULL)
		m->tail = NULL;
	buf_fini(&op->data);
	xfer_env_fini(&op->env);
	free(op);
	m->busy = false;
	m->a->pending--;
}

/* Completion of the head operation's queue request. m may be freed on
 * return: callers must not touch it afterwards. */
static void
in_op_done(struct in_msg *m)
{
	struct airlink *a = m->a;

	in_pop(m);
	if (a->closing) {
		/* drop what is left: the far side resends after restart */
		while (m->head) {
			struct in_op *n = m->head->next;
			buf_fini(&m->head->data);
			xfer_env_fini(&m->head->env);
			free(m->head);
			m->head = n;
		}
		m->tail = NULL;
		in_free_if_idle(a, m);
		maybe_finish_close(a);
		return;
	}
	in_run(m);
}

static void
commit_result(struct in_msg *m, int status)
{
	struct airlink *a = m->a;
	char hex[33];

	id_hex(m->id, hex);
	if (status == 0 || status == GW_EDUP) {
		note_committed(a, m->id);
		m->begun = false;
		m->dup = true;
		if (status == 0)
			a->received++;
		GW_LOGI("link", "link=%s msg=%s event=received duplicate=%s",
		    a->cfg.name, hex, status == GW_EDUP ? "yes" : "no");
		xfer_commit_done(a->xfer, m->id, 0);
		if (status == 0)
			/* it may leave by a local route or another link */
			intake_wake_all(a->env.intake);
	} else {
		GW_LOGE("link", "link=%s msg=%s event=commit_failed error=%s",
		    a->cfg.name, hex, gw_errname(status));
		xfer_commit_done(a->xfer, m->id, status);
	}
	pump(a);
}

static void
on_in_status(int status, void *arg)
{
	struct in_msg *m = arg;
	struct in_op *op = m->head;
	struct airlink *a = m->a;

	if (a->closing) {
		in_op_done(m);
		return;
	}
	switch (op->kind) {
	case IN_BEGIN: /* step 0: abort of an older partial finished */
		op->step = 1;
		m->busy = false;
		a->pending--;
		in_run(m);
		return;
	case IN_COMMIT:
		if (op->step == 0) { /* finish */
			if (status == 0 || status == GW_EDUP) {
				commit_result(m, status);
				in_op_done(m);
				return;
			}
			/* The partial does not hold the whole message (or
			 * none exists): store it in one piece instead. */
			op->step = 1;
			m->busy = false;
			a->pending--;
			in_run(m);
			return;
		}
		if (op->step == 1) { /* abort before submit */
			op->step = 2;
			m->busy = false;
			a->pending--;
			in_run(m);
			return;
		}
		/* step 2: submit */
		commit_result(m, status);
		in_op_done(m);
		return;
	default:
		in_op_done(m);
		return;
	}
}

static void
on_in_value(int status, int64_t value, void *arg)
{
	struct in_msg *m = arg;
	struct in_op *op = m->head;
	struct airlink *a = m->a;

	if (!a->closing) {
		if (op->kind == IN_BEGIN) {
			if (status == GW_EDUP)
				m->dup = true;
			else if (status == 0)
				m->begun = true;
			else
				GW_LOGW("link", "link=%s event=partial_begin_"
				    "failed error=%s", a->cfg.name,
				    gw_errname(status));
		} else if (op->kind == IN_APPEND) {
			if (status == 0)
				xfer_partial_done(a->xfer, m->id,
				    (uint64_t)value);
			else if (status != GW_ESTATE)
				GW_LOGW("link", "link=%s event=partial_append_"
				    "failed error=%s", a->cfg.name,
				    gw_errname(status));
		}
	}
	in_op_done(m);
}

static void
on_in_submitted(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	(void)id;
	on_in_status(status, arg);
}

static void
in_run(struct in_msg *m)
{
	struct airlink *a = m->a;
	struct queue *q = a->env.queue;
	struct in_op *op;
	int rc;

again:
	op = m->head;
	rc = 1; /* 1: nothing to do for this operation */
	if (m->busy || a->closing)
		return;
	if (op == NULL) {
		/* idle: forget it unless a partial transfer is under way */
		if (m->dup || !m->begun)
			in_free_if_idle(a, m);
		return;
	}
	m->busy = true;
	a->pending++;
	switch (op->kind) {
	case IN_BEGIN:
		if (m->dup)
			break;
		if (op->step == 0) {
			/* offset 0 starts afresh: drop an older partial */
			rc = queue_partial_abort(q, m->id, on_in_status, m);
		} else {
			struct queue_envelope *e = qenv_from_xenv(a, &op->env,
			    m->anchor_s);
			rc = queue_partial_begin(q, e, (int64_t)op->env.size,
			    on_in_value, m);
		}
		break;
	case IN_APPEND:
		if (!m->dup && m->begun)
			rc = queue_partial_append(q, m->id, (int64_t)op->off,
			    op->data.data, op->data.len, on_in_value, m);
		break;
	case IN_COMMIT:
		if (m->dup) {
			commit_result(m, GW_EDUP);
			break;
		}
		if (op->step == 0) {
			rc = queue_partial_finish(q, m->id, op->env.sha256,
			    on_in_status, m);
		} else if (op->step == 1) {
			rc = queue_partial_abort(q, m->id, on_in_status, m);
		} else {
			struct queue_envelope *e = qenv_from_xenv(a, &op->env,
			    m->anchor_s);
			rc = queue_submit(q, e, &op->data, on_in_submitted, m);
		}
		break;
	}
	if (rc == 0)
		return; /* the completion continues with in_op_done */
	if (rc < 0) {
		GW_LOGE("link", "link=%s event=store_refused error=%s",
		    a->cfg.name, gw_errname(rc));
		if (op->kind == IN_COMMIT)
			xfer_commit_done(a->xfer, m->id, rc);
	}
	in_pop(m); /* done without the queue: next operation, no recursion */
	goto again;
}

static struct in_op *
in_op_new(enum in_op_kind kind, const struct xfer_env *env)
{
	struct in_op *op = xcalloc(1, sizeof(*op));

	op->kind = kind;
	buf_init(&op->data);
	xfer_env_init(&op->env);
	if (env)
		xfer_env_copy(&op->env, env);
	return op;
}

static void
store_partial(void *arg, const struct xfer_env *env, uint64_t off,
    const uint8_t *p, size_t len)
{
	struct airlink *a = arg;
	struct in_msg *m = in_get(a, env->id);
	struct in_op *op;

	if (off == 0) {
		m->dup = false;
		in_push(m, in_op_new(IN_BEGIN, env));
	}
	op = in_op_new(IN_APPEND, NULL);
	op->off = off;
	buf_append(&op->data, p, len);
	in_push(m, op);
	in_run(m);
}

static void
store_commit(void *arg, const struct xfer_env *env, const uint8_t *content,
    size_t len)
{
	struct airlink *a = arg;
	struct in_msg *m = in_get(a, env->id);
	struct in_op *op = in_op_new(IN_COMMIT, env);
	size_t drucof = 0, lossy = 0;

	for (size_t i = 0; i < env->nrcpt; i++) {
		drucof += (env->rcpt[i].cflags & XFER_RC_DRUCOF) != 0;
		lossy += (env->rcpt[i].cflags & XFER_RC_LOSSY) != 0;
	}
	if (drucof || lossy || (env->mflags & XFER_ENV_CONPERM)) {
		char hex[33];
		id_hex(env->id, hex);
		GW_LOGI("link", "link=%s msg=%s event=negotiation conperm=%s "
		    "drucof=%zu lossy=%zu", a->cfg.name, hex,
		    (env->mflags & XFER_ENV_CONPERM) ? "yes" : "no", drucof,
		    lossy);
	}
	buf_append(&op->data, content, len);
	/* The partial holds the packed stream, not the message: store the
	 * unpacked message in one piece (abort the partial, then submit). */
	if (env->mflags & XFER_ENV_PACKED)
		op->step = 1;
	in_push(m, op);
	in_run(m);
}

/* ---- capability tables ------------------------------------------------ */

/* The file keeps the table in publication form behind one comment line
 * carrying the digest the far gateway gave it (the table parser skips
 * comment lines). */
#define CAPS_FILE_TAG "# skywave peer capabilities digest="

const char *
airlink_caps_lookup(const struct airlink *a, const char *addr)
{
	return a->peer_caps ? conneg_lookup(a->peer_caps, addr) : NULL;
}

/* Our own table to the far gateway (the transfer protocol sends it when
 * the far side holds another digest). */
static void
publish_local_caps(struct airlink *a)
{
	struct conneg_table *t = a->env.caps ? *a->env.caps : NULL;
	struct buf b = BUF_INIT;

	if (t == NULL || conneg_table_count(t) == 0) {
		xfer_set_local_caps(a->xfer, NULL, 0, 0);
		return;
	}
	conneg_table_format(t, &b);
	xfer_set_local_caps(a->xfer, (const char *)b.data, b.len,
	    conneg_table_digest(t));
	buf_fini(&b);
}

void
airlink_caps_changed(struct airlink *a)
{
	if (a->closing)
		return;
	publish_local_caps(a);
	pump(a);
}

struct caps_save {
	uv_work_t req;
	struct airlink *a;
	char path[AIRLINK_PATH_MAX + 64];
	char dir[AIRLINK_PATH_MAX + 64];
	struct buf data;   /* the whole file; empty: remove it */
	int rc;
};

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Thread pool: tmp + fsync + rename + fsync of the directory, so the file
 * is the old table or the new one after a crash, never half of one. */
static void
caps_save_work(uv_work_t *req)
{
	struct caps_save *j = req->data;
	char tmp[sizeof(j->path) + 8];
	size_t off = 0;
	int fd;

	if (j->data.len == 0) {
		if (unlink(j->path) != 0 && errno != ENOENT)
			j->rc = -errno;
		else
			j->rc = fsync_dir(j->dir);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		j->rc = -errno;
		return;
	}
	while (off < j->data.len) {
		ssize_t w = write(fd, j->data.data + off, j->data.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			j->rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (j->rc == 0 && fsync(fd) != 0)
		j->rc = -errno;
	if (close(fd) != 0 && j->rc == 0)
		j->rc = -errno;
	if (j->rc == 0 && rename(tmp, j->path) != 0)
		j->rc = -errno;
	if (j->rc != 0)
		unlink(tmp);
	else
		j->rc = fsync_dir(j->dir);
}

static void caps_save(struct airlink *a);

static void
caps_save_done(uv_work_t *req, int status)
{
	struct caps_save *j = req->data;
	struct airlink *a = j->a;
	int rc = status != 0 ? status : j->rc;

	a->pending--;
	a->caps_saving = false;
	if (rc != 0)
		GW_LOGE("link", "link=%s event=caps_save_failed path=%s "
		    "error=%s", a->cfg.name, j->path, gw_errname(rc));
	else
		GW_LOGI("link", "link=%s event=caps_saved path=%s bytes=%zu",
		    a->cfg.name, j->path, j->data.len);
	buf_fini(&j->data);
	free(j);
	if (a->closing) {
		maybe_finish_close(a);
		return;
	}
	if (a->caps_save_next) {
		a->caps_save_next = false;
		caps_save(a);
	}
}

/* Persist the far table as it is now (one save at a time). */
static void
caps_save(struct airlink *a)
{
	struct caps_save *j;
	char *slash;
	int rc;

	if (a->caps_path[0] == '\0' || a->closing)
		return;
	if (a->caps_saving) {
		a->caps_save_next = true;
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->a = a;
	j->req.data = j;
	snprintf(j->path, sizeof(j->path), "%s", a->caps_path);
	snprintf(j->dir, sizeof(j->dir), "%s", a->caps_path);
	slash = strrchr(j->dir, '/');
	if (slash == NULL)
		snprintf(j->dir, sizeof(j->dir), ".");
	else if (slash == j->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	buf_init(&j->data);
	if (a->peer_caps != NULL) {
		buf_appendf(&j->data, "%s%016" PRIx64 "\n", CAPS_FILE_TAG,
		    a->peer_digest);
		conneg_table_format(a->peer_caps, &j->data);
	}
	rc = uv_queue_work(a->env.loop, &j->req, caps_save_work,
	    caps_save_done);
	if (rc != 0) {
		GW_LOGE("link", "link=%s event=caps_save_failed error=%s",
		    a->cfg.name, uv_strerror(rc));
		buf_fini(&j->data);
		free(j);
		return;
	}
	a->caps_saving = true;
	a->pending++;
}

/* The transfer protocol received the far gateway's table. */
static int
on_peer_caps(void *arg, uint64_t digest, const uint8_t *text, size_t len)
{
	struct airlink *a = arg;
	struct conneg_table *t = NULL;
	char err[300], name[80];
	int rc;

	if (len > 0) {
		struct buf b = BUF_INIT;
		buf_append(&b, text, len);
		snprintf(name, sizeof(name), "link %s peer table", a->cfg.name);
		rc = conneg_table_parse(name, buf_cstr(&b), &t, err,
		    sizeof(err));
		buf_fini(&b);
		if (rc != 0) {
			GW_LOGW("link", "link=%s event=caps_rejected "
			    "digest=%016" PRIx64 " reason=\"%s\" "
			    "note=\"previous table stays\"", a->cfg.name,
			    digest, err);
			return rc;
		}
	}
	conneg_table_free(a->peer_caps);
	a->peer_caps = t;
	a->peer_digest = t ? digest : 0;
	GW_LOGI("link", "link=%s event=caps_received entries=%zu digest=%016"
	    PRIx64, a->cfg.name, t ? conneg_table_count(t) : 0,
	    a->peer_digest);
	caps_save(a);
	return 0;
}

/* At start (before the loop runs): the far table saved by an earlier
 * run. A file that does not parse is ignored (the far side sends its
 * table again, since we announce holding none). */
static void
caps_load(struct airlink *a)
{
	struct conneg_table *t = NULL;
	struct buf b = BUF_INIT;
	char chunk[4096], err[300];
	unsigned long long d = 0;
	size_t n;
	FILE *f;
	int rc;

	if (a->caps_path[0] == '\0')
		return;
	f = fopen(a->caps_path, "r");
	if (f == NULL) {
		if (errno != ENOENT)
			GW_LOGW("link", "link=%s event=caps_load_failed "
			    "path=%s error=%s", a->cfg.name, a->caps_path,
			    strerror(errno));
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
	    b.len <= XFER_CAPS_MAX + 128)
		buf_append(&b, chunk, n);
	fclose(f);
	if (b.len > XFER_CAPS_MAX + 128 ||
	    strncmp(buf_cstr(&b), CAPS_FILE_TAG, strlen(CAPS_FILE_TAG)) != 0 ||
	    sscanf(buf_cstr(&b) + strlen(CAPS_FILE_TAG), "%16llx", &d) != 1 ||
	    d == 0) {
		GW_LOGW("link", "link=%s event=caps_load_failed path=%s "
		    "reason=\"not a saved capability table\"", a->cfg.name,
		    a->caps_path);
		buf_fini(&b);
		return;
	}
	rc = conneg_table_parse(a->caps_path, buf_cstr(&b), &t, err,
	    sizeof(err));
	buf_fini(&b);
	if (rc != 0) {
		GW_LOGW("link", "link=%s event=caps_load_failed reason=\"%s\"",
		    a->cfg.name, err);
		return;
	}
	a->peer_caps = t;
	a->peer_digest = d;
	xfer_set_held_caps(a->xfer, d);
	GW_LOGI("link", "link=%s event=caps_loaded entries=%zu digest=%016llx",
	    a->cfg.name, conneg_table_count(t), d);
}

/* ---- the link session and the driver ---------------------------------- */

static void on_timer(uv_timer_t *t);

static void
arm_timer(struct airlink *a)
{
	int64_t dl = link_next_deadline_ms(a->link);
	int64_t now = now_ms(a);

	if (a->closing)
		return;
	if (dl == INT64_MAX || dl < 0) {
		uv_timer_stop(&a->timer);
		return;
	}
	uv_timer_start(&a->timer, on_timer, dl > now ? (uint64_t)(dl - now) : 0,
	    0);
}

/* Move frames from the link session into the driver while it takes them. */
static void
pump(struct airlink *a)
{
	int64_t now;
	int rc;

	if (a->closing || a->drv == NULL || drv_state(a->drv) != DRV_S_UP)
		goto out;
	now = now_ms(a);
	for (int i = 0; i < 256; i++) {
		if (!a->frame_pending) {
			if (link_poll(a->link, now, &a->frame) != 1)
				break;
			a->frame_pending = true;
		}
		rc = drv_write(a->drv, a->frame.data, a->frame.len);
		if (rc == GW_EAGAIN)
			break; /* DRV_EV_WRITABLE will call again */
		a->frame_pending = false;
		if (rc != 0) {
			GW_LOGW("link", "link=%s event=write_failed error=%s",
			    a->cfg.name, gw_errname(rc));
			break;
		}
	}
out:
	arm_timer(a);
}

static void
on_timer(uv_timer_t *t)
{
	struct airlink *a = t->data;

	if (a->closing)
		return;
	link_tick(a->link, now_ms(a));
	pump(a);
}

static void
up_state(void *arg, enum link_state st, int err, const char *reason)
{
	struct airlink *a = arg;
	enum link_state old = a->lstate;

	a->lstate = st;
	if (st == LINK_S_UP) {
		uint32_t f = link_features(a->link);
		GW_LOGI("link", "link=%s event=session_up peer=%s features=%u "
		    "dict=%u", a->cfg.name, link_peer_identity(a->link), f,
		    link_dict_id(a->link));
		xfer_link_up(a->xfer, xfer_opts_of(f),
		    (f & LINK_FEAT_DICT) ? link_dict_id(a->link) : 0);
		if (a->env.planner)
			planner_route_state(a->env.planner, a->proute,
			    SCHED_LINK_UP);
		feed(a);
	} else if (old == LINK_S_UP) {
		xfer_link_down(a->xfer);
		if (a->env.planner) {
			/* a final segment not acknowledged: back to ready */
			for (struct out_msg *o = a->outs; o; o = o->next)
				if (o->st == OM_SENDING)
					planner_commit_abort(a->env.planner,
					    planner_find(a->env.planner, o->id,
						a->proute));
			planner_route_state(a->env.planner, a->proute,
			    SCHED_LINK_DOWN);
		}
		GW_LOGW("link", "link=%s event=session_down state=%s "
		    "reason=\"%s\" error=%s", a->cfg.name, link_state_name(st),
		    reason ? reason : "", gw_errname(err));
	}
	if (st == LINK_S_ERROR) {
		/* Try again later: a peer that was down comes back, and an
		 * operator may fix a key or version at the other end. */
		int64_t wait = err == GW_EAUTH || err == GW_EVERSION ?
		    SETUP_RETRY_MISMATCH_MS : SETUP_RETRY_MS;
		a->retry_at_ms = now_ms(a) + wait;
		GW_LOGE("link", "link=%s event=session_error reason=\"%s\" "
		    "error=%s retry_in_s=%lld", a->cfg.name,
		    reason ? reason : "", gw_errname(err),
		    (long long)(wait / 1000));
	}
}

static size_t
up_pull(void *arg, uint8_t *p, size_t room)
{
	struct airlink *a = arg;
	return xfer_pull(a->xfer, p, room);
}

static bool
up_pending(void *arg)
{
	struct airlink *a = arg;
	return xfer_pending(a->xfer);
}

static void
up_deliver(void *arg, const uint8_t *p, size_t n)
{
	struct airlink *a = arg;

	a->last_good_ms = now_ms(a);
	xfer_deliver(a->xfer, p, n);
}

static void
on_drv_event(struct drv *d, const struct drv_event *ev, void *arg)
{
	struct airlink *a = arg;
	int64_t now = now_ms(a);

	(void)d;
	if (a->closing)
		return;
	switch (ev->type) {
	case DRV_EV_STATE:
		GW_LOGI("link", "link=%s event=driver_state from=%s to=%s "
		    "reason=\"%s\" rate=%u", a->cfg.name,
		    drv_state_name(ev->old_state), drv_state_name(ev->state),
		    ev->reason ? ev->reason : "", ev->rate_bps);
		if (ev->state == DRV_S_UP) {
			a->frame_pending = false;
			if (link_state(a->link) == LINK_S_IDLE ||
			    link_state(a->link) == LINK_S_ERROR)
				link_open(a->link, now);
		} else if (ev->old_state == DRV_S_UP) {
			a->frame_pending = false;
			link_reset(a->link, now, ev->reason ? ev->reason :
							      "carrier lost");
		}
		break;
	case DRV_EV_FRAME:
	case DRV_EV_DATA: {
		const struct link_stats *ls = link_get_stats(a->link);
		uint64_t bad = ls->drop_corrupt + ls->drop_proto +
		    ls->drop_auth + ls->drop_replay + ls->drop_state;
		uint64_t in = ls->frames_in;
		link_input(a->link, now, ev->data, ev->len);
		if (ls->frames_in > in && ls->drop_corrupt + ls->drop_proto +
		    ls->drop_auth + ls->drop_replay + ls->drop_state == bad)
			a->last_good_ms = now; /* a good frame, any kind */
		if (xfer_error(a->xfer) != 0)
			link_reset(a->link, now, "transfer stream error");
		break;
	}
	case DRV_EV_WRITABLE:
	case DRV_EV_CARRIER: /* channel state; the session has its own timers */
		break;
	}
	pump(a);
}

/* ---- start, info, close ----------------------------------------------- */

_Static_assert(AIRLINK_KEY_BYTES == LINK_KEY_BYTES, "one key size");

const char *const airlink_driver_names[] = { "serial", "pty", "kiss", "tcp",
	"sim", NULL };

int
airlink_load_key(const char *path, uint8_t key[AIRLINK_KEY_BYTES], char *why,
    size_t whylen)
{
	char text[256];
	size_t n, got = 0;
	const char *end = NULL;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(why, whylen, "cannot open key_file %s: %s", path,
		    strerror(errno));
		return GW_ECONFIG;
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* 64 hex digits; white space anywhere is skipped */
	if (sodium_hex2bin(key, AIRLINK_KEY_BYTES, text, n, " \t\r\n", &got,
		&end) != 0 || got != AIRLINK_KEY_BYTES) {
		snprintf(why, whylen, "key_file %s: want %u hex digits", path,
		    2 * AIRLINK_KEY_BYTES);
		return GW_ECONFIG;
	}
	for (; *end; end++)
		if (!isspace((unsigned char)*end)) {
			snprintf(why, whylen, "key_file %s: not hex", path);
			return GW_ECONFIG;
		}
	return 0;
}

static void
open_driver(struct airlink *a)
{
	int rc = drv_open(a->drv);

	if (rc != 0)
		GW_LOGW("link", "link=%s event=open_failed error=%s",
		    a->cfg.name, gw_errname(rc));
}

static void on_drv_closed(struct drv *d, void *arg);

/* After an operator link_down: a new driver instance for link_up. */
static void
restart_driver(struct airlink *a)
{
	int rc = drv_create(a->env.drivers, airlink_driver_names[a->cfg.driver],
	    &a->dcfg, &a->denv, on_drv_event, a, &a->drv);

	if (rc != 0) {
		GW_LOGE("link", "link=%s event=driver_failed error=%s",
		    a->cfg.name, gw_errname(rc));
		a->drv = NULL;
		return;
	}
	a->handles++;
	open_driver(a);
}

int
airlink_start(const struct airlink_env *env, const struct airlink_cfg *cfg,
    struct airlink **out)
{
	struct airlink *a = xcalloc(1, sizeof(*a));
	char err[600];
	int rc;

	a->env = *env;
	a->cfg = *cfg;
	a->last_good_ms = -1;
	a->enabled = cfg->enabled;
	status_sampler_init(&a->spark, 5000, clk_mono_ms(env->clock));
	snprintf(a->route, sizeof(a->route), "link:%s", cfg->name);
	buf_init(&a->frame);
	rc = prof_load_named(cfg->profile, NULL, &a->prof, err, sizeof(err));
	if (rc != 0) {
		GW_LOGE("link", "link=%s event=start_failed reason=\"%s\"",
		    cfg->name, err);
		free(a);
		return GW_ECONFIG;
	}
	a->prof_loaded = true;
	if (cfg->key_file[0]) {
		rc = airlink_load_key(cfg->key_file, a->key, err, sizeof(err));
		if (rc != 0) {
			GW_LOGE("link", "link=%s event=start_failed reason=\"%s\"",
			    cfg->name, err);
			prof_free(&a->prof);
			free(a);
			return rc;
		}
		a->has_key = true;
	}

	struct xfer_store store = {
		.read = store_read,
		.relayed = store_relayed,
		.committed = store_committed,
		.partial = store_partial,
		.commit = store_commit,
		.arg = a,
	};
	struct xfer_config xc = { 0 };
	struct drv_caps caps;
	drv_caps_from_prof(&a->prof, &caps);
	xc.clock = env->clock;
	xc.rate_bps = caps.rate_bps;
	xc.name = a->cfg.name;
	a->xfer = xfer_new(&xc, &store);
	xfer_set_sample(a->xfer, store_sample);
	xfer_set_caps_cb(a->xfer, on_peer_caps, a);
	if (env->data_dir && env->data_dir[0])
		snprintf(a->caps_path, sizeof(a->caps_path), "%s/peer-caps-%s",
		    env->data_dir, cfg->name);
	a->env.data_dir = NULL; /* the owner's string may go on reload */
	a->cfg_pack = !env->no_pack;
	caps_load(a);
	publish_local_caps(a);
	a->proute = -1;
	if (env->planner) {
		struct predict_link m;
		link_model_prof(a, &m);
		a->proute = planner_route(env->planner, a->route, &m);
		if (a->proute >= 0) {
			planner_set_owner(env->planner, a->proute, on_resolved,
			    a);
			xfer_set_pick(a->xfer, pick, a);
		} else {
			GW_LOGW("link", "link=%s event=no_planner_route "
			    "error=%s", cfg->name, gw_errname(a->proute));
			a->proute = -1;
		}
	}

	struct link_config lc = { 0 };
	lc.caps = caps;
	lc.identity = env->identity;
	lc.peer = cfg->peer[0] ? cfg->peer : NULL;
	lc.key = a->has_key ? a->key : NULL;
	/* The gateway whose name sorts first opens the session; without a
	 * configured peer this side only answers. */
	lc.initiator = cfg->peer[0] && strcmp(env->identity, cfg->peer) < 0;
	lc.dict_id = AIR_DICT_HEADERS;
	lc.features = LINK_FEAT_DEFLATE | LINK_FEAT_DICT | LINK_FEAT_ZSTD |
	    LINK_FEAT_ACKR | LINK_FEAT_SHA128;
	/* the driver's byte-stream framing costs airtime too (bursts are
	 * bounded by the profile's maximum transmission time) */
	if (a->prof.modem.framing != PROF_FRAMING_KISS)
		lc.frame_overhead_bytes = FRAMING_OVERHEAD;
	struct link_upper up = { up_pull, up_pending, up_deliver, up_state, a };
	a->link = link_new(&lc, &up);

	a->dcfg.prof = &a->prof;
	a->dcfg.device = a->cfg.device;
	a->dcfg.framing = a->prof.modem.framing == PROF_FRAMING_KISS ?
	    DRV_FRAMING_KISS : DRV_FRAMING_SYNC;
	a->dcfg.reconnect_min_ms = 1000;
	a->dcfg.reconnect_max_ms = 60000;
	a->denv.loop = env->loop;
	a->denv.clock = env->clock;
	rc = drv_create(env->drivers, airlink_driver_names[cfg->driver], &a->dcfg,
	    &a->denv, on_drv_event, a, &a->drv);
	if (rc != 0) {
		GW_LOGE("link", "link=%s event=start_failed reason=\"driver "
		    "%s: %s\"", cfg->name, airlink_driver_names[cfg->driver],
		    gw_strerror(rc));
		link_free(a->link);
		xfer_free(a->xfer);
		conneg_table_free(a->peer_caps);
		prof_free(&a->prof);
		free(a);
		return GW_ECONFIG;
	}
	uv_timer_init(env->loop, &a->timer);
	a->timer.data = a;
	uv_timer_init(env->loop, &a->feed_timer);
	a->feed_timer.data = a;
	a->handles = 3; /* two timers and the driver */
	uv_timer_start(&a->feed_timer, on_feed_timer, FEED_INTERVAL_MS,
	    FEED_INTERVAL_MS);
	GW_LOGI("link", "link=%s event=starting driver=%s device=%s "
	    "profile=%s peer=%s role=%s auth=%s", cfg->name,
	    airlink_driver_names[cfg->driver], cfg->device, a->prof.name,
	    cfg->peer[0] ? cfg->peer : "-",
	    lc.initiator ? "initiator" : "responder",
	    a->has_key ? "psk" : "none");
	if (cfg->enabled)
		open_driver(a);
	*out = a;
	return 0;
}

void
airlink_kick(struct airlink *a)
{
	feed(a);
}

const char *
airlink_name(const struct airlink *a)
{
	return a->cfg.name;
}

static enum status_link_state
status_state(struct airlink *a)
{
	enum drv_state ds = a->drv ? drv_state(a->drv) : DRV_S_DOWN;

	if (ds == DRV_S_OPENING || ds == DRV_S_DIALING)
		return STATUS_LINK_CONNECTING;
	if (ds != DRV_S_UP)
		return STATUS_LINK_DOWN;
	switch (link_activity(a->link, now_ms(a))) {
	case LINK_ACT_TX: return STATUS_LINK_SENDING;
	case LINK_ACT_RX: return STATUS_LINK_RECEIVING;
	case LINK_ACT_TURN: return STATUS_LINK_TURNAROUND;
	case LINK_ACT_IDLE: return STATUS_LINK_IDLE;
	default: return STATUS_LINK_CONNECTING;
	}
}

static void
close_driver(struct airlink *a)
{
	struct drv *d = a->drv;

	if (d == NULL || a->drv_closing)
		return;
	a->drv_closing = true;
	a->drv = NULL;
	a->frame_pending = false;
	drv_close(d, on_drv_closed, a);
}

void
airlink_fill_status(struct airlink *a, struct status_link *l,
    struct status_xfer *onair, size_t *n, size_t max)
{
	const struct link_stats *ls = link_get_stats(a->link);
	int64_t now = now_ms(a);
	uint64_t wire = ls->wire_bytes_out + ls->wire_bytes_in;

	memset(l, 0, sizeof(*l));
	status_strlcpy(l->name, a->cfg.name, sizeof(l->name));
	l->state = status_state(a);
	l->held = !a->enabled;
	status_strlcpy(l->profile, a->prof.name, sizeof(l->profile));
	status_strlcpy(l->peer, a->cfg.peer, sizeof(l->peer));
	l->nominal_bps = a->drv ? drv_caps(a->drv)->rate_bps :
				  (uint32_t)a->prof.air.rate_bps;
	l->measured_bps = ls->goodput_bps;
	l->tx_bytes = (int64_t)ls->wire_bytes_out;
	l->rx_bytes = (int64_t)ls->wire_bytes_in;
	l->tx_frames = (int64_t)ls->frames_out;
	l->rx_frames = (int64_t)ls->frames_in;
	l->retx_rate = ls->retrans_permille / 1000.0;
	l->last_good_ms = a->last_good_ms < 0 ? -1 : now - a->last_good_ms;
	l->auth_failures = (int64_t)ls->drop_auth;
	l->retransmits = (int64_t)ls->retransmits;
	l->turns = (int64_t)ls->turns;
	l->sessions = (int64_t)ls->sessions;
	l->sessions_lost = (int64_t)ls->sessions_lost;
	l->session_up = link_state(a->link) == LINK_S_UP;
	{
		const struct xfer_stats *xs = xfer_get_stats(a->xfer);
		l->saved_bytes = xs->plain_out > xs->comp_out ?
		    (int64_t)(xs->plain_out - xs->comp_out) : 0;
	}
	if (wire > a->spark_seen) {
		status_sampler_add(&a->spark, now, wire - a->spark_seen);
		a->spark_seen = wire;
	}
	status_sampler_fill(&a->spark, now, l);

	/* On the air: only the message the transfer is sending now. */
	uint8_t cur[QUEUE_ID_LEN];
	uint64_t off;
	bool all_sent;
	struct out_msg *o = NULL;
	if (a->enabled && *n < max &&
	    xfer_out_current(a->xfer, cur, &off, &all_sent) == 0)
		o = out_find(a, cur);
	if (o != NULL && o->st == OM_SENDING) {
		struct status_xfer *x = &onair[(*n)++];
		char hex[33];
		memset(x, 0, sizeof(*x));
		id_hex(o->id, hex);
		status_strlcpy(x->id, hex, sizeof(x->id));
		status_strlcpy(x->link, a->cfg.name, sizeof(x->link));
		status_strlcpy(x->sender, o->xenv.from, sizeof(x->sender));
		x->rcpts[0] = '\0';
		for (size_t i = 0; i < o->xenv.nrcpt; i++) {
			size_t used = strlen(x->rcpts);
			snprintf(x->rcpts + used, sizeof(x->rcpts) - used, "%s%s",
			    i ? "," : "", o->xenv.rcpt[i].addr);
		}
		x->priority = o->xenv.priority;
		x->band = o->band;
		x->bytes_total = (int64_t)o->xenv.size; /* on the air */
		x->bytes_sent = (int64_t)(off < o->xenv.size ? off :
							 o->xenv.size);
		x->committing = all_sent;
		x->eta_ms = -1; /* the daemon predicts it (ctlops) */
	}
}

void
airlink_model(struct airlink *a, struct predict_link *m, const char **route)
{
	link_model(a, m);
	*route = a->route;
}

void
airlink_set_enabled(struct airlink *a, bool on)
{
	if (a->closing || a->enabled == on)
		return;
	a->enabled = on;
	GW_LOGI("link", "link=%s event=%s by=operator", a->cfg.name,
	    on ? "link_up" : "link_down");
	if (on) {
		if (a->drv == NULL && !a->drv_closing)
			restart_driver(a);
		/* else on_drv_closed brings it back */
	} else {
		link_reset(a->link, now_ms(a), "taken down by the operator");
		close_driver(a);
	}
}

static void
maybe_finish_close(struct airlink *a)
{
	void (*done)(void *);
	void *arg;

	if (!a->closing || a->pending > 0 || a->handles > 0)
		return;
	while (a->outs)
		out_free(a, a->outs);
	while (a->ins) {
		struct in_msg *m = a->ins;
		a->ins = m->next;
		free(m);
	}
	link_free(a->link);
	xfer_free(a->xfer);
	conneg_table_free(a->peer_caps);
	prof_free(&a->prof);
	buf_fini(&a->frame);
	done = a->done;
	arg = a->done_arg;
	sodium_memzero(a->key, sizeof(a->key));
	free(a);
	if (done)
		done(arg);
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct airlink *a = h->data;

	a->handles--;
	maybe_finish_close(a);
}

static void
on_drv_closed(struct drv *d, void *arg)
{
	struct airlink *a = arg;

	(void)d;
	a->drv_closing = false;
	a->handles--;
	if (!a->closing && a->enabled && a->drv == NULL)
		restart_driver(a);
	maybe_finish_close(a);
}

void
airlink_close(struct airlink *a, void (*done)(void *), void *arg)
{
	if (a->closing)
		return;
	a->closing = true;
	a->done = done;
	a->done_arg = arg;
	if (a->env.planner && a->proute >= 0)
		planner_set_owner(a->env.planner, a->proute, NULL, NULL);
	GW_LOGI("link", "link=%s event=closing", a->cfg.name);
	link_close(a->link, now_ms(a), "gateway stopping");
	uv_timer_stop(&a->timer);
	uv_timer_stop(&a->feed_timer);
	uv_close((uv_handle_t *)&a->timer, on_handle_closed);
	uv_close((uv_handle_t *)&a->feed_timer, on_handle_closed);
	close_driver(a); /* a driver already closing reports in as well */
}
