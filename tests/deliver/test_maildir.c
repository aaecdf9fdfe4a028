/* maildir: a delivered file sits in new/ with the content intact (LF line
 * ends, Return-Path and Delivered-To first), tmp/ is left empty, the file
 * and the directory are fsynced, names are unique; ENOSPC and EACCES map to
 * deferrals; the async path runs off the loop thread. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/deliver/deliver.h"
#include "gateway/deliver/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static const char msg[] =
    "From: a@x.test\r\n"
    "To: b@y.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    ".leading dot stays as is\r\n"
    "line two\r\n";

static const char want_file[] =
    "Return-Path: <a@x.test>\n"
    "Delivered-To: b@y.test\n"
    "From: a@x.test\n"
    "To: b@y.test\n"
    "Subject: hello\n"
    "\n"
    ".leading dot stays as is\n"
    "line two\n";

static size_t
count_dir(const char *dir, const char *sub, char *first, size_t cap)
{
	char p[1024];
	size_t n = 0;
	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	DIR *d = opendir(p);
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == 0 && first)
			snprintf(first, cap, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *b = xmalloc(1 << 20);
	*len = fread(b, 1, (1 << 20) - 1, f);
	b[*len] = '\0';
	fclose(f);
	return b;
}

struct counting_io {
	struct maildir_io io;
	int fsyncs;
	int write_err;   /* returned by write when != 0 */
	int open_err;    /* returned by open when != 0 */
	int fsync_err;
};

