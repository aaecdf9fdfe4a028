/*
 * conneg.h - recipient capability table (CONNEG answers) and the DRUCOF
 * relay decision.
 *
 * Capability file (docs/conneg.md): one entry per line,
 *     <key> <RFC 2533 filter>
 * where key is a full address ("alice@ship.example"), a domain
 * ("@ship.example", also covering its subdomains' exact match only), or
 * "*" (every recipient this gateway serves). Blank lines and lines starting
 * with '#' are ignored; a line starting with white space continues the
 * previous entry's filter. Lookup order: address, then domain, then "*".
 * Every filter is parsed at load time; errors are reported as file:line.
 *
 * Posting capabilities never makes a recipient refuse other content: the
 * table only steers conversion that a sender asked for.
 */
#ifndef GW_GATEWAY_CONNEG_H
#define GW_GATEWAY_CONNEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct caps_filter;
struct conneg_table; /* opaque; immutable once loaded */

/* Load from a file. On error returns GW_ECONFIG (or -errno for I/O) and,
 * when err is not NULL, writes "file:line: reason" into it. */
int conneg_table_load(const char *path, struct conneg_table **out,
    char *err, size_t errlen);
/* Same, from text in memory (name is used in messages). */
int conneg_table_parse(const char *name, const char *text,
    struct conneg_table **out, char *err, size_t errlen);
void conneg_table_free(struct conneg_table *t);
size_t conneg_table_count(const struct conneg_table *t);

/* Publication: the table in the file format, one entry per line, keys in
 * load order (appended to out). The far gateway sends this text once per
 * link session and when it changes; the near gateway loads it with
 * conneg_table_parse(). */
struct buf;
void conneg_table_format(const struct conneg_table *t, struct buf *out);
/* 64-bit FNV-1a of the formatted text: change detection between link
 * sessions (not a security check; the link is authenticated). */
uint64_t conneg_table_digest(const struct conneg_table *t);

/* The filter text for a recipient, or NULL when unknown. Matches
 * smtp_conneg_fn: arg is a const struct conneg_table *. The string lives
 * as long as the table. */
const char *conneg_lookup(void *arg, const char *addr);
/* The parsed filter for a recipient, or NULL when unknown. */
const struct caps_filter *conneg_lookup_filter(const struct conneg_table *t,
    const char *addr);

/* ---- the relay decision (seed section 4, RFC 4141 failures) ---- */

/* What the next hop offered / answered for this recipient. */
enum conneg_hop_caps {
	CONNEG_HOP_CAPS_OK,       /* CONNEG offered and caps obtained */
	CONNEG_HOP_CAPS_TEMPFAIL, /* CONNEG offered, the query failed 4xx */
	CONNEG_HOP_CAPS_PERMFAIL, /* CONNEG offered, the query failed 5xx or
				     gave no capabilities */
	CONNEG_HOP_NO_CONNEG      /* CONNEG not offered */
};

struct conneg_relay_in {
	bool drucof;      /* the sender asked DRUCOF for this recipient */
	bool conperm;     /* the message travels under CONPERM */
	/* Recipient capabilities known here (our table, or the hop's CONNEG
	 * answer). Meaningful with hop == CONNEG_HOP_CAPS_OK, or when we
	 * serve the recipient ourselves. */
	bool caps_known;
	enum conneg_hop_caps hop;
	bool hop_drucof;  /* the next hop advertises DRUCOF */
	bool hop_conperm; /* the next hop advertises CONPERM */
	/* Outcome of a trial conversion against the known capabilities
	 * (conv_run): */
	bool usable_as_is;  /* no conversion needed */
	bool can_convert;   /* conv produced a usable form */
	const char *conv_fail_status; /* conv's failure code, or NULL */
};

enum conneg_action {
	CONNEG_PASS,    /* relay unchanged; flags below say what to assert */
	CONNEG_CONVERT, /* convert here, then relay without DRUCOF/CONNEG */
	CONNEG_FAIL     /* fail the recipient with status (DSN) */
};

struct conneg_relay_out {
	enum conneg_action action;
	bool assert_drucof;  /* send RCPT ... DRUCOF on the next hop */
	bool assert_conperm; /* send MAIL ... CONPERM on the next hop */
	const char *status;  /* "5.6.3" etc. when failing */
	const char *why;     /* short reason for logs and the DSN text */
};

struct conv_report;
/* Fill usable_as_is / can_convert / conv_fail_status from a trial
 * conv_run() against the recipient's capabilities. */
void conneg_relay_set_conv(struct conneg_relay_in *in,
    const struct conv_report *rep);

/* Pure decision; see conneg.c for the table it implements. */
void conneg_relay_decide(const struct conneg_relay_in *in,
    struct conneg_relay_out *out);

#endif
