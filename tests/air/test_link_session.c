/* Link layer without a channel: ARQ windows and SACKs, the set-up
 * exchange and what it negotiates, peer identity checks, and random or
 * mutated frames thrown at sessions in every state. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/log.h"
#include "link-drivers/link_arq.h"
#include "link-drivers/link_session.h"

#include <sodium.h>

static void
test_arq_windows(void **state)
{
	(void)state;
	struct link_arq_tx t;
	struct link_arq_rx r;
	struct buf b = BUF_INIT;
	link_arq_tx_init(&t, 8);
	link_arq_rx_init(&r, 8);
	for (int i = 0; i < 5; i++) {
		uint16_t seq = link_arq_tx_push(&t, (const uint8_t *)"abcd", 4,
		    0);
		assert_int_equal(seq, i);
		link_arq_tx_slot(&t, seq)->state = LINK_ARQ_SENT;
	}
	/* Receiver got 0, 1, 3 (2 and 4 lost). */
	assert_int_equal(link_arq_rx_put(&r, 1, (const uint8_t *)"b", 1), 1);
	assert_int_equal(link_arq_rx_put(&r, 0, (const uint8_t *)"a", 1), 1);
	assert_int_equal(link_arq_rx_put(&r, 3, (const uint8_t *)"d", 1), 1);
	assert_int_equal(link_arq_rx_put(&r, 1, (const uint8_t *)"b", 1), 0);
	assert_int_equal(link_arq_rx_put(&r, 100, (const uint8_t *)"z", 1),
	    GW_ERANGE);
	assert_true(link_arq_rx_take(&r, &b));
	assert_memory_equal(b.data, "a", 1);
	assert_true(link_arq_rx_take(&r, &b));
	assert_memory_equal(b.data, "b", 1);
	assert_false(link_arq_rx_take(&r, &b)); /* 2 missing */
	buf_reset(&b);
	link_arq_rx_sack(&r, &b);
	uint16_t next;
	const uint8_t *bm;
	size_t nb;
	assert_int_equal(link_arq_sack_decode(b.data, b.len, &next, &bm, &nb),
	    0);
	assert_int_equal(next, 2);
	assert_int_equal(nb, 1);
	assert_int_equal(bm[0], 0x01); /* seq 3 */
	/* Half duplex: the SACK closes the peer's turn -> 2, 4 lost. */
	assert_int_equal(link_arq_tx_sack(&t, next, bm, nb, true), 12);
	uint16_t lost;
	assert_true(link_arq_tx_next_lost(&t, &lost));
	assert_int_equal(lost, 2);
	assert_int_equal(link_arq_tx_slot(&t, 4)->state, LINK_ARQ_LOST);
	assert_int_equal(link_arq_tx_inflight(&t), 3);
	/* Resend 2 and 4; all acknowledged. */
	link_arq_tx_slot(&t, 2)->state = LINK_ARQ_SENT;
	link_arq_tx_slot(&t, 4)->state = LINK_ARQ_SENT;
	assert_int_equal(link_arq_tx_sack(&t, 5, NULL, 0, true), 8);
	assert_int_equal(link_arq_tx_inflight(&t), 0);
	/* A SACK outside the window is ignored. */
	assert_int_equal(link_arq_tx_sack(&t, 900, NULL, 0, true), 0);
	assert_int_equal(link_arq_sack_decode((const uint8_t *)"\0\1\5", 3,
	    &next, &bm, &nb), GW_EPROTO);
	link_arq_tx_fini(&t);
	link_arq_rx_fini(&r);
	buf_fini(&b);
}

struct end {
	struct link *l;
	enum link_state last;
	struct buf got;
};

static size_t
pull(void *arg, uint8_t *p, size_t room)
{
	(void)arg;
	(void)p;
	(void)room;
	return 0;
}

static bool
pending(void *arg)
{
	(void)arg;
	return false;
}

