/*
 * sched_dsn.c - turn scheduler decisions into one DSN per message.
 *
 * Contract: pure; see sched_dsn.h.
 */
#include "gateway/sched/sched_dsn.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/mail/dsn.h"
#include "gateway/sched/sched_redirect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
sched_dsn_cause_text(enum sched_cause c)
{
	switch (c) {
	case SCHED_CAUSE_PREDICTED:
		return "predicted not to reach the recipient by the deadline "
		    "on this route";
	case SCHED_CAUSE_ABY_EXPIRED:
		return "not delivered within the alternate-recipient deadline";
	case SCHED_CAUSE_BY_EXPIRED:
		return "deliver-by time expired";
	case SCHED_CAUSE_CERTAIN_MISS:
		return "deliver-by time cannot be met: less time is left than "
		    "the transmission itself needs";
	case SCHED_CAUSE_PERMFAIL:
		return "permanent failure at the next hop";
	case SCHED_CAUSE_TEMPFAIL:
		return "temporary failures at the next hop for too long";
	case SCHED_CAUSE_ROUTE_DOWN:
		return "route to the recipient down for too long";
	case SCHED_CAUSE_LIFETIME:
		return "maximum time in queue exceeded";
	case SCHED_CAUSE_BY_PASSED:
		return "deliver-by time passed; delivery continues";
	case SCHED_CAUSE_DELAY_WARN:
		return "not delivered yet; still trying";
	case SCHED_CAUSE_RELAYED:
		return "relayed to the next hop";
	case SCHED_CAUSE_DELIVERED:
		return "delivered";
	case SCHED_CAUSE_NONE:
		break;
	}
	return "unknown";
}

int
sched_dsn_build(const struct sched_dsn_in *in,
    struct queue_envelope **env_out, struct buf *out)
{
	const struct queue_envelope *e = in->env;
	struct dsn_rcpt *rc;
	struct dsn_report r;
	char (*alt)[512], (*diag)[768];
	size_t i, n = 0;
	int err;

	*env_out = NULL;
	if (e == NULL || e->reverse_path == NULL || e->reverse_path[0] == '\0')
		return GW_ENOENT;
	rc = xcalloc(in->ndec + 1, sizeof(*rc));
	alt = xcalloc(in->ndec + 1, sizeof(*alt));
	diag = xcalloc(in->ndec + 1, sizeof(*diag));
	for (i = 0; i < in->ndec; i++) {
		const struct sched_decision *d = &in->dec[i];
		const struct queue_rcpt *q;

		if (!d->dsn)
			continue;
		if (memcmp(d->id, e->id, QUEUE_ID_LEN) != 0 ||
		    d->rcpt_idx >= e->nrcpts) {
			err = GW_EINVAL;
			goto out;
		}
		q = &e->rcpts[d->rcpt_idx];
		rc[n].final_rcpt = q->addr;
		rc[n].orcpt = q->orcpt;
		rc[n].action = d->dsn_action;
		rc[n].status = d->status;
		if (d->cause == SCHED_CAUSE_PERMFAIL && in->detail &&
		    strstr(in->detail, "; ") != NULL)
			snprintf(diag[n], sizeof(diag[n]), "%s", in->detail);
		else if (d->cause == SCHED_CAUSE_PERMFAIL && in->detail)
			snprintf(diag[n], sizeof(diag[n]), "smtp; %s",
			    in->detail);
		else
			snprintf(diag[n], sizeof(diag[n]), "X-Skywave; %s: %s",
			    sched_cause_name(d->cause),
			    sched_dsn_cause_text(d->cause));
		rc[n].diag = diag[n];
		rc[n].remote_mta = in->remote_mta;
		if (d->act == SCHED_ACT_REDIRECT) {
			if (sched_redirect_alt_addr(q->arcpt, alt[n],
			    sizeof(alt[n])) == 0)
				rc[n].alternate = alt[n];
			rc[n].redirect_cause = sched_cause_name(d->cause);
		}
		if (d->act == SCHED_ACT_FAIL || d->act == SCHED_ACT_REDIRECT)
			rc[n].last_attempt_s = in->now_s;
		n++;
	}
	if (n == 0) {
		err = GW_ENOENT;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = in->reporting_mta;
	r.orig = e;
	r.rcpts = rc;
	r.nrcpts = n;
	r.content = in->content;
	r.content_len = in->content_len;
	r.now_s = in->now_s;
	err = dsn_build(&r, env_out, out);
out:
	free(rc);
	free(alt);
	free(diag);
	return err;
}
