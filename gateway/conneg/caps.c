/*
 * caps.c - RFC 2533-style filter parser and evaluator.
 *
 * Contract: pure and thread-agnostic. A parsed filter is a tree owned by
 * the caps_filter handle; every node and string belongs to it. Parsing is
 * recursive descent bounded by CAPS_FILTER_MAX_DEPTH and
 * CAPS_FILTER_MAX_LEN, so hostile input cannot exhaust the stack.
 *
 * Evaluation pushes "!" down to the comparisons (De Morgan), so that a
 * comparison over an absent attribute can hold whatever its polarity
 * (see caps.h, "don't care").
 */
#include "gateway/conneg/caps.h"

#include "common/err.h"
#include "common/xmalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum node_kind { N_AND, N_OR, N_NOT, N_EQ, N_LE, N_GE, N_SET };

struct val {
	enum caps_vkind kind;
	int64_t num, den;
	char *str;
};

struct set_entry {
	struct val lo, hi;
	bool range;
};

struct node {
	enum node_kind kind;
	char *attr;
	struct val v;
	struct set_entry *set;
	size_t nset;
	struct node **kids;
	size_t nkids;
};

struct caps_filter {
	struct node *root;
};

struct parser {
	const char *s;
	size_t pos;
	int depth;
};

static void
val_fini(struct val *v)
{
	free(v->str);
}

static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	for (size_t i = 0; i < n->nset; i++) {
		val_fini(&n->set[i].lo);
		val_fini(&n->set[i].hi);
	}
	free(n->set);
	free(n->attr);
	val_fini(&n->v);
	free(n);
}

void
caps_filter_free(struct caps_filter *f)
{
	if (f == NULL)
		return;
	node_free(f->root);
	free(f);
}

static void
skip_ws(struct parser *p)
{
	while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
	    p->s[p->pos] == '\r' || p->s[p->pos] == '\n')
		p->pos++;
}

static bool
is_tok(int c)
{
	return isalnum(c) || (c != 0 && strchr("-+._/*%:", c) != NULL);
}

static int
parse_attr(struct parser *p, char **out)
{
	size_t st = p->pos;
	while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '-' ||
	    p->s[p->pos] == '_' || p->s[p->pos] == '.')
		p->pos++;
	if (p->pos == st)
		return GW_ESYNTAX;
	*out = xstrndup(p->s + st, p->pos - st);
	return 0;
}

/* Numbers: [-]digits [/ digits] or [-]digits.digits (kept as a rational). */
static bool
try_number(const char *t, struct val *v)
{
	const char *q = t;
	int64_t num = 0, den = 1;
	bool neg = false;
	if (*q == '-') {
		neg = true;
		q++;
	}
	if (!isdigit((unsigned char)*q))
		return false;
	while (isdigit((unsigned char)*q)) {
		if (num > (INT64_MAX - 9) / 10)
			return false;
		num = num * 10 + (*q++ - '0');
	}
	if (*q == '/') {
		q++;
		if (!isdigit((unsigned char)*q))
			return false;
		den = 0;
		while (isdigit((unsigned char)*q)) {
			if (den > (INT64_MAX - 9) / 10)
				return false;
			den = den * 10 + (*q++ - '0');
		}
		if (den == 0)
			return false;
	} else if (*q == '.' && isdigit((unsigned char)q[1])) {
		q++;
		while (isdigit((unsigned char)*q)) {
			if (num > (INT64_MAX - 9) / 10 || den > INT64_MAX / 10)
				return false;
			num = num * 10 + (*q++ - '0');
			den *= 10;
		}
	}
	if (*q != '\0')
		return false;
	v->kind = CAPS_V_NUM;
	v->num = neg ? -num : num;
	v->den = den;
	return true;
}

static int
parse_value(struct parser *p, struct val *v)
{
	memset(v, 0, sizeof(*v));
	skip_ws(p);
	if (p->s[p->pos] == '"') {
		p->pos++;
		size_t st = p->pos;
		while (p->s[p->pos] != '"') {
			if (p->s[p->pos] == '\0')
				return GW_ESYNTAX;
			if (p->s[p->pos] == '\\' && p->s[p->pos + 1] != '\0')
				p->pos++;
			p->pos++;
		}
		v->kind = CAPS_V_STR;
		v->str = xstrndup(p->s + st, p->pos - st);
		p->pos++;
		return 0;
	}
	size_t st = p->pos;
	/* A token; ".." ends it (a range). */
	while (is_tok((unsigned char)p->s[p->pos]) &&
	    !(p->s[p->pos] == '.' && p->s[p->pos + 1] == '.'))
		p->pos++;
	if (p->pos == st)
		return GW_ESYNTAX;
	char *t = xstrndup(p->s + st, p->pos - st);
	if (try_number(t, v)) {
		free(t);
		return 0;
	}
	v->kind = CAPS_V_STR;
	v->str = t;
	return 0;
}

