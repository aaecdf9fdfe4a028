/*
 * test_conneg_relay.c - the DRUCOF/CONPERM relay decision, case by case
 * (seed section 4 and RFC 4141's failure rules).
 */
#include "tests/lib/testutil.h"

#include "gateway/conneg/conneg.h"
#include "gateway/conneg/conv.h"

#include <stdbool.h>

enum { P = CONNEG_PASS, C = CONNEG_CONVERT, F = CONNEG_FAIL };
enum { OK = CONNEG_HOP_CAPS_OK, TF = CONNEG_HOP_CAPS_TEMPFAIL,
	PF = CONNEG_HOP_CAPS_PERMFAIL, NO = CONNEG_HOP_NO_CONNEG };

struct rcase {
	const char *name;
	bool drucof, conperm, caps_known;
	int hop;
	bool hop_drucof, hop_conperm, as_is, can_conv;
	const char *conv_fail;
	/* expected */
	int action;
	bool a_drucof, a_conperm;
	const char *status;
};

static const struct rcase cases[] = {
	/* no request: nothing changes, whatever the hop */
	{ "plain, hop has nothing", 0, 0, 0, NO, 0, 0, 0, 0, NULL,
	    P, 0, 0, NULL },
	{ "plain, caps say unusable", 0, 0, 1, OK, 1, 1, 0, 1, NULL,
	    P, 0, 0, NULL },
	/* DRUCOF, hop answers CONNEG with capabilities */
	{ "drucof caps usable as is", 1, 0, 1, OK, 1, 0, 1, 0, NULL,
	    P, 0, 0, NULL },
	{ "drucof caps convert here", 1, 0, 1, OK, 1, 0, 0, 1, NULL,
	    C, 0, 0, NULL },
	{ "drucof caps cannot convert, hop DRUCOF", 1, 0, 1, OK, 1, 0, 0, 0,
	    "5.6.3", P, 1, 0, NULL },
	{ "drucof caps cannot convert, no DRUCOF", 1, 0, 1, OK, 0, 0, 0, 0,
	    NULL, F, 0, 0, "5.6.3" },
	{ "drucof caps prohibited, no DRUCOF", 1, 0, 1, OK, 0, 0, 0, 0,
	    "5.6.2", F, 0, 0, "5.6.2" },
	/* DRUCOF, CONNEG query fails */
	{ "drucof conneg 4xx, hop DRUCOF", 1, 0, 0, TF, 1, 0, 0, 0, NULL,
	    P, 1, 0, NULL },
	{ "drucof conneg 4xx, no DRUCOF", 1, 0, 0, TF, 0, 0, 0, 0, NULL,
	    F, 0, 0, "4.6.3" },
	{ "drucof conneg 5xx, hop DRUCOF", 1, 0, 0, PF, 1, 0, 0, 0, NULL,
	    P, 1, 0, NULL },
	{ "drucof conneg 5xx, no DRUCOF", 1, 0, 0, PF, 0, 0, 0, 0, NULL,
	    F, 0, 0, "5.6.3" },
	/* DRUCOF, no CONNEG */
	{ "drucof DRUCOF only", 1, 0, 0, NO, 1, 0, 0, 0, NULL,
	    P, 1, 0, NULL },
	{ "drucof neither", 1, 0, 0, NO, 0, 0, 0, 0, NULL,
	    F, 0, 0, "5.6.3" },
	/* our own (published) table counts as an answer */
	{ "drucof own table, convert", 1, 0, 1, NO, 0, 0, 0, 1, NULL,
	    C, 0, 0, NULL },
	{ "drucof own table, as is", 1, 0, 1, NO, 0, 0, 1, 0, NULL,
	    P, 0, 0, NULL },
	/* DRUCOF plus CONPERM: CONPERM asserted where the hop offers it */
	{ "drucof+conperm DRUCOF hop with CONPERM", 1, 1, 0, NO, 1, 1, 0, 0,
	    NULL, P, 1, 1, NULL },
	{ "drucof+conperm converted", 1, 1, 1, OK, 0, 1, 0, 1, NULL,
	    C, 0, 1, NULL },
	/* CONPERM only (RFC 4141) */
	{ "conperm caps usable", 0, 1, 1, OK, 0, 1, 1, 0, NULL,
	    P, 0, 1, NULL },
	{ "conperm caps convert", 0, 1, 1, OK, 0, 0, 0, 1, NULL,
	    C, 0, 0, NULL },
	{ "conperm empty set, hop CONPERM", 0, 1, 1, OK, 0, 1, 0, 0, "5.6.5",
	    P, 0, 1, NULL },
	{ "conperm conversion failed", 0, 1, 1, OK, 0, 0, 0, 0, "5.6.5",
	    F, 0, 0, "5.6.5" },
	{ "conperm prohibited", 0, 1, 1, OK, 0, 0, 0, 0, "5.6.2",
	    F, 0, 0, "5.6.2" },
	{ "conperm no caps, hop CONPERM", 0, 1, 0, PF, 0, 1, 0, 0, NULL,
	    P, 0, 1, NULL },
	{ "conperm no caps 4xx, hop CONPERM", 0, 1, 0, TF, 0, 1, 0, 0, NULL,
	    P, 0, 1, NULL },
	{ "conperm neither", 0, 1, 0, NO, 0, 0, 0, 0, NULL,
	    F, 0, 0, "5.6.3" },
	{ "conperm no caps 4xx, no CONPERM", 0, 1, 0, TF, 0, 0, 0, 0, NULL,
	    F, 0, 0, "4.6.3" },
	{ "conperm no caps 5xx, no CONPERM", 0, 1, 0, PF, 0, 0, 0, 0, NULL,
	    F, 0, 0, "5.6.3" },
	{ "conperm DRUCOF-only hop", 0, 1, 0, NO, 1, 0, 0, 0, NULL,
	    F, 0, 0, "5.6.3" },
};

