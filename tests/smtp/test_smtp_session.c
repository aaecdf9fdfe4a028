/* smtp_session without I/O: a virtual clock and a submission double that
 * completes when the test says. Pipelined input behind a commit, orphaned
 * commits, timeouts per state, input bounds, split-invariance (feeding a
 * transcript in any split gives the same replies), and a seeded fuzz run
 * of random and mutated input with the state checker after every step. */
#include "tests/lib/testutil.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/smtp_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

struct fake {
	queue_submit_cb cb[8];
	void *arg[8];
	int n;
	int submitted;
	int fail_sync;         /* return this from submit */
	struct buf last;       /* content of the last submission */
	struct queue_envelope *env;
	int wakes;
};

static int
fake_submit(void *io_arg, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *cb_arg)
{
	struct fake *f = io_arg;

	if (f->fail_sync)
		return f->fail_sync;
	GW_REQUIRE(f->n < 8);
	f->cb[f->n] = cb;
	f->arg[f->n] = cb_arg;
	f->n++;
	f->submitted++;
	buf_reset(&f->last);
	buf_append(&f->last, content->data, content->len);
	buf_reset(content);
	if (f->env != NULL)
		queue_envelope_free(f->env);
	f->env = env;
	return 0;
}

static void
fake_wake(void *io_arg)
{
	((struct fake *)io_arg)->wakes++;
}

static void
fake_complete(struct fake *f, int status)
{
	uint8_t id[QUEUE_ID_LEN] = { 0xab, 0xcd };

	GW_REQUIRE(f->n > 0);
	queue_submit_cb cb = f->cb[0];
	void *arg = f->arg[0];
	memmove(f->cb, f->cb + 1, sizeof(f->cb[0]) * 7);
	memmove(f->arg, f->arg + 1, sizeof(f->arg[0]) * 7);
	f->n--;
	cb(status, id, arg);
}

static void
fake_fini(struct fake *f)
{
	while (f->n > 0)
		fake_complete(f, GW_ECANCELED);
	if (f->env != NULL)
		queue_envelope_free(f->env);
	buf_fini(&f->last);
}

static const struct smtp_session_io fake_io = { fake_submit, fake_wake };

struct env {
	struct clk_virtual clk;
	struct policy *pol;
	struct smtp_session_cfg cfg;
	struct sockaddr_in peer;
	struct fake f;
	struct smtp_session *s;
};

static void
env_init(struct env *e)
{
	struct policy_config pc;
	char err[128];

	memset(e, 0, sizeof(*e));
	clk_virtual_init(&e->clk, 0, 1795469534);
	policy_config_init(&pc);
	pc.trusted_networks = "127.0.0.0/8";
	GW_REQUIRE(policy_new(&pc, &e->pol, err, sizeof(err)) == 0);
	e->cfg.hostname = "gw.example";
	e->cfg.max_message_size = 4096;
	e->cfg.max_recipients = 100;
	e->cfg.max_errors = 1000;
	e->cfg.command_timeout_ms = 300000;
	e->cfg.data_timeout_ms = 180000;
	e->cfg.deliverby_min_s = 60;
	e->cfg.policy = e->pol;
	e->cfg.altrecip = e->cfg.conneg = e->cfg.conperm = true;
	e->cfg.clock = &e->clk.base;
	e->cfg.max_input = 1024;
	e->peer.sin_family = AF_INET;
	e->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	e->s = smtp_session_new(&e->cfg, &fake_io, &e->f,
	    (const struct sockaddr *)&e->peer, "s1");
	smtp_session_greet(e->s);
}

static void
env_fini(struct env *e)
{
	smtp_session_free(e->s);
	fake_fini(&e->f);
	policy_free(e->pol);
}

/* Feed text, return (and clear) what the session answered. */
static char *
talk(struct env *e, const char *in)
{
	static char out[65536];
	struct buf *o = smtp_session_out(e->s);

	smtp_session_feed(e->s, in, strlen(in));
	smtp_session_check_state(e->s);
	snprintf(out, sizeof(out), "%s", buf_cstr(o));
	buf_reset(o);
	return out;
}

