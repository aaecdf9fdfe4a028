/* DSN generation checked field by field through the parser; RET; the null
 * reverse path; the redirected copy and its trace header. */
#include "tests/lib/testutil.h"

#include "common/clock.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/mail/dsn.h"
#include "gateway/sched/sched.h"
#include "gateway/sched/sched_dsn.h"
#include "gateway/sched/sched_redirect.h"

#define T0 1800000000LL

static const char orig_msg[] =
	"Received: from a.example by gw1.example with ESMTP id 1\r\n"
	"From: El Jefe <eljefe@example.com>\r\n"
	"To: topbanana@example.net\r\n"
	"Subject: move out at dawn\r\n"
	"\r\n"
	"Body line one.\r\n"
	"Body line two.\r\n";

static void
env_free(struct queue_envelope *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].addr);
		free(e->rcpts[i].orcpt);
		free(e->rcpts[i].arcpt);
		free(e->rcpts[i].route);
	}
	free(e->rcpts);
	free(e->reverse_path);
	free(e->envid);
	free(e->client);
	free(e);
}

static struct queue_envelope *
orig_env(enum queue_ret ret)
{
	struct queue_envelope *e = xcalloc(1, sizeof(*e));
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		e->id[i] = (uint8_t)(0xa0 + i);
	e->reverse_path = xstrdup("eljefe@example.com");
	e->priority = 3;
	e->band = 4;
	e->by_deadline = T0 + 120;
	e->by_mode = 'R';
	e->aby_deadline = T0 + 60;
	e->envid = xstrdup("QQ+2B314159");
	e->ret = ret;
	e->arrival = T0;
	e->nrcpts = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("topbanana@example.net");
	e->rcpts[0].arcpt = xstrdup("rfc822;bottom-apple@loc2.example.org");
	e->rcpts[1].addr = xstrdup("dana@ivory.example.net");
	e->rcpts[1].notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE;
	e->rcpts[1].orcpt = xstrdup("rfc822;Dana+40Ivory.example.net");
	return e;
}

static void
test_date(void **state)
{
	(void)state;
	char d[64];

	dsn_format_date(T0, d, sizeof(d));
	assert_string_equal(d, "Fri, 15 Jan 2027 08:00:00 +0000");
	dsn_format_date(0, d, sizeof(d));
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
}

static void
test_xtext(void **state)
{
	(void)state;
	char o[32];
	struct buf b = BUF_INIT;

	assert_int_equal(dsn_xtext_decode("b+40y", o, sizeof(o)), 0);
	assert_string_equal(o, "b@y");
	assert_int_equal(dsn_xtext_decode("b+4g", o, sizeof(o)), GW_ESYNTAX);
	assert_int_equal(dsn_xtext_decode("b+4", o, sizeof(o)), GW_ESYNTAX);
	assert_int_equal(dsn_xtext_decode("a=b", o, sizeof(o)), GW_ESYNTAX);
	assert_int_equal(dsn_xtext_decode("abcdef", o, 4), GW_ETOOBIG);
	sched_redirect_xtext_encode(&b, "a+b=c d@e");
	assert_string_equal(buf_cstr(&b), "a+2Bb+3Dc+20d@e");
	buf_fini(&b);
}

