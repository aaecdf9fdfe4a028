/*
 * dsn.c - DSN rules, report generation and parsing.
 *
 * Contract: pure; times come in as arguments; output goes to caller-owned
 * buffers and a new envelope. Thread-agnostic.
 *
 * Choices made here (skywave's, within RFC 3461/3464 latitude):
 *   - RET absent on a failure returns headers only: the report may travel
 *     back over HF, where every byte costs airtime.
 *   - ENVID and the ORCPT address are shown decoded from xtext.
 *   - A redirect to an alternate recipient is reported as Action: relayed,
 *     Status: 2.0.0, with two extension fields naming the alternate and the
 *     cause (X-Skywave-Alternate-Recipient, X-Skywave-Redirect-Cause), the
 *     Original-Recipient kept, and the cause also in Diagnostic-Code.
 *   - The report is sent from <> to the original sender with NOTIFY=NEVER
 *     and the original's MT-PRIORITY and band (RFC 6710: a DSN SHOULD carry
 *     the original priority).
 */
#include "gateway/mail/dsn.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const action_names[] = {
#define DSN__ACTION_NAME(n, s) s,
	DSN_ACTION_MAP(DSN__ACTION_NAME)
#undef DSN__ACTION_NAME
};

const char *
dsn_action_name(enum dsn_action a)
{
	if ((size_t)a >= sizeof(action_names) / sizeof(action_names[0]))
		return "unknown";
	return action_names[a];
}

int
dsn_action_parse(const char *s, enum dsn_action *out)
{
	size_t i;

	for (i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++)
		if (strcasecmp(s, action_names[i]) == 0) {
			*out = (enum dsn_action)i;
			return 0;
		}
	return GW_EINVAL;
}

bool
dsn_owed(bool null_sender, unsigned notify, enum dsn_action a,
    enum dsn_why why)
{
	if (null_sender || (notify & QUEUE_NOTIFY_NEVER))
		return false;
	if (why == DSN_WHY_TRACE)
		return true;
	if (why == DSN_WHY_REDIRECT)
		return notify == 0 || (notify & (QUEUE_NOTIFY_FAILURE |
		    QUEUE_NOTIFY_SUCCESS)) != 0;
	switch (a) {
	case DSN_FAILED:
		return notify == 0 || (notify & QUEUE_NOTIFY_FAILURE) != 0;
	case DSN_DELAYED:
		return notify == 0 || (notify & QUEUE_NOTIFY_DELAY) != 0;
	case DSN_DELIVERED:
	case DSN_RELAYED:
	case DSN_EXPANDED:
		return (notify & QUEUE_NOTIFY_SUCCESS) != 0;
	}
	return false;
}

