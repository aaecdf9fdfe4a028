/* Lossless re-encoding on the air: messages with base64/QP bodies travel
 * in mime_pack form (XFER_ENV_PACKED) between two transfer sessions joined
 * back to back, and the receiver commits the original octets, checked by
 * SHA-256 over the original. The link fades in the middle of every
 * transfer: the receiver's HAVE offset (in the packed stream) resumes it
 * without resending what arrived. Messages: a DKIM-signed one with a QP
 * text and a base64 attachment (tests/air/fixtures), the conneg fixtures
 * with attachments, and every spam-2 message with a packable body when the
 * corpus is in bench/cache. A corrupted packed stream is NAKed and sent
 * again; a stream that does not unpack is NAKed. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/air/air_dict.h"
#include "gateway/air/mime_reencode.h"
#include "gateway/air/xfer_session.h"
#include "gateway/air/xfer_wire.h"
#include "gateway/conneg/conv.h"

#include <dirent.h>
#include <sodium.h>

/* One side's store: the sender serves one packed stream, the receiver
 * keeps what was committed. */
struct side {
	const struct buf *wire;   /* what the sender reads */
	long corrupt_at;          /* flip this offset once (-1: never) */
	uint64_t rx;              /* content octets received (partial) */
	int relayed;
	int commits;
	struct buf committed;     /* the last committed message */
};

static long
st_read(void *arg, const uint8_t *id, uint64_t off, uint8_t *p, size_t len)
{
	struct side *s = arg;
	(void)id;
	if (s->wire == NULL || off > s->wire->len)
		return GW_ENOENT;
	if (len > s->wire->len - off)
		len = (size_t)(s->wire->len - off);
	memcpy(p, s->wire->data + off, len);
	/* (not in the 4 KiB sample the sender takes to judge compression) */
	if (s->corrupt_at >= 0 && len < 4096 &&
	    (uint64_t)s->corrupt_at >= off &&
	    (uint64_t)s->corrupt_at < off + len) {
		p[s->corrupt_at - (long)off] ^= 0x20;
		s->corrupt_at = -1;
	}
	return (long)len;
}
static void
st_relayed(void *arg, const uint8_t *id, bool dup)
{
	struct side *s = arg;
	(void)id, (void)dup;
	s->relayed++;
}
static bool
st_committed(void *arg, const uint8_t *id)
{
	(void)arg, (void)id;
	return false;
}
static void
st_partial(void *arg, const struct xfer_env *e, uint64_t off,
    const uint8_t *p, size_t len)
{
	struct side *s = arg;
	(void)e, (void)p;
	s->rx = off + len;
}
static struct xfer *rx_now; /* the receiving xfer, for commit_done */
static void
st_commit(void *arg, const struct xfer_env *e, const uint8_t *c, size_t len)
{
	struct side *s = arg;
	s->commits++;
	buf_reset(&s->committed);
	buf_append(&s->committed, c, len);
	xfer_commit_done(rx_now, e->id, 0);
}

struct pair {
	struct side s[2];
	struct xfer *x[2];
};


/* SKYWAVE_AIR_CODEC=zstd runs these transfers with zstd (ctest does both). */
static int
air_codec(void)
{
	const char *c = getenv("SKYWAVE_AIR_CODEC");
	return c && strcmp(c, "zstd") == 0 ? XFER_CODEC_ZSTD :
	    XFER_CODEC_DEFLATE;
}

static void
pair_init(struct pair *p)
{
	/* small rounds, so a message arrives in several segments */
	struct xfer_config xc = { .name = "pack", .seg_bytes = 128 };
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < 2; i++) {
		struct xfer_store st = { st_read, st_relayed, st_committed,
			st_partial, st_commit, &p->s[i] };
		p->s[i].corrupt_at = -1;
		buf_init(&p->s[i].committed);
		p->x[i] = xfer_new(&xc, &st);
		xfer_link_up(p->x[i], air_codec(), AIR_DICT_HEADERS);
	}
	rx_now = p->x[1];
}

static void
pair_fini(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		xfer_free(p->x[i]);
		buf_fini(&p->s[i].committed);
	}
}