static void
test_failed_hdrs(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_HDRS), *e = NULL;
	struct dsn_rcpt rc[1];
	struct dsn_report r;
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	struct buf b = BUF_INIT;
	const char *hend;

	memset(rc, 0, sizeof(rc));
	rc[0].final_rcpt = "dana@ivory.example.net";
	rc[0].orcpt = o->rcpts[1].orcpt;
	rc[0].action = DSN_FAILED;
	rc[0].status = "5.4.7";
	rc[0].diag = "X-Skywave; deliver-by time expired in queue";
	rc[0].remote_mta = "dns; gw2.example";
	rc[0].last_attempt_s = T0 + 100;
	memset(&r, 0, sizeof(r));
	r.reporting_mta = "gw1.example";
	r.received_from_mta = "dns; a.example";
	r.orig = o;
	r.rcpts = rc;
	r.nrcpts = 1;
	r.content = (const uint8_t *)orig_msg;
	r.content_len = strlen(orig_msg);
	r.now_s = T0 + 120;
	assert_int_equal(dsn_build(&r, &e, &b), 0);
	assert_non_null(e);

	/* The envelope: from <>, to the sender, no DSN about a DSN, the
	 * original's priority. */
	assert_string_equal(e->reverse_path, "");
	assert_int_equal(e->nrcpts, 1);
	assert_string_equal(e->rcpts[0].addr, "eljefe@example.com");
	assert_int_equal(e->rcpts[0].notify, QUEUE_NOTIFY_NEVER);
	assert_null(e->rcpts[0].arcpt);
	assert_int_equal(e->priority, 3);
	assert_int_equal(e->band, 4);
	assert_int_equal(e->by_deadline, 0);
	assert_int_equal(e->arrival, T0 + 120);

	/* CRLF throughout. */
	assert_null(strstr(buf_cstr(&b), "\n\n"));
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->from,
	    "Mail Delivery System <MAILER-DAEMON@gw1.example>");
	assert_string_equal(p->to, "<eljefe@example.com>");
	assert_string_equal(p->subject,
	    "Delivery Status Notification (Failure)");
	assert_string_equal(p->report_type, "delivery-status");
	assert_string_equal(p->reporting_mta, "dns; gw1.example");
	assert_string_equal(p->received_from_mta, "dns; a.example");
	assert_string_equal(p->envid, "QQ+314159");
	assert_string_equal(p->arrival_date, "Fri, 15 Jan 2027 08:00:00 +0000");
	assert_string_equal(p->deliver_by_date,
	    "Fri, 15 Jan 2027 08:02:00 +0000");
	assert_int_equal(p->nrcpts, 1);
	assert_string_equal(p->rcpts[0].original_rcpt,
	    "rfc822;Dana@Ivory.example.net");
	assert_string_equal(p->rcpts[0].final_rcpt,
	    "rfc822; dana@ivory.example.net");
	assert_string_equal(p->rcpts[0].action, "failed");
	assert_string_equal(p->rcpts[0].status, "5.4.7");
	assert_string_equal(p->rcpts[0].diag,
	    "X-Skywave; deliver-by time expired in queue");
	assert_string_equal(p->rcpts[0].remote_mta, "dns; gw2.example");
	assert_string_equal(p->rcpts[0].last_attempt,
	    "Fri, 15 Jan 2027 08:01:40 +0000");
	assert_string_equal(p->rcpts[0].will_retry_until, "");
	assert_string_equal(p->rcpts[0].alternate, "");
	/* RET=HDRS: the headers and nothing of the body. */
	assert_string_equal(p->returned_type, "text/rfc822-headers");
	hend = strstr(orig_msg, "\r\n\r\n");
	assert_int_equal(p->returned_len, (size_t)(hend - orig_msg) + 4 + 2);
	assert_null(strstr(buf_cstr(&b), "Body line"));
	assert_non_null(strstr(p->human, "dana@ivory.example.net"));
	assert_non_null(strstr(p->human, "failed"));
	env_free(e);
	env_free(o);
	buf_fini(&b);
	free(p);
}

