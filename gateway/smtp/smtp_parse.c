/*
 * smtp_parse.c - the pure SMTP command parser (see smtp_parse.h).
 *
 * Grammar followed (our wording of the RFCs):
 *   RFC 5321 4.1.2  Path, Mailbox, Local-part (Dot-string / Quoted-string),
 *                   Domain, address literals, esmtp-param.
 *   RFC 1870 SIZE, RFC 6152 BODY, RFC 3030 BODY=BINARYMIME and BDAT,
 *   RFC 3461 RET ENVID NOTIFY ORCPT and xtext, RFC 2852 BY, RFC 6710
 *   MT-PRIORITY, RFC 4141 CONPERM/CONNEG, the ALTRECIP seed slides ARCPT/ABY,
 *   and the DRUCOF proposal (a value-less RCPT flag).
 *
 * Owner/thread: none; pure functions over caller memory.
 * Invariant: no function reads outside [s, s + len) and every copy into a
 * fixed-size field is checked against its bound first.
 */
#include "gateway/smtp/smtp_parse.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const verb_names[] = {
#define SMTP__VERB_NAME(name, str) str,
	SMTP_VERB_MAP(SMTP__VERB_NAME)
#undef SMTP__VERB_NAME
	"?",
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_V__COUNT)
		return "?";
	return verb_names[v];
}

static bool
is_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

static bool
is_hexup(int c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F');
}

/* RFC 5322 atext. */
static bool
is_atext(int c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static bool
ieq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && strncasecmp(s, lit, n) == 0;
}

void
smtp_parse_cmd(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t vlen = 0;

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	cmd->verb = SMTP_V_UNKNOWN;
	for (int v = 0; v < SMTP_V_UNKNOWN; v++) {
		if (ieq(line, vlen, verb_names[v])) {
			cmd->verb = (enum smtp_verb)v;
			break;
		}
	}
	cmd->has_arg = vlen < len;
	if (vlen < len) {
		cmd->arg = line + vlen + 1;
		cmd->arglen = len - vlen - 1;
	} else {
		cmd->arg = "";
		cmd->arglen = 0;
	}
}

/* ---- domains, paths ------------------------------------------------------ */

