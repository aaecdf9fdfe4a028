/*
 * conneg.c - the capability table behind RCPT ... CONNEG, and the relay
 * decision for messages sent with DRUCOF or CONPERM.
 *
 * Contract: the table is built once (parse -> validate every filter) and
 * then immutable, so lookups are safe from any thread. The relay decision
 * is a pure function of its inputs.
 *
 * Relay decision (seed "CONNEG over relays", section 4, plus RFC 4141's
 * failure rules). "caps" = the recipient's capabilities are known, either
 * from the next hop's CONNEG answer or from our own table (a skywave
 * addition: the far gateway publishes its table to us, so the air hop is
 * treated as a hop that answered CONNEG).
 *
 *   sender asked neither DRUCOF nor CONPERM      -> PASS, nothing asserted
 *   DRUCOF:
 *     caps:  usable as is                          -> PASS (no DRUCOF)
 *            conversion possible                   -> CONVERT (no DRUCOF)
 *            hop has DRUCOF                        -> PASS with DRUCOF
 *            else                                  -> FAIL conv code/5.6.3
 *     CONNEG query failed (4xx or 5xx):
 *            hop has DRUCOF                        -> PASS with DRUCOF
 *            4xx                                   -> FAIL 4.6.3 (retry)
 *            5xx                                   -> FAIL 5.6.3
 *     no CONNEG: hop has DRUCOF                    -> PASS with DRUCOF
 *            else                                  -> FAIL 5.6.3
 *   CONPERM only:
 *     caps:  usable as is / conversion possible    -> PASS / CONVERT
 *            hop has CONPERM                       -> PASS with CONPERM
 *            else                                  -> FAIL conv code/5.6.5
 *     no caps: hop has CONPERM                     -> PASS with CONPERM
 *            CONNEG query failed 4xx               -> FAIL 4.6.3 (retry)
 *            CONNEG query failed 5xx / no answer   -> FAIL 5.6.3
 *            no CONNEG either                      -> FAIL 5.6.3
 * Whenever a PASS or CONVERT happens for a CONPERM message, CONPERM is
 * asserted if the hop offers it; after a CONVERT or an as-is match the
 * duty to convert is done, so a hop without CONPERM is acceptable and the
 * caller clears the envelope's conperm flag.
 */
#include "gateway/conneg/conneg.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONNEG_MAX_ENTRIES 100000
#define CONNEG_MAX_FILE (4u << 20)

struct conneg_entry {
	char *key;  /* lower-case address, "@domain" or "*" */
	char *text; /* filter text as given (continuations joined) */
	struct caps_filter *filter;
};

struct conneg_table {
	struct conneg_entry *e;
	size_t n;
};

void
conneg_table_free(struct conneg_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].key);
		free(t->e[i].text);
		caps_filter_free(t->e[i].filter);
	}
	free(t->e);
	free(t);
}

