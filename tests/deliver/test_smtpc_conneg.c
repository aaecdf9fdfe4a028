/* smtpc: content negotiation toward an SMTP hop (the seed's section 4,
 * RFC 4141), case by case, and the X.6.4 reports.
 *
 * Part 1 drives the sans-I/O session with exact transcripts ("C:" what the
 * client must have written, "S:" the hop's reply, "V:" the glue's trial
 * conversion run here synchronously with conv_run, "X:" a trial that could
 * not run, "B:" the message body up to the final dot, captured). Part 2 runs the libuv client against the
 * fake server (RCPT ... CONNEG answered with multi-line capabilities) and
 * checks the bytes that arrived. Every DSN built is parsed with dsn_parse.
 */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "gateway/conneg/caps.h"
#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"
#include "gateway/deliver/smtpc.h"
#include "gateway/mail/dsn.h"
#include "tests/deliver/fakesmtp.h"
#include "tests/deliver/tclock.h"

/* ---- fixtures ---- */

#define MAXR 4

struct fx {
	struct tclock ck;
	struct queue_envelope env;
	struct queue_rcpt r[MAXR];
	struct smtpc_msg m;
	struct smtpc_sess *s;
	struct buf bodies[3];     /* "B:" captures, in order */
	size_t nbodies;
	struct conv_report rep;   /* the last "V:" trial */
	int ntrials;
};

static void
fx_init(struct fx *f, const char *content, const char *const *rcpts,
    unsigned drucof_mask)
{
	memset(f, 0, sizeof(*f));
	tclock_init(&f->ck, false);
	f->env.reverse_path = "a@x.test";
	f->env.rcpts = f->r;
	for (size_t i = 0; rcpts[i]; i++) {
		f->r[i].addr = (char *)(uintptr_t)rcpts[i];
		if (drucof_mask & (1u << i))
			f->r[i].flags |= QUEUE_RCPT_DRUCOF;
		f->env.nrcpts++;
	}
	f->m = (struct smtpc_msg){ &f->env, (const uint8_t *)content,
		strlen(content), NULL, 0 };
	for (size_t i = 0; i < 3; i++)
		buf_init(&f->bodies[i]);
}

static void
fx_fini(struct fx *f)
{
	smtpc_sess_free(f->s);
	for (size_t i = 0; i < 3; i++)
		buf_fini(&f->bodies[i]);
}

struct run {
	struct fx *f;
	struct buf out;
	struct buf log;
};

static bool
next_out_line(struct run *r, char *line, size_t cap)
{
	for (int tries = 0; tries < 3; tries++) {
		struct buf *o = smtpc_sess_output(r->f->s);
		if (o->len) {
			buf_append(&r->out, o->data, o->len);
			buf_reset(o);
		}
		uint8_t *nl = r->out.len ? memchr(r->out.data, '\n',
		    r->out.len) : NULL;
		if (nl) {
			size_t ll = (size_t)(nl - r->out.data);
			size_t take = ll + 1;
			if (ll > 0 && r->out.data[ll - 1] == '\r')
				ll--;
			snprintf(line, cap, "%.*s", (int)ll,
			    (const char *)r->out.data);
			buf_consume(&r->out, take);
			return true;
		}
		smtpc_sess_drained(r->f->s, r->f->ck.mono);
	}
	return false;
}

/* The glue's part, done here synchronously. */
static void
trial(struct fx *f)
{
	struct conv_policy pol;
	const char *caps = smtpc_sess_conv_caps(f->s, &pol);
	struct caps_filter *flt = NULL;
	struct buf out = BUF_INIT;

	if (caps == NULL)
		fail_msg("V: the session is in %s, not negotiate",
		    smtpc_state_name(smtpc_sess_state(f->s)));
	assert_int_equal(caps_filter_parse(caps, &flt, NULL), 0);
	assert_int_equal(conv_run(f->m.content, f->m.len, &pol, flt, &out,
	    &f->rep), 0);
	f->ntrials++;
	smtpc_sess_converted(f->s, &f->rep, &out, f->ck.mono);
	caps_filter_free(flt);
	buf_fini(&out);
}