/* sub-domain *("." sub-domain); underscore allowed for HELO names only. */
static bool
domain_valid(const char *s, size_t len, bool underscore)
{
	size_t label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (is_alnum(c) || (underscore && c == '_'))
			;
		else if (c == '-' && label > 0)
			;
		else
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* "[" ... "]": IPv4, "IPv6:" addr, or tag ":" dcontent. */
static bool
literal_valid(const char *s, size_t len)
{
	char tmp[SMTP_DOMAIN_MAX + 1];
	const char *colon;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 > SMTP_DOMAIN_MAX)
		return false;
	memcpy(tmp, s + 1, len - 2);
	tmp[len - 2] = '\0';
	for (size_t i = 0; i < len - 2; i++) {
		int c = (unsigned char)tmp[i];
		if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
			return false;
	}
	unsigned char addr[16];
	if (inet_pton(AF_INET, tmp, addr) == 1)
		return true;
	if (strncasecmp(tmp, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, tmp + 5, addr) == 1;
	colon = strchr(tmp, ':');
	if (colon == NULL || colon == tmp || colon[1] == '\0')
		return false;
	/* General-address-literal: Standardized-tag ":" 1*dcontent. */
	return domain_valid(tmp, (size_t)(colon - tmp), false) &&
	    strchr(tmp, '.') != tmp;
}

bool
smtp_domain_valid(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[')
		return literal_valid(s, len);
	return domain_valid(s, len, false);
}

bool
smtp_helo_valid(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[')
		return literal_valid(s, len);
	/* One trailing dot is common in HELO names; tolerate it. */
	if (len > 1 && s[len - 1] == '.')
		len--;
	return domain_valid(s, len, true);
}

/* Local-part at s; returns its length or -1. Stops at '@'. */
static long
local_part(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return -1;
	if (s[0] == '"') {
		for (i = 1; i < len; i++) {
			int c = (unsigned char)s[i];

			if (c == '\\') {
				if (i + 1 >= len)
					return -1;
				c = (unsigned char)s[++i];
				if (c < 32 || c > 126)
					return -1;
			} else if (c == '"') {
				return (long)i + 1;
			} else if (c < 32 || c > 126) {
				return -1;
			}
		}
		return -1;
	}
	/* Dot-string: Atom *("." Atom). */
	bool need_atom = true;
	for (i = 0; i < len && s[i] != '@'; i++) {
		int c = (unsigned char)s[i];

		if (c == '.') {
			if (need_atom)
				return -1;
			need_atom = true;
		} else if (is_atext(c)) {
			need_atom = false;
		} else {
			break;
		}
	}
	if (need_atom)
		return -1;
	return (long)i;
}

int
smtp_parse_path(const char *s, size_t len, bool reverse, char *out,
    size_t *used)
{
	size_t end, i;

	if (len < 2 || s[0] != '<')
		return -1;
	/* Find the closing '>' outside a quoted local part. */
	bool quoted = false;
	for (end = 1; end < len; end++) {
		char c = s[end];

		if (quoted && c == '\\') {
			end++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (c == '>' && !quoted)
			break;
	}
	if (end >= len)
		return -1;
	*used = end + 1;
	if (end + 1 > SMTP_PATH_MAX)
		return -2;
	const char *p = s + 1;
	size_t n = end - 1;

	if (n == 0) {
		if (!reverse)
			return -1;
		out[0] = '\0';
		return 0;
	}
	if (!reverse && ieq(p, n, "postmaster")) {
		memcpy(out, p, n);
		out[n] = '\0';
		return 0;
	}
	/* A-d-l ":" (source route): accepted and ignored (RFC 5321 4.1.2). */
	if (p[0] == '@') {
		const char *colon = memchr(p, ':', n);

		if (colon == NULL)
			return -1;
		size_t adl = (size_t)(colon - p);
		size_t a = 0;
		while (a < adl) {
			size_t b = a + 1;

			if (p[a] != '@')
				return -1;
			while (b < adl && p[b] != ',')
				b++;
			if (!smtp_domain_valid(p + a + 1, b - a - 1))
				return -1;
			a = b + (b < adl ? 1 : 0);
			if (b < adl && a >= adl)
				return -1;
		}
		p = colon + 1;
		n -= adl + 1;
	}
	long lp = local_part(p, n);
	if (lp < 0 || (size_t)lp >= n || p[lp] != '@')
		return -1;
	if (lp > SMTP_LOCAL_MAX)
		return -2;
	i = (size_t)lp + 1;
	if (!smtp_domain_valid(p + i, n - i))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

bool
smtp_mailbox_valid(const char *s, size_t len)
{
	long lp = local_part(s, len);

	if (lp <= 0 || (size_t)lp >= len || s[lp] != '@' || lp > SMTP_LOCAL_MAX)
		return false;
	return smtp_domain_valid(s + lp + 1, len - (size_t)lp - 1);
}

/* An ARCPT value: "rfc822" ";" xtext whose decoded text is one mailbox
 * (local-part "@" domain); anything else can never be redirected to. */
static bool
arcpt_valid(const char *s, size_t len)
{
	char alt[SMTP_ORCPT_MAX + 1];
	long n;

	if (!smtp_typed_addr_valid(s, len) || len < 7 ||
	    !ieq(s, 6, "rfc822") || s[6] != ';')
		return false;
	n = smtp_xtext_decode(s + 7, len - 7, alt, sizeof(alt));
	return n > 0 && smtp_mailbox_valid(alt, (size_t)n);
}

/* ---- parameter values ---------------------------------------------------- */

bool
smtp_xtext_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			if (i + 2 >= len || !is_hexup(s[i + 1]) ||
			    !is_hexup(s[i + 2]))
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

static int
hexval(int c)
{
	return is_digit(c) ? c - '0' : c - 'A' + 10;
}

int
smtp_xtext_decode(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (!smtp_xtext_valid(s, len) || outlen == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '+') {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int
smtp_parse_priority(const char *s, size_t len, int *out)
{
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return 0;
	}
	if (len == 1 && s[0] >= '1' && s[0] <= '9') {
		*out = s[0] - '0';
		return 0;
	}
	if (len == 2 && s[0] == '-' && s[1] >= '1' && s[1] <= '9') {
		*out = -(s[1] - '0');
		return 0;
	}
	return -1;
}

int
smtp_parse_draft_priority(const char *s, size_t len, int *out)
{
	size_t i = 0;
	int v = 0;

	if (len > 0 && s[0] == '-')
		i = 1;
	if (len - i == 0 || len - i > 2 || (len - i == 2 && s[i] == '0') ||
	    (i == 1 && len == 2 && s[1] == '0'))
		return -1; /* "", "-", "03", "-0", "100" */
	for (; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = s[0] == '-' ? -v : v;
	return 0;
}

int
smtp_parse_by(const char *s, size_t len, int64_t *t, char *mode, bool *trace)
{
	size_t i = 0, digits = 0;
	int64_t v = 0;
	bool neg = false;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	while (i < len && is_digit(s[i])) {
		if (++digits > 9)
			return -1;
		v = v * 10 + (s[i++] - '0');
	}
	if (digits == 0 || i >= len || s[i] != ';')
		return -1;
	i++;
	if (i >= len)
		return -1;
	char m = s[i] == 'r' || s[i] == 'R' ? 'R' :
	    s[i] == 'n' || s[i] == 'N' ? 'N' : 0;
	if (m == 0)
		return -1;
	i++;
	bool tr = false;
	if (i < len) {
		if (s[i] != 't' && s[i] != 'T')
			return -1;
		tr = true;
		i++;
	}
	if (i != len)
		return -1;
	*t = neg ? -v : v;
	*mode = m;
	*trace = tr;
	return 0;
}

int
smtp_parse_notify(const char *s, size_t len, unsigned *bits)
{
	unsigned b = 0;
	size_t i = 0;

	if (len == 0)
		return -1;
	while (i <= len) {
		size_t j = i;

		while (j < len && s[j] != ',')
			j++;
		if (ieq(s + i, j - i, "NEVER"))
			b |= SMTP_NOTIFY_NEVER;
		else if (ieq(s + i, j - i, "SUCCESS"))
			b |= SMTP_NOTIFY_SUCCESS;
		else if (ieq(s + i, j - i, "FAILURE"))
			b |= SMTP_NOTIFY_FAILURE;
		else if (ieq(s + i, j - i, "DELAY"))
			b |= SMTP_NOTIFY_DELAY;
		else
			return -1;
		i = j + 1;
	}
	/* NEVER stands alone. */
	if ((b & SMTP_NOTIFY_NEVER) && b != SMTP_NOTIFY_NEVER)
		return -1;
	*bits = b;
	return 0;
}

bool
smtp_typed_addr_valid(const char *s, size_t len)
{
	const char *semi = memchr(s, ';', len);

	if (semi == NULL || semi == s || len > SMTP_ORCPT_MAX)
		return false;
	for (const char *p = s; p < semi; p++)
		if (!is_atext((unsigned char)*p))
			return false;
	size_t xl = len - (size_t)(semi - s) - 1;
	return xl > 0 && smtp_xtext_valid(semi + 1, xl);
}

int
smtp_parse_bdat(const char *s, size_t len, uint64_t *size, bool *last)
{
	size_t i = 0, digits = 0;
	uint64_t v = 0;

	while (i < len && is_digit(s[i])) {
		if (++digits > 19)
			return -1;
		v = v * 10 + (uint64_t)(s[i++] - '0');
	}
	if (digits == 0)
		return -1;
	*last = false;
	if (i < len) {
		if (s[i] != ' ' || !ieq(s + i + 1, len - i - 1, "LAST"))
			return -1;
		*last = true;
	}
	*size = v;
	return 0;
}

/* ---- parameters ---------------------------------------------------------- */

/* Known keywords: allowance (extra line octets) and whether MAIL/RCPT. */
enum kw_id { KW_SIZE, KW_BODY, KW_RET, KW_ENVID, KW_MTPRIO, KW_BY, KW_ABY,
	KW_CONPERM, KW_NOTIFY, KW_ORCPT, KW_ARCPT, KW_CONNEG, KW_DRUCOF,
	KW_PRIODRAFT, KW__COUNT };

static const struct {
	const char *name;
	size_t allowance;
} keywords[KW__COUNT] = {
	/* RFC 1870: +26 */
	[KW_SIZE] = { "SIZE", 26 },
	/* " BODY=BINARYMIME" (no RFC figure; ours) */
	[KW_BODY] = { "BODY", 16 },
	/* " RET=HDRS" */
	[KW_RET] = { "RET", 9 },
	/* " ENVID=" plus the 100-character maximum */
	[KW_ENVID] = { "ENVID", 107 },
	/* RFC 6710: +15 */
	[KW_MTPRIO] = { "MT-PRIORITY", 15 },
	/* RFC 2852: +17 */
	[KW_BY] = { "BY", 17 },
	/* ABY has BY's shape: " ABY=" + 10 + ";RT" */
	[KW_ABY] = { "ABY", 18 },
	[KW_CONPERM] = { "CONPERM", 8 },
	/* " NOTIFY=SUCCESS,FAILURE,DELAY" */
	[KW_NOTIFY] = { "NOTIFY", 29 },
	/* " ORCPT=" plus the 500-character maximum */
	[KW_ORCPT] = { "ORCPT", 507 },
	[KW_ARCPT] = { "ARCPT", 507 },
	[KW_CONNEG] = { "CONNEG", 7 },
	[KW_DRUCOF] = { "DRUCOF", 7 },
	/* " PRIORITY=-99" (the seed's draft; no figure given: ours) */
	[KW_PRIODRAFT] = { "PRIORITY", 13 },
};

static int
kw_lookup(const char *s, size_t len)
{
	for (int i = 0; i < KW__COUNT; i++)
		if (ieq(s, len, keywords[i].name))
			return i;
	return -1;
}

size_t
smtp_param_allowance(const char *kw, size_t kwlen)
{
	int k = kw_lookup(kw, kwlen);

	return k < 0 ? 0 : keywords[k].allowance;
}

size_t
smtp_line_allowance(const char *arg, size_t len)
{
	unsigned seen = 0;
	size_t total = 0, i = 0;

	while (i < len) {
		while (i < len && arg[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && arg[i] != ' ' && arg[i] != '=')
			i++;
		int k = kw_lookup(arg + start, i - start);
		if (k >= 0 && !(seen & (1u << k))) {
			seen |= 1u << k;
			total += keywords[k].allowance;
		}
		while (i < len && arg[i] != ' ')
			i++;
	}
	return total;
}

static bool
keyword_valid(const char *s, size_t len)
{
	if (len == 0 || !is_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

struct param {
	const char *kw;
	size_t kwlen;
	const char *val;
	size_t vallen;
	bool has_val;
};

/* Next parameter from s[*i..len). Returns 1 with p filled, 0 at the end,
 * -1 on bad syntax. Parameters are separated by one or more SP. */
static int
next_param(const char *s, size_t len, size_t *i, struct param *p)
{
	size_t j = *i;

	while (j < len && s[j] == ' ')
		j++;
	if (j >= len) {
		*i = j;
		return 0;
	}
	size_t start = j;
	while (j < len && s[j] != ' ' && s[j] != '=')
		j++;
	p->kw = s + start;
	p->kwlen = j - start;
	p->has_val = false;
	p->val = "";
	p->vallen = 0;
	if (j < len && s[j] == '=') {
		size_t vs = ++j;
		while (j < len && s[j] != ' ')
			j++;
		p->has_val = true;
		p->val = s + vs;
		p->vallen = j - vs;
	}
	*i = j;
	return keyword_valid(p->kw, p->kwlen) ? 1 : -1;
}

static bool
value_chars_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c < 33 || c > 126 || c == '=')
			return false;
	}
	return true;
}

static int
perr(struct smtp_perr *e, int code, const char *enh, const char *text)
{
	e->code = code;
	e->enh = enh;
	e->text = text;
	return -1;
}

static int
not_offered(struct smtp_perr *e, int k)
{
	if (k == KW_CONPERM || k == KW_CONNEG || k == KW_DRUCOF)
		return perr(e, 504, "5.5.4", "parameter not offered");
	return perr(e, 555, "5.5.4", "unsupported parameter");
}

static unsigned
kw_ext(int k)
{
	switch (k) {
	case KW_SIZE: return SMTP_EXT_SIZE;
	case KW_BODY: return 0; /* checked per value */
	case KW_RET: case KW_ENVID: case KW_NOTIFY: case KW_ORCPT:
		return SMTP_EXT_DSN;
	case KW_MTPRIO: return SMTP_EXT_MTPRIORITY;
	case KW_BY: return SMTP_EXT_DELIVERBY;
	case KW_ABY: case KW_ARCPT: return SMTP_EXT_ALTRECIP;
	case KW_CONPERM: return SMTP_EXT_CONPERM;
	case KW_CONNEG: case KW_DRUCOF: return SMTP_EXT_CONNEG;
	case KW_PRIODRAFT: return SMTP_EXT_PRIODRAFT;
	default: return 0;
	}
}

/* "FROM:" / "TO:" then optional blanks, then a path. */
static int
parse_prefix_path(const char *arg, size_t len, const char *prefix,
    bool reverse, char *out, size_t *rest, struct smtp_perr *err)
{
	size_t pl = strlen(prefix), i;
	int rc;
	size_t used = 0;

	if (len < pl || strncasecmp(arg, prefix, pl) != 0)
		return perr(err, 501, "5.5.4", reverse ?
		    "syntax: MAIL FROM:<address> [parameters]" :
		    "syntax: RCPT TO:<address> [parameters]");
	i = pl;
	while (i < len && arg[i] == ' ')
		i++;
	rc = smtp_parse_path(arg + i, len - i, reverse, out, &used);
	if (rc == -2)
		return perr(err, 501, reverse ? "5.1.7" : "5.1.3",
		    "path too long");
	if (rc != 0)
		return perr(err, 501, reverse ? "5.1.7" : "5.1.3",
		    reverse ? "bad sender address syntax" :
		    "bad recipient address syntax");
	i += used;
	if (i < len && arg[i] != ' ')
		return perr(err, 501, "5.5.4", "garbage after the path");
	*rest = i;
	return 0;
}

int
smtp_parse_mail(const char *arg, size_t len, unsigned ext,
    struct smtp_mail_args *m, struct smtp_perr *err)
{
	size_t i;
	unsigned seen = 0;
	struct param p;
	int r;

	memset(m, 0, sizeof(*m));
	if (parse_prefix_path(arg, len, "FROM:", true, m->path, &i, err) != 0)
		return -1;
	while ((r = next_param(arg, len, &i, &p)) != 0) {
		if (r < 0)
			return perr(err, 501, "5.5.4", "bad parameter syntax");
		int k = kw_lookup(p.kw, p.kwlen);
		if (k < 0 || k == KW_NOTIFY || k == KW_ORCPT ||
		    k == KW_ARCPT || k == KW_CONNEG || k == KW_DRUCOF)
			return perr(err, 555, "5.5.4", "unsupported parameter");
		if (kw_ext(k) != 0 && !(ext & kw_ext(k)))
			return not_offered(err, k);
		if (seen & (1u << k))
			return perr(err, 501, k == KW_MTPRIO ? "5.5.2" :
			    "5.5.4", "duplicate parameter");
		seen |= 1u << k;
		m->allowance += keywords[k].allowance;
		switch (k) {
		case KW_SIZE: {
			int64_t v = 0;
			if (p.vallen == 0 || p.vallen > 20)
				return perr(err, 501, "5.5.4", "bad SIZE value");
			for (size_t j = 0; j < p.vallen; j++) {
				if (!is_digit(p.val[j]))
					return perr(err, 501, "5.5.4",
					    "bad SIZE value");
				int d = p.val[j] - '0';
				v = v > (INT64_MAX - d) / 10 ? INT64_MAX :
				    v * 10 + d;
			}
			m->has_size = true;
			m->size = v;
			break;
		}
		case KW_BODY:
			if (ieq(p.val, p.vallen, "7BIT"))
				m->body = SMTP_BODY_7BIT;
			else if (ieq(p.val, p.vallen, "8BITMIME")) {
				if (!(ext & SMTP_EXT_8BITMIME))
					return not_offered(err, k);
				m->body = SMTP_BODY_8BITMIME;
			} else if (ieq(p.val, p.vallen, "BINARYMIME")) {
				if (!(ext & SMTP_EXT_BINARYMIME))
					return not_offered(err, k);
				m->body = SMTP_BODY_BINARYMIME;
			} else
				return perr(err, 501, "5.5.4", "bad BODY value");
			m->has_body = true;
			break;
		case KW_RET:
			if (ieq(p.val, p.vallen, "FULL"))
				m->ret = SMTP_RET_FULL;
			else if (ieq(p.val, p.vallen, "HDRS"))
				m->ret = SMTP_RET_HDRS;
			else
				return perr(err, 501, "5.5.4", "bad RET value");
			break;
		case KW_ENVID:
			if (p.vallen == 0 || p.vallen > SMTP_ENVID_MAX ||
			    !smtp_xtext_valid(p.val, p.vallen))
				return perr(err, 501, "5.5.4", "bad ENVID value");
			memcpy(m->envid, p.val, p.vallen);
			m->envid[p.vallen] = '\0';
			m->has_envid = true;
			break;
		case KW_MTPRIO:
			if (!p.has_val || smtp_parse_priority(p.val, p.vallen,
			    &m->priority) != 0)
				return perr(err, 501, "5.5.2",
				    "bad MT-PRIORITY value (-9..9)");
			m->has_priority = true;
			break;
		case KW_PRIODRAFT:
			if (!p.has_val || smtp_parse_draft_priority(p.val,
			    p.vallen, &m->draft) != 0)
				return perr(err, 501, "5.5.2",
				    "bad PRIORITY value (-99..99)");
			m->has_draft = true;
			break;
		case KW_BY:
			if (smtp_parse_by(p.val, p.vallen, &m->by_time,
			    &m->by_mode, &m->by_trace) != 0)
				return perr(err, 501, "5.5.4",
				    "bad BY value (seconds;R|N[T])");
			if (m->by_mode == 'R' && m->by_time <= 0)
				return perr(err, 501, "5.5.4",
				    "BY time must be positive with mode R");
			m->has_by = true;
			break;
		case KW_ABY: {
			bool tr;
			if (smtp_parse_by(p.val, p.vallen, &m->aby_time,
			    &m->aby_mode, &tr) != 0 || tr)
				return perr(err, 501, "5.5.4",
				    "bad ABY value (seconds;R|N)");
			if (m->aby_time <= 0 && m->aby_mode == 'R')
				return perr(err, 501, "5.5.4",
				    "ABY time must be positive with mode R");
			m->has_aby = true;
			break;
		}
		case KW_CONPERM:
			if (p.has_val)
				return perr(err, 501, "5.5.4",
				    "CONPERM takes no value");
			m->conperm = true;
			break;
		default:
			return perr(err, 555, "5.5.4", "unsupported parameter");
		}
	}
	return 0;
}

int
smtp_parse_rcpt(const char *arg, size_t len, unsigned ext,
    struct smtp_rcpt_args *rc, struct smtp_perr *err)
{
	size_t i;
	unsigned seen = 0;
	struct param p;
	int r;

	memset(rc, 0, sizeof(*rc));
	if (parse_prefix_path(arg, len, "TO:", false, rc->path, &i, err) != 0)
		return -1;
	while ((r = next_param(arg, len, &i, &p)) != 0) {
		if (r < 0)
			return perr(err, 501, "5.5.4", "bad parameter syntax");
		int k = kw_lookup(p.kw, p.kwlen);
		if (k != KW_NOTIFY && k != KW_ORCPT && k != KW_ARCPT &&
		    k != KW_CONNEG && k != KW_DRUCOF)
			return perr(err, 555, "5.5.4", "unsupported parameter");
		if (!(ext & kw_ext(k)))
			return not_offered(err, k);
		if (seen & (1u << k))
			return perr(err, 501, "5.5.4", "duplicate parameter");
		seen |= 1u << k;
		rc->allowance += keywords[k].allowance;
		switch (k) {
		case KW_NOTIFY:
			if (!value_chars_valid(p.val, p.vallen) ||
			    smtp_parse_notify(p.val, p.vallen, &rc->notify) != 0)
				return perr(err, 501, "5.5.4",
				    "bad NOTIFY value");
			break;
		case KW_ORCPT:
		case KW_ARCPT: {
			char *dst = k == KW_ORCPT ? rc->orcpt : rc->arcpt;
			if (k == KW_ARCPT &&
			    !arcpt_valid(p.val, p.vallen))
				return perr(err, 501, "5.5.4", "ARCPT is not "
				    "a mailbox (rfc822;local-part@domain)");
			if (!smtp_typed_addr_valid(p.val, p.vallen))
				return perr(err, 501, "5.5.4", k == KW_ORCPT ?
				    "bad ORCPT value (type;xtext)" :
				    "bad ARCPT value (type;xtext)");
			memcpy(dst, p.val, p.vallen);
			dst[p.vallen] = '\0';
			if (k == KW_ORCPT)
				rc->has_orcpt = true;
			else
				rc->has_arcpt = true;
			break;
		}
		case KW_CONNEG:
		case KW_DRUCOF:
			if (p.has_val)
				return perr(err, 501, "5.5.4",
				    "parameter takes no value");
			if (k == KW_CONNEG)
				rc->conneg = true;
			else
				rc->drucof = true;
			break;
		default:
			return perr(err, 555, "5.5.4", "unsupported parameter");
		}
	}
	return 0;
}