static void
deliver(void *arg, const uint8_t *p, size_t n)
{
	struct end *e = arg;
	buf_append(&e->got, p, n);
}

static void
on_state(void *arg, enum link_state st, int err, const char *reason)
{
	struct end *e = arg;
	(void)err;
	(void)reason;
	e->last = st;
}

static struct link *
mk(struct end *e, bool initiator, const char *id, const char *peer,
    const uint8_t *key, uint16_t dict, uint32_t mtu)
{
	struct link_config c = {
		.caps = { .mtu_bytes = mtu, .rate_bps = 2400,
			.turnaround_ms = 2000, .max_tx_ms = 120000 },
		.identity = id, .peer = peer, .key = key,
		.initiator = initiator, .dict_id = dict,
		.features = LINK_FEAT_DEFLATE | (dict ? LINK_FEAT_DICT : 0),
	};
	struct link_upper up = { pull, pending, deliver, on_state, e };
	memset(e, 0, sizeof(*e));
	e->l = link_new(&c, &up);
	return e->l;
}

/* Move frames both ways until quiet. */
static void
pump(struct end *a, struct end *b, int64_t now)
{
	struct buf f = BUF_INIT;
	for (int round = 0; round < 10; round++) {
		bool any = false;
		while (link_poll(a->l, now, &f) == 1) {
			link_input(b->l, now, f.data, f.len);
			any = true;
		}
		while (link_poll(b->l, now, &f) == 1) {
			link_input(a->l, now, f.data, f.len);
			any = true;
		}
		if (!any)
			break;
	}
	buf_fini(&f);
}

static void
test_setup_negotiation(void **state)
{
	(void)state;
	struct end a, b;
	uint8_t key[LINK_KEY_BYTES] = { 7, 7, 7 };
	mk(&a, true, "gw-a", "gw-b", key, 1, 1024);
	mk(&b, false, "gw-b", NULL, key, 2, 512);
	link_open(b.l, 0);
	link_open(a.l, 0);
	assert_int_equal(link_state(a.l), LINK_S_HELLO_SENT);
	assert_int_equal(link_state(b.l), LINK_S_LISTEN);
	pump(&a, &b, 0);
	assert_int_equal(link_state(a.l), LINK_S_UP);
	assert_int_equal(link_state(b.l), LINK_S_UP);
	assert_int_equal(a.last, LINK_S_UP);
	assert_string_equal(link_peer_identity(a.l), "gw-b");
	assert_string_equal(link_peer_identity(b.l), "gw-a");
	/* Different dictionaries: none; frame size: the smaller MTU. */
	assert_int_equal(link_dict_id(a.l), 0);
	assert_int_equal(link_features(a.l), LINK_FEAT_DEFLATE);
	assert_int_equal(link_payload_max(a.l), 512 - 10 - 4 - 16);
	/* The responder got the turn with the ACCEPT and handed it over;
	 * the initiator had nothing either, so the link went idle: nobody
	 * holds the turn and no timer runs. */
	assert_false(link_has_turn(a.l));
	assert_false(link_has_turn(b.l));
	assert_int_equal(link_next_deadline_ms(a.l), INT64_MAX);
	assert_int_equal(link_next_deadline_ms(b.l), INT64_MAX);
	assert_int_equal(link_check_state(a.l), 0);
	assert_int_equal(link_check_state(b.l), 0);
	/* Orderly close: the peer learns why. */
	link_close(a.l, 10, "operator");
	pump(&a, &b, 10);
	assert_int_equal(link_state(a.l), LINK_S_IDLE);
	assert_int_equal(link_state(b.l), LINK_S_LISTEN);
	assert_non_null(strstr(link_reason(b.l), "operator"));
	/* And a new session comes up after it. */
	link_open(a.l, 20);
	pump(&a, &b, 20);
	assert_int_equal(link_state(a.l), LINK_S_UP);
	assert_int_equal(link_get_stats(b.l)->sessions, 2);
	link_free(a.l);
	link_free(b.l);

	/* An unexpected peer identity is refused with a reason. */
	mk(&a, true, "gw-a", NULL, NULL, 1, 1024);
	mk(&b, false, "gw-b", "gw-z", NULL, 1, 1024);
	link_open(b.l, 0);
	link_open(a.l, 0);
	pump(&a, &b, 0);
	assert_int_equal(link_state(a.l), LINK_S_ERROR);
	assert_int_equal(link_state(b.l), LINK_S_ERROR);
	assert_non_null(strstr(link_reason(b.l), "identity"));
	link_free(a.l);
	link_free(b.l);
}

