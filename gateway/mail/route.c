/*
 * route.c - the route table: domain patterns -> targets, loop detection.
 *
 * Purpose: answer "where does mail for this recipient go?" for the scheduler
 * and the delivery glue, and "is this message looping?" before delivery.
 *
 * Ownership: struct route_table is created from the loaded configuration by
 * its owner (the daemon) and freed by it; it is immutable, so lookups are
 * safe from any thread. Pure code: no I/O, no logging.
 *
 * Matching: the table keeps three kinds of entries: exact domains, suffixes
 * ("*.x.y" stored as ".x.y") ordered by length, longest first, and at most
 * one default ("*"). A lookup tries exact, then the first matching suffix,
 * then the default, so precedence is independent of file order.
 */
#include "gateway/mail/route.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum entry_kind { E_EXACT, E_SUFFIX, E_DEFAULT };

struct route_entry {
	enum entry_kind kind;
	char pattern[256];      /* as configured */
	char key[256];          /* exact: domain; suffix: ".x.y"; lower-case */
	size_t keylen;
	struct route_target target;
};

struct route_table {
	struct route_entry *e;  /* exact, suffixes longest first, default */
	size_t n;
};

static void
lower_copy(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i;

	if (n >= cap)
		n = cap - 1;
	for (i = 0; i < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

static int
parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return GW_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return GW_EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return GW_EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static bool
valid_host(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' &&
		    h[i] != '.' && h[i] != '_')
			return false;
	return true;
}

/* One "host[:port]" or "[v6][:port]" item of length n. */
static int
parse_hop(const char *s, size_t n, uint16_t defport, struct route_hop *hop)
{
	const char *host = s, *port = NULL;
	size_t hlen = n, plen = 0;

	if (n > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', n);
		if (end == NULL || end == s + 1)
			return GW_EINVAL;
		host = s + 1;
		hlen = (size_t)(end - host);
		for (size_t i = 0; i < hlen; i++)
			if (!isxdigit((unsigned char)host[i]) &&
			    host[i] != ':' && host[i] != '.')
				return GW_EINVAL;
		if ((size_t)(end + 1 - s) < n) {
			if (end[1] != ':')
				return GW_EINVAL;
			port = end + 2;
			plen = n - (size_t)(port - s);
		}
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon != NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
			plen = n - hlen - 1;
		}
		if (!valid_host(host, hlen))
			return GW_EINVAL;
	}
	if (hlen >= sizeof(hop->host))
		return GW_EINVAL;
	memcpy(hop->host, host, hlen);
	hop->host[hlen] = '\0';
	if (port == NULL) {
		hop->port = defport;
		return 0;
	}
	return parse_port(port, plen, &hop->port);
}

const char *
route_link_name(const char *spec)
{
	if (spec == NULL || strncmp(spec, "link:", 5) != 0 || spec[5] == '\0')
		return NULL;
	return spec + 5;
}

int
route_target_parse(const char *spec, struct route_target *out, char *err,
    size_t errlen)
{
	const char *colon = strchr(spec, ':');
	const char *arg;
	uint16_t defport = 25;

	memset(out, 0, sizeof(*out));
	if (colon == NULL || colon[1] == '\0')
		goto bad;
	if (strlen(spec) >= sizeof(out->spec))
		goto bad;
	snprintf(out->spec, sizeof(out->spec), "%s", spec);
	arg = colon + 1;
	if (route_link_name(spec) != NULL) {
		out->kind = ROUTE_LINK;
		for (const char *p = arg; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' &&
			    *p != '_')
				goto bad;
		snprintf(out->arg, sizeof(out->arg), "%s", arg);
		return 0;
	}
	if (strncmp(spec, "maildir:", 8) == 0) {
		out->kind = ROUTE_MAILDIR;
		if (strlen(arg) >= sizeof(out->arg))
			goto bad;
		/* Only %u, %d and %% are known expansions. */
		for (const char *p = arg; *p; p++)
			if (*p == '%') {
				if (p[1] != 'u' && p[1] != 'd' && p[1] != '%')
					goto bad;
				p++;
			}
		snprintf(out->arg, sizeof(out->arg), "%s", arg);
		return 0;
	}
	if (strncmp(spec, "b2f:", 4) == 0) {
		const char *at = strchr(arg, '@');
		size_t cl = at ? (size_t)(at - arg) : strlen(arg);
		out->kind = ROUTE_B2F;
		if (cl == 0 || cl > 12)
			goto bad;
		for (size_t i = 0; i < cl; i++)
			if (!isalnum((unsigned char)arg[i]) && arg[i] != '-')
				goto bad;
		for (size_t i = 0; i < cl; i++)
			out->arg[i] = (char)toupper((unsigned char)arg[i]);
		out->arg[cl] = '\0';
		if (at != NULL) {
			if (parse_hop(at + 1, strlen(at + 1), 8774,
			    &out->hops[0]) != 0)
				goto bad;
			out->nhops = 1;
		}
		return 0;
	}
	if (strncmp(spec, "smtp:", 5) == 0)
		out->kind = ROUTE_SMTP;
	else if (strncmp(spec, "lmtp:", 5) == 0) {
		out->kind = ROUTE_LMTP;
		defport = 24;
	} else
		goto bad;
	for (const char *p = arg;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && *p == ' ') {
			p++;
			n--;
		}
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (out->nhops >= ROUTE_HOSTS_MAX ||
		    parse_hop(p, n, defport, &out->hops[out->nhops]) != 0)
			goto bad;
		out->nhops++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	if (out->kind == ROUTE_LMTP && out->nhops != 1)
		goto bad;
	return 0;
bad:
	snprintf(err, errlen,
	    "bad target \"%s\" (allowed: link:NAME, "
	    "smtp:HOST:PORT[,HOST:PORT...] (at most %d), lmtp:HOST:PORT, "
	    "maildir:PATH with %%u/%%d, b2f:CALL[@HOST:PORT])", spec, ROUTE_HOSTS_MAX);
	return GW_EINVAL;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct route_entry *x = a, *y = b;

	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	if (x->kind == E_SUFFIX && x->keylen != y->keylen)
		return x->keylen > y->keylen ? -1 : 1;
	return strcmp(x->key, y->key);
}