static void
test_relay_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];
		struct conneg_relay_in in = {
			.drucof = c->drucof, .conperm = c->conperm,
			.caps_known = c->caps_known,
			.hop = (enum conneg_hop_caps)c->hop,
			.hop_drucof = c->hop_drucof,
			.hop_conperm = c->hop_conperm,
			.usable_as_is = c->as_is, .can_convert = c->can_conv,
			.conv_fail_status = c->conv_fail,
		};
		struct conneg_relay_out out;
		conneg_relay_decide(&in, &out);
		if ((int)out.action != c->action ||
		    out.assert_drucof != c->a_drucof ||
		    out.assert_conperm != c->a_conperm)
			fail_msg("%s: action %d drucof %d conperm %d", c->name,
			    out.action, out.assert_drucof,
			    out.assert_conperm);
		if (c->status == NULL) {
			assert_null(out.status);
		} else {
			assert_non_null(out.status);
			if (strcmp(out.status, c->status) != 0)
				fail_msg("%s: status %s", c->name, out.status);
		}
		assert_non_null(out.why);
	}
}

static void
test_from_conv(void **state)
{
	(void)state;
	struct conv_report rep;
	struct conneg_relay_in in;
	struct conneg_relay_out out;
	memset(&rep, 0, sizeof(rep));
	memset(&in, 0, sizeof(in));
	in.drucof = true;
	in.hop = CONNEG_HOP_CAPS_OK;
	rep.result = CONV_FAILED;
	rep.status = "5.6.2";
	conneg_relay_set_conv(&in, &rep);
	conneg_relay_decide(&in, &out);
	assert_int_equal(out.action, CONNEG_FAIL);
	assert_string_equal(out.status, "5.6.2");
	rep.result = CONV_CONVERTED;
	rep.status = "2.6.4";
	conneg_relay_set_conv(&in, &rep);
	assert_null(in.conv_fail_status);
	conneg_relay_decide(&in, &out);
	assert_int_equal(out.action, CONNEG_CONVERT);
	rep.result = CONV_UNCHANGED;
	rep.usable_as_is = true;
	conneg_relay_set_conv(&in, &rep);
	conneg_relay_decide(&in, &out);
	assert_int_equal(out.action, CONNEG_PASS);
	assert_false(out.assert_drucof);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_table),
		cmocka_unit_test(test_from_conv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
