/* smtp_parse: table-driven tests of commands, paths, parameters, xtext and
 * each extension's value syntax, plus the Received header and scan. */
#include "tests/lib/testutil.h"

#include "gateway/smtp/received.h"
#include "gateway/smtp/smtp_parse.h"

#include <string.h>

static void
test_cmd_split(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
		bool has_arg;
	} t[] = {
		{ "EHLO x.example", SMTP_V_EHLO, "x.example", true },
		{ "ehlo x", SMTP_V_EHLO, "x", true },
		{ "MAIL FROM:<a@b>", SMTP_V_MAIL, "FROM:<a@b>", true },
		{ "DATA", SMTP_V_DATA, "", false },
		{ "DATA ", SMTP_V_DATA, "", true },
		{ "QUIT", SMTP_V_QUIT, "", false },
		{ "Bdat 5 LAST", SMTP_V_BDAT, "5 LAST", true },
		{ "DATAX", SMTP_V_UNKNOWN, "", false },
		{ "", SMTP_V_UNKNOWN, "", false },
		{ "  ", SMTP_V_UNKNOWN, " ", true },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smtp_cmd c;
		smtp_parse_cmd(t[i].line, strlen(t[i].line), &c);
		assert_int_equal(c.verb, t[i].verb);
		assert_int_equal(c.has_arg, t[i].has_arg);
		assert_int_equal(c.arglen, strlen(t[i].arg));
		assert_memory_equal(c.arg, t[i].arg, c.arglen);
	}
	assert_string_equal(smtp_verb_name(SMTP_V_BDAT), "BDAT");
}

