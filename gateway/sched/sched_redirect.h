/*
 * sched_redirect.h - the redirected copy for an alternate recipient.
 *
 * When the scheduler decides SCHED_ACT_REDIRECT for a recipient, the caller
 * builds the copy here and submits it with the original content prefixed by
 * the trace header, then marks the primary recipient resolved (redirected)
 * in the same queue transaction, so the primary is never delivered later.
 *
 * The copy (seed slides, "next hop" example):
 *   - is addressed to the alternate only, with no ARCPT and no ABY, so a
 *     redirect never chains;
 *   - carries the remaining BY time, rounded down to whole seconds, with
 *     the original mode and trace flag; a BY;R message with less than one
 *     whole second left is not redirected (GW_ETIMEDOUT: fail it 5.4.7);
 *   - keeps sender, ENVID, RET, BODY, priority and band, and NOTIFY;
 *   - keeps the original ORCPT, or records the primary as ORCPT
 *     (rfc822;xtext) so any later DSN names the original recipient;
 *   - is routed afresh by the caller (route NULL): the alternate's own
 *     route, which may be another link, local delivery or SMTP.
 *
 * Trace header, prepended to the copy's content (defined by skywave; the
 * altrecip draft leaves it open):
 *
 *   redirect-field = "Alternate-Recipient-Redirect:" SP
 *                    "<" primary ">" SP "to" SP "<" alternate ">" ";"
 *                    FWS "cause=" cause-name [SP "(" detail ")"] ";"
 *                    FWS "by" SP reporting-host ";" FWS date-time CRLF
 *   cause-name     = the sched_cause_name() strings: predicted-late,
 *                    alternate-deadline-expired, permanent-error,
 *                    persistent-temporary-error, route-down,
 *                    queue-lifetime-expired
 *
 * Example:
 *   Alternate-Recipient-Redirect: <topbanana@example.net> to
 *    <bottom-apple@loc2.example.org>; cause=predicted-late;
 *    by gw1.example; Mon, 23 Nov 2026 21:30:00 +0000
 *
 * Pure; no clock, no I/O.
 */
#ifndef GW_GATEWAY_SCHED_REDIRECT_H
#define GW_GATEWAY_SCHED_REDIRECT_H

#include "common/buf.h"
#include "gateway/sched/sched_rules.h"
#include "queue/queue_types.h"

#include <stddef.h>
#include <stdint.h>

struct sched_redirect {
	const struct queue_envelope *orig;
	size_t rcpt;               /* index of the primary in orig->rcpts */
	enum sched_cause cause;
	const char *detail;        /* e.g. the hop's reply, or NULL */
	int64_t by_left_ms;        /* from the decision (0: no BY) */
	int64_t now_s;             /* wall clock */
	const char *reporting_mta;
};

/* Build the copy's envelope (*env_out, caller owns) and append the trace
 * header to hdr. Returns 0; GW_EINVAL when the recipient has no ARCPT or
 * its address cannot be decoded; GW_ETIMEDOUT when a BY;R has no whole
 * second left. */
int sched_redirect_build(const struct sched_redirect *r,
    struct queue_envelope **env_out, struct buf *hdr);

/* The alternate's address from an ARCPT value "rfc822;xtext" into out.
 * 0, or GW_EINVAL (not rfc822, bad xtext, too long). */
int sched_redirect_alt_addr(const char *arcpt, char *out, size_t len);

/* xtext-encode s (RFC 3461) onto b. */
void sched_redirect_xtext_encode(struct buf *b, const char *s);

#endif