static void
test_ret_full(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_FULL), *e = NULL;
	struct dsn_rcpt rc = { .final_rcpt = "topbanana@example.net",
		.action = DSN_FAILED, .status = "5.1.1",
		.diag = "smtp; 550 5.1.1 no such user" };
	struct dsn_report r = { .reporting_mta = "gw1.example", .orig = o,
		.rcpts = &rc, .nrcpts = 1,
		.content = (const uint8_t *)orig_msg,
		.content_len = sizeof(orig_msg) - 1, .now_s = T0 + 5 };
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	struct buf b = BUF_INIT;

	assert_int_equal(dsn_build(&r, &e, &b), 0);
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->returned_type, "message/rfc822");
	assert_non_null(strstr(buf_cstr(&b), "Body line two."));
	assert_string_equal(p->rcpts[0].original_rcpt, "");
	assert_string_equal(p->rcpts[0].status, "5.1.1");
	env_free(e);
	buf_reset(&b);

	/* RET applies to failures only: a delay report returns headers. */
	rc.action = DSN_DELAYED;
	rc.status = "4.4.7";
	rc.will_retry_until_s = T0 + 3600;
	assert_int_equal(dsn_build(&r, &e, &b), 0);
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->subject, "Delivery Status Notification (Delay)");
	assert_string_equal(p->returned_type, "text/rfc822-headers");
	assert_null(strstr(buf_cstr(&b), "Body line two."));
	assert_string_equal(p->rcpts[0].action, "delayed");
	assert_string_equal(p->rcpts[0].will_retry_until,
	    "Fri, 15 Jan 2027 09:00:00 +0000");
	env_free(e);
	env_free(o);
	buf_fini(&b);
	free(p);
}

static void
test_no_dsn_for_null_sender(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_NONE), *e = NULL;
	struct dsn_rcpt rc = { .final_rcpt = "x@y", .action = DSN_FAILED,
		.status = "5.4.7" };
	struct dsn_report r = { .reporting_mta = "gw1.example", .orig = o,
		.rcpts = &rc, .nrcpts = 1, .now_s = T0 };
	struct buf b = BUF_INIT;

	free(o->reverse_path);
	o->reverse_path = xstrdup("");
	assert_int_equal(dsn_build(&r, &e, &b), GW_ENOENT);
	assert_null(e);
	assert_int_equal(b.len, 0);
	/* Nor when nothing is to be reported, nor without our name. */
	free(o->reverse_path);
	o->reverse_path = xstrdup("a@b");
	r.nrcpts = 0;
	assert_int_equal(dsn_build(&r, &e, &b), GW_ENOENT);
	r.nrcpts = 1;
	r.reporting_mta = NULL;
	assert_int_equal(dsn_build(&r, &e, &b), GW_EINVAL);
	assert_null(e);
	env_free(o);
	buf_fini(&b);
}

static void
test_multi_and_redirect(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_NONE), *e = NULL;
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	struct buf b = BUF_INIT;

	memset(rc, 0, sizeof(rc));
	rc[0].final_rcpt = "topbanana@example.net";
	rc[0].action = DSN_RELAYED;
	rc[0].status = "2.0.0";
	rc[0].diag = "X-Skywave; predicted-late on link hf1";
	rc[0].alternate = "bottom-apple@loc2.example.org";
	rc[0].redirect_cause = "predicted-late";
	rc[1].final_rcpt = "dana@ivory.example.net";
	rc[1].orcpt = o->rcpts[1].orcpt;
	rc[1].action = DSN_RELAYED;
	rc[1].status = "2.0.0";
	memset(&r, 0, sizeof(r));
	r.reporting_mta = "gw1.example";
	r.orig = o;
	r.rcpts = rc;
	r.nrcpts = 2;
	r.content = (const uint8_t *)orig_msg;
	r.content_len = strlen(orig_msg);
	r.now_s = T0 + 30;
	assert_int_equal(dsn_build(&r, &e, &b), 0);
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->subject, "Delivery Status Notification "
	    "(Redirected to alternate recipient)");
	assert_int_equal(p->nrcpts, 2);
	assert_string_equal(p->rcpts[0].original_rcpt, "");
	assert_string_equal(p->rcpts[0].final_rcpt,
	    "rfc822; topbanana@example.net");
	assert_string_equal(p->rcpts[0].action, "relayed");
	assert_string_equal(p->rcpts[0].alternate,
	    "rfc822; bottom-apple@loc2.example.org");
	assert_string_equal(p->rcpts[0].redirect_cause, "predicted-late");
	assert_string_equal(p->rcpts[1].original_rcpt,
	    "rfc822;Dana@Ivory.example.net");
	assert_string_equal(p->rcpts[1].final_rcpt,
	    "rfc822; dana@ivory.example.net");
	assert_string_equal(p->rcpts[1].alternate, "");
	assert_non_null(strstr(p->human, "bottom-apple@loc2.example.org"));
	env_free(e);
	env_free(o);
	buf_fini(&b);
	free(p);
}

