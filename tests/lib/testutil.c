/*
 * testutil.c - helpers shared by the cmocka tests.
 */
#include "tests/lib/testutil.h"

#include "common/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

char *
tu_mkdtemp(const char *tag)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[512];

	snprintf(tmpl, sizeof(tmpl), "%s/skywave-%s-XXXXXX",
	    tmp && *tmp ? tmp : "/tmp", tag);
	char *d = mkdtemp(tmpl);
	if (d == NULL) {
		perror("mkdtemp");
		abort();
	}
	return xstrdup(d);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
tu_rmtree(const char *path)
{
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

char *
tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

int
tu_free_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	if (fd < 0)
		abort();
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
		abort();
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static char *
join_env(const char *var, const char *fallback, const char *rel)
{
	const char *base = getenv(var);
	size_t n;
	char *p;

	if (base == NULL || *base == '\0')
		base = fallback;
	n = strlen(base) + strlen(rel) + 2;
	p = xmalloc(n);
	snprintf(p, n, "%s/%s", base, rel);
	return p;
}

char *
tu_build_path(const char *rel)
{
	return join_env("SKYWAVE_BUILD", ".", rel);
}

char *
tu_src_path(const char *rel)
{
	return join_env("SKYWAVE_SRC", "..", rel);
}

uint64_t
tu_seed(const char *test_name)
{
	const char *s = getenv("SKYWAVE_SEED");
	uint64_t seed;

	if (s && *s)
		seed = strtoull(s, NULL, 0);
	else
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	fprintf(stderr, "%s: seed=%llu (repeat with SKYWAVE_SEED=%llu)\n",
	    test_name, (unsigned long long)seed, (unsigned long long)seed);
	return seed;
}
