/*
 * testutil.h - small helpers shared by the cmocka tests.
 */
#ifndef GW_TESTS_TESTUTIL_H
#define GW_TESTS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A fresh private directory under $TMPDIR (removed by tu_rmtree). The
 * returned string is static per call site; copy it if you keep several. */
char *tu_mkdtemp(const char *tag);
/* rm -rf path (best effort). */
void tu_rmtree(const char *path);
/* Write text to path; returns 0 or -errno. */
int tu_write_file(const char *path, const char *text);
/* The whole file at path, NUL-terminated (not counted in *len); fails
 * the test when it cannot be read. Caller frees. */
char *tu_read_file(const char *path, size_t *len);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
int tu_free_port(void);
/* Path of a built binary: $SKYWAVE_BUILD/<rel>; caller frees. */
char *tu_build_path(const char *rel);
/* Path under the source tree: $SKYWAVE_SRC/<rel>; caller frees. */
char *tu_src_path(const char *rel);
/* Seed for a simulation test: $SKYWAVE_SEED if set, else time-based. The
 * seed is printed so a failing run can be repeated. */
uint64_t tu_seed(const char *test_name);

#endif
