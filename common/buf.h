/*
 * buf.h - a growable byte buffer.
 *
 * Owner: whoever embeds it. Invariants: data is NULL iff cap == 0;
 * len <= cap; when data is not NULL, data[len] is always '\0' (one spare
 * byte is kept), so text can be used as a C string without copying.
 * Growth aborts on exhaustion (xmalloc); there is no failure path.
 */
#ifndef GW_COMMON_BUF_H
#define GW_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap; /* usable bytes, excluding the spare NUL byte */
};

#define BUF_INIT { NULL, 0, 0 }

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
/* Make room for at least n more bytes beyond len. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_append_byte(struct buf *b, uint8_t c);
void buf_append_str(struct buf *b, const char *s);
void buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_vappendf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
/* Drop the first n bytes (n > len drops everything). */
void buf_consume(struct buf *b, size_t n);
/* Set len to 0, keep the allocation. */
void buf_reset(struct buf *b);
/* Shrink len to n (n <= len). */
void buf_truncate(struct buf *b, size_t n);
/* Move the contents out: returns the data (caller frees), b becomes empty. */
uint8_t *buf_detach(struct buf *b, size_t *len);
/* NUL-terminated view of the contents ("" when empty). */
const char *buf_cstr(const struct buf *b);
/* Swap two buffers. */
void buf_swap(struct buf *a, struct buf *b);

#endif
