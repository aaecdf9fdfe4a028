/*
 * cfgtab.c - table-driven INI fields and the line-numbered INI reader.
 */
#include "common/cfgtab.h"

#include "common/err.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Debian's inih reads lines into a fixed buffer of this size. */
#define CFG_INI_LINE_MAX 200

int
cfg_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };

	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return GW_EINVAL;
}

int
cfg_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return GW_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return GW_ERANGE;
	if (*end != '\0')
		return GW_EINVAL;
	*out = v;
	return 0;
}

/* Parse "<digits><suffix>" where suffix selects a multiplier. */
static int
parse_scaled(const char *s, const char *const *suffixes, const int64_t *mult,
    int64_t bare_mult, int64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return GW_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
		return GW_ERANGE;
	int64_t m = -1;
	if (*end == '\0') {
		m = bare_mult;
	} else {
		for (int i = 0; suffixes[i]; i++) {
			if (strcmp(end, suffixes[i]) == 0) {
				m = mult[i];
				break;
			}
		}
	}
	if (m < 0)
		return GW_EINVAL;
	if (v != 0 && (int64_t)v > INT64_MAX / m)
		return GW_ERANGE;
	*out = (int64_t)v * m;
	return 0;
}

int
cfg_parse_duration_ms(const char *s, int64_t *out)
{
	static const char *const suf[] = { "ms", "s", "m", "h", "d", NULL };
	static const int64_t mult[] = { 1, 1000, 60000, 3600000, 86400000 };
	return parse_scaled(s, suf, mult, 1000, out);
}

int
cfg_parse_size(const char *s, int64_t *out)
{
	static const char *const suf[] = { "k", "K", "m", "M", "g", "G", NULL };
	static const int64_t mult[] = { 1024, 1024, 1048576, 1048576,
		1073741824, 1073741824 };
	return parse_scaled(s, suf, mult, 1, out);
}