static int
c_open(void *ctx, const char *path)
{
	struct counting_io *c = ctx;
	if (c->open_err)
		return c->open_err;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static ssize_t
c_write(void *ctx, int fd, const void *p, size_t n)
{
	struct counting_io *c = ctx;
	if (c->write_err)
		return c->write_err;
	ssize_t w = write(fd, p, n);
	return w < 0 ? -errno : w;
}

static int
c_fsync(void *ctx, int fd)
{
	struct counting_io *c = ctx;
	c->fsyncs++;
	if (c->fsync_err)
		return c->fsync_err;
	return fsync(fd) == 0 ? 0 : -errno;
}

static void
cio_init(struct counting_io *c)
{
	memset(c, 0, sizeof(*c));
	c->io.open_excl = c_open;
	c->io.write = c_write;
	c->io.fsync = c_fsync;
	c->io.ctx = c;
}

static void
test_write_new(void **state)
{
	(void)state;
	char *root = tu_mkdtemp("md");
	char dir[600], name[1024], first[512], path[2048];
	struct counting_io cio;
	cio_init(&cio);
	snprintf(dir, sizeof(dir), "%s/sub/Maildir", root);
	struct maildir_req r = {
		.dir = dir, .rcpt = "b@y.test", .return_path = "a@x.test",
		.hostname = "field/unit:1", .content = (const uint8_t *)msg,
		.len = strlen(msg), .create = true, .io = &cio.io,
	};
	assert_int_equal(maildir_write(&r, name, sizeof(name)), 0);
	assert_int_equal(strncmp(name, "new/", 4), 0);
	/* The host part escapes '/' and ':' and the size is recorded. */
	assert_non_null(strstr(name, ".field\\057unit\\0721,S="));
	assert_int_equal(cio.fsyncs, 2); /* the file, then new/ */
	assert_int_equal(count_dir(dir, "new", first, sizeof(first)), 1);
	assert_int_equal(count_dir(dir, "tmp", NULL, 0), 0);
	assert_int_equal(count_dir(dir, "cur", NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t len;
	char *got = slurp(path, &len);
	assert_int_equal(len, strlen(want_file));
	assert_memory_equal(got, want_file, len);
	char sz[32];
	snprintf(sz, sizeof(sz), ",S=%zu", len);
	assert_non_null(strstr(name, sz));
	free(got);

	/* A second delivery gets a different name. */
	char name2[1024];
	assert_int_equal(maildir_write(&r, name2, sizeof(name2)), 0);
	assert_string_not_equal(name, name2);
	assert_int_equal(count_dir(dir, "new", NULL, 0), 2);
	tu_rmtree(root);
	free(root);
}

static void
test_errors_mapped(void **state)
{
	(void)state;
	char *root = tu_mkdtemp("mderr");
	char name[1024];
	struct counting_io cio;
	struct deliver_outcome o = { .rcpt = 3 };
	struct maildir_req r = {
		.dir = root, .rcpt = "b@y.test", .return_path = "",
		.hostname = "h", .content = (const uint8_t *)msg,
		.len = strlen(msg), .create = true, .io = &cio.io,
	};

	cio_init(&cio);
	cio.write_err = -ENOSPC;
	int rc = maildir_write(&r, name, sizeof(name));
	assert_int_equal(rc, GW_ENOSPC);
	assert_string_equal(name, "");
	assert_int_equal(count_dir(root, "new", NULL, 0), 0);
	assert_int_equal(count_dir(root, "tmp", NULL, 0), 0); /* cleaned */
	deliver_outcome_from_err(&o, rc, "Maildir delivery");
	assert_int_equal(o.action, DELIVER_DEFERRED);
	assert_string_equal(o.status, "4.3.1");
	assert_int_equal(o.rcpt, 3);

	cio_init(&cio);
	cio.open_err = -EACCES;
	rc = maildir_write(&r, name, sizeof(name));
	assert_int_equal(rc, -EACCES);
	deliver_outcome_from_err(&o, rc, "Maildir delivery");
	assert_int_equal(o.action, DELIVER_DEFERRED);
	assert_string_equal(o.status, "4.3.0");
	assert_non_null(strstr(o.text, "ermission"));

	/* A failed directory fsync takes the message back out of new/. */
	cio_init(&cio);
	cio.fsync_err = -EIO;
	rc = maildir_write(&r, name, sizeof(name));
	assert_true(rc < 0);
	assert_int_equal(count_dir(root, "new", NULL, 0), 0);
	assert_int_equal(count_dir(root, "tmp", NULL, 0), 0);

	cio_init(&cio);
	deliver_outcome_from_err(&o, -EDQUOT, "x");
	assert_string_equal(o.status, "4.2.2");
	tu_rmtree(root);
	free(root);
}

/* The real thing without injection: a read-only Maildir. Root ignores
 * permission bits, so this part only runs for ordinary users. */
static void
test_readonly_dir(void **state)
{
	(void)state;
	if (geteuid() == 0) {
		fprintf(stderr, "test_readonly_dir: running as root, "
		    "permission bits do not apply; skipped\n");
		skip();
	}
	char *root = tu_mkdtemp("mdro");
	char name[1024], sub[700];
	snprintf(sub, sizeof(sub), "%s/tmp", root);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/new", root);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/tmp", root);
	chmod(sub, 0500);
	struct maildir_req r = {
		.dir = root, .rcpt = "b@y.test", .return_path = "",
		.hostname = "h", .content = (const uint8_t *)msg,
		.len = strlen(msg), .create = true,
	};
	int rc = maildir_write(&r, name, sizeof(name));
	assert_int_equal(rc, -EACCES);
	struct deliver_outcome o = { 0 };
	deliver_outcome_from_err(&o, rc, "Maildir");
	assert_string_equal(o.status, "4.3.0");
	chmod(sub, 0700);
	tu_rmtree(root);
	free(root);
}

struct async_ctx {
	int status;
	char name[1024];
	int calls;
	pthread_t loop_thread;
	bool on_loop_thread;
};

static void
async_cb(int status, const char *name, void *arg)
{
	struct async_ctx *a = arg;
	a->status = status;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->calls++;
	a->on_loop_thread = pthread_equal(pthread_self(), a->loop_thread);
}

static pthread_t writer_thread;

static int
t_open(void *ctx, const char *path)
{
	(void)ctx;
	writer_thread = pthread_self();
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static void
test_async_off_loop(void **state)
{
	(void)state;
	char *root = tu_mkdtemp("mdasync");
	uv_loop_t loop;
	struct async_ctx a = { .status = 1 };
	struct maildir_io io = { .open_excl = t_open };
	uv_loop_init(&loop);
	a.loop_thread = pthread_self();
	struct maildir_req r = {
		.dir = root, .rcpt = "b@y.test", .return_path = "a@x.test",
		.hostname = "h", .content = (const uint8_t *)msg,
		.len = strlen(msg), .create = true, .io = &io,
	};
	assert_int_equal(maildir_deliver(&loop, &r, async_cb, &a), 0);
	assert_int_equal(a.calls, 0); /* never synchronous */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_true(a.on_loop_thread);
	assert_false(pthread_equal(writer_thread, a.loop_thread));
	assert_int_equal(count_dir(root, "new", NULL, 0), 1);
	uv_loop_close(&loop);
	tu_rmtree(root);
	free(root);
}

static void
test_expand_and_seen(void **state)
{
	(void)state;
	char out[256];
	assert_int_equal(maildir_expand("/m/%d/%u/Maildir", "Bob@Y.Test", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/m/y.test/bob/Maildir");
	assert_int_equal(maildir_expand("/m/100%%", "b@y", out, sizeof(out)),
	    0);
	assert_string_equal(out, "/m/100%");
	assert_int_equal(maildir_expand("/m/%u", "\"Bob\"@y", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/m/bob");
	static const char *const bad[] = { "../x@y", ".x@y", "a/b@y",
		"@y", "a b@y" };
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
		if (maildir_expand("/m/%u", bad[i], out, sizeof(out)) == 0)
			fail_msg("unsafe expansion accepted: %s", bad[i]);
	assert_int_equal(maildir_expand("/m/%d", "a@../", out, sizeof(out)),
	    GW_EINVAL);

	const char *m = "Delivered-To: <B@y.test>\r\nSubject: x\r\n\r\n"
	    "Delivered-To: c@y.test\r\n";
	assert_true(maildir_seen_delivered_to((const uint8_t *)m, strlen(m),
	    "b@y.test"));
	assert_false(maildir_seen_delivered_to((const uint8_t *)m, strlen(m),
	    "c@y.test")); /* only the header section counts */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_new),
		cmocka_unit_test(test_errors_mapped),
		cmocka_unit_test(test_readonly_dir),
		cmocka_unit_test(test_async_off_loop),
		cmocka_unit_test(test_expand_and_seen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