static void
fx_run(struct fx *f, const char *const *steps)
{
	struct smtpc_opts o;
	struct run r = { f, BUF_INIT, BUF_INIT };
	char line[4096];

	smtpc_opts_default(&o, "gw.test");
	o.chunking = SMTPC_CHUNKING_NEVER;
	f->s = smtpc_sess_new(&o, &f->m, &f->ck.base, "hop [127.0.0.1]:25");
	smtpc_sess_connected(f->s, f->ck.mono);
	for (size_t i = 0; steps[i]; i++) {
		const char *st = steps[i];
		if (st[0] == 'S') {
			buf_appendf(&r.log, "S: %s\n", st + 3);
			smtpc_sess_input(f->s, (const uint8_t *)st + 3,
			    strlen(st + 3), f->ck.mono);
			smtpc_sess_input(f->s, (const uint8_t *)"\r\n", 2,
			    f->ck.mono);
		} else if (st[0] == 'V') {
			buf_appendf(&r.log, "V:\n");
			trial(f);
		} else if (st[0] == 'X') {
			/* the trial could not run (thread pool, size) */
			buf_appendf(&r.log, "X:\n");
			assert_int_equal(smtpc_sess_state(f->s),
			    SMTPC_S_NEGOTIATE);
			smtpc_sess_converted(f->s, NULL, NULL, f->ck.mono);
		} else if (st[0] == 'B') {
			struct buf *b = &f->bodies[f->nbodies++];
			for (;;) {
				if (!next_out_line(&r, line, sizeof(line)))
					fail_msg("step %zu: body ended early\n"
					    "%s", i, buf_cstr(&r.log));
				if (strcmp(line, ".") == 0)
					break;
				buf_appendf(b, "%s\r\n", line);
			}
			buf_appendf(&r.log, "C: <body of %zu octets>\n",
			    b->len);
		} else if (st[0] == 'C') {
			if (!next_out_line(&r, line, sizeof(line)))
				fail_msg("step %zu: expected client line "
				    "\"%s\", client sent nothing more\n"
				    "transcript so far:\n%s", i, st + 3,
				    buf_cstr(&r.log));
			buf_appendf(&r.log, "C: %s\n", line);
			if (strcmp(line, st + 3) != 0)
				fail_msg("step %zu: expected \"%s\"\n"
				    "            got \"%s\"\ntranscript:\n%s",
				    i, st + 3, line, buf_cstr(&r.log));
		}
	}
	if (next_out_line(&r, line, sizeof(line)))
		fail_msg("client sent more than expected: \"%s\"\n"
		    "transcript:\n%s", line, buf_cstr(&r.log));
	assert_int_equal(smtpc_sess_state(f->s), SMTPC_S_DONE);
	buf_fini(&r.out);
	buf_fini(&r.log);
}

static const struct deliver_outcome *
outcome(struct fx *f, size_t r)
{
	size_t n;
	const struct deliver_outcome *o = smtpc_sess_outcomes(f->s, &n);
	assert_true(r < n);
	return &o[r];
}

static void
expect(struct fx *f, size_t r, enum deliver_action a, const char *status)
{
	const struct deliver_outcome *o = outcome(f, r);
	if (o->action != a || strcmp(o->status, status) != 0)
		fail_msg("rcpt %zu: got %s %s (%s), want %s %s", r,
		    deliver_action_name(o->action), o->status, o->text,
		    deliver_action_name(a), status);
}

static bool
has(const struct buf *b, const char *s)
{
	return strstr(buf_cstr((struct buf *)(uintptr_t)b), s) != NULL;
}

static const char HTML[] =
    "From: a@x.test\r\nTo: b@y.test\r\nSubject: html\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n"
    "\r\n<html><body><p>Wind <b>force 5</b>.</p></body></html>\r\n";
/* RFC 4141 marks: under CONPERM alone, only a marked part converts. */
static const char HTML_ANY[] =
    "From: a@x.test\r\nTo: b@y.test\r\nSubject: html\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n"
    "Content-Convert: ANY\r\n"
    "\r\n<html><body><p>Wind <b>force 5</b>.</p></body></html>\r\n";
static const char PROHIBITED[] =
    "From: a@x.test\r\nTo: b@y.test\r\nSubject: keep\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n"
    "Content-Convert: NONE\r\n\r\n<p>Keep me as I am.</p>\r\n";
/* No converter turns a PDF into text. */
static const char PDF[] =
    "From: a@x.test\r\nTo: b@y.test\r\nSubject: pdf\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b4\"\r\n"
    "\r\n--b4\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    "See attachment.\r\n--b4\r\nContent-Type: application/pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b4--\r\n";

static const char *const ONE[] = { "b@y.test", NULL };
static const char *const TWO[] = { "b@y.test", "c@y.test", NULL };
static const char *const THREE[] = { "b@y.test", "c@y.test", "d@y.test",
	NULL };

#define E_CONNEG_DRUCOF "S: 250-hop\r\n250-CONNEG\r\n250 DRUCOF"
#define E_CONNEG "S: 250-hop\r\n250 CONNEG"
/* a filter split over two CONNEG lines, as RFC 4141 allows */
#define CAPS_TEXT "S: 250-2.1.5 ok\r\n250-CONNEG (type=te\r\n" \
	"250 CONNEG xt/plain)"
#define CAPS_HTML "S: 250-2.1.5 ok\r\n250 CONNEG (type=text/html)"

/* The probe for one DRUCOF recipient, answered with reply. */
#define PROBE1(reply) \
	"C: MAIL FROM:<a@x.test>", "S: 250 ok", \
	"C: RCPT TO:<b@y.test> CONNEG", reply, "C: RSET", "S: 250 ok"

/* ---- part 1: the session, case by case ---- */

/* A probe decides nothing: a hop that then cannot take the message (here
 * its SIZE limit) is left for the next host, as it would be without the
 * probe, instead of failing the recipients. */
static void
test_probe_then_size_next_host(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test",
		"S: 250-hop\r\n250-SIZE 100\r\n250-CONNEG\r\n250 DRUCOF",
		PROBE1(CAPS_HTML), "V:",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	assert_int_equal(smtpc_sess_end(f.s), SMTPC_END_NEXT_HOST);
	assert_string_equal(smtpc_sess_host_error(f.s)->status, "5.3.4");
	fx_fini(&f);
}