static void
test_paths(void **state)
{
	static const struct {
		const char *in;
		bool reverse;
		int rc;
		const char *out;
	} t[] = {
		{ "<a@b.example>", false, 0, "a@b.example" },
		{ "<>", true, 0, "" },
		{ "<>", false, -1, NULL },
		{ "<Postmaster>", false, 0, "Postmaster" },
		{ "<postmaster>", true, -1, NULL },
		{ "<a.b.c@x>", false, 0, "a.b.c@x" },
		{ "<\"a b\\\"c\"@x>", false, 0, "\"a b\\\"c\"@x" },
		{ "<\"a>b\"@x>", false, 0, "\"a>b\"@x" },
		{ "<@r.example:a@x>", false, 0, "a@x" },
		{ "<@r1,@r2:a@x>", false, 0, "a@x" },
		{ "<@r1,:a@x>", false, -1, NULL },
		{ "<a@[192.0.2.1]>", false, 0, "a@[192.0.2.1]" },
		{ "<a@[IPv6:2001:db8::1]>", false, 0, "a@[IPv6:2001:db8::1]" },
		{ "<a@[IPv6:zz]>", false, -1, NULL },
		{ "<a@[300.1.1.1]>", false, -1, NULL },
		{ "<a@x-y.example>", false, 0, "a@x-y.example" },
		{ "<a@-x>", false, -1, NULL },
		{ "<a@x->", false, -1, NULL },
		{ "<a@x..y>", false, -1, NULL },
		{ "<.a@x>", false, -1, NULL },
		{ "<a.@x>", false, -1, NULL },
		{ "<a@>", false, -1, NULL },
		{ "<@x>", false, -1, NULL },
		{ "<a>", false, -1, NULL },
		{ "<a@x", false, -1, NULL },
		{ "a@x", false, -1, NULL },
		{ "<a b@x>", false, -1, NULL },
		{ "<a@x_y>", false, -1, NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[SMTP_PATH_MAX + 1];
		size_t used = 0;
		int rc = smtp_parse_path(t[i].in, strlen(t[i].in), t[i].reverse,
		    out, &used);
		if (rc != t[i].rc)
			fail_msg("path %s: rc %d, want %d", t[i].in, rc,
			    t[i].rc);
		if (rc == 0) {
			assert_string_equal(out, t[i].out);
			assert_int_equal(used, strlen(t[i].in));
		}
	}
	/* limits: local part 64, path 256 */
	char big[400];
	snprintf(big, sizeof(big), "<%0*d@x>", 65, 0);
	char out[SMTP_PATH_MAX + 1];
	size_t used;
	assert_int_equal(smtp_parse_path(big, strlen(big), false, out, &used),
	    -2);
	memset(big, 'a', sizeof(big));
	big[0] = '<';
	big[10] = '@';
	for (int i = 20; i < 300; i += 20)
		big[i] = '.';
	big[300] = '>';
	assert_int_equal(smtp_parse_path(big, 301, false, out, &used), -2);
}

static void
test_values(void **state)
{
	int p;
	int64_t t;
	char m;
	bool tr;
	unsigned bits;
	uint64_t sz;
	bool last;
	(void)state;

	static const char *const prio_ok[] = { "0", "1", "9", "-1", "-9" };
	static const char *const prio_bad[] = { "", "+3", "-0", "03", "10",
		"-10", "a", "1 ", "--1", "- 1" };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(smtp_parse_priority(prio_ok[i],
		    strlen(prio_ok[i]), &p), 0);
	assert_int_equal(smtp_parse_priority("-7", 2, &p), 0);
	assert_int_equal(p, -7);
	for (size_t i = 0; i < sizeof(prio_bad) / sizeof(prio_bad[0]); i++)
		assert_int_equal(smtp_parse_priority(prio_bad[i],
		    strlen(prio_bad[i]), &p), -1);

	assert_int_equal(smtp_parse_by("120;R", 5, &t, &m, &tr), 0);
	assert_true(t == 120 && m == 'R' && !tr);
	assert_int_equal(smtp_parse_by("-30;nt", 6, &t, &m, &tr), 0);
	assert_true(t == -30 && m == 'N' && tr);
	assert_int_equal(smtp_parse_by("+999999999;R", 12, &t, &m, &tr), 0);
	static const char *const by_bad[] = { "120", "120;", "120;X",
		";R", "1000000000;N", "120;TN", "120;RTT", "1 20;R", "-;R",
		"120;R ", "" };
	for (size_t i = 0; i < sizeof(by_bad) / sizeof(by_bad[0]); i++)
		assert_int_equal(smtp_parse_by(by_bad[i], strlen(by_bad[i]),
		    &t, &m, &tr), -1);

	assert_int_equal(smtp_parse_notify("NEVER", 5, &bits), 0);
	assert_int_equal(bits, SMTP_NOTIFY_NEVER);
	assert_int_equal(smtp_parse_notify("success,Delay", 13, &bits), 0);
	assert_int_equal(bits, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	assert_int_equal(smtp_parse_notify("NEVER,SUCCESS", 13, &bits), -1);
	assert_int_equal(smtp_parse_notify("SUCCESS,", 8, &bits), -1);
	assert_int_equal(smtp_parse_notify("", 0, &bits), -1);

	assert_true(smtp_xtext_valid("abc+2B+3D", 9));
	assert_false(smtp_xtext_valid("a=b", 3));
	assert_false(smtp_xtext_valid("a+2b", 4));
	assert_false(smtp_xtext_valid("a+2", 3));
	assert_false(smtp_xtext_valid("a b", 3));
	char dec[16];
	assert_int_equal(smtp_xtext_decode("b+40y", 5, dec, sizeof(dec)), 3);
	assert_string_equal(dec, "b@y");
	assert_int_equal(smtp_xtext_decode("b+4gy", 5, dec, sizeof(dec)), -1);

	assert_true(smtp_typed_addr_valid("rfc822;b+40y", 12));
	assert_false(smtp_typed_addr_valid("rfc822;", 7));
	assert_false(smtp_typed_addr_valid(";x", 2));
	assert_false(smtp_typed_addr_valid("rfc822", 6));

	assert_int_equal(smtp_parse_bdat("10 LAST", 7, &sz, &last), 0);
	assert_true(sz == 10 && last);
	assert_int_equal(smtp_parse_bdat("0", 1, &sz, &last), 0);
	assert_true(sz == 0 && !last);
	assert_int_equal(smtp_parse_bdat("10 last", 7, &sz, &last), 0);
	assert_int_equal(smtp_parse_bdat("", 0, &sz, &last), -1);
	assert_int_equal(smtp_parse_bdat("x", 1, &sz, &last), -1);
	assert_int_equal(smtp_parse_bdat("10  LAST", 8, &sz, &last), -1);
	assert_int_equal(smtp_parse_bdat("99999999999999999999", 20, &sz,
	    &last), -1);

	assert_true(smtp_helo_valid("host_1.example.", 15));
	assert_true(smtp_helo_valid("[127.0.0.1]", 11));
	assert_false(smtp_helo_valid("a..b", 4));
	assert_false(smtp_helo_valid("a b", 3));
	assert_false(smtp_domain_valid("host_1.example", 14));
}

/* MAIL/RCPT argument -> expected reply (0 = accepted). */
static void
test_mail_rcpt_tables(void **state)
{
	static const struct {
		bool rcpt;
		unsigned ext;
		const char *arg;
		int code;
		const char *enh;
	} t[] = {
		{ 0, SMTP_EXT_ALL, "FROM:<a@x>", 0, NULL },
		{ 0, SMTP_EXT_ALL, "from:<a@x>", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> SIZE=10 BODY=8BITMIME", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> body=binarymime", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> BODY=9BIT", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> MT-PRIORITY=3", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> mt-priority=-9", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> MT-PRIORITY=+3", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> MT-PRIORITY", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> MT-PRIORITY=1 MT-PRIORITY=1",
		    501, "5.5.2" },
		{ 0, SMTP_EXT_ALL & ~SMTP_EXT_MTPRIORITY,
		    "FROM:<a@x> MT-PRIORITY=1", 555, "5.5.4" },
		/* the seed draft's PRIORITY (opt-in) */
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=40", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=-99", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=0", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=100", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=+3", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=07", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY=-0", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> PRIORITY", 501, "5.5.2" },
		{ 0, SMTP_EXT_ALL & ~SMTP_EXT_PRIODRAFT,
		    "FROM:<a@x> PRIORITY=40", 555, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;c@z", 0, NULL },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;not-an-address",
		    501, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;a@", 501, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;@x", 501, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;a@b@c", 501, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=x400;c@z", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> BY=120;R", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> BY=0;R", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> BY=0;N", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> ENVID=x RET=FULL", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> RET=FULL RET=FULL", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> CONPERM", 0, NULL },
		{ 0, SMTP_EXT_ALL & ~SMTP_EXT_CONPERM, "FROM:<a@x> CONPERM",
		    504, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> ABY=60;R", 0, NULL },
		{ 0, SMTP_EXT_ALL & ~SMTP_EXT_ALTRECIP, "FROM:<a@x> ABY=60;R",
		    555, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> XFOO=1", 555, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> -BAD=1", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x>SIZE=1", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x>  SIZE=1", 0, NULL },
		{ 0, SMTP_EXT_ALL, "FROM:a@x", 501, "5.1.7" },
		{ 0, SMTP_EXT_ALL, "TO:<a@x>", 501, "5.5.4" },
		{ 0, SMTP_EXT_ALL, "FROM:<a@x> NOTIFY=NEVER", 555, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y>", 0, NULL },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b",
		    0, NULL },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> ARCPT=rfc822;c@z CONNEG DRUCOF", 0,
		    NULL },
		{ 1, SMTP_EXT_ALL & ~SMTP_EXT_CONNEG, "TO:<b@y> DRUCOF", 504,
		    "5.5.4" },
		{ 1, SMTP_EXT_ALL & ~SMTP_EXT_DSN, "TO:<b@y> NOTIFY=NEVER", 555,
		    "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> SIZE=1", 555, "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b@y> NOTIFY=NEVER NOTIFY=NEVER", 501,
		    "5.5.4" },
		{ 1, SMTP_EXT_ALL, "TO:<b y>", 501, "5.1.3" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct smtp_mail_args m;
		struct smtp_rcpt_args r;
		struct smtp_perr e = { 0, NULL, NULL };
		int rc = t[i].rcpt ?
		    smtp_parse_rcpt(t[i].arg, strlen(t[i].arg), t[i].ext, &r,
		    &e) :
		    smtp_parse_mail(t[i].arg, strlen(t[i].arg), t[i].ext, &m,
		    &e);
		if (t[i].code == 0) {
			if (rc != 0)
				fail_msg("%s: %d %s %s", t[i].arg, e.code,
				    e.enh, e.text);
			continue;
		}
		if (rc == 0 || e.code != t[i].code ||
		    strcmp(e.enh, t[i].enh) != 0)
			fail_msg("%s: got %d %s, want %d %s", t[i].arg,
			    rc ? e.code : 0, rc ? e.enh : "", t[i].code,
			    t[i].enh);
	}
}

static void
test_mail_fields_and_allowance(void **state)
{
	struct smtp_mail_args m;
	struct smtp_perr e;
	const char *a = "FROM:<a@x> SIZE=123 MT-PRIORITY=-2 BY=-30;NT "
	    "ENVID=QQ RET=HDRS ABY=60;R CONPERM BODY=8BITMIME";
	(void)state;
	assert_int_equal(smtp_parse_mail(a, strlen(a), SMTP_EXT_ALL, &m, &e),
	    0);
	assert_string_equal(m.path, "a@x");
	assert_true(m.has_size && m.size == 123);
	assert_true(m.has_priority && m.priority == -2);
	assert_true(m.has_by && m.by_time == -30 && m.by_mode == 'N' &&
	    m.by_trace);
	assert_string_equal(m.envid, "QQ");
	assert_int_equal(m.ret, SMTP_RET_HDRS);
	assert_true(m.has_aby && m.aby_time == 60);
	assert_true(m.conperm);
	assert_int_equal(m.body, SMTP_BODY_8BITMIME);
	assert_int_equal(smtp_line_allowance(a, strlen(a)),
	    26 + 15 + 17 + 107 + 9 + 18 + 8 + 16);
	const char *b = "FROM:<a@x> MT-PRIORITY=1 MT-PRIORITY=2 X=1";
	assert_int_equal(smtp_line_allowance(b, strlen(b)), 15);
	assert_int_equal(smtp_param_allowance("by", 2), 17);
}

static void
test_received(void **state)
{
	struct buf b = BUF_INIT;
	struct received_info ri = {
		.helo = "relay.example", .peer_ip = "192.0.2.1",
		.by = "gw.example", .with = "ESMTP", .id = "0011aabb",
		.for_addr = "b@y", .has_priority = true, .priority = 3,
		.when = 1795469534, /* 2026-11-23 21:32:14 UTC, a Monday */
	};
	char d[32];
	(void)state;
	received_date(0, d);
	assert_string_equal(d, "Thu, 1 Jan 1970 00:00:00 +0000");
	received_format(&b, &ri);
	assert_string_equal(buf_cstr(&b),
	    "Received: from relay.example ([192.0.2.1])\r\n"
	    "\tby gw.example (skywave) with ESMTP id 0011aabb\r\n"
	    "\tfor <b@y> PRIORITY 3;\r\n"
	    "\tMon, 23 Nov 2026 21:32:14 +0000\r\n");
	buf_reset(&b);
	ri.for_addr = NULL;
	ri.has_priority = false;
	received_format(&b, &ri);
	assert_non_null(strstr(buf_cstr(&b), "id 0011aabb;\r\n\tMon,"));

	/* the air hop's field, only for a message that came over a link */
	buf_reset(&b);
	assert_true(received_air(&b, "alpha.example (link hf1)",
	    "bravo.example", "00ff", -2, 1795468334));
	assert_string_equal(buf_cstr(&b),
	    "Received: from alpha.example by bravo.example (skywave) with "
	    "X-SKYWAVE-AIR\r\n\tid 00ff (link hf1) PRIORITY -2;\r\n"
	    "\tMon, 23 Nov 2026 21:12:14 +0000\r\n");
	buf_reset(&b);
	assert_false(received_air(&b, "relay.example [192.0.2.1]", "b", "1",
	    0, 0));
	assert_false(received_air(&b, " (link hf1)", "b", "1", 0, 0));
	assert_false(received_air(&b, "x (link )", "b", "1", 0, 0));
	assert_false(received_air(&b, NULL, "b", "1", 0, 0));
	assert_int_equal(b.len, 0);
	buf_fini(&b);

	struct received_scan sc;
	const char *msg = "Received: a\r\n\tb\r\nreceived: c\r\n"
	    "MT-Priority: 4 (urgent)\r\nSubject: x\r\n folded\r\n\r\n"
	    "Received: in body\r\n";
	received_scan((const uint8_t *)msg, strlen(msg), &sc);
	assert_int_equal(sc.received, 2);
	assert_int_equal(sc.mt_priority, 1);
	assert_int_equal(sc.mt_priority_valid, 1);
	assert_int_equal(sc.priority, 4);
	assert_int_equal(sc.header_len, strlen(msg) - strlen("Received: in "
	    "body\r\n"));
	static const char *const bad[] = { "MT-Priority: +4\r\n\r\n",
		"MT-Priority: 4 5\r\n\r\n", "MT-Priority: (x\r\n\r\n",
		"MT-Priority:\r\n\r\n" };
	for (size_t i = 0; i < 4; i++) {
		received_scan((const uint8_t *)bad[i], strlen(bad[i]), &sc);
		assert_int_equal(sc.mt_priority, 1);
		assert_int_equal(sc.mt_priority_valid, 0);
	}
	const char *lf = "MT-Priority: -3\nX: y\n\nbody";
	received_scan((const uint8_t *)lf, strlen(lf), &sc);
	assert_int_equal(sc.priority, -3);
	assert_int_equal(sc.header_len, strlen(lf) - 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_split),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_mail_rcpt_tables),
		cmocka_unit_test(test_mail_fields_and_allowance),
		cmocka_unit_test(test_received),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
