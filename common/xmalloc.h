/*
 * xmalloc.h - allocation that aborts on exhaustion, and the always-on checks.
 *
 * skywave writes no out-of-memory recovery paths: a box that cannot allocate
 * a few bytes cannot do anything useful, and the queue is durable, so the
 * service manager's restart is the recovery.
 */
#ifndef GW_COMMON_XMALLOC_H
#define GW_COMMON_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

/* Abort with a message: an impossible state was reached. */
_Noreturn void gw__require_fail(const char *expr, const char *file, int line);
/* Log an impossible state and return 1 so the caller can recover. */
int gw__assert_fail(const char *expr, const char *file, int line);

/* Always on; aborts. No side effects in x. */
#define GW_REQUIRE(x) \
	((x) ? (void)0 : gw__require_fail(#x, __FILE__, __LINE__))
/* Always on; logs and yields 1 when x is false, so: if (GW_FAILS_ASSERT(x)) */
#define GW_FAILS_ASSERT(x) ((x) ? 0 : gw__assert_fail(#x, __FILE__, __LINE__))

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
