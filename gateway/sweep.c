/*
 * sweep.c - the start-up pass over FAILED recipients (see sweep.h).
 *
 *   LISTING --queue_list(FAILED)--> for each message: LOADING --queue_load-->
 *   READING --queue_read_content, until the whole content--> STORING
 *   --intake_fail (DSN owed and the change, or the change alone)--> next
 *   message ... --> done
 *
 * A message whose step fails is logged and skipped (its rows stay FAILED
 * for the next start); the pass goes on with the next one.
 */
#include "gateway/sweep.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/mail/dsn.h"
#include "gateway/mail/intake.h"
#include "queue/queue.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MAX_ROWS 10000

struct sweep {
	struct sweep_env env;
	sweep_done_cb done;
	void *arg;
	bool canceled;
	/* the messages to visit */
	uint8_t (*ids)[QUEUE_ID_LEN];
	size_t nids, next;
	/* the message in hand */
	char hex[33];
	struct queue_envelope *qenv;
	int64_t *rids;        /* its FAILED recipients */
	char **status, **error;
	size_t *idx;          /* their index in qenv->rcpts */
	size_t nfailed;
	struct buf content;
	int64_t total;
	/* results */
	size_t moved, dsns;
	bool dsn_owed;             /* this message's store carries a DSN */
};

static void next_message(struct sweep *s);

static void
msg_clear(struct sweep *s)
{
	for (size_t i = 0; i < s->nfailed; i++) {
		free(s->status[i]);
		free(s->error[i]);
	}
	free(s->rids);
	free(s->status);
	free(s->error);
	free(s->idx);
	s->rids = NULL;
	s->status = s->error = NULL;
	s->idx = NULL;
	s->nfailed = 0;
	if (s->qenv != NULL)
		queue_envelope_free(s->qenv);
	s->qenv = NULL;
	buf_reset(&s->content);
	s->total = 0;
}

static void
sweep_free(struct sweep *s)
{
	msg_clear(s);
	buf_fini(&s->content);
	free(s->ids);
	free(s);
}

static void
finish(struct sweep *s)
{
	if (!s->canceled) {
		if (s->moved > 0)
			GW_LOGI("sweep", "event=swept rcpts=%zu dsns=%zu",
			    s->moved, s->dsns);
		if (s->done != NULL)
			s->done(s->arg, s->moved, s->dsns);
	}
	sweep_free(s);
}

/* A completion arrived: false when the pass was canceled meanwhile (and
 * has been freed). */
static bool
alive(struct sweep *s)
{
	if (!s->canceled)
		return true;
	sweep_free(s);
	return false;
}

static void
skip(struct sweep *s, const char *what, int err)
{
	GW_LOGW("sweep", "msg=%s event=sweep_skipped step=%s error=%s", s->hex,
	    what, gw_errname(err));
	next_message(s);
}

static void
on_stored(int status, void *arg)
{
	struct sweep *s = arg;

	if (!alive(s))
		return;
	if (status == GW_ESTATE) {
		/* the runner that failed them queued their DSN first (the
		 * change is allowed once; ours was rolled back whole) */
		GW_LOGI("sweep", "msg=%s event=already_done", s->hex);
		next_message(s);
		return;
	}
	if (status != 0) {
		skip(s, "store", status);
		return;
	}
	s->moved += s->nfailed;
	if (s->dsn_owed)
		s->dsns++;
	next_message(s);
}

/* The DSN (for the recipients owed one) and FAILED -> DSN_QUEUED for all
 * of them, in one transaction. */
static void
store(struct sweep *s)
{
	struct queue_change *ch = xcalloc(s->nfailed, sizeof(*ch));
	struct dsn_rcpt *dr = xcalloc(s->nfailed, sizeof(*dr));
	char (*diag)[480] = xcalloc(s->nfailed, sizeof(*diag));
	bool null_sender = s->qenv->reverse_path == NULL ||
	    s->qenv->reverse_path[0] == '\0';
	int64_t now = clk_wall_s(s->env.clock);
	size_t ndr = 0;
	struct dsn_report rep = { 0 };
	int rc;

	for (size_t i = 0; i < s->nfailed; i++) {
		const struct queue_rcpt *qr = &s->qenv->rcpts[s->idx[i]];
		ch[i].rid = s->rids[i];
		ch[i].to = QUEUE_R_DSN_QUEUED;
		if (!dsn_owed(null_sender, qr->notify, DSN_FAILED,
			DSN_WHY_NORMAL))
			continue;
		struct dsn_rcpt *d = &dr[ndr++];
		d->final_rcpt = qr->addr;
		d->orcpt = qr->orcpt;
		d->action = DSN_FAILED;
		d->status = s->status[i] ? s->status[i] : "5.0.0";
		snprintf(diag[i], sizeof(diag[i]), "x-skywave; %s",
		    s->error[i] ? s->error[i] : "delivery failed");
		d->diag = diag[i];
		d->last_attempt_s = now;
	}
	rep.reporting_mta = s->env.hostname;
	rep.orig = s->qenv;
	rep.rcpts = dr;
	rep.nrcpts = ndr;
	rep.content = s->content.data;
	rep.content_len = s->content.len;
	rep.now_s = now;
	s->dsn_owed = ndr > 0;
	rc = intake_fail(s->env.intake, &rep, ch, s->nfailed, on_stored, s);
	if (rc != 0) {
		free(ch);
		free(dr);
		free(diag);
		skip(s, "store", rc);
		return;
	}
	if (ndr > 0)
		GW_LOGI("sweep", "msg=%s event=dsn_owed_queued rcpts=%zu", s->hex,
		    ndr);
	free(ch);
	free(dr);
	free(diag);
}

