/*
 * received.c - Received trace header and header-section scan (see
 * received.h).
 *
 * Owner/thread: none; pure functions. The date is formatted from our own
 * day and month tables so the result never depends on the process locale.
 */
#include "gateway/smtp/received.h"

#include "gateway/smtp/smtp_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	"Fri", "Sat" };
static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
	"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void
received_date(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	snprintf(out, 32, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    wdays[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void
received_format(struct buf *out, const struct received_info *r)
{
	char date[32];

	received_date(r->when, date);
	buf_appendf(out, "Received: from %s ([%s])\r\n\tby %s (skywave) "
	    "with %s id %s", r->helo && *r->helo ? r->helo : "unknown",
	    r->peer_ip, r->by, r->with, r->id);
	if (r->for_addr != NULL || r->has_priority) {
		buf_append_str(out, "\r\n\t");
		if (r->for_addr != NULL)
			buf_appendf(out, "for <%s>%s", r->for_addr,
			    r->has_priority ? " " : "");
		if (r->has_priority)
			buf_appendf(out, "PRIORITY %d", r->priority);
	}
	buf_appendf(out, ";\r\n\t%s\r\n", date);
}

bool
received_air(struct buf *out, const char *client, const char *by,
    const char *id, int priority, int64_t arrival)
{
	static const char mark[] = " (link ";
	char date[32];
	const char *at, *end;

	if (client == NULL || (at = strstr(client, mark)) == NULL ||
	    at == client)
		return false;
	end = client + strlen(client);
	if (end[-1] != ')' || end - 1 <= at + sizeof(mark) - 1)
		return false;
	received_date(arrival, date);
	buf_appendf(out, "Received: from %.*s by %s (skywave) with "
	    "X-SKYWAVE-AIR\r\n\tid %s (link %.*s) PRIORITY %d;\r\n\t%s\r\n",
	    (int)(at - client), client, by, id,
	    (int)(end - 1 - (at + sizeof(mark) - 1)), at + sizeof(mark) - 1,
	    priority, date);
	return true;
}

/* Skip CFWS (blanks and nested comments) in s[*i..len); false on an
 * unterminated comment. */
static bool
skip_cfws(const char *s, size_t len, size_t *i)
{
	while (*i < len) {
		char c = s[*i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			(*i)++;
		} else if (c == '(') {
			int depth = 0;
			do {
				if (s[*i] == '\\' && *i + 1 < len)
					(*i)++;
				else if (s[*i] == '(')
					depth++;
				else if (s[*i] == ')')
					depth--;
				(*i)++;
			} while (*i < len && depth > 0);
			if (depth > 0)
				return false;
		} else {
			break;
		}
	}
	return true;
}

static bool
mt_priority_value(const char *s, size_t len, int *out)
{
	size_t i = 0, start;

	if (!skip_cfws(s, len, &i))
		return false;
	start = i;
	while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '(' &&
	    s[i] != '\r' && s[i] != '\n')
		i++;
	if (smtp_parse_priority(s + start, i - start, out) != 0)
		return false;
	if (!skip_cfws(s, len, &i))
		return false;
	return i == len;
}

void
received_scan(const uint8_t *msg, size_t len, struct received_scan *out)
{
	const char *s = (const char *)msg;
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	while (i < len) {
		/* One field: a line plus its continuation lines. */
		size_t start = i, end;

		if (s[i] == '\n' || (s[i] == '\r' && i + 1 < len &&
		    s[i + 1] == '\n')) {
			i += s[i] == '\n' ? 1 : 2;
			break; /* the empty line ends the header section */
		}
		for (;;) {
			const char *nl = memchr(s + i, '\n', len - i);
			i = nl ? (size_t)(nl - s) + 1 : len;
			if (i >= len || (s[i] != ' ' && s[i] != '\t'))
				break;
		}
		end = i;
		const char *colon = memchr(s + start, ':', end - start);
		if (colon == NULL)
			continue;
		size_t nlen = (size_t)(colon - (s + start));
		if (nlen == 8 && strncasecmp(s + start, "Received", 8) == 0) {
			out->received++;
		} else if (nlen == 11 &&
		    strncasecmp(s + start, "MT-Priority", 11) == 0) {
			int v;
			out->mt_priority++;
			if (mt_priority_value(colon + 1,
			    end - (size_t)(colon + 1 - s), &v)) {
				out->mt_priority_valid++;
				out->priority = v;
			}
		}
	}
	out->header_len = i;
}
