/* Capability publication over the transfer protocol: two xfer objects
 * joined back to back (no link layer, compressed with the header
 * dictionary). A table crosses once per session and only when the peer
 * holds another digest; a change crosses at once; a table the receiver
 * cannot parse is ignored (the old one stays) and offered again next
 * session; a withdrawn table crosses as "none"; malformed CAPS records are
 * stream errors. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/xfer_session.h"
#include "gateway/air/xfer_wire.h"
#include "gateway/conneg/conneg.h"

#include <sodium.h>

/* Storage stubs: these tests move no messages. */
static long
rd(void *a, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	(void)a, (void)id, (void)off, (void)p, (void)len;
	return GW_ENOENT;
}
static void
rel(void *a, const uint8_t *id, bool dup)
{
	(void)a, (void)id, (void)dup;
}
static bool
com(void *a, const uint8_t *id)
{
	(void)a, (void)id;
	return false;
}
static void
part(void *a, const struct xfer_env *e, uint64_t off, const uint8_t *p,
    size_t len)
{
	(void)a, (void)e, (void)off, (void)p, (void)len;
}
static void
commit(void *a, const struct xfer_env *e, const uint8_t *c, size_t len)
{
	(void)a, (void)e, (void)c, (void)len;
}

/* What one side received, the way the daemon takes it: parsed with
 * conneg_table_parse, refused when it does not parse. */
struct held {
	int calls;
	int refused;
	struct buf text;
	uint64_t digest;
	size_t entries;
};

static int
on_caps(void *arg, uint64_t digest, const uint8_t *text, size_t len)
{
	struct held *h = arg;
	struct conneg_table *t = NULL;
	struct buf s = BUF_INIT;
	char err[256];

	h->calls++;
	buf_append(&s, text, len);
	if (conneg_table_parse("published", buf_cstr(&s), &t, err,
	    sizeof(err)) != 0) {
		h->refused++;
		buf_fini(&s);
		return GW_ECONFIG;
	}
	h->entries = conneg_table_count(t);
	conneg_table_free(t);
	buf_reset(&h->text);
	buf_append(&h->text, text, len);
	h->digest = digest;
	buf_fini(&s);
	return 0;
}

struct pair {
	struct xfer *x[2];
	struct held h[2];
};

static void
pair_init(struct pair *p)
{
	struct xfer_store st = { rd, rel, com, part, commit, NULL };
	struct xfer_config xc = { .name = "caps" };

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 2; i++) {
		p->x[i] = xfer_new(&xc, &st);
		buf_init(&p->h[i].text);
		xfer_set_caps_cb(p->x[i], on_caps, &p->h[i]);
	}
}

static void
pair_fini(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		xfer_free(p->x[i]);
		buf_fini(&p->h[i].text);
	}
}

static void
pair_up(struct pair *p)
{
	for (int i = 0; i < 2; i++)
		xfer_link_up(p->x[i], true, AIR_DICT_HEADERS);
}

static void
pair_down(struct pair *p)
{
	for (int i = 0; i < 2; i++)
		xfer_link_down(p->x[i]);
}

/* Move bytes both ways until neither side has anything to say; returns
 * the bytes that crossed. */
static size_t
pair_run(struct pair *p)
{
	uint8_t buf[512];
	size_t total = 0;

	for (int round = 0; round < 1000; round++) {
		size_t moved = 0;
		for (int i = 0; i < 2; i++) {
			size_t n = xfer_pull(p->x[i], buf, sizeof(buf));
			if (n) {
				xfer_deliver(p->x[1 - i], buf, n);
				assert_int_equal(xfer_error(p->x[1 - i]), 0);
			}
			assert_int_equal(xfer_check_state(p->x[i]), 0);
			moved += n;
		}
		total += moved;
		if (moved == 0)
			return total;
	}
	fail_msg("the pair never went quiet");
	return total;
}

static uint64_t
set_caps(struct xfer *x, const char *text)
{
	struct conneg_table *t = NULL;
	struct buf b = BUF_INIT;
	char err[256];

	assert_int_equal(conneg_table_parse("local", text, &t, err,
	    sizeof(err)), 0);
	conneg_table_format(t, &b);
	uint64_t d = conneg_table_digest(t);
	xfer_set_local_caps(x, (const char *)b.data, b.len, d);
	conneg_table_free(t);
	buf_fini(&b);
	return d;
}