static void
fmt_duration(int64_t ms, char *out, size_t len)
{
	if (ms != 0 && ms % 86400000 == 0)
		snprintf(out, len, "%" PRId64 "d", ms / 86400000);
	else if (ms != 0 && ms % 3600000 == 0)
		snprintf(out, len, "%" PRId64 "h", ms / 3600000);
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(out, len, "%" PRId64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(out, len, "%" PRId64 "s", ms / 1000);
	else
		snprintf(out, len, "%" PRId64 "ms", ms);
}

static void
fmt_size(int64_t v, char *out, size_t len)
{
	if (v != 0 && v % 1073741824 == 0)
		snprintf(out, len, "%" PRId64 "G", v / 1073741824);
	else if (v != 0 && v % 1048576 == 0)
		snprintf(out, len, "%" PRId64 "M", v / 1048576);
	else if (v != 0 && v % 1024 == 0)
		snprintf(out, len, "%" PRId64 "k", v / 1024);
	else
		snprintf(out, len, "%" PRId64, v);
}

void
cfgtab_describe(const struct cfg_field *f, char *out, size_t outlen)
{
	char a[32], b[32];
	size_t used = 0;

	switch (f->type) {
	case CFG_BOOL:
		snprintf(out, outlen, "yes|no");
		return;
	case CFG_INT:
		snprintf(out, outlen, "%" PRId64 "..%" PRId64, f->min, f->max);
		return;
	case CFG_DURATION_MS:
		fmt_duration(f->min, a, sizeof(a));
		fmt_duration(f->max, b, sizeof(b));
		snprintf(out, outlen, "%s..%s", a, b);
		return;
	case CFG_SIZE:
		fmt_size(f->min, a, sizeof(a));
		fmt_size(f->max, b, sizeof(b));
		snprintf(out, outlen, "%s..%s", a, b);
		return;
	case CFG_STRING:
		snprintf(out, outlen, "text of %" PRId64 "..%" PRId64 " bytes",
		    f->min, f->max);
		return;
	case CFG_ENUM:
		out[0] = '\0';
		for (int i = 0; f->choices[i]; i++) {
			int n = snprintf(out + used, outlen - used, "%s%s",
			    i ? "|" : "", f->choices[i]);
			if (n < 0 || (size_t)n >= outlen - used)
				return;
			used += (size_t)n;
		}
		return;
	}
}

const struct cfg_field *
cfgtab_find(const struct cfg_field *tab, const char *key)
{
	for (; tab->key; tab++)
		if (strcasecmp(tab->key, key) == 0)
			return tab;
	return NULL;
}

static int
range_error(const struct cfg_field *f, const char *value, const char *what,
    char *err, size_t errlen)
{
	char allowed[256];

	cfgtab_describe(f, allowed, sizeof(allowed));
	snprintf(err, errlen, "%s: %s \"%s\" (allowed: %s)", f->key, what, value,
	    allowed);
	return strcmp(what, "out of range") == 0 ? GW_ERANGE : GW_EINVAL;
}

int
cfgtab_set(const struct cfg_field *f, void *obj, const char *value, char *err,
    size_t errlen)
{
	char *p = (char *)obj + f->offset;
	int64_t v = 0;
	bool bv;
	int rc;

	switch (f->type) {
	case CFG_BOOL:
		if (cfg_parse_bool(value, &bv) != 0)
			return range_error(f, value, "bad value", err, errlen);
		memcpy(p, &bv, sizeof(bv));
		return 0;
	case CFG_INT:
	case CFG_DURATION_MS:
	case CFG_SIZE:
		if (f->type == CFG_INT)
			rc = cfg_parse_int(value, &v);
		else if (f->type == CFG_DURATION_MS)
			rc = cfg_parse_duration_ms(value, &v);
		else
			rc = cfg_parse_size(value, &v);
		if (rc == GW_ERANGE)
			return range_error(f, value, "out of range", err, errlen);
		if (rc != 0)
			return range_error(f, value, "bad value", err, errlen);
		if (v < f->min || v > f->max)
			return range_error(f, value, "out of range", err, errlen);
		memcpy(p, &v, sizeof(v));
		return 0;
	case CFG_STRING: {
		size_t n = strlen(value);
		if ((int64_t)n < f->min || (int64_t)n > f->max || n >= f->size)
			return range_error(f, value, "out of range", err, errlen);
		memcpy(p, value, n + 1);
		return 0;
	}
	case CFG_ENUM:
		for (int i = 0; f->choices[i]; i++) {
			if (strcasecmp(value, f->choices[i]) == 0) {
				memcpy(p, &i, sizeof(i));
				return 0;
			}
		}
		return range_error(f, value, "bad value", err, errlen);
	}
	return GW_EINTERNAL;
}

void
cfgtab_format(const struct cfg_field *f, const void *obj, char *out,
    size_t outlen)
{
	const char *p = (const char *)obj + f->offset;
	int64_t v;
	bool bv;
	int iv;

	switch (f->type) {
	case CFG_BOOL:
		memcpy(&bv, p, sizeof(bv));
		snprintf(out, outlen, "%s", bv ? "yes" : "no");
		return;
	case CFG_INT:
		memcpy(&v, p, sizeof(v));
		snprintf(out, outlen, "%" PRId64, v);
		return;
	case CFG_DURATION_MS:
		memcpy(&v, p, sizeof(v));
		fmt_duration(v, out, outlen);
		return;
	case CFG_SIZE:
		memcpy(&v, p, sizeof(v));
		fmt_size(v, out, outlen);
		return;
	case CFG_STRING:
		snprintf(out, outlen, "%s", p);
		return;
	case CFG_ENUM:
		memcpy(&iv, p, sizeof(iv));
		snprintf(out, outlen, "%s", f->choices[iv]);
		return;
	}
}

int
cfgtab_defaults(const struct cfg_field *tab, void *obj, char *err,
    size_t errlen)
{
	for (; tab->key; tab++) {
		const char *d = tab->def ? tab->def : "";
		if (*d == '\0' && tab->type != CFG_STRING)
			d = tab->type == CFG_BOOL ? "no" :
			    tab->type == CFG_ENUM ? tab->choices[0] : "0";
		if (cfgtab_set(tab, obj, d, err, errlen) != 0)
			return GW_EINTERNAL;
	}
	return 0;
}

/* ---- INI reading with line numbers ---------------------------------- */

struct ini_ctx {
	const char *path;
	/* source: either a FILE or a string cursor */
	FILE *fp;
	const char *str;
	int lineno;
	cfg_ini_handler h;
	void *user;
	int first_err;
	int long_line; /* line number of the first over-long line, or 0 */
	char *err;
	size_t errlen;
};

static void
ctx_error(struct ini_ctx *c, int code, const char *msg)
{
	if (c->first_err == 0) {
		c->first_err = code;
		snprintf(c->err, c->errlen, "%s", msg);
	}
}

/* Reads one whole source line; hands inih the line with leading blanks
 * removed (so inih never treats it as a continuation line) and counts it. */
static char *
line_reader(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	char line[4096];
	size_t n = 0;
	int ch;

	if (c->fp) {
		if (fgets(line, sizeof(line), c->fp) == NULL)
			return NULL;
		n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
			/* swallow the rest of a very long line */
			while ((ch = fgetc(c->fp)) != EOF && ch != '\n')
				;
		}
	} else {
		if (*c->str == '\0')
			return NULL;
		const char *nl = strchr(c->str, '\n');
		size_t take = nl ? (size_t)(nl - c->str) + 1 : strlen(c->str);
		n = take < sizeof(line) - 1 ? take : sizeof(line) - 1;
		memcpy(line, c->str, n);
		line[n] = '\0';
		c->str += take;
	}
	c->lineno++;
	const char *s = line;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (len + 2 > (size_t)num || len + 2 > CFG_INI_LINE_MAX) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s:%d: line too long (max %d bytes)",
		    c->path, c->lineno, CFG_INI_LINE_MAX - 2);
		ctx_error(c, GW_ESYNTAX, msg);
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

static int
ini_cb(void *user, const char *section, const char *name, const char *value)
{
	struct ini_ctx *c = user;
	int rc = c->h(c->user, section, name, value, c->lineno);
	if (rc < 0 && c->first_err == 0)
		c->first_err = rc; /* the handler wrote err itself */
	return 1; /* keep going: report every error, return the first */
}

static int
ini_run(struct ini_ctx *c)
{
	int rc = ini_parse_stream(line_reader, c, ini_cb, c);
	if (rc > 0 && c->first_err == 0) {
		char msg[512];
		snprintf(msg, sizeof(msg),
		    "%s:%d: malformed line (expected [section] or key = value)",
		    c->path, rc);
		ctx_error(c, GW_ESYNTAX, msg);
	}
	return c->first_err;
}

int
cfg_ini_parse_file(const char *path, cfg_ini_handler h, void *user, char *err,
    size_t errlen)
{
	struct ini_ctx c = { .path = path, .h = h, .user = user, .err = err,
		.errlen = errlen };
	int rc;

	c.fp = fopen(path, "r");
	if (c.fp == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return GW_ENOENT;
	}
	rc = ini_run(&c);
	fclose(c.fp);
	return rc;
}

int
cfg_ini_parse_string(const char *text, const char *path, cfg_ini_handler h,
    void *user, char *err, size_t errlen)
{
	struct ini_ctx c = { .path = path, .str = text, .h = h, .user = user,
		.err = err, .errlen = errlen };
	return ini_run(&c);
}
