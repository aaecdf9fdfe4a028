/* policy: CIDR lists (IPv4, IPv6, mapped), priority ceilings, levels,
 * rounding up to the band, size limits, parse errors with messages. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "gateway/mail/policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
	}
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void
test_levels_and_bands(void **state)
{
	static const struct {
		enum policy_prio p;
		int prio, level, band;
	} t[] = {
		{ POLICY_PRIO_STANAG4406, -9, -4, 0 },
		{ POLICY_PRIO_STANAG4406, -4, -4, 0 },
		{ POLICY_PRIO_STANAG4406, -3, -2, 1 },
		{ POLICY_PRIO_STANAG4406, 0, 0, 2 },
		{ POLICY_PRIO_STANAG4406, 3, 4, 4 },
		{ POLICY_PRIO_STANAG4406, 6, 6, 5 },
		{ POLICY_PRIO_STANAG4406, 9, 6, 5 },
		{ POLICY_PRIO_MIXER, -9, -4, 0 },
		{ POLICY_PRIO_MIXER, -3, 0, 1 },
		{ POLICY_PRIO_MIXER, 1, 4, 2 },
		{ POLICY_PRIO_MIXER, 9, 4, 2 },
		{ POLICY_PRIO_NSEP, -9, -2, 0 },
		{ POLICY_PRIO_NSEP, 1, 2, 2 },
		{ POLICY_PRIO_NSEP, 7, 6, 4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(policy_prio_round(t[i].p, t[i].prio),
		    t[i].level);
		assert_int_equal(policy_prio_band(t[i].p, t[i].prio),
		    t[i].band);
	}
	enum policy_prio p;
	assert_int_equal(policy_prio_parse("stanag4406", &p), 0);
	assert_int_equal(p, POLICY_PRIO_STANAG4406);
	assert_int_equal(policy_prio_parse("nsep", &p), 0);
	assert_int_equal(p, POLICY_PRIO_NSEP);
	assert_int_equal(policy_prio_parse("FOO", &p), GW_EINVAL);
	assert_string_equal(policy_prio_name(POLICY_PRIO_MIXER), "MIXER");
}

static void
test_networks(void **state)
{
	struct policy_net *v;
	size_t n;
	char err[128];
	(void)state;

	assert_int_equal(policy_parse_networks("10.0.0.0/8, ::1/128 "
	    "192.0.2.7,2001:db8::/32", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 4);
	struct sockaddr_storage a = addr("10.1.2.3"), b = addr("11.0.0.1"),
	    c = addr("::1"), d = addr("::ffff:10.9.9.9"),
	    e = addr("2001:db8:ffff::1"), f = addr("2001:db9::1"),
	    g = addr("192.0.2.7"), h = addr("192.0.2.8");
	assert_true(policy_net_match(&v[0], SA(a)));
	assert_false(policy_net_match(&v[0], SA(b)));
	assert_true(policy_net_match(&v[1], SA(c)));
	assert_true(policy_net_match(&v[0], SA(d))); /* v4-mapped */
	assert_true(policy_net_match(&v[3], SA(e)));
	assert_false(policy_net_match(&v[3], SA(f)));
	assert_true(policy_net_match(&v[2], SA(g)));
	assert_false(policy_net_match(&v[2], SA(h)));
	free(v);

	/* host bits are cleared; odd prefixes */
	assert_int_equal(policy_parse_networks("10.1.2.3/12", &v, &n, err,
	    sizeof(err)), 0);
	struct sockaddr_storage i = addr("10.15.255.255"), j = addr("10.16.0.0");
	assert_true(policy_net_match(&v[0], SA(i)));
	assert_false(policy_net_match(&v[0], SA(j)));
	free(v);

	assert_int_equal(policy_parse_networks("", &v, &n, err, sizeof(err)),
	    0);
	assert_int_equal(n, 0);
	free(v);

	static const char *const bad[] = { "10.0.0.0/33", "::/129", "x",
		"10.0.0.0/", "10.0.0.0/8=3", "1.2.3.4/-1" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err[0] = '\0';
		assert_true(policy_parse_networks(bad[k], &v, &n, err,
		    sizeof(err)) < 0);
		assert_non_null(strstr(err, bad[k]));
	}
	assert_true(policy_parse_priority_limits("10.0.0.0/8", &v, &n, err,
	    sizeof(err)) < 0);
	assert_true(policy_parse_priority_limits("10.0.0.0/8=10", &v, &n,
	    err, sizeof(err)) < 0);
	assert_int_equal(policy_parse_priority_limits("127.0.0.0/8=9, "
	    "0.0.0.0/0=0", &v, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].max_priority, 9);
	free(v);
	/* ::/0 is every IPv6 client, not the IPv4 ones */
	assert_int_equal(policy_parse_networks("::/0, ::ffff:10.0.0.0/104",
	    &v, &n, err, sizeof(err)), 0);
	struct sockaddr_storage m = addr("10.3.3.3"), m6 = addr("2001::1");
	assert_false(policy_net_match(&v[0], SA(m)));
	assert_true(policy_net_match(&v[0], SA(m6)));
	assert_true(policy_net_match(&v[1], SA(m)));
	free(v);
}

