/* b2f_session: two sessions (master and slave) wired back to back, the
 * bytes cut into random pieces: mail both ways in one session, blocks of
 * five, refusal of a message already held (FS -), secure login right and
 * wrong (;PQ/;PR, the Winlink test vectors), a transfer cut off and
 * resumed from an offset, a failed commit that must not count as sent,
 * one block of five answered "+-=!offset+" (an outcome per proposal), and
 * protocol errors that end the session with a reason. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/b2f/b2f_session.h"
#include "gateway/b2f/lzhuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSGS_MAX 16

struct side {
	struct b2f_session *s;
	/* to send */
	char out_mid[MSGS_MAX][13];
	struct buf out_z[MSGS_MAX];
	uint32_t out_size[MSGS_MAX];
	int out_state[MSGS_MAX];      /* -1 waiting, else enum b2f_result */
	size_t nout;
	size_t offered[B2F_BLOCK_MAX];
	size_t noffered;
	/* received */
	char in_mid[MSGS_MAX][13];
	struct buf in_msg[MSGS_MAX];
	size_t nin;
	const char *have;             /* a mid answered '-' */
	const char *later;            /* a mid answered '=' */
	int commit_status;
	/* resume */
	const char *resume_mid;
	const uint8_t *resume_data;
	uint32_t resume_off;
	bool ended;
	int end_err;
	char why[128];
};

static void
on_props(void *arg, const struct b2f_proposal *p, size_t n)
{
	struct side *d = arg;
	char a[16];
	uint32_t off[16] = { 0 };
	const uint8_t *pre[16] = { 0 };

	for (size_t i = 0; i < n; i++) {
		a[i] = B2F_ACCEPT;
		if (d->have && strcmp(p[i].mid, d->have) == 0)
			a[i] = B2F_REJECT;
		if (d->later && strcmp(p[i].mid, d->later) == 0)
			a[i] = B2F_DEFER;
		if (d->resume_mid && strcmp(p[i].mid, d->resume_mid) == 0) {
			a[i] = B2F_RESUME;
			off[i] = d->resume_off;
			pre[i] = d->resume_data;
		}
	}
	b2f_session_answer(d->s, a, off, pre, n);
}

static void
on_msg(void *arg, size_t idx, const char *mid, const uint8_t *m, size_t len)
{
	struct side *d = arg;

	assert_true(d->nin < MSGS_MAX);
	snprintf(d->in_mid[d->nin], 13, "%s", mid);
	buf_init(&d->in_msg[d->nin]);
	buf_append(&d->in_msg[d->nin], m, len);
	d->nin++;
	b2f_session_committed(d->s, idx, d->commit_status);
}

static void
on_turn(void *arg)
{
	struct side *d = arg;
	struct b2f_offer o[B2F_BLOCK_MAX];
	size_t n = 0;

	for (size_t i = 0; i < d->nout && n < B2F_BLOCK_MAX; i++) {
		if (d->out_state[i] != -1)
			continue;
		memset(&o[n], 0, sizeof(o[n]));
		snprintf(o[n].mid, sizeof(o[n].mid), "%s", d->out_mid[i]);
		snprintf(o[n].title, sizeof(o[n].title), "subject %zu", i);
		o[n].payload = d->out_z[i].data;
		o[n].csize = d->out_z[i].len;
		o[n].size = d->out_size[i];
		d->offered[n] = i;
		d->out_state[i] = -2;   /* offered */
		n++;
	}
	d->noffered = n;
	b2f_session_offer(d->s, o, n);
}

static void
on_outcome(void *arg, size_t idx, enum b2f_result r)
{
	struct side *d = arg;

	assert_true(idx < d->noffered);
	d->out_state[d->offered[idx]] = (int)r;
}

static void
on_end(void *arg, int err, const char *why)
{
	struct side *d = arg;

	assert_false(d->ended);
	d->ended = true;
	d->end_err = err;
	snprintf(d->why, sizeof(d->why), "%s", why);
}