void
dsn_format_date(int64_t t_s, char *out, size_t len)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)t_s;
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(out, len, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(out, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
dsn_xtext_decode(const char *in, char *out, size_t len)
{
	size_t o = 0;
	int h, l;

	if (len == 0)
		return GW_ETOOBIG;
	for (; *in; in++) {
		int c = (unsigned char)*in;

		if (c == '+') {
			h = hexval((unsigned char)in[1]);
			l = h < 0 ? -1 : hexval((unsigned char)in[2]);
			if (h < 0 || l < 0)
				return GW_ESYNTAX;
			c = h * 16 + l;
			in += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return GW_ESYNTAX;
		}
		if (o + 1 >= len)
			return GW_ETOOBIG;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

/* Append "type;addr" with the xtext part decoded (raw if it is bad). */
static void
append_orcpt(struct buf *b, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	char dec[1024];

	if (semi == NULL || dsn_xtext_decode(semi + 1, dec, sizeof(dec)) != 0) {
		buf_append_str(b, orcpt);
		return;
	}
	buf_append(b, orcpt, (size_t)(semi - orcpt));
	buf_appendf(b, ";%s", dec);
}

/* Length of the header section of content (through the blank line). */
static size_t
header_len(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < len && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* Only printable ASCII goes into generated header fields. */
static void
append_clean(struct buf *b, const char *s)
{
	for (; *s; s++)
		buf_append_byte(b, (*s >= ' ' && *s <= '~') ? (uint8_t)*s :
		    (uint8_t)'?');
}

static int
rank(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return 4;
	case DSN_DELAYED:
		return 3;
	case DSN_RELAYED:
		return 2;
	default:
		return 1;
	}
}

int
dsn_build(const struct dsn_report *r, struct queue_envelope **env_out,
    struct buf *out)
{
	const struct queue_envelope *o = r->orig;
	struct queue_envelope *e;
	enum dsn_action worst = DSN_DELIVERED;
	bool redirect = false, full;
	char date[64], bnd[96], envid[256];
	size_t i, hl;
	unsigned k;

	*env_out = NULL;
	if (o == NULL || r->reporting_mta == NULL || !r->reporting_mta[0])
		return GW_EINVAL;
	if (o->reverse_path == NULL || o->reverse_path[0] == '\0' ||
	    r->nrcpts == 0)
		return GW_ENOENT;
	for (i = 0; i < r->nrcpts; i++) {
		if (rank(r->rcpts[i].action) > rank(worst))
			worst = r->rcpts[i].action;
		if (r->rcpts[i].alternate)
			redirect = true;
	}
	full = worst == DSN_FAILED && o->ret == QUEUE_RET_FULL;

	/* A boundary that does not occur in the returned content. */
	for (k = 0;; k++) {
		int n = snprintf(bnd, sizeof(bnd), "=_skywave_dsn_");
		for (i = 0; i < QUEUE_ID_LEN; i++)
			n += snprintf(bnd + n, sizeof(bnd) - (size_t)n, "%02x",
			    o->id[i]);
		snprintf(bnd + n, sizeof(bnd) - (size_t)n, "_%lld_%u",
		    (long long)r->now_s, k);
		if (r->content == NULL || memmem(r->content, r->content_len,
		    bnd, strlen(bnd)) == NULL)
			break;
	}

	dsn_format_date(r->now_s, date, sizeof(date));
	buf_appendf(out, "From: Mail Delivery System <MAILER-DAEMON@");
	append_clean(out, r->reporting_mta);
	buf_append_str(out, ">\r\nTo: <");
	append_clean(out, o->reverse_path);
	buf_appendf(out, ">\r\nSubject: Delivery Status Notification (%s)\r\n",
	    redirect ? "Redirected to alternate recipient" :
	    worst == DSN_FAILED ? "Failure" : worst == DSN_DELAYED ? "Delay" :
	    worst == DSN_RELAYED ? "Relayed" : "Success");
	buf_appendf(out, "Date: %s\r\nMessage-ID: <", date);
	for (i = 0; i < QUEUE_ID_LEN; i++)
		buf_appendf(out, "%02x", o->id[i]);
	buf_appendf(out, ".%lld.dsn@", (long long)r->now_s);
	append_clean(out, r->reporting_mta);
	buf_appendf(out, ">\r\nMIME-Version: 1.0\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated delivery status notification.\r\n"
	    "\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n", bnd, bnd);

	/* Human-readable part. */
	buf_append_str(out, "This is the mail gateway at ");
	append_clean(out, r->reporting_mta);
	buf_append_str(out, ".\r\n\r\n");
	for (i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *d = &r->rcpts[i];

		buf_append_str(out, "<");
		append_clean(out, d->final_rcpt);
		if (d->alternate) {
			buf_append_str(out, ">: redirected to the alternate "
			    "recipient <");
			append_clean(out, d->alternate);
			buf_append_str(out, ">");
			if (d->redirect_cause) {
				buf_append_str(out, " (");
				append_clean(out, d->redirect_cause);
				buf_append_str(out, ")");
			}
		} else {
			buf_appendf(out, ">: %s, status ",
			    dsn_action_name(d->action));
			append_clean(out, d->status ? d->status : "");
		}
		if (d->diag) {
			buf_append_str(out, "\r\n    ");
			append_clean(out, d->diag);
		}
		buf_append_str(out, "\r\n");
	}
	if (o->by_deadline != 0)
		buf_appendf(out, "\r\nThe sender asked for delivery by a "
		    "deadline (mode %c).\r\n", o->by_mode ? o->by_mode : 'R');

	/* message/delivery-status */
	buf_appendf(out, "\r\n--%s\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n", bnd);
	buf_append_str(out, "Reporting-MTA: dns; ");
	append_clean(out, r->reporting_mta);
	buf_append_str(out, "\r\n");
	if (r->received_from_mta) {
		buf_append_str(out, "Received-From-MTA: ");
		append_clean(out, r->received_from_mta);
		buf_append_str(out, "\r\n");
	}
	if (o->envid) {
		buf_append_str(out, "Original-Envelope-Id: ");
		if (dsn_xtext_decode(o->envid, envid, sizeof(envid)) == 0)
			append_clean(out, envid);
		else
			append_clean(out, o->envid);
		buf_append_str(out, "\r\n");
	}
	if (o->arrival != 0) {
		dsn_format_date(o->arrival, date, sizeof(date));
		buf_appendf(out, "Arrival-Date: %s\r\n", date);
	}
	if (o->by_deadline != 0) {
		dsn_format_date(o->by_deadline, date, sizeof(date));
		buf_appendf(out, "Deliver-By-Date: %s\r\n", date);
	}
	for (i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *d = &r->rcpts[i];

		buf_append_str(out, "\r\n");
		if (d->orcpt) {
			buf_append_str(out, "Original-Recipient: ");
			append_orcpt(out, d->orcpt);
			buf_append_str(out, "\r\n");
		}
		buf_append_str(out, "Final-Recipient: rfc822; ");
		append_clean(out, d->final_rcpt);
		buf_appendf(out, "\r\nAction: %s\r\nStatus: ",
		    dsn_action_name(d->action));
		append_clean(out, d->status ? d->status : "5.0.0");
		buf_append_str(out, "\r\n");
		if (d->remote_mta) {
			buf_append_str(out, "Remote-MTA: ");
			append_clean(out, d->remote_mta);
			buf_append_str(out, "\r\n");
		}
		if (d->diag) {
			buf_append_str(out, "Diagnostic-Code: ");
			append_clean(out, d->diag);
			buf_append_str(out, "\r\n");
		}
		if (d->last_attempt_s) {
			dsn_format_date(d->last_attempt_s, date, sizeof(date));
			buf_appendf(out, "Last-Attempt-Date: %s\r\n", date);
		}
		if (d->will_retry_until_s && d->action == DSN_DELAYED) {
			dsn_format_date(d->will_retry_until_s, date,
			    sizeof(date));
			buf_appendf(out, "Will-Retry-Until: %s\r\n", date);
		}
		if (d->alternate) {
			buf_append_str(out,
			    "X-Skywave-Alternate-Recipient: rfc822; ");
			append_clean(out, d->alternate);
			buf_append_str(out, "\r\n");
		}
		if (d->redirect_cause) {
			buf_append_str(out, "X-Skywave-Redirect-Cause: ");
			append_clean(out, d->redirect_cause);
			buf_append_str(out, "\r\n");
		}
	}

	/* The returned message or its headers. */
	if (r->content != NULL && r->content_len > 0) {
		hl = header_len(r->content, r->content_len);
		buf_appendf(out, "\r\n--%s\r\nContent-Type: %s\r\n"
		    "Content-Description: %s\r\n\r\n", bnd,
		    full ? "message/rfc822" : "text/rfc822-headers",
		    full ? "Undelivered message" : "Message headers");
		buf_append(out, r->content, full ? r->content_len : hl);
		if (out->len < 2 || out->data[out->len - 1] != '\n')
			buf_append_str(out, "\r\n");
	}
	buf_appendf(out, "\r\n--%s--\r\n", bnd);

	e = xcalloc(1, sizeof(*e));
	e->reverse_path = xstrdup("");
	e->priority = o->priority;
	e->band = o->band;
	e->arrival = r->now_s;
	e->ret = QUEUE_RET_NONE;
	e->body = QUEUE_BODY_7BIT;
	e->rcpts = xcalloc(1, sizeof(*e->rcpts));
	e->nrcpts = 1;
	e->rcpts[0].addr = xstrdup(o->reverse_path);
	e->rcpts[0].notify = QUEUE_NOTIFY_NEVER;
	*env_out = e;
	return 0;
}

/* ---- parser ---- */

struct cursor {
	const uint8_t *p;
	size_t len, pos;
};

/* Next line without its CR LF; false at the end. */
static bool
next_line(struct cursor *c, const char **line, size_t *n)
{
	size_t s = c->pos, e;

	if (c->pos >= c->len)
		return false;
	for (e = s; e < c->len && c->p[e] != '\n'; e++)
		;
	c->pos = e < c->len ? e + 1 : e;
	if (e > s && c->p[e - 1] == '\r')
		e--;
	*line = (const char *)c->p + s;
	*n = e - s;
	return true;
}

static void
copy_field(char *dst, size_t dlen, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= dlen)
		n = dlen - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Header block reader with unfolding: calls fn for each field. Stops after
 * the blank line (or at end). */
typedef void (*field_fn)(void *arg, const char *name, const char *value);

static void
read_fields(struct cursor *c, field_fn fn, void *arg)
{
	char cur[2048] = "";
	size_t cl = 0, n;
	const char *l, *colon;

	for (;;) {
		bool more = next_line(c, &l, &n);

		if (more && n > 0 && (l[0] == ' ' || l[0] == '\t') && cl > 0) {
			if (cl + n < sizeof(cur) - 1) {
				memcpy(cur + cl, l, n);
				cl += n;
				cur[cl] = '\0';
			}
			continue;
		}
		if (cl > 0 && (colon = strchr(cur, ':')) != NULL) {
			char name[128];
			size_t nl = (size_t)(colon - cur);

			if (nl >= sizeof(name))
				nl = sizeof(name) - 1;
			memcpy(name, cur, nl);
			name[nl] = '\0';
			fn(arg, name, colon + 1);
		}
		cl = 0;
		cur[0] = '\0';
		if (!more || n == 0)
			return;
		if (n < sizeof(cur) - 1) {
			memcpy(cur, l, n);
			cl = n;
			cur[cl] = '\0';
		}
	}
}

struct top {
	struct dsn_parsed *out;
	char ctype[1024];
	char part_ctype[256];
};

#define SETF(dst, v) copy_field((dst), sizeof(dst), (v), strlen(v))

static void
top_field(void *arg, const char *name, const char *v)
{
	struct top *t = arg;

	if (strcasecmp(name, "From") == 0)
		SETF(t->out->from, v);
	else if (strcasecmp(name, "To") == 0)
		SETF(t->out->to, v);
	else if (strcasecmp(name, "Subject") == 0)
		SETF(t->out->subject, v);
	else if (strcasecmp(name, "Content-Type") == 0)
		SETF(t->ctype, v);
}

static void
part_field(void *arg, const char *name, const char *v)
{
	struct top *t = arg;

	if (strcasecmp(name, "Content-Type") == 0)
		SETF(t->part_ctype, v);
}

/* Value of parameter name in a Content-Type value (quotes removed). */
static bool
ctype_param(const char *ct, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	const char *p = ct, *e;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		if (*p == '"') {
			p++;
			e = strchr(p, '"');
		} else {
			for (e = p; *e && *e != ';' && *e != ' ' && *e != '\t';
			    e++)
				;
		}
		if (e == NULL)
			return false;
		copy_field(out, len, p, (size_t)(e - p));
		return true;
	}
	return false;
}

struct status_ctx {
	struct dsn_parsed *out;
	struct dsn_parsed_rcpt *rc; /* NULL: per-message group */
};

static void
status_field(void *arg, const char *name, const char *v)
{
	struct status_ctx *sc = arg;
	struct dsn_parsed *o = sc->out;
	struct dsn_parsed_rcpt *r = sc->rc;

	if (r == NULL) {
		if (strcasecmp(name, "Reporting-MTA") == 0)
			SETF(o->reporting_mta, v);
		else if (strcasecmp(name, "Original-Envelope-Id") == 0)
			SETF(o->envid, v);
		else if (strcasecmp(name, "Arrival-Date") == 0)
			SETF(o->arrival_date, v);
		else if (strcasecmp(name, "Deliver-By-Date") == 0)
			SETF(o->deliver_by_date, v);
		else if (strcasecmp(name, "Received-From-MTA") == 0)
			SETF(o->received_from_mta, v);
		return;
	}
	if (strcasecmp(name, "Original-Recipient") == 0)
		SETF(r->original_rcpt, v);
	else if (strcasecmp(name, "Final-Recipient") == 0)
		SETF(r->final_rcpt, v);
	else if (strcasecmp(name, "Action") == 0)
		SETF(r->action, v);
	else if (strcasecmp(name, "Status") == 0)
		SETF(r->status, v);
	else if (strcasecmp(name, "Diagnostic-Code") == 0)
		SETF(r->diag, v);
	else if (strcasecmp(name, "Remote-MTA") == 0)
		SETF(r->remote_mta, v);
	else if (strcasecmp(name, "Last-Attempt-Date") == 0)
		SETF(r->last_attempt, v);
	else if (strcasecmp(name, "Will-Retry-Until") == 0)
		SETF(r->will_retry_until, v);
	else if (strcasecmp(name, "X-Skywave-Alternate-Recipient") == 0)
		SETF(r->alternate, v);
	else if (strcasecmp(name, "X-Skywave-Redirect-Cause") == 0)
		SETF(r->redirect_cause, v);
}

static void
parse_status(const uint8_t *p, size_t len, struct dsn_parsed *out)
{
	struct cursor c = { p, len, 0 };
	struct status_ctx sc = { out, NULL };
	size_t save;
	const char *l;
	size_t n;

	read_fields(&c, status_field, &sc);
	while (c.pos < c.len && out->nrcpts < DSN_PARSE_RCPTS_MAX) {
		/* Skip blank lines between groups. */
		save = c.pos;
		if (!next_line(&c, &l, &n))
			break;
		if (n == 0)
			continue;
		c.pos = save;
		sc.rc = &out->rcpts[out->nrcpts++];
		read_fields(&c, status_field, &sc);
	}
}

int
dsn_parse(const uint8_t *p, size_t len, struct dsn_parsed *out)
{
	struct cursor c = { p, len, 0 };
	struct top t;
	char bnd[256], delim[260];
	size_t dl, part_start = 0, i;
	int part = -1;
	const char *l;
	size_t n;

	memset(out, 0, sizeof(*out));
	memset(&t, 0, sizeof(t));
	t.out = out;
	read_fields(&c, top_field, &t);
	if (strncasecmp(t.ctype, "multipart/report", 16) != 0 ||
	    !ctype_param(t.ctype, "boundary", bnd, sizeof(bnd)) ||
	    !ctype_param(t.ctype, "report-type", out->report_type,
	    sizeof(out->report_type)) ||
	    strcasecmp(out->report_type, "delivery-status") != 0)
		return GW_ESYNTAX;
	snprintf(delim, sizeof(delim), "--%s", bnd);
	dl = strlen(delim);

	for (;;) {
		size_t line_start = c.pos;
		bool more = next_line(&c, &l, &n);
		bool is_delim = more && n >= dl && memcmp(l, delim, dl) == 0;

		if (!more || is_delim) {
			if (part >= 0) {
				struct cursor pc = { p + part_start,
					line_start - part_start, 0 };
				const uint8_t *body;
				size_t blen;

				memset(t.part_ctype, 0, sizeof(t.part_ctype));
				read_fields(&pc, part_field, &t);
				body = pc.p + pc.pos;
				blen = pc.len - pc.pos;
				if (part == 0) {
					copy_field(out->human,
					    sizeof(out->human),
					    (const char *)body, blen);
				} else if (strncasecmp(t.part_ctype,
				    "message/delivery-status", 23) == 0) {
					parse_status(body, blen, out);
				} else {
					for (i = 0; i < sizeof(
					    out->returned_type) - 1 &&
					    t.part_ctype[i] &&
					    t.part_ctype[i] != ';'; i++)
						out->returned_type[i] =
						    t.part_ctype[i];
					out->returned_type[i] = '\0';
					out->returned_len = blen;
				}
			}
			if (!more || (n >= dl + 2 && l[dl] == '-' &&
			    l[dl + 1] == '-'))
				break;
			part++;
			part_start = c.pos;
		}
	}
	if (out->reporting_mta[0] == '\0' || out->nrcpts == 0)
		return GW_ESYNTAX;
	return 0;
}