/* No CONPERM, no DRUCOF: exactly as before, however much the hop offers:
 * no probe, no CONNEG, nothing asserted. */
static void
test_plain_message_no_probe(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, TWO, 0);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test",
		"S: 250-hop\r\n250-CONNEG\r\n250-DRUCOF\r\n250 CONPERM",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: RCPT TO:<c@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	assert_string_equal(buf_cstr(&f.bodies[0]), HTML);
	expect(&f, 0, DELIVER_RELAYED, "2.0.0");
	expect(&f, 1, DELIVER_RELAYED, "2.0.0");
	assert_false(outcome(&f, 0)->lossy);
	assert_int_equal(f.ntrials, 0);
	fx_fini(&f);
}

/* CONNEG with capabilities and a possible conversion: converted here,
 * relayed without DRUCOF or CONNEG, the outcome marked lossy. */
static void
test_caps_converted_here(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
		PROBE1(CAPS_TEXT), "V:",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 2.0.0 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	const struct smtpc_answer *a = smtpc_sess_answer(f.s, 0);
	assert_int_equal(a->hop, CONNEG_HOP_CAPS_OK);
	assert_string_equal(a->caps, "(type=text/plain)");
	assert_int_equal(f.rep.result, CONV_CONVERTED);
	assert_true(has(&f.bodies[0], "Content-Type: text/plain"));
	assert_true(has(&f.bodies[0], "Content-Previous:"));
	assert_true(has(&f.bodies[0], "Wind force 5."));
	assert_false(has(&f.bodies[0], "<p>"));
	expect(&f, 0, DELIVER_RELAYED, "2.0.0");
	assert_true(outcome(&f, 0)->lossy);
	assert_non_null(strstr(outcome(&f, 0)->conv_detail, "text/html"));
	fx_fini(&f);
}

/* CONNEG with capabilities, no conversion possible here: a hop with DRUCOF
 * gets the original with DRUCOF asserted; one without fails it 5.6.3 (and
 * nothing is sent after the probe). */
static void
test_caps_cannot_convert(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PDF, ONE, 1);
	const char *const s1[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
		PROBE1(CAPS_TEXT), "V:",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test> DRUCOF", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s1);
	assert_int_equal(f.rep.result, CONV_FAILED);
	assert_string_equal(buf_cstr(&f.bodies[0]), PDF);
	expect(&f, 0, DELIVER_RELAYED, "2.0.0");
	assert_false(outcome(&f, 0)->lossy);
	fx_fini(&f);

	fx_init(&f, PDF, ONE, 1);
	const char *const s2[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1(CAPS_TEXT), "V:",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s2);
	assert_int_equal(smtpc_sess_end(f.s), SMTPC_END_DONE);
	expect(&f, 0, DELIVER_FAILED, "5.6.3");
	assert_int_equal(outcome(&f, 0)->code, 0);
	fx_fini(&f);
}

/* The CONNEG query fails 4xx / 5xx / gives no capabilities: with DRUCOF
 * at the hop the recipient is passed with DRUCOF (no trial); without,
 * 4.6.3 (deferred) or 5.6.3 (failed). */
static void
test_conneg_query_fails(void **state)
{
	(void)state;
	static const struct {
		const char *reply;
		bool hop_drucof;
		enum deliver_action a;
		const char *status;
		int hop;
	} cases[] = {
		{ "S: 450 4.3.0 try later", true, DELIVER_RELAYED, "2.0.0",
		  CONNEG_HOP_CAPS_TEMPFAIL },
		{ "S: 450 4.3.0 try later", false, DELIVER_DEFERRED, "4.6.3",
		  CONNEG_HOP_CAPS_TEMPFAIL },
		{ "S: 504 5.5.4 CONNEG not here", true, DELIVER_RELAYED,
		  "2.0.0", CONNEG_HOP_CAPS_PERMFAIL },
		{ "S: 504 5.5.4 CONNEG not here", false, DELIVER_FAILED,
		  "5.6.3", CONNEG_HOP_CAPS_PERMFAIL },
		{ "S: 250 2.1.5 ok", false, DELIVER_FAILED, "5.6.3",
		  CONNEG_HOP_CAPS_PERMFAIL },
		{ "S: 250-2.1.5 ok\r\n250 CONNEG (type=", false,
		  DELIVER_FAILED, "5.6.3", CONNEG_HOP_CAPS_PERMFAIL },
	};
	for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
		struct fx f;
		fx_init(&f, HTML, ONE, 1);
		const char *const pass[] = {
			"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
			PROBE1(cases[i].reply),
			"C: MAIL FROM:<a@x.test>", "S: 250 ok",
			"C: RCPT TO:<b@y.test> DRUCOF", "S: 250 ok",
			"C: DATA", "S: 354 go", "B:", "S: 250 ok",
			"C: QUIT", "S: 221 bye", NULL,
		};
		const char *const stop[] = {
			"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
			PROBE1(cases[i].reply), "C: QUIT", "S: 221 bye", NULL,
		};
		fx_run(&f, cases[i].hop_drucof ? pass : stop);
		assert_int_equal(smtpc_sess_answer(f.s, 0)->hop,
		    cases[i].hop);
		expect(&f, 0, cases[i].a, cases[i].status);
		if (cases[i].hop_drucof)
			assert_string_equal(buf_cstr(&f.bodies[0]), HTML);
		else
			assert_non_null(strstr(outcome(&f, 0)->text,
			    "RCPT ... CONNEG answered"));
		assert_int_equal(f.ntrials, 0);
		fx_fini(&f);
	}
}