static const struct b2f_session_cbs cbs = { on_props, on_msg, on_turn,
	on_outcome, on_end };

static void
side_init(struct side *d, bool master, const char *call, const char *pw)
{
	struct b2f_session_cfg c = { .master = master, .mycall = call,
		.password = pw, .challenge = 23753528, .max_message = 1 << 20 };

	memset(d, 0, sizeof(*d));
	d->s = b2f_session_new(&c, &cbs, d);
}

static void
side_add(struct side *d, const char *mid, const char *text, size_t reps)
{
	struct buf m;

	buf_init(&m);
	for (size_t i = 0; i < reps; i++)
		buf_append_str(&m, text);
	snprintf(d->out_mid[d->nout], 13, "%s", mid);
	buf_init(&d->out_z[d->nout]);
	lzhuf_encode(m.data, m.len, &d->out_z[d->nout]);
	d->out_size[d->nout] = (uint32_t)m.len;
	d->out_state[d->nout] = -1;
	d->nout++;
	buf_fini(&m);
}

static void
side_fini(struct side *d)
{
	b2f_session_free(d->s);
	for (size_t i = 0; i < d->nout; i++)
		buf_fini(&d->out_z[i]);
	for (size_t i = 0; i < d->nin; i++)
		buf_fini(&d->in_msg[i]);
}

/* Move bytes both ways in random pieces; stop after limit bytes from the
 * slave to the master when limit > 0 (a cut connection). */
static void
pump(struct side *m, struct side *s, size_t limit)
{
	size_t moved = 0;

	for (int round = 0; round < 100000; round++) {
		struct buf *a = b2f_session_output(m->s);
		struct buf *b = b2f_session_output(s->s);
		if (a->len == 0 && b->len == 0)
			return;
		if (a->len > 0) {
			size_t k = 1 + (size_t)rand() % a->len;
			uint8_t tmp[70000];
			if (k > sizeof(tmp))
				k = sizeof(tmp);
			memcpy(tmp, a->data, k);
			buf_consume(a, k);
			b2f_session_input(s->s, tmp, k);
		}
		if (b->len > 0) {
			size_t k = 1 + (size_t)rand() % b->len;
			uint8_t tmp[70000];
			if (k > sizeof(tmp))
				k = sizeof(tmp);
			if (limit > 0 && moved + k > limit)
				k = limit - moved;
			if (limit > 0 && k == 0)
				return;
			memcpy(tmp, b->data, k);
			buf_consume(b, k);
			moved += k;
			b2f_session_input(m->s, tmp, k);
		}
	}
	fail_msg("pump did not settle");
}

static void
connect(struct side *m, struct side *s)
{
	(void)s;
	b2f_session_start(m->s);
}

static void
test_secure_vectors(void **state)
{
	(void)state;
	char out[9];

	b2f_secure_response("23753528", "FOOBAR", out);
	assert_string_equal(out, "72768415");
	b2f_secure_response("23753528", "FooBar", out);
	assert_string_equal(out, "95074758");
	b2f_secure_response("23753528", "SECRET", out);
	assert_string_equal(out, "07553546");
}

static void
test_both_ways(void **state)
{
	(void)state;
	struct side m, s;

	srand(1);
	for (int run = 0; run < 20; run++) {
		side_init(&m, true, "n0call", NULL);
		side_init(&s, false, "N1CALL", NULL);
		side_add(&m, "MASTER1", "hello slave\r\n", 10);
		side_add(&m, "MASTER2", "second\r\n", 1000);
		for (int i = 0; i < 7; i++) {
			char mid[13];
			snprintf(mid, sizeof(mid), "SLAVE%d", i);
			side_add(&s, mid, "from the slave, bulk bulk\r\n",
			    (size_t)(1 + i * 50));
		}
		connect(&m, &s);
		pump(&m, &s, 0);
		assert_true(m.ended && s.ended);
		if (m.end_err || s.end_err)
			fail_msg("run %d: master \"%s\" slave \"%s\"", run,
			    m.why, s.why);
		assert_int_equal(m.end_err, 0);
		assert_int_equal(s.end_err, 0);
		assert_string_equal(b2f_session_remote(m.s), "N1CALL");
		assert_string_equal(b2f_session_remote(s.s), "N0CALL");
		assert_string_equal(b2f_session_forward(s.s), "N0CALL");
		assert_int_equal(m.nin, 7);
		assert_int_equal(s.nin, 2);
		for (size_t i = 0; i < m.nout; i++)
			assert_int_equal(m.out_state[i], B2F_SENT);
		for (size_t i = 0; i < s.nout; i++)
			assert_int_equal(s.out_state[i], B2F_SENT);
		assert_int_equal(s.in_msg[1].len, 8000);
		assert_int_equal(m.in_msg[6].len, 301 * 27);
		side_fini(&m);
		side_fini(&s);
	}
}