static void
test_boundary_collision(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_FULL), *e = NULL;
	struct dsn_rcpt rc = { .final_rcpt = "x@y", .action = DSN_FAILED,
		.status = "5.0.0" };
	struct dsn_report r = { .reporting_mta = "gw1.example", .orig = o,
		.rcpts = &rc, .nrcpts = 1, .now_s = T0 };
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	struct buf msg = BUF_INIT, b = BUF_INIT;
	size_t i;

	/* Content that contains the first boundary we would pick. */
	buf_append_str(&msg, "Subject: tricky\r\n\r\n--=_skywave_dsn_");
	for (i = 0; i < QUEUE_ID_LEN; i++)
		buf_appendf(&msg, "%02x", o->id[i]);
	buf_appendf(&msg, "_%lld_0--\r\n", T0);
	r.content = msg.data;
	r.content_len = msg.len;
	assert_int_equal(dsn_build(&r, &e, &b), 0);
	assert_non_null(strstr(buf_cstr(&b), "_1\""));
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->returned_type, "message/rfc822");
	assert_int_equal(p->returned_len, msg.len + 2);
	env_free(e);
	env_free(o);
	buf_fini(&b);
	buf_fini(&msg);
	free(p);
}

static void
test_parse_rejects(void **state)
{
	(void)state;
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	static const char *bad[] = {
		"Subject: hi\r\n\r\nhello\r\n",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n"
		    "--x--\r\n",
		"Content-Type: multipart/report; report-type=disposition-"
		    "notification; boundary=x\r\n\r\n--x--\r\n",
		"Content-Type: multipart/report; report-type=delivery-status;"
		    " boundary=x\r\n\r\n--x\r\n\r\nhi\r\n--x--\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dsn_parse((const uint8_t *)bad[i],
		    strlen(bad[i]), p), GW_ESYNTAX);
	free(p);
}