/* The probe's RCPT refused for the mailbox itself (5.1.1): the hop's own
 * reply decides, not 5.6.3, and nothing is sent; the other recipient goes
 * (DRUCOF passed on: its query failed 5xx). */
static void
test_probe_unknown_mailbox(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, TWO, 3);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test> CONNEG", "S: 550 5.1.1 no such user",
		"C: RCPT TO:<c@y.test> CONNEG", "S: 504 5.5.4 no CONNEG here",
		"C: RSET", "S: 250 ok",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<c@y.test> DRUCOF", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	expect(&f, 0, DELIVER_FAILED, "5.1.1");
	assert_int_equal(outcome(&f, 0)->code, 550);
	assert_string_equal(outcome(&f, 0)->text, "no such user");
	expect(&f, 1, DELIVER_RELAYED, "2.0.0");
	fx_fini(&f);
}

/* A hop with DRUCOF but not CONNEG: passed with DRUCOF, no probe. With
 * neither: 5.6.3 and not a byte of the message sent (the host is refused
 * when every recipient would fail; the others go when some would not). */
static void
test_drucof_only_and_neither(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	const char *const s1[] = {
		"S: 220 hop", "C: EHLO gw.test", "S: 250-hop\r\n250 DRUCOF",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test> DRUCOF", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s1);
	expect(&f, 0, DELIVER_RELAYED, "2.0.0");
	assert_int_equal(smtpc_sess_answer(f.s, 0)->hop,
	    CONNEG_HOP_NO_CONNEG);
	fx_fini(&f);

	fx_init(&f, HTML, ONE, 1);
	const char *const s2[] = {
		"S: 220 hop", "C: EHLO gw.test", "S: 250-hop\r\n250 8BITMIME",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s2);
	assert_int_equal(smtpc_sess_end(f.s), SMTPC_END_NEXT_HOST);
	assert_string_equal(smtpc_sess_host_error(f.s)->status, "5.6.3");
	assert_int_equal(smtpc_sess_host_error(f.s)->action, DELIVER_FAILED);
	fx_fini(&f);

	fx_init(&f, HTML, TWO, 1); /* b DRUCOF, c not */
	const char *const s3[] = {
		"S: 220 hop", "C: EHLO gw.test", "S: 250-hop\r\n250 8BITMIME",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<c@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s3);
	expect(&f, 0, DELIVER_FAILED, "5.6.3");
	expect(&f, 1, DELIVER_RELAYED, "2.0.0");
	fx_fini(&f);
}

/* A part the sender marked conversion-prohibited, a recipient who cannot
 * use it, a hop without DRUCOF: 5.6.2. */
static void
test_prohibited_part(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, PROHIBITED, ONE, 1);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1(CAPS_TEXT), "V:", "C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	expect(&f, 0, DELIVER_FAILED, "5.6.2");
	assert_non_null(strstr(outcome(&f, 0)->text, "prohibited"));
	fx_fini(&f);
}

/* A conversion that could not be made (the trial did not run): 5.6.5,
 * conversion failed, at a hop without DRUCOF. */
static void
test_conversion_failed(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1(CAPS_TEXT), "X:", "C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	expect(&f, 0, DELIVER_FAILED, "5.6.5");
	fx_fini(&f);
}

/* CONPERM (RFC 4141): MAIL ... CONPERM in the probe; a marked part
 * converts, after which a hop without CONPERM may take it; without
 * capabilities and without CONPERM at the hop it fails 5.6.3. */
static void
test_conperm_message(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML_ANY, ONE, 0);
	f.env.conperm = true;
	const char *const s1[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1(CAPS_TEXT), "V:",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s1);
	assert_true(has(&f.bodies[0], "Content-Type: text/plain"));
	expect(&f, 0, DELIVER_RELAYED, "2.0.0");
	fx_fini(&f);

	fx_init(&f, HTML_ANY, ONE, 0);
	f.env.conperm = true;
	const char *const s2[] = {
		"S: 220 hop", "C: EHLO gw.test",
		"S: 250-hop\r\n250-CONNEG\r\n250 CONPERM",
		"C: MAIL FROM:<a@x.test> CONPERM", "S: 250 ok",
		"C: RCPT TO:<b@y.test> CONNEG", CAPS_TEXT,
		"C: RSET", "S: 250 ok", "V:",
		"C: MAIL FROM:<a@x.test> CONPERM", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s2);
	assert_true(has(&f.bodies[0], "Content-Type: text/plain"));
	fx_fini(&f);

	fx_init(&f, HTML_ANY, ONE, 0);
	f.env.conperm = true;
	const char *const s3[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1("S: 250 2.1.5 ok"), "C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s3);
	expect(&f, 0, DELIVER_FAILED, "5.6.3");
	fx_fini(&f);
}