static void
test_nothing_to_send(void **state)
{
	(void)state;
	struct side m, s;

	side_init(&m, true, "N0CALL", NULL);
	side_init(&s, false, "N1CALL", NULL);
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_true(m.ended && s.ended);
	assert_int_equal(m.end_err, 0);
	assert_int_equal(s.end_err, 0);
	side_fini(&m);
	side_fini(&s);
}

static void
test_duplicate_refused(void **state)
{
	(void)state;
	struct side m, s;

	side_init(&m, true, "N0CALL", NULL);
	side_init(&s, false, "N1CALL", NULL);
	side_add(&s, "OLDONE", "already there\r\n", 3);
	side_add(&s, "NEWONE", "new\r\n", 3);
	m.have = "OLDONE";
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_int_equal(m.nin, 1);
	assert_string_equal(m.in_mid[0], "NEWONE");
	assert_int_equal(s.out_state[0], B2F_REJECTED);
	assert_int_equal(s.out_state[1], B2F_SENT);
	side_fini(&m);
	side_fini(&s);
}

static void
test_secure_login(void **state)
{
	(void)state;
	struct side m, s;

	side_init(&m, true, "N0CALL", "SECRET");
	side_init(&s, false, "N1CALL", "SECRET");
	side_add(&s, "AUTHED", "ok\r\n", 1);
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_int_equal(m.end_err, 0);
	assert_int_equal(m.nin, 1);
	side_fini(&m);
	side_fini(&s);

	side_init(&m, true, "N0CALL", "SECRET");
	side_init(&s, false, "N1CALL", "WRONG");
	side_add(&s, "NOTAUTH", "no\r\n", 1);
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_true(m.ended);
	assert_int_equal(m.end_err, GW_EAUTH);
	assert_int_equal(m.nin, 0);
	assert_true(s.ended);
	assert_int_not_equal(s.out_state[0], B2F_SENT);
	side_fini(&m);
	side_fini(&s);

	/* challenged without a password of our own */
	side_init(&m, true, "N0CALL", "SECRET");
	side_init(&s, false, "N1CALL", NULL);
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_int_equal(s.end_err, GW_EAUTH);
	side_fini(&m);
	side_fini(&s);
}

