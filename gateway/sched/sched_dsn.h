/*
 * sched_dsn.h - the DSN owed for scheduler decisions about one message.
 *
 * Glue between sched (decisions) and dsn (reports): the caller collects the
 * decisions of one sched_out that concern one message and have dsn set,
 * and gets back a report (envelope + content) for queue_submit(). Per
 * recipient: Final-Recipient from the envelope, Original-Recipient from its
 * ORCPT, Action and Status from the decision, a Diagnostic-Code naming the
 * cause (the hop's own reply when one is given), and for a redirect the
 * alternate and the cause as extension fields.
 *
 * Pure; no clock (now_s is passed), no I/O.
 */
#ifndef GW_GATEWAY_SCHED_DSN_H
#define GW_GATEWAY_SCHED_DSN_H

#include "common/buf.h"
#include "gateway/sched/sched.h"
#include "queue/queue_types.h"

#include <stddef.h>
#include <stdint.h>

struct sched_dsn_in {
	const struct sched_decision *dec; /* decisions about env only */
	size_t ndec;                       /* those without dsn are skipped */
	const struct queue_envelope *env;
	const uint8_t *content;            /* original message, or NULL */
	size_t content_len;
	const char *reporting_mta;
	const char *detail;   /* the Diagnostic-Code ("smtp; 550 5.1.1 ...") or
				 the hop's reply ("550 5.1.1 ..."), or NULL */
	const char *remote_mta; /* "dns; host" of that hop, or NULL */
	int64_t now_s;
};

/* One sentence on why, for the report ("deliver-by time expired"). */
const char *sched_dsn_cause_text(enum sched_cause c);

/* Build the report. Returns 0 with *env_out and out filled; GW_ENOENT when
 * nothing is owed (no decision with dsn, or reverse path <>); GW_EINVAL for
 * a decision about another message or a recipient index out of range. */
int sched_dsn_build(const struct sched_dsn_in *in,
    struct queue_envelope **env_out, struct buf *out);

#endif