/* Recipients whose capabilities differ need different content: the
 * converted group goes first, the others follow in a second transaction
 * on the same connection with the original (c's trial: usable as is; d
 * asked nothing). The probe is pipelined when the hop offers it. */
static void
test_split_by_capabilities(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, THREE, 3); /* b, c DRUCOF; d not */
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test",
		"S: 250-hop\r\n250-PIPELINING\r\n250-CONNEG\r\n250 DRUCOF",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<b@y.test> CONNEG",
		"C: RCPT TO:<c@y.test> CONNEG", "C: RSET",
		"S: 250 ok", CAPS_TEXT, CAPS_HTML, "S: 250 ok", "V:",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<b@y.test>", "C: DATA",
		"S: 250 ok", "S: 250 ok", "S: 354 go", "B:", "S: 250 ok", "V:",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<c@y.test>",
		"C: RCPT TO:<d@y.test>", "C: DATA",
		"S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 354 go", "B:",
		"S: 250 ok", "C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	assert_int_equal(f.ntrials, 2);
	assert_true(has(&f.bodies[0], "Content-Type: text/plain"));
	assert_string_equal(buf_cstr(&f.bodies[1]), HTML);
	for (size_t r = 0; r < 3; r++)
		expect(&f, r, DELIVER_RELAYED, "2.0.0");
	assert_true(outcome(&f, 0)->lossy);
	assert_false(outcome(&f, 1)->lossy);
	assert_false(outcome(&f, 2)->lossy);
	fx_fini(&f);
}

/* A refused first transaction does not strand the second: RSET, then the
 * next group. */
static void
test_split_after_refusal(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, TWO, 1); /* b DRUCOF (converted), c not */
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
		PROBE1(CAPS_TEXT), "V:",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 550 5.1.1 no such user",
		"C: RSET", "S: 250 ok",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<c@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	expect(&f, 0, DELIVER_FAILED, "5.1.1");
	expect(&f, 1, DELIVER_RELAYED, "2.0.0");
	assert_string_equal(buf_cstr(&f.bodies[0]), HTML);
	fx_fini(&f);
}

/* A pipelined transaction whose MAIL is refused but whose DATA gets 354
 * (a confused hop) is ended with a lone dot; the next group still goes. */
static void
test_split_after_refused_pipelined_mail(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, HTML, TWO, 3); /* b, c DRUCOF; caps differ */
	const char *const s[] = {
		"S: 220 hop", "C: EHLO gw.test",
		"S: 250-hop\r\n250-PIPELINING\r\n250-CONNEG\r\n250 DRUCOF",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<b@y.test> CONNEG",
		"C: RCPT TO:<c@y.test> CONNEG", "C: RSET",
		"S: 250 ok", CAPS_TEXT, CAPS_HTML, "S: 250 ok", "V:",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<b@y.test>", "C: DATA",
		"S: 451 4.3.0 not now", "S: 250 ok", "S: 354 go", "C: .",
		"V:", "S: 554 5.5.1 no transaction",
		"C: MAIL FROM:<a@x.test>", "C: RCPT TO:<c@y.test>", "C: DATA",
		"S: 250 ok", "S: 250 ok", "S: 354 go", "B:", "S: 250 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s);
	expect(&f, 0, DELIVER_DEFERRED, "4.3.0");
	expect(&f, 1, DELIVER_RELAYED, "2.0.0");
	assert_string_equal(buf_cstr(&f.bodies[0]), HTML);
	fx_fini(&f);
}

/* A session that ends while the trial runs defers every recipient. */
static void
test_timeout_while_converting(void **state)
{
	(void)state;
	struct fx f;
	struct smtpc_opts o;
	fx_init(&f, HTML, ONE, 1);
	smtpc_opts_default(&o, "gw.test");
	f.s = smtpc_sess_new(&o, &f.m, &f.ck.base, "hop");
	smtpc_sess_connected(f.s, f.ck.mono);
	const char *in = "220 hop\r\n250-hop\r\n250 CONNEG\r\n250 ok\r\n"
	    "250-ok\r\n250 CONNEG (type=text/plain)\r\n250 ok\r\n";
	smtpc_sess_input(f.s, (const uint8_t *)in, strlen(in), f.ck.mono);
	assert_int_equal(smtpc_sess_state(f.s), SMTPC_S_NEGOTIATE);
	f.ck.mono += 3600000;
	smtpc_sess_timeout(f.s, f.ck.mono);
	assert_int_equal(smtpc_sess_state(f.s), SMTPC_S_DONE);
	expect(&f, 0, DELIVER_DEFERRED, "4.4.2");
	/* a late result changes nothing */
	smtpc_sess_converted(f.s, NULL, NULL, f.ck.mono);
	expect(&f, 0, DELIVER_DEFERRED, "4.4.2");
	fx_fini(&f);
}

/* Random replies and trial results against negotiated messages: the
 * session's checker (GW_REQUIRE after every event) holds, it always ends,
 * and at END_DONE every recipient has an outcome. Prints its seed. */