static void
test_resume(void **state)
{
	(void)state;
	struct side m, s, m2, s2;
	char mid[13];
	const uint8_t *data;
	size_t len;
	uint32_t csize;
	struct buf keep;

	srand(7);
	side_init(&m, true, "N0CALL", NULL);
	side_init(&s, false, "N1CALL", NULL);
	side_add(&s, "BIGONE", "placeholder", 1);
	/* incompressible enough to need many blocks */
	{
		struct buf t;
		buf_init(&t);
		for (int i = 0; i < 4000; i++)
			buf_appendf(&t, "%08x", (unsigned)rand());
		buf_fini(&s.out_z[0]);
		buf_init(&s.out_z[0]);
		lzhuf_encode(t.data, t.len, &s.out_z[0]);
		s.out_size[0] = (uint32_t)t.len;
		buf_fini(&t);
	}
	connect(&m, &s);
	pump(&m, &s, 9000);      /* the handshake, FC and part of the data */
	b2f_session_abort(m.s, "connection lost");
	b2f_session_abort(s.s, "connection lost");
	assert_int_equal(m.end_err, GW_ECLOSED);
	assert_int_equal(s.out_state[0], B2F_DEFERRED);
	assert_true(b2f_session_partial(m.s, mid, &data, &len, &csize));
	assert_string_equal(mid, "BIGONE");
	assert_true(len > 1000 && len < csize);
	buf_init(&keep);
	buf_append(&keep, data, len);

	side_init(&m2, true, "N0CALL", NULL);
	side_init(&s2, false, "N1CALL", NULL);
	snprintf(s2.out_mid[0], 13, "BIGONE");
	buf_init(&s2.out_z[0]);
	buf_append(&s2.out_z[0], s.out_z[0].data, s.out_z[0].len);
	s2.out_size[0] = s.out_size[0];
	s2.out_state[0] = -1;
	s2.nout = 1;
	m2.resume_mid = "BIGONE";
	m2.resume_data = keep.data;
	m2.resume_off = (uint32_t)keep.len;
	connect(&m2, &s2);
	pump(&m2, &s2, 0);
	assert_int_equal(m2.end_err, 0);
	assert_int_equal(m2.nin, 1);
	assert_int_equal(m2.in_msg[0].len, s.out_size[0]);
	assert_int_equal(s2.out_state[0], B2F_SENT);

	/* a kept part that does not match: the CRC check fails, the session
	 * ends, nothing is kept and the sender's message is not sent */
	struct side m3, s3;
	side_init(&m3, true, "N0CALL", NULL);
	side_init(&s3, false, "N1CALL", NULL);
	snprintf(s3.out_mid[0], 13, "BIGONE");
	buf_init(&s3.out_z[0]);
	buf_append(&s3.out_z[0], s.out_z[0].data, s.out_z[0].len);
	s3.out_size[0] = s.out_size[0];
	s3.out_state[0] = -1;
	s3.nout = 1;
	keep.data[keep.len / 2] ^= 0x55;
	m3.resume_mid = "BIGONE";
	m3.resume_data = keep.data;
	m3.resume_off = (uint32_t)keep.len;
	connect(&m3, &s3);
	pump(&m3, &s3, 0);
	assert_int_equal(m3.end_err, GW_ECORRUPT);
	assert_int_equal(m3.nin, 0);
	assert_false(b2f_session_partial(m3.s, mid, &data, &len, &csize));
	assert_int_not_equal(s3.out_state[0], B2F_SENT);
	side_fini(&m3);
	side_fini(&s3);
	buf_fini(&keep);
	side_fini(&m);
	side_fini(&s);
	side_fini(&m2);
	side_fini(&s2);
}

/* One block of five, each proposal answered its own way: accepted,
 * already held, later, resumed from an offset, accepted. */
