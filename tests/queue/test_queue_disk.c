/*
 * test_queue_disk.c - storage full. With SQLite's page limit (always) and
 * with a size-limited tmpfs (when this process may mount one): requests
 * fail with GW_ENOSPC and store nothing, every acknowledged message stays
 * intact, and service resumes once there is room again.
 */
#include "tests/queue/qtest.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

struct acked {
	uint8_t id[QUEUE_ID_LEN];
	uint8_t sha[32];
};

struct fillres {
	bool done;
	int status;
	uint8_t id[QUEUE_ID_LEN];
};

static void
fill_cb(int status, const uint8_t id[QUEUE_ID_LEN], void *arg)
{
	struct fillres *r = arg;
	r->status = status;
	memcpy(r->id, id, QUEUE_ID_LEN);
	r->done = true;
}

/* Submit batches of 8 messages of len bytes until a batch sees ENOSPC;
 * remember what was acknowledged. Returns how many were acknowledged. */
static size_t
fill_until_full(struct qt *t, size_t len, struct acked *acked, size_t max,
    uint8_t failed_id[QUEUE_ID_LEN])
{
	size_t nacked = 0;
	uint8_t *data = xmalloc(len);
	bool full = false;

	for (unsigned round = 0; !full && nacked + 8 < max; round++) {
		struct fillres r[8];
		uint8_t shas[8][32];
		memset(r, 0, sizeof(r));
		for (int i = 0; i < 8; i++) {
			struct buf b = BUF_INIT;
			randombytes_buf(data, len);
			crypto_hash_sha256(shas[i], data, len);
			buf_append(&b, data, len);
			assert_int_equal(queue_submit(t->q, qt_env(0, 2, "hf"),
					     &b, fill_cb, &r[i]),
			    0);
		}
		for (int i = 0; i < 8; i++) {
			qt_wait(t, &r[i].done);
			if (r[i].status == 0) {
				memcpy(acked[nacked].id, r[i].id,
				    QUEUE_ID_LEN);
				memcpy(acked[nacked++].sha, shas[i], 32);
			} else {
				if (r[i].status != GW_ENOSPC)
					fail_msg("submit: %s",
					    gw_errname(r[i].status));
				memcpy(failed_id, r[i].id, QUEUE_ID_LEN);
				full = true;
			}
		}
		assert_true(round < 100000);
	}
	free(data);
	assert_true(full);
	return nacked;
}

static void
verify(struct qt *t, const struct acked *acked, size_t n, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		struct buf out = BUF_INIT;
		uint8_t sha[32];
		assert_int_equal(qt_read(t, acked[i].id, 0, QUEUE_READ_MAX,
				     &out, NULL),
		    0);
		assert_int_equal(out.len, len);
		crypto_hash_sha256(sha, out.data, out.len);
		assert_memory_equal(sha, acked[i].sha, 32);
		buf_fini(&out);
	}
}

static void
maxp_cb(int status, void *arg)
{
	struct fillres *r = arg;
	r->status = status;
	r->done = true;
}

static void
test_page_limit(void **state)
{
	struct qt t;
	struct acked *acked = xcalloc(4096, sizeof(*acked));
	uint8_t failed[QUEUE_ID_LEN], id[QUEUE_ID_LEN];
	size_t n;
	(void)state;

	qt_setup(&t, "qfull");
	qt_close(&t);
	t.opts.max_page_count = 200; /* 800 KB with 4 KiB pages */
	assert_int_equal(qt_reopen(&t), 0);
	n = fill_until_full(&t, 20000, acked, 4096, failed);
	assert_true(n > 10);
	/* the refused message is not there */
	assert_int_equal(qt_value(&t, QT_KNOWN, failed, NULL, NULL), 0);
	verify(&t, acked, n, 20000);
	/* still full for big ones; small reads and queries still work */
	int64_t rids[4];
	uint8_t ids[4][QUEUE_ID_LEN];
	size_t k;
	assert_int_equal(qt_select(&t, "hf", 4, rids, ids, &k), 0);
	assert_int_equal(k, 4);
	/* room again (ops knob): submits succeed */
	struct fillres r = { 0 };
	assert_int_equal(queue_set_max_pages(t.q, 0, maxp_cb, &r), 0);
	qt_wait(&t, &r.done);
	assert_int_equal(r.status, 0);
	uint8_t big[20000];
	memset(big, 9, sizeof(big));
	assert_int_equal(qt_submit(&t, qt_env(0, 1, "hf"), big, sizeof(big),
			     id),
	    0);
	/* and after a restart everything acknowledged is intact */
	qt_close(&t);
	t.opts.max_page_count = 0;
	assert_int_equal(qt_reopen(&t), 0);
	verify(&t, acked, n, 20000);
	free(acked);
	qt_teardown(&t);
}