static const char *T1 = "chief@bravo.example (type=text/plain)\n"
			"@bravo.example (|(type=text/*)(type=image/jpeg))\n";
static const char *T2 = "chief@bravo.example (&(type=text/plain)"
			"(charset=us-ascii))\n";

static void
test_caps_once_per_session(void **state)
{
	(void)state;
	struct pair p;
	pair_init(&p);
	/* B publishes T1; A has no table of its own. */
	uint64_t d1 = set_caps(p.x[1], T1);
	pair_up(&p);
	pair_run(&p);
	assert_int_equal(p.h[0].calls, 1);
	assert_int_equal(p.h[0].entries, 2);
	assert_true(p.h[0].digest == d1);
	assert_true(xfer_held_caps(p.x[0]) == d1);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 1);
	/* A publishes nothing: B holds none and A has none. */
	assert_int_equal(xfer_get_stats(p.x[0])->caps_sent, 0);
	assert_int_equal(p.h[1].calls, 0);
	/* Nothing more this session. */
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 1);

	/* Next session: A announces d1, B does not send it again. The whole
	 * exchange is the two CAPS_HELD and HAVE_END records. */
	pair_down(&p);
	pair_up(&p);
	size_t bytes = pair_run(&p);
	assert_true(bytes < 64);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 1);
	assert_int_equal(p.h[0].calls, 1);

	/* A restarted A that lost nothing (held digest loaded from disk)
	 * does not get it again either. */
	struct xfer_store st = { rd, rel, com, part, commit, NULL };
	struct xfer_config xc = { .name = "caps-restarted" };
	xfer_free(p.x[0]);
	p.x[0] = xfer_new(&xc, &st);
	xfer_set_caps_cb(p.x[0], on_caps, &p.h[0]);
	xfer_set_held_caps(p.x[0], d1);
	pair_down(&p);
	pair_up(&p);
	pair_run(&p);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 1);
	assert_int_equal(p.h[0].calls, 1);

	/* A restarted A without its file gets the table again. */
	xfer_set_held_caps(p.x[0], 0);
	pair_down(&p);
	pair_up(&p);
	pair_run(&p);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 2);
	assert_int_equal(p.h[0].calls, 2);
	assert_true(xfer_held_caps(p.x[0]) == d1);
	pair_fini(&p);
}

static void
test_caps_change(void **state)
{
	(void)state;
	struct pair p;
	pair_init(&p);
	uint64_t d1 = set_caps(p.x[1], T1);
	pair_up(&p);
	pair_run(&p);
	assert_true(xfer_held_caps(p.x[0]) == d1);

	/* A change while the session is up crosses at once. */
	uint64_t d2 = set_caps(p.x[1], T2);
	assert_true(d2 != d1);
	assert_true(xfer_pending(p.x[1]));
	pair_run(&p);
	assert_int_equal(p.h[0].calls, 2);
	assert_true(xfer_held_caps(p.x[0]) == d2);
	assert_int_equal(p.h[0].entries, 1);
	assert_memory_equal(p.h[0].text.data, "chief@bravo.example", 19);
	/* Setting the same table again sends nothing. */
	set_caps(p.x[1], T2);
	assert_int_equal(pair_run(&p), 0);
	assert_int_equal(xfer_get_stats(p.x[1])->caps_sent, 2);

	/* A change while the link is down crosses at the next session. */
	pair_down(&p);
	uint64_t d1b = set_caps(p.x[1], T1);
	assert_true(d1b == d1);
	pair_up(&p);
	pair_run(&p);
	assert_int_equal(p.h[0].calls, 3);
	assert_true(xfer_held_caps(p.x[0]) == d1);

	/* Withdrawn (the far side dropped its caps_file): "none" crosses. */
	xfer_set_local_caps(p.x[1], NULL, 0, 0);
	pair_run(&p);
	assert_int_equal(p.h[0].calls, 4);
	assert_int_equal(p.h[0].text.len, 0);
	assert_true(xfer_held_caps(p.x[0]) == 0);
	pair_fini(&p);
}