/* Move bytes both ways in small frames until quiet, or until the
 * receiver holds stop_after content octets (a fade: the session ends
 * there). */
static uint64_t
pair_run_n(struct pair *p, uint64_t stop_after, int max_rounds, bool quiet)
{
	uint8_t buf[200];
	uint64_t sent = 0;
	/* zstd rounds fill the frame being built, at its higher ratio: pull
	 * less at a time so the fade still falls inside small messages */
	size_t room = air_codec() == XFER_CODEC_ZSTD ? 40 : sizeof(buf);

	p->s[1].rx = 0;
	for (int round = 0; round < max_rounds; round++) {
		size_t moved = 0;
		for (int i = 0; i < 2; i++) {
			size_t n = xfer_pull(p->x[i], buf, room);
			if (n) {
				xfer_deliver(p->x[1 - i], buf, n);
				assert_int_equal(xfer_error(p->x[1 - i]), 0);
			}
			assert_int_equal(xfer_check_state(p->x[i]), 0);
			if (i == 0)
				sent += n;
			moved += n;
		}
		if (moved == 0 || (stop_after && p->s[1].rx >= stop_after))
			return sent;
	}
	if (quiet)
		fail_msg("the pair never went quiet");
	return sent;
}

static uint64_t
pair_run(struct pair *p, uint64_t stop_after)
{
	return pair_run_n(p, stop_after, 200000, true);
}

static void
pair_fade(struct pair *p)
{
	for (int i = 0; i < 2; i++)
		xfer_link_down(p->x[i]);
	for (int i = 0; i < 2; i++)
		xfer_link_up(p->x[i], air_codec(), AIR_DICT_HEADERS);
}

static void
env_for(struct xfer_env *e, const struct buf *orig, const struct buf *wire,
    bool packed, uint8_t tag)
{
	xfer_env_init(e);
	memset(e->id, tag, XFER_ID_BYTES);
	e->from = xstrdup("met@alpha.example");
	xfer_env_add_rcpt(e, "chief@bravo.example", 0, NULL, NULL);
	e->size = wire->len;
	if (packed) {
		e->mflags |= XFER_ENV_PACKED;
		e->orig_size = orig->len;
	}
	xfer_sha256(e->sha256, orig->data, orig->len);
}

/*
 * Send orig packed across the pair, fading once in the middle. Returns
 * the packed length (0 when nothing in it packs).
 */
static size_t
send_packed(const struct buf *orig, uint8_t tag)
{
	struct buf packed = BUF_INIT, back = BUF_INIT;
	struct mime_pack_stats st;
	struct xfer_env e;
	struct pair p;

	mime_pack(orig->data, orig->len, &packed, &st);
	if (st.parts_packed == 0 || packed.len >= orig->len) {
		buf_fini(&packed);
		return 0;
	}
	/* the sender's checks before it uses the packed form */
	assert_true(xfer_pack_orig_ok(packed.len, orig->len));
	assert_int_equal(mime_unpack_max(packed.data, packed.len, orig->len,
	    &back), 0);
	assert_int_equal(back.len, orig->len);
	assert_memory_equal(back.data, orig->data, orig->len);

	pair_init(&p);
	p.s[0].wire = &packed;
	env_for(&e, orig, &packed, true, tag);
	assert_int_equal(xfer_out_add(p.x[0], &e), 0);
	/* a fade once the receiver holds about half the stream */
	pair_run(&p, packed.len / 2);
	assert_int_equal(p.s[1].commits, 0);
	assert_true(p.s[1].rx >= packed.len / 2 && p.s[1].rx < packed.len);
	pair_fade(&p);
	pair_run(&p, 0);
	assert_int_equal(p.s[1].commits, 1);
	assert_int_equal(p.s[0].relayed, 1);
	assert_int_equal(p.s[1].committed.len, orig->len);
	assert_memory_equal(p.s[1].committed.data, orig->data, orig->len);
	/* resumed, not restarted: the receiver held content at the new
	 * session's MSG, and no more content went than the packed stream
	 * plus what was in flight at the fade */
	const struct xfer_stats *rs = xfer_get_stats(p.x[1]);
	assert_int_equal(rs->resumes, 1);
	assert_int_equal(rs->naks_sent, 0);
	assert_true(rs->plain_in < packed.len + packed.len / 2 + 4096);
	xfer_env_fini(&e);
	pair_fini(&p);
	buf_fini(&back);
	size_t n = packed.len;
	buf_fini(&packed);
	return n;
}