static void
test_redirect_copy(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_HDRS), *e = NULL;
	struct sched_redirect rd = { .orig = o, .rcpt = 0,
		.cause = SCHED_CAUSE_PREDICTED, .by_left_ms = 59999,
		.now_s = T0 + 60, .reporting_mta = "gw1.example" };
	struct buf h = BUF_INIT;

	assert_int_equal(sched_redirect_build(&rd, &e, &h), 0);
	assert_string_equal(e->rcpts[0].addr, "bottom-apple@loc2.example.org");
	assert_int_equal(e->nrcpts, 1);
	assert_null(e->rcpts[0].arcpt);
	assert_null(e->rcpts[0].route);
	assert_string_equal(e->rcpts[0].orcpt, "rfc822;topbanana@example.net");
	assert_int_equal(e->aby_deadline, 0);
	/* Remaining BY time, rounded down: 59.999 s -> 59 s. */
	assert_int_equal(e->by_deadline, T0 + 60 + 59);
	assert_int_equal(e->by_mode, 'R');
	assert_string_equal(e->reverse_path, "eljefe@example.com");
	assert_string_equal(e->envid, "QQ+2B314159");
	assert_int_equal(e->priority, 3);
	assert_int_equal(e->band, 4);
	assert_int_equal(e->ret, QUEUE_RET_HDRS);
	assert_string_equal(buf_cstr(&h),
	    "Alternate-Recipient-Redirect: <topbanana@example.net> to\r\n"
	    " <bottom-apple@loc2.example.org>; cause=predicted-late;\r\n"
	    " by gw1.example; Fri, 15 Jan 2027 08:01:00 +0000\r\n");
	env_free(e);
	buf_reset(&h);

	/* A 5xx cause with its detail; the original ORCPT is kept. */
	o->rcpts[0].orcpt = xstrdup("rfc822;TopBanana+40example.net");
	rd.cause = SCHED_CAUSE_PERMFAIL;
	rd.detail = "550 5.1.1 (no such user)";
	assert_int_equal(sched_redirect_build(&rd, &e, &h), 0);
	assert_string_equal(e->rcpts[0].orcpt,
	    "rfc822;TopBanana+40example.net");
	assert_non_null(strstr(buf_cstr(&h),
	    "cause=permanent-error (550 5.1.1 no such user);"));
	env_free(e);

	/* Less than a whole second of BY;R left: no redirect. */
	rd.by_left_ms = 999;
	assert_int_equal(sched_redirect_build(&rd, &e, &h), GW_ETIMEDOUT);
	assert_null(e);
	/* Mode N may go on with time already past. */
	o->by_mode = 'N';
	rd.by_left_ms = -1500;
	assert_int_equal(sched_redirect_build(&rd, &e, &h), 0);
	assert_int_equal(e->by_deadline, T0 + 60 - 2);
	env_free(e);
	/* No ARCPT, or not rfc822: not a redirect. */
	rd.rcpt = 1;
	assert_int_equal(sched_redirect_build(&rd, &e, &h), GW_EINVAL);
	rd.rcpt = 0;
	free(o->rcpts[0].arcpt);
	o->rcpts[0].arcpt = xstrdup("x400;c=us");
	assert_int_equal(sched_redirect_build(&rd, &e, &h), GW_EINVAL);
	env_free(o);
	buf_fini(&h);
}