static void
test_caps_bad_table_ignored(void **state)
{
	(void)state;
	struct pair p;
	pair_init(&p);
	uint64_t d1 = set_caps(p.x[1], T1);
	pair_up(&p);
	pair_run(&p);
	assert_true(xfer_held_caps(p.x[0]) == d1);

	/* A table the receiver cannot parse (a peer with a newer filter
	 * syntax, say): refused, the old one stays held. */
	const char *bad = "chief@bravo.example (type=text/plain\n";
	gw_log_set_stderr(false);
	xfer_set_local_caps(p.x[1], bad, strlen(bad), 0x1234567890abcdefull);
	pair_run(&p);
	assert_int_equal(p.h[0].calls, 2);
	assert_int_equal(p.h[0].refused, 1);
	assert_int_equal(xfer_get_stats(p.x[0])->caps_rejected, 1);
	assert_true(xfer_held_caps(p.x[0]) == d1);
	assert_true(p.h[0].digest == d1);
	assert_int_equal(xfer_error(p.x[0]), 0);
	/* Offered again next session (A still holds the old digest). */
	pair_down(&p);
	pair_up(&p);
	pair_run(&p);
	assert_int_equal(p.h[0].refused, 2);
	assert_true(xfer_held_caps(p.x[0]) == d1);
	gw_log_set_stderr(true);
	pair_fini(&p);
}

/* Raw records (the same one, times times) into an uncompressed session. */
static int
deliver_raw_n(uint8_t type, const uint8_t *body, size_t len, int times)
{
	struct xfer_store st = { rd, rel, com, part, commit, NULL };
	struct xfer_config xc = { .name = "raw" };
	struct held h;
	struct buf b = BUF_INIT;

	memset(&h, 0, sizeof(h));
	buf_init(&h.text);
	struct xfer *x = xfer_new(&xc, &st);
	xfer_set_caps_cb(x, on_caps, &h);
	xfer_link_up(x, false, 0);
	for (int i = 0; i < times; i++) {
		xfer_rec_begin(&b, type, len);
		buf_append(&b, body, len);
	}
	xfer_deliver(x, b.data, b.len);
	int rc = xfer_error(x);
	if (rc == 0)
		rc = h.calls;
	xfer_free(x);
	buf_fini(&h.text);
	buf_fini(&b);
	return rc;
}

static int
deliver_raw(uint8_t type, const uint8_t *body, size_t len)
{
	return deliver_raw_n(type, body, len, 1);
}

static void
test_caps_malformed(void **state)
{
	(void)state;
	uint8_t body[64];

	memset(body, 0, sizeof(body));
	gw_log_set_stderr(false);
	/* CAPS_HELD must be exactly 8 bytes. */
	assert_int_equal(deliver_raw(XFER_R_CAPS_HELD, body, 7), GW_EPROTO);
	assert_int_equal(deliver_raw(XFER_R_CAPS_HELD, body, 9), GW_EPROTO);
	assert_int_equal(deliver_raw(XFER_R_CAPS_HELD, body, 8), 0);
	/* and comes once per session */
	assert_int_equal(deliver_raw_n(XFER_R_CAPS_HELD, body, 8, 2),
	    GW_EPROTO);
	/* CAPS: at least the digest; digest 0 iff no text. */
	assert_int_equal(deliver_raw(XFER_R_CAPS, body, 5), GW_EPROTO);
	memcpy(body + 8, "* (type=text/plain)\n", 20);
	assert_int_equal(deliver_raw(XFER_R_CAPS, body, 28), GW_EPROTO);
	body[7] = 1;
	assert_int_equal(deliver_raw(XFER_R_CAPS, body, 8), GW_EPROTO);
	assert_int_equal(deliver_raw(XFER_R_CAPS, body, 28), 1);
	body[7] = 0;
	assert_int_equal(deliver_raw(XFER_R_CAPS, body, 8), 1); /* none */
	/* An unknown record type after CAPS is still an error. */
	assert_int_equal(deliver_raw(XFER_R_LAST + 1, body, 8), GW_EPROTO);
	gw_log_set_stderr(true);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps_once_per_session),
		cmocka_unit_test(test_caps_change),
		cmocka_unit_test(test_caps_bad_table_ignored),
		cmocka_unit_test(test_caps_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