size_t
conneg_table_count(const struct conneg_table *t)
{
	return t == NULL ? 0 : t->n;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
finish_entry(struct conneg_table *t, const char *name, int line, char *err,
    size_t errlen)
{
	struct conneg_entry *e = &t->e[t->n - 1];
	size_t off = 0;
	int rc = caps_filter_parse(e->text, &e->filter, &off);
	if (rc < 0) {
		if (err != NULL)
			snprintf(err, errlen, "%s:%d: bad filter near offset "
			    "%zu", name, line, off);
		return GW_ECONFIG;
	}
	for (size_t i = 0; i + 1 < t->n; i++) {
		if (strcmp(t->e[i].key, e->key) == 0) {
			if (err != NULL)
				snprintf(err, errlen, "%s:%d: duplicate key "
				    "%s", name, line, e->key);
			return GW_ECONFIG;
		}
	}
	return 0;
}

int
conneg_table_parse(const char *name, const char *text,
    struct conneg_table **out, char *err, size_t errlen)
{
	struct conneg_table *t = xcalloc(1, sizeof(*t));
	const char *p = text;
	int line = 0, entry_line = 0;
	int rc = 0;
	*out = NULL;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char *l = xstrndup(p, len);
		p += len + (nl != NULL ? 1 : 0);
		line++;
		size_t ll = strlen(l);
		while (ll > 0 && (l[ll - 1] == '\r' || l[ll - 1] == ' ' ||
		    l[ll - 1] == '\t'))
			l[--ll] = '\0';
		char *s = l;
		bool cont = *s == ' ' || *s == '\t';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#') {
			free(l);
			continue;
		}
		if (cont) {
			if (t->n == 0) {
				if (err != NULL)
					snprintf(err, errlen, "%s:%d: "
					    "continuation without entry",
					    name, line);
				free(l);
				rc = GW_ECONFIG;
				break;
			}
			struct conneg_entry *e = &t->e[t->n - 1];
			size_t a = strlen(e->text), b = strlen(s);
			if (a + b + 1 > CAPS_FILTER_MAX_LEN) {
				if (err != NULL)
					snprintf(err, errlen, "%s:%d: filter "
					    "too long", name, line);
				free(l);
				rc = GW_ECONFIG;
				break;
			}
			e->text = xrealloc(e->text, a + b + 1);
			memcpy(e->text + a, s, b + 1);
			free(l);
			continue;
		}
		if (t->n > 0) {
			rc = finish_entry(t, name, entry_line, err, errlen);
			if (rc < 0) {
				free(l);
				break;
			}
		}
		char *sp = s;
		while (*sp != '\0' && *sp != ' ' && *sp != '\t')
			sp++;
		if (*sp == '\0' || t->n >= CONNEG_MAX_ENTRIES) {
			if (err != NULL)
				snprintf(err, errlen, "%s:%d: expected "
				    "\"<address|@domain|*> <filter>\"",
				    name, line);
			free(l);
			rc = GW_ECONFIG;
			break;
		}
		*sp++ = '\0';
		while (*sp == ' ' || *sp == '\t')
			sp++;
		bool key_ok = strcmp(s, "*") == 0 ||
		    (s[0] == '@' && s[1] != '\0' &&
		    strchr(s + 1, '@') == NULL) ||
		    (s[0] != '@' && strchr(s, '@') != NULL &&
		    strchr(s, '@') == strrchr(s, '@'));
		if (!key_ok) {
			if (err != NULL)
				snprintf(err, errlen, "%s:%d: bad key %s",
				    name, line, s);
			free(l);
			rc = GW_ECONFIG;
			break;
		}
		t->e = xrealloc(t->e, (t->n + 1) * sizeof(*t->e));
		struct conneg_entry *e = &t->e[t->n++];
		e->key = xstrdup(s);
		lower(e->key);
		e->text = xstrdup(sp);
		e->filter = NULL;
		entry_line = line;
		free(l);
	}
	if (rc == 0 && t->n > 0)
		rc = finish_entry(t, name, entry_line, err, errlen);
	if (rc < 0) {
		conneg_table_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
conneg_table_load(const char *path, struct conneg_table **out, char *err,
    size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;
		if (err != NULL)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	char *text = xmalloc(CONNEG_MAX_FILE + 1);
	size_t n = fread(text, 1, CONNEG_MAX_FILE + 1, f);
	fclose(f);
	if (n > CONNEG_MAX_FILE) {
		free(text);
		if (err != NULL)
			snprintf(err, errlen, "%s: file too large", path);
		return GW_ECONFIG;
	}
	text[n] = '\0';
	int rc = conneg_table_parse(path, text, out, err, errlen);
	free(text);
	return rc;
}

void
conneg_table_format(const struct conneg_table *t, struct buf *out)
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		buf_appendf(out, "%s %s\n", t->e[i].key, t->e[i].text);
}

uint64_t
conneg_table_digest(const struct conneg_table *t)
{
	struct buf b = BUF_INIT;
	uint64_t h = 0xcbf29ce484222325ull;
	conneg_table_format(t, &b);
	for (size_t i = 0; i < b.len; i++) {
		h ^= b.data[i];
		h *= 0x100000001b3ull;
	}
	buf_fini(&b);
	return h;
}

static const struct conneg_entry *
find(const struct conneg_table *t, const char *addr)
{
	if (t == NULL || addr == NULL)
		return NULL;
	const char *at = strrchr(addr, '@');
	for (size_t i = 0; i < t->n; i++)
		if (strcasecmp(t->e[i].key, addr) == 0)
			return &t->e[i];
	if (at != NULL)
		for (size_t i = 0; i < t->n; i++)
			if (strcasecmp(t->e[i].key, at) == 0)
				return &t->e[i];
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->e[i].key, "*") == 0)
			return &t->e[i];
	return NULL;
}

