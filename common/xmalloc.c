/*
 * xmalloc.c - allocation wrappers that abort on exhaustion; check failures.
 */
#include "common/xmalloc.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Noreturn void
oom(size_t n)
{
	fprintf(stderr, "skywave: out of memory allocating %zu bytes\n", n);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL)
		oom(n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

char *
xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *
xmemdup(const void *p, size_t n)
{
	void *q = xmalloc(n);
	if (n)
		memcpy(q, p, n);
	return q;
}

void
gw__require_fail(const char *expr, const char *file, int line)
{
	gw_log(GW_LOG_ERR, "core", "event=require_failed expr=\"%s\" at=%s:%d",
	    gw_logq(expr), file, line);
	abort();
}

int
gw__assert_fail(const char *expr, const char *file, int line)
{
	gw_log(GW_LOG_ERR, "core", "event=assert_failed expr=\"%s\" at=%s:%d",
	    gw_logq(expr), file, line);
	return 1;
}