static void
test_commit_wait_keeps_pipelined_input(void **state)
{
	struct env e;
	(void)state;
	env_init(&e);
	assert_string_equal(talk(&e, ""), "220 gw.example ESMTP skywave\r\n");
	talk(&e, "EHLO c.example\r\n");
	assert_string_equal(talk(&e, "MAIL FROM:<a@x> BY=120;R\r\n"
	    "RCPT TO:<b@y>\r\nDATA\r\n"),
	    "250 2.1.0 Sender <a@x> OK\r\n250 2.1.5 Recipient <b@y> OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n");
	/* the dot, then a whole next transaction, in one read */
	assert_string_equal(talk(&e, "hi\r\n.\r\nMAIL FROM:<c@x>\r\n"
	    "RCPT TO:<d@y>\r\nQUIT\r\n"), "");
	assert_int_equal(smtp_session_state(e.s), SMTP_S_COMMIT_WAIT);
	assert_int_equal(smtp_session_timeout_ms(e.s), 0);
	assert_int_equal(e.f.submitted, 1);
	assert_int_equal(e.f.env->by_deadline, 1795469534 + 120);
	assert_int_equal(e.f.env->band, 2);
	static const char rcv[] = "Received: from c.example ([127.0.0.1])\r\n"
	    "\tby gw.example (skywave) with ESMTP id s1\r\n"
	    "\tfor <b@y> PRIORITY 0;\r\n\tMon, 23 Nov 2026 21:32:14 +0000\r\n"
	    "hi\r\n";
	assert_string_equal(buf_cstr(&e.f.last), rcv);
	/* more input while waiting is kept too */
	talk(&e, "");
	fake_complete(&e.f, 0);
	assert_int_equal(e.f.wakes, 1);
	assert_string_equal(talk(&e, ""),
	    "250 2.0.0 Ok: queued as abcd0000000000000000000000000000\r\n"
	    "250 2.1.0 Sender <c@x> OK\r\n250 2.1.5 Recipient <d@y> OK\r\n"
	    "221 2.0.0 gw.example closing connection\r\n");
	assert_true(smtp_session_closing(e.s));
	assert_string_equal(smtp_session_close_reason(e.s), "quit");
	assert_int_equal(smtp_session_messages(e.s), 1);
	env_fini(&e);
}