static void
test_block_mixed_answers(void **state)
{
	(void)state;
	struct side m, s, m0, s0;
	char mid[13];
	const uint8_t *data;
	size_t len;
	uint32_t csize;
	struct buf keep, big;

	srand(11);
	buf_init(&big);
	for (int i = 0; i < 3000; i++)
		buf_appendf(&big, "%08x", (unsigned)rand());
	/* a first session cut off in RESUMED's data leaves its part */
	side_init(&m0, true, "N0CALL", NULL);
	side_init(&s0, false, "N1CALL", NULL);
	side_add(&s0, "RESUMED", buf_cstr(&big), 1);
	connect(&m0, &s0);
	pump(&m0, &s0, 6000);
	b2f_session_abort(m0.s, "connection lost");
	b2f_session_abort(s0.s, "connection lost");
	assert_true(b2f_session_partial(m0.s, mid, &data, &len, &csize));
	buf_init(&keep);
	buf_append(&keep, data, len);

	side_init(&m, true, "N0CALL", NULL);
	side_init(&s, false, "N1CALL", NULL);
	side_add(&s, "TAKEN1", "first of the block\r\n", 20);
	side_add(&s, "HELDALREADY", "the master has it\r\n", 5);
	side_add(&s, "NOTNOW", "too early for this one\r\n", 5);
	side_add(&s, "RESUMED", buf_cstr(&big), 1);
	side_add(&s, "TAKEN2", "last of the block\r\n", 30);
	m.have = "HELDALREADY";
	m.later = "NOTNOW";
	m.resume_mid = "RESUMED";
	m.resume_data = keep.data;
	m.resume_off = (uint32_t)keep.len;
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_int_equal(m.end_err, 0);
	assert_int_equal(s.end_err, 0);
	assert_int_equal(s.out_state[0], B2F_SENT);
	assert_int_equal(s.out_state[1], B2F_REJECTED);
	assert_int_equal(s.out_state[2], B2F_DEFERRED);
	assert_int_equal(s.out_state[3], B2F_SENT);
	assert_int_equal(s.out_state[4], B2F_SENT);
	assert_int_equal(m.nin, 3);
	assert_string_equal(m.in_mid[0], "TAKEN1");
	assert_string_equal(m.in_mid[1], "RESUMED");
	assert_string_equal(m.in_mid[2], "TAKEN2");
	assert_int_equal(m.in_msg[1].len, big.len);
	assert_memory_equal(m.in_msg[1].data, big.data, big.len);
	assert_int_equal(m.in_msg[2].len, 30 * 19);
	buf_fini(&keep);
	buf_fini(&big);
	side_fini(&m0);
	side_fini(&s0);
	side_fini(&m);
	side_fini(&s);
}

static void
test_commit_failure(void **state)
{
	(void)state;
	struct side m, s;

	side_init(&m, true, "N0CALL", NULL);
	side_init(&s, false, "N1CALL", NULL);
	side_add(&s, "NOSPACE", "x\r\n", 10);
	m.commit_status = GW_ENOSPC;
	connect(&m, &s);
	pump(&m, &s, 0);
	assert_int_equal(m.end_err, GW_ENOSPC);
	assert_true(s.ended);
	assert_int_equal(s.out_state[0], B2F_DEFERRED);
	side_fini(&m);
	side_fini(&s);
}

static void
feed(struct b2f_session *x, const char *t)
{
	b2f_session_input(x, (const uint8_t *)t, strlen(t));
}

static void
test_protocol_errors(void **state)
{
	(void)state;
	static const char *bad[] = {
		"FC EM ABC 10 10 0\rF> 00\r",                    /* checksum */
		"FX nonsense\r",
		"F> 00\r",                                       /* empty */
		"HELLO\r",
		"FC EM THIRTEENCHARS 1 1 0\r",
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		struct side m;
		side_init(&m, true, "N0CALL", NULL);
		b2f_session_start(m.s);
		feed(m.s, "N1CALL\r\r;FW: N1CALL\r[X-1-B2FHM$]\r; N0 DE N1\r");
		feed(m.s, bad[i]);
		assert_true(m.ended);
		assert_int_equal(m.end_err, GW_EPROTO);
		struct buf *o = b2f_session_output(m.s);
		assert_non_null(memmem(o->data, o->len, "***", 3));
		side_fini(&m);
	}
	/* a SID without B2 */
	struct side m;
	side_init(&m, true, "N0CALL", NULL);
	b2f_session_start(m.s);
	feed(m.s, "N1CALL\r\r[X-1-FHM$]\rFF\r");
	assert_int_equal(m.end_err, GW_EPROTO);
	side_fini(&m);
	/* an over-long line */
	side_init(&m, true, "N0CALL", NULL);
	char big[3000];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	feed(m.s, big);
	assert_int_equal(m.end_err, GW_EPROTO);
	side_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secure_vectors),
		cmocka_unit_test(test_both_ways),
		cmocka_unit_test(test_nothing_to_send),
		cmocka_unit_test(test_duplicate_refused),
		cmocka_unit_test(test_secure_login),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_block_mixed_answers),
		cmocka_unit_test(test_commit_failure),
		cmocka_unit_test(test_protocol_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
