/* skywave.conf: defaults, every section, every type, bounds, unknown keys,
 * duplicates, cross-field checks, and file:line in every error. */
#include "tests/lib/testutil.h"

#include "common/err.h"
#include "gateway/config.h"

static struct config *
load_ok(const char *text)
{
	struct config *cfg = NULL;
	char err[700] = "";
	int rc = config_load_string(text, "t.conf", &cfg, err, sizeof(err));
	if (rc != 0)
		fail_msg("unexpected error %s: %s", gw_errname(rc), err);
	return cfg;
}

/* Expect failure; the message must contain want. */
static void
load_bad(const char *text, const char *want)
{
	struct config *cfg = NULL;
	char err[700] = "";
	int rc = config_load_string(text, "t.conf", &cfg, err, sizeof(err));
	if (rc == 0)
		fail_msg("accepted bad config, wanted error \"%s\"", want);
	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void
test_builtin_default(void **state)
{
	(void)state;
	struct config *cfg = config_default();
	char p[600];
	assert_string_equal(cfg->gw.listen, "127.0.0.1:2525");
	assert_string_equal(cfg->listen_host, "127.0.0.1");
	assert_int_equal(cfg->listen_port, 2525);
	assert_string_equal(cfg->gw.data_dir, "var");
	config_queue_path(cfg, p, sizeof(p));
	assert_string_equal(p, "var/queue.db");
	config_control_path(cfg, p, sizeof(p));
	assert_string_equal(p, "var/control.sock");
	assert_int_equal(cfg->gw.max_recipients, 100);
	assert_int_equal(cfg->gw.max_message_size, 10 * 1048576);
	assert_int_equal(cfg->gw.command_timeout_ms, 300000);
	assert_true(cfg->gw.altrecip);
	assert_int_equal(cfg->policy.priority_policy, CONFIG_PRIO_STANAG4406);
	assert_int_equal(cfg->policy.deliverby_min_ms, 60000);
	assert_int_equal(cfg->nlinks, 0);
	assert_int_equal(cfg->nroutes, 0);
	config_free(cfg);
}

static void
test_full_file(void **state)
{
	(void)state;
	struct config *cfg = load_ok(
	    "# a field unit\n"
	    "[gateway]\n"
	    "hostname = fu1.example\n"
	    "listen = [::1]:2626\n"
	    "data_dir = /var/lib/skywave\n"
	    "max_message_size = 2M\n"
	    "command_timeout = 90s\n"
	    "syslog = yes\n"
	    "log_level = debug\n"
	    "conneg = no\n"
	    "[policy]\n"
	    "priority_policy = mixer\n"
	    "retry_backoff = 1m\n"
	    "altrecip_route_down_limit = 30m\n"
	    "deliverby_min = 2m\n"
	    "untrusted_max_priority = -2\n"
	    "[link hf1]\n"
	    "driver = pty\n"
	    "device = /dev/pts/7\n"
	    "profile = hf-2400-hd\n"
	    "peer = hq\n"
	    "[link los]\n"
	    "driver = tcp\n"
	    "device = 127.0.0.1:7000\n"
	    "profile = los-19200\n"
	    "pack = no\n"
	    "[route]\n"
	    "hq.example = link:hf1\n"
	    "*.mil.example = link:los\n"
	    "local.example = maildir:/var/mail/fu1\n"
	    "* = smtp:127.0.0.1:25,127.0.0.1:2525\n"
	    "[delivery]\n"
	    "smtp_connect_timeout = 10s\n"
	    "[b2f]\n"
	    "callsign = N0GW\n"
	    "listen = 127.0.0.1:8774\n"
	    "timeout = 30s\n");
	assert_string_equal(cfg->gw.hostname, "fu1.example");
	assert_string_equal(cfg->listen_host, "::1");
	assert_int_equal(cfg->listen_port, 2626);
	assert_int_equal(cfg->gw.max_message_size, 2097152);
	assert_int_equal(cfg->gw.command_timeout_ms, 90000);
	assert_true(cfg->gw.syslog);
	assert_false(cfg->gw.conneg);
	assert_int_equal(cfg->gw.log_level, 3);
	assert_int_equal(cfg->policy.priority_policy, CONFIG_PRIO_MIXER);
	assert_int_equal(cfg->policy.deliverby_min_ms, 120000);
	assert_int_equal(cfg->policy.untrusted_max_priority, -2);
	assert_int_equal(cfg->sched.retry.backoff_ms, 60000);
	assert_int_equal(cfg->delivery.connect_ms, 10000);
	assert_int_equal(cfg->delivery.connection_limit, 4);
	assert_string_equal(cfg->b2f.callsign, "N0GW");
	assert_string_equal(cfg->b2f.listen, "127.0.0.1:8774");
	assert_int_equal(cfg->b2f.timeout_ms, 30000);
	assert_int_equal(cfg->b2f.linger_ms, 1000);
	assert_string_equal(cfg->b2f.domain, "winlink.invalid");
	assert_int_equal(cfg->nlinks, 2);
	assert_string_equal(cfg->links[0].name, "hf1");
	assert_int_equal(cfg->links[0].driver, AIRLINK_DRV_PTY);
	assert_string_equal(cfg->links[0].device, "/dev/pts/7");
	assert_true(cfg->links[0].enabled);
	assert_int_equal(cfg->links[0].line, 18);
	assert_int_equal(cfg->links[1].driver, AIRLINK_DRV_TCP);
	assert_true(cfg->links[0].pack);
	assert_false(cfg->links[1].pack);
	assert_int_equal(cfg->nroutes, 4);
	assert_string_equal(cfg->routes[1].pattern, "*.mil.example");
	assert_string_equal(cfg->routes[3].target,
	    "smtp:127.0.0.1:25,127.0.0.1:2525");
	assert_int_equal(cfg->routes[3].line, 31);
	char p[600];
	config_queue_path(cfg, p, sizeof(p));
	assert_string_equal(p, "/var/lib/skywave/queue.db");
	config_free(cfg);
}

static void
test_errors_name_file_and_line(void **state)
{
	(void)state;
	load_bad("[gateway]\nlisten = 127.0.0.1:2525\nbogus = 1\n",
	    "t.conf:3: unknown key \"bogus\" in [gateway]");
	load_bad("[gateway]\nmax_recipients = 99\n",
	    "t.conf:2: max_recipients: out of range \"99\" (allowed: "
	    "100..100000)");
	load_bad("[gateway]\nmax_message_size = 2G\n",
	    "t.conf:2: max_message_size: out of range \"2G\" (allowed: "
	    "64k..1G)");
	load_bad("[gateway]\ncommand_timeout = soon\n",
	    "t.conf:2: command_timeout: bad value \"soon\" (allowed: 1s..1h)");
	load_bad("[gateway]\nsyslog = perhaps\n",
	    "t.conf:2: syslog: bad value \"perhaps\" (allowed: yes|no)");
	load_bad("[policy]\nretry_backoff = 1s\n",
	    "t.conf:2: retry_backoff: out of range");
	load_bad("[policy]\nretry_backoff = 1m\nretry_backoff = 2m\n",
	    "t.conf:3: duplicate key \"retry_backoff\"");
	load_bad("[delivery]\nsmtp_connection_limit = 0\n",
	    "t.conf:2: smtp_connection_limit: out of range");
	load_bad("[b2f]\nlinger = 2m\n",
	    "t.conf:2: linger: out of range");
	load_bad("[b2f]\ncall = N0GW\n",
	    "t.conf:2: unknown key \"call\" in [b2f]");
	load_bad("[route]\nx.test = b2f:\n", "t.conf:2: route");
	load_bad("[policy]\nnonsense_key = 1\n",
	    "t.conf:2: unknown key \"nonsense_key\" in [policy]");
	load_bad("[policy]\npriority_policy = loud\n",
	    "allowed: STANAG4406|MIXER|NSEP");
	load_bad("\n\n[gateway]\nlisten = 1.2.3.4:0\n",
	    "t.conf:4: listen: bad address \"1.2.3.4:0\"");
	load_bad("[gateway]\nlisten = nohost\n", "t.conf:2: listen: bad address");
	load_bad("[gatewya]\nlisten = 1.2.3.4:25\n",
	    "t.conf:2: unknown section [gatewya]");
	load_bad("listen = 1.2.3.4:25\n", "t.conf:1: key \"listen\" outside");
	load_bad("[gateway]\nhostname = a\nhostname = b\n",
	    "t.conf:3: duplicate key \"hostname\" in [gateway] (first set on "
	    "line 2)");
	load_bad("[gateway]\nthis line is broken\n", "t.conf:2: malformed");
	load_bad("[link bad name!]\nprofile = x\n", "bad link name");
	load_bad("[link hf1]\ndriver = pty\n",
	    "t.conf:2: [link hf1]: profile is required");
	load_bad("[link hf1]\nprofile = hf-2400-hd\n",
	    "[link hf1]: device is required for driver serial");
	load_bad("[link hf1]\nprofile = p\ndriver = carrier-pigeon\n",
	    "allowed: serial|pty|kiss|tcp|sim");
	load_bad("[route]\nexample.org = link:nolink\n",
	    "t.conf:2: route example.org: no [link nolink] is declared");
	load_bad("[route]\nexample.org = ftp:x\n", "t.conf:2: route: bad target");
	load_bad("[route]\nexa mple.org = maildir:/x\n", "bad domain pattern");
	load_bad("[route]\n*.x.org = maildir:/x\n*.X.org = maildir:/y\n",
	    "t.conf:3: route: duplicate pattern");
	load_bad("[route]\nx.org = smtp:\n", "route: empty target");
	load_bad("[policy]\n\ntrusted_networks = 10.0.0.0/33\n",
	    "t.conf:3: trusted_networks:");
	load_bad("[policy]\npriority_limits = 10.0.0.0/8=12\n",
	    "t.conf:2: priority_limits:");
	load_bad("[route]\nx.org = smtp:host:99999\n",
	    "t.conf:2: route x.org:");
}

static void
test_file_errors(void **state)
{
	(void)state;
	struct config *cfg = NULL;
	char err[4096];
	assert_int_equal(config_load("/nonexistent/skywave.conf", &cfg, err,
			     sizeof(err)),
	    GW_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/skywave.conf: cannot open"));

	char *dir = tu_mkdtemp("cfg");
	char path[600];
	snprintf(path, sizeof(path), "%s/skywave.conf", dir);
	assert_int_equal(tu_write_file(path, "[gateway]\n\nmax_errors = 0\n"), 0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), GW_ECONFIG);
	char want[700];
	snprintf(want, sizeof(want), "%s:3: max_errors: out of range", path);
	assert_non_null(strstr(err, want));

	/* the shipped example configurations must load */
	const char *examples[] = { "docs/examples/field-unit.conf",
		"docs/examples/hq-behind-postfix.conf",
		"docs/examples/winlink-gateway.conf" };
	/* their key_file lives in /etc/skywave on a box: a key of the right
	 * form stands in for it (config_load reads it, as the daemon does) */
	char key[600];
	snprintf(key, sizeof(key), "%s/link.key", dir);
	assert_int_equal(tu_write_file(key, "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n"), 0);
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		char *ex = tu_src_path(examples[i]);
		size_t n;
		char *text = tu_read_file(ex, &n), out[17000], *k;
		k = strstr(text, "key_file = ");
		if (k != NULL) {
			*k = '\0';
			snprintf(out, sizeof(out), "%skey_file = %s%s", text,
			    key, strchr(k + 1, '\n'));
		} else {
			snprintf(out, sizeof(out), "%s", text);
		}
		snprintf(path, sizeof(path), "%s/example%zu.conf", dir, i);
		assert_int_equal(tu_write_file(path, out), 0);
		if (config_load(path, &cfg, err, sizeof(err)) != 0)
			fail_msg("%s: %s", examples[i], err);
		assert_true(cfg->nlinks >= 1 || cfg->b2f.callsign[0]);
		assert_true(cfg->nroutes >= 2);
		config_free(cfg);
		free(text);
		free(ex);
	}
	/* what the daemon refuses at start, the check refuses too, and all
	 * of it, in line order */
	assert_int_equal(tu_write_file(path, "[gateway]\nbogus = 1\n"
	    "[link hf]\ndriver = pty\ndevice = /dev/null\n"
	    "profile = no-such-profile\npeer = p.test\n"
	    "key_file = /nonexistent/key\n"
	    "[route]\na.test = lmtp:h:notaport\nb.test = link:nolink\n"),
	    0);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), GW_ECONFIG);
	const char *order[] = { ":2: unknown key", ":6: [link hf]: profile",
		":8: [link hf]: cannot open key_file", ":10: route a.test",
		":11: route b.test: no [link nolink]" };
	const char *at = err;
	for (size_t i = 0; i < 5; i++) {
		const char *hit = strstr(at, order[i]);
		if (hit == NULL)
			fail_msg("missing or out of order: %s in\n%s", order[i],
			    err);
		at = hit;
	}
	tu_rmtree(dir);
	free(dir);
}

/* The man page documents every key of every table. */
static void
test_man_page_complete(void **state)
{
	(void)state;
	char *path = tu_src_path("docs/skywave.conf.5");
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	const struct cfg_field *tabs[] = { config_gateway_fields,
		config_policy_fields, config_link_fields, sched_cfg_fields,
		sched_rules_cfg_fields, retry_cfg_fields, deliver_cfg_fields,
		b2f_cfg_fields };
	for (int t = 0; t < 7; t++) {
		for (const struct cfg_field *fl = tabs[t]; fl->key; fl++) {
			char want[80];
			snprintf(want, sizeof(want), "\n.B %s\n", fl->key);
			if (strstr(text, want) == NULL)
				fail_msg("skywave.conf.5 lacks key %s", fl->key);
		}
	}
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_default),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_man_page_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