static uint64_t
rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
garbage(struct end *a, struct end *b, uint64_t *seed, const uint8_t *key,
    int64_t t0)
{
	uint8_t buf[1100];
	struct buf f = BUF_INIT;
	for (int it = 0; it < 30000; it++) {
		size_t n;
		if (it % 3 == 0) {
			n = rng(seed) % sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng(seed);
		} else {
			/* A valid frame of a random type with a random
			 * payload, sometimes tagged with the right key but
			 * not the session's. */
			struct link_frame fr = {
				.type = (uint8_t)(1 + rng(seed) % 6),
				.flags = (uint8_t)(rng(seed) & 6),
				.fctr = (uint32_t)rng(seed),
				.seq = (uint16_t)rng(seed),
			};
			uint8_t pl[200];
			fr.len = rng(seed) % sizeof(pl);
			for (size_t i = 0; i < fr.len; i++)
				pl[i] = (uint8_t)rng(seed);
			fr.payload = pl;
			n = link_frame_encode(&fr, (it & 4) ? key : NULL, buf,
			    sizeof(buf));
		}
		struct end *e = (it & 1) ? a : b;
		link_input(e->l, t0 + it, buf, n);
		if (it % 97 == 0)
			link_tick(e->l, t0 + it);
		while (link_poll(e->l, t0 + it, &f) == 1)
			;
	}
	buf_fini(&f);
}

static void
test_garbage_in_every_state(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_link_session_garbage") | 1;
	uint8_t key[LINK_KEY_BYTES] = { 1 };
	struct buf hello = BUF_INIT;
	gw_log_set_stderr(false);
	for (int keyed = 0; keyed < 2; keyed++) {
		struct end a, b;
		mk(&a, true, "gw-a", NULL, keyed ? key : NULL, 1, 1024);
		mk(&b, false, "gw-b", NULL, keyed ? key : NULL, 1, 1024);
		link_open(b.l, 0);
		link_open(a.l, 0);
		assert_int_equal(link_poll(a.l, 0, &hello), 1);
		garbage(&a, &b, &seed, key, 0);
		/* Still able to set up after all that. */
		link_reset(a.l, 0, "test");
		link_open(a.l, 40000000);
		if (link_state(b.l) != LINK_S_LISTEN &&
		    link_state(b.l) != LINK_S_UP)
			link_open(b.l, 40000000);
		pump(&a, &b, 40000000);
		assert_int_equal(link_state(a.l), LINK_S_UP);
		assert_int_equal(link_state(b.l), LINK_S_UP);
		/* Now garbage into live sessions. */
		garbage(&a, &b, &seed, key, 40000001);
		if (keyed) {
			/* Nothing unauthenticated reached the top, and the
			 * sessions survived. */
			assert_int_equal(a.got.len, 0);
			assert_int_equal(b.got.len, 0);
			assert_true(link_get_stats(a.l)->drop_auth > 0);
			assert_true(link_get_stats(b.l)->drop_auth > 0);
			assert_int_equal(link_state(b.l), LINK_S_UP);
		}
		link_free(a.l);
		link_free(b.l);
		buf_fini(&a.got);
		buf_fini(&b.got);
	}
	gw_log_set_stderr(true);
	buf_fini(&hello);
}

int
main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arq_windows),
		cmocka_unit_test(test_setup_negotiation),
		cmocka_unit_test(test_garbage_in_every_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
