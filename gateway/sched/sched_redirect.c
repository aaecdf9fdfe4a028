/*
 * sched_redirect.c - build the alternate recipient's copy and its trace
 * header (format in sched_redirect.h).
 *
 * Contract: pure; the caller owns the returned envelope and the buffer.
 */
#include "gateway/sched/sched_redirect.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/mail/dsn.h"
#include "gateway/sched/sched_rules.h"

#include <string.h>
#include <strings.h>

int
sched_redirect_alt_addr(const char *arcpt, char *out, size_t len)
{
	const char *semi;

	if (arcpt == NULL || (semi = strchr(arcpt, ';')) == NULL)
		return GW_EINVAL;
	if ((size_t)(semi - arcpt) != 6 || strncasecmp(arcpt, "rfc822", 6) != 0)
		return GW_EINVAL;
	if (dsn_xtext_decode(semi + 1, out, len) != 0 || out[0] == '\0')
		return GW_EINVAL;
	return 0;
}

void
sched_redirect_xtext_encode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < '!' || c > '~' || c == '+' || c == '=')
			buf_appendf(b, "+%02X", c);
		else
			buf_append_byte(b, c);
	}
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int
sched_redirect_build(const struct sched_redirect *r,
    struct queue_envelope **env_out, struct buf *hdr)
{
	const struct queue_envelope *o = r->orig;
	const struct queue_rcpt *p;
	struct queue_envelope *e;
	char alt[512], date[64];
	int64_t left_s = 0;
	struct buf orcpt = BUF_INIT;

	*env_out = NULL;
	if (o == NULL || r->rcpt >= o->nrcpts)
		return GW_EINVAL;
	p = &o->rcpts[r->rcpt];
	if (sched_redirect_alt_addr(p->arcpt, alt, sizeof(alt)) != 0)
		return GW_EINVAL;
	if (o->by_deadline != 0) {
		left_s = sched_rules_by_left_s(r->by_left_ms, 0);
		if ((o->by_mode == 'R' || o->by_mode == 'r') && left_s <= 0)
			return GW_ETIMEDOUT;
	}

	e = xcalloc(1, sizeof(*e));
	e->reverse_path = xstrdup(o->reverse_path ? o->reverse_path : "");
	e->priority = o->priority;
	e->band = o->band;
	if (o->by_deadline != 0) {
		e->by_deadline = r->now_s + left_s;
		if (e->by_deadline == 0)
			e->by_deadline = -1;
		e->by_mode = o->by_mode;
		e->by_trace = o->by_trace;
	}
	e->aby_deadline = 0;
	e->envid = dup_or_null(o->envid);
	e->ret = o->ret;
	e->body = o->body;
	e->size_declared = o->size_declared;
	e->arrival = r->now_s;
	e->client = dup_or_null(o->client);
	e->conperm = o->conperm;
	e->rcpts = xcalloc(1, sizeof(*e->rcpts));
	e->nrcpts = 1;
	e->rcpts[0].addr = xstrdup(alt);
	e->rcpts[0].notify = p->notify;
	if (p->orcpt) {
		e->rcpts[0].orcpt = xstrdup(p->orcpt);
	} else {
		buf_append_str(&orcpt, "rfc822;");
		sched_redirect_xtext_encode(&orcpt, p->addr);
		e->rcpts[0].orcpt = xstrdup(buf_cstr(&orcpt));
		buf_fini(&orcpt);
	}
	e->rcpts[0].arcpt = NULL;
	e->rcpts[0].flags = p->flags;
	e->rcpts[0].route = NULL;

	dsn_format_date(r->now_s, date, sizeof(date));
	buf_appendf(hdr, "Alternate-Recipient-Redirect: <%s> to\r\n <%s>; "
	    "cause=%s", p->addr, alt, sched_cause_name(r->cause));
	if (r->detail && r->detail[0]) {
		const char *c;

		buf_append_str(hdr, " (");
		for (c = r->detail; *c; c++)
			if (*c >= ' ' && *c <= '~' && *c != '(' && *c != ')' &&
			    *c != '\\')
				buf_append_byte(hdr, (uint8_t)*c);
		buf_append_str(hdr, ")");
	}
	buf_appendf(hdr, ";\r\n by %s; %s\r\n",
	    r->reporting_mta ? r->reporting_mta : "localhost", date);
	*env_out = e;
	return 0;
}