/* From the envelope through the scheduler's decisions to the report. */
static void
test_decisions_to_dsn(void **state)
{
	(void)state;
	struct queue_envelope *o = orig_env(QUEUE_RET_HDRS), *e = NULL;
	struct sched_rcpt_spec rcs[2];
	struct sched_job_spec sp;
	struct sched_cfg cfg;
	struct predict_link l;
	struct clk_virtual v;
	struct sched_out out;
	struct sched *s;
	struct sched_dsn_in in;
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	struct buf b = BUF_INIT;
	size_t idx[2] = { 0, 1 };
	int64_t w;

	clk_virtual_init(&v, 1000, T0 - 1);
	assert_int_equal(clk_wall_s(&v.base), T0);
	sched_cfg_default(&cfg);
	s = sched_new(&cfg);
	sched_out_init(&out);
	predict_link_default(&l);
	assert_int_equal(sched_route_add(s, "hf1", &l), 0);
	sched_spec_from_envelope(&sp, rcs, o, 0, idx, 2, 4000,
	    clk_mono_ms(&v.base), clk_wall_s(&v.base));
	assert_int_equal(sp.by_ms, 1000 + 120 * 1000);
	assert_int_equal(sp.aby_ms, 1000 + 60 * 1000);
	assert_int_equal(sp.arrival_ms, 1000);
	assert_int_equal(sp.by_mode, 'R');
	assert_int_equal(sp.band, 4);
	assert_true(rcs[0].has_arcpt);
	assert_false(rcs[1].has_arcpt);
	assert_int_equal(rcs[1].notify, o->rcpts[1].notify);
	assert_int_equal(sched_add(s, &sp, clk_mono_ms(&v.base), NULL), 0);
	/* The link goes down for longer than ABY: a predicted redirect at
	 * once for the recipient with an alternate; the other fails when
	 * its BY;R is certainly lost. */
	sched_route_state(s, 0, SCHED_LINK_DOWN, 0, clk_mono_ms(&v.base));
	w = sched_tick(s, clk_mono_ms(&v.base), &out);
	while (w != INT64_MAX && sched_count(s) > 0) {
		clk_virtual_set(&v, w);
		w = sched_tick(s, clk_mono_ms(&v.base), &out);
	}
	assert_int_equal(out.n, 2);
	assert_int_equal(out.v[0].act, SCHED_ACT_REDIRECT);
	assert_int_equal(out.v[0].at_ms, 1000);
	assert_int_equal(out.v[0].cause, SCHED_CAUSE_PREDICTED);
	assert_int_equal(out.v[1].act, SCHED_ACT_FAIL);
	assert_true(out.v[1].at_ms <= 121000);

	memset(&in, 0, sizeof(in));
	in.dec = out.v;
	in.ndec = out.n;
	in.env = o;
	in.content = (const uint8_t *)orig_msg;
	in.content_len = strlen(orig_msg);
	in.reporting_mta = "gw1.example";
	in.now_s = clk_wall_s(&v.base);
	assert_int_equal(sched_dsn_build(&in, &e, &b), 0);
	assert_string_equal(e->reverse_path, "");
	assert_int_equal(e->priority, 3);
	assert_int_equal(dsn_parse(b.data, b.len, p), 0);
	assert_string_equal(p->subject, "Delivery Status Notification "
	    "(Redirected to alternate recipient)");
	assert_string_equal(p->deliver_by_date,
	    "Fri, 15 Jan 2027 08:02:00 +0000");
	assert_string_equal(p->envid, "QQ+314159");
	assert_int_equal(p->nrcpts, 2);
	assert_string_equal(p->rcpts[0].final_rcpt,
	    "rfc822; topbanana@example.net");
	assert_string_equal(p->rcpts[0].action, "relayed");
	assert_string_equal(p->rcpts[0].status, "2.0.0");
	assert_string_equal(p->rcpts[0].alternate,
	    "rfc822; bottom-apple@loc2.example.org");
	assert_string_equal(p->rcpts[0].redirect_cause, "predicted-late");
	assert_string_equal(p->rcpts[0].diag, "X-Skywave; "
	    "predicted-late: predicted not to reach the recipient by the "
	    "deadline on this route");
	assert_string_equal(p->rcpts[1].original_rcpt,
	    "rfc822;Dana@Ivory.example.net");
	assert_string_equal(p->rcpts[1].final_rcpt,
	    "rfc822; dana@ivory.example.net");
	assert_string_equal(p->rcpts[1].action, "failed");
	assert_string_equal(p->rcpts[1].status, "5.4.7");
	assert_non_null(strstr(p->rcpts[1].diag, "deliver-by time"));
	assert_string_equal(p->returned_type, "text/rfc822-headers");
	env_free(e);
	e = NULL;

	/* Nothing owed: NOTIFY=NEVER on both, or the null sender. */
	out.v[0].dsn = out.v[1].dsn = false;
	assert_int_equal(sched_dsn_build(&in, &e, &b), GW_ENOENT);
	out.v[0].dsn = true;
	free(o->reverse_path);
	o->reverse_path = xstrdup("");
	assert_int_equal(sched_dsn_build(&in, &e, &b), GW_ENOENT);
	/* A decision about another message is refused. */
	free(o->reverse_path);
	o->reverse_path = xstrdup("a@b");
	out.v[0].id[0] ^= 1;
	assert_int_equal(sched_dsn_build(&in, &e, &b), GW_EINVAL);
	assert_null(e);
	sched_free(s);
	sched_out_fini(&out);
	env_free(o);
	buf_fini(&b);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_failed_hdrs),
		cmocka_unit_test(test_ret_full),
		cmocka_unit_test(test_no_dsn_for_null_sender),
		cmocka_unit_test(test_multi_and_redirect),
		cmocka_unit_test(test_boundary_collision),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_redirect_copy),
		cmocka_unit_test(test_decisions_to_dsn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