static void
test_orphaned_commit_and_failures(void **state)
{
	struct env e;
	(void)state;
	env_init(&e);
	talk(&e, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	talk(&e, "x\r\n.\r\n");
	assert_int_equal(e.f.n, 1);
	/* the client vanishes: the session goes, the completion comes later */
	smtp_session_eof(e.s);
	smtp_session_free(e.s);
	fake_complete(&e.f, 0);
	e.s = smtp_session_new(&e.cfg, &fake_io, &e.f,
	    (const struct sockaddr *)&e.peer, "s2");
	smtp_session_greet(e.s);
	talk(&e, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	talk(&e, "x\r\n.\r\n");
	fake_complete(&e.f, GW_ENOSPC);
	assert_string_equal(talk(&e, ""), "452 4.3.1 insufficient system "
	    "storage\r\n");
	e.f.fail_sync = GW_EIO;
	talk(&e, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	assert_string_equal(talk(&e, "x\r\n.\r\n"),
	    "451 4.3.0 local error in processing\r\n");
	e.f.fail_sync = GW_ECLOSED;
	talk(&e, "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	assert_string_equal(talk(&e, "x\r\n.\r\n"),
	    "421 4.3.2 gw.example service shutting down\r\n");
	assert_true(smtp_session_closing(e.s));
	env_fini(&e);
}

static void
test_timeouts_and_bounds(void **state)
{
	struct env e;
	(void)state;
	env_init(&e);
	assert_int_equal(smtp_session_timeout_ms(e.s), 300000);
	talk(&e, "EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	assert_int_equal(smtp_session_timeout_ms(e.s), 180000);
	talk(&e, ".\r\n");
	assert_int_equal(smtp_session_state(e.s), SMTP_S_COMMIT_WAIT);
	/* pipelined input piles up: reading stops past max_input */
	char big[1100];
	memset(big, 'N', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_true(smtp_session_want_input(e.s));
	talk(&e, big);
	assert_false(smtp_session_want_input(e.s));
	smtp_session_timeout(e.s); /* no timeout while the queue works */
	assert_false(smtp_session_closing(e.s));
	smtp_session_shutdown(e.s); /* waits for the commit */
	assert_false(smtp_session_closing(e.s));
	fake_complete(&e.f, 0);
	assert_true(smtp_session_closing(e.s));
	const char *o = talk(&e, "");
	assert_non_null(strstr(o, "250 2.0.0 Ok: queued as"));
	assert_non_null(strstr(o, "\r\n421 4.3.2 gw.example service "
	    "shutting down\r\n"));
	env_fini(&e);

	env_init(&e);
	talk(&e, "EHLO c\r\n");
	smtp_session_timeout(e.s);
	assert_string_equal(talk(&e, ""), "421 4.4.2 gw.example timeout "
	    "exceeded, closing connection\r\n");
	assert_string_equal(smtp_session_close_reason(e.s),
	    "command timeout");
	env_fini(&e);
}

/* A transcript fed whole, byte by byte and in random splits answers the
 * same bytes (the replies never depend on how TCP cut the input). */
static const char transcript[] =
    "EHLO split.example\r\nMAIL FROM:<a@x> MT-PRIORITY=2 SIZE=100\r\n"
    "RCPT TO:<b@y> NOTIFY=SUCCESS\r\nRCPT TO:<bad\r\nRCPT TO:<c@y>\r\n"
    "DATA\r\nSubject: s\r\n\r\n..dot\r\n.\r\nMAIL FROM:<a@x>\r\n"
    "RCPT TO:<b@y>\r\nBDAT 5\r\n12\r\n4BDAT 3 LAST\r\nxyzNOOP\r\n"
    "BDAT 2\r\nzzFOO\r\nRSET\r\nQUIT\r\n";

static void
run_split(unsigned seed, int mode, struct buf *out)
{
	struct env e;
	size_t n = strlen(transcript), off = 0;

	env_init(&e);
	srand(seed);
	buf_append_str(out, buf_cstr(smtp_session_out(e.s)));
	buf_reset(smtp_session_out(e.s));
	while (off < n) {
		size_t k = mode == 0 ? n : mode == 1 ? 1 :
		    1 + (size_t)rand() % 17;
		if (k > n - off)
			k = n - off;
		smtp_session_feed(e.s, transcript + off, k);
		smtp_session_check_state(e.s);
		off += k;
		while (e.f.n > 0)
			fake_complete(&e.f, 0);
		buf_append_str(out, buf_cstr(smtp_session_out(e.s)));
		buf_reset(smtp_session_out(e.s));
	}
	env_fini(&e);
}

static void
test_split_invariance(void **state)
{
	struct buf whole = BUF_INIT, bytes = BUF_INIT;
	(void)state;
	run_split(1, 0, &whole);
	run_split(1, 1, &bytes);
	assert_string_equal(buf_cstr(&whole), buf_cstr(&bytes));
	assert_non_null(strstr(buf_cstr(&whole), "501 5.1.3"));
	assert_non_null(strstr(buf_cstr(&whole), "250 2.0.0 5 octets"));
	assert_non_null(strstr(buf_cstr(&whole), "503 5.5.1 need MAIL"));
	for (unsigned seed = 2; seed < 60; seed++) {
		struct buf r = BUF_INIT;
		run_split(seed, 2, &r);
		assert_string_equal(buf_cstr(&whole), buf_cstr(&r));
		buf_fini(&r);
	}
	buf_fini(&whole);
	buf_fini(&bytes);
}

/* Random and mutated input for a few seconds; the checker runs after every
 * feed; ASan/UBSan and LeakSanitizer judge the rest. */
static const char *const seeds[] = {
	"EHLO a\r\n", "HELO b\r\n", "MAIL FROM:<a@x> MT-PRIORITY=3 BY=60;R\r\n",
	"MAIL FROM:<> SIZE=10 BODY=BINARYMIME ENVID=x+2B RET=FULL\r\n",
	"RCPT TO:<b@y> NOTIFY=NEVER ORCPT=rfc822;b ARCPT=rfc822;c@z CONNEG\r\n",
	"DATA\r\n", "hello\r\n..x\r\n.\r\n", "BDAT 3\r\nabc", "BDAT 0 LAST\r\n",
	"RSET\r\n", "NOOP\r\n", "QUIT\r\n", "MT-Priority: 4\r\n\r\n",
	"VRFY x\r\n", "\r\n", "\n", "BDAT 99999999999\r\n",
};

static void
test_fuzz(void **state)
{
	uint64_t seed = tu_seed("test_smtp_session_fuzz");
	const char *budget = getenv("SKYWAVE_FUZZ_SECONDS");
	double secs = budget ? atof(budget) : 3.0;
	struct timespec t0, t1;
	unsigned long runs = 0;
	(void)state;

	gw_log_set_stderr(false);
	srand((unsigned)seed);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct env e;
		char in[2048];
		env_init(&e);
		e.cfg.max_errors = 1 + rand() % 50;
		e.cfg.max_recipients = 100 + (size_t)(rand() % 3);
		e.cfg.max_message_size = rand() % 5000;
		for (int step = 0; step < 40 && !smtp_session_closing(e.s);
		    step++) {
			size_t n = 0;
			int pieces = 1 + rand() % 4;
			for (int p = 0; p < pieces; p++) {
				const char *s = seeds[(size_t)rand() %
				    (sizeof(seeds) / sizeof(seeds[0]))];
				size_t l = strlen(s);
				if (n + l >= sizeof(in))
					break;
				memcpy(in + n, s, l);
				n += l;
			}
			/* mutate: flip, insert random bytes, truncate */
			int muts = rand() % 4;
			for (int m = 0; m < muts && n > 0; m++) {
				size_t at = (size_t)rand() % n;
				switch (rand() % 3) {
				case 0: in[at] = (char)(rand() & 0xff); break;
				case 1: in[at] = "\r\n.: <>=;+"[rand() % 10];
					break;
				default: n = at; break;
				}
			}
			if (rand() % 10 == 0) {
				n = (size_t)rand() % sizeof(in);
				for (size_t i = 0; i < n; i++)
					in[i] = (char)(rand() & 0xff);
			}
			size_t off = 0;
			while (off < n) {
				size_t k = 1 + (size_t)rand() % (n - off);
				smtp_session_feed(e.s, in + off, k);
				smtp_session_check_state(e.s);
				off += k;
			}
			if (e.f.n > 0 && rand() % 3)
				fake_complete(&e.f, rand() % 5 ? 0 : GW_EIO);
			if (rand() % 50 == 0)
				smtp_session_timeout(e.s);
			if (rand() % 80 == 0)
				smtp_session_shutdown(e.s);
			clk_virtual_advance(&e.clk, rand() % 1000);
			buf_reset(smtp_session_out(e.s));
		}
		if (rand() % 2)
			env_fini(&e); /* possibly with a commit in flight */
		else {
			while (e.f.n > 0)
				fake_complete(&e.f, 0);
			env_fini(&e);
		}
		runs++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	gw_log_set_stderr(true);
	fprintf(stderr, "fuzz: %lu sessions\n", runs);
	assert_true(runs > 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_wait_keeps_pipelined_input),
		cmocka_unit_test(test_orphaned_commit_and_failures),
		cmocka_unit_test(test_timeouts_and_bounds),
		cmocka_unit_test(test_split_invariance),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
