/* b2f_msg: Pat's own outbox files (plain and with an attachment) into
 * mail and back: addresses through the map (callsign, our callsign, SMTP:),
 * Message-ID from the Mid, the attachment's bytes intact, unknown X-
 * fields kept and sender-local ones dropped, malformed messages refused
 * with a reason; MIDs derived from queue ids are stable and valid. */
#include "tests/lib/testutil.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/xmalloc.h"
#include "gateway/b2f/b2f_msg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct b2f_addrmap map = { "N0CALL", "winlink.test",
	"ops@example.org", "gw.test" };

/* A fixture file (tests/b2f/fixtures/NAME). */
static uint8_t *
slurp(const char *name, size_t *n)
{
	char rel[256], *path;
	uint8_t *p;

	snprintf(rel, sizeof(rel), "tests/b2f/fixtures/%s", name);
	path = tu_src_path(rel);
	p = (uint8_t *)tu_read_file(path, n);
	free(path);
	return p;
}

static bool
has(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static void
test_plain(void **state)
{
	(void)state;
	size_t n;
	uint8_t *w = slurp("U5ZADIBM5RKU.outbox", &n);
	struct b2f_inbound in;
	char err[200];

	b2f_msg_init();
	assert_int_equal(b2f_msg_to_mail(w, n, &map, 1765000000, &in, err,
	    sizeof(err)), 0);
	assert_string_equal(in.mid, "U5ZADIBM5RKU");
	/* From N0CALL is our own callsign: the mailbox */
	assert_string_equal(in.from, "ops@example.org");
	assert_int_equal(in.nrcpts, 1);
	assert_string_equal(in.rcpts[0], "n1call@winlink.test");
	assert_true(has(&in.content, "Message-ID: <U5ZADIBM5RKU@winlink.test>"));
	assert_true(has(&in.content, "Subject: Capture vector\r\n"));
	assert_true(has(&in.content, "Date: Mon, 07 Dec 2026 20:14:00 +0000"));
	assert_true(has(&in.content, "charset=ISO-8859-1"));
	assert_true(has(&in.content, "\r\n\r\nHello N1CALL,\r\n"));
	assert_true(has(&in.content, "X-B2F-Type: Private"));

	/* and back, for N1CALL */
	struct buf out;
	char title[81];
	buf_init(&out);
	assert_int_equal(b2f_msg_from_mail(in.content.data, in.content.len,
	    "ABCDEFGHJKLM", "ops@example.org", "N1CALL", &map, 1765000000,
	    &out, title), 0);
	assert_string_equal(title, "Capture vector");
	assert_true(has(&out, "Mid: ABCDEFGHJKLM\r\n"));
	assert_true(has(&out, "From: N0CALL\r\n"));
	assert_true(has(&out, "To: N1CALL\r\n"));
	assert_true(has(&out, "Date: 2026/12/07 20:14\r\n"));
	assert_true(has(&out, "Body: 108\r\n"));
	assert_true(has(&out, "\r\n\r\nHello N1CALL,\r\nthis is a test"));
	buf_fini(&out);
	b2f_inbound_fini(&in);
	free(w);
}

static void
test_attachment(void **state)
{
	(void)state;
	size_t n;
	uint8_t *w = slurp("6EOEZZKLDQ3S.outbox", &n);
	struct b2f_inbound in, back;
	char err[200], title[81];
	struct buf out;

	b2f_msg_init();
	assert_int_equal(b2f_msg_to_mail(w, n, &map, 0, &in, err,
	    sizeof(err)), 0);
	assert_true(has(&in.content, "multipart/mixed"));
	assert_true(has(&in.content, "filename=\"rnd.bin\""));
	buf_init(&out);
	assert_int_equal(b2f_msg_from_mail(in.content.data, in.content.len,
	    "ATTACHBACK12", "", "N1CALL", &map, 0, &out, title), 0);
	assert_true(has(&out, "File: 300 rnd.bin\r\n"));
	/* the Winlink form again: the file bytes are Pat's */
	assert_int_equal(b2f_msg_to_mail(out.data, out.len, &map, 0, &back,
	    err, sizeof(err)), 0);
	const uint8_t *orig = w + n - 302;
	const uint8_t *mine = out.data + out.len - 302;
	assert_memory_equal(orig, mine, 302);
	b2f_inbound_fini(&back);
	buf_fini(&out);
	b2f_inbound_fini(&in);
	free(w);
}

static void
test_addresses_and_x(void **state)
{
	(void)state;
	const char *w = "Mid: XTEST1\r\nBody: 4\r\nFrom: N1CALL\r\n"
	    "To: SMTP:alice@example.net\r\nTo: N0CALL\r\nCc: n2call\r\n"
	    "X-Filepath: /home/secret/out/XTEST1.b2f\r\nX-Future: yes\r\n"
	    "Subject: caf\xe9\r\nDate: bogus\r\n\r\nabc\n";
	struct b2f_inbound in;
	char err[200], call[64];

	b2f_msg_init();
	assert_int_equal(b2f_msg_to_mail((const uint8_t *)w, strlen(w), &map,
	    0, &in, err, sizeof(err)), 0);
	assert_string_equal(in.from, "n1call@winlink.test");
	assert_int_equal(in.nrcpts, 3);
	assert_string_equal(in.rcpts[0], "alice@example.net");
	assert_string_equal(in.rcpts[1], "ops@example.org");
	assert_string_equal(in.rcpts[2], "n2call@winlink.test");
	assert_false(has(&in.content, "X-Filepath"));
	assert_true(has(&in.content, "X-Future: yes\r\n"));
	assert_true(has(&in.content, "Subject: =?ISO-8859-1?B?Y2Fm6Q==?="));
	/* "abc\n" is not CRLF text: base64 keeps it exact */
	assert_true(has(&in.content, "base64"));
	b2f_inbound_fini(&in);

	assert_int_equal(b2f_addr_to_call(&map, "N7XYZ@Winlink.Test", call,
	    sizeof(call)), 0);
	assert_string_equal(call, "N7XYZ");
	assert_int_equal(b2f_addr_to_call(&map, "bob@example.com", call,
	    sizeof(call)), 0);
	assert_string_equal(call, "SMTP:bob@example.com");
	assert_int_equal(b2f_addr_to_call(&map, "ops@example.org", call,
	    sizeof(call)), 0);
	assert_string_equal(call, "N0CALL");
	assert_int_equal(b2f_addr_to_call(&map, "bad address@x", call,
	    sizeof(call)), GW_EINVAL);
}

static void
test_malformed(void **state)
{
	(void)state;
	static const char *bad[] = {
		"Body: 3\r\nTo: N0CALL\r\n\r\nabc",             /* no Mid */
		"Mid: A\r\nBody: 30\r\nTo: N0CALL\r\n\r\nabc",  /* short */
		"Mid: A\r\nBody: 3\r\nTo: N0CALL\r\n",          /* no end */
		"Mid: A\r\nBody: 3\r\n\r\nabc",                 /* no rcpt */
		"Mid: A\r\nBody: 3\r\nTo: N0CALL\r\nFile: 99 x\r\n\r\nabc",
		"Mid: A B\r\nBody: 3\r\nTo: N0CALL\r\n\r\nabc",
	};
	b2f_msg_init();
	for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
		struct b2f_inbound in;
		char err[200] = "";
		assert_int_equal(b2f_msg_to_mail((const uint8_t *)bad[i],
		    strlen(bad[i]), &map, 0, &in, err, sizeof(err)),
		    GW_EPROTO);
		assert_true(err[0] != '\0');
		b2f_inbound_fini(&in);
	}
}