static void
test_random_negotiation(void **state)
{
	(void)state;
	uint64_t seed = tu_seed("test_random_negotiation");
	static const char *const pool[] = {
		"220 hi", "250 ok", "250-a\r\n250-PIPELINING\r\n250 CONNEG",
		"250-a\r\n250-CONNEG\r\n250-CONPERM\r\n250 DRUCOF",
		"250-a\r\n250 DRUCOF", "354 go", "550 5.1.1 no",
		"451 4.3.0 later", "221 bye", "504 5.5.4 no CONNEG",
		"250-ok\r\n250 CONNEG (type=text/plain)",
		"250-ok\r\n250-CONNEG (type=te\r\n250 CONNEG xt/html)",
		"250-ok\r\n250 CONNEG (((", "250 CONNEG (type=image/png)",
		"250-x\r\n251 mixed", "999 bad", "421 bye", "",
	};
	static const uint8_t conv[] = "Subject: c\r\n\r\nconverted\r\n";
	int trials = 0;
	gw_log_set_level(GW_LOG_ERR);
	for (int run = 0; run < 2000; run++) {
		struct fx f;
		struct smtpc_opts o;
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		fx_init(&f, HTML, THREE, (unsigned)(seed >> 20) & 7);
		f.env.conperm = (seed >> 30) & 1;
		smtpc_opts_default(&o, "gw.test");
		f.s = smtpc_sess_new(&o, &f.m, &f.ck.base, "hop");
		smtpc_sess_connected(f.s, f.ck.mono);
		for (int k = 0; k < 60 && smtpc_sess_state(f.s) !=
		    SMTPC_S_DONE; k++) {
			seed = seed * 6364136223846793005ULL + 1;
			if (smtpc_sess_state(f.s) == SMTPC_S_NEGOTIATE) {
				struct conv_report rep;
				struct buf out = BUF_INIT;
				memset(&rep, 0, sizeof(rep));
				rep.result = (enum conv_result)((seed >> 17) %
				    3);
				rep.usable_as_is = (seed >> 23) & 1;
				rep.lossy = (seed >> 24) & 1;
				rep.status = rep.result == CONV_FAILED ?
				    "5.6.5" : NULL;
				buf_append(&out, conv, sizeof(conv) - 1);
				trials++;
				smtpc_sess_converted(f.s, (seed >> 25) % 5 ?
				    &rep : NULL, &out, 0);
				buf_fini(&out);
				continue;
			}
			const char *r = pool[(seed >> 33) % GW_ARRAY_LEN(pool)];
			smtpc_sess_input(f.s, (const uint8_t *)r, strlen(r), 0);
			smtpc_sess_input(f.s, (const uint8_t *)"\r\n", 2, 0);
			buf_reset(smtpc_sess_output(f.s));
			smtpc_sess_drained(f.s, 0);
		}
		if (smtpc_sess_state(f.s) != SMTPC_S_DONE)
			smtpc_sess_eof(f.s, 0);
		assert_int_equal(smtpc_sess_state(f.s), SMTPC_S_DONE);
		assert_true(smtpc_sess_end(f.s) != SMTPC_END_NONE);
		fx_fini(&f);
	}
	gw_log_set_level(GW_LOG_WARN);
	/* the walk does reach the trial step */
	assert_true(trials > 20);
}

/* ---- X.6.4 and the DSNs ---- */

static void
build_and_parse(const struct queue_envelope *env,
    const struct deliver_outcome *o, enum dsn_action a,
    struct dsn_parsed *p)
{
	const struct queue_rcpt *qr = &env->rcpts[o->rcpt];
	char status[16], diag[500];
	struct dsn_rcpt dr = { 0 };
	struct dsn_report rep = { 0 };
	struct queue_envelope *denv = NULL;
	struct buf content = BUF_INIT;

	deliver_outcome_dsn(o, a == DSN_DELIVERED || a == DSN_RELAYED,
	    (qr->flags & QUEUE_RCPT_LOSSY) != 0, status, sizeof(status),
	    diag, sizeof(diag));
	dr.final_rcpt = qr->addr;
	dr.action = a;
	dr.status = status;
	dr.diag = diag;
	rep.reporting_mta = "gw.test";
	rep.orig = env;
	rep.rcpts = &dr;
	rep.nrcpts = 1;
	rep.content = (const uint8_t *)HTML;
	rep.content_len = strlen(HTML);
	rep.now_s = 1800000000;
	assert_int_equal(dsn_build(&rep, &denv, &content), 0);
	assert_int_equal(dsn_parse(content.data, content.len, p), 0);
	assert_int_equal(p->nrcpts, 1);
	queue_envelope_free(denv);
	buf_fini(&content);
}

/* A lossy conversion with NOTIFY=SUCCESS toward a hop without DSN: the
 * relayed DSN says 2.6.4 and what was converted. A failure keeps 5.6.x;
 * a recipient converted with loss at an earlier gateway (QUEUE_RCPT_LOSSY)
 * gets 2.6.4 too; an unconverted one 2.0.0. */
