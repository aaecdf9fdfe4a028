/*
 * route.h - recipient domain -> delivery target, and loop detection.
 *
 * The [route] lines of skywave.conf ("pattern = target") are compiled once
 * into an immutable route table. A lookup takes a recipient address (or a
 * bare domain) and returns the target that serves it:
 *
 *   pattern        matches
 *   example.org    exactly that domain (any case)
 *   *.example.org  any domain ending in ".example.org" (not example.org)
 *   *              everything (the default route)
 *
 * Precedence: an exact pattern beats every suffix pattern, the longest
 * matching suffix beats shorter ones, and "*" is used only when nothing else
 * matches. File order never matters. Comparison is ASCII case-insensitive and
 * ignores one trailing dot of the domain; IDNA is not handled (A-labels
 * compare as plain ASCII).
 *
 * Targets:
 *   link:NAME                      over the radio link NAME (the scheduler)
 *   smtp:HOST:PORT[,HOST:PORT...]  onward SMTP, hosts tried in order
 *   lmtp:HOST:PORT                 onward LMTP (final delivery)
 *   maildir:PATH                   local Maildir; PATH may hold %u (local
 *                                  part, lower-cased) and %d (domain)
 *   b2f:CALL[@HOST:PORT]           to the Winlink station CALL over B2F
 *                                  (b2f.h): arg is CALL; with a hop we
 *                                  call its telnet listener, without one
 *                                  the mail waits for CALL to connect
 * HOST may be a name, an IPv4 address or "[IPv6]". PORT defaults to 25 for
 * smtp and 24 for lmtp when omitted.
 *
 * Glossary: "next hop" = one HOST:PORT; "target" = the whole right-hand side.
 *
 * Ownership: the table owns every string in it; lookups return borrowed
 * pointers valid until route_table_free(). Immutable after creation, so any
 * thread may read it.
 */
#ifndef GW_GATEWAY_ROUTE_H
#define GW_GATEWAY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROUTE_HOSTS_MAX 8
#define ROUTE_ARG_MAX 512
#define ROUTE_LINES_MAX 256 /* [route] lines in one configuration */

/* One configured [route] line: pattern = target. */
struct route_line {
	char pattern[256];         /* "example.org", "*.example.org", "*" */
	char target[256];          /* "link:NAME", "smtp:host:port[,..]",
				      "lmtp:host:port", "maildir:PATH",
				      "b2f:CALL@host:port" */
	int line;
};

enum route_kind { ROUTE_LINK = 0, ROUTE_SMTP, ROUTE_LMTP, ROUTE_MAILDIR,
	ROUTE_B2F };

struct route_hop {
	char host[256];   /* name or address, without brackets */
	uint16_t port;
};

struct route_target {
	enum route_kind kind;
	char spec[256];   /* the target text as configured, e.g. "smtp:a:25" */
	char arg[ROUTE_ARG_MAX]; /* link name or Maildir path template */
	struct route_hop hops[ROUTE_HOSTS_MAX]; /* smtp/lmtp: in order */
	size_t nhops;
	int line;         /* config line, 0 when not from a file */
};

struct route_table;

/* Parse one target ("smtp:h:25,h2:2525"). Returns 0, or GW_EINVAL with a
 * reason in err (allowed forms named). */
int route_target_parse(const char *spec, struct route_target *out,
    char *err, size_t errlen);

/* Compile config [route] lines. Returns 0 and *out, or GW_EINVAL with
 * "line N: ..." in err. n may be 0 (an empty table routes nothing). */
int route_table_new(const struct route_line *routes, size_t n,
    struct route_table **out, char *err, size_t errlen);
void route_table_free(struct route_table *t);

/* The target for a recipient address ("user@Example.ORG") or a bare domain.
 * The domain is what follows the last '@'; an address without '@' has the
 * empty domain and matches only "*". NULL when no route matches. */
const struct route_target *route_lookup(const struct route_table *t,
    const char *addr);
/* The link name of a "link:NAME" target, or NULL for any other kind: the
 * one place the prefix is parsed. */
const char *route_link_name(const char *spec);
/* Is spec (as configured, e.g. "smtp:h:25") the target of some line? */
bool route_table_has_target(const struct route_table *t, const char *spec);
/* Which configured pattern matched (for logs and tests); NULL if none. */
const char *route_lookup_pattern(const struct route_table *t,
    const char *addr);

/* Number of "Received:" header fields in the header section of msg (stops
 * at the first empty line). Case-insensitive field name. */
size_t route_count_received(const uint8_t *msg, size_t len);

/* True when msg has at least max_received Received fields: a mail loop, to
 * be failed with 5.4.6 (RFC 5321 s6.3). */
bool route_is_loop(const uint8_t *msg, size_t len, int64_t max_received);

#define ROUTE_LOOP_STATUS "5.4.6"

#endif
