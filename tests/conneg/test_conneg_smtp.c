/*
 * test_conneg_smtp.c - the SMTP session answers RCPT ... CONNEG from the
 * capability table through conneg_lookup (the wiring the daemon uses),
 * and records CONPERM/DRUCOF on the envelope for conv and the relay
 * decision.
 */
#include "tests/lib/testutil.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/conneg/conneg.h"
#include "gateway/mail/policy.h"
#include "gateway/smtp/smtp_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>

struct fake {
	queue_submit_cb cb;
	void *arg;
	struct queue_envelope *env;
};

static int
fake_submit(void *io_arg, struct queue_envelope *env, struct buf *content,
    queue_submit_cb cb, void *cb_arg)
{
	struct fake *f = io_arg;
	buf_reset(content);
	if (f->env != NULL)
		queue_envelope_free(f->env);
	f->env = env;
	f->cb = cb;
	f->arg = cb_arg;
	return 0;
}

static void
fake_wake(void *io_arg)
{
	(void)io_arg;
}

static const struct smtp_session_io fake_io = { fake_submit, fake_wake };

static char *
talk(struct smtp_session *s, const char *in)
{
	static char out[8192];
	struct buf *o = smtp_session_out(s);
	smtp_session_feed(s, in, strlen(in));
	snprintf(out, sizeof(out), "%s", buf_cstr(o));
	buf_reset(o);
	return out;
}

static void
test_rcpt_conneg_from_table(void **state)
{
	(void)state;
	struct conneg_table *t = NULL;
	char err[128];
	assert_int_equal(conneg_table_parse("caps", "alice@ship.example "
	    "(&(type=[text/plain,image/jpeg])(size<=20000))\n", &t, err,
	    sizeof(err)), 0);

	struct clk_virtual clk;
	struct policy_config pc;
	struct policy *pol = NULL;
	clk_virtual_init(&clk, 0, 1795469534);
	policy_config_init(&pc);
	pc.trusted_networks = "127.0.0.0/8";
	assert_int_equal(policy_new(&pc, &pol, err, sizeof(err)), 0);
	struct smtp_session_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "gw.example";
	cfg.max_message_size = 4096;
	cfg.max_recipients = 100;
	cfg.max_errors = 1000;
	cfg.command_timeout_ms = 300000;
	cfg.data_timeout_ms = 180000;
	cfg.deliverby_min_s = 60;
	cfg.policy = pol;
	cfg.conneg = cfg.conperm = true;
	cfg.clock = &clk.base;
	cfg.max_input = 1024;
	cfg.conneg_lookup = conneg_lookup;
	cfg.conneg_arg = t;
	struct sockaddr_in peer;
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct fake f = { NULL, NULL, NULL };
	struct smtp_session *s = smtp_session_new(&cfg, &fake_io, &f,
	    (const struct sockaddr *)&peer, "c1");
	smtp_session_greet(s);
	talk(s, "");
	assert_non_null(strstr(talk(s, "EHLO c.example\r\n"), "CONNEG"));
	talk(s, "MAIL FROM:<a@near.example> CONPERM\r\n");
	const char *r = talk(s,
	    "RCPT TO:<alice@ship.example> CONNEG DRUCOF\r\n");
	assert_non_null(strstr(r, "250-"));
	assert_non_null(strstr(r, "\r\n250 CONNEG (&(type=[text/plain,"
	    "image/jpeg])(size<=20000))\r\n"));
	/* unknown recipient: the plain one-line reply */
	r = talk(s, "RCPT TO:<bob@elsewhere.example> CONNEG\r\n");
	assert_null(strstr(r, "CONNEG"));
	assert_non_null(strstr(r, "250 2.1.5"));
	talk(s, "DATA\r\n");
	talk(s, "Subject: x\r\n\r\nhi\r\n.\r\n");
	assert_non_null(f.env);
	assert_true(f.env->conperm);
	assert_int_equal(f.env->nrcpts, 2);
	assert_int_equal(f.env->rcpts[0].flags,
	    QUEUE_RCPT_CONNEG | QUEUE_RCPT_DRUCOF);
	assert_int_equal(f.env->rcpts[1].flags, QUEUE_RCPT_CONNEG);
	f.cb(GW_ECANCELED, NULL, f.arg);
	smtp_session_free(s);
	queue_envelope_free(f.env);
	policy_free(pol);
	conneg_table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rcpt_conneg_from_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