static int parse_filter(struct parser *p, struct node **out);

static int
parse_item(struct parser *p, struct node *n)
{
	int rc = parse_attr(p, &n->attr);
	if (rc < 0)
		return rc;
	skip_ws(p);
	const char *s = p->s + p->pos;
	if (s[0] == '<' && s[1] == '=') {
		n->kind = N_LE;
		p->pos += 2;
	} else if (s[0] == '>' && s[1] == '=') {
		n->kind = N_GE;
		p->pos += 2;
	} else if (s[0] == '=') {
		n->kind = N_EQ;
		p->pos += 1;
	} else {
		return GW_ESYNTAX;
	}
	skip_ws(p);
	if (n->kind == N_EQ && p->s[p->pos] == '[') {
		n->kind = N_SET;
		p->pos++;
		for (;;) {
			if (n->nset >= 256)
				return GW_ETOOBIG;
			n->set = xrealloc(n->set, (n->nset + 1) *
			    sizeof(*n->set));
			struct set_entry *e = &n->set[n->nset++];
			memset(e, 0, sizeof(*e));
			rc = parse_value(p, &e->lo);
			if (rc < 0)
				return rc;
			skip_ws(p);
			if (p->s[p->pos] == '.' && p->s[p->pos + 1] == '.') {
				p->pos += 2;
				e->range = true;
				rc = parse_value(p, &e->hi);
				if (rc < 0)
					return rc;
				skip_ws(p);
			}
			if (p->s[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->s[p->pos] == ']') {
				p->pos++;
				return 0;
			}
			return GW_ESYNTAX;
		}
	}
	return parse_value(p, &n->v);
}

static int
parse_filter(struct parser *p, struct node **out)
{
	skip_ws(p);
	if (p->s[p->pos] != '(')
		return GW_ESYNTAX;
	if (++p->depth > CAPS_FILTER_MAX_DEPTH)
		return GW_ETOOBIG;
	p->pos++;
	skip_ws(p);
	struct node *n = xcalloc(1, sizeof(*n));
	*out = n;
	int rc = 0;
	char c = p->s[p->pos];
	if (c == '&' || c == '|' || c == '!') {
		n->kind = c == '&' ? N_AND : c == '|' ? N_OR : N_NOT;
		p->pos++;
		for (;;) {
			skip_ws(p);
			if (p->s[p->pos] != '(')
				break;
			if (n->nkids >= 1024)
				return GW_ETOOBIG;
			n->kids = xrealloc(n->kids, (n->nkids + 1) *
			    sizeof(*n->kids));
			n->kids[n->nkids] = NULL;
			rc = parse_filter(p, &n->kids[n->nkids++]);
			if (rc < 0)
				return rc;
			if (n->kind == N_NOT)
				break;
		}
		if (n->nkids == 0)
			return GW_ESYNTAX;
	} else {
		rc = parse_item(p, n);
		if (rc < 0)
			return rc;
	}
	skip_ws(p);
	if (p->s[p->pos] != ')')
		return GW_ESYNTAX;
	p->pos++;
	p->depth--;
	return 0;
}

int
caps_filter_parse(const char *text, struct caps_filter **out, size_t *err_off)
{
	*out = NULL;
	if (strlen(text) > CAPS_FILTER_MAX_LEN)
		return GW_ETOOBIG;
	struct parser p = { text, 0, 0 };
	struct node *root = NULL;
	int rc = parse_filter(&p, &root);
	if (rc == 0) {
		skip_ws(&p);
		if (p.s[p.pos] != '\0')
			rc = GW_ESYNTAX;
	}
	if (rc < 0) {
		node_free(root);
		if (err_off != NULL)
			*err_off = p.pos;
		return rc;
	}
	struct caps_filter *f = xmalloc(sizeof(*f));
	f->root = root;
	*out = f;
	return 0;
}

/* ---- collections ---- */

void
caps_fc_init(struct caps_fc *fc)
{
	memset(fc, 0, sizeof(*fc));
}

static struct caps_value *
fc_slot(struct caps_fc *fc, const char *name)
{
	for (size_t i = 0; i < fc->n; i++)
		if (strcasecmp(fc->f[i].name, name) == 0)
			return &fc->f[i].v;
	if (fc->n >= CAPS_FC_MAX)
		return NULL;
	fc->f[fc->n].name = name;
	return &fc->f[fc->n++].v;
}

void
caps_fc_set_str(struct caps_fc *fc, const char *name, const char *v)
{
	struct caps_value *s = fc_slot(fc, name);
	if (s == NULL)
		return;
	s->kind = CAPS_V_STR;
	s->str = v;
	s->num = 0;
	s->den = 1;
}

void
caps_fc_set_num(struct caps_fc *fc, const char *name, int64_t v)
{
	struct caps_value *s = fc_slot(fc, name);
	if (s == NULL)
		return;
	s->kind = CAPS_V_NUM;
	s->str = NULL;
	s->num = v;
	s->den = 1;
}

void
caps_fc_unset(struct caps_fc *fc, const char *name)
{
	for (size_t i = 0; i < fc->n; i++) {
		if (strcasecmp(fc->f[i].name, name) == 0) {
			fc->f[i] = fc->f[fc->n - 1];
			fc->n--;
			return;
		}
	}
}

static const struct caps_value *
fc_get(const struct caps_fc *fc, const char *name)
{
	for (size_t i = 0; i < fc->n; i++)
		if (strcasecmp(fc->f[i].name, name) == 0)
			return &fc->f[i].v;
	return NULL;
}

/* -1, 0, 1 for numbers; 2 when not comparable. */
static int
cmp_vals(const struct caps_value *a, const struct val *b)
{
	if (a->kind == CAPS_V_NUM && b->kind == CAPS_V_NUM) {
		__int128 l = (__int128)a->num * b->den;
		__int128 r = (__int128)b->num * a->den;
		return l < r ? -1 : l > r ? 1 : 0;
	}
	if (a->kind == CAPS_V_STR && b->kind == CAPS_V_STR) {
		size_t bl = strlen(b->str);
		/* "image/ *" style wildcard on the subtype */
		if (bl >= 2 && b->str[bl - 1] == '*' && b->str[bl - 2] == '/')
			return strncasecmp(a->str, b->str, bl - 1) == 0 ? 0 : 2;
		return strcasecmp(a->str, b->str) == 0 ? 0 : 2;
	}
	return 2;
}

static bool
eval(const struct node *n, const struct caps_fc *fc, bool neg)
{
	switch (n->kind) {
	case N_AND:
	case N_OR: {
		/* Under negation & becomes | and the other way round. */
		bool conj = (n->kind == N_AND) != neg;
		for (size_t i = 0; i < n->nkids; i++) {
			bool r = eval(n->kids[i], fc, neg);
			if (conj && !r)
				return false;
			if (!conj && r)
				return true;
		}
		return conj;
	}
	case N_NOT:
		return eval(n->kids[0], fc, !neg);
	default:
		break;
	}
	const struct caps_value *a = fc_get(fc, n->attr);
	if (a == NULL)
		return true; /* don't care, whatever the polarity */
	bool r = false;
	int c;
	switch (n->kind) {
	case N_EQ:
		r = cmp_vals(a, &n->v) == 0;
		break;
	case N_LE:
		c = cmp_vals(a, &n->v);
		r = c == -1 || c == 0;
		break;
	case N_GE:
		c = cmp_vals(a, &n->v);
		r = c == 1 || c == 0;
		break;
	case N_SET:
		for (size_t i = 0; i < n->nset && !r; i++) {
			const struct set_entry *e = &n->set[i];
			if (!e->range) {
				r = cmp_vals(a, &e->lo) == 0;
			} else {
				int lo = cmp_vals(a, &e->lo);
				int hi = cmp_vals(a, &e->hi);
				r = (lo == 0 || lo == 1) &&
				    (hi == 0 || hi == -1);
			}
		}
		break;
	default:
		break;
	}
	return neg ? !r : r;
}

bool
caps_filter_match(const struct caps_filter *f, const struct caps_fc *fc)
{
	if (f == NULL)
		return true;
	return eval(f->root, fc, false);
}

int
caps_fc_format(const struct caps_fc *fc, char *out, size_t len)
{
	size_t o = 0;
	int n;
	if (len == 0)
		return GW_ETOOBIG;
	out[0] = '\0';
	n = snprintf(out, len, "%s", fc->n > 1 ? "(&" : "");
	if (n < 0 || (size_t)n >= len)
		return GW_ETOOBIG;
	o = (size_t)n;
	for (size_t i = 0; i < fc->n; i++) {
		const struct caps_value *v = &fc->f[i].v;
		if (v->kind == CAPS_V_NUM && v->den == 1)
			n = snprintf(out + o, len - o, "(%s=%lld)",
			    fc->f[i].name, (long long)v->num);
		else if (v->kind == CAPS_V_NUM)
			n = snprintf(out + o, len - o, "(%s=%lld/%lld)",
			    fc->f[i].name, (long long)v->num,
			    (long long)v->den);
		else
			n = snprintf(out + o, len - o, "(%s=%s)",
			    fc->f[i].name, v->str);
		if (n < 0 || (size_t)n >= len - o)
			return GW_ETOOBIG;
		o += (size_t)n;
	}
	if (fc->n > 1) {
		n = snprintf(out + o, len - o, ")");
		if (n < 0 || (size_t)n >= len - o)
			return GW_ETOOBIG;
	}
	return 0;
}