static void
test_tmpfs(void **state)
{
	struct qt t;
	char mnt[520];
	struct acked *acked = xcalloc(4096, sizeof(*acked));
	uint8_t failed[QUEUE_ID_LEN], id[QUEUE_ID_LEN];
	size_t n;
	(void)state;

	qt_setup(&t, "qtmpfs");
	qt_close(&t);
	if (snprintf(mnt, sizeof(mnt), "%s/mnt", t.dir) >= (int)sizeof(mnt))
		fail_msg("path too long");
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("skywave-test", mnt, "tmpfs", 0, "size=1m") != 0) {
		fprintf(stderr, "test_tmpfs: SKIPPED: cannot mount a tmpfs "
				"here (%s); the page-limit test covers ENOSPC\n",
		    strerror(errno));
		free(acked);
		qt_teardown(&t);
		skip();
	}
	snprintf(t.path, sizeof(t.path), "%s/queue.db", mnt);
	assert_int_equal(qt_reopen(&t), 0);
	n = fill_until_full(&t, 16000, acked, 4096, failed);
	assert_true(n > 5);
	assert_int_equal(qt_value(&t, QT_KNOWN, failed, NULL, NULL), 0);
	verify(&t, acked, n, 16000);
	/* grow the filesystem: service resumes without a restart */
	assert_int_equal(mount("skywave-test", mnt, "tmpfs", MS_REMOUNT,
			     "size=8m"),
	    0);
	uint8_t big[16000];
	memset(big, 3, sizeof(big));
	assert_int_equal(qt_submit(&t, qt_env(0, 1, "hf"), big, sizeof(big),
			     id),
	    0);
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	verify(&t, acked, n, 16000);
	qt_close(&t);
	assert_int_equal(umount(mnt), 0);
	free(acked);
	qt_teardown(&t);
}

static void
test_corruption_reported(void **state)
{
	struct qt t;
	uint8_t data[30000];
	struct stat sb;
	(void)state;

	qt_setup(&t, "qcorrupt");
	memset(data, 5, sizeof(data));
	for (int i = 0; i < 40; i++)
		assert_int_equal(qt_submit(&t, qt_env(0, 1, "hf"), data,
				     sizeof(data), NULL),
		    0);
	qt_close(&t); /* the last close checkpoints into the main file */
	assert_int_equal(stat(t.path, &sb), 0);
	assert_true(sb.st_size > 40 * 4096);
	/* scribble over the b-tree header of several pages */
	FILE *f = fopen(t.path, "r+b");
	assert_non_null(f);
	for (long pg = 2; pg < 8; pg++) {
		uint8_t junk[64];
		memset(junk, 0xa5, sizeof(junk));
		fseek(f, pg * 4096, SEEK_SET);
		fwrite(junk, 1, sizeof(junk), f);
	}
	fclose(f);
	assert_int_equal(stat(t.path, &sb), 0);
	off_t size = sb.st_size;
	/* every check mode reports it (the default checks the state tables,
	 * whose root pages are among those scribbled over) */
	enum queue_check modes[] = { QUEUE_CHECK_STATE, QUEUE_CHECK_QUICK,
		QUEUE_CHECK_FULL };
	for (size_t i = 0; i < GW_ARRAY_LEN(modes); i++) {
		t.opts.check = modes[i];
		assert_int_equal(qt_reopen(&t), GW_ECORRUPT);
		t.q = NULL;
	}
	/* reported, not repaired: the file is as it was */
	assert_int_equal(stat(t.path, &sb), 0);
	assert_int_equal(sb.st_size, size);
	t.no_audit = true;
	qt_teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_limit),
		cmocka_unit_test(test_tmpfs),
		cmocka_unit_test(test_corruption_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
