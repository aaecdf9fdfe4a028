/*
 * test_queue_ioerr.c - I/O errors. A wrapping SQLite VFS (registered by the
 * test, selected through the queue's vfs option) fails writes or syncs on
 * demand: requests fail with GW_EIO and store nothing, every acknowledged
 * message stays intact, and service resumes when the errors stop.
 */
#include "tests/queue/qtest.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdatomic.h>

/* --- a VFS that forwards to the default one and fails on demand --------- */

struct fvfs {
	sqlite3_vfs base; /* first */
	sqlite3_vfs *real;
	atomic_int fail_write; /* fail xWrite with SQLITE_IOERR_WRITE */
	atomic_int fail_sync;  /* fail xSync with SQLITE_IOERR_FSYNC */
	atomic_int failures;   /* how many were injected */
};

struct ffile {
	sqlite3_file base; /* first */
	struct fvfs *vfs;
	sqlite3_file *real; /* follows this struct in the same allocation */
};

#define REAL(f) (((struct ffile *)(f))->real)
#define VFS(f) (((struct ffile *)(f))->vfs)

static int
f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int
f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	if (atomic_load(&VFS(f)->fail_write)) {
		atomic_fetch_add(&VFS(f)->failures, 1);
		return SQLITE_IOERR_WRITE;
	}
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
	if (atomic_load(&VFS(f)->fail_sync)) {
		atomic_fetch_add(&VFS(f)->failures, 1);
		return SQLITE_IOERR_FSYNC;
	}
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
f_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
f_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}

static int
f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
f_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static const sqlite3_io_methods f_methods = {
	.iVersion = 2,
	.xClose = f_close,
	.xRead = f_read,
	.xWrite = f_write,
	.xTruncate = f_truncate,
	.xSync = f_sync,
	.xFileSize = f_size,
	.xLock = f_lock,
	.xUnlock = f_unlock,
	.xCheckReservedLock = f_reserved,
	.xFileControl = f_fcntl,
	.xSectorSize = f_sector,
	.xDeviceCharacteristics = f_devchar,
	.xShmMap = f_shmmap,
	.xShmLock = f_shmlock,
	.xShmBarrier = f_shmbarrier,
	.xShmUnmap = f_shmunmap,
};

static int
v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags,
    int *out_flags)
{
	struct fvfs *fv = (struct fvfs *)v;
	struct ffile *ff = (struct ffile *)f;
	int rc;

	ff->vfs = fv;
	ff->real = (sqlite3_file *)(ff + 1);
	rc = fv->real->xOpen(fv->real, name, ff->real, flags, out_flags);
	ff->base.pMethods = ff->real->pMethods ? &f_methods : NULL;
	return rc;
}

static int
v_delete(sqlite3_vfs *v, const char *name, int sync)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xDelete(fv->real, name, sync);
}

static int
v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xAccess(fv->real, name, flags, out);
}

static int
v_fullpath(sqlite3_vfs *v, const char *name, int n, char *out)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xFullPathname(fv->real, name, n, out);
}

static int
v_random(sqlite3_vfs *v, int n, char *out)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xRandomness(fv->real, n, out);
}

static int
v_sleep(sqlite3_vfs *v, int us)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xSleep(fv->real, us);
}

static int
v_time(sqlite3_vfs *v, sqlite3_int64 *out)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xCurrentTimeInt64(fv->real, out);
}

static int
v_lasterr(sqlite3_vfs *v, int n, char *out)
{
	struct fvfs *fv = (struct fvfs *)v;
	return fv->real->xGetLastError(fv->real, n, out);
}

static void
fvfs_register(struct fvfs *fv)
{
	memset(fv, 0, sizeof(*fv));
	fv->real = sqlite3_vfs_find(NULL);
	assert_non_null(fv->real);
	fv->base.iVersion = 2;
	fv->base.szOsFile = (int)sizeof(struct ffile) + fv->real->szOsFile;
	fv->base.mxPathname = fv->real->mxPathname;
	fv->base.zName = "skywave-faulty";
	fv->base.xOpen = v_open;
	fv->base.xDelete = v_delete;
	fv->base.xAccess = v_access;
	fv->base.xFullPathname = v_fullpath;
	fv->base.xRandomness = v_random;
	fv->base.xSleep = v_sleep;
	fv->base.xCurrentTimeInt64 = v_time;
	fv->base.xGetLastError = v_lasterr;
	assert_int_equal(sqlite3_vfs_register(&fv->base, 0), SQLITE_OK);
}

/* --- the test ------------------------------------------------------------ */

struct acked {
	uint8_t id[QUEUE_ID_LEN];
	uint8_t sha[32];
};

static int
submit_random(struct qt *t, struct acked *a)
{
	uint8_t data[9000];
	randombytes_buf(data, sizeof(data));
	crypto_hash_sha256(a->sha, data, sizeof(data));
	return qt_submit(t, qt_env(1, 2, "hf"), data, sizeof(data), a->id);
}

static void
verify(struct qt *t, const struct acked *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct buf out = BUF_INIT;
		uint8_t sha[32];
		assert_int_equal(qt_read(t, a[i].id, 0, 100000, &out, NULL),
		    0);
		crypto_hash_sha256(sha, out.data, out.len);
		assert_memory_equal(sha, a[i].sha, 32);
		buf_fini(&out);
	}
}

static void
test_io_errors(void **state)
{
	static struct fvfs fv; /* registered with SQLite until exit */
	struct qt t;
	struct acked ok[40], failed;
	size_t n = 0;
	(void)state;

	fvfs_register(&fv);
	qt_setup(&t, "qioerr");
	qt_close(&t);
	t.opts.vfs = "skywave-faulty";
	assert_int_equal(qt_reopen(&t), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(submit_random(&t, &ok[n++]), 0);

	/* writes fail: GW_EIO, nothing stored */
	atomic_store(&fv.fail_write, 1);
	assert_int_equal(submit_random(&t, &failed), GW_EIO);
	atomic_store(&fv.fail_write, 0);
	assert_true(atomic_load(&fv.failures) > 0);
	assert_int_equal(qt_value(&t, QT_KNOWN, failed.id, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(submit_random(&t, &ok[n++]), 0);

	/* the commit's fsync fails: GW_EIO, nothing acknowledged */
	atomic_store(&fv.fail_sync, 1);
	assert_int_equal(submit_random(&t, &failed), GW_EIO);
	atomic_store(&fv.fail_sync, 0);
	assert_int_equal(qt_value(&t, QT_KNOWN, failed.id, NULL, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(submit_random(&t, &ok[n++]), 0);
	verify(&t, ok, n);

	/* after a restart: everything acknowledged, nothing else */
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	verify(&t, ok, n);
	assert_int_equal(qt_value(&t, QT_KNOWN, failed.id, NULL, NULL), 0);
	qt_teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
