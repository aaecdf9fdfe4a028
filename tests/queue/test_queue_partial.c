/*
 * test_queue_partial.c - partial incoming transfers: resume after a
 * restart, offset checks, SHA-256 verification, invisibility until
 * finished; and the read-only tool path.
 */
#include "tests/queue/qtest.h"

#include "queue/queue_tool.h"

#include <sodium.h>

struct vres {
	bool done;
	int status;
	int64_t value;
};

static void
vcb(int status, int64_t value, void *arg)
{
	struct vres *r = arg;
	r->status = status;
	r->value = value;
	r->done = true;
}

static void
scb(int status, void *arg)
{
	struct vres *r = arg;
	r->status = status;
	r->done = true;
}

static int
p_begin(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t total,
    int64_t *off)
{
	struct vres r = { 0 };
	struct queue_envelope *e = qt_env(2, 2, "local");
	memcpy(e->id, id, QUEUE_ID_LEN);
	assert_int_equal(queue_partial_begin(t->q, e, total, vcb, &r), 0);
	qt_wait(t, &r.done);
	*off = r.value;
	return r.status;
}

static int
p_append(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t off,
    const uint8_t *p, size_t n, int64_t *newoff)
{
	struct vres r = { 0 };
	assert_int_equal(queue_partial_append(t->q, id, off, p, n, vcb, &r),
	    0);
	qt_wait(t, &r.done);
	*newoff = r.value;
	return r.status;
}

static int
p_offset(struct qt *t, const uint8_t id[QUEUE_ID_LEN], int64_t *off)
{
	struct vres r = { 0 };
	assert_int_equal(queue_partial_offset(t->q, id, vcb, &r), 0);
	qt_wait(t, &r.done);
	*off = r.value;
	return r.status;
}

static int
p_finish(struct qt *t, const uint8_t id[QUEUE_ID_LEN], const uint8_t *sha)
{
	struct vres r = { 0 };
	assert_int_equal(queue_partial_finish(t->q, id, sha, scb, &r), 0);
	qt_wait(t, &r.done);
	return r.status;
}

static int
p_abort(struct qt *t, const uint8_t id[QUEUE_ID_LEN])
{
	struct vres r = { 0 };
	assert_int_equal(queue_partial_abort(t->q, id, scb, &r), 0);
	qt_wait(t, &r.done);
	return r.status;
}

#define LEN 200000

static void
test_resume_and_finish(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN], sha[32], bad[32];
	uint8_t *data = xmalloc(LEN);
	int64_t off, rids[4];
	uint8_t ids[4][QUEUE_ID_LEN];
	size_t n;
	(void)state;

	for (size_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 7 + i / 1000);
	crypto_hash_sha256(sha, data, LEN);
	memset(id, 0x42, sizeof(id));
	qt_setup(&t, "qpartial");

	assert_int_equal(p_offset(&t, id, &off), GW_ENOENT);
	assert_int_equal(p_begin(&t, id, LEN, &off), 0);
	assert_int_equal(off, 0);
	/* segments of 3000 bytes up to 90000 */
	while (off < 90000)
		assert_int_equal(p_append(&t, id, off, data + off, 3000, &off),
		    0);
	/* invisible: not selectable, not an operator target, not known */
	assert_int_equal(qt_select(&t, "local", 4, rids, ids, &n), 0);
	assert_int_equal(n, 0);
	int64_t v;
	assert_int_equal(qt_value(&t, QT_HOLD, id, NULL, &v), GW_ENOENT);
	assert_int_equal(qt_value(&t, QT_KNOWN, id, NULL, NULL), 0);
	/* finishing early is refused */
	assert_int_equal(p_finish(&t, id, sha), GW_ESTATE);

	/* restart: the offset survives, begin again reports it */
	qt_close(&t);
	assert_int_equal(qt_reopen(&t), 0);
	assert_int_equal(p_offset(&t, id, &off), 0);
	assert_int_equal(off, 90000);
	assert_int_equal(p_begin(&t, id, LEN, &off), 0);
	assert_int_equal(off, 90000);
	/* a wrong offset is refused and tells the committed one */
	int64_t got;
	assert_int_equal(p_append(&t, id, 3000, data, 10, &got), GW_ESTATE);
	assert_int_equal(got, 90000);
	/* past the total is refused */
	assert_int_equal(p_append(&t, id, off, data, LEN, &got), GW_ETOOBIG);
	while (off < LEN) {
		size_t k = LEN - off < 70000 ? (size_t)(LEN - off) : 70000;
		assert_int_equal(p_append(&t, id, off, data + off, k, &off), 0);
	}
	/* a wrong SHA-256 drops the partial */
	memcpy(bad, sha, 32);
	bad[5] ^= 1;
	assert_int_equal(p_finish(&t, id, bad), GW_ECORRUPT);
	assert_int_equal(p_offset(&t, id, &off), GW_ENOENT);

	/* again, correctly this time */
	assert_int_equal(p_begin(&t, id, LEN, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(p_append(&t, id, 0, data, LEN, &off), 0);
	assert_int_equal(p_finish(&t, id, sha), 0);
	assert_int_equal(qt_value(&t, QT_KNOWN, id, NULL, NULL), GW_EDUP);
	assert_int_equal(p_begin(&t, id, LEN, &off), GW_EDUP);
	assert_int_equal(p_abort(&t, id), GW_ESTATE);
	assert_int_equal(qt_select(&t, "local", 4, rids, ids, &n), 0);
	assert_int_equal(n, 2);
	struct buf out = BUF_INIT;
	assert_int_equal(qt_read(&t, id, 0, LEN, &out, NULL), 0);
	assert_int_equal(out.len, LEN);
	assert_memory_equal(out.data, data, LEN);
	buf_fini(&out);
	int64_t bytes;
	assert_int_equal(qt_ahead(&t, "local", id, &bytes), 0);
	assert_int_equal(bytes, 0);

	/* the read-only tool path sees the same */
	qt_close(&t);
	struct queue_tool *tool;
	uint8_t sha2[32];
	struct queue_msg_info *m;
	assert_int_equal(queue_tool_open(t.path, &tool), 0);
	assert_int_equal(queue_tool_check(tool, true), 0);
	assert_int_equal(queue_tool_hash(tool, id, sha2), 0);
	assert_memory_equal(sha, sha2, 32);
	assert_int_equal(queue_tool_load(tool, id, &m), 0);
	assert_true(m->complete);
	assert_memory_equal(m->sha256, sha, 32);
	assert_int_equal(m->env.nrcpts, 2);
	assert_int_equal(m->st[0].state, QUEUE_R_QUEUED);
	queue_tool_msg_free(m);
	struct queue_stats st;
	assert_int_equal(queue_tool_stats(tool, &st), 0);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.partials, 0);
	queue_tool_close(tool);
	assert_int_equal(qt_reopen(&t), 0);
	free(data);
	qt_teardown(&t);
}

static void
test_abort(void **state)
{
	struct qt t;
	uint8_t id[QUEUE_ID_LEN];
	int64_t off;
	(void)state;

	memset(id, 0x17, sizeof(id));
	qt_setup(&t, "qpabort");
	assert_int_equal(p_begin(&t, id, 10, &off), 0);
	assert_int_equal(p_append(&t, id, 0, (const uint8_t *)"01234", 5,
			     &off),
	    0);
	assert_int_equal(p_abort(&t, id), 0);
	assert_int_equal(p_offset(&t, id, &off), GW_ENOENT);
	assert_int_equal(p_abort(&t, id), GW_ENOENT);
	qt_teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_and_finish),
		cmocka_unit_test(test_abort),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