static int
load(const char *rel, struct buf *out, bool lf_to_crlf)
{
	char *path = tu_src_path(rel);
	FILE *f = fopen(path, "rb");
	free(path);
	if (f == NULL)
		return -1;
	buf_reset(out);
	int c, prev = 0;
	while ((c = fgetc(f)) != EOF) {
		if (lf_to_crlf && c == '\n' && prev != '\r')
			buf_append_byte(out, '\r');
		buf_append_byte(out, (uint8_t)c);
		prev = c;
	}
	fclose(f);
	return 0;
}

static void
test_fixtures(void **state)
{
	(void)state;
	struct buf m = BUF_INIT;

	/* DKIM-signed, QP text and a base64 attachment: identical octets
	 * keep the signature valid. */
	assert_int_equal(load("tests/air/fixtures/dkim-attach.eml", &m, false),
	    0);
	assert_non_null(strstr(buf_cstr(&m), "DKIM-Signature:"));
	size_t n = send_packed(&m, 1);
	assert_true(n > 0);
	printf("dkim-attach.eml: %zu octets, %zu packed (%.1f%%)\n", m.len, n,
	    100.0 * (double)n / (double)m.len);
	assert_true(n < m.len * 85 / 100); /* the attachment is 3/4 */

	/* A message with nothing to pack is not packed. */
	assert_int_equal(load("tests/conneg/fixtures/html.eml", &m, true), 0);
	assert_int_equal(send_packed(&m, 2), 0);
	buf_fini(&m);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_corpus(void **state)
{
	(void)state;
	char *dir = tu_src_path("bench/cache/package/data/spam-2");
	DIR *d = opendir(dir);
	if (d == NULL) {
		const char *req = getenv("SKYWAVE_CORPUS_REQUIRED");
		if (req != NULL && strcmp(req, "1") == 0)
			fail_msg("spam-2 corpus absent (%s)", dir);
		printf("spam-2 corpus absent (%s): skipped\n", dir);
		free(dir);
		skip();
	}
	char **names = NULL;
	size_t nn = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) {
			names = realloc(names, (nn + 1) * sizeof(*names));
			names[nn++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, nn, sizeof(*names), cmp_str);
	struct buf m = BUF_INIT;
	size_t sent = 0, orig_bytes = 0, packed_bytes = 0;
	for (size_t i = 0; i < nn; i++) {
		char rel[600];
		snprintf(rel, sizeof(rel),
		    "bench/cache/package/data/spam-2/%s", names[i]);
		assert_int_equal(load(rel, &m, true), 0);
		size_t n = send_packed(&m, (uint8_t)(i + 3));
		if (n) {
			sent++;
			orig_bytes += m.len;
			packed_bytes += n;
		}
		free(names[i]);
	}
	free(names);
	free(dir);
	buf_fini(&m);
	printf("spam-2: %zu of %zu messages travelled packed, identical at "
	    "the far side after a fade each; %zu octets as %zu\n", sent, nn,
	    orig_bytes, packed_bytes);
	assert_true(sent >= 20);
}

/* A corrupted byte in the packed stream: the unpacked message fails the
 * hash of the original, the receiver NAKs, the sender starts again. */
static void
test_corrupt_stream(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, packed = BUF_INIT;
	struct xfer_env e;
	struct pair p;

	assert_int_equal(load("tests/air/fixtures/dkim-attach.eml", &m, false),
	    0);
	mime_pack(m.data, m.len, &packed, NULL);
	gw_log_set_stderr(false);
	for (int k = 0; k < 2; k++) {
		pair_init(&p);
		p.s[0].wire = &packed;
		/* k 0: a byte of a decoded body (unpacks, wrong hash);
		 * k 1: the first record's type (does not unpack) */
		p.s[0].corrupt_at = k == 0 ? (long)packed.len - 40 : 0;
		env_for(&e, &m, &packed, true, 9);
		assert_int_equal(xfer_out_add(p.x[0], &e), 0);
		pair_run(&p, 0);
		assert_int_equal(xfer_get_stats(p.x[1])->naks_sent, 1);
		assert_int_equal(xfer_get_stats(p.x[0])->naks_rcvd, 1);
		assert_int_equal(p.s[1].commits, 1);
		assert_memory_equal(p.s[1].committed.data, m.data, m.len);
		xfer_env_fini(&e);
		pair_fini(&p);
	}
	/* Not flagged as packed, the packed stream fails the hash: the
	 * flag is what makes the receiver unpack. */
	pair_init(&p);
	p.s[0].wire = &packed;
	env_for(&e, &m, &packed, false, 10);
	assert_int_equal(xfer_out_add(p.x[0], &e), 0);
	pair_run_n(&p, 0, 2000, false);
	assert_true(xfer_get_stats(p.x[1])->naks_sent >= 1);
	assert_int_equal(p.s[1].commits, 0);
	xfer_env_fini(&e);
	pair_fini(&p);
	gw_log_set_stderr(true);
	buf_fini(&m);
	buf_fini(&packed);
}

/* The envelope of a packed message round-trips; an original size out of
 * proportion to the stream is refused. */
/* Quoted-printable that shrinks about six-fold when packed (an escaped
 * octet and a soft break per line) still crosses: what the sender packs,
 * the receiver accepts. A stream that would unpack beyond the length its
 * envelope announced is refused before it is all built. */
static void
test_dense_qp_and_bomb(void **state)
{
	(void)state;
	struct buf m = BUF_INIT, bomb = BUF_INIT, out = BUF_INIT;

	buf_append_str(&m, "From: a@x\r\nSubject: qp\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	for (int i = 0; i < 20000; i++)
		buf_append_str(&m, "=E9=\r\n");
	buf_append_str(&m, "end\r\n");
	assert_true(send_packed(&m, 41) > 0);

	for (int i = 0; i < 2000; i++)
		buf_append(&bomb, (const uint8_t[]){ 1, 0, 255, 255, 0 }, 5);
	assert_int_equal(mime_unpack_max(bomb.data, bomb.len, 65536, &out),
	    GW_ETOOBIG);
	assert_true(out.len < 65536 + 2048);
	assert_int_equal(mime_unpack(bomb.data, bomb.len, &out), 0);
	assert_true(out.len > 1000000); /* what the cap prevents */
	buf_fini(&m);
	buf_fini(&bomb);
	buf_fini(&out);
}

static void
test_packed_envelope(void **state)
{
	(void)state;
	struct buf orig = BUF_INIT, wire = BUF_INIT, b = BUF_INIT;
	struct xfer_env e, d;

	buf_append_str(&orig, "x");
	buf_append_str(&wire, "y");
	env_for(&e, &orig, &wire, true, 11);
	e.size = 1000;
	e.orig_size = 1300;
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	assert_true(d.mflags & XFER_ENV_PACKED);
	assert_true(d.orig_size == 1300 && d.size == 1000);
	xfer_env_fini(&d);
	/* the bound both sides apply (xfer_pack_orig_ok) */
	e.orig_size = 8 * 1000 + 65536;
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), 0);
	xfer_env_fini(&d);
	e.orig_size = 8 * 1000 + 65536 + 1;
	buf_reset(&b);
	xfer_env_encode(&e, &b);
	assert_int_equal(xfer_env_decode(b.data, b.len, &d), GW_EPROTO);
	xfer_env_fini(&e);
	buf_fini(&orig);
	buf_fini(&wire);
	buf_fini(&b);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	conv_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_packed_envelope),
		cmocka_unit_test(test_dense_qp_and_bomb),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_corrupt_stream),
		cmocka_unit_test(test_corpus),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	conv_shutdown();
	return rc;
}