static void
test_x64_reports(void **state)
{
	(void)state;
	struct fx f;
	struct dsn_parsed *p = xcalloc(1, sizeof(*p));
	fx_init(&f, HTML, ONE, 1);
	f.r[0].notify = QUEUE_NOTIFY_SUCCESS;
	const char *const s1[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG_DRUCOF,
		PROBE1(CAPS_TEXT), "V:",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 2.0.0 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s1);
	assert_true(outcome(&f, 0)->dsn_relayed);
	build_and_parse(&f.env, outcome(&f, 0), DSN_RELAYED, p);
	assert_string_equal(p->rcpts[0].action, "relayed");
	assert_string_equal(p->rcpts[0].status, "2.6.4");
	assert_non_null(strstr(p->rcpts[0].diag, "text/html"));
	assert_non_null(strstr(p->rcpts[0].diag, "loss"));
	fx_fini(&f);

	fx_init(&f, PDF, ONE, 1);
	f.r[0].notify = QUEUE_NOTIFY_FAILURE;
	const char *const s2[] = {
		"S: 220 hop", "C: EHLO gw.test", E_CONNEG,
		PROBE1(CAPS_TEXT), "V:", "C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s2);
	build_and_parse(&f.env, outcome(&f, 0), DSN_FAILED, p);
	assert_string_equal(p->rcpts[0].action, "failed");
	assert_string_equal(p->rcpts[0].status, "5.6.3");
	fx_fini(&f);

	/* earlier gateway's lossy conversion, plain relay here */
	fx_init(&f, HTML, ONE, 0);
	f.r[0].notify = QUEUE_NOTIFY_SUCCESS;
	const char *const s3[] = {
		"S: 220 hop", "C: EHLO gw.test", "S: 250 hop",
		"C: MAIL FROM:<a@x.test>", "S: 250 ok",
		"C: RCPT TO:<b@y.test>", "S: 250 ok",
		"C: DATA", "S: 354 go", "B:", "S: 250 2.0.0 ok",
		"C: QUIT", "S: 221 bye", NULL,
	};
	fx_run(&f, s3);
	build_and_parse(&f.env, outcome(&f, 0), DSN_RELAYED, p);
	assert_string_equal(p->rcpts[0].status, "2.0.0");
	f.r[0].flags |= QUEUE_RCPT_LOSSY;
	build_and_parse(&f.env, outcome(&f, 0), DSN_RELAYED, p);
	assert_string_equal(p->rcpts[0].action, "relayed");
	assert_string_equal(p->rcpts[0].status, "2.6.4");
	assert_non_null(strstr(p->rcpts[0].diag, "earlier gateway"));
	fx_fini(&f);
	free(p);
}

/* ---- part 2: the libuv client against the fake hop ---- */

struct done {
	int calls;
	struct deliver_outcome o[MAXR];
	size_t n;
};

static void
on_done(void *arg, const struct deliver_outcome *o, size_t n)
{
	struct done *d = arg;
	d->calls++;
	d->n = n;
	memcpy(d->o, o, n * sizeof(*o));
}

static void
run_until(uv_loop_t *loop, const int *flag, int want)
{
	for (int i = 0; i < 20000 && *flag < want; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_true(*flag >= want);
}

static const char *
caps_of(struct fake_smtp *f, const char *addr)
{
	(void)f;
	if (strcmp(addr, "b@y.test") == 0)
		return "(&(type=text/plain)(charset=[us-ascii,utf-8]))";
	if (strcmp(addr, "c@y.test") == 0)
		return "(type=text/html)";
	return NULL;
}

struct hop {
	uv_loop_t loop;
	struct tclock ck;
	struct fake_smtp fk;
	struct smtpc_client *c;
	struct route_target t;
	struct done d;
};

static void
hop_start(struct hop *h, const char *ehlo)
{
	struct smtpc_opts o;
	char spec[80], err[300];

	memset(h, 0, sizeof(*h));
	uv_loop_init(&h->loop);
	tclock_init(&h->ck, true);
	h->fk.ehlo = ehlo;
	h->fk.conneg_caps = caps_of;
	assert_int_equal(fake_smtp_start(&h->fk, &h->loop), 0);
	smtpc_opts_default(&o, "gw.test");
	h->c = smtpc_client_new(&h->loop, &h->ck.base, &o);
	snprintf(spec, sizeof(spec), "smtp:127.0.0.1:%d", h->fk.port);
	if (route_target_parse(spec, &h->t, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

static void
hop_send(struct hop *h, struct fx *f)
{
	assert_int_equal(smtpc_client_send(h->c, &h->t, &f->m, on_done,
	    &h->d), 0);
	run_until(&h->loop, &h->d.calls, 1);
	assert_int_equal(h->d.n, f->env.nrcpts);
}

static void
hop_stop(struct hop *h)
{
	smtpc_client_close(h->c, NULL, NULL);
	fake_smtp_stop(&h->fk);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&h->loop), 0);
}

/* Converted here on the thread pool: the hop receives the converted
 * bytes, was asked CONNEG once, and saw no DRUCOF. */
static void
test_glue_converted_bytes(void **state)
{
	(void)state;
	struct hop h;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	hop_start(&h, "250-fake\r\n250-PIPELINING\r\n250-CONNEG\r\n"
	    "250 DRUCOF");
	hop_send(&h, &f);
	if (h.d.o[0].action != DELIVER_RELAYED)
		fail_msg("got %s %s %s", deliver_action_name(h.d.o[0].action),
		    h.d.o[0].status, h.d.o[0].text);
	assert_true(h.d.o[0].lossy);
	assert_int_equal(h.fk.conneg_queries, 1);
	assert_int_equal(h.fk.messages, 1);
	assert_true(has(&h.fk.data, "Content-Type: text/plain"));
	assert_true(has(&h.fk.data, "Content-Previous:"));
	assert_false(has(&h.fk.data, "<p>"));
	assert_false(has(&h.fk.transcript, "> DRUCOF"));
	assert_true(has(&h.fk.transcript, "C: RCPT TO:<b@y.test>\n"));
	hop_stop(&h);
	fx_fini(&f);
}

/* Neither CONNEG nor DRUCOF: 5.6.3 and no MAIL at all. */
static void
test_glue_neither(void **state)
{
	(void)state;
	struct hop h;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	hop_start(&h, "250-fake\r\n250 PIPELINING");
	hop_send(&h, &f);
	assert_int_equal(h.d.o[0].action, DELIVER_FAILED);
	assert_string_equal(h.d.o[0].status, "5.6.3");
	assert_int_equal(h.fk.messages, 0);
	assert_false(has(&h.fk.transcript, "MAIL"));
	hop_stop(&h);
	fx_fini(&f);
}

/* Two capability groups and a plain recipient through the real client:
 * two transactions, converted content first, original second. */
static void
test_glue_split(void **state)
{
	(void)state;
	struct hop h;
	struct fx f;
	fx_init(&f, HTML, THREE, 3);
	hop_start(&h, "250-fake\r\n250-PIPELINING\r\n250-CONNEG\r\n"
	    "250 DRUCOF");
	hop_send(&h, &f);
	for (size_t r = 0; r < 3; r++)
		assert_int_equal(h.d.o[r].action, DELIVER_RELAYED);
	assert_true(h.d.o[0].lossy);
	assert_false(h.d.o[1].lossy);
	assert_int_equal(h.fk.conns, 1);
	assert_int_equal(h.fk.messages, 2);
	const char *all = buf_cstr(&h.fk.all);
	const char *sep = strstr(all, "\n.\n");
	assert_non_null(sep);
	assert_non_null(strstr(all, "Content-Type: text/plain"));
	assert_true(strstr(all, "Content-Type: text/plain") < sep);
	assert_int_equal(strlen(sep + 3), strlen(HTML) + 3);
	assert_memory_equal(sep + 3, HTML, strlen(HTML));
	hop_stop(&h);
	fx_fini(&f);
}

/* Closing the client while a trial conversion runs: the job waits for it,
 * then reports deferred; nothing leaks. */
static void
test_glue_close_while_converting(void **state)
{
	(void)state;
	struct hop h;
	struct fx f;
	fx_init(&f, HTML, ONE, 1);
	hop_start(&h, "250-fake\r\n250-CONNEG\r\n250 DRUCOF");
	assert_int_equal(smtpc_client_send(h.c, &h.t, &f.m, on_done, &h.d),
	    0);
	for (int i = 0; i < 20000 && h.fk.conneg_queries == 0; i++)
		uv_run(&h.loop, UV_RUN_ONCE);
	for (int i = 0; i < 20000 && !has(&h.fk.transcript, "C: RSET"); i++)
		uv_run(&h.loop, UV_RUN_ONCE);
	smtpc_client_close(h.c, NULL, NULL);
	run_until(&h.loop, &h.d.calls, 1);
	assert_int_equal(h.d.o[0].action, DELIVER_DEFERRED);
	fake_smtp_stop(&h.fk);
	uv_run(&h.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&h.loop), 0);
	fx_fini(&f);
}

int
main(void)
{
	gw_log_set_level(GW_LOG_WARN);
	conv_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_then_size_next_host),
		cmocka_unit_test(test_plain_message_no_probe),
		cmocka_unit_test(test_caps_converted_here),
		cmocka_unit_test(test_caps_cannot_convert),
		cmocka_unit_test(test_conneg_query_fails),
		cmocka_unit_test(test_probe_unknown_mailbox),
		cmocka_unit_test(test_drucof_only_and_neither),
		cmocka_unit_test(test_prohibited_part),
		cmocka_unit_test(test_conversion_failed),
		cmocka_unit_test(test_conperm_message),
		cmocka_unit_test(test_split_by_capabilities),
		cmocka_unit_test(test_split_after_refusal),
		cmocka_unit_test(test_split_after_refused_pipelined_mail),
		cmocka_unit_test(test_timeout_while_converting),
		cmocka_unit_test(test_random_negotiation),
		cmocka_unit_test(test_x64_reports),
		cmocka_unit_test(test_glue_converted_bytes),
		cmocka_unit_test(test_glue_neither),
		cmocka_unit_test(test_glue_split),
		cmocka_unit_test(test_glue_close_while_converting),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	conv_shutdown();
	return rc;
}
