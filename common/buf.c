/*
 * buf.c - growable byte buffer (see buf.h for the invariants).
 */
#include "common/buf.h"

#include "common/xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reserve(struct buf *b, size_t n)
{
	size_t need, cap;

	GW_REQUIRE(n <= SIZE_MAX / 2 - b->len);
	need = b->len + n;
	if (need <= b->cap && b->data != NULL)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap + 1);
	b->cap = cap;
	b->data[b->len] = '\0';
}

void
buf_append(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_append_byte(struct buf *b, uint8_t c)
{
	buf_append(b, &c, 1);
}

void
buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_vappendf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	GW_REQUIRE(n >= 0);
	buf_reserve(b, (size_t)n);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void
buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vappendf(b, fmt, ap);
	va_end(ap);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_truncate(struct buf *b, size_t n)
{
	GW_REQUIRE(n <= b->len);
	b->len = n;
	if (b->data)
		b->data[n] = '\0';
}

uint8_t *
buf_detach(struct buf *b, size_t *len)
{
	uint8_t *p = b->data;

	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data ? (const char *)b->data : "";
}

void
buf_swap(struct buf *a, struct buf *b)
{
	struct buf t = *a;
	*a = *b;
	*b = t;
}