static void
test_policy_ceilings(void **state)
{
	struct policy_config pc;
	struct policy *p;
	char err[128];
	(void)state;

	policy_config_init(&pc);
	pc.trusted_networks = "192.0.2.0/24";
	pc.priority_limits = "10.0.0.0/8=2, 10.1.0.0/16=4, ::/0=-2";
	pc.untrusted_max_priority = -1;
	pc.size_limits = "4=64K, 6=4K";
	pc.priority_policy = "MIXER";
	assert_int_equal(policy_new(&pc, &p, err, sizeof(err)), 0);
	struct sockaddr_storage tr = addr("192.0.2.5"), a = addr("10.2.0.1"),
	    b = addr("10.1.3.3"), c = addr("2001:db8::1"),
	    d = addr("198.51.100.1");
	assert_true(policy_is_trusted(p, SA(tr)));
	assert_false(policy_is_trusted(p, SA(a)));
	assert_int_equal(policy_max_priority(p, SA(tr)), 9);
	assert_int_equal(policy_max_priority(p, SA(a)), 2);
	assert_int_equal(policy_max_priority(p, SA(b)), 4); /* most specific */
	assert_int_equal(policy_max_priority(p, SA(c)), -2);
	assert_int_equal(policy_max_priority(p, SA(d)), -1);
	assert_int_equal(policy_size_limit(p, 3), 0);
	assert_int_equal(policy_size_limit(p, 4), 65536);
	assert_int_equal(policy_size_limit(p, 5), 65536);
	assert_int_equal(policy_size_limit(p, 9), 4096);
	assert_int_equal(policy_band(p, 1), 2);
	assert_int_equal(policy_prio_policy(p), POLICY_PRIO_MIXER);
	policy_free(p);

	pc.priority_policy = "BOGUS";
	assert_int_equal(policy_new(&pc, &p, err, sizeof(err)), GW_EINVAL);
	assert_non_null(strstr(err, "BOGUS"));
	pc.priority_policy = NULL;
	pc.size_limits = "7=0";
	assert_true(policy_new(&pc, &p, err, sizeof(err)) < 0);
	pc.size_limits = NULL;
	pc.untrusted_max_priority = 10;
	assert_int_equal(policy_new(&pc, &p, err, sizeof(err)), GW_ERANGE);
}

/* The seed draft's PRIORITY ranges onto MT-PRIORITY and back. */
static void
test_draft_bands(void **state)
{
	struct policy_draft d;
	char err[200];
	(void)state;

	assert_int_equal(policy_parse_draft(POLICY_DRAFT_DEFAULT, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.n, 7);
	assert_int_equal(policy_draft_to_mt(&d, 40), 4);
	assert_int_equal(policy_draft_to_mt(&d, 21), 4);
	assert_int_equal(policy_draft_to_mt(&d, -99), -4);
	assert_int_equal(policy_draft_to_mt(&d, 0), 0);
	assert_int_equal(policy_draft_to_mt(&d, 99), 6);
	assert_int_equal(policy_mt_to_draft(&d, 4), 40);
	assert_int_equal(policy_mt_to_draft(&d, 3), 20);
	assert_int_equal(policy_mt_to_draft(&d, 0), 0);
	assert_int_equal(policy_mt_to_draft(&d, -9), -99);
	assert_int_equal(policy_mt_to_draft(&d, 9), 99);
	/* gaps, overlaps, out of range, bad levels */
	assert_int_not_equal(policy_parse_draft("-99..0=0, 2..99=1", &d, err,
	    sizeof(err)), 0);
	assert_int_not_equal(policy_parse_draft("-99..10=0, 5..99=1", &d,
	    err, sizeof(err)), 0);
	assert_int_not_equal(policy_parse_draft("-99..50=0", &d, err,
	    sizeof(err)), 0);
	assert_int_not_equal(policy_parse_draft("-99..99=10", &d, err,
	    sizeof(err)), 0);
	assert_int_not_equal(policy_parse_draft("x", &d, err, sizeof(err)), 0);
	assert_int_equal(policy_parse_draft("-99..99=0", &d, err,
	    sizeof(err)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_draft_bands),
		cmocka_unit_test(test_levels_and_bands),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_policy_ceilings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