int
route_table_new(const struct route_line *routes, size_t n,
    struct route_table **out, char *err, size_t errlen)
{
	struct route_table *t = xcalloc(1, sizeof(*t));
	char why[400];

	t->e = xcalloc(n ? n : 1, sizeof(*t->e));
	for (size_t i = 0; i < n; i++) {
		const struct route_line *r = &routes[i];
		struct route_entry *e = &t->e[t->n];
		const char *p = r->pattern;

		snprintf(e->pattern, sizeof(e->pattern), "%s", p);
		if (strcmp(p, "*") == 0) {
			e->kind = E_DEFAULT;
		} else if (strncmp(p, "*.", 2) == 0 && p[2] != '\0') {
			e->kind = E_SUFFIX;
			lower_copy(e->key, sizeof(e->key), p + 1,
			    strlen(p + 1));
		} else if (p[0] != '\0' && strchr(p, '*') == NULL) {
			e->kind = E_EXACT;
			lower_copy(e->key, sizeof(e->key), p, strlen(p));
		} else {
			snprintf(err, errlen, "line %d: bad pattern \"%s\"",
			    r->line, p);
			goto fail;
		}
		e->keylen = strlen(e->key);
		if (e->keylen > 0 && e->key[e->keylen - 1] == '.')
			e->key[--e->keylen] = '\0';
		for (size_t j = 0; j < t->n; j++)
			if (t->e[j].kind == e->kind &&
			    strcmp(t->e[j].key, e->key) == 0) {
				snprintf(err, errlen,
				    "line %d: duplicate pattern \"%s\"",
				    r->line, p);
				goto fail;
			}
		if (route_target_parse(r->target, &e->target, why,
		    sizeof(why)) != 0) {
			snprintf(err, errlen, "line %d: %s", r->line, why);
			goto fail;
		}
		e->target.line = r->line;
		t->n++;
	}
	qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	*out = t;
	return 0;
fail:
	route_table_free(t);
	*out = NULL;
	return GW_EINVAL;
}

void
route_table_free(struct route_table *t)
{
	if (t == NULL)
		return;
	free(t->e);
	free(t);
}

static const struct route_entry *
lookup(const struct route_table *t, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *dom = at ? at + 1 : (strchr(addr, '.') ? addr : "");
	char d[256];
	size_t n;

	/* A bare word without '@' or '.' is a local name: default only. */
	lower_copy(d, sizeof(d), dom, strlen(dom));
	n = strlen(d);
	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	for (size_t i = 0; i < t->n; i++) {
		const struct route_entry *e = &t->e[i];
		switch (e->kind) {
		case E_EXACT:
			if (n > 0 && strcmp(e->key, d) == 0)
				return e;
			break;
		case E_SUFFIX:
			if (n > e->keylen &&
			    strcmp(d + n - e->keylen, e->key) == 0)
				return e;
			break;
		case E_DEFAULT:
			return e;
		}
	}
	return NULL;
}

const struct route_target *
route_lookup(const struct route_table *t, const char *addr)
{
	const struct route_entry *e = lookup(t, addr);
	return e ? &e->target : NULL;
}

const char *
route_lookup_pattern(const struct route_table *t, const char *addr)
{
	const struct route_entry *e = lookup(t, addr);
	return e ? e->pattern : NULL;
}

size_t
route_count_received(const uint8_t *msg, size_t len)
{
	size_t count = 0, i = 0;

	while (i < len) {
		const uint8_t *nl = memchr(msg + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - msg) : len;
		size_t ll = end - i;

		if (ll > 0 && msg[end - 1] == '\r')
			ll--;
		if (ll == 0)
			break; /* end of the header section */
		if (ll >= 9 && strncasecmp((const char *)msg + i,
		    "Received:", 9) == 0)
			count++;
		i = end + 1;
	}
	return count;
}

bool
route_is_loop(const uint8_t *msg, size_t len, int64_t max_received)
{
	return max_received > 0 &&
	    (int64_t)route_count_received(msg, len) >= max_received;
}

bool
route_table_has_target(const struct route_table *t, const char *spec)
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (strcmp(t->e[i].target.spec, spec) == 0)
			return true;
	return false;
}