static void
on_read(int status, const uint8_t *data, size_t len, int64_t total,
    void *arg)
{
	struct sweep *s = arg;
	int rc;

	if (!alive(s))
		return;
	if (status != 0) {
		skip(s, "read", status);
		return;
	}
	s->total = total;
	if (len > 0)
		buf_append(&s->content, data, len);
	if (len == 0 || (int64_t)s->content.len >= total) {
		store(s);
		return;
	}
	rc = queue_read_content(s->env.queue, s->ids[s->next - 1],
	    (int64_t)s->content.len, QUEUE_READ_MAX, on_read, s);
	if (rc != 0)
		skip(s, "read", rc);
}

static void
on_loaded(int status, const struct queue_msg_info *info, void *arg)
{
	struct sweep *s = arg;
	size_t n = 0;
	int rc;

	if (!alive(s))
		return;
	if (status != 0) {
		/* GW_ENOENT: collected meanwhile (nothing to do) */
		if (status == GW_ENOENT)
			next_message(s);
		else
			skip(s, "load", status);
		return;
	}
	for (size_t i = 0; i < info->env.nrcpts; i++)
		if (info->st[i].state == QUEUE_R_FAILED)
			n++;
	if (n == 0) {
		next_message(s);
		return;
	}
	s->qenv = queue_envelope_dup(&info->env);
	s->rids = xcalloc(n, sizeof(*s->rids));
	s->status = xcalloc(n, sizeof(*s->status));
	s->error = xcalloc(n, sizeof(*s->error));
	s->idx = xcalloc(n, sizeof(*s->idx));
	for (size_t i = 0; i < info->env.nrcpts; i++) {
		const struct queue_rcpt_status *st = &info->st[i];
		if (st->state != QUEUE_R_FAILED)
			continue;
		s->rids[s->nfailed] = st->rid;
		s->status[s->nfailed] = st->last_status ?
		    xstrdup(st->last_status) : NULL;
		s->error[s->nfailed] = st->last_error ?
		    xstrdup(st->last_error) : NULL;
		s->idx[s->nfailed++] = i;
	}
	rc = queue_read_content(s->env.queue, s->ids[s->next - 1], 0,
	    QUEUE_READ_MAX, on_read, s);
	if (rc != 0)
		skip(s, "read", rc);
}

static void
next_message(struct sweep *s)
{
	int rc;

	msg_clear(s);
	while (s->next < s->nids) {
		queue_id_hex(s->ids[s->next], s->hex);
		rc = queue_load(s->env.queue, s->ids[s->next++], on_loaded, s);
		if (rc == 0)
			return;
		GW_LOGW("sweep", "msg=%s event=sweep_skipped step=load "
		    "error=%s", s->hex, gw_errname(rc));
	}
	finish(s);
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_LEN);
}

static void
on_listed(int status, const struct queue_work *w, size_t n, void *arg)
{
	struct sweep *s = arg;

	if (!alive(s))
		return;
	if (status != 0) {
		GW_LOGW("sweep", "event=sweep_list_failed error=%s",
		    gw_errname(status));
		finish(s);
		return;
	}
	if (n == SWEEP_MAX_ROWS)
		GW_LOGW("sweep", "event=sweep_truncated rows=%zu "
		    "note=\"the rest at the next start\"", n);
	/* one visit per message: sort the ids, keep each once */
	s->ids = xcalloc(n ? n : 1, sizeof(*s->ids));
	for (size_t i = 0; i < n; i++)
		memcpy(s->ids[i], w[i].id, QUEUE_ID_LEN);
	qsort(s->ids, n, sizeof(*s->ids), id_cmp);
	for (size_t i = 0; i < n; i++)
		if (s->nids == 0 || memcmp(s->ids[s->nids - 1], s->ids[i],
		    QUEUE_ID_LEN) != 0)
			memmove(s->ids[s->nids++], s->ids[i], QUEUE_ID_LEN);
	next_message(s);
}

int
sweep_start(const struct sweep_env *env, sweep_done_cb done, void *arg,
    struct sweep **out)
{
	struct sweep *s = xcalloc(1, sizeof(*s));
	int rc;

	s->env = *env;
	s->done = done;
	s->arg = arg;
	buf_init(&s->content);
	rc = queue_list(env->queue, NULL, -1, 1u << QUEUE_R_FAILED,
	    SWEEP_MAX_ROWS, on_listed, s);
	if (rc != 0) {
		sweep_free(s);
		return rc;
	}
	if (out != NULL)
		*out = s;
	return 0;
}

void
sweep_cancel(struct sweep *s)
{
	s->canceled = true;
}