const char *
conneg_lookup(void *arg, const char *addr)
{
	const struct conneg_entry *e = find(arg, addr);
	return e != NULL ? e->text : NULL;
}

const struct caps_filter *
conneg_lookup_filter(const struct conneg_table *t, const char *addr)
{
	const struct conneg_entry *e = find(t, addr);
	return e != NULL ? e->filter : NULL;
}

static void
set(struct conneg_relay_out *o, enum conneg_action a, bool drucof,
    const char *status, const char *why)
{
	o->action = a;
	o->assert_drucof = drucof;
	o->status = status;
	o->why = why;
}

void
conneg_relay_set_conv(struct conneg_relay_in *in,
    const struct conv_report *rep)
{
	in->usable_as_is = rep->result == CONV_UNCHANGED && rep->usable_as_is;
	in->can_convert = rep->result == CONV_CONVERTED;
	in->conv_fail_status = rep->result == CONV_FAILED ? rep->status :
	    NULL;
}

void
conneg_relay_decide(const struct conneg_relay_in *in,
    struct conneg_relay_out *out)
{
	memset(out, 0, sizeof(*out));
	bool caps = in->hop == CONNEG_HOP_CAPS_OK ||
	    (in->hop == CONNEG_HOP_NO_CONNEG && in->caps_known);
	if (!in->drucof && !in->conperm) {
		set(out, CONNEG_PASS, false, NULL, "no conversion requested");
		return;
	}
	if (in->drucof) {
		if (caps && in->usable_as_is) {
			set(out, CONNEG_PASS, false, NULL, "usable as is");
		} else if (caps && in->can_convert) {
			set(out, CONNEG_CONVERT, false, NULL, "converted here");
		} else if (in->hop_drucof) {
			set(out, CONNEG_PASS, true, NULL, caps ?
			    "cannot convert here; a later hop may" :
			    "capabilities unavailable; DRUCOF passed on");
		} else if (caps) {
			set(out, CONNEG_FAIL, false, in->conv_fail_status ?
			    in->conv_fail_status : "5.6.3",
			    "conversion required but not supported");
		} else if (in->hop == CONNEG_HOP_CAPS_TEMPFAIL) {
			set(out, CONNEG_FAIL, false, "4.6.3",
			    "DRUCOF requested, capabilities unavailable now");
		} else if (in->hop == CONNEG_HOP_CAPS_PERMFAIL) {
			set(out, CONNEG_FAIL, false, "5.6.3",
			    "DRUCOF requested, capabilities unavailable");
		} else {
			set(out, CONNEG_FAIL, false, "5.6.3",
			    "no way to relay the DRUCOF request");
		}
	} else {
		if (caps && in->usable_as_is) {
			set(out, CONNEG_PASS, false, NULL, "usable as is");
		} else if (caps && in->can_convert) {
			set(out, CONNEG_CONVERT, false, NULL, "converted here");
		} else if (in->hop_conperm) {
			set(out, CONNEG_PASS, false, NULL,
			    "CONPERM passed on to the next hop");
		} else if (caps) {
			set(out, CONNEG_FAIL, false, in->conv_fail_status ?
			    in->conv_fail_status : "5.6.5",
			    "conversion failed");
		} else if (in->hop == CONNEG_HOP_CAPS_TEMPFAIL) {
			set(out, CONNEG_FAIL, false, "4.6.3",
			    "CONPERM: capabilities unavailable now and no "
			    "CONPERM at the next hop");
		} else if (in->hop == CONNEG_HOP_CAPS_PERMFAIL) {
			set(out, CONNEG_FAIL, false, "5.6.3",
			    "CONPERM: no capabilities and no CONPERM at the "
			    "next hop");
		} else {
			set(out, CONNEG_FAIL, false, "5.6.3",
			    "next hop offers neither CONPERM nor CONNEG");
		}
	}
	if (in->conperm && out->action != CONNEG_FAIL)
		out->assert_conperm = in->hop_conperm;
}