static void
test_mid(void **state)
{
	(void)state;
	uint8_t id[16] = { 1, 2, 3 };
	char a[13], b[13];
	const char *m1 = "From: a@b\r\nMessage-ID: <U5ZADIBM5RKU@Winlink.Test>"
	    "\r\n\r\nbody\r\n";
	const char *m2 = "Message-ID: <U5ZADIBM5RKU@elsewhere.test>\r\n\r\n";
	const char *m3 = "Message-ID: <much-too-long-an-id@winlink.test>\r\n"
	    "\r\n";
	const char *m4 = "Subject: x\r\n\r\nMessage-ID: <ABC@winlink.test>\r\n";

	assert_true(b2f_mid_from_message_id((const uint8_t *)m1, strlen(m1),
	    "winlink.test", a));
	assert_string_equal(a, "U5ZADIBM5RKU");
	assert_false(b2f_mid_from_message_id((const uint8_t *)m2, strlen(m2),
	    "winlink.test", a));
	assert_false(b2f_mid_from_message_id((const uint8_t *)m3, strlen(m3),
	    "winlink.test", a));
	assert_false(b2f_mid_from_message_id((const uint8_t *)m4, strlen(m4),
	    "winlink.test", a));

	b2f_mid_from_id(id, a);
	b2f_mid_from_id(id, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), 12);
	id[15] = 1;
	b2f_mid_from_id(id, b);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_attachment),
		cmocka_unit_test(test_addresses_and_x),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
