/*
 * at_chat.c - the modem dialogue engine (see at_chat.h for the matching
 * rules and the state diagram).
 *
 * Transitions:
 *   IDLE/DONE/FAILED -> RUNNING   at_chat_start (then advance())
 *   RUNNING -> RUNNING            advance(): SEND queues text, next step;
 *                                 stops at an EXPECT or PAUSE
 *   RUNNING -> DONE               advance() past the last step
 *   RUNNING -> FAILED             fail(): abort text, EXPECT timeout,
 *                                 expansion too long, at_chat_abort
 *
 * Pure: no I/O, no clock; time arrives as arguments. Owner: the driver
 * core, one thread.
 */
#include "link-drivers/at_chat.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000

static void trace(struct at_chat *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
trace(struct at_chat *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (c->trace == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->trace(c->trace_arg, line);
}

void
at_chat_init(struct at_chat *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->out);
	c->status = AT_CHAT_IDLE;
	c->deadline_ms = INT64_MAX;
	c->default_timeout_ms = DEFAULT_TIMEOUT_MS;
	c->abort_index = -1;
}

void
at_chat_fini(struct at_chat *c)
{
	buf_fini(&c->out);
}

void
at_chat_set_trace(struct at_chat *c, at_chat_trace_fn fn, void *arg)
{
	c->trace = fn;
	c->trace_arg = arg;
}

static void
fail(struct at_chat *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fail(struct at_chat *c, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->status = AT_CHAT_FAILED;
	c->err = err;
	c->deadline_ms = INT64_MAX;
	trace(c, "fail %s", c->reason);
}

/* The step's text without leading/trailing CR and LF. */
static void
expect_text(const struct prof_step *s, const char **p, size_t *n)
{
	const char *t = s->text;
	size_t len = s->len;

	while (len > 0 && (*t == '\r' || *t == '\n')) {
		t++;
		len--;
	}
	while (len > 0 && (t[len - 1] == '\r' || t[len - 1] == '\n'))
		len--;
	*p = t;
	*n = len;
}

static bool
contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
	if (nn == 0)
		return true;
	return memmem(hay, hn, needle, nn) != NULL;
}

/* Run steps from c->step until one has to wait, or the end. */
static void
advance(struct at_chat *c, int64_t now_ms)
{
	const struct prof_step *s;
	char tmp[PROF_TEXT_MAX + AT_CHAT_NUMBER_MAX + 1];
	char esc[4 * sizeof(tmp)];
	int n;

	while (c->status == AT_CHAT_RUNNING && c->step < c->dlg->n_steps) {
		s = &c->dlg->steps[c->step];
		switch (s->kind) {
		case PROF_STEP_SEND:
			n = prof_expand(s, c->number, tmp, sizeof(tmp));
			if (n < 0) {
				fail(c, GW_ETOOBIG, "step %d: text too long "
				    "after expansion", c->step + 1);
				return;
			}
			buf_append(&c->out, tmp, (size_t)n);
			prof_escape(tmp, (size_t)n, esc, sizeof(esc));
			trace(c, "step %d send \"%s\"", c->step + 1, esc);
			c->step++;
			break;
		case PROF_STEP_EXPECT:
		case PROF_STEP_PAUSE:
			c->deadline_ms = now_ms + (s->timeout_ms > 0 ?
			    s->timeout_ms : c->default_timeout_ms);
			if (s->kind == PROF_STEP_PAUSE)
				trace(c, "step %d pause %" PRId64 "ms",
				    c->step + 1, s->timeout_ms);
			return;
		default:
			fail(c, GW_EINTERNAL, "step %d: unknown kind %d",
			    c->step + 1, s->kind);
			return;
		}
	}
	if (c->status == AT_CHAT_RUNNING) {
		c->status = AT_CHAT_DONE;
		c->deadline_ms = INT64_MAX;
		trace(c, "done rate=%" PRIu32, c->connect_rate);
	}
}

enum at_chat_status
at_chat_start(struct at_chat *c, const struct prof_dialogue *dlg,
    const char *number, int64_t now_ms)
{
	GW_REQUIRE(dlg != NULL);
	c->dlg = dlg;
	snprintf(c->number, sizeof(c->number), "%s", number ? number : "");
	c->step = 0;
	c->status = AT_CHAT_RUNNING;
	c->deadline_ms = INT64_MAX;
	c->line_len = 0;
	c->connect_rate = 0;
	c->err = 0;
	c->abort_index = -1;
	c->reason[0] = '\0';
	advance(c, now_ms);
	return c->status;
}

static void
parse_connect(struct at_chat *c, const char *line, size_t n)
{
	const char *p = memmem(line, n, "CONNECT", 7);
	const char *end = line + n;
	uint64_t v = 0;

	if (p == NULL)
		return;
	p += 7;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (p < end && isdigit((unsigned char)*p) && v < 100000000)
		v = v * 10 + (uint64_t)(*p++ - '0');
	c->connect_rate = (uint32_t)v;
}

/* Check a line (complete, or a prompt fragment when partial). */
static void
check_line(struct at_chat *c, bool complete, int64_t now_ms)
{
	const struct prof_step *s;
	const char *t;
	char esc[4 * (AT_CHAT_LINE_MAX + 1)];
	size_t tn;
	int i;

	if (complete) {
		prof_escape(c->line, c->line_len, esc, sizeof(esc));
		trace(c, "recv \"%s\"", esc);
		for (i = 0; i < c->dlg->n_aborts; i++) {
			t = c->dlg->aborts[i];
			if (contains(c->line, c->line_len, t, strlen(t))) {
				c->abort_index = i;
				fail(c, GW_EPROTO, "step %d: modem said \"%s\"",
				    c->step + 1, esc);
				return;
			}
		}
	}
	if (c->step >= c->dlg->n_steps)
		return;
	s = &c->dlg->steps[c->step];
	if (s->kind != PROF_STEP_EXPECT)
		return;
	expect_text(s, &t, &tn);
	if (!complete && (tn == 0 || isalnum((unsigned char)t[tn - 1])))
		return;
	if (!contains(c->line, c->line_len, t, tn))
		return;
	parse_connect(c, c->line, c->line_len);
	prof_escape(t, tn, esc, sizeof(esc));
	trace(c, "step %d matched \"%s\"", c->step + 1, esc);
	c->step++;
	c->deadline_ms = INT64_MAX;
	if (!complete)
		c->line_len = 0; /* the prompt is consumed */
	advance(c, now_ms);
}

enum at_chat_status
at_chat_input(struct at_chat *c, const uint8_t *p, size_t n, int64_t now_ms)
{
	size_t i;

	for (i = 0; i < n && c->status == AT_CHAT_RUNNING; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			if (c->line_len > 0) {
				check_line(c, true, now_ms);
				c->line_len = 0;
				/* A CR LF ending the final line belongs to
				 * the dialogue, not to the data after it. */
				if (c->status != AT_CHAT_RUNNING &&
				    p[i] == '\r' && i + 1 < n &&
				    p[i + 1] == '\n')
					i++;
			}
			continue;
		}
		if (c->line_len < AT_CHAT_LINE_MAX)
			c->line[c->line_len++] = (char)p[i];
	}
	if (c->status == AT_CHAT_RUNNING && c->line_len > 0)
		check_line(c, false, now_ms);
	c->used = i;
	return c->status;
}

enum at_chat_status
at_chat_tick(struct at_chat *c, int64_t now_ms)
{
	const struct prof_step *s;
	char esc[4 * PROF_TEXT_MAX];
	const char *t;
	size_t tn;

	if (c->status != AT_CHAT_RUNNING || now_ms < c->deadline_ms)
		return c->status;
	s = &c->dlg->steps[c->step];
	if (s->kind == PROF_STEP_PAUSE) {
		c->step++;
		c->deadline_ms = INT64_MAX;
		advance(c, now_ms);
		return c->status;
	}
	expect_text(s, &t, &tn);
	prof_escape(t, tn, esc, sizeof(esc));
	fail(c, GW_ETIMEDOUT, "step %d: no \"%s\" within %" PRId64 "ms",
	    c->step + 1, esc, s->timeout_ms > 0 ? s->timeout_ms :
	    c->default_timeout_ms);
	return c->status;
}

void
at_chat_abort(struct at_chat *c, int err, const char *reason)
{
	if (c->status != AT_CHAT_RUNNING)
		return;
	fail(c, err, "%s", reason);
}
